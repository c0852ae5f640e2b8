/*
 * engine.c - the saga state machine.
 *
 * One call applies one input to one saga in place and lists the effects.
 * This file holds the entry point, the check of an input, and the
 * handlers of the inputs a saga gets by itself: its start, replies,
 * correlated events and timers.  Every handler is a few lines over the
 * small vocabulary of engine_txn.c (start a step, succeed it, fail an
 * attempt, begin failing the saga, advance the compensation, end the
 * saga), which also holds the transition tables every status change is
 * checked against.  Operator actions are in engine_operator.c, map steps
 * in engine_map.c, child sagas in engine_child.c, moving a saga to
 * another version in engine_migrate.c.
 *
 * The engine must stay pure: no I/O, no clock, no logging, no globals, no
 * randomness.  Its output depends only on its arguments, and effects are
 * listed in the order things happen, so replays are byte-identical.  Errors
 * (out of memory, a refused transition) latch in struct orc_txn and end the
 * call; the caller then discards the half-changed state.
 *
 * A saga's life is told in lifecycle events (SAGA_EVENT effects): one when
 * it starts, one each time it ends or gets stuck (orc_txn_end_saga()),
 * numbered by saga.lifecycle_seq so that their ids are deterministic and
 * never reused.
 * At completion the definition's "output" is rendered into the saga first,
 * so that saga.completed carries it.
 *
 * Cost per input is linear in the number of steps (a scan to start ready
 * steps, one to find the next compensation, one for the wake-up time) plus
 * rendering the commands sent.  The context is changed in place: a reply's
 * data goes in by reference, never copied.
 *
 * The names of the enums and the lifetimes of a saga and of an effect list
 * are in engine_state.c; the store's rows in saga_row.c.
 */
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_txn.h"
#include "expr.h"
#include "jsonp.h"
#include "text.h"

#define NO_STEP ORC_TXN_NO_STEP
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- history kinds, from engine.h's tables ---- */


/* The history kind of an ignored input, by kind: "start.ignored", ... */
#define IGNORED_HISTORY(constant, name) [constant] = name ".ignored",
static const char *const input_ignored_history[] = {
	ORC_INPUT_KINDS(IGNORED_HISTORY)};

/* ---- business keys ---- */

bool
orc_business_key(const json_t *data, const char *pointer, char *buf,
		 size_t len)
{
	const json_t *v = orc_jsonp_get(data, pointer);
	int n;

	if (v == NULL || len == 0)
		return false;
	if (json_is_string(v)) {
		if (json_string_length(v) >= len ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return false;
		memcpy(buf, json_string_value(v), json_string_length(v) + 1);
		return true;
	}
	if (json_is_integer(v)) {
		n = snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
			     json_integer_value(v));
		return n > 0 && (size_t)n < len;
	}
	return false;
}

/* ---- inputs ---- */

/*
 * The input changes nothing: one history entry says why.  step is the
 * step it named, when known.
 */
void
orc_txn_ignore(struct orc_txn *t, enum orc_ignore_reason reason, size_t step)
{
	const struct orc_engine_input *in = t->in;
	json_t *d;

	t->fx->result = ORC_RESULT_IGNORED;
	t->fx->ignore_reason = reason;
	d = orc_txn_history(t, input_ignored_history[in->kind], step);
	orc_txn_put_str(t, d, "reason", orc_ignore_reason_name(reason));
	if (reason == ORC_IGNORE_NOT_ALLOWED)
		orc_txn_put_str(t, d, "status",
				orc_saga_status_name(t->saga->status));
	if (in->kind == ORC_INPUT_REPLY && step == NO_STEP)
		orc_txn_put_str(t, d, "step", in->step);
	if (in->kind == ORC_INPUT_EVENT)
		orc_txn_put_str(t, d, "topic", in->topic);
	if (in->kind == ORC_INPUT_REPLY || in->kind == ORC_INPUT_EVENT)
		orc_txn_put_event(t, d);
}

