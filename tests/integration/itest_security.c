/*
 * itest_security.c - least privilege and encrypted, authenticated links.
 *
 * Roles: migration 006 makes orchestrator_runtime (data, no DDL) and
 * orchestrator_readonly (SELECT).  A log-in member of the runtime role
 * loads definitions, runs `orchestrator run` through whole sagas and
 * cancels one, and may create or alter nothing; a member of the read-only
 * role reads every view and table and may change nothing.
 *
 * TLS: a stack of its own (deploy/local/stack.sh with ORC_STACK_PG_TLS=1
 * and ORC_STACK_KAFKA_SASL=1: a throw-away CA, PostgreSQL with ssl=on, a
 * SASL_SSL listener next to the plaintext one) on which `orchestrator run`
 * connects with sslmode=verify-full and SASL PLAIN over TLS; a CA that did
 * not sign the server's certificate fails with a clear error.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "clock.h"

#define WAIT_MS 60000

static const char work_def[] =
	"{\"name\": \"secure\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"reserve\", \"command\": {\"topic\": \"{P}.work\","
	"   \"type\": \"reserve.do\"}, \"success\": [\"reserve.done\"]},"
	"  {\"name\": \"charge\", \"needs\": [\"reserve\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"charge.do\"},"
	"   \"success\": [\"charge.done\"]}"
	" ]}";

/* Its command goes to a topic no service reads: the saga waits there. */
static const char held_def[] =
	"{\"name\": \"held\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.held\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"wait\", \"command\": {\"topic\": \"{P}.idle\","
	"   \"type\": \"wait.do\"}, \"success\": [\"wait.done\"]}"
	" ]}";

static const char *const responder_rules[] = {
	"--rule", "reserve.do=succeed:reserve.done",
	"--rule", "charge.do=succeed:charge.done", NULL};

#define SAGAS 10

/* A new log-in role, member of group, named after prefix, into name. */
static void
login_role(PGconn *conn, const char *prefix, const char *group, char *name,
	   size_t len)
{
	char sql[256];

	orc_it_unique(prefix, name, len);
	snprintf(sql, sizeof(sql), "CREATE ROLE %s LOGIN IN ROLE %s", name,
		 group);
	orc_it_pg_exec(conn, sql, 0, NULL);
}

static void
drop_role(PGconn *conn, const char *name)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP ROLE %s", name);
	orc_it_pg_exec(conn, sql, 0, NULL);
}

/* The connection string of database dbname as user into buf. */
static void
dsn_as(const char *dbname, const char *user, char *buf, size_t len)
{
	size_t n;

	orc_it_dsn_for(dbname, buf, len);
	n = strlen(buf);
	snprintf(buf + n, len - n, " user='%s'", user);
}

/*
 * Run sql on conn: it must fail with SQLSTATE 42501 (insufficient
 * privilege), or what is named.
 */
static void
expect_denied(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	ck_assert_msg(PQresultStatus(res) == PGRES_FATAL_ERROR &&
			      state != NULL && strcmp(state, "42501") == 0,
		      "%s: expected permission denied, got %s %s", sql,
		      PQresStatus(PQresultStatus(res)),
		      PQresultErrorMessage(res));
	PQclear(res);
}

static PGconn *
connect_dsn(const char *dsn)
{
	PGconn *conn = PQconnectdb(dsn);

	ck_assert_msg(PQstatus(conn) == CONNECTION_OK,
		      "cannot connect to %s: %s", dsn, PQerrorMessage(conn));
	orc_it_pg_exec(conn, "SET search_path TO orchestrator", 0, NULL);
	return conn;
}

/* Start SAGAS sagas of "secure" and wait until they are completed. */
static void
run_sagas(struct orc_it_scene *s)
{
	for (int k = 0; k < SAGAS; k++) {
		char key[32], data[64];

		snprintf(key, sizeof(key), "o-%d", k);
		snprintf(data, sizeof(data), "{\"order_id\":\"%s\"}", key);
		orc_it_scene_event(s, "orders", key, key, "order.placed", data,
				   NULL, NULL, NULL);
	}
	orc_it_scene_flush(s);
	orc_it_scene_await(s, WAIT_MS, "every saga completed",
			   "SELECT count(*) = 10 FROM sagas"
			   " WHERE status = 'completed'");
}

