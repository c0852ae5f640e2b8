/*
 * relay.c - the outbox relay: lanes, batches, delivery reports, deletes,
 * quarantine.
 *
 * A batch is: (re)connect, claim lanes, read rows, produce every row,
 * collect the reports, delete and quarantine.  No turn waits long: after
 * producing, a turn waits at most turn_wait_ms for the reports (enough
 * for a healthy broker); a batch whose reports are late stays in flight
 * and a later turn finishes it, so with the broker away the caller's loop
 * keeps turning (applies, timers, health answers).  The rows of a batch
 * are produced in id order with the idempotent producer, and a saga's
 * rows share a key and so a partition: the broker keeps them in order.
 * What may be deleted after failures is decided per saga: the rows before
 * its first row that was not acknowledged.  Deleting a later acknowledged
 * row would let it be published once while an earlier one is published
 * again after it.
 *
 * A row the broker refuses for good (broker.c decides which errors are:
 * too large, an invalid or forbidden topic, ...) is quarantined with the
 * saga's later rows (store_outbox.h), instead of heading its lane
 * forever.  When the refusal comes as the row is produced (a message too
 * large is refused locally), the saga's later rows of the batch are not
 * produced at all, so the saga never receives command N+1 without N.  A
 * refusal that only the delivery report tells may come after later rows
 * of the saga in the same batch were acknowledged: those stay published.
 *
 * Delivery reports are matched to rows through the message opaque (row
 * index + 1) and only while a batch is in flight.  A batch whose reports
 * did not all come within delivery_wait_ms is given up (its unconfirmed
 * rows stay in the outbox), and no new batch starts until the Kafka client
 * has reported the old messages, so a late report can never be taken for a
 * row of the next batch.
 *
 * Each lane is read from its floor (store_outbox.h, "Lane floors"): a
 * horizon statement every HORIZON_INTERVAL_MS before a fetch moves one
 * proof along (L, then X a margin later, then a snapshot whose xmin
 * reached X), and the fetch after a completed proof raises the floors.
 * Floors live with the lane locks: both start over on a claim or a new
 * connection.  Every full_scan_interval_ms a fetch ignores the floors; a
 * row it finds below one is published like any other, and reported.
 *
 * The relay is made for one thread at a time: `orchestrator run` turns it
 * on a thread of its own (relay_thread.h), so that the loop does not wait
 * for delivery reports; with relay_thread = false, on the loop's thread,
 * its waits bounded per turn.  Measured with the quick benchmark (scenario
 * a and c, throughput, one after the other on the same machine): 3,126
 * and 3,371 steps/s on its own thread, 2,730 and 2,291 on the loop's.
 *
 * The relay reads the clock (it is a process, not core logic): the
 * monotonic clock for intervals, the real-time clock for the lag.
 */
#include "relay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "broker.h"
#include "clock.h"
#include "envelope.h"
#include "log.h"

#define DEFAULT_LANES_PER_CLAIM 4
#define DEFAULT_CLAIM_INTERVAL_MS 250
#define DEFAULT_DELIVERY_WAIT_MS 30000
#define DEFAULT_TURN_WAIT_MS 50
#define DEFAULT_FULL_SCAN_INTERVAL_MS 30000
#define HORIZON_INTERVAL_MS 250
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

enum row_state {
	ROW_UNSENT,
	ROW_SENT,
	ROW_ACKED,
	ROW_FAILED,  /* transiently: published again later */
	ROW_REFUSED, /* for good: quarantined */
};

/*
 * The proof that lets the lane floors rise (store_outbox.h, "Lane
 * floors"): L read, then X taken a margin later, then proven by a
 * snapshot whose xmin reached X.
 */
struct floor_proof {
	enum { PROOF_NONE, PROOF_HAVE_L, PROOF_HAVE_X } stage;
	int64_t last_id; /* L */
	int64_t l_ms;	 /* CLOCK_MONOTONIC, after L was read */
	int64_t xmax;	 /* X */
};

/* A row's place in its saga, to find each saga's first failure. */
struct saga_pos {
	const char *saga;
	int64_t id;
	size_t idx;
};

struct orc_relay {
	char *dsn;
	char *schema;
	char *reply_topic; /* for rows that leave replyto to us */
	size_t batch_limit;
	int64_t poll_ms;
	struct orc_relay_options opts;