/* An operator command (or START) the saga's status does not allow. */
void
orc_txn_conflict(struct orc_txn *t, const char *what)
{
	orc_txn_ignore(t, ORC_IGNORE_NOT_ALLOWED, NO_STEP);
	if (orc_txn_ok(t))
		t->status = orc_error_set(t->err, ORC_CONFLICT,
					  "cannot %s a saga that is %s", what,
					  orc_saga_status_name(t->saga->status));
}

static void
on_start(struct orc_txn *t)
{
	const struct orc_engine_input *in = t->in;
	struct orc_saga *saga = t->saga;
	char keybuf[ORC_SAGA_KEY_MAX];
	const char *key = in->key;
	json_t *ctx, *meta;
	json_t *d;

	if (key == NULL) {
		/* checked by orc_engine_apply() */
		orc_business_key(in->data, t->def->trigger.key, keybuf,
				 sizeof(keybuf));
		key = keybuf;
	}
	ctx = json_object();
	meta = json_object();
	if (ctx == NULL || meta == NULL ||
	    json_object_set_new_nocheck(ctx, "input", orc_txn_input_data(t)) !=
		0 ||
	    json_object_set_new_nocheck(ctx, "steps", json_object()) != 0 ||
	    json_object_set_new_nocheck(
		meta, "id", json_string_nocheck(in->saga_id)) != 0 ||
	    json_object_set_new_nocheck(meta, "key",
					json_string_nocheck(key)) != 0 ||
	    json_object_set_new_nocheck(meta, "name",
					json_string(t->def->name)) != 0 ||
	    json_object_set_new_nocheck(meta, "version",
					json_integer(t->def->version)) != 0 ||
	    json_object_set_nocheck(ctx, "saga", meta) != 0) {
		json_decref(meta);
		json_decref(ctx);
		orc_txn_oom(t);
		return;
	}
	json_decref(meta);
	saga->context = ctx;
	orc_txn_set_text(t, &saga->id, in->saga_id);
	orc_txn_set_text(t, &saga->key, key);
	if (!orc_txn_ok(t))
		return;
	saga->status = ORC_SAGA_RUNNING; /* the only status set directly */
	saga->cause = ORC_CAUSE_NONE;
	saga->started_ms = t->now;
	saga->deadline_ms = t->def->timeout_ms ? t->now + t->def->timeout_ms
					       : 0;
	d = orc_txn_history(t, "saga.started", NO_STEP);
	orc_txn_put_str(t, d, "key", key);
	orc_txn_put_str(t, d, "event_id", in->event_id);
	orc_txn_put_str(t, d, "definition", t->def->name);
	orc_txn_put_int(t, d, "version", t->def->version);
	if (saga->deadline_ms)
		orc_txn_put_int(t, d, "deadline_ms", saga->deadline_ms);
	orc_txn_saga_event(t, "saga.started");
	orc_txn_advance(t);
}

/*
 * Why a reply to step i (not awaiting one) is ignored: a type the step
 * does not list at all is unexpected; a success it already has is a
 * duplicate; anything else is late.
 */
enum orc_ignore_reason
orc_txn_classify_reply(const struct orc_step_def *sd,
		       const struct orc_saga_step *st, const char *type)
{
	bool ok_type = orc_strv_contains(&sd->success, type);
	bool comp_ok = sd->has_compensation &&
		       orc_strv_contains(&sd->compensation.success, type);

	if (!ok_type && !comp_ok && !orc_strv_contains(&sd->failure, type) &&
	    !(sd->has_compensation &&
	      orc_strv_contains(&sd->compensation.failure, type)))
		return ORC_IGNORE_UNEXPECTED_TYPE;
	if (ok_type && (st->status == ORC_STEP_SUCCEEDED ||
			st->status == ORC_STEP_COMPENSATING ||
			st->status == ORC_STEP_COMPENSATED))
		return ORC_IGNORE_DUPLICATE;
	if (comp_ok && st->status == ORC_STEP_COMPENSATED)
		return ORC_IGNORE_DUPLICATE;
	return ORC_IGNORE_LATE;
}

