/*
 * definition.c - load a saga definition, check all of it, build the graph.
 *
 * The checker is hand-written rather than a generic JSON Schema engine so
 * that every message can say exactly what is wrong, at the JSON Pointer of
 * the bad value, and so that it can go on after an error: a user fixing a
 * definition sees every problem in one run.  It works in three passes over
 * the body:
 *
 *   1. shape: types, required and unknown properties, names, durations,
 *      event type lists, retry policies; fills the struct as it goes;
 *   2. graph: duplicate names, needs resolved to indexes ("did you mean"
 *      within edit distance 2), then - only when every need resolved -
 *      cycles (named, once per strongly connected set) and the steps that
 *      depend on one;
 *   3. expressions: conditions and templates, whose /steps/<name> pointers
 *      must name a step that is sure to have finished first, which needs the
 *      graph of pass 2.
 *
 * A definition is returned only when no issue was found; it is never changed
 * afterwards.  The transitive closure of needs is computed once here, as a
 * bit matrix, so orc_definition_depends_on() is one bit test.
 *
 * This module does no I/O except orc_definition_load_file(), which reads the
 * file it is given.
 */
#include "definition.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "backoff.h"
#include "jsonp.h"

#define DID_YOU_MEAN_MAX 2

/* ---- small public helpers ---- */

const char *
orc_step_kind_name(enum orc_step_kind kind)
{
	switch (kind) {
	case ORC_STEP_COMMAND:
		return "command";
	case ORC_STEP_WAIT:
		return "wait";
	case ORC_STEP_DELAY:
		return "delay";
	}
	return "unknown";
}

