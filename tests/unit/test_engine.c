/*
 * test_engine.c - the saga engine: a table of (state, input) pairs over
 * every saga and step status, then the order saga of schemas/examples end
 * to end, the store's row round trip and determinism.
 *
 * A state is reached by a small script of inputs ("start; reply a a.ok;
 * wake"), and the effects of one input are compared as a summary string
 * ("h:step.succeeded cmd:b/action/1"): the rig of engine_testlib.h.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_runner.h"
#include "engine.h"
#include "engine_testlib.h"
#include "jsonp.h"
#include "saga_row.h"
#include "strbuf.h"

#define SAGA_ID "7d1f7f4e-0000-4000-8000-000000000001"
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- definitions (single quotes stand for double quotes) ---- */

/*
 * A chain a -> b -> c.  a retries a.flaky once and its compensation can
 * fail; b's compensation times out; c has no compensation.
 */
static const char *const def_seq =
	"{'name':'seq','version':1,'timeout':'1h',"
	" 'trigger':{'topic':'in','type':'go','key':'/id'},"
	" 'steps':["
	"  {'name':'a','command':{'topic':'ta','type':'a.do',"
	"    'data':{'id':'${/input/id}'}},"
	"   'success':['a.ok'],'failure':['a.bad','a.flaky'],'timeout':'10s',"
	"   'retry':{'max_attempts':2,'backoff':'1s','on':['a.flaky']},"
	"   'compensation':{'topic':'ta','type':'a.undo',"
	"    'data':{'r':'${/steps/a/r}'},'success':['a.undone'],"
	"    'failure':['a.stuck'],'retry':{'max_attempts':2,'backoff':'1s'}}},"
	"  {'name':'b','needs':['a'],'command':{'topic':'tb','type':'b.do'},"
	"   'success':['b.ok'],'failure':['b.bad'],'timeout':'10s',"
	"   'compensation':{'topic':'tb','type':'b.undo',"
	"    'success':['b.undone'],'failure':['b.stuck'],'timeout':'5s',"
	"    'retry':{'max_attempts':2,'backoff':'1s'}}},"
	"  {'name':'c','needs':['b'],'command':{'topic':'tc','type':'c.do'},"
	"   'success':['c.ok'],'failure':['c.bad'],'timeout':'10s'}]}";

/*
 * Waits, a delay and a condition: w and d start at once; s (when
 * /input/flag) and v (a wait that continues on timeout) follow d; x needs
 * w, s and v.
 */
static const char *const def_flow =
	"{'name':'flow','version':2,"
	" 'trigger':{'topic':'in','type':'go','key':'/id'},"
	" 'steps':["
	"  {'name':'w','wait':{'topic':'tw','type':'w.ok','key':'/id',"
	"    'timeout':'1m'}},"
	"  {'name':'d','delay':'5s'},"
	"  {'name':'s','needs':['d'],'when':{'eq':['${/input/flag}',true]},"
	"   'command':{'topic':'ts','type':'s.do'},'success':['s.ok']},"
	"  {'name':'v','needs':['d'],'wait':{'topic':'tw','type':'v.ok',"
	"    'key':'/id','timeout':'30s','on_timeout':'continue'}},"
	"  {'name':'x','needs':['w','s','v'],"
	"   'command':{'topic':'tx','type':'x.do','data':{'w':'${/steps/w}'}},"
	"   'success':['x.ok'],"
	"   'compensation':{'topic':'tx','type':'x.undo',"
	"    'success':['x.undone']}}]}";

/*
 * Three independent commands: p (with a compensation), q whose data is the
 * input's "big", r.
 */
static const char *const def_par =
	"{'name':'par','version':1,"
	" 'trigger':{'topic':'in','type':'go','key':'/id'},"
	" 'steps':["
	"  {'name':'p','command':{'topic':'tp','type':'p.do'},"
	"   'success':['p.ok'],'timeout':'10s',"
	"   'compensation':{'topic':'tp','type':'p.undo',"
	"    'success':['p.undone']}},"
	"  {'name':'q','command':{'topic':'tq','type':'q.do',"
	"    'data':{'big':'${/input/big}'}},'success':['q.ok']},"
	"  {'name':'r','command':{'topic':'tr','type':'r.do'},"
	"   'success':['r.ok']}]}";

/* Every step skipped: the saga completes at start. */
static const char *const def_skip =
	"{'name':'skip','version':1,"
	" 'trigger':{'topic':'in','type':'go','key':'/id'},"
	" 'steps':["
	"  {'name':'a','when':false,'command':{'topic':'t','type':'a.do'},"
	"   'success':['a.ok']},"
	"  {'name':'b','needs':['a'],'when':{'exists':'${/input/nope}'},"
	"   'delay':'1s'}]}";

static struct orc_definition *
def_order(void)
{
	struct orc_definition_issues issues = {0};
	struct orc_definition *def = NULL;
	struct orc_error err;
	enum orc_status st = orc_definition_load_file(
		ORC_SOURCE_DIR "/schemas/examples/order_fulfillment.json",
		&def, &issues, &err);

	ck_assert_msg(st == ORC_OK, "%s", err.message);
	orc_definition_issues_finish(&issues);
	return def;
}

/* ---- the rig (engine_testlib.h) ---- */

static const struct orc_et_setup setup = {
	.saga_id = SAGA_ID,
	.start_data = "{'id':'k1','flag':false}",
};

/* A rig on def (taken): the clock at 0, no trip through rows per input. */
static void
rig_init(struct orc_et_rig *r, struct orc_definition *def)
{
	orc_et_rig_init(r, &setup, def);
}

/* ---- the table ---- */

#define S_SEQ_COMP "start; reply a a.ok {'r':7}; reply b b.ok; reply c c.bad"
#define S_SEQ_DONE "start; reply a a.ok; reply b b.ok; reply c c.ok"
#define S_SEQ_COMPENSATED S_SEQ_COMP "; reply b b.undone; reply a a.undone"
#define S_SEQ_FAILED "start; reply a a.bad"
#define S_SEQ_STUCK S_SEQ_COMP "; wake; wake; wake"
#define S_SEQ_CANCELLED "start; cancel; reply a a.bad"
#define S_SEQ_TIMED_OUT "start; at 3600000; timer"

struct row {
	const char *name;
	const char *const *def;
	const char *setup;
	const char *input;
	enum orc_status status;
	const char *effects;
	const char *saga;  /* saga status after */
	const char *steps; /* step statuses after */
};

/*
 * max_command_bytes with room for 40 bytes of command data (1024 are kept
 * for headers): {"id":"k1"} (11) fits, the data of a 60-byte business key
 * or value does not.
 */
#define LIMIT_40 "limit 1064;"
#define X60 "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'"

