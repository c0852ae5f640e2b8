/*
 * itest_map.c - map steps on the real stack: one command per item, the
 * items stored as rows, the result in input order, per-item retries, and
 * compensation of the succeeded items.
 *
 *   ten_thousand_items   a map of 10,000 items, max_concurrency 50: every
 *                        item is a row of saga_map_items, never more than
 *                        50 in flight, one command per item published
 *                        with its sagastep "reserve[<i>]", the result an
 *                        array of 10,000 replies in input order, the next
 *                        step runs after it;
 *   retry_then_compensate  each item fails once (retryable) and succeeds
 *                        on its second attempt; then a later step fails:
 *                        every item is compensated, latest completion
 *                        first, at most max_concurrency at a time;
 *   map_fails            items fail at random (fixed seed, one at a time):
 *                        once min_success cannot be reached the map fails,
 *                        no further item starts, the items that succeeded
 *                        are compensated and the saga ends compensated.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define WAIT_MS 240000

static const char big_def[] =
	"{\"name\": \"map_big\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"big.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"reserve\","
	"   \"map\": {\"items\": \"${/input/items}\","
	"            \"max_concurrency\": \"${/input/parallel}\"},"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"item.reserve\","
	"     \"data\": {\"sku\": \"${/item/sku}\", \"n\": \"${/index}\","
	"               \"order\": \"${/input/order_id}\"}},"
	"   \"success\": [\"item.reserved\"], \"timeout\": \"2m\"},"
	"  {\"name\": \"ship\", \"needs\": [\"reserve\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"order.ship\","
	"     \"data\": {\"first\": \"${/steps/reserve/0/command_id}\"}},"
	"   \"success\": [\"order.shipped\"]}"
	" ]}";

/* A trigger for key with n items {"sku": "s<i>"} and concurrency c. */
static void
trigger(struct orc_it_scene *s, const char *type, const char *key, int n,
	int c)
{
	size_t cap = (size_t)n * 24 + 128, len = 0;
	char *data = malloc(cap), id[64];

	ck_assert_ptr_nonnull(data);
	len += (size_t)snprintf(data + len, cap - len,
				"{\"order_id\":\"%s\",\"parallel\":%d,"
				"\"items\":[",
				key, c);
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(data + len, cap - len,
					"%s{\"sku\":\"s%d\"}", i ? "," : "", i);
	snprintf(data + len, cap - len, "]}");
	snprintf(id, sizeof(id), "trigger-%s", key);
	orc_it_scene_event(s, "orders", key, id, type, data, NULL, NULL, NULL);
	free(data);
}

START_TEST(test_ten_thousand_items)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "item.reserve=succeed:item.reserved",
		"--rule", "order.ship=succeed:order.shipped", NULL};
	struct orc_it_scene s;
	char *id, *v;
	long peak = 0;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, big_def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);
	trigger(&s, "big.placed", "big-1", 10000, 50);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the map started",
			   "SELECT count(*) = 1 FROM saga_steps"
			   " WHERE step_name = 'reserve' AND map_items = 10000");
	/* the concurrency holds while it runs (sampled) */
	for (int k = 0; k < 40; k++) {
		long in_flight = orc_it_scene_long(
			&s, "SELECT count(*) FROM saga_map_items"
			    " WHERE status = 'running'");

		if (in_flight > peak)
			peak = in_flight;
		if (orc_it_scene_long(&s, "SELECT count(*) FROM sagas"
					  " WHERE status = 'completed'") == 1)
			break;
		orc_it_scene_long(&s, "SELECT count(*) FROM pg_sleep(0.2)");
	}
	if (peak > 50)
		orc_it_scene_fail(&s, "%ld items in flight, max_concurrency is "
				     "50", peak);
	orc_it_scene_await(&s, WAIT_MS, "the saga completed",
			   "SELECT count(*) = 1 FROM sagas"
			   " WHERE status = 'completed'");
	id = orc_it_scene_value(&s, "SELECT id FROM sagas");

	/* one row per item, all succeeded, each attempted once */
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					       " saga_map_items WHERE"
					       " status = 'succeeded'"
					       " AND attempt = 1"),
			 10000);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(DISTINCT"
					       " item_index) FROM saga_map_items"
					       " WHERE item_index BETWEEN 0"
					       " AND 9999"),
			 10000);
	v = orc_it_scene_value(&s, "SELECT concat_ws(',', items, started,"
				   " succeeded, failed, in_flight, status)"
				   " FROM map_steps");
	orc_it_expect(&s, "10000,10000,10000,0,0,succeeded", "map_steps", v);

	/* the result: 10,000 replies, in input order */
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT jsonb_array_length("
					       "output) FROM saga_steps WHERE"
					       " step_name = 'reserve'"),
			 10000);
	ck_assert_int_eq(
		orc_it_scene_long(&s, "SELECT count(*) FROM saga_steps t,"
				      " jsonb_array_elements(t.output)"
				      " WITH ORDINALITY AS e(v, n)"
				      " WHERE t.step_name = 'reserve'"
				      " AND e.v->>'command_id' = t.saga_id"
				      " || '/reserve[' || (e.n - 1) ||"
				      " ']/action/1'"),
		10000);
	/* ... and the next step ran after it */
	orc_it_expect(&s, "succeeded", "ship",
		      orc_it_scene_value(&s, "SELECT status FROM saga_steps"
					     " WHERE step_name = 'ship'"));
	/* every command published once, the outbox empty */
	orc_it_scene_await(&s, WAIT_MS, "the outbox drained",
			   "SELECT count(*) = 0 FROM outbox");
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					       " saga_history WHERE kind ="
					       " 'step.started' AND step_name ="
					       " 'reserve' AND detail ? 'item'"),
			 10000);
	free(id);
	orc_it_scene_finish(&s);
}
END_TEST

