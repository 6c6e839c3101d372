#include "opt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* -h/--help, which every command accepts; never stored. */
static const struct sw_opt help_row = {
	.name = "help", .letter = 'h', .kind = SW_OPT_FLAG, .help = "show this help",
};

/* The rows every command inherits (sw_opt_inherit) and where they store. */
static const struct sw_opt *inherited;
static void *inherited_dest;

void sw_opt_inherit(const struct sw_opt *rows, void *dest)
{
	inherited = rows;
	inherited_dest = dest;
}

static size_t count_rows(const struct sw_opt *opts);

/* Whether u's own rows have o's name or letter (then o is not inherited). */
static bool own_row(const struct sw_opt_usage *u, const struct sw_opt *o)
{
	for (size_t i = 0; u->opts && u->opts[i].name; i++)
		if (strcmp(u->opts[i].name, o->name) == 0 || (o->letter && u->opts[i].letter == o->letter))
			return true;
	return false;
}

/* The i-th row u takes: its own, then the inherited ones it does not
 * shadow (only for a command: u->name set), then -h/--help; NULL past
 * the last. *is_own says which. */
static const struct sw_opt *row_at(const struct sw_opt_usage *u, size_t i, bool *is_own)
{
	size_t n = count_rows(u->opts);
	*is_own = i < n;
	if (i < n)
		return &u->opts[i];
	i -= n;
	for (size_t k = 0; u->name && inherited && inherited[k].name; k++) {
		if (own_row(u, &inherited[k]))
			continue;
		if (i-- == 0)
			return &inherited[k];
	}
	return i == 0 ? &help_row : NULL;
}

/* Where a row's value goes: the command's dest or the inherited one. */
static void *dest_of(const struct sw_opt_usage *u, const struct sw_opt *o, void *dest)
{
	return o >= u->opts && o < u->opts + count_rows(u->opts) ? dest : inherited_dest;
}

static void verror(const char *name, const char *fmt, va_list ap)
{
	const char *sp = name ? " " : "", *cmd = name ? name : "";
	fprintf(stderr, SW_OPT_PROG "%s%s: ", sp, cmd);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see `" SW_OPT_PROG "%s%s --help`)\n", sp, cmd);
}

int sw_opt_error(const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(name, fmt, ap);
	va_end(ap);
	return SW_OPT_EXIT_USAGE;
}

