/*
 * graph.c - a saga definition as a Mermaid or Graphviz flowchart.
 *
 * Both formats are written by one walk over the definition; only node,
 * edge and escaping syntax differ, and they live in a small table of
 * printers.  Node ids never clash: step names are lowercase by the
 * language's rule, so the extra nodes use uppercase ids (START, END,
 * UNDO_<step>), and a step named like a Mermaid keyword ("end", "style",
 * ...) gets its first letter capitalised, distinct from both.  Labels are
 * escaped for each format, so any event type or condition text draws as
 * written.  A map step is a command step drawn as a stack (a subroutine box
 * in Mermaid, box3d in dot) whose label says what it maps over and how.
 * A saga step, which runs a whole saga of another definition, is a
 * slanted box in Mermaid and a double-bordered one in dot, labelled
 * "saga: <definition>" and its version when it names one ("v2").
 */
#include "graph.h"
#include "duration.h"
#include "strbuf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- condition text: gt(${/input/total}, 1000) ---- */

static void
put_json(struct orc_strbuf *b, const json_t *v)
{
	char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (dump == NULL) {
		b->oom = true;
		return;
	}
	orc_strbuf_puts(b, dump);
	free(dump);
}

/* An operand: a reference as written, anything else as compact JSON. */
static void
put_operand(struct orc_strbuf *b, const json_t *v)
{
	const char *s = json_string_value(v);

	if (s != NULL && s[0] == '$' && s[1] == '{' &&
	    strchr(s, '}') == s + strlen(s) - 1)
		orc_strbuf_puts(b, s);
	else
		put_json(b, v);
}

static void
put_condition(struct orc_strbuf *b, const json_t *cond)
{
	const char *op;
	json_t *arg, *item;
	size_t i;

	if (!json_is_object(cond) || json_object_size(cond) != 1) {
		put_json(b, cond);
		return;
	}
	json_object_foreach((json_t *)cond, op, arg) {
		bool nested = strcmp(op, "all") == 0 || strcmp(op, "any") == 0 ||
			      strcmp(op, "not") == 0;

		orc_strbuf_puts(b, op);
		orc_strbuf_puts(b, "(");
		if (strcmp(op, "not") == 0) {
			put_condition(b, arg);
		} else if (json_is_array(arg)) {
			json_array_foreach(arg, i, item) {
				if (i > 0)
					orc_strbuf_puts(b, ", ");
				if (nested)
					put_condition(b, item);
				else
					put_operand(b, item);
			}
		} else {
			put_operand(b, arg);
		}
		orc_strbuf_puts(b, ")");
	}
}

/* ---- labels ---- */

/* A map's third label line: "each of ${/input/items}, max 10, at least 90%" */
static void
map_text(const struct orc_map_def *m, struct orc_strbuf *b)
{
	orc_strbuf_puts(b, "\neach of ${");
	orc_strbuf_puts(b, m->items ? m->items : "");
	orc_strbuf_puts(b, "}, max ");
	if (m->concurrency_from != NULL)
		orc_strbuf_printf(b, "${%s}", m->concurrency_from);
	else
		orc_strbuf_printf(b, "%d", m->concurrency);
	if (m->min_success > 0)
		orc_strbuf_printf(b, ", at least %" PRId64, m->min_success);
	else if (m->min_fraction < 1)
		orc_strbuf_printf(b, ", at least %g%%", m->min_fraction * 100);
}

/*
 * The second line of a step's label, e.g. "command: inventory.reserve";
 * a map step's says "map: <command type>" and has a third line.
 */
static void
kind_text(const struct orc_definition *def, const struct orc_step_def *st,
	  struct orc_strbuf *b)
{
	const json_t *js, *delay;
	char text[64];

