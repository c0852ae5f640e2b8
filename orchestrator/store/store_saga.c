/*
 * store_saga.c - the apply path's SQL for sagas: read and locked in sets,
 * written back from arrays.
 *
 * A batch locks every saga it touches in one statement (ORDER BY id FOR
 * UPDATE, so two workers never deadlock) and reads all their steps in a
 * second; rows become sagas through the engine's row codec.  Writing is
 * the reverse: every row to write is queued into column arrays (pgarray.h,
 * one text array literal per column, reused from batch to batch), and one
 * INSERT ... SELECT FROM unnest(...) each writes sagas, steps, history and
 * outbox rows, four statements whatever the batch size.  Times are int64
 * milliseconds here and timestamptz there; 0 means NULL.
 *
 * A saga whose row cannot be read is quarantined, not returned: locking
 * or claiming it marks it (quarantined_at, quarantine_reason, a history
 * row) in the caller's transaction and lists it apart in the set, so one
 * bad row neither fails a batch nor makes every timer pass fail; the
 * timer claim skips quarantined sagas.  Out of memory is never taken for
 * a bad row.
 *
 * Columns are named, never numbered by hand: each statement's select list
 * or unnest() parameter list is generated from one table below, with the
 * enum that numbers its columns.
 */
#include "store_saga.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgarray.h"
#include "saga_row.h"
#include "store_internal.h"
#include "store_items.h"

#define MS(col) "coalesce((extract(epoch from " col ") * 1000)::bigint, 0)"
/* The statuses of a saga that is not over (sagas_open_key_idx). */
#define OPEN_STATUSES "('running', 'compensating', 'stuck')"
#define TS(arg) "CASE WHEN " arg " = 0 THEN NULL ELSE to_timestamp(" arg " / 1000.0) END"

/* ---- transactions ---- */

enum orc_status
orc_store_begin(struct orc_store *store, struct orc_error *err)
{
	return orc_store_exec(store, "BEGIN", err);
}

enum orc_status
orc_store_commit(struct orc_store *store, struct orc_error *err)
{
	return orc_store_exec(store, "COMMIT", err);
}

void
orc_store_rollback(struct orc_store *store)
{
	orc_store_exec(store, "ROLLBACK", NULL);
}

/* ---- saga sets ---- */

void
orc_saga_set_init(struct orc_saga_set *set)
{
	memset(set, 0, sizeof(*set));
}

void
orc_saga_set_reset(struct orc_saga_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		orc_saga_finish(&set->v[i]->saga);
		free(set->v[i]);
	}
	set->n = 0;
	set->n_quarantined = 0;
}

void
orc_saga_set_finish(struct orc_saga_set *set)
{
	orc_saga_set_reset(set);
	free(set->v);
	free(set->quarantined);
	memset(set, 0, sizeof(*set));
}

struct orc_stored_saga *
orc_saga_set_find(const struct orc_saga_set *set, const char *id)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i]->saga.id != NULL &&
		    strcmp(set->v[i]->saga.id, id) == 0)
			return set->v[i];
	return NULL;
}

struct orc_stored_saga *
orc_saga_set_find_key(const struct orc_saga_set *set, const char *def_name,
		      const char *key)
{
	/* Newest first: a saga started in this batch after one that ended. */
	for (size_t i = set->n; i-- > 0;) {
		const struct orc_saga *s = &set->v[i]->saga;

		if (s->key != NULL && strcmp(s->key, key) == 0 &&
		    strcmp(s->def->name, def_name) == 0)
			return set->v[i];
	}
	return NULL;
}

const struct orc_quarantined_saga *
orc_saga_set_quarantined(const struct orc_saga_set *set, const char *id)
{
	for (size_t i = 0; i < set->n_quarantined; i++)
		if (strcmp(set->quarantined[i].id, id) == 0)
			return &set->quarantined[i];
	return NULL;
}

const struct orc_quarantined_saga *
orc_saga_set_quarantined_key(const struct orc_saga_set *set,
			     const char *def_name, const char *key)
{
	for (size_t i = 0; i < set->n_quarantined; i++) {
		const struct orc_quarantined_saga *q = &set->quarantined[i];

		if (strcmp(q->key, key) == 0 && strcmp(q->def_name, def_name) == 0)
			return q;
	}
	return NULL;
}

static struct orc_stored_saga *
set_push(struct orc_saga_set *set)
{
	struct orc_stored_saga *ss;

	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		struct orc_stored_saga **v = realloc(set->v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		set->v = v;
		set->cap = cap;
	}
	ss = calloc(1, sizeof(*ss));
	if (ss != NULL)
		set->v[set->n++] = ss;
	return ss;
}

struct orc_stored_saga *
orc_saga_set_add_new(struct orc_saga_set *set, const struct orc_definition *def)
{
	struct orc_stored_saga *ss = set_push(set);

	if (ss == NULL)
		return NULL;
	if (orc_saga_init(&ss->saga, def) != ORC_OK) {
		free(ss);
		set->n--;
		return NULL;
	}
	ss->is_new = true;
	return ss;
}

/* ---- reading sagas ---- */

/* A saga row, as the engine's struct orc_saga_row wants it. */
#define SAGA_COLUMNS(X, Y)                                                     \
	X(SAGA_ID, "id::text")                                                 \
	Y(SAGA_DEF_NAME, "definition_name")                                    \
	Y(SAGA_DEF_VERSION, "definition_version")                              \
	Y(SAGA_KEY, "business_key")                                            \
	Y(SAGA_STATUS, "status")                                               \
	Y(SAGA_CAUSE, "coalesce(failing_reason, 'none')")                      \
	Y(SAGA_CONTEXT, "context::text")                                       \
	Y(SAGA_STARTED, MS("created_at"))                                      \
	Y(SAGA_DEADLINE, MS("deadline_at"))                                    \
	Y(SAGA_WAKE, MS("wake_at"))                                            \
	Y(SAGA_SEQ, "completion_seq")                                          \
	Y(SAGA_FAILURE, "failure")                                             \
	Y(SAGA_QUARANTINE, "quarantine_reason")                                \
	Y(SAGA_OUTPUT, "output::text")                                         \
	Y(SAGA_LIFECYCLE, "lifecycle_seq")                                     \
	Y(SAGA_PAUSED, MS("paused_at"))                                        \
	Y(SAGA_PARENT, "coalesce(parent_id::text, '')")                        \
	Y(SAGA_PARENT_STEP, "coalesce(parent_step, '')")

enum saga_col { ORC_STORE_COLUMN_ENUM(SAGA_COLUMNS) SAGA_NCOLS };

/*
 * A map step's counters as one text, "items,concurrency,min_success,
 * started,succeeded,failed,compensated,last_seq,run" (NULL for no map),
 * read by read_map() and written as the array literal T_MAP.
 */
