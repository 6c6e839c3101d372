/* The command table, the options before the command, and `slipway --help`. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "core/buf.h"
#include "core/core.h"

/* Rows for the roles src/main.c runs, so that the overview lists them. */
static const struct cli_command serve_row = {
	.summary = "run the control plane (the daemon) in the foreground",
	.usage = {.name = "serve"},
};
static const struct cli_command proxy_row = {
	.summary = "run the data plane in the foreground (`slipway serve` starts it)",
	.usage = {.name = "proxy"},
};

static const struct cli_command *const commands[] = {
	&cli_cmd_apply,   &cli_cmd_get,      &cli_cmd_describe, &cli_cmd_status, &cli_cmd_history,
	&cli_cmd_logs,    &cli_cmd_rollout,  &cli_cmd_analysis, &cli_cmd_routes,
	&cli_cmd_events,  &cli_cmd_rollback, &cli_cmd_delete, &cli_cmd_token,
	&cli_cmd_validate, &cli_cmd_import, &cli_cmd_version, &cli_cmd_upgrade, &cli_cmd_scale,
	&serve_row,
	&proxy_row,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

struct global_opts {
	const char *state_dir, *api, *token, *token_file;
	bool help, version;
};

static const struct sw_opt global_options[] = {
	{.name = "state-dir", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct global_opts, state_dir, const char *), .value = "DIR",
	 .help = "the daemon's state (default $SLIPWAY_STATE_DIR, else ./.slipway)"},
	{.name = "api", .kind = SW_OPT_STRING, .offset = SW_OPT_AT(struct global_opts, api, const char *),
	 .value = "ADDR", .help = "talk to the daemon's TCP API (default $SLIPWAY_API)"},
	{.name = "token-file", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct global_opts, token_file, const char *), .value = "FILE",
	 .help = "read the bearer token for --api from FILE (default $SLIPWAY_TOKEN)"},
	{.name = "token", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct global_opts, token, const char *), .value = "TOKEN",
	 .help = "the token itself: every local user can read it; prefer --token-file"},
	{.name = "help", .letter = 'h', .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct global_opts, help, bool), .help = "show this help"},
	{.name = "version", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct global_opts, version, bool),
	 .help = "print slipway's version"},
	{0},
};

static const struct sw_opt_usage global_usage = {
	.args = "COMMAND [ARGS]",
	.max_args = 1 << 30,
	.opts = global_options,
	.stop_at_args = true,
};

static void main_help(FILE *f)
{
	fprintf(f, "usage: slipway [--state-dir DIR] [--api ADDR --token-file FILE] COMMAND [ARGS]\n\n"
		   "Slipway runs your app's instances and rolls out every change safely.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i]->usage.name, commands[i]->summary);
	fprintf(f, "\noptions:\n");
	for (size_t i = 0; global_options[i].name; i++) {
		const struct sw_opt *o = &global_options[i];
		char label[64];
		snprintf(label, sizeof(label), "--%s%s%s", o->name, o->value ? " " : "",
			 o->value ? o->value : "");
		fprintf(f, "  %-18s %s\n", label, o->help);
	}
	fprintf(f, "\n`slipway COMMAND --help` tells more about a command.\n");
}

static int usage_error(int *exit_code, const char *msg)
{
	*exit_code = sw_opt_error(NULL, "%s", msg);
	return -1;
}

static const char *env_or(const char *value, const char *name)
{
	return value ? value : getenv(name);
}

int cli_globals_parse(struct cli_globals *out, int argc, char **argv, int *exit_code)
{
	struct global_opts o = {0};
	int n = sw_opt_parse(&global_usage, &o, argc, argv);
	*exit_code = 0;
	if (n < 0) {
		*exit_code = SW_OPT_EXIT(n);
		return -1;
	}
	if (o.help || o.version) {
		if (o.help)
			main_help(stdout);
		else
			printf("slipway %s\n", SLIPWAY_VERSION);
		return -1;
	}
	if (n == 0) {
		main_help(stderr);
		*exit_code = SW_OPT_EXIT_USAGE;
		return -1;
	}
	out->state_dir = env_or(o.state_dir, "SLIPWAY_STATE_DIR");
	if (!out->state_dir || !*out->state_dir)
		out->state_dir = ".slipway";
	out->api = env_or(o.api, "SLIPWAY_API");
	if (o.token && o.token_file)
		return usage_error(exit_code, "give --token or --token-file, not both");
	if (o.token)
		/* argv is in /proc/PID/cmdline for everyone to read */
		fprintf(stderr, "slipway: warning: a token given with --token can be read by every local user "
				"(ps, /proc/PID/cmdline); use --token-file FILE or $SLIPWAY_TOKEN\n");
	out->token = o.token_file ? NULL : env_or(o.token, "SLIPWAY_TOKEN");
	out->token_file = o.token_file;
	return n;
}

static int unknown_command(const char *name)
{
	const char *best = NULL;
	size_t bd = 3;
	for (size_t k = 0; k < NCOMMANDS; k++) {
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
static int read_token_file(const char *path, struct buf *out)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	if (!f) {
		fprintf(stderr, "slipway: cannot read the token file \"%s\": %s\n", path, strerror(errno));
		return -1;
	}
	const char *s = fgets(line, sizeof(line), f) ? line : "";
	fclose(f);
	s += strspn(s, " \t");
	size_t n = strcspn(s, "\r\n");
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!n) {
		fprintf(stderr, "slipway: the token file \"%s\" is empty\n", path);
		return -1;
	}
	buf_add(out, s, n);
	memset(line, 0, sizeof(line));
	return 0;
}

int cli_main(const struct cli_globals *g, int argc, char **argv)
{
	const struct cli_command *cmd = NULL;
	struct cli c = {.state_dir = g->state_dir};
	struct buf sock = BUF_INIT, token = BUF_INIT;

	SW_ASSERT(argc >= 1);
	for (size_t k = 0; k < NCOMMANDS && !cmd; k++)
		if (strcmp(commands[k]->usage.name, argv[0]) == 0)
			cmd = commands[k];
	if (!cmd)
		return unknown_command(argv[0]);
	SW_ASSERT(cmd->run); /* serve and proxy never get here */
	if (g->token_file && read_token_file(g->token_file, &token) < 0)
		return 1;
	if (g->api && *g->api) {
		c.client.tcp_addr = (char *)g->api;
		c.client.token = token.len ? token.s : (char *)g->token;
	} else {
		buf_addf(&sock, "%s/slipway.sock", c.state_dir);
		c.client.unix_path = sock.s;
	}
	int r = cmd->run(&c, argc, argv);
	buf_release(&sock);
	if (token.s)
		memset(token.s, 0, token.len);
	buf_release(&token);
	return r;
}
