/*
 * engine_operator.c - what an operator can do to a saga, as engine inputs.
 *
 * Each action is a handler over the vocabulary of engine_txn.h, so that
 * its history, its commands and its invariants are those of any other
 * transition: a cancel compensates like a failure, a retry reruns the
 * failed steps with new attempt ids.  An action the saga's state does not
 * allow changes nothing but one history entry, and answers ORC_CONFLICT
 * with what the saga's state is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_txn.h"

#define NO_STEP ORC_TXN_NO_STEP

static void
on_cancel(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	json_t *d;

	switch (saga->status) {
	case ORC_SAGA_RUNNING:
		orc_txn_set_textf(t, &saga->failure_reason, "cancelled%s%s",
				  t->in->reason ? ": " : "",
				  t->in->reason ? t->in->reason : "");
		orc_txn_begin_failing(t, ORC_CAUSE_CANCEL);
		return;
	case ORC_SAGA_STUCK:
		/* the operator gives up on the compensation */
		d = orc_txn_history(t, "saga.cancel_requested", NO_STEP);
		orc_txn_put_str(t, d, "reason", t->in->reason);
		saga->cause = ORC_CAUSE_CANCEL;
		orc_txn_end_saga(t, ORC_SAGA_CANCELLED);
		return;
	default:
		orc_txn_conflict(t, "cancel");
		return;
	}
}

static void
on_retry(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	json_t *d;

	switch (saga->status) {
	case ORC_SAGA_FAILED:
		if (!orc_txn_saga_status(t, ORC_SAGA_RUNNING))
			return;
		d = orc_txn_history(t, "saga.retried", NO_STEP);
		orc_txn_put_str(t, d, "reason", t->in->reason);
		saga->cause = ORC_CAUSE_NONE;
		orc_txn_set_text(t, &saga->failure_reason, NULL);
		saga->deadline_ms =
		    t->def->timeout_ms ? t->now + t->def->timeout_ms : 0;
		for (size_t i = 0; i < saga->n_steps && orc_txn_ok(t); i++) {
			struct orc_saga_step *st = &saga->steps[i];

			if (st->status != ORC_STEP_FAILED)
				continue;
			if (!orc_txn_step_status(t, i, ORC_STEP_PENDING))
				return;
			st->attempt_base = st->attempt;
			st->finished_ms = 0;
			orc_txn_clear_timer(st);
			orc_txn_set_text(t, &st->last_error, NULL);
		}
		orc_txn_advance(t);
		return;
	case ORC_SAGA_STUCK:
		if (!orc_txn_saga_status(t, ORC_SAGA_COMPENSATING))
			return;
		d = orc_txn_history(t, "saga.retried", NO_STEP);
		orc_txn_put_str(t, d, "reason", t->in->reason);
		for (size_t i = 0; i < saga->n_steps && orc_txn_ok(t); i++) {
			struct orc_saga_step *st = &saga->steps[i];

			if (st->status != ORC_STEP_COMPENSATING)
				continue;
			st->comp_attempt_base = st->comp_attempt;
			orc_txn_send_compensation(t, i);
			return;
		}
		orc_txn_advance(
		    t); /* no compensation in flight: pick the next */
		return;
	default:
		orc_txn_conflict(t, "retry");
		return;
	}
}

void
orc_txn_operator(struct orc_txn *t)
{
	switch (t->in->kind) {
	case ORC_INPUT_CANCEL:
		on_cancel(t);
		return;
	case ORC_INPUT_RETRY:
		on_retry(t);
		return;
	default:
		orc_txn_conflict(t, orc_input_kind_name(t->in->kind));
		return;
	}
}
