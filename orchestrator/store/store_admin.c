/*
 * store_admin.c - the operator's read queries: sagas, history, dead letters.
 *
 * The server builds each row as JSON (json_build_object), already in the
 * shape the commands print, and we parse it with jansson: one place says
 * what a saga looks like to an operator, and times are formatted once, in
 * SQL, as ISO-8601 UTC.  Every query is parameterised; the only text
 * spliced in is the quoted schema name.  User input (ids, statuses) is
 * checked before it reaches the server, so a typo gets a plain message
 * instead of a SQLSTATE.
 *
 * Nothing here is on the hot path; queries favour clarity over speed (the
 * list is a sort of the matching sagas, there is no index on created_at).
 * One text from a user does reach the server as SQL, on purpose: the
 * predicate of `dead-letters replay --where` and of an operator action's
 * `--where`, run in a read-only transaction, apart from the schema
 * expansion (an action re-checks it under the saga's lock, in a savepoint
 * that is rolled back).
 */
#include "store_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "pgarray.h"
#include "store_internal.h"
#include "strbuf.h"
#include "text.h"

/* A timestamptz as "2026-11-27T07:00:00.123Z" (NULL stays NULL). */
#define ISO(col)                                                               \
	"to_char((" col ") AT TIME ZONE 'UTC',"                                \
	" 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
/* An interval in whole milliseconds (NULL stays NULL). */
#define MSEC(expr) "(extract(epoch FROM (" expr ")) * 1000)::bigint"

/*
 * A started map step's counters (as the view map_steps has them), null
 * for any other step.
 */
#define MAP_JSON                                                               \
	"CASE WHEN st.map_items IS NOT NULL THEN json_build_object("           \
	" 'items', st.map_items, 'concurrency', st.map_concurrency,"           \
	" 'min_success', st.map_min_success,"                                  \
	" 'started', coalesce(st.map_started, 0),"                             \
	" 'succeeded', coalesce(st.map_succeeded, 0),"                         \
	" 'failed', coalesce(st.map_failed, 0),"                               \
	" 'compensated', coalesce(st.map_compensated, 0),"                     \
	" 'in_flight', coalesce(st.map_started, 0)"                            \
	" - coalesce(st.map_succeeded, 0) - coalesce(st.map_failed, 0)) END"

/*
 * The sagas under saga s (its children, theirs, ...: saga_tree() of
 * migration 018 without s itself) as a flat array in tree order: each
 * child right after its parent, siblings by start, with its depth (1 for
 * s's own children) and the parent's step that started it.
 */
#define CHILDREN_JSON                                                          \
	"(SELECT coalesce(json_agg(json_build_object('depth', c.depth,"        \
	" 'id', c.id, 'parent_id', c.parent_id, 'parent_step', c.parent_step," \
	" 'definition_name', c.definition_name,"                               \
	" 'definition_version', c.definition_version,"                         \
	" 'business_key', c.business_key, 'status', c.status,"                 \
	" 'failure', c.failure, 'created_at', " ISO("c.created_at") ","        \
	" 'finished_at', " ISO("c.finished_at") ") ORDER BY c.path),"          \
	" '[]'::json)"                                                         \
	" FROM (WITH RECURSIVE t AS (SELECT * FROM %1$s.saga_tree(s.id)),"     \
	"  o AS (SELECT t.*, ARRAY[]::text[] AS path FROM t WHERE t.depth = 0" \
	"  UNION ALL SELECT t.*, o.path || (to_char(t.created_at AT TIME ZONE" \
	"  'UTC', 'YYYYMMDDHH24MISSUS') || t.id::text)"                        \
	"  FROM o JOIN t ON t.parent_id = o.id AND t.depth = o.depth + 1)"     \
	"  SELECT * FROM o WHERE o.depth > 0) c)"

/*
 * A step of the definition (ds) and its row (st), either of them missing:
 * a step without a row has not started (pending).
 */
#define STEP_JSON                                                              \
	"json_build_object('name', coalesce(st.step_name, ds.name),"           \
	" 'index', coalesce(st.step_index, ds.idx),"                           \
	" 'status', coalesce(st.status, 'pending'),"                           \
	" 'attempt', coalesce(st.attempt, 0),"                                 \
	" 'compensation_attempt', coalesce(st.compensation_attempt, 0),"       \
	" 'started_at', " ISO("st.started_at") ","                             \
	" 'finished_at', " ISO("st.finished_at") ","                           \
	" 'wake_at', " ISO("st.wake_at") ", 'wake_reason', st.wake_reason,"    \
	" 'last_error', st.last_error, 'map', " MAP_JSON ")"

/* The columns of a saga row every saga object has. */
#define SAGA_FIELDS                                                            \
	"'id', s.id, 'definition_name', s.definition_name,"                    \
	" 'definition_version', s.definition_version,"                         \
	" 'business_key', s.business_key, 'status', s.status,"                 \
	" 'failing_reason', s.failing_reason, 'failure', s.failure,"           \
	" 'created_at', " ISO("s.created_at") ","                              \
	" 'updated_at', " ISO("s.updated_at") ","                              \
	" 'finished_at', " ISO("s.finished_at") ","                            \
	" 'paused_at', " ISO("s.paused_at") ","                                \
	" 'age_ms', " MSEC("now() - s.created_at")

