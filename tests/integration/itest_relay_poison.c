/*
 * itest_relay_poison.c - no outbox row can block the relay, and the relay
 * cannot freeze the loop, with real processes on the real stack:
 *
 *   (i)   a saga whose command renders larger than max_command_bytes (and
 *         than the producer's message.max.bytes) fails that step with the
 *         reason and compensates, while 50 other sagas complete;
 *   (ii)  a row the broker refuses (too large, written by SQL as an old
 *         version or a hand edit could) is quarantined with the saga's
 *         later row, shows in the view and the metrics, and the other
 *         sagas' commands are published;
 *   (iii) with the broker unreachable, /healthz answers within 1 s and a
 *         step's timeout fires and is recorded while the relay cannot
 *         publish; once a relay reaches the broker, the command is
 *         published.
 *
 * Each test has its own scene (database, topics, `run`, responder).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "harness.h"

#define WAIT_MS 90000
#define OTHERS 50

/*
 * hold (undone by hold.undo), then ship, whose data carries the input's
 * blob twice: a blob of 60 KB renders a command of 120 KB.
 */
static const char poison_def[] =
	"{\"name\": \"poison\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"hold\", \"command\": {\"topic\": \"{P}.work\","
	"   \"type\": \"hold.do\", \"data\": {\"order\": \"${/saga/key}\"}},"
	"   \"success\": [\"hold.done\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"hold.undo\","
	"    \"success\": [\"hold.undone\"]}},"
	"  {\"name\": \"ship\", \"needs\": [\"hold\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"ship.do\","
	"    \"data\": {\"a\": \"${/input/blob}\", \"b\": \"${/input/blob}\"}},"
	"   \"success\": [\"ship.done\"]}"
	" ]}";

static const char *const poison_rules[] = {
	"--rule", "hold.do=succeed:hold.done",
	"--rule", "hold.undo=succeed:hold.undone",
	"--rule", "ship.do=succeed:ship.done", NULL};

/* Trigger one saga, key, with a blob of blob_len bytes. */
static void
trigger(struct orc_it_scene *s, const char *key, size_t blob_len)
{
	char id[64];
	char *data = malloc(blob_len + 64);
	int n;

	ck_assert_ptr_nonnull(data);
	n = snprintf(data, 64, "{\"order_id\":\"%s\",\"blob\":\"", key);
	memset(data + n, 'x', blob_len);
	strcpy(data + n + blob_len, "\"}");
	snprintf(id, sizeof(id), "trigger-%s", key);
	orc_it_scene_event(s, "orders", key, id, "order.placed", data, NULL,
			   NULL, NULL);
	free(data);
}

static void
trigger_others(struct orc_it_scene *s)
{
	for (int k = 0; k < OTHERS; k++) {
		char key[32];

		snprintf(key, sizeof(key), "ok-%d", k);
		trigger(s, key, 10);
	}
	orc_it_scene_flush(s);
}

/* Start `run` with env plus its HTTP port; returns the port. */
static int
run_with_port(struct orc_it_scene *s, const char *name, const char *const *env)
{
	char port_env[32];
	const char *all[8];
	size_t n = 0;
	int port = orc_it_free_port();
	int64_t deadline = orc_clock_mono_ms() + 60000;

	snprintf(port_env, sizeof(port_env), "ORC_HTTP_PORT=%d", port);
	all[n++] = port_env;
	for (size_t i = 0; env != NULL && env[i] != NULL && n < 7; i++)
		all[n++] = env[i];
	all[n] = NULL;
	orc_it_scene_run(s, name, all);
	while (orc_it_http_get(port, "/healthz", 1000, NULL, 0) != 200) {
		if (orc_clock_mono_ms() > deadline)
			orc_it_scene_fail(s, "/healthz of %s never answered",
					  name);
		orc_clock_sleep_ms(100, NULL);
	}
	return port;
}

