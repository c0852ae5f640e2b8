/*
 * itest_relay.c - the outbox relay against a real PostgreSQL and Kafka:
 * every header of a published command, per-saga order across batches,
 * two relays sharing the lanes (each row exactly once, lanes disjoint,
 * takeover when one stops), an unreachable Kafka (nothing deleted, then
 * published by a healthy relay), rows the broker refuses for good
 * (quarantined, with the saga's later rows when the refusal comes as the
 * row is produced; the rest published), a killed database connection
 * (reconnect, lanes claimed again), and the NOTIFY wake-up.
 *
 * Each test makes its own database (`orchestrator migrate` on it) and its
 * own topics.
 */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "clock.h"
#include "config.h"
#include "harness.h"
#include "relay.h"

#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static const char *const header_names[] = {
	"ce_specversion", "ce_id",	"ce_source",   "ce_type",
	"ce_time",	  "content-type", "ce_sagaid", "ce_sagastep",
	"ce_replyto",	  "traceparent",
};
#define N_HEADER_NAMES (sizeof(header_names) / sizeof(header_names[0]))
enum { H_SPEC, H_ID, H_SOURCE, H_TYPE, H_TIME, H_CT, H_SAGA, H_STEP, H_REPLY,
       H_TRACE };

/* One consumed message, copied out of librdkafka's buffers. */
struct consumed {
	char key[64];
	char value[256];
	int32_t partition;
	char h[N_HEADER_NAMES][128];
	bool has[N_HEADER_NAMES];
	size_t n_headers;
};

/*
 * One test's world: a migrated database, a topic of its own, and the
 * relay's settings for both.
 */
struct world {
	struct orc_it_db db;
	char topic[64];
	struct orc_config cfg;
};

/* The settings of a relay on db: batch rows a turn, polling every poll_ms. */
static void
config_for(struct orc_config *cfg, const struct orc_it_db *db, int batch,
	   int poll_ms)
{
	struct orc_error err;
	char v[16];

	orc_it_config_init(cfg);
	ck_assert_int_eq(orc_config_set(cfg, "pg_dsn", db->dsn, &err), ORC_OK);
	snprintf(v, sizeof(v), "%d", batch);
	ck_assert_int_eq(orc_config_set(cfg, "relay_batch", v, &err), ORC_OK);
	snprintf(v, sizeof(v), "%d", poll_ms);
	ck_assert_int_eq(orc_config_set(cfg, "relay_poll_ms", v, &err), ORC_OK);
}

/* Set up w: the topic is unique, named after name. */
static void
world_init(struct world *w, const char *name, int batch, int poll_ms)
{
	orc_it_db_init(&w->db);
	orc_it_unique(name, w->topic, sizeof(w->topic));
	config_for(&w->cfg, &w->db, batch, poll_ms);
}

static void
world_finish(struct world *w)
{
	orc_config_finish(&w->cfg);
	orc_it_db_finish(&w->db);
}

static long
outbox_rows(struct orc_it_db *db)
{
	return orc_it_pg_long(db->conn,
			      "SELECT count(*) FROM orchestrator.outbox");
}

/*
 * Insert n_sagas x per_saga commands to topic, interleaved (round-robin
 * over the sagas), ids in that order.  message_id = m-<saga>-<seq>.
 */
static void
insert_interleaved(struct orc_it_db *db, const char *topic, int n_sagas,
		   int per_saga)
{
	char ns[16], np[16];
	const char *params[3] = {topic, ns, np};

	snprintf(ns, sizeof(ns), "%d", n_sagas);
	snprintf(np, sizeof(np), "%d", per_saga);
	orc_it_pg_exec(db->conn,
	    "WITH s AS MATERIALIZED (SELECT n, gen_random_uuid() AS id"
	    "  FROM generate_series(0, $2::int - 1) n)"
	    " INSERT INTO orchestrator.outbox (saga_id, lane, message_id, topic,"
	    "  type, source, step_name, reply_to, payload)"
	    " SELECT s.id, hashtext(s.id::text) & 15, 'm-' || s.n || '-' || g,"
	    "  $1, 'test.command', '/orchestrator/it', 'step_' || g,"
	    "  'it.replies', json_build_object('n', g)::text"
	    " FROM generate_series(0, $3::int - 1) g CROSS JOIN s"
	    " ORDER BY g, s.n",
	    3, params);
}

