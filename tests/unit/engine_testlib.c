/*
 * engine_testlib.c - the engine suites' shared helpers (see the header).
 */
#include "engine_testlib.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonp.h"
#include "saga_row.h"
#include "strbuf.h"

#define RELOAD_STEPS_MAX 16

/*
 * A map step's counters and its item rows, in the order the saga holds
 * them: a new reference, NULL for a step without map state.
 */
static json_t *
map_json(const struct orc_saga *saga, size_t i, const struct orc_map_row *mr)
{
	json_t *items;

	if (!mr->has)
		return NULL;
	items = json_array();
	ck_assert_ptr_nonnull(items);
	for (size_t k = 0; k < saga->steps[i].map->n; k++) {
		struct orc_item_row ir;

		orc_saga_item_to_row(saga, i, k, &ir);
		ck_assert_int_eq(
			json_array_append_new(
				items,
				json_pack("{s:I,s:s,s:i,s:i,s:i,s:i,s:I,s:I,s:I,"
					  "s:s,s:I,s:s?,s:O?,s:O?}",
					  "index", (json_int_t)ir.index,
					  "status", ir.status, "attempt",
					  ir.attempt, "attempt_base",
					  ir.attempt_base, "comp_attempt",
					  ir.comp_attempt, "comp_attempt_base",
					  ir.comp_attempt_base, "started_ms",
					  (json_int_t)ir.started_ms,
					  "finished_ms",
					  (json_int_t)ir.finished_ms, "wake_ms",
					  (json_int_t)ir.wake_ms, "wake_reason",
					  ir.wake_reason, "completed_seq",
					  (json_int_t)ir.completed_seq,
					  "last_error", ir.last_error, "output",
					  ir.output, "replies", ir.replies)),
			0);
	}
	return json_pack("{s:I,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:o}", "items",
			 (json_int_t)mr->items, "concurrency", mr->concurrency,
			 "min_success", (json_int_t)mr->min_success, "started",
			 (json_int_t)mr->started, "succeeded",
			 (json_int_t)mr->succeeded, "failed",
			 (json_int_t)mr->failed, "compensated",
			 (json_int_t)mr->compensated, "last_seq",
			 (json_int_t)mr->last_seq, "run", mr->run, "rows",
			 items);
}

/* The rows of saga as one document: a new reference. */
static json_t *
state_json(const struct orc_saga *saga)
{
	struct orc_saga_row row;
	json_t *doc, *steps = json_array();

	ck_assert_int_eq(orc_saga_to_row(saga, &row), ORC_OK);
	for (size_t i = 0; i < saga->n_steps; i++) {
		struct orc_step_row sr;

		orc_saga_step_to_row(saga, i, &sr);
		json_array_append_new(
			steps,
			json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:s,"
				  "s:I,s:s?,s:O?,s:O?,s:O?,s:o?}",
				  "name", sr.name, "status", sr.status,
				  "attempt", sr.attempt, "attempt_base",
				  sr.attempt_base, "comp_attempt",
				  sr.comp_attempt, "comp_attempt_base",
				  sr.comp_attempt_base, "started_ms",
				  (json_int_t)sr.started_ms, "finished_ms",
				  (json_int_t)sr.finished_ms, "wake_ms",
				  (json_int_t)sr.wake_ms, "wake_reason",
				  sr.wake_reason, "completed_seq",
				  (json_int_t)sr.completed_seq, "last_error",
				  sr.last_error, "early_event",
				  sr.early_event, "output", sr.output,
				  "replies", sr.replies, "map",
				  map_json(saga, i, &sr.map)));
	}
	doc = json_pack("{s:s?,s:s?,s:s,s:s,s:O?,s:O?,s:I,s:I,s:I,s:I,s:s?,"
			"s:O?,s:I,s:I,s:o}",
			"id", row.id, "key", row.key, "status", row.status,
			"cause", row.cause, "context", row.context,
			"whole_context", saga->context,
			"started_ms", (json_int_t)row.started_ms,
			"deadline_ms", (json_int_t)row.deadline_ms, "wake_ms",
			(json_int_t)row.wake_ms, "seq", (json_int_t)row.seq,
			"failure_reason", row.failure_reason, "output",
			row.output, "lifecycle_seq",
			(json_int_t)row.lifecycle_seq, "paused_ms",
			(json_int_t)row.paused_ms, "steps", steps);
	orc_saga_row_finish(&row);
	ck_assert_ptr_nonnull(doc);
	return doc;
}

