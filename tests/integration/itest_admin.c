/*
 * itest_admin.c - the operator's read commands and views against a real
 * PostgreSQL and Kafka: `status`, `list`, `history`, `dead-letters
 * list|replay`, and the views of 002_operator_views.sql, over sagas seeded
 * with SQL in a fresh database.  Replay is checked end to end: the event
 * comes back from Kafka with its key, value and headers, plus
 * orc_replayed_from, and only then is the dead letter marked replayed.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "config.h"
#include "harness.h"
#include "migrations.h"

#define OUT_MAX 65536

#define S_RUNNING "11111111-1111-4111-8111-111111111111"
#define S_STUCK "22222222-2222-4222-8222-222222222222"
#define S_COMPENSATED "33333333-3333-4333-8333-33333333abcd"
#define S_COMPLETED "44444444-4444-4444-8444-444444444444"
#define S_MISSING "99999999-9999-4999-8999-999999999999"

/*
 * Four sagas of two definitions: o-1 is the business key of a running
 * order and of a completed trip, so it is ambiguous without --definition.
 */
static const char seed_sql[] =
	"SET search_path TO orchestrator;"
	"INSERT INTO saga_definitions (name, version, body, checksum) VALUES"
	" ('order_fulfillment', 1, '{}', 'c1'), ('travel_booking', 2, '{}', 'c2');"
	"INSERT INTO sagas (id, definition_name, definition_version, business_key,"
	" status, created_at, updated_at, finished_at, failing_reason, failure,"
	" deadline_at, wake_at) VALUES"
	" ('" S_RUNNING "', 'order_fulfillment', 1, 'o-1', 'running',"
	"  now() - interval '5 minutes', now() - interval '1 minute', NULL, NULL,"
	"  NULL, now() + interval '5 minutes', now() + interval '10 seconds'),"
	" ('" S_STUCK "', 'order_fulfillment', 1, 'o-2', 'stuck',"
	"  now() - interval '2 hours', now() - interval '1 hour', NULL, 'failure',"
	"  'compensation of reserve_inventory failed: inventory.release_failed"
	" (3 attempts)', NULL, NULL),"
	" ('" S_COMPENSATED "', 'order_fulfillment', 1, 'o-3', 'compensated',"
	"  now() - interval '3 days', now() - interval '3 days',"
	"  now() - interval '3 days' + interval '3200 ms', 'failure',"
	"  'step charge_payment failed: payment.declined', NULL, NULL),"
	" ('" S_COMPLETED "', 'travel_booking', 2, 'o-1', 'completed',"
	"  now() - interval '30 seconds', now() - interval '20 seconds',"
	"  now() - interval '20 seconds', NULL, NULL, NULL, NULL);"
	"INSERT INTO saga_step_rows (saga_id, step_name, step_index, status, attempt,"
	" compensation_attempt, started_at, finished_at, wake_at, wake_reason,"
	" completed_seq, last_error) VALUES"
	" ('" S_RUNNING "', 'reserve_inventory', 0, 'succeeded', 1, 0,"
	"  now() - interval '5 minutes', now() - interval '4 minutes', NULL, NULL,"
	"  1, NULL),"
	" ('" S_RUNNING "', 'charge_payment', 1, 'running', 2, 0,"
	"  now() - interval '4 minutes', NULL, now() + interval '10 seconds',"
	"  'timeout', NULL, 'timeout'),"
	" ('" S_RUNNING "', 'notify_customer', 2, 'pending', 0, 0, NULL, NULL,"
	"  NULL, NULL, NULL, NULL),"
	" ('" S_STUCK "', 'reserve_inventory', 0, 'compensating', 1, 3,"
	"  now() - interval '2 hours', now() - interval '2 hours', NULL, NULL, 1,"
	"  'inventory.release_failed'),"
	" ('" S_STUCK "', 'charge_payment', 1, 'failed', 1, 0,"
	"  now() - interval '2 hours', now() - interval '2 hours', NULL, NULL,"
	"  NULL, 'payment.declined');"
	"INSERT INTO saga_transitions (saga_id, at, kind, step_name, event_id, detail)"
	" VALUES"
	" ('" S_RUNNING "', now() - interval '5 minutes', 'saga.started', NULL,"
	"  'evt-1', '{\"input\": {\"order_id\": \"o-1\", \"total\": 42.5}}'),"
	" ('" S_RUNNING "', now() - interval '5 minutes', 'step.started',"
	"  'reserve_inventory', 'evt-1', '{\"attempt\": 1}'),"
	" ('" S_RUNNING "', now() - interval '4 minutes', 'step.succeeded',"
	"  'reserve_inventory', 'r-1', '{\"type\": \"inventory.reserved\"}'),"
	" ('" S_RUNNING "', now() - interval '4 minutes', 'step.started',"
	"  'charge_payment', 'r-1', NULL);";

/*
 * A fresh, migrated database (seeded when seed): its dsn in dsn, a new
 * connection to it returned (PQfinish()).
 */
static PGconn *
fresh_db(char *dsn, size_t len, bool seed)
{
	struct orc_it_db db;

	orc_it_db_init(&db);
	snprintf(dsn, len, "%s", db.dsn);
	if (seed)
		orc_it_pg_exec(db.conn, seed_sql, 0, NULL);
	return db.conn;
}

/* Run the binary with args (NULL-terminated), then "--dsn dsn". */
static int
run(char *out, const char *dsn, const char *const *args)
{
	const char *argv[32];
	size_t n = 0;

	while (args[n] != NULL && n < 28) {
		argv[n] = args[n];
		n++;
	}
	argv[n++] = "--dsn";
	argv[n++] = dsn;
	argv[n] = NULL;
	return orc_it_run(out, OUT_MAX, argv);
}

#define RUN(out, dsn, expect, ...)                                             \
	do {                                                                   \
		const char *args_[] = {__VA_ARGS__, NULL};                     \
		int rc_ = run(out, dsn, args_);                                \
		ck_assert_msg(rc_ == (expect), "%s exited %d, expected %d:\n%s", \
			      args_[0], rc_, (expect), out);                   \
	} while (0)

#define HAS(out, text)                                                         \
	ck_assert_msg(strstr(out, text) != NULL, "expected \"%s\" in:\n%s",    \
		      text, out)
#define HASNT(out, text)                                                       \
	ck_assert_msg(strstr(out, text) == NULL, "unexpected \"%s\" in:\n%s",  \
		      text, out)

