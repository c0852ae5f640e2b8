/*
 * test_expr.c - templates (exact references, interpolation of every JSON
 * type, escapes) and conditions (every operator, numeric equality, missing
 * references as null) over one saga context.
 *
 * JSON in this file is written with single quotes; J() turns them into
 * double quotes before parsing.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_runner.h"
#include "expr.h"

static json_t *ctx;

/* Parse text with ' for " (new reference; fails the test on bad JSON). */
static json_t *
J(const char *text)
{
	char *s = strdup(text);
	json_error_t jerr;
	json_t *v;

	ck_assert_ptr_nonnull(s);
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	v = json_loads(s, JSON_DECODE_ANY, &jerr);
	ck_assert_msg(v != NULL, "bad test JSON %s: %s", s, jerr.text);
	free(s);
	return v;
}

static void
setup(void)
{
	ctx = J("{'input': {'order_id': 'o-1', 'total': 1500, 'price': 12.5,"
		"  'whole': 3.0, 'items': [{'sku': 'a', 'qty': 2}],"
		"  'vip': true, 'gift': false, 'note': null, 'tags': ['x', 'y'],"
		"  'country': 'DE', 'empty': '', 'a/b': 'slash', 'm~n': 'tilde',"
		"  'nested': {'k': [1, 'two']}},"
		" 'steps': {'charge': {'payment_id': 'p-9', 'amount': 1500.0}},"
		" 'saga': {'id': 'uuid-1', 'key': 'o-1', 'name': 'orders',"
		"  'version': 2}}");
}

static void
teardown(void)
{
	json_decref(ctx);
}

/* Render template text against ctx and compare with expected text. */
static void
check_render(const char *tmpl_text, const char *want_text)
{
	json_t *tmpl = J(tmpl_text);
	json_t *want = J(want_text);
	json_t *got = orc_template_render(tmpl, ctx);
	char *dump;

	ck_assert_ptr_nonnull(got);
	dump = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
	ck_assert_msg(json_equal(got, want), "render %s: got %s, want %s",
		      tmpl_text, dump, want_text);
	free(dump);
	json_decref(tmpl);
	json_decref(want);
	json_decref(got);
}

static bool
eval(const char *cond_text)
{
	json_t *cond = J(cond_text);
	bool r = orc_condition_eval(cond, ctx);

	json_decref(cond);
	return r;
}

/* ---- templates ---- */

START_TEST(test_exact_reference_keeps_type)
{
	check_render("'${/input/order_id}'", "'o-1'");
	check_render("'${/input/total}'", "1500");
	check_render("'${/input/price}'", "12.5");
	check_render("'${/input/vip}'", "true");
	check_render("'${/input/gift}'", "false");
	check_render("'${/input/note}'", "null");
	check_render("'${/input/items}'", "[{'sku': 'a', 'qty': 2}]");
	check_render("'${/input/nested}'", "{'k': [1, 'two']}");
	check_render("'${/steps/charge/payment_id}'", "'p-9'");
	check_render("'${/saga/version}'", "2");
	check_render("'${/input/a~1b}'", "'slash'");
	check_render("'${/input/m~0n}'", "'tilde'");
	check_render("'${/input/items/0/sku}'", "'a'");
}
END_TEST

START_TEST(test_missing_reference_is_null)
{
	check_render("'${/input/nope}'", "null");
	check_render("'${/steps/ship/id}'", "null");
	check_render("'${/input/items/5}'", "null");
	check_render("'${not a pointer}'", "null");
	check_render("'before ${/input/nope} after'", "'before null after'");
}
END_TEST

START_TEST(test_reference_is_a_copy)
{
	json_t *tmpl = J("{'items': '${/input/items}'}");
	json_t *out = orc_template_render(tmpl, ctx);
	json_t *items = json_object_get(out, "items");

	ck_assert_ptr_nonnull(items);
	json_array_clear(items);
	ck_assert_int_eq(json_array_size(json_object_get(
				 json_object_get(ctx, "input"), "items")),
			 1);
	/* the output is not the template either */
	json_object_set_new(out, "extra", json_true());
	ck_assert_ptr_null(json_object_get(tmpl, "extra"));
	json_decref(out);
	json_decref(tmpl);
}
END_TEST

