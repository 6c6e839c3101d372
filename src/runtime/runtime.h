/*
 * runtime: runs instances of an app as local processes on the daemon's
 * libuv loop, and keeps them running.
 *
 * Each instance is one process in its own session and process group
 * (setsid), with a port from the configured range (or its environment's),
 * environment PORT, SLIPWAY_APP, SLIPWAY_ENVIRONMENT, SLIPWAY_VERSION,
 * SLIPWAY_INSTANCE (plus run.env with ${...} substituted), and
 * stdout/stderr appended to LOG_DIR/<key>/<id>.log (the app's key:
 * "hello", or "prod/hello" in environment prod),
 * rotated by size (copy to .1 ... .N, then truncate; writers use O_APPEND).
 *
 * Probes: readiness decides `ready`; liveness failure restarts the process.
 * Exits and liveness failures restart with exponential backoff: 1 s,
 * doubling, capped at 5 min, reset once the process has been up 60 s. While
 * it waits, the instance's state is CrashLoopBackOff.
 *
 * Instances outlive the daemon: they are not children that die with it, and
 * runtime_adopt() takes over a running process after a daemon restart.
 * What identifies the process is the driver's business: the instance's
 * `handle` is opaque text the runtime writes when a process starts (the
 * process driver writes "PID STARTTIME"); the caller stores it and gives
 * it back to runtime_adopt or runtime_kill_handle, and never parses it.
 * docs/internals/runtime.md explains the mechanism.
 *
 * The runtime owns the instance structs. It reports every change through
 * cfg.on_change; after RUNTIME_EV_STOPPED the struct is freed as soon as
 * the callback returns.
 */
#ifndef SW_RUNTIME_H
#define SW_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "../spec/spec.h"
#include "../core/core.h"
#include "../core/age.h"
#include "../core/buf.h"

enum runtime_state {
	RUNTIME_STARTING,   /* process running, not ready yet */
	RUNTIME_RUNNING,    /* process running (ready or not: see `ready`) */
	RUNTIME_BACKOFF,    /* exited, waiting to restart: "CrashLoopBackOff" */
	RUNTIME_STOPPING,   /* stop signal sent, waiting for exit */
	RUNTIME_STOPPED,    /* gone; final */
	RUNTIME_FAILED,     /* could not be started at all (e.g. bad command) */
};

/* "Starting", "Running", "CrashLoopBackOff", "Stopping", "Stopped", "Failed" */
const char *runtime_state_name(enum runtime_state s);

enum runtime_event {
	RUNTIME_EV_STARTED,   /* a process was spawned (handle, port set) */
	RUNTIME_EV_READY,     /* readiness passed; ready = true */
	RUNTIME_EV_UNREADY,   /* readiness failed failureThreshold times */
	RUNTIME_EV_EXITED,    /* process exited or was killed; reason says how */
	RUNTIME_EV_BACKOFF,   /* restart scheduled; reason says when */
	RUNTIME_EV_LIVENESS,  /* liveness failed; the process is being restarted */
	RUNTIME_EV_STOPPED,   /* runtime_stop finished; the struct is freed next */
	RUNTIME_EV_FAILED,    /* spawn failed; reason says why; restarts with backoff */
};

struct runtime_instance {
	char id[96];
	char *app;
	int64_t revision;
	struct spec_app *spec;   /* a reference held by the instance */
	char handle[64];         /* the driver's name for the running process, to
				    store and give back to runtime_adopt; "" while
				    none runs */
	uint16_t port;
	bool ready;
	bool adopted;            /* taken over after a daemon restart */
	uint32_t restarts;
	enum runtime_state state;
	char reason[256];        /* last notable thing, for status and events */
	char exit_reason[96];    /* how its last process ended ("exited with status 2",
				    "killed by signal 9 (SIGKILL)", or why it could not
				    start); "" while none has ended */
	bool unstartable;        /* Failed because its document cannot start as it is
				    (an env value its keys cannot open): retrying the
				    same revision cannot help */
	uint64_t backoff_ms;     /* CrashLoopBackOff or Failed: the wait before the
				    restart under way; 0 otherwise */
	uint64_t started_ms;     /* monotonic ms the current process started */
	uint64_t ready_ms;       /* monotonic ms it became ready; 0 = not ready */
	void *data;              /* for the runtime's user */
	struct runtime_priv *priv; /* the runtime's own state */
};

