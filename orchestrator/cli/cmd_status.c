/*
 * cmd_status.c - the operator commands that read sagas: `status`, `list`
 * and `history`.
 *
 * They print what store_admin returns, as tables that fit an 80-column
 * terminal (table.h) or, with --json, as the JSON itself (for scripts and
 * jq).  Times are ISO-8601 in UTC; tables drop the milliseconds except in
 * a history, where order within a second matters.  Durations read "3.2s",
 * "42s", "5m", "3h", "2d".  Nothing here writes.
 *
 * A status shows the saga's place in a tree of child sagas (its parent,
 * every saga under it) and a map step's progress; a history says a child
 * saga's entries in words and names a map item's entries by the item.
 *
 * Exit status: 0 done, 1 not found or failed, 2 usage (including a
 * malformed id, status, duration or limit).  Arguments are checked before
 * connecting: a typo needs no database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cmd_common.h"
#include "commands.h"
#include "duration.h"
#include "store_admin.h"
#include "strbuf.h"
#include "table.h"


/* ---- status ---- */

static const char status_usage[] =
	"usage: orchestrator status SAGA_ID [--json]\n"
	"       orchestrator status --key KEY [--definition NAME] [--json]\n"
	"Show a saga, its steps (a map step with how far its items are),\n"
	"its parent when a saga step started it, and the sagas it started\n"
	"(children, theirs, ...).  A business key can belong to sagas of\n"
	"several definitions: then --definition says which one.  A key that\n"
	"had several sagas of one definition (key_reuse) shows the newest and\n"
	"lists the earlier ones.\n"
	"Settings: --dsn (or ORC_PG_DSN), --pg-schema, --config FILE.\n";

/*
 * "map 532/10000 done (12 failed), 50 in flight, 30 compensated" for the
 * map counters m (borrowed) into note (size len); returns its length.
 */
static size_t
map_note(const json_t *m, char *note, size_t len)
{
	long long failed = orc_cmd_int(m, "failed");
	long long in_flight = orc_cmd_int(m, "in_flight");
	long long compensated = orc_cmd_int(m, "compensated");
	size_t n;

	n = (size_t)snprintf(note, len, "map %lld/%lld done",
			     orc_cmd_int(m, "succeeded") + failed,
			     orc_cmd_int(m, "items"));
	if (failed > 0 && n < len)
		n += (size_t)snprintf(note + n, len - n, " (%lld failed)",
				      failed);
	if (in_flight > 0 && n < len)
		n += (size_t)snprintf(note + n, len - n, ", %lld in flight",
				      in_flight);
	if (compensated > 0 && n < len)
		n += (size_t)snprintf(note + n, len - n, ", %lld compensated",
				      compensated);
	return n < len ? n : len - 1;
}

/*
 * "map ...; compensation attempt 3; timer ...; last error: ..." for step
 * st
 */
static void
step_note(const json_t *st, char *note, size_t len)
{
	const json_t *map = json_object_get(st, "map");
	const char *wake = orc_cmd_str(st, "wake_at");
	const char *reason = orc_cmd_str(st, "wake_reason");
	const char *error = orc_cmd_str(st, "last_error");
	long long comp = orc_cmd_int(st, "compensation_attempt");
	char t1[ORC_TABLE_TIME_MAX];
	size_t n = 0;

	note[0] = '\0';
	if (json_is_object(map))
		n = map_note(map, note, len);
	if (comp > 0 && n < len)
		n += (size_t)snprintf(note + n, len - n,
				      "%scompensation attempt %lld",
				      n ? "; " : "", comp);
	if (wake != NULL && n < len)
		n += (size_t)snprintf(note + n, len - n, "%stimer %s (%s)",
				      n ? "; " : "", orc_table_time(wake, t1),
				      reason ? reason : "?");
	if (error != NULL && n < len)
		snprintf(note + n, len - n, "%slast error: %s", n ? "; " : "",
			 error);
}

