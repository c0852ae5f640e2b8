/*
 * engine_map.c - map steps: one command per item of an array.
 *
 * A map step is a command step with "map" (definition.h).  When it
 * starts it reads the array at its items pointer, fixes its size, its
 * concurrency and how many items must succeed, and starts items in
 * input order, at most concurrency of them in flight.  Each item is a
 * small step of its own (struct orc_map_item): its own attempts under
 * the step's retry policy, its own timeout, reply ids and compensation,
 * and a sagastep of "<step>[<index>]" on its commands.  The map succeeds
 * when every item has finished and enough succeeded, with the items'
 * reply data in input order as its result (null for a failed item); it
 * fails as soon as so many items failed that it cannot succeed: then
 * no item starts any more, items in flight are awaited, and the saga
 * compensates.  The succeeded items of a map (succeeded or failed) are
 * compensated as one unit of the saga's compensation, placed by the
 * latest completion among its items, latest item first, concurrency at
 * a time.
 *
 * The engine sees only the items the store loaded (engine.h, struct
 * orc_map_state): those in flight always; the rest only when it asks,
 * by a timer due at once (ORC_WAKE_MAP_LOAD).  Everything here counts
 * on the counters of the map, which cover every item, and never on the
 * loaded items alone, except where complete says they are all there.
 *
 * History entries of items are the step's kinds (step.started,
 * step.succeeded, compensation.started, ...) with "item" in the detail.
 */
#include "engine.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_txn.h"
#include "jsonp.h"

#define NO_ITEM SIZE_MAX

static struct orc_map_state *
map_of(const struct orc_txn *t, size_t i)
{
	return t->saga->steps[i].map;
}

static bool
in_flight(const struct orc_map_item *it)
{
	return it->st.status == ORC_STEP_RUNNING ||
	       it->st.status == ORC_STEP_COMPENSATING;
}

size_t
orc_txn_map_in_flight(const struct orc_saga_step *st)
{
	size_t n = 0;

	for (size_t k = 0; st->map != NULL && k < st->map->n; k++)
		if (in_flight(&st->map->items[k]))
			n++;
	return n;
}

static size_t
count_status(const struct orc_map_state *m, enum orc_step_status status)
{
	size_t n = 0;

	for (size_t k = 0; k < m->n; k++)
		if (m->items[k].st.status == status)
			n++;
	return n;
}

/* A compensation that gave up: compensating, with no timer. */
static bool
item_stuck(const struct orc_map_item *it)
{
	return it->st.status == ORC_STEP_COMPENSATING &&
	       it->st.wake_reason == ORC_WAKE_NONE;
}

/* The history entry of kind for item it of step i; its detail. */
static json_t *
item_history(struct orc_txn *t, const char *kind, size_t i,
	     const struct orc_map_item *it)
{
	json_t *d = orc_txn_history(t, kind, i);

	orc_txn_put_int(t, d, "item", it->index);
	return d;
}

/* The loaded item with index index, or NO_ITEM. */
static size_t
find_item(const struct orc_map_state *m, int64_t index)
{
	for (size_t k = 0; k < m->n; k++)
		if (m->items[k].index == index)
			return k;
	return NO_ITEM;
}

/* A new item (index) at the end of m->items; its position or NO_ITEM. */
static size_t
push_item(struct orc_txn *t, struct orc_map_state *m, int64_t index)
{
	struct orc_map_item *it;

	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct orc_map_item *v = realloc(m->items, cap * sizeof(*v));

		if (v == NULL) {
			orc_txn_oom(t);
			return NO_ITEM;
		}
		m->items = v;
		m->cap = cap;
	}
	it = &m->items[m->n];
	memset(it, 0, sizeof(*it));
	it->index = index;
	it->st.status = ORC_STEP_PENDING;
	return m->n++;
}

