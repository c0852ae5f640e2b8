/*
 * engine_txn.h - one transition of the engine, shared by its files.
 *
 * Internal to the engine (engine_txn.c: the vocabulary of transitions;
 * engine.c: events, replies, timers; engine_operator.c: operator
 * actions; engine_map.c, engine_child.c, engine_migrate.c); not part of
 * its contract, which is engine.h.  A struct orc_txn lives on the
 * stack of orc_engine_apply_with() for one call.  Every function here
 * latches its first error in t->status (out of memory, a transition the
 * tables refuse) and does nothing once one is latched; a caller checks
 * orc_txn_ok() where it must stop early.
 *
 * Statuses change only through orc_txn_saga_status(),
 * orc_txn_step_status() and orc_txn_item_status(), which check the
 * transition tables of engine_txn.c.
 */
#ifndef ORC_ENGINE_TXN_H
#define ORC_ENGINE_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine.h"

#define ORC_TXN_NO_STEP SIZE_MAX

struct orc_txn {
	struct orc_saga *saga;
	const struct orc_definition *def;
	const struct orc_engine_input *in;
	struct orc_effects *fx;
	size_t max_command; /* bytes; 0 = no limit */
	int64_t now;
	struct orc_error *err;
	enum orc_status status; /* the first error latches here */
};

/* ---- errors ---- */

void orc_txn_oom(struct orc_txn *t);
bool orc_txn_ok(const struct orc_txn *t);

/*
 * Append an effect of kind for step (or ORC_TXN_NO_STEP), its fields
 * reset; NULL when out of memory (latched).  Pointers into the effect
 * list move with the next one.
 */
struct orc_effect *orc_txn_push_effect(struct orc_txn *t,
				       enum orc_effect_kind kind, size_t step);

/* ---- history: entries, and their detail objects ---- */

/*
 * Append a history entry of kind (a static string) for step (an index, or
 * ORC_TXN_NO_STEP) and return its detail object (borrowed) for the put
 * functions; NULL when out of memory, which they accept.
 */
json_t *orc_txn_history(struct orc_txn *t, const char *kind, size_t step);
void orc_txn_put(struct orc_txn *t, json_t *detail, const char *key,
		 json_t *v); /* v taken */
void orc_txn_put_str(struct orc_txn *t, json_t *detail, const char *key,
		     const char *s); /* NULL puts nothing */
void orc_txn_put_int(struct orc_txn *t, json_t *detail, const char *key,
		     int64_t v);
/* The input's event id and type, when it has them. */
void orc_txn_put_event(struct orc_txn *t, json_t *detail);

