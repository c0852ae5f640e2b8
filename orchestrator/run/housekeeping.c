/*
 * housekeeping.c - one batch per kind per turn, from a table of kinds.
 *
 * Each kind is a row of the table below: how to run one batch.  Adding a
 * kind (another table whose rows expire) is a constant in
 * ORC_HOUSEKEEPING_KINDS, a function here and a store call; the pacing,
 * the counters and the metrics follow from the table.
 */
#include "housekeeping.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_housekeeping.h"
#include "store_saga.h"

struct orc_housekeeping {
	struct orc_store *store;
	const struct orc_catalog *cat;
	int64_t retention_ms, inbox_ttl_ms, dead_letter_ms;
	const char *archive_topic; /* borrowed from the config; NULL: none */
	int batch;
	int64_t interval_ms;
	int64_t next_ms[ORC_HOUSEKEEPING_KIND_COUNT];
	struct orc_housekeeping_stats stats;
};

#define KIND_NAME(name, label) [name] = label,
static const char *const kind_names[] = {
	ORC_HOUSEKEEPING_KINDS(KIND_NAME)
};

const char *
orc_housekeeping_kind_name(enum orc_housekeeping_kind kind)
{
	return kind < ORC_HOUSEKEEPING_KIND_COUNT ? kind_names[kind] : "?";
}

/*
 * Finished sagas: the catalog's latest version of each name gives its
 * retention; names without one (or not in the catalog) get the setting.
 */
static enum orc_status
run_sagas(struct orc_housekeeping *hk, size_t *deleted, struct orc_error *err)
{
	size_t n_defs = orc_catalog_count(hk->cat), n = 0, archived = 0;
	const char **names = calloc(n_defs + 1, sizeof(*names));
	int64_t *ms = calloc(n_defs + 1, sizeof(*ms));
	struct orc_housekeeping_sagas q;
	enum orc_status st;

	if (names == NULL || ms == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n_defs; i++) {
		const struct orc_definition *d = orc_catalog_at(hk->cat, i);

		if (d->retention_ms == 0 ||
		    orc_catalog_latest(hk->cat, d->name) != d)
			continue;
		names[n] = d->name;
		ms[n++] = d->retention_ms;
	}
	q = (struct orc_housekeeping_sagas){
		.names = names, .retention_ms = ms, .n = n,
		.default_ms = hk->retention_ms,
		.archive_topic = hk->archive_topic, .limit = hk->batch};
	st = orc_store_housekeeping_sagas(hk->store, &q, deleted, &archived,
					  err);
	hk->stats.archived += archived;
done:
	free(names);
	free(ms);
	return st;
}

static enum orc_status
run_inbox(struct orc_housekeeping *hk, size_t *deleted, struct orc_error *err)
{
	return orc_store_housekeeping_inbox(hk->store, hk->inbox_ttl_ms,
					    hk->batch, deleted, err);
}

static enum orc_status
run_dead_letters(struct orc_housekeeping *hk, size_t *deleted,
		 struct orc_error *err)
{
	return orc_store_housekeeping_dead_letters(hk->store, hk->dead_letter_ms,
						   hk->batch, deleted, err);
}

/* Parked events past their time to live, to the dead letters. */
static enum orc_status
run_parked(struct orc_housekeeping *hk, size_t *deleted, struct orc_error *err)
{
	int64_t moved = 0;
	enum orc_status st = orc_store_expire_parked(hk->store, hk->batch,
						     &moved, err);

	*deleted = (size_t)moved;
	return st;
}

static enum orc_status (*const runs[ORC_HOUSEKEEPING_KIND_COUNT])(
	struct orc_housekeeping *, size_t *, struct orc_error *) = {
	[ORC_HOUSEKEEPING_SAGAS] = run_sagas,
	[ORC_HOUSEKEEPING_INBOX] = run_inbox,
	[ORC_HOUSEKEEPING_DEAD_LETTERS] = run_dead_letters,
	[ORC_HOUSEKEEPING_PARKED] = run_parked,
};

enum orc_status
orc_housekeeping_create(const struct orc_config *cfg, struct orc_store *store,
			const struct orc_catalog *cat,
			struct orc_housekeeping **out, struct orc_error *err)
{
	struct orc_housekeeping *hk = calloc(1, sizeof(*hk));
	const char *topic = orc_config_str(cfg, ORC_CFG_ARCHIVE_TOPIC);

	*out = NULL;
	if (hk == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	hk->store = store;
	hk->cat = cat;
	hk->retention_ms = orc_config_duration_ms(cfg, ORC_CFG_RETENTION);
	hk->inbox_ttl_ms = orc_config_duration_ms(cfg, ORC_CFG_INBOX_TTL);
	hk->dead_letter_ms =
		orc_config_duration_ms(cfg, ORC_CFG_DEAD_LETTER_RETENTION);
	hk->archive_topic = topic != NULL && topic[0] != '\0' ? topic : NULL;
	hk->batch = (int)orc_config_int(cfg, ORC_CFG_HOUSEKEEPING_BATCH);
	hk->interval_ms = orc_config_int(cfg, ORC_CFG_HOUSEKEEPING_INTERVAL_MS);
	*out = hk;
	return ORC_OK;
}

void
orc_housekeeping_destroy(struct orc_housekeeping *hk)
{
	free(hk);
}

bool
orc_housekeeping_wants_turn(const struct orc_housekeeping *hk, int64_t now_ms)
{
	for (int k = 0; k < ORC_HOUSEKEEPING_KIND_COUNT; k++)
		if (now_ms >= hk->next_ms[k])
			return true;
	return false;
}

enum orc_status
orc_housekeeping_turn(struct orc_housekeeping *hk, int64_t now_ms,
		      size_t *deleted, struct orc_error *err)
{
	*deleted = 0;
	for (int k = 0; k < ORC_HOUSEKEEPING_KIND_COUNT; k++) {
		size_t n = 0;
		enum orc_status st;

		if (now_ms < hk->next_ms[k])
			continue;
		st = runs[k](hk, &n, err);
		if (st != ORC_OK)
			return st;
		hk->stats.deleted[k] += n;
		*deleted += n;
		hk->next_ms[k] = n >= (size_t)hk->batch ? now_ms
							: now_ms + hk->interval_ms;
		if (n > 0)
			orc_log(ORC_LOG_DEBUG, "housekept",
				ORC_LOG_STR("kind", kind_names[k]),
				ORC_LOG_UINT("deleted", n));
	}
	return ORC_OK;
}

const struct orc_housekeeping_stats *
orc_housekeeping_get_stats(const struct orc_housekeeping *hk)
{
	return &hk->stats;
}
