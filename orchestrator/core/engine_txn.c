/*
 * engine_txn.c - the vocabulary of one transition (engine_txn.h).
 *
 * What every handler of the engine is written in: effects and history
 * entries, status changes checked against the two transition tables
 * below, timers, commands rendered and sent, and the transitions
 * themselves: start a step, succeed it, fail an attempt (retry or fail
 * the step), begin failing the saga, advance the compensation, end the
 * saga.  After anything finishes, orc_txn_advance() decides what comes
 * next: start the steps that became ready and complete the saga, or
 * compensate the next step, or end it.  The inputs that use it are in
 * engine.c (events, replies, timers), engine_operator.c, engine_map.c,
 * engine_child.c and engine_migrate.c.
 *
 * Status changes go through orc_txn_step_status(), orc_txn_item_status()
 * and orc_txn_saga_status(), which refuse what the tables do not list
 * (ORC_INVALID: only a row edited by hand can get there, and a row must
 * never stop a process); nothing else writes a status.  Like the rest of
 * the engine it is pure: no I/O, no clock, no logging, no globals.
 */
#include "engine.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_txn.h"
#include "expr.h"
#include "jsonp.h"
#include "text.h"

#define NO_STEP ORC_TXN_NO_STEP

/* ---- history kinds, from engine.h's tables ---- */

/* The history kind of entering each saga status: "saga.running", ... */
#define SAGA_HISTORY(constant, name) [constant] = "saga." name,
static const char *const saga_status_history[] = {
	ORC_SAGA_STATUSES(SAGA_HISTORY)};

/* ---- the transition tables ---- */

/*
 * Saga statuses.  Failing always passes through compensating, even when
 * there is nothing to undo, so the final status is decided in one place
 * (finish_failing).  failed and stuck are the two an operator can act on.
 */
static const bool saga_transitions[ORC_SAGA_STATUS_COUNT]
				  [ORC_SAGA_STATUS_COUNT] = {
	[ORC_SAGA_RUNNING] = {
		[ORC_SAGA_COMPLETED] = true,    /* every step done */
		[ORC_SAGA_COMPENSATING] = true, /* failure, timeout, cancel */
		[ORC_SAGA_CANCELLED] = true,    /* operator terminate */
	},
	[ORC_SAGA_COMPLETED] = {
		[ORC_SAGA_RUNNING] = true,      /* operator retry --from */
		[ORC_SAGA_COMPENSATING] = true, /* its parent undoes it */
	},
	[ORC_SAGA_COMPENSATING] = {
		[ORC_SAGA_COMPENSATED] = true, /* failure, all undone */
		[ORC_SAGA_FAILED] = true,      /* failure, nothing to undo */
		[ORC_SAGA_CANCELLED] = true,   /* cancel, all undone */
		[ORC_SAGA_TIMED_OUT] = true,   /* timeout, all undone */
		[ORC_SAGA_STUCK] = true,       /* a compensation gave up */
	},
	[ORC_SAGA_FAILED] = {
		[ORC_SAGA_RUNNING] = true,   /* operator retry, skip */
		[ORC_SAGA_CANCELLED] = true, /* operator terminate */
	},
	[ORC_SAGA_STUCK] = {
		/* retry, resolve, or a late success */
		[ORC_SAGA_COMPENSATING] = true,
		[ORC_SAGA_CANCELLED] = true, /* operator gives up */
	},
};

/*
 * Step statuses.  A retry keeps a step running and a compensation retry
 * keeps it compensating: neither is a transition.
 */
static const bool step_transitions[ORC_STEP_STATUS_COUNT]
				  [ORC_STEP_STATUS_COUNT] = {
	[ORC_STEP_PENDING] = {
		[ORC_STEP_RUNNING] = true,   /* its needs are done */
		[ORC_STEP_SKIPPED] = true,   /* ... and "when" is false */
		[ORC_STEP_SUCCEEDED] = true, /* operator skip */
	},
	[ORC_STEP_RUNNING] = {
		[ORC_STEP_SUCCEEDED] = true, /* reply, event, delay, skip */
		[ORC_STEP_FAILED] = true,    /* failure, timeout, aborted */
		[ORC_STEP_PENDING] = true,   /* operator retry --from */
	},
	[ORC_STEP_SUCCEEDED] = {
		[ORC_STEP_COMPENSATING] = true,
		[ORC_STEP_PENDING] = true, /* operator retry --from */
	},
	[ORC_STEP_FAILED] = {
		[ORC_STEP_PENDING] = true,   /* operator retry */
		[ORC_STEP_SUCCEEDED] = true, /* operator skip */
		/* a failed map's succeeded items are undone */
		[ORC_STEP_COMPENSATING] = true,
	},
	[ORC_STEP_SKIPPED] = {
		[ORC_STEP_PENDING] = true, /* operator retry --from */
	},
	[ORC_STEP_COMPENSATING] = {
		[ORC_STEP_COMPENSATED] = true,
	},
};

