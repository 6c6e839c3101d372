/* Internals shared by traffic.c (table, pushes, calls) and its driver
 * traffic_proxy.c (the `slipway proxy` process). */
#ifndef SW_TRAFFIC_INT_H
#define SW_TRAFFIC_INT_H

#include "core/proc.h"
#include "traffic.h"

struct traffic_call;

/* One `slipway proxy` process we watch; allocated per process so that a
 * successor can be watched while the last one's handles still close. */
struct traffic_proc {
	struct sw_proc p;
	struct traffic *t;
	pid_t pid;                   /* p.pid is 0 once it exited */
};

struct traffic {
	struct traffic_config cfg;   /* strings below are our copies */
	char *state_dir, *logs_dir, *metrics_addr, *access_log;
	char *sock_path, *pid_path, *log_path;
	uint64_t call_timeout_ms;

	/* table */
	json_t *table;               /* last set */
	bool table_set;              /* traffic_set_table was called: push it */
	char *table_text;            /* its routes, compact with sorted keys */
	char *accepted;              /* what the data plane holds (same form), or NULL */
	char *refused;               /* last text it refused (4xx), not pushed again */
	char refused_why[360];       /* the data plane's reason for refusing it */
	int64_t version;             /* table version it accepted last */
	uint64_t push_id;            /* traffic_get-style id of the push in flight, or 0 */
	char *push_text;             /* what that push sends */
	uv_timer_t retry;            /* next push after a failed one */
	uint64_t retry_ms;           /* its back-off */
	bool up;                     /* the last call reached the data plane */

	/* calls in flight */
	struct traffic_call *calls;
	uint64_t next_id;
	uv_timer_t deferred;         /* reports calls that failed before they started */

	/* driver */
	struct traffic_proc *proc;   /* the process we watch, or NULL */
	pid_t last_pid;              /* of the last one watched: never adopted again */
	uv_timer_t restart;
	uint64_t backoff_ms;         /* delay of the next restart */
	uint64_t started_ms;         /* monotonic, when proc was started or adopted */
	bool stopping;
	/* the proxy's listening sockets, held across its crash (see "Crash"
	 * in docs/internals/proxy.md) */
	struct traffic_held {
		char *addr;
		bool metrics;
		int fd;
	} *held, *pending;           /* held: the last full set; pending: one arriving */
	size_t nheld, npending;
	int hold_chan;               /* our end of the channel to the proxy, or -1 */
	uv_poll_t hold_poll;         /* readable hold_chan; open while hold_chan >= 0 */
	bool hold_asking;            /* an adopted proxy is asked for a channel: */
	int hold_listen;             /* DIR/serve-hold.sock, it connects there (valid while asking) */
	uint64_t hold_call;          /* the POST /v1/hold in flight, or 0 */
	int handles;                 /* our open timers; freed when 0 after stop */
};

/* traffic_proxy.c */
void traffic_proxy_start(struct traffic *t);
void traffic_proxy_stop(struct traffic *t, bool keep_running);
pid_t traffic_proxy_pid(const struct traffic *t);

/* traffic.c: the data plane changed hands (or is gone: pid 0); it holds
 * no table of ours until pushed. */
void traffic_handover(struct traffic *t);
/* traffic.c: one of our handles closed; the memory goes with the last. */
void traffic_handle_closed(struct traffic *t);
/* traffic.c: POST path ("{}" as the body) to the data plane; as traffic_get. */
uint64_t traffic_post(struct traffic *t, const char *path, traffic_json_cb cb, void *data);
/* traffic_proxy.c: closes the listening sockets held for the proxy. */
void traffic_proxy_release_held(struct traffic *t);
void traffic_event(struct traffic *t, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
