/*
 * apply.c - events, timers and operator commands through the engine, in
 * PostgreSQL transactions.
 *
 * An event finds its sagas by routes: the sagaid attribute (a reply, or an
 * event addressed to a saga), a trigger (topic and type) that starts one
 * saga per (definition, business key), or a wait step that awaits its type
 * on its topic, by business key.  Routing needs no database; the sagas of
 * all routes are then locked in one statement and the engine runs in
 * memory.  An event that reaches no saga is dead-lettered with the reason,
 * and its inbox id is released so a replay of it is applied.
 */
#include "apply.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_saga.h"
#include "text.h"

#define MAX_TARGETS 8 /* definitions one event may trigger or feed */

enum route_kind {
	ROUTE_ID,    /* to the saga named by the sagaid attribute */
	ROUTE_START, /* a trigger: start (or find) the saga for the key */
	ROUTE_KEY,   /* a wait step's event: the saga with the key */
};

struct route {
	size_t item;
	enum route_kind kind;
	const struct orc_definition *def; /* START: the definition to start */
	const char *def_name;             /* START, KEY */
	char key[ORC_SAGA_KEY_MAX];
};

struct orc_apply {
	struct orc_store *store;
	struct orc_catalog *cat;
	char *consumer;
	char *reply_to;
	struct orc_saga_set set;
	struct orc_write_batch *wb;
	struct orc_effects fx;
	struct route *routes;
	size_t n_routes;
	size_t cap_routes;
	const char **strs; /* scratch for id, name and key arrays */
	const char **strs2;
	const char **strs3;
	bool *fresh;
	size_t cap_items;
	int urandom;
	unsigned char rnd[4096];
	size_t rnd_pos;
	uint64_t finished[ORC_SAGA_STATUS_COUNT]; /* this transaction's */
	struct orc_apply_stats stats;
};

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
	ap->urandom = -1;
	ap->consumer = strdup(cfg->consumer);
	ap->reply_to = cfg->reply_to ? strdup(cfg->reply_to) : NULL;
	ap->wb = orc_write_batch_create();
	orc_saga_set_init(&ap->set);
	orc_effects_init(&ap->fx);
	ap->rnd_pos = sizeof(ap->rnd);
	if (ap->consumer == NULL || (cfg->reply_to && ap->reply_to == NULL) ||
	    ap->wb == NULL) {
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

void
orc_apply_destroy(struct orc_apply *ap)
{
	if (ap == NULL)
		return;
	orc_saga_set_finish(&ap->set);
	orc_effects_finish(&ap->fx);
	orc_write_batch_destroy(ap->wb);
	free(ap->routes);
	free(ap->strs);
	free(ap->strs2);
	free(ap->strs3);
	free(ap->fresh);
	free(ap->consumer);
	free(ap->reply_to);
	if (ap->urandom >= 0)
		close(ap->urandom);
	free(ap);
}

const struct orc_apply_stats *
orc_apply_stats(const struct orc_apply *ap)
{
	return &ap->stats;
}

/* A random (version 4) UUID into buf (size >= 37). */
static enum orc_status
new_uuid(struct orc_apply *ap, char *buf, struct orc_error *err)
{
	unsigned char b[16];

	if (ap->rnd_pos + sizeof(b) > sizeof(ap->rnd)) {
		if (read(ap->urandom, ap->rnd, sizeof(ap->rnd)) !=
		    (ssize_t)sizeof(ap->rnd))
			return orc_error_set(err, ORC_FATAL,
					     "cannot read /dev/urandom");
		ap->rnd_pos = 0;
	}
	memcpy(b, ap->rnd + ap->rnd_pos, sizeof(b));
	ap->rnd_pos += sizeof(b);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(buf, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
	return ORC_OK;
}

static bool
reserve(struct orc_apply *ap, size_t items, size_t routes)
{
	if (routes > ap->cap_routes) {
		size_t cap = routes * 2;
		struct route *r = realloc(ap->routes, cap * sizeof(*r));

		if (r == NULL)
			return false;
		ap->routes = r;
		ap->cap_routes = cap;
	}
	if (items > ap->cap_items) {
		size_t cap = items * 2;
		const char **a = realloc(ap->strs, cap * MAX_TARGETS * sizeof(*a));
		const char **b, **c;
		bool *f;

		if (a == NULL)
			return false;
		ap->strs = a;
		b = realloc(ap->strs2, cap * MAX_TARGETS * sizeof(*b));
		if (b == NULL)
			return false;
		ap->strs2 = b;
		c = realloc(ap->strs3, cap * MAX_TARGETS * sizeof(*c));
		if (c == NULL)
			return false;
		ap->strs3 = c;
		f = realloc(ap->fresh, cap * sizeof(*f));
		if (f == NULL)
			return false;
		ap->fresh = f;
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
		for (size_t j = before; j < ap->n_routes; j++)
			if (ap->routes[j].kind == ROUTE_KEY &&
			    strcmp(ap->routes[j].def_name, waits[i].def->name) == 0 &&
			    strcmp(ap->routes[j].key, r->key) == 0)
				seen = true;
		if (seen)
			continue;
		r->item = idx;
		r->kind = ROUTE_KEY;
		r->def = NULL;
		r->def_name = waits[i].def->name;
		ap->n_routes++;
	}
	if (ap->n_routes == before)
		dead(it, "no saga definition starts with or waits for "
			 "\"%s\" on topic \"%s\"%s",
		     ev->type, it->topic,
		     n_waits > 0 ? " (business key not found in its data)" : "");
}

/* Apply one input to ss and queue what it decided. */
static enum orc_status
run_engine(struct orc_apply *ap, struct orc_stored_saga *ss,
	   const struct orc_engine_input *in, const struct orc_event *ev,
	   int64_t now_ms, struct orc_error *err)
{
	struct orc_effect_origin origin = {
		.event_id = ev ? ev->id : NULL,
		.traceparent = ev ? ev->traceparent : NULL,
		.reply_to = ap->reply_to,
		.now_ms = now_ms,
	};
	enum orc_status st, wst;

	st = orc_engine_apply(&ss->saga, in, now_ms, &ap->fx, err);
	if (st != ORC_OK && st != ORC_CONFLICT)
		return st;
	/* A refused input still leaves its history entry. */
	ss->touched = true;
	wst = orc_write_batch_effects(ap->wb, &ss->saga, &ap->fx, &origin, err);
	if (wst != ORC_OK)
		return wst;
	for (size_t i = 0; i < ap->fx.n; i++)
		if (ap->fx.v[i].kind == ORC_EFFECT_SAGA_EVENT)
			ap->finished[ap->fx.v[i].saga_status]++;
	return st;
}

/* Write every touched saga and everything queued. */
static enum orc_status
write_back(struct orc_apply *ap, struct orc_error *err)
{
	enum orc_status st;

	for (size_t i = 0; i < ap->set.n; i++) {
		if (!ap->set.v[i]->touched)
			continue;
		st = orc_write_batch_saga(ap->wb, ap->set.v[i], err);
		if (st != ORC_OK)
			return st;
	}
	return orc_store_write(ap->store, ap->wb, err);
}

static void
begin_batch(struct orc_apply *ap)
{
	orc_saga_set_reset(&ap->set);
	orc_write_batch_reset(ap->wb);
	ap->n_routes = 0;
	memset(ap->finished, 0, sizeof(ap->finished));
}

static void
commit_stats(struct orc_apply *ap)
{
	for (int i = 0; i < ORC_SAGA_STATUS_COUNT; i++)
		ap->stats.sagas_finished[i] += ap->finished[i];
	ap->stats.commands += orc_write_batch_outbox_rows(ap->wb);
}

static enum orc_status
dead_letter(struct orc_apply *ap, const struct orc_apply_item *it,
	    struct orc_error *err)
{
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

	return orc_store_dead_letter(ap->store, &dl, err);
}

/*
 * One transaction over items[0..n).  A non-transient failure here means
 * "redo the batch item by item"; err says which item when it knows.
 */
static enum orc_status
apply_once(struct orc_apply *ap, struct orc_apply_item *items, size_t n,
	   int64_t now_ms, struct orc_error *err)
{
	size_t n_ids = 0, n_keys = 0, n_claim = 0, n_release = 0;
	enum orc_status st;

	begin_batch(ap);
	if (!reserve(ap, n, n * MAX_TARGETS * 2))
		return orc_error_set(err, ORC_FATAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		items[i].outcome = ORC_APPLY_PENDING;
		items[i].reason[0] = '\0';
		items[i].saga_id[0] = '\0';
		route_item(ap, &items[i], i);
	}
	st = orc_store_begin(ap->store, err);
	if (st != ORC_OK)
		return st;

	/* The inbox: events applied before change nothing. */
	for (size_t i = 0; i < n; i++)
		if (items[i].outcome == ORC_APPLY_PENDING)
			ap->strs[n_claim++] = orc_event_dedup_id(items[i].event);
	if (n_claim > 0) {
		size_t k = 0;

		st = orc_store_inbox_claim(ap->store, ap->consumer, ap->strs,
					   n_claim, ap->fresh, err);
		if (st != ORC_OK)
			return st;
		for (size_t i = 0; i < n; i++) {
			if (items[i].outcome != ORC_APPLY_PENDING)
				continue;
			if (!ap->fresh[k++])
				items[i].outcome = ORC_APPLY_DUPLICATE;
		}
	}

	/* Lock every saga the batch may touch, in one statement. */
	for (size_t r = 0; r < ap->n_routes; r++) {
		const struct route *ro = &ap->routes[r];

		if (items[ro->item].outcome != ORC_APPLY_PENDING)
			continue;
		if (ro->kind == ROUTE_ID) {
			ap->strs[n_ids++] = ro->key;
		} else {
			ap->strs2[n_keys] = ro->def_name;
			ap->strs3[n_keys++] = ro->key;
		}
	}
	st = orc_store_lock_sagas(ap->store, ap->cat, ap->strs, n_ids, ap->strs2,
				  ap->strs3, n_keys, &ap->set, err);
	if (st != ORC_OK)
		return st;

	/* The engine, in event order. */
	for (size_t r = 0; r < ap->n_routes; r++) {
		const struct route *ro = &ap->routes[r];
		struct orc_apply_item *it = &items[ro->item];
		const struct orc_event *ev = it->event;
		struct orc_engine_input in;
		struct orc_stored_saga *ss = NULL;

		if (it->outcome != ORC_APPLY_PENDING &&
		    it->outcome != ORC_APPLY_IGNORED &&
		    it->outcome != ORC_APPLY_APPLIED)
			continue;
		memset(&in, 0, sizeof(in));
		in.event_id = ev->id;
		in.type = ev->type;
		in.data = ev->data;
		switch (ro->kind) {
		case ROUTE_ID:
			ss = orc_saga_set_find(&ap->set, ro->key);
			in.kind = ev->sagastep ? ORC_INPUT_REPLY : ORC_INPUT_EVENT;
			in.step = ev->sagastep;
			in.topic = it->topic;
			if (ss == NULL && it->outcome == ORC_APPLY_PENDING)
				snprintf(it->reason, sizeof(it->reason),
					 "no saga with id %s", ro->key);
			break;
		case ROUTE_START:
			ss = orc_saga_set_find_key(&ap->set, ro->def_name, ro->key);
			if (ss == NULL) {
				char id[40];

				st = new_uuid(ap, id, err);
				if (st != ORC_OK)
					return st;
				ss = orc_saga_set_add_new(&ap->set, ro->def);
				if (ss == NULL)
					return orc_error_set(err, ORC_FATAL,
							     "out of memory");
				in.saga_id = id;
				in.key = ro->key;
				in.kind = ORC_INPUT_START;
				st = run_engine(ap, ss, &in, ev, now_ms, err);
				goto applied;
			}
			in.kind = ORC_INPUT_START;
			in.saga_id = ss->saga.id;
			in.key = ro->key;
			break;
		case ROUTE_KEY:
			ss = orc_saga_set_find_key(&ap->set, ro->def_name, ro->key);
			in.kind = ORC_INPUT_EVENT;
			in.topic = it->topic;
			if (ss == NULL && it->outcome == ORC_APPLY_PENDING)
				snprintf(it->reason, sizeof(it->reason),
					 "no saga of %s has business key %s",
					 ro->def_name, ro->key);
			break;
		}
		if (ss == NULL)
			continue;
		st = run_engine(ap, ss, &in, ev, now_ms, err);
applied:
		if (st == ORC_OK && ap->fx.result == ORC_RESULT_APPLIED) {
			it->outcome = ORC_APPLY_APPLIED;
		} else if (st == ORC_OK || st == ORC_CONFLICT) {
			if (it->outcome == ORC_APPLY_PENDING) {
				it->outcome = ORC_APPLY_IGNORED;
				snprintf(it->reason, sizeof(it->reason), "%s",
					 orc_ignore_reason_name(ap->fx.ignore_reason));
			}
		} else if (st == ORC_INVALID) {
			it->outcome = ORC_APPLY_DEAD;
			snprintf(it->reason, sizeof(it->reason), "%s",
				 err->message);
		} else {
			orc_error_prefix(err, "%s [%d] @ %lld", it->topic,
					 (int)it->partition, (long long)it->offset);
			return st == ORC_FATAL ? ORC_INVALID : st;
		}
		if (it->saga_id[0] == '\0')
			snprintf(it->saga_id, sizeof(it->saga_id), "%s",
				 ss->saga.id);
	}

	/* What reached no saga is dead; a replay of it must apply. */
	for (size_t i = 0; i < n; i++) {
		if (items[i].outcome == ORC_APPLY_PENDING)
			items[i].outcome = ORC_APPLY_DEAD;
		if (items[i].outcome == ORC_APPLY_DEAD && items[i].event != NULL)
			ap->strs[n_release++] = orc_event_dedup_id(items[i].event);
	}
	st = orc_store_inbox_release(ap->store, ap->consumer, ap->strs,
				     n_release, err);
	if (st == ORC_OK)
		st = write_back(ap, err);
	for (size_t i = 0; st == ORC_OK && i < n; i++)
		if (items[i].outcome == ORC_APPLY_DEAD)
			st = dead_letter(ap, &items[i], err);
	if (st == ORC_OK)
		st = orc_store_commit(ap->store, err);
	return st;
}

static void
count(struct orc_apply *ap, const struct orc_apply_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (items[i].outcome) {
		case ORC_APPLY_APPLIED:
			ap->stats.applied++;
			break;
		case ORC_APPLY_IGNORED:
			ap->stats.ignored++;
			break;
		case ORC_APPLY_DUPLICATE:
			ap->stats.duplicates++;
			break;
		case ORC_APPLY_DEAD:
			ap->stats.dead++;
			break;
		case ORC_APPLY_PENDING:
			break;
		}
	}
}

/* Dead-letter one item in a transaction of its own. */
static enum orc_status
dead_alone(struct orc_apply *ap, struct orc_apply_item *it,
	   struct orc_error *err)
{
	enum orc_status st = orc_store_begin(ap->store, err);

	if (st == ORC_OK)
		st = dead_letter(ap, it, err);
	if (st == ORC_OK)
		st = orc_store_commit(ap->store, err);
	if (st != ORC_OK)
		orc_store_rollback(ap->store);
	return st;
}

enum orc_status
orc_apply_events(struct orc_apply *ap, struct orc_apply_item *items, size_t n,
		 int64_t now_ms, struct orc_error *err)
{
	enum orc_status st;

	if (n == 0)
		return ORC_OK;
	st = apply_once(ap, items, n, now_ms, err);
	if (st == ORC_OK) {
		ap->stats.batches++;
		commit_stats(ap);
		count(ap, items, n);
		return ORC_OK;
	}
	orc_store_rollback(ap->store);
	if (st == ORC_TRANSIENT || st == ORC_FATAL || n == 1)
		goto single;
	/* Something in the batch cannot be applied: find it, one by one. */
	ap->stats.fallbacks++;
	for (size_t i = 0; i < n; i++) {
		st = orc_apply_events(ap, &items[i], 1, now_ms, err);
		if (st != ORC_OK)
			return st; /* transient: the caller retries the batch */
	}
	ap->stats.batches++;
	return ORC_OK;
single:
	if (st != ORC_TRANSIENT && st != ORC_FATAL && n == 1) {
		items[0].outcome = ORC_APPLY_DEAD;
		snprintf(items[0].reason, sizeof(items[0].reason), "%s",
			 err->message);
		st = dead_alone(ap, &items[0], err);
		if (st == ORC_OK)
			count(ap, items, 1);
	}
	return st;
}

enum orc_status
orc_apply_timers(struct orc_apply *ap, int64_t now_ms, int limit, int *fired,
		 struct orc_error *err)
{
	struct orc_engine_input in = {.kind = ORC_INPUT_TIMER};
	enum orc_status st;

	*fired = 0;
	begin_batch(ap);
	st = orc_store_begin(ap->store, err);
	if (st == ORC_OK)
		st = orc_store_claim_due(ap->store, ap->cat, now_ms, limit,
					 &ap->set, err);
	for (size_t i = 0; st == ORC_OK && i < ap->set.n; i++) {
		struct orc_stored_saga *ss = ap->set.v[i];

		st = run_engine(ap, ss, &in, NULL, now_ms, err);
		if (st == ORC_CONFLICT)
			st = ORC_OK;
		if (st == ORC_FATAL || st == ORC_INVALID) {
			/*
			 * A timer the engine refuses would fire forever:
			 * roll back, move this saga's wake-up a minute on and
			 * record why; the others fire on the next turn.
			 */
			char id[40];
			struct orc_error derr;

			snprintf(id, sizeof(id), "%s", ss->saga.id);
			orc_error_prefix(err, "saga %s", id);
			orc_store_rollback(ap->store);
			if (orc_store_defer_wake(ap->store, id, now_ms + 60000,
						 err->message, &derr) != ORC_OK)
				return derr.status;
			return st;
		}
	}
	if (st == ORC_OK)
		st = write_back(ap, err);
	if (st == ORC_OK)
		st = orc_store_commit(ap->store, err);
	if (st != ORC_OK) {
		orc_store_rollback(ap->store);
		return st;
	}
	*fired = (int)ap->set.n;
	ap->stats.timers += ap->set.n;
	commit_stats(ap);
	return ORC_OK;
}

enum orc_status
orc_apply_start(struct orc_apply *ap, const char *name, const char *key,
		json_t *input, int64_t now_ms, char *saga_id,
		struct orc_error *err)
{
	const struct orc_definition *def = orc_catalog_latest(ap->cat, name);
	struct orc_engine_input in = {.kind = ORC_INPUT_START, .data = input};
	struct orc_stored_saga *ss;
	char keybuf[ORC_SAGA_KEY_MAX];
	const char *names[1] = {name}, *keys[1] = {keybuf};
	enum orc_status st;

	saga_id[0] = '\0';
	if (def == NULL)
		return orc_error_set(err, ORC_NOT_FOUND,
				     "no definition named \"%s\" is loaded", name);
	if (key != NULL)
		snprintf(keybuf, sizeof(keybuf), "%s", key);
	else if (!orc_business_key(input, def->trigger.key, keybuf,
				   sizeof(keybuf)))
		return orc_error_set(err, ORC_INVALID,
				     "business key not found at \"%s\" in the input",
				     def->trigger.key);
	begin_batch(ap);
	st = orc_store_begin(ap->store, err);
	if (st == ORC_OK)
		st = orc_store_lock_sagas(ap->store, ap->cat, NULL, 0, names,
					  keys, 1, &ap->set, err);
	if (st != ORC_OK)
		goto fail;
	if (ap->set.n > 0) {
		snprintf(saga_id, 40, "%s", ap->set.v[0]->saga.id);
		st = orc_error_set(err, ORC_CONFLICT,
				   "a saga of %s with business key %s exists already",
				   name, keybuf);
		goto fail;
	}
	st = new_uuid(ap, saga_id, err);
	if (st != ORC_OK)
		goto fail;
	ss = orc_saga_set_add_new(&ap->set, def);
	if (ss == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto fail;
	}
	in.saga_id = saga_id;
	in.key = keybuf;
	in.event_id = NULL;
	st = run_engine(ap, ss, &in, NULL, now_ms, err);
	if (st == ORC_OK)
		st = write_back(ap, err);
	if (st == ORC_OK)
		st = orc_store_commit(ap->store, err);
	if (st == ORC_OK) {
		commit_stats(ap);
		return ORC_OK;
	}
fail:
	orc_store_rollback(ap->store);
	return st;
}

enum orc_status
orc_apply_operator(struct orc_apply *ap, enum orc_input_kind kind,
		   const char *id, const char *reason, int64_t now_ms,
		   struct orc_error *err)
{
	struct orc_engine_input in = {.kind = kind, .reason = reason};
	const char *ids[1] = {id};
	enum orc_status st;

	if (!orc_text_uuid_valid(id))
		return orc_error_set(err, ORC_INVALID, "\"%s\" is not a saga id (a UUID)",
				     id);
	begin_batch(ap);
	st = orc_store_begin(ap->store, err);
	if (st == ORC_OK)
		st = orc_store_lock_sagas(ap->store, ap->cat, ids, 1, NULL, NULL,
					  0, &ap->set, err);
	if (st != ORC_OK)
		goto fail;
	if (ap->set.n == 0) {
		st = orc_error_set(err, ORC_NOT_FOUND, "no saga with id %s", id);
		goto fail;
	}
	st = run_engine(ap, ap->set.v[0], &in, NULL, now_ms, err);
	if (st == ORC_OK)
		st = write_back(ap, err);
	if (st == ORC_OK)
		st = orc_store_commit(ap->store, err);
	if (st == ORC_OK) {
		commit_stats(ap);
		return ORC_OK;
	}
fail:
	orc_store_rollback(ap->store);
	return st;
}
