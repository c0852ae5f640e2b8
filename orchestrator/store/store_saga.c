/*
 * store_saga.c - the apply path's SQL: sagas and steps read under lock,
 * written back from arrays; inbox, definitions and dead letters.
 *
 * Arrays travel as text array literals ("{"a","b",NULL}") built in
 * reusable buffers, one per column, and are expanded on the server with
 * unnest(): four statements write a whole batch whatever its size.  Times
 * are int64 milliseconds here and timestamptz there; 0 means NULL.
 */
#include "store_saga.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "saga_row.h"
#include "store_internal.h"

#define MS(col) "coalesce((extract(epoch from " col ") * 1000)::bigint, 0)"
#define TS(arg) "CASE WHEN " arg " = 0 THEN NULL ELSE to_timestamp(" arg " / 1000.0) END"

/* ---- text array literals ---- */

struct col {
	char *buf;
	size_t len;
	size_t cap;
	size_t n;
	bool oom;
};

static void
col_reserve(struct col *c, size_t more)
{
	size_t cap;
	char *buf;

	if (c->oom || c->len + more + 2 <= c->cap)
		return;
	cap = c->cap ? c->cap : 256;
	while (cap < c->len + more + 2)
		cap *= 2;
	buf = realloc(c->buf, cap);
	if (buf == NULL) {
		c->oom = true;
		return;
	}
	c->buf = buf;
	c->cap = cap;
}

static void
col_reset(struct col *c)
{
	c->len = 0;
	c->n = 0;
	c->oom = false;
	col_reserve(c, 1);
	if (!c->oom) {
		c->buf[0] = '{';
		c->len = 1;
	}
}

static void
col_sep(struct col *c)
{
	if (c->len == 0)
		col_reset(c);
	if (c->n++ > 0 && !c->oom)
		c->buf[c->len++] = ',';
}

/* A text element, quoted and escaped; NULL is SQL NULL. */
static void
col_text(struct col *c, const char *s)
{
	col_sep(c);
	if (s == NULL) {
		col_reserve(c, 4);
		if (!c->oom) {
			memcpy(c->buf + c->len, "NULL", 4);
			c->len += 4;
		}
		return;
	}
	col_reserve(c, strlen(s) * 2 + 2);
	if (c->oom)
		return;
	c->buf[c->len++] = '"';
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			c->buf[c->len++] = '\\';
		c->buf[c->len++] = *p;
	}
	c->buf[c->len++] = '"';
}

static void
col_int(struct col *c, int64_t v)
{
	col_sep(c);
	col_reserve(c, 24);
	if (!c->oom)
		c->len += (size_t)snprintf(c->buf + c->len, 24, "%lld",
					   (long long)v);
}

/* NUL-terminated literal; NULL when out of memory. */
static const char *
col_done(struct col *c)
{
	if (c->len == 0)
		col_reset(c);
	col_reserve(c, 2);
	if (c->oom)
		return NULL;
	c->buf[c->len] = '}';
	c->buf[c->len + 1] = '\0';
	return c->buf;
}

static void
col_free(struct col *c)
{
	free(c->buf);
	memset(c, 0, sizeof(*c));
}

/* ---- helpers ---- */

/* A prepared statement of ours (see orc_store_query). */
static enum orc_status
run_s(struct orc_store *store, const char *tmpl, int n,
      const char *const *params, PGresult **out, const char *what,
      struct orc_error *err)
{
	return orc_store_query(store, tmpl, n, params, NULL, NULL, true, out,
			       what, err);
}

