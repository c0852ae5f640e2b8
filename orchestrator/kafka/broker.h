/*
 * broker.h - Kafka, through librdkafka: a producer and a consumer.
 *
 * The only module that includes rdkafka.h.  librdkafka errors are mapped
 * to orc_status here, once: retriable errors are ORC_TRANSIENT, fatal ones
 * (an idempotent producer's fenced or out-of-sequence state) ORC_FATAL.
 *
 * The producer is idempotent (enable.idempotence=true, acks=all), so a
 * retried send never duplicates or reorders messages within a partition.
 * The consumer never stores offsets by itself (enable.auto.offset.store=
 * false): the caller stores a message's offset after the database commit
 * that applied it, and the stored offsets are committed in the background.
 * Partitions are assigned by range (even per topic) unless configured
 * otherwise; both eager and cooperative protocols are handled.
 *
 * Handles are not thread-safe beyond what librdkafka promises; use each
 * from one thread.
 */
#ifndef ORC_BROKER_H
#define ORC_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "envelope.h"
#include "error.h"

/* librdkafka's version, e.g. "2.0.2" (static string). */
const char *orc_broker_library_version(void);

/*
 * Called from orc_producer_poll()/flush() once per sent message with the
 * opaque given to orc_producer_send(), and ORC_OK once the broker
 * acknowledged it (err then is NULL) or the failure.  partition/offset are
 * where it was written (-1 on failure).
 */
typedef void orc_delivery_fn(void *opaque, enum orc_status status,
			     const char *err, int32_t partition, int64_t offset,
			     void *ctx);

struct orc_producer;

/*
 * Create an idempotent producer for cfg's brokers and Kafka passthrough
 * properties (cfg borrowed for the call).  dr (may be NULL) receives
 * delivery reports with ctx.  *out is new; free with orc_producer_destroy().
 */
enum orc_status orc_producer_create(const struct orc_config *cfg,
				    orc_delivery_fn *dr, void *ctx,
				    struct orc_producer **out,
				    struct orc_error *err);

/*
 * Queue one message (everything borrowed and copied).  A full local queue
 * is ORC_TRANSIENT: poll and try again.
 */
enum orc_status orc_producer_send(struct orc_producer *p, const char *topic,
				  const void *key, size_t key_len,
				  const struct orc_header *headers,
				  size_t n_headers, const void *value,
				  size_t value_len, void *opaque,
				  struct orc_error *err);

/*
 * Learn where topics[0..n) (borrowed) live before the first message to
 * them, waiting at most timeout_ms: otherwise the first batch to a topic
 * waits for a metadata round (up to a second).  Best effort: a topic that
 * does not answer is learned on first use as usual.
 */
void orc_producer_know_topics(struct orc_producer *p, const char *const *topics,
			      size_t n, int timeout_ms);

/* Serve delivery reports, waiting at most timeout_ms; returns how many. */
int orc_producer_poll(struct orc_producer *p, int timeout_ms);

/* Wait until every queued message is delivered or failed (reports served). */
enum orc_status orc_producer_flush(struct orc_producer *p, int timeout_ms,
				   struct orc_error *err);

/* Messages queued and not yet reported. */
int orc_producer_outstanding(struct orc_producer *p);

/* Flush briefly and free; accepts NULL. */
void orc_producer_destroy(struct orc_producer *p);

/* A consumed message: a view valid until orc_kafka_message_destroy(). */
struct orc_kafka_message {
	const char *topic;
	int32_t partition;
	int64_t offset;
	const void *key; /* NULL when the message has no key */
	size_t key_len;
	const void *value; /* NULL for a tombstone */
	size_t value_len;
	int64_t timestamp_ms; /* -1 when unknown */
	void *impl;
};

size_t orc_kafka_message_header_count(const struct orc_kafka_message *m);

/* The idx-th header (borrowed from m); false past the end. */
bool orc_kafka_message_header_at(const struct orc_kafka_message *m, size_t idx,
				 struct orc_header *out);

/* The last header named name (borrowed from m); false when absent. */
bool orc_kafka_message_header(const struct orc_kafka_message *m,
			      const char *name, struct orc_header *out);

void orc_kafka_message_destroy(struct orc_kafka_message *m);

/*
 * Make sure topics[0..n) (borrowed) exist, creating the missing ones with
 * the broker's default partitions and replication.  A consumer subscribed
 * to a topic that does not exist yet only sees it at its next metadata
 * refresh, so `run` creates what it subscribes to first.  Topics that
 * exist are fine; a broker that refuses (no permission, auto-creation off
 * by policy) is ORC_INVALID with the topic and the broker's reason.
 */
enum orc_status orc_broker_ensure_topics(const struct orc_config *cfg,
					 const char *const *topics, size_t n,
					 int timeout_ms, struct orc_error *err);

struct orc_consumer;

/*
 * The consumer's group.instance.id (static group membership): the
 * instance_id setting, else $POD_NAME, else $HOSTNAME; NULL (dynamic
 * membership) when none is set or it is empty.  Borrowed from cfg or the
 * environment.  Two live processes of one group must never share one: the
 * broker fences the older, which then fails fatally.
 */
const char *orc_consumer_instance_id(const struct orc_config *cfg);

/*
 * What the consumer knows of the cluster, for readiness and metrics: from
 * librdkafka's statistics (every statistics.interval.ms, 5 s by default;
 * kafka.statistics.interval.ms changes it), served inside
 * orc_consumer_poll() on the caller's thread.
 */
