/*
 * definition.h - saga definitions: load, validate, and the immutable graph.
 *
 * A definition is parsed from JSON (jansson) into a struct orc_definition
 * that nothing changes afterwards: the engine and every worker thread read
 * it without locks.  Loading checks the whole language (schemas/
 * saga-definition.schema.json plus what a schema cannot say: unknown and
 * duplicate steps, cycles, unreachable steps, JSON Pointers into the saga
 * context, durations) and reports every error at once, each with the JSON
 * Pointer of the bad value.  The language is documented in README.md.
 *
 * Ownership: orc_definition_* functions that return a definition return it
 * new; the caller frees it with orc_definition_destroy().  Every pointer
 * inside a definition is owned by it and lives until that destroy.
 */
#ifndef ORC_DEFINITION_H
#define ORC_DEFINITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "duration.h"
#include "error.h"
#include "text.h"


enum orc_step_kind {
	ORC_STEP_COMMAND, /* publish a command, await a reply */
	ORC_STEP_WAIT,    /* await a correlated event */
	ORC_STEP_DELAY,   /* wait a duration */
	ORC_STEP_SAGA,    /* start a child saga, await its end */
};

const char *orc_step_kind_name(enum orc_step_kind kind);

/* A list of strings (event types); owned by the definition. */
struct orc_strv {
	char **v;
	size_t n;
};

bool orc_strv_contains(const struct orc_strv *sv, const char *s);

struct orc_retry {
	int max_attempts;      /* total attempts, including the first; >= 1 */
	int64_t backoff_ms;    /* delay before the second attempt */
	double multiplier;     /* >= 1 */
	int64_t max_backoff_ms; /* 0 = no cap */
	struct orc_strv on;    /* retryable failure types (commands only) */
};

/*
 * Backoff before attempt number next_attempt (2 for the first retry):
 * backoff_ms * multiplier^(next_attempt - 2), capped by max_backoff_ms.
 */
int64_t orc_retry_backoff_ms(const struct orc_retry *retry, int next_attempt);

struct orc_command_def {
	char *topic;
	char *type;
	json_t *data; /* template, rendered against the saga context */
};

struct orc_compensation_def {
	struct orc_command_def command;
	struct orc_strv success;
	struct orc_strv failure;
	int64_t timeout_ms; /* 0 = none */
	struct orc_retry retry;
};

struct orc_wait_def {
	char *topic;
	char *type;
	char *key;          /* JSON Pointer into the awaited event's data */
	int64_t timeout_ms; /* 0 = none */
	bool continue_on_timeout;
	/*
	 * How long an awaited event whose business key has no saga yet is
	 * parked for this step ("early_ttl"); 0 = the parked_ttl setting.
	 */
	int64_t early_ttl_ms;
};

/*
 * A command step with "map": its command runs once per item of an array
 * in the context, each with its own attempts, timeout and compensation.
 * The command's and the compensation's data templates see the item as
 * /item and its position as /index.  Bounds are checked at load time for
 * numbers and when the step starts for values read from the context.
 */
#define ORC_MAP_CONCURRENCY_MAX 1000
#define ORC_MAP_CONCURRENCY_DEFAULT 10
#define ORC_MAP_ITEMS_MAX 100000

struct orc_map_def {
	char *items;       /* JSON Pointer into the context: the array */
	int concurrency;   /* items in flight at most, when not from data */
	char *concurrency_from; /* JSON Pointer into the context, or NULL */
	/*
	 * How many items must succeed: min_success items (> 0), or else
	 * the fraction min_fraction (0 < f <= 1) of them, rounded up.  The
	 * default is all of them (min_success 0, min_fraction 1).
	 */
	int64_t min_success;
	double min_fraction;
};

/*
 * ORC_STEP_SAGA: a child saga of another definition, started in the
 * parent's transaction; the step succeeds with the child's output when
 * it completes and fails when it ends otherwise.
 */
struct orc_child_def {
	char *definition; /* the child's definition name */
	int version;      /* 0 = the latest loaded when the step starts */
	/*
	 * A template string for the child's business key, rendered against
	 * the parent's context (borrowed from the body); NULL = "<parent's
	 * key>/<step name>".
	 */
	const json_t *key;
	/* The child's trigger data template (borrowed); NULL = the input. */
	const json_t *data;
};

