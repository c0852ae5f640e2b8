/*
 * itest_migrate.c - `orchestrator migrate` against a real PostgreSQL: an
 * empty database, a second run that changes nothing, two concurrent runs,
 * and a tampered migration that is refused.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* How many migrations the binary carries: the files in migrations/. */
static int
n_migrations(void)
{
	DIR *d = opendir(ORC_SOURCE_DIR "/migrations");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len > 4 && strcmp(e->d_name + len - 4, ".sql") == 0)
			n++;
	}
	closedir(d);
	ck_assert_int_gt(n, 0);
	return n;
}

/* "N migration(s) applied, 0 already" is in out. */
static void
expect_all_applied(const char *out, int n)
{
	char want[128];

	snprintf(want, sizeof(want), "%d migration%s applied, 0 already", n,
		 n == 1 ? "" : "s");
	ck_assert_msg(strstr(out, want) != NULL, "expected \"%s\" in:\n%s", want,
		      out);
}

static void
migrate(const char *db, int expect_rc, char *out, size_t len)
{
	char dsn[1024];
	const char *args[] = {"migrate", "--dsn", dsn, NULL};
	int rc;

	orc_it_dsn_for(db, dsn, sizeof(dsn));
	rc = orc_it_run(out, len, args);
	ck_assert_msg(rc == expect_rc, "migrate exited %d, expected %d:\n%s", rc,
		      expect_rc, out);
}

/* How many migrations the database says were applied. */
static long
migrations_recorded(PGconn *conn)
{
	return orc_it_pg_long(conn,
			      "SELECT count(*) FROM orchestrator.schema_migrations");
}

/* Everything the schema holds, as one string, to compare before/after. */
static char *
schema_fingerprint(PGconn *conn)
{
	return orc_it_pg_value(
		conn, "SELECT md5(string_agg(c.relname || ':' || c.relkind::text || ':' ||"
		      " coalesce(obj_description(c.oid, 'pg_class'), ''), ',' "
		      " ORDER BY c.relname)) FROM pg_class c JOIN pg_namespace n"
		      " ON n.oid = c.relnamespace WHERE n.nspname = 'orchestrator'");
}

START_TEST(test_empty_then_again)
{
	char db[64], out[4096];
	PGconn *conn;
	char *before, *after;

	orc_it_create_database(db, sizeof(db));
	migrate(db, 0, out, sizeof(out));
	expect_all_applied(out, n_migrations());

	conn = orc_it_pg_connect(db);
	ck_assert_int_eq(migrations_recorded(conn), n_migrations());
	/* the data model (README.md, "The database") */
	ck_assert_int_eq(orc_it_pg_long(conn,
			       "SELECT count(*) FROM information_schema.tables"
			       " WHERE table_schema = 'orchestrator' AND table_name IN"
			       " ('saga_definitions', 'sagas', 'saga_steps', 'saga_history',"
			       "  'outbox', 'inbox', 'dead_letters', 'overdue_sagas')"),
			 8);
	/* every table an operator reads is documented */
	ck_assert_int_eq(orc_it_pg_long(conn,
			       "SELECT count(*) FROM pg_class c JOIN pg_namespace n"
			       " ON n.oid = c.relnamespace WHERE n.nspname = 'orchestrator'"
			       " AND c.relkind IN ('r', 'v') AND c.relname <> 'schema_migrations'"
			       " AND obj_description(c.oid, 'pg_class') IS NULL"),
			 0);
	/* hot-path indexes */
	ck_assert_int_eq(orc_it_pg_long(conn,
			       "SELECT count(*) FROM pg_indexes WHERE schemaname"
			       " = 'orchestrator' AND indexname IN"
			       " ('sagas_wake_at_idx', 'outbox_pkey',"
			       "  'sagas_open_key_idx')"),
			 3);
	/*
	 * A key's open saga is found in its index even when the statistics
	 * say that (almost) no saga is open (migration 022): analyzed over
	 * 3,000 finished sagas, then 500 opened, the lookup of one key must
	 * not read every open saga's entry of another index.
	 */
	orc_it_pg_exec(conn,
		"SET search_path = orchestrator;"
		" INSERT INTO saga_definitions (name, version, body, checksum)"
		" VALUES ('probe', 1, '{}', 'x');"
		" INSERT INTO sagas (id, definition_name, definition_version,"
		" business_key, status) SELECT gen_random_uuid(), 'probe', 1,"
		" 'k' || i, 'completed' FROM generate_series(1, 3000) i;"
		" ANALYZE sagas;"
		" UPDATE sagas SET status = 'running' WHERE business_key IN"
		" (SELECT 'k' || i FROM generate_series(1, 500) i)",
		0, NULL);
	{
		char *plan = orc_it_pg_value(conn,
			"EXPLAIN (FORMAT JSON, COSTS OFF) SELECT id FROM"
			" orchestrator.sagas WHERE definition_name = 'probe'"
			" AND business_key = 'k7' AND status IN ('running',"
			" 'compensating', 'stuck')");

		ck_assert_msg(strstr(plan, "\"sagas_open_key_idx\"") != NULL &&
				      strstr(plan, "\"Index Cond\"") != NULL,
			      "the key's lookup does not probe its index: %s",
			      plan);
		free(plan);
	}
	orc_it_pg_exec(conn,
		"DELETE FROM orchestrator.sagas WHERE definition_name = 'probe';"
		" DELETE FROM orchestrator.saga_definitions WHERE name = 'probe';"
		" RESET search_path",
		0, NULL);
	before = schema_fingerprint(conn);

	migrate(db, 0, out, sizeof(out));
	{
		char want[64];

		snprintf(want, sizeof(want), "0 migrations applied, %d already",
			 n_migrations());
		ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	}
	after = schema_fingerprint(conn);
	ck_assert_str_eq(before, after);
	ck_assert_int_eq(migrations_recorded(conn), n_migrations());
	free(before);
	free(after);
	PQfinish(conn);
}
END_TEST