static const struct row rows[] = {
	/* running: replies to a step in every status */
	{"start", &def_seq, "", "start", ORC_OK,
	 "h:saga.started ev:running h:step.started cmd:a/action/1", "running",
	 "a=running b=pending c=pending"},
	{"running: success starts the next", &def_seq, "start",
	 "reply a a.ok", ORC_OK, "h:step.succeeded h:step.started cmd:b/action/1",
	 "running", "a=succeeded b=running c=pending"},
	{"running: retryable failure", &def_seq, "start", "reply a a.flaky",
	 ORC_OK, "h:step.retry_scheduled", "running",
	 "a=running b=pending c=pending"},
	{"running: retryable failure in backoff is late", &def_seq,
	 "start; reply a a.flaky", "reply a a.flaky", ORC_OK,
	 "h:reply.ignored(late)", "running", "a=running b=pending c=pending"},
	{"running: success in backoff is taken", &def_seq,
	 "start; reply a a.flaky", "reply a a.ok", ORC_OK,
	 "h:step.succeeded h:step.started cmd:b/action/1", "running",
	 "a=succeeded b=running c=pending"},
	{"running: backoff over sends attempt 2", &def_seq,
	 "start; reply a a.flaky", "wake", ORC_OK,
	 "h:step.started cmd:a/action/2", "running",
	 "a=running b=pending c=pending"},
	{"running: retryable failure with attempts spent", &def_seq,
	 "start; reply a a.flaky; wake", "reply a a.flaky", ORC_OK,
	 "h:step.failed h:saga.compensating h:saga.failed ev:failed", "failed",
	 "a=failed b=pending c=pending"},
	{"running: failure", &def_seq, "start", "reply a a.bad", ORC_OK,
	 "h:step.failed h:saga.compensating h:saga.failed ev:failed", "failed",
	 "a=failed b=pending c=pending"},
	{"running: non-retryable failure in backoff", &def_seq,
	 "start; reply a a.flaky", "reply a a.bad", ORC_OK,
	 "h:step.failed h:saga.compensating h:saga.failed ev:failed", "failed",
	 "a=failed b=pending c=pending"},
	{"running: unexpected type", &def_seq, "start", "reply a a.what",
	 ORC_OK, "h:reply.ignored(unexpected_type)", "running",
	 "a=running b=pending c=pending"},
	{"running: unknown step", &def_seq, "start", "reply zz a.ok", ORC_OK,
	 "h:reply.ignored(unknown_step)", "running",
	 "a=running b=pending c=pending"},
	{"running: reply to a pending step is late", &def_seq, "start",
	 "reply b b.ok", ORC_OK, "h:reply.ignored(late)", "running",
	 "a=running b=pending c=pending"},
	{"running: duplicate success", &def_seq, "start; reply a a.ok",
	 "reply a a.ok", ORC_OK, "h:reply.ignored(duplicate)", "running",
	 "a=succeeded b=running c=pending"},
	{"running: failure after success is late", &def_seq,
	 "start; reply a a.ok", "reply a a.bad", ORC_OK,
	 "h:reply.ignored(late)", "running", "a=succeeded b=running c=pending"},
	{"running: timeout schedules a retry", &def_seq, "start", "wake",
	 ORC_OK, "h:step.timed_out h:step.retry_scheduled", "running",
	 "a=running b=pending c=pending"},
	{"running: timeout with attempts spent", &def_seq,
	 "start; wake; wake", "wake", ORC_OK,
	 "h:step.timed_out h:step.failed h:saga.compensating h:saga.failed "
	 "ev:failed",
	 "failed", "a=failed b=pending c=pending"},
	{"running: timeout without retry fails", &def_seq,
	 "start; reply a a.ok", "wake", ORC_OK,
	 "h:step.timed_out h:step.failed h:saga.compensating "
	 "h:compensation.started cmd:a/compensation/1",
	 "compensating", "a=compensating b=failed c=pending"},
	{"running: timer with nothing due", &def_seq, "start", "timer", ORC_OK,
	 "h:timer.ignored(not_due)", "running", "a=running b=pending c=pending"},
	{"running: event matching no wait step", &def_seq, "start",
	 "event tw w.ok {'id':'k1'}", ORC_OK, "h:event.ignored(no_match)",
	 "running", "a=running b=pending c=pending"},
	{"running: cancel awaits the command in flight", &def_seq, "start",
	 "cancel", ORC_OK, "h:operator.cancel h:saga.compensating", "compensating",
	 "a=running b=pending c=pending"},
	{"running: cancel aborts a backoff", &def_seq, "start; reply a a.flaky",
	 "cancel", ORC_OK,
	 "h:operator.cancel h:saga.compensating h:step.aborted h:saga.cancelled ev:cancelled",
	 "cancelled", "a=failed b=pending c=pending"},
	{"running: retry is a conflict", &def_seq, "start", "retry",
	 ORC_CONFLICT, "h:retry.ignored(not_allowed)", "running",
	 "a=running b=pending c=pending"},
	{"running: start again is a conflict", &def_seq, "start", "start",
	 ORC_CONFLICT, "h:start.ignored(not_allowed)", "running",
	 "a=running b=pending c=pending"},
	{"running: failure compensates the latest first", &def_seq,
	 "start; reply a a.ok; reply b b.ok", "reply c c.bad", ORC_OK,
	 "h:step.failed h:saga.compensating h:compensation.started "
	 "cmd:b/compensation/1",
	 "compensating", "a=succeeded b=compensating c=failed"},

	/* compensating */
	{"compensating: compensation success, next", &def_seq, S_SEQ_COMP,
	 "reply b b.undone", ORC_OK,
	 "h:compensation.succeeded h:compensation.started "
	 "cmd:a/compensation/1",
	 "compensating", "a=compensating b=compensated c=failed"},
	{"compensating: last compensation ends it", &def_seq,
	 S_SEQ_COMP "; reply b b.undone", "reply a a.undone", ORC_OK,
	 "h:compensation.succeeded h:saga.compensated ev:compensated",
	 "compensated", "a=compensated b=compensated c=failed"},
	{"compensating: compensation failure retries", &def_seq, S_SEQ_COMP,
	 "reply b b.stuck", ORC_OK, "h:compensation.retry_scheduled",
	 "compensating", "a=succeeded b=compensating c=failed"},
	{"compensating: compensation timeout retries", &def_seq, S_SEQ_COMP,
	 "wake", ORC_OK, "h:compensation.timed_out h:compensation.retry_scheduled",
	 "compensating", "a=succeeded b=compensating c=failed"},
	{"compensating: failure during backoff is late", &def_seq,
	 S_SEQ_COMP "; reply b b.stuck", "reply b b.stuck", ORC_OK,
	 "h:reply.ignored(late)", "compensating",
	 "a=succeeded b=compensating c=failed"},
	{"compensating: backoff over resends", &def_seq,
	 S_SEQ_COMP "; reply b b.stuck", "wake", ORC_OK,
	 "h:compensation.started cmd:b/compensation/2", "compensating",
	 "a=succeeded b=compensating c=failed"},
	{"compensating: success during backoff is taken", &def_seq,
	 S_SEQ_COMP "; reply b b.stuck", "reply b b.undone", ORC_OK,
	 "h:compensation.succeeded h:compensation.started "
	 "cmd:a/compensation/1",
	 "compensating", "a=compensating b=compensated c=failed"},
	{"compensating: action success again is a duplicate", &def_seq,
	 S_SEQ_COMP, "reply b b.ok", ORC_OK, "h:reply.ignored(duplicate)",
	 "compensating", "a=succeeded b=compensating c=failed"},
	{"compensating: reply to the failed step is late", &def_seq,
	 S_SEQ_COMP, "reply c c.ok", ORC_OK, "h:reply.ignored(late)",
	 "compensating", "a=succeeded b=compensating c=failed"},
	{"compensating: compensation reply before it started is late",
	 &def_seq, S_SEQ_COMP, "reply a a.undone", ORC_OK,
	 "h:reply.ignored(late)", "compensating",
	 "a=succeeded b=compensating c=failed"},
	{"compensating: unexpected type", &def_seq, S_SEQ_COMP,
	 "reply b zz.top", ORC_OK, "h:reply.ignored(unexpected_type)",
	 "compensating", "a=succeeded b=compensating c=failed"},
	{"compensating: cancel is a conflict", &def_seq, S_SEQ_COMP, "cancel",
	 ORC_CONFLICT, "h:cancel.ignored(not_allowed)", "compensating",
	 "a=succeeded b=compensating c=failed"},
	{"compensating: retry is a conflict", &def_seq, S_SEQ_COMP, "retry",
	 ORC_CONFLICT, "h:retry.ignored(not_allowed)", "compensating",
	 "a=succeeded b=compensating c=failed"},
	{"compensating: events are not allowed", &def_seq, S_SEQ_COMP,
	 "event tw w.ok {'id':'k1'}", ORC_OK, "h:event.ignored(not_allowed)",
	 "compensating", "a=succeeded b=compensating c=failed"},
	{"compensating: a late success is compensated", &def_seq,
	 "start; cancel", "reply a a.ok {'r':1}", ORC_OK,
	 "h:step.succeeded h:compensation.started cmd:a/compensation/1",
	 "compensating", "a=compensating b=pending c=pending"},
	{"compensating: a timeout is not retried", &def_seq, "start; cancel",
	 "wake", ORC_OK,
	 "h:step.timed_out h:step.failed h:saga.cancelled ev:cancelled",
	 "cancelled", "a=failed b=pending c=pending"},
	{"compensating: a retryable failure is not retried", &def_seq,
	 "start; cancel", "reply a a.flaky", ORC_OK,
	 "h:step.failed h:saga.cancelled ev:cancelled", "cancelled",
	 "a=failed b=pending c=pending"},

	/* compensated */
	{"compensated: duplicate compensation reply", &def_seq,
	 S_SEQ_COMPENSATED, "reply a a.undone", ORC_OK,
	 "h:reply.ignored(duplicate)", "compensated",
	 "a=compensated b=compensated c=failed"},
	{"compensated: cancel is a conflict", &def_seq, S_SEQ_COMPENSATED,
	 "cancel", ORC_CONFLICT, "h:cancel.ignored(not_allowed)",
	 "compensated", "a=compensated b=compensated c=failed"},
	{"compensated: retry is a conflict", &def_seq, S_SEQ_COMPENSATED,
	 "retry", ORC_CONFLICT, "h:retry.ignored(not_allowed)", "compensated",
	 "a=compensated b=compensated c=failed"},
	{"compensated: timer", &def_seq, S_SEQ_COMPENSATED, "timer", ORC_OK,
	 "h:timer.ignored(not_due)", "compensated",
	 "a=compensated b=compensated c=failed"},
	{"compensated: event", &def_seq, S_SEQ_COMPENSATED,
	 "event tw w.ok {'id':'k1'}", ORC_OK, "h:event.ignored(not_allowed)",
	 "compensated", "a=compensated b=compensated c=failed"},
	{"compensated: start", &def_seq, S_SEQ_COMPENSATED, "start",
	 ORC_CONFLICT, "h:start.ignored(not_allowed)", "compensated",
	 "a=compensated b=compensated c=failed"},

	/* failed */
	{"failed: retry reruns the failed step", &def_seq, S_SEQ_FAILED,
	 "retry", ORC_OK, "h:operator.retry h:saga.retried h:step.started cmd:a/action/2",
	 "running", "a=running b=pending c=pending"},
	{"failed: cancel is a conflict", &def_seq, S_SEQ_FAILED, "cancel",
	 ORC_CONFLICT, "h:cancel.ignored(not_allowed)", "failed",
	 "a=failed b=pending c=pending"},
	{"failed: late reply", &def_seq, S_SEQ_FAILED, "reply a a.ok", ORC_OK,
	 "h:reply.ignored(late)", "failed", "a=failed b=pending c=pending"},
	{"failed: timer", &def_seq, S_SEQ_FAILED, "timer", ORC_OK,
	 "h:timer.ignored(not_due)", "failed", "a=failed b=pending c=pending"},
	{"failed: retried saga runs on", &def_seq, S_SEQ_FAILED "; retry",
	 "reply a a.ok", ORC_OK, "h:step.succeeded h:step.started cmd:b/action/1",
	 "running", "a=succeeded b=running c=pending"},

	/* stuck */
	{"stuck: compensation attempts spent", &def_seq,
	 S_SEQ_COMP "; wake; wake", "wake", ORC_OK,
	 "h:compensation.timed_out h:compensation.failed h:saga.stuck ev:stuck",
	 "stuck", "a=succeeded b=compensating c=failed"},
	{"stuck: retry resends the compensation", &def_seq, S_SEQ_STUCK,
	 "retry", ORC_OK, "h:operator.retry h:saga.retried h:compensation.started "
			  "cmd:b/compensation/3",
	 "compensating", "a=succeeded b=compensating c=failed"},
	{"stuck: cancel gives up", &def_seq, S_SEQ_STUCK, "cancel", ORC_OK,
	 "h:operator.cancel h:saga.cancel_requested h:saga.cancelled ev:cancelled", "cancelled",
	 "a=succeeded b=compensating c=failed"},
	{"stuck: a late compensation success unsticks it", &def_seq,
	 S_SEQ_STUCK, "reply b b.undone", ORC_OK,
	 "h:saga.compensating h:compensation.succeeded h:compensation.started "
	 "cmd:a/compensation/1",
	 "compensating", "a=compensating b=compensated c=failed"},
	{"stuck: a late compensation failure", &def_seq, S_SEQ_STUCK,
	 "reply b b.stuck", ORC_OK, "h:reply.ignored(late)", "stuck",
	 "a=succeeded b=compensating c=failed"},
	{"stuck: timer", &def_seq, S_SEQ_STUCK, "timer", ORC_OK,
	 "h:timer.ignored(not_due)", "stuck",
	 "a=succeeded b=compensating c=failed"},
	{"stuck: event", &def_seq, S_SEQ_STUCK, "event tw w.ok {'id':'k1'}",
	 ORC_OK, "h:event.ignored(not_allowed)", "stuck",
	 "a=succeeded b=compensating c=failed"},

	/* cancelled */
	{"cancelled: with nothing to undo", &def_seq, "start; cancel",
	 "reply a a.bad", ORC_OK, "h:step.failed h:saga.cancelled ev:cancelled",
	 "cancelled", "a=failed b=pending c=pending"},
	{"cancelled: retry is a conflict", &def_seq, S_SEQ_CANCELLED, "retry",
	 ORC_CONFLICT, "h:retry.ignored(not_allowed)", "cancelled",
	 "a=failed b=pending c=pending"},
	{"cancelled: cancel is a conflict", &def_seq, S_SEQ_CANCELLED,
	 "cancel", ORC_CONFLICT, "h:cancel.ignored(not_allowed)", "cancelled",
	 "a=failed b=pending c=pending"},
	{"cancelled: late reply", &def_seq, S_SEQ_CANCELLED, "reply a a.ok",
	 ORC_OK, "h:reply.ignored(late)", "cancelled",
	 "a=failed b=pending c=pending"},
	{"cancelled from stuck: late compensation reply", &def_seq,
	 S_SEQ_STUCK "; cancel", "reply b b.undone", ORC_OK,
	 "h:reply.ignored(late)", "cancelled",
	 "a=succeeded b=compensating c=failed"},

	/* timed_out */
	{"timed out: the deadline fires last", &def_seq, "start; at 3600000",
	 "timer", ORC_OK,
	 "h:step.timed_out h:step.retry_scheduled h:saga.compensating "
	 "h:step.aborted h:saga.timed_out ev:timed_out",
	 "timed_out", "a=failed b=pending c=pending"},
	{"timed out: compensates what succeeded", &def_seq,
	 "start; reply a a.ok; at 3600000", "timer", ORC_OK,
	 "h:step.timed_out h:step.failed h:saga.compensating "
	 "h:compensation.started cmd:a/compensation/1",
	 "compensating", "a=compensating b=failed c=pending"},
	{"timed out: an earlier step timeout wins", &def_seq,
	 "start; at 9000; reply a a.ok; at 3600000", "timer", ORC_OK,
	 "h:step.timed_out h:step.failed h:saga.compensating "
	 "h:compensation.started cmd:a/compensation/1",
	 "compensating", "a=compensating b=failed c=pending"},
	{"timed out: retry is a conflict", &def_seq, S_SEQ_TIMED_OUT, "retry",
	 ORC_CONFLICT, "h:retry.ignored(not_allowed)", "timed_out",
	 "a=failed b=pending c=pending"},
	{"timed out: cancel is a conflict", &def_seq, S_SEQ_TIMED_OUT,
	 "cancel", ORC_CONFLICT, "h:cancel.ignored(not_allowed)", "timed_out",
	 "a=failed b=pending c=pending"},

	/* completed */
	{"completed: the last success", &def_seq,
	 "start; reply a a.ok; reply b b.ok", "reply c c.ok", ORC_OK,
	 "h:step.succeeded h:saga.completed ev:completed", "completed",
	 "a=succeeded b=succeeded c=succeeded"},
	{"completed: duplicate", &def_seq, S_SEQ_DONE, "reply c c.ok", ORC_OK,
	 "h:reply.ignored(duplicate)", "completed",
	 "a=succeeded b=succeeded c=succeeded"},
	{"completed: late failure", &def_seq, S_SEQ_DONE, "reply c c.bad",
	 ORC_OK, "h:reply.ignored(late)", "completed",
	 "a=succeeded b=succeeded c=succeeded"},
	{"completed: cancel is a conflict", &def_seq, S_SEQ_DONE, "cancel",
	 ORC_CONFLICT, "h:cancel.ignored(not_allowed)", "completed",
	 "a=succeeded b=succeeded c=succeeded"},
	{"completed: retry is a conflict", &def_seq, S_SEQ_DONE, "retry",
	 ORC_CONFLICT, "h:retry.ignored(not_allowed)", "completed",
	 "a=succeeded b=succeeded c=succeeded"},
	{"completed: timer", &def_seq, S_SEQ_DONE "; at 99999999", "timer",
	 ORC_OK, "h:timer.ignored(not_due)", "completed",
	 "a=succeeded b=succeeded c=succeeded"},

	/* waits, delays, conditions */
	{"flow: start runs the independent steps", &def_flow, "", "start",
	 ORC_OK, "h:saga.started ev:running h:step.started h:step.started", "running",
	 "w=running d=running s=pending v=pending x=pending"},
	{"flow: the awaited event", &def_flow, "start",
	 "event tw w.ok {'id':'k1','ok':true}", ORC_OK, "h:step.succeeded",
	 "running", "w=succeeded d=running s=pending v=pending x=pending"},
	{"flow: another key", &def_flow, "start", "event tw w.ok {'id':'k2'}",
	 ORC_OK, "h:event.ignored(no_match)", "running",
	 "w=running d=running s=pending v=pending x=pending"},
	{"flow: no key", &def_flow, "start", "event tw w.ok {'idx':'k1'}",
	 ORC_OK, "h:event.ignored(no_match)", "running",
	 "w=running d=running s=pending v=pending x=pending"},
	{"flow: another topic", &def_flow, "start", "event tz w.ok {'id':'k1'}",
	 ORC_OK, "h:event.ignored(no_match)", "running",
	 "w=running d=running s=pending v=pending x=pending"},
	{"flow: the event again", &def_flow,
	 "start; event tw w.ok {'id':'k1'}", "event tw w.ok {'id':'k1'}",
	 ORC_OK, "h:event.ignored(duplicate)", "running",
	 "w=succeeded d=running s=pending v=pending x=pending"},
	{"flow: an early event is stored", &def_flow, "start",
	 "event tw v.ok {'id':'k1'}", ORC_OK, "h:step.event_stored", "running",
	 "w=running d=running s=pending v=pending x=pending"},
	{"flow: a second early event is a duplicate", &def_flow,
	 "start; event tw v.ok {'id':'k1'}", "event tw v.ok {'id':'k1'}",
	 ORC_OK, "h:event.ignored(duplicate)", "running",
	 "w=running d=running s=pending v=pending x=pending"},
	{"flow: delay over, skip, the early event applies", &def_flow,
	 "start; event tw v.ok {'id':'k1'}", "wake", ORC_OK,
	 "h:step.succeeded h:step.skipped h:step.started h:step.succeeded",
	 "running", "w=running d=succeeded s=skipped v=succeeded x=pending"},
	{"flow: the last need starts x", &def_flow,
	 "start; event tw v.ok {'id':'k1'}; wake", "event tw w.ok {'id':'k1'}",
	 ORC_OK, "h:step.succeeded h:step.started cmd:x/action/1", "running",
	 "w=succeeded d=succeeded s=skipped v=succeeded x=running"},
	{"flow: condition true runs s", &def_flow,
	 "start {'id':'k1','flag':true}", "wake", ORC_OK,
	 "h:step.succeeded h:step.started cmd:s/action/1 h:step.started",
	 "running", "w=running d=succeeded s=running v=running x=pending"},
	{"flow: wait timeout continues", &def_flow,
	 "start; event tw w.ok {'id':'k1'}; wake", "wake", ORC_OK,
	 "h:step.timed_out h:step.succeeded h:step.started cmd:x/action/1",
	 "running", "w=succeeded d=succeeded s=skipped v=succeeded x=running"},
	{"flow: wait timeout fails", &def_flow, "start; wake; wake", "wake",
	 ORC_OK,
	 "h:step.timed_out h:step.failed h:saga.compensating h:saga.failed "
	 "ev:failed",
	 "failed", "w=failed d=succeeded s=skipped v=succeeded x=pending"},
	{"flow: a failing wait aborts the delay", &def_flow,
	 "start; at 60000", "timer", ORC_OK,
	 "h:step.succeeded h:step.skipped h:step.started h:step.timed_out "
	 "h:step.failed h:saga.compensating h:step.aborted h:saga.failed "
	 "ev:failed",
	 "failed", "w=failed d=succeeded s=skipped v=failed x=pending"},
	{"flow: cancel aborts waits and delays", &def_flow, "start", "cancel",
	 ORC_OK,
	 "h:operator.cancel h:saga.compensating h:step.aborted h:step.aborted h:saga.cancelled "
	 "ev:cancelled",
	 "cancelled", "w=failed d=failed s=pending v=pending x=pending"},
	{"flow: a reply to a wait step", &def_flow, "start", "reply w w.ok",
	 ORC_OK, "h:reply.ignored(unexpected_type)", "running",
	 "w=running d=running s=pending v=pending x=pending"},
	{"flow: retry after a failed wait", &def_flow,
	 "start; wake; wake; wake", "retry", ORC_OK,
	 "h:operator.retry h:saga.retried h:step.started", "running",
	 "w=running d=succeeded s=skipped v=succeeded x=pending"},
	{"skip: every step skipped completes at once", &def_skip, "", "start",
	 ORC_OK, "h:saga.started ev:running h:step.skipped h:step.skipped h:saga.completed "
		 "ev:completed",
	 "completed", "a=skipped b=skipped"},

	/* commands over max_command_bytes: the step fails at once */
	{"too large: data at the limit is sent", &def_seq, "limit 1035",
	 "start", ORC_OK, "h:saga.started ev:running h:step.started cmd:a/action/1",
	 "running", "a=running b=pending c=pending"},
	{"too large: one byte over fails the saga at start", &def_seq,
	 "limit 1034", "start", ORC_OK,
	 "h:saga.started ev:running h:step.failed h:saga.compensating h:saga.failed "
	 "ev:failed",
	 "failed", "a=failed b=pending c=pending"},
	{"too large: the first command, nothing to undo", &def_seq, LIMIT_40,
	 "start {'id':" X60 "}", ORC_OK,
	 "h:saga.started ev:running h:step.failed h:saga.compensating h:saga.failed "
	 "ev:failed",
	 "failed", "a=failed b=pending c=pending"},
	{"too large: a retry fails at once, without retries", &def_seq,
	 LIMIT_40 "start {'id':" X60 "}", "retry", ORC_OK,
	 "h:operator.retry h:saga.retried h:step.failed h:saga.compensating h:saga.failed "
	 "ev:failed",
	 "failed", "a=failed b=pending c=pending"},
	{"too large: a sibling in flight is awaited, later ones not started",
	 &def_par, LIMIT_40, "start {'id':'k1','big':" X60 "}", ORC_OK,
	 "h:saga.started ev:running h:step.started cmd:p/action/1 h:step.failed "
	 "h:saga.compensating",
	 "compensating", "p=running q=failed r=pending"},
	{"too large: the awaited sibling is compensated", &def_par,
	 LIMIT_40 "start {'id':'k1','big':" X60 "}", "reply p p.ok", ORC_OK,
	 "h:step.succeeded h:compensation.started cmd:p/compensation/1",
	 "compensating", "p=compensating q=failed r=pending"},
	{"too large: a later command compensates the earlier steps", &def_flow,
	 LIMIT_40 "start; event tw w.ok {'id':'k1','pad':" X60 "}; wake",
	 "wake", ORC_OK,
	 "h:step.timed_out h:step.succeeded h:step.failed h:saga.compensating "
	 "h:saga.failed ev:failed",
	 "failed", "w=succeeded d=succeeded s=skipped v=succeeded x=failed"},
	{"too large: a compensation makes the saga stuck at once", &def_seq,
	 LIMIT_40 "start; reply a a.ok {'r':" X60 "}; reply b b.ok; "
	 "reply c c.bad",
	 "reply b b.undone", ORC_OK,
	 "h:compensation.succeeded h:compensation.failed h:saga.stuck ev:stuck",
	 "stuck", "a=compensating b=compensated c=failed"},
	{"too large: retrying the compensation stays stuck", &def_seq,
	 LIMIT_40 "start; reply a a.ok {'r':" X60 "}; reply b b.ok; "
	 "reply c c.bad; reply b b.undone",
	 "retry", ORC_OK,
	 "h:operator.retry h:saga.retried h:compensation.failed h:saga.stuck ev:stuck", "stuck",
	 "a=compensating b=compensated c=failed"},
	{"too large: cancel gives up on the compensation", &def_seq,
	 LIMIT_40 "start; reply a a.ok {'r':" X60 "}; reply b b.ok; "
	 "reply c c.bad; reply b b.undone",
	 "cancel", ORC_OK,
	 "h:operator.cancel h:saga.cancel_requested h:saga.cancelled ev:cancelled", "cancelled",
	 "a=compensating b=compensated c=failed"},

	/* operator actions: pause and resume */
	{"running: pause", &def_seq, "start", "pause", ORC_OK,
	 "h:operator.pause", "running", "a=running b=pending c=pending"},
	{"paused: a reply is applied, the next step waits", &def_seq,
	 "start; pause", "reply a a.ok", ORC_OK, "h:step.succeeded", "running",
	 "a=succeeded b=pending c=pending"},
	{"paused: resume starts what became ready", &def_seq,
	 "start; pause; reply a a.ok", "resume", ORC_OK,
	 "h:operator.resume h:step.started cmd:b/action/1", "running",
	 "a=succeeded b=running c=pending"},
	{"paused: timers wait", &def_seq, "start; pause; at 20000", "timer",
	 ORC_OK, "h:timer.ignored(not_allowed)", "running",
	 "a=running b=pending c=pending"},
	{"paused: a failure compensates only after resume", &def_seq,
	 "start; reply a a.ok; pause", "reply b b.bad", ORC_OK,
	 "h:step.failed h:saga.compensating", "compensating",
	 "a=succeeded b=failed c=pending"},
	{"paused: resume compensates", &def_seq,
	 "start; reply a a.ok; pause; reply b b.bad", "resume", ORC_OK,
	 "h:operator.resume h:compensation.started cmd:a/compensation/1",
	 "compensating", "a=compensating b=failed c=pending"},
	{"paused: pause again is a conflict", &def_seq, "start; pause", "pause",
	 ORC_CONFLICT, "h:pause.ignored(not_allowed)", "running",
	 "a=running b=pending c=pending"},
	{"running: resume is a conflict", &def_seq, "start", "resume",
	 ORC_CONFLICT, "h:resume.ignored(not_allowed)", "running",
	 "a=running b=pending c=pending"},
	{"completed: pause is a conflict", &def_seq, S_SEQ_DONE, "pause",
	 ORC_CONFLICT, "h:pause.ignored(not_allowed)", "completed",
	 "a=succeeded b=succeeded c=succeeded"},

	/* skip */
	{"running: skip the running step", &def_seq, "start",
	 "skip a {'r':1}", ORC_OK,
	 "h:operator.skip h:step.succeeded h:step.started cmd:b/action/1",
	 "running", "a=succeeded b=running c=pending"},
	{"running: skip a pending step", &def_seq, "start", "skip b", ORC_OK,
	 "h:operator.skip h:step.succeeded h:step.started cmd:c/action/1",
	 "running", "a=running b=succeeded c=running"},
	{"running: the skipped step's reply comes late", &def_seq,
	 "start; skip a", "reply a a.ok", ORC_OK, "h:reply.ignored(duplicate)",
	 "running", "a=succeeded b=running c=pending"},
	{"failed: skip the failed step runs on", &def_seq, S_SEQ_FAILED,
	 "skip a", ORC_OK,
	 "h:operator.skip h:saga.retried h:step.succeeded h:step.started "
	 "cmd:b/action/1",
	 "running", "a=succeeded b=running c=pending"},
	{"running: skip a succeeded step is a conflict", &def_seq,
	 "start; reply a a.ok", "skip a", ORC_CONFLICT,
	 "h:skip.ignored(not_allowed)", "running",
	 "a=succeeded b=running c=pending"},
	{"running: skip an unknown step is a conflict", &def_seq, "start",
	 "skip zz", ORC_CONFLICT, "h:skip.ignored(not_allowed)", "running",
	 "a=running b=pending c=pending"},
	{"completed: skip is a conflict", &def_seq, S_SEQ_DONE, "skip a",
	 ORC_CONFLICT, "h:skip.ignored(not_allowed)", "completed",
	 "a=succeeded b=succeeded c=succeeded"},

	/* patch */
	{"running: patch the input", &def_seq, "start",
	 "patch input {'id':'k2'}", ORC_OK, "h:operator.patch", "running",
	 "a=running b=pending c=pending"},
	{"completed: patch is a conflict", &def_seq, S_SEQ_DONE,
	 "patch input {'id':'k2'}", ORC_CONFLICT,
	 "h:patch.ignored(not_allowed)", "completed",
	 "a=succeeded b=succeeded c=succeeded"},

	/* retry from a step */
	{"completed: retry from b reruns b and c", &def_seq, S_SEQ_DONE,
	 "retry b", ORC_OK, "h:operator.retry h:step.started cmd:b/action/2",
	 "running", "a=succeeded b=running c=pending"},
	{"running: retry from the running step resends it", &def_seq,
	 "start; reply a a.ok", "retry b", ORC_OK,
	 "h:operator.retry h:step.started cmd:b/action/2", "running",
	 "a=succeeded b=running c=pending"},
	{"failed: retry from a", &def_seq, S_SEQ_FAILED, "retry a", ORC_OK,
	 "h:operator.retry h:step.started cmd:a/action/2", "running",
	 "a=running b=pending c=pending"},
	{"compensating: retry from a step is a conflict", &def_seq, S_SEQ_COMP,
	 "retry a", ORC_CONFLICT, "h:retry.ignored(not_allowed)",
	 "compensating", "a=succeeded b=compensating c=failed"},

	/* resolve */
	{"stuck: resolve goes on compensating", &def_seq, S_SEQ_STUCK,
	 "resolve b", ORC_OK,
	 "h:operator.resolve h:compensation.succeeded h:compensation.started "
	 "cmd:a/compensation/1",
	 "compensating", "a=compensating b=compensated c=failed"},
	{"stuck: resolve a step not compensating is a conflict", &def_seq,
	 S_SEQ_STUCK, "resolve a", ORC_CONFLICT,
	 "h:resolve.ignored(not_allowed)", "stuck",
	 "a=succeeded b=compensating c=failed"},
	{"running: resolve is a conflict", &def_seq, "start", "resolve a",
	 ORC_CONFLICT, "h:resolve.ignored(not_allowed)", "running",
	 "a=running b=pending c=pending"},

	/* terminate */
	{"running: terminate ends it without compensating", &def_seq,
	 "start; reply a a.ok", "terminate", ORC_OK,
	 "h:operator.terminate h:step.aborted h:saga.cancelled ev:cancelled",
	 "cancelled", "a=succeeded b=failed c=pending"},
	{"stuck: terminate", &def_seq, S_SEQ_STUCK, "terminate", ORC_OK,
	 "h:operator.terminate h:saga.cancelled ev:cancelled", "cancelled",
	 "a=succeeded b=compensating c=failed"},
	{"paused: terminate", &def_seq, "start; pause", "terminate", ORC_OK,
	 "h:operator.terminate h:step.aborted h:saga.cancelled ev:cancelled",
	 "cancelled", "a=failed b=pending c=pending"},
	{"completed: terminate is a conflict", &def_seq, S_SEQ_DONE,
	 "terminate", ORC_CONFLICT, "h:terminate.ignored(not_allowed)",
	 "completed", "a=succeeded b=succeeded c=succeeded"},
};

