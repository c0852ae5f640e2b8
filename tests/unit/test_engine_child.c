/*
 * test_engine_child.c - saga steps in the engine: a child saga of another
 * definition, started by a CHILD effect and awaited as a CHILD input
 * (engine_child.c), and the UNDO input a child gets from its parent.
 *
 * The rig and its scripts are engine_testlib.h's ("start; reply a a.ok;
 * child c cur completed {'r':1}"), with the child's words "child STEP
 * WHICH STATUS [OUTPUT]", "childdata STEP DATA", "undo" and "terminate";
 * a CHILD effect shows as "child:<step>/<action>".  After every applied
 * input the state goes through the store's rows and back
 * (orc_et_reload()), and every apply's effects are logged as JSON for the
 * determinism checks.
 *
 * Most tests use def_trip() (DEF_FMT): a command a, then the saga step c
 * and a command p beside it, then z after both:
 *
 *        /-- c (saga of "pay", version 2; 30s timeout) --\
 *   a --<                                                 > z (z.bad fails)
 *        \-- p (p.bad fails; compensation p.undo) -------/
 *   (a: compensation a.undo)
 */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_runner.h"
#include "engine.h"
#include "engine_testlib.h"
#include "jsonp.h"

#define SAGA_ID "5a9a0000-0000-4000-8000-0000000000c1"
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The default trigger data (single quotes stand for double quotes). */
#define INPUT "{'id':'k1','amount':5,'ck':'ck-1','n':42,'obj':{'x':1},'e':''}"

/* INPUT as the engine's sorted dump shows it. */
#define INPUT_SORTED                                                           \
	"{'amount':5,'ck':'ck-1','e':'','id':'k1','n':42,'obj':{'x':1}}"

#define PAY "'definition':'pay','version':2"
#define TIMEOUT "'timeout':'30s',"

/* The parent, with the members of step c's "saga" and c's timeout. */
#define DEF_FMT                                                                \
	"{'name':'trip','version':1,"                                          \
	" 'trigger':{'topic':'in','type':'go','key':'/id'},"                   \
	" 'steps':["                                                           \
	"  {'name':'a','command':{'topic':'ta','type':'a.do'},"                \
	"   'success':['a.ok'],'failure':['a.bad'],"                           \
	"   'compensation':{'topic':'ta','type':'a.undo',"                     \
	"    'success':['a.undone']}},"                                        \
	"  {'name':'c','needs':['a'],%s'saga':{%s}},"                          \
	"  {'name':'p','needs':['a'],'command':{'topic':'tp','type':'p.do'},"  \
	"   'success':['p.ok'],'failure':['p.bad'],"                           \
	"   'compensation':{'topic':'tp','type':'p.undo',"                     \
	"    'success':['p.undone']}},"                                        \
	"  {'name':'z','needs':['c','p'],'command':{'topic':'tz','type':'z.do'}," \
	"   'success':['z.ok'],'failure':['z.bad']}]}"

/*
 * A child's definition: auth and capture undo themselves, note does not.
 * With no_undo, only note.
 */
#define DEF_PAY                                                                \
	"{'name':'pay','version':2,"                                           \
	" 'trigger':{'topic':'pin','type':'pay','key':'/id'},"                 \
	" 'steps':["                                                           \
	"  {'name':'auth','command':{'topic':'tq','type':'auth.do'},"          \
	"   'success':['auth.ok'],"                                            \
	"   'compensation':{'topic':'tq','type':'auth.undo',"                  \
	"    'success':['auth.undone']}},"                                     \
	"  {'name':'capture','needs':['auth'],"                                \
	"   'command':{'topic':'tq','type':'capture.do'},"                     \
	"   'success':['capture.ok'],"                                         \
	"   'compensation':{'topic':'tq','type':'capture.undo',"               \
	"    'success':['capture.undone']}},"                                  \
	"  {'name':'note','needs':['auth'],"                                   \
	"   'command':{'topic':'tq','type':'note.do'},"                        \
	"   'success':['note.ok']}]}"

#define DEF_NOTE                                                               \
	"{'name':'pay','version':3,"                                           \
	" 'trigger':{'topic':'pin','type':'pay','key':'/id'},"                 \
	" 'steps':[{'name':'note','command':{'topic':'tq','type':'note.do'},"  \
	"   'success':['note.ok']}]}"

/* The parent with saga members saga and c's timeout member (or ""). */
static struct orc_definition *
def_trip(const char *saga, const char *timeout)
{
	char text[4096];

	ck_assert_int_lt(snprintf(text, sizeof(text), DEF_FMT, timeout, saga),
			 (int)sizeof(text));
	return orc_et_def(text);
}

/* ---- the rig (engine_testlib.h) ---- */

static const struct orc_et_setup setup = {
	.saga_id = SAGA_ID,
	.start_data = INPUT,
	.now = 1000,
	.reload = true,
};

static void
rig_init(struct orc_et_rig *r, const char *saga, const char *timeout)
{
	orc_et_rig_init(r, &setup, def_trip(saga, timeout));
}

/* The only CHILD effect of the last apply. */
static const struct orc_effect *
the_child_effect(struct orc_et_rig *r)
{
	const struct orc_effect *found = NULL;

	for (size_t i = 0; i < r->fx.n; i++)
		if (r->fx.v[i].kind == ORC_EFFECT_CHILD) {
			ck_assert_msg(found == NULL, "two child effects: %s",
				      r->got);
			found = &r->fx.v[i];
		}
	ck_assert_msg(found != NULL, "no child effect: %s", r->got);
	return found;
}

/* ---- the child's id ---- */

static void
expect_uuid_v8(const char *id)
{
	ck_assert_uint_eq(strlen(id), 36);
	for (size_t k = 0; k < 36; k++) {
		if (k == 8 || k == 13 || k == 18 || k == 23)
			ck_assert_msg(id[k] == '-', "%s", id);
		else
			ck_assert_msg(isxdigit((unsigned char)id[k]) &&
					  !isupper((unsigned char)id[k]),
				      "%s", id);
	}
	ck_assert_msg(id[14] == '8', "%s: not version 8", id);
	ck_assert_msg(strchr("89ab", id[19]) != NULL, "%s: not RFC 4122", id);
}

