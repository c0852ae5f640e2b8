/*
 * apply_timers.c - due timers through the engine: claim the sagas whose
 * wake-up is due (orc_store_claim_due(), skipping the quarantined), run
 * each with a timer input, write back and commit, in one transaction.  A
 * saga whose timer the engine refuses is quarantined, so that it does not
 * fail every pass.
 */
#include <stdio.h>

#include "apply_internal.h"
#include "store_admin.h"

/*
 * Did the engine refuse saga's input for the state its row holds?  Its
 * answer (engine.h) is ORC_INVALID: for a timer, a saga the row did not
 * set up, or a transition the tables refuse, which only a row edited by
 * hand can hold.  ORC_FATAL is out of memory, the process's fault.
 */
static bool
engine_refused(enum orc_status st)
{
	return st == ORC_INVALID;
}

/*
 * Quarantine saga id for the engine's refusal that err holds, in a
 * transaction of its own (the one that met it was rolled back); err is
 * then overwritten only when that fails.
 */
static enum orc_status
quarantine_alone(struct orc_apply *ap, const char *id, struct orc_error *err)
{
	char reason[ORC_ERROR_MSG_MAX];
	enum orc_status st;

	if (err->detail[0] != '\0')
		snprintf(reason, sizeof(reason), "%.200s (%.300s)",
			 err->message, err->detail);
	else
		snprintf(reason, sizeof(reason), "%s", err->message);
	st = orc_store_begin(ap->store, err);
	if (st == ORC_OK)
		st = orc_store_quarantine_saga(ap->store, id, reason, err);
	if (st == ORC_OK)
		st = orc_store_commit(ap->store, err);
	if (st != ORC_OK)
		orc_store_rollback(ap->store);
	return st;
}

enum orc_status
orc_apply_timers(struct orc_apply *ap, int64_t now_ms, int limit, int *fired,
		 struct orc_error *err)
{
	struct orc_engine_input in = {.kind = ORC_INPUT_TIMER};
	enum orc_status st;

	*fired = 0;
	orc_apply_begin_batch(ap);
	st = orc_store_begin(ap->store, err);
	if (st == ORC_OK)
		st = orc_store_claim_due(ap->store, ap->cat, now_ms, limit,
					 &ap->set, err);
	for (size_t i = 0; st == ORC_OK && i < ap->set.n; i++) {
		struct orc_stored_saga *ss = ap->set.v[i];

		st = orc_apply_run_engine(ap, ss, &in, NULL, now_ms, err);
		if (st == ORC_CONFLICT)
			st = ORC_OK;
		if (st == ORC_FATAL || st == ORC_INVALID) {
			/*
			 * A timer the engine refuses would fire forever, and
			 * fail every pass with it.  A refusal is the row's
			 * fault: roll back and quarantine the saga (the claim
			 * skips it from then on), so the other sagas' timers
			 * fire on the next turn.  Out of memory is the
			 * process's: roll back, move this saga's wake-up a
			 * minute on and record why, and give up.
			 */
			char id[40];
			struct orc_error derr;

			snprintf(id, sizeof(id), "%s", ss->saga.id);
			orc_store_rollback(ap->store);
			if (engine_refused(st))
				return quarantine_alone(ap, id, err);
			orc_error_prefix(err, "saga %s", id);
			if (orc_store_defer_wake(ap->store, id, now_ms + 60000,
						 err->message, &derr) != ORC_OK)
				return derr.status;
			return st;
		}
	}
	if (st != ORC_OK) {
		orc_store_rollback(ap->store);
		return st;
	}
	st = orc_apply_commit_writes(ap, err);
	if (st != ORC_OK)
		return st;
	*fired = (int)ap->set.n;
	ap->stats->timers += ap->set.n;
	return ORC_OK;
}
