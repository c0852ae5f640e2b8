/*
 * expr.c - templates and conditions over the saga context.
 *
 * Both are evaluated straight from the definition's JSON: there is no
 * compiled form, because an expression is small and evaluated once per step.
 * Evaluation never fails: a reference that does not resolve is null, an
 * ordering of unlike types is false, and an operator the loader would have
 * rejected evaluates as false.  Only out-of-memory can make a render return
 * NULL.  Nothing here keeps state, logs or reads the clock.
 *
 * The loader (definition.c) checks syntax with orc_expr_foreach_reference(),
 * so both sides share one lexical rule: "${" opens a reference and the first
 * "}" after it closes it (a pointer cannot contain "}"), while "$${" is a
 * literal "${" that opens nothing.
 *
 * Templates resolve references anywhere in a string.  Conditions resolve only
 * exact references ("${/p}" as the whole string), at any depth inside an
 * operand; every other string in a condition is a literal, so comparing with
 * "a ${b}" compares with that text.
 */
#include "expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonp.h"
#include "strbuf.h"

/* Pointers shorter than this are resolved without a heap copy. */
#define PTR_STACK 256

/*
 * If the n bytes at s are exactly "${...}", point *ptr at the text between
 * the braces and set *plen.
 */
static bool
exact_ref(const char *s, size_t n, const char **ptr, size_t *plen)
{
	const char *close;

	if (n < 3 || s[0] != '$' || s[1] != '{')
		return false;
	close = memchr(s + 2, '}', n - 2);
	if (close == NULL || close != s + n - 1)
		return false;
	*ptr = s + 2;
	*plen = (size_t)(close - (s + 2));
	return true;
}

/*
 * The value at the pointer given by n bytes at ptr (not NUL-terminated), or
 * NULL when it does not resolve.  Sets *oom when a long pointer could not
 * be copied.
 */
static const json_t *
resolve(const json_t *ctx, const char *ptr, size_t n, bool *oom)
{
	char stack[PTR_STACK];
	char *copy = stack;
	const json_t *v;

	if (memchr(ptr, '\0', n) != NULL)
		return NULL;
	if (n >= sizeof(stack)) {
		copy = malloc(n + 1);
		if (copy == NULL) {
			*oom = true;
			return NULL;
		}
	}
	memcpy(copy, ptr, n);
	copy[n] = '\0';
	v = orc_jsonp_get(ctx, copy);
	if (copy != stack)
		free(copy);
	return v;
}

bool
orc_expr_is_reference(const char *s, char *buf, size_t len)
{
	const char *ptr;
	size_t n;

	if (s == NULL || !exact_ref(s, strlen(s), &ptr, &n))
		return false;
	if (buf == NULL || n + 1 > len)
		return false;
	memcpy(buf, ptr, n);
	buf[n] = '\0';
	return true;
}

bool
orc_expr_foreach_reference(const char *s, bool (*fn)(const char *ptr, void *arg),
			   void *arg)
{
	const char *p = s;

	while (*p != '\0') {
		char stack[PTR_STACK];
		const char *close;
		char *copy = stack;
		size_t n;
		bool ok;

		if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
			p += 3;
			continue;
		}
		if (p[0] != '$' || p[1] != '{') {
			p++;
			continue;
		}
		close = strchr(p + 2, '}');
		if (close == NULL)
			return false;
		n = (size_t)(close - (p + 2));
		if (n >= sizeof(stack) && (copy = malloc(n + 1)) == NULL)
			return false;
		memcpy(copy, p + 2, n);
		copy[n] = '\0';
		ok = fn(copy, arg);
		if (copy != stack)
			free(copy);
		if (!ok)
			return false;
		p = close + 1;
	}
	return true;
}

/* The shortest "%.*g" text of d that reads back as d. */
static void
put_real(struct orc_strbuf *b, double d)
{
	char text[64];

	for (int prec = 1; prec <= 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, d);
		if (strtod(text, NULL) == d)
			break;
	}
	orc_strbuf_append(b, text, strlen(text));
}

