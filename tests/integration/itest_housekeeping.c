/*
 * itest_housekeeping.c - retention, archival, expiry and purge against a
 * real PostgreSQL and Kafka.
 *
 * Sagas in every status, aged with SQL, are deleted by two `orchestrator
 * run --roles housekeeping` processes at once: exactly those due under
 * their definition's retention (the latest version's) or the setting go,
 * with their steps and history, each once (the processes' counters add up
 * to the number due), and no unfinished saga whatever its age.  Real
 * sagas with a retention of seconds are archived: one saga.archived event
 * per deleted saga, read back from the archive topic, whose data is the
 * saga, its steps and its history.  Inbox ids and dead letters expire by
 * age, a batch at a time; an inbox TTL under an hour is refused at start.
 * purge --dry-run changes nothing, purge deletes what it is asked to and
 * refuses unfinished statuses.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "clock.h"
#include "config.h"
#include "harness.h"
#include "housekeeping.h"
#include "store.h"
#include "store_housekeeping.h"

#define WAIT_MS 60000
#define OUT_MAX 65536

#define FINAL "('completed', 'compensated', 'failed', 'cancelled', 'timed_out')"

/*
 * Sagas of definition name (which must be stored), n of them, in every
 * status in turn (i % 8), finished (status or not) 5 minutes plus
 * (i % 240) times 10 minutes ago, so none is within 5 minutes of a
 * boundary of whole hours; each with one step row and two history rows.
 */
static void
seed_sagas(PGconn *conn, const char *name, int n)
{
	char count[16];
	const char *params[2] = {name, count};

	snprintf(count, sizeof(count), "%d", n);
	orc_it_pg_exec(conn,
		"WITH s AS (INSERT INTO orchestrator.sagas (id, definition_name,"
		" definition_version, business_key, status, created_at, updated_at,"
		" finished_at)"
		" SELECT gen_random_uuid(), $1, (SELECT max(version) FROM"
		" orchestrator.saga_definitions WHERE name = $1), $1 || '-' || i,"
		" (ARRAY['running', 'completed', 'compensating', 'compensated',"
		"  'failed', 'stuck', 'cancelled', 'timed_out'])[1 + i % 8],"
		" now() - interval '41 days', now() - interval '41 days',"
		" now() - interval '5 minutes' - (i % 240) * interval '10 minutes'"
		" FROM generate_series(1, $2::integer) AS i RETURNING id),"
		" st AS (INSERT INTO orchestrator.saga_steps (saga_id, step_name,"
		" step_index, status) SELECT id, 'work', 0, 'succeeded' FROM s)"
		" INSERT INTO orchestrator.saga_transitions (saga_id, kind)"
		" SELECT id, k FROM s, unnest(ARRAY['saga.started', 'step.started']) k",
		2, params);
}

/* The metric sample name of the process serving port, 0 when absent. */
static double
metric(int port, const char *name)
{
	static char body[OUT_MAX];
	double v;

	if (orc_it_http_get(port, "/metrics", 5000, body, sizeof(body)) != 200)
		return -1;
	v = orc_it_metric(body, name);
	return v < 0 ? 0 : v;
}

