/*
 * engine.h - the saga state machine: (definition, state, input, now) ->
 * (new state, effects).
 *
 * orc_engine_apply() is the whole engine.  It reads and changes one saga's
 * state in place and appends what the caller must do to a list of effects:
 * commands to publish (transactional outbox rows), history rows, the
 * saga's lifecycle events and its next wake-up time.  It does no I/O, reads
 * no clock (the caller passes now_ms), keeps no globals and draws no random
 * numbers, so the same definition, state, input and now always give the same
 * new state and byte-identical effects; a transaction that is replayed after
 * a crash writes the very same outbox rows (command message ids are
 * "<saga id>/<step>/<action|compensation>/<attempt>", lifecycle event ids
 * "<saga id>/<type>/<n>", n counted in the saga's state).
 *
 * The store keeps the state as one saga row and one row per step, with the
 * scalar fields below as columns; saga_row.h converts between the two.
 * Everything a saga will wait for (step timeouts, retry backoffs, delays,
 * wait timeouts, the saga deadline) folds into one number, saga.wake_ms,
 * which the store indexes; the caller feeds ORC_INPUT_TIMER at or after it.
 *
 * Semantics in short:
 * a step starts once every step it needs succeeded or was skipped; a false
 * "when" skips it.  A failure reply, a timeout with the attempts spent, the
 * saga deadline or an operator cancel makes the saga compensate: no new step
 * starts, commands already sent are awaited (until they reply or time out,
 * without further retries), waits, delays and retry backoffs are aborted;
 * then every succeeded step with a compensation is compensated, one at a
 * time, latest completion first.  A compensation retries with backoff; when
 * its attempts are spent the saga is stuck until an operator retries or
 * cancels it.
 */
#ifndef ORC_ENGINE_H
#define ORC_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "definition.h"
#include "error.h"

/* Saga ids and business keys are shorter than these (a UUID is 36). */
#define ORC_SAGA_ID_MAX 128
#define ORC_SAGA_KEY_MAX 256
/* "<saga id>/<step>/compensation/<attempt>" and its NUL fit in this. */
#define ORC_MESSAGE_ID_MAX (ORC_SAGA_ID_MAX + ORC_NAME_MAX + 32)

/* ---- statuses and their names (the text the store writes) ---- */

/*
 * Each enum below is written once, as a table of X(constant, name) rows.
 * The enum, its orc_<thing>_name() and, where they exist, its count and
 * orc_<thing>_parse() are generated from that table (engine_state.c), so
 * they cannot disagree.  The names are what the store writes and the logs
 * show: never rename one.
 */
#define ORC_ENUM_CONSTANT(constant, name) constant,
#define ORC_ENUM_ONE(constant, name) +1

#define ORC_SAGA_STATUSES(X)                                                   \
	X(ORC_SAGA_RUNNING, "running")                                         \
	/* terminal: every step succeeded or skipped */                        \
	X(ORC_SAGA_COMPLETED, "completed")                                     \
	/* failing: awaiting steps, then undoing them */                       \
	X(ORC_SAGA_COMPENSATING, "compensating")                               \
	/* terminal: failed, everything undone */                              \
	X(ORC_SAGA_COMPENSATED, "compensated")                                 \
	/* failed with nothing to undo; RETRY reruns */                        \
	X(ORC_SAGA_FAILED, "failed")                                           \
	/* a compensation ran out of attempts */                               \
	X(ORC_SAGA_STUCK, "stuck")                                             \
	/* terminal: an operator cancelled it */                               \
	X(ORC_SAGA_CANCELLED, "cancelled")                                     \
	/* terminal: the saga deadline passed */                               \
	X(ORC_SAGA_TIMED_OUT, "timed_out")

enum orc_saga_status { ORC_SAGA_STATUSES(ORC_ENUM_CONSTANT) };
#define ORC_SAGA_STATUS_COUNT (0 ORC_SAGA_STATUSES(ORC_ENUM_ONE))

