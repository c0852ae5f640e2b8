/*
 * store_requests.h - operator requests made in SQL, the definition
 * switches (paused, max_running) and the triggers they hold
 * (migrations/016_operator_requests.sql).
 *
 * Requests: a poll takes a few pending rows in id order, SKIP LOCKED, and
 * leases them to the caller for a while (claimed_until), so that several
 * processes share them; the lease only spreads the work.  What makes an
 * action applied at most once is orc_store_request_done(): it moves the
 * row from pending to done inside the transaction that applies the
 * action, and refuses when the row is no longer pending.  Refusals and
 * failures are written after, also only from pending.
 *
 * Switches: read whole (a handful of rows) every few seconds by every
 * process.  A limited definition's running sagas are counted under a
 * transaction-level advisory lock of the definition, taken by every
 * transaction that may start one of its sagas, so that two processes
 * cannot both see room for the last one.
 *
 * Held triggers: written in the transaction that consumes the trigger,
 * deleted in the one that starts its saga (or finds its key taken).
 */
#ifndef ORC_STORE_REQUESTS_H
#define ORC_STORE_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"
#include "store.h"

/* ---- operator requests ---- */

/* The channel the insert trigger notifies; the payload is the schema. */
#define ORC_STORE_REQUESTS_CHANNEL "orchestrator_requests"

/* A pending request; every pointer owned by its list. */
struct orc_request {
	int64_t id;
	char *action; /* "retry", ... (the table's CHECK) */
	char *saga_id;
	char *step;   /* may be NULL */
	json_t *data; /* may be NULL */
	char *reason; /* may be NULL */
	char *requested_by;
};

struct orc_request_list {
	struct orc_request *v;
	size_t n, cap;
};

void orc_request_list_init(struct orc_request_list *list);
void orc_request_list_reset(struct orc_request_list *list); /* empties it */
void orc_request_list_finish(struct orc_request_list *list);

/*
 * LISTEN on ORC_STORE_REQUESTS_CHANNEL (outside a transaction).  The
 * server forgets it with the session: call again when
 * orc_store_session() changed.
 */
enum orc_status orc_store_requests_listen(struct orc_store *store,
					  struct orc_error *err);

/* The server process of the connection, 0 when there is none. */
int orc_store_session(const struct orc_store *store);

/*
 * Read what the server sent without blocking; *notified says whether a
 * request was inserted in this schema since the last call (all pending
 * notifications are consumed).
 */
enum orc_status orc_store_requests_notified(struct orc_store *store,
					    bool *notified,
					    struct orc_error *err);

/*
 * Lease up to limit pending requests, oldest first, to instance for
 * lease_ms, into out (reset first), in a statement of its own.  Rows
 * another process leased (and whose lease has not run out) are skipped.
 */
enum orc_status orc_store_requests_claim(struct orc_store *store,
					 const char *instance, int limit,
					 int64_t lease_ms,
					 struct orc_request_list *out,
					 struct orc_error *err);

/*
 * In the caller's open transaction: ask for action on saga_id (step and
 * data, the JSON text, may be NULL), as a saga of the orchestrator asks
 * its child or its parent (engine.h, ORC_EFFECT_CHILD): the row commits
 * or rolls back with what caused it, and the pump applies it once.
 */
enum orc_status orc_store_request_insert(struct orc_store *store,
					 const char *action,
					 const char *saga_id, const char *step,
					 const char *data, const char *reason,
					 struct orc_error *err);

/*
 * In the caller's open transaction: request id is done, by instance,
 * with action_id.  ORC_CONFLICT when it is no longer pending (another
 * process applied it): the caller rolls its action back.
 */
enum orc_status orc_store_request_done(struct orc_store *store, int64_t id,
				       const char *action_id,
				       const char *instance,
				       struct orc_error *err);

/*
 * In a statement of its own: request id is state ("refused" or "failed")
 * with outcome, when it is still pending (nothing otherwise).
 */
