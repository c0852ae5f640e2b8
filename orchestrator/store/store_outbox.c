/*
 * store_outbox.c - the SQL of the relay: lane locks, fetch, delete,
 * LISTEN and backlog.
 *
 * Lane locks are session advisory locks in the two-key space,
 * (hashtext('orchestrator.outbox.' || schema), lane), so two schemas in one
 * database have separate lanes and the one-key lock of migrations never
 * collides with them.  A batch's strings stay in its PGresult: the rows
 * point into it, and one PQclear frees them all.  Every statement is
 * parameterised and prepared once per connection; only the quoted schema
 * name is spliced into the text.  The fetch reads each lane from its floor
 * and the horizon statement gives what proves a floor may rise; the
 * argument is in store_outbox.h, "Lane floors".
 */
#include "store_outbox.h"

#include "pgarray.h"
#include "store_internal.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LANE_KEY "hashtext('orchestrator.outbox.' || $1)"

/*
 * The lanes of mask as an SQL array literal, "{0,3,15}": sixteen small
 * numbers at most, so a fixed buffer (not a pgarray) and no allocation.
 */
static void
lanes_literal(uint16_t mask, char buf[64])
{
	size_t n = 0;

	buf[n++] = '{';
	for (int lane = 0; lane < ORC_OUTBOX_LANES; lane++)
		if (mask & (1u << lane))
			n += (size_t)snprintf(buf + n, 64 - n, "%s%d",
					      n > 1 ? "," : "", lane);
	buf[n++] = '}';
	buf[n] = '\0';
}

enum orc_status
orc_store_outbox_claim_lanes(struct orc_store *store, int max_new,
			     uint16_t *owned, struct orc_error *err)
{
	/*
	 * The lock function sits in WHERE under a LIMIT with no ORDER BY:
	 * the executor evaluates the qual row by row as the Limit pulls, so
	 * it stops trying lanes once max_new are taken, and every lane it
	 * locked is one it returns.  (In the select list, or with a sort,
	 * locks could be taken on rows the LIMIT then drops.)
	 */
	static const char sql[] =
		"SELECT l FROM unnest($2::int[]) AS l"
		" WHERE pg_try_advisory_lock(" LANE_KEY ", l) LIMIT $3::int";
	char free_lanes[64], limit[16];
	const char *params[3] = {store->schema, free_lanes, limit};
	uint16_t got = 0;
	PGresult *res;
	enum orc_status st;

	if (max_new < 1)
		max_new = 1;
	if (max_new > ORC_OUTBOX_LANES)
		max_new = ORC_OUTBOX_LANES;
	if (*owned == ORC_OUTBOX_ALL_LANES)
		return ORC_OK;
	lanes_literal((uint16_t)~*owned, free_lanes);
	snprintf(limit, sizeof(limit), "%d", max_new);
	st = orc_store_run(store, sql, 3, params, &res,
			   "claiming outbox lanes", err);
	if (st != ORC_OK)
		return st;
	for (int i = 0; i < PQntuples(res); i++) {
		int lane = (int)orc_store_int(res, i, 0);

		if (lane >= 0 && lane < ORC_OUTBOX_LANES)
			got |= (uint16_t)(1u << lane);
	}
	PQclear(res);
	*owned |= got;
	return ORC_OK;
}

enum orc_status
orc_store_outbox_release_lanes(struct orc_store *store, uint16_t *owned,
			       struct orc_error *err)
{
	static const char sql[] =
		"SELECT count(*) FILTER (WHERE pg_advisory_unlock(" LANE_KEY
		", l)) FROM unnest($2::int[]) AS l";
	char lanes[64];
	const char *params[2] = {store->schema, lanes};
	PGresult *res;
	enum orc_status st;

	if (*owned == 0)
		return ORC_OK;
	if (!orc_store_connected(store)) {
		*owned = 0; /* the session ended, and its locks with it */
		return ORC_OK;
	}
	lanes_literal(*owned, lanes);
	st = orc_store_run(store, sql, 2, params, &res,
			   "releasing outbox lanes", err);
	if (st != ORC_OK)
		return st;
	PQclear(res);
	*owned = 0;
	return ORC_OK;
}

void
orc_outbox_batch_init(struct orc_outbox_batch *batch)
{
	memset(batch, 0, sizeof(*batch));
}