/* ---- 1. the runtime role runs sagas and creates nothing ---- */

START_TEST(test_runtime_role_runs_sagas)
{
	static const char *const topics[] = {"orders", "work", "idle"};
	struct orc_it_scene s;
	char user[64], out[4096], *id;
	const char *cancel[] = {"cancel", NULL, "--reason", "it", NULL};
	PGconn *rt;
	int rc;

	orc_it_scene_init(&s, topics, 3);
	login_role(s.db.conn, "itsec_rt", "orchestrator_runtime", user,
		   sizeof(user));
	/* from here on every command of the scene runs as the runtime role */
	dsn_as(s.db.name, user, s.db.dsn, sizeof(s.db.dsn));
	orc_it_scene_load(&s, work_def);
	orc_it_scene_load(&s, held_def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", responder_rules);
	run_sagas(&s);

	orc_it_scene_event(&s, "orders", "h-1", "h-1", "order.held",
			   "{\"order_id\":\"h-1\"}", NULL, NULL, NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the held saga waits",
			   "SELECT count(*) = 1 FROM sagas WHERE business_key"
			   " = 'h-1' AND status = 'running'");
	id = orc_it_scene_value(&s, "SELECT id FROM sagas"
				    " WHERE business_key = 'h-1'");
	cancel[1] = id;
	rc = orc_it_scene_cli(&s, out, sizeof(out), cancel);
	ck_assert_msg(rc == 0, "cancel as the runtime role: %d\n%s", rc, out);
	/* it awaits its command in flight before it is cancelled */
	orc_it_scene_await(&s, WAIT_MS, "the held saga being cancelled",
			   "SELECT count(*) = 1 FROM sagas WHERE business_key"
			   " = 'h-1' AND status = 'compensating'");
	free(id);

	rt = connect_dsn(s.db.dsn);
	expect_denied(rt, "CREATE TABLE orchestrator.intruder (a int)");
	expect_denied(rt, "ALTER TABLE sagas ADD COLUMN intruder int");
	expect_denied(rt, "DROP TABLE dead_letters");
	expect_denied(rt, "DELETE FROM schema_migrations");
	PQfinish(rt);
	ck_assert_int_eq(orc_it_scene_stop(&s, 0, SIGTERM), 0);
	drop_role(s.db.conn, user);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 2. the read-only role reads everything and changes nothing ---- */

START_TEST(test_readonly_role_only_reads)
{
	struct orc_it_db db;
	static const char *const reads[][2] = {
		{"list", NULL},
		{"dead-letters", "list"},
		{"definitions", "list"}};
	char user[64], dsn[1200], sql[256];
	PGconn *ro;
	PGresult *res;
	int n;

	orc_it_db_init(&db);
	login_role(db.conn, "itsec_ro", "orchestrator_readonly", user,
		   sizeof(user));
	dsn_as(db.name, user, dsn, sizeof(dsn));
	ro = connect_dsn(dsn);
	res = PQexec(db.conn, "SELECT table_name FROM information_schema.tables"
			      " WHERE table_schema = 'orchestrator'"
			      " ORDER BY table_type DESC, table_name");
	ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
	n = PQntuples(res);
	ck_assert_msg(n > 10, "only %d tables and views", n);
	for (int i = 0; i < n; i++) {
		PGresult *r;

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"",
			 PQgetvalue(res, i, 0));
		r = PQexec(ro, sql);
		ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK,
			      "read-only role: %s: %s", sql,
			      PQresultErrorMessage(r));
		PQclear(r);
	}
	PQclear(res);
	expect_denied(ro, "INSERT INTO saga_definitions (name, version, body)"
			  " VALUES ('x', 1, '{}')");
	expect_denied(ro, "UPDATE sagas SET status = 'failed'");
	expect_denied(ro, "DELETE FROM dead_letters");
	expect_denied(ro, "CREATE TABLE orchestrator.intruder (a int)");
	PQfinish(ro);
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		const char *args[5] = {reads[i][0]};
		size_t k = 1;
		char out[4096];
		int rc;

		if (reads[i][1] != NULL)
			args[k++] = reads[i][1];
		args[k++] = "--pg-dsn";
		args[k++] = dsn;
		rc = orc_it_run(out, sizeof(out), args);
		ck_assert_msg(rc == 0, "`%s` as the read-only role: %d\n%s",
			      reads[i][0], rc, out);
	}
	drop_role(db.conn, user);
	orc_it_db_finish(&db);
}
END_TEST

