/*
 * harness.h - what the integration tests share: the real stack's
 * settings, names unique to a test so that tests never see each other's
 * databases, topics and groups, fresh migrated databases, child processes
 * that die with their test, Kafka topics and consumer groups, and
 * "scenes": a whole saga scenario (database, topics, `orchestrator run`,
 * responder services, a producer) set up and torn down in one call each.
 *
 * The stack comes from deploy/local/stack.sh (ORC_PG_DSN and
 * ORC_KAFKA_BROKERS in the environment).  Without it every test fails,
 * saying how to start it: CI must never skip them silently.
 *
 * Every helper fails the running Check test (ck_assert) instead of
 * returning an error: a test reads as the scenario it checks.  They make
 * their Kafka handles and PostgreSQL connections when called, so call them
 * inside a test, never in the parent of a forked Check test: librdkafka's
 * threads do not survive fork(), and a connection two processes share
 * breaks.
 *
 * Ownership: strings and arrays passed in are borrowed; what a helper
 * returns new says so, with how to free it.
 */
#ifndef ORC_IT_HARNESS_H
#define ORC_IT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>

struct orc_config;
struct orc_consumer;
struct orc_kafka_message;
struct orc_producer;

/* ---- the stack and unique names ---- */

/* ORC_PG_DSN, or fail the test with instructions.  Borrowed. */
const char *orc_it_pg_dsn(void);

/* ORC_KAFKA_BROKERS, or fail the test with instructions.  Borrowed. */
const char *orc_it_kafka_brokers(void);

/* A name unique to this process and call, "<prefix>_<pid>_<n>_<r>", in buf. */
void orc_it_unique(const char *prefix, char *buf, size_t len);

/* One test of a suite: its case name (for CK_RUN_CASE) and its function. */
struct orc_it_case {
	const char *name;
	const TTest *test;
};

/* The case of START_TEST(test_<name>), named <name>. */
#define ORC_IT_CASE(name) {#name, test_##name}

/*
 * Build suite name with one test case per entry of cases[0..n) (so that
 * CK_RUN_CASE=<name> runs one test), each test with a timeout of
 * timeout_s seconds, and run it with orc_check_run(): main()'s exit code.
 */
int orc_it_run_suite(const char *name, const struct orc_it_case *cases,
		     size_t n, int timeout_s);

/* ---- PostgreSQL ---- */

/*
 * A new connection to the stack's database, or to database dbname on the
 * same server when dbname is not NULL.  The caller PQfinish()es it.
 */
PGconn *orc_it_pg_connect(const char *dbname);

/* The connection string of database dbname on the stack's server into buf. */
void orc_it_dsn_for(const char *dbname, char *buf, size_t len);

/* Create a fresh empty database; its name is written to buf. */
void orc_it_create_database(char *buf, size_t len);

/* A database of one test, with the schema. */
struct orc_it_db {
	char name[64];
	char dsn[1024];
	PGconn *conn; /* owned: orc_it_db_finish() closes it */
};

/*
 * Create a fresh database, run `orchestrator migrate` on it, and connect
 * to it.  (The database stays on the stack's server, which is thrown
 * away whole.)
 */
void orc_it_db_init(struct orc_it_db *db);

/* Close db's connection. */
void orc_it_db_finish(struct orc_it_db *db);

/*
 * Run sql (one statement with $1..$n_params placeholders and params, or,
 * with n_params 0, any number of statements); it must succeed.
 */
void orc_it_pg_exec(PGconn *conn, const char *sql, int n_params,
		    const char *const *params);

/*
 * Run a query whose result is one value; returns it as a new string
 * (free()), "(null)" for NULL.
 */
char *orc_it_pg_value(PGconn *conn, const char *sql);

/* orc_it_pg_value() of a query whose one value is an integer. */
long orc_it_pg_long(PGconn *conn, const char *sql);

/* ---- processes ---- */

