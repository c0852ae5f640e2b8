/*
 * store_requests.c - the SQL of operator requests, definition switches and
 * held triggers (store_requests.h).
 *
 * Every statement is one round trip.  The frequent ones (the poll, the
 * limit lock, the held triggers) are prepared per connection; the CLI's
 * switch change is not.  The limit lock is the one-bigint advisory lock
 * of hashtextextended('limit ' || name): the parked events' key locks use
 * the two-integer form, a lock space of its own, so the two never meet.
 */
#include "store_requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* realloc array to cap elements through tmp; false when out of memory. */
#define GROW(tmp, array, cap)                                                 \
	(((tmp) = realloc((array), (cap) * sizeof(*(array)))) != NULL &&       \
	 ((array) = (tmp), true))

/* strdup of a result value; *ok turns false when out of memory. */
static char *
dup_text(const PGresult *res, int row, int col, bool *ok)
{
	const char *v = orc_store_text(res, row, col);
	char *s;

	if (v == NULL)
		return NULL;
	s = strdup(v);
	if (s == NULL)
		*ok = false;
	return s;
}

/* A jsonb value of a result, parsed; *ok turns false when it does not. */
static json_t *
dup_json(const PGresult *res, int row, int col, bool *ok)
{
	const char *v = orc_store_text(res, row, col);
	json_t *j;

	if (v == NULL)
		return NULL;
	j = json_loads(v, JSON_DECODE_ANY, NULL);
	if (j == NULL)
		*ok = false;
	return j;
}

/* ---- operator requests ---- */

void
orc_request_list_init(struct orc_request_list *list)
{
	memset(list, 0, sizeof(*list));
}

void
orc_request_list_reset(struct orc_request_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		struct orc_request *r = &list->v[i];

		free(r->action);
		free(r->saga_id);
		free(r->step);
		json_decref(r->data);
		free(r->reason);
		free(r->requested_by);
	}
	list->n = 0;
}

void
orc_request_list_finish(struct orc_request_list *list)
{
	orc_request_list_reset(list);
	free(list->v);
	memset(list, 0, sizeof(*list));
}

enum orc_status
orc_store_requests_listen(struct orc_store *store, struct orc_error *err)
{
	return orc_store_exec(store, "LISTEN " ORC_STORE_REQUESTS_CHANNEL, err);
}

int
orc_store_session(const struct orc_store *store)
{
	return store->conn != NULL ? PQbackendPID(store->conn) : 0;
}

enum orc_status
orc_store_requests_notified(struct orc_store *store, bool *notified,
			    struct orc_error *err)
{
	PGnotify *n;

	*notified = false;
	if (PQconsumeInput(store->conn) == 0)
		return orc_store_fail(store, NULL, "reading notifications",
				      err);
	while ((n = PQnotifies(store->conn)) != NULL) {
		if (strcmp(n->relname, ORC_STORE_REQUESTS_CHANNEL) == 0 &&
		    strcmp(n->extra, store->schema) == 0)
			*notified = true;
		PQfreemem(n);
	}
	return ORC_OK;
}

#define REQUEST_COLUMNS(X, Y)                                                  \
	X(RQ_ID, "id") Y(RQ_ACTION, "action") Y(RQ_SAGA, "saga_id::text")      \
	Y(RQ_STEP, "step") Y(RQ_DATA, "data::text") Y(RQ_REASON, "reason")     \
	Y(RQ_BY, "requested_by")
enum request_col { ORC_STORE_COLUMN_ENUM(REQUEST_COLUMNS) RQ_NCOLS };

static const char claim_sql[] =
	"WITH c AS (UPDATE %1$s.operator_requests r"
	" SET claimed_until = now() + $3::bigint * interval '1 millisecond',"
	" applied_by_instance = $1"
	" WHERE r.id IN (SELECT id FROM %1$s.operator_requests"
	"  WHERE state = 'pending'"
	"  AND (claimed_until IS NULL OR claimed_until < now())"
	"  ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)"
	" RETURNING r.*)"
	" SELECT " ORC_STORE_SELECT_LIST(REQUEST_COLUMNS) " FROM c ORDER BY id";

