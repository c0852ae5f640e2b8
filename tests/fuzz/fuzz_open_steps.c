/*
 * fuzz_open_steps.c - libFuzzer target for the open steps a saga row
 * holds (core/saga_row.h, migration 021): the input is the column's text,
 * as an operator or a damaged page may leave it.  It is parsed as the
 * store parses it (jansson) and handed to orc_saga_from_rows() with a
 * fixed definition of three steps (a command with a retry, a wait, a map)
 * and a fixed saga row.
 *
 * Properties kept:
 *   - a refused input is ORC_INVALID with a message naming the saga, and
 *     leaves nothing to free;
 *   - an accepted one round-trips: the open steps it writes back
 *     (orc_saga_open_steps_put()) parse, are accepted again, and write
 *     the same text a second time; every step it writes is running and
 *     every running step without a row is written.
 */
#include "fuzz.h"

#include "definition.h"
#include "saga_row.h"
#include "strbuf.h"

#define SAGA_ID "0190b6a0-0000-7000-8000-000000000001"

static const char def_text[] =
    "{\"name\": \"fz\", \"version\": 1,"
    " \"trigger\": {\"topic\": \"in\", \"type\": \"go\", \"key\": \"/id\"},"
    " \"steps\": ["
    "  {\"name\": \"a\", \"command\": {\"topic\": \"t\", \"type\": \"a.do\"},"
    "   \"success\": [\"a.ok\"], \"timeout\": \"10s\","
    "   \"retry\": {\"max_attempts\": 3, \"backoff\": \"1s\"}},"
    "  {\"name\": \"w\", \"needs\": [\"a\"],"
    "   \"wait\": {\"topic\": \"in\", \"type\": \"w.ok\", \"key\": \"/id\"}},"
    "  {\"name\": \"m\", \"needs\": [\"w\"],"
    "   \"map\": {\"items\": \"${/input/items}\"},"
    "   \"command\": {\"topic\": \"t\", \"type\": \"m.do\"},"
    "   \"success\": [\"m.ok\"]}"
    " ]}";

static struct orc_definition *def;

/* The open steps saga writes, new (free() it); "" for none. */
static char *
put_text(const struct orc_saga *saga)
{
	struct orc_strbuf sb;
	char *text;

	orc_strbuf_init(&sb);
	orc_saga_open_steps_put(saga, &sb);
	FUZZ_CHECK(!sb.oom);
	text = orc_strbuf_take(&sb);
	FUZZ_CHECK(text != NULL);
	return text;
}

/* Read open (borrowed) into saga with the fixed row; its status. */
static enum orc_status
read_open(struct orc_saga *saga, json_t *open, struct orc_error *err)
{
	json_t *ctx = json_pack("{s{s[i]}}", "input", "items", 1);
	struct orc_saga_row row = {
		.id = SAGA_ID, .key = "k", .status = "running",
		.cause = "none", .context = ctx, .open_steps = open,
	};
	enum orc_status st;

	FUZZ_CHECK(ctx != NULL);
	st = orc_saga_from_rows(saga, def, &row, NULL, 0, err);
	json_decref(ctx);
	return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct orc_saga saga, again;
	struct orc_error err;
	json_error_t jerr;
	json_t *open, *back;
	char *first, *second;
	enum orc_status st;

	if (def == NULL) {
		json_t *j = json_loads(def_text, 0, &jerr);
		struct orc_definition_issues issues = {0};

		FUZZ_CHECK(j != NULL);
		FUZZ_CHECK(orc_definition_from_json(j, &def, &issues) ==
			   ORC_OK);
		orc_definition_issues_finish(&issues);
		json_decref(j);
	}
	open = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
	if (open == NULL)
		return 0;
	memset(&err, 0, sizeof(err));
	st = read_open(&saga, open, &err);
	json_decref(open);
	if (st != ORC_OK) {
		FUZZ_CHECK(st == ORC_INVALID);
		FUZZ_CHECK(strncmp(err.message, "saga " SAGA_ID,
				   strlen("saga " SAGA_ID)) == 0);
		FUZZ_CHECK(saga.steps == NULL);
		return 0;
	}
	for (size_t i = 0; i < saga.n_steps; i++) {
		const struct orc_saga_step *s = &saga.steps[i];

		FUZZ_CHECK(!s->has_row);
		FUZZ_CHECK(orc_saga_step_open(&saga, i) ==
			   (s->status == ORC_STEP_RUNNING && s->map == NULL &&
			    s->early_event == NULL));
	}
	first = put_text(&saga);
	if (first[0] != '\0') {
		back = json_loads(first, 0, &jerr);
		FUZZ_CHECK(back != NULL);
		FUZZ_CHECK(read_open(&again, back, &err) == ORC_OK);
		json_decref(back);
		second = put_text(&again);
		FUZZ_CHECK(strcmp(first, second) == 0);
		free(second);
		orc_saga_finish(&again);
	}
	free(first);
	orc_saga_finish(&saga);
	return 0;
}
