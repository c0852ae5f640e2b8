/*
 * engine_operator.c - what an operator can do to a saga, as engine inputs.
 *
 * Each action is a handler over the vocabulary of engine_txn.h, so that
 * its history, its commands and its invariants are those of any other
 * transition: a cancel compensates like a failure, a retry reruns steps
 * with new attempt ids, a skip succeeds a step as a reply would.  Every
 * action that is applied writes an "operator.<action>" history entry
 * first, with who (by), why (reason) and its arguments: the audit trail
 * (the operator_actions view).  An action the saga's state does not allow
 * changes nothing but one "<action>.ignored" entry and answers
 * ORC_CONFLICT, with a message that says the saga's and the step's state
 * and what the action takes.
 *
 *   action     saga status                     step
 *   cancel     running (compensates), stuck    -
 *   terminate  running, compensating, stuck,   - (running ones fail)
 *              failed
 *   retry      failed, stuck; with a step:     from it on, with every step
 *              running, failed, completed      that depends on it
 *   pause      running, compensating           -
 *   resume     paused                          -
 *   skip       running, failed                 pending, running, failed
 *   patch      running, compensating, stuck,   the input, or a step's data
 *              failed
 *   resolve    stuck                           the one compensating
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_txn.h"
#include "jsonp.h"

#define NO_STEP ORC_TXN_NO_STEP

/* "operator.cancel", ... by input kind. */
#define OPERATOR_HISTORY(constant, name) [constant] = "operator." name,
static const char *const operator_history[] = {
	ORC_INPUT_KINDS(OPERATOR_HISTORY)};

json_t *
orc_txn_audit(struct orc_txn *t, size_t step)
{
	json_t *d = orc_txn_history(t, operator_history[t->in->kind], step);

	orc_txn_put_str(t, d, "by", t->in->by);
	orc_txn_put_str(t, d, "reason", t->in->reason);
	return d;
}

void
orc_txn_refuse(struct orc_txn *t, size_t step, const char *fmt, ...)
{
	va_list ap;

	orc_txn_ignore(t, ORC_IGNORE_NOT_ALLOWED, step);
	if (!orc_txn_ok(t))
		return;
	t->status = ORC_CONFLICT;
	if (t->err == NULL)
		return;
	orc_error_set(t->err, ORC_CONFLICT, "%s", "");
	va_start(ap, fmt);
	vsnprintf(t->err->message, sizeof(t->err->message), fmt, ap);
	va_end(ap);
}

/* The step the input names: its index, or refused (NO_STEP). */
static size_t
named_step(struct orc_txn *t)
{
	ptrdiff_t i = orc_definition_step_index(t->def, t->in->step);

	if (i < 0)
		orc_txn_refuse(t, NO_STEP, "saga %s (%s) has no step \"%s\"",
		       t->saga->id, t->def->name, t->in->step);
	return i < 0 ? NO_STEP : (size_t)i;
}

/* A failed saga runs again: cause, reason and deadline start afresh. */
static bool
rerun(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;

	if (!orc_txn_saga_status(t, ORC_SAGA_RUNNING))
		return false;
	saga->cause = ORC_CAUSE_NONE;
	orc_txn_set_text(t, &saga->failure_reason, NULL);
	saga->deadline_ms =
	    t->def->timeout_ms ? t->now + t->def->timeout_ms : 0;
	return orc_txn_ok(t);
}

/*
 * Step i back to pending, to run again with a new attempt id: its data
 * leaves the context, its timer and error go, and its retry policy counts
 * afresh (attempt ids are never reused: engine.h).
 */
static void
reset_step(struct orc_txn *t, size_t i)
{
	struct orc_saga_step *st = &t->saga->steps[i];

	/* a map's items of this run are not awaited any more */
	orc_txn_map_abandon(t, i, "reset by operator retry");
	/* nor a child that runs: it compensates itself, its end comes late */
	if (st->status == ORC_STEP_RUNNING &&
	    t->def->steps[i].kind == ORC_STEP_SAGA)
		orc_txn_child_signal(t, i, ORC_CHILD_CANCEL);
	if (st->status != ORC_STEP_PENDING &&
	    !orc_txn_step_status(t, i, ORC_STEP_PENDING))
		return;
	st->attempt_base = st->attempt;
	st->comp_attempt_base = st->comp_attempt;
	st->finished_ms = 0;
	st->completed_seq = 0;
	st->changed = true;
	orc_txn_clear_timer(st);
	orc_txn_set_text(t, &st->last_error, NULL);
	json_decref(st->early_event);
	st->early_event = NULL;
	json_object_del(json_object_get(t->saga->context, "steps"),
			t->def->steps[i].name);
}