/* Ask the store for every item: a timer due now (engine.h). */
static void
need_items(struct orc_txn *t, size_t i)
{
	struct orc_saga_step *st = &t->saga->steps[i];

	if (st->wake_reason == ORC_WAKE_MAP_LOAD)
		return;
	st->wake_ms = t->now;
	st->wake_reason = ORC_WAKE_MAP_LOAD;
	st->changed = true;
}

/* ---- items ---- */

static void item_failed(struct orc_txn *t, size_t i, size_t pos,
			const char *error, bool retryable);
static void end_item(struct orc_txn *t, size_t i, struct orc_map_item *it,
		     const char *error, bool aborted);
static void item_compensation_failed(struct orc_txn *t, size_t i, size_t pos,
				     const char *error, bool retryable);

/*
 * Send the next attempt of item items[pos]'s command; it is running.  A
 * command too large fails the item at once; advance says whether what
 * comes next follows here (a retry), or the caller goes on (an item
 * started by orc_txn_map_progress(), whose loop must not recurse once
 * per item).
 */
static void
send_item(struct orc_txn *t, size_t i, size_t pos, bool advance)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	struct orc_map_state *m = map_of(t, i);
	struct orc_map_item *it = &m->items[pos];
	char why[ORC_TXN_REFUSAL_MAX];
	json_t *data, *d;

	it->st.attempt++;
	it->st.changed = true;
	data = orc_txn_render_command(t, i, ORC_COMMAND_ACTION, it, why);
	if (data == NULL) {
		if (orc_txn_ok(t) && advance)
			item_failed(t, i, pos, why, false);
		else if (orc_txn_ok(t))
			end_item(t, i, &m->items[pos], why, false);
		return;
	}
	d = item_history(t, "step.started", i, it);
	orc_txn_put_int(t, d, "attempt", it->st.attempt);
	orc_txn_emit_command(t, i, ORC_COMMAND_ACTION, it->index, m->run,
			     it->st.attempt, data);
	orc_txn_timer_after(t, &it->st, sd->timeout_ms, ORC_WAKE_TIMEOUT);
}

/* Send the next attempt of items[pos]'s compensation; it compensates. */
static void
send_item_compensation(struct orc_txn *t, size_t i, size_t pos)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	struct orc_map_state *m = map_of(t, i);
	struct orc_map_item *it = &m->items[pos];
	char why[ORC_TXN_REFUSAL_MAX];
	json_t *data, *d;

	it->st.comp_attempt++;
	it->st.changed = true;
	data = orc_txn_render_command(t, i, ORC_COMMAND_COMPENSATION, it, why);
	if (data == NULL) {
		if (orc_txn_ok(t))
			item_compensation_failed(t, i, pos, why, false);
		return;
	}
	d = item_history(t, "compensation.started", i, it);
	orc_txn_put_int(t, d, "attempt", it->st.comp_attempt);
	orc_txn_emit_command(t, i, ORC_COMMAND_COMPENSATION, it->index, m->run,
			     it->st.comp_attempt, data);
	orc_txn_timer_after(t, &it->st, sd->compensation.timeout_ms,
			    ORC_WAKE_COMP_TIMEOUT);
}

/* Start item index (the next one): a row, and its first attempt. */
static void
start_item(struct orc_txn *t, size_t i, int64_t index)
{
	struct orc_map_state *m = map_of(t, i);
	size_t pos = push_item(t, m, index);

	if (pos == NO_ITEM ||
	    !orc_txn_item_status(t, i, &m->items[pos], ORC_STEP_RUNNING))
		return;
	m->items[pos].st.started_ms = t->now;
	m->started++;
	t->saga->steps[i].changed = true;
	send_item(t, i, pos, false);
}

