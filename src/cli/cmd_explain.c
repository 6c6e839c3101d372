/*
 * slipway explain KIND[.FIELD...]: the reference of a kind's fields, as
 * `kubectl explain` prints it, from the tables that validate documents
 * (spec/reference.h). Offline: no daemon needed.
 */
#include "cli_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/core.h"
#include "spec/reference.h"

struct explain_opts {
	bool recursive;
	int output; /* 0 text, 1 json */
};

static int parse_output(void *field, const char *value)
{
	if (strcmp(value, "json") != 0)
		return -1;
	*(int *)field = 1;
	return 0;
}

static const struct sw_opt options[] = {
	{.name = "recursive", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct explain_opts, recursive, bool),
	 .help = "list every field below, at every level, with its type"},
	{.name = "output", .letter = 'o', .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct explain_opts, output, int), .value = "FORMAT", .expect = "be json",
	 .parse = parse_output, .help = "json: the same as JSON, for scripts"},
	{0},
};

#define JSON_FLAGS (JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15))

/* A default as a person reads it: strings bare, the rest as compact JSON. */
static void default_text(struct buf *out, json_t *d)
{
	if (!d) {
		buf_adds(out, "none");
	} else if (json_is_string(d)) {
		buf_adds(out, json_string_value(d));
	} else {
		char *s = json_dumps(d, JSON_FLAGS);
		buf_adds(out, s ? s : "");
		free(s);
	}
}

/* Prints text wrapped at 78 columns, each line after indent. */
static void print_wrapped(const char *text, const char *indent)
{
	size_t width = 78 - strlen(indent), col = 0;
	const char *p = text;
	while (*p) {
		size_t n = strcspn(p, " ");
		if (col && col + 1 + n > width) {
			putchar('\n');
			col = 0;
		}
		if (!col)
			fputs(indent, stdout);
		else
			putchar(' ');
		fwrite(p, 1, n, stdout);
		col += n + (col ? 1 : 0);
		p += n;
		p += strspn(p, " ");
	}
	if (col)
		putchar('\n');
}

static void field_type(struct buf *out, json_t *f)
{
	buf_addf(out, "<%s", json_string_value(json_object_get(f, "type")));
	if (json_object_get(f, "range"))
		buf_addf(out, ", %s", json_string_value(json_object_get(f, "range")));
	buf_addc(out, '>');
}

/* The widest "name" of fields (each level `depth` 2 spaces further in). */
static size_t name_width(json_t *fields, size_t depth)
{
	size_t w = 0, i;
	json_t *f;
	json_array_foreach(fields, i, f) {
		size_t n = depth * 2 + strlen(json_string_value(json_object_get(f, "name")));
		size_t sub = name_width(json_object_get(f, "fields"), depth + 1);
		w = n > w ? n : w;
		w = sub > w ? sub : w;
	}
	return w;
}

/* The type column: as wide as its widest type, but a long one (an enum
 * of many names) runs past it rather than push every line right. */
#define TYPE_COLUMN_MAX 40

static size_t type_width(json_t *fields)
{
	size_t w = 0, i;
	json_t *f;
	json_array_foreach(fields, i, f) {
		struct buf t = BUF_INIT;
		field_type(&t, f);
		w = t.len > w && t.len <= TYPE_COLUMN_MAX ? t.len : w;
		buf_release(&t);
		size_t sub = type_width(json_object_get(f, "fields"));
		w = sub > w ? sub : w;
	}
	return w;
}

/*
 * One line a field: name, <type>, then -required-, "one of" and its
 * default; under it its description (one level), or with recursive the
 * fields under it, two spaces in.
 */
