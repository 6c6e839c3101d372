/*
 * proc: spawn, adopt, watch and stop one process. See proc.h for the
 * contract.
 *
 * A spawned process is watched through its uv_process_t (libuv reaps it);
 * an adopted one through a pidfd polled for readability, which the kernel
 * signals once the process has exited. The grace timer turns a stop into a
 * SIGKILL of the whole group. Every path that ends the process goes
 * through proc_exited(), which calls on_exit last: the caller may close
 * (and then free) the struct from inside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "proc.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define ENV_MAX (1u << 20)

static const char deleted_suffix[] = " (deleted)";

/*
 * Reads the fields of /proc/PID/stat this module needs. The command name
 * (field 2) is in parentheses and may itself contain ") ", so parsing
 * starts after the last ')'. Any pointer may be NULL.
 */
static int proc_stat(pid_t pid, char *state, pid_t *pgrp, pid_t *sid, uint64_t *start_time)
{
	char path[64], data[2048], *s, *end;
	long long v;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, data, sizeof(data) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	data[n] = '\0';
	s = strrchr(data, ')');
	if (!s || s[1] != ' ' || !s[2])
		return -1;
	if (state)
		*state = s[2];
	s += 3;
	/* fields 4 (ppid) to 21; 5 is the process group, 6 the session */
	for (int field = 4; field <= 21; field++) {
		v = strtoll(s, &end, 10);
		if (end == s)
			return -1;
		if (field == 5 && pgrp)
			*pgrp = (pid_t)v;
		if (field == 6 && sid)
			*sid = (pid_t)v;
		s = end;
	}
	v = (long long)strtoull(s, &end, 10);
	if (end == s)
		return -1;
	if (start_time)
		*start_time = (uint64_t)v;
	return 0;
}

uint64_t sw_proc_start_time(pid_t pid)
{
	uint64_t start;
	char state;

	if (proc_stat(pid, &state, NULL, NULL, &start) < 0 || state == 'Z' || state == 'X')
		return 0;
	return start;
}

pid_t sw_proc_session(pid_t pid)
{
	pid_t sid;

	return proc_stat(pid, NULL, NULL, &sid, NULL) < 0 ? -1 : sid;
}

bool sw_proc_env(pid_t pid, const char *name, char *out, size_t size)
{
	struct buf b = BUF_INIT;
	char path[64], chunk[4096];
	size_t nl = strlen(name);
	bool found = false;
	ssize_t k;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	b.cap = ENV_MAX;
	while ((k = read(fd, chunk, sizeof(chunk))) > 0 && buf_add(&b, chunk, (size_t)k) == 0)
		;
	close(fd);
	/* entries are NUL-separated; the buffer keeps a NUL after the last */
	for (size_t i = 0; i < b.len; i += strlen(b.s + i) + 1) {
		if (strncmp(b.s + i, name, nl) == 0 && b.s[i + nl] == '=') {
			sw_strlcpy(out, b.s + i + nl + 1, size);
			found = true;
			break;
		}
	}
	buf_release(&b);
	return found;
}

int sw_proc_exe(pid_t pid, char *out, size_t size, struct sw_err *err)
{
	char path[64];
	size_t dl = sizeof(deleted_suffix) - 1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, out, size);
	if (n < 0) {
		if (size)
			out[0] = '\0';
		return sw_errf(err, -1, "cannot read \"%s\": %s", path, strerror(errno));
	}
	if ((size_t)n >= size) {
		if (size)
			out[0] = '\0';
		return sw_errf(err, -1, "cannot read \"%s\": path too long", path);
	}
	out[n] = '\0';
	/* the kernel marks an executable that was unlinked or replaced; the
	 * path names what is on disk now */
	if ((size_t)n > dl && strcmp(out + n - dl, deleted_suffix) == 0)
		out[n - dl] = '\0';
	return 0;
}

int sw_proc_self_exe(char *out, size_t size, struct sw_err *err)
{
	return sw_proc_exe(getpid(), out, size, err);
}

/* ---- watching ------------------------------------------------------- */

