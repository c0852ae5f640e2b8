/*
 * saga_row.c - a saga to and from the store's rows.
 *
 * Writing is a field-by-field view of the saga, with the enums as their
 * names; its one allocation is the saga row's context, a shallow copy
 * without "steps" and "saga" (the header says why).  Reading checks what a
 * database could hold but a saga cannot (an unknown status, step name or
 * wake reason, no id or key, a context that is not an object) and refuses
 * it as ORC_INVALID, so a damaged row never reaches the engine.  It copies
 * the strings and takes references to the JSON values; rows are never kept.
 */
#include "saga_row.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

/* The context members that live elsewhere than the saga row's context. */
static bool
kept_elsewhere(const char *key)
{
	return strcmp(key, "steps") == 0 || strcmp(key, "saga") == 0;
}

/*
 * The whole context for a saga read from row: a new object, NULL when out
 * of memory.  "steps" starts from what the row's context may hold (rows
 * written before the split), and "saga" is made of the columns.
 */
static json_t *
context_from_row(const struct orc_saga_row *row,
		 const struct orc_definition *def)
{
	json_t *ctx = json_object(), *steps, *old, *meta, *v;
	const char *k;

	old = json_object_get(row->context, "steps");
	steps = json_is_object(old) ? json_copy(old) : json_object();
	meta = json_pack("{s:s,s:s,s:s,s:i}", "id", row->id, "key", row->key,
			 "name", def->name, "version", def->version);
	if (ctx == NULL || steps == NULL || meta == NULL)
		goto fail;
	json_object_foreach (row->context, k, v)
		if (!kept_elsewhere(k) && json_object_set_nocheck(ctx, k, v) != 0)
			goto fail;
	if (json_object_set_new_nocheck(ctx, "steps", steps) != 0) {
		steps = NULL;
		goto fail;
	}
	if (json_object_set_new_nocheck(ctx, "saga", meta) != 0)
		meta = NULL;
	else
		return ctx;
fail:
	json_decref(meta);
	json_decref(ctx);
	return NULL;
}

/*
 * Set the step sr names (a row of its own when has_row, else an open
 * step) from sr; *oom latches out of memory.
 */
static enum orc_status
take_step_row(struct orc_saga *saga, const struct orc_definition *def,
	      const char *saga_id, const struct orc_step_row *sr, bool has_row,
	      bool *oom, struct orc_error *err)
{
	ptrdiff_t i = orc_definition_step_index(def, sr->name);
	struct orc_saga_step *st;

	if (i < 0)
		return orc_error_set(err, ORC_INVALID,
				     "saga %s: unknown step \"%s\"", saga_id,
				     sr->name ? sr->name : "");
	st = &saga->steps[i];
	if (!orc_step_status_parse(sr->status, &st->status) ||
	    !orc_wake_reason_parse(sr->wake_reason, &st->wake_reason))
		return orc_error_set(
			err, ORC_INVALID,
			"saga %s: step %s: bad status or wake reason", saga_id,
			sr->name);
	if (has_row)
		st->has_row = true;
	st->attempt = sr->attempt;
	st->attempt_base = sr->attempt_base;
	st->comp_attempt = sr->comp_attempt;
	st->comp_attempt_base = sr->comp_attempt_base;
	st->started_ms = sr->started_ms;
	st->finished_ms = sr->finished_ms;
	st->wake_ms = sr->wake_ms;
	st->completed_seq = sr->completed_seq;
	/* a name given twice: the last row wins */
	free(st->last_error);
	st->last_error = NULL;
	if (sr->last_error != NULL) {
		st->last_error = strdup(sr->last_error);
		*oom = *oom || st->last_error == NULL;
	}
	json_decref(st->early_event);
	st->early_event = sr->early_event ? json_incref(sr->early_event) : NULL;
	json_decref(st->replies);
	st->replies = NULL;
	if (sr->replies != NULL && !json_is_array(sr->replies))
		return orc_error_set(err, ORC_INVALID,
				     "saga %s: step %s: replies is not an array",
				     saga_id, sr->name);
	if (sr->replies != NULL)
		st->replies = json_incref(sr->replies);
	if (sr->map.has) {
		if (!def->steps[i].has_map || sr->map.items < 0 ||
		    sr->map.items > ORC_MAP_ITEMS_MAX ||
		    sr->map.started > sr->map.items ||
		    sr->map.concurrency < 1)
			return orc_error_set(
				err, ORC_INVALID,
				"saga %s: step %s: map state of a step "
				"that is no map, or out of range",
				saga_id, sr->name);
		orc_map_state_destroy(st->map);
		st->map = calloc(1, sizeof(*st->map));
		if (st->map == NULL) {
			*oom = true;
			return ORC_OK;
		}
		st->map->n_items = sr->map.items;
		st->map->concurrency = sr->map.concurrency;
		st->map->min_success = sr->map.min_success;
		st->map->started = sr->map.started;
		st->map->succeeded = sr->map.succeeded;
		st->map->failed = sr->map.failed;
		st->map->compensated = sr->map.compensated;
		st->map->last_seq = sr->map.last_seq;
		st->map->run = sr->map.run;
	}
	if (sr->output != NULL && saga->context != NULL &&
	    json_object_set_nocheck(json_object_get(saga->context, "steps"),
				    sr->name, sr->output) != 0)
		*oom = true;
	return ORC_OK;
}

