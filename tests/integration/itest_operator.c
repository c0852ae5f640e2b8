/*
 * itest_operator.c - the operator's actions from the command line against
 * `orchestrator run` and responder services on the real stack.
 *
 * pause holds a saga (no command goes out, a reply is still applied, the
 * next step starts after resume), patch --input changes the next
 * command's data, skip --data is what /steps/<name> then holds, retry
 * --from reruns a step and its dependents with new attempt ids, resolve
 * lets a stuck saga go on compensating, cancel --no-compensate ends one
 * with no compensation command; refusals exit 1 and say the states.  A
 * pause holds a step's timeout across a kill -9 of `run`: the timeout
 * fires only the remaining time after resume.  In bulk (--where) over 320
 * sagas: a dry run changes nothing, a writing or broken predicate is
 * refused, a run interrupted with SIGINT and run again retries every
 * failed saga exactly once and refuses the running ones, a saga that no
 * longer matches when its turn comes is skipped; every action is in
 * operator_actions with who, why and its arguments.
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
#define OUT_MAX 65536

static char out[OUT_MAX];

/* Run the CLI with args; fail unless it exits rc and out holds needle. */
static void
cli_expect(struct orc_it_scene *s, int rc, const char *needle,
	   const char *const *args)
{
	int got = orc_it_scene_cli(s, out, sizeof(out), args);

	if (got != rc || (needle != NULL && strstr(out, needle) == NULL))
		orc_it_scene_fail(s, "orchestrator %s exited %d (expected %d,"
				  " with \"%s\"): %s", args[0], got, rc,
				  needle ? needle : "", out);
}

/* The id of the saga of business key key into id (size 40). */
static void
saga_of(struct orc_it_scene *s, const char *key, char *id)
{
	char *v = orc_it_scene_value(s, "SELECT id FROM sagas WHERE"
				     " business_key = '%s'", key);

	snprintf(id, 40, "%s", v);
	free(v);
}

static void
trigger(struct orc_it_scene *s, const char *type, const char *key,
	const char *data)
{
	char id[96];

	snprintf(id, sizeof(id), "trigger-%s", key);
	orc_it_scene_event(s, "orders", key, id, type, data, NULL, NULL, NULL);
}

static char *
history_of(struct orc_it_scene *s, const char *id)
{
	return orc_it_scene_value(s,
		"SELECT string_agg(kind || coalesce(':' || step_name, ''), ','"
		" ORDER BY id, n) FROM saga_history WHERE saga_id = '%s'", id);
}

/* The messages of type type among msgs (borrowed), as a new array. */
static json_t *
of_type(json_t *msgs, const char *type)
{
	json_t *r = json_array(), *m;
	size_t i;

	json_array_foreach(msgs, i, m) {
		const char *t = orc_it_header(m, "ce_type");

		if (t != NULL && strcmp(t, type) == 0)
			json_array_append(r, m);
	}
	return r;
}

/* Member name of the JSON value of message m: a new string, or NULL. */
static char *
data_member(const json_t *m, const char *name)
{
	json_t *v = json_loads(orc_it_json_str(m, "value"), 0, NULL);
	const char *str = json_string_value(json_object_get(v, name));
	char *r = str != NULL ? strdup(str) : NULL;

	json_decref(v);
	return r;
}

/* ---- pause, patch, resume, skip ---- */

static const char flow_def[] =
	"{\"name\": \"flow\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"a.do\","
	"   \"data\": {\"order\": \"${/input/order_id}\"}},"
	"   \"success\": [\"a.done\"]},"
	"  {\"name\": \"b\", \"needs\": [\"a\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"b.do\","
	"   \"data\": {\"note\": \"${/input/note}\"}},"
	"   \"success\": [\"b.done\"]},"
	"  {\"name\": \"c\", \"needs\": [\"b\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"c.do\","
	"   \"data\": {\"from_b\": \"${/steps/b/x}\"}},"
	"   \"success\": [\"c.done\"]}"
	" ]}";