static bool
saga_transition_is_valid(enum orc_saga_status from, enum orc_saga_status to)
{
	return (unsigned)from < ORC_SAGA_STATUS_COUNT &&
	       (unsigned)to < ORC_SAGA_STATUS_COUNT &&
	       saga_transitions[from][to];
}

static bool
step_transition_is_valid(enum orc_step_status from, enum orc_step_status to)
{
	return (unsigned)from < ORC_STEP_STATUS_COUNT &&
	       (unsigned)to < ORC_STEP_STATUS_COUNT &&
	       step_transitions[from][to];
}

/* ---- one transition ---- */

void
orc_txn_oom(struct orc_txn *t)
{
	if (t->status == ORC_OK || t->status == ORC_CONFLICT)
		t->status = orc_error_set(t->err, ORC_FATAL, "out of memory");
}

bool
orc_txn_ok(const struct orc_txn *t)
{
	return t->status == ORC_OK;
}

struct orc_effect *
orc_txn_push_effect(struct orc_txn *t, enum orc_effect_kind kind, size_t step)
{
	struct orc_effects *fx = t->fx;
	struct orc_effect *e;

	if (fx->n == fx->cap) {
		size_t cap = fx->cap ? fx->cap * 2 : 16;
		struct orc_effect *v = realloc(fx->v, cap * sizeof(*v));

		if (v == NULL) {
			orc_txn_oom(t);
			return NULL;
		}
		fx->v = v;
		fx->cap = cap;
	}
	e = &fx->v[fx->n++];
	e->kind = kind;
	e->step = step;
	e->step_name = step != NO_STEP ? t->def->steps[step].name : NULL;
	e->item = -1;
	e->command_kind = ORC_COMMAND_ACTION;
	e->attempt = 0;
	e->topic = NULL;
	e->type = NULL;
	e->message_id[0] = '\0';
	e->data = NULL;
	e->history = NULL;
	e->detail = NULL;
	e->saga_status = t->saga->status;
	e->child_action = ORC_CHILD_START;
	e->child_definition = NULL;
	e->child_version = 0;
	return e;
}

/*
 * Append a history entry and return its detail object (borrowed) for the
 * caller to fill with put_*(); NULL when out of memory, which the put_*
 * helpers accept.
 */
json_t *
orc_txn_history(struct orc_txn *t, const char *kind, size_t step)
{
	struct orc_effect *e = orc_txn_push_effect(t, ORC_EFFECT_HISTORY, step);

	if (e == NULL)
		return NULL;
	e->history = kind;
	e->detail = json_object();
	if (e->detail == NULL)
		orc_txn_oom(t);
	return e->detail;
}

/* Set detail[key] = v (taken). */
void
orc_txn_put(struct orc_txn *t, json_t *detail, const char *key, json_t *v)
{
	if (detail == NULL) {
		json_decref(v);
		return;
	}
	if (json_object_set_new_nocheck(detail, key, v) != 0)
		orc_txn_oom(t);
}

void
orc_txn_put_str(struct orc_txn *t, json_t *detail, const char *key,
		const char *s)
{
	if (detail != NULL && s != NULL)
		orc_txn_put(t, detail, key, json_string_nocheck(s));
}

void
orc_txn_put_int(struct orc_txn *t, json_t *detail, const char *key, int64_t v)
{
	if (detail != NULL)
		orc_txn_put(t, detail, key, json_integer(v));
}

/* The type and id of the event being applied, when it has them. */
void
orc_txn_put_event(struct orc_txn *t, json_t *detail)
{
	orc_txn_put_str(t, detail, "type", t->in->type);
	orc_txn_put_str(t, detail, "event_id", t->in->event_id);
}

/*
 * The lifecycle event type (a static string: "saga.started", or "saga."
 * and the status entered) as a SAGA_EVENT effect.  Its id counts the
 * saga's lifecycle events, so it is the same when the same state is
 * replayed and new for every event, also when a retried saga ends again.
 */
