/*
 * store.c - the PostgreSQL connection, the one place where libpq errors
 * become orc_status classes, and the statement helpers every store file
 * uses (store_internal.h).
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libpq's connection messages end in a newline: drop it from err. */
static void
trim_newlines(struct orc_error *err)
{
	size_t n;

	if (err == NULL)
		return;
	n = strlen(err->message);
	while (n > 0 && err->message[n - 1] == '\n')
		err->message[--n] = '\0';
}

/*
 * The SQLSTATE classes, each decided (PostgreSQL, Appendix A).  A class
 * is the first two characters; a few codes inside a class differ:
 *
 *   code/class  meaning                              status     why
 *   08xxx       connection exception                 TRANSIENT  reconnect, retry
 *   57P01-03    admin/crash shutdown, cannot connect TRANSIENT  the server comes back
 *   57P04/05    database dropped, idle session t/o   TRANSIENT  reconnect says more
 *   57014       query canceled (statement_timeout)   TRANSIENT  retry later
 *   57xxx       other operator intervention          TRANSIENT
 *   40001       serialization failure                TRANSIENT  retry the transaction
 *   40P01       deadlock detected                    TRANSIENT  retry the transaction
 *   40xxx       other rollbacks                      TRANSIENT
 *   53xxx       insufficient resources (disk, memory,TRANSIENT  they come back; an
 *               connections)                                    input never fixes it
 *   55P03       lock not available                   TRANSIENT  retry
 *   58xxx       system error (I/O)                   TRANSIENT  the server's trouble
 *   25P03/04    idle-in-transaction, transaction     TRANSIENT  reconnect, retry
 *               timeout
 *   23505       unique violation                     CONFLICT   someone else did it
 *   23xxx       other integrity violations           INVALID    this input breaks a rule
 *   22xxx       data exception (22021 not in the     INVALID    this input is malformed
 *               repertoire, 22P02 bad text, 22001                 for the database:
 *               too long, 22P05 \u0000, 2200x ...)              dead-letter it
 *   54xxx       program limit exceeded (too large    INVALID    this input is too big
 *               row, array, statement)                          for the database
 *   42xxx       syntax error or undefined object     FATAL      our SQL or the schema
 *               (a missing table or column)                     is wrong: migrate
 *   3D000/3F000 no such database / schema            FATAL      misconfigured
 *   28xxx       invalid authorization                FATAL      misconfigured
 *   0A000       feature not supported                FATAL      our SQL
 *   25xxx       invalid transaction state            FATAL      our bug
 *   XX000-002   internal error, corruption           FATAL      stop, let a person see
 *   none        no SQLSTATE (no server answer)       TRANSIENT  the connection is gone
 *   anything else                                    FATAL      unknown: do not guess
 *
 * INVALID is for the one event (the caller dead-letters it), never for
 * the process: only a class that a different input would not have hit is
 * TRANSIENT or FATAL.
 */
enum orc_status
orc_store_status_from_sqlstate(const char *state)
{
	static const struct {
		const char *prefix;
		enum orc_status status;
	} map[] = {
		/* exact codes first: they override their class below */
		{"23505", ORC_CONFLICT},  {"40001", ORC_TRANSIENT},
		{"40P01", ORC_TRANSIENT}, {"55P03", ORC_TRANSIENT},
		{"25P03", ORC_TRANSIENT}, {"25P04", ORC_TRANSIENT},
		{"08", ORC_TRANSIENT},
		{"40", ORC_TRANSIENT},    {"53", ORC_TRANSIENT},
		{"57", ORC_TRANSIENT},    {"58", ORC_TRANSIENT},
		{"22", ORC_INVALID},      {"23", ORC_INVALID},
		{"54", ORC_INVALID},      {"42", ORC_FATAL},
		{"XX", ORC_FATAL},
	};

	if (state == NULL || strlen(state) != 5)
		return ORC_TRANSIENT;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strncmp(state, map[i].prefix, strlen(map[i].prefix)) == 0)
			return map[i].status;
	return ORC_FATAL;
}