START_TEST(test_table)
{
	const struct row *row = &rows[_i];
	struct orc_et_rig r;
	enum orc_status st;

	rig_init(&r, orc_et_def(*row->def));
	if (row->setup[0] != '\0')
		orc_et_script(&r, row->setup);
	st = orc_et_command(&r, row->input);
	ck_assert_msg(st == row->status, "%s: status %s, want %s (%s)",
		      row->name, orc_status_name(st),
		      orc_status_name(row->status), r.err.message);
	ck_assert_msg(strcmp(r.got, row->effects) == 0,
		      "%s:\n  got  \"%s\"\n  want \"%s\"", row->name, r.got,
		      row->effects);
	ck_assert_msg(strcmp(orc_saga_status_name(r.saga.status), row->saga) ==
			      0,
		      "%s: saga %s, want %s", row->name,
		      orc_saga_status_name(r.saga.status), row->saga);
	ck_assert_msg(strcmp(orc_et_steps(&r), row->steps) == 0,
		      "%s: steps \"%s\", want \"%s\"", row->name,
		      orc_et_steps(&r), row->steps);
	if (st == ORC_CONFLICT)
		ck_assert_str_ne(r.err.message, "");
	orc_et_rig_finish(&r);
}
END_TEST

/* ---- details the table does not show ---- */

START_TEST(test_names)
{
	for (int i = 0; i < ORC_SAGA_STATUS_COUNT; i++) {
		enum orc_saga_status s;

		ck_assert(orc_saga_status_parse(orc_saga_status_name(i), &s));
		ck_assert_int_eq(s, i);
	}
	for (int i = 0; i < ORC_STEP_STATUS_COUNT; i++) {
		enum orc_step_status s;

		ck_assert(orc_step_status_parse(orc_step_status_name(i), &s));
		ck_assert_int_eq(s, i);
	}
	for (int i = ORC_WAKE_NONE; i <= ORC_WAKE_COMP_RETRY; i++) {
		enum orc_wake_reason w;

		ck_assert(orc_wake_reason_parse(orc_wake_reason_name(i), &w));
		ck_assert_int_eq(w, i);
	}
	for (int i = ORC_CAUSE_NONE; i <= ORC_CAUSE_TIMEOUT; i++) {
		enum orc_saga_cause c;

		ck_assert(orc_saga_cause_parse(orc_saga_cause_name(i), &c));
		ck_assert_int_eq(c, i);
	}
	ck_assert_str_eq(orc_saga_status_name(ORC_SAGA_TIMED_OUT), "timed_out");
	ck_assert_str_eq(orc_saga_status_name((enum orc_saga_status)99), "?");
	ck_assert_str_eq(orc_step_status_name(ORC_STEP_COMPENSATED),
			 "compensated");
	ck_assert_str_eq(orc_wake_reason_name(ORC_WAKE_COMP_RETRY),
			 "comp_retry");
	ck_assert_str_eq(orc_input_kind_name(ORC_INPUT_RETRY), "retry");
	ck_assert_str_eq(orc_effect_kind_name(ORC_EFFECT_SAGA_EVENT),
			 "saga_event");
	ck_assert_str_eq(orc_command_kind_name(ORC_COMMAND_COMPENSATION),
			 "compensation");
	ck_assert_str_eq(orc_ignore_reason_name(ORC_IGNORE_UNKNOWN_STEP),
			 "unknown_step");
	enum orc_saga_status s = ORC_SAGA_RUNNING;

	ck_assert(!orc_saga_status_parse("Running", &s));
	ck_assert(!orc_saga_status_parse(NULL, &s));
	ck_assert(orc_saga_status_is_final(ORC_SAGA_STUCK));
	ck_assert(!orc_saga_status_is_final(ORC_SAGA_COMPENSATING));
}
END_TEST

