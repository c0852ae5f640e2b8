/*
 * itest_children.c - child sagas on the real stack.
 *
 *   child_completes        a parent's saga step starts a child of another
 *                          definition in its own transaction; the child's
 *                          output becomes the step's result, which the
 *                          next step reads; both rows link each other,
 *                          saga_tree() shows the tree, the parent's
 *                          history the child's start and end;
 *   child_fails            a child that fails and compensates itself
 *                          fails the parent's step, and the parent
 *                          compensates its own earlier step;
 *   parent_cancelled       a parent cancelled while its child waits: the
 *                          child is cancelled (it compensates itself),
 *                          then the parent ends cancelled;
 *   completed_child_undone a parent whose later step fails asks its
 *                          completed child to undo: the child compensates
 *                          its own steps, latest first, and ends
 *                          compensated, then so does the parent;
 *   missing_definition     a saga step naming a definition that is not
 *                          loaded fails at once with the reason.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define WAIT_MS 90000

static const char child_def[] =
	"{\"name\": \"payment\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.payments\", \"type\": \"pay.asked\","
	"              \"key\": \"/order_id\"},"
	" \"output\": {\"receipt\": \"${/steps/charge/ref}\","
	"             \"amount\": \"${/input/amount}\"},"
	" \"steps\": ["
	"  {\"name\": \"authorize\","
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"p.authorize\"},"
	"   \"success\": [\"p.authorized\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"p.void\","
	"     \"success\": [\"p.voided\"]}},"
	"  {\"name\": \"charge\", \"needs\": [\"authorize\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"p.charge\","
	"     \"data\": {\"amount\": \"${/input/amount}\"}},"
	"   \"success\": [\"p.charged\"], \"failure\": [\"p.declined\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"p.refund\","
	"     \"success\": [\"p.refunded\"]}}"
	" ]}";

static const char parent_def[] =
	"{\"name\": \"order\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"reserve\","
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"o.reserve\"},"
	"   \"success\": [\"o.reserved\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"o.release\","
	"     \"success\": [\"o.released\"]}},"
	"  {\"name\": \"pay\", \"needs\": [\"reserve\"],"
	"   \"saga\": {\"definition\": \"payment\","
	"             \"key\": \"pay-${/input/order_id}\","
	"             \"data\": {\"order_id\": \"${/input/order_id}\","
	"                      \"amount\": \"${/input/total}\"}}},"
	"  {\"name\": \"ship\", \"needs\": [\"pay\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"o.ship\","
	"     \"data\": {\"receipt\": \"${/steps/pay/receipt}\"}},"
	"   \"success\": [\"o.shipped\"], \"failure\": [\"o.lost\"]}"
	" ]}";

/* A trigger for key with total. */
static void
order(struct orc_it_scene *s, const char *key, int total)
{
	char id[64], data[128];

	snprintf(id, sizeof(id), "trigger-%s", key);
	snprintf(data, sizeof(data), "{\"order_id\":\"%s\",\"total\":%d}", key,
		 total);
	orc_it_scene_event(s, "orders", key, id, "order.placed", data, NULL,
			   NULL, NULL);
}

/* The scene: both definitions, a run, a responder with rules. */
static void
start(struct orc_it_scene *s, const char *const *rules, const char *parent)
{
	static const char *const topics[] = {"orders", "payments", "work"};

	orc_it_scene_init(s, topics, 3);
	orc_it_scene_load(s, child_def);
	orc_it_scene_load(s, parent);
	orc_it_scene_run(s, "run", NULL);
	orc_it_scene_responder(s, "services", "work", rules);
}

