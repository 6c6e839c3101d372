/*
 * The `slipway proxy` driver: starts the data plane as its own process and
 * session, adopts the one a previous daemon left (DIR/proxy.pid: "PID
 * START_TIME"), follows it to its successor after a proxy upgrade, and
 * restarts it when it dies.
 *
 * Restart back-off: a proxy that served for RESTART_HEALTHY_MS or more
 * restarts at once and its back-off starts over (every second of delay is
 * a second without service). One that died sooner, and every failed
 * spawn, waits RESTART_MIN_MS doubling to RESTART_MAX_MS: a spawn failure
 * always backs off, whatever the age of the proxy before it, so a missing
 * binary can never become a busy loop. When the binary path on disk cannot
 * be executed (removed, not yet replaced), the data plane is started from
 * /proc/self/exe, the binary this daemon runs, so that it comes back in
 * every case.
 *
 * Crash: the proxy we start gets a SOCK_SEQPACKET channel to us as its
 * stdin (SLIPWAY_PROXY_HOLD_FD=0) and sends a copy of every listening
 * socket it holds, after each change: "S", "L t|m ADDR" + fd per socket,
 * "E". We keep the last full set open. When the proxy dies, the sockets
 * stay open here, so connections that arrive meanwhile wait in the
 * kernel's accept queue; the proxy started next gets the set first ("L"
 * messages then "E") and listens on those sockets instead of binding new
 * ones, and serves what waited. A proxy we adopted (after a daemon
 * restart or upgrade) has lost its channel with the daemon before us: we
 * listen on DIR/serve-hold.sock and ask it (POST /v1/hold) to connect
 * there; the connection, once its peer is checked to be that proxy, is
 * the channel from then on, as if we had started it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/fdpass.h"
#include "traffic_int.h"

#define HOLD_ENV "SLIPWAY_PROXY_HOLD_FD"
#define HOLD_MAX 1024
#define HOLD_SOCK "serve-hold.sock"

#define RESTART_MIN_MS 50
#define RESTART_MAX_MS 5000
#define RESTART_HEALTHY_MS 1000

static void spawn_proxy(struct traffic *t);
static bool adopt_proxy(struct traffic *t);

/* ---- the held listening sockets ---- */

static void held_free(struct traffic_held *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].fd >= 0)
			close(v[i].fd);
		free(v[i].addr);
	}
	free(v);
}

static void on_hold_poll_closed(uv_handle_t *h)
{
	traffic_handle_closed(h->data);
}

static void hold_close(struct traffic *t)
{
	if (t->hold_chan < 0)
		return;
	uv_poll_stop(&t->hold_poll);
	uv_close((uv_handle_t *)&t->hold_poll, on_hold_poll_closed);
	close(t->hold_chan);
	t->hold_chan = -1;
	held_free(t->pending, t->npending);
	t->pending = NULL;
	t->npending = 0;
}

/* What the proxy says: a new set of its listening sockets. */
static void on_hold_readable(uv_poll_t *h, int status, int events)
{
	struct traffic *t = h->data;
	char msg[512];
	(void)events;
	for (;;) {
		int fd = -1;
		ssize_t n = status < 0 ? -1 : sw_fdpass_recv(t->hold_chan, msg, sizeof(msg), &fd, 0);
		if (n == -2)
			return;
		if (n <= 0) {
			/* the proxy exited (or passed the channel on and its
			 * successor did): the set we hold stays */
			hold_close(t);
			return;
		}
		if (msg[0] == 'S') {
			held_free(t->pending, t->npending);
			t->pending = NULL;
			t->npending = 0;
		} else if (msg[0] == 'E') {
			held_free(t->held, t->nheld);
			t->held = t->pending;
			t->nheld = t->npending;
			t->pending = NULL;
			t->npending = 0;
		} else if (strncmp(msg, "L ", 2) == 0 && (msg[2] == 't' || msg[2] == 'm') && msg[3] == ' ' &&
			   fd >= 0 && t->npending < HOLD_MAX) {
			t->pending = xrealloc(t->pending, (t->npending + 1) * sizeof(*t->pending));
			t->pending[t->npending++] = (struct traffic_held){xstrdup(msg + 4), msg[2] == 'm', fd};
			fd = -1;
		}
		if (fd >= 0)
			close(fd);
	}
}

