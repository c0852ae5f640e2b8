/*
 * loadgen.c - produce trigger events (CloudEvents 1.0, Kafka binary mode) for
 * benchmarks and demos: a fixed count, as fast as the broker takes them or at
 * a fixed rate.
 *
 * Every event gets a unique business key, "<prefix>-<i>", placed at the
 * --key-field pointer of its data and used as the Kafka key, and a unique
 * ce_id, "<prefix>-<i>" as well (with ce_source it is the orchestrator's
 * deduplication key).  The data is the --data JSON template with {i}, {key}
 * and {ts_ms} (wall-clock ms when the event was produced) substituted as
 * text.  The rate is a token bucket: tokens arrive at --rate per second, at
 * most --burst of them wait, one event spends one; without --rate it sends as
 * fast as librdkafka queues them.  Like the responder it is written from the
 * public message contract only: it links no orchestrator code.
 *
 * It prints what it sent (a summary line; one line per event with
 * --verbose), optionally writes the summary as JSON, and exits non-zero when
 * any event was not acknowledged by the broker.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <poll.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#define MAX_PROPS 64
#define FLUSH_TIMEOUT_MS 60000

static volatile sig_atomic_t stop_requested;

struct options {
	const char *brokers;
	const char *topic;
	const char *type;
	const char *source;
	const char *key_field;
	const char *prefix;
	const char *data;
	const char *json_out;
	uint64_t count;
	uint64_t start;
	double rate;
	double burst;
	double progress_s;
	bool verbose;
	bool credits; /* --credits: stdin grants permits */
	const char *prop_names[MAX_PROPS];
	const char *prop_values[MAX_PROPS];
	int n_props;
};

struct counters {
	uint64_t sent;
	uint64_t acked;
	uint64_t failed;
	char first_error[256];
};

static const char usage_text[] =
	"usage: loadgen --topic T --type TYPE [--count N] [--rate R] [options]\n"
	"\n"
	"Produces N trigger events (CloudEvents 1.0, Kafka binary mode) with\n"
	"unique business keys <prefix>-<i>, as fast as possible or at R events/s\n"
	"(token bucket), waits for the broker's acknowledgements and prints what\n"
	"it sent.\n"
	"\n"
	"Options:\n"
	"  --brokers HOST:PORT   Kafka bootstrap servers (default\n"
	"                        $ORC_KAFKA_BROKERS, else 127.0.0.1:9092)\n"
	"  --topic T             topic to produce to (required)\n"
	"  --type TYPE           ce_type of the events (required)\n"
	"  --source S            ce_source (default /loadgen)\n"
	"  --count N             events to send (default 1)\n"
	"  --start I             first index i (default 0)\n"
	"  --rate R              events per second (default 0: as fast as\n"
	"                        possible)\n"
	"  --burst B             token bucket depth (default rate/200, >= 1)\n"
	"  --prefix P            business key and ce_id prefix, [A-Za-z0-9._:-]\n"
	"                        (default lg-<unix time>-<pid>)\n"
	"  --key-field F         where the key goes in the data: a JSON Pointer\n"
	"                        (/order/id) or a top-level name (default /id)\n"
	"  --data JSON           data template; {i}, {key} and {ts_ms} are\n"
	"                        replaced as text (default {}); the key is set\n"
	"                        at --key-field when the template lacks it\n"
	"  --json FILE           also write the summary as JSON to FILE\n"
	"  --progress-s S        print progress to stderr every S seconds\n"
	"  --kafka.PROP=VALUE    librdkafka producer property\n"
	"  --credits             closed-loop pacing by another program: read\n"
	"                        lines of integers on stdin, each permitting that\n"
	"                        many more events (on top of --rate); stops at\n"
	"                        --count or at end of input\n"
	"  -v, --verbose         print one line per event sent\n"
	"  -h, --help            print this text\n"
	"\n"
	"Prints on stdout:\n"
	"  loadgen: sent=N acked=N failed=0 seconds=S rate=R/s topic=T type=TYPE\n"
	"           keys=<prefix>-<start>..<prefix>-<start+N-1>\n"
	"\n"
	"Example (the demo's order):\n"
	"  loadgen --topic orders.events --type order.placed --count 100 \\\n"
	"    --rate 20 --key-field order_id \\\n"
	"    --data '{\"order_id\":\"{key}\",\"total\":{i},\"customer\":\"c-1\"}'\n";

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "loadgen: %s%s%s\n(see loadgen --help)\n", msg,
		arg ? " " : "", arg ? arg : "");
	return 2;
}

static bool
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		return false;
	*out = v;
	return true;
}

