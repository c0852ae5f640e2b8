/*
 * cmd_operator.c - an operator's actions on sagas: `pause`, `resume`,
 * `skip`, `patch`, `retry`, `resolve`, `cancel`, on one saga by id or on
 * every saga a SQL predicate selects (`--where`).
 *
 * Every action is an engine input applied by orc_apply_operator() (apply.h)
 * in a transaction of its own, so an operator can do nothing a service
 * could not, the engine refuses what the saga's state does not allow, and
 * every applied action is in the saga's history as "operator.<action>"
 * with who (--by, else user@host), why (--reason) and its arguments (the
 * operator_actions view).  The commands an action causes are published by
 * the relay of a running `orchestrator run`.
 *
 * In bulk, the sagas are selected by the operator's own SQL (a boolean
 * expression over the sagas table, run with their own database rights) in
 * a read-only transaction, then acted on one saga per transaction, in id
 * order, each under the saga's lock after checking the predicate again:
 * one that changed meanwhile is skipped, not acted on.  Every action of
 * one bulk run has the run's id as its prefix ("<run>-<n>").  An
 * interrupt (SIGINT, SIGTERM) stops after the saga at hand; a second run
 * of the same command selects again, and what the first one did no
 * longer matches (a retried saga is running), so nothing is done twice.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "backoff.h"
#include "cmd_common.h"
#include "commands.h"
#include "store_admin.h"
#include "table.h"

#define BY_MAX 320
#define TRANSIENT_TRIES 8 /* tries of one saga while the store is away */

/* The exit status of a bulk run stopped by an interrupt (128 + SIGINT). */
#define EXIT_INTERRUPTED 130

enum {
	OPT_REASON = ORC_ARGS_FIRST,
	OPT_BY,
	OPT_WHERE,
	OPT_DRY_RUN,
	OPT_DATA,
	OPT_INPUT,
	OPT_STEP,
	OPT_FROM,
	OPT_NO_COMPENSATE,
	OPT_END
};

#define N_OPTS (OPT_END - ORC_ARGS_FIRST)
#define OPT(o) ((o) - ORC_ARGS_FIRST)

/* The options every action takes, before its own. */
#define COMMON_OPTIONS                                                         \
	{"reason", required_argument, NULL, OPT_REASON},                       \
	{"by", required_argument, NULL, OPT_BY},                               \
	{"where", required_argument, NULL, OPT_WHERE},                         \
	{"dry-run", no_argument, NULL, OPT_DRY_RUN}

#define COMMON_USAGE                                                           \
	"Options of every action:\n"                                           \
	"  --reason TEXT   why, for the saga's history\n"                      \
	"  --by NAME       who acts (default: user@host)\n"                    \
	"  --where SQL     instead of SAGA_ID: every saga where this\n"        \
	"                  boolean expression over the sagas table holds\n"    \
	"                  (your own SQL, with your database rights, run\n"    \
	"                  read only)\n"                                       \
	"  --dry-run       with --where: list the sagas, change nothing\n"     \
	"  --json          print the outcome as JSON\n"                        \
	"A refused action (the saga's state does not allow it) exits 1 and\n"  \
	"says why.  With --where: 0 when every saga was done or skipped,\n"    \
	"130 when interrupted (run it again), else 1 when some were refused.\n"

static const char pause_usage[] =
	"usage: orchestrator pause SAGA_ID|--where SQL [options]\n"
	"Pause a running or compensating saga: it sends no command and fires\n"
	"no timer until resumed (timeouts keep their remaining time); replies\n"
	"that come meanwhile are applied.\n" COMMON_USAGE;

static const char resume_usage[] =
	"usage: orchestrator resume SAGA_ID|--where SQL [options]\n"
	"Resume a paused saga: its timers and deadline move on by the time it\n"
	"was paused, and what became ready meanwhile starts.\n" COMMON_USAGE;

static const char skip_usage[] =
	"usage: orchestrator skip SAGA_ID|--where SQL STEP\n"
	"                         [--data JSON|@FILE] [options]\n"
	"Mark a pending, running or failed step succeeded with output JSON\n"
	"(default null; what /steps/STEP then holds); the saga goes on.\n"
	COMMON_USAGE;

