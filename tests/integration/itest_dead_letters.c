/*
 * itest_dead_letters.c - dead letters repaired, against a real PostgreSQL
 * and Kafka and a running `orchestrator run`: a replayed event is applied.
 *
 * corrected_payload: a trigger whose data lacks the business key is
 * dead-lettered; `dead-letters replay ID --payload @fixed.json` publishes
 * it with the corrected value and `run` starts the saga, which completes.
 * The dead letter stays as it was received, the replay is recorded (who,
 * corrected, the value sent and its hash), and the message on the topic
 * carries orc_replayed_from and orc_replayed_payload.  A payload file that
 * is missing or is not JSON is refused before anything is sent.  For a
 * structured-mode event the corrected payload is the whole envelope.
 *
 * bulk_replay_and_purge: 50 events no definition started yet are
 * dead-lettered, with 5 unreadable ones beside them; the definition is
 * loaded and `run` restarted; `replay --where` refuses predicates that are
 * not SQL or that write, --dry-run lists the 50 and changes nothing, with
 * the broker away each fails with the reason and none is marked, the
 * real run replays them in batches and `run` starts all 50 sagas, the
 * unreadable ones untouched; running it again replays nothing.  `purge
 * --older-than` deletes only the dead letters aged by SQL, in batches,
 * with their replays' records.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 60000
#define OUT_MAX (256 * 1024)
#define BULK 50
#define UNREADABLE 5

static const char order_def[] =
	"{\"name\": \"dl_order\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"reserve\", \"command\": {\"topic\": \"{P}.work\","
	"   \"type\": \"reserve.do\"}, \"success\": [\"reserve.done\"]}"
	" ]}";

/* Loaded only once its events are dead letters. */
static const char refund_def[] =
	"{\"name\": \"dl_refund\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"refund.asked\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"refund\", \"command\": {\"topic\": \"{P}.work\","
	"   \"type\": \"refund.do\"}, \"success\": [\"refund.done\"]}"
	" ]}";

/*
 * Run the orchestrator with args (NULL-terminated) and the scene's
 * settings; it must exit with rc.  Returns its output (a static buffer,
 * overwritten by the next call).
 */
static const char *
cli(struct orc_it_scene *s, int rc, const char *const *args)
{
	static char *out;
	int got;

	if (out == NULL)
		out = malloc(OUT_MAX);
	ck_assert_ptr_nonnull(out);
	got = orc_it_scene_cli(s, out, OUT_MAX, args);
	if (got != rc)
		orc_it_scene_fail(s, "%s %s exited %d, not %d:\n%s", args[0],
				  args[1], got, rc, out);
	return out;
}

static void
has(struct orc_it_scene *s, const char *out, const char *part)
{
	if (strstr(out, part) == NULL)
		orc_it_scene_fail(s, "no \"%s\" in:\n%s", part, out);
}

