/*
 * itest_keys.c - business keys over time, against a real PostgreSQL and
 * Kafka: a trigger's key_reuse policy (reject, after_finish,
 * after_failure), also with two triggers for one key in one batch, the
 * database's refusal of a second open saga per key, awaited events going
 * to the key's open saga, `status --key` listing the earlier sagas; and
 * events that arrive before their saga: parked, taken by the saga when it
 * starts (the first for a step wins), also within one batch, and
 * dead-lettered when they expire, with their inbox id released; and a
 * trigger and its awaited event in consecutive batches, which the
 * overlapped apply runs side by side.
 *
 * Every definition here awaits its "done" event, so a saga ends when the
 * test says: done (completed), or `cancel` (cancelled).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "harness.h"

#define WAIT_MS 60000

/* A definition name of policy: one wait step for "<name>.done" by key. */
static void
load_def(struct orc_it_scene *s, const char *name, const char *reuse,
	 const char *early_ttl)
{
	char json[1024];

	snprintf(json, sizeof(json),
		 "{\"name\": \"%1$s\", \"version\": 1,"
		 " \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"%1$s.start\","
		 "              \"key\": \"/order_id\"%2$s%3$s%4$s},"
		 " \"steps\": ["
		 "  {\"name\": \"w\", \"wait\": {\"topic\": \"{P}.events\","
		 "   \"type\": \"%1$s.done\", \"key\": \"/order_id\"%5$s%6$s%7$s}}"
		 " ]}",
		 name, reuse ? ", \"key_reuse\": \"" : "", reuse ? reuse : "",
		 reuse ? "\"" : "", early_ttl ? ", \"early_ttl\": \"" : "",
		 early_ttl ? early_ttl : "", early_ttl ? "\"" : "");
	orc_it_scene_load(s, json);
}

/* Queue a "<name>.<what>" event for key with CloudEvent id "<name>-<id>". */
static void
event(struct orc_it_scene *s, const char *name, const char *what,
      const char *key, const char *id, const char *who)
{
	char type[64], data[256], ce_id[64];

	snprintf(type, sizeof(type), "%s.%s", name, what);
	snprintf(ce_id, sizeof(ce_id), "%s-%s", name, id);
	snprintf(data, sizeof(data), "{\"order_id\":\"%s\",\"who\":\"%s\"}",
		 key, who ? who : "");
	orc_it_scene_event(s, strcmp(what, "start") == 0 ? "orders" : "events",
			   key, ce_id, type, data, NULL, NULL, NULL);
}

/* Sagas of definition name with key (and status, when not NULL). */
static long
sagas(struct orc_it_scene *s, const char *name, const char *key,
      const char *status)
{
	return orc_it_scene_long(s,
		"SELECT count(*) FROM sagas WHERE definition_name = '%s'"
		" AND business_key = '%s' AND ('%s' = '' OR status = '%s')",
		name, key, status ? status : "", status ? status : "");
}

static void
await_sagas(struct orc_it_scene *s, const char *what, const char *name,
	    const char *key, const char *status, long n)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) = %ld FROM sagas WHERE definition_name = '%s'"
		 " AND business_key = '%s' AND status = '%s'",
		 n, name, key, status);
	orc_it_scene_await(s, WAIT_MS, what, sql);
}

/* Wait until every event sent so far has been consumed by `run`. */
static void
await_consumed(struct orc_it_scene *s, long applied_events)
{
	char sql[256];

	/* triggers and awaited events leave inbox rows */
	snprintf(sql, sizeof(sql), "SELECT count(*) >= %ld FROM inbox",
		 applied_events);
	orc_it_scene_await(s, WAIT_MS, "the events consumed", sql);
}

/* The id of the open (else newest) saga of name and key; free() it. */
static char *
saga_id(struct orc_it_scene *s, const char *name, const char *key)
{
	return orc_it_scene_value(s,
		"SELECT id FROM sagas WHERE definition_name = '%s'"
		" AND business_key = '%s' ORDER BY status IN ('running',"
		" 'compensating', 'stuck') DESC, created_at DESC LIMIT 1",
		name, key);
}

static void
cancel(struct orc_it_scene *s, const char *id)
{
	const char *args[] = {"cancel", id, NULL};
	char out[4096];
	int rc = orc_it_scene_cli(s, out, sizeof(out), args);

	if (rc != 0)
		orc_it_scene_fail(s, "cancel %s exited %d: %s", id, rc, out);
}

/* ---- 1. key_reuse under each policy ---- */

