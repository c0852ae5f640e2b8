/*
 * store.h - everything the orchestrator keeps in PostgreSQL.
 *
 * The store is the only module that speaks SQL or includes libpq.  It maps
 * every libpq failure to an orc_status once, from the SQLSTATE: connection
 * loss, serialization failures, deadlocks and a server short of resources
 * are ORC_TRANSIENT (roll back, back off, retry), unique violations
 * ORC_CONFLICT, data errors and program limits (an input malformed or too
 * big for the database) ORC_INVALID, our own SQL or schema wrong ORC_FATAL
 * (orc_store_status_from_sqlstate()).  Queries are parameterised; nothing
 * is ever spliced into SQL text except the schema name, which is quoted as
 * an identifier.
 *
 * A struct orc_store is one connection and is not thread-safe: one per
 * thread or process.
 */
#ifndef ORC_STORE_H
#define ORC_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "migrations.h"

#define ORC_STORE_DEFAULT_SCHEMA "orchestrator"

struct orc_store;

/*
 * Connect to dsn (a libpq connection string or URI; borrowed) and use
 * schema (borrowed; NULL for the default).  On success *out is new, free it
 * with orc_store_destroy().  Fails with ORC_TRANSIENT when the server
 * cannot be reached.
 */
enum orc_status orc_store_connect(const char *dsn, const char *schema,
				  struct orc_store **out, struct orc_error *err);

/* Close the connection and free the store; accepts NULL. */
void orc_store_destroy(struct orc_store *store);

/*
 * The class of a SQLSTATE (five characters, borrowed; NULL when the
 * server gave none, which means the connection is gone): ORC_TRANSIENT,
 * ORC_CONFLICT, ORC_INVALID (this input is malformed or too big for the
 * database: dead-letter it) or ORC_FATAL.  The table is in store.c.
 */
enum orc_status orc_store_status_from_sqlstate(const char *state);

/* libpq's version, e.g. "15.18" (static string). */
const char *orc_store_library_version(void);

/* The schema name in use (borrowed from the store). */
const char *orc_store_schema(const struct orc_store *store);

/* True when the connection is up; a cheap local check, no round trip. */
bool orc_store_connected(const struct orc_store *store);

/*
 * Reconnect after a lost connection (same settings).  ORC_TRANSIENT while
 * the server cannot be reached.
 */
enum orc_status orc_store_reconnect(struct orc_store *store,
				    struct orc_error *err);

/* Round trip "SELECT 1": ORC_OK when the server answers. */
enum orc_status orc_store_ping(struct orc_store *store, struct orc_error *err);

/* What orc_store_migrate() did. */
struct orc_migrate_report {
	int applied;         /* migrations applied by this run */
	int already;         /* migrations found applied before */
	int current_version; /* highest version applied after the run */
	int roles_missing;   /* of migration 006's two roles, on the server */
};

/*
 * Apply the migrations in migs[0..n) (borrowed, ascending versions) that
 * the schema's schema_migrations table does not list yet, each in its own
 * transaction with search_path set to the schema, and record them.  A
 * session advisory lock keyed on the schema makes concurrent runs wait for
 * each other; the second then finds nothing to do.  A migration that was
 * applied with a different text is refused (ORC_INVALID): migrations are
 * immutable once shipped.
 */
enum orc_status orc_store_migrate(struct orc_store *store,
				  const struct orc_migration *migs, size_t n,
				  struct orc_migrate_report *report,
				  struct orc_error *err);

#endif
