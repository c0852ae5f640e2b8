/*
 * args.h - a command's own options and operands, and its --help.
 *
 * Every command reads its arguments the same way: `--help` (or `-h`)
 * anywhere prints its usage on stdout; the settings flags are taken out by
 * orc_config_from_args() (cmd_common.c); what is left goes through
 * getopt_long() with the command's table of long options, in order, each
 * option and each operand handed back to the caller as it comes.  A usage
 * error is printed once, as
 *
 *     orchestrator NAME: message
 *     <the command's usage>
 *
 * on stderr, and the command exits with 2 (commands.h).
 *
 * Option names must be written out in full: "--def" is not "--definition"
 * (getopt_long would accept any unambiguous prefix), so that the meaning of
 * a command line does not depend on which other options exist, and so that
 * command options match as exactly as the settings flags do.
 *
 * getopt_long keeps its state in globals: one parse at a time.
 */
#ifndef ORC_ARGS_H
#define ORC_ARGS_H

#include <getopt.h>
#include <stdbool.h>

/* What orc_args_next() returns besides a command's own option values. */
enum {
	ORC_ARGS_END = -1,    /* no more arguments */
	ORC_ARGS_OPERAND = 1, /* *value is an operand (getopt's code) */
	ORC_ARGS_USAGE = '?', /* a usage error, printed: exit with 2 */
	ORC_ARGS_FIRST = 256, /* the first value for a command's option */
};

/* One parse; everything is borrowed and must outlive it. */
struct orc_args {
	const char *command;	      /* "status", for messages */
	const char *usage;	      /* printed after a usage error */
	const struct option *options; /* {0}-terminated; may be NULL */
	int argc;
	char **argv;	    /* argv[0] is the command's name */
	int n_operands;	    /* operands seen so far */
	bool rest;	    /* getopt_long is done: the rest are operands */
	char shortopts[64]; /* getopt_long's optstring, from options */
};

/*
 * Does argv hold "--help" or "-h"?  Then print usage on stdout and return
 * true: the command returns 0 without reading anything else.
 */
bool orc_args_help(int argc, char **argv, const char *usage);

/*
 * Start parsing argv (argv[0] is skipped) with options.  An option's val is
 * what orc_args_next() returns for it: ORC_ARGS_FIRST or above, or a
 * letter that is also its short form ("-k").
 */
void orc_args_init(struct orc_args *a, const char *command, const char *usage,
		   const struct option *options, int argc, char **argv);

/*
 * The next argument: an option's val (with *value its argument, or NULL),
 * ORC_ARGS_OPERAND (with *value), ORC_ARGS_END, or ORC_ARGS_USAGE after
 * printing what was wrong (an unknown option, a missing value).  Operands
 * are also gathered in order at argv[1 .. n_operands]; once the end is
 * reached, argv[n_operands + 1] is NULL.
 */
int orc_args_next(struct orc_args *a, const char **value);

/*
 * For a command that takes no arguments of its own (its settings are gone
 * from argv): 0, or 2 after printing the usage error for the first one.
 */
int orc_args_none(const char *command, const char *usage, int argc,
		  char **argv);

/* Print "orchestrator NAME: message" and the usage on stderr; returns 2. */
int orc_args_fail(const struct orc_args *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Read a --limit: a number from 1 to 100000 into *out, 0; or 2 after
 * printing the usage error.
 */
int orc_args_limit(const struct orc_args *a, const char *text, int *out);

#endif
