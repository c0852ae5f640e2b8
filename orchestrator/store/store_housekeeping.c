/*
 * store_housekeeping.c - the bounded deletes of housekeeping and purge.
 *
 * A saga batch is two statements in one transaction.  The first locks up
 * to limit due sagas, taking each definition name with its retention
 * (walking sagas_finished_idx per name, oldest first, SKIP LOCKED), and
 * returns their ids.  The second, sent with COMMIT in one round trip,
 * writes their saga.archived outbox rows (when archiving) and deletes
 * them.  It takes its snapshot after the locks were granted, so no
 * transaction that changed one of these sagas is still running or can
 * start before the commit (the apply path locks a saga before it writes
 * its rows): what is archived is exactly what is deleted.
 *
 * The statement trigger of 007 deletes the steps and history of the
 * deleted sagas in the same statement.  Inbox and dead-letter expiry are
 * one statement each.
 */
#include "store_housekeeping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgarray.h"
#include "store_internal.h"

/* What the partial index sagas_finished_idx holds (migration 010). */
#define FINAL_STATUSES                                                         \
	"('completed', 'compensated', 'failed', 'cancelled', 'timed_out')"

/* The parameters both saga statements share. */
enum {
	P_NAMES,     /* text[]: names with a retention of their own */
	P_RETENTION, /* bigint[]: their retention, ms */
	P_DEFAULT,   /* bigint: every other stored name's, ms */
	P_STATUSES,  /* text[] */
	P_ONLY,	     /* text: one definition, or NULL */
	P_LIMIT,     /* integer */
	P_COUNT
};

/*
 * The definition names with their retention, as r(name, ms), forever (0)
 * left out: every stored name (saga_definitions; sagas reference it), so
 * that the sagas of a definition this process could not load are deleted
 * too, after the default.
 */
#define RETENTIONS                                                             \
	"(SELECT n.name, coalesce(o.ms, $3::bigint) AS ms"                     \
	" FROM (SELECT DISTINCT name FROM %1$s.saga_definitions"              \
	"  WHERE $5::text IS NULL OR name = $5::text) n"                       \
	" LEFT JOIN unnest($1::text[], $2::bigint[]) AS o(name, ms)"           \
	" ON o.name = n.name) r"

#define DUE_WHERE                                                              \
	" s.definition_name = r.name AND s.status IN " FINAL_STATUSES         \
	" AND s.status = ANY($4::text[])"                                      \
	" AND s.finished_at < now() - r.ms * interval '1 millisecond'"

static const char lock_sql[] =
	"SELECT d.id FROM " RETENTIONS " CROSS JOIN LATERAL"
	" (SELECT s.id FROM %1$s.sagas s WHERE" DUE_WHERE
	"  ORDER BY s.finished_at LIMIT $6::integer FOR UPDATE SKIP LOCKED) d"
	" WHERE r.ms > 0 LIMIT $6::integer";

static const char count_sql[] =
	"SELECT count(*) FROM " RETENTIONS " JOIN %1$s.sagas s ON" DUE_WHERE
	" WHERE r.ms > 0 AND $6::integer IS NOT NULL";

static const char delete_sql[] =
	"WITH archived AS (INSERT INTO %1$s.outbox (saga_id, lane, message_id,"
	" topic, type, source, payload)"
	" SELECT s.id, hashtext(s.id::text) & 15, s.id::text || '/archived',"
	" $2::text, 'saga.archived', '/orchestrator/' || s.definition_name,"
	" %1$s.saga_archive(s)::text"
	" FROM %1$s.sagas s WHERE s.id = ANY($1::uuid[]) AND $2::text <> ''"
	" ORDER BY s.finished_at, s.id)"
	" DELETE FROM %1$s.sagas WHERE id = ANY($1::uuid[])";

static const char *const final_statuses[] = {
	"completed", "compensated", "failed", "cancelled", "timed_out",
};

/* The parameters of q, built in arrs[0..3) (initialised here). */
static enum orc_status
saga_params(const struct orc_housekeeping_sagas *q, struct orc_pgarray *arrs,
	    char *dflt, char *limit, size_t len, const char **params,
	    struct orc_error *err)
{
	for (int i = 0; i < 3; i++)
		orc_pgarray_init(&arrs[i]);
	orc_pgarray_texts(&arrs[0], q->names, q->n);
	for (size_t i = 0; i < q->n; i++)
		orc_pgarray_int(&arrs[1], q->retention_ms[i]);
	if (q->status != NULL)
		orc_pgarray_text(&arrs[2], q->status);
	else
		orc_pgarray_texts(&arrs[2], final_statuses,
				  sizeof(final_statuses) /
					  sizeof(final_statuses[0]));
	snprintf(dflt, len, "%lld", (long long)q->default_ms);
	snprintf(limit, len, "%d", q->limit);
	params[P_NAMES] = orc_pgarray_done(&arrs[0]);
	params[P_RETENTION] = orc_pgarray_done(&arrs[1]);
	params[P_DEFAULT] = dflt;
	params[P_STATUSES] = orc_pgarray_done(&arrs[2]);
	params[P_ONLY] = q->definition;
	params[P_LIMIT] = limit;
	if (params[P_NAMES] == NULL || params[P_RETENTION] == NULL ||
	    params[P_STATUSES] == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	return ORC_OK;
}

static void
finish_arrays(struct orc_pgarray *arrs, int n)
{
	for (int i = 0; i < n; i++)
		orc_pgarray_finish(&arrs[i]);
}

enum orc_status
orc_store_housekeeping_sagas(struct orc_store *store,
			     const struct orc_housekeeping_sagas *q,
			     size_t *deleted, size_t *archived,
			     struct orc_error *err)
{
	struct orc_pgarray arrs[4];
	char dflt[24], limit[24];
	const char *params[P_COUNT], *del_params[2];
	bool archive = q->archive_topic != NULL && q->archive_topic[0] != '\0';
	struct orc_store_stmt stmts[2];
	PGresult *res = NULL;
	enum orc_status st;
	int n;

