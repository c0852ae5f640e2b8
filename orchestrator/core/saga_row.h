/*
 * saga_row.h - a saga as the store's rows: one saga row, one row per step.
 *
 * The store keeps the scalar fields of struct orc_saga as columns, statuses
 * and reasons as their names (engine.h), early events as JSON.  The context
 * is split along who changes it: a step's output ("steps.<name>") lives in
 * its step row, written with the step's status anyway; "saga" (id, key,
 * name, version) is rebuilt from the columns; the saga row keeps the rest
 * (the input), which no step changes.  So a transition rewrites no context
 * bytes in the saga row, and its update can stay small (and HOT).
 *
 * A step gets its own row once it settles: a step that is running and has
 * never had a row (no map, no early event, no output) is an "open" step,
 * kept in the saga row's open_steps, an array of small objects, because
 * the saga row is rewritten at every transition anyway and the reply that
 * ends the step will change it again.  So a step of a sequence is written
 * as one INSERT when its reply comes, not an INSERT when it starts and an
 * UPDATE at its reply.  A step that has a row keeps it (has_row).
 *
 * orc_saga_to_row() and orc_saga_step_to_row() flatten a saga for writing;
 * orc_saga_from_rows() rebuilds one from what was read and refuses rows
 * that do not describe a saga of the definition.  The conversion does no
 * I/O and knows no SQL: only the store uses it, through these structs.
 *
 * Ownership: a step row owns nothing, and a saga row owns only its context
 * as orc_saga_to_row() makes it (orc_saga_row_finish() releases it; the
 * output is borrowed from the saga).  Every
 * other pointer from orc_saga_to_row() and orc_saga_step_to_row() is
 * borrowed from the saga (and its definition) and lives until the saga is
 * next changed or finished; into orc_saga_from_rows() every pointer is
 * borrowed for the call (the saga copies the strings and takes its own
 * references to the JSON values).
 */
#ifndef ORC_SAGA_ROW_H
#define ORC_SAGA_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "definition.h"
#include "engine.h"
#include "error.h"
#include "strbuf.h"

/* The columns of the saga row; NUL-terminated strings, all borrowed. */
struct orc_saga_row {
	const char *id;
	const char *key;
	const char *status; /* orc_saga_status_name() */
	const char *cause;  /* orc_saga_cause_name() */
	json_t *context;    /* the context less "steps" and "saga" */
	int64_t started_ms;
	int64_t deadline_ms;
	int64_t wake_ms;
	int64_t seq;
	const char *failure_reason; /* NULL = none */
	json_t *output;             /* the rendered "output"; NULL = none */
	int64_t lifecycle_seq;
	int64_t paused_ms; /* paused_at; 0 = not paused */
	/*
	 * The open steps (orc_saga_open_steps_put()'s array); read only by
	 * orc_saga_from_rows(), NULL = none.
	 */
	json_t *open_steps;
};

/* A started map step's counters, in its step row (engine.h). */
struct orc_map_row {
	bool has; /* false: the step has no map state */
	int64_t items;
	int concurrency;
	int64_t min_success;
	int64_t started;
	int64_t succeeded;
	int64_t failed;
	int64_t compensated;
	int64_t last_seq;
	int run;
};

/* The columns of one step row; borrowed as for orc_saga_row. */
struct orc_step_row {
	const char *name;   /* the step's name in the definition */
	const char *status; /* orc_step_status_name() */
	int attempt;
	int attempt_base;
	int comp_attempt;
	int comp_attempt_base;
	int64_t started_ms;
	int64_t finished_ms;
	int64_t wake_ms;
	const char *wake_reason; /* orc_wake_reason_name() */
	int64_t completed_seq;
	const char *last_error; /* NULL = none */
	json_t *early_event;    /* NULL = none */
	json_t *output;         /* the context's steps.<name>; NULL = none */
	json_t *replies;        /* reply dedup ids, an array; NULL = none */
	struct orc_map_row map;
};

/* One row of saga_map_items: a map item; borrowed as for orc_saga_row. */
struct orc_item_row {
	int64_t index;
	const char *status; /* orc_step_status_name() */
	int attempt;
	int attempt_base;
	int comp_attempt;
	int comp_attempt_base;
	int64_t started_ms;
	int64_t finished_ms;
	int64_t wake_ms;
	const char *wake_reason; /* orc_wake_reason_name() */
	int64_t completed_seq;
	const char *last_error; /* NULL = none */
	json_t *output;         /* NULL = none */
	json_t *replies;        /* NULL = none */
};

