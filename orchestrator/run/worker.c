/*
 * worker.c - the consume, apply, acknowledge loop.
 *
 * The batch in hand lives in the worker between turns: messages, their
 * parsed events and header views, in arrays reused from batch to batch.
 * Its life: collected (polled), applied (committed in PostgreSQL), dead
 * letters published, offsets stored, freed.  Each stage is idempotent, so
 * a turn that fails at any stage simply starts over from the first stage
 * that is not done.
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
	struct orc_event ev;
	bool parsed;
	struct orc_error perr;
	/* every header, views into m; the array is kept between batches */
	struct orc_header *headers;
	size_t n_headers, cap_headers;
	enum dlq_level dlq_level;
	enum dlq_state dlq_state;
};

struct orc_worker {
	struct orc_apply *ap;
	const struct orc_config *cfg; /* to rejoin after fencing */
	const char *const *topics;
	size_t n_topics;
	struct orc_consumer *consumer;
	struct orc_producer *producer; /* dead-letter topic */
	char *dlq_topic;
	size_t batch_size;
	int linger_ms;

	struct msg *msgs;
	struct orc_apply_item *items;
	size_t n;
	bool applied;   /* the batch in hand is committed */
	bool published; /* its dead letters are acknowledged */
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
		refused(w, x, &w->items[x - w->msgs], err);
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
	w->ap = ap;
	w->cfg = cfg;
	w->topics = topics;
	w->n_topics = n_topics;
	w->batch_size = (size_t)orc_config_int(cfg, ORC_CFG_BATCH_SIZE);
	w->linger_ms = (int)orc_config_int(cfg, ORC_CFG_BATCH_LINGER_MS);
	snprintf(buf, sizeof(buf), "%s.dlq", group);
	w->dlq_topic = strdup(dlq ? dlq : buf);
	w->msgs = calloc(w->batch_size, sizeof(*w->msgs));
	w->items = calloc(w->batch_size, sizeof(*w->items));
	if (w->dlq_topic == NULL || w->msgs == NULL || w->items == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto fail;
	}
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
free_batch(struct orc_worker *w)
{
	for (size_t i = 0; i < w->n; i++) {
		struct msg *x = &w->msgs[i];
		struct orc_header *headers = x->headers;
		size_t cap = x->cap_headers;

		if (x->parsed)
			orc_event_finish(&x->ev);
		orc_kafka_message_destroy(x->m);
		memset(x, 0, sizeof(*x));
		x->headers = headers;
		x->cap_headers = cap;
	}
	w->n = 0;
	w->applied = false;
	w->published = false;
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
dlq_headers(struct orc_worker *w, size_t i, struct dlq_texts *t)
{
	static const char *const omitted[] = {
		[DLQ_NO_VALUE] = "value",
		[DLQ_BARE] = "value,key,headers",
	};
	const struct orc_apply_item *it = &w->items[i];
	const struct msg *x = &w->msgs[i];
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
send_dead(struct orc_worker *w, size_t i, struct orc_error *err)
{
	const struct orc_apply_item *it = &w->items[i];
	struct msg *x = &w->msgs[i];
	enum orc_status st;

	for (;;) {
		struct dlq_texts t;
		long nh = dlq_headers(w, i, &t);
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
publish_dead(struct orc_worker *w, int64_t wait_ms, bool *done,
	     struct orc_error *err)
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
		for (size_t i = 0; i < w->n; i++) {
			if (w->items[i].outcome != ORC_APPLY_DEAD ||
			    w->msgs[i].dlq_state != DLQ_UNSENT)
				continue;
			st = send_dead(w, i, err);
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

/*
 * Take the batch in hand as far as it goes, waiting at most dlq_wait_ms
 * for its dead letters' acknowledgements: the batch stays in hand (w->n
 * stays) until they are settled.
 */
static enum orc_status
advance(struct orc_worker *w, int64_t dlq_wait_ms, struct orc_error *err)
{
	enum orc_status st;

	if (w->n == 0)
		return ORC_OK;
	if (!w->applied) {
		int64_t t0 = orc_clock_mono_us(), us;

		st = orc_apply_events(w->ap, w->items, w->n, orc_clock_wall_ms(), err);
		if (st != ORC_OK)
			return st;
		w->applied = true;
		us = orc_clock_mono_us() - t0;
		w->stats.last_apply_us = (uint64_t)us;
		w->stats.apply_us_sum += (uint64_t)us;
		orc_log(ORC_LOG_DEBUG, "batch applied", ORC_LOG_UINT("events", w->n),
			ORC_LOG_INT("ms", us / 1000));
		for (size_t i = 0; i < w->n; i++)
			if (w->items[i].outcome == ORC_APPLY_DEAD)
				orc_log(ORC_LOG_WARN, "event dead-lettered",
					ORC_LOG_STR("topic", w->items[i].topic),
					ORC_LOG_INT("partition", w->items[i].partition),
					ORC_LOG_INT("offset", w->items[i].offset),
					ORC_LOG_STR("reason", w->items[i].reason));
	}
	if (!w->published) {
		bool done;

		st = publish_dead(w, dlq_wait_ms, &done, err);
		if (st != ORC_OK)
			return st;
		if (!done)
			return ORC_OK; /* a later turn goes on */
		w->published = true;
	}
	for (size_t i = 0; i < w->n; i++) {
		/*
		 * A partition revoked meanwhile refuses the store: its next
		 * owner replays the message, and the inbox absorbs it.
		 */
		orc_consumer_store(w->consumer, w->msgs[i].m, NULL);
	}
	w->stats.last_batch = w->n;
	w->stats.batch_sum += w->n;
	w->stats.batches++;
	free_batch(w);
	return ORC_OK;
}

/* The revoke hook: finish what we hold before partitions go. */
static void
finish_batch(void *ctx)
{
	struct orc_worker *w = ctx;
	struct orc_error err;

	if (w->n == 0 || w->in_revoke)
		return;
	w->in_revoke = true;
	/* with the whole wait, copies still unsettled are an error */
	if (advance(w, DLQ_WAIT_MAX_MS, &err) != ORC_OK) {
		/*
		 * Keep it and try again next turn: the revoked partitions'
		 * messages are replayed by their next owner (their offsets
		 * can no longer be stored), the others' must not be skipped.
		 */
		orc_log(ORC_LOG_WARN, "batch not finished before rebalance",
			ORC_LOG_UINT("messages", w->n), ORC_LOG_ERR(&err));
	}
	w->in_revoke = false;
}

/*
 * Add m to the batch in hand, parsed.  An event that cannot be read goes on
 * with its parse error, to be dead-lettered by apply; running out of memory
 * while reading it is not the event's fault: ORC_FATAL, the message is
 * let go (so neither it nor anything after it is applied) and the process
 * exits with its offset not stored: it is read again after the restart.
 */
static enum orc_status
take(struct orc_worker *w, struct orc_kafka_message *m, struct orc_error *err)
{
	enum orc_status st;
	struct msg *x = &w->msgs[w->n];
	struct orc_apply_item *it = &w->items[w->n];
	size_t total = orc_kafka_message_header_count(m);

	x->m = m;
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
	w->n++;
	w->stats.consumed++;
	return ORC_OK;
}

/*
 * The broker fenced our static membership: the consumer handle is dead.
 * Drop the batch in hand (nothing of it is stored: whoever owns its
 * partitions gets it again, and the inbox makes a second apply harmless),
 * make a new consumer and rejoin.  ORC_TRANSIENT, so the loop logs it once
 * (with the hint that names instance_id) and backs off; a consumer that
 * cannot be made again is the error of its creation.
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
	free_batch(w);
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

enum orc_status
orc_worker_turn(struct orc_worker *w, int wait_ms, size_t *n_messages,
		struct orc_error *err)
{
	enum orc_status st;
	int64_t deadline = 0;

	*n_messages = 0;
	if (w->n == 0) {
		/* Collect: the first message may take wait_ms, the rest linger. */
		while (w->n < w->batch_size) {
			struct orc_kafka_message *m = NULL;
			int timeout = 0;

			if (w->n == 0)
				timeout = wait_ms;
			else if (w->linger_ms > 0)
				timeout = (int)(deadline - orc_clock_mono_ms());
			if (timeout < 0)
				timeout = 0;
			st = orc_consumer_poll(w->consumer, timeout, &m, err);
			if (st == ORC_FATAL && orc_consumer_fenced(w->consumer))
				return rejoin(w, err);
			if (st != ORC_OK) {
				if (w->n == 0)
					return st;
				break;
			}
			if (m == NULL) {
				if (w->n == 0 || timeout == 0)
					break;
				continue;
			}
			if (w->n == 0)
				deadline = orc_clock_mono_ms() + w->linger_ms;
			if (take(w, m, err) != ORC_OK)
				return ORC_FATAL;
		}
	}
	orc_producer_poll(w->producer, 0);
	if (w->n == 0)
		return ORC_OK;
	{
		size_t n = w->n;

		st = advance(w, DLQ_TURN_WAIT_MS, err);
		if (st == ORC_FATAL && orc_consumer_fenced(w->consumer))
			return rejoin(w, err); /* its offsets could not be stored */
		if (st == ORC_OK && w->n == 0)
			*n_messages = n;
	}
	return st;
}

bool
orc_worker_busy(const struct orc_worker *w)
{
	return w->n > 0;
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

		if (w->n > 0 && advance(w, DLQ_WAIT_MAX_MS, &err) != ORC_OK)
			orc_log(ORC_LOG_WARN, "batch in hand not applied at exit",
				ORC_LOG_UINT("messages", w->n), ORC_LOG_ERR(&err));
		orc_consumer_on_revoke(w->consumer, NULL, NULL);
	}
	free_batch(w);
	orc_consumer_destroy(w->consumer);
	orc_producer_destroy(w->producer);
	for (size_t i = 0; w->msgs != NULL && i < w->batch_size; i++)
		free(w->msgs[i].headers);
	free(w->dlq_headers);
	free(w->msgs);
	free(w->items);
	free(w->dlq_topic);
	free(w);
}