static struct orc_relay *
relay_new(const struct orc_config *cfg, int lanes_per_claim,
	  int64_t claim_interval_ms)
{
	struct orc_relay_options opts = {
		.lanes_per_claim = lanes_per_claim,
		.claim_interval_ms = claim_interval_ms,
	};
	struct orc_relay *r = NULL;
	struct orc_error err;

	ck_assert_msg(orc_relay_create(cfg, &opts, &r, &err) == ORC_OK,
		      "relay: %s (%s)", err.message, err.detail);
	return r;
}

/*
 * One batch, whole: turn r until the batch it produced is finished (a
 * turn leaves a batch whose reports are late in flight).
 */
static enum orc_status
turn_batch(struct orc_relay *r, size_t *published, struct orc_error *err)
{
	return orc_relay_finish(r, 60000, published, err);
}

/* Turn r until the outbox is empty; fails the test after timeout_ms. */
static void
relay_until_empty(struct orc_relay *r, struct orc_it_db *db, int timeout_ms)
{
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;
	struct orc_error err;

	while (outbox_rows(db) > 0) {
		ck_assert_msg(orc_clock_mono_ms() < deadline,
			      "outbox not empty after %d ms", timeout_ms);
		ck_assert_msg(turn_batch(r, NULL, &err) == ORC_OK,
			      "turn: %s (%s)", err.message, err.detail);
		orc_clock_sleep_ms(20, NULL);
	}
}

static void
copy_bytes(char *dst, size_t len, const void *src, size_t n)
{
	if (n >= len)
		n = len - 1;
	if (src != NULL)
		memcpy(dst, src, n);
	dst[src != NULL ? n : 0] = '\0';
}

/*
 * Read topic from the start until expected messages came (then linger
 * 2 s more to catch duplicates) or timeout_ms passed.  Returns how many,
 * at most max, into out.
 */
static size_t
consume(const struct orc_config *cfg, const char *topic, size_t expected,
	struct consumed *out, size_t max, int timeout_ms)
{
	char group[64];
	const char *topics[1] = {topic};
	struct orc_consumer *c;
	struct orc_error err;
	size_t n = 0;
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;

	orc_it_unique("it_relay_group", group, sizeof(group));
	ck_assert_int_eq(orc_consumer_create(cfg, group, topics, 1, &c, &err),
			 ORC_OK);
	while (orc_clock_mono_ms() < deadline) {
		struct orc_kafka_message *m;

		ck_assert_msg(orc_consumer_poll(c, 200, &m, &err) == ORC_OK, "%s",
			      err.message);
		if (m == NULL)
			continue;
		if (n < max) {
			struct consumed *x = &out[n];
			struct orc_header h;

			memset(x, 0, sizeof(*x));
			copy_bytes(x->key, sizeof(x->key), m->key, m->key_len);
			copy_bytes(x->value, sizeof(x->value), m->value,
				   m->value_len);
			x->partition = m->partition;
			x->n_headers = orc_kafka_message_header_count(m);
			for (size_t i = 0; i < N_HEADER_NAMES; i++)
				if (orc_kafka_message_header(m, header_names[i],
							     &h)) {
					x->has[i] = true;
					copy_bytes(x->h[i], sizeof(x->h[i]),
						   h.value, h.size);
				}
		}
		n++;
		orc_kafka_message_destroy(m);
		if (n == expected) /* look for duplicates a little longer */
			deadline = orc_clock_mono_ms() + 2000;
	}
	orc_consumer_destroy(c);
	return n;
}

/*
 * Per saga, the first occurrences of the ids come in id order: the
 * message ids are m-<saga>-<seq>, so seq must go 0, 1, 2, ... per saga.
 * With exactly set, no id may come twice.  Returns the number of distinct
 * ids.
 */
