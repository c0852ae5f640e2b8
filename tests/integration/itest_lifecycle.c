/*
 * itest_lifecycle.c - the sagas' lifecycle events, consumed from the real
 * broker: saga.started and one event for each ending (completed with the
 * definition's output, compensated, cancelled, timed_out, stuck), each on
 * the lifecycle topic with the saga id as key, binary-mode CloudEvents
 * headers and stable ids, after the saga's start in its partition.
 *
 * They are written through the outbox in the transaction of the change:
 * with the relay role off, the rows wait in the outbox in effect order
 * among the saga's commands (saga.started before its first command, in
 * the same lane); a `run` killed with SIGKILL before it published them,
 * and another killed while publishing, lose none; one published but not
 * deleted (the delete held back by a trigger, then the process killed) is
 * published again under the same id.  An empty lifecycle_topic writes no
 * row.
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

/* The scene's lifecycle topic, <group>.lifecycle (the default). */
static const char *
lifecycle_topic(const struct orc_it_scene *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s.lifecycle", s->group);
	return buf;
}

/* A trigger of type for business key key on "orders". */
static void
trigger(struct orc_it_scene *s, const char *type, const char *key)
{
	char id[96], data[128];

	snprintf(id, sizeof(id), "trigger-%s", key);
	snprintf(data, sizeof(data), "{\"order_id\":\"%s\"}", key);
	orc_it_scene_event(s, "orders", key, id, type, data, NULL, NULL, NULL);
}

static json_t *
parse(struct orc_it_scene *s, const char *text)
{
	json_t *v = text != NULL ? json_loads(text, 0, NULL) : NULL;

	if (v == NULL)
		orc_it_scene_fail(s, "not JSON: %s", text ? text : "(null)");
	return v;
}

/*
 * Check one lifecycle message m of the scene: headers, key, id and data
 * against the saga row.  Returns its type (borrowed from m).
 */
static const char *
check_message(struct orc_it_scene *s, const json_t *m)
{
	const char *sagaid = orc_it_header(m, "ce_sagaid");
	const char *type = orc_it_header(m, "ce_type");
	const char *id = orc_it_header(m, "ce_id");
	char want[256], *def, *key, *version;
	json_t *data;

	if (sagaid == NULL || type == NULL || id == NULL)
		orc_it_scene_fail(s, "a lifecycle event without sagaid, type "
				     "or id");
	ck_assert_str_eq(orc_it_json_str(m, "key"), sagaid);
	ck_assert_str_eq(orc_it_header(m, "ce_specversion"), "1.0");
	ck_assert_str_eq(orc_it_header(m, "content-type"), "application/json");
	ck_assert_ptr_nonnull(orc_it_header(m, "ce_time"));
	/* nobody answers a lifecycle event: no step, no replyto */
	ck_assert_ptr_null(orc_it_header(m, "ce_sagastep"));
	ck_assert_ptr_null(orc_it_header(m, "ce_replyto"));
	ck_assert(strncmp(type, "saga.", 5) == 0);
	snprintf(want, sizeof(want), "%s/%s/", sagaid, type);
	if (strncmp(id, want, strlen(want)) != 0)
		orc_it_scene_fail(s, "lifecycle event id %s, expected %s<n>",
				  id, want);

	def = orc_it_scene_value(s, "SELECT definition_name FROM sagas"
				    " WHERE id = '%s'", sagaid);
	key = orc_it_scene_value(s, "SELECT business_key FROM sagas"
				    " WHERE id = '%s'", sagaid);
	version = orc_it_scene_value(s, "SELECT definition_version FROM sagas"
					" WHERE id = '%s'", sagaid);
	snprintf(want, sizeof(want), "/orchestrator/%s", def);
	ck_assert_str_eq(orc_it_header(m, "ce_source"), want);
	data = parse(s, orc_it_json_str(m, "value"));
	ck_assert_str_eq(orc_it_json_str(data, "id"), sagaid);
	ck_assert_str_eq(orc_it_json_str(data, "definition"), def);
	ck_assert_str_eq(orc_it_json_str(data, "business_key"), key);
	ck_assert_int_eq(json_integer_value(json_object_get(data, "version")),
			 atoi(version));
	ck_assert_uint_eq(json_object_size(data), 7);
	if (strcmp(type, "saga.started") == 0) {
		ck_assert_str_eq(orc_it_json_str(data, "status"), "running");
		ck_assert(json_is_null(json_object_get(data, "failure")));
	} else {
		ck_assert_str_eq(orc_it_json_str(data, "status"), type + 5);
	}
	ck_assert_ptr_nonnull(json_object_get(data, "output"));
	json_decref(data);
	free(def);
	free(key);
	free(version);
	return type;
}