/*
 * Run the orchestrator binary with args (NULL-terminated, without
 * argv[0]), capture its stdout and stderr together into out (size len,
 * NUL-terminated, cut to fit), and return its exit status.
 */
int orc_it_run(char *out, size_t len, const char *const *args);

/* Start the orchestrator binary without waiting; see orc_it_spawn_prog(). */
int orc_it_spawn(const char *logfile, const char *const *args);

/*
 * Start program prog (a path) with args (NULL-terminated, without argv[0])
 * and, on top of this process's environment, env ("NAME=value" strings,
 * NULL-terminated; may be NULL).  Its stdout and stderr go to logfile.
 * Returns the pid.  The child is killed (SIGKILL) when the test process
 * exits: a failed assertion _exit()s a forked Check test, and must leave
 * no orchestrator or responder behind.
 */
int orc_it_spawn_prog(const char *logfile, const char *const *env,
		      const char *prog, const char *const *args);

/*
 * Start prog as orc_it_spawn_prog() does, but in a session of its own,
 * so that it outlives the test (Check kills a test's process group when
 * it ends); its stdin is stdin_fd (or this process's when -1).  For a
 * child that must stop something cleanly after the test, like a stack
 * tied to a pipe: the caller makes sure it ends.
 */
int orc_it_spawn_detached(const char *logfile, int stdin_fd, const char *prog,
			  const char *const *args);

/* Wait for child pid; returns its exit status (or 128+signal, -1 on error). */
int orc_it_wait(int pid);

/*
 * Send sig to child pid (0: send nothing, only wait) and wait for it at
 * most timeout_ms, then SIGKILL it; returns its exit status as
 * orc_it_wait() does.
 */
int orc_it_stop(int pid, int sig, int timeout_ms);

/* Print the last lines of file path to stderr, under a header. */
void orc_it_dump_tail(const char *path, int lines);

/* ---- Kafka ---- */

/*
 * Initialise cfg (caller-owned; orc_config_finish() it) as `run` would
 * from the environment (so ORC_KAFKA_* passthrough applies), with the
 * stack's brokers.
 */
void orc_it_config_init(struct orc_config *cfg);

/*
 * Create topics[0..n) with partitions partitions each on the stack's Kafka
 * (one that exists already is fine) and wait until the broker knows them.
 */
void orc_it_create_topics(const char *const *topics, size_t n, int partitions);

/*
 * Describe consumer group group: returns its members when it is stable (0
 * while it rebalances, is empty, or the broker gave no answer within 10 s);
 * *min_partitions (may be NULL) = the
 * fewest partitions of topic (of any topic, when NULL) assigned to one
 * member.  (range, the default, spreads each topic evenly;
 * cooperative-sticky balances the count over all topics: one member may
 * hold every partition of one topic.)
 */
int orc_it_group_members(const char *group, const char *topic,
			 int *min_partitions);

/*
 * Poll c (borrowed) until a message comes or timeout_ms passed: the
 * message (new: orc_kafka_message_destroy()), or NULL.
 */
struct orc_kafka_message *orc_it_poll_one(struct orc_consumer *c,
					  int timeout_ms);

/* ---- the messages orc_it_scene_collect() returns ---- */

/* The string member key of object o, or NULL (borrowed from o). */
const char *orc_it_json_str(const json_t *o, const char *key);

/* Header name of a collected message, or NULL (borrowed from msg). */
const char *orc_it_header(const json_t *msg, const char *name);

/* ---- saga scenarios: a database, topics, `run` and responders ---- */

#define ORC_IT_MAX_PROCS 8

struct orc_it_proc {
	int pid; /* 0 once stopped */
	char name[32];
	char log[160];
};

/* Where a produced message went, filled by orc_it_scene_flush(). */
struct orc_it_sent {
	int32_t partition; /* -1 until acknowledged */
	int64_t offset;
};