START_TEST(test_key_reuse_policies)
{
	static const char *const topics[] = {"orders", "events"};
	static const char *const names[] = {"rj", "af", "ax"};
	struct orc_it_scene s;
	char out[8192], *id, *first;
	long inbox = 0;

	orc_it_scene_init(&s, topics, 2);
	load_def(&s, "rj", NULL, NULL);
	load_def(&s, "af", "after_finish", NULL);
	load_def(&s, "ax", "after_failure", NULL);
	orc_it_scene_run(&s, "run", NULL);

	/* a second trigger while the saga runs: ignored by every policy */
	for (int i = 0; i < 3; i++) {
		event(&s, names[i], "start", "k1", "t1", NULL);
		event(&s, names[i], "start", "k1", "t2", NULL);
		inbox += 2;
	}
	orc_it_scene_flush(&s);
	await_consumed(&s, inbox);
	for (int i = 0; i < 3; i++) {
		await_sagas(&s, "one running saga of k1", names[i], "k1",
			    "running", 1);
		ck_assert_int_eq(sagas(&s, names[i], "k1", NULL), 1);
	}

	/* it completes; a new trigger starts another one for after_finish */
	for (int i = 0; i < 3; i++) {
		char done[16];

		snprintf(done, sizeof(done), "d1-%s", names[i]);
		event(&s, names[i], "done", "k1", done, "ann");
	}
	orc_it_scene_flush(&s);
	for (int i = 0; i < 3; i++)
		await_sagas(&s, "k1 completed", names[i], "k1", "completed", 1);
	for (int i = 0; i < 3; i++)
		event(&s, names[i], "start", "k1", "t3", NULL);
	orc_it_scene_flush(&s);
	await_sagas(&s, "a second saga of k1 (after_finish)", "af", "k1",
		    "running", 1);
	inbox += 6;
	await_consumed(&s, inbox);
	ck_assert_int_eq(sagas(&s, "rj", "k1", NULL), 1);
	ck_assert_int_eq(sagas(&s, "ax", "k1", NULL), 1);
	ck_assert_int_eq(sagas(&s, "af", "k1", NULL), 2);

	/* the awaited event goes to the open saga, not the finished one */
	first = orc_it_scene_value(&s,
		"SELECT id FROM sagas WHERE definition_name = 'af' AND"
		" business_key = 'k1' AND status = 'completed'");
	event(&s, "af", "done", "k1", "d2-af", "bob");
	orc_it_scene_flush(&s);
	await_sagas(&s, "both sagas of k1 completed", "af", "k1", "completed",
		    2);
	orc_it_expect(&s, "ann", "the first saga's step output, unchanged",
		      orc_it_scene_value(&s,
			"SELECT output ->> 'who' FROM saga_steps WHERE"
			" saga_id = '%s'", first));

	/* status --key: the newest, then the earlier one */
	{
		const char *args[] = {"status", "--key", "k1", "--definition",
				      "af", NULL};
		int rc = orc_it_scene_cli(&s, out, sizeof(out), args);

		id = saga_id(&s, "af", "k1");
		if (rc != 0 || strstr(out, id) == NULL ||
		    strstr(out, "earlier sagas of this key") == NULL ||
		    strstr(out, first) == NULL ||
		    strstr(out, id) > strstr(out, first))
			orc_it_scene_fail(&s, "status --key k1 (%d):\n%s", rc,
					  out);
		free(id);
	}
	free(first);

	/* after_failure: a cancelled saga lets the key start another one */
	event(&s, "ax", "start", "k2", "t4", NULL);
	orc_it_scene_flush(&s);
	await_sagas(&s, "k2 running (after_failure)", "ax", "k2", "running", 1);
	id = saga_id(&s, "ax", "k2");
	cancel(&s, id);
	await_sagas(&s, "k2 cancelled", "ax", "k2", "cancelled", 1);
	event(&s, "ax", "start", "k2", "t5", NULL);
	orc_it_scene_flush(&s);
	await_sagas(&s, "a second saga of k2", "ax", "k2", "running", 1);
	ck_assert_int_eq(sagas(&s, "ax", "k2", NULL), 2);
	free(id);

	/* two triggers for one ended key in one batch: one new saga */
	event(&s, "af", "start", "k3", "t6", NULL);
	orc_it_scene_flush(&s);
	await_sagas(&s, "k3 running", "af", "k3", "running", 1);
	id = saga_id(&s, "af", "k3");
	cancel(&s, id);
	free(id);
	await_sagas(&s, "k3 cancelled", "af", "k3", "cancelled", 1);
	event(&s, "af", "start", "k3", "t7", NULL);
	event(&s, "af", "start", "k3", "t8", NULL);
	orc_it_scene_flush(&s);
	inbox += 6;
	await_consumed(&s, inbox);
	await_sagas(&s, "one new saga of k3", "af", "k3", "running", 1);
	ck_assert_int_eq(sagas(&s, "af", "k3", NULL), 2);

	/* the database refuses a second open saga of a key */
	orc_it_pg_exec(s.db.conn,
		"DO $$ BEGIN"
		" INSERT INTO sagas (id, definition_name, definition_version,"
		"  business_key, status) SELECT gen_random_uuid(),"
		"  definition_name, definition_version, business_key, 'running'"
		"  FROM sagas WHERE definition_name = 'af' AND business_key = 'k3'"
		"  LIMIT 1;"
		" RAISE EXCEPTION 'a second open saga of k3 was inserted';"
		" EXCEPTION WHEN unique_violation THEN NULL;"
		" END $$",
		0, NULL);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM dead_letters"),
			 0);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 2. events that come before their saga ---- */