static bool
parse_double(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return false;
	*out = v;
	return true;
}

static bool
prefix_ok(const char *p)
{
	if (*p == '\0')
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		      *p == ':' || *p == '-'))
			return false;
	return true;
}

/* Returns 0 to run, 1 after --help, 2 on a usage error. */
static int
parse_args(struct options *o, int argc, char **argv)
{
	static char default_prefix[64];

	memset(o, 0, sizeof(*o));
	o->brokers = getenv("ORC_KAFKA_BROKERS");
	if (o->brokers == NULL || *o->brokers == '\0')
		o->brokers = "127.0.0.1:9092";
	o->source = "/loadgen";
	o->key_field = "/id";
	o->data = "{}";
	o->count = 1;
	snprintf(default_prefix, sizeof(default_prefix), "lg-%lld-%d",
		 (long long)time(NULL), (int)getpid());
	o->prefix = default_prefix;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL, *eq;
		char name[128];
		size_t len;

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			fputs(usage_text, stdout);
			return 1;
		}
		if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
			o->verbose = true;
			continue;
		}
		if (strcmp(arg, "--credits") == 0) {
			o->credits = true;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0)
			return usage_error("unexpected argument", arg);
		eq = strchr(arg, '=');
		len = eq ? (size_t)(eq - arg) : strlen(arg);
		if (len >= sizeof(name))
			return usage_error("unknown option", arg);
		memcpy(name, arg, len);
		name[len] = '\0';
		if (eq != NULL) {
			val = eq + 1;
		} else {
			if (i + 1 >= argc)
				return usage_error("missing value for", name);
			val = argv[++i];
		}
		if (strncmp(name, "--kafka.", 8) == 0 && name[8] != '\0') {
			if (o->n_props == MAX_PROPS)
				return usage_error("too many --kafka. options",
						   NULL);
			o->prop_names[o->n_props] = arg + 8;
			o->prop_values[o->n_props] = val;
			/* the name ends at '=' or is the whole argument */
			if (eq != NULL) {
				char *n = strndup(arg + 8, len - 8);

				if (n == NULL)
					return usage_error("out of memory", NULL);
				o->prop_names[o->n_props] = n;
			}
			o->n_props++;
		} else if (strcmp(name, "--brokers") == 0) {
			o->brokers = val;
		} else if (strcmp(name, "--topic") == 0) {
			o->topic = val;
		} else if (strcmp(name, "--type") == 0) {
			o->type = val;
		} else if (strcmp(name, "--source") == 0) {
			o->source = val;
		} else if (strcmp(name, "--key-field") == 0) {
			o->key_field = val;
		} else if (strcmp(name, "--prefix") == 0) {
			o->prefix = val;
		} else if (strcmp(name, "--data") == 0) {
			o->data = val;
		} else if (strcmp(name, "--json") == 0) {
			o->json_out = val;
		} else if (strcmp(name, "--count") == 0) {
			if (!parse_u64(val, &o->count))
				return usage_error("bad --count", val);
		} else if (strcmp(name, "--start") == 0) {
			if (!parse_u64(val, &o->start))
				return usage_error("bad --start", val);
		} else if (strcmp(name, "--rate") == 0) {
			if (!parse_double(val, &o->rate))
				return usage_error("bad --rate", val);
		} else if (strcmp(name, "--burst") == 0) {
			if (!parse_double(val, &o->burst) || o->burst < 1)
				return usage_error("bad --burst", val);
		} else if (strcmp(name, "--progress-s") == 0) {
			if (!parse_double(val, &o->progress_s))
				return usage_error("bad --progress-s", val);
		} else {
			return usage_error("unknown option", name);
		}
	}
	if (o->topic == NULL || *o->topic == '\0')
		return usage_error("--topic is required", NULL);
	if (o->type == NULL || *o->type == '\0')
		return usage_error("--type is required", NULL);
	if (!prefix_ok(o->prefix))
		return usage_error("--prefix must be [A-Za-z0-9._:-]+:",
				   o->prefix);
	if (o->key_field[0] == '\0')
		return usage_error("--key-field must not be empty", NULL);
	if (o->burst == 0)
		o->burst = o->rate / 200.0 < 1 ? 1 : o->rate / 200.0;
	return 0;
}

/* ---------------------------------------------------------- data */

