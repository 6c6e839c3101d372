/*
 * `slipway proxy`: the data plane process. One event loop holds the proxy
 * engine and its control socket (the api module's server on
 * DIR/proxy.sock), where the control plane pushes route tables and reads
 * metrics. The last accepted table is saved to DIR/proxy-table.json and
 * served again after a restart, so traffic keeps flowing while the
 * control plane is away. DIR/proxy.lock (flock) keeps it to one proxy per
 * state dir.
 *
 * `--workers N` runs N engines, each on its own event loop and thread:
 * worker 0 is the main loop's (ctl->p, beside the control socket), the
 * others run in threads and share worker 0's listening sockets (each
 * holds a dup of every table listener and accepts from it) and its
 * metrics object. The main thread reaches another worker only through
 * worker_call, which runs a function on that worker's loop and waits for
 * it: table pushes go to every worker, stats sum over them.
 */
#include "proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "http/http.h"
#include "core/fdpass.h"
#include "core/paths.h"
#include "core/proc.h"

#define DRAIN_MAX_MS 10000
#define DRAIN_POLL_MS 50
#define CONTROL_MAX_BODY (16u * 1024 * 1024)
#define UPGRADE_READY_MS 5000   /* the new proxy must be ready within */
#define UPGRADE_LOCK_MS 2000    /* waiting for the lock or the socket path */
#define UPGRADE_EXIT_MS 1000    /* for its exit status once it closed the channel */
#define UPGRADE_ENV "SLIPWAY_PROXY_UPGRADE_FD"
#define UPGRADE_EXE_ENV "SLIPWAY_UPGRADE_EXE"
#define HOLD_ENV "SLIPWAY_PROXY_HOLD_FD"
#define HOLD_RECV_MS 1000       /* for the held sockets, queued before we started */
#define UPGRADE_MAX_LISTENS 1024
#define MAX_WORKERS 64

enum upg_state {
	UPG_IDLE,     /* no upgrade running */
	UPG_STARTING, /* new process spawned, listeners sent; waiting for "P" */
	UPG_HANDOVER, /* control socket and lock given up; waiting for "R" */
	UPG_DONE,     /* the new proxy serves; this one drains and exits */
};

/* The old proxy's side of an upgrade (see "Upgrade" in proxy.md). */
struct upgrade {
	enum upg_state state;
	uv_process_t proc;
	bool proc_open;       /* proc initialised and its close not done */
	bool child_alive;
	pid_t pid;
	int chan;             /* our end of the SOCK_SEQPACKET pair, or -1 */
	uv_poll_t poll;
	bool poll_open;
	uv_timer_t timer;     /* UPGRADE_READY_MS deadline */
	char *last_error;
};

/* A worker other than worker 0: its loop runs in its own thread. */
struct worker {
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t wake;             /* worker_call's doorbell */
	uv_mutex_t mu;
	uv_cond_t cv;
	struct proxy *p;
	void (*fn)(struct worker *w, void *arg); /* the call to run, under mu */
	void *arg;
	bool done;
	bool running;                /* the thread was started and not joined */
};

struct ctl {
	uv_loop_t loop;
	struct proxy *p;              /* worker 0 */
	struct worker *w;             /* workers 1..nw */
	size_t nw;
	struct proxy_group *group;    /* the workers', when there are several */
	struct http_server *api;
	char *dir;
	char *table_path;
	uv_signal_t sigterm, sigint;
	uv_timer_t drain;
	uv_timer_t gc;                /* forgets metrics of revisions gone from the table */
	struct gone {
		char *app;
		int64_t revision;
		uint64_t since_ms;
	} *gone;
	size_t ngone;
	uint64_t drain_start_ms;
	bool stopping;
	int lock_fd;
	const struct proxy_main_options *opt;
	uv_signal_t sigusr2;
	struct upgrade upg;
	int hold;                     /* channel to `slipway serve`, which holds our
				       * listening sockets across a crash; or -1 */
	char *sock_path;              /* DIR/proxy.sock */
	ino_t sock_ino;               /* of the socket renamed onto sock_path, or 0 */
};

static int64_t table_version(const struct proxy *p)
{
	const struct table *t = proxy_table(p);
	return t ? t->version : 0;
}

static size_t table_nlistens(const struct proxy *p)
{
	const struct table *t = proxy_table(p);
	const char *addrs[1024];
	return t ? table_listens(t, addrs, 1024) : 0;
}

/* Writes the file so that a crash leaves the old one or the new one:
 * temporary file, fsync, rename, fsync of the directory. */
