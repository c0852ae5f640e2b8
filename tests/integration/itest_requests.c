/*
 * itest_requests.c - operator requests made in SQL alone, and the
 * definition switches, against the real stack.
 *
 * A request inserted with plain SQL (request(), by a role that is only a
 * member of orchestrator_operator) is applied by `orchestrator run`
 * within seconds, with the outcome written back and the history saying
 * who asked; one the saga's state does not allow is refused with the
 * engine's reason, and /metrics counts each outcome; 100 requests
 * inserted with one INSERT ... SELECT are applied exactly once by two
 * processes, one of them killed with SIGKILL in the middle.  A paused
 * definition's triggers are held (consumed, no saga, other definitions
 * on the topic go on) and start when it is resumed; a limit of 2 keeps
 * at most 2 sagas running at every sample, with two processes, until
 * all 10 have completed; a definition with no room does not keep
 * another's held triggers back.
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "harness.h"

#define WAIT_MS 60000

/* Triggers of type with keys "<prefix>-0" ... on topic orders. */
static void
triggers(struct orc_it_scene *s, const char *type, const char *prefix, int n)
{
	for (int k = 0; k < n; k++) {
		char key[32], id[64], data[64];

		snprintf(key, sizeof(key), "%s-%d", prefix, k);
		snprintf(id, sizeof(id), "trigger-%s", key);
		snprintf(data, sizeof(data), "{\"order_id\":\"%s\"}", key);
		orc_it_scene_event(s, "orders", key, id, type, data, NULL, NULL,
				   NULL);
	}
	orc_it_scene_flush(s);
}

/* The first attempt of every saga's step fails: the saga fails. */
static const char flaky_def[] =
	"{\"name\": \"flaky\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"charge\", \"command\": {\"topic\": \"{P}.work\","
	"   \"type\": \"charge.do\"},"
	"   \"success\": [\"charge.done\"], \"failure\": [\"charge.failed\"]}"
	" ]}";

/* A saga that waits (for 5 minutes) once it has started. */
static const char waiting_def[] =
	"{\"name\": \"waiting\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.waits\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"hold\", \"wait\": {\"topic\": \"{P}.reviews\","
	"   \"type\": \"hold.released\", \"key\": \"/order_id\","
	"   \"timeout\": \"5m\"}}"
	" ]}";

static const char *const flaky_rules[] = {
	"--rule", "charge.do=fail-first:1:charge.failed:charge.done", NULL};

/* ---- 1. one request in SQL, done, refused, failed ---- */

/* /metrics on port counts one request of each outcome. */
static void
expect_metrics(struct orc_it_scene *s, int port)
{
	static const char *const lines[] = {
		"orchestrator_operator_requests_total{state=\"done\"} 1\n",
		"orchestrator_operator_requests_total{state=\"refused\"} 1\n",
		"orchestrator_operator_requests_total{state=\"failed\"} 1\n",
		"orchestrator_held_triggers_started_total 0\n",
		"orchestrator_triggers_held_total 0\n",
	};
	static char body[1 << 18];
	int64_t deadline = orc_clock_mono_ms() + 10000;

	for (;;) {
		size_t found = 0;
		int st = orc_it_http_get(port, "/metrics", 2000, body,
					 sizeof(body));

		for (size_t i = 0; st == 200 && i < 5; i++)
			found += strstr(body, lines[i]) != NULL;
		if (found == 5)
			return;
		if (orc_clock_mono_ms() > deadline)
			orc_it_scene_fail(s, "/metrics (%d) lacks the request"
					  " counters:\n%.2000s", st, body);
		orc_clock_sleep_ms(200, NULL);
	}
}

