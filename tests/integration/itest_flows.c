/*
 * itest_flows.c - sagas end to end: `orchestrator run` against a real
 * PostgreSQL and Kafka, with responder services answering its commands.
 *
 * Each test has its own database, topics, consumer groups and processes
 * (harness.h, struct orc_it_scene), starts sagas with trigger events as a
 * service would, and judges the outcome by what an operator can see: the
 * saga tables, the history, and the messages on the topics.  Covered: a
 * fan-out/fan-in happy path, compensation in reverse order, a failure that
 * awaits the commands in flight, timeouts with retries (succeeding, and
 * spent), a skipped step, waits for correlated events (also arriving
 * early), duplicated triggers and replies, late replies, and poison events
 * going to the dead-letter table and topic.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define WAIT_MS 60000

/* ---- small helpers ---- */

/* The saga id of business key key (there must be exactly one). */
static char *
saga_of(struct orc_it_scene *s, const char *key)
{
	return orc_it_scene_value(s, "SELECT id FROM sagas WHERE business_key = '%s'",
				  key);
}

/* The history kinds of a saga (and step, when not NULL), in order. */
static char *
kinds(struct orc_it_scene *s, const char *saga, const char *step)
{
	char cond[128] = "";

	if (step != NULL)
		snprintf(cond, sizeof(cond), " AND step_name = '%s'", step);
	return orc_it_scene_value(s,
				  "SELECT coalesce(string_agg(kind, ',' ORDER BY id, n), '')"
				  " FROM saga_history WHERE saga_id = '%s'%s",
				  saga, cond);
}

static void
assert_kinds(struct orc_it_scene *s, const char *saga, const char *step,
	     const char *expected)
{
	char *got = kinds(s, saga, step);

	if (strcmp(got, expected) != 0)
		orc_it_scene_fail(s, "saga %s step %s: history\n  %s\nexpected\n  %s",
				  saga, step ? step : "-", got, expected);
	free(got);
}

/* A trigger event for order key on topic "orders", CloudEvent id id. */
static void
trigger(struct orc_it_scene *s, const char *type, const char *id,
	const char *key, const char *extra, struct orc_it_sent *sent)
{
	char data[512];

	snprintf(data, sizeof(data), "{\"order_id\":\"%s\"%s%s}", key,
		 extra ? "," : "", extra ? extra : "");
	orc_it_scene_event(s, "orders", key, id, type, data, NULL, NULL, sent);
}

/* ---- 1. fan-out and fan-in ---- */

static const char fanout_def[] =
	"{\"name\": \"fanout\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"reserve\","
	"   \"command\": {\"topic\": \"{P}.inventory\", \"type\": \"inventory.reserve\","
	"                \"data\": {\"order_id\": \"${/input/order_id}\"}},"
	"   \"success\": [\"inventory.reserved\"], \"failure\": [\"inventory.unavailable\"]},"
	"  {\"name\": \"charge\", \"needs\": [\"reserve\"],"
	"   \"command\": {\"topic\": \"{P}.payment\", \"type\": \"payment.charge\","
	"                \"data\": {\"order_id\": \"${/input/order_id}\","
	"                         \"amount\": \"${/input/total}\"}},"
	"   \"success\": [\"payment.charged\"]},"
	"  {\"name\": \"notify\", \"needs\": [\"reserve\"],"
	"   \"command\": {\"topic\": \"{P}.notify\", \"type\": \"notification.send\","
	"                \"data\": {\"order_id\": \"${/input/order_id}\"}},"
	"   \"success\": [\"notification.sent\"]},"
	"  {\"name\": \"ship\", \"needs\": [\"charge\", \"notify\"],"
	"   \"command\": {\"topic\": \"{P}.shipping\", \"type\": \"shipping.schedule\","
	"                \"data\": {\"order_id\": \"${/input/order_id}\","
	"                         \"payment\": \"${/steps/charge/ref}\"}},"
	"   \"success\": [\"shipping.scheduled\"]}"
	" ]}";

#define FANOUT_SAGAS 20