static int write_atomic(const char *dir, const char *path, const char *data, size_t len,
			struct sw_err *err)
{
	struct buf tmp = BUF_INIT;
	int fd = -1, ret = -1;
	buf_addf(&tmp, "%s.tmp", path);
	fd = open(buf_str(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		sw_errf(err, -1, "cannot write %s: %s", buf_str(&tmp), strerror(errno));
		goto out;
	}
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sw_errf(err, -1, "cannot write %s: %s", buf_str(&tmp), strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		sw_errf(err, -1, "cannot sync %s: %s", buf_str(&tmp), strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(buf_str(&tmp), path) < 0) {
		sw_errf(err, -1, "cannot rename %s to %s: %s", buf_str(&tmp), path, strerror(errno));
		goto out;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		fsync(fd);
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		unlink(buf_str(&tmp));
	buf_release(&tmp);
	return ret;
}

/* ------------------------------------------------------------------ */
/* workers                                                             */

static void on_worker_wake(uv_async_t *a)
{
	struct worker *w = a->data;
	uv_mutex_lock(&w->mu);
	void (*fn)(struct worker *, void *) = w->fn;
	void *arg = w->arg;
	w->fn = NULL;
	uv_mutex_unlock(&w->mu);
	if (!fn)
		return;
	fn(w, arg);
	uv_mutex_lock(&w->mu);
	w->done = true;
	uv_cond_signal(&w->cv);
	uv_mutex_unlock(&w->mu);
}

/* Runs fn(w, arg) on w's loop and returns when it ran. The worker never
 * waits for the main thread, so this cannot deadlock; its loop only runs
 * short callbacks, so the wait is short. */
static void worker_call(struct worker *w, void (*fn)(struct worker *, void *), void *arg)
{
	uv_mutex_lock(&w->mu);
	w->fn = fn;
	w->arg = arg;
	w->done = false;
	uv_mutex_unlock(&w->mu);
	uv_async_send(&w->wake);
	uv_mutex_lock(&w->mu);
	while (!w->done)
		uv_cond_wait(&w->cv, &w->mu);
	uv_mutex_unlock(&w->mu);
}

static void worker_main(void *arg)
{
	struct worker *w = arg;
	uv_run(&w->loop, UV_RUN_DEFAULT);
}

struct worker_table {
	struct table *t;
	const struct proxy_listen_fd *fds; /* worker 0's table listeners */
	size_t nfds;
	struct sw_err err;
	int r;
};

static void w_set_table(struct worker *w, void *arg)
{
	struct worker_table *a = arg;
	/* the same sockets as worker 0: a listener this worker opens for an
	 * address takes the dup instead of binding its own */
	for (size_t i = 0; i < a->nfds; i++) {
		int fd = fcntl(a->fds[i].fd, F_DUPFD_CLOEXEC, 3);
		if (fd >= 0)
			proxy_inherit_fd(w->p, a->fds[i].addr, false, fd);
	}
	a->r = proxy_set_table(w->p, a->t, &a->err);
	proxy_inherit_done(w->p);
}

/*
 * Installs the table j (already validated by the caller's table_from_json
 * into t, which this takes) on worker 0, then on every other worker.
 * Returns 0, or -1 with err when worker 0 cannot open a listener (nothing
 * changed). A worker other than 0 that fails (it only adopts worker 0's
 * sockets, so only memory could make it) keeps its table and is logged.
 */
static int set_table_all(struct ctl *ctl, struct table *t, const json_t *j, struct sw_err *err)
{
	if (proxy_set_table(ctl->p, t, err) < 0)
		return -1;
	if (!ctl->nw)
		return 0;
	struct proxy_listen_fd *fds = xcalloc(UPGRADE_MAX_LISTENS, sizeof(*fds));
	size_t n = proxy_listen_fds(ctl->p, fds, UPGRADE_MAX_LISTENS), k = 0;
	if (n > UPGRADE_MAX_LISTENS)
		n = UPGRADE_MAX_LISTENS;
	for (size_t i = 0; i < n; i++)
		if (!fds[i].metrics)
			fds[k++] = fds[i];
	for (size_t i = 0; i < ctl->nw; i++) {
		struct worker_table a = {.fds = fds, .nfds = k};
		if (table_from_json(&a.t, j, &a.err) == 0)
			worker_call(&ctl->w[i], w_set_table, &a);
		else
			a.r = -1;
		if (a.r < 0)
			sw_warn("worker %zu keeps its route table: %s", i + 1, a.err.msg);
	}
	free(fds);
	return 0;
}

struct worker_count {
	size_t active, open;
	json_t *backends;
	json_t *workers;  /* with backends: [{"open": N}, ...], worker 0 first */
};

static void w_count(struct worker *w, void *arg)
{
	struct worker_count *a = arg;
	a->active += proxy_active_conns(w->p);
	a->open += proxy_open_conns(w->p);
	if (a->workers)
		json_array_append_new(a->workers, json_pack("{s:I}", "open", (json_int_t)proxy_open_conns(w->p)));
	if (a->backends) {
		/* sums this worker's counts into the answer */
		json_t *mine = proxy_backends_json(w->p), *v;
		const char *id;
		json_object_foreach(mine, id, v) {
			json_t *have = json_object_get(a->backends, id);
			if (!have) {
				json_object_set(a->backends, id, v);
				continue;
			}
			static const char *const keys[] = {"inflight", "conns"};
			for (size_t i = 0; i < 2; i++)
				json_object_set_new(have, keys[i],
						    json_integer(json_integer_value(json_object_get(have, keys[i])) +
								 json_integer_value(json_object_get(v, keys[i]))));
			if (json_is_true(json_object_get(v, "inTable")))
				json_object_set_new(have, "inTable", json_true());
		}
		json_decref(mine);
	}
}

/* Connections of every worker; backends (when wanted) summed over them. */
static struct worker_count count_all(struct ctl *ctl, bool backends)
{
	struct worker_count a = {proxy_active_conns(ctl->p), proxy_open_conns(ctl->p),
				 backends ? proxy_backends_json(ctl->p) : NULL,
				 backends ? json_pack("[{s:I}]", "open", (json_int_t)proxy_open_conns(ctl->p)) : NULL};
	for (size_t i = 0; i < ctl->nw; i++)
		worker_call(&ctl->w[i], w_count, &a);
	return a;
}

static void w_drain(struct worker *w, void *arg)
{
	(void)arg;
	proxy_drain(w->p);
}

static void w_free(struct worker *w, void *arg)
{
	(void)arg;
	proxy_free(w->p);
	w->p = NULL;
	uv_close((uv_handle_t *)&w->wake, NULL);
}

/* Makes workers 1..n-1 and starts their threads. */
static int workers_start(struct ctl *ctl, size_t n, const struct proxy_config *base, struct sw_err *err)
{
	ctl->w = xcalloc(n ? n : 1, sizeof(*ctl->w));
	for (size_t i = 0; i + 1 < n; i++) {
		struct worker *w = &ctl->w[i];
		if (uv_loop_init(&w->loop) < 0)
			return sw_errf(err, -1, "worker %zu: cannot make its event loop", i + 1);
		struct proxy_config pc = *base;
		pc.loop = &w->loop;
		pc.metrics = proxy_metrics(ctl->p);
		if (proxy_new(&w->p, &pc, err) < 0) {
			uv_loop_close(&w->loop);
			return -1;
		}
		uv_mutex_init(&w->mu);
		uv_cond_init(&w->cv);
		uv_async_init(&w->loop, &w->wake, on_worker_wake);
		w->wake.data = w;
		ctl->nw++;
		if (uv_thread_create(&w->thread, worker_main, w) != 0) {
			proxy_free(w->p);
			uv_close((uv_handle_t *)&w->wake, NULL);
			uv_run(&w->loop, UV_RUN_DEFAULT);
			uv_loop_close(&w->loop);
			ctl->nw--;
			return sw_errf(err, -1, "worker %zu: cannot start its thread", i + 1);
		}
		w->running = true;
	}
	return 0;
}

static void workers_stop(struct ctl *ctl)
{
	for (size_t i = 0; i < ctl->nw; i++) {
		struct worker *w = &ctl->w[i];
		if (!w->running)
			continue;
		worker_call(w, w_free, NULL);
		uv_thread_join(&w->thread);
		w->running = false;
		if (uv_loop_close(&w->loop) != 0)
			sw_warn("worker %zu: event loop closed with handles open", i + 1);
		uv_mutex_destroy(&w->mu);
		uv_cond_destroy(&w->cv);
	}
	free(ctl->w);
	ctl->w = NULL;
	ctl->nw = 0;
}

/* ------------------------------------------------------------------ */
/* the sockets `slipway serve` holds for us                            */

/*
 * Sends serve a copy of every listening socket ("S", "L t|m ADDR" + fd
 * each, "E"), after each change of them: if this process dies, serve
 * keeps them open (connections wait in their queues) and hands them to
 * the proxy it starts next. The channel never blocks us: a set that does
 * not fit is dropped (the next one, whole, replaces it); a channel that
 * failed is closed.
 */
static void hold_send(struct ctl *ctl)
{
	if (ctl->hold < 0 || !ctl->p)
		return;
	struct proxy_listen_fd *fds = xcalloc(UPGRADE_MAX_LISTENS, sizeof(*fds));
	size_t n = proxy_listen_fds(ctl->p, fds, UPGRADE_MAX_LISTENS);
	if (n > UPGRADE_MAX_LISTENS)
		n = UPGRADE_MAX_LISTENS;
	int r = sw_fdpass_send(ctl->hold, "S", -1);
	for (size_t i = 0; i < n && r == 0; i++) {
		struct buf m = BUF_INIT;
		buf_addf(&m, "L %c %s", fds[i].metrics ? 'm' : 't', fds[i].addr);
		r = sw_fdpass_send(ctl->hold, buf_str(&m), fds[i].fd);
		buf_release(&m);
	}
	if (r == 0)
		r = sw_fdpass_send(ctl->hold, "E", -1);
	if (r < 0 && errno != EAGAIN) {
		sw_warn("slipway serve no longer holds our listeners: %s", strerror(errno));
		close(ctl->hold);
		ctl->hold = -1;
	}
	free(fds);
}

/* The sockets serve held for the proxy before us: "L ..." + fd, then
 * "E"; the listeners opened next take them (proxy_inherit_fd). */
static void hold_receive(struct ctl *ctl)
{
	char msg[512];
	size_t n = 0;
	for (;;) {
		int fd;
		ssize_t r = sw_fdpass_recv(ctl->hold, msg, sizeof(msg), &fd, HOLD_RECV_MS);
		if (r <= 0 || msg[0] == 'E') {
			if (fd >= 0)
				close(fd);
			break;
		}
		if (strncmp(msg, "L ", 2) == 0 && (msg[2] == 't' || msg[2] == 'm') && msg[3] == ' ' && fd >= 0) {
			proxy_inherit_fd(ctl->p, msg + 4, msg[2] == 'm', fd);
			n++;
		} else if (fd >= 0) {
			close(fd);
		}
	}
	if (n)
		sw_info("serving on %zu listening sockets slipway serve held", n);
}

/*
 * POST /v1/hold: `slipway serve` adopted us after a restart and asks for
 * the channel again. It listens on DIR/serve-hold.sock (SOCK_SEQPACKET);
 * we connect (a unix connect is done at once, the answer follows it), make
 * that our channel and send our set on it. Only our state dir's path is
 * ever connected to; serve checks that the peer is our pid.
 */
static void h_hold(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct ctl *ctl = data;
	struct buf path = BUF_INIT;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = -1;
	(void)req;
	if (ctl->stopping || ctl->upg.state != UPG_IDLE) {
		http_resp_error(resp, 409, "the proxy is %s", ctl->stopping ? "stopping" : "upgrading");
		goto out;
	}
	buf_addf(&path, "%s/serve-hold.sock", ctl->dir);
	if (path.len >= sizeof(sa.sun_path)) {
		http_resp_error(resp, 500, "\"%s\" is too long for a unix socket path", buf_str(&path));
		goto out;
	}
	memcpy(sa.sun_path, path.s, path.len + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		http_resp_error(resp, 409, "cannot connect to \"%s\": %s", buf_str(&path), strerror(errno));
		goto out;
	}
	if (ctl->hold >= 0)
		close(ctl->hold);
	ctl->hold = fd;
	fd = -1;
	hold_send(ctl);
	if (ctl->hold < 0) {
		http_resp_error(resp, 500, "cannot send our listening sockets to slipway serve");
		goto out;
	}
	sw_info("slipway serve holds our listening sockets again");
	http_resp_json(resp, 200, json_pack("{s:I}", "listeners", (json_int_t)table_nlistens(ctl->p)));
out:
	if (fd >= 0)
		close(fd);
	buf_release(&path);
}

/* ------------------------------------------------------------------ */
/* control socket handlers                                             */

static void h_put_table(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct ctl *ctl = data;
	struct sw_err err = {0};
	json_error_t je;
	struct table *t = NULL;
	json_t *j = json_loadb(req->body, req->body_len, 0, &je);
	if (!j) {
		http_resp_error(resp, 400, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
		return;
	}
	if (ctl->stopping) {
		http_resp_error(resp, 503, "the proxy is stopping");
		goto out;
	}
	if (table_from_json(&t, j, &err) < 0) {
		http_resp_error(resp, 422, "%s", err.msg);
		goto out;
	}
	if (set_table_all(ctl, t, j, &err) < 0) {
		http_resp_error(resp, 409, "%s", err.msg);
		goto out;
	}
	bool saved = true;
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text || write_atomic(ctl->dir, ctl->table_path, text, strlen(text), &err) < 0) {
		/* it serves; only a restart before the next push loses it */
		sw_warn("route table version %lld installed but not saved: %s",
			(long long)table_version(ctl->p), err.msg);
		saved = false;
	}
	free(text);
	hold_send(ctl);
	http_resp_json(resp, 200, json_pack("{s:I, s:I, s:b}", "version", (json_int_t)table_version(ctl->p),
					   "listeners", (json_int_t)table_nlistens(ctl->p), "saved", saved));
out:
	json_decref(j);
}

static void h_get_table(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct ctl *ctl = data;
	const struct table *t = proxy_table(ctl->p);
	(void)req;
	http_resp_json(resp, 200, t ? table_to_json(t) : json_pack("{s:i, s:[]}", "version", 0, "routes"));
}

static void h_stats(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct ctl *ctl = data;
	const char *w = http_req_query(req, "window");
	unsigned seconds = 10;
	if (w) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(w, &end, 10);
		if (!*w || *end || errno || v < 1 || v > METRICS_WINDOW_SECONDS) {
			http_resp_error(resp, 400, "window must be 1..%d seconds, got \"%s\"", METRICS_WINDOW_SECONDS, w);
			return;
		}
		seconds = (unsigned)v;
	}
	json_t *j = metrics_json(proxy_metrics(ctl->p), seconds, sw_now_ms());
	if (!j)
		j = json_object();
	struct worker_count all = count_all(ctl, true);
	json_object_set_new(j, "backends", all.backends);
	json_object_set_new(j, "workers", all.workers);
	http_resp_json(resp, 200, j);
}

/* GET /v1/samples?app=A&revision=N&window=S: the raw latencies (ms) and
 * per-second error rates of one revision, for the statistical judge, with
 * the window's request and error (5xx and proxy error) counts. */
static void h_samples(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct ctl *ctl = data;
	const char *app = http_req_query(req, "app");
	char *app_name = app ? xstrdup(app) : NULL;
	const char *rv = http_req_query(req, "revision");
	long long rev = rv ? strtoll(rv, NULL, 10) : 0;
	const char *w = http_req_query(req, "window");
	long seconds = w ? strtol(w, NULL, 10) : 30;
	if (!app_name || rev < 1) {
		free(app_name);
		http_resp_error(resp, 400, "app and revision are required");
		return;
	}
	if (seconds < 1 || seconds > METRICS_WINDOW_SECONDS)
		seconds = 30;
	size_t max = (size_t)seconds * METRICS_SAMPLES_PER_SLOT;
	double *v = xcalloc(max + 1, sizeof(double));
	uint64_t now = sw_now_ms();
	size_t n = metrics_samples(proxy_metrics(ctl->p), app_name, rev, (unsigned)seconds, now, v, max);
	json_t *lat = json_array(), *errs = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(lat, json_real(v[i]));
	n = metrics_error_series(proxy_metrics(ctl->p), app_name, rev, (unsigned)seconds, now, v, max);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(errs, json_real(v[i]));
	struct metrics_window win;
	metrics_window(proxy_metrics(ctl->p), app_name, rev, (unsigned)seconds, now, &win);
	free(v);
	free(app_name);
	/* the window's counts, for judging error rates as counts */
	json_int_t errors = (json_int_t)(win.by_class[METRICS_5XX] + win.by_class[METRICS_PROXY_ERR]);
	http_resp_json(resp, 200, json_pack("{s:o, s:o, s:I, s:I}", "latencies", lat, "errorRates", errs,
					    "requests", (json_int_t)win.requests, "errors", errors));
}

static void h_metrics(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct ctl *ctl = data;
	(void)req;
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	buf_reset(&resp->body);
	metrics_prometheus(proxy_metrics(ctl->p), &resp->body);
}

static void h_version(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct ctl *ctl = data;
	(void)req;
	http_resp_json(resp, 200, json_pack("{s:s, s:i, s:I}", "version", SLIPWAY_VERSION, "pid", (int)getpid(),
					   "tableVersion", (json_int_t)table_version(ctl->p)));
}

/* ------------------------------------------------------------------ */
/* start and stop                                                      */

/* One proxy per state dir: an exclusive flock held for the process's
 * life; the file names the holder's pid. */
static int take_lock(struct ctl *ctl, struct sw_err *err)
{
	struct buf path = BUF_INIT;
	char pidtext[32];
	int ret = -1;
	buf_addf(&path, "%s/proxy.lock", ctl->dir);
	int fd = open(buf_str(&path), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		sw_errf(err, -1, "cannot open %s: %s", buf_str(&path), strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		ssize_t n = pread(fd, pidtext, sizeof(pidtext) - 1, 0);
		pidtext[n > 0 ? n : 0] = '\0';
		pidtext[strcspn(pidtext, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			sw_errf(err, SW_EBUSY, "another slipway proxy (pid %s) serves %s",
				pidtext[0] ? pidtext : "unknown", ctl->dir);
		else
			sw_errf(err, -1, "cannot lock %s: %s", buf_str(&path), strerror(e));
		close(fd);
		goto out;
	}
	int n = snprintf(pidtext, sizeof(pidtext), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pidtext, (size_t)n, 0) != n)
		sw_warn("cannot write my pid to %s: %s", buf_str(&path), strerror(errno));
	ctl->lock_fd = fd;
	ret = 0;
out:
	buf_release(&path);
	return ret;
}

/* Serves the saved table again; a file that cannot be used is reported
 * and left alone (the control plane sends a new one). */
static int load_saved_table(struct ctl *ctl, struct sw_err *err)
{
	json_error_t je;
	struct table *t = NULL;
	int ret = 0;
	if (access(ctl->table_path, F_OK) < 0)
		return 0;
	json_t *j = json_load_file(ctl->table_path, 0, &je);
	if (!j) {
		sw_warn("ignoring %s: invalid JSON at line %d column %d: %s", ctl->table_path, je.line, je.column,
			je.text);
		return sw_errf(err, -1, "%s: invalid JSON at line %d column %d: %s", ctl->table_path, je.line,
			       je.column, je.text);
	}
	if (table_from_json(&t, j, err) < 0 || set_table_all(ctl, t, j, err) < 0) {
		sw_warn("ignoring %s: %s", ctl->table_path, err->msg);
		ret = -1;
	}
	json_decref(j);
	return ret;
}

static void on_handle_closed(uv_handle_t *h)
{
	(void)h;
}

#define GC_PERIOD_MS 30000
#define GC_GRACE_MS (10 * 60 * 1000)

static bool in_table(const struct table *t, const char *app, int64_t revision)
{
	for (size_t i = 0; t && i < t->nroutes; i++)
		if (strcmp(t->routes[i].app, app) == 0)
			for (size_t k = 0; k < t->routes[i].ngroups; k++)
				if (t->routes[i].groups[k].revision == revision)
					return true;
	return false;
}

/*
 * Metric series are about 127 KiB each: a revision that left the table
 * keeps its series for GC_GRACE_MS (so `slipway analysis` and status can
 * still read a finished rollout's windows), then it is forgotten.
 */
static void on_gc(uv_timer_t *t)
{
	struct ctl *ctl = t->data;
	uint64_t now = sw_now_ms();
	json_t *all = metrics_json(proxy_metrics(ctl->p), 1, now);
	const struct table *table = proxy_table(ctl->p);
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(all, "series"), i, s) {
		const char *app = json_string_value(json_object_get(s, "app"));
		int64_t rev = json_integer_value(json_object_get(s, "revision"));
		if (!app || rev < 1 || in_table(table, app, rev))
			continue;
		size_t k = 0;
		while (k < ctl->ngone && !(ctl->gone[k].revision == rev && strcmp(ctl->gone[k].app, app) == 0))
			k++;
		if (k == ctl->ngone) {
			ctl->gone = xrealloc(ctl->gone, (ctl->ngone + 1) * sizeof(*ctl->gone));
			ctl->gone[ctl->ngone++] = (struct gone){xstrdup(app), rev, now};
		} else if (now - ctl->gone[k].since_ms > GC_GRACE_MS) {
			metrics_forget(proxy_metrics(ctl->p), app, rev);
		}
	}
	/* drop entries that came back or were forgotten */
	for (size_t k = 0; k < ctl->ngone;) {
		bool keep = !in_table(table, ctl->gone[k].app, ctl->gone[k].revision) &&
			    now - ctl->gone[k].since_ms <= GC_GRACE_MS;
		if (keep) {
			k++;
			continue;
		}
		free(ctl->gone[k].app);
		ctl->gone[k] = ctl->gone[--ctl->ngone];
	}
	json_decref(all);
}

/* ------------------------------------------------------------------ */
/* upgrade                                                             */

/* DIR/proxy.pid as `slipway serve` reads it: "PID STARTTIME\n", written
 * through a temporary file of its own (serve uses proxy.pid.tmp). */
static int write_pidfile(struct ctl *ctl, struct sw_err *err)
{
	struct buf path = BUF_INIT, tmp = BUF_INIT;
	int ret = -1;
	buf_addf(&path, "%s/proxy.pid", ctl->dir);
	buf_addf(&tmp, "%s/proxy.pid.%d", ctl->dir, (int)getpid());
	FILE *f = fopen(buf_str(&tmp), "we");
	if (!f) {
		sw_errf(err, -1, "cannot write %s: %s", buf_str(&tmp), strerror(errno));
		goto out;
	}
	fprintf(f, "%d %llu\n", (int)getpid(), (unsigned long long)sw_proc_start_time(getpid()));
	if (fclose(f) != 0 || rename(buf_str(&tmp), buf_str(&path)) < 0) {
		sw_errf(err, -1, "cannot write %s: %s", buf_str(&path), strerror(errno));
		unlink(buf_str(&tmp));
		goto out;
	}
	ret = 0;
out:
	buf_release(&path);
	buf_release(&tmp);
	return ret;
}

/* Messages on the upgrade channel (core/fdpass): short text with at most
 * one fd: "L t ADDR" / "L m ADDR" (with the listener's fd), "H" (with the
 * channel to `slipway serve`, see hold below), "E" (no more listeners),
 * "P" (prepared), "G" (go: take over), "R" (ready), "F REASON" (failed). */

/* The binary now on disk: /proc/self/exe names the one this process
 * runs, with " (deleted)" when it was replaced since. */
static int upgrade_exe(char *out, size_t size, struct sw_err *err)
{
	const char *hook = getenv(UPGRADE_EXE_ENV);
	if (hook && *hook) {
		if (sw_strlcpy(out, hook, size) >= size)
			return sw_errf(err, -1, "%s is too long", UPGRADE_EXE_ENV);
		return 0;
	}
	return sw_proc_self_exe(out, size, err);
}

static void setup_routes(struct ctl *ctl);
static int open_control(struct ctl *ctl, const char *path, struct sw_err *err);
static void begin_stop(struct ctl *ctl);

static void on_upg_poll_closed(uv_handle_t *h)
{
	struct ctl *ctl = h->data;
	ctl->upg.poll_open = false;
}

static void on_upg_proc_closed(uv_handle_t *h)
{
	struct ctl *ctl = h->data;
	ctl->upg.proc_open = false;
}

static void upgrade_close_chan(struct ctl *ctl)
{
	struct upgrade *u = &ctl->upg;
	uv_timer_stop(&u->timer);
	if (u->poll_open && !uv_is_closing((uv_handle_t *)&u->poll))
		uv_close((uv_handle_t *)&u->poll, on_upg_poll_closed);
	if (u->chan >= 0)
		close(u->chan);
	u->chan = -1;
}

/* Takes the lock and the control socket back after a failed handover:
 * the new process is dead or dying (SIGKILL), so both come free within a
 * few ms; this waits at most UPGRADE_LOCK_MS for them. */
static void upgrade_reclaim(struct ctl *ctl)
{
	struct sw_err err = {0};
	uint64_t deadline = sw_now_ms() + UPGRADE_LOCK_MS;
	struct timespec pause = {0, 5 * 1000 * 1000};
	int r;
	while ((r = take_lock(ctl, &err)) < 0 && sw_now_ms() < deadline)
		nanosleep(&pause, NULL);
	if (r < 0)
		sw_error("cannot take %s/proxy.lock back: %s", ctl->dir, err.msg);
	while ((r = open_control(ctl, ctl->sock_path, &err)) < 0 && sw_now_ms() < deadline)
		nanosleep(&pause, NULL);
	if (r < 0)
		sw_error("cannot serve %s again: %s", ctl->sock_path, err.msg);
	if (write_pidfile(ctl, &err) < 0)
		sw_error("cannot write my pid back to %s/proxy.pid: %s", ctl->dir, err.msg);
}

/* Gives up the upgrade: the new process is killed and this one goes on
 * serving as if nothing happened. */
static void upgrade_abort(struct ctl *ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void upgrade_abort(struct ctl *ctl, const char *fmt, ...)
{
	struct upgrade *u = &ctl->upg;
	enum upg_state was = u->state;
	if (was != UPG_STARTING && was != UPG_HANDOVER)
		return;
	struct buf msg = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	u->state = UPG_IDLE;
	upgrade_close_chan(ctl);
	if (u->child_alive)
		kill(u->pid, SIGKILL);
	if (was == UPG_HANDOVER)
		upgrade_reclaim(ctl);
	sw_warn("upgrade failed: %s; this proxy (pid %d) keeps serving", buf_str(&msg), (int)getpid());
	free(u->last_error);
	u->last_error = buf_detach(&msg);
}

/* "P": the new process holds copies of the listeners. From here this
 * process answers no control request, so that only one proxy ever
 * accepts tables: the table is saved for the new one, the control
 * socket closes (and is unlinked), the lock is released. */
static void upgrade_handover(struct ctl *ctl)
{
	struct upgrade *u = &ctl->upg;
	struct sw_err err = {0};
	const struct table *t = proxy_table(ctl->p);
	if (t) {
		json_t *j = table_to_json(t);
		char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		int r = text ? write_atomic(ctl->dir, ctl->table_path, text, strlen(text), &err)
			     : sw_errf(&err, -1, "cannot encode the route table");
		free(text);
		json_decref(j);
		if (r < 0) {
			upgrade_abort(ctl, "cannot save the route table for the new proxy: %s", err.msg);
			return;
		}
	}
	http_free(ctl->api);
	ctl->api = NULL;
	if (ctl->lock_fd >= 0)
		close(ctl->lock_fd);
	ctl->lock_fd = -1;
	u->state = UPG_HANDOVER;
	if (sw_fdpass_send(u->chan, "G", -1) < 0)
		upgrade_abort(ctl, "cannot talk to the new proxy: %s", strerror(errno));
}

/* "R": the new process listens, holds the lock and the control socket
 * and wrote DIR/proxy.pid. This one stops accepting and drains. */
static void upgrade_done(struct ctl *ctl)
{
	struct upgrade *u = &ctl->upg;
	u->state = UPG_DONE;
	upgrade_close_chan(ctl);
	sw_info("handed over to the new proxy (pid %d)", (int)u->pid);
	begin_stop(ctl);
}

static void on_upg_timeout(uv_timer_t *t);

static void upgrade_read(struct ctl *ctl)
{
	struct upgrade *u = &ctl->upg;
	char msg[512];
	while (u->chan >= 0 && (u->state == UPG_STARTING || u->state == UPG_HANDOVER)) {
		int fd;
		ssize_t n = sw_fdpass_recv(u->chan, msg, sizeof(msg), &fd, 0);
		if (fd >= 0)
			close(fd);
		if (n == -2)
			return;
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			/* it is exiting: its exit status (or the deadline)
			 * ends the upgrade */
			upgrade_close_chan(ctl);
			uv_timer_start(&u->timer, on_upg_timeout, UPGRADE_EXIT_MS, 0);
			return;
		}
		if (n < 0) {
			upgrade_abort(ctl, "cannot read from the new proxy: %s", strerror(errno));
			return;
		}
		if (msg[0] == 'F')
			upgrade_abort(ctl, "the new proxy (pid %d): %s", (int)u->pid, msg[1] ? msg + 2 : "failed");
		else if (msg[0] == 'P' && u->state == UPG_STARTING)
			upgrade_handover(ctl);
		else if (msg[0] == 'R' && u->state == UPG_HANDOVER)
			upgrade_done(ctl);
		else
			upgrade_abort(ctl, "unexpected message \"%.40s\" from the new proxy", msg);
	}
}

static void on_upg_readable(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	upgrade_read(h->data);
}

static void on_upg_timeout(uv_timer_t *t)
{
	struct ctl *ctl = t->data;
	if (ctl->upg.chan < 0)
		upgrade_abort(ctl, "the new proxy (pid %d) closed the upgrade channel", (int)ctl->upg.pid);
	else
		upgrade_abort(ctl, "the new proxy (pid %d) was not ready within %d ms", (int)ctl->upg.pid,
			      UPGRADE_READY_MS);
}

static void on_upg_exit(uv_process_t *proc, int64_t status, int sig)
{
	struct ctl *ctl = proc->data;
	struct upgrade *u = &ctl->upg;
	u->child_alive = false;
	uv_close((uv_handle_t *)proc, on_upg_proc_closed);
	upgrade_read(ctl); /* its last words ("F ...") say more than its status */
	if (sig)
		upgrade_abort(ctl, "the new proxy (pid %d) was killed by signal %d", (int)u->pid, sig);
	else
		upgrade_abort(ctl, "the new proxy (pid %d) exited with status %lld before it was ready",
			      (int)u->pid, (long long)status);
}

/*
 * Starts replacing this process with the binary now on disk: spawns
 * `EXE proxy` with the same options in its own session, the other end of
 * a SOCK_SEQPACKET pair as fd 3, and sends it every listening socket. The
 * rest happens in upgrade_read as the new process answers.
 */
static int upgrade_start(struct ctl *ctl, struct sw_err *err)
{
	struct upgrade *u = &ctl->upg;
	const struct proxy_main_options *opt = ctl->opt;
	char exe[PATH_MAX], ht[32], mc[32], envfd[64], nw[24];
	char *args[16];
	char **env = NULL;
	int sv[2] = {-1, -1};
	struct proxy_listen_fd *fds = NULL;
	int ret = -1;

	if (ctl->stopping)
		return sw_errf(err, SW_EBUSY, "the proxy is stopping");
	if (u->state != UPG_IDLE || u->proc_open || u->poll_open)
		return sw_errf(err, SW_EBUSY, "an upgrade is already running (new pid %d)", (int)u->pid);
	if (upgrade_exe(exe, sizeof(exe), err) < 0)
		goto out;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		sw_errf(err, -1, "socketpair: %s", strerror(errno));
		goto out;
	}
	/* our end must never block the loop */
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);

	size_t k = 0;
	args[k++] = exe;
	args[k++] = "proxy";
	args[k++] = "--state-dir";
	args[k++] = ctl->dir;
	if (opt->metrics_addr) {
		args[k++] = "--metrics";
		args[k++] = (char *)opt->metrics_addr;
	}
	if (opt->access_log) {
		args[k++] = "--access-log";
		args[k++] = (char *)opt->access_log;
	}
	if (opt->header_timeout_ms) {
		snprintf(ht, sizeof(ht), "%llums", (unsigned long long)opt->header_timeout_ms);
		args[k++] = "--header-timeout";
		args[k++] = ht;
	}
	if (opt->workers > 1) {
		snprintf(nw, sizeof(nw), "%lld", opt->workers);
		args[k++] = "--workers";
		args[k++] = nw;
	}
	if (opt->max_conns) {
		snprintf(mc, sizeof(mc), "%lld", opt->max_conns);
		args[k++] = "--max-conns";
		args[k++] = mc;
	}
	args[k] = NULL;

	size_t nenv = 0;
	while (environ[nenv])
		nenv++;
	env = xcalloc(nenv + 2, sizeof(*env));
	size_t e = 0;
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(environ[i], UPGRADE_ENV "=", sizeof(UPGRADE_ENV)) != 0)
			env[e++] = environ[i];
	snprintf(envfd, sizeof(envfd), "%s=3", UPGRADE_ENV);
	env[e++] = envfd;
	env[e] = NULL;