static int64_t
getll(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0
					  : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static const char *
getstr(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* ---- transactions ---- */

enum orc_status
orc_store_begin(struct orc_store *store, struct orc_error *err)
{
	return orc_store_exec(store, "BEGIN", err);
}

enum orc_status
orc_store_commit(struct orc_store *store, struct orc_error *err)
{
	return orc_store_exec(store, "COMMIT", err);
}

void
orc_store_rollback(struct orc_store *store)
{
	orc_store_exec(store, "ROLLBACK", NULL);
}

/* ---- definitions ---- */

#define CHECKSUM "encode(sha256(convert_to($3::text, 'UTF8')), 'hex')"

enum orc_status
orc_store_put_definition(struct orc_store *store,
			 const struct orc_definition *def, bool *created,
			 struct orc_error *err)
{
	char version[16];
	char *body = json_dumps(def->body, JSON_COMPACT | JSON_SORT_KEYS);
	const char *params[3] = {def->name, version, body};
	PGresult *res = NULL;
	enum orc_status st;

	*created = false;
	if (body == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	snprintf(version, sizeof(version), "%d", def->version);
	st = run_s(store,
		   "INSERT INTO %1$s.saga_definitions (name, version, body, checksum)"
		   " VALUES ($1, $2::int, $3::text::jsonb, " CHECKSUM ")"
		   " ON CONFLICT (name, version) DO NOTHING RETURNING 1",
		   3, params, &res, "storing definition", err);
	if (st != ORC_OK)
		goto done;
	*created = PQntuples(res) == 1;
	PQclear(res);
	res = NULL;
	if (*created)
		goto done;
	st = run_s(store,
		   "SELECT checksum = " CHECKSUM " FROM %1$s.saga_definitions"
		   " WHERE name = $1 AND version = $2::int",
		   3, params, &res, "checking definition", err);
	if (st != ORC_OK)
		goto done;
	if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't') {
		st = orc_error_set(err, ORC_CONFLICT,
				   "definition %s version %d is already loaded "
				   "with a different body",
				   def->name, def->version);
		orc_error_detail(err, "definitions are immutable once loaded; "
				      "give the changed one version %d",
				      def->version + 1);
	}
done:
	PQclear(res);
	free(body);
	return st;
}

/* Parse a stored body and add it to cat. */
static enum orc_status
add_stored(struct orc_catalog *cat, const char *name, int version,
	   const char *body_text, struct orc_error *err)
{
	struct orc_definition_issues issues = {NULL, 0};
	struct orc_definition *def = NULL;
	json_error_t jerr;
	json_t *body = json_loads(body_text, 0, &jerr);
	enum orc_status st;

	if (body == NULL)
		return orc_error_set(err, ORC_INVALID,
				     "stored definition %s version %d is not JSON: %s",
				     name, version, jerr.text);
	st = orc_definition_from_json(body, &def, &issues);
	json_decref(body);
	if (st != ORC_OK) {
		orc_error_set(err, st == ORC_FATAL ? ORC_FATAL : ORC_INVALID,
			      "stored definition %s version %d does not load: %s%s%s",
			      name, version,
			      issues.n ? issues.v[0].pointer : "",
			      issues.n ? ": " : "",
			      issues.n ? issues.v[0].message : "");
		orc_definition_issues_finish(&issues);
		return st == ORC_FATAL ? ORC_FATAL : ORC_INVALID;
	}
	orc_definition_issues_finish(&issues);
	if (def->version != version || strcmp(def->name, name) != 0) {
		orc_definition_destroy(def);
		return orc_error_set(err, ORC_INVALID,
				     "stored definition %s version %d names itself otherwise",
				     name, version);
	}
	return orc_catalog_add(cat, def, err);
}

enum orc_status
orc_store_load_definitions(struct orc_store *store, struct orc_catalog *cat,
			   int *skipped, struct orc_error *err)
{
	PGresult *res;
	enum orc_status st;

	*skipped = 0;
	st = run_s(store,
		   "SELECT name, version, body::text FROM %1$s.saga_definitions"
		   " ORDER BY name, version",
		   0, NULL, &res, "reading definitions", err);
	if (st != ORC_OK)
		return st;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, 0);
		int version = (int)getll(res, i, 1);

		if (orc_catalog_get(cat, name, version) != NULL)
			continue;
		st = add_stored(cat, name, version, PQgetvalue(res, i, 2), err);
		if (st == ORC_FATAL)
			break;
		if (st != ORC_OK)
			(*skipped)++;
		st = ORC_OK;
	}
	PQclear(res);
	return st;
}

enum orc_status
orc_store_list_definitions(struct orc_store *store, json_t **out,
			   struct orc_error *err)
{
	PGresult *res;
	json_error_t jerr;
	enum orc_status st;

	*out = NULL;
	st = run_s(store,
		   "SELECT coalesce(json_agg(json_build_object('name', name,"
		   " 'version', version, 'checksum', checksum,"
		   " 'steps', jsonb_array_length(body->'steps'),"
		   " 'loaded_at', loaded_at) ORDER BY name, version), '[]')::text"
		   " FROM %1$s.saga_definitions",
		   0, NULL, &res, "listing definitions", err);
	if (st != ORC_OK)
		return st;
	*out = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
	PQclear(res);
	if (*out == NULL)
		return orc_error_set(err, ORC_FATAL, "listing definitions: %s",
				     jerr.text);
	return ORC_OK;
}