/*
 * Per saga, the types of its lifecycle events in msgs in partition order
 * ("saga.started saga.completed"), as an object saga id -> text; every
 * saga's events must be in one partition.
 */
static json_t *
by_saga(struct orc_it_scene *s, const json_t *msgs)
{
	json_t *seen = json_object(), *parts = json_object(), *m;
	size_t i;

	json_array_foreach(msgs, i, m) {
		const char *sagaid = orc_it_header(m, "ce_sagaid");
		const char *type = check_message(s, m);
		json_int_t part = json_integer_value(
			json_object_get(m, "partition"));
		json_t *old = json_object_get(seen, sagaid);
		json_t *p = json_object_get(parts, sagaid);
		char text[512];

		if (p != NULL && json_integer_value(p) != part)
			orc_it_scene_fail(s, "saga %s: lifecycle events in two "
					     "partitions", sagaid);
		json_object_set_new(parts, sagaid, json_integer(part));
		snprintf(text, sizeof(text), "%s%s%s",
			 old ? json_string_value(old) : "", old ? " " : "",
			 type);
		json_object_set_new(seen, sagaid, json_string(text));
	}
	json_decref(parts);
	return seen;
}

/* Collect the scene's lifecycle topic: expected messages, sorted. */
static json_t *
collect_lifecycle(struct orc_it_scene *s, size_t expected)
{
	char topic[128];

	return orc_it_scene_collect(s, lifecycle_topic(s, topic, sizeof(topic)),
				    expected, 40000, 1500);
}

/* ---- 1. every ending on the topic ---- */

/*
 * One definition per ending, told apart by their trigger and command
 * types (the responder answers by type).
 */
static const char ok_def[] =
	"{\"name\": \"life_ok\", \"version\": 2,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"go.ok\","
	"              \"key\": \"/order_id\"},"
	" \"output\": {\"order\": \"${/input/order_id}\","
	"             \"ref\": \"${/steps/a/ref}\", \"by\": \"${/saga/name}\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"ok.do\"},"
	"   \"success\": [\"ok.done\"]}"
	" ]}";

static const char comp_def[] =
	"{\"name\": \"life_comp\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"go.comp\","
	"              \"key\": \"/order_id\"},"
	" \"output\": {\"never\": \"${/input/order_id}\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"ca.do\"},"
	"   \"success\": [\"ca.done\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"ca.undo\","
	"                     \"success\": [\"ca.undone\"]}},"
	"  {\"name\": \"b\", \"needs\": [\"a\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"cb.do\"},"
	"   \"success\": [\"cb.done\"], \"failure\": [\"cb.failed\"]}"
	" ]}";

static const char cancel_def[] =
	"{\"name\": \"life_cancel\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"go.cancel\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"hold\", \"wait\": {\"topic\": \"{P}.reviews\","
	"   \"type\": \"hold.released\", \"key\": \"/order_id\", \"timeout\": \"5m\"}}"
	" ]}";

static const char timeout_def[] =
	"{\"name\": \"life_timeout\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"go.timeout\","
	"              \"key\": \"/order_id\"}, \"timeout\": \"1s\","
	" \"steps\": [{\"name\": \"nap\", \"delay\": \"1h\"}]}";