char *
orc_et_state_text(const struct orc_saga *saga)
{
	json_t *doc = state_json(saga);
	char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);

	ck_assert_ptr_nonnull(text);
	json_decref(doc);
	return text;
}

/* v (borrowed) dumped and parsed again: a new reference. */
static json_t *
through_text(const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_t *copy;

	ck_assert_ptr_nonnull(text);
	copy = json_loads(text, JSON_DECODE_ANY, NULL);
	ck_assert_ptr_nonnull(copy);
	free(text);
	return copy;
}

/*
 * Every item of map step i of saga as rows, their JSON through text, into
 * fresh (read from the rows) as the store adds them: all, complete.
 */
static enum orc_status
reload_items(const struct orc_saga *saga, struct orc_saga *fresh, size_t i,
	     struct orc_error *err)
{
	const struct orc_map_state *m = saga->steps[i].map;
	struct orc_item_row *rows = calloc(m->n + 1, sizeof(*rows));
	json_t **owned = calloc(2 * m->n + 1, sizeof(*owned));
	enum orc_status status;

	ck_assert(rows != NULL && owned != NULL);
	for (size_t k = 0; k < m->n; k++) {
		orc_saga_item_to_row(saga, i, k, &rows[k]);
		if (rows[k].output != NULL)
			rows[k].output = owned[2 * k] =
				through_text(rows[k].output);
		if (rows[k].replies != NULL)
			rows[k].replies = owned[2 * k + 1] =
				through_text(rows[k].replies);
	}
	status = orc_saga_add_items(fresh, i, rows, m->n, true, err);
	if (status != ORC_OK)
		orc_saga_finish(fresh);
	for (size_t k = 0; k < 2 * m->n; k++)
		json_decref(owned[k]);
	free(owned);
	free(rows);
	return status;
}

char *
orc_et_reload(struct orc_saga *saga)
{
	struct orc_saga_row row;
	struct orc_step_row steps[RELOAD_STEPS_MAX];
	json_t *owned[3 * RELOAD_STEPS_MAX] = {0}, *stored, *output = NULL;
	json_t *open = NULL;
	struct orc_strbuf open_text;
	struct orc_saga fresh;
	struct orc_error err;
	struct orc_strbuf why;
	enum orc_status status;
	size_t n = 0;
	char *before, *after;

	ck_assert_uint_le(saga->n_steps, RELOAD_STEPS_MAX);
	ck_assert_int_eq(orc_saga_to_row(saga, &row), ORC_OK);
	/* as the store does: open steps in the saga row, rows for the rest */
	orc_strbuf_init(&open_text);
	orc_saga_open_steps_put(saga, &open_text);
	ck_assert(!open_text.oom);
	if (open_text.len > 0) {
		json_error_t jerr;

		open = json_loads(open_text.data, 0, &jerr);
		ck_assert_msg(open != NULL, "open steps %s: %s",
			      open_text.data, jerr.text);
	}
	orc_strbuf_finish(&open_text);
	for (size_t i = 0; i < saga->n_steps; i++) {
		struct orc_step_row *s = &steps[n];

		if (orc_saga_step_open(saga, i) ||
		    (!saga->steps[i].changed && !saga->steps[i].has_row))
			continue;
		orc_saga_step_to_row(saga, i, s);
		if (s->early_event != NULL)
			s->early_event = owned[n] = through_text(s->early_event);
		if (s->output != NULL)
			s->output = owned[RELOAD_STEPS_MAX + n] =
				through_text(s->output);
		if (s->replies != NULL)
			s->replies = owned[2 * RELOAD_STEPS_MAX + n] =
				through_text(s->replies);
		n++;
	}
	stored = through_text(row.context);
	if (row.output != NULL)
		output = through_text(row.output);
	orc_saga_row_finish(&row);
	row.context = stored;
	row.output = output;
	row.open_steps = open;
	status = orc_saga_from_rows(&fresh, saga->def, &row, steps, n, &err);
	orc_saga_row_finish(&row);
	for (size_t i = 0; i < 3 * RELOAD_STEPS_MAX; i++)
		json_decref(owned[i]);
	json_decref(output);
	json_decref(open);
	for (size_t i = 0; status == ORC_OK && i < saga->n_steps; i++)
		if (saga->steps[i].map != NULL)
			status = reload_items(saga, &fresh, i, &err);
	orc_strbuf_init(&why);
	if (status != ORC_OK) {
		orc_strbuf_printf(&why, "from rows: %s", err.message);
		ck_assert(!why.oom);
		return orc_strbuf_take(&why);
	}
	before = orc_et_state_text(saga);
	after = orc_et_state_text(&fresh);
	if (strcmp(before, after) != 0)
		orc_strbuf_printf(&why, "rows lose state:\n%s\n%s", before,
				  after);
	free(before);
	free(after);
	ck_assert(!why.oom);
	if (why.len > 0) {
		orc_saga_finish(&fresh);
		return orc_strbuf_take(&why);
	}
	orc_saga_finish(saga);
	*saga = fresh;
	return NULL;
}