/* "running", "completed", ... Never NULL ("?" for an unknown value). */
const char *orc_saga_status_name(enum orc_saga_status status);
/* The status named text (NULL is no name); false leaves *out alone. */
bool orc_saga_status_parse(const char *text, enum orc_saga_status *out);
/*
 * True for every status but running and compensating: the saga has no
 * timers and no commands in flight and does nothing more by itself.  Only
 * an operator moves a failed saga (RETRY) or a stuck one (RETRY, CANCEL;
 * a late compensation success also unsticks it); the others are terminal.
 */
bool orc_saga_status_is_final(enum orc_saga_status status);
/*
 * True for running, compensating and stuck: the saga is not over, and it
 * holds its business key (the database allows one such saga per
 * definition and key).  A failed saga has ended; an operator RETRY of it
 * is refused while a newer saga holds the key.
 */
bool orc_saga_status_is_open(enum orc_saga_status status);
/*
 * May a trigger start a new saga for a business key whose latest saga
 * ended (or not) with status last?  Never while it is open; then by the
 * definition's key_reuse policy (definition.h).
 */
bool orc_key_reuse_allows(enum orc_key_reuse policy,
			  enum orc_saga_status last);

#define ORC_STEP_STATUSES(X)                                                   \
	X(ORC_STEP_PENDING, "pending")                                         \
	X(ORC_STEP_RUNNING, "running")                                         \
	X(ORC_STEP_SUCCEEDED, "succeeded")                                     \
	X(ORC_STEP_FAILED, "failed")                                           \
	X(ORC_STEP_SKIPPED, "skipped")                                         \
	X(ORC_STEP_COMPENSATING, "compensating")                               \
	X(ORC_STEP_COMPENSATED, "compensated")

enum orc_step_status { ORC_STEP_STATUSES(ORC_ENUM_CONSTANT) };
#define ORC_STEP_STATUS_COUNT (0 ORC_STEP_STATUSES(ORC_ENUM_ONE))

const char *orc_step_status_name(enum orc_step_status status);
bool orc_step_status_parse(const char *text, enum orc_step_status *out);

/* What a step's timer (step.wake_ms) will do when it fires. */
#define ORC_WAKE_REASONS(X)                                                    \
	/* no timer */                                                         \
	X(ORC_WAKE_NONE, "none")                                               \
	/* the command's reply is overdue */                                   \
	X(ORC_WAKE_TIMEOUT, "timeout")                                         \
	/* send the next attempt (backoff over) */                             \
	X(ORC_WAKE_RETRY, "retry")                                             \
	/* a delay step is over */                                             \
	X(ORC_WAKE_DELAY, "delay")                                             \
	/* a wait step gives up */                                             \
	X(ORC_WAKE_WAIT_TIMEOUT, "wait_timeout")                               \
	/* the compensation's reply is overdue */                              \
	X(ORC_WAKE_COMP_TIMEOUT, "comp_timeout")                               \
	/* send the next compensation attempt */                               \
	X(ORC_WAKE_COMP_RETRY, "comp_retry")                                   \
	/* a map step needs items the store did not load */                   \
	X(ORC_WAKE_MAP_LOAD, "map_load")

enum orc_wake_reason { ORC_WAKE_REASONS(ORC_ENUM_CONSTANT) };

const char *orc_wake_reason_name(enum orc_wake_reason reason); /* "none", ... */
bool orc_wake_reason_parse(const char *text, enum orc_wake_reason *out);

/* Why a saga compensates, which decides its final status. */
#define ORC_SAGA_CAUSES(X)                                                     \
	/* not failing */                                                      \
	X(ORC_CAUSE_NONE, "none")                                              \
	/* a step failed: compensated (or failed) */                           \
	X(ORC_CAUSE_FAILURE, "failure")                                        \
	/* an operator cancelled it: cancelled */                              \
	X(ORC_CAUSE_CANCEL, "cancel")                                          \
	/* the saga deadline passed: timed_out */                              \
	X(ORC_CAUSE_TIMEOUT, "timeout")                                        \
	/* its parent compensates (UNDO): compensated */                       \
	X(ORC_CAUSE_UNDO, "undo")

enum orc_saga_cause { ORC_SAGA_CAUSES(ORC_ENUM_CONSTANT) };

const char *orc_saga_cause_name(enum orc_saga_cause cause); /* "none", ... */
bool orc_saga_cause_parse(const char *text, enum orc_saga_cause *out);

