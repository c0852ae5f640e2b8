/*
 * broker.c - librdkafka producer and consumer.
 *
 * Configuration is built from the settings table plus the "kafka.*"
 * passthrough properties, which are applied last so an operator can
 * override anything (except what guarantees depend on: idempotence and
 * the manual offset store are set after them and cannot be turned off).
 */
#include "broker.h"
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "log.h"

struct orc_producer {
	rd_kafka_t *rk;
	orc_delivery_fn *dr;
	void *ctx;
	rd_kafka_topic_t **known; /* kept so their metadata stays cached */
	size_t n_known;
};

struct orc_consumer {
	rd_kafka_t *rk;
	void (*on_revoke)(void *ctx);
	void *revoke_ctx;
	bool warned_unknown_topic;
	json_t *stats; /* the last statistics (owned) */
	int64_t stats_ms;
	int brokers_up; /* real brokers UP in them (count_brokers_up) */
	int64_t up_ms;	/* the last statistics with one up; 0: never */
};

const char *
orc_broker_library_version(void)
{
	return rd_kafka_version_str();
}

static enum orc_status
map_error(rd_kafka_resp_err_t code)
{
	switch (code) {
	case RD_KAFKA_RESP_ERR_NO_ERROR:
		return ORC_OK;
	case RD_KAFKA_RESP_ERR__FATAL:
	case RD_KAFKA_RESP_ERR__FENCED:
	case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
		return ORC_FATAL;
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
		return ORC_INVALID;
	default:
		return ORC_TRANSIENT;
	}
}

/*
 * librdkafka's own log lines, through ours (so ORC_LOG_FORMAT applies to
 * them too).  Called from librdkafka's threads: orc_log() writes each
 * record with one write(2).
 */
static void
on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	enum orc_log_level l = level <= LOG_ERR	       ? ORC_LOG_ERROR
			       : level == LOG_WARNING ? ORC_LOG_WARN
			       : level <= LOG_INFO    ? ORC_LOG_INFO
						      : ORC_LOG_DEBUG;

	orc_log(l, "kafka", ORC_LOG_STR("client", rd_kafka_name(rk)),
		ORC_LOG_STR("facility", fac), ORC_LOG_STR("err", buf));
}

static enum orc_status
conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
	 struct orc_error *err)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK)
		return orc_error_set(err, ORC_INVALID,
				     "invalid kafka property %s=%s: %s", name,
				     value, errstr);
	return ORC_OK;
}

static enum orc_status
conf_set_all(rd_kafka_conf_t *conf, const char *const *kv,
	     struct orc_error *err)
{
	for (size_t i = 0; kv[i] != NULL; i += 2)
		if (conf_set(conf, kv[i], kv[i + 1], err) != ORC_OK)
			return ORC_INVALID;
	return ORC_OK;
}

/*
 * Our defaults, then the operator's passthrough properties, then the fixed
 * settings that our guarantees rest on.  Both lists are name, value, ...,
 * NULL.
 */
static rd_kafka_conf_t *
build_conf(const struct orc_config *cfg, const char *const *defaults,
	   const char *const *fixed, struct orc_error *err)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	rd_kafka_conf_set_log_cb(conf, on_log);
	if (conf_set(conf, "bootstrap.servers",
		     orc_config_str(cfg, ORC_CFG_KAFKA_BROKERS), err) != ORC_OK)
		goto fail;
	if (conf_set(conf, "client.id", "orchestrator", err) != ORC_OK ||
	    conf_set_all(conf, defaults, err) != ORC_OK)
		goto fail;
	for (int i = 0; i < cfg->n_kafka; i++)
		if (conf_set(conf, cfg->kafka_names[i], cfg->kafka_values[i],
			     err) != ORC_OK)
			goto fail;
	if (conf_set_all(conf, fixed, err) != ORC_OK)
		goto fail;
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/*
 * A librdkafka handle of type from conf (taken: freed here on failure,
 * owned by the handle on success); what names it in the error ("producer",
 * "consumer", "admin client").  NULL with err set when it cannot be made.
 */
