/*
 * itest_membership.c - how long a kill -9 stops the partitions of the dead
 * process, with two `orchestrator run` in one consumer group on topics of
 * 4 partitions each.
 *
 * - Taken over: member b is killed while sagas flow; the survivor a must
 *   consume b's partitions (every saga of a burst sent after the kill
 *   completes) within session_timeout_ms (10 s) + 10 s.
 * - Back: b runs again, is killed and restarted at once with the same
 *   instance_id; as a static member it gets its partitions back without a
 *   rebalance, so the burst completes within the session timeout and a
 *   sees no partition move.
 * - Left: b stopped with SIGTERM leaves the group on its way out (the
 *   consumer unsubscribes before it closes), so its partitions move
 *   at once (within 8 s, less than the session), static member or not.
 *
 * - Shared: two processes under one instance id; the one the broker fences
 *   says so, naming the setting.
 *
 * The figures go to stderr.  ORC_IT_MEMBERSHIP=dynamic measures the old
 * configuration instead (no instance id, librdkafka's 45 s session) and
 * asserts nothing about the times.
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "harness.h"

#define SESSION_MS 10000 /* session_timeout_ms's default */
#define BURST 40	 /* sagas per burst: every partition gets some */

static const char pay_def[] =
	"{\"name\": \"pay\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"pay\", \"command\": {\"topic\": \"{P}.work\","
	"   \"type\": \"pay.do\"}, \"success\": [\"pay.done\"]}"
	" ]}";

static bool
dynamic(void)
{
	const char *m = getenv("ORC_IT_MEMBERSHIP");

	return m != NULL && strcmp(m, "dynamic") == 0;
}

/* `run` as member name (instance id <prefix>-<name>, unless dynamic). */
static int
member(struct orc_it_scene *s, const char *name)
{
	char id[96];
	const char *env[] = {id, NULL};
	const char *old[] = {"ORC_INSTANCE_ID=",
			     "ORC_SESSION_TIMEOUT_MS=45000", NULL};

	snprintf(id, sizeof(id), "ORC_INSTANCE_ID=%s-%s", s->prefix, name);
	return orc_it_scene_run(s, name, dynamic() ? old : env);
}

/* BURST triggers keyed <tag>-<k>, acknowledged. */
static void
burst(struct orc_it_scene *s, const char *tag)
{
	for (int k = 0; k < BURST; k++) {
		char key[32], id[48], data[64];

		snprintf(key, sizeof(key), "%s-%d", tag, k);
		snprintf(id, sizeof(id), "trigger-%s", key);
		snprintf(data, sizeof(data), "{\"order_id\":\"%s\"}", key);
		orc_it_scene_event(s, "orders", key, id, "order.placed", data,
				   NULL, NULL, NULL);
	}
	orc_it_scene_flush(s);
}

/* Wait until n sagas completed; the milliseconds since since_ms. */
static int64_t
completed(struct orc_it_scene *s, long n, int64_t since_ms, int timeout_ms)
{
	char sql[128];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) >= %ld FROM sagas WHERE status = 'completed'",
		 n);
	orc_it_scene_await(s, timeout_ms, "the burst completed", sql);
	return orc_clock_mono_ms() - since_ms;
}

/* Wait until the group is stable with members, each holding partitions. */
static void
await_group(struct orc_it_scene *s, int members, int timeout_ms)
{
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;
	int n = 0, least = 0;

	while ((n = orc_it_group_members(s->group, NULL, &least)) != members ||
	       least == 0) {
		if (orc_clock_mono_ms() > deadline)
			orc_it_scene_fail(s, "group: %d members (fewest"
					  " partitions %d), expected %d",
					  n, least, members);
		orc_clock_sleep_ms(250, NULL);
	}
}

/* How many partition moves (assigned or revoked) the log shows. */
static int
moves(const char *log)
{
	FILE *f = fopen(log, "r");
	char line[4096];
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "partitions assigned") != NULL ||
		    strstr(line, "partitions revoked") != NULL)
			n++;
	fclose(f);
	return n;
}

/* Wait until process idx was assigned partitions. */
static void
await_moves(struct orc_it_scene *s, int idx, int timeout_ms)
{
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;

	while (moves(s->procs[idx].log) <= 0) {
		if (orc_clock_mono_ms() > deadline)
			orc_it_scene_fail(s, "%s was never assigned partitions",
					  s->procs[idx].name);
		orc_clock_sleep_ms(250, NULL);
	}
}