/* ---- state ---- */

struct orc_map_state;

/* One step of a running saga; parallel to def->steps. */
/* How many reply ids a step remembers (struct orc_saga_step.replies). */
#define ORC_STEP_REPLIES_MAX 16

struct orc_saga_step {
	enum orc_step_status status;
	/*
	 * Command attempts, 1-based, never reset: the message id of attempt n
	 * is ".../action/n", so a command re-sent after an operator RETRY
	 * never reuses an id a service has seen.  The retry policy counts
	 * attempt - attempt_base (RETRY sets attempt_base = attempt).
	 */
	int attempt;
	int attempt_base;
	int comp_attempt; /* the same for the compensation command */
	int comp_attempt_base;
	int64_t started_ms;  /* last start (0 = never) */
	int64_t finished_ms; /* succeeded, failed, skipped or compensated */
	int64_t wake_ms;     /* this step's timer, 0 = none */
	enum orc_wake_reason wake_reason;
	int64_t completed_seq; /* order of success (saga.seq), 0 = none */
	char *last_error;      /* owned, NULL = none */
	/*
	 * The data of a correlated event that arrived for this wait step
	 * before it started (owned reference, NULL = none); the step
	 * succeeds with it as soon as it starts.
	 */
	json_t *early_event;
	/*
	 * The dedup ids ("<source> <id>") of the replies that reached this
	 * step, applied or ignored, oldest first, at most ORC_STEP_REPLIES_MAX
	 * (an owned JSON array of strings, never changed in place, NULL =
	 * none).  A reply whose id is here is a redelivery and changes
	 * nothing: replies need no inbox row (README, Guarantees).
	 */
	json_t *replies;
	/*
	 * A map step's items once it started (owned; NULL for every other
	 * step, for a map step not started, and in a map item's own state).
	 */
	struct orc_map_state *map;
	/*
	 * Set by the engine whenever it changes this step; never cleared by
	 * it.  The store writes the rows of changed steps and clears the flag.
	 */
	bool changed;
	/*
	 * The store's, like changed: the step has a row of its own
	 * (saga_row.h, orc_saga_step_open()).  The engine copies it with the
	 * step and never reads or sets it.
	 */
	bool has_row;
};

/*
 * One item of a map step: its position in the items array and a step's
 * state of its own (status, attempts, timer, error, reply ids; no early
 * event, no map), with the data of its success reply (owned, NULL =
 * none).  The store keeps it as one row of saga_map_items.
 */
struct orc_map_item {
	int64_t index;
	struct orc_saga_step st;
	json_t *output;
};

/*
 * A started map step.  Its counters cover every item; its items array
 * holds only the items the store loaded and those started since: every
 * item with a command or a timer in flight (running or compensating), and
 * whatever else the store chose to load.  complete says it holds every
 * started item, which completing the map (its result lists them all)
 * needs; compensating needs the succeeded items, latest first.  When the
 * engine needs items it was not given, it sets the step's timer to now
 * for ORC_WAKE_MAP_LOAD, on which the store loads them all: a map of
 * 10,000 items does not have them all in memory for every reply.
 */
struct orc_map_state {
	int64_t n_items;     /* the array's size when the step started */
	int concurrency;     /* items in flight at most */
	int64_t min_success; /* items that must succeed */
	int64_t started;     /* items 0 .. started-1 have started */
	int64_t succeeded;   /* items that succeeded (compensated or not) */
	int64_t failed;      /* items that failed for good */
	int64_t compensated; /* succeeded items since compensated */
	int64_t last_seq;    /* the latest completed_seq of its items */
	int run;             /* 1; 2 after an operator retry reran it; ... */
	/*
	 * Set when the step starts (again): the store deletes the item
	 * rows of an earlier run before it writes this one's, and clears
	 * the flag as it clears changed.
	 */
	bool fresh;
	bool complete;
	struct orc_map_item *items; /* owned: n of them, room for cap */
	size_t n, cap;
};

/* Free a map state and its items; accepts NULL. */
void orc_map_state_destroy(struct orc_map_state *m);
/* Free the items m holds and forget them (n = 0); the rest stays. */
void orc_map_state_clear_items(struct orc_map_state *m);