/* ---- JSON and definitions in single quotes ---- */

char *
orc_et_unquote(const char *s)
{
	char *d = strdup(s);

	ck_assert_ptr_nonnull(d);
	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

json_t *
orc_et_json(const char *sq)
{
	char *text = orc_et_unquote(sq);
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

	ck_assert_msg(v != NULL, "%s: %s", sq, jerr.text);
	free(text);
	return v;
}

char *
orc_et_dump(const json_t *v)
{
	char *s =
		json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);

	ck_assert_ptr_nonnull(s);
	return s;
}

void
orc_et_expect_json(const json_t *v, const char *want_sq)
{
	json_t *want = orc_et_json(want_sq);
	char *a, *b;

	ck_assert_ptr_nonnull(v);
	a = orc_et_dump(v);
	b = orc_et_dump(want);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	json_decref(want);
}

struct orc_definition *
orc_et_def_json(json_t *body)
{
	struct orc_definition_issues issues = {0};
	struct orc_definition *def = NULL;
	enum orc_status st = orc_definition_from_json(body, &def, &issues);

	for (size_t i = 0; i < issues.n; i++)
		fprintf(stderr, "%s: %s\n", issues.v[i].pointer,
			issues.v[i].message);
	ck_assert_int_eq(st, ORC_OK);
	orc_definition_issues_finish(&issues);
	return def;
}

struct orc_definition *
orc_et_def(const char *sq)
{
	json_t *body = orc_et_json(sq);
	struct orc_definition *def = orc_et_def_json(body);

	json_decref(body);
	return def;
}

/* ---- the rig ---- */

void
orc_et_rig_init(struct orc_et_rig *r, const struct orc_et_setup *setup,
		struct orc_definition *def)
{
	memset(r, 0, sizeof(*r));
	r->def = def;
	r->def_owned = true;
	r->now = setup->now;
	r->saga_id = setup->saga_id;
	r->start_data = setup->start_data;
	r->reload = setup->reload;
	ck_assert_int_eq(orc_saga_init(&r->saga, def), ORC_OK);
	orc_effects_init(&r->fx);
	r->log = json_array();
	ck_assert_ptr_nonnull(r->log);
}

void
orc_et_rig_copy(struct orc_et_rig *c, const struct orc_et_rig *r)
{
	memset(c, 0, sizeof(*c));
	c->def = r->def;
	c->opts = r->opts;
	c->now = r->now;
	c->saga_id = r->saga_id;
	c->start_data = r->start_data;
	c->reload = r->reload;
	c->log = json_array();
	ck_assert_ptr_nonnull(c->log);
	orc_effects_init(&c->fx);
	ck_assert_int_eq(orc_saga_copy(&c->saga, &r->saga), ORC_OK);
}

void
orc_et_rig_finish(struct orc_et_rig *r)
{
	orc_saga_finish(&r->saga);
	orc_effects_finish(&r->fx);
	json_decref(r->log);
	if (r->def_owned)
		orc_definition_destroy(r->def);
}