static void hold_open(struct traffic *t, int chan)
{
	t->hold_chan = chan;
	uv_poll_init(t->cfg.loop, &t->hold_poll, chan);
	t->hold_poll.data = t;
	t->handles++;
	uv_poll_start(&t->hold_poll, UV_READABLE, on_hold_readable);
}

/* ---- a channel again, for a proxy we adopted ---- */

static int hold_sock_path(struct traffic *t, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/" HOLD_SOCK, t->state_dir);
	return n > 0 && (size_t)n < sizeof(sa->sun_path) ? 0 : -1;
}

static void hold_ask_end(struct traffic *t)
{
	struct sockaddr_un sa;
	if (!t->hold_asking)
		return;
	t->hold_asking = false;
	if (t->hold_call)
		traffic_cancel(t, t->hold_call);
	t->hold_call = 0;
	close(t->hold_listen);
	t->hold_listen = -1;
	if (hold_sock_path(t, &sa) == 0)
		unlink(sa.sun_path);
}

static void on_hold_answer(json_t *json, const char *error, void *data)
{
	struct traffic *t = data;
	pid_t pid = traffic_proxy_pid(t);
	struct ucred cr = {0};
	socklen_t len = sizeof(cr);
	char why[256] = "";
	int fd = -1;
	(void)json;
	t->hold_call = 0;
	if (t->hold_chan >= 0) {
		/* a proxy we started since has its channel */
		hold_ask_end(t);
		return;
	}
	if (error) {
		snprintf(why, sizeof(why), "%s", error);
	} else if ((fd = accept4(t->hold_listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0) {
		snprintf(why, sizeof(why), "it did not connect: %s", strerror(errno));
	} else if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || !pid || cr.pid != pid) {
		snprintf(why, sizeof(why), "the connection came from pid %d, not the proxy",
			 (int)cr.pid);
		close(fd);
		fd = -1;
	}
	hold_ask_end(t);
	if (fd < 0) {
		sw_warn("cannot hold the listening sockets of slipway proxy (pid %d): %s; a crash of "
			"it refuses connections until it is restarted", (int)pid, why);
		return;
	}
	hold_open(t, fd);
	traffic_event(t, "ProxyHeld",
		      "slipway serve holds the listening sockets of the adopted slipway proxy "
		      "(pid %d) again: connections wait across its crash", (int)pid);
}

/* A proxy adopted after our restart: ask it for a channel (see above). */
static void hold_ask(struct traffic *t)
{
	struct sockaddr_un sa;
	if (t->stopping || !t->proc || t->hold_chan >= 0 || t->hold_asking)
		return;
	if (hold_sock_path(t, &sa) < 0) {
		sw_warn("cannot hold the proxy's listening sockets: \"%s\" is too long for a "
			"unix socket path", t->state_dir);
		return;
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	unlink(sa.sun_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		sw_warn("cannot hold the proxy's listening sockets: \"%s\": %s", sa.sun_path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(sa.sun_path);
		return;
	}
	t->hold_asking = true;
	t->hold_listen = fd;
	t->hold_call = traffic_post(t, "/v1/hold", on_hold_answer, t);
}

void traffic_proxy_release_held(struct traffic *t)
{
	held_free(t->held, t->nheld);
	t->held = NULL;
	t->nheld = 0;
}

pid_t traffic_proxy_pid(const struct traffic *t)
{
	return t->proc ? t->proc->p.pid : 0;
}

static void write_pidfile(struct traffic *t)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp", t->pid_path);
	/* 0600: who runs the data plane is nobody else's business */
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return;
	}
	fprintf(f, "%d %llu\n", (int)t->proc->p.pid, (unsigned long long)t->proc->p.start_time);
	if (fclose(f) == 0)
		rename(tmp, t->pid_path);
	else
		unlink(tmp);
}

static void on_restart(uv_timer_t *timer)
{
	spawn_proxy(timer->data);
}

static void schedule_restart(struct traffic *t, bool spawn_failed)
{
	if (t->stopping)
		return;
	if (!spawn_failed && sw_now_ms() - t->started_ms >= RESTART_HEALTHY_MS)
		t->backoff_ms = 0;
	uint64_t delay = t->backoff_ms;
	if (spawn_failed && delay < RESTART_MIN_MS)
		delay = RESTART_MIN_MS;
	t->backoff_ms = delay ? (delay * 2 > RESTART_MAX_MS ? RESTART_MAX_MS : delay * 2)
			      : RESTART_MIN_MS;
	uv_timer_start(&t->restart, on_restart, delay, 0);
}

static void proc_closed(struct sw_proc *p)
{
	free(p->data);
}

static void on_proxy_exit(struct sw_proc *p, const struct sw_proc_exit *how)
{
	struct traffic_proc *tp = p->data;
	struct traffic *t = tp->t;
	pid_t old = tp->pid;
	char reason[96];

	sw_strlcpy(reason, how->reason, sizeof(reason));
	if (t->proc == tp)
		t->proc = NULL;
	sw_proc_close(p, proc_closed);
	if (t->stopping)
		return;
	hold_ask_end(t);
	/* a set it sent just before it died is still in the channel */
	if (t->hold_chan >= 0)
		on_hold_readable(&t->hold_poll, 0, UV_READABLE);
	/* An upgraded proxy hands over to its successor, which writes the
	 * pid file before the old one exits: follow it instead of starting
	 * one. */
	if (adopt_proxy(t)) {
		traffic_event(t, "ProxyReplaced",
			      "slipway proxy (pid %d) %s; its successor (pid %d) took over", (int)old,
			      reason, (int)traffic_proxy_pid(t));
		traffic_handover(t);
		/* it got our channel from its predecessor, if there was one */
		hold_ask(t);
		return;
	}
	traffic_event(t, "ProxyExited", "slipway proxy (pid %d) %s; restarting", (int)old, reason);
	traffic_handover(t);
	schedule_restart(t, false);
}

static struct traffic_proc *proc_new(struct traffic *t, struct sw_proc_options *o)
{
	struct traffic_proc *tp = xcalloc(1, sizeof(*tp));
	tp->t = t;
	o->on_exit = on_proxy_exit;
	o->data = tp;
	return tp;
}

/* Adopts the proxy DIR/proxy.pid names if it is still the process that
 * was recorded (sw_proc_adopt opens the pidfd first and compares the start
 * time after, so a reused pid is never adopted). */
static bool adopt_proxy(struct traffic *t)
{
	struct sw_proc_options o = {0};
	struct sw_err err = {0};
	int pid = 0;
	unsigned long long st = 0;
	FILE *f = fopen(t->pid_path, "re");
	if (!f)
		return false;
	bool ok = fscanf(f, "%d %llu", &pid, &st) == 2;
	fclose(f);
	if (!ok || pid <= 1 || st == 0 || pid == t->last_pid)
		return false;
	struct traffic_proc *tp = proc_new(t, &o);
	if (sw_proc_adopt(&tp->p, t->cfg.loop, pid, st, &o, &err) < 0) {
		free(tp);
		return false;
	}
	tp->pid = pid;
	t->proc = tp;
	t->last_pid = pid;
	t->started_ms = sw_now_ms();
	traffic_event(t, "ProxyAdopted", "slipway proxy (pid %d) adopted", pid);
	return true;
}

static int spawn_from(struct traffic *t, const char *exe, struct sw_err *err)
{
	char *argv[14], workers[24], mc[32];
	size_t k = 0;
	struct sw_proc_options o = {.stdin_fd = -1};
	argv[k++] = (char *)exe;
	argv[k++] = "proxy";
	argv[k++] = "--state-dir";
	argv[k++] = t->state_dir;
	if (t->metrics_addr) {
		argv[k++] = "--metrics";
		argv[k++] = t->metrics_addr;
	}
	if (t->access_log) {
		argv[k++] = "--access-log";
		argv[k++] = t->access_log;
	}
	if (t->cfg.proxy_workers > 1) {
		snprintf(workers, sizeof(workers), "%d", t->cfg.proxy_workers);
		argv[k++] = "--workers";
		argv[k++] = workers;
	}
	if (t->cfg.proxy_max_conns > 0) {
		snprintf(mc, sizeof(mc), "%lld", t->cfg.proxy_max_conns);
		argv[k++] = "--max-conns";
		argv[k++] = mc;
	}
	argv[k] = NULL;
	o.argv = argv;

	/* the channel for the held sockets, as its stdin; the sockets we hold
	 * are queued in it before the proxy starts */
	int sv[2] = {-1, -1};
	char **env = NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
		fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
		for (size_t i = 0; i <= t->nheld; i++) {
			char m[512];
			if (i < t->nheld)
				snprintf(m, sizeof(m), "L %c %s", t->held[i].metrics ? 'm' : 't', t->held[i].addr);
			else
				snprintf(m, sizeof(m), "E");
			if (sw_fdpass_send(sv[0], m, i < t->nheld ? t->held[i].fd : -1) < 0) {
				sw_warn("cannot pass the held listener %s to the proxy: %s",
					i < t->nheld ? t->held[i].addr : "(end)", strerror(errno));
				break;
			}
		}
		size_t n = 0;
		while (environ[n])
			n++;
		env = xcalloc(n + 2, sizeof(*env));
		size_t e = 0;
		for (size_t i = 0; i < n; i++)
			if (strncmp(environ[i], HOLD_ENV "=", sizeof(HOLD_ENV)) != 0)
				env[e++] = environ[i];
		env[e++] = HOLD_ENV "=0";
		o.env = env;
		o.stdin_fd = sv[1];
	}
	int logfd = open(t->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	o.stdout_fd = o.stderr_fd = logfd;
	struct traffic_proc *tp = proc_new(t, &o);
	int r = sw_proc_spawn(&tp->p, t->cfg.loop, &o, err);
	if (logfd >= 0)
		close(logfd);
	free(env);
	if (sv[1] >= 0)
		close(sv[1]);
	if (r < 0) {
		if (sv[0] >= 0)
			close(sv[0]);
		free(tp);
		return -1;
	}
	hold_close(t);
	if (sv[0] >= 0)
		hold_open(t, sv[0]);
	tp->pid = tp->p.pid;
	t->proc = tp;
	t->last_pid = tp->pid;
	return 0;
}

static void spawn_proxy(struct traffic *t)
{
	char exe[PATH_MAX];
	struct sw_err err = {0}, err2 = {0};
	bool fallback = false;

	if (t->stopping || t->proc)
		return;
	if (sw_proc_self_exe(exe, sizeof(exe), &err) < 0 || spawn_from(t, exe, &err) < 0) {
		/* the binary on disk is gone or broken: the one we run is
		 * still there for the kernel */
		if (spawn_from(t, "/proc/self/exe", &err2) < 0) {
			sw_warn("cannot start slipway proxy: %s; again in %llu ms", err.msg,
				(unsigned long long)(t->backoff_ms > RESTART_MIN_MS ? t->backoff_ms
										 : RESTART_MIN_MS));
			schedule_restart(t, true);
			return;
		}
		fallback = true;
	}
	t->started_ms = sw_now_ms();
	write_pidfile(t);
	traffic_event(t, "ProxyStarted", "slipway proxy started (pid %d)%s%s", (int)t->last_pid,
		      fallback ? " from the running binary: " : "", fallback ? err.msg : "");
	traffic_handover(t);
}

void traffic_proxy_start(struct traffic *t)
{
	if (!adopt_proxy(t)) {
		spawn_proxy(t);
		return;
	}
	traffic_handover(t);
	hold_ask(t);
}

void traffic_proxy_stop(struct traffic *t, bool keep_running)
{
	uv_timer_stop(&t->restart);
	hold_ask_end(t);
	/* a proxy left running keeps its own sockets; one we stop must not
	 * leave its addresses accepting into queues nobody serves */
	hold_close(t);
	traffic_proxy_release_held(t);
	if (!t->proc)
		return;
	if (!keep_running)
		sw_proc_signal(&t->proc->p, SIGTERM);
	sw_proc_close(&t->proc->p, proc_closed);
	t->proc = NULL;
}
