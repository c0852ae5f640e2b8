/*
 * cmd_quarantine.c - `orchestrator quarantine release SAGA_ID`.
 *
 * A saga whose row cannot be read is quarantined by whichever process
 * finds it (store_saga.h): its timers stop, events for it are
 * dead-lettered with the reason, and the view quarantined_sagas lists it.
 * Once an operator has fixed the row with SQL, release reads it again the
 * way the engine does, in one transaction with the saga locked, and lifts
 * the quarantine only when that succeeds; a row still unreadable stays
 * quarantined and the command says why.  Nothing else about the saga
 * changes: its status and its wake-up time are as they were, so a timer
 * that came due meanwhile fires on the next pass.
 *
 * Exit status: 0 released, 1 not found, not quarantined or still
 * unreadable, 2 usage (including a malformed id).
 */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cmd_common.h"
#include "commands.h"
#include "store_saga.h"
#include "text.h"

static const char quarantine_usage[] =
	"usage: orchestrator quarantine release SAGA_ID [--json]\n"
	"A saga whose row the orchestrator cannot read (a context edited into\n"
	"something else, a step row its definition lacks, a definition that\n"
	"no longer loads) is quarantined: its timers do not fire and events\n"
	"for it are dead-lettered, everything else goes on.\n"
	"  SELECT * FROM orchestrator.quarantined_sagas;   lists them and why\n"
	"Fix the row with SQL, then release it: the row is read again as the\n"
	"engine reads it, and only then is the quarantine lifted.  Its status\n"
	"and timers are as they were; replay its dead-lettered events with\n"
	"`orchestrator dead-letters replay ID`.\n"
	"Settings: --dsn (or ORC_PG_DSN), --pg-schema, --config FILE.\n";

/* `release SAGA_ID`: argv[0] is "release". */
static int
quarantine_release(struct orc_cmd *cmd, struct orc_args *a)
{
	struct orc_error err = {0};
	char reason[ORC_ERROR_MSG_MAX];
	const char *id = NULL, *v;
	json_t *o;
	int c;

	while ((c = orc_args_next(a, &v)) != ORC_ARGS_END) {
		if (c != ORC_ARGS_OPERAND)
			return 2;
		if (id != NULL)
			return orc_args_fail(a, "release takes one saga id");
		id = v;
	}
	if (id == NULL)
		return orc_args_fail(a, "which saga? give its id");
	if (!orc_text_uuid_valid(id))
		return orc_args_fail(a, "invalid saga id \"%s\"", id);
	c = orc_cmd_open(cmd, ORC_CMD_STORE | ORC_CMD_CATALOG);
	if (c != 0)
		return c;
	if (orc_store_begin(cmd->store, &err) != ORC_OK)
		return orc_cmd_fail(cmd, &err);
	if (orc_store_release_saga(cmd->store, cmd->cat, id, reason, &err) !=
		    ORC_OK ||
	    orc_store_commit(cmd->store, &err) != ORC_OK) {
		orc_store_rollback(cmd->store);
		if (err.status == ORC_INVALID)
			orc_error_detail(&err, "The saga stays quarantined.");
		return orc_cmd_fail(cmd, &err);
	}
	if (cmd->json) {
		o = json_pack("{ss ss}", "saga_id", id, "quarantined_for",
			      reason);
		orc_cmd_print_json(o);
		json_decref(o);
	} else {
		printf("%s: released (it was quarantined for: %s)\n", id,
		       reason);
	}
	return 0;
}

int
orc_cmd_quarantine(int argc, char **argv)
{
	struct orc_cmd cmd;
	struct orc_args a;
	int rc;

	if (orc_args_help(argc, argv, quarantine_usage))
		return 0;
	rc = orc_cmd_init(&cmd, "quarantine", &argc, argv, 0);
	if (rc != 0)
		goto done;
	orc_args_init(&a, cmd.name, quarantine_usage, NULL, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "release") == 0) {
		orc_args_init(&a, cmd.name, quarantine_usage, NULL, argc - 1,
			      argv + 1);
		rc = quarantine_release(&cmd, &a);
	} else if (argc < 2) {
		rc = orc_args_fail(&a, "release what? give a saga id");
	} else {
		rc = orc_args_fail(&a, "unknown subcommand \"%s\"", argv[1]);
	}
done:
	orc_cmd_finish(&cmd);
	return rc;
}
