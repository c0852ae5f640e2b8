/*
 * store_items.c - map items: read what the engine needs, write what it
 * changed (store_items.h).
 *
 * A reply to a map of 10,000 items reads the few items in flight through
 * a partial index, not 10,000 rows; the map reads them all only when it
 * is about to complete (its result lists every item) or when the engine
 * asked for them by its ORC_WAKE_MAP_LOAD timer.  While the saga
 * compensates, the concurrency succeeded items that completed last come
 * too, through a second partial index, so the engine can start their
 * compensations latest first.
 */
#include "store_items.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "saga_row.h"

#define MS ORC_STORE_MS
#define TS ORC_STORE_TS

ORC_ITEM_PARAMS(ORC_STORE_PARAM_CHECK, ORC_STORE_PARAM_CHECK)

/* ---- writing ---- */

const char orc_item_fresh_sql[] =
	"DELETE FROM %1$s.saga_map_items i USING unnest($1::uuid[],"
	" $2::text[]) AS f(saga, step) WHERE i.saga_id = f.saga"
	" AND i.step_name = f.step";

const char orc_item_upsert_sql[] =
	"INSERT INTO %1$s.saga_map_items (saga_id, step_name, item_index,"
	" status, attempt, attempt_base, compensation_attempt,"
	" compensation_attempt_base, started_at, finished_at, wake_at,"
	" wake_reason, completed_seq, last_error, output, replies)"
	" SELECT u.saga, u.step, u.idx, u.status, u.attempt, u.abase, u.comp,"
	" u.cbase, " TS("u.started") ", " TS("u.finished") ", " TS("u.wake")
	", u.reason, nullif(u.seq, 0), u.error, u.output::jsonb,"
	" u.replies::jsonb"
	" FROM " ORC_STORE_UNNEST(ORC_ITEM_PARAMS)
	" AS u(" ORC_STORE_UNNEST_AS(ORC_ITEM_PARAMS) ")"
	" ON CONFLICT (saga_id, step_name, item_index) DO UPDATE SET"
	" status = EXCLUDED.status, attempt = EXCLUDED.attempt,"
	" attempt_base = EXCLUDED.attempt_base,"
	" compensation_attempt = EXCLUDED.compensation_attempt,"
	" compensation_attempt_base = EXCLUDED.compensation_attempt_base,"
	" started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,"
	" wake_at = EXCLUDED.wake_at, wake_reason = EXCLUDED.wake_reason,"
	" completed_seq = EXCLUDED.completed_seq,"
	" last_error = EXCLUDED.last_error, output = EXCLUDED.output,"
	" replies = EXCLUDED.replies";

void
orc_item_writes_reset(struct orc_item_writes *w)
{
	for (int i = 0; i < I_COLS; i++)
		orc_pgarray_reset(&w->items[i]);
	for (int i = 0; i < F_COLS; i++)
		orc_pgarray_reset(&w->fresh[i]);
	w->n_items = w->n_fresh = 0;
}

void
orc_item_writes_finish(struct orc_item_writes *w)
{
	for (int i = 0; i < I_COLS; i++)
		orc_pgarray_finish(&w->items[i]);
	for (int i = 0; i < F_COLS; i++)
		orc_pgarray_finish(&w->fresh[i]);
	w->n_items = w->n_fresh = 0;
}

/* Item pos of map step i, queued; false when out of memory. */
static bool
queue_item(struct orc_item_writes *w, const struct orc_saga *saga, size_t i,
	   size_t pos)
{
	struct orc_pgarray *c = w->items;
	struct orc_item_row r;
	char *output = NULL, *replies = NULL;

	orc_saga_item_to_row(saga, i, pos, &r);
	if (r.output != NULL &&
	    (output = json_dumps(r.output, JSON_COMPACT | JSON_ENCODE_ANY)) ==
		NULL)
		return false;
	if (r.replies != NULL &&
	    (replies = json_dumps(r.replies, JSON_COMPACT)) == NULL) {
		free(output);
		return false;
	}
	orc_pgarray_text(&c[I_SAGA], saga->id);
	orc_pgarray_text(&c[I_STEP], saga->def->steps[i].name);
	orc_pgarray_int(&c[I_INDEX], r.index);
	orc_pgarray_text(&c[I_STATUS], r.status);
	orc_pgarray_int(&c[I_ATTEMPT], r.attempt);
	orc_pgarray_int(&c[I_ABASE], r.attempt_base);
	orc_pgarray_int(&c[I_COMP], r.comp_attempt);
	orc_pgarray_int(&c[I_CBASE], r.comp_attempt_base);
	orc_pgarray_int(&c[I_STARTED], r.started_ms);
	orc_pgarray_int(&c[I_FINISHED], r.finished_ms);
	orc_pgarray_int(&c[I_WAKE], r.wake_ms);
	orc_pgarray_text(&c[I_REASON], strcmp(r.wake_reason, "none") == 0
					       ? NULL
					       : r.wake_reason);
	orc_pgarray_int(&c[I_SEQ], r.completed_seq);
	orc_pgarray_text(&c[I_ERROR], r.last_error);
	orc_pgarray_text(&c[I_OUTPUT], output);
	orc_pgarray_text(&c[I_REPLIES], replies);
	free(output);
	free(replies);
	w->n_items++;
	return true;
}