START_TEST(test_fanout_fanin)
{
	static const char *const topics[] = {"orders", "inventory", "payment",
					     "notify", "shipping"};
	static const char *const rules[] = {
		"--rule", "inventory.reserve=succeed:inventory.reserved",
		"--rule", "payment.charge=delay:150:payment.charged",
		"--rule", "notification.send=delay:40:notification.sent",
		"--rule", "shipping.schedule=succeed:shipping.scheduled", NULL};
	static const char *const step_of_topic[][3] = {
		{"inventory", "reserve", "inventory.reserve"},
		{"payment", "charge", "payment.charge"},
		{"notify", "notify", "notification.send"},
		{"shipping", "ship", "shipping.schedule"},
	};
	struct orc_it_scene s;
	json_t *sagas, *msgs, *ids, *row, *m;
	size_t i;

	orc_it_scene_start(&s, topics, 5, fanout_def,
			   "inventory,payment,notify,shipping", rules);
	for (int k = 0; k < FANOUT_SAGAS; k++) {
		char key[16], id[32], extra[32];

		snprintf(key, sizeof(key), "o-%d", k);
		snprintf(id, sizeof(id), "trigger-%d", k);
		snprintf(extra, sizeof(extra), "\"total\":%d", 10 + k);
		trigger(&s, "order.placed", id, key, extra, NULL);
	}
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "20 sagas completed",
			   "SELECT count(*) = 20 FROM sagas WHERE status = 'completed'");

	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM sagas"),
			 FANOUT_SAGAS);
	/* fan-out: charge and notify started by the same transition, after
	 * reserve; fan-in: ship only once both finished */
	ck_assert_int_eq(
		orc_it_scene_long(&s,
			"SELECT count(*) FROM sagas g"
			" JOIN saga_steps r ON r.saga_id = g.id AND r.step_name = 'reserve'"
			" JOIN saga_steps c ON c.saga_id = g.id AND c.step_name = 'charge'"
			" JOIN saga_steps n ON n.saga_id = g.id AND n.step_name = 'notify'"
			" JOIN saga_steps p ON p.saga_id = g.id AND p.step_name = 'ship'"
			" WHERE c.started_at = n.started_at"
			"   AND c.started_at >= r.finished_at"
			"   AND p.started_at >= c.finished_at"
			"   AND p.started_at >= n.finished_at"
			"   AND c.finished_at > c.started_at"
			"   AND p.finished_at >= p.started_at"
			"   AND r.status = 'succeeded' AND c.status = 'succeeded'"
			"   AND n.status = 'succeeded' AND p.status = 'succeeded'"
			"   AND r.attempt = 1 AND c.attempt = 1 AND n.attempt = 1"
			"   AND p.attempt = 1"),
		FANOUT_SAGAS);
	/* the same from the history: ship started after both succeeded */
	ck_assert_int_eq(
		orc_it_scene_long(&s,
			"SELECT count(*) FROM sagas g WHERE"
			" (SELECT ROW(id, n) FROM saga_history WHERE saga_id = g.id"
			"   AND kind = 'step.started' AND step_name = 'ship'"
			"   ORDER BY id, n LIMIT 1) >"
			" (SELECT ROW(id, n) FROM saga_history WHERE saga_id = g.id"
			"   AND kind = 'step.succeeded'"
			"   AND step_name IN ('charge', 'notify')"
			"   ORDER BY id DESC, n DESC LIMIT 1)"),
		FANOUT_SAGAS);
	/*
	 * One history row per transition (migration 020): the trigger and
	 * the four replies; reserve's reply succeeded it and started charge
	 * and notify, ship's succeeded ship and completed the saga.
	 */
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM sagas g WHERE (SELECT count(*) FROM"
			" saga_transitions t WHERE t.saga_id = g.id) = 5"),
		FANOUT_SAGAS);
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM saga_transitions WHERE"
			" kind = 'step.succeeded' AND step_name = 'reserve' AND"
			" jsonb_path_query_array(more, '$[*].kind') ="
			" '[\"step.started\", \"step.started\"]' AND"
			" jsonb_path_query_array(more, '$[*].step') ="
			" '[\"charge\", \"notify\"]'"),
		FANOUT_SAGAS);
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM saga_history WHERE"
			" kind = 'saga.completed' AND n = 1"),
		FANOUT_SAGAS);
	/* exactly one step.succeeded per step, one saga.completed per saga */
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM (SELECT saga_id, step_name FROM"
			" saga_history WHERE kind = 'step.succeeded'"
			" GROUP BY 1, 2 HAVING count(*) = 1) x"),
		4 * FANOUT_SAGAS);
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM saga_history WHERE kind = 'step.succeeded'"),
		4 * FANOUT_SAGAS);
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(DISTINCT saga_id) FROM saga_history"
			" WHERE kind = 'saga.completed'"),
		FANOUT_SAGAS);
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM saga_history WHERE kind = 'saga.completed'"),
		FANOUT_SAGAS);
	/* the reply data flowed into the context and the next command */
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM saga_contexts WHERE context #>> '{steps,charge,ref}'"
			" = 'payment.charge:' || id"),
		FANOUT_SAGAS);
	orc_it_scene_await(&s, 10000, "an empty outbox",
			   "SELECT count(*) = 0 FROM outbox");
	/*
	 * Each step's row was written once, when its reply came (migration
	 * 021): 80 inserts into saga_step_rows, no update; while it ran, the
	 * step was in its saga row.  The statistics lag the commits a little.
	 */
	orc_it_scene_await(&s, 10000, "the step rows' statistics",
			   "SELECT n_tup_ins = 4 * 20 FROM pg_stat_user_tables"
			   " WHERE relname = 'saga_step_rows'"
			   " AND schemaname = current_schema()");
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT n_tup_upd + n_tup_del FROM pg_stat_user_tables"
			" WHERE relname = 'saga_step_rows'"
			" AND schemaname = current_schema()"),
		0);
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM sagas WHERE open_steps IS NOT NULL"),
		0);

	/* the commands as services see them */
	sagas = orc_it_scene_rows(&s, "SELECT id, business_key FROM sagas");
	ids = json_object();
	json_array_foreach(sagas, i, row)
		json_object_set(ids, json_string_value(json_array_get(row, 0)),
				json_array_get(row, 1));
	msgs = orc_it_scene_collect(&s, "inventory,payment,notify,shipping",
				    4 * FANOUT_SAGAS, 30000, 1500);
	if (json_array_size(msgs) != 4 * FANOUT_SAGAS)
		orc_it_scene_fail(&s, "%zu commands on the command topics, expected %d",
				  json_array_size(msgs), 4 * FANOUT_SAGAS);
	{
		json_t *seen = json_object();

		json_array_foreach(msgs, i, m) {
			const char *sagaid = orc_it_header(m, "ce_sagaid");
			const char *step = orc_it_header(m, "ce_sagastep");
			const char *key;
			char expect_id[128], topic[128];
			json_t *data;
			size_t t;

			ck_assert_ptr_nonnull(sagaid);
			ck_assert_ptr_nonnull(step);
			key = json_string_value(json_object_get(ids, sagaid));
			ck_assert_msg(key != NULL, "command for unknown saga %s", sagaid);
			for (t = 0; t < 4; t++)
				if (strcmp(orc_it_json_str(m, "topic"),
					   orc_it_scene_topic(&s, step_of_topic[t][0],
							      topic, sizeof(topic))) == 0)
					break;
			ck_assert_msg(t < 4, "unexpected topic %s",
				      orc_it_json_str(m, "topic"));
			ck_assert_str_eq(step, step_of_topic[t][1]);
			ck_assert_str_eq(orc_it_header(m, "ce_type"),
					 step_of_topic[t][2]);
			snprintf(expect_id, sizeof(expect_id), "%s/%s/action/1", sagaid,
				 step);
			ck_assert_str_eq(orc_it_header(m, "ce_id"), expect_id);
			ck_assert_str_eq(orc_it_json_str(m, "key"), sagaid);
			ck_assert_str_eq(orc_it_header(m, "ce_replyto"),
					 s.replies);
			ck_assert_str_eq(orc_it_header(m, "ce_specversion"),
					 "1.0");
			ck_assert_str_eq(orc_it_header(m, "ce_source"),
					 "/orchestrator/fanout");
			ck_assert_str_eq(orc_it_header(m, "content-type"),
					 "application/json");
			ck_assert_ptr_nonnull(orc_it_header(m, "ce_time"));
			data = json_loads(orc_it_json_str(m, "value"), 0, NULL);
			ck_assert_ptr_nonnull(data);
			ck_assert_str_eq(orc_it_json_str(data, "order_id"),
					 key);
			if (strcmp(step, "ship") == 0) {
				char ref[96];

				snprintf(ref, sizeof(ref), "payment.charge:%s", sagaid);
				ck_assert_str_eq(
					orc_it_json_str(data, "payment"), ref);
			}
			json_decref(data);
			ck_assert_msg(json_object_get(seen, expect_id) == NULL,
				      "%s published twice", expect_id);
			json_object_set_new(seen, expect_id, json_true());
		}
		ck_assert_uint_eq(json_object_size(seen), 4 * FANOUT_SAGAS);
		json_decref(seen);
	}
	json_decref(msgs);
	json_decref(ids);
	json_decref(sagas);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 2. a failure reply compensates in reverse order ---- */