static size_t
check_order(const struct consumed *msgs, size_t n, int n_sagas, int per_saga,
	    bool exactly)
{
	int *next = calloc((size_t)n_sagas, sizeof(int));
	char *seen = calloc((size_t)n_sagas * (size_t)per_saga, 1);
	size_t distinct = 0;

	ck_assert_ptr_nonnull(next);
	ck_assert_ptr_nonnull(seen);
	for (size_t i = 0; i < n; i++) {
		int s, q;

		ck_assert_msg(sscanf(msgs[i].h[H_ID], "m-%d-%d", &s, &q) == 2,
			      "unexpected ce_id %s", msgs[i].h[H_ID]);
		ck_assert(s >= 0 && s < n_sagas && q >= 0 && q < per_saga);
		/* the key is the saga, and the saga's rows share a partition */
		ck_assert_str_eq(msgs[i].key, msgs[i].h[H_SAGA]);
		if (seen[s * per_saga + q]) {
			ck_assert_msg(!exactly, "%s published twice",
				      msgs[i].h[H_ID]);
			ck_assert_msg(q < next[s], "%s came again before %d",
				      msgs[i].h[H_ID], next[s]);
			continue;
		}
		ck_assert_msg(q == next[s],
			      "saga %d: got seq %d, expected %d (reordered)", s, q,
			      next[s]);
		seen[s * per_saga + q] = 1;
		next[s]++;
		distinct++;
	}
	free(next);
	free(seen);
	return distinct;
}

/* (a) every header, the key and the value; rows deleted afterwards */
START_TEST(test_headers_and_delete)
{
	struct world w;
	struct orc_relay *r;
	struct orc_error err;
	struct consumed msgs[4];
	const char *params[2] = {w.topic, TRACEPARENT};
	size_t published = 0, n;
	const struct orc_relay_stats *stats;

	world_init(&w, "it_relay_headers", 100, 1000);
	orc_it_pg_exec(w.db.conn,
	    "INSERT INTO orchestrator.outbox (saga_id, lane, message_id, topic,"
	    " type, source, step_name, reply_to, payload, traceparent,"
	    " created_at) VALUES"
	    " ('5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e',"
	    "  hashtext('5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e') & 15,"
	    "  'cmd-1', $1, 'inventory.reserve', '/orchestrator/order_fulfillment',"
	    "  'reserve_inventory', 'stored.replies',"
	    "  '{\"order_id\":\"o-1\",\"note\":\"\xc3\xa9t\xc3\xa9\"}', $2,"
	    "  '2024-11-27T07:00:00.123Z'),"
	    " ('5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e',"
	    "  hashtext('5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e') & 15,"
	    "  'cmd-2', $1, 'inventory.release', '/orchestrator/order_fulfillment',"
	    "  NULL, NULL, '{}', NULL, '2024-11-27T07:00:01Z'),"
	    " ('5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e',"
	    "  hashtext('5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e') & 15,"
	    "  'cmd-3', $1, 'inventory.release', '/orchestrator/order_fulfillment',"
	    "  'reserve_inventory', NULL, '{}', NULL, '2024-11-27T07:00:02Z')",
	    2, params);
	r = relay_new(&w.cfg, 16, 0);
	ck_assert_msg(turn_batch(r, &published, &err) == ORC_OK, "%s (%s)",
		      err.message, err.detail);
	ck_assert_uint_eq(published, 3);
	ck_assert_int_eq(outbox_rows(&w.db), 0);
	stats = orc_relay_get_stats(r);
	ck_assert_uint_eq(stats->published, 3);
	ck_assert_uint_eq(stats->failed, 0);
	ck_assert_uint_eq(stats->last_batch, 3);
	ck_assert_uint_eq(stats->lanes, ORC_OUTBOX_ALL_LANES);
	ck_assert_int_gt(stats->last_lag_ms, 0); /* created in the past */

	n = consume(&w.cfg, w.topic, 3, msgs, 4, 30000);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(msgs[0].key, "5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e");
	ck_assert_str_eq(msgs[0].value,
			 "{\"order_id\":\"o-1\",\"note\":\"\xc3\xa9t\xc3\xa9\"}");
	ck_assert_uint_eq(msgs[0].n_headers, 10);
	ck_assert_str_eq(msgs[0].h[H_SPEC], "1.0");
	ck_assert_str_eq(msgs[0].h[H_ID], "cmd-1");
	ck_assert_str_eq(msgs[0].h[H_SOURCE], "/orchestrator/order_fulfillment");
	ck_assert_str_eq(msgs[0].h[H_TYPE], "inventory.reserve");
	ck_assert_str_eq(msgs[0].h[H_TIME], "2024-11-27T07:00:00.123Z");
	ck_assert_str_eq(msgs[0].h[H_CT], "application/json");
	ck_assert_str_eq(msgs[0].h[H_SAGA], "5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e");
	ck_assert_str_eq(msgs[0].h[H_STEP], "reserve_inventory");
	ck_assert_str_eq(msgs[0].h[H_REPLY], "stored.replies");
	ck_assert_str_eq(msgs[0].h[H_TRACE], TRACEPARENT);
	/*
	 * NULL columns leave their headers out; a row without a step (a
	 * lifecycle event) awaits no reply and has no replyto either
	 */
	ck_assert_str_eq(msgs[1].h[H_ID], "cmd-2");
	ck_assert_str_eq(msgs[1].h[H_TIME], "2024-11-27T07:00:01.000Z");
	ck_assert_str_eq(msgs[1].value, "{}");
	ck_assert_uint_eq(msgs[1].n_headers, 7);
	ck_assert(!msgs[1].has[H_STEP]);
	ck_assert(!msgs[1].has[H_REPLY]);
	ck_assert(!msgs[1].has[H_TRACE]);
	/* a command that leaves replyto open gets the relay's reply_topic */
	ck_assert_str_eq(msgs[2].h[H_ID], "cmd-3");
	ck_assert_uint_eq(msgs[2].n_headers, 9);
	ck_assert_str_eq(msgs[2].h[H_STEP], "reserve_inventory");
	ck_assert_str_eq(msgs[2].h[H_REPLY],
			 orc_config_str(&w.cfg, ORC_CFG_REPLY_TOPIC));

	orc_relay_destroy(r);
	world_finish(&w);
}
END_TEST

