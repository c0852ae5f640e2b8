/*
 * cmd_run.c - `orchestrator run`: the worker, the relay and the timers in
 * one process; saga state on one thread.
 *
 * Each pump does bounded work per turn (a batch of events, a batch of due
 * timers) and the loop goes round them; the only wait is the consumer's
 * poll, kept short when another pump has work.  The relay, which touches
 * no saga state, turns on a thread of its own (relay_thread.h), so the
 * loop never waits for delivery reports; relay_thread = false puts it
 * back on the loop, its turns bounded.  Scale out by running more
 * processes: the consumer group shares partitions, relays share outbox
 * lanes, timers skip locked sagas.
 *
 * SIGTERM and SIGINT only set a flag; the loop then finishes the batch in
 * hand, lets the relay publish what is committed, leaves the group and
 * exits 0.  Transient failures (PostgreSQL or Kafka away) are logged and
 * retried with exponential backoff, reconnecting as needed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cmd_common.h"
#include "backoff.h"
#include "broker.h"
#include "commands.h"
#include "housekeeping.h"
#include "log.h"
#include "ops.h" /* ops: /healthz, /readyz, /metrics */
#include "relay.h"
#include "relay_thread.h"
#include "requests.h"
#include "store_saga.h"
#include "worker.h"

#define MAX_TOPICS 256
#define REFRESH_MS 5000 /* how often new definitions are picked up */
#define RELAY_DRAIN_MS 5000 /* at shutdown, for the batch in flight */
#define STATS_MS 10000

/* A failed turn waits 200 ms, then twice as long each time, up to 5 s. */
#define RETRY_FIRST_MS 200
#define RETRY_MAX_MS 5000

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct runner {
	struct orc_cmd cmd;
	bool role_worker, role_relay, role_timers, role_housekeeping;
	struct orc_worker *worker;
	struct orc_housekeeping *hk; /* NULL without timers or housekeeping */
	struct orc_requests *rq;     /* NULL without timers */
	struct orc_relay *relay;
	struct orc_relay_thread *relay_thread; /* NULL: the loop turns it */
	struct orc_relay_stats relay_stats;    /* a copy, for ops and stats */
	const char *topics[MAX_TOPICS];
	size_t n_topics;
	size_t n_defs;
	struct orc_backoff backoff; /* consecutive transient failures */
	int64_t backoff_until;
	struct orc_ops *ops; /* ops: HTTP endpoints; NULL when off */
};

static const char run_usage[] =
	"usage: orchestrator run [--roles worker,relay,timers,housekeeping]\n"
	"                        [--definitions F1,F2] [SETTINGS...]\n"
	"Consume events and replies, advance sagas, publish commands, fire\n"
	"timers and delete what is kept no longer (the timers role does that\n"
	"too) until SIGTERM or SIGINT.  --definitions loads (validates and\n"
	"stores) definition files first.  See 'orchestrator --help' for the\n"
	"settings.\n";

static bool
parse_roles(struct runner *r, const char *roles)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", roles);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "worker") == 0)
			r->role_worker = true;
		else if (strcmp(t, "relay") == 0)
			r->role_relay = true;
		else if (strcmp(t, "timers") == 0)
			r->role_timers = true;
		else if (strcmp(t, "housekeeping") == 0)
			r->role_housekeeping = true;
		else
			return false;
	}
	return r->role_worker || r->role_relay || r->role_timers ||
	       r->role_housekeeping;
}

/* Validate and store the --definitions files. */
static enum orc_status
load_files(struct runner *r, const char *list, struct orc_error *err)
{
	char buf[4096], *save = NULL;
	enum orc_status st = ORC_OK;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *f = strtok_r(buf, ",", &save); f && st == ORC_OK;
	     f = strtok_r(NULL, ",", &save)) {
		struct orc_definition_issues issues = {NULL, 0};
		struct orc_definition *def = NULL;
		bool created;

		st = orc_definition_load_file(f, &def, &issues, err);
		if (st == ORC_INVALID)
			orc_error_set(err, ORC_INVALID, "%s:%s: %s", f,
				      issues.n ? issues.v[0].pointer : "",
				      issues.n ? issues.v[0].message : "invalid");
		orc_definition_issues_finish(&issues);
		if (st == ORC_OK)
			st = orc_store_put_definition(r->cmd.store, def, &created,
						      err);
		if (st == ORC_OK)
			orc_log(ORC_LOG_INFO, created ? "definition loaded"
						      : "definition unchanged",
				ORC_LOG_STR("file", f),
				ORC_LOG_STR("definition", def->name),
				ORC_LOG_INT("version", def->version));
		orc_definition_destroy(def);
	}
	return st;
}

