/*
 * responder.c - an example microservice for tests, demos and benchmarks.
 *
 * It is written the way a service team that never read the orchestrator's
 * code would write one: plain librdkafka and jansson, only the public message
 * contract (README, "Messages").  It consumes commands (CloudEvents 1.0,
 * Kafka binary mode: ce_* headers, JSON value) and answers each one on the
 * topic its ce_replyto header names, as the --rule for its ce_type says:
 * at once, after a delay, at random, after N failures, or never.
 *
 * Guarantees: at-least-once.  Offsets are stored only when a command is
 * settled: its reply was acknowledged by the broker, or it was deliberately
 * left unanswered, or it was malformed and skipped.  A partition's stored
 * offset never passes a command that is still unsettled (a delayed reply, a
 * reply in flight), so a crash or a rebalance redelivers it.  The reply
 * producer is idempotent and never flushed per message; one thread polls
 * both handles, and delays wait in a heap ordered by due time, so a slow
 * rule never blocks the consumer.
 *
 * It must not: include any orchestrator header, or block on a single reply.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#define DEFAULT_REPLY_TOPIC "orchestrator.replies"
#define DEFAULT_NAME "responder"
#define POLL_MAX_MS 100	     /* longest idle wait of one loop turn */
#define BATCH_MAX 1000	     /* commands handled per loop turn */
#define FLUSH_TIMEOUT_MS 30000 /* shutdown / revoke: wait for acks */
#define SILENCE "silence"

static volatile sig_atomic_t stop_requested;

enum action_kind {
	ACT_SUCCEED,
	ACT_FAIL,
	ACT_RANDOM,
	ACT_DELAY,
	ACT_NEVER,
	ACT_FAIL_FIRST,
};

/* One --rule (or the --default).  All strings owned. */
struct rule {
	char *type;	  /* command ce_type; NULL for the default */
	enum action_kind kind;
	char *reply;	  /* reply type; the success type of random/fail-first */
	char *fail_reply; /* random/fail-first failure type; NULL = silence */
	double pct;	  /* random: probability of fail_reply, 0..100 */
	int64_t delay_ms; /* delay */
	int64_t first_n; /* fail-first */
	json_t *extra;	  /* object merged into the reply data, or NULL */
};

/*
 * Settlement tracking for one assigned partition: the offsets consumed and not
 * yet stored, in order, each with a done flag.  The stored offset advances
 * over the done prefix only.  Structs live until exit (acks in flight point at
 * them); the epoch changes whenever the ring is reset, so a late ack for a
 * previous assignment is ignored.
 */
struct inflight {
	int64_t offset;
	bool done;
};

struct part {
	char *topic;
	int32_t partition;
	uint32_t epoch;
	bool active;
	struct inflight *ring;
	size_t cap, head, len;
	int64_t store_offset;
	bool dirty;
};

/* What a reply settles: the msg_opaque of a produced reply.  */
struct ack {
	struct part *part;
	uint32_t epoch;
	int64_t offset;
};

/* A reply waiting to be produced.  Strings owned; type and extra borrowed from
 * the rule. */
struct reply {
	int64_t due_ms;
	uint64_t seq;
	char *topic;
	void *key;
	size_t key_len;
	const char *type;
	const json_t *extra;
	char *command_id;
	char *command_type;
	char *sagaid;
	char *sagastep;
	char *traceparent;
	struct ack ack;
};

enum prop_target { PROP_BOTH, PROP_PRODUCER, PROP_CONSUMER };

struct kafka_prop {
	enum prop_target target;
	char *name;
	char *value;
};

struct options {
	const char *brokers;
	const char *group;
	const char *topics;
	const char *reply_topic;
	const char *name;
	uint64_t seed;
	int64_t max_messages;
	double duration_s;
	double stats_interval_s;
	struct kafka_prop *props;
	size_t nprops;
};

struct counters {
	uint64_t consumed;	  /* command messages received */
	uint64_t produced;	  /* replies handed to the producer */
	uint64_t replied;	  /* replies acknowledged by the broker */
	uint64_t silent;	  /* commands a rule chose not to answer */
	uint64_t unhandled;	  /* commands with no rule of their own */
	uint64_t ignored;	  /* commands never answered (any reason) */
	uint64_t malformed;	  /* commands skipped as invalid */
	uint64_t failed;	  /* replies the producer could not deliver */
	uint64_t dropped_delays;  /* delayed replies discarded at revoke/exit */
};

struct responder {
	struct options opt;
	struct rule *rules;
	size_t nrules;
	struct rule deflt;
	rd_kafka_t *consumer;
	rd_kafka_t *producer;
	struct part **parts;
	size_t nparts;
	struct part *last_part;
	struct reply **heap;
	size_t heap_len, heap_cap;
	uint64_t seq;
	json_t *first_counts; /* "sagaid\nsagastep" -> commands seen */
	uint64_t rng;
	uint64_t next_id;
	long pid;
	char *source;
	bool fatal;
	int64_t dr_log_ms;	/* last delivery error logged */
	uint64_t dr_suppressed; /* delivery errors not logged since */
	struct counters n;
};

/* ------------------------------------------------------------ utilities */

static void log_line(const char *level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static const char *log_name = DEFAULT_NAME;

/* One logfmt record per line on stderr.  */
static void
log_line(const char *level, const char *fmt, ...)
{
	char buf[1024];
	int off;
	va_list ap;

	off = snprintf(buf, sizeof(buf), "level=%s app=responder name=%s ",
		       level, log_name);
	if (off < 0 || (size_t)off >= sizeof(buf))
		off = 0;
	va_start(ap, fmt);
	vsnprintf(buf + off, sizeof(buf) - (size_t)off, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", buf);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		fputs("responder: out of memory\n", stderr);
		abort();
	}
	return p;
}

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL) {
		fputs("responder: out of memory\n", stderr);
		abort();
	}
	return p;
}

