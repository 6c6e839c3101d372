/*
 * proxy: Slipway's data plane, run as its own process (`slipway proxy`,
 * started and supervised by `slipway serve`). It serves HTTP/1.1 on every
 * listen address of its route table (see table.h), forwards each request
 * to a backend picked by the table, and measures every app x revision
 * (see metrics.h).
 *
 * It keeps serving the last table it got while the control plane is down
 * or restarting: the table is also saved to DIR/proxy-table.json and read
 * back at start. The control plane talks to it over DIR/proxy.sock with
 * the same HTTP/JSON server as the main API:
 *
 *	PUT  /v1/table            replace the route table (table.h JSON)
 *	GET  /v1/table            the current table
 *	GET  /v1/stats?window=N   metrics_json of the last N seconds, plus
 *	                          {"backends": {"ID": {"inflight": n, "conns": n}}}
 *	GET  /v1/samples?app=A&revision=N&window=S
 *	                          {"latencies": [ms...], "errorRates": [...]} of one
 *	                          revision, for the statistical judge
 *	GET  /metrics             Prometheus text
 *	GET  /v1/version          {"version", "pid", "tableVersion"}
 *	POST /v1/upgrade          replace this process with the binary on disk
 *	GET  /v1/upgrade          {"state", "pid", "newPid", "lastError"}
 *
 * HTTP behaviour: keep-alive with clients; pooled keep-alive connections
 * to upstreams; bodies streamed both ways (Content-Length and chunked)
 * with back-pressure, never buffered whole; `Connection: upgrade`
 * (WebSocket) tunnelled; X-Forwarded-For / -Proto / X-Request-Id (made
 * when absent) added; hop-by-hop headers removed (a header a Connection
 * header names too, unless it is end-to-end: Host, Content-Length,
 * X-Request-Id, X-Forwarded-*... always pass). Errors: header section
 * over the limit → 431; malformed → 400; Content-Length together with
 * Transfer-Encoding, or conflicting Content-Length → 400; no route → 404;
 * no backend → 503; upstream connect failure → one retry on another
 * backend for idempotent methods, then 502; an upstream response with a
 * header name that is not a token → 502; upstream too slow → 504.
 * Connection limit (max_conns): a new client beyond it makes the
 * keep-alive connection idle longest close; with none idle it gets 503
 * with Retry-After once its request head is read (at most 256 such at
 * once, beyond closed); counted in metrics_conns, logged at most once per
 * 10 s.
 * Timeouts: connect, client header read (slowloris), idle keep-alive,
 * upstream response.
 *
 * A backend left out of a new table leaves rotation at once; requests in
 * flight to it finish; idle pooled connections to it are closed.
 */
#ifndef SW_PROXY_H
#define SW_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "metrics.h"
#include "table.h"
#include "core/buf.h"
#include "core/core.h"

#define PROXY_DEFAULT_MAX_CONNS 10000

/*
 * Workers of one proxy (`--workers N`) share their listening sockets, and
 * whichever is awake accepts a new connection: under keep-alive load one
 * worker took every connection and the others idled (2 workers served
 * no more than 1). In a group, a worker that accepts a connection while
 * another holds fewer hands it over: the socket moves to that worker's
 * loop before anything was read from it. Made before the proxies (each
 * one's proxy_config.group), freed after the last of them; thread-safe.
 */
struct proxy_group;
struct proxy_group *proxy_group_new(void);
void proxy_group_free(struct proxy_group *g);

struct proxy_config {
	uv_loop_t *loop;
	struct proxy_group *group;    /* NULL: this proxy keeps what it accepts */
	uint64_t connect_timeout_ms;  /* default 5000 */
	uint64_t header_timeout_ms;   /* client must send headers within; default 10000 */
	uint64_t idle_timeout_ms;     /* keep-alive idle; default 60000 */
	uint64_t upstream_timeout_ms; /* upstream response headers within; default 60000 */
	size_t max_header_bytes;      /* default 16384 */
	size_t max_conns;             /* client connections of this engine; default
					 * PROXY_DEFAULT_MAX_CONNS (see "Connection limit"
					 * above); with workers each gets its share of the
					 * proxy's limit */
	size_t pool_per_backend;      /* idle upstream connections kept; default 256 (above
					 * the concurrency, or connections churn) */
	const char *access_log;       /* path of a JSON-lines access log, or NULL */
	struct metrics *metrics;      /* shared by several proxies (one per worker thread,
					 * metrics are thread-safe) and not freed by them, or
					 * NULL: the proxy makes and frees its own */
};

struct proxy;

