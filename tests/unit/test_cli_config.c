/*
 * cli: the config file's contexts (cli/config.h), the default places
 * (core/paths.h), and completion and manuals made from the command tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "cli/config.h"
#include "core/paths.h"

static const char good[] =
	"apiVersion: slipway/v1\n"
	"kind: Config\n"
	"current-context: prod\n"
	"contexts:\n"
	"  - name: dev\n"
	"    state-dir: /home/me/.local/state/slipway\n"
	"  - name: shared\n"
	"    socket: /run/slipway/slipway.sock\n"
	"  - name: prod\n"
	"    api: 127.0.0.1:7443\n"
	"    token-file: /home/me/prod.token\n"
	"    environment: prod\n";

static void test_cli_config__reads_contexts(void **state)
{
	struct cli_config cfg;
	struct sw_err err = {0};
	assert_int_equal(cli_config_parse(&cfg, good, strlen(good), "config", &err), 0);
	assert_int_equal(cfg.ncontexts, 3);
	assert_string_equal(cfg.current, "prod");
	assert_int_equal(cfg.contexts[0].kind, CLI_CTX_STATE_DIR);
	assert_string_equal(cfg.contexts[0].state_dir, "/home/me/.local/state/slipway");
	assert_int_equal(cfg.contexts[1].kind, CLI_CTX_SOCKET);
	assert_string_equal(cfg.contexts[1].socket, "/run/slipway/slipway.sock");
	const struct cli_context *p = cli_config_find(&cfg, "prod");
	assert_non_null(p);
	assert_int_equal(p->kind, CLI_CTX_API);
	assert_string_equal(p->api, "127.0.0.1:7443");
	assert_string_equal(p->token_file, "/home/me/prod.token");
	assert_string_equal(p->environment, "prod");
	assert_null(cfg.contexts[0].environment);
	assert_null(cli_config_find(&cfg, "nope"));

	/* what is written reads back to the same */
	char *text = cli_config_yaml(&cfg);
	struct cli_config back;
	assert_int_equal(cli_config_parse(&back, text, strlen(text), "back", &err), 0);
	char *again = cli_config_yaml(&back);
	assert_string_equal(text, again);
	free(text);
	free(again);
	cli_config_release(&back);
	cli_config_release(&cfg);

	/* an empty file, or one of comments, is an empty config */
	assert_int_equal(cli_config_parse(&cfg, "# nothing\n", 10, "config", &err), 0);
	assert_int_equal(cfg.ncontexts, 0);
	assert_null(cfg.current);
	cli_config_release(&cfg);
}

/* Every wrong file gives file:line:col and what is wrong. */
static void test_cli_config__errors_say_where(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"apiVersion: slipway/v1\nkind: Config\ncontexts:\n  - name: a\n    stateDir: /x\n",
		 "cfg:5:5: unknown field \"stateDir\" in contexts[0] (did you mean \"state-dir\"?)"},
		{"apiVersion: slipway/v1\nkind: Config\ncontexts:\n  - name: a\n    api: 127.0.0.1:1\n",
		 "cfg:4:5: a context with \"api\" needs \"token-file\""},
		{"apiVersion: slipway/v1\nkind: Config\ncontexts:\n  - name: a\n    state-dir: /x\n"
		 "    token-file: /t\n",
		 "cfg:6:17: \"token-file\" goes with \"api\" only"},
		{"apiVersion: slipway/v1\nkind: Config\ncontexts:\n  - name: a\n    state-dir: /x\n"
		 "    socket: /y\n",
		 "cfg:6:5: contexts[0] has both \"state-dir\" and \"socket\""},
		{"apiVersion: slipway/v1\nkind: Config\ncontexts:\n  - name: a\n",
		 "cfg:4:5: contexts[0] needs one of \"state-dir\", \"socket\" or \"api\""},
		{"apiVersion: slipway/v1\nkind: Config\ncontexts:\n  - {name: a, state-dir: /x}\n"
		 "  - {name: a, socket: /y}\n",
		 "cfg:5:5: duplicate context \"a\""},
		{"apiVersion: slipway/v1\nkind: Config\ncurrent-context: b\ncontexts:\n"
		 "  - {name: a, state-dir: /x}\n",
		 "cfg:3:18: current-context \"b\" is not one of the contexts"},
		{"apiVersion: slipway/v1\nkind: Config\ncontexts:\n  - {name: a, state-dir: rel}\n",
		 "cfg:4:26: state-dir must be an absolute path, got \"rel\""},
		{"apiVersion: slipway/v1\nkind: Config\ncontexts:\n  - {name: a b, state-dir: /x}\n",
		 "cfg:4:12: name must be one word"},
		{"apiVersion: slipway/v1\nkind: Config\ncontexts:\n"
		 "  - {name: a, api: nowhere, token-file: /t}\n",
		 "cfg:4:20: api: "},
		{"apiVersion: slipway/v1\nkind: Config\ncontexts:\n"
		 "  - {name: a, state-dir: /x, environment: Prod}\n",
		 "cfg:4:43: environment must be lower-case letters, digits and '-'"},
		{"apiVersion: slipway/v1\nkind: App\n", "cfg:2:7: kind must be \"Config\", got \"App\""},
		{"kind: Config\n", "cfg:1:1: missing required field \"apiVersion\""},
		{"apiVersion: slipway/v1\nkind: Config\n---\napiVersion: slipway/v1\n",
		 "cfg:4:1: a config file holds one document"},
		{"contexts: [\n", "cfg:"},
		{"apiVersion: slipway/v1\nkind: Config\ncontexts:\n  - {name: a, state-dir: \"/x\\e[2J\"}\n",
		 "cfg:4:26: state-dir contains the control character U+001B"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cli_config cfg;
		struct sw_err err = {0};
		int rc = cli_config_parse(&cfg, cases[i].text, strlen(cases[i].text), "cfg", &err);
		if (rc != -1 || strncmp(err.msg, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, rc, err.msg, cases[i].want);
		assert_int_equal(cfg.ncontexts, 0);
		assert_null(cfg.contexts);
	}
}

