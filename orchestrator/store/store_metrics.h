/*
 * store_metrics.h - the gauges that only the database knows: how many
 * sagas are unfinished, by status, and how many timers are due and not
 * fired yet.  For /metrics; read at most every few seconds.
 *
 * Every count here runs on an index: the unfinished statuses on the
 * partial index of unfinished sagas, due timers on the wake-up index, and
 * the due and parked counts stop at ORC_STORE_TIMERS_DUE_CAP, so a scrape
 * stays cheap however many sagas the tables hold.  Finished sagas are not counted
 * here (that would scan the whole table): their rate is the counter
 * orchestrator_sagas_finished_total.
 */
#ifndef ORC_STORE_METRICS_H
#define ORC_STORE_METRICS_H

#include <stdint.h>

#include "error.h"
#include "store.h"

#define ORC_STORE_TIMERS_DUE_CAP 100000

struct orc_store_gauges {
	int64_t running;      /* sagas with status running */
	int64_t compensating; /* ... compensating */
	int64_t stuck;	      /* ... stuck (an operator must act) */
	int64_t timers_due;   /* sagas whose wake-up is due (at most the cap) */
	int64_t timer_lag_ms; /* now() - the oldest due wake-up; 0 when none */
	int64_t parked;       /* parked events (at most the cap) */
};

/*
 * Read the gauges in one statement (outside any transaction, or inside
 * the caller's).  ORC_TRANSIENT when the connection is lost.
 */
enum orc_status orc_store_read_gauges(struct orc_store *store,
				      struct orc_store_gauges *out,
				      struct orc_error *err);

#endif