START_TEST(test_child_id)
{
	static const struct {
		const char *parent, *step;
		int attempt;
	} inputs[] = {
		{SAGA_ID, "c", 1},  {SAGA_ID, "c", 2},  {SAGA_ID, "d", 1},
		{"other", "c", 1},  {SAGA_ID, "c", 0},  {"", "", 1},
		{SAGA_ID, "c", 12}, {SAGA_ID "/c", "1", 2},
	};
	char ids[COUNT(inputs)][37], again[37];

	for (size_t k = 0; k < COUNT(inputs); k++) {
		orc_child_saga_id(inputs[k].parent, inputs[k].step,
				  inputs[k].attempt, ids[k]);
		expect_uuid_v8(ids[k]);
		/* the same inputs, the same id */
		orc_child_saga_id(inputs[k].parent, inputs[k].step,
				  inputs[k].attempt, again);
		ck_assert_str_eq(ids[k], again);
		for (size_t j = 0; j < k; j++)
			ck_assert_msg(strcmp(ids[j], ids[k]) != 0,
				      "%zu and %zu share %s", j, k, ids[k]);
	}
	/*
	 * not the parent's id, and pinned: a transaction replayed by a
	 * newer build must derive the child it started before
	 */
	ck_assert_str_ne(ids[0], SAGA_ID);
	ck_assert_str_eq(ids[0], "e748cfab-23f6-8f1f-8de9-36d731d934cd");
	orc_child_saga_id("p", "s", 2, again);
	ck_assert_str_eq(again, "756eef48-9004-8b00-a5f9-47c52482b053");
}
END_TEST

/* ---- starting: a table ---- */

struct start_row {
	const char *name;
	const char *saga;    /* step c's "saga" members */
	const char *timeout; /* step c's timeout member, or "" */
	const char *effects; /* of "reply a a.ok" */
	int version;         /* the effect's child_version */
	const char *key;     /* the child's key; NULL: the step fails */
	const char *data;    /* the child's trigger data */
	const char *reason;  /* the saga's failure_reason when it fails */
};

#define STARTED                                                                \
	"h:step.succeeded child:c/start h:child.started h:step.started "       \
	"cmd:p/action/1"
#define START_FAILED                                                           \
	"h:step.succeeded h:step.failed h:saga.compensating "                  \
	"h:compensation.started cmd:a/compensation/1"
#define KEY_WHY "c: child key renders to no string of 1 to 255 bytes"

static const struct start_row start_rows[] = {
	{"defaults: key from the parent's, data its input", PAY, TIMEOUT,
	 STARTED, 2, "k1/c", INPUT_SORTED, NULL},
	{"no version: the latest", "'definition':'pay'", "", STARTED, 0,
	 "k1/c", INPUT_SORTED, NULL},
	{"key text and a value", PAY ",'key':'pay-${/input/id}-${/input/n}'",
	 TIMEOUT, STARTED, 2, "pay-k1-42", INPUT_SORTED, NULL},
	{"key a string as is", PAY ",'key':'${/input/ck}'", "", STARTED, 2,
	 "ck-1", INPUT_SORTED, NULL},
	{"key an integer in decimal", PAY ",'key':'${/input/n}'", "", STARTED,
	 2, "42", INPUT_SORTED, NULL},
	{"data rendered",
	 PAY ",'data':{'amt':'${/input/amount}','parent':'${/saga/id}',"
	     "'k':['${/steps/a/r}']}",
	 "", STARTED, 2, "k1/c",
	 "{'amt':5,'k':[7],'parent':'" SAGA_ID "'}", NULL},
	{"key an object fails the step", PAY ",'key':'${/input/obj}'", TIMEOUT,
	 START_FAILED, 0, NULL, NULL, KEY_WHY},
	{"key empty fails the step", PAY ",'key':'${/input/e}'", "",
	 START_FAILED, 0, NULL, NULL, KEY_WHY},
	{"key missing fails the step", PAY ",'key':'${/input/none}'", "",
	 START_FAILED, 0, NULL, NULL, KEY_WHY},
};

START_TEST(test_start_table)
{
	const struct start_row *row = &start_rows[_i];
	const struct orc_effect *e;
	const json_t *d;
	struct orc_et_rig r;
	char want_id[37];

	rig_init(&r, row->saga, row->timeout);
	orc_et_script(&r, "start");
	orc_et_expect_status(&r, "running",
			     "a=running c=pending p=pending z=pending");
	r.now = 2000;
	orc_et_command(&r, "reply a a.ok {'r':7}");
	ck_assert_msg(strcmp(r.got, row->effects) == 0,
		      "%s:\n got  %s\n want %s", row->name, r.got,
		      row->effects);
	ck_assert_int_eq(r.saga.steps[1].attempt, 1);
	if (row->key == NULL) {
		orc_et_expect_status(&r, "compensating",
				     "a=compensating c=failed "
				     "p=pending z=pending");
		ck_assert_str_eq(r.saga.failure_reason, row->reason);
		ck_assert_int_eq(r.saga.steps[1].wake_ms, 0);
		orc_et_expect(&r, "reply a a.undone",
			      "h:compensation.succeeded h:saga.compensated "
			      "ev:compensated");
		orc_et_rig_finish(&r);
		return;
	}
	orc_et_expect_status(&r, "running",
			     "a=succeeded c=running p=running "
			     "z=pending");
	e = the_child_effect(&r);
	orc_child_saga_id(SAGA_ID, "c", 1, want_id);
	ck_assert_str_eq(e->message_id, want_id);
	ck_assert_int_eq(e->child_action, ORC_CHILD_START);
	ck_assert_str_eq(e->step_name, "c");
	ck_assert_uint_eq(e->step, 1);
	ck_assert_str_eq(e->child_definition, "pay");
	ck_assert_int_eq(e->child_version, row->version);
	ck_assert_str_eq(json_string_value(json_object_get(e->data, "key")),
			 row->key);
	orc_et_expect_json(json_object_get(e->data, "data"), row->data);
	ck_assert_uint_eq(json_object_size(e->data), 2);
	d = orc_et_last_detail(&r, "child.started");
	ck_assert_str_eq(json_string_value(json_object_get(d, "child")),
			 want_id);
	ck_assert_str_eq(json_string_value(json_object_get(d, "definition")),
			 "pay");
	ck_assert_str_eq(json_string_value(json_object_get(d, "key")),
			 row->key);
	ck_assert_int_eq(json_integer_value(json_object_get(d, "attempt")), 1);
	if (row->version > 0)
		ck_assert_int_eq(
			json_integer_value(json_object_get(d, "version")),
			row->version);
	else
		ck_assert_ptr_null(json_object_get(d, "version"));
	if (row->timeout[0] != '\0') {
		ck_assert_int_eq(r.saga.steps[1].wake_ms, 32000);
		ck_assert_int_eq(r.saga.steps[1].wake_reason, ORC_WAKE_TIMEOUT);
		ck_assert_int_eq(r.saga.wake_ms, 32000);
	} else {
		ck_assert_int_eq(r.saga.steps[1].wake_ms, 0);
		ck_assert_int_eq(r.saga.wake_ms, 0);
	}
	orc_et_rig_finish(&r);
}
END_TEST

