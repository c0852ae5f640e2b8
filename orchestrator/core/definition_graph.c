/*
 * definition_graph.c - pass 2 of the definition checker: the graph of needs.
 *
 * Across the steps that pass 1 filled: duplicate names, then every need
 * resolved to a step index (an unknown one gets "did you mean" when a name
 * is within edit distance 2), then the transitive closure of needs as an
 * n_steps x n_steps bit matrix.  Only when every need resolved does it look
 * for cycles: each strongly connected set is named once, by one shortest
 * cycle through its first step, and every step that depends on a cycle is
 * unreachable.  A step with an unresolved need, or that depends on one, is
 * marked incomplete, so that pass 3 does not blame it for an ancestry it
 * cannot know.
 *
 * The matrix is kept in the definition and answers
 * orc_definition_depends_on() with one bit test; that function lives here,
 * beside the only code that knows the matrix's layout.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "definition_internal.h"
#include "text.h"

#define DID_YOU_MEAN_MAX 2

/* ---- the closure matrix ---- */

static size_t
closure_words(size_t n)
{
	return (n + 63) / 64;
}

static bool
bit_get(const uint64_t *m, size_t words, size_t a, size_t b)
{
	return (m[a * words + b / 64] >> (b % 64)) & 1;
}

static void
bit_set(uint64_t *m, size_t words, size_t a, size_t b)
{
	m[a * words + b / 64] |= UINT64_C(1) << (b % 64);
}

/* Fallback for a definition built by hand, without the closure matrix. */
static bool
walk_depends(const struct orc_definition *def, size_t a, size_t b,
	     size_t depth)
{
	if (depth > def->n_steps)
		return false;
	for (size_t k = 0; k < def->steps[a].n_needs; k++) {
		size_t x = def->steps[a].needs[k];

		if (x == b || (x < def->n_steps &&
			       walk_depends(def, x, b, depth + 1)))
			return true;
	}
	return false;
}

bool
orc_definition_depends_on(const struct orc_definition *def, size_t a, size_t b)
{
	if (def == NULL || a >= def->n_steps || b >= def->n_steps)
		return false;
	if (def->needs_closure == NULL)
		return walk_depends(def, a, b, 0);
	return bit_get(def->needs_closure, closure_words(def->n_steps), a, b);
}

/* The transitive closure of needs, as a bit matrix (new, or NULL on oom). */
static uint64_t *
closure(const struct orc_definition *def)
{
	size_t n = def->n_steps, words = closure_words(n);
	uint64_t *m = calloc(n > 0 ? n * words : 1, sizeof(*m));
	size_t *stack = malloc((n ? n : 1) * sizeof(*stack));

	if (m == NULL || stack == NULL) {
		free(m);
		free(stack);
		return NULL;
	}
	for (size_t a = 0; a < n; a++) {
		size_t top = 0;

		stack[top++] = a;
		while (top > 0) {
			const struct orc_step_def *st =
				&def->steps[stack[--top]];

			for (size_t k = 0; k < st->n_needs; k++) {
				size_t b = st->needs[k];

				if (!bit_get(m, words, a, b)) {
					bit_set(m, words, a, b);
					stack[top++] = b;
				}
			}
		}
	}
	free(stack);
	return m;
}

/* ---- names: duplicates and "did you mean" ---- */

static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[ORC_NAME_MAX + 4], prev;

	if (lb > ORC_NAME_MAX ||
	    (la > lb ? la - lb : lb - la) > DID_YOU_MEAN_MAX)
		return DID_YOU_MEAN_MAX + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev + (a[i - 1] != b[j - 1]);
			size_t del = row[j] + 1, ins = row[j - 1] + 1;
			size_t best = del < ins ? del : ins;

			prev = row[j];
			row[j] = sub < best ? sub : best;
		}
	}
	return row[lb];
}