static void release_one(struct sw_proc *p)
{
	if (--p->open_handles > 0)
		return;
	if (p->pidfd >= 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
	if (p->close_cb)
		p->close_cb(p);
}

static void handle_closed(uv_handle_t *h)
{
	release_one(h->data);
}

static void child_closed(uv_handle_t *h)
{
	struct sw_proc *p = h->data;

	free(h);
	if (p)
		release_one(p);
}

static void describe(struct sw_proc_exit *how, int64_t status, int sig)
{
	const char *abbrev;

	how->status = sig ? -1 : status;
	how->signal = sig;
	if (sig) {
		abbrev = sigabbrev_np(sig);
		if (abbrev)
			snprintf(how->reason, sizeof(how->reason), "killed by signal %d (SIG%s)",
				 sig, abbrev);
		else
			snprintf(how->reason, sizeof(how->reason), "killed by signal %d", sig);
	} else {
		snprintf(how->reason, sizeof(how->reason), "exited with status %lld",
			 (long long)status);
	}
}

/* The process is gone: clears the rest of its group and reports. */
static void proc_exited(struct sw_proc *p, struct sw_proc_exit *how)
{
	pid_t pid = p->pid;

	if (p->exited)
		return;
	p->exited = true;
	uv_timer_stop(&p->grace);
	if (p->group_leader && pid > 0)
		kill(-pid, SIGKILL);
	p->pid = 0;
	how->escalated = p->escalated;
	if (p->on_exit)
		p->on_exit(p, how);  /* last: it may close the struct */
}

static void on_child_exit(uv_process_t *h, int64_t status, int sig)
{
	struct sw_proc *p = h->data;
	struct sw_proc_exit how = {0};

	describe(&how, status, sig);
	proc_exited(p, &how);
}

static void on_pidfd(uv_poll_t *h, int status, int events)
{
	struct sw_proc *p = h->data;
	struct sw_proc_exit how = {0};
	siginfo_t si;

	uv_poll_stop(h);
	/* Reaps it when it happens to be our child (in tests that adopt
	 * within one process); after a real restart it is not. */
	memset(&si, 0, sizeof(si));
	if (waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid) {
		if (si.si_code == CLD_EXITED)
			describe(&how, si.si_status, 0);
		else
			describe(&how, 0, si.si_status);
	} else {
		how.status = -1;
		sw_strlcpy(how.reason, "exited (adopted process, status unknown)",
			   sizeof(how.reason));
	}
	proc_exited(p, &how);
}

static void on_grace(uv_timer_t *t)
{
	struct sw_proc *p = t->data;

	if (!sw_proc_running(p))
		return;
	p->escalated = true;
	sw_proc_signal(p, SIGKILL);
}

static void watch_init(struct sw_proc *p, uv_loop_t *loop, const struct sw_proc_options *o)
{
	p->loop = loop;
	p->on_exit = o->on_exit;
	p->data = o->data;
	p->escalated = p->exited = p->closing = false;
	p->active = true;
	p->close_cb = NULL;
	uv_timer_init(loop, &p->grace);
	p->grace.data = p;
	p->open_handles = 1;
}

static void stdio_set(uv_stdio_container_t *c, int fd)
{
	if (fd < 0) {
		c->flags = UV_IGNORE;
	} else {
		c->flags = UV_INHERIT_FD;
		c->data.fd = fd;
	}
}

int sw_proc_spawn(struct sw_proc *p, uv_loop_t *loop, const struct sw_proc_options *o,
		  struct sw_err *err)
{
	uv_process_options_t uo;
	uv_stdio_container_t stdio[3];
	uv_process_t *child;
	uint64_t start = 0;
	int r;

	SW_ASSERT(o->argv && o->argv[0]);
	memset(p, 0, sizeof(*p));
	p->pidfd = -1;
	memset(&uo, 0, sizeof(uo));
	memset(stdio, 0, sizeof(stdio));
	stdio_set(&stdio[0], o->stdin_fd);
	if (o->stdout_pipe) {
		stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
		stdio[1].data.stream = (uv_stream_t *)o->stdout_pipe;
	} else {
		stdio_set(&stdio[1], o->stdout_fd);
	}
	stdio_set(&stdio[2], o->stderr_fd);
	uo.file = o->argv[0];
	uo.args = (char **)o->argv;
	uo.env = (char **)o->env;
	uo.cwd = o->cwd;
	/* setsid(): its own session and process group, so it survives us
	 * and a signal to the group reaches everything it started */
	uo.flags = o->keep_session ? 0 : UV_PROCESS_DETACHED;
	uo.stdio = stdio;
	uo.stdio_count = 3;
	uo.exit_cb = on_child_exit;
	child = xcalloc(1, sizeof(*child));
	r = uv_spawn(loop, child, &uo);
	if (r < 0) {
		/* libuv initialised the handle: it must be closed, and owes
		 * nothing to p */
		child->data = NULL;
		uv_close((uv_handle_t *)child, child_closed);
		return sw_errf(err, -1, "cannot start \"%s\": %s", o->argv[0], uv_strerror(r));
	}
	watch_init(p, loop, o);
	child->data = p;
	p->child = child;
	p->open_handles++;
	p->pid = child->pid;
	p->group_leader = !o->keep_session;
	/* not reaped before our loop runs, so even a fast exit has a stat */
	proc_stat(p->pid, NULL, NULL, NULL, &start);
	p->start_time = start;
	return 0;
}

/* Opens a pidfd of pid into *out if pid still has start_time. Returns 0,
 * or SW_ENOTFOUND / -1 with err. */
static int pidfd_of(int *out, pid_t pid, uint64_t start_time, pid_t *pgrp, struct sw_err *err)
{
	uint64_t st;
	char state;
	int fd;

	*out = -1;
	if (pid <= 0)
		return sw_errf(err, SW_ENOTFOUND, "process %d is gone", (int)pid);
	/* Open the pidfd first and compare the start time after: then the
	 * pidfd surely refers to the process that was compared. */
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		if (errno == ESRCH)
			return sw_errf(err, SW_ENOTFOUND, "process %d is gone", (int)pid);
		return sw_errf(err, -1, "cannot watch process %d: %s", (int)pid, strerror(errno));
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (proc_stat(pid, &state, pgrp, NULL, &st) < 0 || state == 'Z' || state == 'X') {
		close(fd);
		return sw_errf(err, SW_ENOTFOUND, "process %d is gone", (int)pid);
	}
	if (st != start_time) {
		close(fd);
		return sw_errf(err, SW_ENOTFOUND,
			       "process %d is not the one recorded (start time differs)", (int)pid);
	}
	*out = fd;
	return 0;
}

int sw_proc_kill(pid_t pid, uint64_t start_time, int sig)
{
	pid_t pgrp = 0;
	int fd, r;

	if (pidfd_of(&fd, pid, start_time, &pgrp, NULL) < 0)
		return SW_ENOTFOUND;
	if (pgrp == pid && kill(-pid, sig) == 0)
		r = 0;
	else
		r = syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) == 0 ? 0 : SW_ENOTFOUND;
	close(fd);
	return r;
}