	struct orc_store *store; /* NULL while disconnected */
	struct orc_producer *producer;
	uint16_t lanes;
	int64_t next_claim_ms;
	int64_t last_turn_ms;
	int64_t retry_at_ms;
	struct orc_backoff backoff;
	int64_t backoff_ms; /* the last delay, for the log */
	bool notified; /* a notification arrived since the last turn began */
	bool more;     /* the last turn read a full batch */

	/* lane floors: fetch lane l from id > floor[l] */
	int64_t floor[ORC_OUTBOX_LANES];
	uint16_t floor_told; /* lanes whose first rise since a claim was told */
	struct floor_proof proof;
	bool proven;	     /* rows up to proven_id are all visible now */
	int64_t proven_id;
	int64_t next_horizon_ms;
	int64_t next_full_scan_ms;

	/* the batch of the current turn */
	struct orc_outbox_batch batch;
	unsigned char *state; /* enum row_state per row, batch_limit of them */
	int64_t *ids;
	struct saga_pos *order;
	char **why;     /* per row: the refusal of a ROW_REFUSED row, or NULL */
	struct orc_outbox_refusal *refusals; /* the batch's, one per saga */
	bool in_flight; /* reports are matched to rows only while set */
	int64_t deadline_ms; /* the batch is given up then */
	size_t pending; /* sent and not reported */
	enum orc_status first_status; /* of the first failed row */
	bool refused; /* log the failed turn as an error: producer unusable */
	char first_error[ORC_ERROR_DETAIL_MAX - 64]; /* "<topic>: <why>" */

	struct orc_relay_stats stats;
};

static void
note_failure(struct orc_relay *r, size_t idx, enum orc_status status,
	     const char *why)
{
	if (r->first_status != ORC_OK)
		return;
	r->first_status = status == ORC_OK ? ORC_TRANSIENT : status;
	snprintf(r->first_error, sizeof(r->first_error), "%.160s: %.240s",
		 r->batch.rows[idx].topic, why ? why : "unknown error");
}

/* Row idx is refused for good; why is kept (copied) for the quarantine. */
static void
refuse(struct orc_relay *r, size_t idx, const char *why)
{
	r->state[idx] = ROW_REFUSED;
	free(r->why[idx]);
	r->why[idx] = strdup(why != NULL ? why : "refused by the broker");
	if (r->why[idx] == NULL) /* cannot quarantine it: publish it again */
		r->state[idx] = ROW_FAILED;
}

static void
on_delivery(void *opaque, enum orc_status status, const char *why,
	    int32_t partition, int64_t offset, void *ctx)
{
	struct orc_relay *r = ctx;
	size_t idx = (size_t)(uintptr_t)opaque;

	(void)partition;
	(void)offset;
	if (!r->in_flight || idx == 0 || idx > r->batch.n ||
	    r->state[idx - 1] != ROW_SENT)
		return; /* a report of an abandoned batch: its rows stay */
	idx--;
	r->pending--;
	if (status == ORC_OK) {
		r->state[idx] = ROW_ACKED;
	} else if (status == ORC_INVALID) {
		refuse(r, idx, why);
	} else {
		r->state[idx] = ROW_FAILED;
		note_failure(r, idx, status, why);
	}
}