/* Every name, spelled out: the store's rows and the logs depend on them. */
START_TEST(test_names_every)
{
	static const char *const saga[] = {
		"running", "completed", "compensating", "compensated",
		"failed",  "stuck",     "cancelled",    "timed_out"};
	static const char *const step[] = {
		"pending",      "running",    "succeeded", "failed",
		"skipped",      "compensating", "compensated"};
	static const char *const wake[] = {
		"none",         "timeout",      "retry",     "delay",
		"wait_timeout", "comp_timeout", "comp_retry",   "map_load"};
	static const char *const cause[] = {"none", "failure", "cancel",
					    "timeout", "undo"};
	static const char *const input[] = {
		"start", "reply", "event",   "timer",   "cancel",  "retry",
		"pause", "resume", "skip",   "patch",   "resolve", "terminate",
		"migrate", "child", "undo"};
	static const char *const effect[] = {"command", "history",
					     "saga_event", "child"};
	static const char *const command[] = {"action", "compensation"};
	static const char *const ignore[] = {
		"",           "late",      "duplicate", "unknown_step",
		"unexpected_type", "no_match", "not_due", "not_allowed"};

	ck_assert_int_eq(COUNT(saga), ORC_SAGA_STATUS_COUNT);
	ck_assert_int_eq(COUNT(step), ORC_STEP_STATUS_COUNT);
	ck_assert_int_eq(COUNT(input), ORC_INPUT_KIND_COUNT);
	for (size_t i = 0; i < COUNT(saga); i++)
		ck_assert_str_eq(orc_saga_status_name(i), saga[i]);
	for (size_t i = 0; i < COUNT(step); i++)
		ck_assert_str_eq(orc_step_status_name(i), step[i]);
	for (size_t i = 0; i < COUNT(wake); i++)
		ck_assert_str_eq(orc_wake_reason_name(i), wake[i]);
	ck_assert_str_eq(orc_wake_reason_name(COUNT(wake)), "?");
	for (size_t i = 0; i < COUNT(cause); i++)
		ck_assert_str_eq(orc_saga_cause_name(i), cause[i]);
	ck_assert_str_eq(orc_saga_cause_name(COUNT(cause)), "?");
	for (size_t i = 0; i < COUNT(input); i++)
		ck_assert_str_eq(orc_input_kind_name(i), input[i]);
	for (size_t i = 0; i < COUNT(effect); i++)
		ck_assert_str_eq(orc_effect_kind_name(i), effect[i]);
	ck_assert_str_eq(orc_effect_kind_name(COUNT(effect)), "?");
	for (size_t i = 0; i < COUNT(command); i++)
		ck_assert_str_eq(orc_command_kind_name(i), command[i]);
	ck_assert_str_eq(orc_command_kind_name(COUNT(command)), "?");
	for (size_t i = 0; i < COUNT(ignore); i++)
		ck_assert_str_eq(orc_ignore_reason_name(i), ignore[i]);
	ck_assert_str_eq(orc_ignore_reason_name(COUNT(ignore)), "?");
}
END_TEST

START_TEST(test_invalid_inputs)
{
	struct orc_et_rig r;
	struct orc_engine_input in = {.kind = ORC_INPUT_REPLY,
				      .step = "a",
				      .type = "a.ok"};
	json_t *data = orc_et_json("{'nokey':1}");

	rig_init(&r, orc_et_def(def_seq));
	/* not started yet */
	ck_assert_int_eq(orc_et_apply(&r, &in), ORC_INVALID);
	ck_assert_uint_eq(r.fx.n, 0);
	/* START without a business key in the data */
	in = (struct orc_engine_input){.kind = ORC_INPUT_START,
				       .saga_id = SAGA_ID,
				       .data = data};
	ck_assert_int_eq(orc_et_apply(&r, &in), ORC_INVALID);
	ck_assert_str_eq(r.err.message, "start input: no business key at \"/id\"");
	/* START without an id, or with one too long */
	in.key = "k";
	in.saga_id = NULL;
	ck_assert_int_eq(orc_et_apply(&r, &in), ORC_INVALID);
	char longid[ORC_SAGA_ID_MAX + 1];

	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	in.saga_id = longid;
	ck_assert_int_eq(orc_et_apply(&r, &in), ORC_INVALID);
	ck_assert_ptr_null(r.saga.context);
	/* an explicit key wins over the data */
	in.saga_id = SAGA_ID;
	ck_assert_int_eq(orc_et_apply(&r, &in), ORC_OK);
	ck_assert_str_eq(r.saga.key, "k");
	/* a reply without a type, an event without a topic, bad UTF-8 */
	in = (struct orc_engine_input){.kind = ORC_INPUT_REPLY, .step = "a"};
	ck_assert_int_eq(orc_et_apply(&r, &in), ORC_INVALID);
	in = (struct orc_engine_input){.kind = ORC_INPUT_EVENT, .type = "x"};
	ck_assert_int_eq(orc_et_apply(&r, &in), ORC_INVALID);
	in = (struct orc_engine_input){
		.kind = ORC_INPUT_REPLY, .step = "a", .type = "a.\xff"};
	ck_assert_int_eq(orc_et_apply(&r, &in), ORC_INVALID);
	in = (struct orc_engine_input){.kind = (enum orc_input_kind)42};
	ck_assert_int_eq(orc_et_apply(&r, &in), ORC_INVALID);
	ck_assert_str_eq(orc_saga_status_name(r.saga.status), "running");
	json_decref(data);
	orc_et_rig_finish(&r);
}
END_TEST

/* An inconsistent state makes the engine refuse, not apply, a transition. */
START_TEST(test_invalid_transition_is_fatal)
{
	struct orc_definition *def = orc_et_def(def_flow);
	json_t *ctx = orc_et_json("{'input':{},'steps':{},'saga':{}}");
	struct orc_saga_row row = {
		.id = SAGA_ID, .key = "k1", .status = "running",
		.cause = "none", .context = ctx, .wake_ms = 5000,
	};
	struct orc_step_row step = {
		.name = "d", .status = "skipped", .wake_ms = 5000,
		.wake_reason = "delay",
	};
	struct orc_engine_input in = {.kind = ORC_INPUT_TIMER};
	struct orc_saga saga;
	struct orc_effects fx;
	struct orc_error err;

	orc_effects_init(&fx);
	ck_assert_int_eq(orc_saga_from_rows(&saga, def, &row, &step, 1, &err),
			 ORC_OK);
	ck_assert_int_eq(orc_engine_apply(&saga, &in, 5000, &fx, &err),
			 ORC_INVALID);
	ck_assert_str_eq(err.message, "invalid step transition");
	ck_assert_str_eq(err.detail, "saga " SAGA_ID ": step d: skipped -> "
				     "succeeded");
	ck_assert_int_eq(saga.steps[1].status, ORC_STEP_SKIPPED);
	orc_saga_finish(&saga);
	orc_saga_finish(&saga); /* twice is fine */

	/* a completed saga whose step is still compensating */
	row.status = "completed";
	row.wake_ms = 0;
	step = (struct orc_step_row){.name = "x", .status = "compensating",
				     .wake_reason = "none"};
	ck_assert_int_eq(orc_saga_from_rows(&saga, def, &row, &step, 1, &err),
			 ORC_OK);
	in = (struct orc_engine_input){
		.kind = ORC_INPUT_REPLY, .step = "x", .type = "x.undone"};
	/* not awaited in a completed saga: just late */
	ck_assert_int_eq(orc_engine_apply(&saga, &in, 1, &fx, &err), ORC_OK);
	ck_assert_int_eq(fx.ignore_reason, ORC_IGNORE_LATE);
	orc_saga_finish(&saga);

	/* a stuck saga with nothing compensating: retry picks the next */
	row.status = "stuck";
	row.cause = "failure";
	step = (struct orc_step_row){.name = "x", .status = "succeeded",
				     .wake_reason = "none", .attempt = 1,
				     .completed_seq = 1};
	ck_assert_int_eq(orc_saga_from_rows(&saga, def, &row, &step, 1, &err),
			 ORC_OK);
	in = (struct orc_engine_input){.kind = ORC_INPUT_RETRY};
	ck_assert_int_eq(orc_engine_apply(&saga, &in, 1, &fx, &err), ORC_OK);
	ck_assert_int_eq(saga.steps[4].status, ORC_STEP_COMPENSATING);
	orc_saga_finish(&saga);

	orc_effects_finish(&fx);
	json_decref(ctx);
	orc_definition_destroy(def);
}
END_TEST

START_TEST(test_rows_reject)
{
	struct orc_definition *def = orc_et_def(def_seq);
	json_t *ctx = orc_et_json("{'input':{'n':1}}");
	json_t *bad = orc_et_json("[1, 2]");
	json_t *out = orc_et_json("{'ref':'r-1'}");
	struct orc_saga_row row = {.id = SAGA_ID, .key = "k1",
				   .status = "running", .cause = "none",
				   .context = ctx};
	struct orc_step_row step = {.name = "a", .status = "running",
				    .wake_reason = "none"};
	struct orc_saga saga;
	struct orc_error err;

	row.status = "walking";
	ck_assert_int_eq(orc_saga_from_rows(&saga, def, &row, NULL, 0, &err),
			 ORC_INVALID);
	ck_assert_ptr_null(saga.steps);
	row.status = "running";
	row.context = bad;
	ck_assert_int_eq(orc_saga_from_rows(&saga, def, &row, NULL, 0, &err),
			 ORC_INVALID);
	row.context = ctx;
	row.id = NULL;
	ck_assert_int_eq(orc_saga_from_rows(&saga, def, &row, NULL, 0, &err),
			 ORC_INVALID);
	row.id = SAGA_ID;
	step.name = "zz";
	ck_assert_int_eq(orc_saga_from_rows(&saga, def, &row, &step, 1, &err),
			 ORC_INVALID);
	ck_assert_str_eq(err.message, "saga " SAGA_ID ": unknown step \"zz\"");
	step.name = "a";
	step.wake_reason = "sometime";
	ck_assert_int_eq(orc_saga_from_rows(&saga, def, &row, &step, 1, &err),
			 ORC_INVALID);
	step.wake_reason = "none";
	ck_assert_int_eq(orc_saga_from_rows(&saga, def, &row, &step, 1, &err),
			 ORC_OK);
	ck_assert_int_eq(saga.steps[0].status, ORC_STEP_RUNNING);
	ck_assert_int_eq(saga.steps[1].status, ORC_STEP_PENDING);
	orc_saga_finish(&saga);

	/* the context: the row's, the steps' outputs, the columns */
	step.status = "succeeded";
	step.output = out;
	ck_assert_int_eq(orc_saga_from_rows(&saga, def, &row, &step, 1, &err),
			 ORC_OK);
	ck_assert_str_eq(json_string_value(orc_jsonp_get(saga.context,
							 "/steps/a/ref")),
			 "r-1");
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(saga.context,
							  "/input/n")),
			 1);
	ck_assert_str_eq(json_string_value(orc_jsonp_get(saga.context,
							 "/saga/key")),
			 "k1");
	ck_assert_int_eq(json_object_size(saga.context), 3);
	orc_saga_finish(&saga);
	json_decref(out);
	json_decref(ctx);
	json_decref(bad);
	orc_definition_destroy(def);
}
END_TEST


/* ---- rows, copies, determinism ---- */

/* Write the saga as rows (JSON as text, like a database), read it back. */
static void
reload(struct orc_et_rig *r)
{
	char *why = orc_et_reload(&r->saga);

	ck_assert_msg(why == NULL, "%s", why);
}

/*
 * A reply the step took before is a redelivery: no effect at all, even
 * after a retry made the step run again, and after the saga went through
 * its rows.  The step remembers at most ORC_STEP_REPLIES_MAX ids.
 */
START_TEST(test_reply_redelivery_by_step)
{
	struct orc_et_rig r;
	char cmd[64];

	rig_init(&r, orc_et_def(def_seq));
	orc_et_script(&r, "start");
	orc_et_expect(&r, "replyid f1 a a.flaky", "h:step.retry_scheduled");
	orc_et_expect(&r, "replyid f1 a a.flaky", "");
	ck_assert_int_eq(r.fx.result, ORC_RESULT_DUPLICATE);
	orc_et_expect(&r, "wake", "h:step.started cmd:a/action/2");
	reload(&r);
	/* attempt 1's failure again, while attempt 2 runs: not its failure */
	orc_et_expect(&r, "replyid f1 a a.flaky", "");
	ck_assert_int_eq(r.fx.result, ORC_RESULT_DUPLICATE);
	ck_assert_int_eq(r.saga.steps[0].status, ORC_STEP_RUNNING);
	orc_et_expect(&r, "replyid s1 a a.ok {'r':1}",
		      "h:step.succeeded h:step.started cmd:b/action/1");
	orc_et_expect(&r, "replyid s1 a a.ok {'r':1}", "");
	/* another instance's answer: ignored once, then a redelivery */
	orc_et_expect(&r, "replyid s2 a a.ok", "h:reply.ignored(duplicate)");
	orc_et_expect(&r, "replyid s2 a a.ok", "");
	ck_assert_int_eq(r.fx.result, ORC_RESULT_DUPLICATE);
	for (int i = 0; i < 2 * ORC_STEP_REPLIES_MAX; i++) {
		snprintf(cmd, sizeof(cmd), "replyid x%d a a.ok", i);
		orc_et_expect(&r, cmd, "h:reply.ignored(duplicate)");
	}
	ck_assert_uint_eq(json_array_size(r.saga.steps[0].replies),
			  ORC_STEP_REPLIES_MAX);
	/* the oldest are forgotten, the newest kept */
	orc_et_expect(&r, "replyid f1 a a.flaky", "h:reply.ignored(late)");
	snprintf(cmd, sizeof(cmd), "replyid x%d a a.ok",
		 2 * ORC_STEP_REPLIES_MAX - 1);
	orc_et_expect(&r, cmd, "");
	orc_et_rig_finish(&r);
}
END_TEST

static const char *const long_run[] = {
	"start",
	"reply a a.flaky",
	"wake",
	"reply a a.ok {'r':5}",
	"reply b b.ok",
	"reply c c.bad",
	"reply b b.stuck",
	"wake",
	"wake",
	"retry",
	"reply b b.undone",
	"reply a a.stuck",
	"wake",
	"reply a a.undone",
};

