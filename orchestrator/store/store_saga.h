/*
 * store_saga.h - sagas, definitions, inbox and dead letters in PostgreSQL:
 * the store side of the apply path.
 *
 * A batch of events is applied in one transaction, in sets rather than
 * rows: one statement claims the batch's event ids in the inbox, one locks
 * every saga the batch touches (ORDER BY id FOR UPDATE, so two workers
 * never deadlock), one reads their steps; the engine then runs in memory,
 * and one statement each writes back sagas, steps, history and outbox rows
 * from arrays (INSERT ... SELECT FROM unnest(...)).  Timers use the same
 * write path after claiming due sagas with FOR UPDATE SKIP LOCKED.
 *
 * Transactions are the caller's: orc_store_begin(), then any of these,
 * then orc_store_commit() or orc_store_rollback().
 */
#ifndef ORC_STORE_SAGA_H
#define ORC_STORE_SAGA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "engine.h"
#include "envelope.h"
#include "error.h"
#include "saga_set.h"
#include "store.h"
#include "text.h"

enum orc_status orc_store_begin(struct orc_store *store, struct orc_error *err);
enum orc_status orc_store_commit(struct orc_store *store, struct orc_error *err);
/* Roll back; errors are ignored (a lost connection rolls back anyway). */
void orc_store_rollback(struct orc_store *store);

/* ---- definitions ---- */

/*
 * Store def (borrowed) as name@version.  *created tells whether it was new.
 * The same body again is fine; a different body under an existing version
 * is ORC_CONFLICT: definitions are immutable once loaded.
 */
enum orc_status orc_store_put_definition(struct orc_store *store,
					 const struct orc_definition *def,
					 bool *created, struct orc_error *err);

/*
 * Add to cat every stored definition it lacks.  A stored body that no
 * longer loads is reported and skipped, not fatal: *skipped counts them.
 */
enum orc_status orc_store_load_definitions(struct orc_store *store,
					   struct orc_catalog *cat,
					   int *skipped,
					   struct orc_error *err);

/*
 * Every stored definition as a JSON array (new reference) of {"name",
 * "version", "checksum", "steps", "loaded_at"}, by name and version.
 */
enum orc_status orc_store_list_definitions(struct orc_store *store,
					   json_t **out, struct orc_error *err);

/* ---- inbox ---- */

/*
 * Record ids[0..n) (borrowed) as applied by consumer; fresh[i] (caller's
 * array of n) tells whether ids[i] was new.  Duplicates within ids count
 * as fresh once.
 */
enum orc_status orc_store_inbox_claim(struct orc_store *store,
				      const char *consumer,
				      const char *const *ids, size_t n,
				      bool *fresh, struct orc_error *err);

/*
 * Forget ids[0..n) (borrowed) for consumer: events that were claimed but
 * then dead-lettered, so that a replay of them is applied.
 */
enum orc_status orc_store_inbox_release(struct orc_store *store,
					const char *consumer,
					const char *const *ids, size_t n,
					struct orc_error *err);

/* ---- sagas ---- */

/* The sets of sagas these read into: saga_set.h. */

/*
 * Lock and read into set the sagas with the given ids and those with the
 * given (definition name, business key) pairs (all borrowed), with their
 * steps.  A pair names one saga: the key's saga that is not over (running,
 * compensating or stuck; the database keeps at most one), else its newest.
 * Definitions that cat lacks are read from the database into it.  Ids the
 * lock query did not return are asked for again (a row updated by a
 * concurrent commit can drop out of it), so an id missing from set after
 * the call names no saga.
 *
 * A saga whose row cannot be read (ORC_INVALID from the row codec, JSON
 * that does not parse, a definition that is not stored or no longer
 * loads) does not fail the call: it is quarantined in the open
 * transaction (sagas.quarantined_at and quarantine_reason, and a
 * saga.quarantined history row) and listed in set->quarantined instead of
 * set->v, as is a saga quarantined before.  Only ORC_FATAL (out of
 * memory) and the store's own failures are returned.
 */
enum orc_status orc_store_lock_sagas(struct orc_store *store,
				     struct orc_catalog *cat,
				     const char *const *ids, size_t n_ids,
				     const char *const *names,
				     const char *const *keys, size_t n_keys,
				     struct orc_saga_set *set,
				     struct orc_error *err);

/*
 * Lock and read up to limit sagas whose wake-up time is at or before
 * now_ms, skipping sagas other transactions hold and quarantined ones.  A
 * claimed saga that cannot be read is quarantined as by
 * orc_store_lock_sagas(), so its wake-up time no longer comes back.
 */
