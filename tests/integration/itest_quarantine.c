/*
 * itest_quarantine.c - rows that cannot be read, and a wedged partition,
 * against a real PostgreSQL and Kafka.
 *
 * A saga row edited by hand into something the engine cannot read (its
 * context a JSON array, a step row its definition lacks), with a timer due,
 * must neither stop `orchestrator run` nor keep the other sagas' timers
 * from firing: the saga is quarantined once, with the reason in its row,
 * its history and the quarantined_sagas view; events for it are
 * dead-lettered with that reason while the partition goes on; and once the
 * row is fixed, `quarantine release` puts it back where it stood.
 *
 * `consumer seek --skip-one` moves a stopped group past one message and
 * keeps the message as a dead letter, and the group goes on after it; it
 * refuses while the group has members.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"

#define WAIT_MS 60000
#define HEALTHY 20
#define OUT_MAX 16384

static const char def[] =
	"{\"name\": \"quar\", \"version\": 1,"
	" \"trigger\": {\"topic\": \"{P}.orders\", \"type\": \"order.placed\","
	"              \"key\": \"/order_id\"},"
	" \"steps\": ["
	"  {\"name\": \"work\", \"command\": {\"topic\": \"{P}.work\","
	"   \"type\": \"work.do\"}, \"success\": [\"work.done\"],"
	"   \"timeout\": \"10m\"}"
	" ]}";

/* Queue an order.placed for order id on "orders", with Kafka key key. */
static void
order(struct orc_it_scene *s, const char *id, const char *key)
{
	char data[128], evid[128];

	snprintf(data, sizeof(data), "{\"order_id\": \"%s\"}", id);
	snprintf(evid, sizeof(evid), "placed-%s", id);
	orc_it_scene_event(s, "orders", key, evid, "order.placed", data, NULL,
			   NULL, NULL);
}

/* Process idx of s is still running. */
static void
assert_alive(struct orc_it_scene *s, int idx)
{
	int status;

	if (waitpid(s->procs[idx].pid, &status, WNOHANG) != 0)
		orc_it_scene_fail(s, "`run` exited (status %d)",
				  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/*
 * Set up s, start `run`, and place orders ok-0 .. ok-<healthy - 1> and
 * those named in bad (NULL-terminated), each saga then waiting on its
 * step's timeout; returns `run`'s process index.
 */
static int
start_waiting(struct orc_it_scene *s, int healthy, const char *const *bad)
{
	static const char *const topics[] = {"orders", "work"};
	char name[32], sql[160];
	int n = healthy, run;

	orc_it_scene_init(s, topics, 2);
	orc_it_scene_load(s, def);
	run = orc_it_scene_run(s, "run", NULL);
	for (int i = 0; i < healthy; i++) {
		snprintf(name, sizeof(name), "ok-%d", i);
		order(s, name, name);
	}
	for (size_t i = 0; bad[i] != NULL; i++, n++)
		order(s, bad[i], bad[i]);
	orc_it_scene_flush(s);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) = %d FROM saga_steps WHERE"
		 " status = 'running' AND wake_at IS NOT NULL", n);
	orc_it_scene_await(s, WAIT_MS, "every saga waits on its timer", sql);
	return run;
}

/* The id of the saga with business key key (new: free()). */
static char *
saga_of(struct orc_it_scene *s, const char *key)
{
	return orc_it_scene_value(s, "SELECT id FROM sagas WHERE"
				     " business_key = '%s'", key);
}

/*
 * Queue a reply for saga id on "orders" under Kafka key "same", and an
 * order behind it on the same partition; wait until that order started.
 */
static void
reply_then_order(struct orc_it_scene *s, const char *id, const char *evid)
{
	orc_it_scene_event(s, "orders", "same", evid, "work.done", "{}", id,
			   "work", NULL);
	order(s, "after", "same");
	orc_it_scene_flush(s);
	orc_it_scene_await(s, WAIT_MS, "the order behind the reply started",
			   "SELECT count(*) = 1 FROM sagas WHERE"
			   " business_key = 'after'");
}

