/*
 * itest_http.c - the health and metrics endpoints of a real `orchestrator
 * run`, scraped over HTTP as Kubernetes and Prometheus would.
 *
 * - A saga end to end: /healthz and /readyz answer 200, /metrics is the
 *   Prometheus text format, and after `orchestrator start` and a responder
 *   answering the command, the counters moved as they should (consumed,
 *   applied, commands published, sagas_finished{status="completed"}).
 * - PostgreSQL going away and coming back: /readyz turns 503 with the
 *   reason while /healthz stays 200, then 200 again.  This test stops the
 *   database of a stack it starts itself (deploy/local/stack.sh run, tied
 *   to a pipe, so it goes away with the test whatever happens): it never
 *   stops a database that someone else uses.
 *
 * Each test has its own database, topics, group and reply topic.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "check_runner.h"
#include "harness.h"

#define STACK_SH ORC_SOURCE_DIR "/deploy/local/stack.sh"

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- processes that die with the test ---- */

/*
 * Start prog with args (NULL-terminated, without argv[0]) and extra env
 * ("NAME=value"; may be NULL); stdin_fd (or -1) becomes its stdin.  A tied
 * child gets SIGKILL when this (forked test) process dies, so a failed
 * assertion leaves nothing running.  Any other child gets a session of its
 * own: Check kills the process group of a test when it ends, and such a
 * child must outlive it (to stop a stack cleanly).
 */
static int
spawn(const char *logfile, const char *const *env, int stdin_fd, bool tied,
      const char *prog, const char *const *args)
{
	const char *argv[32];
	size_t n = 0;
	pid_t parent = getpid(), pid;

	argv[n++] = prog;
	for (; args[n - 1] != NULL && n < 31; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	pid = fork();
	ck_assert_msg(pid >= 0, "fork failed");
	if (pid == 0) {
		FILE *log = fopen(logfile, "w");

		if (tied) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(127);
		} else {
			setsid();
		}
		if (log != NULL) {
			dup2(fileno(log), STDOUT_FILENO);
			dup2(fileno(log), STDERR_FILENO);
		}
		if (stdin_fd >= 0)
			dup2(stdin_fd, STDIN_FILENO);
		for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
			char name[64];
			size_t len = strcspn(env[i], "=");

			if (env[i][len] != '=' || len >= sizeof(name))
				continue;
			memcpy(name, env[i], len);
			name[len] = '\0';
			setenv(name, env[i] + len + 1, 1);
		}
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	return (int)pid;
}

/* SIGTERM pid, wait at most timeout_ms, then SIGKILL; its exit status. */
static int
stop(int pid, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;
	int status;

	kill(pid, SIGTERM);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (mono_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return 137;
		}
		sleep_ms(20);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void
dump(const char *path)
{
	char cmd[512];

	fprintf(stderr, "---- last lines of %s\n", path);
	snprintf(cmd, sizeof(cmd), "tail -n 40 '%s' >&2", path);
	if (system(cmd) != 0)
		fprintf(stderr, "(cannot read it)\n");
}

/* ---- a tiny HTTP client ---- */

struct http_reply {
	int status; /* -1: no answer */
	char head[2048];
	char body[65536];
};

static void
http_get(int port, const char *path, struct http_reply *r)
{
	struct sockaddr_in sa;
	struct timeval tv = {5, 0};
	char req[256], buf[sizeof(r->head) + sizeof(r->body)];
	size_t len = 0;
	const char *sep;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	r->status = -1;
	r->head[0] = r->body[0] = '\0';
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return;
	}
	snprintf(
	    req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: itest\r\n\r\n",
	    path);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		close(fd);
		return;
	}
	for (;;) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	sep = strstr(buf, "\r\n\r\n");
	if (sep == NULL || sscanf(buf, "HTTP/1.1 %d", &r->status) != 1) {
		r->status = -1;
		return;
	}
	snprintf(r->head, sizeof(r->head), "%.*s", (int)(sep - buf), buf);
	snprintf(r->body, sizeof(r->body), "%s", sep + 4);
}

/*
 * The value of the sample "name" (with its labels, exactly as rendered,
 * e.g. "x_total{status=\"completed\"}") in a /metrics body; -1 if absent.
 */
static double
sample(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	return -1;
}

/* A port nobody listens on now (the kernel's pick). */
static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* ---- a scenario: database, definition, `orchestrator run` ---- */

struct scene {
	char name[64]; /* unique: definition, group, topic prefix */
	char db[64];
	char dsn[1024];
	char replies[96];
	char commands[96];
	char dir[128];
	char run_log[192];
	char resp_log[192];
	int port;
	int run_pid;
	int resp_pid;
	bool json_log; /* run logs JSON: checked at the end */
	char env[10][1200];
	const char *envp[11];
};

