/*
 * test_util.c - the foundation's small helpers: the string buffer, the
 * duration formats, backoff, the name rule and UTF-8.  (The duration
 * parser is checked in test_definition.c, UUIDs, traceparent and RFC 3339
 * in test_envelope.c.)
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "check_runner.h"
#include "duration.h"
#include <jansson.h>

#include "error.h"
#include "strbuf.h"
#include "text.h"

/* JSON strings and values appended as jansson would read them back. */
START_TEST(test_strbuf_json)
{
	static const char *const texts[] = {
		"", "plain", "quote \" and \\ back", "tab\tnl\ncr\r",
		"\x01\x1f\x7f", "caf\xc3\xa9 \xe2\x82\xac",
	};
	struct orc_strbuf sb;
	json_t *v;

	orc_strbuf_init(&sb);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		orc_strbuf_reset(&sb);
		orc_strbuf_put_json_string(&sb, texts[i]);
		ck_assert(!sb.oom);
		v = json_loads(sb.data, JSON_DECODE_ANY, NULL);
		ck_assert_msg(v != NULL, "%s does not parse", sb.data);
		ck_assert_str_eq(json_string_value(v), texts[i]);
		json_decref(v);
	}
	orc_strbuf_reset(&sb);
	orc_strbuf_put_json_string(&sb, "a\"\x01");
	ck_assert_str_eq(sb.data, "\"a\\\"\\u0001\"");

	orc_strbuf_reset(&sb);
	v = json_pack("[s,i,{s:b}]", "x", 3, "k", 1);
	orc_strbuf_puts(&sb, "=");
	orc_strbuf_put_json(&sb, v, JSON_COMPACT);
	ck_assert_str_eq(sb.data, "=[\"x\",3,{\"k\":true}]");
	json_decref(v);
	/* a value jansson will not dump (a bare number without ENCODE_ANY) */
	v = json_integer(1);
	orc_strbuf_put_json(&sb, v, JSON_COMPACT);
	ck_assert(sb.oom);
	json_decref(v);
	orc_strbuf_finish(&sb);
}
END_TEST

/* Integers as printf's "%" PRId64 writes them, the extremes too. */
START_TEST(test_strbuf_put_int)
{
	static const int64_t values[] = {
		0, 1, -1, 9, 10, -10, 1796420335070, INT64_MAX, INT64_MIN,
		INT64_MIN + 1,
	};
	struct orc_strbuf sb;
	char want[32];

	orc_strbuf_init(&sb);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		orc_strbuf_reset(&sb);
		orc_strbuf_puts(&sb, "<");
		orc_strbuf_put_int(&sb, values[i]);
		snprintf(want, sizeof(want), "<%" PRId64, values[i]);
		ck_assert_str_eq(sb.data, want);
		ck_assert_uint_eq(sb.len, strlen(want));
	}
	orc_strbuf_finish(&sb);
}
END_TEST

START_TEST(test_strbuf_grows)
{
	struct orc_strbuf sb;
	char *s;

	orc_strbuf_init(&sb);
	ck_assert_ptr_null(sb.data);
	for (int i = 0; i < 1000; i++)
		orc_strbuf_printf(&sb, "%d,", i % 10);
	ck_assert_uint_eq(sb.len, 2000);
	ck_assert_uint_eq(strlen(sb.data), 2000);
	ck_assert(strncmp(sb.data, "0,1,2,", 6) == 0);
	orc_strbuf_reset(&sb);
	ck_assert_uint_eq(sb.len, 0);
	ck_assert_str_eq(sb.data, "");
	orc_strbuf_puts(&sb, "ab");
	orc_strbuf_putc(&sb, 'c');
	orc_strbuf_append(&sb, "d\0e", 3); /* NUL bytes are kept */
	ck_assert_uint_eq(sb.len, 6);
	ck_assert_int_eq(memcmp(sb.data, "abcd\0e", 7), 0);
	s = orc_strbuf_take(&sb);
	ck_assert_ptr_null(sb.data);
	ck_assert_uint_eq(sb.len, 0);
	ck_assert_str_eq(s, "abcd");
	free(s);
	orc_strbuf_finish(&sb);
	orc_strbuf_finish(NULL);
}
END_TEST

