/*
 * apply.c - a batch of events through the engine, in PostgreSQL
 * transactions (the definition switches: apply_gate.c; the overlapped
 * apply: apply_overlap.c; timers: apply_timers.c; operators:
 * apply_operator.c).
 *
 * A batch of events takes five steps in one transaction, each a function
 * below: route (where each event goes; no database), claim (the inbox
 * drops events applied before), lock (every saga the batch names, in one
 * statement), run (the pure engine, in event order, in memory) and write
 * (sagas, steps, history, outbox rows and dead letters, then the commit).
 * An event finds its sagas by routes: the sagaid attribute (a reply, or an
 * event addressed to a saga), a trigger (topic and type) that starts one
 * saga per (definition, business key), or a wait step that awaits its type
 * on its topic, by business key.  An event that reaches no saga is
 * dead-lettered with the reason, and its inbox id is released so a replay
 * of it is applied.
 *
 * The error classes keep the meaning error.h gives them: only ORC_INVALID
 * dead-letters an event.  Out of memory and a broken store are ORC_FATAL
 * and are returned as they are (the process exits, the batch is applied
 * again after the restart); ORC_TRANSIENT leaves the batch to be retried.
 * The scratch arrays grow to the largest batch seen and are kept, so the
 * steps allocate nothing of their own per event once warm.
 */
#include "apply.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "duration.h"
#include "store_admin.h"
#include "store_requests.h"
#include "store_saga.h"
#include "text.h"

#include "apply_internal.h"

const char *
orc_apply_outcome_name(enum orc_apply_outcome outcome)
{
	switch (outcome) {
	case ORC_APPLY_PENDING:
		return "pending";
	case ORC_APPLY_APPLIED:
		return "applied";
	case ORC_APPLY_IGNORED:
		return "ignored";
	case ORC_APPLY_DUPLICATE:
		return "duplicate";
	case ORC_APPLY_DEAD:
		return "dead";
	case ORC_APPLY_PARKED:
		return "parked";
	case ORC_APPLY_HELD:
		return "held";
	}
	return "?";
}

enum orc_status
orc_apply_create(struct orc_store *store, struct orc_catalog *cat,
		 const struct orc_apply_config *cfg, struct orc_apply **out,
		 struct orc_error *err)
{
	struct orc_apply *ap = calloc(1, sizeof(*ap));