/* The archive topic, or NULL when archival is off. */
static const char *
archive_topic(const struct runner *r)
{
	const char *t = orc_config_str(&r->cmd.cfg, ORC_CFG_ARCHIVE_TOPIC);

	return t != NULL && t[0] != '\0' ? t : NULL;
}

/*
 * Create the topics the definitions name (and the reply and lifecycle
 * topics) if they are missing: a consumer, ours or a service's, only sees
 * a topic created after it subscribed at its next metadata refresh.  Not
 * fatal: where topics are provisioned by others, they exist.
 */
static void
ensure_topics(struct runner *r)
{
	const char *topics[MAX_TOPICS];
	char buf[ORC_CMD_TOPIC_MAX];
	const char *lifecycle = orc_cmd_lifecycle_topic(&r->cmd, buf,
							sizeof(buf));
	struct orc_error err;
	size_t n = orc_catalog_all_topics(r->cmd.cat, topics, MAX_TOPICS - 2);

	if (n > MAX_TOPICS - 2)
		n = MAX_TOPICS - 2;
	topics[n++] = orc_config_str(&r->cmd.cfg, ORC_CFG_REPLY_TOPIC);
	if (lifecycle != NULL)
		topics[n++] = lifecycle;
	if (archive_topic(r) != NULL && n < MAX_TOPICS)
		topics[n++] = archive_topic(r);
	if (orc_broker_ensure_topics(&r->cmd.cfg, topics, n, 10000, &err) !=
	    ORC_OK)
		orc_log(ORC_LOG_WARN, "topics not created", ORC_LOG_ERR(&err));
}

/*
 * Let the relay learn every topic commands and lifecycle events go to
 * before the first one.
 */
static void
relay_topics(struct runner *r)
{
	const char *topics[MAX_TOPICS];
	char buf[ORC_CMD_TOPIC_MAX];
	const char *lifecycle = orc_cmd_lifecycle_topic(&r->cmd, buf,
							sizeof(buf));
	size_t n = orc_catalog_all_topics(r->cmd.cat, topics, MAX_TOPICS - 1);

	if (n > MAX_TOPICS - 1)
		n = MAX_TOPICS - 1;
	if (lifecycle != NULL)
		topics[n++] = lifecycle;
	if (archive_topic(r) != NULL && n < MAX_TOPICS)
		topics[n++] = archive_topic(r);
	if (r->relay_thread != NULL)
		orc_relay_thread_know_topics(r->relay_thread, topics, n);
	else
		orc_relay_know_topics(r->relay, topics, n);
}

/* The relay's counters, as of now, into r->relay_stats. */
static void
copy_relay_stats(struct runner *r)
{
	if (r->relay_thread != NULL)
		orc_relay_thread_stats(r->relay_thread, &r->relay_stats);
	else if (r->relay != NULL)
		r->relay_stats = *orc_relay_get_stats(r->relay);
}

static void
collect_topics(struct runner *r)
{
	r->n_topics = orc_catalog_topics(r->cmd.cat, r->topics, MAX_TOPICS - 1);
	if (r->n_topics > MAX_TOPICS - 1)
		r->n_topics = MAX_TOPICS - 1;
	r->topics[r->n_topics++] =
		orc_config_str(&r->cmd.cfg, ORC_CFG_REPLY_TOPIC);
	r->n_defs = orc_catalog_count(r->cmd.cat);
}

/* Pick up definitions loaded by others; resubscribe when topics change. */
static enum orc_status
refresh(struct runner *r, struct orc_error *err)
{
	int skipped;
	enum orc_status st;

	st = orc_store_load_definitions(r->cmd.store, r->cmd.cat, &skipped, err);
	if (st != ORC_OK || orc_catalog_count(r->cmd.cat) == r->n_defs)
		return st;
	collect_topics(r);
	if (r->worker != NULL)
		ensure_topics(r);
	if (r->relay != NULL)
		relay_topics(r);
	orc_log(ORC_LOG_INFO, "definitions changed",
		ORC_LOG_UINT("definitions", r->n_defs),
		ORC_LOG_UINT("topics", r->n_topics));
	if (r->worker != NULL)
		st = orc_worker_subscribe(r->worker, r->topics, r->n_topics, err);
	return st;
}

