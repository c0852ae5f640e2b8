/*
 * definition_shape.c - pass 1 of the definition checker: the shape.
 *
 * Walks the body once, top-down, and checks what schemas/saga-definition.
 * schema.json says: the type of every member, required and unknown
 * properties, names, durations, JSON Pointers of keys, event type lists,
 * retry policies, a command step's "map", a saga step's child and the
 * members only a command step may have.  It fills the struct
 * orc_definition as it goes, with the defaults the language gives, and
 * keeps a value even where a sibling is wrong, so that the later passes
 * can still say something useful.
 *
 * It does not look across steps (needs, duplicate names: the graph pass) nor
 * inside conditions and templates (the references pass); it only keeps
 * "when" for them.  Issues go at the JSON Pointer of the bad value, or at
 * the object that lacks a required member.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "definition_internal.h"
#include "duration.h"
#include "jsonp.h"
#include "text.h"

/*
 * obj[key] when present and of the type wanted; NULL otherwise, after an
 * issue when it is required (at obj) or of the wrong type (at the member).
 */
static json_t *
member(struct orc_checker *c, const json_t *obj, const char *key,
       enum orc_want want, bool required)
{
	json_t *v = json_object_get(obj, key);
	size_t old;
	bool ok;

	if (v == NULL) {
		if (required)
			orc_checker_issue(c, "missing required property \"%s\"",
					  key);
		return NULL;
	}
	old = orc_checker_push(c, key);
	ok = orc_checker_typed(c, v, want);
	orc_checker_pop(c, old);
	return ok ? v : NULL;
}

/* Every property of obj must be in allowed (NULL-terminated). */
static void
known_properties(struct orc_checker *c, const json_t *obj,
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
			orc_checker_issue_at(c, key, "unknown property \"%s\"",
					     key);
	}
}

/* A string member; *out is set (new) when it is present and a string. */
static bool
string_member(struct orc_checker *c, const json_t *obj, const char *key,
	      bool required, bool nonempty, char **out)
{
	json_t *v = member(c, obj, key, ORC_WANT_STRING, required);

	if (v == NULL)
		return false;
	if (nonempty && json_string_length(v) == 0) {
		orc_checker_issue_at(c, key, "must not be empty");
		return false;
	}
	*out = orc_checker_strdup(c, json_string_value(v));
	return *out != NULL;
}

/*
 * A required name (the saga's or a step's).  *out is set (new) even when
 * the name breaks the rule, so that needs on a step so named still resolve.
 */
static void
name_member(struct orc_checker *c, const json_t *obj, char **out)
{
	json_t *v = member(c, obj, "name", ORC_WANT_STRING, true);

	if (v == NULL)
		return;
	if (!orc_text_name_valid(json_string_value(v)))
		orc_checker_issue_at(c, "name", "invalid name");
	*out = orc_checker_strdup(c, json_string_value(v));
}

static bool
duration_member(struct orc_checker *c, const json_t *obj, const char *key,
		bool required, int64_t *out)
{
	json_t *v = member(c, obj, key, ORC_WANT_STRING, required);

	if (v == NULL)
		return false;
	if (!orc_duration_parse(json_string_value(v), out)) {
		orc_checker_issue_at(c, key, "invalid duration");
		return false;
	}
	return true;
}

static void
pointer_member(struct orc_checker *c, const json_t *obj, const char *key,
	       char **out)
{
	json_t *v = member(c, obj, key, ORC_WANT_STRING, true);

	if (v == NULL)
		return;
	if (!orc_jsonp_valid(json_string_value(v))) {
		orc_checker_issue_at(c, key, "invalid JSON pointer");
		return;
	}
	*out = orc_checker_strdup(c, json_string_value(v));
}

/* A list of event types. */
static void
strv_member(struct orc_checker *c, const json_t *obj, const char *key,
	    bool required, bool nonempty, struct orc_strv *out)
{
	json_t *v = member(c, obj, key, ORC_WANT_ARRAY, required);
	json_t *item;
	size_t i, old;

	if (v == NULL)
		return;
	old = orc_checker_push(c, key);
	if (nonempty && json_array_size(v) == 0)
		orc_checker_issue(c, "must not be empty");
	if (json_array_size(v) > 0) {
		out->v = calloc(json_array_size(v), sizeof(*out->v));
		if (out->v == NULL)
			c->oom = true;
	}
	json_array_foreach(v, i, item) {
		if (!json_is_string(item)) {
			size_t o = orc_checker_push_index(c, i);

			orc_checker_issue(c, "expected string");
			orc_checker_pop(c, o);
			continue;
		}
		if (out->v != NULL) {
			out->v[out->n] =
				orc_checker_strdup(c, json_string_value(item));
			if (out->v[out->n] != NULL)
				out->n++;
		}
	}
	orc_checker_pop(c, old);
}

