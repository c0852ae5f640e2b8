/*
 * engine_state.c - what engine.h defines besides the transition: the names
 * of its enums, a saga's lifetime (init, copy, finish) and the effect
 * list's (init, reset, finish, as JSON).
 *
 * The name tables and parsers are generated from engine.h's X-macro
 * tables, one row per constant, so a constant without a name cannot exist.
 * A name is found by index, a parse is a scan of a handful of strings.
 * Nothing here changes a saga's status or reads an input: that is
 * engine.c's, alone.
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- names ---- */

#define NAME_ENTRY(constant, name) [constant] = name,

static const char *const saga_status_names[] = {
	ORC_SAGA_STATUSES(NAME_ENTRY)};
static const char *const step_status_names[] = {
	ORC_STEP_STATUSES(NAME_ENTRY)};
static const char *const wake_reason_names[] = {
	ORC_WAKE_REASONS(NAME_ENTRY)};
static const char *const cause_names[] = {ORC_SAGA_CAUSES(NAME_ENTRY)};
static const char *const input_kind_names[] = {ORC_INPUT_KINDS(NAME_ENTRY)};
static const char *const effect_kind_names[] = {
	ORC_EFFECT_KINDS(NAME_ENTRY)};
static const char *const command_kind_names[] = {
	ORC_COMMAND_KINDS(NAME_ENTRY)};
static const char *const ignore_reason_names[] = {
	ORC_IGNORE_REASONS(NAME_ENTRY)};
static const char *const child_action_names[] = {
	ORC_CHILD_ACTIONS(NAME_ENTRY)};

static const char *
name_of(const char *const *names, size_t n, unsigned value)
{
	return value < n && names[value] != NULL ? names[value] : "?";
}

static bool
parse_name(const char *const *names, size_t n, const char *text,
	   unsigned *out)
{
	if (text == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], text) == 0) {
			*out = (unsigned)i;
			return true;
		}
	return false;
}

/* const char *function(type value): the name in names, "?" if none. */
#define NAME_FUNCTION(function, type, names)                                   \
	const char *function(type value)                                       \
	{                                                                      \
		return name_of(names, COUNT(names), (unsigned)value);          \
	}

/* bool function(const char *text, type *out): the value named text. */
#define PARSE_FUNCTION(function, type, names)                                  \
	bool function(const char *text, type *out)                             \
	{                                                                      \
		unsigned v;                                                    \
									       \
		if (!parse_name(names, COUNT(names), text, &v))                \
			return false;                                          \
		*out = (type)v;                                                \
		return true;                                                   \
	}

NAME_FUNCTION(orc_saga_status_name, enum orc_saga_status, saga_status_names)
PARSE_FUNCTION(orc_saga_status_parse, enum orc_saga_status, saga_status_names)
NAME_FUNCTION(orc_step_status_name, enum orc_step_status, step_status_names)
PARSE_FUNCTION(orc_step_status_parse, enum orc_step_status, step_status_names)
NAME_FUNCTION(orc_wake_reason_name, enum orc_wake_reason, wake_reason_names)
PARSE_FUNCTION(orc_wake_reason_parse, enum orc_wake_reason, wake_reason_names)
NAME_FUNCTION(orc_saga_cause_name, enum orc_saga_cause, cause_names)
PARSE_FUNCTION(orc_saga_cause_parse, enum orc_saga_cause, cause_names)
NAME_FUNCTION(orc_input_kind_name, enum orc_input_kind, input_kind_names)
NAME_FUNCTION(orc_effect_kind_name, enum orc_effect_kind, effect_kind_names)
NAME_FUNCTION(orc_command_kind_name, enum orc_command_kind, command_kind_names)
NAME_FUNCTION(orc_ignore_reason_name, enum orc_ignore_reason,
	      ignore_reason_names)
NAME_FUNCTION(orc_child_action_name, enum orc_child_action,
	      child_action_names)

bool
orc_saga_status_is_final(enum orc_saga_status status)
{
	return status != ORC_SAGA_RUNNING && status != ORC_SAGA_COMPENSATING;
}

bool
orc_saga_status_is_open(enum orc_saga_status status)
{
	return !orc_saga_status_is_final(status) || status == ORC_SAGA_STUCK;
}

bool
orc_key_reuse_allows(enum orc_key_reuse policy, enum orc_saga_status last)
{
	if (orc_saga_status_is_open(last))
		return false;
	switch (policy) {
	case ORC_KEY_REUSE_REJECT:
		return false;
	case ORC_KEY_REUSE_AFTER_FINISH:
		return true;
	case ORC_KEY_REUSE_AFTER_FAILURE:
		return last != ORC_SAGA_COMPLETED;
	}
	return false;
}

/* ---- saga state ---- */

