/*
 * requests.c - operator requests and held triggers, applied through the
 * engine, each at most once.
 *
 * A request is applied at most once, across processes and crashes, for
 * one reason: its row goes from pending to done in the transaction that
 * applies the action (a hook of orc_apply_operator_hooked(), run before
 * the commit), and only from pending.  Two processes that apply the same
 * request serialize on its row lock; the second's update then finds it
 * done, fails, and rolls its action back.  A crash before the commit
 * loses the action and the done together (the request stays pending,
 * and is applied later); after it, both are durable.  Refused and failed
 * are written after the rollback, in a statement of their own, again only
 * from pending, so a late refusal never overwrites a done.  The lease of
 * the poll (claimed_until) only keeps processes off each other's rows.
 *
 * A held trigger starts its saga once for the same reason: the start's
 * transaction deletes the row (SKIP LOCKED: a row another process is
 * starting is left to it), and it counts the definition's running sagas
 * under the definition's limit lock first, so two processes cannot both
 * take the last room.  A trigger whose key has an open saga is dropped,
 * as the trigger would have been ignored by that saga.
 *
 * Wake-up: LISTEN on the loop's connection (again after a reconnect, seen
 * as a new server process), polling every request_poll_ms as well.
 */
#include "requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "store_requests.h"

/* How long a poll keeps its rows from other processes. */
#define LEASE_MS 10000

struct orc_requests {
	struct orc_store *store;
	struct orc_apply *ap;
	int batch;
	int64_t poll_ms;
	int64_t next_ms;
	int session; /* the server process we LISTEN on; 0: none yet */
	char instance[128];
	struct orc_request_list list;
	struct orc_held_list held;
	struct orc_control_list controls;
	struct orc_requests_stats stats;
};

static const struct {
	const char *name;
	enum orc_input_kind kind;
} actions[] = {
	{"pause", ORC_INPUT_PAUSE},	{"resume", ORC_INPUT_RESUME},
	{"skip", ORC_INPUT_SKIP},	{"patch", ORC_INPUT_PATCH},
	{"retry", ORC_INPUT_RETRY},	{"resolve", ORC_INPUT_RESOLVE},
	{"cancel", ORC_INPUT_CANCEL},	{"terminate", ORC_INPUT_TERMINATE},
	/* between a saga and its children (apply_child.c) */
	{"child_ended", ORC_INPUT_CHILD}, {"undo", ORC_INPUT_UNDO},
};

static bool
action_kind(const char *name, enum orc_input_kind *kind)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(actions[i].name, name) == 0) {
			*kind = actions[i].kind;
			return true;
		}
	}
	return false;
}

enum orc_status
orc_requests_create(const struct orc_config *cfg, struct orc_store *store,
		    struct orc_apply *ap, struct orc_requests **out,
		    struct orc_error *err)
{
	struct orc_requests *rq = calloc(1, sizeof(*rq));
	char host[64];

	*out = NULL;
	if (rq == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	rq->store = store;
	rq->ap = ap;
	rq->batch = (int)orc_config_int(cfg, ORC_CFG_REQUEST_BATCH);
	rq->poll_ms = orc_config_int(cfg, ORC_CFG_REQUEST_POLL_MS);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(rq->instance, sizeof(rq->instance), "%s:%ld", host,
		 (long)getpid());
	orc_request_list_init(&rq->list);
	orc_held_list_init(&rq->held);
	orc_control_list_init(&rq->controls);
	*out = rq;
	return ORC_OK;
}

void
orc_requests_destroy(struct orc_requests *rq)
{
	if (rq == NULL)
		return;
	orc_request_list_finish(&rq->list);
	orc_held_list_finish(&rq->held);
	orc_control_list_finish(&rq->controls);
	free(rq);
}

const struct orc_requests_stats *
orc_requests_get_stats(const struct orc_requests *rq)
{
	return &rq->stats;
}

/* ---- requests ---- */

/* The hook of a request's action: its row is done, in the transaction. */
struct done_arg {
	const struct orc_requests *rq;
	int64_t id;
	const char *action_id;
	bool gone; /* it was no longer pending */
};

static enum orc_status
mark_done(void *arg, struct orc_store *store, struct orc_error *err)
{
	struct done_arg *d = arg;
	enum orc_status st = orc_store_request_done(store, d->id, d->action_id,
						    d->rq->instance, err);

	d->gone = st == ORC_CONFLICT;
	return st;
}

/* "message (detail) hint": a refused or failed request's outcome. */
static void
outcome_text(const struct orc_error *e, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "%s", e->message);

