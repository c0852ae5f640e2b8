/*
 * kafka_echo.c - what the broker alone costs: a librdkafka produce -> consume
 * -> produce -> consume round trip through the same broker the orchestrator
 * uses, plus two helpers the benchmark needs around Kafka.
 *
 *   kafka_echo echo   the round trip.  A sender produces to a "ping" topic,
 *                     an echo thread consumes it and produces the same
 *                     message to "pong", a receiver thread consumes that.
 *                     This is the path of one saga step outside the
 *                     orchestrator (command -> service -> reply), with the
 *                     producer settings the relay and the responder use
 *                     (idempotent, acks=all, linger.ms=2) and default
 *                     consumers.  Two phases: N messages as fast as possible
 *                     (messages/s through the echo), then a fixed rate for a
 *                     few seconds (round-trip and one-hop latency
 *                     percentiles).  Fresh topics, removed at the end.
 *   kafka_echo topics create topics (partitions, topic configs), e.g. the
 *                     command topics with message.timestamp.type =
 *                     LogAppendTime so the broker stamps each command with
 *                     the time it appended it.
 *   kafka_echo tap    read topics from the beginning to their end and print
 *                     one line per message: ce_id, broker timestamp (ms) and
 *                     its type, topic, partition, offset, ce_sagaid,
 *                     ce_sagastep; the benchmark joins it with PostgreSQL
 *                     commit times for the outbox lag and for where a step's
 *                     latency goes.
 *   kafka_echo group  describe a consumer group: one line per partition
 *                     assigned to a member (client id, topic, partition);
 *                     the benchmark records how the orchestrator processes
 *                     share the topics' partitions.
 *
 * A benchmark program, not a test; it links no orchestrator code.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define MAX_PROPS 32
#define MAX_TOPICS 64

static const char usage_text[] =
	"usage: kafka_echo echo   [--brokers B] [--count N] [--rate R]\n"
	"                         [--seconds S] [--size BYTES] [--partitions P]\n"
	"                         [--json FILE] [--cdf FILE]\n"
	"       kafka_echo topics [--brokers B] [--partitions P]\n"
	"                         [--config NAME=VALUE]... TOPIC...\n"
	"       kafka_echo tap    [--brokers B] --topics T1[,T2...] [--out FILE]\n"
	"       kafka_echo group  [--brokers B] --group G\n"
	"\n"
	"echo:   a produce -> consume -> produce -> consume round trip (the path\n"
	"        of a command and its reply) through the broker: N messages as\n"
	"        fast as possible (default 50000), then R messages/s (default\n"
	"        1000) for S seconds (default 10); prints messages/s and the\n"
	"        round-trip and one-hop latency percentiles, and writes them as\n"
	"        JSON (--cdf: the round trips' percentiles, \"percent<TAB>ms\").\n"
	"        Producers: idempotent, acks=all, linger.ms=2 (as the\n"
	"        relay and the responder); payload BYTES (default 256).\n"
	"topics: create topics (default 4 partitions) with topic configs;\n"
	"        existing topics are left alone.\n"
	"tap:    read the topics from the beginning to their current end; print\n"
	"        \"ce_id<TAB>timestamp_ms<TAB>C|L<TAB>topic<TAB>partition<TAB>"
	"offset<TAB>\n"
	"        ce_sagaid<TAB>ce_sagastep\" per message (C = CreateTime,\n"
	"        L = LogAppendTime).\n"
	"group:  print the group's state, then \"client_id<TAB>topic<TAB>"
	"partition\"\n"
	"        per partition assigned to a member (a member with none:\n"
	"        \"client_id<TAB>-<TAB>-\").\n"
	"Every subcommand takes --kafka.PROP=VALUE (librdkafka properties) and\n"
	"--brokers (default $ORC_KAFKA_BROKERS, else 127.0.0.1:9092).\n";

struct props {
	const char *names[MAX_PROPS];
	const char *values[MAX_PROPS];
	int n;
};

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kafka_echo: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static rd_kafka_conf_t *
make_conf(const char *brokers, const struct props *p,
	  const char *const *defaults)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512];

	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK)
		die("%s", errstr);
	for (size_t i = 0; defaults != NULL && defaults[i] != NULL; i += 2)
		if (rd_kafka_conf_set(conf, defaults[i], defaults[i + 1], errstr,
				      sizeof(errstr)) != RD_KAFKA_CONF_OK)
			die("%s", errstr);
	for (int i = 0; i < p->n; i++)
		if (rd_kafka_conf_set(conf, p->names[i], p->values[i], errstr,
				      sizeof(errstr)) != RD_KAFKA_CONF_OK)
			die("%s", errstr);
	return conf;
}

static rd_kafka_t *
make_handle(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
	char errstr[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));

	if (rk == NULL)
		die("%s", errstr);
	return rk;
}

/* Take --kafka.P=V into p; true when arg was one. */
static bool
take_prop(struct props *p, const char *arg)
{
	const char *eq;

	if (strncmp(arg, "--kafka.", 8) != 0)
		return false;
	eq = strchr(arg, '=');
	if (eq == NULL || eq == arg + 8)
		die("expected --kafka.PROP=VALUE, got %s", arg);
	if (p->n == MAX_PROPS)
		die("too many properties at %s", arg);
	p->names[p->n] = strndup(arg + 8, (size_t)(eq - arg - 8));
	p->values[p->n] = eq + 1;
	p->n++;
	return true;
}

