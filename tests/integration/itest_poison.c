/*
 * itest_poison.c - no event stops the worker: poison events sent to the
 * trigger topic of a running `orchestrator run` are dead-lettered whole
 * and everything else goes on.
 *
 * One case per kind of poison: a NUL byte in a header value, a NUL byte in
 * the key, headers that are not UTF-8, a value of about 1 MB (just under
 * the producer's message size, so the dead-letter copy with our headers is
 * over it), 200 headers, a header value of 64 KB.  Each case checks that
 * the process is still alive, that the dead letter has the event's key,
 * value and every header byte for byte (as `dead-letters replay` reads
 * it) and the reason, that the dead-letter topic has a copy (its value
 * left out, and the dead letter's id and the original size in headers,
 * when the copy would be too large), that a saga sent after the poison
 * completes, and that the group's offsets moved past the poison; for two
 * of them, that `dead-letters replay` publishes the very bytes again.
 * Two more: a copy the broker (not the producer) refuses as too large,
 * and a row the database refuses, kept minimal.
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "broker.h"
#include "clock.h"
#include "config.h"
#include "harness.h"
#include "store.h"
#include "store_admin.h"

#define WAIT_MS 60000
#define MAX_POISON_HEADERS 256
#define PRODUCER_MESSAGE_MAX 1000000 /* librdkafka's message.max.bytes */

static const char poison_def[] =
	"{\"name\": \"poison\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"reserve\", \"command\": {\"topic\": \"{P}.work\","
	"   \"type\": \"reserve.do\"}, \"success\": [\"reserve.done\"]}"
	" ]}";

/* One poison event, as sent. */
struct poison {
	const char *key;
	size_t key_len;
	struct orc_header h[MAX_POISON_HEADERS];
	size_t n_h;
	char *value; /* owned */
	size_t value_len;
	const char *reason; /* part of the dead letter's error */
	bool too_large;     /* its dead-letter copy leaves the value out */
	bool minimal;       /* the table keeps only where it was and why */
	bool replay;        /* `dead-letters replay` it and read it back */
	const char *setup_sql;	    /* run on the scene's database first */
	const char *const *run_env; /* for `run` (may be NULL) */
};

static void
add_header(struct poison *p, const char *name, const void *value, size_t size)
{
	ck_assert_uint_lt(p->n_h, MAX_POISON_HEADERS);
	p->h[p->n_h++] = (struct orc_header){name, value, size};
}

#define ADD(p, name, lit) add_header(p, name, lit, sizeof(lit) - 1)

/*
 * A CloudEvent of a type no definition knows (so it is dead-lettered),
 * with id, on key "poison", value "{}".
 */
static void
poison_init(struct poison *p, const char *id)
{
	memset(p, 0, sizeof(*p));
	p->key = "poison";
	p->key_len = strlen(p->key);
	ADD(p, "ce_specversion", "1.0");
	add_header(p, "ce_id", id, strlen(id));
	ADD(p, "ce_source", "/it");
	ADD(p, "ce_type", "it.poison");
	ADD(p, "content-type", "application/json");
	p->value = strdup("{}");
	ck_assert_ptr_nonnull(p->value);
	p->value_len = 2;
	p->reason = "no saga definition starts with or waits for";
}

/* p's value: a JSON string of n bytes in all, of fill. */
static void
set_value(struct poison *p, size_t n, char fill)
{
	free(p->value);
	p->value = malloc(n);
	ck_assert_ptr_nonnull(p->value);
	p->value[0] = '"';
	memset(p->value + 1, fill, n - 2);
	p->value[n - 1] = '"';
	p->value_len = n;
}

static size_t
headers_size(const struct poison *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_h; i++)
		n += strlen(p->h[i].name) + p->h[i].size + 10;
	return n;
}

/* ---- checks ---- */

