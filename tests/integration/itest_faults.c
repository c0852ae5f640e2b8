/*
 * itest_faults.c - the guarantees under load and faults, with real
 * processes: two `orchestrator run` in one consumer group share the work
 * (events, outbox lanes and timers) and apply nothing twice; a `run`
 * killed with SIGKILL in the middle of 300 sagas loses nothing and applies
 * nothing twice once another one takes over, and every command keeps its
 * stable id however often it was published; an operator unsticks a stuck
 * saga and reruns a failed one with `retry`, starts one with `start` and
 * cancels it with `cancel`, all through the history.
 *
 * Invariants are checked afterwards in the saga tables and on the topics.
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

static void
triggers(struct orc_it_scene *s, const char *type, const char *prefix, int n)
{
	for (int k = 0; k < n; k++) {
		char key[32], id[48], data[64];

		snprintf(key, sizeof(key), "%s-%d", prefix, k);
		snprintf(id, sizeof(id), "trigger-%s", key);
		snprintf(data, sizeof(data), "{\"order_id\":\"%s\"}", key);
		orc_it_scene_event(s, "orders", key, id, type, data, NULL, NULL,
				   NULL);
	}
	orc_it_scene_flush(s);
}

/*
 * Every saga completed once: one saga.started and saga.completed each,
 * and one step.succeeded per step.
 */
static void
assert_each_applied_once(struct orc_it_scene *s, long sagas, long steps)
{
	ck_assert_int_eq(orc_it_scene_long(s, "SELECT count(*) FROM sagas"), sagas);
	ck_assert_int_eq(orc_it_scene_long(s,
			"SELECT count(*) FROM sagas WHERE status = 'completed'"),
		sagas);
	ck_assert_int_eq(orc_it_scene_long(s,
			"SELECT count(*) FROM saga_history WHERE kind = 'saga.started'"),
		sagas);
	ck_assert_int_eq(orc_it_scene_long(s,
			"SELECT count(*) FROM (SELECT saga_id FROM saga_history"
			" WHERE kind = 'saga.completed' GROUP BY 1"
			" HAVING count(*) = 1) x"),
		sagas);
	ck_assert_int_eq(orc_it_scene_long(s,
			"SELECT count(*) FROM saga_history WHERE kind = 'saga.completed'"),
		sagas);
	ck_assert_int_eq(orc_it_scene_long(s,
			"SELECT count(*) FROM (SELECT saga_id, step_name FROM"
			" saga_history WHERE kind = 'step.succeeded' GROUP BY 1, 2"
			" HAVING count(*) = 1) x"),
		sagas * steps);
	ck_assert_int_eq(orc_it_scene_long(s,
			"SELECT count(*) FROM saga_history WHERE kind = 'step.succeeded'"),
		sagas * steps);
	ck_assert_int_eq(orc_it_scene_long(s,
			"SELECT count(*) FROM saga_steps WHERE status = 'succeeded'"
			" AND attempt <= 1"),
		sagas * steps);
	ck_assert_int_eq(orc_it_scene_long(s, "SELECT count(*) FROM dead_letters"),
			 0);
}

/* Counter name in the last "stats" line of a `run` log; -1 if none. */
static long
final_stat(const char *log, const char *name)
{
	FILE *f = fopen(log, "r");
	char line[4096], last[4096] = "", key[64];
	const char *p;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, " msg=stats ") != NULL)
			snprintf(last, sizeof(last), "%s", line);
	fclose(f);
	snprintf(key, sizeof(key), " %s=", name);
	p = strstr(last, key);
	return p != NULL ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* ---- 10. two processes in one consumer group ---- */

static const char load_def[] =
	"{\"name\": \"load\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"reserve\", \"command\": {\"topic\": \"{P}.work\","
	"   \"type\": \"reserve.do\", \"data\": {\"order\": \"${/saga/key}\"}},"
	"   \"success\": [\"reserve.done\"]},"
	"  {\"name\": \"pause\", \"needs\": [\"reserve\"], \"delay\": \"100ms\"},"
	"  {\"name\": \"ship\", \"needs\": [\"pause\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"ship.do\"},"
	"   \"success\": [\"ship.done\"]}"
	" ]}";