static const char *
default_brokers(void)
{
	const char *b = getenv("ORC_KAFKA_BROKERS");

	return b != NULL && *b != '\0' ? b : "127.0.0.1:9092";
}

/* ------------------------------------------------------------- topics */

/* Create topics; TOPIC_ALREADY_EXISTS is fine.  Returns the failures. */
static int
create_topics(rd_kafka_t *rk, char **names, int n, int partitions,
	      char **configs, int n_configs)
{
	rd_kafka_NewTopic_t **nt = calloc((size_t)n, sizeof(*nt));
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *opts =
		rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_event_t *ev;
	const rd_kafka_CreateTopics_result_t *res;
	const rd_kafka_topic_result_t **tr;
	size_t ntr;
	char errstr[512];
	int failures = 0;

	rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, errstr,
						    sizeof(errstr));
	for (int i = 0; i < n; i++) {
		nt[i] = rd_kafka_NewTopic_new(names[i], partitions, 1, errstr,
					      sizeof(errstr));
		if (nt[i] == NULL)
			die("%s", errstr);
		for (int k = 0; k < n_configs; k++) {
			char *c = strdup(configs[k]), *eq = strchr(c, '=');

			if (eq == NULL)
				die("expected --config NAME=VALUE, got %s",
				    configs[k]);
			*eq = '\0';
			if (rd_kafka_NewTopic_set_config(nt[i], c, eq + 1) !=
			    RD_KAFKA_RESP_ERR_NO_ERROR)
				die("bad topic config %s", configs[k]);
			free(c);
		}
	}
	rd_kafka_CreateTopics(rk, nt, (size_t)n, opts, q);
	ev = rd_kafka_queue_poll(q, 60000);
	if (ev == NULL)
		die("%s", "no answer to CreateTopics in 60 s");
	if (rd_kafka_event_error(ev))
		die("CreateTopics: %s", rd_kafka_event_error_string(ev));
	res = rd_kafka_event_CreateTopics_result(ev);
	tr = rd_kafka_CreateTopics_result_topics(res, &ntr);
	for (size_t i = 0; i < ntr; i++) {
		rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);

		if (e == RD_KAFKA_RESP_ERR_NO_ERROR ||
		    e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
			continue;
		fprintf(stderr, "kafka_echo: cannot create %s: %s\n",
			rd_kafka_topic_result_name(tr[i]),
			rd_kafka_topic_result_error_string(tr[i]));
		failures++;
	}
	rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	for (int i = 0; i < n; i++)
		rd_kafka_NewTopic_destroy(nt[i]);
	free(nt);
	return failures;
}