/* ---- 3. an owner who may not create roles; deploy/sql/roles.sql ---- */

/*
 * The tables of the schema whose grants are not migration 006's (each
 * privilege on its own: has_table_privilege() of a list is "any of").
 */
static const char wrong_grants_sql[] =
	"SELECT count(*) FROM (SELECT tablename = 'schema_migrations' AS mig,"
	"  format('%I.%I', schemaname, tablename) AS t FROM pg_tables"
	"  WHERE schemaname = 'orchestrator') x"
	" WHERE NOT has_table_privilege('orchestrator_runtime', t, 'SELECT')"
	" OR NOT has_table_privilege('orchestrator_readonly', t, 'SELECT')"
	" OR has_table_privilege('orchestrator_readonly', t,"
	"                        'INSERT, UPDATE, DELETE, TRUNCATE')"
	" OR has_table_privilege('orchestrator_runtime', t,"
	"                        'TRUNCATE, REFERENCES, TRIGGER')"
	" OR mig = has_table_privilege('orchestrator_runtime', t, 'INSERT')";

/*
 * A managed database: its owner may log in and nothing more.  When the
 * server has no roles yet, migrate says it skipped their grants; then the
 * administrator creates the roles and the owner runs deploy/sql/roles.sql.
 * Either way each role ends up with exactly its privileges.
 */
static void
check_owner_without_createrole(void)
{
	PGconn *admin = orc_it_pg_connect(NULL), *conn;
	char owner[64], db[64], dsn[1200], sql[256], out[4096], log[160];
	const char *migrate[] = {"migrate", "--dsn", dsn, NULL};
	const char *psql[] = {"-X", "-q", "-v", "ON_ERROR_STOP=1", "-v",
			      "schema=orchestrator", "-f",
			      ORC_SOURCE_DIR "/deploy/sql/roles.sql", "-d", dsn,
			      NULL};
	long had_roles;
	int rc;

	orc_it_unique("itsec_owner", owner, sizeof(owner));
	orc_it_unique("itsec_db", db, sizeof(db));
	snprintf(sql, sizeof(sql), "CREATE ROLE %s LOGIN", owner);
	orc_it_pg_exec(admin, sql, 0, NULL);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s OWNER %s", db, owner);
	orc_it_pg_exec(admin, sql, 0, NULL);
	had_roles = orc_it_pg_long(admin,
				   "SELECT count(*) FROM pg_roles WHERE rolname"
				   " IN ('orchestrator_runtime',"
				   "     'orchestrator_readonly')");
	dsn_as(db, owner, dsn, sizeof(dsn));
	rc = orc_it_run(out, sizeof(out), migrate);
	ck_assert_msg(rc == 0, "migrate as an owner without CREATEROLE: %d\n%s",
		      rc, out);
	ck_assert_msg((strstr(out, "grants were skipped") != NULL) ==
			      (had_roles < 2),
		      "%ld roles before migrate; it said\n%s", had_roles, out);

	/* what the administrator does once per server */
	orc_it_pg_exec(admin,
		       "DO $$ BEGIN"
		       " CREATE ROLE orchestrator_runtime NOLOGIN;"
		       " EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
		       "DO $$ BEGIN"
		       " CREATE ROLE orchestrator_readonly NOLOGIN;"
		       " EXCEPTION WHEN duplicate_object THEN NULL; END $$;",
		       0, NULL);
	snprintf(log, sizeof(log), "/tmp/%s.psql.log", owner);
	rc = orc_it_wait(orc_it_spawn_prog(log, NULL, "/usr/bin/psql", psql));
	if (rc != 0) {
		orc_it_dump_tail(log, 20);
		ck_abort_msg("deploy/sql/roles.sql as the owner: exit %d", rc);
	}
	unlink(log);

	conn = orc_it_pg_connect(db);
	ck_assert_int_eq(orc_it_pg_long(conn, wrong_grants_sql), 0);
	PQfinish(conn);
	PQfinish(admin);
}

