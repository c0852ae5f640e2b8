/*
 * worker.c - the consume, apply, acknowledge loop.
 *
 * The batches in hand live in the worker between turns: messages, their
 * parsed events and header views, in arrays reused from batch to batch.
 * A batch's life: collected (polled), applied (committed in PostgreSQL),
 * dead letters published, offsets stored, freed.  Each stage is
 * idempotent, so a turn that fails at any stage simply starts over from
 * the first stage that is not done.
 *
 * With apply_overlap (the default) the worker holds two batches, each
 * with an apply context and a PostgreSQL connection of its own: while the
 * older one's writes and commit are sent and flushing, the next one is
 * polled, parsed, locked and run through the engine; it is sent only
 * once the older one committed, and abandoned (rolled back, applied again
 * later) if that failed.  Offsets are stored in batch order, so a crash
 * still replays from the oldest batch not finished.  No transaction is
 * left open between turns but a commit in flight.
 *
 * A dead letter keeps every header of its message, however many: the
 * parser sees them all and finds a message with more than
 * ORC_ENVELOPE_HEADERS_MAX invalid.  Its copy on the
 * dead-letter topic is the message as received plus our orc_dlq_*
 * headers; when the producer or the broker refuses that as too large (or
 * invalid), it goes again without the value, then without key, value and
 * the original headers, saying so in orc_dlq_omitted with the original
 * size and the dead letter's id (the table keeps it whole).  A copy
 * refused even so is logged and counted, and the offsets move on: the
 * table has the dead letter.
 */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "clock.h"
#include "envelope.h"
#include "log.h"

#define DLQ_TURN_WAIT_MS 50	/* a turn's wait for dead-letter acks */
#define DLQ_WAIT_MAX_MS 30000	/* then it is a transient failure */
#define DLQ_OURS 8	     /* orc_dlq_* headers a copy adds at most */

/* How much of a dead message its copy on the dead-letter topic carries. */
enum dlq_level {
	DLQ_WHOLE,    /* key, value, headers, plus ours */
	DLQ_NO_VALUE, /* key and headers */
	DLQ_BARE,     /* our headers only */
};

enum dlq_state { DLQ_UNSENT, DLQ_SENT, DLQ_DONE };

struct msg {
	struct orc_kafka_message *m;
	const struct orc_apply_item *it; /* its item, for the dead letter's log */
	struct orc_event ev;
	bool parsed;
	struct orc_error perr;
	/* every header, views into m; the array is kept between batches */
	struct orc_header *headers;
	size_t n_headers, cap_headers;
	enum dlq_level dlq_level;
	enum dlq_state dlq_state;
};

enum batch_state {
	BATCH_EMPTY,
	BATCH_COLLECTED, /* polled (n > 0), not applied */
	BATCH_PREPARED,  /* run in an open transaction, its writes queued */
	BATCH_SENT,	 /* its writes and commit sent, not answered */
	BATCH_APPLIED,	 /* committed */
};

struct batch {
	struct orc_apply *ap; /* the worker's (overlap), or the process's */
	struct msg *msgs;
	struct orc_apply_item *items;
	size_t n;
	enum batch_state state;
	bool published; /* its dead letters are acknowledged */
	int64_t t0_us;	/* when its apply began */
};

struct orc_worker {
	const struct orc_config *cfg; /* to rejoin after fencing */
	const char *const *topics;
	size_t n_topics;
	struct orc_consumer *consumer;
	struct orc_producer *producer; /* dead-letter topic */
	char *dlq_topic;
	size_t batch_size;
	int linger_ms;

	/*
	 * b[head] is the oldest batch; with overlap b[head ^ 1] is the one
	 * after it, over a sibling apply and a connection of the worker's
	 * own (stores[], aps[]: owned).
	 */
	bool overlap;
	struct orc_apply *ap; /* the process's (borrowed) */
	struct batch b[2];
	int head;
	struct orc_store *stores[2];
	struct orc_apply *aps[2];
	int dlq_pending;
	int dlq_failed;
	int64_t dlq_since_ms; /* when the batch's copies began to wait */
	struct orc_header *dlq_headers; /* a copy's headers, grown */
	size_t cap_dlq_headers;
	bool in_revoke;
	struct orc_worker_stats stats;
};

