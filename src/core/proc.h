/*
 * proc: one process the control plane runs or watches, on a libuv loop.
 * The runtime's instances and exec probes, the exec analysis provider, the
 * `slipway proxy` supervisor, upgrades and pipeline steps all use it, so
 * that "spawn in its own group", "adopt after a restart" and "kill the
 * whole group, then SIGKILL" are written once.
 *
 *	struct sw_proc p;
 *	struct sw_proc_options o = {.argv = argv, .cwd = dir, .stdout_fd = fd,
 *				    .on_exit = done, .data = ctx};
 *	if (sw_proc_spawn(&p, loop, &o, &err) < 0) ... err says why ...
 *	...
 *	sw_proc_stop(&p, SIGTERM, 10000);   group gets SIGTERM, SIGKILL after 10 s
 *	...
 *	static void done(struct sw_proc *p, const struct sw_proc_exit *how) { ... }
 *	...
 *	sw_proc_close(&p, closed);          once on_exit has run (or to let go)
 *	...
 *	static void closed(struct sw_proc *p) { free(container of p); }
 *
 * Every process is started as the leader of its own session and process
 * group (setsid), so a signal reaches its children too: a shell's `sleep`
 * dies with the shell, and no child keeps a pipe open after a timeout.
 * When a group leader exits, whatever is left of its group gets SIGKILL
 * before on_exit runs: a straggler never holds a port or a pipe unwatched.
 *
 * A process is watched either as our child (libuv reaps it) or, after a
 * daemon restart or an upgrade, through a pidfd (sw_proc_adopt). Adoption
 * opens the pidfd first and compares the start time after: then the pidfd
 * surely refers to the process that was compared, and a pid reused by an
 * unrelated process is never adopted or signalled.
 *
 * Callback contract (as httpc's): on_exit is called exactly once per
 * process that was spawned or adopted, from the loop, never from inside a
 * call of this module, unless the process was let go with sw_proc_close
 * before it exited; after sw_proc_close returns, `data` is never used
 * again. The struct is the caller's (embed it); it must stay valid until
 * the close callback has run.
 */
#ifndef SW_CORE_PROC_H
#define SW_CORE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "core.h"

struct sw_proc;

struct sw_proc_exit {
	int64_t status;       /* exit status, or -1 when killed by a signal or unknown
				 (an adopted process that is not our child) */
	int signal;           /* the signal that killed it, or 0 */
	bool escalated;       /* sw_proc_stop's grace ran out: it got SIGKILL */
	char reason[96];      /* "exited with status 3", "killed by signal 9 (SIGKILL)",
				 "exited (adopted process, status unknown)" */
};

typedef void (*sw_proc_exit_cb)(struct sw_proc *p, const struct sw_proc_exit *how);
/* Runs once the struct may be freed (see sw_proc_close). */
typedef void (*sw_proc_close_cb)(struct sw_proc *p);

struct sw_proc_options {
	char *const *argv;        /* argv[0] is looked up in PATH when it has no '/' */
	char *const *env;         /* NULL-terminated "K=V"; NULL = the daemon's environment */
	const char *cwd;          /* NULL = the daemon's */
	int stdin_fd;             /* -1 = /dev/null */
	int stdout_fd;            /* -1 = /dev/null; the fd is dup'ed, the caller keeps it */
	int stderr_fd;            /* -1 = /dev/null */
	uv_pipe_t *stdout_pipe;   /* instead of stdout_fd: a pipe libuv creates (initialised
				     by the caller with uv_pipe_init; read it with uv_read_start) */
	bool keep_session;        /* true: stay in the daemon's process group (rare; the
				     default is a new session) */
	sw_proc_exit_cb on_exit;
	void *data;
};