/* (i) a command rendered too large fails its step; 50 others complete */
START_TEST(test_command_too_large_fails_the_step)
{
	static const char *const topics[] = {"orders", "work"};
	/* the producer refuses what is over 100000 bytes; we stop at 90000 */
	static const char *const env[] = {"ORC_MAX_COMMAND_BYTES=90000",
					  "ORC_KAFKA_MESSAGE_MAX_BYTES=100000",
					  NULL};
	struct orc_it_scene s;
	char *reason;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, poison_def);
	orc_it_scene_run(&s, "run", env);
	orc_it_scene_responder(&s, "services", "work", poison_rules);
	trigger(&s, "big", 60000);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the big saga started",
			   "SELECT count(*) = 1 FROM sagas");
	trigger_others(&s);
	orc_it_scene_await(&s, WAIT_MS, "the 50 other sagas completed",
			   "SELECT count(*) = " "50" " FROM sagas"
			   " WHERE status = 'completed'");
	orc_it_scene_await(&s, WAIT_MS, "the big saga compensated",
			   "SELECT status = 'compensated' FROM sagas"
			   " WHERE business_key = 'big'");
	reason = orc_it_scene_value(&s,
		"SELECT h.detail->>'error' FROM saga_history h"
		" JOIN sagas s ON s.id = h.saga_id"
		" WHERE s.business_key = 'big' AND h.kind = 'step.failed'"
		" AND h.step_name = 'ship'");
	if (strstr(reason, "command data is 120") != reason ||
	    strstr(reason, "over the limit of 90000 (setting "
			   "max_command_bytes") == NULL)
		orc_it_scene_fail(&s, "step.failed error: %s", reason);
	free(reason);
	orc_it_expect(&s, "command data is", "the step's last error",
		      orc_it_scene_value(&s,
			"SELECT left(st.last_error, 15) FROM saga_steps st"
			" JOIN sagas s ON s.id = st.saga_id"
			" WHERE s.business_key = 'big'"
			" AND st.step_name = 'ship'"));
	/* the sagas' last lifecycle events may still be on their way */
	orc_it_scene_await(&s, 10000, "an empty outbox",
			   "SELECT count(*) = 0 FROM outbox");
	orc_it_expect(&s, "0", "quarantined rows",
		      orc_it_scene_value(&s,
			"SELECT count(*) FROM outbox_quarantine"));
	orc_it_scene_finish(&s);
}
END_TEST

/* (ii) a row the broker refuses is quarantined; the others are published */
START_TEST(test_refused_row_is_quarantined)
{
	static const char *const topics[] = {"orders", "work"};
	struct orc_it_scene s;
	char work[96], body[16384];
	const char *params[1] = {work};
	json_t *rows;
	int port;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, poison_def);
	orc_it_scene_topic(&s, "work", work, sizeof(work));
	/*
	 * A saga's two rows, the first of 2 MB (over the producer's
	 * message.max.bytes of 1 MB), before any other row: it heads its
	 * lane and the first batch.
	 */
	orc_it_pg_exec(s.db.conn,
	    "INSERT INTO outbox (saga_id, lane, message_id, topic, type,"
	    "  source, step_name, payload)"
	    " SELECT '00000000-0000-4000-8000-0000000000ee'::uuid,"
	    "  hashtext('00000000-0000-4000-8000-0000000000ee') & 15,"
	    "  'hand/' || g, $1, 'hand.edit', '/it', 'ship',"
	    "  CASE g WHEN 1 THEN '\"' || repeat('x', 2000000) || '\"'"
	    "   ELSE '{}' END"
	    " FROM generate_series(1, 2) g ORDER BY g",
	    1, params);
	port = run_with_port(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", poison_rules);
	trigger_others(&s);
	orc_it_scene_await(&s, WAIT_MS, "the 50 other sagas completed",
			   "SELECT count(*) = 50 FROM sagas"
			   " WHERE status = 'completed'");
	orc_it_scene_await(&s, 10000, "both rows quarantined",
			   "SELECT count(*) = 2 FROM quarantined_commands");
	rows = orc_it_scene_rows(&s,
		"SELECT message_id, payload_bytes, error, follows IS NULL"
		" FROM quarantined_commands ORDER BY id");
	ck_assert_str_eq(json_string_value(json_array_get(
				 json_array_get(rows, 0), 0)),
			 "hand/1");
	ck_assert_str_eq(json_string_value(json_array_get(
				 json_array_get(rows, 0), 1)),
			 "2000002");
	if (strstr(json_string_value(
			   json_array_get(json_array_get(rows, 0), 2)),
		   "too large") == NULL)
		orc_it_scene_fail(&s, "quarantine error: %s",
				  json_string_value(json_array_get(
					  json_array_get(rows, 0), 2)));
	ck_assert_str_eq(json_string_value(json_array_get(
				 json_array_get(rows, 0), 3)),
			 "t");
	ck_assert_str_eq(json_string_value(json_array_get(
				 json_array_get(rows, 1), 0)),
			 "hand/2");
	ck_assert_ptr_nonnull(strstr(
		json_string_value(json_array_get(json_array_get(rows, 1), 2)),
		"follows quarantined command "));
	ck_assert_str_eq(json_string_value(json_array_get(
				 json_array_get(rows, 1), 3)),
			 "f");
	json_decref(rows);
	/* the sagas' last lifecycle events may still be on their way */
	orc_it_scene_await(&s, 10000, "an empty outbox",
			   "SELECT count(*) = 0 FROM outbox");
	/* the gauge is read every few seconds */
	for (int64_t deadline = orc_clock_mono_ms() + 15000;;) {
		ck_assert_int_eq(orc_it_http_get(port, "/metrics", 5000, body,
						 sizeof(body)),
				 200);
		if (orc_it_metric(body, "orchestrator_outbox_quarantined") == 2)
			break;
		if (orc_clock_mono_ms() > deadline)
			orc_it_scene_fail(&s, "gauge never 2: %s", body);
		orc_clock_sleep_ms(200, NULL);
	}
	ck_assert_double_eq(
		orc_it_metric(body, "orchestrator_outbox_quarantined_total"), 2);
	orc_it_scene_finish(&s);
}
END_TEST