void
orc_txn_saga_event(struct orc_txn *t, const char *type)
{
	struct orc_saga *saga = t->saga;
	struct orc_effect *e = orc_txn_push_effect(t, ORC_EFFECT_SAGA_EVENT, NO_STEP);
	json_t *d;

	if (e == NULL)
		return;
	e->saga_status = saga->status;
	e->type = type;
	saga->lifecycle_seq++;
	/* fits: the id is checked against ORC_SAGA_ID_MAX */
	snprintf(e->message_id, sizeof(e->message_id), "%s/%s/%" PRId64,
		 saga->id, type, saga->lifecycle_seq);
	d = e->data = json_object();
	if (d == NULL) {
		orc_txn_oom(t);
		return;
	}
	orc_txn_put_str(t, d, "id", saga->id);
	orc_txn_put_str(t, d, "definition", t->def->name);
	orc_txn_put_int(t, d, "version", t->def->version);
	orc_txn_put_str(t, d, "business_key", saga->key);
	orc_txn_put_str(t, d, "status", orc_saga_status_name(saga->status));
	orc_txn_put(t, d, "failure",
		    saga->failure_reason != NULL
			? json_string_nocheck(saga->failure_reason)
			: json_null());
	orc_txn_put(t, d, "output",
		    saga->output != NULL ? json_incref(saga->output)
					 : json_null());
}

/* Replace *field with a copy of s (NULL clears). */
void
orc_txn_set_text(struct orc_txn *t, char **field, const char *s)
{
	char *d = NULL;

	if (s != NULL && (d = strdup(s)) == NULL) {
		orc_txn_oom(t);
		return;
	}
	free(*field);
	*field = d;
}

void
orc_txn_set_textf(struct orc_txn *t, char **field, const char *fmt, ...)
{
	va_list ap;
	char *d;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (d = malloc((size_t)n + 1)) == NULL) {
		orc_txn_oom(t);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(d, (size_t)n + 1, fmt, ap);
	va_end(ap);
	free(*field);
	*field = d;
}

bool
orc_txn_saga_status(struct orc_txn *t, enum orc_saga_status to)
{
	struct orc_saga *saga = t->saga;

	if (!orc_txn_ok(t))
		return false;
	if (!saga_transition_is_valid(saga->status, to)) {
		t->status = orc_error_set(t->err, ORC_INVALID,
					  "invalid saga transition");
		orc_error_detail(t->err, "saga %s: %s -> %s", saga->id,
				 orc_saga_status_name(saga->status),
				 orc_saga_status_name(to));
		return false;
	}
	saga->status = to;
	return true;
}

bool
orc_txn_step_status(struct orc_txn *t, size_t i, enum orc_step_status to)
{
	struct orc_saga_step *st = &t->saga->steps[i];

	if (!orc_txn_ok(t))
		return false;
	if (!step_transition_is_valid(st->status, to)) {
		t->status = orc_error_set(t->err, ORC_INVALID,
					  "invalid step transition");
		orc_error_detail(t->err, "saga %s: step %s: %s -> %s",
				 t->saga->id, t->def->steps[i].name,
				 orc_step_status_name(st->status),
				 orc_step_status_name(to));
		return false;
	}
	st->status = to;
	st->changed = true;
	return true;
}

/* The same, for a map item: the same table, the step named with it. */
bool
orc_txn_item_status(struct orc_txn *t, size_t i, struct orc_map_item *it,
		    enum orc_step_status to)
{
	if (!orc_txn_ok(t))
		return false;
	if (!step_transition_is_valid(it->st.status, to)) {
		t->status = orc_error_set(t->err, ORC_INVALID,
					  "invalid step transition");
		orc_error_detail(t->err,
				 "saga %s: step %s[%" PRId64 "]: %s -> %s",
				 t->saga->id, t->def->steps[i].name, it->index,
				 orc_step_status_name(it->st.status),
				 orc_step_status_name(to));
		return false;
	}
	it->st.status = to;
	it->st.changed = true;
	return true;
}

static void
set_timer(struct orc_saga_step *st, int64_t at_ms, enum orc_wake_reason why)
{
	st->wake_ms = at_ms;
	st->wake_reason = why;
	st->changed = true;
}

void
orc_txn_clear_timer(struct orc_saga_step *st)
{
	set_timer(st, 0, ORC_WAKE_NONE);
}

/* A timer after_ms from now, or none when after_ms is 0. */
void
orc_txn_timer_after(struct orc_txn *t, struct orc_saga_step *st,
		    int64_t after_ms, enum orc_wake_reason why)
{
	if (after_ms > 0)
		set_timer(st, t->now + after_ms, why);
	else
		orc_txn_clear_timer(st);
}

/* The backoff before round attempt next (2 = first retry); at least 1ms. */
static int64_t
backoff(const struct orc_retry *retry, int next)
{
	int64_t ms = orc_retry_backoff_ms(retry, next);

	return ms > 0 ? ms : 1;
}

/*
 * Schedule st's next attempt after round attempts of retry: the timer,
 * and a history entry of kind for step i saying when.
 */
