/*
 * test_engine_random.c - the engine against many random sagas.
 *
 * A seeded PRNG (here, in the test only) builds random valid definitions -
 * a DAG of up to 8 command, wait, delay and saga steps listed in a
 * shuffled order, with conditions, timeouts, retries and compensations,
 * some of the commands maps over a small array of the trigger's with a
 * random concurrency and min_success - and drives each with random replies
 * (right, wrong, late, unknown; to map items, in range or not), correlated
 * events (right and wrong key), the ends of saga steps' children
 * (completed, compensated, failed, now and then stuck, or with another
 * attempt's id), timer firings and operator commands, then drives it to
 * the end.  After every input it checks:
 *   - the engine never refuses or rejects (ORC_INVALID) a
 *     well-formed input; ORC_CONFLICT only for operator commands;
 *   - no step starts or is skipped before everything it needs is done, and
 *     no command is sent for a step whose needs are not done;
 *   - the step statuses, timers and wake-up time fit the saga status;
 *   - command message ids never repeat;
 *   - a child starts only when its step's needs are done and the saga
 *     runs; an end with another attempt's child id is ignored as late;
 *     a saga step still running while the saga does not run had its
 *     child cancelled, once;
 *   - compensations run in strictly decreasing completion order (a map
 *     placed by its latest item), a map's items latest first;
 *   - a map's counters agree with its items, it has as many in flight as
 *     its concurrency allows, its items' timers fit their statuses; a
 *     completed map's result has one element per item, a failed one had
 *     min_success out of reach (or was aborted);
 * and at the end: the saga reached a final status; exactly the succeeded
 * steps with a compensation were compensated (and every succeeded item of
 * a map with one), and every succeeded saga step, after a CHILD undo;
 * replaying the recorded inputs
 * on a fresh state gives byte-identical effects and the same state.  Now
 * and then the state goes through the store's rows and back mid-run; half
 * the runs load map items as the store does, only those that
 * orc_saga_map_load() names, so the engine must ask for the rest.
 *
 * A failure prints the seed; ORC_ENGINE_SEED=<seed> reruns from it,
 * ORC_ENGINE_RUNS=<n> changes how many sagas run (default 1000) and
 * ORC_ENGINE_TRACE=1 prints every input and its effects.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_runner.h"
#include "engine.h"
#include "engine_testlib.h"
#include "saga_row.h"

#define MAX_STEPS 8
#define BATCHES 10
#define RANDOM_INPUTS 40
#define MAX_INPUTS 600
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the PRNG (splitmix64) ---- */

static uint64_t rng;

static uint64_t
rnd64(void)
{
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static unsigned
rnd(unsigned n)
{
	return n ? (unsigned)(rnd64() % n) : 0;
}

static bool
chance(unsigned percent)
{
	return rnd(100) < percent;
}

/* ---- one simulated saga ---- */

struct rec {
	enum orc_input_kind kind;
	char step[24];
	char topic[16];
	char type[32];
	json_t *data;
	int64_t now;
};

struct sim {
	uint64_t seed;
	size_t at; /* inputs applied so far, for messages */
	struct orc_definition *def;
	json_t *trigger;
	struct orc_saga saga;
	struct orc_effects fx;
	int64_t now;
	struct rec *inputs;
	size_t n_inputs;
	json_t *log;	 /* the effects of every input, as text */
	json_t *ids;	 /* message ids seen */
	bool done[MAX_STEPS]; /* succeeded or skipped, from the history */
	bool ever_succeeded[MAX_STEPS];
	bool item_succeeded[MAX_STEPS]; /* a map: some item of it */
	size_t comp_order[MAX_STEPS * 4];
	int64_t comp_seq[MAX_STEPS * 4]; /* the completion it was placed by */
	size_t n_comp;
	/* the completed_seq of the map item whose compensation started last */
	int64_t item_comp_seq[MAX_STEPS];
	/* saga steps: the attempt whose child was cancelled; undo sent */
	int child_cancelled[MAX_STEPS];
	bool child_undo[MAX_STEPS];
	bool failing; /* from the history: saga.compensating ... */
	/*
	 * Like the store: every input goes to the saga read from its rows
	 * with only the map items orc_saga_map_load() names, and what it
	 * changed is written over the rows (saga then holds them all).
	 */
	bool store;
};

/* On failure, the seed and input first (stderr), then Check's message. */
#define CHECK(s, cond, ...)                                                    \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr,                                        \
				"engine_random: seed %" PRIu64 ", input %zu "  \
				"(rerun: ORC_ENGINE_SEED=%" PRIu64             \
				" ORC_ENGINE_RUNS=1)\n",                       \
				(s)->seed, (s)->at, (s)->seed);                \
			ck_abort_msg(__VA_ARGS__);                             \
		}                                                              \
	} while (0)

/* ---- random definitions ---- */

static json_t *
strings(const char *a, const char *b)
{
	json_t *v = json_array();

	json_array_append_new(v, json_string(a));
	if (b != NULL)
		json_array_append_new(v, json_string(b));
	return v;
}

static json_t *
random_retry(bool compensation)
{
	json_t *r = json_object();

	json_object_set_new(r, "max_attempts", json_integer(1 + rnd(3)));
	json_object_set_new(r, "backoff", json_string(chance(50) ? "1s" : "250ms"));
	if (chance(30))
		json_object_set_new(r, "max_backoff", json_string("2s"));
	if (!compensation)
		json_object_set_new(r, "on", strings("flaky", NULL));
	return r;
}

/*
 * Make command step t (st, its command's data) a map over trigger's
 * "items<t>": 0 to 5 elements, concurrency 1 to 3, sometimes a
 * min_success count or fraction.
 */
static void
random_map(json_t *st, json_t *data, size_t t, json_t *trigger)
{
	json_t *map = json_object(), *items = json_array();
	char buf[64];
	unsigned n = rnd(6);

	for (unsigned k = 0; k < n; k++)
		json_array_append_new(items, json_pack("{si}", "k", (int)k));
	snprintf(buf, sizeof(buf), "items%zu", t);
	json_object_set_new(trigger, buf, items);
	snprintf(buf, sizeof(buf), "${/input/items%zu}", t);
	json_object_set_new(map, "items", json_string(buf));
	json_object_set_new(map, "max_concurrency", json_integer(1 + rnd(3)));
	if (chance(30))
		json_object_set_new(map, "min_success",
				    json_integer(1 + rnd(4)));
	else if (chance(20))
		json_object_set_new(map, "min_success", json_real(0.5));
	json_object_set_new(st, "map", map);
	json_object_set_new(data, "item", json_string("${/item/k}"));
	json_object_set_new(data, "index", json_string("${/index}"));
}

/*
 * Steps s0..s(n-1) in dependency order (s<t> needs only lower numbers),
 * listed in a shuffled order; trigger data {"id", "f<t>": bool}.
 */
