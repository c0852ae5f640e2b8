/*
 * test_metrics.c - the metrics registry and the Prometheus text format:
 * counters, gauges, label escaping, histogram buckets, number formatting,
 * name checks, families and series, removal.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_runner.h"
#include "metrics.h"

/* Render reg and compare with want. */
static void
assert_text(const struct orc_metrics *reg, const char *want)
{
	struct orc_error err;
	char *text;
	size_t len;

	ck_assert_int_eq(orc_metrics_render(reg, &text, &len, &err), ORC_OK);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_str_eq(text, want);
	free(text);
}

START_TEST(test_empty)
{
	struct orc_metrics *reg = orc_metrics_create();

	assert_text(reg, "");
	assert_text(NULL, "");
	orc_metrics_destroy(reg);
	orc_metrics_destroy(NULL);
}
END_TEST

START_TEST(test_counter_and_gauge)
{
	struct orc_metrics *reg = orc_metrics_create();
	struct orc_metric *c, *g;

	c = orc_metrics_counter(reg, "x_total", "Things done", NULL);
	g = orc_metrics_gauge(reg, "x_backlog", "Things waiting", NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(g);
	orc_metric_add(c, 2);
	orc_metric_add(c, 3);
	orc_metric_add(c, -10); /* counters never go down */
	orc_metric_set(g, 7);
	orc_metric_add(g, -2.5);
	ck_assert(orc_metric_value(c) == 5);
	ck_assert(orc_metric_value(g) == 4.5);
	assert_text(reg, "# HELP x_total Things done\n"
			 "# TYPE x_total counter\n"
			 "x_total 5\n"
			 "# HELP x_backlog Things waiting\n"
			 "# TYPE x_backlog gauge\n"
			 "x_backlog 4.5\n");
	orc_metrics_destroy(reg);
}
END_TEST

START_TEST(test_counter_set_is_monotonic)
{
	struct orc_metrics *reg = orc_metrics_create();
	struct orc_metric *c = orc_metrics_counter(reg, "n_total", "n", NULL);

	orc_metric_set(c, 10);
	orc_metric_set(c, 4); /* ignored: a total does not shrink */
	ck_assert(orc_metric_value(c) == 10);
	orc_metric_set(c, 12);
	ck_assert(orc_metric_value(c) == 12);
	orc_metrics_destroy(reg);
}
END_TEST

START_TEST(test_same_series_found_again)
{
	struct orc_metrics *reg = orc_metrics_create();
	const char *l1[] = {"status", "completed", NULL};
	const char *l2[] = {"status", "failed", NULL};
	struct orc_metric *a, *b, *c;

	a = orc_metrics_counter(reg, "s_total", "Sagas", l1);
	b = orc_metrics_counter(reg, "s_total", "ignored the second time", l2);
	c = orc_metrics_counter(reg, "s_total", "Sagas", l1);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_eq(a, c);
	ck_assert_ptr_ne(a, b);
	orc_metric_add(a, 1);
	orc_metric_add(c, 1);
	orc_metric_add(b, 3);
	/* one HELP and one TYPE per family, series in creation order */
	assert_text(reg, "# HELP s_total Sagas\n"
			 "# TYPE s_total counter\n"
			 "s_total{status=\"completed\"} 2\n"
			 "s_total{status=\"failed\"} 3\n");
	orc_metrics_destroy(reg);
}
END_TEST

START_TEST(test_label_escaping)
{
	struct orc_metrics *reg = orc_metrics_create();
	const char *labels[] = {"path", "C:\\dir\\file", "quote", "say \"hi\"",
				"nl",	"two\nlines",	 "utf8",  "caf\xc3\xa9",
				NULL};
	struct orc_metric *g = orc_metrics_gauge(
	    reg, "weird", "Help with \\ and\nnewline", labels);

	ck_assert_ptr_nonnull(g);
	orc_metric_set(g, 1);
	assert_text(reg,
		    "# HELP weird Help with \\\\ and\\nnewline\n"
		    "# TYPE weird gauge\n"
		    "weird{path=\"C:\\\\dir\\\\file\",quote=\"say \\\"hi\\\"\","
		    "nl=\"two\\nlines\",utf8=\"caf\xc3\xa9\"} 1\n");
	orc_metrics_destroy(reg);
}
END_TEST

START_TEST(test_help_keeps_quotes)
{
	struct orc_metrics *reg = orc_metrics_create();

	orc_metric_set(orc_metrics_gauge(reg, "q", "a \"quoted\" word", NULL),
		       0);
	assert_text(reg, "# HELP q a \"quoted\" word\n# TYPE q gauge\nq 0\n");
	orc_metrics_destroy(reg);
}
END_TEST

START_TEST(test_histogram_buckets)
{
	static const double bounds[] = {0.005, 0.1, 1, 2.5};
	struct orc_metrics *reg = orc_metrics_create();
	const char *labels[] = {"kind", "events", NULL};
	struct orc_metric *h;

	h = orc_metrics_histogram(reg, "tx_seconds", "Transactions", labels,
				  bounds, 4);
	ck_assert_ptr_nonnull(h);
	orc_metric_observe(h, 0.001); /* bucket 0.005 */
	orc_metric_observe(h, 0.005); /* le is inclusive: bucket 0.005 */
	orc_metric_observe(h, 0.05);  /* 0.1 */
	orc_metric_observe(h, 2.5);   /* 2.5 */
	orc_metric_observe(h, 100);   /* +Inf only */
	orc_metric_observe(h, NAN);   /* ignored */
	ck_assert_uint_eq(orc_metric_count(h), 5);
	assert_text(reg, "# HELP tx_seconds Transactions\n"
			 "# TYPE tx_seconds histogram\n"
			 "tx_seconds_bucket{kind=\"events\",le=\"0.005\"} 2\n"
			 "tx_seconds_bucket{kind=\"events\",le=\"0.1\"} 3\n"
			 "tx_seconds_bucket{kind=\"events\",le=\"1\"} 3\n"
			 "tx_seconds_bucket{kind=\"events\",le=\"2.5\"} 4\n"
			 "tx_seconds_bucket{kind=\"events\",le=\"+Inf\"} 5\n"
			 "tx_seconds_sum{kind=\"events\"} 102.556\n"
			 "tx_seconds_count{kind=\"events\"} 5\n");
	orc_metrics_destroy(reg);
}
END_TEST

START_TEST(test_histogram_without_labels)
{
	static const double bounds[] = {1, 10};
	struct orc_metrics *reg = orc_metrics_create();
	struct orc_metric *h =
	    orc_metrics_histogram(reg, "batch", "Batch sizes", NULL, bounds, 2);

	assert_text(reg, "# HELP batch Batch sizes\n"
			 "# TYPE batch histogram\n"
			 "batch_bucket{le=\"1\"} 0\n"
			 "batch_bucket{le=\"10\"} 0\n"
			 "batch_bucket{le=\"+Inf\"} 0\n"
			 "batch_sum 0\n"
			 "batch_count 0\n");
	orc_metric_observe(h, 3);
	orc_metric_observe(h, 10);
	assert_text(reg, "# HELP batch Batch sizes\n"
			 "# TYPE batch histogram\n"
			 "batch_bucket{le=\"1\"} 0\n"
			 "batch_bucket{le=\"10\"} 2\n"
			 "batch_bucket{le=\"+Inf\"} 2\n"
			 "batch_sum 13\n"
			 "batch_count 2\n");
	orc_metrics_destroy(reg);
}
END_TEST

START_TEST(test_histogram_bounds_checked)
{
	static const double unsorted[] = {1, 0.5};
	static const double same[] = {1, 1};
	static const double inf[] = {1, INFINITY};
	static const double good[] = {1, 2};
	static const double other[] = {1, 3};
	const char *le[] = {"le", "1", NULL};
	struct orc_metrics *reg = orc_metrics_create();

	ck_assert_ptr_null(
	    orc_metrics_histogram(reg, "h1", "", NULL, unsorted, 2));
	ck_assert_ptr_null(orc_metrics_histogram(reg, "h2", "", NULL, same, 2));
	ck_assert_ptr_null(orc_metrics_histogram(reg, "h3", "", NULL, inf, 2));
	ck_assert_ptr_null(orc_metrics_histogram(reg, "h4", "", NULL, NULL, 2));
	ck_assert_ptr_null(orc_metrics_histogram(reg, "h5", "", le, good, 2));
	ck_assert_ptr_nonnull(
	    orc_metrics_histogram(reg, "h", "", NULL, good, 2));
	/* the same family with other bounds is refused */
	ck_assert_ptr_null(orc_metrics_histogram(reg, "h", "", NULL, other, 2));
	orc_metrics_destroy(reg);
}
END_TEST

START_TEST(test_names_checked)
{
	struct orc_metrics *reg = orc_metrics_create();
	const char *bad_label[] = {"0abc", "x", NULL};
	const char *reserved[] = {"__name", "x", NULL};
	const char *dash[] = {"a-b", "x", NULL};
	const char *odd[] = {"a", NULL};
	const char *twice[] = {"a", "1", "a", "2", NULL};
	const char *ok[] = {"a_1", "", "B", "x", NULL};

	ck_assert_ptr_null(orc_metrics_gauge(reg, "", "", NULL));
	ck_assert_ptr_null(orc_metrics_gauge(reg, "1abc", "", NULL));
	ck_assert_ptr_null(orc_metrics_gauge(reg, "a-b", "", NULL));
	ck_assert_ptr_null(orc_metrics_gauge(reg, "a b", "", NULL));
	ck_assert_ptr_null(orc_metrics_gauge(reg, NULL, "", NULL));
	ck_assert_ptr_null(orc_metrics_gauge(reg, "g", "", bad_label));
	ck_assert_ptr_null(orc_metrics_gauge(reg, "g", "", reserved));
	ck_assert_ptr_null(orc_metrics_gauge(reg, "g", "", dash));
	ck_assert_ptr_null(orc_metrics_gauge(reg, "g", "", odd));
	ck_assert_ptr_null(orc_metrics_gauge(reg, "g", "", twice));
	ck_assert_ptr_nonnull(
	    orc_metrics_gauge(reg, "ns:sub_name_2", "", NULL));
	ck_assert_ptr_nonnull(orc_metrics_gauge(reg, "g", "", ok));
	/* one name, one type */
	ck_assert_ptr_null(orc_metrics_counter(reg, "g", "", NULL));
	ck_assert_ptr_null(orc_metrics_counter(NULL, "g", "", NULL));
	orc_metrics_destroy(reg);
}
END_TEST

START_TEST(test_remove_family)
{
	struct orc_metrics *reg = orc_metrics_create();
	const char *p0[] = {"topic", "t", "partition", "0", NULL};
	const char *p1[] = {"topic", "t", "partition", "1", NULL};

	orc_metric_set(orc_metrics_gauge(reg, "first", "F", NULL), 1);
	orc_metric_set(orc_metrics_gauge(reg, "lag", "Lag", p0), 5);
	orc_metric_set(orc_metrics_gauge(reg, "lag", "Lag", p1), 6);
	orc_metric_set(orc_metrics_gauge(reg, "last", "L", NULL), 2);
	orc_metrics_remove(reg, "lag");
	orc_metrics_remove(reg, "no_such");
	orc_metrics_remove(NULL, "lag");
	/* a family without series is left out */
	assert_text(reg, "# HELP first F\n# TYPE first gauge\nfirst 1\n"
			 "# HELP last L\n# TYPE last gauge\nlast 2\n");
	/* and comes back in its place */
	orc_metric_set(orc_metrics_gauge(reg, "lag", "Lag", p1), 7);
	assert_text(reg, "# HELP first F\n# TYPE first gauge\nfirst 1\n"
			 "# HELP lag Lag\n# TYPE lag gauge\n"
			 "lag{topic=\"t\",partition=\"1\"} 7\n"
			 "# HELP last L\n# TYPE last gauge\nlast 2\n");
	orc_metrics_destroy(reg);
}
END_TEST

START_TEST(test_value_format)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
	    {0, "0"},
	    {42, "42"},
	    {-3, "-3"},
	    {0.005, "0.005"},
	    {0.1, "0.1"},
	    {2.5, "2.5"},
	    {1.0 / 3.0, "0.3333333333333333"},
	    {1e20, "1e+20"},
	    {9007199254740992.0, "9007199254740992"}, /* 2^53 */
	    {18446744073709551615.0, "1.8446744073709552e+19"},
	    {INFINITY, "+Inf"},
	    {-INFINITY, "-Inf"},
	    {NAN, "NaN"},
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_str_eq(orc_metrics_format_value(cases[i].v, buf),
				 cases[i].want);
}
END_TEST