START_TEST(test_child_completes)
{
	static const char *const rules[] = {
		"--rule", "o.reserve=succeed:o.reserved",
		"--rule", "p.authorize=succeed:p.authorized",
		"--rule", "p.charge=succeed:p.charged",
		"--rule", "o.ship=succeed:o.shipped", NULL};
	struct orc_it_scene s;
	char *parent, *child, *v;

	start(&s, rules, parent_def);
	order(&s, "o-1", 42);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "both completed",
			   "SELECT count(*) = 2 FROM sagas"
			   " WHERE status = 'completed'");
	parent = orc_it_scene_value(&s, "SELECT id FROM sagas WHERE"
				       " definition_name = 'order'");
	child = orc_it_scene_value(&s, "SELECT id FROM sagas WHERE"
				      " definition_name = 'payment'");
	/* linked both ways */
	orc_it_expect(&s, parent, "the child's parent",
		      orc_it_scene_value(&s, "SELECT parent_id FROM sagas"
					     " WHERE id = '%s'", child));
	orc_it_expect(&s, "pay", "the child's parent step",
		      orc_it_scene_value(&s, "SELECT parent_step FROM sagas"
					     " WHERE id = '%s'", child));
	orc_it_expect(&s, "pay-o-1", "the child's key",
		      orc_it_scene_value(&s, "SELECT business_key FROM sagas"
					     " WHERE id = '%s'", child));
	orc_it_expect(&s, child, "the parent's history names the child",
		      orc_it_scene_value(&s, "SELECT detail->>'child' FROM"
					     " saga_history WHERE saga_id = '%s'"
					     " AND kind = 'child.started'",
					     parent));
	orc_it_expect(&s, "completed", "child.ended",
		      orc_it_scene_value(&s, "SELECT detail->>'status' FROM"
					     " saga_history WHERE saga_id = '%s'"
					     " AND kind = 'child.ended'",
					     parent));
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					       " saga_tree('%s')", parent),
			 2);
	/* the child's output is the step's result, which ship read */
	v = orc_it_scene_value(&s, "SELECT output->>'amount' FROM saga_steps"
				   " WHERE saga_id = '%s' AND step_name ="
				   " 'pay'", parent);
	orc_it_expect(&s, "42", "the step's result", v);
	v = orc_it_scene_value(&s, "SELECT (s.output->>'receipt') ="
				   " (c.output->>'receipt') AND"
				   " c.output->>'receipt' LIKE 'p.charge:%%'"
				   " FROM saga_steps s, sagas c WHERE"
				   " s.saga_id = '%s' AND s.step_name = 'pay'"
				   " AND c.id = '%s'", parent, child);
	orc_it_expect(&s, "t", "the receipt", v);
	/* the child_ended request was applied once */
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					       " operator_requests WHERE action"
					       " = 'child_ended' AND state ="
					       " 'done' AND saga_id = '%s'",
					       parent),
			 1);
	free(parent);
	free(child);
	orc_it_scene_finish(&s);
}
END_TEST

START_TEST(test_child_fails)
{
	static const char *const rules[] = {
		"--rule", "o.reserve=succeed:o.reserved",
		"--rule", "o.release=succeed:o.released",
		"--rule", "p.authorize=succeed:p.authorized",
		"--rule", "p.void=succeed:p.voided",
		"--rule", "p.charge=fail:p.declined", NULL};
	struct orc_it_scene s;

	start(&s, rules, parent_def);
	order(&s, "o-2", 7);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "both compensated",
			   "SELECT count(*) = 2 FROM sagas"
			   " WHERE status = 'compensated'");
	orc_it_expect(&s, "compensated", "the child's authorize",
		      orc_it_scene_value(&s, "SELECT t.status FROM saga_steps t"
					     " JOIN sagas g ON g.id = t.saga_id"
					     " WHERE g.definition_name ="
					     " 'payment' AND t.step_name ="
					     " 'authorize'"));
	orc_it_expect(&s, "failed", "the parent's pay step",
		      orc_it_scene_value(&s, "SELECT t.status FROM saga_steps t"
					     " JOIN sagas g ON g.id = t.saga_id"
					     " WHERE g.definition_name = 'order'"
					     " AND t.step_name = 'pay'"));
	orc_it_expect(&s, "compensated", "the parent's reserve",
		      orc_it_scene_value(&s, "SELECT t.status FROM saga_steps t"
					     " JOIN sagas g ON g.id = t.saga_id"
					     " WHERE g.definition_name = 'order'"
					     " AND t.step_name = 'reserve'"));
	orc_it_expect(&s, "t", "the parent's failure names the child's",
		      orc_it_scene_value(&s, "SELECT failure LIKE 'pay: child"
					     " saga %% compensated: charge:"
					     " p.declined' FROM sagas WHERE"
					     " definition_name = 'order'"));
	orc_it_scene_finish(&s);
}
END_TEST