static json_t *
random_definition(size_t n, json_t *trigger)
{
	json_t *body = json_object(), *steps = json_array(), *made[MAX_STEPS];
	size_t order[MAX_STEPS];
	char name[32], buf[64];

	json_object_set_new(body, "name", json_string("random"));
	json_object_set_new(body, "version", json_integer(1));
	json_object_set_new(body, "trigger",
			    json_pack("{ssssss}", "topic", "in", "type", "go",
				      "key", "/id"));
	if (chance(30))
		json_object_set_new(body, "timeout",
				    json_string(chance(50) ? "5m" : "20s"));
	json_object_set_new(trigger, "id", json_string("key-1"));

	for (size_t t = 0; t < n; t++) {
		json_t *st = json_object(), *needs = json_array();
		unsigned kind = rnd(100);
		size_t last_need = SIZE_MAX;

		snprintf(name, sizeof(name), "s%zu", t);
		json_object_set_new(st, "name", json_string(name));
		for (size_t u = 0; u < t; u++)
			if (chance(35)) {
				snprintf(buf, sizeof(buf), "s%zu", u);
				json_array_append_new(needs, json_string(buf));
				last_need = u;
			}
		json_object_set_new(st, "needs", needs);
		if (chance(25)) {
			snprintf(buf, sizeof(buf), "${/input/f%zu}", t);
			json_object_set_new(
				st, "when",
				json_pack("{s[sb]}", "eq", buf, 1));
			snprintf(buf, sizeof(buf), "f%zu", t);
			json_object_set_new(trigger, buf,
					    json_boolean(chance(60)));
		}
		if (kind < 60) {
			json_t *data = json_pack("{ss}", "id", "${/input/id}");

			if (last_need != SIZE_MAX) {
				snprintf(buf, sizeof(buf), "${/steps/s%zu}",
					 last_need);
				json_object_set_new(data, "prev",
						    json_string(buf));
			}
			snprintf(buf, sizeof(buf), "%s.do", name);
			json_object_set_new(st, "command",
					    json_pack("{sssssO}", "topic", "t",
						      "type", buf, "data",
						      data));
			json_decref(data);
			if (chance(40))
				random_map(st,
					   json_object_get(
						   json_object_get(st, "command"),
						   "data"),
					   t, trigger);
			json_object_set_new(st, "success", strings("ok", NULL));
			json_object_set_new(st, "failure",
					    strings("bad", "flaky"));
			if (chance(50))
				json_object_set_new(st, "timeout",
						    json_string("10s"));
			if (chance(50))
				json_object_set_new(st, "retry",
						    random_retry(false));
			if (chance(55)) {
				json_t *c = json_object();

				snprintf(buf, sizeof(buf), "%s.undo", name);
				json_object_set_new(c, "topic",
						    json_string("t"));
				json_object_set_new(c, "type",
						    json_string(buf));
				snprintf(buf, sizeof(buf), "${/steps/%s}",
					 name);
				json_object_set_new(
					c, "data", json_pack("{ss}", "r", buf));
				json_object_set_new(c, "success",
						    strings("undone", NULL));
				json_object_set_new(c, "failure",
						    strings("undo_bad", NULL));
				if (chance(50))
					json_object_set_new(
						c, "timeout", json_string("5s"));
				if (chance(70))
					json_object_set_new(c, "retry",
							    random_retry(true));
				json_object_set_new(st, "compensation", c);
			}
		} else if (kind < 80) {
			json_t *w = json_object();

			snprintf(buf, sizeof(buf), "%s.evt", name);
			json_object_set_new(w, "topic", json_string("tw"));
			json_object_set_new(w, "type", json_string(buf));
			json_object_set_new(w, "key", json_string("/id"));
			if (chance(60))
				json_object_set_new(w, "timeout",
						    json_string("30s"));
			if (chance(50))
				json_object_set_new(
					w, "on_timeout",
					json_string(chance(50) ? "fail"
							       : "continue"));
			json_object_set_new(st, "wait", w);
		} else if (kind < 90) {
			json_t *c = json_pack("{ss}", "definition", "child");

			if (chance(50))
				json_object_set_new(
					c, "key", json_string("c-${/input/id}"));
			json_object_set_new(st, "saga", c);
			if (chance(40))
				json_object_set_new(st, "timeout",
						    json_string("10s"));
		} else {
			json_object_set_new(st, "delay",
					    json_string(chance(50) ? "2s"
								   : "100ms"));
		}
		made[t] = st;
	}
	for (size_t t = 0; t < n; t++)
		order[t] = t;
	for (size_t t = n; t > 1; t--) {
		size_t k = rnd((unsigned)t), tmp = order[t - 1];

		order[t - 1] = order[k];
		order[k] = tmp;
	}
	for (size_t t = 0; t < n; t++)
		json_array_append_new(steps, made[order[t]]);
	json_object_set_new(body, "steps", steps);
	return body;
}

/* ---- through the store's rows ---- */

/* Through the rows and back, with the JSON as text. */
static void
reload(struct sim *s)
{
	char *why = orc_et_reload(&s->saga);

	CHECK(s, why == NULL, "%s", why);
}

/* Statistics over all runs, printed once: what the runs covered. */
static size_t ended[ORC_SAGA_STATUS_COUNT];
static size_t visited[ORC_SAGA_STATUS_COUNT]; /* inputs leaving it there */
static size_t total_inputs;
static size_t items_succeeded, items_compensated; /* of maps */
static size_t children_started, children_undone;
static size_t map_loads; /* states where a map asked for its items */

/* ---- invariants ---- */

static bool
needs_done(const struct sim *s, size_t i)
{
	const struct orc_step_def *sd = &s->def->steps[i];

	for (size_t k = 0; k < sd->n_needs; k++)
		if (!s->done[sd->needs[k]])
			return false;
	return true;
}

/* Follow the effects in order against the shadow state. */
/* The loaded item with index index of map step i, or NULL. */
static const struct orc_map_item *
find_item(const struct sim *s, size_t i, int64_t index)
{
	const struct orc_map_state *m = s->saga.steps[i].map;

	for (size_t k = 0; m != NULL && k < m->n; k++)
		if (m->items[k].index == index)
			return &m->items[k];
	return NULL;
}

/*
 * What a compensated step was placed by: its completion, or a map's
 * latest item's when the map did not complete.
 */
static int64_t
placed_by(const struct orc_saga_step *st)
{
	return st->completed_seq > 0 || st->map == NULL ? st->completed_seq
							: st->map->last_seq;
}