static void
delete_topics(rd_kafka_t *rk, char **names, int n)
{
	rd_kafka_DeleteTopic_t **dt = calloc((size_t)n, sizeof(*dt));
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_event_t *ev;

	for (int i = 0; i < n; i++)
		dt[i] = rd_kafka_DeleteTopic_new(names[i]);
	rd_kafka_DeleteTopics(rk, dt, (size_t)n, NULL, q);
	ev = rd_kafka_queue_poll(q, 30000);
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	for (int i = 0; i < n; i++)
		rd_kafka_DeleteTopic_destroy(dt[i]);
	free(dt);
}

/* Partitions of topic (waiting up to 30 s for it to appear); 0 if none. */
static int
partition_count(rd_kafka_t *rk, const char *topic)
{
	int64_t deadline = mono_ns() + 30000000000LL;

	while (mono_ns() < deadline) {
		rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
		const rd_kafka_metadata_t *md = NULL;
		int n = 0;

		if (rd_kafka_metadata(rk, 0, t, &md, 5000) ==
			    RD_KAFKA_RESP_ERR_NO_ERROR &&
		    md->topic_cnt == 1 &&
		    md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			n = md->topics[0].partition_cnt;
			for (int i = 0; i < n; i++)
				if (md->topics[0].partitions[i].leader < 0)
					n = 0; /* not ready yet */
		}
		if (md != NULL)
			rd_kafka_metadata_destroy(md);
		rd_kafka_topic_destroy(t);
		if (n > 0)
			return n;
		sleep_ms(100);
	}
	return 0;
}

static int
cmd_topics(int argc, char **argv)
{
	const char *brokers = default_brokers();
	struct props p = {0};
	char *names[MAX_TOPICS], *configs[MAX_PROPS];
	int n = 0, n_configs = 0, partitions = 4, failures;
	rd_kafka_t *rk;

	for (int i = 2; i < argc; i++) {
		if (take_prop(&p, argv[i]))
			continue;
		if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
			brokers = argv[++i];
		else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
			partitions = atoi(argv[++i]);
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc &&
			 n_configs < MAX_PROPS)
			configs[n_configs++] = argv[++i];
		else if (argv[i][0] == '-')
			die("topics: unknown option %s", argv[i]);
		else if (n < MAX_TOPICS)
			names[n++] = argv[i];
	}
	if (n == 0 || partitions < 1)
		die("%s", "topics: give at least one topic (see --help)");
	rk = make_handle(RD_KAFKA_PRODUCER, make_conf(brokers, &p, NULL));
	failures = create_topics(rk, names, n, partitions, configs, n_configs);
	for (int i = 0; i < n && failures == 0; i++)
		if (partition_count(rk, names[i]) == 0) {
			fprintf(stderr, "kafka_echo: %s not ready after 30 s\n",
				names[i]);
			failures++;
		}
	rd_kafka_destroy(rk);
	if (failures == 0)
		printf("kafka_echo: %d topics ready (%d partitions)\n", n,
		       partitions);
	return failures ? 1 : 0;
}

/* ---------------------------------------------------------------- tap */

