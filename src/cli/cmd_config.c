/* slipway config ...: the contexts of the config file (cli/config.h). */
#include "cli_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "core/addr.h"
#include "core/core.h"
#include "spec/spec.h"

struct config_opts {
	const char *state_dir, *socket, *api, *token_file, *environment;
};

static const struct sw_opt options[] = {
	{.name = "state-dir", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct config_opts, state_dir, const char *), .value = "DIR",
	 .help = "set-context: the daemon whose state dir is DIR (DIR/slipway.sock)"},
	{.name = "socket", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct config_opts, socket, const char *), .value = "PATH",
	 .help = "set-context: the daemon listening on the unix socket PATH"},
	{.name = "api", .kind = SW_OPT_STRING, .offset = SW_OPT_AT(struct config_opts, api, const char *),
	 .value = "ADDR", .help = "set-context: the daemon's TCP API at ADDR (host:port)"},
	{.name = "token-file", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct config_opts, token_file, const char *), .value = "FILE",
	 .help = "set-context: with --api, the file that holds the bearer token"},
	{.name = "environment", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct config_opts, environment, const char *), .value = "ENV",
	 .help = "set-context: the environment its commands select (as `slipway -e ENV`)"},
	{0},
};

static const char *const actions[] = {"get-contexts", "current-context", "use-context",
				      "set-context", "delete-context", "view"};
/* how many arguments each action takes after its name */
static const int action_args[] = {0, 0, 1, 1, 1, 0};

/* Loads the config file; on an error nothing is changed. */
static int load(struct cli_config *cfg, struct buf *path)
{
	struct sw_err err = {0};
	if (cli_config_file(path) != 0)
		return 1;
	if (cli_config_load(cfg, path->s, &err) < 0) {
		fprintf(stderr, "slipway: %s\n", err.msg);
		return 1;
	}
	return 0;
}

static int save(const struct cli_config *cfg, const char *path)
{
	struct sw_err err = {0};
	if (cli_config_save(cfg, path, &err) < 0) {
		fprintf(stderr, "slipway: %s\n", err.msg);
		return 1;
	}
	return 0;
}

static int no_context(const struct cli_config *cfg, const char *name, const char *path)
{
	const char *best = NULL;
	size_t bd = 3;
	for (size_t i = 0; i < cfg->ncontexts; i++) {
		size_t d = sw_edit_distance(name, cfg->contexts[i].name);
		if (d < bd) {
			bd = d;
			best = cfg->contexts[i].name;
		}
	}
	if (best)
		fprintf(stderr, "slipway: no context \"%s\" in %s, did you mean \"%s\"?\n", name, path, best);
	else
		fprintf(stderr, "slipway: no context \"%s\" in %s; `slipway config get-contexts` lists them\n",
			name, path);
	return 1;
}

static void get_contexts(const struct cli_config *cfg)
{
	struct cli_table t;
	cli_table_init(&t, 5);
	cli_table_row(&t, "CURRENT", "NAME", "DAEMON", "TOKEN-FILE", "ENVIRONMENT");
	for (size_t i = 0; i < cfg->ncontexts; i++) {
		const struct cli_context *x = &cfg->contexts[i];
		struct buf where = BUF_INIT;
		if (x->kind == CLI_CTX_API)
			buf_addf(&where, "api %s", x->api);
		else if (x->kind == CLI_CTX_SOCKET)
			buf_addf(&where, "socket %s", x->socket);
		else
			buf_addf(&where, "state-dir %s", x->state_dir);
		bool current = cfg->current && strcmp(cfg->current, x->name) == 0;
		cli_table_row(&t, current ? "*" : "", x->name, where.s, x->token_file ? x->token_file : "",
			      x->environment ? x->environment : "");
		buf_release(&where);
	}
	if (t.nrows == 1)
		printf("no contexts; add one with `slipway config set-context NAME --state-dir DIR`\n");
	else
		cli_table_print(&t, stdout);
	cli_table_release(&t);
}

