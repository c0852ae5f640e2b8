/*
 * apply_operator.c - what a person does to sagas, through the engine:
 * start one (orc_apply_start), act on one (orc_apply_operator: pause,
 * skip, patch, retry, resolve, cancel ...), move one to another version
 * of its definition (orc_apply_migrate).
 *
 * Each is a transaction of its own over the same steps as a batch of
 * events (apply_internal.h): lock the saga, run the engine, write back
 * and commit.  A saga found quarantined is refused, the quarantine kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_internal.h"
#include "store_admin.h"
#include "text.h"

/*
 * An operator command found its saga quarantined: commit the quarantine
 * (the lock may just have found the row unreadable) and refuse.
 */
static enum orc_status
quarantined_saga(struct orc_apply *ap, struct orc_error *err)
{
	const struct orc_quarantined_saga *q = &ap->set.quarantined[0];
	enum orc_status st = orc_store_commit(ap->store, err);

	if (st != ORC_OK) {
		orc_store_rollback(ap->store);
		return st;
	}
	orc_error_set(err, ORC_CONFLICT, "saga %s is quarantined: %s", q->id,
		      q->reason);
	orc_error_hint(err,
		       "Fix its row, then `orchestrator quarantine "
		       "release %s`.",
		       q->id);
	return ORC_CONFLICT;
}

enum orc_status
orc_apply_start(struct orc_apply *ap, const char *name, const char *key,
		json_t *input, int64_t now_ms, char *saga_id,
		struct orc_error *err)
{
	const struct orc_definition *def = orc_catalog_latest(ap->cat, name);
	struct orc_engine_input in = {.kind = ORC_INPUT_START, .data = input};
	struct orc_stored_saga *ss;
	char keybuf[ORC_SAGA_KEY_MAX];
	const char *names[1] = {name}, *keys[1] = {keybuf};
	enum orc_status st;

	saga_id[0] = '\0';
	if (def == NULL)
		return orc_error_set(err, ORC_NOT_FOUND,
				     "no definition named \"%s\" is loaded",
				     name);
	if (key != NULL)
		snprintf(keybuf, sizeof(keybuf), "%s", key);
	else if (!orc_business_key(input, def->trigger.key, keybuf,
				   sizeof(keybuf)))
		return orc_error_set(
		    err, ORC_INVALID,
		    "business key not found at \"%s\" in the input",
		    def->trigger.key);
	orc_apply_begin_batch(ap);
	st = orc_store_begin(ap->store, err);
	if (st == ORC_OK)
		st = orc_store_lock_sagas(ap->store, ap->cat, NULL, 0, names,
					  keys, 1, &ap->set, err);
	if (st != ORC_OK)
		goto fail;
	if (ap->set.n_quarantined > 0) {
		snprintf(saga_id, 40, "%.36s", ap->set.quarantined[0].id);
		return quarantined_saga(ap, err);
	}
	if (ap->set.n > 0 && !orc_key_reuse_allows(def->trigger.key_reuse,
						   ap->set.v[0]->saga.status)) {
		const struct orc_saga *last = &ap->set.v[0]->saga;

		snprintf(saga_id, 40, "%s", last->id);
		st = orc_error_set(
		    err, ORC_CONFLICT,
		    "a saga of %s with business key %s exists already", name,
		    keybuf);
		orc_error_detail(err,
				 "Its status is %s; the trigger's key_reuse "
				 "is %s.",
				 orc_saga_status_name(last->status),
				 orc_key_reuse_name(def->trigger.key_reuse));
		goto fail;
	}
	st = orc_apply_new_uuid(ap, saga_id, err);
	if (st == ORC_OK && orc_apply_has_waits(def))
		st = orc_store_lock_parked(ap->store, names, keys, 1,
					   &ap->parked, err);
	if (st != ORC_OK)
		goto fail;
	ss = orc_saga_set_add_new(&ap->set, def);
	if (ss == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto fail;
	}
	in.saga_id = saga_id;
	in.key = keybuf;
	if (ap->trigger != NULL) { /* a held trigger (requests.c) */
		in.event_id = ap->trigger->event_id;
		in.type = ap->trigger->type;
	}
	st = orc_apply_run_engine(ap, ss, &in, NULL, now_ms, err);
	if (st == ORC_OK)
		st = orc_apply_deliver_early(ap, NULL, 0, ss, now_ms, err);
	if (st == ORC_OK)
		st = orc_store_drop_parked(ap->store, &ap->parked, err);
	if (st == ORC_OK)
		return orc_apply_commit_writes(ap, err);
fail:
	orc_store_rollback(ap->store);
	return st;
}

/*
 * Begin the transaction of an operator action on saga id and lock the
 * saga: ORC_OK with *out, and the action's id in action_id (size 40:
 * given, or a new "op-<uuid>").  Otherwise the transaction is over
 * (rolled back, or committed with a quarantine the lock found) and err
 * says why: ORC_INVALID, ORC_NOT_FOUND, ORC_CONFLICT (quarantined).
 */
static enum orc_status
lock_for_action(struct orc_apply *ap, const char *id, const char *given,
		char *action_id, struct orc_stored_saga **out,
		struct orc_error *err)
{
	const char *ids[1] = {id};
	enum orc_status st;