static int
cmd_tap(int argc, char **argv)
{
	static const char *const cdefaults[] = {
		"group.id", "kafka_echo.tap",
		"enable.auto.commit", "false",
		"enable.partition.eof", "true",
		"auto.offset.reset", "earliest",
		NULL,
	};
	const char *brokers = default_brokers(), *topics = NULL, *out = NULL;
	struct props p = {0};
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *parts;
	char *list, *save = NULL;
	int remaining = 0;
	uint64_t n = 0;
	FILE *f = stdout;

	for (int i = 2; i < argc; i++) {
		if (take_prop(&p, argv[i]))
			continue;
		if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
			brokers = argv[++i];
		else if (strcmp(argv[i], "--topics") == 0 && i + 1 < argc)
			topics = argv[++i];
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else
			die("tap: unknown argument %s", argv[i]);
	}
	if (topics == NULL)
		die("%s", "tap: --topics is required");
	if (out != NULL && (f = fopen(out, "w")) == NULL)
		die("cannot write %s", out);
	rk = make_handle(RD_KAFKA_CONSUMER, make_conf(brokers, &p, cdefaults));
	parts = rd_kafka_topic_partition_list_new(16);
	list = strdup(topics);
	for (char *t = strtok_r(list, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		int np = partition_count(rk, t);

		if (np == 0)
			die("tap: topic %s not found", t);
		for (int k = 0; k < np; k++) {
			int64_t lo = 0, hi = 0;

			if (rd_kafka_query_watermark_offsets(rk, t, k, &lo, &hi,
							     10000) !=
			    RD_KAFKA_RESP_ERR_NO_ERROR)
				die("tap: no watermarks for %s", t);
			if (hi <= lo)
				continue; /* empty: no EOF needed */
			rd_kafka_topic_partition_list_add(parts, t, k)->offset =
				RD_KAFKA_OFFSET_BEGINNING;
			remaining++;
		}
	}
	free(list);
	if (remaining > 0 && rd_kafka_assign(rk, parts) != 0)
		die("%s", "tap: assign failed");
	rd_kafka_topic_partition_list_destroy(parts);
	while (remaining > 0) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 10000);
		rd_kafka_headers_t *hdrs = NULL;
		const void *id = NULL, *sid = NULL, *step = NULL;
		size_t id_len = 0, sid_len = 0, step_len = 0;
		rd_kafka_timestamp_type_t tstype;
		int64_t ts;

		if (m == NULL)
			die("%s", "tap: no message for 10 s before the end");
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			remaining--;
			rd_kafka_message_destroy(m);
			continue;
		}
		if (m->err)
			die("tap: %s", rd_kafka_message_errstr(m));
		ts = rd_kafka_message_timestamp(m, &tstype);
		if (rd_kafka_message_headers(m, &hdrs) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR) {
			rd_kafka_header_get_last(hdrs, "ce_id", &id, &id_len);
			rd_kafka_header_get_last(hdrs, "ce_sagaid", &sid,
						 &sid_len);
			rd_kafka_header_get_last(hdrs, "ce_sagastep", &step,
						 &step_len);
		}
		fprintf(f,
			"%.*s\t%" PRId64 "\t%c\t%s\t%d\t%" PRId64
			"\t%.*s\t%.*s\n",
			(int)id_len, id ? (const char *)id : "", ts,
			tstype == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? 'L' : 'C',
			rd_kafka_topic_name(m->rkt), (int)m->partition,
			m->offset, (int)sid_len, sid ? (const char *)sid : "",
			(int)step_len, step ? (const char *)step : "");
		n++;
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	if (f != stdout && fclose(f) != 0)
		die("cannot write %s", out);
	fprintf(stderr, "kafka_echo: tap read %" PRIu64 " messages\n", n);
	return 0;
}

/* --------------------------------------------------------------- echo */

/*
 * A message carries its sequence number and the sender's monotonic send
 * time; the echo stamps when it received it.  Timestamps per sequence
 * number are kept in arrays written by one thread each and read after the
 * threads are joined.
 */
struct wire {
	uint64_t seq;
	int64_t sent_ns;
};

struct echo {
	const char *brokers;
	const struct props *props;
	char ping[128], pong[128];
	int partitions;
	size_t size;
	uint64_t total; /* messages of every phase */
	int64_t *sent_ns;  /* by seq: sender's produce call */
	int64_t *hop_ns;   /* by seq: echo received it */
	int64_t *back_ns;  /* by seq: receiver received it */
	volatile int stop;
	volatile uint64_t received; /* by the receiver */
	volatile int echo_ready, recv_ready;
};

static const char *const producer_defaults[] = {
	"enable.idempotence", "true",
	"acks", "all",
	"linger.ms", "2",
	"queue.buffering.max.messages", "1000000",
	NULL,
};

static void
assign_all(rd_kafka_t *rk, const char *topic, int partitions)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(partitions);

	for (int i = 0; i < partitions; i++)
		rd_kafka_topic_partition_list_add(l, topic, i)->offset =
			RD_KAFKA_OFFSET_BEGINNING;
	if (rd_kafka_assign(rk, l) != 0)
		die("cannot assign %s", topic);
	rd_kafka_topic_partition_list_destroy(l);
}