static void
check_effects(struct sim *s, const struct orc_engine_input *in,
	      enum orc_saga_status before)
{
	for (size_t k = 0; k < s->fx.n; k++) {
		const struct orc_effect *e = &s->fx.v[k];
		size_t i = e->step;
		const json_t *item = e->kind == ORC_EFFECT_HISTORY
					     ? json_object_get(e->detail, "item")
					     : NULL;

		if (e->kind == ORC_EFFECT_COMMAND) {
			CHECK(s, json_object_get(s->ids, e->message_id) == NULL,
			      "message id %s sent twice", e->message_id);
			json_object_set_new(s->ids, e->message_id, json_true());
			CHECK(s, e->data != NULL, "command without data");
			if (e->command_kind == ORC_COMMAND_ACTION) {
				CHECK(s, needs_done(s, i),
				      "command for %s before its needs",
				      e->step_name);
				CHECK(s, !s->failing,
				      "command for %s while failing",
				      e->step_name);
			}
			else
				CHECK(s,
				      s->ever_succeeded[i] &&
					      s->def->steps[i].has_compensation,
				      "compensation of %s that never "
				      "succeeded",
				      e->step_name);
			continue;
		}
		if (e->kind == ORC_EFFECT_CHILD) {
			char want[37];

			orc_child_saga_id(s->saga.id, e->step_name,
					  s->saga.steps[i].attempt, want);
			CHECK(s, s->def->steps[i].kind == ORC_STEP_SAGA &&
					 strcmp(e->message_id, want) == 0,
			      "child %s of %s, not its current one %s",
			      e->message_id, e->step_name, want);
			if (e->child_action == ORC_CHILD_START) {
				CHECK(s, needs_done(s, i) && !s->failing,
				      "child of %s started before its needs "
				      "or while failing",
				      e->step_name);
				children_started++;
			} else if (e->child_action == ORC_CHILD_CANCEL) {
				CHECK(s, s->child_cancelled[i] !=
						 s->saga.steps[i].attempt,
				      "child of %s cancelled twice",
				      e->step_name);
				s->child_cancelled[i] =
					s->saga.steps[i].attempt;
			} else if (e->child_action == ORC_CHILD_UNDO) {
				CHECK(s, s->ever_succeeded[i],
				      "undo of %s that never succeeded",
				      e->step_name);
				s->child_undo[i] = true;
				children_undone++;
			}
			continue;
		}
		if (e->kind != ORC_EFFECT_HISTORY)
			continue;
		CHECK(s, json_is_object(e->detail), "history without detail");
		if (item != NULL) {
			/* a map item's: its step is not done by it */
			const struct orc_map_item *it;

			CHECK(s, json_is_integer(item) &&
					 s->def->steps[i].has_map,
			      "%s: item of a step that is no map", e->history);
			it = find_item(s, i, json_integer_value(item));
			if (strcmp(e->history, "step.started") == 0) {
				CHECK(s, needs_done(s, i),
				      "%s[%lld] started before its needs",
				      e->step_name,
				      (long long)json_integer_value(item));
			} else if (strcmp(e->history, "step.succeeded") == 0) {
				s->ever_succeeded[i] = true;
				s->item_succeeded[i] = true;
				items_succeeded++;
			} else if (strcmp(e->history,
					  "compensation.succeeded") == 0) {
				items_compensated++;
			} else if (strcmp(e->history,
					  "compensation.started") == 0) {
				/* latest first; a resend is the same item */
				CHECK(s, it != NULL && it->st.completed_seq > 0,
				      "compensation of %s[%lld] that never "
				      "succeeded",
				      e->step_name,
				      (long long)json_integer_value(item));
				CHECK(s,
				      s->item_comp_seq[i] == 0 ||
					      it->st.comp_attempt > 1 ||
					      it->st.completed_seq <=
						      s->item_comp_seq[i],
				      "%s[%lld] (seq %lld) undone after seq "
				      "%lld",
				      e->step_name,
				      (long long)json_integer_value(item),
				      (long long)it->st.completed_seq,
				      (long long)s->item_comp_seq[i]);
				s->item_comp_seq[i] = it->st.completed_seq;
			}
			continue;
		}
		if (strcmp(e->history, "saga.compensating") == 0) {
			s->failing = true;
		} else if (strcmp(e->history, "saga.retried") == 0) {
			if (before == ORC_SAGA_FAILED) {
				s->failing = false;
				memset(s->item_comp_seq, 0,
				       sizeof(s->item_comp_seq));
			}
		} else if (strcmp(e->history, "step.started") == 0) {
			CHECK(s, needs_done(s, i), "%s started before its needs",
			      e->step_name);
		} else if (strcmp(e->history, "step.skipped") == 0) {
			CHECK(s, needs_done(s, i), "%s skipped before its needs",
			      e->step_name);
			s->done[i] = true;
		} else if (strcmp(e->history, "step.succeeded") == 0) {
			s->done[i] = true;
			s->ever_succeeded[i] = true;
		} else if (strcmp(e->history, "compensation.succeeded") == 0) {
			CHECK(s, s->n_comp < MAX_STEPS * 4, "too many");
			s->comp_seq[s->n_comp] = placed_by(&s->saga.steps[i]);
			s->comp_order[s->n_comp++] = i;
		}
	}
	if (s->fx.result == ORC_RESULT_IGNORED)
		CHECK(s,
		      s->fx.n == 1 && s->fx.v[0].kind == ORC_EFFECT_HISTORY &&
			      strstr(s->fx.v[0].history, ".ignored") != NULL,
		      "an ignored %s input has %zu effects",
		      orc_input_kind_name(in->kind), s->fx.n);
}