/* Every failed step of a failed saga back to pending (RETRY, SKIP). */
static void
reset_failed(struct orc_txn *t)
{
	for (size_t i = 0; i < t->saga->n_steps && orc_txn_ok(t); i++)
		if (t->saga->steps[i].status == ORC_STEP_FAILED)
			reset_step(t, i);
}

static void
on_cancel(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	json_t *d;

	switch (saga->status) {
	case ORC_SAGA_RUNNING:
		orc_txn_audit(t, NO_STEP);
		orc_txn_set_textf(t, &saga->failure_reason, "cancelled%s%s",
				  t->in->reason ? ": " : "",
				  t->in->reason ? t->in->reason : "");
		orc_txn_begin_failing(t, ORC_CAUSE_CANCEL);
		return;
	case ORC_SAGA_STUCK:
		/* the operator gives up on the compensation */
		orc_txn_audit(t, NO_STEP);
		d = orc_txn_history(t, "saga.cancel_requested", NO_STEP);
		orc_txn_put_str(t, d, "reason", t->in->reason);
		saga->cause = ORC_CAUSE_CANCEL;
		saga->paused_ms = 0;
		/* other items' compensations in flight are not awaited */
		for (size_t i = 0; i < saga->n_steps; i++)
			orc_txn_map_abandon(t, i, "cancelled");
		orc_txn_end_saga(t, ORC_SAGA_CANCELLED);
		return;
	default:
		orc_txn_refuse(t, NO_STEP,
		       "cannot cancel saga %s: it is %s; cancel takes a running "
		       "or stuck saga (terminate also a compensating or failed "
		       "one)",
		       saga->id, orc_saga_status_name(saga->status));
		return;
	}
}

/* Cancel without compensating: the saga ends now, cancelled. */
static void
on_terminate(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;

	switch (saga->status) {
	case ORC_SAGA_RUNNING:
	case ORC_SAGA_COMPENSATING:
	case ORC_SAGA_STUCK:
	case ORC_SAGA_FAILED:
		break;
	default:
		orc_txn_refuse(t, NO_STEP,
		       "cannot terminate saga %s: it is %s, which is final",
		       saga->id, orc_saga_status_name(saga->status));
		return;
	}
	orc_txn_audit(t, NO_STEP);
	for (size_t i = 0; i < saga->n_steps && orc_txn_ok(t); i++) {
		struct orc_saga_step *st = &saga->steps[i];

		orc_txn_map_abandon(t, i, "terminated");
		/* a child that runs or undoes itself ends with its parent */
		if ((st->status == ORC_STEP_RUNNING ||
		     st->status == ORC_STEP_COMPENSATING) &&
		    t->def->steps[i].kind == ORC_STEP_SAGA)
			orc_txn_child_signal(t, i, ORC_CHILD_TERMINATE);
		if (st->status == ORC_STEP_RUNNING) {
			orc_txn_abort_step(t, i);
			orc_txn_set_text(t, &st->last_error, "terminated");
		}
		orc_txn_clear_timer(st);
		st->changed = true;
	}
	saga->cause = ORC_CAUSE_CANCEL;
	saga->paused_ms = 0;
	orc_txn_set_textf(t, &saga->failure_reason, "terminated%s%s",
			  t->in->reason ? ": " : "",
			  t->in->reason ? t->in->reason : "");
	orc_txn_end_saga(t, ORC_SAGA_CANCELLED);
}

/* Retry from step i on: it and every step that depends on it rerun. */
static void
retry_from(struct orc_txn *t, size_t from)
{
	struct orc_saga *saga = t->saga;
	json_t *d, *steps = json_array();

	if (steps == NULL) {
		orc_txn_oom(t);
		return;
	}
	d = orc_txn_audit(t, from);
	if (saga->status != ORC_SAGA_RUNNING && !rerun(t)) {
		json_decref(steps);
		return;
	}
	for (size_t i = 0; i < saga->n_steps && orc_txn_ok(t); i++) {
		if (i != from && !orc_definition_depends_on(t->def, i, from) &&
		    saga->steps[i].status != ORC_STEP_FAILED)
			continue;
		if (json_array_append_new(steps,
					  json_string(t->def->steps[i].name)))
			orc_txn_oom(t);
		reset_step(t, i);
	}
	orc_txn_put(t, d, "steps", steps);
	orc_txn_advance(t);
}

