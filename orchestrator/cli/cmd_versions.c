/*
 * cmd_versions.c - `orchestrator definitions diff` and
 * `orchestrator migrate-sagas`: living with several versions of one
 * definition.
 *
 * diff compares two stored versions (core/definition_diff.c).  migrate-
 * sagas moves the sagas of one version that are not over (running,
 * compensating, stuck, failed) to another, one saga per transaction
 * through the engine (core/engine_migrate.c decides, per saga, whether
 * its state maps; every move is an operator.migrate history row).  The
 * sagas are chosen in a read-only transaction; a saga that moved or ended
 * meanwhile is skipped; --dry-run asks the engine about each one and
 * keeps nothing, so it says exactly what a real run would do.
 *
 * Exit status: 0 done (every saga moved, or could), 1 some could not or
 * a failure, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "args.h"
#include "catalog.h"
#include "clock.h"
#include "cmd_common.h"
#include "commands.h"
#include "definition_diff.h"
#include "store_admin.h"

#define MAP_MAX 64
#define WHO_MAX 256

/* ---- definitions diff ---- */

static const char diff_usage[] =
	"usage: orchestrator definitions diff NAME V1 V2 [--json]\n"
	"What changed from version V1 of definition NAME to V2: steps added,\n"
	"removed and renamed (a new name for the same work: command type,\n"
	"awaited event, delay), the members of a step that changed (needs,\n"
	"when, command, timeout, retry, compensation ...), and the saga's\n"
	"trigger, timeout, retention and output.\n";

/* A version operand: 0 with *out, or the exit status. */
static int
version_arg(const struct orc_args *a, const char *text, int *out)
{
	char *end;
	long v = strtol(text, &end, 10);

	if (*text == '\0' || *end != '\0' || v < 1 || v > 1000000)
		return orc_args_fail(a, "\"%s\" is not a version (1, 2, ...)",
				     text);
	*out = (int)v;
	return 0;
}

/* Version v of name from the catalog: 0 with *out, or the exit status. */
static int
stored(struct orc_cmd *cmd, const char *name, int v,
       const struct orc_definition **out)
{
	struct orc_error err = {0};

	*out = orc_catalog_get(cmd->cat, name, v);
	if (*out != NULL)
		return 0;
	orc_error_set(&err, ORC_NOT_FOUND,
		      "definition %s has no version %d stored", name, v);
	orc_error_hint(&err, "orchestrator definitions list");
	return orc_cmd_fail(cmd, &err);
}

static void
print_list(const char *label, const json_t *list)
{
	const json_t *v;
	size_t i;

	json_array_foreach(list, i, v)
		printf("%s %s\n", label, json_string_value(v));
}

static void
print_diff(const json_t *d)
{
	const json_t *v;
	size_t i, n;

	printf("%s: version %lld -> %lld\n", orc_cmd_str(d, "name"),
	       orc_cmd_int(d, "from"), orc_cmd_int(d, "to"));
	print_list("  + step", json_object_get(d, "added"));
	print_list("  - step", json_object_get(d, "removed"));
	json_array_foreach(json_object_get(d, "renamed"), i, v)
		printf("  ~ step %s renamed %s\n", orc_cmd_str(v, "from"),
		       orc_cmd_str(v, "to"));
	json_array_foreach(json_object_get(d, "changed"), i, v) {
		const json_t *w;
		size_t k;

		printf("  * step %s:", orc_cmd_str(v, "step"));
		json_array_foreach(json_object_get(v, "what"), k, w)
			printf("%s %s", k ? "," : "", json_string_value(w));
		putchar('\n');
	}
	print_list("  * saga", json_object_get(d, "saga"));
	n = json_array_size(json_object_get(d, "added")) +
	    json_array_size(json_object_get(d, "removed")) +
	     json_array_size(json_object_get(d, "renamed")) +
	     json_array_size(json_object_get(d, "changed")) +
	     json_array_size(json_object_get(d, "saga"));
	if (n == 0)
		printf("  no changes\n");
}

int
orc_cmd_definitions_diff(int argc, char **argv)
{
	struct orc_cmd cmd;
	struct orc_args a;
	const struct orc_definition *d1, *d2;
	const char *ops[3], *v;
	int rc, c, n = 0, v1 = 0, v2 = 0;
	json_t *diff = NULL;

	if (orc_args_help(argc, argv, diff_usage))
		return 0;
	rc = orc_cmd_init(&cmd, "definitions diff", &argc, argv, 0);
	if (rc != 0)
		goto done;
	orc_args_init(&a, "definitions diff", diff_usage, NULL, argc, argv);
	while ((c = orc_args_next(&a, &v)) != ORC_ARGS_END) {
		if (c != ORC_ARGS_OPERAND) {
			rc = 2;
			goto done;
		}
		if (n == 3) {
			rc = orc_args_fail(&a, "unexpected \"%s\"", v);
			goto done;
		}
		ops[n++] = v;
	}
	if (n < 3) {
		rc = orc_args_fail(&a, "give a definition name and two "
				       "versions");
		goto done;
	}
	rc = version_arg(&a, ops[1], &v1);
	if (rc == 0)
		rc = version_arg(&a, ops[2], &v2);
	if (rc == 0)
		rc = orc_cmd_open(&cmd, ORC_CMD_STORE | ORC_CMD_CATALOG);
	if (rc == 0)
		rc = stored(&cmd, ops[0], v1, &d1);
	if (rc == 0)
		rc = stored(&cmd, ops[0], v2, &d2);
	if (rc != 0)
		goto done;
	diff = orc_definition_diff(d1, d2);
	if (diff == NULL) {
		fprintf(stderr, "orchestrator definitions diff: out of memory\n");
		rc = 1;
		goto done;
	}
	if (cmd.json)
		orc_cmd_print_json(diff);
	else
		print_diff(diff);
done:
	json_decref(diff);
	orc_cmd_finish(&cmd);
	return rc;
}