/*
 * A saga instance.  Caller-owned memory (a struct on the stack or inside
 * another struct); orc_saga_init() / orc_saga_finish() manage what it
 * points to.  Every char * and json_t * is owned by the saga, except def,
 * which is borrowed and must outlive it.  The engine changes the fields in
 * place; the caller may read every field and may write the scalar ones
 * (orc_saga_from_rows() of saga_row.h does).
 */
struct orc_saga {
	const struct orc_definition *def; /* borrowed */
	char *id;  /* set by ORC_INPUT_START (NULL before) */
	char *key; /* business key; set by ORC_INPUT_START */
	enum orc_saga_status status;
	enum orc_saga_cause cause; /* why it compensates or ended */
	/*
	 * {"input": trigger data, "steps": {"<name>": reply or event data},
	 *  "saga": {"id", "key", "name", "version"}}; NULL until START.
	 * Step data is shared (a reference to the input's json_t), not copied.
	 */
	json_t *context;
	int64_t started_ms;
	int64_t deadline_ms; /* saga timeout; 0 = none */
	int64_t wake_ms;     /* earliest pending timer (or deadline); 0 = none */
	int64_t seq;         /* completions so far (steps' completed_seq) */
	/*
	 * When an operator paused it (0 = not paused).  A paused saga starts
	 * no step and sends no command, and its timers wait (wake_ms is 0):
	 * RESUME moves every timer and the deadline on by the time it was
	 * paused, so none is lost or shortened.
	 */
	int64_t paused_ms;
	/*
	 * Why it is failing or ended, for people: "charge_payment:
	 * payment.declined", "saga timed out", "compensation of
	 * reserve_inventory failed: timed out".  Owned, NULL = none.
	 */
	char *failure_reason;
	/*
	 * The definition's "output" template, rendered when the saga
	 * completed (owned, never changed in place); NULL = none.
	 */
	json_t *output;
	/* Lifecycle events so far (saga.started is the first): their ids' n. */
	int64_t lifecycle_seq;
	struct orc_saga_step *steps; /* owned, def->n_steps of them */
	size_t n_steps;
};

/*
 * Prepare saga for def (borrowed): no id yet, every step pending.  The next
 * input must be ORC_INPUT_START (or use saga_row.h's orc_saga_from_rows()).
 * Returns ORC_FATAL only when out of memory.
 */
enum orc_status orc_saga_init(struct orc_saga *saga,
			      const struct orc_definition *def);

/* Free what saga owns (not the struct); accepts NULL and repeated calls. */
void orc_saga_finish(struct orc_saga *saga);

/*
 * Make dst (uninitialised caller memory) an independent copy of src: a
 * snapshot to roll back to (a savepoint for one event of a batch).  Cheap:
 * it copies the strings, the steps and the context's "steps" object, and
 * shares by reference the JSON values no engine call changes (trigger data,
 * step results, early events).  ORC_FATAL when out of memory.
 */
enum orc_status orc_saga_copy(struct orc_saga *dst, const struct orc_saga *src);

/* ---- inputs ---- */

#define ORC_INPUT_KINDS(X)                                                     \
	/* the trigger event: data, saga_id, key */                            \
	X(ORC_INPUT_START, "start")                                            \
	/* a reply to a command: step, type, data */                           \
	X(ORC_INPUT_REPLY, "reply")                                            \
	/* a correlated event for wait steps: topic, type, data */             \
	X(ORC_INPUT_EVENT, "event")                                            \
	/* fire every timer due at now_ms */                                   \
	X(ORC_INPUT_TIMER, "timer")                                            \
	/* operator: give up (compensate first if running) */                  \
	X(ORC_INPUT_CANCEL, "cancel")                                          \
	/* operator: rerun a failed saga (step: from that step on), unstick */ \
	X(ORC_INPUT_RETRY, "retry")                                            \
	/* operator: no new commands, no timers until RESUME */                \
	X(ORC_INPUT_PAUSE, "pause")                                            \
	X(ORC_INPUT_RESUME, "resume")                                          \
	/* operator: step succeeds with data (may be NULL) */                  \
	X(ORC_INPUT_SKIP, "skip")                                              \
	/* operator: merge patch data into the input (step NULL) or a step */  \
	X(ORC_INPUT_PATCH, "patch")                                            \
	/* operator: a stuck saga's compensation of step is done by hand */    \
	X(ORC_INPUT_RESOLVE, "resolve")                                        \
	/* operator: end it now, cancelled, without compensating */            \
	X(ORC_INPUT_TERMINATE, "terminate")                                    \
	/* operator: move it to another version of its definition */           \
	X(ORC_INPUT_MIGRATE, "migrate")                                        \
	/* a child saga of step ended: data {"child", "status", "output",     \
	   "failure"} */                                                       \
	X(ORC_INPUT_CHILD, "child")                                            \
	/* its parent compensates: a completed saga undoes its steps */       \
	X(ORC_INPUT_UNDO, "undo")