/* A growable text buffer, reused for every event. */
struct buf {
	char *p;
	size_t len, cap;
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (b->p == NULL) {
			fputs("loadgen: out of memory\n", stderr);
			exit(1);
		}
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* The template with {i}, {key} and {ts_ms} replaced, into b. */
static void
render(struct buf *b, const char *tmpl, uint64_t i, const char *key,
       int64_t ts_ms)
{
	char num[32];

	b->len = 0;
	buf_add(b, "", 0);
	for (const char *p = tmpl; *p;) {
		if (strncmp(p, "{i}", 3) == 0) {
			int n = snprintf(num, sizeof(num), "%" PRIu64, i);

			buf_add(b, num, (size_t)n);
			p += 3;
		} else if (strncmp(p, "{key}", 5) == 0) {
			buf_add(b, key, strlen(key));
			p += 5;
		} else if (strncmp(p, "{ts_ms}", 7) == 0) {
			int n = snprintf(num, sizeof(num), "%" PRId64, ts_ms);

			buf_add(b, num, (size_t)n);
			p += 7;
		} else {
			buf_add(b, p, 1);
			p++;
		}
	}
}

/*
 * Set value at pointer ptr ("/a/b", or a plain top-level name) in obj,
 * making the objects on the way; false when something on the way is not an
 * object.  Only "~0" and "~1" escapes are understood.
 */
static bool
set_at(json_t *obj, const char *ptr, json_t *value)
{
	char tok[256];
	const char *p = ptr;

	if (*p != '/')
		return json_object_set_new(obj, ptr, value) == 0;
	for (;;) {
		size_t n = 0;
		json_t *next;

		p++;
		while (*p && *p != '/' && n + 1 < sizeof(tok)) {
			if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
				tok[n++] = p[1] == '0' ? '~' : '/';
				p += 2;
			} else {
				tok[n++] = *p++;
			}
		}
		tok[n] = '\0';
		if (!json_is_object(obj)) {
			json_decref(value);
			return false;
		}
		if (*p == '\0')
			return json_object_set_new(obj, tok, value) == 0;
		next = json_object_get(obj, tok);
		if (next == NULL) {
			next = json_object();
			json_object_set_new(obj, tok, next);
		}
		obj = next;
	}
}

static json_t *
get_at(json_t *obj, const char *ptr)
{
	char tok[256];
	const char *p = ptr;

	if (*p != '/')
		return json_is_object(obj) ? json_object_get(obj, ptr) : NULL;
	while (*p == '/' && obj != NULL) {
		size_t n = 0;

		p++;
		while (*p && *p != '/' && n + 1 < sizeof(tok)) {
			if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
				tok[n++] = p[1] == '0' ? '~' : '/';
				p += 2;
			} else {
				tok[n++] = *p++;
			}
		}
		tok[n] = '\0';
		obj = json_is_object(obj) ? json_object_get(obj, tok) : NULL;
	}
	return obj;
}

/*
 * The data of event i into b.  When the template carries the key itself
 * (checked on the first event) the text is sent as rendered; otherwise it
 * is parsed, the key set and dumped again.
 */
struct data_maker {
	const struct options *o;
	struct buf text;
	bool checked;
	bool needs_key;
};

static bool
make_data(struct data_maker *dm, uint64_t i, const char *key, char **out,
	  size_t *out_len, char **to_free)
{
	const struct options *o = dm->o;
	json_t *doc, *at;
	json_error_t jerr;

	*to_free = NULL;
	render(&dm->text, o->data, i, key, wall_ms());
	if (dm->checked && !dm->needs_key) {
		*out = dm->text.p;
		*out_len = dm->text.len;
		return true;
	}
	doc = json_loadb(dm->text.p, dm->text.len, 0, &jerr);
	if (doc == NULL || !json_is_object(doc)) {
		fprintf(stderr, "loadgen: --data is not a JSON object after "
				"substitution: %s\n  %s\n",
			doc ? "not an object" : jerr.text, dm->text.p);
		json_decref(doc);
		return false;
	}
	if (!dm->checked) {
		at = get_at(doc, o->key_field);
		dm->needs_key = !(json_is_string(at) &&
				  strcmp(json_string_value(at), key) == 0);
		dm->checked = true;
		if (!dm->needs_key) {
			json_decref(doc);
			*out = dm->text.p;
			*out_len = dm->text.len;
			return true;
		}
	}
	if (!set_at(doc, o->key_field, json_string(key))) {
		fprintf(stderr, "loadgen: cannot set %s in the data: something "
				"on the way is not an object\n",
			o->key_field);
		json_decref(doc);
		return false;
	}
	*to_free = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (*to_free == NULL)
		return false;
	*out = *to_free;
	*out_len = strlen(*to_free);
	return true;
}

/* ---------------------------------------------------------- kafka */

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct counters *c = opaque;

	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		c->acked++;
		return;
	}
	if (c->failed++ == 0)
		snprintf(c->first_error, sizeof(c->first_error), "%s",
			 rd_kafka_err2str(m->err));
}

