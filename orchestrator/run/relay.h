/*
 * relay.h - publish the outbox to Kafka, in order per saga.
 *
 * A relay owns some of the outbox's 16 lanes (see store_outbox.h) and, one
 * bounded turn at a time, reads up to relay_batch rows of its lanes in id
 * order, produces them all (binary-mode CloudEvents, key = saga id),
 * collects the delivery reports and deletes the rows the broker
 * acknowledged.  When some deliveries fail, only the rows of each saga
 * before that saga's first failed row are deleted: the rest are published
 * again later, in order.  So every command is published at least once, and
 * a saga's commands are never reordered; a re-published command keeps its
 * ce_id, so services deduplicate it.
 *
 * No turn waits long: a turn waits at most turn_wait_ms for the reports of
 * the batch it produced, and a batch whose reports are late (the broker is
 * away) stays in flight for later turns to finish, up to delivery_wait_ms.
 * So the caller's loop goes on turning meanwhile.
 *
 * A relay reads each lane from a floor below which every row is handled,
 * so the dead index entries its deletes leave are not read again; a floor
 * rises only once no row below it can still commit (store_outbox.h, "Lane
 * floors"), starts at 0 when a lane is claimed, and every
 * full_scan_interval_ms one fetch ignores the floors, a safety net that
 * publishes and reports (warning) any row found below one.
 *
 * A row the broker refuses for good (too large, an invalid, unknown or
 * forbidden topic: kafka/broker.c decides which errors are permanent) is
 * moved to outbox_quarantine with its saga's later rows, logged once as an
 * error and counted, and the relay goes on with the other rows.
 *
 * The relay has its own PostgreSQL connection (it holds the lane locks and
 * LISTENs for new rows on it) and its own idempotent producer; it makes
 * both and frees both.  It reconnects to PostgreSQL by itself after the
 * connection drops (the lanes are claimed again), backing off after every
 * failed turn.  Several relays (processes) share the lanes: each claims a
 * few free lanes at a time and takes over the lanes of one that stopped.
 *
 * Not thread-safe: one thread calls every function of a relay.  The
 * caller's loop asks orc_relay_wants_turn() and runs orc_relay_turn(); it
 * may poll() orc_relay_socket() to sleep until a notification arrives.
 */
#ifndef ORC_RELAY_H
#define ORC_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "store_outbox.h"

struct orc_relay;

/* Tuning beyond the settings table; zero fields take the defaults. */
struct orc_relay_options {
	/* most lanes taken per claim (1-16); default 4 */
	int lanes_per_claim;
	/* least time between claims while a lane is not owned; default 250 */
	int64_t claim_interval_ms;
	/* longest wait for a batch's delivery reports; default 30000 */
	int64_t delivery_wait_ms;
	/* longest wait for them within one turn; default 50 */
	int64_t turn_wait_ms;
	/* time between fetches that ignore the lane floors; default 30000 */
	int64_t full_scan_interval_ms;
};

/* What a relay did so far; read with orc_relay_get_stats(). */
struct orc_relay_stats {
	uint64_t turns;
	uint64_t published;  /* rows acknowledged by the broker and deleted */
	uint64_t failed;     /* deliveries that failed or were not confirmed */
	uint64_t quarantined; /* rows moved to outbox_quarantine */
	uint64_t errors;     /* turns that failed */
	size_t last_batch;   /* rows read by the last turn */
	int64_t last_lag_ms; /* last batch: ack time - oldest created_at */
	uint16_t lanes;	     /* lanes owned now (bit i = lane i) */
	/* per lane: every row with an id up to it is handled (0 on a claim) */
	int64_t floor[ORC_OUTBOX_LANES];
	uint64_t below_floor; /* rows a full scan found below a floor (a bug) */
};