/* The default key "<parent key>/<step>" over 255 bytes fails the step. */
START_TEST(test_default_key_too_long)
{
	struct orc_et_rig r;
	char key[260], cmd[400];

	rig_init(&r, PAY, "");
	memset(key, 'k', 254);
	key[254] = '\0';
	snprintf(cmd, sizeof(cmd), "start {'id':'%s'}", key);
	orc_et_script(&r, cmd);
	orc_et_expect(&r, "reply a a.ok", START_FAILED);
	ck_assert_str_eq(r.saga.failure_reason,
			 "c: child key is over 255 bytes");
	orc_et_rig_finish(&r);
}
END_TEST

/* ---- the child's end ---- */

START_TEST(test_child_completed)
{
	struct orc_et_rig r;

	rig_init(&r, PAY, TIMEOUT);
	orc_et_script(&r, "start; reply a a.ok; reply p p.ok");
	orc_et_expect(
		&r, "child c cur completed {'receipt':'r1'}",
		"h:child.ended h:step.succeeded h:step.started cmd:z/action/1");
	orc_et_expect_at(&r, "/steps/c", "{'receipt':'r1'}");
	ck_assert_int_eq(r.saga.steps[1].wake_ms, 0);
	ck_assert_int_eq(r.saga.steps[1].completed_seq, 3);
	ck_assert_str_eq(
		json_string_value(json_object_get(
			orc_et_last_detail(&r, "child.ended"), "status")),
		"completed");
	/* the same end again: the step has it */
	orc_et_expect(&r, "child c cur completed {'receipt':'r1'}",
		      "h:child.ended");
	orc_et_expect(&r, "reply z z.ok",
		      "h:step.succeeded h:saga.completed ev:completed");
	orc_et_expect_status(&r, "completed",
			     "a=succeeded c=succeeded p=succeeded "
			     "z=succeeded");
	orc_et_rig_finish(&r);
}
END_TEST

/* A child that completed with no output: the step's result is null. */
START_TEST(test_child_completed_no_output)
{
	struct orc_et_rig r;

	rig_init(&r, PAY, "");
	orc_et_script(&r, "start; reply a a.ok");
	orc_et_expect(&r, "child c cur completed",
		      "h:child.ended h:step.succeeded");
	orc_et_expect_at(&r, "/steps/c", "null");
	orc_et_rig_finish(&r);
}
END_TEST

static const char *const failing_ends[] = {
	"compensated", "failed", "cancelled", "timed_out",
};

/* A child that ended otherwise fails the step: the parent compensates. */
START_TEST(test_child_failed_table)
{
	const char *status = failing_ends[_i];
	struct orc_et_rig r;
	char cmd[128], id[64], why[256];

	rig_init(&r, PAY, TIMEOUT);
	orc_et_script(&r, "start; reply a a.ok");
	snprintf(cmd, sizeof(cmd), "child c cur %s", status);
	orc_et_expect(&r, cmd,
		      "h:child.ended h:step.failed h:saga.compensating");
	orc_et_child_id(&r, "c", "1", id);
	snprintf(why, sizeof(why), "child saga %s %s: boom", id, status);
	ck_assert_str_eq(r.saga.steps[1].last_error, why);
	ck_assert_str_eq(
		json_string_value(json_object_get(
			orc_et_last_detail(&r, "step.failed"), "error")),
		why);
	snprintf(why, sizeof(why), "c: child saga %s %s: boom", id, status);
	ck_assert_str_eq(r.saga.failure_reason, why);
	ck_assert_int_eq(r.saga.steps[1].wake_ms, 0);
	/* p is awaited, then undone, then a */
	orc_et_expect_status(&r, "compensating",
			     "a=succeeded c=failed p=running "
			     "z=pending");
	orc_et_expect(
		&r, "reply p p.ok",
		"h:step.succeeded h:compensation.started cmd:p/compensation/1");
	orc_et_expect(&r, "reply p p.undone",
		      "h:compensation.succeeded h:compensation.started "
		      "cmd:a/compensation/1");
	orc_et_expect(
		&r, "reply a a.undone",
		"h:compensation.succeeded h:saga.compensated ev:compensated");
	/* the failed child is not asked to undo anything */
	orc_et_expect_status(&r, "compensated",
			     "a=compensated c=failed "
			     "p=compensated z=pending");
	orc_et_rig_finish(&r);
}
END_TEST

/* A failure without a reason still names the child and its status. */
START_TEST(test_child_failed_without_reason)
{
	struct orc_et_rig r;
	char data[256], id[64], why[128];

	rig_init(&r, PAY, "");
	orc_et_script(&r, "start; reply a a.ok");
	orc_et_child_id(&r, "c", "cur", id);
	snprintf(data, sizeof(data),
		 "childdata c {'child':'%s','status':'failed'}", id);
	orc_et_expect(&r, data,
		      "h:child.ended h:step.failed h:saga.compensating");
	snprintf(why, sizeof(why), "child saga %s failed", id);
	ck_assert_str_eq(r.saga.steps[1].last_error, why);
	orc_et_rig_finish(&r);
}
END_TEST

struct odd_row {
	const char *name;
	const char *cmd;
	const char *effects;
};

