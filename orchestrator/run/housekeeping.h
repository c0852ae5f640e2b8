/*
 * housekeeping.h - the pump that keeps the tables from growing forever:
 * finished sagas past their retention (archived first when archive_topic
 * is set), inbox ids past inbox_ttl, dead letters past
 * dead_letter_retention, and parked events past their time to live
 * (moved to the dead letters).
 *
 * Processes with the timers or housekeeping role turn it on their loop.
 * A turn does at most one batch (housekeeping_batch rows, one
 * transaction) of each kind that is due, then returns: a kind whose batch
 * came back full is due again at once, any other one
 * housekeeping_interval_ms later.  Several processes share the work with
 * no leader: every batch locks its rows SKIP LOCKED (store_housekeeping.h).
 *
 * A definition's retention is its latest version's "retention" (so a new
 * version can shorten or lengthen it for the sagas of every version),
 * else the retention setting; 0 keeps them forever.
 *
 * Not thread-safe: the loop's thread calls everything.
 */
#ifndef ORC_HOUSEKEEPING_H
#define ORC_HOUSEKEEPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "config.h"
#include "error.h"
#include "store.h"

/* The kinds of rows it deletes: constant, metric label. */
#define ORC_HOUSEKEEPING_KINDS(X)                                              \
	X(ORC_HOUSEKEEPING_SAGAS, "sagas")                                     \
	X(ORC_HOUSEKEEPING_INBOX, "inbox")                                     \
	X(ORC_HOUSEKEEPING_DEAD_LETTERS, "dead_letters")                       \
	X(ORC_HOUSEKEEPING_PARKED, "parked_events")

#define ORC_HOUSEKEEPING_KIND_ENUM(name, label) name,
enum orc_housekeeping_kind {
	ORC_HOUSEKEEPING_KINDS(ORC_HOUSEKEEPING_KIND_ENUM)
	ORC_HOUSEKEEPING_KIND_COUNT
};

/* "sagas", "inbox", "dead_letters", "parked_events" (static). */
const char *orc_housekeeping_kind_name(enum orc_housekeeping_kind kind);

/* What this process deleted since it started. */
struct orc_housekeeping_stats {
	uint64_t deleted[ORC_HOUSEKEEPING_KIND_COUNT];
	uint64_t archived; /* saga.archived events written (of deleted sagas) */
};

struct orc_housekeeping;

/*
 * A pump on store with the retentions of cfg and the definitions of cat
 * (all borrowed; they must outlive it; cat may grow meanwhile).  *out is
 * new; free with orc_housekeeping_destroy().
 */
enum orc_status orc_housekeeping_create(const struct orc_config *cfg,
					struct orc_store *store,
					const struct orc_catalog *cat,
					struct orc_housekeeping **out,
					struct orc_error *err);

/* Accepts NULL. */
void orc_housekeeping_destroy(struct orc_housekeeping *hk);

/* Is a kind due at now_ms (CLOCK_MONOTONIC milliseconds)? */
bool orc_housekeeping_wants_turn(const struct orc_housekeeping *hk,
				 int64_t now_ms);

/*
 * One turn at now_ms: a batch of each due kind.  *deleted is how many
 * rows it deleted.  On failure the failed batch is rolled back (the
 * batches before it are committed) and the kind stays due; the caller
 * backs off.
 */
enum orc_status orc_housekeeping_turn(struct orc_housekeeping *hk,
				      int64_t now_ms, size_t *deleted,
				      struct orc_error *err);

/* The counters (borrowed; updated by every turn). */
const struct orc_housekeeping_stats *
orc_housekeeping_get_stats(const struct orc_housekeeping *hk);

#endif