static void
print_steps(const json_t *steps)
{
	static const struct orc_table_column cols[] = {
		{"STEP", 8, false},     {"STATUS", 0, false},
		{"ATT", 0, true},       {"STARTED", 0, false},
		{"FINISHED", 0, false},
	};
	struct orc_table tab;
	const json_t *st;
	size_t i;

	orc_table_init(&tab, cols, sizeof(cols) / sizeof(cols[0]), false);
	json_array_foreach(steps, i, st) {
		char att[24], s1[ORC_TABLE_TIME_MAX], s2[ORC_TABLE_TIME_MAX];
		char note[1024];
		const char *cells[5];

		snprintf(att, sizeof(att), "%lld", orc_cmd_int(st, "attempt"));
		cells[0] = orc_cmd_str(st, "name");
		cells[1] = orc_cmd_str(st, "status");
		cells[2] = att;
		cells[3] = orc_table_time(orc_cmd_str(st, "started_at"), s1);
		cells[4] = orc_table_time(orc_cmd_str(st, "finished_at"), s2);
		step_note(st, note, sizeof(note));
		orc_table_add(&tab, cells, note[0] ? note : NULL);
	}
	if (tab.nrows == 0)
		printf("(no steps yet)\n");
	else
		orc_table_print(&tab, stdout);
	orc_table_finish(&tab);
}

/*
 * The sagas under this one (an array in tree order, each with its depth:
 * store_admin.h), indented by depth under the parent's step that started
 * each; a failure goes below its row.
 */
static void
print_children(const json_t *children)
{
	static const struct orc_table_column cols[] = {
		{"STEP", 6, false},	  {"ID", 0, false},
		{"DEFINITION", 8, false}, {"KEY", 4, false},
		{"STATUS", 0, false},
	};
	struct orc_table tab;
	const json_t *c;
	size_t i;

	if (json_array_size(children) == 0)
		return;
	orc_table_init(&tab, cols, sizeof(cols) / sizeof(cols[0]), false);
	json_array_foreach(children, i, c) {
		long long depth = orc_cmd_int(c, "depth");
		const char *step = orc_cmd_str(c, "parent_step");
		char name[160], def[160], failure[1024];
		const char *cells[5];

		if (depth < 1)
			depth = 1;
		if (depth > 16)
			depth = 16;
		snprintf(name, sizeof(name), "%*s%s", (int)(2 * (depth - 1)),
			 "", step != NULL ? step : "-");
		snprintf(def, sizeof(def), "%s@%lld",
			 orc_cmd_str(c, "definition_name"),
			 orc_cmd_int(c, "definition_version"));
		cells[0] = name;
		cells[1] = orc_cmd_str(c, "id");
		cells[2] = def;
		cells[3] = orc_cmd_str(c, "business_key");
		cells[4] = orc_cmd_str(c, "status");
		if (orc_cmd_str(c, "failure") != NULL)
			snprintf(failure, sizeof(failure), "failure: %s",
				 orc_cmd_str(c, "failure"));
		orc_table_add(&tab, cells,
			      orc_cmd_str(c, "failure") != NULL ? failure
								: NULL);
	}
	printf("\nchildren:\n");
	orc_table_print(&tab, stdout);
	orc_table_finish(&tab);
}

/* "label       time" when s has key, NULL printing "-" unless optional */
static void
print_time(const char *label, const json_t *s, const char *key,
	   bool optional, const char *end)
{
	char t[ORC_TABLE_TIME_MAX];

	if (optional && orc_cmd_str(s, key) == NULL)
		return;
	printf("%-12s%s%s", label, orc_table_time(orc_cmd_str(s, key), t), end);
}

/* The saga's output (borrowed; absent or null: none), as compact JSON. */
static void
print_output(const json_t *output)
{
	char *text;

	if (output == NULL || json_is_null(output))
		return;
	text = json_dumps(output, JSON_COMPACT | JSON_ENCODE_ANY);
	printf("output      %s\n", text != NULL ? text : "(out of memory)");
	free(text);
}

