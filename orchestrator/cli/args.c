/*
 * args.c - reading a command's arguments with getopt_long().
 *
 * Why getopt_long: POSIX getopt() knows only short options, and our
 * options are long ones ("--definition NAME", "--limit=N").  getopt_long()
 * is the GNU extension that every C library we build on has (glibc, musl,
 * the BSDs), so it costs no dependency, and it gives the usual rules for
 * free: "--name VALUE" and "--name=VALUE", "--" ending the options, "-"
 * being an operand.  Two of its habits are turned off: it prints no
 * messages of its own (ours name the command and show its usage), and it
 * does not accept abbreviations (see args.h).
 *
 * The optstring starts with "-" so that operands come back in order,
 * interleaved with the options, whatever POSIXLY_CORRECT says: a command
 * can then complain about the first thing that is wrong, where it is.  It
 * continues with ":" so that a missing value is told apart from an unknown
 * option.
 *
 * This module only reads argv; it prints nothing on success and never
 * exits.
 */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
orc_args_help(int argc, char **argv, const char *usage)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return true;
		}
	return false;
}

void
orc_args_init(struct orc_args *a, const char *command, const char *usage,
	      const struct option *options, int argc, char **argv)
{
	size_t n = 0;

	memset(a, 0, sizeof(*a));
	a->command = command;
	a->usage = usage;
	a->options = options;
	a->argc = argc;
	a->argv = argv;
	a->shortopts[n++] = '-';
	a->shortopts[n++] = ':';
	for (const struct option *o = options; o != NULL && o->name != NULL;
	     o++) {
		if (o->val >= 128 || !isalnum(o->val) ||
		    n + 3 >= sizeof(a->shortopts))
			continue;
		a->shortopts[n++] = (char)o->val;
		if (o->has_arg == required_argument)
			a->shortopts[n++] = ':';
	}
	a->shortopts[n] = '\0';
	/* 0, not 1: glibc then forgets everything of an earlier parse */
	optind = 0;
	opterr = 0;
}

int
orc_args_fail(const struct orc_args *a, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "orchestrator %s: ", a->command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", a->usage);
	return 2;
}

static const struct option *
find_val(const struct orc_args *a, int val)
{
	for (const struct option *o = a->options; o != NULL && o->name != NULL;
	     o++)
		if (o->val == val)
			return o;
	return NULL;
}

/*
 * Was the long option o written out in full?  arg is the argv element
 * getopt_long matched ("--name" or "--name=value").
 */
static bool
spelled_out(const char *arg, const struct option *o)
{
	size_t n = strlen(o->name);

	return strncmp(arg, "--", 2) == 0 &&
	       strncmp(arg + 2, o->name, n) == 0 &&
	       (arg[2 + n] == '\0' || arg[2 + n] == '=');
}

static int
operand(struct orc_args *a, char *arg, const char **value)
{
	a->argv[++a->n_operands] = arg;
	*value = arg;
	return ORC_ARGS_OPERAND;
}

/* The argv element getopt_long just matched (its value may follow it). */
static const char *
matched(const struct orc_args *a)
{
	if (optarg != NULL && optarg == a->argv[optind - 1])
		return a->argv[optind - 2];
	return a->argv[optind - 1];
}

int
orc_args_next(struct orc_args *a, const char **value)
{
	static const struct option none[] = {{0}};
	const struct option *o;
	int before = optind, c, index = -1;

	*value = NULL;
	if (a->rest) {
		if (optind < a->argc)
			return operand(a, a->argv[optind++], value);
		a->argv[a->n_operands + 1] = NULL;
		return ORC_ARGS_END;
	}
	c = getopt_long(a->argc, a->argv, a->shortopts,
			a->options ? a->options : none, &index);
	if (c == -1) {
		/* the end, or "--": what follows is operands */
		a->rest = true;
		return orc_args_next(a, value);
	}
	if (c == ORC_ARGS_OPERAND)
		return operand(a, optarg, value);
	if (c == '?') {
		/* optind moved past the element unless inside "-xyz" */
		if (optind > before)
			orc_args_fail(a, "unexpected \"%s\"", matched(a));
		else
			orc_args_fail(a, "unexpected \"-%c\"", optopt);
		return ORC_ARGS_USAGE;
	}
	o = c == ':' ? find_val(a, optopt) : index >= 0 ? &a->options[index]
							: NULL;
	if (o != NULL && strncmp(matched(a), "--", 2) == 0 &&
	    !spelled_out(matched(a), o)) {
		orc_args_fail(a, "unexpected \"%s\"", matched(a));
		return ORC_ARGS_USAGE;
	}
	if (c == ':') {
		orc_args_fail(a, "option %s needs a value", matched(a));
		return ORC_ARGS_USAGE;
	}
	*value = optarg;
	return c;
}

int
orc_args_none(const char *command, const char *usage, int argc, char **argv)
{
	struct orc_args a;
	const char *v;
	int c;

	orc_args_init(&a, command, usage, NULL, argc, argv);
	c = orc_args_next(&a, &v);
	if (c == ORC_ARGS_OPERAND)
		return orc_args_fail(&a, "unexpected \"%s\"", v);
	return c == ORC_ARGS_END ? 0 : 2;
}

int
orc_args_limit(const struct orc_args *a, const char *text, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < 1 || v > 100000)
		return orc_args_fail(a, "invalid limit \"%s\": expected a "
				     "number from 1 to 100000", text);
	*out = (int)v;
	return 0;
}
