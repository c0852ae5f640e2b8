/*
 * definition_refs.c - pass 3 of the definition checker: references into
 * the saga context, in conditions and templates.
 *
 * Conditions ("when") are checked for their operators and operand counts;
 * in them an operand that is exactly "${/pointer}" is a reference.  In
 * templates (command and compensation "data") every "${...}" inside a
 * string is one, found by the same lexer the engine renders with
 * (orc_expr_foreach_reference).  Each reference must be a valid JSON
 * Pointer under a known root: /input, one of /saga/{id,key,name,version},
 * or /steps/<name>, where the step must be one the referring step
 * (transitively) needs, so that it is sure to have finished first.  A
 * compensation may also read its own step's reply, and the saga's
 * "output", rendered once every step has finished, may read any step.
 * The command and compensation data of a map step may also read the item
 * (/item/...) and its position (/index); a map's "items" and a
 * "max_concurrency" reference follow the rules of the step's templates,
 * without those two roots (they are read before any item exists).  A
 * saga step's child "key" and "data" are templates of the step like a
 * command's data.
 *
 * It needs the closure of pass 2 (orc_definition_depends_on) and stays
 * quiet about ancestry for a step pass 2 marked incomplete.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "definition_internal.h"
#include "expr.h"
#include "jsonp.h"

/* The part of a context pointer being checked, and who refers to it. */
struct ref_check {
	struct orc_checker *c;
	size_t step;  /* the referring step; SIZE_MAX for the saga's output */
	bool self_ok; /* compensation data may read the step's own reply */
	bool item_ok; /* a map step's data may read /item and /index */
};

/* Check /saga/... and /steps/<name>/...; tok holds strlen(ptr) + 1 bytes. */
static void
check_rooted_pointer(struct ref_check *r, const char *ptr, char *tok)
{
	struct orc_checker *c = r->c;
	const struct orc_definition *def = c->def;
	static const char *const saga_fields[] = {"id", "key", "name",
						  "version"};
	size_t len = strlen(ptr) + 1;
	const char *p = orc_jsonp_token(ptr, tok, len);
	const char *name;
	ptrdiff_t k;

	if (p == NULL)
		return;
	if (strcmp(tok, "input") == 0)
		return;
	if (strcmp(tok, "item") == 0 || strcmp(tok, "index") == 0) {
		if (!r->item_ok)
			orc_checker_issue(c, "unknown context root \"%s\"; "
					     "/item and /index exist only in "
					     "the data of a map step",
					  tok);
		else if (strcmp(tok, "index") == 0 && *p != '\0')
			orc_checker_issue(c, "/index is a number; it has no "
					     "members");
		return;
	}
	if (strcmp(tok, "saga") == 0) {
		if (*p == '/' && (p = orc_jsonp_token(p, tok, len)) != NULL)
			for (size_t i = 0; i < 4; i++)
				if (strcmp(tok, saga_fields[i]) == 0 &&
				    *p == '\0')
					return;
		/* the root of /saga is one of its four fields */
		orc_checker_issue(c, "unknown context root \"%s\"", ptr + 1);
		return;
	}
	if (strcmp(tok, "steps") != 0) {
		orc_checker_issue(c, "unknown context root \"%s\"", tok);
		return;
	}
	if (*p != '/') {
		orc_checker_issue(c, "unknown context root \"steps\"; "
				     "expected /steps/<name>");
		return;
	}
	if (orc_jsonp_token(p, tok, len) == NULL)
		return;
	k = orc_definition_step_index(def, tok);
	if (k < 0) {
		orc_checker_unknown_step(c, tok);
		return;
	}
	if (r->step == SIZE_MAX || ((size_t)k == r->step && r->self_ok))
		return;
	name = def->steps[r->step].name;
	if (!orc_definition_depends_on(def, r->step, (size_t)k) &&
	    !c->incomplete[r->step])
		orc_checker_issue(c,
				  "step \"%s\" is not a dependency of \"%s\"",
				  tok, name != NULL ? name : "");
}

/* Check one context pointer; issues go at the current path. */
static bool
check_context_pointer(const char *ptr, void *arg)
{
	struct ref_check *r = arg;
	char *tok;

	if (!orc_jsonp_valid(ptr)) {
		orc_checker_issue(r->c, "invalid JSON pointer");
		return true;
	}
	if (*ptr == '\0') {
		orc_checker_issue(r->c, "unknown context root \"\"");
		return true;
	}
	/* no token of ptr is longer than ptr */
	tok = malloc(strlen(ptr) + 1);
	if (tok == NULL) {
		r->c->oom = true;
		return true;
	}
	check_rooted_pointer(r, ptr, tok);
	free(tok);
	return true;
}

