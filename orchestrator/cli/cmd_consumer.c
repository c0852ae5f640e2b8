/*
 * cmd_consumer.c - `orchestrator consumer seek`: the emergency tool for a
 * partition that something unforeseen still wedges.
 *
 * It moves the committed offset of the orchestrator's consumer group (the
 * group setting) on one partition: to a given offset, or one past the
 * message at the committed offset (--skip-one).  Nothing is lost on the
 * way: every message skipped over is fetched and stored in dead_letters
 * (reason "skipped by operator") and that transaction is committed before
 * the new offset is, so a failure in between leaves the offset where it
 * was and running the command again is the fix (a second dead letter of
 * the same offset changes nothing).  Seeking back skips nothing: the
 * messages are read again, and the inbox makes them harmless.
 *
 * A live member of the group owns its committed offsets: it would commit
 * its own position over ours (or the broker refuses a commit from outside
 * the group), so seek refuses while the group has members, unless --force.
 * The consumer it uses shares the group's id but never joins the group.
 *
 * Exit status: 0 moved, 1 refused or failed, 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "broker.h"
#include "cmd_common.h"
#include "commands.h"
#include "store_saga.h"

#define KAFKA_TIMEOUT_MS 10000
#define MAX_SKIP 1000 /* messages one seek may skip over */
#define SKIP_REASON "skipped by operator"

static const char consumer_usage[] =
	"usage: orchestrator consumer seek --topic T --partition P\n"
	"           (--offset O | --skip-one) [--force] [--json]\n"
	"The emergency tool for a partition that something unforeseen still\n"
	"wedges.  Moves the committed offset of the orchestrator's consumer\n"
	"group (the group setting) on partition P of topic T to offset O,\n"
	"or, with --skip-one, past the one message at the committed offset.\n"
	"Every message skipped over (at most 1000 at a time) is stored first\n"
	"in dead_letters with the reason \"skipped by operator\", so\n"
	"`orchestrator dead-letters replay ID` can bring it back; seeking\n"
	"back skips nothing (the inbox makes messages read again harmless).\n"
	"Stop every `orchestrator run` of the group first: a live member owns\n"
	"the group's committed offsets and commits its own position over ours\n"
	"(or the broker refuses a commit from outside the group).  seek\n"
	"refuses while the group has active members; --force tries anyway.\n"
	"A stopped process with static membership (instance_id) stays a\n"
	"member until its session times out (session_timeout_ms).\n"
	"Settings: --dsn (or ORC_PG_DSN), --kafka-brokers (or\n"
	"ORC_KAFKA_BROKERS), --group (or ORC_GROUP), --kafka.<property>,\n"
	"--config FILE.\n";

enum {
	OPT_TOPIC = ORC_ARGS_FIRST,
	OPT_PARTITION,
	OPT_OFFSET,
	OPT_SKIP_ONE,
	OPT_FORCE,
};

struct seek {
	const char *group;
	const char *topic;
	int32_t partition;
	int64_t offset; /* with !skip_one */
	bool skip_one;
	bool force;
	int64_t from, to; /* the committed offset before and after */
	int64_t first_id, last_id; /* dead letters written, 0 when none */
	size_t skipped;
};

/* A whole number from min up in text into *out, 0; or 2 after the error. */
static int
number(const struct orc_args *a, const char *opt, const char *text,
       long long min, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || *out < min)
		return orc_args_fail(a, "invalid %s \"%s\": expected a number "
				     "from %lld", opt, text, min);
	return 0;
}

static int
seek_args(struct orc_args *a, struct seek *sk)
{
	bool have_partition = false, have_offset = false;
	long long v;
	const char *val;
	int c, rc = 0;

	while (rc == 0 && (c = orc_args_next(a, &val)) != ORC_ARGS_END) {
		switch (c) {
		case OPT_TOPIC:
			sk->topic = val;
			break;
		case OPT_PARTITION:
			rc = number(a, "partition", val, 0, &v);
			sk->partition = (int32_t)v;
			have_partition = rc == 0 && v <= INT32_MAX;
			if (rc == 0 && !have_partition)
				rc = orc_args_fail(a, "invalid partition "
						   "\"%s\"", val);
			break;
		case OPT_OFFSET:
			rc = number(a, "offset", val, 0, &v);
			sk->offset = v;
			have_offset = true;
			break;
		case OPT_SKIP_ONE:
			sk->skip_one = true;
			break;
		case OPT_FORCE:
			sk->force = true;
			break;
		case ORC_ARGS_OPERAND:
			rc = orc_args_fail(a, "unexpected \"%s\"", val);
			break;
		default:
			rc = 2;
		}
	}
	if (rc != 0)
		return rc;
	if (sk->topic == NULL || !have_partition)
		return orc_args_fail(a, "which partition? give --topic and "
				     "--partition");
	if (have_offset == sk->skip_one)
		return orc_args_fail(a, "give --offset O or --skip-one");
	return 0;
}

