/*
 * definition_diff.h - what changed between two versions of a definition.
 */
#ifndef ORC_DEFINITION_DIFF_H
#define ORC_DEFINITION_DIFF_H

#include <jansson.h>

#include "definition.h"

/*
 * The changes from a to b (both borrowed; versions of one definition, or
 * any two), as a new JSON object (NULL when out of memory):
 *   {"name", "from", "to",
 *    "added": [step], "removed": [step], "renamed": [{"from", "to"}],
 *    "changed": [{"step", "what": [member, ...]}],
 *    "saga": [top-level member: trigger, timeout, retention, output]}
 * A removed step and an added one of the same kind doing the same work
 * (command type, awaited event type, delay, child definition; map or not)
 * count as a rename; "changed" names the members that differ (needs
 * compared through renames; a map as "map added", "map removed",
 * "map.items", "map.max_concurrency" or "map.min_success"; a child as
 * "saga added", "saga removed", "saga.definition", "saga.version",
 * "saga.key" or "saga.data").
 */
json_t *orc_definition_diff(const struct orc_definition *a,
			    const struct orc_definition *b);

#endif
