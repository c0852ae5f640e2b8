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
	struct orc_pgarray arr;
	const char *params[2] = {consumer, ids_param(&arr, ids, n, err)};
	PGresult *res;
	enum orc_status st;

	if (params[1] == NULL) {
		orc_pgarray_finish(&arr);
		return ORC_FATAL;
	}
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
	orc_pgarray_finish(&arr);
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
 * Insert dl whole; *id its row (the one there before, after a replay).
 * *refused: the failure is the database's answer to the statement.
 */
static enum orc_status
insert_whole(struct orc_store *store, const struct orc_dead_letter *dl,
	     int64_t *id, bool *refused, struct orc_error *err)
{
	char partition[16], offset[24];
	char *headers = headers_readable(dl->headers, dl->n_headers);
	struct orc_strbuf names, values;
	const char *params[10];
	int lengths[10] = {0}, formats[10] = {0};
	PGresult *res = NULL;
	enum orc_status st;

	orc_strbuf_init(&names);
	orc_strbuf_init(&values);
	bytea_array(&names, dl->headers, dl->n_headers, false);
	bytea_array(&values, dl->headers, dl->n_headers, true);
	if (headers == NULL || names.oom || values.oom) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	snprintf(partition, sizeof(partition), "%d", (int)dl->partition);
	snprintf(offset, sizeof(offset), "%lld", (long long)dl->offset);
	params[0] = dl->consumer;
	params[1] = dl->topic;
	params[2] = partition;
	params[3] = offset;
	params[4] = dl->key;
	lengths[4] = (int)dl->key_len;
	formats[4] = 1;
	params[5] = headers;
	params[6] = names.data;
	lengths[6] = (int)names.len;
	formats[6] = 1;
	params[7] = values.data;
	lengths[7] = (int)values.len;
	formats[7] = 1;
	params[8] = dl->payload;
	lengths[8] = (int)dl->payload_len;
	formats[8] = 1;
	params[9] = dl->error;
	st = orc_store_query(store,
			     "WITH ins AS (INSERT INTO %1$s.dead_letters (consumer,"
			     " topic, partition, \"offset\", key, headers,"
			     " header_names, header_values, payload, error)"
			     " VALUES ($1, $2, $3::int, $4::bigint, $5::bytea,"
			     " $6::jsonb, $7::bytea[], $8::bytea[], $9::bytea, $10)"
			     " ON CONFLICT DO NOTHING RETURNING id)" DEAD_LETTER_ID,
			     10, params, lengths, formats, ORC_STORE_PREPARE, &res,
			     "writing dead letter", err);
	*refused = st != ORC_OK;
	if (st == ORC_OK)
		*id = PQntuples(res) > 0 ? orc_store_int(res, 0, 0) : 0;
	PQclear(res);
done:
	free(headers);
	orc_strbuf_finish(&names);
	orc_strbuf_finish(&values);
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