static void
scene_fail(struct scene *s, const char *what, const struct http_reply *r)
{
	if (s->run_pid > 0)
		dump(s->run_log);
	if (s->resp_pid > 0)
		dump(s->resp_log);
	ck_abort_msg("%s (last answer: %d %s)", what, r ? r->status : 0,
		     r ? r->body : "");
}

/* Database, schema, a one-step definition on the scene's own topics. */
static void
scene_init(struct scene *s)
{
	char out[8192], file[192], body[1024];
	const char *migrate[] = {"migrate", "--dsn", NULL, NULL};
	const char *load[] = {"definitions", "load", NULL,
			      "--pg-dsn",    NULL,   NULL};
	FILE *f;
	int rc;

	memset(s, 0, sizeof(*s));
	orc_it_unique("ithttp", s->name, sizeof(s->name));
	snprintf(s->replies, sizeof(s->replies), "%s.replies", s->name);
	snprintf(s->commands, sizeof(s->commands), "%s.commands", s->name);
	snprintf(s->dir, sizeof(s->dir), "/tmp/%s", s->name);
	ck_assert_int_eq(mkdir(s->dir, 0755), 0);
	snprintf(s->run_log, sizeof(s->run_log), "%s/run.log", s->dir);
	snprintf(s->resp_log, sizeof(s->resp_log), "%s/responder.log", s->dir);

	orc_it_create_database(s->db, sizeof(s->db));
	orc_it_dsn_for(s->db, s->dsn, sizeof(s->dsn));
	migrate[2] = s->dsn;
	rc = orc_it_run(out, sizeof(out), migrate);
	ck_assert_msg(rc == 0, "migrate exited %d:\n%s", rc, out);

	snprintf(body, sizeof(body),
		 "{\"name\": \"%s\", \"version\": 1,"
		 " \"trigger\": {\"topic\": \"%s.events\", \"type\": "
		 "\"hello.requested\","
		 "  \"key\": \"/id\"},"
		 " \"steps\": [{\"name\": \"say_hello\","
		 "  \"command\": {\"topic\": \"%s\", \"type\": \"hello.send\","
		 "   \"data\": {\"to\": \"${/input/id}\"}},"
		 "  \"success\": [\"hello.sent\"], \"timeout\": \"1m\"}]}",
		 s->name, s->name, s->commands);
	snprintf(file, sizeof(file), "%s/definition.json", s->dir);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fputs(body, f);
	fclose(f);
	load[2] = file;
	load[4] = s->dsn;
	rc = orc_it_run(out, sizeof(out), load);
	ck_assert_msg(rc == 0, "definitions load exited %d:\n%s", rc, out);
}

/*
 * `orchestrator run` with its HTTP port (and JSON logs when json); waits
 * until /healthz answers.
 */
static void
scene_run(struct scene *s, bool json)
{
	const char *args[] = {"run", NULL};
	struct http_reply r;
	int64_t deadline;
	size_t n = 0;

	s->port = free_port();
	snprintf(s->env[n++], sizeof(s->env[0]), "ORC_PG_DSN=%s", s->dsn);
	snprintf(s->env[n++], sizeof(s->env[0]), "ORC_KAFKA_BROKERS=%s",
		 orc_it_kafka_brokers());
	snprintf(s->env[n++], sizeof(s->env[0]), "ORC_GROUP=%s", s->name);
	snprintf(s->env[n++], sizeof(s->env[0]), "ORC_REPLY_TOPIC=%s",
		 s->replies);
	snprintf(s->env[n++], sizeof(s->env[0]), "ORC_HTTP_PORT=%d", s->port);
	snprintf(s->env[n++], sizeof(s->env[0]), "ORC_RELAY_POLL_MS=100");
	snprintf(s->env[n++], sizeof(s->env[0]), "ORC_LOG_FORMAT=%s",
		 json ? "json" : "logfmt");
	s->json_log = json;
	for (size_t i = 0; i < n; i++)
		s->envp[i] = s->env[i];
	s->envp[n] = NULL;
	s->run_pid = spawn(s->run_log, s->envp, -1, true, ORC_BINARY, args);
	deadline = mono_ms() + 60000;
	do {
		sleep_ms(100);
		http_get(s->port, "/healthz", &r);
	} while (r.status != 200 && mono_ms() < deadline &&
		 waitpid(s->run_pid, NULL, WNOHANG) == 0);
	if (r.status != 200)
		scene_fail(s, "/healthz never answered 200", &r);
	ck_assert_str_eq(r.body, "ok\n");
}