START_TEST(test_pause_patch_resume_skip)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "a.do=delay:3000:a.done",
		"--rule", "b.do=never",
		"--rule", "c.do=succeed:c.done", NULL};
	struct orc_it_scene s;
	char id[40];
	json_t *msgs, *b, *c;
	char *v;

	orc_it_scene_start(&s, topics, 2, flow_def, "work", rules);
	trigger(&s, "order.placed", "p-1",
		"{\"order_id\": \"p-1\", \"note\": \"original\"}");
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "a running",
			   "SELECT count(*) = 1 FROM saga_steps WHERE"
			   " step_name = 'a' AND status = 'running'");
	saga_of(&s, "p-1", id);
	{
		const char *args[] = {"pause", id, "--reason", "hold on",
				      "--by", "alice", NULL};

		cli_expect(&s, 0, "pause applied", args);
	}
	orc_it_expect(&s, "alice|hold on", "who paused it and why",
		      orc_it_scene_value(&s,
			"SELECT paused_by || '|' || reason FROM paused_sagas"
			" WHERE id = '%s'", id));
	/* a's reply comes while paused: applied, but b does not start */
	orc_it_scene_await(&s, WAIT_MS, "a succeeded while paused",
			   "SELECT count(*) = 1 FROM saga_steps WHERE"
			   " step_name = 'a' AND status = 'succeeded'");
	orc_clock_sleep_ms(1500, NULL);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_steps WHERE saga_id = '%s' AND"
		" step_name = 'b' AND status <> 'pending'", id), 0);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_history WHERE saga_id = '%s' AND"
		" kind = 'step.started' AND step_name = 'b'", id), 0);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM sagas WHERE id = '%s' AND"
		" paused_at IS NOT NULL AND wake_at IS NULL", id), 1);
	/* refusals say the saga's and the step's states */
	{
		const char *args[] = {"skip", id, "a", NULL};

		cli_expect(&s, 1, "succeeded", args);
	}
	{
		const char *args[] = {"pause", id, NULL};

		cli_expect(&s, 1, "paused", args);
	}
	{
		const char *args[] = {"patch", id, "--input",
				      "{\"note\": \"patched\"}", "--reason",
				      "typo in the note", "--by", "bob", NULL};

		cli_expect(&s, 0, "patch applied", args);
	}
	orc_it_expect(&s, "original|patched", "the patch's before and after",
		      orc_it_scene_value(&s,
			"SELECT (arguments #>> '{before,note}') || '|' ||"
			" (arguments #>> '{after,note}') FROM operator_actions"
			" WHERE saga_id = '%s' AND action = 'patch' AND"
			" by = 'bob'", id));
	{
		const char *args[] = {"resume", id, "--by", "alice", NULL};

		cli_expect(&s, 0, "resume applied", args);
	}
	orc_it_scene_await(&s, WAIT_MS, "b running after resume",
			   "SELECT count(*) = 1 FROM saga_steps WHERE"
			   " step_name = 'b' AND status = 'running'");
	{
		const char *args[] = {"resume", id, NULL};

		cli_expect(&s, 1, "running and not paused", args);
	}
	{
		const char *args[] = {"skip", id, "b", "--data",
				      "{\"x\": \"by-hand\"}", "--reason",
				      "done by hand", NULL};

		cli_expect(&s, 0, "skip applied", args);
	}
	orc_it_scene_await(&s, WAIT_MS, "p-1 completed",
			   "SELECT count(*) = 1 FROM sagas WHERE status = 'completed'");
	msgs = orc_it_scene_collect(&s, "work", 3, 30000, 1500);
	ck_assert_uint_eq(json_array_size(msgs), 3);
	b = of_type(msgs, "b.do");
	c = of_type(msgs, "c.do");
	ck_assert_uint_eq(json_array_size(b), 1);
	ck_assert_uint_eq(json_array_size(c), 1);
	v = data_member(json_array_get(b, 0), "note");
	ck_assert_str_eq(v, "patched");
	free(v);
	v = data_member(json_array_get(c, 0), "from_b");
	ck_assert_str_eq(v, "by-hand");
	free(v);
	orc_it_expect(&s,
		      "saga.started,step.started:a,operator.pause,"
		      "step.succeeded:a,operator.patch,operator.resume,"
		      "step.started:b,operator.skip:b,step.succeeded:b,"
		      "step.started:c,step.succeeded:c,saga.completed",
		      "p-1's history", history_of(&s, id));
	/* the skip's rows carry its action id; who defaults to user@host */
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_history h JOIN operator_actions o"
		" ON o.action_id = h.event_id WHERE o.saga_id = '%s' AND"
		" o.action = 'skip' AND h.kind = 'step.succeeded' AND"
		" o.reason = 'done by hand' AND o.by LIKE '%%@%%'", id), 1);
	json_decref(b);
	json_decref(c);
	json_decref(msgs);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- retry --from, resolve, cancel --no-compensate ---- */