static const struct odd_row odd_rows[] = {
	{"stuck: the history says so", "child c cur stuck", "h:child.ended"},
	{"running: the history says so", "child c cur running",
	 "h:child.ended"},
	{"an unknown status", "child c cur weird", "h:child.ignored(late)"},
	{"the next attempt's id", "child c 2 completed",
	 "h:child.ignored(late)"},
	{"an earlier attempt's id", "child c 0 completed",
	 "h:child.ignored(late)"},
	{"another saga's id",
	 "child c 11111111-2222-8333-8444-555555555555 completed",
	 "h:child.ignored(late)"},
	{"no id", "childdata c {'status':'completed'}",
	 "h:child.ignored(late)"},
	{"a step that is no saga step", "child p cur completed",
	 "h:child.ignored(unknown_step)"},
	{"no such step", "childdata nope {'child':'x','status':'completed'}",
	 "h:child.ignored(unknown_step)"},
};

/* Ends that change nothing: the step still awaits its child. */
START_TEST(test_child_odd_table)
{
	const struct odd_row *row = &odd_rows[_i];
	struct orc_et_rig r;
	char *before, *after;

	rig_init(&r, PAY, TIMEOUT);
	orc_et_script(&r, "start; reply a a.ok");
	before = orc_et_state_text(&r.saga);
	orc_et_expect(&r, row->cmd, row->effects);
	after = orc_et_state_text(&r.saga);
	ck_assert_msg(strcmp(before, after) == 0, "%s: the state changed",
		      row->name);
	free(before);
	free(after);
	orc_et_expect_status(&r, "running",
			     "a=succeeded c=running p=running "
			     "z=pending");
	if (strstr(row->effects, "ignored") != NULL)
		ck_assert_int_eq(r.fx.result, ORC_RESULT_IGNORED);
	/* the child's real end still counts */
	orc_et_expect(&r, "child c cur completed {'v':1}",
		      "h:child.ended h:step.succeeded");
	orc_et_rig_finish(&r);
}
END_TEST

/* Malformed CHILD inputs: refused, nothing changed, nothing done. */
START_TEST(test_child_input_invalid)
{
	static const char *const bad[] = {
		"childdata c [1]", "childdata c 'text'", "childdata c null",
	};
	struct orc_engine_input in = {.kind = ORC_INPUT_CHILD};
	struct orc_et_rig r;
	char *before, *after;

	rig_init(&r, PAY, "");
	orc_et_script(&r, "start; reply a a.ok");
	before = orc_et_state_text(&r.saga);
	for (size_t k = 0; k < COUNT(bad); k++) {
		ck_assert_int_eq(orc_et_command(&r, bad[k]), ORC_INVALID);
		ck_assert_uint_eq(r.fx.n, 0);
		ck_assert(strstr(r.err.message, "child input") != NULL);
	}
	/* no data, no step */
	ck_assert_int_eq(orc_et_apply(&r, &in), ORC_INVALID);
	in.data = json_pack("{s:s,s:s}", "child", "x", "status", "completed");
	ck_assert_int_eq(orc_et_apply(&r, &in), ORC_INVALID);
	ck_assert_uint_eq(r.fx.n, 0);
	json_decref(in.data);
	after = orc_et_state_text(&r.saga);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	orc_et_rig_finish(&r);
}
END_TEST

/* ---- the parent fails while the child runs ---- */

START_TEST(test_parallel_failure_cancels_child)
{
	struct orc_et_rig r;
	const struct orc_effect *e;
	char id[64];

	rig_init(&r, PAY, "");
	orc_et_script(&r, "start; reply a a.ok");
	orc_et_expect(&r, "reply p p.bad",
		      "h:step.failed h:saga.compensating child:c/cancel "
		      "h:child.signalled");
	e = the_child_effect(&r);
	orc_et_child_id(&r, "c", "1", id);
	ck_assert_str_eq(e->message_id, id);
	ck_assert_int_eq(e->child_action, ORC_CHILD_CANCEL);
	ck_assert_str_eq(
		json_string_value(json_object_get(
			orc_et_last_detail(&r, "child.signalled"), "action")),
		"cancel");
	/* the saga waits for the child's end before undoing a */
	orc_et_expect_status(&r, "compensating",
			     "a=succeeded c=running p=failed "
			     "z=pending");
	orc_et_expect(&r, "child c cur stuck", "h:child.ended");
	orc_et_expect_status(&r, "compensating",
			     "a=succeeded c=running p=failed "
			     "z=pending");
	orc_et_expect(&r, "child c cur cancelled",
		      "h:child.ended h:step.failed h:compensation.started "
		      "cmd:a/compensation/1");
	orc_et_expect(
		&r, "reply a a.undone",
		"h:compensation.succeeded h:saga.compensated ev:compensated");
	ck_assert_str_eq(r.saga.failure_reason, "p: p.bad");
	orc_et_rig_finish(&r);
}
END_TEST

/*
 * The child completed before it saw the cancel: the step succeeds, and
 * as the saga compensates, the child is asked to undo at once.
 */
START_TEST(test_child_completes_after_cancel)
{
	struct orc_et_rig r;

	rig_init(&r, PAY, "");
	orc_et_script(&r, "start; reply a a.ok; reply p p.bad");
	orc_et_expect(&r, "child c cur completed {'r':1}",
		      "h:child.ended h:step.succeeded child:c/undo "
		      "h:compensation.started");
	orc_et_expect_status(&r, "compensating",
			     "a=succeeded c=compensating "
			     "p=failed z=pending");
	orc_et_expect(
		&r, "child c cur compensated",
		"h:child.ended h:compensation.succeeded h:compensation.started "
		"cmd:a/compensation/1");
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_cancel_parent_cancels_child)
{
	struct orc_et_rig r;

	rig_init(&r, PAY, TIMEOUT);
	orc_et_script(&r, "start; reply a a.ok");
	orc_et_expect(&r, "cancel",
		      "h:operator.cancel h:saga.compensating child:c/cancel "
		      "h:child.signalled");
	orc_et_expect_status(&r, "compensating",
			     "a=succeeded c=running p=running "
			     "z=pending");
	/* p is not undone before the child's end */
	orc_et_expect(&r, "reply p p.ok", "h:step.succeeded");
	orc_et_expect(&r, "child c cur cancelled",
		      "h:child.ended h:step.failed h:compensation.started "
		      "cmd:p/compensation/1");
	orc_et_expect(&r, "reply p p.undone",
		      "h:compensation.succeeded h:compensation.started "
		      "cmd:a/compensation/1");
	orc_et_expect(&r, "reply a a.undone",
		      "h:compensation.succeeded h:saga.cancelled ev:cancelled");
	orc_et_rig_finish(&r);
}
END_TEST