static const char stuck_def[] =
	"{\"name\": \"life_stuck\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"go.stuck\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"sa.do\"},"
	"   \"success\": [\"sa.done\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"sa.undo\","
	"                     \"success\": [\"sa.undone\"], \"timeout\": \"300ms\","
	"                     \"retry\": {\"max_attempts\": 1}}},"
	"  {\"name\": \"b\", \"needs\": [\"a\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"sb.do\"},"
	"   \"success\": [\"sb.done\"], \"failure\": [\"sb.failed\"]}"
	" ]}";

START_TEST(test_every_ending)
{
	static const char *const topics[] = {"orders", "work", "reviews"};
	static const char *const rules[] = {
		"--rule", "ok.do=succeed:ok.done",
		"--rule", "ca.do=succeed:ca.done",
		"--rule", "ca.undo=succeed:ca.undone",
		"--rule", "cb.do=fail:cb.failed",
		"--rule", "sa.do=succeed:sa.done",
		"--rule", "sb.do=fail:sb.failed", NULL}; /* sa.undo: never */
	static const struct {
		const char *key, *type, *events;
	} sagas[] = {
		{"l-ok", "go.ok", "saga.started saga.completed"},
		{"l-comp", "go.comp", "saga.started saga.compensated"},
		{"l-cancel", "go.cancel", "saga.started saga.cancelled"},
		{"l-timeout", "go.timeout", "saga.started saga.timed_out"},
		{"l-stuck", "go.stuck", "saga.started saga.stuck"},
	};
	struct orc_it_scene s;
	json_t *msgs, *seen, *m, *out;
	char *id, *text, buf[8192];
	size_t i;

	orc_it_scene_init(&s, topics, 3);
	orc_it_scene_load(&s, ok_def);
	orc_it_scene_load(&s, comp_def);
	orc_it_scene_load(&s, cancel_def);
	orc_it_scene_load(&s, timeout_def);
	orc_it_scene_load(&s, stuck_def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);
	for (i = 0; i < 5; i++)
		trigger(&s, sagas[i].type, sagas[i].key);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the cancel saga waiting",
			   "SELECT count(*) = 1 FROM saga_steps t JOIN sagas g"
			   " ON g.id = t.saga_id WHERE g.business_key = 'l-cancel'"
			   " AND t.status = 'running'");
	id = orc_it_scene_value(&s, "SELECT id FROM sagas"
				    " WHERE business_key = 'l-cancel'");
	{
		const char *args[] = {"cancel", id, "--reason", "test", NULL};

		if (orc_it_scene_cli(&s, buf, sizeof(buf), args) != 0)
			orc_it_scene_fail(&s, "cancel: %s", buf);
	}
	free(id);
	orc_it_scene_await(&s, WAIT_MS, "every saga ended",
			   "SELECT string_agg(business_key || '=' || status, ','"
			   " ORDER BY business_key) = 'l-cancel=cancelled,"
			   "l-comp=compensated,l-ok=completed,l-stuck=stuck,"
			   "l-timeout=timed_out' FROM sagas");

	/* the output, on the row, in the view and in `status` */
	id = orc_it_scene_value(&s, "SELECT id FROM sagas"
				    " WHERE business_key = 'l-ok'");
	out = parse(&s, orc_it_scene_value(&s, "SELECT output::text FROM sagas"
					       " WHERE id = '%s'", id));
	ck_assert_str_eq(orc_it_json_str(out, "order"), "l-ok");
	ck_assert_str_eq(orc_it_json_str(out, "by"), "life_ok");
	snprintf(buf, sizeof(buf), "ok.do:%s", id);
	ck_assert_str_eq(orc_it_json_str(out, "ref"), buf);
	json_decref(out);
	orc_it_expect(&s, "true", "the view's output",
		      orc_it_scene_value(&s, "SELECT (c.output = g.output)::text"
					     " FROM saga_contexts c JOIN sagas g"
					     " USING (id) WHERE id = '%s'", id));
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM sagas"
					       " WHERE output IS NOT NULL"), 1);
	{
		const char *args[] = {"status", id, NULL};

		const char *line, *end;

		ck_assert_int_eq(orc_it_scene_cli(&s, buf, sizeof(buf), args), 0);
		line = strstr(buf, "\noutput      {");
		end = line != NULL ? strchr(line + 1, '\n') : NULL;
		if (line == NULL || end == NULL ||
		    strstr(line, "\"order\":\"l-ok\"") == NULL ||
		    strstr(line, "\"order\":\"l-ok\"") > end)
			orc_it_scene_fail(&s, "status shows no output:\n%s", buf);
	}
	{
		const char *args[] = {"status", id, "--json", NULL};

		ck_assert_int_eq(orc_it_scene_cli(&s, buf, sizeof(buf), args), 0);
		if (strstr(buf, "\"output\"") == NULL)
			orc_it_scene_fail(&s, "status --json shows no output:\n%s",
					  buf);
	}

	/* the events as a consumer of the topic sees them */
	msgs = collect_lifecycle(&s, 10);
	if (json_array_size(msgs) != 10)
		orc_it_scene_fail(&s, "%zu lifecycle events, expected 10",
				  json_array_size(msgs));
	seen = by_saga(&s, msgs);
	for (i = 0; i < 5; i++) {
		char *sid = orc_it_scene_value(&s, "SELECT id FROM sagas WHERE"
						   " business_key = '%s'",
					       sagas[i].key);
		const char *got = json_string_value(json_object_get(seen, sid));

		if (got == NULL || strcmp(got, sagas[i].events) != 0)
			orc_it_scene_fail(&s, "saga %s: events \"%s\", expected "
					     "\"%s\"", sagas[i].key,
					  got ? got : "", sagas[i].events);
		free(sid);
	}
	/* ids: started is the first, the ending the second */
	json_array_foreach(msgs, i, m) {
		const char *type = orc_it_header(m, "ce_type");
		char want[160];

		snprintf(want, sizeof(want), "%s/%s/%d",
			 orc_it_header(m, "ce_sagaid"), type,
			 strcmp(type, "saga.started") == 0 ? 1 : 2);
		ck_assert_str_eq(orc_it_header(m, "ce_id"), want);
		if (strcmp(type, "saga.completed") == 0) {
			json_t *data = parse(&s, orc_it_json_str(m, "value"));

			out = parse(&s, orc_it_scene_value(
					    &s, "SELECT output::text FROM sagas"
						" WHERE id = '%s'", id));
			ck_assert(json_equal(json_object_get(data, "output"),
					     out));
			ck_assert(json_is_null(json_object_get(data, "failure")));
			json_decref(out);
			json_decref(data);
		} else if (strcmp(type, "saga.started") != 0) {
			json_t *data = parse(&s, orc_it_json_str(m, "value"));

			/* only a completed saga has an output */
			ck_assert(json_is_null(json_object_get(data, "output")));
			ck_assert(json_is_string(json_object_get(data, "failure")));
			json_decref(data);
		}
	}
	text = orc_it_scene_value(&s, "SELECT failure FROM sagas"
				      " WHERE business_key = 'l-comp'");
	ck_assert_str_eq(text, "b: cb.failed");
	free(text);
	json_decref(seen);
	json_decref(msgs);
	free(id);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 2. through the outbox: ordered, durable across kill -9 ---- */