	uv_stdio_container_t stdio[4] = {
		{.flags = UV_IGNORE},
		{.flags = UV_INHERIT_FD, .data.fd = STDOUT_FILENO},
		{.flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO},
		{.flags = UV_INHERIT_FD, .data.fd = sv[1]},
	};
	uv_process_options_t o = {
		.exit_cb = on_upg_exit,
		.file = exe,
		.args = args,
		.env = env,
		/* its own session: it outlives this process */
		.flags = UV_PROCESS_DETACHED,
		.stdio_count = 4,
		.stdio = stdio,
	};
	fflush(stdout);
	fflush(stderr);
	u->proc.data = ctl;
	int r = uv_spawn(&ctl->loop, &u->proc, &o);
	u->proc_open = true;
	if (r < 0) {
		uv_close((uv_handle_t *)&u->proc, on_upg_proc_closed);
		sw_errf(err, -1, "cannot start %s: %s", exe, uv_strerror(r));
		goto out;
	}
	u->pid = u->proc.pid;
	u->child_alive = true;
	close(sv[1]);
	sv[1] = -1;
	u->chan = sv[0];
	sv[0] = -1;
	u->state = UPG_STARTING;

	uv_poll_init(&ctl->loop, &u->poll, u->chan);
	u->poll.data = ctl;
	u->poll_open = true;
	uv_poll_start(&u->poll, UV_READABLE, on_upg_readable);
	uv_timer_start(&u->timer, on_upg_timeout, UPGRADE_READY_MS, 0);
	sw_info("upgrading: started %s (pid %d)", exe, (int)u->pid);
	ret = 0;