void
orc_outbox_batch_finish(struct orc_outbox_batch *batch)
{
	if (batch == NULL)
		return;
	PQclear(batch->res);
	free(batch->rows);
	memset(batch, 0, sizeof(*batch));
}

/* An outbox row, as struct orc_outbox_row wants it. */
#define OUTBOX_COLUMNS(X, Y)                                                   \
	X(OUT_ID, "o.id")                                                      \
	Y(OUT_SAGA, "o.saga_id")                                               \
	Y(OUT_LANE, "o.lane")                                                  \
	Y(OUT_MSGID, "o.message_id")                                           \
	Y(OUT_TOPIC, "o.topic")                                                \
	Y(OUT_TYPE, "o.type")                                                  \
	Y(OUT_SOURCE, "o.source")                                              \
	Y(OUT_STEP, "o.step_name")                                             \
	Y(OUT_REPLY, "o.reply_to")                                             \
	Y(OUT_PAYLOAD, "o.payload")                                            \
	Y(OUT_TRACE, "o.traceparent")                                          \
	Y(OUT_CREATED, "floor(extract(epoch FROM o.created_at) * 1000)::bigint")

enum outbox_col { ORC_STORE_COLUMN_ENUM(OUTBOX_COLUMNS) OUT_NCOLS };

enum orc_status
orc_store_outbox_fetch(struct orc_store *store, uint16_t lanes,
		       const int64_t *floors, size_t limit,
		       struct orc_outbox_batch *batch, struct orc_error *err)
{
	/*
	 * One scan of the primary key, in id order, from the lowest floor of
	 * the owned lanes, keeping the owned lanes' rows, up to limit.  No
	 * plan choice is left to the planner: per lane, from the (lane, id)
	 * index, a generic plan of the prepared statement read the primary
	 * key instead, once per lane, filtering by lane, and with a backlog
	 * of tens of thousands of rows a fetch took seconds.  Rows of a lane
	 * between the lowest floor and its own are all handled: the scan
	 * only passes their dead entries.  Bounded by limit, whatever the
	 * backlog.
	 */
	static const char sql[] =
		"SELECT " ORC_STORE_SELECT_LIST(OUTBOX_COLUMNS)
		" FROM %1$s.outbox o"
		" WHERE o.id > $3::bigint AND o.lane = ANY($1::smallint[])"
		" ORDER BY o.id LIMIT $2::int";
	char lane_list[64], limit_text[24], floor_text[24];
	const char *params[3] = {lane_list, limit_text, floor_text};
	int64_t lowest = INT64_MAX;
	PGresult *res;
	enum orc_status st;
	int n;

	PQclear(batch->res);
	batch->res = NULL;
	batch->n = 0;
	batch->limit = limit;
	if (lanes == 0 || limit == 0)
		return ORC_OK;
	lanes_literal(lanes, lane_list);
	for (int l = 0; l < ORC_OUTBOX_LANES; l++)
		if ((lanes & (1u << l)) && (floors == NULL ? 0 : floors[l]) < lowest)
			lowest = floors == NULL ? 0 : floors[l];
	snprintf(floor_text, sizeof(floor_text), "%" PRId64, lowest);
	snprintf(limit_text, sizeof(limit_text), "%zu", limit);
	st = orc_store_run(store, sql, 3, params, &res, "reading outbox", err);
	if (st != ORC_OK)
		return st;
	n = PQntuples(res);
	if ((size_t)n > batch->cap) {
		struct orc_outbox_row *rows =
			realloc(batch->rows, (size_t)n * sizeof(*rows));

		if (rows == NULL) {
			PQclear(res);
			return orc_error_set(err, ORC_FATAL, "out of memory");
		}
		batch->rows = rows;
		batch->cap = (size_t)n;
	}
	for (int i = 0; i < n; i++) {
		struct orc_outbox_row *r = &batch->rows[i];

		r->id = orc_store_int(res, i, OUT_ID);
		r->saga_id = PQgetvalue(res, i, OUT_SAGA);
		r->lane = (int)orc_store_int(res, i, OUT_LANE);
		r->message_id = PQgetvalue(res, i, OUT_MSGID);
		r->topic = PQgetvalue(res, i, OUT_TOPIC);
		r->type = PQgetvalue(res, i, OUT_TYPE);
		r->source = PQgetvalue(res, i, OUT_SOURCE);
		r->step_name = orc_store_text(res, i, OUT_STEP);
		r->reply_to = orc_store_text(res, i, OUT_REPLY);
		r->payload = PQgetvalue(res, i, OUT_PAYLOAD);
		r->payload_len = (size_t)PQgetlength(res, i, OUT_PAYLOAD);
		r->traceparent = orc_store_text(res, i, OUT_TRACE);
		r->created_ms = orc_store_int(res, i, OUT_CREATED);
	}
	batch->res = res;
	batch->n = (size_t)n;
	return ORC_OK;
}