static const char chain_def[] =
	"{\"name\": \"life_chain\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"go.chain\","
	"              \"key\": \"/order_id\"},"
	" \"output\": {\"order\": \"${/input/order_id}\"},"
	" \"steps\": ["
	"  {\"name\": \"s1\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"s1.do\"},"
	"   \"success\": [\"s1.done\"]},"
	"  {\"name\": \"s2\", \"needs\": [\"s1\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"s2.do\"},"
	"   \"success\": [\"s2.done\"]}"
	" ]}";

#define CHAIN_SAGAS 60

static void
chain_triggers(struct orc_it_scene *s, const char *prefix, int from, int to)
{
	for (int k = from; k < to; k++) {
		char key[32];

		snprintf(key, sizeof(key), "%s-%d", prefix, k);
		trigger(s, "go.chain", key);
	}
	orc_it_scene_flush(s);
}

START_TEST(test_outbox_order_and_kill_9)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "s1.do=delay:20:s1.done",
		"--rule", "s2.do=delay:20:s2.done", NULL};
	/* the dead member must leave the group soon, not after 45 s */
	static const char *const no_relay[] = {
		"ORC_ROLES=worker,timers", "ORC_KAFKA_SESSION_TIMEOUT_MS=6000",
		"ORC_KAFKA_HEARTBEAT_INTERVAL_MS=500", NULL};
	static const char *const all[] = {"ORC_KAFKA_SESSION_TIMEOUT_MS=6000",
					  "ORC_KAFKA_HEARTBEAT_INTERVAL_MS=500",
					  NULL};
	struct orc_it_scene s;
	char topic[128];
	json_t *msgs, *ids, *seen, *m;
	int a, b, rc;
	size_t i;

	orc_it_scene_init(&s, topics, 2);
	lifecycle_topic(&s, topic, sizeof(topic));
	orc_it_scene_load(&s, chain_def);
	orc_it_scene_responder(&s, "services", "work", rules);

	/* 1. no relay: the rows wait in the outbox, in effect order */
	a = orc_it_scene_run(&s, "run-a", no_relay);
	chain_triggers(&s, "c", 0, CHAIN_SAGAS / 2);
	orc_it_scene_await(&s, WAIT_MS, "the first half started",
			   "SELECT count(*) = 30 FROM outbox WHERE type = 's1.do'");
	/* one saga.started row and one command per saga, nothing else */
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM outbox WHERE type = 'saga.started'"
			" AND topic = '%s' AND step_name IS NULL"
			" AND reply_to IS NULL AND message_id = saga_id || "
			"'/saga.started/1'", topic),
		CHAIN_SAGAS / 2);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM outbox"),
			 CHAIN_SAGAS);
	/* the event before the command it came with, in the same lane */
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM outbox e JOIN outbox c USING (saga_id)"
			" WHERE e.type = 'saga.started' AND c.type = 's1.do'"
			" AND e.id < c.id AND e.lane = c.lane"
			" AND e.payload::jsonb ->> 'status' = 'running'"),
		CHAIN_SAGAS / 2);
	/* 2. killed before anything was published */
	rc = orc_it_scene_stop(&s, a, SIGKILL);
	ck_assert_int_eq(rc, 128 + SIGKILL);
	chain_triggers(&s, "c", CHAIN_SAGAS / 2, CHAIN_SAGAS * 3 / 4);

	/* 3. a full `run` publishes them; killed again half way */
	b = orc_it_scene_run(&s, "run-b", all);
	orc_it_scene_await(&s, WAIT_MS, "some sagas completed",
			   "SELECT count(*) >= 5 FROM sagas WHERE status = 'completed'");
	rc = orc_it_scene_stop(&s, b, SIGKILL);
	ck_assert_int_eq(rc, 128 + SIGKILL);
	chain_triggers(&s, "c", CHAIN_SAGAS * 3 / 4, CHAIN_SAGAS);
	orc_it_scene_run(&s, "run-c", all);
	orc_it_scene_await(&s, WAIT_MS, "every saga completed",
			   "SELECT count(*) = 60 FROM sagas WHERE status = 'completed'");
	orc_it_scene_await(&s, 10000, "an empty outbox",
			   "SELECT count(*) = 0 FROM outbox");

	/* every event at least once, in order, each copy under its id */
	msgs = collect_lifecycle(&s, 2 * CHAIN_SAGAS);
	ids = json_object();
	json_array_foreach(msgs, i, m)
		json_object_set_new(ids, orc_it_header(m, "ce_id"), json_true());
	fprintf(stderr, "%zu lifecycle events consumed, %zu distinct\n",
		json_array_size(msgs), json_object_size(ids));
	if (json_object_size(ids) != 2 * CHAIN_SAGAS)
		orc_it_scene_fail(&s, "%zu distinct lifecycle events, expected %d",
				  json_object_size(ids), 2 * CHAIN_SAGAS);
	seen = by_saga(&s, msgs);
	ck_assert_uint_eq(json_object_size(seen), CHAIN_SAGAS);
	{
		const char *sid;
		json_t *v;

		/*
		 * A re-published event comes again with those after it:
		 * the first copy of saga.started still comes first.
		 */
		json_object_foreach(seen, sid, v) {
			const char *t = json_string_value(v);

			if (strncmp(t, "saga.started", 12) != 0 ||
			    strstr(t, "saga.completed") == NULL)
				orc_it_scene_fail(&s, "saga %s: events \"%s\"",
						  sid, t);
		}
	}
	json_array_foreach(msgs, i, m) {
		const char *type = orc_it_header(m, "ce_type");
		char want[160];

		snprintf(want, sizeof(want), "%s/%s/%d",
			 orc_it_header(m, "ce_sagaid"), type,
			 strcmp(type, "saga.started") == 0 ? 1 : 2);
		ck_assert_str_eq(orc_it_header(m, "ce_id"), want);
	}
	json_decref(seen);
	json_decref(ids);
	json_decref(msgs);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 3. published, not deleted: published again, under the same id ---- */