	fds = xcalloc(UPGRADE_MAX_LISTENS, sizeof(*fds));
	size_t n = proxy_listen_fds(ctl->p, fds, UPGRADE_MAX_LISTENS);
	if (n > UPGRADE_MAX_LISTENS) {
		upgrade_abort(ctl, "too many listeners to pass (%zu, at most %d)", n, UPGRADE_MAX_LISTENS);
		goto out;
	}
	/* one more message than listeners: the channel to serve ("H"), when
	 * we have one, so that it holds the successor's sockets too */
	for (size_t i = 0; i <= n + 1; i++) {
		struct buf m = BUF_INIT;
		int fd = -1;
		if (i < n) {
			buf_addf(&m, "L %c %s", fds[i].metrics ? 'm' : 't', fds[i].addr);
			fd = fds[i].fd;
		} else if (i == n) {
			if (ctl->hold < 0) {
				buf_release(&m);
				continue;
			}
			buf_addf(&m, "H");
			fd = ctl->hold;
		} else {
			buf_addf(&m, "E");
		}
		int sr = sw_fdpass_send(u->chan, buf_str(&m), fd);
		int e = errno;
		buf_release(&m);
		if (sr == 0)
			continue;
		if (e == EPIPE || e == ECONNRESET) {
			/* it is exiting already: its status says why */
			upgrade_close_chan(ctl);
			uv_timer_start(&u->timer, on_upg_timeout, UPGRADE_EXIT_MS, 0);
		} else {
			upgrade_abort(ctl, "cannot pass listener %s to the new proxy: %s",
				      i < n ? fds[i].addr : "(end)", strerror(e));
		}
		break;
	}
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (ret < 0) {
		free(u->last_error);
		u->last_error = xstrdup(err->msg);
	}
	free(env);
	free(fds);
	return ret;
}

