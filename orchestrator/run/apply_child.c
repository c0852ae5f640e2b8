/*
 * apply_child.c - child sagas in the transaction that decides on them.
 *
 * After the engine ran on a saga, orc_apply_children() does what its
 * CHILD effects ask (engine.h) and tells a parent when this saga, a
 * child, ended:
 *   - start: the child saga starts here, in the parent's transaction,
 *     under the id the engine derived, as a trigger would start it (its
 *     commands go to the same outbox).  When it cannot (no such
 *     definition, its business key held by another saga, nested deeper
 *     than ORC_APPLY_CHILD_DEPTH), the parent's step is told at once
 *     that its child failed, with the reason;
 *   - cancel, undo, terminate: a request row for the child, applied once
 *     by the requests pump (requests.c), like an operator's;
 *   - the end of a child (any final status but stuck): a child_ended
 *     request for its parent, with the child's status, output and
 *     failure.
 * Requests go through the table, not straight to the other saga, so that
 * a transaction locks no saga it did not lock at its start (two workers
 * locking parent and child in opposite orders would deadlock) and every
 * signal is durable with the change that caused it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_internal.h"

/* How deep children may nest: a definition that starts itself stops. */
#define ORC_APPLY_CHILD_DEPTH 8

/* One CHILD effect, copied out of the effect list the next apply reuses. */
struct child_job {
	enum orc_child_action action;
	char id[37];
	size_t step;
	const char *definition; /* borrowed from the parent's definition */
	int version;
	json_t *data; /* owned: {"key", "data"} for start */
};