static void print_fields(json_t *fields, size_t depth, size_t nw, size_t tw, bool recursive)
{
	size_t i;
	json_t *f;
	json_array_foreach(fields, i, f) {
		struct buf type = BUF_INIT, line = BUF_INIT;
		field_type(&type, f);
		buf_addf(&line, "    %*s%-*s   %-*s", (int)(depth * 2), "", (int)(nw - depth * 2),
			 json_string_value(json_object_get(f, "name")), (int)tw, type.s);
		if (json_is_true(json_object_get(f, "required")))
			buf_adds(&line, "   -required-");
		if (json_is_true(json_object_get(f, "oneOf")))
			buf_adds(&line, "   one of");
		json_t *d = json_object_get(f, "default");
		if (d) {
			buf_adds(&line, "   default ");
			default_text(&line, d);
		}
		while (line.len && line.s[line.len - 1] == ' ')
			line.s[--line.len] = '\0';
		puts(line.s);
		buf_release(&type);
		buf_release(&line);
		if (recursive)
			print_fields(json_object_get(f, "fields"), depth + 1, nw, tw, true);
		else
			print_wrapped(json_string_value(json_object_get(f, "description")), "        ");
	}
}

static void print_explain(json_t *j, bool recursive)
{
	const char *field = json_string_value(json_object_get(j, "field"));
	json_t *fields = json_object_get(j, "fields");
	json_t *group = json_object_get(j, "oneOf");
	struct buf b = BUF_INIT;

	printf("KIND:        %s\n", json_string_value(json_object_get(j, "kind")));
	if (!*field) {
		printf("VERSION:     slipway/v1\n");
	} else {
		printf("FIELD:       %s\n", field);
		field_type(&b, j);
		printf("TYPE:        %.*s\n", (int)(b.len - 2), b.s + 1);
		buf_reset(&b);
		default_text(&b, json_object_get(j, "default"));
		printf("DEFAULT:     %s\n", b.s);
		printf("REQUIRED:    %s\n", json_is_true(json_object_get(j, "required")) ? "yes" : "no");
		if (group) {
			size_t i;
			json_t *g;
			buf_reset(&b);
			json_array_foreach(group, i, g)
				buf_addf(&b, "%s%s", i ? ", " : "", json_string_value(g));
			printf("ONE OF:      %s (exactly one)\n", b.s);
		}
	}
	printf("\nDESCRIPTION:\n");
	print_wrapped(json_string_value(json_object_get(j, "description")), "    ");
	if (json_array_size(fields)) {
		printf("\nFIELDS:\n");
		print_fields(fields, 0, name_width(fields, 0), type_width(fields), recursive);
	}
	buf_release(&b);
}

static int run(struct cli *c, int argc, char **argv)
{
	struct explain_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_explain.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	struct sw_err err = {0};
	json_t *j = NULL;
	if (n == 0) {
		j = spec_ref_kinds_json();
		if (o.output) {
			cli_json_print(j);
		} else {
			size_t i;
			json_t *k;
			printf("KINDS:\n");
			json_array_foreach(j, i, k) {
				printf("    %s\n", json_string_value(json_object_get(k, "kind")));
				print_wrapped(json_string_value(json_object_get(k, "description")), "        ");
			}
			printf("\nslipway explain KIND[.FIELD...] describes one, as app or app.spec.replicas.\n");
		}
		json_decref(j);
		return 0;
	}
	if (spec_ref_explain(&j, argv[1], o.recursive, &err) < 0) {
		fprintf(stderr, "slipway explain: %s\n", err.msg);
		return 1;
	}
	if (o.output) {
		char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
		puts(s ? s : "null");
		free(s);
	} else {
		print_explain(j, o.recursive);
	}
	json_decref(j);
	return 0;
}

const struct cli_command cli_cmd_explain = {
	.summary = "describe a kind's fields: type, default, meaning (offline)",
	.run = run,
	.usage = {
		.name = "explain",
		.args = "[KIND[.FIELD...]]",
		.max_args = 1,
		.opts = options,
		.help = "Describes a kind of document or one of its fields, as `kubectl explain` does: its\n"
			"type, default, whether it is required, what it means, and the fields under it.\n"
			"KIND is app, analysistemplate or source (any case, plural, or at); FIELD is a\n"
			"path like spec.strategy.canary.steps (lists need no index). Without KIND it\n"
			"lists the kinds. The reference is made from the tables that validate documents,\n"
			"so it is what `slipway validate` accepts. No daemon is needed.",
	},
};
