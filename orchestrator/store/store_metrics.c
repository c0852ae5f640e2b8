/*
 * store_metrics.c - the SQL behind the database gauges of /metrics.
 *
 * One statement, one round trip, scalar subqueries that each use an
 * index (see store_metrics.h).  Not prepared: it runs every few seconds
 * at most, and would take one of the connection's prepared-statement
 * slots for nothing.
 */
#include "store_metrics.h"

#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define STR_(x) #x
#define STR(x) STR_(x)

enum orc_status
orc_store_read_gauges(struct orc_store *store, struct orc_store_gauges *out,
		      struct orc_error *err)
{
	static const char sql[] =
	    "SELECT (SELECT count(*) FROM %1$s.sagas WHERE status = 'running'),"
	    " (SELECT count(*) FROM %1$s.sagas WHERE status = 'compensating'),"
	    " (SELECT count(*) FROM %1$s.sagas WHERE status = 'stuck'),"
	    " (SELECT count(*) FROM (SELECT 1 FROM %1$s.sagas"
	    "   WHERE wake_at <= now()"
	    "   LIMIT " STR(
		ORC_STORE_TIMERS_DUE_CAP) ") AS due),"
					  " (SELECT "
					  "coalesce(floor(extract(epoch FROM "
					  "now() - min(wake_at))"
					  "   * 1000)::bigint, 0) FROM "
					  "%1$s.sagas WHERE wake_at <= now())";
	PGresult *res;
	enum orc_status st;

	memset(out, 0, sizeof(*out));
	st = orc_store_query(store, sql, 0, NULL, NULL, NULL, false, &res,
			     "reading saga gauges", err);
	if (st != ORC_OK)
		return st;
	out->running = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->compensating = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	out->stuck = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	out->timers_due = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	out->timer_lag_ms = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	if (out->timer_lag_ms < 0)
		out->timer_lag_ms = 0; /* clock skew between writers */
	PQclear(res);
	return ORC_OK;
}