enum orc_status
orc_store_requests_claim(struct orc_store *store, const char *instance,
			 int limit, int64_t lease_ms,
			 struct orc_request_list *out, struct orc_error *err)
{
	char lim[16], lease[24];
	const char *params[3] = {instance, lim, lease};
	PGresult *res = NULL;
	enum orc_status st;
	bool ok = true;
	int rows;
	void *p;

	orc_request_list_reset(out);
	snprintf(lim, sizeof(lim), "%d", limit);
	snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
	st = orc_store_run(store, claim_sql, 3, params, &res,
			   "claiming operator requests", err);
	if (st != ORC_OK)
		return st;
	rows = PQntuples(res);
	if ((size_t)rows > out->cap && !GROW(p, out->v, (size_t)rows)) {
		PQclear(res);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	if ((size_t)rows > out->cap)
		out->cap = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		struct orc_request *r = &out->v[out->n++];

		r->id = orc_store_int(res, i, RQ_ID);
		r->action = dup_text(res, i, RQ_ACTION, &ok);
		r->saga_id = dup_text(res, i, RQ_SAGA, &ok);
		r->step = dup_text(res, i, RQ_STEP, &ok);
		r->data = dup_json(res, i, RQ_DATA, &ok);
		r->reason = dup_text(res, i, RQ_REASON, &ok);
		r->requested_by = dup_text(res, i, RQ_BY, &ok);
	}
	PQclear(res);
	if (!ok)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	return ORC_OK;
}

static const char done_sql[] =
	"UPDATE %1$s.operator_requests SET state = 'done', outcome = NULL,"
	" action_id = $2, applied_at = now(), applied_by_instance = $3,"
	" claimed_until = NULL"
	" WHERE id = $1 AND state = 'pending' RETURNING id";

enum orc_status
orc_store_request_done(struct orc_store *store, int64_t id,
		       const char *action_id, const char *instance,
		       struct orc_error *err)
{
	char idbuf[24];
	const char *params[3] = {idbuf, action_id, instance};
	PGresult *res = NULL;
	enum orc_status st;

	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	st = orc_store_run(store, done_sql, 3, params, &res,
			   "recording an operator request done", err);
	if (st == ORC_OK && PQntuples(res) == 0)
		st = orc_error_set(err, ORC_CONFLICT,
				   "operator request %lld is no longer pending",
				   (long long)id);
	PQclear(res);
	return st;
}

enum orc_status
orc_store_request_insert(struct orc_store *store, const char *action,
			 const char *saga_id, const char *step,
			 const char *data, const char *reason,
			 struct orc_error *err)
{
	const char *params[5] = {action, saga_id, step, data, reason};

	return orc_store_run(store,
			     "INSERT INTO %1$s.operator_requests (action,"
			     " saga_id, step, data, reason) VALUES ($1, $2::uuid,"
			     " $3, $4::jsonb, $5)",
			     5, params, NULL, "asking a saga's parent or child",
			     err);
}

static const char settle_sql[] =
	"UPDATE %1$s.operator_requests SET state = $2, outcome = $3,"
	" applied_at = now(), applied_by_instance = $4, claimed_until = NULL"
	" WHERE id = $1 AND state = 'pending'";

enum orc_status
orc_store_request_settle(struct orc_store *store, int64_t id,
			 const char *state, const char *outcome,
			 const char *instance, struct orc_error *err)
{
	char idbuf[24];
	const char *params[4] = {idbuf, state, outcome, instance};

	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	return orc_store_run(store, settle_sql, 4, params, NULL,
			     "recording an operator request's outcome", err);
}

static const char unclaim_sql[] =
	"UPDATE %1$s.operator_requests SET claimed_until = NULL"
	" WHERE id = $1 AND state = 'pending'";

enum orc_status
orc_store_request_unclaim(struct orc_store *store, int64_t id,
			  struct orc_error *err)
{
	char idbuf[24];
	const char *params[1] = {idbuf};

	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	return orc_store_run(store, unclaim_sql, 1, params, NULL,
			     "releasing an operator request", err);
}

/* ---- definition switches ---- */

void
orc_control_list_init(struct orc_control_list *list)
{
	memset(list, 0, sizeof(*list));
}

void
orc_control_list_reset(struct orc_control_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		free(list->v[i].name);
		free(list->v[i].reason);
		free(list->v[i].updated_by);
		free(list->v[i].updated_at);
	}
	list->n = 0;
}