static void
print_saga(const json_t *s)
{
	const char *reason = orc_cmd_str(s, "failing_reason");
	char d[24];

	printf("saga        %s\n", orc_cmd_str(s, "id"));
	printf("definition  %s@%lld\n", orc_cmd_str(s, "definition_name"),
	       orc_cmd_int(s, "definition_version"));
	printf("key         %s\n", orc_cmd_str(s, "business_key"));
	if (orc_cmd_str(s, "parent_id") != NULL) {
		const char *pstatus = orc_cmd_str(s, "parent_status");

		printf("parent      %s (step %s, %s)\n",
		       orc_cmd_str(s, "parent_id"),
		       orc_cmd_str(s, "parent_step") != NULL
			       ? orc_cmd_str(s, "parent_step")
			       : "-",
		       pstatus != NULL ? pstatus : "no longer stored");
	}
	printf("status      %s", orc_cmd_str(s, "status"));
	if (reason != NULL)
		printf(" (%s)", reason);
	putchar('\n');
	print_time("created", s, "created_at", false, "");
	printf(" (%s ago)\n",
	       orc_duration_format_rough(orc_cmd_int(s, "age_ms"), d,
					 sizeof(d)));
	print_time("updated", s, "updated_at", false, "\n");
	print_time("finished", s, "finished_at", false, "");
	if (orc_cmd_str(s, "finished_at") != NULL)
		printf(" (took %s)",
		       orc_duration_format_rough(orc_cmd_int(s, "duration_ms"),
						 d, sizeof(d)));
	putchar('\n');
	print_time("paused", s, "paused_at", true, "\n");
	print_time("deadline", s, "deadline_at", true, "\n");
	print_time("next timer", s, "wake_at", true, "\n");
	if (orc_cmd_str(s, "failure") != NULL)
		printf("failure     %s\n", orc_cmd_str(s, "failure"));
	print_output(json_object_get(s, "output"));
	putchar('\n');
	print_steps(json_object_get(s, "steps"));
	print_children(json_object_get(s, "children"));
}

enum { OPT_KEY = ORC_ARGS_FIRST, OPT_DEFINITION };

/* The saga id or --key and --definition; 0 or the exit status. */
static int
status_args(const struct orc_cmd *cmd, int argc, char **argv,
	    const char **id, const char **key, const char **definition)
{
	static const struct option options[] = {
		{"key", required_argument, NULL, OPT_KEY},
		{"definition", required_argument, NULL, OPT_DEFINITION},
		{0},
	};
	struct orc_args a;
	const char *v;
	int c;

	orc_args_init(&a, cmd->name, status_usage, options, argc, argv);
	while ((c = orc_args_next(&a, &v)) != ORC_ARGS_END) {
		if (c == OPT_KEY)
			*key = v;
		else if (c == OPT_DEFINITION)
			*definition = v;
		else if (c == ORC_ARGS_OPERAND && *id == NULL)
			*id = v;
		else if (c == ORC_ARGS_OPERAND)
			return orc_args_fail(&a, "unexpected \"%s\"", v);
		else
			return 2;
	}
	if (*id != NULL && *key != NULL)
		return orc_args_fail(&a, "give a saga id or --key, not both");
	if (*id == NULL && *key == NULL)
		return orc_args_fail(&a, "which saga? give its id or --key");
	if (*definition != NULL && *key == NULL)
		return orc_args_fail(&a, "--definition goes with --key");
	return 0;
}

/*
 * The rest of all (newest first, each a saga object) after the first, as
 * short objects {id, status, created_at, finished_at}: a new reference.
 */
static json_t *
earlier_sagas(const json_t *all)
{
	json_t *earlier = json_array();

	for (size_t i = 1; earlier != NULL && i < json_array_size(all); i++) {
		const json_t *s = json_array_get(all, i);

		json_array_append_new(
			earlier,
			json_pack("{s:O?, s:O?, s:O?, s:O?}", "id",
				  json_object_get(s, "id"), "status",
				  json_object_get(s, "status"), "created_at",
				  json_object_get(s, "created_at"),
				  "finished_at",
				  json_object_get(s, "finished_at")));
	}
	return earlier;
}

