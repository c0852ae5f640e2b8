/*
 * apply_internal.h - what the files of the apply share: apply.c (a batch
 * of events: route, claim, lock, run, write), apply_gate.c (definition
 * switches), apply_overlap.c (a batch run while the one before commits),
 * apply_timers.c, apply_operator.c (operator actions, start, migrations)
 * and apply_child.c: the apply context and the steps every transaction of
 * theirs takes.  Internal to run/apply*.c; the contract is apply.h.
 */
#ifndef ORC_APPLY_INTERNAL_H
#define ORC_APPLY_INTERNAL_H

#include "apply.h"
#include "store_requests.h"
#include "store_saga.h"

/*
 * realloc array (any pointer type) to cap elements through tmp (a void *);
 * false when out of memory, and array stays as it was.
 */
#define GROW(tmp, array, cap)                                                 \
	(((tmp) = realloc((array), (cap) * sizeof(*(array)))) != NULL &&      \
	 ((array) = (tmp), true))

#define MAX_TARGETS 8 /* definitions one event may trigger or feed */
/* An event's routes: one by id, or MAX_TARGETS triggers and as many waits */
#define MAX_ROUTES (2 * MAX_TARGETS)

enum route_kind {
	ROUTE_ID,    /* to the saga named by the sagaid attribute */
	ROUTE_START, /* a trigger: start (or find) the saga for the key */
	ROUTE_KEY,   /* a wait step's event: the saga with the key */
};

struct route {
	size_t item;
	enum route_kind kind;
	const struct orc_definition *def; /* START: the definition to start */
	const char *def_name;		  /* START, KEY */
	char key[ORC_SAGA_KEY_MAX];	  /* ID: the saga id; else the key */
	int64_t park_ms; /* KEY: how long it stays parked if it has no saga */
};

/* A limited definition the open transaction locked (gate_start()). */
struct limit_slot {
	const char *name; /* borrowed from the switches */
	int64_t running;  /* its running sagas when it was locked */
	int64_t started;  /* sagas of it the transaction started since */
	bool held;	  /* triggers of it are held (before it, or by it) */
};

struct orc_apply {
	struct orc_store *store;
	struct orc_catalog *cat;
	char *consumer;
	char *reply_to;
	struct orc_engine_options engine; /* the limits every apply passes */
	struct orc_saga_set set;    /* the sagas of the open transaction */
	struct orc_write_batch *wb; /* what the transaction writes back */
	struct orc_effects fx;	    /* the last engine call's */
	/*
	 * Parked events (events that came before their saga): those of the
	 * keys the batch may start sagas for, locked; how many of them the
	 * open transaction applied; how many of its events found no saga
	 * of a key they are awaited by (so far, in route order).
	 */
	struct orc_parked_list parked;
	int64_t parked_ttl_ms;
	uint64_t taken;
	size_t n_unrouted;
	struct route *routes; /* the batch's, in item order */
	size_t n_routes;
	/*
	 * The arguments of the store's set statements, kept from batch to
	 * batch: cap_items event ids (the inbox claim, then the release)
	 * and the claim's answers; cap_routes saga ids, and as many pairs
	 * (def_names[i], business_keys[i]), for the lock.
	 */
	const char **event_ids;
	bool *fresh; /* fresh[i]: event_ids[i] had not been claimed before */
	const char **saga_ids;
	const char **def_names;
	const char **business_keys;
	size_t cap_items;
	size_t cap_routes; /* of routes, too */
	int urandom;
	unsigned char rnd[4096];
	size_t rnd_pos;
	int64_t uuid_ms; /* the time part of the last id made */
	uint64_t finished[ORC_SAGA_STATUS_COUNT]; /* this transaction's */
	/*
	 * The definition switches, read every controls_refresh_ms (only
	 * definitions with one, or with held triggers), and the limited
	 * definitions the open transaction locked.
	 */
	struct orc_control_list controls;
	bool controls_read;
	int64_t controls_read_ms, controls_refresh_ms;
	struct limit_slot *limits;
	size_t n_limits, cap_limits;
	const struct orc_apply_hook *hook; /* run before commit_writes() */
	const struct orc_apply_trigger *trigger; /* of orc_apply_start() */
	int child_depth; /* children being started inside children (apply_child.c) */
	/* own_stats, or those of the apply this one is a sibling of */
	struct orc_apply_stats *stats;
	struct orc_apply_stats own_stats;
	char *lifecycle_topic; /* NULL for none */
	/*
	 * The overlapped apply's state (orc_apply_events_prepare()): a
	 * transaction is open and run, its writes queued; or its commit
	 * has been sent and not yet answered.
	 */
	bool prepared;
	bool in_flight;
};