START_TEST(test_special_values_rendered)
{
	struct orc_metrics *reg = orc_metrics_create();

	orc_metric_set(orc_metrics_gauge(reg, "a", "", NULL), NAN);
	orc_metric_set(orc_metrics_gauge(reg, "b", "", NULL), -INFINITY);
	assert_text(reg, "# HELP a \n# TYPE a gauge\na NaN\n"
			 "# HELP b \n# TYPE b gauge\nb -Inf\n");
	orc_metrics_destroy(reg);
}
END_TEST

START_TEST(test_wrong_type_calls_ignored)
{
	static const double bounds[] = {1};
	struct orc_metrics *reg = orc_metrics_create();
	struct orc_metric *c = orc_metrics_counter(reg, "c", "", NULL);
	struct orc_metric *h =
	    orc_metrics_histogram(reg, "h", "", NULL, bounds, 1);

	orc_metric_observe(c, 5);
	orc_metric_set(h, 5);
	orc_metric_add(h, 5);
	orc_metric_set(NULL, 1);
	orc_metric_add(NULL, 1);
	orc_metric_observe(NULL, 1);
	ck_assert(orc_metric_value(c) == 0);
	ck_assert(orc_metric_value(h) == 0);
	ck_assert_uint_eq(orc_metric_count(h), 0);
	ck_assert_uint_eq(orc_metric_count(c), 0);
	ck_assert(orc_metric_value(NULL) == 0);
	orc_metrics_destroy(reg);
}
END_TEST