/* The integer members of an open step, and the largest each may be. */
enum open_int { OI_ATTEMPT, OI_ABASE, OI_COMP, OI_CBASE, OI_STARTED,
		OI_FINISHED, OI_WAKE, OI_SEQ, OI_COUNT };
static const struct {
	const char *key;
	json_int_t max;
} open_ints[OI_COUNT] = {
	[OI_ATTEMPT] = {"attempt", INT_MAX},
	[OI_ABASE] = {"attempt_base", INT_MAX},
	[OI_COMP] = {"compensation_attempt", INT_MAX},
	[OI_CBASE] = {"compensation_attempt_base", INT_MAX},
	[OI_STARTED] = {"started_ms", INT64_MAX},
	[OI_FINISHED] = {"finished_ms", INT64_MAX},
	[OI_WAKE] = {"wake_ms", INT64_MAX},
	[OI_SEQ] = {"completed_seq", INT64_MAX},
};

/* Member key of object at, an integer in [0, max], into *out (absent: 0). */
static bool
open_int(const json_t *at, const char *key, json_int_t max, json_int_t *out)
{
	const json_t *v = json_object_get(at, key);

	*out = 0;
	if (v == NULL)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > max)
		return false;
	*out = json_integer_value(v);
	return true;
}

/* Member key of object at, a string (absent: dflt). */
static bool
open_text(const json_t *at, const char *key, const char *dflt,
	  const char **out)
{
	const json_t *v = json_object_get(at, key);

	*out = v == NULL ? dflt : json_string_value(v);
	return v == NULL || json_is_string(v);
}

/* Take the open steps of row (orc_saga_open_steps_put()'s array). */
static enum orc_status
take_open_steps(struct orc_saga *saga, const struct orc_definition *def,
		const struct orc_saga_row *row, bool *oom,
		struct orc_error *err)
{
	const json_t *open = row->open_steps, *at;
	size_t k;

	if (open == NULL || json_is_null(open))
		return ORC_OK;
	if (!json_is_array(open))
		return orc_error_set(err, ORC_INVALID,
				     "saga %s: open_steps is not an array",
				     row->id);
	json_array_foreach (open, k, at) {
		struct orc_step_row sr = {.map = {.has = false}};
		json_int_t v[OI_COUNT];
		const char *bad = NULL;
		enum orc_status st;

		if (!json_is_object(at))
			bad = "";
		else if (!open_text(at, "step", NULL, &sr.name) ||
			 sr.name == NULL)
			bad = "step";
		else if (!open_text(at, "status", "running", &sr.status))
			bad = "status";
		else if (!open_text(at, "wake_reason", "none",
				    &sr.wake_reason))
			bad = "wake_reason";
		else if (!open_text(at, "last_error", NULL, &sr.last_error))
			bad = "last_error";
		for (int j = 0; bad == NULL && j < OI_COUNT; j++)
			if (!open_int(at, open_ints[j].key, open_ints[j].max,
				      &v[j]))
				bad = open_ints[j].key;
		if (bad != NULL)
			return orc_error_set(err, ORC_INVALID,
					     "saga %s: open_steps/%zu%s%s: "
					     "missing, or of the wrong type or "
					     "range",
					     row->id, k, *bad != '\0' ? "/" : "",
					     bad);
		sr.attempt = (int)v[OI_ATTEMPT];
		sr.attempt_base = (int)v[OI_ABASE];
		sr.comp_attempt = (int)v[OI_COMP];
		sr.comp_attempt_base = (int)v[OI_CBASE];
		sr.started_ms = v[OI_STARTED];
		sr.finished_ms = v[OI_FINISHED];
		sr.wake_ms = v[OI_WAKE];
		sr.completed_seq = v[OI_SEQ];
		sr.replies = json_object_get(at, "replies");
		st = take_step_row(saga, def, row->id, &sr, false, oom, err);
		if (st != ORC_OK)
			return st;
	}
	return ORC_OK;
}