/* ---- the parent compensates a completed child ---- */

static const char *const undone_ends[] = {
	"compensated", "failed", "cancelled",
};

/* c completed after p: c is undone first; any end but stuck undoes it. */
START_TEST(test_undo_completed_child_table)
{
	const char *status = undone_ends[_i];
	struct orc_et_rig r;
	const struct orc_effect *e;
	char cmd[64], id[64];

	rig_init(&r, PAY, TIMEOUT);
	orc_et_script(&r, "start; reply a a.ok; reply p p.ok;"
			  " child c cur completed {'r':1}");
	orc_et_expect(&r, "reply z z.bad",
		      "h:step.failed h:saga.compensating child:c/undo "
		      "h:compensation.started");
	e = the_child_effect(&r);
	orc_et_child_id(&r, "c", "1", id);
	ck_assert_str_eq(e->message_id, id);
	ck_assert_int_eq(e->child_action, ORC_CHILD_UNDO);
	ck_assert_str_eq(json_string_value(json_object_get(
				 orc_et_last_detail(&r, "compensation.started"),
				 "child")),
			 id);
	orc_et_expect_status(&r, "compensating",
			     "a=succeeded c=compensating "
			     "p=succeeded z=failed");
	/* no timer for the child's undo: the child has its own */
	ck_assert_int_eq(r.saga.steps[1].wake_ms, 0);
	ck_assert_int_eq(r.saga.wake_ms, 0);
	/* stuck, or a stale id: still awaited */
	orc_et_expect(&r, "child c cur stuck", "h:child.ended");
	orc_et_expect(&r, "child c 2 compensated", "h:child.ignored(late)");
	orc_et_expect_status(&r, "compensating",
			     "a=succeeded c=compensating "
			     "p=succeeded z=failed");
	snprintf(cmd, sizeof(cmd), "child c cur %s", status);
	orc_et_expect(
		&r, cmd,
		"h:child.ended h:compensation.succeeded h:compensation.started "
		"cmd:p/compensation/1");
	orc_et_expect(&r, "reply p p.undone",
		      "h:compensation.succeeded h:compensation.started "
		      "cmd:a/compensation/1");
	orc_et_expect(
		&r, "reply a a.undone",
		"h:compensation.succeeded h:saga.compensated ev:compensated");
	orc_et_expect_status(&r, "compensated",
			     "a=compensated c=compensated "
			     "p=compensated z=failed");
	/* the child's result stays in the context */
	orc_et_expect_at(&r, "/steps/c", "{'r':1}");
	orc_et_rig_finish(&r);
}
END_TEST

/* p completed after c: p is undone first, then c, then a. */
START_TEST(test_undo_order_by_completion)
{
	struct orc_et_rig r;

	rig_init(&r, PAY, "");
	orc_et_script(&r, "start; reply a a.ok; child c cur completed {'r':1};"
			  " reply p p.ok");
	orc_et_expect(
		&r, "reply z z.bad",
		"h:step.failed h:saga.compensating h:compensation.started "
		"cmd:p/compensation/1");
	orc_et_expect(
		&r, "reply p p.undone",
		"h:compensation.succeeded child:c/undo h:compensation.started");
	orc_et_expect(
		&r, "child c cur compensated",
		"h:child.ended h:compensation.succeeded h:compensation.started "
		"cmd:a/compensation/1");
	orc_et_expect(
		&r, "reply a a.undone",
		"h:compensation.succeeded h:saga.compensated ev:compensated");
	orc_et_rig_finish(&r);
}
END_TEST

/* Paused, the child's end is taken; what it makes ready waits. */
START_TEST(test_pause_holds_what_the_child_frees)
{
	struct orc_et_rig r;

	rig_init(&r, PAY, TIMEOUT);
	orc_et_script(&r, "start; reply a a.ok; reply p p.ok; at 5000");
	ck_assert_int_eq(orc_et_command(&r, "pause"), ORC_OK);
	ck_assert_int_eq(r.saga.wake_ms, 0);
	orc_et_expect(&r, "child c cur completed {'r':1}",
		      "h:child.ended h:step.succeeded");
	orc_et_expect_status(&r, "running",
			     "a=succeeded c=succeeded p=succeeded "
			     "z=pending");
	orc_et_script(&r, "at 9000");
	orc_et_expect(&r, "resume",
		      "h:operator.resume h:step.started "
		      "cmd:z/action/1");
	orc_et_rig_finish(&r);
}
END_TEST

/* ---- the step's timeout, terminate ---- */

START_TEST(test_timeout_cancels_child)
{
	struct orc_et_rig r;
	char id[64];

	rig_init(&r, PAY, TIMEOUT);
	orc_et_script(&r, "start; reply a a.ok; reply p p.ok");
	ck_assert_int_eq(r.saga.wake_ms, 31000);
	orc_et_expect(
		&r, "wake",
		"h:step.timed_out child:c/cancel h:child.signalled "
		"h:step.failed h:saga.compensating h:compensation.started "
		"cmd:p/compensation/1");
	ck_assert_int_eq(r.now, 31000);
	orc_et_child_id(&r, "c", "1", id);
	ck_assert_str_eq(the_child_effect(&r)->message_id, id);
	ck_assert_int_eq(the_child_effect(&r)->child_action, ORC_CHILD_CANCEL);
	ck_assert_str_eq(r.saga.steps[1].last_error, "timed out");
	ck_assert_str_eq(r.saga.failure_reason, "c: timed out");
	ck_assert_int_eq(r.saga.steps[1].wake_ms, 0);
	/* the cancelled child's end comes late: nothing awaits it */
	orc_et_expect(&r, "child c cur cancelled", "h:child.ended");
	orc_et_expect(&r, "child c cur completed", "h:child.ended");
	orc_et_expect_status(&r, "compensating",
			     "a=succeeded c=failed "
			     "p=compensating z=pending");
	orc_et_rig_finish(&r);
}
END_TEST