START_TEST(test_rows_round_trip)
{
	struct orc_et_rig a, b;
	char *la, *lb;

	rig_init(&a, orc_et_def(def_seq));
	rig_init(&b, orc_et_def(def_seq));
	for (size_t k = 0; k < COUNT(long_run); k++) {
		orc_et_script(&a, long_run[k]);
		orc_et_script(&b, long_run[k]);
		reload(&b);
	}
	ck_assert_str_eq(orc_saga_status_name(b.saga.status), "compensated");
	la = orc_et_dump(a.log);
	lb = orc_et_dump(b.log);
	ck_assert_str_eq(la, lb);
	free(la);
	free(lb);
	orc_et_rig_finish(&a);
	orc_et_rig_finish(&b);
}
END_TEST

/* The open steps of a saga's row: what goes there and what comes back. */
static char *
open_text(const struct orc_saga *saga)
{
	struct orc_strbuf sb;

	orc_strbuf_init(&sb);
	orc_saga_open_steps_put(saga, &sb);
	ck_assert(!sb.oom);
	return orc_strbuf_take(&sb);
}

/* orc_saga_from_rows() of row with open steps text (single quotes). */
static enum orc_status
from_open(struct orc_saga *saga, const struct orc_definition *def,
	  struct orc_saga_row *row, const struct orc_step_row *steps,
	  size_t n, const char *open, struct orc_error *err)
{
	enum orc_status st;

	row->open_steps = orc_et_json(open);
	st = orc_saga_from_rows(saga, def, row, steps, n, err);
	json_decref(row->open_steps);
	row->open_steps = NULL;
	return st;
}

START_TEST(test_rows_open_steps)
{
	struct orc_et_rig r;
	struct orc_saga saga;
	struct orc_error err;
	struct orc_step_row row_a = {.name = "a", .status = "succeeded",
				     .wake_reason = "none", .attempt = 1};
	json_t *ctx = orc_et_json("{'input':{}}");
	struct orc_saga_row row = {.id = SAGA_ID, .key = "k1",
				   .status = "running", .cause = "none",
				   .context = ctx};
	char *text;

	/* a running step without a row of its own is open */
	rig_init(&r, orc_et_def(def_seq));
	orc_et_script(&r, "start");
	ck_assert(orc_saga_step_open(&r.saga, 0));
	ck_assert(!orc_saga_step_open(&r.saga, 1)); /* pending */
	text = open_text(&r.saga);
	ck_assert_ptr_nonnull(strstr(text, "[{\"step\":\"a\",\"attempt\":1,"));
	ck_assert_ptr_null(strstr(text, "status")); /* running goes unsaid */
	ck_assert_ptr_nonnull(strstr(text, "\"wake_reason\":\"timeout\""));
	free(text);
	reload(&r); /* through the open steps: nothing lost */
	ck_assert(!r.saga.steps[0].has_row);
	ck_assert_int_eq(r.saga.steps[0].attempt, 1);

	/* a retry keeps it open, with its error */
	orc_et_script(&r, "reply a a.flaky");
	orc_et_script(&r, "wake");
	ck_assert(orc_saga_step_open(&r.saga, 0));
	text = open_text(&r.saga);
	ck_assert_ptr_nonnull(strstr(text, "\"attempt\":2"));
	ck_assert_ptr_nonnull(strstr(text, "\"last_error\":"));
	free(text);
	reload(&r);

	/* settled, it gets its row; the next step is open */
	orc_et_script(&r, "reply a a.ok {'r':5}");
	ck_assert(!orc_saga_step_open(&r.saga, 0));
	ck_assert(orc_saga_step_open(&r.saga, 1));
	reload(&r);
	ck_assert(r.saga.steps[0].has_row);
	ck_assert(!r.saga.steps[1].has_row);

	/* an open step wins over a row of the same name, which it keeps */
	ck_assert_int_eq(from_open(&saga, r.def, &row, &row_a, 1,
				   "[{'step':'a','status':'running',"
				   "'attempt':2,'wake_ms':7,'replies':['s 1']}]",
				   &err),
			 ORC_OK);
	ck_assert_int_eq(saga.steps[0].status, ORC_STEP_RUNNING);
	ck_assert_int_eq(saga.steps[0].attempt, 2);
	ck_assert_int_eq(saga.steps[0].wake_ms, 7);
	ck_assert_int_eq(json_array_size(saga.steps[0].replies), 1);
	ck_assert(saga.steps[0].has_row);
	text = open_text(&saga);
	ck_assert_str_eq(text, "");
	free(text);
	ck_assert(!orc_saga_step_open(&saga, 0)); /* stays in its row */
	orc_saga_finish(&saga);

	/* what a damaged saga row may hold is refused with its place */
	static const struct {
		const char *open, *message;
	} bad[] = {
		{"{}", "saga " SAGA_ID ": open_steps is not an array"},
		{"[1]", "saga " SAGA_ID ": open_steps/0: missing, or of the "
			"wrong type or range"},
		{"[{'status':'running'}]",
		 "saga " SAGA_ID ": open_steps/0/step: missing, or of the "
		 "wrong type or range"},
		{"[{'step':'a','status':null}]",
		 "saga " SAGA_ID ": open_steps/0/status: missing, or of the "
		 "wrong type or range"},
		{"[{'step':'b','status':'running'},{'step':'a','status':1}]",
		 "saga " SAGA_ID ": open_steps/1/status: missing, or of the "
		 "wrong type or range"},
		{"[{'step':'a','status':'running','attempt':-1}]",
		 "saga " SAGA_ID ": open_steps/0/attempt: missing, or of the "
		 "wrong type or range"},
		{"[{'step':'a','status':'running','attempt':2147483648}]",
		 "saga " SAGA_ID ": open_steps/0/attempt: missing, or of the "
		 "wrong type or range"},
		{"[{'step':'a','status':'running','wake_ms':'soon'}]",
		 "saga " SAGA_ID ": open_steps/0/wake_ms: missing, or of the "
		 "wrong type or range"},
		{"[{'step':'zz','status':'running'}]",
		 "saga " SAGA_ID ": unknown step \"zz\""},
		{"[{'step':'a','status':'walking'}]",
		 "saga " SAGA_ID ": step a: bad status or wake reason"},
		{"[{'step':'a','status':'running','replies':3}]",
		 "saga " SAGA_ID ": step a: replies is not an array"},
	};
	for (size_t k = 0; k < COUNT(bad); k++) {
		ck_assert_int_eq(from_open(&saga, r.def, &row, NULL, 0,
					   bad[k].open, &err),
				 ORC_INVALID);
		ck_assert_str_eq(err.message, bad[k].message);
		ck_assert_ptr_null(saga.steps);
	}
	json_decref(ctx);
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_determinism)
{
	struct orc_et_rig a, b;
	char *la, *lb;

	rig_init(&a, orc_et_def(def_seq));
	rig_init(&b, orc_et_def(def_seq));
	for (size_t k = 0; k < COUNT(long_run); k++) {
		struct orc_et_rig c;
		char *before, *after;

		/* a copy taken before the input replays it identically */
		orc_et_rig_copy(&c, &a);
		before = orc_et_state_text(&c.saga);

		orc_et_script(&a, long_run[k]);
		orc_et_script(&b, long_run[k]);
		orc_et_script(&c, long_run[k]);
		orc_et_expect_replayed(&a, k, &c);
		after = orc_et_state_text(&a.saga);
		ck_assert_str_ne(before, after);
		free(before);
		free(after);
		orc_et_rig_finish(&c);
	}
	la = orc_et_dump(a.log);
	lb = orc_et_dump(b.log);
	ck_assert_str_eq(la, lb);
	free(la);
	free(lb);
	orc_et_rig_finish(&a);
	orc_et_rig_finish(&b);
}
END_TEST

/* A copy is independent: changing one leaves the other as it was. */
START_TEST(test_copy_is_independent)
{
	struct orc_et_rig r;
	struct orc_saga snap;
	char *before, *after;

	rig_init(&r, orc_et_def(def_seq));
	orc_et_script(&r, "start; reply a a.ok {'r':1}");
	ck_assert_int_eq(orc_saga_copy(&snap, &r.saga), ORC_OK);
	before = orc_et_state_text(&snap);
	orc_et_script(&r, "reply b b.ok {'q':2}; reply c c.ok");
	after = orc_et_state_text(&snap);
	ck_assert_str_eq(before, after);
	ck_assert_ptr_null(orc_jsonp_get(snap.context, "/steps/b"));
	ck_assert_ptr_nonnull(orc_jsonp_get(r.saga.context, "/steps/b"));
	free(before);
	free(after);
	orc_saga_finish(&snap);
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_changed_flags_and_wake)
{
	struct orc_et_rig r;

	rig_init(&r, orc_et_def(def_seq));
	orc_et_script(&r, "start");
	ck_assert(r.saga.steps[0].changed);
	ck_assert(!r.saga.steps[1].changed);
	ck_assert(r.fx.wake_changed);
	ck_assert_int_eq(r.fx.wake_ms, 10000); /* a's timeout before 1h */
	r.saga.steps[0].changed = false;
	orc_et_script(&r, "reply zz zz");
	ck_assert_int_eq(r.fx.result, ORC_RESULT_IGNORED);
	ck_assert(!r.fx.wake_changed);
	ck_assert(!r.saga.steps[0].changed);
	orc_et_script(&r, "at 500; reply a a.ok");
	ck_assert(r.saga.steps[0].changed && r.saga.steps[1].changed);
	ck_assert_int_eq(r.fx.wake_ms, 10500);
	ck_assert_int_eq(r.saga.wake_ms, 10500);
	ck_assert_int_eq(r.saga.steps[0].completed_seq, 1);
	ck_assert_int_eq(r.saga.steps[0].finished_ms, 500);
	orc_et_script(&r, "reply b b.ok; reply c c.ok");
	ck_assert_int_eq(r.fx.wake_ms, 0);
	ck_assert(r.fx.wake_changed);
	orc_et_rig_finish(&r);
}
END_TEST

/* ---- the order saga, end to end ---- */

#define SMALL                                                                  \
	"{'order_id':'o-1','customer_id':'c-9','total':50,'currency':'EUR',"   \
	"'items':[{'sku':'s1','qty':2}],"                                      \
	"'shipping_address':{'country':'NL','city':'Delft'}}"
#define BIG                                                                    \
	"{'order_id':'o-1','customer_id':'c-9','total':5000,'currency':'EUR'," \
	"'items':[{'sku':'s1','qty':2}],"                                      \
	"'shipping_address':{'country':'NL','city':'Delft'}}"

static const struct orc_effect *
command_effect(struct orc_et_rig *r, const char *step)
{
	for (size_t i = 0; i < r->fx.n; i++)
		if (r->fx.v[i].kind == ORC_EFFECT_COMMAND &&
		    strcmp(r->fx.v[i].step_name, step) == 0)
			return &r->fx.v[i];
	ck_abort_msg("no command for %s", step);
	return NULL;
}

static const json_t *last_event_data(struct orc_et_rig *r);

static const json_t *
ctx_at(struct orc_et_rig *r, const char *ptr)
{
	return orc_jsonp_get(r->saga.context, ptr);
}

START_TEST(test_order_happy_path)
{
	struct orc_et_rig r;
	const struct orc_effect *e;

	rig_init(&r, def_order());
	orc_et_expect(&r, "start " SMALL,
		      "h:saga.started ev:running h:step.started "
		      "cmd:reserve_inventory/action/1");
	ck_assert_str_eq(r.saga.key, "o-1");
	ck_assert_int_eq(r.saga.deadline_ms, 2 * 86400000LL);
	e = command_effect(&r, "reserve_inventory");
	ck_assert_str_eq(e->topic, "inventory.commands");
	ck_assert_str_eq(e->type, "inventory.reserve");
	ck_assert_str_eq(e->message_id, SAGA_ID "/reserve_inventory/action/1");
	orc_et_expect_json(e->data,
			   "{'order_id':'o-1','items':[{'sku':'s1','qty':2}],"
			   "'warehouse':'NL'}");
	ck_assert_int_eq(r.fx.wake_ms, 10000);
	orc_et_expect_json(ctx_at(&r, "/saga"),
			   "{'id':'" SAGA_ID
			   "','key':'o-1','name':'order_fulfillment',"
			   "'version':1}");

	/* charge and notify start together */
	r.now = 1000;
	orc_et_expect(
		&r,
		"reply reserve_inventory inventory.reserved "
		"{'reservation_id':'r-1'}",
		"h:step.succeeded h:step.started cmd:charge_payment/action/1 "
		"h:step.started cmd:notify_customer/action/1");
	orc_et_expect_json(command_effect(&r, "charge_payment")->data,
			   "{'order_id':'o-1','customer_id':'c-9','amount':50,"
			   "'currency':'EUR','reservation_id':'r-1',"
			   "'statement':'Order o-1'}");
	orc_et_expect_json(command_effect(&r, "notify_customer")->data,
			   "{'customer_id':'c-9','template':'order_confirmed',"
			   "'subject':'Your order o-1 is confirmed',"
			   "'items':[{'sku':'s1','qty':2}]}");

	/* a small order skips the review; ship still needs notify */
	r.now = 2000;
	orc_et_expect(
		&r, "reply charge_payment payment.charged {'payment_id':'p-1'}",
		"h:step.succeeded h:step.skipped");
	r.now = 3000;
	orc_et_expect(&r, "reply notify_customer notification.sent",
		      "h:step.succeeded h:step.started cmd:ship/action/1");
	orc_et_expect_json(
		command_effect(&r, "ship")->data,
		"{'order_id':'o-1','reservation_id':'r-1','payment_id':'p-1',"
		"'address':{'country':'NL','city':'Delft'}}");
	ck_assert_int_eq(r.fx.wake_ms, 63000);
	r.now = 4000;
	orc_et_expect(&r, "reply ship shipping.scheduled {'tracking':'t-1'}",
		      "h:step.succeeded h:saga.completed ev:completed");
	ck_assert_int_eq(r.saga.status, ORC_SAGA_COMPLETED);
	ck_assert_int_eq(r.fx.wake_ms, 0);
	ck_assert_str_eq(orc_et_steps(&r),
			 "reserve_inventory=succeeded charge_payment=succeeded "
			 "notify_customer=succeeded manual_review=skipped "
			 "ship=succeeded");
	ck_assert_int_eq(r.saga.steps[0].completed_seq, 1);
	ck_assert_int_eq(r.saga.steps[1].completed_seq, 2);
	ck_assert_int_eq(r.saga.steps[2].completed_seq, 3);
	ck_assert_int_eq(r.saga.steps[3].completed_seq, 0);
	ck_assert_int_eq(r.saga.steps[4].completed_seq, 4);
	orc_et_expect_json(ctx_at(&r, "/steps"),
			   "{'reserve_inventory':{'reservation_id':'r-1'},"
			   "'charge_payment':{'payment_id':'p-1'},"
			   "'notify_customer':null,'ship':{'tracking':'t-1'}}");
	/* the last history entry carries the reply */
	orc_et_expect_json(
		r.fx.v[0].detail,
		"{'seq':4,'type':'shipping.scheduled','event_id':'reply-1',"
		"'attempt':1}");
	/* the output: the skipped review's reply is null */
	orc_et_expect_json(
		r.saga.output,
		"{'order_id':'o-1','payment_id':'p-1','tracking':'t-1',"
		"'reviewed_by':null}");
	orc_et_expect_json(
		orc_jsonp_get(last_event_data(&r), "/output"),
		"{'order_id':'o-1','payment_id':'p-1','tracking':'t-1',"
		"'reviewed_by':null}");
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_order_review_early_event)
{
	struct orc_et_rig r;

	rig_init(&r, def_order());
	orc_et_script(&r, "start " BIG);
	orc_et_expect(&r,
		      "event reviews.events review.approved {'order_id':'o-2'}",
		      "h:event.ignored(no_match)");
	orc_et_expect(&r,
		      "event reviews.events review.approved "
		      "{'order_id':'o-1','by':'ann'}",
		      "h:step.event_stored");
	orc_et_script(&r, "reply reserve_inventory inventory.reserved "
			  "{'reservation_id':'r-1'}");
	/* the review starts and takes the stored event at once */
	orc_et_expect(
		&r, "reply charge_payment payment.charged {'payment_id':'p-1'}",
		"h:step.succeeded h:step.started h:step.succeeded");
	ck_assert_ptr_null(r.saga.steps[3].early_event);
	orc_et_expect_json(ctx_at(&r, "/steps/manual_review"),
			   "{'order_id':'o-1','by':'ann'}");
	orc_et_expect(&r, "reply notify_customer notification.sent",
		      "h:step.succeeded h:step.started cmd:ship/action/1");
	orc_et_expect(&r, "reply ship shipping.scheduled",
		      "h:step.succeeded h:saga.completed ev:completed");
	orc_et_rig_finish(&r);
}