static rd_kafka_t *
producer_create(const struct options *o, struct counters *c)
{
	static const char *const defaults[] = {
		"client.id", "loadgen",
		"linger.ms", "5",
		"acks", "all",
		"queue.buffering.max.messages", "1000000",
		NULL,
	};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512];
	rd_kafka_t *rk;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK)
		goto fail;
	for (size_t i = 0; defaults[i] != NULL; i += 2)
		if (rd_kafka_conf_set(conf, defaults[i], defaults[i + 1], errstr,
				      sizeof(errstr)) != RD_KAFKA_CONF_OK)
			goto fail;
	for (int i = 0; i < o->n_props; i++)
		if (rd_kafka_conf_set(conf, o->prop_names[i], o->prop_values[i],
				      errstr, sizeof(errstr)) !=
		    RD_KAFKA_CONF_OK)
			goto fail;
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, c);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
		goto fail;
	return rk;
fail:
	fprintf(stderr, "loadgen: %s\n", errstr);
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* RFC 3339 UTC with milliseconds. */
static void
rfc3339(int64_t ms, char out[64])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static bool
send_one(rd_kafka_t *rk, const struct options *o, const char *key,
	 const char *data, size_t data_len)
{
	char when[64];
	rd_kafka_resp_err_t e;

	rfc3339(wall_ms(), when);
	for (;;) {
		e = rd_kafka_producev(
			rk, RD_KAFKA_V_TOPIC(o->topic),
			RD_KAFKA_V_KEY(key, strlen(key)),
			RD_KAFKA_V_VALUE((void *)data, data_len),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_HEADER("ce_specversion", "1.0", 3),
			RD_KAFKA_V_HEADER("ce_id", key, (ssize_t)strlen(key)),
			RD_KAFKA_V_HEADER("ce_source", o->source,
					  (ssize_t)strlen(o->source)),
			RD_KAFKA_V_HEADER("ce_type", o->type,
					  (ssize_t)strlen(o->type)),
			RD_KAFKA_V_HEADER("ce_time", when,
					  (ssize_t)strlen(when)),
			RD_KAFKA_V_HEADER("content-type", "application/json",
					  16),
			RD_KAFKA_V_END);
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(rk, 10); /* let the queue drain */
		if (stop_requested)
			return false;
	}
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "loadgen: cannot produce to %s: %s\n", o->topic,
			rd_kafka_err2str(e));
		return false;
	}
	return true;
}

/*
 * --credits: permits granted on stdin, one integer per line.  Waits (serving
 * delivery reports) until at least one permit is there; false at the end
 * of input with none left.
 */
struct credits {
	uint64_t left;
	bool eof;
	char line[64];
	size_t len;
};

static bool
take_credit(struct credits *cr, rd_kafka_t *rk)
{
	while (cr->left == 0 && !cr->eof && !stop_requested) {
		struct pollfd pfd = {0, POLLIN, 0};
		char buf[256];
		ssize_t n;

		rd_kafka_poll(rk, 0);
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		n = read(0, buf, sizeof(buf));
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			cr->eof = true;
			break;
		}
		for (ssize_t k = 0; k < n; k++) {
			if (buf[k] != '\n') {
				if (cr->len + 1 < sizeof(cr->line))
					cr->line[cr->len++] = buf[k];
				continue;
			}
			cr->line[cr->len] = '\0';
			cr->left += strtoull(cr->line, NULL, 10);
			cr->len = 0;
		}
	}
	if (cr->left == 0)
		return false;
	cr->left--;
	return true;
}

/* Sleep until the monotonic time t_ns (or a signal). */
static void
sleep_until(int64_t t_ns)
{
	struct timespec ts = {(time_t)(t_ns / 1000000000LL),
			      (long)(t_ns % 1000000000LL)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
		       EINTR &&
	       !stop_requested)
		;
}

/* ---------------------------------------------------------- main */