/* Map step i's counters, items and timers; *wake takes item timers. */
static void
check_map(struct sim *s, size_t i, int64_t *wake)
{
	const struct orc_saga *saga = &s->saga;
	const struct orc_saga_step *st = &saga->steps[i];
	const struct orc_step_def *sd = &s->def->steps[i];
	const struct orc_map_state *m = st->map;
	int64_t running = 0, succeeded = 0, failed = 0, compensating = 0,
		compensated = 0, last_seq = 0;
	const json_t *result;

	CHECK(s,
	      st->wake_reason == ORC_WAKE_NONE ||
		      (s->store && st->wake_reason == ORC_WAKE_MAP_LOAD),
	      "map %s: its own timer %s", sd->name,
	      orc_wake_reason_name(st->wake_reason));
	map_loads += st->wake_reason == ORC_WAKE_MAP_LOAD;
	if (m == NULL) {
		CHECK(s, st->status == ORC_STEP_PENDING ||
				 st->status == ORC_STEP_SKIPPED,
		      "map %s %s without map state", sd->name,
		      orc_step_status_name(st->status));
		return;
	}
	CHECK(s, m->complete, "map %s: not complete in memory", sd->name);
	CHECK(s, (int64_t)m->n == m->started && m->started <= m->n_items,
	      "map %s: %zu items loaded, %lld started of %lld", sd->name,
	      m->n, (long long)m->started, (long long)m->n_items);
	for (size_t k = 0; k < m->n; k++) {
		const struct orc_saga_step *is = &m->items[k].st;
		enum orc_wake_reason w = is->wake_reason;

		CHECK(s, m->items[k].index == (int64_t)k,
		      "map %s: item %zu has index %lld", sd->name, k,
		      (long long)m->items[k].index);
		CHECK(s, (is->wake_ms == 0) == (w == ORC_WAKE_NONE),
		      "%s[%zu]: wake %lld reason %s", sd->name, k,
		      (long long)is->wake_ms, orc_wake_reason_name(w));
		if (is->wake_ms > 0 && (*wake == 0 || is->wake_ms < *wake))
			*wake = is->wake_ms;
		if (is->completed_seq > last_seq)
			last_seq = is->completed_seq;
		switch (is->status) {
		case ORC_STEP_RUNNING:
			running++;
			CHECK(s,
			      (w == ORC_WAKE_RETRY &&
			       saga->status == ORC_SAGA_RUNNING) ||
				      (w == ORC_WAKE_TIMEOUT) ==
					      (sd->timeout_ms > 0),
			      "running %s[%zu]: timer %s", sd->name, k,
			      orc_wake_reason_name(w));
			CHECK(s, is->attempt - is->attempt_base >= 1,
			      "running %s[%zu]: attempt %d", sd->name, k,
			      is->attempt);
			break;
		case ORC_STEP_SUCCEEDED:
			succeeded++;
			break;
		case ORC_STEP_FAILED:
			failed++;
			break;
		case ORC_STEP_COMPENSATING:
			succeeded++;
			compensating++;
			CHECK(s, st->status == ORC_STEP_COMPENSATING,
			      "%s[%zu] compensating in a map %s", sd->name, k,
			      orc_step_status_name(st->status));
			CHECK(s,
			      w == ORC_WAKE_NONE ||
				      w == ORC_WAKE_COMP_TIMEOUT ||
				      w == ORC_WAKE_COMP_RETRY,
			      "compensating %s[%zu]: timer %s", sd->name, k,
			      orc_wake_reason_name(w));
			break;
		case ORC_STEP_COMPENSATED:
			succeeded++;
			compensated++;
			break;
		default:
			CHECK(s, false, "%s[%zu] is %s", sd->name, k,
			      orc_step_status_name(is->status));
		}
		if (is->status != ORC_STEP_RUNNING &&
		    is->status != ORC_STEP_COMPENSATING)
			CHECK(s, w == ORC_WAKE_NONE, "%s %s[%zu] with timer %s",
			      orc_step_status_name(is->status), sd->name, k,
			      orc_wake_reason_name(w));
		if (is->status == ORC_STEP_SUCCEEDED ||
		    is->status == ORC_STEP_COMPENSATING ||
		    is->status == ORC_STEP_COMPENSATED)
			CHECK(s, is->completed_seq > 0,
			      "%s[%zu] succeeded without a seq", sd->name, k);
	}
	CHECK(s,
	      m->succeeded == succeeded && m->failed == failed &&
		      m->compensated == compensated && m->last_seq == last_seq,
	      "map %s: counters %lld/%lld/%lld seq %lld, items %lld/%lld/%lld "
	      "seq %lld",
	      sd->name, (long long)m->succeeded, (long long)m->failed,
	      (long long)m->compensated, (long long)m->last_seq,
	      (long long)succeeded, (long long)failed, (long long)compensated,
	      (long long)last_seq);
	CHECK(s, running <= m->concurrency && compensating <= m->concurrency,
	      "map %s: %lld running, %lld compensating, concurrency %d",
	      sd->name, (long long)running, (long long)compensating,
	      m->concurrency);
	CHECK(s, running == 0 || st->status == ORC_STEP_RUNNING ||
			 st->status == ORC_STEP_FAILED,
	      "map %s %s with items running", sd->name,
	      orc_step_status_name(st->status));
	/* a running map, not paused, fills its slots */
	if (saga->status == ORC_SAGA_RUNNING && saga->paused_ms == 0 &&
	    st->status == ORC_STEP_RUNNING && m->started < m->n_items)
		CHECK(s, running == m->concurrency,
		      "map %s: %lld running of %d, %lld of %lld started",
		      sd->name, (long long)running, m->concurrency,
		      (long long)m->started, (long long)m->n_items);
	if (saga->status == ORC_SAGA_RUNNING && st->status == ORC_STEP_RUNNING)
		CHECK(s, m->failed <= m->n_items - m->min_success,
		      "map %s runs with min_success out of reach", sd->name);
	result = json_object_get(json_object_get(saga->context, "steps"),
				 sd->name);
	switch (st->status) {
	case ORC_STEP_SUCCEEDED:
	case ORC_STEP_COMPENSATING:
	case ORC_STEP_COMPENSATED:
		if (st->completed_seq == 0)
			break; /* a failed map's items undone */
		CHECK(s, json_array_size(result) == (size_t)m->n_items &&
				 m->started == m->n_items &&
				 m->succeeded + m->failed == m->n_items &&
				 m->succeeded >= m->min_success,
		      "map %s succeeded: %zu results of %lld items, %lld "
		      "succeeded, %lld failed, min %lld",
		      sd->name, json_array_size(result),
		      (long long)m->n_items, (long long)m->succeeded,
		      (long long)m->failed, (long long)m->min_success);
		for (size_t k = 0; k < m->n; k++)
			CHECK(s,
			      json_equal(json_array_get(result, k),
					 m->items[k].st.status ==
							 ORC_STEP_FAILED ||
						 m->items[k].output == NULL
					     ? json_null()
					     : m->items[k].output),
			      "map %s: result %zu is not item %zu's",
			      sd->name, k, k);
		break;
	case ORC_STEP_FAILED:
		CHECK(s,
		      m->failed > m->n_items - m->min_success ||
			      (st->last_error != NULL &&
			       strcmp(st->last_error, "aborted") == 0),
		      "map %s failed: %lld of %lld items failed, min %lld, "
		      "error %s",
		      sd->name, (long long)m->failed, (long long)m->n_items,
		      (long long)m->min_success,
		      st->last_error ? st->last_error : "(none)");
		break;
	default:
		break;
	}
	if (st->status == ORC_STEP_COMPENSATED)
		CHECK(s, m->compensated == m->succeeded,
		      "map %s compensated with %lld of %lld items undone",
		      sd->name, (long long)m->compensated,
		      (long long)m->succeeded);
}