/*
 * One step that nobody answers, timing out after 2 s: its timeout is
 * what the timers must fire while the relay cannot publish.
 */
static const char lonely_def[] =
	"{\"name\": \"lonely\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"ask\", \"command\": {\"topic\": \"{P}.work\","
	"   \"type\": \"ask.do\"}, \"success\": [\"ask.done\"],"
	"   \"timeout\": \"2s\"}"
	" ]}";

/* (iii) the broker away: the loop keeps turning; published once it is back */
START_TEST(test_broker_away_loop_turns)
{
	static const char *const topics[] = {"orders", "work"};
	/* nothing listens there: every message waits for its report */
	static const char *const away[] = {"ORC_KAFKA_BROKERS=127.0.0.1:9",
					   NULL};
	struct orc_it_scene s;
	char out[4096], *saga;
	const char *start[] = {"start", "lonely", "--key", "k-1", "--input",
			       "{\"order_id\":\"k-1\"}", NULL};
	int port, run, answered = 0;
	int64_t t0, slowest = 0;
	json_t *msgs;
	char want_id[128];

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, lonely_def);
	port = run_with_port(&s, "run-away", away);
	/* a saga started by an operator: its command waits in the outbox */
	if (orc_it_scene_cli(&s, out, sizeof(out), start) != 0)
		orc_it_scene_fail(&s, "start: %s", out);
	saga = orc_it_scene_value(&s, "SELECT id FROM sagas");
	t0 = orc_clock_mono_ms();
	while (orc_clock_mono_ms() - t0 < 12000) {
		int64_t a = orc_clock_mono_ms();
		int st = orc_it_http_get(port, "/healthz", 1000, NULL, 0);
		int64_t took = orc_clock_mono_ms() - a;

		if (st != 200)
			orc_it_scene_fail(&s,
					  "/healthz did not answer within 1 s "
					  "(status %d after %lld ms, %d answers "
					  "before) while the broker is away",
					  st, (long long)took, answered);
		answered++;
		if (took > slowest)
			slowest = took;
		orc_clock_sleep_ms(100, NULL);
	}
	/* the step's timeout fired, and was recorded, meanwhile */
	orc_it_expect(&s, "1", "step.timed_out recorded while away",
		      orc_it_scene_value(&s,
			"SELECT count(*) FROM saga_history"
			" WHERE kind = 'step.timed_out'"));
	orc_it_expect(&s, "failed", "the saga's status",
		      orc_it_scene_value(&s, "SELECT status FROM sagas"));
	orc_it_expect(&s, "1", "the command still in the outbox",
		      orc_it_scene_value(&s, "SELECT count(*) FROM outbox"
					 " WHERE step_name IS NOT NULL"));
	orc_it_expect(&s, "saga.started,saga.failed",
		      "the lifecycle events still in the outbox",
		      orc_it_scene_value(&s, "SELECT string_agg(type, ','"
					 " ORDER BY id) FROM outbox"
					 " WHERE step_name IS NULL"));
	fprintf(stderr, "broker away: %d /healthz answers in 12 s, slowest "
			"%lld ms\n",
		answered, (long long)slowest);

	/* a relay that reaches the broker publishes it */
	run = 0;
	orc_it_scene_stop(&s, run, SIGTERM);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_await(&s, WAIT_MS, "the outbox emptied",
			   "SELECT count(*) = 0 FROM outbox");
	msgs = orc_it_scene_collect(&s, "work", 1, 30000, 500);
	snprintf(want_id, sizeof(want_id), "%s/ask/action/1", saga);
	ck_assert_uint_ge(json_array_size(msgs), 1);
	ck_assert_str_eq(orc_it_header(json_array_get(msgs, 0), "ce_id"),
			 want_id);
	json_decref(msgs);
	free(saga);
	orc_it_scene_finish(&s);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(command_too_large_fails_the_step),
		ORC_IT_CASE(refused_row_is_quarantined),
		ORC_IT_CASE(broker_away_loop_turns),
	};

	return orc_it_run_suite("relay_poison", cases,
				sizeof(cases) / sizeof(cases[0]), 300);
}