static const char undo_def[] =
	"{\"name\": \"undo\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"a.do\"},"
	"   \"success\": [\"a.done\"],"
	"   \"compensation\": {\"topic\": \"{P}.undo\", \"type\": \"a.undo\","
	"                     \"data\": {\"key\": \"${/saga/key}\"},"
	"                     \"success\": [\"a.undone\"]}},"
	"  {\"name\": \"b\", \"needs\": [\"a\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"b.do\"},"
	"   \"success\": [\"b.done\"],"
	"   \"compensation\": {\"topic\": \"{P}.undo\", \"type\": \"b.undo\","
	"                     \"success\": [\"b.undone\"]}},"
	"  {\"name\": \"c\", \"needs\": [\"b\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"c.do\"},"
	"   \"success\": [\"c.done\"], \"failure\": [\"c.rejected\"],"
	"   \"compensation\": {\"topic\": \"{P}.undo\", \"type\": \"c.undo\","
	"                     \"success\": [\"c.undone\"]}}"
	" ]}";

START_TEST(test_failure_compensates_in_reverse)
{
	static const char *const topics[] = {"orders", "work", "undo"};
	static const char *const rules[] = {
		"--rule", "a.do=succeed:a.done",
		"--rule", "b.do=delay:20:b.done",
		"--rule", "c.do=fail:c.rejected",
		"--rule", "a.undo=succeed:a.undone",
		"--rule", "b.undo=delay:100:b.undone",
		"--rule", "c.undo=succeed:c.undone", NULL};
	static const char *const keys[] = {"u-1", "u-2", "u-3"};
	struct orc_it_scene s;
	json_t *msgs, *m;
	size_t i;

	orc_it_scene_start(&s, topics, 3, undo_def, "work,undo", rules);
	for (i = 0; i < 3; i++)
		trigger(&s, "order.placed", keys[i], keys[i], NULL, NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "3 sagas compensated",
			   "SELECT count(*) = 3 FROM sagas WHERE status = 'compensated'");

	for (i = 0; i < 3; i++) {
		char *id = saga_of(&s, keys[i]);

		orc_it_expect(&s, "failure|c: c.rejected",
			      "saga cause and failure",
			      orc_it_scene_value(&s,
				"SELECT failing_reason || '|' || failure FROM sagas"
				" WHERE id = '%s'", id));
		orc_it_expect(&s, "a=compensated b=compensated c=failed",
			      "step statuses",
			      orc_it_scene_value(&s,
				"SELECT string_agg(step_name || '=' || status, ' '"
				" ORDER BY step_name) FROM saga_steps"
				" WHERE saga_id = '%s'", id));
		orc_it_expect(&s, "c.rejected", "c's last error",
			      orc_it_scene_value(&s,
				"SELECT last_error FROM saga_steps WHERE saga_id = '%s'"
				" AND step_name = 'c'", id));
		/* b undone before a is started: one at a time, latest first */
		assert_kinds(&s, id, "b",
			     "step.started,step.succeeded,compensation.started,"
			     "compensation.succeeded");
		assert_kinds(&s, id, "a",
			     "step.started,step.succeeded,compensation.started,"
			     "compensation.succeeded");
		assert_kinds(&s, id, "c", "step.started,step.failed");
		ck_assert_int_eq(
			orc_it_scene_long(&s,
				"SELECT count(*) FROM saga_history b, saga_history a"
				" WHERE a.saga_id = '%1$s' AND b.saga_id = '%1$s'"
				"   AND b.step_name = 'b' AND a.step_name = 'a'"
				"   AND b.kind = 'compensation.succeeded'"
				"   AND a.kind = 'compensation.started'"
				"   AND (b.id, b.n) < (a.id, a.n)",
				id),
			1);
		ck_assert_int_eq(orc_it_scene_long(&s,
				"SELECT count(*) FROM saga_history WHERE saga_id = '%s'"
				" AND kind = 'saga.compensated'", id),
			1);
		free(id);
	}

	/* on the compensation topic: per saga b.undo, then a.undo, no c.undo */
	msgs = orc_it_scene_collect(&s, "undo", 6, 30000, 1500);
	if (json_array_size(msgs) != 6)
		orc_it_scene_fail(&s, "%zu compensation commands, expected 6",
				  json_array_size(msgs));
	for (size_t k = 0; k < 3; k++) {
		char *id = saga_of(&s, keys[k]);
		json_int_t a_off = -1, b_off = -1;
		int a_part = -1, b_part = -1;
		json_t *data;

		json_array_foreach(msgs, i, m) {
			const char *type = orc_it_header(m, "ce_type");
			json_int_t off = json_integer_value(json_object_get(m, "offset"));
			int part = (int)json_integer_value(json_object_get(m, "partition"));

			if (strcmp(orc_it_header(m, "ce_sagaid"), id) != 0)
				continue;
			ck_assert_msg(strcmp(type, "c.undo") != 0, "c was compensated");
			if (strcmp(type, "a.undo") == 0) {
				char expect[128];

				snprintf(expect, sizeof(expect), "%s/a/compensation/1", id);
				ck_assert_str_eq(orc_it_header(m, "ce_id"),
						 expect);
				data = json_loads(orc_it_json_str(m, "value"),
						  0, NULL);
				ck_assert_ptr_nonnull(data);
				ck_assert_str_eq(orc_it_json_str(data, "key"),
						 keys[k]);
				json_decref(data);
				a_off = off;
				a_part = part;
			} else {
				ck_assert_str_eq(type, "b.undo");
				b_off = off;
				b_part = part;
			}
		}
		ck_assert_msg(a_off >= 0 && b_off >= 0, "saga %s: a.undo or b.undo missing",
			      id);
		ck_assert_int_eq(a_part, b_part); /* keyed by the saga id */
		ck_assert_msg(b_off < a_off, "saga %s: a.undo (offset %lld) before b.undo"
			      " (offset %lld)", id, (long long)a_off, (long long)b_off);
		free(id);
	}
	json_decref(msgs);
	orc_it_scene_finish(&s);
}
END_TEST

/*
 * ---- 2b. a failure awaits the commands in flight, without retries ----
 *
 * charge fails while notify's command is out: notify's reply is awaited
 * (and then notify, done last, is undone first); in the second definition
 * notify never answers and times out once, with no retry although its
 * policy allows three attempts.
 */