/* A child that waits for an event nobody sends. */
static const char waiting_child_def[] =
	"{\"name\": \"approval\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.payments\", \"type\": \"approval.asked\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"note\","
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"a.note\"},"
	"   \"success\": [\"a.noted\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"a.unnote\","
	"     \"success\": [\"a.unnoted\"]}},"
	"  {\"name\": \"approved\", \"needs\": [\"note\"],"
	"   \"wait\": {\"topic\": \"{P}.payments\", \"type\": \"approval.given\","
	"            \"key\": \"/order_id\", \"timeout\": \"1h\"}}"
	" ]}";

static const char waiting_parent_def[] =
	"{\"name\": \"order\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"approve\", \"saga\": {\"definition\": \"approval\"}}"
	" ]}";

START_TEST(test_parent_cancelled)
{
	static const char *const rules[] = {
		"--rule", "a.note=succeed:a.noted",
		"--rule", "a.unnote=succeed:a.unnoted", NULL};
	static const char *const topics[] = {"orders", "payments", "work"};
	struct orc_it_scene s;
	char buf[8192], *parent;

	orc_it_scene_init(&s, topics, 3);
	orc_it_scene_load(&s, waiting_child_def);
	orc_it_scene_load(&s, waiting_parent_def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);
	order(&s, "o-3", 1);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the child waits",
			   "SELECT count(*) = 1 FROM saga_steps t JOIN sagas g"
			   " ON g.id = t.saga_id WHERE g.definition_name ="
			   " 'approval' AND t.step_name = 'approved' AND"
			   " t.status = 'running'");
	/* the default key: the parent's key and the step */
	orc_it_expect(&s, "o-3/approve", "the child's key",
		      orc_it_scene_value(&s, "SELECT business_key FROM sagas"
					     " WHERE definition_name ="
					     " 'approval'"));
	parent = orc_it_scene_value(&s, "SELECT id FROM sagas WHERE"
				       " definition_name = 'order'");
	{
		const char *args[] = {"cancel", parent, "--reason", "test",
				      NULL};

		if (orc_it_scene_cli(&s, buf, sizeof(buf), args) != 0)
			orc_it_scene_fail(&s, "cancel: %s", buf);
	}
	orc_it_scene_await(&s, WAIT_MS, "both cancelled",
			   "SELECT count(*) = 2 FROM sagas"
			   " WHERE status = 'cancelled'");
	orc_it_expect(&s, "compensated", "the child undid its note",
		      orc_it_scene_value(&s, "SELECT t.status FROM saga_steps t"
					     " JOIN sagas g ON g.id = t.saga_id"
					     " WHERE g.definition_name ="
					     " 'approval' AND t.step_name ="
					     " 'note'"));
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					       " operator_requests WHERE action"
					       " = 'cancel' AND state = 'done'"
					       " AND reason LIKE 'parent saga %%'"),
			 1);
	free(parent);
	orc_it_scene_finish(&s);
}
END_TEST

START_TEST(test_completed_child_undone)
{
	static const char *const rules[] = {
		"--rule", "o.reserve=succeed:o.reserved",
		"--rule", "o.release=succeed:o.released",
		"--rule", "p.authorize=succeed:p.authorized",
		"--rule", "p.void=succeed:p.voided",
		"--rule", "p.charge=succeed:p.charged",
		"--rule", "p.refund=succeed:p.refunded",
		"--rule", "o.ship=fail:o.lost", NULL};
	struct orc_it_scene s;
	char *v;

	start(&s, rules, parent_def);
	order(&s, "o-4", 9);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "both compensated",
			   "SELECT count(*) = 2 FROM sagas"
			   " WHERE status = 'compensated'");
	orc_it_expect(&s, "undo", "the child's cause",
		      orc_it_scene_value(&s, "SELECT failing_reason FROM sagas"
					     " WHERE definition_name ="
					     " 'payment'"));
	/* the child undid its own steps, latest first: refund, then void */
	v = orc_it_scene_value(&s, "SELECT string_agg(h.step_name, ','"
				   " ORDER BY h.id, h.n) FROM saga_history h JOIN"
				   " sagas g ON g.id = h.saga_id WHERE"
				   " g.definition_name = 'payment' AND h.kind ="
				   " 'compensation.started'");
	orc_it_expect(&s, "charge,authorize", "the child's compensations", v);
	/* and the parent undid pay (its child) before reserve */
	v = orc_it_scene_value(&s, "SELECT string_agg(h.step_name, ','"
				   " ORDER BY h.id, h.n) FROM saga_history h JOIN"
				   " sagas g ON g.id = h.saga_id WHERE"
				   " g.definition_name = 'order' AND h.kind ="
				   " 'compensation.succeeded'");
	orc_it_expect(&s, "pay,reserve", "the parent's compensations", v);
	orc_it_scene_finish(&s);
}
END_TEST