/* (b) 3 sagas x 50 commands, interleaved, in batches of 20 */
START_TEST(test_order_per_saga)
{
	enum { SAGAS = 3, PER_SAGA = 50 };
	struct world w;
	struct orc_relay *r;
	static struct consumed msgs[SAGAS * PER_SAGA + 20];
	size_t n;

	world_init(&w, "it_relay_order", 20, 1000);
	insert_interleaved(&w.db, w.topic, SAGAS, PER_SAGA);
	r = relay_new(&w.cfg, 16, 0);
	ck_assert_int_eq(turn_batch(r, NULL, NULL), ORC_OK);
	ck_assert_uint_eq(orc_relay_get_stats(r)->last_batch, 20);
	/* a full batch: more rows wait, the next turn is due at once */
	ck_assert(orc_relay_wants_turn(r, orc_clock_mono_ms()));
	relay_until_empty(r, &w.db, 60000);
	ck_assert_uint_eq(orc_relay_get_stats(r)->published, SAGAS * PER_SAGA);
	ck_assert_uint_ge(orc_relay_get_stats(r)->turns, 8);

	n = consume(&w.cfg, w.topic, SAGAS * PER_SAGA, msgs,
		    sizeof(msgs) / sizeof(msgs[0]), 60000);
	ck_assert_uint_eq(n, SAGAS * PER_SAGA);
	ck_assert_uint_eq(check_order(msgs, n, SAGAS, PER_SAGA, true),
			  SAGAS * PER_SAGA);
	orc_relay_destroy(r);
	world_finish(&w);
}
END_TEST

/* Advisory locks held on this database's relay lanes, and by how many sessions. */
static void
lane_locks(struct orc_it_db *db, long *locks, long *sessions)
{
	*locks = orc_it_pg_long(db->conn,
		       "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
		       " AND objsubid = 2 AND granted AND database = (SELECT oid"
		       " FROM pg_database WHERE datname = current_database())"
		       " AND classid::bigint = hashtext('orchestrator.outbox."
		       "orchestrator')::bigint & 4294967295");
	*sessions = orc_it_pg_long(db->conn,
			  "SELECT count(DISTINCT pid) FROM pg_locks WHERE"
			  " locktype = 'advisory' AND objsubid = 2 AND granted"
			  " AND database = (SELECT oid FROM pg_database WHERE"
			  " datname = current_database())"
			  " AND classid::bigint = hashtext('orchestrator.outbox."
			  "orchestrator')::bigint & 4294967295");
}