START_TEST(test_unreadable_saga_is_quarantined)
{
	static const char *const broken[] = {"bad-context", "bad-step", NULL};
	struct orc_it_scene s;
	char out[OUT_MAX], *bad, *ghost;
	int run = start_waiting(&s, HEALTHY, broken), rc;

	bad = saga_of(&s, "bad-context");
	ghost = saga_of(&s, "bad-step");

	/* two rows broken by hand, and every timer due now */
	orc_it_pg_exec(s.db.conn,
		       "BEGIN;"
		       "CREATE TABLE saved AS SELECT id, context FROM sagas"
		       " WHERE business_key = 'bad-context';"
		       "UPDATE sagas SET context = '[1, 2]'"
		       " WHERE business_key = 'bad-context';"
		       "INSERT INTO saga_steps (saga_id, step_name, step_index)"
		       " SELECT id, 'ghost', 7 FROM sagas"
		       " WHERE business_key = 'bad-step';"
		       "UPDATE saga_steps SET wake_at = now()"
		       " WHERE wake_at IS NOT NULL;"
		       "UPDATE sagas SET wake_at = now();"
		       "COMMIT;",
		       0, NULL);

	/* the healthy timers fire, and `run` lives on */
	orc_it_scene_await(&s, WAIT_MS, "the healthy sagas timed out",
			   "SELECT count(*) = 20 FROM sagas WHERE"
			   " status = 'failed' AND business_key LIKE 'ok-%'");
	assert_alive(&s, run);

	/* the broken two are set aside, once, with the reason */
	orc_it_scene_await(&s, WAIT_MS, "two sagas quarantined",
			   "SELECT count(*) = 2 FROM quarantined_sagas");
	orc_it_expect(&s, "running true", "the bad context's row",
		      orc_it_scene_value(&s,
			"SELECT status || ' ' || (quarantine_reason LIKE"
			" '%%context%%') FROM quarantined_sagas"
			" WHERE id = '%s'",
			bad));
	orc_it_expect(&s, "t", "the ghost step's reason",
		      orc_it_scene_value(&s,
			"SELECT quarantine_reason LIKE '%%ghost%%' FROM sagas"
			" WHERE id = '%s'", ghost));
	nanosleep(&(struct timespec){1, 500000000}, NULL); /* more passes */
	orc_it_expect(&s, "1", "saga.quarantined rows of the bad context",
		      orc_it_scene_value(&s,
			"SELECT count(*) FROM saga_history WHERE saga_id = '%s'"
			" AND kind = 'saga.quarantined' AND detail->>'reason'"
			" LIKE '%%context%%'", bad));
	orc_it_expect(&s, "1", "saga.quarantined rows of the ghost step",
		      orc_it_scene_value(&s,
			"SELECT count(*) FROM saga_history WHERE saga_id = '%s'"
			" AND kind = 'saga.quarantined'", ghost));
	assert_alive(&s, run);

	/*
	 * A trigger for the other's key, a reply for the quarantined saga,
	 * then a new order behind the reply on the same partition.
	 */
	orc_it_scene_event(&s, "orders", "bad-step", "placed-again",
			   "order.placed", "{\"order_id\": \"bad-step\"}", NULL,
			   NULL, NULL);
	reply_then_order(&s, bad, "reply-1");
	orc_it_scene_await(&s, WAIT_MS, "both events dead-lettered",
			   "SELECT count(*) = 2 FROM dead_letters WHERE"
			   " error LIKE 'saga % is quarantined: %'");
	orc_it_expect(&s, "1", "the reply's dead letter",
		      orc_it_scene_value(&s,
			"SELECT count(*) FROM dead_letters WHERE error LIKE"
			" 'saga %s is quarantined: %%context%%'", bad));
	assert_alive(&s, run);

	/* release: refused while the row is broken, done once it is fixed */
	{
		const char *const args[] = {"quarantine", "release", bad, NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		ck_assert_msg(rc == 1, "release of a broken row: %d\n%s", rc,
			      out);
		ck_assert_msg(strstr(out, "still unreadable") != NULL, "%s",
			      out);
		orc_it_pg_exec(s.db.conn,
			       "UPDATE sagas s SET context = v.context"
			       " FROM saved v WHERE s.id = v.id",
			       0, NULL);
		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		ck_assert_msg(rc == 0, "release: %d\n%s", rc, out);
		ck_assert_msg(strstr(out, "released") != NULL, "%s", out);
		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		ck_assert_msg(rc == 1 && strstr(out, "not quarantined") != NULL,
			      "second release: %d\n%s", rc, out);
	}
	orc_it_scene_await(&s, WAIT_MS, "the released saga's timer fired",
			   "SELECT status = 'failed' FROM sagas WHERE"
			   " business_key = 'bad-context'");
	orc_it_expect(&s, "1", "saga.released rows",
		      orc_it_scene_value(&s,
			"SELECT count(*) FROM saga_history WHERE saga_id = '%s'"
			" AND kind = 'saga.released'", bad));
	orc_it_expect(&s, "1", "sagas still quarantined",
		      orc_it_scene_value(&s,
			"SELECT count(*) FROM quarantined_sagas"));
	assert_alive(&s, run);
	free(bad);
	free(ghost);
	orc_it_scene_finish(&s);
}
END_TEST

/*
 * A row that reads well but holds a state the engine's transition tables
 * refuse (a step marked succeeded while its timeout is still set): the
 * timer that meets it quarantines the saga, with the refusal as the
 * reason, and the rest goes on.
 */
START_TEST(test_refused_state_is_quarantined)
{
	static const char *const broken[] = {"bad-state", NULL};
	struct orc_it_scene s;
	int run = start_waiting(&s, 10, broken);
	char *id = saga_of(&s, "bad-state");

	orc_it_pg_exec(s.db.conn,
		       "BEGIN;"
		       "UPDATE saga_steps t SET status = 'succeeded'"
		       " FROM sagas s WHERE s.id = t.saga_id"
		       " AND s.business_key = 'bad-state';"
		       "UPDATE saga_steps SET wake_at = now()"
		       " WHERE wake_at IS NOT NULL;"
		       "UPDATE sagas SET wake_at = now();"
		       "COMMIT;",
		       0, NULL);
	orc_it_scene_await(&s, WAIT_MS, "the healthy sagas timed out",
			   "SELECT count(*) = 10 FROM sagas WHERE"
			   " status = 'failed' AND business_key LIKE 'ok-%'");
	orc_it_scene_await(&s, WAIT_MS, "the refused saga quarantined",
			   "SELECT count(*) = 1 FROM quarantined_sagas WHERE"
			   " business_key = 'bad-state' AND quarantine_reason"
			   " LIKE '%transition%'");
	assert_alive(&s, run);
	orc_it_expect(&s, "1", "saga.quarantined rows",
		      orc_it_scene_value(&s,
			"SELECT count(*) FROM saga_history WHERE saga_id = '%s'"
			" AND kind = 'saga.quarantined'", id));

	/* a reply for it is dead-lettered; the order behind it starts */
	reply_then_order(&s, id, "reply-2");
	orc_it_expect(&s, "1", "the reply's dead letter",
		      orc_it_scene_value(&s,
			"SELECT count(*) FROM dead_letters WHERE error LIKE"
			" 'saga %s is quarantined: %%transition%%'", id));
	assert_alive(&s, run);
	free(id);
	orc_it_scene_finish(&s);
}
END_TEST

/* Queue order id with Kafka key key on "orders"; sent is filled on flush. */
static void
order_sent(struct orc_it_scene *s, const char *id, const char *key,
	   struct orc_it_sent *sent)
{
	char data[128], evid[128];

	snprintf(data, sizeof(data), "{\"order_id\": \"%s\"}", id);
	snprintf(evid, sizeof(evid), "placed-%s", id);
	orc_it_scene_event(s, "orders", key, evid, "order.placed", data, NULL,
			   NULL, sent);
}

START_TEST(test_consumer_seek_skips_one)
{
	static const char *const topics[] = {"orders", "work"};
	struct orc_it_scene s;
	struct orc_it_sent first, poison, next;
	char out[OUT_MAX], orders[96], part[16], expect[160];
	int run, rc;

	orc_it_scene_init(&s, topics, 2);
	orc_it_scene_load(&s, def);
	orc_it_scene_topic(&s, "orders", orders, sizeof(orders));
	run = orc_it_scene_run(&s, "run", NULL);
	order_sent(&s, "first", "k", &first);
	orc_it_scene_flush(&s);
	orc_it_scene_await(&s, WAIT_MS, "the first order started",
			   "SELECT count(*) = 1 FROM sagas WHERE"
			   " business_key = 'first'");
	snprintf(part, sizeof(part), "%d", (int)first.partition);

	/* a running group: seek refuses, and moves nothing */
	{
		const char *const args[] = {"consumer", "seek", "--topic",
					    orders, "--partition", part,
					    "--skip-one", NULL};

		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		ck_assert_msg(rc == 1 && strstr(out, "active member") != NULL,
			      "seek on a running group: %d\n%s", rc, out);
	}
	ck_assert_int_eq(orc_it_scene_stop(&s, run, SIGTERM), 0);

	/* the message that would wedge it, and one behind it */
	order_sent(&s, "poison", "k", &poison);
	order_sent(&s, "next", "k", &next);
	orc_it_scene_flush(&s);
	ck_assert_int_eq(poison.partition, first.partition);
	ck_assert_int_eq(next.offset, poison.offset + 1);
	{
		const char *const args[] = {"consumer", "seek", "--topic",
					    orders, "--partition", part,
					    "--skip-one", NULL};

		/*
		 * A stopped static member stays in the group until its
		 * session times out: seek refuses until then.
		 */
		for (int i = 0; i < 60; i++) {
			rc = orc_it_scene_cli(&s, out, sizeof(out), args);
			if (rc != 1 || strstr(out, "active member") == NULL)
				break;
			nanosleep(&(struct timespec){1, 0}, NULL);
		}
		ck_assert_msg(rc == 0, "seek --skip-one: %d\n%s", rc, out);
		snprintf(expect, sizeof(expect),
			 "committed offset %lld -> %lld\n",
			 (long long)poison.offset,
			 (long long)poison.offset + 1);
		ck_assert_msg(strstr(out, expect) != NULL,
			      "expected \"%s\" in\n%s", expect, out);
	}
	orc_it_expect(&s, "1", "the skipped message's dead letter",
		      orc_it_scene_value(&s,
			"SELECT count(*) FROM dead_letters WHERE topic = '%s'"
			" AND partition = %d AND \"offset\" = %lld AND"
			" consumer = '%s' AND error = 'skipped by operator' AND"
			" convert_from(payload, 'UTF8') LIKE '%%poison%%'",
			orders, (int)poison.partition, (long long)poison.offset,
			s.group));

	/* seeking to where it stands skips nothing */
	{
		char off[24];
		const char *const args[] = {"consumer", "seek", "--topic",
					    orders, "--partition", part,
					    "--offset", off, "--json", NULL};

		snprintf(off, sizeof(off), "%lld",
			 (long long)poison.offset + 1);
		rc = orc_it_scene_cli(&s, out, sizeof(out), args);
		ck_assert_msg(rc == 0 && strstr(out, "\"skipped\": 0") != NULL,
			      "seek --offset: %d\n%s", rc, out);
	}

	/* the group goes on after it: the next order starts, not the poison */
	orc_it_scene_run(&s, "run2", NULL);
	orc_it_scene_await(&s, WAIT_MS, "the order behind the skipped one",
			   "SELECT count(*) = 1 FROM sagas WHERE"
			   " business_key = 'next'");
	orc_it_expect(&s, "0", "sagas of the skipped order",
		      orc_it_scene_value(&s,
			"SELECT count(*) FROM sagas WHERE business_key ="
			" 'poison'"));
	orc_it_scene_finish(&s);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(unreadable_saga_is_quarantined),
		ORC_IT_CASE(consumer_seek_skips_one),
		ORC_IT_CASE(refused_state_is_quarantined),
	};

	return orc_it_run_suite("quarantine", cases,
				sizeof(cases) / sizeof(cases[0]), 240);
}