bool
orc_strv_contains(const struct orc_strv *sv, const char *s)
{
	if (sv == NULL || s == NULL)
		return false;
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

int64_t
orc_retry_backoff_ms(const struct orc_retry *retry, int next_attempt)
{
	if (retry == NULL)
		return 0;
	/* without a cap, still never more than the longest duration */
	return orc_backoff_delay_ms(retry->backoff_ms, retry->multiplier,
				    retry->max_backoff_ms > 0
					    ? retry->max_backoff_ms
					    : ORC_DURATION_MAX_MS,
				    next_attempt - 1);
}

ptrdiff_t
orc_definition_step_index(const struct orc_definition *def, const char *name)
{
	if (def == NULL || name == NULL)
		return -1;
	for (size_t i = 0; i < def->n_steps; i++)
		if (def->steps[i].name != NULL &&
		    strcmp(def->steps[i].name, name) == 0)
			return (ptrdiff_t)i;
	return -1;
}

static size_t
closure_words(size_t n)
{
	return (n + 63) / 64;
}

static bool
bit_get(const uint64_t *m, size_t words, size_t a, size_t b)
{
	return (m[a * words + b / 64] >> (b % 64)) & 1;
}

static void
bit_set(uint64_t *m, size_t words, size_t a, size_t b)
{
	m[a * words + b / 64] |= UINT64_C(1) << (b % 64);
}

/* Fallback for a definition built by hand, without the closure matrix. */
static bool
walk_depends(const struct orc_definition *def, size_t a, size_t b,
	     size_t depth)
{
	if (depth > def->n_steps)
		return false;
	for (size_t k = 0; k < def->steps[a].n_needs; k++) {
		size_t x = def->steps[a].needs[k];

		if (x == b || (x < def->n_steps &&
			       walk_depends(def, x, b, depth + 1)))
			return true;
	}
	return false;
}

bool
orc_definition_depends_on(const struct orc_definition *def, size_t a, size_t b)
{
	if (def == NULL || a >= def->n_steps || b >= def->n_steps)
		return false;
	if (def->needs_closure == NULL)
		return walk_depends(def, a, b, 0);
	return bit_get(def->needs_closure, closure_words(def->n_steps), a, b);
}

/* ---- freeing ---- */

static void
strv_finish(struct orc_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

static void
command_finish(struct orc_command_def *c)
{
	free(c->topic);
	free(c->type);
	json_decref(c->data);
}

static void
step_finish(struct orc_step_def *st)
{
	free(st->name);
	free(st->needs);
	json_decref(st->when);
	command_finish(&st->command);
	strv_finish(&st->success);
	strv_finish(&st->failure);
	strv_finish(&st->retry.on);
	command_finish(&st->compensation.command);
	strv_finish(&st->compensation.success);
	strv_finish(&st->compensation.failure);
	strv_finish(&st->compensation.retry.on);
	free(st->wait.topic);
	free(st->wait.type);
	free(st->wait.key);
}

void
orc_definition_destroy(struct orc_definition *def)
{
	if (def == NULL)
		return;
	for (size_t i = 0; i < def->n_steps; i++)
		step_finish(&def->steps[i]);
	free(def->steps);
	free(def->name);
	free(def->description);
	free(def->trigger.topic);
	free(def->trigger.type);
	free(def->trigger.key);
	free(def->needs_closure);
	json_decref(def->body);
	free(def);
}

void
orc_definition_issues_finish(struct orc_definition_issues *issues)
{
	if (issues == NULL)
		return;
	for (size_t i = 0; i < issues->n; i++) {
		free(issues->v[i].pointer);
		free(issues->v[i].message);
	}
	free(issues->v);
	issues->v = NULL;
	issues->n = 0;
}

/* ---- the checker's state: where we are, what we found ---- */

struct checker {
	struct orc_definition_issues *issues;
	size_t found; /* issues added by this load */
	bool oom;

	char *path; /* JSON Pointer of the value being checked */
	size_t path_len, path_cap;

	struct orc_definition *def;
	const json_t *steps;    /* the "steps" array, or NULL */
	bool *step_ok;          /* per step: an object whose kind is known */
	bool *incomplete;       /* per step: some need (transitively) unresolved */
};

static void
add_issue_v(struct checker *c, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
add_issue_v(struct checker *c, const char *fmt, va_list ap)
{
	struct orc_definition_issue *v;
	char *message, *pointer;
	va_list ap2;
	int n;

	c->found++;
	if (c->oom)
		return;
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	message = n >= 0 ? malloc((size_t)n + 1) : NULL;
	pointer = strdup(c->path ? c->path : "");
	v = realloc(c->issues->v, (c->issues->n + 1) * sizeof(*v));
	if (message == NULL || pointer == NULL || v == NULL) {
		free(message);
		free(pointer);
		if (v != NULL)
			c->issues->v = v;
		c->oom = true;
		return;
	}
	vsnprintf(message, (size_t)n + 1, fmt, ap);
	c->issues->v = v;
	v[c->issues->n].pointer = pointer;
	v[c->issues->n].message = message;
	c->issues->n++;
}

/* An issue at the current path. */
static void issue(struct checker *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
issue(struct checker *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_issue_v(c, fmt, ap);
	va_end(ap);
}

/* Append "/" + escaped token to the path; returns the length to pop to. */
static size_t
push(struct checker *c, const char *token)
{
	size_t old = c->path_len;
	size_t need = 1;

	for (const char *t = token; *t; t++)
		need += (*t == '~' || *t == '/') ? 2 : 1;
	if (c->path_len + need + 1 > c->path_cap) {
		size_t cap = c->path_cap ? c->path_cap : 128;
		char *p;

		while (cap < c->path_len + need + 1)
			cap *= 2;
		p = realloc(c->path, cap);
		if (p == NULL) {
			c->oom = true;
			return old;
		}
		c->path = p;
		c->path_cap = cap;
	}
	c->path[c->path_len++] = '/';
	for (const char *t = token; *t; t++) {
		if (*t == '~' || *t == '/') {
			c->path[c->path_len++] = '~';
			c->path[c->path_len++] = *t == '~' ? '0' : '1';
		} else {
			c->path[c->path_len++] = *t;
		}
	}
	c->path[c->path_len] = '\0';
	return old;
}

static size_t
push_index(struct checker *c, size_t i)
{
	char tok[32];

	snprintf(tok, sizeof(tok), "%zu", i);
	return push(c, tok);
}

static void
pop(struct checker *c, size_t len)
{
	c->path_len = len;
	if (c->path != NULL)
		c->path[len] = '\0';
}

/* An issue at the current path + "/token". */
static void issue_at(struct checker *c, const char *token, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));

static void
issue_at(struct checker *c, const char *token, const char *fmt, ...)
{
	size_t old = push(c, token);
	va_list ap;

	va_start(ap, fmt);
	add_issue_v(c, fmt, ap);
	va_end(ap);
	pop(c, old);
}

static char *
dup_or_oom(struct checker *c, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		c->oom = true;
	return d;
}

/* ---- shape checks ---- */

enum want {
	WANT_STRING,
	WANT_INTEGER,
	WANT_NUMBER,
	WANT_BOOLEAN,
	WANT_OBJECT,
	WANT_ARRAY,
};

static const char *const want_names[] = {
	[WANT_STRING] = "string",   [WANT_INTEGER] = "integer",
	[WANT_NUMBER] = "number",   [WANT_BOOLEAN] = "boolean",
	[WANT_OBJECT] = "object",   [WANT_ARRAY] = "array",
};

static bool
is(const json_t *v, enum want want)
{
	switch (want) {
	case WANT_STRING:
		return json_is_string(v);
	case WANT_INTEGER:
		return json_is_integer(v);
	case WANT_NUMBER:
		return json_is_number(v);
	case WANT_BOOLEAN:
		return json_is_boolean(v);
	case WANT_OBJECT:
		return json_is_object(v);
	case WANT_ARRAY:
		return json_is_array(v);
	}
	return false;
}

/* Check v (at the current path) has the type wanted. */
static bool
typed(struct checker *c, const json_t *v, enum want want)
{
	if (is(v, want))
		return true;
	issue(c, "expected %s", want_names[want]);
	return false;
}

/*
 * obj[key] when present and of the type wanted; NULL otherwise, after an
 * issue when it is required (at obj) or of the wrong type (at the member).
 */
static json_t *
member(struct checker *c, const json_t *obj, const char *key, enum want want,
       bool required)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL) {
		if (required)
			issue(c, "missing required property \"%s\"", key);
		return NULL;
	}
	if (!is(v, want)) {
		issue_at(c, key, "expected %s", want_names[want]);
		return NULL;
	}
	return v;
}

/* Every property of obj must be in allowed (NULL-terminated). */
static void
known_properties(struct checker *c, const json_t *obj,
		 const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		size_t i;

		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], key) == 0)
				break;
		if (allowed[i] == NULL)
			issue_at(c, key, "unknown property \"%s\"", key);
	}
}

/* A string member; *out is set (new) when it is present and a string. */
static bool
string_member(struct checker *c, const json_t *obj, const char *key,
	      bool required, bool nonempty, char **out)
{
	json_t *v = member(c, obj, key, WANT_STRING, required);

	if (v == NULL)
		return false;
	if (nonempty && json_string_length(v) == 0) {
		issue_at(c, key, "must not be empty");
		return false;
	}
	*out = dup_or_oom(c, json_string_value(v));
	return *out != NULL;
}

static bool
duration_member(struct checker *c, const json_t *obj, const char *key,
		bool required, int64_t *out)
{
	json_t *v = member(c, obj, key, WANT_STRING, required);

	if (v == NULL)
		return false;
	if (!orc_duration_parse(json_string_value(v), out)) {
		issue_at(c, key, "invalid duration");
		return false;
	}
	return true;
}

