/*
 * test_definition_diff.c - what `definitions diff` reports between two
 * versions: steps added, removed, renamed (same work, new name), changed
 * members (with needs compared through renames) and top-level changes.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_runner.h"
#include "definition_diff.h"

/* A definition from JSON with single quotes for double quotes. */
static struct orc_definition *
def_sq(const char *sq)
{
	struct orc_definition_issues issues = {0};
	struct orc_definition *def = NULL;
	char *text = strdup(sq);
	json_t *body;

	ck_assert_ptr_nonnull(text);
	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	body = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq(orc_definition_from_json(body, &def, &issues), ORC_OK);
	orc_definition_issues_finish(&issues);
	json_decref(body);
	free(text);
	return def;
}

static const char *const v1 =
	"{'name':'order','version':1,"
	" 'trigger':{'topic':'in','type':'go','key':'/id'},"
	" 'steps':["
	"  {'name':'reserve','command':{'topic':'inv','type':'inv.reserve'},"
	"   'success':['inv.ok']},"
	"  {'name':'charge','needs':['reserve'],"
	"   'command':{'topic':'pay','type':'pay.charge'},'success':['pay.ok'],"
	"   'timeout':'10s'},"
	"  {'name':'notify','needs':['reserve'],"
	"   'command':{'topic':'mail','type':'mail.send'},'success':['mail.ok']},"
	"  {'name':'ship','needs':['charge','notify'],"
	"   'command':{'topic':'ship','type':'ship.do'},'success':['ship.ok']}]}";

/* reserve renamed, charge's timeout changed, notify gone, audit new. */
static const char *const v2 =
	"{'name':'order','version':2,'timeout':'1h',"
	" 'trigger':{'topic':'in','type':'go','key':'/id'},"
	" 'steps':["
	"  {'name':'reserve_stock','command':{'topic':'inv','type':'inv.reserve'},"
	"   'success':['inv.ok']},"
	"  {'name':'charge','needs':['reserve_stock'],"
	"   'command':{'topic':'pay','type':'pay.charge'},'success':['pay.ok'],"
	"   'timeout':'30s'},"
	"  {'name':'ship','needs':['charge'],"
	"   'command':{'topic':'ship','type':'ship.do'},'success':['ship.ok']},"
	"  {'name':'audit','needs':['ship'],"
	"   'command':{'topic':'audit','type':'audit.log'},'success':['audit.ok']}]}";

static char *
dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

	ck_assert_ptr_nonnull(s);
	return s;
}

START_TEST(test_diff_versions)
{
	struct orc_definition *a = def_sq(v1), *b = def_sq(v2);
	json_t *d = orc_definition_diff(a, b);
	char *s;

	ck_assert_ptr_nonnull(d);
	s = dump(d);
	ck_assert_str_eq(
		s, "{\"added\":[\"audit\"],"
		   "\"changed\":[{\"step\":\"charge\",\"what\":[\"timeout\"]},"
		   "{\"step\":\"ship\",\"what\":[\"needs\"]}],"
		   "\"from\":1,\"name\":\"order\","
		   "\"removed\":[\"notify\"],"
		   "\"renamed\":[{\"from\":\"reserve\",\"to\":\"reserve_stock\"}],"
		   "\"saga\":[\"timeout\"],\"to\":2}");
	free(s);
	json_decref(d);
	orc_definition_destroy(a);
	orc_definition_destroy(b);
}
END_TEST

START_TEST(test_diff_same_is_empty)
{
	struct orc_definition *a = def_sq(v1), *b = def_sq(v1);
	json_t *d = orc_definition_diff(a, b);

	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(json_array_size(json_object_get(d, "added")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(d, "removed")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(d, "renamed")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(d, "changed")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(d, "saga")), 0);
	json_decref(d);
	orc_definition_destroy(a);
	orc_definition_destroy(b);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("definition_diff");
	TCase *tc = tcase_create("diff");

	tcase_add_test(tc, test_diff_versions);
	tcase_add_test(tc, test_diff_same_is_empty);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
