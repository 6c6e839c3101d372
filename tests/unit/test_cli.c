/*
 * cli: the option tables (core/opt) that every command's parsing and
 * --help come from, and the command tables themselves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "core/opt.h"

struct t_opts {
	bool wait, json;
	const char *file;
	long long count;
	uint64_t timeout_ms;
	int custom;
	const char *hidden;
};

static int parse_even(void *field, const char *value)
{
	int v = atoi(value);
	if (v % 2)
		return -1;
	*(int *)field = v;
	return 0;
}

static const struct sw_opt t_options[] = {
	{.name = "filename", .letter = 'f', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct t_opts, file, const char *), .value = "PATH", .help = "the file"},
	{.name = "wait", .letter = 'w', .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct t_opts, wait, bool), .help = "wait for it"},
	{.name = "count", .kind = SW_OPT_INT, .offset = SW_OPT_AT(struct t_opts, count, long long),
	 .value = "N", .min = 1, .expect = "be a count", .help = "how many"},
	{.name = "timeout", .kind = SW_OPT_DURATION,
	 .offset = SW_OPT_AT(struct t_opts, timeout_ms, uint64_t), .value = "DUR", .help = "how long"},
	{.name = "even", .kind = SW_OPT_CUSTOM, .offset = SW_OPT_AT(struct t_opts, custom, int),
	 .value = "N", .parse = parse_even, .help = "an even number"},
	{.name = "json", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct t_opts, json, bool),
	 .help = "print JSON"},
	{.name = "secret", .kind = SW_OPT_STRING, .offset = SW_OPT_AT(struct t_opts, hidden, const char *),
	 .value = "X"},
	{0},
};

static const struct sw_opt_usage t_usage = {
	.name = "demo", .args = "APP", .min_args = 0, .max_args = 2, .opts = t_options,
	.help = "Does a demo.",
};

/* ---- capturing what the parser prints ---- */

struct capture {
	int fd, saved;
	FILE *tmp;
	char text[8192];
};

static void capture_begin(struct capture *c, int fd)
{
	fflush(NULL);
	c->fd = fd;
	c->tmp = tmpfile();
	assert_non_null(c->tmp);
	c->saved = dup(fd);
	dup2(fileno(c->tmp), fd);
}

static const char *capture_end(struct capture *c)
{
	fflush(NULL);
	dup2(c->saved, c->fd);
	close(c->saved);
	rewind(c->tmp);
	size_t n = fread(c->text, 1, sizeof(c->text) - 1, c->tmp);
	c->text[n] = '\0';
	fclose(c->tmp);
	return c->text;
}

/* Parses a NULL-terminated word list (argv[0] is "demo"). */
static int parse(struct t_opts *o, char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	return sw_opt_parse(&t_usage, o, argc, argv);
}

/* Parses words that must fail; returns what went to stderr. */
static const char *parse_fails(struct capture *c, char **argv)
{
	struct t_opts o = {0};
	capture_begin(c, 2);
	int n = parse(&o, argv);
	const char *err = capture_end(c);
	assert_int_equal(n, SW_OPT_USAGE);
	assert_int_equal(SW_OPT_EXIT(n), 2);
	return err;
}

static void test_cli__opt_flags(void **state)
{
	struct t_opts o = {0};
	char *argv[] = {"demo", "-w", "--json", NULL};
	assert_int_equal(parse(&o, argv), 0);
	assert_true(o.wait);
	assert_true(o.json);
	assert_null(o.file);
}

static void test_cli__opt_values_in_every_form(void **state)
{
	struct t_opts o = {.count = 7};
	char *a1[] = {"demo", "--filename", "a.yaml", NULL};
	assert_int_equal(parse(&o, a1), 0);
	assert_string_equal(o.file, "a.yaml");
	assert_int_equal(o.count, 7); /* absent: the caller's default stays */
	char *a2[] = {"demo", "--filename=b.yaml", NULL};
	assert_int_equal(parse(&o, a2), 0);
	assert_string_equal(o.file, "b.yaml");
	char *a3[] = {"demo", "-fc.yaml", NULL};
	assert_int_equal(parse(&o, a3), 0);
	assert_string_equal(o.file, "c.yaml");
	char *a4[] = {"demo", "-f", "d.yaml", NULL};
	assert_int_equal(parse(&o, a4), 0);
	assert_string_equal(o.file, "d.yaml");
	struct t_opts g = {0};
	char *a5[] = {"demo", "-wfe.yaml", NULL}; /* grouped: a flag, then a value */
	assert_int_equal(parse(&g, a5), 0);
	assert_true(g.wait);
	assert_string_equal(g.file, "e.yaml");
	char *a6[] = {"demo", "--filename=", NULL}; /* an empty value is a value */
	assert_int_equal(parse(&g, a6), 0);
	assert_string_equal(g.file, "");
}