#define MAP_TEXT                                                               \
	"CASE WHEN map_items IS NOT NULL THEN concat_ws(',', map_items,"        \
	" map_concurrency, map_min_success, map_started, map_succeeded,"        \
	" map_failed, map_compensated, map_last_seq, map_run) END"

/* A step row, as struct orc_step_row wants it, after its saga's id. */
#define STEP_COLUMNS(X, Y)                                                     \
	X(STEP_SAGA, "saga_id::text")                                          \
	Y(STEP_NAME, "step_name")                                              \
	Y(STEP_STATUS, "status")                                               \
	Y(STEP_ATTEMPT, "attempt")                                             \
	Y(STEP_ATTEMPT_BASE, "attempt_base")                                   \
	Y(STEP_COMP, "compensation_attempt")                                   \
	Y(STEP_COMP_BASE, "compensation_attempt_base")                         \
	Y(STEP_STARTED, MS("started_at"))                                      \
	Y(STEP_FINISHED, MS("finished_at"))                                    \
	Y(STEP_WAKE, MS("wake_at"))                                            \
	Y(STEP_REASON, "coalesce(wake_reason, 'none')")                        \
	Y(STEP_SEQ, "coalesce(completed_seq, 0)")                              \
	Y(STEP_ERROR, "last_error")                                            \
	Y(STEP_EARLY, "early_event::text")                                     \
	Y(STEP_OUTPUT, "output::text")                                         \
	Y(STEP_REPLIES, "replies::text")                                       \
	Y(STEP_MAP, MAP_TEXT)

enum step_col { ORC_STORE_COLUMN_ENUM(STEP_COLUMNS) STEP_NCOLS };

/*
 * The first row of steps (ordered by saga id: uuid order is the order of
 * the ids' text) that belongs to saga id, by binary search; the number of
 * rows when there is none.  The sagas themselves may come in any order
 * (timers claim them by wake-up time).
 */
