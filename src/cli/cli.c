/* The command table, the options before the command, finding the daemon
 * (contexts), and `slipway --help`. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "config.h"
#include "core/buf.h"
#include "core/core.h"
#include "core/paths.h"

/* Rows for the roles src/main.c runs, so that the overview lists them;
 * their usage comes from cli_role_usage. */
static const struct cli_command serve_row = {
	.summary = "run the control plane (the daemon) in the foreground",
	.usage = {.name = "serve"},
};
static const struct cli_command proxy_row = {
	.summary = "run the data plane in the foreground (`slipway serve` starts it)",
	.usage = {.name = "proxy"},
};
static const struct sw_opt_usage *serve_usage, *proxy_usage;

static const struct cli_command *const commands[] = {
	&cli_cmd_apply,   &cli_cmd_get,      &cli_cmd_describe, &cli_cmd_status, &cli_cmd_history,
	&cli_cmd_diff,
	&cli_cmd_logs,    &cli_cmd_rollout,  &cli_cmd_analysis, &cli_cmd_routes,
	&cli_cmd_events,  &cli_cmd_rollback, &cli_cmd_delete, &cli_cmd_token,
	&cli_cmd_validate, &cli_cmd_render, &cli_cmd_explain, &cli_cmd_import, &cli_cmd_version,
	&cli_cmd_upgrade, &cli_cmd_scale,
	&cli_cmd_sync,   &cli_cmd_promote, &cli_cmd_releases, &cli_cmd_approve, &cli_cmd_reject,
	&cli_cmd_secret, &cli_cmd_pipeline,
	&cli_cmd_config, &cli_cmd_completion, &serve_row,
	&proxy_row, &cli_cmd_complete, &cli_cmd_man,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Commands that never talk to a daemon: a broken config file does not stop them. */
static const struct cli_command *const offline[] = {
	&cli_cmd_validate, &cli_cmd_render, &cli_cmd_explain, &cli_cmd_import, &cli_cmd_version,
	&cli_cmd_config, &cli_cmd_secret, &cli_cmd_completion, &cli_cmd_complete, &cli_cmd_man,
	&cli_cmd_pipeline,
};

const struct cli_command *const *cli_commands(size_t *n)
{
	*n = NCOMMANDS;
	return commands;
}

void cli_role_usage(const char *name, const struct sw_opt_usage *usage)
{
	if (strcmp(name, "serve") == 0)
		serve_usage = usage;
	else if (strcmp(name, "proxy") == 0)
		proxy_usage = usage;
}

const struct sw_opt_usage *cli_command_usage(const struct cli_command *cmd)
{
	if (cmd == &serve_row && serve_usage)
		return serve_usage;
	if (cmd == &proxy_row && proxy_usage)
		return proxy_usage;
	return &cmd->usage;
}

struct global_opts {
	const char *state_dir, *api, *token, *token_file, *context, *environment;
	bool help, version;
};

static const struct sw_opt global_options[] = {
	{.name = "context", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct global_opts, context, const char *), .value = "CONTEXT",
	 .help = "talk to the daemon the config file names CONTEXT (default $SLIPWAY_CONTEXT)"},
	{.name = "state-dir", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct global_opts, state_dir, const char *), .value = "DIR",
	 .help = "the daemon's state dir, DIR/slipway.sock (default $SLIPWAY_STATE_DIR)"},
	{.name = "api", .kind = SW_OPT_STRING, .offset = SW_OPT_AT(struct global_opts, api, const char *),
	 .value = "ADDR", .help = "talk to the daemon's TCP API (default $SLIPWAY_API)"},
	{.name = "token-file", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct global_opts, token_file, const char *), .value = "FILE",
	 .help = "read the bearer token for --api from FILE (default $SLIPWAY_TOKEN)"},
	{.name = "token", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct global_opts, token, const char *), .value = "TOKEN",
	 .help = "the token itself: every local user can read it; prefer --token-file"},
	{.name = "environment", .letter = 'e', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct global_opts, environment, const char *), .value = "ENV",
	 .help = "work in environment ENV (default $SLIPWAY_ENV, the context's, else default)"},
	{.name = "help", .letter = 'h', .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct global_opts, help, bool), .help = "show this help"},
	{.name = "version", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct global_opts, version, bool),
	 .help = "print slipway's version"},
	{0},
};