static void
int_member(struct orc_checker *c, const json_t *obj, const char *key,
	   bool required, int *out)
{
	json_t *v = member(c, obj, key, ORC_WANT_INTEGER, required);

	if (v == NULL)
		return;
	if (json_integer_value(v) < 1)
		orc_checker_issue_at(c, key, "must be at least 1");
	else if (json_integer_value(v) > INT_MAX)
		orc_checker_issue_at(c, key, "must be at most %d", INT_MAX);
	else
		*out = (int)json_integer_value(v);
}

/* True when the array list (may be anything) holds a value equal to v. */
static bool
array_has(const json_t *list, const json_t *v)
{
	const json_t *item;
	size_t i;

	if (!json_is_array(list))
		return false;
	json_array_foreach(list, i, item)
		if (json_equal(item, v))
			return true;
	return false;
}

/*
 * The issue message at list[i] (the current path + "/key/i") for every
 * string there whose presence in other (an array, or anything else for
 * none) is `in_other`.
 */
static void
check_listed(struct orc_checker *c, const json_t *list, const char *key,
	     const json_t *other, bool in_other, const char *message)
{
	json_t *item;
	size_t i, old;

	if (!json_is_array(list))
		return;
	old = orc_checker_push(c, key);
	json_array_foreach(list, i, item) {
		size_t o;

		if (!json_is_string(item) || array_has(other, item) != in_other)
			continue;
		o = orc_checker_push_index(c, i);
		orc_checker_issue(c, "%s", message);
		orc_checker_pop(c, o);
	}
	orc_checker_pop(c, old);
}

