/*
 * test_jsonp.c - JSON Pointer (RFC 6901): syntax, resolution with escapes
 * and array indexes, token splitting, and building pointers by appending;
 * JSON Merge Patch (RFC 7386) on the examples of its appendix A.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_runner.h"
#include "jsonp.h"

static json_t *doc;

static void
setup(void)
{
	json_error_t jerr;

	/* the example document of RFC 6901, section 5, plus a nested array */
	doc = json_loads("{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1,"
			 " \"c%d\": 2, \"e^f\": 3, \"g|h\": 4, \"i\\\\j\": 5,"
			 " \"k\\\"l\": 6, \" \": 7, \"m~n\": 8,"
			 " \"deep\": {\"list\": [{\"x\": true}, null]}}",
			 0, &jerr);
	ck_assert_msg(doc != NULL, "%s", jerr.text);
}

static void
teardown(void)
{
	json_decref(doc);
}

START_TEST(test_valid)
{
	ck_assert(orc_jsonp_valid(""));
	ck_assert(orc_jsonp_valid("/"));
	ck_assert(orc_jsonp_valid("/a/b"));
	ck_assert(orc_jsonp_valid("/a~0b/c~1d"));
	ck_assert(orc_jsonp_valid("//"));
	ck_assert(!orc_jsonp_valid(NULL));
	ck_assert(!orc_jsonp_valid("a"));
	ck_assert(!orc_jsonp_valid("input/x"));
	ck_assert(!orc_jsonp_valid("/a~2"));
	ck_assert(!orc_jsonp_valid("/a~"));
	ck_assert(!orc_jsonp_valid("/~x"));
}
END_TEST

START_TEST(test_get_rfc_examples)
{
	ck_assert_ptr_eq(orc_jsonp_get(doc, ""), doc);
	ck_assert(json_is_array(orc_jsonp_get(doc, "/foo")));
	ck_assert_str_eq(json_string_value(orc_jsonp_get(doc, "/foo/0")), "bar");
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(doc, "/")), 0);
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(doc, "/a~1b")), 1);
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(doc, "/c%d")), 2);
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(doc, "/e^f")), 3);
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(doc, "/g|h")), 4);
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(doc, "/i\\j")), 5);
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(doc, "/k\"l")), 6);
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(doc, "/ ")), 7);
	ck_assert_int_eq(json_integer_value(orc_jsonp_get(doc, "/m~0n")), 8);
}
END_TEST

START_TEST(test_get_nested_and_missing)
{
	ck_assert(json_is_true(orc_jsonp_get(doc, "/deep/list/0/x")));
	ck_assert(json_is_null(orc_jsonp_get(doc, "/deep/list/1")));
	ck_assert_ptr_null(orc_jsonp_get(doc, "/deep/list/2"));
	ck_assert_ptr_null(orc_jsonp_get(doc, "/deep/list/-"));
	ck_assert_ptr_null(orc_jsonp_get(doc, "/foo/01"));
	ck_assert_ptr_null(orc_jsonp_get(doc, "/foo/1x"));
	ck_assert_ptr_null(orc_jsonp_get(doc, "/foo/"));
	ck_assert_ptr_null(orc_jsonp_get(doc, "/nope"));
	ck_assert_ptr_null(orc_jsonp_get(doc, "/foo/0/deeper"));
	ck_assert_ptr_null(orc_jsonp_get(doc, "/a/b")); /* "a/b" needs ~1 */
	ck_assert_ptr_null(orc_jsonp_get(doc, "foo"));
	ck_assert_ptr_null(orc_jsonp_get(doc, "/m~2n"));
	ck_assert_ptr_null(orc_jsonp_get(NULL, "/foo"));
}
END_TEST

