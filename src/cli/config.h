/*
 * config: the CLI's config file, naming daemons as contexts (kubeconfig's
 * idea). It lives at $XDG_CONFIG_HOME/slipway/config, else
 * ~/.config/slipway/config (core/paths.h), and is YAML read by the same
 * field-table engine as the documents, so that errors say file:line:col:
 *
 *	apiVersion: slipway/v1
 *	kind: Config
 *	current-context: prod
 *	contexts:
 *	  - name: dev
 *	    state-dir: /home/me/.local/state/slipway   # DIR/slipway.sock
 *	  - name: shared
 *	    socket: /run/slipway/slipway.sock
 *	  - name: prod
 *	    api: 127.0.0.1:7443                        # TCP, with a bearer token
 *	    token-file: /home/me/.config/slipway/prod.token
 *	    environment: prod                          # what -e would select
 *
 * A context names its daemon one way: state-dir, socket or api; api
 * needs token-file and the others refuse it. There is no field for a token
 * itself, so that no token sits in the file. Paths are absolute; names
 * are unique, non-empty, without blanks or control characters.
 * current-context, when set, names one of the contexts.
 *
 * The file is outside input: the parser is fuzzed (tests/fuzz/fuzz_config.c).
 */
#ifndef SW_CLI_CONFIG_H
#define SW_CLI_CONFIG_H

#include <stddef.h>

#include "core/core.h"

enum cli_context_kind {
	CLI_CTX_STATE_DIR = 1,
	CLI_CTX_SOCKET,
	CLI_CTX_API,
};

struct cli_context {
	char *name;
	int kind;          /* enum cli_context_kind: which one of the three is set */
	char *state_dir;   /* CLI_CTX_STATE_DIR */
	char *socket;      /* CLI_CTX_SOCKET */
	char *api;         /* CLI_CTX_API: "host:port" (core/addr) */
	char *token_file;  /* CLI_CTX_API only */
	char *environment; /* the environment its commands select (`slipway -e`), or NULL */
};

struct cli_config {
	char *current;     /* current-context, or NULL */
	struct cli_context *contexts;
	size_t ncontexts;
};

/*
 * Parses the text of a config file. Returns 0 with *out filled (release
 * with cli_config_release), or -1 with "FILE:LINE:COL: what" in err and
 * *out empty. An empty file (or only comments) is an empty config.
 */
int cli_config_parse(struct cli_config *out, const char *text, size_t len, const char *file,
		     struct sw_err *err);

/* Reads and parses path; a missing file is an empty config (returns 0). */
int cli_config_load(struct cli_config *out, const char *path, struct sw_err *err);

/* The config as YAML, in the shape above, that cli_config_parse reads
 * back to the same config (caller frees). */
char *cli_config_yaml(const struct cli_config *cfg);

/*
 * Writes the config to path atomically: a temporary file in the same
 * directory (mode 0600) written, flushed to disk, then renamed over path,
 * so that a reader sees the old file or the new one, never half of one.
 * Creates the directory (0700) when missing. Returns 0 or -1 with err.
 */
int cli_config_save(const struct cli_config *cfg, const char *path, struct sw_err *err);

/* The context called name, or NULL. */
struct cli_context *cli_config_find(const struct cli_config *cfg, const char *name);

/* NULL when s may name a context, else what is wrong ("must not be
 * empty"): the parser's rule, for names given on the command line. */
const char *cli_context_name_problem(const char *s);

/* Frees one context's strings. */
void cli_context_release(struct cli_context *ctx);
void cli_config_release(struct cli_config *cfg);

#endif