/* Item items[pos] succeeded with data (taken). */
static void
item_succeeded(struct orc_txn *t, size_t i, size_t pos, json_t *data)
{
	struct orc_map_state *m = map_of(t, i);
	struct orc_map_item *it = &m->items[pos];
	json_t *d;

	if (!orc_txn_item_status(t, i, it, ORC_STEP_SUCCEEDED)) {
		json_decref(data);
		return;
	}
	orc_txn_clear_timer(&it->st);
	it->st.finished_ms = t->now;
	it->st.completed_seq = m->last_seq = ++t->saga->seq;
	json_decref(it->output);
	it->output = data;
	m->succeeded++;
	t->saga->steps[i].changed = true;
	d = item_history(t, "step.succeeded", i, it);
	orc_txn_put_event(t, d);
	orc_txn_put_int(t, d, "attempt", it->st.attempt);
	orc_txn_put_int(t, d, "seq", it->st.completed_seq);
	orc_txn_advance(t);
}

/*
 * An attempt of items[pos] failed with error: retry after a backoff
 * while the map runs and attempts remain, or the item fails for good.
 */
static void
item_failed(struct orc_txn *t, size_t i, size_t pos, const char *error,
	    bool retryable)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	struct orc_map_state *m = map_of(t, i);
	struct orc_map_item *it = &m->items[pos];
	int round = it->st.attempt - it->st.attempt_base;

	orc_txn_set_text(t, &it->st.last_error, error);
	it->st.changed = true;
	if (t->saga->status == ORC_SAGA_RUNNING &&
	    t->saga->steps[i].status == ORC_STEP_RUNNING && retryable &&
	    round < sd->retry.max_attempts) {
		orc_txn_put_int(t,
				orc_txn_retry_timer(t, i, &it->st, &sd->retry,
						    round, ORC_WAKE_RETRY,
						    "step.retry_scheduled",
						    error, it->st.attempt + 1),
				"item", it->index);
		return;
	}
	end_item(t, i, it, error, false);
	orc_txn_advance(t);
}

/*
 * Item it of step i fails for good with error: step.failed, or, when
 * aborted (a retry that will not come, an operator's action),
 * step.aborted.  What follows is the caller's.
 */
static void
end_item(struct orc_txn *t, size_t i, struct orc_map_item *it,
	 const char *error, bool aborted)
{
	json_t *d;

	if (!orc_txn_item_status(t, i, it, ORC_STEP_FAILED))
		return;
	orc_txn_set_text(t, &it->st.last_error, error);
	orc_txn_clear_timer(&it->st);
	it->st.finished_ms = t->now;
	map_of(t, i)->failed++;
	t->saga->steps[i].changed = true;
	if (aborted) {
		orc_txn_put_str(t, item_history(t, "step.aborted", i, it),
				"reason", error);
		return;
	}
	d = item_history(t, "step.failed", i, it);
	orc_txn_put_str(t, d, "error", error);
	orc_txn_put_int(t, d, "attempt", it->st.attempt);
}

/* Items waiting to retry give up: the map no longer runs. */
static void
abort_retry_waits(struct orc_txn *t, size_t i)
{
	struct orc_map_state *m = map_of(t, i);

	for (size_t k = 0; k < m->n && orc_txn_ok(t); k++)
		if (m->items[k].st.status == ORC_STEP_RUNNING &&
		    m->items[k].st.wake_reason == ORC_WAKE_RETRY)
			end_item(t, i, &m->items[k], "aborted", true);
}

static void
item_compensation_succeeded(struct orc_txn *t, size_t i, size_t pos,
			    const char *source)
{
	struct orc_saga *saga = t->saga;
	struct orc_map_state *m = map_of(t, i);
	struct orc_map_item *it = &m->items[pos];
	json_t *d;

	if (!orc_txn_item_status(t, i, it, ORC_STEP_COMPENSATED))
		return;
	orc_txn_clear_timer(&it->st);
	it->st.finished_ms = t->now;
	m->compensated++;
	saga->steps[i].changed = true;
	d = item_history(t, "compensation.succeeded", i, it);
	if (source != NULL)
		orc_txn_put_str(t, d, "source", source);
	else
		orc_txn_put_event(t, d);
	orc_txn_put_int(t, d, "attempt", it->st.comp_attempt);
	if (saga->status == ORC_SAGA_STUCK) {
		/* unstuck once no item of the map is stuck any more */
		for (size_t k = 0; k < m->n; k++)
			if (item_stuck(&m->items[k]))
				return;
		if (!orc_txn_unstick(t, source != NULL
					    ? source
					    : "late compensation reply"))
			return;
	}
	orc_txn_advance(t);
}