int
main(int argc, char **argv)
{
	struct options o;
	struct counters c;
	struct data_maker dm;
	struct credits cr;
	struct sigaction sa;
	rd_kafka_t *rk;
	int rc = parse_args(&o, argc, argv);
	int64_t t0, t_first = 0, t_last = 0, t_end, next_progress;
	int64_t first_ms = 0, last_ms = 0;
	double tokens, elapsed, send_s, rate;
	char key[256];
	uint64_t i;

	if (rc != 0)
		return rc == 1 ? 0 : rc;
	memset(&c, 0, sizeof(c));
	memset(&dm, 0, sizeof(dm));
	memset(&cr, 0, sizeof(cr));
	dm.o = &o;
	rk = producer_create(&o, &c);
	if (rk == NULL)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	t0 = mono_ns();
	tokens = 1.0; /* the first event goes at once */
	next_progress = o.progress_s > 0
				? t0 + (int64_t)(o.progress_s * 1e9)
				: INT64_MAX;
	{
		int64_t last_refill = t0;

		for (i = 0; i < o.count && !stop_requested; i++) {
			uint64_t idx = o.start + i;
			char *data, *to_free;
			size_t data_len;
			int64_t now;

			if (o.credits && !take_credit(&cr, rk))
				break;
			if (o.rate > 0) {
				/* token bucket: wait for one token */
				for (;;) {
					now = mono_ns();
					tokens += (double)(now - last_refill) *
						  o.rate / 1e9;
					last_refill = now;
					if (tokens > o.burst)
						tokens = o.burst;
					if (tokens >= 1.0)
						break;
					rd_kafka_poll(rk, 0);
					sleep_until(now + (int64_t)((1.0 - tokens) *
								    1e9 / o.rate));
					if (stop_requested)
						break;
				}
				if (stop_requested)
					break;
				tokens -= 1.0;
			}
			snprintf(key, sizeof(key), "%s-%" PRIu64, o.prefix, idx);
			if (!make_data(&dm, idx, key, &data, &data_len,
				       &to_free)) {
				rc = 1;
				break;
			}
			if (!send_one(rk, &o, key, data, data_len)) {
				free(to_free);
				rc = 1;
				break;
			}
			now = mono_ns();
			if (c.sent == 0) {
				t_first = now;
				first_ms = wall_ms();
			}
			t_last = now;
			last_ms = wall_ms();
			c.sent++;
			if (o.verbose)
				printf("sent topic=%s type=%s key=%s id=%s data=%s\n",
				       o.topic, o.type, key, key, data);
			free(to_free);
			rd_kafka_poll(rk, 0);
			if (now >= next_progress) {
				double s = (double)(now - t0) / 1e9;

				fprintf(stderr,
					"loadgen: %.1f s sent=%" PRIu64
					" acked=%" PRIu64 " rate=%.0f/s\n",
					s, c.sent, c.acked, (double)c.sent / s);
				next_progress += (int64_t)(o.progress_s * 1e9);
			}
		}
	}
	if (rd_kafka_flush(rk, FLUSH_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
		fprintf(stderr, "loadgen: %d events not acknowledged after %d s\n",
			rd_kafka_outq_len(rk), FLUSH_TIMEOUT_MS / 1000);
	t_end = mono_ns();
	rd_kafka_destroy(rk);
	free(dm.text.p);

	elapsed = (double)(t_end - t0) / 1e9;
	send_s = c.sent > 1 ? (double)(t_last - t_first) / 1e9 : 0;
	rate = send_s > 0 ? (double)(c.sent - 1) / send_s : 0;
	printf("loadgen: sent=%" PRIu64 " acked=%" PRIu64 " failed=%" PRIu64
	       " seconds=%.3f rate=%.0f/s topic=%s type=%s keys=%s-%" PRIu64
	       "..%s-%" PRIu64 "%s%s\n",
	       c.sent, c.acked, c.failed, send_s, rate, o.topic, o.type,
	       o.prefix, o.start, o.prefix,
	       o.start + (c.sent ? c.sent - 1 : 0),
	       c.failed ? " first_error=" : "", c.failed ? c.first_error : "");
	fflush(stdout);
	if (o.json_out != NULL) {
		FILE *f = fopen(o.json_out, "w");

		if (f == NULL) {
			perror(o.json_out);
			rc = 1;
		} else {
			fprintf(f,
				"{\"topic\": \"%s\", \"type\": \"%s\","
				" \"prefix\": \"%s\", \"start\": %" PRIu64
				", \"sent\": %" PRIu64 ", \"acked\": %" PRIu64
				", \"failed\": %" PRIu64
				", \"offered_rate\": %.3f, \"send_seconds\": %.6f,"
				" \"achieved_rate\": %.1f, \"seconds\": %.6f,"
				" \"first_sent_ms\": %" PRId64
				", \"last_sent_ms\": %" PRId64 "}\n",
				o.topic, o.type, o.prefix, o.start, c.sent,
				c.acked, c.failed, o.rate, send_s, rate, elapsed,
				first_ms, last_ms);
			if (fclose(f) != 0) {
				perror(o.json_out);
				rc = 1;
			}
		}
	}
	if (c.failed > 0 || c.acked < c.sent)
		rc = 1;
	if (stop_requested && rc == 0)
		rc = 130;
	return rc;
}