/* ---- migrate-sagas ---- */

static const char migrate_usage[] =
	"usage: orchestrator migrate-sagas NAME --from V1 --to V2\n"
	"           [--map OLD=NEW]... [--where PREDICATE] [--dry-run]\n"
	"           [--by WHO] [--reason TEXT] [--json]\n"
	"Move the sagas of version V1 of definition NAME that are not over\n"
	"(running, compensating, stuck or failed) to version V2, one per\n"
	"transaction, through the engine.  A saga moves when its state maps:\n"
	"every step that has run exists in V2 (under its name, or the name\n"
	"--map gives it) with the same kind, and a running step keeps its\n"
	"name and command type.  --where narrows the sagas with an SQL\n"
	"predicate over the sagas table; --dry-run says, per saga, whether it\n"
	"can move and why not, and changes nothing.  Each move is recorded in\n"
	"the saga's history (operator.migrate, with --by and --reason).\n";

enum {
	OPT_FROM = ORC_ARGS_FIRST,
	OPT_TO,
	OPT_MAP,
	OPT_WHERE,
	OPT_DRY_RUN,
	OPT_BY,
	OPT_REASON,
};

struct migrate_args {
	const char *name, *where, *by, *reason;
	int from, to;
	bool dry_run;
	char *map_from[MAP_MAX], *map_to[MAP_MAX];
	size_t n_map;
};

static void
migrate_args_finish(struct migrate_args *m)
{
	for (size_t i = 0; i < m->n_map; i++) {
		free(m->map_from[i]);
		free(m->map_to[i]);
	}
}

/* A definition name as definitions have them: [a-z][a-z0-9_]*. */
static bool
name_ok(const char *s)
{
	if (s[0] < 'a' || s[0] > 'z' || strlen(s) > 63)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return false;
	return true;
}

static int
add_map(struct orc_args *a, struct migrate_args *m, const char *v)
{
	const char *eq = strchr(v, '=');

	if (eq == NULL || eq == v || eq[1] == '\0')
		return orc_args_fail(a, "--map takes OLD=NEW, not \"%s\"", v);
	if (m->n_map == MAP_MAX)
		return orc_args_fail(a, "at most %d --map", MAP_MAX);
	m->map_from[m->n_map] = strndup(v, (size_t)(eq - v));
	m->map_to[m->n_map] = strdup(eq + 1);
	if (m->map_from[m->n_map] == NULL || m->map_to[m->n_map] == NULL)
		return orc_args_fail(a, "out of memory");
	m->n_map++;
	return 0;
}

static int
parse_migrate(struct orc_cmd *cmd, int argc, char **argv,
	      struct migrate_args *m)
{
	static const struct option options[] = {
		{"from", required_argument, NULL, OPT_FROM},
		{"to", required_argument, NULL, OPT_TO},
		{"map", required_argument, NULL, OPT_MAP},
		{"where", required_argument, NULL, OPT_WHERE},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{"by", required_argument, NULL, OPT_BY},
		{"reason", required_argument, NULL, OPT_REASON},
		{0},
	};
	struct orc_args a;
	const char *v;
	int c, rc = 0;

	orc_args_init(&a, cmd->name, migrate_usage, options, argc, argv);
	while (rc == 0 && (c = orc_args_next(&a, &v)) != ORC_ARGS_END) {
		switch (c) {
		case ORC_ARGS_OPERAND:
			if (m->name != NULL)
				return orc_args_fail(&a, "unexpected \"%s\"", v);
			m->name = v;
			break;
		case OPT_FROM:
			rc = version_arg(&a, v, &m->from);
			break;
		case OPT_TO:
			rc = version_arg(&a, v, &m->to);
			break;
		case OPT_MAP:
			rc = add_map(&a, m, v);
			break;
		case OPT_WHERE:
			m->where = v;
			break;
		case OPT_DRY_RUN:
			m->dry_run = true;
			break;
		case OPT_BY:
			m->by = v;
			break;
		case OPT_REASON:
			m->reason = v;
			break;
		default:
			return 2;
		}
	}
	if (rc != 0)
		return rc;
	if (m->name == NULL)
		return orc_args_fail(&a, "which definition? give its name");
	if (!name_ok(m->name))
		return orc_args_fail(&a, "\"%s\" is not a definition name",
				     m->name);
	if (m->from == 0 || m->to == 0)
		return orc_args_fail(&a, "give --from and --to versions");
	if (m->from == m->to)
		return orc_args_fail(&a, "--from and --to are the same version");
	return 0;
}

