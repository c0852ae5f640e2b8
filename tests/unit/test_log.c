/*
 * test_log.c - the logger: typed fields in logfmt and JSON, quoting and
 * escaping, optional fields, errors with detail and hint, levels, and
 * records too long for one line (cut, marked, still well-formed).
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_runner.h"
#include "error.h"
#include "log.h"

static FILE *sink;

static void
setup(void)
{
	sink = tmpfile();
	ck_assert_ptr_nonnull(sink);
	orc_log_set_fd(fileno(sink));
	orc_log_set_level(ORC_LOG_DEBUG);
	orc_log_set_format(ORC_LOG_LOGFMT);
}

static void
teardown(void)
{
	orc_log_set_fd(STDERR_FILENO);
	orc_log_set_level(ORC_LOG_INFO);
	orc_log_set_format(ORC_LOG_LOGFMT);
	fclose(sink);
}

/* Everything logged since the last call (new, caller frees). */
static char *
taken(void)
{
	int fd = fileno(sink);
	off_t n = lseek(fd, 0, SEEK_CUR);
	char *s;

	ck_assert_int_ge(n, 0);
	s = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(pread(fd, s, (size_t)n, 0), n);
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	return s;
}

/* The logged line without its "ts=... " prefix (logfmt). */
static const char *
after_ts(const char *line)
{
	ck_assert_msg(strncmp(line, "ts=", 3) == 0, "%s", line);
	ck_assert_msg(line[27] == ' ', "%s", line); /* ts=2026-...123Z */
	return line + 28;
}

START_TEST(test_logfmt_fields)
{
	char *out;

	orc_log(ORC_LOG_INFO, "definition loaded", ORC_LOG_STR("file", "a.json"),
		ORC_LOG_INT("version", -3), ORC_LOG_UINT("n", 18446744073709551615u),
		ORC_LOG_BOOL("ok", true), ORC_LOG_FLOAT("rate", 2.5));
	out = taken();
	ck_assert_str_eq(after_ts(out),
			 "level=info msg=\"definition loaded\" file=a.json version=-3"
			 " n=18446744073709551615 ok=true rate=2.5\n");
	free(out);

	orc_log(ORC_LOG_WARN, "ready");
	out = taken();
	ck_assert_str_eq(after_ts(out), "level=warn msg=ready\n");
	free(out);
}
END_TEST

START_TEST(test_logfmt_quoting)
{
	char *out;

	orc_log(ORC_LOG_ERROR, "x", ORC_LOG_STR("a", "two words"),
		ORC_LOG_STR("b", "say \"hi\""), ORC_LOG_STR("c", "k=v"),
		ORC_LOG_STR("d", "line1\nline2\tend\r"), ORC_LOG_STR("e", ""),
		ORC_LOG_STR("f", NULL), ORC_LOG_STR("g", "back\\slash"),
		ORC_LOG_STR("h", "bell\a"));
	out = taken();
	ck_assert_str_eq(after_ts(out),
			 "level=error msg=x a=\"two words\" b=\"say \\\"hi\\\"\""
			 " c=\"k=v\" d=\"line1\\nline2\\tend\\r\" e=\"\" f=\"\""
			 " g=\"back\\\\slash\" h=\"bell\\x07\"\n");
	/* one record, one line, whatever the values held */
	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
	free(out);
}
END_TEST

START_TEST(test_error_fields)
{
	struct orc_error err = {0};
	char *out;

	orc_error_set(&err, ORC_TRANSIENT, "connection lost");
	orc_log(ORC_LOG_WARN, "retrying", ORC_LOG_ERR(&err));
	out = taken();
	ck_assert_str_eq(after_ts(out),
			 "level=warn msg=retrying err=\"connection lost\"\n");
	free(out);

	orc_error_detail(&err, "server closed it");
	orc_error_hint(&err, "Check that PostgreSQL is running.");
	orc_log(ORC_LOG_WARN, "retrying", ORC_LOG_ERR(&err), ORC_LOG_INT("n", 1));
	out = taken();
	ck_assert_str_eq(after_ts(out),
			 "level=warn msg=retrying err=\"connection lost\""
			 " detail=\"server closed it\""
			 " hint=\"Check that PostgreSQL is running.\" n=1\n");
	free(out);

	/* a new error forgets the old detail and hint */
	orc_error_set(&err, ORC_INVALID, "bad");
	ck_assert_str_eq(err.detail, "");
	ck_assert_str_eq(err.hint, "");
}
END_TEST