/*
 * The step's timeout while the saga compensates: its child was cancelled
 * already, when the saga began to fail; the step gives up without asking
 * again.
 */
START_TEST(test_timeout_while_compensating)
{
	struct orc_et_rig r;

	rig_init(&r, PAY, TIMEOUT);
	orc_et_script(&r, "start; reply a a.ok");
	orc_et_expect(&r, "reply p p.bad",
		      "h:step.failed h:saga.compensating child:c/cancel "
		      "h:child.signalled");
	ck_assert_int_eq(r.saga.wake_ms, 31000);
	orc_et_expect(&r, "wake",
		      "h:step.timed_out h:step.failed h:compensation.started "
		      "cmd:a/compensation/1");
	ck_assert_str_eq(r.saga.steps[1].last_error, "timed out");
	orc_et_expect(&r, "child c cur cancelled", "h:child.ended");
	orc_et_expect(
		&r, "reply a a.undone",
		"h:compensation.succeeded h:saga.compensated ev:compensated");
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_terminate_terminates_child)
{
	struct orc_et_rig r;
	char id[64];

	rig_init(&r, PAY, TIMEOUT);
	orc_et_script(&r, "start; reply a a.ok");
	orc_et_expect(
		&r, "terminate",
		"h:operator.terminate child:c/terminate h:child.signalled "
		"h:step.aborted h:step.aborted h:saga.cancelled ev:cancelled");
	orc_et_child_id(&r, "c", "1", id);
	ck_assert_str_eq(the_child_effect(&r)->message_id, id);
	ck_assert_int_eq(the_child_effect(&r)->child_action,
			 ORC_CHILD_TERMINATE);
	ck_assert_int_eq(r.saga.wake_ms, 0);
	orc_et_expect_status(&r, "cancelled",
			     "a=succeeded c=failed p=failed "
			     "z=pending");
	/* the terminated child's end changes nothing */
	orc_et_expect(&r, "child c cur cancelled", "h:child.ended");
	orc_et_rig_finish(&r);
}
END_TEST

/* A completed child is not terminated with its parent: nothing runs. */
START_TEST(test_terminate_after_child_completed)
{
	struct orc_et_rig r;

	rig_init(&r, PAY, "");
	orc_et_script(&r, "start; reply a a.ok; child c cur completed");
	orc_et_expect(&r, "terminate",
		      "h:operator.terminate h:step.aborted h:saga.cancelled "
		      "ev:cancelled");
	orc_et_rig_finish(&r);
}
END_TEST

/*
 * Terminated while its child undoes: the child is terminated too (the
 * parent ends now, without compensating), and its end changes nothing in
 * the ended parent, as a compensation's late reply would not.
 */
START_TEST(test_terminate_while_child_undoes)
{
	struct orc_et_rig r;
	char *before, *after;

	rig_init(&r, PAY, "");
	orc_et_script(&r, "start; reply a a.ok; reply p p.ok;"
			  " child c cur completed {'r':1}; reply z z.bad");
	orc_et_expect_status(&r, "compensating",
			     "a=succeeded c=compensating "
			     "p=succeeded z=failed");
	orc_et_expect(
		&r, "terminate",
		"h:operator.terminate child:c/terminate h:child.signalled "
		"h:saga.cancelled ev:cancelled");
	ck_assert_int_eq(the_child_effect(&r)->child_action,
			 ORC_CHILD_TERMINATE);
	before = orc_et_state_text(&r.saga);
	orc_et_expect(&r, "child c cur cancelled", "h:child.ended");
	orc_et_expect(&r, "child c cur compensated", "h:child.ended");
	after = orc_et_state_text(&r.saga);
	ck_assert_str_eq(before, after);
	orc_et_expect_status(&r, "cancelled",
			     "a=succeeded c=compensating "
			     "p=succeeded z=failed");
	free(before);
	free(after);
	orc_et_rig_finish(&r);
}
END_TEST

/* A retried saga step starts a new child; the old one's end is late. */
START_TEST(test_retry_from_starts_new_child)
{
	struct orc_et_rig r;
	char first[64], second[64];

	rig_init(&r, PAY, "");
	orc_et_script(&r, "start; reply a a.ok; reply p p.ok;"
			  " child c cur completed {'r':1}; reply z z.ok");
	orc_et_child_id(&r, "c", "1", first);
	orc_et_expect(&r, "retry c",
		      "h:operator.retry child:c/start h:child.started");
	orc_et_expect_status(&r, "running",
			     "a=succeeded c=running p=succeeded "
			     "z=pending");
	orc_et_child_id(&r, "c", "2", second);
	ck_assert_str_ne(first, second);
	ck_assert_str_eq(the_child_effect(&r)->message_id, second);
	ck_assert_int_eq(
		json_integer_value(json_object_get(
			orc_et_last_detail(&r, "child.started"), "attempt")),
		2);
	orc_et_expect(&r, "child c 1 completed {'r':1}",
		      "h:child.ignored(late)");
	orc_et_expect(&r, "child c cur completed {'r':2}",
		      "h:child.ended h:step.succeeded h:step.started "
		      "cmd:z/action/2");
	orc_et_expect_at(&r, "/steps/c", "{'r':2}");
	orc_et_rig_finish(&r);
}
END_TEST

/*
 * retry --from while the child runs: the step runs again with a new
 * child, and the one that runs is cancelled (it compensates itself; its
 * end comes late).
 */
START_TEST(test_retry_from_cancels_running_child)
{
	struct orc_et_rig r;
	char first[64], second[64];

	rig_init(&r, PAY, TIMEOUT);
	orc_et_script(&r, "start; reply a a.ok");
	orc_et_child_id(&r, "c", "1", first);
	orc_et_child_id(&r, "c", "2", second);
	orc_et_expect(&r, "retry c",
		      "h:operator.retry child:c/cancel h:child.signalled "
		      "child:c/start h:child.started");
	ck_assert_str_eq(r.fx.v[1].message_id, first);
	ck_assert_int_eq(r.fx.v[1].child_action, ORC_CHILD_CANCEL);
	ck_assert_str_eq(r.fx.v[3].message_id, second);
	ck_assert_int_eq(r.fx.v[3].child_action, ORC_CHILD_START);
	orc_et_expect(&r, "child c 1 cancelled", "h:child.ignored(late)");
	orc_et_expect_status(&r, "running",
			     "a=succeeded c=running p=running "
			     "z=pending");
	orc_et_rig_finish(&r);
}
END_TEST