START_TEST(test_sql_request_applied_and_refused)
{
	static const char *const topics[] = {"orders", "work", "reviews"};
	struct orc_it_scene s;
	char role[64], sql[256], port[32], *saga, *waiting;
	const char *env[] = {port, NULL};
	long id, refused, missing;
	int64_t t0, took;
	int http;

	orc_it_scene_init(&s, topics, 3);
	orc_it_scene_load(&s, flaky_def);
	orc_it_scene_load(&s, waiting_def);
	http = orc_it_free_port();
	snprintf(port, sizeof(port), "ORC_HTTP_PORT=%d", http);
	orc_it_scene_run(&s, "run", env);
	orc_it_scene_responder(&s, "services", "work", flaky_rules);
	triggers(&s, "order.placed", "r", 1);
	triggers(&s, "order.waits", "w", 1);
	orc_it_scene_await(&s, WAIT_MS, "r-0 failed, w-0 waiting",
			   "SELECT count(*) = 2 FROM sagas WHERE"
			   " (business_key = 'r-0' AND status = 'failed') OR"
			   " (business_key = 'w-0' AND status = 'running')");
	saga = orc_it_scene_value(&s,
		"SELECT id FROM sagas WHERE business_key = 'r-0'");
	waiting = orc_it_scene_value(&s,
		"SELECT id FROM sagas WHERE business_key = 'w-0'");

	/* a person with only orchestrator_operator, in psql */
	orc_it_unique("op", role, sizeof(role));
	snprintf(sql, sizeof(sql),
		 "CREATE ROLE %s NOLOGIN IN ROLE orchestrator_operator", role);
	orc_it_pg_exec(s.db.conn, sql, 0, NULL);
	snprintf(sql, sizeof(sql), "SET ROLE %s", role);
	orc_it_pg_exec(s.db.conn, sql, 0, NULL);
	t0 = orc_clock_mono_ms();
	id = orc_it_scene_long(&s,
		"SELECT orchestrator.request('retry', saga_id => '%s',"
		" reason => 'provider back')", saga);
	refused = orc_it_scene_long(&s,
		"SELECT orchestrator.request('resume', '%s',"
		" reason => 'by mistake')", waiting);
	missing = orc_it_scene_long(&s,
		"SELECT orchestrator.request('cancel',"
		" '00000000-0000-4000-8000-000000000000')");
	orc_it_pg_exec(s.db.conn, "RESET ROLE", 0, NULL);

	orc_it_scene_await(&s, 5000, "the retry request done within 5 s",
			   "SELECT count(*) = 3 FROM operator_requests"
			   " WHERE state <> 'pending'");
	took = orc_clock_mono_ms() - t0;
	fprintf(stderr, "requests: three applied %lld ms after the insert\n",
		(long long)took);
	orc_it_expect(&s, "done", "the retry's state",
		      orc_it_scene_value(&s,
			"SELECT state || coalesce(outcome, '') FROM"
			" operator_requests WHERE id = %ld", id));
	orc_it_scene_await(&s, WAIT_MS, "r-0 completed after the retry",
			   "SELECT count(*) = 1 FROM sagas WHERE"
			   " business_key = 'r-0' AND status = 'completed'");
	{
		char want[160];

		snprintf(want, sizeof(want), "%s|provider back|req-%ld|req-%ld",
			 role, id, id);
		orc_it_expect(&s, want, "who, why and the action's id",
			      orc_it_scene_value(&s,
				"SELECT h.detail->>'by' || '|' ||"
				" (h.detail->>'reason') || '|' || h.event_id ||"
				" '|' || r.action_id FROM saga_history h,"
				" operator_requests r WHERE h.saga_id = '%s'"
				" AND h.kind = 'operator.retry' AND r.id = %ld",
				saga, id));
		orc_it_expect(&s, role, "requested_by",
			      orc_it_scene_value(&s,
				"SELECT requested_by FROM operator_requests"
				" WHERE id = %ld", id));
	}
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM operator_actions WHERE saga_id = '%s'"
		" AND action = 'retry' AND action_id = 'req-%ld'", saga, id), 1);
	orc_it_expect(&s, "refused|true",
		      "the refused request, with the saga's state",
		      orc_it_scene_value(&s,
			"SELECT state || '|' || (outcome LIKE 'cannot resume"
			" saga %s: it is running and not paused%%')::text"
			" FROM operator_requests WHERE id = %ld",
			waiting, refused));
	orc_it_expect(&s, "failed|no saga with id", "the request for no saga",
		      orc_it_scene_value(&s,
			"SELECT state || '|' || left(outcome, 15) FROM"
			" operator_requests WHERE id = %ld", missing));
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_history WHERE saga_id = '%s'"
		" AND kind LIKE 'operator.%%'", waiting), 0);
	expect_metrics(&s, http);
	snprintf(sql, sizeof(sql), "DROP ROLE %s", role);
	orc_it_pg_exec(s.db.conn, sql, 0, NULL);
	orc_it_scene_finish(&s);
	free(saga);
	free(waiting);
}
END_TEST

