/*
 * engine_testlib.h - what the engine's test suites share (test_engine.c,
 * test_engine_random.c): a saga's whole state as text, and a trip through
 * the store's rows.  Not a contract of the engine; failures here abort the
 * running Check test.
 */
#ifndef ORC_ENGINE_TESTLIB_H
#define ORC_ENGINE_TESTLIB_H

#include <jansson.h>

#include "engine.h"

/*
 * Everything saga (borrowed) holds, as the rows the store would write, and
 * its whole context, in sorted, compact JSON: {"id", "key", "status", ...,
 * "whole_context", "steps": [{"name", "status", ..., "map"?: {"items",
 * ..., "rows": [item rows]}}]}.  New, free() it.
 */
char *orc_et_state_text(const struct orc_saga *saga);

/*
 * Write *saga as rows, with its JSON values through text as a database
 * holds them, read them back with orc_saga_from_rows() (and a map step's
 * items with orc_saga_add_items(), all of them, complete) and compare the
 * two states.  Returns NULL when they agree: *saga is then the copy read back
 * (the old state finished).  Otherwise returns what went wrong (new,
 * free() it) and leaves *saga alone.  At most 16 steps.
 */
char *orc_et_reload(struct orc_saga *saga);

#endif