json_t *
orc_txn_retry_timer(struct orc_txn *t, size_t i, struct orc_saga_step *st,
		    const struct orc_retry *retry, int round,
		    enum orc_wake_reason why, const char *kind,
		    const char *error, int next_attempt)
{
	json_t *d;

	set_timer(st, t->now + backoff(retry, round + 1), why);
	d = orc_txn_history(t, kind, i);
	orc_txn_put_str(t, d, "error", error);
	orc_txn_put_int(t, d, "attempt", next_attempt);
	orc_txn_put_int(t, d, "at_ms", st->wake_ms);
	return d;
}

/* The data of the input as a new reference (null when it has none). */
json_t *
orc_txn_input_data(const struct orc_txn *t)
{
	return t->in->data != NULL ? json_incref(t->in->data) : json_null();
}

/* ---- commands ---- */

#define REFUSAL_MAX ORC_TXN_REFUSAL_MAX

static const struct orc_command_def *
command_def(const struct orc_txn *t, size_t i, enum orc_command_kind kind)
{
	const struct orc_step_def *sd = &t->def->steps[i];

	return kind == ORC_COMMAND_ACTION ? &sd->command
					  : &sd->compensation.command;
}

/*
 * The context a map item's templates see: the saga's, sharing every
 * value, with "item" and "index" (a new reference; NULL when out of
 * memory).  An item the array no longer holds (an operator patched the
 * input) is null.
 */
