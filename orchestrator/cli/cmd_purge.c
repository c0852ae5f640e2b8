/*
 * cmd_purge.c - `orchestrator purge`: a one-off clean-up of finished
 * sagas, by age, definition and status.
 *
 * It deletes as housekeeping does (store_housekeeping.h): batches of
 * housekeeping_batch sagas, one transaction each, SKIP LOCKED, archived
 * first when archive_topic is set, until none is left.  So it may run
 * while orchestrators run, stopping it (Ctrl-C) loses nothing but the
 * batch in hand (rolled back), and running it again goes on where it
 * stopped.  The cut-off is fixed when it starts: sagas that become old
 * enough while it runs are left to the next run (or to housekeeping), so
 * it ends however fast sagas finish.  Unfinished sagas (running,
 * compensating, stuck) are never deleted: asking for one of their
 * statuses is a usage error.
 *
 * Exit status: 0 done, 1 failed (what was deleted before stays deleted),
 * 2 usage.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "clock.h"
#include "cmd_common.h"
#include "commands.h"
#include "duration.h"
#include "engine.h"
#include "store_housekeeping.h"

static const char purge_usage[] =
	"usage: orchestrator purge --older-than DURATION [--definition NAME]\n"
	"                          [--status STATUS] [--dry-run] [--json]\n"
	"Delete the sagas that finished more than DURATION ago (e.g. 90d),\n"
	"with their steps and history, in batches of housekeeping_batch, one\n"
	"transaction each, until none is left; only those of definition NAME\n"
	"with --definition, only those of one final status (completed,\n"
	"compensated, failed, cancelled, timed_out) with --status.  Sagas that\n"
	"have not finished (running, compensating, stuck) are never deleted.\n"
	"With archive_topic set, each saga is archived first: a saga.archived\n"
	"event through the outbox, which a running orchestrator's relay\n"
	"publishes.  --dry-run counts them and deletes nothing.  Safe while\n"
	"orchestrators run; housekeeping does the same by itself for the\n"
	"retention setting.\n"
	"Settings: --dsn (or ORC_PG_DSN), --pg-schema, --archive-topic,\n"
	"--housekeeping-batch, --config FILE.\n";

enum {
	OPT_OLDER_THAN = ORC_ARGS_FIRST,
	OPT_DEFINITION,
	OPT_STATUS,
	OPT_DRY_RUN,
};

struct purge_args {
	int64_t older_than_ms;
	const char *definition;
	const char *status;
	bool dry_run;
};

static int
parse(struct orc_args *a, struct purge_args *p)
{
	enum orc_saga_status status;
	const char *v;
	int c;

	while ((c = orc_args_next(a, &v)) != ORC_ARGS_END) {
		switch (c) {
		case OPT_OLDER_THAN:
			if (!orc_duration_parse(v, &p->older_than_ms))
				return orc_args_fail(a, "invalid duration \"%s\": "
						     "expected e.g. 30s, 10m, "
						     "1h30m, 90d", v);
			break;
		case OPT_DEFINITION:
			p->definition = v;
			break;
		case OPT_STATUS:
			if (!orc_saga_status_parse(v, &status))
				return orc_args_fail(a, "unknown status \"%s\"", v);
			if (!orc_saga_status_is_final(status) ||
			    status == ORC_SAGA_STUCK)
				return orc_args_fail(
					a, "status \"%s\" is not final: purge "
					   "deletes only finished sagas "
					   "(completed, compensated, failed, "
					   "cancelled, timed_out)", v);
			p->status = v;
			break;
		case OPT_DRY_RUN:
			p->dry_run = true;
			break;
		case ORC_ARGS_OPERAND:
			return orc_args_fail(a, "unexpected \"%s\"", v);
		default:
			return 2;
		}
	}
	if (p->older_than_ms == 0)
		return orc_args_fail(a, "--older-than is required: how long "
				     "ago must a saga have finished?");
	return 0;
}

/* The progress line, on a terminal only: "\r" keeps it one line. */
static void
progress(bool tty, int64_t done, int64_t due, size_t batches)
{
	if (!tty)
		return;
	fprintf(stderr, "\rpurge: %lld of %lld sagas deleted (%zu batch%s)",
		(long long)done, (long long)(due > done ? due : done), batches,
		batches == 1 ? "" : "es");
	fflush(stderr);
}