/* Append the interpolated text of v (NULL = did not resolve = null). */
static void
put_value(struct orc_strbuf *b, const json_t *v)
{
	char text[64];
	char *dump;

	switch (v == NULL ? JSON_NULL : json_typeof(v)) {
	case JSON_STRING:
		orc_strbuf_append(b, json_string_value(v), json_string_length(v));
		return;
	case JSON_INTEGER:
		snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		orc_strbuf_append(b, text, strlen(text));
		return;
	case JSON_REAL:
		put_real(b, json_real_value(v));
		return;
	case JSON_TRUE:
		orc_strbuf_append(b, "true", 4);
		return;
	case JSON_FALSE:
		orc_strbuf_append(b, "false", 5);
		return;
	case JSON_NULL:
		orc_strbuf_append(b, "null", 4);
		return;
	case JSON_OBJECT:
	case JSON_ARRAY:
		dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (dump == NULL) {
			b->oom = true;
			return;
		}
		orc_strbuf_append(b, dump, strlen(dump));
		free(dump);
		return;
	}
}

/*
 * Interpolate a string template.  An unterminated "${" is kept as text: the
 * loader rejects it, so this only matters for hand-built templates.
 */
static json_t *
interpolate(const char *s, size_t n, const json_t *ctx)
{
	struct orc_strbuf b = {0};
	const char *end = s + n;
	const char *p = s;
	json_t *out;

	while (p < end) {
		const char *dollar = memchr(p, '$', (size_t)(end - p));
		const char *close;

		if (dollar == NULL) {
			orc_strbuf_append(&b, p, (size_t)(end - p));
			break;
		}
		orc_strbuf_append(&b, p, (size_t)(dollar - p));
		p = dollar;
		if (end - p >= 3 && p[1] == '$' && p[2] == '{') {
			orc_strbuf_append(&b, "${", 2);
			p += 3;
			continue;
		}
		if (end - p < 2 || p[1] != '{') {
			orc_strbuf_append(&b, "$", 1);
			p++;
			continue;
		}
		close = memchr(p + 2, '}', (size_t)(end - (p + 2)));
		if (close == NULL) {
			orc_strbuf_append(&b, p, (size_t)(end - p));
			break;
		}
		put_value(&b, resolve(ctx, p + 2, (size_t)(close - (p + 2)),
				      &b.oom));
		p = close + 1;
	}
	if (b.oom) {
		orc_strbuf_finish(&b);
		return NULL;
	}
	out = json_stringn(b.data ? b.data : "", b.len);
	orc_strbuf_finish(&b);
	return out;
}

static json_t *
render_string(const json_t *tmpl, const json_t *ctx)
{
	const char *s = json_string_value(tmpl);
	size_t n = json_string_length(tmpl);
	const char *ptr;
	size_t plen;
	bool oom = false;

	if (exact_ref(s, n, &ptr, &plen)) {
		const json_t *v = resolve(ctx, ptr, plen, &oom);

		if (oom)
			return NULL;
		return v != NULL ? json_deep_copy(v) : json_null();
	}
	if (memchr(s, '$', n) == NULL)
		return json_stringn(s, n);
	return interpolate(s, n, ctx);
}

json_t *
orc_template_render(const json_t *tmpl, const json_t *ctx)
{
	json_t *out, *item;
	const char *key;
	size_t i;

	if (tmpl == NULL)
		return json_null();
	switch (json_typeof(tmpl)) {
	case JSON_STRING:
		return render_string(tmpl, ctx);
	case JSON_OBJECT:
		out = json_object();
		if (out == NULL)
			return NULL;
		json_object_foreach((json_t *)tmpl, key, item) {
			json_t *v = orc_template_render(item, ctx);

			if (v == NULL || json_object_set_new(out, key, v) != 0)
				goto fail;
		}
		return out;
	case JSON_ARRAY:
		out = json_array();
		if (out == NULL)
			return NULL;
		json_array_foreach(tmpl, i, item) {
			json_t *v = orc_template_render(item, ctx);

			if (v == NULL || json_array_append_new(out, v) != 0)
				goto fail;
		}
		return out;
	default:
		/* a copy, so that changing the output never changes the template */
		return json_copy((json_t *)tmpl);
	}
fail:
	json_decref(out);
	return NULL;
}