enum orc_status
orc_saga_from_rows(struct orc_saga *saga, const struct orc_definition *def,
		   const struct orc_saga_row *row,
		   const struct orc_step_row *steps, size_t n_steps,
		   struct orc_error *err)
{
	enum orc_status status;
	bool oom;

	if (orc_saga_init(saga, def) != ORC_OK)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	if (row->id == NULL || *row->id == '\0' ||
	    strlen(row->id) >= ORC_SAGA_ID_MAX) {
		status = orc_error_set(err, ORC_INVALID, "bad saga id");
		goto fail;
	}
	if (row->key == NULL) {
		status = orc_error_set(err, ORC_INVALID, "saga %s: no key",
				       row->id);
		goto fail;
	}
	if (!orc_saga_status_parse(row->status, &saga->status) ||
	    !orc_saga_cause_parse(row->cause, &saga->cause)) {
		status = orc_error_set(err, ORC_INVALID,
				       "saga %s: bad status or cause", row->id);
		goto fail;
	}
	if (!json_is_object(row->context)) {
		status = orc_error_set(err, ORC_INVALID,
				       "saga %s: context is not an object",
				       row->id);
		goto fail;
	}
	saga->context = context_from_row(row, def);
	saga->id = strdup(row->id);
	saga->key = strdup(row->key);
	if (row->failure_reason != NULL)
		saga->failure_reason = strdup(row->failure_reason);
	oom = saga->context == NULL || saga->id == NULL || saga->key == NULL ||
	      (row->failure_reason != NULL && saga->failure_reason == NULL);
	saga->started_ms = row->started_ms;
	saga->deadline_ms = row->deadline_ms;
	saga->wake_ms = row->wake_ms;
	saga->seq = row->seq;
	saga->output = row->output != NULL ? json_incref(row->output) : NULL;
	saga->lifecycle_seq = row->lifecycle_seq;
	saga->paused_ms = row->paused_ms;

	for (size_t r = 0; r < n_steps; r++) {
		status = take_step_row(saga, def, row->id, &steps[r], true,
				       &oom, err);
		if (status != ORC_OK)
			goto fail;
	}
	status = take_open_steps(saga, def, row, &oom, err);
	if (status != ORC_OK)
		goto fail;
	if (oom) {
		status = orc_error_set(err, ORC_FATAL, "out of memory");
		goto fail;
	}
	return ORC_OK;
fail:
	orc_saga_finish(saga);
	return status;
}

enum orc_status
orc_saga_to_row(const struct orc_saga *saga, struct orc_saga_row *row)
{
	const char *k;
	json_t *v;

	row->context = json_object();
	if (row->context == NULL)
		return ORC_FATAL;
	json_object_foreach (saga->context, k, v) {
		if (!kept_elsewhere(k) &&
		    json_object_set_nocheck(row->context, k, v) != 0) {
			orc_saga_row_finish(row);
			return ORC_FATAL;
		}
	}
	row->id = saga->id;
	row->key = saga->key;
	row->open_steps = NULL; /* orc_saga_open_steps_put() writes them */
	row->status = orc_saga_status_name(saga->status);
	row->cause = orc_saga_cause_name(saga->cause);
	row->started_ms = saga->started_ms;
	row->deadline_ms = saga->deadline_ms;
	row->wake_ms = saga->wake_ms;
	row->seq = saga->seq;
	row->failure_reason = saga->failure_reason;
	row->output = saga->output;
	row->lifecycle_seq = saga->lifecycle_seq;
	row->paused_ms = saga->paused_ms;
	return ORC_OK;
}

void
orc_saga_row_finish(struct orc_saga_row *row)
{
	json_decref(row->context);
	row->context = NULL;
}

bool
orc_saga_row_context_same(const json_t *read, const json_t *now)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	if (read == NULL || now == NULL)
		return false;
	json_object_foreach ((json_t *)read, k, v)
		if (!kept_elsewhere(k))
			n++;
	if (n != json_object_size(now))
		return false;
	json_object_foreach ((json_t *)now, k, v)
		if (json_object_get(read, k) != v)
			return false;
	return true;
}

