/*
 * itest_relay_floor.c - the relay's lane floors against a real PostgreSQL
 * and Kafka: a row whose id is below one already published, committed
 * later, is still published (the floor waits for its transaction); floors
 * rise above what was published and deleted; and the full scan that
 * ignores the floors publishes, and reports, a row planted below one.
 *
 * Each test makes its own database (`orchestrator migrate` on it) and its
 * own topic, and runs the relay in this process, turn by turn.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "clock.h"
#include "config.h"
#include "harness.h"
#include "relay.h"

#define LANE "3"

struct world {
	struct orc_it_db db;
	char topic[64];
	struct orc_config cfg;
};

static void
world_init(struct world *w, const char *name)
{
	struct orc_error err;

	orc_it_db_init(&w->db);
	orc_it_unique(name, w->topic, sizeof(w->topic));
	orc_it_config_init(&w->cfg);
	ck_assert_int_eq(orc_config_set(&w->cfg, "pg_dsn", w->db.dsn, &err),
			 ORC_OK);
	ck_assert_int_eq(orc_config_set(&w->cfg, "relay_batch", "100", &err),
			 ORC_OK);
	ck_assert_int_eq(orc_config_set(&w->cfg, "relay_poll_ms", "50", &err),
			 ORC_OK);
}

static void
world_finish(struct world *w)
{
	orc_config_finish(&w->cfg);
	orc_it_db_finish(&w->db);
}

static struct orc_relay *
relay_new(const struct orc_config *cfg, int64_t full_scan_interval_ms)
{
	struct orc_relay_options opts = {
		.lanes_per_claim = 16,
		.claim_interval_ms = 1,
		.full_scan_interval_ms = full_scan_interval_ms,
	};
	struct orc_relay *r = NULL;
	struct orc_error err;

	ck_assert_msg(orc_relay_create(cfg, &opts, &r, &err) == ORC_OK,
		      "relay: %s (%s)", err.message, err.detail);
	return r;
}

/* One whole batch (a turn may leave it in flight), then a short pause. */
static void
turn(struct orc_relay *r)
{
	struct orc_error err;

	ck_assert_msg(orc_relay_finish(r, 30000, NULL, &err) == ORC_OK,
		      "turn: %s (%s)", err.message, err.detail);
	orc_clock_sleep_ms(20, NULL);
}

/* Turn r for ms milliseconds. */
static void
turn_for(struct orc_relay *r, int ms)
{
	int64_t until = orc_clock_mono_ms() + ms;

	while (orc_clock_mono_ms() < until)
		turn(r);
}

static long
count(PGconn *conn, const char *sql)
{
	return orc_it_pg_long(conn, sql);
}

/* Turn r until sql counts 0; fails the test after timeout_ms. */
static void
turn_until_none(struct orc_relay *r, PGconn *conn, const char *sql,
		int timeout_ms)
{
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;

	while (count(conn, sql) > 0) {
		ck_assert_msg(orc_clock_mono_ms() < deadline,
			      "after %d ms still: %s", timeout_ms, sql);
		turn(r);
	}
}

/* INSERT one row of lane LANE with message id msgid on conn; its id. */
static long
insert_row(PGconn *conn, const char *topic, const char *msgid)
{
	const char *params[2] = {topic, msgid};
	PGresult *res = PQexecParams(
		conn,
		"INSERT INTO orchestrator.outbox (saga_id, lane, message_id,"
		" topic, type, source, payload)"
		" VALUES (gen_random_uuid(), " LANE ", $2, $1, 'test.command',"
		" '/orchestrator/it', '{}') RETURNING id",
		2, NULL, params, NULL, NULL, 0);
	long id;

	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "insert: %s",
		      PQerrorMessage(conn));
	id = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return id;
}

/*
 * Read topic from the start for up to timeout_ms (2 s after want messages
 * came); whether a message with ce_id msgid is among them.
 */
static bool
published(const struct orc_config *cfg, const char *topic, size_t want,
	  const char *msgid, int timeout_ms)
{
	char group[64];
	const char *topics[1] = {topic};
	struct orc_consumer *c;
	struct orc_error err;
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;
	size_t n = 0;
	bool found = false;

	orc_it_unique("it_floor_group", group, sizeof(group));
	ck_assert_int_eq(orc_consumer_create(cfg, group, topics, 1, &c, &err),
			 ORC_OK);
	while (orc_clock_mono_ms() < deadline) {
		struct orc_kafka_message *m;
		struct orc_header h;

		ck_assert_msg(orc_consumer_poll(c, 200, &m, &err) == ORC_OK,
			      "%s", err.message);
		if (m == NULL)
			continue;
		if (orc_kafka_message_header(m, "ce_id", &h) &&
		    h.size == strlen(msgid) &&
		    memcmp(h.value, msgid, h.size) == 0)
			found = true;
		orc_kafka_message_destroy(m);
		if (++n == want)
			deadline = orc_clock_mono_ms() + 2000;
	}
	orc_consumer_destroy(c);
	return found;
}

