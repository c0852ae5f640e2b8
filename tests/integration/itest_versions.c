/*
 * itest_versions.c - several versions of one definition, against a real
 * PostgreSQL and Kafka: version 2 loaded while version 1 sagas run (new
 * sagas start on 2, running ones finish on 1), `definitions diff`, and
 * `migrate-sagas` with its dry run, a refusal that names the step, a map
 * that makes it possible, and the moved sagas finishing on the new
 * version's steps.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "harness.h"

#define WAIT_MS 60000

/* v1: a command, then a wait for "vr.go" by key. */
static const char v1[] =
	"{\"name\": \"vr\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"vr.start\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"a.do\"},"
	"   \"success\": [\"a.done\"]},"
	"  {\"name\": \"b\", \"needs\": [\"a\"],"
	"   \"wait\": {\"topic\": \"{P}.events\", \"type\": \"vr.go\","
	"            \"key\": \"/order_id\"}}"
	" ]}";

/* v2: the same, and then c. */
static const char v2[] =
	"{\"name\": \"vr\", \"version\": 2,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"vr.start\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"a.do\"},"
	"   \"success\": [\"a.done\"]},"
	"  {\"name\": \"b\", \"needs\": [\"a\"],"
	"   \"wait\": {\"topic\": \"{P}.events\", \"type\": \"vr.go\","
	"            \"key\": \"/order_id\"}},"
	"  {\"name\": \"c\", \"needs\": [\"b\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"c.do\"},"
	"   \"success\": [\"c.done\"]}"
	" ]}";

/* v3: a is called a3. */
static const char v3[] =
	"{\"name\": \"vr\", \"version\": 3,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"vr.start\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a3\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"a.do\"},"
	"   \"success\": [\"a.done\"]},"
	"  {\"name\": \"b\", \"needs\": [\"a3\"],"
	"   \"wait\": {\"topic\": \"{P}.events\", \"type\": \"vr.go\","
	"            \"key\": \"/order_id\"}}"
	" ]}";

static void
send(struct orc_it_scene *s, const char *topic, const char *type,
     const char *key)
{
	char data[128], id[64];

	snprintf(data, sizeof(data), "{\"order_id\":\"%s\"}", key);
	snprintf(id, sizeof(id), "%s-%s", type, key);
	orc_it_scene_event(s, topic, key, id, type, data, NULL, NULL, NULL);
}

/* Wait until `run` (process 0) logged that it picked up a definition. */
static void
await_refresh(struct orc_it_scene *s, int times)
{
	int64_t deadline = orc_clock_mono_ms() + WAIT_MS;

	for (;;) {
		char line[4096];
		int n = 0;
		FILE *f = fopen(s->procs[0].log, "r");

		while (f != NULL && fgets(line, sizeof(line), f) != NULL)
			if (strstr(line, "definitions changed") != NULL)
				n++;
		if (f != NULL)
			fclose(f);
		if (n >= times)
			return;
		if (orc_clock_mono_ms() > deadline)
			orc_it_scene_fail(s, "run never picked up version %d",
					  times + 1);
		orc_clock_sleep_ms(200, NULL);
	}
}

/* Sagas waiting at b, of version v. */
static void
await_waiting(struct orc_it_scene *s, int n, int v)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) = %d FROM sagas g JOIN saga_steps t ON"
		 " t.saga_id = g.id WHERE t.step_name = 'b' AND t.status ="
		 " 'running' AND g.definition_version = %d",
		 n, v);
	orc_it_scene_await(s, WAIT_MS, "sagas waiting at b", sql);
}