/*
 * An attempt of items[pos]'s compensation failed: retry with backoff, or
 * with its attempts spent the saga is stuck (it may be already: another
 * item of the map gave up first).
 */
static void
item_compensation_failed(struct orc_txn *t, size_t i, size_t pos,
			 const char *error, bool retryable)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	const struct orc_retry *retry = &sd->compensation.retry;
	struct orc_map_item *it = &map_of(t, i)->items[pos];
	int round = it->st.comp_attempt - it->st.comp_attempt_base;
	json_t *d;

	orc_txn_set_text(t, &it->st.last_error, error);
	it->st.changed = true;
	if (retryable && round < retry->max_attempts) {
		orc_txn_put_int(
		    t,
		    orc_txn_retry_timer(t, i, &it->st, retry, round,
					ORC_WAKE_COMP_RETRY,
					"compensation.retry_scheduled", error,
					it->st.comp_attempt + 1),
		    "item", it->index);
		return;
	}
	orc_txn_clear_timer(&it->st);
	d = item_history(t, "compensation.failed", i, it);
	orc_txn_put_str(t, d, "error", error);
	orc_txn_put_int(t, d, "attempt", it->st.comp_attempt);
	if (t->saga->status == ORC_SAGA_STUCK)
		return;
	orc_txn_set_textf(t, &t->saga->failure_reason,
			  "compensation of %s[%" PRId64 "] failed: %s (%d "
			  "attempts)",
			  sd->name, it->index, error, round);
	/*
	 * A stuck saga has no timers (engine.h): the map's other items
	 * still compensating stop their timeouts and backoffs.  Each stays
	 * compensating and counts as stuck: a late success is taken, RETRY
	 * sends it again, RESOLVE settles it.
	 */
	for (size_t k = 0; k < map_of(t, i)->n; k++) {
		struct orc_map_item *other = &map_of(t, i)->items[k];

		if (other->st.status == ORC_STEP_COMPENSATING &&
		    other->st.wake_ms != 0) {
			orc_txn_clear_timer(&other->st);
			other->st.changed = true;
		}
	}
	orc_txn_end_saga(t, ORC_SAGA_STUCK);
}

/* ---- the map ---- */

/*
 * How many of n items must succeed: the count asked for (at most n), or
 * the fraction of n rounded up.
 */
static int64_t
min_success(const struct orc_map_def *md, int64_t n)
{
	double v;

	if (md->min_success > 0)
		return md->min_success < n ? md->min_success : n;
	v = ceil(md->min_fraction * (double)n - 1e-9);
	if (v < 0)
		return 0;
	return v < (double)n ? (int64_t)v : n;
}