/*
 * A saga step skipped before it started has no child: when the saga
 * compensates, there is nothing to ask to undo.
 */
START_TEST(test_skipped_step_has_no_child_to_undo)
{
	struct orc_et_rig r;

	rig_init(&r, PAY, "");
	orc_et_script(&r, "start");
	orc_et_expect(&r, "skip c {'by':'hand'}",
		      "h:operator.skip h:step.succeeded");
	ck_assert_int_eq(r.saga.steps[1].attempt, 0);
	orc_et_script(&r, "reply a a.ok; reply p p.ok");
	orc_et_expect(
		&r, "reply z z.bad",
		"h:step.failed h:saga.compensating h:compensation.started "
		"cmd:p/compensation/1");
	orc_et_expect(&r, "reply p p.undone",
		      "h:compensation.succeeded h:compensation.started "
		      "cmd:a/compensation/1");
	orc_et_expect(
		&r, "reply a a.undone",
		"h:compensation.succeeded h:saga.compensated ev:compensated");
	orc_et_rig_finish(&r);
}
END_TEST

/* ---- UNDO: a completed saga compensates as its parent asks ---- */

START_TEST(test_undo_completed_saga)
{
	struct orc_et_rig r;
	const json_t *d;

	orc_et_rig_init(&r, &setup, orc_et_def(DEF_PAY));
	orc_et_script(&r, "start; reply auth auth.ok; reply capture capture.ok;"
			  " reply note note.ok");
	orc_et_expect_status(&r, "completed",
			     "auth=succeeded capture=succeeded "
			     "note=succeeded");
	orc_et_expect(&r, "undo",
		      "h:saga.compensating h:compensation.started "
		      "cmd:capture/compensation/1");
	ck_assert_int_eq(r.saga.cause, ORC_CAUSE_UNDO);
	d = orc_et_last_detail(&r, "saga.compensating");
	ck_assert_str_eq(json_string_value(json_object_get(d, "cause")),
			 "undo");
	ck_assert_str_eq(json_string_value(json_object_get(d, "by")),
			 "ann@host");
	ck_assert_str_eq(r.saga.failure_reason, "undone: test");
	orc_et_expect_status(&r, "compensating",
			     "auth=succeeded "
			     "capture=compensating "
			     "note=succeeded");
	orc_et_expect(&r, "reply capture capture.undone",
		      "h:compensation.succeeded h:compensation.started "
		      "cmd:auth/compensation/1");
	orc_et_expect(
		&r, "reply auth auth.undone",
		"h:compensation.succeeded h:saga.compensated ev:compensated");
	orc_et_expect_status(&r, "compensated",
			     "auth=compensated "
			     "capture=compensated note=succeeded");
	/* once undone, a second undo changes nothing */
	ck_assert_int_eq(orc_et_command(&r, "undo"), ORC_OK);
	ck_assert_str_eq(r.got, "h:undo.ignored(not_allowed)");
	orc_et_expect_status(&r, "compensated",
			     "auth=compensated "
			     "capture=compensated note=succeeded");
	orc_et_rig_finish(&r);
}
END_TEST

/* Nothing to undo: compensated all the same, not failed. */
START_TEST(test_undo_nothing_to_undo)
{
	struct orc_et_rig r;

	orc_et_rig_init(&r, &setup, orc_et_def(DEF_NOTE));
	orc_et_script(&r, "start; reply note note.ok");
	orc_et_expect(&r, "undo",
		      "h:saga.compensating h:saga.compensated ev:compensated");
	orc_et_expect_status(&r, "compensated", "note=succeeded");
	ck_assert_int_eq(r.saga.cause, ORC_CAUSE_UNDO);
	orc_et_rig_finish(&r);
}
END_TEST

/* UNDO of a saga that did not complete: refused, with why. */
START_TEST(test_undo_refused)
{
	static const char *const runs[] = {
		"start",
		"start; reply auth auth.ok; reply capture capture.bad",
		"start; cancel",
		"start; cancel; reply auth auth.ok; reply auth auth.undone",
	};
	int ended = 0;

	for (size_t k = 0; k < COUNT(runs); k++) {
		struct orc_et_rig r;
		char *before, *after;

		orc_et_rig_init(&r, &setup, orc_et_def(DEF_PAY));
		orc_et_script(&r, runs[k]);
		before = orc_et_state_text(&r.saga);
		if (!orc_saga_status_is_final(r.saga.status)) {
			/* not ended: refused, its end reaches the parent */
			ck_assert_int_eq(orc_et_command(&r, "undo"),
					 ORC_CONFLICT);
			ck_assert_msg(strstr(r.err.message, "undo takes a "
						  "completed saga") != NULL &&
					      strstr(r.err.message, SAGA_ID) !=
						  NULL,
				      "%s", r.err.message);
		} else {
			/*
			 * ended without completing: ignored, and the
			 * runtime tells the parent how it ended
			 */
			ck_assert_int_eq(orc_et_command(&r, "undo"), ORC_OK);
			ck_assert_int_eq(r.fx.result, ORC_RESULT_IGNORED);
			ended++;
		}
		ck_assert_str_eq(r.got, "h:undo.ignored(not_allowed)");
		after = orc_et_state_text(&r.saga);
		ck_assert_str_eq(before, after);
		free(before);
		free(after);
		orc_et_rig_finish(&r);
	}
	ck_assert_int_ge(ended, 1);
}
END_TEST

/* A parent undone: its completed child step asks its child to undo. */
START_TEST(test_undo_parent_undoes_child)
{
	struct orc_et_rig r;

	rig_init(&r, PAY, "");
	orc_et_script(&r, "start; reply a a.ok; child c cur completed {'r':1};"
			  " reply p p.ok; reply z z.ok");
	orc_et_expect(&r, "undo",
		      "h:saga.compensating h:compensation.started "
		      "cmd:p/compensation/1");
	orc_et_expect(
		&r, "reply p p.undone",
		"h:compensation.succeeded child:c/undo h:compensation.started");
	orc_et_expect(
		&r, "child c cur compensated",
		"h:child.ended h:compensation.succeeded h:compensation.started "
		"cmd:a/compensation/1");
	orc_et_expect(
		&r, "reply a a.undone",
		"h:compensation.succeeded h:saga.compensated ev:compensated");
	orc_et_rig_finish(&r);
}
END_TEST