	*out = NULL;
	if (!orc_text_uuid_valid(id))
		return orc_error_set(err, ORC_INVALID,
				     "\"%s\" is not a saga id (a UUID)", id);
	if (given != NULL) {
		snprintf(action_id, 40, "%s", given);
	} else {
		char uuid[37];

		st = orc_apply_new_uuid(ap, uuid, err);
		if (st != ORC_OK)
			return st;
		snprintf(action_id, 40, "op-%.36s", uuid);
	}
	orc_apply_begin_batch(ap);
	st = orc_store_begin(ap->store, err);
	if (st == ORC_OK)
		st = orc_store_lock_sagas(ap->store, ap->cat, ids, 1, NULL,
					  NULL, 0, &ap->set, err);
	if (st == ORC_OK && ap->set.n_quarantined > 0)
		return quarantined_saga(ap, err);
	if (st == ORC_OK && ap->set.n == 0)
		st =
		    orc_error_set(err, ORC_NOT_FOUND, "no saga with id %s", id);
	if (st != ORC_OK) {
		orc_store_rollback(ap->store);
		return st;
	}
	*out = ap->set.v[0];
	return ORC_OK;
}

enum orc_status
orc_apply_operator(struct orc_apply *ap, const struct orc_operator_action *act,
		   const char *id, int64_t now_ms, char *action_id_out,
		   struct orc_error *err)
{
	struct orc_engine_input in = {
	    .kind = act->kind,
	    .step = act->step,
	    .data = act->data,
	    .reason = act->reason,
	    .by = act->by,
	};
	struct orc_stored_saga *ss;
	char action_id[40];
	enum orc_status st;

	st = lock_for_action(ap, id, act->action_id, action_id, &ss, err);
	if (st != ORC_OK)
		return st;
	if (action_id_out != NULL)
		snprintf(action_id_out, 40, "%s", action_id);
	in.event_id = action_id;
	if (act->where != NULL) {
		bool matches;

		st = orc_store_admin_saga_matches(ap->store, id, act->where,
						  &matches, err);
		if (st == ORC_OK && !matches)
			st = orc_error_set(err, ORC_NOT_FOUND,
					   "saga %s no longer matches the "
					   "predicate",
					   id);
		if (st != ORC_OK)
			goto fail;
	}
	st = orc_apply_run_engine_from(ap, ss, &in, action_id, NULL, now_ms,
				       err);
	if (st == ORC_OK)
		return orc_apply_commit_writes(ap, err);
fail:
	orc_store_rollback(ap->store);
	return st;
}

/* Delete the rows of steps the saga no longer has (it changed version). */
static enum orc_status
prune_steps(struct orc_apply *ap, const struct orc_saga *saga,
	    struct orc_error *err)
{
	const char **names = calloc(saga->n_steps + 1, sizeof(*names));
	enum orc_status st;

	if (names == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	for (size_t i = 0; i < saga->n_steps; i++)
		names[i] = saga->def->steps[i].name;
	st = orc_store_prune_steps(ap->store, saga->id, names, saga->n_steps,
				   err);
	free(names);
	return st;
}

enum orc_status
orc_apply_migrate(struct orc_apply *ap, const struct orc_migration_request *m,
		  const char *id, int64_t now_ms, struct orc_error *err)
{
	struct orc_engine_input in = {
	    .kind = ORC_INPUT_MIGRATE,
	    .to_def = m->to,
	    .map_from = m->map_from,
	    .map_to = m->map_to,
	    .n_map = m->n_map,
	    .reason = m->reason,
	    .by = m->by,
	};
	struct orc_stored_saga *ss;
	char action_id[40];
	enum orc_status st;

	st = lock_for_action(ap, id, NULL, action_id, &ss, err);
	if (st != ORC_OK)
		return st;
	in.event_id = action_id;
	if (strcmp(ss->saga.def->name, m->to->name) != 0 ||
	    ss->saga.def->version != m->from_version) {
		st =
		    orc_error_set(err, ORC_CONFLICT,
				  "saga %s is a saga of %s version %d now, not "
				  "of %s version %d",
				  id, ss->saga.def->name, ss->saga.def->version,
				  m->to->name, m->from_version);
		goto fail;
	}
	st = orc_apply_run_engine_from(ap, ss, &in, action_id, NULL, now_ms,
				       err);
	if (st != ORC_OK || m->dry_run)
		goto fail; /* a dry run: the engine said yes, keep nothing */
	st = prune_steps(ap, &ss->saga, err);
	if (st == ORC_OK)
		return orc_apply_commit_writes(ap, err);
fail:
	orc_store_rollback(ap->store);
	return st;
}

/* ---- the same, with the caller's writes in the transaction ---- */

enum orc_status
orc_apply_operator_hooked(struct orc_apply *ap,
			  const struct orc_operator_action *act, const char *id,
			  int64_t now_ms, const struct orc_apply_hook *hook,
			  char *action_id_out, struct orc_error *err)
{
	enum orc_status st;

	ap->hook = hook;
	st = orc_apply_operator(ap, act, id, now_ms, action_id_out, err);
	ap->hook = NULL;
	return st;
}

enum orc_status
orc_apply_start_hooked(struct orc_apply *ap, const char *name, const char *key,
		       json_t *input, const struct orc_apply_trigger *trigger,
		       int64_t now_ms, const struct orc_apply_hook *hook,
		       char *saga_id, struct orc_error *err)
{
	enum orc_status st;

	ap->hook = hook;
	ap->trigger = trigger;
	st = orc_apply_start(ap, name, key, input, now_ms, saga_id, err);
	ap->hook = NULL;
	ap->trigger = NULL;
	return st;
}
