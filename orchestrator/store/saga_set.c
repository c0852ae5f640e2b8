/*
 * saga_set.c - the sagas of one transaction and their index.
 *
 * Two open-addressed tables (linear probing) map a saga's id, and its
 * definition name with its business key, to its position in v.  They hold
 * positions, not pointers, so the only way out is a rebuild: a removal
 * (a quarantine, rare) forgets the index and the next push takes every
 * saga in again.  A push first takes in the sagas pushed before it: their
 * ids are set by then (a new saga gets its id from the ORC_INPUT_START
 * the caller applies right after adding it), so the scan a lookup makes
 * of those not taken in yet is over one saga, or none.  A saga without an
 * id when it is taken in (one whose start failed) is listed apart and
 * scanned, since it could still get one.
 *
 * By key, the newest saga wins: positions go in in increasing order, so a
 * later saga of the same key overwrites an earlier one's slot.
 */
#include "saga_set.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"

#define MIN_SLOTS 64

void
orc_saga_set_init(struct orc_saga_set *set)
{
	memset(set, 0, sizeof(*set));
}

/* Free ss and everything it holds. */
static void
stored_destroy(struct orc_stored_saga *ss)
{
	orc_saga_finish(&ss->saga);
	json_decref(ss->row_context);
	free(ss);
}

/* Forget every position: the tables are empty, nothing is taken in. */
static void
index_forget(struct orc_saga_set *set)
{
	if (set->n_named > 0) {
		memset(set->by_id, 0, set->n_slots * sizeof(set->by_id[0]));
		memset(set->by_key, 0, set->n_slots * sizeof(set->by_key[0]));
	}
	set->n_named = 0;
	set->n_indexed = 0;
	set->n_unnamed = 0;
}

void
orc_saga_set_reset(struct orc_saga_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		stored_destroy(set->v[i]);
	set->n = 0;
	set->n_quarantined = 0;
	index_forget(set);
}

void
orc_saga_set_finish(struct orc_saga_set *set)
{
	orc_saga_set_reset(set);
	free(set->v);
	free(set->quarantined);
	free(set->by_id);
	free(set->by_key);
	free(set->unnamed);
	memset(set, 0, sizeof(*set));
}

/* ---- the index ---- */

static uint32_t
hash_id(const char *id)
{
	return (uint32_t)orc_text_fnv1a(id, ORC_TEXT_FNV1A_BASIS);
}

/* The name, a NUL between (so "ab"+"c" is not "a"+"bc"), the key. */
static uint32_t
hash_key(const char *def_name, const char *key)
{
	uint64_t h = orc_text_fnv1a(def_name, ORC_TEXT_FNV1A_BASIS);

	return (uint32_t)orc_text_fnv1a(key, h * ORC_TEXT_FNV1A_PRIME);
}

static bool
same_key(const struct orc_saga *s, const char *def_name, const char *key)
{
	return s->key != NULL && strcmp(s->key, key) == 0 &&
	       strcmp(s->def->name, def_name) == 0;
}

/* Put position pos (whose saga has an id) into both tables. */
static void
index_put(struct orc_saga_set *set, size_t pos)
{
	const struct orc_saga *s = &set->v[pos]->saga;
	size_t mask = set->n_slots - 1;
	size_t i;

	for (i = hash_id(s->id) & mask; set->by_id[i] != 0; i = (i + 1) & mask)
		;
	set->by_id[i] = (uint32_t)pos + 1;
	if (s->key != NULL) {
		for (i = hash_key(s->def->name, s->key) & mask;
		     set->by_key[i] != 0; i = (i + 1) & mask)
			if (same_key(&set->v[set->by_key[i] - 1]->saga,
				     s->def->name, s->key))
				break; /* newer: pos only grows */
		set->by_key[i] = (uint32_t)pos + 1;
	}
	set->n_named++;
}

/*
 * Make room in the tables for want entries: at most half full.  Growing
 * rebuilds them from v[0..n_indexed), taking in the unnamed sagas that got
 * an id since.
 */
static bool
index_reserve(struct orc_saga_set *set, size_t want)
{
	size_t slots = set->n_slots ? set->n_slots : MIN_SLOTS;
	uint32_t *by_id, *by_key;
	size_t n_indexed = set->n_indexed;

	if (set->n_slots != 0 && want * 2 <= set->n_slots)
		return true;
	while (want * 2 > slots)
		slots *= 2;
	by_id = calloc(slots, sizeof(*by_id));
	by_key = calloc(slots, sizeof(*by_key));
	if (by_id == NULL || by_key == NULL) {
		free(by_id);
		free(by_key);
		return false;
	}
	free(set->by_id);
	free(set->by_key);
	set->by_id = by_id;
	set->by_key = by_key;
	set->n_slots = slots;
	set->n_named = 0;
	set->n_unnamed = 0;
	for (size_t i = 0; i < n_indexed; i++)
		if (set->v[i]->saga.id != NULL)
			index_put(set, i);
		else
			set->unnamed[set->n_unnamed++] = (uint32_t)i;
	return true;
}