enum orc_input_kind { ORC_INPUT_KINDS(ORC_ENUM_CONSTANT) };
#define ORC_INPUT_KIND_COUNT (0 ORC_INPUT_KINDS(ORC_ENUM_ONE))

const char *orc_input_kind_name(enum orc_input_kind kind); /* "start", ... */

/*
 * One input.  Every pointer is borrowed for the call, except that the
 * engine keeps a reference to data (as the trigger input or a step's
 * result) instead of copying it: the caller must not change data after
 * passing it.  Strings must be valid UTF-8.
 */
struct orc_engine_input {
	enum orc_input_kind kind;
	const char *saga_id;  /* START: shorter than ORC_SAGA_ID_MAX */
	const char *key;      /* START: business key; NULL = from data at the
				 trigger's key pointer (orc_business_key) */
	const char *step;     /* REPLY: the sagastep attribute; SKIP, RESOLVE:
				 the step; RETRY, PATCH: the step or NULL */
	const char *topic;    /* EVENT */
	const char *type;     /* REPLY, EVENT: the event type */
	const char *event_id; /* START, REPLY, EVENT: for history; may be NULL */
	const char *dedup_id; /* REPLY: "<source> <id>"; NULL = not deduplicated */
	json_t *data;         /* START, REPLY, EVENT, SKIP: may be NULL (=
				 null); PATCH: the merge patch (RFC 7386) */
	const char *reason;   /* operator inputs: their note; may be NULL */
	const char *by;       /* operator inputs: who acted; may be NULL */
	/*
	 * MIGRATE: the version to move to (same name, borrowed; it must
	 * outlive the saga, which borrows it from then on), and the renamed
	 * steps: map_from[i] of the saga's version is map_to[i] of to_def.
	 * A step of the same name in both needs no entry.
	 */
	const struct orc_definition *to_def;
	const char *const *map_from;
	const char *const *map_to;
	size_t n_map;
};

/*
 * The business key in data at pointer (JSON Pointer): a string as is, an
 * integer in decimal.  Copies it into buf (size len) and returns true;
 * false when the pointer does not resolve to one of those or it does not
 * fit.  The worker uses the same function to route events to sagas.
 */
bool orc_business_key(const json_t *data, const char *pointer, char *buf,
		      size_t len);

/* ---- effects ---- */

#define ORC_EFFECT_KINDS(X)                                                    \
	/* publish a command (an outbox row) */                                \
	X(ORC_EFFECT_COMMAND, "command")                                       \
	/* append a history row */                                             \
	X(ORC_EFFECT_HISTORY, "history")                                       \
	/* a lifecycle event: started, ended or stuck */                       \
	X(ORC_EFFECT_SAGA_EVENT, "saga_event")                                 \
	/* start, cancel, undo or terminate a child saga */                   \
	X(ORC_EFFECT_CHILD, "child")

enum orc_effect_kind { ORC_EFFECT_KINDS(ORC_ENUM_CONSTANT) };

const char *orc_effect_kind_name(enum orc_effect_kind kind);

#define ORC_COMMAND_KINDS(X)                                                   \
	X(ORC_COMMAND_ACTION, "action")                                        \
	X(ORC_COMMAND_COMPENSATION, "compensation")

enum orc_command_kind { ORC_COMMAND_KINDS(ORC_ENUM_CONSTANT) };

const char *orc_command_kind_name(enum orc_command_kind kind); /* "action" */