static enum orc_status
fetch_definition(struct orc_store *store, struct orc_catalog *cat,
		 const char *name, int version, struct orc_error *err)
{
	char v[16];
	const char *params[2] = {name, v};
	PGresult *res;
	enum orc_status st;

	snprintf(v, sizeof(v), "%d", version);
	st = run_s(store,
		   "SELECT body::text FROM %1$s.saga_definitions"
		   " WHERE name = $1 AND version = $2::int",
		   2, params, &res, "reading definition", err);
	if (st != ORC_OK)
		return st;
	if (PQntuples(res) != 1)
		st = orc_error_set(err, ORC_NOT_FOUND,
				   "definition %s version %d is not stored", name,
				   version);
	else
		st = add_stored(cat, name, version, PQgetvalue(res, 0, 0), err);
	PQclear(res);
	return st;
}

/* ---- inbox ---- */

/* ids[0..n) as one text array parameter in arr; NULL when out of memory. */
static const char *
text_array(struct col *arr, const char *const *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		col_text(arr, ids[i]);
	return col_done(arr);
}

enum orc_status
orc_store_inbox_claim(struct orc_store *store, const char *consumer,
		      const char *const *ids, size_t n, bool *fresh,
		      struct orc_error *err)
{
	struct col arr = {0};
	const char *params[2] = {consumer, text_array(&arr, ids, n)};
	PGresult *res;
	enum orc_status st;

	if (params[1] == NULL) {
		col_free(&arr);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	/*
	 * The server answers with the (1-based) position of the first
	 * occurrence of every id it inserted, so marking them is O(n).
	 */
	st = run_s(store,
		   "WITH ins AS (INSERT INTO %1$s.inbox (consumer, message_id)"
		   " SELECT $1, m FROM unnest($2::text[]) AS m"
		   " ON CONFLICT DO NOTHING RETURNING message_id)"
		   " SELECT min(u.i) FROM unnest($2::text[]) WITH ORDINALITY"
		   " AS u(m, i) JOIN ins ON ins.message_id = u.m GROUP BY u.m",
		   2, params, &res, "claiming inbox ids", err);
	col_free(&arr);
	if (st != ORC_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		fresh[i] = false;
	for (int r = 0; r < PQntuples(res); r++) {
		int64_t pos = getll(res, r, 0);

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
	struct col arr = {0};
	const char *params[2];
	enum orc_status st;

	if (n == 0)
		return ORC_OK;
	params[0] = consumer;
	params[1] = text_array(&arr, ids, n);
	if (params[1] == NULL) {
		col_free(&arr);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	st = run_s(store,
		   "DELETE FROM %1$s.inbox WHERE consumer = $1"
		   " AND message_id = ANY($2::text[])",
		   2, params, NULL, "releasing inbox ids", err);
	col_free(&arr);
	return st;
}

enum orc_status
orc_store_defer_wake(struct orc_store *store, const char *id, int64_t until_ms,
		     const char *reason, struct orc_error *err)
{
	char until[24];
	json_t *detail = json_pack("{ss}", "error", reason);
	char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	const char *params[3] = {id, until, text};
	enum orc_status st;

	json_decref(detail);
	if (text == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	snprintf(until, sizeof(until), "%lld", (long long)until_ms);
	st = run_s(store,
		   "WITH s AS (UPDATE %1$s.sagas SET wake_at ="
		   " to_timestamp($2::bigint / 1000.0) WHERE id = $1::uuid"
		   " RETURNING id)"
		   " INSERT INTO %1$s.saga_history (saga_id, kind, detail)"
		   " SELECT id, 'timer.deferred', $3::jsonb FROM s",
		   3, params, NULL, "deferring wake-up", err);
	free(text);
	return st;
}

/* ---- saga sets ---- */

void
orc_saga_set_init(struct orc_saga_set *set)
{
	memset(set, 0, sizeof(*set));
}

void
orc_saga_set_reset(struct orc_saga_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		orc_saga_finish(&set->v[i]->saga);
		free(set->v[i]);
	}
	set->n = 0;
}

void
orc_saga_set_finish(struct orc_saga_set *set)
{
	orc_saga_set_reset(set);
	free(set->v);
	memset(set, 0, sizeof(*set));
}

struct orc_stored_saga *
orc_saga_set_find(const struct orc_saga_set *set, const char *id)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i]->saga.id != NULL &&
		    strcmp(set->v[i]->saga.id, id) == 0)
			return set->v[i];
	return NULL;
}

struct orc_stored_saga *
orc_saga_set_find_key(const struct orc_saga_set *set, const char *def_name,
		      const char *key)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct orc_saga *s = &set->v[i]->saga;

		if (s->key != NULL && strcmp(s->key, key) == 0 &&
		    strcmp(s->def->name, def_name) == 0)
			return set->v[i];
	}
	return NULL;
}

static struct orc_stored_saga *
set_push(struct orc_saga_set *set)
{
	struct orc_stored_saga *ss;

	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		struct orc_stored_saga **v = realloc(set->v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		set->v = v;
		set->cap = cap;
	}
	ss = calloc(1, sizeof(*ss));
	if (ss != NULL)
		set->v[set->n++] = ss;
	return ss;
}