/*
 * One scenario: its own database (migrated, connected, search_path
 * orchestrator), its own topics ("<prefix>.<name>"), consumer group,
 * reply and dead-letter topics, a temp directory for definition files and
 * logs, a producer, and the processes it started (killed when the test
 * process exits, whatever happens).  Caller-owned; everything in it is
 * the scene's.
 *
 * Topic arguments below are short names ("orders" = "<prefix>.orders");
 * a name with a dot in it is taken as is (s->replies, s->dlq).
 */
struct orc_it_scene {
	char prefix[48];
	struct orc_it_db db;
	char group[64];	   /* `run`'s consumer group and inbox consumer */
	char replies[80];  /* ORC_REPLY_TOPIC */
	char dlq[80];	   /* <group>.dlq */
	char dir[64];
	struct orc_it_proc procs[ORC_IT_MAX_PROCS];
	size_t n_procs;
	struct orc_config *cfg;
	struct orc_producer *producer;
	int acked, failed;
};

/*
 * Set up s: database, topics[0..n_topics) (short names) plus the reply and
 * dead-letter topics, 4 partitions each, and the producer.
 */
void orc_it_scene_init(struct orc_it_scene *s, const char *const *topics,
		       size_t n_topics);

/*
 * The common scene: orc_it_scene_init(), orc_it_scene_load() of def, one
 * `run` named "run", and one responder named "services" on
 * responder_topics with rules (see orc_it_scene_responder()).
 */
void orc_it_scene_start(struct orc_it_scene *s, const char *const *topics,
			size_t n_topics, const char *def,
			const char *responder_topics,
			const char *const *rules);

/*
 * Stop every process still running (SIGTERM), free, and remove the temp
 * dir (kept when ORC_IT_KEEP is set; a failed test never gets here).
 */
void orc_it_scene_finish(struct orc_it_scene *s);

/* The full name of topic name into buf; returns buf. */
const char *orc_it_scene_topic(const struct orc_it_scene *s, const char *name,
			       char *buf, size_t len);

/*
 * Write definition json (every "{P}" replaced by s->prefix) to a file and
 * `orchestrator definitions load` it.
 */
void orc_it_scene_load(struct orc_it_scene *s, const char *json);

/*
 * Run the orchestrator with args (NULL-terminated, e.g. {"retry", id,
 * NULL}) and the settings `run` has (database, reply topic, group);
 * returns its exit status, its output in out.
 */
int orc_it_scene_cli(struct orc_it_scene *s, char *out, size_t len,
		     const char *const *args);

/*
 * Start `orchestrator run` for s (ORC_TIMER_POLL_MS=50, relay poll 100 ms,
 * HTTP port 0) with extra env ("NAME=value", NULL-terminated, may be NULL;
 * it wins over those).  Returns the process index.
 */
int orc_it_scene_run(struct orc_it_scene *s, const char *name,
		     const char *const *env);

/*
 * Start a responder named name (its group is "<prefix>_<name>" unless args
 * hold --group) on topics (short names, comma-separated) with args (rules,
 * NULL-terminated).  Returns the process index.
 */
int orc_it_scene_responder(struct orc_it_scene *s, const char *name,
			   const char *topics, const char *const *args);

/* Stop process idx with sig (waits; SIGKILL after 30 s); exit status. */
int orc_it_scene_stop(struct orc_it_scene *s, int idx, int sig);

