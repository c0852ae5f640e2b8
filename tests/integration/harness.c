/*
 * harness.c - integration test helpers over the real local stack (see
 * harness.h).  Every failure is a failed ck_assert in the calling test;
 * nothing here retries quietly or skips.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "broker.h"
#include "check_runner.h"
#include "clock.h"
#include "config.h"

#define HOWTO                                                                  \
	"integration tests need the local stack: run them with "               \
	"`deploy/local/stack.sh run -- ctest --test-dir build -L integration`, " \
	"or `source <stack dir>/stack.env` after `deploy/local/stack.sh start`"

static const char *
need(const char *var)
{
	const char *v = getenv(var);

	if (v == NULL || *v == '\0')
		ck_abort_msg("%s is not set; %s", var, HOWTO);
	return v;
}

const char *
orc_it_pg_dsn(void)
{
	return need("ORC_PG_DSN");
}

const char *
orc_it_kafka_brokers(void)
{
	return need("ORC_KAFKA_BROKERS");
}

void
orc_it_unique(const char *prefix, char *buf, size_t len)
{
	static unsigned counter;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(buf, len, "%s_%d_%u_%lx", prefix, (int)getpid(), ++counter,
		 (unsigned long)(ts.tv_nsec ^ ts.tv_sec) & 0xffffff);
}

int
orc_it_run_suite(const char *name, const struct orc_it_case *cases, size_t n,
		 int timeout_s)
{
	Suite *s = suite_create(name);

	for (size_t i = 0; i < n; i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_set_timeout(tc, timeout_s);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return orc_check_run(s);
}

/* ---- PostgreSQL ---- */

void
orc_it_dsn_for(const char *dbname, char *buf, size_t len)
{
	PQconninfoOption *opts = PQconninfoParse(orc_it_pg_dsn(), NULL);
	size_t n = 0;

	ck_assert_msg(opts != NULL, "cannot parse ORC_PG_DSN");
	buf[0] = '\0';
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		const char *v = strcmp(o->keyword, "dbname") == 0 ? dbname : o->val;

		if (v == NULL || *v == '\0')
			continue;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s='%s'",
				      n ? " " : "", o->keyword, v);
	}
	PQconninfoFree(opts);
	ck_assert_msg(n < len, "dsn too long");
}

PGconn *
orc_it_pg_connect(const char *dbname)
{
	char dsn[1024];
	PGconn *conn;

	if (dbname != NULL)
		orc_it_dsn_for(dbname, dsn, sizeof(dsn));
	else
		snprintf(dsn, sizeof(dsn), "%s", orc_it_pg_dsn());
	conn = PQconnectdb(dsn);
	if (PQstatus(conn) != CONNECTION_OK)
		ck_abort_msg("cannot connect to %s: %s; %s", dsn,
			     PQerrorMessage(conn), HOWTO);
	return conn;
}

void
orc_it_create_database(char *buf, size_t len)
{
	PGconn *conn = orc_it_pg_connect(NULL);
	char sql[256];

	orc_it_unique("it", buf, len);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", buf);
	orc_it_pg_exec(conn, sql, 0, NULL);
	PQfinish(conn);
}

void
orc_it_db_init(struct orc_it_db *db)
{
	char out[4096];
	const char *args[] = {"migrate", "--dsn", db->dsn, NULL};
	int rc;

	orc_it_create_database(db->name, sizeof(db->name));
	orc_it_dsn_for(db->name, db->dsn, sizeof(db->dsn));
	rc = orc_it_run(out, sizeof(out), args);
	ck_assert_msg(rc == 0, "migrate exited %d:\n%s", rc, out);
	db->conn = orc_it_pg_connect(db->name);
}

void
orc_it_db_finish(struct orc_it_db *db)
{
	if (db->conn != NULL)
		PQfinish(db->conn);
	db->conn = NULL;
}

void
orc_it_pg_exec(PGconn *conn, const char *sql, int n_params,
	       const char *const *params)
{
	PGresult *res = n_params > 0 ? PQexecParams(conn, sql, n_params, NULL,
						    params, NULL, NULL, 0)
				     : PQexec(conn, sql);

	ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK ||
			      PQresultStatus(res) == PGRES_TUPLES_OK,
		      "%s: %s", sql, PQerrorMessage(conn));
	PQclear(res);
}

char *
orc_it_pg_value(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	char *v;

	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql,
		      PQerrorMessage(conn));
	ck_assert_msg(PQntuples(res) == 1 && PQnfields(res) == 1,
		      "%s: expected one value, got %d rows", sql, PQntuples(res));
	v = strdup(PQgetisnull(res, 0, 0) ? "(null)" : PQgetvalue(res, 0, 0));
	ck_assert_ptr_nonnull(v);
	PQclear(res);
	return v;
}

