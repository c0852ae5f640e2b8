/*
 * cmd_dead_letters.c - `orchestrator dead-letters list|replay`.
 *
 * list prints the events that could not be applied, as a table (table.h)
 * or, with --json, as store_admin returns them.
 *
 * replay is the one operator command that publishes: it re-publishes the
 * stored event to the topic it was read from, as it was received (key,
 * headers, value) plus an `orc_replayed_from: <id>` header, and marks the
 * dead letter replayed only once the broker acknowledged the message.  A
 * failure in between leaves it unmarked, so replaying again is the fix
 * (the orchestrator's inbox makes a double delivery harmless).
 *
 * Exit status: 0 done, 1 not found or failed, 2 usage (including a
 * malformed id or limit).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "broker.h"
#include "cmd_common.h"
#include "commands.h"
#include "store_admin.h"
#include "table.h"

#define REPLAY_TIMEOUT_MS 30000
#define REPLAYED_FROM_HEADER "orc_replayed_from"

static const char dead_letters_usage[] =
	"usage: orchestrator dead-letters list [--all] [--limit N] [--json]\n"
	"       orchestrator dead-letters replay ID [--json]\n"
	"list shows the events that could not be applied and why, newest\n"
	"first: those not replayed yet, or every one with --all.  replay\n"
	"publishes one again to the topic it came from, as received (key,\n"
	"headers, value) plus the header orc_replayed_from: ID, waits for the\n"
	"broker's acknowledgement, then records it as replayed.\n"
	"Settings: --dsn (or ORC_PG_DSN), --pg-schema, --kafka-brokers (or\n"
	"ORC_KAFKA_BROKERS), --kafka.<property>, --config FILE.\n";

/* ---- list ---- */

static void
print_list(const json_t *list, size_t total, bool all)
{
	static const struct orc_table_column cols[] = {
		{"ID", 0, true},       {"TOPIC", 8, false},
		{"PART", 0, true},     {"OFFSET", 0, true},
		{"CREATED", 0, false}, {"REPLAYED", 0, false},
	};
	struct orc_table tab;
	const json_t *d;
	size_t i;

	orc_table_init(&tab, cols, sizeof(cols) / sizeof(cols[0]), false);
	json_array_foreach(list, i, d) {
		char id[24], part[16], off[24], note[1024];
		char t1[ORC_TABLE_TIME_MAX], t2[ORC_TABLE_TIME_MAX];
		const char *cells[6];

		snprintf(id, sizeof(id), "%lld", orc_cmd_int(d, "id"));
		snprintf(part, sizeof(part), "%lld",
			 orc_cmd_int(d, "partition"));
		snprintf(off, sizeof(off), "%lld", orc_cmd_int(d, "offset"));
		cells[0] = id;
		cells[1] = orc_cmd_str(d, "topic");
		cells[2] = part;
		cells[3] = off;
		cells[4] = orc_table_time(orc_cmd_str(d, "created_at"), t1);
		cells[5] = orc_table_time(orc_cmd_str(d, "replayed_at"), t2);
		snprintf(note, sizeof(note), "%s: %s",
			 orc_cmd_str(d, "consumer"), orc_cmd_str(d, "error"));
		orc_table_add(&tab, cells, note);
	}
	orc_table_print(&tab, stdout);
	orc_table_finish(&tab);
	orc_table_print_count(stdout, json_array_size(list), total,
			      all ? "dead letter" : "dead letter not replayed",
			      all ? "dead letters"
				  : "dead letters not replayed");
}

enum { OPT_ALL = ORC_ARGS_FIRST, OPT_LIMIT };

/* `list [--all] [--limit N]`: argv[0] is "list". */
static int
dead_letters_list(struct orc_cmd *cmd, struct orc_args *a)
{
	struct orc_error err = {0};
	bool all = false;
	int limit = 0, rc = 0, c;
	json_t *list = NULL;
	const char *v;
	size_t total;

	while (rc == 0 && (c = orc_args_next(a, &v)) != ORC_ARGS_END) {
		if (c == OPT_ALL)
			all = true;
		else if (c == OPT_LIMIT)
			rc = orc_args_limit(a, v, &limit);
		else if (c == ORC_ARGS_OPERAND)
			rc = orc_args_fail(a, "unexpected \"%s\"", v);
		else
			rc = 2;
	}
	if (rc == 0)
		rc = orc_cmd_open(cmd, ORC_CMD_STORE);
	if (rc != 0)
		return rc;
	if (orc_store_admin_dead_letters(cmd->store, !all, limit, &list,
					 &total, &err) != ORC_OK)
		return orc_cmd_fail_input(cmd, &err);
	if (cmd->json)
		orc_cmd_print_json(list);
	else
		print_list(list, total, all);
	json_decref(list);
	return 0;
}