	*out = NULL;
	if (ap == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	ap->store = store;
	ap->cat = cat;
	ap->stats = &ap->own_stats;
	ap->urandom = -1;
	ap->consumer = strdup(cfg->consumer);
	ap->reply_to = cfg->reply_to ? strdup(cfg->reply_to) : NULL;
	ap->lifecycle_topic = cfg->lifecycle_topic && *cfg->lifecycle_topic
				      ? strdup(cfg->lifecycle_topic)
				      : NULL;
	ap->engine.max_command_bytes = cfg->max_command_bytes;
	ap->parked_ttl_ms = cfg->parked_ttl_ms > 0 ? cfg->parked_ttl_ms
						   : 3600 * 1000;
	orc_parked_list_init(&ap->parked);
	orc_control_list_init(&ap->controls);
	ap->controls_refresh_ms = 2000;
	ap->wb = orc_write_batch_create();
	orc_saga_set_init(&ap->set);
	orc_effects_init(&ap->fx);
	ap->rnd_pos = sizeof(ap->rnd);
	if (ap->consumer == NULL || (cfg->reply_to && ap->reply_to == NULL) ||
	    (cfg->lifecycle_topic && *cfg->lifecycle_topic &&
	     ap->lifecycle_topic == NULL) ||
	    ap->wb == NULL ||
	    orc_write_batch_lifecycle(ap->wb, cfg->lifecycle_topic, err) !=
		    ORC_OK) {
		orc_apply_destroy(ap);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	ap->urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (ap->urandom < 0) {
		orc_apply_destroy(ap);
		return orc_error_set(err, ORC_FATAL, "cannot open /dev/urandom");
	}
	*out = ap;
	return ORC_OK;
}

enum orc_status
orc_apply_create_sibling(struct orc_apply *of, struct orc_store *store,
			 struct orc_apply **out, struct orc_error *err)
{
	struct orc_apply_config cfg = {
		.consumer = of->consumer,
		.reply_to = of->reply_to,
		.max_command_bytes = of->engine.max_command_bytes,
		.lifecycle_topic = of->lifecycle_topic,
		.parked_ttl_ms = of->parked_ttl_ms,
	};
	enum orc_status st = orc_apply_create(store, of->cat, &cfg, out, err);

	if (st != ORC_OK)
		return st;
	(*out)->stats = of->stats;
	(*out)->controls_refresh_ms = of->controls_refresh_ms;
	return ORC_OK;
}

void
orc_apply_destroy(struct orc_apply *ap)
{
	if (ap == NULL)
		return;
	orc_saga_set_finish(&ap->set);
	orc_effects_finish(&ap->fx);
	orc_parked_list_finish(&ap->parked);
	orc_control_list_finish(&ap->controls);
	free(ap->limits);
	orc_write_batch_destroy(ap->wb);
	free(ap->routes);
	free(ap->event_ids);
	free(ap->fresh);
	free(ap->saga_ids);
	free(ap->def_names);
	free(ap->business_keys);
	free(ap->consumer);
	free(ap->reply_to);
	free(ap->lifecycle_topic);
	if (ap->urandom >= 0)
		close(ap->urandom);
	free(ap);
}

const struct orc_apply_stats *
orc_apply_stats(const struct orc_apply *ap)
{
	return ap->stats;
}

/*
 * A new saga or action id into buf (size >= 37): a version 7 UUID (RFC
 * 9562), 48 bits of Unix milliseconds and then 74 random bits.  Ids made
 * later sort later, so a new saga's rows go to the right edge of the
 * indexes keyed by saga id (sagas, saga_steps, saga_history) instead of
 * a random leaf page each: fewer pages dirtied per batch, and fewer full
 * page images in the WAL after a checkpoint.  The clock never makes the
 * prefix go back within a process; two ids of one millisecond differ in
 * their random bits.
 */
enum orc_status
orc_apply_new_uuid(struct orc_apply *ap, char *buf, struct orc_error *err)
{
	unsigned char b[16];
	int64_t ms = orc_clock_wall_ms();

	if (ap->rnd_pos + sizeof(b) > sizeof(ap->rnd)) {
		if (read(ap->urandom, ap->rnd, sizeof(ap->rnd)) !=
		    (ssize_t)sizeof(ap->rnd))
			return orc_error_set(err, ORC_FATAL,
					     "cannot read /dev/urandom");
		ap->rnd_pos = 0;
	}
	memcpy(b, ap->rnd + ap->rnd_pos, sizeof(b));
	ap->rnd_pos += sizeof(b);
	if (ms < ap->uuid_ms)
		ms = ap->uuid_ms;
	ap->uuid_ms = ms;
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)((uint64_t)ms >> (40 - 8 * i));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x70);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(buf, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
	return ORC_OK;
}

/* Room for a batch of items with up to routes routes. */
static bool
reserve(struct orc_apply *ap, size_t items, size_t routes)
{
	void *p;

	if (routes > ap->cap_routes) {
		size_t cap = routes * 2;

		if (!GROW(p, ap->routes, cap) || !GROW(p, ap->saga_ids, cap) ||
		    !GROW(p, ap->def_names, cap) ||
		    !GROW(p, ap->business_keys, cap))
			return false;
		ap->cap_routes = cap;
	}
	if (items > ap->cap_items) {
		size_t cap = items * 2;

		if (!GROW(p, ap->event_ids, cap) || !GROW(p, ap->fresh, cap))
			return false;
		ap->cap_items = cap;
	}
	return true;
}

static void dead(struct orc_apply_item *it, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
dead(struct orc_apply_item *it, const char *fmt, ...)
{
	va_list ap;

	it->outcome = ORC_APPLY_DEAD;
	va_start(ap, fmt);
	vsnprintf(it->reason, sizeof(it->reason), fmt, ap);
	va_end(ap);
}

/* How long an event for wait step st stays parked without its saga. */
static int64_t
park_ms(const struct orc_apply *ap, const struct orc_step_def *st)
{
	return st->wait.early_ttl_ms > 0 ? st->wait.early_ttl_ms
					 : ap->parked_ttl_ms;
}

/* Find where item idx goes; append routes, or mark the item dead. */
static void
route_item(struct orc_apply *ap, struct orc_apply_item *it, size_t idx)
{
	const struct orc_event *ev = it->event;
	const struct orc_definition *defs[MAX_TARGETS];
	struct orc_catalog_waiter waits[MAX_TARGETS];
	size_t n_defs, n_waits, before = ap->n_routes;

	if (ev == NULL) {
		dead(it, "%s", it->parse_error ? it->parse_error
					       : "unreadable event");
		return;
	}
	if (ev->sagaid != NULL) {
		struct route *r = &ap->routes[ap->n_routes++];

		r->item = idx;
		r->kind = ROUTE_ID;
		r->def = NULL;
		r->def_name = NULL;
		snprintf(r->key, sizeof(r->key), "%s", ev->sagaid);
		return;
	}
	n_defs = orc_catalog_triggered_by(ap->cat, it->topic, ev->type, defs,
					  MAX_TARGETS);
	for (size_t i = 0; i < n_defs && i < MAX_TARGETS; i++) {
		struct route *r = &ap->routes[ap->n_routes];

		if (!orc_business_key(ev->data, defs[i]->trigger.key, r->key,
				      sizeof(r->key))) {
			dead(it, "business key not found at \"%s\" in the data of %s",
			     defs[i]->trigger.key, ev->type);
			ap->n_routes = before;
			return;
		}
		r->item = idx;
		r->kind = ROUTE_START;
		r->def = defs[i];
		r->def_name = defs[i]->name;
		ap->n_routes++;
	}
	n_waits = orc_catalog_waiting_for(ap->cat, it->topic, ev->type, waits,
					  MAX_TARGETS);
	for (size_t i = 0; i < n_waits && i < MAX_TARGETS; i++) {
		struct route *r = &ap->routes[ap->n_routes];
		bool seen = false;

		if (!orc_business_key(ev->data, waits[i].step->wait.key, r->key,
				      sizeof(r->key)))
			continue; /* not for this definition's waits */
		for (size_t j = before; j < ap->n_routes && !seen; j++) {
			struct route *o = &ap->routes[j];

			seen = o->kind == ROUTE_KEY &&
			       strcmp(o->def_name, waits[i].def->name) == 0 &&
			       strcmp(o->key, r->key) == 0;
			/* parked, it waits as long as its longest step would */
			if (seen && o->park_ms < park_ms(ap, waits[i].step))
				o->park_ms = park_ms(ap, waits[i].step);
		}
		if (seen)
			continue;
		r->item = idx;
		r->kind = ROUTE_KEY;
		r->def = NULL;
		r->def_name = waits[i].def->name;
		r->park_ms = park_ms(ap, waits[i].step);
		ap->n_routes++;
	}
	if (ap->n_routes == before)
		dead(it, "no saga definition starts with or waits for "
			 "\"%s\" on topic \"%s\"%s",
		     ev->type, it->topic,
		     n_waits > 0 ? " (business key not found in its data)" : "");
}

/*
 * Apply one input to ss and queue what it decided; event_id and
 * traceparent (may be NULL) say where it came from.
 */
enum orc_status
orc_apply_run_engine_from(struct orc_apply *ap, struct orc_stored_saga *ss,
			  const struct orc_engine_input *in,
			  const char *event_id, const char *traceparent,
			  int64_t now_ms, struct orc_error *err)
{
	struct orc_effect_origin origin = {
		.event_id = event_id,
		.traceparent = traceparent,
		.reply_to = ap->reply_to,
		.now_ms = now_ms,
	};
	enum orc_status st, wst;

	st = orc_engine_apply_with(&ss->saga, in, &ap->engine, now_ms, &ap->fx,
				   err);
	if (st != ORC_OK && st != ORC_CONFLICT)
		return st;
	/* A refused input still leaves its history entry; a duplicate none. */
	if (ap->fx.result != ORC_RESULT_DUPLICATE)
		ss->touched = true;
	wst = orc_write_batch_effects(ap->wb, &ss->saga, &ap->fx, &origin, err);
	if (wst != ORC_OK)
		return wst;
	/* every lifecycle event but saga.started ends the saga (or sticks it) */
	for (size_t i = 0; i < ap->fx.n; i++)
		if (ap->fx.v[i].kind == ORC_EFFECT_SAGA_EVENT &&
		    ap->fx.v[i].saga_status != ORC_SAGA_RUNNING)
			ap->finished[ap->fx.v[i].saga_status]++;
	if (st == ORC_OK)
		st = orc_apply_children(ap, ss, in, event_id, traceparent,
					now_ms, err);
	return st;
}

/* orc_apply_run_engine_from() for an input that ev (NULL: none) caused. */
enum orc_status
orc_apply_run_engine(struct orc_apply *ap, struct orc_stored_saga *ss,
		     const struct orc_engine_input *in,
		     const struct orc_event *ev, int64_t now_ms,
		     struct orc_error *err)
{
	return orc_apply_run_engine_from(ap, ss, in, ev ? ev->id : NULL,
					 ev ? ev->traceparent : NULL, now_ms,
					 err);
}

/* Queue every touched saga's row into the write batch. */
static enum orc_status
queue_sagas(struct orc_apply *ap, struct orc_error *err)
{
	enum orc_status st;

	for (size_t i = 0; i < ap->set.n; i++) {
		if (!ap->set.v[i]->touched)
			continue;
		st = orc_write_batch_saga(ap->wb, ap->set.v[i], err);
		if (st != ORC_OK)
			return st;
	}
	return ORC_OK;
}

/* Write every touched saga and everything queued, and commit. */
static enum orc_status
write_back_commit(struct orc_apply *ap, struct orc_error *err)
{
	enum orc_status st = queue_sagas(ap, err);

	return st == ORC_OK ? orc_store_write_commit(ap->store, ap->wb, err)
			    : st;
}

void
orc_apply_begin_batch(struct orc_apply *ap)
{
	orc_saga_set_reset(&ap->set);
	orc_write_batch_reset(ap->wb);
	ap->n_routes = 0;
	memset(ap->finished, 0, sizeof(ap->finished));
	orc_parked_list_reset(&ap->parked);
	ap->taken = 0;
	ap->n_unrouted = 0;
	ap->n_limits = 0;
}

static void
commit_stats(struct orc_apply *ap)
{
	for (int i = 0; i < ORC_SAGA_STATUS_COUNT; i++)
		ap->stats->sagas_finished[i] += ap->finished[i];
	ap->stats->commands += orc_write_batch_outbox_rows(ap->wb);
	ap->stats->parked_taken += ap->taken;
}

/*
 * Write back what the open transaction changed and commit it (after the
 * caller's hook, when one is set); on failure, roll it back.
 */
enum orc_status
orc_apply_commit_writes(struct orc_apply *ap, struct orc_error *err)
{
	enum orc_status st = ORC_OK;

	if (ap->hook != NULL)
		st = ap->hook->fn(ap->hook->arg, ap->store, err);
	if (st == ORC_OK)
		st = write_back_commit(ap, err);

	if (st != ORC_OK) {
		orc_store_rollback(ap->store);
		return st;
	}
	commit_stats(ap);
	return ORC_OK;
}

static enum orc_status
dead_letter(struct orc_apply *ap, struct orc_apply_item *it,
	    struct orc_error *err)
{
	struct orc_dead_letter_result res;
	enum orc_status st;
	struct orc_dead_letter dl = {
		.consumer = ap->consumer,
		.topic = it->topic,
		.partition = it->partition,
		.offset = it->offset,
		.key = it->key,
		.key_len = it->key_len,
		.headers = it->headers,
		.n_headers = it->n_headers,
		.payload = it->value,
		.payload_len = it->value_len,
		.error = it->reason,
	};

	st = orc_store_dead_letter(ap->store, &dl, &res, err);
	if (st != ORC_OK)
		return st;
	it->dead_letter_id = res.id;
	if (res.minimal) /* what the row says, the topic's copy says too */
		snprintf(it->reason, sizeof(it->reason), "%s", res.error);
	return ORC_OK;
}

/* ---- one batch of events: route -> claim -> lock -> run -> write ---- */

/*
 * Route: where each of items[0..n) goes, without the database.  After it
 * every item is PENDING with its routes in ap->routes (in item order), or
 * DEAD with the reason (it did not parse, or no saga can take it).
 */
static enum orc_status
route_batch(struct orc_apply *ap, struct orc_apply_item *items, size_t n,
	    struct orc_error *err)
{
	orc_apply_begin_batch(ap);
	if (!reserve(ap, n, n * MAX_ROUTES))
		return orc_error_set(err, ORC_FATAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		items[i].outcome = ORC_APPLY_PENDING;
		items[i].reason[0] = '\0';
		items[i].saga_id[0] = '\0';
		route_item(ap, &items[i], i);
	}
	return ORC_OK;
}

/*
 * A reply (sagaid and sagastep) is deduplicated by the step it names,
 * which remembers the ids of the replies it took (engine.h): it needs no
 * inbox row.  A reply that reaches no step (no such saga or step) is
 * dead-lettered or recorded as ignored again if Kafka redelivers it.
 */
static bool
step_dedups(const struct orc_event *ev)
{
	return ev != NULL && ev->sagaid != NULL && ev->sagastep != NULL;
}

/*
 * Claim: record the event ids of the PENDING items in the inbox, in one
 * statement.  An item whose id was claimed before becomes DUPLICATE and
 * changes nothing; the others stay PENDING.  Replies are left to their
 * steps (step_dedups()).
 */
static enum orc_status
claim_inbox(struct orc_apply *ap, struct orc_apply_item *items, size_t n,
	    struct orc_error *err)
{
	size_t n_claimed = 0, answer = 0;
	enum orc_status st;

	for (size_t i = 0; i < n; i++)
		if (items[i].outcome == ORC_APPLY_PENDING &&
		    !step_dedups(items[i].event))
			ap->event_ids[n_claimed++] =
				orc_event_dedup_id(items[i].event);
	if (n_claimed == 0)
		return ORC_OK;
	st = orc_store_inbox_claim(ap->store, ap->consumer, ap->event_ids,
				   n_claimed, ap->fresh, err);
	if (st != ORC_OK)
		return st;
	for (size_t i = 0; i < n; i++) {
		if (items[i].outcome != ORC_APPLY_PENDING ||
		    step_dedups(items[i].event))
			continue;
		if (!ap->fresh[answer++])
			items[i].outcome = ORC_APPLY_DUPLICATE;
	}
	return ORC_OK;
}

/*
 * Lock: every saga the routes of PENDING items name, by id or by
 * (definition, business key), locked and read into ap->set in one
 * statement.  A saga that does not exist is simply not in the set.
 */
static enum orc_status
lock_sagas(struct orc_apply *ap, const struct orc_apply_item *items,
	   struct orc_error *err)
{
	size_t n_ids = 0, n_keys = 0;

	for (size_t r = 0; r < ap->n_routes; r++) {
		const struct route *ro = &ap->routes[r];

		if (items[ro->item].outcome != ORC_APPLY_PENDING)
			continue;
		if (ro->kind == ROUTE_ID) {
			ap->saga_ids[n_ids++] = ro->key;
		} else {
			ap->def_names[n_keys] = ro->def_name;
			ap->business_keys[n_keys++] = ro->key;
		}
	}
	return orc_store_lock_sagas(ap->store, ap->cat, ap->saga_ids, n_ids,
				    ap->def_names, ap->business_keys, n_keys,
				    &ap->set, err);
}

/*
 * Is the saga of route ro quarantined (store_saga.h)?  Then it->reason
 * says so, unless another route of the item reached a saga.
 */
static bool
route_quarantined(struct orc_apply *ap, const struct route *ro,
		  struct orc_apply_item *it)
{
	const struct orc_quarantined_saga *q =
		ro->kind == ROUTE_ID
			? orc_saga_set_quarantined(&ap->set, ro->key)
			: orc_saga_set_quarantined_key(&ap->set, ro->def_name,
						       ro->key);

	if (q == NULL)
		return false;
	if (it->outcome == ORC_APPLY_PENDING)
		snprintf(it->reason, sizeof(it->reason),
			 "saga %.40s is quarantined: %.500s", q->id, q->reason);
	return true;
}

/*
 * The saga route ro of item it goes to, into *out, and the engine input
 * for it, into *in.  A trigger whose saga does not exist yet gets a new
 * one (its id in new_id, size 40, which in borrows).  *out is NULL when
 * the saga does not exist or is quarantined; it->reason then says why,
 * unless another route of the item reached a saga.
 */
static enum orc_status
route_target(struct orc_apply *ap, const struct route *ro,
	     struct orc_apply_item *it, char *new_id,
	     struct orc_engine_input *in, struct orc_stored_saga **out,
	     struct orc_error *err)
{
	const struct orc_event *ev = it->event;
	struct orc_stored_saga *ss = NULL;
	enum orc_status st;

	*out = NULL;
	memset(in, 0, sizeof(*in));
	in->event_id = ev->id;
	in->type = ev->type;
	in->data = ev->data;
	if (route_quarantined(ap, ro, it))
		return ORC_OK;
	switch (ro->kind) {
	case ROUTE_ID:
		ss = orc_saga_set_find(&ap->set, ro->key);
		in->kind = ev->sagastep ? ORC_INPUT_REPLY : ORC_INPUT_EVENT;
		in->step = ev->sagastep;
		if (step_dedups(ev))
			in->dedup_id = orc_event_dedup_id(ev);
		in->topic = it->topic;
		if (ss == NULL && it->outcome == ORC_APPLY_PENDING)
			snprintf(it->reason, sizeof(it->reason),
				 "no saga with id %s", ro->key);
		break;
	case ROUTE_START:
		/*
		 * The key's saga takes the trigger (and ignores it: it has
		 * started) unless the trigger's key_reuse policy lets the key
		 * start another; the database refuses a second open saga.
		 */
		ss = orc_saga_set_find_key(&ap->set, ro->def_name, ro->key);
		if (ss != NULL &&
		    !orc_key_reuse_allows(ro->def->trigger.key_reuse,
					  ss->saga.status)) {
			in->saga_id = ss->saga.id;
		} else {
			bool held;

			st = orc_apply_gate_start(ap, ro, it, &held, err);
			if (st != ORC_OK || held)
				return st;
			st = orc_apply_new_uuid(ap, new_id, err);
			if (st != ORC_OK)
				return st;
			ss = orc_saga_set_add_new(&ap->set, ro->def);
			if (ss == NULL)
				return orc_error_set(err, ORC_FATAL,
						     "out of memory");
			in->saga_id = new_id;
		}
		in->kind = ORC_INPUT_START;
		in->key = ro->key;
		break;
	case ROUTE_KEY:
		ss = orc_saga_set_find_key(&ap->set, ro->def_name, ro->key);
		in->kind = ORC_INPUT_EVENT;
		in->topic = it->topic;
		if (ss == NULL)
			ap->n_unrouted++;
		if (ss == NULL && it->outcome == ORC_APPLY_PENDING)
			snprintf(it->reason, sizeof(it->reason),
				 "no saga of %s has business key %s",
				 ro->def_name, ro->key);
		break;
	}
	*out = ss;
	return ORC_OK;
}

/*
 * Settle item it after the engine answered st for its input to ss: an
 * item is APPLIED when any of its routes changed a saga, IGNORED when
 * none had a use for it, DEAD when the engine calls the input invalid
 * (nothing was changed then).  Any other answer (out of memory, a refused
 * transition, which may have half changed ss) ends the batch with it.
 */
static enum orc_status
settle(struct orc_apply *ap, struct orc_apply_item *it,
       const struct orc_stored_saga *ss, enum orc_status st,
       struct orc_error *err)
{
	if (st == ORC_OK && ap->fx.result == ORC_RESULT_APPLIED) {
		it->outcome = ORC_APPLY_APPLIED;
	} else if (st == ORC_OK && ap->fx.result == ORC_RESULT_DUPLICATE) {
		it->outcome = ORC_APPLY_DUPLICATE;
	} else if (st == ORC_OK || st == ORC_CONFLICT) {
		if (it->outcome == ORC_APPLY_PENDING) {
			it->outcome = ORC_APPLY_IGNORED;
			snprintf(it->reason, sizeof(it->reason), "%s",
				 orc_ignore_reason_name(ap->fx.ignore_reason));
		}
	} else if (st == ORC_INVALID) {
		it->outcome = ORC_APPLY_DEAD;
		snprintf(it->reason, sizeof(it->reason), "%s", err->message);
	} else {
		orc_error_prefix(err, "%s [%d] @ %lld", it->topic,
				 (int)it->partition, (long long)it->offset);
		return st;
	}
	if (it->saga_id[0] == '\0' && ss->saga.id != NULL)
		snprintf(it->saga_id, sizeof(it->saga_id), "%s", ss->saga.id);
	return ORC_OK;
}

/* Can a saga of def have parked events (does it await any)? */
bool
orc_apply_has_waits(const struct orc_definition *def)
{
	for (size_t i = 0; i < def->n_steps; i++)
		if (def->steps[i].kind == ORC_STEP_WAIT)
			return true;
	return false;
}

/*
 * Parked (before run): lock the parked events of every key a trigger of
 * the batch may start a saga for (no saga of the key is open, and the
 * definition awaits events), so that the saga takes them as it starts.
 */
static enum orc_status
lock_parked(struct orc_apply *ap, const struct orc_apply_item *items,
	    struct orc_error *err)
{
	size_t n = 0;

	for (size_t r = 0; r < ap->n_routes; r++) {
		const struct route *ro = &ap->routes[r];
		const struct orc_stored_saga *ss;

		if (ro->kind != ROUTE_START ||
		    items[ro->item].outcome != ORC_APPLY_PENDING ||
		    !orc_apply_has_waits(ro->def))
			continue;
		ss = orc_saga_set_find_key(&ap->set, ro->def_name, ro->key);
		if (ss != NULL &&
		    !orc_key_reuse_allows(ro->def->trigger.key_reuse,
					  ss->saga.status))
			continue;
		ap->def_names[n] = ro->def_name;
		ap->business_keys[n++] = ro->key;
	}
	return orc_store_lock_parked(ap->store, ap->def_names,
				     ap->business_keys, n, &ap->parked, err);
}

/*
 * ss has just started: it takes, in the order they came, the events
 * parked for its definition and key, then the events of this batch
 * before route upto that were awaited by the key and found no saga.
 * The engine keeps them as early events (the first for a step wins;
 * history records the others as ignored).
 */
enum orc_status
orc_apply_deliver_early(struct orc_apply *ap, struct orc_apply_item *items,
			size_t upto, struct orc_stored_saga *ss, int64_t now_ms,
			struct orc_error *err)
{
	const char *name = ss->saga.def->name, *key = ss->saga.key;
	enum orc_status st;

	for (size_t i = 0; i < ap->parked.n; i++) {
		struct orc_parked_taken *p = &ap->parked.v[i];
		struct orc_engine_input in = {
			.kind = ORC_INPUT_EVENT,
			.topic = p->topic,
			.type = p->type,
			.event_id = p->event_id,
			.data = p->data,
		};

		if (p->used || strcmp(p->def_name, name) != 0 ||
		    strcmp(p->business_key, key) != 0)
			continue;
		p->used = true;
		ap->taken++;
		st = orc_apply_run_engine_from(ap, ss, &in, p->event_id, NULL,
					       now_ms, err);
		/* a parked event the engine refuses is dropped with its row */
		if (st != ORC_OK && st != ORC_CONFLICT && st != ORC_INVALID)
			return st;
	}
	for (size_t r = 0; ap->n_unrouted > 0 && r < upto; r++) {
		const struct route *ro = &ap->routes[r];
		struct orc_apply_item *it = &items[ro->item];
		struct orc_engine_input in = {.kind = ORC_INPUT_EVENT};

		if (ro->kind != ROUTE_KEY || it->outcome != ORC_APPLY_PENDING ||
		    strcmp(ro->def_name, name) != 0 || strcmp(ro->key, key) != 0)
			continue;
		in.topic = it->topic;
		in.type = it->event->type;
		in.event_id = it->event->id;
		in.data = it->event->data;
		st = orc_apply_run_engine(ap, ss, &in, it->event, now_ms, err);
		st = settle(ap, it, ss, st, err);
		if (st != ORC_OK)
			return st;
	}
	return ORC_OK;
}

/*
 * Park (before write): an item that reached no saga but is awaited by a
 * key's wait step waits for that saga to start, once per definition and
 * key that awaits it; it is not dead-lettered.
 */
static enum orc_status
park_unrouted(struct orc_apply *ap, struct orc_apply_item *items,
	      struct orc_error *err)
{
	for (size_t r = 0; ap->n_unrouted > 0 && r < ap->n_routes; r++) {
		const struct route *ro = &ap->routes[r];
		struct orc_apply_item *it = &items[ro->item];
		const struct orc_event *ev = it->event;
		struct orc_parked_event pe;
		char ttl[32];
		char *data;
		enum orc_status st;

		if (ro->kind != ROUTE_KEY ||
		    (it->outcome != ORC_APPLY_PENDING &&
		     it->outcome != ORC_APPLY_PARKED) ||
		    orc_saga_set_quarantined_key(&ap->set, ro->def_name,
						 ro->key) != NULL)
			continue;
		data = ev->data ? json_dumps(ev->data, JSON_COMPACT |
							    JSON_ENCODE_ANY)
				: NULL;
		if (ev->data != NULL && data == NULL)
			return orc_error_set(err, ORC_FATAL, "out of memory");
		orc_duration_format(ro->park_ms, ttl, sizeof(ttl));
		pe = (struct orc_parked_event){
			.raw = {.consumer = ap->consumer,
				.topic = it->topic,
				.partition = it->partition,
				.offset = it->offset,
				.key = it->key,
				.key_len = it->key_len,
				.headers = it->headers,
				.n_headers = it->n_headers,
				.payload = it->value,
				.payload_len = it->value_len},
			.def_name = ro->def_name,
			.business_key = ro->key,
			.type = ev->type,
			.event_id = ev->id,
			.message_id = orc_event_dedup_id(ev),
			.data = data,
			.ttl = ttl,
			.ttl_ms = ro->park_ms,
		};
		st = orc_store_park_event(ap->store, &pe, err);
		free(data);
		if (st != ORC_OK)
			return st;
		it->outcome = ORC_APPLY_PARKED;
		snprintf(it->reason, sizeof(it->reason),
			 "parked: no saga of %s has business key %s yet "
			 "(waits up to %s)",
			 ro->def_name, ro->key, ttl);
	}
	return ORC_OK;
}

/*
 * Run: every route's input through the engine against the locked sagas,
 * in event order, queueing what it decided in ap->wb.  Items that reached
 * a saga are settled; items that reached none stay PENDING.
 */
static enum orc_status
run_routes(struct orc_apply *ap, struct orc_apply_item *items,
	   int64_t now_ms, struct orc_error *err)
{
	for (size_t r = 0; r < ap->n_routes; r++) {
		const struct route *ro = &ap->routes[r];
		struct orc_apply_item *it = &items[ro->item];
		struct orc_engine_input in;
		struct orc_stored_saga *ss;
		char new_id[40];
		enum orc_status st;
		bool started;

		if (it->outcome == ORC_APPLY_DUPLICATE ||
		    it->outcome == ORC_APPLY_DEAD)
			continue;
		st = route_target(ap, ro, it, new_id, &in, &ss, err);
		if (st != ORC_OK)
			return st;
		if (ss == NULL)
			continue;
		st = orc_apply_run_engine(ap, ss, &in, it->event, now_ms, err);
		started = st == ORC_OK && in.kind == ORC_INPUT_START &&
			  ap->fx.result == ORC_RESULT_APPLIED;
		st = settle(ap, it, ss, st, err);
		if (st == ORC_OK && started)
			st = orc_apply_deliver_early(ap, items, r, ss, now_ms,
						     err);
		if (st != ORC_OK)
			return st;
	}
	return ORC_OK;
}

/*
 * Write: an item still PENDING reached no saga and is DEAD; the inbox ids
 * of DEAD items are released, so that a replay of them is applied.  Then
 * the dead letters, and the touched sagas and every queued row with the
 * commit, in one round trip (only sent when send_only).
 */
enum orc_status
orc_apply_write(struct orc_apply *ap, struct orc_apply_item *items, size_t n,
		bool send_only, struct orc_error *err)
{
	size_t n_released = 0;
	enum orc_status st;

	st = orc_store_drop_parked(ap->store, &ap->parked, err);
	if (st == ORC_OK)
		st = park_unrouted(ap, items, err);
	if (st != ORC_OK)
		return st;
	for (size_t i = 0; i < n; i++) {
		if (items[i].outcome == ORC_APPLY_PENDING)
			items[i].outcome = ORC_APPLY_DEAD;
		if (items[i].outcome == ORC_APPLY_DEAD &&
		    items[i].event != NULL && !step_dedups(items[i].event))
			ap->event_ids[n_released++] =
				orc_event_dedup_id(items[i].event);
	}
	st = orc_store_inbox_release(ap->store, ap->consumer, ap->event_ids,
				     n_released, err);
	for (size_t i = 0; st == ORC_OK && i < n; i++)
		if (items[i].outcome == ORC_APPLY_DEAD)
			st = dead_letter(ap, &items[i], err);
	if (st == ORC_OK && send_only)
		st = queue_sagas(ap, err);
	if (st == ORC_OK && send_only)
		return orc_store_write_commit_send(ap->store, ap->wb, err);
	if (st == ORC_OK)
		st = write_back_commit(ap, err);
	return st;
}

enum orc_status
orc_apply_route(struct orc_apply *ap, struct orc_apply_item *items, size_t n,
		int64_t now_ms, struct orc_error *err)
{
	enum orc_status st = orc_apply_refresh_controls(ap, now_ms, err);

	return st == ORC_OK ? route_batch(ap, items, n, err) : st;
}

enum orc_status
orc_apply_open_and_run(struct orc_apply *ap, struct orc_apply_item *items,
		       size_t n, int64_t now_ms, struct orc_error *err)
{
	enum orc_status st = orc_store_begin(ap->store, err);

	if (st == ORC_OK)
		st = claim_inbox(ap, items, n, err);
	if (st == ORC_OK)
		st = lock_sagas(ap, items, err);
	if (st == ORC_OK)
		st = lock_parked(ap, items, err);
	if (st == ORC_OK)
		st = run_routes(ap, items, now_ms, err);
	return st;
}

/* ---- batches, and the redo of a failed one ---- */

static void
count(struct orc_apply *ap, const struct orc_apply_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (items[i].outcome) {
		case ORC_APPLY_APPLIED:
			ap->stats->applied++;
			break;
		case ORC_APPLY_IGNORED:
			ap->stats->ignored++;
			break;
		case ORC_APPLY_DUPLICATE:
			ap->stats->duplicates++;
			break;
		case ORC_APPLY_DEAD:
			ap->stats->dead++;
			break;
		case ORC_APPLY_PARKED:
			ap->stats->parked++;
			break;
		case ORC_APPLY_HELD:
			ap->stats->held++;
			break;
		case ORC_APPLY_PENDING:
			break;
		}
	}
}

void
orc_apply_batch_done(struct orc_apply *ap, const struct orc_apply_item *items,
		     size_t n)
{
	ap->stats->batches++;
	commit_stats(ap);
	count(ap, items, n);
}

/*
 * items[0..n) in one transaction: route, open and run, write and commit,
 * then the statistics.  ORC_OK: committed, every item has its outcome.
 * Otherwise it is rolled back; err says which item when it knows.
 */
static enum orc_status
apply_batch(struct orc_apply *ap, struct orc_apply_item *items, size_t n,
	    int64_t now_ms, struct orc_error *err)
{
	enum orc_status st = orc_apply_route(ap, items, n, now_ms, err);

	if (st == ORC_OK)
		st = orc_apply_open_and_run(ap, items, n, now_ms, err);
	if (st == ORC_OK)
		st = orc_apply_write(ap, items, n, false, err);
	if (st != ORC_OK) {
		orc_store_rollback(ap->store);
		return st;
	}
	orc_apply_batch_done(ap, items, n);
	return ORC_OK;
}

/*
 * Dead-letter it, which its own transaction found invalid (err says why),
 * in a transaction of its own.
 */
static enum orc_status
dead_alone(struct orc_apply *ap, struct orc_apply_item *it,
	   struct orc_error *err)
{
	enum orc_status st;