/* Write text to file name in the scene's directory; its path into path. */
static void
write_file(struct orc_it_scene *s, const char *name, const char *text,
	   char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", s->dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_corrected_payload)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "reserve.do=succeed:reserve.done", NULL};
	static const char broken[] = "{\"order\":\"o-1\",\"total\":12}";
	static const char fixed[] = "{\"order_id\":\"o-1\",\"total\":12}\n";
	static const char structured[] =
		"{\"specversion\":\"1.0\",\"id\":\"e-2\",\"source\":\"/it\","
		"\"type\":\"order.placed\",\"data\":{\"order\":\"o-2\"}}";
	static const char structured_fixed[] =
		"{\"specversion\":\"1.0\",\"id\":\"e-2\",\"source\":\"/it\","
		"\"type\":\"order.placed\",\"datacontenttype\":"
		"\"application/json\",\"data\":{\"order_id\":\"o-2\"}}";
	char fixed_path[256], bad_path[256], arg[300], missing[300];
	struct orc_it_scene s;
	const char *out;
	json_t *msgs, *m;
	char *dl;
	size_t i, corrected = 0;

	orc_it_scene_start(&s, topics, 2, order_def, "work", rules);
	orc_it_scene_event(&s, "orders", "o-1", "e-1", "order.placed", broken,
			   NULL, NULL, NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the event without a key dead-lettered",
			   "SELECT count(*) = 1 FROM dead_letters WHERE error ="
			   " 'business key not found at \"/order_id\" in the"
			   " data of order.placed'");
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM sagas"), 0);
	dl = orc_it_scene_value(&s, "SELECT id FROM dead_letters");

	/* a payload that is missing or not JSON: refused, nothing sent */
	write_file(&s, "bad.json", "{\"order_id\": \"o-1\",}", bad_path,
		   sizeof(bad_path));
	snprintf(arg, sizeof(arg), "@%s", bad_path);
	{
		const char *args[] = {"dead-letters", "replay", dl, "--payload",
				      arg, NULL};

		out = cli(&s, 2, args);
	}
	has(&s, out, "payload file \"");
	has(&s, out, "bad.json\" is not valid JSON");
	snprintf(missing, sizeof(missing), "@%s/none.json", s.dir);
	{
		const char *args[] = {"dead-letters", "replay", dl, "--payload",
				      missing, NULL};

		out = cli(&s, 2, args);
	}
	has(&s, out, "cannot read payload file \"");
	{
		const char *args[] = {"dead-letters", "replay", dl, "--payload",
				      "{nope", NULL};

		out = cli(&s, 2, args);
	}
	has(&s, out, "--payload is not valid JSON");
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					   " dead_letter_replays"), 0);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					   " dead_letters WHERE replayed_at"
					   " IS NOT NULL"), 0);

	/* the corrected value: run starts the saga, which completes */
	write_file(&s, "fixed.json", fixed, fixed_path, sizeof(fixed_path));
	snprintf(arg, sizeof(arg), "@%s", fixed_path);
	{
		const char *args[] = {"dead-letters", "replay", dl, "--payload",
				      arg, "--by", "ops-alice", NULL};

		out = cli(&s, 0, args);
	}
	has(&s, out, "+ orc_replayed_payload: corrected\n");
	snprintf(arg, sizeof(arg), "corrected value %zu bytes (was %zu)",
		 strlen(fixed), strlen(broken));
	has(&s, out, arg);
	has(&s, out, " by ops-alice\n");
	orc_it_scene_await(&s, WAIT_MS, "the saga of the corrected event",
			   "SELECT count(*) = 1 FROM sagas WHERE business_key ="
			   " 'o-1' AND definition_name = 'dl_order'"
			   " AND status = 'completed'");
	orc_it_expect(&s, "12", "the saga's input is the corrected data",
		      orc_it_scene_value(&s, "SELECT saga_context(s) #>>"
				         " '{input,total}' FROM sagas s"));

	/* the dead letter as received; the replay recorded */
	orc_it_expect(&s, broken, "the dead letter's payload",
		      orc_it_scene_value(&s, "SELECT convert_from(payload,"
					 " 'UTF8') FROM dead_letters"));
	orc_it_expect(&s, "t", "replayed_at set",
		      orc_it_scene_value(&s, "SELECT (replayed_at IS NOT NULL)"
					 "::text::char FROM dead_letters"));
	orc_it_expect(&s, "ops-alice true t t", "the replay's record",
		      orc_it_scene_value(&s,
			"SELECT r.replayed_by || ' ' || r.corrected || ' ' ||"
			" (convert_from(r.payload, 'UTF8') = $f$%s$f$)::text::char"
			" || ' ' || (r.payload_sha256 = sha256(r.payload))"
			"::text::char FROM dead_letter_replays r", fixed));

	/* on the topic: the corrected value with both headers */
	msgs = orc_it_scene_collect(&s, "orders", 2, 30000, 500);
	json_array_foreach(msgs, i, m) {
		const char *v = orc_it_json_str(m, "value");
		const char *h = orc_it_header(m, "orc_replayed_payload");

		if (h == NULL)
			continue;
		corrected++;
		ck_assert_str_eq(h, "corrected");
		ck_assert_str_eq(v, fixed);
		ck_assert_str_eq(orc_it_header(m, "orc_replayed_from"), dl);
		ck_assert_str_eq(orc_it_header(m, "ce_id"), "e-1");
	}
	ck_assert_uint_eq(corrected, 1);
	json_decref(msgs);

	/* the default "by" is the OS user at the host */
	{
		const char *args[] = {"dead-letters", "replay", dl, "--json",
				      NULL};

		out = cli(&s, 0, args);
	}
	has(&s, out, "\"corrected\": false");
	orc_it_expect(&s, "t", "replayed by user@host",
		      orc_it_scene_value(&s,
			"SELECT (replayed_by LIKE '%%_@_%%')::text::char FROM"
			" dead_letter_replays ORDER BY id DESC LIMIT 1"));
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					   " dead_letter_replays"), 2);
	free(dl);

	/* a structured-mode event: the corrected payload is the envelope */
	{
		json_t *h = json_pack("{ss}", "content-type",
				      "application/cloudevents+json");

		orc_it_scene_send(&s, "orders", "o-2", h, structured, NULL);
		json_decref(h);
	}
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the structured event dead-lettered",
			   "SELECT count(*) = 1 FROM dead_letters WHERE"
			   " key = 'o-2' AND error LIKE 'business key not found%'");
	dl = orc_it_scene_value(&s, "SELECT id FROM dead_letters WHERE"
				" key = 'o-2'");
	{
		const char *args[] = {"dead-letters", "replay", dl, "--payload",
				      structured_fixed, NULL};

		out = cli(&s, 0, args);
	}
	orc_it_scene_await(&s, WAIT_MS, "the saga of the corrected envelope",
			   "SELECT count(*) = 1 FROM sagas WHERE business_key ="
			   " 'o-2' AND status = 'completed'");
	free(dl);
	unlink(fixed_path);
	unlink(bad_path);
	orc_it_scene_finish(&s);
}
END_TEST