#define SAGA_JSON                                                              \
	"json_build_object(" SAGA_FIELDS ","                                   \
	" 'deadline_at', " ISO("s.deadline_at") ","                            \
	" 'wake_at', " ISO("s.wake_at") ","                                    \
	" 'duration_ms', " MSEC("s.finished_at - s.created_at") ","            \
	" 'parent_id', s.parent_id, 'parent_step', s.parent_step,"             \
	" 'parent_status', (SELECT p.status FROM %1$s.sagas p"                 \
	"  WHERE p.id = s.parent_id), 'children', " CHILDREN_JSON ","          \
	" 'context', %1$s.saga_context(s), 'output', s.output,"               \
	" 'steps', (SELECT coalesce(json_agg(" STEP_JSON                       \
	" ORDER BY coalesce(st.step_index, ds.idx)), '[]'::json)"              \
	" FROM (SELECT e.def ->> 'name' AS name, (e.n - 1)::int AS idx"        \
	"  FROM %1$s.saga_definitions d, jsonb_array_elements(CASE WHEN"       \
	"  jsonb_typeof(d.body -> 'steps') = 'array' THEN d.body -> 'steps'"   \
	"  ELSE '[]' END) WITH ORDINALITY AS e(def, n)"                        \
	"  WHERE d.name = s.definition_name"                                   \
	"  AND d.version = s.definition_version) ds"                           \
	" FULL JOIN (SELECT * FROM %1$s.saga_steps WHERE saga_id = s.id) st"   \
	" ON st.step_name = ds.name))::text"

/*
 * Every query here answers one JSON object per row, in column ROW_JSON;
 * the listings add the number of matching rows before their LIMIT as
 * ROW_TOTAL, and a dead letter its key and payload bytes.
 */
enum { ROW_JSON, ROW_TOTAL };
enum { DL_JSON = ROW_JSON, DL_KEY, DL_PAYLOAD, DL_HAS_ARRAYS, DL_ID };

/*
 * Run fmt (schema as "%1$s") with params[0..n) as text; rows come back as
 * text, or as raw bytes with ORC_STORE_BINARY in flags.  *out is the
 * result to PQclear() on ORC_OK.  Operator queries are rare: not
 * prepared.
 */
static enum orc_status
query(struct orc_store *store, const char *fmt, int n,
      const char *const *params, unsigned flags, PGresult **out,
      const char *what, struct orc_error *err)
{
	return orc_store_query(store, fmt, n, params, NULL, NULL, flags, out,
			       what, err);
}

/* The JSON text in row r, column c, parsed: new, or NULL with err set. */
static json_t *
json_at(const PGresult *res, int r, int c, struct orc_error *err)
{
	json_error_t jerr;
	json_t *v = json_loadb(PQgetvalue(res, r, c),
			       (size_t)PQgetlength(res, r, c), 0, &jerr);

	if (v == NULL)
		orc_error_set(err, ORC_FATAL,
			      "unexpected JSON from the server: %s", jerr.text);
	return v;
}

