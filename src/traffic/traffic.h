/*
 * traffic: the control plane's side of the data plane. The engine derives
 * a route table (src/rollout/routes.h) and hands it here; traffic gets it
 * to the data plane, reports whether the data plane holds it, and reads
 * the data plane's metrics and in-flight counts. Nothing in it blocks the
 * loop: every call to the data plane is asynchronous (httpc over the
 * proxy's unix socket) with a timeout, so a stopped or hung proxy delays
 * only the answers that need it, never the API, probes or the abort path.
 *
 * Driver: `slipway proxy` (traffic_proxy.c) — started by serve as its own
 * process and session, adopted by pid + start time after a daemon restart
 * or upgrade, restarted with bounded back-off when it dies (also when the
 * binary on disk was replaced), followed to its successor on a proxy
 * upgrade. It holds a copy of the proxy's listening sockets (one it
 * started passes them from the start; one it adopted is asked for them),
 * so that connections made while that proxy is dead wait in the kernel's
 * queue and are served by the one it restarts. Later drivers (HAProxy, Kubernetes Gateway API) implement the
 * same calls. docs/internals/proxy.md has the mechanism.
 *
 * Callbacks (traffic_get, traffic_get_text) follow httpc's contract: called
 * exactly once unless cancelled with traffic_cancel, always from the loop,
 * never from inside the call that started them; after traffic_cancel the
 * `data` is never used again.
 */
#ifndef SW_TRAFFIC_H
#define SW_TRAFFIC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "core/core.h"

struct traffic;
struct httpc;

struct traffic_config {
	uv_loop_t *loop;
	struct httpc *httpc;       /* for the asynchronous calls; owned by the caller */
	const char *state_dir;     /* DIR: proxy.sock, proxy.pid live there */
	const char *logs_dir;      /* DIR/logs: proxy.log */
	const char *metrics_addr;  /* proxy's own /metrics listener, or NULL */
	const char *access_log;    /* proxy's JSON-lines access log, or NULL */
	int proxy_workers;         /* `slipway proxy --workers N`; 0 = 1 */
	long long proxy_max_conns; /* proxy's client connection limit; 0 = its default */
	uint64_t call_timeout_ms;  /* per call to the data plane; 0 = 1000 */
	/* Something to record: "ProxyStarted", "ProxyExited", "ProxyAdopted",
	 * "ProxyReplaced", "ProxyRefusedTable"; message in words. */
	void (*on_event)(const char *kind, const char *message, void *data);
	/* The data plane changed hands (started, restarted, adopted, replaced)
	 * or a push completed: the caller may want to set the table again. */
	void (*on_change)(void *data);
	void *data;
};

/* Adopts the data plane a previous daemon left running, or starts one.
 * Returns 0, or -1 with err (a failing spawn is not an error: it is
 * retried with back-off and reported through on_event). */
int traffic_new(struct traffic **out, const struct traffic_config *cfg, struct sw_err *err);

/*
 * The table the data plane should hold: {"routes": [...]} in the proxy's
 * format (src/proxy/table.h). traffic takes a reference. When it differs
 * from the last table the data plane accepted it is pushed at once, or
 * right after the push in flight; tables set meanwhile replace each other
 * (only the newest is sent). A table the data plane refuses is reported
 * through on_event with its answer; the daemon never produces one (the
 * routes derivation validates with the proxy's own rules). Nothing is
 * pushed before the first call: a data plane adopted or restarted serves
 * the table it saved until the caller has derived the current one.
 */
void traffic_set_table(struct traffic *t, json_t *table);

/* The last table set (borrowed; {"routes": []} before any). */
json_t *traffic_table(struct traffic *t);

/* True when the data plane holds the last table set. */
bool traffic_synced(const struct traffic *t);

/* Why the data plane refused the last table set ("proxy refused the
 * table: listen 127.0.0.1:8080: address already in use (HTTP 409)"), or
 * NULL when it was not refused (accepted, or not answered yet). The table
 * is pushed again every few seconds: a port may become free. */
const char *traffic_refused(const struct traffic *t);

struct traffic_status {
	pid_t pid;                 /* the data plane's process, 0 when none runs */
	bool up;                   /* its last call succeeded */
	bool synced;               /* as traffic_synced */
	int64_t version;           /* table version it accepted last */
};
void traffic_status(const struct traffic *t, struct traffic_status *out);

/* Answer of a GET on the data plane's control API: status 200 and a JSON
 * body (json borrowed, valid during the call), or json NULL and error. */
typedef void (*traffic_json_cb)(json_t *json, const char *error, void *data);
typedef void (*traffic_text_cb)(const char *text, size_t len, const char *error, void *data);

/* GET path (e.g. "/v1/stats?window=10", "/v1/samples?app=a&revision=2&window=30")
 * on the data plane. Returns an id (never 0) for traffic_cancel. When no
 * data plane runs the callback still comes, from the loop, with an error. */
uint64_t traffic_get(struct traffic *t, const char *path, traffic_json_cb cb, void *data);
/* GET /metrics: the Prometheus text. */
uint64_t traffic_get_text(struct traffic *t, const char *path, traffic_text_cb cb, void *data);
void traffic_cancel(struct traffic *t, uint64_t id);

/* Stops watching. keep_running: the data plane goes on serving (upgrade,
 * --keep-instances, a crash-like exit); otherwise it gets SIGTERM. Calls
 * in flight are cancelled without their callbacks. */
void traffic_stop(struct traffic *t, bool keep_running);
/* Frees after traffic_stop; run the loop afterwards so handles close. */
void traffic_free(struct traffic *t);

#endif