int64_t
orc_outbox_batch_clear(const struct orc_outbox_batch *batch, int lane)
{
	/*
	 * The rows are in id order, so a lane's first row is its lowest.  A
	 * lane with no row in a full batch may have rows the outer LIMIT
	 * cut, but only above the batch's last id: it kept the lowest ones.
	 */
	for (size_t i = 0; i < batch->n; i++)
		if (batch->rows[i].lane == lane)
			return batch->rows[i].id - 1;
	if (batch->n > 0 && batch->n >= batch->limit)
		return batch->rows[batch->n - 1].id;
	return INT64_MAX;
}

#define HORIZON_COLUMNS(X, Y)                                                  \
	X(HORIZON_LAST, "CASE WHEN s.is_called THEN s.last_value ELSE 0 END")  \
	Y(HORIZON_XMIN, "pg_snapshot_xmin(c.snap)::text::bigint")             \
	Y(HORIZON_XMAX, "pg_snapshot_xmax(c.snap)::text::bigint")

enum horizon_col { ORC_STORE_COLUMN_ENUM(HORIZON_COLUMNS) HORIZON_NCOLS };

enum orc_status
orc_store_outbox_horizon(struct orc_store *store,
			 struct orc_outbox_horizon *out, struct orc_error *err)
{
	/*
	 * pg_current_snapshot() is the statement's snapshot, taken before
	 * the sequence is read: the order the proof in store_outbox.h needs
	 * (X and xmin from a snapshot before this L, L before the next).
	 */
	static const char sql[] =
		"SELECT " ORC_STORE_SELECT_LIST(HORIZON_COLUMNS)
		" FROM %1$s.outbox_id_seq s, pg_current_snapshot() AS c(snap)";
	PGresult *res;
	enum orc_status st;

	memset(out, 0, sizeof(*out));
	st = orc_store_run(store, sql, 0, NULL, &res,
			   "reading the outbox horizon", err);
	if (st != ORC_OK)
		return st;
	out->last_id = orc_store_int(res, 0, HORIZON_LAST);
	out->xmin = orc_store_int(res, 0, HORIZON_XMIN);
	out->xmax = orc_store_int(res, 0, HORIZON_XMAX);
	PQclear(res);
	return ORC_OK;
}