static char *
xstrndup(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 3339 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z.  */
static void
format_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

/* splitmix64: small, seedable, good enough for test decisions.  */
static uint64_t
rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static bool
parse_i64(const char *s, int64_t min, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min)
		return false;
	*out = v;
	return true;
}

static bool
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s == '-')
		return false;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool
parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max))
		return false;
	*out = v;
	return true;
}

/* ---------------------------------------------------------------- rules */

static void
rule_finish(struct rule *rule)
{
	free(rule->type);
	free(rule->reply);
	free(rule->fail_reply);
	json_decref(rule->extra);
	memset(rule, 0, sizeof(*rule));
}

/* Split text at ':' into at most max fields (pointers into text, which is
 * modified).  Returns the number of fields, or max + 1 when there are more. */
static size_t
split_fields(char *text, char **fields, size_t max)
{
	size_t n = 0;
	char *p = text;

	for (;;) {
		char *colon = strchr(p, ':');

		if (n == max)
			return max + 1;
		fields[n++] = p;
		if (colon == NULL)
			return n;
		*colon = '\0';
		p = colon + 1;
	}
}

static bool
nonempty(char **fields, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		if (fields[i][0] == '\0')
			return false;
	}
	return true;
}

/*
 * Parse ACTION[+{json}] into rule (type left untouched).  On failure writes a
 * message to err and leaves rule partly filled; the caller finishes it.
 */
static bool
parse_action(const char *text, struct rule *rule, char *err, size_t errlen)
{
	char *copy = xstrdup(text);
	char *plus = strstr(copy, "+{");
	char *f[5];
	size_t n;
	bool ok = false;

	if (plus != NULL) {
		json_error_t jerr;

		*plus = '\0';
		rule->extra = json_loads(plus + 1, 0, &jerr);
		if (rule->extra == NULL || !json_is_object(rule->extra)) {
			snprintf(err, errlen, "extra data is not a JSON object: %s",
				 rule->extra == NULL ? jerr.text : "not an object");
			goto done;
		}
	}
	n = split_fields(copy, f, 4);
	if (n > 4)
		goto bad;
	if (strcmp(f[0], "succeed") == 0 || strcmp(f[0], "fail") == 0) {
		if (n != 2 || !nonempty(f, 1, 2))
			goto bad;
		rule->kind = f[0][0] == 's' ? ACT_SUCCEED : ACT_FAIL;
		rule->reply = xstrdup(f[1]);
	} else if (strcmp(f[0], "random") == 0) {
		if (n != 4 || !nonempty(f, 1, 4) ||
		    !parse_double(f[1], 0, 100, &rule->pct))
			goto bad;
		rule->kind = ACT_RANDOM;
		if (strcmp(f[2], SILENCE) != 0)
			rule->fail_reply = xstrdup(f[2]);
		rule->reply = xstrdup(f[3]);
	} else if (strcmp(f[0], "delay") == 0) {
		if (n != 3 || !nonempty(f, 1, 3) ||
		    !parse_i64(f[1], 0, &rule->delay_ms))
			goto bad;
		rule->kind = ACT_DELAY;
		rule->reply = xstrdup(f[2]);
	} else if (strcmp(f[0], "never") == 0) {
		if (n != 1)
			goto bad;
		rule->kind = ACT_NEVER;
	} else if (strcmp(f[0], "fail-first") == 0) {
		if (n != 4 || !nonempty(f, 1, 4) ||
		    !parse_i64(f[1], 0, &rule->first_n))
			goto bad;
		rule->kind = ACT_FAIL_FIRST;
		if (strcmp(f[2], SILENCE) != 0)
			rule->fail_reply = xstrdup(f[2]);
		rule->reply = xstrdup(f[3]);
	} else {
		goto bad;
	}
	ok = true;
	goto done;
bad:
	snprintf(err, errlen, "bad action \"%s\"", text);
done:
	free(copy);
	return ok;
}

static const struct rule *
rule_find(const struct responder *r, const char *type)
{
	for (size_t i = 0; i < r->nrules; i++) {
		if (strcmp(r->rules[i].type, type) == 0)
			return &r->rules[i];
	}
	return NULL;
}

static bool
add_rule(struct responder *r, const char *text, char *err, size_t errlen)
{
	const char *eq = strchr(text, '=');
	struct rule rule = {0};

	if (eq == NULL || eq == text) {
		snprintf(err, errlen, "rule \"%s\" is not TYPE=ACTION", text);
		return false;
	}
	rule.type = xstrndup(text, (size_t)(eq - text));
	if (rule_find(r, rule.type) != NULL) {
		snprintf(err, errlen, "second rule for type \"%s\"", rule.type);
		rule_finish(&rule);
		return false;
	}
	if (!parse_action(eq + 1, &rule, err, errlen)) {
		rule_finish(&rule);
		return false;
	}
	r->rules = xrealloc(r->rules, (r->nrules + 1) * sizeof(*r->rules));
	r->rules[r->nrules++] = rule;
	return true;
}

/*
 * What to answer: the reply type, or NULL for no answer.  Advances the random
 * stream and the fail-first counters.
 */
