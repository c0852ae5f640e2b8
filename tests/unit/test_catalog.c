/*
 * test_catalog.c - the catalog of loaded definitions: adding definitions
 * and versions, the latest version per name, lookups of one version, the
 * routing questions the worker asks (which definitions a trigger starts,
 * which wait steps an event type answers), the topic lists, refused
 * duplicates, and destroy(NULL).
 *
 * Definitions are built from short JSON strings through the real loader
 * (orc_definition_from_json), plus two fixtures from
 * tests/fixtures/definitions/valid, so the catalog sees what `run` sees.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "catalog.h"
#include "check_runner.h"
#include "definition.h"

#define VALID_DIR ORC_SOURCE_DIR "/tests/fixtures/definitions/valid/"

static struct orc_catalog *cat;

static void
setup(void)
{
	cat = orc_catalog_create();
	ck_assert_ptr_nonnull(cat);
}

static void
teardown(void)
{
	orc_catalog_destroy(cat);
	cat = NULL;
}

/*
 * A valid definition name@version triggered by (topic, type), with one
 * command step and, when wait_type is not NULL, a wait step after it for
 * wait_type on "reviews".  Returned new.
 */
static struct orc_definition *
make(const char *name, int version, const char *topic, const char *type,
     const char *wait_type)
{
	char text[2048], wait[512] = "";
	struct orc_definition_issues issues = {0};
	struct orc_definition *def = NULL;
	json_error_t jerr;
	json_t *body;

	if (wait_type != NULL)
		snprintf(wait, sizeof(wait),
			 ", {\"name\": \"review\", \"needs\": [\"work\"],"
			 " \"wait\": {\"topic\": \"reviews\", \"type\": \"%s\","
			 " \"key\": \"/order_id\"}}",
			 wait_type);
	snprintf(text, sizeof(text),
		 "{\"name\": \"%s\", \"version\": %d,"
		 " \"trigger\": {\"topic\": \"%s\", \"type\": \"%s\","
		 " \"key\": \"/order_id\"},"
		 " \"steps\": [{\"name\": \"work\","
		 " \"command\": {\"topic\": \"%s.commands\", \"type\": \"work.do\"},"
		 " \"success\": [\"work.done\"],"
		 " \"compensation\": {\"topic\": \"undo.commands\","
		 " \"type\": \"work.undo\", \"success\": [\"work.undone\"]}}%s]}",
		 name, version, topic, type, name, wait);
	body = json_loads(text, 0, &jerr);
	ck_assert_msg(body != NULL, "%s: %s", jerr.text, text);
	ck_assert_msg(orc_definition_from_json(body, &def, &issues) == ORC_OK,
		      "%s: %s %s", text, issues.n ? issues.v[0].pointer : "",
		      issues.n ? issues.v[0].message : "");
	json_decref(body);
	orc_definition_issues_finish(&issues);
	return def;
}

/* make() and add it; the add must succeed.  Returns the definition. */
static const struct orc_definition *
add(const char *name, int version, const char *topic, const char *type,
    const char *wait_type)
{
	struct orc_definition *def = make(name, version, topic, type, wait_type);
	struct orc_error err;

	ck_assert_msg(orc_catalog_add(cat, def, &err) == ORC_OK, "%s",
		      err.message);
	return def;
}

