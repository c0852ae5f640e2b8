/*
 * engine_migrate.c - move a saga to another version of its definition.
 *
 * Our state is one row per step, not a replayed history, so a saga can
 * move to a new version whenever its state maps cleanly, not only while
 * it waits.  The check is per saga, against its steps:
 *
 *   - every step that has run (any status but pending, or an early event
 *     kept) must exist in the new version, under its name or the name the
 *     map gives it, with the same kind, and no two may land on one step;
 *   - a running step must keep its name and its command type (the reply
 *     in flight names the step and answers that command), a wait its
 *     event type; a compensating step its compensation's command type;
 *   - steps that never ran may go; steps new in the version are pending.
 *
 * When it maps, the step states move to their new places, a renamed
 * step's data moves with it in the context, the saga borrows the new
 * definition from then on, and an "operator.migrate" history entry says
 * from which version to which, with the map, who and why.  Then the saga
 * advances as after any change: a new step whose needs are done starts.
 * When it does not map, nothing changes and the refusal lists why.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_txn.h"

#define NO_STEP ORC_TXN_NO_STEP

/* Appends to a fixed buffer, "; " between problems, truncating quietly. */
struct problems {
	char text[ORC_ERROR_MSG_MAX - 128];
	size_t len;
	int n;
};

static void add(struct problems *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
add(struct problems *p, const char *fmt, ...)
{
	va_list ap;
	int w;

	p->n++;
	if (p->len + 3 >= sizeof(p->text))
		return;
	if (p->len > 0) {
		memcpy(p->text + p->len, "; ", 3);
		p->len += 2;
	}
	va_start(ap, fmt);
	w = vsnprintf(p->text + p->len, sizeof(p->text) - p->len, fmt, ap);
	va_end(ap);
	if (w > 0)
		p->len += (size_t)w;
	if (p->len >= sizeof(p->text))
		p->len = sizeof(p->text) - 1;
}

/* The name old step i has in the new version (mapped, or its own). */
static const char *
new_name(const struct orc_txn *t, size_t i)
{
	const char *name = t->def->steps[i].name;

	for (size_t k = 0; k < t->in->n_map; k++)
		if (strcmp(t->in->map_from[k], name) == 0)
			return t->in->map_to[k];
	return name;
}

/* The command type a step in state st awaits a reply for, or NULL. */
static const char *
awaited_type(const struct orc_step_def *sd, enum orc_step_status st)
{
	if (st == ORC_STEP_RUNNING && sd->kind == ORC_STEP_COMMAND)
		return sd->command.type;
	if (st == ORC_STEP_RUNNING && sd->kind == ORC_STEP_WAIT)
		return sd->wait.type;
	if (st == ORC_STEP_COMPENSATING && sd->has_compensation)
		return sd->compensation.command.type;
	return NULL;
}

/* Does the map name steps of the two versions?  Refuses if not. */
static bool
map_valid(struct orc_txn *t, const struct orc_definition *to)
{
	for (size_t k = 0; k < t->in->n_map; k++) {
		if (orc_definition_step_index(t->def, t->in->map_from[k]) < 0) {
			orc_txn_refuse(t, NO_STEP,
				       "cannot migrate: version %d of %s has no "
				       "step \"%s\" to map",
				       t->def->version, t->def->name,
				       t->in->map_from[k]);
			return false;
		}
		if (orc_definition_step_index(to, t->in->map_to[k]) < 0) {
			orc_txn_refuse(t, NO_STEP,
				       "cannot migrate: version %d of %s has no "
				       "step \"%s\" to map %s to",
				       to->version, to->name, t->in->map_to[k],
				       t->in->map_from[k]);
			return false;
		}
	}
	return true;
}

/*
 * Where each old step goes (target[i]: an index of to, or -1 when it is
 * dropped); the problems that forbid the move in *p.
 */
static void
plan(struct orc_txn *t, const struct orc_definition *to, ptrdiff_t *target,
     size_t *owner, struct problems *p)
{
	const struct orc_saga *saga = t->saga;

	for (size_t j = 0; j < to->n_steps; j++)
		owner[j] = NO_STEP;
	for (size_t i = 0; i < saga->n_steps; i++) {
		const struct orc_step_def *od = &t->def->steps[i];
		const struct orc_saga_step *st = &saga->steps[i];
		const char *name = new_name(t, i), *was, *now;
		bool ran = st->status != ORC_STEP_PENDING ||
			   st->early_event != NULL;
		const struct orc_step_def *nd;

		target[i] = orc_definition_step_index(to, name);
		if (target[i] < 0) {
			if (ran)
				add(p,
				    "step %s has run (%s) and version %d has no "
				    "step %s (map it: --map %s=STEP)",
				    od->name, orc_step_status_name(st->status),
				    to->version, name, od->name);
			continue;
		}
		nd = &to->steps[target[i]];
		if (owner[target[i]] != NO_STEP) {
			add(p, "steps %s and %s both become %s",
			    t->def->steps[owner[target[i]]].name, od->name,
			    nd->name);
			continue;
		}
		owner[target[i]] = i;
		if (!ran)
			continue;
		if (nd->kind != od->kind) {
			add(p, "step %s has run as a %s step and %s is a %s "
			       "step",
			    od->name, orc_step_kind_name(od->kind), nd->name,
			    orc_step_kind_name(nd->kind));
			continue;
		}
		if (od->has_map != nd->has_map) {
			add(p, "step %s has run %s and %s is %s", od->name,
			    od->has_map ? "as a map" : "without a map",
			    nd->name, nd->has_map ? "a map" : "not a map");
			continue;
		}
		if (od->kind == ORC_STEP_SAGA &&
		    (st->status == ORC_STEP_RUNNING ||
		     st->status == ORC_STEP_COMPENSATING) &&
		    strcmp(od->name, nd->name) != 0) {
			add(p, "saga step %s awaits its child, whose id and "
			       "reply name it: it cannot become %s now",
			    od->name, nd->name);
			continue;
		}
		if (st->map != NULL && strcmp(od->name, nd->name) != 0) {
			add(p, "map step %s has started: its items are stored "
			       "under its name, it cannot become %s",
			    od->name, nd->name);
			continue;
		}
		was = awaited_type(od, st->status);
		now = awaited_type(nd, st->status);
		if (was != NULL && strcmp(od->name, nd->name) != 0) {
			add(p, "step %s is %s and the reply it awaits names it: "
			       "it cannot become %s now",
			    od->name, orc_step_status_name(st->status),
			    nd->name);
			continue;
		}
		if (was != NULL && (now == NULL || strcmp(was, now) != 0))
			add(p, "step %s is %s awaiting a reply to %s, and %s "
			       "would send %s",
			    od->name, orc_step_status_name(st->status), was,
			    nd->name, now ? now : "nothing");
	}
}

/* Move the step states and the context to their places in to. */
static void
move(struct orc_txn *t, const struct orc_definition *to,
     const ptrdiff_t *target, struct orc_saga_step *steps)
{
	struct orc_saga *saga = t->saga;
	json_t *outputs = json_object_get(saga->context, "steps");
	json_t *moved = json_object();
	json_t *meta = json_object_get(saga->context, "saga");

	if (moved == NULL) {
		orc_txn_oom(t);
		return;
	}
	for (size_t i = 0; i < saga->n_steps; i++) {
		struct orc_saga_step *st = &saga->steps[i];
		json_t *out = json_object_get(outputs, t->def->steps[i].name);

		if (target[i] < 0) {
			/* a step that never ran: nothing of it is kept */
			free(st->last_error);
			json_decref(st->early_event);
			json_decref(st->replies);
			continue;
		}
		steps[target[i]] = *st;
		if (st->status != ORC_STEP_PENDING || st->early_event != NULL)
			steps[target[i]].changed = true;
		if (out != NULL &&
		    json_object_set(moved, to->steps[target[i]].name, out) != 0)
			orc_txn_oom(t);
	}
	free(saga->steps);
	saga->steps = steps;
	saga->n_steps = to->n_steps;
	saga->def = to;
	t->def = to;
	if (json_object_set_new_nocheck(saga->context, "steps", moved) != 0 ||
	    (meta != NULL &&
	     json_object_set_new_nocheck(meta, "version",
					 json_integer(to->version)) != 0))
		orc_txn_oom(t);
}

void
orc_txn_migrate(struct orc_txn *t)
{
	struct orc_saga *saga = t->saga;
	const struct orc_definition *to = t->in->to_def;
	struct problems p = {.len = 0};
	struct orc_saga_step *steps = NULL;
	ptrdiff_t *target = NULL;
	size_t *owner = NULL;
	int from_version = t->def->version;
	json_t *d, *map;

	if (orc_saga_status_is_final(saga->status) &&
	    saga->status != ORC_SAGA_STUCK && saga->status != ORC_SAGA_FAILED) {
		orc_txn_refuse(t, NO_STEP,
			       "cannot migrate saga %s: it is %s, which is final",
			       saga->id, orc_saga_status_name(saga->status));
		return;
	}
	if (to->version == t->def->version) {
		orc_txn_refuse(t, NO_STEP,
			       "cannot migrate saga %s: it is on version %d "
			       "already",
			       saga->id, to->version);
		return;
	}
	if (!map_valid(t, to))
		return;
	target = calloc(saga->n_steps ? saga->n_steps : 1, sizeof(*target));
	owner = calloc(to->n_steps ? to->n_steps : 1, sizeof(*owner));
	steps = calloc(to->n_steps ? to->n_steps : 1, sizeof(*steps));
	if (target == NULL || owner == NULL || steps == NULL) {
		orc_txn_oom(t);
		goto done;
	}
	plan(t, to, target, owner, &p);
	if (p.n > 0) {
		orc_txn_refuse(t, NO_STEP,
			       "cannot migrate saga %s from version %d to %d: %s",
			       saga->id, t->def->version, to->version, p.text);
		goto done;
	}
	map = json_object();
	for (size_t k = 0; map != NULL && k < t->in->n_map; k++)
		if (json_object_set_new(map, t->in->map_from[k],
					json_string(t->in->map_to[k])) != 0) {
			json_decref(map);
			map = NULL;
		}
	if (map == NULL) {
		orc_txn_oom(t);
		goto done;
	}
	move(t, to, target, steps);
	steps = NULL; /* the saga's now */
	d = orc_txn_audit(t, NO_STEP);
	orc_txn_put_int(t, d, "from_version", from_version);
	orc_txn_put_int(t, d, "to_version", to->version);
	orc_txn_put(t, d, "map", map);
	orc_txn_advance(t);
done:
	free(steps);
	free(owner);
	free(target);
}