int sw_proc_adopt(struct sw_proc *p, uv_loop_t *loop, pid_t pid, uint64_t start_time,
		  const struct sw_proc_options *o, struct sw_err *err)
{
	pid_t pgrp = 0;
	int fd, r;

	memset(p, 0, sizeof(*p));
	p->pidfd = -1;
	r = pidfd_of(&fd, pid, start_time, &pgrp, err);
	if (r < 0)
		return r;
	watch_init(p, loop, o);
	p->pidfd = fd;
	p->pid = pid;
	p->start_time = start_time;
	p->adopted = true;
	p->group_leader = pgrp == pid;
	uv_poll_init(loop, &p->poll, fd);
	p->poll.data = p;
	p->open_handles++;
	uv_poll_start(&p->poll, UV_READABLE, on_pidfd);
	return 0;
}

bool sw_proc_running(const struct sw_proc *p)
{
	return p->active && !p->exited && !p->closing;
}

int sw_proc_signal(struct sw_proc *p, int sig)
{
	if (!sw_proc_running(p) || p->pid <= 0)
		return -1;
	if (p->group_leader && kill(-p->pid, sig) == 0)
		return 0;
	/* alone: through the pidfd when we hold one, so that a reused pid
	 * is never hit */
	if (p->pidfd >= 0)
		return syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) == 0 ? 0 : -1;
	return kill(p->pid, sig) == 0 ? 0 : -1;
}

void sw_proc_stop(struct sw_proc *p, int sig, uint64_t grace_ms)
{
	if (!sw_proc_running(p))
		return;
	if (grace_ms == 0) {
		sw_proc_signal(p, SIGKILL);
		return;
	}
	sw_proc_signal(p, sig);
	/* the loop's cached time may be old when this is called outside a
	 * callback; the grace counts from now */
	uv_update_time(p->loop);
	if (uv_is_active((uv_handle_t *)&p->grace) && uv_timer_get_due_in(&p->grace) <= grace_ms)
		return;
	uv_timer_start(&p->grace, on_grace, grace_ms, 0);
}

void sw_proc_close(struct sw_proc *p, sw_proc_close_cb close_cb)
{
	SW_ASSERT(p->active && !p->closing);
	p->closing = true;
	p->close_cb = close_cb;
	uv_timer_stop(&p->grace);
	uv_close((uv_handle_t *)&p->grace, handle_closed);
	if (p->child) {
		uv_close((uv_handle_t *)p->child, child_closed);
		p->child = NULL;
	}
	if (p->adopted) {
		uv_poll_stop(&p->poll);
		uv_close((uv_handle_t *)&p->poll, handle_closed);
	}
}
