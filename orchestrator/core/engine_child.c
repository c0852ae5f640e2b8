/*
 * engine_child.c - saga steps: a child saga of another definition.
 *
 * A saga step starts its child with a CHILD effect (action start): the
 * caller starts a saga of the named definition in the same transaction,
 * under an id derived from the parent's id, the step and its attempt, so
 * that a replayed transaction starts the very same child and a step run
 * again (operator retry) a new one.  The step then waits for a CHILD
 * input, which the caller applies when the child ends: completed, the
 * step succeeds with the child's output; compensated, failed, cancelled
 * or timed out, the step fails.  A child's end that is not the current
 * child's (an earlier attempt's) changes nothing.
 *
 * The other way, the parent asks things of its child by CHILD effects
 * the caller delivers as inputs to the child: cancel when the parent
 * fails while the child runs (the child compensates itself and its end
 * fails the step), undo when the parent compensates a step whose child
 * completed (the child compensates its own steps, latest first, and
 * ends compensated: the step is compensated), terminate with the
 * parent.  The engine of the child sees UNDO; nothing in it knows it has
 * a parent: that link is the store's.
 */
#include "engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine_txn.h"
#include "expr.h"
#include "text.h"

void
orc_child_saga_id(const char *parent_id, const char *step, int attempt,
		  char out[37])
{
	char text[ORC_SAGA_ID_MAX + ORC_NAME_MAX + 32];
	unsigned char b[16];
	uint64_t h[2];

	snprintf(text, sizeof(text), "%s/%s/%d", parent_id, step, attempt);
	h[0] = orc_text_fnv1a(text, ORC_TEXT_FNV1A_BASIS);
	h[1] = orc_text_fnv1a(text, 0x84222325cbf29ce4ULL ^ h[0]);
	for (int k = 0; k < 8; k++) {
		b[k] = (unsigned char)(h[0] >> (56 - 8 * k));
		b[8 + k] = (unsigned char)(h[1] >> (56 - 8 * k));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x80); /* version 8 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* The CHILD effect for step i's current child; NULL when out of memory. */
static struct orc_effect *
child_effect(struct orc_txn *t, size_t i, enum orc_child_action action)
{
	struct orc_effect *e = orc_txn_push_effect(t, ORC_EFFECT_CHILD, i);

	if (e == NULL)
		return NULL;
	e->child_action = action;
	orc_child_saga_id(t->saga->id, t->def->steps[i].name,
			  t->saga->steps[i].attempt, e->message_id);
	return e;
}

/*
 * The child's business key: the rendered "key" (a string, or an integer
 * in decimal), else "<parent key>/<step>".  False when it renders to
 * something else or does not fit: why says so.
 */
static bool
child_key(struct orc_txn *t, size_t i, char key[ORC_SAGA_KEY_MAX],
	  char why[ORC_TXN_REFUSAL_MAX])
{
	const struct orc_step_def *sd = &t->def->steps[i];
	json_t *v;
	int n;

	if (sd->child.key == NULL) {
		/* a rerun's child must not collide with the first's key */
		if (t->saga->steps[i].attempt > 1)
			n = snprintf(key, ORC_SAGA_KEY_MAX, "%s/%s#%d",
				     t->saga->key, sd->name,
				     t->saga->steps[i].attempt);
		else
			n = snprintf(key, ORC_SAGA_KEY_MAX, "%s/%s",
				     t->saga->key, sd->name);
		if (n < 0 || n >= ORC_SAGA_KEY_MAX) {
			snprintf(why, ORC_TXN_REFUSAL_MAX,
				 "child key is over %d bytes",
				 ORC_SAGA_KEY_MAX - 1);
			return false;
		}
		return true;
	}
	v = orc_template_render(sd->child.key, t->saga->context);
	if (v == NULL) {
		orc_txn_oom(t);
		return false;
	}
	if (json_is_string(v) && json_string_length(v) > 0 &&
	    json_string_length(v) < ORC_SAGA_KEY_MAX &&
	    strlen(json_string_value(v)) == json_string_length(v)) {
		memcpy(key, json_string_value(v), json_string_length(v) + 1);
	} else if (json_is_integer(v)) {
		snprintf(key, ORC_SAGA_KEY_MAX, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
	} else {
		snprintf(why, ORC_TXN_REFUSAL_MAX,
			 "child key renders to no string of 1 to %d bytes",
			 ORC_SAGA_KEY_MAX - 1);
		json_decref(v);
		return false;
	}
	json_decref(v);
	return true;
}

void
orc_txn_child_start(struct orc_txn *t, size_t i)
{
	const struct orc_step_def *sd = &t->def->steps[i];
	struct orc_saga_step *st = &t->saga->steps[i];
	char key[ORC_SAGA_KEY_MAX], why[ORC_TXN_REFUSAL_MAX], child[37];
	struct orc_effect *e;
	json_t *data, *d;

	st->attempt++;
	st->changed = true;
	if (!child_key(t, i, key, why)) {
		if (orc_txn_ok(t))
			orc_txn_attempt_failed(t, i, why, false);
		return;
	}
	data = sd->child.data != NULL
		   ? orc_template_render(sd->child.data, t->saga->context)
		   : json_incref(json_object_get(t->saga->context, "input"));
	if (data == NULL)
		data = json_null();
	e = child_effect(t, i, ORC_CHILD_START);
	if (e == NULL) {
		json_decref(data);
		return;
	}
	e->child_definition = sd->child.definition;
	e->child_version = sd->child.version;
	e->data = json_pack("{s:s, s:o}", "key", key, "data", data);
	if (e->data == NULL) {
		orc_txn_oom(t);
		return;
	}
	/* the history entry may move the effects: copy the id first */
	memcpy(child, e->message_id, sizeof(child));
	d = orc_txn_history(t, "child.started", i);
	orc_txn_put_str(t, d, "child", child);
	orc_txn_put_str(t, d, "definition", sd->child.definition);
	if (sd->child.version > 0)
		orc_txn_put_int(t, d, "version", sd->child.version);
	orc_txn_put_str(t, d, "key", key);
	orc_txn_put_int(t, d, "attempt", st->attempt);
	orc_txn_timer_after(t, st, sd->timeout_ms, ORC_WAKE_TIMEOUT);
}

void
orc_txn_child_signal(struct orc_txn *t, size_t i, enum orc_child_action action)
{
	struct orc_effect *e = child_effect(t, i, action);
	char child[37];
	json_t *d;

	if (e == NULL)
		return;
	/* the history entry may move the effects: copy the id first */
	memcpy(child, e->message_id, sizeof(child));
	d = orc_txn_history(t,
			    action == ORC_CHILD_UNDO ? "compensation.started"
						     : "child.signalled",
			    i);
	orc_txn_put_str(t, d, "child", child);
	orc_txn_put_str(t, d, "action", orc_child_action_name(action));
}

void
orc_txn_child_ended(struct orc_txn *t)
{
	const struct orc_engine_input *in = t->in;
	ptrdiff_t idx = orc_definition_step_index(t->def, in->step);
	const char *child = json_string_value(json_object_get(in->data, "child"));
	const char *status =
	    json_string_value(json_object_get(in->data, "status"));
	const char *failure =
	    json_string_value(json_object_get(in->data, "failure"));
	json_t *output = json_object_get(in->data, "output");
	enum orc_saga_status ended;
	struct orc_saga_step *st;
	char want[37];
	json_t *d;
	size_t i;

	if (idx < 0 || t->def->steps[idx].kind != ORC_STEP_SAGA) {
		orc_txn_ignore(t, ORC_IGNORE_UNKNOWN_STEP, ORC_TXN_NO_STEP);
		return;
	}
	i = (size_t)idx;
	st = &t->saga->steps[i];
	orc_child_saga_id(t->saga->id, t->def->steps[i].name, st->attempt,
			  want);
	if (child == NULL || strcmp(child, want) != 0 ||
	    !orc_saga_status_parse(status, &ended)) {
		/* an earlier attempt's child, or not a child of this step */
		orc_txn_ignore(t, ORC_IGNORE_LATE, i);
		return;
	}
	d = orc_txn_history(t, "child.ended", i);
	orc_txn_put_str(t, d, "child", child);
	orc_txn_put_str(t, d, "status", status);
	orc_txn_put_str(t, d, "failure", failure);
	if (st->status == ORC_STEP_RUNNING && ended == ORC_SAGA_COMPLETED) {
		d = orc_txn_succeed_step(
		    t, i, output != NULL ? json_incref(output) : json_null());
		orc_txn_put_str(t, d, "child", child);
		orc_txn_advance(t);
		return;
	}
	if (st->status == ORC_STEP_RUNNING &&
	    orc_saga_status_is_final(ended) && ended != ORC_SAGA_STUCK) {
		/* compensated, failed, cancelled or timed out */
		char why[2 * ORC_TXN_REFUSAL_MAX];

		snprintf(why, sizeof(why), "child saga %s %s%s%.*s", child,
			 status, failure ? ": " : "", ORC_TXN_REFUSAL_MAX,
			 failure ? failure : "");
		orc_txn_attempt_failed(t, i, why, false);
		return;
	}
	if (st->status == ORC_STEP_COMPENSATING &&
	    (t->saga->status == ORC_SAGA_COMPENSATING ||
	     t->saga->status == ORC_SAGA_STUCK) &&
	    ended == ORC_SAGA_COMPLETED) {
		/*
		 * it was still running when the undo came (the step was
		 * skipped by an operator), which it refused: ask again
		 */
		orc_txn_child_signal(t, i, ORC_CHILD_UNDO);
		return;
	}
	if (st->status == ORC_STEP_COMPENSATING &&
	    (t->saga->status == ORC_SAGA_COMPENSATING ||
	     t->saga->status == ORC_SAGA_STUCK) &&
	    (ended == ORC_SAGA_COMPENSATED || ended == ORC_SAGA_FAILED ||
	     ended == ORC_SAGA_CANCELLED || ended == ORC_SAGA_TIMED_OUT)) {
		/*
		 * undone: by its compensations, or there was nothing to
		 * undo; a terminated parent awaits it no more
		 */
		orc_txn_compensation_succeeded(t, i);
		return;
	}
	/* stuck, or nothing awaits it: the history says so, no more */
}

void
orc_txn_child_undo(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	json_t *d;

	if (orc_saga_status_is_final(saga->status) &&
	    saga->status != ORC_SAGA_COMPLETED &&
	    saga->status != ORC_SAGA_STUCK) {
		/*
		 * Ended without completing: nothing of it stands to undo.
		 * Ignored, not refused: the caller tells the parent so
		 * (apply_child.c), which then counts the step undone.
		 */
		orc_txn_ignore(t, ORC_IGNORE_NOT_ALLOWED, ORC_TXN_NO_STEP);
		return;
	}
	if (saga->status != ORC_SAGA_COMPLETED) {
		/* not ended yet: its end will reach the parent anyway */
		orc_txn_refuse(t, ORC_TXN_NO_STEP,
			       "cannot undo saga %s: it is %s; undo takes a "
			       "completed saga",
			       saga->id, orc_saga_status_name(saga->status));
		return;
	}
	if (!orc_txn_saga_status(t, ORC_SAGA_COMPENSATING))
		return;
	saga->cause = ORC_CAUSE_UNDO;
	orc_txn_set_textf(t, &saga->failure_reason, "undone%s%s",
			  t->in->reason ? ": " : "",
			  t->in->reason ? t->in->reason : "");
	d = orc_txn_history(t, "saga.compensating", ORC_TXN_NO_STEP);
	orc_txn_put_str(t, d, "cause", orc_saga_cause_name(saga->cause));
	orc_txn_put_str(t, d, "reason", saga->failure_reason);
	orc_txn_put_str(t, d, "by", t->in->by);
	orc_txn_advance(t);
}
