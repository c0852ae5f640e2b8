/*
 * commands.h - the subcommands of the orchestrator binary.
 *
 * Each takes the arguments after its own name (argv[0] is the command
 * name) and returns the process exit status: 0 success, 1 failure of the
 * thing asked for (invalid file, saga not found), 2 usage error.  A command
 * prints its results on stdout and its errors on stderr, once; it reads its
 * arguments with args.h and prints its tables with table.h.
 */
#ifndef ORC_COMMANDS_H
#define ORC_COMMANDS_H

#include <stdbool.h>

/* cmd_definition.c: checking and drawing definition files */
int orc_cmd_validate(int argc, char **argv);
int orc_cmd_graph(int argc, char **argv);
/* definitions pause | resume | limit: is subcommand one of them? */
bool orc_cmd_definitions_switch(const char *subcommand);
int orc_cmd_definitions_set(int argc, char **argv);

/* cmd_migrate.c */
int orc_cmd_migrate(int argc, char **argv);

/* cmd_run.c */
int orc_cmd_run(int argc, char **argv);

/* cmd_saga.c: loading definitions, starting sagas */
int orc_cmd_definitions(int argc, char **argv); /* load | list */
int orc_cmd_definitions_diff(int argc, char **argv); /* definitions diff */
int orc_cmd_migrate_sagas(int argc, char **argv);
int orc_cmd_start(int argc, char **argv);

/* cmd_operator.c: actions on sagas, one by id or in bulk (--where) */
int orc_cmd_pause(int argc, char **argv);
int orc_cmd_resume(int argc, char **argv);
int orc_cmd_skip(int argc, char **argv);
int orc_cmd_patch(int argc, char **argv);
int orc_cmd_retry(int argc, char **argv);
int orc_cmd_resolve(int argc, char **argv);
int orc_cmd_cancel(int argc, char **argv);

/* cmd_status.c: reading sagas */
int orc_cmd_status(int argc, char **argv);
int orc_cmd_list(int argc, char **argv);
int orc_cmd_history(int argc, char **argv);

/* cmd_dead_letters.c */
int orc_cmd_dead_letters(int argc, char **argv); /* list | replay ID */

/* cmd_quarantine.c: sagas set aside because their rows cannot be read */
int orc_cmd_quarantine(int argc, char **argv); /* release SAGA_ID */

/* cmd_purge.c: a one-off clean-up of finished sagas */
int orc_cmd_purge(int argc, char **argv);

/* cmd_consumer.c: the emergency tool for a wedged partition */
int orc_cmd_consumer(int argc, char **argv); /* seek */

#endif