	it->outcome = ORC_APPLY_DEAD;
	snprintf(it->reason, sizeof(it->reason), "%s", err->message);
	st = orc_store_begin(ap->store, err);
	if (st == ORC_OK)
		st = dead_letter(ap, it, err);
	if (st == ORC_OK)
		st = orc_store_commit(ap->store, err);
	if (st != ORC_OK) {
		orc_store_rollback(ap->store);
		return st;
	}
	count(ap, it, 1);
	return ORC_OK;
}

/*
 * One item in a transaction of its own.  Only ORC_INVALID dead-letters it;
 * any other failure (out of memory, a broken store, a lost connection, a
 * race with another worker) is returned, with nothing of it committed.
 */
static enum orc_status
apply_alone(struct orc_apply *ap, struct orc_apply_item *it, int64_t now_ms,
	    struct orc_error *err)
{
	enum orc_status st = apply_batch(ap, it, 1, now_ms, err);

	return st == ORC_INVALID ? dead_alone(ap, it, err) : st;
}

enum orc_status
orc_apply_events(struct orc_apply *ap, struct orc_apply_item *items, size_t n,
		 int64_t now_ms, struct orc_error *err)
{
	enum orc_status st;

	if (n == 0)
		return ORC_OK;
	if (n == 1)
		return apply_alone(ap, items, now_ms, err);
	st = apply_batch(ap, items, n, now_ms, err);
	if (st == ORC_OK || st == ORC_TRANSIENT || st == ORC_FATAL)
		return st;
	/* Something in the batch cannot be applied: find it, one by one. */
	ap->stats->fallbacks++;
	for (size_t i = 0; i < n; i++) {
		st = apply_alone(ap, &items[i], now_ms, err);
		if (st != ORC_OK)
			return st; /* the caller retries the whole batch */
	}
	ap->stats->batches++;
	return ORC_OK;
}
