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
#include <string.h>

#include "commands.h"
#include "definition.h"
#include "graph.h"

static void
validate_usage(FILE *out)
{
	fprintf(out,
		"usage: orchestrator validate FILE...\n\n"
		"Check saga definition files.  Prints every problem as\n"
		"FILE:POINTER: MESSAGE on stderr and \"FILE: ok\" for each valid\n"
		"file.  Exit status: 0 all valid, 1 some invalid, 2 usage error.\n");
}

static void
graph_usage(FILE *out)
{
	fprintf(out,
		"usage: orchestrator graph FILE [--format mermaid|dot]\n\n"
		"Draw a saga definition as a flowchart: Mermaid (default; paste\n"
		"it into Markdown) or Graphviz dot (orchestrator graph f.json\n"
		"--format dot | dot -Tsvg > f.svg).\n");
}

static bool
is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

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
	int first = 1, status = 0;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			validate_usage(stdout);
			return 0;
		}
	}
	if (argc > 1 && strcmp(argv[1], "--") == 0)
		first = 2;
	else
		for (int i = 1; i < argc; i++)
			if (argv[i][0] == '-' && argv[i][1] != '\0') {
				fprintf(stderr,
					"orchestrator validate: unknown option \"%s\"\n",
					argv[i]);
				validate_usage(stderr);
				return 2;
			}
	if (first >= argc) {
		validate_usage(stderr);
		return 2;
	}
	for (int i = first; i < argc; i++) {
		struct orc_definition *def = load(argv[i]);

		if (def == NULL) {
			status = 1;
			continue;
		}
		printf("%s: ok (%s v%d, %zu step%s)\n", argv[i], def->name,
		       def->version, def->n_steps, def->n_steps == 1 ? "" : "s");
		orc_definition_destroy(def);
	}
	return status;
}

int
orc_cmd_graph(int argc, char **argv)
{
	enum orc_graph_format fmt = ORC_GRAPH_MERMAID;
	struct orc_definition *def;
	const char *path = NULL;
	char *text;

	for (int i = 1; i < argc; i++) {
		const char *value = NULL;

		if (is_help(argv[i])) {
			graph_usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--format") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "orchestrator graph: --format needs a value\n");
				return 2;
			}
			value = argv[++i];
		} else if (strncmp(argv[i], "--format=", 9) == 0) {
			value = argv[i] + 9;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "orchestrator graph: unknown option \"%s\"\n",
				argv[i]);
			graph_usage(stderr);
			return 2;
		} else if (path == NULL) {
			path = argv[i];
			continue;
		} else {
			fprintf(stderr, "orchestrator graph: one file at a time\n");
			graph_usage(stderr);
			return 2;
		}
		if (!orc_graph_format_parse(value, &fmt)) {
			fprintf(stderr,
				"orchestrator graph: unknown format \"%s\" (mermaid or dot)\n",
				value);
			return 2;
		}
	}
	if (path == NULL) {
		graph_usage(stderr);
		return 2;
	}
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
