/*
 * harness.h - what integration tests share: the real stack's settings,
 * unique names so tests never see each other's topics and databases, and
 * running the orchestrator binary.
 *
 * The stack comes from deploy/local/stack.sh (ORC_PG_DSN and
 * ORC_KAFKA_BROKERS in the environment).  Without it every test fails,
 * saying how to start it: CI must never skip them silently.
 *
 * Per STYLE.md, no Kafka handle or PostgreSQL connection is made in the
 * parent of a forked Check test: call these inside the tests.
 */
#ifndef ORC_IT_HARNESS_H
#define ORC_IT_HARNESS_H

#include <stddef.h>

#include <libpq-fe.h>

/* ORC_PG_DSN, or fail the test with instructions.  Borrowed. */
const char *orc_it_pg_dsn(void);

/* ORC_KAFKA_BROKERS, or fail the test with instructions.  Borrowed. */
const char *orc_it_kafka_brokers(void);

/* A name unique to this process and call: "<prefix>_<pid>_<n>_<rand>". */
void orc_it_unique(const char *prefix, char *buf, size_t len);

/* Connect to the stack's database (or dbname, when not NULL); fails the test on error. */
PGconn *orc_it_pg_connect(const char *dbname);

/* A connection string for database dbname on the stack's server. */
void orc_it_dsn_for(const char *dbname, char *buf, size_t len);

/* Create a fresh empty database; its name is written to buf. */
void orc_it_create_database(char *buf, size_t len);

/* Run a query and return its single value as a new string (free()). */
char *orc_it_pg_value(PGconn *conn, const char *sql);

/*
 * Run the orchestrator binary with args (NULL-terminated), capture stdout
 * and stderr together into out (size len), and return its exit status.
 */
int orc_it_run(char *out, size_t len, const char *const *args);

/* Start it without waiting; returns the pid.  Output goes to logfile. */
int orc_it_spawn(const char *logfile, const char *const *args);

/*
 * Start program prog (a path) with args (NULL-terminated, without argv[0])
 * and, in addition to this process's environment, env ("NAME=value"
 * strings, NULL-terminated; may be NULL).  Output goes to logfile.
 * Returns the pid.
 */
int orc_it_spawn_prog(const char *logfile, const char *const *env,
		      const char *prog, const char *const *args);

/* Wait for pid; returns its exit status (or 128+signal). */
int orc_it_wait(int pid);

#endif

/* ---- saga scenarios: a database, topics, `run` and responders ---- */

#include <stdint.h>

#include <jansson.h>

struct orc_producer;
struct orc_config;

/* CLOCK_MONOTONIC in milliseconds. */
int64_t orc_it_mono_ms(void);
void orc_it_sleep_ms(int ms);

/* Run a query whose single value is an integer; fails the test otherwise. */
long orc_it_pg_long(PGconn *conn, const char *sql);

/*
 * orc_it_spawn_prog(), but the child is killed (SIGKILL) when the test
 * process exits: a failed assertion _exit()s a forked Check test, and must
 * leave no orchestrator or responder behind.
 */
int orc_it_spawn_guarded(const char *logfile, const char *const *env,
			 const char *prog, const char *const *args);

/*
 * Send sig to pid and wait for it at most timeout_ms, then SIGKILL it;
 * returns its exit status as orc_it_wait() does.
 */
int orc_it_stop(int pid, int sig, int timeout_ms);

/* Print the last lines of file path to stderr, under a header. */
void orc_it_dump_tail(const char *path, int lines);

/*
 * Create topics[0..n) with partitions partitions each on the stack's Kafka
 * (one that exists already is fine) and wait until the broker knows them.
 */
void orc_it_create_topics(const char *const *topics, size_t n, int partitions);

/*
 * Describe consumer group group: returns its members when it is stable (0
 * while it rebalances or is empty); *min_partitions (may be NULL) = the
 * fewest partitions of topic (of any topic, when NULL) assigned to one
 * member.  (cooperative-sticky balances the count over all topics: one
 * member may hold every partition of one topic.)
 */
int orc_it_group_members(const char *group, const char *topic,
			 int *min_partitions);

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
 * One scenario: its own database (migrated, connected), its own topics
 * ("<prefix>.<name>"), consumer group, reply and dead-letter topics, a temp
 * directory for definition files and logs, a producer, and the processes it
 * started (killed when the test process exits, whatever happens).
 *
 * Topic arguments below are short names ("orders" = "<prefix>.orders");
 * a name with a dot in it is taken as is (s->replies, s->dlq).
 */
struct orc_it_scene {
	char prefix[48];
	char db[64];
	char dsn[1024];
	PGconn *conn;
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
 * Stop every process still running (SIGTERM), free, and remove the temp
 * dir (kept when ORC_IT_KEEP is set; a failed test never gets here).
 */
void orc_it_scene_finish(struct orc_it_scene *s);

/* The full name of topic name into buf. */
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
 * Start `orchestrator run` for s (ORC_TIMER_POLL_MS=50, relay poll 100 ms)
 * with extra env ("NAME=value", NULL-terminated, may be NULL).  Returns the
 * process index.
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
 * Queue one message on topic: key (NULL = none), headers as a JSON object
 * of strings (NULL = none), value (NULL = none).  sent (may be NULL) is
 * filled by the next orc_it_scene_flush().
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
 * duplicates, or until timeout_ms.  Returns a new array of
 * {"topic", "partition", "offset", "key", "value", "headers": {name: value}}
 * (key and value null when absent).
 */
json_t *orc_it_scene_collect(struct orc_it_scene *s, const char *topics,
			     size_t expected, int timeout_ms, int linger_ms);

/*
 * The rows of a query on s's database (printf-style) as a new array of
 * arrays of strings (null for NULL).
 */
json_t *orc_it_scene_rows(struct orc_it_scene *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