#define LOAD_SAGAS 200

START_TEST(test_two_processes_share_the_load)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "reserve.do=succeed:reserve.done",
		"--rule", "ship.do=delay:10:ship.done", NULL};
	struct orc_it_scene s;
	int runs[2], members = 0, fewest = 0;
	long applied[2], total = 0, timers = 0;
	int64_t deadline;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, load_def);
	runs[0] = orc_it_scene_run(&s, "run-a", NULL);
	runs[1] = orc_it_scene_run(&s, "run-b", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);
	/*
	 * Both members hold partitions before the load comes (of the
	 * trigger topic, or of the reply topic, or both: the assignor
	 * balances the count over both topics).  A broker just started may
	 * take a while to load the group coordinator: a minute at most.
	 */
	deadline = orc_clock_mono_ms() + 60000;
	for (;;) {
		members = orc_it_group_members(s.group, NULL, &fewest);
		if (members == 2 && fewest >= 2)
			break;
		if (orc_clock_mono_ms() > deadline)
			orc_it_scene_fail(&s, "group %s: %d members, fewest partitions"
					  " %d", s.group, members, fewest);
		orc_clock_sleep_ms(200, NULL);
	}
	triggers(&s, "order.placed", "l", LOAD_SAGAS);
	orc_it_scene_await(&s, WAIT_MS, "200 sagas completed",
			   "SELECT count(*) = 200 FROM sagas WHERE status = 'completed'");
	assert_each_applied_once(&s, LOAD_SAGAS, 3);
	orc_it_scene_await(&s, 10000, "an empty outbox",
			   "SELECT count(*) = 0 FROM outbox");

	for (int i = 0; i < 2; i++) {
		int rc = orc_it_scene_stop(&s, runs[i], SIGTERM);

		if (rc != 0)
			orc_it_scene_fail(&s, "%s exited %d on SIGTERM",
					  s.procs[runs[i]].name, rc);
		applied[i] = final_stat(s.procs[runs[i]].log, "applied");
		total += applied[i];
		timers += final_stat(s.procs[runs[i]].log, "timers");
	}
	/* both worked; together they applied each event exactly once: a
	 * trigger and two replies per saga */
	if (applied[0] <= 0 || applied[1] <= 0 || total != 3 * LOAD_SAGAS)
		orc_it_scene_fail(&s, "applied %ld and %ld events, expected both > 0"
				  " and %d in all", applied[0], applied[1],
				  3 * LOAD_SAGAS);
	/* the inbox holds the triggers; each reply is kept by its step */
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM inbox"),
			 LOAD_SAGAS);
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM saga_steps"
			" WHERE jsonb_array_length(replies) = 1"),
			 2 * LOAD_SAGAS);
	/* each saga's delay fired once, by one process or the other */
	if (timers != LOAD_SAGAS)
		orc_it_scene_fail(&s, "%ld timer firings, expected %d", timers,
				  LOAD_SAGAS);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 11. kill -9 in the middle ---- */

static const char crash_def[] =
	"{\"name\": \"crash\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"s1\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"s1.do\"},"
	"   \"success\": [\"s1.done\"]},"
	"  {\"name\": \"s2\", \"needs\": [\"s1\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"s2.do\"},"
	"   \"success\": [\"s2.done\"]},"
	"  {\"name\": \"s3\", \"needs\": [\"s2\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"s3.do\"},"
	"   \"success\": [\"s3.done\"]}"
	" ]}";

#define CRASH_SAGAS 300