/* One effect as a summary word into item. */
static void
summary_word(const struct orc_effect *e, char *item, size_t size)
{
	char at[32] = "";

	switch (e->kind) {
	case ORC_EFFECT_COMMAND:
		if (e->item >= 0)
			snprintf(at, sizeof(at), "[%lld]", (long long)e->item);
		snprintf(item, size, "cmd:%s%s/%s/%d", e->step_name, at,
			 orc_command_kind_name(e->command_kind), e->attempt);
		break;
	case ORC_EFFECT_HISTORY: {
		const char *why =
			json_string_value(json_object_get(e->detail, "reason"));
		json_t *n = json_object_get(e->detail, "item");

		if (json_is_integer(n))
			snprintf(at, sizeof(at), "[%lld]",
				 (long long)json_integer_value(n));
		if (strstr(e->history, ".ignored") != NULL)
			snprintf(item, size, "h:%s%s(%s)", e->history, at,
				 why ? why : "?");
		else
			snprintf(item, size, "h:%s%s", e->history, at);
		break;
	}
	case ORC_EFFECT_SAGA_EVENT:
		snprintf(item, size, "ev:%s",
			 orc_saga_status_name(e->saga_status));
		break;
	case ORC_EFFECT_CHILD:
		snprintf(item, size, "child:%s/%s", e->step_name,
			 orc_child_action_name(e->child_action));
		break;
	default:
		snprintf(item, size, "%s", orc_effect_kind_name(e->kind));
		break;
	}
}

/* r->fx as words into r->got; a large map's ends in " ..." when full. */
static void
summarize(struct orc_et_rig *r)
{
	size_t len = 0;

	r->got[0] = '\0';
	for (size_t i = 0; i < r->fx.n; i++) {
		char item[512];

		summary_word(&r->fx.v[i], item, sizeof(item));
		if (len + strlen(item) + 8 >= sizeof(r->got)) {
			strcpy(r->got + len, " ...");
			break;
		}
		len += (size_t)snprintf(r->got + len, sizeof(r->got) - len,
					"%s%s", len ? " " : "", item);
	}
}

enum orc_status
orc_et_apply(struct orc_et_rig *r, const struct orc_engine_input *in)
{
	enum orc_status st;
	json_t *doc;
	char *why;

	orc_error_clear(&r->err);
	st = orc_engine_apply_with(&r->saga, in, &r->opts, r->now, &r->fx,
				   &r->err);
	summarize(r);
	doc = orc_effects_to_json(&r->fx);
	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(json_array_append_new(r->log, doc), 0);
	if (st == ORC_OK && r->reload) {
		why = orc_et_reload(&r->saga);
		ck_assert_msg(why == NULL, "%s", why);
	}
	return st;
}

/* Copy the next word of *s into buf; false at the end. */
static bool
word(const char **s, char *buf, size_t len)
{
	size_t n = 0;

	while (**s == ' ')
		(*s)++;
	if (**s == '\0')
		return false;
	if (**s == '{' || **s == '[' || **s == '\'') {
		/* a JSON argument: the rest */
		n = strlen(*s);
		ck_assert_uint_lt(n, len);
		memcpy(buf, *s, n + 1);
		*s += n;
		return true;
	}
	while ((*s)[n] != '\0' && (*s)[n] != ' ')
		n++;
	ck_assert_uint_lt(n, len);
	memcpy(buf, *s, n);
	buf[n] = '\0';
	*s += n;
	return true;
}

void
orc_et_child_id(const struct orc_et_rig *r, const char *step, const char *which,
		char out[64])
{
	ptrdiff_t i = orc_definition_step_index(r->def, step);
	int attempt;

	if (strcmp(which, "cur") == 0) {
		ck_assert_int_ge(i, 0);
		attempt = r->saga.steps[i].attempt;
	} else if (isdigit((unsigned char)which[0])) {
		attempt = atoi(which);
	} else {
		snprintf(out, 64, "%s", which);
		return;
	}
	orc_child_saga_id(r->saga.id, step, attempt, out);
}

