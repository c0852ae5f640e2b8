/*
 * store_saga.c - the apply path's SQL for sagas: read and locked in sets,
 * written back from arrays.
 *
 * A batch locks every saga it touches in one statement (ORDER BY id FOR
 * UPDATE, so two workers never deadlock), with their open steps
 * (saga_row.h), and reads all their step rows in a second (and the map
 * items their engine needs, store_items.c); rows become sagas through the
 * engine's row codec.  Writing is the reverse,
 * in set-based statements (store_write.c).  Times are int64 milliseconds
 * here and timestamptz there; 0 means NULL.
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

#define MS ORC_STORE_MS
/* The statuses of a saga that is not over (sagas_open_key_idx). */
#define OPEN_STATUSES "('running', 'compensating', 'stuck')"

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
	Y(SAGA_PARENT_STEP, "coalesce(parent_step, '')")                       \
	Y(SAGA_OPEN, "open_steps::text")

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
	if (st == ORC_OK)
		st = orc_store_json(sagas, r, SAGA_OPEN, &row.open_steps,
				    "open_steps", err);
	if (st != ORC_OK) {
		json_decref(row.context);
		json_decref(row.output);
		return st;
	}
	if (def->n_steps > cap) {
		cap = def->n_steps;
		rows = calloc(cap, sizeof(*rows));
		if (rows == NULL) {
			json_decref(row.context);
			json_decref(row.output);
			json_decref(row.open_steps);
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
	ss = orc_saga_set_push(set);
	if (ss == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	st = orc_saga_from_rows(&ss->saga, def, &row, rows, n, err);
	if (st == ORC_OK) {
		ss->row_context = json_incref(row.context);
		snprintf(ss->parent_id, sizeof(ss->parent_id), "%s",
			 PQgetvalue(sagas, r, SAGA_PARENT));
		snprintf(ss->parent_step, sizeof(ss->parent_step), "%s",
			 PQgetvalue(sagas, r, SAGA_PARENT_STEP));
	}
	if (st != ORC_OK)
		orc_saga_set_pop(set);
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
	json_decref(row.open_steps);
	return st;
}

/* How read_sagas() takes a saga row that cannot be read. */
enum read_mode {
	READ_QUARANTINE, /* set it aside and go on: the apply path */
	READ_STRICT,     /* fail with the reason: a release */
};

/* A new entry of set->quarantined (to fill); NULL when out of memory. */
static struct orc_quarantined_saga *
push_quarantined(struct orc_saga_set *set, struct orc_error *err)
{
	struct orc_quarantined_saga *q = orc_saga_set_push_quarantined(set);

	if (q == NULL)
		orc_error_set(err, ORC_FATAL, "out of memory");
	return q;
}

/* List saga row r of sagas in set->quarantined, for reason. */
static enum orc_status
list_quarantined(struct orc_saga_set *set, const PGresult *sagas, int r,
		 const char *reason, struct orc_error *err)
{
	struct orc_quarantined_saga *q = push_quarantined(set, err);

	if (q == NULL)
		return ORC_FATAL;
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

/*
 * The map items the sagas set->v[first..] need, in one query for them
 * all.  A saga whose item rows do not decode is quarantined (or, strict,
 * fails the read) like one whose own rows do not.
 */
static enum orc_status
read_items(struct orc_store *store, struct orc_saga_set *set, size_t first,
	   enum read_mode mode, struct orc_error *err)
{
	char reason[ORC_ERROR_MSG_MAX];
	struct orc_quarantined_saga *q;
	struct orc_stored_saga *ss;
	enum orc_status st;
	size_t bad;

	for (;;) {
		st = orc_store_load_map_items(store, set->v + first,
					      set->n - first, &bad, err);
		if (st != ORC_INVALID)
			return st;
		ss = set->v[first + bad];
		if (mode == READ_STRICT) {
			orc_error_prefix(err, "saga %s", ss->saga.id);
			return ORC_INVALID;
		}
		snprintf(reason, sizeof(reason), "%s",
			 without_saga(err->message, ss->saga.id));
		q = push_quarantined(set, err);
		if (q == NULL)
			return ORC_FATAL;
		snprintf(q->id, sizeof(q->id), "%s", ss->saga.id);
		snprintf(q->def_name, sizeof(q->def_name), "%s",
			 ss->saga.def->name);
		snprintf(q->key, sizeof(q->key), "%s", ss->saga.key);
		snprintf(q->reason, sizeof(q->reason), "%s", reason);
		st = orc_store_quarantine_saga(store, q->id, reason, err);
		if (st != ORC_OK)
			return st;
		/* out of the set; those before it have their items */
		orc_saga_set_remove(set, first + bad);
		first += bad;
	}
}

/* Read the steps of the sagas in res and take them all into set. */
static enum orc_status
read_sagas(struct orc_store *store, struct orc_catalog *cat, PGresult *sagas,
	   struct orc_saga_set *set, enum read_mode mode, struct orc_error *err)
{
	struct orc_pgarray *ids;
	const char *params[1];
	PGresult *steps = NULL;
	enum orc_status st = ORC_OK;
	size_t first = set->n;

	if (PQntuples(sagas) == 0)
		return ORC_OK;
	ids = orc_store_scratch(store, ORC_SCRATCH_STEP_IDS);
	for (int i = 0; i < PQntuples(sagas); i++)
		orc_pgarray_text(ids, PQgetvalue(sagas, i, SAGA_ID));
	params[0] = orc_pgarray_done(ids);
	if (params[0] == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	st = orc_store_run(store,
			   "SELECT " ORC_STORE_SELECT_LIST(STEP_COLUMNS)
			   " FROM %1$s.saga_step_rows WHERE saga_id = ANY($1::uuid[])"
			   " ORDER BY saga_id, step_index",
			   1, params, &steps, "reading saga steps", err);
	for (int i = 0; st == ORC_OK && i < PQntuples(sagas); i++)
		st = take_saga(store, cat, sagas, i, steps, set, mode, err);
	PQclear(steps);
	if (st == ORC_OK)
		st = read_items(store, set, first, mode, err);
	return st;
}

static enum orc_status
lock_sagas_once(struct orc_store *store, struct orc_catalog *cat,
		const char *const *ids, size_t n_ids, const char *const *names,
		const char *const *keys, size_t n_keys,
		struct orc_saga_set *set, struct orc_error *err)
{
	struct orc_pgarray *a, *b, *c;
	const char *params[3];
	PGresult *res = NULL;
	enum orc_status st;

	if (n_ids == 0 && n_keys == 0)
		return ORC_OK;
	a = orc_store_scratch(store, ORC_SCRATCH_LOCK_IDS);
	b = orc_store_scratch(store, ORC_SCRATCH_LOCK_NAMES);
	c = orc_store_scratch(store, ORC_SCRATCH_LOCK_KEYS);
	orc_pgarray_texts(a, ids, n_ids);
	orc_pgarray_texts(b, names, n_keys);
	orc_pgarray_texts(c, keys, n_keys);
	params[0] = orc_pgarray_done(a);
	params[1] = orc_pgarray_done(b);
	params[2] = orc_pgarray_done(c);
	if (params[0] == NULL || params[1] == NULL || params[2] == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
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
	PQclear(res);
	return st;
}

/*
 * The ids of ids[0..n) that set has neither read nor quarantined, into
 * missing (room for n); their number.
 */
static size_t
missing_ids(const struct orc_saga_set *set, const char *const *ids, size_t n,
	    const char **missing)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		if (orc_saga_set_find(set, ids[i]) == NULL &&
		    orc_saga_set_quarantined(set, ids[i]) == NULL)
			missing[m++] = ids[i];
	return m;
}

/*
 * A row another transaction updated while this one waited for its lock
 * can drop out of the lock query: READ COMMITTED re-checks the row's new
 * version against the query, and this one's IN over unnest() has been
 * seen to lose it (the benchmark's fan-out scenario with the overlapped
 * apply, where the batch before updates the sagas of the next one: a few
 * of every few hundred ids, each found by asking again).  So the ids the
 * set did not get are asked for again, by a statement that sees the
 * committed row, up to LOCK_ATTEMPTS times while that finds more.  Keys
 * are not: a key without a saga is what every new saga's trigger has, and
 * a saga missed that way is caught by the open-key index (a second start
 * fails and the batch is redone) or by the parking's own check.
 */
#define LOCK_ATTEMPTS 3

enum orc_status
orc_store_lock_sagas(struct orc_store *store, struct orc_catalog *cat,
		     const char *const *ids, size_t n_ids,
		     const char *const *names, const char *const *keys,
		     size_t n_keys, struct orc_saga_set *set,
		     struct orc_error *err)
{
	const char **missing;
	size_t n_missing, before;
	enum orc_status st = lock_sagas_once(store, cat, ids, n_ids, names,
					     keys, n_keys, set, err);

	if (st != ORC_OK || n_ids == 0)
		return st;
	if (store->cap_lock_missing < n_ids) {
		missing = realloc(store->lock_missing, n_ids * sizeof(*missing));
		if (missing == NULL)
			return orc_error_set(err, ORC_FATAL, "out of memory");
		store->lock_missing = missing;
		store->cap_lock_missing = n_ids;
	}
	missing = store->lock_missing;
	n_missing = missing_ids(set, ids, n_ids, missing);
	for (int i = 1; st == ORC_OK && n_missing > 0 && i < LOCK_ATTEMPTS;
	     i++) {
		before = n_missing;
		st = lock_sagas_once(store, cat, missing, n_missing, NULL, NULL,
				     0, set, err);
		n_missing = missing_ids(set, missing, n_missing, missing);
		if (n_missing == before)
			break; /* they do not exist */
	}
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
			   " WHERE wake_at <= " ORC_STORE_TS_SET("$1::bigint")
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
			     " INSERT INTO %1$s.saga_transitions (saga_id, kind,"
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
				   " INSERT INTO %1$s.saga_transitions (saga_id, kind,"
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
			   " " ORC_STORE_TS_SET("$2::bigint") " WHERE id = $1::uuid"
			   " RETURNING id)"
			   " INSERT INTO %1$s.saga_transitions (saga_id, kind, detail)"
			   " SELECT id, 'timer.deferred', $3::jsonb FROM s",
			   3, params, NULL, "deferring wake-up", err);
	free(text);
	return st;
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
				   "DELETE FROM %1$s.saga_step_rows WHERE saga_id ="
				   " $1::uuid AND step_name <> ALL($2::text[])",
				   2, params, &res, "deleting old step rows", err);
	PQclear(res);
	orc_pgarray_finish(&a);
	return st;
}