/*
 * The saga of key (and definition): 0 with *res, or the exit status.  A
 * key may have had several sagas of one definition (key_reuse): *res is
 * the newest, with the earlier ones listed under "earlier".
 */
static int
saga_by_key(struct orc_cmd *cmd, const char *key, const char *definition,
	    json_t **res)
{
	struct orc_error err = {0};
	char names[ORC_ERROR_DETAIL_MAX] = "";
	const char *first;
	json_t *all = NULL, *s;
	size_t i, n = 0, n_defs = 0;

	if (orc_store_admin_sagas_by_key(cmd->store, key, definition, &all,
					 &err) != ORC_OK)
		return orc_cmd_fail_input(cmd, &err);
	first = orc_cmd_str(json_array_get(all, 0), "definition_name");
	json_array_foreach(all, i, s) {
		const char *name = orc_cmd_str(s, "definition_name");
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(orc_cmd_str(json_array_get(all, j),
						  "definition_name"),
				      name) == 0;
		if (seen)
			continue;
		n_defs++;
		if (n < sizeof(names))
			n += (size_t)snprintf(names + n, sizeof(names) - n,
					      "%s%s", n_defs > 1 ? ", " : "",
					      name);
	}
	if (n_defs <= 1 && first != NULL) {
		*res = json_incref(json_array_get(all, 0));
		json_object_set_new(*res, "earlier", earlier_sagas(all));
		json_decref(all);
		return 0;
	}
	orc_error_set(&err, ORC_NOT_FOUND,
		      "business key \"%s\" belongs to sagas of %zu definitions",
		      key, n_defs);
	orc_error_detail(&err, "Definitions: %s.", names);
	orc_cmd_fail(cmd, &err);
	fprintf(stderr, "HINT: Name one with --definition, or give the saga "
			"id.\n");
	json_decref(all);
	return 1;
}

/* The earlier sagas of the key, after the newest (print_saga's). */
static void
print_earlier(const json_t *earlier)
{
	char t1[ORC_TABLE_TIME_MAX], t2[ORC_TABLE_TIME_MAX];
	const json_t *e;
	size_t i;

	if (json_array_size(earlier) == 0)
		return;
	printf("\nearlier sagas of this key, newest first:\n");
	json_array_foreach(earlier, i, e)
		printf("  %s  %-12s started %s  finished %s\n",
		       orc_cmd_str(e, "id"), orc_cmd_str(e, "status"),
		       orc_table_time(orc_cmd_str(e, "created_at"), t1),
		       orc_table_time(orc_cmd_str(e, "finished_at"), t2));
}

int
orc_cmd_status(int argc, char **argv)
{
	struct orc_cmd cmd;
	struct orc_error err = {0};
	const char *key = NULL, *definition = NULL, *id = NULL;
	json_t *res = NULL;
	int rc;

	if (orc_args_help(argc, argv, status_usage))
		return 0;
	rc = orc_cmd_init(&cmd, "status", &argc, argv, 0);
	if (rc == 0)
		rc = status_args(&cmd, argc, argv, &id, &key, &definition);
	if (rc != 0)
		goto done;
	if (id != NULL && orc_store_admin_check_id(id, &err) != ORC_OK) {
		rc = orc_cmd_fail_input(&cmd, &err);
		goto done;
	}
	rc = orc_cmd_open(&cmd, ORC_CMD_STORE);
	if (rc != 0)
		goto done;
	if (id == NULL)
		rc = saga_by_key(&cmd, key, definition, &res);
	else if (orc_store_admin_saga(cmd.store, id, &res, &err) != ORC_OK)
		rc = orc_cmd_fail_input(&cmd, &err);
	if (rc != 0)
		goto done;
	if (cmd.json) {
		orc_cmd_print_json(res);
	} else {
		print_saga(res);
		print_earlier(json_object_get(res, "earlier"));
	}
done:
	json_decref(res);
	orc_cmd_finish(&cmd);
	return rc;
}

/* ---- list ---- */