/* ---- 2. 100 requests in one INSERT ... SELECT, two processes ---- */

#define BULK 100

START_TEST(test_bulk_insert_select_applied_once)
{
	static const char *const topics[] = {"orders", "work"};
	struct orc_it_scene s;
	char killed[32];
	int victim;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, flaky_def);
	victim = orc_it_scene_run(&s, "run-a", NULL);
	orc_it_scene_run(&s, "run-b", NULL);
	orc_it_scene_responder(&s, "services", "work", flaky_rules);
	triggers(&s, "order.placed", "b", BULK);
	orc_it_scene_await(&s, WAIT_MS, "100 sagas failed",
			   "SELECT count(*) = 100 FROM sagas WHERE status = 'failed'");

	ck_assert_int_eq(orc_it_scene_long(&s,
		"WITH i AS (INSERT INTO operator_requests (action, saga_id, reason)"
		" SELECT 'retry', id, 'provider back' FROM sagas"
		" WHERE definition_name = 'flaky' AND status = 'failed'"
		" RETURNING 1) SELECT count(*) FROM i"), BULK);
	/* one of the two dies once it has applied one, in its batch */
	snprintf(killed, sizeof(killed), ":%d", s.procs[victim].pid);
	{
		char sql[256];

		snprintf(sql, sizeof(sql),
			 "SELECT count(*) > 0 FROM operator_requests WHERE"
			 " state = 'done' AND applied_by_instance LIKE '%%%s'",
			 killed);
		orc_it_scene_await(&s, WAIT_MS, "run-a applied a request", sql);
	}
	orc_it_scene_stop(&s, victim, SIGKILL);
	fprintf(stderr, "requests: at the kill %ld done, %ld leased to the"
		" killed process\n",
		orc_it_scene_long(&s, "SELECT count(*) FROM operator_requests"
				      " WHERE state = 'done'"),
		orc_it_scene_long(&s, "SELECT count(*) FROM operator_requests"
				      " WHERE state = 'pending' AND"
				      " applied_by_instance LIKE '%%%s'",
				  killed));
	orc_it_scene_await(&s, WAIT_MS, "every request done",
			   "SELECT count(*) = 100 FROM operator_requests"
			   " WHERE state = 'done'");
	orc_it_scene_await(&s, WAIT_MS, "every saga completed",
			   "SELECT count(*) = 100 FROM sagas"
			   " WHERE status = 'completed'");
	/* exactly once: one operator.retry per saga, with its request's id */
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_history WHERE kind = 'operator.retry'"),
		BULK);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM operator_requests r JOIN saga_history h"
		" ON h.saga_id = r.saga_id AND h.kind = 'operator.retry'"
		" AND h.event_id = 'req-' || r.id AND r.action_id = h.event_id"),
		BULK);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_history WHERE kind = 'saga.retried'"),
		BULK);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_steps WHERE status = 'succeeded'"
		" AND attempt = 2"), BULK);
	fprintf(stderr, "requests: %ld of 100 applied by the process killed"
		" with SIGKILL, the rest by the other\n",
		orc_it_scene_long(&s, "SELECT count(*) FROM operator_requests"
				      " WHERE applied_by_instance LIKE '%%%s'",
				  killed));
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 3. a paused definition holds its triggers ---- */

static const char quick_def[] =
	"{\"name\": \"quick\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.quick\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\","
	"   \"type\": \"a.do\"}, \"success\": [\"a.done\"]}"
	" ]}";

static const char other_def[] =
	"{\"name\": \"other\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.other\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\","
	"   \"type\": \"a.do\"}, \"success\": [\"a.done\"]}"
	" ]}";