long
orc_it_pg_long(PGconn *conn, const char *sql)
{
	char *v = orc_it_pg_value(conn, sql), *end;
	long n = strtol(v, &end, 10);

	ck_assert_msg(*v != '\0' && *end == '\0', "%s: not an integer: %s", sql,
		      v);
	free(v);
	return n;
}

/* ---- processes ---- */

/*
 * Fork and exec prog with args and env (see orc_it_spawn_prog()).  A tied
 * child gets SIGKILL when this process dies; any other one gets a session
 * of its own.  stdin_fd (or -1) becomes its stdin.
 */
static int
spawn(const char *logfile, const char *const *env, int stdin_fd, bool tied,
      const char *prog, const char *const *args)
{
	const char *argv[64];
	size_t n = 0;
	pid_t parent = getpid(), pid;

	argv[n++] = prog;
	for (; args[n - 1] != NULL && n < 63; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	pid = fork();
	ck_assert_msg(pid >= 0, "fork failed");
	if (pid == 0) {
		int fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (!tied)
			setsid();
		else if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 ||
			 getppid() != parent)
			_exit(126);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		if (stdin_fd >= 0)
			dup2(stdin_fd, STDIN_FILENO);
		for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
			char name[256];
			const char *eq = strchr(env[i], '=');

			if (eq == NULL || (size_t)(eq - env[i]) >= sizeof(name))
				continue;
			memcpy(name, env[i], (size_t)(eq - env[i]));
			name[eq - env[i]] = '\0';
			setenv(name, eq + 1, 1);
		}
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	return (int)pid;
}

int
orc_it_spawn_prog(const char *logfile, const char *const *env,
		  const char *prog, const char *const *args)
{
	return spawn(logfile, env, -1, true, prog, args);
}

int
orc_it_spawn_detached(const char *logfile, int stdin_fd, const char *prog,
		      const char *const *args)
{
	return spawn(logfile, NULL, stdin_fd, false, prog, args);
}

int
orc_it_spawn(const char *logfile, const char *const *args)
{
	return orc_it_spawn_prog(logfile, NULL, ORC_BINARY, args);
}

static int
exit_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int
orc_it_wait(int pid)
{
	int status;

	if (waitpid((pid_t)pid, &status, 0) < 0)
		return -1;
	return exit_status(status);
}

int
orc_it_run(char *out, size_t len, const char *const *args)
{
	char logfile[] = "/tmp/orc-it-XXXXXX";
	int fd = mkstemp(logfile);
	int pid, rc;
	ssize_t got;

	ck_assert_msg(fd >= 0, "mkstemp failed");
	pid = orc_it_spawn(logfile, args);
	rc = orc_it_wait(pid);
	got = read(fd, out, len - 1);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
	unlink(logfile);
	return rc;
}

int
orc_it_stop(int pid, int sig, int timeout_ms)
{
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;
	int status;

	kill((pid_t)pid, sig);
	for (;;) {
		pid_t got = waitpid((pid_t)pid, &status, WNOHANG);

		if (got == (pid_t)pid)
			break;
		if (got < 0)
			return -1;
		if (orc_clock_mono_ms() >= deadline) {
			kill((pid_t)pid, SIGKILL);
			if (waitpid((pid_t)pid, &status, 0) < 0)
				return -1;
			break;
		}
		orc_clock_sleep_ms(20, NULL);
	}
	return exit_status(status);
}

void
orc_it_dump_tail(const char *path, int lines)
{
	FILE *f = fopen(path, "r");
	long size, from;
	int seen = 0;
	char buf[65536];
	size_t got;

	fprintf(stderr, "---- last %d lines of %s ----\n", lines, path);
	if (f == NULL) {
		fprintf(stderr, "(cannot open: %s)\n", strerror(errno));
		return;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	from = size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0;
	fseek(f, from, SEEK_SET);
	got = fread(buf, 1, sizeof(buf) - 1, f);
	buf[got] = '\0';
	fclose(f);
	for (size_t i = got; i-- > 0;) {
		if (buf[i] == '\n' && i + 1 < got && ++seen == lines) {
			fputs(buf + i + 1, stderr);
			return;
		}
	}
	fputs(buf, stderr);
}

/* ---- Kafka ---- */

void
orc_it_config_init(struct orc_config *cfg)
{
	struct orc_error err;

	ck_assert_int_eq(orc_config_init(cfg, &err), ORC_OK);
	ck_assert_msg(orc_config_load_env(cfg, &err) == ORC_OK, "%s",
		      err.message);
	ck_assert_int_eq(orc_config_set(cfg, "kafka_brokers",
					orc_it_kafka_brokers(), &err),
			 ORC_OK);
}

static rd_kafka_t *
admin_handle(void)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512];
	rd_kafka_t *rk;

	ck_assert_msg(rd_kafka_conf_set(conf, "bootstrap.servers",
					orc_it_kafka_brokers(), errstr,
					sizeof(errstr)) == RD_KAFKA_CONF_OK,
		      "%s", errstr);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	ck_assert_msg(rk != NULL, "kafka admin handle: %s", errstr);
	return rk;
}