struct orc_stored_saga *
orc_saga_set_add_new(struct orc_saga_set *set, const struct orc_definition *def)
{
	struct orc_stored_saga *ss = set_push(set);

	if (ss == NULL)
		return NULL;
	if (orc_saga_init(&ss->saga, def) != ORC_OK) {
		free(ss);
		set->n--;
		return NULL;
	}
	ss->is_new = true;
	return ss;
}

/* ---- reading sagas ---- */

#define SAGA_COLS                                                              \
	"id::text, definition_name, definition_version, business_key, status,"  \
	" coalesce(failing_reason, 'none'), context::text, " MS("created_at") \
	", " MS("deadline_at") ", " MS("wake_at") ", completion_seq, failure"

#define STEP_COLS                                                              \
	"saga_id::text, step_name, status, attempt, attempt_base,"             \
	" compensation_attempt, compensation_attempt_base, " MS("started_at")  \
	", " MS("finished_at") ", " MS("wake_at")                              \
	", coalesce(wake_reason, 'none'), coalesce(completed_seq, 0),"         \
	" last_error, early_event::text"

/*
 * The first row of steps (ordered by saga id: uuid order is the order of
 * the ids' text) that belongs to saga id, by binary search; the number of
 * rows when there is none.  The sagas themselves may come in any order
 * (timers claim them by wake-up time).
 */