/* (c) two relays: disjoint lanes, every row exactly once, takeover */
START_TEST(test_two_relays)
{
	enum { SAGAS = 40, PER_SAGA = 10, MORE = 40 };
	struct world w;
	struct orc_relay *a, *b;
	struct orc_error err;
	static struct consumed msgs[SAGAS * PER_SAGA + 50];
	char topic2[64];
	int64_t deadline;
	long locks, sessions;
	size_t n;
	uint64_t pa, pb;

	world_init(&w, "it_relay_two", 25, 1000);
	insert_interleaved(&w.db, w.topic, SAGAS, PER_SAGA);
	a = relay_new(&w.cfg, 4, 50);
	b = relay_new(&w.cfg, 4, 50);
	deadline = orc_clock_mono_ms() + 60000;
	for (;;) {
		uint16_t la, lb;

		ck_assert_msg(turn_batch(a, NULL, &err) == ORC_OK, "a: %s",
			      err.message);
		ck_assert_msg(turn_batch(b, NULL, &err) == ORC_OK, "b: %s",
			      err.message);
		la = orc_relay_get_stats(a)->lanes;
		lb = orc_relay_get_stats(b)->lanes;
		ck_assert_msg((la & lb) == 0, "lanes overlap: %04x %04x", la, lb);
		if ((la | lb) == ORC_OUTBOX_ALL_LANES &&
		    outbox_rows(&w.db) == 0)
			break;
		ck_assert_msg(orc_clock_mono_ms() < deadline,
			      "relays did not finish");
		orc_clock_sleep_ms(20, NULL);
	}
	/* the locks the server holds are the lanes the relays report */
	lane_locks(&w.db, &locks, &sessions);
	ck_assert_int_eq(locks, 16);
	ck_assert_int_eq(sessions, 2);
	pa = orc_relay_get_stats(a)->published;
	pb = orc_relay_get_stats(b)->published;
	ck_assert_uint_eq(pa + pb, SAGAS * PER_SAGA);
	ck_assert_msg(pa > 0 && pb > 0, "one relay did everything: %llu/%llu",
		      (unsigned long long)pa, (unsigned long long)pb);

	n = consume(&w.cfg, w.topic, SAGAS * PER_SAGA, msgs,
		    sizeof(msgs) / sizeof(msgs[0]), 60000);
	ck_assert_uint_eq(n, SAGAS * PER_SAGA);
	ck_assert_uint_eq(check_order(msgs, n, SAGAS, PER_SAGA, true),
			  SAGAS * PER_SAGA);

	/* b stops: a takes its lanes and publishes rows of every lane */
	orc_relay_destroy(b);
	deadline = orc_clock_mono_ms() + 10000;
	while (orc_relay_get_stats(a)->lanes != ORC_OUTBOX_ALL_LANES) {
		ck_assert_msg(orc_clock_mono_ms() < deadline,
			      "a did not take over: %04x",
			      orc_relay_get_stats(a)->lanes);
		ck_assert_int_eq(turn_batch(a, NULL, &err), ORC_OK);
		orc_clock_sleep_ms(20, NULL);
	}
	lane_locks(&w.db, &locks, &sessions);
	ck_assert_int_eq(locks, 16);
	ck_assert_int_eq(sessions, 1);
	orc_it_unique("it_relay_two_more", topic2, sizeof(topic2));
	insert_interleaved(&w.db, topic2, MORE, 1);
	ck_assert_int_eq(orc_it_pg_long(w.db.conn, "SELECT count(DISTINCT lane)"
					" FROM orchestrator.outbox") > 8,
			 1);
	relay_until_empty(a, &w.db, 30000);
	ck_assert_uint_eq(orc_relay_get_stats(a)->published, pa + MORE);

	orc_relay_destroy(a);
	lane_locks(&w.db, &locks, &sessions);
	ck_assert_int_eq(locks, 0);
	world_finish(&w);
}
END_TEST