static const char *
rule_decide(struct responder *r, const struct rule *rule, const char *sagaid,
	    const char *sagastep)
{
	switch (rule->kind) {
	case ACT_SUCCEED:
	case ACT_FAIL:
	case ACT_DELAY:
		return rule->reply;
	case ACT_NEVER:
		return NULL;
	case ACT_RANDOM: {
		double x = (double)(rng_next(&r->rng) >> 11) * 0x1.0p-53;

		return x * 100.0 < rule->pct ? rule->fail_reply : rule->reply;
	}
	case ACT_FAIL_FIRST: {
		size_t a = strlen(sagaid), b = strlen(sagastep);
		char *key = xmalloc(a + b + 2);
		json_t *count;
		json_int_t seen = 0;

		memcpy(key, sagaid, a);
		key[a] = '\n';
		memcpy(key + a + 1, sagastep, b + 1);
		count = json_object_get(r->first_counts, key);
		if (count != NULL)
			seen = json_integer_value(count);
		json_object_set_new_nocheck(r->first_counts, key,
					    json_integer(seen + 1));
		free(key);
		return seen < rule->first_n ? rule->fail_reply : rule->reply;
	}
	}
	return NULL;
}

/* ------------------------------------------------- settlement and offsets */

static struct part *
part_get(struct responder *r, const char *topic, int32_t partition)
{
	struct part *p = r->last_part;

	if (p != NULL && p->partition == partition &&
	    strcmp(p->topic, topic) == 0)
		return p;
	for (size_t i = 0; i < r->nparts; i++) {
		p = r->parts[i];
		if (p->partition == partition && strcmp(p->topic, topic) == 0)
			return r->last_part = p;
	}
	p = xmalloc(sizeof(*p));
	memset(p, 0, sizeof(*p));
	p->topic = xstrdup(topic);
	p->partition = partition;
	r->parts = xrealloc(r->parts, (r->nparts + 1) * sizeof(*r->parts));
	r->parts[r->nparts++] = p;
	return r->last_part = p;
}

/* Forget everything in flight; acks of the old epoch will be ignored.  */
static void
part_reset(struct part *p, bool active)
{
	p->epoch++;
	p->active = active;
	p->head = p->len = 0;
	p->dirty = false;
}

static struct inflight *
ring_at(struct part *p, size_t i)
{
	return &p->ring[(p->head + i) % p->cap];
}

static void
part_push(struct part *p, int64_t offset)
{
	if (p->len > 0 && ring_at(p, p->len - 1)->offset >= offset) {
		/* The consumer went back (offset reset): start over. */
		part_reset(p, true);
	}
	if (p->len == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct inflight *ring = xmalloc(cap * sizeof(*ring));

		for (size_t i = 0; i < p->len; i++)
			ring[i] = *ring_at(p, i);
		free(p->ring);
		p->ring = ring;
		p->cap = cap;
		p->head = 0;
	}
	*ring_at(p, p->len) = (struct inflight){.offset = offset};
	p->len++;
}

/* Mark one command settled and advance the storable offset.  */
static void
settle(struct ack a)
{
	struct part *p = a.part;
	size_t lo = 0, hi;

	if (p->epoch != a.epoch || !p->active)
		return;
	hi = p->len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ring_at(p, mid)->offset < a.offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == p->len || ring_at(p, lo)->offset != a.offset)
		return;
	ring_at(p, lo)->done = true;
	while (p->len > 0 && ring_at(p, 0)->done) {
		p->store_offset = ring_at(p, 0)->offset + 1;
		p->dirty = true;
		p->head = (p->head + 1) % p->cap;
		p->len--;
	}
}

/* Hand the settled offsets to the consumer; auto-commit or an explicit
 * commit sends them to the group coordinator. */
static void
store_offsets(struct responder *r)
{
	rd_kafka_topic_partition_list_t *list = NULL;
	rd_kafka_resp_err_t err;

	for (size_t i = 0; i < r->nparts; i++) {
		struct part *p = r->parts[i];

		if (!p->dirty || !p->active)
			continue;
		if (list == NULL)
			list = rd_kafka_topic_partition_list_new(8);
		rd_kafka_topic_partition_list_add(list, p->topic, p->partition)
			->offset = p->store_offset;
		p->dirty = false;
	}
	if (list == NULL)
		return;
	err = rd_kafka_offsets_store(r->consumer, list);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_line("warn", "msg=\"cannot store offsets\" error=\"%s\"",
			 rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(list);
}

static void
commit_offsets(struct responder *r)
{
	rd_kafka_resp_err_t err;

	store_offsets(r);
	err = rd_kafka_commit(r->consumer, NULL, 0);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR &&
	    err != RD_KAFKA_RESP_ERR__NO_OFFSET)
		log_line("warn", "msg=\"cannot commit offsets\" error=\"%s\"",
			 rd_kafka_err2str(err));
}

/* ----------------------------------------------------------- the replies */

static void
reply_destroy(struct reply *rp)
{
	if (rp == NULL)
		return;
	free(rp->topic);
	free(rp->key);
	free(rp->command_id);
	free(rp->command_type);
	free(rp->sagaid);
	free(rp->sagastep);
	free(rp->traceparent);
	free(rp);
}