struct orc_consumer_health {
	int64_t stats_ms; /* CLOCK_MONOTONIC ms of the last statistics; 0: none yet */
	int brokers_up;   /* brokers (node ids) connected (state UP) in them;
			     bootstrap, internal and logical entries are not */
	int64_t up_ms;    /* the last statistics with a broker up; 0: never */
	int assigned;     /* partitions assigned to this member now */
};

void orc_consumer_health(const struct orc_consumer *c,
			 struct orc_consumer_health *out);

/* Called per assigned partition whose lag the last statistics knew. */
typedef void orc_partition_lag_fn(void *ctx, const char *topic,
				  int32_t partition, int64_t lag);

/* Every known consumer lag (messages behind the high watermark). */
void orc_consumer_each_lag(const struct orc_consumer *c,
			   orc_partition_lag_fn *fn, void *ctx);

/*
 * Create a consumer in group (borrowed) subscribed to topics[0..n)
 * (borrowed).  *out is new; free with orc_consumer_destroy().
 */
enum orc_status orc_consumer_create(const struct orc_config *cfg,
				    const char *group, const char *const *topics,
				    size_t n_topics, struct orc_consumer **out,
				    struct orc_error *err);

/*
 * Replace the subscription with topics[0..n) (borrowed); topics that do not
 * exist yet are created by the broker when it allows it, or picked up once
 * they exist.
 */
enum orc_status orc_consumer_subscribe(struct orc_consumer *c,
				       const char *const *topics,
				       size_t n_topics, struct orc_error *err);

/*
 * Call fn(ctx) from inside orc_consumer_poll() whenever partitions are
 * about to be taken away (a rebalance, or leaving the group), before they
 * go: the place to finish and commit the batch in hand and store its
 * offsets.  fn must not poll the consumer.
 */
void orc_consumer_on_revoke(struct orc_consumer *c, void (*fn)(void *ctx),
			    void *ctx);

/*
 * Wait at most timeout_ms for a message.  ORC_OK with *out new (free with
 * orc_kafka_message_destroy()), ORC_OK with *out NULL on timeout, or the
 * mapped failure of a consumer error.
 */
enum orc_status orc_consumer_poll(struct orc_consumer *c, int timeout_ms,
				  struct orc_kafka_message **out,
				  struct orc_error *err);

/* Mark m consumed: its offset + 1 is committed with the next commit. */
enum orc_status orc_consumer_store(struct orc_consumer *c,
				   const struct orc_kafka_message *m,
				   struct orc_error *err);

/* Commit the stored offsets now (synchronously). */
enum orc_status orc_consumer_commit(struct orc_consumer *c,
				    struct orc_error *err);

/* Leave the group cleanly (commits stored offsets) and free; accepts NULL. */
void orc_consumer_destroy(struct orc_consumer *c);

/*
 * True when the broker fenced this consumer's static membership (another
 * member joined with its group.instance.id, or the broker took a rejoin
 * after its own restart for one).  The handle is dead then: destroy it and
 * create another to rejoin.
 */
bool orc_consumer_fenced(const struct orc_consumer *c);

/*
 * ---- a group's committed offsets, moved by an operator ----
 *
 * For `orchestrator consumer seek`: a consumer with group.id group
 * (borrowed) that never joins it (manual assignment, nothing committed
 * by itself), so it can read and commit the group's offsets of one
 * partition.  Free it with orc_consumer_destroy().  A group whose members
 * are alive commits its own positions over these, or the broker refuses a
 * commit from outside: check orc_consumer_group_members() first.
 */
enum orc_status orc_consumer_create_outside(const struct orc_config *cfg,
					    const char *group,
					    struct orc_consumer **out,
					    struct orc_error *err);

/*
 * The group's member count and state (into state, size len; "Dead" when
 * the broker does not know it).
 */
enum orc_status orc_consumer_group_members(struct orc_consumer *c,
					   const char *group, int timeout_ms,
					   int *members, char *state,
					   size_t len, struct orc_error *err);

/* The group's committed offset of topic [partition] into *offset, or -1. */
enum orc_status orc_consumer_committed_offset(struct orc_consumer *c,
					      const char *topic,
					      int32_t partition, int timeout_ms,
					      int64_t *offset,
					      struct orc_error *err);

/*
 * The first offset topic [partition] still holds (*lo) and the one its
 * next message will have (*hi).
 */
enum orc_status orc_consumer_watermarks(struct orc_consumer *c,
					const char *topic, int32_t partition,
					int timeout_ms, int64_t *lo,
					int64_t *hi, struct orc_error *err);

/*
 * The message at offset of topic [partition] (or the next one, when a
 * transaction marker holds that offset) into *out (new:
 * orc_kafka_message_destroy()).  ORC_NOT_FOUND when the partition does
 * not hold offset (past its end, or deleted by retention).
 */
enum orc_status orc_consumer_fetch_at(struct orc_consumer *c, const char *topic,
				      int32_t partition, int64_t offset,
				      int timeout_ms,
				      struct orc_kafka_message **out,
				      struct orc_error *err);

/* Commit offset (the next one to read) of topic [partition] for the group. */
enum orc_status orc_consumer_commit_offset(struct orc_consumer *c,
					   const char *topic, int32_t partition,
					   int64_t offset,
					   struct orc_error *err);

#endif
