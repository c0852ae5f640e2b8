/*
 * saga_set.c - the sagas of one transaction.
 */
#include "saga_set.h"

#include <stdlib.h>
#include <string.h>

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

void
orc_saga_set_reset(struct orc_saga_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		stored_destroy(set->v[i]);
	set->n = 0;
	set->n_quarantined = 0;
}

void
orc_saga_set_finish(struct orc_saga_set *set)
{
	orc_saga_set_reset(set);
	free(set->v);
	free(set->quarantined);
	memset(set, 0, sizeof(*set));
}

struct orc_stored_saga *
orc_saga_set_find(const struct orc_saga_set *set, const char *id)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i]->saga.id != NULL &&
		    strcmp(set->v[i]->saga.id, id) == 0)
			return set->v[i];
	return NULL;
}

struct orc_stored_saga *
orc_saga_set_find_key(const struct orc_saga_set *set, const char *def_name,
		      const char *key)
{
	/* Newest first: a saga started in this batch after one that ended. */
	for (size_t i = set->n; i-- > 0;) {
		const struct orc_saga *s = &set->v[i]->saga;

		if (s->key != NULL && strcmp(s->key, key) == 0 &&
		    strcmp(s->def->name, def_name) == 0)
			return set->v[i];
	}
	return NULL;
}

/* ---- entries ---- */

struct orc_stored_saga *
orc_saga_set_push(struct orc_saga_set *set)
{
	struct orc_stored_saga *ss;

	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		struct orc_stored_saga **v;

		v = realloc(set->v, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		set->v = v;
		set->cap = cap;
	}
	ss = calloc(1, sizeof(*ss));
	if (ss != NULL)
		set->v[set->n++] = ss;
	return ss;
}

void
orc_saga_set_pop(struct orc_saga_set *set)
{
	free(set->v[--set->n]);
}

void
orc_saga_set_remove(struct orc_saga_set *set, size_t i)
{
	stored_destroy(set->v[i]);
	memmove(&set->v[i], &set->v[i + 1],
		(set->n - i - 1) * sizeof(set->v[0]));
	set->n--;
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