bool
orc_json_equal(const json_t *a, const json_t *b)
{
	const char *key;
	json_t *va;
	size_t i;

	if (a == b)
		return true;
	if (a == NULL || b == NULL)
		return false;
	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	if (json_typeof(a) != json_typeof(b))
		return false;
	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b),
			      json_string_length(a)) == 0;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return false;
		json_array_foreach(a, i, va)
			if (!orc_json_equal(va, json_array_get(b, i)))
				return false;
		return true;
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach((json_t *)a, key, va)
			if (!orc_json_equal(va, json_object_get(b, key)))
				return false;
		return true;
	default:
		/* true, false, null: the same type is the same value */
		return true;
	}
}

/* ---- conditions ---- */

static bool
has_refs(const json_t *v)
{
	const char *key, *ptr;
	json_t *item;
	size_t i, n;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return exact_ref(json_string_value(v), json_string_length(v),
				 &ptr, &n);
	case JSON_ARRAY:
		json_array_foreach(v, i, item)
			if (has_refs(item))
				return true;
		return false;
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, key, item)
			if (has_refs(item))
				return true;
		return false;
	default:
		return false;
	}
}

/* A copy of v with its exact references resolved; NULL when out of memory. */
static json_t *
resolve_copy(const json_t *v, const json_t *ctx)
{
	const char *key, *ptr;
	json_t *out, *item;
	size_t i, n;
	bool oom = false;

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (exact_ref(json_string_value(v), json_string_length(v), &ptr,
			      &n)) {
			const json_t *r = resolve(ctx, ptr, n, &oom);

			if (oom)
				return NULL;
			return r != NULL ? json_deep_copy(r) : json_null();
		}
		return json_copy((json_t *)v);
	case JSON_ARRAY:
		out = json_array();
		if (out == NULL)
			return NULL;
		json_array_foreach(v, i, item)
			if (json_array_append_new(out, resolve_copy(item, ctx)) != 0)
				goto fail;
		return out;
	case JSON_OBJECT:
		out = json_object();
		if (out == NULL)
			return NULL;
		json_object_foreach((json_t *)v, key, item)
			if (json_object_set_new(out, key, resolve_copy(item, ctx)) != 0)
				goto fail;
		return out;
	default:
		return json_copy((json_t *)v);
	}
fail:
	json_decref(out);
	return NULL;
}

/*
 * The value of an operand: borrowed from the condition or the context, or
 * new in *owned (the caller decrefs it) when references sit inside an array
 * or object.  Never NULL: what does not resolve is null.
 */
static const json_t *
operand(const json_t *op, const json_t *ctx, json_t **owned)
{
	const json_t *v;
	const char *ptr;
	size_t n;
	bool oom = false;

	*owned = NULL;
	if (op == NULL)
		return json_null();
	if (json_is_string(op)) {
		if (!exact_ref(json_string_value(op), json_string_length(op),
			       &ptr, &n))
			return op;
		v = resolve(ctx, ptr, n, &oom);
		return v != NULL ? v : json_null();
	}
	if (!has_refs(op))
		return op;
	*owned = resolve_copy(op, ctx);
	return *owned != NULL ? *owned : json_null();
}

