/*
 * test_engine_map.c - map steps in the engine: one command per item of an
 * array (engine_map.c), and the store's rows of their items (saga_row.h).
 *
 * The rig and its scripts are engine_testlib.h's ("start; reply m[0] m.ok
 * {'v':0}; wake"), where a history entry or a command of a map item
 * carries its index, "h:step.started[2]", "cmd:m[2]/action/1".  After
 * every input but in the large map the state goes through the store's
 * rows and back (orc_et_reload()), items included.
 *
 * Most tests use def_map() (DEF_FMT): a map step m over /input/items, a command
 * p beside it, and z after both:
 *
 *   m (map, retry on m.flaky, 10s timeout, compensation m.undo: 5s
 *      timeout, 2 attempts) --\
 *                              > z (fails with z.bad)
 *   p (compensation p.undo) --/
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "check_runner.h"
#include "engine.h"
#include "engine_testlib.h"
#include "jsonp.h"
#include "saga_row.h"

#define SAGA_ID "5a9a0000-0000-4000-8000-00000000000m"
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Five items s0 .. s4 (single quotes stand for double quotes). */
#define FIVE                                                                   \
	"{'id':'k1','conc':3,'items':[{'sku':'s0'},{'sku':'s1'},{'sku':'s2'},"  \
	"{'sku':'s3'},{'sku':'s4'}]}"

/* The definition, with map (a JSON object's members) for step m. */
#define DEF_FMT                                                                \
	"{'name':'mapped','version':1,"                                               \
	" 'trigger':{'topic':'in','type':'go','key':'/id'},"                          \
	" 'steps':["                                                                  \
	"  {'name':'m','map':{%s},"                                                   \
	"   'command':{'topic':'tm','type':'m.do',"                                   \
	"    'data':{'sku':'${/item/sku}','n':'${/index}','id':'${/input/id}'}},"     \
	"   'success':['m.ok'],'failure':['m.bad','m.flaky'],'timeout':'10s',"        \
	"   'retry':{'max_attempts':2,'backoff':'1s','on':['m.flaky']},"              \
	"   'compensation':{'topic':'tm','type':'m.undo',"                            \
	"    'data':{'sku':'${/item/sku}','n':'${/index}'},"                          \
	"    'success':['m.undone'],'failure':['m.stuck'],'timeout':'5s',"            \
	"    'retry':{'max_attempts':2,'backoff':'1s'}}},"                            \
	"  {'name':'p','command':{'topic':'tp','type':'p.do'},"                       \
	"   'success':['p.ok'],"                                                      \
	"   'compensation':{'topic':'tp','type':'p.undo',"                            \
	"    'success':['p.undone']}},"                                               \
	"  {'name':'z','needs':['m','p'],'command':{'topic':'tz','type':'z.do'},"     \
	"   'success':['z.ok'],'failure':['z.bad']}]}"

#define CONC2 "'items':'${/input/items}','max_concurrency':2"

static struct orc_definition *
def_map(const char *map)
{
	char text[4096];

	ck_assert_int_lt(snprintf(text, sizeof(text), DEF_FMT, map),
			 (int)sizeof(text));
	return orc_et_def(text);
}

/*
 * A map m alone before z, without a compensation or a timeout, and a
 * saga timeout of a minute: a saga that fails there ends failed, RETRY reruns it.
 */
static const char *const def_solo =
	"{'name':'solo','version':1,'timeout':'1m',"
	" 'trigger':{'topic':'in','type':'go','key':'/id'},"
	" 'steps':["
	"  {'name':'m','map':{'items':'${/input/items}','max_concurrency':2},"
	"   'command':{'topic':'tm','type':'m.do','data':{'n':'${/index}'}},"
	"   'success':['m.ok'],'failure':['m.bad']},"
	"  {'name':'z','needs':['m'],'command':{'topic':'tz','type':'z.do'},"
	"   'success':['z.ok']}]}";

/* ---- the rig (engine_testlib.h) ---- */

static const struct orc_et_setup setup = {
	.saga_id = SAGA_ID,
	.start_data = FIVE,
	.now = 1000,
	.reload = true,
};

static void
rig_init(struct orc_et_rig *r, const char *map)
{
	orc_et_rig_init(r, &setup, def_map(map));
}

/* Map step m (index 0) and its loaded item with index index. */
static struct orc_map_state *
map_m(struct orc_et_rig *r)
{
	ck_assert_ptr_nonnull(r->saga.steps[0].map);
	return r->saga.steps[0].map;
}

static struct orc_map_item *
item(struct orc_et_rig *r, int64_t index)
{
	struct orc_map_state *m = map_m(r);

	for (size_t k = 0; k < m->n; k++)
		if (m->items[k].index == index)
			return &m->items[k];
	ck_abort_msg("item %lld not loaded", (long long)index);
	return NULL;
}

/* The n-th command effect of the last apply. */
static const struct orc_effect *
nth_command(struct orc_et_rig *r, size_t nth)
{
	for (size_t i = 0; i < r->fx.n; i++)
		if (r->fx.v[i].kind == ORC_EFFECT_COMMAND && nth-- == 0)
			return &r->fx.v[i];
	ck_abort_msg("fewer commands than asked for: %s", r->got);
	return NULL;
}

static void
expect_counters(struct orc_et_rig *r, int64_t started, int64_t succeeded,
		int64_t failed, int64_t compensated)
{
	struct orc_map_state *m = map_m(r);

	ck_assert_int_eq(m->started, started);
	ck_assert_int_eq(m->succeeded, succeeded);
	ck_assert_int_eq(m->failed, failed);
	ck_assert_int_eq(m->compensated, compensated);
}

/* ---- starting: a table ---- */

struct start_row {
	const char *name;
	const char *map;
	const char *input;
	const char *effects; /* of START */
	const char *steps;   /* step statuses after */
	const char *reason;  /* saga.failure_reason, NULL = none */
	const char *result;  /* /steps/m, NULL = none */
};