	orc_strbuf_puts(b, st->has_map ? "map" : orc_step_kind_name(st->kind));
	orc_strbuf_puts(b, ": ");
	switch (st->kind) {
	case ORC_STEP_COMMAND:
		orc_strbuf_puts(b, st->command.type ? st->command.type : "");
		if (st->has_map)
			map_text(&st->map, b);
		return;
	case ORC_STEP_WAIT:
		orc_strbuf_puts(b, st->wait.type ? st->wait.type : "");
		return;
	case ORC_STEP_DELAY:
		/* as the author wrote it ("24h", not "1d") when we can */
		js = json_array_get(json_object_get(def->body, "steps"), st->index);
		delay = json_object_get(js, "delay");
		if (json_is_string(delay)) {
			orc_strbuf_puts(b, json_string_value(delay));
			return;
		}
		orc_duration_format(st->delay_ms, text, sizeof(text));
		orc_strbuf_puts(b, text);
		return;
	case ORC_STEP_SAGA:
		orc_strbuf_puts(b, st->child.definition ? st->child.definition
							: "");
		if (st->child.version > 0)
			orc_strbuf_printf(b, " v%d", st->child.version);
		return;
	}
}

/* ---- the two formats ---- */

enum shape {
	SHAPE_TERMINAL, /* start and end */
	SHAPE_COMMAND,
	SHAPE_MAP, /* a command step with "map" */
	SHAPE_WAIT,
	SHAPE_DELAY,
	SHAPE_SAGA, /* a child saga */
	SHAPE_UNDO,
};

struct printer {
	const char *header;
	const char *footer;
	void (*node)(struct orc_strbuf *b, const char *id, enum shape shape,
		     const char *label);
	void (*edge)(struct orc_strbuf *b, const char *from, const char *to,
		     const char *label, bool dashed);
};

/* Mermaid: quotes as #quot;, markup characters as entities, \n as <br/>. */
static void
mermaid_text(struct orc_strbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '"':
			orc_strbuf_puts(b, "#quot;");
			break;
		case '<':
			orc_strbuf_puts(b, "#lt;");
			break;
		case '>':
			orc_strbuf_puts(b, "#gt;");
			break;
		case '#':
			orc_strbuf_puts(b, "#35;");
			break;
		case '\n':
			orc_strbuf_puts(b, "<br/>");
			break;
		default:
			orc_strbuf_append(b, s, 1);
		}
	}
}

static void
mermaid_node(struct orc_strbuf *b, const char *id, enum shape shape,
	     const char *label)
{
	static const char *const open[] = {
		[SHAPE_TERMINAL] = "([\"", [SHAPE_COMMAND] = "[\"",
		[SHAPE_MAP] = "[[\"",      [SHAPE_WAIT] = "{{\"",
		[SHAPE_DELAY] = "(\"",     [SHAPE_UNDO] = "[/\"",
		[SHAPE_SAGA] = "[\\\"",
	};
	static const char *const close[] = {
		[SHAPE_TERMINAL] = "\"])", [SHAPE_COMMAND] = "\"]",
		[SHAPE_MAP] = "\"]]",      [SHAPE_WAIT] = "\"}}",
		[SHAPE_DELAY] = "\")",     [SHAPE_UNDO] = "\"/]",
		[SHAPE_SAGA] = "\"\\]",
	};

	orc_strbuf_printf(b, "    %s%s", id, open[shape]);
	mermaid_text(b, label);
	orc_strbuf_printf(b, "%s\n", close[shape]);
}

static void
mermaid_edge(struct orc_strbuf *b, const char *from, const char *to,
	     const char *label, bool dashed)
{
	orc_strbuf_printf(b, "    %s %s", from, dashed ? "-.->" : "-->");
	if (label != NULL) {
		orc_strbuf_puts(b, "|\"");
		mermaid_text(b, label);
		orc_strbuf_puts(b, "\"|");
	}
	orc_strbuf_printf(b, " %s\n", to);
}

/* DOT: a double-quoted string; \n is dot's own line break. */
static void
dot_text(struct orc_strbuf *b, const char *s)
{
	orc_strbuf_puts(b, "\"");
	for (; *s; s++) {
		switch (*s) {
		case '"':
			orc_strbuf_puts(b, "\\\"");
			break;
		case '\\':
			orc_strbuf_puts(b, "\\\\");
			break;
		case '\n':
			orc_strbuf_puts(b, "\\n");
			break;
		default:
			orc_strbuf_append(b, s, 1);
		}
	}
	orc_strbuf_puts(b, "\"");
}