enum orc_map_load
orc_saga_map_load(const struct orc_saga *saga, size_t index)
{
	const struct orc_saga_step *st = &saga->steps[index];
	const struct orc_map_state *m = st->map;
	bool failing = saga->status == ORC_SAGA_COMPENSATING ||
		       saga->status == ORC_SAGA_STUCK;

	if (m == NULL)
		return ORC_MAP_LOAD_NONE;
	if (st->wake_reason == ORC_WAKE_MAP_LOAD)
		return ORC_MAP_LOAD_ALL;
	if (st->status == ORC_STEP_RUNNING && !failing &&
	    m->started == m->n_items &&
	    m->succeeded + m->failed + 1 >= m->n_items)
		return ORC_MAP_LOAD_ALL;
	if (failing && m->succeeded > m->compensated &&
	    saga->def->steps[index].has_compensation &&
	    (st->status == ORC_STEP_SUCCEEDED ||
	     st->status == ORC_STEP_FAILED ||
	     st->status == ORC_STEP_RUNNING ||
	     st->status == ORC_STEP_COMPENSATING))
		return ORC_MAP_LOAD_UNDO;
	if (st->status == ORC_STEP_RUNNING ||
	    st->status == ORC_STEP_COMPENSATING ||
	    (failing && st->status == ORC_STEP_FAILED))
		return ORC_MAP_LOAD_IN_FLIGHT;
	return ORC_MAP_LOAD_NONE;
}

enum orc_status
orc_saga_add_items(struct orc_saga *saga, size_t index,
		   const struct orc_item_row *rows, size_t n, bool complete,
		   struct orc_error *err)
{
	const char *step = saga->def->steps[index].name;
	struct orc_map_state *m = saga->steps[index].map;
	struct orc_map_item *it;
	int64_t max = -1;

	if (m == NULL)
		return orc_error_set(err, ORC_INVALID,
				     "saga %s: step %s: item rows of a map "
				     "that has not started",
				     saga->id, step);
	if (m->n + n > m->cap) {
		size_t cap = m->cap * 2 > m->n + n ? m->cap * 2 : m->n + n;
		struct orc_map_item *v = realloc(m->items, cap * sizeof(*v));

		if (v == NULL)
			return orc_error_set(err, ORC_FATAL, "out of memory");
		m->items = v;
		m->cap = cap;
	}
	for (size_t k = 0; k < m->n; k++)
		if (m->items[k].index > max)
			max = m->items[k].index;
	for (size_t r = 0; r < n; r++) {
		const struct orc_item_row *ir = &rows[r];

		it = &m->items[m->n];
		memset(it, 0, sizeof(*it));
		if (ir->index < 0 || ir->index >= m->started ||
		    !orc_step_status_parse(ir->status, &it->st.status) ||
		    !orc_wake_reason_parse(ir->wake_reason,
					   &it->st.wake_reason) ||
		    (ir->replies != NULL && !json_is_array(ir->replies)))
			return orc_error_set(err, ORC_INVALID,
					     "saga %s: step %s: item %lld: bad "
					     "index, status, wake reason or "
					     "replies",
					     saga->id, step,
					     (long long)ir->index);
		/*
		 * The store gives rows in index order: then each is past the
		 * highest so far and needs no search.  Others are searched.
		 */
		if (ir->index <= max) {
			for (size_t k = 0; k < m->n; k++)
				if (m->items[k].index == ir->index)
					return orc_error_set(
						err, ORC_INVALID,
						"saga %s: step %s: item %lld "
						"given twice",
						saga->id, step,
						(long long)ir->index);
		} else {
			max = ir->index;
		}
		it->index = ir->index;
		it->st.attempt = ir->attempt;
		it->st.attempt_base = ir->attempt_base;
		it->st.comp_attempt = ir->comp_attempt;
		it->st.comp_attempt_base = ir->comp_attempt_base;
		it->st.started_ms = ir->started_ms;
		it->st.finished_ms = ir->finished_ms;
		it->st.wake_ms = ir->wake_ms;
		it->st.completed_seq = ir->completed_seq;
		if (ir->last_error != NULL &&
		    (it->st.last_error = strdup(ir->last_error)) == NULL)
			return orc_error_set(err, ORC_FATAL, "out of memory");
		it->st.replies = ir->replies ? json_incref(ir->replies) : NULL;
		it->output = ir->output ? json_incref(ir->output) : NULL;
		m->n++;
	}
	if (complete)
		m->complete = true;
	return ORC_OK;
}

void
orc_saga_item_to_row(const struct orc_saga *saga, size_t index, size_t pos,
		     struct orc_item_row *row)
{
	const struct orc_map_item *it = &saga->steps[index].map->items[pos];

