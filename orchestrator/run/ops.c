/*
 * ops.c - /healthz, /readyz and /metrics for `orchestrator run`.
 *
 * Counters are copied from the stats the processes keep (apply, worker,
 * relay) when /metrics is scraped, so the hot path pays nothing for them.
 * The two histograms need every observation, so they are fed as things
 * happen: batch sizes from the worker's counters each loop turn, timer
 * transaction times from the loop.  Database gauges (unfinished sagas by
 * status, due timers, the outbox) cost a round trip and are cached for
 * DB_REFRESH_MS; when they cannot be read they are left out of the
 * scrape (absent, not stale).  Readiness rests on a ping every PING_MS:
 * a scrape or a probe never waits for more than one of these queries.
 *
 * Several processes share one database, so every database gauge is the
 * same in all of them: aggregate those with max(), the counters with
 * sum().
 */
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "clock.h"
#include "duration.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "store_metrics.h"
#include "store_outbox.h"
#include "version.h"

#define PING_MS 2000	    /* readiness: how often PostgreSQL is pinged */
#define DB_REFRESH_MS 5000  /* database gauges: cached this long */
#define BATCHES_PER_TURN 64 /* most batch observations taken per turn */

static const double batch_bounds[] = {1,   2,	5,    10,   20,	  50,	100,
				      200, 500, 1000, 2000, 5000, 10000};
static const double seconds_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
					0.025,	0.05,  0.1,    0.25,  0.5,
					1,	2.5,   5,      10};
#define N_BOUNDS(a) (sizeof(a) / sizeof((a)[0]))

struct orc_ops {
	struct orc_ops_sources src;
	struct orc_http *http;
	struct orc_metrics *reg;

	/* readiness */
	int64_t next_ping;
	bool pg_ok;
	char pg_reason[ORC_ERROR_MSG_MAX];
	bool kafka_ok;	    /* as last answered, to log the change once */
	int64_t started_ms; /* CLOCK_MONOTONIC; Kafka's grace counts from it */

	/* histograms, fed as things happen */
	uint64_t seen_batches, seen_batch_sum, seen_apply_us;
	struct orc_metric *batch_size;
	struct orc_metric *tx_events;
	struct orc_metric *tx_timers;

	/* database gauges */
	int64_t db_next;
};

/* The help text of the event counters. */
#define EVENTS_HELP(what) "Events " what " by this process since it started"

/* ---- readiness ---- */

static void
ping(struct orc_ops *o)
{
	struct orc_error err = {0};
	bool was = o->pg_ok;

	if (!orc_store_connected(o->src.store) &&
	    orc_store_reconnect(o->src.store, &err) != ORC_OK) {
		o->pg_ok = false;
	} else {
		o->pg_ok = orc_store_ping(o->src.store, &err) == ORC_OK;
	}
	if (o->pg_ok) {
		o->pg_reason[0] = '\0';
		if (!was)
			orc_log(ORC_LOG_INFO, "ready", ORC_LOG_STR("postgresql", "ok"));
		return;
	}
	/* one line: libpq's messages span several */
	snprintf(o->pg_reason, sizeof(o->pg_reason), "%s", err.message);
	for (char *p = o->pg_reason; *p; p++)
		if (*p == '\n' || *p == '\t' || *p == '\r')
			*p = ' ';
	if (was)
		orc_log(ORC_LOG_WARN, "not ready", ORC_LOG_STR("postgresql", "down"),
			ORC_LOG_ERR(&err));
}

static void
on_healthz(void *ctx, struct orc_http_response *resp)
{
	(void)ctx;
	orc_http_reply(resp, 200, NULL, "ok\n");
}

/*
 * Kafka is reachable when the last statistics of the worker's consumer
 * (every 5 s) saw a broker of the cluster connected; before the first
 * statistics, when it has partitions.  (An assignment alone proves little
 * later: it outlives the brokers until the session times out.)  With no
 * broker up, the process stays ready for kafka_grace_ms after the last
 * statistics that saw one (or after the start), since librdkafka
 * reconnects by itself and a broker restart takes seconds; then 503.
 * Processes without the worker role do not check Kafka.
 */