static const char chain_def[] =
	"{\"name\": \"chain\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"chain.go\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"x.do\"},"
	"   \"success\": [\"x.done\"]},"
	"  {\"name\": \"b\", \"needs\": [\"a\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"y.do\"},"
	"   \"success\": [\"y.done\"]},"
	"  {\"name\": \"c\", \"needs\": [\"b\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"z.do\"},"
	"   \"success\": [\"z.done\"]}"
	" ]}";

/* b's compensation is never answered: stuck, a's compensation waits */
static const char stuck_def[] =
	"{\"name\": \"stucky\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"stuck.go\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"sa.do\"},"
	"   \"success\": [\"sa.done\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"sa.undo\","
	"                     \"success\": [\"sa.undone\"]}},"
	"  {\"name\": \"b\", \"needs\": [\"a\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"sb.do\"},"
	"   \"success\": [\"sb.done\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"sb.undo\","
	"                     \"success\": [\"sb.undone\"], \"timeout\": \"300ms\","
	"                     \"retry\": {\"max_attempts\": 1}}},"
	"  {\"name\": \"c\", \"needs\": [\"b\"],"
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"sc.do\"},"
	"   \"success\": [\"sc.done\"], \"failure\": [\"sc.rejected\"]}"
	" ]}";

/* a succeeds, then the saga waits for an event that never comes */
static const char held_def[] =
	"{\"name\": \"held\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"held.go\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"a\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"ha.do\"},"
	"   \"success\": [\"ha.done\"],"
	"   \"compensation\": {\"topic\": \"{P}.work\", \"type\": \"ha.undo\","
	"                     \"success\": [\"ha.undone\"]}},"
	"  {\"name\": \"hold\", \"needs\": [\"a\"],"
	"   \"wait\": {\"topic\": \"{P}.reviews\", \"type\": \"hold.released\","
	"            \"key\": \"/order_id\", \"timeout\": \"5m\"}}"
	" ]}";

