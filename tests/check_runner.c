/*
 * check_runner.c - a runner that refuses to pass when nothing ran, so a
 * mistyped CK_RUN_CASE or an empty suite cannot turn CI green.
 */
#include "check_runner.h"

#include <stdio.h>
#include <stdlib.h>

int
orc_check_run(Suite *suite)
{
	SRunner *sr = srunner_create(suite);
	int run, failed;

	srunner_run_all(sr, CK_NORMAL);
	run = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (run == 0) {
		fprintf(stderr, "error: no test ran\n");
		return EXIT_FAILURE;
	}
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
