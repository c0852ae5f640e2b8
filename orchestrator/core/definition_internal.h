/*
 * definition_internal.h - what the definition checker's files share; not a
 * public contract.  Only definition*.c include it.
 *
 * definition.c owns the checker: it records issues at the JSON Pointer of
 * the value being checked and runs the three passes in order, each in its
 * own file.  A pass reads what the earlier ones left in the checker and in
 * the definition, and goes on after an error so that one load reports every
 * problem.  Out of memory latches c->oom; from then on issues are counted
 * but not stored, and the load ends in ORC_FATAL.
 *
 * Ownership: every pointer in struct orc_checker is owned by the load that
 * runs it (definition.c), except issues (the caller's) and steps (borrowed
 * from the body being checked).
 */
#ifndef ORC_DEFINITION_INTERNAL_H
#define ORC_DEFINITION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "definition.h"
#include "strbuf.h"

struct orc_checker {
	struct orc_definition_issues *issues; /* appended to */
	size_t found;                         /* issues added by this load */
	bool oom;

	struct orc_strbuf path; /* JSON Pointer of the value being checked */

	struct orc_definition *def; /* being filled */
	const json_t *steps;        /* the "steps" array, or NULL */
	bool *step_ok;    /* per step: an object whose kind is known */
	bool *incomplete; /* per step: some need (transitively) unresolved */
};

/* ---- issues and the path (definition.c) ---- */

/* An issue at the current path; its message is formatted like printf. */
void orc_checker_issue(struct orc_checker *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* An issue at the current path + "/token" (token borrowed, unescaped). */
void orc_checker_issue_at(struct orc_checker *c, const char *token,
			  const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Append "/" + token (borrowed, escaped here) to the path.  Returns the
 * length to give orc_checker_pop() to undo it.
 */
size_t orc_checker_push(struct orc_checker *c, const char *token);

/* Append "/<i>". */
size_t orc_checker_push_index(struct orc_checker *c, size_t i);

/* Append "/steps/<i>", where step i's issues go. */
size_t orc_checker_push_step(struct orc_checker *c, size_t i);

/* Cut the path back to len, a value returned by a push. */
void orc_checker_pop(struct orc_checker *c, size_t len);

/* A copy of s (new), or NULL after latching oom. */
char *orc_checker_strdup(struct orc_checker *c, const char *s);

/* The JSON types a member may be asked to have. */
enum orc_want {
	ORC_WANT_STRING,
	ORC_WANT_INTEGER,
	ORC_WANT_NUMBER,
	ORC_WANT_BOOLEAN,
	ORC_WANT_OBJECT,
	ORC_WANT_ARRAY,
};

/*
 * True when v (borrowed) has the type wanted; otherwise false, after the
 * issue "expected <type>" at the current path.
 */
bool orc_checker_typed(struct orc_checker *c, const json_t *v,
		       enum orc_want want);

/* ---- the passes, in the order they run ---- */

/*
 * Pass 1 (definition_shape.c), at "": types, required and unknown
 * properties, names, durations, event type lists, retry policies, filling
 * c->def as it goes.  When "steps" is a non-empty array it sets c->steps
 * and allocates def->steps, c->step_ok and c->incomplete (n_steps each).
 */
void orc_checker_shape(struct orc_checker *c, const json_t *body);

/*
 * Pass 2 (definition_graph.c), only when def->n_steps > 0: duplicate
 * names, needs resolved to indexes, the closure of needs into
 * def->needs_closure, then cycles (when every need resolved) and
 * c->incomplete spread to the steps that need an incomplete one.
 */
void orc_checker_graph(struct orc_checker *c);

/*
 * Pass 3 (definition_refs.c), after pass 2: conditions and templates, whose
 * /steps/<name> pointers must name a step that is sure to have finished.
 */
void orc_checker_refs(struct orc_checker *c);

/*
 * If s (borrowed) is exactly one reference "${...}", the text inside it
 * (new); else NULL, and NULL after latching c->oom (definition_refs.c).
 */
char *orc_checker_exact_reference(struct orc_checker *c, const char *s);

/*
 * The issue `unknown step "<name>"` at the current path, with "did you
 * mean" when a step name is close (definition_graph.c).  name is borrowed.
 */
void orc_checker_unknown_step(struct orc_checker *c, const char *name);

#endif
