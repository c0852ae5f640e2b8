/*
 * store_write.c - a batch's writes: sagas, steps, map items, history and
 * outbox rows, queued into column arrays and written in one pipeline.
 *
 * Every row to write is queued into column arrays (pgarray.h, one text
 * array literal per column, reused from batch to batch), and one
 * INSERT ... SELECT FROM unnest(...) each writes sagas, steps, map items,
 * history (one saga_transitions row per transition: what one applied
 * input did) and outbox rows, whatever the batch size; with the COMMIT
 * they go to the server in one round trip (orc_store_pipeline()).  Times are
 * int64 milliseconds here and timestamptz there; 0 means NULL.  The
 * reading side, and the write batch's contract, are store_saga.h's.
 *
 * A saga's open steps (running, no row of their own: saga_row.h) go into
 * its saga row's open_steps, rewritten whole at every write; every other
 * changed step gets its row in saga_step_rows.
 */
#include "store_saga.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgarray.h"
#include "saga_row.h"
#include "store_internal.h"
#include "store_items.h"
#include "strbuf.h"

#define TS ORC_STORE_TS


/*
 * The parameters of the four write statements: one array each, in the
 * order of the table, as X(enum name, parameter number, element type,
 * name in the statement).  UNNEST() and UNNEST_AS() turn a table into the
 * statement's "unnest($1::uuid[], ...)" and its column names; the
 * numbers are checked against the enum at compile time.
 */
#define SAGA_PARAMS(X, Y)                                                      \
	X(S_ID, 1, uuid, id)                                                   \
	Y(S_NAME, 2, text, name)                                               \
	Y(S_VERSION, 3, int, version)                                          \
	Y(S_KEY, 4, text, key)                                                 \
	Y(S_STATUS, 5, text, status)                                           \
	Y(S_CAUSE, 6, text, cause)                                             \
	Y(S_CONTEXT, 7, text, ctx)                                             \
	Y(S_STARTED, 8, bigint, started)                                       \
	Y(S_DEADLINE, 9, bigint, deadline)                                     \
	Y(S_WAKE, 10, bigint, wake)                                            \
	Y(S_SEQ, 11, int, seq)                                                 \
	Y(S_FAILURE, 12, text, failure)                                        \
	Y(S_OUTPUT, 13, text, output)                                          \
	Y(S_LIFECYCLE, 14, int, lifecycle)                                     \
	Y(S_PAUSED, 15, bigint, paused)                                        \
	Y(S_PARENT, 16, uuid, parent)                                          \
	Y(S_PARENT_STEP, 17, text, pstep)                                      \
	Y(S_OPEN, 18, text, open)

#define STEP_PARAMS(X, Y)                                                      \
	X(T_SAGA, 1, uuid, saga)                                               \
	Y(T_NAME, 2, text, name)                                               \
	Y(T_INDEX, 3, int, idx)                                                \
	Y(T_STATUS, 4, text, status)                                           \
	Y(T_ATTEMPT, 5, int, attempt)                                          \
	Y(T_ATTEMPT_BASE, 6, int, abase)                                       \
	Y(T_COMP, 7, int, comp)                                                \
	Y(T_COMP_BASE, 8, int, cbase)                                          \
	Y(T_STARTED, 9, bigint, started)                                       \
	Y(T_FINISHED, 10, bigint, finished)                                    \
	Y(T_WAKE, 11, bigint, wake)                                            \
	Y(T_REASON, 12, text, reason)                                          \
	Y(T_SEQ, 13, int, seq)                                                 \
	Y(T_ERROR, 14, text, error)                                            \
	Y(T_EARLY, 15, text, early)                                            \
	Y(T_OUTPUT, 16, text, output)                                          \
	Y(T_REPLIES, 17, text, replies)                                        \
	Y(T_MAP, 18, text, map)

#define HISTORY_PARAMS(X, Y)                                                   \
	X(H_SAGA, 1, uuid, saga)                                               \
	Y(H_AT, 2, bigint, at)                                                 \
	Y(H_KIND, 3, text, kind)                                               \
	Y(H_STEP, 4, text, step)                                               \
	Y(H_EVENT, 5, text, event)                                             \
	Y(H_DETAIL, 6, text, detail)                                           \
	Y(H_MORE, 7, text, more)