void
orc_it_create_topics(const char *const *topics, size_t n, int partitions)
{
	rd_kafka_t *rk = admin_handle();
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_NewTopic_t **nt = calloc(n, sizeof(*nt));
	rd_kafka_event_t *ev;
	const rd_kafka_CreateTopics_result_t *res;
	const rd_kafka_topic_result_t **tr;
	char errstr[512];
	size_t n_res;

	ck_assert_ptr_nonnull(nt);
	for (size_t i = 0; i < n; i++) {
		nt[i] = rd_kafka_NewTopic_new(topics[i], partitions, 1, errstr,
					      sizeof(errstr));
		ck_assert_msg(nt[i] != NULL, "topic %s: %s", topics[i], errstr);
	}
	rd_kafka_CreateTopics(rk, nt, n, NULL, q);
	ev = rd_kafka_queue_poll(q, 30000);
	ck_assert_msg(ev != NULL, "CreateTopics: no answer in 30 s");
	ck_assert_msg(rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR,
		      "CreateTopics: %s", rd_kafka_event_error_string(ev));
	res = rd_kafka_event_CreateTopics_result(ev);
	ck_assert_ptr_nonnull(res);
	tr = rd_kafka_CreateTopics_result_topics(res, &n_res);
	for (size_t i = 0; i < n_res; i++) {
		rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);

		ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR ||
				      e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS,
			      "create topic %s: %s", rd_kafka_topic_result_name(tr[i]),
			      rd_kafka_topic_result_error_string(tr[i]));
	}
	rd_kafka_event_destroy(ev);
	/* The broker answers once the controller created them; wait until
	 * the metadata has every partition leader. */
	for (int64_t deadline = orc_clock_mono_ms() + 30000;;) {
		const struct rd_kafka_metadata *md = NULL;
		size_t ready = 0;

		if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR) {
			for (int t = 0; t < md->topic_cnt; t++)
				for (size_t i = 0; i < n; i++)
					if (strcmp(md->topics[t].topic, topics[i]) == 0 &&
					    md->topics[t].err == 0 &&
					    md->topics[t].partition_cnt == partitions)
						ready++;
			rd_kafka_metadata_destroy(md);
		}
		if (ready == n)
			break;
		ck_assert_msg(orc_clock_mono_ms() < deadline,
			      "created topics not in the metadata after 30 s");
		orc_clock_sleep_ms(100, NULL);
	}
	for (size_t i = 0; i < n; i++)
		rd_kafka_NewTopic_destroy(nt[i]);
	free(nt);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
}

int
orc_it_group_members(const char *group, const char *topic,
		     int *min_partitions)
{
	rd_kafka_t *rk = admin_handle();
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	const char *groups[1] = {group};
	rd_kafka_event_t *ev;
	const rd_kafka_DescribeConsumerGroups_result_t *res;
	const rd_kafka_ConsumerGroupDescription_t **descs;
	size_t n_descs;
	int members = 0, min = -1;

	rd_kafka_DescribeConsumerGroups(rk, groups, 1, NULL, q);
	/*
	 * A broker just started may still be loading the group coordinator
	 * (its log says "Coordinator load in progress"); the request then
	 * waits.  No answer counts as not stable yet: the callers poll again
	 * until their own deadline.
	 */
	ev = rd_kafka_queue_poll(q, 10000);
	if (ev == NULL) {
		rd_kafka_queue_destroy(q);
		rd_kafka_destroy(rk);
		if (min_partitions != NULL)
			*min_partitions = 0;
		return 0;
	}
	res = rd_kafka_event_DescribeConsumerGroups_result(ev);
	if (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR && res != NULL) {
		descs = rd_kafka_DescribeConsumerGroups_result_groups(res, &n_descs);
		if (n_descs == 1 &&
		    rd_kafka_ConsumerGroupDescription_error(descs[0]) == NULL &&
		    rd_kafka_ConsumerGroupDescription_state(descs[0]) ==
			    RD_KAFKA_CONSUMER_GROUP_STATE_STABLE) {
			members = (int)rd_kafka_ConsumerGroupDescription_member_count(
				descs[0]);
			for (int i = 0; i < members; i++) {
				const rd_kafka_MemberDescription_t *m =
					rd_kafka_ConsumerGroupDescription_member(
						descs[0], (size_t)i);
				const rd_kafka_topic_partition_list_t *parts =
					rd_kafka_MemberAssignment_partitions(
						rd_kafka_MemberDescription_assignment(m));
				int mine = 0;

				for (int j = 0; parts != NULL && j < parts->cnt; j++)
					if (topic == NULL ||
					    strcmp(parts->elems[j].topic, topic) == 0)
						mine++;
				if (min < 0 || mine < min)
					min = mine;
			}
		}
	}
	rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	if (min_partitions != NULL)
		*min_partitions = min < 0 ? 0 : min;
	return members;
}

