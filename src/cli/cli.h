/*
 * cli: the `slipway` command line. Every command but `validate` and
 * `version` talks to the daemon through its API only (unix socket
 * DIR/slipway.sock, or TCP with --api/--token). `serve` and `proxy` are not
 * CLI commands: src/main.c runs them; `slipway --help` lists them.
 * Exit codes: 0 success, 1 failure, 2 usage error.
 */
#ifndef SW_CLI_H
#define SW_CLI_H

/* The options before the command word. */
struct cli_globals {
	const char *state_dir; /* --state-dir, else $SLIPWAY_STATE_DIR, else ".slipway" */
	const char *api;       /* --api, else $SLIPWAY_API, else NULL (the unix socket) */
	const char *token;     /* --token (with a warning), else $SLIPWAY_TOKEN, else NULL;
				  NULL with token_file */
	const char *token_file; /* --token-file: read by cli_main */
};

/*
 * Parses the options before the command word into *out (argv's strings).
 * Moves the command word and what follows it to argv[1] .. and returns
 * their number (at least 1). Returns -1 with *exit_code set when there is
 * nothing to run: after --help or --version (0), a usage error, or no
 * command at all (the overview on stderr, 2).
 */
int cli_globals_parse(struct cli_globals *out, int argc, char **argv, int *exit_code);

/* Runs the CLI command argv[0] with its arguments; returns the exit code. */
int cli_main(const struct cli_globals *g, int argc, char **argv);

#endif