	row->index = it->index;
	row->status = orc_step_status_name(it->st.status);
	row->attempt = it->st.attempt;
	row->attempt_base = it->st.attempt_base;
	row->comp_attempt = it->st.comp_attempt;
	row->comp_attempt_base = it->st.comp_attempt_base;
	row->started_ms = it->st.started_ms;
	row->finished_ms = it->st.finished_ms;
	row->wake_ms = it->st.wake_ms;
	row->wake_reason = orc_wake_reason_name(it->st.wake_reason);
	row->completed_seq = it->st.completed_seq;
	row->last_error = it->st.last_error;
	row->output = it->output;
	row->replies = it->st.replies;
}

void
orc_saga_step_to_row(const struct orc_saga *saga, size_t index,
		     struct orc_step_row *row)
{
	const struct orc_saga_step *st = &saga->steps[index];
	const struct orc_map_state *m = st->map;

	row->name = saga->def->steps[index].name;
	row->status = orc_step_status_name(st->status);
	row->attempt = st->attempt;
	row->attempt_base = st->attempt_base;
	row->comp_attempt = st->comp_attempt;
	row->comp_attempt_base = st->comp_attempt_base;
	row->started_ms = st->started_ms;
	row->finished_ms = st->finished_ms;
	row->wake_ms = st->wake_ms;
	row->wake_reason = orc_wake_reason_name(st->wake_reason);
	row->completed_seq = st->completed_seq;
	row->last_error = st->last_error;
	row->early_event = st->early_event;
	row->output = json_object_get(json_object_get(saga->context, "steps"),
				      row->name);
	row->replies = st->replies;
	row->map = (struct orc_map_row){.has = false};
	if (m != NULL)
		row->map = (struct orc_map_row){
			.has = true,
			.items = m->n_items,
			.concurrency = m->concurrency,
			.min_success = m->min_success,
			.started = m->started,
			.succeeded = m->succeeded,
			.failed = m->failed,
			.compensated = m->compensated,
			.last_seq = m->last_seq,
			.run = m->run,
		};
}

bool
orc_saga_step_open(const struct orc_saga *saga, size_t index)
{
	const struct orc_saga_step *st = &saga->steps[index];

	return st->status == ORC_STEP_RUNNING && !st->has_row &&
	       st->map == NULL && st->early_event == NULL &&
	       json_object_get(json_object_get(saga->context, "steps"),
			       saga->def->steps[index].name) == NULL;
}

/* Append ,"key":v when v is not 0. */
static void
put_int(struct orc_strbuf *sb, const char *key, int64_t v)
{
	if (v == 0)
		return;
	orc_strbuf_puts(sb, ",\"");
	orc_strbuf_puts(sb, key);
	orc_strbuf_puts(sb, "\":");
	orc_strbuf_put_int(sb, v);
}

void
orc_saga_open_steps_put(const struct orc_saga *saga, struct orc_strbuf *sb)
{
	size_t before = sb->len;

	for (size_t i = 0; i < saga->n_steps; i++) {
		const struct orc_saga_step *st = &saga->steps[i];

		if (!orc_saga_step_open(saga, i))
			continue;
		orc_strbuf_puts(sb, sb->len == before ? "[{\"step\":"
						       : ",{\"step\":");
		orc_strbuf_put_json_string(sb, saga->def->steps[i].name);
		/*
		 * Every saga update writes these again: a member whose value
		 * goes without saying (running, zero, none) is left out.
		 */
		if (st->status != ORC_STEP_RUNNING) {
			orc_strbuf_puts(sb, ",\"status\":");
			orc_strbuf_put_json_string(
				sb, orc_step_status_name(st->status));
		}
		put_int(sb, "attempt", st->attempt);
		put_int(sb, "attempt_base", st->attempt_base);
		put_int(sb, "compensation_attempt", st->comp_attempt);
		put_int(sb, "compensation_attempt_base", st->comp_attempt_base);
		put_int(sb, "started_ms", st->started_ms);
		put_int(sb, "finished_ms", st->finished_ms);
		put_int(sb, "wake_ms", st->wake_ms);
		if (st->wake_reason != ORC_WAKE_NONE) {
			orc_strbuf_puts(sb, ",\"wake_reason\":");
			orc_strbuf_put_json_string(
				sb, orc_wake_reason_name(st->wake_reason));
		}
		put_int(sb, "completed_seq", st->completed_seq);
		if (st->last_error != NULL) {
			orc_strbuf_puts(sb, ",\"last_error\":");
			orc_strbuf_put_json_string(sb, st->last_error);
		}
		if (st->replies != NULL) {
			orc_strbuf_puts(sb, ",\"replies\":");
			orc_strbuf_put_json(sb, st->replies, JSON_COMPACT);
		}
		orc_strbuf_putc(sb, '}');
	}
	if (sb->len > before)
		orc_strbuf_putc(sb, ']');
}
