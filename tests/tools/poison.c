/*
 * poison.c - produce one poison event of a named kind to a topic, for the
 * chaos command (tests/chaos/run.sh): the inputs that once put a worker
 * into a crash loop, sent to a running stack from the outside.
 *
 * Kinds (each a CloudEvent in Kafka binary mode unless said otherwise):
 *   nul-header    a NUL byte inside the value of an extension header
 *   big           a value of about 1 MB (valid JSON), of an unknown type
 *   not-json      a value that is not JSON, of the --type given
 *   bad-utf8      headers and a value that are not UTF-8
 *   many-headers  200 extension headers, of an unknown type
 *   unknown-saga  a reply (ce_sagaid, ce_sagastep) for a saga id that
 *                 does not exist
 *   unknown-step  a reply for the saga --saga-id names, whose ce_sagastep
 *                 its definition does not have
 *
 * Guarantees: the event is acknowledged by the broker (acks=all) before
 * it exits 0, and it prints "TOPIC<TAB>PARTITION<TAB>OFFSET<TAB>CE_ID" on
 * stdout, so the caller can find its dead letter.  It links no
 * orchestrator code: it is written from the public message contract only,
 * like the responder and the load generator.  It must not retry: one run,
 * one event (exit 1 when the broker did not take it).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#define BIG_VALUE_BYTES 900000 /* under librdkafka's default 1,000,000 */
#define MANY_HEADERS 200
#define FLUSH_TIMEOUT_MS 30000

static const char usage_text[] =
	"usage: poison --brokers B --topic T --kind KIND --id ID\n"
	"              [--type TYPE] [--saga-id UUID]\n"
	"kinds: nul-header big not-json bad-utf8 many-headers unknown-saga\n"
	"       unknown-step (see the head of tests/tools/poison.c)\n";

struct options {
	const char *brokers;
	const char *topic;
	const char *kind;
	const char *id;
	const char *type;
	const char *saga_id;
};

/* What the delivery report said; the producer fills it. */
struct delivery {
	bool done;
	rd_kafka_resp_err_t err;
	int32_t partition;
	int64_t offset;
};

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct delivery *d = m->_private;

	(void)rk;
	(void)opaque;
	d->done = true;
	d->err = m->err;
	d->partition = m->partition;
	d->offset = m->offset;
}

static int
parse_args(struct options *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	o->type = "chaos.poison";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (strcmp(a, "--brokers") == 0)
			slot = &o->brokers;
		else if (strcmp(a, "--topic") == 0)
			slot = &o->topic;
		else if (strcmp(a, "--kind") == 0)
			slot = &o->kind;
		else if (strcmp(a, "--id") == 0)
			slot = &o->id;
		else if (strcmp(a, "--type") == 0)
			slot = &o->type;
		else if (strcmp(a, "--saga-id") == 0)
			slot = &o->saga_id;
		if (slot == NULL || i + 1 >= argc) {
			fputs(usage_text, stderr);
			return 2;
		}
		*slot = argv[++i];
	}
	if (o->brokers == NULL || o->topic == NULL || o->kind == NULL ||
	    o->id == NULL) {
		fputs(usage_text, stderr);
		return 2;
	}
	return 0;
}

static void
add(rd_kafka_headers_t *h, const char *name, const void *value, size_t size)
{
	rd_kafka_header_add(h, name, -1, value, (ssize_t)size);
}

static void
add_str(rd_kafka_headers_t *h, const char *name, const char *value)
{
	add(h, name, value, strlen(value));
}

/*
 * The headers and value of o's kind, into h and *value (returned new,
 * *len bytes).  Returns false for an unknown kind or a missing option.
 */