#define HELD_SAGAS 5 /* the count in the awaits below */

/* The distinct ce_id headers of msgs. */
static size_t
distinct_ids(const json_t *msgs)
{
	json_t *ids = json_object(), *m;
	size_t i, n;

	json_array_foreach(msgs, i, m)
		json_object_set_new(ids, orc_it_header(m, "ce_id"), json_true());
	n = json_object_size(ids);
	json_decref(ids);
	return n;
}

START_TEST(test_republished_keeps_its_id)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const env[] = {"ORC_KAFKA_SESSION_TIMEOUT_MS=6000",
					  "ORC_KAFKA_HEARTBEAT_INTERVAL_MS=500",
					  NULL};
	struct orc_it_scene s;
	json_t *msgs, *ids, *m;
	size_t i, copies_a;
	int64_t deadline;
	int a;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, chain_def);
	/*
	 * The relay publishes, then cannot delete what it published: the
	 * state a crash between the broker's acknowledgement and the delete
	 * leaves, again at every retry.  The refusal is one the relay
	 * retries (lock_not_available), so in time it publishes every lane,
	 * not only those of its first batch.  No service answers, so each
	 * saga has its saga.started and one command.
	 */
	orc_it_pg_exec(s.db.conn,
		       "CREATE FUNCTION hold_outbox() RETURNS trigger"
		       " LANGUAGE plpgsql AS $$ BEGIN"
		       " RAISE EXCEPTION 'outbox held by the test'"
		       " USING ERRCODE = 'lock_not_available'; END $$;"
		       "CREATE TRIGGER hold_outbox BEFORE DELETE ON outbox"
		       " FOR EACH STATEMENT EXECUTE FUNCTION hold_outbox()",
		       0, NULL);
	a = orc_it_scene_run(&s, "run-a", env);
	chain_triggers(&s, "h", 0, HELD_SAGAS);
	orc_it_scene_await(&s, WAIT_MS, "every saga started",
			   "SELECT count(*) = 5 FROM outbox"
			   " WHERE type = 'saga.started'");
	/* published (each read of the topic sees at least the last one's) */
	deadline = orc_clock_mono_ms() + WAIT_MS;
	for (;;) {
		msgs = collect_lifecycle(&s, 2 * HELD_SAGAS);
		if (distinct_ids(msgs) == HELD_SAGAS)
			break;
		if (orc_clock_mono_ms() > deadline)
			orc_it_scene_fail(&s, "%zu of %d lifecycle events "
					      "published", distinct_ids(msgs),
					  HELD_SAGAS);
		json_decref(msgs);
	}
	copies_a = json_array_size(msgs);
	json_decref(msgs);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM outbox"
					       " WHERE type = 'saga.started'"),
			 HELD_SAGAS);
	orc_it_scene_stop(&s, a, SIGKILL);
	orc_it_pg_exec(s.db.conn, "DROP TRIGGER hold_outbox ON outbox", 0,
		       NULL);
	orc_it_scene_run(&s, "run-b", env);
	orc_it_scene_await(&s, WAIT_MS, "an empty outbox",
			   "SELECT count(*) = 0 FROM outbox");

	/* all of the topic: run-a's copies, then run-b's */
	msgs = collect_lifecycle(&s, copies_a + HELD_SAGAS);
	ids = json_object();
	json_array_foreach(msgs, i, m) {
		char want[160];

		ck_assert_str_eq(check_message(&s, m), "saga.started");
		snprintf(want, sizeof(want), "%s/saga.started/1",
			 orc_it_header(m, "ce_sagaid"));
		ck_assert_str_eq(orc_it_header(m, "ce_id"), want);
		json_object_set_new(ids, want, json_true());
	}
	fprintf(stderr, "%zu copies of %zu lifecycle events\n",
		json_array_size(msgs), json_object_size(ids));
	ck_assert_uint_eq(json_object_size(ids), HELD_SAGAS);
	if (json_array_size(msgs) < copies_a + HELD_SAGAS)
		orc_it_scene_fail(&s, "%zu copies: the events were not published "
				      "again", json_array_size(msgs));
	json_decref(ids);
	json_decref(msgs);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 4. lifecycle_topic empty: no row ---- */