START_TEST(test_bulk_replay_and_purge)
{
	static const char *const topics[] = {"orders", "work"};
	static const char *const rules[] = {
		"--rule", "refund.do=succeed:refund.done", NULL};
	static const char where[] = "error LIKE 'no saga definition starts"
				    " with%' AND topic LIKE '%.orders'";
	struct orc_it_scene s;
	const char *out;
	long all;
	int run;

	orc_it_scene_start(&s, topics, 2, order_def, "work", rules);
	for (int k = 0; k < BULK; k++) {
		char key[16], id[32], data[64];

		snprintf(key, sizeof(key), "r-%d", k);
		snprintf(id, sizeof(id), "refund-%d", k);
		snprintf(data, sizeof(data), "{\"order_id\":\"%s\"}", key);
		orc_it_scene_event(&s, "orders", key, id, "refund.asked", data,
				   NULL, NULL, NULL);
	}
	for (int k = 0; k < UNREADABLE; k++)
		orc_it_scene_send(&s, "orders", "junk", NULL, "not json", NULL);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "every event dead-lettered",
			   "SELECT count(*) = 55 FROM dead_letters");
	all = orc_it_scene_long(&s, "SELECT count(*) FROM dead_letters");

	/* the definition arrives; a new run knows it */
	orc_it_scene_load(&s, refund_def);
	orc_it_scene_stop(&s, 0, SIGTERM);
	run = orc_it_scene_run(&s, "run2", NULL);

	/* predicates that are not SQL, or that write, are refused */
	{
		const char *args[] = {"dead-letters", "replay", "--where",
				      "error LIKE", NULL};

		out = cli(&s, 2, args);
	}
	has(&s, out, "invalid predicate \"error LIKE\": syntax error");
	{
		const char *args[] = {"dead-letters", "replay", "--where",
				      "nextval('dead_letters_id_seq') > 0",
				      NULL};

		out = cli(&s, 2, args);
	}
	has(&s, out, "invalid predicate \"nextval('dead_letters_id_seq') > 0\"");
	has(&s, out, "read-only transaction");
	{
		const char *args[] = {"dead-letters", "replay", "--where",
				      "true; DELETE FROM dead_letters", NULL};

		out = cli(&s, 2, args);
	}
	has(&s, out, "invalid predicate \"true; DELETE FROM dead_letters\"");
	{
		const char *args[] = {"dead-letters", "replay", "--where",
				      "no_such_column = 1", NULL};

		out = cli(&s, 2, args);
	}
	has(&s, out, "column \"no_such_column\" does not exist");
	{
		const char *args[] = {"dead-letters", "replay", "--where", where,
				      "--payload", "{}", NULL};

		out = cli(&s, 2, args);
	}
	has(&s, out, "--payload corrects one dead letter");
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					   " dead_letters"), all);

	/* --dry-run lists the 50 and changes nothing */
	{
		const char *args[] = {"dead-letters", "replay", "--where", where,
				      "--dry-run", NULL};

		out = cli(&s, 0, args);
	}
	has(&s, out, "(50 dead letters would be replayed; dry run: nothing "
		     "published)\n");
	has(&s, out, "no saga definition starts with or waits for"
		     " \"refund.asked\"");
	ck_assert_ptr_null(strstr(out, "junk"));
	{
		const char *args[] = {"dead-letters", "replay", "--where", where,
				      "--dry-run", "--limit", "3", "--json",
				      NULL};
		json_t *o;

		out = cli(&s, 0, args);
		o = json_loads(out, 0, NULL);
		ck_assert_ptr_nonnull(o);
		ck_assert_int_eq(json_integer_value(json_object_get(o,
							"selected")), 3);
		ck_assert_int_eq(json_array_size(json_object_get(o,
							"dead_letters")), 3);
		json_decref(o);
	}
	sleep(2); /* anything the dry run had published would show by now */
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM sagas"), 0);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					   " dead_letters WHERE replayed_at"
					   " IS NOT NULL"), 0);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					   " dead_letter_replays"), 0);

	/* the broker away: each fails with the reason, none is marked */
	{
		const char *args[] = {"dead-letters", "replay", "--where", where,
				      "--limit", "2", "--kafka-brokers",
				      "127.0.0.1:1", "--kafka.message.timeout.ms",
				      "2000", NULL};

		out = cli(&s, 1, args);
	}
	has(&s, out, "0 of 2 dead letters replayed in 1 batch, 2 failed\n");
	has(&s, out, ": Local: Message timed out\n");
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					   " dead_letter_replays"), 0);

	/* the real run: in batches of 16, every saga started by run */
	{
		const char *args[] = {"dead-letters", "replay", "--where", where,
				      "--batch", "16", "--by", "ops-bulk", NULL};

		out = cli(&s, 0, args);
	}
	has(&s, out, "50 of 50 dead letters replayed in 4 batches, 0 failed\n");
	orc_it_scene_await(&s, WAIT_MS, "the 50 replayed refunds completed",
			   "SELECT count(*) = 50 FROM sagas WHERE definition_name"
			   " = 'dl_refund' AND status = 'completed'");
	ck_assert_int_eq(orc_it_scene_long(&s,
			 "SELECT count(DISTINCT dead_letter_id) FROM"
			 " dead_letter_replays WHERE replayed_by = 'ops-bulk'"
			 " AND NOT corrected AND payload IS NULL"
			 " AND payload_sha256 IS NOT NULL"), 50);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					   " dead_letters WHERE replayed_at"
					   " IS NULL AND key = 'junk'"),
			 UNREADABLE);

	/* again: nothing left to replay, nothing changes */
	{
		const char *args[] = {"dead-letters", "replay", "--where", where,
				      NULL};

		out = cli(&s, 0, args);
	}
	has(&s, out, "0 of 0 dead letters replayed in 0 batches, 0 failed\n");
	{
		const char *args[] = {"dead-letters", "replay", "--where", where,
				      "--all", "--dry-run", NULL};

		out = cli(&s, 0, args);
	}
	has(&s, out, "(50 dead letters would be replayed; dry run");
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					   " dead_letter_replays"), 50);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM sagas"),
			 50);

	/* purge: only the 20 aged ones, in batches, with their records */
	orc_it_scene_long(&s, "WITH a AS (UPDATE dead_letters SET created_at ="
			  " now() - interval '40 days' WHERE id IN (SELECT id"
			  " FROM dead_letters WHERE key <> 'junk' ORDER BY id"
			  " LIMIT 20) RETURNING 1) SELECT count(*) FROM a");
	{
		const char *args[] = {"dead-letters", "purge", "--older-than",
				      "30d", "--dry-run", NULL};

		out = cli(&s, 0, args);
	}
	has(&s, out, "20 dead letters recorded more than 30d ago would be "
		     "deleted (dry run: nothing deleted)\n");
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					   " dead_letters"), all);
	{
		const char *args[] = {"dead-letters", "purge", "--older-than",
				      "30d", "--housekeeping-batch", "7", NULL};

		out = cli(&s, 0, args);
	}
	has(&s, out, "20 dead letters deleted in 3 batches\n");
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					   " dead_letters"), all - 20);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					   " dead_letters WHERE created_at <"
					   " now() - interval '1 day'"), 0);
	ck_assert_int_eq(orc_it_scene_long(&s, "SELECT count(*) FROM"
					   " dead_letter_replays"), 30);
	{
		const char *args[] = {"dead-letters", "purge", NULL};

		out = cli(&s, 2, args);
	}
	has(&s, out, "--older-than is required");
	(void)run;
	orc_it_scene_finish(&s);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(corrected_payload),
		ORC_IT_CASE(bulk_replay_and_purge),
	};

	return orc_it_run_suite("dead_letters", cases,
				sizeof(cases) / sizeof(cases[0]), 240);
}