static rd_kafka_t *
echo_consumer(struct echo *e, const char *topic, const char *group)
{
	const char *const defaults[] = {
		"group.id", group,
		"enable.auto.commit", "false",
		"auto.offset.reset", "earliest",
		NULL,
	};
	rd_kafka_t *rk = make_handle(RD_KAFKA_CONSUMER,
				     make_conf(e->brokers, e->props, defaults));

	assign_all(rk, topic, e->partitions);
	return rk;
}

static void *
echo_thread(void *arg)
{
	struct echo *e = arg;
	rd_kafka_t *c = echo_consumer(e, e->ping, "kafka_echo.echo");
	rd_kafka_t *p = make_handle(RD_KAFKA_PRODUCER,
				    make_conf(e->brokers, e->props,
					      producer_defaults));

	e->echo_ready = 1;
	while (!e->stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 50);
		struct wire w;

		rd_kafka_poll(p, 0);
		if (m == NULL)
			continue;
		if (m->err || m->len < sizeof(w)) {
			rd_kafka_message_destroy(m);
			continue;
		}
		memcpy(&w, m->payload, sizeof(w));
		if (w.seq < e->total)
			e->hop_ns[w.seq] = mono_ns();
		while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(e->pong),
					 RD_KAFKA_V_KEY(m->key, m->key_len),
					 RD_KAFKA_V_VALUE(m->payload, m->len),
					 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					 RD_KAFKA_V_END) ==
		       RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(p, 10);
		rd_kafka_message_destroy(m);
	}
	rd_kafka_flush(p, 10000);
	rd_kafka_destroy(p);
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	return NULL;
}

static void *
recv_thread(void *arg)
{
	struct echo *e = arg;
	rd_kafka_t *c = echo_consumer(e, e->pong, "kafka_echo.recv");

	e->recv_ready = 1;
	while (!e->stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 50);
		struct wire w;

		if (m == NULL)
			continue;
		if (!m->err && m->len >= sizeof(w)) {
			memcpy(&w, m->payload, sizeof(w));
			if (w.seq < e->total && e->back_ns[w.seq] == 0) {
				e->back_ns[w.seq] = mono_ns();
				__atomic_add_fetch(&e->received, 1,
						   __ATOMIC_RELEASE);
			}
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	return NULL;
}

static void
send_msg(struct echo *e, rd_kafka_t *p, uint64_t seq, char *buf)
{
	struct wire w = {seq, mono_ns()};
	char key[32];

	snprintf(key, sizeof(key), "k-%" PRIu64, seq);
	memcpy(buf, &w, sizeof(w));
	e->sent_ns[seq] = w.sent_ns;
	while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(e->ping),
				 RD_KAFKA_V_KEY(key, strlen(key)),
				 RD_KAFKA_V_VALUE(buf, e->size),
				 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				 RD_KAFKA_V_END) ==
	       RD_KAFKA_RESP_ERR__QUEUE_FULL)
		rd_kafka_poll(p, 10);
	rd_kafka_poll(p, 0);
}