static const char retry_def[] =
	"{\"name\": \"map_retry\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"retry.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"reserve\","
	"   \"map\": {\"items\": \"${/input/items}\", \"max_concurrency\": 4},"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"r.reserve\","
	"     \"data\": {\"sku\": \"${/item/sku}\"}},"
	"   \"success\": [\"r.reserved\"], \"failure\": [\"r.busy\"],"
	"   \"retry\": {\"max_attempts\": 3, \"backoff\": \"50ms\","
	"             \"on\": [\"r.busy\"]},"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"r.release\","
	"     \"data\": {\"sku\": \"${/item/sku}\"},"
	"     \"success\": [\"r.released\"]}},"
	"  {\"name\": \"charge\", \"needs\": [\"reserve\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"r.charge\"},"
	"   \"success\": [\"r.charged\"], \"failure\": [\"r.declined\"]}"
	" ]}";

START_TEST(test_retry_then_compensate)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "r.reserve=fail-first:1:r.busy:r.reserved",
		"--rule", "r.release=succeed:r.released",
		"--rule", "r.charge=fail:r.declined", NULL};
	struct orc_it_scene s;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, retry_def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);
	trigger(&s, "retry.placed", "retry-1", 12, 0);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the saga compensated",
			   "SELECT count(*) = 1 FROM sagas"
			   " WHERE status = 'compensated'");
	/* every item took two attempts and was compensated once */
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					       " saga_map_items WHERE status ="
					       " 'compensated' AND attempt = 2"
					       " AND compensation_attempt = 1"),
			 12);
	orc_it_expect(&s, "compensated,12,12,0,12", "map_steps",
		      orc_it_scene_value(&s, "SELECT concat_ws(',', status,"
					     " items, succeeded, failed,"
					     " compensated) FROM map_steps"));
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					       " saga_history WHERE kind ="
					       " 'step.retry_scheduled' AND"
					       " detail ? 'item'"),
			 12);
	/*
	 * Compensations start latest completion first: in the order of
	 * their history entries, the items' completed_seq only go down.
	 */
	ck_assert_int_eq(
		orc_it_scene_long(
			&s, "SELECT count(*) FROM (SELECT i.completed_seq,"
			    " lag(i.completed_seq) OVER (ORDER BY h.id, h.n) AS prev"
			    " FROM saga_history h JOIN saga_map_items i ON"
			    " i.saga_id = h.saga_id AND i.step_name ="
			    " h.step_name AND i.item_index = (h.detail->>"
			    "'item')::int WHERE h.kind ="
			    " 'compensation.started') x WHERE prev IS NOT NULL"
			    " AND completed_seq > prev"),
		0);
	ck_assert_int_eq(
		orc_it_scene_long(
			&s, "SELECT count(*) FROM saga_history WHERE kind ="
			    " 'compensation.started' AND detail ? 'item'"),
		12);
	orc_it_scene_await(&s, WAIT_MS, "the outbox drained",
			   "SELECT count(*) = 0 FROM outbox");
	orc_it_scene_finish(&s);
}
END_TEST

static const char fail_def[] =
	"{\"name\": \"map_fail\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"fail.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"reserve\","
	"   \"map\": {\"items\": \"${/input/items}\", \"max_concurrency\": 1,"
	"            \"min_success\": 0.8},"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"f.reserve\","
	"     \"data\": {\"sku\": \"${/item/sku}\"}},"
	"   \"success\": [\"f.reserved\"], \"failure\": [\"f.unavailable\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"f.release\","
	"     \"data\": {\"sku\": \"${/item/sku}\"},"
	"     \"success\": [\"f.released\"]}},"
	"  {\"name\": \"charge\", \"needs\": [\"reserve\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"f.charge\"},"
	"   \"success\": [\"f.charged\"]}"
	" ]}";

