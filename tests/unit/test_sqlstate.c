/*
 * test_sqlstate.c - the store's one map from SQLSTATE to orc_status,
 * table-driven: a code of every class the map decides, the exact codes
 * that differ from their class, and what has no SQLSTATE at all.
 */
#include <check.h>
#include <stddef.h>

#include "check_runner.h"
#include "store.h"

static const struct {
	const char *state;
	enum orc_status status;
} cases[] = {
	/* connections, the server going away, resources: retry */
	{"08000", ORC_TRANSIENT}, /* connection exception */
	{"08006", ORC_TRANSIENT}, /* connection failure */
	{"08P01", ORC_TRANSIENT}, /* protocol violation */
	{"57P01", ORC_TRANSIENT}, /* admin shutdown */
	{"57P02", ORC_TRANSIENT}, /* crash shutdown */
	{"57P03", ORC_TRANSIENT}, /* cannot connect now */
	{"57014", ORC_TRANSIENT}, /* query canceled */
	{"40001", ORC_TRANSIENT}, /* serialization failure */
	{"40P01", ORC_TRANSIENT}, /* deadlock detected */
	{"53100", ORC_TRANSIENT}, /* disk full */
	{"53200", ORC_TRANSIENT}, /* out of memory */
	{"53300", ORC_TRANSIENT}, /* too many connections */
	{"55P03", ORC_TRANSIENT}, /* lock not available */
	{"58030", ORC_TRANSIENT}, /* io error */
	{"25P03", ORC_TRANSIENT}, /* idle in transaction timeout */
	{NULL, ORC_TRANSIENT},    /* no answer from the server */
	{"", ORC_TRANSIENT},
	/* someone else did it first */
	{"23505", ORC_CONFLICT},
	/* this input: malformed or too big for the database */
	{"22000", ORC_INVALID}, /* data exception */
	{"22001", ORC_INVALID}, /* string data right truncation */
	{"22003", ORC_INVALID}, /* numeric value out of range */
	{"22007", ORC_INVALID}, /* invalid datetime format */
	{"22021", ORC_INVALID}, /* character not in repertoire */
	{"22P02", ORC_INVALID}, /* invalid text representation */
	{"22P05", ORC_INVALID}, /* untranslatable character (\u0000) */
	{"2200N", ORC_INVALID}, /* invalid XML content */
	{"23502", ORC_INVALID}, /* not null violation */
	{"23503", ORC_INVALID}, /* foreign key violation */
	{"23514", ORC_INVALID}, /* check violation */
	{"54000", ORC_INVALID}, /* program limit exceeded */
	{"54001", ORC_INVALID}, /* statement too complex */
	{"54011", ORC_INVALID}, /* too many columns */
	/* our SQL, the schema or the setup is wrong: stop */
	{"42601", ORC_FATAL}, /* syntax error */
	{"42P01", ORC_FATAL}, /* undefined table */
	{"42703", ORC_FATAL}, /* undefined column */
	{"42501", ORC_FATAL}, /* insufficient privilege */
	{"3D000", ORC_FATAL}, /* invalid catalog name */
	{"3F000", ORC_FATAL}, /* invalid schema name */
	{"28P01", ORC_FATAL}, /* invalid password */
	{"0A000", ORC_FATAL}, /* feature not supported */
	{"25001", ORC_FATAL}, /* active sql transaction */
	{"XX000", ORC_FATAL}, /* internal error */
	{"XX001", ORC_FATAL}, /* data corrupted */
	{"P0001", ORC_FATAL}, /* raise exception */
	{"2205", ORC_TRANSIENT},  /* not a SQLSTATE: treated as none */
};

START_TEST(test_map)
{
	const char *state = cases[_i].state;

	ck_assert_msg(orc_store_status_from_sqlstate(state) == cases[_i].status,
		      "%s: %s, expected %s", state ? state : "(null)",
		      orc_status_name(orc_store_status_from_sqlstate(state)),
		      orc_status_name(cases[_i].status));
}
END_TEST

static Suite *
sqlstate_suite(void)
{
	Suite *s = suite_create("sqlstate");
	TCase *tc = tcase_create("map");

	tcase_add_loop_test(tc, test_map, 0, sizeof(cases) / sizeof(cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(sqlstate_suite());
}