START_TEST(test_empty_topic_writes_nothing)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "s1.do=succeed:s1.done",
		"--rule", "s2.do=succeed:s2.done", NULL};
	static const char *const env[] = {"ORC_LIFECYCLE_TOPIC=", NULL};
	static const char *const no_relay[] = {"ORC_LIFECYCLE_TOPIC=",
					       "ORC_ROLES=worker,timers", NULL};
	struct orc_it_scene s;
	char topic[128];
	const char *created[1] = {topic};
	json_t *msgs;
	int a;

	orc_it_scene_init(&s, topics, 2);
	lifecycle_topic(&s, topic, sizeof(topic));
	/* the topic a default setting would write to, there to be read */
	orc_it_create_topics(created, 1, 4);
	orc_it_scene_load(&s, chain_def);
	a = orc_it_scene_run(&s, "run-a", no_relay);
	chain_triggers(&s, "e", 0, 5);
	orc_it_scene_await(&s, WAIT_MS, "five sagas started",
			   "SELECT count(*) = 5 FROM outbox WHERE type = 's1.do'");
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM outbox"), 5);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM outbox"
					       " WHERE step_name IS NULL"), 0);
	orc_it_scene_stop(&s, a, SIGTERM);
	orc_it_scene_run(&s, "run-b", env);
	orc_it_scene_responder(&s, "services", "work", rules);
	orc_it_scene_await(&s, WAIT_MS, "five sagas completed",
			   "SELECT count(*) = 5 FROM sagas WHERE status = 'completed'");
	/* still counted in the saga, for the day the topic is set */
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM sagas"
					       " WHERE lifecycle_seq = 2"
					       " AND output IS NOT NULL"), 5);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM outbox"
					       " WHERE step_name IS NULL"), 0);
	msgs = orc_it_scene_collect(&s, topic, 1, 3000, 0);
	ck_assert_uint_eq(json_array_size(msgs), 0);
	json_decref(msgs);
	orc_it_scene_finish(&s);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(every_ending),
		ORC_IT_CASE(outbox_order_and_kill_9),
		ORC_IT_CASE(republished_keeps_its_id),
		ORC_IT_CASE(empty_topic_writes_nothing),
	};

	return orc_it_run_suite("lifecycle", cases,
				sizeof(cases) / sizeof(cases[0]), 180);
}