void
orc_txn_map_start(struct orc_txn *t, size_t i)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	const struct orc_map_def *md = &sd->map;
	struct orc_saga_step *st = &t->saga->steps[i];
	const json_t *items = orc_jsonp_get(t->saga->context, md->items);
	struct orc_map_state *m;
	char why[ORC_TXN_REFUSAL_MAX];
	int concurrency = md->concurrency;
	json_t *d, *v;

	if (items == NULL) {
		snprintf(why, sizeof(why), "map items at %s are missing",
			 md->items);
		orc_txn_attempt_failed(t, i, why, false);
		return;
	}
	if (!json_is_array(items)) {
		snprintf(why, sizeof(why), "map items at %s are not an array",
			 md->items);
		orc_txn_attempt_failed(t, i, why, false);
		return;
	}
	if (json_array_size(items) > ORC_MAP_ITEMS_MAX) {
		snprintf(why, sizeof(why),
			 "map has %zu items, over the limit of %d",
			 json_array_size(items), ORC_MAP_ITEMS_MAX);
		orc_txn_attempt_failed(t, i, why, false);
		return;
	}
	if (md->concurrency_from != NULL) {
		v = orc_jsonp_get(t->saga->context, md->concurrency_from);
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > ORC_MAP_CONCURRENCY_MAX) {
			snprintf(why, sizeof(why),
				 "max_concurrency at %s is not an integer "
				 "from 1 to %d",
				 md->concurrency_from, ORC_MAP_CONCURRENCY_MAX);
			orc_txn_attempt_failed(t, i, why, false);
			return;
		}
		concurrency = (int)json_integer_value(v);
	}
	m = st->map;
	if (m == NULL) {
		m = st->map = calloc(1, sizeof(*m));
		if (m == NULL) {
			orc_txn_oom(t);
			return;
		}
	}
	/* a rerun starts afresh: no item of the run before is kept */
	orc_map_state_clear_items(m);
	m->n_items = (int64_t)json_array_size(items);
	m->concurrency = concurrency;
	m->min_success = min_success(md, m->n_items);
	m->started = m->succeeded = m->failed = m->compensated = 0;
	m->last_seq = 0;
	m->run++;
	m->fresh = true;
	m->complete = true;
	st->attempt = m->run;
	st->changed = true;
	d = orc_txn_history(t, "step.started", i);
	orc_txn_put_int(t, d, "run", m->run);
	orc_txn_put_int(t, d, "items", m->n_items);
	orc_txn_put_int(t, d, "concurrency", m->concurrency);
	orc_txn_put_int(t, d, "min_success", m->min_success);
	/* the empty map (and the rest) completes in progress() */
	orc_txn_map_progress(t, i);
}

/* Every item has finished: the map succeeds with their results. */
static void
complete(struct orc_txn *t, size_t i)
{
	struct orc_map_state *m = map_of(t, i);
	json_t *results, *d;

	if (!m->complete) {
		need_items(t, i);
		return;
	}
	results = json_array();
	for (int64_t k = 0; results != NULL && k < m->n_items; k++)
		if (json_array_append_new(results, json_null()) != 0) {
			json_decref(results);
			results = NULL;
		}
	if (results == NULL) {
		orc_txn_oom(t);
		return;
	}
	for (size_t k = 0; k < m->n; k++) {
		const struct orc_map_item *it = &m->items[k];

		if (it->st.status == ORC_STEP_SUCCEEDED ||
		    it->st.status == ORC_STEP_COMPENSATING ||
		    it->st.status == ORC_STEP_COMPENSATED)
			json_array_set(results, (size_t)it->index,
				       it->output ? it->output : json_null());
	}
	d = orc_txn_succeed_step(t, i, results);
	orc_txn_put_int(t, d, "succeeded", m->succeeded);
	orc_txn_put_int(t, d, "failed", m->failed);
}

/* Too many items failed: the step fails, and with it the saga. */
static void
fail_map(struct orc_txn *t, size_t i)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	struct orc_saga_step *st = &t->saga->steps[i];
	struct orc_map_state *m = st->map;
	const struct orc_map_item *last = NULL;
	json_t *d;

	abort_retry_waits(t, i);
	for (size_t k = 0; k < m->n; k++)
		if (m->items[k].st.status == ORC_STEP_FAILED &&
		    m->items[k].st.last_error != NULL &&
		    (last == NULL ||
		     m->items[k].st.finished_ms >= last->st.finished_ms))
			last = &m->items[k];
	if (!orc_txn_step_status(t, i, ORC_STEP_FAILED))
		return;
	orc_txn_clear_timer(st);
	st->finished_ms = t->now;
	orc_txn_set_textf(t, &st->last_error,
			  "%" PRId64 " of %" PRId64 " items failed, at least "
			  "%" PRId64 " must succeed",
			  m->failed, m->n_items, m->min_success);
	d = orc_txn_history(t, "step.failed", i);
	orc_txn_put_str(t, d, "error", st->last_error);
	if (last != NULL)
		orc_txn_set_textf(t, &t->saga->failure_reason,
				  "%s: %s; %s[%" PRId64 "]: %s", sd->name,
				  st->last_error, sd->name, last->index,
				  last->st.last_error);
	else
		orc_txn_set_textf(t, &t->saga->failure_reason, "%s: %s",
				  sd->name, st->last_error);
	orc_txn_begin_failing(t, ORC_CAUSE_FAILURE);
}

