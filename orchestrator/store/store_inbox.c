/*
 * store_inbox.c - what came in: the inbox of applied event ids, and the
 * dead letters of events that could not be applied.
 *
 * The inbox makes applying idempotent: an event id is claimed in the same
 * transaction that applies it, so a redelivered event finds its id taken
 * and changes nothing.  A batch's ids travel as one text array; the claim
 * is one statement whatever the batch size.  A dead letter keeps the
 * record's key and payload as bytes (bytea) and its headers as JSON, and
 * is keyed by its position in the topic, so recording it twice (after a
 * replay) is a no-op.
 */
#include "store_saga.h"

#include <stdio.h>
#include <stdlib.h>

#include "pgarray.h"
#include "store_internal.h"

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

static json_t *
headers_json(const struct orc_header *h, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i < n; i++) {
		json_t *v = h[i].value == NULL
				    ? json_null()
				    : json_stringn(h[i].value, h[i].size);

		if (v == NULL) {
			/* not UTF-8: keep the bytes as \x hex, like bytea */
			char *hex = malloc(h[i].size * 2 + 3);

			if (hex != NULL) {
				hex[0] = '\\';
				hex[1] = 'x';
				for (size_t j = 0; j < h[i].size; j++)
					snprintf(hex + 2 + 2 * j, 3, "%02x",
						 ((const unsigned char *)h[i].value)[j]);
				hex[2 + 2 * h[i].size] = '\0';
				v = json_string(hex);
				free(hex);
			}
		}
		json_array_append_new(arr, json_pack("[so]", h[i].name,
						     v ? v : json_null()));
	}
	return arr;
}

enum orc_status
orc_store_dead_letter(struct orc_store *store, const struct orc_dead_letter *dl,
		      struct orc_error *err)
{
	char partition[16], offset[24];
	json_t *hj = headers_json(dl->headers, dl->n_headers);
	char *headers = hj ? json_dumps(hj, JSON_COMPACT) : NULL;
	const char *params[8] = {dl->consumer, dl->topic, partition, offset,
				 dl->key, headers, dl->payload, dl->error};
	int lengths[8] = {0, 0, 0, 0, (int)dl->key_len, 0,
			  (int)dl->payload_len, 0};
	int formats[8] = {0, 0, 0, 0, 1, 0, 1, 0};
	enum orc_status st;

	json_decref(hj);
	if (headers == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	snprintf(partition, sizeof(partition), "%d", (int)dl->partition);
	snprintf(offset, sizeof(offset), "%lld", (long long)dl->offset);
	st = orc_store_query(store,
			     "INSERT INTO %1$s.dead_letters (consumer, topic,"
			     " partition, \"offset\", key, headers, payload, error)"
			     " VALUES ($1, $2, $3::int, $4::bigint, $5::bytea,"
			     " $6::jsonb, $7::bytea, $8) ON CONFLICT DO NOTHING",
			     8, params, lengths, formats, ORC_STORE_PREPARE,
			     NULL, "writing dead letter", err);
	free(headers);
	return st;
}