const struct sw_opt_usage cli_global_usage = {
	.args = "COMMAND [ARGS]",
	.max_args = 1 << 30,
	.opts = global_options,
	.stop_at_args = true,
	.help = "Slipway runs your app's instances and rolls out every change safely.",
};

/* The default state dir, computed once (it lives as long as the process). */
static const char *default_state_dir(void)
{
	static struct buf dir = BUF_INIT;
	if (!dir.len && sw_path_state_dir(&dir) < 0)
		buf_adds(&dir, "/var/lib/slipway"); /* no home at all: the system's place */
	return dir.s;
}

const char cli_main_synopsis[] =
	"slipway [--context CONTEXT | --state-dir DIR | --api ADDR --token-file FILE]\n"
	"        [-e ENV] COMMAND [ARGS]";

void cli_main_help(FILE *f)
{
	fputs("usage: ", f);
	for (const char *s = cli_main_synopsis; *s; s++)
		fprintf(f, *s == '\n' ? "\n       " : "%c", *s);
	fprintf(f, "\n\n%s\n\ncommands:\n", cli_global_usage.help);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i]->summary)
			fprintf(f, "  %-10s  %s\n", commands[i]->usage.name, commands[i]->summary);
	fprintf(f, "\noptions (before the command):\n");
	for (size_t i = 0; global_options[i].name; i++) {
		const struct sw_opt *o = &global_options[i];
		char label[64];
		char letter[8] = "    ";
		if (o->letter)
			snprintf(letter, sizeof(letter), "-%c, ", o->letter);
		snprintf(label, sizeof(label), "%s--%s%s%s", letter, o->name, o->value ? " " : "",
			 o->value ? o->value : "");
		fprintf(f, "  %-22s  %s\n", label, o->help);
	}
	fprintf(f, "\nThe daemon is found in this order: --state-dir or --api, --context,\n"
		   "$SLIPWAY_STATE_DIR or $SLIPWAY_API, $SLIPWAY_CONTEXT, the config file's\n"
		   "current context ($XDG_CONFIG_HOME/slipway/config, default\n"
		   "~/.config/slipway/config), then the default state dir: $XDG_STATE_HOME/slipway,\n"
		   "else /var/lib/slipway for root, else ~/.local/state/slipway.\n"
		   "\n`slipway COMMAND --help` tells more about a command; `slipway serve --help`\n"
		   "lists the daemon's own options (TCP API, ports, metrics, retention...).\n");
}

static int usage_error(int *exit_code, const char *msg)
{
	*exit_code = sw_opt_error(NULL, "%s", msg);
	return -1;
}

/* The variable's value, NULL when unset or empty. */
static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

int cli_globals_parse(struct cli_globals *out, int argc, char **argv, int *exit_code)
{
	struct global_opts o = {0};
	int n = sw_opt_parse(&cli_global_usage, &o, argc, argv);
	*exit_code = 0;
	memset(out, 0, sizeof(*out));
	if (n < 0) {
		*exit_code = SW_OPT_EXIT(n);
		return -1;
	}
	if (o.help || o.version) {
		if (o.help)
			cli_main_help(stdout);
		else
			printf("slipway %s\n", SLIPWAY_VERSION);
		return -1;
	}
	if (n == 0) {
		cli_main_help(stderr);
		*exit_code = SW_OPT_EXIT_USAGE;
		return -1;
	}
	if (o.context && (o.state_dir || o.api))
		return usage_error(exit_code, "give --context or --state-dir/--api, not both");
	if (o.context && !*o.context)
		return usage_error(exit_code, "--context needs a context's name");
	out->context = o.context;
	if (o.environment && !*o.environment)
		return usage_error(exit_code, "--environment needs an environment's name");
	out->environment = o.environment ? o.environment : env("SLIPWAY_ENV");
	if (o.state_dir || o.api) {
		out->state_dir = o.state_dir;
		out->api = o.api;
	} else {
		out->state_dir = env("SLIPWAY_STATE_DIR");
		out->api = env("SLIPWAY_API");
		out->from_env = out->state_dir || out->api;
	}
	if (!out->state_dir || !*out->state_dir) {
		out->state_dir = default_state_dir();
		out->state_dir_is_default = true;
	}
	if (o.token && o.token_file)
		return usage_error(exit_code, "give --token or --token-file, not both");
	if (o.token)
		/* argv is in /proc/PID/cmdline for everyone to read */
		fprintf(stderr, "slipway: warning: a token given with --token can be read by every local user "
				"(ps, /proc/PID/cmdline); use --token-file FILE or $SLIPWAY_TOKEN\n");
	out->token = o.token_file ? NULL : o.token ? o.token : getenv("SLIPWAY_TOKEN");
	out->token_file = o.token_file;
	return n;
}

