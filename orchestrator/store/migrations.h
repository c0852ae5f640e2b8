/*
 * migrations.h - the SQL migrations the binary carries (migrations/NNN_*.sql,
 * embedded at build time), in ascending version order.  Static data: never
 * freed, never changed.
 */
#ifndef ORC_MIGRATIONS_H
#define ORC_MIGRATIONS_H

#include <stddef.h>

struct orc_migration {
	int version;      /* NNN of NNN_name.sql */
	const char *name; /* "001_initial" */
	const char *sql;  /* the whole file */
};

extern const struct orc_migration orc_migrations[];
extern const size_t orc_migrations_count;

#endif
