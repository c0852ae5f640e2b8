/*
 * test_definition_diff.c - what `definitions diff` reports between two
 * versions: steps added, removed, renamed (same work, new name), changed
 * members (with needs compared through renames), map and child saga
 * changes by meaning, and top-level changes.
 */
#include <check.h>
#include <stdio.h>
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

/* One definition whose step "lines" has the given map member (or none). */
static struct orc_definition *
map_def(int version, const char *map)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "{'name':'order','version':%d,"
		 " 'trigger':{'topic':'in','type':'go','key':'/id'},"
		 " 'steps':["
		 "  {'name':'lines','command':{'topic':'inv','type':'inv.line',"
		 "   'data':{'sku':'%s'}},'success':['inv.ok']%s}]}",
		 version, map[0] != '\0' ? "${/item/sku}" : "${/input/sku}", map);
	return def_sq(text);
}

/* The "what" of the one changed step from map a to map b, as JSON text. */
static char *
map_change(const char *a, const char *b)
{
	struct orc_definition *da = map_def(1, a), *db = map_def(2, b);
	json_t *d = orc_definition_diff(da, db);
	json_t *changed;
	char *s;

	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(json_array_size(json_object_get(d, "added")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(d, "removed")), 0);
	changed = json_object_get(d, "changed");
	if (json_array_size(changed) == 0)
		s = strdup("[]");
	else
		s = dump(json_object_get(json_array_get(changed, 0), "what"));
	ck_assert_ptr_nonnull(s);
	json_decref(d);
	orc_definition_destroy(da);
	orc_definition_destroy(db);
	return s;
}

#define ck_map_change(a, b, want)                                       \
	do {                                                            \
		char *got_ = map_change(a, b);                          \
		ck_assert_msg(strcmp(got_, want) == 0, "%s -> %s: %s", a, b, \
			      got_);                                    \
		free(got_);                                             \
	} while (0)

START_TEST(test_diff_map)
{
	const char *base = ",'map':{'items':'${/input/items}'}";

	/* added and removed: the data changes too (it reads /item) */
	ck_map_change("", base, "[\"command\",\"map added\"]");
	ck_map_change(base, "", "[\"command\",\"map removed\"]");
	ck_map_change(base, ",'map':{'items':'${/input/lines}'}",
		      "[\"map.items\"]");
	ck_map_change(base,
		      ",'map':{'items':'${/input/items}','max_concurrency':5}",
		      "[\"map.max_concurrency\"]");
	ck_map_change(",'map':{'items':'${/input/items}','max_concurrency':5}",
		      ",'map':{'items':'${/input/items}',"
		      "'max_concurrency':'${/input/n}'}",
		      "[\"map.max_concurrency\"]");
	ck_map_change(base,
		      ",'map':{'items':'${/input/items}','min_success':0.5}",
		      "[\"map.min_success\"]");
	ck_map_change(",'map':{'items':'${/input/items}','min_success':0.5}",
		      ",'map':{'items':'${/input/lines}','min_success':2,"
		      "'max_concurrency':3}",
		      "[\"map.items\",\"map.max_concurrency\","
		      "\"map.min_success\"]");
	/* the same meaning written otherwise is no change */
	ck_map_change(base,
		      ",'map':{'min_success':1.0,'max_concurrency':10,"
		      "'items':'${/input/items}'}",
		      "[]");
}
END_TEST

START_TEST(test_diff_map_not_a_rename)
{
	/* a map step and a plain one sending the same command do other work */
	struct orc_definition *a = map_def(1, "");
	struct orc_definition *b = def_sq(
		"{'name':'order','version':2,"
		" 'trigger':{'topic':'in','type':'go','key':'/id'},"
		" 'steps':[{'name':'each_line','map':{'items':'${/input/items}'},"
		"  'command':{'topic':'inv','type':'inv.line'},'success':['inv.ok']}]}");
	json_t *d = orc_definition_diff(a, b);
	char *s;

	ck_assert_ptr_nonnull(d);
	s = dump(d);
	ck_assert_str_eq(s, "{\"added\":[\"each_line\"],\"changed\":[],"
			    "\"from\":1,\"name\":\"order\","
			    "\"removed\":[\"lines\"],\"renamed\":[],"
			    "\"saga\":[],\"to\":2}");
	free(s);
	json_decref(d);
	orc_definition_destroy(a);
	orc_definition_destroy(b);
}
END_TEST