static void
assert_alive(struct orc_it_scene *s, int run, const char *when)
{
	int status;

	if (waitpid(s->procs[run].pid, &status, WNOHANG) != 0) {
		s->procs[run].pid = 0;
		orc_it_scene_fail(&*s, "`run` is dead %s (status %d)", when,
				  status);
	}
}

static bool
bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* The dead letter of sent as the store reads it for a replay. */
static void
assert_dead_letter(struct orc_it_scene *s, const struct poison *p,
		   const struct orc_it_sent *sent, long *id)
{
	struct orc_admin_dead_letter dl;
	struct orc_store *store;
	struct orc_error err;
	const char *error;

	*id = orc_it_scene_long(s, "SELECT id FROM dead_letters WHERE"
				" partition = %d AND \"offset\" = %lld",
				(int)sent->partition, (long long)sent->offset);
	if (*id <= 0)
		orc_it_scene_fail(s, "no dead letter at partition %d offset %lld",
				  (int)sent->partition, (long long)sent->offset);
	ck_assert_int_eq(orc_store_connect(s->db.dsn, NULL, &store, &err),
			 ORC_OK);
	if (orc_store_admin_dead_letter(store, *id, &dl, &err) != ORC_OK)
		orc_it_scene_fail(s, "reading dead letter %ld: %s", *id,
				  err.message);
	error = json_string_value(json_object_get(dl.info, "error"));
	if (error == NULL || strstr(error, p->reason) == NULL)
		orc_it_scene_fail(s, "dead letter %ld: error \"%s\", expected"
				  " \"%s\"", *id, error ? error : "(null)",
				  p->reason);
	if (p->minimal) {
		ck_assert_ptr_null(dl.key);
		ck_assert_ptr_null(dl.payload);
		ck_assert_uint_eq(dl.n_headers, 0);
		goto done;
	}
	ck_assert(bytes_eq(dl.key, dl.key_len, p->key, p->key_len));
	ck_assert(bytes_eq(dl.payload, dl.payload_len, p->value, p->value_len));
	if (dl.n_headers != p->n_h)
		orc_it_scene_fail(s, "dead letter %ld: %zu headers, sent %zu",
				  *id, dl.n_headers, p->n_h);
	for (size_t i = 0; i < p->n_h; i++) {
		ck_assert_str_eq(dl.headers[i].name, p->h[i].name);
		ck_assert_msg(bytes_eq(dl.headers[i].value, dl.headers[i].size,
				       p->h[i].value, p->h[i].size),
			      "dead letter %ld: header %zu (%s) differs", *id, i,
			      p->h[i].name);
	}
done:
	orc_admin_dead_letter_finish(&dl);
	orc_store_destroy(store);
}

static bool
header_is(const struct orc_kafka_message *m, const char *name,
	  const char *value)
{
	struct orc_header h;

	return orc_kafka_message_header(m, name, &h) && h.value != NULL &&
	       bytes_eq(h.value, h.size, value, strlen(value));
}

/*
 * A consumer of its own group reading one topic from the start, and the
 * message it found: the message must go before its consumer.
 */
struct finder {
	struct orc_config cfg;
	struct orc_consumer *c;
	struct orc_kafka_message *m;
};

/*
 * Read topic until a message with header name = value comes (in f->m;
 * NULL after 30 s).  f is caller-owned; finder_finish() it.
 */
static struct orc_kafka_message *
find_message(struct finder *f, const char *topic, const char *name,
	     const char *value)
{
	const char *topics[1] = {topic};
	char group[96];
	struct orc_error err;
	int64_t deadline = orc_clock_mono_ms() + 30000;

	orc_it_unique("it_poison_find", group, sizeof(group));
	orc_it_config_init(&f->cfg);
	ck_assert_int_eq(orc_consumer_create(&f->cfg, group, topics, 1, &f->c,
					     &err),
			 ORC_OK);
	f->m = NULL;
	while (f->m == NULL && orc_clock_mono_ms() < deadline) {
		f->m = orc_it_poll_one(f->c, 1000);
		if (f->m != NULL && !header_is(f->m, name, value)) {
			orc_kafka_message_destroy(f->m);
			f->m = NULL;
		}
	}
	return f->m;
}