static void
check_state(struct sim *s)
{
	const struct orc_saga *saga = &s->saga;
	enum orc_saga_status ss = saga->status;
	size_t running = 0, compensating = 0, compensated = 0, failed = 0;
	int64_t wake = 0;

	for (size_t i = 0; i < saga->n_steps; i++) {
		const struct orc_saga_step *st = &saga->steps[i];
		const struct orc_step_def *sd = &s->def->steps[i];
		enum orc_wake_reason w = st->wake_reason;

		running += st->status == ORC_STEP_RUNNING;
		compensating += st->status == ORC_STEP_COMPENSATING;
		compensated += st->status == ORC_STEP_COMPENSATED;
		failed += st->status == ORC_STEP_FAILED;
		CHECK(s, (st->wake_ms == 0) == (w == ORC_WAKE_NONE),
		      "step %s: wake %" PRId64 " reason %s", sd->name,
		      st->wake_ms, orc_wake_reason_name(w));
		if (st->wake_ms > 0 && (wake == 0 || st->wake_ms < wake))
			wake = st->wake_ms;
		if (sd->has_map)
			check_map(s, i, &wake);
		switch (st->status) {
		case ORC_STEP_RUNNING:
			if (sd->has_map)
				CHECK(s,
				      w == ORC_WAKE_NONE ||
					      w == ORC_WAKE_MAP_LOAD,
				      "map %s: timer %s", sd->name,
				      orc_wake_reason_name(w));
			else if (sd->kind == ORC_STEP_COMMAND)
				CHECK(s,
				      w == ORC_WAKE_RETRY ||
					      (w == ORC_WAKE_TIMEOUT) ==
						      (sd->timeout_ms > 0),
				      "running %s: timer %s", sd->name,
				      orc_wake_reason_name(w));
			else if (sd->kind == ORC_STEP_WAIT)
				CHECK(s,
				      (w == ORC_WAKE_WAIT_TIMEOUT) ==
					      (sd->wait.timeout_ms > 0) &&
					      (w == ORC_WAKE_NONE ||
					       w == ORC_WAKE_WAIT_TIMEOUT),
				      "waiting %s: timer %s", sd->name,
				      orc_wake_reason_name(w));
			else if (sd->kind == ORC_STEP_SAGA)
				CHECK(s,
				      (w == ORC_WAKE_TIMEOUT) ==
					      (sd->timeout_ms > 0) &&
					      (w == ORC_WAKE_NONE ||
					       w == ORC_WAKE_TIMEOUT),
				      "saga step %s: timer %s", sd->name,
				      orc_wake_reason_name(w));
			else
				CHECK(s, w == ORC_WAKE_DELAY,
				      "delay %s: timer %s", sd->name,
				      orc_wake_reason_name(w));
			/* its child was cancelled when the saga failed */
			if (sd->kind == ORC_STEP_SAGA &&
			    ss != ORC_SAGA_RUNNING)
				CHECK(s, s->child_cancelled[i] == st->attempt,
				      "saga step %s runs, its child not "
				      "cancelled, in a %s saga",
				      sd->name, orc_saga_status_name(ss));
			CHECK(s, st->attempt - st->attempt_base >= 1 ||
					 sd->kind != ORC_STEP_COMMAND,
			      "running %s: attempt %d", sd->name, st->attempt);
			break;
		case ORC_STEP_COMPENSATING:
			CHECK(s,
			      w == ORC_WAKE_NONE || w == ORC_WAKE_COMP_TIMEOUT ||
				      w == ORC_WAKE_COMP_RETRY ||
				      (sd->has_map && w == ORC_WAKE_MAP_LOAD),
			      "compensating %s: timer %s", sd->name,
			      orc_wake_reason_name(w));
			CHECK(s, sd->has_compensation ||
					 sd->kind == ORC_STEP_SAGA,
			      "%s compensating without a compensation",
			      sd->name);
			break;
		default:
			CHECK(s, w == ORC_WAKE_NONE, "%s %s with timer %s",
			      orc_step_status_name(st->status), sd->name,
			      orc_wake_reason_name(w));
		}
		if (st->status == ORC_STEP_COMPENSATED)
			CHECK(s,
			      (sd->has_compensation ||
			       sd->kind == ORC_STEP_SAGA) &&
				      placed_by(st) > 0,
			      "%s compensated", sd->name);
		/* a step that ever ran or was skipped had its needs done */
		if (st->status != ORC_STEP_PENDING)
			for (size_t k = 0; k < sd->n_needs; k++) {
				enum orc_step_status ns =
					saga->steps[sd->needs[k]].status;

				CHECK(s,
				      ns == ORC_STEP_SUCCEEDED ||
					      ns == ORC_STEP_SKIPPED ||
					      ns == ORC_STEP_COMPENSATING ||
					      ns == ORC_STEP_COMPENSATED,
				      "%s is %s but its need %s is %s",
				      sd->name,
				      orc_step_status_name(st->status),
				      s->def->steps[sd->needs[k]].name,
				      orc_step_status_name(ns));
			}
	}
	if (ss == ORC_SAGA_RUNNING && saga->deadline_ms > 0 &&
	    (wake == 0 || saga->deadline_ms < wake))
		wake = saga->deadline_ms;
	CHECK(s, saga->wake_ms == wake, "saga wake %" PRId64 ", want %" PRId64,
	      saga->wake_ms, wake);
	CHECK(s, s->fx.wake_ms == saga->wake_ms, "effects wake");

	switch (ss) {
	case ORC_SAGA_RUNNING:
		CHECK(s, compensating + compensated + failed == 0,
		      "running with failed or compensating steps");
		CHECK(s, saga->cause == ORC_CAUSE_NONE, "running with a cause");
		break;
	case ORC_SAGA_COMPLETED:
		for (size_t i = 0; i < saga->n_steps; i++)
			CHECK(s,
			      saga->steps[i].status == ORC_STEP_SUCCEEDED ||
				      saga->steps[i].status == ORC_STEP_SKIPPED,
			      "completed with %s %s", s->def->steps[i].name,
			      orc_step_status_name(saga->steps[i].status));
		break;
	case ORC_SAGA_COMPENSATING:
		CHECK(s, saga->cause != ORC_CAUSE_NONE, "no cause");
		/*
		 * only commands in flight and children are awaited; the
		 * rest stopped
		 */
		for (size_t i = 0; i < saga->n_steps; i++)
			CHECK(s,
			      saga->steps[i].status != ORC_STEP_RUNNING ||
				      s->def->steps[i].kind == ORC_STEP_SAGA ||
				      (s->def->steps[i].kind ==
					       ORC_STEP_COMMAND &&
				       saga->steps[i].wake_reason !=
					       ORC_WAKE_RETRY),
			      "%s still running while compensating",
			      s->def->steps[i].name);
		CHECK(s, compensating <= 1, "%zu compensating at once",
		      compensating);
		CHECK(s, compensating == 0 || running == 0,
		      "compensating while steps run");
		break;
	case ORC_SAGA_STUCK:
		CHECK(s, compensating == 1 && running == 0, "stuck");
		break;
	case ORC_SAGA_FAILED:
		CHECK(s, compensated + compensating + running == 0 &&
				 failed > 0 && saga->cause == ORC_CAUSE_FAILURE,
		      "failed");
		break;
	case ORC_SAGA_COMPENSATED:
		CHECK(s, compensated > 0 && compensating + running == 0 &&
				 saga->cause == ORC_CAUSE_FAILURE,
		      "compensated");
		break;
	case ORC_SAGA_CANCELLED:
		CHECK(s, running == 0 && compensating <= 1 &&
				 saga->cause == ORC_CAUSE_CANCEL,
		      "cancelled");
		break;
	case ORC_SAGA_TIMED_OUT:
		CHECK(s, running + compensating == 0 &&
				 saga->cause == ORC_CAUSE_TIMEOUT,
		      "timed out");
		break;
	}
	if (orc_saga_status_is_final(ss))
		CHECK(s, saga->wake_ms == 0, "final with a timer");
	if (ss != ORC_SAGA_RUNNING && ss != ORC_SAGA_COMPLETED &&
	    ss != ORC_SAGA_FAILED)
		CHECK(s, saga->failure_reason != NULL, "no failure reason");

	/* compensations in strictly decreasing order of completion */
	for (size_t k = 1; k < s->n_comp; k++)
		CHECK(s, s->comp_seq[k - 1] > s->comp_seq[k],
		      "compensated %s before %s",
		      s->def->steps[s->comp_order[k - 1]].name,
		      s->def->steps[s->comp_order[k]].name);
}

/* ---- inputs ---- */

static void
to_input(const struct rec *r, struct orc_engine_input *in)
{
	memset(in, 0, sizeof(*in));
	in->kind = r->kind;
	in->data = r->data;
	switch (r->kind) {
	case ORC_INPUT_START:
		in->saga_id = "5a9a0000-0000-4000-8000-00000000000f";
		in->event_id = "trigger";
		break;
	case ORC_INPUT_REPLY:
		in->step = r->step;
		in->type = r->type;
		in->event_id = "reply";
		break;
	case ORC_INPUT_EVENT:
		in->topic = r->topic;
		in->type = r->type;
		in->event_id = "event";
		break;
	case ORC_INPUT_RESOLVE:
		in->step = r->step;
		in->by = "random";
		break;
	case ORC_INPUT_CHILD:
		in->step = r->step;
		in->event_id = "child";
		break;
	default:
		break;
	}
}

/* ---- a store's item rows ---- */

#define ITEMS_MAX 16

struct item_ref {
	const struct orc_saga *saga;
	size_t pos;
};

static const struct orc_map_item *
ref_item(const struct item_ref *r, size_t i)
{
	return &r->saga->steps[i].map->items[r->pos];
}

/*
 * A saga (out, uninitialised) from the saga and step rows of rows_of,
 * with for map step i the item rows of rows_of and those of stored (the
 * rows written before, NULL for none) of the same run that rows_of does
 * not hold, ordered by index.  partial: only those orc_saga_map_load()
 * names, complete when it names all; else all, complete.
 */