/* The same lexical rule as expr.c: "${", then text without "}", then "}". */
static bool
is_exact_reference(const char *s)
{
	size_t n = strlen(s);

	return n >= 3 && s[0] == '$' && s[1] == '{' &&
	       strchr(s + 2, '}') == s + n - 1;
}

char *
orc_checker_exact_reference(struct orc_checker *c, const char *s)
{
	size_t n = strlen(s);
	char *ptr;

	if (!is_exact_reference(s))
		return NULL;
	ptr = strndup(s + 2, n - 3);
	if (ptr == NULL)
		c->oom = true;
	return ptr;
}

/*
 * Call leaf on every string inside v (any JSON), with the path at it; the
 * path is at v on entry.
 */
static void
each_string(struct ref_check *r, const json_t *v,
	    void (*leaf)(struct ref_check *r, const char *s))
{
	struct orc_checker *c = r->c;
	const char *key;
	json_t *item;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		leaf(r, json_string_value(v));
		break;
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, key, item) {
			size_t old = orc_checker_push(c, key);

			each_string(r, item, leaf);
			orc_checker_pop(c, old);
		}
		break;
	case JSON_ARRAY:
		json_array_foreach(v, i, item) {
			size_t old = orc_checker_push_index(c, i);

			each_string(r, item, leaf);
			orc_checker_pop(c, old);
		}
		break;
	default:
		break;
	}
}

/* A string of a template: every "${...}" in it is a reference. */
static void
template_string(struct ref_check *r, const char *s)
{
	if (!orc_expr_foreach_reference(s, check_context_pointer, r) &&
	    !r->c->oom)
		orc_checker_issue(r->c, "unterminated \"${\"");
}

/* A string of an operand: a reference when it is exactly "${...}". */
static void
operand_string(struct ref_check *r, const char *s)
{
	char *ptr = orc_checker_exact_reference(r->c, s);

	if (ptr != NULL)
		check_context_pointer(ptr, r);
	free(ptr);
}

static const char *const binary_ops[] = {
	"eq", "ne", "lt", "le", "gt", "ge", "in", NULL,
};

static void check_condition(struct ref_check *r, const json_t *cond);

/* The two operands of a binary operator, at the current path. */
static void
check_binary(struct ref_check *r, const char *op, const json_t *arg)
{
	struct orc_checker *c = r->c;
	json_t *item;
	size_t i;

	if (!orc_checker_typed(c, arg, ORC_WANT_ARRAY))
		return;
	if (json_array_size(arg) != 2) {
		orc_checker_issue(c, "expects 2 operands");
		return;
	}
	json_array_foreach(arg, i, item) {
		size_t old = orc_checker_push_index(c, i);

		if (strcmp(op, "in") == 0 && i == 1 && !json_is_array(item) &&
		    !(json_is_string(item) &&
		      is_exact_reference(json_string_value(item))))
			orc_checker_issue(c, "expected array");
		each_string(r, item, operand_string);
		orc_checker_pop(c, old);
	}
}

/* The argument of operator op, at the current path (".../<op>"). */
static void
check_operator(struct ref_check *r, const char *op, const json_t *arg)
{
	struct orc_checker *c = r->c;
	json_t *item;
	size_t i;

	for (i = 0; binary_ops[i] != NULL; i++)
		if (strcmp(op, binary_ops[i]) == 0) {
			check_binary(r, op, arg);
			return;
		}
	if (strcmp(op, "exists") == 0) {
		char *ptr;

		if (!orc_checker_typed(c, arg, ORC_WANT_STRING))
			return;
		ptr = orc_checker_exact_reference(c, json_string_value(arg));
		if (ptr == NULL) {
			if (!c->oom)
				orc_checker_issue(c, "expected a reference "
						     "\"${/pointer}\"");
			return;
		}
		check_context_pointer(ptr, r);
		free(ptr);
		return;
	}
	if (strcmp(op, "all") == 0 || strcmp(op, "any") == 0) {
		if (!orc_checker_typed(c, arg, ORC_WANT_ARRAY))
			return;
		if (json_array_size(arg) == 0)
			orc_checker_issue(c, "must not be empty");
		json_array_foreach(arg, i, item) {
			size_t old = orc_checker_push_index(c, i);

			check_condition(r, item);
			orc_checker_pop(c, old);
		}
		return;
	}
	/* "not" */
	check_condition(r, arg);
}