static const char short_v1[] =
	"{\"name\": \"short\", \"version\": 1, \"retention\": \"1h\","
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": [{\"name\": \"work\", \"delay\": \"1s\"}]}";
static const char short_v2[] =
	"{\"name\": \"short\", \"version\": 2, \"retention\": \"2h\","
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": [{\"name\": \"work\", \"delay\": \"1s\"}]}";
static const char plain_def[] =
	"{\"name\": \"plain\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.made\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": [{\"name\": \"work\", \"delay\": \"1s\"}]}";

/*
 * short keeps its sagas 2h (its latest version says so; v1 said 1h),
 * plain the setting's 3h.  Two processes share the deletes, 7 a batch.
 */
START_TEST(test_retention_two_processes)
{
	static const char *const topics[] = {"orders"};
	struct orc_it_scene s;
	char env[2][4][64];
	int ports[2];
	long total, due, kept, left;
	double deleted = 0, each[2];

	orc_it_scene_init(&s, topics, 1);
	orc_it_scene_load(&s, short_v1);
	orc_it_scene_load(&s, short_v2);
	orc_it_scene_load(&s, plain_def);
	seed_sagas(s.db.conn, "short", 1200);
	seed_sagas(s.db.conn, "plain", 1200);
	orc_it_pg_exec(s.db.conn,
		"CREATE TABLE public.due AS SELECT id FROM orchestrator.sagas"
		" WHERE status IN " FINAL " AND finished_at < now() - CASE"
		" definition_name WHEN 'short' THEN interval '2 hours'"
		" ELSE interval '3 hours' END", 0, NULL);
	total = orc_it_scene_long(&s, "SELECT count(*) FROM sagas");
	due = orc_it_scene_long(&s, "SELECT count(*) FROM public.due");
	kept = total - due;
	ck_assert_int_gt(due, 1000);
	/* what SQL says is due agrees, before anything runs */
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT sum(due) FROM housekeeping_due(interval '3 hours')"
		" WHERE kind = 'sagas'"), due);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT due_default FROM storage_usage WHERE table_name = 'sagas'"),
		orc_it_scene_long(&s, "SELECT count(*) FROM sagas"
			" WHERE status IN " FINAL " AND finished_at < now() - CASE"
			" definition_name WHEN 'short' THEN interval '2 hours'"
			" ELSE interval '30 days' END"));

	for (int i = 0; i < 2; i++) {
		const char *e[5] = {env[i][0], env[i][1], env[i][2], env[i][3],
				    NULL};

		ports[i] = orc_it_free_port();
		snprintf(env[i][0], 64, "ORC_HTTP_PORT=%d", ports[i]);
		snprintf(env[i][1], 64, "ORC_ROLES=housekeeping");
		snprintf(env[i][2], 64, "ORC_RETENTION=3h");
		snprintf(env[i][3], 64, "ORC_HOUSEKEEPING_BATCH=7");
		orc_it_scene_run(&s, i == 0 ? "hk-a" : "hk-b", e);
	}
	orc_it_scene_await(&s, WAIT_MS, "every due saga deleted",
			   "SELECT NOT EXISTS (SELECT FROM sagas JOIN public.due"
			   " USING (id))");
	/* let a last batch in flight finish, then nothing more may go */
	orc_clock_sleep_ms(1000, NULL);
	left = orc_it_scene_long(&s, "SELECT count(*) FROM sagas");
	ck_assert_int_eq(left, kept);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM sagas WHERE status NOT IN " FINAL), total / 8 * 3);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM sagas WHERE status IN " FINAL " AND"
		" finished_at < now() - CASE definition_name WHEN 'short' THEN"
		" interval '2 hours' ELSE interval '3 hours' END"), 0);
	/* steps and history went with their sagas, and only theirs */
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM saga_steps"),
			 kept);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM saga_history"),
			 2 * kept);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_history h WHERE NOT EXISTS"
		" (SELECT FROM sagas WHERE id = h.saga_id)"), 0);
	/* each row once: the two counters add up to the number due */
	for (int i = 0; i < 2; i++) {
		double d = metric(ports[i],
			"orchestrator_housekeeping_deleted_total{kind=\"sagas\"}");

		ck_assert_msg(d >= 0, "no metrics from process %d", i);
		each[i] = d;
		deleted += d;
	}
	fprintf(stderr, "retention: %ld sagas due, deleted %g by one process"
		" and %g by the other\n", due, each[0], each[1]);
	ck_assert_msg((long)deleted == due, "deleted %g, due %ld", deleted, due);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT sum(due) FROM housekeeping_due(interval '3 hours')"
		" WHERE kind = 'sagas'"), 0);
	orc_it_scene_finish(&s);
}
END_TEST