END_TEST

START_TEST(test_order_review_event)
{
	struct orc_et_rig r;

	rig_init(&r, def_order());
	orc_et_script(&r, "start " BIG
			  "; reply reserve_inventory inventory.reserved;"
			  "reply charge_payment payment.charged");
	ck_assert_int_eq(r.saga.steps[3].status, ORC_STEP_RUNNING);
	ck_assert_int_eq(r.saga.steps[3].wake_reason, ORC_WAKE_WAIT_TIMEOUT);
	ck_assert_int_eq(r.saga.steps[3].wake_ms, 86400000LL);
	orc_et_expect(&r,
		      "event reviews.events review.approved {'order_id':'o-1'}",
		      "h:step.succeeded");
	orc_et_expect(&r,
		      "event reviews.events review.approved {'order_id':'o-1'}",
		      "h:event.ignored(duplicate)");
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_order_failure_compensates_in_reverse)
{
	struct orc_et_rig r;

	rig_init(&r, def_order());
	orc_et_script(
		&r, "start " BIG "; at 1000;"
		    "reply reserve_inventory inventory.reserved "
		    "{'reservation_id':'r-1'}; at 2000;"
		    "reply charge_payment payment.charged {'payment_id':'p-1'};"
		    "at 3000; reply notify_customer notification.sent");
	/* the review times out a day later and fails the saga */
	orc_et_expect(
		&r, "wake",
		"h:step.timed_out h:step.failed h:saga.compensating "
		"h:compensation.started cmd:charge_payment/compensation/1");
	ck_assert_int_eq(r.now, 2000 + 86400000LL);
	ck_assert_str_eq(r.saga.failure_reason, "manual_review: timed out");
	ck_assert_int_eq(r.saga.cause, ORC_CAUSE_FAILURE);
	orc_et_expect_json(command_effect(&r, "charge_payment")->data,
			   "{'payment_id':'p-1','amount':5000,'currency':'EUR',"
			   "'reason':'saga " SAGA_ID " failed'}");
	ck_assert_str_eq(command_effect(&r, "charge_payment")->type,
			 "payment.refund");
	ck_assert_str_eq(command_effect(&r, "charge_payment")->message_id,
			 SAGA_ID "/charge_payment/compensation/1");
	orc_et_expect(&r, "reply charge_payment payment.refunded",
		      "h:compensation.succeeded h:compensation.started "
		      "cmd:reserve_inventory/compensation/1");
	orc_et_expect_json(command_effect(&r, "reserve_inventory")->data,
			   "{'order_id':'o-1','reservation_id':'r-1'}");
	orc_et_expect(
		&r, "reply reserve_inventory inventory.released",
		"h:compensation.succeeded h:saga.compensated ev:compensated");
	ck_assert_str_eq(orc_et_steps(&r),
			 "reserve_inventory=compensated "
			 "charge_payment=compensated "
			 "notify_customer=succeeded manual_review=failed "
			 "ship=pending");
	ck_assert_str_eq(r.saga.steps[3].last_error, "timed out");
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_order_decline_awaits_parallel_step)
{
	struct orc_et_rig r;

	rig_init(&r, def_order());
	orc_et_script(&r, "start " SMALL "; reply reserve_inventory "
			  "inventory.reserved {'reservation_id':'r-1'}");
	orc_et_expect(&r, "reply charge_payment payment.declined {'code':51}",
		      "h:step.failed h:saga.compensating");
	ck_assert_str_eq(r.saga.failure_reason,
			 "charge_payment: payment.declined");
	/* notify is awaited: it has a command in flight */
	ck_assert_int_eq(r.saga.steps[2].status, ORC_STEP_RUNNING);
	orc_et_expect(&r, "reply notify_customer notification.sent",
		      "h:step.succeeded h:compensation.started "
		      "cmd:reserve_inventory/compensation/1");
	orc_et_expect(
		&r, "reply reserve_inventory inventory.released",
		"h:compensation.succeeded h:saga.compensated ev:compensated");
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_order_cancel_compensates_late_success_first)
{
	struct orc_et_rig r;

	rig_init(&r, def_order());
	orc_et_script(&r, "start " SMALL "; reply reserve_inventory "
			  "inventory.reserved {'reservation_id':'r-1'}");
	orc_et_expect(&r, "cancel", "h:operator.cancel h:saga.compensating");
	ck_assert_str_eq(r.saga.failure_reason, "cancelled: test");
	orc_et_expect(
		&r, "reply charge_payment payment.charged {'payment_id':'p-1'}",
		"h:step.succeeded");
	orc_et_expect(&r, "reply notify_customer notification.sent",
		      "h:step.succeeded h:compensation.started "
		      "cmd:charge_payment/compensation/1");
	orc_et_expect(&r, "reply charge_payment payment.refunded",
		      "h:compensation.succeeded h:compensation.started "
		      "cmd:reserve_inventory/compensation/1");
	orc_et_expect(&r, "reply reserve_inventory inventory.released",
		      "h:compensation.succeeded h:saga.cancelled ev:cancelled");
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_order_timeout_retry_success)
{
	struct orc_et_rig r;

	rig_init(&r, def_order());
	orc_et_script(&r, "start " SMALL);
	orc_et_expect(&r, "wake", "h:step.timed_out h:step.retry_scheduled");
	ck_assert_int_eq(r.now, 10000);
	ck_assert_int_eq(r.saga.wake_ms, 10500); /* backoff 500ms */
	orc_et_expect(&r, "wake",
		      "h:step.started cmd:reserve_inventory/action/2");
	ck_assert_str_eq(command_effect(&r, "reserve_inventory")->message_id,
			 SAGA_ID "/reserve_inventory/action/2");
	ck_assert_int_eq(r.saga.wake_ms, 20500);
	orc_et_expect(&r, "wake", "h:step.timed_out h:step.retry_scheduled");
	ck_assert_int_eq(r.saga.wake_ms, 21500); /* 500ms x 2 */
	orc_et_expect(&r, "wake",
		      "h:step.started cmd:reserve_inventory/action/3");
	orc_et_expect(
		&r, "reply reserve_inventory inventory.reserved",
		"h:step.succeeded h:step.started cmd:charge_payment/action/1 "
		"h:step.started cmd:notify_customer/action/1");
	ck_assert_int_eq(r.saga.steps[0].attempt, 3);
	ck_assert_str_eq(r.saga.steps[0].last_error, "timed out");
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_order_retries_exhausted)
{
	static const int64_t backoffs[] = {1000, 2000, 4000, 8000};
	struct orc_et_rig r;
	char want[128];

	rig_init(&r, def_order());
	orc_et_script(
		&r,
		"start " SMALL "; reply reserve_inventory "
		"inventory.reserved {'reservation_id':'r-1'};"
		"reply charge_payment payment.charged {'payment_id':'p-1'}");
	for (int k = 0; k < 4; k++) {
		int64_t before = r.saga.wake_ms;

		orc_et_expect(&r, "wake",
			      "h:step.timed_out h:step.retry_scheduled");
		ck_assert_int_eq(r.saga.wake_ms - before, backoffs[k]);
		snprintf(want, sizeof(want),
			 "h:step.started cmd:notify_customer/action/%d", k + 2);
		orc_et_expect(&r, "wake", want);
	}
	orc_et_expect(
		&r, "wake",
		"h:step.timed_out h:step.failed h:saga.compensating "
		"h:compensation.started cmd:charge_payment/compensation/1");
	ck_assert_str_eq(r.saga.failure_reason, "notify_customer: timed out");
	orc_et_script(&r, "reply charge_payment payment.refunded;"
			  "reply reserve_inventory inventory.released");
	ck_assert_int_eq(r.saga.status, ORC_SAGA_COMPENSATED);
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_order_saga_timeout)
{
	json_error_t jerr;
	json_t *body = json_load_file(
		ORC_SOURCE_DIR "/schemas/examples/order_fulfillment.json", 0,
		&jerr);
	struct orc_et_rig r;

	ck_assert_ptr_nonnull(body);
	json_object_set_new(body, "timeout", json_string("1h"));
	rig_init(&r, orc_et_def_json(body));
	json_decref(body);
	orc_et_script(
		&r, "start " BIG "; reply reserve_inventory inventory.reserved "
		    "{'reservation_id':'r-1'};"
		    "reply charge_payment payment.charged {'payment_id':'p-1'};"
		    "reply notify_customer notification.sent");
	ck_assert_int_eq(r.saga.wake_ms, 3600000);
	orc_et_expect(
		&r, "wake",
		"h:saga.compensating h:step.aborted h:compensation.started "
		"cmd:charge_payment/compensation/1");
	ck_assert_str_eq(r.saga.failure_reason, "saga timed out");
	ck_assert_str_eq(r.saga.steps[3].last_error, "aborted");
	orc_et_script(&r, "reply charge_payment payment.refunded");
	orc_et_expect(&r, "reply reserve_inventory inventory.released",
		      "h:compensation.succeeded h:saga.timed_out ev:timed_out");
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_order_odd_replies)
{
	struct orc_et_rig r;
	const struct orc_effect *e;

	rig_init(&r, def_order());
	orc_et_script(&r, "start " SMALL "; reply reserve_inventory "
			  "inventory.reserved {'reservation_id':'r-1'}");
	orc_et_expect(&r, "reply reserve_inventory inventory.reserved",
		      "h:reply.ignored(duplicate)");
	orc_et_expect(&r, "reply reserve_inventory inventory.unavailable",
		      "h:reply.ignored(late)");
	orc_et_expect(&r, "reply ship shipping.scheduled",
		      "h:reply.ignored(late)");
	orc_et_expect(&r, "reply charge_payment inventory.reserved",
		      "h:reply.ignored(unexpected_type)");
	orc_et_expect(&r, "reply manual_review review.approved",
		      "h:reply.ignored(unexpected_type)");
	orc_et_expect(&r, "reply warehouse x.y",
		      "h:reply.ignored(unknown_step)");
	e = &r.fx.v[0];
	ck_assert_ptr_null(e->step_name);
	ck_assert_int_eq(r.fx.result, ORC_RESULT_IGNORED);
	ck_assert_int_eq(r.fx.ignore_reason, ORC_IGNORE_UNKNOWN_STEP);
	orc_et_expect_json(e->detail,
			   "{'reason':'unknown_step','step':'warehouse',"
			   "'type':'x.y','event_id':'reply-1'}");
	/* nothing changed: the same two steps run */
	ck_assert_str_eq(orc_et_steps(&r),
			 "reserve_inventory=succeeded charge_payment=running "
			 "notify_customer=running manual_review=pending "
			 "ship=pending");
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_stuck_retry_compensated)
{
	struct orc_et_rig r;

	rig_init(&r, orc_et_def(def_seq));
	orc_et_script(&r, S_SEQ_COMP "; wake; wake");
	orc_et_expect(
		&r, "wake",
		"h:compensation.timed_out h:compensation.failed h:saga.stuck "
		"ev:stuck");
	ck_assert_str_eq(r.saga.failure_reason,
			 "compensation of b failed: timed out (2 attempts)");
	ck_assert_int_eq(r.saga.wake_ms, 0);
	orc_et_expect(&r, "retry",
		      "h:operator.retry h:saga.retried h:compensation.started "
		      "cmd:b/compensation/3");
	ck_assert_int_eq(r.saga.steps[1].comp_attempt_base, 2);
	orc_et_expect(&r, "reply b b.undone",
		      "h:compensation.succeeded h:compensation.started "
		      "cmd:a/compensation/1");
	orc_et_expect_json(command_effect(&r, "a")->data, "{'r':7}");
	/* a's compensation fails twice: stuck again */
	orc_et_expect(&r, "reply a a.stuck", "h:compensation.retry_scheduled");
	orc_et_expect(&r, "wake",
		      "h:compensation.started cmd:a/compensation/2");
	orc_et_expect(&r, "reply a a.stuck",
		      "h:compensation.failed h:saga.stuck ev:stuck");
	orc_et_expect(&r, "retry",
		      "h:operator.retry h:saga.retried h:compensation.started "
		      "cmd:a/compensation/3");
	orc_et_expect(
		&r, "reply a a.undone",
		"h:compensation.succeeded h:saga.compensated ev:compensated");
	orc_et_rig_finish(&r);
}
END_TEST