static void
pointer_member(struct checker *c, const json_t *obj, const char *key,
	       char **out)
{
	json_t *v = member(c, obj, key, WANT_STRING, true);

	if (v == NULL)
		return;
	if (!orc_jsonp_valid(json_string_value(v))) {
		issue_at(c, key, "invalid JSON pointer");
		return;
	}
	*out = dup_or_oom(c, json_string_value(v));
}

/* A list of event types. */
static void
strv_member(struct checker *c, const json_t *obj, const char *key,
	    bool required, bool nonempty, struct orc_strv *out)
{
	json_t *v = member(c, obj, key, WANT_ARRAY, required);
	json_t *item;
	size_t i, old;

	if (v == NULL)
		return;
	old = push(c, key);
	if (nonempty && json_array_size(v) == 0)
		issue(c, "must not be empty");
	if (json_array_size(v) > 0) {
		out->v = calloc(json_array_size(v), sizeof(*out->v));
		if (out->v == NULL)
			c->oom = true;
	}
	json_array_foreach(v, i, item) {
		if (!json_is_string(item)) {
			size_t o = push_index(c, i);

			issue(c, "expected string");
			pop(c, o);
			continue;
		}
		if (out->v != NULL) {
			out->v[out->n] = dup_or_oom(c, json_string_value(item));
			if (out->v[out->n] != NULL)
				out->n++;
		}
	}
	pop(c, old);
}

static void
int_member(struct checker *c, const json_t *obj, const char *key,
	   bool required, int *out)
{
	json_t *v = member(c, obj, key, WANT_INTEGER, required);

	if (v == NULL)
		return;
	if (json_integer_value(v) < 1)
		issue_at(c, key, "must be at least 1");
	else if (json_integer_value(v) > INT_MAX)
		issue_at(c, key, "must be at most %d", INT_MAX);
	else
		*out = (int)json_integer_value(v);
}

static const char *const retry_props[] = {
	"max_attempts", "backoff", "multiplier", "max_backoff", "on", NULL,
};

static const char *const compensation_retry_props[] = {
	"max_attempts", "backoff", "multiplier", "max_backoff", NULL,
};

/*
 * A retry policy at the current path.  A compensation's retry has defaults
 * for every field and no "on".
 */
static void
check_retry(struct checker *c, const json_t *obj, bool compensation,
	    struct orc_retry *r)
{
	json_t *v;

	known_properties(c, obj,
			 compensation ? compensation_retry_props : retry_props);
	int_member(c, obj, "max_attempts", !compensation, &r->max_attempts);
	duration_member(c, obj, "backoff", !compensation, &r->backoff_ms);
	v = member(c, obj, "multiplier", WANT_NUMBER, false);
	if (v != NULL) {
		if (json_number_value(v) < 1)
			issue_at(c, "multiplier", "must be at least 1");
		else
			r->multiplier = json_number_value(v);
	}
	duration_member(c, obj, "max_backoff", false, &r->max_backoff_ms);
	if (!compensation)
		strv_member(c, obj, "on", false, false, &r->on);
}

/* Every retry.on type must be a failure type; at the retry's path. */
static void
check_retry_on(struct checker *c, const json_t *on, const json_t *failure)
{
	json_t *item, *f;
	size_t i, j, old;

	if (!json_is_array(on))
		return;
	old = push(c, "on");
	json_array_foreach(on, i, item) {
		bool listed = false;

		if (!json_is_string(item))
			continue;
		if (json_is_array(failure))
			json_array_foreach(failure, j, f)
				if (json_equal(f, item))
					listed = true;
		if (!listed) {
			size_t o = push_index(c, i);

			issue(c, "not listed in \"failure\"");
			pop(c, o);
		}
	}
	pop(c, old);
}

/*
 * Issue message at obj[key][i] (the current path + "/key/i") for every
 * string there that is also in other.
 */
static void
disjoint(struct checker *c, const json_t *obj, const char *key,
	 const json_t *other, const char *message)
{
	json_t *list = json_object_get(obj, key);
	json_t *item, *o;
	size_t i, j, old;

	if (!json_is_array(list) || !json_is_array(other))
		return;
	old = push(c, key);
	json_array_foreach(list, i, item) {
		if (!json_is_string(item))
			continue;
		json_array_foreach(other, j, o)
			if (json_is_string(o) && json_equal(item, o))
				break;
		if (j < json_array_size(other)) {
			size_t oi = push_index(c, i);

			issue(c, "%s", message);
			pop(c, oi);
		}
	}
	pop(c, old);
}

static void
check_command(struct checker *c, const json_t *obj, struct orc_command_def *cmd)
{
	json_t *data;

	string_member(c, obj, "topic", true, true, &cmd->topic);
	string_member(c, obj, "type", true, true, &cmd->type);
	data = json_object_get(obj, "data");
	cmd->data = data != NULL ? json_incref(data) : json_object();
	if (cmd->data == NULL)
		c->oom = true;
}

static const char *const compensation_props[] = {
	"topic", "type", "data", "success", "failure", "timeout", "retry", NULL,
};

static void
check_compensation(struct checker *c, const json_t *obj,
		   struct orc_compensation_def *comp)
{
	json_t *retry;

	known_properties(c, obj, compensation_props);
	check_command(c, obj, &comp->command);
	strv_member(c, obj, "success", true, true, &comp->success);
	strv_member(c, obj, "failure", false, false, &comp->failure);
	disjoint(c, obj, "failure", json_object_get(obj, "success"),
		 "listed in both \"success\" and \"failure\"");
	duration_member(c, obj, "timeout", false, &comp->timeout_ms);
	comp->retry.max_attempts = 5;
	comp->retry.backoff_ms = 1000;
	comp->retry.multiplier = 2;
	comp->retry.max_backoff_ms = 60 * 1000;
	retry = member(c, obj, "retry", WANT_OBJECT, false);
	if (retry != NULL) {
		size_t old = push(c, "retry");

		check_retry(c, retry, true, &comp->retry);
		pop(c, old);
	}
}