static const char patch_usage[] =
	"usage: orchestrator patch SAGA_ID|--where SQL --input PATCH|@FILE\n"
	"                          [options]\n"
	"       orchestrator patch SAGA_ID|--where SQL --step STEP\n"
	"                          PATCH|@FILE [options]\n"
	"Correct the saga's input, or a step's output, with a JSON merge\n"
	"patch (RFC 7386); the history keeps the before and the after.\n"
	COMMON_USAGE;

static const char retry_usage[] =
	"usage: orchestrator retry SAGA_ID|--where SQL [--from STEP]\n"
	"                          [options]\n"
	"Rerun a failed saga from where it stopped, or retry the\n"
	"compensations of a stuck one; with --from, rerun STEP and every\n"
	"step that depends on it, with new attempt ids.\n" COMMON_USAGE;

static const char resolve_usage[] =
	"usage: orchestrator resolve SAGA_ID|--where SQL STEP [options]\n"
	"Declare the compensation of STEP of a stuck saga done by hand;\n"
	"compensation goes on with the next step.\n" COMMON_USAGE;

static const char cancel_usage[] =
	"usage: orchestrator cancel SAGA_ID|--where SQL [--no-compensate]\n"
	"                           [options]\n"
	"Cancel a running saga (what succeeded is compensated first) or give\n"
	"up on a stuck one; with --no-compensate, end it at once, cancelled,\n"
	"compensating nothing (also a compensating or failed one).\n"
	COMMON_USAGE;

/* One command line, read. */
struct request {
	const char *name; /* the command's, "retry" */
	const char *usage;
	const char *values[N_OPTS];
	const char *id;	     /* NULL with --where */
	const char *operand; /* STEP of skip and resolve, PATCH of patch */
	struct orc_operator_action act;
	char by[BY_MAX];
};

/*
 * The JSON of option or operand what: arg itself, or the file after "@".
 * New, or NULL with err saying where it is invalid.
 */
static json_t *
read_json(const char *what, const char *arg, struct orc_error *err)
{
	json_error_t jerr;
	json_t *v;

	if (arg[0] == '@')
		v = json_load_file(arg + 1, JSON_DECODE_ANY, &jerr);
	else
		v = json_loads(arg, JSON_DECODE_ANY, &jerr);
	if (v != NULL)
		return v;
	if (arg[0] == '@' && jerr.line < 1)
		orc_error_set(err, ORC_INVALID, "%s: %s", what, jerr.text);
	else if (arg[0] == '@')
		orc_error_set(err, ORC_INVALID,
			      "%s: invalid JSON in file %s at line %d column %d"
			      " (byte %d): %s",
			      what, arg + 1, jerr.line, jerr.column,
			      jerr.position, jerr.text);
	else
		orc_error_set(err, ORC_INVALID,
			      "%s: invalid JSON at line %d column %d (byte %d):"
			      " %s",
			      what, jerr.line, jerr.column, jerr.position,
			      jerr.text);
	return NULL;
}

/*
 * Read the options and operands of req->name into req; 0 or the exit
 * status (2 after a usage error).  ops: how many operands the action takes
 * after the saga id.
 */
