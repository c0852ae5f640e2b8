/*
 * cmd_definition.c - `orchestrator validate` and `orchestrator graph`.
 *
 * Thin command-line wrappers around definition.c and graph.c: parse the
 * arguments, load each file, print.  Every issue of a file is printed, one
 * per line, as "<file>:<pointer>: <message>" (or "<file>: <message>" for
 * the document itself), the way compilers print errors, so editors and CI
 * logs can jump to them.  Results go to stdout, errors to stderr.
 */
#include <stdio.h>
#include <stdlib.h>

#include "args.h"
#include "commands.h"
#include "definition.h"
#include "graph.h"

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