static const char list_usage[] =
	"usage: orchestrator list [--definition NAME] [--status S[,S...]]\n"
	"           [--older-than DURATION] [--newer-than DURATION]\n"
	"           [--limit N] [--json]\n"
	"List sagas, newest first (at most 50 unless --limit).  --status\n"
	"takes running, completed, compensating, compensated, failed, stuck,\n"
	"cancelled, timed_out (comma-separated or repeated).  --older-than\n"
	"and --newer-than compare the saga's start with now: 10m, 1h30m, 2d.\n"
	"Settings: --dsn (or ORC_PG_DSN), --pg-schema, --config FILE.\n";

#define MAX_STATUSES 16

enum {
	OPT_LIST_DEFINITION = ORC_ARGS_FIRST,
	OPT_STATUS,
	OPT_OLDER_THAN,
	OPT_NEWER_THAN,
	OPT_LIMIT,
};

static int
duration_arg(const struct orc_args *a, const char *text, int64_t *ms)
{
	if (orc_duration_parse(text, ms))
		return 0;
	return orc_args_fail(a, "invalid duration \"%s\": expected e.g. 30s, "
			     "10m, 1h30m, 2d", text);
}

/*
 * Fill f from the list options; the --status values are split in buf
 * (size len) and pointed to from statuses.  Returns 0 or the exit status.
 */
static int
list_args(const struct orc_cmd *cmd, int argc, char **argv,
	  struct orc_admin_list_filter *f, const char **statuses, char *buf,
	  size_t len)
{
	static const struct option options[] = {
		{"definition", required_argument, NULL, OPT_LIST_DEFINITION},
		{"status", required_argument, NULL, OPT_STATUS},
		{"older-than", required_argument, NULL, OPT_OLDER_THAN},
		{"newer-than", required_argument, NULL, OPT_NEWER_THAN},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{0},
	};
	struct orc_args a;
	const char *v;
	size_t n = 0;
	char *save = NULL;
	int c, rc = 0;

	buf[0] = '\0';
	orc_args_init(&a, cmd->name, list_usage, options, argc, argv);
	while (rc == 0 && (c = orc_args_next(&a, &v)) != ORC_ARGS_END) {
		switch (c) {
		case OPT_LIST_DEFINITION:
			f->definition = v;
			break;
		case OPT_STATUS:
			if (n < len)
				n += (size_t)snprintf(buf + n, len - n, "%s%s",
						      n ? "," : "", v);
			break;
		case OPT_OLDER_THAN:
			rc = duration_arg(&a, v, &f->older_than_ms);
			break;
		case OPT_NEWER_THAN:
			rc = duration_arg(&a, v, &f->newer_than_ms);
			break;
		case OPT_LIMIT:
			rc = orc_args_limit(&a, v, &f->limit);
			break;
		case ORC_ARGS_OPERAND:
			return orc_args_fail(&a, "unexpected \"%s\"", v);
		default:
			return 2;
		}
	}
	if (rc != 0)
		return rc;
	if (n >= len)
		return orc_args_fail(&a, "too many statuses");
	for (char *tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (f->n_statuses == MAX_STATUSES)
			return orc_args_fail(&a, "too many statuses");
		statuses[f->n_statuses++] = tok;
	}
	f->statuses = statuses;
	return 0;
}

static void
print_list(const json_t *list, size_t total)
{
	static const struct orc_table_column cols[] = {
		{"ID", 0, false},  {"DEFINITION", 10, false},
		{"KEY", 6, false}, {"STATUS", 0, false},
		{"AGE", 0, true},
	};
	struct orc_table tab;
	const json_t *s;
	size_t k;

	orc_table_init(&tab, cols, sizeof(cols) / sizeof(cols[0]), false);
	json_array_foreach(list, k, s) {
		char def[160], age[24];
		const char *cells[5];

		snprintf(def, sizeof(def), "%s@%lld",
			 orc_cmd_str(s, "definition_name"),
			 orc_cmd_int(s, "definition_version"));
		cells[0] = orc_cmd_str(s, "id");
		cells[1] = def;
		cells[2] = orc_cmd_str(s, "business_key");
		cells[3] = orc_cmd_str(s, "status");
		cells[4] = orc_duration_format_rough(orc_cmd_int(s, "age_ms"),
						     age, sizeof(age));
		orc_table_add(&tab, cells, NULL);
	}
	orc_table_print(&tab, stdout);
	orc_table_finish(&tab);
	orc_table_print_count(stdout, json_array_size(list), total, "saga",
			      "sagas");
}