enum orc_status orc_store_request_settle(struct orc_store *store, int64_t id,
					 const char *state, const char *outcome,
					 const char *instance,
					 struct orc_error *err);

/* In a statement of its own: give request id's lease back. */
enum orc_status orc_store_request_unclaim(struct orc_store *store, int64_t id,
					  struct orc_error *err);

/* ---- definition switches ---- */

/* One definition's switches; name owned by its list. */
struct orc_control {
	char *name;
	bool paused;
	int64_t max_running; /* -1: no limit */
	bool held;	     /* it has held triggers */
	char *reason;	     /* may be NULL */
	char *updated_by;
	char *updated_at;
};

struct orc_control_list {
	struct orc_control *v;
	size_t n, cap;
};

void orc_control_list_init(struct orc_control_list *list);
void orc_control_list_reset(struct orc_control_list *list);
void orc_control_list_finish(struct orc_control_list *list);

/* The switches of definition name in list (borrowed), or NULL. */
const struct orc_control *orc_control_list_find(
	const struct orc_control_list *list, const char *name);

/*
 * Every definition with a switch set or triggers held, into out (reset
 * first), in name order.
 */
enum orc_status orc_store_controls_read(struct orc_store *store,
					struct orc_control_list *out,
					struct orc_error *err);

/* What orc_store_control_set() changes. */
enum orc_control_change {
	ORC_CONTROL_PAUSE,
	ORC_CONTROL_RESUME,
	ORC_CONTROL_LIMIT, /* max_running = n, or none when n < 0 */
};

/*
 * Change the switches of definition name (reason may be NULL) in a
 * statement of its own; *held is how many of its triggers are held.
 * ORC_NOT_FOUND, and nothing changed, when no version of it is stored.
 */
enum orc_status orc_store_control_set(struct orc_store *store,
				      const char *name,
				      enum orc_control_change change,
				      int64_t n, const char *reason,
				      int64_t *held, struct orc_error *err);

/*
 * In the caller's open transaction: lock definition name's limit (until
 * the transaction ends) and count its running and compensating sagas
 * into *running; *held says whether triggers of it are held.
 */
enum orc_status orc_store_limit_lock(struct orc_store *store,
				     const char *name, int64_t *running,
				     bool *held, struct orc_error *err);

/* ---- held triggers ---- */

/* A trigger held for its definition; every pointer borrowed. */
struct orc_held_trigger {
	const char *def_name;
	const char *business_key;
	const char *event_id; /* may be NULL */
	const char *type;
	const char *data; /* JSON text; may be NULL */
	const char *message_id;
	const char *topic;
	int32_t partition;
	int64_t offset;
	const char *why; /* "paused", "limit" or "queued" */
};

/* In the caller's open transaction. */
enum orc_status orc_store_hold_trigger(struct orc_store *store,
				       const struct orc_held_trigger *h,
				       struct orc_error *err);

/* A held trigger read back to start its saga; every pointer owned. */
struct orc_held {
	int64_t id;
	char *def_name;
	char *business_key;
	char *event_id; /* may be NULL */
	char *type;
	json_t *data; /* may be NULL */
};

struct orc_held_list {
	struct orc_held *v;
	size_t n, cap;
};

void orc_held_list_init(struct orc_held_list *list);
void orc_held_list_reset(struct orc_held_list *list);
void orc_held_list_finish(struct orc_held_list *list);

/*
 * The oldest limit held triggers of each definition that is not paused,
 * oldest first, into out (reset first), in a statement of its own,
 * without locking them.
 */
enum orc_status orc_store_held_next(struct orc_store *store, int limit,
				    struct orc_held_list *out,
				    struct orc_error *err);

/*
 * Delete held trigger id (in the caller's transaction, or alone).
 * ORC_CONFLICT when it is gone or another transaction holds it: that one
 * starts its saga.
 */
enum orc_status orc_store_held_take(struct orc_store *store, int64_t id,
				    struct orc_error *err);

#endif