static bool
heap_less(const struct reply *a, const struct reply *b)
{
	return a->due_ms < b->due_ms ||
	       (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void
heap_sift_down(struct responder *r, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct reply *tmp;

		if (l < r->heap_len && heap_less(r->heap[l], r->heap[m]))
			m = l;
		if (l + 1 < r->heap_len && heap_less(r->heap[l + 1], r->heap[m]))
			m = l + 1;
		if (m == i)
			return;
		tmp = r->heap[i];
		r->heap[i] = r->heap[m];
		r->heap[m] = tmp;
		i = m;
	}
}

/* Takes rp.  */
static void
heap_push(struct responder *r, struct reply *rp)
{
	size_t i;

	if (r->heap_len == r->heap_cap) {
		r->heap_cap = r->heap_cap ? r->heap_cap * 2 : 64;
		r->heap = xrealloc(r->heap, r->heap_cap * sizeof(*r->heap));
	}
	rp->seq = r->seq++;
	i = r->heap_len++;
	r->heap[i] = rp;
	while (i > 0 && heap_less(r->heap[i], r->heap[(i - 1) / 2])) {
		size_t parent = (i - 1) / 2;

		r->heap[i] = r->heap[parent];
		r->heap[parent] = rp;
		i = parent;
	}
}

/* Returns the earliest reply, new to the caller.  */
static struct reply *
heap_pop(struct responder *r)
{
	struct reply *top = r->heap[0];

	r->heap[0] = r->heap[--r->heap_len];
	if (r->heap_len > 0)
		heap_sift_down(r, 0);
	return top;
}

/* Discard the delayed replies of revoked partitions (all when parts is NULL):
 * their commands stay unsettled, so whoever consumes them next answers. */
static void
drop_delayed(struct responder *r, const rd_kafka_topic_partition_list_t *parts)
{
	size_t kept = 0;

	for (size_t i = 0; i < r->heap_len; i++) {
		struct reply *rp = r->heap[i];
		bool drop = parts == NULL;

		for (int j = 0; !drop && j < parts->cnt; j++) {
			drop = parts->elems[j].partition ==
				       rp->ack.part->partition &&
			       strcmp(parts->elems[j].topic,
				      rp->ack.part->topic) == 0;
		}
		if (drop) {
			r->n.dropped_delays++;
			reply_destroy(rp);
		} else {
			r->heap[kept++] = rp;
		}
	}
	r->heap_len = kept;
	for (size_t i = kept / 2; i-- > 0;)
		heap_sift_down(r, i);
}

static char *
reply_data(const struct responder *r, const struct reply *rp, size_t *len)
{
	size_t reflen = strlen(rp->command_type) + strlen(rp->sagaid) + 2;
	char *ref = xmalloc(reflen);
	json_t *data;
	char *text;

	snprintf(ref, reflen, "%s:%s", rp->command_type, rp->sagaid);
	data = json_pack("{s:s, s:s, s:s, s:s}", "command_id", rp->command_id,
			 "command_type", rp->command_type, "responder",
			 r->opt.name, "ref", ref);
	free(ref);
	if (data == NULL)
		return NULL;
	if (rp->extra != NULL)
		json_object_update(data, (json_t *)rp->extra);
	text = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	if (text != NULL)
		*len = strlen(text);
	return text;
}

static void
add_header(rd_kafka_headers_t *h, const char *name, const char *value)
{
	rd_kafka_header_add(h, name, -1, value, -1);
}

/*
 * Produce one reply (rp stays the caller's).  Waits while the producer queue
 * is full, serving delivery reports meanwhile.  A reply that cannot be
 * produced at all (bad topic name, too large) is logged and its command
 * settled: redelivering it would fail the same way.
 */
static void
reply_send(struct responder *r, struct reply *rp)
{
	char id[256], now[40];
	rd_kafka_headers_t *h;
	rd_kafka_resp_err_t err;
	struct ack *ack;
	size_t len = 0;
	char *data = reply_data(r, rp, &len);

	if (data == NULL) {
		log_line("error", "msg=\"cannot encode reply data\" saga=%s",
			 rp->sagaid);
		r->n.failed++;
		settle(rp->ack);
		return;
	}
	snprintf(id, sizeof(id), "%s-%ld-%" PRIu64, r->opt.name, r->pid,
		 ++r->next_id);
	format_now(now, sizeof(now));
	h = rd_kafka_headers_new(10);
	add_header(h, "ce_specversion", "1.0");
	add_header(h, "ce_id", id);
	add_header(h, "ce_source", r->source);
	add_header(h, "ce_type", rp->type);
	add_header(h, "ce_time", now);
	add_header(h, "content-type", "application/json");
	add_header(h, "ce_sagaid", rp->sagaid);
	add_header(h, "ce_sagastep", rp->sagastep);
	if (rp->traceparent != NULL)
		add_header(h, "traceparent", rp->traceparent);
	ack = xmalloc(sizeof(*ack));
	*ack = rp->ack;
	for (;;) {
		err = rd_kafka_producev(
			r->producer, RD_KAFKA_V_TOPIC(rp->topic),
			RD_KAFKA_V_KEY(rp->key, rp->key_len),
			RD_KAFKA_V_VALUE(data, len),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
			RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(ack),
			RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(r->producer, 10);
	}
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		r->n.produced++;
		return;
	}
	log_line("error",
		 "msg=\"cannot produce reply\" topic=\"%s\" saga=%s step=%s "
		 "error=\"%s\"",
		 rp->topic, rp->sagaid, rp->sagastep, rd_kafka_err2str(err));
	rd_kafka_headers_destroy(h);
	free(data);
	free(ack);
	r->n.failed++;
	if (err == RD_KAFKA_RESP_ERR__FATAL)
		r->fatal = true;
	else
		settle(rp->ack);
}

static void
fire_due(struct responder *r, int64_t now)
{
	while (r->heap_len > 0 && r->heap[0]->due_ms <= now) {
		struct reply *rp = heap_pop(r);

		reply_send(r, rp);
		reply_destroy(rp);
	}
}

/* --------------------------------------------------------- the commands */

/* A header's last value as a new string, or NULL when absent or null.  */
static char *
header_dup(rd_kafka_headers_t *h, const char *name)
{
	const void *value;
	size_t size;

	if (h == NULL ||
	    rd_kafka_header_get_last(h, name, &value, &size) !=
		    RD_KAFKA_RESP_ERR_NO_ERROR ||
	    value == NULL)
		return NULL;
	return xstrndup(value, size);
}

static void
malformed(struct responder *r, const rd_kafka_message_t *m,
	  const char *why)
{
	r->n.malformed++;
	r->n.ignored++;
	log_line("warn",
		 "msg=\"malformed command skipped\" topic=%s partition=%" PRId32
		 " offset=%" PRId64 " detail=\"%s\"",
		 rd_kafka_topic_name(m->rkt), m->partition, m->offset, why);
}

static void
handle_command(struct responder *r, const rd_kafka_message_t *m)
{
	struct part *p = part_get(r, rd_kafka_topic_name(m->rkt), m->partition);
	rd_kafka_headers_t *h = NULL;
	struct reply *rp = xmalloc(sizeof(*rp));
	const struct rule *rule;
	const char *type;
	json_t *data;

	memset(rp, 0, sizeof(*rp));
	r->n.consumed++;
	if (!p->active)
		part_reset(p, true);
	part_push(p, m->offset);
	rp->ack = (struct ack){.part = p, .epoch = p->epoch,
			       .offset = m->offset};

	rd_kafka_message_headers(m, &h);
	rp->command_id = header_dup(h, "ce_id");
	rp->command_type = header_dup(h, "ce_type");
	rp->sagaid = header_dup(h, "ce_sagaid");
	rp->sagastep = header_dup(h, "ce_sagastep");
	rp->traceparent = header_dup(h, "traceparent");
	rp->topic = header_dup(h, "ce_replyto");
	if (rp->command_type == NULL || rp->command_id == NULL ||
	    rp->sagaid == NULL || rp->sagastep == NULL) {
		malformed(r, m,
			  "missing ce_type, ce_id, ce_sagaid or ce_sagastep");
		goto skip;
	}
	if (m->payload == NULL || m->len == 0) {
		malformed(r, m, "no data");
		goto skip;
	}
	data = json_loadb(m->payload, m->len, JSON_DECODE_ANY, NULL);
	if (data == NULL) {
		malformed(r, m, "data is not JSON");
		goto skip;
	}
	json_decref(data);

	rule = rule_find(r, rp->command_type);
	if (rule == NULL) {
		rule = &r->deflt;
		r->n.unhandled++;
	}
	type = rule_decide(r, rule, rp->sagaid, rp->sagastep);
	if (type == NULL) {
		if (rule != &r->deflt)
			r->n.silent++;
		r->n.ignored++;
		goto skip;
	}
	if (rp->topic == NULL || rp->topic[0] == '\0') {
		free(rp->topic);
		rp->topic = xstrdup(r->opt.reply_topic);
	}
	if (m->key != NULL) {
		rp->key = xmalloc(m->key_len);
		memcpy(rp->key, m->key, m->key_len);
		rp->key_len = m->key_len;
	}
	rp->type = type;
	rp->extra = rule->extra;
	if (rule->kind == ACT_DELAY && rule->delay_ms > 0) {
		rp->due_ms = mono_ms() + rule->delay_ms;
		heap_push(r, rp);
		return;
	}
	reply_send(r, rp);
	reply_destroy(rp);
	return;
skip:
	settle(rp->ack);
	reply_destroy(rp);
}

static void
handle_message(struct responder *r, const rd_kafka_message_t *m)
{
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		handle_command(r, m);
		return;
	}
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		return;
	log_line("warn", "msg=\"consumer error\" topic=%s error=\"%s\"",
		 m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : "-",
		 rd_kafka_message_errstr(m));
}