/* ---- replay ---- */

struct delivery {
	bool done;
	enum orc_status status;
	char error[256];
	int32_t partition;
	int64_t offset;
};

static void
on_delivery(void *opaque, enum orc_status status, const char *err,
	    int32_t partition, int64_t offset, void *ctx)
{
	struct delivery *d = ctx;

	d->done = true;
	d->status = status;
	d->partition = partition;
	d->offset = offset;
	snprintf(d->error, sizeof(d->error), "%s", err ? err : "");
}

/* Give up on a delivery within the replay timeout unless told otherwise. */
static enum orc_status
bound_delivery_time(struct orc_config *cfg, struct orc_error *err)
{
	char ms[16];

	for (int i = 0; i < cfg->n_kafka; i++)
		if (strcmp(cfg->kafka_names[i], "message.timeout.ms") == 0 ||
		    strcmp(cfg->kafka_names[i], "delivery.timeout.ms") == 0)
			return ORC_OK;
	snprintf(ms, sizeof(ms), "%d", REPLAY_TIMEOUT_MS);
	return orc_config_set(cfg, "kafka.message.timeout.ms", ms, err);
}

/* The dead letter id in text: > 0, or ORC_INVALID. */
static enum orc_status
dead_letter_id(const char *text, long long *out, struct orc_error *err)
{
	char *end;

	errno = 0;
	*out = strtoll(text, &end, 10);
	if (errno == 0 && end != text && *end == '\0' && *out >= 1)
		return ORC_OK;
	orc_error_set(err, ORC_INVALID, "invalid dead letter id \"%s\"", text);
	orc_error_detail(err, "A dead letter id is a positive integer, as "
			      "`orchestrator dead-letters list` shows.");
	return ORC_INVALID;
}

/*
 * Publish dl (borrowed) to its topic with its key, value and headers, the
 * orc_replayed_from header replaced by ours, and wait for the broker's
 * acknowledgement: ORC_OK with *d filled, or the failure.
 */
static enum orc_status
publish(struct orc_config *cfg, const struct orc_admin_dead_letter *dl,
	const char *idtext, struct delivery *d, size_t *n_sent,
	struct orc_error *err)
{
	struct orc_producer *p = NULL;
	struct orc_header *h = calloc(dl->n_headers + 1, sizeof(*h));
	enum orc_status st;
	size_t n = 0;