static const char archived_def[] =
	"{\"name\": \"archived\", \"version\": 1, \"retention\": \"2s\","
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": [{\"name\": \"charge\","
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"charge.do\","
	"                \"data\": {\"order_id\": \"${/input/order_id}\"}},"
	"   \"success\": [\"charge.done\"]}]}";
static const char hanging_def[] =
	"{\"name\": \"hanging\", \"version\": 1, \"retention\": \"1s\","
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.held\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": [{\"name\": \"charge\","
	"   \"command\": {\"topic\": \"{P}.work\", \"type\": \"hold.do\"},"
	"   \"success\": [\"hold.done\"]}]}";

#define N_ARCHIVED 12

/* Real sagas kept 2 s are archived to Kafka, then gone; a running one stays. */
START_TEST(test_archive_real_sagas)
{
	static const char *const topics[] = {"orders", "work", "archive"};
	static const char *const rules[] = {
		"--rule", "charge.do=succeed:charge.done",
		"--rule", "hold.do=never", NULL};
	struct orc_it_scene s;
	char archive[128], port_env[64], topic_env[160];
	const char *env[] = {port_env, topic_env,
			     "ORC_HOUSEKEEPING_INTERVAL_MS=100", NULL};
	json_t *msgs, *m;
	size_t i;
	int port = orc_it_free_port();

	orc_it_scene_init(&s, topics, 3);
	orc_it_scene_load(&s, archived_def);
	orc_it_scene_load(&s, hanging_def);
	orc_it_scene_topic(&s, "archive", archive, sizeof(archive));
	snprintf(port_env, sizeof(port_env), "ORC_HTTP_PORT=%d", port);
	snprintf(topic_env, sizeof(topic_env), "ORC_ARCHIVE_TOPIC=%s", archive);
	orc_it_scene_run(&s, "run", env);
	orc_it_scene_responder(&s, "services", "work", rules);
	for (int k = 0; k < N_ARCHIVED; k++) {
		char key[32], data[64];

		snprintf(key, sizeof(key), "a-%d", k);
		snprintf(data, sizeof(data), "{\"order_id\":\"%s\"}", key);
		orc_it_scene_event(&s, "orders", key, key, "order.placed", data,
				   NULL, NULL, NULL);
	}
	orc_it_scene_event(&s, "orders", "h-1", "h-1", "order.held",
			   "{\"order_id\":\"h-1\"}", NULL, NULL, NULL);
	orc_it_scene_flush(&s);

	msgs = orc_it_scene_collect(&s, archive, N_ARCHIVED, WAIT_MS, 2000);
	if (json_array_size(msgs) != N_ARCHIVED)
		orc_it_scene_fail(&s, "%zu saga.archived events, expected %d",
				  json_array_size(msgs), N_ARCHIVED);
	json_array_foreach(msgs, i, m) {
		const char *key = orc_it_json_str(m, "key");
		char want_id[64];
		json_error_t jerr;
		json_t *data = json_loads(orc_it_json_str(m, "value"), 0, &jerr);
		json_t *saga, *steps, *history;

		ck_assert_ptr_nonnull(data);
		ck_assert_str_eq(orc_it_header(m, "ce_type"), "saga.archived");
		ck_assert_str_eq(orc_it_header(m, "ce_source"),
				 "/orchestrator/archived");
		snprintf(want_id, sizeof(want_id), "%s/archived", key);
		ck_assert_str_eq(orc_it_header(m, "ce_id"), want_id);
		ck_assert_str_eq(orc_it_header(m, "ce_sagaid"), key);
		/* nobody answers an archive, and it belongs to no step */
		ck_assert_ptr_null(orc_it_header(m, "ce_replyto"));
		ck_assert_ptr_null(orc_it_header(m, "ce_sagastep"));
		saga = json_object_get(data, "saga");
		steps = json_object_get(data, "steps");
		history = json_object_get(data, "history");
		ck_assert_str_eq(orc_it_json_str(saga, "id"), key);
		ck_assert_str_eq(orc_it_json_str(saga, "status"), "completed");
		ck_assert_str_eq(orc_it_json_str(saga, "definition_name"),
				 "archived");
		ck_assert_ptr_nonnull(orc_it_json_str(saga, "finished_at"));
		ck_assert_uint_eq(json_array_size(steps), 1);
		ck_assert_str_eq(orc_it_json_str(json_array_get(steps, 0),
						 "step_name"), "charge");
		ck_assert_str_eq(orc_it_json_str(json_array_get(steps, 0),
						 "status"), "succeeded");
		ck_assert_ptr_nonnull(json_object_get(json_array_get(steps, 0),
						      "output"));
		ck_assert_uint_ge(json_array_size(history), 3);
		ck_assert_str_eq(orc_it_json_str(json_array_get(history, 0),
						 "kind"), "saga.started");
		json_decref(data);
	}
	json_decref(msgs);
	orc_it_scene_await(&s, WAIT_MS, "the archived sagas are deleted",
			   "SELECT NOT EXISTS (SELECT FROM sagas"
			   " WHERE definition_name = 'archived')");
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_steps st WHERE NOT EXISTS"
		" (SELECT FROM sagas WHERE id = st.saga_id)"), 0);
	ck_assert_int_eq(orc_it_scene_long(&s,
		"SELECT count(*) FROM saga_history h WHERE NOT EXISTS"
		" (SELECT FROM sagas WHERE id = h.saga_id)"), 0);
	orc_it_expect(&s, "running", "the unfinished saga, kept",
		      orc_it_scene_value(&s, "SELECT status FROM sagas"
					 " WHERE business_key = 'h-1'"));
	ck_assert_int_eq((long)metric(port,
		"orchestrator_housekeeping_deleted_total{kind=\"sagas\"}"),
		N_ARCHIVED);
	ck_assert_int_eq((long)metric(port,
		"orchestrator_housekeeping_archived_total"), N_ARCHIVED);
	/* every archive row was published and deleted by the relay */
	orc_it_scene_await(&s, WAIT_MS, "the outbox is empty",
			   "SELECT NOT EXISTS (SELECT FROM outbox)");
	orc_it_scene_finish(&s);
}
END_TEST