/* The CHILD input's data of "child STEP WHICH STATUS [OUTPUT]": new. */
static json_t *
child_data(const struct orc_et_rig *r, const char **p, char *step,
	   size_t step_len)
{
	char which[128], status[32], output[1024] = "", id[64];
	json_t *data;

	ck_assert(word(p, step, step_len) && word(p, which, sizeof(which)) &&
		  word(p, status, sizeof(status)));
	word(p, output, sizeof(output));
	orc_et_child_id(r, step, which, id);
	data = json_pack(
		"{s:s, s:s, s:o, s:o}", "child", id, "status", status, "output",
		output[0] ? orc_et_json(output) : json_null(), "failure",
		strcmp(status, "completed") == 0 ? json_null()
						 : json_string("boom"));
	ck_assert_ptr_nonnull(data);
	return data;
}

enum orc_status
orc_et_command(struct orc_et_rig *r, const char *cmd)
{
	struct orc_engine_input in = {0};
	char verb[32], id[64], a1[128] = "", a2[128] = "", a3[2048] = "";
	const char *p = cmd;
	enum orc_status st;

	ck_assert_msg(word(&p, verb, sizeof(verb)), "empty command");
	if (strcmp(verb, "start") == 0) {
		in.kind = ORC_INPUT_START;
		in.saga_id = r->saga_id;
		in.event_id = "trigger-1";
		if (!word(&p, a3, sizeof(a3))) {
			ck_assert_uint_lt(strlen(r->start_data), sizeof(a3));
			strcpy(a3, r->start_data);
		}
	} else if (strcmp(verb, "reply") == 0 || strcmp(verb, "replyid") == 0) {
		in.kind = ORC_INPUT_REPLY;
		if (strcmp(verb, "replyid") == 0) {
			ck_assert(word(&p, id, sizeof(id)));
			in.dedup_id = id;
		}
		ck_assert(word(&p, a1, sizeof(a1)) && word(&p, a2, sizeof(a2)));
		word(&p, a3, sizeof(a3));
		in.step = a1;
		in.type = a2;
		in.event_id = "reply-1";
	} else if (strcmp(verb, "event") == 0) {
		in.kind = ORC_INPUT_EVENT;
		ck_assert(word(&p, a1, sizeof(a1)) &&
			  word(&p, a2, sizeof(a2)) && word(&p, a3, sizeof(a3)));
		in.topic = a1;
		in.type = a2;
		in.event_id = "event-1";
	} else if (strcmp(verb, "wake") == 0) {
		ck_assert_msg(r->saga.wake_ms > 0, "wake: no timer");
		r->now = r->saga.wake_ms;
		in.kind = ORC_INPUT_TIMER;
	} else if (strcmp(verb, "timer") == 0) {
		in.kind = ORC_INPUT_TIMER;
	} else if (strcmp(verb, "at") == 0) {
		ck_assert(word(&p, a1, sizeof(a1)));
		r->now = strtoll(a1, NULL, 10);
		return ORC_OK;
	} else if (strcmp(verb, "limit") == 0) {
		ck_assert(word(&p, a1, sizeof(a1)));
		r->opts.max_command_bytes = strtoull(a1, NULL, 10);
		return ORC_OK;
	} else if (strcmp(verb, "cancel") == 0 ||
		   strcmp(verb, "terminate") == 0 ||
		   strcmp(verb, "undo") == 0 || strcmp(verb, "pause") == 0 ||
		   strcmp(verb, "resume") == 0) {
		in.kind = verb[0] == 'c'   ? ORC_INPUT_CANCEL
			  : verb[0] == 't' ? ORC_INPUT_TERMINATE
			  : verb[0] == 'u' ? ORC_INPUT_UNDO
			  : verb[0] == 'p' ? ORC_INPUT_PAUSE
					   : ORC_INPUT_RESUME;
		in.by = "ann@host";
		in.reason = "test";
	} else if (strcmp(verb, "retry") == 0) {
		in.kind = ORC_INPUT_RETRY;
		if (word(&p, a1, sizeof(a1)))
			in.step = a1;
		in.by = "ann@host";
	} else if (strcmp(verb, "skip") == 0 || strcmp(verb, "resolve") == 0) {
		in.kind = verb[0] == 's' ? ORC_INPUT_SKIP : ORC_INPUT_RESOLVE;
		ck_assert(word(&p, a1, sizeof(a1)));
		word(&p, a3, sizeof(a3));
		in.step = a1;
		in.by = "ann@host";
	} else if (strcmp(verb, "patch") == 0) {
		in.kind = ORC_INPUT_PATCH;
		ck_assert(word(&p, a1, sizeof(a1)) && word(&p, a3, sizeof(a3)));
		in.step = strcmp(a1, "input") == 0 ? NULL : a1;
	} else if (strcmp(verb, "child") == 0) {
		in.kind = ORC_INPUT_CHILD;
		in.data = child_data(r, &p, a1, sizeof(a1));
		in.step = a1;
		in.event_id = "request-1";
	} else if (strcmp(verb, "childdata") == 0) {
		in.kind = ORC_INPUT_CHILD;
		ck_assert(word(&p, a1, sizeof(a1)) && word(&p, a3, sizeof(a3)));
		in.step = a1;
	} else {
		ck_abort_msg("unknown command %s", verb);
	}
	if (a3[0] != '\0')
		in.data = orc_et_json(a3);
	st = orc_et_apply(r, &in);
	json_decref(in.data);
	return st;
}