static bool
kafka_state(struct orc_ops *o, char *text, size_t len)
{
	struct orc_consumer_health h;
	int64_t now = orc_clock_mono_ms(), down_ms;
	char down[32], grace[32];
	bool ok;

	if (o->src.worker == NULL) {
		snprintf(text, len, "not checked (no worker role)");
		return true;
	}
	orc_consumer_health(orc_worker_consumer(o->src.worker), &h);
	if (h.stats_ms == 0) {
		snprintf(text, len, "%s (%d partitions assigned)",
			 h.assigned > 0 ? "ok" : "connecting", h.assigned);
		return h.assigned > 0;
	}
	if (h.brokers_up > 0) {
		snprintf(text, len, "ok (%d broker%s up, %d partitions assigned)",
			 h.brokers_up, h.brokers_up == 1 ? "" : "s",
			 h.assigned);
		o->kafka_ok = true;
		return true;
	}
	down_ms = now - (h.up_ms != 0 ? h.up_ms : o->started_ms);
	ok = down_ms <= o->src.kafka_grace_ms;
	orc_duration_format_rough(down_ms, down, sizeof(down));
	orc_duration_format(o->src.kafka_grace_ms, grace, sizeof(grace));
	snprintf(text, len, "no broker up for %s (%s %s)", down,
		 ok ? "not ready after" : "grace", grace);
	if (o->kafka_ok && !ok)
		orc_log(ORC_LOG_WARN, "not ready", ORC_LOG_STR("kafka", text));
	o->kafka_ok = ok;
	return ok;
}

static void
on_readyz(void *ctx, struct orc_http_response *resp)
{
	struct orc_ops *o = ctx;
	char body[ORC_ERROR_MSG_MAX + 256];

	char kafka[128];
	bool kafka_ok = kafka_state(o, kafka, sizeof(kafka));
	bool ready = o->pg_ok && kafka_ok;

	snprintf(body, sizeof(body), "%s\npostgresql: %s\nkafka: %s\n",
		 ready ? "ready" : "not ready",
		 o->pg_ok	   ? "ok"
		 : o->pg_reason[0] ? o->pg_reason
				   : "not connected",
		 kafka);
	orc_http_reply(resp, ready ? 200 : 503, NULL, body);
}

/* ---- metrics ---- */

static void
set_counter(struct orc_ops *o, const char *name, const char *help,
	    const char *const *labels, uint64_t value)
{
	orc_metric_set(orc_metrics_counter(o->reg, name, help, labels),
		       (double)value);
}

static void
set_gauge(struct orc_ops *o, const char *name, const char *help,
	  const char *const *labels, double value)
{
	orc_metric_set(orc_metrics_gauge(o->reg, name, help, labels), value);
}

static const char *const DB_GAUGES[] = {
    "orchestrator_sagas",
    "orchestrator_timer_backlog",
    "orchestrator_timer_lag_seconds",
    "orchestrator_outbox_backlog",
    "orchestrator_outbox_lag_seconds",
    "orchestrator_outbox_quarantined",
    "orchestrator_parked_events",
};

