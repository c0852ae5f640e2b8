/*
 * cmd_definition.c - `orchestrator validate`, `orchestrator graph` and
 * `orchestrator definitions pause|resume|limit`.
 *
 * Thin command-line wrappers around definition.c and graph.c: parse the
 * arguments, load each file, print.  Every issue of a file is printed, one
 * per line, as "<file>:<pointer>: <message>" (or "<file>: <message>" for
 * the document itself), the way compilers print errors, so editors and CI
 * logs can jump to them.  Results go to stdout, errors to stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cmd_common.h"
#include "commands.h"
#include "definition.h"
#include "graph.h"
#include "store_requests.h"

static const char validate_usage[] =
	"usage: orchestrator validate FILE...\n\n"
	"Check saga definition files.  Prints every problem as\n"
	"FILE:POINTER: MESSAGE on stderr and \"FILE: ok\" for each valid\n"
	"file.  Exit status: 0 all valid, 1 some invalid, 2 usage error.\n";

static const char graph_usage[] =
	"usage: orchestrator graph FILE [--format mermaid|dot]\n\n"
	"Draw a saga definition as a flowchart: Mermaid (default; paste\n"
	"it into Markdown) or Graphviz dot (orchestrator graph f.json\n"
	"--format dot | dot -Tsvg > f.svg).\n";

/* Load path (new definition); on failure print why on stderr, return NULL. */
static struct orc_definition *
load(const char *path)
{
	struct orc_definition_issues issues = {0};
	struct orc_definition *def = NULL;
	struct orc_error err = {0};
	enum orc_status st;

	st = orc_definition_load_file(path, &def, &issues, &err);
	for (size_t i = 0; i < issues.n; i++) {
		if (issues.v[i].pointer[0] == '\0')
			fprintf(stderr, "%s: %s\n", path, issues.v[i].message);
		else
			fprintf(stderr, "%s:%s: %s\n", path, issues.v[i].pointer,
				issues.v[i].message);
	}
	if (st != ORC_OK && issues.n == 0)
		fprintf(stderr, "%s: %s\n", path, err.message);
	orc_definition_issues_finish(&issues);
	return def;
}


int
orc_cmd_validate(int argc, char **argv)
{
	struct orc_args a;
	const char *v;
	int status = 0, c;

	if (orc_args_help(argc, argv, validate_usage))
		return 0;
	orc_args_init(&a, "validate", validate_usage, NULL, argc, argv);
	while ((c = orc_args_next(&a, &v)) != ORC_ARGS_END)
		if (c != ORC_ARGS_OPERAND)
			return 2;
	if (a.n_operands == 0)
		return orc_args_fail(&a, "which files? give one or more");
	for (int i = 1; i <= a.n_operands; i++) {
		struct orc_definition *def = load(argv[i]);

		if (def == NULL) {
			status = 1;
			continue;
		}
		printf("%s: ok (%s v%d, %zu step%s)\n", argv[i], def->name,
		       def->version, def->n_steps,
		       def->n_steps == 1 ? "" : "s");
		orc_definition_destroy(def);
	}
	return status;
}

enum { OPT_FORMAT = ORC_ARGS_FIRST };

int
orc_cmd_graph(int argc, char **argv)
{
	static const struct option options[] = {
		{"format", required_argument, NULL, OPT_FORMAT},
		{0},
	};
	enum orc_graph_format fmt = ORC_GRAPH_MERMAID;
	struct orc_definition *def;
	const char *path = NULL, *v;
	struct orc_args a;
	char *text;
	int c;

	if (orc_args_help(argc, argv, graph_usage))
		return 0;
	orc_args_init(&a, "graph", graph_usage, options, argc, argv);
	while ((c = orc_args_next(&a, &v)) != ORC_ARGS_END) {
		if (c == OPT_FORMAT && !orc_graph_format_parse(v, &fmt))
			return orc_args_fail(&a, "unknown format \"%s\" "
					     "(mermaid or dot)", v);
		else if (c == ORC_ARGS_OPERAND && path != NULL)
			return orc_args_fail(&a, "one file at a time");
		else if (c == ORC_ARGS_OPERAND)
			path = v;
		else if (c != OPT_FORMAT)
			return 2;
	}
	if (path == NULL)
		return orc_args_fail(&a, "which file? give one");
	def = load(path);
	if (def == NULL)
		return 1;
	text = orc_graph_render(def, fmt);
	orc_definition_destroy(def);
	if (text == NULL) {
		fprintf(stderr, "orchestrator graph: out of memory\n");
		return 1;
	}
	fputs(text, stdout);
	free(text);
	return 0;
}

/* ---- definitions pause | resume | limit ---- */