/* The parent's step is told its child did not start, for why. */
static enum orc_status
child_failed(struct orc_apply *ap, struct orc_stored_saga *parent,
	     const struct child_job *job, const char *why, const char *event_id,
	     int64_t now_ms, struct orc_error *err)
{
	json_t *data = json_pack("{s:s, s:s, s:s, s:n}", "child", job->id,
				 "status", "failed", "failure", why, "output");
	struct orc_engine_input in = {
		.kind = ORC_INPUT_CHILD,
		.step = parent->saga.def->steps[job->step].name,
		.data = data,
		.event_id = event_id,
	};
	enum orc_status st;

	if (data == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	st = orc_apply_run_engine_from(ap, parent, &in, event_id, NULL, now_ms,
				       err);
	json_decref(data);
	return st;
}

/* Start job's child of parent; a reason in why when it cannot start. */
static enum orc_status
start_child(struct orc_apply *ap, struct orc_stored_saga *parent,
	    const struct child_job *job, const char *event_id,
	    const char *traceparent, int64_t now_ms, char *why, size_t len,
	    struct orc_error *err)
{
	const char *key = json_string_value(json_object_get(job->data, "key"));
	const struct orc_definition *def =
		job->version > 0
			? orc_catalog_get(ap->cat, job->definition, job->version)
			: orc_catalog_latest(ap->cat, job->definition);
	const char *names[1] = {job->definition}, *keys[1] = {key};
	struct orc_engine_input in = {.kind = ORC_INPUT_START};
	struct orc_stored_saga *ss;
	enum orc_status st;

	why[0] = '\0';
	if (def == NULL) {
		snprintf(why, len, "no definition %s%s%.0d is loaded",
			 job->definition, job->version > 0 ? " version " : "",
			 job->version);
		return ORC_OK;
	}
	if (ap->child_depth >= ORC_APPLY_CHILD_DEPTH) {
		snprintf(why, len, "children nested deeper than %d",
			 ORC_APPLY_CHILD_DEPTH);
		return ORC_OK;
	}
	if (orc_saga_set_find(&ap->set, job->id) != NULL)
		return ORC_OK; /* started already, earlier in the batch */
	st = orc_store_lock_sagas(ap->store, ap->cat, NULL, 0, names, keys, 1,
				  &ap->set, err);
	if (st != ORC_OK)
		return st;
	if (orc_saga_set_quarantined_key(&ap->set, def->name, key) != NULL) {
		snprintf(why, len, "business key %s of %s belongs to a "
				   "quarantined saga",
			 key, def->name);
		return ORC_OK;
	}
	ss = orc_saga_set_find_key(&ap->set, def->name, key);
	if (ss != NULL &&
	    !orc_key_reuse_allows(def->trigger.key_reuse, ss->saga.status)) {
		snprintf(why, len, "business key %s of %s is held by saga %s (%s)",
			 key, def->name, ss->saga.id,
			 orc_saga_status_name(ss->saga.status));
		return ORC_OK;
	}
	ss = orc_saga_set_add_new(&ap->set, def);
	if (ss == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	snprintf(ss->parent_id, sizeof(ss->parent_id), "%s", parent->saga.id);
	snprintf(ss->parent_step, sizeof(ss->parent_step), "%s",
		 parent->saga.def->steps[job->step].name);
	in.saga_id = job->id;
	in.key = key;
	in.data = json_object_get(job->data, "data");
	in.event_id = event_id;
	ap->child_depth++;
	st = orc_apply_run_engine_from(ap, ss, &in, event_id, traceparent,
				       now_ms, err);
	ap->child_depth--;
	if (st == ORC_INVALID) {
		/* its trigger data or key the engine refuses: the step's fault */
		snprintf(why, len, "%s", err->message);
		return ORC_OK;
	}
	return st;
}

/* A request for job's child: cancel, undo or terminate. */
static enum orc_status
signal_child(struct orc_apply *ap, const struct orc_stored_saga *parent,
	     const struct child_job *job, struct orc_error *err)
{
	char reason[ORC_SAGA_ID_MAX + ORC_NAME_MAX + 64];

	snprintf(reason, sizeof(reason), "parent saga %s (step %s) %s",
		 parent->saga.id, parent->saga.def->steps[job->step].name,
		 job->action == ORC_CHILD_UNDO ? "compensates" : "ends");
	return orc_store_request_insert(ap->store,
					orc_child_action_name(job->action),
					job->id, NULL, NULL, reason, err);
}

/* ss, a child, ended with status: its parent's step is told. */
static enum orc_status
tell_parent(struct orc_apply *ap, const struct orc_stored_saga *ss,
	    enum orc_saga_status status, struct orc_error *err)
{
	const struct orc_saga *saga = &ss->saga;
	json_t *data = json_pack(
		"{s:s, s:s, s:O, s:o}", "child", saga->id, "status",
		orc_saga_status_name(status), "output",
		saga->output != NULL ? saga->output : json_null(), "failure",
		saga->failure_reason != NULL
			? json_string(saga->failure_reason)
			: json_null());
	char *text = data != NULL ? json_dumps(data, JSON_COMPACT) : NULL;
	enum orc_status st;

	json_decref(data);
	if (text == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	st = orc_store_request_insert(ap->store, "child_ended", ss->parent_id,
				      ss->parent_step, text,
				      "child saga ended", err);
	free(text);
	return st;
}

enum orc_status
orc_apply_children(struct orc_apply *ap, struct orc_stored_saga *ss,
		   const struct orc_engine_input *in, const char *event_id,
		   const char *traceparent, int64_t now_ms,
		   struct orc_error *err)
{
	struct child_job *jobs = NULL;
	size_t n = 0, cap = 0;
	enum orc_status st = ORC_OK;
	char why[ORC_ERROR_MSG_MAX];

	/*
	 * An undo asked of a child that had ended without completing: the
	 * engine ignored it, and the parent learns how it ended instead.
	 */
	if (in->kind == ORC_INPUT_UNDO && ap->fx.result == ORC_RESULT_IGNORED &&
	    ss->parent_id[0] != '\0')
		return tell_parent(ap, ss, ss->saga.status, err);

	for (size_t i = 0; i < ap->fx.n && st == ORC_OK; i++) {
		const struct orc_effect *e = &ap->fx.v[i];

		if (e->kind == ORC_EFFECT_SAGA_EVENT &&
		    ss->parent_id[0] != '\0' &&
		    orc_saga_status_is_final(e->saga_status) &&
		    e->saga_status != ORC_SAGA_STUCK) {
			st = tell_parent(ap, ss, e->saga_status, err);
			continue;
		}
		if (e->kind != ORC_EFFECT_CHILD)
			continue;
		if (n == cap) {
			struct child_job *v;

			cap = cap ? cap * 2 : 4;
			v = realloc(jobs, cap * sizeof(*v));
			if (v == NULL) {
				st = orc_error_set(err, ORC_FATAL,
						   "out of memory");
				break;
			}
			jobs = v;
		}
		jobs[n] = (struct child_job){
			.action = e->child_action,
			.step = e->step,
			.definition = e->child_definition,
			.version = e->child_version,
			.data = e->data != NULL ? json_incref(e->data) : NULL,
		};
		snprintf(jobs[n].id, sizeof(jobs[n].id), "%.36s", e->message_id);
		n++;
	}
	/* ap->fx is the next engine call's from here on */
	for (size_t k = 0; k < n && st == ORC_OK; k++) {
		if (jobs[k].action != ORC_CHILD_START) {
			st = signal_child(ap, ss, &jobs[k], err);
			continue;
		}
		st = start_child(ap, ss, &jobs[k], event_id, traceparent,
				 now_ms, why, sizeof(why), err);
		if (st == ORC_OK && why[0] != '\0')
			st = child_failed(ap, ss, &jobs[k], why, event_id,
					  now_ms, err);
	}
	for (size_t k = 0; k < n; k++)
		json_decref(jobs[k].data);
	free(jobs);
	return st;
}