START_TEST(test_paused_definition_holds_triggers)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {"--rule", "a.do=succeed:a.done",
					    NULL};
	static const char *const env[] = {"ORC_CONTROLS_REFRESH_MS=200",
					  NULL};
	struct orc_it_scene s;
	char out[4096];
	int rc;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, quick_def);
	orc_it_scene_load(&s, other_def);
	orc_it_scene_run(&s, "run", env);
	orc_it_scene_responder(&s, "services", "work", rules);
	{
		const char *args[] = {"definitions", "pause", "quick",
				      "--reason", "supplier outage", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 0 || strstr(out, "quick: paused") == NULL)
			orc_it_scene_fail(&s, "pause exited %d: %s", rc, out);
	}
	{
		const char *args[] = {"definitions", "pause", "no_such", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 1 || strstr(out, "no definition named \"no_such\"") ==
				       NULL)
			orc_it_scene_fail(&s, "pause of no_such exited %d: %s",
					  rc, out);
	}
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM definition_controls"), 1);
	orc_clock_sleep_ms(1000, NULL); /* every process has read it */
	triggers(&s, "order.quick", "q", 5);
	triggers(&s, "order.other", "o", 2);
	orc_it_scene_await(&s, WAIT_MS, "5 triggers held",
			   "SELECT count(*) = 5 FROM held_triggers WHERE"
			   " definition_name = 'quick' AND why IN ('paused',"
			   " 'queued')");
	/* the other definition on the same partitions goes on */
	orc_it_scene_await(&s, WAIT_MS, "the other definition's sagas",
			   "SELECT count(*) = 2 FROM sagas WHERE"
			   " definition_name = 'other' AND status = 'completed'");
	orc_clock_sleep_ms(1500, NULL);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM sagas WHERE definition_name = 'quick'"), 0);
	orc_it_expect(&s, "quick|5|true", "the held-trigger summary",
		      orc_it_scene_value(&s,
			"SELECT definition_name || '|' || held || '|' || paused"
			" FROM held_trigger_summary"));
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM dead_letters"), 0);
	{
		const char *args[] = {"definitions", "resume", "quick", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 0 || strstr(out, "quick: resumed (5 triggers held)") ==
				       NULL)
			orc_it_scene_fail(&s, "resume exited %d: %s", rc, out);
	}
	orc_it_scene_await(&s, WAIT_MS, "the 5 held sagas completed",
			   "SELECT count(*) = 5 FROM sagas WHERE"
			   " definition_name = 'quick' AND status = 'completed'");
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM held_triggers"), 0);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(DISTINCT business_key) FROM sagas WHERE"
		" definition_name = 'quick'"), 5);
	/* each saga's history names the trigger it was held for */
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_history h JOIN sagas g ON"
		" g.id = h.saga_id WHERE h.kind = 'saga.started' AND"
		" h.detail->>'event_id' = 'trigger-' || g.business_key"), 7);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_history h JOIN sagas g ON"
		" g.id = h.saga_id WHERE g.definition_name = 'quick' AND"
		" h.kind = 'saga.started'"), 5);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 4. a limit of 2 running sagas ---- */

static const char slow_def[] =
	"{\"name\": \"slow\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.slow\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\","
	"   \"type\": \"slow.do\"}, \"success\": [\"slow.done\"]}"
	" ]}";