/* ------------------------------------------------------ kafka callbacks */

/* Failures that may go away: the broker was unreachable for
 * message.timeout.ms, or the producer was purged or failed fatally.  Anything
 * else the broker said about this reply is permanent. */
static bool
delivery_error_is_transient(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
	case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
	case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
	case RD_KAFKA_RESP_ERR__FATAL:
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
	case RD_KAFKA_RESP_ERR__DESTROY:
		return true;
	default:
		return false;
	}
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct responder *r = opaque;
	struct ack *ack = m->_private;

	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		r->n.replied++;
		settle(*ack);
	} else {
		/* Transient: left unsettled, so its offset is not committed
		 * and the command is redelivered after a restart or a
		 * rebalance.  Permanent (bad ce_replyto, too large...): a
		 * redelivered command would fail the same way, skip it. */
		bool transient = delivery_error_is_transient(m->err);
		int64_t now = mono_ms();

		r->n.failed++;
		if (!transient)
			settle(*ack);
		if (now - r->dr_log_ms >= 1000) {
			log_line("error",
				 "msg=\"reply not delivered\" topic=\"%s\" "
				 "error=\"%s\" command=%s similar_before=%" PRIu64,
				 rd_kafka_topic_name(m->rkt),
				 rd_kafka_err2str(m->err),
				 transient ? "uncommitted" : "skipped",
				 r->dr_suppressed);
			r->dr_log_ms = now;
			r->dr_suppressed = 0;
		} else {
			r->dr_suppressed++;
		}
	}
	free(ack);
}

static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct responder *r = opaque;

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char buf[512];

		rd_kafka_fatal_error(rk, buf, sizeof(buf));
		log_line("error", "msg=\"fatal kafka error\" handle=%s "
				  "error=\"%s\"",
			 rd_kafka_name(rk), buf);
		r->fatal = true;
		return;
	}
	log_line("warn", "msg=\"kafka error\" handle=%s error=\"%s\"",
		 rd_kafka_name(rk), reason);
}

static void
on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
	     rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct responder *r = opaque;
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		for (int i = 0; i < parts->cnt; i++) {
			part_reset(part_get(r, parts->elems[i].topic,
					    parts->elems[i].partition),
				   true);
		}
		if (coop)
			error = rd_kafka_incremental_assign(rk, parts);
		else
			aerr = rd_kafka_assign(rk, parts);
	} else {
		/* Revoked or lost: settle what is in flight, commit, let go. */
		drop_delayed(r, parts);
		rd_kafka_flush(r->producer, FLUSH_TIMEOUT_MS);
		if (!rd_kafka_assignment_lost(rk))
			commit_offsets(r);
		for (int i = 0; i < parts->cnt; i++) {
			part_reset(part_get(r, parts->elems[i].topic,
					    parts->elems[i].partition),
				   false);
		}
		if (coop)
			error = rd_kafka_incremental_unassign(rk, parts);
		else
			aerr = rd_kafka_assign(rk, NULL);
	}
	if (error != NULL) {
		log_line("error", "msg=\"rebalance failed\" error=\"%s\"",
			 rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	} else if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_line("error", "msg=\"rebalance failed\" error=\"%s\"",
			 rd_kafka_err2str(aerr));
	}
	log_line("info", "msg=\"%s\" partitions=%d",
		 err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "assigned"
							     : "revoked",
		 parts->cnt);
}