static void
finder_finish(struct finder *f)
{
	orc_kafka_message_destroy(f->m);
	orc_consumer_destroy(f->c);
	orc_config_finish(&f->cfg);
}

/* The copy on the dead-letter topic: headers as sent, then ours. */
static void
assert_dlq_copy(struct orc_it_scene *s, const struct poison *p,
		const struct orc_it_sent *sent, long id)
{
	struct finder f;
	struct orc_kafka_message *m;
	char part[16], off[24], size[24], ids[24];

	/* the poison is the only dead letter of the scene so far */
	snprintf(part, sizeof(part), "%d", (int)sent->partition);
	snprintf(off, sizeof(off), "%lld", (long long)sent->offset);
	m = find_message(&f, s->dlq, "orc_dlq_offset", off);
	if (m == NULL || !header_is(m, "orc_dlq_partition", part))
		orc_it_scene_fail(s, "no copy of partition %s offset %s on %s",
				  part, off, s->dlq);
	ck_assert(bytes_eq(m->key, m->key_len, p->key, p->key_len));
	if (p->too_large) {
		snprintf(size, sizeof(size), "%zu", p->value_len);
		snprintf(ids, sizeof(ids), "%ld", id);
		ck_assert_msg(m->value_len < p->value_len,
			      "the copy has the whole value");
		ck_assert(header_is(m, "orc_dlq_value_size", size));
		ck_assert(header_is(m, "orc_dlq_dead_letter_id", ids));
	} else {
		struct orc_header h;

		ck_assert(bytes_eq(m->value, m->value_len, p->value,
				   p->value_len));
		for (size_t i = 0; i < p->n_h; i++) {
			ck_assert(orc_kafka_message_header_at(m, i, &h));
			ck_assert_str_eq(h.name, p->h[i].name);
			ck_assert(bytes_eq(h.value, h.size, p->h[i].value,
					   p->h[i].size));
		}
		ck_assert(orc_kafka_message_header_at(m, p->n_h, &h));
		ck_assert_str_eq(h.name, "orc_dlq_error");
	}
	finder_finish(&f);
}

/*
 * After `run` stopped: a member of its group gets nothing from the
 * trigger topic, so the committed offsets are past everything sent.
 */
static void
assert_offsets_past(struct orc_it_scene *s)
{
	struct orc_config cfg;
	struct orc_consumer *c;
	struct orc_kafka_message *m;
	char orders[128];
	const char *topics[1] = {orders};
	struct orc_error err;

	orc_it_scene_topic(s, "orders", orders, sizeof(orders));
	orc_it_config_init(&cfg);
	ck_assert_int_eq(orc_consumer_create(&cfg, s->group, topics, 1, &c,
					     &err),
			 ORC_OK);
	m = orc_it_poll_one(c, 10000);
	if (m != NULL)
		orc_it_scene_fail(s, "offset %lld of partition %d read again",
				  (long long)m->offset, (int)m->partition);
	orc_consumer_destroy(c);
	orc_config_finish(&cfg);
}

/*
 * `dead-letters replay id` publishes p again to the trigger topic with
 * the very bytes it had (plus orc_replayed_from), and the running worker
 * dead-letters it again.
 */