static void
dot_node(struct orc_strbuf *b, const char *id, enum shape shape, const char *label)
{
	static const char *const attrs[] = {
		[SHAPE_TERMINAL] = "shape=ellipse",
		[SHAPE_COMMAND] = "shape=box",
		[SHAPE_MAP] = "shape=box3d",
		[SHAPE_WAIT] = "shape=hexagon",
		[SHAPE_DELAY] = "shape=box, style=rounded",
		[SHAPE_SAGA] = "shape=box, peripheries=2",
		[SHAPE_UNDO] = "shape=box, style=dashed",
	};

	orc_strbuf_puts(b, "    ");
	dot_text(b, id);
	orc_strbuf_puts(b, " [label=");
	dot_text(b, label);
	orc_strbuf_printf(b, ", %s];\n", attrs[shape]);
}

static void
dot_edge(struct orc_strbuf *b, const char *from, const char *to, const char *label,
	 bool dashed)
{
	orc_strbuf_puts(b, "    ");
	dot_text(b, from);
	orc_strbuf_puts(b, " -> ");
	dot_text(b, to);
	if (label != NULL || dashed) {
		orc_strbuf_puts(b, " [");
		if (label != NULL) {
			orc_strbuf_puts(b, "label=");
			dot_text(b, label);
		}
		if (dashed)
			orc_strbuf_puts(b, label != NULL ? ", style=dashed" : "style=dashed");
		orc_strbuf_puts(b, "]");
	}
	orc_strbuf_puts(b, ";\n");
}

static const struct printer printers[] = {
	[ORC_GRAPH_MERMAID] = {"flowchart TD\n", "", mermaid_node, mermaid_edge},
	[ORC_GRAPH_DOT] = {NULL, "}\n", dot_node, dot_edge},
};

const char *
orc_graph_format_name(enum orc_graph_format fmt)
{
	switch (fmt) {
	case ORC_GRAPH_MERMAID:
		return "mermaid";
	case ORC_GRAPH_DOT:
		return "dot";
	}
	return "unknown";
}

bool
orc_graph_format_parse(const char *text, enum orc_graph_format *out)
{
	if (text == NULL)
		return false;
	if (strcmp(text, "mermaid") == 0)
		*out = ORC_GRAPH_MERMAID;
	else if (strcmp(text, "dot") == 0)
		*out = ORC_GRAPH_DOT;
	else
		return false;
	return true;
}

/*
 * Words a Mermaid flowchart reads as keywords at the start of a statement
 * or after an arrow.  A step with one of these names gets its first letter
 * capitalised as its id, which no other id can be (see the file comment).
 */
static const char *const mermaid_reserved[] = {
	"end", "graph", "flowchart", "subgraph", "style", "class", "click",
	"call", "href", "default", "direction", "interpolate", NULL,
};

#define ID_MAX (ORC_NAME_MAX + 8)

/* The node id of every step, ID_MAX bytes each (new, or NULL on oom). */
static char *
step_ids(const struct orc_definition *def, enum orc_graph_format fmt)
{
	char *ids = calloc(def->n_steps ? def->n_steps : 1, ID_MAX);

	if (ids == NULL)
		return NULL;
	for (size_t i = 0; i < def->n_steps; i++) {
		char *id = ids + i * ID_MAX;

		snprintf(id, ID_MAX, "%s", def->steps[i].name);
		if (fmt != ORC_GRAPH_MERMAID)
			continue;
		for (size_t k = 0; mermaid_reserved[k] != NULL; k++)
			if (strcmp(id, mermaid_reserved[k]) == 0)
				id[0] = (char)(id[0] - 'a' + 'A');
	}
	return ids;
}