static void
on_retry(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	json_t *d;
	size_t from;

	if (t->in->step != NULL) {
		from = named_step(t);
		if (from == NO_STEP)
			return;
		if (saga->status != ORC_SAGA_RUNNING &&
		    saga->status != ORC_SAGA_FAILED &&
		    saga->status != ORC_SAGA_COMPLETED) {
			orc_txn_refuse(t, from,
			       "cannot retry saga %s from %s: it is %s; retry "
			       "--from takes a running, failed or completed "
			       "saga",
			       saga->id, t->in->step,
			       orc_saga_status_name(saga->status));
			return;
		}
		retry_from(t, from);
		return;
	}
	switch (saga->status) {
	case ORC_SAGA_FAILED:
		orc_txn_audit(t, NO_STEP);
		if (!rerun(t))
			return;
		d = orc_txn_history(t, "saga.retried", NO_STEP);
		orc_txn_put_str(t, d, "reason", t->in->reason);
		reset_failed(t);
		orc_txn_advance(t);
		return;
	case ORC_SAGA_STUCK:
		orc_txn_audit(t, NO_STEP);
		if (!orc_txn_saga_status(t, ORC_SAGA_COMPENSATING))
			return;
		d = orc_txn_history(t, "saga.retried", NO_STEP);
		orc_txn_put_str(t, d, "reason", t->in->reason);
		for (size_t i = 0; i < saga->n_steps && orc_txn_ok(t); i++) {
			struct orc_saga_step *st = &saga->steps[i];

			if (st->status != ORC_STEP_COMPENSATING)
				continue;
			if (st->map != NULL) {
				orc_txn_map_retry_stuck(t, i);
				return;
			}
			st->comp_attempt_base = st->comp_attempt;
			orc_txn_send_compensation(t, i);
			return;
		}
		/* no compensation in flight: pick the next */
		orc_txn_advance(t);
		return;
	default:
		orc_txn_refuse(t, NO_STEP,
		       "cannot retry saga %s: it is %s; retry takes a failed or "
		       "stuck saga (retry --from STEP also a running or "
		       "completed one)",
		       saga->id, orc_saga_status_name(saga->status));
		return;
	}
}

static void
on_pause(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;

	if (saga->paused_ms != 0 || (saga->status != ORC_SAGA_RUNNING &&
				     saga->status != ORC_SAGA_COMPENSATING)) {
		orc_txn_refuse(t, NO_STEP,
		       "cannot pause saga %s: it is %s%s; pause takes a running "
		       "or compensating saga that is not paused",
		       saga->id, orc_saga_status_name(saga->status),
		       saga->paused_ms != 0 ? " and paused" : "");
		return;
	}
	orc_txn_audit(t, NO_STEP);
	/* 0 means not paused: a clock at its epoch pauses at 1 ms */
	saga->paused_ms = t->now > 0 ? t->now : 1;
}

/* Timers and the deadline move on by the time it was paused. */
static void
on_resume(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	int64_t held;
	json_t *d;

	if (saga->paused_ms == 0) {
		orc_txn_refuse(t, NO_STEP,
		       "cannot resume saga %s: it is %s and not paused",
		       saga->id, orc_saga_status_name(saga->status));
		return;
	}
	held = t->now > saga->paused_ms ? t->now - saga->paused_ms : 0;
	d = orc_txn_audit(t, NO_STEP);
	orc_txn_put_int(t, d, "paused_ms", held);
	for (size_t i = 0; i < saga->n_steps; i++) {
		struct orc_saga_step *st = &saga->steps[i];

		if (st->wake_ms > 0) {
			st->wake_ms += held;
			st->changed = true;
		}
		orc_txn_map_shift_timers(st, held);
	}
	if (saga->deadline_ms > 0)
		saga->deadline_ms += held;
	saga->paused_ms = 0;
	orc_txn_advance(t);
}

/* Step i succeeds by hand, with the input's data as its result. */
static void
on_skip(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	struct orc_saga_step *st;
	json_t *d, *data;
	size_t i = named_step(t);

	if (i == NO_STEP)
		return;
	st = &saga->steps[i];
	if ((saga->status != ORC_SAGA_RUNNING &&
	     saga->status != ORC_SAGA_FAILED) ||
	    (st->status != ORC_STEP_PENDING && st->status != ORC_STEP_RUNNING &&
	     st->status != ORC_STEP_FAILED)) {
		orc_txn_refuse(t, i,
		       "cannot skip step %s of saga %s: the saga is %s and the "
		       "step %s; skip takes a pending, running or failed step "
		       "of a running or failed saga",
		       t->in->step, saga->id,
		       orc_saga_status_name(saga->status),
		       orc_step_status_name(st->status));
		return;
	}
	d = orc_txn_audit(t, i);
	orc_txn_put(t, d, "data",
		    t->in->data ? json_incref(t->in->data) : json_null());
	if (saga->status == ORC_SAGA_FAILED) {
		if (!rerun(t))
			return;
		orc_txn_history(t, "saga.retried", NO_STEP);
	}
	/* a command in flight is no longer awaited: its reply comes late */
	orc_txn_map_abandon(t, i, "skipped by operator");
	if (st->status == ORC_STEP_RUNNING &&
	    t->def->steps[i].kind == ORC_STEP_SAGA)
		orc_txn_child_signal(t, i, ORC_CHILD_CANCEL);
	data = t->in->data ? json_deep_copy(t->in->data) : json_null();
	if (data == NULL) {
		orc_txn_oom(t);
		return;
	}
	orc_txn_put_str(t, orc_txn_succeed_step(t, i, data), "source",
			"operator.skip");
	st->changed = true;
	if (saga->status == ORC_SAGA_RUNNING)
		reset_failed(t);
	orc_txn_advance(t);
}