static void
report(const struct orc_cmd *cmd, const struct purge_args *p, int64_t n,
       int64_t archived, size_t batches)
{
	char age[32];
	json_t *o;

	orc_duration_format(p->older_than_ms, age, sizeof(age));
	if (cmd->json) {
		o = json_pack("{sb sI sI si ss}", "dry_run", p->dry_run,
			      p->dry_run ? "due" : "deleted", (json_int_t)n,
			      "archived", (json_int_t)archived, "batches",
			      (int)batches, "older_than", age);
		orc_cmd_print_json(o);
		json_decref(o);
	} else if (p->dry_run) {
		printf("%lld saga%s finished more than %s ago would be deleted "
		       "(dry run: nothing deleted)\n",
		       (long long)n, n == 1 ? "" : "s", age);
	} else {
		printf("%lld saga%s deleted, %lld archived, in %zu batch%s\n",
		       (long long)n, n == 1 ? "" : "s", (long long)archived,
		       batches, batches == 1 ? "" : "es");
	}
}

static int
purge(struct orc_cmd *cmd, const struct purge_args *p)
{
	struct orc_error err = {0};
	struct orc_housekeeping_sagas q = {
		.default_ms = p->older_than_ms,
		.definition = p->definition,
		.status = p->status,
		.archive_topic = orc_config_str(&cmd->cfg, ORC_CFG_ARCHIVE_TOPIC),
		.limit = (int)orc_config_int(&cmd->cfg, ORC_CFG_HOUSEKEEPING_BATCH),
	};
	bool tty = isatty(STDERR_FILENO) && !cmd->json;
	int64_t due = 0, done = 0, archived = 0;
	int64_t started = orc_clock_mono_ms();
	size_t batches = 0, n, a;

	if (orc_store_housekeeping_count_sagas(cmd->store, &q, &due, &err) !=
	    ORC_OK)
		return orc_cmd_fail(cmd, &err);
	if (p->dry_run) {
		report(cmd, p, due, 0, 0);
		return 0;
	}
	progress(tty, 0, due, 0);
	do {
		/* the cut-off stays where it was at the start */
		q.default_ms = p->older_than_ms +
			       (orc_clock_mono_ms() - started);
		if (orc_store_housekeeping_sagas(cmd->store, &q, &n, &a,
						 &err) != ORC_OK) {
			if (tty)
				fputc('\n', stderr);
			orc_error_detail(&err, "%lld sagas were deleted before "
					 "this; running purge again goes on.",
					 (long long)done);
			return orc_cmd_fail(cmd, &err);
		}
		done += (int64_t)n;
		archived += (int64_t)a;
		batches += n > 0;
		if (n > 0)
			progress(tty, done, due, batches);
	} while (n > 0);
	if (tty)
		fputc('\n', stderr);
	report(cmd, p, done, archived, batches);
	return 0;
}

int
orc_cmd_purge(int argc, char **argv)
{
	static const struct option options[] = {
		{"older-than", required_argument, NULL, OPT_OLDER_THAN},
		{"definition", required_argument, NULL, OPT_DEFINITION},
		{"status", required_argument, NULL, OPT_STATUS},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{0},
	};
	struct purge_args p = {0};
	struct orc_cmd cmd;
	struct orc_args a;
	int rc;

	if (orc_args_help(argc, argv, purge_usage))
		return 0;
	rc = orc_cmd_init(&cmd, "purge", &argc, argv, 0);
	if (rc != 0)
		goto done;
	orc_args_init(&a, cmd.name, purge_usage, options, argc, argv);
	rc = parse(&a, &p);
	if (rc == 0)
		rc = orc_cmd_open(&cmd, ORC_CMD_STORE);
	if (rc == 0)
		rc = purge(&cmd, &p);
done:
	orc_cmd_finish(&cmd);
	return rc;
}