START_TEST(test_kill_9_stall)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "pay.do=succeed:pay.done", NULL};
	struct orc_it_scene s;
	int a, b, a_moves;
	int64_t killed, taken_over, back, left;
	long done = 0;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, pay_def);
	orc_it_scene_responder(&s, "services", "work", rules);
	a = member(&s, "a");
	/* a fresh broker loads its group coordinator first: wait on the log */
	await_moves(&s, a, 120000);
	await_group(&s, 1, 60000);
	b = member(&s, "b");
	await_group(&s, 2, 60000);
	burst(&s, "warm");
	completed(&s, done += BURST, orc_clock_mono_ms(), 30000);

	/* taken over: b dies with sagas in flight */
	burst(&s, "flying");
	killed = orc_clock_mono_ms();
	ck_assert_int_eq(orc_it_scene_stop(&s, b, SIGKILL), 128 + SIGKILL);
	burst(&s, "after-kill");
	taken_over = completed(&s, done += 2 * BURST, killed, 180000);
	fprintf(stderr, "%s: kill -9, the survivor consumed the dead member's"
		" partitions after %lld ms\n",
		dynamic() ? "dynamic, 45 s session" : "static, 10 s session",
		(long long)taken_over);
	await_group(&s, 1, 60000);

	/* back: b again, killed, restarted at once under the same id */
	b = member(&s, "b");
	await_group(&s, 2, 60000);
	burst(&s, "rejoined");
	completed(&s, done += BURST, orc_clock_mono_ms(), 30000);
	a_moves = moves(s.procs[a].log);
	killed = orc_clock_mono_ms();
	ck_assert_int_eq(orc_it_scene_stop(&s, b, SIGKILL), 128 + SIGKILL);
	b = member(&s, "b");
	burst(&s, "restarted");
	back = completed(&s, done += BURST, killed, 180000);
	a_moves = moves(s.procs[a].log) - a_moves;
	fprintf(stderr, "%s: kill -9 and restart, every partition consumed"
		" again after %lld ms; the survivor saw %d partition moves\n",
		dynamic() ? "dynamic, 45 s session" : "static, 10 s session",
		(long long)back, a_moves);
	/* a graceful stop: the member leaves the group on its way out */
	await_group(&s, 2, 60000);
	killed = orc_clock_mono_ms();
	ck_assert_int_eq(orc_it_scene_stop(&s, b, SIGTERM), 0);
	burst(&s, "left");
	left = completed(&s, done += BURST, killed, 180000);
	fprintf(stderr, "%s: SIGTERM, the survivor consumed the member's"
		" partitions after %lld ms\n",
		dynamic() ? "dynamic, 45 s session" : "static, 10 s session",
		(long long)left);
	if (!dynamic()) {
		if (left > 8000)
			orc_it_scene_fail(&s, "after a graceful stop the"
					  " partitions moved after %lld ms",
					  (long long)left);
		if (taken_over > SESSION_MS + 10000)
			orc_it_scene_fail(&s, "the dead member's partitions"
					  " moved after %lld ms, expected at"
					  " most %d", (long long)taken_over,
					  SESSION_MS + 10000);
		if (back > SESSION_MS)
			orc_it_scene_fail(&s, "the restarted member consumed"
					  " again after %lld ms, expected"
					  " under %d", (long long)back,
					  SESSION_MS);
		if (a_moves != 0)
			orc_it_scene_fail(&s, "the survivor's partitions moved"
					  " while b restarted under its id");
	}
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM sagas"),
			 done);
	orc_it_scene_finish(&s);
}
END_TEST

/* Whether file path holds text. */
static bool
log_has(const char *path, const char *text)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

/*
 * Two processes under one instance id: the broker fences one, which must
 * say why (the hint names the setting) rather than die unexplained.
 */
START_TEST(test_shared_instance_id_is_named)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const env[] = {"ORC_INSTANCE_ID=twin", NULL};
	struct orc_it_scene s;
	int run[2];
	int64_t deadline;

	if (dynamic())
		return;
	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, pay_def);
	run[0] = orc_it_scene_run(&s, "twin-1", env);
	await_moves(&s, run[0], 120000);
	run[1] = orc_it_scene_run(&s, "twin-2", env);
	deadline = orc_clock_mono_ms() + 60000;
	while (!log_has(s.procs[run[0]].log, "same instance_id") &&
	       !log_has(s.procs[run[1]].log, "same instance_id")) {
		if (orc_clock_mono_ms() > deadline)
			orc_it_scene_fail(&s, "no process said it was fenced"
					  " for its instance id");
		orc_clock_sleep_ms(250, NULL);
	}
	orc_it_scene_finish(&s);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(kill_9_stall),
		ORC_IT_CASE(shared_instance_id_is_named),
	};

	return orc_it_run_suite("consumer group membership", cases,
				sizeof(cases) / sizeof(cases[0]), 600);
}