/*
 * A merge patch (RFC 7386) on the input or on one step's data; the
 * history keeps what it was and what it is.  Nothing runs because of it:
 * what reads the context next sees the patched values.
 */
static void
on_patch(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	json_t *parent, *before, *after, *d;
	const char *member;
	size_t i = NO_STEP;

	if (orc_saga_status_is_final(saga->status) &&
	    saga->status != ORC_SAGA_STUCK && saga->status != ORC_SAGA_FAILED) {
		orc_txn_refuse(t, NO_STEP,
		       "cannot patch saga %s: it is %s, which is final; patch "
		       "takes a running, compensating, stuck or failed saga",
		       saga->id, orc_saga_status_name(saga->status));
		return;
	}
	if (t->in->step != NULL) {
		i = named_step(t);
		if (i == NO_STEP)
			return;
		parent = json_object_get(saga->context, "steps");
		member = t->def->steps[i].name;
	} else {
		parent = saga->context;
		member = "input";
	}
	before = json_object_get(parent, member);
	after = orc_jsonp_merge_patch(before, t->in->data);
	if (after == NULL) {
		orc_txn_oom(t);
		return;
	}
	d = orc_txn_audit(t, i);
	orc_txn_put_str(t, d, "target", i == NO_STEP ? "input" : "step");
	orc_txn_put(t, d, "patch", json_incref(t->in->data));
	orc_txn_put(t, d, "before", before ? json_incref(before) : json_null());
	orc_txn_put(t, d, "after", json_incref(after));
	if (json_object_set_new_nocheck(parent, member, after) != 0)
		orc_txn_oom(t);
	if (i != NO_STEP)
		saga->steps[i].changed = true;
}

/* A person undid the step by hand: its compensation counts as done. */
static void
on_resolve(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	struct orc_saga_step *st;
	size_t i = named_step(t);

	if (i == NO_STEP)
		return;
	st = &saga->steps[i];
	if (saga->status != ORC_SAGA_STUCK ||
	    st->status != ORC_STEP_COMPENSATING) {
		orc_txn_refuse(t, i,
		       "cannot resolve step %s of saga %s: the saga is %s and "
		       "the step %s; resolve takes the compensating step of a "
		       "stuck saga",
		       t->in->step, saga->id,
		       orc_saga_status_name(saga->status),
		       orc_step_status_name(st->status));
		return;
	}
	orc_txn_audit(t, i);
	if (!orc_txn_saga_status(t, ORC_SAGA_COMPENSATING))
		return;
	if (st->map != NULL) {
		/* its stuck items count as undone; the others go on */
		orc_txn_map_resolve(t, i);
		return;
	}
	if (!orc_txn_step_status(t, i, ORC_STEP_COMPENSATED))
		return;
	orc_txn_clear_timer(st);
	st->finished_ms = t->now;
	orc_txn_put_str(t, orc_txn_history(t, "compensation.succeeded", i),
			"source", "operator.resolve");
	orc_txn_advance(t);
}

void
orc_txn_operator(struct orc_txn *t)
{
	switch (t->in->kind) {
	case ORC_INPUT_CANCEL:
		on_cancel(t);
		return;
	case ORC_INPUT_TERMINATE:
		on_terminate(t);
		return;
	case ORC_INPUT_RETRY:
		on_retry(t);
		return;
	case ORC_INPUT_PAUSE:
		on_pause(t);
		return;
	case ORC_INPUT_RESUME:
		on_resume(t);
		return;
	case ORC_INPUT_SKIP:
		on_skip(t);
		return;
	case ORC_INPUT_PATCH:
		on_patch(t);
		return;
	case ORC_INPUT_RESOLVE:
		on_resolve(t);
		return;
	case ORC_INPUT_MIGRATE:
		orc_txn_migrate(t);
		return;
	default:
		orc_txn_conflict(t, orc_input_kind_name(t->in->kind));
		return;
	}
}