static const struct start_row start_rows[] = {
	{"concurrency 2 sends two", CONC2, FIVE,
	 "h:saga.started ev:running h:step.started h:step.started[0] "
	 "cmd:m[0]/action/1 h:step.started[1] cmd:m[1]/action/1 "
	 "h:step.started cmd:p/action/1",
	 "m=running p=running z=pending", NULL, NULL},
	{"concurrency over the items sends all", 
	 "'items':'${/input/items}','max_concurrency':9",
	 "{'id':'k1','items':[1,2]}",
	 "h:saga.started ev:running h:step.started h:step.started[0] "
	 "cmd:m[0]/action/1 h:step.started[1] cmd:m[1]/action/1 "
	 "h:step.started cmd:p/action/1",
	 "m=running p=running z=pending", NULL, NULL},
	{"concurrency from the context",
	 "'items':'${/input/items}','max_concurrency':'${/input/conc}'", FIVE,
	 "h:saga.started ev:running h:step.started h:step.started[0] "
	 "cmd:m[0]/action/1 h:step.started[1] cmd:m[1]/action/1 "
	 "h:step.started[2] cmd:m[2]/action/1 h:step.started cmd:p/action/1",
	 "m=running p=running z=pending", NULL, NULL},
	{"empty array succeeds at once", CONC2, "{'id':'k1','items':[]}",
	 "h:saga.started ev:running h:step.started h:step.succeeded "
	 "h:step.started cmd:p/action/1",
	 "m=succeeded p=running z=pending", NULL, "[]"},
	{"items not an array fails the step", CONC2,
	 "{'id':'k1','items':{'a':1}}",
	 "h:saga.started ev:running h:step.failed h:saga.compensating "
	 "h:saga.failed ev:failed",
	 "m=failed p=pending z=pending",
	 "m: map items at /input/items are not an array", NULL},
	{"items missing fails the step", CONC2, "{'id':'k1'}",
	 "h:saga.started ev:running h:step.failed h:saga.compensating "
	 "h:saga.failed ev:failed",
	 "m=failed p=pending z=pending",
	 "m: map items at /input/items are missing", NULL},
	{"concurrency 0 from the context fails the step",
	 "'items':'${/input/items}','max_concurrency':'${/input/conc}'",
	 "{'id':'k1','conc':0,'items':[1]}",
	 "h:saga.started ev:running h:step.failed h:saga.compensating "
	 "h:saga.failed ev:failed",
	 "m=failed p=pending z=pending",
	 "m: max_concurrency at /input/conc is not an integer from 1 to 1000",
	 NULL},
	{"concurrency text from the context fails the step",
	 "'items':'${/input/items}','max_concurrency':'${/input/conc}'",
	 "{'id':'k1','conc':'2','items':[1]}",
	 "h:saga.started ev:running h:step.failed h:saga.compensating "
	 "h:saga.failed ev:failed",
	 "m=failed p=pending z=pending",
	 "m: max_concurrency at /input/conc is not an integer from 1 to 1000",
	 NULL},
	{"concurrency over the bound fails the step",
	 "'items':'${/input/items}','max_concurrency':'${/input/conc}'",
	 "{'id':'k1','conc':1001,'items':[1]}",
	 "h:saga.started ev:running h:step.failed h:saga.compensating "
	 "h:saga.failed ev:failed",
	 "m=failed p=pending z=pending",
	 "m: max_concurrency at /input/conc is not an integer from 1 to 1000",
	 NULL},
};

START_TEST(test_start_table)
{
	const struct start_row *row = &start_rows[_i];
	struct orc_et_rig r;
	char cmd[1024];

	rig_init(&r, row->map);
	snprintf(cmd, sizeof(cmd), "start %s", row->input);
	ck_assert_msg(orc_et_command(&r, cmd) == ORC_OK, "%s: %s", row->name,
		      r.err.message);
	ck_assert_msg(strcmp(r.got, row->effects) == 0, "%s:\n got  %s\n want %s",
		      row->name, r.got, row->effects);
	ck_assert_msg(strcmp(orc_et_steps(&r), row->steps) == 0, "%s: %s",
		      row->name, orc_et_steps(&r));
	if (row->reason != NULL)
		ck_assert_msg(r.saga.failure_reason != NULL &&
				  strcmp(r.saga.failure_reason, row->reason) ==
				      0,
			      "%s: reason %s", row->name,
			      r.saga.failure_reason ? r.saga.failure_reason
						    : "(none)");
	else
		ck_assert_ptr_null(r.saga.failure_reason);
	if (row->result != NULL)
		orc_et_expect_at(&r, "/steps/m", row->result);
	orc_et_rig_finish(&r);
}
END_TEST

/* min_success from the definition: how many of 5 must succeed. */
START_TEST(test_min_success_bound)
{
	static const struct {
		const char *map;
		int64_t n;
	} cases[] = {
		{CONC2, 5},
		{CONC2 ",'min_success':3", 3},
		{CONC2 ",'min_success':9", 5},
		{CONC2 ",'min_success':0.5", 3},
		{CONC2 ",'min_success':0.4", 2},
		{CONC2 ",'min_success':1.0", 5},
		{CONC2 ",'min_success':0.01", 1},
	};

	for (size_t c = 0; c < COUNT(cases); c++) {
		struct orc_et_rig r;

		rig_init(&r, cases[c].map);
		orc_et_script(&r, "start");
		ck_assert_msg(map_m(&r)->min_success == cases[c].n,
			      "%s: %lld", cases[c].map,
			      (long long)map_m(&r)->min_success);
		orc_et_rig_finish(&r);
	}
}
END_TEST

/* ---- running ---- */

