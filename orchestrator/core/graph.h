/*
 * graph.h - draw a saga definition as a flowchart (Mermaid or Graphviz dot).
 *
 * One node per step, labelled with its name and kind (the command type, the
 * awaited event type or the delay; a map step, drawn as a stack, also what
 * it maps over, its max_concurrency and min_success; a saga step, drawn
 * slanted or double-bordered, the child's definition and version), a start
 * node for the trigger, an end node after the steps nothing needs, an edge
 * per need (labelled with the step's "when" condition when it has one) and
 * a dashed edge from each step with a compensation to an "undo: <type>"
 * node ("undo each: <type>" for a map step).  Pure: builds a string.
 */
#ifndef ORC_GRAPH_H
#define ORC_GRAPH_H

#include <stdbool.h>

#include "definition.h"

enum orc_graph_format {
	ORC_GRAPH_MERMAID, /* "flowchart TD", for Markdown on GitHub/GitLab */
	ORC_GRAPH_DOT,     /* Graphviz: dot -Tsvg */
};

/* "mermaid" or "dot". Never NULL. */
const char *orc_graph_format_name(enum orc_graph_format fmt);

/* Parse "mermaid" or "dot"; false for anything else. */
bool orc_graph_format_parse(const char *text, enum orc_graph_format *out);

/*
 * Render def (borrowed) in fmt.  Returns a new NUL-terminated string that
 * the caller frees with free(), or NULL when out of memory.
 */
char *orc_graph_render(const struct orc_definition *def,
		       enum orc_graph_format fmt);

#endif
