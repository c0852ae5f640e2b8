/*
 * definition_diff.c - what changed between two versions of a definition.
 *
 * Steps are matched by name; a step of the old version that is gone and
 * a new step of the same kind that sends the same command type (or
 * awaits the same event type, waits as long, or starts a child of the
 * same definition) are taken for a rename,
 * the first such pair in definition order (a map step is only taken for
 * another map step).  For every matched pair the members that differ are
 * named (needs, when, command, timeout, retry, compensation, ...), compared
 * as the JSON they were loaded from; a dependency on a renamed step counts
 * as unchanged.  A map is compared by what it means, not how it is
 * written: "map added", "map removed", or which of "map.items",
 * "map.max_concurrency" and "map.min_success" changed (so a min_success
 * of 1.0 is the same as none: all items).  A saga step's child is
 * compared the same way: "saga added", "saga removed" (the step's kind
 * changed), or which of "saga.definition", "saga.version", "saga.key" and
 * "saga.data" changed (no data is the same as "${/input}", what it
 * defaults to).  At the top level,
 * the trigger, timeout, retention and output are compared the same way.
 * Pure: no I/O; for `orchestrator definitions diff`.
 */
#include "definition_diff.h"

#include <stdlib.h>
#include <string.h>

/* The JSON of step i of def (borrowed), from the body it was loaded from. */
static const json_t *
step_json(const struct orc_definition *def, size_t i)
{
	const json_t *steps = json_object_get(def->body, "steps");
	const json_t *s;
	size_t k;

	json_array_foreach(steps, k, s) {
		const char *name = json_string_value(json_object_get(s, "name"));

		if (name != NULL && strcmp(name, def->steps[i].name) == 0)
			return s;
	}
	return NULL;
}

/* What identifies a step's work: its command or event type, or delay. */
static bool
same_work(const struct orc_step_def *a, const struct orc_step_def *b)
{
	if (a->kind != b->kind || a->has_map != b->has_map)
		return false;
	switch (a->kind) {
	case ORC_STEP_COMMAND:
		return strcmp(a->command.type, b->command.type) == 0;
	case ORC_STEP_WAIT:
		return strcmp(a->wait.type, b->wait.type) == 0;
	case ORC_STEP_DELAY:
		return a->delay_ms == b->delay_ms;
	case ORC_STEP_SAGA:
		return strcmp(a->child.definition, b->child.definition) == 0;
	}
	return false;
}

/* The names of step i's needs in def, renamed by to_new (may be NULL). */
static json_t *
needs_names(const struct orc_definition *def, size_t i,
	    const ptrdiff_t *to_new, const struct orc_definition *other)
{
	json_t *names = json_array();

	for (size_t k = 0; names != NULL && k < def->steps[i].n_needs; k++) {
		size_t n = def->steps[i].needs[k];
		const char *name = to_new != NULL && to_new[n] >= 0
					   ? other->steps[to_new[n]].name
					   : def->steps[n].name;

		json_array_append_new(names, json_string(name));
	}
	return names;
}

/* Members compared on their own, not as JSON. */
static bool
compared_apart(const char *key)
{
	return strcmp(key, "name") == 0 || strcmp(key, "needs") == 0 ||
	       strcmp(key, "description") == 0 || strcmp(key, "map") == 0 ||
	       strcmp(key, "saga") == 0;
}

static bool
same_string(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* What changed in the map of step a to step b, into what. */
static void
changed_map(const struct orc_step_def *a, const struct orc_step_def *b,
	    json_t *what)
{
	const struct orc_map_def *ma = &a->map, *mb = &b->map;

	if (a->has_map != b->has_map) {
		json_array_append_new(what, json_string(a->has_map
								? "map removed"
								: "map added"));
		return;
	}
	if (!a->has_map)
		return;
	if (!same_string(ma->items, mb->items))
		json_array_append_new(what, json_string("map.items"));
	if (!same_string(ma->concurrency_from, mb->concurrency_from) ||
	    (ma->concurrency_from == NULL &&
	     ma->concurrency != mb->concurrency))
		json_array_append_new(what, json_string("map.max_concurrency"));
	if (ma->min_success != mb->min_success ||
	    ma->min_fraction != mb->min_fraction)
		json_array_append_new(what, json_string("map.min_success"));
}

/* A child's data template; NULL (none) stands for its default. */
static bool
same_child_data(const json_t *a, const json_t *b)
{
	const char *input = "${/input}";

	if (a == NULL && b == NULL)
		return true;
	if (a == NULL || b == NULL) {
		const json_t *v = a != NULL ? a : b;

		return json_is_string(v) &&
		       strcmp(json_string_value(v), input) == 0;
	}
	return json_equal(a, b);
}

/* What changed in the child of saga step a to saga step b, into what. */
static void
changed_child(const struct orc_step_def *a, const struct orc_step_def *b,
	      json_t *what)
{
	const struct orc_child_def *ca = &a->child, *cb = &b->child;

	if ((a->kind == ORC_STEP_SAGA) != (b->kind == ORC_STEP_SAGA)) {
		json_array_append_new(what, json_string(a->kind == ORC_STEP_SAGA
								? "saga removed"
								: "saga added"));
		return;
	}
	if (a->kind != ORC_STEP_SAGA)
		return;
	if (!same_string(ca->definition, cb->definition))
		json_array_append_new(what, json_string("saga.definition"));
	if (ca->version != cb->version)
		json_array_append_new(what, json_string("saga.version"));
	if (!(ca->key == NULL ? cb->key == NULL
			      : cb->key != NULL && json_equal(ca->key, cb->key)))
		json_array_append_new(what, json_string("saga.key"));
	if (!same_child_data(ca->data, cb->data))
		json_array_append_new(what, json_string("saga.data"));
}

/* The members of a and b (step JSON) that differ, into what. */
static void
changed_members(const json_t *a, const json_t *b, json_t *what,
		bool needs_differ)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)a, key, v) {
		if (compared_apart(key))
			continue;
		if (!json_equal(v, json_object_get(b, key)))
			json_array_append_new(what, json_string(key));
	}
	json_object_foreach((json_t *)b, key, v) {
		if (compared_apart(key))
			continue;
		if (json_object_get(a, key) == NULL)
			json_array_append_new(what, json_string(key));
	}
	if (needs_differ)
		json_array_append_new(what, json_string("needs"));
}