enum orc_status
orc_relay_create(const struct orc_config *cfg,
		 const struct orc_relay_options *opts, struct orc_relay **out,
		 struct orc_error *err)
{
	struct orc_relay *r;
	enum orc_status st;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	orc_outbox_batch_init(&r->batch);
	orc_backoff_init(&r->backoff, BACKOFF_MIN_MS, 2, BACKOFF_MAX_MS);
	if (opts != NULL)
		r->opts = *opts;
	if (r->opts.lanes_per_claim <= 0)
		r->opts.lanes_per_claim = DEFAULT_LANES_PER_CLAIM;
	if (r->opts.lanes_per_claim > ORC_OUTBOX_LANES)
		r->opts.lanes_per_claim = ORC_OUTBOX_LANES;
	if (r->opts.claim_interval_ms <= 0)
		r->opts.claim_interval_ms = DEFAULT_CLAIM_INTERVAL_MS;
	if (r->opts.delivery_wait_ms <= 0)
		r->opts.delivery_wait_ms = DEFAULT_DELIVERY_WAIT_MS;
	if (r->opts.turn_wait_ms <= 0)
		r->opts.turn_wait_ms = DEFAULT_TURN_WAIT_MS;
	if (r->opts.full_scan_interval_ms <= 0)
		r->opts.full_scan_interval_ms = DEFAULT_FULL_SCAN_INTERVAL_MS;
	r->batch_limit = (size_t)orc_config_int(cfg, ORC_CFG_RELAY_BATCH);
	r->poll_ms = orc_config_int(cfg, ORC_CFG_RELAY_POLL_MS);
	if (r->batch_limit == 0)
		r->batch_limit = 1;
	r->dsn = strdup(orc_config_str(cfg, ORC_CFG_PG_DSN)
				? orc_config_str(cfg, ORC_CFG_PG_DSN)
				: "");
	r->schema = strdup(orc_config_str(cfg, ORC_CFG_PG_SCHEMA)
				   ? orc_config_str(cfg, ORC_CFG_PG_SCHEMA)
				   : ORC_STORE_DEFAULT_SCHEMA);
	r->reply_topic = strdup(orc_config_str(cfg, ORC_CFG_REPLY_TOPIC));
	r->state = malloc(r->batch_limit * sizeof(*r->state));
	r->ids = malloc(r->batch_limit * sizeof(*r->ids));
	r->order = malloc(r->batch_limit * sizeof(*r->order));
	r->why = calloc(r->batch_limit, sizeof(*r->why));
	r->refusals = malloc(r->batch_limit * sizeof(*r->refusals));
	if (r->dsn == NULL || r->schema == NULL || r->reply_topic == NULL ||
	    r->state == NULL || r->ids == NULL || r->order == NULL ||
	    r->why == NULL || r->refusals == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto fail;
	}
	st = orc_store_connect(r->dsn, r->schema, &r->store, err);
	if (st != ORC_OK)
		goto fail;
	st = orc_store_outbox_session(r->store, err);
	if (st != ORC_OK)
		goto fail;
	st = orc_producer_create(cfg, on_delivery, r, &r->producer, err);
	if (st != ORC_OK)
		goto fail;
	*out = r;
	return ORC_OK;
fail:
	orc_relay_destroy(r);
	return st;
}

void
orc_relay_destroy(struct orc_relay *r)
{
	if (r == NULL)
		return;
	r->in_flight = false;
	/* Finish what is in flight before another relay may take the lanes. */
	orc_producer_destroy(r->producer);
	if (r->store != NULL && r->lanes != 0) {
		struct orc_error err;

		if (orc_store_outbox_release_lanes(r->store, &r->lanes, &err) ==
		    ORC_OK)
			orc_log(ORC_LOG_INFO, "relay released outbox lanes");
		/* on failure closing the connection releases them anyway */
	}
	orc_store_destroy(r->store);
	orc_outbox_batch_finish(&r->batch);
	for (size_t i = 0; r->why != NULL && i < r->batch_limit; i++)
		free(r->why[i]);
	free(r->why);
	free(r->refusals);
	free(r->state);
	free(r->ids);
	free(r->order);
	free(r->dsn);
	free(r->schema);
	free(r->reply_topic);
	free(r);
}

static void
lanes_text(uint16_t mask, char buf[64])
{
	size_t n = 0;

	buf[0] = '\0';
	for (int lane = 0; lane < ORC_OUTBOX_LANES; lane++)
		if (mask & (1u << lane))
			n += (size_t)snprintf(buf + n, 64 - n, "%s%d",
					      n ? "," : "", lane);
	if (n == 0)
		snprintf(buf, 64, "none");
}

/* Lanes were claimed (or lost): their floors start over at 0. */
static void
reset_floors(struct orc_relay *r, uint16_t lanes)
{
	for (int lane = 0; lane < ORC_OUTBOX_LANES; lane++)
		if (lanes & (1u << lane)) {
			r->floor[lane] = 0;
			r->stats.floor[lane] = 0;
		}
	r->floor_told &= (uint16_t)~lanes;
}

static void
drop_connection(struct orc_relay *r)
{
	orc_store_destroy(r->store);
	r->store = NULL;
	r->lanes = 0; /* the session's locks went with it */
	r->stats.lanes = 0;
	r->next_claim_ms = 0;
	reset_floors(r, ORC_OUTBOX_ALL_LANES);
	r->proof.stage = PROOF_NONE;
	r->proven = false;
	r->next_horizon_ms = 0;
	/* another relay may own the lanes now: give the batch up */
	r->in_flight = false;
}

/*
 * A turn failed with st: log it (the one place it is logged), back off,
 * and drop the connection when it is gone or its lane locks are in doubt.
 */
