/*
 * apply_gate.c - the definition switches of operators (pause, max_running)
 * as a batch meets them: a trigger of a paused definition, of one at its
 * max_running, or of one that holds older triggers is written to
 * held_triggers in the batch's transaction instead of starting a saga.
 * The switches are read every controls_refresh_ms; a definition at a limit
 * is locked and its running sagas counted once per transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_internal.h"
#include "store_admin.h"

void
orc_apply_controls_refresh(struct orc_apply *ap, int64_t refresh_ms)
{
	ap->controls_refresh_ms = refresh_ms;
}

enum orc_status
orc_apply_refresh_controls(struct orc_apply *ap, int64_t now_ms,
			   struct orc_error *err)
{
	enum orc_status st;

	if (ap->controls_read && now_ms >= ap->controls_read_ms &&
	    now_ms - ap->controls_read_ms < ap->controls_refresh_ms)
		return ORC_OK;
	st = orc_store_controls_read(ap->store, &ap->controls, err);
	if (st != ORC_OK)
		return st;
	ap->controls_read = true;
	ap->controls_read_ms = now_ms;
	return ORC_OK;
}

/*
 * The open transaction's slot of limited definition c, locked and
 * counted (orc_store_limit_lock()) the first time it is asked for.
 */
static enum orc_status
limit_slot(struct orc_apply *ap, const struct orc_control *c,
	   struct limit_slot **out, struct orc_error *err)
{
	struct limit_slot *l;
	enum orc_status st;
	void *p;

	for (size_t i = 0; i < ap->n_limits; i++) {
		if (ap->limits[i].name == c->name) {
			*out = &ap->limits[i];
			return ORC_OK;
		}
	}
	if (ap->n_limits == ap->cap_limits) {
		size_t cap = ap->cap_limits ? ap->cap_limits * 2 : 4;

		if (!GROW(p, ap->limits, cap))
			return orc_error_set(err, ORC_FATAL, "out of memory");
		ap->cap_limits = cap;
	}
	l = &ap->limits[ap->n_limits];
	*l = (struct limit_slot){.name = c->name};
	st = orc_store_limit_lock(ap->store, c->name, &l->running, &l->held,
				  err);
	if (st != ORC_OK)
		return st;
	ap->n_limits++;
	*out = l;
	return ORC_OK;
}

/*
 * Write the trigger of item it for route ro to held_triggers (in the open
 * transaction, its inbox id kept); it is HELD unless another route of it
 * reached a saga.
 */
static enum orc_status
hold(struct orc_apply *ap, const struct route *ro, struct orc_apply_item *it,
     const char *why, struct orc_error *err)
{
	const struct orc_event *ev = it->event;
	struct orc_held_trigger h;
	char *data = NULL;
	enum orc_status st;

	if (ev->data != NULL) {
		data = json_dumps(ev->data, JSON_COMPACT | JSON_ENCODE_ANY);
		if (data == NULL)
			return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	h = (struct orc_held_trigger){
		.def_name = ro->def_name,
		.business_key = ro->key,
		.event_id = ev->id,
		.type = ev->type,
		.data = data,
		.message_id = orc_event_dedup_id(ev),
		.topic = it->topic,
		.partition = it->partition,
		.offset = it->offset,
		.why = why,
	};
	st = orc_store_hold_trigger(ap->store, &h, err);
	free(data);
	if (st != ORC_OK)
		return st;
	if (it->outcome == ORC_APPLY_PENDING) {
		it->outcome = ORC_APPLY_HELD;
		snprintf(it->reason, sizeof(it->reason),
			 "held: %s is %s", ro->def_name,
			 strcmp(why, "paused") == 0  ? "paused"
			 : strcmp(why, "limit") == 0 ? "at its max_running"
						     : "holding older triggers");
	}
	return ORC_OK;
}

/*
 * May the trigger of route ro start a new saga of its definition now?
 * Not while the definition is paused, is at its max_running (counted
 * exactly, under its lock), or holds older triggers (they start first):
 * then the trigger is held and *held is true.  A definition without
 * switches or held triggers costs a look through a short list.
 */
enum orc_status
orc_apply_gate_start(struct orc_apply *ap, const struct route *ro,
		     struct orc_apply_item *it, bool *held,
		     struct orc_error *err)
{
	const struct orc_control *c =
		orc_control_list_find(&ap->controls, ro->def_name);
	const char *why = NULL;
	struct limit_slot *l = NULL;
	enum orc_status st;

	*held = false;
	if (c == NULL)
		return ORC_OK;
	if (c->paused) {
		why = "paused";
	} else if (c->max_running < 0) {
		why = c->held ? "queued" : NULL;
	} else {
		st = limit_slot(ap, c, &l, err);
		if (st != ORC_OK)
			return st;
		if (l->held)
			why = "queued";
		else if (l->running + l->started >= c->max_running)
			why = "limit";
		else
			l->started++;
		l->held |= why != NULL;
	}
	if (why == NULL)
		return ORC_OK;
	st = hold(ap, ro, it, why, err);
	*held = st == ORC_OK;
	return st;
}