/* (d) Kafka unreachable: nothing deleted, reported; then published */
START_TEST(test_kafka_unreachable)
{
	enum { ROWS = 10 };
	struct world w;
	struct orc_config bad;
	struct orc_relay *r;
	struct orc_error err;
	struct consumed msgs[ROWS + 5];
	size_t published = 99;
	enum orc_status st;

	world_init(&w, "it_relay_down", 100, 1000);
	insert_interleaved(&w.db, w.topic, 2, ROWS / 2);
	config_for(&bad, &w.db, 100, 1000);
	ck_assert_int_eq(orc_config_set(&bad, "kafka_brokers", "127.0.0.1:1",
					&err),
			 ORC_OK);
	ck_assert_int_eq(orc_config_set(&bad, "kafka.message.timeout.ms", "2000",
					&err),
			 ORC_OK);
	r = relay_new(&bad, 16, 0);
	st = turn_batch(r, &published, &err);
	ck_assert_int_eq(st, ORC_TRANSIENT);
	ck_assert_uint_eq(published, 0);
	ck_assert_msg(strstr(err.message, "cannot publish 10 of 10 outbox rows"),
		      "%s", err.message);
	ck_assert_int_eq(outbox_rows(&w.db), ROWS);
	ck_assert_uint_eq(orc_relay_get_stats(r)->failed, ROWS);
	ck_assert_uint_eq(orc_relay_get_stats(r)->published, 0);
	ck_assert_uint_eq(orc_relay_get_stats(r)->errors, 1);
	/* backing off: no turn is wanted right away */
	ck_assert(!orc_relay_wants_turn(r, orc_clock_mono_ms()));
	orc_relay_destroy(r); /* frees its lanes */

	r = relay_new(&w.cfg, 16, 0);
	ck_assert_msg(turn_batch(r, &published, &err) == ORC_OK, "%s (%s)",
		      err.message, err.detail);
	ck_assert_uint_eq(published, ROWS);
	ck_assert_int_eq(outbox_rows(&w.db), 0);
	ck_assert_uint_eq(consume(&w.cfg, w.topic, ROWS, msgs, ROWS + 5, 30000),
			  ROWS);
	ck_assert_uint_eq(check_order(msgs, ROWS, 2, ROWS / 2, true), ROWS);
	orc_relay_destroy(r);
	orc_config_finish(&bad);
	world_finish(&w);
}
END_TEST

/*
 * A row the broker refuses in its delivery report (an invalid topic name)
 * is quarantined; the saga's earlier rows and the other saga's rows are
 * published and deleted, and so is its later row, which the broker had
 * acknowledged in the same batch already.
 */
START_TEST(test_partial_failure_keeps_saga_suffix)
{
	struct world w;
	struct orc_relay *r;
	struct orc_error err;
	const char *params[1] = {w.topic};
	size_t published = 0;
	enum orc_status st;
	char *left;

	world_init(&w, "it_relay_partial", 100, 1000);
	orc_it_pg_exec(w.db.conn,
	    "WITH v(saga, msg, topic) AS (VALUES"
	    " ('00000000-0000-4000-8000-00000000000a'::uuid, 'a-0', $1),"
	    " ('00000000-0000-4000-8000-00000000000b'::uuid, 'b-0', $1),"
	    " ('00000000-0000-4000-8000-00000000000a'::uuid, 'a-1',"
	    "  'not a valid topic!'),"
	    " ('00000000-0000-4000-8000-00000000000b'::uuid, 'b-1', $1),"
	    " ('00000000-0000-4000-8000-00000000000a'::uuid, 'a-2', $1),"
	    " ('00000000-0000-4000-8000-00000000000b'::uuid, 'b-2', $1))"
	    " INSERT INTO orchestrator.outbox (saga_id, lane, message_id, topic,"
	    "  type, source, payload)"
	    " SELECT saga, hashtext(saga::text) & 15, msg, topic, 't', '/it', '{}'"
	    " FROM v",
	    1, params);
	r = relay_new(&w.cfg, 16, 0);
	st = turn_batch(r, &published, &err);
	ck_assert_msg(st == ORC_OK, "%s: %s (%s)", orc_status_name(st),
		      err.message, err.detail);
	ck_assert_uint_eq(published, 5);
	ck_assert_int_eq(outbox_rows(&w.db), 0);
	left = orc_it_pg_value(w.db.conn,
			       "SELECT string_agg(message_id || ' ' || error"
			       " || ' ' || (follows IS NULL), ',' ORDER BY id)"
			       " FROM orchestrator.quarantined_commands");
	ck_assert_str_eq(left, "a-1 Broker: Invalid topic true");
	free(left);
	ck_assert_uint_eq(orc_relay_get_stats(r)->quarantined, 1);
	ck_assert_uint_eq(orc_relay_get_stats(r)->errors, 0);
	orc_relay_destroy(r);
	world_finish(&w);
}
END_TEST