/*
 * At start-up, PostgreSQL that is not there yet (restarting, or started
 * after us) is waited for with the loop's backoff, as a failed turn is
 * later: exiting would only make the supervisor restart us in a loop.
 * Only a transient failure is waited out; false when the caller must give
 * up (another class, or a stop was asked for).
 */
static bool
wait_at_start(struct runner *r, const char *what, const struct orc_error *err)
{
	int64_t delay;

	if (err->status != ORC_TRANSIENT || stop_requested)
		return false;
	delay = orc_backoff_next(&r->backoff);
	if (r->backoff.failures == 1 || r->backoff.failures % 20 == 0)
		orc_log(ORC_LOG_WARN, "waiting to start", ORC_LOG_STR("for", what),
			ORC_LOG_INT("failures", r->backoff.failures),
			ORC_LOG_INT("backoff_ms", delay), ORC_LOG_ERR(err));
	orc_clock_sleep_ms(delay, &stop_requested);
	return !stop_requested;
}

/* Deal with a failed turn: log once, back off, reconnect. */
static bool
failed(struct runner *r, const char *what, const struct orc_error *err)
{
	int64_t delay;

	if (err->status != ORC_TRANSIENT && err->status != ORC_CONFLICT) {
		orc_log(ORC_LOG_ERROR, "giving up", ORC_LOG_STR("role", what),
			ORC_LOG_STR("status", orc_status_name(err->status)),
			ORC_LOG_ERR(err));
		return false;
	}
	delay = orc_backoff_next(&r->backoff);
	if (r->backoff.failures == 1 || r->backoff.failures % 20 == 0)
		orc_log(ORC_LOG_WARN, "retrying after failure",
			ORC_LOG_STR("role", what),
			ORC_LOG_INT("failures", r->backoff.failures),
			ORC_LOG_INT("backoff_ms", delay), ORC_LOG_ERR(err));
	r->backoff_until = orc_clock_mono_ms() + delay;
	if (!orc_store_connected(r->cmd.store)) {
		struct orc_error rerr;

		if (orc_store_reconnect(r->cmd.store, &rerr) == ORC_OK)
			orc_log(ORC_LOG_INFO, "reconnected to postgresql");
	}
	return true;
}

static void
log_stats(struct runner *r)
{
	const struct orc_apply_stats *a = orc_apply_stats(r->cmd.ap);

	orc_log(ORC_LOG_INFO, "stats", ORC_LOG_UINT("applied", a->applied),
		ORC_LOG_UINT("ignored", a->ignored),
		ORC_LOG_UINT("duplicates", a->duplicates),
		ORC_LOG_UINT("dead", a->dead),
		ORC_LOG_UINT("commands", a->commands),
		ORC_LOG_UINT("timers", a->timers),
		ORC_LOG_UINT("completed", a->sagas_finished[ORC_SAGA_COMPLETED]),
		ORC_LOG_UINT("compensated",
			     a->sagas_finished[ORC_SAGA_COMPENSATED]),
		ORC_LOG_UINT("failed", a->sagas_finished[ORC_SAGA_FAILED]),
		ORC_LOG_UINT("stuck", a->sagas_finished[ORC_SAGA_STUCK]),
		ORC_LOG_UINT("published", r->relay_stats.published));
}