/* Wait until the receiver has `want` messages or timeout_s passed. */
static bool
wait_received(struct echo *e, rd_kafka_t *p, uint64_t want, double timeout_s)
{
	int64_t deadline = mono_ns() + (int64_t)(timeout_s * 1e9);

	while (__atomic_load_n(&e->received, __ATOMIC_ACQUIRE) < want) {
		if (mono_ns() > deadline)
			return false;
		rd_kafka_poll(p, 1);
	}
	return true;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct dist {
	double p50, p95, p99, max, mean;
	size_t n;
};

/* Percentiles (nearest rank) of v[0..n), sorted in place. */
static struct dist
distribution(double *v, size_t n)
{
	struct dist d = {0};
	double sum = 0;

	if (n == 0)
		return d;
	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	d.n = n;
	d.mean = sum / (double)n;
	d.p50 = v[(size_t)(0.50 * (double)(n - 1) + 0.5)];
	d.p95 = v[(size_t)(0.95 * (double)(n - 1) + 0.5)];
	d.p99 = v[(size_t)(0.99 * (double)(n - 1) + 0.5)];
	d.max = v[n - 1];
	return d;
}

static void
dist_json(FILE *f, const char *name, struct dist d)
{
	fprintf(f,
		"\"%s\": {\"n\": %zu, \"p50\": %.3f, \"p95\": %.3f,"
		" \"p99\": %.3f, \"max\": %.3f, \"mean\": %.3f}",
		name, d.n, d.p50, d.p95, d.p99, d.max, d.mean);
}

static int
cmd_echo(int argc, char **argv)
{
	struct props p = {0};
	struct echo e;
	const char *out = NULL, *cdf = NULL;
	uint64_t count = 50000, warm = 1000, lat_n, lost = 0;
	double rate = 1000, seconds = 10, thr_s, *rtt, *hop;
	size_t n_rtt = 0, n_hop = 0;
	pthread_t et, rt;
	rd_kafka_t *prod, *admin;
	char *buf, *names[2];
	int64_t t0, t1, next;
	struct dist d_rtt, d_hop;
	bool ok;

	memset(&e, 0, sizeof(e));
	e.brokers = default_brokers();
	e.props = &p;
	e.partitions = 4;
	e.size = 256;
	for (int i = 2; i < argc; i++) {
		if (take_prop(&p, argv[i]))
			continue;
		if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
			e.brokers = argv[++i];
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
			rate = atof(argv[++i]);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
			e.size = (size_t)atoi(argv[++i]);
		else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
			e.partitions = atoi(argv[++i]);
		else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--cdf") == 0 && i + 1 < argc)
			cdf = argv[++i];
		else
			die("echo: unknown argument %s (see --help)", argv[i]);
	}
	if (rate <= 0 || seconds <= 0 || e.partitions < 1)
		die("%s", "echo: --rate, --seconds and --partitions must be > 0");
	if (e.size < sizeof(struct wire))
		e.size = sizeof(struct wire);
	lat_n = (uint64_t)(rate * seconds);
	e.total = warm + count + lat_n;
	e.sent_ns = calloc(e.total, sizeof(int64_t));
	e.hop_ns = calloc(e.total, sizeof(int64_t));
	e.back_ns = calloc(e.total, sizeof(int64_t));
	buf = calloc(1, e.size);
	if (e.sent_ns == NULL || e.hop_ns == NULL || e.back_ns == NULL ||
	    buf == NULL)
		die("%s", "out of memory");
	memset(buf + sizeof(struct wire), 'x', e.size - sizeof(struct wire));

	snprintf(e.ping, sizeof(e.ping), "kafka_echo.%d.%lld.ping",
		 (int)getpid(), (long long)time(NULL));
	snprintf(e.pong, sizeof(e.pong), "kafka_echo.%d.%lld.pong",
		 (int)getpid(), (long long)time(NULL));
	names[0] = e.ping;
	names[1] = e.pong;
	admin = make_handle(RD_KAFKA_PRODUCER, make_conf(e.brokers, &p, NULL));
	if (create_topics(admin, names, 2, e.partitions, NULL, 0) != 0 ||
	    partition_count(admin, e.ping) == 0 ||
	    partition_count(admin, e.pong) == 0)
		die("%s", "echo: cannot create the echo topics");

	prod = make_handle(RD_KAFKA_PRODUCER,
			   make_conf(e.brokers, &p, producer_defaults));
	pthread_create(&et, NULL, echo_thread, &e);
	pthread_create(&rt, NULL, recv_thread, &e);
	while (!e.echo_ready || !e.recv_ready)
		sleep_ms(1);

	/* Warm-up: connections, metadata, fetchers; one message at a time
	 * first so every partition's fetcher is running. */
	for (uint64_t s = 0; s < warm; s++) {
		send_msg(&e, prod, s, buf);
		if (s < 20 && !wait_received(&e, prod, s + 1, 30))
			die("%s", "echo: no echo within 30 s (warm-up)");
	}
	if (!wait_received(&e, prod, warm, 30))
		die("%s", "echo: warm-up did not come back within 30 s");

	/* Throughput: count messages as fast as possible. */
	t0 = mono_ns();
	for (uint64_t s = warm; s < warm + count; s++)
		send_msg(&e, prod, s, buf);
	ok = wait_received(&e, prod, warm + count, 120);
	t1 = mono_ns();
	{
		int64_t last = t0;

		for (uint64_t s = warm; s < warm + count; s++)
			if (e.back_ns[s] > last)
				last = e.back_ns[s];
		t1 = last;
	}
	thr_s = (double)(t1 - t0) / 1e9;
	if (!ok)
		fprintf(stderr, "kafka_echo: throughput phase incomplete\n");

	/* Latency: a fixed rate, one message per tick. */
	next = mono_ns();
	for (uint64_t s = warm + count; s < e.total; s++) {
		struct timespec ts;

		next += (int64_t)(1e9 / rate);
		ts.tv_sec = (time_t)(next / 1000000000LL);
		ts.tv_nsec = (long)(next % 1000000000LL);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
				       NULL) == EINTR)
			;
		send_msg(&e, prod, s, buf);
	}
	wait_received(&e, prod, e.total, 30);
	e.stop = 1;
	pthread_join(et, NULL);
	pthread_join(rt, NULL);
	rd_kafka_flush(prod, 10000);
	rd_kafka_destroy(prod);
	delete_topics(admin, names, 2);
	rd_kafka_destroy(admin);

	rtt = calloc(lat_n + 1, sizeof(double));
	hop = calloc(lat_n + 1, sizeof(double));
	for (uint64_t s = warm + count; s < e.total; s++) {
		if (e.back_ns[s] == 0) {
			lost++;
			continue;
		}
		rtt[n_rtt++] = (double)(e.back_ns[s] - e.sent_ns[s]) / 1e6;
		if (e.hop_ns[s] != 0)
			hop[n_hop++] = (double)(e.hop_ns[s] - e.sent_ns[s]) / 1e6;
	}
	d_rtt = distribution(rtt, n_rtt);
	d_hop = distribution(hop, n_hop);
	printf("kafka_echo: throughput %" PRIu64 " round trips in %.2f s ="
	       " %.0f msg/s (produce->consume->produce->consume)\n",
	       count, thr_s, (double)count / thr_s);
	printf("kafka_echo: at %.0f msg/s: round trip p50 %.2f ms, p95 %.2f ms,"
	       " p99 %.2f ms, max %.2f ms; one hop p50 %.2f ms, p99 %.2f ms;"
	       " lost %" PRIu64 "\n",
	       rate, d_rtt.p50, d_rtt.p95, d_rtt.p99, d_rtt.max, d_hop.p50,
	       d_hop.p99, lost);
	if (out != NULL) {
		FILE *f = fopen(out, "w");

		if (f == NULL)
			die("cannot write %s", out);
		fprintf(f,
			"{\"benchmark\": \"kafka_echo\", \"librdkafka\": \"%s\","
			" \"partitions\": %d, \"payload_bytes\": %zu,"
			" \"producer\": \"idempotent, acks=all, linger.ms=2\","
			" \"throughput\": {\"messages\": %" PRIu64
			", \"seconds\": %.3f, \"msgs_per_s\": %.1f,"
			" \"complete\": %s},"
			" \"latency\": {\"rate\": %.1f, \"seconds\": %.1f,"
			" \"lost\": %" PRIu64 ", ",
			rd_kafka_version_str(), e.partitions, e.size, count,
			thr_s, (double)count / thr_s, ok ? "true" : "false",
			rate, seconds, lost);
		dist_json(f, "round_trip_ms", d_rtt);
		fputs(", ", f);
		dist_json(f, "one_hop_ms", d_hop);
		fputs("}}\n", f);
		if (fclose(f) != 0)
			die("cannot write %s", out);
	}
	if (cdf != NULL && n_rtt > 0) {
		/* the round trips' distribution: percent, ms (rtt is sorted) */
		static const double tail[] = {99.25, 99.5, 99.75, 99.9, 100};
		FILE *f = fopen(cdf, "w");

		if (f == NULL)
			die("cannot write %s", cdf);
		for (int k = 0; k < 200 + 5; k++) {
			double pct = k < 200 ? k * 0.5 : tail[k - 200];
			size_t at = (size_t)(pct / 100 * (double)(n_rtt - 1) + 0.5);

			fprintf(f, "%.2f\t%.3f\n", pct, rtt[at]);
		}
		if (fclose(f) != 0)
			die("cannot write %s", cdf);
	}
	free(rtt);
	free(hop);
	free(buf);
	free(e.sent_ns);
	free(e.hop_ns);
	free(e.back_ns);
	return ok && lost == 0 ? 0 : 1;
}