START_TEST(test_owner_without_createrole)
{
	check_owner_without_createrole();
}
END_TEST

/* ---- 4. TLS to PostgreSQL, SASL_SSL to Kafka ---- */

/*
 * A stack of its own with ORC_STACK_PG_TLS=1 and ORC_STACK_KAFKA_SASL=1;
 * the harness (ORC_PG_DSN, ORC_KAFKA_BROKERS) then points at its plaintext
 * side, for the scene's own work.
 */
static void
tls_stack_start(struct orc_it_stack *st)
{
	static const char *const env[] = {"ORC_STACK_PG_TLS=1",
					  "ORC_STACK_KAFKA_SASL=1", NULL};

	orc_it_stack_start(st, env);
	ck_assert_msg(*orc_it_stack_var(st, "ORC_STACK_TLS_CA") != '\0',
		      "stack without TLS");
	setenv("ORC_PG_DSN", orc_it_stack_var(st, "ORC_PG_DSN"), 1);
	setenv("ORC_KAFKA_BROKERS", orc_it_stack_var(st, "ORC_KAFKA_BROKERS"),
	       1);
}

/* A CA of its own (that signed nothing of the stack's) as PEM at path. */
static void
other_ca(const char *dir, char *path, size_t len)
{
	char key[160], log[160];
	const char *args[] = {"req", "-x509", "-newkey", "rsa:2048", "-nodes",
			      "-days", "1", "-subj", "/CN=not the stack's CA",
			      "-keyout", key, "-out", path, NULL};

	snprintf(path, len, "%s/other-ca.crt", dir);
	snprintf(key, sizeof(key), "%s/other-ca.key", dir);
	snprintf(log, sizeof(log), "%s/openssl.log", dir);
	if (orc_it_wait(orc_it_spawn_prog(log, NULL, "/usr/bin/openssl",
					  args)) != 0) {
		orc_it_dump_tail(log, 20);
		ck_abort_msg("openssl could not make a CA");
	}
}

/* Wait until the log of process idx holds text; fail after timeout_ms. */
static void
await_log(struct orc_it_scene *s, int idx, const char *text, int timeout_ms)
{
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;
	char buf[65536];

	for (;;) {
		FILE *f = fopen(s->procs[idx].log, "r");
		size_t n = 0;

		if (f != NULL) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
		}
		buf[n] = '\0';
		if (strstr(buf, text) != NULL)
			return;
		if (orc_clock_mono_ms() > deadline)
			orc_it_scene_fail(s, "no \"%s\" in %s's log", text,
					  s->procs[idx].name);
		orc_clock_sleep_ms(200, NULL);
	}
}

