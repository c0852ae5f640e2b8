/*
 * saga_set.h - the sagas of one transaction, found by id or business key.
 *
 * A batch reads every saga it touches into a set, the engine changes them
 * there, and the set is written back: the apply path looks a saga up once
 * per route of every event, so lookups are hashed, not scanned.  The set
 * is plain memory (no libpq): the store fills it, the apply path and the
 * engine use it.
 *
 * A saga's id and key may be set after it joined the set (a new saga gets
 * them from the engine's ORC_INPUT_START), but never change once set; the
 * index takes a saga in when the next one is pushed, and a lookup scans
 * the few not taken in yet.
 */
#ifndef ORC_SAGA_SET_H
#define ORC_SAGA_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "definition.h"
#include "engine.h"
#include "error.h"
#include "text.h"

/* A saga read from (or about to be inserted into) the database. */
struct orc_stored_saga {
	struct orc_saga saga;
	bool is_new;  /* not in the database yet: INSERT */
	bool touched; /* an input was applied: write it back */
	/*
	 * The row's context as read (owned reference, NULL for a new saga).
	 * Its members are shared with saga.context; while they are all still
	 * the ones read, the write leaves the column as it is
	 * (orc_saga_row_context_same()).
	 */
	json_t *row_context;
	/*
	 * The saga whose saga step started it, and that step ("" for
	 * none): written when it is inserted, never changed.
	 */
	char parent_id[37];
	char parent_step[ORC_NAME_MAX + 1];
};

/*
 * A saga that was locked but not built, because it is quarantined: its row
 * could not be read (now, or before).  The engine never sees it.
 */
struct orc_quarantined_saga {
	char id[ORC_SAGA_ID_MAX];
	char def_name[ORC_NAME_MAX + 1];
	char key[ORC_SAGA_KEY_MAX];
	char reason[ORC_ERROR_MSG_MAX];
};

/* The sagas of one transaction; caller-owned, reusable. */
struct orc_saga_set {
	struct orc_stored_saga **v; /* stable pointers, owned */
	size_t n;
	size_t cap;
	struct orc_quarantined_saga *quarantined; /* n_quarantined of them */
	size_t n_quarantined;
	size_t cap_quarantined;
	/*
	 * The index (saga_set.c): open-addressed tables of positions in v
	 * plus one (0 is an empty slot), by id and by (definition, key).
	 * v[0..n_indexed) have been taken in; those of them that had no id
	 * then are listed in unnamed.
	 */
	uint32_t *by_id;
	uint32_t *by_key;
	size_t n_slots; /* of each table: 0 or a power of two */
	size_t n_named; /* entries in each table */
	size_t n_indexed;
	uint32_t *unnamed;
	size_t n_unnamed;
	size_t cap_unnamed;
};

void orc_saga_set_init(struct orc_saga_set *set);
/* Finish every saga, keep the memory for the next batch. */
void orc_saga_set_reset(struct orc_saga_set *set);
void orc_saga_set_finish(struct orc_saga_set *set);

/*
 * Find by id, or by definition name and business key (borrowed): the
 * newest of the key in the set (one started in this batch comes after
 * the key's earlier saga that the lock read).  Returned sagas are the
 * set's.
 */
struct orc_stored_saga *orc_saga_set_find(const struct orc_saga_set *set,
					  const char *id);
struct orc_stored_saga *orc_saga_set_find_key(const struct orc_saga_set *set,
					      const char *def_name,
					      const char *key);

/* The quarantined saga with this id, or this (definition, key); or NULL. */
const struct orc_quarantined_saga *
orc_saga_set_quarantined(const struct orc_saga_set *set, const char *id);
const struct orc_quarantined_saga *
orc_saga_set_quarantined_key(const struct orc_saga_set *set,
			     const char *def_name, const char *key);

/*
 * Add a new saga for def (borrowed), ready for ORC_INPUT_START; returns it
 * (owned by the set) or NULL when out of memory.
 */
struct orc_stored_saga *orc_saga_set_add_new(struct orc_saga_set *set,
					     const struct orc_definition *def);

/*
 * A zeroed entry at the end of the set (owned by it) for the caller to
 * fill, or NULL when out of memory.  orc_saga_set_pop() takes it back,
 * freeing the entry but not its saga (the caller has not built it, or has
 * finished it).
 */
struct orc_stored_saga *orc_saga_set_push(struct orc_saga_set *set);
void orc_saga_set_pop(struct orc_saga_set *set);

/* Finish the saga at position i and close the gap (the order is kept). */
void orc_saga_set_remove(struct orc_saga_set *set, size_t i);

/*
 * A new entry of set->quarantined for the caller to fill, or NULL when out
 * of memory.
 */
struct orc_quarantined_saga *
orc_saga_set_push_quarantined(struct orc_saga_set *set);

#endif
