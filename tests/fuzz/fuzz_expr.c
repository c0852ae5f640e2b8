/*
 * fuzz_expr.c - libFuzzer target for templates and conditions (expr.h):
 * the syntax walks the loader runs and the evaluation the engine runs.
 *
 * The input is a JSON value (any type).  Every string in it goes through
 * orc_expr_is_reference() and orc_expr_foreach_reference(); the whole
 * value is rendered as a template, and it and every object in it are
 * evaluated as conditions, against a fixed saga context and against the
 * value itself.  Input that is not JSON is taken as one template string.
 * The definition fixtures make good seeds: they are full of both.
 *
 * Properties kept: the two walks agree on what an exact reference is (the
 * loader checks with one, the engine resolves with the other); rendering
 * never fails and gives a value equal to itself; orc_json_equal() is
 * symmetric.
 */
#include "fuzz.h"

#include "expr.h"
#include "text.h"

#define REF_MAX 4096

static const char context_text[] =
    "{\"input\": {\"order_id\": \"o-1\", \"amount\": 12.5, \"count\": 3,"
    " \"big\": 9007199254740993, \"neg\": -1, \"ok\": true, \"no\": false,"
    " \"none\": null, \"items\": [1, \"two\", [3], {\"four\": 4}],"
    " \"a/b\": 1, \"m~n\": 2, \"\": \"empty\", \"text\": \"h\\u00e9llo ${x}\"},"
    " \"steps\": {\"reserve\": {\"id\": \"r-9\", \"level\": \"low\","
    " \"score\": 0.5, \"tags\": [\"x\", \"y\"]}, \"pay\": {}},"
    " \"saga\": {\"id\": \"3f0c7a52-2a55-4f0e-9a3e-5f0a9c2b8e41\","
    " \"key\": \"o-1\"}}";

static json_t *context;

struct walk {
	size_t n;
	char first[REF_MAX];
};

static bool
count_ref(const char *ptr, void *arg)
{
	struct walk *w = arg;

	if (w->n++ == 0)
		snprintf(w->first, sizeof(w->first), "%s", ptr);
	return true;
}

static void
check_string(const char *s)
{
	char buf[REF_MAX];
	struct walk w = {0, ""};
	bool closed = orc_expr_foreach_reference(s, count_ref, &w);

	if (strlen(s) + 1 <= sizeof(buf) &&
	    orc_expr_is_reference(s, buf, sizeof(buf))) {
		FUZZ_CHECK(closed && w.n == 1);
		FUZZ_CHECK(strcmp(buf, w.first) == 0);
	}
}

static void
check_render(const json_t *tmpl, const json_t *ctx)
{
	json_t *out = orc_template_render(tmpl, ctx);

	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(orc_json_equal(out, out));
	FUZZ_CHECK(orc_json_equal(out, tmpl) == orc_json_equal(tmpl, out));
	json_decref(out);
}

/* Every string walked, every object evaluated as a condition. */
static void
walk(const json_t *v, const json_t *doc, int depth)
{
	const char *key;
	json_t *member;
	size_t i;

	if (depth > 64)
		return;
	if (json_is_string(v)) {
		check_string(json_string_value(v));
	} else if (json_is_object(v)) {
		orc_condition_eval(v, context);
		orc_condition_eval(v, doc);
		json_object_foreach((json_t *)v, key, member) {
			check_string(key);
			walk(member, doc, depth + 1);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, member)
			walk(member, doc, depth + 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc;

	if (context == NULL) {
		context = json_loads(context_text, 0, NULL);
		FUZZ_CHECK(context != NULL);
	}
	doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (doc == NULL) {
		char *s = fuzz_strndup(data, size);

		FUZZ_CHECK(s != NULL);
		check_string(s);
		doc = orc_text_utf8_valid(s, strlen(s)) ? json_string(s) : NULL;
		free(s);
		if (doc == NULL)
			return 0;
	}
	walk(doc, doc, 0);
	orc_condition_eval(doc, context);
	check_render(doc, context);
	check_render(doc, doc);
	json_decref(doc);
	return 0;
}