/* No type may be both a success and a failure of obj. */
static void
success_failure_disjoint(struct orc_checker *c, const json_t *obj)
{
	check_listed(c, json_object_get(obj, "failure"), "failure",
		     json_object_get(obj, "success"), true,
		     "listed in both \"success\" and \"failure\"");
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
check_retry(struct orc_checker *c, const json_t *obj, bool compensation,
	    struct orc_retry *r)
{
	json_t *v;

	known_properties(c, obj,
			 compensation ? compensation_retry_props : retry_props);
	int_member(c, obj, "max_attempts", !compensation, &r->max_attempts);
	duration_member(c, obj, "backoff", !compensation, &r->backoff_ms);
	v = member(c, obj, "multiplier", ORC_WANT_NUMBER, false);
	if (v != NULL) {
		if (json_number_value(v) < 1)
			orc_checker_issue_at(c, "multiplier",
					     "must be at least 1");
		else
			r->multiplier = json_number_value(v);
	}
	duration_member(c, obj, "max_backoff", false, &r->max_backoff_ms);
	if (!compensation)
		strv_member(c, obj, "on", false, false, &r->on);
}

static void
check_command(struct orc_checker *c, const json_t *obj,
	      struct orc_command_def *cmd)
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
check_compensation(struct orc_checker *c, const json_t *obj,
		   struct orc_compensation_def *comp)
{
	json_t *retry;

	known_properties(c, obj, compensation_props);
	check_command(c, obj, &comp->command);
	strv_member(c, obj, "success", true, true, &comp->success);
	strv_member(c, obj, "failure", false, false, &comp->failure);
	success_failure_disjoint(c, obj);
	duration_member(c, obj, "timeout", false, &comp->timeout_ms);
	comp->retry.max_attempts = 5;
	comp->retry.backoff_ms = 1000;
	comp->retry.multiplier = 2;
	comp->retry.max_backoff_ms = 60 * 1000;
	retry = member(c, obj, "retry", ORC_WANT_OBJECT, false);
	if (retry != NULL) {
		size_t old = orc_checker_push(c, "retry");

		check_retry(c, retry, true, &comp->retry);
		orc_checker_pop(c, old);
	}
}

static const char *const wait_props[] = {
	"topic", "type", "key", "timeout", "on_timeout", "early_ttl", NULL,
};

static void
check_wait(struct orc_checker *c, const json_t *obj, struct orc_wait_def *w)
{
	json_t *v;

	known_properties(c, obj, wait_props);
	string_member(c, obj, "topic", true, true, &w->topic);
	string_member(c, obj, "type", true, true, &w->type);
	pointer_member(c, obj, "key", &w->key);
	duration_member(c, obj, "timeout", false, &w->timeout_ms);
	duration_member(c, obj, "early_ttl", false, &w->early_ttl_ms);
	v = member(c, obj, "on_timeout", ORC_WANT_STRING, false);
	if (v != NULL) {
		if (strcmp(json_string_value(v), "continue") == 0)
			w->continue_on_timeout = true;
		else if (strcmp(json_string_value(v), "fail") != 0)
			orc_checker_issue_at(
				c, "on_timeout",
				"must be one of \"fail\", \"continue\"");
	}
}

static const char *const map_props[] = {
	"items", "max_concurrency", "min_success", NULL,
};

/*
 * obj[key], a string that is exactly one reference "${/pointer}": *out is
 * set to the pointer (new).  The pointer itself is checked by pass 3.
 */
static bool
reference_member(struct orc_checker *c, const json_t *obj, const char *key,
		 bool required, char **out)
{
	json_t *v = member(c, obj, key, ORC_WANT_STRING, required);

	if (v == NULL)
		return false;
	*out = orc_checker_exact_reference(c, json_string_value(v));
	if (*out == NULL && !c->oom)
		orc_checker_issue_at(c, key,
				     "expected a reference \"${/pointer}\"");
	return *out != NULL;
}

/*
 * "max_concurrency": a number within the bounds, or a reference whose
 * value the engine checks against the same bounds when the step starts.
 */
static void
check_map_concurrency(struct orc_checker *c, const json_t *v,
		      struct orc_map_def *m)
{
	size_t old = orc_checker_push(c, "max_concurrency");

	if (json_is_integer(v) && json_integer_value(v) >= 1 &&
	    json_integer_value(v) <= ORC_MAP_CONCURRENCY_MAX)
		m->concurrency = (int)json_integer_value(v);
	else if (json_is_string(v))
		m->concurrency_from =
			orc_checker_exact_reference(c, json_string_value(v));
	if (m->concurrency == 0 && m->concurrency_from == NULL && !c->oom)
		orc_checker_issue(c, "must be an integer from 1 to %d, or a "
				     "reference \"${/pointer}\"",
				  ORC_MAP_CONCURRENCY_MAX);
	orc_checker_pop(c, old);
}

/*
 * "min_success": an integer is a count of items, a number with a fraction
 * part (0.9, and 1.0, which jansson reads as a real) a share of them.
 */
static void
check_map_min_success(struct orc_checker *c, const json_t *v,
		      struct orc_map_def *m)
{
	size_t old = orc_checker_push(c, "min_success");

	if (json_is_integer(v) && json_integer_value(v) >= 1 &&
	    json_integer_value(v) <= ORC_MAP_ITEMS_MAX) {
		m->min_success = json_integer_value(v);
	} else if (json_is_integer(v) && json_integer_value(v) > 0) {
		orc_checker_issue(c, "must be at most %d, the most items a "
				     "map takes", ORC_MAP_ITEMS_MAX);
	} else if (json_is_real(v) && json_real_value(v) > 0 &&
		   json_real_value(v) <= 1) {
		m->min_fraction = json_real_value(v);
	} else {
		orc_checker_issue(c, "must be a count (an integer, at least 1) "
				     "or a fraction (more than 0, at most 1)");
	}
	orc_checker_pop(c, old);
}

/* A command step's "map", at /steps/<i>/map. */
static void
check_map(struct orc_checker *c, const json_t *obj, struct orc_map_def *m)
{
	json_t *v;

	known_properties(c, obj, map_props);
	reference_member(c, obj, "items", true, &m->items);
	if ((v = json_object_get(obj, "max_concurrency")) != NULL)
		check_map_concurrency(c, v, m);
	if (m->concurrency == 0)
		m->concurrency = ORC_MAP_CONCURRENCY_DEFAULT;
	m->min_success = 0;
	m->min_fraction = 1;
	if ((v = json_object_get(obj, "min_success")) != NULL)
		check_map_min_success(c, v, m);
}

/* The members of a command step, at /steps/<i>. */
static void
check_command_step(struct orc_checker *c, const json_t *js,
		   struct orc_step_def *st)
{
	static const char *const props[] = {"topic", "type", "data", NULL};
	json_t *v;

	if ((v = member(c, js, "command", ORC_WANT_OBJECT, true)) != NULL) {
		size_t old = orc_checker_push(c, "command");

		known_properties(c, v, props);
		check_command(c, v, &st->command);
		orc_checker_pop(c, old);
	}
	strv_member(c, js, "success", true, true, &st->success);
	strv_member(c, js, "failure", false, false, &st->failure);
	success_failure_disjoint(c, js);
	duration_member(c, js, "timeout", false, &st->timeout_ms);
	if ((v = member(c, js, "retry", ORC_WANT_OBJECT, false)) != NULL) {
		size_t old = orc_checker_push(c, "retry");
		json_t *on = json_object_get(v, "on");

		st->has_retry = true;
		check_retry(c, v, false, &st->retry);
		check_listed(c, on, "on", json_object_get(js, "failure"),
			     false, "not listed in \"failure\"");
		if (json_object_get(js, "timeout") == NULL &&
		    json_array_size(on) == 0)
			orc_checker_issue(
				c, "retry needs a step \"timeout\" or \"on\"");
		orc_checker_pop(c, old);
	}
	if ((v = member(c, js, "compensation", ORC_WANT_OBJECT, false)) !=
	    NULL) {
		size_t old = orc_checker_push(c, "compensation");

		st->has_compensation = true;
		check_compensation(c, v, &st->compensation);
		orc_checker_pop(c, old);
	}
	if ((v = member(c, js, "map", ORC_WANT_OBJECT, false)) != NULL) {
		size_t old = orc_checker_push(c, "map");

		st->has_map = true;
		check_map(c, v, &st->map);
		orc_checker_pop(c, old);
	}
}

static const char *const child_props[] = {
	"definition", "version", "key", "data", NULL,
};

/*
 * A saga step's "saga", at /steps/<i>/saga: the child's definition name
 * (the rules of a saga's name), an optional version, and the key and data
 * templates, kept borrowed from the body; their references are pass 3's.
 */
static void
check_child(struct orc_checker *c, const json_t *obj, struct orc_child_def *ch)
{
	json_t *v;

	known_properties(c, obj, child_props);
	if ((v = member(c, obj, "definition", ORC_WANT_STRING, true)) != NULL) {
		if (!orc_text_name_valid(json_string_value(v)))
			orc_checker_issue_at(c, "definition", "invalid name");
		ch->definition = orc_checker_strdup(c, json_string_value(v));
	}
	int_member(c, obj, "version", false, &ch->version);
	if ((v = member(c, obj, "key", ORC_WANT_STRING, false)) != NULL) {
		if (json_string_length(v) == 0)
			orc_checker_issue_at(c, "key", "must not be empty");
		else
			ch->key = v;
	}
	ch->data = json_object_get(obj, "data");
}

static const char *const step_props[] = {
	"name", "description", "needs", "when", "command", "wait", "delay",
	"saga", "success", "failure", "timeout", "retry", "compensation", "map",
	NULL,
};

static const char *const command_only[] = {
	"success", "failure", "timeout", "retry", "compensation", "map", NULL,
};

/* One step, at /steps/<i>.  Returns true when its kind is known. */
static bool
check_step(struct orc_checker *c, const json_t *js, struct orc_step_def *st)
{
	int n_kinds = 0;
	json_t *v;

	if (!orc_checker_typed(c, js, ORC_WANT_OBJECT))
		return false;
	known_properties(c, js, step_props);

	name_member(c, js, &st->name);
	member(c, js, "description", ORC_WANT_STRING, false);
	member(c, js, "needs", ORC_WANT_ARRAY, false); /* items: pass 2 */
	if ((v = json_object_get(js, "when")) != NULL)
		st->when = json_incref(v); /* checked in pass 3 */

	/* a step's kind is the one member named after a kind */
	for (int k = ORC_STEP_COMMAND; k <= ORC_STEP_SAGA; k++)
		if (json_object_get(js, orc_step_kind_name(k)) != NULL) {
			st->kind = (enum orc_step_kind)k;
			n_kinds++;
		}
	if (n_kinds != 1) {
		orc_checker_issue(c, "step must have exactly one of "
				     "\"command\", \"wait\", \"delay\", "
				     "\"saga\"");
		return false;
	}

	if (st->kind != ORC_STEP_COMMAND) {
		for (size_t k = 0; command_only[k] != NULL; k++)
			/* a saga step's deadline is its own "timeout" */
			if (json_object_get(js, command_only[k]) != NULL &&
			    (st->kind != ORC_STEP_SAGA ||
			     strcmp(command_only[k], "timeout") != 0))
				orc_checker_issue_at(
					c, command_only[k],
					"only command steps can have \"%s\"",
					command_only[k]);
	}

	st->retry.max_attempts = 1;
	st->retry.multiplier = 2;
	switch (st->kind) {
	case ORC_STEP_COMMAND:
		check_command_step(c, js, st);
		break;
	case ORC_STEP_WAIT:
		if ((v = member(c, js, "wait", ORC_WANT_OBJECT, true)) !=
		    NULL) {
			size_t old = orc_checker_push(c, "wait");

			check_wait(c, v, &st->wait);
			orc_checker_pop(c, old);
		}
		break;
	case ORC_STEP_DELAY:
		duration_member(c, js, "delay", true, &st->delay_ms);
		break;
	case ORC_STEP_SAGA:
		if ((v = member(c, js, "saga", ORC_WANT_OBJECT, true)) !=
		    NULL) {
			size_t old = orc_checker_push(c, "saga");

			check_child(c, v, &st->child);
			orc_checker_pop(c, old);
		}
		duration_member(c, js, "timeout", false, &st->timeout_ms);
		break;
	}
	return true;
}

static void
check_trigger(struct orc_checker *c, const json_t *obj,
	      struct orc_trigger_def *t)
{
	static const char *const props[] = {"topic", "type", "key",
					    "key_reuse", NULL};
	json_t *v;

	known_properties(c, obj, props);
	string_member(c, obj, "topic", true, true, &t->topic);
	string_member(c, obj, "type", true, true, &t->type);
	pointer_member(c, obj, "key", &t->key);
	v = member(c, obj, "key_reuse", ORC_WANT_STRING, false);
	if (v == NULL)
		return;
	for (int p = ORC_KEY_REUSE_REJECT; p <= ORC_KEY_REUSE_AFTER_FAILURE;
	     p++)
		if (strcmp(json_string_value(v), orc_key_reuse_name(p)) == 0) {
			t->key_reuse = p;
			return;
		}
	orc_checker_issue_at(c, "key_reuse",
			     "must be one of \"reject\", \"after_finish\", "
			     "\"after_failure\"");
}

static const char *const top_props[] = {
	"$schema", "name", "version", "description", "trigger", "timeout",
	"retention", "output",
	"steps", NULL,
};

void
orc_checker_shape(struct orc_checker *c, const json_t *body)
{
	struct orc_definition *def = c->def;
	json_t *v, *js;
	size_t i;

	if (!orc_checker_typed(c, body, ORC_WANT_OBJECT))
		return;
	known_properties(c, body, top_props);
	member(c, body, "$schema", ORC_WANT_STRING, false);
	name_member(c, body, &def->name);
	int_member(c, body, "version", true, &def->version);
	string_member(c, body, "description", false, false, &def->description);
	if ((v = member(c, body, "trigger", ORC_WANT_OBJECT, true)) != NULL) {
		size_t old = orc_checker_push(c, "trigger");

		check_trigger(c, v, &def->trigger);
		orc_checker_pop(c, old);
	}
	duration_member(c, body, "timeout", false, &def->timeout_ms);
	duration_member(c, body, "retention", false, &def->retention_ms);
	/* any JSON; its references are checked by pass 3 */
	def->output = json_object_get(body, "output");

	v = member(c, body, "steps", ORC_WANT_ARRAY, true);
	if (v == NULL)
		return;
	if (json_array_size(v) == 0) {
		orc_checker_issue_at(c, "steps", "must not be empty");
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
		size_t old = orc_checker_push_step(c, i);

		def->steps[i].index = i;
		c->step_ok[i] = check_step(c, js, &def->steps[i]);
		orc_checker_pop(c, old);
	}
}