void
orc_map_state_clear_items(struct orc_map_state *m)
{
	for (size_t k = 0; k < m->n; k++) {
		free(m->items[k].st.last_error);
		json_decref(m->items[k].st.replies);
		json_decref(m->items[k].output);
	}
	m->n = 0;
}

void
orc_map_state_destroy(struct orc_map_state *m)
{
	if (m == NULL)
		return;
	orc_map_state_clear_items(m);
	free(m->items);
	free(m);
}

/* A copy of a map state that shares the JSON values (never changed). */
static struct orc_map_state *
map_copy(const struct orc_map_state *src, bool *oom)
{
	struct orc_map_state *m;

	if (src == NULL)
		return NULL;
	m = malloc(sizeof(*m));
	if (m == NULL) {
		*oom = true;
		return NULL;
	}
	*m = *src;
	m->items = NULL;
	m->n = m->cap = 0;
	if (src->n > 0) {
		m->items = malloc(src->n * sizeof(*m->items));
		if (m->items == NULL) {
			free(m);
			*oom = true;
			return NULL;
		}
		m->cap = src->n;
	}
	for (size_t k = 0; k < src->n; k++) {
		struct orc_map_item *d = &m->items[m->n++];
		const struct orc_map_item *s = &src->items[k];

		*d = *s;
		d->st.last_error = NULL;
		if (s->st.last_error != NULL &&
		    (d->st.last_error = strdup(s->st.last_error)) == NULL)
			*oom = true;
		if (d->st.replies != NULL)
			json_incref(d->st.replies);
		if (d->output != NULL)
			json_incref(d->output);
	}
	return m;
}

/* strdup that keeps NULL; *oom set when out of memory. */
static char *
dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*oom = true;
	return d;
}

enum orc_status
orc_saga_init(struct orc_saga *saga, const struct orc_definition *def)
{
	memset(saga, 0, sizeof(*saga));
	saga->def = def;
	saga->n_steps = def->n_steps;
	saga->steps = calloc(def->n_steps ? def->n_steps : 1,
			     sizeof(*saga->steps));
	if (saga->steps == NULL)
		return ORC_FATAL;
	return ORC_OK;
}

void
orc_saga_finish(struct orc_saga *saga)
{
	if (saga == NULL)
		return;
	for (size_t i = 0; saga->steps != NULL && i < saga->n_steps; i++) {
		free(saga->steps[i].last_error);
		json_decref(saga->steps[i].early_event);
		json_decref(saga->steps[i].replies);
		orc_map_state_destroy(saga->steps[i].map);
	}
	free(saga->steps);
	free(saga->id);
	free(saga->key);
	free(saga->failure_reason);
	json_decref(saga->output);
	json_decref(saga->context);
	memset(saga, 0, sizeof(*saga));
}

/*
 * A copy of a context that shares the values no saga ever changes (the
 * trigger data, step results, the saga object) and copies the one object
 * the engine changes, "steps".  Linear in the number of steps, not in the
 * size of the data.
 */
static json_t *
context_copy(const json_t *ctx)
{
	json_t *copy;
	const char *key;
	json_t *v;

	copy = json_object();
	if (copy == NULL)
		return NULL;
	json_object_foreach((json_t *)ctx, key, v) {
		json_t *nv = strcmp(key, "steps") == 0 ? json_copy(v)
						      : json_incref(v);

		if (nv == NULL || json_object_set_new(copy, key, nv) != 0) {
			json_decref(copy);
			return NULL;
		}
	}
	return copy;
}

enum orc_status
orc_saga_copy(struct orc_saga *dst, const struct orc_saga *src)
{
	bool oom = false;

	memset(dst, 0, sizeof(*dst));
	if (orc_saga_init(dst, src->def) != ORC_OK)
		return ORC_FATAL;
	dst->id = dup_or_null(src->id, &oom);
	dst->key = dup_or_null(src->key, &oom);
	dst->status = src->status;
	dst->cause = src->cause;
	if (src->context != NULL) {
		dst->context = context_copy(src->context);
		oom = oom || dst->context == NULL;
	}
	dst->started_ms = src->started_ms;
	dst->deadline_ms = src->deadline_ms;
	dst->wake_ms = src->wake_ms;
	dst->seq = src->seq;
	dst->paused_ms = src->paused_ms;
	dst->failure_reason = dup_or_null(src->failure_reason, &oom);
	/* never changed in place: sharing it is safe */
	dst->output = src->output != NULL ? json_incref(src->output) : NULL;
	dst->lifecycle_seq = src->lifecycle_seq;
	for (size_t i = 0; i < src->n_steps && i < dst->n_steps; i++) {
		struct orc_saga_step *d = &dst->steps[i];

		*d = src->steps[i];
		d->last_error = dup_or_null(src->steps[i].last_error, &oom);
		d->early_event = src->steps[i].early_event != NULL
					 ? json_incref(src->steps[i].early_event)
					 : NULL;
		/* never changed in place: sharing it is safe */
		d->replies = src->steps[i].replies != NULL
				     ? json_incref(src->steps[i].replies)
				     : NULL;
		d->map = map_copy(src->steps[i].map, &oom);
	}
	if (oom) {
		orc_saga_finish(dst);
		return ORC_FATAL;
	}
	return ORC_OK;
}