/* A usage error inside the parser: returns SW_OPT_USAGE. */
static int fail(const struct sw_opt_usage *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(const struct sw_opt_usage *u, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(u->name, fmt, ap);
	va_end(ap);
	return SW_OPT_USAGE;
}

static size_t count_rows(const struct sw_opt *opts)
{
	size_t n = 0;
	while (opts && opts[n].name)
		n++;
	return n;
}

/* The row named by the first len bytes of name: an exact name, else the
 * one row it is a prefix of. *ambiguous is set when it prefixes several. */
static const struct sw_opt *find_long(const struct sw_opt_usage *u, const char *name, size_t len,
				      bool *ambiguous)
{
	const struct sw_opt *prefix_of = NULL, *o;
	size_t matches = 0;
	bool own;
	*ambiguous = false;
	for (size_t i = 0; (o = row_at(u, i, &own)); i++) {
		if (strncmp(o->name, name, len) != 0)
			continue;
		if (o->name[len] == '\0')
			return o;
		prefix_of = o;
		matches++;
	}
	*ambiguous = matches > 1;
	return matches == 1 ? prefix_of : NULL;
}

static const struct sw_opt *find_letter(const struct sw_opt_usage *u, char letter)
{
	const struct sw_opt *o;
	bool own;
	for (size_t i = 0; (o = row_at(u, i, &own)); i++)
		if (o->letter == letter)
			return o;
	return NULL;
}

static int bad_value(const struct sw_opt_usage *u, const struct sw_opt *o, const char *value)
{
	static const char *const expect[] = {
		[SW_OPT_INT] = "be a number", [SW_OPT_DURATION] = "be a duration like 10s",
		[SW_OPT_CUSTOM] = "be valid",
	};
	return fail(u, "--%s must %s, got \"%s\"", o->name,
		    o->expect ? o->expect : expect[o->kind], value);
}

/* Stores one option's value (NULL for a flag) into dest. */
static int store(const struct sw_opt_usage *u, const struct sw_opt *o, void *dest,
		 const char *value)
{
	void *field = (char *)dest_of(u, o, dest) + o->offset;
	switch (o->kind) {
	case SW_OPT_FLAG:
		*(bool *)field = true;
		return 0;
	case SW_OPT_STRING:
		*(const char **)field = value;
		return 0;
	case SW_OPT_INT: {
		char *end;
		errno = 0;
		long long v = strtoll(value, &end, 10);
		if (!*value || *end || errno || v < o->min)
			return bad_value(u, o, value);
		*(long long *)field = v;
		return 0;
	}
	case SW_OPT_DURATION: {
		uint64_t ms;
		if (sw_duration_parse(value, &ms) < 0 || (o->min > 0 && ms < (uint64_t)o->min))
			return bad_value(u, o, value);
		*(uint64_t *)field = ms;
		return 0;
	}
	case SW_OPT_CUSTOM:
		return o->parse(field, value) < 0 ? bad_value(u, o, value) : 0;
	}
	SW_ASSERT(!"unknown option kind");
	return SW_OPT_USAGE;
}

static int show_help(const struct sw_opt_usage *u)
{
	sw_opt_help(stdout, u);
	return SW_OPT_HELP;
}

/* Reads the value of o from the rest of the word, else from the next one. */
static int take_value(const struct sw_opt_usage *u, const struct sw_opt *o, void *dest,
		      const char *rest, int argc, char **argv, int *i, const char *shown)
{
	if (!rest) {
		if (*i + 1 >= argc)
			return fail(u, "option \"%s\" needs a value", shown);
		rest = argv[++*i];
	}
	return store(u, o, dest, rest);
}

/*
 * Reads one option at argv[*i] into dest, and its value from the same word
 * or the next one (then *i moves past it). *seen gets the row's bit.
 */
static int parse_one(const struct sw_opt_usage *u, void *dest, int argc, char **argv, int *i,
		     uint64_t *seen)
{
	const char *arg = argv[*i];
	char shown[80];
	if (arg[1] == '-') {
		const char *name = arg + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		bool ambiguous;
		const struct sw_opt *o = find_long(u, name, len, &ambiguous);
		if (!o)
			return fail(u, "%s option \"--%.*s\"", ambiguous ? "ambiguous" : "unknown",
				    (int)len, name);
		if (o->kind == SW_OPT_FLAG && eq)
			return fail(u, "option \"--%s\" takes no value", o->name);
		if (o == &help_row)
			return show_help(u);
		if (dest_of(u, o, dest) == dest)
			*seen |= 1ull << (o - u->opts);
		if (o->kind == SW_OPT_FLAG)
			return store(u, o, dest, NULL);
		snprintf(shown, sizeof(shown), "--%s", o->name);
		return take_value(u, o, dest, eq ? eq + 1 : NULL, argc, argv, i, shown);
	}
	/* a group of letters: flags, then at most one that takes the rest as value */
	for (const char *p = arg + 1; *p; p++) {
		const struct sw_opt *o = find_letter(u, *p);
		if (!o)
			return fail(u, "unknown option \"-%c\"", *p);
		if (o == &help_row)
			return show_help(u);
		if (dest_of(u, o, dest) == dest)
			*seen |= 1ull << (o - u->opts);
		if (o->kind == SW_OPT_FLAG) {
			store(u, o, dest, NULL);
			continue;
		}
		snprintf(shown, sizeof(shown), "-%c", *p);
		return take_value(u, o, dest, p[1] ? p + 1 : NULL, argc, argv, i, shown);
	}
	return 0;
}

int sw_opt_parse(const struct sw_opt_usage *u, void *dest, int argc, char **argv)
{
	size_t nrows = count_rows(u->opts);
	uint64_t seen = 0;
	int nargs = 0, i;
	bool options = true;

	SW_ASSERT(nrows < 64);
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (options && strcmp(arg, "--") == 0) {
			options = false;
			continue;
		}
		if (!options || arg[0] != '-' || arg[1] == '\0') {
			argv[1 + nargs++] = argv[i];
			if (u->stop_at_args)
				options = false;
			continue;
		}
		int r = parse_one(u, dest, argc, argv, &i, &seen);
		if (r < 0)
			return r;
	}
	for (size_t k = 0; k < nrows; k++) {
		const struct sw_opt *o = &u->opts[k];
		if (!o->required || (seen & (1ull << k)))
			continue;
		if (o->letter)
			return fail(u, "missing -%c %s", o->letter, o->value);
		return fail(u, "missing --%s %s", o->name, o->value);
	}
	if (nargs < u->min_args)
		return fail(u, "missing argument");
	if (nargs > u->max_args)
		return fail(u, "unexpected argument \"%s\"", argv[1 + u->max_args]);
	return nargs;
}

