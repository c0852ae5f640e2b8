/*
 * cmd_dead_letters.c - `orchestrator dead-letters list|replay|purge`.
 *
 * list prints the events that could not be applied, as a table (table.h)
 * or, with --json, as store_admin returns them.
 *
 * replay is the one operator command that publishes: it re-publishes a
 * stored event to the topic it was read from, as it was received (key,
 * headers, value) plus an `orc_replayed_from: <id>` header, and records
 * the replay (dead_letter_replays, migration 014: by whom, where it went)
 * and marks the dead letter replayed only once the broker acknowledged
 * the message.  A failure in between leaves it unmarked, so replaying
 * again is the fix (the orchestrator's inbox makes a double delivery
 * harmless).  With --payload the Kafka value is replaced by a corrected
 * one (JSON, checked before anything is sent; the data of a binary-mode
 * CloudEvent, the whole envelope of a structured one), the message gets
 * `orc_replayed_payload: corrected`, and the corrected value is kept in
 * the replay's record: the dead letter itself stays as it was received.
 *
 * replay --where takes the dead letters an SQL predicate selects, in a
 * read-only transaction (store_admin.h), those not replayed yet unless
 * --all, and replays them in batches: every message of a batch is sent,
 * the acknowledgements awaited, and those acknowledged are recorded in one
 * statement.  Dead letters are read one at a time (they are rare, and
 * each is small); it is the broker's round trips and the marking that are
 * batched.  Interrupted, a run leaves at most its batch in hand published
 * and unmarked; run again, it goes on with the rest (and publishes those
 * again, which the inbox makes harmless).
 *
 * purge deletes dead letters older than a duration in housekeeping's
 * bounded batches (store_housekeeping.h), each in its own transaction.
 *
 * Exit status: 0 done, 1 not found or failed (a bulk replay with any
 * failure), 2 usage (including a malformed id, limit, predicate or
 * payload).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "broker.h"
#include "clock.h"
#include "cmd_common.h"
#include "commands.h"
#include "duration.h"
#include "store_admin.h"
#include "store_housekeeping.h"
#include "strbuf.h"
#include "table.h"

#define REPLAY_TIMEOUT_MS 30000
#define REPLAY_BATCH 100
#define REPLAY_BATCH_MAX 1000
#define REPLAYED_FROM_HEADER "orc_replayed_from"
#define REPLAYED_PAYLOAD_HEADER "orc_replayed_payload"
#define PAYLOAD_MAX (16 * 1024 * 1024)

static const char dead_letters_usage[] =
	"usage: orchestrator dead-letters list [--all] [--limit N] [--json]\n"
	"       orchestrator dead-letters replay ID [--payload @FILE|JSON]\n"
	"                 [--by NAME] [--json]\n"
	"       orchestrator dead-letters replay --where PREDICATE\n"
	"                 [--dry-run] [--all] [--limit N] [--batch N]\n"
	"                 [--by NAME] [--json]\n"
	"       orchestrator dead-letters purge --older-than DURATION\n"
	"                 [--dry-run] [--json]\n"
	"list shows the events that could not be applied and why, newest\n"
	"first: those not replayed yet, or every one with --all.\n"
	"replay ID publishes one again to the topic it came from, as\n"
	"received (key, headers, value) plus the header orc_replayed_from:\n"
	"ID, waits for the broker's acknowledgement, then records the\n"
	"replay (who, where) and marks the dead letter replayed.  --payload\n"
	"replaces the Kafka value by a corrected one, JSON, from FILE with\n"
	"@FILE or given inline: the data of a binary-mode CloudEvent, the\n"
	"whole envelope of a structured one.  The message then also has\n"
	"orc_replayed_payload: corrected, the corrected value is kept with\n"
	"the replay's record, and the dead letter stays as it was received.\n"
	"replay --where replays the dead letters that PREDICATE, an SQL\n"
	"condition over the columns of dead_letters (id, consumer, topic,\n"
	"partition, \"offset\", key, headers, payload, error, created_at,\n"
	"replayed_at), selects, oldest first, at most N with --limit.  It\n"
	"is run in a read-only transaction: one that is not valid SQL or\n"
	"that writes is refused.  Dead letters replayed before are skipped\n"
	"unless --all, so running it again after an interruption goes on\n"
	"with the rest.  --dry-run lists them and publishes nothing.  They\n"
	"are sent in batches (of 100, or N with --batch), each recorded\n"
	"once acknowledged; a summary says how many were replayed and\n"
	"which failed, and why.\n"
	"--by NAME says who replays (default: <OS user>@<host>).\n"
	"purge deletes the dead letters recorded more than DURATION ago\n"
	"(e.g. 30d), with their replays' records, in batches of\n"
	"housekeeping_batch, one transaction each; --dry-run counts them.\n"
	"Settings: --dsn (or ORC_PG_DSN), --pg-schema, --kafka-brokers (or\n"
	"ORC_KAFKA_BROKERS), --kafka.<property>, --housekeeping-batch,\n"
	"--config FILE.\n";

enum {
	OPT_ALL = ORC_ARGS_FIRST,
	OPT_LIMIT,
	OPT_WHERE,
	OPT_DRY_RUN,
	OPT_BY,
	OPT_PAYLOAD,
	OPT_OLDER_THAN,
	OPT_BATCH,
};

/* ---- list ---- */