enum orc_status orc_store_claim_due(struct orc_store *store,
				    struct orc_catalog *cat, int64_t now_ms,
				    int limit, struct orc_saga_set *set,
				    struct orc_error *err);

/*
 * Move saga id's wake-up to until_ms and record why in its history: for a
 * saga whose timer cannot be applied, so it does not fire in a loop.
 */
enum orc_status orc_store_defer_wake(struct orc_store *store, const char *id,
				     int64_t until_ms, const char *reason,
				     struct orc_error *err);

/*
 * Quarantine saga id (borrowed) for reason (borrowed): for a saga whose
 * row read well but holds a state the engine refuses.  A saga quarantined
 * already keeps its first reason.  In the caller's transaction.
 */
enum orc_status orc_store_quarantine_saga(struct orc_store *store,
					  const char *id, const char *reason,
					  struct orc_error *err);

/*
 * Release quarantined saga id (borrowed) once its row is fixed: lock it,
 * read it as the engine would, and only when that succeeds clear the
 * quarantine and record saga.released in its history.  ORC_NOT_FOUND: no
 * such saga; ORC_CONFLICT: it is not quarantined; ORC_INVALID: the row
 * still cannot be read (err says why; it stays quarantined).  The reason
 * it was quarantined for goes into reason (size ORC_ERROR_MSG_MAX).  In
 * the caller's transaction.
 */
enum orc_status orc_store_release_saga(struct orc_store *store,
				       struct orc_catalog *cat, const char *id,
				       char *reason, struct orc_error *err);

/* ---- writing a batch back ---- */

struct orc_write_batch;

struct orc_write_batch *orc_write_batch_create(void);
void orc_write_batch_destroy(struct orc_write_batch *wb); /* accepts NULL */
void orc_write_batch_reset(struct orc_write_batch *wb);

/*
 * Write the lifecycle events (SAGA_EVENT effects) of the batches to come
 * to topic (copied; NULL or "" = none, the default); kept across resets.
 * ORC_FATAL when out of memory.
 */
enum orc_status orc_write_batch_lifecycle(struct orc_write_batch *wb,
					  const char *topic,
					  struct orc_error *err);

/*
 * Queue the saga row and the rows of its steps flagged changed (the flags
 * are cleared).  A step the engine never touched has no row (it is
 * pending), so a new saga writes only the steps it started.  Values are
 * copied.
 */
enum orc_status orc_write_batch_saga(struct orc_write_batch *wb,
				     struct orc_stored_saga *ss,
				     struct orc_error *err);

/* Where an applied input came from, for history and outbox rows. */
struct orc_effect_origin {
	const char *event_id;    /* CloudEvents id, NULL for timers */
	const char *traceparent; /* propagated to commands, may be NULL */
	const char *reply_to;    /* the replyto attribute of commands */
	int64_t now_ms;
};

/*
 * Queue the history and outbox rows of fx (borrowed; copied), decided for
 * saga: one history row for the transition (its entries in order, the
 * headline first: migration 020), a command's row, and a lifecycle
 * event's when the batch has a lifecycle topic, in the order of the
 * effects (the relay publishes a saga's rows in that order).
 */
enum orc_status orc_write_batch_effects(struct orc_write_batch *wb,
					const struct orc_saga *saga,
					const struct orc_effects *fx,
					const struct orc_effect_origin *origin,
					struct orc_error *err);

/* Rows queued so far (for metrics): outbox rows, history transitions. */
size_t orc_write_batch_outbox_rows(const struct orc_write_batch *wb);
size_t orc_write_batch_history_rows(const struct orc_write_batch *wb);

/*
 * Write everything queued (up to four statements) and commit the
 * transaction, in one round trip (libpq pipeline mode).  On failure the
 * caller rolls back (the transaction may already be gone).  Does not reset
 * wb.
 */
enum orc_status orc_store_write_commit(struct orc_store *store,
				       struct orc_write_batch *wb,
				       struct orc_error *err);

/*
 * orc_store_write_commit() in two halves, so that the caller can work
 * while the server writes and flushes the commit: _send() sends it all
 * and returns (wb may be reset then; a failed _send() needs no _wait()),
 * _wait() reads the answer.  Between the two, store takes no statement.
 */
enum orc_status orc_store_write_commit_send(struct orc_store *store,
					    struct orc_write_batch *wb,
					    struct orc_error *err);
enum orc_status orc_store_write_commit_wait(struct orc_store *store,
					    struct orc_error *err);