START_TEST(test_tls_and_sasl_ssl)
{
	static const char *const topics[] = {"orders", "work", "idle"};
	struct orc_it_stack st;
	const char *ca, *sasl, *user, *password;
	struct orc_it_scene s;
	char base[512], wrong[128], out[4096];
	char e_brokers[300], e_ca[300], e_user[100], e_pass[100];
	const char *kafka_env[] = {e_brokers,
				   "ORC_KAFKA_SECURITY_PROTOCOL=SASL_SSL",
				   "ORC_KAFKA_SASL_MECHANISM=PLAIN", e_user,
				   e_pass, e_ca, NULL, NULL};
	char r_brokers[300], r_ca[300], r_user[100], r_pass[100];
	const char *rules[] = {"--brokers", r_brokers,
			       "--kafka.security.protocol=SASL_SSL",
			       "--kafka.sasl.mechanism=PLAIN", r_user, r_pass,
			       r_ca, "--rule",
			       "reserve.do=succeed:reserve.done", "--rule",
			       "charge.do=succeed:charge.done", NULL};
	const char *status_args[] = {"list", NULL};
	int rc, bad;

	tls_stack_start(&st);
	/* a fresh server: no roles yet */
	check_owner_without_createrole();
	ca = orc_it_stack_var(&st, "ORC_STACK_TLS_CA");
	sasl = orc_it_stack_var(&st, "ORC_STACK_KAFKA_SASL_BROKERS");
	user = orc_it_stack_var(&st, "ORC_STACK_KAFKA_SASL_USER");
	password = orc_it_stack_var(&st, "ORC_STACK_KAFKA_SASL_PASSWORD");
	orc_it_scene_init(&s, topics, 3);

	/* PostgreSQL: verify-full against the stack's CA */
	orc_it_dsn_for(s.db.name, base, sizeof(base));
	snprintf(s.db.dsn, sizeof(s.db.dsn),
		 "%s sslmode='verify-full' sslrootcert='%s'"
		 " application_name='itsec_tls'", base, ca);
	/* Kafka: SASL PLAIN over TLS, for `run` and for the services */
	snprintf(e_brokers, sizeof(e_brokers), "ORC_KAFKA_BROKERS=%s",
		 sasl);
	snprintf(e_user, sizeof(e_user), "ORC_KAFKA_SASL_USERNAME=%s",
		 user);
	snprintf(e_pass, sizeof(e_pass), "ORC_KAFKA_SASL_PASSWORD=%s",
		 password);
	snprintf(e_ca, sizeof(e_ca), "ORC_KAFKA_SSL_CA_LOCATION=%s", ca);
	snprintf(r_brokers, sizeof(r_brokers), "%s", sasl);
	snprintf(r_user, sizeof(r_user), "--kafka.sasl.username=%s",
		 user);
	snprintf(r_pass, sizeof(r_pass), "--kafka.sasl.password=%s",
		 password);
	snprintf(r_ca, sizeof(r_ca), "--kafka.ssl.ca.location=%s", ca);

	orc_it_scene_load(&s, work_def);
	orc_it_scene_run(&s, "run", kafka_env);
	orc_it_scene_responder(&s, "services", "work", rules);
	run_sagas(&s);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl l"
		" USING (pid) WHERE a.application_name = 'itsec_tls'"
		" AND NOT l.ssl"), 0);
	ck_assert_int_gt(orc_it_scene_long(&s,
		"SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl l"
		" USING (pid) WHERE a.application_name = 'itsec_tls'"
		" AND l.ssl"), 0);

	/* a CA that did not sign the server's certificate: refused, clearly */
	other_ca(s.dir, wrong, sizeof(wrong));
	snprintf(s.db.dsn, sizeof(s.db.dsn),
		 "%s sslmode='verify-full' sslrootcert='%s'", base, wrong);
	rc = orc_it_scene_cli(&s, out, sizeof(out), status_args);
	ck_assert_msg(rc != 0 && strstr(out, "certificate verify failed"),
		      "a wrong CA: exit %d\n%s", rc, out);

	/* and for Kafka: librdkafka's reason reaches the log */
	snprintf(s.db.dsn, sizeof(s.db.dsn),
		 "%s sslmode='verify-full' sslrootcert='%s'", base, ca);
	snprintf(e_ca, sizeof(e_ca), "ORC_KAFKA_SSL_CA_LOCATION=%s", wrong);
	kafka_env[6] = "ORC_GROUP=itsec_wrong_ca";
	kafka_env[7] = NULL;
	bad = orc_it_scene_run(&s, "run-wrong-ca", kafka_env);
	await_log(&s, bad, "certificate verify failed", WAIT_MS);

	ck_assert_int_eq(orc_it_scene_stop(&s, 0, SIGTERM), 0);
	orc_it_scene_finish(&s);
	orc_it_stack_stop(&st);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(runtime_role_runs_sagas),
		ORC_IT_CASE(readonly_role_only_reads),
		ORC_IT_CASE(owner_without_createrole),
		ORC_IT_CASE(tls_and_sasl_ssl),
	};

	return orc_it_run_suite("security", cases,
				sizeof(cases) / sizeof(cases[0]), 300);
}