/* True when step st has taken a reply with dedup id id before. */
bool
orc_txn_reply_seen(const struct orc_saga_step *st, const char *id)
{
	size_t k;
	json_t *v;

	json_array_foreach (st->replies, k, v)
		if (strcmp(json_string_value(v), id) == 0)
			return true;
	return false;
}

/*
 * Remember the reply's dedup id on step st: a new array (a snapshot of the
 * saga may share the old one), the oldest dropped beyond the bound.
 */
void
orc_txn_remember_reply(struct orc_txn *t, struct orc_saga_step *st,
		       const char *id)
{
	json_t *ids = json_array(), *v;
	size_t n = json_array_size(st->replies), k;

	if (ids == NULL)
		goto oom;
	json_array_foreach (st->replies, k, v)
		if (n - k < ORC_STEP_REPLIES_MAX && json_array_append(ids, v) != 0)
			goto oom;
	if (json_array_append_new(ids, json_string(id)) != 0)
		goto oom;
	json_decref(st->replies);
	st->replies = ids;
	st->changed = true;
	return;
oom:
	json_decref(ids);
	orc_txn_oom(t);
}

/*
 * The step a reply names: "<step>" or a map item's "<step>[<index>]"
 * (*item >= 0 then, else -1).  -1 when there is no such step.
 */
static ptrdiff_t
reply_step(const struct orc_txn *t, const char *text, int64_t *item)
{
	const char *open = strchr(text, '[');
	char name[ORC_NAME_MAX + 1], *end;
	size_t len;
	long long v;
	ptrdiff_t i;

	*item = -1;
	if (open == NULL)
		return orc_definition_step_index(t->def, text);
	len = (size_t)(open - text);
	if (len == 0 || len > ORC_NAME_MAX || open[1] < '0' || open[1] > '9')
		return -1;
	errno = 0;
	v = strtoll(open + 1, &end, 10);
	if (errno != 0 || end[0] != ']' || end[1] != '\0' ||
	    v >= ORC_MAP_ITEMS_MAX)
		return -1;
	memcpy(name, text, len);
	name[len] = '\0';
	i = orc_definition_step_index(t->def, name);
	if (i < 0 || !t->def->steps[i].has_map)
		return -1;
	*item = v;
	return i;
}