static const char *upgrade_state_name(enum upg_state s)
{
	switch (s) {
	case UPG_STARTING: return "starting";
	case UPG_HANDOVER: return "handover";
	case UPG_DONE: return "done";
	case UPG_IDLE:
	default: return "idle";
	}
}

static void h_upgrade(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct ctl *ctl = data;
	struct sw_err err = {0};
	(void)req;
	if (upgrade_start(ctl, &err) < 0) {
		http_resp_error(resp, err.code == SW_EBUSY ? 409 : 500, "%s", err.msg);
		return;
	}
	http_resp_json(resp, 202, json_pack("{s:b, s:i, s:i}", "upgrading", 1, "pid", (int)getpid(),
					   "newPid", (int)ctl->upg.pid));
}

static void h_upgrade_status(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct ctl *ctl = data;
	struct upgrade *u = &ctl->upg;
	(void)req;
	http_resp_json(resp, 200, json_pack("{s:s, s:i, s:i, s:s?}", "state", upgrade_state_name(u->state),
					   "pid", (int)getpid(), "newPid", (int)u->pid, "lastError",
					   u->last_error));
}

/*
 * The new process's side, before its loop runs: receives the listeners,
 * says "P", waits for "G", then takes the lock (the old process has just
 * released it). Errors are sent back as "F REASON" by the caller.
 */