START_TEST(test_retry_from_resolve_terminate)
{
	static const char *const topics[] = {"orders", "work", "reviews"};
	static const char *const rules[] = {
		"--rule", "x.do=succeed:x.done",
		"--rule", "y.do=succeed:y.done",
		"--rule", "z.do=succeed:z.done",
		"--rule", "sa.do=succeed:sa.done",
		"--rule", "sa.undo=succeed:sa.undone",
		"--rule", "sb.do=succeed:sb.done",
		"--rule", "sb.undo=never",
		"--rule", "sc.do=fail:sc.rejected",
		"--rule", "ha.do=succeed:ha.done",
		"--rule", "ha.undo=succeed:ha.undone", NULL};
	struct orc_it_scene s;
	char chain[40], stuck[40], held[40], expect[160];
	json_t *msgs, *m;
	size_t i;
	int rerun = 0;

	orc_it_scene_init(&s, topics, 3);
	orc_it_scene_load(&s, chain_def);
	orc_it_scene_load(&s, stuck_def);
	orc_it_scene_load(&s, held_def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);
	trigger(&s, "chain.go", "ch-1", "{\"order_id\": \"ch-1\"}");
	trigger(&s, "stuck.go", "st-1", "{\"order_id\": \"st-1\"}");
	trigger(&s, "held.go", "hd-1", "{\"order_id\": \"hd-1\"}");
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "chain completed, stucky stuck, held"
			   " waiting",
			   "SELECT (SELECT count(*) FROM sagas WHERE"
			   " business_key = 'ch-1' AND status = 'completed') +"
			   " (SELECT count(*) FROM sagas WHERE business_key ="
			   " 'st-1' AND status = 'stuck') + (SELECT count(*) FROM"
			   " saga_steps WHERE step_name = 'hold' AND status ="
			   " 'running') = 3");
	saga_of(&s, "ch-1", chain);
	saga_of(&s, "st-1", stuck);
	saga_of(&s, "hd-1", held);

	/* retry --from b: b and c rerun (attempt 2), a does not */
	{
		const char *args[] = {"retry", chain, "--from", "b", "--reason",
				      "reprice", NULL};

		cli_expect(&s, 0, "retry applied", args);
	}
	orc_it_scene_await(&s, WAIT_MS, "chain completed again",
			   "SELECT count(*) = 2 FROM saga_history WHERE"
			   " kind = 'saga.completed'");
	orc_it_expect(&s, "a=1 b=2 c=2", "the chain's attempts",
		      orc_it_scene_value(&s,
			"SELECT string_agg(step_name || '=' || attempt, ' '"
			" ORDER BY step_name) FROM saga_steps WHERE"
			" saga_id = '%s'", chain));
	orc_it_expect(&s, "[\"b\", \"c\"]", "the steps the retry reran",
		      orc_it_scene_value(&s,
			"SELECT arguments -> 'steps' FROM operator_actions"
			" WHERE saga_id = '%s' AND action = 'retry'", chain));
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_history h JOIN operator_actions o"
		" ON o.action_id = h.event_id AND o.saga_id = h.saga_id"
		" WHERE o.saga_id = '%s' AND h.kind = 'step.started'", chain),
		1);

	/* resolve b's compensation by hand: a's goes on, compensated */
	{
		const char *args[] = {"resolve", stuck, "a", NULL};

		cli_expect(&s, 1, "stuck", args);
	}
	{
		const char *args[] = {"resolve", stuck, "b", "--reason",
				      "undone by hand in the ledger", NULL};

		cli_expect(&s, 0, "resolve applied", args);
	}
	orc_it_scene_await(&s, WAIT_MS, "stucky compensated",
			   "SELECT count(*) = 1 FROM sagas WHERE business_key ="
			   " 'st-1' AND status = 'compensated'");
	orc_it_expect(&s, "a=compensated b=compensated c=failed",
		      "the resolved saga's steps",
		      orc_it_scene_value(&s,
			"SELECT string_agg(step_name || '=' || status, ' '"
			" ORDER BY step_name) FROM saga_steps WHERE"
			" saga_id = '%s'", stuck));

	/* patch a step's output: the history keeps which, before and after */
	{
		const char *args[] = {"patch", held, "--step", "a",
				      "{\"ticket\": \"T-9\"}", "--json", NULL};

		cli_expect(&s, 0, "\"action\": \"patch\"", args);
	}
	orc_it_expect(&s, "step|T-9", "the step patch's target and after",
		      orc_it_scene_value(&s,
			"SELECT (arguments ->> 'target') || '|' ||"
			" (arguments #>> '{after,ticket}') FROM operator_actions"
			" WHERE saga_id = '%s' AND action = 'patch' AND"
			" step_name = 'a'", held));
	{
		const char *args[] = {"patch", held, "--step", "a", "{\"x\":",
				      NULL};

		cli_expect(&s, 2, "the patch: invalid JSON at line 1", args);
	}

	/* cancel --no-compensate: cancelled, a is not compensated */
	{
		const char *args[] = {"cancel", held, "--no-compensate",
				      "--reason", "duplicate order", NULL};

		cli_expect(&s, 0, "terminate applied", args);
	}
	orc_it_expect(&s, "cancelled", "the terminated saga's status",
		      orc_it_scene_value(&s,
			"SELECT status FROM sagas WHERE id = '%s'", held));
	{
		const char *args[] = {"cancel", held, NULL};

		cli_expect(&s, 1, "cancelled", args);
	}
	{
		const char *args[] = {"retry", held, "--from", "nosuch", NULL};

		cli_expect(&s, 1, "no step \"nosuch\"", args);
	}

	/* what went out: no ha.undo; b and c twice with their attempts */
	msgs = orc_it_scene_collect(&s, "work", 11, 30000, 2000);
	json_array_foreach(msgs, i, m) {
		const char *type = orc_it_header(m, "ce_type");

		ck_assert_msg(strcmp(type, "ha.undo") != 0,
			      "a compensation of the terminated saga went out");
		if (strcmp(orc_it_header(m, "ce_sagaid"), chain) != 0)
			continue;
		if (strcmp(type, "x.do") != 0)
			rerun++;
		if (strcmp(type, "x.do") == 0)
			snprintf(expect, sizeof(expect), "%s/a/action/1", chain);
		else if (rerun <= 2)
			snprintf(expect, sizeof(expect), "%s/%s/action/1", chain,
				 orc_it_header(m, "ce_sagastep"));
		else
			snprintf(expect, sizeof(expect), "%s/%s/action/2", chain,
				 orc_it_header(m, "ce_sagastep"));
		ck_assert_str_eq(orc_it_header(m, "ce_id"), expect);
	}
	ck_assert_int_eq(rerun, 4);
	json_decref(msgs);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- a pause holds a timeout across a kill -9 ---- */

