/*
 * test_definition.c - the definition loader: durations, defaults, every
 * shape and semantic rule of the language with its exact pointer and
 * message, map steps (their parsed fields, bounds and /item, /index),
 * saga steps (the child's fields, defaults and templates), all
 * errors reported at once, "did you mean", cycles, depends_on, retry
 * backoff, and loading files.
 *
 * JSON in this file is written with single quotes; J() turns them into
 * double quotes before parsing.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_runner.h"
#include "definition.h"
#include "engine.h"

static struct orc_definition_issues issues;
static struct orc_definition *def;

static void
setup(void)
{
	memset(&issues, 0, sizeof(issues));
	def = NULL;
}

static void
teardown(void)
{
	orc_definition_destroy(def);
	orc_definition_issues_finish(&issues);
}

static json_t *
J(const char *text)
{
	char *s = strdup(text);
	json_error_t jerr;
	json_t *v;

	ck_assert_ptr_nonnull(s);
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	v = json_loads(s, JSON_DECODE_ANY, &jerr);
	ck_assert_msg(v != NULL, "bad test JSON at %d: %s\n%s", jerr.position,
		      jerr.text, s);
	free(s);
	return v;
}

static enum orc_status
load(const char *text)
{
	json_t *body = J(text);
	enum orc_status st;

	orc_definition_destroy(def);
	def = NULL;
	orc_definition_issues_finish(&issues);
	st = orc_definition_from_json(body, &def, &issues);
	json_decref(body);
	return st;
}

/* A whole definition around the given steps (text of the array items). */
static enum orc_status
load_steps(const char *steps)
{
	char text[8192];

	snprintf(text, sizeof(text),
		 "{'name': 'test', 'version': 1,"
		 " 'trigger': {'topic': 't.events', 'type': 't.started', 'key': '/id'},"
		 " 'steps': [%s]}",
		 steps);
	return load(text);
}

static void
dump_issues(char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < issues.n && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "\n  %s: %s",
				      issues.v[i].pointer, issues.v[i].message);
}

static bool
has_issue(const char *pointer, const char *message)
{
	for (size_t i = 0; i < issues.n; i++)
		if (strcmp(issues.v[i].pointer, pointer) == 0 &&
		    strstr(issues.v[i].message, message) != NULL)
			return true;
	return false;
}

/*
 * The last load failed with (at least, or exactly when only) this issue.
 * line is the caller's, for the failure message.
 */
static void
check_issue(int line, const char *pointer, const char *message, bool only)
{
	char all[4096];

	dump_issues(all, sizeof(all));
	ck_assert_msg(def == NULL, "line %d: loaded but should not", line);
	ck_assert_msg(has_issue(pointer, message), "line %d: no issue %s: %s among:%s",
		      line, pointer, message, all);
	ck_assert_msg(!only || issues.n == 1, "line %d: expected one issue:%s",
		      line, all);
}

#define ck_issue(pointer, message) check_issue(__LINE__, pointer, message, false)
#define ck_only_issue(pointer, message) \
	check_issue(__LINE__, pointer, message, true)

static void
check_loaded(int line)
{
	char all[4096];

	dump_issues(all, sizeof(all));
	ck_assert_msg(def != NULL && issues.n == 0,
		      "line %d: expected a valid definition:%s", line, all);
}

#define ck_loaded() check_loaded(__LINE__)

/* A command step named n, with extra members appended. */
#define CMD(n, extra)                                                     \
	"{'name': '" n "', 'command': {'topic': 't.cmd', 'type': '" n ".do'}," \
	" 'success': ['" n ".done']" extra "}"

/* ---- durations and backoff ---- */

START_TEST(test_duration_parse)
{
	static const struct {
		const char *text;
		int64_t ms;
	} good[] = {
		{"250ms", 250},      {"1s", 1000},          {"10s", 10000},
		{"5m", 300000},      {"24h", 86400000},     {"2d", 172800000},
		{"1h30m", 5400000},  {"1m5s", 65000},       {"1s500ms", 1500},
		{"0s1ms", 1},        {"365d", INT64_C(31536000000)},
		{"8760h", INT64_C(31536000000)},             {"007s", 7000},
	};
	static const char *const bad[] = {
		"", "0s", "0ms", "0d0h", "5", "s", "ms", "1.5s", " 5s", "5s ",
		"5 s", "5S", "-1s", "+1s", "1x", "1hh", "5mss", "366d",
		"364d24h1ms", "99999999999999999999s", "1e3ms", "1h30",
	};
	int64_t ms;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = -1;
		ck_assert_msg(orc_duration_parse(good[i].text, &ms), "%s",
			      good[i].text);
		ck_assert_msg(ms == good[i].ms, "%s: %lld", good[i].text,
			      (long long)ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!orc_duration_parse(bad[i], &ms), "%s", bad[i]);
	ck_assert(!orc_duration_parse(NULL, &ms));
}
END_TEST

START_TEST(test_backoff)
{
	struct orc_retry r = {.max_attempts = 10, .backoff_ms = 500,
			      .multiplier = 2, .max_backoff_ms = 0};

	ck_assert_int_eq(orc_retry_backoff_ms(&r, 1), 0);
	ck_assert_int_eq(orc_retry_backoff_ms(&r, 2), 500);
	ck_assert_int_eq(orc_retry_backoff_ms(&r, 3), 1000);
	ck_assert_int_eq(orc_retry_backoff_ms(&r, 4), 2000);
	ck_assert_int_eq(orc_retry_backoff_ms(&r, 6), 8000);
	/* no cap: still bounded by the longest duration, never overflows */
	ck_assert_int_eq(orc_retry_backoff_ms(&r, 1000000),
			 INT64_C(365) * 86400000);
	r.max_backoff_ms = 3000;
	ck_assert_int_eq(orc_retry_backoff_ms(&r, 4), 2000);
	ck_assert_int_eq(orc_retry_backoff_ms(&r, 5), 3000);
	ck_assert_int_eq(orc_retry_backoff_ms(&r, 50), 3000);
	r.multiplier = 1.5;
	r.max_backoff_ms = 0;
	ck_assert_int_eq(orc_retry_backoff_ms(&r, 3), 750);
	ck_assert_int_eq(orc_retry_backoff_ms(&r, 4), 1125);
	r.multiplier = 1;
	ck_assert_int_eq(orc_retry_backoff_ms(&r, 9), 500);
	ck_assert_int_eq(orc_retry_backoff_ms(NULL, 3), 0);
}
END_TEST

START_TEST(test_small_helpers)
{
	char *v[] = {"a.done", "b.done"};
	struct orc_strv sv = {v, 2};

	ck_assert(orc_strv_contains(&sv, "b.done"));
	ck_assert(!orc_strv_contains(&sv, "c.done"));
	ck_assert(!orc_strv_contains(NULL, "a.done"));
	ck_assert_str_eq(orc_step_kind_name(ORC_STEP_COMMAND), "command");
	ck_assert_str_eq(orc_step_kind_name(ORC_STEP_WAIT), "wait");
	ck_assert_str_eq(orc_step_kind_name(ORC_STEP_DELAY), "delay");
}
END_TEST

/* ---- a valid definition and its defaults ---- */

static const char *const full =
	"{'$schema': '../saga-definition.schema.json', 'name': 'orders',"
	" 'version': 3, 'description': 'd',"
	" 'trigger': {'topic': 'orders.events', 'type': 'order.placed', 'key': '/order_id'},"
	" 'timeout': '1h30m',"
	" 'steps': ["
	"  {'name': 'reserve', 'description': 'x',"
	"   'command': {'topic': 'inv.cmd', 'type': 'inv.reserve',"
	"     'data': {'id': '${/input/order_id}', 'n': 1}},"
	"   'success': ['inv.reserved'], 'failure': ['inv.none', 'inv.busy'],"
	"   'timeout': '10s',"
	"   'retry': {'max_attempts': 3, 'backoff': '500ms', 'on': ['inv.busy']},"
	"   'compensation': {'topic': 'inv.cmd', 'type': 'inv.release',"
	"     'data': {'r': '${/steps/reserve/reservation_id}'},"
	"     'success': ['inv.released']}},"
	"  {'name': 'charge', 'needs': ['reserve'],"
	"   'command': {'topic': 'pay.cmd', 'type': 'pay.charge'},"
	"   'success': ['pay.charged'],"
	"   'compensation': {'topic': 'pay.cmd', 'type': 'pay.refund',"
	"     'success': ['pay.refunded'], 'failure': ['pay.later'], 'timeout': '5s',"
	"     'retry': {'max_attempts': 9, 'backoff': '2s', 'multiplier': 1.5,"
	"               'max_backoff': '30s'}}},"
	"  {'name': 'review', 'needs': ['charge'],"
	"   'when': {'gt': ['${/steps/reserve/total}', 1000]},"
	"   'wait': {'topic': 'rev.events', 'type': 'rev.ok', 'key': '/order_id',"
	"     'timeout': '24h', 'on_timeout': 'continue'}},"
	"  {'name': 'pause', 'needs': ['reserve'], 'delay': '2d'},"
	"  {'name': 'ship', 'needs': ['review', 'pause'],"
	"   'command': {'topic': 'ship.cmd', 'type': 'ship.it', 'data': '${/steps/charge}'},"
	"   'success': ['ship.done'], 'timeout': '1m',"
	"   'retry': {'max_attempts': 2, 'backoff': '1s', 'max_backoff': '4s'}}"
	" ]}";