static const char inflight_def[] =
	"{\"name\": \"%s\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"%s\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"reserve\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"reserve.do\"},"
	"   \"success\": [\"reserve.done\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"reserve.undo\","
	"                     \"success\": [\"reserve.undone\"]}},"
	"  {\"name\": \"charge\", \"needs\": [\"reserve\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"charge.do\"},"
	"   \"success\": [\"charge.done\"], \"failure\": [\"charge.declined\"]},"
	"  {\"name\": \"notify\", \"needs\": [\"reserve\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"%s\"},"
	"   \"success\": [\"notify.done\"], \"timeout\": \"%s\","
	"   \"retry\": {\"max_attempts\": 3, \"backoff\": \"100ms\"},"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"notify.undo\","
	"                     \"success\": [\"notify.undone\"]}}"
	" ]}";

START_TEST(test_failure_awaits_commands_in_flight)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "reserve.do=succeed:reserve.done",
		"--rule", "charge.do=fail:charge.declined",
		"--rule", "notify.slow=delay:1000:notify.done",
		"--rule", "notify.lost=never",
		"--rule", "reserve.undo=succeed:reserve.undone",
		"--rule", "notify.undo=succeed:notify.undone", NULL};
	struct orc_it_scene s;
	char def[4096], *slow, *lost;

	orc_it_scene_init(&s, topics, 2);
	snprintf(def, sizeof(def), inflight_def, "inflight", "order.placed",
		 "notify.slow", "10s");
	orc_it_scene_load(&s, def);
	/* the same, but notify's service never answers */
	snprintf(def, sizeof(def), inflight_def, "inflight_lost", "order.lost",
		 "notify.lost", "300ms");
	orc_it_scene_load(&s, def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);
	trigger(&s, "order.placed", "slow-1", "slow-1", NULL, NULL);
	trigger(&s, "order.lost", "lost-1", "lost-1", NULL, NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "both sagas compensated",
			   "SELECT count(*) = 2 FROM sagas WHERE status = 'compensated'");
	slow = saga_of(&s, "slow-1");
	assert_kinds(&s, slow, NULL,
		     "saga.started,step.started,step.succeeded,step.started,"
		     "step.started,step.failed,saga.compensating,step.succeeded,"
		     "compensation.started,compensation.succeeded,"
		     "compensation.started,compensation.succeeded,saga.compensated");
	orc_it_expect(&s, "notify,reserve", "compensation order",
		      orc_it_scene_value(&s,
			"SELECT string_agg(step_name, ',' ORDER BY id, n) FROM saga_history"
			" WHERE saga_id = '%s' AND kind = 'compensation.started'", slow));
	orc_it_expect(&s,
		      "charge=failed notify=compensated reserve=compensated",
		      "slow-1's steps",
		      orc_it_scene_value(&s,
			"SELECT string_agg(step_name || '=' || status, ' '"
			" ORDER BY step_name) FROM saga_steps WHERE saga_id = '%s'",
			slow));

	lost = saga_of(&s, "lost-1");
	assert_kinds(&s, lost, "notify", "step.started,step.timed_out,step.failed");
	orc_it_expect(&s,
		      "charge=failed/1 notify=failed/1 reserve=compensated/1",
		      "lost-1's steps",
		      orc_it_scene_value(&s,
			"SELECT string_agg(step_name || '=' || status || '/' || attempt,"
			" ' ' ORDER BY step_name) FROM saga_steps WHERE saga_id = '%s'",
			lost));
	free(slow);
	free(lost);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 3. a timeout, a retry, then success ----
 * The timeout must outlast the second attempt's round trip (responder,
 * Kafka, worker) on a loaded CI machine: at 500 ms it once did not, and
 * the third attempt succeeded instead. */

static const char retry_def[] =
	"{\"name\": \"retry\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"flaky\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"flaky.do\"},"
	"   \"success\": [\"flaky.done\"], \"timeout\": \"3s\","
	"   \"retry\": {\"max_attempts\": 3, \"backoff\": \"200ms\"}}"
	" ]}";

START_TEST(test_timeout_retry_success)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "flaky.do=fail-first:1:silence:flaky.done", NULL};
	struct orc_it_scene s;
	json_t *msgs, *m;
	char *id;
	size_t i;
	long gap;

	orc_it_scene_start(&s, topics, 2, retry_def, "work", rules);
	trigger(&s, "order.placed", "t-1", "t-1", NULL, NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the saga completed",
			   "SELECT count(*) = 1 FROM sagas WHERE status = 'completed'");

	id = saga_of(&s, "t-1");
	orc_it_expect(&s, "succeeded 2", "flaky's status and attempt",
		      orc_it_scene_value(&s,
			"SELECT status || ' ' || attempt FROM saga_steps"
			" WHERE saga_id = '%s' AND step_name = 'flaky'", id));
	assert_kinds(&s, id, "flaky",
		     "step.started,step.timed_out,step.retry_scheduled,"
		     "step.started,step.succeeded");
	orc_it_expect(&s, "2", "the attempt of the success",
		      orc_it_scene_value(&s,
			"SELECT detail->>'attempt' FROM saga_history WHERE"
			" saga_id = '%s' AND kind = 'step.succeeded'", id));
	/* the second attempt went out after the timeout and the backoff */
	gap = orc_it_scene_long(&s,
		"SELECT (extract(epoch FROM max(at) - min(at)) * 1000)::bigint"
		" FROM saga_history WHERE saga_id = '%s' AND kind = 'step.started'",
		id);
	ck_assert_msg(gap >= 3000, "second attempt %ld ms after the first", gap);

	msgs = orc_it_scene_collect(&s, "work", 2, 30000, 1000);
	ck_assert_uint_eq(json_array_size(msgs), 2);
	json_array_foreach(msgs, i, m) {
		char expect[128];

		snprintf(expect, sizeof(expect), "%s/flaky/action/%zu", id, i + 1);
		ck_assert_str_eq(orc_it_header(m, "ce_id"), expect);
	}
	json_decref(msgs);
	free(id);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 4. timeouts with the retries spent compensate ---- */

static const char spent_def[] =
	"{\"name\": \"spent\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"first\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"first.do\"},"
	"   \"success\": [\"first.done\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"first.undo\","
	"                     \"success\": [\"first.undone\"]}},"
	"  {\"name\": \"second\", \"needs\": [\"first\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"second.do\"},"
	"   \"success\": [\"second.done\"], \"timeout\": \"300ms\","
	"   \"retry\": {\"max_attempts\": 2, \"backoff\": \"100ms\"}}"
	" ]}";