/* The copy of dead message x is refused for good: say so once, go on. */
static void
refused(struct orc_worker *w, struct msg *x, const struct orc_apply_item *it,
	const char *why)
{
	x->dlq_state = DLQ_DONE;
	w->stats.dead_refused++;
	orc_log(ORC_LOG_ERROR, "dead letter not published",
		ORC_LOG_STR("dlq", w->dlq_topic), ORC_LOG_STR("topic", it->topic),
		ORC_LOG_INT("partition", it->partition),
		ORC_LOG_INT("offset", it->offset),
		ORC_LOG_INT("dead_letter", it->dead_letter_id),
		ORC_LOG_STR("err", why));
}

static void
on_dlq_delivery(void *opaque, enum orc_status status, const char *err,
		int32_t partition, int64_t offset, void *ctx)
{
	struct orc_worker *w = ctx;
	struct msg *x = opaque;

	w->dlq_pending--;
	if (status == ORC_OK) {
		x->dlq_state = DLQ_DONE;
	} else if (status == ORC_INVALID && x->dlq_level < DLQ_BARE) {
		x->dlq_level++; /* too large, or invalid: send less */
		x->dlq_state = DLQ_UNSENT;
	} else if (status == ORC_INVALID) {
		refused(w, x, x->it, err);
	} else {
		x->dlq_state = DLQ_UNSENT;
		w->dlq_failed++;
		orc_log(ORC_LOG_ERROR, "dead letter not delivered",
			ORC_LOG_STR("topic", w->dlq_topic), ORC_LOG_STR("err", err));
	}
}

static void finish_batch(void *ctx);

enum orc_status
orc_worker_create(const struct orc_config *cfg, struct orc_apply *ap,
		  const char *const *topics, size_t n_topics,
		  struct orc_worker **out, struct orc_error *err)
{
	struct orc_worker *w = calloc(1, sizeof(*w));
	const char *group = orc_config_str(cfg, ORC_CFG_GROUP);
	const char *dlq = orc_config_str(cfg, ORC_CFG_DLQ_TOPIC);
	enum orc_status st;
	char buf[512];

	*out = NULL;
	if (w == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	w->cfg = cfg;
	w->topics = topics;
	w->n_topics = n_topics;
	w->batch_size = (size_t)orc_config_int(cfg, ORC_CFG_BATCH_SIZE);
	w->linger_ms = (int)orc_config_int(cfg, ORC_CFG_BATCH_LINGER_MS);
	snprintf(buf, sizeof(buf), "%s.dlq", group);
	w->dlq_topic = strdup(dlq ? dlq : buf);
	w->overlap = orc_config_bool(cfg, ORC_CFG_APPLY_OVERLAP);
	for (int i = 0; i < (w->overlap ? 2 : 1); i++) {
		w->b[i].msgs = calloc(w->batch_size, sizeof(*w->b[i].msgs));
		w->b[i].items = calloc(w->batch_size, sizeof(*w->b[i].items));
		if (w->b[i].msgs == NULL || w->b[i].items == NULL) {
			st = orc_error_set(err, ORC_FATAL, "out of memory");
			goto fail;
		}
		w->b[i].ap = ap;
	}
	if (w->dlq_topic == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto fail;
	}
	w->ap = ap; /* the overlap's connections are made by the first turn */
	st = orc_producer_create(cfg, on_dlq_delivery, w, &w->producer, err);
	if (st != ORC_OK)
		goto fail;
	st = orc_consumer_create(cfg, group, topics, n_topics, &w->consumer, err);
	if (st != ORC_OK)
		goto fail;
	orc_consumer_on_revoke(w->consumer, finish_batch, w);
	*out = w;
	return ORC_OK;
fail:
	orc_worker_destroy(w);
	return st;
}

static void
free_batch(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct msg *x = &b->msgs[i];
		struct orc_header *headers = x->headers;
		size_t cap = x->cap_headers;

		if (x->parsed)
			orc_event_finish(&x->ev);
		orc_kafka_message_destroy(x->m);
		memset(x, 0, sizeof(*x));
		x->headers = headers;
		x->cap_headers = cap;
	}
	b->n = 0;
	b->state = BATCH_EMPTY;
	b->published = false;
}