START_TEST(test_kill_9_loses_nothing)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "s1.do=delay:20:s1.done",
		"--rule", "s2.do=delay:20:s2.done",
		"--rule", "s3.do=delay:20:s3.done", NULL};
	/* the dead member must leave the group soon, not after 45 s */
	static const char *const env[] = {"ORC_KAFKA_SESSION_TIMEOUT_MS=6000",
					  "ORC_KAFKA_HEARTBEAT_INTERVAL_MS=500",
					  NULL};
	struct orc_it_scene s;
	int first, rc, waves = 0;
	long done_at_kill = 0, started;
	int64_t deadline;
	json_t *cmds, *m, *seen;
	size_t i;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, crash_def);
	first = orc_it_scene_run(&s, "run-a", env);
	orc_it_scene_responder(&s, "services", "work", rules);
	/*
	 * Triggers come in waves, so that at the kill some sagas are done,
	 * some half way and some not started; the last wave comes while no
	 * `run` is alive.
	 */
	while (waves < 9) {
		char prefix[16];

		snprintf(prefix, sizeof(prefix), "k%d", waves++);
		triggers(&s, "order.placed", prefix, CRASH_SAGAS / 10);
		done_at_kill = orc_it_scene_long(&s,
			"SELECT count(*) FROM sagas WHERE status = 'completed'");
		if (waves >= 3 && done_at_kill > 0)
			break;
		orc_clock_sleep_ms(150, NULL);
	}
	deadline = orc_clock_mono_ms() + WAIT_MS;
	while (done_at_kill == 0) {
		if (orc_clock_mono_ms() > deadline)
			orc_it_scene_fail(&s, "no saga completed before the kill");
		orc_clock_sleep_ms(10, NULL);
		done_at_kill = orc_it_scene_long(&s,
			"SELECT count(*) FROM sagas WHERE status = 'completed'");
	}
	rc = orc_it_scene_stop(&s, first, SIGKILL);
	ck_assert_int_eq(rc, 128 + SIGKILL);
	started = orc_it_scene_long(&s, "SELECT count(*) FROM sagas");
	done_at_kill = orc_it_scene_long(&s,
		"SELECT count(*) FROM sagas WHERE status = 'completed'");
	while (waves < 10) {
		char prefix[16];

		snprintf(prefix, sizeof(prefix), "k%d", waves++);
		triggers(&s, "order.placed", prefix, CRASH_SAGAS / 10);
	}
	fprintf(stderr, "kill -9 with %ld of %d sagas started, %ld completed\n",
		started, CRASH_SAGAS, done_at_kill);
	if (done_at_kill >= CRASH_SAGAS)
		orc_it_scene_fail(&s, "every saga completed before the kill");

	orc_it_scene_run(&s, "run-b", env);
	orc_it_scene_await(&s, WAIT_MS, "300 sagas completed after the restart",
			   "SELECT count(*) = 300 FROM sagas WHERE status = 'completed'");
	assert_each_applied_once(&s, CRASH_SAGAS, 3);
	orc_it_scene_await(&s, 10000, "an empty outbox",
			   "SELECT count(*) = 0 FROM outbox");

	/* every command at least once, every copy under the same id */
	cmds = orc_it_scene_collect(&s, "work", 3 * CRASH_SAGAS, 40000, 2000);
	seen = json_object();
	json_array_foreach(cmds, i, m) {
		const char *sagaid = orc_it_header(m, "ce_sagaid");
		const char *step = orc_it_header(m, "ce_sagastep");
		const char *id = orc_it_header(m, "ce_id");
		char expect[128], type[16];

		ck_assert_ptr_nonnull(sagaid);
		ck_assert_ptr_nonnull(step);
		snprintf(expect, sizeof(expect), "%s/%s/action/1", sagaid, step);
		snprintf(type, sizeof(type), "%s.do", step);
		if (strcmp(id, expect) != 0)
			orc_it_scene_fail(&s, "command %s of saga %s step %s:"
					  " unstable id", id, sagaid, step);
		ck_assert_str_eq(orc_it_header(m, "ce_type"), type);
		ck_assert_str_eq(orc_it_json_str(m, "key"), sagaid);
		json_object_set_new(seen, expect, json_true());
	}
	fprintf(stderr, "%zu commands consumed, %zu distinct\n",
		json_array_size(cmds), json_object_size(seen));
	if (json_object_size(seen) != 3 * CRASH_SAGAS)
		orc_it_scene_fail(&s, "%zu distinct commands, expected %d",
				  json_object_size(seen), 3 * CRASH_SAGAS);
	ck_assert_int_eq(orc_it_scene_long(&s,
			"SELECT count(*) FROM sagas g WHERE NOT EXISTS (SELECT 1 FROM"
			" saga_steps t WHERE t.saga_id = g.id AND t.status <> 'succeeded')"
			" AND (SELECT count(*) FROM saga_steps t WHERE t.saga_id = g.id)"
			" = 3"),
		CRASH_SAGAS);
	json_decref(seen);
	json_decref(cmds);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- 12. operator commands: retry (stuck, failed), start, cancel ---- */