void
orc_control_list_finish(struct orc_control_list *list)
{
	orc_control_list_reset(list);
	free(list->v);
	memset(list, 0, sizeof(*list));
}

const struct orc_control *
orc_control_list_find(const struct orc_control_list *list, const char *name)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->v[i].name, name) == 0)
			return &list->v[i];
	return NULL;
}

#define CONTROL_COLUMNS(X, Y)                                                  \
	X(CT_NAME, "n.definition_name")                                        \
	Y(CT_PAUSED, "coalesce(c.paused, false)")                              \
	Y(CT_MAX, "coalesce(c.max_running, -1)")                               \
	Y(CT_HELD, "EXISTS (SELECT 1 FROM %1$s.held_triggers h"                \
		   " WHERE h.definition_name = n.definition_name)")            \
	Y(CT_REASON, "c.reason") Y(CT_BY, "c.updated_by")                      \
	Y(CT_AT, "c.updated_at::text")
enum control_col { ORC_STORE_COLUMN_ENUM(CONTROL_COLUMNS) CT_NCOLS };

/*
 * The names: those with a row (paused or limited, or set back) and those
 * with held triggers (a loose index scan: one probe per name).
 */
static const char controls_sql[] =
	"WITH RECURSIVE h(name) AS ("
	" (SELECT definition_name FROM %1$s.held_triggers"
	"  ORDER BY definition_name LIMIT 1)"
	" UNION ALL SELECT (SELECT definition_name FROM %1$s.held_triggers"
	"  WHERE definition_name > h.name ORDER BY definition_name LIMIT 1)"
	" FROM h WHERE h.name IS NOT NULL),"
	" n(definition_name) AS (SELECT definition_name"
	"  FROM %1$s.definition_controls"
	"  WHERE paused OR max_running IS NOT NULL"
	"  UNION SELECT name FROM h WHERE name IS NOT NULL)"
	" SELECT " ORC_STORE_SELECT_LIST(CONTROL_COLUMNS)
	" FROM n LEFT JOIN %1$s.definition_controls c"
	" ON c.definition_name = n.definition_name"
	" ORDER BY n.definition_name";

enum orc_status
orc_store_controls_read(struct orc_store *store, struct orc_control_list *out,
			struct orc_error *err)
{
	PGresult *res = NULL;
	enum orc_status st;
	bool ok = true;
	int rows;
	void *p;

	orc_control_list_reset(out);
	st = orc_store_run(store, controls_sql, 0, NULL, &res,
			   "reading definition switches", err);
	if (st != ORC_OK)
		return st;
	rows = PQntuples(res);
	if ((size_t)rows > out->cap && !GROW(p, out->v, (size_t)rows)) {
		PQclear(res);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	if ((size_t)rows > out->cap)
		out->cap = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		struct orc_control *c = &out->v[out->n++];

		c->name = dup_text(res, i, CT_NAME, &ok);
		c->paused = strcmp(PQgetvalue(res, i, CT_PAUSED), "t") == 0;
		c->max_running = orc_store_int(res, i, CT_MAX);
		c->held = strcmp(PQgetvalue(res, i, CT_HELD), "t") == 0;
		c->reason = dup_text(res, i, CT_REASON, &ok);
		c->updated_by = dup_text(res, i, CT_BY, &ok);
		c->updated_at = dup_text(res, i, CT_AT, &ok);
	}
	PQclear(res);
	if (!ok)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	return ORC_OK;
}

#define SET_COLUMNS(X, Y)                                                      \
	X(SC_KNOWN, "(SELECT known FROM d)")                                   \
	Y(SC_HELD, "(SELECT count(*) FROM %1$s.held_triggers"                  \
		   " WHERE definition_name = $1)")
enum set_col { ORC_STORE_COLUMN_ENUM(SET_COLUMNS) SC_NCOLS };

/*
 * $2: paused (NULL keeps it), $3: 'set' or 'clear' the limit (NULL keeps
 * it), $4: the limit.  The table's trigger stamps who and when.
 */