START_TEST(test_timeout_retries_spent_compensates)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "first.do=succeed:first.done",
		"--rule", "second.do=never",
		"--rule", "first.undo=succeed:first.undone", NULL};
	struct orc_it_scene s;
	json_t *msgs, *m;
	char *id;
	size_t i;
	int second = 0, undo = 0;

	orc_it_scene_start(&s, topics, 2, spent_def, "work", rules);
	trigger(&s, "order.placed", "x-1", "x-1", NULL, NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the saga compensated",
			   "SELECT count(*) = 1 FROM sagas WHERE status = 'compensated'");

	id = saga_of(&s, "x-1");
	orc_it_expect(&s, "failure|second: timed out", "cause and failure",
		      orc_it_scene_value(&s,
			"SELECT failing_reason || '|' || failure FROM sagas"
			" WHERE id = '%s'", id));
	orc_it_expect(&s, "first=compensated/1 second=failed/2/timed out",
		      "step statuses",
		      orc_it_scene_value(&s,
			"SELECT string_agg(step_name || '=' || status || '/' || attempt"
			" || coalesce('/' || last_error, ''), ' ' ORDER BY step_name)"
			" FROM saga_steps WHERE saga_id = '%s'", id));
	assert_kinds(&s, id, "second",
		     "step.started,step.timed_out,step.retry_scheduled,"
		     "step.started,step.timed_out,step.failed");
	assert_kinds(&s, id, "first",
		     "step.started,step.succeeded,compensation.started,"
		     "compensation.succeeded");
	assert_kinds(&s, id, NULL,
		     "saga.started,step.started,step.succeeded,step.started,"
		     "step.timed_out,step.retry_scheduled,step.started,"
		     "step.timed_out,step.failed,saga.compensating,"
		     "compensation.started,compensation.succeeded,saga.compensated");

	msgs = orc_it_scene_collect(&s, "work", 4, 30000, 1000);
	json_array_foreach(msgs, i, m) {
		if (strcmp(orc_it_header(m, "ce_type"), "second.do") == 0)
			second++;
		if (strcmp(orc_it_header(m, "ce_type"), "first.undo") == 0)
			undo++;
	}
	ck_assert_int_eq(second, 2);
	ck_assert_int_eq(undo, 1);
	ck_assert_uint_eq(json_array_size(msgs), 4);
	json_decref(msgs);
	free(id);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 5. a false condition skips a step; its dependants still run ---- */

static const char skip_def[] =
	"{\"name\": \"skip\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"check\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"check.do\"},"
	"   \"success\": [\"check.done\"]},"
	"  {\"name\": \"gift\", \"needs\": [\"check\"],"
	"   \"when\": {\"eq\": [\"${/input/vip}\", true]},"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"gift.send\"},"
	"   \"success\": [\"gift.sent\"]},"
	"  {\"name\": \"pack\", \"needs\": [\"gift\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"pack.do\"},"
	"   \"success\": [\"pack.done\"]}"
	" ]}";

START_TEST(test_condition_skips)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "check.do=succeed:check.done",
		"--rule", "gift.send=succeed:gift.sent",
		"--rule", "pack.do=succeed:pack.done", NULL};
	struct orc_it_scene s;
	json_t *msgs, *m;
	char *plain, *vip;
	size_t i;

	orc_it_scene_start(&s, topics, 2, skip_def, "work", rules);
	trigger(&s, "order.placed", "plain", "plain", "\"vip\":false", NULL);
	trigger(&s, "order.placed", "vip", "vip", "\"vip\":true", NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "both sagas completed",
			   "SELECT count(*) = 2 FROM sagas WHERE status = 'completed'");

	plain = saga_of(&s, "plain");
	vip = saga_of(&s, "vip");
	orc_it_expect(&s, "check=succeeded gift=skipped pack=succeeded",
		      "plain's steps",
		      orc_it_scene_value(&s,
			"SELECT string_agg(step_name || '=' || status, ' '"
			" ORDER BY step_name) FROM saga_steps WHERE saga_id = '%s'",
			plain));
	orc_it_expect(&s, "0", "gift's attempts when skipped",
		      orc_it_scene_value(&s,
			"SELECT attempt FROM saga_steps WHERE saga_id = '%s'"
			" AND step_name = 'gift'", plain));
	assert_kinds(&s, plain, "gift", "step.skipped");
	assert_kinds(&s, plain, NULL,
		     "saga.started,step.started,step.succeeded,step.skipped,"
		     "step.started,step.succeeded,saga.completed");
	orc_it_expect(&s, "check=succeeded gift=succeeded pack=succeeded",
		      "vip's steps",
		      orc_it_scene_value(&s,
			"SELECT string_agg(step_name || '=' || status, ' '"
			" ORDER BY step_name) FROM saga_steps WHERE saga_id = '%s'",
			vip));
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM saga_steps g JOIN saga_steps p"
			" ON p.saga_id = g.saga_id AND p.step_name = 'pack'"
			" WHERE g.step_name = 'gift' AND p.started_at >= g.finished_at"),
		2);

	/* gift.send went to the vip only */
	msgs = orc_it_scene_collect(&s, "work", 5, 30000, 1000);
	ck_assert_uint_eq(json_array_size(msgs), 5);
	json_array_foreach(msgs, i, m)
		if (strcmp(orc_it_header(m, "ce_type"), "gift.send") == 0)
			ck_assert_str_eq(orc_it_header(m, "ce_sagaid"), vip);
	json_decref(msgs);
	free(plain);
	free(vip);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 6. a wait for an event correlated by business key ---- */

static const char wait_def[] =
	"{\"name\": \"review\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"pay\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"pay.do\"},"
	"   \"success\": [\"pay.done\"]},"
	"  {\"name\": \"approval\", \"needs\": [\"pay\"],"
	"   \"wait\": {\"topic\": \"{P}.reviews\", \"type\": \"review.approved\","
	"            \"key\": \"/order_id\", \"timeout\": \"2m\"}},"
	"  {\"name\": \"ship\", \"needs\": [\"approval\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"ship.do\","
	"                \"data\": {\"reviewer\": \"${/steps/approval/reviewer}\"}},"
	"   \"success\": [\"ship.done\"]}"
	" ]}";

static void
review(struct orc_it_scene *s, const char *key, const char *reviewer)
{
	char data[128], id[64];

	snprintf(data, sizeof(data), "{\"order_id\":\"%s\",\"reviewer\":\"%s\"}",
		 key, reviewer);
	snprintf(id, sizeof(id), "review-%s", key);
	orc_it_scene_event(s, "reviews", key, id, "review.approved", data, NULL,
			   NULL, NULL);
	orc_it_scene_flush(s);
}