static rd_kafka_t *
new_handle(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what,
	   struct orc_error *err)
{
	char errstr[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));

	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		orc_error_set(err, ORC_FATAL, "cannot create kafka %s: %s", what,
			      errstr);
	}
	return rk;
}

static enum orc_status map_produce_error(rd_kafka_resp_err_t code);

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct orc_producer *p = opaque;

	if (p->dr == NULL)
		return;
	if (m->err)
		p->dr(m->_private, map_produce_error(m->err),
		      rd_kafka_err2str(m->err),
		      -1, -1, p->ctx);
	else
		p->dr(m->_private, ORC_OK, NULL, m->partition, m->offset,
		      p->ctx);
}

enum orc_status
orc_producer_create(const struct orc_config *cfg, orc_delivery_fn *dr,
		    void *ctx, struct orc_producer **out, struct orc_error *err)
{
	/*
	 * linger.ms 0.5: a batch that waits for more messages adds that
	 * wait to every command's way out (README, "Performance"); under
	 * load the queue fills batches without it.
	 */
	static const char *const defaults[] = {
		"linger.ms", "0.5",
		NULL,
	};
	static const char *const fixed[] = {
		"enable.idempotence", "true",
		"acks", "all",
		NULL,
	};
	struct orc_producer *p;
	rd_kafka_conf_t *conf;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	p->dr = dr;
	p->ctx = ctx;
	conf = build_conf(cfg, defaults, fixed, err);
	if (conf == NULL) {
		free(p);
		return ORC_INVALID;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, p);
	p->rk = new_handle(RD_KAFKA_PRODUCER, conf, "producer", err);
	if (p->rk == NULL) {
		free(p);
		return ORC_FATAL;
	}
	*out = p;
	return ORC_OK;
}

enum orc_status
orc_producer_send(struct orc_producer *p, const char *topic, const void *key,
		  size_t key_len, const struct orc_header *headers,
		  size_t n_headers, const void *value, size_t value_len,
		  void *opaque, struct orc_error *err)
{
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_resp_err_t e;

	if (n_headers > 0) {
		hdrs = rd_kafka_headers_new(n_headers);
		for (size_t i = 0; i < n_headers; i++)
			rd_kafka_header_add(hdrs, headers[i].name, -1,
					    headers[i].value,
					    (ssize_t)headers[i].size);
	}
	e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
			      RD_KAFKA_V_KEY(key, key_len),
			      RD_KAFKA_V_VALUE((void *)value, value_len),
			      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			      RD_KAFKA_V_HEADERS(hdrs),
			      RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		/* On failure the headers were not taken over. */
		rd_kafka_headers_destroy(hdrs);
		return orc_error_set(err, map_produce_error(e),
				     "cannot produce to %s: %s", topic,
				     rd_kafka_err2str(e));
	}
	return ORC_OK;
}

void
orc_producer_know_topics(struct orc_producer *p, const char *const *topics,
			 size_t n, int timeout_ms)
{
	rd_kafka_topic_t **known = realloc(p->known,
					   (p->n_known + n) * sizeof(*known));

	if (known == NULL)
		return;
	p->known = known;
	for (size_t i = 0; i < n; i++) {
		rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topics[i], NULL);
		const struct rd_kafka_metadata *md = NULL;

		if (rkt == NULL)
			continue;
		if (rd_kafka_metadata(p->rk, 0, rkt, &md, timeout_ms) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR)
			rd_kafka_metadata_destroy(md);
		p->known[p->n_known++] = rkt;
	}
}

int
orc_producer_poll(struct orc_producer *p, int timeout_ms)
{
	return rd_kafka_poll(p->rk, timeout_ms);
}

int
orc_producer_outstanding(struct orc_producer *p)
{
	return rd_kafka_outq_len(p->rk);
}

enum orc_status
orc_producer_flush(struct orc_producer *p, int timeout_ms,
		   struct orc_error *err)
{
	rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);

	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		return orc_error_set(err, ORC_TRANSIENT,
				     "kafka flush: %d messages not delivered: %s",
				     rd_kafka_outq_len(p->rk),
				     rd_kafka_err2str(e));
	return ORC_OK;
}

