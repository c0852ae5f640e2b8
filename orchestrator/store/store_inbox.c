/*
 * store_inbox.c - what came in: the inbox of applied event ids, and the
 * dead letters of events that could not be applied.
 *
 * The inbox makes applying idempotent: an event id is claimed in the same
 * transaction that applies it, so a redelivered event finds its id taken
 * and changes nothing.  A batch's ids travel as one text array; the claim
 * is one statement whatever the batch size.
 *
 * A dead letter keeps the record's key, payload and every header as
 * bytes (bytea, the headers as two parallel bytea[] sent in binary), the
 * headers also readably as JSON, and is keyed by its position in the
 * topic, so recording it twice (after a replay) is a no-op.  Writing one
 * must never be what stops a worker: it runs under a savepoint, and when
 * the whole row is refused for any reason but a transient one (a value
 * the database cannot take, a limit), a minimal one (topic, partition,
 * offset and the reason, with why) is written in its place.
 */
#include "store_saga.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgarray.h"
#include "store_internal.h"
#include "strbuf.h"
#include "text.h"

/*
 * ids[0..n) (borrowed) as one text[] parameter, built in arr, which this
 * initialises and the caller finishes; NULL with err set when out of
 * memory.
 */
static const char *
ids_param(struct orc_pgarray *arr, const char *const *ids, size_t n,
	  struct orc_error *err)
{
	const char *lit;

	orc_pgarray_init(arr);
	orc_pgarray_texts(arr, ids, n);
	lit = orc_pgarray_done(arr);
	if (lit == NULL)
		orc_error_set(err, ORC_FATAL, "out of memory");
	return lit;
}

enum orc_status
orc_store_inbox_claim(struct orc_store *store, const char *consumer,
		      const char *const *ids, size_t n, bool *fresh,
		      struct orc_error *err)
{
	struct orc_pgarray *arr = orc_store_scratch(store, ORC_SCRATCH_INBOX_IDS);
	const char *params[2];
	PGresult *res;
	enum orc_status st;

