/*
 * apply.h - apply inputs to sagas, durably: the one path every change takes.
 *
 * Events from Kafka, timer firings and operator commands all end here.
 * A batch of events is applied in ONE PostgreSQL transaction: claim the
 * events' ids in the inbox (a redelivered event changes nothing), lock
 * every saga the batch touches, run the pure engine in memory, and write
 * back sagas, steps, history, outbox rows and dead letters from arrays.
 * Only after the commit may the caller store Kafka offsets.
 *
 * One bad event must not poison a batch: if an invalid item (or a race
 * with another process) stops the batch, it is rolled back and its items
 * are applied again one transaction each; an item that is still ORC_INVALID
 * alone is dead-lettered with the reason.  Only what is invalid is ever
 * dead-lettered (an event that does not parse or reaches no saga, an input
 * the engine rejects): a transient failure (lost connection, deadlock) is
 * returned to be retried, and a fatal one (out of memory, a broken store)
 * to stop the process, which applies the batch again after its restart.
 *
 * Not thread-safe: one struct orc_apply per thread and connection.
 */
#ifndef ORC_APPLY_H
#define ORC_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "engine.h"
#include "envelope.h"
#include "error.h"
#include "store.h"

struct orc_apply;

struct orc_apply_config {
	const char *consumer; /* inbox and dead-letter consumer (the group) */
	/*
	 * The replyto attribute of every command; NULL leaves it to the
	 * relay, which fills in its own reply_topic (operator commands do,
	 * so a CLI with other settings cannot divert replies).
	 */
	const char *reply_to;
	/* the engine's limit on a command (max_command_bytes); 0 = none */
	size_t max_command_bytes;
	/*
	 * The topic of the sagas' lifecycle events (saga.started, ...),
	 * written to the outbox with the change; NULL or "" = none.
	 */
	const char *lifecycle_topic;
	/*
	 * How long an awaited event whose business key has no saga yet is
	 * parked when its wait step sets no early_ttl (parked_ttl).
	 */
	int64_t parked_ttl_ms;
};

/*
 * New apply context over store and cat (both borrowed; they must outlive
 * it; cat grows when sagas of unknown definition versions are read).
 * cfg's strings are copied.
 */
enum orc_status orc_apply_create(struct orc_store *store,
				 struct orc_catalog *cat,
				 const struct orc_apply_config *cfg,
				 struct orc_apply **out, struct orc_error *err);
void orc_apply_destroy(struct orc_apply *ap); /* accepts NULL */

/*
 * A new apply context like of (borrowed; it must outlive the new one),
 * over store (borrowed): the same catalog, settings and counters
 * (orc_apply_stats() of either counts both), a transaction of its own.
 * The worker applies a batch on one while the other's commit is flushing.
 */
enum orc_status orc_apply_create_sibling(struct orc_apply *of,
					 struct orc_store *store,
					 struct orc_apply **out,
					 struct orc_error *err);

enum orc_apply_outcome {
	ORC_APPLY_PENDING,   /* not decided (only before orc_apply_events) */
	ORC_APPLY_APPLIED,   /* changed at least one saga */
	ORC_APPLY_IGNORED,   /* matched a saga that had no use for it */
	ORC_APPLY_DUPLICATE, /* applied before (inbox): nothing done */
	ORC_APPLY_DEAD,      /* dead-lettered: reason says why */
	ORC_APPLY_PARKED,    /* awaited, but its key has no saga yet: parked */
	ORC_APPLY_HELD, /* a trigger its definition's switches hold back */
};

const char *orc_apply_outcome_name(enum orc_apply_outcome outcome);

/* One consumed message: everything borrowed from the caller. */
struct orc_apply_item {
	const struct orc_event *event; /* NULL when it did not parse */
	const char *parse_error;       /* why, when event is NULL */
	const char *topic;
	int32_t partition;
	int64_t offset;
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
	const struct orc_header *headers;
	size_t n_headers;

	/* out */
	enum orc_apply_outcome outcome;
	char reason[ORC_ERROR_MSG_MAX + 128]; /* why DEAD, or IGNORED */
	char saga_id[40]; /* the saga it went to, when one ("" otherwise) */
	int64_t dead_letter_id; /* its row in dead_letters, when DEAD */
};