static const char timed_def[] =
	"{\"name\": \"timed\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"timed.go\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"w\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"w.do\"},"
	"   \"success\": [\"w.done\"], \"timeout\": \"4s\","
	"   \"retry\": {\"max_attempts\": 1, \"backoff\": \"100ms\"}}"
	" ]}";

START_TEST(test_pause_holds_timer_across_kill)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {"--rule", "w.do=never", NULL};
	struct orc_it_scene s;
	char id[40];
	long before_pause, fired_after;

	orc_it_scene_start(&s, topics, 2, timed_def, "work", rules);
	trigger(&s, "timed.go", "t-1", "{\"order_id\": \"t-1\"}");
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "w running",
			   "SELECT count(*) = 1 FROM saga_steps WHERE"
			   " step_name = 'w' AND status = 'running'");
	saga_of(&s, "t-1", id);
	orc_clock_sleep_ms(1000, NULL);
	{
		const char *args[] = {"pause", id, "--reason", "maintenance",
				      NULL};

		cli_expect(&s, 0, "pause applied", args);
	}
	/* how much of the 4 s was used before the pause */
	before_pause = orc_it_scene_long(&s,
		"SELECT (extract(epoch FROM p.at - s.at) * 1000)::bigint FROM"
		" saga_history p, saga_history s WHERE p.saga_id = '%s' AND"
		" s.saga_id = p.saga_id AND p.kind = 'operator.pause' AND"
		" s.kind = 'step.started'", id);
	ck_assert_msg(before_pause >= 900 && before_pause < 3500,
		      "paused %ld ms after the start", before_pause);
	orc_it_scene_stop(&s, 0, SIGKILL);
	/* past the timeout, with no run, then a run that must not fire it */
	orc_clock_sleep_ms(5000, NULL);
	orc_it_scene_run(&s, "run-2", NULL);
	orc_clock_sleep_ms(2000, NULL);
	orc_it_expect(&s, "running", "w while paused past its timeout",
		      orc_it_scene_value(&s,
			"SELECT status FROM saga_steps WHERE saga_id = '%s'",
			id));
	{
		const char *args[] = {"resume", id, NULL};

		cli_expect(&s, 0, "resume applied", args);
	}
	orc_it_scene_await(&s, WAIT_MS, "w timed out after the resume",
			   "SELECT count(*) = 1 FROM saga_history WHERE"
			   " kind = 'step.timed_out'");
	fired_after = orc_it_scene_long(&s,
		"SELECT (extract(epoch FROM t.at - r.at) * 1000)::bigint FROM"
		" saga_history t, saga_history r WHERE t.saga_id = '%s' AND"
		" r.saga_id = t.saga_id AND t.kind = 'step.timed_out' AND"
		" r.kind = 'operator.resume'", id);
	/* the remaining time, give or take the timer poll */
	ck_assert_msg(fired_after >= 4000 - before_pause - 200 &&
		      fired_after <= 4000 - before_pause + 1500,
		      "timed out %ld ms after the resume, %ld ms were left",
		      fired_after, 4000 - before_pause);
	ck_assert_int_ge(orc_it_scene_long(&s,
		"SELECT (arguments ->> 'paused_ms')::bigint FROM"
		" operator_actions WHERE saga_id = '%s' AND action = 'resume'",
		id), 7000);
	orc_it_scene_finish(&s);
}
END_TEST