static const char *const wait_props[] = {
	"topic", "type", "key", "timeout", "on_timeout", NULL,
};

static void
check_wait(struct checker *c, const json_t *obj, struct orc_wait_def *w)
{
	json_t *v;

	known_properties(c, obj, wait_props);
	string_member(c, obj, "topic", true, true, &w->topic);
	string_member(c, obj, "type", true, true, &w->type);
	pointer_member(c, obj, "key", &w->key);
	duration_member(c, obj, "timeout", false, &w->timeout_ms);
	v = member(c, obj, "on_timeout", WANT_STRING, false);
	if (v != NULL) {
		if (strcmp(json_string_value(v), "continue") == 0)
			w->continue_on_timeout = true;
		else if (strcmp(json_string_value(v), "fail") != 0)
			issue_at(c, "on_timeout",
				 "must be one of \"fail\", \"continue\"");
	}
}

static const char *const step_props[] = {
	"name", "description", "needs", "when", "command", "wait", "delay",
	"success", "failure", "timeout", "retry", "compensation", NULL,
};

static const char *const command_only[] = {
	"success", "failure", "timeout", "retry", "compensation", NULL,
};

/* Pass 1 for one step, at /steps/<i>.  Returns true when its kind is known. */
static bool
check_step_shape(struct checker *c, const json_t *js, struct orc_step_def *st)
{
	const char *kinds[] = {"command", "wait", "delay"};
	int n_kinds = 0;
	json_t *v;

	if (!typed(c, js, WANT_OBJECT))
		return false;
	known_properties(c, js, step_props);

	v = member(c, js, "name", WANT_STRING, true);
	if (v != NULL) {
		if (!orc_text_name_valid(json_string_value(v)))
			issue_at(c, "name", "invalid name");
		/* kept even when invalid, so that needs on it resolve */
		st->name = dup_or_oom(c, json_string_value(v));
	}
	member(c, js, "description", WANT_STRING, false);
	member(c, js, "needs", WANT_ARRAY, false); /* items: pass 2 */
	if ((v = json_object_get(js, "when")) != NULL)
		st->when = json_incref(v); /* checked in pass 3 */

	for (size_t k = 0; k < 3; k++)
		if (json_object_get(js, kinds[k]) != NULL) {
			st->kind = (enum orc_step_kind)k;
			n_kinds++;
		}
	if (n_kinds != 1) {
		issue(c, "step must have exactly one of \"command\", \"wait\", "
			 "\"delay\"");
		return false;
	}

	if (st->kind != ORC_STEP_COMMAND) {
		for (size_t k = 0; command_only[k] != NULL; k++)
			if (json_object_get(js, command_only[k]) != NULL)
				issue_at(c, command_only[k],
					 "only command steps can have \"%s\"",
					 command_only[k]);
	}

	st->retry.max_attempts = 1;
	st->retry.multiplier = 2;
	switch (st->kind) {
	case ORC_STEP_COMMAND:
		if ((v = member(c, js, "command", WANT_OBJECT, true)) != NULL) {
			size_t old = push(c, "command");
			static const char *const props[] = {
				"topic", "type", "data", NULL,
			};

			known_properties(c, v, props);
			check_command(c, v, &st->command);
			pop(c, old);
		}
		strv_member(c, js, "success", true, true, &st->success);
		strv_member(c, js, "failure", false, false, &st->failure);
		disjoint(c, js, "failure", json_object_get(js, "success"),
			 "listed in both \"success\" and \"failure\"");
		duration_member(c, js, "timeout", false, &st->timeout_ms);
		if ((v = member(c, js, "retry", WANT_OBJECT, false)) != NULL) {
			size_t old = push(c, "retry");
			json_t *on = json_object_get(v, "on");

			st->has_retry = true;
			check_retry(c, v, false, &st->retry);
			check_retry_on(c, on, json_object_get(js, "failure"));
			if (json_object_get(js, "timeout") == NULL &&
			    json_array_size(on) == 0)
				issue(c, "retry needs a step \"timeout\" or \"on\"");
			pop(c, old);
		}
		if ((v = member(c, js, "compensation", WANT_OBJECT, false)) !=
		    NULL) {
			size_t old = push(c, "compensation");

			st->has_compensation = true;
			check_compensation(c, v, &st->compensation);
			pop(c, old);
		}
		break;
	case ORC_STEP_WAIT:
		if ((v = member(c, js, "wait", WANT_OBJECT, true)) != NULL) {
			size_t old = push(c, "wait");

			check_wait(c, v, &st->wait);
			pop(c, old);
		}
		break;
	case ORC_STEP_DELAY:
		duration_member(c, js, "delay", true, &st->delay_ms);
		break;
	}
	return true;
}

static void
check_trigger(struct checker *c, const json_t *obj, struct orc_trigger_def *t)
{
	static const char *const props[] = {"topic", "type", "key", NULL};

	known_properties(c, obj, props);
	string_member(c, obj, "topic", true, true, &t->topic);
	string_member(c, obj, "type", true, true, &t->type);
	pointer_member(c, obj, "key", &t->key);
}

static const char *const top_props[] = {
	"$schema", "name", "version", "description", "trigger", "timeout",
	"steps", NULL,
};