void
orc_producer_destroy(struct orc_producer *p)
{
	if (p == NULL)
		return;
	rd_kafka_flush(p->rk, 5000);
	for (size_t i = 0; i < p->n_known; i++)
		rd_kafka_topic_destroy(p->known[i]);
	free(p->known);
	rd_kafka_destroy(p->rk);
	free(p);
}

enum orc_status
orc_broker_ensure_topics(const struct orc_config *cfg, const char *const *topics,
			 size_t n, int timeout_ms, struct orc_error *err)
{
	static const char *const none[] = {NULL};
	rd_kafka_conf_t *conf = build_conf(cfg, none, none, err);
	rd_kafka_NewTopic_t **nt = NULL;
	rd_kafka_queue_t *q = NULL;
	rd_kafka_event_t *ev = NULL;
	rd_kafka_t *rk = NULL;
	enum orc_status st = ORC_OK;
	char errstr[512];

	if (conf == NULL)
		return ORC_INVALID;
	rk = new_handle(RD_KAFKA_PRODUCER, conf, "admin client", err);
	if (rk == NULL)
		return ORC_FATAL;
	nt = calloc(n ? n : 1, sizeof(*nt));
	if (nt == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		nt[i] = rd_kafka_NewTopic_new(topics[i], -1, -1, errstr,
					      sizeof(errstr));
		if (nt[i] == NULL) {
			st = orc_error_set(err, ORC_INVALID, "topic \"%s\": %s",
					   topics[i], errstr);
			goto done;
		}
	}
	q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, nt, n, NULL, q);
	ev = rd_kafka_queue_poll(q, timeout_ms);
	if (ev == NULL) {
		st = orc_error_set(err, ORC_TRANSIENT,
				   "kafka did not answer CreateTopics in %d ms",
				   timeout_ms);
	} else if (rd_kafka_event_error(ev)) {
		st = orc_error_set(err, map_error(rd_kafka_event_error(ev)),
				   "cannot create topics: %s",
				   rd_kafka_event_error_string(ev));
	} else {
		const rd_kafka_CreateTopics_result_t *res =
			rd_kafka_event_CreateTopics_result(ev);
		size_t cnt = 0;
		const rd_kafka_topic_result_t **tr =
			rd_kafka_CreateTopics_result_topics(res, &cnt);

		for (size_t i = 0; i < cnt && st == ORC_OK; i++) {
			rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);

			if (e != RD_KAFKA_RESP_ERR_NO_ERROR &&
			    e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
				st = orc_error_set(err, e == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT
							      ? ORC_TRANSIENT
							      : ORC_INVALID,
						   "cannot create topic \"%s\": %s",
						   rd_kafka_topic_result_name(tr[i]),
						   rd_kafka_topic_result_error_string(tr[i]));
		}
	}
done:
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	if (q != NULL)
		rd_kafka_queue_destroy(q);
	for (size_t i = 0; nt != NULL && i < n; i++)
		if (nt[i] != NULL)
			rd_kafka_NewTopic_destroy(nt[i]);
	free(nt);
	rd_kafka_destroy(rk);
	return st;
}

/* ---- consumer ---- */