void
orc_txn_map_progress(struct orc_txn *t, size_t i)
{
	struct orc_saga *saga = t->saga;
	struct orc_map_state *m = map_of(t, i);
	size_t running;

	if (m == NULL || saga->status != ORC_SAGA_RUNNING ||
	    saga->steps[i].status != ORC_STEP_RUNNING || saga->paused_ms != 0)
		return;
	if (m->failed > m->n_items - m->min_success) {
		fail_map(t, i);
		return;
	}
	running = count_status(m, ORC_STEP_RUNNING);
	while (orc_txn_ok(t) && saga->status == ORC_SAGA_RUNNING &&
	       saga->steps[i].status == ORC_STEP_RUNNING &&
	       running < (size_t)m->concurrency && m->started < m->n_items &&
	       m->failed <= m->n_items - m->min_success) {
		/* start_item() may fail it at once (a command too large) */
		start_item(t, i, m->started);
		if (m->n > 0 && m->items[m->n - 1].st.status == ORC_STEP_RUNNING)
			running++;
	}
	if (!orc_txn_ok(t) || saga->status != ORC_SAGA_RUNNING ||
	    saga->steps[i].status != ORC_STEP_RUNNING)
		return;
	if (m->failed > m->n_items - m->min_success) {
		fail_map(t, i);
		return;
	}
	if (m->succeeded + m->failed == m->n_items)
		complete(t, i);
}

void
orc_txn_map_stop(struct orc_txn *t, size_t i)
{
	struct orc_saga_step *st = &t->saga->steps[i];
	struct orc_map_state *m = st->map;

	abort_retry_waits(t, i);
	if (st->wake_reason == ORC_WAKE_MAP_LOAD)
		orc_txn_clear_timer(st);
	if (orc_txn_ok(t) && count_status(m, ORC_STEP_RUNNING) == 0)
		orc_txn_abort_step(t, i);
}

void
orc_txn_map_loaded(struct orc_txn *t, size_t i)
{
	struct orc_saga_step *st = &t->saga->steps[i];

	if (st->map == NULL)
		return;
	if (!st->map->complete) {
		/* the store did not load what the timer asked for */
		t->status = orc_error_set(t->err, ORC_INVALID,
					  "map items not loaded");
		orc_error_detail(t->err, "saga %s: step %s", t->saga->id,
				 t->def->steps[i].name);
		return;
	}
	orc_txn_advance(t);
}

bool
orc_txn_map_undo_left(const struct orc_txn *t, size_t i)
{
	const struct orc_map_state *m = map_of(t, i);

	return m != NULL && m->succeeded > m->compensated;
}

/* The loaded succeeded item that completed last, or NO_ITEM. */
static size_t
next_to_undo(const struct orc_map_state *m)
{
	size_t best = NO_ITEM;

	for (size_t k = 0; k < m->n; k++)
		if (m->items[k].st.status == ORC_STEP_SUCCEEDED &&
		    (best == NO_ITEM || m->items[k].st.completed_seq >
					    m->items[best].st.completed_seq))
			best = k;
	return best;
}