/* Counters since creation, for logs and metrics. */
struct orc_apply_stats {
	uint64_t batches;
	uint64_t applied;
	uint64_t ignored;
	uint64_t duplicates;
	uint64_t dead;
	uint64_t commands; /* outbox rows written */
	uint64_t timers;   /* sagas woken by timers */
	uint64_t fallbacks; /* batches redone one item at a time */
	uint64_t parked;       /* events parked for a saga not started yet */
	uint64_t parked_taken; /* parked events taken by a saga that started */
	uint64_t held;         /* triggers held (definition paused or full) */
	uint64_t sagas_finished[ORC_SAGA_STATUS_COUNT]; /* SAGA_EVENT effects */
};

const struct orc_apply_stats *orc_apply_stats(const struct orc_apply *ap);

/*
 * Apply items[0..n) (in order; a saga's events apply in the order given)
 * at now_ms.  ORC_OK: committed, every item has its outcome (dead ones are
 * in dead_letters; the caller publishes them to the dead-letter topic).
 * ORC_TRANSIENT, or ORC_CONFLICT (another process started the same saga
 * meanwhile): the failing item is not committed, back off and apply the
 * same items again (those committed one by one before it are DUPLICATE
 * then).  ORC_FATAL: give up; no item was dead-lettered for it.
 */
enum orc_status orc_apply_events(struct orc_apply *ap,
				 struct orc_apply_item *items, size_t n,
				 int64_t now_ms, struct orc_error *err);

/*
 * orc_apply_events() in three calls, so that a batch can be run while
 * the one before it commits on another apply (a sibling):
 *
 *	_prepare()	route, open the transaction, claim, lock, run the
 *			engine; the writes are queued, nothing is written
 *	_send()		write dead letters and parked events, then send the
 *			sagas' writes and the COMMIT without waiting
 *	_wait()		the commit's answer; only then are the items'
 *			outcomes final and their offsets may be stored
 *
 * before (borrowed, may be NULL) is the sibling whose commit is in
 * flight: _prepare() sets *blocked, and does nothing else, when the
 * batch cannot be run before that commit's answer (it has an event for
 * the business key of a saga before starts).  The caller sends a
 * prepared batch only after before's _wait() said ORC_OK, and abandons
 * it (_abandon(): rolled back) when that failed, since it may have read
 * what before left as it was.  Each call that fails has rolled its
 * transaction back; the caller then applies the items again, with
 * orc_apply_events() (which finds a bad item) or after a back-off, as
 * for orc_apply_events().  Batches of one item are best left to it.
 */
enum orc_status orc_apply_events_prepare(struct orc_apply *ap,
					 struct orc_apply_item *items,
					 size_t n, int64_t now_ms,
					 const struct orc_apply *before,
					 bool *blocked, struct orc_error *err);
enum orc_status orc_apply_events_send(struct orc_apply *ap,
				      struct orc_apply_item *items, size_t n,
				      struct orc_error *err);
enum orc_status orc_apply_events_wait(struct orc_apply *ap,
				      struct orc_apply_item *items, size_t n,
				      struct orc_error *err);
void orc_apply_events_abandon(struct orc_apply *ap);
/* True between a successful _send() and its _wait(). */
bool orc_apply_in_flight(const struct orc_apply *ap);

/*
 * Fire the timers of up to limit sagas due at now_ms (FOR UPDATE SKIP
 * LOCKED: several processes may do this at once).  *fired = sagas woken.
 */
enum orc_status orc_apply_timers(struct orc_apply *ap, int64_t now_ms,
				 int limit, int *fired, struct orc_error *err);

/*
 * An operator's START: the same path as a trigger event, for the latest
 * version of definition name.  key NULL = from input at the trigger's key
 * pointer.  input is borrowed (the saga keeps a reference).  On success
 * saga_id (size 40) holds the new saga's id; a saga already running for
 * that key is ORC_CONFLICT, and saga_id holds its id.
 */
enum orc_status orc_apply_start(struct orc_apply *ap, const char *name,
				const char *key, json_t *input,
				int64_t now_ms, char *saga_id,
				struct orc_error *err);