static const char switch_usage[] =
	"usage: orchestrator definitions pause NAME [--reason TEXT]\n"
	"       orchestrator definitions resume NAME [--reason TEXT]\n"
	"       orchestrator definitions limit NAME N|--none [--reason TEXT]\n"
	"A definition's switches, read by every running orchestrator within\n"
	"controls_refresh_ms.  pause: no saga of NAME starts; its triggers are\n"
	"held (consumed and kept in held_triggers), and start in order after\n"
	"resume.  limit: at most N of its sagas running or compensating at\n"
	"once; triggers beyond it are held until running ones finish.  The\n"
	"same in SQL: UPDATE or INSERT INTO definition_controls.\n";

bool
orc_cmd_definitions_switch(const char *subcommand)
{
	return strcmp(subcommand, "pause") == 0 ||
	       strcmp(subcommand, "resume") == 0 ||
	       strcmp(subcommand, "limit") == 0;
}

enum { OPT_REASON = ORC_ARGS_FIRST, OPT_NONE };

/* The change argv asks for into *change and *n; 0 or the exit status. */
static int
switch_args(const struct orc_cmd *cmd, int argc, char **argv,
	    enum orc_control_change *change, int64_t *n, const char **reason)
{
	static const struct option options[] = {
		{"reason", required_argument, NULL, OPT_REASON},
		{"none", no_argument, NULL, OPT_NONE},
		{0},
	};
	bool none = false;
	struct orc_args a;
	const char *v;
	int c;

	orc_args_init(&a, cmd->name, switch_usage, options, argc, argv);
	while ((c = orc_args_next(&a, &v)) != ORC_ARGS_END) {
		if (c == OPT_REASON)
			*reason = v;
		else if (c == OPT_NONE)
			none = true;
		else if (c != ORC_ARGS_OPERAND)
			return 2;
	}
	if (a.n_operands < 2)
		return orc_args_fail(&a, "which definition? give its name");
	*n = -1;
	if (strcmp(argv[1], "pause") == 0)
		*change = ORC_CONTROL_PAUSE;
	else if (strcmp(argv[1], "resume") == 0)
		*change = ORC_CONTROL_RESUME;
	else
		*change = ORC_CONTROL_LIMIT;
	if (*change != ORC_CONTROL_LIMIT && (none || a.n_operands > 2))
		return orc_args_fail(&a, "unexpected \"%s\"",
				     none ? "--none" : argv[3]);
	if (*change == ORC_CONTROL_LIMIT && none == (a.n_operands > 2))
		return orc_args_fail(&a, "give the limit N, or --none");
	if (*change == ORC_CONTROL_LIMIT && !none) {
		char *end;
		long long x;

		errno = 0;
		x = strtoll(argv[3], &end, 10);
		if (errno != 0 || *end != '\0' || end == argv[3] || x < 0 ||
		    x > 1000000000)
			return orc_args_fail(&a, "the limit must be a whole "
					     "number from 0 up, not \"%s\"",
					     argv[3]);
		*n = x;
	}
	if (a.n_operands > 3)
		return orc_args_fail(&a, "unexpected \"%s\"", argv[4]);
	return 0;
}

int
orc_cmd_definitions_set(int argc, char **argv)
{
	enum orc_control_change change = ORC_CONTROL_PAUSE;
	const char *reason = NULL, *name;
	struct orc_error err = {0};
	struct orc_cmd cmd;
	int64_t n = -1, held = 0;
	char what[48];
	int rc;

	if (orc_args_help(argc, argv, switch_usage))
		return 0;
	rc = orc_cmd_init(&cmd, "definitions", &argc, argv, 0);
	if (rc == 0)
		rc = switch_args(&cmd, argc, argv, &change, &n, &reason);
	if (rc == 0)
		rc = orc_cmd_open(&cmd, ORC_CMD_STORE);
	if (rc != 0)
		goto done;
	name = argv[2];
	if (orc_store_control_set(cmd.store, name, change, n, reason, &held,
				  &err) != ORC_OK) {
		rc = orc_cmd_fail(&cmd, &err);
		goto done;
	}
	if (change == ORC_CONTROL_PAUSE)
		snprintf(what, sizeof(what), "paused");
	else if (change == ORC_CONTROL_RESUME)
		snprintf(what, sizeof(what), "resumed");
	else if (n < 0)
		snprintf(what, sizeof(what), "no limit");
	else
		snprintf(what, sizeof(what), "at most %lld running",
			 (long long)n);
	if (cmd.json)
		printf("{\"definition\": \"%s\", \"switch\": \"%s\", "
		       "\"held\": %lld}\n",
		       name, what, (long long)held);
	else
		printf("%s: %s (%lld trigger%s held)\n", name, what,
		       (long long)held, held == 1 ? "" : "s");
done:
	orc_cmd_finish(&cmd);
	return rc;
}