START_TEST(test_token)
{
	char buf[16];
	const char *rest;

	rest = orc_jsonp_token("/a~1b/c", buf, sizeof(buf));
	ck_assert_str_eq(buf, "a/b");
	ck_assert_str_eq(rest, "/c");
	rest = orc_jsonp_token(rest, buf, sizeof(buf));
	ck_assert_str_eq(buf, "c");
	ck_assert_str_eq(rest, "");
	rest = orc_jsonp_token("/m~0n", buf, sizeof(buf));
	ck_assert_str_eq(buf, "m~n");
	rest = orc_jsonp_token("/", buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
	ck_assert_str_eq(rest, "");
	ck_assert_ptr_null(orc_jsonp_token("", buf, sizeof(buf)));
	ck_assert_ptr_null(orc_jsonp_token("abc", buf, sizeof(buf)));
	ck_assert_ptr_null(orc_jsonp_token("/~2", buf, sizeof(buf)));
	ck_assert_ptr_null(orc_jsonp_token("/abcdefghijklmnopq", buf, sizeof(buf)));
}
END_TEST

START_TEST(test_append)
{
	char buf[32] = "";

	ck_assert(orc_jsonp_append(buf, sizeof(buf), "steps"));
	ck_assert(orc_jsonp_append_index(buf, sizeof(buf), 12));
	ck_assert(orc_jsonp_append(buf, sizeof(buf), "a/b~c"));
	ck_assert_str_eq(buf, "/steps/12/a~1b~0c");
	ck_assert(orc_jsonp_append(buf, sizeof(buf), ""));
	ck_assert_str_eq(buf, "/steps/12/a~1b~0c/");
	/* what it builds resolves back to the same token */
	{
		json_t *o = json_pack("{s:{s:i}}", "a/b", "~", 9);
		char p[16] = "";

		orc_jsonp_append(p, sizeof(p), "a/b");
		orc_jsonp_append(p, sizeof(p), "~");
		ck_assert_int_eq(json_integer_value(orc_jsonp_get(o, p)), 9);
		json_decref(o);
	}
}
END_TEST

START_TEST(test_append_overflow_unchanged)
{
	char buf[10] = "/abc";

	ck_assert(!orc_jsonp_append(buf, sizeof(buf), "defghij"));
	ck_assert_str_eq(buf, "/abc");
	ck_assert(!orc_jsonp_append(buf, sizeof(buf), "a/b/c"));
	ck_assert_str_eq(buf, "/abc");
	ck_assert(orc_jsonp_append(buf, sizeof(buf), "de"));
	ck_assert_str_eq(buf, "/abc/de");
	ck_assert(!orc_jsonp_append_index(buf, sizeof(buf), 1234));
	ck_assert_str_eq(buf, "/abc/de");
}
END_TEST

/* RFC 7386, appendix A: original, patch, result */
static const char *const merge_cases[][3] = {
	{"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
	{"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
	{"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
	{"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
	{"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
	{"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
	{"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
	 "{\"a\":{\"b\":\"d\"}}"},
	{"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
	{"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
	{"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
	{"{\"a\":\"foo\"}", "null", "null"},
	{"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
	{"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
	{"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
	{"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
};

START_TEST(test_merge_patch_rfc_examples)
{
	json_t *target = json_loads(merge_cases[_i][0], JSON_DECODE_ANY, NULL);
	json_t *patch = json_loads(merge_cases[_i][1], JSON_DECODE_ANY, NULL);
	json_t *want = json_loads(merge_cases[_i][2], JSON_DECODE_ANY, NULL);
	char *before = json_dumps(target, JSON_ENCODE_ANY | JSON_SORT_KEYS);
	json_t *got = orc_jsonp_merge_patch(target, patch);
	char *after = json_dumps(target, JSON_ENCODE_ANY | JSON_SORT_KEYS);

	ck_assert_ptr_nonnull(got);
	ck_assert_msg(json_equal(got, want), "case %d: %s + %s", _i,
		      merge_cases[_i][0], merge_cases[_i][1]);
	/* the target is left as it was */
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	json_decref(got);
	json_decref(target);
	json_decref(patch);
	json_decref(want);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("jsonp");
	TCase *tc = tcase_create("pointer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_get_rfc_examples);
	tcase_add_test(tc, test_get_nested_and_missing);
	tcase_add_test(tc, test_token);
	tcase_add_test(tc, test_append);
	tcase_add_test(tc, test_append_overflow_unchanged);
	suite_add_tcase(s, tc);

	tc = tcase_create("merge_patch");
	tcase_add_loop_test(tc, test_merge_patch_rfc_examples, 0,
			    (int)(sizeof(merge_cases) / sizeof(merge_cases[0])));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