size_t
orc_kafka_message_header_count(const struct orc_kafka_message *m)
{
	rd_kafka_headers_t *hdrs;

	if (rd_kafka_message_headers(m->impl, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;
	return rd_kafka_header_cnt(hdrs);
}

bool
orc_kafka_message_header_at(const struct orc_kafka_message *m, size_t idx,
			    struct orc_header *out)
{
	rd_kafka_headers_t *hdrs;

	if (rd_kafka_message_headers(m->impl, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	return rd_kafka_header_get_all(hdrs, idx, &out->name, &out->value,
				       &out->size) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

bool
orc_kafka_message_header(const struct orc_kafka_message *m, const char *name,
			 struct orc_header *out)
{
	rd_kafka_headers_t *hdrs;

	if (rd_kafka_message_headers(m->impl, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	if (rd_kafka_header_get_last(hdrs, name, &out->value, &out->size) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	out->name = name;
	return true;
}

void
orc_kafka_message_destroy(struct orc_kafka_message *m)
{
	if (m == NULL)
		return;
	rd_kafka_message_destroy(m->impl);
	free(m);
}

/*
 * Hand partitions over only after the owner of the batch in hand had its
 * say.  Cooperative protocols add and remove partitions incrementally;
 * eager ones replace the whole assignment.
 */
static void
on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
	     rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct orc_consumer *c = opaque;
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

	orc_log(ORC_LOG_INFO,
		e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "partitions assigned"
							  : "partitions revoked",
		ORC_LOG_INT("count", parts->cnt));
	if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (coop)
			rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
		else
			rd_kafka_assign(rk, parts);
		return;
	}
	if (c->on_revoke != NULL)
		c->on_revoke(c->revoke_ctx);
	if (coop)
		rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
	else
		rd_kafka_assign(rk, NULL);
}

/*
 * Whether the statistics entry b is a broker of the cluster (a "learned"
 * or "configured" entry with a node id) connected now; its id in *node.
 * The statistics also list the bootstrap connections (node id -1, until
 * the address turns out to be a known broker), the internal broker and
 * the logical ones (the group coordinator is a second handle on a real
 * broker): none of those is one.
 */
static bool
real_broker_up(json_t *b, json_int_t *node)
{
	const char *state = json_string_value(json_object_get(b, "state"));
	const char *src = json_string_value(json_object_get(b, "source"));
	json_t *id = json_object_get(b, "nodeid");

	if (state == NULL || strcmp(state, "UP") != 0 || src == NULL ||
	    (strcmp(src, "learned") != 0 && strcmp(src, "configured") != 0) ||
	    !json_is_integer(id) || json_integer_value(id) < 0)
		return false;
	*node = json_integer_value(id);
	return true;
}

/* The cluster's brokers whose connection is UP, each node id once. */
static int
count_brokers_up(json_t *stats)
{
	json_t *brokers = json_object_get(stats, "brokers"), *b, *e;
	const char *name, *other;
	json_int_t node, seen;
	int up = 0;

	json_object_foreach(brokers, name, b) {
		bool again = false;

		if (!real_broker_up(b, &node))
			continue;
		json_object_foreach(brokers, other, e) {
			if (e == b)
				break;
			if (real_broker_up(e, &seen) && seen == node)
				again = true;
		}
		if (!again)
			up++;
	}
	return up;
}

/* Keep the statistics (served by rd_kafka_consumer_poll(), our thread). */
static int
on_stats(rd_kafka_t *rk, char *text, size_t len, void *opaque)
{
	struct orc_consumer *c = opaque;
	json_t *stats = json_loadb(text, len, 0, NULL);
	if (stats == NULL)
		return 0;
	json_decref(c->stats);
	c->stats = stats;
	c->stats_ms = orc_clock_mono_ms();
	c->brokers_up = count_brokers_up(stats);
	if (c->brokers_up > 0)
		c->up_ms = c->stats_ms;
	return 0; /* librdkafka frees text */
}

void
orc_consumer_health(const struct orc_consumer *c,
		    struct orc_consumer_health *out)
{
	rd_kafka_topic_partition_list_t *parts = NULL;

	out->stats_ms = c->stats_ms;
	out->brokers_up = c->brokers_up;
	out->up_ms = c->up_ms;
	out->assigned = 0;
	if (rd_kafka_assignment(c->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		out->assigned = parts->cnt;
		rd_kafka_topic_partition_list_destroy(parts);
	}
}

void
orc_consumer_each_lag(const struct orc_consumer *c, orc_partition_lag_fn *fn,
		      void *ctx)
{
	const char *topic, *part;
	json_t *t, *p;

	json_object_foreach(json_object_get(c->stats, "topics"), topic, t) {
		json_object_foreach(json_object_get(t, "partitions"), part, p) {
			json_t *lag = json_object_get(p, "consumer_lag");
			int32_t partition = (int32_t)strtol(part, NULL, 10);

			/* -1: the unassigned pseudo-partition; lag -1: unknown */
			if (partition < 0 || !json_is_integer(lag) ||
			    json_integer_value(lag) < 0)
				continue;
			fn(ctx, topic, partition, json_integer_value(lag));
		}
	}
}

void
orc_consumer_on_revoke(struct orc_consumer *c, void (*fn)(void *ctx), void *ctx)
{
	c->on_revoke = fn;
	c->revoke_ctx = ctx;
}

enum orc_status
orc_consumer_subscribe(struct orc_consumer *c, const char *const *topics,
		       size_t n_topics, struct orc_error *err)
{
	rd_kafka_topic_partition_list_t *subs;
	rd_kafka_resp_err_t e;

	subs = rd_kafka_topic_partition_list_new((int)n_topics);
	for (size_t i = 0; i < n_topics; i++)
		rd_kafka_topic_partition_list_add(subs, topics[i],
						  RD_KAFKA_PARTITION_UA);
	e = rd_kafka_subscribe(c->rk, subs);
	rd_kafka_topic_partition_list_destroy(subs);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		return orc_error_set(err, map_error(e), "cannot subscribe: %s",
				     rd_kafka_err2str(e));
	return ORC_OK;
}

/*
 * session.timeout.ms from the settings, and a heartbeat a third of it (at
 * most librdkafka's 3 s), so that two lost heartbeats do not end the
 * session.
 */
static void
session_conf(const struct orc_config *cfg, char *session, char *heartbeat,
	     size_t len)
{
	int64_t ms = orc_config_int(cfg, ORC_CFG_SESSION_TIMEOUT_MS);
	int64_t beat = ms / 3 < 3000 ? ms / 3 : 3000;

	snprintf(session, len, "%lld", (long long)ms);
	snprintf(heartbeat, len, "%lld", (long long)beat);
}

const char *
orc_consumer_instance_id(const struct orc_config *cfg)
{
	const char *id = orc_config_str(cfg, ORC_CFG_INSTANCE_ID);

	if (id == NULL)
		id = getenv("POD_NAME");
	if (id == NULL)
		id = getenv("HOSTNAME");
	return id != NULL && id[0] != '\0' ? id : NULL;
}

enum orc_status
orc_consumer_create(const struct orc_config *cfg, const char *group,
		    const char *const *topics, size_t n_topics,
		    struct orc_consumer **out, struct orc_error *err)
{
	char session[24], heartbeat[24];
	const char *instance = orc_consumer_instance_id(cfg);
	const char *defaults[] = {
		"auto.offset.reset", "earliest",
		/*
		 * range spreads every topic's partitions evenly over the
		 * group: each process gets its share of the triggers and of
		 * the replies.  cooperative-sticky evens out the count over
		 * all topics, so one process could hold every trigger
		 * partition and another none (README, "Scaling on one
		 * machine").  The price is an eager rebalance: every member
		 * finishes its batch and hands everything back for a moment.
		 */
		"partition.assignment.strategy", "range",
		"allow.auto.create.topics", "true",
		/* pick up subscribed topics created after we started */
		"topic.metadata.refresh.interval.ms", "10000",
		/* broker state and consumer lag (orc_consumer_health) */
		"statistics.interval.ms", "5000",
		"session.timeout.ms", session,
		"heartbeat.interval.ms", heartbeat,
		/* last: without an instance id the list ends here */
		"group.instance.id", instance,
		NULL,
	};
	const char *fixed[] = {
		"group.id", group,
		"enable.auto.offset.store", "false",
		NULL,
	};
	struct orc_consumer *c;
	rd_kafka_conf_t *conf;

	*out = NULL;
	session_conf(cfg, session, heartbeat, sizeof(session));
	if (instance == NULL)
		defaults[sizeof(defaults) / sizeof(defaults[0]) - 3] = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	conf = build_conf(cfg, defaults, fixed, err);
	if (conf == NULL) {
		free(c);
		return ORC_INVALID;
	}
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_stats_cb(conf, on_stats);
	rd_kafka_conf_set_opaque(conf, c);
	c->rk = new_handle(RD_KAFKA_CONSUMER, conf, "consumer", err);
	if (c->rk == NULL) {
		free(c);
		return ORC_FATAL;
	}
	rd_kafka_poll_set_consumer(c->rk);
	if (orc_consumer_subscribe(c, topics, n_topics, err) != ORC_OK) {
		enum orc_status st = err ? err->status : ORC_FATAL;

		orc_consumer_destroy(c);
		return st;
	}
	orc_log(ORC_LOG_INFO, "kafka consumer",
		ORC_LOG_STR("membership", instance ? "static" : "dynamic"),
		ORC_LOG_STR_OPT("instance_id", instance),
		ORC_LOG_STR("session_timeout_ms", session));
	*out = c;
	return ORC_OK;
}

enum orc_status
orc_consumer_poll(struct orc_consumer *c, int timeout_ms,
		  struct orc_kafka_message **out, struct orc_error *err)
{
	rd_kafka_message_t *rm = rd_kafka_consumer_poll(c->rk, timeout_ms);
	struct orc_kafka_message *m;

	*out = NULL;
	if (rm == NULL)
		return ORC_OK;
	if (rm->err) {
		enum orc_status st = ORC_OK;

		/*
		 * A subscribed topic that does not exist yet is normal (a
		 * definition names it before anyone produced to it).
		 */
		if (rm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
			rd_kafka_message_destroy(rm);
			return ORC_OK;
		}
		if (rm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			st = orc_error_set(err, map_error(rm->err),
					   "kafka consumer: %s",
					   rd_kafka_message_errstr(rm));
		if (rm->err == RD_KAFKA_RESP_ERR__FATAL &&
		    rd_kafka_fatal_error(c->rk, NULL, 0) ==
			RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID)
			orc_error_hint(err, "Another process of the group runs"
				       " with the same instance_id: give each"
				       " process its own (setting instance_id).");
		rd_kafka_message_destroy(rm);
		return st;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		rd_kafka_message_destroy(rm);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	m->impl = rm;
	m->topic = rd_kafka_topic_name(rm->rkt);
	m->partition = rm->partition;
	m->offset = rm->offset;
	m->key = rm->key;
	m->key_len = rm->key_len;
	m->value = rm->payload;
	m->value_len = rm->len;
	m->timestamp_ms = rd_kafka_message_timestamp(rm, NULL);
	*out = m;
	return ORC_OK;
}

enum orc_status
orc_consumer_store(struct orc_consumer *c, const struct orc_kafka_message *m,
		   struct orc_error *err)
{
	rd_kafka_resp_err_t e = rd_kafka_offset_store(
		((rd_kafka_message_t *)m->impl)->rkt, m->partition, m->offset);

	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		return orc_error_set(err, map_error(e),
				     "cannot store offset %s [%d] @ %lld: %s",
				     m->topic, (int)m->partition,
				     (long long)m->offset, rd_kafka_err2str(e));
	return ORC_OK;
}

enum orc_status
orc_consumer_commit(struct orc_consumer *c, struct orc_error *err)
{
	rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, NULL, 0);

	if (e != RD_KAFKA_RESP_ERR_NO_ERROR &&
	    e != RD_KAFKA_RESP_ERR__NO_OFFSET)
		return orc_error_set(err, map_error(e), "kafka commit: %s",
				     rd_kafka_err2str(e));
	return ORC_OK;
}

void
orc_consumer_destroy(struct orc_consumer *c)
{
	if (c == NULL)
		return;
	/*
	 * With cooperative-sticky (which may be configured), librdkafka 2.0's
	 * close does not send LeaveGroup, so the group would wait a session
	 * timeout before handing our partitions on: unsubscribe (which
	 * leaves) and let it complete first.
	 */
	rd_kafka_unsubscribe(c->rk);
	for (int i = 0; i < 50; i++) {
		rd_kafka_topic_partition_list_t *parts = NULL;
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 20);
		int n;

		/* not stored, so redelivered to whoever takes the partition */
		if (m != NULL)
			rd_kafka_message_destroy(m);
		if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
			break;
		n = parts->cnt;
		rd_kafka_topic_partition_list_destroy(parts);
		if (n == 0)
			break;
	}
	rd_kafka_consumer_close(c->rk);
	rd_kafka_destroy(c->rk);
	json_decref(c->stats);
	free(c);
}

/*
 * What a failed produce or delivery means for that one message, decided
 * per error: ORC_INVALID when sending it again can never succeed (the
 * relay quarantines the row and goes on), ORC_FATAL when the producer
 * itself is unusable (exit, restart), ORC_TRANSIENT for everything else
 * (the row is published again later).  A topic that does not exist or
 * that we may not write is permanent for the row: librdkafka reports it
 * only after its own retries (topic.metadata.propagation.max.ms,
 * message.timeout.ms), and an operator moves the row back once the topic
 * or the ACL is fixed.
 */
static enum orc_status
map_produce_error(rd_kafka_resp_err_t code)
{
	switch (code) {
	case RD_KAFKA_RESP_ERR_NO_ERROR:
		return ORC_OK;
	/* the message itself */
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE: /* local or the broker's */
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR__BAD_MSG:
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
	/* its topic */
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION: /* an invalid name */
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
		return ORC_INVALID;
	/* the producer: fenced, out of sequence, not allowed to produce */
	case RD_KAFKA_RESP_ERR__FATAL:
	case RD_KAFKA_RESP_ERR__FENCED:
	case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
		return ORC_FATAL;
	/*
	 * Everything else passes: the broker away (__TRANSPORT,
	 * __ALL_BROKERS_DOWN, __MSG_TIMED_OUT), leadership moving
	 * (NOT_LEADER_FOR_PARTITION), too few replicas, a full local queue
	 * (__QUEUE_FULL), messages purged at shutdown.
	 */
	default:
		return ORC_TRANSIENT;
	}
}

/* ---- a group's committed offsets, moved by an operator ---- */

enum orc_status
orc_consumer_create_outside(const struct orc_config *cfg, const char *group,
			    struct orc_consumer **out, struct orc_error *err)
{
	static const char *const none[] = {NULL};
	const char *fixed[] = {
		"group.id", group,
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		/* an offset retention deleted is an error, not a jump */
		"auto.offset.reset", "error",
		NULL,
	};
	struct orc_consumer *c = calloc(1, sizeof(*c));
	rd_kafka_conf_t *conf;

	*out = NULL;
	if (c == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	conf = build_conf(cfg, none, fixed, err);
	if (conf == NULL) {
		free(c);
		return ORC_INVALID;
	}
	c->rk = new_handle(RD_KAFKA_CONSUMER, conf, "consumer", err);
	if (c->rk == NULL) {
		free(c);
		return ORC_FATAL;
	}
	rd_kafka_poll_set_consumer(c->rk);
	*out = c;
	return ORC_OK;
}

enum orc_status
orc_consumer_group_members(struct orc_consumer *c, const char *group,
			   int timeout_ms, int *members, char *state,
			   size_t len, struct orc_error *err)
{
	const struct rd_kafka_group_list *gl = NULL;
	rd_kafka_resp_err_t e;

	*members = 0;
	snprintf(state, len, "%s", "Dead");
	e = rd_kafka_list_groups(c->rk, group, &gl, timeout_ms);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		return orc_error_set(err, map_error(e),
				     "cannot describe consumer group \"%s\": %s",
				     group, rd_kafka_err2str(e));
	for (int i = 0; i < gl->group_cnt; i++) {
		if (strcmp(gl->groups[i].group, group) != 0)
			continue;
		/* a coordinator still loading must not read as "no members" */
		e = gl->groups[i].err;
		*members = gl->groups[i].member_cnt;
		snprintf(state, len, "%s", gl->groups[i].state);
	}
	rd_kafka_group_list_destroy(gl);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		return orc_error_set(err, map_error(e),
				     "cannot describe consumer group \"%s\": %s",
				     group, rd_kafka_err2str(e));
	return ORC_OK;
}

/* A one-element partition list of topic [partition] at offset. */
static rd_kafka_topic_partition_list_t *
one_partition(const char *topic, int32_t partition, int64_t offset)
{
	rd_kafka_topic_partition_list_t *l;

	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
	return l;
}

enum orc_status
orc_consumer_committed_offset(struct orc_consumer *c, const char *topic,
			      int32_t partition, int timeout_ms,
			      int64_t *offset, struct orc_error *err)
{
	rd_kafka_topic_partition_list_t *l =
		one_partition(topic, partition, RD_KAFKA_OFFSET_INVALID);
	rd_kafka_resp_err_t e = rd_kafka_committed(c->rk, l, timeout_ms);

	if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
		e = l->elems[0].err;
	*offset = l->elems[0].offset >= 0 ? l->elems[0].offset : -1;
	rd_kafka_topic_partition_list_destroy(l);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		return orc_error_set(err, map_error(e),
				     "cannot read the committed offset of "
				     "%s [%d]: %s", topic, (int)partition,
				     rd_kafka_err2str(e));
	return ORC_OK;
}

enum orc_status
orc_consumer_watermarks(struct orc_consumer *c, const char *topic,
			int32_t partition, int timeout_ms, int64_t *lo,
			int64_t *hi, struct orc_error *err)
{
	rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
		c->rk, topic, partition, lo, hi, timeout_ms);

	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		return orc_error_set(err, map_error(e),
				     "cannot read the offsets of %s [%d]: %s",
				     topic, (int)partition, rd_kafka_err2str(e));
	return ORC_OK;
}

enum orc_status
orc_consumer_fetch_at(struct orc_consumer *c, const char *topic,
		      int32_t partition, int64_t offset, int timeout_ms,
		      struct orc_kafka_message **out, struct orc_error *err)
{
	rd_kafka_topic_partition_list_t *l;
	int64_t lo = 0, hi = 0, deadline = orc_clock_mono_ms() + timeout_ms;
	rd_kafka_resp_err_t e;
	enum orc_status st;

	*out = NULL;
	st = orc_consumer_watermarks(c, topic, partition, timeout_ms, &lo, &hi,
				     err);
	if (st != ORC_OK)
		return st;
	if (offset < lo || offset >= hi)
		return orc_error_set(err, ORC_NOT_FOUND,
				     "%s [%d] holds offsets %lld to %lld, "
				     "not %lld", topic, (int)partition,
				     (long long)lo, (long long)hi - 1,
				     (long long)offset);
	l = one_partition(topic, partition, offset);
	e = rd_kafka_assign(c->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		return orc_error_set(err, map_error(e),
				     "cannot assign %s [%d]: %s", topic,
				     (int)partition, rd_kafka_err2str(e));
	while (st == ORC_OK && *out == NULL &&
	       orc_clock_mono_ms() < deadline) {
		struct orc_kafka_message *m;

		st = orc_consumer_poll(c, 100, &m, err);
		/* offsets a transaction's markers take hold no message */
		if (m != NULL && m->offset >= offset)
			*out = m;
		else
			orc_kafka_message_destroy(m);
	}
	rd_kafka_assign(c->rk, NULL);
	if (st == ORC_OK && *out == NULL)
		st = orc_error_set(err, ORC_TRANSIENT,
				   "no message from %s [%d] at offset %lld "
				   "within %d ms", topic, (int)partition,
				   (long long)offset, timeout_ms);
	return st;
}

enum orc_status
orc_consumer_commit_offset(struct orc_consumer *c, const char *topic,
			   int32_t partition, int64_t offset,
			   struct orc_error *err)
{
	rd_kafka_topic_partition_list_t *l =
		one_partition(topic, partition, offset);
	rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, l, 0);

	if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
		e = l->elems[0].err;
	rd_kafka_topic_partition_list_destroy(l);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		return orc_error_set(err, map_error(e),
				     "cannot commit offset %lld of %s [%d]: %s",
				     (long long)offset, topic, (int)partition,
				     rd_kafka_err2str(e));
	return ORC_OK;
}

bool
orc_consumer_fenced(const struct orc_consumer *c)
{
	return c != NULL && rd_kafka_fatal_error(c->rk, NULL, 0) ==
				    RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID;
}