static const char control_set_sql[] =
	"WITH d AS (SELECT EXISTS (SELECT 1 FROM %1$s.saga_definitions"
	"  WHERE name = $1) AS known),"
	" u AS (INSERT INTO %1$s.definition_controls AS c"
	" (definition_name, paused, max_running, reason)"
	" SELECT $1, coalesce($2::boolean, false),"
	"  CASE WHEN $3 = 'set' THEN $4::integer END, $5 FROM d WHERE d.known"
	" ON CONFLICT (definition_name) DO UPDATE SET"
	" paused = coalesce($2::boolean, c.paused),"
	" max_running = CASE $3 WHEN 'set' THEN $4::integer"
	"  WHEN 'clear' THEN NULL ELSE c.max_running END,"
	" reason = $5 RETURNING 1)"
	" SELECT " ORC_STORE_SELECT_LIST(SET_COLUMNS);

enum orc_status
orc_store_control_set(struct orc_store *store, const char *name,
		      enum orc_control_change change, int64_t n,
		      const char *reason, int64_t *held, struct orc_error *err)
{
	char nbuf[24];
	const char *params[5] = {name, NULL, NULL, nbuf, reason};
	PGresult *res = NULL;
	enum orc_status st;

	snprintf(nbuf, sizeof(nbuf), "%lld", (long long)n);
	switch (change) {
	case ORC_CONTROL_PAUSE:
		params[1] = "true";
		break;
	case ORC_CONTROL_RESUME:
		params[1] = "false";
		break;
	case ORC_CONTROL_LIMIT:
		params[2] = n < 0 ? "clear" : "set";
		break;
	}
	st = orc_store_query(store, control_set_sql, 5, params, NULL, NULL, 0,
			     &res, "changing a definition's switches", err);
	if (st == ORC_OK && strcmp(PQgetvalue(res, 0, SC_KNOWN), "t") != 0) {
		st = orc_error_set(err, ORC_NOT_FOUND,
				   "no definition named \"%s\" is stored",
				   name);
		orc_error_hint(err, "orchestrator definitions list");
	} else if (st == ORC_OK) {
		*held = orc_store_int(res, 0, SC_HELD);
	}
	PQclear(res);
	return st;
}

#define LIMIT_COLUMNS(X, Y)                                                    \
	X(LM_RUNNING, "(SELECT count(*) FROM %1$s.sagas"                       \
		      " WHERE definition_name = $1"                            \
		      " AND status IN ('running', 'compensating'))")           \
	Y(LM_HELD, "EXISTS (SELECT 1 FROM %1$s.held_triggers"                  \
		   " WHERE definition_name = $1)")
enum limit_col { ORC_STORE_COLUMN_ENUM(LIMIT_COLUMNS) LM_NCOLS };

static const char limit_sql[] = "SELECT " ORC_STORE_SELECT_LIST(LIMIT_COLUMNS);

enum orc_status
orc_store_limit_lock(struct orc_store *store, const char *name,
		     int64_t *running, bool *held, struct orc_error *err)
{
	const char *params[1] = {name};
	PGresult *res = NULL;
	enum orc_status st;

	/*
	 * The lock first, in a statement of its own: the count's snapshot
	 * must be taken after it was granted, to see every saga started by
	 * the transaction that held it before.
	 */
	st = orc_store_run(store,
			   "SELECT pg_advisory_xact_lock("
			   "hashtextextended('limit ' || $1, 0))",
			   1, params, NULL, "locking a definition's limit",
			   err);
	if (st == ORC_OK)
		st = orc_store_run(store, limit_sql, 1, params, &res,
				   "counting a definition's running sagas",
				   err);
	if (st == ORC_OK) {
		*running = orc_store_int(res, 0, LM_RUNNING);
		*held = strcmp(PQgetvalue(res, 0, LM_HELD), "t") == 0;
	}
	PQclear(res);
	return st;
}

/* ---- held triggers ---- */

static const char hold_sql[] =
	"INSERT INTO %1$s.held_triggers (definition_name, business_key,"
	" event_id, type, data, message_id, topic, partition, \"offset\", why)"
	" VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10)";

enum orc_status
orc_store_hold_trigger(struct orc_store *store,
		       const struct orc_held_trigger *h, struct orc_error *err)
{
	char part[16], off[24];
	const char *params[10] = {h->def_name, h->business_key, h->event_id,
				  h->type, h->data, h->message_id, h->topic,
				  part, off, h->why};

	snprintf(part, sizeof(part), "%d", (int)h->partition);
	snprintf(off, sizeof(off), "%lld", (long long)h->offset);
	return orc_store_run(store, hold_sql, 10, params, NULL,
			     "holding a trigger", err);
}

