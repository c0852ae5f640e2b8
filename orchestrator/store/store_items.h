/*
 * store_items.h - the rows of map items (saga_map_items), read and written
 * with their sagas.  Internal to the store: store_saga.c reads a saga's
 * items right after its step rows and queues their writes in its write
 * batch, through these.
 *
 * Reading loads only what orc_saga_map_load() (saga_row.h) says the engine
 * needs: the items in flight, the latest succeeded ones while the saga
 * compensates, or all of them.  Writing upserts the items the engine
 * changed, after deleting the rows of an earlier run of a map that started
 * again (struct orc_map_state.fresh), in the same transaction as the saga.
 *
 * Ownership: struct orc_item_writes is caller memory (zeroed is empty);
 * every pointer passed in is borrowed for the call.
 */
#ifndef ORC_STORE_ITEMS_H
#define ORC_STORE_ITEMS_H

#include <stddef.h>

#include "engine.h"
#include "error.h"
#include "pgarray.h"
#include "store.h"
#include "store_internal.h"
#include "store_saga.h"

/* The upsert's parameters, as store_internal.h's parameter tables. */
#define ORC_ITEM_PARAMS(X, Y)                                                  \
	X(I_SAGA, 1, uuid, saga)                                               \
	Y(I_STEP, 2, text, step)                                               \
	Y(I_INDEX, 3, int, idx)                                                \
	Y(I_STATUS, 4, text, status)                                           \
	Y(I_ATTEMPT, 5, int, attempt)                                          \
	Y(I_ABASE, 6, int, abase)                                              \
	Y(I_COMP, 7, int, comp)                                                \
	Y(I_CBASE, 8, int, cbase)                                              \
	Y(I_STARTED, 9, bigint, started)                                       \
	Y(I_FINISHED, 10, bigint, finished)                                    \
	Y(I_WAKE, 11, bigint, wake)                                            \
	Y(I_REASON, 12, text, reason)                                          \
	Y(I_SEQ, 13, int, seq)                                                 \
	Y(I_ERROR, 14, text, error)                                            \
	Y(I_OUTPUT, 15, text, output)                                          \
	Y(I_REPLIES, 16, text, replies)

enum orc_item_param { ORC_ITEM_PARAMS(ORC_STORE_PARAM_NAME,
				      ORC_STORE_PARAM_NAME) I_COLS };

/* The maps that start afresh: (saga id, step name) pairs. */
enum orc_fresh_param { F_SAGA, F_STEP, F_COLS };

struct orc_item_writes {
	struct orc_pgarray items[I_COLS];
	struct orc_pgarray fresh[F_COLS];
	size_t n_items;
	size_t n_fresh;
};

/* The two statements, for the write batch's pipeline. */
extern const char orc_item_fresh_sql[];
extern const char orc_item_upsert_sql[];

void orc_item_writes_reset(struct orc_item_writes *w);
void orc_item_writes_finish(struct orc_item_writes *w);

/*
 * Queue the changed items of saga's map steps (and the deletes of maps
 * that started afresh); clears their changed and fresh flags.
 * ORC_FATAL when out of memory.
 */
enum orc_status orc_item_writes_saga(struct orc_item_writes *w,
				     struct orc_saga *saga,
				     struct orc_error *err);

/*
 * Load the items the map steps of sagas[0..n) need (just built from their
 * rows, locked by the open transaction; borrowed), in one query for them
 * all.  ORC_INVALID for a row that does not describe an item of its map:
 * *bad is then that saga's index (err names the row; the caller
 * quarantines it and loads again for those after it: the ones before it
 * have their items), and n otherwise.  ORC_FATAL when out of memory, or
 * the query's error.
 */
enum orc_status orc_store_load_map_items(struct orc_store *store,
					 struct orc_stored_saga *const *sagas,
					 size_t n, size_t *bad,
					 struct orc_error *err);

#endif