static int
loop(struct runner *r)
{
	struct orc_error err = {0};
	int64_t next_timers = 0, next_refresh = orc_clock_mono_ms() + REFRESH_MS;
	int64_t next_stats = orc_clock_mono_ms() + STATS_MS;
	int timer_batch = (int)orc_config_int(&r->cmd.cfg, ORC_CFG_TIMER_BATCH);
	int timer_poll = (int)orc_config_int(&r->cmd.cfg, ORC_CFG_TIMER_POLL_MS);

	while (!stop_requested) {
		int64_t now = orc_clock_mono_ms();
		bool busy = false;

		copy_relay_stats(r);
		orc_ops_turn(r->ops, now); /* ops: never waits */
		if (now < r->backoff_until) {
			orc_clock_sleep_ms(r->backoff_until - now < 100
						   ? r->backoff_until - now
						   : 100,
					   &stop_requested);
			continue;
		}
		if (r->relay_thread != NULL &&
		    orc_relay_thread_failed(r->relay_thread, NULL)) {
			/* logged by the relay, once */
			orc_log(ORC_LOG_ERROR, "giving up",
				ORC_LOG_STR("role", "relay"));
			return 1;
		}
		if (r->relay_thread == NULL && r->role_relay &&
		    orc_relay_wants_turn(r->relay, now)) {
			size_t published;

			/*
			 * The relay logs every failure itself, once, and backs
			 * off by itself (it declines turns until then); the rest
			 * of the loop goes on meanwhile.  Only a fatal one stops
			 * the process, without logging the error a second time.
			 */
			if (orc_relay_turn(r->relay, &published, &err) != ORC_OK &&
			    err.status == ORC_FATAL) {
				orc_log(ORC_LOG_ERROR, "giving up",
					ORC_LOG_STR("role", "relay"));
				return 1;
			}
			busy |= published > 0;
		}
		if (r->role_timers && now >= next_timers) {
			int fired;
			int64_t t0 = orc_clock_mono_us(); /* ops */

			if (orc_apply_timers(r->cmd.ap, orc_clock_wall_ms(), timer_batch,
					     &fired, &err) != ORC_OK) {
				if (!failed(r, "timers", &err))
					return 1;
				continue;
			}
			orc_ops_timers_done(r->ops, fired, t0); /* ops */
			next_timers = fired == timer_batch ? now : now + timer_poll;
			busy |= fired > 0;
		}
		if (r->hk != NULL && orc_housekeeping_wants_turn(r->hk, now)) {
			size_t deleted;

			if (orc_housekeeping_turn(r->hk, now, &deleted, &err) !=
			    ORC_OK) {
				if (!failed(r, "housekeeping", &err))
					return 1;
				continue;
			}
			busy |= deleted > 0;
		}
		if (r->rq != NULL) {
			size_t handled;

			if (orc_requests_turn(r->rq, now, &handled, &err) !=
			    ORC_OK) {
				if (!failed(r, "requests", &err))
					return 1;
				continue;
			}
			busy |= handled > 0;
		}
		if (r->role_worker) {
			size_t n;

			if (orc_worker_turn(r->worker, busy ? 0 : 20, &n, &err) !=
			    ORC_OK) {
				if (!failed(r, "worker", &err))
					return 1;
				continue;
			}
		} else if (!busy) {
			orc_clock_sleep_ms(10, &stop_requested);
		}
		orc_backoff_reset(&r->backoff);
		if (now >= next_refresh) {
			next_refresh = now + REFRESH_MS;
			if (refresh(r, &err) != ORC_OK && !failed(r, "refresh", &err))
				return 1;
		}
		if (now >= next_stats) {
			next_stats = now + STATS_MS;
			log_stats(r);
		}
	}
	return 0;
}