/* What an ORC_EFFECT_CHILD asks of the child saga. */
#define ORC_CHILD_ACTIONS(X)                                                   \
	/* start it, in the same transaction */                                \
	X(ORC_CHILD_START, "start")                                            \
	/* the parent fails: it compensates itself (CANCEL) */                 \
	X(ORC_CHILD_CANCEL, "cancel")                                          \
	/* the parent compensates a completed child (UNDO) */                  \
	X(ORC_CHILD_UNDO, "undo")                                              \
	/* the parent was terminated: so is it (TERMINATE) */                  \
	X(ORC_CHILD_TERMINATE, "terminate")

enum orc_child_action { ORC_CHILD_ACTIONS(ORC_ENUM_CONSTANT) };

const char *orc_child_action_name(enum orc_child_action action);

/*
 * The id of the child saga that attempt attempt of step step of saga
 * parent_id starts: a UUID (version 8, from a hash of the three) into out,
 * so that a replayed transaction starts the same child and a retried step
 * a new one.
 */
void orc_child_saga_id(const char *parent_id, const char *step, int attempt,
		       char out[37]);

/* Why an input changed nothing. */
#define ORC_IGNORE_REASONS(X)                                                  \
	X(ORC_IGNORE_NONE, "")                                                 \
	/* the step no longer awaits this reply */                             \
	X(ORC_IGNORE_LATE, "late")                                             \
	/* the step already has this outcome */                                \
	X(ORC_IGNORE_DUPLICATE, "duplicate")                                   \
	/* no step of that name */                                             \
	X(ORC_IGNORE_UNKNOWN_STEP, "unknown_step")                             \
	/* the step lists no such type */                                      \
	X(ORC_IGNORE_UNEXPECTED_TYPE, "unexpected_type")                       \
	/* no wait step matches the event */                                   \
	X(ORC_IGNORE_NO_MATCH, "no_match")                                     \
	/* a timer input with nothing due */                                   \
	X(ORC_IGNORE_NOT_DUE, "not_due")                                       \
	/* not in the saga's current status */                                 \
	X(ORC_IGNORE_NOT_ALLOWED, "not_allowed")

enum orc_ignore_reason { ORC_IGNORE_REASONS(ORC_ENUM_CONSTANT) };

/* "late", "duplicate", "unknown_step", ... ("" for none). */
const char *orc_ignore_reason_name(enum orc_ignore_reason reason);

/*
 * One effect.  NUL-terminated strings; topic, type and step_name are
 * borrowed from the definition (a lifecycle event's type is a static
 * string), history kinds are static strings, json_t values are owned by
 * the effect list.
 */
struct orc_effect {
	enum orc_effect_kind kind;
	size_t step;           /* step index, or SIZE_MAX for none */
	const char *step_name; /* NULL for none */
	/*
	 * A map item's index, -1 for none.  A command to an item goes out
	 * with the sagastep "<step_name>[<item>]", which its reply returns.
	 */
	int64_t item;

	/* ORC_EFFECT_COMMAND */
	enum orc_command_kind command_kind;
	int attempt;
	const char *topic;
	const char *type;
	char message_id[ORC_MESSAGE_ID_MAX];
	json_t *data; /* rendered template */

	/* ORC_EFFECT_HISTORY */
	const char *history; /* "saga.started", "step.succeeded", ... */
	json_t *detail;      /* an object, never NULL */

	/*
	 * ORC_EFFECT_SAGA_EVENT: the saga's status after the event; type
	 * "saga.started" (status running), or "saga." and the status it
	 * entered ("saga.completed", ..., "saga.stuck"); message_id "<saga
	 * id>/<type>/<lifecycle_seq>"; data {"id", "definition", "version",
	 * "business_key", "status", "failure", "output"} (schemas/
	 * lifecycle-event.schema.json), never NULL.
	 */
	enum orc_saga_status saga_status;

	/*
	 * ORC_EFFECT_CHILD: what to do (child_action) to the child saga
	 * whose id is in message_id; for START, of definition
	 * child_definition (borrowed), version child_version (0 = the
	 * latest), with data {"key": business key, "data": trigger data}.
	 */
	enum orc_child_action child_action;
	const char *child_definition;
	int child_version;
};

