/*
 * store_metrics.c - the SQL behind the database gauges of /metrics.
 *
 * One statement, one round trip, scalar subqueries that each use an
 * index (see store_metrics.h).  Not prepared: it runs every few seconds
 * at most, and would take one of the connection's prepared-statement
 * slots for nothing.
 */
#include "store_metrics.h"

#include <string.h>

#include "store_internal.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define GAUGE_COLUMNS(X, Y)                                                    \
	X(G_RUNNING, "(SELECT count(*) FROM %1$s.sagas"                        \
		     " WHERE status = 'running')")                             \
	Y(G_COMPENSATING, "(SELECT count(*) FROM %1$s.sagas"                   \
			  " WHERE status = 'compensating')")                   \
	Y(G_STUCK, "(SELECT count(*) FROM %1$s.sagas WHERE status = 'stuck')") \
	Y(G_TIMERS_DUE, "(SELECT count(*) FROM (SELECT 1 FROM %1$s.sagas"      \
			" WHERE wake_at <= now()"                              \
			" LIMIT " STR(ORC_STORE_TIMERS_DUE_CAP) ") AS due)")   \
	Y(G_TIMER_LAG, "(SELECT coalesce(floor(extract(epoch FROM"             \
		       " now() - min(wake_at)) * 1000)::bigint, 0)"            \
		       " FROM %1$s.sagas WHERE wake_at <= now())")             \
	Y(G_PARKED, "(SELECT count(*) FROM (SELECT 1 FROM %1$s.parked_events"  \
		    " LIMIT " STR(ORC_STORE_TIMERS_DUE_CAP) ") AS p)")

enum gauge_col { ORC_STORE_COLUMN_ENUM(GAUGE_COLUMNS) G_NCOLS };

enum orc_status
orc_store_read_gauges(struct orc_store *store, struct orc_store_gauges *out,
		      struct orc_error *err)
{
	static const char sql[] =
		"SELECT " ORC_STORE_SELECT_LIST(GAUGE_COLUMNS);
	PGresult *res;
	enum orc_status st;

	memset(out, 0, sizeof(*out));
	st = orc_store_query(store, sql, 0, NULL, NULL, NULL, 0, &res,
			     "reading saga gauges", err);
	if (st != ORC_OK)
		return st;
	out->running = orc_store_int(res, 0, G_RUNNING);
	out->compensating = orc_store_int(res, 0, G_COMPENSATING);
	out->stuck = orc_store_int(res, 0, G_STUCK);
	out->timers_due = orc_store_int(res, 0, G_TIMERS_DUE);
	out->timer_lag_ms = orc_store_age_ms(res, 0, G_TIMER_LAG);
	out->parked = orc_store_int(res, 0, G_PARKED);
	PQclear(res);
	return ORC_OK;
}