static int
read_args(struct request *req, const struct orc_cmd *cmd,
	  const struct option *options, int ops, int argc, char **argv)
{
	const char *operands[3] = {0};
	struct orc_args a;
	const char *v, *where;
	int c, n = 0, want;

	orc_args_init(&a, cmd->name, req->usage, options, argc, argv);
	while ((c = orc_args_next(&a, &v)) != ORC_ARGS_END) {
		if (c == OPT_DRY_RUN || c == OPT_NO_COMPENSATE)
			req->values[OPT(c)] = "";
		else if (c >= ORC_ARGS_FIRST)
			req->values[OPT(c)] = v;
		else if (c == ORC_ARGS_OPERAND && n < 3)
			operands[n++] = v;
		else if (c == ORC_ARGS_OPERAND)
			return orc_args_fail(&a, "unexpected \"%s\"", v);
		else
			return 2;
	}
	/* patch --step takes the patch as an operand, --input does not */
	if (req->act.kind == ORC_INPUT_PATCH)
		ops = req->values[OPT(OPT_STEP)] != NULL;
	want = ops + (req->values[OPT(OPT_WHERE)] == NULL);
	if (n == 0 && want > 0 && req->values[OPT(OPT_WHERE)] == NULL)
		return orc_args_fail(&a, "which saga? give its id, or --where");
	if (n < want)
		return orc_args_fail(&a, "%s",
				     req->act.kind == ORC_INPUT_PATCH
					 ? "which patch? give it after --step"
					 : "which step? give its name");
	if (n > want)
		return orc_args_fail(&a, "unexpected \"%s\"%s", operands[want],
				     req->values[OPT(OPT_WHERE)] != NULL
					 ? " (--where selects the sagas)"
					 : "");
	if (req->values[OPT(OPT_WHERE)] == NULL) {
		req->id = operands[0];
		req->operand = operands[1];
	} else {
		req->operand = operands[0];
	}
	if (req->values[OPT(OPT_DRY_RUN)] != NULL &&
	    req->values[OPT(OPT_WHERE)] == NULL)
		return orc_args_fail(&a, "--dry-run goes with --where");
	where = req->values[OPT(OPT_WHERE)];
	if (where != NULL && where[strspn(where, " \t\n")] == '\0')
		return orc_args_fail(&a, "--where needs a predicate");
	return 0;
}

/* The patch arguments: --input P, or --step S and the operand P. */
static int
patch_args(struct request *req, const struct orc_cmd *cmd,
	   const struct option *options, int argc, char **argv)
{
	struct orc_args a;
	int rc = read_args(req, cmd, options, 0, argc, argv);

	if (rc != 0)
		return rc;
	orc_args_init(&a, cmd->name, req->usage, options, argc, argv);
	if (req->values[OPT(OPT_STEP)] == NULL &&
	    req->values[OPT(OPT_INPUT)] == NULL)
		return orc_args_fail(&a, "what patch? give --input PATCH, or "
					 "--step STEP PATCH");
	if (req->values[OPT(OPT_STEP)] != NULL &&
	    req->values[OPT(OPT_INPUT)] != NULL)
		return orc_args_fail(&a, "--input and --step do not go "
					 "together: patch one at a time");
	return 0;
}

/* ---- one saga ---- */

static int
act_on_one(struct request *req, struct orc_cmd *cmd)
{
	const char *action = orc_input_kind_name(req->act.kind);
	struct orc_error err = {0};
	char action_id[40];

	if (orc_apply_operator(cmd->ap, &req->act, req->id, orc_clock_wall_ms(),
			       action_id, &err) != ORC_OK)
		return orc_cmd_fail_input(cmd, &err);
	if (cmd->json)
		printf("{\"saga_id\": \"%s\", \"action\": \"%s\", "
		       "\"action_id\": \"%s\"}\n",
		       req->id, action, action_id);
	else
		printf("%s: %s applied (action %s)\n", req->id, action,
		       action_id);
	return 0;
}

/* ---- in bulk ---- */

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* What one bulk run did. */
struct bulk {
	char run_id[24]; /* "op-<16 hex>": every action id starts with it */
	size_t selected, done, refused, skipped, failed;
	bool interrupted;
	/* why sagas were refused: [{reason, count, sagas: [id...]}] */
	json_t *refusals;
};

/* A new run id from /dev/urandom into b->run_id. */
static enum orc_status
new_run_id(struct bulk *b, struct orc_error *err)
{
	unsigned char r[8];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, r, sizeof(r)) : -1;

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(r))
		return orc_error_set(err, ORC_FATAL,
				     "cannot read /dev/urandom");
	snprintf(b->run_id, sizeof(b->run_id),
		 "op-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
		 r[4], r[5], r[6], r[7]);
	return ORC_OK;
}

/*
 * Count a refusal of saga id under its reason: message with the id
 * replaced by "<id>", so that the same refusal of many sagas is one group.
 */