START_TEST(test_json)
{
	json_error_t jerr;
	json_t *rec;
	char *out;

	orc_log_set_format(ORC_LOG_JSON);
	orc_log(ORC_LOG_INFO, "event \"dead\"", ORC_LOG_STR("topic", "t 1"),
		ORC_LOG_INT("offset", 42), ORC_LOG_BOOL("retry", false),
		ORC_LOG_STR("reason", "a\nb\x01\"c\\"),
		ORC_LOG_STR("bytes", "ok\xff\xc3\xa9"),
		ORC_LOG_FLOAT("nan", 0.0 / 0.0), ORC_LOG_STR_OPT("none", ""));
	out = taken();
	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
	rec = json_loads(out, 0, &jerr);
	ck_assert_msg(rec != NULL, "%s: %s", jerr.text, out);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "level")), "info");
	ck_assert_str_eq(json_string_value(json_object_get(rec, "msg")),
			 "event \"dead\"");
	ck_assert_str_eq(json_string_value(json_object_get(rec, "topic")), "t 1");
	ck_assert_int_eq(json_integer_value(json_object_get(rec, "offset")), 42);
	ck_assert(json_is_false(json_object_get(rec, "retry")));
	ck_assert_str_eq(json_string_value(json_object_get(rec, "reason")),
			 "a\nb\x01\"c\\");
	/* a byte that is not UTF-8 becomes U+FFFD; valid UTF-8 stays */
	ck_assert_str_eq(json_string_value(json_object_get(rec, "bytes")),
			 "ok\xef\xbf\xbd\xc3\xa9");
	ck_assert(json_is_null(json_object_get(rec, "nan")));
	ck_assert_ptr_null(json_object_get(rec, "none"));
	ck_assert_int_eq(json_string_length(json_object_get(rec, "ts")), 24);
	json_decref(rec);
	free(out);
}
END_TEST

START_TEST(test_levels)
{
	char *out;

	orc_log_set_level(ORC_LOG_WARN);
	orc_log(ORC_LOG_INFO, "dropped");
	orc_log(ORC_LOG_DEBUG, "dropped");
	orc_log(ORC_LOG_ERROR, "kept");
	out = taken();
	ck_assert_str_eq(after_ts(out), "level=error msg=kept\n");
	free(out);
}
END_TEST

/* Long records: cut inside the value that does not fit, then marked. */
static void
check_long(enum orc_log_format format)
{
	char big[3 * ORC_LOG_LINE_MAX];
	char *out;
	size_t n;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[100] = ' '; /* quoted in logfmt */
	for (size_t i = 200; i + 2 < sizeof(big); i += 3) {
		big[i] = '\xc3'; /* é: never cut in the middle */
		big[i + 1] = '\xa9';
	}
	orc_log_set_format(format);
	orc_log(ORC_LOG_INFO, "long", ORC_LOG_STR("v", big),
		ORC_LOG_INT("after", 1));
	out = taken();
	n = strlen(out);
	ck_assert_uint_le(n, ORC_LOG_LINE_MAX);
	ck_assert_uint_gt(n, ORC_LOG_LINE_MAX - 64);
	ck_assert_ptr_eq(strchr(out, '\n'), out + n - 1);
	ck_assert_ptr_null(strstr(out, "after"));
	if (format == ORC_LOG_JSON) {
		json_error_t jerr;
		json_t *rec = json_loads(out, 0, &jerr);

		ck_assert_msg(rec != NULL, "%s", jerr.text);
		ck_assert(json_is_true(json_object_get(rec, "truncated")));
		ck_assert_uint_gt(json_string_length(json_object_get(rec, "v")),
				  ORC_LOG_LINE_MAX / 2);
		json_decref(rec);
	} else {
		ck_assert_msg(strstr(out, "\" truncated=true\n") != NULL, "%s",
			      out + n - 40);
	}
	free(out);

	/* many small fields: the ones that do not fit are left out whole */
	{
		struct orc_log_field f[400];

		for (size_t i = 0; i < 399; i++)
			f[i] = ORC_LOG_STR("field", "0123456789");
		f[399] = (struct orc_log_field){.kind = ORC_LOG_KIND_END};
		orc_log_write(ORC_LOG_INFO, "many", f);
	}
	out = taken();
	n = strlen(out);
	ck_assert_uint_le(n, ORC_LOG_LINE_MAX);
	ck_assert_ptr_nonnull(strstr(out, "truncated"));
	if (format == ORC_LOG_LOGFMT)
		ck_assert_msg(strstr(out, "field=0123456789 truncated=true\n"),
			      "%s", out + n - 40);
	free(out);
}

START_TEST(test_long_logfmt)
{
	check_long(ORC_LOG_LOGFMT);
}
END_TEST

START_TEST(test_long_json)
{
	check_long(ORC_LOG_JSON);
}
END_TEST

START_TEST(test_parse)
{
	enum orc_log_level level;
	enum orc_log_format format;

	ck_assert(orc_log_level_parse("warn", &level));
	ck_assert_int_eq(level, ORC_LOG_WARN);
	ck_assert(!orc_log_level_parse("loud", &level));
	ck_assert(orc_log_format_parse("json", &format));
	ck_assert_int_eq(format, ORC_LOG_JSON);
	ck_assert(!orc_log_format_parse("xml", &format));
	ck_assert(!orc_log_format_parse(NULL, &format));
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("records");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_logfmt_fields);
	tcase_add_test(tc, test_logfmt_quoting);
	tcase_add_test(tc, test_error_fields);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_levels);
	tcase_add_test(tc, test_long_logfmt);
	tcase_add_test(tc, test_long_json);
	tcase_add_test(tc, test_parse);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