static void
print_table(const json_t *list)
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
}

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
	if (cmd->json) {
		orc_cmd_print_json(list);
	} else {
		print_table(list);
		orc_table_print_count(stdout, json_array_size(list), total,
				      all ? "dead letter"
					  : "dead letter not replayed",
				      all ? "dead letters"
					  : "dead letters not replayed");
	}
	json_decref(list);
	return 0;
}

/* ---- replay: what to send ---- */

struct replay_args {
	const char *id;	     /* operand, or NULL */
	const char *where;   /* --where, or NULL */
	const char *payload; /* --payload as given, or NULL */
	const char *by;	     /* --by, or NULL */
	bool dry_run, all;
	int limit;
	int batch; /* 0: REPLAY_BATCH */
};

/* The corrected value of --payload, checked. */
struct payload {
	char *bytes; /* owned; NULL: none given */
	size_t len;
};

/*
 * Read the whole of file path, its bytes as they are (the payload is sent
 * as given, not as jansson would write it again), into *out (new,
 * NUL-terminated): 0, or -1 with errno set.
 */
static int
read_file(const char *path, char **out, size_t *len)
{
	struct orc_strbuf sb;
	char buf[8192];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		return -1;
	orc_strbuf_init(&sb);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && sb.len <= PAYLOAD_MAX)
		orc_strbuf_append(&sb, buf, n);
	if (ferror(f) || sb.len > PAYLOAD_MAX) {
		int e = ferror(f) ? EIO : EFBIG;

		fclose(f);
		orc_strbuf_finish(&sb);
		errno = e;
		return -1;
	}
	fclose(f);
	*len = sb.len;
	orc_strbuf_putc(&sb, '\0');
	*out = orc_strbuf_take(&sb);
	if (*out == NULL) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * --payload (borrowed): "@FILE" read from FILE, else the text itself; it
 * must be one JSON value.  ORC_INVALID naming the file (or --payload) when
 * it cannot be read or is not JSON.
 */