static const char op_def[] =
	"{\"name\": \"op\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"a.do\"},"
	"   \"success\": [\"a.done\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"a.undo\","
	"                     \"success\": [\"a.undone\"], \"timeout\": \"300ms\","
	"                     \"retry\": {\"max_attempts\": 1}}},"
	"  {\"name\": \"b\", \"needs\": [\"a\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"b.do\"},"
	"   \"success\": [\"b.done\"], \"failure\": [\"b.rejected\"]}"
	" ]}";

static const char op_cancel_def[] =
	"{\"name\": \"op_cancel\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.cancelable\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"ca.do\"},"
	"   \"success\": [\"ca.done\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"ca.undo\","
	"                     \"success\": [\"ca.undone\"]}},"
	"  {\"name\": \"hold\", \"needs\": [\"a\"],"
	"   \"wait\": {\"topic\": \"{P}.reviews\", \"type\": \"hold.released\","
	"            \"key\": \"/order_id\", \"timeout\": \"5m\"}},"
	"  {\"name\": \"c\", \"needs\": [\"hold\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"cc.do\"},"
	"   \"success\": [\"cc.done\"]}"
	" ]}";

static const char op_rerun_def[] =
	"{\"name\": \"op_rerun\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.rerun\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"first\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"r1.do\"},"
	"   \"success\": [\"r1.done\"]},"
	"  {\"name\": \"flaky\", \"needs\": [\"first\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"rf.do\"},"
	"   \"success\": [\"rf.done\"], \"failure\": [\"rf.failed\"]}"
	" ]}";

static char *
history_of(struct orc_it_scene *s, const char *id)
{
	return orc_it_scene_value(s,
		"SELECT string_agg(kind || coalesce(':' || step_name, ''), ','"
		" ORDER BY id, n) FROM saga_history WHERE saga_id = '%s'", id);
}