START_TEST(test_parked_events)
{
	static const char *const topics[] = {"orders", "events"};
	static const char *const env[] = {"ORC_HOUSEKEEPING_INTERVAL_MS=200",
					  NULL};
	struct orc_it_scene s;
	char out[8192], *id, *dl;

	orc_it_scene_init(&s, topics, 2);
	load_def(&s, "pk", NULL, NULL);
	load_def(&s, "pq", NULL, "3s");
	orc_it_scene_run(&s, "run", env);

	/* two events for p-1 before its saga: both parked, none dead */
	event(&s, "pk", "done", "p-1", "e1", "ann");
	orc_it_scene_flush(&s);
	event(&s, "pk", "done", "p-1", "e2", "bob");
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "two events parked for p-1",
			   "SELECT count(*) = 2 FROM parked_events WHERE"
			   " definition_name = 'pk' AND business_key = 'p-1'");
	orc_it_expect(&s, "1h", "the default time to live",
		      orc_it_scene_value(&s,
			"SELECT ttl FROM parked_events WHERE event_id = 'pk-e1'"));
	orc_it_expect(&s, "pk 2", "what parked_event_summary shows",
		      orc_it_scene_value(&s,
			"SELECT definition_name || ' ' || events FROM"
			" parked_event_summary"));

	/* the saga starts: the first parked event completes its step */
	event(&s, "pk", "start", "p-1", "t1", NULL);
	orc_it_scene_flush(&s);
	await_sagas(&s, "p-1 completed by its parked event", "pk", "p-1",
		    "completed", 1);
	id = saga_id(&s, "pk", "p-1");
	orc_it_expect(&s, "ann", "the first parked event won",
		      orc_it_scene_value(&s,
			"SELECT output ->> 'who' FROM saga_steps WHERE"
			" saga_id = '%s' AND step_name = 'w'", id));
	orc_it_expect(&s, "1", "the second recorded as ignored",
		      orc_it_scene_value(&s,
			"SELECT count(*) FROM saga_history WHERE saga_id = '%s'"
			" AND kind = 'event.ignored' AND event_id = 'pk-e2'", id));
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM parked_events"),
			 0);
	free(id);

	/* an awaited event and its trigger in one batch */
	event(&s, "pk", "done", "p-2", "e3", "cy");
	event(&s, "pk", "start", "p-2", "t2", NULL);
	orc_it_scene_flush(&s);
	await_sagas(&s, "p-2 completed in one batch", "pk", "p-2", "completed",
		    1);
	id = saga_id(&s, "pk", "p-2");
	orc_it_expect(&s, "cy", "the event of the same batch",
		      orc_it_scene_value(&s,
			"SELECT output ->> 'who' FROM saga_steps WHERE"
			" saga_id = '%s'", id));
	free(id);

	/* one with no saga expires (early_ttl 3s) into the dead letters */
	event(&s, "pq", "done", "p-3", "e4", "dee");
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "e4 parked",
			   "SELECT count(*) = 1 FROM parked_events WHERE"
			   " event_id = 'pq-e4' AND ttl = '3s'");
	orc_it_scene_await(&s, WAIT_MS, "e4 expired into the dead letters",
			   "SELECT count(*) = 1 FROM dead_letters WHERE error LIKE"
			   " 'no saga of pq for key p-3 within 3s (parked at %'");
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM parked_events"),
			 0);
	ck_assert_int_eq(orc_it_scene_long(&s,
			 "SELECT count(*) FROM inbox WHERE message_id LIKE '%% pq-e4'"),
			 0);

	/* replayed, it is parked again, and the saga that starts takes it */
	dl = orc_it_scene_value(&s, "SELECT id FROM dead_letters");
	{
		const char *args[] = {"dead-letters", "replay", dl, NULL};
		int rc = orc_it_scene_cli(&s, out, sizeof(out), args);

		if (rc != 0)
			orc_it_scene_fail(&s, "replay exited %d: %s", rc, out);
	}
	free(dl);
	orc_it_scene_await(&s, WAIT_MS, "e4 parked again",
			   "SELECT count(*) = 1 FROM parked_events WHERE"
			   " event_id = 'pq-e4'");
	event(&s, "pq", "start", "p-3", "t3", NULL);
	orc_it_scene_flush(&s);
	await_sagas(&s, "p-3 completed by the replayed event", "pq", "p-3",
		    "completed", 1);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 3. a saga's trigger, and its awaited event in the next batch ---- */