static struct batch *
oldest(struct orc_worker *w)
{
	return &w->b[w->head];
}

/* The batch after the oldest; NULL without overlap. */
static struct batch *
younger(struct orc_worker *w)
{
	return w->overlap ? &w->b[w->head ^ 1] : NULL;
}

/* The oldest batch is the first one with messages. */
static void
normalize(struct orc_worker *w)
{
	if (w->overlap && oldest(w)->state == BATCH_EMPTY &&
	    younger(w)->state != BATCH_EMPTY)
		w->head ^= 1;
}

/* *arr holds at least n elements of size each; false when out of memory. */
static bool
grow(void *arr, size_t *cap, size_t n, size_t size)
{
	void **p = arr;
	void *bigger;

	if (n <= *cap)
		return true;
	bigger = realloc(*p, n * size);
	if (bigger == NULL)
		return false;
	*p = bigger;
	*cap = n;
	return true;
}

/* The texts of our orc_dlq_* headers for one copy. */
struct dlq_texts {
	char partition[16], offset[24], id[24], value_size[24];
};

/*
 * The headers of item i's copy at its level, in w->dlq_headers: the
 * original ones (unless bare) then ours.  Returns how many, or -1 when
 * out of memory.
 */
static long
dlq_headers(struct orc_worker *w, const struct batch *b, size_t i,
	    struct dlq_texts *t)
{
	static const char *const omitted[] = {
		[DLQ_NO_VALUE] = "value",
		[DLQ_BARE] = "value,key,headers",
	};
	const struct orc_apply_item *it = &b->items[i];
	const struct msg *x = &b->msgs[i];
	size_t keep = x->dlq_level == DLQ_BARE ? 0 : x->n_headers;
	struct orc_header *h;
	size_t nh = 0;

	if (!grow(&w->dlq_headers, &w->cap_dlq_headers, keep + DLQ_OURS,
		  sizeof(*h)))
		return -1;
	h = w->dlq_headers;
	for (size_t j = 0; j < keep; j++)
		h[nh++] = x->headers[j];
	snprintf(t->partition, sizeof(t->partition), "%d", (int)it->partition);
	snprintf(t->offset, sizeof(t->offset), "%lld", (long long)it->offset);
	snprintf(t->id, sizeof(t->id), "%lld", (long long)it->dead_letter_id);
	snprintf(t->value_size, sizeof(t->value_size), "%zu", it->value_len);
	h[nh++] = (struct orc_header){"orc_dlq_error", it->reason,
				      strlen(it->reason)};
	h[nh++] = (struct orc_header){"orc_dlq_topic", it->topic,
				      strlen(it->topic)};
	h[nh++] = (struct orc_header){"orc_dlq_partition", t->partition,
				      strlen(t->partition)};
	h[nh++] = (struct orc_header){"orc_dlq_offset", t->offset,
				      strlen(t->offset)};
	if (it->dead_letter_id > 0)
		h[nh++] = (struct orc_header){"orc_dlq_dead_letter_id", t->id,
					      strlen(t->id)};
	if (x->dlq_level != DLQ_WHOLE) {
		h[nh++] = (struct orc_header){"orc_dlq_omitted",
					      omitted[x->dlq_level],
					      strlen(omitted[x->dlq_level])};
		h[nh++] = (struct orc_header){"orc_dlq_value_size",
					      t->value_size,
					      strlen(t->value_size)};
	}
	return (long)nh;
}

/*
 * Queue the copy of dead item i, with less of it each time the producer
 * refuses it as too large; one refused bare is done with (refused()).
 */
static enum orc_status
send_dead(struct orc_worker *w, struct batch *b, size_t i,
	  struct orc_error *err)
{
	const struct orc_apply_item *it = &b->items[i];
	struct msg *x = &b->msgs[i];
	enum orc_status st;