/* Refuse while the group has members, unless forced. */
static enum orc_status
check_idle(struct orc_consumer *c, const struct seek *sk,
	   struct orc_error *err)
{
	char state[64];
	int members;
	enum orc_status st;

	st = orc_consumer_group_members(c, sk->group, KAFKA_TIMEOUT_MS,
					&members, state, sizeof(state), err);
	if (st != ORC_OK || members == 0 || sk->force)
		return st;
	orc_error_set(err, ORC_CONFLICT,
		      "consumer group \"%s\" has %d active member%s (%s)",
		      sk->group, members, members == 1 ? "" : "s", state);
	orc_error_detail(err, "Its members commit their own positions over "
			      "the offset a seek would commit.");
	orc_error_hint(err, "Stop every `orchestrator run` of the group, wait "
			    "for their sessions to time out, then seek again; "
			    "--force tries anyway.");
	return ORC_CONFLICT;
}

/* Where the group is and where it goes: sk->from and sk->to. */
static enum orc_status
plan(struct orc_consumer *c, struct seek *sk, struct orc_error *err)
{
	int64_t lo, hi;
	enum orc_status st;

	st = orc_consumer_committed_offset(c, sk->topic, sk->partition,
					   KAFKA_TIMEOUT_MS, &sk->from, err);
	if (st == ORC_OK)
		st = orc_consumer_watermarks(c, sk->topic, sk->partition,
					     KAFKA_TIMEOUT_MS, &lo, &hi, err);
	if (st != ORC_OK)
		return st;
	/* without a commit the group starts at the oldest message */
	if (sk->from < 0 || sk->from < lo)
		sk->from = lo;
	sk->to = sk->skip_one ? sk->from + 1 : sk->offset;
	if (sk->to > hi)
		return orc_error_set(err, ORC_INVALID,
				     "%s [%d] ends at offset %lld: nothing to "
				     "skip at %lld", sk->topic,
				     (int)sk->partition, (long long)hi,
				     (long long)sk->from);
	if (sk->to - sk->from > MAX_SKIP)
		return orc_error_set(err, ORC_INVALID,
				     "seeking from %lld to %lld skips %lld "
				     "messages, more than %d at a time",
				     (long long)sk->from, (long long)sk->to,
				     (long long)(sk->to - sk->from), MAX_SKIP);
	return ORC_OK;
}

/* Store m (borrowed) as a dead letter of the group, in the open transaction. */
static enum orc_status
keep(struct orc_cmd *cmd, struct seek *sk, const struct orc_kafka_message *m,
     struct orc_error *err)
{
	size_t n = orc_kafka_message_header_count(m);
	struct orc_header *h = calloc(n + 1, sizeof(*h));
	struct orc_dead_letter_result res;
	struct orc_dead_letter dl = {
		.consumer = sk->group,
		.topic = sk->topic,
		.partition = m->partition,
		.offset = m->offset,
		.key = m->key,
		.key_len = m->key_len,
		.headers = h,
		.payload = m->value,
		.payload_len = m->value_len,
		.error = SKIP_REASON,
	};
	enum orc_status st;

	if (h == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	while (dl.n_headers < n &&
	       orc_kafka_message_header_at(m, dl.n_headers, &h[dl.n_headers]))
		dl.n_headers++;
	st = orc_store_dead_letter(cmd->store, &dl, &res, err);
	free(h);
	if (st != ORC_OK)
		return st;
	if (sk->first_id == 0)
		sk->first_id = res.id;
	sk->last_id = res.id;
	sk->skipped++;
	return ORC_OK;
}

/* Fetch and keep every message in [from, to), in one transaction. */
static enum orc_status
keep_skipped(struct orc_cmd *cmd, struct orc_consumer *c, struct seek *sk,
	     struct orc_error *err)
{
	enum orc_status st;