/* A new id into buf (size >= 37): a time-ordered (version 7) UUID. */
enum orc_status orc_apply_new_uuid(struct orc_apply *ap, char *buf,
				   struct orc_error *err);
/* Empty the saga set, the write batch and the transaction's counters. */
void orc_apply_begin_batch(struct orc_apply *ap);
/*
 * Apply one input to ss (owned by ap's set) and queue what it decided;
 * event_id and traceparent (may be NULL) say where it came from, or ev.
 */
enum orc_status
orc_apply_run_engine_from(struct orc_apply *ap, struct orc_stored_saga *ss,
			  const struct orc_engine_input *in,
			  const char *event_id, const char *traceparent,
			  int64_t now_ms, struct orc_error *err);
enum orc_status orc_apply_run_engine(struct orc_apply *ap,
				     struct orc_stored_saga *ss,
				     const struct orc_engine_input *in,
				     const struct orc_event *ev, int64_t now_ms,
				     struct orc_error *err);
/* Write back what the open transaction changed and commit; roll back on
 * failure. */
enum orc_status orc_apply_commit_writes(struct orc_apply *ap,
					struct orc_error *err);
/*
 * After the engine ran on ss (its effects in ap->fx): start the children
 * it asked for, queue its requests to children, and tell its parent when
 * it ended (apply_child.c).  event_id and traceparent as for
 * orc_apply_run_engine_from(); ap->fx is overwritten.
 */
enum orc_status orc_apply_children(struct orc_apply *ap,
				   struct orc_stored_saga *ss,
				   const struct orc_engine_input *in,
				   const char *event_id,
				   const char *traceparent, int64_t now_ms,
				   struct orc_error *err);
/*
 * The steps of a batch of events items[0..n), which the caller rolls back
 * (orc_store_rollback()) when one fails; err then says which item when it
 * knows.  Route: where each item goes, no database (the definition
 * switches read again when due).  Open and run: begin, claim the inbox,
 * lock the sagas and the parked events, run the engine.  Write: dead
 * letters, released inbox ids, the touched sagas and every queued row and
 * the commit; with send_only the commit is only sent
 * (orc_store_write_commit_wait() takes its answer).  Done: the batch's
 * statistics, once committed.
 */
enum orc_status orc_apply_route(struct orc_apply *ap,
				struct orc_apply_item *items, size_t n,
				int64_t now_ms, struct orc_error *err);
enum orc_status orc_apply_open_and_run(struct orc_apply *ap,
				       struct orc_apply_item *items, size_t n,
				       int64_t now_ms, struct orc_error *err);
enum orc_status orc_apply_write(struct orc_apply *ap,
				struct orc_apply_item *items, size_t n,
				bool send_only, struct orc_error *err);
void orc_apply_batch_done(struct orc_apply *ap,
			  const struct orc_apply_item *items, size_t n);
/* Read the switches again when they are refresh_ms old (or never read). */
enum orc_status orc_apply_refresh_controls(struct orc_apply *ap,
					   int64_t now_ms,
					   struct orc_error *err);
/*
 * May the trigger of route ro (of item it) start a new saga now?  When
 * its definition is paused, at its max_running or holding older
 * triggers, it is written to held_triggers and *held is true
 * (apply_gate.c).
 */
enum orc_status orc_apply_gate_start(struct orc_apply *ap,
				     const struct route *ro,
				     struct orc_apply_item *it, bool *held,
				     struct orc_error *err);
/* Can a saga of def have parked events (does it await any)? */
bool orc_apply_has_waits(const struct orc_definition *def);
/*
 * ss has just started: it takes its key's parked events, then those of
 * the batch's items (may be NULL) before route upto that found no saga.
 */
enum orc_status orc_apply_deliver_early(struct orc_apply *ap,
					struct orc_apply_item *items,
					size_t upto, struct orc_stored_saga *ss,
					int64_t now_ms, struct orc_error *err);

#endif
