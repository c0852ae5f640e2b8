/*
 * store_migrate.c - apply the embedded SQL migrations.
 *
 * Each migration runs in its own transaction together with the row that
 * records it in schema_migrations, so a crash leaves it either applied and
 * recorded or not at all.  Runs are serialised by a session advisory lock
 * keyed on the schema name: two `orchestrator migrate` processes started at
 * once apply each migration exactly once.  Checksums (SHA-256 computed by
 * the server) catch a shipped migration that was edited afterwards.
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>

#define LOCK_SQL "SELECT pg_advisory_lock(hashtext('orchestrator.migrate.' || $1))"
#define UNLOCK_SQL "SELECT pg_advisory_unlock(hashtext('orchestrator.migrate.' || $1))"
#define CHECKSUM_SQL "encode(sha256(convert_to($3, 'UTF8')), 'hex')"

/* A statement of ours (schema as "%1$s"); not prepared: it runs once. */
static enum orc_status
query1(struct orc_store *store, const char *tmpl, int nparams,
       const char *const *params, PGresult **out, const char *what,
       struct orc_error *err)
{
	return orc_store_query(store, tmpl, nparams, params, NULL, NULL, 0,
			       out, what, err);
}

static enum orc_status
ensure_bookkeeping(struct orc_store *store, struct orc_error *err)
{
	char sql[512];
	enum orc_status st;

	snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s",
		 store->schema_quoted);
	st = orc_store_exec(store, sql, err);
	if (st != ORC_OK)
		return st;
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
		 " version integer PRIMARY KEY, name text NOT NULL,"
		 " checksum text NOT NULL,"
		 " applied_at timestamptz NOT NULL DEFAULT now())",
		 store->schema_quoted);
	return orc_store_exec(store, sql, err);
}

/*
 * Is migration m applied?  Sets *applied; a recorded migration whose text
 * changed since is ORC_INVALID.
 */
static enum orc_status
check_applied(struct orc_store *store, const struct orc_migration *m,
	      bool *applied, struct orc_error *err)
{
	char version[16];
	const char *params[3] = {version, m->name, m->sql};
	PGresult *res;
	enum orc_status st;

	snprintf(version, sizeof(version), "%d", m->version);
	st = query1(store,
		    "SELECT name = $2 AND checksum = " CHECKSUM_SQL
		    " FROM %1$s.schema_migrations WHERE version = $1::int",
		    3, params, &res, "reading schema_migrations", err);
	if (st != ORC_OK)
		return st;
	*applied = PQntuples(res) == 1;
	if (*applied && PQgetvalue(res, 0, 0)[0] != 't') {
		st = orc_error_set(err, ORC_INVALID,
				   "migration %s was applied with a different text",
				   m->name);
		orc_error_detail(err, "shipped migrations are immutable; "
				      "add a new migration instead");
	}
	PQclear(res);
	return st;
}

static enum orc_status
apply_one(struct orc_store *store, const struct orc_migration *m,
	  struct orc_error *err)
{
	char sql[512], version[16];
	const char *params[3] = {version, m->name, m->sql};
	PGresult *res = NULL;
	enum orc_status st;

	snprintf(version, sizeof(version), "%d", m->version);
	st = orc_store_exec(store, "BEGIN", err);
	if (st != ORC_OK)
		return st;
	snprintf(sql, sizeof(sql), "SET LOCAL search_path TO %s, public",
		 store->schema_quoted);
	st = orc_store_exec(store, sql, err);
	if (st != ORC_OK)
		goto fail;
	res = PQexec(store->conn, m->sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		st = orc_store_fail(store, res, m->name, err);
		goto fail;
	}
	PQclear(res);
	st = query1(store,
		    "INSERT INTO %1$s.schema_migrations (version, name, checksum)"
		    " VALUES ($1::int, $2, " CHECKSUM_SQL ")",
		    3, params, &res, "recording migration", err);
	if (st != ORC_OK)
		goto fail;
	PQclear(res);
	return orc_store_exec(store, "COMMIT", err);
fail:
	PQclear(res);
	orc_store_exec(store, "ROLLBACK", NULL);
	return st;
}

/*
 * How many of the least-privilege roles (migration 006) are missing: it
 * skips them when the migrating user may not create roles.
 */
static enum orc_status
count_missing_roles(struct orc_store *store, int *missing,
		    struct orc_error *err)
{
	PGresult *res;
	enum orc_status st;

	st = query1(store,
		    "SELECT 2 - count(*) FROM pg_roles WHERE rolname IN"
		    " ('orchestrator_runtime', 'orchestrator_readonly')",
		    0, NULL, &res, "looking for the roles", err);
	if (st != ORC_OK)
		return st;
	*missing = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return ORC_OK;
}

enum orc_status
orc_store_migrate(struct orc_store *store, const struct orc_migration *migs,
		  size_t n, struct orc_migrate_report *report,
		  struct orc_error *err)
{
	const char *params[1] = {store->schema};
	struct orc_migrate_report rep = {0, 0, 0, 0};
	PGresult *res;
	enum orc_status st;

	st = query1(store, LOCK_SQL, 1, params, &res, "taking migration lock",
		    err);
	if (st != ORC_OK)
		return st;
	PQclear(res);
	st = ensure_bookkeeping(store, err);
	for (size_t i = 0; st == ORC_OK && i < n; i++) {
		bool applied = false;

		st = check_applied(store, &migs[i], &applied, err);
		if (st != ORC_OK)
			break;
		if (applied) {
			rep.already++;
		} else {
			st = apply_one(store, &migs[i], err);
			if (st != ORC_OK)
				break;
			rep.applied++;
		}
		rep.current_version = migs[i].version;
	}
	if (st == ORC_OK)
		st = count_missing_roles(store, &rep.roles_missing, err);
	/* Unlock on every path; a lost connection releases it anyway. */
	if (query1(store, UNLOCK_SQL, 1, params, &res, "releasing migration lock",
		   NULL) == ORC_OK)
		PQclear(res);
	if (report != NULL)
		*report = rep;
	return st;
}