char *
orc_graph_render(const struct orc_definition *def, enum orc_graph_format fmt)
{
	const struct printer *p;
	struct orc_strbuf b = {0}, label = {0}, cond = {0};
	char id[ID_MAX];
	bool *needed = NULL;
	char *ids = NULL;

	if (def == NULL || (fmt != ORC_GRAPH_MERMAID && fmt != ORC_GRAPH_DOT))
		return NULL;
	p = &printers[fmt];
	needed = calloc(def->n_steps + 1, sizeof(*needed));
	ids = step_ids(def, fmt);
	if (needed == NULL || ids == NULL)
		goto fail;

	if (p->header != NULL) {
		orc_strbuf_puts(&b, p->header);
	} else {
		orc_strbuf_puts(&b, "digraph ");
		dot_text(&b, def->name ? def->name : "saga");
		orc_strbuf_puts(&b, " {\n    rankdir=TB;\n");
	}

	/* nodes */
	orc_strbuf_reset(&label);
	orc_strbuf_puts(&label, "start: ");
	orc_strbuf_puts(&label, def->trigger.type ? def->trigger.type : "");
	p->node(&b, "START", SHAPE_TERMINAL, label.data ? label.data : "");
	for (size_t i = 0; i < def->n_steps; i++) {
		const struct orc_step_def *st = &def->steps[i];
		static const enum shape shapes[] = {
			[ORC_STEP_COMMAND] = SHAPE_COMMAND,
			[ORC_STEP_WAIT] = SHAPE_WAIT,
			[ORC_STEP_DELAY] = SHAPE_DELAY,
			[ORC_STEP_SAGA] = SHAPE_SAGA,
		};

		orc_strbuf_reset(&label);
		orc_strbuf_puts(&label, st->name);
		orc_strbuf_puts(&label, "\n");
		kind_text(def, st, &label);
		p->node(&b, ids + i * ID_MAX,
			st->has_map ? SHAPE_MAP : shapes[st->kind],
			label.data ? label.data : "");
		for (size_t k = 0; k < st->n_needs; k++)
			needed[st->needs[k]] = true;
	}
	for (size_t i = 0; i < def->n_steps; i++) {
		const struct orc_step_def *st = &def->steps[i];

		if (!st->has_compensation)
			continue;
		orc_strbuf_reset(&label);
		orc_strbuf_puts(&label, st->has_map ? "undo each: " : "undo: ");
		orc_strbuf_puts(&label, st->compensation.command.type
				    ? st->compensation.command.type
				    : "");
		snprintf(id, sizeof(id), "UNDO_%s", st->name);
		p->node(&b, id, SHAPE_UNDO, label.data ? label.data : "");
	}
	p->node(&b, "END", SHAPE_TERMINAL, "end");

	/* edges */
	for (size_t i = 0; i < def->n_steps; i++) {
		const struct orc_step_def *st = &def->steps[i];
		const char *when = NULL;

		if (st->when != NULL && !json_is_true(st->when)) {
			orc_strbuf_reset(&cond);
			put_condition(&cond, st->when);
			when = cond.data;
		}
		if (st->n_needs == 0)
			p->edge(&b, "START", ids + i * ID_MAX, when, false);
		for (size_t k = 0; k < st->n_needs; k++)
			p->edge(&b, ids + st->needs[k] * ID_MAX,
				ids + i * ID_MAX, when, false);
	}
	for (size_t i = 0; i < def->n_steps; i++) {
		if (!def->steps[i].has_compensation)
			continue;
		snprintf(id, sizeof(id), "UNDO_%s", def->steps[i].name);
		p->edge(&b, ids + i * ID_MAX, id, NULL, true);
	}
	for (size_t i = 0; i < def->n_steps; i++)
		if (!needed[i])
			p->edge(&b, ids + i * ID_MAX, "END", NULL, false);
	orc_strbuf_puts(&b, p->footer);
	if (b.oom || label.oom || cond.oom)
		goto fail;
	free(needed);
	free(ids);
	orc_strbuf_finish(&label);
	orc_strbuf_finish(&cond);
	return b.data;

fail:
	free(needed);
	free(ids);
	orc_strbuf_finish(&label);
	orc_strbuf_finish(&cond);
	orc_strbuf_finish(&b);
	return NULL;
}