START_TEST(test_happy_path)
{
	struct orc_et_rig r;
	const struct orc_effect *e;
	char *data;

	rig_init(&r, CONC2);
	orc_et_script(&r, "start");
	e = nth_command(&r, 0);
	ck_assert_int_eq(e->item, 0);
	ck_assert_str_eq(e->step_name, "m");
	ck_assert_str_eq(e->message_id, SAGA_ID "/m[0]/action/1");
	ck_assert_str_eq(e->topic, "tm");
	ck_assert_str_eq(e->type, "m.do");
	data = json_dumps(e->data, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(data, "{\"id\":\"k1\",\"n\":0,\"sku\":\"s0\"}");
	free(data);
	e = nth_command(&r, 1);
	ck_assert_int_eq(e->item, 1);
	ck_assert_str_eq(e->message_id, SAGA_ID "/m[1]/action/1");
	data = json_dumps(e->data, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(data, "{\"id\":\"k1\",\"n\":1,\"sku\":\"s1\"}");
	free(data);
	ck_assert_int_eq(nth_command(&r, 2)->item, -1);
	expect_counters(&r, 2, 0, 0, 0);

	/* every success starts the next; replies out of order */
	orc_et_expect(
		&r, "reply m[0] m.ok {'v':0}",
		"h:step.succeeded[0] h:step.started[2] cmd:m[2]/action/1");
	e = nth_command(&r, 0);
	ck_assert_str_eq(e->message_id, SAGA_ID "/m[2]/action/1");
	ck_assert_int_eq(e->item, 2);
	orc_et_expect(
		&r, "reply m[2] m.ok {'v':2}",
		"h:step.succeeded[2] h:step.started[3] cmd:m[3]/action/1");
	orc_et_expect(
		&r, "reply m[3] m.ok {'v':3}",
		"h:step.succeeded[3] h:step.started[4] cmd:m[4]/action/1");
	orc_et_expect(&r, "reply m[4] m.ok {'v':4}", "h:step.succeeded[4]");
	orc_et_expect(&r, "reply p p.ok", "h:step.succeeded");
	expect_counters(&r, 5, 4, 0, 0);
	ck_assert_ptr_null(orc_jsonp_get(r.saga.context, "/steps/m"));
	orc_et_expect(&r, "reply m[1] m.ok {'v':1}",
		      "h:step.succeeded[1] h:step.succeeded h:step.started "
		      "cmd:z/action/1");
	orc_et_expect_at(&r, "/steps/m",
			 "[{'v':0},{'v':1},{'v':2},{'v':3},{'v':4}]");
	expect_counters(&r, 5, 5, 0, 0);
	orc_et_expect(&r, "reply z z.ok",
		      "h:step.succeeded h:saga.completed ev:completed");
	orc_et_expect_status(&r, "completed",
			     "m=succeeded p=succeeded z=succeeded");
	orc_et_rig_finish(&r);
}
END_TEST

/* /item is the whole element, /index its position. */
START_TEST(test_item_and_index_rendered)
{
	static const char *const map =
		"'items':'${/input/items}','max_concurrency':3";
	struct orc_et_rig r;
	char *data;

	rig_init(&r, map);
	orc_et_script(&r,
		      "start {'id':'k1','items':[{'sku':'a'},{'sku':'b'},{}]}");
	for (size_t k = 0; k < 3; k++) {
		const struct orc_effect *e = nth_command(&r, k);
		char want[128];

		ck_assert_int_eq(e->item, (int64_t)k);
		data = json_dumps(e->data, JSON_COMPACT | JSON_SORT_KEYS);
		if (k < 2)
			snprintf(want, sizeof(want),
				 "{\"id\":\"k1\",\"n\":%zu,\"sku\":\"%c\"}", k,
				 (char)('a' + k));
		else
			/* a member the element lacks renders as null */
			snprintf(want, sizeof(want),
				 "{\"id\":\"k1\",\"n\":2,\"sku\":null}");
		ck_assert_str_eq(data, want);
		free(data);
	}
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_item_retry_timeout_attempts)
{
	struct orc_et_rig r;

	rig_init(&r, CONC2);
	orc_et_script(&r, "start; at 1500");
	/* a retryable failure: a backoff on the item, then attempt 2 */
	orc_et_expect(&r, "reply m[0] m.flaky", "h:step.retry_scheduled[0]");
	ck_assert_int_eq(item(&r, 0)->st.wake_reason, ORC_WAKE_RETRY);
	ck_assert_int_eq(item(&r, 0)->st.wake_ms, 2500);
	ck_assert_int_eq(r.saga.wake_ms, 2500);
	orc_et_expect(&r, "reply m[0] m.flaky", "h:reply.ignored[0](late)");
	orc_et_expect(&r, "wake", "h:step.started[0] cmd:m[0]/action/2");
	ck_assert_str_eq(nth_command(&r, 0)->message_id,
			 SAGA_ID "/m[0]/action/2");
	ck_assert_int_eq(item(&r, 0)->st.wake_reason, ORC_WAKE_TIMEOUT);
	ck_assert_int_eq(item(&r, 0)->st.wake_ms, 12500);
	/* item 1 times out at 11000: its retry */
	orc_et_expect(&r, "wake",
		      "h:step.timed_out[1] h:step.retry_scheduled[1]");
	ck_assert_int_eq(r.now, 11000);
	orc_et_expect(&r, "wake", "h:step.started[1] cmd:m[1]/action/2");
	/* attempt 2 of item 0 fails: the item fails, and with it the map */
	orc_et_expect(&r, "reply m[0] m.flaky",
		      "h:step.failed[0] h:step.failed h:saga.compensating");
	ck_assert_str_eq(item(&r, 0)->st.last_error, "m.flaky");
	ck_assert_str_eq(r.saga.failure_reason,
			 "m: 1 of 5 items failed, at least 5 must succeed; "
			 "m[0]: m.flaky");
	orc_et_expect_status(&r, "compensating",
			     "m=failed p=running z=pending");
	expect_counters(&r, 2, 0, 1, 0);
	/* item 1 is awaited, without further retries */
	orc_et_expect(&r, "wake", "h:step.timed_out[1] h:step.failed[1]");
	ck_assert_int_eq(r.now, 22000);
	orc_et_expect(
		&r, "reply p p.ok",
		"h:step.succeeded h:compensation.started cmd:p/compensation/1");
	orc_et_expect(
		&r, "reply p p.undone",
		"h:compensation.succeeded h:saga.compensated ev:compensated");
	expect_counters(&r, 2, 0, 2, 0);
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_min_success_fraction_completes)
{
	struct orc_et_rig r;

	rig_init(&r, CONC2 ",'min_success':0.5");
	orc_et_script(&r, "start; reply p p.ok");
	orc_et_expect(&r, "reply m[0] m.bad {'no':0}",
		      "h:step.failed[0] h:step.started[2] cmd:m[2]/action/1");
	orc_et_expect(
		&r, "reply m[1] m.ok {'v':1}",
		"h:step.succeeded[1] h:step.started[3] cmd:m[3]/action/1");
	orc_et_expect(&r, "reply m[2] m.bad",
		      "h:step.failed[2] h:step.started[4] cmd:m[4]/action/1");
	orc_et_expect(&r, "reply m[3] m.ok {'v':3}", "h:step.succeeded[3]");
	orc_et_expect(&r, "reply m[4] m.ok {'v':4}",
		      "h:step.succeeded[4] h:step.succeeded h:step.started "
		      "cmd:z/action/1");
	/* a failed item is null in the result */
	orc_et_expect_at(&r, "/steps/m", "[null,{'v':1},null,{'v':3},{'v':4}]");
	expect_counters(&r, 5, 3, 2, 0);
	orc_et_rig_finish(&r);
}
END_TEST

/*
 * min_success 3 of 5: the third failure makes it unreachable.  No item
 * starts any more, the one in flight is awaited, then the saga
 * compensates: p (completed later) first, then the map's item.
 */
START_TEST(test_min_success_unreachable)
{
	struct orc_et_rig r;

	rig_init(&r, CONC2 ",'min_success':3");
	orc_et_script(&r, "start");
	orc_et_expect(&r, "reply m[0] m.bad",
		      "h:step.failed[0] h:step.started[2] cmd:m[2]/action/1");
	orc_et_expect(&r, "reply m[2] m.bad",
		      "h:step.failed[2] h:step.started[3] cmd:m[3]/action/1");
	orc_et_expect(&r, "reply m[3] m.bad",
		      "h:step.failed[3] h:step.failed h:saga.compensating");
	orc_et_expect_status(&r, "compensating",
			     "m=failed p=running z=pending");
	expect_counters(&r, 4, 0, 3, 0);
	ck_assert_str_eq(r.saga.failure_reason,
			 "m: 3 of 5 items failed, at least 3 must succeed; "
			 "m[3]: m.bad");
	orc_et_expect(&r, "reply m[1] m.ok {'v':1}", "h:step.succeeded[1]");
	expect_counters(&r, 4, 1, 3, 0);
	orc_et_expect(
		&r, "reply p p.ok",
		"h:step.succeeded h:compensation.started cmd:p/compensation/1");
	orc_et_expect(&r, "reply p p.undone",
		      "h:compensation.succeeded h:compensation.started[1] "
		      "cmd:m[1]/compensation/1");
	ck_assert_str_eq(nth_command(&r, 0)->message_id,
			 SAGA_ID "/m[1]/compensation/1");
	orc_et_expect(&r, "reply m[1] m.undone",
		      "h:compensation.succeeded[1] h:compensation.succeeded "
		      "h:saga.compensated ev:compensated");
	orc_et_expect_status(&r, "compensated",
			     "m=compensated p=compensated "
			     "z=pending");
	expect_counters(&r, 4, 1, 3, 1);
	orc_et_rig_finish(&r);
}
END_TEST

/*
 * The map succeeded, z fails: the items are undone latest completion
 * first, two at a time, the map before p (its last item completed after
 * p), then p.
 */
#define S_MAP_DONE                                                             \
	"start; reply m[0] m.ok {'v':0}; reply m[1] m.ok {'v':1};"             \
	" reply p p.ok; reply m[3] m.ok {'v':3}; reply m[2] m.ok {'v':2};"     \
	" reply m[4] m.ok {'v':4}"

START_TEST(test_succeeded_map_compensated)
{
	struct orc_et_rig r;
	char *data;

	rig_init(&r, CONC2);
	orc_et_script(&r, S_MAP_DONE);
	orc_et_expect_status(&r, "running",
			     "m=succeeded p=succeeded z=running");
	orc_et_expect(
		&r, "reply z z.bad",
		"h:step.failed h:saga.compensating h:compensation.started[4] "
		"cmd:m[4]/compensation/1 h:compensation.started[2] "
		"cmd:m[2]/compensation/1");
	data = json_dumps(nth_command(&r, 0)->data,
			  JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(data, "{\"n\":4,\"sku\":\"s4\"}");
	free(data);
	orc_et_expect_status(&r, "compensating",
			     "m=compensating p=succeeded "
			     "z=failed");
	orc_et_expect(&r, "reply m[2] m.undone",
		      "h:compensation.succeeded[2] h:compensation.started[3] "
		      "cmd:m[3]/compensation/1");
	orc_et_expect(&r, "reply m[4] m.undone",
		      "h:compensation.succeeded[4] h:compensation.started[1] "
		      "cmd:m[1]/compensation/1");
	orc_et_expect(&r, "reply m[3] m.undone",
		      "h:compensation.succeeded[3] h:compensation.started[0] "
		      "cmd:m[0]/compensation/1");
	orc_et_expect(&r, "reply m[3] m.undone",
		      "h:reply.ignored[3](duplicate)");
	orc_et_expect(&r, "reply m[1] m.undone", "h:compensation.succeeded[1]");
	orc_et_expect(&r, "reply m[0] m.undone",
		      "h:compensation.succeeded[0] h:compensation.succeeded "
		      "h:compensation.started cmd:p/compensation/1");
	expect_counters(&r, 5, 5, 0, 5);
	orc_et_expect(
		&r, "reply p p.undone",
		"h:compensation.succeeded h:saga.compensated ev:compensated");
	orc_et_rig_finish(&r);
}
END_TEST

/* p completed after the map's last item: p is undone first. */
START_TEST(test_map_ordered_by_last_item)
{
	struct orc_et_rig r;

	rig_init(&r, CONC2);
	orc_et_script(
		&r, "start; reply m[0] m.ok; reply m[1] m.ok; reply m[2] m.ok;"
		    " reply m[3] m.ok; reply m[4] m.ok; reply p p.ok");
	orc_et_expect(
		&r, "reply z z.bad",
		"h:step.failed h:saga.compensating h:compensation.started "
		"cmd:p/compensation/1");
	orc_et_expect(&r, "reply p p.undone",
		      "h:compensation.succeeded h:compensation.started[4] "
		      "cmd:m[4]/compensation/1 h:compensation.started[3] "
		      "cmd:m[3]/compensation/1");
	orc_et_rig_finish(&r);
}
END_TEST

/* An item's compensation gives up: stuck; RETRY resends it. */
START_TEST(test_item_compensation_stuck_retry)
{
	struct orc_et_rig r;

	rig_init(&r, CONC2);
	orc_et_script(&r, S_MAP_DONE "; reply z z.bad");
	orc_et_expect(&r, "reply m[4] m.stuck",
		      "h:compensation.retry_scheduled[4]");
	orc_et_expect(&r, "wake",
		      "h:compensation.started[4] cmd:m[4]/compensation/2");
	orc_et_expect(&r, "reply m[4] m.stuck",
		      "h:compensation.failed[4] h:saga.stuck ev:stuck");
	orc_et_expect_status(&r, "stuck",
			     "m=compensating p=succeeded z=failed");
	ck_assert_str_eq(r.saga.failure_reason,
			 "compensation of m[4] failed: m.stuck (2 attempts)");
	/* stuck: no timer runs on, item 2's timeout neither */
	ck_assert_int_eq(item(&r, 2)->st.status, ORC_STEP_COMPENSATING);
	ck_assert_int_eq(item(&r, 2)->st.wake_ms, 0);
	ck_assert_int_eq(r.saga.wake_ms, 0);
	/* item 2's compensation is still in flight, and may finish */
	orc_et_expect(&r, "reply m[2] m.undone", "h:compensation.succeeded[2]");
	orc_et_expect_status(&r, "stuck",
			     "m=compensating p=succeeded z=failed");
	/* stuck: nothing new starts */
	ck_assert_int_eq(item(&r, 3)->st.status, ORC_STEP_SUCCEEDED);
	/* item 4 again (attempt 3), and item 3 beside it */
	orc_et_script(&r, "retry");
	ck_assert_msg(strstr(r.got, "h:compensation.started[4] "
				    "cmd:m[4]/compensation/3 "
				    "h:compensation.started[3] "
				    "cmd:m[3]/compensation/1") != NULL,
		      "%s", r.got);
	ck_assert_str_eq(orc_saga_status_name(r.saga.status), "compensating");
	orc_et_expect(&r, "reply m[4] m.undone",
		      "h:compensation.succeeded[4] h:compensation.started[1] "
		      "cmd:m[1]/compensation/1");
	orc_et_script(&r, "reply m[3] m.undone; reply m[1] m.undone");
	orc_et_expect(&r, "reply m[0] m.undone",
		      "h:compensation.succeeded[0] h:compensation.succeeded "
		      "h:compensation.started cmd:p/compensation/1");
	orc_et_rig_finish(&r);
}
END_TEST

/* RESOLVE of the map step: its stuck item counts as undone. */
START_TEST(test_item_compensation_stuck_resolve)
{
	struct orc_et_rig r;

	rig_init(&r, CONC2);
	orc_et_script(&r,
		      S_MAP_DONE "; reply z z.bad; reply m[4] m.stuck; wake;"
				 " reply m[4] m.stuck");
	orc_et_expect_status(&r, "stuck",
			     "m=compensating p=succeeded z=failed");
	orc_et_script(&r, "resolve m");
	/* item 2, without a timer since the saga stuck, is settled too */
	ck_assert_msg(strstr(r.got, "h:compensation.succeeded[2] "
				    "h:compensation.succeeded[4] "
				    "h:compensation.started[3] "
				    "cmd:m[3]/compensation/1 "
				    "h:compensation.started[1] "
				    "cmd:m[1]/compensation/1") != NULL,
		      "%s", r.got);
	ck_assert_str_eq(item(&r, 4)->st.status == ORC_STEP_COMPENSATED
				 ? "compensated"
				 : "not",
			 "compensated");
	orc_et_expect_status(&r, "compensating",
			     "m=compensating p=succeeded "
			     "z=failed");
	orc_et_expect(&r, "reply m[2] m.undone",
		      "h:reply.ignored[2](duplicate)");
	orc_et_script(
		&r,
		"reply m[3] m.undone;"
		" reply m[1] m.undone; reply m[0] m.undone; reply p p.undone");
	orc_et_expect_status(&r, "compensated",
			     "m=compensated p=compensated "
			     "z=failed");
	expect_counters(&r, 5, 5, 0, 5);
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_replies)
{
	struct orc_et_rig r;

	rig_init(&r, CONC2);
	orc_et_script(&r, "start");
	/* an item not started yet, an index past the array */
	orc_et_expect(&r, "reply m[3] m.ok",
		      "h:reply.ignored[3](unknown_step)");
	orc_et_expect(&r, "reply m[99] m.ok",
		      "h:reply.ignored[99](unknown_step)");
	/* the map step without an index, malformed ones, a plain step's */
	orc_et_expect(&r, "reply m m.ok", "h:reply.ignored(unknown_step)");
	orc_et_expect(&r, "reply m[] m.ok", "h:reply.ignored(unknown_step)");
	orc_et_expect(&r, "reply m[-1] m.ok", "h:reply.ignored(unknown_step)");
	orc_et_expect(&r, "reply m[1]x m.ok", "h:reply.ignored(unknown_step)");
	orc_et_expect(&r, "reply m[x] m.ok", "h:reply.ignored(unknown_step)");
	orc_et_expect(&r, "reply p[0] p.ok", "h:reply.ignored(unknown_step)");
	orc_et_expect(&r, "reply m[0] m.what",
		      "h:reply.ignored[0](unexpected_type)");
	expect_counters(&r, 2, 0, 0, 0);
	/* a redelivered reply is a no-op */
	orc_et_expect(
		&r, "replyid r1 m[0] m.ok {'v':0}",
		"h:step.succeeded[0] h:step.started[2] cmd:m[2]/action/1");
	ck_assert_int_eq(r.fx.result, ORC_RESULT_APPLIED);
	orc_et_expect(&r, "replyid r1 m[0] m.ok {'v':0}", "");
	ck_assert_int_eq(r.fx.result, ORC_RESULT_DUPLICATE);
	/* the same id for another item is that item's */
	orc_et_expect(&r, "replyid r1 m[1] m.bad",
		      "h:step.failed[1] h:step.failed "
		      "h:saga.compensating");
	/* without an id: a second success is a duplicate, a failure late */
	orc_et_expect(&r, "reply m[0] m.ok", "h:reply.ignored[0](duplicate)");
	orc_et_expect(&r, "reply m[0] m.bad", "h:reply.ignored[0](late)");
	expect_counters(&r, 3, 1, 1, 0);
	orc_et_rig_finish(&r);
}
END_TEST

/* ---- the store's rows: partial loading ---- */

/*
 * Rebuild the saga from its rows with, for map step 0, only the loaded
 * items keep selects, and (stored not NULL) the rows of stored's items
 * that the saga does not hold, as written earlier: what the store does.
 * complete as given.
 */
static void
reload_partial(struct orc_et_rig *r, const struct orc_saga *stored,
	       bool (*keep)(const struct orc_map_item *), bool complete)
{
	struct orc_saga_row row;
	struct orc_step_row steps[8];
	struct orc_item_row items[64];
	struct orc_saga fresh;
	struct orc_error err;
	size_t n = 0;
	const struct orc_map_state *m = map_m(r);

	ck_assert_uint_le(r->saga.n_steps, COUNT(steps));
	ck_assert_int_eq(orc_saga_to_row(&r->saga, &row), ORC_OK);
	for (size_t i = 0; i < r->saga.n_steps; i++)
		orc_saga_step_to_row(&r->saga, i, &steps[i]);
	for (size_t k = 0; k < m->n; k++)
		if (keep(&m->items[k])) {
			ck_assert_uint_lt(n, COUNT(items));
			orc_saga_item_to_row(&r->saga, 0, k, &items[n++]);
		}
	for (size_t k = 0; stored != NULL && k < stored->steps[0].map->n;
	     k++) {
		bool held = false;

		for (size_t j = 0; j < m->n; j++)
			if (m->items[j].index ==
			    stored->steps[0].map->items[k].index)
				held = true;
		if (!held) {
			ck_assert_uint_lt(n, COUNT(items));
			orc_saga_item_to_row(stored, 0, k, &items[n++]);
		}
	}
	ck_assert_int_eq(orc_saga_from_rows(&fresh, r->def, &row, steps,
					    r->saga.n_steps, &err),
			 ORC_OK);
	ck_assert_msg(orc_saga_add_items(&fresh, 0, items, n, complete,
					 &err) == ORC_OK,
		      "%s", err.message);
	orc_saga_row_finish(&row);
	orc_saga_finish(&r->saga);
	r->saga = fresh;
}

static bool
keep_in_flight(const struct orc_map_item *it)
{
	return it->st.status == ORC_STEP_RUNNING ||
	       it->st.status == ORC_STEP_COMPENSATING;
}

static bool
keep_all(const struct orc_map_item *it)
{
	(void)it;
	return true;
}

START_TEST(test_partial_load_completes_by_timer)
{
	struct orc_et_rig r;
	struct orc_saga all;
	int64_t at;

	rig_init(&r, CONC2);
	ck_assert_int_eq(orc_saga_map_load(&r.saga, 0), ORC_MAP_LOAD_NONE);
	orc_et_script(&r, "start; reply p p.ok");
	/* several items left: the store loads those in flight */
	ck_assert_int_eq(orc_saga_map_load(&r.saga, 0),
			 ORC_MAP_LOAD_IN_FLIGHT);
	orc_et_script(&r, "reply m[0] m.ok {'v':0}; reply m[1] m.ok {'v':1};"
			  " reply m[2] m.ok {'v':2}");
	ck_assert_int_eq(orc_saga_map_load(&r.saga, 0),
			 ORC_MAP_LOAD_IN_FLIGHT);
	orc_et_expect(&r, "reply m[3] m.ok {'v':3}", "h:step.succeeded[3]");
	/* every item started, one left: the store loads all */
	ck_assert_int_eq(orc_saga_map_load(&r.saga, 0), ORC_MAP_LOAD_ALL);

	/* ... but suppose it loaded only item 4, in flight */
	ck_assert_int_eq(orc_saga_copy(&all, &r.saga), ORC_OK);
	reload_partial(&r, NULL, keep_in_flight, false);
	ck_assert_uint_eq(map_m(&r)->n, 1);
	ck_assert(!map_m(&r)->complete);
	/* a reply to an item not loaded, finished: late */
	r.reload = false;
	orc_et_expect(&r, "reply m[1] m.ok", "h:reply.ignored[1](late)");
	r.now = at = 5000;
	orc_et_expect(&r, "reply m[4] m.ok {'v':4}", "h:step.succeeded[4]");
	/* the map cannot complete: it asks for its items, due now */
	orc_et_expect_status(&r, "running", "m=running p=succeeded z=pending");
	ck_assert_int_eq(r.saga.steps[0].wake_reason, ORC_WAKE_MAP_LOAD);
	ck_assert_int_eq(r.saga.steps[0].wake_ms, at);
	ck_assert_int_eq(r.saga.wake_ms, at);
	ck_assert_int_eq(r.fx.wake_ms, at);
	ck_assert_int_eq(orc_saga_map_load(&r.saga, 0), ORC_MAP_LOAD_ALL);
	expect_counters(&r, 5, 5, 0, 0);

	/* the store loads every item, complete; the timer completes it */
	reload_partial(&r, &all, keep_all, true);
	ck_assert(map_m(&r)->complete);
	r.reload = true;
	orc_et_expect(&r, "timer",
		      "h:step.succeeded h:step.started cmd:z/action/1");
	orc_et_expect_at(&r, "/steps/m",
			 "[{'v':0},{'v':1},{'v':2},{'v':3},{'v':4}]");
	ck_assert_int_eq(r.saga.steps[0].wake_reason, ORC_WAKE_NONE);
	ck_assert_int_eq(orc_saga_map_load(&r.saga, 0), ORC_MAP_LOAD_NONE);
	orc_saga_finish(&all);
	orc_et_rig_finish(&r);
}
END_TEST

/*
 * Compensating with only the items in flight loaded: the map asks for
 * the succeeded ones when it has none to undo.
 */
START_TEST(test_partial_load_compensation)
{
	struct orc_et_rig r;
	struct orc_saga all;

	rig_init(&r, CONC2);
	orc_et_script(&r, S_MAP_DONE);
	ck_assert_int_eq(orc_saga_map_load(&r.saga, 0), ORC_MAP_LOAD_NONE);
	orc_et_script(&r, "reply z z.bad");
	ck_assert_int_eq(orc_saga_map_load(&r.saga, 0), ORC_MAP_LOAD_UNDO);
	r.reload = false;
	ck_assert_int_eq(orc_saga_copy(&all, &r.saga), ORC_OK);
	reload_partial(&r, NULL, keep_in_flight, false);
	ck_assert_uint_eq(map_m(&r)->n, 2);
	r.now = 3000;
	orc_et_expect(&r, "reply m[4] m.undone", "h:compensation.succeeded[4]");
	ck_assert_int_eq(r.saga.steps[0].wake_reason, ORC_WAKE_MAP_LOAD);
	ck_assert_int_eq(r.saga.steps[0].wake_ms, 3000);
	ck_assert_int_eq(orc_saga_map_load(&r.saga, 0), ORC_MAP_LOAD_ALL);
	reload_partial(&r, &all, keep_all, true);
	orc_saga_finish(&all);
	r.reload = true;
	orc_et_expect(&r, "timer",
		      "h:compensation.started[3] "
		      "cmd:m[3]/compensation/1");
	ck_assert_int_eq(r.saga.steps[0].wake_reason, ORC_WAKE_NONE);
	orc_et_script(&r, "reply m[2] m.undone; reply m[3] m.undone;"
			  " reply m[1] m.undone; reply m[0] m.undone");
	/* all undone, nothing in flight: nothing of it to load */
	orc_et_expect_status(&r, "compensating",
			     "m=compensated p=compensating "
			     "z=failed");
	ck_assert_int_eq(orc_saga_map_load(&r.saga, 0), ORC_MAP_LOAD_NONE);
	orc_et_rig_finish(&r);
}
END_TEST

/* The row codec refuses item rows that do not fit the map. */
START_TEST(test_item_rows_rejected)
{
	struct orc_et_rig r;
	struct orc_item_row ir;
	struct orc_error err;

	rig_init(&r, CONC2);
	orc_et_script(&r, "start");
	orc_saga_item_to_row(&r.saga, 0, 0, &ir);
	/* given twice */
	ck_assert_int_eq(orc_saga_add_items(&r.saga, 0, &ir, 1, true, &err),
			 ORC_INVALID);
	ir.index = 2; /* not started */
	ck_assert_int_eq(orc_saga_add_items(&r.saga, 0, &ir, 1, true, &err),
			 ORC_INVALID);
	ir.index = 1;
	ir.status = "runnin";
	ck_assert_int_eq(orc_saga_add_items(&r.saga, 0, &ir, 1, true, &err),
			 ORC_INVALID);
	/* step p has no map state */
	ck_assert_int_eq(orc_saga_add_items(&r.saga, 1, &ir, 1, true, &err),
			 ORC_INVALID);
	orc_et_rig_finish(&r);
}
END_TEST

/* ---- operators ---- */

START_TEST(test_pause_resume_shifts_item_timers)
{
	struct orc_et_rig r;

	rig_init(&r, CONC2);
	orc_et_script(&r, "start; reply m[0] m.flaky; at 1500; pause");
	ck_assert_int_eq(r.saga.wake_ms, 0);
	ck_assert_int_eq(item(&r, 0)->st.wake_ms, 2000);
	ck_assert_int_eq(item(&r, 1)->st.wake_ms, 11000);
	orc_et_expect(&r, "reply m[1] m.ok {'v':1}", "h:step.succeeded[1]");
	/* paused: the next item waits */
	expect_counters(&r, 2, 1, 0, 0);
	orc_et_script(&r, "at 11500");
	orc_et_expect(&r, "timer", "h:timer.ignored(not_allowed)");
	orc_et_script(&r, "resume");
	ck_assert_int_eq(item(&r, 0)->st.wake_ms, 12000);
	ck_assert_int_eq(item(&r, 0)->st.wake_reason, ORC_WAKE_RETRY);
	ck_assert_int_eq(r.saga.wake_ms, 12000);
	ck_assert_msg(strstr(r.got, "cmd:m[2]/action/1") != NULL, "%s", r.got);
	orc_et_expect(&r, "wake", "h:step.started[0] cmd:m[0]/action/2");
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_cancel_with_items_in_flight)
{
	struct orc_et_rig r;

	rig_init(&r, CONC2);
	orc_et_script(&r, "start; reply m[0] m.ok {'v':0}; reply m[2] m.flaky");
	/* item 1 in flight, item 2 in backoff: that one is aborted */
	orc_et_expect(
		&r, "cancel",
		"h:operator.cancel h:saga.compensating h:step.aborted[2]");
	orc_et_expect_status(&r, "compensating",
			     "m=running p=running z=pending");
	ck_assert_int_eq(item(&r, 2)->st.status, ORC_STEP_FAILED);
	orc_et_expect(&r, "reply m[1] m.ok {'v':1}",
		      "h:step.succeeded[1] h:step.aborted");
	orc_et_expect_status(&r, "compensating",
			     "m=failed p=running z=pending");
	expect_counters(&r, 3, 2, 1, 0);
	orc_et_expect(&r, "reply p p.bad", "h:reply.ignored(unexpected_type)");
	orc_et_expect(
		&r, "reply p p.ok",
		"h:step.succeeded h:compensation.started cmd:p/compensation/1");
	orc_et_expect(&r, "reply p p.undone",
		      "h:compensation.succeeded h:compensation.started[1] "
		      "cmd:m[1]/compensation/1 h:compensation.started[0] "
		      "cmd:m[0]/compensation/1");
	orc_et_script(&r, "reply m[0] m.undone");
	orc_et_expect(&r, "reply m[1] m.undone",
		      "h:compensation.succeeded[1] h:compensation.succeeded "
		      "h:saga.cancelled ev:cancelled");
	expect_counters(&r, 3, 2, 1, 2);
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_skip_running_map)
{
	struct orc_et_rig r;

	rig_init(&r, CONC2);
	orc_et_script(&r, "start; reply m[0] m.ok {'v':0}; reply p p.ok");
	orc_et_script(&r, "skip m {'by':'hand'}");
	orc_et_expect_status(&r, "running",
			     "m=succeeded p=succeeded z=running");
	orc_et_expect_at(&r, "/steps/m", "{'by':'hand'}");
	/* the items in flight are not awaited any more */
	ck_assert_int_eq(item(&r, 1)->st.status, ORC_STEP_FAILED);
	ck_assert_int_eq(item(&r, 2)->st.status, ORC_STEP_FAILED);
	ck_assert_int_eq(item(&r, 1)->st.wake_ms, 0);
	for (size_t k = 0; k < map_m(&r)->n; k++)
		ck_assert(map_m(&r)->items[k].st.status != ORC_STEP_RUNNING);
	orc_et_expect(&r, "reply m[1] m.ok", "h:reply.ignored[1](late)");
	/* its succeeded item is undone when the saga fails */
	orc_et_expect(&r, "reply z z.bad",
		      "h:step.failed h:saga.compensating"
		      " h:compensation.started[0] "
		      "cmd:m[0]/compensation/1");
	orc_et_rig_finish(&r);
}
END_TEST

/* RETRY of a failed saga runs the map afresh: run 2, ids of their own. */
START_TEST(test_retry_reruns_map)
{
	struct orc_et_rig r;

	orc_et_rig_init(&r, &setup, orc_et_def(def_solo));
	orc_et_script(&r, "start {'id':'k1','items':['a','b','c']};"
			  " reply m[0] m.ok {'v':0}");
	orc_et_expect(&r, "reply m[1] m.bad",
		      "h:step.failed[1] h:step.failed "
		      "h:saga.compensating");
	/* item 0 succeeded, but m has no compensation: nothing to undo */
	ck_assert_int_eq(orc_saga_map_load(&r.saga, 0),
			 ORC_MAP_LOAD_IN_FLIGHT);
	orc_et_expect(&r, "reply m[2] m.ok",
		      "h:step.succeeded[2] h:saga.failed "
		      "ev:failed");
	orc_et_expect_status(&r, "failed", "m=failed z=pending");
	expect_counters(&r, 3, 2, 1, 0);
	orc_et_script(&r, "retry");
	ck_assert_msg(strstr(r.got, "h:step.started h:step.started[0] "
				    "cmd:m[0]/action/1 h:step.started[1] "
				    "cmd:m[1]/action/1") != NULL,
		      "%s", r.got);
	ck_assert_str_eq(nth_command(&r, 0)->message_id,
			 SAGA_ID "/m[0]#2/action/1");
	ck_assert_int_eq(map_m(&r)->run, 2);
	expect_counters(&r, 2, 0, 0, 0);
	ck_assert_uint_eq(map_m(&r)->n, 2);
	/* a reply of the first run's item 2 finds it not started */
	orc_et_expect(&r, "reply m[2] m.ok",
		      "h:reply.ignored[2](unknown_step)");
	orc_et_expect(
		&r, "reply m[0] m.ok {'w':0}",
		"h:step.succeeded[0] h:step.started[2] cmd:m[2]/action/1");
	orc_et_expect(&r, "reply m[1] m.ok {'w':1}", "h:step.succeeded[1]");
	orc_et_expect(&r, "reply m[2] m.ok {'w':2}",
		      "h:step.succeeded[2] h:step.succeeded h:step.started "
		      "cmd:z/action/1");
	orc_et_expect_status(&r, "running", "m=succeeded z=running");
	orc_et_expect_at(&r, "/steps/m", "[{'w':0},{'w':1},{'w':2}]");
	orc_et_rig_finish(&r);
}
END_TEST

/* The saga deadline stops the map: backoffs aborted, commands awaited. */
START_TEST(test_deadline_stops_map)
{
	struct orc_et_rig r;

	orc_et_rig_init(&r, &setup, orc_et_def(def_solo));
	orc_et_script(&r,
		      "start {'id':'k1','items':[1,2,3,4]}; reply m[0] m.ok");
	ck_assert_int_eq(r.saga.wake_ms, 61000);
	orc_et_script(&r, "at 61000");
	orc_et_expect(&r, "timer", "h:saga.compensating");
	orc_et_expect_status(&r, "compensating", "m=running z=pending");
	/* no new item; those in flight are awaited */
	orc_et_expect(&r, "reply m[1] m.ok", "h:step.succeeded[1]");
	orc_et_expect(&r, "reply m[2] m.bad",
		      "h:step.failed[2] h:step.aborted h:saga.timed_out "
		      "ev:timed_out");
	expect_counters(&r, 3, 2, 1, 0);
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_terminate_with_items_in_flight)
{
	struct orc_et_rig r;

	rig_init(&r, CONC2);
	orc_et_script(&r, "start; reply m[0] m.ok; reply p p.ok");
	orc_et_script(&r, "terminate");
	orc_et_expect_status(&r, "cancelled", "m=failed p=succeeded z=pending");
	ck_assert_int_eq(item(&r, 1)->st.status, ORC_STEP_FAILED);
	ck_assert_int_eq(item(&r, 2)->st.status, ORC_STEP_FAILED);
	ck_assert_int_eq(item(&r, 1)->st.wake_ms, 0);
	ck_assert_int_eq(r.saga.wake_ms, 0);
	expect_counters(&r, 3, 1, 2, 0);
	orc_et_expect(&r, "reply m[1] m.ok", "h:reply.ignored[1](late)");
	orc_et_rig_finish(&r);
}
END_TEST

/* A copy of a saga with a map is independent of it, and replays alike. */
START_TEST(test_copy_and_determinism)
{
	static const char *const s1 =
		"start; reply m[0] m.ok {'v':0}; reply m[2] m.flaky; wake;"
		" reply m[1] m.ok; reply p p.ok; reply m[2] m.ok;"
		" reply m[3] m.ok; reply m[4] m.ok; reply z z.bad;"
		" reply m[4] m.stuck; wake; reply m[3] m.undone";
	struct orc_et_rig a, b;
	struct orc_saga copy;
	char *before, *after;

	rig_init(&a, CONC2);
	rig_init(&b, CONC2);
	orc_et_script(&a, "start; reply m[0] m.ok {'v':0}");
	ck_assert_int_eq(orc_saga_copy(&copy, &a.saga), ORC_OK);
	before = orc_et_state_text(&copy);
	orc_et_script(&a, "reply m[1] m.ok; reply m[2] m.bad");
	after = orc_et_state_text(&copy);
	ck_assert_str_eq(before, after);
	ck_assert_uint_eq(copy.steps[0].map->n, 3);
	ck_assert_int_eq(copy.steps[0].map->items[1].st.status,
			 ORC_STEP_RUNNING);
	free(before);
	free(after);
	orc_saga_finish(&copy);
	orc_et_rig_finish(&a);

	rig_init(&a, CONC2);
	orc_et_script(&a, s1);
	orc_et_script(&b, s1);
	before = orc_et_state_text(&a.saga);
	after = orc_et_state_text(&b.saga);
	ck_assert_str_eq(before, after);
	ck_assert_str_eq(a.got, b.got);
	free(before);
	free(after);
	orc_et_rig_finish(&a);
	orc_et_rig_finish(&b);
}
END_TEST

/* An item whose command is too large fails at once; the next starts. */
START_TEST(test_item_command_too_large)
{
	struct orc_et_rig r;
	char input[256];

	rig_init(&r, CONC2 ",'min_success':0.5");
	/* room for 40 bytes of data: {"id":"k1","n":0,"sku":"a"} fits */
	r.opts.max_command_bytes = 1064;
	snprintf(input, sizeof(input),
		 "start {'id':'k1','items':[{'sku':'a'},{'sku':'%060d'},"
		 "{'sku':'c'}]}",
		 0);
	orc_et_script(&r, input);
	ck_assert_msg(strstr(r.got, "h:step.started[0] cmd:m[0]/action/1 "
				    "h:step.failed[1] "
				    "h:step.started[2] cmd:m[2]/action/1") !=
			      NULL,
		      "%s", r.got);
	ck_assert_msg(strstr(item(&r, 1)->st.last_error,
			     "over the limit of 1064") != NULL,
		      "%s", item(&r, 1)->st.last_error);
	expect_counters(&r, 3, 0, 1, 0);
	orc_et_rig_finish(&r);
}
END_TEST

/*
 * Every item of a large map too large to send: each fails as it starts,
 * and the next starts, until min_success is out of reach; no stack
 * grows with the items.
 */
START_TEST(test_large_map_every_item_too_large)
{
	enum { N = 10000 };
	struct orc_et_rig r;
	json_t *input = json_object(), *items = json_array();
	struct orc_engine_input in = {.kind = ORC_INPUT_START,
				      .saga_id = SAGA_ID};
	struct rlimit was, small;
	char big[80];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int k = 0; k < N; k++)
		json_array_append_new(items, json_pack("{ss}", "sku", big));
	json_object_set_new(input, "id", json_string("k1"));
	json_object_set_new(input, "items", items);
	rig_init(&r, CONC2 ",'min_success':0.01");
	r.reload = false;
	r.opts.max_command_bytes = 1064;
	in.data = input;
	/* a stack of 2 MB: a level per item would overflow it */
	ck_assert_int_eq(getrlimit(RLIMIT_STACK, &was), 0);
	small = was;
	if (small.rlim_cur == RLIM_INFINITY || small.rlim_cur > 2 << 20)
		small.rlim_cur = 2 << 20;
	ck_assert_int_eq(setrlimit(RLIMIT_STACK, &small), 0);
	ck_assert_int_eq(orc_et_apply(&r, &in), ORC_OK);
	ck_assert_int_eq(setrlimit(RLIMIT_STACK, &was), 0);
	json_decref(input);
	/* the map failed as it started, before p did */
	orc_et_expect_status(&r, "failed", "m=failed p=pending z=pending");
	expect_counters(&r, N - 99, 0, N - 99, 0);
	orc_et_rig_finish(&r);
}
END_TEST

/*
 * ---- a large map ----
 * Every item runs, at most max_concurrency at a time, and the result keeps
 * their order.  How the time per item grows with the map is measured by
 * tests/bench/engine_bench (a benchmark, not a timed test).
 */

/* The items of the last apply's commands, queued at tail; the new tail. */
static size_t
collect(struct orc_et_rig *r, int64_t *queue, size_t tail, size_t n)
{
	for (size_t i = 0; i < r->fx.n; i++)
		if (r->fx.v[i].kind == ORC_EFFECT_COMMAND &&
		    r->fx.v[i].item >= 0) {
			ck_assert_uint_lt(tail, n);
			queue[tail++] = r->fx.v[i].item;
		}
	return tail;
}

START_TEST(test_large_map)
{
	enum { N = 10000, CONC = 50 };
	struct orc_et_rig r;
	json_t *input = json_object(), *items = json_array();
	struct orc_engine_input in = {.kind = ORC_INPUT_START,
				      .saga_id = SAGA_ID};
	int64_t *queue = malloc(N * sizeof(*queue));
	size_t head = 0, tail = 0, max_in_flight = 0;

	ck_assert_ptr_nonnull(queue);
	for (int k = 0; k < N; k++)
		json_array_append_new(items, json_pack("{s:i}", "sku", k));
	json_object_set_new(input, "id", json_string("k1"));
	json_object_set_new(input, "items", items);
	rig_init(&r, "'items':'${/input/items}','max_concurrency':50");
	r.reload = false;
	in.data = input;
	ck_assert_int_eq(orc_et_apply(&r, &in), ORC_OK);
	json_decref(input);
	for (;;) {
		struct orc_engine_input rep = {.kind = ORC_INPUT_REPLY,
					       .type = "m.ok"};
		char step[32];
		json_t *data;

		tail = collect(&r, queue, tail, N);
		if (head == N / 2) {
			/* the map goes on while p completes */
			ck_assert_int_eq(orc_et_command(&r, "reply p p.ok"),
					 ORC_OK);
			tail = collect(&r, queue, tail, N);
		}
		if (tail - head > max_in_flight)
			max_in_flight = tail - head;
		if (head == tail)
			break;
		snprintf(step, sizeof(step), "m[%lld]",
			 (long long)queue[head]);
		data = json_integer(queue[head]);
		rep.step = step;
		rep.data = data;
		head++;
		ck_assert_int_eq(orc_et_apply(&r, &rep), ORC_OK);
		json_decref(data);
	}
	ck_assert_uint_eq(tail, N);
	ck_assert_uint_eq(max_in_flight, CONC);
	expect_counters(&r, N, N, 0, 0);
	orc_et_expect_status(&r, "running",
			     "m=succeeded p=succeeded z=running");
	{
		const json_t *res = orc_jsonp_get(r.saga.context, "/steps/m");

		ck_assert_uint_eq(json_array_size(res), N);
		for (size_t k = 0; k < N; k++)
			ck_assert_int_eq(
				json_integer_value(json_array_get(res, k)),
				(json_int_t)k);
	}
	free(queue);
	orc_et_rig_finish(&r);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("engine_map");
	TCase *tc = tcase_create("start");

	tcase_add_loop_test(tc, test_start_table, 0, (int)COUNT(start_rows));
	tcase_add_test(tc, test_min_success_bound);
	suite_add_tcase(s, tc);

	tc = tcase_create("run");
	tcase_add_test(tc, test_happy_path);
	tcase_add_test(tc, test_item_and_index_rendered);
	tcase_add_test(tc, test_item_retry_timeout_attempts);
	tcase_add_test(tc, test_min_success_fraction_completes);
	tcase_add_test(tc, test_min_success_unreachable);
	tcase_add_test(tc, test_replies);
	tcase_add_test(tc, test_item_command_too_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("compensation");
	tcase_add_test(tc, test_succeeded_map_compensated);
	tcase_add_test(tc, test_map_ordered_by_last_item);
	tcase_add_test(tc, test_item_compensation_stuck_retry);
	tcase_add_test(tc, test_item_compensation_stuck_resolve);
	suite_add_tcase(s, tc);

	tc = tcase_create("rows");
	tcase_add_test(tc, test_partial_load_completes_by_timer);
	tcase_add_test(tc, test_partial_load_compensation);
	tcase_add_test(tc, test_item_rows_rejected);
	suite_add_tcase(s, tc);

	tc = tcase_create("operator");
	tcase_add_test(tc, test_pause_resume_shifts_item_timers);
	tcase_add_test(tc, test_cancel_with_items_in_flight);
	tcase_add_test(tc, test_skip_running_map);
	tcase_add_test(tc, test_retry_reruns_map);
	tcase_add_test(tc, test_deadline_stops_map);
	tcase_add_test(tc, test_terminate_with_items_in_flight);
	tcase_add_test(tc, test_copy_and_determinism);
	suite_add_tcase(s, tc);

	tc = tcase_create("large");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_large_map);
	tcase_add_test(tc, test_large_map_every_item_too_large);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