/* ---- effects as JSON, determinism ---- */

START_TEST(test_effects_json)
{
	struct orc_et_rig r;
	json_t *doc, *fx, *one = NULL;
	char id[64], want[512];

	rig_init(&r, PAY ",'key':'${/input/ck}','data':{'a':'${/input/n}'}",
		 "");
	orc_et_script(&r, "start; reply a a.ok");
	orc_et_child_id(&r, "c", "cur", id);
	doc = orc_effects_to_json(&r.fx);
	ck_assert_ptr_nonnull(doc);
	fx = json_object_get(doc, "effects");
	for (size_t k = 0; k < json_array_size(fx); k++)
		if (strcmp(json_string_value(json_object_get(
				   json_array_get(fx, k), "kind")),
			   "child") == 0) {
			ck_assert_ptr_null(one);
			one = json_array_get(fx, k);
		}
	ck_assert_ptr_nonnull(one);
	snprintf(want, sizeof(want),
		 "{'action':'start','child':'%s','data':{'data':{'a':42},"
		 "'key':'ck-1'},'definition':'pay','kind':'child','step':'c',"
		 "'version':2}",
		 id);
	orc_et_expect_json(one, want);
	json_decref(doc);

	/* a signal has no definition, version or data */
	orc_et_script(&r, "reply p p.bad");
	doc = orc_effects_to_json(&r.fx);
	fx = json_object_get(doc, "effects");
	one = NULL;
	for (size_t k = 0; k < json_array_size(fx); k++)
		if (strcmp(json_string_value(json_object_get(
				   json_array_get(fx, k), "kind")),
			   "child") == 0)
			one = json_array_get(fx, k);
	ck_assert_ptr_nonnull(one);
	snprintf(want, sizeof(want),
		 "{'action':'cancel','child':'%s','kind':'child','step':'c'}",
		 id);
	orc_et_expect_json(one, want);
	json_decref(doc);
	orc_et_rig_finish(&r);
}
END_TEST

static const char *const long_run[] = {
	"start",
	"reply a a.ok {'r':3}",
	"child c 2 completed",
	"reply p p.ok",
	"child c cur completed {'receipt':'r1'}",
	"reply z z.bad",
	"child c cur stuck",
	"child c cur compensated",
	"reply p p.undone",
	"reply a a.undone",
	"retry",
};

/*
 * The same inputs give byte-identical effects and the same state, and a
 * copy taken before an input replays it identically: a transaction
 * replayed after a crash starts the same child.
 */
START_TEST(test_determinism)
{
	struct orc_et_rig a, b;
	char *la, *lb;

	rig_init(&a, PAY, TIMEOUT);
	rig_init(&b, PAY, TIMEOUT);
	for (size_t k = 0; k < COUNT(long_run); k++) {
		struct orc_et_rig c;

		orc_et_rig_copy(&c, &a);
		/* "retry" is refused (compensated): still the same effects */
		orc_et_command(&a, long_run[k]);
		orc_et_command(&b, long_run[k]);
		orc_et_command(&c, long_run[k]);
		orc_et_expect_replayed(&a, k, &c);
		orc_et_rig_finish(&c);
	}
	ck_assert_str_eq(orc_saga_status_name(a.saga.status), "compensated");
	la = orc_et_dump(a.log);
	lb = orc_et_dump(b.log);
	ck_assert_str_eq(la, lb);
	ck_assert(strstr(la, "\"kind\":\"child\"") != NULL);
	free(la);
	free(lb);
	orc_et_rig_finish(&a);
	orc_et_rig_finish(&b);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("engine_child");
	TCase *tc = tcase_create("start");

	tcase_add_test(tc, test_child_id);
	tcase_add_loop_test(tc, test_start_table, 0, (int)COUNT(start_rows));
	tcase_add_test(tc, test_default_key_too_long);
	suite_add_tcase(s, tc);

	tc = tcase_create("end");
	tcase_add_test(tc, test_child_completed);
	tcase_add_test(tc, test_child_completed_no_output);
	tcase_add_loop_test(tc, test_child_failed_table, 0,
			    (int)COUNT(failing_ends));
	tcase_add_test(tc, test_child_failed_without_reason);
	tcase_add_loop_test(tc, test_child_odd_table, 0, (int)COUNT(odd_rows));
	tcase_add_test(tc, test_child_input_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("parent");
	tcase_add_test(tc, test_parallel_failure_cancels_child);
	tcase_add_test(tc, test_child_completes_after_cancel);
	tcase_add_test(tc, test_cancel_parent_cancels_child);
	tcase_add_loop_test(tc, test_undo_completed_child_table, 0,
			    (int)COUNT(undone_ends));
	tcase_add_test(tc, test_undo_order_by_completion);
	tcase_add_test(tc, test_pause_holds_what_the_child_frees);
	tcase_add_test(tc, test_timeout_cancels_child);
	tcase_add_test(tc, test_timeout_while_compensating);
	tcase_add_test(tc, test_terminate_terminates_child);
	tcase_add_test(tc, test_terminate_after_child_completed);
	tcase_add_test(tc, test_terminate_while_child_undoes);
	tcase_add_test(tc, test_retry_from_starts_new_child);
	tcase_add_test(tc, test_retry_from_cancels_running_child);
	tcase_add_test(tc, test_skipped_step_has_no_child_to_undo);
	suite_add_tcase(s, tc);

	tc = tcase_create("undo");
	tcase_add_test(tc, test_undo_completed_saga);
	tcase_add_test(tc, test_undo_nothing_to_undo);
	tcase_add_test(tc, test_undo_refused);
	tcase_add_test(tc, test_undo_parent_undoes_child);
	suite_add_tcase(s, tc);

	tc = tcase_create("replay");
	tcase_add_test(tc, test_effects_json);
	tcase_add_test(tc, test_determinism);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