static json_t *
item_context(const struct orc_txn *t, size_t i, const struct orc_map_item *it)
{
	const json_t *items =
	    orc_jsonp_get(t->saga->context, t->def->steps[i].map.items);
	json_t *ctx = json_copy(t->saga->context), *v;

	if (ctx == NULL)
		return NULL;
	v = json_array_get(items, (size_t)it->index);
	if (json_object_set_new_nocheck(ctx, "item",
					v ? json_incref(v) : json_null()) != 0 ||
	    json_object_set_new_nocheck(ctx, "index",
					json_integer(it->index)) != 0) {
		json_decref(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * The data of step i's command of kind, rendered from the context (and a
 * map item's /item and /index): a new reference.  NULL when out of memory
 * (latched in t) or when it is over the size limit: then why says so.
 * The size is that of the text the outbox will hold (the store writes it
 * compact, any JSON value).
 */
json_t *
orc_txn_render_command(struct orc_txn *t, size_t i, enum orc_command_kind kind,
		       const struct orc_map_item *it, char why[REFUSAL_MAX])
{
	json_t *ctx = it != NULL ? item_context(t, i, it) : t->saga->context;
	json_t *data = ctx != NULL ? orc_template_render(
					 command_def(t, i, kind)->data, ctx)
				   : NULL;
	size_t size;

	if (it != NULL)
		json_decref(ctx);

	if (data == NULL) {
		orc_txn_oom(t);
		return NULL;
	}
	if (t->max_command == 0)
		return data;
	size = json_dumpb(data, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
	if (size == 0) {
		json_decref(data);
		orc_txn_oom(t);
		return NULL;
	}
	if (size <= t->max_command &&
	    t->max_command - size >= ORC_ENGINE_COMMAND_HEADROOM)
		return data;
	snprintf(why, REFUSAL_MAX,
		 "command data is %zu bytes, over the limit of %zu (setting "
		 "max_command_bytes, %d of them kept for headers)",
		 size, t->max_command, ORC_ENGINE_COMMAND_HEADROOM);
	json_decref(data);
	return NULL;
}

/* Queue attempt of step i's (or its item's) command with data (taken). */
void
orc_txn_emit_command(struct orc_txn *t, size_t i, enum orc_command_kind kind,
		     int64_t item, int run, int attempt, json_t *data)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	const struct orc_command_def *cmd = command_def(t, i, kind);
	struct orc_effect *e = orc_txn_push_effect(t, ORC_EFFECT_COMMAND, i);

	if (e == NULL) {
		json_decref(data);
		return;
	}
	e->command_kind = kind;
	e->attempt = attempt;
	e->topic = cmd->topic;
	e->type = cmd->type;
	e->item = item;
	/* fits: the id is checked against ORC_SAGA_ID_MAX, names are short */
	if (item < 0)
		snprintf(e->message_id, sizeof(e->message_id), "%s/%s/%s/%d",
			 t->saga->id, sd->name, orc_command_kind_name(kind),
			 attempt);
	else if (run <= 1)
		snprintf(e->message_id, sizeof(e->message_id),
			 "%s/%s[%" PRId64 "]/%s/%d", t->saga->id, sd->name,
			 item, orc_command_kind_name(kind), attempt);
	else
		snprintf(e->message_id, sizeof(e->message_id),
			 "%s/%s[%" PRId64 "]#%d/%s/%d", t->saga->id, sd->name,
			 item, run, orc_command_kind_name(kind), attempt);
	e->data = data;
}


/*
 * Send the next attempt of step i's command; it is running.  A command
 * too large to send fails the step at once: the same context would render
 * it the same on every retry.
 */
void
orc_txn_send_action(struct orc_txn *t, size_t i)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	struct orc_saga_step *st = &t->saga->steps[i];
	char why[REFUSAL_MAX];
	json_t *data, *d;

	st->attempt++;
	data = orc_txn_render_command(t, i, ORC_COMMAND_ACTION, NULL, why);
	if (data == NULL) {
		if (orc_txn_ok(t))
			orc_txn_attempt_failed(t, i, why, false);
		return;
	}
	d = orc_txn_history(t, "step.started", i);
	orc_txn_put_int(t, d, "attempt", st->attempt);
	orc_txn_emit_command(t, i, ORC_COMMAND_ACTION, -1, 0, st->attempt,
			     data);
	orc_txn_timer_after(t, st, sd->timeout_ms, ORC_WAKE_TIMEOUT);
}

/*
 * Send the next attempt of step i's compensation; it is compensating.  One
 * too large to send fails at once: the saga is stuck.
 */
void
orc_txn_send_compensation(struct orc_txn *t, size_t i)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	struct orc_saga_step *st = &t->saga->steps[i];
	char why[REFUSAL_MAX];
	json_t *data, *d;

	st->comp_attempt++;
	st->changed = true;
	data = orc_txn_render_command(t, i, ORC_COMMAND_COMPENSATION, NULL,
				      why);
	if (data == NULL) {
		if (orc_txn_ok(t))
			orc_txn_compensation_failed(t, i, why, false);
		return;
	}
	d = orc_txn_history(t, "compensation.started", i);
	orc_txn_put_int(t, d, "attempt", st->comp_attempt);
	orc_txn_emit_command(t, i, ORC_COMMAND_COMPENSATION, -1, 0,
			     st->comp_attempt, data);
	orc_txn_timer_after(t, st, sd->compensation.timeout_ms,
			    ORC_WAKE_COMP_TIMEOUT);
}

/* ---- the vocabulary of transitions ---- */

/* Enter a final (or stuck) status: history and the saga event. */
void
orc_txn_end_saga(struct orc_txn *t, enum orc_saga_status to)
{
	json_t *d;

	if (!orc_txn_saga_status(t, to))
		return;
	d = orc_txn_history(t, saga_status_history[to], NO_STEP);
	orc_txn_put_str(t, d, "cause",
			t->saga->cause != ORC_CAUSE_NONE
			    ? orc_saga_cause_name(t->saga->cause)
			    : NULL);
	orc_txn_put_str(t, d, "reason", t->saga->failure_reason);
	orc_txn_saga_event(t, saga_status_history[to]);
}

/*
 * Step i succeeded, with data (taken; NULL = nothing in the context).
 * Returns the history detail for the caller to add to.
 */
json_t *
orc_txn_succeed_step(struct orc_txn *t, size_t i, json_t *data)
{
	struct orc_saga_step *st = &t->saga->steps[i];
	json_t *d;

	if (!orc_txn_step_status(t, i, ORC_STEP_SUCCEEDED)) {
		json_decref(data);
		return NULL;
	}
	orc_txn_clear_timer(st);
	st->finished_ms = t->now;
	st->completed_seq = ++t->saga->seq;
	if (data != NULL &&
	    json_object_set_new_nocheck(
		    json_object_get(t->saga->context, "steps"),
		    t->def->steps[i].name, data) != 0)
		orc_txn_oom(t);
	d = orc_txn_history(t, "step.succeeded", i);
	orc_txn_put_int(t, d, "seq", st->completed_seq);
	return d;
}

/*
 * Start step i (pending, its needs done).  Returns true when it finished
 * at once (skipped, or a wait with an early event), which can make more
 * steps ready.
 */
static bool
start_step(struct orc_txn *t, size_t i)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	struct orc_saga_step *st = &t->saga->steps[i];
	json_t *data;

	if (!orc_condition_eval(sd->when, t->saga->context)) {
		if (!orc_txn_step_status(t, i, ORC_STEP_SKIPPED))
			return false;
		st->finished_ms = t->now;
		json_decref(st->early_event);
		st->early_event = NULL;
		orc_txn_history(t, "step.skipped", i);
		return true;
	}
	if (!orc_txn_step_status(t, i, ORC_STEP_RUNNING))
		return false;
	st->started_ms = t->now;
	st->finished_ms = 0;
	switch (sd->kind) {
	case ORC_STEP_COMMAND:
		if (sd->has_map) {
			/* an empty map succeeds at once */
			orc_txn_map_start(t, i);
			return st->status == ORC_STEP_SUCCEEDED;
		}
		orc_txn_send_action(t, i);
		return false;
	case ORC_STEP_WAIT:
		orc_txn_history(t, "step.started", i);
		orc_txn_timer_after(t, st, sd->wait.timeout_ms,
				    ORC_WAKE_WAIT_TIMEOUT);
		if (st->early_event == NULL)
			return false;
		data = st->early_event;
		st->early_event = NULL;
		orc_txn_put_str(t, orc_txn_succeed_step(t, i, data), "source",
				"early_event");
		return true;
	case ORC_STEP_DELAY:
		orc_txn_history(t, "step.started", i);
		orc_txn_timer_after(t, st, sd->delay_ms, ORC_WAKE_DELAY);
		return false;
	case ORC_STEP_SAGA:
		orc_txn_child_start(t, i);
		return false;
	}
	return false;
}

