/*
 * jsonp.c - JSON Pointer resolution.  Tokens are unescaped into a small
 * stack buffer; a key longer than that cannot be resolved, which is fine for
 * a saga context whose keys come from definitions and event payloads.
 */
#include "jsonp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX 256

bool
orc_jsonp_valid(const char *ptr)
{
	if (ptr == NULL)
		return false;
	if (*ptr == '\0')
		return true;
	if (*ptr != '/')
		return false;
	for (const char *p = ptr; *p != '\0'; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			return false;
	return true;
}

const char *
orc_jsonp_token(const char *ptr, char *buf, size_t len)
{
	size_t n = 0;
	const char *p;

	if (ptr == NULL || *ptr != '/' || len == 0)
		return NULL;
	for (p = ptr + 1; *p != '\0' && *p != '/'; p++) {
		char c = *p;

		if (c == '~') {
			if (p[1] == '0')
				c = '~';
			else if (p[1] == '1')
				c = '/';
			else
				return NULL;
			p++;
		}
		if (n + 1 >= len)
			return NULL;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return p;
}

static bool
parse_index(const char *tok, size_t *out)
{
	char *end;
	unsigned long long v;

	if (tok[0] == '\0' || (tok[0] == '0' && tok[1] != '\0'))
		return false;
	for (const char *p = tok; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	v = strtoull(tok, &end, 10);
	*out = (size_t)v;
	return *end == '\0';
}

json_t *
orc_jsonp_get(const json_t *doc, const char *ptr)
{
	char tok[TOKEN_MAX];
	const json_t *cur = doc;
	const char *p = ptr;

	if (!orc_jsonp_valid(ptr) || doc == NULL)
		return NULL;
	while (*p != '\0') {
		size_t idx;

		p = orc_jsonp_token(p, tok, sizeof(tok));
		if (p == NULL)
			return NULL;
		if (json_is_object(cur))
			cur = json_object_get(cur, tok);
		else if (json_is_array(cur) && parse_index(tok, &idx))
			cur = json_array_get(cur, idx);
		else
			return NULL;
		if (cur == NULL)
			return NULL;
	}
	return (json_t *)cur;
}

bool
orc_jsonp_append(char *buf, size_t len, const char *token)
{
	size_t n = strlen(buf);
	size_t start = n;

	if (n + 1 >= len)
		return false;
	buf[n++] = '/';
	for (const char *t = token; *t; t++) {
		const char *esc = *t == '~' ? "~0" : *t == '/' ? "~1" : NULL;
		size_t need = esc ? 2 : 1;

		if (n + need >= len) {
			buf[start] = '\0';
			return false;
		}
		if (esc) {
			buf[n++] = esc[0];
			buf[n++] = esc[1];
		} else {
			buf[n++] = *t;
		}
	}
	buf[n] = '\0';
	return true;
}

bool
orc_jsonp_append_index(char *buf, size_t len, size_t index)
{
	char tok[32];

	snprintf(tok, sizeof(tok), "%zu", index);
	return orc_jsonp_append(buf, len, tok);
}

json_t *
orc_jsonp_merge_patch(const json_t *target, const json_t *patch)
{
	const char *key;
	json_t *out, *v;

	if (!json_is_object(patch))
		return json_incref((json_t *)patch);
	/* a new object; what the patch leaves alone is shared, not copied */
	out = json_is_object(target) ? json_copy((json_t *)target)
				     : json_object();
	if (out == NULL)
		return NULL;
	json_object_foreach((json_t *)patch, key, v) {
		json_t *merged;

		if (json_is_null(v)) {
			json_object_del(out, key);
			continue;
		}
		merged = orc_jsonp_merge_patch(json_object_get(out, key), v);
		if (merged == NULL || json_object_set_new(out, key, merged) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}