/* A counter's value in `run`'s /metrics on port, or -1. */
static long
metric(struct orc_it_scene *s, int port, const char *name)
{
	static char body[1 << 16];
	char *at;

	if (orc_it_http_get(port, "/metrics", 5000, body, sizeof(body)) != 200)
		orc_it_scene_fail(s, "GET /metrics failed");
	for (at = strstr(body, name); at != NULL; at = strstr(at + 1, name))
		if ((at == body || at[-1] == '\n') && at[strlen(name)] == ' ')
			return atol(at + strlen(name) + 1);
	return -1;
}

/*
 * With apply_overlap the next batch is run while the one before commits;
 * an event for the key of a saga that batch starts must wait for that
 * commit, or it would find no saga and be parked (for a saga that has
 * started, so nobody would take it).  The hazard made certain: every
 * trigger followed by its awaited event on one topic and partition (one
 * Kafka key for all, the business keys in the data), queued before the
 * process starts, in batches of 3: [s0 d0 s1] [d1 s2 d2] [s3 d3 s4] ...
 * splits every other pair across two batches the overlap runs side by
 * side.  Every saga completes, nothing is parked or dead, batches were
 * overlapped and some waited.  Then the same with apply_overlap off.
 */
START_TEST(test_overlapped_batches)
{
	static const char *const topics[] = {"orders"};
	enum { PAIRS = 150 };
	struct orc_it_scene s;
	char port_env[32], key[32], id[32], data[96], sql[256];
	int port = orc_it_free_port();
	const char *env[] = {"ORC_BATCH_SIZE=3", "ORC_BATCH_LINGER_MS=1",
			     port_env, NULL, NULL};

	snprintf(port_env, sizeof(port_env), "ORC_HTTP_PORT=%d", port);
	orc_it_scene_init(&s, topics, 1);
	orc_it_scene_load(&s,
		"{\"name\": \"ov\", \"version\": 1,"
		" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"ov.start\","
		"              \"key\": \"/order_id\"},"
		" \"steps\": [{\"name\": \"w\", \"wait\": {\"topic\": \"{P}.orders\","
		"   \"type\": \"ov.done\", \"key\": \"/order_id\"}}]}");
	for (int round = 0; round < 2; round++) {
		int proc;

		for (int i = 0; i < PAIRS; i++) {
			snprintf(key, sizeof(key), "o-%d-%d", round, i);
			snprintf(data, sizeof(data), "{\"order_id\":\"%s\"}", key);
			snprintf(id, sizeof(id), "s%d-%d", round, i);
			orc_it_scene_event(&s, "orders", "one", id, "ov.start",
					   data, NULL, NULL, NULL);
			snprintf(id, sizeof(id), "d%d-%d", round, i);
			orc_it_scene_event(&s, "orders", "one", id, "ov.done",
					   data, NULL, NULL, NULL);
		}
		orc_it_scene_flush(&s);
		env[3] = round == 0 ? NULL : "ORC_APPLY_OVERLAP=false";
		proc = orc_it_scene_run(&s, "run", env);
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) = %d FROM sagas WHERE"
			 " definition_name = 'ov' AND status = 'completed'",
			 PAIRS * (round + 1));
		orc_it_scene_await(&s, WAIT_MS, "every saga completed", sql);
		ck_assert_int_eq(orc_it_scene_long(&s,
				 "SELECT count(*) FROM parked_events"), 0);
		ck_assert_int_eq(orc_it_scene_long(&s,
				 "SELECT count(*) FROM dead_letters"), 0);
		if (round == 0) {
			ck_assert_int_gt(metric(&s, port,
				"orchestrator_batches_overlapped_total"), 0);
			ck_assert_int_gt(metric(&s, port,
				"orchestrator_batches_overlap_waits_total"), 0);
		} else {
			ck_assert_int_eq(metric(&s, port,
				"orchestrator_batches_overlapped_total"), 0);
		}
		orc_it_scene_stop(&s, proc, SIGTERM);
	}
	orc_it_scene_finish(&s);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(key_reuse_policies),
		ORC_IT_CASE(parked_events),
		ORC_IT_CASE(overlapped_batches),
	};

	return orc_it_run_suite("keys", cases, sizeof(cases) / sizeof(cases[0]),
				120);
}