/* Inbox ids and dead letters expire by age, a batch at a time. */
START_TEST(test_inbox_and_dead_letter_expiry)
{
	struct orc_it_db db;
	struct orc_config cfg;
	struct orc_error err = {0};
	struct orc_store *store = NULL;
	struct orc_catalog *cat = orc_catalog_create();
	struct orc_housekeeping *hk = NULL;
	const struct orc_housekeeping_stats *st;
	char out[OUT_MAX];
	size_t n, turns = 0;
	int rc;

	orc_it_db_init(&db);
	orc_it_pg_exec(db.conn,
		"SET search_path TO orchestrator;"
		"INSERT INTO inbox (consumer, message_id, received_at)"
		" SELECT 'g', 'old ' || i, now() - interval '2 hours' - i * interval '1 s'"
		" FROM generate_series(1, 50) i;"
		"INSERT INTO inbox (consumer, message_id, received_at)"
		" SELECT 'g', 'new ' || i, now() - interval '50 minutes'"
		" FROM generate_series(1, 30) i;"
		"INSERT INTO dead_letters (consumer, topic, partition, \"offset\","
		" error, created_at)"
		" SELECT 'g', 't', 0, i, 'bad', now() - CASE WHEN i <= 20"
		" THEN interval '40 days' ELSE interval '29 days' END"
		" FROM generate_series(1, 35) i;", 0, NULL);
	ck_assert_int_eq(orc_it_pg_long(db.conn,
		"SELECT due FROM orchestrator.housekeeping_due(interval '30 days',"
		" interval '1 hour') WHERE kind = 'inbox'"), 50);

	ck_assert_int_eq(orc_config_init(&cfg, &err), ORC_OK);
	ck_assert_int_eq(orc_config_set(&cfg, "inbox_ttl", "1h", &err), ORC_OK);
	ck_assert_int_eq(orc_config_set(&cfg, "housekeeping_batch", "7", &err),
			 ORC_OK);
	ck_assert_int_eq(orc_store_connect(db.dsn, NULL, &store, &err), ORC_OK);
	ck_assert_int_eq(orc_housekeeping_create(&cfg, store, cat, &hk, &err),
			 ORC_OK);
	/* a full batch is due again at once; a short one waits the interval */
	do {
		ck_assert_int_eq(orc_housekeeping_turn(hk, orc_clock_mono_ms(),
						       &n, &err), ORC_OK);
		turns++;
	} while (n > 0 && turns < 100);
	st = orc_housekeeping_get_stats(hk);
	ck_assert_uint_eq(st->deleted[ORC_HOUSEKEEPING_INBOX], 50);
	ck_assert_uint_eq(st->deleted[ORC_HOUSEKEEPING_DEAD_LETTERS], 20);
	ck_assert_uint_eq(st->deleted[ORC_HOUSEKEEPING_SAGAS], 0);
	/* 50 = 7 full batches and a short one; then nothing is due */
	ck_assert_uint_eq(turns, 9);
	ck_assert(!orc_housekeeping_wants_turn(hk, orc_clock_mono_ms()));
	ck_assert_int_eq(orc_it_pg_long(db.conn,
		"SELECT count(*) FROM orchestrator.inbox WHERE message_id LIKE 'new %'"),
		30);
	ck_assert_int_eq(orc_it_pg_long(db.conn,
		"SELECT count(*) FROM orchestrator.inbox"), 30);
	ck_assert_int_eq(orc_it_pg_long(db.conn,
		"SELECT count(*) FROM orchestrator.dead_letters"), 15);
	/* 0 keeps dead letters forever */
	orc_it_pg_exec(db.conn, "UPDATE orchestrator.dead_letters SET"
		       " created_at = now() - interval '300 days'", 0, NULL);
	ck_assert_int_eq(orc_store_housekeeping_dead_letters(store, 0, 100, &n,
							     &err), ORC_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(orc_it_pg_long(db.conn,
		"SELECT count(*) FROM orchestrator.dead_letters"), 15);
	orc_housekeeping_destroy(hk);
	orc_store_destroy(store);
	orc_catalog_destroy(cat);
	orc_config_finish(&cfg);

	/* an inbox TTL under an hour is refused at start, naming it */
	{
		const char *args[] = {"run", "--dsn", db.dsn, "--inbox-ttl",
				      "30m", NULL};

		rc = orc_it_run(out, sizeof(out), args);
		ck_assert_msg(rc == 2, "run exited %d:\n%s", rc, out);
		ck_assert_msg(strstr(out, "invalid value \"30m\" for inbox_ttl: "
					  "expected a duration from 1h") != NULL,
			      "%s", out);
	}
	orc_it_db_finish(&db);
}
END_TEST

/* Run purge on db with args (NULL-terminated); its exit status. */
static int
purge(struct orc_it_db *db, char *out, const char *const *args)
{
	const char *argv[16] = {"purge", "--dsn", db->dsn};
	size_t n = 3;

	for (size_t i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return orc_it_run(out, OUT_MAX, argv);
}

#define PURGE(db, out, expect, ...)                                            \
	do {                                                                   \
		const char *args_[] = {__VA_ARGS__, NULL};                     \
		int rc_ = purge(db, out, args_);                               \
		ck_assert_msg(rc_ == (expect), "purge exited %d, expected %d:\n%s", \
			      rc_, (expect), out);                             \
	} while (0)

START_TEST(test_purge)
{
	static char out[OUT_MAX];
	struct orc_it_db db;
	long total, old_final, old_failed_a;
	char want[128];

	orc_it_db_init(&db);
	orc_it_pg_exec(db.conn,
		"INSERT INTO orchestrator.saga_definitions (name, version, body,"
		" checksum) VALUES ('a', 1, '{}', 'x'), ('b', 1, '{}', 'y')",
		0, NULL);
	seed_sagas(db.conn, "a", 400);
	seed_sagas(db.conn, "b", 400);
	total = orc_it_pg_long(db.conn, "SELECT count(*) FROM orchestrator.sagas");
	old_final = orc_it_pg_long(db.conn,
		"SELECT count(*) FROM orchestrator.sagas WHERE status IN " FINAL
		" AND finished_at < now() - interval '10 hours'");
	old_failed_a = orc_it_pg_long(db.conn,
		"SELECT count(*) FROM orchestrator.sagas WHERE status = 'failed'"
		" AND definition_name = 'a'"
		" AND finished_at < now() - interval '10 hours'");
	ck_assert_int_gt(old_failed_a, 0);

	PURGE(&db, out, 0, "--older-than", "10h", "--dry-run");
	snprintf(want, sizeof(want), "%ld sagas finished more than 10h ago would"
		 " be deleted (dry run: nothing deleted)", old_final);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	ck_assert_int_eq(orc_it_pg_long(db.conn,
		"SELECT count(*) FROM orchestrator.sagas"), total);

	PURGE(&db, out, 2, "--older-than", "10h", "--status", "stuck");
	ck_assert_msg(strstr(out, "status \"stuck\" is not final") != NULL,
		      "%s", out);
	PURGE(&db, out, 2, "--older-than", "10h", "--status", "running");
	PURGE(&db, out, 2, "--status", "failed");
	ck_assert_msg(strstr(out, "--older-than is required") != NULL, "%s", out);
	ck_assert_int_eq(orc_it_pg_long(db.conn,
		"SELECT count(*) FROM orchestrator.sagas"), total);

	/* one definition, one status */
	PURGE(&db, out, 0, "--older-than", "10h", "--definition", "a",
	      "--status", "failed", "--housekeeping-batch", "9");
	snprintf(want, sizeof(want), "%ld sagas deleted, 0 archived", old_failed_a);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	ck_assert_int_eq(orc_it_pg_long(db.conn,
		"SELECT count(*) FROM orchestrator.sagas"), total - old_failed_a);

	/* the rest, archived */
	PURGE(&db, out, 0, "--older-than", "10h", "--archive-topic", "t.archive",
	      "--json");
	{
		json_error_t jerr;
		json_t *o = json_loads(out, 0, &jerr);

		ck_assert_msg(o != NULL, "%s", out);
		ck_assert_int_eq(json_integer_value(json_object_get(o, "deleted")),
				 old_final - old_failed_a);
		ck_assert_int_eq(json_integer_value(json_object_get(o, "archived")),
				 old_final - old_failed_a);
		json_decref(o);
	}
	ck_assert_int_eq(orc_it_pg_long(db.conn,
		"SELECT count(*) FROM orchestrator.outbox WHERE topic = 't.archive'"
		" AND type = 'saga.archived'"), old_final - old_failed_a);
	ck_assert_int_eq(orc_it_pg_long(db.conn,
		"SELECT count(*) FROM orchestrator.sagas"), total - old_final);
	ck_assert_int_eq(orc_it_pg_long(db.conn,
		"SELECT count(*) FROM orchestrator.sagas WHERE status NOT IN " FINAL),
		total / 8 * 3);
	ck_assert_int_eq(orc_it_pg_long(db.conn,
		"SELECT count(*) FROM orchestrator.saga_steps"), total - old_final);
	PURGE(&db, out, 0, "--older-than", "10h");
	ck_assert_msg(strstr(out, "0 sagas deleted") != NULL, "%s", out);
	orc_it_db_finish(&db);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(retention_two_processes),
		ORC_IT_CASE(archive_real_sagas),
		ORC_IT_CASE(inbox_and_dead_letter_expiry),
		ORC_IT_CASE(purge),
	};

	return orc_it_run_suite("housekeeping", cases,
				sizeof(cases) / sizeof(cases[0]), 180);
}