/* Copy the processes' counters into the registry. */
static void
update_counters(struct orc_ops *o)
{
	const struct orc_apply_stats *s = orc_apply_stats(o->src.ap);
	const struct orc_worker_stats *w =
	    o->src.worker ? orc_worker_stats(o->src.worker) : NULL;
	const struct orc_relay_stats *r = o->src.relay_stats;

	set_counter(o, "orchestrator_events_consumed_total",
		    EVENTS_HELP("consumed from Kafka"), NULL,
		    w ? w->consumed : 0);
	set_counter(o, "orchestrator_events_applied_total",
		    EVENTS_HELP("that changed a saga"), NULL, s->applied);
	set_counter(o, "orchestrator_events_ignored_total",
		    EVENTS_HELP("that matched a saga with no use for them"),
		    NULL, s->ignored);
	set_counter(o, "orchestrator_events_deduplicated_total",
		    EVENTS_HELP("found already applied (inbox, or a step's "
				"reply ids) and skipped"),
		    NULL, s->duplicates);
	set_counter(o, "orchestrator_events_parked_total",
		    EVENTS_HELP("awaited by a business key with no saga yet, "
				"parked"),
		    NULL, s->parked);
	set_counter(o, "orchestrator_parked_events_taken_total",
		    "Parked events taken by a saga that started with their key",
		    NULL, s->parked_taken);
	set_counter(o, "orchestrator_events_dead_lettered_total",
		    EVENTS_HELP("sent to the dead-letter table and topic"),
		    NULL, s->dead);
	set_counter(o, "orchestrator_dead_letters_refused_total",
		    "Dead letters kept in the table whose copy the dead-letter "
		    "topic refused for good, even without key, value and headers",
		    NULL, w ? w->dead_refused : 0);
	set_counter(o, "orchestrator_commands_published_total",
		    "Outbox rows (commands, lifecycle and archive events) "
		    "acknowledged by Kafka and deleted by this process's relay",
		    NULL, r ? r->published : 0);
	set_counter(o, "orchestrator_commands_publish_failures_total",
		    "Command deliveries that failed or were not confirmed "
		    "(published again later)",
		    NULL, r ? r->failed : 0);
	set_counter(o, "orchestrator_outbox_quarantined_total",
		    "Outbox rows this process's relay moved to outbox_quarantine "
		    "(refused by the broker for good, or after such a row of "
		    "their saga)",
		    NULL, r ? r->quarantined : 0);
	set_counter(o, "orchestrator_batches_overlapped_total",
		    "Batches run and sent while the batch before them was "
		    "committing (apply_overlap)",
		    NULL, w ? w->overlapped : 0);
	set_counter(o, "orchestrator_batches_overlap_waits_total",
		    "Batches that waited for the commit before them, since they "
		    "had an event for the key of a saga it started",
		    NULL, w ? w->overlap_blocked : 0);
	set_counter(o, "orchestrator_batches_overlap_failures_total",
		    "Batches whose early run or send failed while the batch "
		    "before them committed (applied again in their turn)",
		    NULL, w ? w->overlap_failed : 0);
	set_counter(o, "orchestrator_timers_fired_total",
		    "Sagas woken by a due timer (timeouts, retries, delays) by "
		    "this process",
		    NULL, s->timers);
	for (int i = 0; i < ORC_SAGA_STATUS_COUNT; i++) {
		const char *labels[] = {"status", NULL, NULL};

		if (!orc_saga_status_is_final((enum orc_saga_status)i))
			continue;
		labels[1] = orc_saga_status_name((enum orc_saga_status)i);
		set_counter(
		    o, "orchestrator_sagas_finished_total",
		    "Sagas that reached a final status in a transaction "
		    "of this process, by status",
		    labels, s->sagas_finished[i]);
	}
	for (int k = 0; o->src.housekeeping != NULL &&
			k < ORC_HOUSEKEEPING_KIND_COUNT; k++) {
		const char *labels[] = {"kind", NULL, NULL};

		labels[1] = orc_housekeeping_kind_name(k);
		set_counter(o, "orchestrator_housekeeping_deleted_total",
			    "Rows housekeeping deleted in this process, by kind "
			    "(finished sagas with their steps and history, "
			    "inbox ids, dead letters)",
			    labels, o->src.housekeeping->deleted[k]);
	}
	if (o->src.housekeeping != NULL)
		set_counter(o, "orchestrator_housekeeping_archived_total",
			    "saga.archived events housekeeping wrote to the "
			    "outbox in this process, one per deleted saga "
			    "while archive_topic is set",
			    NULL, o->src.housekeeping->archived);
	set_counter(o, "orchestrator_triggers_held_total",
		    "Trigger events held by this process because their "
		    "definition was paused or at its max_running",
		    NULL, s->held);
	for (int k = 0; o->src.requests != NULL && k < 3; k++) {
		static const char *const states[] = {"done", "refused",
						     "failed"};
		const struct orc_requests_stats *q = o->src.requests;
		const uint64_t v[] = {q->done, q->refused, q->failed};
		const char *labels[] = {"state", states[k], NULL};

		set_counter(o, "orchestrator_operator_requests_total",
			    "Operator requests (operator_requests rows) this "
			    "process decided, by outcome",
			    labels, v[k]);
	}
	if (o->src.requests != NULL)
		set_counter(o, "orchestrator_held_triggers_started_total",
			    "Held triggers whose saga this process started "
			    "once their definition had room",
			    NULL, o->src.requests->released);
	set_gauge(o, "orchestrator_postgresql_up",
		  "1 when PostgreSQL answered the last readiness ping", NULL,
		  o->pg_ok ? 1 : 0);
}