static bool
needs_done(const struct orc_txn *t, size_t i)
{
	const struct orc_step_def *sd = &t->def->steps[i];

	for (size_t k = 0; k < sd->n_needs; k++) {
		enum orc_step_status s = t->saga->steps[sd->needs[k]].status;

		if (s != ORC_STEP_SUCCEEDED && s != ORC_STEP_SKIPPED)
			return false;
	}
	return true;
}

/*
 * Start every pending step whose needs are done.  One pass in index order
 * is enough for steps listed after their needs; another pass runs only
 * when a step finished at once (a skip can cascade).  A step that fails as
 * it starts (its command too large) makes the saga compensate: then no
 * more steps start.
 */
static void
start_ready(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	bool again;

	do {
		again = false;
		for (size_t i = 0; i < saga->n_steps && orc_txn_ok(t) &&
				   saga->status == ORC_SAGA_RUNNING;
		     i++)
			if (saga->steps[i].status == ORC_STEP_PENDING &&
			    needs_done(t, i) && start_step(t, i))
				again = true;
	} while (again && orc_txn_ok(t));
}

/*
 * The definition's "output", rendered over the completed saga's context
 * into saga->output.  Rendering cannot fail (a missing value is null);
 * an output too large to travel in a lifecycle event is dropped, with a
 * history entry that says so, and the saga completes all the same.
 */
