/*
 * store_outbox.h - the relay's side of the outbox table: lanes, reading
 * rows to publish, deleting published ones, and the NOTIFY wake-up.
 *
 * Every outbox row has a lane (0-15) derived from its saga id, so all
 * commands of one saga share a lane.  A relay owns lanes through session
 * advisory locks, pg_try_advisory_lock(<key>, lane) with a key derived
 * from the schema name, and only reads rows of the lanes it owns: one
 * relay at a time publishes a saga's commands, in id order, however many
 * relays run.  Session locks live as long as the connection; when it
 * drops, the lanes are free for others and the owner must start over
 * with an empty mask (reconnect, then claim again).
 *
 * Advisory locks are re-entrant: locking an owned lane again would stack a
 * second lock that one unlock does not release.  So the caller keeps the
 * mask of lanes it owns and passes it in; claim only tries the others.
 *
 * A row the broker refuses for good is moved to outbox_quarantine
 * (migrations/004_outbox_quarantine.sql) with the saga's later rows, so
 * that it no longer heads its lane and the saga's order holds.
 *
 * Lane floors.  The relay deletes what it published, so the front of each
 * lane's (lane, id) index is a run of dead entries until vacuum comes; a
 * fetch reads each lane from a floor, id > floor, and never visits them.
 * Ids come from a sequence and commit out of order (a transaction takes
 * 100, another 101 and commits first), so a floor may only rise to F
 * when (1) every visible row of the lane with id <= F is handled
 * (published and deleted, or quarantined) and (2) no row with id <= F can
 * still appear.  The proof of (2), with orc_store_outbox_horizon():
 *
 *   - a horizon statement reads L, the sequence's last value (the
 *     sequence caches one value: nextval hands out each value as it moves
 *     the sequence), at time tL;
 *   - a horizon statement sent at least ORC_OUTBOX_XID_MARGIN_MS after tL
 *     gives X, the xmax of its snapshot.  Every transaction holding an id
 *     <= L called nextval before tL, and an INSERT takes its xid in the
 *     same statement as its nextval, well within the margin: it had its
 *     xid before that snapshot, so its xid is < X;
 *   - a later horizon statement whose snapshot's xmin is >= X proves that
 *     every such transaction has ended (committed or rolled back), so a
 *     fetch after it sees every row with id <= L that will ever exist.
 *
 * For (1), that fetch tells per lane the highest id below which the lane
 * had no visible row above its floor (orc_outbox_batch_clear()); rows
 * below the floor were handled already.  So the floor may rise to the
 * least of L and that.  A transaction left open anywhere in the cluster
 * holds every snapshot's xmin back: floors stop rising (fetches cost what
 * they cost without floors), nothing is missed.  An operator who moves
 * quarantined rows back gets new ids (migrations/004), above every floor.
 *
 * These functions run outside any transaction (autocommit) on a
 * connection the relay keeps to itself (it LISTENs on it).
 */
#ifndef ORC_STORE_OUTBOX_H
#define ORC_STORE_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "store.h"

#define ORC_OUTBOX_LANES 16
#define ORC_OUTBOX_ALL_LANES ((uint16_t)0xffff)

/* The channel the outbox trigger notifies (migrations/001_initial.sql). */
#define ORC_OUTBOX_CHANNEL "orchestrator_outbox"

/*
 * One outbox row.  Strings are borrowed from the batch that holds the row
 * and stay valid until the next fetch into it or its finish.  Optional
 * columns are NULL when the column is NULL.
 */
struct orc_outbox_row {
	int64_t id;
	int lane;
	const char *saga_id; /* lowercase UUID text */
	const char *message_id;
	const char *topic;
	const char *type;
	const char *source;
	const char *step_name;	 /* may be NULL */
	const char *reply_to;	 /* may be NULL */
	const char *payload;	 /* JSON text */
	size_t payload_len;
	const char *traceparent; /* may be NULL */
	int64_t created_ms;	 /* created_at, ms since the epoch */
};

/*
 * Rows read by orc_store_outbox_fetch(), in id order.  Caller-owned and
 * reusable: init once, fetch into it any number of times (each fetch
 * replaces the previous rows), finish once.  The row array is grown and
 * kept; the strings live in one block (the query result), so a fetch makes
 * no allocation per row.
 */
struct orc_outbox_batch {
	struct orc_outbox_row *rows;
	size_t n;
	size_t limit; /* private: of the last fetch */
	size_t cap;   /* private */
	void *res;  /* private: the result the strings point into */
};

void orc_outbox_batch_init(struct orc_outbox_batch *batch);

/* Free everything the batch holds and empty it; accepts NULL. */
void orc_outbox_batch_finish(struct orc_outbox_batch *batch);

/*
 * Try to lock lanes this session does not own yet, at most max_new of
 * them (1-16), lowest first, never waiting.  *owned (in/out) is the mask
 * of lanes the session owns (bit i = lane i): pass 0 on a new connection
 * and the value the last claim returned afterwards; on ORC_OK the newly
 * locked lanes are added.  Taking only a few lanes per claim lets relays
 * that start together share the lanes.
 *
 * On failure *owned is unchanged, but some locks may have been taken: the
 * caller must close the connection (which releases them all) before
 * trusting the mask again.
 */
