/*
 * test_config.c - the settings table: defaults, types and bounds, the
 * three sources and their precedence, Kafka passthrough.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_runner.h"
#include "config.h"

START_TEST(test_defaults)
{
	struct orc_config cfg;
	struct orc_error err;

	ck_assert_int_eq(orc_config_init(&cfg, &err), ORC_OK);
	ck_assert_str_eq(orc_config_str(&cfg, ORC_CFG_PG_SCHEMA), "orchestrator");
	ck_assert_int_eq(orc_config_int(&cfg, ORC_CFG_BATCH_SIZE), 500);
	ck_assert_ptr_null(orc_config_str(&cfg, ORC_CFG_DLQ_TOPIC));
	orc_config_finish(&cfg);
}
END_TEST

START_TEST(test_every_row_is_complete)
{
	const struct orc_config_def *t = orc_config_table();

	for (int i = 0; i < ORC_CFG_COUNT; i++) {
		ck_assert_msg(t[i].name != NULL && t[i].env != NULL &&
				      t[i].help != NULL,
			      "row %d incomplete", i);
		ck_assert_msg(strncmp(t[i].env, "ORC_", 4) == 0, "%s", t[i].env);
		if (t[i].type == ORC_CONFIG_INT && t[i].def != NULL) {
			long long v = atoll(t[i].def);

			ck_assert_msg(v >= t[i].min && v <= t[i].max,
				      "%s default out of bounds", t[i].name);
		}
	}
}
END_TEST

/* Durations: util/duration's syntax, bounded, "0" only where it may be. */
START_TEST(test_durations)
{
	struct orc_config cfg;
	struct orc_error err;

	orc_config_init(&cfg, &err);
	ck_assert_int_eq(orc_config_duration_ms(&cfg, ORC_CFG_RETENTION),
			 INT64_C(30) * 86400000);
	ck_assert_int_eq(orc_config_duration_ms(&cfg, ORC_CFG_INBOX_TTL),
			 INT64_C(7) * 86400000);
	ck_assert_int_eq(orc_config_set(&cfg, "retention", "0", &err), ORC_OK);
	ck_assert_int_eq(orc_config_duration_ms(&cfg, ORC_CFG_RETENTION), 0);
	ck_assert_int_eq(orc_config_set(&cfg, "retention", "1h30m", &err),
			 ORC_OK);
	ck_assert_int_eq(orc_config_duration_ms(&cfg, ORC_CFG_RETENTION),
			 5400000);
	ck_assert_int_eq(orc_config_set(&cfg, "retention", "30 days", &err),
			 ORC_INVALID);
	ck_assert_str_eq(err.message, "invalid value \"30 days\" for "
				      "retention: expected a duration from 0 "
				      "to 365d");
	ck_assert_int_eq(orc_config_set(&cfg, "inbox_ttl", "30m", &err),
			 ORC_INVALID);
	ck_assert_str_eq(err.message, "invalid value \"30m\" for inbox_ttl: "
				      "expected a duration from 1h to 365d "
				      "(such as \"7d\" or \"12h\")");
	ck_assert_int_eq(orc_config_set(&cfg, "inbox_ttl", "0", &err),
			 ORC_INVALID);
	ck_assert_int_eq(orc_config_set(&cfg, "inbox_ttl", "1h", &err), ORC_OK);
	orc_config_finish(&cfg);
}
END_TEST

START_TEST(test_bad_values_named)
{
	struct orc_config cfg;
	struct orc_error err;

	orc_config_init(&cfg, &err);
	ck_assert_int_eq(orc_config_set(&cfg, "batch_size", "many", &err),
			 ORC_INVALID);
	ck_assert_str_eq(err.message,
			 "invalid value \"many\" for batch_size: expected an integer");
	ck_assert_int_eq(orc_config_set(&cfg, "batch_size", "0", &err),
			 ORC_INVALID);
	ck_assert_str_eq(err.message,
			 "invalid value 0 for batch_size: expected 1 to 10000");
	ck_assert_int_eq(orc_config_set(&cfg, "no_such", "1", &err),
			 ORC_NOT_FOUND);
	ck_assert_str_eq(err.message, "unknown setting \"no_such\"");
	orc_config_finish(&cfg);
}
END_TEST