static enum orc_status
turn_failed(struct orc_relay *r, enum orc_status st, const char *msg,
	    bool drop, const struct orc_error *e, struct orc_error *err)
{
	if (r->store != NULL && (drop || !orc_store_connected(r->store)))
		drop_connection(r);
	r->stats.errors++;
	r->backoff_ms = orc_backoff_next(&r->backoff);
	/* from now: the turn itself may have waited for reports a while */
	r->retry_at_ms = orc_clock_mono_ms() + r->backoff_ms;
	orc_log(st == ORC_TRANSIENT && !r->refused ? ORC_LOG_WARN
						     : ORC_LOG_ERROR,
		msg, ORC_LOG_STR("status", orc_status_name(st)), ORC_LOG_ERR(e),
		ORC_LOG_INT("retry_in_ms", r->backoff_ms),
		ORC_LOG_BOOL("connected", r->store != NULL));
	if (err != NULL)
		*err = *e;
	return st;
}

static enum orc_status
ensure_connected(struct orc_relay *r, struct orc_error *e)
{
	enum orc_status st;

	if (r->store != NULL)
		return ORC_OK;
	st = orc_store_connect(r->dsn, r->schema, &r->store, e);
	if (st == ORC_OK)
		st = orc_store_outbox_session(r->store, e);
	if (st != ORC_OK) {
		orc_store_destroy(r->store);
		r->store = NULL;
		return st;
	}
	orc_log(ORC_LOG_INFO, "relay reconnected to postgresql");
	/* rows may have been written while nobody listened */
	r->notified = true;
	return ORC_OK;
}

static enum orc_status
claim(struct orc_relay *r, int64_t now, struct orc_error *e)
{
	uint16_t before = r->lanes;
	enum orc_status st;
	char got[64], owned[64];

	if (r->lanes == ORC_OUTBOX_ALL_LANES || now < r->next_claim_ms)
		return ORC_OK;
	r->next_claim_ms = now + r->opts.claim_interval_ms;
	st = orc_store_outbox_claim_lanes(r->store, r->opts.lanes_per_claim,
					  &r->lanes, e);
	if (st != ORC_OK)
		return st;
	r->stats.lanes = r->lanes;
	if (r->lanes != before) {
		reset_floors(r, (uint16_t)(r->lanes & ~before));
		lanes_text((uint16_t)(r->lanes & ~before), got);
		lanes_text(r->lanes, owned);
		orc_log(ORC_LOG_INFO, "relay claimed outbox lanes",
			ORC_LOG_STR("lanes", got), ORC_LOG_STR("owned", owned));
	}
	return ORC_OK;
}

/*
 * Run the horizon statement (every HORIZON_INTERVAL_MS, before a fetch)
 * and move the proof on: X once the margin since L has passed, proven
 * once a snapshot's xmin reached X, then a new L at once.  A proof
 * applies to the fetch after it (move_floors()).
 */
static enum orc_status
advance_proof(struct orc_relay *r, struct orc_error *e)
{
	struct floor_proof *p = &r->proof;
	struct orc_outbox_horizon h;
	int64_t sent = orc_clock_mono_ms();
	enum orc_status st;

	if (sent < r->next_horizon_ms)
		return ORC_OK;
	r->next_horizon_ms = sent + HORIZON_INTERVAL_MS;
	st = orc_store_outbox_horizon(r->store, &h, e);
	if (st != ORC_OK)
		return st;
	if (p->stage == PROOF_HAVE_X && h.xmin >= p->xmax) {
		r->proven = true;
		r->proven_id = p->last_id;
		p->stage = PROOF_NONE;
	} else if (p->stage == PROOF_HAVE_L &&
		   sent >= p->l_ms + ORC_OUTBOX_XID_MARGIN_MS) {
		/* this snapshot is taken after sent */
		p->xmax = h.xmax;
		p->stage = PROOF_HAVE_X;
	}
	if (p->stage == PROOF_NONE) {
		p->last_id = h.last_id;
		p->l_ms = orc_clock_mono_ms();
		p->stage = PROOF_HAVE_L;
	}
	return ORC_OK;
}

/*
 * A fetch that ignored the floors found rows at or below them: a bug in
 * the proof, the rows are published now.  Say so, and read those lanes
 * whole until a proof raises their floors again.
 */