/*
 * A row the producer refuses as it is produced (over message.max.bytes)
 * is quarantined with its saga's later rows, which are never published:
 * the saga never receives command N+1 without N.  Everything else is
 * published, and the relay goes on (a second batch publishes new rows).
 */
START_TEST(test_too_large_row_quarantines_its_saga_suffix)
{
	enum { ROWS = 8 };
	struct world w;
	struct orc_relay *r;
	struct orc_error err;
	struct consumed msgs[ROWS + 10];
	const char *params[1] = {w.topic};
	size_t published = 0, n;
	enum orc_status st;
	char *left;

	world_init(&w, "it_relay_large", 100, 1000);
	orc_it_pg_exec(w.db.conn,
	    "WITH v(saga, msg, big) AS (VALUES"
	    " ('00000000-0000-4000-8000-00000000000a'::uuid, 'm-0-0', false),"
	    " ('00000000-0000-4000-8000-00000000000b'::uuid, 'm-1-0', false),"
	    " ('00000000-0000-4000-8000-00000000000a'::uuid, 'a-big', true),"
	    " ('00000000-0000-4000-8000-00000000000b'::uuid, 'm-1-1', false),"
	    " ('00000000-0000-4000-8000-00000000000a'::uuid, 'a-after', false),"
	    " ('00000000-0000-4000-8000-00000000000b'::uuid, 'm-1-2', false))"
	    " INSERT INTO orchestrator.outbox (saga_id, lane, message_id, topic,"
	    "  type, source, payload)"
	    " SELECT saga, hashtext(saga::text) & 15, msg, $1, 't', '/it',"
	    "  CASE WHEN big THEN '\"' || repeat('x', 2000000) || '\"'"
	    "   ELSE '{}' END"
	    " FROM v",
	    1, params);
	r = relay_new(&w.cfg, 16, 0);
	st = turn_batch(r, &published, &err);
	ck_assert_msg(st == ORC_OK, "%s: %s (%s)", orc_status_name(st),
		      err.message, err.detail);
	ck_assert_uint_eq(published, 4);
	left = orc_it_pg_value(w.db.conn,
			       "SELECT string_agg(message_id || ' ' ||"
			       " (error LIKE '%too large%') || ' ' ||"
			       " coalesce(follows::text, '-'), ',' ORDER BY id)"
			       " FROM orchestrator.outbox_quarantine");
	ck_assert_str_eq(left, "a-big true -,a-after false 3");
	free(left);
	ck_assert_uint_eq(orc_relay_get_stats(r)->quarantined, 2);
	ck_assert_int_eq(outbox_rows(&w.db), 0);

	/* the relay goes on: new rows of both sagas are published */
	orc_it_pg_exec(w.db.conn,
	    "INSERT INTO orchestrator.outbox (saga_id, lane, message_id, topic,"
	    "  type, source, payload)"
	    " SELECT saga, hashtext(saga::text) & 15, msg, $1, 't', '/it', '{}'"
	    " FROM (VALUES"
	    " ('00000000-0000-4000-8000-00000000000a'::uuid, 'm-0-1'),"
	    " ('00000000-0000-4000-8000-00000000000b'::uuid, 'm-1-3')) v(saga, msg)",
	    1, params);
	relay_until_empty(r, &w.db, 30000);
	n = consume(&w.cfg, w.topic, 6, msgs, ROWS + 10, 30000);
	ck_assert_uint_eq(n, 6);
	for (size_t i = 0; i < n; i++) /* never a-after, nor a-big */
		ck_assert_str_ne(msgs[i].h[H_ID], "a-after");
	ck_assert_uint_eq(check_order(msgs, n, 2, 4, true), 6);
	orc_relay_destroy(r);
	world_finish(&w);
}
END_TEST

