/*
 * store_admin.h - reading sagas and dead letters for operators.
 *
 * The store side of `orchestrator status|list|history|dead-letters`: read
 * only, except recording a dead letter's replays.  Results are jansson values
 * (new references, the caller json_decref()s them) so that a command can
 * print them as a table or as --json without knowing SQL.  Times are
 * ISO-8601 strings in UTC with milliseconds ("2026-11-27T07:00:00.123Z"),
 * NULL times are JSON null; ages and durations are integers of
 * milliseconds ("age_ms").
 *
 * Input from users is checked here before any SQL runs: a malformed saga
 * id or an unknown status is ORC_INVALID with a message that says what was
 * expected, never a server error.  Something asked for by id or key that
 * does not exist is ORC_NOT_FOUND.  Other failures are the store's usual
 * SQLSTATE mapping (store.h).
 */
#ifndef ORC_STORE_ADMIN_H
#define ORC_STORE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "envelope.h"
#include "error.h"
#include "store.h"

#define ORC_ADMIN_DEFAULT_LIMIT 50

/*
 * ORC_OK when id (borrowed) is a saga id (a UUID, either case), else
 * ORC_INVALID with a message naming it: for commands that check their
 * arguments before connecting.  No I/O.
 */
enum orc_status orc_store_admin_check_id(const char *id,
					 struct orc_error *err);

/*
 * A saga and its steps.  Object members: id, definition_name,
 * definition_version, business_key, status, failing_reason, failure,
 * context, created_at, updated_at, finished_at, deadline_at, wake_at,
 * age_ms (now - created_at), duration_ms (finished_at - created_at, or
 * null), and steps: an array in definition order of {name, index, status,
 * attempt, compensation_attempt, started_at, finished_at, wake_at,
 * wake_reason, last_error, map}; map is null but for a started map step,
 * whose counters it holds: {items, concurrency, min_success, started,
 * succeeded, failed, compensated, in_flight} (in_flight = started -
 * succeeded - failed, as in the view map_steps).
 *
 * A child saga has parent_id, parent_step and parent_status (null when
 * the parent is no longer stored); they are null for any other saga.
 * children is every saga under this one (its children, theirs, ...), a
 * flat array in tree order (each right after its parent, siblings by
 * start) of {depth (1 for a child of this saga), id, parent_id,
 * parent_step, definition_name, definition_version, business_key,
 * status, failure, created_at, finished_at}; empty when there are none.
 *
 * orc_store_admin_saga(): the saga with id (borrowed; a UUID, either
 * case).  *out is a new object.  ORC_INVALID when id is not a UUID,
 * ORC_NOT_FOUND when there is no such saga.
 */
enum orc_status orc_store_admin_saga(struct orc_store *store, const char *id,
				     json_t **out, struct orc_error *err);

/*
 * The sagas with business key (borrowed), of definition (borrowed; NULL:
 * any definition), newest first, each as in orc_store_admin_saga().  One
 * key can belong to several definitions, so *out is a new array; ORC_NOT_FOUND
 * when it would be empty.
 */
enum orc_status orc_store_admin_sagas_by_key(struct orc_store *store,
					     const char *key,
					     const char *definition,
					     json_t **out,
					     struct orc_error *err);

/* What orc_store_admin_list() selects; every field optional (0/NULL). */
struct orc_admin_list_filter {
	const char *definition;	     /* definition name, borrowed */
	const char *const *statuses; /* saga statuses, borrowed; any of them */
	size_t n_statuses;
	int64_t older_than_ms; /* created at least this long ago */
	int64_t newer_than_ms; /* created at most this long ago */
	int limit;	       /* <= 0: ORC_ADMIN_DEFAULT_LIMIT */
};

/*
 * Sagas matching f (borrowed), newest first (by created_at), at most
 * f->limit.  *out is a new array of {id, definition_name,
 * definition_version, business_key, status, failing_reason, failure,
 * created_at, updated_at, finished_at, age_ms}; *total (may be NULL) is
 * how many matched before the limit.  An unknown status is ORC_INVALID.
 */
enum orc_status orc_store_admin_list(struct orc_store *store,
				     const struct orc_admin_list_filter *f,
				     json_t **out, size_t *total,
				     struct orc_error *err);

/*
 * The history of saga id (borrowed), in order: *out is a new array of {id,
 * at, kind, step, event_id, detail}.  ORC_INVALID when id is not a UUID,
 * ORC_NOT_FOUND when there is no such saga (a saga with no history yet
 * gives an empty array).
 */
enum orc_status orc_store_admin_history(struct orc_store *store,
					const char *id, json_t **out,
					struct orc_error *err);

/*
 * Dead letters, newest first, at most limit (<= 0: the default), only
 * those never replayed when unreplayed_only.  *out is a new array of {id,
 * consumer, topic, partition, offset, error, created_at, replayed_at};
 * *total (may be NULL) is how many matched before the limit.
 */
enum orc_status orc_store_admin_dead_letters(struct orc_store *store,
					     bool unreplayed_only, int limit,
					     json_t **out, size_t *total,
					     struct orc_error *err);

/*
 * One dead letter, whole.  Everything is owned by the struct and freed by
 * orc_admin_dead_letter_finish().
 */