static int upgrade_receive(struct ctl *ctl, int chan, struct sw_err *err)
{
	char msg[512];
	size_t n = 0;
	for (;;) {
		int fd;
		ssize_t r = sw_fdpass_recv(chan, msg, sizeof(msg), &fd, UPGRADE_READY_MS);
		if (r == -2)
			return sw_errf(err, -1, "no listeners from the old proxy within %d ms", UPGRADE_READY_MS);
		if (r <= 0)
			return sw_errf(err, -1, "the old proxy went away: %s", r < 0 ? strerror(errno) : "end of channel");
		if (msg[0] == 'E')
			break;
		if (msg[0] == 'H' && fd >= 0) {
			if (ctl->hold >= 0)
				close(ctl->hold);
			ctl->hold = fd;
			continue;
		}
		if (strncmp(msg, "L ", 2) != 0 || (msg[2] != 't' && msg[2] != 'm') || msg[3] != ' ' || fd < 0) {
			if (fd >= 0)
				close(fd);
			return sw_errf(err, -1, "unexpected message \"%.40s\" from the old proxy", msg);
		}
		proxy_inherit_fd(ctl->p, msg + 4, msg[2] == 'm', fd);
		n++;
	}
	if (sw_fdpass_send(chan, "P", -1) < 0)
		return sw_errf(err, -1, "cannot talk to the old proxy: %s", strerror(errno));
	int fd;
	ssize_t r = sw_fdpass_recv(chan, msg, sizeof(msg), &fd, UPGRADE_READY_MS);
	if (fd >= 0)
		close(fd);
	if (r == -2)
		return sw_errf(err, -1, "no go from the old proxy within %d ms", UPGRADE_READY_MS);
	if (r <= 0 || msg[0] != 'G')
		return sw_errf(err, -1, "the old proxy called the upgrade off");
	uint64_t deadline = sw_now_ms() + UPGRADE_LOCK_MS;
	struct timespec pause = {0, 2 * 1000 * 1000};
	int lr;
	while ((lr = take_lock(ctl, err)) < 0 && err->code == SW_EBUSY && sw_now_ms() < deadline)
		nanosleep(&pause, NULL);
	if (lr < 0)
		return -1;
	sw_info("upgrade: took over %zu listeners from the old proxy", n);
	return 0;
}