START_TEST(test_interpolation_of_every_type)
{
	check_render("'order ${/input/order_id}!'", "'order o-1!'");
	check_render("'n=${/input/total}'", "'n=1500'");
	check_render("'p=${/input/price}'", "'p=12.5'");
	check_render("'w=${/input/whole}'", "'w=3'");
	check_render("'v=${/input/vip} g=${/input/gift}'", "'v=true g=false'");
	check_render("'x=${/input/note}'", "'x=null'");
	check_render("'e=[${/input/empty}]'", "'e=[]'");
	check_render("'items=${/input/items}'",
		     "'items=[{\\'sku\\':\\'a\\',\\'qty\\':2}]'");
	check_render("'n=${/input/nested}'", "'n={\\'k\\':[1,\\'two\\']}'");
	check_render("'${/input/order_id}${/saga/id}'", "'o-1uuid-1'");
	check_render("'${/saga/key}-${/saga/version}'", "'o-1-2'");
}
END_TEST

START_TEST(test_escapes_and_literals)
{
	check_render("'$${/input/order_id}'", "'${/input/order_id}'");
	check_render("'cost: $${x} is ${/input/total}'",
		     "'cost: ${x} is 1500'");
	check_render("'$5 and $$ and $'", "'$5 and $$ and $'");
	check_render("'{/input/total}'", "'{/input/total}'");
	check_render("'no refs'", "'no refs'");
	/* unterminated: kept as text (the loader rejects it) */
	check_render("'a ${/input/total'", "'a ${/input/total'");
	check_render("'$${'", "'${'");
}
END_TEST

START_TEST(test_structures_and_keys)
{
	check_render("{'id': '${/input/order_id}', 'list': [1, '${/input/vip}',"
		     " {'deep': '${/saga/id}'}], 'n': 7, 'f': 1.5, 'b': false,"
		     " 'z': null, '${/input/order_id}': 'key kept'}",
		     "{'id': 'o-1', 'list': [1, true, {'deep': 'uuid-1'}],"
		     " 'n': 7, 'f': 1.5, 'b': false, 'z': null,"
		     " '${/input/order_id}': 'key kept'}");
	check_render("{}", "{}");
	check_render("[]", "[]");
	check_render("42", "42");
}
END_TEST

START_TEST(test_null_template)
{
	json_t *out = orc_template_render(NULL, ctx);

	ck_assert(json_is_null(out));
	json_decref(out);
}
END_TEST

static bool
collect(const char *ptr, void *arg)
{
	json_t *list = arg;

	json_array_append_new(list, json_string(ptr));
	return strcmp(ptr, "/stop") != 0;
}

START_TEST(test_is_reference_and_foreach)
{
	char buf[32];
	json_t *list = json_array();
	json_t *want;

	ck_assert(orc_expr_is_reference("${/input/x}", buf, sizeof(buf)));
	ck_assert_str_eq(buf, "/input/x");
	ck_assert(orc_expr_is_reference("${}", buf, sizeof(buf)));
	ck_assert_str_eq(buf, "");
	ck_assert(!orc_expr_is_reference("${/a}${/b}", buf, sizeof(buf)));
	ck_assert(!orc_expr_is_reference(" ${/a}", buf, sizeof(buf)));
	ck_assert(!orc_expr_is_reference("$${/a}", buf, sizeof(buf)));
	ck_assert(!orc_expr_is_reference("${/a", buf, sizeof(buf)));
	ck_assert(!orc_expr_is_reference("${/abcdef}", buf, 4));

	ck_assert(orc_expr_foreach_reference(
		"a ${/x} $${/skip} ${/y/z}${} end", collect, list));
	want = J("['/x', '/y/z', '']");
	ck_assert(json_equal(list, want));
	json_decref(want);

	json_array_clear(list);
	ck_assert(!orc_expr_foreach_reference("${/a} ${/b", collect, list));
	ck_assert_int_eq(json_array_size(list), 1);

	json_array_clear(list);
	ck_assert(!orc_expr_foreach_reference("${/stop} ${/never}", collect, list));
	ck_assert_int_eq(json_array_size(list), 1);
	ck_assert(orc_expr_foreach_reference("", collect, list));
	json_decref(list);
}
END_TEST

/* ---- equality ---- */