	*deleted = 0;
	*archived = 0;
	orc_pgarray_init(&arrs[3]);
	st = saga_params(q, arrs, dflt, limit, sizeof(dflt), params, err);
	if (st != ORC_OK)
		goto done;
	st = orc_store_exec(store, "BEGIN", err);
	if (st != ORC_OK)
		goto done;
	st = orc_store_run(store, lock_sql, P_COUNT, params, &res,
			   "locking finished sagas", err);
	if (st != ORC_OK)
		goto rollback;
	n = PQntuples(res);
	if (n == 0) {
		PQclear(res);
		st = orc_store_exec(store, "COMMIT", err);
		goto done;
	}
	for (int i = 0; i < n; i++)
		orc_pgarray_text(&arrs[3], orc_store_text(res, i, 0));
	PQclear(res);
	del_params[0] = orc_pgarray_done(&arrs[3]);
	del_params[1] = archive ? q->archive_topic : "";
	if (del_params[0] == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto rollback;
	}
	stmts[0] = (struct orc_store_stmt){
		.tmpl = delete_sql, .n = 2, .params = del_params,
		.prepare = true, .what = "deleting finished sagas"};
	stmts[1] = (struct orc_store_stmt){
		.tmpl = "COMMIT", .what = "committing"};
	st = orc_store_pipeline(store, stmts, 2, err);
	if (st != ORC_OK)
		goto rollback;
	*deleted = (size_t)n;
	*archived = archive ? (size_t)n : 0;
	goto done;
rollback:
	orc_store_exec(store, "ROLLBACK", NULL);
done:
	finish_arrays(arrs, 4);
	return st;
}

enum orc_status
orc_store_housekeeping_count_sagas(struct orc_store *store,
				   const struct orc_housekeeping_sagas *q,
				   int64_t *due, struct orc_error *err)
{
	struct orc_pgarray arrs[3];
	char dflt[24], limit[24];
	const char *params[P_COUNT];
	PGresult *res;
	enum orc_status st;

	*due = 0;
	st = saga_params(q, arrs, dflt, limit, sizeof(dflt), params, err);
	if (st == ORC_OK)
		st = orc_store_run(store, count_sql, P_COUNT, params, &res,
				   "counting finished sagas", err);
	finish_arrays(arrs, 3);
	if (st != ORC_OK)
		return st;
	*due = orc_store_int(res, 0, 0);
	PQclear(res);
	return ORC_OK;
}

/* Run an expiry DELETE with (ms, limit); *deleted from its command tag. */
static enum orc_status
expire(struct orc_store *store, const char *tmpl, int64_t ms, int limit,
       size_t *deleted, const char *what, struct orc_error *err)
{
	char ms_text[24], limit_text[24];
	const char *params[2] = {ms_text, limit_text};
	PGresult *res;
	enum orc_status st;

	*deleted = 0;
	if (ms <= 0)
		return ORC_OK; /* kept forever */
	snprintf(ms_text, sizeof(ms_text), "%lld", (long long)ms);
	snprintf(limit_text, sizeof(limit_text), "%d", limit);
	st = orc_store_run(store, tmpl, 2, params, &res, what, err);
	if (st != ORC_OK)
		return st;
	*deleted = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return ORC_OK;
}

enum orc_status
orc_store_housekeeping_inbox(struct orc_store *store, int64_t ttl_ms,
			     int limit, size_t *deleted, struct orc_error *err)
{
	return expire(store,
		      "DELETE FROM %1$s.inbox WHERE (consumer, message_id) IN"
		      " (SELECT consumer, message_id FROM %1$s.inbox"
		      "  WHERE received_at < now() - $1::bigint"
		      "  * interval '1 millisecond'"
		      "  ORDER BY received_at LIMIT $2::integer"
		      "  FOR UPDATE SKIP LOCKED)",
		      ttl_ms, limit, deleted, "expiring inbox ids", err);
}

enum orc_status
orc_store_housekeeping_dead_letters(struct orc_store *store, int64_t keep_ms,
				    int limit, size_t *deleted,
				    struct orc_error *err)
{
	return expire(store,
		      "DELETE FROM %1$s.dead_letters WHERE id IN"
		      " (SELECT id FROM %1$s.dead_letters"
		      "  WHERE created_at < now() - $1::bigint"
		      "  * interval '1 millisecond'"
		      "  ORDER BY created_at LIMIT $2::integer"
		      "  FOR UPDATE SKIP LOCKED)",
		      keep_ms, limit, deleted, "expiring dead letters", err);
}