START_TEST(test_valid_full)
{
	const struct orc_step_def *st;

	ck_assert_int_eq(load(full), ORC_OK);
	ck_loaded();
	ck_assert_str_eq(def->name, "orders");
	ck_assert_int_eq(def->version, 3);
	ck_assert_str_eq(def->description, "d");
	ck_assert_str_eq(def->trigger.topic, "orders.events");
	ck_assert_str_eq(def->trigger.type, "order.placed");
	ck_assert_str_eq(def->trigger.key, "/order_id");
	ck_assert_int_eq(def->timeout_ms, 5400000);
	ck_assert_int_eq(def->n_steps, 5);
	ck_assert_ptr_nonnull(def->body);

	st = &def->steps[0];
	ck_assert_str_eq(st->name, "reserve");
	ck_assert_int_eq(st->index, 0);
	ck_assert_int_eq(st->kind, ORC_STEP_COMMAND);
	ck_assert_int_eq(st->n_needs, 0);
	ck_assert_ptr_null(st->when);
	ck_assert_str_eq(st->command.topic, "inv.cmd");
	ck_assert_str_eq(st->command.type, "inv.reserve");
	ck_assert_int_eq(json_integer_value(json_object_get(st->command.data, "n")), 1);
	ck_assert_int_eq(st->success.n, 1);
	ck_assert_str_eq(st->success.v[0], "inv.reserved");
	ck_assert_int_eq(st->failure.n, 2);
	ck_assert_int_eq(st->timeout_ms, 10000);
	ck_assert(st->has_retry);
	ck_assert_int_eq(st->retry.max_attempts, 3);
	ck_assert_int_eq(st->retry.backoff_ms, 500);
	ck_assert(st->retry.multiplier == 2); /* default */
	ck_assert_int_eq(st->retry.max_backoff_ms, 0);
	ck_assert(orc_strv_contains(&st->retry.on, "inv.busy"));
	ck_assert(st->has_compensation);
	ck_assert_str_eq(st->compensation.command.type, "inv.release");
	ck_assert_str_eq(st->compensation.success.v[0], "inv.released");
	/* compensation retry defaults */
	ck_assert_int_eq(st->compensation.retry.max_attempts, 5);
	ck_assert_int_eq(st->compensation.retry.backoff_ms, 1000);
	ck_assert(st->compensation.retry.multiplier == 2);
	ck_assert_int_eq(st->compensation.retry.max_backoff_ms, 60000);
	ck_assert_int_eq(st->compensation.timeout_ms, 0);

	st = &def->steps[1];
	ck_assert_int_eq(st->n_needs, 1);
	ck_assert_int_eq(st->needs[0], 0);
	ck_assert(json_is_object(st->command.data)); /* default {} */
	ck_assert_int_eq(json_object_size(st->command.data), 0);
	ck_assert(!st->has_retry);
	ck_assert_int_eq(st->retry.max_attempts, 1);
	ck_assert_int_eq(st->timeout_ms, 0);
	ck_assert_int_eq(st->failure.n, 0);
	ck_assert(json_is_object(st->compensation.command.data));
	ck_assert_int_eq(st->compensation.retry.max_attempts, 9);
	ck_assert_int_eq(st->compensation.retry.backoff_ms, 2000);
	ck_assert(st->compensation.retry.multiplier == 1.5);
	ck_assert_int_eq(st->compensation.retry.max_backoff_ms, 30000);
	ck_assert_int_eq(st->compensation.timeout_ms, 5000);
	ck_assert(orc_strv_contains(&st->compensation.failure, "pay.later"));

	st = &def->steps[2];
	ck_assert_int_eq(st->kind, ORC_STEP_WAIT);
	ck_assert_ptr_nonnull(st->when);
	ck_assert_str_eq(st->wait.topic, "rev.events");
	ck_assert_str_eq(st->wait.type, "rev.ok");
	ck_assert_str_eq(st->wait.key, "/order_id");
	ck_assert_int_eq(st->wait.timeout_ms, 86400000);
	ck_assert(st->wait.continue_on_timeout);
	ck_assert(!st->has_compensation);

	st = &def->steps[3];
	ck_assert_int_eq(st->kind, ORC_STEP_DELAY);
	ck_assert_int_eq(st->delay_ms, 2 * 86400000);

	st = &def->steps[4];
	ck_assert_int_eq(st->n_needs, 2);
	ck_assert_int_eq(st->needs[0], 2);
	ck_assert_int_eq(st->needs[1], 3);
	ck_assert_int_eq(st->retry.max_backoff_ms, 4000);
	ck_assert(json_is_string(st->command.data));

	ck_assert_int_eq(orc_definition_step_index(def, "ship"), 4);
	ck_assert_int_eq(orc_definition_step_index(def, "reserve"), 0);
	ck_assert_int_eq(orc_definition_step_index(def, "nope"), -1);
}
END_TEST

START_TEST(test_depends_on)
{
	ck_assert_int_eq(load(full), ORC_OK);
	/* ship -> review -> charge -> reserve; ship -> pause -> reserve */
	ck_assert(orc_definition_depends_on(def, 4, 0));
	ck_assert(orc_definition_depends_on(def, 4, 1));
	ck_assert(orc_definition_depends_on(def, 4, 2));
	ck_assert(orc_definition_depends_on(def, 4, 3));
	ck_assert(orc_definition_depends_on(def, 2, 0));
	ck_assert(orc_definition_depends_on(def, 1, 0));
	ck_assert(!orc_definition_depends_on(def, 0, 1));
	ck_assert(!orc_definition_depends_on(def, 2, 3));
	ck_assert(!orc_definition_depends_on(def, 3, 1));
	ck_assert(!orc_definition_depends_on(def, 4, 4));
	ck_assert(!orc_definition_depends_on(def, 0, 0));
	ck_assert(!orc_definition_depends_on(def, 4, 99));
	ck_assert(!orc_definition_depends_on(def, 99, 0));
}
END_TEST

START_TEST(test_depends_on_many_steps)
{
	/* a chain longer than one 64-bit word of the closure matrix */
	char *steps = malloc(200 * 160);
	size_t n = 0;

	ck_assert_ptr_nonnull(steps);
	for (int i = 0; i < 150; i++) {
		char need[32] = "";

		if (i > 0)
			snprintf(need, sizeof(need), "'s%d'", i - 1);
		n += (size_t)sprintf(steps + n,
				     "%s{'name': 's%d', 'needs': [%s], 'delay': '1s'}",
				     i > 0 ? "," : "", i, need);
	}
	ck_assert_int_eq(load_steps(steps), ORC_OK);
	free(steps);
	ck_assert(orc_definition_depends_on(def, 149, 0));
	ck_assert(orc_definition_depends_on(def, 130, 64));
	ck_assert(orc_definition_depends_on(def, 64, 63));
	ck_assert(!orc_definition_depends_on(def, 63, 64));
	ck_assert(!orc_definition_depends_on(def, 0, 149));
}
END_TEST

START_TEST(test_depends_on_hand_built)
{
	/* without the closure matrix, needs are walked */
	size_t needs1[] = {0}, needs2[] = {1};
	struct orc_step_def steps[3] = {
		{.name = "a", .index = 0},
		{.name = "b", .index = 1, .needs = needs1, .n_needs = 1},
		{.name = "c", .index = 2, .needs = needs2, .n_needs = 1},
	};
	struct orc_definition d = {.name = "h", .steps = steps, .n_steps = 3};

	ck_assert(orc_definition_depends_on(&d, 2, 0));
	ck_assert(!orc_definition_depends_on(&d, 0, 2));
}
END_TEST

START_TEST(test_steps_out_of_order_and_wait_default)
{
	ck_assert_int_eq(
		load_steps(CMD("b", ", 'needs': ['a']") ","
			   "{'name': 'a', 'wait': {'topic': 'x', 'type': 'y', 'key': ''}}"),
		ORC_OK);
	ck_assert(!def->steps[1].wait.continue_on_timeout);
	ck_assert_str_eq(def->steps[1].wait.key, "");
	ck_assert(orc_definition_depends_on(def, 0, 1));
}
END_TEST

/* ---- top level ---- */

START_TEST(test_missing_required_top)
{
	ck_assert_int_eq(load("{}"), ORC_INVALID);
	ck_issue("", "missing required property \"name\"");
	ck_issue("", "missing required property \"version\"");
	ck_issue("", "missing required property \"trigger\"");
	ck_issue("", "missing required property \"steps\"");
	ck_assert_int_eq(issues.n, 4);
}
END_TEST

START_TEST(test_not_an_object)
{
	ck_assert_int_eq(load("[1]"), ORC_INVALID);
	ck_only_issue("", "expected object");
	ck_assert_int_eq(load("'x'"), ORC_INVALID);
	ck_only_issue("", "expected object");
}
END_TEST

START_TEST(test_top_types_and_values)
{
	ck_assert_int_eq(load("{'name': 5, 'version': '1', 'trigger': [],"
			      " 'steps': {}, 'timeout': 10, 'description': 1,"
			      " '$schema': false, 'colour': 'red'}"),
			 ORC_INVALID);
	ck_issue("/name", "expected string");
	ck_issue("/version", "expected integer");
	ck_issue("/trigger", "expected object");
	ck_issue("/steps", "expected array");
	ck_issue("/timeout", "expected string");
	ck_issue("/description", "expected string");
	ck_issue("/$schema", "expected string");
	ck_issue("/colour", "unknown property \"colour\"");
	ck_assert_int_eq(issues.n, 8);

	ck_assert_int_eq(load("{'name': 'Orders', 'version': 0,"
			      " 'trigger': {'topic': 'a', 'type': 'b', 'key': '/k'},"
			      " 'steps': [], 'timeout': '5 m'}"),
			 ORC_INVALID);
	ck_issue("/name", "invalid name");
	ck_issue("/version", "must be at least 1");
	ck_issue("/steps", "must not be empty");
	ck_issue("/timeout", "invalid duration");
	ck_assert_int_eq(issues.n, 4);

	ck_assert_int_eq(load("{'name': 'x', 'version': 1.0,"
			      " 'trigger': {'topic': 'a', 'type': 'b', 'key': '/k'},"
			      " 'steps': [7]}"),
			 ORC_INVALID);
	ck_issue("/version", "expected integer");
	ck_issue("/steps/0", "expected object");
}
END_TEST