START_TEST(test_concurrent)
{
	char db[64], dsn[1024], log1[64], log2[64], buf[4096];
	const char *args[] = {"migrate", "--dsn", dsn, NULL};
	int p1, p2, applied = 0;
	PGconn *conn;

	orc_it_create_database(db, sizeof(db));
	orc_it_dsn_for(db, dsn, sizeof(dsn));
	snprintf(log1, sizeof(log1), "/tmp/orc-it-mig1-%d.log", (int)getpid());
	snprintf(log2, sizeof(log2), "/tmp/orc-it-mig2-%d.log", (int)getpid());
	p1 = orc_it_spawn(log1, args);
	p2 = orc_it_spawn(log2, args);
	ck_assert_int_eq(orc_it_wait(p1), 0);
	ck_assert_int_eq(orc_it_wait(p2), 0);
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(i ? log2 : log1, "r");
		size_t n;

		ck_assert_ptr_nonnull(f);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		unlink(i ? log2 : log1);
		/* one applies them all, the other finds them applied */
		{
			char all[64], none[64];

			snprintf(all, sizeof(all), " %d migration%s applied, 0 already",
				 n_migrations(), n_migrations() == 1 ? "" : "s");
			snprintf(none, sizeof(none), " 0 migrations applied, %d already",
				 n_migrations());
			if (strstr(buf, all) != NULL)
				applied++;
			else
				ck_assert_msg(strstr(buf, none) != NULL, "%s", buf);
		}
	}
	ck_assert_int_eq(applied, 1); /* exactly one of them did the work */
	conn = orc_it_pg_connect(db);
	ck_assert_int_eq(migrations_recorded(conn), n_migrations());
	PQfinish(conn);
}
END_TEST

START_TEST(test_tampered_migration_refused)
{
	struct orc_it_db db;
	char out[4096];

	orc_it_db_init(&db);
	orc_it_pg_exec(db.conn,
		       "UPDATE orchestrator.schema_migrations SET checksum = 'x'",
		       0, NULL);
	migrate(db.name, 1, out, sizeof(out));
	ck_assert_msg(strstr(out, "migration 001_initial was applied with a "
				  "different text") != NULL, "%s", out);
	orc_it_db_finish(&db);
}
END_TEST

START_TEST(test_history_is_append_only)
{
	struct orc_it_db db;
	PGresult *res;

	orc_it_db_init(&db);
	orc_it_pg_exec(db.conn,
		       "SET search_path TO orchestrator;"
		       "INSERT INTO saga_definitions (name, version, body, checksum)"
		       " VALUES ('d', 1, '{}', 'c');"
		       "INSERT INTO sagas (id, definition_name, definition_version,"
		       " business_key, status) VALUES"
		       " ('00000000-0000-0000-0000-000000000001', 'd', 1, 'k', 'running');"
		       "INSERT INTO saga_transitions (saga_id, kind) VALUES"
		       " ('00000000-0000-0000-0000-000000000001', 'saga.started')",
		       0, NULL);
	res = PQexec(db.conn, "UPDATE orchestrator.saga_transitions SET kind = 'x'");
	ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
	ck_assert_ptr_nonnull(strstr(PQerrorMessage(db.conn), "append-only"));
	PQclear(res);
	/* a second saga for the same definition and key is refused */
	res = PQexec(db.conn, "INSERT INTO orchestrator.sagas (id, definition_name,"
			   " definition_version, business_key, status) VALUES"
			   " ('00000000-0000-0000-0000-000000000002', 'd', 1, 'k',"
			   " 'running')");
	ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
	ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_SQLSTATE), "23505");
	PQclear(res);
	orc_it_db_finish(&db);
}
END_TEST

START_TEST(test_unreachable_database_fails_clearly)
{
	char out[4096];
	const char *args[] = {"migrate", "--dsn",
			      "host=127.0.0.1 port=1 dbname=x connect_timeout=2",
			      NULL};

	ck_assert_int_eq(orc_it_run(out, sizeof(out), args), 1);
	ck_assert_msg(strstr(out, "cannot connect to postgresql") != NULL, "%s",
		      out);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(empty_then_again),
		ORC_IT_CASE(concurrent),
		ORC_IT_CASE(tampered_migration_refused),
		ORC_IT_CASE(history_is_append_only),
		ORC_IT_CASE(unreachable_database_fails_clearly),
	};

	return orc_it_run_suite("migrate", cases, sizeof(cases) / sizeof(cases[0]),
				120);
}