/* -------------------------------------------------------------- group */

static int
cmd_group(int argc, char **argv)
{
	const char *brokers = default_brokers(), *group = NULL;
	struct props p = {0};
	char errstr[512];
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;
	rd_kafka_AdminOptions_t *opt;
	rd_kafka_event_t *ev;
	const rd_kafka_DescribeConsumerGroups_result_t *res;
	const rd_kafka_ConsumerGroupDescription_t **groups = NULL;
	size_t n_groups = 0;
	int rc = 1;

	for (int i = 2; i < argc; i++) {
		if (take_prop(&p, argv[i]))
			continue;
		if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
			brokers = argv[++i];
		else if (strcmp(argv[i], "--group") == 0 && i + 1 < argc)
			group = argv[++i];
		else
			die("group: unknown option %s", argv[i]);
	}
	if (group == NULL)
		die("%s", "group: give --group (see --help)");
	rk = make_handle(RD_KAFKA_PRODUCER, make_conf(brokers, &p, NULL));
	q = rd_kafka_queue_new(rk);
	opt = rd_kafka_AdminOptions_new(rk,
					RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
	if (rd_kafka_AdminOptions_set_request_timeout(opt, 10000, errstr,
						      sizeof(errstr)))
		die("%s", errstr);
	rd_kafka_DescribeConsumerGroups(rk, &group, 1, opt, q);
	ev = rd_kafka_queue_poll(q, 15000);
	res = ev != NULL ? rd_kafka_event_DescribeConsumerGroups_result(ev)
			 : NULL;
	if (res == NULL || rd_kafka_event_error(ev))
		fprintf(stderr, "kafka_echo: describe %s: %s\n", group,
			ev != NULL ? rd_kafka_event_error_string(ev)
				   : "timed out");
	else
		groups = rd_kafka_DescribeConsumerGroups_result_groups(
			res, &n_groups);
	for (size_t g = 0; g < n_groups; g++) {
		const rd_kafka_ConsumerGroupDescription_t *d = groups[g];
		const rd_kafka_error_t *e =
			rd_kafka_ConsumerGroupDescription_error(d);

		if (e != NULL) {
			fprintf(stderr, "kafka_echo: describe %s: %s\n", group,
				rd_kafka_error_string(e));
			continue;
		}
		printf("# state %s, %zu members\n",
		       rd_kafka_consumer_group_state_name(
			       rd_kafka_ConsumerGroupDescription_state(d)),
		       rd_kafka_ConsumerGroupDescription_member_count(d));
		for (size_t m = 0;
		     m < rd_kafka_ConsumerGroupDescription_member_count(d); m++) {
			const rd_kafka_MemberDescription_t *md =
				rd_kafka_ConsumerGroupDescription_member(d, m);
			const rd_kafka_topic_partition_list_t *l =
				rd_kafka_MemberAssignment_partitions(
					rd_kafka_MemberDescription_assignment(md));
			const char *id = rd_kafka_MemberDescription_client_id(md);

			if (l == NULL || l->cnt == 0)
				printf("%s\t-\t-\n", id);
			for (int k = 0; l != NULL && k < l->cnt; k++)
				printf("%s\t%s\t%d\n", id, l->elems[k].topic,
				       (int)l->elems[k].partition);
		}
		rc = 0;
	}
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(opt);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "echo") == 0)
		return cmd_echo(argc, argv);
	if (strcmp(argv[1], "topics") == 0)
		return cmd_topics(argc, argv);
	if (strcmp(argv[1], "tap") == 0)
		return cmd_tap(argc, argv);
	if (strcmp(argv[1], "group") == 0)
		return cmd_group(argc, argv);
	fprintf(stderr, "kafka_echo: unknown subcommand %s\n%s", argv[1],
		usage_text);
	return 2;
}