/* "retention": a duration, 0 (absent) meaning the retention setting. */
START_TEST(test_retention)
{
	static const char tmpl[] =
		"{'name': 'r', 'version': 1,"
		" 'trigger': {'topic': 'a', 'type': 'b', 'key': '/k'},"
		" 'steps': [{'name': 's', 'delay': '1s'}]%s}";
	char text[512];

	snprintf(text, sizeof(text), tmpl, ", 'retention': '1d12h'");
	ck_assert_int_eq(load(text), ORC_OK);
	ck_assert_int_eq(def->retention_ms, INT64_C(36) * 3600 * 1000);
	snprintf(text, sizeof(text), tmpl, "");
	ck_assert_int_eq(load(text), ORC_OK);
	ck_assert_int_eq(def->retention_ms, 0);

	snprintf(text, sizeof(text), tmpl, ", 'retention': '0s'");
	ck_assert_int_eq(load(text), ORC_INVALID);
	ck_only_issue("/retention", "invalid duration");
	snprintf(text, sizeof(text), tmpl, ", 'retention': 30");
	ck_assert_int_eq(load(text), ORC_INVALID);
	ck_only_issue("/retention", "expected string");
}
END_TEST

START_TEST(test_names)
{
	static const char *const bad[] = {
		"", "9lives", "_x", "Upper", "with-dash", "with space", "é",
		"a234567890123456789012345678901234567890123456789012345678901234",
	};
	char text[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 "{'name': '%s', 'version': 1,"
			 " 'trigger': {'topic': 'a', 'type': 'b', 'key': '/k'},"
			 " 'steps': [" CMD("s", "") "]}",
			 bad[i]);
		ck_assert_int_eq(load(text), ORC_INVALID);
		ck_only_issue("/name", "invalid name");
	}
	/* 63 characters is the longest name */
	ck_assert_int_eq(load("{'name': 'a23456789012345678901234567890123456789012345678901234567890123',"
			      " 'version': 1,"
			      " 'trigger': {'topic': 'a', 'type': 'b', 'key': '/k'},"
			      " 'steps': [" CMD("s_1", "") "]}"),
			 ORC_OK);
	ck_assert_int_eq(load_steps(CMD("Bad", "")), ORC_INVALID);
	ck_only_issue("/steps/0/name", "invalid name");
}
END_TEST

START_TEST(test_trigger)
{
	ck_assert_int_eq(load("{'name': 'x', 'version': 1, 'trigger': {},"
			      " 'steps': [" CMD("s", "") "]}"),
			 ORC_INVALID);
	ck_issue("/trigger", "missing required property \"topic\"");
	ck_issue("/trigger", "missing required property \"type\"");
	ck_issue("/trigger", "missing required property \"key\"");
	ck_assert_int_eq(issues.n, 3);

	ck_assert_int_eq(load("{'name': 'x', 'version': 1,"
			      " 'trigger': {'topic': '', 'type': 't', 'key': 'id',"
			      "   'partition': 1},"
			      " 'steps': [" CMD("s", "") "]}"),
			 ORC_INVALID);
	ck_issue("/trigger/topic", "must not be empty");
	ck_issue("/trigger/key", "invalid JSON pointer");
	ck_issue("/trigger/partition", "unknown property \"partition\"");
	ck_assert_int_eq(issues.n, 3);

	ck_assert_int_eq(load("{'name': 'x', 'version': 1,"
			      " 'trigger': {'topic': 'a', 'type': 't', 'key': '/a~2'},"
			      " 'steps': [" CMD("s", "") "]}"),
			 ORC_INVALID);
	ck_only_issue("/trigger/key", "invalid JSON pointer");
}
END_TEST

/* key_reuse: each policy parsed, reject by default, and what each allows */
START_TEST(test_key_reuse)
{
	static const enum orc_saga_status open[] = {
		ORC_SAGA_RUNNING, ORC_SAGA_COMPENSATING, ORC_SAGA_STUCK};
	static const enum orc_saga_status failed[] = {
		ORC_SAGA_COMPENSATED, ORC_SAGA_FAILED, ORC_SAGA_CANCELLED,
		ORC_SAGA_TIMED_OUT};
	char text[256];

	ck_assert_int_eq(load_steps(CMD("s", "")), ORC_OK);
	ck_assert_int_eq(def->trigger.key_reuse, ORC_KEY_REUSE_REJECT);
	for (int p = ORC_KEY_REUSE_REJECT; p <= ORC_KEY_REUSE_AFTER_FAILURE; p++) {
		snprintf(text, sizeof(text),
			 "{'name': 'x', 'version': 1, 'trigger': {'topic': 'a',"
			 " 'type': 't', 'key': '/k', 'key_reuse': '%s'},"
			 " 'steps': [" CMD("s", "") "]}",
			 orc_key_reuse_name(p));
		ck_assert_int_eq(load(text), ORC_OK);
		ck_assert_int_eq(def->trigger.key_reuse, p);
	}
	ck_assert_int_eq(load("{'name': 'x', 'version': 1, 'trigger': {'topic': 'a',"
			      " 'type': 't', 'key': '/k', 'key_reuse': 'always'},"
			      " 'steps': [" CMD("s", "") "]}"),
			 ORC_INVALID);
	ck_only_issue("/trigger/key_reuse", "must be one of \"reject\", "
			  "\"after_finish\", \"after_failure\"");

	/* never while the key's saga is open, whatever the policy */
	for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++)
		for (int p = ORC_KEY_REUSE_REJECT;
		     p <= ORC_KEY_REUSE_AFTER_FAILURE; p++)
			ck_assert(!orc_key_reuse_allows(p, open[i]));
	ck_assert(!orc_key_reuse_allows(ORC_KEY_REUSE_REJECT,
					ORC_SAGA_COMPLETED));
	ck_assert(orc_key_reuse_allows(ORC_KEY_REUSE_AFTER_FINISH,
				       ORC_SAGA_COMPLETED));
	ck_assert(!orc_key_reuse_allows(ORC_KEY_REUSE_AFTER_FAILURE,
					ORC_SAGA_COMPLETED));
	for (size_t i = 0; i < sizeof(failed) / sizeof(failed[0]); i++) {
		ck_assert(!orc_key_reuse_allows(ORC_KEY_REUSE_REJECT, failed[i]));
		ck_assert(orc_key_reuse_allows(ORC_KEY_REUSE_AFTER_FINISH,
					       failed[i]));
		ck_assert(orc_key_reuse_allows(ORC_KEY_REUSE_AFTER_FAILURE,
					       failed[i]));
	}
}
END_TEST