/* Poll path until its status is want (or timeout_ms); the last reply. */
static void
await_status(struct scene *s, const char *path, int want, int timeout_ms,
	     struct http_reply *r)
{
	int64_t deadline = mono_ms() + timeout_ms;

	for (;;) {
		http_get(s->port, path, r);
		if (r->status == want)
			return;
		if (mono_ms() > deadline) {
			char what[128];

			snprintf(what, sizeof(what), "%s never answered %d",
				 path, want);
			scene_fail(s, what, r);
		}
		sleep_ms(200);
	}
}

/* Scrape until sample name reaches at least want; its value. */
static double
await_sample(struct scene *s, const char *name, double want, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;
	struct http_reply r;
	double v;

	for (;;) {
		http_get(s->port, "/metrics", &r);
		v = r.status == 200 ? sample(r.body, name) : -1;
		if (v >= want)
			return v;
		if (mono_ms() > deadline) {
			char what[256];

			snprintf(what, sizeof(what), "%s is %g, expected %g",
				 name, v, want);
			scene_fail(s, what, &r);
		}
		sleep_ms(250);
	}
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

static void
scene_finish(struct scene *s)
{
	char cmd[256];

	if (s->resp_pid > 0)
		stop(s->resp_pid, 20000);
	if (s->run_pid > 0) {
		int rc = stop(s->run_pid, 30000);

		if (rc != 0) {
			dump(s->run_log);
			ck_abort_msg("orchestrator run exited %d after SIGTERM",
				     rc);
		}
		if (s->json_log)
			check_json_log(s->run_log, 3);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", s->dir);
}

/* ---- tests ---- */

START_TEST(test_saga_moves_the_counters)
{
	struct scene s;
	struct http_reply r;
	char out[4096], input[128], rule[128];
	const char *resp_args[] = {"--brokers", orc_it_kafka_brokers(),
				   "--topics",	NULL,
				   "--group",	NULL,
				   "--rule",	rule,
				   NULL};
	const char *start[] = {
	    "start",	     NULL, "--input", input, "--pg-dsn", NULL,
	    "--reply-topic", NULL, "--group", NULL,  NULL};
	char group[96];
	int rc;

	scene_init(&s);
	scene_run(&s, true);
	await_status(&s, "/readyz", 200, 30000, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "postgresql: ok"));

	http_get(s.port, "/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(
	    strstr(r.head, "Content-Type: text/plain; version=0.0.4"));
	ck_assert(sample(r.body, "orchestrator_events_applied_total") == 0);
	ck_assert(sample(r.body, "orchestrator_commands_published_total") == 0);
	ck_assert(
	    sample(r.body,
		   "orchestrator_sagas_finished_total{status=\"completed\"}") ==
	    0);
	ck_assert(sample(r.body, "orchestrator_postgresql_up") == 1);
	ck_assert_ptr_nonnull(
	    strstr(r.body, "# TYPE orchestrator_batch_size histogram\n"));
	ck_assert_ptr_nonnull(strstr(
	    r.body, "# TYPE orchestrator_events_consumed_total counter\n"));
	http_get(s.port, "/nope", &r);
	ck_assert_int_eq(r.status, 404);

	/* a service that answers the command */
	snprintf(group, sizeof(group), "%s_responder", s.name);
	snprintf(rule, sizeof(rule), "hello.send=succeed:hello.sent");
	resp_args[3] = s.commands;
	resp_args[5] = group;
	s.resp_pid =
	    spawn(s.resp_log, NULL, -1, true, ORC_RESPONDER, resp_args);

	snprintf(input, sizeof(input), "{\"id\": \"k-1\"}");
	start[1] = s.name;
	start[5] = s.dsn;
	start[7] = s.replies;
	start[9] = s.name;
	rc = orc_it_run(out, sizeof(out), start);
	ck_assert_msg(rc == 0, "start exited %d:\n%s", rc, out);

	await_sample(&s,
		     "orchestrator_sagas_finished_total{status=\"completed\"}",
		     1, 90000);
	http_get(s.port, "/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(sample(r.body, "orchestrator_commands_published_total") == 1);
	ck_assert(sample(r.body, "orchestrator_events_consumed_total") >= 1);
	ck_assert(sample(r.body, "orchestrator_events_applied_total") >= 1);
	ck_assert(sample(r.body, "orchestrator_events_dead_lettered_total") ==
		  0);
	ck_assert(sample(r.body, "orchestrator_batch_size_count") >= 1);
	ck_assert(
	    sample(r.body,
		   "orchestrator_sagas_finished_total{status=\"failed\"}") ==
	    0);
	/* the database gauges catch up within their 5 s cache */
	{
		int64_t deadline = mono_ms() + 20000;

		while (sample(r.body,
			      "orchestrator_sagas{status=\"running\"}") != 0 ||
		       sample(r.body, "orchestrator_outbox_backlog") != 0) {
			if (mono_ms() > deadline)
				scene_fail(&s, "database gauges did not settle",
					   &r);
			sleep_ms(500);
			http_get(s.port, "/metrics", &r);
		}
	}
	scene_finish(&s);
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
	int64_t deadline = mono_ms() + 180000;
	FILE *f = NULL;

	orc_it_unique("ithttp_stack", tag, sizeof(tag));
	snprintf(info, sizeof(info), "/tmp/%s.info", tag);
	snprintf(st->log, sizeof(st->log), "/tmp/%s.log", tag);
	ck_assert_int_eq(pipe(fds), 0);
	/* only this process may hold the write end, or EOF never comes */
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	st->pid = spawn(st->log, NULL, fds[0], false, STACK_SH, args);
	close(fds[0]);
	st->pipe_w = fds[1];
	while ((f = fopen(info, "r")) == NULL) {
		if (mono_ms() > deadline ||
		    waitpid(st->pid, NULL, WNOHANG) != 0) {
			dump(st->log);
			ck_abort_msg("stack.sh run did not start a stack");
		}
		sleep_ms(200);
	}
	read_line(f, st->dir, sizeof(st->dir));
	read_line(f, st->pg_dsn, sizeof(st->pg_dsn));
	read_line(f, st->brokers, sizeof(st->brokers));
	fclose(f);
	unlink(info);
}

static void
own_stack_stop(struct own_stack *st)
{
	int64_t deadline = mono_ms() + 120000;
	int status = 0;

	close(st->pipe_w);
	while (waitpid(st->pid, &status, WNOHANG) == 0) {
		if (mono_ms() > deadline) {
			kill(st->pid, SIGKILL);
			waitpid(st->pid, &status, 0);
			break;
		}
		sleep_ms(100);
	}
	unlink(st->log);
}

static void
stack_cmd(struct own_stack *st, const char *what)
{
	char out[4096], log[160];
	const char *args[] = {what, st->dir, NULL};
	int pid, status;

	snprintf(log, sizeof(log), "%s.%s", st->log, what);
	pid = spawn(log, NULL, -1, false, STACK_SH, args);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		FILE *f = fopen(log, "r");
		size_t n = f ? fread(out, 1, sizeof(out) - 1, f) : 0;

		out[n] = '\0';
		if (f)
			fclose(f);
		ck_abort_msg("stack.sh %s failed:\n%s", what, out);
	}
	unlink(log);
}

START_TEST(test_readyz_follows_postgresql)
{
	struct own_stack st;
	struct scene s;
	struct http_reply r;

	own_stack_start(&st);
	/* every helper below talks to our own stack */
	setenv("ORC_PG_DSN", st.pg_dsn, 1);
	setenv("ORC_KAFKA_BROKERS", st.brokers, 1);
	scene_init(&s);
	scene_run(&s, false);
	await_status(&s, "/readyz", 200, 30000, &r);
	ck_assert_msg(strncmp(r.body, "ready\npostgresql: ok\nkafka: ok", 30) ==
			  0,
		      "%s", r.body);

	stack_cmd(&st, "pg-stop");
	await_status(&s, "/readyz", 503, 15000, &r);
	ck_assert_msg(strncmp(r.body, "not ready\npostgresql: ", 22) == 0, "%s",
		      r.body);
	ck_assert_ptr_null(strstr(r.body, "postgresql: ok"));
	http_get(s.port, "/healthz", &r);
	ck_assert_int_eq(r.status, 200); /* alive: no restart for this */
	http_get(s.port, "/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(sample(r.body, "orchestrator_postgresql_up") == 0);

	stack_cmd(&st, "pg-start");
	await_status(&s, "/readyz", 200, 30000, &r);
	http_get(s.port, "/metrics", &r);
	ck_assert(sample(r.body, "orchestrator_postgresql_up") == 1);

	stack_cmd(&st, "kafka-stop");
	await_status(&s, "/readyz", 503, 30000, &r);
	ck_assert_msg(strstr(r.body, "kafka: no broker connection up") != NULL,
		      "%s", r.body);
	stack_cmd(&st, "kafka-start");
	await_status(&s, "/readyz", 200, 60000, &r);

	scene_finish(&s);
	own_stack_stop(&st);
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http endpoints");
	TCase *tc = tcase_create("run");

	tcase_set_timeout(tc, 400);
	tcase_add_test(tc, test_saga_moves_the_counters);
	tcase_add_test(tc, test_readyz_follows_postgresql);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(http_suite());
}
