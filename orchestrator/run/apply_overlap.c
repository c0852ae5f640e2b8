/*
 * apply_overlap.c - the overlapped apply (apply.h): a batch routed, claimed,
 * locked and run on a connection of its own while the batch before it
 * commits on another, its writes sent only once that commit succeeded.
 * The steps are apply.c's (apply_internal.h); what is here is the order,
 * the state between the calls, and the one hazard of running early.
 */
#include "apply_internal.h"

/*
 * Must the batch routed in ap wait for the commit in flight on before?
 * Its claim and its locks wait for before's by themselves, and then read
 * what before wrote (a row locked by before is read again when before
 * commits), but a saga that before inserts is invisible to the lock until
 * then: an event for its key would find no saga (and be parked or
 * dead-lettered), a trigger would start it a second time.  So a batch
 * with a key route (a trigger, or an awaited event) to a saga before
 * started waits.  An id route cannot name such a saga: a new saga's id
 * reaches a service only through the outbox, after the commit.
 */
static bool
needs_before(const struct orc_apply *ap, const struct orc_apply_item *items,
	     const struct orc_apply *before)
{
	for (size_t r = 0; r < ap->n_routes; r++) {
		const struct route *ro = &ap->routes[r];
		const struct orc_stored_saga *ss;

		if (ro->kind == ROUTE_ID ||
		    items[ro->item].outcome != ORC_APPLY_PENDING)
			continue;
		ss = orc_saga_set_find_key(&before->set, ro->def_name, ro->key);
		if (ss != NULL && ss->is_new)
			return true;
	}
	return false;
}

enum orc_status
orc_apply_events_prepare(struct orc_apply *ap, struct orc_apply_item *items,
			 size_t n, int64_t now_ms,
			 const struct orc_apply *before, bool *blocked,
			 struct orc_error *err)
{
	enum orc_status st;

	*blocked = false;
	if (ap->prepared || ap->in_flight)
		return orc_error_set(err, ORC_FATAL,
				     "a batch is already open on this apply");
	st = orc_apply_route(ap, items, n, now_ms, err);
	if (st != ORC_OK)
		return st;
	if (before != NULL && before->in_flight && needs_before(ap, items, before)) {
		*blocked = true;
		return ORC_OK;
	}
	st = orc_apply_open_and_run(ap, items, n, now_ms, err);
	if (st != ORC_OK) {
		orc_store_rollback(ap->store);
		return st;
	}
	ap->prepared = true;
	return ORC_OK;
}

enum orc_status
orc_apply_events_send(struct orc_apply *ap, struct orc_apply_item *items,
		      size_t n, struct orc_error *err)
{
	enum orc_status st;

	if (!ap->prepared)
		return orc_error_set(err, ORC_FATAL, "no batch prepared");
	ap->prepared = false;
	st = orc_apply_write(ap, items, n, true, err);
	if (st != ORC_OK) {
		orc_store_rollback(ap->store);
		return st;
	}
	ap->in_flight = true;
	return ORC_OK;
}

enum orc_status
orc_apply_events_wait(struct orc_apply *ap, struct orc_apply_item *items,
		      size_t n, struct orc_error *err)
{
	enum orc_status st;

	if (!ap->in_flight)
		return orc_error_set(err, ORC_FATAL, "no commit in flight");
	ap->in_flight = false;
	st = orc_store_write_commit_wait(ap->store, err);
	if (st != ORC_OK) {
		orc_store_rollback(ap->store);
		return st;
	}
	orc_apply_batch_done(ap, items, n);
	return ORC_OK;
}

void
orc_apply_events_abandon(struct orc_apply *ap)
{
	if (!ap->prepared)
		return;
	ap->prepared = false;
	orc_store_rollback(ap->store);
}

bool
orc_apply_in_flight(const struct orc_apply *ap)
{
	return ap->in_flight;
}
