/*
 * cmd_common.h - what the operator commands share: settings, the database
 * connection, the definitions, printing errors once, and printing and
 * reading the store's JSON.
 *
 * orc_cmd_init() takes the settings flags out of argv before a command
 * reads its own arguments (args.h): the two sets of names never meet.
 */
#ifndef ORC_CMD_COMMON_H
#define ORC_CMD_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

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

/* Room for a topic name (Kafka allows 249 bytes) and its NUL. */
#define ORC_CMD_TOPIC_MAX 256

/*
 * The topic of the lifecycle events: the lifecycle_topic setting (borrowed
 * from cmd), "<group>.lifecycle" when it is unset (written into buf, size
 * len), NULL when it is empty (no lifecycle events).
 */
const char *orc_cmd_lifecycle_topic(const struct orc_cmd *cmd, char *buf,
				    size_t len);

/* Print "orchestrator NAME: message" (and DETAIL) on stderr; returns 1. */
int orc_cmd_fail(const struct orc_cmd *cmd, const struct orc_error *err);

/*
 * The same, for a failure that may be the operator's input: returns 2
 * (usage) when err says ORC_INVALID (a malformed id, status...), else 1.
 */
int orc_cmd_fail_input(const struct orc_cmd *cmd, const struct orc_error *err);

/*
 * Who is acting, for the audit of an operator action: by when it is not
 * NULL (the --by flag), else "<user>@<host>" of this process, into buf
 * (size len).  Returns by or buf.
 */
const char *orc_cmd_who(const char *by, char *buf, size_t len);

/* Print v (borrowed) on stdout as --json does: indented, one newline. */
void orc_cmd_print_json(const json_t *v);

/*
 * A member of a JSON object (borrowed): its string (borrowed from obj;
 * NULL when absent or not a string), or its integer (0 when absent).
 */
const char *orc_cmd_str(const json_t *obj, const char *key);
long long orc_cmd_int(const json_t *obj, const char *key);

#endif
