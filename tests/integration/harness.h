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