static void
render_output(struct orc_txn *t)
{
	size_t limit = 2 * (size_t)ORC_ENGINE_COMMAND_HEADROOM, size;
	char why[REFUSAL_MAX];
	json_t *out;

	if (t->def->output == NULL)
		return;
	out = orc_template_render(t->def->output, t->saga->context);
	if (out == NULL) {
		orc_txn_oom(t);
		return;
	}
	if (t->max_command > 0) {
		size = json_dumpb(out, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
		if (size == 0) {
			json_decref(out);
			orc_txn_oom(t);
			return;
		}
		if (size > t->max_command || t->max_command - size < limit) {
			snprintf(why, sizeof(why),
				 "output is %zu bytes, over the limit of %zu "
				 "(setting max_command_bytes, %zu of them kept "
				 "for headers and the event)",
				 size, t->max_command, limit);
			orc_txn_put_str(
			    t,
			    orc_txn_history(t, "saga.output_failed", NO_STEP),
			    "error", why);
			json_decref(out);
			return;
		}
	}
	json_decref(t->saga->output);
	t->saga->output = out;
}

static void
check_completed(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;

	for (size_t i = 0; i < saga->n_steps; i++)
		if (saga->steps[i].status != ORC_STEP_SUCCEEDED &&
		    saga->steps[i].status != ORC_STEP_SKIPPED)
			return;
	render_output(t);
	orc_txn_end_saga(t, ORC_SAGA_COMPLETED);
}

/* Nothing left to undo: the final status follows from the cause. */
static void
finish_failing(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	bool undone = false;

	switch (saga->cause) {
	case ORC_CAUSE_UNDO:
		/* undone as its parent asked, whatever it had to undo */
		orc_txn_end_saga(t, ORC_SAGA_COMPENSATED);
		return;
	case ORC_CAUSE_CANCEL:
		orc_txn_end_saga(t, ORC_SAGA_CANCELLED);
		return;
	case ORC_CAUSE_TIMEOUT:
		orc_txn_end_saga(t, ORC_SAGA_TIMED_OUT);
		return;
	case ORC_CAUSE_FAILURE:
	case ORC_CAUSE_NONE:
		break;
	}
	for (size_t i = 0; i < saga->n_steps; i++)
		if (saga->steps[i].status == ORC_STEP_COMPENSATED)
			undone = true;
	orc_txn_end_saga(t, undone ? ORC_SAGA_COMPENSATED : ORC_SAGA_FAILED);
}

/*
 * While compensating: wait for running steps and the compensation in
 * flight; then compensate the succeeded step that completed last, or end.
 */
static void
advance_compensation(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	size_t next = NO_STEP;

	int64_t next_seq = 0, seq;

	if (saga->paused_ms != 0)
		return;
	for (size_t i = 0; i < saga->n_steps; i++) {
		const struct orc_saga_step *st = &saga->steps[i];

		if (st->status == ORC_STEP_COMPENSATING && st->map != NULL) {
			orc_txn_map_compensate(t, i);
			return;
		}
		/* a map whose last item in flight came back gives up */
		if (st->status == ORC_STEP_RUNNING && st->map != NULL &&
		    orc_txn_map_in_flight(st) == 0)
			orc_txn_abort_step(t, i);
		/* a failed map may still await its items in flight */
		if (st->status == ORC_STEP_RUNNING ||
		    st->status == ORC_STEP_COMPENSATING ||
		    orc_txn_map_in_flight(st) > 0)
			return;
		if (t->def->steps[i].kind == ORC_STEP_SAGA) {
			/*
			 * a child undoes itself: no compensation member; a
			 * step skipped before it started has no child
			 */
			if (st->status != ORC_STEP_SUCCEEDED ||
			    st->attempt == 0)
				continue;
			seq = st->completed_seq;
		} else if (!t->def->steps[i].has_compensation) {
			continue;
		} else if (st->map != NULL) {
			/* one unit, placed by its latest item */
			if (!orc_txn_map_undo_left(t, i))
				continue;
			seq = st->status == ORC_STEP_SUCCEEDED
				  ? st->completed_seq
				  : st->map->last_seq;
		} else if (st->status == ORC_STEP_SUCCEEDED) {
			seq = st->completed_seq;
		} else {
			continue;
		}
		if (next == NO_STEP || seq > next_seq) {
			next = i;
			next_seq = seq;
		}
	}
	if (next == NO_STEP) {
		finish_failing(t);
		return;
	}
	if (!orc_txn_step_status(t, next, ORC_STEP_COMPENSATING))
		return;
	if (saga->steps[next].map != NULL)
		orc_txn_map_compensate(t, next);
	else if (t->def->steps[next].kind == ORC_STEP_SAGA)
		orc_txn_child_signal(t, next, ORC_CHILD_UNDO);
	else
		orc_txn_send_compensation(t, next);
}

/* What comes next after something finished. */
void
orc_txn_advance(struct orc_txn *t)
{
	/* paused: what became ready waits for RESUME */
	if (!orc_txn_ok(t) || t->saga->paused_ms != 0)
		return;
	if (t->saga->status == ORC_SAGA_RUNNING) {
		/* maps first: one may fail, or complete and free others */
		for (size_t i = 0; i < t->saga->n_steps && orc_txn_ok(t) &&
				   t->saga->status == ORC_SAGA_RUNNING;
		     i++)
			if (t->saga->steps[i].map != NULL &&
			    t->saga->steps[i].status == ORC_STEP_RUNNING)
				orc_txn_map_progress(t, i);
		if (!orc_txn_ok(t) || t->saga->status != ORC_SAGA_RUNNING)
			return;
		start_ready(t);
		if (orc_txn_ok(t) && t->saga->status == ORC_SAGA_RUNNING)
			check_completed(t);
	} else if (t->saga->status == ORC_SAGA_COMPENSATING) {
		advance_compensation(t);
	}
}

/* A running step without a command in flight gives up at once. */
void
orc_txn_abort_step(struct orc_txn *t, size_t i)
{
	struct orc_saga_step *st = &t->saga->steps[i];

	if (!orc_txn_step_status(t, i, ORC_STEP_FAILED))
		return;
	orc_txn_clear_timer(st);
	st->finished_ms = t->now;
	orc_txn_set_text(t, &st->last_error, "aborted");
	orc_txn_history(t, "step.aborted", i);
}

/*
 * The saga starts failing (t->saga->failure_reason is set): no step starts
 * any more, commands in flight are awaited, everything else running stops.
 */
void
orc_txn_begin_failing(struct orc_txn *t, enum orc_saga_cause cause)
{
	struct orc_saga *saga = t->saga;
	json_t *d;

	if (!orc_txn_saga_status(t, ORC_SAGA_COMPENSATING))
		return;
	saga->cause = cause;
	d = orc_txn_history(t, "saga.compensating", NO_STEP);
	orc_txn_put_str(t, d, "cause", orc_saga_cause_name(cause));
	orc_txn_put_str(t, d, "reason", saga->failure_reason);
	for (size_t i = 0; i < saga->n_steps && orc_txn_ok(t); i++) {
		const struct orc_saga_step *st = &saga->steps[i];

		if (st->status != ORC_STEP_RUNNING)
			continue;
		if (st->map != NULL) {
			orc_txn_map_stop(t, i);
			continue;
		}
		if (t->def->steps[i].kind == ORC_STEP_SAGA) {
			/* the child compensates itself; its end is awaited */
			orc_txn_child_signal(t, i, ORC_CHILD_CANCEL);
			continue;
		}
		if (t->def->steps[i].kind == ORC_STEP_COMMAND &&
		    st->wake_reason != ORC_WAKE_RETRY)
			continue; /* a command in flight: await its reply */
		orc_txn_abort_step(t, i);
	}
	advance_compensation(t);
}

/*
 * An attempt of step i failed with error (a failure type, "timed out").
 * Retry after a backoff while the saga runs, the failure is retryable and
 * attempts remain; otherwise the step fails, and with it the saga.
 * Returns the history detail.
 */
json_t *
orc_txn_attempt_failed(struct orc_txn *t, size_t i, const char *error,
		       bool retryable)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	struct orc_saga_step *st = &t->saga->steps[i];
	int round = st->attempt - st->attempt_base;
	json_t *d;

	orc_txn_set_text(t, &st->last_error, error);
	if (t->saga->status == ORC_SAGA_RUNNING && retryable &&
	    round < sd->retry.max_attempts)
		return orc_txn_retry_timer(t, i, st, &sd->retry, round,
					   ORC_WAKE_RETRY,
					   "step.retry_scheduled", error,
					   st->attempt + 1);
	if (!orc_txn_step_status(t, i, ORC_STEP_FAILED))
		return NULL;
	orc_txn_clear_timer(st);
	st->finished_ms = t->now;
	d = orc_txn_history(t, "step.failed", i);
	orc_txn_put_str(t, d, "error", error);
	orc_txn_put_int(t, d, "attempt", st->attempt);
	if (t->saga->status == ORC_SAGA_RUNNING) {
		orc_txn_set_textf(t, &t->saga->failure_reason, "%s: %s",
				  sd->name, error);
		orc_txn_begin_failing(t, ORC_CAUSE_FAILURE);
	} else {
		orc_txn_advance(t);
	}
	return d;
}