static int unknown_command(const char *name)
{
	const char *best = NULL;
	size_t bd = 3;
	for (size_t k = 0; k < NCOMMANDS; k++) {
		if (!commands[k]->summary)
			continue;
		size_t dist = sw_edit_distance(name, commands[k]->usage.name);
		if (dist < bd) {
			bd = dist;
			best = commands[k]->usage.name;
		}
	}
	if (best)
		return sw_opt_error(NULL, "unknown command \"%s\", did you mean \"%s\"?", name, best);
	return sw_opt_error(NULL, "unknown command \"%s\"", name);
}

/* The token is the file's first line, without surrounding blanks. */
static int read_token_file(const char *path, struct buf *out, bool quiet)
{
	struct sw_err err = {0};
	if (sw_read_token_file(out, path, &err) == 0)
		return 0;
	if (!quiet)
		fprintf(stderr, "slipway: %s\n", err.msg);
	return -1;
}

int cli_config_file(struct buf *out)
{
	if (sw_path_config(out) < 0) {
		fprintf(stderr, "slipway: cannot find the config file: neither $XDG_CONFIG_HOME nor "
				"$HOME is set\n");
		return 1;
	}
	return 0;
}

/* What cli_connect found; strings live until cli_main returns. */
static struct {
	struct buf sock, token, state_dir, api, environment;
} conn;

static void conn_release(void)
{
	if (conn.token.s)
		memset(conn.token.s, 0, conn.token.len);
	buf_release(&conn.token);
	buf_release(&conn.sock);
	buf_release(&conn.state_dir);
	buf_release(&conn.api);
	buf_release(&conn.environment);
}

/* Points c at the context called name of the config file. */
static int use_context(struct cli *c, const char *name, const char *why, bool quiet)
{
	struct cli_config cfg;
	struct sw_err err = {0};
	struct buf path = BUF_INIT;
	int r = 1;

	if (cli_config_file(&path) != 0)
		goto out;
	if (cli_config_load(&cfg, path.s, &err) < 0) {
		if (!quiet)
			fprintf(stderr, "slipway: %s\n", err.msg);
		goto out;
	}
	if (!name)
		name = cfg.current;
	const struct cli_context *ctx = name ? cli_config_find(&cfg, name) : NULL;
	if (ctx && ctx->environment)
		buf_adds(&conn.environment, ctx->environment);
	if (!name) {
		/* no context anywhere: the default state dir */
		buf_adds(&conn.state_dir, c->g->state_dir);
		r = 0;
	} else if (!ctx) {
		if (!quiet)
			fprintf(stderr, "slipway: no context \"%s\" (%s) in %s; `slipway config get-contexts` "
					"lists them\n", name, why, path.s);
	} else if (ctx->kind == CLI_CTX_API) {
		buf_adds(&conn.api, ctx->api);
		r = read_token_file(c->g->token_file ? c->g->token_file : ctx->token_file, &conn.token,
				    quiet) < 0;
	} else if (ctx->kind == CLI_CTX_SOCKET) {
		buf_adds(&conn.sock, ctx->socket);
		const char *slash = strrchr(ctx->socket, '/');
		buf_add(&conn.state_dir, ctx->socket, slash > ctx->socket ? (size_t)(slash - ctx->socket) : 1);
		r = 0;
	} else {
		buf_adds(&conn.state_dir, ctx->state_dir);
		r = 0;
	}
	cli_config_release(&cfg);
out:
	buf_release(&path);
	return r;
}

