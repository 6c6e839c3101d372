/* Internals shared by the daemon's files (daemon.c: lifecycle and
 * reconciliation; handlers.c: the API endpoints). */
#ifndef SW_DAEMON_INT_H
#define SW_DAEMON_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "api/api.h"
#include "core/buf.h"
#include "rollout/rollout.h"
#include "runtime/runtime.h"
#include "spec/spec.h"
#include "store/store.h"
#include "daemon.h"

struct app;

/* Kept in runtime_instance.data: what the daemon knows of an instance. */
struct inst_meta {
	struct app *app;
	bool stopping;        /* on its way out: draining or stopping */
	bool draining;        /* out of rotation, waiting for in-flight requests */
	uint64_t drain_deadline_ms; /* monotonic; stop anyway after this */
	int64_t created_ms;   /* wall clock, for ordering */
};

struct rev_spec {
	int64_t revision;
	struct spec_app *spec;
};

/* An analysis run the rollout asked for (see src/rollout/rollout.h). */
struct daemon_run {
	int64_t id;                  /* the rollout's run id, per app */
	enum rollout_run_kind kind;
	enum rollout_run_phase phase;
	char reason[512];            /* which metric decided, with value and threshold */
	int64_t revision;            /* the revision under analysis */
	const struct spec_analysis_ref *ref; /* templates and args, in a cached spec */
	int64_t started_ms;
	void *state;                 /* the analysis runner's own state */
};

struct app {
	char *name;
	struct rollout_state st;
	int64_t created_ms;
	struct rev_spec *specs;       /* cache of parsed revisions */
	size_t nspecs;
	struct runtime_instance **insts;
	size_t ninsts;
	bool deleted;                 /* removed from the store; instances stopping */
	struct daemon_run **runs;     /* analysis runs of the current rollout */
	size_t nruns;
};

struct daemon {
	uv_loop_t loop;
	const struct daemon_options *opt;
	char *dir;
	char *logs_dir;
	char token[65];
	int lock_fd;
	struct store *store;
	struct runtime *rt;
	struct api *api;
	struct app **apps;            /* live apps, by name */
	size_t napps;
	struct app **dying;           /* deleted, waiting for instances to stop */
	size_t ndying;
	uv_timer_t tick;              /* periodic reconcile (deadlines) */
	uv_timer_t kick;              /* coalesced reconcile after changes */
	uv_signal_t sigterm, sigint, sigusr2;
	uv_timer_t upgrade;           /* runs daemon_upgrade after the API answered */
	bool upgrading;               /* re-exec when the loop ends */
	int64_t started_ms;           /* wall clock; tells a re-executed daemon apart */
	struct app *pending_app;      /* app of the instance runtime_start is creating */
	struct proxyctl *proxy;       /* the data plane process */
	struct httpc *httpc;          /* HTTP client for analysis providers */
	uv_timer_t drain;             /* checks draining instances while there are some */
	bool stopping;
	int exit_code;
};

struct app *daemon_app_find(struct daemon *d, const char *name);
struct app *daemon_app_add(struct daemon *d, const char *name);
/* Parsed spec of one of the app's revisions (cached); NULL with err. */
struct spec_app *daemon_app_spec(struct daemon *d, struct app *a, int64_t revision,
				 struct sw_err *err);
/* Persists a's rollout state. */
int daemon_app_save(struct daemon *d, struct app *a, struct sw_err *err);
/* Stops the app's instances and forgets it (its store rows are gone). */
void daemon_app_delete(struct daemon *d, struct app *a);
/* Asks for a reconcile of every app on the next loop iteration. */
void daemon_kick(struct daemon *d);
void daemon_event(struct daemon *d, const char *app, const char *kind, const char *actor,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

void handlers_register(struct daemon *d);
/* SIGUSR2 or POST /v1/upgrade: re-execute the binary on disk, adopting
 * instances and the proxy. */
void daemon_upgrade(struct daemon *d);

/* Analysis runs (runs.c). */
void daemon_run_start(struct daemon *d, struct app *a, int64_t id, enum rollout_run_kind kind,
		      int64_t revision, const struct spec_analysis_ref *ref);
void daemon_run_stop(struct daemon *d, struct app *a, int64_t id);
void daemon_runs_free(struct daemon *d, struct app *a);
/* After a restart: starts again the runs the stored rollout state names. */
void daemon_runs_resume(struct daemon *d, struct app *a);

/* proxyctl.c: the `slipway proxy` process and its route table. */
int proxyctl_start(struct daemon *d, struct sw_err *err);
/* The route table the apps call for now (new reference). */
json_t *proxyctl_table_json(struct daemon *d);
/* Sends the table if it changed; true when the proxy has the current one. */
bool proxyctl_sync(struct daemon *d);
/* GET on the proxy's control socket; parsed JSON or NULL. */
json_t *proxyctl_get(struct daemon *d, const char *path);
int proxyctl_metrics_text(struct daemon *d, struct buf *out);
bool proxyctl_up(struct daemon *d);
pid_t proxyctl_pid(struct daemon *d);
/* Closes handles; SIGTERMs the proxy unless keep_running. */
void proxyctl_stop(struct daemon *d, bool keep_running);
void proxyctl_free(struct daemon *d);

#endif