static bool
holds(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

START_TEST(test_empty)
{
	const struct orc_definition *out[4];
	struct orc_catalog_waiter w[4];
	const char *topics[4];

	ck_assert_uint_eq(orc_catalog_count(cat), 0);
	ck_assert_ptr_null(orc_catalog_at(cat, 0));
	ck_assert_ptr_null(orc_catalog_get(cat, "order", 1));
	ck_assert_ptr_null(orc_catalog_latest(cat, "order"));
	ck_assert_uint_eq(orc_catalog_triggered_by(cat, "orders", "order.placed",
						   out, 4),
			  0);
	ck_assert_uint_eq(orc_catalog_waiting_for(cat, "reviews", "x", w, 4), 0);
	ck_assert_uint_eq(orc_catalog_topics(cat, topics, 4), 0);
	ck_assert_uint_eq(orc_catalog_all_topics(cat, topics, 4), 0);
}
END_TEST

START_TEST(test_add_and_get_versions)
{
	const struct orc_definition *v1, *v3, *v2, *other;

	v1 = add("order", 1, "orders", "order.placed", NULL);
	v3 = add("order", 3, "orders", "order.placed", NULL);
	v2 = add("order", 2, "orders", "order.placed", NULL);
	other = add("trip", 7, "trips", "trip.booked", NULL);
	ck_assert_uint_eq(orc_catalog_count(cat), 4);

	/* in the order added */
	ck_assert_ptr_eq(orc_catalog_at(cat, 0), v1);
	ck_assert_ptr_eq(orc_catalog_at(cat, 1), v3);
	ck_assert_ptr_eq(orc_catalog_at(cat, 2), v2);
	ck_assert_ptr_eq(orc_catalog_at(cat, 3), other);
	ck_assert_ptr_null(orc_catalog_at(cat, 4));

	/* every version stays, found by name and version */
	ck_assert_ptr_eq(orc_catalog_get(cat, "order", 1), v1);
	ck_assert_ptr_eq(orc_catalog_get(cat, "order", 2), v2);
	ck_assert_ptr_eq(orc_catalog_get(cat, "order", 3), v3);
	ck_assert_int_eq(orc_catalog_get(cat, "order", 2)->version, 2);
	ck_assert_str_eq(orc_catalog_get(cat, "order", 2)->name, "order");
	ck_assert_ptr_eq(orc_catalog_get(cat, "trip", 7), other);
	ck_assert_ptr_null(orc_catalog_get(cat, "order", 4));
	ck_assert_ptr_null(orc_catalog_get(cat, "order", 0));
	ck_assert_ptr_null(orc_catalog_get(cat, "trip", 1));
	ck_assert_ptr_null(orc_catalog_get(cat, "orde", 1));
	ck_assert_ptr_null(orc_catalog_get(cat, "orders", 1));

	/* the highest version, whatever order they came in */
	ck_assert_ptr_eq(orc_catalog_latest(cat, "order"), v3);
	ck_assert_ptr_eq(orc_catalog_latest(cat, "trip"), other);
	ck_assert_ptr_null(orc_catalog_latest(cat, "nothing"));
}
END_TEST

START_TEST(test_fixtures_from_files)
{
	static const char *const files[] = {"command_minimal.json",
					    "wait_continue.json"};
	const struct orc_definition *out[2];
	struct orc_catalog_waiter w[2];

	for (size_t i = 0; i < 2; i++) {
		struct orc_definition_issues issues = {0};
		struct orc_definition *def = NULL;
		struct orc_error err;
		char path[512];

		snprintf(path, sizeof(path), "%s%s", VALID_DIR, files[i]);
		ck_assert_msg(orc_definition_load_file(path, &def, &issues, &err) ==
				      ORC_OK,
			      "%s", path);
		orc_definition_issues_finish(&issues);
		ck_assert_int_eq(orc_catalog_add(cat, def, &err), ORC_OK);
	}
	ck_assert_uint_eq(orc_catalog_count(cat), 2);
	ck_assert_int_eq(orc_catalog_latest(cat, "wait_continue")->version, 2);
	ck_assert_ptr_nonnull(orc_catalog_get(cat, "command_minimal", 1));
	ck_assert_uint_eq(orc_catalog_triggered_by(cat, "t.events",
						   "thing.requested", out, 2),
			  1);
	ck_assert_str_eq(out[0]->name, "command_minimal");
	ck_assert_uint_eq(orc_catalog_waiting_for(cat, "warehouse.events",
						  "order.picked_up", w, 2),
			  1);
	ck_assert_str_eq(w[0].def->name, "wait_continue");
	ck_assert_str_eq(w[0].step->name, "await_pickup");
	ck_assert_str_eq(w[0].step->wait.key, "/refs/order");
}
END_TEST

START_TEST(test_same_version_refused)
{
	const struct orc_definition *first;
	struct orc_error err;

	first = add("order", 2, "orders", "order.placed", NULL);
	/* another body under the same name and version: refused, and freed
	 * by the catalog (the sanitizer build would see a leak otherwise) */
	ck_assert_int_eq(orc_catalog_add(cat,
					 make("order", 2, "other", "x.y", NULL),
					 &err),
			 ORC_CONFLICT);
	ck_assert_int_eq(err.status, ORC_CONFLICT);
	ck_assert_ptr_nonnull(strstr(err.message, "order"));
	ck_assert_ptr_nonnull(strstr(err.message, "version 2"));
	ck_assert_ptr_nonnull(strstr(err.message, "already loaded"));
	/* the first one stays, alone */
	ck_assert_uint_eq(orc_catalog_count(cat), 1);
	ck_assert_ptr_eq(orc_catalog_get(cat, "order", 2), first);
	ck_assert_str_eq(first->trigger.topic, "orders");
	/* the error is optional */
	ck_assert_int_eq(orc_catalog_add(cat,
					 make("order", 2, "orders", "order.placed",
					      NULL),
					 NULL),
			 ORC_CONFLICT);
	ck_assert_uint_eq(orc_catalog_count(cat), 1);
	/* another version or another name is no conflict */
	add("order", 3, "orders", "order.placed", NULL);
	add("refund", 2, "orders", "order.placed", NULL);
	ck_assert_uint_eq(orc_catalog_count(cat), 3);
}
END_TEST

START_TEST(test_triggered_by_latest_only)
{
	const struct orc_definition *v1, *v2, *refund, *out[4];

	v1 = add("order", 1, "orders", "order.placed", NULL);
	v2 = add("order", 2, "orders", "order.placed", NULL);
	refund = add("refund", 1, "orders", "order.refunded", NULL);
	add("audit", 1, "audit", "order.placed", NULL);

	/* new sagas start on the latest version only */
	ck_assert_uint_eq(orc_catalog_triggered_by(cat, "orders", "order.placed",
						   out, 4),
			  1);
	ck_assert_ptr_eq(out[0], v2);
	ck_assert_ptr_ne(out[0], v1);
	/* the type and the topic both have to match */
	ck_assert_uint_eq(orc_catalog_triggered_by(cat, "orders",
						   "order.refunded", out, 4),
			  1);
	ck_assert_ptr_eq(out[0], refund);
	ck_assert_uint_eq(orc_catalog_triggered_by(cat, "audit", "order.placed",
						   out, 4),
			  1);
	ck_assert_str_eq(out[0]->name, "audit");
	ck_assert_uint_eq(orc_catalog_triggered_by(cat, "orders",
						   "order.cancelled", out, 4),
			  0);
	ck_assert_uint_eq(orc_catalog_triggered_by(cat, "refunds",
						   "order.refunded", out, 4),
			  0);
}
END_TEST

START_TEST(test_triggered_by_several_and_max)
{
	const struct orc_definition *a, *b, *c, *out[3] = {NULL, NULL, NULL};

	a = add("a", 1, "orders", "order.placed", NULL);
	b = add("b", 4, "orders", "order.placed", NULL);
	c = add("c", 2, "orders", "order.placed", NULL);

	ck_assert_uint_eq(orc_catalog_triggered_by(cat, "orders", "order.placed",
						   out, 3),
			  3);
	ck_assert_ptr_eq(out[0], a);
	ck_assert_ptr_eq(out[1], b);
	ck_assert_ptr_eq(out[2], c);
	/* more match than fit: the count says so, out holds the first max */
	out[0] = out[1] = out[2] = NULL;
	ck_assert_uint_eq(orc_catalog_triggered_by(cat, "orders", "order.placed",
						   out, 2),
			  3);
	ck_assert_ptr_eq(out[0], a);
	ck_assert_ptr_eq(out[1], b);
	ck_assert_ptr_null(out[2]);
	ck_assert_uint_eq(orc_catalog_triggered_by(cat, "orders", "order.placed",
						   NULL, 0),
			  3);
}
END_TEST

START_TEST(test_waiting_for_every_version)
{
	const struct orc_definition *v1, *v2, *other;
	struct orc_catalog_waiter w[4];

	v1 = add("order", 1, "orders", "order.placed", "review.approved");
	v2 = add("order", 2, "orders", "order.placed", "review.approved");
	other = add("trip", 1, "trips", "trip.booked", "review.rejected");
	add("plain", 1, "orders", "order.placed", NULL);

	/* running sagas keep their version: every version's wait answers */
	ck_assert_uint_eq(orc_catalog_waiting_for(cat, "reviews",
						  "review.approved", w, 4),
			  2);
	ck_assert_ptr_eq(w[0].def, v1);
	ck_assert_ptr_eq(w[1].def, v2);
	ck_assert_str_eq(w[0].step->name, "review");
	ck_assert_int_eq(w[0].step->kind, ORC_STEP_WAIT);
	ck_assert_uint_eq(w[0].step->index, 1);
	ck_assert_ptr_eq(w[0].step, &v1->steps[1]);
	ck_assert_ptr_eq(w[1].step, &v2->steps[1]);
	ck_assert_str_eq(w[0].step->wait.key, "/order_id");

	ck_assert_uint_eq(orc_catalog_waiting_for(cat, "reviews",
						  "review.rejected", w, 4),
			  1);
	ck_assert_ptr_eq(w[0].def, other);
	/* the topic has to match too; a trigger or a reply is no waiter */
	ck_assert_uint_eq(orc_catalog_waiting_for(cat, "orders",
						  "review.approved", w, 4),
			  0);
	ck_assert_uint_eq(orc_catalog_waiting_for(cat, "orders", "order.placed",
						  w, 4),
			  0);
	ck_assert_uint_eq(orc_catalog_waiting_for(cat, "order.commands",
						  "work.done", w, 4),
			  0);
	/* the count goes on past max */
	ck_assert_uint_eq(orc_catalog_waiting_for(cat, "reviews",
						  "review.approved", w, 1),
			  2);
	ck_assert_ptr_eq(w[0].def, v1);
}
END_TEST

START_TEST(test_topics)
{
	const char *topics[16];
	size_t n;

	add("order", 1, "orders", "order.placed", "review.approved");
	add("order", 2, "orders", "order.placed", "review.approved");
	add("trip", 1, "trips", "trip.booked", NULL);

	/* what the worker subscribes to: triggers and waits, each once */
	n = orc_catalog_topics(cat, topics, 16);
	ck_assert_uint_eq(n, 3);
	ck_assert(holds(topics, n, "orders"));
	ck_assert(holds(topics, n, "reviews"));
	ck_assert(holds(topics, n, "trips"));
	ck_assert(!holds(topics, n, "order.commands"));

	/* plus where commands and compensations go */
	n = orc_catalog_all_topics(cat, topics, 16);
	ck_assert_uint_eq(n, 6);
	ck_assert(holds(topics, n, "orders"));
	ck_assert(holds(topics, n, "reviews"));
	ck_assert(holds(topics, n, "trips"));
	ck_assert(holds(topics, n, "order.commands"));
	ck_assert(holds(topics, n, "trip.commands"));
	ck_assert(holds(topics, n, "undo.commands"));

	/* a short array: the count still says how many there are */
	ck_assert_uint_eq(orc_catalog_topics(cat, topics, 2), 3);
	ck_assert_str_eq(topics[0], "orders");
	ck_assert_str_eq(topics[1], "reviews");
}
END_TEST

START_TEST(test_destroy_null)
{
	orc_catalog_destroy(NULL);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("catalog");
	TCase *tc = tcase_create("catalog");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_add_and_get_versions);
	tcase_add_test(tc, test_fixtures_from_files);
	tcase_add_test(tc, test_same_version_refused);
	tcase_add_test(tc, test_triggered_by_latest_only);
	tcase_add_test(tc, test_triggered_by_several_and_max);
	tcase_add_test(tc, test_waiting_for_every_version);
	tcase_add_test(tc, test_topics);
	tcase_add_test(tc, test_destroy_null);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
