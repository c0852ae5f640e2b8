/*
 * check_runner.h - run one Check suite the same way in every test binary.
 */
#ifndef ORC_CHECK_RUNNER_H
#define ORC_CHECK_RUNNER_H

#include <check.h>

/*
 * Run suite (taken: freed here), print Check's summary, and return the
 * process exit code: 0 only when at least one test ran and none failed.
 * CK_RUN_CASE / CK_FORK and the other Check variables work as usual.
 */
int orc_check_run(Suite *suite);

#endif