struct orc_kafka_message *
orc_it_poll_one(struct orc_consumer *c, int timeout_ms)
{
	struct orc_kafka_message *m = NULL;
	struct orc_error err;

	for (int waited = 0; m == NULL && waited < timeout_ms; waited += 200)
		ck_assert_msg(orc_consumer_poll(c, 200, &m, &err) == ORC_OK, "%s",
			      err.message);
	return m;
}

const char *
orc_it_json_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

const char *
orc_it_header(const json_t *msg, const char *name)
{
	return orc_it_json_str(json_object_get(msg, "headers"), name);
}

/* ---- scenes ---- */

/* printf-style fmt and the arguments after it into char array buf. */
#define FORMAT_VA(buf, fmt)                                                    \
	do {                                                                   \
		va_list ap_;                                                   \
                                                                               \
		va_start(ap_, fmt);                                            \
		vsnprintf(buf, sizeof(buf), fmt, ap_);                         \
		va_end(ap_);                                                   \
	} while (0)

/* Topic name: short names get the scene's prefix. */
const char *
orc_it_scene_topic(const struct orc_it_scene *s, const char *name, char *buf,
		   size_t len)
{
	if (strchr(name, '.') != NULL)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%s.%s", s->prefix, name);
	return buf;
}

static void
scene_on_delivery(void *opaque, enum orc_status status, const char *err,
		  int32_t partition, int64_t offset, void *ctx)
{
	struct orc_it_scene *s = ctx;
	struct orc_it_sent *sent = opaque;

	if (status != ORC_OK) {
		s->failed++;
		fprintf(stderr, "delivery failed: %s\n", err);
		return;
	}
	s->acked++;
	if (sent != NULL) {
		sent->partition = partition;
		sent->offset = offset;
	}
}

static struct orc_config *
scene_config(void)
{
	struct orc_config *cfg = calloc(1, sizeof(*cfg));

	ck_assert_ptr_nonnull(cfg);
	orc_it_config_init(cfg);
	return cfg;
}

void
orc_it_scene_init(struct orc_it_scene *s, const char *const *topics,
		  size_t n_topics)
{
	const char *all[32];
	char names[32][128];
	struct orc_error err;

	memset(s, 0, sizeof(*s));
	ck_assert(n_topics + 2 <= 32);
	orc_it_unique("its", s->prefix, sizeof(s->prefix));
	snprintf(s->group, sizeof(s->group), "%s_orc", s->prefix);
	snprintf(s->replies, sizeof(s->replies), "%s.replies", s->prefix);
	snprintf(s->dlq, sizeof(s->dlq), "%s.dlq", s->group);
	snprintf(s->dir, sizeof(s->dir), "/tmp/%s.XXXXXX", s->prefix);
	ck_assert_msg(mkdtemp(s->dir) != NULL, "mkdtemp: %s", strerror(errno));

	orc_it_db_init(&s->db);
	orc_it_pg_exec(s->db.conn, "SET search_path TO orchestrator, public", 0,
		       NULL);

	for (size_t i = 0; i < n_topics; i++)
		all[i] = orc_it_scene_topic(s, topics[i], names[i], sizeof(names[i]));
	all[n_topics] = s->replies;
	all[n_topics + 1] = s->dlq;
	orc_it_create_topics(all, n_topics + 2, 4);

	s->cfg = scene_config();
	ck_assert_msg(orc_producer_create(s->cfg, scene_on_delivery, s,
					  &s->producer, &err) == ORC_OK,
		      "producer: %s", err.message);
}

void
orc_it_scene_start(struct orc_it_scene *s, const char *const *topics,
		   size_t n_topics, const char *def, const char *responder_topics,
		   const char *const *rules)
{
	orc_it_scene_init(s, topics, n_topics);
	orc_it_scene_load(s, def);
	orc_it_scene_run(s, "run", NULL);
	orc_it_scene_responder(s, "services", responder_topics, rules);
}