/* ------------------------------------------------------------------ */
/* start and stop                                                      */

static void on_ctl_closed(uv_handle_t *h)
{
	(void)h;
}

static void stop_now(struct ctl *ctl)
{
	struct upgrade *u = &ctl->upg;
	if (u->state == UPG_STARTING || u->state == UPG_HANDOVER)
		upgrade_abort(ctl, "this proxy is stopping");
	upgrade_close_chan(ctl);
	/* a successor keeps running: only our handle of it goes */
	if (u->proc_open && !uv_is_closing((uv_handle_t *)&u->proc))
		uv_close((uv_handle_t *)&u->proc, on_upg_proc_closed);
	uv_close((uv_handle_t *)&u->timer, on_ctl_closed);
	uv_timer_stop(&ctl->drain);
	uv_timer_stop(&ctl->gc);
	uv_close((uv_handle_t *)&ctl->gc, on_handle_closed);
	for (size_t k = 0; k < ctl->ngone; k++)
		free(ctl->gone[k].app);
	free(ctl->gone);
	ctl->gone = NULL;
	ctl->ngone = 0;
	workers_stop(ctl);
	proxy_free(ctl->p);
	ctl->p = NULL;
	/* a socket renamed onto DIR/proxy.sock is not the api's to unlink */
	struct stat st;
	if (ctl->api && ctl->sock_ino && stat(ctl->sock_path, &st) == 0 && st.st_ino == ctl->sock_ino)
		unlink(ctl->sock_path);
	http_free(ctl->api);
	ctl->api = NULL;
	uv_close((uv_handle_t *)&ctl->drain, on_handle_closed);
	uv_close((uv_handle_t *)&ctl->sigterm, on_handle_closed);
	uv_close((uv_handle_t *)&ctl->sigint, on_handle_closed);
	uv_close((uv_handle_t *)&ctl->sigusr2, on_handle_closed);
}

static void on_drain_tick(uv_timer_t *t)
{
	struct ctl *ctl = t->data;
	/* connections that are closing count too: their last response may
	 * still sit in our write queue, which exiting would throw away */
	size_t active = count_all(ctl, false).open;
	if (active && sw_now_ms() - ctl->drain_start_ms < DRAIN_MAX_MS)
		return;
	if (active)
		sw_warn("stopping with %zu connections still busy after %d s", active, DRAIN_MAX_MS / 1000);
	stop_now(ctl);
}

static void begin_stop(struct ctl *ctl)
{
	ctl->stopping = true;
	sw_info("stopping: %zu connections to finish", count_all(ctl, false).active);
	ctl->drain_start_ms = sw_now_ms();
	proxy_drain(ctl->p);
	for (size_t i = 0; i < ctl->nw; i++)
		worker_call(&ctl->w[i], w_drain, NULL);
	uv_timer_start(&ctl->drain, on_drain_tick, 0, DRAIN_POLL_MS);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct ctl *ctl = s->data;
	if (signum == SIGUSR2) {
		struct sw_err err = {0};
		if (upgrade_start(ctl, &err) < 0)
			sw_warn("upgrade not started: %s", err.msg);
		return;
	}
	if (ctl->stopping) {
		if (signum == SIGINT)
			stop_now(ctl);
		return;
	}
	upgrade_abort(ctl, "this proxy is stopping");
	begin_stop(ctl);
}

static void setup_routes(struct ctl *ctl)
{
	http_route(ctl->api, "PUT", "/v1/table", HTTP_ROLE_ADMIN, h_put_table, ctl);
	http_route(ctl->api, "GET", "/v1/table", HTTP_ROLE_ADMIN, h_get_table, ctl);
	http_route(ctl->api, "GET", "/v1/stats", HTTP_ROLE_ADMIN, h_stats, ctl);
	http_route(ctl->api, "GET", "/v1/samples", HTTP_ROLE_ADMIN, h_samples, ctl);
	http_route(ctl->api, "GET", "/metrics", HTTP_ROLE_ADMIN, h_metrics, ctl);
	http_route(ctl->api, "GET", "/v1/version", HTTP_ROLE_ADMIN, h_version, ctl);
	http_route(ctl->api, "POST", "/v1/upgrade", HTTP_ROLE_ADMIN, h_upgrade, ctl);
	http_route(ctl->api, "GET", "/v1/upgrade", HTTP_ROLE_ADMIN, h_upgrade_status, ctl);
	http_route(ctl->api, "POST", "/v1/hold", HTTP_ROLE_ADMIN, h_hold, ctl);
}

/* The control socket on `path` (DIR/proxy.sock, or a temporary path an
 * upgrading process renames onto it). */
static int open_control(struct ctl *ctl, const char *path, struct sw_err *err)
{
	struct http_config ac = {
		.loop = &ctl->loop,
		.unix_path = path,
		.max_body = CONTROL_MAX_BODY,
	};
	if (http_new(&ctl->api, &ac, err) < 0)
		return -1;
	setup_routes(ctl);
	return 0;
}

/* The new process's last steps of an upgrade, after it got "G" and the
 * lock: serve the table on the inherited listeners, put its control
 * socket in place of the old one's (an atomic rename), write
 * DIR/proxy.pid, say "R". */
