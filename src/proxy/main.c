/* `slipway proxy`: its options, then proxy_run. */
#include "proxy.h"

#include <stdio.h>

#include "core/opt.h"

static const struct sw_opt options[] = {
	{.name = "state-dir", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct proxy_main_options, state_dir, const char *), .value = "DIR",
	 .help = "the state dir whose proxy.sock and proxy-table.json it uses"},
	{.name = "metrics", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct proxy_main_options, metrics_addr, const char *),
	 .value = "127.0.0.1:PORT", .help = "serve /metrics on TCP, without auth"},
	{.name = "access-log", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct proxy_main_options, access_log, const char *), .value = "PATH",
	 .help = "append one JSON line per request"},
	{.name = "workers", .kind = SW_OPT_INT,
	 .offset = SW_OPT_AT(struct proxy_main_options, workers, long long), .value = "N",
	 .expect = "be a number of workers from 1 to 64", .min = 1,
	 .help = "worker threads sharing the listeners (default 1; up to one per core)"},
	{.name = "max-conns", .kind = SW_OPT_INT,
	 .offset = SW_OPT_AT(struct proxy_main_options, max_conns, long long), .value = "N",
	 .expect = "be a number of connections, at least 1", .min = 1,
	 .help = "client connections at most (default 10000); over it: idle ones closed, then 503"},
	/* hidden, for tests: a short client header timeout */
	{.name = "header-timeout", .kind = SW_OPT_DURATION,
	 .offset = SW_OPT_AT(struct proxy_main_options, header_timeout_ms, uint64_t), .value = "DUR",
	 .expect = "be a duration like 10s", .min = 1},
	{0},
};

const struct sw_opt_usage proxy_usage = {
	.name = "proxy",
	.opts = options,
	.help = "Runs the data plane in the foreground (`slipway serve` starts it). It serves\n"
		"the route table it gets on DIR/proxy.sock, saved in DIR/proxy-table.json and\n"
		"served again after a restart. --metrics serves /metrics on TCP without auth;\n"
		"--access-log appends one JSON line per request. SIGTERM/SIGINT stop it once\n"
		"in-flight requests are done (10 s at most).",
};

int proxy_main(int argc, char **argv)
{
	struct proxy_main_options opt = {0};
	int n = sw_opt_parse(&proxy_usage, &opt, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	if (opt.workers > 64) {
		fprintf(stderr, "slipway proxy: --workers must be from 1 to 64, got %lld\n", opt.workers);
		return 2;
	}
	return proxy_run(&opt);
}