/* ------------------------------------------------------------ setup */

static bool
conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char err[512];

	if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) ==
	    RD_KAFKA_CONF_OK)
		return true;
	fprintf(stderr, "responder: %s\n", err);
	return false;
}

/* Our settings first, then the command line's, which win.  */
static bool
conf_apply(const struct responder *r, rd_kafka_conf_t *conf,
	   enum prop_target target, const char *const *pairs)
{
	for (size_t i = 0; pairs[i] != NULL; i += 2) {
		if (!conf_set(conf, pairs[i], pairs[i + 1]))
			return false;
	}
	for (size_t i = 0; i < r->opt.nprops; i++) {
		const struct kafka_prop *prop = &r->opt.props[i];

		if (prop->target != PROP_BOTH && prop->target != target)
			continue;
		if (!conf_set(conf, prop->name, prop->value))
			return false;
	}
	return true;
}

static bool
kafka_create(struct responder *r)
{
	const char *pconf[] = {
		"bootstrap.servers", r->opt.brokers,
		"client.id", r->opt.name,
		"enable.idempotence", "true",
		"linger.ms", "2",
		NULL,
	};
	const char *cconf[] = {
		"bootstrap.servers", r->opt.brokers,
		"client.id", r->opt.name,
		"group.id", r->opt.group,
		"auto.offset.reset", "earliest",
		"enable.auto.commit", "true",
		"auto.commit.interval.ms", "1000",
		"enable.auto.offset.store", "false",
		"allow.auto.create.topics", "true",
		/* A joining responder takes partitions without making the
		 * others drop their pending delayed replies. */
		"partition.assignment.strategy", "cooperative-sticky",
		NULL,
	};
	rd_kafka_conf_t *conf;
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_resp_err_t err;
	char errstr[512], *list, *save = NULL;

	conf = rd_kafka_conf_new();
	if (!conf_apply(r, conf, PROP_PRODUCER, pconf))
		goto fail_conf;
	rd_kafka_conf_set_opaque(conf, r);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	r->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr,
				   sizeof(errstr));
	if (r->producer == NULL) {
		fprintf(stderr, "responder: producer: %s\n", errstr);
		goto fail_conf;
	}
	/*
	 * Learn the reply topic's partitions now: otherwise the first reply
	 * waits for a metadata round, about a second.
	 */
	{
		rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->producer,
							   r->opt.reply_topic, NULL);
		const struct rd_kafka_metadata *md = NULL;

		if (rkt != NULL) {
			if (rd_kafka_metadata(r->producer, 0, rkt, &md, 5000) ==
			    RD_KAFKA_RESP_ERR_NO_ERROR)
				rd_kafka_metadata_destroy(md);
			rd_kafka_topic_destroy(rkt);
		}
	}

	conf = rd_kafka_conf_new();
	if (!conf_apply(r, conf, PROP_CONSUMER, cconf))
		goto fail_conf;
	rd_kafka_conf_set_opaque(conf, r);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	r->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr,
				   sizeof(errstr));
	if (r->consumer == NULL) {
		fprintf(stderr, "responder: consumer: %s\n", errstr);
		goto fail_conf;
	}
	rd_kafka_poll_set_consumer(r->consumer);

	topics = rd_kafka_topic_partition_list_new(4);
	list = xstrdup(r->opt.topics);
	for (char *t = strtok_r(list, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save))
		rd_kafka_topic_partition_list_add(topics, t,
						  RD_KAFKA_PARTITION_UA);
	free(list);
	err = topics->cnt > 0 ? rd_kafka_subscribe(r->consumer, topics)
			      : RD_KAFKA_RESP_ERR__INVALID_ARG;
	rd_kafka_topic_partition_list_destroy(topics);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "responder: subscribe %s: %s\n", r->opt.topics,
			rd_kafka_err2str(err));
		return false;
	}
	return true;

fail_conf:
	/* rd_kafka_new takes conf only on success. */
	rd_kafka_conf_destroy(conf);
	return false;
}

/* -------------------------------------------------------- command line */