	orc_pgarray_texts(arr, ids, n);
	params[0] = consumer;
	params[1] = orc_pgarray_done(arr);
	if (params[1] == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	/*
	 * The server answers with the (1-based) position of the first
	 * occurrence of every id it inserted, so marking them is O(n).
	 */
	st = orc_store_run(store,
			   "WITH ins AS (INSERT INTO %1$s.inbox (consumer, message_id)"
			   " SELECT $1, m FROM unnest($2::text[]) AS m"
			   " ON CONFLICT DO NOTHING RETURNING message_id)"
			   " SELECT min(u.i) FROM unnest($2::text[]) WITH ORDINALITY"
			   " AS u(m, i) JOIN ins ON ins.message_id = u.m GROUP BY u.m",
			   2, params, &res, "claiming inbox ids", err);
	if (st != ORC_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		fresh[i] = false;
	for (int r = 0; r < PQntuples(res); r++) {
		int64_t pos = orc_store_int(res, r, 0);

		if (pos >= 1 && (size_t)pos <= n)
			fresh[pos - 1] = true;
	}
	PQclear(res);
	return ORC_OK;
}

enum orc_status
orc_store_inbox_release(struct orc_store *store, const char *consumer,
			const char *const *ids, size_t n, struct orc_error *err)
{
	struct orc_pgarray arr;
	const char *params[2];
	enum orc_status st;

	if (n == 0)
		return ORC_OK;
	params[0] = consumer;
	params[1] = ids_param(&arr, ids, n, err);
	if (params[1] == NULL) {
		orc_pgarray_finish(&arr);
		return ORC_FATAL;
	}
	st = orc_store_run(store,
			   "DELETE FROM %1$s.inbox WHERE consumer = $1"
			   " AND message_id = ANY($2::text[])",
			   2, params, NULL, "releasing inbox ids", err);
	orc_pgarray_finish(&arr);
	return st;
}

/* ---- dead letters ---- */

/* b[0..n) is text jsonb keeps as it is: UTF-8 without NUL bytes. */
static bool
plain_text(const void *b, size_t n)
{
	return memchr(b, '\0', n) == NULL && orc_text_utf8_valid(b, n);
}

/* b[0..n) as a JSON string: itself when plain text, else "\x<hex>". */
static json_t *
readable(const void *b, size_t n)
{
	struct orc_strbuf sb;
	json_t *v;

	if (plain_text(b, n))
		return json_stringn(b, n);
	orc_strbuf_init(&sb);
	orc_strbuf_puts(&sb, "\\x");
	for (size_t i = 0; i < n; i++)
		orc_strbuf_printf(&sb, "%02x", ((const unsigned char *)b)[i]);
	v = sb.oom ? NULL : json_stringn(sb.data, sb.len);
	orc_strbuf_finish(&sb);
	return v;
}

/*
 * The headers for people: a JSON text of [name, value] pairs (new,
 * free()), or NULL when out of memory.
 */
static char *
headers_readable(const struct orc_header *h, size_t n)
{
	json_t *arr = json_array();
	char *text;

	for (size_t i = 0; arr != NULL && i < n; i++) {
		json_t *name = readable(h[i].name, strlen(h[i].name));
		json_t *value = h[i].value == NULL
					? json_null()
					: readable(h[i].value, h[i].size);

		if (name == NULL || value == NULL ||
		    json_array_append_new(arr, json_pack("[oo]", name, value)) !=
			    0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	text = arr != NULL ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	return text;
}

static void
put_int32(struct orc_strbuf *sb, int32_t v)
{
	uint32_t u = (uint32_t)v;
	unsigned char b[4] = {(unsigned char)(u >> 24), (unsigned char)(u >> 16),
			      (unsigned char)(u >> 8), (unsigned char)u};

	orc_strbuf_append(sb, b, sizeof(b));
}

#define BYTEA_OID 17

/*
 * A bytea[] parameter in PostgreSQL's binary array format, built in sb
 * (caller-owned, initialised): the names (value false) or the values of
 * h[0..n), any bytes, a NULL value as an SQL NULL element.
 */
static void
bytea_array(struct orc_strbuf *sb, const struct orc_header *h, size_t n,
	    bool values)
{
	bool nulls = false;

	for (size_t i = 0; values && i < n; i++)
		nulls |= h[i].value == NULL;
	put_int32(sb, n > 0 ? 1 : 0); /* dimensions */
	put_int32(sb, nulls ? 1 : 0);
	put_int32(sb, BYTEA_OID);
	if (n > 0) {
		put_int32(sb, (int32_t)n);
		put_int32(sb, 1); /* lower bound */
	}
	for (size_t i = 0; i < n; i++) {
		const void *b = values ? h[i].value : h[i].name;
		size_t len = values ? h[i].size : strlen(h[i].name);

		put_int32(sb, b == NULL ? -1 : (int32_t)len);
		if (b != NULL)
			orc_strbuf_append(sb, b, len);
	}
}

/*
 * The error of a dead letter kept minimal: dl's reason and why the whole
 * one was not written, printable ASCII only (so that it is always text
 * the database takes), into buf.
 */
static void
minimal_error(const struct orc_dead_letter *dl, const struct orc_error *why,
	      char *buf, size_t size)
{
	snprintf(buf, size, "%s (kept without key, headers and payload: %s)",
		 dl->error, why->message);
	for (char *p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
}

/* The id of the row a dead-letter INSERT ... RETURNING (or found) */
#define DEAD_LETTER_ID                                                         \
	" SELECT id FROM ins UNION ALL SELECT id FROM %1$s.dead_letters"      \
	" WHERE consumer = $1 AND topic = $2 AND partition = $3::int"          \
	" AND \"offset\" = $4::bigint LIMIT 1"

/*
 * A received message (dl's consumer, topic, partition, offset, key,
 * headers and payload) as the parameters $1..$9 of a row of dead_letters
 * or parked_events; callers append theirs from RAW_PARAMS on.
 */
#define RAW_PARAMS 9
#define RAW_PARAMS_MAX 20

struct raw_row {
	char partition[16], offset[24];
	char *headers;
	struct orc_strbuf names, values;
	const char *params[RAW_PARAMS_MAX];
	int lengths[RAW_PARAMS_MAX], formats[RAW_PARAMS_MAX];
};

/* Fill r from dl (borrowed, must outlive r); false when out of memory. */
static bool
raw_row_init(struct raw_row *r, const struct orc_dead_letter *dl)
{
	memset(r, 0, sizeof(*r));
	orc_strbuf_init(&r->names);
	orc_strbuf_init(&r->values);
	r->headers = headers_readable(dl->headers, dl->n_headers);
	bytea_array(&r->names, dl->headers, dl->n_headers, false);
	bytea_array(&r->values, dl->headers, dl->n_headers, true);
	if (r->headers == NULL || r->names.oom || r->values.oom)
		return false;
	snprintf(r->partition, sizeof(r->partition), "%d", (int)dl->partition);
	snprintf(r->offset, sizeof(r->offset), "%lld", (long long)dl->offset);
	r->params[0] = dl->consumer;
	r->params[1] = dl->topic;
	r->params[2] = r->partition;
	r->params[3] = r->offset;
	r->params[4] = dl->key;
	r->lengths[4] = (int)dl->key_len;
	r->formats[4] = 1;
	r->params[5] = r->headers;
	r->params[6] = r->names.data;
	r->lengths[6] = (int)r->names.len;
	r->formats[6] = 1;
	r->params[7] = r->values.data;
	r->lengths[7] = (int)r->values.len;
	r->formats[7] = 1;
	r->params[8] = dl->payload;
	r->lengths[8] = (int)dl->payload_len;
	r->formats[8] = 1;
	return true;
}

static void
raw_row_finish(struct raw_row *r)
{
	free(r->headers);
	orc_strbuf_finish(&r->names);
	orc_strbuf_finish(&r->values);
}

/* The columns raw_row's $1..$9 go to, and their values. */
#define RAW_COLUMNS                                                            \
	"consumer, topic, partition, \"offset\", key, headers, header_names,"  \
	" header_values, payload"
#define RAW_VALUES                                                             \
	"$1, $2, $3::int, $4::bigint, $5::bytea, $6::jsonb, $7::bytea[],"       \
	" $8::bytea[], $9::bytea"

/*
 * Insert dl whole; *id its row (the one there before, after a replay).
 * *refused: the failure is the database's answer to the statement.
 */
static enum orc_status
insert_whole(struct orc_store *store, const struct orc_dead_letter *dl,
	     int64_t *id, bool *refused, struct orc_error *err)
{
	struct raw_row r;
	PGresult *res = NULL;
	enum orc_status st;

	if (!raw_row_init(&r, dl)) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	r.params[RAW_PARAMS] = dl->error;
	st = orc_store_query(store,
			     "WITH ins AS (INSERT INTO %1$s.dead_letters ("
			     RAW_COLUMNS ", error) VALUES (" RAW_VALUES ", $10)"
			     " ON CONFLICT DO NOTHING RETURNING id)" DEAD_LETTER_ID,
			     RAW_PARAMS + 1, r.params, r.lengths, r.formats,
			     ORC_STORE_PREPARE, &res, "writing dead letter", err);
	*refused = st != ORC_OK;
	if (st == ORC_OK)
		*id = PQntuples(res) > 0 ? orc_store_int(res, 0, 0) : 0;
	PQclear(res);
done:
	raw_row_finish(&r);
	return st;
}

/* Insert the minimal dead letter of dl, with error. */
static enum orc_status
insert_minimal(struct orc_store *store, const struct orc_dead_letter *dl,
	       const char *error, int64_t *id, struct orc_error *err)
{
	char partition[16], offset[24];
	const char *params[5] = {dl->consumer, dl->topic, partition, offset,
				 error};
	PGresult *res = NULL;
	enum orc_status st;

	snprintf(partition, sizeof(partition), "%d", (int)dl->partition);
	snprintf(offset, sizeof(offset), "%lld", (long long)dl->offset);
	st = orc_store_run(store,
			   "WITH ins AS (INSERT INTO %1$s.dead_letters (consumer,"
			   " topic, partition, \"offset\", error)"
			   " VALUES ($1, $2, $3::int, $4::bigint, $5)"
			   " ON CONFLICT DO NOTHING RETURNING id)" DEAD_LETTER_ID,
			   5, params, &res, "writing minimal dead letter", err);
	if (st == ORC_OK)
		*id = PQntuples(res) > 0 ? orc_store_int(res, 0, 0) : 0;
	PQclear(res);
	return st;
}

enum orc_status
orc_store_dead_letter(struct orc_store *store, const struct orc_dead_letter *dl,
		      struct orc_dead_letter_result *out, struct orc_error *err)
{
	struct orc_error why = {0};
	bool refused = false;
	enum orc_status st;

	memset(out, 0, sizeof(*out));
	/* a failed statement would abort the caller's whole transaction */
	st = orc_store_exec(store, "SAVEPOINT orc_dead_letter", err);
	if (st != ORC_OK)
		return st;
	st = insert_whole(store, dl, &out->id, &refused, &why);
	if (st == ORC_TRANSIENT || (st != ORC_OK && !refused)) {
		/* a lost connection, or out of memory here: not the event's */
		if (err != NULL)
			*err = why;
		return st;
	}
	if (st != ORC_OK) {
		out->minimal = true;
		minimal_error(dl, &why, out->error, sizeof(out->error));
		st = orc_store_exec(store, "ROLLBACK TO SAVEPOINT orc_dead_letter",
				    err);
		if (st == ORC_OK)
			st = insert_minimal(store, dl, out->error, &out->id, err);
		if (st != ORC_OK)
			return st;
	}
	return orc_store_exec(store, "RELEASE SAVEPOINT orc_dead_letter", err);
}

/* ---- parked events ---- */

/*
 * Parking and taking serialise on the definition and key, so that an
 * event parked while its saga starts in another transaction is either
 * seen by the start or sees the saga.  The locks of one statement are
 * taken in a fixed order (no deadlock between two batches); two-int
 * advisory locks, a space of their own apart from the relay's lanes.
 */
#define KEY_LOCKS                                                              \
	"SELECT pg_advisory_xact_lock(l.a, l.b) FROM (SELECT DISTINCT"         \
	" hashtext(u.name) AS a, hashtext(u.key) AS b FROM unnest($1::text[],"  \
	" $2::text[]) AS u(name, key) ORDER BY 1, 2) l"

/* Lock names[i], keys[i] for i < n (KEY_LOCKS). */
static enum orc_status
lock_keys(struct orc_store *store, const char *const *names,
	  const char *const *keys, size_t n, struct orc_error *err)
{
	struct orc_pgarray a, b;
	const char *params[2];
	PGresult *res = NULL;
	enum orc_status st;

	orc_pgarray_init(&a);
	orc_pgarray_init(&b);
	orc_pgarray_texts(&a, names, n);
	orc_pgarray_texts(&b, keys, n);
	params[0] = orc_pgarray_done(&a);
	params[1] = orc_pgarray_done(&b);
	if (params[0] == NULL || params[1] == NULL)
		st = orc_error_set(err, ORC_FATAL, "out of memory");
	else
		st = orc_store_run(store, KEY_LOCKS, 2, params, &res,
				   "locking business keys", err);
	PQclear(res);
	orc_pgarray_finish(&a);
	orc_pgarray_finish(&b);
	return st;
}

enum orc_status
orc_store_park_event(struct orc_store *store, const struct orc_parked_event *pe,
		     struct orc_error *err)
{
	const char *names[1] = {pe->def_name}, *keys[1] = {pe->business_key};
	char ttl_ms[24];
	struct raw_row r;
	PGresult *res = NULL;
	enum orc_status st;

	st = lock_keys(store, names, keys, 1, err);
	if (st != ORC_OK)
		return st;
	if (!raw_row_init(&r, &pe->raw)) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	snprintf(ttl_ms, sizeof(ttl_ms), "%lld", (long long)pe->ttl_ms);
	r.params[RAW_PARAMS + 0] = pe->def_name;
	r.params[RAW_PARAMS + 1] = pe->business_key;
	r.params[RAW_PARAMS + 2] = pe->type;
	r.params[RAW_PARAMS + 3] = pe->event_id;
	r.params[RAW_PARAMS + 4] = pe->message_id;
	r.params[RAW_PARAMS + 5] = pe->data;
	r.params[RAW_PARAMS + 6] = pe->ttl;
	r.params[RAW_PARAMS + 7] = ttl_ms;
	st = orc_store_query(store,
			     "INSERT INTO %1$s.parked_events (" RAW_COLUMNS ","
			     " definition_name, business_key, type, event_id,"
			     " message_id, data, ttl, expires_at)"
			     " SELECT " RAW_VALUES ", $10, $11, $12, $13, $14,"
			     " $15::jsonb, $16, now() + $17::bigint *"
			     " interval '1 millisecond'"
			     " WHERE NOT EXISTS (SELECT 1 FROM %1$s.sagas s"
			     " WHERE s.definition_name = $10 AND s.business_key ="
			     " $11 AND s.status IN ('running', 'compensating',"
			     " 'stuck')) RETURNING id",
			     RAW_PARAMS + 8, r.params, r.lengths, r.formats,
			     ORC_STORE_PREPARE, &res, "parking event", err);
	if (st == ORC_OK && PQntuples(res) == 0)
		st = orc_error_set(err, ORC_TRANSIENT,
				   "a saga of %s with business key %s started "
				   "while its event was being parked",
				   pe->def_name, pe->business_key);
	PQclear(res);
done:
	raw_row_finish(&r);
	return st;
}

void
orc_parked_list_init(struct orc_parked_list *list)
{
	memset(list, 0, sizeof(*list));
}

void
orc_parked_list_reset(struct orc_parked_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		struct orc_parked_taken *t = &list->v[i];

		free(t->def_name);
		free(t->business_key);
		free(t->topic);
		free(t->type);
		free(t->event_id);
		json_decref(t->data);
	}
	list->n = 0;
}

void
orc_parked_list_finish(struct orc_parked_list *list)
{
	if (list == NULL)
		return;
	orc_parked_list_reset(list);
	free(list->v);
	memset(list, 0, sizeof(*list));
}

/* strdup of a column, NULL for SQL NULL; *oom set when out of memory. */
static char *
dup_column(const PGresult *res, int row, int col, bool *oom)
{
	char *s;

	if (PQgetisnull(res, row, col))
		return NULL;
	s = strdup(PQgetvalue(res, row, col));
	*oom |= s == NULL;
	return s;
}

/* Row r of a take's answer appended to list. */
static enum orc_status
take_row(struct orc_parked_list *list, const PGresult *res, int r,
	 struct orc_error *err)
{
	struct orc_parked_taken *t;
	json_error_t jerr;
	bool oom = false;

	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 16;
		void *v = realloc(list->v, cap * sizeof(*list->v));

		if (v == NULL)
			return orc_error_set(err, ORC_FATAL, "out of memory");
		list->v = v;
		list->cap = cap;
	}
	t = &list->v[list->n++];
	memset(t, 0, sizeof(*t));
	t->id = orc_store_int(res, r, 0);
	t->def_name = dup_column(res, r, 1, &oom);
	t->business_key = dup_column(res, r, 2, &oom);
	t->topic = dup_column(res, r, 3, &oom);
	t->type = dup_column(res, r, 4, &oom);
	t->event_id = dup_column(res, r, 5, &oom);
	if (!PQgetisnull(res, r, 6)) {
		t->data = json_loads(PQgetvalue(res, r, 6), JSON_DECODE_ANY,
				     &jerr);
		oom |= t->data == NULL;
	}
	if (oom || t->def_name == NULL || t->business_key == NULL ||
	    t->topic == NULL || t->type == NULL)
		return orc_error_set(err, ORC_FATAL,
				     "out of memory reading parked event %lld",
				     (long long)t->id);
	return ORC_OK;
}

enum orc_status
orc_store_lock_parked(struct orc_store *store, const char *const *names,
		      const char *const *keys, size_t n,
		      struct orc_parked_list *list, struct orc_error *err)
{
	struct orc_pgarray a, b;
	const char *params[2];
	PGresult *res = NULL;
	enum orc_status st;

	orc_parked_list_reset(list);
	if (n == 0)
		return ORC_OK;
	st = lock_keys(store, names, keys, n, err);
	if (st != ORC_OK)
		return st;
	orc_pgarray_init(&a);
	orc_pgarray_init(&b);
	orc_pgarray_texts(&a, names, n);
	orc_pgarray_texts(&b, keys, n);
	params[0] = orc_pgarray_done(&a);
	params[1] = orc_pgarray_done(&b);
	if (params[0] == NULL || params[1] == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	/* a new statement: it sees what a parker committed before our lock */
	st = orc_store_run(store,
			   "SELECT id, definition_name, business_key, topic, type,"
			   " event_id, data::text FROM %1$s.parked_events"
			   " WHERE (definition_name, business_key) IN (SELECT *"
			   " FROM unnest($1::text[], $2::text[]))"
			   " AND expires_at > now() ORDER BY id FOR UPDATE",
			   2, params, &res, "reading parked events", err);
	for (int r = 0; st == ORC_OK && r < PQntuples(res); r++)
		st = take_row(list, res, r, err);
done:
	PQclear(res);
	orc_pgarray_finish(&a);
	orc_pgarray_finish(&b);
	return st;
}

enum orc_status
orc_store_drop_parked(struct orc_store *store,
		      const struct orc_parked_list *list, struct orc_error *err)
{
	struct orc_pgarray ids;
	const char *params[1];
	PGresult *res = NULL;
	enum orc_status st;
	size_t n = 0;

	orc_pgarray_init(&ids);
	for (size_t i = 0; i < list->n; i++)
		if (list->v[i].used) {
			orc_pgarray_int(&ids, list->v[i].id);
			n++;
		}
	params[0] = orc_pgarray_done(&ids);
	if (n == 0)
		st = ORC_OK;
	else if (params[0] == NULL)
		st = orc_error_set(err, ORC_FATAL, "out of memory");
	else
		st = orc_store_run(store,
				   "DELETE FROM %1$s.parked_events"
				   " WHERE id = ANY($1::bigint[])",
				   1, params, &res, "deleting taken parked events",
				   err);
	PQclear(res);
	orc_pgarray_finish(&ids);
	return st;
}

enum orc_status
orc_store_expire_parked(struct orc_store *store, int limit, int64_t *moved,
			struct orc_error *err)
{
	char lim[16];
	const char *params[1] = {lim};
	PGresult *res = NULL;
	enum orc_status st;

	*moved = 0;
	snprintf(lim, sizeof(lim), "%d", limit);
	/*
	 * One statement, so atomic by itself: the expired rows go, their
	 * dead letters come (a second one for an offset is a no-op), and
	 * the inbox forgets the event once no parked copy of it is left.
	 */
	st = orc_store_run(store,
			   "WITH gone AS (DELETE FROM %1$s.parked_events WHERE id IN"
			   " (SELECT id FROM %1$s.parked_events WHERE expires_at <="
			   " now() ORDER BY expires_at LIMIT $1::int FOR UPDATE"
			   " SKIP LOCKED) RETURNING *),"
			   " dl AS (INSERT INTO %1$s.dead_letters (" RAW_COLUMNS
			   ", error) SELECT " RAW_COLUMNS ", format('no saga of"
			   " %s for key %s within %s (parked at %s)',"
			   " definition_name, business_key, ttl, parked_at)"
			   " FROM gone ON CONFLICT DO NOTHING),"
			   " ib AS (DELETE FROM %1$s.inbox i USING gone g"
			   " WHERE i.consumer = g.consumer AND i.message_id ="
			   " g.message_id AND NOT EXISTS (SELECT 1 FROM"
			   " %1$s.parked_events p WHERE p.consumer = g.consumer"
			   " AND p.message_id = g.message_id AND p.id NOT IN"
			   " (SELECT id FROM gone)))"
			   " SELECT count(*) FROM gone",
			   1, params, &res, "expiring parked events", err);
	if (st == ORC_OK)
		*moved = orc_store_int(res, 0, 0);
	PQclear(res);
	return st;
}