struct orc_admin_dead_letter {
	/*
	 * {id, consumer, topic, partition, offset, error, created_at,
	 * replayed_at, headers (as stored: [[name, value], ...]), key_size,
	 * payload_size, key, payload (the bytes as text when they are UTF-8,
	 * else null)}.
	 */
	json_t *info;
	int64_t id;
	const char *topic;  /* borrowed from info */
	unsigned char *key; /* NULL when the message had no key */
	size_t key_len;
	unsigned char *payload; /* NULL for a tombstone */
	size_t payload_len;
	/*
	 * The Kafka headers as received, in order; names and values point
	 * into storage the struct owns; a value is NULL for a header that
	 * had none.  They are the stored bytes exactly (header_names and
	 * header_values, migration 003).  For an older row, kept as JSON
	 * only, a value stored as "\x<hex>" (the worker's form for bytes
	 * that were not UTF-8) is decoded back to its bytes; so is,
	 * unavoidably, a text value that happened to look like that.
	 */
	struct orc_header *headers;
	size_t n_headers;
	char *header_bytes;
};

/*
 * Read dead letter id into *out (caller-owned; overwritten, not freed
 * first).  ORC_NOT_FOUND when there is none.  On failure *out is empty and
 * finishing it is harmless.
 */
enum orc_status orc_store_admin_dead_letter(struct orc_store *store,
					    int64_t id,
					    struct orc_admin_dead_letter *out,
					    struct orc_error *err);

/*
 * Read the dead letters ids[0..n) (distinct) into out[0..n) (caller-owned,
 * overwritten, not freed first) in two statements, whatever n: out[i] is
 * ids[i]'s, as orc_store_admin_dead_letter() reads it, or, when there is
 * no such dead letter, empty but for its id (info NULL).  On failure every
 * out[i] is empty and finishing it is harmless.
 */
enum orc_status orc_store_admin_dead_letters_read(
	struct orc_store *store, const int64_t *ids, size_t n,
	struct orc_admin_dead_letter *out, struct orc_error *err);

/* Free what dl owns and empty it; accepts NULL. */
void orc_admin_dead_letter_finish(struct orc_admin_dead_letter *dl);

/*
 * The dead letters where predicate (borrowed) holds, oldest first (by id),
 * at most limit (<= 0: every one); those replayed before only when all.
 * The predicate is the operator's own SQL, a boolean expression over the
 * columns of dead_letters, run as "WHERE (predicate)" in a read-only
 * transaction of its own with search_path set to the schema (so it may
 * look at sagas too).  One that is not valid SQL, or that would write
 * (nextval(), a function that updates), is ORC_INVALID with a message
 * naming it; nothing is changed either way.  *out is a new array of
 * objects as orc_store_admin_dead_letters() gives.
 */
enum orc_status orc_store_admin_dead_letters_where(struct orc_store *store,
						   const char *predicate,
						   bool all, int limit,
						   json_t **out,
						   struct orc_error *err);

/* One acknowledged replay of a dead letter, for the record. */
struct orc_admin_replay {
	int64_t dead_letter_id;
	int32_t partition; /* where the broker wrote the message */
	int64_t offset;
	/*
	 * The corrected value that was sent instead of the dead letter's own
	 * (JSON text, borrowed), or NULL when its own was.
	 */
	const char *payload;
	bool marked; /* set by orc_store_admin_record_replays() */
};

/*
 * Record replays[0..n) (caller-owned) as made by by (borrowed), in one
 * statement: a dead_letter_replays row each (migration 014) and their
 * dead letters' replayed_at set to now().  Each replay's marked says
 * whether its dead letter was marked (one deleted meanwhile is not), and
 * *marked how many were.  at (may be NULL) receives the time written
 * (ISO-8601 UTC), "" when none was.
 */
enum orc_status orc_store_admin_record_replays(
	struct orc_store *store, struct orc_admin_replay *replays, size_t n,
	const char *by, size_t *marked, char at[32], struct orc_error *err);

/*
 * The sagas where predicate (borrowed) holds, in id order: the operator's
 * own SQL, a boolean expression over the columns of the sagas table, run
 * with the database rights of the operator's connection as
 * "SELECT ... FROM sagas WHERE (predicate)" in a read-only transaction of
 * its own, search_path set to the schema (so it may look at saga_steps or
 * saga_history too).  One that is not valid SQL, or would write, is
 * ORC_INVALID with a message naming it; nothing is changed either way.
 * *out is a new array of {id, definition_name, definition_version,
 * business_key, status, paused_at}.
 */
enum orc_status orc_store_admin_sagas_where(struct orc_store *store,
					    const char *predicate,
					    json_t **out,
					    struct orc_error *err);

/*
 * Does predicate (as above) still hold for saga id (both borrowed)?  For
 * the caller's open transaction, after it locked the saga: run in a
 * savepoint that is rolled back, so nothing the predicate does stays and
 * the caller's locks are kept.  ORC_INVALID as above.
 */
enum orc_status orc_store_admin_saga_matches(struct orc_store *store,
					     const char *id,
					     const char *predicate,
					     bool *matches,
					     struct orc_error *err);

/* How many dead letters were recorded more than older_than_ms ago. */
enum orc_status orc_store_admin_dead_letters_older(struct orc_store *store,
						   int64_t older_than_ms,
						   int64_t *count,
						   struct orc_error *err);

#endif
