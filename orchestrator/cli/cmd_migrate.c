/*
 * cmd_migrate.c - `orchestrator migrate`: apply the embedded migrations.
 */
#include <stdio.h>

#include "args.h"
#include "commands.h"
#include "config.h"
#include "log.h"
#include "store.h"

static const char migrate_usage[] =
	"usage: orchestrator migrate [--dsn DSN] [--pg-schema NAME]\n"
	"Creates or upgrades the schema; safe to run again and concurrently.\n";

int
orc_cmd_migrate(int argc, char **argv)
{
	struct orc_config cfg;
	struct orc_error err = {0};
	struct orc_store *store = NULL;
	struct orc_migrate_report rep;
	int rc = 1;

	if (orc_args_help(argc, argv, migrate_usage))
		return 0;
	if (orc_config_init(&cfg, &err) != ORC_OK) {
		fprintf(stderr, "orchestrator migrate: %s\n", err.message);
		return 1;
	}
	if (orc_config_from_args(&cfg, &argc, argv, &err) != ORC_OK) {
		fprintf(stderr, "orchestrator migrate: %s\n", err.message);
		rc = 2;
		goto done;
	}
	if (orc_args_none("migrate", migrate_usage, argc, argv) != 0) {
		rc = 2;
		goto done;
	}
	if (orc_store_connect(orc_config_str(&cfg, ORC_CFG_PG_DSN),
			      orc_config_str(&cfg, ORC_CFG_PG_SCHEMA), &store,
			      &err) != ORC_OK ||
	    orc_store_migrate(store, orc_migrations, orc_migrations_count, &rep,
			      &err) != ORC_OK) {
		fprintf(stderr, "orchestrator migrate: %s\n", err.message);
		if (err.detail[0] != '\0')
			fprintf(stderr, "DETAIL: %s\n", err.detail);
		goto done;
	}
	printf("schema \"%s\" at version %d: %d migration%s applied, %d already "
	       "present\n",
	       orc_config_str(&cfg, ORC_CFG_PG_SCHEMA), rep.current_version,
	       rep.applied, rep.applied == 1 ? "" : "s", rep.already);
	if (rep.roles_missing > 0)
		fprintf(stderr,
			"orchestrator migrate: the roles orchestrator_runtime and "
			"orchestrator_readonly do not both exist, and this user "
			"may not create roles: their grants were skipped.\n"
			"HINT: an administrator creates them, then the owner "
			"runs deploy/sql/roles.sql (README, \"Security\").\n");
	rc = 0;
done:
	orc_store_destroy(store);
	orc_config_finish(&cfg);
	return rc;
}