	if (h == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	for (size_t i = 0; i < dl->n_headers; i++)
		if (strcmp(dl->headers[i].name, REPLAYED_FROM_HEADER) != 0)
			h[n++] = dl->headers[i];
	h[n++] = (struct orc_header){REPLAYED_FROM_HEADER, idtext,
				     strlen(idtext)};
	*n_sent = n;
	st = bound_delivery_time(cfg, err);
	if (st == ORC_OK)
		st = orc_producer_create(cfg, on_delivery, d, &p, err);
	if (st == ORC_OK)
		st = orc_producer_send(p, dl->topic, dl->key, dl->key_len, h, n,
				       dl->payload, dl->payload_len, NULL, err);
	if (st == ORC_OK)
		st = orc_producer_flush(p, REPLAY_TIMEOUT_MS + 5000, err);
	if (st == ORC_OK && !d->done)
		st = orc_error_set(err, ORC_TRANSIENT, "no acknowledgement");
	else if (st == ORC_OK && d->status != ORC_OK)
		st = orc_error_set(err, d->status, "%s", d->error);
	orc_producer_destroy(p);
	free(h);
	return st;
}

static void
print_replay(const struct orc_cmd *cmd, const struct orc_admin_dead_letter *dl,
	     const struct delivery *d, size_t n_sent, const char *at)
{
	json_t *o;

	if (cmd->json) {
		o = json_pack("{sI ss si sI si sI ss}",
			      "id", (json_int_t)dl->id,
			      "topic", dl->topic,
			      "partition", (int)d->partition,
			      "offset", (json_int_t)d->offset,
			      "original_partition",
			      (int)orc_cmd_int(dl->info, "partition"),
			      "original_offset",
			      (json_int_t)orc_cmd_int(dl->info, "offset"),
			      "replayed_at", at);
		orc_cmd_print_json(o);
		json_decref(o);
		return;
	}
	printf("dead letter %lld replayed to %s: partition %d, offset %lld\n",
	       (long long)dl->id, dl->topic, (int)d->partition,
	       (long long)d->offset);
	printf("  originally partition %lld, offset %lld\n",
	       orc_cmd_int(dl->info, "partition"),
	       orc_cmd_int(dl->info, "offset"));
	if (dl->key != NULL)
		printf("  key %zu bytes, ", dl->key_len);
	else
		printf("  no key, ");
	if (dl->payload != NULL)
		printf("value %zu bytes, ", dl->payload_len);
	else
		printf("no value, ");
	printf("%zu headers + %s: %lld\n", n_sent - 1, REPLAYED_FROM_HEADER,
	       (long long)dl->id);
	printf("  marked replayed at %s\n", at);
}

/* The one operand of `replay ID`: 0 with *id, or the exit status. */
static int
replay_args(struct orc_args *a, const char **id)
{
	const char *v;
	int c;

	while ((c = orc_args_next(a, &v)) != ORC_ARGS_END) {
		if (c != ORC_ARGS_OPERAND)
			return 2;
		if (*id != NULL)
			return orc_args_fail(a, "replay takes one id");
		*id = v;
	}
	if (*id == NULL)
		return orc_args_fail(a, "which dead letter? give its id");
	return 0;
}

/* `replay ID`: argv[0] is "replay". */
static int
dead_letters_replay(struct orc_cmd *cmd, struct orc_args *a)
{
	struct orc_error err = {0};
	struct orc_admin_dead_letter dl = {0};
	struct delivery d = {false, ORC_OK, "", -1, -1};
	char idtext[24], at[32];
	const char *arg = NULL;
	size_t n_sent = 0;
	long long id;
	int rc;

	rc = replay_args(a, &arg);
	if (rc != 0)
		return rc;
	if (dead_letter_id(arg, &id, &err) != ORC_OK)
		return orc_cmd_fail_input(cmd, &err);
	snprintf(idtext, sizeof(idtext), "%lld", id);
	rc = orc_cmd_open(cmd, ORC_CMD_STORE);
	if (rc != 0)
		return rc;
	if (orc_store_admin_dead_letter(cmd->store, id, &dl, &err) != ORC_OK) {
		rc = orc_cmd_fail_input(cmd, &err);
		goto done;
	}
	rc = 1;
	if (publish(&cmd->cfg, &dl, idtext, &d, &n_sent, &err) != ORC_OK) {
		orc_error_prefix(&err, "cannot publish dead letter %lld to "
				 "topic \"%s\"", id, dl.topic);
		orc_error_detail(&err, "The dead letter is not marked "
				       "replayed.");
		orc_cmd_fail(cmd, &err);
		goto done;
	}
	if (orc_store_admin_mark_replayed(cmd->store, id, at, &err) !=
	    ORC_OK) {
		orc_error_prefix(&err, "dead letter %lld was published to "
				 "\"%s\" (partition %d, offset %lld) but not "
				 "marked replayed", id, dl.topic,
				 (int)d.partition, (long long)d.offset);
		orc_cmd_fail(cmd, &err);
		goto done;
	}
	print_replay(cmd, &dl, &d, n_sent, at);
	rc = 0;
done:
	orc_admin_dead_letter_finish(&dl);
	return rc;
}

int
orc_cmd_dead_letters(int argc, char **argv)
{
	static const struct option list_options[] = {
		{"all", no_argument, NULL, OPT_ALL},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{0},
	};
	struct orc_cmd cmd;
	struct orc_args a;
	int rc;

	if (orc_args_help(argc, argv, dead_letters_usage))
		return 0;
	rc = orc_cmd_init(&cmd, "dead-letters", &argc, argv, 0);
	if (rc != 0)
		goto done;
	/* the subcommand first; then its own arguments, after its name */
	orc_args_init(&a, cmd.name, dead_letters_usage, NULL, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "list") == 0) {
		orc_args_init(&a, cmd.name, dead_letters_usage, list_options,
			      argc - 1, argv + 1);
		rc = dead_letters_list(&cmd, &a);
	} else if (argc >= 2 && strcmp(argv[1], "replay") == 0) {
		orc_args_init(&a, cmd.name, dead_letters_usage, NULL, argc - 1,
			      argv + 1);
		rc = dead_letters_replay(&cmd, &a);
	} else if (argc < 2) {
		rc = orc_args_fail(&a, "list or replay?");
	} else {
		rc = orc_args_fail(&a, "unknown subcommand \"%s\"", argv[1]);
	}
done:
	orc_cmd_finish(&cmd);
	return rc;
}