/* Every row's object parsed into a new array; NULL with err set. */
static json_t *
rows_to_array(const PGresult *res, struct orc_error *err)
{
	json_t *arr = json_array();

	if (arr == NULL) {
		orc_error_set(err, ORC_FATAL, "out of memory");
		return NULL;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		json_t *v;

		if (PQgetisnull(res, r, ROW_JSON))
			continue;
		v = json_at(res, r, ROW_JSON, err);
		if (v == NULL || json_array_append_new(arr, v) != 0) {
			if (v != NULL)
				orc_error_set(err, ORC_FATAL, "out of memory");
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

enum orc_status
orc_store_admin_check_id(const char *id, struct orc_error *err)
{
	if (orc_text_uuid_valid(id))
		return ORC_OK;
	orc_error_set(err, ORC_INVALID, "invalid saga id \"%s\"", id ? id : "");
	orc_error_detail(err, "A saga id is a UUID, e.g. "
			      "5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e.");
	return ORC_INVALID;
}

/*
 * Run sql (schema as "%1$s") with the one parameter $1, the saga id (which
 * is checked first), and parse its rows: the first into *out, or all of
 * them into an array when many.  No row at all is ORC_NOT_FOUND.
 */
static enum orc_status
saga_query(struct orc_store *store, const char *id, const char *sql,
	   bool many, json_t **out, const char *what, struct orc_error *err)
{
	const char *params[1] = {id};
	PGresult *res;
	enum orc_status st;

	*out = NULL;
	st = orc_store_admin_check_id(id, err);
	if (st != ORC_OK)
		return st;
	st = query(store, sql, 1, params, 0, &res, what, err);
	if (st != ORC_OK)
		return st;
	if (PQntuples(res) == 0)
		st = orc_error_set(err, ORC_NOT_FOUND, "saga %s does not exist",
				   id);
	else if ((*out = many ? rows_to_array(res, err)
			      : json_at(res, 0, ROW_JSON, err)) == NULL)
		st = ORC_FATAL;
	PQclear(res);
	return st;
}

enum orc_status
orc_store_admin_saga(struct orc_store *store, const char *id, json_t **out,
		     struct orc_error *err)
{
	return saga_query(store, id,
			  "SELECT " SAGA_JSON " FROM %1$s.sagas s"
			  " WHERE s.id = $1::uuid",
			  false, out, "reading saga", err);
}

enum orc_status
orc_store_admin_sagas_by_key(struct orc_store *store, const char *key,
			     const char *definition, json_t **out,
			     struct orc_error *err)
{
	const char *params[2] = {key, definition};
	PGresult *res;
	enum orc_status st;

	*out = NULL;
	st = query(store, "SELECT " SAGA_JSON " FROM %1$s.sagas s"
			  " WHERE s.business_key = $1"
			  " AND ($2::text IS NULL OR s.definition_name = $2)"
			  " ORDER BY s.created_at DESC, s.id",
		   2, params, 0, &res, "reading sagas", err);
	if (st != ORC_OK)
		return st;
	if (PQntuples(res) == 0) {
		if (definition != NULL)
			st = orc_error_set(err, ORC_NOT_FOUND,
					   "no saga of definition \"%s\" has "
					   "business key \"%s\"",
					   definition, key);
		else
			st = orc_error_set(err, ORC_NOT_FOUND,
					   "no saga has business key \"%s\"",
					   key);
	} else if ((*out = rows_to_array(res, err)) == NULL) {
		st = ORC_FATAL;
	}
	PQclear(res);
	return st;
}

/*
 * Check statuses[0..n) and append them to arr; ORC_INVALID for one that is
 * not a saga status.
 */
static enum orc_status
status_array(struct orc_pgarray *arr, const char *const *statuses, size_t n,
	     struct orc_error *err)
{
	for (size_t i = 0; i < n; i++) {
		enum orc_saga_status s;

		if (!orc_saga_status_parse(statuses[i], &s)) {
			orc_error_set(err, ORC_INVALID,
				      "invalid saga status \"%s\"", statuses[i]);
			orc_error_detail(err, "A status is one of running, "
					      "completed, compensating, "
					      "compensated, failed, stuck, "
					      "cancelled, timed_out.");
			return ORC_INVALID;
		}
		orc_pgarray_text(arr, statuses[i]);
	}
	return ORC_OK;
}

/* The total of a listing, from its first row (0 without rows). */
static size_t
total_of(const PGresult *res)
{
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, ROW_TOTAL))
		return 0;
	return (size_t)strtoull(PQgetvalue(res, 0, ROW_TOTAL), NULL, 10);
}

/*
 * A listing's rows parsed into *out (new), and its total into *total when
 * that is not NULL.  Clears res.
 */
static enum orc_status
read_listing(PGresult *res, json_t **out, size_t *total,
	     struct orc_error *err)
{
	enum orc_status st = ORC_OK;

	*out = rows_to_array(res, err);
	if (*out == NULL)
		st = ORC_FATAL;
	else if (total != NULL)
		*total = total_of(res);
	PQclear(res);
	return st;
}

enum orc_status
orc_store_admin_list(struct orc_store *store,
		     const struct orc_admin_list_filter *f, json_t **out,
		     size_t *total, struct orc_error *err)
{
	char older[24], newer[24], limit[16];
	const char *params[5] = {f->definition, NULL, NULL, NULL, limit};
	struct orc_pgarray statuses;
	PGresult *res;
	enum orc_status st = ORC_OK;

	*out = NULL;
	if (total != NULL)
		*total = 0;
	orc_pgarray_init(&statuses);
	if (f->n_statuses > 0) {
		st = status_array(&statuses, f->statuses, f->n_statuses, err);
		if (st == ORC_OK) {
			params[1] = orc_pgarray_done(&statuses);
			if (params[1] == NULL)
				st = orc_error_set(err, ORC_FATAL,
						   "out of memory");
		}
		if (st != ORC_OK) {
			orc_pgarray_finish(&statuses);
			return st;
		}
	}
	if (f->older_than_ms > 0) {
		snprintf(older, sizeof(older), "%lld",
			 (long long)f->older_than_ms);
		params[2] = older;
	}
	if (f->newer_than_ms > 0) {
		snprintf(newer, sizeof(newer), "%lld",
			 (long long)f->newer_than_ms);
		params[3] = newer;
	}
	snprintf(limit, sizeof(limit), "%d",
		 f->limit > 0 ? f->limit : ORC_ADMIN_DEFAULT_LIMIT);
	/* count before the limit, JSON only for the rows shown */
	st = query(store,
		   "SELECT json_build_object(" SAGA_FIELDS ")::text, s.total"
		   " FROM (SELECT *, count(*) OVER () AS total FROM %1$s.sagas"
		   "  WHERE ($1::text IS NULL OR definition_name = $1)"
		   "  AND ($2::text[] IS NULL OR status = ANY ($2::text[]))"
		   "  AND ($3::bigint IS NULL OR"
		   "       created_at <= now() - $3::bigint * interval '1 ms')"
		   "  AND ($4::bigint IS NULL OR"
		   "       created_at >= now() - $4::bigint * interval '1 ms')"
		   "  ORDER BY created_at DESC, id LIMIT $5::int) s"
		   " ORDER BY s.created_at DESC, s.id",
		   5, params, 0, &res, "listing sagas", err);
	orc_pgarray_finish(&statuses);
	if (st != ORC_OK)
		return st;
	return read_listing(res, out, total, err);
}

enum orc_status
orc_store_admin_history(struct orc_store *store, const char *id, json_t **out,
			struct orc_error *err)
{
	/* one row with NULLs for a saga without history, none without saga */
	return saga_query(store, id,
			  "SELECT CASE WHEN h.id IS NOT NULL THEN json_build_object("
			  " 'id', h.id, 'at', " ISO("h.at") ", 'kind', h.kind,"
			  " 'step', h.step_name, 'event_id', h.event_id,"
			  " 'detail', h.detail)::text END"
			  " FROM %1$s.sagas s"
			  " LEFT JOIN %1$s.saga_history h ON h.saga_id = s.id"
			  " WHERE s.id = $1::uuid ORDER BY h.id, h.n",
			  true, out, "reading saga history", err);
}

#define DEAD_LETTER_FIELDS                                                     \
	"'id', d.id, 'consumer', d.consumer, 'topic', d.topic,"                \
	" 'partition', d.partition, 'offset', d.\"offset\", 'error', d.error," \
	" 'created_at', " ISO("d.created_at") ","                              \
	" 'replayed_at', " ISO("d.replayed_at")

enum orc_status
orc_store_admin_dead_letters(struct orc_store *store, bool unreplayed_only,
			     int limit, json_t **out, size_t *total,
			     struct orc_error *err)
{
	char lim[16];
	const char *params[2] = {unreplayed_only ? "true" : "false", lim};
	PGresult *res;
	enum orc_status st;

	*out = NULL;
	if (total != NULL)
		*total = 0;
	snprintf(lim, sizeof(lim), "%d",
		 limit > 0 ? limit : ORC_ADMIN_DEFAULT_LIMIT);
	st = query(store,
		   "SELECT json_build_object(" DEAD_LETTER_FIELDS ")::text,"
		   " d.total FROM (SELECT *, count(*) OVER () AS total"
		   "  FROM %1$s.dead_letters"
		   "  WHERE NOT $1::bool OR replayed_at IS NULL"
		   "  ORDER BY id DESC LIMIT $2::int) d ORDER BY d.id DESC",
		   2, params, 0, &res, "listing dead letters", err);
	if (st != ORC_OK)
		return st;
	return read_listing(res, out, total, err);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A stored header value's bytes: the string, or the bytes of "\x<hex>"
 * (how the worker keeps values that were not UTF-8).  Writes them to dst
 * when not NULL; returns their number.
 */
static size_t
header_value(const char *s, size_t len, char *dst)
{
	bool hex = len >= 2 && len % 2 == 0 && s[0] == '\\' && s[1] == 'x';

	for (size_t i = 2; hex && i < len; i++)
		hex = hexval(s[i]) >= 0;
	if (!hex) {
		if (dst != NULL)
			memcpy(dst, s, len);
		return len;
	}
	if (dst != NULL)
		for (size_t i = 2; i < len; i += 2)
			*dst++ = (char)(hexval(s[i]) * 16 + hexval(s[i + 1]));
	return (len - 2) / 2;
}

/* Decode info's "headers" into dl->headers, pointing into one buffer. */
static enum orc_status
decode_headers(struct orc_admin_dead_letter *dl, struct orc_error *err)
{
	json_t *arr = json_object_get(dl->info, "headers"), *h;
	size_t i, size = 0, n = json_array_size(arr);
	char *p;

	json_array_foreach(arr, i, h) {
		json_t *v = json_array_get(h, 1);

		if (!json_is_string(json_array_get(h, 0)) ||
		    !(json_is_string(v) || json_is_null(v)))
			/* stored data, not user input: not ORC_INVALID */
			return orc_error_set(err, ORC_FATAL,
					     "dead letter %lld: header %zu is "
					     "not a [name, value] pair",
					     (long long)dl->id, i);
		size += strlen(json_string_value(json_array_get(h, 0))) + 1;
		if (json_is_string(v))
			size += header_value(json_string_value(v),
					     json_string_length(v), NULL) + 1;
	}
	dl->headers = calloc(n ? n : 1, sizeof(*dl->headers));
	dl->header_bytes = malloc(size ? size : 1);
	if (dl->headers == NULL || dl->header_bytes == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	p = dl->header_bytes;
	json_array_foreach(arr, i, h) {
		const char *name = json_string_value(json_array_get(h, 0));
		json_t *v = json_array_get(h, 1);
		struct orc_header *out = &dl->headers[i];

		out->name = p;
		strcpy(p, name);
		p += strlen(name) + 1;
		if (json_is_string(v)) {
			out->value = p;
			out->size = header_value(json_string_value(v),
						 json_string_length(v), p);
			p += out->size;
			*p++ = '\0';
		}
	}
	dl->n_headers = n;
	return ORC_OK;
}

/*
 * dl's headers from rows [r0, r1) of res (binary; the name in column
 * HDR_NAME, the value in HDR_VALUE, every one, the bytes as received, in
 * order) into dl->headers, pointing into one buffer.
 */
enum { HDR_ID, HDR_NAME, HDR_VALUE };

static enum orc_status
fill_headers(const PGresult *res, int r0, int r1,
	     struct orc_admin_dead_letter *dl, struct orc_error *err)
{
	size_t size = 0, n = (size_t)(r1 - r0);
	char *p;

	for (int r = r0; r < r1; r++)
		size += (size_t)PQgetlength(res, r, HDR_NAME) + 1 +
			(size_t)PQgetlength(res, r, HDR_VALUE) + 1;
	dl->headers = calloc(n ? n : 1, sizeof(*dl->headers));
	dl->header_bytes = malloc(size ? size : 1);
	if (dl->headers == NULL || dl->header_bytes == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	p = dl->header_bytes;
	for (int r = r0; r < r1; r++) {
		struct orc_header *h = &dl->headers[r - r0];
		size_t len = (size_t)PQgetlength(res, r, HDR_NAME);

		/* librdkafka's names end at a NUL: none is inside one */
		memcpy(p, PQgetvalue(res, r, HDR_NAME), len);
		p[len] = '\0';
		h->name = p;
		p += len + 1;
		if (PQgetisnull(res, r, HDR_VALUE))
			continue;
		h->size = (size_t)PQgetlength(res, r, HDR_VALUE);
		memcpy(p, PQgetvalue(res, r, HDR_VALUE), h->size);
		p[h->size] = '\0';
		h->value = p;
		p += h->size + 1;
	}
	dl->n_headers = n;
	return ORC_OK;
}

/* A copy of column c of row r (binary) into *dst; NULL stays NULL. */
static enum orc_status
copy_bytes(const PGresult *res, int r, int c, unsigned char **dst,
	   size_t *len, struct orc_error *err)
{
	if (PQgetisnull(res, r, c))
		return ORC_OK;
	*len = (size_t)PQgetlength(res, r, c);
	*dst = malloc(*len ? *len : 1);
	if (*dst == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	memcpy(*dst, PQgetvalue(res, r, c), *len);
	return ORC_OK;
}

/* The bytes as a JSON string when they are UTF-8, else JSON null. */
static json_t *
text_or_null(const unsigned char *b, size_t len)
{
	json_t *v = b ? json_stringn((const char *)b, len) : NULL;

	return v ? v : json_null();
}

/*
 * The index, from *from on, of the dead letter of out[0..n) with id that
 * is still to be filled: not read yet, or, when read is true, read but
 * without its headers; n when none.  Rows come in the order of the ids,
 * so the search moves forward only.
 */
static size_t
slot_of(struct orc_admin_dead_letter *out, size_t n, size_t *from,
	int64_t id, bool read)
{
	for (size_t j = *from; j < n; j++)
		if (out[j].id == id &&
		    (read ? out[j].info != NULL && out[j].headers == NULL
			  : out[j].info == NULL)) {
			*from = j + 1;
			return j;
		}
	return n;
}

/* Row r of the dead letters' select into dl, all but the header arrays. */
static enum orc_status
fill_dead_letter(const PGresult *res, int r, struct orc_admin_dead_letter *dl,
		 struct orc_error *err)
{
	enum orc_status st;

	dl->info = json_at(res, r, DL_JSON, err);
	if (dl->info == NULL)
		return ORC_FATAL;
	dl->topic = json_string_value(json_object_get(dl->info, "topic"));
	st = copy_bytes(res, r, DL_KEY, &dl->key, &dl->key_len, err);
	if (st == ORC_OK)
		st = copy_bytes(res, r, DL_PAYLOAD, &dl->payload,
				&dl->payload_len, err);
	/* older rows keep their headers as JSON only */
	if (st == ORC_OK && PQgetvalue(res, r, DL_HAS_ARRAYS)[0] == 0)
		st = decode_headers(dl, err);
	if (st == ORC_OK &&
	    (json_object_set_new(dl->info, "key",
				 text_or_null(dl->key, dl->key_len)) != 0 ||
	     json_object_set_new(dl->info, "payload",
				 text_or_null(dl->payload,
					      dl->payload_len)) != 0))
		st = orc_error_set(err, ORC_FATAL, "out of memory");
	return st;
}

enum orc_status
orc_store_admin_dead_letters_read(struct orc_store *store, const int64_t *ids,
				  size_t n, struct orc_admin_dead_letter *out,
				  struct orc_error *err)
{
	struct orc_pgarray arr;
	const char *params[1];
	PGresult *res = NULL;
	enum orc_status st = ORC_OK;
	size_t from = 0, j;

	memset(out, 0, n * sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i].id = ids[i];
	orc_pgarray_init(&arr);
	for (size_t i = 0; i < n; i++)
		orc_pgarray_int(&arr, ids[i]);
	params[0] = orc_pgarray_done(&arr);
	if (params[0] == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	/* binary results: key and payload come back as their bytes */
	st = query(store,
		   "SELECT json_build_object(" DEAD_LETTER_FIELDS ","
		   " 'headers', d.headers, 'key_size', octet_length(d.key),"
		   " 'payload_size', octet_length(d.payload))::text,"
		   " d.key, d.payload, d.header_names IS NOT NULL, d.id::text"
		   " FROM unnest($1::bigint[]) WITH ORDINALITY AS u(id, i)"
		   " JOIN %1$s.dead_letters d ON d.id = u.id ORDER BY u.i",
		   1, params, ORC_STORE_BINARY, &res, "reading dead letters",
		   err);
	for (int r = 0; st == ORC_OK && r < PQntuples(res); r++) {
		int64_t id = strtoll(PQgetvalue(res, r, DL_ID), NULL, 10);

		j = slot_of(out, n, &from, id, false);
		st = j < n ? fill_dead_letter(res, r, &out[j], err)
			   : orc_error_set(err, ORC_FATAL,
					   "unexpected dead letter %lld",
					   (long long)id);
	}
	PQclear(res);
	res = NULL;
	if (st != ORC_OK)
		goto done;
	/* the headers of every one that has them as bytes, in order */
	st = query(store,
		   "SELECT d.id::text, h.name, h.value"
		   " FROM unnest($1::bigint[]) WITH ORDINALITY AS u(id, i)"
		   " JOIN %1$s.dead_letters d ON d.id = u.id,"
		   " unnest(d.header_names, d.header_values) WITH ORDINALITY"
		   " AS h(name, value, p) ORDER BY u.i, h.p",
		   1, params, ORC_STORE_BINARY, &res,
		   "reading dead letter headers", err);
	from = 0;
	for (int r0 = 0, r1; st == ORC_OK && r0 < PQntuples(res); r0 = r1) {
		const char *id = PQgetvalue(res, r0, HDR_ID);

		for (r1 = r0 + 1; r1 < PQntuples(res) &&
				  strcmp(PQgetvalue(res, r1, HDR_ID), id) == 0;
		     r1++)
			;
		j = slot_of(out, n, &from, strtoll(id, NULL, 10), true);
		st = j < n ? fill_headers(res, r0, r1, &out[j], err)
			   : orc_error_set(err, ORC_FATAL,
					   "unexpected headers of dead letter "
					   "%s", id);
	}
	/* what is left read has no headers at all */
	for (j = 0; st == ORC_OK && j < n; j++)
		if (out[j].info != NULL && out[j].headers == NULL)
			st = fill_headers(res, 0, 0, &out[j], err);
done:
	PQclear(res);
	orc_pgarray_finish(&arr);
	if (st != ORC_OK)
		for (j = 0; j < n; j++)
			orc_admin_dead_letter_finish(&out[j]);
	return st;
}

enum orc_status
orc_store_admin_dead_letter(struct orc_store *store, int64_t id,
			    struct orc_admin_dead_letter *out,
			    struct orc_error *err)
{
	enum orc_status st = orc_store_admin_dead_letters_read(store, &id, 1,
							       out, err);

	if (st == ORC_OK && out->info == NULL) {
		orc_admin_dead_letter_finish(out);
		st = orc_error_set(err, ORC_NOT_FOUND,
				   "dead letter %lld does not exist",
				   (long long)id);
	}
	return st;
}

void
orc_admin_dead_letter_finish(struct orc_admin_dead_letter *dl)
{
	if (dl == NULL)
		return;
	json_decref(dl->info);
	free(dl->key);
	free(dl->payload);
	free(dl->headers);
	free(dl->header_bytes);
	memset(dl, 0, sizeof(*dl));
}

/*
 * The select of orc_store_admin_dead_letters_where(), around the
 * predicate: the schema is expanded in these two parts only, so that a
 * "%1$s" in the operator's text stays as written.  The predicate stands on
 * lines of its own, so a "--" comment in it ends with it.
 */
static const char where_head[] =
	"SELECT json_build_object(" DEAD_LETTER_FIELDS ")::text"
	" FROM (SELECT * FROM %1$s.dead_letters WHERE (\n";
static const char where_tail[] =
	"\n)) d WHERE $1::bool OR d.replayed_at IS NULL"
	" ORDER BY d.id LIMIT nullif($2::int, 0)";

/* head, the predicate, tail: new (free()), or NULL. */
static char *
predicate_sql(const struct orc_store *store, const char *head,
	      const char *predicate, const char *tail)
{
	struct orc_strbuf sb;
	char *h = orc_store_sql(store, head);

	if (h == NULL)
		return NULL;
	orc_strbuf_init(&sb);
	orc_strbuf_puts(&sb, h);
	orc_strbuf_puts(&sb, predicate);
	orc_strbuf_puts(&sb, tail);
	free(h);
	return orc_strbuf_take(&sb);
}

/* "SET LOCAL search_path TO <schema>, pg_catalog": new, or NULL. */
static char *
local_search_path(const struct orc_store *store)
{
	struct orc_strbuf sb;

	orc_strbuf_init(&sb);
	orc_strbuf_printf(&sb, "SET LOCAL search_path TO %s, pg_catalog",
			  store->schema_quoted);
	return orc_strbuf_take(&sb);
}

/*
 * A failed select with the operator's predicate over table, mapped: a lost
 * connection stays ORC_TRANSIENT; anything else the server refused is the
 * predicate's fault, ORC_INVALID naming it.
 */
static enum orc_status
predicate_failed(struct orc_store *store, const PGresult *res,
		 const char *predicate, const char *table,
		 struct orc_error *err)
{
	enum orc_status st = orc_store_fail(store, res, "selecting by predicate",
					    err);
	const char *msg, *state;

	if (st == ORC_TRANSIENT)
		return st;
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	orc_error_set(err, ORC_INVALID, "invalid predicate \"%s\": %s",
		      predicate, msg ? msg : "refused by the server");
	orc_error_detail(err, "sqlstate=%s; the predicate is run as SELECT ..."
			 " FROM %s WHERE (PREDICATE) in a read-only"
			 " transaction", state ? state : "none", table);
	return ORC_INVALID;
}

enum orc_status
orc_store_admin_dead_letters_where(struct orc_store *store,
				   const char *predicate, bool all, int limit,
				   json_t **out, struct orc_error *err)
{
	char lim[16];
	const char *params[2] = {all ? "true" : "false", lim};
	PGresult *res = NULL;
	enum orc_status st;
	char *sql = NULL, *set_path;

	*out = NULL;
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 0);
	set_path = local_search_path(store);
	sql = predicate_sql(store, where_head, predicate, where_tail);
	if (set_path == NULL || sql == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	st = orc_store_exec(store, "BEGIN READ ONLY", err);
	if (st != ORC_OK)
		goto done;
	st = orc_store_exec(store, set_path, err);
	/* a failure here is the schema's, not the predicate's */
	if (st == ORC_OK)
		st = query(store, "SELECT FROM %1$s.dead_letters LIMIT 1", 0,
			   NULL, 0, NULL, "reading dead letters", err);
	if (st == ORC_OK) {
		/* one statement only: the extended protocol refuses a second */
		res = PQexecParams(store->conn, sql, 2, NULL, params, NULL,
				   NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			st = predicate_failed(store, res, predicate,
					      "dead_letters", err);
	}
	if (st == ORC_OK) {
		*out = rows_to_array(res, err);
		st = *out ? ORC_OK : ORC_FATAL;
	}
	/* nothing to keep: a rollback ends it either way */
	if (orc_store_connected(store))
		orc_store_exec(store, "ROLLBACK", NULL);
done:
	PQclear(res);
	free(sql);
	free(set_path);
	return st;
}

enum orc_status
orc_store_admin_record_replays(struct orc_store *store,
			       struct orc_admin_replay *replays, size_t n,
			       const char *by, size_t *marked, char at[32],
			       struct orc_error *err)
{
	struct orc_pgarray ids, parts, offs, payloads;
	const char *params[5];
	PGresult *res = NULL;
	enum orc_status st;

	*marked = 0;
	if (at != NULL)
		at[0] = '\0';
	if (n == 0)
		return ORC_OK;
	orc_pgarray_init(&ids);
	orc_pgarray_init(&parts);
	orc_pgarray_init(&offs);
	orc_pgarray_init(&payloads);
	for (size_t i = 0; i < n; i++) {
		replays[i].marked = false;
		orc_pgarray_int(&ids, replays[i].dead_letter_id);
		orc_pgarray_int(&parts, replays[i].partition);
		orc_pgarray_int(&offs, replays[i].offset);
		orc_pgarray_text(&payloads, replays[i].payload);
	}
	params[0] = orc_pgarray_done(&ids);
	params[1] = orc_pgarray_done(&parts);
	params[2] = orc_pgarray_done(&offs);
	params[3] = orc_pgarray_done(&payloads);
	params[4] = by;
	if (!params[0] || !params[1] || !params[2] || !params[3]) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	st = query(store,
		   "WITH r AS (INSERT INTO %1$s.dead_letter_replays"
		   "  (dead_letter_id, replayed_by, topic, partition,"
		   "   \"offset\", corrected, payload, payload_sha256)"
		   " SELECT d.id, $5, d.topic, u.part, u.off,"
		   "  u.payload IS NOT NULL, convert_to(u.payload, 'UTF8'),"
		   "  sha256(coalesce(convert_to(u.payload, 'UTF8'),"
		   "   d.payload))"
		   " FROM unnest($1::bigint[], $2::int[], $3::bigint[],"
		   "  $4::text[]) AS u(id, part, off, payload)"
		   " JOIN %1$s.dead_letters d ON d.id = u.id"
		   " RETURNING dead_letter_id, replayed_at)"
		   " UPDATE %1$s.dead_letters d SET replayed_at = r.replayed_at"
		   " FROM r WHERE d.id = r.dead_letter_id"
		   " RETURNING " ISO("d.replayed_at") ", d.id",
		   5, params, 0, &res, "recording dead letter replays", err);
	if (st != ORC_OK)
		goto done;
	*marked = (size_t)PQntuples(res);
	if (at != NULL && *marked > 0)
		snprintf(at, 32, "%s", PQgetvalue(res, 0, 0));
	for (int r = 0; r < PQntuples(res); r++) {
		int64_t id = orc_store_int(res, r, 1);

		for (size_t i = 0; i < n; i++)
			if (replays[i].dead_letter_id == id)
				replays[i].marked = true;
	}
done:
	PQclear(res);
	orc_pgarray_finish(&ids);
	orc_pgarray_finish(&parts);
	orc_pgarray_finish(&offs);
	orc_pgarray_finish(&payloads);
	return st;
}

enum orc_status
orc_store_admin_dead_letters_older(struct orc_store *store,
				   int64_t older_than_ms, int64_t *count,
				   struct orc_error *err)
{
	char ms[24];
	const char *params[1] = {ms};
	PGresult *res;
	enum orc_status st;

	*count = 0;
	snprintf(ms, sizeof(ms), "%lld", (long long)older_than_ms);
	st = query(store,
		   "SELECT count(*) FROM %1$s.dead_letters WHERE created_at"
		   " < now() - $1::bigint * interval '1 millisecond'",
		   1, params, 0, &res, "counting dead letters", err);
	if (st != ORC_OK)
		return st;
	*count = orc_store_int(res, 0, 0);
	PQclear(res);
	return ORC_OK;
}

/*
 * The select of orc_store_admin_sagas_where() around the operator's
 * predicate, built as the dead letters' is (where_head): the schema is
 * expanded in the parts around it only, and it stands on lines of its own.
 */
static const char sagas_where_head[] =
	"SELECT json_build_object('id', s.id,"
	" 'definition_name', s.definition_name,"
	" 'definition_version', s.definition_version,"
	" 'business_key', s.business_key, 'status', s.status,"
	" 'paused_at', " ISO("s.paused_at") ")::text"
	" FROM (SELECT * FROM %1$s.sagas WHERE (\n";
static const char sagas_where_tail[] = "\n)) s ORDER BY s.id";

/* The re-check of orc_store_admin_saga_matches(), the same way. */
static const char saga_matches_head[] =
	"SELECT EXISTS (SELECT FROM %1$s.sagas WHERE id = $1::uuid AND (\n";
static const char saga_matches_tail[] = "\n))";

enum orc_status
orc_store_admin_sagas_where(struct orc_store *store, const char *predicate,
			    json_t **out, struct orc_error *err)
{
	PGresult *res = NULL;
	enum orc_status st;
	char *sql, *set_path;

	*out = NULL;
	set_path = local_search_path(store);
	sql = predicate_sql(store, sagas_where_head, predicate,
			    sagas_where_tail);
	if (set_path == NULL || sql == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	st = orc_store_exec(store, "BEGIN READ ONLY", err);
	if (st != ORC_OK)
		goto done;
	st = orc_store_exec(store, set_path, err);
	/* a failure here is the schema's, not the predicate's */
	if (st == ORC_OK)
		st = query(store, "SELECT FROM %1$s.sagas LIMIT 1", 0, NULL, 0,
			   NULL, "reading sagas", err);
	if (st == ORC_OK) {
		res = PQexecParams(store->conn, sql, 0, NULL, NULL, NULL, NULL,
				   0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			st = predicate_failed(store, res, predicate, "sagas",
					      err);
	}
	if (st == ORC_OK) {
		*out = rows_to_array(res, err);
		st = *out ? ORC_OK : ORC_FATAL;
	}
	if (orc_store_connected(store))
		orc_store_exec(store, "ROLLBACK", NULL);
done:
	PQclear(res);
	free(sql);
	free(set_path);
	return st;
}

enum orc_status
orc_store_admin_saga_matches(struct orc_store *store, const char *id,
			     const char *predicate, bool *matches,
			     struct orc_error *err)
{
	const char *params[1] = {id};
	PGresult *res = NULL;
	enum orc_status st;
	char *sql, *set_path;

	*matches = false;
	set_path = local_search_path(store);
	sql = predicate_sql(store, saga_matches_head, predicate,
			    saga_matches_tail);
	if (set_path == NULL || sql == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	/*
	 * In a savepoint that is always rolled back: whatever the predicate
	 * might write, and the search_path, are undone, while the locks the
	 * caller took before it are kept.
	 */
	st = orc_store_exec(store, "SAVEPOINT orc_predicate", err);
	if (st != ORC_OK)
		goto done;
	st = orc_store_exec(store, set_path, err);
	if (st == ORC_OK) {
		res = PQexecParams(store->conn, sql, 1, NULL, params, NULL,
				   NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			st = predicate_failed(store, res, predicate, "sagas",
					      err);
		else
			*matches = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	}
	if (orc_store_connected(store)) {
		static const char undo_sql[] =
			"ROLLBACK TO SAVEPOINT orc_predicate;"
			" RELEASE SAVEPOINT orc_predicate";
		struct orc_error uerr = {0};
		enum orc_status undo = orc_store_exec(store, undo_sql, &uerr);

		if (st == ORC_OK && undo != ORC_OK) {
			st = undo;
			if (err != NULL)
				*err = uerr;
		}
	}
done:
	PQclear(res);
	free(sql);
	free(set_path);
	return st;
}
