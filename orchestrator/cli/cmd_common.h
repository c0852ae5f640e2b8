/*
 * cmd_common.h - what the operator commands share: settings, the database
 * connection, the definitions, and printing errors once.
 */
#ifndef ORC_CMD_COMMON_H
#define ORC_CMD_COMMON_H

#include <stdbool.h>

#include "apply.h"
#include "catalog.h"
#include "clock.h"
#include "config.h"
#include "error.h"
#include "store.h"

enum {
	ORC_CMD_STORE = 1 << 0,   /* connect to PostgreSQL */
	ORC_CMD_CATALOG = 1 << 1, /* load the stored definitions */
	ORC_CMD_APPLY = 1 << 2,   /* an apply context (implies both) */
};

/* Everything is owned by the context; orc_cmd_finish() frees it. */
struct orc_cmd {
	const char *name; /* "cancel", for messages */
	struct orc_config cfg;
	struct orc_store *store;
	struct orc_catalog *cat;
	struct orc_apply *ap;
	bool json; /* --json was given */
};

/*
 * Parse settings and --json out of argv (the rest stays, in order), then
 * open what needs asks for.  Returns 0, or the exit status to return (the
 * error has been printed).
 */
int orc_cmd_init(struct orc_cmd *cmd, const char *name, int *argc, char **argv,
		 unsigned needs);
/* Open what needs asks for and is not open yet; 0 or an exit status. */
int orc_cmd_open(struct orc_cmd *cmd, unsigned needs);

void orc_cmd_finish(struct orc_cmd *cmd);

/* Print "orchestrator NAME: message" (and DETAIL) on stderr; returns 1. */
int orc_cmd_fail(const struct orc_cmd *cmd, const struct orc_error *err);

#endif