struct orc_step_def {
	char *name;
	size_t index; /* position in orc_definition.steps */
	enum orc_step_kind kind;

	size_t *needs; /* indexes into orc_definition.steps */
	size_t n_needs;
	json_t *when; /* condition, or NULL for "always" */

	/* ORC_STEP_COMMAND */
	struct orc_command_def command;
	struct orc_strv success;
	struct orc_strv failure;
	int64_t timeout_ms;   /* 0 = none */
	bool has_retry;       /* when false, retry.max_attempts is 1 */
	struct orc_retry retry;
	bool has_compensation;
	struct orc_compensation_def compensation;
	bool has_map; /* ORC_STEP_COMMAND only: once per item */
	struct orc_map_def map;

	/* ORC_STEP_WAIT */
	struct orc_wait_def wait;

	/* ORC_STEP_DELAY */
	int64_t delay_ms;

	/* ORC_STEP_SAGA (timeout_ms above is its deadline, 0 = none) */
	struct orc_child_def child;
};

/*
 * When a trigger may start a saga for a business key that had one before
 * ("key_reuse").  There is never more than one unfinished saga (running,
 * compensating or stuck) per definition and key, whatever the policy.
 */
enum orc_key_reuse {
	ORC_KEY_REUSE_REJECT,        /* one saga per key, ever (the default) */
	ORC_KEY_REUSE_AFTER_FINISH,  /* a new one once the last has ended */
	ORC_KEY_REUSE_AFTER_FAILURE, /* ... ended without completing */
};

/* "reject", "after_finish", "after_failure". */
const char *orc_key_reuse_name(enum orc_key_reuse policy);

struct orc_trigger_def {
	char *topic;
	char *type;
	char *key; /* JSON Pointer into the trigger event's data */
	enum orc_key_reuse key_reuse;
};

struct orc_definition {
	char *name;
	int version;
	char *description; /* may be NULL */
	struct orc_trigger_def trigger;
	int64_t timeout_ms; /* saga deadline from start; 0 = none */
	/*
	 * A finished saga is deleted this long after its finished_at
	 * ("retention"); 0 = use the retention setting.
	 */
	int64_t retention_ms;
	/*
	 * The "output" template, rendered against the whole context when
	 * the saga completes (borrowed from body); NULL = none.
	 */
	const json_t *output;
	struct orc_step_def *steps;
	size_t n_steps;
	json_t *body; /* the JSON it was loaded from (owned reference) */
	/*
	 * Private to definition_graph.c: the transitive closure of needs, an
	 * n_steps x n_steps bit matrix behind orc_definition_depends_on().
	 * NULL in a definition built by hand (the function then walks needs).
	 */
	uint64_t *needs_closure;
};

/*
 * One validation error: where (JSON Pointer into the definition) and what.
 * Messages are in PostgreSQL style: lowercase, no trailing period.
 */
struct orc_definition_issue {
	char *pointer;
	char *message;
};

/* All the errors of one load; owned by the caller. */
struct orc_definition_issues {
	struct orc_definition_issue *v;
	size_t n;
};

void orc_definition_issues_finish(struct orc_definition_issues *issues);

/*
 * Build a definition from a parsed JSON body (borrowed; the definition
 * takes its own reference).  On success returns ORC_OK and sets *out (new).
 * On invalid input returns ORC_INVALID, leaves *out NULL and appends every
 * problem found to *issues (caller-owned, may hold earlier entries).  Only
 * out-of-memory gives ORC_FATAL.
 */
enum orc_status orc_definition_from_json(json_t *body,
					 struct orc_definition **out,
					 struct orc_definition_issues *issues);

/*
 * Read and parse a file, then orc_definition_from_json().  A JSON syntax
 * error is an issue at pointer "" with jansson's line and column.  An
 * unreadable file returns ORC_NOT_FOUND with err filled.
 */
enum orc_status orc_definition_load_file(const char *path,
					 struct orc_definition **out,
					 struct orc_definition_issues *issues,
					 struct orc_error *err);

/* Free a definition; accepts NULL. */
void orc_definition_destroy(struct orc_definition *def);

/* Index of the step named name, or -1. */
ptrdiff_t orc_definition_step_index(const struct orc_definition *def,
				    const char *name);

/* True when step a (transitively) needs step b. */
bool orc_definition_depends_on(const struct orc_definition *def, size_t a,
			       size_t b);

#endif