#define OUTBOX_PARAMS(X, Y)                                                    \
	X(O_SAGA, 1, uuid, saga)                                               \
	Y(O_MSGID, 2, text, msgid)                                             \
	Y(O_TOPIC, 3, text, topic)                                             \
	Y(O_TYPE, 4, text, type)                                               \
	Y(O_SOURCE, 5, text, source)                                           \
	Y(O_STEP, 6, text, step)                                               \
	Y(O_REPLY, 7, text, reply)                                             \
	Y(O_PAYLOAD, 8, text, payload)                                         \
	Y(O_TRACE, 9, text, trace)

#define PARAM_NAME ORC_STORE_PARAM_NAME
#define PARAM_CHECK ORC_STORE_PARAM_CHECK
#define UNNEST ORC_STORE_UNNEST
#define UNNEST_AS ORC_STORE_UNNEST_AS

enum saga_param { SAGA_PARAMS(PARAM_NAME, PARAM_NAME) S_COLS };
enum step_param { STEP_PARAMS(PARAM_NAME, PARAM_NAME) T_COLS };
enum history_param { HISTORY_PARAMS(PARAM_NAME, PARAM_NAME) H_COLS };
enum outbox_param { OUTBOX_PARAMS(PARAM_NAME, PARAM_NAME) O_COLS };
SAGA_PARAMS(PARAM_CHECK, PARAM_CHECK)
STEP_PARAMS(PARAM_CHECK, PARAM_CHECK)
HISTORY_PARAMS(PARAM_CHECK, PARAM_CHECK)
OUTBOX_PARAMS(PARAM_CHECK, PARAM_CHECK)

/* The widest of the four, for plan_cols(). */
#define MAX_COLS ((int)T_COLS)
_Static_assert((int)S_COLS <= MAX_COLS && (int)H_COLS <= MAX_COLS &&
		       (int)O_COLS <= MAX_COLS,
	       "MAX_COLS is the widest statement");

struct orc_write_batch {
	struct orc_pgarray sagas[S_COLS];
	struct orc_pgarray steps[T_COLS];
	struct orc_pgarray history[H_COLS];
	struct orc_pgarray outbox[O_COLS];
	struct orc_item_writes items; /* map items (store_items.h) */
	struct orc_strbuf more;	      /* a transition's other entries */
	struct orc_strbuf open;	      /* a saga's open steps */
	size_t n_sagas, n_steps, n_history, n_outbox;
	char *lifecycle_topic; /* NULL: lifecycle events are not written */
};

struct orc_write_batch *
orc_write_batch_create(void)
{
	/* all zero: every column an empty orc_pgarray */
	return calloc(1, sizeof(struct orc_write_batch));
}

/* Apply fn to the n arrays of cols. */
static void
cols_each(struct orc_pgarray *cols, int n, void (*fn)(struct orc_pgarray *))
{
	for (int i = 0; i < n; i++)
		fn(&cols[i]);
}

void
orc_write_batch_destroy(struct orc_write_batch *wb)
{
	if (wb == NULL)
		return;
	cols_each(wb->sagas, S_COLS, orc_pgarray_finish);
	cols_each(wb->steps, T_COLS, orc_pgarray_finish);
	cols_each(wb->history, H_COLS, orc_pgarray_finish);
	cols_each(wb->outbox, O_COLS, orc_pgarray_finish);
	orc_item_writes_finish(&wb->items);
	orc_strbuf_finish(&wb->more);
	orc_strbuf_finish(&wb->open);
	free(wb->lifecycle_topic);
	free(wb);
}

enum orc_status
orc_write_batch_lifecycle(struct orc_write_batch *wb, const char *topic,
			  struct orc_error *err)
{
	char *copy = NULL;

	if (topic != NULL && *topic != '\0' && (copy = strdup(topic)) == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	free(wb->lifecycle_topic);
	wb->lifecycle_topic = copy;
	return ORC_OK;
}

void
orc_write_batch_reset(struct orc_write_batch *wb)
{
	cols_each(wb->sagas, S_COLS, orc_pgarray_reset);
	cols_each(wb->steps, T_COLS, orc_pgarray_reset);
	cols_each(wb->history, H_COLS, orc_pgarray_reset);
	cols_each(wb->outbox, O_COLS, orc_pgarray_reset);
	orc_item_writes_reset(&wb->items);
	orc_strbuf_reset(&wb->more);
	wb->n_sagas = wb->n_steps = wb->n_history = wb->n_outbox = 0;
}

static bool
cols_oom(const struct orc_pgarray *cols, int n)
{
	for (int i = 0; i < n; i++)
		if (orc_pgarray_oom(&cols[i]))
			return true;
	return false;
}

/* The engine writes "none" where the column holds NULL. */
static const char *
none_as_null(const char *s)
{
	return strcmp(s, "none") == 0 ? NULL : s;
}

enum orc_status
orc_write_batch_saga(struct orc_write_batch *wb, struct orc_stored_saga *ss,
		     struct orc_error *err)
{
	struct orc_saga *saga = &ss->saga;
	struct orc_pgarray *c = wb->sagas, *t = wb->steps;
	struct orc_saga_row row;
	bool same_ctx;