enum orc_status
orc_store_fail(struct orc_store *store, const PGresult *res, const char *what,
	       struct orc_error *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
			      : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)
				 : NULL;
	enum orc_status status;

	if (msg == NULL)
		msg = PQerrorMessage(store->conn);
	if (PQstatus(store->conn) != CONNECTION_OK)
		status = ORC_TRANSIENT; /* lost connection: retry after reconnect */
	else
		status = orc_store_status_from_sqlstate(state);
	orc_error_set(err, status, "%s: %s", what, msg);
	trim_newlines(err);
	orc_error_detail(err, "sqlstate=%s%s%s", state ? state : "none",
			 detail ? " detail=" : "", detail ? detail : "");
	return status;
}

enum orc_status
orc_store_exec(struct orc_store *store, const char *sql, struct orc_error *err)
{
	PGresult *res = PQexec(store->conn, sql);
	enum orc_status st = ORC_OK;

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		st = orc_store_fail(store, res, sql, err);
	PQclear(res);
	return st;
}

static void
ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

char *
orc_store_sql(const struct orc_store *store, const char *tmpl)
{
	static const char mark[] = "%1$s";
	size_t mlen = sizeof(mark) - 1, slen = strlen(store->schema_quoted);
	size_t n = 0;
	const char *p;
	char *sql, *out;

	for (p = strstr(tmpl, mark); p != NULL; p = strstr(p + mlen, mark))
		n++;
	sql = malloc(strlen(tmpl) + n * slen + 1);
	if (sql == NULL)
		return NULL;
	for (out = sql, p = tmpl; *p != '\0';) {
		if (strncmp(p, mark, mlen) == 0) {
			memcpy(out, store->schema_quoted, slen);
			out += slen;
			p += mlen;
		} else {
			*out++ = *p++;
		}
	}
	*out = '\0';
	return sql;
}

/* The index of tmpl's prepared statement, preparing it; -1 when full. */
static int
prepared(struct orc_store *store, const char *tmpl, int n, PGresult **fail)
{
	char name[16];
	PGresult *res;
	char *sql;
	int i;

	*fail = NULL;
	for (i = 0; i < store->n_prepared; i++)
		if (store->prepared[i] == tmpl)
			return i;
	if (i == ORC_STORE_PREPARED_MAX)
		return -1;
	sql = orc_store_sql(store, tmpl);
	if (sql == NULL)
		return -1;
	snprintf(name, sizeof(name), "orc_%d", i);
	res = PQprepare(store->conn, name, sql, n, NULL);
	free(sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		*fail = res;
		return -1;
	}
	PQclear(res);
	store->prepared[store->n_prepared++] = tmpl;
	return i;
}