/* Fail the test with the message, after dumping every process's log tail. */
void orc_it_scene_fail(struct orc_it_scene *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/*
 * got (taken: freed here) must be expected; otherwise fail, naming what.
 * Meant for orc_it_scene_value() straight in the call.
 */
void orc_it_expect(struct orc_it_scene *s, const char *expected,
		   const char *what, char *got);

/*
 * Poll sql (one boolean value) every 50 ms until it is true; after
 * timeout_ms fail, saying what, with the sagas' statuses and the logs.
 */
void orc_it_scene_await(struct orc_it_scene *s, int timeout_ms,
			const char *what, const char *sql);

/* orc_it_pg_long() / orc_it_pg_value() on s's database (printf-style). */
long orc_it_scene_long(struct orc_it_scene *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
char *orc_it_scene_value(struct orc_it_scene *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The rows of a query on s's database (printf-style) as a new array of
 * arrays of strings (null for NULL); json_decref() it.
 */
json_t *orc_it_scene_rows(struct orc_it_scene *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Queue one message on topic: key (NULL = none), headers as a JSON object
 * of strings (borrowed; NULL = none), value (NULL = none).  sent (may be
 * NULL; caller-owned, must live until then) is filled by the next
 * orc_it_scene_flush().
 */
void orc_it_scene_send(struct orc_it_scene *s, const char *topic,
		       const char *key, json_t *headers, const char *value,
		       struct orc_it_sent *sent);

/*
 * Queue a CloudEvent in binary mode: ce_specversion 1.0, ce_id id, ce_source
 * /it, ce_type type, content-type application/json, plus ce_sagaid and
 * ce_sagastep when not NULL; value data (JSON text).
 */
void orc_it_scene_event(struct orc_it_scene *s, const char *topic,
			const char *key, const char *id, const char *type,
			const char *data, const char *sagaid,
			const char *sagastep, struct orc_it_sent *sent);

/* Wait until every queued message is acknowledged; fails otherwise. */
void orc_it_scene_flush(struct orc_it_scene *s);

/*
 * Read topics (short names, comma-separated) from the beginning in a group
 * of its own until expected messages came, then linger_ms more for
 * duplicates, or until timeout_ms.  Returns a new array (json_decref()) of
 * {"topic", "partition", "offset", "key", "value", "headers": {name: value}}
 * (key, value and a header's value null when absent).
 */
json_t *orc_it_scene_collect(struct orc_it_scene *s, const char *topics,
			     size_t expected, int timeout_ms, int linger_ms);

/* ---- HTTP ---- */

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int orc_it_free_port(void);

/*
 * GET path from 127.0.0.1:port, waiting at most timeout_ms for the whole
 * answer: its status (-1 when none came in time), its body in body (size
 * len, NUL-terminated, cut to fit; may be NULL).
 */
int orc_it_http_get(int port, const char *path, int timeout_ms, char *body,
		    size_t len);

/* The same, with the answer's head (status line and headers) in head. */
int orc_it_http_get_head(int port, const char *path, int timeout_ms,
			 char *head, size_t head_len, char *body, size_t len);

/*
 * The value of the sample name (with its labels, exactly as rendered,
 * e.g. "x_total{status=\"completed\"}") in a /metrics body; -1 if absent.
 */
double orc_it_metric(const char *text, const char *name);

/* ---- a stack of the test's own ---- */

/*
 * A private stack (deploy/local/stack.sh run), alive exactly as long as a
 * pipe that only this process holds: it stops when the test process ends,
 * whatever happens, or at orc_it_stack_stop().  Caller-owned.
 */
struct orc_it_stack {
	int pid;    /* stack.sh's */
	int pipe_w; /* closing it stops the stack */
	char log[128];
	json_t *env; /* owned: the stack.env variables, name -> value */
};

/*
 * Start st with env ("NAME=value", NULL-terminated, may be NULL; e.g.
 * "ORC_STACK_PG_TLS=1") for stack.sh, and wait (at most 180 s) until it
 * is up.
 */
void orc_it_stack_start(struct orc_it_stack *st, const char *const *env);

/* The value of variable name of st's stack.env ("" when absent; borrowed). */
const char *orc_it_stack_var(const struct orc_it_stack *st, const char *name);

/* Stop st (stack.sh gets 120 s) and free what it holds. */
void orc_it_stack_stop(struct orc_it_stack *st);

#endif