/* "-f PATH", "--wait", "[--timeout DUR]": how the usage line names a row. */
static void synopsis(char *out, size_t size, const struct sw_opt *o)
{
	bool value = o->kind != SW_OPT_FLAG;
	char name[64];
	if (o->letter)
		snprintf(name, sizeof(name), "-%c", o->letter);
	else
		snprintf(name, sizeof(name), "--%s", o->name);
	snprintf(out, size, "%s%s%s%s%s", o->required ? "" : "[", name, value ? " " : "",
		 value ? o->value : "", o->required ? "" : "]");
}

/* Appends one word to the usage line, wrapping it under the command's
 * name past 80 columns. */
static void usage_word(FILE *f, const char *word, size_t *col, size_t indent)
{
	size_t len = strlen(word);
	if (*col + 1 + len > 80 && *col > indent) {
		fprintf(f, "\n%*s", (int)indent, "");
		*col = indent;
	} else {
		fputc(' ', f);
		(*col)++;
	}
	fputs(word, f);
	*col += len;
}

void sw_opt_usage_line(FILE *f, const struct sw_opt_usage *u)
{
	char word[160];
	int col0 = fprintf(f, "usage: " SW_OPT_PROG "%s%s", u->name ? " " : "",
			   u->name ? u->name : "");
	size_t col = col0 > 0 ? (size_t)col0 : 0, indent = col + 1;
	for (int pass = 0; pass < 3; pass++) {
		/* required options, the arguments, then the optional ones */
		if (pass == 1) {
			if (u->args)
				usage_word(f, u->args, &col, indent);
			continue;
		}
		for (size_t i = 0; u->opts && u->opts[i].name; i++) {
			const struct sw_opt *o = &u->opts[i];
			if (!o->help || o->required != (pass == 0))
				continue;
			synopsis(word, sizeof(word), o);
			usage_word(f, word, &col, indent);
		}
	}
}

/* The left column of the options table: "-f, --filename PATH". */
static int row_label(char *out, size_t size, const struct sw_opt *o)
{
	bool value = o->kind != SW_OPT_FLAG;
	char letter[8] = "    ";
	if (o->letter)
		snprintf(letter, sizeof(letter), "-%c, ", o->letter);
	return snprintf(out, size, "%s--%s%s%s", letter, o->name, value ? " " : "",
			value ? o->value : "");
}

void sw_opt_help(FILE *f, const struct sw_opt_usage *u)
{
	int width = 0;
	char label[128];
	const struct sw_opt *o;
	bool own;

	sw_opt_usage_line(f, u);
	fputc('\n', f);
	if (u->help)
		fprintf(f, "\n%s\n", u->help);
	for (size_t i = 0; (o = row_at(u, i, &own)); i++) {
		int w = row_label(label, sizeof(label), o);
		if (o->help && w > width)
			width = w;
	}
	fprintf(f, "\noptions:\n");
	for (size_t i = 0; (o = row_at(u, i, &own)); i++) {
		if (!o->help)
			continue;
		row_label(label, sizeof(label), o);
		fprintf(f, "  %-*s  %s\n", width, label, o->help);
	}
}
