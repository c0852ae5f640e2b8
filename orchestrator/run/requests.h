/*
 * requests.h - the pump that applies operator requests made in SQL and
 * starts the sagas of held triggers.
 *
 * Processes with the timers role turn it on their loop.  A turn, when a
 * NOTIFY on orchestrator_requests came (it LISTENs on the loop's own
 * connection) or request_poll_ms after the last one, applies up to
 * request_batch pending rows of operator_requests, oldest first, each
 * through the engine in a transaction of its own (orc_apply_operator),
 * with "by" the database role that inserted it and action_id
 * "req-<id>", and writes the outcome back to the row; then it starts the
 * sagas of up to request_batch held triggers (held_triggers) of
 * definitions that are not paused and have room, oldest first.
 *
 * Several processes share the work with no leader (store_requests.h):
 * a request is applied at most once and a held trigger starts one saga,
 * whatever crashes.
 *
 * Not thread-safe: the loop's thread calls everything.
 */
#ifndef ORC_REQUESTS_H
#define ORC_REQUESTS_H

#include <stddef.h>
#include <stdint.h>

#include "apply.h"
#include "config.h"
#include "error.h"
#include "store.h"

/* What this process did since it started. */
struct orc_requests_stats {
	uint64_t done;    /* requests applied */
	uint64_t refused; /* the saga's state did not allow them */
	uint64_t failed;  /* no such saga, a malformed action */
	uint64_t released; /* held triggers whose saga started */
	uint64_t dropped;  /* held triggers whose key had its saga already */
};

struct orc_requests;

/*
 * A pump with cfg's settings over store and ap (all borrowed; they must
 * outlive it; ap works on store).  *out is new; free with
 * orc_requests_destroy().
 */
enum orc_status orc_requests_create(const struct orc_config *cfg,
				    struct orc_store *store,
				    struct orc_apply *ap,
				    struct orc_requests **out,
				    struct orc_error *err);

/* Accepts NULL. */
void orc_requests_destroy(struct orc_requests *rq);

/*
 * One turn at now_ms (CLOCK_MONOTONIC milliseconds): read notifications
 * without blocking, and when one came or the poll is due, a batch of
 * requests and one of held triggers.  *n is how many it applied or
 * started.  ORC_TRANSIENT: the request or trigger in hand is left for
 * later (to this process or another), the caller backs off.
 */
enum orc_status orc_requests_turn(struct orc_requests *rq, int64_t now_ms,
				  size_t *n, struct orc_error *err);

/* The counters (borrowed; updated by every turn). */
const struct orc_requests_stats *
orc_requests_get_stats(const struct orc_requests *rq);

#endif