START_TEST(test_retry_failed_saga_renews_deadline)
{
	struct orc_et_rig r;

	rig_init(&r, orc_et_def(def_seq));
	orc_et_script(&r, "start; at 1000; reply a a.bad");
	ck_assert_int_eq(r.saga.status, ORC_SAGA_FAILED);
	ck_assert_str_eq(r.saga.failure_reason, "a: a.bad");
	ck_assert_int_eq(r.saga.wake_ms, 0);
	r.now = 7200000;
	orc_et_expect(&r, "retry",
		      "h:operator.retry h:saga.retried h:step.started "
		      "cmd:a/action/2");
	ck_assert_int_eq(r.saga.deadline_ms, 7200000 + 3600000);
	ck_assert_ptr_null(r.saga.failure_reason);
	ck_assert_int_eq(r.saga.cause, ORC_CAUSE_NONE);
	ck_assert_int_eq(r.saga.steps[0].attempt_base, 1);
	/* the retry budget starts again: one more a.flaky is retried */
	orc_et_expect(&r, "reply a a.flaky", "h:step.retry_scheduled");
	orc_et_script(&r, "wake");
	ck_assert_str_eq(command_effect(&r, "a")->message_id,
			 SAGA_ID "/a/action/3");
	orc_et_rig_finish(&r);
}
END_TEST

/* The reason of a too-large command, in the saga, the step and history. */
START_TEST(test_command_too_large_reason)
{
	static const char reason[] =
		"command data is 69 bytes, over the limit of 1064 (setting "
		"max_command_bytes, 1024 of them kept for headers)";
	struct orc_et_rig r;
	const json_t *detail = NULL;

	rig_init(&r, orc_et_def(def_seq));
	ck_assert_int_eq(ORC_ENGINE_COMMAND_HEADROOM, 1024);
	orc_et_script(&r, LIMIT_40 "start {'id':" X60 "}");
	for (size_t i = 0; i < r.fx.n; i++) {
		ck_assert_int_ne(r.fx.v[i].kind, ORC_EFFECT_COMMAND);
		if (r.fx.v[i].kind == ORC_EFFECT_HISTORY &&
		    strcmp(r.fx.v[i].history, "step.failed") == 0)
			detail = r.fx.v[i].detail;
	}
	ck_assert_ptr_nonnull(detail);
	ck_assert_str_eq(json_string_value(json_object_get(detail, "error")),
			 reason);
	ck_assert_str_eq(r.saga.steps[0].last_error, reason);
	ck_assert_str_eq(r.saga.failure_reason + 3, reason);
	ck_assert(strncmp(r.saga.failure_reason, "a: ", 3) == 0);
	ck_assert_int_eq(r.saga.steps[0].attempt, 1);
	ck_assert_int_eq(r.saga.wake_ms, 0);
	orc_et_rig_finish(&r);
}
END_TEST

/* ---- lifecycle events and the saga's output ---- */

/* def_seq with an output that reads the input, a step and the saga. */
static const char *const def_out =
	"{'name':'out','version':3,"
	" 'trigger':{'topic':'in','type':'go','key':'/id'},"
	" 'output':{'order':'${/input/id}','r':'${/steps/a/r}',"
	"  'text':'order ${/input/id} by ${/saga/name}','none':'${/input/nope}',"
	"  'fixed':[1,true]},"
	" 'steps':["
	"  {'name':'a','command':{'topic':'ta','type':'a.do'},"
	"   'success':['a.ok'],'failure':['a.bad']},"
	"  {'name':'b','needs':['a'],'when':false,"
	"   'command':{'topic':'tb','type':'b.do'},'success':['b.ok']}]}";

/* The string at ptr in v (borrowed); fails the test when there is none. */
static const char *
str_at(const json_t *v, const char *ptr)
{
	const char *s = json_string_value(orc_jsonp_get(v, ptr));

	ck_assert_msg(s != NULL, "no string at %s", ptr);
	return s;
}

/*
 * The lifecycle events of every apply so far (from r->log), as
 * "<type>/<n>:<status>" words, and each one's checks: its id is "<saga
 * id>/<type>/<n>", its data names the saga and its status.
 */
static const char *
lifecycle_of(struct orc_et_rig *r)
{
	static char buf[1024];
	size_t len = 0, i, j;
	json_t *doc, *e;

	buf[0] = '\0';
	json_array_foreach(r->log, i, doc) {
		json_array_foreach(json_object_get(doc, "effects"), j, e) {
			const json_t *data = json_object_get(e, "data");
			const char *type, *id, *n;

			if (strcmp(str_at(e, "/kind"), "saga_event") != 0)
				continue;
			type = str_at(e, "/type");
			id = str_at(e, "/message_id");
			ck_assert(strncmp(id, SAGA_ID "/", 37) == 0);
			ck_assert(strncmp(id + 37, type, strlen(type)) == 0);
			n = id + 37 + strlen(type);
			ck_assert_int_eq(*n, '/');
			ck_assert_str_eq(str_at(data, "/id"), SAGA_ID);
			ck_assert_str_eq(str_at(data, "/definition"),
					 r->def->name);
			ck_assert_int_eq(json_integer_value(json_object_get(
						 data, "version")),
					 r->def->version);
			ck_assert_str_eq(str_at(data, "/business_key"),
					 "k1");
			ck_assert_str_eq(str_at(data, "/status"),
					 str_at(e, "/status"));
			ck_assert_uint_eq(json_object_size(data), 7);
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
						"%s%s%s:%s", len ? " " : "",
						type, n,
						str_at(e, "/status"));
			ck_assert_uint_lt(len, sizeof(buf));
		}
	}
	return buf;
}

/* The data of the last lifecycle event of the last apply (borrowed). */
static const json_t *
last_event_data(struct orc_et_rig *r)
{
	for (size_t i = r->fx.n; i-- > 0;)
		if (r->fx.v[i].kind == ORC_EFFECT_SAGA_EVENT)
			return r->fx.v[i].data;
	ck_abort_msg("no lifecycle event");
	return NULL;
}

/*
 * saga.started when it starts, then one event for each ending (or
 * getting stuck), numbered on: a retried saga that ends again has new ids.
 */
START_TEST(test_lifecycle_every_ending)
{
	static const struct {
		const char *script;
		const char *events;
	} cases[] = {
		{S_SEQ_DONE,
		 "saga.started/1:running saga.completed/2:completed"},
		{S_SEQ_COMPENSATED,
		 "saga.started/1:running saga.compensated/2:compensated"},
		{S_SEQ_FAILED, "saga.started/1:running saga.failed/2:failed"},
		{S_SEQ_CANCELLED,
		 "saga.started/1:running saga.cancelled/2:cancelled"},
		{S_SEQ_TIMED_OUT,
		 "saga.started/1:running saga.timed_out/2:timed_out"},
		{S_SEQ_STUCK, "saga.started/1:running saga.stuck/2:stuck"},
		{S_SEQ_STUCK "; cancel",
		 "saga.started/1:running saga.stuck/2:stuck "
		 "saga.cancelled/3:cancelled"},
		{S_SEQ_FAILED "; retry; reply a a.bad; retry; reply a a.ok;"
			      " reply b b.ok; reply c c.ok",
		 "saga.started/1:running saga.failed/2:failed "
		 "saga.failed/3:failed saga.completed/4:completed"},
		{S_SEQ_STUCK "; retry; wake; wake; wake",
		 "saga.started/1:running saga.stuck/2:stuck "
		 "saga.stuck/3:stuck"},
		/* the rows in between keep the count */
		{"start; reply a a.bad; reload; retry; reload; reply a a.bad",
		 "saga.started/1:running saga.failed/2:failed "
		 "saga.failed/3:failed"},
	};

	for (size_t k = 0; k < COUNT(cases); k++) {
		struct orc_et_rig r;
		char buf[512], *save = NULL;

		rig_init(&r, orc_et_def(def_seq));
		snprintf(buf, sizeof(buf), "%s", cases[k].script);
		for (char *c = strtok_r(buf, ";", &save); c != NULL;
		     c = strtok_r(NULL, ";", &save)) {
			if (strcmp(c, " reload") == 0) {
				reload(&r);
				continue;
			}
			ck_assert_msg(orc_et_command(&r, c) == ORC_OK, "%s", c);
		}
		ck_assert_msg(strcmp(lifecycle_of(&r), cases[k].events) == 0,
			      "%s:\n  got  %s\n  want %s", cases[k].script,
			      lifecycle_of(&r), cases[k].events);
		orc_et_rig_finish(&r);
	}
}
END_TEST

/* saga.started comes before the saga's first command, and its data. */
START_TEST(test_lifecycle_started_first)
{
	struct orc_et_rig r;
	const struct orc_effect *e;

	rig_init(&r, orc_et_def(def_seq));
	orc_et_expect(&r, "start",
		      "h:saga.started ev:running h:step.started "
		      "cmd:a/action/1");
	e = &r.fx.v[1];
	ck_assert_int_eq(e->kind, ORC_EFFECT_SAGA_EVENT);
	ck_assert_str_eq(e->type, "saga.started");
	ck_assert_str_eq(e->message_id, SAGA_ID "/saga.started/1");
	orc_et_expect_json(e->data, "{'id':'" SAGA_ID "','definition':'seq',"
				    "'version':1,'business_key':'k1',"
				    "'status':'running','failure':null,"
				    "'output':null}");
	ck_assert_int_eq(r.saga.lifecycle_seq, 1);
	/* an ending that carries the failure */
	orc_et_expect(
		&r, "reply a a.bad",
		"h:step.failed h:saga.compensating h:saga.failed ev:failed");
	orc_et_expect_json(last_event_data(&r),
			   "{'id':'" SAGA_ID "','definition':'seq','version':1,"
			   "'business_key':'k1','status':'failed',"
			   "'failure':'a: a.bad','output':null}");
	orc_et_rig_finish(&r);
}
END_TEST

/* The output is rendered at completion, kept, and is saga.completed's. */
START_TEST(test_output_rendered_on_completion)
{
	static const char want[] =
		"{'order':'k1','r':5,'text':'order k1 by out','none':null,"
		"'fixed':[1,true]}";
	struct orc_et_rig r;

	rig_init(&r, orc_et_def(def_out));
	ck_assert_ptr_nonnull(r.def->output);
	orc_et_script(&r, "start");
	ck_assert_ptr_null(r.saga.output);
	orc_et_expect(&r, "reply a a.ok {'r':5}",
		      "h:step.succeeded h:step.skipped h:saga.completed "
		      "ev:completed");
	orc_et_expect_json(r.saga.output, want);
	orc_et_expect_json(orc_jsonp_get(last_event_data(&r), "/output"), want);
	ck_assert_str_eq(str_at(last_event_data(&r), "/status"),
			 "completed");
	/* through the rows and back */
	reload(&r);
	orc_et_expect_json(r.saga.output, want);
	ck_assert_int_eq(r.saga.lifecycle_seq, 2);
	/* a late reply changes nothing, the output stays */
	orc_et_expect(&r, "reply a a.ok {'r':6}", "h:reply.ignored(duplicate)");
	orc_et_expect_json(r.saga.output, want);
	orc_et_rig_finish(&r);
}
END_TEST

/* No output for a saga that did not complete; none without a template. */
START_TEST(test_output_only_when_completed)
{
	struct orc_et_rig r;

	rig_init(&r, orc_et_def(def_out));
	orc_et_script(&r, "start; reply a a.bad");
	ck_assert_int_eq(r.saga.status, ORC_SAGA_FAILED);
	ck_assert_ptr_null(r.saga.output);
	ck_assert(json_is_null(orc_jsonp_get(last_event_data(&r), "/output")));
	orc_et_rig_finish(&r);

	rig_init(&r, orc_et_def(def_seq));
	ck_assert_ptr_null(r.def->output);
	orc_et_script(&r, S_SEQ_DONE);
	ck_assert_ptr_null(r.saga.output);
	orc_et_rig_finish(&r);
}
END_TEST

/*
 * An output too large for a lifecycle event: the saga completes without
 * one, and the history says why.
 */
START_TEST(test_output_too_large)
{
	struct orc_et_rig r;
	const json_t *d = NULL;

	rig_init(&r, orc_et_def(def_out));
	/* room for 100 bytes of output: 2 * 1024 are kept */
	orc_et_script(&r, "limit 2148; start");
	orc_et_expect(&r, "reply a a.ok {'r':[" X60 "," X60 "]}",
		      "h:step.succeeded h:step.skipped h:saga.output_failed "
		      "h:saga.completed ev:completed");
	ck_assert_int_eq(r.saga.status, ORC_SAGA_COMPLETED);
	ck_assert_ptr_null(r.saga.output);
	ck_assert(json_is_null(orc_jsonp_get(last_event_data(&r), "/output")));
	for (size_t i = 0; i < r.fx.n; i++)
		if (r.fx.v[i].kind == ORC_EFFECT_HISTORY &&
		    strcmp(r.fx.v[i].history, "saga.output_failed") == 0)
			d = r.fx.v[i].detail;
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(str_at(d, "/error"),
			 "output is 200 bytes, over the limit of 2148 (setting "
			 "max_command_bytes, 2048 of them kept for headers and "
			 "the event)");
	orc_et_rig_finish(&r);

	/* one that fits */
	rig_init(&r, orc_et_def(def_out));
	orc_et_script(&r, "limit 2148; start; reply a a.ok {'r':1}");
	ck_assert_ptr_nonnull(r.saga.output);
	orc_et_rig_finish(&r);
}
END_TEST

/*
 * A copy taken before an input replays it with byte-identical effects,
 * lifecycle events and their ids included, and the same output.
 */
START_TEST(test_lifecycle_replay_identical)
{
	static const char *const run[] = {
		"start", "reply a a.ok {'r':[1,2]}",
	};
	struct orc_et_rig a;

	rig_init(&a, orc_et_def(def_out));
	for (size_t k = 0; k < COUNT(run); k++) {
		struct orc_et_rig c;
		char *x;

		orc_et_rig_copy(&c, &a);
		orc_et_script(&a, run[k]);
		orc_et_script(&c, run[k]);
		orc_et_expect_replayed(&a, k, &c);
		x = orc_et_dump(json_array_get(a.log, k));
		ck_assert(strstr(x, "saga_event") != NULL);
		free(x);
		orc_et_rig_finish(&c);
	}
	ck_assert_str_eq(lifecycle_of(&a),
			 "saga.started/1:running saga.completed/2:completed");
	orc_et_rig_finish(&a);
}
END_TEST

