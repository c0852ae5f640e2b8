/*
 * catalog.h - the saga definitions a process knows, and how events find
 * them.
 *
 * A catalog owns immutable definitions, several versions per name.  New
 * sagas start on the latest version of their definition; running sagas
 * keep the version they started with, so every version stays.  The
 * routing questions the worker asks per event ("which definitions does
 * this trigger start?", "which definitions wait for this event type?")
 * are answered from small arrays: a process knows tens of definitions, not
 * thousands.
 *
 * Not thread-safe; one per thread, or built once and then only read.
 */
#ifndef ORC_CATALOG_H
#define ORC_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "definition.h"
#include "error.h"

struct orc_catalog;

/* New, empty; NULL when out of memory.  Free with orc_catalog_destroy(). */
struct orc_catalog *orc_catalog_create(void);

/* Free the catalog and every definition in it; accepts NULL. */
void orc_catalog_destroy(struct orc_catalog *cat);

/*
 * Add def (taken: the catalog frees it, also when this fails).
 * ORC_CONFLICT when the same name and version is already there.
 */
enum orc_status orc_catalog_add(struct orc_catalog *cat,
				struct orc_definition *def,
				struct orc_error *err);

/* The definition name@version, or NULL (borrowed from the catalog). */
const struct orc_definition *orc_catalog_get(const struct orc_catalog *cat,
					     const char *name, int version);

/* The highest version of name, or NULL (borrowed). */
const struct orc_definition *orc_catalog_latest(const struct orc_catalog *cat,
						const char *name);

size_t orc_catalog_count(const struct orc_catalog *cat);

/* The i-th definition in the order added (borrowed). */
const struct orc_definition *orc_catalog_at(const struct orc_catalog *cat,
					    size_t i);

/*
 * Latest versions whose trigger is (topic, type): up to max of them into
 * out (borrowed).  Returns how many match (may exceed max).
 */
size_t orc_catalog_triggered_by(const struct orc_catalog *cat,
				const char *topic, const char *type,
				const struct orc_definition **out, size_t max);

/*
 * Definitions (any version) with a wait step for (topic, type): up to max
 * (definition, step) pairs.  The saga is found by the business key at the
 * wait's key pointer.  Returns how many match.
 */
struct orc_catalog_waiter {
	const struct orc_definition *def;
	const struct orc_step_def *step;
};
size_t orc_catalog_waiting_for(const struct orc_catalog *cat,
			       const char *topic, const char *type,
			       struct orc_catalog_waiter *out, size_t max);

/*
 * Every topic that triggers a saga or that a wait step listens on, each
 * once, into out (borrowed strings).  Returns how many (may exceed max).
 */
size_t orc_catalog_topics(const struct orc_catalog *cat, const char **out,
			  size_t max);

/*
 * The same, plus every topic commands and compensations are published to:
 * all the topics the definitions name.
 */
size_t orc_catalog_all_topics(const struct orc_catalog *cat, const char **out,
			      size_t max);

#endif