START_TEST(test_type_names)
{
	ck_assert_str_eq(orc_metric_type_name(ORC_METRIC_COUNTER), "counter");
	ck_assert_str_eq(orc_metric_type_name(ORC_METRIC_GAUGE), "gauge");
	ck_assert_str_eq(orc_metric_type_name(ORC_METRIC_HISTOGRAM),
			 "histogram");
}
END_TEST

/* Many series: the text grows past the first buffer and stays whole. */
START_TEST(test_large_registry)
{
	struct orc_metrics *reg = orc_metrics_create();
	struct orc_error err;
	char *text, name[32], part[16];
	size_t len, lines = 0;

	for (int i = 0; i < 500; i++) {
		const char *labels[] = {"topic", "orders.events", "partition",
					part, NULL};

		snprintf(part, sizeof(part), "%d", i);
		orc_metric_set(orc_metrics_gauge(reg, "lag", "Lag", labels), i);
	}
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "c%d_total", i);
		orc_metric_add(orc_metrics_counter(reg, name, "C", NULL), i);
	}
	ck_assert_int_eq(orc_metrics_render(reg, &text, &len, &err), ORC_OK);
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	ck_assert_uint_eq(lines, 2 + 500 + 50 * 3);
	ck_assert_ptr_nonnull(strstr(
	    text, "lag{topic=\"orders.events\",partition=\"499\"} 499\n"));
	ck_assert_int_eq(text[len - 1], '\n');
	free(text);
	orc_metrics_destroy(reg);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_counter_and_gauge);
	tcase_add_test(tc, test_counter_set_is_monotonic);
	tcase_add_test(tc, test_same_series_found_again);
	tcase_add_test(tc, test_label_escaping);
	tcase_add_test(tc, test_help_keeps_quotes);
	tcase_add_test(tc, test_histogram_buckets);
	tcase_add_test(tc, test_histogram_without_labels);
	tcase_add_test(tc, test_histogram_bounds_checked);
	tcase_add_test(tc, test_names_checked);
	tcase_add_test(tc, test_remove_family);
	tcase_add_test(tc, test_value_format);
	tcase_add_test(tc, test_special_values_rendered);
	tcase_add_test(tc, test_wrong_type_calls_ignored);
	tcase_add_test(tc, test_type_names);
	tcase_add_test(tc, test_large_registry);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(metrics_suite());
}
