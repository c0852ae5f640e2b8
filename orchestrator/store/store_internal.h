/*
 * store_internal.h - what the store's source files share; not a public
 * contract.  Only store*.c include it, and with it libpq.
 *
 * store.c implements all of it: the connection, the one mapping of libpq
 * failures to orc_status, statements (schema expansion, the per-connection
 * cache of prepared statements), transactions, reading values out of a
 * result, and the hot path's reusable array parameters.  The other files hold the SQL of one subject each:
 * store_definitions.c, store_inbox.c (inbox ids, dead letters),
 * store_saga.c (sagas and steps read under lock, a batch written back),
 * store_outbox.c (the relay), store_admin.c (operator reads),
 * store_metrics.c (gauges), store_migrate.c (schema migrations).
 */
#ifndef ORC_STORE_INTERNAL_H
#define ORC_STORE_INTERNAL_H

#include <stdint.h>

#include <libpq-fe.h>

#include "catalog.h"
#include "pgarray.h"
#include "store.h"

/* The slots of orc_store_scratch(), one per array of each hot read. */
enum orc_store_scratch {
	ORC_SCRATCH_INBOX_IDS, /* orc_store_inbox_claim() */
	ORC_SCRATCH_LOCK_IDS,  /* orc_store_lock_sagas(): ids, names, keys */
	ORC_SCRATCH_LOCK_NAMES,
	ORC_SCRATCH_LOCK_KEYS,
	ORC_SCRATCH_STEP_IDS, /* the steps of the sagas it read */
	ORC_SCRATCH_COUNT
};

#define ORC_STORE_PREPARED_MAX 32
#define ORC_STORE_PIPELINE_MAX 8 /* statements in one pipeline */

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
	/* what each statement of the pipeline in flight does (static) */
	const char *in_flight[ORC_STORE_PIPELINE_MAX];
	size_t n_in_flight;
	/* the hot path's array parameters (orc_store_scratch()) */
	struct orc_pgarray scratch[ORC_SCRATCH_COUNT];
	/* the ids orc_store_lock_sagas() asks for again (borrowed strings) */
	const char **lock_missing;
	size_t cap_lock_missing;
};

/*
 * An array parameter of one of the reads every batch makes, emptied and
 * kept by the store from batch to batch: once warm, building it allocates
 * nothing (grown afresh by realloc each time, these arrays were a third
 * of the orchestrator's time in malloc).  The store owns it; it holds its
 * contents until the next orc_store_scratch() of the same slot, so calls
 * that nest use different slots.
 */
struct orc_pgarray *orc_store_scratch(struct orc_store *store,
				      enum orc_store_scratch slot);

/*
 * Result columns named once.  A statement's select list is written as a
 * table, X for its first column and Y for every other one:
 *
 *	#define FOO_COLUMNS(X, Y) X(FOO_ID, "id") Y(FOO_NAME, "name")
 *	enum foo_col { ORC_STORE_COLUMN_ENUM(FOO_COLUMNS) FOO_NCOLS };
 *	"SELECT " ORC_STORE_SELECT_LIST(FOO_COLUMNS) " FROM foo"
 *
 * so the enum numbers exactly the columns the text selects, in its order,
 * and a column added to the table cannot shift a number silently.
 */
#define ORC_STORE_COLUMN_FIRST(name, sql) sql
#define ORC_STORE_COLUMN_NEXT(name, sql) ", " sql
#define ORC_STORE_COLUMN_NAME(name, sql) name,
#define ORC_STORE_SELECT_LIST(COLUMNS)                                         \
	COLUMNS(ORC_STORE_COLUMN_FIRST, ORC_STORE_COLUMN_NEXT)
#define ORC_STORE_COLUMN_ENUM(COLUMNS)                                         \
	COLUMNS(ORC_STORE_COLUMN_NAME, ORC_STORE_COLUMN_NAME)

/*
 * Times cross the wire as int64 milliseconds since the epoch, 0 for NULL:
 * ORC_STORE_MS(col) reads a timestamptz column so, ORC_STORE_TS(arg) and
 * ORC_STORE_TS_SET(arg) (never NULL) turn a bigint parameter back.  Both
 * compute in double precision, not numeric: since PostgreSQL 14 extract()
 * answers numeric, and a batch converts several times per step.  The
 * epoch in seconds as a double is off by well under a microsecond, so a
 * time written from milliseconds reads back as the same milliseconds.
 */
#define ORC_STORE_MS(col)                                                      \
	"coalesce((date_part('epoch', " col ") * 1000)::bigint, 0)"
#define ORC_STORE_TS_SET(arg) "to_timestamp(" arg " / 1000::float8)"
#define ORC_STORE_TS(arg)                                                      \
	"CASE WHEN " arg " = 0 THEN NULL ELSE " ORC_STORE_TS_SET(arg) " END"

/*
 * Array parameters of a set-based write, named once: a table of
 * X(enum name, parameter number, element type, name in the statement)
 * rows, X for the first and Y for every other one.  ORC_STORE_UNNEST()
 * and ORC_STORE_UNNEST_AS() turn it into "unnest($1::uuid[], ...)" and
 * its column names; ORC_STORE_PARAM_CHECK checks the numbers against the
 * enum ORC_STORE_PARAM_NAME makes, at compile time.
 */