static const char skip_parent_def[] =
	"{\"name\": \"order\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"approve\", \"saga\": {\"definition\": \"approval\"}},"
	"  {\"name\": \"ship\", \"needs\": [\"approve\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"o.ship\"},"
	"   \"success\": [\"o.shipped\"], \"failure\": [\"o.lost\"]}"
	" ]}";

/*
 * An operator skips the step whose child waits: the child is cancelled;
 * when the parent later compensates, the undo it asks of the cancelled
 * child has nothing to undo, and the parent hears so and ends.
 */
START_TEST(test_skipped_child_then_compensate)
{
	static const char *const rules[] = {
		"--rule", "a.note=succeed:a.noted",
		"--rule", "a.unnote=succeed:a.unnoted",
		"--rule", "o.ship=fail:o.lost", NULL};
	static const char *const topics[] = {"orders", "payments", "work"};
	struct orc_it_scene s;
	char buf[8192], *parent;

	orc_it_scene_init(&s, topics, 3);
	orc_it_scene_load(&s, waiting_child_def);
	orc_it_scene_load(&s, skip_parent_def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);
	order(&s, "o-6", 1);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the child waits",
			   "SELECT count(*) = 1 FROM saga_steps t JOIN sagas g"
			   " ON g.id = t.saga_id WHERE g.definition_name ="
			   " 'approval' AND t.step_name = 'approved' AND"
			   " t.status = 'running'");
	parent = orc_it_scene_value(&s, "SELECT id FROM sagas WHERE"
				       " definition_name = 'order'");
	{
		const char *args[] = {"skip", parent, "approve", NULL};

		if (orc_it_scene_cli(&s, buf, sizeof(buf), args) != 0)
			orc_it_scene_fail(&s, "skip: %s", buf);
	}
	orc_it_scene_await(&s, WAIT_MS, "the child cancelled, the parent"
				       " compensated",
			   "SELECT string_agg(definition_name || '=' || status,"
			   " ',' ORDER BY definition_name) = 'approval=cancelled,"
			   "order=compensated' FROM sagas");
	orc_it_expect(&s, "compensated", "the skipped step",
		      orc_it_scene_value(&s, "SELECT status FROM saga_steps"
					     " WHERE saga_id = '%s' AND"
					     " step_name = 'approve'",
					     parent));
	free(parent);
	orc_it_scene_finish(&s);
}
END_TEST

static const char orphan_def[] =
	"{\"name\": \"order\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"pay\", \"saga\": {\"definition\": \"nowhere\"}}"
	" ]}";

START_TEST(test_missing_definition)
{
	static const char *const rules[] = {NULL};
	static const char *const topics[] = {"orders", "payments", "work"};
	struct orc_it_scene s;

	orc_it_scene_init(&s, topics, 3);
	orc_it_scene_load(&s, orphan_def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);
	order(&s, "o-5", 1);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the parent failed",
			   "SELECT count(*) = 1 FROM sagas"
			   " WHERE status = 'failed'");
	orc_it_expect(&s, "t", "the reason",
		      orc_it_scene_value(&s, "SELECT failure LIKE 'pay: child"
					     " saga %% failed: no definition"
					     " nowhere is loaded' FROM sagas"));
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM sagas"),
			 1);
	orc_it_scene_finish(&s);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(child_completes),
		ORC_IT_CASE(child_fails),
		ORC_IT_CASE(parent_cancelled),
		ORC_IT_CASE(completed_child_undone),
		ORC_IT_CASE(missing_definition),
		ORC_IT_CASE(skipped_child_then_compensate),
	};

	return orc_it_run_suite("children", cases,
				sizeof(cases) / sizeof(cases[0]), 180);
}