static const char usage_text[] =
	"usage: responder --brokers HOST:PORT --topics T1[,T2...] [options]\n"
	"                 [--rule TYPE=ACTION]...\n"
	"\n"
	"An example service for tests: consumes commands (CloudEvents 1.0, Kafka\n"
	"binary mode) and answers each on the topic in its ce_replyto header,\n"
	"copying ce_sagaid, ce_sagastep and traceparent, with the command's key.\n"
	"Reply data: {\"command_id\", \"command_type\", \"responder\",\n"
	"\"ref\": \"<command type>:<saga id>\"} plus the rule's extra fields.\n"
	"\n"
	"Options:\n"
	"  --brokers HOST:PORT      Kafka bootstrap servers (required)\n"
	"  --topics T1,T2           command topics to consume (required)\n"
	"  --group G                consumer group (default: the name)\n"
	"  --name N                 service name, in ce_source /responder/N and\n"
	"                           in reply ids and data (default responder)\n"
	"  --rule TYPE=ACTION       how to answer commands of ce_type TYPE\n"
	"                           (repeatable, one per type)\n"
	"  --default ACTION         how to answer commands of other types\n"
	"                           (default never; counted as unhandled)\n"
	"  --reply-topic T          for commands without ce_replyto\n"
	"                           (default orchestrator.replies)\n"
	"  --seed S                 seed of the random: rules (default 1)\n"
	"  --max-messages N         exit after N replies were acknowledged\n"
	"  --duration-s S           exit after S seconds\n"
	"  --stats-interval-s S     print counters and rates to stderr every S s\n"
	"  --kafka.PROP=VALUE       librdkafka property for consumer and producer\n"
	"  --kafka.producer.PROP=VALUE, --kafka.consumer.PROP=VALUE\n"
	"                           the same, for one of them only\n"
	"  -h, --help               print this text\n"
	"\n"
	"Actions (a suffix +{JSON object} adds fields to the reply data):\n"
	"  succeed:TYPE                       reply TYPE at once\n"
	"  fail:TYPE                          reply TYPE (a failure type) at once\n"
	"  random:PCT:FAILTYPE:SUCCESSTYPE    FAILTYPE with probability PCT %,\n"
	"                                     else SUCCESSTYPE\n"
	"  delay:MS:TYPE                      reply TYPE after MS milliseconds\n"
	"  never                              consume, never answer\n"
	"  fail-first:N:FAILTYPE:SUCCESSTYPE  the first N commands of each\n"
	"                                     (saga id, step) get FAILTYPE,\n"
	"                                     later ones SUCCESSTYPE\n"
	"  FAILTYPE may be the word silence: do not answer (provokes a timeout).\n"
	"\n"
	"Offsets are committed only once a command is settled (reply\n"
	"acknowledged, or deliberately unanswered): at-least-once.  SIGINT or\n"
	"SIGTERM stops consuming, flushes, commits and prints on stdout:\n"
	"  responder NAME: consumed=X replied=Y silent=Z unhandled=W\n"
	"\n"
	"Example:\n"
	"  responder --brokers 127.0.0.1:9092 --topics inventory.commands \\\n"
	"    --rule 'inventory.reserve=succeed:inventory.reserved+"
	"{\"reservation_id\":\"r-1\"}' \\\n"
	"    --rule inventory.release=delay:200:inventory.released\n";

static int
usage_error(const char *fmt, const char *arg)
{
	fputs("responder: ", stderr);
	fprintf(stderr, "%s", fmt);
	if (arg != NULL)
		fprintf(stderr, " %s", arg);
	fputs("\n(see responder --help)\n", stderr);
	return 2;
}

/* Returns 0 to run, 1 when --help was printed, 2 on a usage error.  */
static int
parse_args(struct responder *r, int argc, char **argv)
{
	struct options *o = &r->opt;
	const char *default_action = "never";
	char err[512];

	o->reply_topic = DEFAULT_REPLY_TOPIC;
	o->name = DEFAULT_NAME;
	o->seed = 1;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL, *eq;
		char name[128];
		size_t nlen;

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			fputs(usage_text, stdout);
			return 1;
		}
		if (strncmp(arg, "--", 2) != 0)
			return usage_error("unexpected argument", arg);
		eq = strchr(arg, '=');
		nlen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		if (nlen >= sizeof(name))
			return usage_error("unknown option", arg);
		memcpy(name, arg, nlen);
		name[nlen] = '\0';
		if (eq != NULL)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return usage_error("missing value for", name);

		if (strncmp(name, "--kafka.", 8) == 0 && name[8] != '\0') {
			struct kafka_prop prop = {PROP_BOTH, NULL, NULL};
			const char *pname = name + 8;

			if (strncmp(pname, "producer.", 9) == 0) {
				prop.target = PROP_PRODUCER;
				pname += 9;
			} else if (strncmp(pname, "consumer.", 9) == 0) {
				prop.target = PROP_CONSUMER;
				pname += 9;
			}
			prop.name = xstrdup(pname);
			prop.value = xstrdup(val);
			o->props = xrealloc(o->props, (o->nprops + 1) *
							      sizeof(*o->props));
			o->props[o->nprops++] = prop;
		} else if (strcmp(name, "--brokers") == 0) {
			o->brokers = val;
		} else if (strcmp(name, "--group") == 0) {
			o->group = val;
		} else if (strcmp(name, "--topics") == 0) {
			o->topics = val;
		} else if (strcmp(name, "--reply-topic") == 0) {
			o->reply_topic = val;
		} else if (strcmp(name, "--name") == 0) {
			o->name = val;
		} else if (strcmp(name, "--rule") == 0) {
			if (!add_rule(r, val, err, sizeof(err)))
				return usage_error(err, NULL);
		} else if (strcmp(name, "--default") == 0) {
			default_action = val;
		} else if (strcmp(name, "--seed") == 0) {
			if (!parse_u64(val, &o->seed))
				return usage_error("bad --seed", val);
		} else if (strcmp(name, "--max-messages") == 0) {
			if (!parse_i64(val, 0, &o->max_messages))
				return usage_error("bad --max-messages", val);
		} else if (strcmp(name, "--duration-s") == 0) {
			if (!parse_double(val, 0, 1e9, &o->duration_s))
				return usage_error("bad --duration-s", val);
		} else if (strcmp(name, "--stats-interval-s") == 0) {
			if (!parse_double(val, 0, 1e9, &o->stats_interval_s))
				return usage_error("bad --stats-interval-s",
						   val);
		} else {
			return usage_error("unknown option", name);
		}
	}
	if (o->brokers == NULL || o->topics == NULL)
		return usage_error("--brokers and --topics are required", NULL);
	if (o->name[0] == '\0' || o->reply_topic[0] == '\0')
		return usage_error("--name and --reply-topic must not be empty",
				   NULL);
	if (o->group == NULL)
		o->group = o->name;
	if (!parse_action(default_action, &r->deflt, err, sizeof(err)))
		return usage_error(err, NULL);
	return 0;
}