#define ORC_STORE_PARAM_NAME(name, n, type, as) name,
#define ORC_STORE_PARAM_CHECK(name, n, type, as)                               \
	_Static_assert(name + 1 == n, #name " is not parameter $" #n);
#define ORC_STORE_UNNEST_FIRST(name, n, type, as) "$" #n "::" #type "[]"
#define ORC_STORE_UNNEST_NEXT(name, n, type, as) ", $" #n "::" #type "[]"
#define ORC_STORE_AS_FIRST(name, n, type, as) #as
#define ORC_STORE_AS_NEXT(name, n, type, as) ", " #as
#define ORC_STORE_UNNEST(PARAMS)                                               \
	"unnest(" PARAMS(ORC_STORE_UNNEST_FIRST, ORC_STORE_UNNEST_NEXT) ")"
#define ORC_STORE_UNNEST_AS(PARAMS)                                            \
	PARAMS(ORC_STORE_AS_FIRST, ORC_STORE_AS_NEXT)

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

/* How orc_store_query() runs a statement. */
enum orc_store_query_flags {
	/*
	 * Prepare it once per connection and keep it, keyed by the address
	 * of tmpl, which must then be a string literal (or a static array).
	 */
	ORC_STORE_PREPARE = 1 << 0,
	/* Answer every column in binary (bytea as its bytes). */
	ORC_STORE_BINARY = 1 << 1,
};

/*
 * Run the statement tmpl (see orc_store_sql) with params[0..n) (text, or
 * binary where formats[i] is 1, with lengths; both arrays may be NULL),
 * as flags (enum orc_store_query_flags) say.  On ORC_OK, *out (when out
 * is not NULL) is the result to PQclear(); otherwise the mapped failure,
 * with "<what>: <server message>" in err.
 */
enum orc_status orc_store_query(struct orc_store *store, const char *tmpl,
				int n, const char *const *params,
				const int *lengths, const int *formats,
				unsigned flags, PGresult **out,
				const char *what, struct orc_error *err);

/*
 * The common case of orc_store_query(): text parameters, prepared once
 * per connection (tmpl a string literal).
 */
enum orc_status orc_store_run(struct orc_store *store, const char *tmpl,
			      int n, const char *const *params, PGresult **out,
			      const char *what, struct orc_error *err);

/* One statement of orc_store_pipeline(); every pointer borrowed. */
struct orc_store_stmt {
	const char *tmpl; /* as for orc_store_run(); a string literal */
	int n;		  /* parameters, text */
	const char *const *params;
	bool prepare; /* prepared once per connection, as orc_store_run() */
	const char *what;
};

/*
 * Run stmts[0..n) (at most ORC_STORE_PIPELINE_MAX, no result rows wanted)
 * in one round trip: libpq pipeline mode, every statement sent, then one
 * sync, then every result read.  A statement after a failed one is not
 * run (the server skips it).  Returns ORC_OK or the first failure, mapped
 * as orc_store_query() maps it, with its statement's what.
 */
enum orc_status orc_store_pipeline(struct orc_store *store,
				   const struct orc_store_stmt *stmts, size_t n,
				   struct orc_error *err);

/*
 * orc_store_pipeline() in two halves: _send() sends stmts[0..n) and the
 * sync and returns without reading a result (the parameters may be freed
 * then); _wait() reads them, with the same answer orc_store_pipeline()
 * gives.  Between the two the connection takes no other statement (one
 * pipeline in flight at a time).  A failed _send() has read what there
 * was to read: no _wait() follows it.
 */
enum orc_status orc_store_pipeline_send(struct orc_store *store,
					const struct orc_store_stmt *stmts,
					size_t n, struct orc_error *err);
enum orc_status orc_store_pipeline_wait(struct orc_store *store,
					struct orc_error *err);

/*
 * Run a command with no result rows (BEGIN, COMMIT, SET ...).  Returns
 * ORC_OK or the mapped failure.
 */
enum orc_status orc_store_exec(struct orc_store *store, const char *sql,
			       struct orc_error *err);

/* A text value of res (borrowed from it), NULL for SQL NULL. */
const char *orc_store_text(const PGresult *res, int row, int col);

/* A number value of res; 0 for SQL NULL. */
int64_t orc_store_int(const PGresult *res, int row, int col);

/*
 * JSON column col of row (any JSON value) parsed into *out: a new
 * reference, NULL for SQL NULL.  A value that is not JSON is ORC_INVALID
 * ("<what> is not JSON: ..."; the row's fault, so the caller quarantines
 * what it belongs to), out of memory ORC_FATAL.  orc_store_json_failed()
 * is that mapping for a json_loads() the caller made.
 */
enum orc_status orc_store_json(const PGresult *res, int row, int col,
			       json_t **out, const char *what,
			       struct orc_error *err);
enum orc_status orc_store_json_failed(const json_error_t *jerr,
				      const char *what, struct orc_error *err);

/*
 * An age in milliseconds (now() minus a stored time): a negative one,
 * from clock skew between the writers, reads as 0.
 */
int64_t orc_store_age_ms(const PGresult *res, int row, int col);

/*
 * Read definition name@version from saga_definitions and add it to cat
 * (store_definitions.c).  ORC_NOT_FOUND when it is not stored,
 * ORC_INVALID when its body no longer loads.
 */
enum orc_status orc_store_fetch_definition(struct orc_store *store,
					   struct orc_catalog *cat,
					   const char *name, int version,
					   struct orc_error *err);

#endif
