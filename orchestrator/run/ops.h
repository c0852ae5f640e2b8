/*
 * ops.h - what `orchestrator run` tells operators over HTTP: /healthz,
 * /readyz and /metrics on http_port (0 = off).
 *
 * The glue between the processes and the two pure-ish pieces below it:
 * it reads the counters the apply path, the worker and the relay keep
 * anyway, reads a few gauges from the database (at most every 5 s),
 * pings PostgreSQL every 2 s for readiness, and serves all that with the
 * non-blocking server of http.h from the run loop's thread.
 *
 *   /healthz  200 "ok" while the loop turns (it is what answers)
 *   /readyz   200 when PostgreSQL answered the last ping and a Kafka
 *             broker was up within kafka_grace_ms; 503 with the reason
 *   /metrics  Prometheus text format 0.0.4 (metrics.h)
 *
 * Not thread-safe: the run loop's thread calls everything.
 */
#ifndef ORC_OPS_H
#define ORC_OPS_H

#include <stdint.h>

#include "apply.h"
#include "error.h"
#include "housekeeping.h"
#include "relay.h"
#include "requests.h"
#include "store.h"
#include "worker.h"

/* What the endpoints read; all borrowed, and they must outlive it. */
struct orc_ops_sources {
	struct orc_store *store;   /* pinged, and read for the gauges */
	struct orc_apply *ap;	   /* event, timer and saga counters */
	struct orc_worker *worker; /* NULL without the worker role */
	/* NULL without the relay role; the loop keeps the copy current */
	const struct orc_relay_stats *relay_stats;
	int64_t kafka_grace_ms;	   /* /readyz: how long no broker may be up */
	const char *http_address;  /* NULL: every interface */
	const char *http_token;	   /* NULL: only health and metrics */
	/* NULL without the timers or housekeeping role */
	const struct orc_housekeeping_stats *housekeeping;
	/* NULL without the timers role */
	const struct orc_requests_stats *requests;
};

struct orc_ops;

/*
 * Serve on src->http_address, port with src (copied; what it points to is
 * borrowed).  *out is new; free with orc_ops_destroy().  Pings
 * PostgreSQL once before returning, so /readyz is right from the start.
 * ORC_TRANSIENT when the port is in use.
 */
enum orc_status orc_ops_create(const struct orc_ops_sources *src, int port,
			       struct orc_ops **out, struct orc_error *err);

/* Close the port and free; accepts NULL. */
void orc_ops_destroy(struct orc_ops *ops);

/* The port served (useful when 0 was asked for: a free one). */
int orc_ops_port(const struct orc_ops *ops);

/*
 * One bounded turn at now_ms (CLOCK_MONOTONIC milliseconds): note the
 * worker's new batches, ping PostgreSQL when due (reconnecting when the
 * connection is gone), answer pending HTTP requests.  Never waits for a
 * client.  Call it every loop turn, also while the loop backs off.
 * Accepts NULL (HTTP off).
 */
void orc_ops_turn(struct orc_ops *ops, int64_t now_ms);

/*
 * A timer turn that started at started_us (orc_clock_mono_us()) fired
 * fired sagas in one transaction: observed in
 * orchestrator_transaction_seconds{kind="timers"} when fired > 0.
 * Accepts NULL.
 */
void orc_ops_timers_done(struct orc_ops *ops, int fired, int64_t started_us);

#endif