/* Read the database gauges when the cache is stale. */
static void
update_db_gauges(struct orc_ops *o, int64_t now_ms)
{
	struct orc_store_gauges g;
	struct orc_outbox_backlog ob;
	struct orc_error err = {0};
	static const char *const statuses[] = {"running", "compensating",
					       "stuck"};

	if (now_ms < o->db_next)
		return;
	o->db_next = now_ms + DB_REFRESH_MS;
	if (!o->pg_ok ||
	    orc_store_read_gauges(o->src.store, &g, &err) != ORC_OK ||
	    orc_store_outbox_backlog(o->src.store, &ob, &err) != ORC_OK) {
		for (size_t i = 0; i < N_BOUNDS(DB_GAUGES); i++)
			orc_metrics_remove(o->reg, DB_GAUGES[i]);
		return;
	}
	for (size_t i = 0; i < N_BOUNDS(statuses); i++) {
		const char *labels[] = {"status", statuses[i], NULL};
		int64_t v = i == 0   ? g.running
			    : i == 1 ? g.compensating
				     : g.stuck;

		set_gauge(
		    o, "orchestrator_sagas",
		    "Unfinished sagas in the database, by status (read at "
		    "most every 5 s)",
		    labels, (double)v);
	}
	set_gauge(o, "orchestrator_timer_backlog",
		  "Sagas whose timer is due and not fired yet (counted up to "
		  "100000)",
		  NULL, (double)g.timers_due);
	set_gauge(o, "orchestrator_timer_lag_seconds",
		  "Age of the oldest due timer not fired yet; 0 when none",
		  NULL, (double)g.timer_lag_ms / 1000.0);
	set_gauge(o, "orchestrator_parked_events",
		  "Events parked for a saga that has not started yet (view "
		  "parked_event_summary; counted up to 100000)",
		  NULL, (double)g.parked);
	set_gauge(o, "orchestrator_outbox_backlog",
		  "Commands in the outbox not yet acknowledged by Kafka", NULL,
		  (double)ob.rows);
	set_gauge(o, "orchestrator_outbox_lag_seconds",
		  "Age of the oldest command in the outbox; 0 when empty", NULL,
		  (double)ob.oldest_age_ms / 1000.0);
	set_gauge(o, "orchestrator_outbox_quarantined",
		  "Commands in outbox_quarantine, never published unless an "
		  "operator moves them back (view quarantined_commands)",
		  NULL, (double)ob.quarantined);
}

static void
add_lag(void *ctx, const char *topic, int32_t partition, int64_t lag)
{
	struct orc_ops *o = ctx;
	char part[16];
	const char *labels[] = {"topic", topic, "partition", part, NULL};

	snprintf(part, sizeof(part), "%d", (int)partition);
	set_gauge(o, "orchestrator_consumer_lag",
		  "Messages behind the end of each partition assigned to this "
		  "process (librdkafka statistics, every 5 s)",
		  labels, (double)lag);
}

static void
on_metrics(void *ctx, struct orc_http_response *resp)
{
	struct orc_ops *o = ctx;
	struct orc_error err;
	char *text;
	size_t len;

	update_counters(o);
	update_db_gauges(o, orc_clock_mono_ms());
	orc_metrics_remove(o->reg, "orchestrator_consumer_lag");
	if (o->src.worker != NULL)
		orc_consumer_each_lag(orc_worker_consumer(o->src.worker),
				      add_lag, o);
	if (orc_metrics_render(o->reg, &text, &len, &err) != ORC_OK) {
		orc_http_reply(resp, 500, NULL, "out of memory\n");
		return;
	}
	orc_http_reply_take(resp, 200, ORC_METRICS_CONTENT_TYPE, text, len);
}

/* ---- the endpoints ---- */

