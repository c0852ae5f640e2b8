/*
 * store_definitions.c - saga definitions in saga_definitions: stored once
 * per name@version, read back into a catalog.
 *
 * A definition is immutable once loaded: its body is compared by a SHA-256
 * checksum computed by the server, so the same body again is a no-op and a
 * different one under the same version is a conflict.  A stored body that
 * no longer loads (the language grew stricter) is reported and skipped,
 * never fatal for the others.
 */
#include "store_saga.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

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
	st = orc_store_run(store,
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
	st = orc_store_run(store,
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

#define DEFINITION_COLUMNS(X, Y)                                               \
	X(DEF_NAME, "name")                                                    \
	Y(DEF_VERSION, "version")                                              \
	Y(DEF_BODY, "body::text")

enum definition_col { ORC_STORE_COLUMN_ENUM(DEFINITION_COLUMNS) DEF_NCOLS };

enum orc_status
orc_store_load_definitions(struct orc_store *store, struct orc_catalog *cat,
			   int *skipped, struct orc_error *err)
{
	PGresult *res;
	enum orc_status st;

	*skipped = 0;
	st = orc_store_run(store,
			   "SELECT " ORC_STORE_SELECT_LIST(DEFINITION_COLUMNS)
			   " FROM %1$s.saga_definitions ORDER BY name, version",
			   0, NULL, &res, "reading definitions", err);
	if (st != ORC_OK)
		return st;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, DEF_NAME);
		int version = (int)orc_store_int(res, i, DEF_VERSION);

		if (orc_catalog_get(cat, name, version) != NULL)
			continue;
		st = add_stored(cat, name, version,
				PQgetvalue(res, i, DEF_BODY), err);
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
	st = orc_store_run(store,
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

enum orc_status
orc_store_fetch_definition(struct orc_store *store, struct orc_catalog *cat,
			   const char *name, int version,
			   struct orc_error *err)
{
	char v[16];
	const char *params[2] = {name, v};
	PGresult *res;
	enum orc_status st;

	snprintf(v, sizeof(v), "%d", version);
	st = orc_store_run(store,
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