/* Every line of a table is at most 80 columns (notes, indented, may wrap). */
static void
fits_80(const char *out)
{
	const char *line = out;

	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);

		if (strncmp(line, "  ", 2) != 0)
			ck_assert_msg(n <= 80, "line of %zu columns:\n%.*s\n", n,
				      (int)n, line);
		if (end == NULL)
			break;
		line = end + 1;
	}
}

/* a appears in out before b (both present) */
static void
before(const char *out, const char *a, const char *b)
{
	const char *pa = strstr(out, a), *pb = strstr(out, b);

	ck_assert_msg(pa != NULL && pb != NULL && pa < pb,
		      "expected \"%s\" before \"%s\" in:\n%s", a, b, out);
}

static json_t *
parse_json(const char *out)
{
	json_error_t jerr;
	json_t *v = json_loads(out, 0, &jerr);

	ck_assert_msg(v != NULL, "not JSON (%s):\n%s", jerr.text, out);
	return v;
}

static const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long long
jint(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static bool
jnull(const json_t *o, const char *key)
{
	return json_is_null(json_object_get(o, key));
}

/* ---- views ---- */

START_TEST(test_views_show_the_seeded_sagas)
{
	char dsn[1024];
	PGconn *conn = fresh_db(dsn, sizeof(dsn), true);
	char *v;

	/* running_sagas: in flight, with the step awaited */
	ck_assert_int_eq(orc_it_pg_long(conn, "SELECT count(*) FROM"
					" orchestrator.running_sagas"),
			 1);
	v = orc_it_pg_value(conn, "SELECT id || ' ' || current_steps || ' '"
				  " || (age >= interval '5 minutes')"
				  " FROM orchestrator.running_sagas");
	ck_assert_str_eq(v, S_RUNNING " charge_payment true");
	free(v);

	/* stuck_sagas: the compensation that gave up and its error */
	v = orc_it_pg_value(conn, "SELECT id || ' ' || compensating_step || ' '"
				  " || compensation_attempt || ' ' ||"
				  " compensation_error || ' ' || failing_reason"
				  " FROM orchestrator.stuck_sagas");
	ck_assert_str_eq(v, S_STUCK " reserve_inventory 3 inventory.release_failed failure");
	free(v);

	/* failed_sagas: ended without completing, with how long it ran */
	v = orc_it_pg_value(conn, "SELECT string_agg(id || ' ' || status || ' ' ||"
				  " took, ',') FROM orchestrator.failed_sagas");
	ck_assert_str_eq(v, S_COMPENSATED " compensated 00:00:03.2");
	free(v);

	/* saga_timeline: the history with definition and key, in order */
	v = orc_it_pg_value(conn, "SELECT string_agg(kind || ':' ||"
				  " coalesce(step_name, '-') || ':' || business_key"
				  " || ':' || definition_name, ',')"
				  " FROM orchestrator.saga_timeline");
	ck_assert_str_eq(v, "saga.started:-:o-1:order_fulfillment,"
			    "step.started:reserve_inventory:o-1:order_fulfillment,"
			    "step.succeeded:reserve_inventory:o-1:order_fulfillment,"
			    "step.started:charge_payment:o-1:order_fulfillment");
	free(v);
	ck_assert_int_eq(orc_it_pg_long(conn,
			       "SELECT count(*) FROM orchestrator.saga_timeline"
			       " WHERE event_id = 'r-1' AND saga_id = '" S_RUNNING "'"),
			 2);

	/* saga_status_counts */
	v = orc_it_pg_value(conn, "SELECT string_agg(definition_name || '/' || status"
				  " || '=' || count, ',') FROM"
				  " orchestrator.saga_status_counts");
	ck_assert_str_eq(v, "order_fulfillment/compensated=1,order_fulfillment/running=1,"
			    "order_fulfillment/stuck=1,travel_booking/completed=1");
	free(v);

	/* overdue_sagas is untouched: nothing is past its deadline */
	ck_assert_int_eq(orc_it_pg_long(conn, "SELECT count(*) FROM"
					" orchestrator.overdue_sagas"),
			 0);

	/* every view and every column of the new views is documented */
	ck_assert_int_eq(orc_it_pg_long(conn,
			       "SELECT count(*) FROM pg_class c JOIN pg_namespace n"
			       " ON n.oid = c.relnamespace WHERE n.nspname = 'orchestrator'"
			       " AND c.relkind = 'v' AND obj_description(c.oid, 'pg_class')"
			       " IS NULL"),
			 0);
	ck_assert_int_eq(orc_it_pg_long(conn,
			       "SELECT count(*) FROM pg_attribute a JOIN pg_class c"
			       " ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid ="
			       " c.relnamespace WHERE n.nspname = 'orchestrator' AND"
			       " c.relname IN ('running_sagas', 'stuck_sagas',"
			       " 'failed_sagas', 'saga_timeline', 'saga_status_counts')"
			       " AND a.attnum > 0 AND col_description(c.oid, a.attnum)"
			       " IS NULL"),
			 0);
	ck_assert_int_eq(orc_it_pg_long(conn, "SELECT count(*) FROM"
					" orchestrator.schema_migrations"),
			 (long)orc_migrations_count);
	PQfinish(conn);
}
END_TEST

/* ---- status ---- */

START_TEST(test_status)
{
	char dsn[1024], *out = malloc(OUT_MAX);
	PGconn *conn = fresh_db(dsn, sizeof(dsn), true);
	json_t *s, *steps, *st;

	RUN(out, dsn, 0, "status", S_STUCK);
	HAS(out, "saga        " S_STUCK "\n");
	HAS(out, "definition  order_fulfillment@1\n");
	HAS(out, "key         o-2\n");
	HAS(out, "status      stuck (failure)\n");
	HAS(out, "created     ");
	HAS(out, "Z (2h ago)\n");
	HAS(out, "finished    -\n");
	HAS(out, "failure     compensation of reserve_inventory failed: "
		 "inventory.release_failed (3 attempts)\n");
	HAS(out, "STEP               STATUS        ATT  STARTED               FINISHED\n");
	HAS(out, "reserve_inventory  compensating    1  20");
	HAS(out, "\n  compensation attempt 3; last error: inventory.release_failed\n");
	HAS(out, "charge_payment     failed          1  20");
	HAS(out, "\n  last error: payment.declined\n");
	HASNT(out, ".000Z"); /* tables show whole seconds */

	RUN(out, dsn, 0, "status", S_RUNNING);
	HAS(out, "status      running\n");
	HAS(out, "deadline    20");
	HAS(out, "next timer  20");
	HAS(out, "notify_customer    pending      0  -                     -\n");
	HAS(out, "(timeout); last error: timeout\n");
	fits_80(strstr(out, "STEP"));

	/* a finished saga says how long it took; a mixed-case id is fine */
	RUN(out, dsn, 0, "status", "33333333-3333-4333-8333-33333333ABCD");
	HAS(out, "saga        " S_COMPENSATED "\n");
	HAS(out, "(took 3.2s)\n");

	/* --json: the saga with its steps, in definition order */
	RUN(out, dsn, 0, "status", S_RUNNING, "--json");
	s = parse_json(out);
	ck_assert_str_eq(jstr(s, "id"), S_RUNNING);
	ck_assert_str_eq(jstr(s, "definition_name"), "order_fulfillment");
	ck_assert_int_eq(jint(s, "definition_version"), 1);
	ck_assert_str_eq(jstr(s, "status"), "running");
	ck_assert_ptr_nonnull(jstr(s, "deadline_at"));
	ck_assert_ptr_nonnull(strstr(jstr(s, "created_at"), "Z"));
	ck_assert(jnull(s, "finished_at"));
	ck_assert(jint(s, "age_ms") >= 300000);
	steps = json_object_get(s, "steps");
	ck_assert_uint_eq(json_array_size(steps), 3);
	st = json_array_get(steps, 0);
	ck_assert_str_eq(jstr(st, "name"), "reserve_inventory");
	/* ISO-8601 UTC with milliseconds: 2026-11-27T07:00:00.123Z */
	ck_assert_uint_eq(strlen(jstr(st, "finished_at")), 24);
	ck_assert_int_eq(jstr(st, "finished_at")[19], '.');
	ck_assert_int_eq(jstr(st, "finished_at")[23], 'Z');
	st = json_array_get(steps, 1);
	ck_assert_str_eq(jstr(st, "name"), "charge_payment");
	ck_assert_str_eq(jstr(st, "status"), "running");
	ck_assert_int_eq(jint(st, "attempt"), 2);
	ck_assert_str_eq(jstr(st, "wake_reason"), "timeout");
	ck_assert_str_eq(jstr(st, "last_error"), "timeout");
	ck_assert(jnull(json_array_get(steps, 2), "started_at"));
	json_decref(s);

	/* by business key: unique for o-2, ambiguous for o-1 */
	RUN(out, dsn, 0, "status", "--key", "o-2");
	HAS(out, "saga        " S_STUCK "\n");
	RUN(out, dsn, 1, "status", "--key", "o-1");
	HAS(out, "orchestrator status: business key \"o-1\" belongs to sagas of 2 definitions\n");
	HAS(out, "DETAIL: Definitions: travel_booking, order_fulfillment.\n");
	HAS(out, "HINT: ");
	RUN(out, dsn, 0, "status", "--key", "o-1", "--definition", "travel_booking",
	    "--json");
	s = parse_json(out);
	ck_assert_str_eq(jstr(s, "id"), S_COMPLETED);
	ck_assert_uint_eq(json_array_size(json_object_get(s, "steps")), 0);
	json_decref(s);
	RUN(out, dsn, 0, "status", "--key=o-1", "--definition=order_fulfillment");
	HAS(out, "saga        " S_RUNNING "\n");

	/* not found: 1; a malformed id: 2, no SQL in sight */
	RUN(out, dsn, 1, "status", S_MISSING);
	HAS(out, "orchestrator status: saga " S_MISSING " does not exist\n");
	RUN(out, dsn, 1, "status", "--key", "nope");
	HAS(out, "no saga has business key \"nope\"");
	RUN(out, dsn, 1, "status", "--key", "o-2", "--definition", "travel_booking");
	HAS(out, "no saga of definition \"travel_booking\" has business key \"o-2\"");
	RUN(out, dsn, 2, "status", "not-a-uuid");
	HAS(out, "orchestrator status: invalid saga id \"not-a-uuid\"\n"
		 "DETAIL: A saga id is a UUID");
	HASNT(out, "sqlstate");
	HASNT(out, "ERROR");
	RUN(out, dsn, 2, "status", "11111111-1111-1111-1111-11111111111g");
	HAS(out, "invalid saga id");

	/* usage */
	RUN(out, dsn, 2, "status");
	HAS(out, "usage: orchestrator status");
	RUN(out, dsn, 2, "status", S_RUNNING, "--key", "o-1");
	RUN(out, dsn, 2, "status", S_RUNNING, "--definition", "x");
	RUN(out, dsn, 2, "status", S_RUNNING, "--bogus");
	HAS(out, "unexpected \"--bogus\"");
	RUN(out, dsn, 2, "status", "--key");
	HAS(out, "option --key needs a value");
	RUN(out, dsn, 0, "status", "--help");
	HAS(out, "usage: orchestrator status SAGA_ID [--json]\n");
	free(out);
	PQfinish(conn);
}
END_TEST

/* ---- list ---- */

/* The saga ids of a --json list, in order, space-separated, into buf. */
static void
ids_of(const char *out, char *buf, size_t len)
{
	json_t *list = parse_json(out), *s;
	size_t i, n = 0;

	ck_assert(json_is_array(list));
	buf[0] = '\0';
	json_array_foreach(list, i, s)
		n += (size_t)snprintf(buf + n, len - n, "%s%.8s", i ? " " : "",
				      jstr(s, "id"));
	json_decref(list);
}

START_TEST(test_list)
{
	char dsn[1024], ids[512], *out = malloc(OUT_MAX);
	PGconn *conn = fresh_db(dsn, sizeof(dsn), true);

	RUN(out, dsn, 0, "list");
	HAS(out, "ID                                    DEFINITION           KEY  STATUS       AGE\n");
	/* started 30s ago: "3?s" leaves a slow machine 10 seconds */
	HAS(out, S_COMPLETED "  travel_booking@2     o-1  completed    3");
	HAS(out, S_RUNNING "  order_fulfillment@1  o-1  running       5m\n");
	HAS(out, S_STUCK "  order_fulfillment@1  o-2  stuck         2h\n");
	HAS(out, S_COMPENSATED "  order_fulfillment@1  o-3  compensated   3d\n");
	HAS(out, "(4 sagas)\n");
	fits_80(out);
	/* newest first */
	before(out, S_COMPLETED, S_RUNNING);
	before(out, S_STUCK, S_COMPENSATED);

	RUN(out, dsn, 0, "list", "--json");
	ids_of(out, ids, sizeof(ids));
	ck_assert_str_eq(ids, "44444444 11111111 22222222 33333333");
	{
		json_t *list = parse_json(out);
		json_t *first = json_array_get(list, 0);

		ck_assert_str_eq(jstr(first, "business_key"), "o-1");
		ck_assert_str_eq(jstr(first, "status"), "completed");
		ck_assert_int_eq(jint(first, "definition_version"), 2);
		ck_assert_ptr_nonnull(jstr(first, "finished_at"));
		json_decref(list);
	}

	RUN(out, dsn, 0, "list", "--status", "running,stuck", "--json");
	ids_of(out, ids, sizeof(ids));
	ck_assert_str_eq(ids, "11111111 22222222");
	RUN(out, dsn, 0, "list", "--status", "stuck", "--status=compensated", "--json");
	ids_of(out, ids, sizeof(ids));
	ck_assert_str_eq(ids, "22222222 33333333");
	RUN(out, dsn, 0, "list", "--definition", "travel_booking", "--json");
	ids_of(out, ids, sizeof(ids));
	ck_assert_str_eq(ids, "44444444");
	RUN(out, dsn, 0, "list", "--older-than", "1h", "--json");
	ids_of(out, ids, sizeof(ids));
	ck_assert_str_eq(ids, "22222222 33333333");
	RUN(out, dsn, 0, "list", "--newer-than", "10m", "--json");
	ids_of(out, ids, sizeof(ids));
	ck_assert_str_eq(ids, "44444444 11111111");
	RUN(out, dsn, 0, "list", "--older-than", "1m", "--newer-than", "1d",
	    "--definition", "order_fulfillment", "--json");
	ids_of(out, ids, sizeof(ids));
	ck_assert_str_eq(ids, "11111111 22222222");
	RUN(out, dsn, 0, "list", "--definition", "no_such_definition");
	HAS(out, "(0 sagas)\n");

	/* the limit, and how many it hid */
	RUN(out, dsn, 0, "list", "--limit", "1");
	HAS(out, S_COMPLETED);
	HASNT(out, S_RUNNING);
	HAS(out, "(1 of 4 sagas; --limit N shows more)\n");
	RUN(out, dsn, 0, "list", "--limit", "2", "--json");
	ids_of(out, ids, sizeof(ids));
	ck_assert_str_eq(ids, "44444444 11111111");

	/* bad arguments are usage errors */
	RUN(out, dsn, 2, "list", "--status", "bogus");
	HAS(out, "orchestrator list: invalid saga status \"bogus\"\n"
		 "DETAIL: A status is one of running,");
	RUN(out, dsn, 2, "list", "--older-than", "ten minutes");
	HAS(out, "invalid duration \"ten minutes\"");
	RUN(out, dsn, 2, "list", "--limit", "0");
	HAS(out, "invalid limit \"0\"");
	RUN(out, dsn, 2, "list", "--limit");
	HAS(out, "option --limit needs a value");
	RUN(out, dsn, 2, "list", "extra");
	HAS(out, "unexpected \"extra\"");
	RUN(out, dsn, 0, "list", "--help");
	HAS(out, "usage: orchestrator list");
	free(out);
	PQfinish(conn);
}
END_TEST

/* ---- history ---- */

START_TEST(test_history)
{
	char dsn[1024], *out = malloc(OUT_MAX);
	PGconn *conn = fresh_db(dsn, sizeof(dsn), true);
	json_t *h, *e;

	RUN(out, dsn, 0, "history", S_RUNNING);
	HAS(out, "TIME                      KIND            STEP               DETAIL\n");
	HAS(out, "Z  saga.started    -\n    {\"input\":{");
	HAS(out, "Z  step.started    reserve_inventory  {\"attempt\":1}\n");
	HAS(out, "Z  step.succeeded  reserve_inventory\n"
		 "    {\"type\":\"inventory.reserved\"}\n");
	HAS(out, "Z  step.started    charge_payment\n");
	before(out, "saga.started", "step.succeeded");
	before(out, "step.succeeded", "charge_payment");
	fits_80(out);

	RUN(out, dsn, 0, "history", S_RUNNING, "--json");
	h = parse_json(out);
	ck_assert_uint_eq(json_array_size(h), 4);
	e = json_array_get(h, 0);
	ck_assert_str_eq(jstr(e, "kind"), "saga.started");
	ck_assert(jnull(e, "step"));
	ck_assert_str_eq(jstr(e, "event_id"), "evt-1");
	ck_assert_str_eq(jstr(json_object_get(json_object_get(e, "detail"),
					      "input"), "order_id"), "o-1");
	ck_assert_ptr_nonnull(strstr(jstr(e, "at"), "Z"));
	e = json_array_get(h, 3);
	ck_assert_str_eq(jstr(e, "kind"), "step.started");
	ck_assert_str_eq(jstr(e, "step"), "charge_payment");
	ck_assert(jnull(e, "detail"));
	ck_assert(jint(json_array_get(h, 0), "id") < jint(e, "id"));
	json_decref(h);

	/* a saga without history yet, one that does not exist, a typo */
	RUN(out, dsn, 0, "history", S_STUCK);
	HAS(out, "(no history)\n");
	RUN(out, dsn, 0, "history", S_STUCK, "--json");
	HAS(out, "[]");
	RUN(out, dsn, 1, "history", S_MISSING);
	HAS(out, "orchestrator history: saga " S_MISSING " does not exist\n");
	RUN(out, dsn, 2, "history", "1234");
	HAS(out, "orchestrator history: invalid saga id \"1234\"\n");
	RUN(out, dsn, 2, "history");
	HAS(out, "usage: orchestrator history");
	RUN(out, dsn, 0, "history", "--help");
	HAS(out, "usage: orchestrator history SAGA_ID [--json]\n");
	free(out);
	PQfinish(conn);
}
END_TEST

/* ---- child sagas and maps ---- */

#define T_ROOT "aaaaaaaa-0000-4000-8000-000000000001"
#define T_PAY "bbbbbbbb-0000-4000-8000-000000000001"
#define T_PAY2 "bbbbbbbb-0000-4000-8000-000000000002"
#define T_FRAUD "cccccccc-0000-4000-8000-000000000001"
#define T_ORPHAN "dddddddd-0000-4000-8000-000000000001"
#define T_GONE "eeeeeeee-0000-4000-8000-000000000001"

/*
 * A tree seeded with SQL: the root's step pay started T_PAY (whose step
 * fraud started T_FRAUD) and, later, T_PAY2, which failed; T_ORPHAN's
 * parent is gone.  The root's map step reserve is midway, another one
 * compensates.
 */
static const char tree_sql[] =
	"SET search_path TO orchestrator;"
	"INSERT INTO saga_definitions (name, version, body, checksum) VALUES"
	" ('order', 1, '{}', 'c1'), ('payment', 2, '{}', 'c2'),"
	" ('fraud_check', 1, '{}', 'c3');"
	"INSERT INTO sagas (id, definition_name, definition_version,"
	" business_key, status, created_at, updated_at, parent_id, parent_step,"
	" failure) VALUES"
	" ('" T_ROOT "', 'order', 1, 'o-1', 'running',"
	"  now() - interval '60 s', now(), NULL, NULL, NULL),"
	" ('" T_PAY2 "', 'payment', 2, 'pay-o-1-2', 'failed',"
	"  now() - interval '40 s', now(), '" T_ROOT "', 'pay',"
	"  'step charge failed: payment.declined'),"
	" ('" T_PAY "', 'payment', 2, 'pay-o-1', 'completed',"
	"  now() - interval '50 s', now(), '" T_ROOT "', 'pay', NULL),"
	" ('" T_FRAUD "', 'fraud_check', 1, 'f-o-1', 'completed',"
	"  now() - interval '45 s', now(), '" T_PAY "', 'fraud', NULL),"
	" ('" T_ORPHAN "', 'payment', 2, 'pay-o-9', 'running',"
	"  now() - interval '45 s', now(), '" T_GONE "', 'pay', NULL);"
	"INSERT INTO saga_step_rows (saga_id, step_name, step_index, status, attempt,"
	" map_items, map_concurrency, map_min_success, map_started,"
	" map_succeeded, map_failed, map_compensated) VALUES"
	" ('" T_ROOT "', 'reserve', 0, 'running', 1, 10000, 50, 10000, 582,"
	"  520, 12, 0),"
	" ('" T_ROOT "', 'pack', 1, 'compensating', 1, 40, 10, 40, 40, 40, 0,"
	"  25),"
	" ('" T_ROOT "', 'pay', 2, 'running', 2, NULL, NULL, NULL, NULL, NULL,"
	"  NULL, NULL);"
	"INSERT INTO saga_transitions (saga_id, kind, step_name, detail) VALUES"
	" ('" T_ROOT "', 'step.started', 'reserve', '{\"item\": 17,"
	"  \"attempt\": 2}'),"
	" ('" T_ROOT "', 'child.started', 'pay', '{\"child\": \"" T_PAY "\","
	"  \"definition\": \"payment\", \"version\": 2, \"key\": \"pay-o-1\","
	"  \"attempt\": 1}'),"
	" ('" T_ROOT "', 'child.signalled', 'pay', '{\"child\": \"" T_PAY "\","
	"  \"action\": \"cancel\"}'),"
	" ('" T_ROOT "', 'child.ended', 'pay', '{\"child\": \"" T_PAY2 "\","
	"  \"status\": \"failed\", \"failure\": \"step charge failed\"}');";

/* The line of out that holds needle (which must be there), into buf. */
static const char *
line_of(const char *out, const char *needle, char *buf, size_t len)
{
	const char *p = strstr(out, needle), *start, *end;

	ck_assert_msg(p != NULL, "expected \"%s\" in:\n%s", needle, out);
	for (start = p; start > out && start[-1] != '\n'; start--)
		;
	end = strchr(p, '\n');
	if (end == NULL)
		end = p + strlen(p);
	snprintf(buf, len, "%.*s", (int)(end - start), start);
	return buf;
}

START_TEST(test_status_tree_and_maps)
{
	char dsn[1024], line[512], *out = malloc(OUT_MAX);
	PGconn *conn = fresh_db(dsn, sizeof(dsn), false);
	json_t *s, *c, *m;

	orc_it_pg_exec(conn, tree_sql, 0, NULL);

	/* the tree, in tree order, indented by depth, failures below */
	RUN(out, dsn, 0, "status", T_ROOT);
	HASNT(out, "parent ");
	HAS(out, "\nchildren:\nSTEP ");
	line_of(out, T_PAY, line, sizeof(line));
	HAS(line, "pay ");
	HAS(line, " payment@2 ");
	HAS(line, " pay-o-1 ");
	HAS(line, " completed");
	ck_assert_int_eq(line[0], 'p');
	line_of(out, T_FRAUD, line, sizeof(line));
	ck_assert_msg(strncmp(line, "  fraud ", 8) == 0, "%s", line);
	HAS(line, " fraud_check@1 ");
	line_of(out, T_PAY2, line, sizeof(line));
	HAS(line, " failed");
	before(out, T_PAY, T_FRAUD);
	before(out, T_FRAUD, T_PAY2);
	HAS(out, T_PAY2);
	HAS(strstr(out, T_PAY2), "\n  failure: step charge failed: "
				 "payment.declined\n");
	HASNT(out, T_ORPHAN);
	/* map progress in the step's note; a step that is no map has none */
	HAS(out, "\n  map 532/10000 done (12 failed), 50 in flight\n");
	HAS(out, "\n  map 40/40 done, 25 compensated\n");
	line_of(out, "pay      running", line, sizeof(line));
	HASNT(strstr(out, "pay      running"), "\n  map");
	fits_80(strstr(out, "STEP"));

	RUN(out, dsn, 0, "status", T_ROOT, "--json");
	s = parse_json(out);
	ck_assert(jnull(s, "parent_id"));
	c = json_object_get(s, "children");
	ck_assert_uint_eq(json_array_size(c), 3);
	ck_assert_str_eq(jstr(json_array_get(c, 0), "id"), T_PAY);
	ck_assert_int_eq(jint(json_array_get(c, 0), "depth"), 1);
	ck_assert_str_eq(jstr(json_array_get(c, 0), "parent_step"), "pay");
	ck_assert_str_eq(jstr(json_array_get(c, 1), "id"), T_FRAUD);
	ck_assert_int_eq(jint(json_array_get(c, 1), "depth"), 2);
	ck_assert_str_eq(jstr(json_array_get(c, 1), "parent_id"), T_PAY);
	ck_assert_str_eq(jstr(json_array_get(c, 2), "id"), T_PAY2);
	ck_assert_str_eq(jstr(json_array_get(c, 2), "status"), "failed");
	ck_assert_str_eq(jstr(json_array_get(c, 2), "failure"),
			 "step charge failed: payment.declined");
	m = json_object_get(json_array_get(json_object_get(s, "steps"), 0),
			    "map");
	ck_assert_int_eq(jint(m, "items"), 10000);
	ck_assert_int_eq(jint(m, "started"), 582);
	ck_assert_int_eq(jint(m, "succeeded"), 520);
	ck_assert_int_eq(jint(m, "failed"), 12);
	ck_assert_int_eq(jint(m, "compensated"), 0);
	ck_assert_int_eq(jint(m, "in_flight"), 50);
	ck_assert_int_eq(jint(m, "concurrency"), 50);
	ck_assert(jnull(json_array_get(json_object_get(s, "steps"), 2),
			"map"));
	json_decref(s);

	/* a child names its parent; its own children only */
	RUN(out, dsn, 0, "status", T_PAY);
	HAS(out, "parent      " T_ROOT " (step pay, running)\n");
	HAS(out, "\nchildren:\n");
	line_of(out, T_FRAUD, line, sizeof(line));
	ck_assert_msg(strncmp(line, "fraud ", 6) == 0, "%s", line);
	HASNT(out, T_PAY2);
	RUN(out, dsn, 0, "status", T_FRAUD, "--json");
	s = parse_json(out);
	ck_assert_str_eq(jstr(s, "parent_id"), T_PAY);
	ck_assert_str_eq(jstr(s, "parent_step"), "fraud");
	ck_assert_str_eq(jstr(s, "parent_status"), "completed");
	ck_assert_uint_eq(json_array_size(json_object_get(s, "children")), 0);
	json_decref(s);
	RUN(out, dsn, 0, "status", T_FRAUD);
	HASNT(out, "children:");
	/* a parent purged before its child */
	RUN(out, dsn, 0, "status", T_ORPHAN);
	HAS(out, "parent      " T_GONE " (step pay, no longer stored)\n");

	/* history: the child in words, a map item by its index */
	RUN(out, dsn, 0, "history", T_ROOT);
	HAS(out, "  step.started     reserve[17]  {\"attempt\":2}\n");
	HASNT(out, "\"item\"");
	HAS(out, "child " T_PAY " payment@2 key pay-o-1 {\"attempt\":1}\n");
	HAS(out, "child " T_PAY " cancel\n");
	HAS(out, "child " T_PAY2 " failed: step charge failed\n");
	fits_80(out);
	/* --json keeps the details as stored */
	RUN(out, dsn, 0, "history", T_ROOT, "--json");
	s = parse_json(out);
	ck_assert_int_eq(jint(json_object_get(json_array_get(s, 0), "detail"),
			      "item"),
			 17);
	ck_assert_str_eq(jstr(json_object_get(json_array_get(s, 1), "detail"),
			      "child"),
			 T_PAY);
	json_decref(s);
	free(out);
	PQfinish(conn);
}
END_TEST

#define TREE_WAIT_MS 90000

static const char leaf_def[] =
	"{\"name\": \"it_leaf\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.checks\", \"type\": \"check.asked\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"check\","
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"l.check\"},"
	"   \"success\": [\"l.checked\"]}"
	" ]}";

static const char child_def[] =
	"{\"name\": \"it_child\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.payments\", \"type\": \"pay.asked\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"charge\","
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"c.charge\"},"
	"   \"success\": [\"c.charged\"]},"
	"  {\"name\": \"fraud\", \"needs\": [\"charge\"],"
	"   \"saga\": {\"definition\": \"it_leaf\","
	"             \"key\": \"f-${/input/order_id}\"}}"
	" ]}";

static const char parent_def[] =
	"{\"name\": \"it_parent\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"pay\","
	"   \"saga\": {\"definition\": \"it_child\","
	"             \"key\": \"c-${/input/order_id}\"}}"
	" ]}";

static const char map_def[] =
	"{\"name\": \"it_map\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.bulk\", \"type\": \"bulk.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"reserve\","
	"   \"map\": {\"items\": \"${/input/items}\", \"max_concurrency\": 2},"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"m.reserve\","
	"     \"data\": {\"sku\": \"${/item}\"}},"
	"   \"success\": [\"m.reserved\"]}"
	" ]}";

/* The id of the one saga of definition (new: free()). */
static char *
saga_of(struct orc_it_scene *s, const char *definition)
{
	return orc_it_scene_value(s, "SELECT id FROM sagas WHERE"
				     " definition_name = '%s'", definition);
}

START_TEST(test_status_history_of_running_trees)
{
	static const char *const topics[] = {"orders", "payments", "checks",
					     "bulk", "work"};
	static const char *const rules[] = {
		"--rule", "c.charge=succeed:c.charged",
		"--rule", "l.check=succeed:l.checked",
		"--rule", "m.reserve=succeed:m.reserved", NULL};
	struct orc_it_scene s;
	char line[512], expect[256], *out = malloc(OUT_MAX);
	char *parent, *child, *leaf, *map;
	json_t *j, *c, *m;

	orc_it_scene_init(&s, topics, 5);
	orc_it_scene_load(&s, leaf_def);
	orc_it_scene_load(&s, child_def);
	orc_it_scene_load(&s, parent_def);
	orc_it_scene_load(&s, map_def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);
	orc_it_scene_event(&s, "orders", "o-1", "trigger-o-1", "order.placed",
			   "{\"order_id\":\"o-1\"}", NULL, NULL, NULL);
	orc_it_scene_event(&s, "bulk", "b-1", "trigger-b-1", "bulk.placed",
			   "{\"order_id\":\"b-1\","
			   "\"items\":[\"s0\",\"s1\",\"s2\",\"s3\",\"s4\"]}",
			   NULL, NULL, NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, TREE_WAIT_MS, "all four completed",
			   "SELECT count(*) = 4 FROM sagas"
			   " WHERE status = 'completed'");
	parent = saga_of(&s, "it_parent");
	child = saga_of(&s, "it_child");
	leaf = saga_of(&s, "it_leaf");
	map = saga_of(&s, "it_map");

	/* the parent's status lists its child and grandchild */
	RUN(out, s.db.dsn, 0, "status", parent);
	HAS(out, "status      completed\n");
	HAS(out, "\nchildren:\n");
	line_of(out, child, line, sizeof(line));
	ck_assert_msg(strncmp(line, "pay ", 4) == 0, "%s", line);
	HAS(line, " it_child@1 ");
	HAS(line, " c-o-1 ");
	HAS(line, " completed");
	line_of(out, leaf, line, sizeof(line));
	ck_assert_msg(strncmp(line, "  fraud ", 8) == 0, "%s", line);
	HAS(line, " it_leaf@1 ");
	HAS(line, " f-o-1 ");
	HAS(line, " completed");
	before(out, child, leaf);
	fits_80(strstr(out, "STEP"));
	RUN(out, s.db.dsn, 0, "status", parent, "--json");
	j = parse_json(out);
	c = json_object_get(j, "children");
	ck_assert_uint_eq(json_array_size(c), 2);
	ck_assert_str_eq(jstr(json_array_get(c, 0), "id"), child);
	ck_assert_str_eq(jstr(json_array_get(c, 0), "status"), "completed");
	ck_assert_str_eq(jstr(json_array_get(c, 1), "id"), leaf);
	ck_assert_int_eq(jint(json_array_get(c, 1), "depth"), 2);
	json_decref(j);

	/* the child names its parent */
	RUN(out, s.db.dsn, 0, "status", child);
	snprintf(expect, sizeof(expect), "parent      %s (step pay, completed)\n",
		 parent);
	HAS(out, expect);
	RUN(out, s.db.dsn, 0, "status", leaf);
	snprintf(expect, sizeof(expect),
		 "parent      %s (step fraud, completed)\n", child);
	HAS(out, expect);

	/* the parent's history: the child's start and end, by its id */
	RUN(out, s.db.dsn, 0, "history", parent);
	snprintf(expect, sizeof(expect), "child %s it_child key c-o-1", child);
	HAS(out, expect);
	snprintf(expect, sizeof(expect), "child %s completed", child);
	HAS(out, expect);
	before(out, "child.started", "child.ended");
	before(out, "child.started", expect);

	/* a map saga: its progress, in words and in --json */
	RUN(out, s.db.dsn, 0, "status", map);
	line_of(out, "reserve ", line, sizeof(line));
	HAS(line, "succeeded");
	HAS(out, "\n  map 5/5 done\n");
	RUN(out, s.db.dsn, 0, "status", map, "--json");
	j = parse_json(out);
	m = json_object_get(json_array_get(json_object_get(j, "steps"), 0),
			    "map");
	ck_assert_int_eq(jint(m, "items"), 5);
	ck_assert_int_eq(jint(m, "started"), 5);
	ck_assert_int_eq(jint(m, "succeeded"), 5);
	ck_assert_int_eq(jint(m, "failed"), 0);
	ck_assert_int_eq(jint(m, "in_flight"), 0);
	ck_assert_int_eq(jint(m, "concurrency"), 2);
	json_decref(j);
	RUN(out, s.db.dsn, 0, "history", map);
	HAS(out, " reserve[0] ");
	HAS(out, " reserve[4] ");
	free(parent);
	free(child);
	free(leaf);
	free(map);
	free(out);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- dead letters ---- */

static long
insert_dead_letter(PGconn *conn, const char *topic, const char *extra_cols,
		   const char *extra_vals)
{
	char sql[2048];
	char *v;
	long id;

	snprintf(sql, sizeof(sql),
		 "INSERT INTO orchestrator.dead_letters (consumer, topic, partition,"
		 " \"offset\", key, headers, payload, error%s) VALUES ('orchestrator',"
		 " '%s', 5, 99, convert_to('k-42', 'UTF8'),"
		 " '[[\"ce_id\", \"e-1\"], [\"ce_type\", \"order.placed\"],"
		 "   [\"bin\", \"\\\\x00ff01\"], [\"orc_replayed_from\", \"0\"],"
		 "   [\"empty\", \"\"], [\"nothing\", null]]',"
		 " convert_to('{\"order_id\":\"o-42\"}', 'UTF8'),"
		 " 'not a CloudEvent: attribute \"source\" is missing'%s)"
		 " RETURNING id",
		 extra_cols, topic, extra_vals);
	v = orc_it_pg_value(conn, sql);
	id = strtol(v, NULL, 10);
	free(v);
	return id;
}

START_TEST(test_dead_letters_list)
{
	char dsn[1024], *out = malloc(OUT_MAX);
	PGconn *conn = fresh_db(dsn, sizeof(dsn), false);
	json_t *list, *d;
	long a, b;

	RUN(out, dsn, 0, "dead-letters", "list");
	HAS(out, "(0 dead letters not replayed)\n");
	a = insert_dead_letter(conn, "orders.events", ", replayed_at",
			       ", now() - interval '1 minute'");
	b = insert_dead_letter(conn, "payments.replies", "", "");
	ck_assert_int_lt(a, b);

	RUN(out, dsn, 0, "dead-letters", "list");
	HAS(out, "ID  TOPIC             PART  OFFSET  CREATED               REPLAYED\n");
	HAS(out, "payments.replies     5      99  20");
	HAS(out, "Z  -\n  orchestrator: not a CloudEvent: attribute \"source\" is missing\n");
	HASNT(out, "orders.events");
	HAS(out, "(1 dead letter not replayed)\n");
	fits_80(out);

	RUN(out, dsn, 0, "dead-letters", "list", "--all");
	HAS(out, "orders.events");
	HAS(out, "(2 dead letters)\n");
	before(out, "payments.replies", "orders.events");
	RUN(out, dsn, 0, "dead-letters", "list", "--all", "--limit", "1");
	HAS(out, "(1 of 2 dead letters; --limit N shows more)\n");

	RUN(out, dsn, 0, "dead-letters", "list", "--all", "--json");
	list = parse_json(out);
	ck_assert_uint_eq(json_array_size(list), 2);
	d = json_array_get(list, 0);
	ck_assert_int_eq(jint(d, "id"), b);
	ck_assert_str_eq(jstr(d, "consumer"), "orchestrator");
	ck_assert_str_eq(jstr(d, "topic"), "payments.replies");
	ck_assert_int_eq(jint(d, "partition"), 5);
	ck_assert_int_eq(jint(d, "offset"), 99);
	ck_assert_ptr_nonnull(strstr(jstr(d, "error"), "\"source\" is missing"));
	ck_assert(jnull(d, "replayed_at"));
	ck_assert_ptr_nonnull(jstr(json_array_get(list, 1), "replayed_at"));
	json_decref(list);

	RUN(out, dsn, 2, "dead-letters");
	HAS(out, "usage: orchestrator dead-letters list");
	RUN(out, dsn, 2, "dead-letters", "prune");
	HAS(out, "unknown subcommand \"prune\"");
	RUN(out, dsn, 2, "dead-letters", "list", "--limit", "x");
	RUN(out, dsn, 0, "dead-letters", "--help");
	HAS(out, "orc_replayed_from");
	free(out);
	PQfinish(conn);
}
END_TEST

static void
header_is(const struct orc_kafka_message *m, const char *name,
	  const void *value, size_t size)
{
	struct orc_header h;

	ck_assert_msg(orc_kafka_message_header(m, name, &h), "no header %s", name);
	ck_assert_uint_eq(h.size, size);
	if (size > 0)
		ck_assert_int_eq(memcmp(h.value, value, size), 0);
}

START_TEST(test_dead_letters_replay)
{
	char dsn[1024], topic[64], group[64], idtext[24], expect[256];
	char *out = malloc(OUT_MAX), *v;
	PGconn *conn = fresh_db(dsn, sizeof(dsn), false);
	const char *topics[1] = {topic};
	struct orc_config cfg;
	struct orc_error err;
	struct orc_consumer *c;
	struct orc_kafka_message *m;
	struct orc_header h;
	size_t replayed_from = 0;
	long id;

	orc_it_unique("it_replay", topic, sizeof(topic));
	orc_it_unique("it_replay_group", group, sizeof(group));
	id = insert_dead_letter(conn, topic, "", "");
	snprintf(idtext, sizeof(idtext), "%ld", id);

	/* the broker unreachable: nothing is marked */
	RUN(out, dsn, 1, "dead-letters", "replay", idtext, "--kafka-brokers",
	    "127.0.0.1:1", "--kafka.message.timeout.ms", "2000");
	HAS(out, "cannot publish dead letter");
	HAS(out, "DETAIL: The dead letter is not marked replayed.\n");
	ck_assert_int_eq(orc_it_pg_long(conn, "SELECT count(*) FROM"
					" orchestrator.dead_letters"
					" WHERE replayed_at IS NOT NULL"),
			 0);

	RUN(out, dsn, 0, "dead-letters", "replay", idtext);
	snprintf(expect, sizeof(expect), "dead letter %ld replayed to %s: partition ",
		 id, topic);
	HAS(out, expect);
	HAS(out, "\n  originally partition 5, offset 99\n");
	snprintf(expect, sizeof(expect), "\n  key 4 bytes, value 19 bytes, "
		 "5 headers + orc_replayed_from: %ld\n", id);
	HAS(out, expect);
	HAS(out, "marked replayed at 20");
	v = orc_it_pg_value(conn, "SELECT (replayed_at > now() - interval '1 minute')::text"
				  " FROM orchestrator.dead_letters");
	ck_assert_str_eq(v, "true");
	free(v);
	RUN(out, dsn, 0, "dead-letters", "list");
	HAS(out, "(0 dead letters not replayed)\n");

	/* it is on the original topic, as received, plus orc_replayed_from */
	orc_it_config_init(&cfg);
	ck_assert_int_eq(orc_consumer_create(&cfg, group, topics, 1, &c, &err),
			 ORC_OK);
	m = orc_it_poll_one(c, 30000);
	ck_assert_msg(m != NULL, "nothing consumed from %s", topic);
	ck_assert_str_eq(m->topic, topic);
	ck_assert_uint_eq(m->key_len, 4);
	ck_assert_int_eq(memcmp(m->key, "k-42", 4), 0);
	ck_assert_uint_eq(m->value_len, strlen("{\"order_id\":\"o-42\"}"));
	ck_assert_int_eq(memcmp(m->value, "{\"order_id\":\"o-42\"}", m->value_len), 0);
	header_is(m, "ce_id", "e-1", 3);
	header_is(m, "ce_type", "order.placed", 12);
	header_is(m, "bin", "\x00\xff\x01", 3); /* stored as \x hex, sent as bytes */
	header_is(m, "empty", "", 0);
	ck_assert(orc_kafka_message_header(m, "nothing", &h));
	ck_assert_ptr_null(h.value);
	header_is(m, "orc_replayed_from", idtext, strlen(idtext));
	/* the stale orc_replayed_from was replaced, not repeated */
	for (size_t i = 0; orc_kafka_message_header_at(m, i, &h); i++)
		if (strcmp(h.name, "orc_replayed_from") == 0)
			replayed_from++;
	ck_assert_uint_eq(replayed_from, 1);
	ck_assert_uint_eq(orc_kafka_message_header_count(m), 6);
	orc_kafka_message_destroy(m);

	/* replaying again is allowed (replayed_at is the last replay) */
	RUN(out, dsn, 0, "dead-letters", "replay", idtext, "--json");
	{
		json_t *r = parse_json(out);

		ck_assert_int_eq(jint(r, "id"), id);
		ck_assert_str_eq(jstr(r, "topic"), topic);
		ck_assert_int_eq(jint(r, "original_offset"), 99);
		ck_assert_int_eq(jint(r, "original_partition"), 5);
		ck_assert_ptr_nonnull(jstr(r, "replayed_at"));
		json_decref(r);
	}
	m = orc_it_poll_one(c, 30000);
	ck_assert_msg(m != NULL, "second replay not consumed");
	header_is(m, "orc_replayed_from", idtext, strlen(idtext));
	orc_kafka_message_destroy(m);
	orc_consumer_destroy(c);
	orc_config_finish(&cfg);

	RUN(out, dsn, 1, "dead-letters", "replay", "424242");
	HAS(out, "orchestrator dead-letters: dead letter 424242 does not exist\n");
	RUN(out, dsn, 2, "dead-letters", "replay", "abc");
	HAS(out, "invalid dead letter id \"abc\"");
	RUN(out, dsn, 2, "dead-letters", "replay");
	free(out);
	PQfinish(conn);
}
END_TEST

START_TEST(test_unreachable_database)
{
	char out[4096];
	const char *args[] = {"list", "--dsn",
			      "host=127.0.0.1 port=1 dbname=x connect_timeout=2",
			      NULL};

	ck_assert_int_eq(orc_it_run(out, sizeof(out), args), 1);
	ck_assert_msg(strstr(out, "orchestrator list: cannot connect to postgresql")
			      != NULL, "%s", out);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(views_show_the_seeded_sagas),
		ORC_IT_CASE(status),
		ORC_IT_CASE(list),
		ORC_IT_CASE(history),
		ORC_IT_CASE(status_tree_and_maps),
		ORC_IT_CASE(status_history_of_running_trees),
		ORC_IT_CASE(dead_letters_list),
		ORC_IT_CASE(dead_letters_replay),
		ORC_IT_CASE(unreachable_database),
	};

	return orc_it_run_suite("admin", cases, sizeof(cases) / sizeof(cases[0]),
				180);
}