enum orc_status
orc_item_writes_saga(struct orc_item_writes *w, struct orc_saga *saga,
		     struct orc_error *err)
{
	for (size_t i = 0; i < saga->n_steps; i++) {
		struct orc_map_state *m = saga->steps[i].map;

		if (m == NULL)
			continue;
		if (m->fresh) {
			orc_pgarray_text(&w->fresh[F_SAGA], saga->id);
			orc_pgarray_text(&w->fresh[F_STEP],
					 saga->def->steps[i].name);
			w->n_fresh++;
			m->fresh = false;
		}
		for (size_t k = 0; k < m->n; k++) {
			if (!m->items[k].st.changed)
				continue;
			if (!queue_item(w, saga, i, k))
				return orc_error_set(err, ORC_FATAL,
						     "out of memory");
			m->items[k].st.changed = false;
		}
	}
	for (int i = 0; i < I_COLS; i++)
		if (orc_pgarray_oom(&w->items[i]))
			return orc_error_set(err, ORC_FATAL, "out of memory");
	for (int i = 0; i < F_COLS; i++)
		if (orc_pgarray_oom(&w->fresh[i]))
			return orc_error_set(err, ORC_FATAL, "out of memory");
	return ORC_OK;
}

/* ---- reading ---- */

#define ITEM_COLUMNS(X, Y)                                                     \
	X(ITEM_WANT, "w.n")                                                    \
	Y(ITEM_INDEX, "i.item_index")                                          \
	Y(ITEM_STATUS, "i.status")                                             \
	Y(ITEM_ATTEMPT, "i.attempt")                                           \
	Y(ITEM_ABASE, "i.attempt_base")                                        \
	Y(ITEM_COMP, "i.compensation_attempt")                                 \
	Y(ITEM_CBASE, "i.compensation_attempt_base")                           \
	Y(ITEM_STARTED, MS("i.started_at"))                                    \
	Y(ITEM_FINISHED, MS("i.finished_at"))                                  \
	Y(ITEM_WAKE, MS("i.wake_at"))                                          \
	Y(ITEM_REASON, "coalesce(i.wake_reason, 'none')")                      \
	Y(ITEM_SEQ, "coalesce(i.completed_seq, 0)")                            \
	Y(ITEM_ERROR, "i.last_error")                                          \
	Y(ITEM_OUTPUT, "i.output::text")                                       \
	Y(ITEM_REPLIES, "i.replies::text")

enum item_col { ORC_STORE_COLUMN_ENUM(ITEM_COLUMNS) ITEM_NCOLS };

static const char *const load_names[] = {
	[ORC_MAP_LOAD_NONE] = "none",
	[ORC_MAP_LOAD_IN_FLIGHT] = "in_flight",
	[ORC_MAP_LOAD_UNDO] = "undo",
	[ORC_MAP_LOAD_ALL] = "all",
};

/*
 * Per wanted (saga, map step) w, numbered n in the order asked: every
 * item (all), or those in flight and, for undo, the top latest succeeded
 * ones.  Each branch is one index scan: the primary key, or one of the
 * two partial indexes.  Rows come by w.n, then index.
 */
static const char load_sql[] =
	"SELECT " ORC_STORE_SELECT_LIST(ITEM_COLUMNS)
	" FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[])"
	" WITH ORDINALITY AS w(saga, step, mode, top, n)"
	" CROSS JOIN LATERAL ("
	"(SELECT * FROM %1$s.saga_map_items i WHERE i.saga_id = w.saga"
	" AND i.step_name = w.step AND w.mode = 'all')"
	" UNION ALL (SELECT * FROM %1$s.saga_map_items i WHERE i.saga_id ="
	" w.saga AND i.step_name = w.step AND w.mode <> 'all'"
	" AND i.status IN ('running', 'compensating'))"
	" UNION ALL (SELECT * FROM %1$s.saga_map_items i WHERE i.saga_id ="
	" w.saga AND i.step_name = w.step AND w.mode = 'undo'"
	" AND i.status = 'succeeded' ORDER BY i.completed_seq DESC"
	" LIMIT w.top)) i"
	" ORDER BY w.n, i.item_index";

/*
 * Rows [from, to) of res, all of step i, added to the saga in one call
 * (they come in index order, which the codec checks in linear time).
 */