void
orc_it_scene_finish(struct orc_it_scene *s)
{
	for (size_t i = 0; i < s->n_procs; i++)
		if (s->procs[i].pid > 0)
			orc_it_scene_stop(s, (int)i, SIGTERM);
	orc_producer_destroy(s->producer);
	s->producer = NULL;
	if (s->cfg != NULL) {
		orc_config_finish(s->cfg);
		free(s->cfg);
		s->cfg = NULL;
	}
	orc_it_db_finish(&s->db);
	/* a failed test never gets here: its logs stay; ORC_IT_KEEP=1 keeps
	 * those of a passed one too */
	if (getenv("ORC_IT_KEEP") != NULL) {
		fprintf(stderr, "logs kept in %s\n", s->dir);
		return;
	}
	for (size_t i = 0; i < s->n_procs; i++)
		unlink(s->procs[i].log);
	{
		char path[128];

		snprintf(path, sizeof(path), "%s/definition.json", s->dir);
		unlink(path);
		rmdir(s->dir);
	}
}

void
orc_it_scene_load(struct orc_it_scene *s, const char *json)
{
	char path[128], out[4096];
	const char *args[] = {"definitions", "load", path, "--pg-dsn", s->db.dsn,
			      NULL};
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/definition.json", s->dir);
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	for (const char *p = json; *p != '\0'; p++) {
		if (strncmp(p, "{P}", 3) == 0) {
			fputs(s->prefix, f);
			p += 2;
		} else {
			fputc(*p, f);
		}
	}
	fclose(f);
	rc = orc_it_run(out, sizeof(out), args);
	ck_assert_msg(rc == 0, "definitions load exited %d:\n%s", rc, out);
}

int
orc_it_scene_cli(struct orc_it_scene *s, char *out, size_t len,
		 const char *const *args)
{
	const char *argv[32];
	size_t n = 0;

	for (; args[n] != NULL && n < 24; n++)
		argv[n] = args[n];
	/* the settings `run` has: the commands decided here carry them */
	argv[n++] = "--pg-dsn";
	argv[n++] = s->db.dsn;
	argv[n++] = "--reply-topic";
	argv[n++] = s->replies;
	argv[n++] = "--group";
	argv[n++] = s->group;
	argv[n] = NULL;
	return orc_it_run(out, len, argv);
}

static int
scene_spawn(struct orc_it_scene *s, const char *name, const char *const *env,
	    const char *prog, const char *const *args)
{
	struct orc_it_proc *p;

	ck_assert_msg(s->n_procs < ORC_IT_MAX_PROCS, "too many processes");
	p = &s->procs[s->n_procs];
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->log, sizeof(p->log), "%s/%s.%zu.log", s->dir, name,
		 s->n_procs);
	p->pid = orc_it_spawn_prog(p->log, env, prog, args);
	return (int)s->n_procs++;
}

int
orc_it_scene_run(struct orc_it_scene *s, const char *name,
		 const char *const *extra)
{
	char dsn[1100], brokers[512], group[80], replies[100];
	const char *env[32] = {dsn, brokers, group, replies,
			       "ORC_TIMER_POLL_MS=50", "ORC_RELAY_POLL_MS=100",
			       "ORC_BATCH_LINGER_MS=5", "ORC_LOG_LEVEL=info",
			       "ORC_HTTP_PORT=0"};
	const char *args[] = {"run", NULL};
	size_t n = 9;

	snprintf(dsn, sizeof(dsn), "ORC_PG_DSN=%s", s->db.dsn);
	snprintf(brokers, sizeof(brokers), "ORC_KAFKA_BROKERS=%s",
		 orc_it_kafka_brokers());
	snprintf(group, sizeof(group), "ORC_GROUP=%s", s->group);
	snprintf(replies, sizeof(replies), "ORC_REPLY_TOPIC=%s", s->replies);
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 31; i++)
		env[n++] = extra[i];
	env[n] = NULL;
	return scene_spawn(s, name, env, ORC_BINARY, args);
}

int
orc_it_scene_responder(struct orc_it_scene *s, const char *name,
		       const char *topics, const char *const *args)
{
	char list[1024] = "", group[96], one[128];
	const char *argv[48] = {"--brokers", orc_it_kafka_brokers(), "--topics",
				list, "--name", name,
				"--kafka.topic.metadata.refresh.interval.ms=1000"};
	size_t n = 7, len = 0;
	bool has_group = false;
	char *copy = strdup(topics), *save = NULL;

	ck_assert_ptr_nonnull(copy);
	for (char *t = strtok_r(copy, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save))
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
					len ? "," : "",
					orc_it_scene_topic(s, t, one, sizeof(one)));
	free(copy);
	for (size_t i = 0; args != NULL && args[i] != NULL && n < 44; i++) {
		if (strcmp(args[i], "--group") == 0)
			has_group = true;
		argv[n++] = args[i];
	}
	if (!has_group) {
		snprintf(group, sizeof(group), "%s_%s", s->prefix, name);
		argv[n++] = "--group";
		argv[n++] = group;
	}
	argv[n] = NULL;
	return scene_spawn(s, name, NULL, ORC_RESPONDER, argv);
}