START_TEST(test_strbuf_printf_long)
{
	struct orc_strbuf sb = {0};
	char big[5000];

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	orc_strbuf_puts(&sb, "<");
	orc_strbuf_printf(&sb, "%s|%d", big, 7); /* past the first guess */
	ck_assert_uint_eq(sb.len, 1 + 4999 + 2);
	ck_assert_str_eq(sb.data + sb.len - 3, "y|7");
	orc_strbuf_finish(&sb);
}
END_TEST

START_TEST(test_strbuf_take_empty_and_oom)
{
	struct orc_strbuf sb = {0};
	char *s = orc_strbuf_take(&sb);

	ck_assert_str_eq(s, "");
	free(s);
	/* a latched failure: appends do nothing, take gives NULL */
	orc_strbuf_puts(&sb, "abc");
	ck_assert(!orc_strbuf_reserve(&sb, SIZE_MAX / 2));
	ck_assert(sb.oom);
	orc_strbuf_puts(&sb, "def");
	ck_assert_str_eq(sb.data, "abc");
	ck_assert_ptr_null(orc_strbuf_take(&sb));
	ck_assert_ptr_null(sb.data);
}
END_TEST

START_TEST(test_duration_format)
{
	static const struct {
		int64_t ms;
		const char *exact, *rough;
	} cases[] = {
		{0, "0s", "0.0s"},
		{-5, "0s", "0.0s"},
		{1, "1ms", "0.0s"},
		{250, "250ms", "0.2s"},
		{3250, "3s250ms", "3.2s"},
		{10000, "10s", "10s"},
		{90500, "1m30s500ms", "1m"},
		{3600000 + 5000, "1h5s", "1h"},
		{86400000 * 2 + 1, "2d1ms", "2d"},
		{ORC_DURATION_MAX_MS, "365d", "365d"},
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t back;

		ck_assert_str_eq(orc_duration_format(cases[i].ms, buf, sizeof(buf)),
				 cases[i].exact);
		ck_assert_str_eq(orc_duration_format_rough(cases[i].ms, buf,
							   sizeof(buf)),
				 cases[i].rough);
		/* the exact form reads back as the same duration */
		if (cases[i].ms > 0) {
			orc_duration_format(cases[i].ms, buf, sizeof(buf));
			ck_assert_msg(orc_duration_parse(buf, &back), "%s", buf);
			ck_assert_int_eq(back, cases[i].ms);
		}
	}
	/* a buffer too small is cut, never overrun */
	memset(buf, '#', sizeof(buf));
	orc_duration_format(90500, buf, 5);
	ck_assert_str_eq(buf, "1m30");
	ck_assert_int_eq(buf[5], '#');
}
END_TEST

START_TEST(test_backoff)
{
	struct orc_backoff b;

	ck_assert_int_eq(orc_backoff_delay_ms(100, 2, 5000, 0), 0);
	ck_assert_int_eq(orc_backoff_delay_ms(0, 2, 5000, 3), 0);
	ck_assert_int_eq(orc_backoff_delay_ms(100, 2, 5000, 1), 100);
	ck_assert_int_eq(orc_backoff_delay_ms(100, 2, 5000, 3), 400);
	ck_assert_int_eq(orc_backoff_delay_ms(100, 2, 5000, 7), 5000);
	ck_assert_int_eq(orc_backoff_delay_ms(100, 1, 5000, 9), 100); /* flat */
	ck_assert_int_eq(orc_backoff_delay_ms(100, 1.5, 100000, 3), 225);
	/* huge attempt counts saturate instead of overflowing */
	ck_assert_int_eq(orc_backoff_delay_ms(1000, 10, ORC_DURATION_MAX_MS,
					      100000),
			 ORC_DURATION_MAX_MS);

	orc_backoff_init(&b, 200, 2, 5000);
	ck_assert_int_eq(orc_backoff_next(&b), 200);
	ck_assert_int_eq(orc_backoff_next(&b), 400);
	ck_assert_int_eq(orc_backoff_next(&b), 800);
	ck_assert_int_eq(b.failures, 3);
	for (int i = 0; i < 10; i++)
		orc_backoff_next(&b);
	ck_assert_int_eq(orc_backoff_next(&b), 5000);
	orc_backoff_reset(&b);
	ck_assert_int_eq(orc_backoff_next(&b), 200);
}
END_TEST