int
orc_cmd_list(int argc, char **argv)
{
	struct orc_cmd cmd;
	struct orc_error err = {0};
	struct orc_admin_list_filter f = {0};
	const char *statuses[MAX_STATUSES];
	char status_buf[512];
	json_t *list = NULL;
	size_t total;
	int rc;

	if (orc_args_help(argc, argv, list_usage))
		return 0;
	rc = orc_cmd_init(&cmd, "list", &argc, argv, 0);
	if (rc == 0)
		rc = list_args(&cmd, argc, argv, &f, statuses, status_buf,
			       sizeof(status_buf));
	if (rc == 0)
		rc = orc_cmd_open(&cmd, ORC_CMD_STORE);
	if (rc != 0)
		goto done;
	if (orc_store_admin_list(cmd.store, &f, &list, &total, &err) !=
	    ORC_OK) {
		rc = orc_cmd_fail_input(&cmd, &err);
		goto done;
	}
	if (cmd.json)
		orc_cmd_print_json(list);
	else
		print_list(list, total);
done:
	json_decref(list);
	orc_cmd_finish(&cmd);
	return rc;
}

/* ---- history ---- */

static const char history_usage[] =
	"usage: orchestrator history SAGA_ID [--json]\n"
	"The saga's timeline, oldest first: every event, transition and\n"
	"operator action, with its details as JSON (a child saga's start,\n"
	"signal and end in words; a map item's entries name the item,\n"
	"step[index]).\n"
	"Settings: --dsn (or ORC_PG_DSN), --pg-schema, --config FILE.\n";

/* The saga id of `history ID`: 0 with *id, or the exit status. */
static int
history_args(const struct orc_cmd *cmd, int argc, char **argv,
	     const char **id)
{
	struct orc_args a;
	const char *v;
	int c;

	orc_args_init(&a, cmd->name, history_usage, NULL, argc, argv);
	while ((c = orc_args_next(&a, &v)) != ORC_ARGS_END) {
		if (c != ORC_ARGS_OPERAND)
			return 2;
		if (*id != NULL)
			return orc_args_fail(&a, "unexpected \"%s\"", v);
		*id = v;
	}
	if (*id == NULL)
		return orc_args_fail(&a, "which saga? give its id");
	return 0;
}

/* The members a child's entry names in words, in the order they read. */
static const char *const child_members[] = {
	"child", "status", "failure", "action", "definition", "version", "key",
};

/* "child <id> completed: <failure>", "child <id> payment@2 key k", ... */
static void
child_summary(struct orc_strbuf *b, const json_t *detail)
{
	const char *status = orc_cmd_str(detail, "status");
	const char *failure = orc_cmd_str(detail, "failure");
	const char *action = orc_cmd_str(detail, "action");
	const char *definition = orc_cmd_str(detail, "definition");
	const char *key = orc_cmd_str(detail, "key");

	orc_strbuf_printf(b, "child %s", orc_cmd_str(detail, "child"));
	if (status != NULL)
		orc_strbuf_printf(b, " %s", status);
	if (failure != NULL)
		orc_strbuf_printf(b, ": %s", failure);
	if (action != NULL)
		orc_strbuf_printf(b, " %s", action);
	if (definition != NULL)
		orc_strbuf_printf(b, " %s", definition);
	if (json_object_get(detail, "version") != NULL)
		orc_strbuf_printf(b, "@%lld", orc_cmd_int(detail, "version"));
	if (key != NULL)
		orc_strbuf_printf(b, " key %s", key);
}