START_TEST(test_operator_retry_and_cancel)
{
	static const char *const topics[] = {"orders", "work", "reviews"};
	static const char *const rules[] = {
		"--rule", "a.do=succeed:a.done",
		"--rule", "b.do=fail:b.rejected",
		/* the first compensation of each saga goes unanswered */
		"--rule", "a.undo=fail-first:1:silence:a.undone",
		"--rule", "ca.do=succeed:ca.done",
		"--rule", "ca.undo=succeed:ca.undone",
		"--rule", "cc.do=succeed:cc.done",
		"--rule", "r1.do=succeed:r1.done",
		/* the first attempt of each saga fails */
		"--rule", "rf.do=fail-first:1:rf.failed:rf.done", NULL};
	struct orc_it_scene s;
	char out[8192], stuck[40], running[40], failed[40];
	const char *p;
	json_t *cmds, *m;
	size_t i;
	int rc, undo = 0, rerun = 0;

	orc_it_scene_init(&s, topics, 3);
	orc_it_scene_load(&s, op_def);
	orc_it_scene_load(&s, op_cancel_def);
	orc_it_scene_load(&s, op_rerun_def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);

	/* b fails, a's compensation times out with no attempt left: stuck */
	orc_it_scene_event(&s, "orders", "s-1", "trigger-s-1", "order.placed",
			   "{\"order_id\":\"s-1\"}", NULL, NULL, NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "s-1 stuck",
			   "SELECT count(*) = 1 FROM sagas WHERE business_key = 's-1'"
			   " AND status = 'stuck'");
	p = orc_it_scene_value(&s, "SELECT id FROM sagas WHERE business_key = 's-1'");
	snprintf(stuck, sizeof(stuck), "%s", p);
	free((char *)p);
	orc_it_expect(&s, "compensation of a failed: timed out (1 attempts)",
		      "why it is stuck",
		      orc_it_scene_value(&s,
			"SELECT failure FROM sagas WHERE id = '%s'", stuck));
	orc_it_expect(&s, "a=compensating b=failed",
		      "the steps of the stuck saga",
		      orc_it_scene_value(&s,
			"SELECT string_agg(step_name || '=' || status, ' '"
			" ORDER BY step_name) FROM saga_steps WHERE saga_id = '%s'",
			stuck));
	{
		const char *args[] = {"retry", stuck, "--reason",
				      "undo service is back", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 0 || strstr(out, "retry applied") == NULL)
			orc_it_scene_fail(&s, "retry exited %d: %s", rc, out);
	}
	orc_it_scene_await(&s, WAIT_MS, "s-1 compensated after the retry",
			   "SELECT count(*) = 1 FROM sagas WHERE business_key = 's-1'"
			   " AND status = 'compensated'");
	orc_it_expect(&s,
		      "saga.started,step.started:a,step.succeeded:a,"
		      "step.started:b,step.failed:b,saga.compensating,"
		      "compensation.started:a,compensation.timed_out:a,"
		      "compensation.failed:a,saga.stuck,operator.retry,saga.retried,"
		      "compensation.started:a,compensation.succeeded:a,"
		      "saga.compensated",
		      "s-1's history", history_of(&s, stuck));
	orc_it_expect(&s, "undo service is back", "the operator's reason",
		      orc_it_scene_value(&s,
			"SELECT detail->>'reason' FROM saga_history WHERE saga_id = '%s'"
			" AND kind = 'saga.retried'", stuck));
	orc_it_expect(&s, "compensated 2", "a's compensation attempts",
		      orc_it_scene_value(&s,
			"SELECT status || ' ' || compensation_attempt FROM saga_steps"
			" WHERE saga_id = '%s' AND step_name = 'a'", stuck));

	/* a saga started by an operator, then cancelled while it waits */
	{
		const char *args[] = {"start", "op_cancel", "--input",
				      "{\"order_id\": \"c-1\"}", "--json", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		p = strstr(out, "\"saga_id\": \"");
		if (rc != 0 || p == NULL)
			orc_it_scene_fail(&s, "start exited %d: %s", rc, out);
		snprintf(running, sizeof(running), "%.36s", p + strlen("\"saga_id\": \""));
	}
	orc_it_scene_await(&s, WAIT_MS, "c-1 waiting in hold",
			   "SELECT count(*) = 1 FROM saga_steps t JOIN sagas g ON"
			   " g.id = t.saga_id WHERE g.business_key = 'c-1' AND"
			   " t.step_name = 'hold' AND t.status = 'running'");
	orc_it_expect(&s, running, "the started saga's id",
		      orc_it_scene_value(&s,
			"SELECT id FROM sagas WHERE business_key = 'c-1'"));
	{
		const char *args[] = {"cancel", running, "--reason", "customer asked",
				      NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 0 || strstr(out, "cancel applied") == NULL)
			orc_it_scene_fail(&s, "cancel exited %d: %s", rc, out);
	}
	orc_it_scene_await(&s, WAIT_MS, "c-1 cancelled",
			   "SELECT count(*) = 1 FROM sagas WHERE business_key = 'c-1'"
			   " AND status = 'cancelled'");
	orc_it_expect(&s, "cancel|cancelled: customer asked",
		      "cause and reason",
		      orc_it_scene_value(&s,
			"SELECT failing_reason || '|' || failure FROM sagas"
			" WHERE id = '%s'", running));
	/* c never started: it has no row (pending) */
	orc_it_expect(&s, "a=compensated hold=failed/aborted",
		      "the cancelled saga's steps",
		      orc_it_scene_value(&s,
			"SELECT string_agg(step_name || '=' || status ||"
			" coalesce('/' || last_error, ''), ' ' ORDER BY step_name)"
			" FROM saga_steps WHERE saga_id = '%s'", running));
	orc_it_expect(&s,
		      "saga.started,step.started:a,step.succeeded:a,"
		      "step.started:hold,operator.cancel,saga.compensating,"
		      "step.aborted:hold,"
		      "compensation.started:a,compensation.succeeded:a,"
		      "saga.cancelled",
		      "c-1's history", history_of(&s, running));
	orc_it_expect(&s, "cancel|cancelled: customer asked",
		      "the operator's entry",
		      orc_it_scene_value(&s,
			"SELECT concat_ws('|', detail->>'cause', detail->>'reason')"
			" FROM saga_history WHERE saga_id = '%s'"
			" AND kind = 'saga.compensating'", running));
	/* the operator still sees c, from the definition, as pending */
	{
		const char *args[] = {"status", running, "--json", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 0 || strstr(out, "\"name\": \"c\"") == NULL ||
		    strstr(out, "\"status\": \"pending\"") == NULL)
			orc_it_scene_fail(&s, "status exited %d: %s", rc, out);
	}
	/* what is over cannot be cancelled again */
	{
		const char *args[] = {"cancel", running, NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc == 0 || strstr(out, "it is cancelled; cancel takes a "
					   "running or stuck saga") == NULL)
			orc_it_scene_fail(&s, "second cancel exited %d: %s", rc, out);
	}

	/* a failed saga (nothing to undo) reruns from where it stopped */
	orc_it_scene_event(&s, "orders", "f-1", "trigger-f-1", "order.rerun",
			   "{\"order_id\":\"f-1\"}", NULL, NULL, NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "f-1 failed",
			   "SELECT count(*) = 1 FROM sagas WHERE business_key = 'f-1'"
			   " AND status = 'failed'");
	p = orc_it_scene_value(&s, "SELECT id FROM sagas WHERE business_key = 'f-1'");
	snprintf(failed, sizeof(failed), "%s", p);
	free((char *)p);
	orc_it_expect(&s, "failure|flaky: rf.failed", "f-1's failure",
		      orc_it_scene_value(&s,
			"SELECT failing_reason || '|' || failure FROM sagas"
			" WHERE id = '%s'", failed));
	{
		const char *args[] = {"retry", failed, NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		if (rc != 0 || strstr(out, "retry applied") == NULL)
			orc_it_scene_fail(&s, "retry of f-1 exited %d: %s", rc, out);
	}
	orc_it_scene_await(&s, WAIT_MS, "f-1 completed after the retry",
			   "SELECT count(*) = 1 FROM sagas WHERE business_key = 'f-1'"
			   " AND status = 'completed'");
	orc_it_expect(&s, "first=succeeded/1 flaky=succeeded/2", "f-1's steps",
		      orc_it_scene_value(&s,
			"SELECT string_agg(step_name || '=' || status || '/' || attempt,"
			" ' ' ORDER BY step_name) FROM saga_steps WHERE saga_id = '%s'",
			failed));
	orc_it_expect(&s,
		      "saga.started,step.started:first,step.succeeded:first,"
		      "step.started:flaky,step.failed:flaky,saga.compensating,"
		      "saga.failed,operator.retry,saga.retried,step.started:flaky,"
		      "step.succeeded:flaky,saga.completed",
		      "f-1's history", history_of(&s, failed));

	/*
	 * The commands: a's compensation attempt 1 unanswered, attempt 2
	 * after the retry; flaky's action attempt 2 after the rerun; each
	 * under its own id.  Nothing else was sent (cc.do never).
	 */
	cmds = orc_it_scene_collect(&s, "work", 9, 30000, 1500);
	json_array_foreach(cmds, i, m) {
		char expect[128];

		if (strcmp(orc_it_header(m, "ce_type"), "a.undo") == 0) {
			undo++;
			snprintf(expect, sizeof(expect), "%s/a/compensation/%d", stuck,
				 undo);
			ck_assert_str_eq(orc_it_header(m, "ce_id"), expect);
		} else if (strcmp(orc_it_header(m, "ce_type"), "rf.do") == 0) {
			rerun++;
			snprintf(expect, sizeof(expect), "%s/flaky/action/%d", failed,
				 rerun);
			ck_assert_str_eq(orc_it_header(m, "ce_id"), expect);
		}
	}
	ck_assert_int_eq(undo, 2);
	ck_assert_int_eq(rerun, 2);
	/* a.do, b.do, 2 a.undo, ca.do, ca.undo, r1.do, 2 rf.do */
	ck_assert_uint_eq(json_array_size(cmds), 9);
	json_decref(cmds);
	orc_it_scene_finish(&s);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(two_processes_share_the_load),
		ORC_IT_CASE(kill_9_loses_nothing),
		ORC_IT_CASE(operator_retry_and_cancel),
	};

	return orc_it_run_suite("faults", cases, sizeof(cases) / sizeof(cases[0]),
				150);
}