enum orc_status
orc_store_outbox_delete(struct orc_store *store, const int64_t *ids, size_t n,
			size_t *deleted, struct orc_error *err)
{
	static const char sql[] =
		"DELETE FROM %1$s.outbox WHERE id = ANY($1::bigint[])";
	struct orc_pgarray list;
	const char *params[1];
	PGresult *res;
	enum orc_status st;

	if (deleted != NULL)
		*deleted = 0;
	if (n == 0)
		return ORC_OK;
	orc_pgarray_init(&list);
	for (size_t i = 0; i < n; i++)
		orc_pgarray_int(&list, ids[i]);
	params[0] = orc_pgarray_done(&list);
	if (params[0] == NULL) {
		orc_pgarray_finish(&list);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	st = orc_store_run(store, sql, 1, params, &res,
			   "deleting published outbox rows", err);
	orc_pgarray_finish(&list);
	if (st != ORC_OK)
		return st;
	if (deleted != NULL)
		*deleted = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return ORC_OK;
}

enum orc_status
orc_store_outbox_quarantine(struct orc_store *store,
			    const struct orc_outbox_refusal *refused, size_t n,
			    size_t *moved, struct orc_error *err)
{
	/*
	 * The refused rows and their sagas' later rows are deleted and
	 * inserted in one statement, so a row is never in both tables nor
	 * in neither.  The relay owns the rows' lanes: nobody else moves
	 * them meanwhile.
	 */
	static const char sql[] =
		"WITH r(id, error) AS ("
		"  SELECT * FROM unnest($1::bigint[], $2::text[])),"
		" x AS (SELECT o.id, r.id AS refused, r.error FROM r"
		"  JOIN %1$s.outbox f ON f.id = r.id"
		"  JOIN %1$s.outbox o"
		"   ON o.saga_id = f.saga_id AND o.id >= f.id),"
		" m AS (DELETE FROM %1$s.outbox o USING x WHERE o.id = x.id"
		"  RETURNING o.*, x.refused, x.error)"
		" INSERT INTO %1$s.outbox_quarantine (id, saga_id, lane,"
		"  message_id, topic, type, source, step_name, reply_to,"
		"  payload, traceparent, created_at, error, follows)"
		" SELECT id, saga_id, lane, message_id, topic, type, source,"
		"  step_name, reply_to, payload, traceparent, created_at,"
		"  CASE WHEN id = refused THEN error"
		"   ELSE 'follows quarantined command ' || refused END,"
		"  CASE WHEN id = refused THEN NULL ELSE refused END"
		" FROM m";
	struct orc_pgarray ids, errors;
	const char *params[2];
	PGresult *res;
	enum orc_status st;

	if (moved != NULL)
		*moved = 0;
	if (n == 0)
		return ORC_OK;
	orc_pgarray_init(&ids);
	orc_pgarray_init(&errors);
	for (size_t i = 0; i < n; i++) {
		orc_pgarray_int(&ids, refused[i].id);
		orc_pgarray_text(&errors, refused[i].error);
	}
	params[0] = orc_pgarray_done(&ids);
	params[1] = orc_pgarray_done(&errors);
	if (params[0] == NULL || params[1] == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto out;
	}
	st = orc_store_run(store, sql, 2, params, &res,
			   "quarantining refused outbox rows", err);
	if (st != ORC_OK)
		goto out;
	if (moved != NULL)
		*moved = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
out:
	orc_pgarray_finish(&ids);
	orc_pgarray_finish(&errors);
	return st;
}

enum orc_status
orc_store_outbox_session(struct orc_store *store, struct orc_error *err)
{
	enum orc_status st;

	st = orc_store_exec(store,
			    "SET enable_seqscan = off;"
			    " SET enable_bitmapscan = off; SET jit = off",
			    err);
	if (st != ORC_OK)
		return st;
	return orc_store_exec(store, "LISTEN " ORC_OUTBOX_CHANNEL, err);
}

enum orc_status
orc_store_outbox_notified(struct orc_store *store, bool *notified,
			  struct orc_error *err)
{
	PGnotify *note;

	*notified = false;
	if (PQconsumeInput(store->conn) == 0 ||
	    PQstatus(store->conn) != CONNECTION_OK)
		return orc_store_fail(store, NULL,
				      "waiting for outbox notifications", err);
	while ((note = PQnotifies(store->conn)) != NULL) {
		if (strcmp(note->relname, ORC_OUTBOX_CHANNEL) == 0)
			*notified = true;
		PQfreemem(note);
	}
	return ORC_OK;
}

int
orc_store_outbox_socket(const struct orc_store *store)
{
	return store == NULL ? -1 : PQsocket(store->conn);
}

#define BACKLOG_COLUMNS(X, Y)                                                  \
	X(BACKLOG_ROWS, "count(*)")                                            \
	Y(BACKLOG_AGE, "coalesce(floor(extract(epoch FROM"                     \
		       " now() - min(created_at)) * 1000)::bigint, 0)")          \
	Y(BACKLOG_QUARANTINED, "(SELECT count(*) FROM %1$s.outbox_quarantine)")

enum backlog_col { ORC_STORE_COLUMN_ENUM(BACKLOG_COLUMNS) BACKLOG_NCOLS };

enum orc_status
orc_store_outbox_backlog(struct orc_store *store,
			 struct orc_outbox_backlog *out, struct orc_error *err)
{
	static const char sql[] =
		"SELECT " ORC_STORE_SELECT_LIST(BACKLOG_COLUMNS) " FROM %1$s.outbox";
	PGresult *res;
	enum orc_status st;

	out->rows = 0;
	out->oldest_age_ms = 0;
	out->quarantined = 0;
	st = orc_store_run(store, sql, 0, NULL, &res, "reading outbox backlog",
			   err);
	if (st != ORC_OK)
		return st;
	out->rows = orc_store_int(res, 0, BACKLOG_ROWS);
	out->oldest_age_ms = orc_store_age_ms(res, 0, BACKLOG_AGE);
	out->quarantined = orc_store_int(res, 0, BACKLOG_QUARANTINED);
	PQclear(res);
	return ORC_OK;
}