static void
on_reply(struct orc_txn *t)
{
	const char *type = t->in->type;
	int64_t item;
	ptrdiff_t idx = reply_step(t, t->in->step, &item);
	const struct orc_step_def *sd;
	struct orc_saga_step *st;
	size_t i;
	json_t *d;

	if (idx < 0) {
		orc_txn_ignore(t, ORC_IGNORE_UNKNOWN_STEP, NO_STEP);
		return;
	}
	i = (size_t)idx;
	if (item >= 0) {
		orc_txn_map_reply(t, i, item);
		return;
	}
	if (t->def->steps[i].has_map) {
		/* a map's replies name their item */
		orc_txn_ignore(t, ORC_IGNORE_UNKNOWN_STEP, i);
		return;
	}
	sd = &t->def->steps[i];
	st = &t->saga->steps[i];
	if (t->in->dedup_id != NULL) {
		if (orc_txn_reply_seen(st, t->in->dedup_id)) {
			t->fx->result = ORC_RESULT_DUPLICATE;
			return;
		}
		orc_txn_remember_reply(t, st, t->in->dedup_id);
	}
	if (sd->kind != ORC_STEP_COMMAND) {
		orc_txn_ignore(t, ORC_IGNORE_UNEXPECTED_TYPE, i);
		return;
	}
	if (st->status == ORC_STEP_RUNNING) {
		if (orc_strv_contains(&sd->success, type)) {
			/* also while a retry waits: the work was done */
			d = orc_txn_succeed_step(t, i, orc_txn_input_data(t));
			orc_txn_put_event(t, d);
			orc_txn_put_int(t, d, "attempt", st->attempt);
			orc_txn_advance(t);
		} else if (orc_strv_contains(&sd->failure, type)) {
			bool retryable = orc_strv_contains(&sd->retry.on, type);

			if (retryable && st->wake_reason == ORC_WAKE_RETRY) {
				/* an earlier attempt's; a retry is due */
				orc_txn_ignore(t, ORC_IGNORE_LATE, i);
				return;
			}
			orc_txn_put_event(
			    t, orc_txn_attempt_failed(t, i, type, retryable));
		} else {
			orc_txn_ignore(t, ORC_IGNORE_UNEXPECTED_TYPE, i);
		}
		return;
	}
	if (st->status == ORC_STEP_COMPENSATING &&
	    (t->saga->status == ORC_SAGA_COMPENSATING ||
	     t->saga->status == ORC_SAGA_STUCK) &&
	    sd->has_compensation) {
		if (orc_strv_contains(&sd->compensation.success, type)) {
			orc_txn_compensation_succeeded(t, i);
			return;
		}
		if (orc_strv_contains(&sd->compensation.failure, type) &&
		    t->saga->status == ORC_SAGA_COMPENSATING &&
		    st->wake_reason != ORC_WAKE_COMP_RETRY) {
			orc_txn_put_event(
			    t, orc_txn_compensation_failed(t, i, type, true));
			return;
		}
	}
	orc_txn_ignore(t, orc_txn_classify_reply(sd, st, type), i);
}

/* True when the event matches wait step i: topic, type and key. */
static bool
event_matches(const struct orc_txn *t, size_t i)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	char key[ORC_SAGA_KEY_MAX];

	return sd->kind == ORC_STEP_WAIT &&
	       strcmp(sd->wait.topic, t->in->topic) == 0 &&
	       strcmp(sd->wait.type, t->in->type) == 0 &&
	       orc_business_key(t->in->data, sd->wait.key, key, sizeof(key)) &&
	       strcmp(key, t->saga->key) == 0;
}

static void
on_event(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	bool matched = false, applied = false;

	if (saga->status != ORC_SAGA_RUNNING) {
		orc_txn_ignore(t, ORC_IGNORE_NOT_ALLOWED, NO_STEP);
		return;
	}
	for (size_t i = 0; i < saga->n_steps && orc_txn_ok(t); i++) {
		struct orc_saga_step *st = &saga->steps[i];

		if (!event_matches(t, i))
			continue;
		matched = true;
		if (st->status == ORC_STEP_RUNNING) {
			orc_txn_put_event(t, orc_txn_succeed_step(
						 t, i, orc_txn_input_data(t)));
			applied = true;
		} else if (st->status == ORC_STEP_PENDING &&
			   st->early_event == NULL) {
			/* kept until the step starts; then it succeeds */
			st->early_event = orc_txn_input_data(t);
			st->changed = true;
			orc_txn_put_event(
			    t, orc_txn_history(t, "step.event_stored", i));
			applied = true;
		}
	}
	if (!applied) {
		orc_txn_ignore(
		    t, matched ? ORC_IGNORE_DUPLICATE : ORC_IGNORE_NO_MATCH,
		    NO_STEP);
		return;
	}
	orc_txn_advance(t);
}

/*
 * A due timer; step == NO_STEP for the saga deadline, item the position
 * of a map item in its step's items (NO_STEP for the step's own).
 */
struct due {
	int64_t at_ms;
	size_t step;
	size_t item;
	enum orc_wake_reason why;
};

static int
due_cmp(const void *a, const void *b)
{
	const struct due *x = a, *y = b;

	if (x->at_ms != y->at_ms)
		return x->at_ms < y->at_ms ? -1 : 1;
	/* the deadline (NO_STEP, the largest size_t) goes last */
	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	return x->item < y->item ? -1 : x->item > y->item;
}