int proxy_new(struct proxy **out, const struct proxy_config *cfg, struct sw_err *err);
/* Installs a new table (takes ownership, also on failure): opens
 * listeners for new listen addresses, closes ones no route uses any more,
 * keeps the others and their connections. On a listener error (address in
 * use) the previous table stays and err says which address. */
int proxy_set_table(struct proxy *p, struct table *t, struct sw_err *err);
const struct table *proxy_table(const struct proxy *p);
struct metrics *proxy_metrics(struct proxy *p);
/* {"ID": {"inflight": n, "conns": n, "inTable": bool}} for every backend
 * of the table, and for backends that left it while requests to them or
 * connections are still open. */
json_t *proxy_backends_json(struct proxy *p);
/* Also serves GET /metrics (Prometheus text, no auth) on addr, for
 * `slipway proxy --metrics`. The listener lives until proxy_drain/free. */
int proxy_serve_metrics(struct proxy *p, const char *addr, struct sw_err *err);
/* Begins a graceful stop: closes every listener and idle keep-alive
 * connection; busy connections close after their current response. */
void proxy_drain(struct proxy *p);
/* Client connections still open and not closing (in-flight requests,
 * tunnels, keep-alive connections). */
size_t proxy_active_conns(const struct proxy *p);
/* Every client connection not closed yet, including those closing
 * gracefully (their last response still being written, or waiting for
 * the client to hang up, LINGER at most 2 s): a process that exits
 * before this is 0 cuts those responses short. */
size_t proxy_open_conns(const struct proxy *p);
/* Closes listeners and connections; frees once the loop ran the closes. */
void proxy_free(struct proxy *p);

/*
 * Upgrades (a new `slipway proxy` taking over from a running one; see
 * docs/internals/proxy.md, "Upgrade").
 *
 * proxy_listen_fds fills `out` with up to `max` of the open listening
 * sockets (table listeners and the --metrics one) and returns how many
 * there are. The fds stay the proxy's: the caller passes copies on
 * (SCM_RIGHTS), it does not close them.
 *
 * proxy_inherit_fd hands the proxy a listening socket received from its
 * predecessor (takes ownership of fd): the next listener opened on `addr`
 * (a table one, or the metrics one when `metrics`) adopts it instead of
 * binding, so connections waiting in its accept queue are served and none
 * is refused. proxy_inherit_done closes those no listener took (returns
 * how many); proxy_free does it too.
 */
struct proxy_listen_fd {
	const char *addr;   /* the proxy's; valid until the listener closes */
	bool metrics;
	int fd;
};
size_t proxy_listen_fds(const struct proxy *p, struct proxy_listen_fd *out, size_t max);
void proxy_inherit_fd(struct proxy *p, const char *addr, bool metrics, int fd);
size_t proxy_inherit_done(struct proxy *p);

/*
 * Feeds raw bytes as one client connection on `listen` without sockets
 * (upstreams are real: backends in the table must be reachable or the
 * request fails like it would). For the fuzz target: runs the loop until
 * the connection is done or `timeout_ms` passed; appends what the proxy
 * would have written to the client to `out`.
 */
int proxy_feed_for_test(struct proxy *p, const char *listen, const char *data, size_t len,
			struct buf *out, uint64_t timeout_ms);

/* `slipway proxy`: runs the data plane process for DIR until SIGTERM.
 * Returns the exit code. SIGUSR2 (or POST /v1/upgrade on the control
 * socket) replaces it with the binary now on disk without refusing a
 * connection. A process started by an upgrade finds the channel to its
 * predecessor in the environment (SLIPWAY_PROXY_UPGRADE_FD); options are
 * the same as its predecessor's. */
struct proxy_main_options {
	const char *state_dir;
	const char *metrics_addr;     /* "127.0.0.1:PORT" for /metrics without auth, or NULL */
	const char *access_log;
	uint64_t header_timeout_ms;   /* 0 = default; lowered by tests */
	long long workers;            /* engines, each on its own thread and loop, sharing
					 * the listening sockets and the metrics; 0 = 1 */
	long long max_conns;          /* --max-conns; 0 = default (10000) */
};
int proxy_run(const struct proxy_main_options *opt);

/*
 * `slipway proxy [options]` (src/proxy/main.c): argv[0] is "proxy"; parses
 * the options into proxy_main_options and calls proxy_run. Returns the exit
 * code (2 on a usage error).
 */
int proxy_main(int argc, char **argv);

/* proxy's options and help, which proxy_main parses. */
struct sw_opt_usage;
extern const struct sw_opt_usage proxy_usage;

#endif