int
orc_it_scene_stop(struct orc_it_scene *s, int idx, int sig)
{
	struct orc_it_proc *p = &s->procs[idx];
	int rc;

	if (p->pid <= 0)
		return -1;
	rc = orc_it_stop(p->pid, sig, 30000);
	p->pid = 0;
	return rc;
}

/*
 * What a failure shows: every process's log tail and the sagas' statuses.
 * It asserts nothing, so that the failure it explains is the one reported
 * (the database may be the thing that went away).
 */
static void
scene_dump(struct orc_it_scene *s)
{
	PGresult *res;

	for (size_t i = 0; i < s->n_procs; i++)
		orc_it_dump_tail(s->procs[i].log, 40);
	if (s->db.conn == NULL)
		return;
	res = PQexec(s->db.conn,
		     "SELECT coalesce(string_agg(status || '=' || n, ' '"
		     " ORDER BY status), 'no sagas') FROM (SELECT status,"
		     " count(*) n FROM orchestrator.sagas GROUP BY 1) x");
	fprintf(stderr, "sagas: %s (database %s, logs in %s)\n",
		PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
			? PQgetvalue(res, 0, 0)
			: PQerrorMessage(s->db.conn),
		s->db.name, s->dir);
	PQclear(res);
}

void
orc_it_scene_fail(struct orc_it_scene *s, const char *fmt, ...)
{
	char msg[2048];

	FORMAT_VA(msg, fmt);
	fprintf(stderr, "FAILED: %s\n", msg);
	scene_dump(s);
	ck_abort_msg("%s", msg);
	abort(); /* not reached */
}

void
orc_it_expect(struct orc_it_scene *s, const char *expected, const char *what,
	      char *got)
{
	if (strcmp(got, expected) != 0)
		orc_it_scene_fail(s, "%s: got \"%s\", expected \"%s\"", what, got,
				  expected);
	free(got);
}

/*
 * Fail the test when one of the scene's processes crashed (a signal no
 * test sends: SIGSEGV, SIGABRT, ...), instead of waiting out a timeout
 * for what it will never do.  WNOWAIT: a test that reaps the process
 * itself still can.
 */
static void
check_crashed(struct orc_it_scene *s, const char *what)
{
	for (size_t i = 0; i < s->n_procs; i++) {
		siginfo_t info;

		if (s->procs[i].pid <= 0)
			continue;
		memset(&info, 0, sizeof(info));
		if (waitid(P_PID, (id_t)s->procs[i].pid, &info,
			   WEXITED | WNOHANG | WNOWAIT) != 0 ||
		    info.si_pid != s->procs[i].pid)
			continue;
		if ((info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED) &&
		    (info.si_status == SIGSEGV || info.si_status == SIGABRT ||
		     info.si_status == SIGBUS || info.si_status == SIGFPE ||
		     info.si_status == SIGILL))
			orc_it_scene_fail(s, "%s crashed (signal %d) while "
					     "waiting for %s",
					  s->procs[i].name, info.si_status,
					  what);
	}
}

void
orc_it_scene_await(struct orc_it_scene *s, int timeout_ms, const char *what,
		   const char *sql)
{
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;

	for (;;) {
		char *v = orc_it_pg_value(s->db.conn, sql);
		bool done = strcmp(v, "t") == 0;

		free(v);
		if (done)
			return;
		check_crashed(s, what);
		if (orc_clock_mono_ms() >= deadline)
			orc_it_scene_fail(s, "timed out after %d ms waiting for %s",
					  timeout_ms, what);
		orc_clock_sleep_ms(50, NULL);
	}
}

long
orc_it_scene_long(struct orc_it_scene *s, const char *fmt, ...)
{
	char sql[4096];

	FORMAT_VA(sql, fmt);
	return orc_it_pg_long(s->db.conn, sql);
}

char *
orc_it_scene_value(struct orc_it_scene *s, const char *fmt, ...)
{
	char sql[4096];

	FORMAT_VA(sql, fmt);
	return orc_it_pg_value(s->db.conn, sql);
}