/* ---------------------------------------------------------------- main */

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
print_stats(struct responder *r, int64_t elapsed_ms,
	    const struct counters *prev)
{
	double s = elapsed_ms > 0 ? (double)elapsed_ms / 1000.0 : 1.0;

	fprintf(stderr,
		"responder %s: consumed=%" PRIu64 " replied=%" PRIu64
		" ignored=%" PRIu64 " malformed=%" PRIu64 " pending=%zu"
		" consume_rate=%.0f/s reply_rate=%.0f/s\n",
		r->opt.name, r->n.consumed, r->n.replied, r->n.ignored,
		r->n.malformed, r->heap_len,
		(double)(r->n.consumed - prev->consumed) / s,
		(double)(r->n.replied - prev->replied) / s);
}

static bool
limit_reached(const struct responder *r)
{
	return r->opt.max_messages > 0 &&
	       r->n.produced >= (uint64_t)r->opt.max_messages;
}

static void
run_loop(struct responder *r)
{
	int64_t start = mono_ms();
	int64_t deadline = r->opt.duration_s > 0
				   ? start + (int64_t)(r->opt.duration_s * 1000)
				   : INT64_MAX;
	int64_t stats_every = (int64_t)(r->opt.stats_interval_s * 1000);
	int64_t stats_at = start + stats_every;
	struct counters prev = r->n;

	while (!stop_requested && !r->fatal && !limit_reached(r)) {
		int64_t now = mono_ms(), wait = POLL_MAX_MS;
		rd_kafka_message_t *m;

		if (now >= deadline)
			break;
		fire_due(r, now);
		if (r->heap_len > 0 && r->heap[0]->due_ms - now < wait)
			wait = r->heap[0]->due_ms - now;
		if (deadline - now < wait)
			wait = deadline - now;
		if (stats_every > 0 && stats_at - now < wait)
			wait = stats_at - now > 0 ? stats_at - now : 0;

		m = rd_kafka_consumer_poll(r->consumer, (int)wait);
		for (int n = 0; m != NULL; n++) {
			handle_message(r, m);
			rd_kafka_message_destroy(m);
			if (n + 1 >= BATCH_MAX || limit_reached(r) ||
			    stop_requested || r->fatal)
				break;
			m = rd_kafka_consumer_poll(r->consumer, 0);
		}
		rd_kafka_poll(r->producer, 0);
		store_offsets(r);

		now = mono_ms();
		if (stats_every > 0 && now >= stats_at) {
			print_stats(r, now - (stats_at - stats_every), &prev);
			prev = r->n;
			stats_at = now + stats_every;
		}
	}
}

static void
shutdown_kafka(struct responder *r)
{
	rd_kafka_resp_err_t err;

	drop_delayed(r, NULL);
	err = rd_kafka_flush(r->producer, FLUSH_TIMEOUT_MS);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_line("error",
			 "msg=\"replies not flushed\" outstanding=%d",
			 rd_kafka_outq_len(r->producer));
	commit_offsets(r);
	err = rd_kafka_consumer_close(r->consumer);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_line("warn", "msg=\"consumer close\" error=\"%s\"",
			 rd_kafka_err2str(err));
}

static void
responder_finish(struct responder *r)
{
	for (size_t i = 0; i < r->heap_len; i++)
		reply_destroy(r->heap[i]);
	free(r->heap);
	if (r->consumer != NULL)
		rd_kafka_destroy(r->consumer);
	if (r->producer != NULL)
		rd_kafka_destroy(r->producer);
	for (size_t i = 0; i < r->nparts; i++) {
		free(r->parts[i]->topic);
		free(r->parts[i]->ring);
		free(r->parts[i]);
	}
	free(r->parts);
	for (size_t i = 0; i < r->nrules; i++)
		rule_finish(&r->rules[i]);
	free(r->rules);
	rule_finish(&r->deflt);
	for (size_t i = 0; i < r->opt.nprops; i++) {
		free(r->opt.props[i].name);
		free(r->opt.props[i].value);
	}
	free(r->opt.props);
	json_decref(r->first_counts);
	free(r->source);
}

int
main(int argc, char **argv)
{
	struct responder r;
	struct sigaction sa;
	int status;
	size_t srclen;

	memset(&r, 0, sizeof(r));
	status = parse_args(&r, argc, argv);
	if (status != 0) {
		responder_finish(&r);
		return status == 1 ? 0 : 2;
	}
	log_name = r.opt.name;
	r.pid = (long)getpid();
	r.rng = r.opt.seed;
	r.first_counts = json_object();
	srclen = strlen(r.opt.name) + sizeof("/responder/");
	r.source = xmalloc(srclen);
	snprintf(r.source, srclen, "/responder/%s", r.opt.name);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (!kafka_create(&r)) {
		responder_finish(&r);
		return 1;
	}
	log_line("info",
		 "msg=started topics=%s group=%s rules=%zu seed=%" PRIu64,
		 r.opt.topics, r.opt.group, r.nrules, r.opt.seed);
	run_loop(&r);
	shutdown_kafka(&r);
	if (r.n.dropped_delays > 0 || r.n.malformed > 0 || r.n.failed > 0)
		log_line("info",
			 "msg=\"not answered\" delayed_dropped=%" PRIu64
			 " malformed=%" PRIu64 " failed=%" PRIu64,
			 r.n.dropped_delays, r.n.malformed, r.n.failed);
	printf("responder %s: consumed=%" PRIu64 " replied=%" PRIu64
	       " silent=%" PRIu64 " unhandled=%" PRIu64 "\n",
	       r.opt.name, r.n.consumed, r.n.replied, r.n.silent,
	       r.n.unhandled);
	fflush(stdout);
	status = r.fatal ? 1 : 0;
	responder_finish(&r);
	return status;
}