/* The state a due timer belongs to. */
static const struct orc_saga_step *
due_state(const struct orc_saga *saga, const struct due *d)
{
	const struct orc_saga_step *st = &saga->steps[d->step];

	if (d->item == NO_STEP)
		return st;
	return st->map != NULL && d->item < st->map->n
		   ? &st->map->items[d->item].st
		   : NULL;
}

static void
fire(struct orc_txn *t, size_t i, enum orc_wake_reason why)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	struct orc_saga_step *st = &t->saga->steps[i];
	json_t *d;

	switch (why) {
	case ORC_WAKE_NONE:
		break;
	case ORC_WAKE_TIMEOUT:
		orc_txn_put_int(t, orc_txn_history(t, "step.timed_out", i),
				"attempt", st->attempt);
		/* a failing saga cancelled its children as it began to */
		if (sd->kind == ORC_STEP_SAGA &&
		    t->saga->status == ORC_SAGA_RUNNING)
			orc_txn_child_signal(t, i, ORC_CHILD_CANCEL);
		orc_txn_attempt_failed(t, i, "timed out", true);
		break;
	case ORC_WAKE_RETRY:
		orc_txn_send_action(t, i);
		break;
	case ORC_WAKE_DELAY:
		orc_txn_succeed_step(t, i, NULL);
		orc_txn_advance(t);
		break;
	case ORC_WAKE_WAIT_TIMEOUT:
		orc_txn_history(t, "step.timed_out", i);
		if (sd->wait.continue_on_timeout) {
			d = json_pack("{sb}", "timed_out", 1);
			if (d == NULL) {
				orc_txn_oom(t);
				return;
			}
			orc_txn_succeed_step(t, i, d);
			orc_txn_advance(t);
		} else {
			orc_txn_attempt_failed(t, i, "timed out", false);
		}
		break;
	case ORC_WAKE_COMP_TIMEOUT:
		orc_txn_put_int(t,
				orc_txn_history(t, "compensation.timed_out", i),
				"attempt", st->comp_attempt);
		orc_txn_compensation_failed(t, i, "timed out", true);
		break;
	case ORC_WAKE_COMP_RETRY:
		orc_txn_send_compensation(t, i);
		break;
	case ORC_WAKE_MAP_LOAD:
		orc_txn_clear_timer(st);
		orc_txn_map_loaded(t, i);
		break;
	}
}

/*
 * Fire every timer due at now, earliest first (ties: step order, then the
 * deadline), each against the state the earlier ones left: a timer that
 * an earlier one cleared or moved does not fire.  New timers are always
 * later than now, so the list collected up front is complete.
 */