json_t *
orc_definition_diff(const struct orc_definition *a,
		    const struct orc_definition *b)
{
	static const char *const top[] = {"trigger", "timeout", "retention",
					  "output"};
	ptrdiff_t *to_new = calloc(a->n_steps + 1, sizeof(*to_new));
	bool *taken = calloc(b->n_steps + 1, sizeof(*taken));
	json_t *out = json_pack("{s:s,s:i,s:i,s:[],s:[],s:[],s:[],s:[]}",
				"name", a->name, "from", a->version, "to",
				b->version, "added", "removed", "renamed",
				"changed", "saga");

	if (to_new == NULL || taken == NULL || out == NULL)
		goto oom;
	for (size_t i = 0; i < a->n_steps; i++) {
		to_new[i] = orc_definition_step_index(b, a->steps[i].name);
		if (to_new[i] >= 0)
			taken[to_new[i]] = true;
	}
	/* renames: a gone step and a new one doing the same work */
	for (size_t i = 0; i < a->n_steps; i++) {
		if (to_new[i] >= 0)
			continue;
		for (size_t j = 0; j < b->n_steps; j++) {
			if (taken[j] || orc_definition_step_index(
						a, b->steps[j].name) >= 0 ||
			    !same_work(&a->steps[i], &b->steps[j]))
				continue;
			to_new[i] = (ptrdiff_t)j;
			taken[j] = true;
			json_array_append_new(
				json_object_get(out, "renamed"),
				json_pack("{s:s,s:s}", "from", a->steps[i].name,
					  "to", b->steps[j].name));
			break;
		}
	}
	for (size_t i = 0; i < a->n_steps; i++) {
		json_t *what, *na, *nb;

		if (to_new[i] < 0) {
			json_array_append_new(json_object_get(out, "removed"),
					      json_string(a->steps[i].name));
			continue;
		}
		what = json_array();
		na = needs_names(a, i, to_new, b);
		nb = needs_names(b, (size_t)to_new[i], NULL, NULL);
		if (what == NULL || na == NULL || nb == NULL) {
			json_decref(what);
			json_decref(na);
			json_decref(nb);
			goto oom;
		}
		changed_members(step_json(a, i), step_json(b, (size_t)to_new[i]),
				what, !json_equal(na, nb));
		changed_map(&a->steps[i], &b->steps[to_new[i]], what);
		changed_child(&a->steps[i], &b->steps[to_new[i]], what);
		json_decref(na);
		json_decref(nb);
		if (json_array_size(what) == 0) {
			json_decref(what);
			continue;
		}
		json_array_append_new(json_object_get(out, "changed"),
				      json_pack("{s:s,s:o}", "step",
						b->steps[to_new[i]].name,
						"what", what));
	}
	for (size_t j = 0; j < b->n_steps; j++)
		if (!taken[j])
			json_array_append_new(json_object_get(out, "added"),
					      json_string(b->steps[j].name));
	for (size_t k = 0; k < sizeof(top) / sizeof(top[0]); k++)
		if (!json_equal(json_object_get(a->body, top[k]),
				json_object_get(b->body, top[k])) &&
		    (json_object_get(a->body, top[k]) != NULL ||
		     json_object_get(b->body, top[k]) != NULL))
			json_array_append_new(json_object_get(out, "saga"),
					      json_string(top[k]));
	free(to_new);
	free(taken);
	return out;
oom:
	free(to_new);
	free(taken);
	json_decref(out);
	return NULL;
}
