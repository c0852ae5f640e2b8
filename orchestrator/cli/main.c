/*
 * main.c - the orchestrator command line: find the subcommand, run it.
 *
 * Everything a command does lives in cmd_*.c; this file only dispatches,
 * prints the overview, and sets up what every command shares (logging).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "broker.h"
#include "commands.h"
#include "config.h"
#include "malloc.h"
#include "store.h"
#include "version.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static int cmd_version(int argc, char **argv);
static int cmd_config(int argc, char **argv);

static const struct command commands[] = {
	{"run", orc_cmd_run, "run the worker, relay and timers until stopped"},
	{"validate", orc_cmd_validate, "check saga definition files"},
	{"graph", orc_cmd_graph, "draw a saga definition (mermaid or dot)"},
	{"migrate", orc_cmd_migrate, "create or upgrade the database schema"},
	{"definitions", orc_cmd_definitions,
	 "load, list or diff saga definitions"},
	{"migrate-sagas", orc_cmd_migrate_sagas,
	 "move running sagas to another version of their definition"},
	{"start", orc_cmd_start, "start a saga as its trigger event would"},
	{"pause", orc_cmd_pause, "hold a saga: no command, no timer"},
	{"resume", orc_cmd_resume, "resume a paused saga"},
	{"skip", orc_cmd_skip, "mark a step succeeded with an output"},
	{"patch", orc_cmd_patch, "merge-patch the input or a step's output"},
	{"retry", orc_cmd_retry, "rerun a failed saga, or from a step"},
	{"resolve", orc_cmd_resolve, "declare a compensation done by hand"},
	{"cancel", orc_cmd_cancel, "cancel a saga (compensating, or not)"},
	{"status", orc_cmd_status, "show a saga and its steps"},
	{"list", orc_cmd_list, "list sagas (filter by definition, status, age)"},
	{"history", orc_cmd_history, "show a saga's timeline"},
	{"dead-letters", orc_cmd_dead_letters, "list or replay dead-lettered events"},
	{"quarantine", orc_cmd_quarantine, "release a saga once its row is fixed"},
	{"purge", orc_cmd_purge, "delete finished sagas older than a duration"},
	{"consumer", orc_cmd_consumer, "move the consumer group past a message"},
	{"config", cmd_config, "print the settings table (--markdown for the README)"},
	{"version", cmd_version, "print the version and library versions"},
};

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: orchestrator COMMAND [OPTIONS]\n\n"
		"A saga orchestrator for microservices on Kafka and PostgreSQL.\n\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun 'orchestrator COMMAND --help' for a command's options.\n\n");
	orc_config_print_help(out);
}

static int
cmd_version(int argc, char **argv)
{
	printf("orchestrator %s\n", ORC_VERSION);
	printf("librdkafka %s\n", orc_broker_library_version());
	printf("libpq %s\n", orc_store_library_version());
	printf("jansson %s\n", JANSSON_VERSION);
	printf("malloc %s %s\n", orc_malloc_name(), orc_malloc_version());
	return 0;
}

static int
cmd_config(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--markdown") == 0)
		orc_config_print_markdown(stdout);
	else
		orc_config_print_help(stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "orchestrator: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return 2;
}