START_TEST(test_precedence_file_env_flags)
{
	struct orc_config cfg;
	struct orc_error err;
	char path[] = "/tmp/orc-config-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	char *argv[] = {"run",	 "--batch-size", "7",	"--config", path,
			"extra", "--kafka.security.protocol=SSL", "--dsn",
			"host=x", NULL};
	int argc = 9;

	fprintf(f, "# comment\nbatch_size = 3\ngroup = from-file\n"
		   "relay_batch = 11\n\n");
	fclose(f);
	setenv("ORC_GROUP", "from-env", 1);
	setenv("ORC_RELAY_BATCH", "12", 1);
	setenv("ORC_KAFKA_SASL_MECHANISM", "PLAIN", 1);
	orc_config_init(&cfg, &err);
	ck_assert_msg(orc_config_from_args(&cfg, &argc, argv, &err) == ORC_OK,
		      "%s", err.message);
	/* flags beat the environment, which beats the file */
	ck_assert_int_eq(orc_config_int(&cfg, ORC_CFG_BATCH_SIZE), 7);
	ck_assert_str_eq(orc_config_str(&cfg, ORC_CFG_GROUP), "from-env");
	ck_assert_int_eq(orc_config_int(&cfg, ORC_CFG_RELAY_BATCH), 12);
	ck_assert_str_eq(orc_config_str(&cfg, ORC_CFG_PG_DSN), "host=x");
	/* what is not ours stays, in order */
	ck_assert_int_eq(argc, 2);
	ck_assert_str_eq(argv[1], "extra");
	ck_assert_int_eq(cfg.n_kafka, 2);
	{
		int sasl = -1, proto = -1;

		for (int i = 0; i < cfg.n_kafka; i++) {
			if (strcmp(cfg.kafka_names[i], "sasl.mechanism") == 0)
				sasl = i;
			if (strcmp(cfg.kafka_names[i], "security.protocol") == 0)
				proto = i;
		}
		ck_assert_int_ge(sasl, 0);
		ck_assert_int_ge(proto, 0);
		ck_assert_str_eq(cfg.kafka_values[sasl], "PLAIN");
		ck_assert_str_eq(cfg.kafka_values[proto], "SSL");
	}
	unsetenv("ORC_GROUP");
	unsetenv("ORC_RELAY_BATCH");
	unsetenv("ORC_KAFKA_SASL_MECHANISM");
	unlink(path);
	orc_config_finish(&cfg);
}
END_TEST

START_TEST(test_file_errors_name_the_line)
{
	struct orc_config cfg;
	struct orc_error err;
	char path[] = "/tmp/orc-config-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	char expect[128];

	fprintf(f, "group = g\nbatch_size = lots\n");
	fclose(f);
	orc_config_init(&cfg, &err);
	ck_assert_int_eq(orc_config_load_file(&cfg, path, &err), ORC_INVALID);
	snprintf(expect, sizeof(expect),
		 "%s:2: invalid value \"lots\" for batch_size: expected an integer",
		 path);
	ck_assert_str_eq(err.message, expect);
	unlink(path);
	orc_config_finish(&cfg);
}
END_TEST

START_TEST(test_missing_flag_value)
{
	struct orc_config cfg;
	struct orc_error err;
	char *argv[] = {"run", "--group", NULL};
	int argc = 2;

	orc_config_init(&cfg, &err);
	ck_assert_int_eq(orc_config_from_args(&cfg, &argc, argv, &err),
			 ORC_INVALID);
	ck_assert_str_eq(err.message, "option --group needs a value");
	orc_config_finish(&cfg);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_every_row_is_complete);
	tcase_add_test(tc, test_bad_values_named);
	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_precedence_file_env_flags);
	tcase_add_test(tc, test_file_errors_name_the_line);
	tcase_add_test(tc, test_missing_flag_value);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