struct runtime_config {
	uv_loop_t *loop;
	const char *log_dir;       /* instance logs go to LOG_DIR/<app>/<id>.log */
	uint16_t port_min;         /* default 20000 */
	uint16_t port_max;         /* default 29999 */
	uint64_t log_max_bytes;    /* rotate above this; default 10 MiB */
	unsigned log_keep;         /* rotated files kept; default 3 */
	uint64_t log_check_ms;     /* how often log sizes are checked; default 1000 */
	/* Backoff parameters; 0 = defaults (1 s, 5 min, 60 s). Tests shorten them. */
	uint64_t backoff_initial_ms;
	uint64_t backoff_max_ms;
	uint64_t backoff_reset_ms;
	/* the daemon's age identities, which open valueFrom.age values as a
	 * process starts; NULL or none: such a process cannot start */
	const struct age_identities *age_ids;
	/* when set, the identities for a process of an app in `environment`
	 * ("default" for none), asked each time one starts, instead of
	 * age_ids (the daemon: engine_on_age_ids); called with data */
	const struct age_identities *(*age_ids_of)(const char *environment, void *data);
	void (*on_change)(struct runtime_instance *inst, enum runtime_event ev, void *data);
	void *data;
};

struct runtime;

int runtime_new(struct runtime **out, const struct runtime_config *cfg, struct sw_err *err);
/* Forgets every instance without stopping its process (daemon crash-like
 * exit, --keep-instances), closes handles; call before uv_loop_close and
 * run the loop once more so the close callbacks free the rest. Processes
 * keep running (an exec probe in flight is killed). Not from inside
 * on_change (a stop_all `done` callback is fine). */
void runtime_free(struct runtime *rt);

/*
 * Starts one instance of `spec` at `revision` with the given id. The
 * instance is created even when the spawn fails (state Failed, restarted
 * with backoff); NULL only for invalid arguments (no command, an id that
 * is empty, too long or contains '/').
 *
 * The port is chosen at once (inst->port); the process is spawned from
 * the loop right after, so on_change never runs inside runtime_start and
 * the caller can set inst->data first. Until then state is Starting and
 * pid 0.
 */
struct runtime_instance *runtime_start(struct runtime *rt, struct spec_app *spec,
				       int64_t revision, const char *id,
				       struct sw_err *err);

/*
 * Ports of an environment (docs/environments.md). runtime_start_in is
 * runtime_start with the instance's ports from `ports` (NULL or 0-0: the
 * runtime's range, as runtime_start); it keeps them for every restart,
 * as runtime_instance_ports gives them to an adopted one. Ports in the
 * ranges runtime_reserve_ports names (a copy is kept; call again to
 * replace) are never handed to an instance without a range of its own,
 * so that instances of one environment never take another's.
 */
struct runtime_ports {
	uint16_t min, max;
};
struct runtime_instance *runtime_start_in(struct runtime *rt, struct spec_app *spec,
					  int64_t revision, const char *id,
					  const struct runtime_ports *ports, struct sw_err *err);
void runtime_instance_ports(struct runtime_instance *inst, const struct runtime_ports *ports);
void runtime_reserve_ports(struct runtime *rt, const struct runtime_ports *ranges, size_t n);