void
orc_it_scene_send(struct orc_it_scene *s, const char *topic, const char *key,
		  json_t *headers, const char *value, struct orc_it_sent *sent)
{
	struct orc_header h[32];
	size_t nh = 0;
	const char *name;
	json_t *v;
	char full[128];
	struct orc_error err;
	enum orc_status st;

	json_object_foreach(headers, name, v) {
		ck_assert(nh < 32);
		h[nh].name = name;
		h[nh].value = json_string_value(v);
		h[nh].size = json_string_length(v);
		nh++;
	}
	if (sent != NULL) {
		sent->partition = -1;
		sent->offset = -1;
	}
	orc_it_scene_topic(s, topic, full, sizeof(full));
	for (;;) {
		st = orc_producer_send(s->producer, full, key,
				       key ? strlen(key) : 0, h, nh, value,
				       value ? strlen(value) : 0, sent, &err);
		if (st != ORC_TRANSIENT)
			break;
		orc_producer_poll(s->producer, 50);
	}
	ck_assert_msg(st == ORC_OK, "send to %s: %s", full, err.message);
}

void
orc_it_scene_event(struct orc_it_scene *s, const char *topic, const char *key,
		   const char *id, const char *type, const char *data,
		   const char *sagaid, const char *sagastep,
		   struct orc_it_sent *sent)
{
	json_t *h = json_pack("{ssssssssss}", "ce_specversion", "1.0", "ce_id",
			      id, "ce_source", "/it", "ce_type", type,
			      "content-type", "application/json");

	ck_assert_ptr_nonnull(h);
	if (sagaid != NULL)
		json_object_set_new(h, "ce_sagaid", json_string(sagaid));
	if (sagastep != NULL)
		json_object_set_new(h, "ce_sagastep", json_string(sagastep));
	orc_it_scene_send(s, topic, key, h, data, sent);
	json_decref(h);
}

void
orc_it_scene_flush(struct orc_it_scene *s)
{
	struct orc_error err;

	ck_assert_msg(orc_producer_flush(s->producer, 30000, &err) == ORC_OK,
		      "flush: %s", err.message);
	ck_assert_msg(s->failed == 0, "%d messages not delivered", s->failed);
}

static json_t *
bytes_or_null(const void *p, size_t n)
{
	return p != NULL ? json_stringn_nocheck(p, n) : json_null();
}

json_t *
orc_it_scene_collect(struct orc_it_scene *s, const char *topics,
		     size_t expected, int timeout_ms, int linger_ms)
{
	const char *list[16];
	char names[16][128], group[96];
	size_t n = 0;
	char *copy = strdup(topics), *save = NULL;
	struct orc_consumer *c;
	struct orc_error err;
	json_t *out = json_array();
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;

	ck_assert_ptr_nonnull(copy);
	for (char *t = strtok_r(copy, ",", &save); t != NULL && n < 16;
	     t = strtok_r(NULL, ",", &save)) {
		list[n] = orc_it_scene_topic(s, t, names[n], sizeof(names[n]));
		n++;
	}
	free(copy);
	orc_it_unique("it_collect", group, sizeof(group));
	ck_assert_msg(orc_consumer_create(s->cfg, group, list, n, &c, &err) ==
			      ORC_OK,
		      "consumer: %s", err.message);
	while (orc_clock_mono_ms() < deadline) {
		struct orc_kafka_message *m;
		json_t *h, *o;

		ck_assert_msg(orc_consumer_poll(c, 100, &m, &err) == ORC_OK,
			      "poll: %s", err.message);
		if (m == NULL)
			continue;
		h = json_object();
		for (size_t i = 0; i < orc_kafka_message_header_count(m); i++) {
			struct orc_header hd;

			if (orc_kafka_message_header_at(m, i, &hd))
				json_object_set_new(h, hd.name,
						    bytes_or_null(hd.value, hd.size));
		}
		o = json_pack("{sssisIsoso}", "topic", m->topic, "partition",
			      (int)m->partition, "offset", (json_int_t)m->offset,
			      "key", bytes_or_null(m->key, m->key_len), "value",
			      bytes_or_null(m->value, m->value_len));
		ck_assert_ptr_nonnull(o);
		json_object_set_new(o, "headers", h);
		json_array_append_new(out, o);
		orc_kafka_message_destroy(m);
		if (json_array_size(out) == expected &&
		    orc_clock_mono_ms() + linger_ms < deadline)
			deadline = orc_clock_mono_ms() + linger_ms;
	}
	orc_consumer_destroy(c);
	return out;
}

json_t *
orc_it_scene_rows(struct orc_it_scene *s, const char *fmt, ...)
{
	char sql[4096];
	PGresult *res;
	json_t *rows = json_array();

	FORMAT_VA(sql, fmt);
	res = PQexec(s->db.conn, sql);
	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql,
		      PQerrorMessage(s->db.conn));
	for (int r = 0; r < PQntuples(res); r++) {
		json_t *row = json_array();

		for (int c = 0; c < PQnfields(res); c++)
			json_array_append_new(
				row, PQgetisnull(res, r, c)
					     ? json_null()
					     : json_string(PQgetvalue(res, r, c)));
		json_array_append_new(rows, row);
	}
	PQclear(res);
	return rows;
}