	if (orc_saga_to_row(saga, &row) != ORC_OK)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	/* NULL: the context column stays as it is (the UPDATE's coalesce) */
	same_ctx = !ss->is_new &&
		   orc_saga_row_context_same(ss->row_context, row.context);
	orc_pgarray_text(&c[S_ID], row.id);
	orc_pgarray_text(&c[S_NAME], saga->def->name);
	orc_pgarray_int(&c[S_VERSION], saga->def->version);
	orc_pgarray_text(&c[S_KEY], row.key);
	orc_pgarray_text(&c[S_STATUS], row.status);
	orc_pgarray_text(&c[S_CAUSE], none_as_null(row.cause));
	orc_pgarray_json(&c[S_CONTEXT], same_ctx ? NULL : row.context,
			 JSON_COMPACT);
	orc_pgarray_int(&c[S_STARTED], row.started_ms);
	orc_pgarray_int(&c[S_DEADLINE], row.deadline_ms);
	orc_pgarray_int(&c[S_WAKE], row.wake_ms);
	orc_pgarray_int(&c[S_SEQ], row.seq);
	orc_pgarray_text(&c[S_FAILURE], row.failure_reason);
	orc_pgarray_json(&c[S_OUTPUT], row.output,
			 JSON_COMPACT | JSON_ENCODE_ANY);
	orc_pgarray_int(&c[S_LIFECYCLE], row.lifecycle_seq);
	orc_pgarray_int(&c[S_PAUSED], row.paused_ms);
	orc_pgarray_text(&c[S_PARENT],
			 ss->parent_id[0] != '\0' ? ss->parent_id : NULL);
	orc_pgarray_text(&c[S_PARENT_STEP],
			 ss->parent_step[0] != '\0' ? ss->parent_step : NULL);
	orc_strbuf_reset(&wb->open);
	orc_saga_open_steps_put(saga, &wb->open);
	orc_pgarray_text(&c[S_OPEN], wb->open.len > 0 ? wb->open.data : NULL);
	orc_saga_row_finish(&row);
	wb->n_sagas++;