/* Saved whole or not at all, private to its owner, the directory made. */
static void test_cli_config__save_is_atomic_and_private(void **state)
{
	char dir[] = "/tmp/test_cli_config.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/a/b/config", dir);
	struct cli_config cfg, back;
	struct sw_err err = {0};
	assert_int_equal(cli_config_parse(&cfg, good, strlen(good), "config", &err), 0);
	mode_t old = umask(0);
	assert_int_equal(cli_config_save(&cfg, path, &err), 0);
	umask(old);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char sub[300];
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* nothing but the file is left in its directory */
	DIR *d = opendir(sub);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 1);
	assert_int_equal(cli_config_load(&back, path, &err), 0);
	assert_int_equal(back.ncontexts, 3);
	cli_config_release(&back);
	/* a missing file is an empty config */
	snprintf(sub, sizeof(sub), "%s/none", dir);
	assert_int_equal(cli_config_load(&back, sub, &err), 0);
	assert_int_equal(back.ncontexts, 0);
	cli_config_release(&cfg);
	snprintf(sub, sizeof(sub), "rm -rf '%s'", dir);
	assert_int_equal(system(sub), 0);
}

static void test_cli_config__default_places(void **state)
{
	struct buf b = BUF_INIT;
	assert_int_equal(sw_path_state_dir_for(&b, NULL, "/home/me", false), 0);
	assert_string_equal(b.s, "/home/me/.local/state/slipway");
	buf_reset(&b);
	assert_int_equal(sw_path_state_dir_for(&b, "/xdg/state", "/home/me", false), 0);
	assert_string_equal(b.s, "/xdg/state/slipway");
	buf_reset(&b);
	/* a relative XDG_STATE_HOME is ignored, as the XDG spec says */
	assert_int_equal(sw_path_state_dir_for(&b, "rel", "/home/me", false), 0);
	assert_string_equal(b.s, "/home/me/.local/state/slipway");
	buf_reset(&b);
	assert_int_equal(sw_path_state_dir_for(&b, NULL, "/root", true), 0);
	assert_string_equal(b.s, "/var/lib/slipway");
	buf_reset(&b);
	assert_int_equal(sw_path_state_dir_for(&b, "/xdg", "/root", true), 0);
	assert_string_equal(b.s, "/xdg/slipway");
	buf_reset(&b);
	assert_int_equal(sw_path_state_dir_for(&b, "", "", false), -1);
	assert_int_equal(sw_path_config_for(&b, NULL, "/home/me"), 0);
	assert_string_equal(b.s, "/home/me/.config/slipway/config");
	buf_reset(&b);
	assert_int_equal(sw_path_config_for(&b, "/xdg/cfg", "/home/me"), 0);
	assert_string_equal(b.s, "/xdg/cfg/slipway/config");
	buf_release(&b);
}

