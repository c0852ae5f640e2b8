/*
 * store_housekeeping.h - deleting what is kept no longer: finished sagas
 * past their retention (archived first when asked), inbox ids past
 * inbox_ttl, dead letters past their retention.
 *
 * Every call is one bounded transaction of its own (at most limit rows),
 * and finds its rows through an index of migrations/010_housekeeping.sql,
 * locked FOR UPDATE SKIP LOCKED: several processes calling these at once
 * share the rows, none waits for another or for the apply path, and each
 * row is deleted once.  A saga is only ever deleted in a final status
 * (completed, compensated, failed, cancelled, timed_out), whatever the
 * caller asks: running, compensating and stuck sagas are never touched.
 * Deleting a saga deletes its steps and history (the statement trigger of
 * migrations/007_hot_path.sql).
 *
 * Archival writes one outbox row per deleted saga in the same transaction
 * (a saga.archived event on the archive topic, key and lane of the saga,
 * source /orchestrator/<definition>, id "<saga id>/archived", data
 * saga_archive(): the saga row, its steps, its history), which the relay
 * publishes as it publishes commands.  The saga rows are locked before the
 * statement that reads and deletes them starts, so the archive holds every
 * step and history row the delete removes.
 *
 * Call outside any transaction, on a connection no one else uses.
 */
#ifndef ORC_STORE_HOUSEKEEPING_H
#define ORC_STORE_HOUSEKEEPING_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "store.h"

/* Which finished sagas a batch takes; every pointer borrowed. */
struct orc_housekeeping_sagas {
	/*
	 * Retention per definition name (names[i] keeps its sagas
	 * retention_ms[i] after they finished; 0 = forever), n of them.
	 * Stored definition names not listed keep them default_ms (0 =
	 * forever).
	 */
	const char *const *names;
	const int64_t *retention_ms;
	size_t n;
	int64_t default_ms;
	const char *definition; /* NULL: every definition; else only this */
	/*
	 * NULL: every final status; else only this one.  A status that is
	 * not final matches nothing (the caller refuses it first).
	 */
	const char *status;
	const char *archive_topic; /* NULL or "": no archive */
	int limit;		   /* most sagas per batch */
};

/*
 * Delete one batch of finished sagas as q says: *deleted (and *archived,
 * the saga.archived events written) is how many; fewer than q->limit when
 * no more are due right now (or the rest is locked by others).
 */
enum orc_status orc_store_housekeeping_sagas(struct orc_store *store,
					     const struct orc_housekeeping_sagas *q,
					     size_t *deleted, size_t *archived,
					     struct orc_error *err);

/* How many sagas q would delete now, all batches together (q->limit unused). */
enum orc_status orc_store_housekeeping_count_sagas(
	struct orc_store *store, const struct orc_housekeeping_sagas *q,
	int64_t *due, struct orc_error *err);

/* Delete up to limit inbox ids received more than ttl_ms ago. */
enum orc_status orc_store_housekeeping_inbox(struct orc_store *store,
					     int64_t ttl_ms, int limit,
					     size_t *deleted,
					     struct orc_error *err);

/* Delete up to limit dead letters recorded more than keep_ms ago. */
enum orc_status orc_store_housekeeping_dead_letters(struct orc_store *store,
						    int64_t keep_ms, int limit,
						    size_t *deleted,
						    struct orc_error *err);

#endif