	for (size_t i = 0; i < saga->n_steps; i++) {
		struct orc_saga_step *st = &saga->steps[i];
		/* an open step is in the saga row's open_steps just queued */
		bool write = st->changed && !orc_saga_step_open(saga, i);
		struct orc_step_row s;

		st->changed = false;
		if (!write)
			continue;
		st->has_row = true;
		orc_saga_step_to_row(saga, i, &s);
		orc_pgarray_text(&t[T_SAGA], row.id);
		orc_pgarray_text(&t[T_NAME], s.name);
		orc_pgarray_int(&t[T_INDEX], (int64_t)i);
		orc_pgarray_text(&t[T_STATUS], s.status);
		orc_pgarray_int(&t[T_ATTEMPT], s.attempt);
		orc_pgarray_int(&t[T_ATTEMPT_BASE], s.attempt_base);
		orc_pgarray_int(&t[T_COMP], s.comp_attempt);
		orc_pgarray_int(&t[T_COMP_BASE], s.comp_attempt_base);
		orc_pgarray_int(&t[T_STARTED], s.started_ms);
		orc_pgarray_int(&t[T_FINISHED], s.finished_ms);
		orc_pgarray_int(&t[T_WAKE], s.wake_ms);
		orc_pgarray_text(&t[T_REASON], none_as_null(s.wake_reason));
		orc_pgarray_int(&t[T_SEQ], s.completed_seq);
		orc_pgarray_text(&t[T_ERROR], s.last_error);
		orc_pgarray_json(&t[T_EARLY], s.early_event,
				 JSON_COMPACT | JSON_ENCODE_ANY);
		orc_pgarray_json(&t[T_OUTPUT], s.output,
				 JSON_COMPACT | JSON_ENCODE_ANY);
		orc_pgarray_json(&t[T_REPLIES], s.replies, JSON_COMPACT);
		if (s.map.has) {
			char map[9 * 24];

			snprintf(map, sizeof(map),
				 "{%lld,%d,%lld,%lld,%lld,%lld,%lld,%lld,%d}",
				 (long long)s.map.items, s.map.concurrency,
				 (long long)s.map.min_success,
				 (long long)s.map.started,
				 (long long)s.map.succeeded,
				 (long long)s.map.failed,
				 (long long)s.map.compensated,
				 (long long)s.map.last_seq, s.map.run);
			orc_pgarray_text(&t[T_MAP], map);
		} else {
			orc_pgarray_text(&t[T_MAP], NULL);
		}
		wb->n_steps++;
	}
	if (cols_oom(wb->sagas, S_COLS) || cols_oom(wb->steps, T_COLS) ||
	    wb->open.oom)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	return orc_item_writes_saga(&wb->items, saga, err);
}

/*
 * The headline of a transition's history: its operator action (whose
 * index and views read the headline alone), else its first entry;
 * SIZE_MAX when it has none.
 */
static size_t
headline(const struct orc_effects *fx)
{
	size_t first = SIZE_MAX;

	for (size_t i = 0; i < fx->n; i++) {
		if (fx->v[i].kind != ORC_EFFECT_HISTORY)
			continue;
		if (strncmp(fx->v[i].history, "operator.", 9) == 0)
			return i;
		if (first == SIZE_MAX)
			first = i;
	}
	return first;
}

/*
 * Queue the history of fx, one transition, as one row: its headline
 * entry in kind, step_name and detail, the others in more, in order
 * ([{"kind", "step", "detail"}, ...], NULL for none; migration 020).
 * ORC_FATAL when out of memory.
 */
static enum orc_status
queue_transition(struct orc_write_batch *wb, const struct orc_saga *saga,
		 const struct orc_effects *fx,
		 const struct orc_effect_origin *origin)
{
	struct orc_pgarray *h = wb->history;
	struct orc_strbuf *more = &wb->more;
	size_t head = headline(fx);

	if (head == SIZE_MAX)
		return ORC_OK;
	orc_strbuf_reset(more);
	for (size_t i = 0; i < fx->n; i++) {
		const struct orc_effect *e = &fx->v[i];

		if (e->kind != ORC_EFFECT_HISTORY || i == head)
			continue;
		orc_strbuf_puts(more, more->len == 0 ? "[{\"kind\":"
						      : ",{\"kind\":");
		orc_strbuf_put_json_string(more, e->history);
		orc_strbuf_puts(more, ",\"step\":");
		if (e->step_name != NULL)
			orc_strbuf_put_json_string(more, e->step_name);
		else
			orc_strbuf_puts(more, "null");
		orc_strbuf_puts(more, ",\"detail\":");
		orc_strbuf_put_json(more, e->detail,
				    JSON_COMPACT | JSON_SORT_KEYS);
		orc_strbuf_putc(more, '}');
	}
	if (more->len > 0)
		orc_strbuf_putc(more, ']');
	if (more->oom)
		return ORC_FATAL;
	orc_pgarray_text(&h[H_SAGA], saga->id);
	orc_pgarray_int(&h[H_AT], origin->now_ms);
	orc_pgarray_text(&h[H_KIND], fx->v[head].history);
	orc_pgarray_text(&h[H_STEP], fx->v[head].step_name);
	orc_pgarray_text(&h[H_EVENT], origin->event_id);
	orc_pgarray_json(&h[H_DETAIL], fx->v[head].detail,
			 JSON_COMPACT | JSON_SORT_KEYS);
	orc_pgarray_text(&h[H_MORE], more->len > 0 ? more->data : NULL);
	wb->n_history++;
	return ORC_OK;
}

enum orc_status
orc_write_batch_effects(struct orc_write_batch *wb, const struct orc_saga *saga,
			const struct orc_effects *fx,
			const struct orc_effect_origin *origin,
			struct orc_error *err)
{
	struct orc_pgarray *o = wb->outbox;
	char source[ORC_NAME_MAX + 16];
	enum orc_status st = queue_transition(wb, saga, fx, origin);

