/*
 * daemon: `slipway serve`. Wires the modules together on one libuv loop:
 * the store (state.db), the runtime (instances), the rollout decisions and
 * the HTTP API on DIR/slipway.sock (and optionally TCP with a token).
 *
 * State dir layout:
 *	DIR/lock        exclusive flock held while a daemon runs
 *	DIR/token       bearer token for the TCP API (0600, made on first start)
 *	DIR/state.db    SQLite store (WAL)
 *	DIR/revision.key  key of the revision hashes (0600, made on first start)
 *	DIR/slipway.sock  API socket (0600)
 *	DIR/logs/APP/ID.log  instance output
 */
#ifndef SW_DAEMON_H
#define SW_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_retention;
struct sw_opt_usage;

struct daemon_options {
	const char *state_dir;
	const char *api_addr;     /* "127.0.0.1:PORT" or NULL */
	bool keep_instances;      /* on SIGTERM, leave instances (and the proxy) running */
	const char *metrics_addr; /* proxy's /metrics listener without auth, or NULL */
	const char *access_log;   /* proxy's JSON-lines access log, or NULL */
	int proxy_workers;        /* proxy worker threads; 0 = 1 */
	long long proxy_max_conns; /* proxy's client connection limit; 0 = its default */
	char **argv;              /* the process's command line, re-executed on upgrade */
	uint16_t port_min, port_max; /* instance port range; 0 = defaults */
	/* restart back-off; 0 = runtime defaults (1 s doubling to 5 min) */
	uint64_t backoff_initial_ms, backoff_max_ms;
	/* where valueFrom files may come from (spec_set_secret_dirs); never
	 * the state dir */
	const char *const *secret_dirs;
	size_t nsecret_dirs;
	/* the age identity files (valueFrom.age), their keys pooled; none =
	 * DIR/age.key if present */
	const char *const *age_identities;
	size_t nage_identities;
	/* history kept: NULL = engine_retention_defaults */
	const struct store_retention *retention;
	uint64_t retention_interval_ms; /* 0 = 60 s */
};

/*
 * `slipway serve [options]`: argv[0] is "serve". Parses the options into
 * daemon_options and runs daemon_run; an upgrade re-executes this program
 * with the same argv. Returns the exit code (2 on a usage error).
 */
int daemon_main(int argc, char **argv);

/* serve's options and help, which daemon_main parses (for the CLI's help,
 * completion and manuals). */
extern const struct sw_opt_usage daemon_usage;

/* Runs until SIGTERM/SIGINT. Returns the process exit code; errors are
 * printed to stderr. */
int daemon_run(const struct daemon_options *opt);

#endif