static void
rebuild(struct sim *s, const struct orc_saga *rows_of,
	const struct orc_saga *stored, bool partial, struct orc_saga *out)
{
	struct orc_saga_row row;
	struct orc_step_row steps[MAX_STEPS];
	struct orc_error err;

	CHECK(s, orc_saga_to_row(rows_of, &row) == ORC_OK, "to row");
	for (size_t i = 0; i < rows_of->n_steps; i++)
		orc_saga_step_to_row(rows_of, i, &steps[i]);
	CHECK(s,
	      orc_saga_from_rows(out, rows_of->def, &row, steps,
				 rows_of->n_steps, &err) == ORC_OK,
	      "from rows: %s", err.message);
	orc_saga_row_finish(&row);
	for (size_t i = 0; i < rows_of->n_steps; i++) {
		const struct orc_map_state *m = rows_of->steps[i].map;
		const struct orc_map_state *o =
			stored != NULL ? stored->steps[i].map : NULL;
		struct item_ref refs[ITEMS_MAX], keep[ITEMS_MAX];
		struct orc_item_row rows[ITEMS_MAX];
		enum orc_map_load mode = ORC_MAP_LOAD_ALL;
		size_t n = 0, n_keep = 0;

		if (m == NULL)
			continue;
		for (size_t k = 0; k < m->n; k++)
			refs[n++] = (struct item_ref){rows_of, k};
		for (size_t k = 0; o != NULL && o->run == m->run && k < o->n;
		     k++) {
			bool held = false;

			for (size_t j = 0; j < m->n; j++)
				held = held ||
				       m->items[j].index == o->items[k].index;
			if (!held)
				refs[n++] = (struct item_ref){stored, k};
		}
		/* by index, as the store reads them */
		for (size_t a = 1; a < n; a++)
			for (size_t b = a; b > 0 && ref_item(&refs[b - 1], i)->index >
						   ref_item(&refs[b], i)->index;
			     b--) {
				struct item_ref tmp = refs[b];

				refs[b] = refs[b - 1];
				refs[b - 1] = tmp;
			}
		if (partial)
			mode = orc_saga_map_load(rows_of, i);
		for (size_t k = 0; k < n; k++) {
			const struct orc_map_item *it = ref_item(&refs[k], i);
			bool want = mode == ORC_MAP_LOAD_ALL;

			if (mode != ORC_MAP_LOAD_NONE)
				want = want ||
				       it->st.status == ORC_STEP_RUNNING ||
				       it->st.status == ORC_STEP_COMPENSATING;
			if (mode == ORC_MAP_LOAD_UNDO &&
			    it->st.status == ORC_STEP_SUCCEEDED) {
				/* the concurrency latest succeeded ones */
				int later = 0;

				for (size_t j = 0; j < n; j++)
					if (ref_item(&refs[j], i)->st.status ==
						    ORC_STEP_SUCCEEDED &&
					    ref_item(&refs[j], i)
							    ->st.completed_seq >
						    it->st.completed_seq)
						later++;
				want = later < m->concurrency;
			}
			if (want)
				keep[n_keep++] = refs[k];
		}
		for (size_t k = 0; k < n_keep; k++)
			orc_saga_item_to_row(keep[k].saga, i, keep[k].pos,
					     &rows[k]);
		CHECK(s,
		      orc_saga_add_items(out, i, rows, n_keep,
					 mode == ORC_MAP_LOAD_ALL,
					 &err) == ORC_OK,
		      "add items: %s", err.message);
	}
}

/*
 * Apply r to *full (every item loaded): directly, or in store mode to
 * the saga read as the store reads it, written back over *full.
 */
static enum orc_status
apply_as_stored(struct sim *s, struct orc_saga *full, const struct rec *r,
		struct orc_effects *fx, struct orc_error *err)
{
	struct orc_engine_input in;
	struct orc_saga work, written;
	enum orc_status st;

	to_input(r, &in);
	if (!s->store || full->id == NULL)
		return orc_engine_apply(full, &in, r->now, fx, err);
	rebuild(s, full, NULL, true, &work);
	st = orc_engine_apply(&work, &in, r->now, fx, err);
	rebuild(s, &work, full, false, &written);
	orc_saga_finish(&work);
	orc_saga_finish(full);
	*full = written;
	return st;
}

static void
record(struct sim *s, struct rec *r)
{
	enum orc_saga_status before = s->saga.status;
	struct orc_engine_input in;
	struct orc_error err;
	enum orc_status st;
	json_t *doc;
	char *text;

	CHECK(s, s->n_inputs < MAX_INPUTS, "the saga never ends");
	r->now = s->now;
	s->inputs[s->n_inputs++] = *r;
	to_input(r, &in);
	st = apply_as_stored(s, &s->saga, r, &s->fx, &err);
	s->at++;
	if (r->kind == ORC_INPUT_CANCEL || r->kind == ORC_INPUT_RETRY ||
	    r->kind == ORC_INPUT_RESOLVE)
		CHECK(s, st == ORC_OK || st == ORC_CONFLICT, "%s: %s: %s",
		      orc_input_kind_name(r->kind), orc_status_name(st),
		      err.message);
	else
		CHECK(s, st == ORC_OK, "%s: %s: %s %s",
		      orc_input_kind_name(r->kind), orc_status_name(st),
		      err.message, err.detail);
	doc = orc_effects_to_json(&s->fx);
	text = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
	json_array_append_new(s->log, json_string_nocheck(text));
	if (getenv("ORC_ENGINE_TRACE") != NULL)
		fprintf(stderr, "%zu %s %s %s: %s\n", s->at,
			orc_input_kind_name(r->kind), r->step, r->type, text);
	free(text);
	json_decref(doc);
	if (r->kind == ORC_INPUT_CHILD && r->type[0] == 's')
		CHECK(s,
		      s->fx.result == ORC_RESULT_IGNORED &&
			      s->fx.ignore_reason == ORC_IGNORE_LATE,
		      "an earlier attempt's child end taken");
	check_effects(s, &in, before);
	check_state(s);
	visited[s->saga.status]++;
	if (chance(12))
		reload(s);
}

/* A step index in a random order. */
static size_t
pick(struct sim *s, bool (*want)(const struct sim *, size_t))
{
	size_t n = s->saga.n_steps, first = rnd((unsigned)n);

	for (size_t k = 0; k < n; k++) {
		size_t i = (first + k) % n;

		if (want(s, i))
			return i;
	}
	return SIZE_MAX;
}

/* Does st (a step's, or a map item's) await a reply? */
static bool
awaits(const struct sim *s, const struct orc_saga_step *st)
{
	return (st->status == ORC_STEP_RUNNING &&
		st->wake_reason != ORC_WAKE_RETRY) ||
	       (st->status == ORC_STEP_COMPENSATING &&
		st->wake_reason != ORC_WAKE_COMP_RETRY &&
		s->saga.status == ORC_SAGA_COMPENSATING);
}

/* A map step's item that awaits a reply, from a random start; or NULL. */
static const struct orc_map_item *
awaiting_item(const struct sim *s, size_t i)
{
	const struct orc_map_state *m = s->saga.steps[i].map;
	size_t first;

	if (m == NULL || m->n == 0)
		return NULL;
	first = rnd((unsigned)m->n);
	for (size_t k = 0; k < m->n; k++)
		if (awaits(s, &m->items[(first + k) % m->n].st))
			return &m->items[(first + k) % m->n];
	return NULL;
}

static bool
awaits_reply(const struct sim *s, size_t i)
{
	const struct orc_saga_step *st = &s->saga.steps[i];
	const struct orc_map_state *m = st->map;

	if (s->def->steps[i].kind != ORC_STEP_COMMAND)
		return false;
	if (!s->def->steps[i].has_map)
		return awaits(s, st);
	for (size_t k = 0; m != NULL && k < m->n; k++)
		if (awaits(s, &m->items[k].st))
			return true;
	return false;
}

/* Does saga step i await its child's end (running, or undoing it)? */
static bool
awaits_child(const struct sim *s, size_t i)
{
	enum orc_step_status st = s->saga.steps[i].status;

	return s->def->steps[i].kind == ORC_STEP_SAGA &&
	       (st == ORC_STEP_RUNNING || st == ORC_STEP_COMPENSATING);
}

/*
 * The end of saga step i's child with status; stale: another attempt's
 * id (r->type "stale", checked to be ignored).
 */