enum orc_status
orc_store_query(struct orc_store *store, const char *tmpl, int n,
		const char *const *params, const int *lengths,
		const int *formats, unsigned flags, PGresult **out,
		const char *what, struct orc_error *err)
{
	int binary = (flags & ORC_STORE_BINARY) ? 1 : 0;
	PGresult *res = NULL;
	int i = -1;

	if (out != NULL)
		*out = NULL;
	if (flags & ORC_STORE_PREPARE)
		i = prepared(store, tmpl, n, &res);
	if (res == NULL && i >= 0) {
		char name[16];

		snprintf(name, sizeof(name), "orc_%d", i);
		res = PQexecPrepared(store->conn, name, n, params, lengths,
				     formats, binary);
	} else if (res == NULL) {
		char *sql = orc_store_sql(store, tmpl);

		if (sql == NULL)
			return orc_error_set(err, ORC_FATAL, "out of memory");
		res = PQexecParams(store->conn, sql, n, NULL, params, lengths,
				   formats, binary);
		free(sql);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_COMMAND_OK) {
		enum orc_status st = orc_store_fail(store, res, what, err);

		PQclear(res);
		return st;
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return ORC_OK;
}

/*
 * Send stmts[i]: prepared as statement number idx (>= 0), or as text.
 * Returns libpq's 1 (queued) or 0.
 */
static int
pipeline_send(struct orc_store *store, const struct orc_store_stmt *s, int idx)
{
	char name[16];
	char *sql;
	int ok;

	if (idx >= 0) {
		snprintf(name, sizeof(name), "orc_%d", idx);
		return PQsendQueryPrepared(store->conn, name, s->n, s->params,
					   NULL, NULL, 0);
	}
	sql = orc_store_sql(store, s->tmpl);
	if (sql == NULL)
		return 0;
	ok = PQsendQueryParams(store->conn, sql, s->n, NULL, s->params, NULL,
			       NULL, 0);
	free(sql);
	return ok;
}

enum orc_status
orc_store_pipeline_send(struct orc_store *store,
			const struct orc_store_stmt *stmts, size_t n,
			struct orc_error *err)
{
	int idx[ORC_STORE_PIPELINE_MAX];
	enum orc_status st = ORC_OK;
	size_t sent = 0;
	PGresult *res;

	if (store->n_in_flight > 0)
		return orc_error_set(err, ORC_FATAL,
				     "a pipeline is already in flight");
	if (n > ORC_STORE_PIPELINE_MAX)
		return orc_error_set(err, ORC_FATAL,
				     "%zu statements for one pipeline, more "
				     "than %d", n, ORC_STORE_PIPELINE_MAX);
	/* Parse and plan before the pipeline: PQprepare() waits. */
	for (size_t i = 0; i < n; i++) {
		idx[i] = -1;
		if (!stmts[i].prepare)
			continue;
		idx[i] = prepared(store, stmts[i].tmpl, stmts[i].n, &res);
		if (res != NULL) {
			st = orc_store_fail(store, res, stmts[i].what, err);
			PQclear(res);
			return st;
		}
	}
	if (PQenterPipelineMode(store->conn) != 1)
		return orc_store_fail(store, NULL, "entering pipeline mode", err);
	for (; sent < n; sent++) {
		if (pipeline_send(store, &stmts[sent], idx[sent]) != 1) {
			st = orc_store_fail(store, NULL, stmts[sent].what, err);
			break;
		}
		store->in_flight[sent] = stmts[sent].what;
	}
	/*
	 * The sync flushes the whole pipeline to the server (the connection
	 * blocks while it sends), so the statements' parameters are no
	 * longer needed when this returns.
	 */
	if (PQpipelineSync(store->conn) != 1 && st == ORC_OK)
		st = orc_store_fail(store, NULL, "ending a pipeline", err);
	store->n_in_flight = sent;
	if (st != ORC_OK) { /* st says why; the results go unread */
		struct orc_error ignored;

		orc_store_pipeline_wait(store, &ignored);
	}
	return st;
}

enum orc_status
orc_store_pipeline_wait(struct orc_store *store, struct orc_error *err)
{
	enum orc_status st = ORC_OK;
	size_t sent = store->n_in_flight;
	PGresult *res;

	store->n_in_flight = 0;
	/*
	 * Each statement's result, then NULL; one that follows a failure is
	 * PGRES_PIPELINE_ABORTED; then the sync's.  A lost connection ends
	 * it early: the caller reconnects, which starts a new one anyway.
	 */
	for (size_t i = 0; i < sent; i++) {
		ExecStatusType rs;

		res = PQgetResult(store->conn);
		if (res == NULL || PQstatus(store->conn) == CONNECTION_BAD) {
			if (st == ORC_OK)
				st = orc_store_fail(store, res,
						    store->in_flight[i], err);
			PQclear(res);
			return st;
		}
		rs = PQresultStatus(res);
		if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK &&
		    rs != PGRES_PIPELINE_ABORTED && st == ORC_OK)
			st = orc_store_fail(store, res, store->in_flight[i],
					    err);
		PQclear(res);
		while ((res = PQgetResult(store->conn)) != NULL)
			PQclear(res);
	}
	res = PQgetResult(store->conn);
	if (PQresultStatus(res) != PGRES_PIPELINE_SYNC && st == ORC_OK)
		st = orc_store_fail(store, res, "ending a pipeline", err);
	PQclear(res);
	if (PQexitPipelineMode(store->conn) != 1 && st == ORC_OK)
		st = orc_store_fail(store, NULL, "leaving pipeline mode", err);
	return st;
}

enum orc_status
orc_store_pipeline(struct orc_store *store, const struct orc_store_stmt *stmts,
		   size_t n, struct orc_error *err)
{
	enum orc_status st = orc_store_pipeline_send(store, stmts, n, err);

	return st == ORC_OK ? orc_store_pipeline_wait(store, err) : st;
}