static enum orc_status
load_payload(const char *arg, struct payload *p, struct orc_error *err)
{
	const char *name = arg[0] == '@' ? arg + 1 : NULL;
	json_error_t jerr;
	json_t *v;

	if (name != NULL && read_file(name, &p->bytes, &p->len) != 0)
		return orc_error_set(err, ORC_INVALID,
				     "cannot read payload file \"%s\": %s",
				     name, strerror(errno));
	if (name == NULL) {
		p->bytes = strdup(arg);
		p->len = strlen(arg);
		if (p->bytes == NULL)
			return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	v = json_loadb(p->bytes, p->len, JSON_DECODE_ANY, &jerr);
	if (v == NULL) {
		if (name != NULL)
			orc_error_set(err, ORC_INVALID,
				      "payload file \"%s\" is not valid JSON: "
				      "%s (line %d, column %d)",
				      name, jerr.text, jerr.line, jerr.column);
		else
			orc_error_set(err, ORC_INVALID,
				      "--payload is not valid JSON: %s "
				      "(line %d, column %d)",
				      jerr.text, jerr.line, jerr.column);
		orc_error_detail(err, "The payload replaces the Kafka value as "
				      "given: the data of a binary-mode "
				      "CloudEvent, the whole envelope of a "
				      "structured one.");
		return ORC_INVALID;
	}
	json_decref(v);
	return ORC_OK;
}

/* ---- replay: publishing ---- */

/* One message in flight, the opaque of its delivery report. */
struct delivery {
	int64_t id;
	bool sent, done;
	enum orc_status status;
	char error[256];
	int32_t partition;
	int64_t offset;
};

static void
on_delivery(void *opaque, enum orc_status status, const char *err,
	    int32_t partition, int64_t offset, void *ctx)
{
	struct delivery *d = opaque;

	(void)ctx;
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

static enum orc_status
open_producer(struct orc_cmd *cmd, struct orc_producer **p,
	      struct orc_error *err)
{
	enum orc_status st = bound_delivery_time(&cmd->cfg, err);

	if (st == ORC_OK)
		st = orc_producer_create(&cmd->cfg, on_delivery, NULL, p, err);
	return st;
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

static bool
ours(const char *name)
{
	return strcmp(name, REPLAYED_FROM_HEADER) == 0 ||
	       strcmp(name, REPLAYED_PAYLOAD_HEADER) == 0;
}

/*
 * Queue dl (borrowed) to its topic with its key and headers, ours replaced
 * by those that tell this replay, and its value, or fixed's when fixed is
 * not NULL; d is the delivery's opaque.  *n_sent (may be NULL) is the
 * number of headers sent.
 */
static enum orc_status
send_one(struct orc_producer *p, const struct orc_admin_dead_letter *dl,
	 const struct payload *fixed, struct delivery *d, size_t *n_sent,
	 struct orc_error *err)
{
	struct orc_header *h = calloc(dl->n_headers + 2, sizeof(*h));
	char idtext[24];
	enum orc_status st;
	size_t n = 0;

	if (h == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	snprintf(idtext, sizeof(idtext), "%lld", (long long)dl->id);
	for (size_t i = 0; i < dl->n_headers; i++)
		if (!ours(dl->headers[i].name))
			h[n++] = dl->headers[i];
	h[n++] = (struct orc_header){REPLAYED_FROM_HEADER, idtext,
				     strlen(idtext)};
	if (fixed != NULL)
		h[n++] = (struct orc_header){REPLAYED_PAYLOAD_HEADER,
					     "corrected", strlen("corrected")};
	if (n_sent != NULL)
		*n_sent = n;
	st = orc_producer_send(p, dl->topic, dl->key, dl->key_len, h, n,
			       fixed ? fixed->bytes : (char *)dl->payload,
			       fixed ? fixed->len : dl->payload_len, d, err);
	d->sent = st == ORC_OK;
	free(h);
	return st;
}

/* ---- replay ID ---- */

static void
print_replay(const struct orc_cmd *cmd, const struct orc_admin_dead_letter *dl,
	     const struct payload *fixed, const struct delivery *d,
	     size_t n_sent, const char *by, const char *at)
{
	size_t ours_sent = fixed ? 2 : 1;
	json_t *o;

	if (cmd->json) {
		o = json_pack("{sI ss si sI si sI ss ss sb}",
			      "id", (json_int_t)dl->id,
			      "topic", dl->topic,
			      "partition", (int)d->partition,
			      "offset", (json_int_t)d->offset,
			      "original_partition",
			      (int)orc_cmd_int(dl->info, "partition"),
			      "original_offset",
			      (json_int_t)orc_cmd_int(dl->info, "offset"),
			      "replayed_at", at, "by", by,
			      "corrected", fixed != NULL);
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
	if (fixed != NULL)
		printf("corrected value %zu bytes (was %zu), ", fixed->len,
		       dl->payload_len);
	else if (dl->payload != NULL)
		printf("value %zu bytes, ", dl->payload_len);
	else
		printf("no value, ");
	printf("%zu headers + %s: %lld%s\n", n_sent - ours_sent,
	       REPLAYED_FROM_HEADER, (long long)dl->id,
	       fixed ? " + " REPLAYED_PAYLOAD_HEADER ": corrected" : "");
	printf("  marked replayed at %s by %s\n", at, by);
}

/*
 * Publish dl (borrowed) as send_one() does, with its own producer, and
 * wait for the broker's acknowledgement: ORC_OK with *d filled, or the
 * failure.
 */
static enum orc_status
publish_one(struct orc_cmd *cmd, const struct orc_admin_dead_letter *dl,
	    const struct payload *fixed, struct delivery *d, size_t *n_sent,
	    struct orc_error *err)
{
	struct orc_producer *p = NULL;
	enum orc_status st = open_producer(cmd, &p, err);

	if (st == ORC_OK)
		st = send_one(p, dl, fixed, d, n_sent, err);
	if (st == ORC_OK)
		st = orc_producer_flush(p, REPLAY_TIMEOUT_MS + 5000, err);
	if (st == ORC_OK && !d->done)
		st = orc_error_set(err, ORC_TRANSIENT, "no acknowledgement");
	else if (st == ORC_OK && d->status != ORC_OK)
		st = orc_error_set(err, d->status, "%s", d->error);
	orc_producer_destroy(p);
	return st;
}

/* `replay ID [--payload P]`. */
static int
replay_one(struct orc_cmd *cmd, const struct replay_args *r)
{
	struct orc_error err = {0};
	struct orc_admin_dead_letter dl = {0};
	struct delivery d = {0, false, false, ORC_OK, "", -1, -1};
	struct payload fixed = {NULL, 0};
	const struct payload *value;
	struct orc_admin_replay rec;
	char at[32], who[512];
	const char *by = orc_cmd_who(r->by, who, sizeof(who));
	size_t n_sent = 0, marked = 0;
	enum orc_status st;
	long long id;
	int rc = 1;

	st = dead_letter_id(r->id, &id, &err);
	if (st == ORC_OK && r->payload != NULL)
		st = load_payload(r->payload, &fixed, &err);
	if (st != ORC_OK) {
		rc = orc_cmd_fail_input(cmd, &err);
		goto done;
	}
	value = fixed.bytes != NULL ? &fixed : NULL;
	rc = orc_cmd_open(cmd, ORC_CMD_STORE);
	if (rc != 0)
		goto done;
	if (orc_store_admin_dead_letter(cmd->store, id, &dl, &err) != ORC_OK) {
		rc = orc_cmd_fail_input(cmd, &err);
		goto done;
	}
	rc = 1;
	d.id = id;
	if (publish_one(cmd, &dl, value, &d, &n_sent, &err) != ORC_OK) {
		orc_error_prefix(&err, "cannot publish dead letter %lld to "
				 "topic \"%s\"", id, dl.topic);
		orc_error_detail(&err, "The dead letter is not marked "
				       "replayed.");
		orc_cmd_fail(cmd, &err);
		goto done;
	}
	rec = (struct orc_admin_replay){id, d.partition, d.offset, fixed.bytes,
					false};
	st = orc_store_admin_record_replays(cmd->store, &rec, 1, by, &marked,
					    at, &err);
	if (st == ORC_OK && marked == 0)
		st = orc_error_set(&err, ORC_NOT_FOUND,
				   "it was deleted meanwhile");
	if (st != ORC_OK) {
		orc_error_prefix(&err, "dead letter %lld was published to "
				 "\"%s\" (partition %d, offset %lld) but not "
				 "marked replayed", id, dl.topic,
				 (int)d.partition, (long long)d.offset);
		orc_cmd_fail(cmd, &err);
		goto done;
	}
	print_replay(cmd, &dl, value, &d, n_sent, by, at);
	rc = 0;
done:
	orc_admin_dead_letter_finish(&dl);
	free(fixed.bytes);
	return rc;
}

/* ---- replay --where ---- */

/* What a bulk replay did so far, and its scratch for one batch. */
struct bulk {
	size_t selected, replayed, batches;
	json_t *failed; /* [{id, error}] */
	bool tty;
	int64_t *ids;			   /* the batch's, in order */
	struct orc_admin_dead_letter *dls; /* the batch's, read */
	struct delivery *d;		   /* one per message */
	struct orc_admin_replay *rec;	   /* those acknowledged */
};

static void
bulk_free(struct bulk *b)
{
	json_decref(b->failed);
	free(b->ids);
	free(b->dls);
	free(b->d);
	free(b->rec);
}

static void
bulk_progress(const struct bulk *b)
{
	if (!b->tty)
		return;
	fprintf(stderr, "\rreplay: %zu of %zu dead letters replayed, %zu "
		"failed (%zu batches)", b->replayed, b->selected,
		json_array_size(b->failed), b->batches);
	fflush(stderr);
}

static void
bulk_fail(struct bulk *b, int64_t id, const char *reason)
{
	json_array_append_new(b->failed,
			      json_pack("{sI ss}", "id", (json_int_t)id,
					"error", reason));
}

/*
 * Replay list[first .. first+n) (borrowed objects with "id"): read them
 * (one round trip), send each, wait for every acknowledgement, record
 * those acknowledged in one statement.  A dead letter that is gone, cannot
 * be sent, or is not acknowledged is a failure in b; a failure of the
 * store is returned (reading: nothing was sent; recording: what was
 * published is unmarked).
 */
static enum orc_status
replay_batch(struct orc_cmd *cmd, struct orc_producer *p, const json_t *list,
	     size_t first, size_t n, const char *by, struct bulk *b,
	     struct orc_error *err)
{
	struct delivery *d = b->d;
	struct orc_admin_replay *rec = b->rec;
	size_t n_rec = 0, marked = 0;
	enum orc_status st;

	for (size_t i = 0; i < n; i++) {
		d[i] = (struct delivery){0, false, false, ORC_OK, "", -1, -1};
		d[i].id = orc_cmd_int(json_array_get(list, first + i), "id");
		b->ids[i] = d[i].id;
	}
	st = orc_store_admin_dead_letters_read(cmd->store, b->ids, n, b->dls,
					       err);
	if (st != ORC_OK) {
		orc_error_prefix(err, "cannot read dead letters %lld to %lld",
				 (long long)b->ids[0],
				 (long long)b->ids[n - 1]);
		return st;
	}
	for (size_t i = 0; i < n; i++) {
		struct orc_error e = {0};

		if (b->dls[i].info == NULL)
			bulk_fail(b, d[i].id, "deleted meanwhile");
		else if (send_one(p, &b->dls[i], NULL, &d[i], NULL, &e) !=
			 ORC_OK)
			bulk_fail(b, d[i].id, e.message);
		orc_admin_dead_letter_finish(&b->dls[i]);
	}
	/* a flush that times out leaves the late ones unacknowledged */
	orc_producer_flush(p, REPLAY_TIMEOUT_MS + 5000, NULL);
	for (size_t i = 0; i < n; i++) {
		if (!d[i].sent)
			continue;
		if (!d[i].done)
			bulk_fail(b, d[i].id, "no acknowledgement from the "
					      "broker");
		else if (d[i].status != ORC_OK)
			bulk_fail(b, d[i].id, d[i].error);
		else
			rec[n_rec++] = (struct orc_admin_replay){
				d[i].id, d[i].partition, d[i].offset, NULL,
				false};
	}
	st = orc_store_admin_record_replays(cmd->store, rec, n_rec, by, &marked,
					    NULL, err);
	if (st != ORC_OK) {
		orc_error_prefix(err, "dead letters %lld to %lld were "
				 "published but not marked replayed",
				 (long long)b->ids[0],
				 (long long)b->ids[n - 1]);
		return st;
	}
	b->replayed += marked;
	for (size_t i = 0; i < n_rec; i++)
		if (!rec[i].marked)
			bulk_fail(b, rec[i].dead_letter_id,
				  "published, but deleted before it could be "
				  "marked replayed");
	b->batches++;
	return ORC_OK;
}

static void
print_bulk(const struct orc_cmd *cmd, const struct bulk *b)
{
	const json_t *f;
	size_t i, n_failed = json_array_size(b->failed);
	json_t *o;

	if (cmd->json) {
		o = json_pack("{sI sI sI sO}", "selected",
			      (json_int_t)b->selected, "replayed",
			      (json_int_t)b->replayed, "batches",
			      (json_int_t)b->batches, "failed", b->failed);
		orc_cmd_print_json(o);
		json_decref(o);
		return;
	}
	printf("%zu of %zu dead letter%s replayed in %zu batch%s, %zu failed\n",
	       b->replayed, b->selected, b->selected == 1 ? "" : "s",
	       b->batches, b->batches == 1 ? "" : "es", n_failed);
	json_array_foreach(b->failed, i, f)
		printf("  %lld: %s\n", orc_cmd_int(f, "id"),
		       orc_cmd_str(f, "error"));
}

static void
print_dry_run(const struct orc_cmd *cmd, const json_t *list)
{
	size_t n = json_array_size(list);
	json_t *o;

	if (cmd->json) {
		o = json_pack("{sb sI sO}", "dry_run", 1, "selected",
			      (json_int_t)n, "dead_letters", list);
		orc_cmd_print_json(o);
		json_decref(o);
		return;
	}
	print_table(list);
	printf("(%zu dead letter%s would be replayed; dry run: nothing "
	       "published)\n", n, n == 1 ? "" : "s");
}

/* `replay --where P [--dry-run] [--all] [--limit N]`. */
static int
replay_where(struct orc_cmd *cmd, const struct replay_args *r)
{
	struct orc_error err = {0};
	struct orc_producer *p = NULL;
	size_t batch = r->batch > 0 ? (size_t)r->batch : REPLAY_BATCH;
	struct bulk b = {
		.failed = json_array(),
		.ids = calloc(batch, sizeof(*b.ids)),
		.dls = calloc(batch, sizeof(*b.dls)),
		.d = calloc(batch, sizeof(*b.d)),
		.rec = calloc(batch, sizeof(*b.rec)),
	};
	char who[512];
	const char *by = orc_cmd_who(r->by, who, sizeof(who));
	json_t *list = NULL;
	int rc;

	if (b.failed == NULL || b.ids == NULL || b.dls == NULL || b.d == NULL ||
	    b.rec == NULL) {
		bulk_free(&b);
		orc_error_set(&err, ORC_FATAL, "out of memory");
		return orc_cmd_fail(cmd, &err);
	}
	rc = orc_cmd_open(cmd, ORC_CMD_STORE);
	if (rc != 0)
		goto done;
	if (orc_store_admin_dead_letters_where(cmd->store, r->where, r->all,
					       r->limit, &list,
					       &err) != ORC_OK) {
		rc = orc_cmd_fail_input(cmd, &err);
		goto done;
	}
	b.selected = json_array_size(list);
	if (r->dry_run) {
		print_dry_run(cmd, list);
		goto done;
	}
	rc = 1;
	if (b.selected > 0 && open_producer(cmd, &p, &err) != ORC_OK) {
		orc_cmd_fail(cmd, &err);
		goto done;
	}
	b.tty = isatty(STDERR_FILENO) && !cmd->json;
	bulk_progress(&b);
	for (size_t i = 0; i < b.selected; i += batch) {
		size_t n = b.selected - i < batch ? b.selected - i : batch;

		if (replay_batch(cmd, p, list, i, n, by, &b, &err) != ORC_OK) {
			if (b.tty)
				fputc('\n', stderr);
			orc_error_detail(&err, "%zu were replayed before; "
					 "running the same replay again goes "
					 "on.", b.replayed);
			orc_cmd_fail(cmd, &err);
			goto done;
		}
		bulk_progress(&b);
	}
	if (b.tty)
		fputc('\n', stderr);
	print_bulk(cmd, &b);
	rc = json_array_size(b.failed) == 0 ? 0 : 1;
done:
	orc_producer_destroy(p);
	json_decref(list);
	bulk_free(&b);
	return rc;
}

static int
parse_replay(struct orc_args *a, struct replay_args *r)
{
	const char *v;
	int c, rc = 0;

	while (rc == 0 && (c = orc_args_next(a, &v)) != ORC_ARGS_END) {
		switch (c) {
		case OPT_WHERE:
			r->where = v;
			break;
		case OPT_DRY_RUN:
			r->dry_run = true;
			break;
		case OPT_ALL:
			r->all = true;
			break;
		case OPT_LIMIT:
			rc = orc_args_limit(a, v, &r->limit);
			break;
		case OPT_BATCH:
			rc = orc_args_limit(a, v, &r->batch);
			if (rc == 0 && r->batch > REPLAY_BATCH_MAX)
				rc = orc_args_fail(a, "--batch is at most %d",
						   REPLAY_BATCH_MAX);
			break;
		case OPT_BY:
			r->by = v;
			break;
		case OPT_PAYLOAD:
			r->payload = v;
			break;
		case ORC_ARGS_OPERAND:
			if (r->id != NULL)
				return orc_args_fail(a, "replay takes one id");
			r->id = v;
			break;
		default:
			return 2;
		}
	}
	if (rc != 0)
		return rc;
	if (r->id == NULL && r->where == NULL)
		return orc_args_fail(a, "which dead letter? give its id, or "
				     "--where PREDICATE");
	if (r->id != NULL && r->where != NULL)
		return orc_args_fail(a, "give an id or --where, not both");
	if (r->where != NULL && r->payload != NULL)
		return orc_args_fail(a, "--payload corrects one dead letter: "
				     "give its id");
	if (r->id != NULL &&
	    (r->dry_run || r->all || r->limit > 0 || r->batch > 0))
		return orc_args_fail(a, "--dry-run, --all, --limit and --batch "
				     "go with --where");
	if (r->by != NULL && r->by[0] == '\0')
		return orc_args_fail(a, "--by needs a name");
	return 0;
}

/* `replay ...`: argv[0] is "replay". */
static int
dead_letters_replay(struct orc_cmd *cmd, struct orc_args *a)
{
	struct replay_args r = {0};
	int rc = parse_replay(a, &r);

	if (rc != 0)
		return rc;
	return r.where != NULL ? replay_where(cmd, &r) : replay_one(cmd, &r);
}

/* ---- purge ---- */

static void
purge_progress(bool tty, int64_t done, int64_t due, size_t batches)
{
	if (!tty)
		return;
	fprintf(stderr, "\rpurge: %lld of %lld dead letters deleted "
		"(%zu batches)", (long long)done,
		(long long)(due > done ? due : done), batches);
	fflush(stderr);
}

static void
purge_report(const struct orc_cmd *cmd, int64_t older_than_ms, bool dry_run,
	     int64_t n, size_t batches)
{
	char age[32];
	json_t *o;

	orc_duration_format(older_than_ms, age, sizeof(age));
	if (cmd->json) {
		o = json_pack("{sb sI si ss}", "dry_run", dry_run,
			      dry_run ? "due" : "deleted", (json_int_t)n,
			      "batches", (int)batches, "older_than", age);
		orc_cmd_print_json(o);
		json_decref(o);
	} else if (dry_run) {
		printf("%lld dead letter%s recorded more than %s ago would be "
		       "deleted (dry run: nothing deleted)\n",
		       (long long)n, n == 1 ? "" : "s", age);
	} else {
		printf("%lld dead letter%s deleted in %zu batch%s\n",
		       (long long)n, n == 1 ? "" : "s", batches,
		       batches == 1 ? "" : "es");
	}
}

/* `purge --older-than D [--dry-run]`: argv[0] is "purge". */
static int
dead_letters_purge(struct orc_cmd *cmd, struct orc_args *a)
{
	struct orc_error err = {0};
	int64_t older = 0, due = 0, done = 0, started;
	bool dry_run = false, tty;
	size_t batches = 0, n;
	const char *v;
	int c, limit, rc;

	while ((c = orc_args_next(a, &v)) != ORC_ARGS_END) {
		switch (c) {
		case OPT_OLDER_THAN:
			if (!orc_duration_parse(v, &older))
				return orc_args_fail(a, "invalid duration "
						     "\"%s\": expected e.g. "
						     "30s, 10m, 1h30m, 90d", v);
			break;
		case OPT_DRY_RUN:
			dry_run = true;
			break;
		case ORC_ARGS_OPERAND:
			return orc_args_fail(a, "unexpected \"%s\"", v);
		default:
			return 2;
		}
	}
	if (older <= 0)
		return orc_args_fail(a, "--older-than is required: how long "
				     "ago must a dead letter have been "
				     "recorded?");
	rc = orc_cmd_open(cmd, ORC_CMD_STORE);
	if (rc != 0)
		return rc;
	if (orc_store_admin_dead_letters_older(cmd->store, older, &due, &err) !=
	    ORC_OK)
		return orc_cmd_fail(cmd, &err);
	if (dry_run) {
		purge_report(cmd, older, true, due, 0);
		return 0;
	}
	limit = (int)orc_config_int(&cmd->cfg, ORC_CFG_HOUSEKEEPING_BATCH);
	tty = isatty(STDERR_FILENO) && !cmd->json;
	started = orc_clock_mono_ms();
	purge_progress(tty, 0, due, 0);
	do {
		/* the cut-off stays where it was at the start */
		int64_t keep = older + (orc_clock_mono_ms() - started);

		if (orc_store_housekeeping_dead_letters(cmd->store, keep, limit,
							&n, &err) != ORC_OK) {
			if (tty)
				fputc('\n', stderr);
			orc_error_detail(&err, "%lld dead letters were deleted "
					 "before this; running purge again "
					 "goes on.", (long long)done);
			return orc_cmd_fail(cmd, &err);
		}
		done += (int64_t)n;
		batches += n > 0;
		purge_progress(tty, done, due, batches);
	} while (n > 0);
	if (tty)
		fputc('\n', stderr);
	purge_report(cmd, older, false, done, batches);
	return 0;
}

int
orc_cmd_dead_letters(int argc, char **argv)
{
	static const struct option list_options[] = {
		{"all", no_argument, NULL, OPT_ALL},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{0},
	};
	static const struct option replay_options[] = {
		{"where", required_argument, NULL, OPT_WHERE},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{"all", no_argument, NULL, OPT_ALL},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{"batch", required_argument, NULL, OPT_BATCH},
		{"by", required_argument, NULL, OPT_BY},
		{"payload", required_argument, NULL, OPT_PAYLOAD},
		{0},
	};
	static const struct option purge_options[] = {
		{"older-than", required_argument, NULL, OPT_OLDER_THAN},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
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
		orc_args_init(&a, cmd.name, dead_letters_usage, replay_options,
			      argc - 1, argv + 1);
		rc = dead_letters_replay(&cmd, &a);
	} else if (argc >= 2 && strcmp(argv[1], "purge") == 0) {
		orc_args_init(&a, cmd.name, dead_letters_usage, purge_options,
			      argc - 1, argv + 1);
		rc = dead_letters_purge(&cmd, &a);
	} else if (argc < 2) {
		rc = orc_args_fail(&a, "list, replay or purge?");
	} else {
		rc = orc_args_fail(&a, "unknown subcommand \"%s\"", argv[1]);
	}
done:
	orc_cmd_finish(&cmd);
	return rc;
}