	if (e->detail[0] != '\0' && n < size)
		n += (size_t)snprintf(buf + n, size - n, " (%s)", e->detail);
	if (e->hint[0] != '\0' && n < size)
		snprintf(buf + n, size - n, " %s", e->hint);
}

/*
 * Apply request r; ORC_OK once its outcome is written (or another process
 * applied it), else the failure that leaves it pending.
 */
static enum orc_status
apply_request(struct orc_requests *rq, const struct orc_request *r,
	      struct orc_error *err)
{
	char action_id[40], outcome[2048];
	struct done_arg d = {.rq = rq, .id = r->id, .action_id = action_id};
	struct orc_apply_hook hook = {.fn = mark_done, .arg = &d};
	struct orc_operator_action act = {0};
	struct orc_error aerr = {0};
	const char *state;
	enum orc_status st;

	snprintf(action_id, sizeof(action_id), "req-%lld", (long long)r->id);
	if (!action_kind(r->action, &act.kind)) {
		orc_error_set(&aerr, ORC_INVALID, "unknown action \"%s\"",
			      r->action);
		st = ORC_INVALID;
	} else {
		act.step = r->step;
		act.data = r->data;
		act.reason = r->reason;
		act.by = r->requested_by;
		act.action_id = action_id;
		st = orc_apply_operator_hooked(rq->ap, &act, r->saga_id,
					       orc_clock_wall_ms(), &hook, NULL,
					       &aerr);
	}
	switch (st) {
	case ORC_OK:
		rq->stats.done++;
		orc_log(ORC_LOG_INFO, "operator request applied",
			ORC_LOG_INT("request", r->id),
			ORC_LOG_STR("action", r->action),
			ORC_LOG_STR("saga", r->saga_id),
			ORC_LOG_STR("by", r->requested_by));
		return ORC_OK;
	case ORC_CONFLICT:
		if (d.gone)
			return ORC_OK; /* another process applied it */
		state = "refused";
		break;
	case ORC_NOT_FOUND:
	case ORC_INVALID:
		state = "failed";
		break;
	default:
		*err = aerr;
		orc_store_request_unclaim(rq->store, r->id, NULL);
		return st;
	}
	outcome_text(&aerr, outcome, sizeof(outcome));
	st = orc_store_request_settle(rq->store, r->id, state, outcome,
				      rq->instance, err);
	if (st != ORC_OK)
		return st;
	if (strcmp(state, "refused") == 0)
		rq->stats.refused++;
	else
		rq->stats.failed++;
	orc_log(ORC_LOG_INFO, "operator request not applied",
		ORC_LOG_INT("request", r->id), ORC_LOG_STR("action", r->action),
		ORC_LOG_STR("saga", r->saga_id), ORC_LOG_STR("state", state),
		ORC_LOG_STR("outcome", outcome));
	return ORC_OK;
}

static enum orc_status
run_requests(struct orc_requests *rq, size_t *n, struct orc_error *err)
{
	enum orc_status st;
	size_t i;

	*n = 0;
	st = orc_store_requests_claim(rq->store, rq->instance, rq->batch,
				      LEASE_MS, &rq->list, err);
	for (i = 0; st == ORC_OK && i < rq->list.n; i++)
		st = apply_request(rq, &rq->list.v[i], err);
	/* what is left of the batch goes back to every process */
	for (size_t j = i; st != ORC_OK && j < rq->list.n; j++)
		orc_store_request_unclaim(rq->store, rq->list.v[j].id, NULL);
	*n = i;
	return st;
}

/* ---- held triggers ---- */

/* The hook of a held trigger's start: room, then its row. */
struct release_arg {
	const struct orc_held *h;
	const struct orc_control *c; /* NULL: no switches */
	bool full;  /* paused, or no room: it stays held */
	bool taken; /* another process is starting it */
};