static void test_cli__opt_kinds_convert_and_check(void **state)
{
	struct t_opts o = {0};
	char *argv[] = {"demo", "--count", "3", "--timeout=1m30s", "--even", "4", "--secret", "s",
			NULL};
	assert_int_equal(parse(&o, argv), 0);
	assert_int_equal(o.count, 3);
	assert_int_equal(o.timeout_ms, 90000);
	assert_int_equal(o.custom, 4);
	assert_string_equal(o.hidden, "s"); /* hidden from help, still accepted */

	struct capture c;
	char *b1[] = {"demo", "--count", "0", NULL};
	assert_string_equal(parse_fails(&c, b1),
			    "slipway demo: --count must be a count, got \"0\" (see `slipway demo --help`)\n");
	char *b2[] = {"demo", "--count=3x", NULL};
	assert_non_null(strstr(parse_fails(&c, b2), "--count must be a count, got \"3x\""));
	char *b3[] = {"demo", "--timeout", "10", NULL};
	assert_non_null(strstr(parse_fails(&c, b3), "--timeout must be a duration like 10s, got \"10\""));
	char *b4[] = {"demo", "--even", "3", NULL};
	assert_non_null(strstr(parse_fails(&c, b4), "--even must be valid, got \"3\""));
}

static void test_cli__opt_unknown_option_names_the_help(void **state)
{
	struct capture c;
	char *a1[] = {"demo", "--x", NULL};
	assert_string_equal(parse_fails(&c, a1),
			    "slipway demo: unknown option \"--x\" (see `slipway demo --help`)\n");
	char *a2[] = {"demo", "-q", NULL};
	assert_string_equal(parse_fails(&c, a2),
			    "slipway demo: unknown option \"-q\" (see `slipway demo --help`)\n");
	char *a3[] = {"demo", "--x=1", NULL};
	assert_non_null(strstr(parse_fails(&c, a3), "unknown option \"--x\""));
	/* the program's own options: no command name, still a space-free hint */
	struct sw_opt_usage top = {.opts = t_options, .max_args = 9};
	char *a4[] = {"slipway", "--nope", NULL};
	capture_begin(&c, 2);
	assert_int_equal(sw_opt_parse(&top, &(struct t_opts){0}, 2, a4), SW_OPT_USAGE);
	assert_string_equal(capture_end(&c),
			    "slipway: unknown option \"--nope\" (see `slipway --help`)\n");
}

static void test_cli__opt_missing_value(void **state)
{
	struct capture c;
	char *a1[] = {"demo", "--filename", NULL};
	assert_string_equal(parse_fails(&c, a1),
			    "slipway demo: option \"--filename\" needs a value (see `slipway demo --help`)\n");
	char *a2[] = {"demo", "-wf", NULL};
	assert_non_null(strstr(parse_fails(&c, a2), "option \"-f\" needs a value"));
	char *a3[] = {"demo", "--json=yes", NULL};
	assert_non_null(strstr(parse_fails(&c, a3), "option \"--json\" takes no value"));
}

static void test_cli__opt_positionals_mix_and_double_dash_ends_options(void **state)
{
	struct t_opts o = {0};
	char *a1[] = {"demo", "hello", "--json", NULL};
	assert_int_equal(parse(&o, a1), 1);
	assert_string_equal(a1[1], "hello");
	assert_true(o.json);

	struct t_opts p = {0};
	char *a2[] = {"demo", "-w", "--", "--json", "-", NULL};
	assert_int_equal(parse(&p, a2), 2);
	assert_string_equal(a2[1], "--json");
	assert_string_equal(a2[2], "-");
	assert_false(p.json);
	assert_true(p.wait);

	struct capture c;
	char *a3[] = {"demo", "a", "b", "c", NULL};
	assert_string_equal(parse_fails(&c, a3),
			    "slipway demo: unexpected argument \"c\" (see `slipway demo --help`)\n");
}

