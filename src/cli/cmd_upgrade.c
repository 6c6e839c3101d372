/*
 * slipway upgrade: replace the running proxy, then the control plane, with
 * the binary now on disk. It talks to the proxy's control socket
 * (DIR/proxy.sock) over HTTP like the API, not to proxy code.
 */
#include "cli_int.h"

#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/core.h"

struct upgrade_opts {
	bool proxy_only;
};

static const struct sw_opt options[] = {
	{.name = "proxy-only", .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct upgrade_opts, proxy_only, bool),
	 .help = "replace the proxy alone, not `slipway serve`"},
	{0},
};

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Asks `slipway serve` to re-execute the binary on disk and waits until the
 * new control plane answers (it adopts the proxy and the instances). */
static int upgrade_daemon(struct cli *c)
{
	json_t *j = NULL;
	if (cli_call(c, "POST", "/v1/upgrade", NULL, &j) != 0)
		return 1;
	long long old = cli_jint(j, "startedMs");
	json_decref(j);
	uint64_t deadline = sw_now_ms() + 30000;
	while (sw_now_ms() < deadline) {
		pause_ms(100);
		struct buf out = BUF_INIT;
		struct sw_err err = {0};
		int status = 0;
		if (http_client_request(&c->client, "GET", "/v1/version", NULL, 0, &status, &out, &err) == 0 &&
		    status == 200) {
			j = json_loadb(out.s ? out.s : "", out.len, 0, NULL);
			long long now = cli_jint(j, "startedMs");
			json_decref(j);
			buf_release(&out);
			if (now && now != old) {
				printf("control plane upgraded: slipway serve restarted into the binary on disk\n");
				return 0;
			}
			continue;
		}
		buf_release(&out); /* the API is away while the daemon re-executes */
	}
	fprintf(stderr, "slipway upgrade: the control plane did not come back within 30 s\n");
	return 1;
}

/* Asks `slipway proxy` (on DIR/proxy.sock) to replace itself with the
 * binary now on disk, then follows it until the successor answers there
 * or the proxy reports why it kept running. Returns 0 once replaced. */
static int upgrade_proxy(struct cli *c)
{
	struct buf sock = BUF_INIT, out = BUF_INIT;
	struct sw_err err = {0};
	struct http_client pc = {.timeout_ms = 5000};
	int status = 0, ret = 1;
	long long old = 0;
	json_t *j = NULL;
	buf_addf(&sock, "%s/proxy.sock", c->state_dir);
	pc.unix_path = sock.s;
	if (http_client_request(&pc, "POST", "/v1/upgrade", NULL, 0, &status, &out, &err) < 0) {
		fprintf(stderr, "slipway upgrade: cannot reach the proxy at %s: %s\n", sock.s, err.msg);
		goto out;
	}
	j = json_loadb(out.s ? out.s : "", out.len, 0, NULL);
	if (status != 202) {
		fprintf(stderr, "slipway upgrade: %s\n",
			j && cli_jstr(j, "error")[0] ? cli_jstr(j, "error") : "refused");
		goto out;
	}
	old = cli_jint(j, "pid");
	uint64_t deadline = sw_now_ms() + 15000;
	while (sw_now_ms() < deadline) {
		pause_ms(50);
		json_decref(j);
		j = NULL;
		buf_reset(&out);
		if (http_client_request(&pc, "GET", "/v1/upgrade", NULL, 0, &status, &out, &err) < 0 ||
		    status != 200)
			continue; /* the control socket is changing hands */
		j = json_loadb(out.s ? out.s : "", out.len, 0, NULL);
		if (cli_jint(j, "pid") != old) {
			printf("proxy upgraded: pid %lld -> %lld\n", old, cli_jint(j, "pid"));
			ret = 0;
			goto out;
		}
		if (strcmp(cli_jstr(j, "state"), "idle") == 0) {
			const char *why = cli_jstr(j, "lastError");
			fprintf(stderr, "slipway upgrade: the proxy (pid %lld) keeps running: %s\n", old,
				*why ? why : "the upgrade did not happen");
			goto out;
		}
	}
	fprintf(stderr, "slipway upgrade: no new proxy after 15 s\n");
out:
	json_decref(j);
	buf_release(&out);
	buf_release(&sock);
	return ret;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct upgrade_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_upgrade.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	int r = upgrade_proxy(c);
	if (r == 0 && !o.proxy_only)
		r = upgrade_daemon(c);
	return r;
}

const struct cli_command cli_cmd_upgrade = {
	.summary = "replace the proxy and the control plane with the binary on disk",
	.run = run,
	.usage = {
		.name = "upgrade",
		.opts = options,
		.help = "Replaces the running `slipway proxy` with the binary now on disk without\n"
			"refusing a connection or failing a request: the new process takes the\n"
			"listening sockets over, the old one finishes its requests and exits. If the\n"
			"new one does not start or is not ready within 5 s, the old one keeps serving\n"
			"and this says why. Then `slipway serve` re-executes the binary on disk and\n"
			"adopts the proxy and the instances (--proxy-only: the proxy alone). SIGUSR2\n"
			"to either process does the same for that process.",
	},
};
