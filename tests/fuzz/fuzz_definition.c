/*
 * fuzz_definition.c - libFuzzer target for the definition loader: the
 * input is a definition file's bytes, parsed as orc_definition_load_file()
 * parses them (jansson, duplicate keys rejected) and handed to
 * orc_definition_from_json().  The seeds are the fixtures
 * (tests/fixtures/definitions, schemas/examples).
 *
 * A loaded definition is then used the way the rest of the program uses
 * one: every step is found by name, the needs closure agrees with needs
 * and has no cycle, retry backoffs stay within their cap, the graph
 * renders in both formats, and the catalog takes it and finds it by its
 * trigger.  A rejected one has at least one issue, each at a valid JSON
 * Pointer with a message in valid UTF-8.
 */
#include "fuzz.h"

#include "catalog.h"
#include "definition.h"
#include "graph.h"
#include "jsonp.h"
#include "text.h"

static void
check_retry(const struct orc_retry *r)
{
	int64_t cap = r->max_backoff_ms > 0 ? r->max_backoff_ms
					    : ORC_DURATION_MAX_MS;

	FUZZ_CHECK(r->max_attempts >= 1 && r->multiplier >= 1);
	for (int a = 2; a <= r->max_attempts && a < 200; a++) {
		int64_t ms = orc_retry_backoff_ms(r, a);

		FUZZ_CHECK(ms >= 0 && ms <= cap);
	}
}

/* def is taken (the catalog frees it). */
static void
check_loaded(struct orc_definition *def)
{
	const struct orc_definition *found;
	struct orc_catalog *cat;

	for (size_t i = 0; i < def->n_steps; i++) {
		const struct orc_step_def *s = &def->steps[i];

		FUZZ_CHECK(s->index == i);
		FUZZ_CHECK(orc_definition_step_index(def, s->name) ==
			   (ptrdiff_t)i);
		FUZZ_CHECK(!orc_definition_depends_on(def, i, i));
		for (size_t k = 0; k < s->n_needs; k++) {
			FUZZ_CHECK(s->needs[k] < def->n_steps);
			FUZZ_CHECK(orc_definition_depends_on(def, i,
							     s->needs[k]));
		}
		for (size_t j = 0; j < def->n_steps; j++)
			FUZZ_CHECK(!orc_definition_depends_on(def, i, j) ||
				   !orc_definition_depends_on(def, j, i));
		check_retry(&s->retry);
		if (s->has_compensation)
			check_retry(&s->compensation.retry);
	}
	for (int f = ORC_GRAPH_MERMAID; f <= ORC_GRAPH_DOT; f++) {
		char *text = orc_graph_render(def, (enum orc_graph_format)f);

		FUZZ_CHECK(text != NULL);
		FUZZ_CHECK(orc_text_utf8_valid(text, strlen(text)));
		free(text);
	}
	cat = orc_catalog_create();
	FUZZ_CHECK(cat != NULL);
	FUZZ_CHECK(orc_catalog_add(cat, def, NULL) == ORC_OK);
	FUZZ_CHECK(orc_catalog_get(cat, def->name, def->version) == def);
	FUZZ_CHECK(orc_catalog_triggered_by(cat, def->trigger.topic,
					    def->trigger.type, &found,
					    1) == 1 &&
		   found == def);
	orc_catalog_destroy(cat);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct orc_definition_issues issues = {0};
	struct orc_definition *def = NULL;
	enum orc_status st;
	json_t *body;

	body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
			  NULL);
	if (body == NULL)
		return 0;
	st = orc_definition_from_json(body, &def, &issues);
	json_decref(body);
	if (st == ORC_OK) {
		FUZZ_CHECK(def != NULL && issues.n == 0);
		check_loaded(def);
	} else {
		FUZZ_CHECK(st == ORC_INVALID && def == NULL && issues.n > 0);
		for (size_t i = 0; i < issues.n; i++) {
			const struct orc_definition_issue *is = &issues.v[i];

			FUZZ_CHECK(orc_jsonp_valid(is->pointer));
			FUZZ_CHECK(is->message[0] != '\0');
			FUZZ_CHECK(orc_text_utf8_valid(is->message,
						       strlen(is->message)));
		}
	}
	orc_definition_issues_finish(&issues);
	return 0;
}