	if (st != ORC_OK)
		return orc_error_set(err, st, "out of memory");
	snprintf(source, sizeof(source), "/orchestrator/%s", saga->def->name);
	for (size_t i = 0; i < fx->n; i++) {
		const struct orc_effect *e = &fx->v[i];
		char step[ORC_NAME_MAX + 24];

		switch (e->kind) {
		case ORC_EFFECT_HISTORY:
			break; /* queue_transition() */
		case ORC_EFFECT_COMMAND:
			orc_pgarray_text(&o[O_SAGA], saga->id);
			orc_pgarray_text(&o[O_MSGID], e->message_id);
			orc_pgarray_text(&o[O_TOPIC], e->topic);
			orc_pgarray_text(&o[O_TYPE], e->type);
			orc_pgarray_text(&o[O_SOURCE], source);
			/* a map item's replies name it: "<step>[<item>]" */
			if (e->item >= 0)
				snprintf(step, sizeof(step), "%s[%lld]",
					 e->step_name, (long long)e->item);
			orc_pgarray_text(&o[O_STEP],
					 e->item >= 0 ? step : e->step_name);
			orc_pgarray_text(&o[O_REPLY], origin->reply_to);
			if (e->data != NULL)
				orc_pgarray_json(&o[O_PAYLOAD], e->data,
						 JSON_COMPACT | JSON_ENCODE_ANY);
			else
				orc_pgarray_text(&o[O_PAYLOAD], "null");
			orc_pgarray_text(&o[O_TRACE], origin->traceparent);
			wb->n_outbox++;
			break;
		case ORC_EFFECT_CHILD:
			/* the apply layer acts on these (apply_child.c) */
			break;
		case ORC_EFFECT_SAGA_EVENT:
			/*
			 * A lifecycle event: an outbox row in the same lane as
			 * the saga's commands, in effect order, without step
			 * or replyto (nobody answers it).
			 */
			if (wb->lifecycle_topic == NULL)
				break;
			orc_pgarray_text(&o[O_SAGA], saga->id);
			orc_pgarray_text(&o[O_MSGID], e->message_id);
			orc_pgarray_text(&o[O_TOPIC], wb->lifecycle_topic);
			orc_pgarray_text(&o[O_TYPE], e->type);
			orc_pgarray_text(&o[O_SOURCE], source);
			orc_pgarray_text(&o[O_STEP], NULL);
			orc_pgarray_text(&o[O_REPLY], NULL);
			orc_pgarray_json(&o[O_PAYLOAD], e->data, JSON_COMPACT);
			orc_pgarray_text(&o[O_TRACE], origin->traceparent);
			wb->n_outbox++;
			break;
		}
	}
	if (cols_oom(wb->history, H_COLS) || cols_oom(wb->outbox, O_COLS))
		return orc_error_set(err, ORC_FATAL, "out of memory");
	return ORC_OK;
}

size_t
orc_write_batch_outbox_rows(const struct orc_write_batch *wb)
{
	return wb->n_outbox;
}

size_t
orc_write_batch_history_rows(const struct orc_write_batch *wb)
{
	return wb->n_history;
}

/* The statements of one write, queued for orc_store_pipeline(). */
struct write_plan {
	struct orc_store_stmt stmts[7];
	const char *params[6][MAX_COLS];
	size_t n;
};

/* Queue the write statement tmpl with the n column arrays of cols. */
static enum orc_status
plan_cols(struct write_plan *plan, struct orc_pgarray *cols, int n,
	  const char *tmpl, const char *what, struct orc_error *err)
{
	const char **params = plan->params[plan->n];

	for (int i = 0; i < n; i++) {
		params[i] = orc_pgarray_done(&cols[i]);
		if (params[i] == NULL)
			return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	plan->stmts[plan->n++] = (struct orc_store_stmt){
		.tmpl = tmpl, .n = n, .params = params, .prepare = true,
		.what = what};
	return ORC_OK;
}

#define FINAL_STATUSES "('completed', 'compensated', 'failed', 'cancelled', 'timed_out')"

/*
 * The saga's wake_at is indexed (the timers claim by it), so changing it
 * makes the update non-HOT: every index of the table gets a new entry.
 * In a sequence of quick steps, each with a timeout, every transition
 * would move it a little later.  So a wake-up still ahead is kept when
 * the new one is at most WAKE_SLACK later: the saga wakes a little early
 * (the engine finds nothing due, records timer.ignored, and the write
 * then sets the exact time), and most updates touch no indexed column.
 * wake_at is thus "no later than the earliest timer", never later.
 */
#define WAKE_SLACK "interval '1 second'"
#define NEW_WAKE TS("u.wake")
#define LAZY_WAKE                                                              \
	"CASE WHEN u.wake <> 0 AND s.wake_at > now()"                          \
	" AND s.wake_at <= " NEW_WAKE " AND " NEW_WAKE " <= s.wake_at + "      \
	WAKE_SLACK " THEN s.wake_at ELSE " NEW_WAKE " END"

/*
 * Sagas and steps are written by an UPDATE of the rows that exist and an
 * INSERT of the others, in one statement, not by INSERT ... ON CONFLICT
 * DO UPDATE: the upsert WAL-logs a tuple lock before each update and a
 * confirmation after each insert (speculative insertion), one record more
 * per row written (pg_walinspect, README "Performance").  It is safe
 * because nobody else can write these rows meanwhile: the batch holds
 * the lock of every saga it read (FOR UPDATE), and a new saga's id is
 * new (UUIDv7, or derived from its locked parent for a child), so the
 * UPDATE sees every row there is and the INSERT adds only new ones.  A
 * second writer of the same new row would get a unique violation and
 * roll the batch back, not a lost update.
 */
enum orc_status
orc_store_write_commit_send(struct orc_store *store,
			    struct orc_write_batch *wb, struct orc_error *err)
{
	struct write_plan plan = {.n = 0};
	enum orc_status st = ORC_OK;

	if (wb->n_sagas > 0)
		st = plan_cols(&plan, wb->sagas, S_COLS,
			"WITH u AS (SELECT * FROM " UNNEST(SAGA_PARAMS)
			" AS u(" UNNEST_AS(SAGA_PARAMS) ")),"
			" upd AS (UPDATE %1$s.sagas s SET status = u.status,"
			" definition_version = u.version,"
			" failing_reason = u.cause,"
			" context = coalesce(u.ctx::jsonb, s.context),"
			" deadline_at = " TS("u.deadline") ","
			" wake_at = " LAZY_WAKE ", completion_seq = u.seq,"
			" failure = u.failure, output = u.output::jsonb,"
			" lifecycle_seq = u.lifecycle,"
			" paused_at = " TS("u.paused") ","
			" open_steps = u.open::jsonb,"
			" version = s.version + 1, updated_at = now(),"
			" finished_at = CASE WHEN u.status IN " FINAL_STATUSES
			" THEN coalesce(s.finished_at, now()) END"
			" FROM u WHERE s.id = u.id RETURNING s.id)"
			" INSERT INTO %1$s.sagas (id, definition_name,"
			" definition_version, business_key, status, failing_reason,"
			" context, created_at, deadline_at, wake_at, completion_seq,"
			" failure, output, lifecycle_seq, paused_at, finished_at,"
			" parent_id, parent_step, open_steps)"
			" SELECT u.id, u.name, u.version, u.key, u.status, u.cause,"
			" u.ctx::jsonb, " ORC_STORE_TS_SET("u.started") ", "
			TS("u.deadline") ", " TS("u.wake") ", u.seq, u.failure,"
			" u.output::jsonb, u.lifecycle, " TS("u.paused") ","
			" CASE WHEN u.status IN " FINAL_STATUSES " THEN now() END,"
			" u.parent, u.pstep, u.open::jsonb"
			" FROM u WHERE NOT EXISTS"
			" (SELECT FROM upd WHERE upd.id = u.id)",
			"writing sagas", err);
	if (st == ORC_OK && wb->n_steps > 0)
		st = plan_cols(&plan, wb->steps, T_COLS,
			"WITH u AS (SELECT x.*, x.map::int[] AS m FROM "
			UNNEST(STEP_PARAMS) " AS x(" UNNEST_AS(STEP_PARAMS) ")),"
			" upd AS (UPDATE %1$s.saga_step_rows t SET status = u.status,"
			" attempt = u.attempt, attempt_base = u.abase,"
			" compensation_attempt = u.comp,"
			" compensation_attempt_base = u.cbase,"
			" started_at = " TS("u.started") ","
			" finished_at = " TS("u.finished") ","
			" wake_at = " TS("u.wake") ", wake_reason = u.reason,"
			" completed_seq = nullif(u.seq, 0), last_error = u.error,"
			" early_event = u.early::jsonb, output = u.output::jsonb,"
			" replies = u.replies::jsonb, map_items = u.m[1],"
			" map_concurrency = u.m[2], map_min_success = u.m[3],"
			" map_started = u.m[4], map_succeeded = u.m[5],"
			" map_failed = u.m[6], map_compensated = u.m[7],"
			" map_last_seq = u.m[8], map_run = u.m[9]"
			" FROM u WHERE t.saga_id = u.saga AND t.step_name = u.name"
			" RETURNING t.saga_id, t.step_name)"
			" INSERT INTO %1$s.saga_step_rows (saga_id, step_name, step_index,"
			" status, attempt, attempt_base, compensation_attempt,"
			" compensation_attempt_base, started_at, finished_at, wake_at,"
			" wake_reason, completed_seq, last_error, early_event, output,"
			" replies, map_items, map_concurrency, map_min_success,"
			" map_started, map_succeeded, map_failed, map_compensated,"
			" map_last_seq, map_run)"
			" SELECT u.saga, u.name, u.idx, u.status, u.attempt, u.abase,"
			" u.comp, u.cbase, " TS("u.started") ", " TS("u.finished")
			", " TS("u.wake") ", u.reason, nullif(u.seq, 0), u.error,"
			" u.early::jsonb, u.output::jsonb, u.replies::jsonb,"
			" u.m[1], u.m[2], u.m[3], u.m[4], u.m[5], u.m[6], u.m[7],"
			" u.m[8], u.m[9]"
			" FROM u WHERE NOT EXISTS (SELECT FROM upd"
			" WHERE upd.saga_id = u.saga AND upd.step_name = u.name)",
			"writing saga steps", err);
	/* a map's old rows go before the new ones come */
	if (st == ORC_OK && wb->items.n_fresh > 0)
		st = plan_cols(&plan, wb->items.fresh, F_COLS,
			       orc_item_fresh_sql, "deleting old map items",
			       err);
	if (st == ORC_OK && wb->items.n_items > 0)
		st = plan_cols(&plan, wb->items.items, I_COLS,
			       orc_item_upsert_sql, "writing map items", err);
	/* history and outbox rows keep the order they were queued in */
	if (st == ORC_OK && wb->n_history > 0)
		st = plan_cols(&plan, wb->history, H_COLS,
			"INSERT INTO %1$s.saga_transitions (saga_id, at, kind,"
			" step_name, event_id, detail, more)"
			" SELECT u.saga, " ORC_STORE_TS_SET("u.at") ", u.kind, u.step,"
			" u.event, u.detail::jsonb, u.more::jsonb"
			" FROM " UNNEST(HISTORY_PARAMS) " WITH ORDINALITY"
			" AS u(" UNNEST_AS(HISTORY_PARAMS) ", n) ORDER BY u.n",
			"writing saga history", err);
	if (st == ORC_OK && wb->n_outbox > 0)
		st = plan_cols(&plan, wb->outbox, O_COLS,
			"INSERT INTO %1$s.outbox (saga_id, lane, message_id, topic,"
			" type, source, step_name, reply_to, payload, traceparent)"
			" SELECT u.saga, hashtext(u.saga::text) & 15, u.msgid, u.topic,"
			" u.type, u.source, u.step, u.reply, u.payload, u.trace"
			" FROM " UNNEST(OUTBOX_PARAMS) " WITH ORDINALITY"
			" AS u(" UNNEST_AS(OUTBOX_PARAMS) ", n) ORDER BY u.n",
			"writing outbox", err);
	if (st != ORC_OK)
		return st;
	plan.stmts[plan.n++] = (struct orc_store_stmt){
		.tmpl = "COMMIT", .what = "committing"};
	return orc_store_pipeline_send(store, plan.stmts, plan.n, err);
}

enum orc_status
orc_store_write_commit_wait(struct orc_store *store, struct orc_error *err)
{
	return orc_store_pipeline_wait(store, err);
}

enum orc_status
orc_store_write_commit(struct orc_store *store, struct orc_write_batch *wb,
		       struct orc_error *err)
{
	enum orc_status st = orc_store_write_commit_send(store, wb, err);

	return st == ORC_OK ? orc_store_write_commit_wait(store, err) : st;
}

