/*
 * itest_http.c - the health and metrics endpoints of a real `orchestrator
 * run`, scraped over HTTP as Kubernetes and Prometheus would.
 *
 * - A saga end to end: /healthz and /readyz answer 200, /metrics is the
 *   Prometheus text format, and after `orchestrator start` and a responder
 *   answering the command, the counters moved as they should (consumed,
 *   applied, commands published, sagas_finished{status="completed"}).
 * - PostgreSQL going away and coming back: /readyz turns 503 with the
 *   reason while /healthz stays 200, then 200 again.  Then Kafka: the
 *   body counts the one broker of the stack once, and with the broker
 *   stopped /readyz turns 503 after ready_kafka_grace_ms (not before),
 *   then 200 again when it is back.  This test stops the
 *   database of a stack it starts itself (deploy/local/stack.sh run, tied
 *   to a pipe, so it goes away with the test whatever happens): it never
 *   stops a database that someone else uses.
 *
 * Each test is a scene of its own (harness.h): database, topics, group and
 * reply topic.
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "harness.h"

#define STACK_SH ORC_SOURCE_DIR "/deploy/local/stack.sh"

/* ---- a tiny HTTP client ---- */

struct http_reply {
	int status; /* -1: no answer */
	char head[2048];
	char body[65536];
};

static void
http_get(int port, const char *path, struct http_reply *r)
{
	r->status = orc_it_http_get_head(port, path, 5000, r->head,
					 sizeof(r->head), r->body,
					 sizeof(r->body));
}

/*
 * Every line of ours in a ORC_LOG_FORMAT=json log is one JSON object with
 * ts, level and msg (librdkafka's own lines start with '%'); at least
 * min_lines of them.
 */
static void
check_json_log(const char *path, int min_lines)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		json_error_t jerr;
		json_t *rec;

		if (line[0] == '%')
			continue;
		rec = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
		ck_assert_msg(json_is_object(rec), "not JSON: %s (%s)", line,
			      jerr.text);
		ck_assert_msg(
		    json_is_string(json_object_get(rec, "ts")) &&
			json_is_string(json_object_get(rec, "level")) &&
			json_is_string(json_object_get(rec, "msg")),
		    "incomplete record: %s", line);
		json_decref(rec);
		n++;
	}
	fclose(f);
	ck_assert_int_ge(n, min_lines);
}

/* ---- a scene whose `orchestrator run` serves HTTP ---- */

static const char hello_def[] =
	"{\"name\": \"hello\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.events\", \"type\": \"hello.requested\","
	"              \"key\": \"/id\"},"
	" \"steps\": [{\"name\": \"say_hello\","
	"  \"command\": {\"topic\": \"{P}.commands\", \"type\": \"hello.send\","
	"   \"data\": {\"to\": \"${/input/id}\"}},"
	"  \"success\": [\"hello.sent\"], \"timeout\": \"1m\"}]}";

struct web {
	struct orc_it_scene s;
	int port;      /* run's HTTP port */
	int run;       /* process index of `run` (-1: not started) */
	int responder; /* process index of the responder (-1: none) */
	bool json_log; /* run logs JSON: checked at the end */
};

static void
web_fail(struct web *w, const char *what, const struct http_reply *r)
{
	orc_it_scene_fail(&w->s, "%s (last answer: %d %s)", what,
			  r ? r->status : 0, r ? r->body : "");
}

/* The scene, with the one-step definition on its own topics. */
static void
web_init(struct web *w)
{
	static const char *const topics[] = {"events", "commands"};

	memset(w, 0, sizeof(*w));
	w->run = w->responder = -1;
	orc_it_scene_init(&w->s, topics, 2);
	orc_it_scene_load(&w->s, hello_def);
}

/*
 * `orchestrator run` with its HTTP port (and JSON logs when json); waits
 * until /healthz answers.
 */
