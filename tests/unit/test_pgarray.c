/*
 * test_pgarray.c - the store's PostgreSQL array literals: quoting and
 * escaping of text elements, SQL NULL, numbers, empty arrays, reuse after
 * reset and done, and the out-of-memory latch.  A small reader of the
 * array input syntax checks that every literal reads back as the elements
 * that went in.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_runner.h"
#include "pgarray.h"

/* Tricky texts; each must read back unchanged from its literal. */
static const char *const tricky[] = {
	"plain",
	"",
	" ",
	"NULL",
	"null",
	"say \"hi\"",
	"\"",
	"\\",
	"a\\b",
	"ends in \\",
	"\\\"",
	"a,b",
	"{x}",
	"{",
	"}",
	"{\"a\",NULL}",
	"  padded  ",
	"tab\tnew\nline",
	"caf\xc3\xa9 \xe2\x82\xac",
	"{\"ctx\":{\"amount\":10,\"note\":\"a \\\"b\\\"\"}}",
};

#define N_TRICKY (sizeof(tricky) / sizeof(tricky[0]))

/*
 * Read one element of a literal at *p (after '{' or ','): its text into
 * out, and whether it is SQL NULL into *is_null.  Only the syntax the
 * builder writes: quoted elements with backslash escapes, unquoted NULL
 * and numbers.
 */
static void
read_element(const char **p, char *out, int *is_null)
{
	const char *s = *p;
	char *o = out;

	*is_null = 0;
	if (*s == '"') {
		for (s++; *s != '"'; s++) {
			ck_assert_msg(*s != '\0', "unterminated element");
			if (*s == '\\')
				s++;
			*o++ = *s;
		}
		s++;
	} else {
		while (*s != ',' && *s != '}' && *s != '\0')
			*o++ = *s++;
		*is_null = o - out == 4 && strncmp(out, "NULL", 4) == 0;
	}
	*o = '\0';
	*p = s;
}

/* Read lit and compare it with want[0..n) (NULL meaning SQL NULL). */
static void
assert_reads_back(const char *lit, const char *const *want, size_t n)
{
	const char *p = lit;
	char *got;
	size_t i = 0;

	ck_assert_ptr_nonnull(lit);
	got = malloc(strlen(lit) + 1);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(*p++, '{');
	while (*p != '}') {
		int is_null;

		read_element(&p, got, &is_null);
		ck_assert_msg(i < n, "more elements than written");
		if (want[i] == NULL)
			ck_assert_msg(is_null, "element %zu is not NULL", i);
		else
			ck_assert_str_eq(got, want[i]);
		i++;
		if (*p == ',')
			p++;
		else
			ck_assert_int_eq(*p, '}');
	}
	ck_assert_int_eq(p[1], '\0');
	ck_assert_uint_eq(i, n);
	free(got);
}

START_TEST(test_empty)
{
	struct orc_pgarray a;

	orc_pgarray_init(&a);
	ck_assert_str_eq(orc_pgarray_done(&a), "{}");
	ck_assert_str_eq(orc_pgarray_done(&a), "{}");
	ck_assert(!orc_pgarray_oom(&a));
	orc_pgarray_texts(&a, NULL, 0);
	ck_assert_str_eq(orc_pgarray_done(&a), "{}");
	orc_pgarray_finish(&a);
	orc_pgarray_finish(NULL);
}
END_TEST

START_TEST(test_zeroed_is_init)
{
	/* the write batch's columns are calloc'ed, never init'ed */
	struct orc_pgarray *a = calloc(1, sizeof(*a));

	ck_assert_ptr_nonnull(a);
	orc_pgarray_text(a, "x");
	ck_assert_str_eq(orc_pgarray_done(a), "{\"x\"}");
	orc_pgarray_finish(a);
	free(a);
}
END_TEST