static enum orc_status
add_rows(struct orc_saga *saga, size_t i, const PGresult *res, int from,
	 int to, bool complete, struct orc_error *err)
{
	size_t n = (size_t)(to - from), k = 0;
	struct orc_item_row *rows = calloc(n ? n : 1, sizeof(*rows));
	enum orc_status st = ORC_OK;

	if (rows == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	for (int r = from; r < to && st == ORC_OK; r++, k++) {
		struct orc_item_row *row = &rows[k];

		row->index = orc_store_int(res, r, ITEM_INDEX);
		row->status = PQgetvalue(res, r, ITEM_STATUS);
		row->attempt = (int)orc_store_int(res, r, ITEM_ATTEMPT);
		row->attempt_base = (int)orc_store_int(res, r, ITEM_ABASE);
		row->comp_attempt = (int)orc_store_int(res, r, ITEM_COMP);
		row->comp_attempt_base = (int)orc_store_int(res, r, ITEM_CBASE);
		row->started_ms = orc_store_int(res, r, ITEM_STARTED);
		row->finished_ms = orc_store_int(res, r, ITEM_FINISHED);
		row->wake_ms = orc_store_int(res, r, ITEM_WAKE);
		row->wake_reason = PQgetvalue(res, r, ITEM_REASON);
		row->completed_seq = orc_store_int(res, r, ITEM_SEQ);
		row->last_error = orc_store_text(res, r, ITEM_ERROR);
		st = orc_store_json(res, r, ITEM_OUTPUT, &row->output,
				    "the output of a map item", err);
		if (st == ORC_OK)
			st = orc_store_json(res, r, ITEM_REPLIES,
					    &row->replies,
					    "the replies of a map item", err);
	}
	if (st == ORC_OK)
		st = orc_saga_add_items(saga, i, rows, n, complete, err);
	for (k = 0; k < n; k++) {
		json_decref(rows[k].output);
		json_decref(rows[k].replies);
	}
	free(rows);
	return st;
}

/* What a saga's map steps want loaded, queued as rows of the query. */
static size_t
want(const struct orc_saga *saga, struct orc_pgarray a[4])
{
	size_t wanted = 0;
	char top[16];

	for (size_t i = 0; i < saga->n_steps; i++) {
		enum orc_map_load mode = orc_saga_map_load(saga, i);

		if (mode == ORC_MAP_LOAD_NONE)
			continue;
		snprintf(top, sizeof(top), "%d", saga->steps[i].map->concurrency);
		orc_pgarray_text(&a[0], saga->id);
		orc_pgarray_text(&a[1], saga->def->steps[i].name);
		orc_pgarray_text(&a[2], load_names[mode]);
		orc_pgarray_text(&a[3], top);
		wanted++;
	}
	return wanted;
}

/*
 * The rows of res from *r on that answer wanted row number *n and on, for
 * saga: each of its map steps in step order, as want() asked.
 */
static enum orc_status
take_rows(struct orc_saga *saga, const PGresult *res, int *r, long *n,
	  struct orc_error *err)
{
	enum orc_status st = ORC_OK;
	int rows = PQntuples(res);

	for (size_t i = 0; i < saga->n_steps && st == ORC_OK; i++) {
		enum orc_map_load mode = orc_saga_map_load(saga, i);
		int from = *r;

		if (mode == ORC_MAP_LOAD_NONE)
			continue;
		++*n;
		while (*r < rows && orc_store_int(res, *r, ITEM_WANT) == *n)
			++*r;
		st = add_rows(saga, i, res, from, *r, mode == ORC_MAP_LOAD_ALL,
			      err);
	}
	return st;
}

enum orc_status
orc_store_load_map_items(struct orc_store *store,
			 struct orc_stored_saga *const *sagas, size_t n_sagas,
			 size_t *bad, struct orc_error *err)
{
	struct orc_pgarray a[4];
	const char *params[4];
	PGresult *res = NULL;
	size_t wanted = 0;
	enum orc_status st = ORC_OK;
	long n = 0;
	int r = 0;

	*bad = n_sagas;
	for (int k = 0; k < 4; k++)
		orc_pgarray_init(&a[k]);
	for (size_t s = 0; s < n_sagas; s++)
		wanted += want(&sagas[s]->saga, a);
	if (wanted == 0)
		goto done;
	for (int k = 0; k < 4; k++)
		if ((params[k] = orc_pgarray_done(&a[k])) == NULL) {
			st = orc_error_set(err, ORC_FATAL, "out of memory");
			goto done;
		}
	st = orc_store_run(store, load_sql, 4, params, &res,
			   "reading map items", err);
	for (size_t s = 0; st == ORC_OK && s < n_sagas; s++) {
		st = take_rows(&sagas[s]->saga, res, &r, &n, err);
		if (st == ORC_INVALID)
			*bad = s;
	}
done:
	PQclear(res);
	for (int k = 0; k < 4; k++)
		orc_pgarray_finish(&a[k]);
	return st;
}