	for (;;) {
		struct dlq_texts t;
		long nh = dlq_headers(w, b, i, &t);
		bool bare = x->dlq_level == DLQ_BARE;

		if (nh < 0)
			return orc_error_set(err, ORC_FATAL, "out of memory");
		st = orc_producer_send(w->producer, w->dlq_topic,
				       bare ? NULL : it->key,
				       bare ? 0 : it->key_len, w->dlq_headers,
				       (size_t)nh,
				       x->dlq_level == DLQ_WHOLE ? it->value : "",
				       x->dlq_level == DLQ_WHOLE ? it->value_len : 0,
				       x, err);
		if (st == ORC_TRANSIENT) {
			orc_producer_poll(w->producer, 100); /* queue full */
		} else if (st == ORC_INVALID && !bare) {
			x->dlq_level++;
		} else if (st == ORC_INVALID) {
			refused(w, x, it, err->message);
			return ORC_OK;
		} else {
			break;
		}
	}
	if (st != ORC_OK)
		return st;
	x->dlq_state = DLQ_SENT;
	w->dlq_pending++;
	w->stats.dead_published++;
	return ORC_OK;
}

/*
 * Publish the batch's dead letters and wait at most wait_ms for the
 * broker's acknowledgements; *done when every copy is settled.  A copy the
 * broker refuses as too large goes again with less, up to DLQ_BARE.
 * Copies still in flight are waited for, not sent again: by a later turn
 * (the loop goes on meanwhile: timers, the relay and /healthz never wait
 * on the broker here), up to DLQ_WAIT_MAX_MS in all, after which it is a
 * transient failure, as is any copy the broker did not take.
 */
static enum orc_status
publish_dead(struct orc_worker *w, struct batch *b, int64_t wait_ms,
	     bool *done, struct orc_error *err)
{
	int64_t now = orc_clock_mono_ms(), until = now + wait_ms;
	enum orc_status st;

	*done = false;
	for (;;) {
		if (w->dlq_failed > 0) { /* reports since the last look too */
			int failed = w->dlq_failed;

			w->dlq_failed = 0;
			w->dlq_since_ms = 0;
			return orc_error_set(err, ORC_TRANSIENT,
					     "%d dead letters not delivered to %s",
					     failed, w->dlq_topic);
		}
		for (size_t i = 0; i < b->n; i++) {
			if (b->items[i].outcome != ORC_APPLY_DEAD ||
			    b->msgs[i].dlq_state != DLQ_UNSENT)
				continue;
			st = send_dead(w, b, i, err);
			if (st != ORC_OK)
				return st;
		}
		if (w->dlq_pending == 0) {
			w->dlq_since_ms = 0;
			*done = true;
			return ORC_OK;
		}
		now = orc_clock_mono_ms();
		if (now >= until)
			break;
		orc_producer_flush(w->producer, (int)(until - now), NULL);
	}
	if (w->dlq_since_ms == 0)
		w->dlq_since_ms = now - wait_ms;
	if (now - w->dlq_since_ms >= DLQ_WAIT_MAX_MS) {
		w->dlq_since_ms = 0;
		return orc_error_set(err, ORC_TRANSIENT,
				     "%d dead letters not acknowledged by %s "
				     "within %d s", w->dlq_pending, w->dlq_topic,
				     DLQ_WAIT_MAX_MS / 1000);
	}
	return ORC_OK;
}

/* The batch is committed: log its dead letters, time it. */
static void
applied(struct orc_worker *w, struct batch *b)
{
	int64_t us = orc_clock_mono_us() - b->t0_us;

	b->state = BATCH_APPLIED;
	w->stats.last_apply_us = (uint64_t)us;
	w->stats.apply_us_sum += (uint64_t)us;
	orc_log(ORC_LOG_DEBUG, "batch applied", ORC_LOG_UINT("events", b->n),
		ORC_LOG_INT("ms", us / 1000));
	for (size_t i = 0; i < b->n; i++)
		if (b->items[i].outcome == ORC_APPLY_DEAD)
			orc_log(ORC_LOG_WARN, "event dead-lettered",
				ORC_LOG_STR("topic", b->items[i].topic),
				ORC_LOG_INT("partition", b->items[i].partition),
				ORC_LOG_INT("offset", b->items[i].offset),
				ORC_LOG_STR("reason", b->items[i].reason));
}

/*
 * Apply collected batch b in one call, committed when it returns
 * (orc_apply_events(): finds a bad item one by one).
 */
static enum orc_status
apply_now(struct orc_worker *w, struct batch *b, struct orc_error *err)
{
	enum orc_status st = orc_apply_events(b->ap, b->items, b->n,
					      orc_clock_wall_ms(), err);

	if (st != ORC_OK)
		return st;
	applied(w, b);
	return ORC_OK;
}

