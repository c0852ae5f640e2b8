/*
 * test_table.c - the operator commands' table printer (cli/table.c):
 * column widths, separators that shrink, cells cut down to their column's
 * min, the tail column inline or on its own line, notes, UTF-8 widths and
 * cuts, control characters, empty tables, the count line and time cells.
 * Every table is printed into memory (open_memstream) and compared whole.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_runner.h"
#include "table.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* What t prints, as a new string. */
static char *
printed(const struct orc_table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(out);
	orc_table_print(t, out);
	ck_assert_int_eq(fclose(out), 0);
	return buf;
}

#define ck_table_eq(t, want)                                                   \
	do {                                                                   \
		char *got_ = printed(t);                                       \
		ck_assert_str_eq(got_, want);                                  \
		free(got_);                                                    \
	} while (0)

static const struct orc_table_column three[] = {
	{"NAME", 4, false},
	{"STATUS", 0, false},
	{"N", 0, true},
};

START_TEST(test_widths_and_alignment)
{
	struct orc_table t;

	orc_table_init(&t, three, N(three), false);
	orc_table_add(&t, (const char *[]){"alpha", "ok", "7"}, NULL);
	orc_table_add(&t, (const char *[]){"b", "running", "1234"}, NULL);
	/* as wide as the widest cell or title; numbers to the right; the
	 * last cell is not padded */
	ck_table_eq(&t, "NAME   STATUS      N\n"
			"alpha  ok          7\n"
			"b      running  1234\n");
	orc_table_finish(&t);
}
END_TEST

START_TEST(test_null_cells_and_notes)
{
	static const struct orc_table_column cols[] = {
		{"A", 0, false},
		{"B", 0, false},
	};
	struct orc_table t;

	orc_table_init(&t, cols, N(cols), false);
	orc_table_add(&t, (const char *[]){NULL, "x"}, "a note");
	orc_table_add(&t, (const char *[]){"long", NULL}, NULL);
	ck_table_eq(&t, "A     B\n"
			"-     x\n"
			"  a note\n"
			"long  -\n");
	orc_table_finish(&t);
}
END_TEST

START_TEST(test_empty)
{
	struct orc_table t;

	orc_table_init(&t, three, N(three), false);
	ck_table_eq(&t, "NAME  STATUS  N\n");
	orc_table_finish(&t);
	/* finish leaves a table that may be finished again */
	orc_table_finish(&t);
}
END_TEST

START_TEST(test_separators_shrink_first)
{
	struct orc_table t;

	orc_table_init(&t, three, N(three), false);
	t.width = 20;
	/* 12 + 6 + 1 = 19 wide: two-space gaps make 23, one-space 21; so
	 * the gaps shrink and then NAME is cut by one column */
	orc_table_add(&t, (const char *[]){"abcdefghijkl", "status", "1"},
		      NULL);
	ck_table_eq(&t, "NAME        STATUS N\n"
			"abcdefghij~ status 1\n");
	orc_table_finish(&t);

	orc_table_init(&t, three, N(three), false);
	t.width = 21;
	orc_table_add(&t, (const char *[]){"abcdefghijkl", "status", "1"},
		      NULL);
	ck_table_eq(&t, "NAME         STATUS N\n"
			"abcdefghijkl status 1\n");
	orc_table_finish(&t);
}
END_TEST