/*
 * Delete, in the open transaction, the step rows of saga_id whose names
 * are not among names[0..n) (borrowed): the steps a saga left behind when
 * it moved to another version of its definition.
 */
enum orc_status orc_store_prune_steps(struct orc_store *store,
				      const char *saga_id,
				      const char *const *names, size_t n,
				      struct orc_error *err);

/* ---- dead letters ---- */

struct orc_dead_letter {
	const char *consumer;
	const char *topic;
	int32_t partition;
	int64_t offset;
	const void *key; /* may be NULL */
	size_t key_len;
	const struct orc_header *headers;
	size_t n_headers;
	const void *payload; /* may be NULL */
	size_t payload_len;
	const char *error;
};

/* What orc_store_dead_letter() wrote. */
struct orc_dead_letter_result {
	int64_t id;   /* its row in dead_letters */
	bool minimal; /* only topic, partition, offset and error were kept */
	/* when minimal: the error stored, the reason and why (ASCII) */
	char error[ORC_ERROR_MSG_MAX + 128]; /* as orc_apply_item.reason */
};

/*
 * Insert dl (borrowed) into dead_letters, inside the caller's open
 * transaction (under a savepoint of its own); a second insert of the same
 * (consumer, topic, partition, offset), as after a replay, changes
 * nothing, and *out->id is the row there.  When the database refuses the
 * whole row for any reason but a transient one, a minimal row is written
 * instead and out says so.  Fails with ORC_TRANSIENT (roll back, retry),
 * or when even the minimal row cannot be written, or out of memory.
 */
enum orc_status orc_store_dead_letter(struct orc_store *store,
				      const struct orc_dead_letter *dl,
				      struct orc_dead_letter_result *out,
				      struct orc_error *err);

/* ---- parked events (events that arrive before their saga) ---- */

/* An event a wait step awaits for a business key that has no saga yet. */
struct orc_parked_event {
	struct orc_dead_letter raw; /* the message as received; error unused */
	const char *def_name;       /* the definition of the wait step */
	const char *business_key;
	const char *type;
	const char *event_id;   /* CloudEvents id; may be NULL */
	const char *message_id; /* its inbox id, "<source> <id>" */
	const char *data;       /* its data as JSON text; may be NULL */
	const char *ttl;        /* how long it may wait, for people ("1h") */
	int64_t ttl_ms;
};

/*
 * Park pe (borrowed) in the open transaction, under a lock on its
 * definition and key.  ORC_TRANSIENT when a saga of the definition with
 * the key started (and committed) since the caller looked: roll back and
 * apply the batch again, which then finds the saga.
 */
enum orc_status orc_store_park_event(struct orc_store *store,
				     const struct orc_parked_event *pe,
				     struct orc_error *err);

/* A parked event read for a saga that starts; every pointer owned. */
struct orc_parked_taken {
	int64_t id;
	char *def_name;
	char *business_key;
	char *topic;
	char *type;
	char *event_id; /* may be NULL */
	json_t *data;   /* may be NULL */
	bool used;      /* the caller's: a saga took it */
};

/* A caller-owned list, reused from batch to batch. */
struct orc_parked_list {
	struct orc_parked_taken *v;
	size_t n;
	size_t cap;
};

void orc_parked_list_init(struct orc_parked_list *list);
void orc_parked_list_reset(struct orc_parked_list *list);
void orc_parked_list_finish(struct orc_parked_list *list); /* NULL ok */

/*
 * In the open transaction, lock the (names[i], keys[i]) pairs (borrowed)
 * as orc_store_park_event() does, then lock and read into list (reset
 * first) their parked events that have not expired, oldest first: for the
 * sagas this transaction will start.  The caller sets used on those it
 * applied and deletes them with orc_store_drop_parked() before commit.
 */
enum orc_status orc_store_lock_parked(struct orc_store *store,
				      const char *const *names,
				      const char *const *keys, size_t n,
				      struct orc_parked_list *list,
				      struct orc_error *err);

/* Delete the parked events of list marked used, in the open transaction. */
enum orc_status orc_store_drop_parked(struct orc_store *store,
				      const struct orc_parked_list *list,
				      struct orc_error *err);

/*
 * Move up to limit expired parked events to dead_letters with the reason
 * ("no saga of D for key K within 1h ..."), releasing their inbox ids so
 * that a replay is applied; one statement of its own (autocommit), rows
 * locked by another process skipped.  *moved: how many.
 */
enum orc_status orc_store_expire_parked(struct orc_store *store, int limit,
					int64_t *moved, struct orc_error *err);

#endif