/* The closest step name within edit distance 2, or NULL. */
static const char *
closest_step(const struct orc_definition *def, const char *name)
{
	const char *best = NULL;
	size_t best_d = DID_YOU_MEAN_MAX + 1;

	for (size_t i = 0; i < def->n_steps; i++) {
		const char *s = def->steps[i].name;
		size_t d;

		if (s == NULL || !orc_text_name_valid(s))
			continue;
		d = edit_distance(name, s);
		if (d < best_d) {
			best = s;
			best_d = d;
		}
	}
	return best;
}

void
orc_checker_unknown_step(struct orc_checker *c, const char *name)
{
	const char *near = closest_step(c->def, name);

	if (near != NULL)
		orc_checker_issue(c,
				  "unknown step \"%s\"; did you mean \"%s\"?",
				  name, near);
	else
		orc_checker_issue(c, "unknown step \"%s\"", name);
}

static void
check_names(struct orc_checker *c)
{
	struct orc_definition *def = c->def;

	for (size_t i = 0; i < def->n_steps; i++) {
		ptrdiff_t first;
		size_t old;

		if (def->steps[i].name == NULL)
			continue;
		first = orc_definition_step_index(def, def->steps[i].name);
		if (first < 0 || (size_t)first == i)
			continue;
		old = orc_checker_push_step(c, i);
		orc_checker_issue_at(c, "name", "duplicate step name \"%s\"",
				     def->steps[i].name);
		orc_checker_pop(c, old);
	}
}

/* ---- needs ---- */

/*
 * Resolve need j of step i (item, at the current path) into st->needs.
 * Returns false when it did not resolve, which leaves step i incomplete.
 */
static bool
resolve_need(struct orc_checker *c, size_t i, const json_t *needs, size_t j)
{
	struct orc_step_def *st = &c->def->steps[i];
	const json_t *item = json_array_get(needs, j);
	const char *name = json_string_value(item);
	ptrdiff_t k;

	if (name == NULL) {
		orc_checker_issue(c, "expected string");
		return false;
	}
	for (size_t d = 0; d < j; d++)
		if (json_equal(json_array_get(needs, d), item)) {
			orc_checker_issue(c, "duplicate need \"%s\"", name);
			return true;
		}
	if (st->name != NULL && strcmp(name, st->name) == 0) {
		orc_checker_issue(c, "step cannot need itself");
		return true;
	}
	k = orc_definition_step_index(c->def, name);
	if (k < 0) {
		orc_checker_unknown_step(c, name);
		return false;
	}
	st->needs[st->n_needs++] = (size_t)k;
	return true;
}

/* Resolve every step's needs; returns false when some did not resolve. */
static bool
resolve_needs(struct orc_checker *c)
{
	struct orc_definition *def = c->def;
	bool all = true;

	for (size_t i = 0; i < def->n_steps; i++) {
		struct orc_step_def *st = &def->steps[i];
		json_t *needs = json_object_get(json_array_get(c->steps, i),
						"needs");
		size_t old;

		if (needs != NULL && !json_is_array(needs)) {
			/* reported in pass 1; its ancestry is unknown */
			c->incomplete[i] = true;
			all = false;
			continue;
		}
		if (json_array_size(needs) == 0)
			continue;
		st->needs = calloc(json_array_size(needs), sizeof(*st->needs));
		if (st->needs == NULL) {
			c->oom = true;
			return false;
		}
		old = orc_checker_push_step(c, i);
		orc_checker_push(c, "needs");
		for (size_t j = 0; j < json_array_size(needs); j++) {
			size_t o = orc_checker_push_index(c, j);

			if (!resolve_need(c, i, needs, j)) {
				c->incomplete[i] = true;
				all = false;
			}
			orc_checker_pop(c, o);
		}
		orc_checker_pop(c, old);
	}
	return all;
}

/* ---- cycles ---- */

/*
 * One cycle through `start` inside its strongly connected set, following
 * needs (shortest, by breadth-first search), as "a -> b -> a".
 */
