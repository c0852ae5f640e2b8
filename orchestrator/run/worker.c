/*
 * worker.c - the consume, apply, acknowledge loop.
 *
 * The batch in hand lives in the worker between turns: messages, their
 * parsed events and header views, in arrays reused from batch to batch.
 * Its life: collected (polled), applied (committed in PostgreSQL), dead
 * letters published, offsets stored, freed.  Each stage is idempotent, so
 * a turn that fails at any stage simply starts over from the first stage
 * that is not done.
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

#define MAX_HEADERS 32 /* per message; more are ignored for parsing */

struct msg {
	struct orc_kafka_message *m;
	struct orc_event ev;
	bool parsed;
	struct orc_error perr;
	struct orc_header headers[MAX_HEADERS];
	size_t n_headers;
};

struct orc_worker {
	struct orc_apply *ap;
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
	bool in_revoke;
	struct orc_worker_stats stats;
};

static void
on_dlq_delivery(void *opaque, enum orc_status status, const char *err,
		int32_t partition, int64_t offset, void *ctx)
{
	struct orc_worker *w = ctx;

	w->dlq_pending--;
	if (status != ORC_OK) {
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
		if (w->msgs[i].parsed)
			orc_event_finish(&w->msgs[i].ev);
		orc_kafka_message_destroy(w->msgs[i].m);
		memset(&w->msgs[i], 0, sizeof(w->msgs[i]));
	}
	w->n = 0;
	w->applied = false;
	w->published = false;
}

/* Publish the batch's dead letters and wait for the broker. */
static enum orc_status
publish_dead(struct orc_worker *w, struct orc_error *err)
{
	enum orc_status st;

	w->dlq_pending = 0;
	w->dlq_failed = 0;
	for (size_t i = 0; i < w->n; i++) {
		struct orc_apply_item *it = &w->items[i];
		struct orc_header h[MAX_HEADERS + 4];
		char partition[16], offset[24];
		size_t nh = 0;

		if (it->outcome != ORC_APPLY_DEAD)
			continue;
		for (size_t j = 0; j < w->msgs[i].n_headers; j++)
			h[nh++] = w->msgs[i].headers[j];
		snprintf(partition, sizeof(partition), "%d", (int)it->partition);
		snprintf(offset, sizeof(offset), "%lld", (long long)it->offset);
		h[nh++] = (struct orc_header){"orc_dlq_error", it->reason,
					      strlen(it->reason)};
		h[nh++] = (struct orc_header){"orc_dlq_topic", it->topic,
					      strlen(it->topic)};
		h[nh++] = (struct orc_header){"orc_dlq_partition", partition,
					      strlen(partition)};
		h[nh++] = (struct orc_header){"orc_dlq_offset", offset,
					      strlen(offset)};
		for (;;) {
			st = orc_producer_send(w->producer, w->dlq_topic, it->key,
					       it->key_len, h, nh, it->value,
					       it->value_len, NULL, err);
			if (st != ORC_TRANSIENT)
				break;
			orc_producer_poll(w->producer, 100); /* queue full */
		}
		if (st != ORC_OK)
			return st;
		w->dlq_pending++;
		w->stats.dead_published++;
	}
	if (w->dlq_pending == 0)
		return ORC_OK;
	st = orc_producer_flush(w->producer, 30000, err);
	if (st == ORC_OK && w->dlq_failed > 0)
		st = orc_error_set(err, ORC_TRANSIENT,
				   "%d dead letters not delivered to %s",
				   w->dlq_failed, w->dlq_topic);
	return st;
}

/* Take the batch in hand as far as it goes. */
static enum orc_status
advance(struct orc_worker *w, struct orc_error *err)
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
		st = publish_dead(w, err);
		if (st != ORC_OK)
			return st;
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
	if (advance(w, &err) != ORC_OK) {
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

	memset(x, 0, sizeof(*x));
	x->m = m;
	for (size_t j = 0; j < total && x->n_headers < MAX_HEADERS; j++)
		if (orc_kafka_message_header_at(m, j, &x->headers[x->n_headers]))
			x->n_headers++;
	st = orc_event_parse(&x->ev, m->value, m->value_len, m->key, m->key_len,
			     x->headers, x->n_headers, &x->perr);
	if (st == ORC_FATAL) { /* not in the batch: nothing after it is */
		if (err != NULL)
			*err = x->perr;
		orc_kafka_message_destroy(m);
		memset(x, 0, sizeof(*x));
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

		st = advance(w, err);
		if (st == ORC_OK)
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

		if (w->n > 0 && advance(w, &err) != ORC_OK)
			orc_log(ORC_LOG_WARN, "batch in hand not applied at exit",
				ORC_LOG_UINT("messages", w->n), ORC_LOG_ERR(&err));
		orc_consumer_on_revoke(w->consumer, NULL, NULL);
	}
	free_batch(w);
	orc_consumer_destroy(w->consumer);
	orc_producer_destroy(w->producer);
	free(w->msgs);
	free(w->items);
	free(w->dlq_topic);
	free(w);
}