/* early_ttl of a wait step: 0 (the setting) unless given */
START_TEST(test_wait_early_ttl)
{
	ck_assert_int_eq(load_steps("{'name': 'w', 'wait': {'topic': 't', 'type': 'u',"
				    " 'key': '/k'}}"),
			 ORC_OK);
	ck_assert_int_eq(def->steps[0].wait.early_ttl_ms, 0);
	ck_assert_int_eq(load_steps("{'name': 'w', 'wait': {'topic': 't', 'type': 'u',"
				    " 'key': '/k', 'early_ttl': '10m'}}"),
			 ORC_OK);
	ck_assert_int_eq(def->steps[0].wait.early_ttl_ms, 600000);
	ck_assert_int_eq(load_steps("{'name': 'w', 'wait': {'topic': 't', 'type': 'u',"
				    " 'key': '/k', 'early_ttl': 'soon'}}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0/wait/early_ttl", "invalid duration");
}
END_TEST

/* ---- steps ---- */

START_TEST(test_step_shape)
{
	ck_assert_int_eq(load_steps("{'command': {'topic': 'a', 'type': 'b'},"
				    " 'success': ['c'], 'colour': 1,"
				    " 'description': 2}"),
			 ORC_INVALID);
	ck_issue("/steps/0", "missing required property \"name\"");
	ck_issue("/steps/0/colour", "unknown property \"colour\"");
	ck_issue("/steps/0/description", "expected string");
	ck_assert_int_eq(issues.n, 3);
}
END_TEST

START_TEST(test_step_kinds)
{
	const char *msg = "step must have exactly one of \"command\", "
			  "\"wait\", \"delay\", \"saga\"";

	ck_assert_int_eq(load_steps("{'name': 'a'}"), ORC_INVALID);
	ck_only_issue("/steps/0", msg);
	ck_assert_int_eq(load_steps("{'name': 'a', 'delay': '1s',"
				    " 'wait': {'topic': 'a', 'type': 'b', 'key': '/k'}}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0", msg);
	ck_assert_int_eq(load_steps(CMD("a", ", 'delay': '1s'")), ORC_INVALID);
	ck_only_issue("/steps/0", msg);
}
END_TEST

START_TEST(test_command)
{
	ck_assert_int_eq(load_steps("{'name': 'a', 'command': {'topic': 'x', 'extra': 1},"
				    " 'success': ['s']}"),
			 ORC_INVALID);
	ck_issue("/steps/0/command", "missing required property \"type\"");
	ck_issue("/steps/0/command/extra", "unknown property \"extra\"");
	ck_assert_int_eq(issues.n, 2);

	ck_assert_int_eq(load_steps("{'name': 'a', 'command': 'x'}"), ORC_INVALID);
	ck_issue("/steps/0/command", "expected object");
	ck_issue("/steps/0", "missing required property \"success\"");
	ck_assert_int_eq(issues.n, 2);

	ck_assert_int_eq(load_steps("{'name': 'a', 'command': {'topic': 'x', 'type': ''},"
				    " 'success': [], 'failure': 'f', 'timeout': '0s'}"),
			 ORC_INVALID);
	ck_issue("/steps/0/command/type", "must not be empty");
	ck_issue("/steps/0/success", "must not be empty");
	ck_issue("/steps/0/failure", "expected array");
	ck_issue("/steps/0/timeout", "invalid duration");
	ck_assert_int_eq(issues.n, 4);

	ck_assert_int_eq(load_steps(CMD("a", ", 'failure': ['x', 3]")), ORC_INVALID);
	ck_only_issue("/steps/0/failure/1", "expected string");
}
END_TEST

START_TEST(test_success_failure_overlap)
{
	ck_assert_int_eq(load_steps(CMD("a", ", 'failure': ['a.bad', 'a.done']")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/failure/1",
		      "listed in both \"success\" and \"failure\"");
	ck_assert_int_eq(load_steps(CMD("a", ", 'compensation': {'topic': 't',"
					     " 'type': 'u', 'success': ['ok'],"
					     " 'failure': ['ok']}")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/compensation/failure/0",
		      "listed in both \"success\" and \"failure\"");
}
END_TEST

START_TEST(test_retry)
{
	ck_assert_int_eq(load_steps(CMD("a", ", 'timeout': '1s', 'retry': {}")),
			 ORC_INVALID);
	ck_issue("/steps/0/retry", "missing required property \"max_attempts\"");
	ck_issue("/steps/0/retry", "missing required property \"backoff\"");
	ck_assert_int_eq(issues.n, 2);

	ck_assert_int_eq(load_steps(CMD("a", ", 'timeout': '1s',"
					     " 'retry': {'max_attempts': 0, 'backoff': '1x',"
					     " 'multiplier': 0.5, 'max_backoff': '',"
					     " 'jitter': true}")),
			 ORC_INVALID);
	ck_issue("/steps/0/retry/max_attempts", "must be at least 1");
	ck_issue("/steps/0/retry/backoff", "invalid duration");
	ck_issue("/steps/0/retry/multiplier", "must be at least 1");
	ck_issue("/steps/0/retry/max_backoff", "invalid duration");
	ck_issue("/steps/0/retry/jitter", "unknown property \"jitter\"");
	ck_assert_int_eq(issues.n, 5);

	ck_assert_int_eq(load_steps(CMD("a", ", 'timeout': '1s', 'retry':"
					     " {'max_attempts': 2.5, 'backoff': 1,"
					     " 'multiplier': 'x', 'on': 'y'}")),
			 ORC_INVALID);
	ck_issue("/steps/0/retry/max_attempts", "expected integer");
	ck_issue("/steps/0/retry/backoff", "expected string");
	ck_issue("/steps/0/retry/multiplier", "expected number");
	ck_issue("/steps/0/retry/on", "expected array");
	ck_assert_int_eq(issues.n, 4);

	ck_assert_int_eq(load_steps(CMD("a", ", 'retry': 3")), ORC_INVALID);
	ck_only_issue("/steps/0/retry", "expected object");
}
END_TEST

START_TEST(test_retry_never_fires_and_on)
{
	ck_assert_int_eq(load_steps(CMD("a", ", 'retry': {'max_attempts': 3, 'backoff': '1s'}")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/retry", "retry needs a step \"timeout\" or \"on\"");
	ck_assert_int_eq(load_steps(CMD("a", ", 'failure': ['a.busy'],"
					     " 'retry': {'max_attempts': 3, 'backoff': '1s', 'on': []}")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/retry", "retry needs a step \"timeout\" or \"on\"");

	ck_assert_int_eq(load_steps(CMD("a", ", 'failure': ['a.busy'],"
					     " 'retry': {'max_attempts': 3, 'backoff': '1s',"
					     " 'on': ['a.busy', 'a.gone']}")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/retry/on/1", "not listed in \"failure\"");
	ck_assert_int_eq(load_steps(CMD("a", ", 'retry': {'max_attempts': 3,"
					     " 'backoff': '1s', 'on': ['a.busy']}")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/retry/on/0", "not listed in \"failure\"");

	/* on alone, or timeout alone, is enough */
	ck_assert_int_eq(load_steps(CMD("a", ", 'failure': ['a.busy'],"
					     " 'retry': {'max_attempts': 3, 'backoff': '1s',"
					     " 'on': ['a.busy']}")),
			 ORC_OK);
	ck_assert_int_eq(load_steps(CMD("a", ", 'timeout': '5s',"
					     " 'retry': {'max_attempts': 3, 'backoff': '1s'}")),
			 ORC_OK);
}
END_TEST

START_TEST(test_compensation)
{
	ck_assert_int_eq(load_steps(CMD("a", ", 'compensation': {'topic': 't'}")),
			 ORC_INVALID);
	ck_issue("/steps/0/compensation", "missing required property \"type\"");
	ck_issue("/steps/0/compensation", "missing required property \"success\"");
	ck_assert_int_eq(issues.n, 2);

	ck_assert_int_eq(load_steps(CMD("a", ", 'compensation': {'topic': 't',"
					     " 'type': 'u', 'success': ['ok'], 'timeout': 'x',"
					     " 'retry': {'on': ['z'], 'max_attempts': 0}, 'needs': []}")),
			 ORC_INVALID);
	ck_issue("/steps/0/compensation/retry/on", "unknown property \"on\"");
	ck_issue("/steps/0/compensation/retry/max_attempts", "must be at least 1");
	ck_issue("/steps/0/compensation/timeout", "invalid duration");
	ck_issue("/steps/0/compensation/needs", "unknown property \"needs\"");
	ck_assert_int_eq(issues.n, 4);

	/* a partial retry keeps the other defaults of a retry */
	ck_assert_int_eq(load_steps(CMD("a", ", 'compensation': {'topic': 't',"
					     " 'type': 'u', 'success': ['ok'],"
					     " 'retry': {'backoff': '3s'}}")),
			 ORC_OK);
	ck_assert_int_eq(def->steps[0].compensation.retry.max_attempts, 5);
	ck_assert_int_eq(def->steps[0].compensation.retry.backoff_ms, 3000);
}
END_TEST

START_TEST(test_wait)
{
	ck_assert_int_eq(load_steps("{'name': 'w', 'wait': {'topic': 't'}}"),
			 ORC_INVALID);
	ck_issue("/steps/0/wait", "missing required property \"type\"");
	ck_issue("/steps/0/wait", "missing required property \"key\"");
	ck_assert_int_eq(issues.n, 2);

	ck_assert_int_eq(load_steps("{'name': 'w', 'wait': {'topic': 't', 'type': 'u',"
				    " 'key': 'k', 'timeout': '0ms', 'on_timeout': 'retry',"
				    " 'extra': 1}}"),
			 ORC_INVALID);
	ck_issue("/steps/0/wait/key", "invalid JSON pointer");
	ck_issue("/steps/0/wait/timeout", "invalid duration");
	ck_issue("/steps/0/wait/on_timeout", "must be one of");
	ck_issue("/steps/0/wait/extra", "unknown property \"extra\"");
	ck_assert_int_eq(issues.n, 4);

	ck_assert_int_eq(load_steps("{'name': 'w', 'wait': []}"), ORC_INVALID);
	ck_only_issue("/steps/0/wait", "expected object");
}
END_TEST

START_TEST(test_delay)
{
	ck_assert_int_eq(load_steps("{'name': 'd', 'delay': 5}"), ORC_INVALID);
	ck_only_issue("/steps/0/delay", "expected string");
	ck_assert_int_eq(load_steps("{'name': 'd', 'delay': '366d'}"), ORC_INVALID);
	ck_only_issue("/steps/0/delay", "invalid duration");
	ck_assert_int_eq(load_steps("{'name': 'd', 'delay': '10x'}"), ORC_INVALID);
	ck_only_issue("/steps/0/delay", "invalid duration");
}
END_TEST

START_TEST(test_only_command_steps)
{
	ck_assert_int_eq(load_steps("{'name': 'w', 'wait': {'topic': 't', 'type': 'u',"
				    " 'key': '/k'}, 'success': ['x'], 'failure': ['y'],"
				    " 'timeout': '1s', 'retry': {}, 'compensation': {}}"),
			 ORC_INVALID);
	ck_issue("/steps/0/success", "only command steps can have \"success\"");
	ck_issue("/steps/0/failure", "only command steps can have \"failure\"");
	ck_issue("/steps/0/timeout", "only command steps can have \"timeout\"");
	ck_issue("/steps/0/retry", "only command steps can have \"retry\"");
	ck_issue("/steps/0/compensation",
		 "only command steps can have \"compensation\"");
	ck_assert_int_eq(issues.n, 5);

	ck_assert_int_eq(load_steps("{'name': 'd', 'delay': '1s', 'timeout': '1s'}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0/timeout", "only command steps can have \"timeout\"");
}
END_TEST

/* ---- the graph ---- */

START_TEST(test_duplicate_step_name)
{
	ck_assert_int_eq(load_steps(CMD("a", "") "," CMD("b", "") "," CMD("a", "")
					   "," CMD("a", "")),
			 ORC_INVALID);
	ck_issue("/steps/2/name", "duplicate step name \"a\"");
	ck_issue("/steps/3/name", "duplicate step name \"a\"");
	ck_assert_int_eq(issues.n, 2);
}
END_TEST

START_TEST(test_needs)
{
	ck_assert_int_eq(load_steps(CMD("charge", "") ","
				    CMD("ship", ", 'needs': ['chrage', 'refund_everything',"
						" 'ship', 'charge', 'charge', 7]")),
			 ORC_INVALID);
	ck_issue("/steps/1/needs/0",
		 "unknown step \"chrage\"; did you mean \"charge\"?");
	ck_issue("/steps/1/needs/1", "unknown step \"refund_everything\"");
	ck_issue("/steps/1/needs/2", "step cannot need itself");
	ck_issue("/steps/1/needs/4", "duplicate need \"charge\"");
	ck_issue("/steps/1/needs/5", "expected string");
	ck_assert_int_eq(issues.n, 5);
	/* no suggestion for a name too far away */
	ck_assert(strstr(issues.v[1].message, "did you mean") == NULL);

	ck_assert_int_eq(load_steps(CMD("a", ", 'needs': 'b'") "," CMD("b", "")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/needs", "expected array");
}
END_TEST

START_TEST(test_did_you_mean_distance)
{
	/* distance 2 (two edits) suggests, distance 3 does not */
	ck_assert_int_eq(load_steps(CMD("reserve", "") ","
				    CMD("b", ", 'needs': ['resreve']") ","
				    CMD("c", ", 'needs': ['rsrve']") ","
				    CMD("d", ", 'needs': ['reserve_it']")),
			 ORC_INVALID);
	ck_issue("/steps/1/needs/0", "; did you mean \"reserve\"?");
	ck_issue("/steps/2/needs/0", "; did you mean \"reserve\"?");
	ck_issue("/steps/3/needs/0", "unknown step \"reserve_it\"");
	ck_assert(strstr(issues.v[2].message, "did you mean") == NULL);
	/* the closest wins */
	ck_assert_int_eq(load_steps(CMD("pay", "") "," CMD("pan", "") ","
				    CMD("c", ", 'needs': ['pat', 'pau']")),
			 ORC_INVALID);
	ck_issue("/steps/2/needs/0", "did you mean \"pay\"?");
	ck_issue("/steps/2/needs/1", "did you mean \"pay\"?");
}
END_TEST

START_TEST(test_cycles)
{
	ck_assert_int_eq(load_steps(CMD("a", ", 'needs': ['b']") ","
				    CMD("b", ", 'needs': ['a']")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/needs", "cycle: a -> b -> a");

	/* reported at the first step of the cycle in file order */
	ck_assert_int_eq(load_steps(CMD("start", "") ","
				    CMD("pack", ", 'needs': ['start', 'weigh']") ","
				    CMD("label", ", 'needs': ['pack']") ","
				    CMD("weigh", ", 'needs': ['label']")),
			 ORC_INVALID);
	ck_only_issue("/steps/1/needs", "cycle: pack -> weigh -> label -> pack");

	/* two separate cycles, each reported once */
	ck_assert_int_eq(load_steps(CMD("a", ", 'needs': ['b']") ","
				    CMD("b", ", 'needs': ['a']") ","
				    CMD("c", ", 'needs': ['d']") ","
				    CMD("d", ", 'needs': ['c']")),
			 ORC_INVALID);
	ck_issue("/steps/0/needs", "cycle: a -> b -> a");
	ck_issue("/steps/2/needs", "cycle: c -> d -> c");
	ck_assert_int_eq(issues.n, 2);
}
END_TEST

START_TEST(test_unreachable)
{
	ck_assert_int_eq(load_steps(CMD("start", "") ","
				    CMD("ping", ", 'needs': ['pong']") ","
				    CMD("pong", ", 'needs': ['ping']") ","
				    CMD("after", ", 'needs': ['start', 'pong']") ","
				    CMD("final", ", 'needs': ['after']") ","
				    CMD("free", ", 'needs': ['start']")),
			 ORC_INVALID);
	ck_issue("/steps/1/needs", "cycle: ping -> pong -> ping");
	ck_issue("/steps/3", "unreachable: depends on a cycle");
	ck_issue("/steps/4", "unreachable: depends on a cycle");
	ck_assert_int_eq(issues.n, 3);
}
END_TEST

START_TEST(test_no_cycle_check_with_unknown_needs)
{
	ck_assert_int_eq(load_steps(CMD("a", ", 'needs': ['b']") ","
				    CMD("b", ", 'needs': ['a', 'zzz']")),
			 ORC_INVALID);
	ck_only_issue("/steps/1/needs/1", "unknown step \"zzz\"");
}
END_TEST

/* ---- pointers, conditions, templates ---- */

#define TWO(extra_b)                                                      \
	CMD("a", "") ","                                                  \
	"{'name': 'b', 'needs': ['a'], 'command': {'topic': 't', 'type': 'b.do'," \
	" 'data': " extra_b "}, 'success': ['b.done']}"

START_TEST(test_template_pointers)
{
	ck_assert_int_eq(load_steps(TWO("{'ok': ['${/input/x}', '${/saga/id}',"
					" '${/saga/key} ${/saga/name} ${/saga/version}',"
					" '${/steps/a}', '${/steps/a/deep/0}', '$${not a ref}'],"
					" '${/bad}': 'keys are not templates'}")),
			 ORC_OK);

	ck_assert_int_eq(load_steps(TWO("{'p': '${input/x}', 'q': '${/input/~2}',"
					" 'r': '${/foo/x}', 's': '${/saga/bogus}',"
					" 't': '${/saga}', 'u': '${}', 'v': '${/steps}',"
					" 'w': 'x ${/steps/ghost/y}', 'x': ['${/steps/b/z}'],"
					" 'y': 'open ${/input', 'z': {'zz': '${/steps/aa}'}}")),
			 ORC_INVALID);
	ck_issue("/steps/1/command/data/p", "invalid JSON pointer");
	ck_issue("/steps/1/command/data/q", "invalid JSON pointer");
	ck_issue("/steps/1/command/data/r", "unknown context root \"foo\"");
	ck_issue("/steps/1/command/data/s", "unknown context root");
	ck_issue("/steps/1/command/data/t", "unknown context root");
	ck_issue("/steps/1/command/data/u", "unknown context root \"\"");
	ck_issue("/steps/1/command/data/v", "unknown context root \"steps\"");
	ck_issue("/steps/1/command/data/w", "unknown step \"ghost\"");
	ck_issue("/steps/1/command/data/x/0",
		 "step \"b\" is not a dependency of \"b\"");
	ck_issue("/steps/1/command/data/y", "unterminated \"${\"");
	ck_issue("/steps/1/command/data/z/zz",
		 "unknown step \"aa\"; did you mean \"a\"?");
	ck_assert_int_eq(issues.n, 11);
}
END_TEST

START_TEST(test_ancestors)
{
	/* a diamond: d may read a, b and c; b may not read c */
	ck_assert_int_eq(
		load_steps(CMD("a", "") ","
			   CMD("b", ", 'needs': ['a'], 'when': {'exists': '${/steps/c}'}") ","
			   CMD("c", ", 'needs': ['a']") ","
			   "{'name': 'd', 'needs': ['b', 'c'], 'command': {'topic': 't',"
			   " 'type': 'd', 'data': ['${/steps/a/x}', '${/steps/b}',"
			   " '${/steps/c}', '${/steps/d}']}, 'success': ['ok'],"
			   " 'compensation': {'topic': 't', 'type': 'u', 'success': ['ok2'],"
			   "   'data': ['${/steps/d/id}', '${/steps/a}', '${/steps/e}']}},"
			   CMD("e", ", 'needs': ['d']")),
		ORC_INVALID);
	ck_issue("/steps/1/when/exists", "step \"c\" is not a dependency of \"b\"");
	ck_issue("/steps/3/command/data/3", "step \"d\" is not a dependency of \"d\"");
	ck_issue("/steps/3/compensation/data/2",
		 "step \"e\" is not a dependency of \"d\"");
	ck_assert_int_eq(issues.n, 3);
}
END_TEST

START_TEST(test_no_ancestor_check_after_unknown_need)
{
	/* b's needs did not resolve, so its ancestry is unknown: no guess */
	ck_assert_int_eq(load_steps(CMD("a", "") ","
				    "{'name': 'b', 'needs': ['aa'], 'command': {'topic': 't',"
				    " 'type': 'b', 'data': '${/steps/a}'}, 'success': ['ok']}"),
			 ORC_INVALID);
	ck_only_issue("/steps/1/needs/0", "unknown step \"aa\"; did you mean \"a\"?");
}
END_TEST

START_TEST(test_conditions)
{
	ck_assert_int_eq(
		load_steps(CMD("a", "") ","
			   CMD("b", ", 'needs': ['a'], 'when': {'all': ["
				    "{'eq': ['${/input/x}', 1]}, {'ne': [1, 2]},"
				    "{'lt': ['a', 'b']}, {'le': [1, 2]}, {'gt': [2, 1]},"
				    "{'ge': [2, 2]}, {'in': ['${/steps/a/x}', [1, '${/saga/key}']]},"
				    "{'in': [1, '${/input/list}']},"
				    "{'exists': '${/steps/a}'}, {'any': [true, false]},"
				    "{'not': {'eq': [{'k': '${/input/y}'}, null]}}]}")),
		ORC_OK);
	ck_assert_int_eq(load_steps(CMD("a", ", 'when': false")), ORC_OK);

	ck_assert_int_eq(
		load_steps(CMD("a", "") ","
			   CMD("b", ", 'needs': ['a'], 'when': {'any': ["
				    "{'gte': [1, 2]}, {'eq': [1, 2, 3]}, {'ne': 5},"
				    "{'in': [1]}, {'in': [1, 'x']}, {'exists': '/input/x'},"
				    "{'exists': 3}, {'all': []}, {'not': {'matches': 1}},"
				    "{}, {'eq': [1, 1], 'ne': [1, 2]}, 'yes',"
				    "{'eq': ['${/nope}', '${/steps/zz}']}]}")),
		ORC_INVALID);
	ck_issue("/steps/1/when/any/0", "unknown condition operator \"gte\"");
	ck_issue("/steps/1/when/any/1/eq", "expects 2 operands");
	ck_issue("/steps/1/when/any/2/ne", "expected array");
	ck_issue("/steps/1/when/any/3/in", "expects 2 operands");
	ck_issue("/steps/1/when/any/4/in/1", "expected array");
	ck_issue("/steps/1/when/any/5/exists", "expected a reference");
	ck_issue("/steps/1/when/any/6/exists", "expected string");
	ck_issue("/steps/1/when/any/7/all", "must not be empty");
	ck_issue("/steps/1/when/any/8/not", "unknown condition operator \"matches\"");
	ck_issue("/steps/1/when/any/9", "condition must have exactly one operator");
	ck_issue("/steps/1/when/any/10", "condition must have exactly one operator");
	ck_issue("/steps/1/when/any/11", "expected boolean or object");
	ck_issue("/steps/1/when/any/12/eq/0", "unknown context root \"nope\"");
	ck_issue("/steps/1/when/any/12/eq/1", "unknown step \"zz\"");
	ck_assert_int_eq(issues.n, 14);

	ck_assert_int_eq(load_steps(CMD("a", ", 'when': 'true'")), ORC_INVALID);
	ck_only_issue("/steps/0/when", "expected boolean or object");
	/* a condition on a step with no kind is still checked */
	ck_assert_int_eq(load_steps("{'name': 'a', 'when': {'is': 1}}"), ORC_INVALID);
	ck_issue("/steps/0/when", "unknown condition operator \"is\"");
	ck_assert_int_eq(issues.n, 2);
}
END_TEST

/* ---- map steps ---- */

/* A map step named m over `map`, needing a, with data templates. */
#define MAP(map, data, comp_data)                                         \
	CMD("a", "") ","                                                  \
	"{'name': 'm', 'needs': ['a'], 'map': " map ","                    \
	" 'command': {'topic': 't', 'type': 'm.do', 'data': " data "},"    \
	" 'success': ['m.ok'], 'compensation': {'topic': 't', 'type': 'm.undo'," \
	" 'success': ['m.undone'], 'data': " comp_data "}}"

START_TEST(test_map_fields)
{
	const struct orc_map_def *m;

	ck_assert_int_eq(load_steps(MAP("{'items': '${/steps/a/lines}',"
					" 'max_concurrency': 25, 'min_success': 0.9}",
					"{'sku': '${/item/sku}', 'n': '${/index}',"
					" 'all': '${/item}', 'o': '${/input/order}',"
					" 'text': 'line ${/index} of ${/saga/key}'}",
					"{'sku': '${/item/sku}', 'i': '${/index}',"
					" 'r': '${/steps/m/id}'}")),
			 ORC_OK);
	ck_loaded();
	ck_assert(!def->steps[0].has_map);
	ck_assert(def->steps[1].has_map);
	ck_assert_int_eq(def->steps[1].kind, ORC_STEP_COMMAND);
	m = &def->steps[1].map;
	ck_assert_str_eq(m->items, "/steps/a/lines"); /* without ${ } */
	ck_assert_int_eq(m->concurrency, 25);
	ck_assert_ptr_null(m->concurrency_from);
	ck_assert_int_eq(m->min_success, 0);
	ck_assert(m->min_fraction == 0.9);
}
END_TEST

START_TEST(test_map_defaults_and_counts)
{
	const struct orc_map_def *m;

	ck_assert_int_eq(load_steps(MAP("{'items': '${/input/items}'}", "{}", "{}")),
			 ORC_OK);
	m = &def->steps[1].map;
	ck_assert_str_eq(m->items, "/input/items");
	ck_assert_int_eq(m->concurrency, ORC_MAP_CONCURRENCY_DEFAULT);
	ck_assert_int_eq(m->concurrency, 10);
	ck_assert_ptr_null(m->concurrency_from);
	ck_assert_int_eq(m->min_success, 0); /* all of them */
	ck_assert(m->min_fraction == 1.0);

	/* an integer is a count, 1 included; 1.0 is the fraction "all" */
	ck_assert_int_eq(load_steps(MAP("{'items': '${/input/items}', 'min_success': 3,"
					" 'max_concurrency': 1}", "{}", "{}")),
			 ORC_OK);
	ck_assert_int_eq(def->steps[1].map.min_success, 3);
	ck_assert(def->steps[1].map.min_fraction == 1.0);
	ck_assert_int_eq(def->steps[1].map.concurrency, 1);
	ck_assert_int_eq(load_steps(MAP("{'items': '${/input/items}', 'min_success': 1,"
					" 'max_concurrency': 1000}", "{}", "{}")),
			 ORC_OK);
	ck_assert_int_eq(def->steps[1].map.min_success, 1);
	ck_assert_int_eq(def->steps[1].map.concurrency, ORC_MAP_CONCURRENCY_MAX);
	ck_assert_int_eq(load_steps(MAP("{'items': '${/input/items}',"
					" 'min_success': 1.0}", "{}", "{}")),
			 ORC_OK);
	ck_assert_int_eq(def->steps[1].map.min_success, 0);
	ck_assert(def->steps[1].map.min_fraction == 1.0);
	ck_assert_int_eq(load_steps(MAP("{'items': '${/input/items}',"
					" 'min_success': 0.001}", "{}", "{}")),
			 ORC_OK);
	ck_assert(def->steps[1].map.min_fraction == 0.001);

	/* max_concurrency from the context */
	ck_assert_int_eq(load_steps(MAP("{'items': '${/input/items}',"
					" 'max_concurrency': '${/steps/a/lanes}'}",
					"{}", "{}")),
			 ORC_OK);
	m = &def->steps[1].map;
	ck_assert_str_eq(m->concurrency_from, "/steps/a/lanes");
	ck_assert_int_eq(m->concurrency, ORC_MAP_CONCURRENCY_DEFAULT);
}
END_TEST

START_TEST(test_map_shape_errors)
{
	ck_assert_int_eq(load_steps("{'name': 'w', 'wait': {'topic': 't', 'type': 'u',"
				    " 'key': '/k'}, 'map': {'items': '${/input/x}'}}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0/map", "only command steps can have \"map\"");
	ck_assert_int_eq(load_steps("{'name': 'd', 'delay': '1s',"
				    " 'map': {'items': '${/input/x}'}}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0/map", "only command steps can have \"map\"");
	/* "map" is not a kind: alone it is no step */
	ck_assert_int_eq(load_steps("{'name': 'x', 'map': {'items': '${/input/x}'}}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0", "step must have exactly one of");

	ck_assert_int_eq(load_steps(CMD("m", ", 'map': []")), ORC_INVALID);
	ck_only_issue("/steps/0/map", "expected object");
	ck_assert_int_eq(load_steps(CMD("m", ", 'map': {'max_concurrency': 2,"
					     " 'concurrency': 3}")),
			 ORC_INVALID);
	ck_issue("/steps/0/map", "missing required property \"items\"");
	ck_issue("/steps/0/map/concurrency", "unknown property \"concurrency\"");
	ck_assert_int_eq(issues.n, 2);

	ck_assert_int_eq(load_steps(CMD("m", ", 'map': {'items': ['${/input/x}']}")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/map/items", "expected string");
	ck_assert_int_eq(load_steps(CMD("m", ", 'map': {'items': '/input/x'}")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/map/items", "expected a reference \"${/pointer}\"");
	ck_assert_int_eq(load_steps(CMD("m", ", 'map': {'items': 'all ${/input/x}'}")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/map/items", "expected a reference \"${/pointer}\"");

	/* max_concurrency: 1..1000 or a reference */
	static const char *const bad_concurrency[] = {
		"0", "1001", "-3", "2.5", "10.0", "true", "null", "'ten'",
		"'${/input/n} lanes'", "[10]",
	};
	for (size_t i = 0; i < sizeof(bad_concurrency) / sizeof(*bad_concurrency);
	     i++) {
		char step[256];

		snprintf(step, sizeof(step),
			 CMD("m", ", 'map': {'items': '${/input/x}',"
				  " 'max_concurrency': %s}"),
			 bad_concurrency[i]);
		ck_assert_int_eq(load_steps(step), ORC_INVALID);
		ck_only_issue("/steps/0/map/max_concurrency",
			      "must be an integer from 1 to 1000, or a reference");
	}

	/* min_success: a count >= 1, or a fraction in (0, 1] */
	static const char *const bad_min[] = {
		"0", "-1", "0.0", "-0.5", "1.5", "2.0", "'x'", "'90%'", "true",
		"null", "'${/input/n}'",
	};
	for (size_t i = 0; i < sizeof(bad_min) / sizeof(*bad_min); i++) {
		char step[256];

		snprintf(step, sizeof(step),
			 CMD("m", ", 'map': {'items': '${/input/x}',"
				  " 'min_success': %s}"),
			 bad_min[i]);
		ck_assert_int_eq(load_steps(step), ORC_INVALID);
		ck_only_issue("/steps/0/map/min_success",
			      "must be a count (an integer, at least 1) or a "
			      "fraction (more than 0, at most 1)");
	}
	ck_assert_int_eq(load_steps(CMD("m", ", 'map': {'items': '${/input/x}',"
					     " 'min_success': 100001}")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/map/min_success", "must be at most 100000");
}
END_TEST

START_TEST(test_map_pointers)
{
	/* items and max_concurrency: the step's roots and its ancestors */
	ck_assert_int_eq(load_steps(CMD("a", "") "," CMD("b", "") ","
				    CMD("m", ", 'needs': ['a'], 'map': {"
					     "'items': '${/steps/b/lines}',"
					     " 'max_concurrency': '${/steps/m/n}'}")),
			 ORC_INVALID);
	ck_issue("/steps/2/map/items", "step \"b\" is not a dependency of \"m\"");
	ck_issue("/steps/2/map/max_concurrency",
		 "step \"m\" is not a dependency of \"m\"");
	ck_assert_int_eq(issues.n, 2);
	ck_assert_int_eq(load_steps(CMD("m", ", 'map': {'items': '${/nope/x}',"
					     " 'max_concurrency': '${input}'}")),
			 ORC_INVALID);
	ck_issue("/steps/0/map/items", "unknown context root \"nope\"");
	ck_issue("/steps/0/map/max_concurrency", "invalid JSON pointer");
	ck_assert_int_eq(issues.n, 2);
	/* no item exists yet when the array is read */
	ck_assert_int_eq(load_steps(CMD("m", ", 'map': {'items': '${/item/x}',"
					     " 'max_concurrency': '${/index}'}")),
			 ORC_INVALID);
	ck_issue("/steps/0/map/items", "unknown context root \"item\"");
	ck_issue("/steps/0/map/max_concurrency", "unknown context root \"index\"");
	ck_assert_int_eq(issues.n, 2);

	/* /item and /index outside a map step's data */
	ck_assert_int_eq(load_steps(TWO("{'sku': '${/item/sku}', 'n': 'at ${/index}'}")),
			 ORC_INVALID);
	ck_issue("/steps/1/command/data/sku",
		 "unknown context root \"item\"; /item and /index exist only "
		 "in the data of a map step");
	ck_issue("/steps/1/command/data/n",
		 "unknown context root \"index\"; /item and /index exist only");
	ck_assert_int_eq(issues.n, 2);
	ck_assert_int_eq(load_steps(CMD("a", ", 'compensation': {'topic': 't',"
					     " 'type': 'u', 'success': ['ok'],"
					     " 'data': ['${/item}']}")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/compensation/data/0", "exist only in the data of a map step");
	/* ... and in a map step's condition, read before any item */
	ck_assert_int_eq(load_steps(CMD("m", ", 'when': {'exists': '${/item}'},"
					     " 'map': {'items': '${/input/x}'}")),
			 ORC_INVALID);
	ck_only_issue("/steps/0/when/exists", "unknown context root \"item\"");
	ck_assert_int_eq(load(
		"{'name': 'o', 'version': 1, 'trigger': {'topic': 't', 'type': 'u',"
		" 'key': '/k'}, 'output': {'i': '${/index}'}, 'steps': ["
		CMD("m", ", 'map': {'items': '${/input/x}'}") "]}"),
		ORC_INVALID);
	ck_only_issue("/output/i", "unknown context root \"index\"");

	/* in a map step: /index is a number, /item anything */
	ck_assert_int_eq(load_steps(MAP("{'items': '${/input/x}'}",
					"{'a': '${/index/0}', 'b': '${/item/~0/0/x}',"
					" 'c': '${/steps/zz}'}",
					"{'d': '${/index/x}', 'e': '${/steps/m}'}")),
			 ORC_INVALID);
	ck_issue("/steps/1/command/data/a", "/index is a number; it has no members");
	ck_issue("/steps/1/command/data/c", "unknown step \"zz\"");
	ck_issue("/steps/1/compensation/data/d", "/index is a number");
	ck_assert_int_eq(issues.n, 3);
}
END_TEST

/* ---- saga steps ---- */

/* A saga step named p over the child object `child`, needing a. */
#define CHILD(child, extra)                                               \
	CMD("a", "") ","                                                  \
	"{'name': 'p', 'needs': ['a'], 'saga': " child extra "}"

START_TEST(test_saga_fields)
{
	const struct orc_step_def *st;

	ck_assert_int_eq(load_steps(CHILD("{'definition': 'payment', 'version': 2,"
					  " 'key': 'pay-${/input/order}-${/steps/a/n}',"
					  " 'data': {'order': '${/input/order}',"
					  " 'lines': ['${/steps/a/lines}', 3]}}",
					  ", 'timeout': '10m', 'description': 'pay',"
					  " 'when': {'exists': '${/steps/a/n}'}")),
			 ORC_OK);
	ck_loaded();
	st = &def->steps[1];
	ck_assert_int_eq(st->kind, ORC_STEP_SAGA);
	ck_assert_str_eq(orc_step_kind_name(st->kind), "saga");
	ck_assert_str_eq(st->child.definition, "payment");
	ck_assert_int_eq(st->child.version, 2);
	ck_assert_int_eq(st->timeout_ms, 10 * 60 * 1000);
	/* borrowed from the body, as written */
	ck_assert_ptr_eq(st->child.key,
			 json_object_get(json_object_get(json_array_get(
				 json_object_get(def->body, "steps"), 1), "saga"),
					 "key"));
	ck_assert_str_eq(json_string_value(st->child.key),
			 "pay-${/input/order}-${/steps/a/n}");
	ck_assert(json_is_object(st->child.data));
	ck_assert_str_eq(json_string_value(json_object_get(st->child.data, "order")),
			 "${/input/order}");
	ck_assert(!st->has_compensation && !st->has_map && !st->has_retry);
	ck_assert_int_eq(st->retry.max_attempts, 1);
	ck_assert_int_eq(st->n_needs, 1);
}
END_TEST

START_TEST(test_saga_defaults)
{
	const struct orc_step_def *st;

	ck_assert_int_eq(load_steps(CHILD("{'definition': 'payment'}", "")), ORC_OK);
	st = &def->steps[1];
	ck_assert_int_eq(st->kind, ORC_STEP_SAGA);
	ck_assert_str_eq(st->child.definition, "payment");
	ck_assert_int_eq(st->child.version, 0); /* the latest */
	ck_assert_ptr_null(st->child.key);      /* <parent key>/p */
	ck_assert_ptr_null(st->child.data);     /* the parent's /input */
	ck_assert_int_eq(st->timeout_ms, 0);

	/* any JSON is a data template, a plain string included */
	ck_assert_int_eq(load_steps(CHILD("{'definition': 'payment',"
					  " 'data': '${/input}'}", "")), ORC_OK);
	ck_assert_str_eq(json_string_value(def->steps[1].child.data), "${/input}");
	ck_assert_int_eq(load_steps(CHILD("{'definition': 'payment', 'data': [1, null]}",
					  "")), ORC_OK);
	ck_assert(json_is_array(def->steps[1].child.data));
	/* a key with no reference is a constant */
	ck_assert_int_eq(load_steps(CHILD("{'definition': 'payment', 'key': 'fixed'}",
					  "")), ORC_OK);
	ck_assert_str_eq(json_string_value(def->steps[1].child.key), "fixed");
}
END_TEST

START_TEST(test_saga_shape_errors)
{
	const char *kinds = "step must have exactly one of \"command\", "
			    "\"wait\", \"delay\", \"saga\"";

	ck_assert_int_eq(load_steps("{'name': 'p', 'saga': {'definition': 'x'},"
				    " 'delay': '1s'}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0", kinds);
	ck_assert_int_eq(load_steps(CMD("p", ", 'saga': {'definition': 'x'}")),
			 ORC_INVALID);
	ck_only_issue("/steps/0", kinds);

	/* a command step's members, timeout aside */
	ck_assert_int_eq(load_steps("{'name': 'p', 'saga': {'definition': 'x'},"
				    " 'success': ['x'], 'failure': ['y'],"
				    " 'timeout': '1s', 'retry': {}, 'compensation': {},"
				    " 'map': {'items': '${/input/x}'}}"),
			 ORC_INVALID);
	ck_issue("/steps/0/success", "only command steps can have \"success\"");
	ck_issue("/steps/0/failure", "only command steps can have \"failure\"");
	ck_issue("/steps/0/retry", "only command steps can have \"retry\"");
	ck_issue("/steps/0/compensation",
		 "only command steps can have \"compensation\"");
	ck_issue("/steps/0/map", "only command steps can have \"map\"");
	ck_assert_int_eq(issues.n, 5);
	ck_assert_int_eq(load_steps("{'name': 'p', 'saga': {'definition': 'x'},"
				    " 'timeout': 'soon'}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0/timeout", "invalid duration");

	ck_assert_int_eq(load_steps("{'name': 'p', 'saga': 'payment'}"), ORC_INVALID);
	ck_only_issue("/steps/0/saga", "expected object");
	ck_assert_int_eq(load_steps("{'name': 'p', 'saga': {'version': 1,"
				    " 'name': 'payment'}}"),
			 ORC_INVALID);
	ck_issue("/steps/0/saga", "missing required property \"definition\"");
	ck_issue("/steps/0/saga/name", "unknown property \"name\"");
	ck_assert_int_eq(issues.n, 2);
	ck_assert_int_eq(load_steps("{'name': 'p', 'saga': {'definition': 'Pay ment'}}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0/saga/definition", "invalid name");
	ck_assert_int_eq(load_steps("{'name': 'p', 'saga': {'definition': 7}}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0/saga/definition", "expected string");

	static const char *const bad_version[] = {"0", "-1"};
	for (size_t i = 0; i < 2; i++) {
		char step[256];

		snprintf(step, sizeof(step),
			 "{'name': 'p', 'saga': {'definition': 'x', 'version': %s}}",
			 bad_version[i]);
		ck_assert_int_eq(load_steps(step), ORC_INVALID);
		ck_only_issue("/steps/0/saga/version", "must be at least 1");
	}
	ck_assert_int_eq(load_steps("{'name': 'p', 'saga': {'definition': 'x',"
				    " 'version': '2'}}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0/saga/version", "expected integer");
	ck_assert_int_eq(load_steps("{'name': 'p', 'saga': {'definition': 'x',"
				    " 'key': {'k': 1}}}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0/saga/key", "expected string");
	ck_assert_int_eq(load_steps("{'name': 'p', 'saga': {'definition': 'x',"
				    " 'key': ''}}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0/saga/key", "must not be empty");
}
END_TEST

START_TEST(test_saga_pointers)
{
	/* key and data: the step's ancestors and the known roots */
	ck_assert_int_eq(load_steps(CMD("a", "") "," CMD("b", "") ","
				    "{'name': 'p', 'needs': ['a'], 'saga': {"
				    "'definition': 'x', 'key': 'k-${/steps/b/id}',"
				    " 'data': {'n': ['${/steps/p/x}', '${/nope}'],"
				    " 'ok': '${/steps/a/x} ${/saga/key}'}}}"),
			 ORC_INVALID);
	ck_issue("/steps/2/saga/key", "step \"b\" is not a dependency of \"p\"");
	ck_issue("/steps/2/saga/data/n/0", "step \"p\" is not a dependency of \"p\"");
	ck_issue("/steps/2/saga/data/n/1", "unknown context root \"nope\"");
	ck_assert_int_eq(issues.n, 3);
	ck_assert_int_eq(load_steps("{'name': 'p', 'saga': {'definition': 'x',"
				    " 'key': 'k-${/input/id', 'data': '${input}'}}"),
			 ORC_INVALID);
	ck_issue("/steps/0/saga/key", "unterminated \"${\"");
	ck_issue("/steps/0/saga/data", "invalid JSON pointer");
	ck_assert_int_eq(issues.n, 2);
	/* /item and /index belong to map steps */
	ck_assert_int_eq(load_steps("{'name': 'p', 'saga': {'definition': 'x',"
				    " 'key': '${/item/id}'}}"),
			 ORC_INVALID);
	ck_only_issue("/steps/0/saga/key", "unknown context root \"item\"");
	/* a later step reads the child's output under /steps/p */
	ck_assert_int_eq(load_steps("{'name': 'p', 'saga': {'definition': 'x'}},"
				    "{'name': 'q', 'needs': ['p'], 'command': {'topic': 't',"
				    " 'type': 'q.do', 'data': {'r': '${/steps/p/receipt}'}},"
				    " 'success': ['q.ok']}"),
			 ORC_OK);
}
END_TEST

/* ---- everything at once ---- */

START_TEST(test_all_errors_at_once)
{
	ck_assert_int_eq(
		load("{'name': 'Bad Name', 'version': 0, 'colour': 1,"
		     " 'trigger': {'topic': 'o', 'type': 'p', 'key': 'nope'},"
		     " 'steps': ["
		     CMD("charge", ", 'failure': ['charge.done']") ","
		     "{'name': 'ship', 'needs': ['chrage'], 'delay': '5 s',"
		     " 'retry': {}},"
		     CMD("charge", "") ","
		     "{'name': 'x', 'command': {'topic': 't', 'type': 'x',"
		     "  'data': '${/steps/ship}'}, 'success': ['x.ok'],"
		     "  'when': {'eq': [1]}}"
		     "]}"),
		ORC_INVALID);
	ck_issue("/name", "invalid name");
	ck_issue("/version", "must be at least 1");
	ck_issue("/colour", "unknown property \"colour\"");
	ck_issue("/trigger/key", "invalid JSON pointer");
	ck_issue("/steps/0/failure/0", "listed in both \"success\" and \"failure\"");
	ck_issue("/steps/1/retry", "only command steps can have \"retry\"");
	ck_issue("/steps/1/delay", "invalid duration");
	ck_issue("/steps/1/needs/0", "unknown step \"chrage\"; did you mean \"charge\"?");
	ck_issue("/steps/2/name", "duplicate step name \"charge\"");
	ck_issue("/steps/3/when/eq", "expects 2 operands");
	ck_issue("/steps/3/command/data", "step \"ship\" is not a dependency of \"x\"");
	ck_assert_int_eq(issues.n, 11);
}
END_TEST

START_TEST(test_issues_are_appended)
{
	json_t *body = J("{'name': 'x'}");
	struct orc_definition_issue *v = calloc(1, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	v[0].pointer = strdup("/earlier");
	v[0].message = strdup("from before");
	issues.v = v;
	issues.n = 1;
	ck_assert_int_eq(orc_definition_from_json(body, &def, &issues), ORC_INVALID);
	ck_assert_ptr_null(def);
	ck_assert_str_eq(issues.v[0].pointer, "/earlier");
	ck_assert_int_eq(issues.n, 4);
	ck_assert_str_eq(issues.v[1].message, "missing required property \"version\"");
	json_decref(body);

	/* NULL issues: still reports invalid */
	body = J("{'name': 'x'}");
	ck_assert_int_eq(orc_definition_from_json(body, &def, NULL), ORC_INVALID);
	json_decref(body);
}
END_TEST

START_TEST(test_definition_keeps_body)
{
	json_t *body = J(full);

	ck_assert_int_eq(orc_definition_from_json(body, &def, &issues), ORC_OK);
	ck_assert_ptr_eq(def->body, body);
	ck_assert_int_eq(body->refcount, 2);
	json_decref(body);
	/* still usable after the caller dropped its reference */
	ck_assert_str_eq(json_string_value(json_object_get(def->body, "name")),
			 "orders");
}
END_TEST

/* ---- files ---- */

static char *
write_temp(const char *content)
{
	char *path = strdup("/tmp/orc_test_definition_XXXXXX");
	int fd;

	ck_assert_ptr_nonnull(path);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

START_TEST(test_load_file)
{
	struct orc_error err;
	char *path;

	path = write_temp("{\"name\": \"f\", \"version\": 1, \"trigger\":"
			  " {\"topic\": \"a\", \"type\": \"b\", \"key\": \"/k\"},"
			  " \"steps\": [{\"name\": \"d\", \"delay\": \"1s\"}]}");
	ck_assert_int_eq(orc_definition_load_file(path, &def, &issues, &err), ORC_OK);
	ck_assert_str_eq(def->name, "f");
	unlink(path);
	free(path);
	orc_definition_destroy(def);
	def = NULL;

	path = write_temp("{\"name\": \"f\",\n  \"version\" 1}");
	ck_assert_int_eq(orc_definition_load_file(path, &def, &issues, &err),
			 ORC_INVALID);
	ck_assert_ptr_null(def);
	ck_assert_int_eq(issues.n, 1);
	ck_assert_str_eq(issues.v[0].pointer, "");
	ck_assert_msg(strncmp(issues.v[0].message, "line 2 column ", 14) == 0,
		      "%s", issues.v[0].message);
	ck_assert(strstr(issues.v[0].message, "':' expected") != NULL);
	unlink(path);
	free(path);
	orc_definition_issues_finish(&issues);

	/* duplicate keys are an error, not "last one wins" */
	path = write_temp("{\"name\": \"f\", \"name\": \"g\"}");
	ck_assert_int_eq(orc_definition_load_file(path, &def, &issues, &err),
			 ORC_INVALID);
	ck_assert(strstr(issues.v[0].message, "line 1 column") != NULL);
	ck_assert(strstr(issues.v[0].message, "duplicate object key") != NULL);
	unlink(path);
	free(path);
	orc_definition_issues_finish(&issues);

	/* invalid content: issues from the checker */
	path = write_temp("{\"name\": \"f\"}");
	ck_assert_int_eq(orc_definition_load_file(path, &def, &issues, &err),
			 ORC_INVALID);
	ck_assert_int_eq(issues.n, 3);
	unlink(path);
	free(path);
	orc_definition_issues_finish(&issues);

	ck_assert_int_eq(orc_definition_load_file("/nonexistent/x.json", &def,
						  &issues, &err),
			 ORC_NOT_FOUND);
	ck_assert_int_eq(err.status, ORC_NOT_FOUND);
	ck_assert(strstr(err.message, "No such file") != NULL);
	ck_assert_int_eq(issues.n, 0);
	ck_assert_int_eq(orc_definition_load_file("/tmp", &def, &issues, &err),
			 ORC_NOT_FOUND);
	ck_assert_ptr_null(def);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("definition");
	TCase *basics = tcase_create("basics");
	TCase *shape = tcase_create("shape");
	TCase *graph = tcase_create("graph");
	TCase *expr = tcase_create("expressions");
	TCase *map = tcase_create("map");
	TCase *child = tcase_create("saga");
	TCase *whole = tcase_create("whole");

	tcase_add_checked_fixture(basics, setup, teardown);
	tcase_add_test(basics, test_duration_parse);
	tcase_add_test(basics, test_backoff);
	tcase_add_test(basics, test_small_helpers);
	tcase_add_test(basics, test_valid_full);
	tcase_add_test(basics, test_depends_on);
	tcase_add_test(basics, test_depends_on_many_steps);
	tcase_add_test(basics, test_depends_on_hand_built);
	tcase_add_test(basics, test_steps_out_of_order_and_wait_default);
	suite_add_tcase(s, basics);

	tcase_add_checked_fixture(shape, setup, teardown);
	tcase_add_test(shape, test_missing_required_top);
	tcase_add_test(shape, test_not_an_object);
	tcase_add_test(shape, test_top_types_and_values);
	tcase_add_test(shape, test_retention);
	tcase_add_test(shape, test_names);
	tcase_add_test(shape, test_trigger);
	tcase_add_test(shape, test_key_reuse);
	tcase_add_test(shape, test_wait_early_ttl);
	tcase_add_test(shape, test_step_shape);
	tcase_add_test(shape, test_step_kinds);
	tcase_add_test(shape, test_command);
	tcase_add_test(shape, test_success_failure_overlap);
	tcase_add_test(shape, test_retry);
	tcase_add_test(shape, test_retry_never_fires_and_on);
	tcase_add_test(shape, test_compensation);
	tcase_add_test(shape, test_wait);
	tcase_add_test(shape, test_delay);
	tcase_add_test(shape, test_only_command_steps);
	suite_add_tcase(s, shape);

	tcase_add_checked_fixture(graph, setup, teardown);
	tcase_add_test(graph, test_duplicate_step_name);
	tcase_add_test(graph, test_needs);
	tcase_add_test(graph, test_did_you_mean_distance);
	tcase_add_test(graph, test_cycles);
	tcase_add_test(graph, test_unreachable);
	tcase_add_test(graph, test_no_cycle_check_with_unknown_needs);
	suite_add_tcase(s, graph);

	tcase_add_checked_fixture(expr, setup, teardown);
	tcase_add_test(expr, test_template_pointers);
	tcase_add_test(expr, test_ancestors);
	tcase_add_test(expr, test_no_ancestor_check_after_unknown_need);
	tcase_add_test(expr, test_conditions);
	suite_add_tcase(s, expr);

	tcase_add_checked_fixture(map, setup, teardown);
	tcase_add_test(map, test_map_fields);
	tcase_add_test(map, test_map_defaults_and_counts);
	tcase_add_test(map, test_map_shape_errors);
	tcase_add_test(map, test_map_pointers);
	suite_add_tcase(s, map);

	tcase_add_checked_fixture(child, setup, teardown);
	tcase_add_test(child, test_saga_fields);
	tcase_add_test(child, test_saga_defaults);
	tcase_add_test(child, test_saga_shape_errors);
	tcase_add_test(child, test_saga_pointers);
	suite_add_tcase(s, child);

	tcase_add_checked_fixture(whole, setup, teardown);
	tcase_add_test(whole, test_all_errors_at_once);
	tcase_add_test(whole, test_issues_are_appended);
	tcase_add_test(whole, test_definition_keeps_body);
	tcase_add_test(whole, test_load_file);
	suite_add_tcase(s, whole);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
