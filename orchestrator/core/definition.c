/*
 * definition.c - load a saga definition, check all of it, build the graph.
 *
 * The checker is hand-written rather than a generic JSON Schema engine so
 * that every message can say exactly what is wrong, at the JSON Pointer of
 * the bad value, and so that it can go on after an error: a user fixing a
 * definition sees every problem in one run.  This file holds the public
 * entry points and the checker's own state (issues, the path); the three
 * passes over the body live apart and run in this order:
 *
 *   1. shape (definition_shape.c): types, required and unknown properties,
 *      names, durations, event type lists, retry policies; fills the struct
 *      as it goes;
 *   2. graph (definition_graph.c): duplicate names, needs resolved to
 *      indexes ("did you mean" within edit distance 2), then - only when
 *      every need resolved - cycles (named, once per strongly connected set)
 *      and the steps that depend on one;
 *   3. references (definition_refs.c): conditions and templates, whose
 *      /steps/<name> pointers must name a step that is sure to have
 *      finished first, which needs the graph of pass 2.
 *
 * A definition is returned only when no issue was found; it is never changed
 * afterwards.  The transitive closure of needs is computed once, by pass 2,
 * as a bit matrix, so orc_definition_depends_on() (beside it, in
 * definition_graph.c) is one bit test.
 *
 * This module does no I/O except orc_definition_load_file(), which reads the
 * file it is given.
 */
#include "definition.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "definition_internal.h"

/* ---- small public helpers ---- */

static const char *const step_kind_names[] = {
	[ORC_STEP_COMMAND] = "command",
	[ORC_STEP_WAIT] = "wait",
	[ORC_STEP_DELAY] = "delay",
	[ORC_STEP_SAGA] = "saga",
};

const char *
orc_step_kind_name(enum orc_step_kind kind)
{
	size_t n = sizeof(step_kind_names) / sizeof(step_kind_names[0]);

	if ((size_t)kind >= n)
		return "unknown";
	return step_kind_names[kind];
}

static const char *const key_reuse_names[] = {
	[ORC_KEY_REUSE_REJECT] = "reject",
	[ORC_KEY_REUSE_AFTER_FINISH] = "after_finish",
	[ORC_KEY_REUSE_AFTER_FAILURE] = "after_failure",
};

