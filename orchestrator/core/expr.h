/*
 * expr.h - templates and conditions over the saga context.
 *
 * A template is any JSON value; a string that is exactly "${/pointer}"
 * becomes the value at that pointer of the context, "${...}" inside a longer
 * string is interpolated, and "$${" is a literal "${".  A condition is a
 * boolean or an object with one operator (eq ne lt le gt ge in exists all
 * any not).  See README.md, "The saga language".
 *
 * Evaluation is pure and never fails at run time: a reference that does not
 * resolve is null.  Syntax is checked when a definition is loaded, with the
 * walk functions below.
 */
#ifndef ORC_EXPR_H
#define ORC_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/*
 * Render tmpl (borrowed) against ctx (borrowed).  Returns a new reference,
 * or NULL only when out of memory.
 */
json_t *orc_template_render(const json_t *tmpl, const json_t *ctx);

/* Evaluate a condition (borrowed; NULL means true) against ctx (borrowed). */
bool orc_condition_eval(const json_t *cond, const json_t *ctx);

/*
 * JSON equality where numbers compare by value (1 equals 1.0), used by eq,
 * ne and in.
 */
bool orc_json_equal(const json_t *a, const json_t *b);

/*
 * If s is exactly "${/pointer}", copy the pointer into buf (size len) and
 * return true.
 */
bool orc_expr_is_reference(const char *s, char *buf, size_t len);

/*
 * Call fn once for every "${...}" reference in the template string s, with
 * the text between the braces (NUL-terminated, borrowed for the call) and
 * arg.  Returns false (and stops) when s has an unterminated "${" or when
 * fn returns false.
 */
bool orc_expr_foreach_reference(const char *s,
				bool (*fn)(const char *ptr, void *arg),
				void *arg);

#endif