/* A batch that failed as a whole for its content is applied item by item. */
static bool
redo_alone(enum orc_status st)
{
	return st == ORC_INVALID || st == ORC_CONFLICT;
}

/*
 * Start the oldest batch b (collected; nothing before it in flight):
 * sent with its commit in flight, or, without overlap (or for one
 * message, or when it failed for its content), applied and committed.
 */
static enum orc_status
start_oldest(struct orc_worker *w, struct batch *b, struct orc_error *err)
{
	enum orc_status st;
	bool blocked;

	b->t0_us = orc_clock_mono_us();
	if (!w->overlap || b->n == 1)
		return apply_now(w, b, err);
	st = orc_apply_events_prepare(b->ap, b->items, b->n,
				      orc_clock_wall_ms(), NULL, &blocked, err);
	if (st == ORC_OK)
		st = orc_apply_events_send(b->ap, b->items, b->n, err);
	if (st == ORC_OK) {
		b->state = BATCH_SENT;
		return ORC_OK;
	}
	return redo_alone(st) ? apply_now(w, b, err) : st;
}

/*
 * Collect messages into b (empty) until batch_size, or until the poll
 * has none: the first one may take wait_ms, the rest linger.  ORC_FATAL
 * out of memory; a consumer error ends the collection, and is returned
 * only when nothing was collected.
 */
static enum orc_status collect(struct orc_worker *w, struct batch *b,
			       int wait_ms, struct orc_error *err);

/*
 * The younger batch b failed to run or send early (at stage): it stays
 * collected, and meets the failure again, returned and logged where it is
 * handled, when it is the oldest.  Here it is only counted, and logged
 * at debug level for whoever follows the overlap itself.
 */
static void
early_failed(struct orc_worker *w, struct batch *b, const char *stage,
	     const struct orc_error *err)
{
	b->state = BATCH_COLLECTED;
	w->stats.overlap_failed++;
	orc_log(ORC_LOG_DEBUG, "overlapped batch failed, applied later",
		ORC_LOG_STR("stage", stage), ORC_LOG_UINT("events", b->n),
		ORC_LOG_ERR(err));
}

/*
 * While the oldest batch's commit is in flight: collect the next one and
 * run it in a transaction of its own (prepared), unless it has to wait
 * for that commit.  Its failures are not returned (early_failed()).
 */
static enum orc_status
overlap_next(struct orc_worker *w, struct batch *a, struct orc_error *err)
{
	struct batch *b = younger(w);
	struct orc_error early;
	enum orc_status st;
	bool blocked;

	if (b->state == BATCH_EMPTY) {
		st = collect(w, b, 0, err);
		if (st == ORC_FATAL)
			return st;
		/* a rebalance inside the poll may have finished a already */
		if (a->state != BATCH_SENT)
			return ORC_OK;
	}
	if (b->state != BATCH_COLLECTED || b->n < 2)
		return ORC_OK;
	b->t0_us = orc_clock_mono_us();
	st = orc_apply_events_prepare(b->ap, b->items, b->n,
				      orc_clock_wall_ms(), a->ap, &blocked,
				      &early);
	if (st != ORC_OK)
		early_failed(w, b, "prepare", &early);
	else if (blocked)
		w->stats.overlap_blocked++;
	else
		b->state = BATCH_PREPARED;
	return ORC_OK;
}

/*
 * Take the batches in hand as far as they go, waiting at most dlq_wait_ms
 * for the oldest one's dead-letter acknowledgements: a batch stays in
 * hand until they are settled.  more: the next batch may be polled
 * (never from inside the consumer's revoke hook).
 */
static enum orc_status
advance(struct orc_worker *w, int64_t dlq_wait_ms, bool more,
	struct orc_error *err)
{
	struct batch *a, *b;
	enum orc_status st;

