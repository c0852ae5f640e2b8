/*
 * cmd_saga.c - operator commands that load definitions and start sagas:
 * `definitions load|list`, `start` (the actions on a saga are in
 * cmd_operator.c).
 *
 * start goes through the same apply path as events (the engine decides,
 * one transaction records the transition, its history entry and its
 * commands), so an operator can do nothing a service could not, and
 * everything they do is in the saga's history.  The commands it causes
 * are published by the relay of a running `orchestrator run`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cmd_common.h"
#include "commands.h"
#include "definition.h"
#include "store_saga.h"

/* ---- definitions ---- */

static const char definitions_usage[] =
	"usage: orchestrator definitions load FILE...\n"
	"       orchestrator definitions list [--json]\n"
	"       orchestrator definitions pause|resume|limit NAME ... (--help)\n"
	"       orchestrator definitions diff NAME V1 V2 [--json]\n"
	"Load validates each file and stores it under its name and version;\n"
	"a changed body under an existing version is refused (definitions are\n"
	"immutable: give it a new version).  Running sagas keep the version\n"
	"they started with; new sagas start on the latest.\n";

static int
definitions_load(struct orc_cmd *cmd, int argc, char **argv)
{
	struct orc_definition **defs = calloc((size_t)argc, sizeof(*defs));
	struct orc_error err = {0};
	int bad = 0, rc = 1;

	if (defs == NULL)
		return 1;
	/* All files must be valid before anything is stored. */
	for (int i = 2; i < argc; i++) {
		struct orc_definition_issues issues = {NULL, 0};
		enum orc_status st = orc_definition_load_file(argv[i], &defs[i],
							      &issues, &err);

		if (st == ORC_NOT_FOUND) {
			fprintf(stderr, "%s: %s\n", argv[i], err.message);
			bad++;
		}
		for (size_t j = 0; j < issues.n; j++)
			fprintf(stderr, "%s:%s: %s\n", argv[i],
				issues.v[j].pointer, issues.v[j].message);
		if (st != ORC_OK && st != ORC_NOT_FOUND)
			bad++;
		orc_definition_issues_finish(&issues);
	}
	if (bad > 0) {
		fprintf(stderr, "orchestrator definitions: %d file%s invalid, "
				"nothing loaded\n", bad, bad == 1 ? "" : "s");
		goto done;
	}
	if (orc_store_begin(cmd->store, &err) != ORC_OK) {
		orc_cmd_fail(cmd, &err);
		goto done;
	}
	for (int i = 2; i < argc; i++) {
		bool created;

		if (orc_store_put_definition(cmd->store, defs[i], &created,
					     &err) != ORC_OK) {
			orc_store_rollback(cmd->store);
			orc_error_prefix(&err, "%s", argv[i]);
			orc_cmd_fail(cmd, &err);
			goto done;
		}
		printf("%s: %s version %d %s\n", argv[i], defs[i]->name,
		       defs[i]->version, created ? "loaded" : "unchanged");
	}
	if (orc_store_commit(cmd->store, &err) != ORC_OK) {
		orc_cmd_fail(cmd, &err);
		goto done;
	}
	rc = 0;
done:
	for (int i = 0; i < argc; i++)
		orc_definition_destroy(defs[i]);
	free(defs);
	return rc;
}

static int
definitions_list(struct orc_cmd *cmd)
{
	struct orc_error err = {0};
	json_t *list, *d;
	size_t i;

	if (orc_store_list_definitions(cmd->store, &list, &err) != ORC_OK)
		return orc_cmd_fail(cmd, &err);
	if (cmd->json) {
		orc_cmd_print_json(list);
	} else {
		printf("%-32s %7s %5s  %-24s %s\n", "NAME", "VERSION", "STEPS",
		       "LOADED", "CHECKSUM");
		json_array_foreach(list, i, d) {
			printf("%-32s %7lld %5lld  %-24.19s %.12s\n",
			       json_string_value(json_object_get(d, "name")),
			       json_integer_value(json_object_get(d, "version")),
			       json_integer_value(json_object_get(d, "steps")),
			       json_string_value(json_object_get(d, "loaded_at")),
			       json_string_value(json_object_get(d, "checksum")));
		}
	}
	json_decref(list);
	return 0;
}

/* Check the subcommand and its operands; 0 or the exit status. */
static int
definitions_args(const struct orc_cmd *cmd, int *argc, char **argv)
{
	struct orc_args a;
	const char *v;
	int c;

	orc_args_init(&a, cmd->name, definitions_usage, NULL, *argc, argv);
	while ((c = orc_args_next(&a, &v)) != ORC_ARGS_END)
		if (c != ORC_ARGS_OPERAND)
			return 2;
	*argc = a.n_operands + 1;
	if (*argc < 2)
		return orc_args_fail(&a, "load or list?");
	if (strcmp(argv[1], "load") == 0 && *argc < 3)
		return orc_args_fail(&a, "which files? give one or more");
	if (strcmp(argv[1], "list") == 0 && *argc > 2)
		return orc_args_fail(&a, "unexpected \"%s\"", argv[2]);
	if (strcmp(argv[1], "load") != 0 && strcmp(argv[1], "list") != 0)
		return orc_args_fail(&a, "unknown subcommand \"%s\"",
				     argv[1]);
	return 0;
}