static void
check_below_floors(struct orc_relay *r)
{
	uint16_t lanes = 0;
	size_t n = 0;
	int64_t first = 0;
	char text[64];

	for (size_t i = 0; i < r->batch.n; i++) {
		const struct orc_outbox_row *row = &r->batch.rows[i];

		if (row->lane < 0 || row->lane >= ORC_OUTBOX_LANES ||
		    row->id > r->floor[row->lane])
			continue;
		if (n++ == 0)
			first = row->id;
		lanes |= (uint16_t)(1u << row->lane);
	}
	if (n == 0)
		return;
	r->stats.below_floor += n;
	lanes_text(lanes, text);
	orc_log(ORC_LOG_WARN, "relay found outbox rows below a lane floor",
		ORC_LOG_UINT("rows", n), ORC_LOG_STR("lanes", text),
		ORC_LOG_INT("id", first),
		ORC_LOG_UINT("total", r->stats.below_floor));
	reset_floors(r, lanes);
}

/*
 * After a fetch: with a proof pending, raise each owned lane's floor to
 * the least of the proven id and the id up to which the fetch saw the
 * lane empty.  The first rise of lanes since their claim is logged.
 */
static void
move_floors(struct orc_relay *r, bool full_scan)
{
	uint16_t first = 0;
	int64_t lowest = INT64_MAX, least = INT64_MAX;
	char text[64];

	if (full_scan)
		check_below_floors(r);
	if (!r->proven)
		return;
	r->proven = false;
	for (int lane = 0; lane < ORC_OUTBOX_LANES; lane++) {
		uint16_t bit = (uint16_t)(1u << lane);
		int64_t to = orc_outbox_batch_clear(&r->batch, lane);

		if (!(r->lanes & bit))
			continue;
		if (to > r->proven_id)
			to = r->proven_id;
		if (to > r->floor[lane]) {
			r->floor[lane] = to;
			r->stats.floor[lane] = to;
			if (!(r->floor_told & bit)) {
				first |= bit;
				lowest = to < lowest ? to : lowest;
			}
		}
		least = r->floor[lane] < least ? r->floor[lane] : least;
	}
	orc_log(ORC_LOG_DEBUG, "relay lane floors",
		ORC_LOG_INT("proven", r->proven_id),
		ORC_LOG_INT("least", least));
	if (first == 0)
		return;
	r->floor_told |= first;
	lanes_text(first, text);
	orc_log(ORC_LOG_INFO, "relay lane floors rose",
		ORC_LOG_STR("lanes", text), ORC_LOG_INT("floor", lowest));
}

/* Whether an earlier row of saga was refused as this batch was produced. */
static bool
saga_refused(const struct orc_relay *r, size_t before, const char *saga)
{
	for (size_t i = 0; i < before; i++)
		if (r->state[i] == ROW_REFUSED &&
		    strcmp(r->batch.rows[i].saga_id, saga) == 0)
			return true;
	return false;
}

/*
 * Produce every row of the batch in order; the batch is in flight then.
 * A row the producer refuses for good is marked refused and its saga's
 * later rows are not produced (they are quarantined with it).  A row that
 * cannot even be queued (after retrying a full queue until stop_at) ends
 * the sending: the rows after it stay unsent, which keeps every saga's
 * sent rows a prefix.
 */
static void
publish(struct orc_relay *r, int64_t stop_at)
{
	struct orc_producer *p = r->producer;
	const struct orc_outbox_batch *b = &r->batch;
	bool any_refused = false;

	memset(r->state, ROW_UNSENT, b->n);
	r->pending = 0;
	r->first_status = ORC_OK;
	r->first_error[0] = '\0';
	r->in_flight = true;
	for (size_t i = 0; i < b->n; i++) {
		const struct orc_outbox_row *row = &b->rows[i];
		/* a row without a step (a lifecycle event) awaits no reply */
		const char *replyto =
			row->step_name == NULL ? NULL
			: row->reply_to != NULL ? row->reply_to
						: r->reply_topic;
		struct orc_envelope_command cmd = {
			.id = row->message_id,
			.source = row->source,
			.type = row->type,
			.time_ms = row->created_ms,
			.sagaid = row->saga_id,
			.sagastep = row->step_name,
			.replyto = replyto,
			.traceparent = row->traceparent,
		};
		struct orc_header h[ORC_ENVELOPE_COMMAND_HEADERS];
		size_t nh = orc_envelope_command_headers(&cmd, h);
		struct orc_error e;
		enum orc_status st;

		if (any_refused && saga_refused(r, i, row->saga_id))
			continue;
		for (;;) {
			st = orc_producer_send(p, row->topic, row->saga_id,
					       strlen(row->saga_id), h, nh,
					       row->payload, row->payload_len,
					       (void *)(uintptr_t)(i + 1), &e);
			if (st != ORC_TRANSIENT ||
			    orc_clock_mono_ms() >= stop_at)
				break;
			/* the local queue is full: let it drain */
			orc_producer_poll(p, 10);
		}
		if (st == ORC_INVALID) {
			refuse(r, i, e.message);
			any_refused |= r->state[i] == ROW_REFUSED;
			continue;
		}
		if (st != ORC_OK) {
			note_failure(r, i, st, e.message);
			break;
		}
		r->state[i] = ROW_SENT;
		r->pending++;
	}
}