/* ---- effects ---- */

void
orc_effects_init(struct orc_effects *fx)
{
	memset(fx, 0, sizeof(*fx));
}

void
orc_effects_reset(struct orc_effects *fx)
{
	for (size_t i = 0; i < fx->n; i++) {
		json_decref(fx->v[i].data);
		json_decref(fx->v[i].detail);
	}
	fx->n = 0;
	fx->result = ORC_RESULT_APPLIED;
	fx->ignore_reason = ORC_IGNORE_NONE;
	fx->wake_ms = 0;
	fx->wake_changed = false;
}

void
orc_effects_finish(struct orc_effects *fx)
{
	if (fx == NULL)
		return;
	orc_effects_reset(fx);
	free(fx->v);
	memset(fx, 0, sizeof(*fx));
}

static json_t *
effect_to_json(const struct orc_effect *e)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	if (!ok)
		return NULL;
	ok = json_object_set_new(o, "kind",
				 json_string(orc_effect_kind_name(e->kind))) ==
	     0;
	if (ok && e->step_name != NULL)
		ok = json_object_set_new(o, "step",
					 json_string(e->step_name)) == 0;
	if (ok && e->item >= 0)
		ok = json_object_set_new(o, "item", json_integer(e->item)) == 0;
	switch (e->kind) {
	case ORC_EFFECT_COMMAND:
		ok = ok &&
		     json_object_set_new(o, "command",
					 json_string(orc_command_kind_name(
						 e->command_kind))) == 0 &&
		     json_object_set_new(o, "attempt",
					 json_integer(e->attempt)) == 0 &&
		     json_object_set_new(o, "topic", json_string(e->topic)) ==
			     0 &&
		     json_object_set_new(o, "type", json_string(e->type)) ==
			     0 &&
		     json_object_set_new(o, "message_id",
					 json_string(e->message_id)) == 0 &&
		     json_object_set(o, "data", e->data) == 0;
		break;
	case ORC_EFFECT_HISTORY:
		ok = ok &&
		     json_object_set_new(o, "history",
					 json_string(e->history)) == 0 &&
		     json_object_set(o, "detail", e->detail) == 0;
		break;
	case ORC_EFFECT_CHILD:
		ok = ok &&
		     json_object_set_new(o, "action",
					 json_string(orc_child_action_name(
						 e->child_action))) == 0 &&
		     json_object_set_new(o, "child",
					 json_string(e->message_id)) == 0;
		if (ok && e->child_action == ORC_CHILD_START)
			ok = json_object_set_new(
				     o, "definition",
				     json_string(e->child_definition)) == 0 &&
			     json_object_set_new(
				     o, "version",
				     json_integer(e->child_version)) == 0 &&
			     json_object_set(o, "data", e->data) == 0;
		break;
	case ORC_EFFECT_SAGA_EVENT:
		ok = ok &&
		     json_object_set_new(
			     o, "status",
			     json_string(orc_saga_status_name(e->saga_status))) ==
			     0 &&
		     json_object_set_new(o, "type", json_string(e->type)) ==
			     0 &&
		     json_object_set_new(o, "message_id",
					 json_string(e->message_id)) == 0 &&
		     json_object_set(o, "data", e->data) == 0;
		break;
	}
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
orc_effects_to_json(const struct orc_effects *fx)
{
	json_t *doc = json_object(), *list = json_array();

	if (doc == NULL || list == NULL)
		goto fail;
	if (json_object_set_new(doc, "result",
				json_string(fx->result == ORC_RESULT_APPLIED
						    ? "applied"
						    : "ignored")) != 0 ||
	    json_object_set_new(doc, "wake_ms", json_integer(fx->wake_ms)) !=
		    0 ||
	    json_object_set_new(doc, "wake_changed",
				json_boolean(fx->wake_changed)) != 0)
		goto fail;
	if (fx->ignore_reason != ORC_IGNORE_NONE &&
	    json_object_set_new(
		    doc, "ignore_reason",
		    json_string(orc_ignore_reason_name(fx->ignore_reason))) !=
		    0)
		goto fail;
	for (size_t i = 0; i < fx->n; i++)
		if (json_array_append_new(list, effect_to_json(&fx->v[i])) !=
		    0)
			goto fail;
	if (json_object_set_new(doc, "effects", list) != 0) {
		list = NULL;
		goto fail;
	}
	return doc;
fail:
	json_decref(list);
	json_decref(doc);
	return NULL;
}