void
orc_et_script(struct orc_et_rig *r, const char *s)
{
	char buf[4096], *save = NULL;

	ck_assert_uint_lt(strlen(s), sizeof(buf));
	strcpy(buf, s);
	for (char *c = strtok_r(buf, ";", &save); c != NULL;
	     c = strtok_r(NULL, ";", &save)) {
		enum orc_status st = orc_et_command(r, c);

		ck_assert_msg(st == ORC_OK, "%s: %s (%s)", c,
			      orc_status_name(st), r->err.message);
	}
}

void
orc_et_expect(struct orc_et_rig *r, const char *cmd, const char *effects)
{
	enum orc_status st = orc_et_command(r, cmd);

	ck_assert_msg(st == ORC_OK, "%s: %s (%s)", cmd, orc_status_name(st),
		      r->err.message);
	ck_assert_msg(strcmp(r->got, effects) == 0, "%s:\n got  %s\n want %s",
		      cmd, r->got, effects);
}

const char *
orc_et_steps(const struct orc_et_rig *r)
{
	static char buf[1024];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->saga.n_steps; i++) {
		len += (size_t)snprintf(
			buf + len, sizeof(buf) - len, "%s%s=%s", len ? " " : "",
			r->saga.def->steps[i].name,
			orc_step_status_name(r->saga.steps[i].status));
		ck_assert_uint_lt(len, sizeof(buf));
	}
	return buf;
}

void
orc_et_expect_status(const struct orc_et_rig *r, const char *saga,
		     const char *steps)
{
	ck_assert_str_eq(orc_saga_status_name(r->saga.status), saga);
	ck_assert_str_eq(orc_et_steps(r), steps);
}

void
orc_et_expect_at(const struct orc_et_rig *r, const char *pointer,
		 const char *want_sq)
{
	const json_t *v = orc_jsonp_get(r->saga.context, pointer);

	ck_assert_msg(v != NULL, "nothing at %s", pointer);
	orc_et_expect_json(v, want_sq);
}

void
orc_et_expect_replayed(const struct orc_et_rig *a, size_t k,
		       const struct orc_et_rig *c)
{
	char *x = orc_et_dump(json_array_get(a->log, k));
	char *y = orc_et_dump(json_array_get(c->log, 0));

	ck_assert_str_eq(x, y);
	free(x);
	free(y);
	x = orc_et_state_text(&a->saga);
	y = orc_et_state_text(&c->saga);
	ck_assert_str_eq(x, y);
	free(x);
	free(y);
}

const json_t *
orc_et_last_detail(const struct orc_et_rig *r, const char *kind)
{
	const json_t *d = NULL;

	for (size_t i = 0; i < r->fx.n; i++)
		if (r->fx.v[i].kind == ORC_EFFECT_HISTORY &&
		    strcmp(r->fx.v[i].history, kind) == 0)
			d = r->fx.v[i].detail;
	ck_assert_msg(d != NULL, "no %s in %s", kind, r->got);
	return d;
}