static void
add_refusal(struct bulk *b, const char *id, const char *message)
{
	char reason[ORC_ERROR_MSG_MAX];
	size_t len = strlen(id), o = 0, i;
	json_t *g = NULL;

	for (const char *p = message; *p != '\0' && o + 5 < sizeof(reason);) {
		if (strncmp(p, id, len) == 0) {
			memcpy(reason + o, "<id>", 4);
			o += 4;
			p += len;
		} else {
			reason[o++] = *p++;
		}
	}
	reason[o] = '\0';
	b->refused++;
	json_array_foreach(b->refusals, i, g) {
		if (strcmp(orc_cmd_str(g, "reason"), reason) == 0)
			break;
		g = NULL;
	}
	if (g == NULL) {
		g = json_pack("{s:s, s:i, s:[]}", "reason", reason, "count", 0,
			      "sagas");
		if (g == NULL || json_array_append_new(b->refusals, g) != 0)
			return;
	}
	json_object_set_new(g, "count",
			    json_integer(orc_cmd_int(g, "count") + 1));
	json_array_append_new(json_object_get(g, "sagas"), json_string(id));
}

static void
progress(const struct request *req, const struct bulk *b, size_t at)
{
	fprintf(stderr, "\r%s %s: %zu/%zu (%zu done, %zu refused, %zu skipped)",
		req->name, b->run_id, at, b->selected, b->done, b->refused,
		b->skipped);
}

/*
 * Act on saga id as action n of run b; false when the run must stop (an
 * error, printed: b->failed counts it).
 */
static bool
act_in_bulk(struct request *req, struct orc_cmd *cmd, struct bulk *b,
	    const char *id, size_t n)
{
	struct orc_backoff backoff;
	struct orc_error err = {0};
	char action_id[40];
	enum orc_status st;

	snprintf(action_id, sizeof(action_id), "%.19s-%u", b->run_id,
		 (unsigned)n);
	req->act.action_id = action_id;
	orc_backoff_init(&backoff, 200, 2, 5000);
	for (int tries = 1;; tries++) {
		if (!orc_store_connected(cmd->store))
			orc_store_reconnect(cmd->store, NULL);
		st = orc_apply_operator(cmd->ap, &req->act, id,
					orc_clock_wall_ms(), NULL, &err);
		if (st != ORC_TRANSIENT || tries == TRANSIENT_TRIES ||
		    stop_requested)
			break;
		orc_clock_sleep_ms(orc_backoff_next(&backoff), &stop_requested);
	}
	switch (st) {
	case ORC_OK:
		b->done++;
		return true;
	case ORC_CONFLICT:
		add_refusal(b, id, err.message);
		return true;
	case ORC_NOT_FOUND:
		/* gone, or no longer matching the predicate */
		b->skipped++;
		return true;
	default:
		b->failed++;
		if (isatty(STDERR_FILENO))
			fputc('\n', stderr);
		orc_error_prefix(&err, "saga %s", id);
		orc_cmd_fail(cmd, &err);
		return false;
	}
}

static void
print_selection(const struct request *req, const struct orc_cmd *cmd,
		json_t *sagas)
{
	static const struct orc_table_column cols[] = {
		{"ID", 0, false},  {"DEFINITION", 12, false},
		{"KEY", 12, false}, {"STATUS", 0, false},
	};
	struct orc_table t;
	json_t *s;
	size_t i;

	if (cmd->json) {
		json_t *o = json_pack("{ss sb sO}", "action", req->name,
				      "dry_run", 1, "sagas", sagas);

		orc_cmd_print_json(o);
		json_decref(o);
		return;
	}
	orc_table_init(&t, cols, 4, false);
	json_array_foreach(sagas, i, s) {
		const char *cells[4] = {orc_cmd_str(s, "id"),
					orc_cmd_str(s, "definition_name"),
					orc_cmd_str(s, "business_key"),
					orc_cmd_str(s, "status")};
		bool paused = !json_is_null(json_object_get(s, "paused_at"));

		orc_table_add(&t, cells, paused ? "paused" : NULL);
	}
	orc_table_print(&t, stdout);
	orc_table_finish(&t);
	printf("%zu saga%s would get %s (dry run: nothing changed)\n",
	       json_array_size(sagas), json_array_size(sagas) == 1 ? "" : "s",
	       req->name);
}