/* An operator's action on one saga; every pointer borrowed for the call. */
struct orc_operator_action {
	enum orc_input_kind kind; /* CANCEL, TERMINATE, RETRY, PAUSE, ... */
	const char *step; /* SKIP, RESOLVE; RETRY (from), PATCH (NULL = input) */
	json_t *data;     /* SKIP (may be NULL), PATCH (the merge patch) */
	const char *reason; /* for the history; may be NULL */
	const char *by;     /* who acted; may be NULL */
	/*
	 * The event_id of the history rows the action writes, so that what
	 * it caused is found by it; NULL = a new "op-<uuid>" (written back
	 * into action_id_out when that is not NULL, size 40).
	 */
	const char *action_id;
	/*
	 * A bulk action's predicate over the sagas table (the operator's
	 * SQL, see orc_store_admin_sagas_where()), checked again once the
	 * saga is locked; NULL = none.
	 */
	const char *where;
};

/*
 * Apply act to saga id through the engine, in a transaction of its own.
 * ORC_NOT_FOUND; ORC_CONFLICT when the saga's state does not allow it
 * (err says the saga's and the step's state and what the action takes),
 * or when the database refuses the result (a retry that would make a
 * second open saga of its business key); ORC_INVALID for a malformed
 * action.  With act->where, a saga that no longer matches it is
 * ORC_NOT_FOUND too (it changed since it was selected), and nothing is
 * done.  action_id_out (size 40, may be NULL) gets the action's id.
 */
enum orc_status orc_apply_operator(struct orc_apply *ap,
				   const struct orc_operator_action *act,
				   const char *id, int64_t now_ms,
				   char *action_id_out, struct orc_error *err);

/*
 * What a caller writes in the transaction of an action or a start, after
 * the engine accepted it and before the commit; anything but ORC_OK from
 * fn rolls everything back and is returned.  Borrowed for the call.
 */
struct orc_apply_hook {
	enum orc_status (*fn)(void *arg, struct orc_store *store,
			      struct orc_error *err);
	void *arg;
};

/* orc_apply_operator(), with hook run before its commit. */
enum orc_status orc_apply_operator_hooked(struct orc_apply *ap,
					  const struct orc_operator_action *act,
					  const char *id, int64_t now_ms,
					  const struct orc_apply_hook *hook,
					  char *action_id_out,
					  struct orc_error *err);

/* The trigger a saga is started for, as its history names it. */
struct orc_apply_trigger {
	const char *event_id; /* may be NULL */
	const char *type;     /* may be NULL */
};

/*
 * orc_apply_start() for trigger (borrowed; the saga.started row names
 * it), with hook run before its commit: how a held trigger starts its
 * saga (requests.h).
 */
enum orc_status orc_apply_start_hooked(struct orc_apply *ap, const char *name,
				       const char *key, json_t *input,
				       const struct orc_apply_trigger *trigger,
				       int64_t now_ms,
				       const struct orc_apply_hook *hook,
				       char *saga_id, struct orc_error *err);

/*
 * Triggers of definitions that are paused or at their max_running
 * (migrations/016_operator_requests.sql) are HELD, not started: the
 * switches are read again every refresh_ms (the default is 2000).
 */
void orc_apply_controls_refresh(struct orc_apply *ap, int64_t refresh_ms);

/* Moving a saga to another version of its definition; all borrowed. */
struct orc_migration_request {
	const struct orc_definition *to; /* in the apply's catalog */
	int from_version;                /* the version it must be on */
	const char *const *map_from;     /* renamed steps: old names */
	const char *const *map_to;       /* ... and their new names */
	size_t n_map;
	const char *reason; /* may be NULL */
	const char *by;     /* may be NULL */
	bool dry_run;       /* check only: change nothing */
};

/*
 * Move saga id to m->to through the engine (engine_migrate.c says when it
 * can), in a transaction of its own, or with m->dry_run only check that
 * it could (ORC_OK) and roll back.  ORC_CONFLICT: the saga is not on
 * m->from_version (any more), or its state does not map (err says why).
 */
enum orc_status orc_apply_migrate(struct orc_apply *ap,
				  const struct orc_migration_request *m,
				  const char *id, int64_t now_ms,
				  struct orc_error *err);

#endif