/* Pass 1 for the whole document, at "". */
static void
check_shape(struct checker *c, const json_t *body)
{
	struct orc_definition *def = c->def;
	json_t *v, *js;
	size_t i;

	if (!typed(c, body, WANT_OBJECT))
		return;
	known_properties(c, body, top_props);
	member(c, body, "$schema", WANT_STRING, false);
	if ((v = member(c, body, "name", WANT_STRING, true)) != NULL) {
		if (!orc_text_name_valid(json_string_value(v)))
			issue_at(c, "name", "invalid name");
		def->name = dup_or_oom(c, json_string_value(v));
	}
	int_member(c, body, "version", true, &def->version);
	string_member(c, body, "description", false, false, &def->description);
	if ((v = member(c, body, "trigger", WANT_OBJECT, true)) != NULL) {
		size_t old = push(c, "trigger");

		check_trigger(c, v, &def->trigger);
		pop(c, old);
	}
	duration_member(c, body, "timeout", false, &def->timeout_ms);

	v = member(c, body, "steps", WANT_ARRAY, true);
	if (v == NULL)
		return;
	if (json_array_size(v) == 0) {
		issue_at(c, "steps", "must not be empty");
		return;
	}
	c->steps = v;
	def->n_steps = json_array_size(v);
	def->steps = calloc(def->n_steps, sizeof(*def->steps));
	c->step_ok = calloc(def->n_steps, sizeof(*c->step_ok));
	c->incomplete = calloc(def->n_steps, sizeof(*c->incomplete));
	if (def->steps == NULL || c->step_ok == NULL || c->incomplete == NULL) {
		def->n_steps = 0;
		c->steps = NULL;
		c->oom = true;
		return;
	}
	json_array_foreach(v, i, js) {
		size_t old = push(c, "steps");

		push_index(c, i);
		def->steps[i].index = i;
		c->step_ok[i] = check_step_shape(c, js, &def->steps[i]);
		pop(c, old);
	}
}

/* ---- pass 2: the graph ---- */

static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[ORC_NAME_MAX + 4], prev;

	if (lb > ORC_NAME_MAX || (la > lb ? la - lb : lb - la) > DID_YOU_MEAN_MAX)
		return DID_YOU_MEAN_MAX + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev + (a[i - 1] != b[j - 1]);
			size_t best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1
								  : row[j - 1] + 1;

			prev = row[j];
			row[j] = sub < best ? sub : best;
		}
	}
	return row[lb];
}

/* The closest step name within edit distance 2, or NULL. */
static const char *
closest_step(const struct orc_definition *def, const char *name)
{
	const char *best = NULL;
	size_t best_d = DID_YOU_MEAN_MAX + 1;

	for (size_t i = 0; i < def->n_steps; i++) {
		const char *s = def->steps[i].name;
		size_t d;

		if (s == NULL || !orc_text_name_valid(s))
			continue;
		d = edit_distance(name, s);
		if (d < best_d) {
			best = s;
			best_d = d;
		}
	}
	return best;
}

/* `unknown step "<n>"` with a suggestion when one is close. */
static void
unknown_step(struct checker *c, const char *name)
{
	const char *near = closest_step(c->def, name);

	if (near != NULL)
		issue(c, "unknown step \"%s\"; did you mean \"%s\"?", name, near);
	else
		issue(c, "unknown step \"%s\"", name);
}

static void
check_names(struct checker *c)
{
	struct orc_definition *def = c->def;

	for (size_t i = 0; i < def->n_steps; i++) {
		ptrdiff_t first;
		size_t old;

		if (def->steps[i].name == NULL)
			continue;
		first = orc_definition_step_index(def, def->steps[i].name);
		if (first < 0 || (size_t)first == i)
			continue;
		old = push(c, "steps");
		push_index(c, i);
		issue_at(c, "name", "duplicate step name \"%s\"",
			 def->steps[i].name);
		pop(c, old);
	}
}

/* Resolve every step's needs; returns false when some did not resolve. */
static bool
resolve_needs(struct checker *c)
{
	struct orc_definition *def = c->def;
	bool all = true;

	for (size_t i = 0; i < def->n_steps; i++) {
		struct orc_step_def *st = &def->steps[i];
		json_t *needs = json_object_get(json_array_get(c->steps, i),
						"needs");
		json_t *item;
		size_t j, old;

		if (needs != NULL && !json_is_array(needs)) {
			/* reported in pass 1; its ancestry is unknown */
			c->incomplete[i] = true;
			all = false;
			continue;
		}
		if (json_array_size(needs) == 0)
			continue;
		st->needs = calloc(json_array_size(needs), sizeof(*st->needs));
		if (st->needs == NULL) {
			c->oom = true;
			return false;
		}
		old = push(c, "steps");
		push_index(c, i);
		push(c, "needs");
		json_array_foreach(needs, j, item) {
			size_t o = push_index(c, j);
			const char *name = json_string_value(item);
			ptrdiff_t k;
			size_t d;

			if (name == NULL) {
				issue(c, "expected string");
				c->incomplete[i] = true;
				all = false;
				goto next;
			}
			for (d = 0; d < j; d++)
				if (json_equal(json_array_get(needs, d), item))
					break;
			if (d < j) {
				issue(c, "duplicate need \"%s\"", name);
				goto next;
			}
			if (st->name != NULL && strcmp(name, st->name) == 0) {
				issue(c, "step cannot need itself");
				goto next;
			}
			k = orc_definition_step_index(def, name);
			if (k < 0) {
				unknown_step(c, name);
				c->incomplete[i] = true;
				all = false;
				goto next;
			}
			st->needs[st->n_needs++] = (size_t)k;
next:
			pop(c, o);
		}
		pop(c, old);
	}
	return all;
}

/* The transitive closure of needs, as a bit matrix (new, or NULL on oom). */
static uint64_t *
closure(const struct orc_definition *def)
{
	size_t n = def->n_steps, words = closure_words(n);
	uint64_t *m = calloc(n > 0 ? n * words : 1, sizeof(*m));
	size_t *stack = malloc((n ? n : 1) * sizeof(*stack));

	if (m == NULL || stack == NULL) {
		free(m);
		free(stack);
		return NULL;
	}
	for (size_t a = 0; a < n; a++) {
		size_t top = 0;

		stack[top++] = a;
		while (top > 0) {
			const struct orc_step_def *st = &def->steps[stack[--top]];

			for (size_t k = 0; k < st->n_needs; k++) {
				size_t b = st->needs[k];

				if (!bit_get(m, words, a, b)) {
					bit_set(m, words, a, b);
					stack[top++] = b;
				}
			}
		}
	}
	free(stack);
	return m;
}