static int upgrade_take_over(struct ctl *ctl, int chan, struct sw_err *err)
{
	struct buf tmp = BUF_INIT;
	int ret = -1;
	if (load_saved_table(ctl, err) < 0)
		goto out;
	size_t unused = proxy_inherit_done(ctl->p);
	if (unused)
		sw_info("upgrade: %zu listeners of the old proxy are not in the table; closed", unused);
	buf_addf(&tmp, "%s.%d", ctl->sock_path, (int)getpid());
	if (open_control(ctl, buf_str(&tmp), err) < 0)
		goto out;
	if (rename(buf_str(&tmp), ctl->sock_path) < 0) {
		sw_errf(err, -1, "cannot move %s to %s: %s", buf_str(&tmp), ctl->sock_path, strerror(errno));
		goto out;
	}
	struct stat st;
	if (stat(ctl->sock_path, &st) == 0)
		ctl->sock_ino = st.st_ino;
	if (write_pidfile(ctl, err) < 0)
		goto out;
	if (sw_fdpass_send(chan, "R", -1) < 0) {
		sw_errf(err, -1, "cannot tell the old proxy: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	buf_release(&tmp);
	return ret;
}

int proxy_run(const struct proxy_main_options *opt)
{
	struct ctl ctl = {.lock_fd = -1, .opt = opt, .upg = {.chan = -1}, .hold = -1};
	struct sw_err err = {0};
	struct buf b = BUF_INIT;
	int ret = 1;
	bool loop_ok = false;
	int chan = -1;

	signal(SIGPIPE, SIG_IGN);
	const char *ufd = getenv(UPGRADE_ENV);
	if (ufd && *ufd) {
		chan = atoi(ufd);
		if (chan < 3 || fcntl(chan, F_SETFD, FD_CLOEXEC) < 0)
			chan = -1;
		unsetenv(UPGRADE_ENV);
	}
	const char *hfd = getenv(HOLD_ENV);
	if (hfd && *hfd) {
		/* serve passes it as our stdin: move it off fd 0 */
		int h = atoi(hfd);
		ctl.hold = fcntl(h, F_DUPFD_CLOEXEC, 3);
		if (ctl.hold >= 0) {
			fcntl(ctl.hold, F_SETFL, fcntl(ctl.hold, F_GETFL) | O_NONBLOCK);
			int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (null >= 0 && null != h) {
				dup2(null, h);
				close(null);
			}
		}
		unsetenv(HOLD_ENV);
	}
	ctl.dir = xstrdup(opt->state_dir && *opt->state_dir ? opt->state_dir : ".slipway");
	buf_addf(&b, "%s/proxy-table.json", ctl.dir);
	ctl.table_path = buf_detach(&b);
	buf_addf(&b, "%s/proxy.sock", ctl.dir);
	ctl.sock_path = buf_detach(&b);
	if (sw_mkdir_p(ctl.dir, 0700) < 0) {
		sw_errf(&err, -1, "cannot create %s: %s", ctl.dir, strerror(errno));
		fprintf(stderr, "slipway proxy: %s\n", err.msg);
		goto out;
	}
	if (chan < 0 && take_lock(&ctl, &err) < 0) {
		fprintf(stderr, "slipway proxy: %s\n", err.msg);
		goto out;
	}
	if (uv_loop_init(&ctl.loop) < 0)
		goto out;
	loop_ok = true;
	uv_timer_init(&ctl.loop, &ctl.drain);
	uv_timer_init(&ctl.loop, &ctl.gc);
	uv_timer_init(&ctl.loop, &ctl.upg.timer);
	ctl.drain.data = ctl.gc.data = ctl.upg.timer.data = &ctl;
	uv_signal_init(&ctl.loop, &ctl.sigterm);
	uv_signal_init(&ctl.loop, &ctl.sigint);
	uv_signal_init(&ctl.loop, &ctl.sigusr2);
	ctl.sigterm.data = ctl.sigint.data = ctl.sigusr2.data = &ctl;

	/* --max-conns is the proxy's: each worker takes its share */
	size_t nworkers = opt->workers ? (size_t)opt->workers : 1;
	size_t max_conns = opt->max_conns ? (size_t)opt->max_conns : PROXY_DEFAULT_MAX_CONNS;
	if (nworkers > 1)
		ctl.group = proxy_group_new();
	struct proxy_config pc = {
		.loop = &ctl.loop,
		.group = ctl.group,
		.header_timeout_ms = opt->header_timeout_ms,
		.access_log = opt->access_log,
		.max_conns = (max_conns + nworkers - 1) / nworkers,
	};
	if (proxy_new(&ctl.p, &pc, &err) < 0) {
		fprintf(stderr, "slipway proxy: %s\n", err.msg);
		goto fail;
	}
	metrics_conns(proxy_metrics(ctl.p))->limit = max_conns;
	if (workers_start(&ctl, nworkers, &pc, &err) < 0) {
		fprintf(stderr, "slipway proxy: %s\n", err.msg);
		goto fail;
	}
	if (chan < 0 && ctl.hold >= 0)
		hold_receive(&ctl);
	if (chan >= 0 && upgrade_receive(&ctl, chan, &err) < 0) {
		fprintf(stderr, "slipway proxy: upgrade: %s\n", err.msg);
		goto fail;
	}
	if (opt->metrics_addr && proxy_serve_metrics(ctl.p, opt->metrics_addr, &err) < 0) {
		fprintf(stderr, "slipway proxy: --metrics: %s\n", err.msg);
		goto fail;
	}
	if (chan >= 0) {
		if (upgrade_take_over(&ctl, chan, &err) < 0) {
			fprintf(stderr, "slipway proxy: upgrade: %s\n", err.msg);
			goto fail;
		}
		close(chan);
		chan = -1;
	} else {
		if (open_control(&ctl, ctl.sock_path, &err) < 0) {
			fprintf(stderr, "slipway proxy: %s\n", err.msg);
			goto fail;
		}
		load_saved_table(&ctl, &err);
		size_t unused = proxy_inherit_done(ctl.p);
		if (unused)
			sw_info("%zu held listeners are not in the saved table; closed", unused);
	}
	hold_send(&ctl);
	uv_timer_start(&ctl.gc, on_gc, GC_PERIOD_MS, GC_PERIOD_MS);
	uv_signal_start(&ctl.sigterm, on_signal, SIGTERM);
	uv_signal_start(&ctl.sigint, on_signal, SIGINT);
	uv_signal_start(&ctl.sigusr2, on_signal, SIGUSR2);
	printf("slipway proxy serving %zu listeners (table version %lld)\n", table_nlistens(ctl.p),
	       (long long)table_version(ctl.p));
	fflush(stdout);
	uv_run(&ctl.loop, UV_RUN_DEFAULT);
	ret = 0;
	goto out;
fail:
	if (chan >= 0) {
		struct buf m = BUF_INIT;
		buf_addf(&m, "F %s", err.msg[0] ? err.msg : "failed");
		sw_fdpass_send(chan, buf_str(&m), -1);
		buf_release(&m);
	}
	stop_now(&ctl);
	uv_run(&ctl.loop, UV_RUN_DEFAULT);
out:
	if (chan >= 0)
		close(chan);
	if (loop_ok && uv_loop_close(&ctl.loop) != 0)
		sw_warn("event loop closed with handles open");
	if (ctl.lock_fd >= 0)
		close(ctl.lock_fd);
	if (ctl.hold >= 0)
		close(ctl.hold);
	buf_release(&b);
	proxy_group_free(ctl.group); /* every worker has left it */
	free(ctl.upg.last_error);
	free(ctl.dir);
	free(ctl.table_path);
	free(ctl.sock_path);
	return ret;
}
