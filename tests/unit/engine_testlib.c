/*
 * engine_testlib.c - the engine suites' shared helpers (see the header).
 */
#include "engine_testlib.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

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
	struct orc_saga fresh;
	struct orc_error err;
	struct orc_strbuf why;
	enum orc_status status;
	char *before, *after;

	ck_assert_uint_le(saga->n_steps, RELOAD_STEPS_MAX);
	ck_assert_int_eq(orc_saga_to_row(saga, &row), ORC_OK);
	for (size_t i = 0; i < saga->n_steps; i++) {
		orc_saga_step_to_row(saga, i, &steps[i]);
		if (steps[i].early_event != NULL)
			steps[i].early_event = owned[i] =
				through_text(steps[i].early_event);
		if (steps[i].output != NULL)
			steps[i].output = owned[RELOAD_STEPS_MAX + i] =
				through_text(steps[i].output);
		if (steps[i].replies != NULL)
			steps[i].replies = owned[2 * RELOAD_STEPS_MAX + i] =
				through_text(steps[i].replies);
	}
	stored = through_text(row.context);
	if (row.output != NULL)
		output = through_text(row.output);
	orc_saga_row_finish(&row);
	row.context = stored;
	row.output = output;
	status = orc_saga_from_rows(&fresh, saga->def, &row, steps,
				    saga->n_steps, &err);
	orc_saga_row_finish(&row);
	for (size_t i = 0; i < 3 * RELOAD_STEPS_MAX; i++)
		json_decref(owned[i]);
	json_decref(output);
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