START_TEST(test_cut_to_min)
{
	static const struct orc_table_column cols[] = {
		{"ID", 0, false},
		{"DEF", 5, false},
		{"KEY", 3, false},
	};
	struct orc_table t;

	orc_table_init(&t, cols, N(cols), false);
	t.width = 16;
	/* the widest shrinkable column loses a column at a time: DEF and
	 * KEY both end at their min; ID (min 0) is never cut, so the
	 * table stays wider than asked */
	orc_table_add(&t,
		      (const char *[]){"0123456789", "definition", "keykeykey"},
		      NULL);
	ck_table_eq(&t, "ID         DEF   KEY\n"
			"0123456789 defi~ ke~\n");
	orc_table_finish(&t);

	orc_table_init(&t, cols, N(cols), false);
	t.width = 24;
	/* 10 + 10 + 9 + 2 = 31: seven columns go, one at a time from the
	 * widest (the leftmost of equals), DEF and KEY ending at 6 */
	orc_table_add(&t,
		      (const char *[]){"0123456789", "definition", "keykeykey"},
		      NULL);
	ck_table_eq(&t, "ID         DEF    KEY\n"
			"0123456789 defin~ keyke~\n");
	orc_table_finish(&t);
}
END_TEST

START_TEST(test_right_aligned_cut)
{
	static const struct orc_table_column cols[] = {
		{"N", 2, true},
		{"X", 0, false},
	};
	struct orc_table t;

	orc_table_init(&t, cols, N(cols), false);
	t.width = 5;
	/* 6 + 1 + 1 = 8: N goes down to 3, its cut text left-aligned */
	orc_table_add(&t, (const char *[]){"123456", "x"}, NULL);
	orc_table_add(&t, (const char *[]){"1", "y"}, NULL);
	ck_table_eq(&t, "  N X\n"
			"12~ x\n"
			"  1 y\n");
	orc_table_finish(&t);
}
END_TEST

static const struct orc_table_column with_tail[] = {
	{"TIME", 0, false},
	{"STEP", 4, false},
	{"DETAIL", 0, false},
};

START_TEST(test_tail_inline)
{
	struct orc_table t;

	orc_table_init(&t, with_tail, N(with_tail), true);
	orc_table_add(&t, (const char *[]){"10:00", "reserve", "{\"a\":1}"},
		      NULL);
	orc_table_add(&t, (const char *[]){"10:01", "pay", NULL}, "note");
	/* a NULL tail prints nothing, and the cell before it no padding */
	ck_table_eq(&t, "TIME   STEP     DETAIL\n"
			"10:00  reserve  {\"a\":1}\n"
			"10:01  pay\n"
			"  note\n");
	orc_table_finish(&t);
}
END_TEST