START_TEST(test_json_equal)
{
	json_t *a = J("{'x': 1, 'y': [1.0, 'a', {'z': null}]}");
	json_t *b = J("{'y': [1, 'a', {'z': null}], 'x': 1.0}");
	json_t *c = J("{'x': 1, 'y': [1, 'a', {'z': false}]}");
	json_t *one = json_integer(1), *one_r = json_real(1.0);
	json_t *s1 = json_string("1");

	ck_assert(orc_json_equal(a, b));
	ck_assert(!orc_json_equal(a, c));
	ck_assert(orc_json_equal(one, one_r));
	ck_assert(!orc_json_equal(one, s1));
	ck_assert(!orc_json_equal(one, NULL));
	ck_assert(orc_json_equal(NULL, NULL));
	ck_assert(orc_json_equal(json_null(), json_null()));
	ck_assert(!orc_json_equal(json_true(), json_false()));
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(one);
	json_decref(one_r);
	json_decref(s1);
}
END_TEST

/* ---- conditions ---- */

START_TEST(test_constants)
{
	ck_assert(orc_condition_eval(NULL, ctx));
	ck_assert(eval("true"));
	ck_assert(!eval("false"));
	/* shapes the loader rejects evaluate as false */
	ck_assert(!eval("{}"));
	ck_assert(!eval("{'eq': [1, 1], 'ne': [1, 2]}"));
	ck_assert(!eval("{'matches': [1, 1]}"));
	ck_assert(!eval("{'eq': [1]}"));
	ck_assert(!eval("{'eq': 1}"));
	ck_assert(!eval("'yes'"));
	ck_assert(!eval("null"));
}
END_TEST

START_TEST(test_eq_ne)
{
	ck_assert(eval("{'eq': ['${/input/country}', 'DE']}"));
	ck_assert(!eval("{'eq': ['${/input/country}', 'de']}"));
	ck_assert(eval("{'eq': ['${/input/total}', 1500.0]}"));
	ck_assert(eval("{'eq': ['${/steps/charge/amount}', '${/input/total}']}"));
	ck_assert(eval("{'eq': [1, 1.0]}"));
	ck_assert(!eval("{'eq': [1, '1']}"));
	ck_assert(eval("{'eq': ['${/input/items}', [{'qty': 2, 'sku': 'a'}]]}"));
	ck_assert(eval("{'eq': ['${/input/vip}', true]}"));
	ck_assert(eval("{'eq': ['${/input/note}', null]}"));
	ck_assert(eval("{'ne': ['${/input/country}', 'FR']}"));
	ck_assert(!eval("{'ne': ['${/input/total}', 1500]}"));
	ck_assert(eval("{'ne': [1, '1']}"));
}
END_TEST

START_TEST(test_ordering_numbers)
{
	ck_assert(eval("{'gt': ['${/input/total}', 1000]}"));
	ck_assert(!eval("{'gt': ['${/input/total}', 1500]}"));
	ck_assert(eval("{'ge': ['${/input/total}', 1500]}"));
	ck_assert(eval("{'ge': ['${/input/total}', 1499.5]}"));
	ck_assert(eval("{'lt': ['${/input/price}', 13]}"));
	ck_assert(!eval("{'lt': ['${/input/price}', 12.5]}"));
	ck_assert(eval("{'le': ['${/input/price}', 12.5]}"));
	ck_assert(eval("{'lt': [-1, 0]}"));
	ck_assert(!eval("{'le': [2, 1]}"));
}
END_TEST

START_TEST(test_ordering_strings_and_mixed)
{
	ck_assert(eval("{'lt': ['apple', 'banana']}"));
	ck_assert(eval("{'lt': ['Z', 'a']}")); /* byte-wise */
	ck_assert(eval("{'lt': ['ab', 'abc']}"));
	ck_assert(eval("{'ge': ['${/input/country}', 'DE']}"));
	ck_assert(!eval("{'gt': ['abc', 'abc']}"));
	/* unlike types: every ordering is false */
	ck_assert(!eval("{'lt': [1, '2']}"));
	ck_assert(!eval("{'ge': [1, '2']}"));
	ck_assert(!eval("{'gt': [true, false]}"));
	ck_assert(!eval("{'le': [null, null]}"));
	ck_assert(!eval("{'lt': ['${/input/nope}', 5]}"));
	ck_assert(!eval("{'ge': ['${/input/nope}', 5]}"));
}
END_TEST