static void
assert_replay(struct orc_it_scene *s, const struct poison *p, long id)
{
	char out[4096], ids[24], orders[128];
	const char *args[] = {"dead-letters", "replay", ids, NULL};
	struct finder f;
	struct orc_kafka_message *m;
	struct orc_header h;

	snprintf(ids, sizeof(ids), "%ld", id);
	if (orc_it_scene_cli(s, out, sizeof(out), args) != 0)
		orc_it_scene_fail(s, "replay %ld: %s", id, out);
	orc_it_scene_topic(s, "orders", orders, sizeof(orders));
	m = find_message(&f, orders, "orc_replayed_from", ids);
	if (m == NULL)
		orc_it_scene_fail(s, "replay of %ld not on %s", id, orders);
	ck_assert(bytes_eq(m->key, m->key_len, p->key, p->key_len));
	ck_assert(bytes_eq(m->value, m->value_len, p->value, p->value_len));
	ck_assert_uint_eq(orc_kafka_message_header_count(m), p->n_h + 1);
	for (size_t i = 0; i < p->n_h; i++) {
		ck_assert(orc_kafka_message_header_at(m, i, &h));
		ck_assert_str_eq(h.name, p->h[i].name);
		ck_assert_msg(bytes_eq(h.value, h.size, p->h[i].value,
				       p->h[i].size),
			      "replayed header %zu (%s) differs", i, p->h[i].name);
	}
	finder_finish(&f);
	orc_it_scene_await(s, WAIT_MS, "the replay dead-lettered again",
			   "SELECT count(*) = 2 FROM dead_letters");
}

/* Send p to a running `run`, then a normal saga; check it all. */
static void
run_poison(struct poison *p)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "reserve.do=succeed:reserve.done", NULL};
	struct orc_it_scene s;
	struct orc_it_sent sent, after;
	char orders[128];
	struct orc_error err;
	enum orc_status st;
	long id;
	int run;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, poison_def);
	if (p->setup_sql != NULL)
		orc_it_pg_exec(s.db.conn, p->setup_sql, 0, NULL);
	run = orc_it_scene_run(&s, "run", p->run_env);
	orc_it_scene_responder(&s, "services", "work", rules);
	orc_it_scene_topic(&s, "orders", orders, sizeof(orders));
	sent.partition = -1;
	for (;;) {
		st = orc_producer_send(s.producer, orders, p->key, p->key_len,
				       p->h, p->n_h, p->value, p->value_len,
				       &sent, &err);
		if (st != ORC_TRANSIENT)
			break;
		orc_producer_poll(s.producer, 50);
	}
	ck_assert_msg(st == ORC_OK, "send: %s", err.message);
	orc_it_scene_flush(&s);
	ck_assert_int_ge(sent.partition, 0);
	orc_it_scene_event(&s, "orders", "poison", "after-poison",
			   "order.placed", "{\"order_id\":\"o-after\"}", NULL,
			   NULL, &after);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the saga after the poison completed",
			   "SELECT count(*) = 1 FROM sagas WHERE business_key ="
			   " 'o-after' AND status = 'completed'");
	assert_alive(&s, run, "after the poison");
	orc_it_scene_await(&s, 10000, "one dead letter",
			   "SELECT count(*) = 1 FROM dead_letters");
	assert_dead_letter(&s, p, &sent, &id);
	assert_dlq_copy(&s, p, &sent, id);
	if (p->replay)
		assert_replay(&s, p, id);
	assert_alive(&s, run, "at the end");
	ck_assert_int_eq(orc_it_scene_stop(&s, run, SIGTERM), 0);
	assert_offsets_past(&s);
	free(p->value);
	orc_it_scene_finish(&s);
}

/* ---- the poisons ---- */

START_TEST(test_nul_in_header_value)
{
	struct poison p;

	poison_init(&p, "poison-nul-header");
	ADD(&p, "x-nul", "a\0b\0");
	ADD(&p, "x-only-nul", "\0");
	p.replay = true;
	run_poison(&p);
}
END_TEST

START_TEST(test_nul_in_attribute)
{
	struct poison p;

	poison_init(&p, "poison-nul-attr");
	p.h[1] = (struct orc_header){"ce_id", "poi\0son", 7};
	p.reason = "contains a NUL byte";
	run_poison(&p);
}
END_TEST

START_TEST(test_nul_in_key)
{
	struct poison p;

	poison_init(&p, "poison-nul-key");
	p.key = "po\0is\0on";
	p.key_len = 8;
	run_poison(&p);
}
END_TEST

