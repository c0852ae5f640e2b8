/*
 * engine_testlib.h - what the engine's test suites share (test_engine.c,
 * test_engine_map.c, test_engine_child.c, test_engine_random.c): a saga's
 * whole state as text, a trip through the store's rows, JSON and
 * definitions written with single quotes, and the rig that drives one saga
 * by a script of inputs.  Not a contract of the engine; failures here abort
 * the running Check test.
 *
 * A script is ';'-separated commands ("start; reply a a.ok {'r':1};
 * wake"), single quotes standing for double quotes in its JSON:
 *
 *   start [DATA]                 START (the rig's start_data without DATA)
 *   reply STEP TYPE [DATA]       REPLY
 *   replyid ID STEP TYPE [DATA]  REPLY deduplicated by the step, as ID
 *   event TOPIC TYPE DATA        EVENT
 *   wake                         TIMER at the saga's wake-up time
 *   timer                        TIMER now
 *   at MS                        the clock to MS, no input
 *   limit BYTES                  options.max_command_bytes, no input
 *   cancel | terminate | undo | pause | resume
 *   retry [STEP]                 RETRY, from STEP on
 *   skip STEP [DATA] | resolve STEP
 *   patch input|STEP PATCH       PATCH of the input or of STEP's output
 *   child STEP WHICH STATUS [OUTPUT]
 *                                CHILD: the end of STEP's child, WHICH being
 *                                "cur" (the step's current attempt), an
 *                                attempt's number or an id as is; a status
 *                                other than completed fails with "boom"
 *   childdata STEP DATA          CHILD with DATA as given
 *
 * Operator inputs are by "ann@host" with the reason "test".  A word that
 * starts with '{', '[' or a single quote is the rest of the command.
 *
 * The effects of one input read as a summary string:
 *   h:<history kind>   h:reply.ignored(late)   cmd:<step>/<kind>/<attempt>
 *   ev:<saga status>   child:<step>/<action>
 * with a map item's index after the step or history kind:
 * "h:step.started[2]", "cmd:m[2]/action/1".  Step statuses read
 * "a=succeeded b=running".
 */
#ifndef ORC_ENGINE_TESTLIB_H
#define ORC_ENGINE_TESTLIB_H

#include <jansson.h>

#include "engine.h"

/* ---- JSON and definitions in single quotes ---- */

/* s (borrowed) with every single quote a double one: new, free() it. */
char *orc_et_unquote(const char *s);

/* The JSON (any value) in sq (borrowed, single quotes): a new reference. */
json_t *orc_et_json(const char *sq);

/* v (borrowed) compact, keys sorted: new, free() it. */
char *orc_et_dump(const json_t *v);

/* Fails the test unless v (borrowed) is the JSON value in want_sq. */
void orc_et_expect_json(const json_t *v, const char *want_sq);

/* The definition body (borrowed) must load: returns it new. */
struct orc_definition *orc_et_def_json(json_t *body);

/* The definition in sq (single quotes): new. */
struct orc_definition *orc_et_def(const char *sq);

/* ---- the rig ---- */

/* What differs between the suites' rigs (all borrowed, static strings). */
struct orc_et_setup {
	const char *saga_id;	/* START's saga id */
	const char *start_data; /* START's data when the command has none */
	int64_t now;		/* the clock at first */
	bool reload;		/* every applied input: orc_et_reload() */
};

struct orc_et_rig {
	struct orc_definition *def;
	bool def_owned; /* orc_et_rig_finish() destroys def */
	struct orc_saga saga;
	struct orc_effects fx;
	struct orc_engine_options opts; /* no limits unless a test sets them */
	struct orc_error err;
	int64_t now;
	const char *saga_id;
	const char *start_data;
	bool reload;	/* a test may turn it off (a large map) */
	json_t *log;	/* every apply's effects as JSON, for determinism */
	char got[8192]; /* the last apply's effects, "h:.. cmd:.." */
};

/* A new saga of def (taken) in r, set up as setup (borrowed) says. */
void orc_et_rig_init(struct orc_et_rig *r, const struct orc_et_setup *setup,
		     struct orc_definition *def);

/* A rig c on r's definition (borrowed) with a copy of r's saga. */
void orc_et_rig_copy(struct orc_et_rig *c, const struct orc_et_rig *r);

/* The saga, the effects and the log; def too unless r is a copy. */
void orc_et_rig_finish(struct orc_et_rig *r);

/* Apply in (borrowed); returns the engine's status, effects in r->got. */
enum orc_status orc_et_apply(struct orc_et_rig *r,
			     const struct orc_engine_input *in);

/* Run one script command; returns the engine's status. */
enum orc_status orc_et_command(struct orc_et_rig *r, const char *cmd);

/* Run a script; every command must succeed. */
void orc_et_script(struct orc_et_rig *r, const char *s);

/* Run cmd, which must succeed with effects as the summary. */
void orc_et_expect(struct orc_et_rig *r, const char *cmd, const char *effects);

/* The step statuses, "a=succeeded b=running" (static, until the next). */
const char *orc_et_steps(const struct orc_et_rig *r);

/* Fails the test unless the saga and its steps are in these statuses. */
void orc_et_expect_status(const struct orc_et_rig *r, const char *saga,
			  const char *steps);

/* Fails the test unless the context at pointer is the JSON in want_sq. */
void orc_et_expect_at(const struct orc_et_rig *r, const char *pointer,
		      const char *want_sq);

/*
 * The id of step's child into out: which is "cur" (the step's current
 * attempt), an attempt's number, or an id, copied as is.
 */
void orc_et_child_id(const struct orc_et_rig *r, const char *step,
		     const char *which, char out[64]);

/*
 * Fails the test unless c, a copy of a (orc_et_rig_copy()) taken before
 * a's apply number k, applied the same input alike: its first apply's
 * effects are those of a's apply k, and the two sagas agree.
 */
void orc_et_expect_replayed(const struct orc_et_rig *a, size_t k,
			    const struct orc_et_rig *c);

/* The detail of the last history entry of kind in r->fx (borrowed). */
const json_t *orc_et_last_detail(const struct orc_et_rig *r, const char *kind);

/* ---- state ---- */

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