/*
 * Build saga (uninitialised caller memory) for def (borrowed) from stored
 * rows (borrowed for the call).  Step rows are matched by name, in any
 * order, and their steps marked has_row; then the open steps of
 * row->open_steps, which win over a row of the same name (the saga row is
 * the newer).  A step with neither is pending.  The context is row->context
 * with "steps" made of the step rows' outputs (over a "steps" object the
 * row's context may still hold, as rows written before the split do) and
 * "saga" made of the columns.  Returns ORC_INVALID (err says which column)
 * for an unknown status or step name, a missing id or key, a context that
 * is not an object, or open steps that are not an array of objects with
 * the members and types orc_saga_open_steps_put() writes (err gives the
 * JSON Pointer); ORC_FATAL when out of memory.  On failure saga
 * holds nothing to free.  Step changed flags start false.
 */
enum orc_status orc_saga_from_rows(struct orc_saga *saga,
				   const struct orc_definition *def,
				   const struct orc_saga_row *row,
				   const struct orc_step_row *steps,
				   size_t n_steps, struct orc_error *err);

/*
 * Which items of step index (a map step read from its rows) the store must
 * load for the engine (engine.h, struct orc_map_state):
 *   NONE       none (no map state, or nothing of it can move);
 *   IN_FLIGHT  the items running or compensating;
 *   UNDO       those, and the concurrency succeeded items that completed
 *              last (the saga compensates and the map has a compensation
 *              and items to undo);
 *   ALL        every item: the map is about to complete (at most one item
 *              left), or the engine asked (ORC_WAKE_MAP_LOAD).
 */
enum orc_map_load {
	ORC_MAP_LOAD_NONE,
	ORC_MAP_LOAD_IN_FLIGHT,
	ORC_MAP_LOAD_UNDO,
	ORC_MAP_LOAD_ALL,
};

enum orc_map_load orc_saga_map_load(const struct orc_saga *saga,
				    size_t index);

/*
 * Add the n item rows (borrowed for the call) to map step index of saga,
 * read by orc_saga_from_rows() with its map state; complete when they are
 * every started item (ORC_MAP_LOAD_ALL).  ORC_INVALID (err says which
 * row) for an unknown status, an index out of the map's range or given
 * twice; ORC_FATAL when out of memory.  The saga is unchanged on failure
 * but for items already added: discard it.
 */
enum orc_status orc_saga_add_items(struct orc_saga *saga, size_t index,
				   const struct orc_item_row *rows, size_t n,
				   bool complete, struct orc_error *err);

/*
 * Fill *row from item pos of map step index; pointers borrowed from the
 * saga.
 */
void orc_saga_item_to_row(const struct orc_saga *saga, size_t index,
			  size_t pos, struct orc_item_row *row);

/*
 * Fill *row (caller memory) from saga: row->context is a new object (the
 * context less "steps" and "saga"), the other pointers are borrowed from
 * saga.  ORC_FATAL when out of memory (row holds nothing then).  Release
 * with orc_saga_row_finish().
 */
enum orc_status orc_saga_to_row(const struct orc_saga *saga,
				struct orc_saga_row *row);

/* Release what orc_saga_to_row() made; row may be zeroed. */
void orc_saga_row_finish(struct orc_saga_row *row);

/*
 * Whether now (a row context from orc_saga_to_row()) holds exactly the
 * members of read (the row context the saga was built from), each the
 * same value: the engine shares those values between copies of a saga
 * and replaces a member instead of changing it (PATCH of the input), so
 * the same pointers mean the same JSON, and the column need not be
 * written.  Both borrowed; false when read is NULL.
 */
bool orc_saga_row_context_same(const json_t *read, const json_t *now);

/*
 * Whether step index of saga is open: kept in the saga row's open_steps,
 * not in a row of its own (the header says which steps are).
 */
bool orc_saga_step_open(const struct orc_saga *saga, size_t index);

/*
 * Append to sb the JSON array of the open steps of saga (borrowed), each
 * an object of the step's name ("step") and of its fields that are not
 * zero, in the store's column names (times in ms: "started_ms"; status
 * only when it is not "running"), or nothing when there are none.  Out
 * of memory latches sb->oom.
 */
void orc_saga_open_steps_put(const struct orc_saga *saga,
			     struct orc_strbuf *sb);

/*
 * Fill *row (caller memory) from saga->steps[index] (index < n_steps);
 * pointers borrowed from saga and its definition.
 */
void orc_saga_step_to_row(const struct orc_saga *saga, size_t index,
			  struct orc_step_row *row);

#endif