int cli_connect(struct cli *c, bool quiet)
{
	const struct cli_globals *g = c->g;
	bool explicit = g->api || !g->state_dir_is_default;
	int r = 0;

	conn_release();
	if (explicit && !g->from_env) {
		/* 1. --state-dir / --api */
	} else if (g->context) {
		r = use_context(c, g->context, "from --context", quiet);
	} else if (explicit) {
		/* 3. $SLIPWAY_STATE_DIR / $SLIPWAY_API */
	} else if (env("SLIPWAY_CONTEXT")) {
		r = use_context(c, env("SLIPWAY_CONTEXT"), "from $SLIPWAY_CONTEXT", quiet);
	} else {
		r = use_context(c, NULL, "the config file's current-context", quiet);
	}
	if (r)
		return 1;
	if (!conn.state_dir.len && !conn.api.len && !conn.sock.len) {
		/* options or environment */
		buf_adds(&conn.state_dir, g->state_dir);
		if (g->api && *g->api) {
			buf_adds(&conn.api, g->api);
			if (g->token_file && read_token_file(g->token_file, &conn.token, quiet) < 0)
				return 1;
			if (!g->token_file && g->token)
				buf_adds(&conn.token, g->token);
		}
	}
	if (!conn.state_dir.len)
		buf_adds(&conn.state_dir, g->state_dir);
	c->state_dir = conn.state_dir.s;
	c->environment = g->environment ? g->environment
				        : conn.environment.len ? conn.environment.s : NULL;
	c->client.unix_path = NULL;
	c->client.tcp_addr = NULL;
	c->client.token = NULL;
	if (conn.api.len) {
		c->client.tcp_addr = conn.api.s;
		c->client.token = conn.token.s;
	} else {
		if (!conn.sock.len)
			buf_addf(&conn.sock, "%s/slipway.sock", conn.state_dir.s);
		c->client.unix_path = conn.sock.s;
	}
	return 0;
}

/* -e ENV after the command word: every command inherits the row (an own
 * row of its name or letter wins: secret encrypt -e). */
static int parse_env_after(void *field, const char *value)
{
	if (!*value)
		return -1;
	*(const char **)field = value;
	return 0;
}

static const struct sw_opt inherited_rows[] = {
	{.name = "environment", .letter = 'e', .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct cli, environment, const char *), .value = "ENV",
	 .parse = parse_env_after, .expect = "be an environment's name",
	 .help = "work in environment ENV (as `slipway -e ENV` before the command)"},
	{0},
};

int cli_main(const struct cli_globals *g, int argc, char **argv)
{
	const struct cli_command *cmd = NULL;
	struct cli c = {.state_dir = g->state_dir, .g = g};
	bool needs_daemon = true;

	SW_ASSERT(argc >= 1);
	for (size_t k = 0; k < NCOMMANDS && !cmd; k++)
		if (strcmp(commands[k]->usage.name, argv[0]) == 0)
			cmd = commands[k];
	if (!cmd)
		return unknown_command(argv[0]);
	SW_ASSERT(cmd->run); /* serve and proxy never get here */
	for (size_t k = 0; k < sizeof(offline) / sizeof(offline[0]); k++)
		needs_daemon = needs_daemon && offline[k] != cmd;
	/* a command's --help needs no daemon either */
	for (int i = 1; i < argc && needs_daemon; i++)
		if (strcmp(argv[i], "--") == 0)
			break;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			needs_daemon = false;
	if (needs_daemon && cli_connect(&c, false) != 0)
		return cmd->failure_exit ? cmd->failure_exit : 1;
	sw_opt_inherit(inherited_rows, &c);
	int r = cmd->run(&c, argc, argv);
	sw_opt_inherit(NULL, NULL);
	conn_release();
	return r;
}