START_TEST(test_text_quoting)
{
	static const struct {
		const char *in;
		const char *lit;
	} cases[] = {
		{"plain", "{\"plain\"}"},
		{"", "{\"\"}"},
		{"NULL", "{\"NULL\"}"},
		{"say \"hi\"", "{\"say \\\"hi\\\"\"}"},
		{"a\\b", "{\"a\\\\b\"}"},
		{"\\\"", "{\"\\\\\\\"\"}"},
		{"a,b", "{\"a,b\"}"},
		{"{x}", "{\"{x}\"}"},
		{" x ", "{\" x \"}"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct orc_pgarray a;

		orc_pgarray_init(&a);
		orc_pgarray_text(&a, cases[i].in);
		ck_assert_str_eq(orc_pgarray_done(&a), cases[i].lit);
		orc_pgarray_finish(&a);
	}
}
END_TEST

START_TEST(test_null_elements)
{
	const char *const v[] = {"a", NULL, "NULL", NULL};
	struct orc_pgarray a;

	orc_pgarray_init(&a);
	orc_pgarray_texts(&a, v, 4);
	ck_assert_str_eq(orc_pgarray_done(&a), "{\"a\",NULL,\"NULL\",NULL}");
	assert_reads_back(orc_pgarray_done(&a), v, 4);
	orc_pgarray_finish(&a);
}
END_TEST

START_TEST(test_tricky_read_back)
{
	struct orc_pgarray a;

	orc_pgarray_init(&a);
	orc_pgarray_texts(&a, tricky, N_TRICKY);
	assert_reads_back(orc_pgarray_done(&a), tricky, N_TRICKY);
	orc_pgarray_finish(&a);
}
END_TEST

/*
 * A JSON value dumped straight into the literal reads back as jansson's
 * own dump of it (quotes, backslashes and escapes inside strings, a dump
 * that jansson writes in several pieces); NULL is SQL NULL, and a value
 * jansson refuses latches the oom flag.
 */
START_TEST(test_json_reads_back)
{
	enum { N = 5 };
	json_t *v[N];
	char *want[N + 1];
	char big[5000];
	struct orc_pgarray a;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '"';
	big[4000] = '\\';
	v[0] = json_pack("{s:s, s:i, s:[s, n, b]}", "note", "say \"hi\" \\ back",
			 "n", 7, "list", "caf\xc3\xa9\ttab", 1);
	v[1] = json_string("\"quoted\"");
	v[2] = json_integer(-3);
	v[3] = json_pack("{s:s}", "big", big);
	v[4] = json_pack("{s:{s:s}}", "ctx", "k", "\\\"\\");
	orc_pgarray_init(&a);
	for (int i = 0; i < N; i++) {
		ck_assert_ptr_nonnull(v[i]);
		want[i] = json_dumps(v[i], JSON_COMPACT | JSON_ENCODE_ANY |
						   JSON_SORT_KEYS);
		orc_pgarray_json(&a, v[i],
				 JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
	}
	want[N] = NULL;
	orc_pgarray_json(&a, NULL, JSON_COMPACT);
	ck_assert(!orc_pgarray_oom(&a));
	assert_reads_back(orc_pgarray_done(&a), (const char *const *)want,
			  N + 1);
	/* a bare string without JSON_ENCODE_ANY is refused */
	orc_pgarray_reset(&a);
	orc_pgarray_json(&a, v[1], JSON_COMPACT);
	ck_assert(orc_pgarray_oom(&a));
	ck_assert_ptr_null(orc_pgarray_done(&a));
	orc_pgarray_finish(&a);
	for (int i = 0; i < N; i++) {
		free(want[i]);
		json_decref(v[i]);
	}
}
END_TEST

START_TEST(test_embedded_nul)
{
	/* elements are C strings: the text ends at its first NUL */
	static const char with_nul[] = "ab\0cd";
	struct orc_pgarray a;

	orc_pgarray_init(&a);
	orc_pgarray_text(&a, with_nul);
	orc_pgarray_text(&a, with_nul + 3);
	ck_assert_str_eq(orc_pgarray_done(&a), "{\"ab\",\"cd\"}");
	orc_pgarray_finish(&a);
}
END_TEST

START_TEST(test_numbers)
{
	struct orc_pgarray a;

	orc_pgarray_init(&a);
	orc_pgarray_int(&a, 0);
	orc_pgarray_int(&a, -1);
	orc_pgarray_int(&a, 42);
	orc_pgarray_int(&a, INT64_MAX);
	orc_pgarray_int(&a, INT64_MIN);
	ck_assert_str_eq(orc_pgarray_done(&a),
			 "{0,-1,42,9223372036854775807,-9223372036854775808}");
	orc_pgarray_finish(&a);
}
END_TEST

START_TEST(test_done_then_more)
{
	struct orc_pgarray a;

	orc_pgarray_init(&a);
	orc_pgarray_text(&a, "a");
	ck_assert_str_eq(orc_pgarray_done(&a), "{\"a\"}");
	orc_pgarray_text(&a, "b");
	orc_pgarray_int(&a, 7);
	ck_assert_str_eq(orc_pgarray_done(&a), "{\"a\",\"b\",7}");
	ck_assert_str_eq(orc_pgarray_done(&a), "{\"a\",\"b\",7}");
	orc_pgarray_finish(&a);

	orc_pgarray_init(&a);
	ck_assert_str_eq(orc_pgarray_done(&a), "{}");
	orc_pgarray_text(&a, NULL);
	ck_assert_str_eq(orc_pgarray_done(&a), "{NULL}");
	orc_pgarray_finish(&a);
}
END_TEST

START_TEST(test_reset_reuses)
{
	struct orc_pgarray a;
	const char *first;

	orc_pgarray_init(&a);
	for (int i = 0; i < 100; i++)
		orc_pgarray_text(&a, "some element text");
	first = orc_pgarray_done(&a);
	ck_assert_ptr_nonnull(first);
	orc_pgarray_reset(&a);
	ck_assert_uint_eq(a.n, 0);
	ck_assert_str_eq(orc_pgarray_done(&a), "{}");
	orc_pgarray_reset(&a);
	orc_pgarray_text(&a, "x");
	/* the memory is kept: no new allocation for a smaller array */
	ck_assert_ptr_eq(orc_pgarray_done(&a), first);
	ck_assert_str_eq(first, "{\"x\"}");
	orc_pgarray_finish(&a);
}
END_TEST

START_TEST(test_large)
{
	enum { N = 20000 };
	static const char *v[N];
	struct orc_pgarray a;
	const char *lit;

	for (size_t i = 0; i < N; i++)
		v[i] = tricky[i % N_TRICKY];
	orc_pgarray_init(&a);
	orc_pgarray_texts(&a, v, N);
	lit = orc_pgarray_done(&a);
	ck_assert(!orc_pgarray_oom(&a));
	ck_assert_uint_eq(a.n, N);
	ck_assert_uint_eq(strlen(lit), a.sb.len + 1);
	assert_reads_back(lit, v, N);
	orc_pgarray_finish(&a);
}
END_TEST

START_TEST(test_oom_latch)
{
	struct orc_pgarray a;

	orc_pgarray_init(&a);
	orc_pgarray_text(&a, "before");
	/* what a failed allocation leaves behind (strbuf.h) */
	a.sb.oom = true;
	ck_assert(orc_pgarray_oom(&a));
	orc_pgarray_text(&a, "lost");
	orc_pgarray_int(&a, 1);
	ck_assert_ptr_null(orc_pgarray_done(&a));
	ck_assert_ptr_null(orc_pgarray_done(&a));
	/* reset clears the latch; the array is usable again */
	orc_pgarray_reset(&a);
	ck_assert(!orc_pgarray_oom(&a));
	orc_pgarray_text(&a, "after");
	ck_assert_str_eq(orc_pgarray_done(&a), "{\"after\"}");
	orc_pgarray_finish(&a);

	/* latched before anything was allocated */
	orc_pgarray_init(&a);
	a.sb.oom = true;
	orc_pgarray_text(&a, "x");
	ck_assert_ptr_null(orc_pgarray_done(&a));
	orc_pgarray_finish(&a);
}
END_TEST

static Suite *
pgarray_suite(void)
{
	Suite *s = suite_create("pgarray");
	TCase *tc = tcase_create("literals");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_zeroed_is_init);
	tcase_add_test(tc, test_text_quoting);
	tcase_add_test(tc, test_null_elements);
	tcase_add_test(tc, test_tricky_read_back);
	tcase_add_test(tc, test_json_reads_back);
	tcase_add_test(tc, test_embedded_nul);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_done_then_more);
	tcase_add_test(tc, test_reset_reuses);
	tcase_add_test(tc, test_large);
	tcase_add_test(tc, test_oom_latch);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(pgarray_suite());
}