/* The sagas to move, chosen read-only: 0 with *out, or the exit status. */
static int
select_sagas(struct orc_cmd *cmd, const struct migrate_args *m, json_t **out)
{
	struct orc_error err = {0};
	char *pred = NULL;
	size_t len;
	int rc = 0;

	len = strlen(m->name) + (m->where ? strlen(m->where) : 0) + 256;
	pred = malloc(len);
	if (pred == NULL) {
		orc_error_set(&err, ORC_FATAL, "out of memory");
		return orc_cmd_fail(cmd, &err);
	}
	snprintf(pred, len,
		 "definition_name = '%s' AND definition_version = %d AND status"
		 " IN ('running', 'compensating', 'stuck', 'failed')%s%s%s",
		 m->name, m->from, m->where ? " AND (" : "",
		 m->where ? m->where : "", m->where ? ")" : "");
	if (orc_store_admin_sagas_where(cmd->store, pred, out, &err) != ORC_OK)
		rc = orc_cmd_fail_input(cmd, &err);
	free(pred);
	return rc;
}

int
orc_cmd_migrate_sagas(int argc, char **argv)
{
	struct migrate_args m = {0};
	struct orc_migration_request req = {0};
	struct orc_cmd cmd;
	struct orc_error err = {0};
	const struct orc_definition *from, *to;
	char who[WHO_MAX];
	size_t i, moved = 0, refused = 0, failed = 0;
	json_t *sagas = NULL, *report = NULL, *s;
	int rc;

	if (orc_args_help(argc, argv, migrate_usage))
		return 0;
	rc = orc_cmd_init(&cmd, "migrate-sagas", &argc, argv, 0);
	if (rc == 0)
		rc = parse_migrate(&cmd, argc, argv, &m);
	if (rc == 0)
		rc = orc_cmd_open(&cmd, ORC_CMD_APPLY);
	if (rc == 0)
		rc = stored(&cmd, m.name, m.from, &from);
	if (rc == 0)
		rc = stored(&cmd, m.name, m.to, &to);
	if (rc == 0)
		rc = select_sagas(&cmd, &m, &sagas);
	if (rc != 0)
		goto done;
	report = json_array();
	req = (struct orc_migration_request){
		.to = to,
		.from_version = m.from,
		.map_from = (const char *const *)m.map_from,
		.map_to = (const char *const *)m.map_to,
		.n_map = m.n_map,
		.reason = m.reason,
		.by = orc_cmd_who(m.by, who, sizeof(who)),
		.dry_run = m.dry_run,
	};
	json_array_foreach(sagas, i, s) {
		const char *id = orc_cmd_str(s, "id");
		enum orc_status st;
		const char *outcome;

		orc_error_clear(&err);
		st = orc_apply_migrate(cmd.ap, &req, id, orc_clock_wall_ms(),
				       &err);
		if (st == ORC_OK) {
			moved++;
			outcome = m.dry_run ? "can_move" : "moved";
		} else if (st == ORC_CONFLICT || st == ORC_NOT_FOUND) {
			refused++;
			outcome = "cannot_move";
		} else {
			failed++;
			outcome = "failed";
		}
		if (!cmd.json && st != ORC_OK)
			printf("%s: %s: %s\n", id,
			       st == ORC_CONFLICT || st == ORC_NOT_FOUND
				       ? "cannot move"
				       : "failed",
			       err.message);
		else if (!cmd.json && m.dry_run)
			printf("%s: can move\n", id);
		json_array_append_new(report,
				      json_pack("{s:s,s:s,s:s?}", "id", id,
						"outcome", outcome, "reason",
						st == ORC_OK ? NULL
							     : err.message));
		if (st == ORC_FATAL)
			break;
	}
	if (cmd.json) {
		json_t *doc = json_pack(
			"{s:s,s:i,s:i,s:b,s:O,s:I,s:I,s:I}", "definition",
			m.name, "from", m.from, "to", m.to, "dry_run",
			m.dry_run, "sagas", report,
			m.dry_run ? "can_move" : "moved", (json_int_t)moved,
			"cannot_move", (json_int_t)refused, "failed",
			(json_int_t)failed);

		orc_cmd_print_json(doc);
		json_decref(doc);
	} else {
		printf("%s %zu, cannot move %zu, failed %zu (of %zu sagas of "
		       "%s version %d)\n",
		       m.dry_run ? "can move" : "moved", moved, refused, failed,
		       json_array_size(sagas), m.name, m.from);
	}
	rc = refused + failed > 0 ? 1 : 0;
done:
	json_decref(report);
	json_decref(sagas);
	migrate_args_finish(&m);
	orc_cmd_finish(&cmd);
	return rc;
}