/* The relay's connection is killed: it backs off, reconnects, claims again. */
START_TEST(test_reconnects)
{
	struct world w;
	struct orc_relay *r;
	struct orc_error err;
	long locks, sessions;
	int64_t deadline;

	world_init(&w, "it_relay_reconnect", 100, 1000);
	r = relay_new(&w.cfg, 16, 0);
	ck_assert_int_eq(turn_batch(r, NULL, &err), ORC_OK);
	ck_assert_uint_eq(orc_relay_get_stats(r)->lanes, ORC_OUTBOX_ALL_LANES);
	/* the relay's connection: a client; an autovacuum worker (the
	 * outbox just got rows) may be there too */
	ck_assert_int_eq(orc_it_pg_long(w.db.conn,
			       "SELECT count(pg_terminate_backend(pid)) FROM"
			       " pg_stat_activity WHERE datname = current_database()"
			       " AND pid <> pg_backend_pid()"
			       " AND backend_type = 'client backend'"),
			 1);
	orc_clock_sleep_ms(200, NULL);
	insert_interleaved(&w.db, w.topic, 8, 3);

	ck_assert_int_eq(turn_batch(r, NULL, &err), ORC_TRANSIENT);
	ck_assert_uint_eq(orc_relay_get_stats(r)->lanes, 0);
	ck_assert_int_eq(orc_relay_socket(r), -1);
	/* backing off */
	ck_assert(!orc_relay_wants_turn(r, orc_clock_mono_ms()));
	deadline = orc_clock_mono_ms() + 10000;
	while (!orc_relay_wants_turn(r, orc_clock_mono_ms())) {
		ck_assert(orc_clock_mono_ms() < deadline);
		orc_clock_sleep_ms(10, NULL);
	}
	relay_until_empty(r, &w.db, 30000);
	ck_assert_uint_eq(orc_relay_get_stats(r)->published, 24);
	ck_assert_uint_eq(orc_relay_get_stats(r)->lanes, ORC_OUTBOX_ALL_LANES);
	ck_assert_int_ge(orc_relay_socket(r), 0);
	lane_locks(&w.db, &locks, &sessions);
	ck_assert_int_eq(locks, 16);
	ck_assert_int_eq(sessions, 1);
	orc_relay_destroy(r);
	world_finish(&w);
}
END_TEST

/* (e) an INSERT wakes the relay through NOTIFY, long before its poll time */
START_TEST(test_notify_wakes)
{
	struct world w;
	struct orc_relay *r;
	struct orc_error err;
	size_t published = 0;
	int64_t start, woke = -1;

	world_init(&w, "it_relay_notify", 100, 600000);
	r = relay_new(&w.cfg, 16, 0);
	ck_assert_int_eq(turn_batch(r, &published, &err), ORC_OK);
	ck_assert_uint_eq(published, 0);
	ck_assert_uint_eq(orc_relay_get_stats(r)->lanes, ORC_OUTBOX_ALL_LANES);
	ck_assert(!orc_relay_wants_turn(r, orc_clock_mono_ms()));
	ck_assert_int_ge(orc_relay_socket(r), 0);

	insert_interleaved(&w.db, w.topic, 1, 1);
	start = orc_clock_mono_ms();
	while (orc_clock_mono_ms() - start < 5000) {
		struct pollfd pfd = {orc_relay_socket(r), POLLIN, 0};

		poll(&pfd, 1, 100);
		if (orc_relay_wants_turn(r, orc_clock_mono_ms())) {
			woke = orc_clock_mono_ms() - start;
			break;
		}
	}
	ck_assert_msg(woke >= 0 && woke < 2000, "woke after %lld ms",
		      (long long)woke);
	ck_assert_int_eq(turn_batch(r, &published, &err), ORC_OK);
	ck_assert_uint_eq(published, 1);
	ck_assert(!orc_relay_wants_turn(r, orc_clock_mono_ms()));
	orc_relay_destroy(r);
	world_finish(&w);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(headers_and_delete),
		ORC_IT_CASE(order_per_saga),
		ORC_IT_CASE(two_relays),
		ORC_IT_CASE(kafka_unreachable),
		ORC_IT_CASE(partial_failure_keeps_saga_suffix),
		ORC_IT_CASE(too_large_row_quarantines_its_saga_suffix),
		ORC_IT_CASE(reconnects),
		ORC_IT_CASE(notify_wakes),
	};

	return orc_it_run_suite("relay", cases, sizeof(cases) / sizeof(cases[0]),
				180);
}