/*
 * A takes id a and stays open; B takes a later id, commits and is
 * published.  While A is open no floor passes a; once A commits, it is
 * published (no full scan helps: its interval is 10 minutes), and the
 * floor rises above both.
 */
START_TEST(test_out_of_order_commit)
{
	struct world w;
	struct orc_relay *r;
	PGconn *a;
	PGresult *res;
	long id_a, id_b;

	world_init(&w, "it_floor_order");
	r = relay_new(&w.cfg, 600000);
	turn(r);
	ck_assert_uint_eq(orc_relay_get_stats(r)->lanes, ORC_OUTBOX_ALL_LANES);

	a = PQconnectdb(w.db.dsn);
	ck_assert_msg(PQstatus(a) == CONNECTION_OK, "%s", PQerrorMessage(a));
	orc_it_pg_exec(a, "BEGIN", 0, NULL);
	id_a = insert_row(a, w.topic, "m-a");
	id_b = insert_row(w.db.conn, w.topic, "m-b");
	ck_assert_int_lt(id_a, id_b);

	turn_until_none(r, w.db.conn,
			"SELECT count(*) FROM orchestrator.outbox"
			" WHERE message_id = 'm-b'",
			10000);
	turn_for(r, 3000); /* time for a wrong floor to pass a */
	ck_assert_int_lt(orc_relay_get_stats(r)->floor[3], id_a);

	res = PQexec(a, "COMMIT");
	ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(a);
	turn_until_none(r, w.db.conn,
			"SELECT count(*) FROM orchestrator.outbox", 5000);
	ck_assert(published(&w.cfg, w.topic, 2, "m-a", 30000));

	turn_for(r, 3000);
	ck_assert_int_ge(orc_relay_get_stats(r)->floor[3], id_b);
	ck_assert_uint_eq(orc_relay_get_stats(r)->below_floor, 0);
	orc_relay_destroy(r);
	world_finish(&w);
}
END_TEST

/*
 * Many rows of every lane published and deleted: every floor rises to
 * the last id.  Then a row planted below the floors (an id taken by hand,
 * which no writer does) is found by the full scan, published, reported.
 */
START_TEST(test_floors_rise_and_full_scan)
{
	struct world w;
	struct orc_relay *r;
	const struct orc_relay_stats *stats;
	const char *params[1];
	long last;
	int64_t deadline;
	bool risen = false;

	world_init(&w, "it_floor_rise");
	params[0] = w.topic;
	orc_it_pg_exec(w.db.conn,
	    "INSERT INTO orchestrator.outbox (saga_id, lane, message_id, topic,"
	    "  type, source, payload)"
	    " SELECT gen_random_uuid(), g % 16, 'm-' || g, $1, 'test.command',"
	    "  '/orchestrator/it', '{}'"
	    " FROM generate_series(1, 2000) g ORDER BY g",
	    1, params);
	last = count(w.db.conn, "SELECT max(id) FROM orchestrator.outbox");
	r = relay_new(&w.cfg, 2000);
	turn_until_none(r, w.db.conn,
			"SELECT count(*) FROM orchestrator.outbox", 30000);

	stats = orc_relay_get_stats(r);
	deadline = orc_clock_mono_ms() + 10000;
	while (!risen && orc_clock_mono_ms() < deadline) {
		turn(r);
		risen = true;
		for (int lane = 0; lane < ORC_OUTBOX_LANES; lane++)
			risen &= stats->floor[lane] >= last;
	}
	ck_assert_msg(risen, "floors did not rise to %ld", last);
	ck_assert_uint_eq(stats->below_floor, 0);

	orc_it_pg_exec(w.db.conn,
	    "INSERT INTO orchestrator.outbox (id, saga_id, lane, message_id,"
	    "  topic, type, source, payload)"
	    " VALUES (1, gen_random_uuid(), " LANE ", 'm-planted', $1,"
	    "  'test.command', '/orchestrator/it', '{}')",
	    1, params);
	turn_until_none(r, w.db.conn,
			"SELECT count(*) FROM orchestrator.outbox", 10000);
	ck_assert_uint_eq(stats->below_floor, 1);
	ck_assert(published(&w.cfg, w.topic, 2001, "m-planted", 30000));
	orc_relay_destroy(r);
	world_finish(&w);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(out_of_order_commit),
		ORC_IT_CASE(floors_rise_and_full_scan),
	};

	return orc_it_run_suite("relay_floor", cases,
				sizeof(cases) / sizeof(cases[0]), 120);
}