/*
 * Takes over a process a previous daemon started, named by the `handle` it
 * had then: succeeds only if that very process still runs (for the
 * process driver: the pid is alive and has the recorded start time, so a
 * reused pid is never taken). The instance keeps `ready` as given until
 * its first probe result (a first failure makes it unready at once), and
 * its port and restart count. Probes start right away. No event is emitted
 * for the adoption itself. Returns NULL with err set: SW_ENOTFOUND when the
 * process is gone ("process 1234 is gone") or another one ("process 1234
 * is not the one recorded (start time differs)"), SW_EINVAL for an empty
 * or malformed handle.
 */
struct runtime_instance *runtime_adopt(struct runtime *rt, struct spec_app *spec,
				       int64_t revision, const char *id, const char *handle,
				       uint16_t port, bool ready, uint32_t restarts,
				       struct sw_err *err);

/* The instance's process id, for display only (0 while none runs, and for
 * drivers without one). */
pid_t runtime_instance_pid(const struct runtime_instance *inst);

/*
 * Finds instance processes of this state dir that rt does not track: a
 * daemon killed while spawning leaves a process whose handle it never
 * recorded. An instance process leads its own session and has
 * SLIPWAY_STATE_DIR (== state_dir) and SLIPWAY_INSTANCE in its environment
 * (the runtime passes the daemon's environment on, so the daemon sets
 * SLIPWAY_STATE_DIR in its own). Calls found once per such process, with
 * its instance id and a handle for runtime_adopt or runtime_kill_handle;
 * found may call either. Blocks on /proc: for startup, not the loop.
 */
void runtime_orphans(struct runtime *rt, const char *state_dir,
		     void (*found)(const char *instance_id, const char *handle, void *data),
		     void *data);

/* Kills the process a handle names, with its process group, with SIGKILL,
 * if that very process still runs (never a reused pid). Returns 0, or
 * SW_ENOTFOUND when it is gone, SW_EINVAL for a malformed handle. */
int runtime_kill_handle(struct runtime *rt, const char *handle);

/* Stops an instance: spec stop signal to its process group, SIGKILL to the
 * group after stop.timeout; RUNTIME_EV_STOPPED when the process is gone (from the
 * loop, never inside this call, also when no process runs). Idempotent;
 * safe to call from on_change. A stopping instance is never restarted. */
void runtime_stop(struct runtime *rt, struct runtime_instance *inst);

/* Stops every instance; `done` is called once all are stopped (right
 * away when there are none). `done` may free the runtime. */
void runtime_stop_all(struct runtime *rt, void (*done)(void *data), void *data);

/* Backoff delay before restart number `restarts` (1-based):
 * initial * 2^(restarts-1), capped at max. Pure; exposed for tests. */
uint64_t runtime_backoff_ms(uint32_t restarts, uint64_t initial_ms, uint64_t max_ms);

/*
 * Reads an instance log from byte `offset` (negative: the last -offset
 * bytes; past the end: the file was rotated, so from 0), at most `max`
 * bytes, and appends them to text as JSON-safe UTF-8 with every byte kept
 * (sw_utf8_escape: what is not valid UTF-8 is written "\xHH"). A multi-
 * byte character cut by `max` is left for the next read. *next is where
 * the next read starts. A missing or unreadable file reads as empty
 * (*next = 0). Blocks on the file: logs are local and small per call.
 */
void runtime_log_read(const char *path, int64_t offset, size_t max, struct buf *text,
		      int64_t *next);

/*
 * Where the last `lines` lines of an instance log start: a byte offset for
 * runtime_log_read (kubectl's --tail counts lines). A last line without
 * its newline counts as a line. Looks back at most `max` bytes: when the
 * lines are longer than that, the offset is `max` bytes before the end.
 * A missing file gives 0.
 */
int64_t runtime_log_tail_offset(const char *path, int64_t lines, size_t max);

