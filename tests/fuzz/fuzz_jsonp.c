/*
 * fuzz_jsonp.c - libFuzzer target for JSON Pointer (util/jsonp.h).
 *
 * The input's first line is a pointer (up to its first NUL byte); the rest
 * is a JSON document (any type), or a fixed document when it does not
 * parse.  Without a line break the whole input is the pointer.
 *
 * Properties kept:
 *   - orc_jsonp_valid() agrees with walking the pointer token by token;
 *   - escaping the tokens again with orc_jsonp_append() gives the pointer
 *     back, and a buffer too small leaves the text unchanged;
 *   - orc_jsonp_get() gives what that walk finds by hand;
 *   - for every value in the document, the pointer built to it with
 *     orc_jsonp_append() / orc_jsonp_append_index() resolves to it (when
 *     the keys are short enough to resolve at all).
 */
#include "fuzz.h"

#include "jsonp.h"

#define PTR_MAX 8192
#define TOKEN_MAX 256 /* jsonp.c resolves tokens shorter than this */

static const char fixed_text[] =
    "{\"a\": {\"b\": [10, 20, {\"c\": null}]}, \"a/b\": 1, \"m~n\": 2,"
    " \"\": {\"\": 3}, \"0\": [[], {}], \"x\": \"y\"}";

static json_t *fixed;

/* The manual walk: one token at a time, by the documented rules. */
static const json_t *
step(const json_t *cur, const char *tok)
{
	size_t idx = 0;

	if (json_is_object(cur))
		return json_object_get(cur, tok);
	if (!json_is_array(cur) || tok[0] == '\0' ||
	    (tok[0] == '0' && tok[1] != '\0') || strlen(tok) > 19)
		return NULL;
	for (const char *p = tok; *p; p++) {
		if (*p < '0' || *p > '9')
			return NULL;
		idx = idx * 10 + (size_t)(*p - '0');
	}
	return json_array_get(cur, idx);
}

static void
check_pointer(const char *ptr, const json_t *doc)
{
	/* a token, and the pointer escaped again, are never longer */
	size_t size = strlen(ptr) + 1;
	char *tok = malloc(size), *again = malloc(size);
	const json_t *cur = doc;
	const char *p = ptr;
	bool walked = true, fits = true;

	FUZZ_CHECK(tok != NULL && again != NULL);
	again[0] = '\0';
	if (*p != '\0' && *p != '/')
		walked = false;
	while (walked && *p != '\0') {
		char small[TOKEN_MAX];
		const char *next = orc_jsonp_token(p, tok, size);

		if (next == NULL) {
			walked = false;
			break;
		}
		FUZZ_CHECK(next > p && (*next == '\0' || *next == '/'));
		if (orc_jsonp_token(p, small, sizeof(small)) == NULL)
			fits = false; /* too long to resolve */
		if (cur != NULL)
			cur = step(cur, tok);
		FUZZ_CHECK(orc_jsonp_append(again, size, tok));
		p = next;
	}
	FUZZ_CHECK(orc_jsonp_valid(ptr) == walked);
	if (!walked)
		FUZZ_CHECK(orc_jsonp_get(doc, ptr) == NULL);
	else if (fits)
		FUZZ_CHECK(strcmp(again, ptr) == 0 &&
			   orc_jsonp_get(doc, ptr) == cur);
	else
		FUZZ_CHECK(strcmp(again, ptr) == 0 &&
			   orc_jsonp_get(doc, ptr) == NULL);
	free(tok);
	free(again);
}

static bool
key_resolvable(const char *key)
{
	return strlen(key) < TOKEN_MAX;
}

/* Build the pointer to every value below v and resolve it again. */
static void
check_paths(const json_t *doc, const json_t *v, char *path, size_t len,
	    int depth)
{
	size_t n = strlen(path), i;
	const char *key;
	json_t *member;

	FUZZ_CHECK(orc_jsonp_get(doc, path) == v);
	if (depth > 32)
		return;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, member) {
			if (!key_resolvable(key))
				continue;
			if (!orc_jsonp_append(path, len, key)) {
				FUZZ_CHECK(strlen(path) == n);
				continue;
			}
			check_paths(doc, member, path, len, depth + 1);
			path[n] = '\0';
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, member) {
			if (!orc_jsonp_append_index(path, len, i))
				break;
			check_paths(doc, member, path, len, depth + 1);
			path[n] = '\0';
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[PTR_MAX];
	const uint8_t *line, *rest = data;
	size_t len, rest_len = size;
	json_t *doc = NULL;
	char *ptr;

	if (fixed == NULL) {
		fixed = json_loads(fixed_text, 0, NULL);
		FUZZ_CHECK(fixed != NULL);
	}
	if (fuzz_line(&rest, &rest_len, &line, &len)) {
		ptr = fuzz_strndup(line, len);
		doc = json_loadb((const char *)rest, rest_len, JSON_DECODE_ANY,
				 NULL);
	} else {
		ptr = fuzz_strndup(data, size);
	}
	FUZZ_CHECK(ptr != NULL);
	check_pointer(ptr, doc != NULL ? doc : fixed);
	path[0] = '\0';
	check_paths(doc != NULL ? doc : fixed, doc != NULL ? doc : fixed, path,
		    sizeof(path), 0);
	free(ptr);
	json_decref(doc);
	return 0;
}