START_TEST(test_names_and_utf8)
{
	char longest[ORC_NAME_MAX];

	ck_assert(orc_text_name_valid("a"));
	ck_assert(orc_text_name_valid("reserve_inventory2"));
	ck_assert(!orc_text_name_valid(""));
	ck_assert(!orc_text_name_valid(NULL));
	ck_assert(!orc_text_name_valid("2a"));
	ck_assert(!orc_text_name_valid("_a"));
	ck_assert(!orc_text_name_valid("Ab"));
	ck_assert(!orc_text_name_valid("a-b"));
	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	ck_assert(orc_text_name_valid(longest)); /* 63 characters */
	{
		char too_long[ORC_NAME_MAX + 1];

		memset(too_long, 'a', sizeof(too_long) - 1);
		too_long[sizeof(too_long) - 1] = '\0';
		ck_assert(!orc_text_name_valid(too_long));
	}

	ck_assert(orc_text_utf8_valid("plain", 5));
	ck_assert(orc_text_utf8_valid("a\0b", 3));
	ck_assert(orc_text_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
	ck_assert(!orc_text_utf8_valid("\xc3", 1));	   /* cut short */
	ck_assert(!orc_text_utf8_valid("\xc0\xaf", 2));	   /* overlong */
	ck_assert(!orc_text_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
	ck_assert(!orc_text_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	ck_assert(!orc_text_utf8_valid("\xff", 1));
}
END_TEST

/* FNV-1a 64 against the published test vectors; chaining continues. */
START_TEST(test_fnv1a)
{
	ck_assert_uint_eq(orc_text_fnv1a("", ORC_TEXT_FNV1A_BASIS),
			  ORC_TEXT_FNV1A_BASIS);
	ck_assert_uint_eq(orc_text_fnv1a("a", ORC_TEXT_FNV1A_BASIS),
			  0xaf63dc4c8601ec8cULL);
	ck_assert_uint_eq(orc_text_fnv1a("foobar", ORC_TEXT_FNV1A_BASIS),
			  0x85944171f73967e8ULL);
	ck_assert_uint_eq(
		orc_text_fnv1a("bar", orc_text_fnv1a("foo", ORC_TEXT_FNV1A_BASIS)),
		0x85944171f73967e8ULL);
}
END_TEST

/* Every byte outside a valid sequence becomes '?'; the rest is kept. */
START_TEST(test_utf8_repair)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"", ""},
		{"plain", "plain"},
		{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		 "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
		{"cut \xc3", "cut ?"},
		{"\xe2\x82", "??"},
		{"over\xc0\xaflong", "over??long"},
		{"sur\xed\xa0\x80gate", "sur???gate"},
		{"\xf4\x90\x80\x80", "????"},
		{"\xff\xfe ok \xc3\xa9", "?? ok \xc3\xa9"},
		{"\x80\xc3\xa9", "?\xc3\xa9"},
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		orc_text_utf8_repair(buf);
		ck_assert_str_eq(buf, cases[i].out);
		ck_assert(orc_text_utf8_valid(buf, strlen(buf)));
	}
}
END_TEST

/*
 * An error's parts are text whatever they quote, and whatever the
 * truncation to the record's size cuts: here a two-byte character at the
 * last byte that fits.
 */
START_TEST(test_error_parts_are_text)
{
	char long_text[ORC_ERROR_MSG_MAX + 8];
	struct orc_error err;

	memset(long_text, 'a', sizeof(long_text));
	long_text[ORC_ERROR_MSG_MAX - 2] = '\xc3';
	long_text[ORC_ERROR_MSG_MAX - 1] = '\xa9';
	long_text[sizeof(long_text) - 1] = '\0';
	orc_error_set(&err, ORC_INVALID, "%s", long_text);
	ck_assert_uint_eq(strlen(err.message), ORC_ERROR_MSG_MAX - 1);
	ck_assert_int_eq(err.message[ORC_ERROR_MSG_MAX - 2], '?');
	ck_assert(orc_text_utf8_valid(err.message, strlen(err.message)));
	orc_error_set(&err, ORC_INVALID, "near '%s'", "\xd0");
	ck_assert_str_eq(err.message, "near '?'");
	orc_error_detail(&err, "got \xff");
	ck_assert_str_eq(err.detail, "got ?");
	orc_error_hint(&err, "try \xc3\xa9 or \xc3");
	ck_assert_str_eq(err.hint, "try \xc3\xa9 or ?");
	orc_error_prefix(&err, "in \xe2\x82");
	ck_assert_str_eq(err.message, "in ??: near '?'");
}
END_TEST

/*
 * Found by tests/fuzz/fuzz_envelope: a later version's extra fields were
 * taken whatever their bytes (the envelope screened them); the check is
 * now the traceparent's own.
 */
START_TEST(test_traceparent_later_version)
{
#define TP01 "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ck_assert(orc_text_traceparent_valid(TP01));
	ck_assert(orc_text_traceparent_valid(TP01 "-extra~field 1"));
	ck_assert(!orc_text_traceparent_valid(TP01 "x"));
	ck_assert(!orc_text_traceparent_valid(TP01 "-\x01"));
	ck_assert(!orc_text_traceparent_valid(TP01 "-\x7f"));
	ck_assert(!orc_text_traceparent_valid(TP01 "-\xc3\xa9"));
	ck_assert(!orc_text_traceparent_valid(TP01 "-ok\n"));
	ck_assert(!orc_text_traceparent_valid(
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x"));
#undef TP01
}
END_TEST

START_TEST(test_base64_round_trip)
{
	static const char *texts[] = {"", "f", "fo", "foo", "foob", "fooba",
				      "foobar"};
	static const char *encoded[] = {"",	"Zg==",	    "Zm8=",    "Zm9v",
					"Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t len, n = strlen(texts[i]);
		char *e = orc_text_base64_encode((const unsigned char *)texts[i],
						 n, &len);
		unsigned char *d;

		ck_assert_str_eq(e, encoded[i]); /* RFC 4648 section 10 */
		ck_assert_int_eq(orc_text_base64_decode(e, len, &d, &len),
				 ORC_OK);
		ck_assert_uint_eq(len, n);
		ck_assert_int_eq(memcmp(d, texts[i], n), 0);
		free(d);
		free(e);
	}
	{
		unsigned char *d = NULL;
		size_t len;

		ck_assert_int_eq(orc_text_base64_decode("Zm9v!", 5, &d, &len),
				 ORC_INVALID);
		ck_assert_int_eq(orc_text_base64_decode("Z", 1, &d, &len),
				 ORC_INVALID);
		ck_assert_ptr_null(d);
	}
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("helpers");

	tcase_add_test(tc, test_strbuf_grows);
	tcase_add_test(tc, test_strbuf_json);
	tcase_add_test(tc, test_strbuf_put_int);
	tcase_add_test(tc, test_strbuf_printf_long);
	tcase_add_test(tc, test_strbuf_take_empty_and_oom);
	tcase_add_test(tc, test_duration_format);
	tcase_add_test(tc, test_backoff);
	tcase_add_test(tc, test_names_and_utf8);
	tcase_add_test(tc, test_fnv1a);
	tcase_add_test(tc, test_utf8_repair);
	tcase_add_test(tc, test_error_parts_are_text);
	tcase_add_test(tc, test_base64_round_trip);
	tcase_add_test(tc, test_traceparent_later_version);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