static void
child_end(struct sim *s, struct rec *r, size_t i, const char *status,
	  bool stale)
{
	int attempt = s->saga.steps[i].attempt;
	char id[37];

	r->kind = ORC_INPUT_CHILD;
	snprintf(r->step, sizeof(r->step), "%s", s->def->steps[i].name);
	snprintf(r->type, sizeof(r->type), "%s", stale ? "stale" : "");
	orc_child_saga_id(s->saga.id, s->def->steps[i].name,
			  stale ? attempt + (chance(50) ? 1 : -1) : attempt,
			  id);
	r->data = json_pack("{ss ss s{si} ss}", "child", id, "status", status,
			    "output", "v", (int)rnd(1000), "failure", "boom");
}

/* The end a child sent as asked: completed, cancelled or compensated. */
static const char *
right_end(const struct sim *s, size_t i)
{
	if (s->saga.steps[i].status == ORC_STEP_COMPENSATING)
		return "compensated";
	return s->saga.status == ORC_SAGA_RUNNING ? "completed" : "cancelled";
}

static bool
running_wait(const struct sim *s, size_t i)
{
	return s->def->steps[i].kind == ORC_STEP_WAIT &&
	       s->saga.steps[i].status == ORC_STEP_RUNNING;
}

static bool
any_wait(const struct sim *s, size_t i)
{
	return s->def->steps[i].kind == ORC_STEP_WAIT;
}

/*
 * A reply to step i: of type action, or comp when what it goes to
 * compensates.  To a map step it goes to an item that awaits one, or
 * (unless right) now and then to a random index, in range or not, or
 * to the step without an index.
 */
static void
reply_to(struct sim *s, struct rec *r, size_t i, const char *action,
	 const char *comp, bool right)
{
	const struct orc_step_def *sd = &s->def->steps[i];
	const struct orc_saga_step *st = &s->saga.steps[i];
	const struct orc_map_item *it;

	r->kind = ORC_INPUT_REPLY;
	snprintf(r->step, sizeof(r->step), "%s", sd->name);
	r->data = json_pack("{si}", "v", (int)rnd(1000));
	if (sd->has_map) {
		it = awaiting_item(s, i);
		if (it != NULL && (right || chance(85))) {
			st = &it->st;
			snprintf(r->step, sizeof(r->step), "%s[%lld]", sd->name,
				 (long long)it->index);
		} else if (right || chance(90)) {
			unsigned index = rnd(8);

			it = find_item(s, i, index);
			if (it != NULL)
				st = &it->st;
			snprintf(r->step, sizeof(r->step), "%s[%u]", sd->name,
				 index);
		}
	}
	snprintf(r->type, sizeof(r->type), "%s",
		 st->status == ORC_STEP_COMPENSATING ? comp : action);
}

static void
event_for(struct sim *s, struct rec *r, size_t i, bool right_key)
{
	r->kind = ORC_INPUT_EVENT;
	snprintf(r->topic, sizeof(r->topic), "%s", chance(95) ? "tw" : "tz");
	snprintf(r->type, sizeof(r->type), "%s", s->def->steps[i].wait.type);
	r->data = json_pack("{sssi}", "id", right_key ? "key-1" : "key-2",
			    "v", (int)rnd(1000));
}

static void
random_input(struct sim *s, struct rec *r)
{
	static const char *const action_types[] = {
		"ok", "ok", "ok", "bad", "flaky", "flaky", "zzz", "undone",
	};
	static const char *const comp_types[] = {
		"undone", "undone", "undo_bad", "undo_bad", "ok", "zzz",
	};
	static const char *const child_ends[] = {
		"completed", "completed", "compensated", "failed", "cancelled",
		"timed_out", "stuck",
	};
	unsigned roll = rnd(100);
	size_t i;

	memset(r, 0, sizeof(*r));
	if (roll < 45) {
		i = chance(80) ? pick(s, awaits_reply) : SIZE_MAX;
		if (i == SIZE_MAX)
			i = rnd((unsigned)s->saga.n_steps);
		reply_to(s, r, i, action_types[rnd(8)], comp_types[rnd(6)],
			 false);
		if (chance(3))
			snprintf(r->step, sizeof(r->step), "nope");
	} else if (roll < 60) {
		i = pick(s, any_wait);
		if (i == SIZE_MAX) {
			r->kind = ORC_INPUT_EVENT;
			snprintf(r->topic, sizeof(r->topic), "tw");
			snprintf(r->type, sizeof(r->type), "x.evt");
			r->data = json_pack("{ss}", "id", "key-1");
		} else {
			event_for(s, r, i, chance(85));
		}
	} else if (roll < 70 && (i = pick(s, awaits_child)) != SIZE_MAX) {
		child_end(s, r, i, child_ends[rnd(COUNT_OF(child_ends))],
			  chance(15));
	} else if (roll < 92) {
		r->kind = ORC_INPUT_TIMER;
		if (s->saga.wake_ms > 0 && chance(85))
			s->now = s->saga.wake_ms + (chance(20) ? rnd(5000) : 0);
		else
			s->now += rnd(3000);
	} else if (roll < 96) {
		r->kind = ORC_INPUT_CANCEL;
	} else {
		r->kind = ORC_INPUT_RETRY;
	}
}

/* Toward the end: successes, awaited events, timers, unsticking. */
static bool
finishing_input(struct sim *s, struct rec *r)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	switch (s->saga.status) {
	case ORC_SAGA_RUNNING:
	case ORC_SAGA_COMPENSATING:
		break;
	case ORC_SAGA_STUCK:
		r->kind = chance(50)   ? ORC_INPUT_RETRY
			  : chance(50) ? ORC_INPUT_RESOLVE
				       : ORC_INPUT_CANCEL;
		/* resolve: the compensating step, by hand */
		for (i = 0; r->kind == ORC_INPUT_RESOLVE && i < s->saga.n_steps;
		     i++)
			if (s->saga.steps[i].status == ORC_STEP_COMPENSATING)
				snprintf(r->step, sizeof(r->step), "%s",
					 s->def->steps[i].name);
		return true;
	default:
		return false;
	}
	if (chance(70) && (i = pick(s, awaits_reply)) != SIZE_MAX) {
		reply_to(s, r, i, "ok", "undone", true);
		return true;
	}
	if (chance(70) && (i = pick(s, running_wait)) != SIZE_MAX) {
		event_for(s, r, i, true);
		return true;
	}
	if (chance(70) && (i = pick(s, awaits_child)) != SIZE_MAX) {
		child_end(s, r, i, right_end(s, i), false);
		return true;
	}
	if (s->saga.wake_ms > 0) {
		r->kind = ORC_INPUT_TIMER;
		s->now = s->saga.wake_ms;
		return true;
	}
	i = pick(s, awaits_reply);
	if (i == SIZE_MAX)
		i = pick(s, running_wait);
	if (i == SIZE_MAX && (i = pick(s, awaits_child)) != SIZE_MAX) {
		child_end(s, r, i, right_end(s, i), false);
		return true;
	}
	CHECK(s, i != SIZE_MAX, "%s saga with nothing to wait for",
	      orc_saga_status_name(s->saga.status));
	if (s->def->steps[i].kind == ORC_STEP_WAIT)
		event_for(s, r, i, true);
	else
		reply_to(s, r, i, "ok", "undone", true);
	return true;
}

/* ---- one run ---- */