START_TEST(test_limit_keeps_two_running)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "slow.do=delay:700:slow.done", NULL};
	static const char *const env[] = {"ORC_CONTROLS_REFRESH_MS=200",
					  NULL};
	struct orc_it_scene s;
	long most = 0, held = 0, samples = 0;
	int64_t deadline;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, slow_def);
	orc_it_scene_run(&s, "run-a", env);
	orc_it_scene_run(&s, "run-b", env);
	orc_it_scene_responder(&s, "services", "work", rules);
	/* in SQL alone */
	orc_it_pg_exec(s.db.conn, "INSERT INTO definition_controls"
		       " (definition_name, max_running, reason)"
		       " VALUES ('slow', 2, 'fragile provider')", 0, NULL);
	orc_clock_sleep_ms(1000, NULL);
	triggers(&s, "order.slow", "l", 10);
	deadline = orc_clock_mono_ms() + WAIT_MS;
	for (;;) {
		long running = orc_it_scene_long(&s,
			"SELECT count(*) FROM sagas WHERE status IN"
			" ('running', 'compensating')");
		long h = orc_it_scene_long(&s,
			"SELECT count(*) FROM held_triggers");
		long done = orc_it_scene_long(&s,
			"SELECT count(*) FROM sagas WHERE status = 'completed'");

		samples++;
		if (running > 2)
			orc_it_scene_fail(&s, "%ld sagas running at once", running);
		most = running > most ? running : most;
		held = h > held ? h : held;
		if (done == 10)
			break;
		if (orc_clock_mono_ms() > deadline)
			orc_it_scene_fail(&s, "only %ld of 10 completed", done);
		orc_clock_sleep_ms(50, NULL);
	}
	fprintf(stderr, "limit: %ld samples, at most %ld running, up to %ld"
		" held\n", samples, most, held);
	ck_assert_int_eq(most, 2);
	ck_assert_int_ge(held, 6);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM held_triggers"), 0);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_history WHERE kind = 'saga.started'"),
		10);
	orc_it_expect(&s, "2|fragile provider", "the switch row",
		      orc_it_scene_value(&s,
			"SELECT max_running || '|' || reason FROM"
			" definition_controls WHERE definition_name = 'slow'"));
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 5. a definition with no room does not starve another ---- */

START_TEST(test_full_definition_starves_no_other)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "a.do=succeed:a.done",
		"--rule", "slow.do=succeed:slow.done", NULL};
	static const char *const env[] = {"ORC_CONTROLS_REFRESH_MS=200",
					  "ORC_REQUEST_BATCH=2", NULL};
	struct orc_it_scene s;
	char out[4096];
	int rc;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, slow_def);
	orc_it_scene_load(&s, quick_def);
	orc_it_scene_run(&s, "run", env);
	orc_it_scene_responder(&s, "services", "work", rules);
	{
		const char *limit[] = {"definitions", "limit", "slow", "0", NULL};
		const char *pause[] = {"definitions", "pause", "quick", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), limit);
		if (rc != 0 || strstr(out, "slow: at most 0 running") == NULL)
			orc_it_scene_fail(&s, "limit exited %d: %s", rc, out);
		rc = orc_it_scene_cli(&s, out, sizeof(out), pause);
		if (rc != 0)
			orc_it_scene_fail(&s, "pause exited %d: %s", rc, out);
	}
	orc_clock_sleep_ms(1000, NULL);
	/* the older triggers, more than a batch, belong to the full one */
	triggers(&s, "order.slow", "s", 5);
	orc_it_scene_await(&s, WAIT_MS, "5 slow triggers held",
			   "SELECT count(*) = 5 FROM held_triggers");
	triggers(&s, "order.quick", "q", 3);
	orc_it_scene_await(&s, WAIT_MS, "3 quick triggers held",
			   "SELECT count(*) = 8 FROM held_triggers");
	{
		const char *args[] = {"definitions", "resume", "quick", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 0)
			orc_it_scene_fail(&s, "resume exited %d: %s", rc, out);
	}
	orc_it_scene_await(&s, WAIT_MS, "the quick sagas, past the full one",
			   "SELECT count(*) = 3 FROM sagas WHERE"
			   " definition_name = 'quick' AND status = 'completed'");
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM sagas WHERE definition_name = 'slow'"), 0);
	{
		const char *args[] = {"definitions", "limit", "slow", "--none",
				      NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 0 || strstr(out, "slow: no limit (5 triggers held)") ==
				       NULL)
			orc_it_scene_fail(&s, "limit --none exited %d: %s", rc,
					  out);
	}
	orc_it_scene_await(&s, WAIT_MS, "the slow sagas once it has room",
			   "SELECT count(*) = 5 FROM sagas WHERE"
			   " definition_name = 'slow' AND status = 'completed'");
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM held_triggers"), 0);
	orc_it_scene_finish(&s);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(sql_request_applied_and_refused),
		ORC_IT_CASE(bulk_insert_select_applied_once),
		ORC_IT_CASE(paused_definition_holds_triggers),
		ORC_IT_CASE(limit_keeps_two_running),
		ORC_IT_CASE(full_definition_starves_no_other),
	};

	return orc_it_run_suite("requests", cases,
				sizeof(cases) / sizeof(cases[0]), 300);
}