static void
web_run(struct web *w, bool json)
{
	char port[32], format[32];
	const char *env[] = {port, format, NULL};
	struct http_reply r;
	int64_t deadline;

	w->port = orc_it_free_port();
	w->json_log = json;
	snprintf(port, sizeof(port), "ORC_HTTP_PORT=%d", w->port);
	snprintf(format, sizeof(format), "ORC_LOG_FORMAT=%s",
		 json ? "json" : "logfmt");
	w->run = orc_it_scene_run(&w->s, "run", env);
	deadline = orc_clock_mono_ms() + 60000;
	do {
		orc_clock_sleep_ms(100, NULL);
		http_get(w->port, "/healthz", &r);
	} while (r.status != 200 && orc_clock_mono_ms() < deadline &&
		 waitpid(w->s.procs[w->run].pid, NULL, WNOHANG) == 0);
	if (r.status != 200)
		web_fail(w, "/healthz never answered 200", &r);
	ck_assert_str_eq(r.body, "ok\n");
}

/*
 * Poll path until its status is want (0: any) and its body holds text
 * (NULL: anything), or fail after timeout_ms; the last reply in r.
 */
static void
await_answer(struct web *w, const char *path, int want, const char *text,
	     int timeout_ms, struct http_reply *r)
{
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;

	for (;;) {
		http_get(w->port, path, r);
		if ((want == 0 || r->status == want) &&
		    (text == NULL || strstr(r->body, text) != NULL))
			return;
		if (orc_clock_mono_ms() > deadline) {
			char what[192];

			snprintf(what, sizeof(what), "%s never answered %d%s%s%s",
				 path, want, text ? " with \"" : "",
				 text ? text : "", text ? "\"" : "");
			web_fail(w, what, r);
		}
		orc_clock_sleep_ms(200, NULL);
	}
}

/* Poll path until its status is want (or timeout_ms); the last reply. */
static void
await_status(struct web *w, const char *path, int want, int timeout_ms,
	     struct http_reply *r)
{
	await_answer(w, path, want, NULL, timeout_ms, r);
}

/* Scrape until sample name reaches at least want; its value. */
static double
await_sample(struct web *w, const char *name, double want, int timeout_ms)
{
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;
	struct http_reply r;
	double v;

	for (;;) {
		http_get(w->port, "/metrics", &r);
		v = r.status == 200 ? orc_it_metric(r.body, name) : -1;
		if (v >= want)
			return v;
		if (orc_clock_mono_ms() > deadline) {
			char what[256];

			snprintf(what, sizeof(what), "%s is %g, expected %g",
				 name, v, want);
			web_fail(w, what, &r);
		}
		orc_clock_sleep_ms(250, NULL);
	}
}

/* Stop the responder, then `run`, which must exit 0 on SIGTERM. */
static void
web_finish(struct web *w)
{
	if (w->responder >= 0)
		orc_it_scene_stop(&w->s, w->responder, SIGTERM);
	if (w->run >= 0) {
		int rc = orc_it_scene_stop(&w->s, w->run, SIGTERM);

		if (rc != 0)
			orc_it_scene_fail(&w->s, "orchestrator run exited %d"
					  " after SIGTERM", rc);
		if (w->json_log)
			check_json_log(w->s.procs[w->run].log, 3);
	}
	orc_it_scene_finish(&w->s);
}

/* ---- tests ---- */