void
orc_txn_map_compensate(struct orc_txn *t, size_t i)
{
	struct orc_saga *saga = t->saga;
	struct orc_saga_step *st = &saga->steps[i];
	struct orc_map_state *m = st->map;
	int64_t busy, left;
	size_t pos;
	json_t *d;

	if (saga->status != ORC_SAGA_COMPENSATING || saga->paused_ms != 0 ||
	    st->status != ORC_STEP_COMPENSATING)
		return;
	busy = (int64_t)count_status(m, ORC_STEP_COMPENSATING);
	left = m->succeeded - m->compensated - busy;
	while (left > 0 && busy < m->concurrency && orc_txn_ok(t) &&
	       saga->status == ORC_SAGA_COMPENSATING) {
		pos = next_to_undo(m);
		if (pos == NO_ITEM)
			break;
		if (!orc_txn_item_status(t, i, &m->items[pos],
					 ORC_STEP_COMPENSATING))
			return;
		send_item_compensation(t, i, pos);
		busy++;
		left--;
	}
	if (!orc_txn_ok(t) || saga->status != ORC_SAGA_COMPENSATING)
		return;
	if (left > 0 && busy < m->concurrency) {
		if (m->complete) {
			/* the counters promise items that are not there */
			t->status = orc_error_set(t->err, ORC_INVALID,
						  "map items missing");
			orc_error_detail(t->err,
					 "saga %s: step %s: %" PRId64
					 " succeeded items to compensate are "
					 "not in saga_map_items",
					 saga->id, t->def->steps[i].name, left);
			return;
		}
		need_items(t, i);
		return;
	}
	if (left > 0 || busy > 0)
		return;
	if (!orc_txn_step_status(t, i, ORC_STEP_COMPENSATED))
		return;
	orc_txn_clear_timer(st);
	st->finished_ms = t->now;
	d = orc_txn_history(t, "compensation.succeeded", i);
	orc_txn_put_int(t, d, "items", m->compensated);
	orc_txn_advance(t);
}

/* A reply to item index ignored: its history entry names the item. */
static void
ignore_item(struct orc_txn *t, enum orc_ignore_reason reason, size_t i,
	    int64_t index)
{
	orc_txn_ignore(t, reason, i);
	if (orc_txn_ok(t) && t->fx->n > 0)
		orc_txn_put_int(t, t->fx->v[t->fx->n - 1].detail, "item",
				index);
}

void
orc_txn_map_reply(struct orc_txn *t, size_t i, int64_t index)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	struct orc_map_state *m = map_of(t, i);
	const char *type = t->in->type;
	struct orc_map_item *it;
	size_t pos;

	pos = m != NULL ? find_item(m, index) : NO_ITEM;
	if (pos == NO_ITEM) {
		/* not started, or finished and not loaded: nothing awaits it */
		ignore_item(t,
			    m == NULL || index >= m->started
				? ORC_IGNORE_UNKNOWN_STEP
				: ORC_IGNORE_LATE,
			    i, index);
		return;
	}
	it = &m->items[pos];
	if (t->in->dedup_id != NULL) {
		if (orc_txn_reply_seen(&it->st, t->in->dedup_id)) {
			t->fx->result = ORC_RESULT_DUPLICATE;
			return;
		}
		orc_txn_remember_reply(t, &it->st, t->in->dedup_id);
	}
	if (it->st.status == ORC_STEP_RUNNING) {
		if (orc_strv_contains(&sd->success, type)) {
			item_succeeded(t, i, pos, orc_txn_input_data(t));
		} else if (orc_strv_contains(&sd->failure, type)) {
			bool retryable = orc_strv_contains(&sd->retry.on, type);

			if (retryable && it->st.wake_reason == ORC_WAKE_RETRY) {
				ignore_item(t, ORC_IGNORE_LATE, i, index);
				return;
			}
			item_failed(t, i, pos, type, retryable);
		} else {
			ignore_item(t, ORC_IGNORE_UNEXPECTED_TYPE, i, index);
		}
		return;
	}
	if (it->st.status == ORC_STEP_COMPENSATING &&
	    (t->saga->status == ORC_SAGA_COMPENSATING ||
	     t->saga->status == ORC_SAGA_STUCK) &&
	    sd->has_compensation) {
		if (orc_strv_contains(&sd->compensation.success, type)) {
			item_compensation_succeeded(t, i, pos, NULL);
			return;
		}
		if (orc_strv_contains(&sd->compensation.failure, type) &&
		    it->st.wake_reason != ORC_WAKE_COMP_RETRY &&
		    !item_stuck(it)) {
			item_compensation_failed(t, i, pos, type, true);
			return;
		}
	}
	ignore_item(t, orc_txn_classify_reply(sd, &it->st, type), i, index);
}