/* Create every series that is there from the start, in rendering order. */
static bool
register_metrics(struct orc_ops *o)
{
	const char *version[] = {"version", ORC_VERSION, NULL};
	const char *timers[] = {"kind", "timers", NULL};
	const char *events[] = {"kind", "events", NULL};

	set_gauge(o, "orchestrator_build_info",
		  "Always 1; the version label is the orchestrator's", version,
		  1);
	update_counters(o);
	o->batch_size = orc_metrics_histogram(
	    o->reg, "orchestrator_batch_size",
	    "Events applied per worker transaction (batch)", NULL, batch_bounds,
	    N_BOUNDS(batch_bounds));
	o->tx_events = orc_metrics_histogram(
	    o->reg, "orchestrator_transaction_seconds",
	    "Duration of apply transactions, by what they applied", events,
	    seconds_bounds, N_BOUNDS(seconds_bounds));
	o->tx_timers = orc_metrics_histogram(
	    o->reg, "orchestrator_transaction_seconds",
	    "Duration of apply transactions, by what they applied", timers,
	    seconds_bounds, N_BOUNDS(seconds_bounds));
	return o->batch_size != NULL && o->tx_events != NULL &&
	       o->tx_timers != NULL;
}

enum orc_status
orc_ops_create(const struct orc_ops_sources *src, int port,
	       struct orc_ops **out, struct orc_error *err)
{
	struct orc_ops *o = calloc(1, sizeof(*o));
	struct orc_http_route routes[3];
	enum orc_status st;

	*out = NULL;
	if (o == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	o->src = *src;
	o->reg = orc_metrics_create();
	if (o->reg == NULL || !register_metrics(o)) {
		orc_ops_destroy(o);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	routes[0] = (struct orc_http_route){"/healthz", on_healthz, o};
	routes[1] = (struct orc_http_route){"/readyz", on_readyz, o};
	routes[2] = (struct orc_http_route){"/metrics", on_metrics, o};
	st = orc_http_create(src->http_address, port, src->http_token, routes,
			     3, &o->http, err);
	if (st != ORC_OK) {
		orc_ops_destroy(o);
		return st;
	}
	if (o->src.worker != NULL) {
		const struct orc_worker_stats *w =
		    orc_worker_stats(o->src.worker);

		o->seen_batches = w->batches;
		o->seen_batch_sum = w->batch_sum;
		o->seen_apply_us = w->apply_us_sum;
	}
	o->kafka_ok = true;
	o->started_ms = orc_clock_mono_ms();
	o->pg_ok = true; /* so that a failed first ping is logged */
	ping(o);
	o->next_ping = orc_clock_mono_ms() + PING_MS;
	*out = o;
	return ORC_OK;
}

void
orc_ops_destroy(struct orc_ops *o)
{
	if (o == NULL)
		return;
	orc_http_destroy(o->http);
	orc_metrics_destroy(o->reg);
	free(o);
}

int
orc_ops_port(const struct orc_ops *o)
{
	return o ? orc_http_port(o->http) : 0;
}

/*
 * The worker's batches since the last turn.  Usually one: a turn applies
 * one batch, or two when a rebalance finished the batch in hand; several
 * at once share the mean size.
 */
static void
observe_batches(struct orc_ops *o)
{
	const struct orc_worker_stats *w;
	uint64_t n, sum, us;

	if (o->src.worker == NULL)
		return;
	w = orc_worker_stats(o->src.worker);
	if (w->batches <= o->seen_batches)
		return;
	n = w->batches - o->seen_batches;
	sum = w->batch_sum - o->seen_batch_sum;
	us = w->apply_us_sum - o->seen_apply_us;
	if (n == 1) {
		orc_metric_observe(o->batch_size, (double)w->last_batch);
		orc_metric_observe(o->tx_events,
				   (double)w->last_apply_us / 1e6);
	} else {
		for (uint64_t i = 0; i < n && i < BATCHES_PER_TURN; i++) {
			orc_metric_observe(o->batch_size,
					   (double)sum / (double)n);
			orc_metric_observe(o->tx_events,
					   (double)us / (double)n / 1e6);
		}
	}
	o->seen_batches = w->batches;
	o->seen_batch_sum = w->batch_sum;
	o->seen_apply_us = w->apply_us_sum;
}

void
orc_ops_turn(struct orc_ops *o, int64_t now_ms)
{
	if (o == NULL)
		return;
	observe_batches(o);
	if (now_ms >= o->next_ping) {
		ping(o);
		o->next_ping = now_ms + PING_MS;
	}
	orc_http_poll(o->http, now_ms);
}

void
orc_ops_timers_done(struct orc_ops *o, int fired, int64_t started_us)
{
	if (o == NULL || fired <= 0)
		return;
	orc_metric_observe(o->tx_timers,
			   (double)(orc_clock_mono_us() - started_us) / 1e6);
}