START_TEST(test_saga_moves_the_counters)
{
	static const char *const rules[] = {
		"--rule", "hello.send=succeed:hello.sent", NULL};
	const char *start[] = {"start", "hello", "--input", "{\"id\": \"k-1\"}",
			       NULL};
	struct web w;
	struct http_reply r;
	char out[4096];
	int rc;

	web_init(&w);
	web_run(&w, true);
	await_status(&w, "/readyz", 200, 30000, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "postgresql: ok"));

	http_get(w.port, "/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(
	    strstr(r.head, "Content-Type: text/plain; version=0.0.4"));
	ck_assert(orc_it_metric(r.body,
				"orchestrator_events_applied_total") == 0);
	ck_assert(orc_it_metric(r.body,
				"orchestrator_commands_published_total") == 0);
	ck_assert(
	    orc_it_metric(r.body,
		   "orchestrator_sagas_finished_total{status=\"completed\"}") ==
	    0);
	ck_assert(orc_it_metric(r.body, "orchestrator_postgresql_up") == 1);
	ck_assert_ptr_nonnull(
	    strstr(r.body, "# TYPE orchestrator_batch_size histogram\n"));
	ck_assert_ptr_nonnull(strstr(
	    r.body, "# TYPE orchestrator_events_consumed_total counter\n"));
	http_get(w.port, "/nope", &r);
	ck_assert_int_eq(r.status, 404);

	/* a service that answers the command */
	w.responder = orc_it_scene_responder(&w.s, "responder", "commands",
					     rules);
	rc = orc_it_scene_cli(&w.s, out, sizeof(out), start);
	ck_assert_msg(rc == 0, "start exited %d:\n%s", rc, out);

	await_sample(&w,
		     "orchestrator_sagas_finished_total{status=\"completed\"}",
		     1, 90000);
	/* the command, saga.started and saga.completed */
	await_sample(&w, "orchestrator_commands_published_total", 3, 30000);
	http_get(w.port, "/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(orc_it_metric(r.body,
				"orchestrator_commands_published_total") == 3);
	ck_assert(orc_it_metric(r.body,
				"orchestrator_events_consumed_total") >= 1);
	ck_assert(orc_it_metric(r.body,
				"orchestrator_events_applied_total") >= 1);
	ck_assert(orc_it_metric(r.body,
				"orchestrator_events_dead_lettered_total") ==
		  0);
	ck_assert(orc_it_metric(r.body, "orchestrator_batch_size_count") >= 1);
	ck_assert(
	    orc_it_metric(r.body,
		   "orchestrator_sagas_finished_total{status=\"failed\"}") ==
	    0);
	/* the database gauges catch up within their 5 s cache */
	{
		int64_t deadline = orc_clock_mono_ms() + 20000;

		while (orc_it_metric(r.body,
			      "orchestrator_sagas{status=\"running\"}") != 0 ||
		       orc_it_metric(r.body,
				     "orchestrator_outbox_backlog") != 0) {
			if (orc_clock_mono_ms() > deadline)
				web_fail(&w, "database gauges did not settle",
					 &r);
			orc_clock_sleep_ms(500, NULL);
			http_get(w.port, "/metrics", &r);
		}
	}
	web_finish(&w);
}
END_TEST

/* ---- a stack of our own, for stopping its PostgreSQL ---- */

struct own_stack {
	int pid;
	int pipe_w; /* closing it stops the stack */
	char dir[256];
	char pg_dsn[512];
	char brokers[256];
	char log[128];
};