static int
first_step_row(const PGresult *steps, const char *id)
{
	int lo = 0, hi = PQntuples(steps);

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (strcmp(PQgetvalue(steps, mid, STEP_SAGA), id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The JSON values of a step row, parsed: what read_step() leaves to free. */
struct step_json {
	json_t *early;
	json_t *output;
	json_t *replies;
};

/* The map counters of step row i (MAP_TEXT) into *m. */
static enum orc_status
read_map(const PGresult *steps, int i, struct orc_map_row *m,
	 struct orc_error *err)
{
	long long v[9];
	int used = 0;

	m->has = false;
	if (PQgetisnull(steps, i, STEP_MAP))
		return ORC_OK;
	if (sscanf(PQgetvalue(steps, i, STEP_MAP),
		   "%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld%n", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
		   &used) != 9 ||
	    PQgetvalue(steps, i, STEP_MAP)[used] != '\0' || v[1] > INT_MAX ||
	    v[8] > INT_MAX)
		return orc_error_set(err, ORC_INVALID,
				     "step %s: map columns are incomplete",
				     PQgetvalue(steps, i, STEP_NAME));
	*m = (struct orc_map_row){
		.has = true,
		.items = v[0],
		.concurrency = (int)v[1],
		.min_success = v[2],
		.started = v[3],
		.succeeded = v[4],
		.failed = v[5],
		.compensated = v[6],
		.last_seq = v[7],
		.run = (int)v[8],
	};
	return ORC_OK;
}

/* Step row i of steps into s; its JSON values, parsed, into *js. */
static enum orc_status
read_step(const PGresult *steps, int i, struct orc_step_row *s,
	  struct step_json *js, struct orc_error *err)
{
	enum orc_status st;

	memset(s, 0, sizeof(*s));
	s->name = PQgetvalue(steps, i, STEP_NAME);
	s->status = PQgetvalue(steps, i, STEP_STATUS);
	s->attempt = (int)orc_store_int(steps, i, STEP_ATTEMPT);
	s->attempt_base = (int)orc_store_int(steps, i, STEP_ATTEMPT_BASE);
	s->comp_attempt = (int)orc_store_int(steps, i, STEP_COMP);
	s->comp_attempt_base = (int)orc_store_int(steps, i, STEP_COMP_BASE);
	s->started_ms = orc_store_int(steps, i, STEP_STARTED);
	s->finished_ms = orc_store_int(steps, i, STEP_FINISHED);
	s->wake_ms = orc_store_int(steps, i, STEP_WAKE);
	s->wake_reason = PQgetvalue(steps, i, STEP_REASON);
	s->completed_seq = orc_store_int(steps, i, STEP_SEQ);
	s->last_error = orc_store_text(steps, i, STEP_ERROR);
	if ((st = orc_store_json(steps, i, STEP_EARLY, &js->early,
			      "the early event of a step", err)) != ORC_OK ||
	    (st = orc_store_json(steps, i, STEP_OUTPUT, &js->output,
			      "the output of a step", err)) != ORC_OK ||
	    (st = orc_store_json(steps, i, STEP_REPLIES, &js->replies,
			      "the replies of a step", err)) != ORC_OK)
		return st;
	s->early_event = js->early;
	s->output = js->output;
	s->replies = js->replies;
	return read_map(steps, i, &s->map, err);
}

/* Build one saga from its row (r in sagas) and its step rows. */
static enum orc_status
build_saga(struct orc_store *store, struct orc_catalog *cat,
	   const PGresult *sagas, int r, const PGresult *steps,
	   struct orc_saga_set *set, struct orc_error *err)
{
	const char *name = PQgetvalue(sagas, r, SAGA_DEF_NAME);
	int version = (int)orc_store_int(sagas, r, SAGA_DEF_VERSION);
	const char *id = PQgetvalue(sagas, r, SAGA_ID);
	const struct orc_definition *def = orc_catalog_get(cat, name, version);
	struct orc_step_row rows_buf[64];
	struct orc_step_row *rows = rows_buf;
	struct step_json *js = NULL;
	struct orc_saga_row row;
	struct orc_stored_saga *ss;
	json_error_t jerr;
	size_t n = 0, cap = sizeof(rows_buf) / sizeof(rows_buf[0]);
	enum orc_status st;

	if (def == NULL) {
		st = orc_store_fetch_definition(store, cat, name, version, err);
		if (st != ORC_OK)
			return st;
		def = orc_catalog_get(cat, name, version);
	}
	memset(&row, 0, sizeof(row));
	row.id = id;
	row.key = PQgetvalue(sagas, r, SAGA_KEY);
	row.status = PQgetvalue(sagas, r, SAGA_STATUS);
	row.cause = PQgetvalue(sagas, r, SAGA_CAUSE);
	row.context = json_loads(PQgetvalue(sagas, r, SAGA_CONTEXT), 0, &jerr);
	row.started_ms = orc_store_int(sagas, r, SAGA_STARTED);
	row.deadline_ms = orc_store_int(sagas, r, SAGA_DEADLINE);
	row.wake_ms = orc_store_int(sagas, r, SAGA_WAKE);
	row.seq = orc_store_int(sagas, r, SAGA_SEQ);
	row.failure_reason = orc_store_text(sagas, r, SAGA_FAILURE);
	row.lifecycle_seq = orc_store_int(sagas, r, SAGA_LIFECYCLE);
	row.paused_ms = orc_store_int(sagas, r, SAGA_PAUSED);
	if (row.context == NULL)
		return orc_store_json_failed(&jerr, "context", err);
	st = orc_store_json(sagas, r, SAGA_OUTPUT, &row.output, "output", err);
	if (st != ORC_OK) {
		json_decref(row.context);
		return st;
	}
	if (def->n_steps > cap) {
		cap = def->n_steps;
		rows = calloc(cap, sizeof(*rows));
		if (rows == NULL) {
			json_decref(row.context);
			json_decref(row.output);
			return orc_error_set(err, ORC_FATAL, "out of memory");
		}
	}
	js = calloc(cap, sizeof(*js));
	if (js == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	for (int i = first_step_row(steps, id); i < PQntuples(steps); i++) {
		if (strcmp(PQgetvalue(steps, i, STEP_SAGA), id) != 0)
			break;
		if (n == cap) {
			st = orc_error_set(err, ORC_INVALID,
					   "more step rows than its definition "
					   "has steps");
			goto done;
		}
		st = read_step(steps, i, &rows[n], &js[n], err);
		if (st != ORC_OK)
			goto done;
		n++;
	}
	ss = set_push(set);
	if (ss == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	st = orc_saga_from_rows(&ss->saga, def, &row, rows, n, err);
	if (st == ORC_OK) {
		snprintf(ss->parent_id, sizeof(ss->parent_id), "%s",
			 PQgetvalue(sagas, r, SAGA_PARENT));
		snprintf(ss->parent_step, sizeof(ss->parent_step), "%s",
			 PQgetvalue(sagas, r, SAGA_PARENT_STEP));
		st = orc_store_load_map_items(store, &ss->saga, err);
		if (st != ORC_OK) {
			orc_error_prefix(err, "saga %s", id);
			orc_saga_finish(&ss->saga);
		}
	}
	if (st != ORC_OK) {
		free(ss);
		set->n--;
	}
done:
	for (size_t i = 0; js != NULL && i < cap; i++) {
		json_decref(js[i].early);
		json_decref(js[i].output);
		json_decref(js[i].replies);
	}
	free(js);
	if (rows != rows_buf)
		free(rows);
	json_decref(row.context);
	json_decref(row.output);
	return st;
}

/* How read_sagas() takes a saga row that cannot be read. */
enum read_mode {
	READ_QUARANTINE, /* set it aside and go on: the apply path */
	READ_STRICT,     /* fail with the reason: a release */
};

/* List saga row r of sagas in set->quarantined, for reason. */
static enum orc_status
list_quarantined(struct orc_saga_set *set, const PGresult *sagas, int r,
		 const char *reason, struct orc_error *err)
{
	struct orc_quarantined_saga *q;

	if (set->n_quarantined == set->cap_quarantined) {
		size_t cap = set->cap_quarantined ? set->cap_quarantined * 2 : 4;

		q = realloc(set->quarantined, cap * sizeof(*q));
		if (q == NULL)
			return orc_error_set(err, ORC_FATAL, "out of memory");
		set->quarantined = q;
		set->cap_quarantined = cap;
	}
	q = &set->quarantined[set->n_quarantined++];
	snprintf(q->id, sizeof(q->id), "%s", PQgetvalue(sagas, r, SAGA_ID));
	snprintf(q->def_name, sizeof(q->def_name), "%s",
		 PQgetvalue(sagas, r, SAGA_DEF_NAME));
	snprintf(q->key, sizeof(q->key), "%s", PQgetvalue(sagas, r, SAGA_KEY));
	snprintf(q->reason, sizeof(q->reason), "%s", reason);
	return ORC_OK;
}

/*
 * Quarantine saga row r of sagas (locked by the open transaction) for
 * reason: mark the row, write its history, list it in set.
 */
static enum orc_status
quarantine(struct orc_store *store, struct orc_saga_set *set,
	   const PGresult *sagas, int r, const char *reason,
	   struct orc_error *err)
{
	enum orc_status st = list_quarantined(set, sagas, r, reason, err);

	if (st != ORC_OK)
		return st;
	return orc_store_quarantine_saga(store, PQgetvalue(sagas, r, SAGA_ID),
					 reason, err);
}

/*
 * message without a leading "saga ID: " (the row codec names the saga;
 * the quarantined row says which saga already).
 */
static const char *
without_saga(const char *message, const char *id)
{
	size_t n = strlen(id);

	if (strncmp(message, "saga ", 5) == 0 &&
	    strncmp(message + 5, id, n) == 0 &&
	    strncmp(message + 5 + n, ": ", 2) == 0)
		return message + 7 + n;
	return message;
}

/*
 * Build saga row r of sagas into set, or, by mode, quarantine it when it
 * cannot be read (it is listed apart, as is one quarantined before).
 */
static enum orc_status
take_saga(struct orc_store *store, struct orc_catalog *cat,
	  const PGresult *sagas, int r, const PGresult *steps,
	  struct orc_saga_set *set, enum read_mode mode, struct orc_error *err)
{
	char reason[ORC_ERROR_MSG_MAX];
	enum orc_status st;

	if (mode == READ_QUARANTINE && !PQgetisnull(sagas, r, SAGA_QUARANTINE))
		return list_quarantined(set, sagas, r,
					PQgetvalue(sagas, r, SAGA_QUARANTINE),
					err);
	st = build_saga(store, cat, sagas, r, steps, set, err);
	if (st != ORC_INVALID && st != ORC_NOT_FOUND)
		return st;
	if (mode == READ_STRICT) {
		orc_error_prefix(err, "saga %s", PQgetvalue(sagas, r, SAGA_ID));
		return ORC_INVALID;
	}
	snprintf(reason, sizeof(reason), "%s",
		 without_saga(err->message, PQgetvalue(sagas, r, SAGA_ID)));
	return quarantine(store, set, sagas, r, reason, err);
}

/* Read the steps of the sagas in res and take them all into set. */
static enum orc_status
read_sagas(struct orc_store *store, struct orc_catalog *cat, PGresult *sagas,
	   struct orc_saga_set *set, enum read_mode mode, struct orc_error *err)
{
	struct orc_pgarray ids;
	const char *params[1];
	PGresult *steps = NULL;
	enum orc_status st = ORC_OK;

	if (PQntuples(sagas) == 0)
		return ORC_OK;
	orc_pgarray_init(&ids);
	for (int i = 0; i < PQntuples(sagas); i++)
		orc_pgarray_text(&ids, PQgetvalue(sagas, i, SAGA_ID));
	params[0] = orc_pgarray_done(&ids);
	if (params[0] == NULL) {
		orc_pgarray_finish(&ids);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	st = orc_store_run(store,
			   "SELECT " ORC_STORE_SELECT_LIST(STEP_COLUMNS)
			   " FROM %1$s.saga_steps WHERE saga_id = ANY($1::uuid[])"
			   " ORDER BY saga_id, step_index",
			   1, params, &steps, "reading saga steps", err);
	orc_pgarray_finish(&ids);
	for (int i = 0; st == ORC_OK && i < PQntuples(sagas); i++)
		st = take_saga(store, cat, sagas, i, steps, set, mode, err);
	PQclear(steps);
	return st;
}

enum orc_status
orc_store_lock_sagas(struct orc_store *store, struct orc_catalog *cat,
		     const char *const *ids, size_t n_ids,
		     const char *const *names, const char *const *keys,
		     size_t n_keys, struct orc_saga_set *set,
		     struct orc_error *err)
{
	struct orc_pgarray a, b, c;
	const char *params[3];
	PGresult *res = NULL;
	enum orc_status st;

	if (n_ids == 0 && n_keys == 0)
		return ORC_OK;
	orc_pgarray_init(&a);
	orc_pgarray_init(&b);
	orc_pgarray_init(&c);
	orc_pgarray_texts(&a, ids, n_ids);
	orc_pgarray_texts(&b, names, n_keys);
	orc_pgarray_texts(&c, keys, n_keys);
	params[0] = orc_pgarray_done(&a);
	params[1] = orc_pgarray_done(&b);
	params[2] = orc_pgarray_done(&c);
	if (params[0] == NULL || params[1] == NULL || params[2] == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	st = orc_store_run(store,
			   /*
			    * Index lookups; "id = ANY(...) OR (name, key)
			    * IN ..." would scan the whole table.  A key's
			    * saga is the one that is not over (the partial
			    * unique index), else its newest (the index of
			    * ended ones; key_reuse: a key may have had
			    * several): two index probes per key.
			    */
			   "SELECT " ORC_STORE_SELECT_LIST(SAGA_COLUMNS)
			   " FROM %1$s.sagas WHERE id IN ("
			   " SELECT unnest($1::uuid[]) UNION ALL"
			   " SELECT l.id FROM unnest($2::text[], $3::text[])"
			   " AS k(name, key) CROSS JOIN LATERAL ("
			   "(SELECT s.id, 0 AS o FROM %1$s.sagas s WHERE"
			   " s.definition_name = k.name AND s.business_key ="
			   " k.key AND s.status IN " OPEN_STATUSES ")"
			   " UNION ALL (SELECT s.id, 1 FROM %1$s.sagas s WHERE"
			   " s.definition_name = k.name AND s.business_key ="
			   " k.key AND s.status NOT IN " OPEN_STATUSES
			   " ORDER BY s.created_at DESC LIMIT 1)"
			   " ORDER BY o LIMIT 1) l)"
			   " ORDER BY id FOR UPDATE",
			   3, params, &res, "locking sagas", err);
	if (st == ORC_OK)
		st = read_sagas(store, cat, res, set, READ_QUARANTINE, err);
done:
	PQclear(res);
	orc_pgarray_finish(&a);
	orc_pgarray_finish(&b);
	orc_pgarray_finish(&c);
	return st;
}

enum orc_status
orc_store_claim_due(struct orc_store *store, struct orc_catalog *cat,
		    int64_t now_ms, int limit, struct orc_saga_set *set,
		    struct orc_error *err)
{
	char now[24], lim[16];
	const char *params[2] = {now, lim};
	PGresult *res;
	enum orc_status st;

	snprintf(now, sizeof(now), "%lld", (long long)now_ms);
	snprintf(lim, sizeof(lim), "%d", limit);
	st = orc_store_run(store,
			   "SELECT " ORC_STORE_SELECT_LIST(SAGA_COLUMNS)
			   " FROM %1$s.sagas"
			   " WHERE wake_at <= to_timestamp($1::bigint / 1000.0)"
			   " AND quarantined_at IS NULL"
			   " ORDER BY wake_at LIMIT $2::int FOR UPDATE SKIP LOCKED",
			   2, params, &res, "claiming due sagas", err);
	if (st != ORC_OK)
		return st;
	st = read_sagas(store, cat, res, set, READ_QUARANTINE, err);
	PQclear(res);
	return st;
}

enum orc_status
orc_store_quarantine_saga(struct orc_store *store, const char *id,
			  const char *reason, struct orc_error *err)
{
	const char *params[2] = {id, reason};

	return orc_store_run(store,
			     "WITH s AS (UPDATE %1$s.sagas SET quarantined_at ="
			     " now(), quarantine_reason = $2 WHERE id = $1::uuid"
			     " AND quarantined_at IS NULL RETURNING id)"
			     " INSERT INTO %1$s.saga_history (saga_id, kind,"
			     " detail) SELECT id, 'saga.quarantined',"
			     " jsonb_build_object('reason', $2::text) FROM s",
			     2, params, NULL, "quarantining a saga", err);
}

enum orc_status
orc_store_release_saga(struct orc_store *store, struct orc_catalog *cat,
		       const char *id, char *reason, struct orc_error *err)
{
	const char *params[2] = {id, NULL};
	struct orc_saga_set set;
	PGresult *res = NULL;
	enum orc_status st;

	reason[0] = '\0';
	orc_saga_set_init(&set);
	st = orc_store_run(store,
			   "SELECT " ORC_STORE_SELECT_LIST(SAGA_COLUMNS)
			   " FROM %1$s.sagas WHERE id = $1::uuid FOR UPDATE",
			   1, params, &res, "locking a saga", err);
	if (st != ORC_OK)
		goto done;
	if (PQntuples(res) == 0) {
		st = orc_error_set(err, ORC_NOT_FOUND, "no saga with id %s", id);
		goto done;
	}
	if (PQgetisnull(res, 0, SAGA_QUARANTINE)) {
		st = orc_error_set(err, ORC_CONFLICT,
				   "saga %s is not quarantined", id);
		goto done;
	}
	snprintf(reason, ORC_ERROR_MSG_MAX, "%s",
		 PQgetvalue(res, 0, SAGA_QUARANTINE));
	st = read_sagas(store, cat, res, &set, READ_STRICT, err);
	if (st == ORC_INVALID)
		orc_error_prefix(err, "still unreadable");
	params[1] = reason;
	if (st == ORC_OK)
		st = orc_store_run(store,
				   "WITH s AS (UPDATE %1$s.sagas SET"
				   " quarantined_at = NULL, quarantine_reason = NULL"
				   " WHERE id = $1::uuid RETURNING id)"
				   " INSERT INTO %1$s.saga_history (saga_id, kind,"
				   " detail) SELECT id, 'saga.released',"
				   " jsonb_build_object('quarantined_for', $2::text)"
				   " FROM s",
				   2, params, NULL, "releasing a saga", err);
done:
	PQclear(res);
	orc_saga_set_finish(&set);
	return st;
}

/* ---- timers ---- */

enum orc_status
orc_store_defer_wake(struct orc_store *store, const char *id, int64_t until_ms,
		     const char *reason, struct orc_error *err)
{
	char until[24];
	json_t *detail = json_pack("{ss}", "error", reason);
	char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	const char *params[3] = {id, until, text};
	enum orc_status st;

	json_decref(detail);
	if (text == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	snprintf(until, sizeof(until), "%lld", (long long)until_ms);
	st = orc_store_run(store,
			   "WITH s AS (UPDATE %1$s.sagas SET wake_at ="
			   " to_timestamp($2::bigint / 1000.0) WHERE id = $1::uuid"
			   " RETURNING id)"
			   " INSERT INTO %1$s.saga_history (saga_id, kind, detail)"
			   " SELECT id, 'timer.deferred', $3::jsonb FROM s",
			   3, params, NULL, "deferring wake-up", err);
	free(text);
	return st;
}

/* ---- writing ---- */

/*
 * The parameters of the four write statements: one array each, in the
 * order of the table, as X(enum name, parameter number, element type,
 * name in the statement).  UNNEST() and UNNEST_AS() turn a table into the
 * statement's "unnest($1::uuid[], ...)" and its column names; the
 * numbers are checked against the enum at compile time.
 */
#define SAGA_PARAMS(X, Y)                                                      \
	X(S_ID, 1, uuid, id)                                                   \
	Y(S_NAME, 2, text, name)                                               \
	Y(S_VERSION, 3, int, version)                                          \
	Y(S_KEY, 4, text, key)                                                 \
	Y(S_STATUS, 5, text, status)                                           \
	Y(S_CAUSE, 6, text, cause)                                             \
	Y(S_CONTEXT, 7, text, ctx)                                             \
	Y(S_STARTED, 8, bigint, started)                                       \
	Y(S_DEADLINE, 9, bigint, deadline)                                     \
	Y(S_WAKE, 10, bigint, wake)                                            \
	Y(S_SEQ, 11, int, seq)                                                 \
	Y(S_FAILURE, 12, text, failure)                                        \
	Y(S_OUTPUT, 13, text, output)                                          \
	Y(S_LIFECYCLE, 14, int, lifecycle)                                     \
	Y(S_PAUSED, 15, bigint, paused)                                        \
	Y(S_PARENT, 16, uuid, parent)                                          \
	Y(S_PARENT_STEP, 17, text, pstep)

#define STEP_PARAMS(X, Y)                                                      \
	X(T_SAGA, 1, uuid, saga)                                               \
	Y(T_NAME, 2, text, name)                                               \
	Y(T_INDEX, 3, int, idx)                                                \
	Y(T_STATUS, 4, text, status)                                           \
	Y(T_ATTEMPT, 5, int, attempt)                                          \
	Y(T_ATTEMPT_BASE, 6, int, abase)                                       \
	Y(T_COMP, 7, int, comp)                                                \
	Y(T_COMP_BASE, 8, int, cbase)                                          \
	Y(T_STARTED, 9, bigint, started)                                       \
	Y(T_FINISHED, 10, bigint, finished)                                    \
	Y(T_WAKE, 11, bigint, wake)                                            \
	Y(T_REASON, 12, text, reason)                                          \
	Y(T_SEQ, 13, int, seq)                                                 \
	Y(T_ERROR, 14, text, error)                                            \
	Y(T_EARLY, 15, text, early)                                            \
	Y(T_OUTPUT, 16, text, output)                                          \
	Y(T_REPLIES, 17, text, replies)                                        \
	Y(T_MAP, 18, text, map)

#define HISTORY_PARAMS(X, Y)                                                   \
	X(H_SAGA, 1, uuid, saga)                                               \
	Y(H_AT, 2, bigint, at)                                                 \
	Y(H_KIND, 3, text, kind)                                               \
	Y(H_STEP, 4, text, step)                                               \
	Y(H_EVENT, 5, text, event)                                             \
	Y(H_DETAIL, 6, text, detail)

#define OUTBOX_PARAMS(X, Y)                                                    \
	X(O_SAGA, 1, uuid, saga)                                               \
	Y(O_MSGID, 2, text, msgid)                                             \
	Y(O_TOPIC, 3, text, topic)                                             \
	Y(O_TYPE, 4, text, type)                                               \
	Y(O_SOURCE, 5, text, source)                                           \
	Y(O_STEP, 6, text, step)                                               \
	Y(O_REPLY, 7, text, reply)                                             \
	Y(O_PAYLOAD, 8, text, payload)                                         \
	Y(O_TRACE, 9, text, trace)

#define PARAM_NAME ORC_STORE_PARAM_NAME
#define PARAM_CHECK ORC_STORE_PARAM_CHECK
#define UNNEST ORC_STORE_UNNEST
#define UNNEST_AS ORC_STORE_UNNEST_AS

enum saga_param { SAGA_PARAMS(PARAM_NAME, PARAM_NAME) S_COLS };
enum step_param { STEP_PARAMS(PARAM_NAME, PARAM_NAME) T_COLS };
enum history_param { HISTORY_PARAMS(PARAM_NAME, PARAM_NAME) H_COLS };
enum outbox_param { OUTBOX_PARAMS(PARAM_NAME, PARAM_NAME) O_COLS };
SAGA_PARAMS(PARAM_CHECK, PARAM_CHECK)
STEP_PARAMS(PARAM_CHECK, PARAM_CHECK)
HISTORY_PARAMS(PARAM_CHECK, PARAM_CHECK)
OUTBOX_PARAMS(PARAM_CHECK, PARAM_CHECK)

/* The widest of the four, for plan_cols(). */
#define MAX_COLS ((int)T_COLS)
_Static_assert((int)S_COLS <= MAX_COLS && (int)H_COLS <= MAX_COLS &&
		       (int)O_COLS <= MAX_COLS,
	       "MAX_COLS is the widest statement");

struct orc_write_batch {
	struct orc_pgarray sagas[S_COLS];
	struct orc_pgarray steps[T_COLS];
	struct orc_pgarray history[H_COLS];
	struct orc_pgarray outbox[O_COLS];
	struct orc_item_writes items; /* map items (store_items.h) */
	size_t n_sagas, n_steps, n_history, n_outbox;
	char *lifecycle_topic; /* NULL: lifecycle events are not written */
};

struct orc_write_batch *
orc_write_batch_create(void)
{
	/* all zero: every column an empty orc_pgarray */
	return calloc(1, sizeof(struct orc_write_batch));
}

/* Apply fn to the n arrays of cols. */
static void
cols_each(struct orc_pgarray *cols, int n, void (*fn)(struct orc_pgarray *))
{
	for (int i = 0; i < n; i++)
		fn(&cols[i]);
}

void
orc_write_batch_destroy(struct orc_write_batch *wb)
{
	if (wb == NULL)
		return;
	cols_each(wb->sagas, S_COLS, orc_pgarray_finish);
	cols_each(wb->steps, T_COLS, orc_pgarray_finish);
	cols_each(wb->history, H_COLS, orc_pgarray_finish);
	cols_each(wb->outbox, O_COLS, orc_pgarray_finish);
	orc_item_writes_finish(&wb->items);
	free(wb->lifecycle_topic);
	free(wb);
}

enum orc_status
orc_write_batch_lifecycle(struct orc_write_batch *wb, const char *topic,
			  struct orc_error *err)
{
	char *copy = NULL;

	if (topic != NULL && *topic != '\0' && (copy = strdup(topic)) == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	free(wb->lifecycle_topic);
	wb->lifecycle_topic = copy;
	return ORC_OK;
}

void
orc_write_batch_reset(struct orc_write_batch *wb)
{
	cols_each(wb->sagas, S_COLS, orc_pgarray_reset);
	cols_each(wb->steps, T_COLS, orc_pgarray_reset);
	cols_each(wb->history, H_COLS, orc_pgarray_reset);
	cols_each(wb->outbox, O_COLS, orc_pgarray_reset);
	orc_item_writes_reset(&wb->items);
	wb->n_sagas = wb->n_steps = wb->n_history = wb->n_outbox = 0;
}

static bool
cols_oom(const struct orc_pgarray *cols, int n)
{
	for (int i = 0; i < n; i++)
		if (orc_pgarray_oom(&cols[i]))
			return true;
	return false;
}

/* The engine writes "none" where the column holds NULL. */
static const char *
none_as_null(const char *s)
{
	return strcmp(s, "none") == 0 ? NULL : s;
}

enum orc_status
orc_write_batch_saga(struct orc_write_batch *wb, struct orc_stored_saga *ss,
		     struct orc_error *err)
{
	struct orc_saga *saga = &ss->saga;
	struct orc_pgarray *c = wb->sagas, *t = wb->steps;
	struct orc_saga_row row;
	char *ctx, *saga_output = NULL;

	if (orc_saga_to_row(saga, &row) != ORC_OK)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	ctx = json_dumps(row.context, JSON_COMPACT);
	if (row.output != NULL)
		saga_output = json_dumps(row.output,
					 JSON_COMPACT | JSON_ENCODE_ANY);
	orc_saga_row_finish(&row);
	if (ctx == NULL || (row.output != NULL && saga_output == NULL)) {
		free(ctx);
		free(saga_output);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	orc_pgarray_text(&c[S_ID], row.id);
	orc_pgarray_text(&c[S_NAME], saga->def->name);
	orc_pgarray_int(&c[S_VERSION], saga->def->version);
	orc_pgarray_text(&c[S_KEY], row.key);
	orc_pgarray_text(&c[S_STATUS], row.status);
	orc_pgarray_text(&c[S_CAUSE], none_as_null(row.cause));
	orc_pgarray_text(&c[S_CONTEXT], ctx);
	orc_pgarray_int(&c[S_STARTED], row.started_ms);
	orc_pgarray_int(&c[S_DEADLINE], row.deadline_ms);
	orc_pgarray_int(&c[S_WAKE], row.wake_ms);
	orc_pgarray_int(&c[S_SEQ], row.seq);
	orc_pgarray_text(&c[S_FAILURE], row.failure_reason);
	orc_pgarray_text(&c[S_OUTPUT], saga_output);
	orc_pgarray_int(&c[S_LIFECYCLE], row.lifecycle_seq);
	orc_pgarray_int(&c[S_PAUSED], row.paused_ms);
	orc_pgarray_text(&c[S_PARENT],
			 ss->parent_id[0] != '\0' ? ss->parent_id : NULL);
	orc_pgarray_text(&c[S_PARENT_STEP],
			 ss->parent_step[0] != '\0' ? ss->parent_step : NULL);
	free(ctx);
	free(saga_output);
	wb->n_sagas++;

	for (size_t i = 0; i < saga->n_steps; i++) {
		struct orc_step_row s;
		char *early = NULL, *output = NULL, *replies = NULL;

		if (!saga->steps[i].changed)
			continue;
		saga->steps[i].changed = false;
		orc_saga_step_to_row(saga, i, &s);
		if (s.early_event != NULL)
			early = json_dumps(s.early_event,
					   JSON_COMPACT | JSON_ENCODE_ANY);
		if (s.output != NULL)
			output = json_dumps(s.output,
					    JSON_COMPACT | JSON_ENCODE_ANY);
		if (s.replies != NULL)
			replies = json_dumps(s.replies, JSON_COMPACT);
		if ((s.early_event != NULL && early == NULL) ||
		    (s.output != NULL && output == NULL) ||
		    (s.replies != NULL && replies == NULL)) {
			free(early);
			free(output);
			free(replies);
			return orc_error_set(err, ORC_FATAL, "out of memory");
		}
		orc_pgarray_text(&t[T_SAGA], row.id);
		orc_pgarray_text(&t[T_NAME], s.name);
		orc_pgarray_int(&t[T_INDEX], (int64_t)i);
		orc_pgarray_text(&t[T_STATUS], s.status);
		orc_pgarray_int(&t[T_ATTEMPT], s.attempt);
		orc_pgarray_int(&t[T_ATTEMPT_BASE], s.attempt_base);
		orc_pgarray_int(&t[T_COMP], s.comp_attempt);
		orc_pgarray_int(&t[T_COMP_BASE], s.comp_attempt_base);
		orc_pgarray_int(&t[T_STARTED], s.started_ms);
		orc_pgarray_int(&t[T_FINISHED], s.finished_ms);
		orc_pgarray_int(&t[T_WAKE], s.wake_ms);
		orc_pgarray_text(&t[T_REASON], none_as_null(s.wake_reason));
		orc_pgarray_int(&t[T_SEQ], s.completed_seq);
		orc_pgarray_text(&t[T_ERROR], s.last_error);
		orc_pgarray_text(&t[T_EARLY], early);
		orc_pgarray_text(&t[T_OUTPUT], output);
		orc_pgarray_text(&t[T_REPLIES], replies);
		if (s.map.has) {
			char map[9 * 24];

			snprintf(map, sizeof(map),
				 "{%lld,%d,%lld,%lld,%lld,%lld,%lld,%lld,%d}",
				 (long long)s.map.items, s.map.concurrency,
				 (long long)s.map.min_success,
				 (long long)s.map.started,
				 (long long)s.map.succeeded,
				 (long long)s.map.failed,
				 (long long)s.map.compensated,
				 (long long)s.map.last_seq, s.map.run);
			orc_pgarray_text(&t[T_MAP], map);
		} else {
			orc_pgarray_text(&t[T_MAP], NULL);
		}
		free(early);
		free(output);
		free(replies);
		wb->n_steps++;
	}
	if (cols_oom(wb->sagas, S_COLS) || cols_oom(wb->steps, T_COLS))
		return orc_error_set(err, ORC_FATAL, "out of memory");
	return orc_item_writes_saga(&wb->items, saga, err);
}

enum orc_status
orc_write_batch_effects(struct orc_write_batch *wb, const struct orc_saga *saga,
			const struct orc_effects *fx,
			const struct orc_effect_origin *origin,
			struct orc_error *err)
{
	struct orc_pgarray *h = wb->history, *o = wb->outbox;
	char source[ORC_NAME_MAX + 16];

	snprintf(source, sizeof(source), "/orchestrator/%s", saga->def->name);
	for (size_t i = 0; i < fx->n; i++) {
		const struct orc_effect *e = &fx->v[i];
		char step[ORC_NAME_MAX + 24];
		char *text;

		switch (e->kind) {
		case ORC_EFFECT_HISTORY:
			text = json_dumps(e->detail, JSON_COMPACT | JSON_SORT_KEYS);
			if (text == NULL)
				return orc_error_set(err, ORC_FATAL, "out of memory");
			orc_pgarray_text(&h[H_SAGA], saga->id);
			orc_pgarray_int(&h[H_AT], origin->now_ms);
			orc_pgarray_text(&h[H_KIND], e->history);
			orc_pgarray_text(&h[H_STEP], e->step_name);
			orc_pgarray_text(&h[H_EVENT], origin->event_id);
			orc_pgarray_text(&h[H_DETAIL], text);
			free(text);
			wb->n_history++;
			break;
		case ORC_EFFECT_COMMAND:
			text = e->data ? json_dumps(e->data, JSON_COMPACT |
							     JSON_ENCODE_ANY)
				       : strdup("null");
			if (text == NULL)
				return orc_error_set(err, ORC_FATAL, "out of memory");
			orc_pgarray_text(&o[O_SAGA], saga->id);
			orc_pgarray_text(&o[O_MSGID], e->message_id);
			orc_pgarray_text(&o[O_TOPIC], e->topic);
			orc_pgarray_text(&o[O_TYPE], e->type);
			orc_pgarray_text(&o[O_SOURCE], source);
			/* a map item's replies name it: "<step>[<item>]" */
			if (e->item >= 0)
				snprintf(step, sizeof(step), "%s[%lld]",
					 e->step_name, (long long)e->item);
			orc_pgarray_text(&o[O_STEP],
					 e->item >= 0 ? step : e->step_name);
			orc_pgarray_text(&o[O_REPLY], origin->reply_to);
			orc_pgarray_text(&o[O_PAYLOAD], text);
			orc_pgarray_text(&o[O_TRACE], origin->traceparent);
			free(text);
			wb->n_outbox++;
			break;
		case ORC_EFFECT_CHILD:
			/* the apply layer acts on these (apply_child.c) */
			break;
		case ORC_EFFECT_SAGA_EVENT:
			/*
			 * A lifecycle event: an outbox row in the same lane as
			 * the saga's commands, in effect order, without step
			 * or replyto (nobody answers it).
			 */
			if (wb->lifecycle_topic == NULL)
				break;
			text = json_dumps(e->data, JSON_COMPACT);
			if (text == NULL)
				return orc_error_set(err, ORC_FATAL, "out of memory");
			orc_pgarray_text(&o[O_SAGA], saga->id);
			orc_pgarray_text(&o[O_MSGID], e->message_id);
			orc_pgarray_text(&o[O_TOPIC], wb->lifecycle_topic);
			orc_pgarray_text(&o[O_TYPE], e->type);
			orc_pgarray_text(&o[O_SOURCE], source);
			orc_pgarray_text(&o[O_STEP], NULL);
			orc_pgarray_text(&o[O_REPLY], NULL);
			orc_pgarray_text(&o[O_PAYLOAD], text);
			orc_pgarray_text(&o[O_TRACE], origin->traceparent);
			free(text);
			wb->n_outbox++;
			break;
		}
	}
	if (cols_oom(wb->history, H_COLS) || cols_oom(wb->outbox, O_COLS))
		return orc_error_set(err, ORC_FATAL, "out of memory");
	return ORC_OK;
}

size_t
orc_write_batch_outbox_rows(const struct orc_write_batch *wb)
{
	return wb->n_outbox;
}

size_t
orc_write_batch_history_rows(const struct orc_write_batch *wb)
{
	return wb->n_history;
}

/* The statements of one write, queued for orc_store_pipeline(). */
struct write_plan {
	struct orc_store_stmt stmts[7];
	const char *params[6][MAX_COLS];
	size_t n;
};

/* Queue the write statement tmpl with the n column arrays of cols. */
static enum orc_status
plan_cols(struct write_plan *plan, struct orc_pgarray *cols, int n,
	  const char *tmpl, const char *what, struct orc_error *err)
{
	const char **params = plan->params[plan->n];

	for (int i = 0; i < n; i++) {
		params[i] = orc_pgarray_done(&cols[i]);
		if (params[i] == NULL)
			return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	plan->stmts[plan->n++] = (struct orc_store_stmt){
		.tmpl = tmpl, .n = n, .params = params, .prepare = true,
		.what = what};
	return ORC_OK;
}

#define FINAL_STATUSES "('completed', 'compensated', 'failed', 'cancelled', 'timed_out')"

/*
 * The saga's wake_at is indexed (the timers claim by it), so changing it
 * makes the update non-HOT: every index of the table gets a new entry.
 * In a sequence of quick steps, each with a timeout, every transition
 * would move it a little later.  So a wake-up still ahead is kept when
 * the new one is at most WAKE_SLACK later: the saga wakes a little early
 * (the engine finds nothing due, records timer.ignored, and the write
 * then sets the exact time), and most updates touch no indexed column.
 * wake_at is thus "no later than the earliest timer", never later.
 */
#define WAKE_SLACK "interval '1 second'"
#define LAZY_WAKE                                                              \
	"CASE WHEN EXCLUDED.wake_at IS NOT NULL AND %1$s.sagas.wake_at > now()" \
	" AND %1$s.sagas.wake_at <= EXCLUDED.wake_at"                          \
	" AND EXCLUDED.wake_at <= %1$s.sagas.wake_at + " WAKE_SLACK            \
	" THEN %1$s.sagas.wake_at ELSE EXCLUDED.wake_at END"

enum orc_status
orc_store_write_commit(struct orc_store *store, struct orc_write_batch *wb,
		       struct orc_error *err)
{
	struct write_plan plan = {.n = 0};
	enum orc_status st = ORC_OK;

	if (wb->n_sagas > 0)
		st = plan_cols(&plan, wb->sagas, S_COLS,
			"INSERT INTO %1$s.sagas (id, definition_name,"
			" definition_version, business_key, status, failing_reason,"
			" context, created_at, deadline_at, wake_at, completion_seq,"
			" failure, output, lifecycle_seq, paused_at, finished_at,"
			" parent_id, parent_step)"
			" SELECT u.id, u.name, u.version, u.key, u.status, u.cause,"
			" u.ctx::jsonb, to_timestamp(u.started / 1000.0), "
			TS("u.deadline") ", " TS("u.wake") ", u.seq, u.failure,"
			" u.output::jsonb, u.lifecycle, " TS("u.paused") ","
			" CASE WHEN u.status IN " FINAL_STATUSES " THEN now() END,"
			" u.parent, u.pstep"
			" FROM " UNNEST(SAGA_PARAMS)
			" AS u(" UNNEST_AS(SAGA_PARAMS) ")"
			" ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,"
			" definition_version = EXCLUDED.definition_version,"
			" failing_reason = EXCLUDED.failing_reason,"
			" context = EXCLUDED.context, deadline_at = EXCLUDED.deadline_at,"
			" wake_at = " LAZY_WAKE ","
			" completion_seq = EXCLUDED.completion_seq,"
			" failure = EXCLUDED.failure, output = EXCLUDED.output,"
			" lifecycle_seq = EXCLUDED.lifecycle_seq,"
			" paused_at = EXCLUDED.paused_at,"
			" version = %1$s.sagas.version + 1,"
			" updated_at = now(), finished_at = CASE WHEN EXCLUDED.status"
			" IN " FINAL_STATUSES " THEN coalesce(%1$s.sagas.finished_at,"
			" now()) END",
			"writing sagas", err);
	if (st == ORC_OK && wb->n_steps > 0)
		st = plan_cols(&plan, wb->steps, T_COLS,
			"INSERT INTO %1$s.saga_steps (saga_id, step_name, step_index,"
			" status, attempt, attempt_base, compensation_attempt,"
			" compensation_attempt_base, started_at, finished_at, wake_at,"
			" wake_reason, completed_seq, last_error, early_event, output,"
			" replies, map_items, map_concurrency, map_min_success,"
			" map_started, map_succeeded, map_failed, map_compensated,"
			" map_last_seq, map_run)"
			" SELECT u.saga, u.name, u.idx, u.status, u.attempt, u.abase,"
			" u.comp, u.cbase, " TS("u.started") ", " TS("u.finished")
			", " TS("u.wake") ", u.reason, nullif(u.seq, 0), u.error,"
			" u.early::jsonb, u.output::jsonb, u.replies::jsonb,"
			" m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9]"
			" FROM " UNNEST(STEP_PARAMS)
			" AS u(" UNNEST_AS(STEP_PARAMS) "),"
			" LATERAL (SELECT u.map::int[] AS m) mm"
			" ON CONFLICT (saga_id, step_name) DO UPDATE SET"
			" status = EXCLUDED.status, attempt = EXCLUDED.attempt,"
			" attempt_base = EXCLUDED.attempt_base,"
			" compensation_attempt = EXCLUDED.compensation_attempt,"
			" compensation_attempt_base = EXCLUDED.compensation_attempt_base,"
			" started_at = EXCLUDED.started_at,"
			" finished_at = EXCLUDED.finished_at, wake_at = EXCLUDED.wake_at,"
			" wake_reason = EXCLUDED.wake_reason,"
			" completed_seq = EXCLUDED.completed_seq,"
			" last_error = EXCLUDED.last_error,"
			" early_event = EXCLUDED.early_event,"
			" output = EXCLUDED.output, replies = EXCLUDED.replies,"
			" map_items = EXCLUDED.map_items,"
			" map_concurrency = EXCLUDED.map_concurrency,"
			" map_min_success = EXCLUDED.map_min_success,"
			" map_started = EXCLUDED.map_started,"
			" map_succeeded = EXCLUDED.map_succeeded,"
			" map_failed = EXCLUDED.map_failed,"
			" map_compensated = EXCLUDED.map_compensated,"
			" map_last_seq = EXCLUDED.map_last_seq,"
			" map_run = EXCLUDED.map_run",
			"writing saga steps", err);
	/* a map's old rows go before the new ones come */
	if (st == ORC_OK && wb->items.n_fresh > 0)
		st = plan_cols(&plan, wb->items.fresh, F_COLS,
			       orc_item_fresh_sql, "deleting old map items",
			       err);
	if (st == ORC_OK && wb->items.n_items > 0)
		st = plan_cols(&plan, wb->items.items, I_COLS,
			       orc_item_upsert_sql, "writing map items", err);
	/* history and outbox rows keep the order they were queued in */
	if (st == ORC_OK && wb->n_history > 0)
		st = plan_cols(&plan, wb->history, H_COLS,
			"INSERT INTO %1$s.saga_history (saga_id, at, kind, step_name,"
			" event_id, detail)"
			" SELECT u.saga, to_timestamp(u.at / 1000.0), u.kind, u.step,"
			" u.event, u.detail::jsonb"
			" FROM " UNNEST(HISTORY_PARAMS) " WITH ORDINALITY"
			" AS u(" UNNEST_AS(HISTORY_PARAMS) ", n) ORDER BY u.n",
			"writing saga history", err);
	if (st == ORC_OK && wb->n_outbox > 0)
		st = plan_cols(&plan, wb->outbox, O_COLS,
			"INSERT INTO %1$s.outbox (saga_id, lane, message_id, topic,"
			" type, source, step_name, reply_to, payload, traceparent)"
			" SELECT u.saga, hashtext(u.saga::text) & 15, u.msgid, u.topic,"
			" u.type, u.source, u.step, u.reply, u.payload, u.trace"
			" FROM " UNNEST(OUTBOX_PARAMS) " WITH ORDINALITY"
			" AS u(" UNNEST_AS(OUTBOX_PARAMS) ", n) ORDER BY u.n",
			"writing outbox", err);
	if (st != ORC_OK)
		return st;
	plan.stmts[plan.n++] = (struct orc_store_stmt){
		.tmpl = "COMMIT", .what = "committing"};
	return orc_store_pipeline(store, plan.stmts, plan.n, err);
}

enum orc_status
orc_store_prune_steps(struct orc_store *store, const char *saga_id,
		      const char *const *names, size_t n,
		      struct orc_error *err)
{
	struct orc_pgarray a;
	const char *params[2];
	PGresult *res = NULL;
	enum orc_status st;

	orc_pgarray_init(&a);
	orc_pgarray_texts(&a, names, n);
	params[0] = saga_id;
	params[1] = orc_pgarray_done(&a);
	if (params[1] == NULL)
		st = orc_error_set(err, ORC_FATAL, "out of memory");
	else
		st = orc_store_run(store,
				   "DELETE FROM %1$s.saga_steps WHERE saga_id ="
				   " $1::uuid AND step_name <> ALL($2::text[])",
				   2, params, &res, "deleting old step rows", err);
	PQclear(res);
	orc_pgarray_finish(&a);
	return st;
}