static void
check_end(struct sim *s)
{
	const struct orc_saga *saga = &s->saga;
	bool stuck_cancel = false;

	CHECK(s, orc_saga_status_is_final(saga->status) &&
			 saga->status != ORC_SAGA_STUCK,
	      "ended %s", orc_saga_status_name(saga->status));
	for (size_t i = 0; i < saga->n_steps; i++)
		if (saga->steps[i].status == ORC_STEP_COMPENSATING)
			stuck_cancel = true;
	if (saga->status == ORC_SAGA_COMPLETED ||
	    saga->status == ORC_SAGA_FAILED)
		CHECK(s, s->n_comp == 0, "%s with compensations",
		      orc_saga_status_name(saga->status));
	/*
	 * exactly the succeeded steps with a compensation were undone; a
	 * map's are its succeeded items (an empty one has none)
	 */
	if (!stuck_cancel && saga->status != ORC_SAGA_COMPLETED)
		for (size_t i = 0; i < saga->n_steps; i++) {
			bool child = s->def->steps[i].kind == ORC_STEP_SAGA;
			bool want = (s->def->steps[i].has_map
					     ? s->item_succeeded[i]
					     : s->ever_succeeded[i]) &&
				    (s->def->steps[i].has_compensation || child);
			bool got = false;

			for (size_t k = 0; k < s->n_comp; k++)
				got = got || s->comp_order[k] == i;
			CHECK(s, want == got,
			      "%s: succeeded %d, compensation %d, "
			      "compensated %d",
			      s->def->steps[i].name, s->ever_succeeded[i],
			      s->def->steps[i].has_compensation, got);
			CHECK(s,
			      want == (saga->steps[i].status ==
				       ORC_STEP_COMPENSATED),
			      "%s is %s", s->def->steps[i].name,
			      orc_step_status_name(saga->steps[i].status));
			/* a completed child was asked to undo */
			CHECK(s, !child || want == s->child_undo[i],
			      "saga step %s: succeeded %d, undo sent %d",
			      s->def->steps[i].name, want, s->child_undo[i]);
			if (want && saga->steps[i].map != NULL)
				for (size_t k = 0; k < saga->steps[i].map->n;
				     k++)
					CHECK(s,
					      saga->steps[i].map->items[k]
							      .st.status !=
						      ORC_STEP_SUCCEEDED,
					      "%s[%zu] not compensated",
					      s->def->steps[i].name, k);
		}
}

/* Replay the recorded inputs on a fresh state: the same, byte for byte. */
static void
check_replay(struct sim *s)
{
	struct orc_saga saga;
	struct orc_effects fx;
	struct orc_error err;
	char *a, *b;

	orc_effects_init(&fx);
	ck_assert_int_eq(orc_saga_init(&saga, s->def), ORC_OK);
	for (size_t k = 0; k < s->n_inputs; k++) {
		json_t *doc;
		char *text;

		apply_as_stored(s, &saga, &s->inputs[k], &fx, &err);
		doc = orc_effects_to_json(&fx);
		text = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
		s->at = k;
		CHECK(s,
		      strcmp(text, json_string_value(
					   json_array_get(s->log, k))) == 0,
		      "replay differs:\n%s\n%s", text,
		      json_string_value(json_array_get(s->log, k)));
		free(text);
		json_decref(doc);
	}
	a = orc_et_state_text(&saga);
	b = orc_et_state_text(&s->saga);
	CHECK(s, strcmp(a, b) == 0, "replayed state differs");
	free(a);
	free(b);
	orc_saga_finish(&saga);
	orc_effects_finish(&fx);
}


static void
run(uint64_t seed)
{
	struct orc_definition_issues issues = {0};
	struct sim s;
	struct rec r;
	json_t *body;
	size_t n = 1 + rnd(MAX_STEPS);

	memset(&s, 0, sizeof(s));
	s.seed = seed;
	rng = seed;
	n = 1 + rnd(MAX_STEPS);
	s.trigger = json_object();
	body = random_definition(n, s.trigger);
	if (orc_definition_from_json(body, &s.def, &issues) != ORC_OK) {
		char *text = json_dumps(body, JSON_INDENT(1));

		for (size_t i = 0; i < issues.n; i++)
			fprintf(stderr, "%s: %s\n", issues.v[i].pointer,
				issues.v[i].message);
		CHECK(&s, false, "generated an invalid definition:\n%s", text);
	}
	json_decref(body);
	ck_assert_int_eq(orc_saga_init(&s.saga, s.def), ORC_OK);
	orc_effects_init(&s.fx);
	s.inputs = calloc(MAX_INPUTS, sizeof(*s.inputs));
	s.log = json_array();
	s.ids = json_object();
	s.now = 1000;
	s.store = chance(50);

	memset(&r, 0, sizeof(r));
	r.kind = ORC_INPUT_START;
	r.data = json_incref(s.trigger);
	record(&s, &r);
	for (size_t k = 0; k < RANDOM_INPUTS; k++) {
		random_input(&s, &r);
		record(&s, &r);
	}
	while (finishing_input(&s, &r))
		record(&s, &r);
	check_end(&s);
	check_replay(&s);
	ended[s.saga.status]++;
	total_inputs += s.n_inputs;

	for (size_t k = 0; k < s.n_inputs; k++)
		json_decref(s.inputs[k].data);
	free(s.inputs);
	json_decref(s.log);
	json_decref(s.ids);
	json_decref(s.trigger);
	orc_saga_finish(&s.saga);
	orc_effects_finish(&s.fx);
	orc_definition_destroy(s.def);
	orc_definition_issues_finish(&issues);
}

static uint64_t
env_u64(const char *name, uint64_t fallback)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? strtoull(v, NULL, 10) : fallback;
}

START_TEST(test_random_sagas)
{
	uint64_t base = env_u64("ORC_ENGINE_SEED", 20240601);
	uint64_t runs = env_u64("ORC_ENGINE_RUNS", 1000);
	uint64_t from = runs * (uint64_t)_i / BATCHES;
	uint64_t to = runs * (uint64_t)(_i + 1) / BATCHES;

	memset(ended, 0, sizeof(ended));
	memset(visited, 0, sizeof(visited));
	total_inputs = 0;
	items_succeeded = items_compensated = map_loads = 0;
	children_started = children_undone = 0;
	for (uint64_t k = from; k < to; k++)
		run(base + k);
	if (_i == 0 && to > from) {
		fprintf(stderr, "engine_random: %" PRIu64 " sagas, %zu inputs;",
			to - from, total_inputs);
		for (int st = 0; st < ORC_SAGA_STATUS_COUNT; st++)
			if (ended[st])
				fprintf(stderr, " %s %zu",
					orc_saga_status_name(st), ended[st]);
		fprintf(stderr, "; inputs leaving it");
		for (int st = 0; st < ORC_SAGA_STATUS_COUNT; st++)
			fprintf(stderr, " %s %zu", orc_saga_status_name(st),
				visited[st]);
		fprintf(stderr,
			"; map items succeeded %zu, compensated %zu; map "
			"loads asked %zu; children started %zu, undone %zu\n",
			items_succeeded, items_compensated, map_loads,
			children_started, children_undone);
		if (to - from >= 100)
			ck_assert(items_succeeded > 0 && items_compensated > 0 &&
				  map_loads > 0 && children_started > 0 &&
				  children_undone > 0);
		/* the runs must reach every status and every way of ending */
		for (int st = 0; st < ORC_SAGA_STATUS_COUNT; st++)
			if (to - from >= 100)
				ck_assert_msg(visited[st] > 0, "no run was %s",
					      orc_saga_status_name(st));
		for (int st = 0; st < ORC_SAGA_STATUS_COUNT; st++)
			if (st != ORC_SAGA_STUCK && st != ORC_SAGA_RUNNING &&
			    st != ORC_SAGA_COMPENSATING && to - from >= 100)
				ck_assert_msg(ended[st] > 0, "no run ended %s",
					      orc_saga_status_name(st));
	}
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("engine_random");
	TCase *tc = tcase_create("random");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_random_sagas, 0, BATCHES);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