/* Runs `slipway __complete WORDS...` and returns what it printed (static). */
static const char *complete(const char *const *words)
{
	static char out[16384];
	char *argv[32];
	int argc = 0;
	struct cli_globals g = {.state_dir = "/nonexistent"};
	argv[argc++] = "__complete";
	for (; *words; words++)
		argv[argc++] = (char *)*words;
	argv[argc] = NULL;
	fflush(stdout);
	int saved = dup(1);
	FILE *tmp = tmpfile();
	dup2(fileno(tmp), 1);
	assert_int_equal(cli_main(&g, argc, argv), 0);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	rewind(tmp);
	size_t n = fread(out, 1, sizeof(out) - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return out;
}

static void test_cli_config__completion_follows_the_tables(void **state)
{
	const char *s = complete((const char *[]){"", NULL});
	assert_true(strncmp(s, "words\n", 6) == 0);
	size_t n;
	const struct cli_command *const *cmds = cli_commands(&n);
	for (size_t i = 0; i < n; i++) {
		char want[64];
		snprintf(want, sizeof(want), "\n%s\t", cmds[i]->usage.name);
		/* every visible command, and no hidden one */
		assert_int_equal(strstr(s, want) != NULL, cmds[i]->summary != NULL);
	}
	assert_string_equal(complete((const char *[]){"rol", NULL}),
			    "words\nrollout\tshow, watch or operate an app's rollout\n"
			    "rollback\troll an app out to an earlier revision\n");
	s = complete((const char *[]){"rollout", "", NULL});
	assert_non_null(strstr(s, "\npromote\n"));
	assert_non_null(strstr(s, "\nundo\n"));
	s = complete((const char *[]){"token", "", NULL});
	assert_string_equal(s, "words\ncreate\nlist\nrevoke\n");
	s = complete((const char *[]){"token", "create", "--role", "d", NULL});
	assert_string_equal(s, "words\ndeployer\n");
	assert_string_equal(complete((const char *[]){"apply", "-f", "", NULL}), "files\n");
	assert_string_equal(complete((const char *[]){"--state-dir", "", NULL}), "dirs\n");
	assert_string_equal(complete((const char *[]){"--state-dir", "/x", "comp", NULL}),
			    "words\ncompletion\tprint the shell completion script for bash, zsh or fish\n");
	assert_string_equal(complete((const char *[]){"completion", "", NULL}),
			    "words\nbash\nzsh\nfish\n");
	s = complete((const char *[]){"config", "", NULL});
	assert_string_equal(s, "words\nget-contexts\ncurrent-context\nuse-context\nset-context\n"
			       "delete-context\nview\n");
	/* a command's own options */
	assert_non_null(strstr(complete((const char *[]){"apply", "--", NULL}), "\n--filename\t"));
	/* no daemon: app names are simply none */
	assert_string_equal(complete((const char *[]){"status", "", NULL}), "words\n");
	assert_string_equal(complete((const char *[]){"nosuch", "", NULL}), "words\n");
}

/* The usage hint is a command that works when pasted, for every command. */
static void test_cli_config__usage_hints_paste(void **state)
{
	size_t n;
	const struct cli_command *const *cmds = cli_commands(&n);
	for (size_t i = 0; i < n; i++) {
		if (!cmds[i]->run || !cmds[i]->summary)
			continue;
		char *argv[] = {(char *)cmds[i]->usage.name, "--no-such-option", NULL};
		struct cli_globals g = {.state_dir = "/nonexistent"};
		fflush(stderr);
		int saved = dup(2);
		FILE *tmp = tmpfile();
		dup2(fileno(tmp), 2);
		int r = cli_main(&g, 2, argv);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		char out[1024];
		rewind(tmp);
		size_t k = fread(out, 1, sizeof(out) - 1, tmp);
		out[k] = '\0';
		fclose(tmp);
		char want[128];
		snprintf(want, sizeof(want), "(see `slipway %s --help`)\n", cmds[i]->usage.name);
		if (r != 2 || !strstr(out, want))
			fail_msg("slipway %s --no-such-option: %d \"%s\"", cmds[i]->usage.name, r, out);
	}
}

/* `slipway --help` lists every visible command of the table, and only those. */
static void test_cli_config__help_lists_the_table(void **state)
{
	char *text = NULL;
	size_t len = 0, n;
	FILE *f = open_memstream(&text, &len);
	cli_main_help(f);
	fclose(f);
	const struct cli_command *const *cmds = cli_commands(&n);
	for (size_t i = 0; i < n; i++) {
		char want[64];
		snprintf(want, sizeof(want), "\n  %s ", cmds[i]->usage.name);
		if ((strstr(text, want) != NULL) != (cmds[i]->summary != NULL))
			fail_msg("`slipway --help` and the table disagree on \"%s\"", cmds[i]->usage.name);
	}
	for (const struct sw_opt *o = cli_global_usage.opts; o->name; o++) {
		char want[64];
		snprintf(want, sizeof(want), "--%s", o->name);
		assert_non_null(strstr(text, want));
	}
	assert_non_null(strstr(text, "`slipway serve --help`"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli_config__reads_contexts),
		cmocka_unit_test(test_cli_config__errors_say_where),
		cmocka_unit_test(test_cli_config__save_is_atomic_and_private),
		cmocka_unit_test(test_cli_config__default_places),
		cmocka_unit_test(test_cli_config__completion_follows_the_tables),
		cmocka_unit_test(test_cli_config__usage_hints_paste),
		cmocka_unit_test(test_cli_config__help_lists_the_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