START_TEST(test_wait_for_correlated_event)
{
	static const char *const topics[] = {"orders", "work", "reviews"};
	static const char *const rules[] = {
		"--rule", "pay.do=delay:2000:pay.done",
		"--rule", "ship.do=succeed:ship.done", NULL};
	struct orc_it_scene s;
	char *late, *early;

	orc_it_scene_start(&s, topics, 3, wait_def, "work", rules);

	/* the event comes while the wait step waits */
	trigger(&s, "order.placed", "w-1", "w-1", NULL, NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "w-1's approval step waiting",
			   "SELECT count(*) = 1 FROM saga_steps t JOIN sagas g"
			   " ON g.id = t.saga_id WHERE g.business_key = 'w-1'"
			   " AND t.step_name = 'approval' AND t.status = 'running'");
	late = saga_of(&s, "w-1");
	/*
	 * A running step is held in its saga row (migration 021): the view
	 * shows it, open, and running_sagas names it; it has no row yet.
	 */
	orc_it_expect(&s, "true running 1 0 {approval}",
		      "the waiting step, open",
		      orc_it_scene_value(&s,
			"SELECT t.open || ' ' || t.status || ' ' ||"
			" (t.started_at IS NOT NULL AND t.wake_at IS NOT NULL"
			"  AND t.wake_reason = 'wait_timeout')::int || ' ' ||"
			" (SELECT count(*) FROM saga_step_rows r"
			"   WHERE r.saga_id = t.saga_id"
			"   AND r.step_name = 'approval') || ' {' ||"
			" (SELECT current_steps FROM running_sagas"
			"   WHERE id = t.saga_id) || '}'"
			" FROM saga_steps t WHERE t.saga_id = '%s'"
			" AND t.step_name = 'approval'", late));
	review(&s, "w-1", "ann");
	orc_it_scene_await(&s, WAIT_MS, "w-1 completed",
			   "SELECT count(*) = 1 FROM sagas WHERE business_key = 'w-1'"
			   " AND status = 'completed'");
	assert_kinds(&s, late, "approval", "step.started,step.succeeded");
	orc_it_expect(&s, "ann", "the event's data as the step's output",
		      orc_it_scene_value(&s,
			"SELECT output ->> 'reviewer' FROM saga_steps"
			" WHERE saga_id = '%s' AND step_name = 'approval'", late));

	/* the event comes before the wait step starts (pay takes 2 s) */
	trigger(&s, "order.placed", "w-2", "w-2", NULL, NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "w-2's pay step running",
			   "SELECT count(*) = 1 FROM saga_steps t JOIN sagas g"
			   " ON g.id = t.saga_id WHERE g.business_key = 'w-2'"
			   " AND t.step_name = 'pay' AND t.status = 'running'");
	early = saga_of(&s, "w-2");
	review(&s, "w-2", "bob");
	orc_it_scene_await(&s, WAIT_MS, "w-2 completed",
			   "SELECT count(*) = 1 FROM sagas WHERE business_key = 'w-2'"
			   " AND status = 'completed'");
	assert_kinds(&s, early, "approval",
		     "step.event_stored,step.started,step.succeeded");
	assert_kinds(&s, early, "pay", "step.started,step.succeeded");
	/* stored while pay was running, before pay succeeded */
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM saga_history e, saga_history p"
			" WHERE e.saga_id = '%1$s' AND p.saga_id = '%1$s'"
			"   AND e.kind = 'step.event_stored' AND p.kind = 'step.succeeded'"
			"   AND p.step_name = 'pay' AND (e.id, e.n) < (p.id, p.n)", early),
		1);
	orc_it_expect(&s, "early_event", "how approval succeeded",
		      orc_it_scene_value(&s,
			"SELECT detail->>'source' FROM saga_history WHERE saga_id = '%s'"
			" AND step_name = 'approval' AND kind = 'step.succeeded'",
			early));
	orc_it_expect(&s, "bob", "the early event's data in the context",
		      orc_it_scene_value(&s,
			"SELECT context #>> '{steps,approval,reviewer}' FROM saga_contexts"
			" WHERE id = '%s'", early));
	orc_it_expect(&s, "(null)", "early_event cleared",
		      orc_it_scene_value(&s,
			"SELECT early_event FROM saga_steps WHERE saga_id = '%s'"
			" AND step_name = 'approval'", early));
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM dead_letters"),
			 0);
	free(late);
	free(early);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 7. duplicated triggers and replies change nothing ---- */

static const char dup_def[] =
	"{\"name\": \"dup\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"a.do\"},"
	"   \"success\": [\"a.done\"]},"
	"  {\"name\": \"b\", \"needs\": [\"a\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"b.do\"},"
	"   \"success\": [\"b.done\"]}"
	" ]}";

