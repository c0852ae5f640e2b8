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
 * tmpl with every "%1$s" replaced by the quoted schema name: new (free()),
 * or NULL when out of memory.  Statement texts name the schema that way.
 */
char *orc_store_sql(const struct orc_store *store, const char *tmpl);

/*
 * Run the statement tmpl (see orc_store_sql) with params[0..n) (text, or
 * binary where formats[i] is 1, with lengths; both arrays may be NULL).
 * With prepare, it is prepared once per connection and kept, keyed by the
 * address of tmpl, which must then be a string literal.  On ORC_OK, *out
 * (when out is not NULL) is the result to PQclear(); otherwise the mapped
 * failure, with "<what>: <server message>" in err.
 */
enum orc_status orc_store_query(struct orc_store *store, const char *tmpl,
				int n, const char *const *params,
				const int *lengths, const int *formats,
				bool prepare, PGresult **out, const char *what,
				struct orc_error *err);

/*
 * Run a command with no result rows (BEGIN, COMMIT, SET ...).  Returns
 * ORC_OK or the mapped failure.
 */
enum orc_status orc_store_exec(struct orc_store *store, const char *sql,
			       struct orc_error *err);

#endif
