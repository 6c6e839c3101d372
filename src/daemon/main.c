/*
 * `slipway serve`: its options, then daemon_run. (Kept apart from the
 * daemon's wiring so that the CLI needs no daemon code.)
 */
#include "daemon.h"


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/core.h"
#include "core/opt.h"
#include "engine/engine.h"

struct port_range {
	uint16_t min, max;
};

#define SECRET_DIR_DEFAULT "/etc/slipway/secrets"

/* A repeatable option's values (--secret-dir, --age-identity), pointing into argv. */
#define REPEATED_MAX 16
struct repeated {
	const char *v[REPEATED_MAX];
	size_t n;
};

struct serve_opts {
	const char *state_dir, *api, *metrics, *access_log;
	struct repeated age;          /* --age-identity FILE... */
	long long proxy_max_conns;
	bool keep_instances;
	struct port_range ports;
	uint64_t backoff_ms;
	long long proxy_workers;
	struct repeated secrets;      /* --secret-dir DIR... */
	struct store_retention_kind keep_events, keep_measurements, keep_revisions;
	uint64_t retention_interval_ms;
};

/* One more value of a repeatable option (struct repeated). */
static int parse_repeated(void *field, const char *value)
{
	struct repeated *r = field;
	if (!*value || r->n == REPEATED_MAX)
		return -1;
	r->v[r->n++] = value;
	return 0;
}

/* --keep-KIND COUNT,AGE: "100000,720h"; 0 for either part means no limit. */
static int parse_keep(void *field, const char *value)
{
	struct store_retention_kind *k = field;
	char *end;
	long long count = strtoll(value, &end, 10);
	uint64_t age = 0;
	if (end == value || *end != ',' || count < 0)
		return -1;
	if (strcmp(end + 1, "0") != 0 && sw_duration_parse(end + 1, &age) < 0)
		return -1;
	k->max_count = count;
	k->max_age_ms = (int64_t)age;
	return 0;
}

/* "20000-29999": unprivileged, low <= high. */
static int parse_port_range(void *field, const char *value)
{
	struct port_range *p = field;
	uint16_t a, b;
	if (!strchr(value, '-') || sw_port_range_parse(value, &a, &b) < 0 || a < 1024)
		return -1;
	p->min = a;
	p->max = b;
	return 0;
}

static const struct sw_opt options[] = {
	{.name = "state-dir", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct serve_opts, state_dir, const char *), .value = "DIR",
	 .help = "where the store, the sockets and the logs live (default $SLIPWAY_STATE_DIR, "
		 "else $XDG_STATE_HOME/slipway, /var/lib/slipway for root, ~/.local/state/slipway)"},
	{.name = "api", .kind = SW_OPT_STRING, .offset = SW_OPT_AT(struct serve_opts, api, const char *),
	 .value = "127.0.0.1:PORT", .help = "serve the API on TCP too, with bearer tokens"},
	{.name = "keep-instances", .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct serve_opts, keep_instances, bool),
	 .help = "leave the instances and the proxy running on SIGTERM/SIGINT"},
	{.name = "port-range", .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct serve_opts, ports, struct port_range), .value = "MIN-MAX",
	 .parse = parse_port_range, .expect = "look like 20000-29999",
	 .help = "the ports instances get"},
	{.name = "backoff", .kind = SW_OPT_DURATION,
	 .offset = SW_OPT_AT(struct serve_opts, backoff_ms, uint64_t), .value = "DUR",
	 .expect = "be a duration like 1s", .min = 1,
	 .help = "first delay before restarting a crashed instance (default 1s, doubling)"},
	{.name = "metrics", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct serve_opts, metrics, const char *), .value = "127.0.0.1:PORT",
	 .help = "make the proxy serve /metrics on TCP, without auth"},
	{.name = "secret-dir", .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct serve_opts, secrets, struct repeated), .value = "DIR",
	 .parse = parse_repeated, .expect = "be a directory (at most 16 of them)",
	 .help = "valueFrom files may come from DIR (repeatable; default " SECRET_DIR_DEFAULT ")"},
	{.name = "age-identity", .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct serve_opts, age, struct repeated), .value = "FILE",
	 .parse = parse_repeated, .expect = "be a file (at most 16 of them)",
	 .help = "an age identity file whose keys open valueFrom.age values (repeatable: the keys "
		 "of every one; default DIR/age.key if present); environments use the keys their "
		 "recipients list"},
	{.name = "keep-events", .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct serve_opts, keep_events, struct store_retention_kind),
	 .value = "COUNT,AGE", .parse = parse_keep, .expect = "look like 100000,720h (0: no limit)",
	 .help = "keep at most the newest COUNT events, none older than AGE (default 100000,720h)"},
	{.name = "keep-measurements", .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct serve_opts, keep_measurements, struct store_retention_kind),
	 .value = "COUNT,AGE", .parse = parse_keep, .expect = "look like 100000,720h (0: no limit)",
	 .help = "the same for analysis measurements (default 100000,720h)"},
	{.name = "keep-revisions", .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct serve_opts, keep_revisions, struct store_retention_kind),
	 .value = "COUNT,AGE", .parse = parse_keep, .expect = "look like 50,0 (0: no limit)",
	 .help = "per app, beyond what a rollback may need (default 50,0)"},
	{.name = "retention-interval", .kind = SW_OPT_DURATION,
	 .offset = SW_OPT_AT(struct serve_opts, retention_interval_ms, uint64_t), .value = "DUR",
	 .expect = "be a duration like 1m", .min = 10,
	 .help = "how often old history is trimmed (default 1m)"},
	{.name = "access-log", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct serve_opts, access_log, const char *), .value = "PATH",
	 .help = "make the proxy append one JSON line per request"},
	{.name = "proxy-workers", .kind = SW_OPT_INT,
	 .offset = SW_OPT_AT(struct serve_opts, proxy_workers, long long), .value = "N",
	 .expect = "be a number of workers from 1 to 64", .min = 1,
	 .help = "worker threads of the proxy sharing its listeners (default 1)"},
	{.name = "proxy-max-conns", .kind = SW_OPT_INT,
	 .offset = SW_OPT_AT(struct serve_opts, proxy_max_conns, long long), .value = "N",
	 .expect = "be a number of connections, at least 1", .min = 1,
	 .help = "client connections the proxy takes at most (default 10000)"},
	{0},
};