START_TEST(test_versions_and_migration)
{
	static const char *const topics[] = {"orders", "work", "events"};
	static const char *const rules[] = {"--rule", "a.do=succeed:a.done",
					    "--rule", "c.do=succeed:c.done",
					    NULL};
	struct orc_it_scene s;
	char out[16384];
	int rc;

	orc_it_scene_start(&s, topics, 3, v1, "work", rules);
	send(&s, "orders", "vr.start", "k1");
	send(&s, "orders", "vr.start", "k2");
	orc_it_scene_flush(&s);
	await_waiting(&s, 2, 1);

	/* version 2 while they run: new sagas start on it */
	orc_it_scene_load(&s, v2);
	await_refresh(&s, 1);
	send(&s, "orders", "vr.start", "k3");
	orc_it_scene_flush(&s);
	await_waiting(&s, 1, 2);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM sagas"
					       " WHERE definition_version = 1"),
			 2);
	send(&s, "events", "vr.go", "k1");
	send(&s, "events", "vr.go", "k3");
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "k1 (v1) and k3 (v2) completed",
			   "SELECT count(*) = 2 FROM sagas WHERE status ="
			   " 'completed'");
	/* k1 finished on version 1's steps: no c */
	orc_it_expect(&s, "1:a,b 2:a,b,c", "the steps each version ran",
		      orc_it_scene_value(&s,
			"SELECT string_agg(v, ' ' ORDER BY v) FROM (SELECT"
			" g.definition_version || ':' || string_agg(t.step_name,"
			" ',' ORDER BY t.step_name) AS v FROM sagas g JOIN"
			" saga_steps t ON t.saga_id = g.id WHERE g.status ="
			" 'completed' GROUP BY g.id, g.definition_version) x"));

	/* what changed */
	{
		const char *args[] = {"definitions", "diff", "vr", "1", "2",
				      NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 0 || strstr(out, "vr: version 1 -> 2") == NULL ||
		    strstr(out, "  + step c") == NULL)
			orc_it_scene_fail(&s, "diff exited %d:\n%s", rc, out);
	}

	/* k2 is still on version 1, waiting at b: the dry run changes nothing */
	{
		const char *args[] = {"migrate-sagas", "vr", "--from", "1",
				      "--to", "2", "--dry-run", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 0 || strstr(out, "can move 1, cannot move 0") == NULL)
			orc_it_scene_fail(&s, "dry run exited %d:\n%s", rc, out);
	}
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM sagas"
					       " WHERE business_key = 'k2' AND"
					       " definition_version = 1"),
			 1);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					       " saga_history WHERE kind ="
					       " 'operator.migrate'"),
			 0);

	/* version 3 renames a, which k2 ran: refused, then with a map */
	orc_it_scene_load(&s, v3);
	{
		const char *args[] = {"migrate-sagas", "vr", "--from", "1",
				      "--to", "3", "--dry-run", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 1 || strstr(out, "step a has run (succeeded) and "
					   "version 3 has no step a") == NULL)
			orc_it_scene_fail(&s, "dry run to 3 exited %d:\n%s", rc,
					  out);
	}
	{
		const char *args[] = {"migrate-sagas", "vr", "--from", "1",
				      "--to", "3", "--map", "a=a3",
				      "--dry-run", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 0 || strstr(out, "can move 1") == NULL)
			orc_it_scene_fail(&s, "mapped dry run exited %d:\n%s",
					  rc, out);
	}

	/* the real move to 2: k2 then finishes with c */
	{
		const char *args[] = {"migrate-sagas", "vr", "--from", "1",
				      "--to", "2", "--by", "ann",
				      "--reason", "c is required now", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 0 || strstr(out, "moved 1, cannot move 0") == NULL)
			orc_it_scene_fail(&s, "migrate exited %d:\n%s", rc, out);
	}
	orc_it_expect(&s, "2 ann c is required now", "k2's version and audit",
		      orc_it_scene_value(&s,
			"SELECT g.definition_version || ' ' || a.by || ' ' ||"
			" a.reason FROM sagas g JOIN operator_actions a ON"
			" a.saga_id = g.id WHERE g.business_key = 'k2' AND"
			" a.action = 'migrate'"));
	send(&s, "events", "vr.go", "k2");
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "k2 completed on version 2",
			   "SELECT count(*) = 1 FROM sagas g JOIN saga_steps t"
			   " ON t.saga_id = g.id WHERE g.business_key = 'k2'"
			   " AND g.status = 'completed' AND t.step_name = 'c'"
			   " AND t.status = 'succeeded'");
	/* nothing left to move */
	{
		const char *args[] = {"migrate-sagas", "vr", "--from", "1",
				      "--to", "2", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 0 || strstr(out, "moved 0, cannot move 0, failed 0 "
					   "(of 0 sagas") == NULL)
			orc_it_scene_fail(&s, "second migrate exited %d:\n%s",
					  rc, out);
	}
	orc_it_scene_finish(&s);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(versions_and_migration),
	};

	return orc_it_run_suite("versions", cases,
				sizeof(cases) / sizeof(cases[0]), 120);
}
