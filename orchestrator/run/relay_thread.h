/*
 * relay_thread.h - the relay on a thread of its own.
 *
 * The relay (relay.h) only publishes committed outbox rows: it touches no
 * saga state, and it has its own PostgreSQL connection and producer.  Run
 * on the loop's thread, each of its turns made the loop wait for delivery
 * reports (up to turn_wait_ms) while events and timers waited too.  Here
 * it turns on a thread of its own instead, so the loop only applies, and
 * the relay's database work and waits overlap the loop's.  The loop's
 * thread stays the only one that touches saga state.
 *
 * Between the two threads only this module's state is shared, under its
 * mutex: a copy of the relay's counters (refreshed after every turn), the
 * topics to learn, the stop flag and a fatal error.  While the thread
 * runs, nothing else may call the relay; after orc_relay_thread_stop() it
 * is the caller's again (for orc_relay_finish() and orc_relay_destroy()).
 */
#ifndef ORC_RELAY_THREAD_H
#define ORC_RELAY_THREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "relay.h"

struct orc_relay_thread;

/*
 * Start turning relay (borrowed; it must outlive the thread) on a new
 * thread.  *out is new, for orc_relay_thread_stop().  ORC_FATAL when the
 * thread cannot be made.
 */
enum orc_status orc_relay_thread_start(struct orc_relay *relay,
				       struct orc_relay_thread **out,
				       struct orc_error *err);

/* Copy the relay's counters as of its last turn into *out. */
void orc_relay_thread_stats(struct orc_relay_thread *t,
			    struct orc_relay_stats *out);

/*
 * Let the relay learn topics[0..n) (copied) before its next turn, as
 * orc_relay_know_topics() does.
 */
void orc_relay_thread_know_topics(struct orc_relay_thread *t,
				  const char *const *topics, size_t n);

/*
 * True when the relay failed for good (a fenced producer, a missing
 * schema: orc_relay_turn() said ORC_FATAL) and the thread ended; *err
 * (may be NULL) gets the error, which the relay logged already.
 */
bool orc_relay_thread_failed(struct orc_relay_thread *t,
			     struct orc_error *err);

/* Stop the thread after its current turn, wait for it, free t (NULL ok). */
void orc_relay_thread_stop(struct orc_relay_thread *t);

#endif