const struct sw_opt_usage daemon_usage = {
	.name = "serve",
	.opts = options,
	.help = "Runs the daemon in the foreground. The API listens on DIR/slipway.sock;\n"
		"--api also serves it on TCP, where requests need `Authorization: Bearer\n"
		"<token>` with the token in DIR/token. It starts `slipway proxy`, the data\n"
		"plane, and supervises it; --metrics makes the proxy serve /metrics on TCP\n"
		"without auth; --access-log makes it append one JSON line per request.\n"
		"SIGTERM/SIGINT stop it and its instances (unless --keep-instances).\n"
		"Instances outlive a crashed daemon and are adopted when it starts again.",
};

int daemon_main(int argc, char **argv)
{
	struct serve_opts o = {
		.keep_events = engine_retention_defaults.events,
		.keep_measurements = engine_retention_defaults.measurements,
		.keep_revisions = engine_retention_defaults.revisions,
	};
	/* the command line an upgrade re-executes: this program, then argv */
	char **self = xcalloc((size_t)argc + 2, sizeof(*self));
	self[0] = program_invocation_name;
	for (int i = 0; i < argc; i++)
		self[i + 1] = argv[i];
	int r = sw_opt_parse(&daemon_usage, &o, argc, argv);
	if (r < 0) {
		r = SW_OPT_EXIT(r);
		goto out;
	}
	struct sw_addr api_addr;
	struct sw_err aerr = {0};
	if (o.api && sw_addr_parse(&api_addr, o.api, SW_ADDR_PORT0, &aerr) < 0) {
		r = sw_opt_error("serve", "--api %s", aerr.msg);
		goto out;
	}
	if (o.proxy_workers > 64) {
		r = sw_opt_error("serve", "--proxy-workers must be from 1 to 64, got %lld", o.proxy_workers);
		goto out;
	}
	if (o.secrets.n == 0)
		o.secrets.v[o.secrets.n++] = SECRET_DIR_DEFAULT;
	struct store_retention retention = {
		.events = o.keep_events,
		.measurements = o.keep_measurements,
		.revisions = o.keep_revisions,
	};
	struct daemon_options d = {
		.state_dir = o.state_dir,
		.api_addr = o.api,
		.keep_instances = o.keep_instances,
		.metrics_addr = o.metrics,
		.access_log = o.access_log,
		.proxy_workers = (int)o.proxy_workers,
		.proxy_max_conns = o.proxy_max_conns,
		.argv = self,
		.port_min = o.ports.min,
		.port_max = o.ports.max,
		.backoff_initial_ms = o.backoff_ms,
		.secret_dirs = o.secrets.v,
		.nsecret_dirs = o.secrets.n,
		.age_identities = o.age.v,
		.nage_identities = o.age.n,
		.retention = &retention,
		.retention_interval_ms = o.retention_interval_ms,
	};
	r = daemon_run(&d);
out:
	free(self);
	return r;
}