void
orc_txn_map_fire(struct orc_txn *t, size_t i, size_t pos,
		 enum orc_wake_reason why)
{
	struct orc_map_item *it = &map_of(t, i)->items[pos];

	switch (why) {
	case ORC_WAKE_TIMEOUT:
		orc_txn_put_int(t, item_history(t, "step.timed_out", i, it),
				"attempt", it->st.attempt);
		item_failed(t, i, pos, "timed out", true);
		break;
	case ORC_WAKE_RETRY:
		if (t->saga->status == ORC_SAGA_RUNNING &&
		    t->saga->steps[i].status == ORC_STEP_RUNNING) {
			send_item(t, i, pos, true);
		} else {
			end_item(t, i, it, "aborted", true);
			orc_txn_advance(t);
		}
		break;
	case ORC_WAKE_COMP_TIMEOUT:
		orc_txn_put_int(t,
				item_history(t, "compensation.timed_out", i, it),
				"attempt", it->st.comp_attempt);
		item_compensation_failed(t, i, pos, "timed out", true);
		break;
	case ORC_WAKE_COMP_RETRY:
		send_item_compensation(t, i, pos);
		break;
	case ORC_WAKE_NONE:
	case ORC_WAKE_DELAY:
	case ORC_WAKE_WAIT_TIMEOUT:
	case ORC_WAKE_MAP_LOAD:
		/* not an item's: only a row edited by hand has one */
		orc_txn_clear_timer(&it->st);
		break;
	}
}

void
orc_txn_map_abandon(struct orc_txn *t, size_t i, const char *why)
{
	struct orc_map_state *m = map_of(t, i);

	for (size_t k = 0; m != NULL && k < m->n && orc_txn_ok(t); k++) {
		struct orc_map_item *it = &m->items[k];

		if (it->st.status == ORC_STEP_RUNNING)
			end_item(t, i, it, why, true);
		else if (it->st.wake_ms != 0) {
			orc_txn_clear_timer(&it->st);
		}
	}
}

void
orc_txn_map_retry_stuck(struct orc_txn *t, size_t i)
{
	struct orc_map_state *m = map_of(t, i);

	for (size_t k = 0; k < m->n && orc_txn_ok(t); k++)
		if (item_stuck(&m->items[k])) {
			m->items[k].st.comp_attempt_base =
			    m->items[k].st.comp_attempt;
			send_item_compensation(t, i, k);
		}
	orc_txn_map_compensate(t, i);
}

void
orc_txn_map_resolve(struct orc_txn *t, size_t i)
{
	struct orc_map_state *m = map_of(t, i);

	for (size_t k = 0; k < m->n && orc_txn_ok(t); k++)
		if (item_stuck(&m->items[k]) &&
		    orc_txn_item_status(t, i, &m->items[k],
					ORC_STEP_COMPENSATED)) {
			m->items[k].st.finished_ms = t->now;
			m->compensated++;
			orc_txn_put_str(t,
					item_history(t, "compensation.succeeded",
						     i, &m->items[k]),
					"source", "operator.resolve");
		}
	t->saga->steps[i].changed = true;
	orc_txn_map_compensate(t, i);
}

void
orc_txn_map_shift_timers(struct orc_saga_step *st, int64_t ms)
{
	for (size_t k = 0; st->map != NULL && k < st->map->n; k++)
		if (st->map->items[k].st.wake_ms > 0) {
			st->map->items[k].st.wake_ms += ms;
			st->map->items[k].st.changed = true;
		}
}
