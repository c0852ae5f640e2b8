/*
 * worker.h - consume events from Kafka and apply them in batches.
 *
 * A turn polls up to batch_size messages (waiting at most batch_linger_ms
 * for more once the first arrived), parses them as CloudEvents, applies
 * them in one transaction (apply.h), publishes the dead ones to the
 * dead-letter topic and waits for the broker's acknowledgement, and only
 * then stores the messages' offsets.  A crash anywhere before that replays
 * the batch, which the inbox makes harmless.  When the batch cannot be
 * applied for a transient reason the worker keeps it and tries it again
 * next turn; it never skips a message.
 *
 * With apply_overlap (the default) a worker holds up to two batches: the
 * next is polled, locked and run while the one before commits, and is
 * sent only once that commit succeeded (apply.h, orc_apply_events_*).
 * Offsets are stored in batch order, so what a crash replays is still
 * everything from the oldest batch not finished.
 *
 * Before partitions are taken away (a rebalance), the batches in hand are
 * finished and their offsets stored.
 */
#ifndef ORC_WORKER_H
#define ORC_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apply.h"
#include "config.h"
#include "error.h"

struct orc_worker;
struct orc_consumer;

/*
 * Create a worker over ap (borrowed) subscribed to topics[0..n) (borrowed)
 * in cfg's group, with cfg's batch settings and dead-letter topic
 * (<group>.dlq by default).  cfg and topics are borrowed and must outlive
 * the worker (or, for topics, the next orc_worker_subscribe()): they are
 * read again when a fenced consumer rejoins the group.
 */
enum orc_status orc_worker_create(const struct orc_config *cfg,
				  struct orc_apply *ap,
				  const char *const *topics, size_t n_topics,
				  struct orc_worker **out,
				  struct orc_error *err);

/* Leave the group (after finishing the batches in hand) and free; NULL ok. */
void orc_worker_destroy(struct orc_worker *w);

/* Change the subscription (new definitions name new topics). */
enum orc_status orc_worker_subscribe(struct orc_worker *w,
				     const char *const *topics, size_t n,
				     struct orc_error *err);

/*
 * One turn: wait at most wait_ms for the first message, apply a batch.
 * *n_messages = messages finished (applied, duplicate or dead-lettered).
 * ORC_TRANSIENT: the batch is kept for the next turn; back off.
 */
enum orc_status orc_worker_turn(struct orc_worker *w, int wait_ms,
				size_t *n_messages, struct orc_error *err);

/* True while a batch is held (applied or not yet), either of two. */
bool orc_worker_busy(const struct orc_worker *w);

struct orc_worker_stats {
	uint64_t consumed;
	uint64_t dead_published;
	uint64_t dead_refused; /* copies the dead-letter topic refused for good */
	uint64_t rejoins;      /* new consumers after the broker fenced one */
	uint64_t last_batch;
	uint64_t batch_sum; /* messages over all batches, for the mean */
	uint64_t batches;
	uint64_t last_apply_us; /* the last batch's apply transaction */
	uint64_t apply_us_sum;	/* over all batches */
	/* apply_overlap: batches run while the one before committed */
	uint64_t overlapped;
	/* ... and those that had to wait for it (an event for a new saga) */
	uint64_t overlap_blocked;
	/* ... and those whose early run or send failed (applied later) */
	uint64_t overlap_failed;
};

/* The worker's consumer (borrowed), for its health and lag. */
const struct orc_consumer *orc_worker_consumer(const struct orc_worker *w);

const struct orc_worker_stats *orc_worker_stats(const struct orc_worker *w);

#endif