static enum orc_status
take_held(void *arg, struct orc_store *store, struct orc_error *err)
{
	struct release_arg *a = arg;
	enum orc_status st;

	if (a->c != NULL && a->c->max_running >= 0) {
		int64_t running;
		bool held;

		st = orc_store_limit_lock(store, a->h->def_name, &running,
					  &held, err);
		if (st != ORC_OK)
			return st;
		if (running >= a->c->max_running) {
			a->full = true;
			return orc_error_set(err, ORC_CONFLICT,
					     "%s is at its max_running",
					     a->h->def_name);
		}
	}
	st = orc_store_held_take(store, a->h->id, err);
	a->taken = st == ORC_CONFLICT;
	return st;
}

/* Is name among the first n definitions this turn found full? */
static bool
is_full(const char *const *full, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(full[i], name) == 0)
			return true;
	return false;
}

static enum orc_status
run_held(struct orc_requests *rq, size_t *n, struct orc_error *err)
{
	const char **full = NULL;
	size_t n_full = 0;
	enum orc_status st;

	*n = 0;
	st = orc_store_held_next(rq->store, rq->batch, &rq->held, err);
	if (st != ORC_OK || rq->held.n == 0)
		return st;
	st = orc_store_controls_read(rq->store, &rq->controls, err);
	if (st != ORC_OK)
		return st;
	full = calloc(rq->held.n, sizeof(*full));
	if (full == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	for (size_t i = 0; i < rq->held.n && *n < (size_t)rq->batch; i++) {
		const struct orc_held *h = &rq->held.v[i];
		struct release_arg a = {
			.h = h,
			.c = orc_control_list_find(&rq->controls, h->def_name),
		};
		struct orc_apply_hook hook = {.fn = take_held, .arg = &a};
		struct orc_apply_trigger trigger = {.event_id = h->event_id,
						    .type = h->type};
		struct orc_error aerr = {0};
		char saga_id[40];

		if (is_full(full, n_full, h->def_name) ||
		    (a.c != NULL && a.c->paused))
			continue;
		st = orc_apply_start_hooked(rq->ap, h->def_name,
					    h->business_key, h->data, &trigger,
					    orc_clock_wall_ms(), &hook, saga_id,
					    &aerr);
		if (st == ORC_OK) {
			rq->stats.released++;
			(*n)++;
			continue;
		}
		if (st == ORC_CONFLICT && a.full) {
			full[n_full++] = h->def_name;
			st = ORC_OK;
			continue;
		}
		if (st == ORC_CONFLICT && a.taken) {
			st = ORC_OK;
			continue;
		}
		if (st == ORC_CONFLICT || st == ORC_INVALID) {
			/* its key has an open saga, which takes the trigger */
			orc_log(ORC_LOG_INFO, "held trigger dropped",
				ORC_LOG_STR("definition", h->def_name),
				ORC_LOG_STR("key", h->business_key),
				ORC_LOG_ERR(&aerr));
			st = orc_store_held_take(rq->store, h->id, err);
			if (st == ORC_CONFLICT)
				st = ORC_OK;
			if (st != ORC_OK)
				break;
			rq->stats.dropped++;
			continue;
		}
		if (st == ORC_NOT_FOUND) {
			/* not loaded here: left to a process that has it */
			st = ORC_OK;
			continue;
		}
		*err = aerr;
		break;
	}
	free(full);
	return st;
}

/* ---- the turn ---- */

enum orc_status
orc_requests_turn(struct orc_requests *rq, int64_t now_ms, size_t *n,
		  struct orc_error *err)
{
	size_t n_req = 0, n_held = 0;
	bool notified = false;
	enum orc_status st;

	*n = 0;
	if (orc_store_session(rq->store) != rq->session) {
		st = orc_store_requests_listen(rq->store, err);
		if (st != ORC_OK)
			return st;
		rq->session = orc_store_session(rq->store);
	}
	st = orc_store_requests_notified(rq->store, &notified, err);
	if (st != ORC_OK)
		return st;
	if (!notified && now_ms < rq->next_ms)
		return ORC_OK;
	rq->next_ms = now_ms + rq->poll_ms;
	st = run_requests(rq, &n_req, err);
	if (st == ORC_OK)
		st = run_held(rq, &n_held, err);
	*n = n_req + n_held;
	if (st == ORC_OK && (n_req == (size_t)rq->batch ||
			     n_held == (size_t)rq->batch))
		rq->next_ms = now_ms; /* a full batch: more may be waiting */
	return st;
}