void
orc_held_list_init(struct orc_held_list *list)
{
	memset(list, 0, sizeof(*list));
}

void
orc_held_list_reset(struct orc_held_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		free(list->v[i].def_name);
		free(list->v[i].business_key);
		free(list->v[i].event_id);
		free(list->v[i].type);
		json_decref(list->v[i].data);
	}
	list->n = 0;
}

void
orc_held_list_finish(struct orc_held_list *list)
{
	orc_held_list_reset(list);
	free(list->v);
	memset(list, 0, sizeof(*list));
}

#define HELD_COLUMNS(X, Y)                                                     \
	X(HT_ID, "h.id") Y(HT_NAME, "h.definition_name")                       \
	Y(HT_KEY, "h.business_key") Y(HT_DATA, "h.data::text")                 \
	Y(HT_EVENT, "h.event_id") Y(HT_TYPE, "h.type")
enum held_col { ORC_STORE_COLUMN_ENUM(HELD_COLUMNS) HT_NCOLS };

/*
 * Per definition (a loose index scan of the names), so that one that has
 * no room does not keep the others' triggers out of the batch.
 */
static const char held_next_sql[] =
	"WITH RECURSIVE n(name) AS ("
	" (SELECT definition_name FROM %1$s.held_triggers"
	"  ORDER BY definition_name LIMIT 1)"
	" UNION ALL SELECT (SELECT definition_name FROM %1$s.held_triggers"
	"  WHERE definition_name > n.name ORDER BY definition_name LIMIT 1)"
	" FROM n WHERE n.name IS NOT NULL)"
	" SELECT " ORC_STORE_SELECT_LIST(HELD_COLUMNS)
	" FROM n CROSS JOIN LATERAL"
	" (SELECT * FROM %1$s.held_triggers x WHERE x.definition_name = n.name"
	"  ORDER BY x.id LIMIT $1) h"
	" WHERE n.name IS NOT NULL AND NOT EXISTS (SELECT 1"
	"  FROM %1$s.definition_controls c"
	"  WHERE c.definition_name = n.name AND c.paused)"
	" ORDER BY h.id";

enum orc_status
orc_store_held_next(struct orc_store *store, int limit,
		    struct orc_held_list *out, struct orc_error *err)
{
	char lim[16];
	const char *params[1] = {lim};
	PGresult *res = NULL;
	enum orc_status st;
	bool ok = true;
	int rows;
	void *p;

	orc_held_list_reset(out);
	snprintf(lim, sizeof(lim), "%d", limit);
	st = orc_store_run(store, held_next_sql, 1, params, &res,
			   "reading held triggers", err);
	if (st != ORC_OK)
		return st;
	rows = PQntuples(res);
	if ((size_t)rows > out->cap && !GROW(p, out->v, (size_t)rows)) {
		PQclear(res);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	if ((size_t)rows > out->cap)
		out->cap = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		struct orc_held *h = &out->v[out->n++];

		h->id = orc_store_int(res, i, HT_ID);
		h->def_name = dup_text(res, i, HT_NAME, &ok);
		h->business_key = dup_text(res, i, HT_KEY, &ok);
		h->data = dup_json(res, i, HT_DATA, &ok);
		h->event_id = dup_text(res, i, HT_EVENT, &ok);
		h->type = dup_text(res, i, HT_TYPE, &ok);
	}
	PQclear(res);
	if (!ok)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	return ORC_OK;
}

static const char held_take_sql[] =
	"DELETE FROM %1$s.held_triggers WHERE id = (SELECT id"
	" FROM %1$s.held_triggers WHERE id = $1 FOR UPDATE SKIP LOCKED)"
	" RETURNING id";

enum orc_status
orc_store_held_take(struct orc_store *store, int64_t id, struct orc_error *err)
{
	char idbuf[24];
	const char *params[1] = {idbuf};
	PGresult *res = NULL;
	enum orc_status st;

	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	st = orc_store_run(store, held_take_sql, 1, params, &res,
			   "taking a held trigger", err);
	if (st == ORC_OK && PQntuples(res) == 0)
		st = orc_error_set(err, ORC_CONFLICT,
				   "held trigger %lld was taken by another "
				   "process", (long long)id);
	PQclear(res);
	return st;
}