static bool
known_operator(const char *op)
{
	static const char *const others[] = {"exists", "all", "any", "not",
					     NULL};

	for (size_t i = 0; binary_ops[i] != NULL; i++)
		if (strcmp(op, binary_ops[i]) == 0)
			return true;
	for (size_t i = 0; others[i] != NULL; i++)
		if (strcmp(op, others[i]) == 0)
			return true;
	return false;
}

/* A condition, at the current path. */
static void
check_condition(struct ref_check *r, const json_t *cond)
{
	struct orc_checker *c = r->c;
	const char *op;
	json_t *arg;

	if (json_is_boolean(cond))
		return;
	if (!json_is_object(cond)) {
		orc_checker_issue(c, "expected boolean or object");
		return;
	}
	json_object_foreach((json_t *)cond, op, arg) {
		if (!known_operator(op))
			orc_checker_issue(c,
					  "unknown condition operator \"%s\"",
					  op);
	}
	if (json_object_size(cond) != 1) {
		orc_checker_issue(c,
				  "condition must have exactly one operator");
		return;
	}
	json_object_foreach((json_t *)cond, op, arg) {
		size_t old;

		if (!known_operator(op))
			continue;
		old = orc_checker_push(c, op);
		check_operator(r, op, arg);
		orc_checker_pop(c, old);
	}
}

/* The template obj[member]["data"], when both are there, at "member/data". */
static void
check_data(struct ref_check *r, const json_t *js, const char *member)
{
	const json_t *obj = json_object_get(js, member);
	const json_t *data;
	size_t old;

	if (!json_is_object(obj))
		return;
	data = json_object_get(obj, "data");
	if (data == NULL)
		return;
	old = orc_checker_push(r->c, member);
	orc_checker_push(r->c, "data");
	each_string(r, data, template_string);
	orc_checker_pop(r->c, old);
}

/* A map's pointers (pass 1 kept those that are references), at "map/...". */
static void
check_map(struct ref_check *r, const struct orc_map_def *m)
{
	size_t old = orc_checker_push(r->c, "map");
	size_t o;

	if (m->items != NULL) {
		o = orc_checker_push(r->c, "items");
		check_context_pointer(m->items, r);
		orc_checker_pop(r->c, o);
	}
	if (m->concurrency_from != NULL) {
		o = orc_checker_push(r->c, "max_concurrency");
		check_context_pointer(m->concurrency_from, r);
		orc_checker_pop(r->c, o);
	}
	orc_checker_pop(r->c, old);
}

/* A saga step's child templates (borrowed by pass 1), at "saga/...". */
static void
check_child(struct ref_check *r, const struct orc_child_def *ch)
{
	size_t old = orc_checker_push(r->c, "saga");
	size_t o;

	if (ch->key != NULL) {
		o = orc_checker_push(r->c, "key");
		template_string(r, json_string_value(ch->key));
		orc_checker_pop(r->c, o);
	}
	if (ch->data != NULL) {
		o = orc_checker_push(r->c, "data");
		each_string(r, ch->data, template_string);
		orc_checker_pop(r->c, o);
	}
	orc_checker_pop(r->c, old);
}

void
orc_checker_refs(struct orc_checker *c)
{
	const struct orc_definition *def = c->def;

	for (size_t i = 0; i < def->n_steps; i++) {
		const json_t *js = json_array_get(c->steps, i);
		struct ref_check r = {c, i, false, false};
		json_t *v;
		size_t old;

		if (!json_is_object(js))
			continue;
		old = orc_checker_push_step(c, i);
		if ((v = json_object_get(js, "when")) != NULL) {
			size_t o = orc_checker_push(c, "when");

			check_condition(&r, v);
			orc_checker_pop(c, o);
		}
		if (c->step_ok[i] && def->steps[i].kind == ORC_STEP_COMMAND) {
			check_map(&r, &def->steps[i].map);
			r.item_ok = def->steps[i].has_map;
			check_data(&r, js, "command");
			r.self_ok = true;
			check_data(&r, js, "compensation");
		}
		if (c->step_ok[i] && def->steps[i].kind == ORC_STEP_SAGA)
			check_child(&r, &def->steps[i].child);
		orc_checker_pop(c, old);
	}
	if (def->output != NULL) {
		struct ref_check r = {c, SIZE_MAX, false, false};
		size_t old = orc_checker_push(c, "output");

		each_string(&r, def->output, template_string);
		orc_checker_pop(c, old);
	}
}