START_TEST(test_headers_not_utf8)
{
	struct poison p;

	poison_init(&p, "poison-utf8");
	ADD(&p, "x-latin1", "caf\xe9");
	ADD(&p, "x-broken", "\xc3\x28\xff\xfe");
	ADD(&p, "x-looks-like-hex", "\\x414243");
	add_header(&p, "x-null", NULL, 0);
	ADD(&p, "x-empty", "");
	p.replay = true;
	run_poison(&p);
}
END_TEST

START_TEST(test_value_of_1mb)
{
	struct poison p;
	size_t n;

	poison_init(&p, "poison-1mb");
	/* as large as the producer sends: the copy plus our headers is not */
	n = PRODUCER_MESSAGE_MAX - 128 - p.key_len - headers_size(&p);
	set_value(&p, n, 'v');
	p.too_large = true;
	run_poison(&p);
}
END_TEST

START_TEST(test_200_headers)
{
	static char names[200][16], values[200][16];
	struct poison p;

	poison_init(&p, "poison-200");
	while (p.n_h < 200) {
		size_t i = p.n_h;

		snprintf(names[i], sizeof(names[i]), "x-h-%03zu", i);
		snprintf(values[i], sizeof(values[i]), "v%zu", i);
		add_header(&p, names[i], values[i], strlen(values[i]));
	}
	ADD(&p, "x-h-000", "a name again");
	p.reason = "201 headers, more than 128";
	run_poison(&p);
}
END_TEST

START_TEST(test_header_of_64kb)
{
	static char big[65536];
	struct poison p;

	poison_init(&p, "poison-64kb");
	memset(big, 'h', sizeof(big));
	add_header(&p, "x-big", big, sizeof(big));
	p.reason = "bytes in all, more than 65536";
	run_poison(&p);
}
END_TEST

/*
 * The broker refuses the copy (its message.max.bytes, 1 MiB, is below
 * the producers'): it goes again without the value.
 */
START_TEST(test_copy_refused_by_the_broker)
{
	static const char *const env[] = {"ORC_KAFKA_MESSAGE_MAX_BYTES=3000000",
					  NULL};
	struct poison p;
	size_t n;

	setenv("ORC_KAFKA_MESSAGE_MAX_BYTES", "3000000", 1);
	poison_init(&p, "poison-broker-refuses");
	n = 1048588 - 150 - p.key_len - headers_size(&p);
	set_value(&p, n, 'b');
	p.too_large = true;
	p.run_env = env;
	run_poison(&p);
}
END_TEST

/*
 * The database refuses the whole row (here a constraint stands for any
 * limit it has): the dead letter is kept minimal and the worker goes on.
 */
START_TEST(test_row_refused_kept_minimal)
{
	struct poison p;

	poison_init(&p, "poison-minimal");
	free(p.value);
	p.value = strdup("{\"pad\": \"this value is longer than the constraint allows\"}");
	ck_assert_ptr_nonnull(p.value);
	p.value_len = strlen(p.value);
	p.setup_sql = "ALTER TABLE dead_letters ADD CONSTRAINT it_small"
		      " CHECK (payload IS NULL OR octet_length(payload) < 16)";
	p.reason = "kept without key, headers and payload";
	p.minimal = true;
	run_poison(&p);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(nul_in_header_value),
		ORC_IT_CASE(nul_in_attribute),
		ORC_IT_CASE(nul_in_key),
		ORC_IT_CASE(headers_not_utf8),
		ORC_IT_CASE(value_of_1mb),
		ORC_IT_CASE(200_headers),
		ORC_IT_CASE(header_of_64kb),
		ORC_IT_CASE(copy_refused_by_the_broker),
		ORC_IT_CASE(row_refused_kept_minimal),
	};

	return orc_it_run_suite("poison", cases, sizeof(cases) / sizeof(cases[0]),
				150);
}