enum orc_engine_result {
	ORC_RESULT_APPLIED, /* the state changed */
	ORC_RESULT_IGNORED, /* nothing but one history effect */
	ORC_RESULT_DUPLICATE, /* a reply the step has taken before: no effect */
};

/*
 * The output of one orc_engine_apply().  Caller-owned; orc_effects_init()
 * once, reuse for many applies (each one empties it first and keeps its
 * memory), orc_effects_finish() at the end.
 */
struct orc_effects {
	struct orc_effect *v; /* in the order they happened */
	size_t n;
	size_t cap;
	enum orc_engine_result result;
	enum orc_ignore_reason ignore_reason; /* when ignored */
	int64_t wake_ms;   /* the saga's next wake-up, 0 = none */
	bool wake_changed; /* wake_ms differs from before: set/cancel timer */
};

void orc_effects_init(struct orc_effects *fx);
/* Drop every effect, keep the memory. */
void orc_effects_reset(struct orc_effects *fx);
void orc_effects_finish(struct orc_effects *fx);

/*
 * The effects as a JSON document (new reference; NULL when out of memory):
 * {"result", "ignore_reason"?, "wake_ms", "wake_changed", "effects": [...]}.
 * Serialized with JSON_SORT_KEYS it is byte-identical for identical effects;
 * for logs and tests.
 */
json_t *orc_effects_to_json(const struct orc_effects *fx);

/* ---- the engine ---- */

/*
 * Bytes of a command kept for its headers and key when it is checked
 * against max_command_bytes: ids, names and topics are short (a topic is
 * at most 249 bytes, a name ORC_NAME_MAX), so they fit in this.
 */
#define ORC_ENGINE_COMMAND_HEADROOM 1024

/*
 * Limits of an apply, from the caller's settings (the engine reads none).
 * Zero fields are no limit.
 */
struct orc_engine_options {
	/*
	 * Largest command: its rendered data (compact JSON, as the outbox
	 * holds it) plus ORC_ENGINE_COMMAND_HEADROOM.  A step whose command
	 * is larger fails at once, without retries (the same context renders
	 * the same data), with the reason "command data is N bytes, over the
	 * limit of M (setting max_command_bytes ...)"; an action's failure
	 * compensates the saga as any failure does, a compensation's makes
	 * the saga stuck.  Nothing too large for the broker is written to
	 * the outbox.  A saga's rendered "output" over the limit less twice
	 * the headroom (headers, the lifecycle event's other members) is
	 * dropped: the saga completes with no output and a history entry
	 * saga.output_failed says why.
	 */
	size_t max_command_bytes;
};

/*
 * Apply one input to saga at now_ms; fx is emptied first, then filled.
 * orc_engine_apply() has no limits; orc_engine_apply_with() takes opts
 * (borrowed, may be NULL = no limits).
 *
 * Returns:
 *   ORC_OK        applied (fx->result APPLIED) or ignored with a reason
 *                 (IGNORED: late, duplicate, unknown step ... reply), the
 *                 state unchanged but for nothing;
 *   ORC_CONFLICT  an operator command (or START) not allowed in the saga's
 *                 status; the state is unchanged, fx holds the IGNORED
 *                 history entry and err the message;
 *   ORC_INVALID   a malformed input (missing fields, bad UTF-8, START
 *                 without a business key); nothing changed, nothing in fx;
 *                 or a status transition the tables refuse ("invalid step
 *                 transition"): a state only a row edited by hand can
 *                 hold, the row's fault and not the process's, so the
 *                 caller dead-letters the event or quarantines the saga;
 *                 the state may be half changed: discard it (roll back);
 *   ORC_FATAL     out of memory; the state may be half changed: discard
 *                 it (roll back).
 */
enum orc_status orc_engine_apply(struct orc_saga *saga,
				 const struct orc_engine_input *in,
				 int64_t now_ms, struct orc_effects *fx,
				 struct orc_error *err);
enum orc_status orc_engine_apply_with(struct orc_saga *saga,
				      const struct orc_engine_input *in,
				      const struct orc_engine_options *opts,
				      int64_t now_ms, struct orc_effects *fx,
				      struct orc_error *err);

#endif
