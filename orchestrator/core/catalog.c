/*
 * catalog.c - definitions by name and version, and event routing by
 * linear scans over a short array.
 */
#include "catalog.h"

#include <stdlib.h>
#include <string.h>

struct orc_catalog {
	struct orc_definition **defs;
	size_t n;
	size_t cap;
};

struct orc_catalog *
orc_catalog_create(void)
{
	return calloc(1, sizeof(struct orc_catalog));
}

void
orc_catalog_destroy(struct orc_catalog *cat)
{
	if (cat == NULL)
		return;
	for (size_t i = 0; i < cat->n; i++)
		orc_definition_destroy(cat->defs[i]);
	free(cat->defs);
	free(cat);
}

enum orc_status
orc_catalog_add(struct orc_catalog *cat, struct orc_definition *def,
		struct orc_error *err)
{
	if (orc_catalog_get(cat, def->name, def->version) != NULL) {
		orc_error_set(err, ORC_CONFLICT, "definition %s version %d is already loaded",
			      def->name, def->version);
		orc_definition_destroy(def);
		return ORC_CONFLICT;
	}
	if (cat->n == cat->cap) {
		size_t cap = cat->cap ? cat->cap * 2 : 8;
		struct orc_definition **v = realloc(cat->defs, cap * sizeof(*v));

		if (v == NULL) {
			orc_definition_destroy(def);
			return orc_error_set(err, ORC_FATAL, "out of memory");
		}
		cat->defs = v;
		cat->cap = cap;
	}
	cat->defs[cat->n++] = def;
	return ORC_OK;
}

const struct orc_definition *
orc_catalog_get(const struct orc_catalog *cat, const char *name, int version)
{
	for (size_t i = 0; i < cat->n; i++)
		if (cat->defs[i]->version == version &&
		    strcmp(cat->defs[i]->name, name) == 0)
			return cat->defs[i];
	return NULL;
}

const struct orc_definition *
orc_catalog_latest(const struct orc_catalog *cat, const char *name)
{
	const struct orc_definition *best = NULL;

	for (size_t i = 0; i < cat->n; i++)
		if (strcmp(cat->defs[i]->name, name) == 0 &&
		    (best == NULL || cat->defs[i]->version > best->version))
			best = cat->defs[i];
	return best;
}

size_t
orc_catalog_count(const struct orc_catalog *cat)
{
	return cat->n;
}

const struct orc_definition *
orc_catalog_at(const struct orc_catalog *cat, size_t i)
{
	return i < cat->n ? cat->defs[i] : NULL;
}

size_t
orc_catalog_triggered_by(const struct orc_catalog *cat, const char *topic,
			 const char *type, const struct orc_definition **out,
			 size_t max)
{
	size_t found = 0;

	for (size_t i = 0; i < cat->n; i++) {
		const struct orc_definition *d = cat->defs[i];

		if (strcmp(d->trigger.type, type) != 0 ||
		    strcmp(d->trigger.topic, topic) != 0 ||
		    orc_catalog_latest(cat, d->name) != d)
			continue;
		if (found < max)
			out[found] = d;
		found++;
	}
	return found;
}

size_t
orc_catalog_waiting_for(const struct orc_catalog *cat, const char *topic,
			const char *type, struct orc_catalog_waiter *out,
			size_t max)
{
	size_t found = 0;

	for (size_t i = 0; i < cat->n; i++) {
		const struct orc_definition *d = cat->defs[i];

		for (size_t s = 0; s < d->n_steps; s++) {
			const struct orc_step_def *st = &d->steps[s];

			if (st->kind != ORC_STEP_WAIT ||
			    strcmp(st->wait.type, type) != 0 ||
			    strcmp(st->wait.topic, topic) != 0)
				continue;
			if (found < max) {
				out[found].def = d;
				out[found].step = st;
			}
			found++;
		}
	}
	return found;
}

static size_t
add_topic(const char **out, size_t n, size_t max, const char *topic)
{
	for (size_t i = 0; i < n && i < max; i++)
		if (strcmp(out[i], topic) == 0)
			return n;
	if (n < max)
		out[n] = topic;
	return n + 1;
}

size_t
orc_catalog_topics(const struct orc_catalog *cat, const char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < cat->n; i++) {
		const struct orc_definition *d = cat->defs[i];

		n = add_topic(out, n, max, d->trigger.topic);
		for (size_t s = 0; s < d->n_steps; s++)
			if (d->steps[s].kind == ORC_STEP_WAIT)
				n = add_topic(out, n, max, d->steps[s].wait.topic);
	}
	return n;
}

size_t
orc_catalog_all_topics(const struct orc_catalog *cat, const char **out,
		       size_t max)
{
	size_t n = orc_catalog_topics(cat, out, max);

	for (size_t i = 0; i < cat->n; i++) {
		const struct orc_definition *d = cat->defs[i];

		for (size_t s = 0; s < d->n_steps; s++) {
			const struct orc_step_def *st = &d->steps[s];

			if (st->kind != ORC_STEP_COMMAND)
				continue;
			n = add_topic(out, n, max, st->command.topic);
			if (st->has_compensation)
				n = add_topic(out, n, max,
					      st->compensation.command.topic);
		}
	}
	return n;
}