/* Take v[n_indexed..n) into the index; false when out of memory. */
static bool
index_catch_up(struct orc_saga_set *set)
{
	if (set->n_indexed == set->n)
		return true;
	if (set->cap_unnamed < set->n) {
		uint32_t *u = realloc(set->unnamed, set->cap * sizeof(*u));

		if (u == NULL)
			return false;
		set->unnamed = u;
		set->cap_unnamed = set->cap;
	}
	if (!index_reserve(set, set->n))
		return false;
	for (; set->n_indexed < set->n; set->n_indexed++) {
		if (set->v[set->n_indexed]->saga.id != NULL)
			index_put(set, set->n_indexed);
		else
			set->unnamed[set->n_unnamed++] =
				(uint32_t)set->n_indexed;
	}
	return true;
}

struct orc_stored_saga *
orc_saga_set_find(const struct orc_saga_set *set, const char *id)
{
	size_t mask = set->n_slots - 1;

	for (size_t i = set->n_indexed; i < set->n; i++)
		if (set->v[i]->saga.id != NULL &&
		    strcmp(set->v[i]->saga.id, id) == 0)
			return set->v[i];
	for (size_t i = 0; i < set->n_unnamed; i++) {
		const struct orc_saga *s = &set->v[set->unnamed[i]]->saga;

		if (s->id != NULL && strcmp(s->id, id) == 0)
			return set->v[set->unnamed[i]];
	}
	if (set->n_named == 0)
		return NULL;
	for (size_t i = hash_id(id) & mask; set->by_id[i] != 0;
	     i = (i + 1) & mask) {
		struct orc_stored_saga *ss = set->v[set->by_id[i] - 1];

		if (strcmp(ss->saga.id, id) == 0)
			return ss;
	}
	return NULL;
}

struct orc_stored_saga *
orc_saga_set_find_key(const struct orc_saga_set *set, const char *def_name,
		      const char *key)
{
	size_t mask = set->n_slots - 1;
	size_t best = 0; /* position + 1 */

	/* Newest first: a saga started in this batch after one that ended. */
	for (size_t i = set->n; i-- > set->n_indexed;)
		if (same_key(&set->v[i]->saga, def_name, key))
			return set->v[i];
	for (size_t i = hash_key(def_name, key) & mask;
	     set->n_named > 0 && set->by_key[i] != 0; i = (i + 1) & mask)
		if (same_key(&set->v[set->by_key[i] - 1]->saga, def_name, key)) {
			best = set->by_key[i];
			break;
		}
	for (size_t i = 0; i < set->n_unnamed; i++)
		if (set->unnamed[i] + 1u > best &&
		    same_key(&set->v[set->unnamed[i]]->saga, def_name, key))
			best = set->unnamed[i] + 1u;
	return best ? set->v[best - 1] : NULL;
}

/* ---- entries ---- */

struct orc_stored_saga *
orc_saga_set_push(struct orc_saga_set *set)
{
	struct orc_stored_saga *ss;

	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		struct orc_stored_saga **v;

		if (cap >= UINT32_MAX)
			return NULL;
		v = realloc(set->v, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		set->v = v;
		set->cap = cap;
	}
	if (!index_catch_up(set))
		return NULL;
	ss = calloc(1, sizeof(*ss));
	if (ss != NULL)
		set->v[set->n++] = ss;
	return ss;
}

void
orc_saga_set_pop(struct orc_saga_set *set)
{
	/* pushed last, so never taken into the index */
	free(set->v[--set->n]);
}

void
orc_saga_set_remove(struct orc_saga_set *set, size_t i)
{
	stored_destroy(set->v[i]);
	memmove(&set->v[i], &set->v[i + 1],
		(set->n - i - 1) * sizeof(set->v[0]));
	set->n--;
	index_forget(set);
}

struct orc_stored_saga *
orc_saga_set_add_new(struct orc_saga_set *set, const struct orc_definition *def)
{
	struct orc_stored_saga *ss = orc_saga_set_push(set);

	if (ss == NULL)
		return NULL;
	if (orc_saga_init(&ss->saga, def) != ORC_OK) {
		orc_saga_set_pop(set);
		return NULL;
	}
	ss->is_new = true;
	return ss;
}

/* ---- quarantined sagas ---- */

const struct orc_quarantined_saga *
orc_saga_set_quarantined(const struct orc_saga_set *set, const char *id)
{
	for (size_t i = 0; i < set->n_quarantined; i++)
		if (strcmp(set->quarantined[i].id, id) == 0)
			return &set->quarantined[i];
	return NULL;
}

const struct orc_quarantined_saga *
orc_saga_set_quarantined_key(const struct orc_saga_set *set,
			     const char *def_name, const char *key)
{
	for (size_t i = 0; i < set->n_quarantined; i++) {
		const struct orc_quarantined_saga *q = &set->quarantined[i];

		if (strcmp(q->key, key) == 0 && strcmp(q->def_name, def_name) == 0)
			return q;
	}
	return NULL;
}

struct orc_quarantined_saga *
orc_saga_set_push_quarantined(struct orc_saga_set *set)
{
	if (set->n_quarantined == set->cap_quarantined) {
		size_t cap = set->cap_quarantined ? set->cap_quarantined * 2 : 4;
		struct orc_quarantined_saga *q =
			realloc(set->quarantined, cap * sizeof(*q));

		if (q == NULL)
			return NULL;
		set->quarantined = q;
		set->cap_quarantined = cap;
	}
	return &set->quarantined[set->n_quarantined++];
}