int
orc_cmd_definitions(int argc, char **argv)
{
	struct orc_cmd cmd;
	int rc;

	if (argc > 1 && strcmp(argv[1], "diff") == 0)
		return orc_cmd_definitions_diff(argc - 1, argv + 1);
	if (argc > 1 && orc_cmd_definitions_switch(argv[1]))
		return orc_cmd_definitions_set(argc, argv); /* cmd_definition.c */
	if (orc_args_help(argc, argv, definitions_usage))
		return 0;
	rc = orc_cmd_init(&cmd, "definitions", &argc, argv, 0);
	if (rc == 0)
		rc = definitions_args(&cmd, &argc, argv);
	if (rc == 0)
		rc = orc_cmd_open(&cmd, ORC_CMD_STORE);
	if (rc != 0)
		goto done;
	if (strcmp(argv[1], "load") == 0)
		rc = definitions_load(&cmd, argc, argv);
	else
		rc = definitions_list(&cmd);
done:
	orc_cmd_finish(&cmd);
	return rc;
}

/* ---- start ---- */

static const char start_usage[] =
	"usage: orchestrator start NAME [--key KEY] [--input JSON|@FILE] [--json]\n"
	"Start a saga of definition NAME (its latest version) exactly as its\n"
	"trigger event would.  Without --key the business key is read from the\n"
	"input at the trigger's key pointer.  One saga per definition and key.\n";

static json_t *
read_input(const char *arg, struct orc_error *err)
{
	json_error_t jerr;
	json_t *v;

	if (arg == NULL)
		return json_object();
	if (arg[0] == '@')
		v = json_load_file(arg + 1, JSON_DECODE_ANY, &jerr);
	else
		v = json_loads(arg, JSON_DECODE_ANY, &jerr);
	if (v == NULL)
		orc_error_set(err, ORC_INVALID, "--input: line %d column %d: %s",
			      jerr.line, jerr.column, jerr.text);
	return v;
}

enum { OPT_KEY = ORC_ARGS_FIRST, OPT_INPUT, OPT_END };

#define N_OPTS (OPT_END - ORC_ARGS_FIRST)

/*
 * The one operand (a definition name or a saga id) into *operand and the
 * values of options into values[val - ORC_ARGS_FIRST] (N_OPTS of them);
 * 0 or the exit status.  missing says what to ask for without the operand.
 */
static int
operand_args(const struct orc_cmd *cmd, const char *usage,
	     const struct option *options, int argc, char **argv,
	     const char *missing, const char **operand, const char **values)
{
	struct orc_args a;
	const char *v;
	int c;

	orc_args_init(&a, cmd->name, usage, options, argc, argv);
	while ((c = orc_args_next(&a, &v)) != ORC_ARGS_END) {
		if (c >= ORC_ARGS_FIRST)
			values[c - ORC_ARGS_FIRST] = v;
		else if (c == ORC_ARGS_OPERAND && *operand == NULL)
			*operand = v;
		else if (c == ORC_ARGS_OPERAND)
			return orc_args_fail(&a, "unexpected \"%s\"", v);
		else
			return 2;
	}
	if (*operand == NULL)
		return orc_args_fail(&a, "%s", missing);
	return 0;
}

int
orc_cmd_start(int argc, char **argv)
{
	static const struct option options[] = {
		{"key", required_argument, NULL, OPT_KEY},
		{"input", required_argument, NULL, OPT_INPUT},
		{0},
	};
	struct orc_cmd cmd;
	struct orc_error err = {0};
	const char *name = NULL, *values[N_OPTS] = {0};
	char saga_id[40];
	json_t *input = NULL;
	enum orc_status st;
	int rc;

	if (orc_args_help(argc, argv, start_usage))
		return 0;
	rc = orc_cmd_init(&cmd, "start", &argc, argv, 0);
	if (rc == 0)
		rc = operand_args(&cmd, start_usage, options, argc, argv,
				  "which definition? give its name", &name,
				  values);
	if (rc == 0)
		rc = orc_cmd_open(&cmd, ORC_CMD_APPLY);
	if (rc != 0)
		goto done;
	input = read_input(values[OPT_INPUT - ORC_ARGS_FIRST], &err);
	if (input == NULL) {
		rc = orc_cmd_fail(&cmd, &err);
		goto done;
	}
	st = orc_apply_start(cmd.ap, name, values[OPT_KEY - ORC_ARGS_FIRST],
			     input, orc_clock_wall_ms(), saga_id, &err);
	if (st != ORC_OK) {
		rc = orc_cmd_fail(&cmd, &err);
		if (st == ORC_CONFLICT)
			fprintf(stderr, "HINT: orchestrator status %s\n",
				saga_id);
		goto done;
	}
	if (cmd.json)
		printf("{\"saga_id\": \"%s\"}\n", saga_id);
	else
		printf("started saga %s\n", saga_id);
	rc = 0;
done:
	json_decref(input);
	orc_cmd_finish(&cmd);
	return rc;
}