/* Serve reports until none is pending or until (CLOCK_MONOTONIC ms). */
static void
collect_reports(struct orc_relay *r, int64_t until)
{
	orc_producer_poll(r->producer, 0);
	while (r->pending > 0) {
		int64_t left = until - orc_clock_mono_ms();

		if (left <= 0)
			break;
		orc_producer_poll(r->producer, left < 10 ? (int)left : 10);
	}
}

static int
cmp_saga_pos(const void *a, const void *b)
{
	const struct saga_pos *x = a, *y = b;
	int c = strcmp(x->saga, y->saga);

	if (c != 0)
		return c;
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Decide the batch's rows: fill r->ids with the rows that may be deleted
 * (returns how many) and r->refusals with the rows to quarantine (*n_refused,
 * one per saga); *resolved is how many rows of the batch either covers.
 * When every row was acknowledged that is all of them.  Otherwise, per saga
 * in id order: the acknowledged rows before its first row that was not;
 * when that row was refused for good, it is quarantined with the saga's
 * later rows, except those the broker acknowledged already (deleted: they
 * are published).  After a row that may yet be published (failed,
 * unconfirmed, unsent) nothing of the saga is decided.
 */
static size_t
decide(struct orc_relay *r, size_t acked, size_t *n_refused, size_t *resolved)
{
	const struct orc_outbox_batch *b = &r->batch;
	size_t n = 0;

	*n_refused = 0;
	*resolved = 0;
	if (acked == b->n) {
		for (size_t i = 0; i < b->n; i++)
			r->ids[i] = b->rows[i].id;
		*resolved = b->n;
		return b->n;
	}
	for (size_t i = 0; i < b->n; i++) {
		r->order[i].saga = b->rows[i].saga_id;
		r->order[i].id = b->rows[i].id;
		r->order[i].idx = i;
	}
	qsort(r->order, b->n, sizeof(*r->order), cmp_saga_pos);
	for (size_t i = 0; i < b->n; i++) {
		const char *saga = r->order[i].saga;
		enum { OPEN, BLOCKED, QUARANTINED } saga_state = OPEN;
		size_t j = i;

		for (; j < b->n && strcmp(r->order[j].saga, saga) == 0; j++) {
			size_t idx = r->order[j].idx;
			enum row_state rs = r->state[idx];

			if (saga_state == OPEN && rs == ROW_REFUSED) {
				r->refusals[(*n_refused)++] =
					(struct orc_outbox_refusal){
						b->rows[idx].id, r->why[idx]};
				saga_state = QUARANTINED;
			} else if (saga_state == OPEN && rs != ROW_ACKED) {
				saga_state = BLOCKED;
			}
			if (saga_state == BLOCKED)
				continue;
			if (rs == ROW_ACKED)
				r->ids[n++] = r->order[j].id;
			(*resolved)++;
		}
		i = j - 1;
	}
	return n;
}

/* Log each quarantined row once, where it is handled. */
static void
log_quarantined(const struct orc_relay *r, size_t n_refused, size_t moved)
{
	for (size_t k = 0; k < n_refused; k++) {
		const struct orc_outbox_row *row = NULL;

		for (size_t i = 0; i < r->batch.n && row == NULL; i++)
			if (r->batch.rows[i].id == r->refusals[k].id)
				row = &r->batch.rows[i];
		if (row == NULL)
			continue;
		orc_log(ORC_LOG_ERROR, "outbox row quarantined",
			ORC_LOG_STR("saga", row->saga_id),
			ORC_LOG_STR("step", row->step_name),
			ORC_LOG_STR("topic", row->topic),
			ORC_LOG_STR("message_id", row->message_id),
			ORC_LOG_INT("id", row->id),
			ORC_LOG_STR("err", r->refusals[k].error),
			ORC_LOG_UINT("rows_moved", moved),
			ORC_LOG_STR("hint",
				    "SELECT * FROM quarantined_commands"));
	}
}

static void
forget_refusals(struct orc_relay *r)
{
	for (size_t i = 0; i < r->batch.n; i++) {
		free(r->why[i]);
		r->why[i] = NULL;
	}
}

/*
 * The batch's reports are in (or it was given up): delete what may be
 * deleted, quarantine what the broker refused, and say how it went.
 */
static enum orc_status
finish_batch(struct orc_relay *r, size_t *published, struct orc_error *err)
{
	struct orc_error e;
	enum orc_status st;
	size_t acked = 0, n_delete, n_refused, resolved, deleted = 0, moved = 0;
	int64_t oldest_ms = r->batch.rows[0].created_ms;

	orc_error_clear(&e);
	r->in_flight = false;
	for (size_t i = 0; i < r->batch.n; i++) {
		if (r->state[i] == ROW_ACKED)
			acked++;
		if (r->batch.rows[i].created_ms < oldest_ms)
			oldest_ms = r->batch.rows[i].created_ms;
	}
	if (acked > 0)
		r->stats.last_lag_ms = orc_clock_wall_ms() - oldest_ms;
	n_delete = decide(r, acked, &n_refused, &resolved);
	r->stats.failed += r->batch.n - resolved;
	st = orc_store_outbox_delete(r->store, r->ids, n_delete, &deleted, &e);
	if (st != ORC_OK) { /* acknowledged rows will be published again */
		forget_refusals(r);
		return turn_failed(r, st, "cannot delete published outbox rows",
				   false, &e, err);
	}
	r->stats.published += n_delete;
	if (published != NULL)
		*published = n_delete;
	st = orc_store_outbox_quarantine(r->store, r->refusals, n_refused,
					 &moved, &e);
	if (st == ORC_OK && n_refused > 0) {
		r->stats.quarantined += moved;
		log_quarantined(r, n_refused, moved);
	}
	forget_refusals(r);
	if (st != ORC_OK) /* refused again next turn, then quarantined */
		return turn_failed(r, st,
				   "cannot quarantine refused outbox rows",
				   false, &e, err);
	if (resolved < r->batch.n) {
		/*
		 * Rows stay and are published again: transient for the
		 * caller; only an unusable producer is fatal.
		 */
		st = r->first_status == ORC_FATAL ? ORC_FATAL : ORC_TRANSIENT;
		r->refused = st == ORC_FATAL;
		orc_error_set(&e, st, "cannot publish %zu of %zu outbox rows",
			      r->batch.n - resolved, r->batch.n);
		orc_error_detail(&e,
				 "%s; %zu acknowledged rows deleted, the rest "
				 "is published again",
				 r->first_error[0] ? r->first_error
						   : "delivery not confirmed",
				 n_delete);
		return turn_failed(r, st, "cannot publish outbox rows", false,
				   &e, err);
	}
	r->more = r->batch.n == r->batch_limit;
	orc_backoff_reset(&r->backoff);
	r->retry_at_ms = 0;
	return ORC_OK;
}

/*
 * Wait (at most turn_wait_ms, never past the batch's deadline) for the
 * reports of the batch in flight; finish it when they are all in or the
 * deadline passed, else leave it to a later turn.
 */
static enum orc_status
await_batch(struct orc_relay *r, size_t *published, struct orc_error *err)
{
	int64_t until = orc_clock_mono_ms() + r->opts.turn_wait_ms;

	collect_reports(r, until < r->deadline_ms ? until : r->deadline_ms);
	if (r->pending > 0 && orc_clock_mono_ms() < r->deadline_ms) {
		if (err != NULL)
			orc_error_clear(err);
		return ORC_OK; /* a later turn finishes it */
	}
	return finish_batch(r, published, err);
}

enum orc_status
orc_relay_turn(struct orc_relay *r, size_t *published, struct orc_error *err)
{
	int64_t now = orc_clock_mono_ms();
	struct orc_error e;
	enum orc_status st;
	bool ignored, full_scan;

	orc_error_clear(&e);
	if (published != NULL)
		*published = 0;
	r->stats.turns++;
	r->last_turn_ms = now;
	r->refused = false;
	if (r->in_flight) {
		if (r->store != NULL)
			return await_batch(r, published, err);
		r->in_flight = false; /* cannot finish it: its rows stay */
	}
	r->more = false;
	r->stats.last_batch = 0;

	st = ensure_connected(r, &e);
	if (st != ORC_OK)
		return turn_failed(r, st, "relay cannot connect to postgresql",
				   false, &e, err);
	/* Anything notified so far is visible to the fetch below. */
	r->notified = false;
	st = orc_store_outbox_notified(r->store, &ignored, &e);
	if (st != ORC_OK)
		return turn_failed(r, st, "relay lost its database connection",
				   true, &e, err);
	st = claim(r, now, &e);
	if (st != ORC_OK) /* some locks may be held: start a new session */
		return turn_failed(r, st, "cannot claim outbox lanes", true, &e,
				   err);
	/* An abandoned batch's messages must all be reported first. */
	orc_producer_poll(r->producer, 0);
	if (r->lanes == 0 || orc_producer_outstanding(r->producer) > 0)
		goto done;

	st = advance_proof(r, &e);
	if (st != ORC_OK)
		return turn_failed(r, st, "cannot read the outbox horizon",
				   false, &e, err);
	full_scan = now >= r->next_full_scan_ms;
	if (full_scan)
		r->next_full_scan_ms = now + r->opts.full_scan_interval_ms;
	st = orc_store_outbox_fetch(r->store, r->lanes,
				    full_scan ? NULL : r->floor, r->batch_limit,
				    &r->batch, &e);
	if (st != ORC_OK)
		return turn_failed(r, st, "cannot read outbox", false, &e, err);
	move_floors(r, full_scan);
	r->stats.last_batch = r->batch.n;
	if (r->batch.n == 0)
		goto done;
	now = orc_clock_mono_ms();
	r->deadline_ms = now + r->opts.delivery_wait_ms;
	publish(r, now + r->opts.turn_wait_ms);
	return await_batch(r, published, err);
done:
	orc_backoff_reset(&r->backoff);
	r->retry_at_ms = 0;
	if (err != NULL)
		orc_error_clear(err);
	return ORC_OK;
}

enum orc_status
orc_relay_finish(struct orc_relay *r, int64_t timeout_ms, size_t *published,
		 struct orc_error *err)
{
	int64_t deadline = orc_clock_mono_ms() + timeout_ms;
	enum orc_status st;
	size_t n = 0, total = 0;

	do {
		st = orc_relay_turn(r, &n, err);
		total += n;
	} while (r->in_flight && orc_clock_mono_ms() < deadline);
	if (published != NULL)
		*published = total;
	return st;
}

bool
orc_relay_in_flight(const struct orc_relay *r)
{
	return r->in_flight;
}

bool
orc_relay_wants_turn(struct orc_relay *r, int64_t now_ms)
{
	bool note = false;

	if (r->producer != NULL)
		orc_producer_poll(r->producer, 0);
	/* Always drain the socket, so a poll() on it does not spin. */
	if (r->store != NULL &&
	    orc_store_outbox_notified(r->store, &note, NULL) != ORC_OK)
		note = true; /* the turn finds out what happened */
	if (note)
		r->notified = true;
	if (r->in_flight) /* finish it once its reports are in, or it is late */
		return r->pending == 0 || now_ms >= r->deadline_ms ||
		       r->store == NULL;
	if (now_ms < r->retry_at_ms)
		return false;
	/* an abandoned batch's messages are reported first */
	if (r->producer != NULL && orc_producer_outstanding(r->producer) > 0)
		return false;
	if (r->store == NULL || r->notified || r->more)
		return true;
	if (r->lanes != ORC_OUTBOX_ALL_LANES && now_ms >= r->next_claim_ms)
		return true;
	return now_ms - r->last_turn_ms >= r->poll_ms;
}

void
orc_relay_know_topics(struct orc_relay *r, const char *const *topics, size_t n)
{
	orc_producer_know_topics(r->producer, topics, n, 5000);
}

int
orc_relay_socket(const struct orc_relay *r)
{
	return orc_store_outbox_socket(r->store);
}

const struct orc_relay_stats *
orc_relay_get_stats(const struct orc_relay *r)
{
	return &r->stats;
}

enum orc_status
orc_relay_backlog(struct orc_relay *r, struct orc_outbox_backlog *out,
		  struct orc_error *err)
{
	if (r->store == NULL) {
		out->rows = 0;
		out->oldest_age_ms = 0;
		return orc_error_set(err, ORC_TRANSIENT,
				     "relay is not connected to postgresql");
	}
	return orc_store_outbox_backlog(r->store, out, err);
}