static void
on_timer(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	struct due stack[16], *due = stack;
	size_t n = 0, cap = saga->n_steps + 1;

	if (saga->paused_ms != 0) {
		/* its timers wait: RESUME moves them on */
		orc_txn_ignore(t, ORC_IGNORE_NOT_ALLOWED, NO_STEP);
		return;
	}
	for (size_t i = 0; i < saga->n_steps; i++)
		if (saga->steps[i].map != NULL)
			cap += saga->steps[i].map->n;
	if (cap > COUNT(stack)) {
		due = malloc(cap * sizeof(*due));
		if (due == NULL) {
			orc_txn_oom(t);
			return;
		}
	}
	for (size_t i = 0; i < saga->n_steps; i++) {
		const struct orc_saga_step *st = &saga->steps[i];

		if (st->wake_ms > 0 && st->wake_ms <= t->now)
			due[n++] = (struct due){st->wake_ms, i, NO_STEP,
						st->wake_reason};
		for (size_t k = 0; st->map != NULL && k < st->map->n; k++) {
			const struct orc_saga_step *is = &st->map->items[k].st;

			if (is->wake_ms > 0 && is->wake_ms <= t->now)
				due[n++] = (struct due){is->wake_ms, i, k,
							is->wake_reason};
		}
	}
	if (saga->status == ORC_SAGA_RUNNING && saga->deadline_ms > 0 &&
	    saga->deadline_ms <= t->now)
		due[n++] = (struct due){saga->deadline_ms, NO_STEP, NO_STEP,
					ORC_WAKE_NONE};
	if (n == 0) {
		orc_txn_ignore(t, ORC_IGNORE_NOT_DUE, NO_STEP);
		goto out;
	}
	qsort(due, n, sizeof(*due), due_cmp);
	for (size_t k = 0; k < n && orc_txn_ok(t); k++) {
		if (due[k].step == NO_STEP) {
			if (saga->status != ORC_SAGA_RUNNING)
				continue;
			orc_txn_set_text(t, &saga->failure_reason,
					 "saga timed out");
			orc_txn_begin_failing(t, ORC_CAUSE_TIMEOUT);
			continue;
		}
		const struct orc_saga_step *st = due_state(saga, &due[k]);

		if (st == NULL || st->wake_ms != due[k].at_ms ||
		    st->wake_reason != due[k].why)
			continue;
		if (due[k].item != NO_STEP)
			orc_txn_map_fire(t, due[k].step, due[k].item,
					 due[k].why);
		else
			fire(t, due[k].step, due[k].why);
	}
out:
	if (due != stack)
		free(due);
}

/* ---- the entry point ---- */

static bool
text_ok(const char *s, bool required)
{
	return s == NULL ? !required : orc_text_utf8_valid(s, strlen(s));
}

static enum orc_status
check_input(const struct orc_saga *saga, const struct orc_engine_input *in,
	    struct orc_error *err)
{
	const char *what = orc_input_kind_name(in->kind);
	char key[ORC_SAGA_KEY_MAX];

	if ((unsigned)in->kind >= ORC_INPUT_KIND_COUNT)
		return orc_error_set(err, ORC_INVALID, "unknown input kind %d",
				     (int)in->kind);
	if (!text_ok(in->type, in->kind == ORC_INPUT_REPLY ||
				       in->kind == ORC_INPUT_EVENT) ||
	    !text_ok(in->step, in->kind == ORC_INPUT_REPLY ||
					in->kind == ORC_INPUT_SKIP ||
					in->kind == ORC_INPUT_RESOLVE) ||
	    !text_ok(in->by, false) ||
	    !text_ok(in->topic, in->kind == ORC_INPUT_EVENT) ||
	    !text_ok(in->event_id, false) || !text_ok(in->reason, false) ||
	    !text_ok(in->key, false) ||
	    !text_ok(in->saga_id, in->kind == ORC_INPUT_START))
		return orc_error_set(err, ORC_INVALID,
				     "%s input: missing or non-UTF-8 field",
				     what);
	if (in->kind == ORC_INPUT_MIGRATE &&
	    (in->to_def == NULL || saga->def == NULL ||
	     strcmp(in->to_def->name, saga->def->name) != 0 ||
	     (in->n_map > 0 && (in->map_from == NULL || in->map_to == NULL))))
		return orc_error_set(err, ORC_INVALID,
				     "migrate input: no version of the saga's "
				     "definition to move to");
	if (in->kind == ORC_INPUT_CHILD &&
	    (in->step == NULL || !json_is_object(in->data)))
		return orc_error_set(err, ORC_INVALID,
				     "child input: no step, or data that is "
				     "not an object");
	if (in->kind == ORC_INPUT_PATCH && !json_is_object(in->data))
		return orc_error_set(err, ORC_INVALID,
				     "patch input: the merge patch is not an "
				     "object");
	if (saga->steps == NULL)
		return orc_error_set(err, ORC_INVALID,
				     "%s input: saga not initialised", what);
	if (in->kind != ORC_INPUT_START) {
		if (saga->context == NULL || saga->id == NULL ||
		    saga->key == NULL)
			return orc_error_set(err, ORC_INVALID,
					     "%s input: saga not started",
					     what);
		return ORC_OK;
	}
	if (*in->saga_id == '\0' || strlen(in->saga_id) >= ORC_SAGA_ID_MAX)
		return orc_error_set(err, ORC_INVALID,
				     "start input: bad saga id");
	if (in->key != NULL ? strlen(in->key) >= ORC_SAGA_KEY_MAX
			    : !orc_business_key(in->data,
						saga->def->trigger.key, key,
						sizeof(key)))
		return orc_error_set(err, ORC_INVALID,
				     "start input: no business key at \"%s\"",
				     saga->def->trigger.key);
	return ORC_OK;
}

