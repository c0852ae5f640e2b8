/*
 * store_internal.h - what the store's source files share; not a public
 * contract.  Only store*.c include it, and with it libpq.
 */
#ifndef ORC_STORE_INTERNAL_H
#define ORC_STORE_INTERNAL_H

#include <libpq-fe.h>

#include "store.h"

#define ORC_STORE_PREPARED_MAX 32

struct orc_store {
	PGconn *conn;
	char *schema;        /* unquoted name */
	char *schema_quoted; /* as an SQL identifier, for search_path */
	/*
	 * Statements prepared on this connection, keyed by the address of
	 * their (static) SQL template; statement i is named "orc_<i>".
	 * Forgotten on reconnect, since the server forgets them too.
	 */
	const char *prepared[ORC_STORE_PREPARED_MAX];
	int n_prepared;
};

/*
 * Map a failed result (or a NULL one, after a lost connection) to a status
 * and fill err with "<what>: <server message>", the SQLSTATE and detail.
 * Does not clear res.
 */
enum orc_status orc_store_fail(struct orc_store *store, const PGresult *res,
			       const char *what, struct orc_error *err);

/*
 * Run a command with no result rows (BEGIN, COMMIT, SET ...).  Returns
 * ORC_OK or the mapped failure.
 */
enum orc_status orc_store_exec(struct orc_store *store, const char *sql,
			       struct orc_error *err);

#endif