static void
print_summary(const struct request *req, const struct orc_cmd *cmd,
	      const struct bulk *b)
{
	json_t *g;
	size_t i;

	if (cmd->json) {
		json_t *o = json_pack("{ss ss sI sI sI sI sI sb sO}",
				      "action", req->name,
				      "run_id", b->run_id,
				      "selected", (json_int_t)b->selected,
				      "done", (json_int_t)b->done,
				      "refused", (json_int_t)b->refused,
				      "skipped", (json_int_t)b->skipped,
				      "failed", (json_int_t)b->failed,
				      "interrupted", b->interrupted,
				      "refusals", b->refusals);

		orc_cmd_print_json(o);
		json_decref(o);
		return;
	}
	printf("%s %s: %zu selected, %zu done, %zu refused, %zu skipped "
	       "(changed meanwhile)%s\n",
	       req->name, b->run_id, b->selected, b->done, b->refused,
	       b->skipped, b->failed > 0 ? ", stopped by an error" : "");
	json_array_foreach(b->refusals, i, g) {
		json_t *ids = json_object_get(g, "sagas");

		printf("  %lld refused: %s\n", orc_cmd_int(g, "count"),
		       orc_cmd_str(g, "reason"));
		printf("    e.g. %s%s\n",
		       json_string_value(json_array_get(ids, 0)),
		       json_array_size(ids) > 1 ? ", ..." : "");
	}
	if (b->interrupted)
		printf("interrupted after %zu of %zu: run the same command "
		       "again to go on (what was done no longer matches, or "
		       "is refused)\n",
		       b->done + b->refused + b->skipped, b->selected);
	printf("its actions: SELECT * FROM operator_actions WHERE action_id "
	       "LIKE '%s-%%'\n",
	       b->run_id);
}