/* A path from the command line, made absolute against the current directory. */
static char *absolute(const char *p)
{
	char cwd[PATH_MAX];
	struct buf b = BUF_INIT;
	if (p[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return xstrdup(p);
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	if (strcmp(p, ".") == 0)
		buf_adds(&b, cwd);
	else
		buf_addf(&b, "%s/%s", cwd, p);
	return buf_detach(&b);
}

static int set_context(struct cli_config *cfg, const char *name, const struct config_opts *o,
		       const char *path)
{
	struct cli_context x = {0};
	int given = !!o->state_dir + !!o->socket + !!o->api;
	const char *problem = cli_context_name_problem(name);
	if (problem)
		return sw_opt_error("config", "the context's name %s, got \"%s\"", problem, name);
	if (given != 1)
		return sw_opt_error("config", "set-context needs one of --state-dir DIR, --socket PATH or "
				    "--api ADDR --token-file FILE");
	if (o->api && !o->token_file)
		return sw_opt_error("config", "--api needs --token-file FILE (the file that holds the "
				    "token; a token itself is never kept in the config)");
	if (!o->api && o->token_file)
		return sw_opt_error("config", "--token-file goes with --api only");
	if (o->token_file && access(o->token_file, R_OK) < 0)
		/* also what keeps `--token SECRET` (a prefix of --token-file) out of the file */
		return sw_opt_error("config", "--token-file: cannot read \"%s\": %s", o->token_file,
				    strerror(errno));
	if (o->api) {
		struct sw_addr a;
		struct sw_err err = {0};
		if (sw_addr_parse(&a, o->api, 0, &err) < 0)
			return sw_opt_error("config", "--api %s", err.msg);
	}
	if ((o->state_dir && !*o->state_dir) || (o->socket && !*o->socket) ||
	    (o->token_file && !*o->token_file))
		return sw_opt_error("config", "a path must not be empty");
	if (o->environment && !spec_is_dns_label(o->environment))
		return sw_opt_error("config", "--environment must be an environment's name (lower-case "
				    "letters, digits and '-', at most 63), got \"%s\"", o->environment);
	x.name = xstrdup(name);
	x.environment = o->environment ? xstrdup(o->environment) : NULL;
	if (o->state_dir) {
		x.kind = CLI_CTX_STATE_DIR;
		x.state_dir = absolute(o->state_dir);
	} else if (o->socket) {
		x.kind = CLI_CTX_SOCKET;
		x.socket = absolute(o->socket);
	} else {
		x.kind = CLI_CTX_API;
		x.api = xstrdup(o->api);
		x.token_file = absolute(o->token_file);
	}
	struct cli_context *old = cli_config_find(cfg, name);
	if (old) {
		cli_context_release(old);
		*old = x;
	} else {
		cfg->contexts = xrealloc(cfg->contexts, (cfg->ncontexts + 1) * sizeof(*cfg->contexts));
		cfg->contexts[cfg->ncontexts++] = x;
	}
	if (save(cfg, path) != 0)
		return 1;
	printf("context \"%s\" %s in %s\n", name, old ? "modified" : "created", path);
	return 0;
}

static int delete_context(struct cli_config *cfg, const char *name, const char *path)
{
	struct cli_context *x = cli_config_find(cfg, name);
	if (!x)
		return no_context(cfg, name, path);
	cli_context_release(x);
	size_t i = (size_t)(x - cfg->contexts);
	memmove(x, x + 1, (cfg->ncontexts - i - 1) * sizeof(*x));
	cfg->ncontexts--;
	bool was_current = cfg->current && strcmp(cfg->current, name) == 0;
	if (was_current) {
		free(cfg->current);
		cfg->current = NULL;
	}
	if (save(cfg, path) != 0)
		return 1;
	printf("context \"%s\" deleted from %s%s\n", name, path,
	       was_current ? " (it was the current context: none is now)" : "");
	return 0;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct config_opts o = {0};
	struct cli_config cfg;
	struct buf path = BUF_INIT;
	size_t a;
	int r = 1;

	int n = sw_opt_parse(&cli_cmd_config.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	for (a = 0; a < sizeof(actions) / sizeof(actions[0]); a++)
		if (strcmp(argv[1], actions[a]) == 0)
			break;
	if (a == sizeof(actions) / sizeof(actions[0]))
		return sw_opt_error("config", "unknown config command \"%s\" (get-contexts, current-context, "
				    "use-context, set-context, delete-context, view)", argv[1]);
	if (n - 1 < action_args[a])
		return sw_opt_error("config", "%s needs a context's name", actions[a]);
	if (n - 1 > action_args[a])
		return sw_opt_error("config", "unexpected argument \"%s\"", argv[2 + action_args[a]]);
	if (strcmp(actions[a], "set-context") != 0 &&
	    (o.state_dir || o.socket || o.api || o.token_file || o.environment))
		return sw_opt_error("config", "--state-dir, --socket, --api, --token-file and "
				    "--environment go with set-context only");
	if (load(&cfg, &path) != 0)
		goto out_path;
	const char *name = argv[2];
	switch (a) {
	case 0:
		get_contexts(&cfg);
		r = 0;
		break;
	case 1:
		if (cfg.current)
			printf("%s\n", cfg.current);
		else
			fprintf(stderr, "slipway: no current context is set in %s; the CLI uses the default "
					"state dir (`slipway config use-context NAME` sets one)\n", path.s);
		r = cfg.current ? 0 : 1;
		break;
	case 2:
		if (!cli_config_find(&cfg, name)) {
			r = no_context(&cfg, name, path.s);
			break;
		}
		free(cfg.current);
		cfg.current = xstrdup(name);
		r = save(&cfg, path.s);
		if (r == 0)
			printf("switched to context \"%s\"\n", name);
		break;
	case 3:
		r = set_context(&cfg, name, &o, path.s);
		break;
	case 4:
		r = delete_context(&cfg, name, path.s);
		break;
	case 5: {
		char *text = cli_config_yaml(&cfg);
		printf("# %s\n%s", path.s, text);
		free(text);
		r = 0;
		break;
	}
	}
	cli_config_release(&cfg);
out_path:
	buf_release(&path);
	(void)c;
	return r;
}

const struct cli_command cli_cmd_config = {
	.summary = "name daemons as contexts and pick the one the CLI talks to",
	.run = run,
	.usage = {
		.name = "config",
		.args = "get-contexts | current-context | use-context CONTEXT | set-context NAME | "
			"delete-context CONTEXT | view",
		.min_args = 1,
		.max_args = 2,
		.opts = options,
		.help = "Edits the config file, $XDG_CONFIG_HOME/slipway/config (default\n"
			"~/.config/slipway/config), whose contexts name daemons: by state dir, by\n"
			"unix socket, or by TCP address with a token file (never a token itself).\n"
			"get-contexts lists them (* marks the current one); current-context prints\n"
			"its name; use-context makes CONTEXT the current one; set-context creates or\n"
			"replaces NAME (--state-dir DIR, --socket PATH, or --api ADDR --token-file\n"
			"FILE); delete-context removes CONTEXT; view prints the file. The file is\n"
			"written whole to a temporary file (mode 0600) and renamed over the old one.\n"
			"--context CONTEXT or $SLIPWAY_CONTEXT picks a context for one command.",
	},
};