START_TEST(test_duplicates)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "a.do=succeed:a.done",
		"--rule", "b.do=succeed:b.done", NULL};
	struct orc_it_scene s;
	json_t *replies, *cmds, *m;
	char *id;
	size_t i;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, dup_def);
	orc_it_scene_run(&s, "run", NULL);
	/* two instances of the service, each answering every command */
	orc_it_scene_responder(&s, "one", "work", rules);
	orc_it_scene_responder(&s, "two", "work", rules);
	/* the same trigger event twice */
	trigger(&s, "order.placed", "dup-1", "d-1", NULL, NULL);
	trigger(&s, "order.placed", "dup-1", "d-1", NULL, NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the saga completed",
			   "SELECT count(*) = 1 FROM sagas WHERE status = 'completed'");
	id = saga_of(&s, "d-1");

	/* every reply once more, byte for byte (same ce_source and ce_id) */
	replies = orc_it_scene_collect(&s, s.replies, 4, 30000, 1500);
	if (json_array_size(replies) != 4)
		orc_it_scene_fail(&s, "%zu replies, expected 2 per command",
				  json_array_size(replies));
	json_array_foreach(replies, i, m)
		orc_it_scene_send(&s, s.replies, orc_it_json_str(m, "key"),
				  json_object_get(m, "headers"),
				  orc_it_json_str(m, "value"), NULL);
	/* a trigger with another id for the same business key */
	trigger(&s, "order.placed", "dup-2", "d-1", NULL, NULL);
	/* a marker behind the copies (same key, so same partition) */
	orc_it_scene_event(&s, s.replies, id, "marker-1", "a.done", "{}", id, "a",
			   NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the marker reply and the second trigger",
			   "SELECT count(*) = 2 FROM saga_history WHERE event_id IN"
			   " ('marker-1', 'dup-2')");

	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM sagas"), 1);
	orc_it_expect(&s, "a=succeeded/1 b=succeeded/1", "steps",
		      orc_it_scene_value(&s,
			"SELECT string_agg(step_name || '=' || status || '/' || attempt,"
			" ' ' ORDER BY step_name) FROM saga_steps"));
	/* the second copy of the trigger was recognised (inbox), the other
	 * id was refused by the saga: one start.ignored, for dup-2 */
	orc_it_expect(&s, "dup-2 not_allowed", "the refused start",
		      orc_it_scene_value(&s,
			"SELECT string_agg(event_id || ' ' || (detail->>'reason'), ',')"
			" FROM saga_history WHERE kind = 'start.ignored'"));
	orc_it_expect(&s, "dup-1", "the start's event",
		      orc_it_scene_value(&s,
			"SELECT event_id FROM saga_history WHERE kind = 'saga.started'"));
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM saga_history WHERE kind = 'step.succeeded'"),
		2);
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM saga_history WHERE kind = 'saga.completed'"),
		1);
	/* each step: one reply applied, the other instance's ignored as a
	 * duplicate; the byte-for-byte copies left no trace (inbox); plus the
	 * marker */
	orc_it_expect(&s, "duplicate=3", "ignored replies",
		      orc_it_scene_value(&s,
			"SELECT string_agg(r || '=' || n, ' ') FROM (SELECT"
			" detail->>'reason' r, count(*) n FROM saga_history"
			" WHERE kind = 'reply.ignored' GROUP BY 1) x"));
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM saga_history h WHERE h.kind ="
			" 'reply.ignored' AND h.event_id <> 'marker-1' AND EXISTS"
			" (SELECT 1 FROM saga_history o WHERE o.kind = 'step.succeeded'"
			"  AND o.event_id = h.event_id)"),
		0);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM dead_letters"),
			 0);

	/* no extra command: each published once, under its stable id */
	cmds = orc_it_scene_collect(&s, "work", 2, 30000, 1500);
	ck_assert_uint_eq(json_array_size(cmds), 2);
	{
		char a[128], b[128];

		snprintf(a, sizeof(a), "%s/a/action/1", id);
		snprintf(b, sizeof(b), "%s/b/action/1", id);
		ck_assert_str_eq(orc_it_header(json_array_get(cmds, 0),
					       "ce_id"), a);
		ck_assert_str_eq(orc_it_header(json_array_get(cmds, 1),
					       "ce_id"), b);
	}
	json_decref(cmds);
	json_decref(replies);
	free(id);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 8. late replies are recorded and change nothing ---- */

static const char late_def[] =
	"{\"name\": \"late\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"quick\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"quick.do\"},"
	"   \"success\": [\"quick.done\"], \"failure\": [\"quick.failed\"]}"
	" ]}";

static const char slow_def[] =
	"{\"name\": \"slow\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.slow\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"slow\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"slow.do\"},"
	"   \"success\": [\"slow.done\"], \"timeout\": \"300ms\"}"
	" ]}";

static const char steps_snapshot[] =
	"SELECT string_agg(concat_ws('|', step_name, status, attempt, started_at,"
	" finished_at, wake_at, completed_seq, last_error, output), ' '"
	" ORDER BY step_name)"
	" || ' ' || (SELECT concat_ws('|', status, context, wake_at, failure,"
	" finished_at) FROM sagas WHERE id = '%1$s')"
	" FROM saga_steps WHERE saga_id = '%1$s'";

START_TEST(test_late_replies)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "quick.do=succeed:quick.done",
		"--rule", "slow.do=delay:1500:slow.done", NULL};
	struct orc_it_scene s;
	char *quick, *slow, *before, *after;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, late_def);
	orc_it_scene_load(&s, slow_def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);
	trigger(&s, "order.placed", "late-1", "q-1", NULL, NULL);
	trigger(&s, "order.slow", "late-2", "s-1", NULL, NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "q-1 completed and s-1 failed",
			   "SELECT string_agg(business_key || '=' || status, ' '"
			   " ORDER BY business_key) = 'q-1=completed s-1=failed'"
			   " FROM sagas");
	quick = saga_of(&s, "q-1");
	slow = saga_of(&s, "s-1");
	before = orc_it_scene_value(&s, steps_snapshot, quick);

	/* after completion: a failure reply (late) and another success
	 * (duplicate), each with a new id */
	orc_it_scene_event(&s, s.replies, quick, "after-1", "quick.failed",
			   "{\"why\":\"too late\"}", quick, "quick", NULL);
	orc_it_scene_event(&s, s.replies, quick, "after-2", "quick.done", "{}",
			   quick, "quick", NULL);
	orc_it_scene_flush(&s);
	/* s-1 timed out after 300 ms; its reply comes after 1.5 s */
	orc_it_scene_await(&s, WAIT_MS, "the replies recorded as ignored",
			   "SELECT count(*) = 3 FROM saga_history WHERE kind = 'reply.ignored'");

	after = orc_it_scene_value(&s, steps_snapshot, quick);
	if (strcmp(before, after) != 0)
		orc_it_scene_fail(&s, "a late reply changed the saga:\n%s\n%s", before,
				  after);
	orc_it_expect(&s, "quick|late|quick.failed|after-1", "the late failure",
		      orc_it_scene_value(&s,
			"SELECT concat_ws('|', step_name, detail->>'reason',"
			" detail->>'type', detail->>'event_id') FROM saga_history"
			" WHERE saga_id = '%s' AND kind = 'reply.ignored'"
			" AND event_id = 'after-1'", quick));
	orc_it_expect(&s, "quick|duplicate|quick.done", "the second success",
		      orc_it_scene_value(&s,
			"SELECT concat_ws('|', step_name, detail->>'reason',"
			" detail->>'type') FROM saga_history WHERE saga_id = '%s'"
			" AND kind = 'reply.ignored' AND event_id = 'after-2'", quick));
	assert_kinds(&s, quick, NULL,
		     "saga.started,step.started,step.succeeded,saga.completed,"
		     "reply.ignored,reply.ignored");

	/* the reply that came after its step timed out */
	orc_it_expect(&s, "failed|slow: timed out", "s-1",
		      orc_it_scene_value(&s,
			"SELECT status || '|' || failure FROM sagas"
			" WHERE id = '%s'", slow));
	orc_it_expect(&s, "failed|timed out", "s-1's step",
		      orc_it_scene_value(&s,
			"SELECT status || '|' || last_error FROM saga_steps"
			" WHERE saga_id = '%s'", slow));
	orc_it_expect(&s, "slow|late|slow.done", "the reply after the timeout",
		      orc_it_scene_value(&s,
			"SELECT concat_ws('|', step_name, detail->>'reason',"
			" detail->>'type') FROM saga_history WHERE saga_id = '%s'"
			" AND kind = 'reply.ignored'", slow));
	assert_kinds(&s, slow, NULL,
		     "saga.started,step.started,step.timed_out,step.failed,"
		     "saga.compensating,saga.failed,reply.ignored");
	free(before);
	free(after);
	free(quick);
	free(slow);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 9. poison events are dead-lettered; the others go on ---- */