	if (sk->to <= sk->from)
		return ORC_OK;
	st = orc_store_begin(cmd->store, err);
	for (int64_t off = sk->from; st == ORC_OK && off < sk->to;) {
		struct orc_kafka_message *m;

		st = orc_consumer_fetch_at(c, sk->topic, sk->partition, off,
					   KAFKA_TIMEOUT_MS, &m, err);
		if (st == ORC_NOT_FOUND) { /* a marker at the end: none left */
			st = ORC_OK;
			break;
		}
		if (st != ORC_OK)
			break;
		if (m->offset < sk->to)
			st = keep(cmd, sk, m, err);
		off = m->offset + 1;
		orc_kafka_message_destroy(m);
	}
	if (st == ORC_OK)
		st = orc_store_commit(cmd->store, err);
	if (st != ORC_OK)
		orc_store_rollback(cmd->store);
	return st;
}

static void
print_seek(const struct orc_cmd *cmd, const struct seek *sk)
{
	json_t *o;

	if (cmd->json) {
		o = json_pack("{ss ss si sI sI sI sI sI}",
			      "group", sk->group,
			      "topic", sk->topic,
			      "partition", (int)sk->partition,
			      "from", (json_int_t)sk->from,
			      "to", (json_int_t)sk->to,
			      "skipped", (json_int_t)sk->skipped,
			      "first_dead_letter", (json_int_t)sk->first_id,
			      "last_dead_letter", (json_int_t)sk->last_id);
		orc_cmd_print_json(o);
		json_decref(o);
		return;
	}
	printf("consumer group %s, %s [%d]: committed offset %lld -> %lld\n",
	       sk->group, sk->topic, (int)sk->partition, (long long)sk->from,
	       (long long)sk->to);
	if (sk->skipped == 0)
		printf("  no message skipped\n");
	else if (sk->skipped == 1)
		printf("  1 message kept as dead letter %lld\n",
		       (long long)sk->first_id);
	else
		printf("  %zu messages kept as dead letters %lld to %lld\n",
		       sk->skipped, (long long)sk->first_id,
		       (long long)sk->last_id);
}

/* `seek ...`: argv[0] is "seek". */
static int
consumer_seek(struct orc_cmd *cmd, struct orc_args *a)
{
	struct seek sk = {.group = orc_config_str(&cmd->cfg, ORC_CFG_GROUP)};
	struct orc_error err = {0};
	struct orc_consumer *c = NULL;
	enum orc_status st;
	int rc;

	rc = seek_args(a, &sk);
	if (rc == 0)
		rc = orc_cmd_open(cmd, ORC_CMD_STORE);
	if (rc != 0)
		return rc;
	st = orc_consumer_create_outside(&cmd->cfg, sk.group, &c, &err);
	if (st == ORC_OK)
		st = check_idle(c, &sk, &err);
	if (st == ORC_OK)
		st = plan(c, &sk, &err);
	if (st == ORC_OK)
		st = keep_skipped(cmd, c, &sk, &err);
	if (st == ORC_OK) {
		st = orc_consumer_commit_offset(c, sk.topic, sk.partition,
						sk.to, &err);
		if (st != ORC_OK && sk.skipped > 0)
			orc_error_detail(&err, "The skipped messages are kept "
					       "as dead letters; the offset "
					       "stays at %lld: seek again.",
					 (long long)sk.from);
	}
	orc_consumer_destroy(c);
	if (st != ORC_OK)
		return orc_cmd_fail(cmd, &err);
	print_seek(cmd, &sk);
	return 0;
}

int
orc_cmd_consumer(int argc, char **argv)
{
	static const struct option seek_options[] = {
		{"topic", required_argument, NULL, OPT_TOPIC},
		{"partition", required_argument, NULL, OPT_PARTITION},
		{"offset", required_argument, NULL, OPT_OFFSET},
		{"skip-one", no_argument, NULL, OPT_SKIP_ONE},
		{"force", no_argument, NULL, OPT_FORCE},
		{0},
	};
	struct orc_cmd cmd;
	struct orc_args a;
	int rc;

	if (orc_args_help(argc, argv, consumer_usage))
		return 0;
	rc = orc_cmd_init(&cmd, "consumer", &argc, argv, 0);
	if (rc != 0)
		goto done;
	orc_args_init(&a, cmd.name, consumer_usage, NULL, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "seek") == 0) {
		orc_args_init(&a, cmd.name, consumer_usage, seek_options,
			      argc - 1, argv + 1);
		rc = consumer_seek(&cmd, &a);
	} else if (argc < 2) {
		rc = orc_args_fail(&a, "seek?");
	} else {
		rc = orc_args_fail(&a, "unknown subcommand \"%s\"", argv[1]);
	}
done:
	orc_cmd_finish(&cmd);
	return rc;
}