/* ---- in bulk ---- */

#define BULK_FAILED 300
#define BULK_RUNNING 20

static const char bulk_def[] =
	"{\"name\": \"bulk\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"bulk.go\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"f\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"f.do\"},"
	"   \"success\": [\"f.done\"], \"failure\": [\"f.failed\"]}"
	" ]}";

static const char bulk_wait_def[] =
	"{\"name\": \"bulk_wait\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"bulk.wait\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"g\", \"command\": {\"topic\": \"{P}.work\", \"type\": \"g.do\"},"
	"   \"success\": [\"g.done\"]}"
	" ]}";

#define BULK_WHERE "definition_name IN ('bulk', 'bulk_wait')"

/* The scene's settings after args (NULL-terminated), into argv. */
static void
with_settings(struct orc_it_scene *s, const char **argv,
	      const char *const *args)
{
	size_t n = 0;

	for (; args[n] != NULL; n++)
		argv[n] = args[n];
	argv[n++] = "--pg-dsn";
	argv[n++] = s->db.dsn;
	argv[n++] = "--reply-topic";
	argv[n++] = s->replies;
	argv[n++] = "--group";
	argv[n++] = s->group;
	argv[n] = NULL;
}

START_TEST(test_bulk_interrupt_and_rerun)
{
	static const char *const topics[] = {"orders", "work"};
	/* a retried f is answered with what f does not expect: it runs on */
	static const char *const rules[] = {
		"--rule", "f.do=fail-first:1:f.failed:f.later",
		"--rule", "g.do=never", NULL};
	struct orc_it_scene s;
	char log[128], key[32], data[64], *v;
	const char *argv[24];
	long first;
	int pid, rc;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, bulk_def);
	orc_it_scene_load(&s, bulk_wait_def);
	orc_it_scene_run(&s, "run", NULL);
	orc_it_scene_responder(&s, "services", "work", rules);
	for (int k = 0; k < BULK_FAILED + BULK_RUNNING; k++) {
		bool wait = k >= BULK_FAILED;

		snprintf(key, sizeof(key), "%s-%d", wait ? "w" : "f", k);
		snprintf(data, sizeof(data), "{\"order_id\": \"%s\"}", key);
		trigger(&s, wait ? "bulk.wait" : "bulk.go", key, data);
	}
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, 120000, "300 failed and 20 running",
			   "SELECT count(*) FILTER (WHERE definition_name = 'bulk'"
			   " AND status = 'failed') = 300 AND count(*) FILTER"
			   " (WHERE definition_name = 'bulk_wait' AND status ="
			   " 'running') = 20 FROM sagas");

	/* a dry run lists them and changes nothing */
	{
		const char *args[] = {"retry", "--where", BULK_WHERE,
				      "--dry-run", NULL};

		cli_expect(&s, 0, "320 sagas would get retry", args);
	}
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_history WHERE kind LIKE"
		" 'operator.%%' OR kind LIKE '%%.ignored'"), 0);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM sagas WHERE status = 'failed'"), 300);
	/* a predicate that is not SQL, or that writes, is refused */
	{
		const char *args[] = {"retry", "--where", "no_such_column = 1",
				      NULL};

		cli_expect(&s, 2, "invalid predicate \"no_such_column = 1\"",
			   args);
	}
	{
		const char *args[] = {"retry", "--where",
				      "nextval('outbox_id_seq') > 0", NULL};

		cli_expect(&s, 2, "read-only transaction", args);
	}
	/* a saga that no longer matches when its turn comes is skipped */
	{
		const char *args[] = {"pause", "--where",
				      "definition_name = 'bulk_wait' AND"
				      " current_setting('transaction_read_only')"
				      " = 'on'", NULL};

		cli_expect(&s, 0, "20 selected, 0 done, 0 refused, 20 skipped",
			   args);
	}
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM sagas WHERE paused_at IS NOT NULL"), 0);

	/* interrupted part way */
	{
		const char *args[] = {"retry", "--where", BULK_WHERE, "--reason",
				      "provider back", "--by", "it-bulk", NULL};

		with_settings(&s, argv, args);
	}
	snprintf(log, sizeof(log), "%s/bulk-1.log", s.dir);
	pid = orc_it_spawn(log, argv);
	orc_it_scene_await(&s, WAIT_MS, "some sagas retried",
			   "SELECT count(*) >= 30 FROM saga_history WHERE"
			   " kind = 'operator.retry'");
	kill(pid, SIGINT);
	rc = orc_it_wait(pid);
	first = orc_it_scene_long(&s, "SELECT count(*) FROM saga_history"
				  " WHERE kind = 'operator.retry'");
	if (rc != 130 || first >= BULK_FAILED) {
		orc_it_dump_tail(log, 20);
		orc_it_scene_fail(&s, "interrupted run exited %d after %ld"
				  " retries", rc, first);
	}
	/* run again: the rest, and nothing twice */
	{
		const char *args[] = {"retry", "--where", BULK_WHERE, "--reason",
				      "provider back", "--by", "it-bulk", NULL};
		char expect[128];

		snprintf(expect, sizeof(expect), "320 selected, %ld done, %ld"
			 " refused, 0 skipped", BULK_FAILED - first,
			 BULK_RUNNING + first);
		cli_expect(&s, 1, expect, args);
		cli_expect(&s, 1, "cannot retry saga <id>: it is running", args);
	}
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM sagas g WHERE g.definition_name = 'bulk'"
		" AND (SELECT count(*) FROM saga_history h WHERE h.saga_id ="
		" g.id AND h.kind = 'operator.retry') = 1"), BULK_FAILED);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_history h JOIN sagas g ON g.id ="
		" h.saga_id WHERE g.definition_name = 'bulk_wait' AND"
		" h.kind LIKE 'operator.%%'"), 0);
	orc_it_scene_await(&s, WAIT_MS, "every retried f at attempt 2",
			   "SELECT count(*) = 300 FROM saga_steps WHERE"
			   " step_name = 'f' AND status = 'running' AND"
			   " attempt = 2");
	/* the audit: who, why, one id prefix per run */
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM operator_actions WHERE action = 'retry'"
		" AND by = 'it-bulk' AND reason = 'provider back'"), BULK_FAILED);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(DISTINCT substring(action_id FROM"
		" '^(op-[0-9a-f]{16})-[0-9]+$')) FROM operator_actions"), 2);
	v = orc_it_scene_value(&s,
		"SELECT count(*) FROM operator_actions WHERE action_id LIKE"
		" (SELECT substring(action_id FROM '^op-[0-9a-f]{16}-') FROM"
		" operator_actions ORDER BY id LIMIT 1) || '%%'");
	ck_assert_int_eq(atol(v), first);
	free(v);

	/* end the waiting ones at once, in bulk */
	{
		const char *args[] = {"cancel", "--where",
				      "definition_name = 'bulk_wait'",
				      "--no-compensate", "--json", NULL};

		cli_expect(&s, 0, "\"done\": 20", args);
	}
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM sagas WHERE definition_name ="
		" 'bulk_wait' AND status = 'cancelled'"), BULK_RUNNING);
	orc_it_scene_finish(&s);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(pause_patch_resume_skip),
		ORC_IT_CASE(retry_from_resolve_terminate),
		ORC_IT_CASE(pause_holds_timer_across_kill),
		ORC_IT_CASE(bulk_interrupt_and_rerun),
	};

	return orc_it_run_suite("operator", cases,
				sizeof(cases) / sizeof(cases[0]), 300);
}