/*
 * The time index beside an instance log (LOG.idx, logindex.c): the
 * runtime notes the log's size once a second while it grows, and where
 * each process of the instance started. It is started over when the log
 * rotates and kept to at most 4096 entries (older steps get coarser), and
 * a daemon that adopts the instance goes on with it.
 *
 * runtime_log_since_offset: where the output written at or after wall
 * time since_ms starts, as a byte offset for runtime_log_read; at most one
 * second's output early (never late). 0 (all of it) when the log has no
 * index, was rotated since, or since_ms is before its oldest entry.
 *
 * runtime_log_previous: the bytes [*from, *to) that the instance's
 * previous process wrote (kubectl's logs --previous for a restarted
 * container): from the start before the newest one (or the top of the
 * log, when that was rotated away) to the newest start. false when the log
 * records no restart.
 */
int64_t runtime_log_since_offset(const char *log_path, int64_t since_ms);
bool runtime_log_previous(const char *log_path, int64_t *from, int64_t *to);

/* Number of instances the runtime tracks. */
size_t runtime_count(struct runtime *rt);


/*
 * The environment a process of `spec` gets: the daemon's, then run.env,
 * then `extra` (e.g. a hook's env), values substituted with `vars`, then
 * `own` ("K=V", NULL-terminated), which always wins. An age value
 * (valueFrom.age) is opened here, with `ids`, and is the plaintext less
 * one trailing newline, not substituted; this is the only place the
 * daemon holds it in clear. NULL-terminated; the caller frees it with
 * runtime_env_free. NULL with err when an age value cannot be opened:
 * "env DB_PASSWORD: no identity matches any recipient of this value"
 * (the name, never the value).
 */
char **runtime_env_build(const struct spec_app *spec, const struct spec_vars *vars,
			 const struct spec_env *extra, size_t nextra, char *const *own,
			 const struct age_identities *ids, struct sw_err *err);
/* Wipes (secret values are in it) and frees an environment; NULL is fine. */
void runtime_env_free(char **env);

/* ---- jobs (job.c) ----
 *
 * A job is a command that runs to completion: a hook of a revision. It
 * runs in its own session and process group (core/proc) with the
 * revision's workdir and environment (runtime_env_build: run.env, then the
 * hook's env, then SLIPWAY_APP, SLIPWAY_VERSION, SLIPWAY_REVISION,
 * SLIPWAY_HOOK, SLIPWAY_JOB; no PORT), stdin /dev/null, stdout and stderr
 * appended to LOG_DIR/<app>/<id>.log (each attempt starts with a line
 * "--- attempt N/M at TIME ---"), so `slipway logs APP --instance ID`
 * shows it like an instance's log.
 *
 * Each attempt gets hook.timeout: then SIGTERM to its group, SIGKILL 5 s
 * later. A failed attempt (non-zero exit, a signal, a timeout, a command
 * that cannot start, an age value in its env that its keys cannot open)
 * is followed by another one second later while
 * attempts remain (1 + hook.retries).
 *
 * Jobs outlive the daemon like instances. An attempt is run by a waiter,
 * `slipway job-waiter` (runtime_job_waiter_main), that leads the job's
 * process group: it waits for a go from the daemon on its stdin (a pipe),
 * runs the command as its child, and writes how the command ended to
 * LOG_DIR/<app>/<id>.exit before it exits. The go comes only once
 * on_attempt has returned, so the attempt's handle is stored before its
 * command runs; a daemon that dies before the go leaves a waiter that
 * exits without running anything. A restarted daemon gives the stored
 * handle to runtime_job_start (o->handle): the attempt is adopted (its
 * remaining timeout enforced, its result read from the exit file), never
 * started a second time. docs/internals/runtime.md, "Jobs".
 */
enum runtime_job_phase {
	RUNTIME_JOB_RUNNING,
	RUNTIME_JOB_SUCCEEDED,
	RUNTIME_JOB_FAILED,
};