START_TEST(test_tail_own_line)
{
	struct orc_table t;
	char detail[100];

	memset(detail, 'd', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = '\0';
	orc_table_init(&t, with_tail, N(with_tail), true);
	t.width = 30;
	orc_table_add(&t, (const char *[]){"10:00", "reserve", detail}, "n");
	orc_table_add(&t, (const char *[]){"10:01", "pay", "short"}, NULL);
	{
		char want[512];

		/* the tail is never cut: too long, it goes below its row,
		 * before the note; the others stay inline */
		snprintf(want, sizeof(want),
			 "TIME   STEP     DETAIL\n"
			 "10:00  reserve\n"
			 "    %s\n"
			 "  n\n"
			 "10:01  pay      short\n",
			 detail);
		ck_table_eq(&t, want);
	}
	orc_table_finish(&t);
}
END_TEST

START_TEST(test_tail_title_own_line)
{
	static const struct orc_table_column cols[] = {
		{"A", 0, false},
		{"A LONG TITLE FOR THE TAIL", 0, false},
	};
	struct orc_table t;

	orc_table_init(&t, cols, N(cols), true);
	t.width = 10;
	orc_table_add(&t, (const char *[]){"x", "y"}, NULL);
	ck_table_eq(&t, "A\n"
			"    A LONG TITLE FOR THE TAIL\n"
			"x  y\n");
	orc_table_finish(&t);
}
END_TEST

START_TEST(test_utf8)
{
	static const struct orc_table_column cols[] = {
		{"KEY", 3, false},
		{"V", 0, false},
	};
	struct orc_table t;

	orc_table_init(&t, cols, N(cols), false);
	/* "ключ" is four columns (eight bytes): padded as four */
	orc_table_add(&t, (const char *[]){"ключ", "1"}, NULL);
	orc_table_add(&t, (const char *[]){"ß", "2"}, NULL);
	ck_table_eq(&t, "KEY   V\n"
			"ключ  1\n"
			"ß     2\n");
	orc_table_finish(&t);

	orc_table_init(&t, cols, N(cols), false);
	t.width = 7;
	/* cut by characters, never inside one */
	orc_table_add(&t, (const char *[]){"αβγδεζ", "1"}, NULL);
	ck_table_eq(&t, "KEY   V\n"
			"αβγδ~ 1\n");
	orc_table_finish(&t);
}
END_TEST

START_TEST(test_control_characters)
{
	static const struct orc_table_column cols[] = {
		{"K", 0, false},
		{"V", 0, false},
	};
	struct orc_table t;

	orc_table_init(&t, cols, N(cols), false);
	orc_table_add(&t, (const char *[]){"tab\there\nnl", "x\x7f"},
		      "bad\tthing\nhappened");
	ck_table_eq(&t, "K            V\n"
			"tab here nl  x \n"
			"  bad thing happened\n");
	orc_table_finish(&t);
}
END_TEST

START_TEST(test_many_rows)
{
	static const struct orc_table_column cols[] = {
		{"I", 0, true},
	};
	struct orc_table t;
	char *out, *line;
	size_t lines = 0;

	orc_table_init(&t, cols, N(cols), false);
	for (int i = 0; i < 100; i++) {
		char n[8];

		snprintf(n, sizeof(n), "%d", i);
		orc_table_add(&t, (const char *[]){n}, NULL);
	}
	ck_assert_uint_eq(t.nrows, 100);
	out = printed(&t);
	for (line = out; (line = strchr(line, '\n')) != NULL; line++)
		lines++;
	ck_assert_uint_eq(lines, 101);
	ck_assert_ptr_nonnull(strstr(out, " I\n 0\n 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "\n99\n"));
	free(out);
	orc_table_finish(&t);
}
END_TEST

START_TEST(test_count)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(out);
	orc_table_print_count(out, 0, 0, "saga", "sagas");
	orc_table_print_count(out, 1, 1, "saga", "sagas");
	orc_table_print_count(out, 3, 3, "saga", "sagas");
	orc_table_print_count(out, 50, 1234, "saga", "sagas");
	orc_table_print_count(out, 1, 2, "dead letter", "dead letters");
	ck_assert_int_eq(fclose(out), 0);
	ck_assert_str_eq(buf, "(0 sagas)\n"
			      "(1 saga)\n"
			      "(3 sagas)\n"
			      "(50 of 1234 sagas; --limit N shows more)\n"
			      "(1 of 2 dead letters; --limit N shows more)\n");
	free(buf);
}
END_TEST

START_TEST(test_time)
{
	char buf[ORC_TABLE_TIME_MAX];

	ck_assert_str_eq(orc_table_time("2026-11-27T07:00:00.123Z", buf),
			 "2026-11-27T07:00:00Z");
	ck_assert_str_eq(orc_table_time("2026-11-27T07:00:00Z", buf),
			 "2026-11-27T07:00:00Z");
	ck_assert_str_eq(orc_table_time("soon", buf), "soon");
	ck_assert_str_eq(orc_table_time(NULL, buf), "-");
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("table");
	TCase *tc = tcase_create("print");

	tcase_add_test(tc, test_widths_and_alignment);
	tcase_add_test(tc, test_null_cells_and_notes);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_separators_shrink_first);
	tcase_add_test(tc, test_cut_to_min);
	tcase_add_test(tc, test_right_aligned_cut);
	tcase_add_test(tc, test_tail_inline);
	tcase_add_test(tc, test_tail_own_line);
	tcase_add_test(tc, test_tail_title_own_line);
	tcase_add_test(tc, test_utf8);
	tcase_add_test(tc, test_control_characters);
	tcase_add_test(tc, test_many_rows);
	tcase_add_test(tc, test_count);
	tcase_add_test(tc, test_time);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
