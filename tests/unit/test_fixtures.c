/*
 * test_fixtures.c - every definition fixture through the real loader.
 *
 *   every file in tests/fixtures/definitions/valid must load with no issue;
 *   every file in tests/fixtures/definitions/invalid must be rejected, and
 *       every "<pointer>: <text>" listed under its name in
 *       invalid/expect.json must match one issue: the same pointer, and a
 *       message containing <text>;
 *   every file in schemas/examples must load.
 *
 * Each test checks all files and reports every mismatch at once.
 */
#include <check.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_runner.h"
#include "definition.h"

#define FIXTURES ORC_SOURCE_DIR "/tests/fixtures/definitions"

/* Failures collected across files, reported by one assertion. */
struct report {
	char text[16384];
	size_t len;
	int failures;
};

static void report_add(struct report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
report_add(struct report *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	r->failures++;
	if (r->len >= sizeof(r->text) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->text + r->len, sizeof(r->text) - r->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->len += (size_t)n;
	if (r->len >= sizeof(r->text))
		r->len = sizeof(r->text) - 1;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json files of dir, sorted, except skip (may be NULL); new array. */
static char **
list_json(const char *dir, const char *skip, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;

	*n = 0;
	ck_assert_msg(d != NULL, "cannot open %s", dir);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		char **grown;

		if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		if (skip != NULL && strcmp(e->d_name, skip) == 0)
			continue;
		grown = realloc(names, (*n + 1) * sizeof(*names));
		ck_assert_ptr_nonnull(grown);
		names = grown;
		names[(*n)++] = strdup(e->d_name);
	}
	closedir(d);
	if (*n > 0)
		qsort(names, *n, sizeof(*names), cmp_names);
	return names;
}

static void
free_list(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void
print_issues(struct report *r, const struct orc_definition_issues *issues)
{
	for (size_t i = 0; i < issues->n; i++) {
		r->failures--; /* context, not a failure of its own */
		report_add(r, "      %s: %s\n", issues->v[i].pointer,
			   issues->v[i].message);
	}
}

/* Every file of dir must load cleanly. */
static void
check_all_load(const char *dir, size_t min_files)
{
	struct report r = {.len = 0};
	size_t n;
	char **names = list_json(dir, NULL, &n);

	ck_assert_msg(n >= min_files, "%s: %zu files, expected at least %zu",
		      dir, n, min_files);
	for (size_t i = 0; i < n; i++) {
		struct orc_definition_issues issues = {0};
		struct orc_definition *def = NULL;
		struct orc_error err = {0};
		char path[1024];
		enum orc_status st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		st = orc_definition_load_file(path, &def, &issues, &err);
		if (st != ORC_OK || def == NULL || issues.n != 0) {
			report_add(&r, "  %s: %s (%s)\n", names[i],
				   orc_status_name(st), err.message);
			print_issues(&r, &issues);
		}
		orc_definition_destroy(def);
		orc_definition_issues_finish(&issues);
	}
	free_list(names, n);
	ck_assert_msg(r.failures == 0, "%d file(s) failed to load:\n%s",
		      r.failures, r.text);
}

START_TEST(test_valid_fixtures)
{
	check_all_load(FIXTURES "/valid", 1);
}
END_TEST

START_TEST(test_schema_examples)
{
	check_all_load(ORC_SOURCE_DIR "/schemas/examples", 1);
}
END_TEST

/* Does one issue match "<pointer>: <text>"? */
static bool
matches(const struct orc_definition_issues *issues, const char *expected)
{
	const char *sep = strstr(expected, ": ");
	size_t plen;

	if (sep == NULL)
		return false;
	plen = (size_t)(sep - expected);
	for (size_t i = 0; i < issues->n; i++)
		if (strlen(issues->v[i].pointer) == plen &&
		    strncmp(issues->v[i].pointer, expected, plen) == 0 &&
		    strstr(issues->v[i].message, sep + 2) != NULL)
			return true;
	return false;
}

START_TEST(test_invalid_fixtures)
{
	const char *dir = FIXTURES "/invalid";
	struct report r = {.len = 0};
	json_error_t jerr;
	json_t *expect, *entry;
	const char *key;
	size_t n;
	char **names;

	expect = json_load_file(FIXTURES "/invalid/expect.json", 0, &jerr);
	ck_assert_msg(expect != NULL, "expect.json: line %d: %s", jerr.line,
		      jerr.text);
	names = list_json(dir, "expect.json", &n);
	ck_assert_msg(n > 0, "no invalid fixtures");

	for (size_t i = 0; i < n; i++) {
		struct orc_definition_issues issues = {0};
		struct orc_definition *def = NULL;
		struct orc_error err = {0};
		json_t *errors, *want;
		char path[1024];
		enum orc_status st;
		size_t j;
		bool missed = false;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		entry = json_object_get(expect, names[i]);
		errors = json_object_get(entry, "errors");
		if (!json_is_array(errors) || json_array_size(errors) == 0)
			report_add(&r, "  %s: no \"errors\" in expect.json\n",
				   names[i]);
		st = orc_definition_load_file(path, &def, &issues, &err);
		if (st != ORC_INVALID || def != NULL || issues.n == 0) {
			report_add(&r, "  %s: %s, expected invalid (%s)\n",
				   names[i], orc_status_name(st), err.message);
			goto next;
		}
		json_array_foreach(errors, j, want) {
			const char *text = json_string_value(want);

			if (text == NULL || !matches(&issues, text)) {
				report_add(&r, "  %s: no issue \"%s\"\n", names[i],
					   text ? text : "(not a string)");
				missed = true;
			}
		}
		if (missed) {
			report_add(&r, "    issues found:\n");
			r.failures--;
			print_issues(&r, &issues);
		}
next:
		orc_definition_destroy(def);
		orc_definition_issues_finish(&issues);
	}

	/* and every expectation names a fixture that exists */
	json_object_foreach(expect, key, entry) {
		bool found = false;

		for (size_t i = 0; i < n && !found; i++)
			found = strcmp(names[i], key) == 0;
		if (!found)
			report_add(&r, "  expect.json: no fixture file \"%s\"\n", key);
	}
	free_list(names, n);
	json_decref(expect);
	ck_assert_msg(r.failures == 0, "%d mismatch(es):\n%s", r.failures, r.text);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("fixtures");
	TCase *tc = tcase_create("definitions");

	tcase_add_test(tc, test_valid_fixtures);
	tcase_add_test(tc, test_invalid_fixtures);
	tcase_add_test(tc, test_schema_examples);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