START_TEST(test_missing_reference_in_condition)
{
	ck_assert(eval("{'eq': ['${/input/nope}', null]}"));
	ck_assert(!eval("{'eq': ['${/input/nope}', '']}"));
	ck_assert(eval("{'ne': ['${/steps/ship/id}', 'x']}"));
	ck_assert(eval("{'eq': ['${/input/nope}', '${/input/note}']}"));
}
END_TEST

START_TEST(test_in)
{
	ck_assert(eval("{'in': ['${/input/country}', ['DE', 'FR']]}"));
	ck_assert(!eval("{'in': ['${/input/country}', ['IT', 'FR']]}"));
	ck_assert(eval("{'in': ['x', '${/input/tags}']}"));
	ck_assert(!eval("{'in': ['z', '${/input/tags}']}"));
	ck_assert(eval("{'in': [1500, [1, 1500.0]]}"));
	ck_assert(!eval("{'in': ['x', []]}"));
	/* references inside a literal list resolve */
	ck_assert(eval("{'in': ['DE', ['${/input/country}', 'FR']]}"));
	/* a list that is not an array, or does not resolve: false */
	ck_assert(!eval("{'in': ['D', '${/input/country}']}"));
	ck_assert(!eval("{'in': ['x', '${/input/nope}']}"));
	ck_assert(!eval("{'in': [null, '${/input/nope}']}"));
}
END_TEST

START_TEST(test_exists)
{
	ck_assert(eval("{'exists': '${/input/order_id}'}"));
	ck_assert(eval("{'exists': '${/input/note}'}")); /* null resolves */
	ck_assert(eval("{'exists': '${/steps/charge}'}"));
	ck_assert(!eval("{'exists': '${/steps/ship}'}"));
	ck_assert(!eval("{'exists': '${/input/items/1}'}"));
	ck_assert(!eval("{'exists': '/input/order_id'}"));
	ck_assert(!eval("{'exists': 5}"));
}
END_TEST

START_TEST(test_all_any_not)
{
	ck_assert(eval("{'all': [true, {'eq': [1, 1]}]}"));
	ck_assert(!eval("{'all': [true, false]}"));
	ck_assert(eval("{'any': [false, {'exists': '${/input/vip}'}]}"));
	ck_assert(!eval("{'any': [false, {'exists': '${/input/nope}'}]}"));
	ck_assert(eval("{'not': false}"));
	ck_assert(!eval("{'not': {'gt': ['${/input/total}', 1000]}}"));
	ck_assert(eval("{'all': [{'exists': '${/input/vip}'},"
		       " {'not': {'eq': ['${/input/country}', 'US']}},"
		       " {'any': [{'lt': ['${/input/total}', 10]},"
		       "          {'in': ['y', '${/input/tags}']}]}]}"));
	ck_assert(!eval("{'all': 'x'}"));
	ck_assert(!eval("{'any': {}}"));
}
END_TEST

START_TEST(test_literal_strings_in_conditions)
{
	/* only a whole-string reference resolves inside a condition */
	ck_assert(eval("{'eq': ['id ${/input/order_id}', 'id ${/input/order_id}']}"));
	ck_assert(!eval("{'eq': ['${/input/order_id} ', 'o-1 ']}"));
	ck_assert(eval("{'eq': ['$${/x}', '$${/x}']}"));
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("expr");
	TCase *t = tcase_create("templates");
	TCase *c = tcase_create("conditions");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_exact_reference_keeps_type);
	tcase_add_test(t, test_missing_reference_is_null);
	tcase_add_test(t, test_reference_is_a_copy);
	tcase_add_test(t, test_interpolation_of_every_type);
	tcase_add_test(t, test_escapes_and_literals);
	tcase_add_test(t, test_structures_and_keys);
	tcase_add_test(t, test_null_template);
	tcase_add_test(t, test_is_reference_and_foreach);
	suite_add_tcase(s, t);

	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, test_json_equal);
	tcase_add_test(c, test_constants);
	tcase_add_test(c, test_eq_ne);
	tcase_add_test(c, test_ordering_numbers);
	tcase_add_test(c, test_ordering_strings_and_mixed);
	tcase_add_test(c, test_missing_reference_in_condition);
	tcase_add_test(c, test_in);
	tcase_add_test(c, test_exists);
	tcase_add_test(c, test_all_any_not);
	tcase_add_test(c, test_literal_strings_in_conditions);
	suite_add_tcase(s, c);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