static const char poison_def[] =
	"{\"name\": \"poison\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"only\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"only.do\"},"
	"   \"success\": [\"only.done\"]}"
	" ]}";

START_TEST(test_poison_events)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {"--rule", "only.do=succeed:only.done",
					    NULL};
	static const char *const values[3] = {
		"this is not json {",
		"{\"order_id\":\"z-1\"}",
		"{\"customer\":\"c-9\"}",
	};
	static const char *const reasons[3] = {
		"CloudEvent",
		"no saga definition starts with or waits for \"order.unknown\"",
		"business key not found at \"/order_id\"",
	};
	struct orc_it_scene s;
	struct orc_it_sent sent[3];
	char orders[128];
	json_t *dlq, *m;
	size_t i;

	orc_it_scene_start(&s, topics, 2, poison_def, "work", rules);
	orc_it_scene_topic(&s, "orders", orders, sizeof(orders));
	for (int k = 0; k < 10; k++) {
		char key[16];

		snprintf(key, sizeof(key), "p-%d", k);
		trigger(&s, "order.placed", key, key, NULL, NULL);
		if (k == 2)
			orc_it_scene_send(&s, "orders", "junk", NULL, values[0],
					  &sent[0]);
		if (k == 5)
			orc_it_scene_event(&s, "orders", "z-1", "poison-b",
					   "order.unknown", values[1], NULL, NULL,
					   &sent[1]);
		if (k == 7)
			orc_it_scene_event(&s, "orders", "c-9", "poison-c",
					   "order.placed", values[2], NULL, NULL,
					   &sent[2]);
	}
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "10 sagas completed and 3 dead letters",
			   "SELECT (SELECT count(*) FROM sagas WHERE status = 'completed')"
			   " = 10 AND (SELECT count(*) FROM dead_letters) = 3");
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM sagas"), 10);

	for (i = 0; i < 3; i++) {
		json_t *rows = orc_it_scene_rows(&s,
			"SELECT topic, consumer, convert_from(payload, 'UTF8'), error"
			" FROM dead_letters WHERE partition = %d AND \"offset\" = %lld",
			(int)sent[i].partition, (long long)sent[i].offset);
		json_t *row = json_array_get(rows, 0);

		if (json_array_size(rows) != 1)
			orc_it_scene_fail(&s, "poison %zu (partition %d offset %lld)"
					  " not in dead_letters", i,
					  (int)sent[i].partition,
					  (long long)sent[i].offset);
		ck_assert_str_eq(json_string_value(json_array_get(row, 0)), orders);
		ck_assert_str_eq(json_string_value(json_array_get(row, 1)), s.group);
		ck_assert_str_eq(json_string_value(json_array_get(row, 2)), values[i]);
		ck_assert_msg(strstr(json_string_value(json_array_get(row, 3)),
				     reasons[i]) != NULL &&
				      json_string_length(json_array_get(row, 3)) > 0,
			      "poison %zu: reason \"%s\"", i,
			      json_string_value(json_array_get(row, 3)));
		json_decref(rows);
	}
	/* headers are kept whole */
	orc_it_expect(&s, "poison-c", "the headers of the third",
		      orc_it_scene_value(&s,
			"SELECT h->>1 FROM dead_letters, jsonb_array_elements(headers) h"
			" WHERE h->>0 = 'ce_id' AND partition = %d AND \"offset\" = %lld",
			(int)sent[2].partition, (long long)sent[2].offset));

	/* the dead-letter topic: the original value plus the reason */
	dlq = orc_it_scene_collect(&s, s.dlq, 3, 30000, 1000);
	if (json_array_size(dlq) != 3)
		orc_it_scene_fail(&s, "%zu messages on %s, expected 3",
				  json_array_size(dlq), s.dlq);
	for (size_t k = 0; k < 3; k++) {
		bool found = false;

		json_array_foreach(dlq, i, m) {
			char part[16], off[24];
			char *error;

			snprintf(part, sizeof(part), "%d", (int)sent[k].partition);
			snprintf(off, sizeof(off), "%lld", (long long)sent[k].offset);
			if (strcmp(orc_it_header(m, "orc_dlq_partition"),
				   part) != 0 ||
			    strcmp(orc_it_header(m, "orc_dlq_offset"),
				   off) != 0)
				continue;
			found = true;
			ck_assert_str_eq(orc_it_header(m, "orc_dlq_topic"),
					 orders);
			ck_assert_str_eq(orc_it_json_str(m, "value"),
					 values[k]);
			error = orc_it_scene_value(&s,
				"SELECT error FROM dead_letters WHERE partition = %s"
				" AND \"offset\" = %s", part, off);
			ck_assert_str_eq(orc_it_header(m, "orc_dlq_error"),
					 error);
			free(error);
			if (k > 0)
				ck_assert_str_eq(orc_it_header(m, "ce_id"),
						 k == 1 ? "poison-b" : "poison-c");
			else
				ck_assert_str_eq(orc_it_json_str(m, "key"),
						 "junk");
		}
		ck_assert_msg(found, "poison %zu not on %s", k, s.dlq);
	}
	json_decref(dlq);
	orc_it_scene_finish(&s);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(fanout_fanin),
		ORC_IT_CASE(failure_compensates_in_reverse),
		ORC_IT_CASE(failure_awaits_commands_in_flight),
		ORC_IT_CASE(timeout_retry_success),
		ORC_IT_CASE(timeout_retries_spent_compensates),
		ORC_IT_CASE(condition_skips),
		ORC_IT_CASE(wait_for_correlated_event),
		ORC_IT_CASE(duplicates),
		ORC_IT_CASE(late_replies),
		ORC_IT_CASE(poison_events),
	};

	return orc_it_run_suite("flows", cases, sizeof(cases) / sizeof(cases[0]),
				120);
}