static void
read_line(FILE *f, char *buf, size_t len)
{
	ck_assert_ptr_nonnull(fgets(buf, (int)len, f));
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * `stack.sh run` a command that writes the stack's settings to a file and
 * waits for its stdin to close: the stack lives exactly as long as the
 * pipe (that is, this test process) does.  stack.sh itself is not tied to
 * the test: it must live on to stop the stack.
 */
static void
own_stack_start(struct own_stack *st)
{
	char info[128], tag[64];
	const char *args[] = {
	    "run",
	    "--",
	    "bash",
	    "-c",
	    "printf '%s\\n' \"$ORC_STACK_DIR\" \"$ORC_PG_DSN\" "
	    "\"$ORC_KAFKA_BROKERS\" >\"$1.tmp\" && mv \"$1.tmp\" \"$1\"; "
	    "read -r _ || true",
	    "_",
	    info,
	    NULL};
	int fds[2];
	int64_t deadline = orc_clock_mono_ms() + 180000;
	FILE *f = NULL;

	orc_it_unique("ithttp_stack", tag, sizeof(tag));
	snprintf(info, sizeof(info), "/tmp/%s.info", tag);
	snprintf(st->log, sizeof(st->log), "/tmp/%s.log", tag);
	ck_assert_int_eq(pipe(fds), 0);
	/* only this process may hold the write end, or EOF never comes */
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	st->pid = orc_it_spawn_detached(st->log, fds[0], STACK_SH, args);
	close(fds[0]);
	st->pipe_w = fds[1];
	while ((f = fopen(info, "r")) == NULL) {
		if (orc_clock_mono_ms() > deadline ||
		    waitpid(st->pid, NULL, WNOHANG) != 0) {
			orc_it_dump_tail(st->log, 40);
			ck_abort_msg("stack.sh run did not start a stack");
		}
		orc_clock_sleep_ms(200, NULL);
	}
	read_line(f, st->dir, sizeof(st->dir));
	read_line(f, st->pg_dsn, sizeof(st->pg_dsn));
	read_line(f, st->brokers, sizeof(st->brokers));
	fclose(f);
	unlink(info);
}

/* Close the pipe: the stack stops; stack.sh gets 120 s to stop it. */
static void
own_stack_stop(struct own_stack *st)
{
	close(st->pipe_w);
	orc_it_stop(st->pid, 0, 120000);
	unlink(st->log);
}

/* `stack.sh what <dir>` (pg-stop, pg-start, ...), which must succeed. */
static void
stack_cmd(struct own_stack *st, const char *what)
{
	char log[160];
	const char *args[] = {what, st->dir, NULL};
	int rc;

	snprintf(log, sizeof(log), "%s.%s", st->log, what);
	rc = orc_it_wait(orc_it_spawn_detached(log, -1, STACK_SH, args));
	if (rc != 0) {
		orc_it_dump_tail(log, 40);
		ck_abort_msg("stack.sh %s exited %d", what, rc);
	}
	unlink(log);
}

#define GRACE_MS 8000 /* ready_kafka_grace_ms of this test */
#define STATS_MS 5000 /* librdkafka's statistics interval (broker.c) */

START_TEST(test_readyz_follows_postgresql)
{
	struct own_stack st;
	struct web w;
	struct http_reply r;
	int64_t stopped, waited, limit;
	char grace[32];

	own_stack_start(&st);
	/* every helper below talks to our own stack */
	setenv("ORC_PG_DSN", st.pg_dsn, 1);
	setenv("ORC_KAFKA_BROKERS", st.brokers, 1);
	snprintf(grace, sizeof(grace), "%d", GRACE_MS);
	setenv("ORC_READY_KAFKA_GRACE_MS", grace, 1);
	web_init(&w);
	web_run(&w, false);
	await_status(&w, "/readyz", 200, 30000, &r);
	ck_assert_msg(strncmp(r.body, "ready\npostgresql: ok\nkafka: ok", 30) ==
			  0,
		      "%s", r.body);

	stack_cmd(&st, "pg-stop");
	await_status(&w, "/readyz", 503, 15000, &r);
	ck_assert_msg(strncmp(r.body, "not ready\npostgresql: ", 22) == 0, "%s",
		      r.body);
	ck_assert_ptr_null(strstr(r.body, "postgresql: ok"));
	http_get(w.port, "/healthz", &r);
	ck_assert_int_eq(r.status, 200); /* alive: no restart for this */
	http_get(w.port, "/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(orc_it_metric(r.body, "orchestrator_postgresql_up") == 0);

	stack_cmd(&st, "pg-start");
	await_status(&w, "/readyz", 200, 30000, &r);
	http_get(w.port, "/metrics", &r);
	ck_assert(orc_it_metric(r.body, "orchestrator_postgresql_up") == 1);

	/* one broker: not the bootstrap connection or the coordinator too */
	await_answer(&w, "/readyz", 200, "kafka: ok (1 broker up,", 20000, &r);
	/* the broker drops its connections early in a stop that takes seconds */
	stopped = orc_clock_mono_ms();
	stack_cmd(&st, "kafka-stop");
	/* a stop slower than that is when the first probe comes */
	limit = orc_clock_mono_ms() - stopped + 1000;
	if (limit < GRACE_MS + STATS_MS + 5000)
		limit = GRACE_MS + STATS_MS + 5000;
	await_status(&w, "/readyz", 503, GRACE_MS + 20000, &r);
	waited = orc_clock_mono_ms() - stopped;
	fprintf(stderr, "kafka stopping: /readyz 503 after %lld ms (grace %d ms)\n",
		(long long)waited, GRACE_MS);
	ck_assert_msg(strstr(r.body, "kafka: no broker up for ") != NULL &&
			  strstr(r.body, "(grace 8s)") != NULL,
		      "%s", r.body);
	/* the grace, after the last statistics (5 s) that saw it up */
	ck_assert_msg(waited >= GRACE_MS - STATS_MS && waited <= limit,
		      "503 came %lld ms after kafka began to stop (grace %d"
		      " ms): %s", (long long)waited, GRACE_MS, r.body);
	http_get(w.port, "/healthz", &r);
	ck_assert_int_eq(r.status, 200);
	stack_cmd(&st, "kafka-start");
	await_answer(&w, "/readyz", 200, "kafka: ok (1 broker up,", 60000, &r);

	web_finish(&w);
	own_stack_stop(&st);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(saga_moves_the_counters),
		ORC_IT_CASE(readyz_follows_postgresql),
	};

	return orc_it_run_suite("http endpoints", cases, sizeof(cases) / sizeof(cases[0]),
				400);
}