static int
act_in_bulk_all(struct request *req, struct orc_cmd *cmd)
{
	const char *where = req->values[OPT(OPT_WHERE)];
	struct bulk b = {0};
	struct orc_error err = {0};
	struct sigaction sa;
	json_t *sagas = NULL, *s;
	bool tty = isatty(STDERR_FILENO);
	size_t i;
	int rc;

	if (orc_store_admin_sagas_where(cmd->store, where, &sagas, &err) !=
	    ORC_OK)
		return orc_cmd_fail_input(cmd, &err);
	if (req->values[OPT(OPT_DRY_RUN)] != NULL) {
		print_selection(req, cmd, sagas);
		json_decref(sagas);
		return 0;
	}
	b.refusals = json_array();
	if (b.refusals == NULL)
		orc_error_set(&err, ORC_FATAL, "out of memory");
	if (b.refusals == NULL || new_run_id(&b, &err) != ORC_OK) {
		rc = orc_cmd_fail(cmd, &err);
		goto done;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	req->act.where = where;
	b.selected = json_array_size(sagas);
	json_array_foreach(sagas, i, s) {
		if (stop_requested)
			break;
		if (!act_in_bulk(req, cmd, &b, orc_cmd_str(s, "id"), i + 1))
			break;
		if (tty)
			progress(req, &b, i + 1);
	}
	/* stopped before the end by a signal, not by an error */
	b.interrupted = stop_requested && i < b.selected && b.failed == 0;
	if (tty && b.selected > 0 && b.failed == 0)
		fputc('\n', stderr);
	print_summary(req, cmd, &b);
	if (b.interrupted)
		rc = EXIT_INTERRUPTED;
	else
		rc = b.failed > 0 || b.refused > 0 ? 1 : 0;
done:
	json_decref(b.refusals);
	json_decref(sagas);
	return rc;
}

/* ---- the commands ---- */

static int
operator(int argc, char **argv, const char *name, enum orc_input_kind kind,
	 const char *usage, const struct option *options, int ops)
{
	struct request req = {.name = name, .usage = usage};
	struct orc_error err = {0};
	struct orc_cmd cmd;
	const char *json_arg = NULL, *json_what = NULL;
	json_t *data = NULL;
	int rc;

	if (orc_args_help(argc, argv, usage))
		return 0;
	req.act.kind = kind;
	rc = orc_cmd_init(&cmd, name, &argc, argv, 0);
	if (rc == 0 && kind == ORC_INPUT_PATCH)
		rc = patch_args(&req, &cmd, options, argc, argv);
	else if (rc == 0)
		rc = read_args(&req, &cmd, options, ops, argc, argv);
	if (rc != 0)
		goto done;
	if (req.values[OPT(OPT_NO_COMPENSATE)] != NULL)
		req.act.kind = ORC_INPUT_TERMINATE;
	switch (kind) {
	case ORC_INPUT_SKIP:
		req.act.step = req.operand;
		json_arg = req.values[OPT(OPT_DATA)];
		json_what = "--data";
		break;
	case ORC_INPUT_RESOLVE:
		req.act.step = req.operand;
		break;
	case ORC_INPUT_RETRY:
		req.act.step = req.values[OPT(OPT_FROM)];
		break;
	case ORC_INPUT_PATCH:
		req.act.step = req.values[OPT(OPT_STEP)];
		json_arg = req.act.step == NULL ? req.values[OPT(OPT_INPUT)]
						: req.operand;
		json_what = req.act.step == NULL ? "--input" : "the patch";
		break;
	default:
		break;
	}
	if (json_arg != NULL) {
		data = read_json(json_what, json_arg, &err);
		if (data == NULL) {
			rc = orc_cmd_fail_input(&cmd, &err);
			goto done;
		}
		req.act.data = data;
	}
	if (req.id != NULL &&
	    orc_store_admin_check_id(req.id, &err) != ORC_OK) {
		rc = orc_cmd_fail_input(&cmd, &err);
		goto done;
	}
	req.act.reason = req.values[OPT(OPT_REASON)];
	req.act.by = orc_cmd_who(req.values[OPT(OPT_BY)], req.by,
				 sizeof(req.by));
	rc = orc_cmd_open(&cmd, ORC_CMD_APPLY);
	if (rc != 0)
		goto done;
	if (req.id != NULL)
		rc = act_on_one(&req, &cmd);
	else
		rc = act_in_bulk_all(&req, &cmd);
done:
	json_decref(data);
	orc_cmd_finish(&cmd);
	return rc;
}

int
orc_cmd_pause(int argc, char **argv)
{
	static const struct option options[] = {COMMON_OPTIONS, {0}};

	return operator(argc, argv, "pause", ORC_INPUT_PAUSE, pause_usage,
			options, 0);
}

int
orc_cmd_resume(int argc, char **argv)
{
	static const struct option options[] = {COMMON_OPTIONS, {0}};

	return operator(argc, argv, "resume", ORC_INPUT_RESUME, resume_usage,
			options, 0);
}

int
orc_cmd_skip(int argc, char **argv)
{
	static const struct option options[] = {
		COMMON_OPTIONS,
		{"data", required_argument, NULL, OPT_DATA},
		{0},
	};

	return operator(argc, argv, "skip", ORC_INPUT_SKIP, skip_usage, options,
			1);
}

int
orc_cmd_patch(int argc, char **argv)
{
	static const struct option options[] = {
		COMMON_OPTIONS,
		{"input", required_argument, NULL, OPT_INPUT},
		{"step", required_argument, NULL, OPT_STEP},
		{0},
	};

	return operator(argc, argv, "patch", ORC_INPUT_PATCH, patch_usage,
			options, 0);
}

int
orc_cmd_retry(int argc, char **argv)
{
	static const struct option options[] = {
		COMMON_OPTIONS,
		{"from", required_argument, NULL, OPT_FROM},
		{0},
	};

	return operator(argc, argv, "retry", ORC_INPUT_RETRY, retry_usage,
			options, 0);
}

int
orc_cmd_resolve(int argc, char **argv)
{
	static const struct option options[] = {COMMON_OPTIONS, {0}};

	return operator(argc, argv, "resolve", ORC_INPUT_RESOLVE, resolve_usage,
			options, 1);
}

int
orc_cmd_cancel(int argc, char **argv)
{
	static const struct option options[] = {
		COMMON_OPTIONS,
		{"no-compensate", no_argument, NULL, OPT_NO_COMPENSATE},
		{0},
	};

	return operator(argc, argv, "cancel", ORC_INPUT_CANCEL, cancel_usage,
			options, 0);
}