int
orc_it_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

int
orc_it_http_get(int port, const char *path, int timeout_ms, char *body,
		size_t len)
{
	return orc_it_http_get_head(port, path, timeout_ms, NULL, 0, body, len);
}

int
orc_it_http_get_head(int port, const char *path, int timeout_ms, char *head,
		     size_t head_len, char *body, size_t len)
{
	struct sockaddr_in sa;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	static char buf[128 * 1024]; /* tests are single-threaded */
	char req[256];
	size_t n = 0;
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;
	const char *sep;
	int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;

	if (body != NULL && len > 0)
		body[0] = '\0';
	if (head != NULL && head_len > 0)
		head[0] = '\0';
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: localhost\r\n"
		 "Connection: close\r\n\r\n",
		 path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
		goto out;
	while (n < sizeof(buf) - 1 && orc_clock_mono_ms() < deadline) {
		ssize_t got = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);

		if (got <= 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	sep = strstr(buf, "\r\n\r\n");
	if (sep == NULL || orc_clock_mono_ms() > deadline ||
	    sscanf(buf, "HTTP/1.1 %d", &status) != 1) {
		status = -1;
		goto out;
	}
	if (head != NULL && head_len > 0)
		snprintf(head, head_len, "%.*s", (int)(sep - buf), buf);
	if (body != NULL && len > 0)
		snprintf(body, len, "%s", sep + 4);
out:
	close(fd);
	return status;
}

double
orc_it_metric(const char *text, const char *name)
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

/* ---- a stack of the test's own ---- */

/* Parse the "export NAME='value'" lines of a stack.env into a new object. */
static json_t *
stack_env_read(const char *path)
{
	json_t *env = json_object();
	char line[2048];
	FILE *f = fopen(path, "r");

	ck_assert_msg(f != NULL && env != NULL, "cannot read %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *name = line + strlen("export "), *eq, *v;
		size_t n;

		if (strncmp(line, "export ", 7) != 0 ||
		    (eq = strchr(name, '=')) == NULL)
			continue;
		*eq = '\0';
		v = eq + 1;
		v[strcspn(v, "\n")] = '\0';
		n = strlen(v);
		if (n >= 2 && v[0] == '\'' && v[n - 1] == '\'') {
			v[n - 1] = '\0';
			v++;
		}
		json_object_set_new(env, name, json_string(v));
	}
	fclose(f);
	return env;
}

void
orc_it_stack_start(struct orc_it_stack *st, const char *const *env)
{
	char info[128], tag[64];
	const char *args[48];
	size_t n = 0;
	int fds[2];
	int64_t deadline = orc_clock_mono_ms() + 180000;

	orc_it_unique("it_stack", tag, sizeof(tag));
	snprintf(info, sizeof(info), "/tmp/%s.env", tag);
	snprintf(st->log, sizeof(st->log), "/tmp/%s.log", tag);
	for (size_t i = 0; env != NULL && env[i] != NULL && n < 40; i++)
		args[n++] = env[i];
	args[n++] = ORC_SOURCE_DIR "/deploy/local/stack.sh";
	args[n++] = "run";
	args[n++] = "--";
	args[n++] = "bash";
	args[n++] = "-c";
	args[n++] = "cp \"$ORC_STACK_DIR/stack.env\" \"$1.tmp\" &&"
		    " mv \"$1.tmp\" \"$1\"; read -r _ || true";
	args[n++] = "_";
	args[n++] = info;
	args[n] = NULL;
	ck_assert_int_eq(pipe(fds), 0);
	/* only this process may hold the write end, or EOF never comes */
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	st->pid = orc_it_spawn_detached(st->log, fds[0], "/usr/bin/env", args);
	close(fds[0]);
	st->pipe_w = fds[1];
	while (access(info, R_OK) != 0) {
		if (orc_clock_mono_ms() > deadline ||
		    waitpid(st->pid, NULL, WNOHANG) != 0) {
			orc_it_dump_tail(st->log, 40);
			ck_abort_msg("stack.sh run did not start a stack");
		}
		orc_clock_sleep_ms(200, NULL);
	}
	st->env = stack_env_read(info);
	unlink(info);
}

const char *
orc_it_stack_var(const struct orc_it_stack *st, const char *name)
{
	const char *v = json_string_value(json_object_get(st->env, name));

	return v != NULL ? v : "";
}

void
orc_it_stack_stop(struct orc_it_stack *st)
{
	close(st->pipe_w);
	orc_it_stop(st->pid, 0, 120000);
	unlink(st->log);
	json_decref(st->env);
	st->env = NULL;
}