struct runtime_job {
	char id[96];             /* also the log file's name */
	char *app;
	int64_t revision;
	struct spec_app *spec;   /* a reference held by the job */
	const struct spec_hook *hook; /* inside spec */
	enum runtime_job_phase phase;
	uint32_t attempt;        /* 1-based, the one running or the last */
	uint32_t attempts;       /* 1 + retries */
	uint64_t started_ms;     /* monotonic, first attempt */
	uint64_t duration_ms;    /* first attempt's start to the end */
	char reason[256];        /* "exited with status 3 (attempt 2/2)", "timed out after
				  * 10s (attempt 1/1)", or the last retry's cause */
	char handle[64];         /* the running attempt's waiter, "PID STARTTIME" as an
				    instance's; "" while none runs */
	int64_t attempt_wall_ms; /* wall clock, the running (or last) attempt's start */
	int64_t started_wall_ms; /* wall clock, the first attempt's start */
	bool adopted;            /* runtime_job_start took over a running attempt */
	bool resumed;            /* runtime_job_start was given a handle whose waiter had
				    ended: its result was read from the exit file */
	void *data;              /* for the job's user */
	struct runtime_job_priv *priv;
};

struct runtime_job_options {
	const char *kind_name;   /* "preDeploy": SLIPWAY_HOOK */
	const char *id;          /* non-empty, no '/' */
	/*
	 * Called from the loop each time an attempt's waiter was spawned,
	 * before its command runs: job->handle, job->attempt and
	 * job->attempt_wall_ms name it. Store them here; the command starts
	 * once this returns.
	 */
	void (*on_attempt)(struct runtime_job *job, void *data);
	/* from the loop, never inside a call of this module: once when an
	 * attempt failed and another follows (phase still Running, reason
	 * says why), and once at the end (Succeeded or Failed) */
	void (*on_change)(struct runtime_job *job, void *data);
	void *data;
	/* Adoption after a daemon restart: the stored handle of the attempt
	 * in flight (NULL or "": start the job afresh), its number and the
	 * stored wall clock starts. */
	const char *handle;
	uint32_t attempt;
	int64_t attempt_wall_ms;
	int64_t started_wall_ms;
};

/*
 * Starts `hook` of `spec` (revision) as job o->id, or with o->handle
 * takes over its attempt in flight: when that waiter still runs (the
 * same process: pid and start time) it is watched through a pidfd, its
 * remaining timeout counted from o->attempt_wall_ms; when it has ended,
 * the attempt's result is read from its exit file (an attempt whose
 * waiter got no go is run again, one without a result counts as failed:
 * "ended while the daemon was down, status unknown"). Returns the job, or
 * NULL with err (bad id, cannot create the log directory, malformed
 * handle).
 */
struct runtime_job *runtime_job_start(struct runtime *rt, struct spec_app *spec, int64_t revision,
				      const struct spec_hook *hook,
				      const struct runtime_job_options *o, struct sw_err *err);

/* Lets go of a job: a running one has its group killed (SIGKILL) and
 * on_change is never called again; the memory goes once the handles are
 * closed. */
void runtime_job_free(struct runtime_job *job);

/* Lets go of a job without stopping it: a running attempt keeps running
 * (and can be adopted with its handle), as after a daemon crash; from
 * inside on_attempt, the attempt's command never runs. on_change and
 * on_attempt are never called again; the memory goes once the handles
 * are closed. */
void runtime_job_forget(struct runtime_job *job);

/*
 * `slipway job-waiter EXIT_FILE ATTEMPT -- COMMAND...` (main.c's role;
 * not for users): reads one byte from stdin (EOF: exits 0 without running
 * anything and writes "ATTEMPT not-started"), then runs COMMAND as its
 * child with stdin /dev/null, ignoring SIGTERM, SIGINT, SIGHUP and SIGQUIT
 * itself (its group gets them: the command decides), and writes
 * "ATTEMPT exited STATUS", "ATTEMPT signal SIG" or "ATTEMPT cannot-start
 * ERRNO" to EXIT_FILE (through EXIT_FILE.tmp and a rename). Then it kills
 * the rest of its process group, itself last (SIGKILL): nothing the job
 * left behind runs on while no daemon watches.
 */
int runtime_job_waiter_main(int argc, char **argv);

#endif