/* One definition whose step "pay" is the given step body after its name. */
static struct orc_definition *
child_def(int version, const char *body)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "{'name':'trip','version':%d,"
		 " 'trigger':{'topic':'in','type':'go','key':'/id'},"
		 " 'steps':[{'name':'pay',%s}]}",
		 version, body);
	return def_sq(text);
}

/* The "what" of the one changed step from step a to step b, as JSON. */
static char *
child_change(const char *a, const char *b)
{
	struct orc_definition *da = child_def(1, a), *db = child_def(2, b);
	json_t *d = orc_definition_diff(da, db);
	json_t *changed;
	char *s;

	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(json_array_size(json_object_get(d, "added")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(d, "removed")), 0);
	changed = json_object_get(d, "changed");
	if (json_array_size(changed) == 0)
		s = strdup("[]");
	else
		s = dump(json_object_get(json_array_get(changed, 0), "what"));
	ck_assert_ptr_nonnull(s);
	json_decref(d);
	orc_definition_destroy(da);
	orc_definition_destroy(db);
	return s;
}

#define ck_child_change(a, b, want)                                     \
	do {                                                            \
		char *got_ = child_change(a, b);                        \
		ck_assert_msg(strcmp(got_, want) == 0, "%s -> %s: %s", a, b, \
			      got_);                                    \
		free(got_);                                             \
	} while (0)

START_TEST(test_diff_child)
{
	const char *base = "'saga':{'definition':'payment'}";
	const char *cmd = "'command':{'topic':'p','type':'pay.charge'},"
			  "'success':['pay.ok']";

	ck_child_change(base, "'saga':{'definition':'billing'}",
			"[\"saga.definition\"]");
	ck_child_change(base, "'saga':{'definition':'payment','version':3}",
			"[\"saga.version\"]");
	ck_child_change("'saga':{'definition':'payment','version':2}",
			"'saga':{'definition':'payment','version':3}",
			"[\"saga.version\"]");
	ck_child_change(base, "'saga':{'definition':'payment','key':'k-${/input/id}'}",
			"[\"saga.key\"]");
	ck_child_change("'saga':{'definition':'payment','key':'a-${/input/id}'}",
			"'saga':{'definition':'payment','key':'b-${/input/id}'}",
			"[\"saga.key\"]");
	ck_child_change(base, "'saga':{'definition':'payment','data':{'n':1}}",
			"[\"saga.data\"]");
	ck_child_change("'saga':{'definition':'payment','data':{'n':1}}",
			"'saga':{'definition':'payment','data':{'n':2}}",
			"[\"saga.data\"]");
	ck_child_change("'saga':{'definition':'payment','version':1,'data':[1]}",
			"'saga':{'definition':'billing','key':'k','data':[2]}",
			"[\"saga.definition\",\"saga.version\",\"saga.key\","
			"\"saga.data\"]");
	ck_child_change(base, "'saga':{'definition':'payment'},'timeout':'1m'",
			"[\"timeout\"]");
	/* the same meaning written otherwise is no change */
	ck_child_change(base, "'saga':{'data':'${/input}','definition':'payment'}",
			"[]");
	ck_child_change(base, base, "[]");
	/* a step that becomes a saga step, or stops being one */
	ck_child_change(cmd, base, "[\"command\",\"success\",\"saga added\"]");
	ck_child_change(base, cmd, "[\"command\",\"success\",\"saga removed\"]");
}
END_TEST

START_TEST(test_diff_child_rename)
{
	/* a gone saga step and a new one starting the same definition */
	struct orc_definition *a = child_def(1, "'saga':{'definition':'payment'}");
	struct orc_definition *b = def_sq(
		"{'name':'trip','version':2,"
		" 'trigger':{'topic':'in','type':'go','key':'/id'},"
		" 'steps':[{'name':'bill','saga':{'definition':'billing'}},"
		"  {'name':'charge','saga':{'definition':'payment','version':2}}]}");
	json_t *d = orc_definition_diff(a, b);
	char *s;

	ck_assert_ptr_nonnull(d);
	s = dump(d);
	ck_assert_str_eq(s, "{\"added\":[\"bill\"],\"changed\":[{\"step\":"
			    "\"charge\",\"what\":[\"saga.version\"]}],"
			    "\"from\":1,\"name\":\"trip\",\"removed\":[],"
			    "\"renamed\":[{\"from\":\"pay\",\"to\":\"charge\"}],"
			    "\"saga\":[],\"to\":2}");
	free(s);
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
	tcase_add_test(tc, test_diff_map);
	tcase_add_test(tc, test_diff_map_not_a_rename);
	tcase_add_test(tc, test_diff_child);
	tcase_add_test(tc, test_diff_child_rename);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