static int64_t
next_wake(const struct orc_saga *saga)
{
	int64_t wake = 0;

	if (saga->paused_ms != 0)
		return 0;
	for (size_t i = 0; i < saga->n_steps; i++) {
		const struct orc_map_state *m = saga->steps[i].map;
		int64_t w = saga->steps[i].wake_ms;

		if (w > 0 && (wake == 0 || w < wake))
			wake = w;
		for (size_t k = 0; m != NULL && k < m->n; k++) {
			w = m->items[k].st.wake_ms;
			if (w > 0 && (wake == 0 || w < wake))
				wake = w;
		}
	}
	if (saga->status == ORC_SAGA_RUNNING && saga->deadline_ms > 0 &&
	    (wake == 0 || saga->deadline_ms < wake))
		wake = saga->deadline_ms;
	return wake;
}

enum orc_status
orc_engine_apply(struct orc_saga *saga, const struct orc_engine_input *in,
		 int64_t now_ms, struct orc_effects *fx, struct orc_error *err)
{
	return orc_engine_apply_with(saga, in, NULL, now_ms, fx, err);
}

enum orc_status
orc_engine_apply_with(struct orc_saga *saga, const struct orc_engine_input *in,
		      const struct orc_engine_options *opts, int64_t now_ms,
		      struct orc_effects *fx, struct orc_error *err)
{
	struct orc_txn t = {
	    .saga = saga,
	    .def = saga->def,
	    .in = in,
	    .fx = fx,
	    .max_command = opts != NULL ? opts->max_command_bytes : 0,
	    .now = now_ms,
	    .err = err,
	    .status = ORC_OK,
	};
	int64_t old_wake = saga->wake_ms;
	enum orc_status status;

	orc_effects_reset(fx);
	status = check_input(saga, in, err);
	if (status != ORC_OK)
		return status;

	switch (in->kind) {
	case ORC_INPUT_START:
		if (saga->context != NULL) {
			orc_txn_conflict(&t, "start");
			break;
		}
		on_start(&t);
		break;
	case ORC_INPUT_REPLY:
		on_reply(&t);
		break;
	case ORC_INPUT_EVENT:
		on_event(&t);
		break;
	case ORC_INPUT_TIMER:
		on_timer(&t);
		break;
	case ORC_INPUT_CANCEL:
	case ORC_INPUT_RETRY:
	case ORC_INPUT_PAUSE:
	case ORC_INPUT_RESUME:
	case ORC_INPUT_SKIP:
	case ORC_INPUT_PATCH:
	case ORC_INPUT_RESOLVE:
	case ORC_INPUT_TERMINATE:
	case ORC_INPUT_MIGRATE:
		orc_txn_operator(&t);
		break;
	case ORC_INPUT_CHILD:
		orc_txn_child_ended(&t);
		break;
	case ORC_INPUT_UNDO:
		orc_txn_child_undo(&t);
		break;
	}
	saga->wake_ms = next_wake(saga);
	fx->wake_ms = saga->wake_ms;
	fx->wake_changed = saga->wake_ms != old_wake;
	return t.status;
}