START_TEST(test_map_fails)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--seed", "7",
		"--rule", "f.reserve=random:40:f.unavailable:f.reserved",
		"--rule", "f.release=succeed:f.released",
		"--rule", "f.charge=succeed:f.charged", NULL};
	struct orc_it_scene s;
	long ok, failed, started;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, fail_def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);
	trigger(&s, "fail.placed", "fail-1", 20, 0);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the saga ended",
			   "SELECT count(*) = 1 FROM sagas WHERE status IN"
			   " ('compensated', 'failed', 'completed')");
	ok = orc_it_scene_long(&s, "SELECT map_succeeded FROM saga_steps"
				   " WHERE step_name = 'reserve'");
	failed = orc_it_scene_long(&s, "SELECT map_failed FROM saga_steps"
				       " WHERE step_name = 'reserve'");
	started = orc_it_scene_long(&s, "SELECT map_started FROM saga_steps"
					" WHERE step_name = 'reserve'");
	/* 40% fail: at 5 failures 80% of 20 cannot succeed any more */
	ck_assert_int_eq(failed, 5);
	ck_assert_int_eq(started, ok + failed); /* one at a time */
	if (started == 20)
		orc_it_scene_fail(&s, "every item started: the map did not "
				     "stop when it failed");
	ck_assert_int_gt(ok, 0);
	orc_it_expect(&s, "compensated", "the saga",
		      orc_it_scene_value(&s, "SELECT status FROM sagas"));
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					       " saga_map_items WHERE status ="
					       " 'compensated'"),
			 ok);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					       " saga_steps WHERE step_name ="
					       " 'charge' AND status <> 'pending'"),
			 0);
	orc_it_expect(&s, "true", "the failure names the map and an item",
		      orc_it_scene_value(&s, "SELECT (failure LIKE 'reserve: 5"
					     " of 20 items failed%%reserve[%%]:"
					     " f.unavailable')::text FROM sagas"));
	orc_it_scene_finish(&s);
}
END_TEST

/*
 * A map item row that does not decode (edited by hand) quarantines its
 * saga when the saga is next read, with the reason; the other saga read
 * with it goes on.
 */
START_TEST(test_bad_item_row_quarantines)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "order.ship=succeed:order.shipped", NULL};
	struct orc_it_scene s;
	char buf[4096], *bad, *good;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, big_def);
	orc_it_scene_run(&s, "run", NULL);
	/* item.reserve is never answered: the items stay in flight */
	orc_it_scene_responder(&s, "services", "work", rules);
	trigger(&s, "big.placed", "bad-1", 3, 3);
	trigger(&s, "big.placed", "good-1", 3, 3);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "six items in flight",
			   "SELECT count(*) = 6 FROM saga_map_items"
			   " WHERE status = 'running'");
	bad = orc_it_scene_value(&s, "SELECT id FROM sagas WHERE"
				    " business_key = 'bad-1'");
	good = orc_it_scene_value(&s, "SELECT id FROM sagas WHERE"
				     " business_key = 'good-1'");
	ck_assert_int_eq(orc_it_scene_long(&s, "WITH u AS (UPDATE"
					       " saga_map_items SET replies ="
					       " '{\"not\": \"an array\"}'"
					       " WHERE saga_id = '%s' AND"
					       " item_index = 1 RETURNING 1)"
					       " SELECT count(*) FROM u",
					       bad),
			 1);
	{
		const char *args[] = {"pause", bad, NULL};

		if (orc_it_scene_cli(&s, buf, sizeof(buf), args) == 0)
			orc_it_scene_fail(&s, "pause of a saga with a bad item "
					     "row succeeded: %s", buf);
	}
	orc_it_expect(&s, "t", "the bad saga quarantined, with the reason",
		      orc_it_scene_value(&s, "SELECT quarantined_at IS NOT NULL"
					     " AND quarantine_reason LIKE"
					     " '%%item 1%%replies%%' FROM sagas"
					     " WHERE id = '%s'", bad));
	{
		const char *args[] = {"pause", good, NULL};

		if (orc_it_scene_cli(&s, buf, sizeof(buf), args) != 0)
			orc_it_scene_fail(&s, "pause: %s", buf);
	}
	orc_it_expect(&s, "t", "the good saga paused, not quarantined",
		      orc_it_scene_value(&s, "SELECT paused_at IS NOT NULL AND"
					     " quarantined_at IS NULL FROM sagas"
					     " WHERE id = '%s'", good));
	free(bad);
	free(good);
	orc_it_scene_finish(&s);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(ten_thousand_items),
		ORC_IT_CASE(retry_then_compensate),
		ORC_IT_CASE(map_fails),
		ORC_IT_CASE(bad_item_row_quarantines),
	};

	return orc_it_run_suite("map", cases,
				sizeof(cases) / sizeof(cases[0]), 300);
}
