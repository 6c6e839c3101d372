/*
 * cli: the `slipway` command line. Every command but `validate` and
 * `version` talks to the daemon through its API only (unix socket
 * DIR/slipway.sock, or TCP with --api/--token). `serve` and `proxy` are not
 * CLI commands: src/main.c runs them; `slipway --help` lists them.
 * Exit codes: 0 success, 1 failure, 2 usage error.
 */
#ifndef SW_CLI_H
#define SW_CLI_H

#include <stdbool.h>
#include <stddef.h>

struct sw_opt_usage;

/*
 * The options before the command word.
 *
 * Which daemon a CLI command talks to, first match wins (docs/cli.md):
 *	1. --state-dir DIR or --api ADDR (with --token-file FILE)
 *	2. --context NAME
 *	3. $SLIPWAY_STATE_DIR or $SLIPWAY_API (with $SLIPWAY_TOKEN)
 *	4. $SLIPWAY_CONTEXT
 *	5. the config file's current-context (cli/config.h)
 *	6. the default state dir (core/paths.h), the one `slipway serve` uses
 * A context is a CLI matter: `slipway serve` and `slipway proxy` take
 * --state-dir, else $SLIPWAY_STATE_DIR, else the default, never a context.
 */
struct cli_globals {
	const char *state_dir; /* --state-dir, else $SLIPWAY_STATE_DIR, else the default */
	bool state_dir_is_default; /* neither option nor environment named it */
	const char *api;       /* --api, else $SLIPWAY_API, else NULL (the unix socket) */
	bool from_env;         /* state_dir or api came from the environment, not an option */
	const char *token;     /* --token (with a warning), else $SLIPWAY_TOKEN, else NULL;
				  NULL with token_file */
	const char *token_file; /* --token-file: read by cli_main */
	const char *context;   /* --context NAME, else NULL ($SLIPWAY_CONTEXT is read later) */
	/* -e/--environment ENV, else $SLIPWAY_ENV, else NULL: then the
	 * context's environment, else none (the daemon's default) */
	const char *environment;
};

/*
 * Parses the options before the command word into *out (argv's strings).
 * Moves the command word and what follows it to argv[1] .. and returns
 * their number (at least 1). Returns -1 with *exit_code set when there is
 * nothing to run: after --help or --version (0), a usage error, or no
 * command at all (the overview on stderr, 2).
 */
int cli_globals_parse(struct cli_globals *out, int argc, char **argv, int *exit_code);

/*
 * Gives the CLI the usage of a role src/main.c runs itself ("serve",
 * "proxy"), so that help, completion and manuals show its options. Call
 * before cli_main; the usage must outlive it.
 */
void cli_role_usage(const char *name, const struct sw_opt_usage *usage);

struct buf;
struct sw_err;

/*
 * What `slipway pipeline` reaches in src/pipeline, which the CLI may not
 * include (the dependency rule of DESIGN.md): src/main.c hands it over,
 * before cli_main. Each appends its text to out and returns 0, or -1 with
 * the positioned error in err (pipeline/pipeline.h).
 */
struct cli_pipeline_ops {
	int (*validate)(struct buf *out, const char *path, struct sw_err *err);
	int (*graph)(struct buf *out, const char *path, struct sw_err *err);
	/* `pipeline run`: the exit code, or -1 with err when nothing ran
	 * (pipeline/exec.h's pipeline_run_local) */
	int (*run)(const char *file, const char *job, char *const *secrets, size_t nsecrets,
		   const char *sandbox, unsigned workers, struct sw_err *err);
};
void cli_pipeline_ops(const struct cli_pipeline_ops *ops);

/* Runs the CLI command argv[0] with its arguments; returns the exit code. */
int cli_main(const struct cli_globals *g, int argc, char **argv);

#endif