/* Replace the owned string *field with a copy of s (NULL = none). */
void orc_txn_set_text(struct orc_txn *t, char **field, const char *s);
void orc_txn_set_textf(struct orc_txn *t, char **field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- statuses and timers ---- */

/* Move the saga or step i to status to; false (latched) if refused. */
bool orc_txn_saga_status(struct orc_txn *t, enum orc_saga_status to);
bool orc_txn_step_status(struct orc_txn *t, size_t i, enum orc_step_status to);
void orc_txn_clear_timer(struct orc_saga_step *st);
/* Set st's timer after_ms from now (0 = none) for why. */
void orc_txn_timer_after(struct orc_txn *t, struct orc_saga_step *st,
			 int64_t after_ms, enum orc_wake_reason why);

/* Move map item it of step i to status to; false (latched) if refused. */
bool orc_txn_item_status(struct orc_txn *t, size_t i, struct orc_map_item *it,
			 enum orc_step_status to);
/*
 * The retry timer of st for the next attempt after round attempts of
 * retry (history entry kind for step i with the error, the next attempt
 * and the time); returns its detail.
 */
json_t *orc_txn_retry_timer(struct orc_txn *t, size_t i,
			    struct orc_saga_step *st,
			    const struct orc_retry *retry, int round,
			    enum orc_wake_reason why, const char *kind,
			    const char *error, int next_attempt);

/* ---- the vocabulary of transitions ---- */

/* Why a command is not sent: "command data is N bytes, over ...". */
#define ORC_TXN_REFUSAL_MAX 160

/* The input's data, a new reference (null when it has none). */
json_t *orc_txn_input_data(const struct orc_txn *t);
/*
 * The data of step i's command of kind, rendered from the context and,
 * for a map item (it, NULL for none), /item and /index: a new reference.
 * NULL when out of memory (latched) or over the size limit (why says so).
 */
json_t *orc_txn_render_command(struct orc_txn *t, size_t i,
			       enum orc_command_kind kind,
			       const struct orc_map_item *it,
			       char why[ORC_TXN_REFUSAL_MAX]);
/*
 * Queue attempt of step i's command of kind with data (taken); for map
 * item item (-1 for none) of run run, its id is "<saga>/<step>[<item>]/
 * <kind>/<attempt>", with "#<run>" after the "]" from the second run on.
 */
void orc_txn_emit_command(struct orc_txn *t, size_t i,
			  enum orc_command_kind kind, int64_t item, int run,
			  int attempt, json_t *data);
/* Has st taken a reply with dedup id id?  Remember one (a new array). */
bool orc_txn_reply_seen(const struct orc_saga_step *st, const char *id);
void orc_txn_remember_reply(struct orc_txn *t, struct orc_saga_step *st,
			    const char *id);
/* Why a reply to st (not awaiting it) is ignored: late, duplicate, ... */
enum orc_ignore_reason orc_txn_classify_reply(const struct orc_step_def *sd,
					      const struct orc_saga_step *st,
					      const char *type);
/*
 * A lifecycle event of type (a static string: "saga.started", "saga."
 * and the status entered) as a SAGA_EVENT effect, numbered by the saga.
 */
void orc_txn_saga_event(struct orc_txn *t, const char *type);
/*
 * An attempt of step i's compensation failed with error: retry with a
 * backoff while retryable, else the saga is stuck.  Its history detail.
 */
json_t *orc_txn_compensation_failed(struct orc_txn *t, size_t i,
				    const char *error, bool retryable);
/* An attempt of step i failed with error: retry, or the step fails. */
json_t *orc_txn_attempt_failed(struct orc_txn *t, size_t i, const char *error,
			       bool retryable);
/* Send the next attempt of step i's command / compensation. */
void orc_txn_send_action(struct orc_txn *t, size_t i);
void orc_txn_send_compensation(struct orc_txn *t, size_t i);
/* Step i succeeded with data (taken); returns its history detail. */
json_t *orc_txn_succeed_step(struct orc_txn *t, size_t i, json_t *data);
/* A running step without a command in flight gives up at once. */
void orc_txn_abort_step(struct orc_txn *t, size_t i);
/* The saga starts failing (its failure_reason set) for cause. */
void orc_txn_begin_failing(struct orc_txn *t, enum orc_saga_cause cause);
/* Enter a final (or stuck) status: history and the lifecycle event. */
void orc_txn_end_saga(struct orc_txn *t, enum orc_saga_status to);
/* What comes next after something finished (or an operator acted). */
void orc_txn_advance(struct orc_txn *t);

/* ---- inputs that change nothing ---- */

/* One history entry says why; step is the one the input named, if any. */
void orc_txn_ignore(struct orc_txn *t, enum orc_ignore_reason reason,
		    size_t step);
/* An operator action the saga's status does not allow: ORC_CONFLICT. */
void orc_txn_conflict(struct orc_txn *t, const char *what);

/* A stuck saga compensates again, resumed_by what (a history entry). */
bool orc_txn_unstick(struct orc_txn *t, const char *resumed_by);
/* Step i's compensation is done: it is compensated, what is next. */
void orc_txn_compensation_succeeded(struct orc_txn *t, size_t i);

/* ---- child sagas (engine_child.c) ---- */

/* Saga step i just went running: start its child (a CHILD effect). */
void orc_txn_child_start(struct orc_txn *t, size_t i);
/* Ask step i's current child for action (cancel, undo, terminate). */
void orc_txn_child_signal(struct orc_txn *t, size_t i,
			  enum orc_child_action action);
/* Apply t->in, a CHILD input: the child of a step ended. */
void orc_txn_child_ended(struct orc_txn *t);
/* Apply t->in, an UNDO input: the parent compensates this saga. */
void orc_txn_child_undo(struct orc_txn *t);

/* ---- map steps (engine_map.c) ---- */

/* Map step i just went running: read its items, start the first ones. */
void orc_txn_map_start(struct orc_txn *t, size_t i);
/* A reply to item index of map step i. */
void orc_txn_map_reply(struct orc_txn *t, size_t i, int64_t index);
/* Fire the timer of item items[pos] of map step i, due for why. */
void orc_txn_map_fire(struct orc_txn *t, size_t i, size_t pos,
		      enum orc_wake_reason why);
/* The step's own ORC_WAKE_MAP_LOAD timer: the store loaded every item. */
void orc_txn_map_loaded(struct orc_txn *t, size_t i);
/*
 * The saga runs: fail map step i if too many items failed, else start
 * items up to its concurrency and complete it when all have finished.
 */
void orc_txn_map_progress(struct orc_txn *t, size_t i);
/*
 * The saga began failing: items waiting to retry give up; the step
 * fails ("aborted") once no item is in flight.
 */
void orc_txn_map_stop(struct orc_txn *t, size_t i);
/* Items of st with a command in flight (running or compensating). */
size_t orc_txn_map_in_flight(const struct orc_saga_step *st);
/* True when map step i has succeeded items left to compensate. */
bool orc_txn_map_undo_left(const struct orc_txn *t, size_t i);
/* Map step i compensates: its items, latest first, concurrency at a time. */
void orc_txn_map_compensate(struct orc_txn *t, size_t i);
/* An operator takes the step over: running items fail with why. */
void orc_txn_map_abandon(struct orc_txn *t, size_t i, const char *why);
/* Stuck map step i: RETRY resends, RESOLVE settles its stuck items. */
void orc_txn_map_retry_stuck(struct orc_txn *t, size_t i);
void orc_txn_map_resolve(struct orc_txn *t, size_t i);
/* Every item timer moves on by ms (RESUME). */
void orc_txn_map_shift_timers(struct orc_saga_step *st, int64_t ms);

/* ---- operator actions (engine_operator.c) ---- */

/*
 * The audit entry of the operator action being applied, "operator.<kind>"
 * with by and reason (step: the one it names, or ORC_TXN_NO_STEP);
 * returns its detail for the caller to add arguments to.
 */
json_t *orc_txn_audit(struct orc_txn *t, size_t step);
/* The action does not fit: one ignored entry, ORC_CONFLICT with why. */
void orc_txn_refuse(struct orc_txn *t, size_t step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Apply t->in, an operator input (CANCEL, RETRY, ...). */
void orc_txn_operator(struct orc_txn *t);

/* ---- moving a saga to another version (engine_migrate.c) ---- */

/* Apply t->in, a MIGRATE input; t->def is the new version after it. */
void orc_txn_migrate(struct orc_txn *t);

#endif
