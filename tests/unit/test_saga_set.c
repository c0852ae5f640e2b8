/*
 * test_saga_set.c - the set a batch reads its sagas into: every saga is
 * found by its id and by its key (the newest of a key), whatever the
 * order sagas got their ids in, after a removal, and after a reset.  The
 * sagas are started by the engine itself, as in the apply path.
 */
#include <stdio.h>
#include <stdlib.h>

#include "check_runner.h"
#include "definition.h"
#include "engine.h"
#include "saga_set.h"

static struct orc_definition *seq_def;  /* bench_seq3 */
static struct orc_definition *comp_def; /* bench_comp3: another name */

static void
setup(void)
{
	struct orc_definition_issues issues = {0};
	struct orc_error err;

	ck_assert_int_eq(orc_definition_load_file(
				 ORC_SOURCE_DIR
				 "/tests/bench/definitions/bench_seq3.json",
				 &seq_def, &issues, &err),
			 ORC_OK);
	ck_assert_int_eq(orc_definition_load_file(
				 ORC_SOURCE_DIR
				 "/tests/bench/definitions/bench_comp3.json",
				 &comp_def, &issues, &err),
			 ORC_OK);
	orc_definition_issues_finish(&issues);
	ck_assert_str_ne(seq_def->name, comp_def->name);
}

static void
teardown(void)
{
	orc_definition_destroy(seq_def);
	orc_definition_destroy(comp_def);
}

static void
id_of(char *buf, size_t size, int i)
{
	snprintf(buf, size, "00000000-0000-4000-8000-%012d", i);
}

/* Give ss its id (of i) and key, as the apply path does: START it. */
static void
start(struct orc_stored_saga *ss, int i, const char *key)
{
	struct orc_engine_input in = {.kind = ORC_INPUT_START};
	struct orc_effects fx;
	struct orc_error err;
	char id[64];
	json_t *data = json_object();

	id_of(id, sizeof(id), i);
	in.saga_id = id;
	in.event_id = id;
	in.key = key;
	in.data = data;
	orc_effects_init(&fx);
	ck_assert_msg(orc_engine_apply(&ss->saga, &in, 1700000000000, &fx,
				       &err) == ORC_OK,
		      "start %d: %s", i, err.message);
	orc_effects_finish(&fx);
	json_decref(data);
	ck_assert_str_eq(ss->saga.id, id);
}

static struct orc_stored_saga *
add(struct orc_saga_set *set, const struct orc_definition *def, int i,
    const char *key)
{
	struct orc_stored_saga *ss = orc_saga_set_add_new(set, def);

	ck_assert_ptr_nonnull(ss);
	start(ss, i, key);
	return ss;
}

static struct orc_stored_saga *
find(const struct orc_saga_set *set, int i)
{
	char id[64];

	id_of(id, sizeof(id), i);
	return orc_saga_set_find(set, id);
}

/*
 * Many sagas (past every growth of the tables), keys shared by several of
 * them and by both definitions: each id finds its saga, each key its
 * newest saga of that definition.
 */
START_TEST(test_many)
{
	enum { N = 5000, KEYS = 700 };
	struct orc_stored_saga **want = calloc(N, sizeof(*want));
	struct orc_saga_set set;
	char key[32];

	ck_assert_ptr_nonnull(want);
	orc_saga_set_init(&set);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%d", i % KEYS);
		want[i] = add(&set, i % 3 ? seq_def : comp_def, i, key);
	}
	ck_assert_uint_eq(set.n, N);
	for (int i = 0; i < N; i++)
		ck_assert_ptr_eq(find(&set, i), want[i]);
	ck_assert_ptr_null(find(&set, N));
	for (int k = 0; k < KEYS; k++) {
		const struct orc_stored_saga *newest[2] = {NULL, NULL};

		for (int i = k; i < N; i += KEYS)
			newest[i % 3 ? 0 : 1] = want[i];
		snprintf(key, sizeof(key), "k%d", k);
		ck_assert_ptr_eq(orc_saga_set_find_key(&set, seq_def->name, key),
				 newest[0]);
		ck_assert_ptr_eq(
			orc_saga_set_find_key(&set, comp_def->name, key),
			newest[1]);
	}
	ck_assert_ptr_null(orc_saga_set_find_key(&set, seq_def->name, "nokey"));
	ck_assert_ptr_null(orc_saga_set_find_key(&set, "nodef", "k1"));
	orc_saga_set_finish(&set);
	free(want);
}
END_TEST