int
orc_cmd_run(int argc, char **argv)
{
	struct runner r;
	struct orc_error err = {0};
	struct sigaction sa;
	const char *files;
	int rc;

	if (orc_args_help(argc, argv, run_usage))
		return 0;
	memset(&r, 0, sizeof(r));
	orc_backoff_init(&r.backoff, RETRY_FIRST_MS, 2, RETRY_MAX_MS);
	rc = orc_cmd_init(&r.cmd, "run", &argc, argv, 0);
	if (rc == 0)
		rc = orc_args_none("run", run_usage, argc, argv);
	if (rc != 0)
		goto done;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (orc_store_connect(orc_config_str(&r.cmd.cfg, ORC_CFG_PG_DSN),
				 orc_config_str(&r.cmd.cfg, ORC_CFG_PG_SCHEMA),
				 &r.cmd.store, &err) != ORC_OK) {
		if (!wait_at_start(&r, "postgresql", &err)) {
			rc = stop_requested ? 0 : orc_cmd_fail(&r.cmd, &err);
			goto done;
		}
	}
	if (!parse_roles(&r, orc_config_str(&r.cmd.cfg, ORC_CFG_ROLES))) {
		fprintf(stderr, "orchestrator run: invalid roles \"%s\": expected "
				"worker, relay, timers and/or housekeeping\n",
			orc_config_str(&r.cmd.cfg, ORC_CFG_ROLES));
		rc = 2;
		goto done;
	}
	files = orc_config_str(&r.cmd.cfg, ORC_CFG_DEFINITIONS);
	if (files != NULL && load_files(&r, files, &err) != ORC_OK) {
		rc = orc_cmd_fail(&r.cmd, &err);
		goto done;
	}
	rc = orc_cmd_open(&r.cmd, ORC_CMD_APPLY);
	if (rc != 0) {
		fprintf(stderr, "HINT: has the schema been created with "
				"`orchestrator migrate`?\n");
		goto done;
	}
	collect_topics(&r);
	if (r.role_worker)
		ensure_topics(&r);
	if ((r.role_timers || r.role_housekeeping) &&
	    orc_housekeeping_create(&r.cmd.cfg, r.cmd.store, r.cmd.cat, &r.hk,
				    &err) != ORC_OK) {
		rc = orc_cmd_fail(&r.cmd, &err);
		goto done;
	}
	orc_apply_controls_refresh(r.cmd.ap, orc_config_int(&r.cmd.cfg,
					ORC_CFG_CONTROLS_REFRESH_MS));
	if (r.role_timers &&
	    orc_requests_create(&r.cmd.cfg, r.cmd.store, r.cmd.ap, &r.rq,
				&err) != ORC_OK) {
		rc = orc_cmd_fail(&r.cmd, &err);
		goto done;
	}
	if (r.role_worker &&
	    orc_worker_create(&r.cmd.cfg, r.cmd.ap, r.topics, r.n_topics,
			      &r.worker, &err) != ORC_OK) {
		rc = orc_cmd_fail(&r.cmd, &err);
		goto done;
	}
	while (r.role_relay &&
	       orc_relay_create(&r.cmd.cfg, NULL, &r.relay, &err) != ORC_OK) {
		if (!wait_at_start(&r, "relay", &err)) {
			rc = stop_requested ? 0 : orc_cmd_fail(&r.cmd, &err);
			goto done;
		}
	}
	orc_backoff_reset(&r.backoff);
	if (r.relay != NULL)
		relay_topics(&r);
	if (r.relay != NULL &&
	    orc_config_bool(&r.cmd.cfg, ORC_CFG_RELAY_THREAD) &&
	    orc_relay_thread_start(r.relay, &r.relay_thread, &err) != ORC_OK) {
		rc = orc_cmd_fail(&r.cmd, &err);
		goto done;
	}
	copy_relay_stats(&r);
	/* ops: the HTTP endpoints (http_port 0 = off) */
	if (orc_config_int(&r.cmd.cfg, ORC_CFG_HTTP_PORT) != 0) {
		struct orc_ops_sources src = {
		    r.cmd.store, r.cmd.ap, r.worker,
		    r.relay ? &r.relay_stats : NULL,
		    orc_config_int(&r.cmd.cfg, ORC_CFG_READY_KAFKA_GRACE_MS),
		    orc_config_str(&r.cmd.cfg, ORC_CFG_HTTP_ADDRESS),
		    orc_config_str(&r.cmd.cfg, ORC_CFG_HTTP_TOKEN),
		    r.hk ? orc_housekeeping_get_stats(r.hk) : NULL,
		    r.rq ? orc_requests_get_stats(r.rq) : NULL};
		int port = (int)orc_config_int(&r.cmd.cfg, ORC_CFG_HTTP_PORT);

		if (orc_ops_create(&src, port, &r.ops, &err) != ORC_OK) {
			if (err.status != ORC_TRANSIENT) {
				rc = orc_cmd_fail(&r.cmd, &err);
				goto done;
			}
			/* port taken: run on, without the endpoints */
			orc_log(ORC_LOG_ERROR, "http endpoints not started",
				ORC_LOG_INT("port", port), ORC_LOG_ERR(&err));
		}
	}
	orc_log(ORC_LOG_INFO, "running",
		ORC_LOG_STR("roles", orc_config_str(&r.cmd.cfg, ORC_CFG_ROLES)),
		ORC_LOG_UINT("definitions", r.n_defs),
		ORC_LOG_UINT("topics", r.n_topics),
		ORC_LOG_STR("group", orc_config_str(&r.cmd.cfg, ORC_CFG_GROUP)),
		ORC_LOG_INT("http_port", orc_ops_port(r.ops)));
	rc = loop(&r);
	orc_log(ORC_LOG_INFO, "stopping",
		ORC_LOG_STR("reason", rc == 0 ? "signal" : "error"));
	copy_relay_stats(&r);
	log_stats(&r);
done:
	orc_ops_destroy(r.ops); /* ops: stop answering probes first */
	/* The worker finishes its batch; the relay publishes what it holds. */
	orc_worker_destroy(r.worker);
	orc_housekeeping_destroy(r.hk);
	orc_requests_destroy(r.rq);
	orc_relay_thread_stop(r.relay_thread); /* the relay is ours again */
	if (r.relay != NULL) {
		size_t published;

		if (rc == 0 && orc_relay_finish(r.relay, RELAY_DRAIN_MS,
						&published, &err) != ORC_OK)
			orc_log(ORC_LOG_WARN, "relay not drained",
				ORC_LOG_ERR(&err));
		orc_relay_destroy(r.relay);
	}
	orc_cmd_finish(&r.cmd);
	return rc;
}