static int
first_step_row(const PGresult *steps, const char *id)
{
	int lo = 0, hi = PQntuples(steps);

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (strcmp(PQgetvalue(steps, mid, 0), id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Build one saga from its row (r in sagas) and its step rows. */
static enum orc_status
build_saga(struct orc_store *store, struct orc_catalog *cat,
	   const PGresult *sagas, int r, const PGresult *steps,
	   struct orc_saga_set *set, struct orc_error *err)
{
	const char *name = PQgetvalue(sagas, r, 1);
	int version = (int)getll(sagas, r, 2);
	const char *id = PQgetvalue(sagas, r, 0);
	const struct orc_definition *def = orc_catalog_get(cat, name, version);
	struct orc_step_row rows_buf[64];
	struct orc_step_row *rows = rows_buf;
	json_t **early = NULL;
	struct orc_saga_row row;
	struct orc_stored_saga *ss;
	json_error_t jerr;
	size_t n = 0, cap = sizeof(rows_buf) / sizeof(rows_buf[0]);
	enum orc_status st;

	if (def == NULL) {
		st = fetch_definition(store, cat, name, version, err);
		if (st != ORC_OK)
			return st;
		def = orc_catalog_get(cat, name, version);
	}
	memset(&row, 0, sizeof(row));
	row.id = id;
	row.key = PQgetvalue(sagas, r, 3);
	row.status = PQgetvalue(sagas, r, 4);
	row.cause = PQgetvalue(sagas, r, 5);
	row.context = json_loads(PQgetvalue(sagas, r, 6), 0, &jerr);
	row.started_ms = getll(sagas, r, 7);
	row.deadline_ms = getll(sagas, r, 8);
	row.wake_ms = getll(sagas, r, 9);
	row.seq = getll(sagas, r, 10);
	row.failure_reason = getstr(sagas, r, 11);
	if (row.context == NULL)
		return orc_error_set(err, ORC_INVALID,
				     "saga %s: context is not JSON: %s", id,
				     jerr.text);
	if (def->n_steps > cap) {
		cap = def->n_steps;
		rows = calloc(cap, sizeof(*rows));
		if (rows == NULL) {
			json_decref(row.context);
			return orc_error_set(err, ORC_FATAL, "out of memory");
		}
	}
	early = calloc(cap, sizeof(*early));
	if (early == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	for (int i = first_step_row(steps, id); i < PQntuples(steps); i++) {
		struct orc_step_row *s;

		if (strcmp(PQgetvalue(steps, i, 0), id) != 0)
			break;
		if (n == cap) {
			st = orc_error_set(err, ORC_INVALID,
					   "saga %s has more step rows than its "
					   "definition has steps", id);
			goto done;
		}
		s = &rows[n];
		memset(s, 0, sizeof(*s));
		s->name = PQgetvalue(steps, i, 1);
		s->status = PQgetvalue(steps, i, 2);
		s->attempt = (int)getll(steps, i, 3);
		s->attempt_base = (int)getll(steps, i, 4);
		s->comp_attempt = (int)getll(steps, i, 5);
		s->comp_attempt_base = (int)getll(steps, i, 6);
		s->started_ms = getll(steps, i, 7);
		s->finished_ms = getll(steps, i, 8);
		s->wake_ms = getll(steps, i, 9);
		s->wake_reason = PQgetvalue(steps, i, 10);
		s->completed_seq = getll(steps, i, 11);
		s->last_error = getstr(steps, i, 12);
		if (!PQgetisnull(steps, i, 13)) {
			early[n] = json_loads(PQgetvalue(steps, i, 13),
					      JSON_DECODE_ANY, &jerr);
			s->early_event = early[n];
		}
		n++;
	}
	ss = set_push(set);
	if (ss == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	st = orc_saga_from_rows(&ss->saga, def, &row, rows, n, err);
	if (st != ORC_OK) {
		orc_error_prefix(err, "saga %s", id);
		free(ss);
		set->n--;
	}
done:
	for (size_t i = 0; early != NULL && i < cap; i++)
		json_decref(early[i]);
	free(early);
	if (rows != rows_buf)
		free(rows);
	json_decref(row.context);
	return st;
}

/* Read the steps of the sagas in res and build them all into set. */
static enum orc_status
read_sagas(struct orc_store *store, struct orc_catalog *cat, PGresult *sagas,
	   struct orc_saga_set *set, struct orc_error *err)
{
	struct col ids = {0};
	const char *params[1];
	PGresult *steps = NULL;
	enum orc_status st = ORC_OK;

	if (PQntuples(sagas) == 0)
		return ORC_OK;
	for (int i = 0; i < PQntuples(sagas); i++)
		col_text(&ids, PQgetvalue(sagas, i, 0));
	params[0] = col_done(&ids);
	if (params[0] == NULL) {
		col_free(&ids);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	st = run_s(store,
		   "SELECT " STEP_COLS " FROM %1$s.saga_steps"
		   " WHERE saga_id = ANY($1::uuid[]) ORDER BY saga_id, step_index",
		   1, params, &steps, "reading saga steps", err);
	col_free(&ids);
	for (int i = 0; st == ORC_OK && i < PQntuples(sagas); i++)
		st = build_saga(store, cat, sagas, i, steps, set, err);
	PQclear(steps);
	return st;
}

enum orc_status
orc_store_lock_sagas(struct orc_store *store, struct orc_catalog *cat,
		     const char *const *ids, size_t n_ids,
		     const char *const *names, const char *const *keys,
		     size_t n_keys, struct orc_saga_set *set,
		     struct orc_error *err)
{
	struct col a = {0}, b = {0}, c = {0};
	const char *params[3];
	PGresult *res = NULL;
	enum orc_status st;

	if (n_ids == 0 && n_keys == 0)
		return ORC_OK;
	params[0] = text_array(&a, ids, n_ids);
	params[1] = text_array(&b, names, n_keys);
	params[2] = text_array(&c, keys, n_keys);
	if (params[0] == NULL || params[1] == NULL || params[2] == NULL) {
		st = orc_error_set(err, ORC_FATAL, "out of memory");
		goto done;
	}
	st = run_s(store,
		   /*
		    * Two index lookups; "id = ANY(...) OR (name, key) IN ..."
		    * would scan the whole table.
		    */
		   "SELECT " SAGA_COLS " FROM %1$s.sagas WHERE id IN ("
		   " SELECT unnest($1::uuid[]) UNION ALL"
		   " SELECT s.id FROM %1$s.sagas s JOIN unnest($2::text[],"
		   " $3::text[]) AS k(name, key) ON s.definition_name = k.name"
		   " AND s.business_key = k.key)"
		   " ORDER BY id FOR UPDATE",
		   3, params, &res, "locking sagas", err);
	if (st == ORC_OK)
		st = read_sagas(store, cat, res, set, err);
done:
	PQclear(res);
	col_free(&a);
	col_free(&b);
	col_free(&c);
	return st;
}

enum orc_status
orc_store_claim_due(struct orc_store *store, struct orc_catalog *cat,
		    int64_t now_ms, int limit, struct orc_saga_set *set,
		    struct orc_error *err)
{
	char now[24], lim[16];
	const char *params[2] = {now, lim};
	PGresult *res;
	enum orc_status st;

	snprintf(now, sizeof(now), "%lld", (long long)now_ms);
	snprintf(lim, sizeof(lim), "%d", limit);
	st = run_s(store,
		   "SELECT " SAGA_COLS " FROM %1$s.sagas"
		   " WHERE wake_at <= to_timestamp($1::bigint / 1000.0)"
		   " ORDER BY wake_at LIMIT $2::int FOR UPDATE SKIP LOCKED",
		   2, params, &res, "claiming due sagas", err);
	if (st != ORC_OK)
		return st;
	st = read_sagas(store, cat, res, set, err);
	PQclear(res);
	return st;
}

/* ---- writing ---- */

enum { S_ID, S_NAME, S_VERSION, S_KEY, S_STATUS, S_CAUSE, S_CONTEXT, S_STARTED,
       S_DEADLINE, S_WAKE, S_SEQ, S_FAILURE, S_COLS };
enum { T_SAGA, T_NAME, T_INDEX, T_STATUS, T_ATTEMPT, T_ATTEMPT_BASE,
       T_COMP, T_COMP_BASE, T_STARTED, T_FINISHED, T_WAKE, T_REASON, T_SEQ,
       T_ERROR, T_EARLY, T_COLS };
enum { H_SAGA, H_AT, H_KIND, H_STEP, H_EVENT, H_DETAIL, H_COLS };
enum { O_SAGA, O_MSGID, O_TOPIC, O_TYPE, O_SOURCE, O_STEP, O_REPLY, O_PAYLOAD,
       O_TRACE, O_COLS };

struct orc_write_batch {
	struct col sagas[S_COLS];
	struct col steps[T_COLS];
	struct col history[H_COLS];
	struct col outbox[O_COLS];
	size_t n_sagas, n_steps, n_history, n_outbox;
};

struct orc_write_batch *
orc_write_batch_create(void)
{
	return calloc(1, sizeof(struct orc_write_batch));
}

void
orc_write_batch_destroy(struct orc_write_batch *wb)
{
	if (wb == NULL)
		return;
	for (int i = 0; i < S_COLS; i++)
		col_free(&wb->sagas[i]);
	for (int i = 0; i < T_COLS; i++)
		col_free(&wb->steps[i]);
	for (int i = 0; i < H_COLS; i++)
		col_free(&wb->history[i]);
	for (int i = 0; i < O_COLS; i++)
		col_free(&wb->outbox[i]);
	free(wb);
}

void
orc_write_batch_reset(struct orc_write_batch *wb)
{
	for (int i = 0; i < S_COLS; i++)
		col_reset(&wb->sagas[i]);
	for (int i = 0; i < T_COLS; i++)
		col_reset(&wb->steps[i]);
	for (int i = 0; i < H_COLS; i++)
		col_reset(&wb->history[i]);
	for (int i = 0; i < O_COLS; i++)
		col_reset(&wb->outbox[i]);
	wb->n_sagas = wb->n_steps = wb->n_history = wb->n_outbox = 0;
}

static bool
cols_oom(const struct col *cols, int n)
{
	for (int i = 0; i < n; i++)
		if (cols[i].oom)
			return true;
	return false;
}

enum orc_status
orc_write_batch_saga(struct orc_write_batch *wb, struct orc_stored_saga *ss,
		     struct orc_error *err)
{
	struct orc_saga *saga = &ss->saga;
	struct orc_saga_row row;
	char *ctx;

	orc_saga_to_row(saga, &row);
	ctx = json_dumps(row.context, JSON_COMPACT);
	if (ctx == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	col_text(&wb->sagas[S_ID], row.id);
	col_text(&wb->sagas[S_NAME], saga->def->name);
	col_int(&wb->sagas[S_VERSION], saga->def->version);
	col_text(&wb->sagas[S_KEY], row.key);
	col_text(&wb->sagas[S_STATUS], row.status);
	col_text(&wb->sagas[S_CAUSE],
		 strcmp(row.cause, "none") == 0 ? NULL : row.cause);
	col_text(&wb->sagas[S_CONTEXT], ctx);
	col_int(&wb->sagas[S_STARTED], row.started_ms);
	col_int(&wb->sagas[S_DEADLINE], row.deadline_ms);
	col_int(&wb->sagas[S_WAKE], row.wake_ms);
	col_int(&wb->sagas[S_SEQ], row.seq);
	col_text(&wb->sagas[S_FAILURE], row.failure_reason);
	free(ctx);
	wb->n_sagas++;

	for (size_t i = 0; i < saga->n_steps; i++) {
		struct orc_step_row s;
		char *early = NULL;

		if (!ss->is_new && !saga->steps[i].changed)
			continue;
		saga->steps[i].changed = false;
		orc_saga_step_to_row(saga, i, &s);
		if (s.early_event != NULL) {
			early = json_dumps(s.early_event,
					   JSON_COMPACT | JSON_ENCODE_ANY);
			if (early == NULL)
				return orc_error_set(err, ORC_FATAL,
						     "out of memory");
		}
		col_text(&wb->steps[T_SAGA], row.id);
		col_text(&wb->steps[T_NAME], s.name);
		col_int(&wb->steps[T_INDEX], (int64_t)i);
		col_text(&wb->steps[T_STATUS], s.status);
		col_int(&wb->steps[T_ATTEMPT], s.attempt);
		col_int(&wb->steps[T_ATTEMPT_BASE], s.attempt_base);
		col_int(&wb->steps[T_COMP], s.comp_attempt);
		col_int(&wb->steps[T_COMP_BASE], s.comp_attempt_base);
		col_int(&wb->steps[T_STARTED], s.started_ms);
		col_int(&wb->steps[T_FINISHED], s.finished_ms);
		col_int(&wb->steps[T_WAKE], s.wake_ms);
		col_text(&wb->steps[T_REASON],
			 strcmp(s.wake_reason, "none") == 0 ? NULL : s.wake_reason);
		col_int(&wb->steps[T_SEQ], s.completed_seq);
		col_text(&wb->steps[T_ERROR], s.last_error);
		col_text(&wb->steps[T_EARLY], early);
		free(early);
		wb->n_steps++;
	}
	if (cols_oom(wb->sagas, S_COLS) || cols_oom(wb->steps, T_COLS))
		return orc_error_set(err, ORC_FATAL, "out of memory");
	return ORC_OK;
}

enum orc_status
orc_write_batch_effects(struct orc_write_batch *wb, const struct orc_saga *saga,
			const struct orc_effects *fx,
			const struct orc_effect_origin *origin,
			struct orc_error *err)
{
	char source[ORC_NAME_MAX + 16];

	snprintf(source, sizeof(source), "/orchestrator/%s", saga->def->name);
	for (size_t i = 0; i < fx->n; i++) {
		const struct orc_effect *e = &fx->v[i];
		char *text;

		switch (e->kind) {
		case ORC_EFFECT_HISTORY:
			text = json_dumps(e->detail, JSON_COMPACT | JSON_SORT_KEYS);
			if (text == NULL)
				return orc_error_set(err, ORC_FATAL, "out of memory");
			col_text(&wb->history[H_SAGA], saga->id);
			col_int(&wb->history[H_AT], origin->now_ms);
			col_text(&wb->history[H_KIND], e->history);
			col_text(&wb->history[H_STEP], e->step_name);
			col_text(&wb->history[H_EVENT], origin->event_id);
			col_text(&wb->history[H_DETAIL], text);
			free(text);
			wb->n_history++;
			break;
		case ORC_EFFECT_COMMAND:
			text = e->data ? json_dumps(e->data, JSON_COMPACT |
							     JSON_ENCODE_ANY)
				       : strdup("null");
			if (text == NULL)
				return orc_error_set(err, ORC_FATAL, "out of memory");
			col_text(&wb->outbox[O_SAGA], saga->id);
			col_text(&wb->outbox[O_MSGID], e->message_id);
			col_text(&wb->outbox[O_TOPIC], e->topic);
			col_text(&wb->outbox[O_TYPE], e->type);
			col_text(&wb->outbox[O_SOURCE], source);
			col_text(&wb->outbox[O_STEP], e->step_name);
			col_text(&wb->outbox[O_REPLY], origin->reply_to);
			col_text(&wb->outbox[O_PAYLOAD], text);
			col_text(&wb->outbox[O_TRACE], origin->traceparent);
			free(text);
			wb->n_outbox++;
			break;
		case ORC_EFFECT_SAGA_EVENT:
			break; /* the history effect that goes with it says it */
		}
	}
	if (cols_oom(wb->history, H_COLS) || cols_oom(wb->outbox, O_COLS))
		return orc_error_set(err, ORC_FATAL, "out of memory");
	return ORC_OK;
}

size_t
orc_write_batch_outbox_rows(const struct orc_write_batch *wb)
{
	return wb->n_outbox;
}

size_t
orc_write_batch_history_rows(const struct orc_write_batch *wb)
{
	return wb->n_history;
}

static enum orc_status
write_cols(struct orc_store *store, struct col *cols, int n, const char *fmt,
	   const char *what, struct orc_error *err)
{
	const char *params[T_COLS];

	for (int i = 0; i < n; i++) {
		params[i] = col_done(&cols[i]);
		if (params[i] == NULL)
			return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	return run_s(store, fmt, n, params, NULL, what, err);
}

#define FINAL_STATUSES "('completed', 'compensated', 'failed', 'cancelled', 'timed_out')"

enum orc_status
orc_store_write(struct orc_store *store, struct orc_write_batch *wb,
		struct orc_error *err)
{
	enum orc_status st = ORC_OK;

	if (wb->n_sagas > 0)
		st = write_cols(store, wb->sagas, S_COLS,
			"INSERT INTO %1$s.sagas (id, definition_name,"
			" definition_version, business_key, status, failing_reason,"
			" context, created_at, deadline_at, wake_at, completion_seq,"
			" failure, finished_at)"
			" SELECT u.id, u.name, u.version, u.key, u.status, u.cause,"
			" u.ctx::jsonb, to_timestamp(u.started / 1000.0), "
			TS("u.deadline") ", " TS("u.wake") ", u.seq, u.failure,"
			" CASE WHEN u.status IN " FINAL_STATUSES " THEN now() END"
			" FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[],"
			" $5::text[], $6::text[], $7::text[], $8::bigint[],"
			" $9::bigint[], $10::bigint[], $11::int[], $12::text[])"
			" AS u(id, name, version, key, status, cause, ctx, started,"
			" deadline, wake, seq, failure)"
			" ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,"
			" failing_reason = EXCLUDED.failing_reason,"
			" context = EXCLUDED.context, deadline_at = EXCLUDED.deadline_at,"
			" wake_at = EXCLUDED.wake_at,"
			" completion_seq = EXCLUDED.completion_seq,"
			" failure = EXCLUDED.failure, version = %1$s.sagas.version + 1,"
			" updated_at = now(), finished_at = CASE WHEN EXCLUDED.status"
			" IN " FINAL_STATUSES " THEN coalesce(%1$s.sagas.finished_at,"
			" now()) END",
			"writing sagas", err);
	if (st == ORC_OK && wb->n_steps > 0)
		st = write_cols(store, wb->steps, T_COLS,
			"INSERT INTO %1$s.saga_steps (saga_id, step_name, step_index,"
			" status, attempt, attempt_base, compensation_attempt,"
			" compensation_attempt_base, started_at, finished_at, wake_at,"
			" wake_reason, completed_seq, last_error, early_event)"
			" SELECT u.saga, u.name, u.idx, u.status, u.attempt, u.abase,"
			" u.comp, u.cbase, " TS("u.started") ", " TS("u.finished")
			", " TS("u.wake") ", u.reason, nullif(u.seq, 0), u.error,"
			" u.early::jsonb"
			" FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[],"
			" $5::int[], $6::int[], $7::int[], $8::int[], $9::bigint[],"
			" $10::bigint[], $11::bigint[], $12::text[], $13::int[],"
			" $14::text[], $15::text[]) AS u(saga, name, idx, status,"
			" attempt, abase, comp, cbase, started, finished, wake, reason,"
			" seq, error, early)"
			" ON CONFLICT (saga_id, step_name) DO UPDATE SET"
			" status = EXCLUDED.status, attempt = EXCLUDED.attempt,"
			" attempt_base = EXCLUDED.attempt_base,"
			" compensation_attempt = EXCLUDED.compensation_attempt,"
			" compensation_attempt_base = EXCLUDED.compensation_attempt_base,"
			" started_at = EXCLUDED.started_at,"
			" finished_at = EXCLUDED.finished_at, wake_at = EXCLUDED.wake_at,"
			" wake_reason = EXCLUDED.wake_reason,"
			" completed_seq = EXCLUDED.completed_seq,"
			" last_error = EXCLUDED.last_error,"
			" early_event = EXCLUDED.early_event",
			"writing saga steps", err);
	if (st == ORC_OK && wb->n_history > 0)
		st = write_cols(store, wb->history, H_COLS,
			"INSERT INTO %1$s.saga_history (saga_id, at, kind, step_name,"
			" event_id, detail)"
			" SELECT u.saga, to_timestamp(u.at / 1000.0), u.kind, u.step,"
			" u.event, u.detail::jsonb"
			" FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[],"
			" $5::text[], $6::text[]) WITH ORDINALITY"
			" AS u(saga, at, kind, step, event, detail, n) ORDER BY u.n",
			"writing saga history", err);
	if (st == ORC_OK && wb->n_outbox > 0)
		st = write_cols(store, wb->outbox, O_COLS,
			"INSERT INTO %1$s.outbox (saga_id, lane, message_id, topic,"
			" type, source, step_name, reply_to, payload, traceparent)"
			" SELECT u.saga, hashtext(u.saga::text) & 15, u.msgid, u.topic,"
			" u.type, u.source, u.step, u.reply, u.payload, u.trace"
			" FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],"
			" $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])"
			" WITH ORDINALITY AS u(saga, msgid, topic, type, source, step,"
			" reply, payload, trace, n) ORDER BY u.n",
			"writing outbox", err);
	return st;
}

/* ---- dead letters ---- */

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
			     8, params, lengths, formats, true, NULL,
			     "writing dead letter", err);
	free(headers);
	return st;
}