struct sw_proc {
	/* read-only for callers */
	pid_t pid;                /* 0 once it has exited */
	uint64_t start_time;      /* sw_proc_start_time(pid) at spawn or adoption */
	bool adopted;             /* watched through a pidfd, not as our child */
	void *data;
	/* private */
	uv_loop_t *loop;
	sw_proc_exit_cb on_exit;
	uv_process_t *child;      /* our child: allocated, so that a failed spawn
				     leaves nothing in the struct to close */
	uv_poll_t poll;           /* adopted: readable when the pidfd's process exits */
	int pidfd;
	uv_timer_t grace;
	bool group_leader;        /* pid is its process group id */
	bool escalated, exited, closing, active;
	int open_handles;
	sw_proc_close_cb close_cb;
};

/*
 * Spawns argv in its own session. Returns 0 with p->pid set, or -1 with
 * err ("cannot start \"./hello\": no such file or directory"); on failure
 * nothing needs closing and on_exit is never called.
 */
int sw_proc_spawn(struct sw_proc *p, uv_loop_t *loop, const struct sw_proc_options *o,
		  struct sw_err *err);

/*
 * Takes over a running process (not our child) that a previous daemon
 * started, matched by pid and start time. Returns 0, or SW_ENOTFOUND with
 * err ("process 1234 is gone", "process 1234 is not the one recorded (start
 * time differs)"), or -1 when no pidfd can be opened; only o->on_exit and
 * o->data are used.
 */
int sw_proc_adopt(struct sw_proc *p, uv_loop_t *loop, pid_t pid, uint64_t start_time,
		  const struct sw_proc_options *o, struct sw_err *err);

/* Sends sig to the process group (to the process alone when it is not a
 * group leader). Returns 0 or -1 (gone). */
int sw_proc_signal(struct sw_proc *p, int sig);

/*
 * Stops the process: sig to its group now, SIGKILL to the group after
 * grace_ms if it has not exited (grace_ms 0: SIGKILL at once). Idempotent:
 * a second call never lengthens the grace already running. on_exit follows.
 */
void sw_proc_stop(struct sw_proc *p, int sig, uint64_t grace_ms);

/*
 * Releases the handles. Before on_exit this lets the process go (it keeps
 * running: an instance that outlives the daemon) and on_exit is never
 * called. close_cb (may be NULL) runs from the loop, never inside this
 * call, once the struct may be freed. Safe to call from inside on_exit.
 * Call it exactly once per successful spawn or adopt.
 */
void sw_proc_close(struct sw_proc *p, sw_proc_close_cb close_cb);

/* True between spawn/adopt and on_exit. */
bool sw_proc_running(const struct sw_proc *p);

/*
 * Sends sig to a process that is not (or no longer) watched, and to its
 * group when it leads one, if it still has start_time: the check is made
 * through a pidfd opened first, so a pid reused since is never signalled.
 * Returns 0, or SW_ENOTFOUND when that process is gone.
 */
int sw_proc_kill(pid_t pid, uint64_t start_time, int sig);

/* /proc/PID/stat start time in clock ticks; 0 if the process does not
 * exist or is a zombie. */
uint64_t sw_proc_start_time(pid_t pid);

/* Session id of a process (field 6 of /proc/PID/stat), or -1. */
pid_t sw_proc_session(pid_t pid);

/* Reads NAME's value from a process's initial environment (bounded at
 * 1 MiB). Returns true when found. */
bool sw_proc_env(pid_t pid, const char *name, char *out, size_t size);

/*
 * The path of the slipway binary now on disk: /proc/self/exe, without the
 * " (deleted)" suffix the kernel adds once a package upgrade replaced the
 * file. Re-executing it runs the new binary. Returns 0 or -1 with err.
 */
int sw_proc_self_exe(char *out, size_t size, struct sw_err *err);

/* The same for any process: the path /proc/PID/exe names, without
 * " (deleted)". Returns 0, or -1 with err (gone, not ours, too long). */
int sw_proc_exe(pid_t pid, char *out, size_t size, struct sw_err *err);

#endif