/* ---- operator actions: what the table does not show ---- */

/* Timers and the deadline are held while paused, and survive the rows. */
START_TEST(test_pause_holds_timers)
{
	struct orc_et_rig r;
	const json_t *d;
	char *why;

	rig_init(&r, orc_et_def(def_seq));
	orc_et_script(&r, "at 1000; start");
	ck_assert_int_eq(r.saga.steps[0].wake_ms, 11000); /* a: 10 s */
	ck_assert_int_eq(r.saga.deadline_ms, 3601000);    /* 1 h */
	orc_et_script(&r, "at 4000; pause");
	ck_assert_int_eq(r.saga.paused_ms, 4000);
	ck_assert_int_eq(r.saga.wake_ms, 0);
	d = orc_et_last_detail(&r, "operator.pause");
	ck_assert_str_eq(json_string_value(json_object_get(d, "by")),
			 "ann@host");
	ck_assert_str_eq(json_string_value(json_object_get(d, "reason")),
			 "test");
	why = orc_et_reload(&r.saga);
	ck_assert_msg(why == NULL, "%s", why ? why : "");
	ck_assert_int_eq(r.saga.paused_ms, 4000);
	/* long after a's timeout: nothing fires */
	orc_et_script(&r, "at 100000; timer");
	ck_assert_str_eq(orc_et_steps(&r), "a=running b=pending c=pending");
	/* resumed after 96 s: 7 s of a's timeout were left */
	orc_et_script(&r, "resume");
	ck_assert_int_eq(json_integer_value(json_object_get(
				 orc_et_last_detail(&r, "operator.resume"),
				 "paused_ms")),
			 96000);
	ck_assert_int_eq(r.saga.paused_ms, 0);
	ck_assert_int_eq(r.saga.steps[0].wake_ms, 107000);
	ck_assert_int_eq(r.saga.deadline_ms, 3697000);
	ck_assert_int_eq(r.saga.wake_ms, 107000);
	orc_et_expect(&r, "timer", "h:timer.ignored(not_due)");
	orc_et_script(&r, "at 107000");
	orc_et_expect(&r, "timer", "h:step.timed_out h:step.retry_scheduled");
	orc_et_rig_finish(&r);
}
END_TEST

/* A merge patch on the input and on a step, with before and after */
START_TEST(test_patch_input_and_step)
{
	struct orc_et_rig r;
	const json_t *d;

	rig_init(&r, orc_et_def(def_seq));
	orc_et_script(&r, "start {'id':'k1','order':{'qty':1,'note':'x'}};"
			  " reply a a.ok {'r':7}");
	orc_et_script(&r, "patch input {'order':{'qty':2,'note':null}}");
	d = orc_et_last_detail(&r, "operator.patch");
	ck_assert_str_eq(json_string_value(json_object_get(d, "target")),
			 "input");
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(
				 json_object_get(d, "before"), "/order/qty")),
			 1);
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(
				 json_object_get(d, "after"), "/order/qty")),
			 2);
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(
				 r.saga.context, "/input/order/qty")),
			 2);
	ck_assert_ptr_null(orc_jsonp_get(r.saga.context, "/input/order/note"));
	ck_assert_str_eq(
		json_string_value(orc_jsonp_get(r.saga.context, "/input/id")),
		"k1");
	r.saga.steps[0].changed = false;
	orc_et_script(&r, "patch a {'r':8}");
	ck_assert(r.saga.steps[0].changed);
	ck_assert_int_eq(
		json_integer_value(orc_jsonp_get(r.saga.context, "/steps/a/r")),
		8);
	/* the compensation renders the patched value */
	orc_et_script(&r, "reply b b.bad");
	ck_assert_int_eq(json_integer_value(json_object_get(
				 command_effect(&r, "a")->data, "r")),
			 8);
	ck_assert_int_eq(orc_engine_apply(&r.saga,
					  &(struct orc_engine_input){
						  .kind = ORC_INPUT_PATCH,
						  .data = NULL},
					  r.now, &r.fx, &r.err),
			 ORC_INVALID);
	orc_et_rig_finish(&r);
}
END_TEST

/* retry --from: the step and its dependents rerun, with new attempt ids */
START_TEST(test_retry_from_new_attempts)
{
	struct orc_et_rig r;
	const json_t *steps;

	rig_init(&r, orc_et_def(def_seq));
	orc_et_script(&r, S_SEQ_DONE);
	orc_et_script(&r, "retry a");
	steps = json_object_get(orc_et_last_detail(&r, "operator.retry"),
				"steps");
	ck_assert_uint_eq(json_array_size(steps), 3);
	ck_assert_ptr_null(orc_jsonp_get(r.saga.context, "/steps/b"));
	ck_assert_str_eq(command_effect(&r, "a")->message_id,
			 SAGA_ID "/a/action/2");
	orc_et_script(&r, "reply a a.ok; reply b b.ok; reply c c.ok");
	ck_assert_str_eq(orc_saga_status_name(r.saga.status), "completed");
	orc_et_rig_finish(&r);
}
END_TEST

/* ---- moving a saga to another version ---- */

/* def_seq's version 2: a is a2, and d follows c. */
static const char *const def_seq_v2 =
	"{'name':'seq','version':2,'timeout':'1h',"
	" 'trigger':{'topic':'in','type':'go','key':'/id'},"
	" 'steps':["
	"  {'name':'a2','command':{'topic':'ta','type':'a.do'},"
	"   'success':['a.ok'],'failure':['a.bad'],"
	"   'compensation':{'topic':'ta','type':'a.undo',"
	"    'success':['a.undone']}},"
	"  {'name':'b','needs':['a2'],'command':{'topic':'tb','type':'b.do'},"
	"   'success':['b.ok'],'failure':['b.bad'],'timeout':'10s'},"
	"  {'name':'c','needs':['b'],'command':{'topic':'tc','type':'c.do'},"
	"   'success':['c.ok'],'failure':['c.bad']},"
	"  {'name':'d','needs':['c'],'command':{'topic':'td','type':'d.do',"
	"    'data':{'r':'${/steps/a2/r}'}},'success':['d.ok']}]}";

/* def_seq's version 3: b sends another command. */
static const char *const def_seq_v3 =
	"{'name':'seq','version':3,"
	" 'trigger':{'topic':'in','type':'go','key':'/id'},"
	" 'steps':["
	"  {'name':'a','command':{'topic':'ta','type':'a.do'},"
	"   'success':['a.ok']},"
	"  {'name':'b','needs':['a'],'command':{'topic':'tb','type':'b.new'},"
	"   'success':['b.ok']}]}";

static enum orc_status
migrate(struct orc_et_rig *r, const struct orc_definition *to,
	const char *from_step, const char *to_step)
{
	const char *from[1] = {from_step}, *dest[1] = {to_step};
	struct orc_engine_input in = {
		.kind = ORC_INPUT_MIGRATE,
		.to_def = to,
		.map_from = from,
		.map_to = dest,
		.n_map = from_step != NULL ? 1 : 0,
		.by = "ann@host",
	};

	return orc_et_apply(r, &in);
}

START_TEST(test_migrate_maps_steps)
{
	struct orc_definition *v2 = orc_et_def(def_seq_v2);
	const json_t *d;
	struct orc_et_rig r;
	char *why;

	rig_init(&r, orc_et_def(def_seq));
	orc_et_script(&r, "start; reply a a.ok {'r':7}");
	/* a ran and v2 has no a: it must be mapped */
	ck_assert_int_eq(migrate(&r, v2, NULL, NULL), ORC_CONFLICT);
	ck_assert_msg(strstr(r.err.message, "step a has run (succeeded) and "
					    "version 2 has no step a") != NULL,
		      "%s", r.err.message);
	ck_assert_int_eq(r.saga.def->version, 1);
	ck_assert_int_eq(migrate(&r, v2, "a", "a2"), ORC_OK);
	ck_assert_str_eq(r.got, "h:operator.migrate");
	d = orc_et_last_detail(&r, "operator.migrate");
	ck_assert_int_eq(json_integer_value(json_object_get(d, "to_version")),
			 2);
	ck_assert_str_eq(json_string_value(orc_jsonp_get(d, "/map/a")), "a2");
	ck_assert_int_eq(r.saga.def->version, 2);
	ck_assert_str_eq(orc_et_steps(&r), "a2=succeeded b=running c=pending "
					   "d=pending");
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(r.saga.context,
							  "/steps/a2/r")),
			 7);
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(r.saga.context,
							  "/saga/version")),
			 2);
	ck_assert(r.saga.steps[0].changed && r.saga.steps[1].changed);
	why = orc_et_reload(&r.saga);
	ck_assert_msg(why == NULL, "%s", why ? why : "");
	/* the reply in flight still finds b; d, new in v2, runs at the end */
	orc_et_script(&r, "reply b b.ok; reply c c.ok");
	ck_assert_int_eq(json_integer_value(json_object_get(
				 command_effect(&r, "d")->data, "r")),
			 7);
	orc_et_script(&r, "reply d d.ok");
	ck_assert_str_eq(orc_saga_status_name(r.saga.status), "completed");
	orc_et_rig_finish(&r);
	orc_definition_destroy(v2);
}
END_TEST

START_TEST(test_migrate_refuses_what_does_not_map)
{
	struct orc_definition *v2 = orc_et_def(def_seq_v2);
	struct orc_definition *v3 = orc_et_def(def_seq_v3);
	struct orc_et_rig r;

	rig_init(&r, orc_et_def(def_seq));
	orc_et_script(&r, "start; reply a a.ok");
	/* b's reply is awaited for b.do; v3's b would send b.new */
	ck_assert_int_eq(migrate(&r, v3, NULL, NULL), ORC_CONFLICT);
	ck_assert_msg(strstr(r.err.message, "step b is running awaiting a "
					    "reply to b.do, and b would send "
					    "b.new") != NULL,
		      "%s", r.err.message);
	ck_assert_str_eq(r.got, "h:migrate.ignored(not_allowed)");
	/* a running step cannot be renamed: its reply names it */
	ck_assert_int_eq(migrate(&r, v2, "b", "c"), ORC_CONFLICT);
	ck_assert_msg(strstr(r.err.message, "both become c") != NULL ||
			      strstr(r.err.message, "cannot become c") != NULL,
		      "%s", r.err.message);
	/* a map naming no step */
	ck_assert_int_eq(migrate(&r, v2, "zz", "a2"), ORC_CONFLICT);
	ck_assert_msg(strstr(r.err.message, "no step \"zz\"") != NULL, "%s",
		      r.err.message);
	ck_assert_int_eq(r.saga.def->version, 1);
	ck_assert_str_eq(orc_et_steps(&r), "a=succeeded b=running c=pending");
	/* a completed saga stays where it is */
	orc_et_script(&r, "reply b b.ok; reply c c.ok");
	ck_assert_int_eq(migrate(&r, v2, "a", "a2"), ORC_CONFLICT);
	orc_et_rig_finish(&r);
	orc_definition_destroy(v2);
	orc_definition_destroy(v3);
}
END_TEST

/*
 * The write leaves a saga's context column alone only when the row
 * context holds exactly the values it was read with: "steps" and "saga"
 * live elsewhere, a replaced member (a PATCH of the input) or an added or
 * removed one means a write.
 */
START_TEST(test_row_context_same)
{
	json_t *input = json_pack("{s:s}", "id", "o-1");
	json_t *read = json_pack("{s:O,s:{},s:{}}", "input", input, "steps",
				 "saga");
	json_t *now = json_pack("{s:O}", "input", input);
	json_t *patched = json_pack("{s:o}", "input", json_deep_copy(input));
	json_t *more = json_pack("{s:O,s:i}", "input", input, "extra", 1);
	json_t *none = json_object();

	ck_assert(orc_saga_row_context_same(read, now));
	ck_assert(!orc_saga_row_context_same(read, patched));
	ck_assert(!orc_saga_row_context_same(read, more));
	ck_assert(!orc_saga_row_context_same(read, none));
	ck_assert(!orc_saga_row_context_same(NULL, now));
	json_decref(input);
	json_decref(read);
	json_decref(now);
	json_decref(patched);
	json_decref(more);
	json_decref(none);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("table");

	tcase_add_loop_test(tc, test_table, 0, (int)COUNT(rows));
	suite_add_tcase(s, tc);

	tc = tcase_create("details");
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_names_every);
	tcase_add_test(tc, test_invalid_inputs);
	tcase_add_test(tc, test_invalid_transition_is_fatal);
	tcase_add_test(tc, test_rows_reject);
	tcase_add_test(tc, test_rows_round_trip);
	tcase_add_test(tc, test_rows_open_steps);
	tcase_add_test(tc, test_determinism);
	tcase_add_test(tc, test_copy_is_independent);
	tcase_add_test(tc, test_changed_flags_and_wake);
	tcase_add_test(tc, test_stuck_retry_compensated);
	tcase_add_test(tc, test_retry_failed_saga_renews_deadline);
	tcase_add_test(tc, test_command_too_large_reason);
	tcase_add_test(tc, test_reply_redelivery_by_step);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_add_test(tc, test_lifecycle_every_ending);
	tcase_add_test(tc, test_lifecycle_started_first);
	tcase_add_test(tc, test_output_rendered_on_completion);
	tcase_add_test(tc, test_output_only_when_completed);
	tcase_add_test(tc, test_output_too_large);
	tcase_add_test(tc, test_lifecycle_replay_identical);
	suite_add_tcase(s, tc);

	tc = tcase_create("operator");
	tcase_add_test(tc, test_pause_holds_timers);
	tcase_add_test(tc, test_patch_input_and_step);
	tcase_add_test(tc, test_retry_from_new_attempts);
	tcase_add_test(tc, test_migrate_maps_steps);
	tcase_add_test(tc, test_migrate_refuses_what_does_not_map);
	suite_add_tcase(s, tc);

	tc = tcase_create("order");
	tcase_add_test(tc, test_order_happy_path);
	tcase_add_test(tc, test_order_review_early_event);
	tcase_add_test(tc, test_order_review_event);
	tcase_add_test(tc, test_order_failure_compensates_in_reverse);
	tcase_add_test(tc, test_order_decline_awaits_parallel_step);
	tcase_add_test(tc, test_order_cancel_compensates_late_success_first);
	tcase_add_test(tc, test_order_timeout_retry_success);
	tcase_add_test(tc, test_order_retries_exhausted);
	tcase_add_test(tc, test_order_saga_timeout);
	tcase_add_test(tc, test_order_odd_replies);
	tcase_add_test(tc, test_row_context_same);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