enum orc_status
orc_store_run(struct orc_store *store, const char *tmpl, int n,
	      const char *const *params, PGresult **out, const char *what,
	      struct orc_error *err)
{
	return orc_store_query(store, tmpl, n, params, NULL, NULL,
			       ORC_STORE_PREPARE, out, what, err);
}

const char *
orc_store_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

enum orc_status
orc_store_json_failed(const json_error_t *jerr, const char *what,
		      struct orc_error *err)
{
	if (json_error_code(jerr) == json_error_out_of_memory)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	return orc_error_set(err, ORC_INVALID, "%s is not JSON: %s", what,
			     jerr->text);
}

enum orc_status
orc_store_json(const PGresult *res, int row, int col, json_t **out,
	       const char *what, struct orc_error *err)
{
	json_error_t jerr;

	*out = NULL;
	if (PQgetisnull(res, row, col))
		return ORC_OK;
	*out = json_loads(PQgetvalue(res, row, col), JSON_DECODE_ANY, &jerr);
	return *out != NULL ? ORC_OK : orc_store_json_failed(&jerr, what, err);
}

int64_t
orc_store_int(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int64_t
orc_store_age_ms(const PGresult *res, int row, int col)
{
	int64_t ms = orc_store_int(res, row, col);

	return ms < 0 ? 0 : ms;
}

enum orc_status
orc_store_connect(const char *dsn, const char *schema, struct orc_store **out,
		  struct orc_error *err)
{
	struct orc_store *store;
	enum orc_status st;
	char *quoted;

	*out = NULL;
	store = calloc(1, sizeof(*store));
	if (store == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	store->schema = strdup(schema ? schema : ORC_STORE_DEFAULT_SCHEMA);
	if (store->schema == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto fail;
	}
	store->conn = PQconnectdb(dsn ? dsn : "");
	if (PQstatus(store->conn) != CONNECTION_OK) {
		st = orc_error_set(err, ORC_TRANSIENT,
				   "cannot connect to postgresql: %s",
				   PQerrorMessage(store->conn));
		trim_newlines(err);
		goto fail;
	}
	/* NOTICEs ("already exists, skipping") are not ours to print */
	PQsetNoticeProcessor(store->conn, ignore_notice, NULL);
	quoted = PQescapeIdentifier(store->conn, store->schema,
				    strlen(store->schema));
	if (quoted == NULL) {
		st = orc_error_set(err, ORC_INVALID, "invalid schema name \"%s\"",
				   store->schema);
		goto fail;
	}
	store->schema_quoted = strdup(quoted);
	PQfreemem(quoted);
	if (store->schema_quoted == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto fail;
	}
	*out = store;
	return ORC_OK;
fail:
	orc_store_destroy(store);
	return st;
}

void
orc_store_destroy(struct orc_store *store)
{
	if (store == NULL)
		return;
	PQfinish(store->conn);
	for (int i = 0; i < ORC_SCRATCH_COUNT; i++)
		orc_pgarray_finish(&store->scratch[i]);
	free(store->lock_missing);
	free(store->schema);
	free(store->schema_quoted);
	free(store);
}

struct orc_pgarray *
orc_store_scratch(struct orc_store *store, enum orc_store_scratch slot)
{
	orc_pgarray_reset(&store->scratch[slot]);
	return &store->scratch[slot];
}

const char *
orc_store_library_version(void)
{
	static char buf[32];
	int v = PQlibVersion();

	snprintf(buf, sizeof(buf), "%d.%d", v / 10000, v % 10000);
	return buf;
}

const char *
orc_store_schema(const struct orc_store *store)
{
	return store->schema;
}

bool
orc_store_connected(const struct orc_store *store)
{
	return PQstatus(store->conn) == CONNECTION_OK;
}

enum orc_status
orc_store_reconnect(struct orc_store *store, struct orc_error *err)
{
	store->n_prepared = 0;
	store->n_in_flight = 0;
	PQreset(store->conn);
	if (PQstatus(store->conn) != CONNECTION_OK) {
		orc_error_set(err, ORC_TRANSIENT, "cannot reconnect to postgresql: %s",
			      PQerrorMessage(store->conn));
		trim_newlines(err);
		return ORC_TRANSIENT;
	}
	return ORC_OK;
}

enum orc_status
orc_store_ping(struct orc_store *store, struct orc_error *err)
{
	return orc_store_exec(store, "SELECT 1", err);
}