/* Order a and b: false when they are not both numbers or both strings. */
static bool
order(const json_t *a, const json_t *b, int *cmp)
{
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);

		*cmp = (x > y) - (x < y);
		return true;
	}
	if (json_is_number(a) && json_is_number(b)) {
		double x = json_number_value(a), y = json_number_value(b);

		*cmp = (x > y) - (x < y);
		return true;
	}
	if (json_is_string(a) && json_is_string(b)) {
		size_t la = json_string_length(a), lb = json_string_length(b);
		int c = memcmp(json_string_value(a), json_string_value(b),
			       la < lb ? la : lb);

		*cmp = c != 0 ? c : (la > lb) - (la < lb);
		return true;
	}
	return false;
}

enum op {
	OP_EQ,
	OP_NE,
	OP_LT,
	OP_LE,
	OP_GT,
	OP_GE,
	OP_IN,
};

static bool
binary(enum op op, const json_t *args, const json_t *ctx)
{
	json_t *owned_a, *owned_b;
	const json_t *a, *b;
	bool result = false;
	int cmp;

	if (!json_is_array(args) || json_array_size(args) != 2)
		return false;
	a = operand(json_array_get(args, 0), ctx, &owned_a);
	b = operand(json_array_get(args, 1), ctx, &owned_b);
	switch (op) {
	case OP_EQ:
		result = orc_json_equal(a, b);
		break;
	case OP_NE:
		result = !orc_json_equal(a, b);
		break;
	case OP_LT:
		result = order(a, b, &cmp) && cmp < 0;
		break;
	case OP_LE:
		result = order(a, b, &cmp) && cmp <= 0;
		break;
	case OP_GT:
		result = order(a, b, &cmp) && cmp > 0;
		break;
	case OP_GE:
		result = order(a, b, &cmp) && cmp >= 0;
		break;
	case OP_IN:
		if (json_is_array(b)) {
			size_t i;
			json_t *item;

			json_array_foreach(b, i, item)
				if (orc_json_equal(a, item)) {
					result = true;
					break;
				}
		}
		break;
	}
	json_decref(owned_a);
	json_decref(owned_b);
	return result;
}

static const struct {
	const char *name;
	enum op op;
} binary_ops[] = {
	{"eq", OP_EQ}, {"ne", OP_NE}, {"lt", OP_LT}, {"le", OP_LE},
	{"gt", OP_GT}, {"ge", OP_GE}, {"in", OP_IN},
};

bool
orc_condition_eval(const json_t *cond, const json_t *ctx)
{
	const char *name, *ptr;
	const json_t *arg;
	json_t *item;
	void *iter;
	size_t i, n;
	bool oom = false;

	if (cond == NULL)
		return true;
	if (json_is_boolean(cond))
		return json_is_true(cond);
	if (!json_is_object(cond) || json_object_size(cond) != 1)
		return false;
	iter = json_object_iter((json_t *)cond);
	name = json_object_iter_key(iter);
	arg = json_object_iter_value(iter);

	for (i = 0; i < sizeof(binary_ops) / sizeof(binary_ops[0]); i++)
		if (strcmp(name, binary_ops[i].name) == 0)
			return binary(binary_ops[i].op, arg, ctx);
	if (strcmp(name, "exists") == 0) {
		if (!json_is_string(arg) ||
		    !exact_ref(json_string_value(arg), json_string_length(arg),
			       &ptr, &n))
			return false;
		return resolve(ctx, ptr, n, &oom) != NULL;
	}
	if (strcmp(name, "all") == 0) {
		if (!json_is_array(arg))
			return false;
		json_array_foreach(arg, i, item)
			if (!orc_condition_eval(item, ctx))
				return false;
		return true;
	}
	if (strcmp(name, "any") == 0) {
		if (!json_is_array(arg))
			return false;
		json_array_foreach(arg, i, item)
			if (orc_condition_eval(item, ctx))
				return true;
		return false;
	}
	if (strcmp(name, "not") == 0)
		return !orc_condition_eval(arg, ctx);
	return false;
}