/*
 * One cycle through `start` inside its strongly connected set, following
 * needs (shortest, by breadth-first search), as "a -> b -> a".
 */
static char *
cycle_text(const struct orc_definition *def, const uint64_t *m, size_t start)
{
	size_t n = def->n_steps, words = closure_words(n);
	size_t *from = malloc(n * sizeof(*from));
	size_t *queue = malloc(n * sizeof(*queue));
	size_t *path = malloc((n + 1) * sizeof(*path));
	size_t head = 0, tail = 0, len = 0, end = n, cur;
	char *text = NULL;
	size_t size = 1;

	if (from == NULL || queue == NULL || path == NULL)
		goto done;
	for (size_t i = 0; i < n; i++)
		from[i] = n;
	queue[tail++] = start;
	while (head < tail && end == n) {
		const struct orc_step_def *st = &def->steps[queue[head++]];

		for (size_t k = 0; k < st->n_needs; k++) {
			size_t b = st->needs[k];

			if (b == start) {
				end = st->index;
				break;
			}
			/* stay inside the strongly connected set */
			if (from[b] != n || !bit_get(m, words, b, start))
				continue;
			from[b] = st->index;
			queue[tail++] = b;
		}
	}
	if (end == n)
		goto done;
	/* walk back from end to start, then print reversed */
	for (cur = end; cur != start; cur = from[cur])
		path[len++] = cur;
	path[len++] = start;
	for (size_t i = 0; i < len; i++)
		size += strlen(def->steps[path[i]].name) + 4;
	size += strlen(def->steps[start].name);
	text = malloc(size);
	if (text == NULL)
		goto done;
	text[0] = '\0';
	for (size_t i = len; i-- > 0;) {
		strcat(text, def->steps[path[i]].name);
		strcat(text, " -> ");
	}
	strcat(text, def->steps[start].name);
done:
	free(from);
	free(queue);
	free(path);
	return text;
}

static void
check_cycles(struct checker *c, const uint64_t *m)
{
	const struct orc_definition *def = c->def;
	size_t n = def->n_steps, words = closure_words(n);
	bool *reported = calloc(n ? n : 1, sizeof(*reported));

	if (reported == NULL) {
		c->oom = true;
		return;
	}
	for (size_t a = 0; a < n; a++) {
		char *text;
		size_t old;

		if (reported[a] || !bit_get(m, words, a, a))
			continue;
		for (size_t b = a; b < n; b++)
			if (bit_get(m, words, a, b) && bit_get(m, words, b, a))
				reported[b] = true;
		text = cycle_text(def, m, a);
		if (text == NULL) {
			c->oom = true;
			break;
		}
		old = push(c, "steps");
		push_index(c, a);
		issue_at(c, "needs", "cycle: %s", text);
		pop(c, old);
		free(text);
	}
	for (size_t a = 0; a < n; a++) {
		size_t old;

		if (bit_get(m, words, a, a))
			continue;
		for (size_t b = 0; b < n; b++) {
			if (!bit_get(m, words, a, b) || !bit_get(m, words, b, b))
				continue;
			old = push(c, "steps");
			push_index(c, a);
			issue(c, "unreachable: depends on a cycle");
			pop(c, old);
			break;
		}
	}
	free(reported);
}

/* A step is incomplete when it or a step it needs has an unresolved need. */
static void
spread_incomplete(struct checker *c, const uint64_t *m)
{
	size_t n = c->def->n_steps, words = closure_words(n);

	for (size_t a = 0; a < n; a++)
		for (size_t b = 0; b < n && !c->incomplete[a]; b++)
			if (bit_get(m, words, a, b) && c->incomplete[b])
				c->incomplete[a] = true;
}

/* ---- pass 3: pointers, conditions and templates ---- */

/* The part of a context pointer being checked, and who refers to it. */
struct ref_check {
	struct checker *c;
	size_t step;  /* the referring step */
	bool self_ok; /* compensation data may read the step's own reply */
};