static void test_cli__opt_prefixes_required_and_argument_counts(void **state)
{
	struct t_opts o = {0};
	char *a1[] = {"demo", "--file", "x", "--wa", NULL}; /* unambiguous prefixes */
	assert_int_equal(parse(&o, a1), 0);
	assert_string_equal(o.file, "x");
	assert_true(o.wait);

	static const struct sw_opt amb[] = {
		{.name = "alpha", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct t_opts, wait, bool), .help = "a"},
		{.name = "alps", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct t_opts, json, bool), .help = "b"},
		{.name = "file", .letter = 'f', .kind = SW_OPT_STRING, .required = true, .value = "PATH",
		 .offset = SW_OPT_AT(struct t_opts, file, const char *), .help = "c"},
		{0},
	};
	struct sw_opt_usage u = {.name = "amb", .opts = amb, .min_args = 1, .max_args = 1};
	struct capture c;
	char *a2[] = {"amb", "--al", "-f", "x", "app", NULL};
	capture_begin(&c, 2);
	assert_int_equal(sw_opt_parse(&u, &o, 5, a2), SW_OPT_USAGE);
	assert_non_null(strstr(capture_end(&c), "ambiguous option \"--al\""));
	char *a3[] = {"amb", "app", NULL};
	capture_begin(&c, 2);
	assert_int_equal(sw_opt_parse(&u, &o, 2, a3), SW_OPT_USAGE);
	assert_string_equal(capture_end(&c), "slipway amb: missing -f PATH (see `slipway amb --help`)\n");
	char *a4[] = {"amb", "-f", "x", NULL};
	capture_begin(&c, 2);
	assert_int_equal(sw_opt_parse(&u, &o, 3, a4), SW_OPT_USAGE);
	assert_non_null(strstr(capture_end(&c), "amb: missing argument"));
}

static void test_cli__opt_help_is_generated_from_the_table(void **state)
{
	struct t_opts o = {0};
	struct capture c;
	char *argv[] = {"demo", "--wait", "--help", NULL};
	capture_begin(&c, 1);
	assert_int_equal(parse(&o, argv), SW_OPT_HELP);
	assert_int_equal(SW_OPT_EXIT(SW_OPT_HELP), 0);
	const char *out = capture_end(&c);
	assert_string_equal(out,
		"usage: slipway demo APP [-f PATH] [-w] [--count N] [--timeout DUR] [--even N]\n"
		"                    [--json]\n"
		"\n"
		"Does a demo.\n"
		"\n"
		"options:\n"
		"  -f, --filename PATH  the file\n"
		"  -w, --wait           wait for it\n"
		"      --count N        how many\n"
		"      --timeout DUR    how long\n"
		"      --even N         an even number\n"
		"      --json           print JSON\n"
		"  -h, --help           show this help\n");
	char *a2[] = {"demo", "-h", NULL};
	capture_begin(&c, 1);
	assert_int_equal(parse(&o, a2), SW_OPT_HELP);
	assert_non_null(strstr(capture_end(&c), "usage: slipway demo"));
}

/* Inherited rows (the CLI's -e after the command): every command's parse
 * takes them into their own dest, --help lists them, a command's own row
 * of the name or letter wins, and a parse without a command name (the
 * options before the command) does not see them. */
static void test_cli__opt_inherited_rows(void **state)
{
	struct inherited {
		const char *env;
	} in = {0};
	static const struct sw_opt rows[] = {
		{.name = "environment", .letter = 'e', .kind = SW_OPT_STRING,
		 .offset = SW_OPT_AT(struct inherited, env, const char *), .value = "ENV",
		 .help = "work in ENV"},
		{0},
	};
	struct t_opts o = {0};
	struct capture c;
	sw_opt_inherit(rows, &in);
	char *a1[] = {"demo", "hello", "-e", "prod", "-w", NULL};
	assert_int_equal(parse(&o, a1), 1);
	assert_string_equal(in.env, "prod");
	assert_true(o.wait);
	char *a2[] = {"demo", "--environment=staging", NULL};
	assert_int_equal(parse(&o, a2), 0);
	assert_string_equal(in.env, "staging");
	char *a3[] = {"demo", "--help", NULL};
	capture_begin(&c, 1);
	assert_int_equal(parse(&o, a3), SW_OPT_HELP);
	const char *out = capture_end(&c);
	assert_non_null(strstr(out, "  -e, --environment ENV  work in ENV\n  -h, --help"));
	assert_null(strstr(out, "[-e ENV]")); /* not in the usage line */
	/* a command's own -e wins */
	static const struct sw_opt own[] = {
		{.name = "encrypt", .letter = 'e', .kind = SW_OPT_FLAG,
		 .offset = SW_OPT_AT(struct t_opts, json, bool), .help = "its own"},
		{0},
	};
	const struct sw_opt_usage u = {.name = "secret", .max_args = 1, .opts = own};
	struct t_opts p = {0};
	in.env = NULL;
	char *a4[] = {"secret", "-e", NULL};
	assert_int_equal(sw_opt_parse(&u, &p, 2, a4), 0);
	assert_true(p.json);
	assert_null(in.env);
	/* its -e shadows the whole row: --environment is not there either */
	char *a5[] = {"secret", "--environment", "prod", NULL};
	capture_begin(&c, 2);
	assert_int_equal(sw_opt_parse(&u, &p, 3, a5), SW_OPT_USAGE);
	assert_non_null(strstr(capture_end(&c), "unknown option \"--environment\""));
	/* options before the command word: not a command's parse */
	const struct sw_opt_usage top = {.opts = own, .max_args = 1};
	char *a6[] = {"slipway", "--environment", "x", NULL};
	capture_begin(&c, 2);
	assert_int_equal(sw_opt_parse(&top, &p, 3, a6), SW_OPT_USAGE);
	capture_end(&c);
	sw_opt_inherit(NULL, NULL);
}