	normalize(w);
	a = oldest(w);
	b = younger(w);
	if (a->state == BATCH_EMPTY)
		return ORC_OK;
	if (a->state == BATCH_COLLECTED) {
		st = start_oldest(w, a, err);
		if (st != ORC_OK)
			return st;
	}
	if (a->state == BATCH_SENT && more) {
		st = overlap_next(w, a, err);
		if (st != ORC_OK || a->state != BATCH_SENT)
			return st;
	}
	if (a->state == BATCH_SENT) {
		st = orc_apply_events_wait(a->ap, a->items, a->n, err);
		if (st != ORC_OK) {
			/* what b read may be what a left as it was */
			if (b->state == BATCH_PREPARED) {
				orc_apply_events_abandon(b->ap);
				b->state = BATCH_COLLECTED;
			}
			a->state = BATCH_COLLECTED;
			if (!redo_alone(st))
				return st;
			st = apply_now(w, a, err);
			if (st != ORC_OK)
				return st;
		} else {
			applied(w, a);
		}
	}
	if (b != NULL && b->state == BATCH_PREPARED) {
		struct orc_error early;

		if (orc_apply_events_send(b->ap, b->items, b->n, &early) ==
		    ORC_OK) {
			b->state = BATCH_SENT;
			w->stats.overlapped++;
		} else {
			early_failed(w, b, "send", &early);
		}
	}
	if (!a->published) {
		bool done;

		st = publish_dead(w, a, dlq_wait_ms, &done, err);
		if (st != ORC_OK)
			return st;
		if (!done)
			return ORC_OK; /* a later turn goes on */
		a->published = true;
	}
	for (size_t i = 0; i < a->n; i++) {
		/*
		 * A partition revoked meanwhile refuses the store: its next
		 * owner replays the message, and the inbox absorbs it.
		 */
		orc_consumer_store(w->consumer, a->msgs[i].m, NULL);
	}
	w->stats.last_batch = a->n;
	w->stats.batch_sum += a->n;
	w->stats.batches++;
	free_batch(a);
	normalize(w);
	return ORC_OK;
}

static bool
holding(const struct orc_worker *w)
{
	return w->b[0].state != BATCH_EMPTY || w->b[1].state != BATCH_EMPTY;
}

/*
 * Every batch in hand as far as it goes, oldest first, with the whole
 * wait for dead letters (copies still unsettled are an error).
 */
static enum orc_status
finish_all(struct orc_worker *w, struct orc_error *err)
{
	enum orc_status st = ORC_OK;

	for (int i = 0; i < 2 && st == ORC_OK && holding(w); i++)
		st = advance(w, DLQ_WAIT_MAX_MS, false, err);
	return st;
}

/* The revoke hook: finish what we hold before partitions go. */
static void
finish_batch(void *ctx)
{
	struct orc_worker *w = ctx;
	struct orc_error err;

	if (!holding(w) || w->in_revoke)
		return;
	w->in_revoke = true;
	if (finish_all(w, &err) != ORC_OK) {
		/*
		 * Keep it and try again next turn: the revoked partitions'
		 * messages are replayed by their next owner (their offsets
		 * can no longer be stored), the others' must not be skipped.
		 */
		orc_log(ORC_LOG_WARN, "batch not finished before rebalance",
			ORC_LOG_UINT("messages", w->b[0].n + w->b[1].n),
			ORC_LOG_ERR(&err));
	}
	w->in_revoke = false;
}

/*
 * Add m to batch b, parsed.  An event that cannot be read goes on with
 * its parse error, to be dead-lettered by apply; running out of memory
 * while reading it is not the event's fault: ORC_FATAL, the message is
 * let go (so neither it nor anything after it is applied) and the process
 * exits with its offset not stored: it is read again after the restart.
 */
static enum orc_status
take(struct orc_worker *w, struct batch *b, struct orc_kafka_message *m,
     struct orc_error *err)
{
	enum orc_status st;
	struct msg *x = &b->msgs[b->n];
	struct orc_apply_item *it = &b->items[b->n];
	size_t total = orc_kafka_message_header_count(m);