/* Copy the next unescaped token of *p (a valid pointer) into new memory. */
static char *
next_token(struct checker *c, const char **p)
{
	const char *s = *p + 1, *e = s;
	char *tok, *o;

	while (*e != '\0' && *e != '/')
		e++;
	tok = malloc((size_t)(e - s) + 1);
	if (tok == NULL) {
		c->oom = true;
		return NULL;
	}
	for (o = tok; s < e; s++) {
		if (*s == '~') {
			*o++ = s[1] == '0' ? '~' : '/';
			s++;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	*p = e;
	return tok;
}

/* Check one context pointer; issues go at the current path. */
static bool
check_context_pointer(const char *ptr, void *arg)
{
	struct ref_check *r = arg;
	struct checker *c = r->c;
	const struct orc_definition *def = c->def;
	const char *p = ptr;
	char *root = NULL, *name = NULL;
	ptrdiff_t k;

	if (!orc_jsonp_valid(ptr)) {
		issue(c, "invalid JSON pointer");
		return true;
	}
	if (*p == '\0') {
		issue(c, "unknown context root \"\"");
		return true;
	}
	root = next_token(c, &p);
	if (root == NULL)
		return true;
	if (strcmp(root, "input") == 0)
		goto done;
	if (strcmp(root, "saga") == 0) {
		static const char *const fields[] = {"id", "key", "name",
						     "version"};

		if (*p == '/' && (name = next_token(c, &p)) != NULL)
			for (size_t i = 0; i < 4; i++)
				if (strcmp(name, fields[i]) == 0 && *p == '\0')
					goto done;
		/* the root of /saga is one of its four fields */
		issue(c, "unknown context root \"%s\"", ptr + 1);
		goto done;
	}
	if (strcmp(root, "steps") != 0) {
		issue(c, "unknown context root \"%s\"", root);
		goto done;
	}
	if (*p != '/') {
		issue(c, "unknown context root \"steps\"; expected /steps/<name>");
		goto done;
	}
	name = next_token(c, &p);
	if (name == NULL)
		goto done;
	k = orc_definition_step_index(def, name);
	if (k < 0) {
		unknown_step(c, name);
		goto done;
	}
	if ((size_t)k == r->step && r->self_ok)
		goto done;
	if (!orc_definition_depends_on(def, r->step, (size_t)k) &&
	    !c->incomplete[r->step])
		issue(c, "step \"%s\" is not a dependency of \"%s\"", name,
		      def->steps[r->step].name ? def->steps[r->step].name : "");
done:
	free(root);
	free(name);
	return true;
}

/* A template (any JSON), at the current path. */
static void
check_template(struct ref_check *r, const json_t *t)
{
	struct checker *c = r->c;
	const char *key;
	json_t *v;
	size_t i;

	switch (json_typeof(t)) {
	case JSON_STRING:
		if (!orc_expr_foreach_reference(json_string_value(t),
						check_context_pointer, r) &&
		    !c->oom)
			issue(c, "unterminated \"${\"");
		break;
	case JSON_OBJECT:
		json_object_foreach((json_t *)t, key, v) {
			size_t old = push(c, key);

			check_template(r, v);
			pop(c, old);
		}
		break;
	case JSON_ARRAY:
		json_array_foreach(t, i, v) {
			size_t old = push_index(c, i);

			check_template(r, v);
			pop(c, old);
		}
		break;
	default:
		break;
	}
}

/* The same lexical rule as expr.c: "${", then text without "}", then "}". */
static bool
is_exact_reference(const char *s)
{
	size_t n = strlen(s);

	return n >= 3 && s[0] == '$' && s[1] == '{' &&
	       strchr(s + 2, '}') == s + n - 1;
}

/* If s is exactly "${...}", the pointer inside (new); else NULL. */
static char *
exact_reference(struct checker *c, const char *s)
{
	size_t n = strlen(s);
	char *ptr;

	if (!is_exact_reference(s))
		return NULL;
	ptr = strndup(s + 2, n - 3);
	if (ptr == NULL)
		c->oom = true;
	return ptr;
}

/* An operand: any JSON in which exact references are checked. */
static void
check_operand(struct ref_check *r, const json_t *op)
{
	struct checker *c = r->c;
	const char *key;
	json_t *v;
	size_t i;
	char *ptr;

	switch (json_typeof(op)) {
	case JSON_STRING:
		ptr = exact_reference(c, json_string_value(op));
		if (ptr != NULL)
			check_context_pointer(ptr, r);
		free(ptr);
		break;
	case JSON_OBJECT:
		json_object_foreach((json_t *)op, key, v) {
			size_t old = push(c, key);

			check_operand(r, v);
			pop(c, old);
		}
		break;
	case JSON_ARRAY:
		json_array_foreach(op, i, v) {
			size_t old = push_index(c, i);

			check_operand(r, v);
			pop(c, old);
		}
		break;
	default:
		break;
	}
}

static const char *const binary_ops[] = {
	"eq", "ne", "lt", "le", "gt", "ge", "in", NULL,
};

static void check_condition(struct ref_check *r, const json_t *cond);

/* The argument of operator op, at the current path (".../<op>"). */
static void
check_operator(struct ref_check *r, const char *op, const json_t *arg)
{
	struct checker *c = r->c;
	json_t *item;
	size_t i;

	for (i = 0; binary_ops[i] != NULL; i++)
		if (strcmp(op, binary_ops[i]) == 0)
			break;
	if (binary_ops[i] != NULL) {
		if (!typed(c, arg, WANT_ARRAY))
			return;
		if (json_array_size(arg) != 2) {
			issue(c, "expects 2 operands");
			return;
		}
		json_array_foreach(arg, i, item) {
			size_t old = push_index(c, i);

			if (strcmp(op, "in") == 0 && i == 1 &&
			    !json_is_array(item) &&
			    !(json_is_string(item) &&
			      is_exact_reference(json_string_value(item))))
				issue(c, "expected array");
			check_operand(r, item);
			pop(c, old);
		}
		return;
	}
	if (strcmp(op, "exists") == 0) {
		char *ptr;

		if (!typed(c, arg, WANT_STRING))
			return;
		ptr = exact_reference(c, json_string_value(arg));
		if (ptr == NULL) {
			if (!c->oom)
				issue(c, "expected a reference \"${/pointer}\"");
			return;
		}
		check_context_pointer(ptr, r);
		free(ptr);
		return;
	}
	if (strcmp(op, "all") == 0 || strcmp(op, "any") == 0) {
		if (!typed(c, arg, WANT_ARRAY))
			return;
		if (json_array_size(arg) == 0)
			issue(c, "must not be empty");
		json_array_foreach(arg, i, item) {
			size_t old = push_index(c, i);

			check_condition(r, item);
			pop(c, old);
		}
		return;
	}
	/* "not" */
	check_condition(r, arg);
}

static bool
known_operator(const char *op)
{
	static const char *const others[] = {"exists", "all", "any", "not",
					     NULL};

	for (size_t i = 0; binary_ops[i] != NULL; i++)
		if (strcmp(op, binary_ops[i]) == 0)
			return true;
	for (size_t i = 0; others[i] != NULL; i++)
		if (strcmp(op, others[i]) == 0)
			return true;
	return false;
}

/* A condition, at the current path. */
static void
check_condition(struct ref_check *r, const json_t *cond)
{
	struct checker *c = r->c;
	const char *op;
	json_t *arg;

	if (json_is_boolean(cond))
		return;
	if (!json_is_object(cond)) {
		issue(c, "expected boolean or object");
		return;
	}
	json_object_foreach((json_t *)cond, op, arg) {
		if (!known_operator(op))
			issue(c, "unknown condition operator \"%s\"", op);
	}
	if (json_object_size(cond) != 1) {
		issue(c, "condition must have exactly one operator");
		return;
	}
	json_object_foreach((json_t *)cond, op, arg) {
		size_t old;

		if (!known_operator(op))
			continue;
		old = push(c, op);
		check_operator(r, op, arg);
		pop(c, old);
	}
}

static void
check_expressions(struct checker *c)
{
	const struct orc_definition *def = c->def;

	for (size_t i = 0; i < def->n_steps; i++) {
		const json_t *js = json_array_get(c->steps, i);
		struct ref_check r = {c, i, false};
		json_t *v;
		size_t old;

		if (!json_is_object(js))
			continue;
		old = push(c, "steps");
		push_index(c, i);
		if ((v = json_object_get(js, "when")) != NULL) {
			size_t o = push(c, "when");

			check_condition(&r, v);
			pop(c, o);
		}
		if (c->step_ok[i] && def->steps[i].kind == ORC_STEP_COMMAND) {
			json_t *cmd = json_object_get(js, "command");
			json_t *comp = json_object_get(js, "compensation");

			if (json_is_object(cmd) &&
			    (v = json_object_get(cmd, "data")) != NULL) {
				size_t o = push(c, "command");

				push(c, "data");
				check_template(&r, v);
				pop(c, o);
			}
			r.self_ok = true;
			if (json_is_object(comp) &&
			    (v = json_object_get(comp, "data")) != NULL) {
				size_t o = push(c, "compensation");

				push(c, "data");
				check_template(&r, v);
				pop(c, o);
			}
		}
		pop(c, old);
	}
}

/* ---- loading ---- */

enum orc_status
orc_definition_from_json(json_t *body, struct orc_definition **out,
			 struct orc_definition_issues *issues)
{
	struct checker c = {0};
	struct orc_definition_issues scratch = {0};
	struct orc_definition *def;
	uint64_t *m = NULL;
	bool resolved;

	*out = NULL;
	c.issues = issues != NULL ? issues : &scratch;
	def = calloc(1, sizeof(*def));
	if (def == NULL)
		return ORC_FATAL;
	c.def = def;
	c.path = calloc(1, 1);
	if (c.path == NULL)
		goto fail;
	c.path_cap = 1;

	check_shape(&c, body);
	if (c.oom)
		goto fail;
	if (def->n_steps > 0) {
		check_names(&c);
		resolved = resolve_needs(&c);
		if (c.oom)
			goto fail;
		m = closure(def);
		if (m == NULL) {
			c.oom = true;
			goto fail;
		}
		if (resolved)
			check_cycles(&c, m);
		spread_incomplete(&c, m);
		def->needs_closure = m;
		check_expressions(&c);
	}
	if (c.oom)
		goto fail;
	free(c.path);
	free(c.step_ok);
	free(c.incomplete);
	orc_definition_issues_finish(&scratch);
	if (c.found > 0) {
		orc_definition_destroy(def);
		return ORC_INVALID;
	}
	def->body = json_incref(body);
	*out = def;
	return ORC_OK;

fail:
	free(c.path);
	free(c.step_ok);
	free(c.incomplete);
	orc_definition_issues_finish(&scratch);
	orc_definition_destroy(def);
	return ORC_FATAL;
}

/* Add one issue without a checker (the file could not be parsed). */
static enum orc_status
single_issue(struct orc_definition_issues *issues, const char *pointer,
	     const char *message)
{
	struct orc_definition_issue *v;
	char *p = strdup(pointer), *m = strdup(message);

	if (issues == NULL) {
		free(p);
		free(m);
		return ORC_INVALID;
	}
	v = realloc(issues->v, (issues->n + 1) * sizeof(*v));
	if (p == NULL || m == NULL || v == NULL) {
		free(p);
		free(m);
		if (v != NULL)
			issues->v = v;
		return ORC_FATAL;
	}
	issues->v = v;
	v[issues->n].pointer = p;
	v[issues->n].message = m;
	issues->n++;
	return ORC_INVALID;
}

enum orc_status
orc_definition_load_file(const char *path, struct orc_definition **out,
			 struct orc_definition_issues *issues,
			 struct orc_error *err)
{
	char message[JSON_ERROR_TEXT_LENGTH + 64];
	json_error_t jerr;
	enum orc_status st;
	json_t *body;
	FILE *f;

	*out = NULL;
	f = fopen(path, "rb");
	if (f == NULL)
		return orc_error_set(err, ORC_NOT_FOUND, "could not open file: %s",
				     strerror(errno));
	body = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL && ferror(f)) {
		int e = errno;

		fclose(f);
		return orc_error_set(err, ORC_NOT_FOUND, "could not read file: %s",
				     strerror(e));
	}
	fclose(f);
	if (body == NULL) {
		snprintf(message, sizeof(message), "line %d column %d: %s",
			 jerr.line, jerr.column, jerr.text);
		st = single_issue(issues, "", message);
		if (st == ORC_FATAL)
			return orc_error_set(err, ORC_FATAL, "out of memory");
		return orc_error_set(err, ORC_INVALID, "invalid definition");
	}
	st = orc_definition_from_json(body, out, issues);
	json_decref(body);
	if (st == ORC_INVALID)
		return orc_error_set(err, ORC_INVALID, "invalid definition");
	if (st == ORC_FATAL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	return ORC_OK;
}