static const struct cli_command *const all[] = {
	&cli_cmd_apply,    &cli_cmd_get,      &cli_cmd_status,  &cli_cmd_history, &cli_cmd_logs,
	&cli_cmd_rollout,  &cli_cmd_analysis, &cli_cmd_routes,  &cli_cmd_events,  &cli_cmd_rollback,
	&cli_cmd_delete,   &cli_cmd_token,    &cli_cmd_validate, &cli_cmd_version, &cli_cmd_upgrade,
	&cli_cmd_config,   &cli_cmd_completion,
};

/* Every command's table: names and letters unique, none taking -h, every
 * visible option in its --help. */
static void test_cli__command_tables_are_consistent(void **state)
{
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
		const struct sw_opt_usage *u = &all[k]->usage;
		assert_non_null(all[k]->run);
		assert_non_null(all[k]->summary);
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		sw_opt_help(f, u);
		fclose(f);
		for (size_t i = 0; u->opts && u->opts[i].name; i++) {
			const struct sw_opt *a = &u->opts[i];
			assert_int_not_equal(a->letter, 'h');
			assert_string_not_equal(a->name, "help");
			for (size_t j = i + 1; u->opts[j].name; j++) {
				assert_string_not_equal(a->name, u->opts[j].name);
				assert_true(!a->letter || a->letter != u->opts[j].letter);
			}
			char want[64];
			snprintf(want, sizeof(want), "--%s", a->name);
			if (a->help && !strstr(text, want))
				fail_msg("`slipway %s --help` does not show %s", u->name, want);
		}
		free(text);
	}
}

/* The CLI's own usage errors end in a hint that works when pasted. */
static void test_cli__usage_hint_has_a_space(void **state)
{
	struct cli_globals g = {.state_dir = "/nonexistent"};
	struct capture c;
	char *a1[] = {"get", "--x", NULL};
	capture_begin(&c, 2);
	assert_int_equal(cli_main(&g, 2, a1), 2);
	assert_string_equal(capture_end(&c),
			    "slipway get: unknown option \"--x\" (see `slipway get --help`)\n");
	char *a2[] = {"rollout", "sideways", "app", NULL};
	capture_begin(&c, 2);
	assert_int_equal(cli_main(&g, 3, a2), 2);
	assert_non_null(strstr(capture_end(&c), "(see `slipway rollout --help`)\n"));
	char *a3[] = {"statuss", NULL};
	capture_begin(&c, 2);
	assert_int_equal(cli_main(&g, 1, a3), 2);
	assert_string_equal(capture_end(&c),
			    "slipway: unknown command \"statuss\", did you mean \"status\"? (see `slipway --help`)\n");
}

static void test_cli__globals_before_the_command(void **state)
{
	struct cli_globals g = {0};
	int code = -1;
	char *argv[] = {"slipway", "--state-dir=/tmp/x", "--api", "127.0.0.1:1", "logs", "-f",
			"app", NULL};
	int n = cli_globals_parse(&g, 7, argv, &code);
	assert_int_equal(n, 3);
	assert_string_equal(g.state_dir, "/tmp/x");
	assert_string_equal(g.api, "127.0.0.1:1");
	/* the command's own options are left for the command */
	assert_string_equal(argv[1], "logs");
	assert_string_equal(argv[2], "-f");
	assert_string_equal(argv[3], "app");

	struct capture c;
	char *none[] = {"slipway", NULL};
	capture_begin(&c, 2);
	assert_int_equal(cli_globals_parse(&g, 1, none, &code), -1);
	assert_int_equal(code, 2);
	const char *help = capture_end(&c);
	assert_non_null(strstr(help, "  serve "));
	assert_non_null(strstr(help, "  proxy "));
	char *ver[] = {"slipway", "--version", NULL};
	capture_begin(&c, 1);
	assert_int_equal(cli_globals_parse(&g, 2, ver, &code), -1);
	assert_int_equal(code, 0);
	assert_non_null(strstr(capture_end(&c), "slipway "));
}