/*
 * The DETAIL of a history entry (detail borrowed, may be NULL), as a new
 * string (free()) or NULL for none.  An entry about a child saga
 * (child.started, child.ended, child.signalled, the compensation that
 * asks it to undo) first says in words which child and how it stands;
 * the rest of the detail follows as compact JSON, less a map item's
 * "item", which the STEP cell shows.
 */
static char *
history_detail(const json_t *detail)
{
	bool child = orc_cmd_str(detail, "child") != NULL;
	struct orc_strbuf b;
	json_t *rest;
	char *text = NULL;

	if (detail == NULL || json_is_null(detail))
		return NULL;
	if (!json_is_object(detail))
		return json_dumps(detail, JSON_COMPACT | JSON_ENCODE_ANY);
	rest = json_copy((json_t *)detail);
	if (rest == NULL)
		return NULL;
	orc_strbuf_init(&b);
	if (child) {
		child_summary(&b, detail);
		for (size_t i = 0;
		     i < sizeof(child_members) / sizeof(child_members[0]); i++)
			json_object_del(rest, child_members[i]);
	}
	if (json_is_integer(json_object_get(rest, "item")))
		json_object_del(rest, "item");
	if (json_object_size(rest) > 0)
		text = json_dumps(rest, JSON_COMPACT);
	if (text != NULL)
		orc_strbuf_printf(&b, "%s%s", child ? " " : "", text);
	free(text);
	json_decref(rest);
	if (b.len == 0) {
		orc_strbuf_finish(&b);
		return NULL;
	}
	return orc_strbuf_take(&b);
}

static void
print_history(const json_t *hist)
{
	static const struct orc_table_column cols[] = {
		{"TIME", 0, false},
		{"KIND", 0, false},
		{"STEP", 8, false},
		{"DETAIL", 0, false},
	};
	struct orc_table tab;
	const json_t *h;
	size_t i;

	orc_table_init(&tab, cols, sizeof(cols) / sizeof(cols[0]), true);
	json_array_foreach(hist, i, h) {
		json_t *detail = json_object_get(h, "detail");
		json_t *item = json_object_get(detail, "item");
		const char *step = orc_cmd_str(h, "step");
		char *text = history_detail(detail), name[256];
		const char *cells[4];

		/* a map item's entry: "reserve[17]" */
		if (step != NULL && json_is_integer(item)) {
			snprintf(name, sizeof(name), "%s[%lld]", step,
				 (long long)json_integer_value(item));
			step = name;
		}
		cells[0] = orc_cmd_str(h, "at");
		cells[1] = orc_cmd_str(h, "kind");
		cells[2] = step;
		cells[3] = text;
		orc_table_add(&tab, cells, NULL);
		free(text);
	}
	if (tab.nrows == 0)
		printf("(no history)\n");
	else
		orc_table_print(&tab, stdout);
	orc_table_finish(&tab);
}

int
orc_cmd_history(int argc, char **argv)
{
	struct orc_cmd cmd;
	struct orc_error err = {0};
	const char *id = NULL;
	json_t *hist = NULL;
	int rc;

	if (orc_args_help(argc, argv, history_usage))
		return 0;
	rc = orc_cmd_init(&cmd, "history", &argc, argv, 0);
	if (rc == 0)
		rc = history_args(&cmd, argc, argv, &id);
	if (rc != 0)
		goto done;
	if (orc_store_admin_check_id(id, &err) != ORC_OK) {
		rc = orc_cmd_fail_input(&cmd, &err);
		goto done;
	}
	rc = orc_cmd_open(&cmd, ORC_CMD_STORE);
	if (rc != 0)
		goto done;
	if (orc_store_admin_history(cmd.store, id, &hist, &err) != ORC_OK) {
		rc = orc_cmd_fail_input(&cmd, &err);
		goto done;
	}
	if (cmd.json)
		orc_cmd_print_json(hist);
	else
		print_history(hist);
done:
	json_decref(hist);
	orc_cmd_finish(&cmd);
	return rc;
}