	x->m = m;
	x->it = it;
	x->n_headers = 0;
	if (!grow(&x->headers, &x->cap_headers, total, sizeof(*x->headers))) {
		x->m = NULL;
		orc_kafka_message_destroy(m);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	for (size_t j = 0; j < total; j++)
		if (orc_kafka_message_header_at(m, j, &x->headers[x->n_headers]))
			x->n_headers++;
	st = orc_event_parse(&x->ev, m->value, m->value_len, m->key, m->key_len,
			     x->headers, x->n_headers, &x->perr);
	if (st == ORC_FATAL) { /* not in the batch: nothing after it is */
		if (err != NULL)
			*err = x->perr;
		orc_kafka_message_destroy(m);
		x->m = NULL;
		x->n_headers = 0;
		return ORC_FATAL;
	}
	x->parsed = st == ORC_OK;
	memset(it, 0, sizeof(*it));
	it->event = x->parsed ? &x->ev : NULL;
	it->parse_error = x->parsed ? NULL : x->perr.message;
	it->topic = m->topic;
	it->partition = m->partition;
	it->offset = m->offset;
	it->key = m->key;
	it->key_len = m->key_len;
	it->value = m->value;
	it->value_len = m->value_len;
	it->headers = x->headers;
	it->n_headers = x->n_headers;
	b->n++;
	b->state = BATCH_COLLECTED;
	w->stats.consumed++;
	return ORC_OK;
}

static enum orc_status
collect(struct orc_worker *w, struct batch *b, int wait_ms,
	struct orc_error *err)
{
	int64_t deadline = 0;
	enum orc_status st;

	while (b->n < w->batch_size) {
		struct orc_kafka_message *m = NULL;
		int timeout = 0;

		if (b->n == 0)
			timeout = wait_ms;
		else if (w->linger_ms > 0)
			timeout = (int)(deadline - orc_clock_mono_ms());
		if (timeout < 0)
			timeout = 0;
		st = orc_consumer_poll(w->consumer, timeout, &m, err);
		if (st != ORC_OK)
			return b->n == 0 ? st : ORC_OK;
		if (m == NULL) {
			if (b->n == 0 || timeout == 0)
				break;
			continue;
		}
		if (b->n == 0)
			deadline = orc_clock_mono_ms() + w->linger_ms;
		if (take(w, b, m, err) != ORC_OK)
			return ORC_FATAL;
	}
	return ORC_OK;
}

/*
 * Forget every batch in hand: a commit in flight is waited for (its
 * outcome does not matter: nothing of it is stored, the inbox makes a
 * second apply harmless), a prepared one rolled back.
 */
static void
drop_all(struct orc_worker *w)
{
	for (int i = 0; i < 2; i++) {
		struct batch *b = &w->b[i];
		struct orc_error ignored;

		if (b->state == BATCH_SENT)
			orc_apply_events_wait(b->ap, b->items, b->n, &ignored);
		else if (b->state == BATCH_PREPARED)
			orc_apply_events_abandon(b->ap);
		free_batch(b);
	}
	w->head = 0;
}

/*
 * The broker fenced our static membership: the consumer handle is dead.
 * Drop the batches in hand (nothing of them is stored: whoever owns their
 * partitions gets them again, and the inbox makes a second apply
 * harmless), make a new consumer and rejoin.  ORC_TRANSIENT, so the loop
 * logs it once (with the hint that names instance_id) and backs off; a
 * consumer that cannot be made again is the error of its creation.
 */
static enum orc_status
rejoin(struct orc_worker *w, struct orc_error *err)
{
	const char *group = orc_config_str(w->cfg, ORC_CFG_GROUP);
	struct orc_error cause = *err;
	enum orc_status st;

	/* the batch's dead-letter copies point into it: settle them first */
	if (w->dlq_pending > 0)
		orc_producer_flush(w->producer, DLQ_WAIT_MAX_MS, NULL);
	if (w->dlq_pending > 0)
		return ORC_FATAL;
	drop_all(w);
	orc_consumer_on_revoke(w->consumer, NULL, NULL);
	orc_consumer_destroy(w->consumer);
	w->consumer = NULL;
	st = orc_consumer_create(w->cfg, group, w->topics, w->n_topics,
				 &w->consumer, err);
	if (st != ORC_OK)
		return st;
	orc_consumer_on_revoke(w->consumer, finish_batch, w);
	w->stats.rejoins++;
	orc_error_set(err, ORC_TRANSIENT, "%s; rejoined the group",
		      cause.message);
	orc_error_detail(err, "%s", cause.detail);
	orc_error_hint(err, "%s", cause.hint);
	return ORC_TRANSIENT;
}

/*
 * The worker's own connections: made by the first turn (so that a
 * PostgreSQL restarting then is a transient failure, backed off), and
 * again after one was lost.
 */
static enum orc_status
reconnect(struct orc_worker *w, struct orc_error *err)
{
	for (int i = 0; w->overlap && i < 2; i++) {
		enum orc_status st;

		if (w->aps[i] != NULL)
			continue;
		if (w->stores[i] == NULL) {
			st = orc_store_connect(
				orc_config_str(w->cfg, ORC_CFG_PG_DSN),
				orc_config_str(w->cfg, ORC_CFG_PG_SCHEMA),
				&w->stores[i], err);
			if (st != ORC_OK)
				return st;
		}
		st = orc_apply_create_sibling(w->ap, w->stores[i], &w->aps[i],
					      err);
		if (st != ORC_OK)
			return st;
		w->b[i].ap = w->aps[i];
	}
	for (int i = 0; i < 2; i++) {
		if (w->stores[i] == NULL || orc_store_connected(w->stores[i]))
			continue;
		if (w->b[0].state == BATCH_SENT || w->b[1].state == BATCH_SENT)
			continue; /* its wait says so first */
		if (orc_store_reconnect(w->stores[i], err) != ORC_OK)
			return ORC_TRANSIENT;
		orc_log(ORC_LOG_INFO, "reconnected to postgresql",
			ORC_LOG_STR("role", "worker"));
	}
	return ORC_OK;
}

enum orc_status
orc_worker_turn(struct orc_worker *w, int wait_ms, size_t *n_messages,
		struct orc_error *err)
{
	uint64_t before = w->stats.batch_sum;
	enum orc_status st;