/*
 * An attempt of step i's compensation failed: retry with backoff while
 * retryable, or, with the attempts spent, the saga is stuck.  Returns the
 * history detail.
 */
json_t *
orc_txn_compensation_failed(struct orc_txn *t, size_t i, const char *error,
			    bool retryable)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	const struct orc_retry *retry = &sd->compensation.retry;
	struct orc_saga_step *st = &t->saga->steps[i];
	int round = st->comp_attempt - st->comp_attempt_base;
	json_t *d;

	orc_txn_set_text(t, &st->last_error, error);
	if (retryable && round < retry->max_attempts)
		return orc_txn_retry_timer(t, i, st, retry, round,
					   ORC_WAKE_COMP_RETRY,
					   "compensation.retry_scheduled",
					   error, st->comp_attempt + 1);
	orc_txn_clear_timer(st);
	d = orc_txn_history(t, "compensation.failed", i);
	orc_txn_put_str(t, d, "error", error);
	orc_txn_put_int(t, d, "attempt", st->comp_attempt);
	orc_txn_set_textf(t, &t->saga->failure_reason,
			  "compensation of %s failed: %s (%d attempts)",
			  sd->name, error, round);
	orc_txn_end_saga(t, ORC_SAGA_STUCK);
	return d;
}

/* A stuck saga compensates again, resumed_by what; false if refused. */
bool
orc_txn_unstick(struct orc_txn *t, const char *resumed_by)
{
	json_t *d;

	if (!orc_txn_saga_status(t, ORC_SAGA_COMPENSATING))
		return false;
	d = orc_txn_history(t, "saga.compensating", NO_STEP);
	orc_txn_put_str(t, d, "cause", orc_saga_cause_name(t->saga->cause));
	orc_txn_put_str(t, d, "resumed_by", resumed_by);
	return true;
}

void
orc_txn_compensation_succeeded(struct orc_txn *t, size_t i)
{
	struct orc_saga_step *st = &t->saga->steps[i];
	json_t *d;

	/* a late success unsticks it: carry on compensating */
	if (t->saga->status == ORC_SAGA_STUCK &&
	    !orc_txn_unstick(t, "late compensation reply"))
		return;
	if (!orc_txn_step_status(t, i, ORC_STEP_COMPENSATED))
		return;
	orc_txn_clear_timer(st);
	st->finished_ms = t->now;
	d = orc_txn_history(t, "compensation.succeeded", i);
	orc_txn_put_event(t, d);
	orc_txn_put_int(t, d, "attempt", st->comp_attempt);
	orc_txn_advance(t);
}