/*
 * Create a relay for cfg (borrowed for the call: pg_dsn, pg_schema,
 * kafka_brokers and kafka.* passthrough, relay_batch, relay_poll_ms) and
 * opts (borrowed, may be NULL).  Connects to PostgreSQL and LISTENs, and
 * creates the producer; lanes are claimed by the first turn.  *out is new;
 * free with orc_relay_destroy().  ORC_TRANSIENT when PostgreSQL cannot be
 * reached, ORC_INVALID for a bad Kafka property.
 */
enum orc_status orc_relay_create(const struct orc_config *cfg,
				 const struct orc_relay_options *opts,
				 struct orc_relay **out, struct orc_error *err);

/*
 * Wait (up to 5 s) for messages still in flight, release the lanes, close
 * the connection and the producer, free the relay; accepts NULL.
 */
void orc_relay_destroy(struct orc_relay *relay);

/*
 * One bounded turn.  With no batch in flight: reconnect if needed, claim
 * lanes if some are not owned and the claim interval has passed, read up
 * to relay_batch rows and produce them.  Then wait at most turn_wait_ms
 * for the batch's reports; once they are all in (in this turn or a later
 * one) or delivery_wait_ms passed, delete what may be deleted and
 * quarantine what the broker refused.  *published (may be NULL) is the
 * number of rows acknowledged and deleted by this turn.
 *
 * Failures are logged here, once, where they are handled (back off, drop
 * and reopen the connection, publish again next turn); the status and err
 * tell the caller what happened, not something to log again:
 *   ORC_OK         the batch (maybe empty) is published and deleted, or
 *                  quarantined where the broker refused it; or it is still
 *                  in flight (orc_relay_in_flight())
 *   ORC_TRANSIENT  some rows were not published, or the database failed;
 *                  what was acknowledged and may be deleted was deleted,
 *                  the rest waits for a later turn (after the back-off)
 *   ORC_FATAL      the producer is unusable (fenced, fatal idempotence
 *                  error) or the schema is missing: exit
 */
enum orc_status orc_relay_turn(struct orc_relay *relay, size_t *published,
			       struct orc_error *err);

/*
 * Turn until no batch is in flight (at least once) or timeout_ms passed:
 * the status of the last turn, *published (may be NULL) the rows all the
 * turns deleted.  For a clean shutdown and for tests.
 */
enum orc_status orc_relay_finish(struct orc_relay *relay, int64_t timeout_ms,
				 size_t *published, struct orc_error *err);

/* Whether a batch was produced and is not finished yet. */
bool orc_relay_in_flight(const struct orc_relay *relay);

/*
 * Whether a turn is due at now_ms (CLOCK_MONOTONIC, in ms): the batch in
 * flight has all its reports or is late; or, with none in flight, a
 * notification arrived, relay_poll_ms passed since the last turn, the last
 * turn read a full batch (more rows wait), or a lane claim is due.  Never
 * during the back-off after a failed turn, nor while the messages of a
 * given-up batch are still unreported.  Reads the connection without
 * blocking and serves pending delivery reports; never waits.
 */
bool orc_relay_wants_turn(struct orc_relay *relay, int64_t now_ms);

/*
 * Tell the relay's producer the topics it will publish to (borrowed), so
 * the first command to each does not wait for a metadata round.
 */
void orc_relay_know_topics(struct orc_relay *relay, const char *const *topics,
			   size_t n);

/*
 * The relay's database socket, to poll() for readability (a notification
 * arrived); -1 while disconnected.  It changes after a reconnect.
 */
int orc_relay_socket(const struct orc_relay *relay);

/* The counters (borrowed from the relay, valid until the next turn). */
const struct orc_relay_stats *
orc_relay_get_stats(const struct orc_relay *relay);

/*
 * The whole outbox's size and the age of its oldest row, for metrics and
 * benchmarks (every lane, not only the relay's).
 */
enum orc_status orc_relay_backlog(struct orc_relay *relay,
				  struct orc_outbox_backlog *out,
				  struct orc_error *err);

#endif