	*n_messages = 0;
	st = reconnect(w, err);
	if (st != ORC_OK)
		return st;
	normalize(w);
	if (oldest(w)->state == BATCH_EMPTY) {
		st = collect(w, oldest(w), wait_ms, err);
		if (st == ORC_FATAL && orc_consumer_fenced(w->consumer))
			return rejoin(w, err);
		if (st != ORC_OK)
			return st;
	}
	orc_producer_poll(w->producer, 0);
	if (!holding(w))
		return ORC_OK;
	st = advance(w, DLQ_TURN_WAIT_MS, true, err);
	if (st == ORC_FATAL && orc_consumer_fenced(w->consumer))
		return rejoin(w, err); /* its offsets could not be stored */
	*n_messages = (size_t)(w->stats.batch_sum - before);
	return st;
}

bool
orc_worker_busy(const struct orc_worker *w)
{
	return holding(w);
}

enum orc_status
orc_worker_subscribe(struct orc_worker *w, const char *const *topics, size_t n,
		     struct orc_error *err)
{
	w->topics = topics;
	w->n_topics = n;
	return orc_consumer_subscribe(w->consumer, topics, n, err);
}

const struct orc_worker_stats *
orc_worker_stats(const struct orc_worker *w)
{
	return &w->stats;
}

const struct orc_consumer *
orc_worker_consumer(const struct orc_worker *w)
{
	return w->consumer;
}

void
orc_worker_destroy(struct orc_worker *w)
{
	if (w == NULL)
		return;
	if (w->consumer != NULL) {
		struct orc_error err;

		if (holding(w) && finish_all(w, &err) != ORC_OK)
			orc_log(ORC_LOG_WARN, "batch in hand not applied at exit",
				ORC_LOG_UINT("messages", w->b[0].n + w->b[1].n),
				ORC_LOG_ERR(&err));
		orc_consumer_on_revoke(w->consumer, NULL, NULL);
	}
	drop_all(w);
	orc_consumer_destroy(w->consumer);
	orc_producer_destroy(w->producer);
	for (int b = 0; b < 2; b++) {
		for (size_t i = 0; w->b[b].msgs != NULL && i < w->batch_size;
		     i++)
			free(w->b[b].msgs[i].headers);
		free(w->b[b].msgs);
		free(w->b[b].items);
	}
	for (int i = 0; i < 2; i++) {
		orc_apply_destroy(w->aps[i]);
		orc_store_destroy(w->stores[i]);
	}
	free(w->dlq_headers);
	free(w->dlq_topic);
	free(w);
}