/*
 * A saga that had no id when later ones were pushed (its start had not
 * run, or failed) is found once it gets one, and is still the newest of
 * its key against those pushed before it.
 */
START_TEST(test_id_set_late)
{
	struct orc_saga_set set;
	struct orc_stored_saga *early, *late, *after;

	orc_saga_set_init(&set);
	early = add(&set, seq_def, 1, "k");
	late = orc_saga_set_add_new(&set, seq_def);
	ck_assert_ptr_nonnull(late);
	for (int i = 10; i < 200; i++)
		add(&set, seq_def, i, "other");
	ck_assert_ptr_null(find(&set, 2));
	ck_assert_ptr_eq(orc_saga_set_find_key(&set, seq_def->name, "k"),
			 early);
	start(late, 2, "k");
	ck_assert_ptr_eq(find(&set, 2), late);
	ck_assert_ptr_eq(orc_saga_set_find_key(&set, seq_def->name, "k"), late);
	/* more pushes (growing the tables) keep it found */
	for (int i = 200; i < 1000; i++)
		add(&set, seq_def, i, "other");
	ck_assert_ptr_eq(find(&set, 2), late);
	ck_assert_ptr_eq(orc_saga_set_find_key(&set, seq_def->name, "k"), late);
	/* and a newer saga of the key wins over it */
	after = add(&set, seq_def, 3, "k");
	ck_assert_ptr_eq(orc_saga_set_find_key(&set, seq_def->name, "k"),
			 after);
	add(&set, seq_def, 4, "k2");
	ck_assert_ptr_eq(orc_saga_set_find_key(&set, seq_def->name, "k"),
			 after);
	ck_assert_ptr_eq(find(&set, 1), early);
	orc_saga_set_finish(&set);
}
END_TEST

/* A removal closes the gap; every other saga is still found. */
START_TEST(test_remove)
{
	enum { N = 300 };
	struct orc_stored_saga *want[N];
	struct orc_saga_set set;
	char key[32];

	orc_saga_set_init(&set);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		want[i] = add(&set, seq_def, i, key);
	}
	orc_saga_set_remove(&set, 7);
	ck_assert_uint_eq(set.n, N - 1);
	ck_assert_ptr_eq(set.v[7], want[8]);
	ck_assert_ptr_null(find(&set, 7));
	ck_assert_ptr_null(orc_saga_set_find_key(&set, seq_def->name, "k7"));
	for (int i = 0; i < N; i++) {
		if (i == 7)
			continue;
		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_ptr_eq(find(&set, i), want[i]);
		ck_assert_ptr_eq(
			orc_saga_set_find_key(&set, seq_def->name, key),
			want[i]);
	}
	/* pushes after it take everything in again */
	want[7] = add(&set, seq_def, 7, "k7");
	add(&set, seq_def, N, "last");
	ck_assert_ptr_eq(find(&set, 7), want[7]);
	ck_assert_ptr_eq(find(&set, 150), want[150]);
	ck_assert_ptr_eq(orc_saga_set_find_key(&set, seq_def->name, "k150"),
			 want[150]);
	orc_saga_set_finish(&set);
}
END_TEST

/* A reset forgets every saga; the set is used again as new. */
START_TEST(test_reset_reuses)
{
	struct orc_saga_set set;
	struct orc_stored_saga *ss;

	orc_saga_set_init(&set);
	ck_assert_ptr_null(find(&set, 1));
	ck_assert_ptr_null(orc_saga_set_find_key(&set, seq_def->name, "k"));
	for (int i = 0; i < 100; i++)
		add(&set, seq_def, i, "k");
	orc_saga_set_reset(&set);
	ck_assert_uint_eq(set.n, 0);
	ck_assert_ptr_null(find(&set, 1));
	ck_assert_ptr_null(orc_saga_set_find_key(&set, seq_def->name, "k"));
	ss = add(&set, seq_def, 1, "k");
	add(&set, seq_def, 2, "j");
	ck_assert_ptr_eq(find(&set, 1), ss);
	ck_assert_ptr_eq(orc_saga_set_find_key(&set, seq_def->name, "k"), ss);
	ck_assert_ptr_null(find(&set, 50));
	orc_saga_set_finish(&set);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("saga_set");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_many);
	tcase_add_test(tc, test_id_set_late);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_reset_reuses);
	suite_add_tcase(s, tc);
	return orc_check_run(s);
}