const char *
orc_key_reuse_name(enum orc_key_reuse policy)
{
	size_t n = sizeof(key_reuse_names) / sizeof(key_reuse_names[0]);

	if ((size_t)policy >= n)
		return "unknown";
	return key_reuse_names[policy];
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
	free(st->map.items);
	free(st->map.concurrency_from);
	free(st->child.definition);
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

/*
 * Append one issue: pointer is copied, message (new) is taken.  Returns
 * false when out of memory; message is then freed and issues unchanged.
 */
static bool
append_issue(struct orc_definition_issues *issues, const char *pointer,
	     char *message)
{
	struct orc_definition_issue *v;
	char *p = strdup(pointer);

	v = realloc(issues->v, (issues->n + 1) * sizeof(*v));
	if (message == NULL || p == NULL || v == NULL) {
		free(message);
		free(p);
		if (v != NULL)
			issues->v = v;
		return false;
	}
	issues->v = v;
	v[issues->n].pointer = p;
	v[issues->n].message = message;
	issues->n++;
	return true;
}

static void
add_issue_v(struct orc_checker *c, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
add_issue_v(struct orc_checker *c, const char *fmt, va_list ap)
{
	char *message;
	va_list ap2;
	int n;

	c->found++;
	if (c->oom)
		return;
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	message = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (message != NULL)
		vsnprintf(message, (size_t)n + 1, fmt, ap);
	if (!append_issue(c->issues, c->path.data ? c->path.data : "",
			  message))
		c->oom = true;
}

void
orc_checker_issue(struct orc_checker *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_issue_v(c, fmt, ap);
	va_end(ap);
}

void
orc_checker_issue_at(struct orc_checker *c, const char *token,
		     const char *fmt, ...)
{
	size_t old = orc_checker_push(c, token);
	va_list ap;

	va_start(ap, fmt);
	add_issue_v(c, fmt, ap);
	va_end(ap);
	orc_checker_pop(c, old);
}

size_t
orc_checker_push(struct orc_checker *c, const char *token)
{
	size_t old = c->path.len;

	orc_strbuf_putc(&c->path, '/');
	for (const char *t = token; *t; t++) {
		if (*t == '~')
			orc_strbuf_puts(&c->path, "~0");
		else if (*t == '/')
			orc_strbuf_puts(&c->path, "~1");
		else
			orc_strbuf_putc(&c->path, *t);
	}
	if (c->path.oom)
		c->oom = true;
	return old;
}

size_t
orc_checker_push_index(struct orc_checker *c, size_t i)
{
	char tok[32];

	snprintf(tok, sizeof(tok), "%zu", i);
	return orc_checker_push(c, tok);
}

size_t
orc_checker_push_step(struct orc_checker *c, size_t i)
{
	size_t old = orc_checker_push(c, "steps");

	orc_checker_push_index(c, i);
	return old;
}

void
orc_checker_pop(struct orc_checker *c, size_t len)
{
	/* strbuf has no truncate: cut it by hand, back to a push's mark */
	if (c->path.data == NULL)
		return;
	c->path.len = len;
	c->path.data[len] = '\0';
}

char *
orc_checker_strdup(struct orc_checker *c, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		c->oom = true;
	return d;
}

static const char *const want_names[] = {
	[ORC_WANT_STRING] = "string",   [ORC_WANT_INTEGER] = "integer",
	[ORC_WANT_NUMBER] = "number",   [ORC_WANT_BOOLEAN] = "boolean",
	[ORC_WANT_OBJECT] = "object",   [ORC_WANT_ARRAY] = "array",
};

static bool
is(const json_t *v, enum orc_want want)
{
	switch (want) {
	case ORC_WANT_STRING:
		return json_is_string(v);
	case ORC_WANT_INTEGER:
		return json_is_integer(v);
	case ORC_WANT_NUMBER:
		return json_is_number(v);
	case ORC_WANT_BOOLEAN:
		return json_is_boolean(v);
	case ORC_WANT_OBJECT:
		return json_is_object(v);
	case ORC_WANT_ARRAY:
		return json_is_array(v);
	}
	return false;
}

bool
orc_checker_typed(struct orc_checker *c, const json_t *v, enum orc_want want)
{
	if (is(v, want))
		return true;
	orc_checker_issue(c, "expected %s", want_names[want]);
	return false;
}

/* ---- loading ---- */

/* Run the passes; the result is in c->found, c->oom and c->def. */
static void
check(struct orc_checker *c, const json_t *body)
{
	orc_checker_shape(c, body);
	if (c->oom || c->def->n_steps == 0)
		return;
	orc_checker_graph(c);
	if (c->oom)
		return;
	orc_checker_refs(c);
}

enum orc_status
orc_definition_from_json(json_t *body, struct orc_definition **out,
			 struct orc_definition_issues *issues)
{
	struct orc_checker c = {0};
	struct orc_definition_issues scratch = {0};
	enum orc_status st;

	*out = NULL;
	c.issues = issues != NULL ? issues : &scratch;
	orc_strbuf_init(&c.path);
	c.def = calloc(1, sizeof(*c.def));
	if (c.def == NULL)
		return ORC_FATAL;
	check(&c, body);
	if (c.oom)
		st = ORC_FATAL;
	else if (c.found > 0)
		st = ORC_INVALID;
	else
		st = ORC_OK;
	orc_strbuf_finish(&c.path);
	free(c.step_ok);
	free(c.incomplete);
	orc_definition_issues_finish(&scratch);
	if (st != ORC_OK) {
		orc_definition_destroy(c.def);
		return st;
	}
	c.def->body = json_incref(body);
	*out = c.def;
	return ORC_OK;
}

/* Add one issue without a checker (the file could not be parsed). */
static enum orc_status
single_issue(struct orc_definition_issues *issues, const char *pointer,
	     const char *message)
{
	if (issues == NULL)
		return ORC_INVALID;
	if (!append_issue(issues, pointer, strdup(message)))
		return ORC_FATAL;
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
		return orc_error_set(err, ORC_NOT_FOUND,
				     "could not open file: %s",
				     strerror(errno));
	body = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL && ferror(f)) {
		int e = errno;

		fclose(f);
		return orc_error_set(err, ORC_NOT_FOUND,
				     "could not read file: %s", strerror(e));
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