/* What the daemon sends is printed so that a terminal only shows it. */
static void test_cli__output_escapes_control_characters(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	const char raw[] = "a\x1b[2K\rb\a\x08\x7f \xc2\x9b""c \xc3\xa9 \xff\tt\nn";
	cli_escape(&b, raw, sizeof(raw) - 1, false);
	assert_string_equal(b.s, "a\\x1b[2K\\rb\\x07\\x08\\x7f \\u009bc \xc3\xa9 \\xff\\tt\\nn");
	buf_reset(&b);
	cli_escape(&b, raw, sizeof(raw) - 1, true);
	assert_string_equal(b.s, "a\\x1b[2K\\rb\\x07\\x08\\x7f \\u009bc \xc3\xa9 \\xff\tt\nn");
	buf_release(&b);

	/* fields read for printing, and table cells, come out escaped */
	json_t *j = json_pack("{s:s, s:s}", "version", "1.0\x1b]0;owned\x07", "plain", "ok");
	const char *plain = cli_jstr(j, "plain");
	assert_string_equal(plain, "ok");
	assert_string_equal(cli_jstr(j, "version"), "1.0\\x1b]0;owned\\x07");
	assert_string_equal(cli_jstr(j, "missing"), "");
	struct cli_table t;
	struct capture c;
	cli_table_init(&t, 2);
	cli_table_row(&t, "NAME", "REASON");
	cli_table_row(&t, "x", "erase\x1b[1A\x1b[2Kline\nforged");
	capture_begin(&c, 1);
	cli_table_print(&t, stdout);
	fflush(stdout);
	assert_string_equal(capture_end(&c), "NAME   REASON\nx      erase\\x1b[1A\\x1b[2Kline\\nforged\n");
	cli_table_release(&t);
	json_decref(j);
}

/* JSON output carries no byte a terminal obeys: DEL and C1 come \u-escaped. */
static void test_cli__json_output_escapes_del_and_c1(void **state)
{
	(void)state;
	struct capture c;
	json_t *j = json_pack("{s:s}", "v", "a\x7f\xc2\x9b[2Jb\x1b\xc3\xa9");
	capture_begin(&c, 1);
	cli_json_print_line(j);
	fflush(stdout);
	const char *out = capture_end(&c);
	assert_string_equal(out, "{\"v\":\"a\\u007F\\u009B[2Jb\\u001B\xc3\xa9\"}\n");
	/* and it is the same JSON */
	json_t *back = json_loads(out, 0, NULL);
	assert_non_null(back);
	assert_true(json_equal(back, j));
	json_decref(back);
	json_decref(j);
}

/* Values are one path segment or one query value each. */
static void test_cli__paths_are_percent_encoded(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	cli_pathf(&b, "/v1/apps/%s/logs?tail=%lld&instance=%s", "a/../b", 5LL, "x&tail=0 %");
	assert_string_equal(b.s, "/v1/apps/a%2F..%2Fb/logs?tail=5&instance=x%26tail%3D0%20%25");
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli__opt_flags),
		cmocka_unit_test(test_cli__opt_values_in_every_form),
		cmocka_unit_test(test_cli__opt_kinds_convert_and_check),
		cmocka_unit_test(test_cli__opt_unknown_option_names_the_help),
		cmocka_unit_test(test_cli__opt_missing_value),
		cmocka_unit_test(test_cli__opt_positionals_mix_and_double_dash_ends_options),
		cmocka_unit_test(test_cli__opt_prefixes_required_and_argument_counts),
		cmocka_unit_test(test_cli__opt_help_is_generated_from_the_table),
		cmocka_unit_test(test_cli__opt_inherited_rows),
		cmocka_unit_test(test_cli__command_tables_are_consistent),
		cmocka_unit_test(test_cli__usage_hint_has_a_space),
		cmocka_unit_test(test_cli__globals_before_the_command),
		cmocka_unit_test(test_cli__output_escapes_control_characters),
		cmocka_unit_test(test_cli__json_output_escapes_del_and_c1),
		cmocka_unit_test(test_cli__paths_are_percent_encoded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