enum orc_status orc_store_outbox_claim_lanes(struct orc_store *store,
					     int max_new, uint16_t *owned,
					     struct orc_error *err);

/*
 * Unlock every lane in *owned and set it to 0 (also when the connection
 * is gone: closing it released them).
 */
enum orc_status orc_store_outbox_release_lanes(struct orc_store *store,
					       uint16_t *owned,
					       struct orc_error *err);

/*
 * Replace batch's rows with up to limit rows of lanes (a mask), oldest id
 * first, reading from the lowest floor of those lanes (floors:
 * ORC_OUTBOX_LANES ids, borrowed; NULL reads every lane whole): a lane's
 * rows between that and its own floor are all handled.  Within a lane the
 * rows read are its lowest pending ids, so every saga's rows form a prefix
 * of its pending commands.
 */
enum orc_status orc_store_outbox_fetch(struct orc_store *store, uint16_t lanes,
				       const int64_t *floors, size_t limit,
				       struct orc_outbox_batch *batch,
				       struct orc_error *err);

/*
 * After a fetch into batch, for one of the lanes it read: the highest id
 * up to which the lane had no visible row above its floor, at the fetch's
 * snapshot.  INT64_MAX when it had none at all.
 */
int64_t orc_outbox_batch_clear(const struct orc_outbox_batch *batch,
			       int lane);

/* What a horizon statement saw (see "Lane floors" above). */
struct orc_outbox_horizon {
	int64_t last_id; /* the sequence's last value, 0 before the first */
	int64_t xmin;	 /* of the statement's snapshot, taken before that */
	int64_t xmax;
};

/* The least time between reading L and taking X from a snapshot. */
#define ORC_OUTBOX_XID_MARGIN_MS 1000

enum orc_status orc_store_outbox_horizon(struct orc_store *store,
					 struct orc_outbox_horizon *out,
					 struct orc_error *err);

/*
 * Delete the rows ids[0..n) (borrowed) in one statement; *deleted (may be
 * NULL) is how many existed.  n == 0 does nothing.
 */
enum orc_status orc_store_outbox_delete(struct orc_store *store,
					const int64_t *ids, size_t n,
					size_t *deleted, struct orc_error *err);

/* A row the broker refused for good, and why (both borrowed). */
struct orc_outbox_refusal {
	int64_t id;
	const char *error;
};

/*
 * Move each refused row of refused[0..n) (borrowed; at most one per saga)
 * and every later row of its saga still in the outbox to
 * outbox_quarantine, in one statement: the refused row with its error,
 * the others with "follows quarantined command <id>".  *moved (may be
 * NULL) is how many rows moved.  n == 0 does nothing.
 */
enum orc_status orc_store_outbox_quarantine(
	struct orc_store *store, const struct orc_outbox_refusal *refused,
	size_t n, size_t *moved, struct orc_error *err);

/*
 * Make a new connection the relay's (once per connection): LISTEN on
 * ORC_OUTBOX_CHANNEL, and have the session read the outbox through its
 * indexes only (enable_seqscan and enable_bitmapscan off).  The fetch's
 * plan is made once per connection, often while the outbox looks empty,
 * and then kept: a sequential scan of the table (a hash join on the
 * ids) or a bitmap scan of a lane visits every dead row's page on every
 * fetch, however many pages the deleted rows fill by then.  An index scan
 * marks an entry dead the first time its row is found dead to all, and
 * skips it from then on.  The relay's other statements look rows up by
 * id, or are as cheap either way.  jit goes off too: a plan whose only
 * path is a disabled one (the read of the outbox sequence) costs 1e10,
 * over jit_above_cost, and compiling it took 100-200 ms a statement.
 */
enum orc_status orc_store_outbox_session(struct orc_store *store,
					 struct orc_error *err);

/*
 * Read what the server sent without blocking and report in *notified
 * whether an outbox notification arrived since the last call (also one
 * received while another query ran).  All pending notifications are
 * consumed.  A lost connection is ORC_TRANSIENT.
 */
enum orc_status orc_store_outbox_notified(struct orc_store *store,
					  bool *notified,
					  struct orc_error *err);

/*
 * The connection's socket, to poll() for readability before calling
 * orc_store_outbox_notified(); -1 when there is no connection.
 */
int orc_store_outbox_socket(const struct orc_store *store);

/* The whole outbox, every lane. */
struct orc_outbox_backlog {
	int64_t rows;
	int64_t oldest_age_ms; /* now() - oldest created_at; 0 when empty */
	int64_t quarantined;   /* rows in outbox_quarantine */
};

enum orc_status orc_store_outbox_backlog(struct orc_store *store,
					 struct orc_outbox_backlog *out,
					 struct orc_error *err);

#endif
