/*
 * `slipway proxy`: the data plane process. One event loop holds the proxy
 * engine and its control socket (the api module's server on
 * DIR/proxy.sock), where the control plane pushes route tables and reads
 * metrics. The last accepted table is saved to DIR/proxy-table.json and
 * served again after a restart, so traffic keeps flowing while the
 * control plane is away. DIR/proxy.lock (flock) keeps it to one proxy per
 * state dir.
 */
#include "proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"

#define DRAIN_MAX_MS 10000
#define DRAIN_POLL_MS 50
#define CONTROL_MAX_BODY (16u * 1024 * 1024)

struct ctl {
	uv_loop_t loop;
	struct proxy *p;
	struct api *api;
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
/* control socket handlers                                             */

static void h_put_table(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct ctl *ctl = data;
	struct sw_err err = {0};
	json_error_t je;
	struct table *t = NULL;
	json_t *j = json_loadb(req->body, req->body_len, 0, &je);
	if (!j) {
		api_resp_error(resp, 400, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
		return;
	}
	if (ctl->stopping) {
		api_resp_error(resp, 503, "the proxy is stopping");
		goto out;
	}
	if (table_from_json(&t, j, &err) < 0) {
		api_resp_error(resp, 422, "%s", err.msg);
		goto out;
	}
	if (proxy_set_table(ctl->p, t, &err) < 0) {
		api_resp_error(resp, 409, "%s", err.msg);
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
	api_resp_json(resp, 200, json_pack("{s:I, s:I, s:b}", "version", (json_int_t)table_version(ctl->p),
					   "listeners", (json_int_t)table_nlistens(ctl->p), "saved", saved));
out:
	json_decref(j);
}

static void h_get_table(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct ctl *ctl = data;
	const struct table *t = proxy_table(ctl->p);
	(void)req;
	api_resp_json(resp, 200, t ? table_to_json(t) : json_pack("{s:i, s:[]}", "version", 0, "routes"));
}

static void h_stats(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct ctl *ctl = data;
	const char *w = api_req_query(req, "window");
	unsigned seconds = 10;
	if (w) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(w, &end, 10);
		if (!*w || *end || errno || v < 1 || v > METRICS_WINDOW_SECONDS) {
			api_resp_error(resp, 400, "window must be 1..%d seconds, got \"%s\"", METRICS_WINDOW_SECONDS, w);
			return;
		}
		seconds = (unsigned)v;
	}
	json_t *j = metrics_json(proxy_metrics(ctl->p), seconds, sw_now_ms());
	if (!j)
		j = json_object();
	json_object_set_new(j, "backends", proxy_backends_json(ctl->p));
	api_resp_json(resp, 200, j);
}

/* GET /v1/samples?app=A&revision=N&window=S: the raw latencies (ms) and
 * per-second error rates of one revision, for the statistical judge. */
static void h_samples(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct ctl *ctl = data;
	const char *app = api_req_query(req, "app");
	char *app_name = app ? xstrdup(app) : NULL;
	const char *rv = api_req_query(req, "revision");
	long long rev = rv ? strtoll(rv, NULL, 10) : 0;
	const char *w = api_req_query(req, "window");
	long seconds = w ? strtol(w, NULL, 10) : 30;
	if (!app_name || rev < 1) {
		free(app_name);
		api_resp_error(resp, 400, "app and revision are required");
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
	free(v);
	free(app_name);
	api_resp_json(resp, 200, json_pack("{s:o, s:o}", "latencies", lat, "errorRates", errs));
}

static void h_metrics(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct ctl *ctl = data;
	(void)req;
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	buf_reset(&resp->body);
	metrics_prometheus(proxy_metrics(ctl->p), &resp->body);
}

static void h_version(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct ctl *ctl = data;
	(void)req;
	api_resp_json(resp, 200, json_pack("{s:s, s:i, s:I}", "version", SLIPWAY_VERSION, "pid", (int)getpid(),
					   "tableVersion", (json_int_t)table_version(ctl->p)));
}

/* ------------------------------------------------------------------ */
/* start and stop                                                      */

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	if (sw_strlcpy(tmp, path, sizeof(tmp)) >= sizeof(tmp))
		return -1;
	for (char *s = tmp + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

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
static void load_saved_table(struct ctl *ctl)
{
	struct sw_err err = {0};
	json_error_t je;
	struct table *t = NULL;
	if (access(ctl->table_path, F_OK) < 0)
		return;
	json_t *j = json_load_file(ctl->table_path, 0, &je);
	if (!j) {
		sw_warn("ignoring %s: invalid JSON at line %d column %d: %s", ctl->table_path, je.line, je.column,
			je.text);
		return;
	}
	if (table_from_json(&t, j, &err) < 0 || proxy_set_table(ctl->p, t, &err) < 0)
		sw_warn("ignoring %s: %s", ctl->table_path, err.msg);
	json_decref(j);
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

static void stop_now(struct ctl *ctl)
{
	uv_timer_stop(&ctl->drain);
	uv_timer_stop(&ctl->gc);
	uv_close((uv_handle_t *)&ctl->gc, on_handle_closed);
	for (size_t k = 0; k < ctl->ngone; k++)
		free(ctl->gone[k].app);
	free(ctl->gone);
	ctl->gone = NULL;
	ctl->ngone = 0;
	proxy_free(ctl->p);
	ctl->p = NULL;
	api_free(ctl->api);
	ctl->api = NULL;
	uv_close((uv_handle_t *)&ctl->drain, on_handle_closed);
	uv_close((uv_handle_t *)&ctl->sigterm, on_handle_closed);
	uv_close((uv_handle_t *)&ctl->sigint, on_handle_closed);
}

static void on_drain_tick(uv_timer_t *t)
{
	struct ctl *ctl = t->data;
	size_t active = proxy_active_conns(ctl->p);
	if (active && sw_now_ms() - ctl->drain_start_ms < DRAIN_MAX_MS)
		return;
	if (active)
		sw_warn("stopping with %zu connections still busy after %d s", active, DRAIN_MAX_MS / 1000);
	stop_now(ctl);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct ctl *ctl = s->data;
	if (ctl->stopping) {
		if (signum == SIGINT)
			stop_now(ctl);
		return;
	}
	ctl->stopping = true;
	sw_info("stopping: %zu connections to finish", proxy_active_conns(ctl->p));
	ctl->drain_start_ms = sw_now_ms();
	proxy_drain(ctl->p);
	uv_timer_start(&ctl->drain, on_drain_tick, 0, DRAIN_POLL_MS);
}

int proxy_main(const struct proxy_main_options *opt)
{
	struct ctl ctl = {.lock_fd = -1};
	struct sw_err err = {0};
	struct buf b = BUF_INIT;
	int ret = 1;
	bool loop_ok = false;

	signal(SIGPIPE, SIG_IGN);
	ctl.dir = xstrdup(opt->state_dir && *opt->state_dir ? opt->state_dir : ".slipway");
	buf_addf(&b, "%s/proxy-table.json", ctl.dir);
	ctl.table_path = buf_detach(&b);
	if (mkdir_p(ctl.dir) < 0) {
		fprintf(stderr, "slipway proxy: cannot create %s: %s\n", ctl.dir, strerror(errno));
		goto out;
	}
	if (take_lock(&ctl, &err) < 0) {
		fprintf(stderr, "slipway proxy: %s\n", err.msg);
		goto out;
	}
	if (uv_loop_init(&ctl.loop) < 0)
		goto out;
	loop_ok = true;
	uv_timer_init(&ctl.loop, &ctl.drain);
	uv_timer_init(&ctl.loop, &ctl.gc);
	ctl.drain.data = ctl.gc.data = &ctl;
	uv_signal_init(&ctl.loop, &ctl.sigterm);
	uv_signal_init(&ctl.loop, &ctl.sigint);
	ctl.sigterm.data = ctl.sigint.data = &ctl;

	struct proxy_config pc = {
		.loop = &ctl.loop,
		.header_timeout_ms = opt->header_timeout_ms,
		.access_log = opt->access_log,
	};
	if (proxy_new(&ctl.p, &pc, &err) < 0) {
		fprintf(stderr, "slipway proxy: %s\n", err.msg);
		goto fail;
	}
	if (opt->metrics_addr && proxy_serve_metrics(ctl.p, opt->metrics_addr, &err) < 0) {
		fprintf(stderr, "slipway proxy: --metrics: %s\n", err.msg);
		goto fail;
	}
	buf_addf(&b, "%s/proxy.sock", ctl.dir);
	struct api_config ac = {
		.loop = &ctl.loop,
		.unix_path = buf_str(&b),
		.max_body = CONTROL_MAX_BODY,
	};
	if (api_new(&ctl.api, &ac, &err) < 0) {
		fprintf(stderr, "slipway proxy: %s\n", err.msg);
		goto fail;
	}
	api_route(ctl.api, "PUT", "/v1/table", h_put_table, &ctl);
	api_route(ctl.api, "GET", "/v1/table", h_get_table, &ctl);
	api_route(ctl.api, "GET", "/v1/stats", h_stats, &ctl);
	api_route(ctl.api, "GET", "/v1/samples", h_samples, &ctl);
	api_route(ctl.api, "GET", "/metrics", h_metrics, &ctl);
	api_route(ctl.api, "GET", "/v1/version", h_version, &ctl);
	load_saved_table(&ctl);
	uv_timer_start(&ctl.gc, on_gc, GC_PERIOD_MS, GC_PERIOD_MS);
	uv_signal_start(&ctl.sigterm, on_signal, SIGTERM);
	uv_signal_start(&ctl.sigint, on_signal, SIGINT);
	printf("slipway proxy serving %zu listeners (table version %lld)\n", table_nlistens(ctl.p),
	       (long long)table_version(ctl.p));
	fflush(stdout);
	uv_run(&ctl.loop, UV_RUN_DEFAULT);
	ret = 0;
	goto out;
fail:
	stop_now(&ctl);
	uv_run(&ctl.loop, UV_RUN_DEFAULT);
out:
	if (loop_ok && uv_loop_close(&ctl.loop) != 0)
		sw_warn("event loop closed with handles open");
	if (ctl.lock_fd >= 0)
		close(ctl.lock_fd);
	buf_release(&b);
	free(ctl.dir);
	free(ctl.table_path);
	return ret;
}