static char *
cycle_text(const struct orc_definition *def, const uint64_t *m, size_t start)
{
	size_t n = def->n_steps, words = closure_words(n);
	size_t *from = malloc(n * sizeof(*from));
	size_t *queue = malloc(n * sizeof(*queue));
	size_t *path = malloc((n + 1) * sizeof(*path));
	size_t head = 0, tail = 0, len = 0, end = n, cur;
	char *text = NULL;
	size_t size = 1;

	if (from == NULL || queue == NULL || path == NULL)
		goto done;
	for (size_t i = 0; i < n; i++)
		from[i] = n;
	queue[tail++] = start;
	while (head < tail && end == n) {
		const struct orc_step_def *st = &def->steps[queue[head++]];

		for (size_t k = 0; k < st->n_needs; k++) {
			size_t b = st->needs[k];

			if (b == start) {
				end = st->index;
				break;
			}
			/* stay inside the strongly connected set */
			if (from[b] != n || !bit_get(m, words, b, start))
				continue;
			from[b] = st->index;
			queue[tail++] = b;
		}
	}
	if (end == n)
		goto done;
	/* walk back from end to start, then print reversed */
	for (cur = end; cur != start; cur = from[cur])
		path[len++] = cur;
	path[len++] = start;
	for (size_t i = 0; i < len; i++)
		size += strlen(def->steps[path[i]].name) + 4;
	size += strlen(def->steps[start].name);
	text = malloc(size);
	if (text == NULL)
		goto done;
	text[0] = '\0';
	for (size_t i = len; i-- > 0;) {
		strcat(text, def->steps[path[i]].name);
		strcat(text, " -> ");
	}
	strcat(text, def->steps[start].name);
done:
	free(from);
	free(queue);
	free(path);
	return text;
}

static void
check_cycles(struct orc_checker *c, const uint64_t *m)
{
	const struct orc_definition *def = c->def;
	size_t n = def->n_steps, words = closure_words(n);
	bool *reported = calloc(n ? n : 1, sizeof(*reported));

	if (reported == NULL) {
		c->oom = true;
		return;
	}
	for (size_t a = 0; a < n; a++) {
		char *text;
		size_t old;

		if (reported[a] || !bit_get(m, words, a, a))
			continue;
		for (size_t b = a; b < n; b++)
			if (bit_get(m, words, a, b) && bit_get(m, words, b, a))
				reported[b] = true;
		text = cycle_text(def, m, a);
		if (text == NULL) {
			c->oom = true;
			break;
		}
		old = orc_checker_push_step(c, a);
		orc_checker_issue_at(c, "needs", "cycle: %s", text);
		orc_checker_pop(c, old);
		free(text);
	}
	for (size_t a = 0; a < n; a++) {
		size_t old;

		if (bit_get(m, words, a, a))
			continue;
		for (size_t b = 0; b < n; b++) {
			if (!bit_get(m, words, a, b) ||
			    !bit_get(m, words, b, b))
				continue;
			old = orc_checker_push_step(c, a);
			orc_checker_issue(c, "unreachable: depends on a cycle");
			orc_checker_pop(c, old);
			break;
		}
	}
	free(reported);
}

/* A step is incomplete when it or a step it needs has an unresolved need. */
static void
spread_incomplete(struct orc_checker *c, const uint64_t *m)
{
	size_t n = c->def->n_steps, words = closure_words(n);

	for (size_t a = 0; a < n; a++)
		for (size_t b = 0; b < n && !c->incomplete[a]; b++)
			if (bit_get(m, words, a, b) && c->incomplete[b])
				c->incomplete[a] = true;
}

void
orc_checker_graph(struct orc_checker *c)
{
	struct orc_definition *def = c->def;
	bool resolved;

	check_names(c);
	resolved = resolve_needs(c);
	if (c->oom)
		return;
	def->needs_closure = closure(def);
	if (def->needs_closure == NULL) {
		c->oom = true;
		return;
	}
	if (resolved)
		check_cycles(c, def->needs_closure);
	spread_incomplete(c, def->needs_closure);
}
