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
				  "s:I,s:s?,s:O?,s:O?,s:O?}",
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
				  "replies", sr.replies));
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
