/*
 * opt: command-line options declared as tables.
 *
 * A command lists its options as rows of `struct sw_opt`: long name, short
 * letter, the kind of value, where the value goes and one line of help.
 * One parser reads argv against the rows and one printer writes `--help`
 * from the same rows, so that what a command accepts and what its help
 * says cannot drift apart. Letters are per table: `-f` may be a file in
 * one command and "follow" in another.
 *
 * Accepted forms, as getopt_long(3) accepts them:
 *	--name, --name VALUE, --name=VALUE, an unambiguous prefix of --name,
 *	-x, -x VALUE, -xVALUE, and grouped letters (-fw, -fiVALUE).
 * Options and positional arguments may be mixed (`status hello --json`);
 * `--` ends the options and a lone `-` is a positional argument. Every
 * command also accepts -h/--help.
 *
 * The value goes to `dest + offset`, where dest is the struct the caller
 * passes to sw_opt_parse(); SW_OPT_AT() checks at compile time that the
 * field has the C type the kind writes.
 *
 * Messages are the CLI's usage errors, on stderr, one line each:
 *	slipway apply: unknown option "--x" (see `slipway apply --help`)
 * Pure apart from printing and sw_opt_inherit's rows: no allocation.
 */
#ifndef SW_CORE_OPT_H
#define SW_CORE_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SW_OPT_PROG "slipway"
#define SW_OPT_EXIT_USAGE 2

enum sw_opt_kind {
	SW_OPT_FLAG,     /* bool, set to true; takes no value */
	SW_OPT_STRING,   /* const char *, pointing into argv */
	SW_OPT_INT,      /* long long, decimal, at least .min */
	SW_OPT_DURATION, /* uint64_t milliseconds (sw_duration_parse), at least .min ms */
	SW_OPT_CUSTOM,   /* .parse(field, value) stores it */
};

struct sw_opt {
	const char *name;      /* long name without "--"; NULL ends a table */
	char letter;           /* short name, or 0 */
	enum sw_opt_kind kind;
	size_t offset;         /* of the destination field in dest; see SW_OPT_AT */
	const char *value;     /* placeholder in help ("PATH", "DUR"); unused for flags */
	const char *help;      /* one line in --help; NULL hides the option */
	/* a bad value reads "--NAME must EXPECT, got "VALUE"" ("be a revision
	 * number"); NULL: "be a number", "be a duration like 10s", "be valid" */
	const char *expect;
	long long min;         /* smallest INT, or smallest DURATION in ms */
	bool required;         /* a usage error when absent; shown without [] */
	int (*parse)(void *field, const char *value); /* SW_OPT_CUSTOM: 0 or -1 */
};

/*
 * Offset of dest's `field`, which must have type `ctype`: a row that would
 * write a bool into a string field does not compile.
 */
#define SW_OPT_AT(type, field, ctype) \
	(offsetof(type, field) + 0 * sizeof(_Generic(((type *)0)->field, ctype: 0)))

/* How a command is called: the usage line, the help and the options. */
struct sw_opt_usage {
	const char *name;       /* the command ("apply"); NULL for the program itself */
	const char *args;       /* positional arguments in the usage line ("APP"), or NULL */
	int min_args, max_args; /* how many positional arguments it takes */
	const struct sw_opt *opts; /* ends with a row whose name is NULL; may be NULL */
	const char *help;       /* the paragraph under the usage line */
	bool stop_at_args;      /* options end at the first positional argument */
};

/* sw_opt_parse() returns one of these, or the number of positional arguments. */
#define SW_OPT_HELP (-1)  /* help was printed: exit 0 */
#define SW_OPT_USAGE (-2) /* a usage error was printed: exit 2 */
/* The exit code that goes with a negative result of sw_opt_parse(). */
#define SW_OPT_EXIT(r) ((r) == SW_OPT_HELP ? 0 : SW_OPT_EXIT_USAGE)

/*
 * Parses argv[1] .. argv[argc - 1] (argv[0] is the command's name) into
 * dest. Fields of options that are absent keep what the caller put there,
 * which is how defaults are given. The positional arguments are moved to
 * argv[1] .. argv[n] in their order and n is returned; argv keeps its
 * strings (values point into them). Returns SW_OPT_HELP after printing
 * help to stdout, SW_OPT_USAGE after printing a usage error to stderr (an
 * unknown or ambiguous option, a missing value, a value for a flag, a bad
 * number or duration, a required option absent, too few or too many
 * positional arguments). An option given twice keeps the last value.
 */
int sw_opt_parse(const struct sw_opt_usage *u, void *dest, int argc, char **argv);

/*
 * Rows every command accepts besides its own, as it accepts -h/--help:
 * the CLI's `-e ENV`, which may then come after the command word as well
 * as before it (`slipway apply -e prod -f .`). A command's own row of the
 * same name or letter wins (`secret encrypt -e`). Their offsets are into
 * `dest`, not the command's struct; they are listed in every command's
 * --help, never in its usage line, and never `required`. Only parses of
 * a command (a usage with a name) see them. Call once before parsing;
 * NULL rows: none. The one piece of global state here.
 */
void sw_opt_inherit(const struct sw_opt *rows, void *dest);

/* Writes the usage line, the help and the table of options. */
void sw_opt_help(FILE *f, const struct sw_opt_usage *u);

/* Writes "usage: slipway NAME [options] ARGS" alone, without newline. */
void sw_opt_usage_line(FILE *f, const struct sw_opt_usage *u);

/*
 * Prints "slipway NAME: MESSAGE (see `slipway NAME --help`)" to stderr
 * (name NULL: "slipway: MESSAGE (see `slipway --help`)") and returns
 * SW_OPT_EXIT_USAGE, for `return sw_opt_error(...)` from a command.
 */
int sw_opt_error(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