static bool
build(const struct options *o, rd_kafka_headers_t *h, char **value,
      size_t *len)
{
	const char *k = o->kind, *type = o->type;
	char *v = NULL;

	if (strcmp(k, "big") == 0 || strcmp(k, "many-headers") == 0 ||
	    strcmp(k, "nul-header") == 0)
		type = "chaos.poison";
	else if (strcmp(k, "unknown-saga") == 0 ||
		 strcmp(k, "unknown-step") == 0)
		type = "service.succeeded";
	add_str(h, "ce_specversion", "1.0");
	add_str(h, "ce_id", o->id);
	add_str(h, "ce_source", "/chaos/poison");
	add_str(h, "ce_type", type);
	add_str(h, "content-type", "application/json");
	if (strcmp(k, "nul-header") == 0) {
		add(h, "ce_chaos", "a\0b", 3);
		v = strdup("{}");
	} else if (strcmp(k, "big") == 0) {
		v = malloc(BIG_VALUE_BYTES + 1);
		if (v != NULL) {
			memset(v, 'x', BIG_VALUE_BYTES);
			v[0] = '"';
			v[BIG_VALUE_BYTES - 1] = '"';
			v[BIG_VALUE_BYTES] = '\0';
		}
	} else if (strcmp(k, "not-json") == 0) {
		v = strdup("this is {not json");
	} else if (strcmp(k, "bad-utf8") == 0) {
		add(h, "ce_chaos", "\xc3\x28\xff", 3);
		v = strdup("{\"id\": \"\xc3\x28\xfe\xff\"}");
	} else if (strcmp(k, "many-headers") == 0) {
		for (int i = 0; i < MANY_HEADERS; i++) {
			char name[32];

			snprintf(name, sizeof(name), "x-chaos-%03d", i);
			add_str(h, name, "v");
		}
		v = strdup("{}");
	} else if (strcmp(k, "unknown-saga") == 0) {
		add_str(h, "ce_sagaid", "00000000-0000-4000-8000-00000000c4a0");
		add_str(h, "ce_sagastep", "reserve");
		v = strdup("{}");
	} else if (strcmp(k, "unknown-step") == 0 && o->saga_id != NULL) {
		add_str(h, "ce_sagaid", o->saga_id);
		add_str(h, "ce_sagastep", "nosuchstep");
		v = strdup("{}");
	} else {
		return false;
	}
	if (v == NULL)
		return false;
	*value = v;
	*len = strlen(v);
	return true;
}

int
main(int argc, char **argv)
{
	struct options o;
	struct delivery d = {0};
	char errstr[512];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk = NULL;
	rd_kafka_headers_t *h;
	rd_kafka_resp_err_t err;
	char *value = NULL;
	size_t len = 0;
	int rc = parse_args(&o, argc, argv);

	if (rc != 0)
		return rc;
	h = rd_kafka_headers_new(MANY_HEADERS + 16);
	if (!build(&o, h, &value, &len)) {
		fprintf(stderr, "poison: cannot build kind %s\n%s", o.kind,
			usage_text);
		rd_kafka_headers_destroy(h);
		return 2;
	}
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", o.brokers, errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "acks", "all", errstr, sizeof(errstr)) !=
		    RD_KAFKA_CONF_OK) {
		fprintf(stderr, "poison: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		fprintf(stderr, "poison: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(o.topic),
				RD_KAFKA_V_KEY(o.kind, strlen(o.kind)),
				RD_KAFKA_V_VALUE(value, len),
				RD_KAFKA_V_HEADERS(h),
				RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "poison: produce: %s\n", rd_kafka_err2str(err));
		goto fail;
	}
	h = NULL; /* the message owns them now */
	rd_kafka_flush(rk, FLUSH_TIMEOUT_MS);
	if (!d.done || d.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "poison: not delivered: %s\n",
			d.done ? rd_kafka_err2str(d.err) : "no report");
		goto fail;
	}
	printf("%s\t%" PRId32 "\t%" PRId64 "\t%s\n", o.topic, d.partition,
	       d.offset, o.id);
	rd_kafka_destroy(rk);
	free(value);
	return 0;
fail:
	if (h != NULL)
		rd_kafka_headers_destroy(h);
	if (rk != NULL)
		rd_kafka_destroy(rk);
	free(value);
	return 1;
}
