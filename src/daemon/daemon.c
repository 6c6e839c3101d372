/*
 * `slipway serve`: wiring only. Takes the state dir and its lock, opens
 * the store, and constructs the parts on one libuv loop — runtime
 * (instances), traffic (the data plane), the analysis runner, the engine
 * that drives them, and the API server with the v1 endpoints — then
 * handles signals, shutdown and upgrades. Every decision is the engine's.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "analysis/runner.h"
#include "http/http.h"
#include "api/api.h"
#include "core/buf.h"
#include "core/sha256.h"
#include "core/proc.h"
#include "core/paths.h"
#include "engine/engine.h"
#include "gitops/gitops.h"
#include "pipeline/server.h"
#include "httpc/httpc.h"
#include "runtime/runtime.h"
#include "core/age.h"
#include "store/store.h"
#include "traffic/traffic.h"

struct daemon {
	uv_loop_t loop;
	const struct daemon_options *opt;
	char *dir;
	char *logs_dir;
	char token[65];               /* DIR/token: the admin token "root" */
	int lock_fd;
	struct store *store;
	struct httpc *httpc;
	struct runtime *rt;
	struct traffic *traffic;
	struct analysis_runner *runner;
	struct engine *engine;
	struct http_server *http;     /* the API's listeners */
	struct api *api;              /* the v1 endpoints on it */
	struct gitops *gitops;        /* Sources: sync from git */
	struct pipeline_server *pipelines; /* pipeline runs, triggered by gitops' pushes */
	struct age_identities age_ids; /* open valueFrom.age values (--age-identity) */
	uv_signal_t sigterm, sigint, sigusr2;
	uv_timer_t upgrade;           /* runs daemon_upgrade after the API answered */
	uv_timer_t metrics;           /* refreshes the /metrics snapshot */
	uint64_t metrics_call;
	char *metrics_text;           /* last /metrics text of the data plane */
	uint64_t metrics_asked_ms;
	uint64_t metrics_ms;          /* when metrics_text was read */
	bool upgrading;               /* re-exec when the loop ends */
	bool stopping;
	int64_t started_ms;
	int exit_code;
};

static int make_dir(const char *path, struct sw_err *err)
{
	/* the default state dir's parents (~/.local/state) may not exist yet */
	if (sw_mkdir_p(path, 0700) < 0)
		return sw_errf(err, -1, "cannot create \"%s\": %s", path, strerror(errno));
	return 0;
}

static int take_lock(struct daemon *d, struct sw_err *err)
{
	struct buf path = BUF_INIT;
	buf_addf(&path, "%s/lock", d->dir);
	int r = -1;
	d->lock_fd = open(path.s, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0) {
		sw_errf(err, -1, "cannot open \"%s\": %s", path.s, strerror(errno));
		goto out;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "";
		ssize_t k = pread(d->lock_fd, pid, sizeof(pid) - 1, 0);
		pid[k > 0 ? k : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		sw_errf(err, SW_EBUSY, "another slipway daemon%s%s%s is using state dir \"%s\"",
			*pid ? " (pid " : "", pid, *pid ? ")" : "", d->dir);
		close(d->lock_fd);
		d->lock_fd = -1;
		goto out;
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(d->lock_fd, 0) < 0 || pwrite(d->lock_fd, pid, (size_t)len, 0) < 0)
		sw_warn("cannot write pid to %s: %s", path.s, strerror(errno));
	r = 0;
out:
	buf_release(&path);
	return r;
}

static int load_token(struct daemon *d, struct sw_err *err)
{
	struct buf path = BUF_INIT;
	buf_addf(&path, "%s/token", d->dir);
	int r = -1, fd = open(path.s, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		unsigned char raw[32];
		if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
			sw_errf(err, -1, "cannot make a token: %s", strerror(errno));
			goto out;
		}
		for (size_t i = 0; i < sizeof(raw); i++)
			snprintf(d->token + 2 * i, 3, "%02x", raw[i]);
		fd = open(path.s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, d->token, 64) != 64 || write(fd, "\n", 1) != 1) {
			sw_errf(err, -1, "cannot write \"%s\": %s", path.s, strerror(errno));
			goto out;
		}
		r = 0;
		goto out;
	}
	if (fd < 0) {
		sw_errf(err, -1, "cannot read \"%s\": %s", path.s, strerror(errno));
		goto out;
	}
	ssize_t k = read(fd, d->token, sizeof(d->token) - 1);
	d->token[k > 0 ? k : 0] = '\0';
	d->token[strcspn(d->token, "\r\n")] = '\0';
	if (strlen(d->token) < 16) {
		sw_errf(err, -1, "\"%s\" holds no usable token (want 16+ characters)", path.s);
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	buf_release(&path);
	return r;
}

/*
 * The TCP API's auth: DIR/token is the implicit admin token "root"; the
 * others are the engine's, looked up by their SHA-256, so a revoked token
 * fails on its next call. Hashes are compared in constant time. What a
 * role may call is in the API's route table.
 */
static int auth_token(const char *token, char *name, size_t name_size, enum http_role *role,
		      void *data)
{
	struct daemon *d = data;
	char hash[65], root[65], rname[16];
	if (!token || !*token)
		return -1;
	sw_sha256_hex(token, strlen(token), hash);
	sw_sha256_hex(d->token, strlen(d->token), root);
	if (CRYPTO_memcmp(hash, root, 64) == 0) {
		sw_strlcpy(name, "root", name_size);
		*role = HTTP_ROLE_ADMIN;
		return 0;
	}
	if (engine_token_check(d->engine, token, name, name_size, rname, sizeof(rname)) < 0)
		return -1;
	*role = http_role_parse(rname);
	return *role ? 0 : -1;
}

/* ---- /metrics: a snapshot of the data plane's text ---- */

/* Refreshed every second while scraped (or looked at) in the last
 * minute, every 10 s otherwise, and at once while there is none: the
 * handler answers from it without waiting for the data plane. */
#define METRICS_TICK_MS 1000
#define METRICS_IDLE_MS 10000
#define METRICS_INTEREST_MS 60000

static void on_metrics_text(const char *text, size_t len, const char *error, void *data)
{
	struct daemon *d = data;
	d->metrics_call = 0;
	if (!text)
		return; /* keep the last one: a slow scrape beats none */
	free(d->metrics_text);
	d->metrics_text = xstrndup(text, len);
	d->metrics_ms = sw_now_ms();
}

static void metrics_refresh(uv_timer_t *t)
{
	struct daemon *d = t->data;
	uint64_t now = sw_now_ms();
	bool wanted = now - d->metrics_asked_ms < METRICS_INTEREST_MS;
	bool stale = !d->metrics_text || now - d->metrics_ms >= METRICS_IDLE_MS;
	if ((wanted || stale) && !d->metrics_call && d->traffic && !d->stopping)
		d->metrics_call = traffic_get_text(d->traffic, "/metrics", on_metrics_text, d);
}

/* The text as of the last refresh; a read of a snapshot older than a
 * second starts the next refresh at once, so asking again a moment
 * later gives fresh numbers (the handler itself never waits). */
static int metrics_text(struct buf *out, void *data)
{
	struct daemon *d = data;
	uint64_t now = sw_now_ms();
	d->metrics_asked_ms = now;
	if (now - d->metrics_ms >= METRICS_TICK_MS)
		metrics_refresh(&d->metrics);
	if (!d->metrics_text)
		return -1;
	buf_adds(out, d->metrics_text);
	return 0;
}

/* ---- the metrics the analysis runner reads, from the data plane ---- */

/* traffic_get's callback has the runner's shape: calls pass straight through. */
static uint64_t metrics_get(struct daemon *d, const char *path,
			    void (*cb)(json_t *j, const char *error, void *data), void *data)
{
	return traffic_get(d->traffic, path, cb, data);
}

static uint64_t metrics_stats(void *impl, unsigned window_s,
			      void (*cb)(json_t *stats, const char *error, void *data), void *data)
{
	char path[64];
	snprintf(path, sizeof(path), "/v1/stats?window=%u", window_s);
	return metrics_get(impl, path, cb, data);
}

static uint64_t metrics_samples(void *impl, const char *app, int64_t revision, unsigned window_s,
				void (*cb)(json_t *samples, const char *error, void *data),
				void *data)
{
	struct buf path = BUF_INIT;
	buf_adds(&path, "/v1/samples?app=");
	httpc_urlencode(&path, app);
	buf_addf(&path, "&revision=%lld&window=%u", (long long)revision, window_s);
	uint64_t id = metrics_get(impl, path.s, cb, data);
	buf_release(&path);
	return id;
}

static void metrics_cancel(void *impl, uint64_t id)
{
	struct daemon *d = impl;
	traffic_cancel(d->traffic, id);
}

/* ---- lifecycle ---- */

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void finish(struct daemon *d)
{
	if (d->rt) {
		runtime_free(d->rt);
		d->rt = NULL;
	}
	uv_stop(&d->loop);
}

/* gitops' push hook: the pipelines the commit triggers */
static void on_push(const struct gitops_push *p, void *data)
{
	pipeline_server_push(data, p->source, p->ref, p->sha, p->before, p->git_dir);
}

static void on_all_stopped(void *data)
{
	finish(data);
}

/* Stops taking requests and making decisions; keep_dataplane leaves the
 * proxy serving (upgrade, --keep-instances). */
static void shut_down(struct daemon *d, bool keep_dataplane)
{
	d->stopping = true;
	uv_timer_stop(&d->metrics);
	if (d->metrics_call && d->traffic)
		traffic_cancel(d->traffic, d->metrics_call);
	d->metrics_call = 0;
	gitops_stop(d->gitops);
	if (d->pipelines)
		pipeline_server_stop(d->pipelines);
	if (d->engine && keep_dataplane)
		engine_hooks_keep(d->engine);
	if (d->engine)
		engine_stop(d->engine);
	if (d->traffic)
		traffic_stop(d->traffic, keep_dataplane);
	if (d->http) {
		http_free(d->http);
		d->http = NULL;
	}
}

static void daemon_upgrade(struct daemon *d);

static void on_signal(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;
	if (signum == SIGUSR2) {
		daemon_upgrade(d);
		return;
	}
	if (d->stopping) {
		sw_info("second signal: exiting now, instances keep running");
		finish(d);
		return;
	}
	shut_down(d, d->opt->keep_instances);
	if (d->opt->keep_instances) {
		sw_info("%s: stopping; instances keep running (--keep-instances)", strsignal(signum));
		finish(d);
		return;
	}
	sw_info("%s: stopping %zu instances", strsignal(signum), runtime_count(d->rt));
	runtime_stop_all(d->rt, on_all_stopped, d);
}

/*
 * Replaces this control plane with the binary now on disk: stop the API
 * and the decisions, let go of instances and the proxy without stopping
 * them, close the store and the lock; daemon_run then execs the same
 * command line, and the new process adopts everything as after a crash
 * (traffic never depends on the control plane).
 */
static void daemon_upgrade(struct daemon *d)
{
	if (d->stopping)
		return;
	engine_event(d->engine, NULL, "DaemonUpgrading", NULL,
		     "slipway serve (pid %d) re-executes the binary on disk", (int)getpid());
	d->upgrading = true;
	shut_down(d, true);
	finish(d);
}

static void on_upgrade_timer(uv_timer_t *t)
{
	daemon_upgrade(t->data);
}

/* POST /v1/upgrade: after the answer is out. */
static bool request_upgrade(void *data)
{
	struct daemon *d = data;
	if (d->stopping || !d->opt->argv)
		return false;
	uv_timer_start(&d->upgrade, on_upgrade_timer, 50, 0);
	return true;
}

static int build(struct daemon *d, struct sw_err *err)
{
	const struct daemon_options *opt = d->opt;
	struct buf path = BUF_INIT;
	int r = -1;

	/* the API's listeners first: a taken port fails the start before a
	 * proxy or an instance was started for nothing (or left behind) */
	buf_addf(&path, "%s/slipway.sock", d->dir);
	struct http_config sc = {
		.loop = &d->loop,
		.unix_path = path.s,
		.tcp_addr = opt->api_addr,
		.auth = auth_token,
		.auth_data = d,
	};
	if (http_new(&d->http, &sc, err) < 0)
		goto out;
	if (httpc_new(&d->httpc, &d->loop, err) < 0)
		goto out;
	struct engine_config ec = {.loop = &d->loop, .store = d->store, .state_dir = d->dir,
				   .retention = opt->retention,
				   .retention_interval_ms = opt->retention_interval_ms,
				   .age_ids = &d->age_ids};
	spec_set_secret_dirs(opt->secret_dirs, opt->nsecret_dirs, d->dir);
	if (engine_new(&d->engine, &ec, err) < 0)
		goto out;
	struct runtime_config rc = {
		.loop = &d->loop,
		.log_dir = d->logs_dir,
		.port_min = opt->port_min,
		.port_max = opt->port_max,
		.backoff_initial_ms = opt->backoff_initial_ms,
		.backoff_max_ms = opt->backoff_max_ms,
		.age_ids = &d->age_ids,
		.age_ids_of = engine_on_age_ids,
		.on_change = engine_on_instance,
		.data = d->engine,
	};
	if (runtime_new(&d->rt, &rc, err) < 0)
		goto out;
	struct traffic_config tc = {
		.loop = &d->loop,
		.httpc = d->httpc,
		.state_dir = d->dir,
		.logs_dir = d->logs_dir,
		.metrics_addr = opt->metrics_addr,
		.access_log = opt->access_log,
		.proxy_workers = opt->proxy_workers,
		.proxy_max_conns = opt->proxy_max_conns,
		.on_event = engine_on_traffic_event,
		.on_change = engine_on_traffic_change,
		.data = d->engine,
	};
	if (traffic_new(&d->traffic, &tc, err) < 0)
		goto out;
	struct analysis_runner_config ac = {
		.loop = &d->loop,
		.store = d->store,
		.httpc = d->httpc,
		.metrics = {metrics_stats, metrics_samples, metrics_cancel, d},
		.on_phase = engine_on_run_phase,
		.on_event = engine_on_run_event,
		.data = d->engine,
	};
	if (analysis_runner_new(&d->runner, &ac, err) < 0)
		goto out;
	struct engine_parts parts = {d->rt, d->runner, d->traffic, d->httpc};
	if (engine_start(d->engine, &parts, err) < 0)
		goto out;
	uv_timer_start(&d->metrics, metrics_refresh, 0, METRICS_TICK_MS);

	struct api_config vc = {
		.engine = d->engine,
		.loop = &d->loop,
		.logs_dir = d->logs_dir,
		.state_dir = d->dir,
		.started_ms = d->started_ms,
		.upgrade = request_upgrade,
		.metrics_text = metrics_text,
		.data = d,
	};
	api_new(&d->api, d->http, &vc);
	struct buf cache = BUF_INIT;
	buf_addf(&cache, "%s/gitops/cache", d->dir); /* gitops' bare repositories, NAME.git */
	struct pipeline_server_config pc = {.loop = &d->loop, .engine = d->engine, .store = d->store,
					    .state_dir = d->dir, .sources_cache = cache.s};
	int pr = pipeline_server_new(&d->pipelines, &pc, err);
	buf_release(&cache);
	if (pr < 0 || pipeline_server_start(d->pipelines, err) < 0)
		goto out;
	pipeline_server_routes(d->pipelines, d->http);
	struct gitops_config gc = {.loop = &d->loop, .engine = d->engine, .state_dir = d->dir};
	if (gitops_new(&d->gitops, &gc, err) < 0)
		goto out;
	gitops_on_push(d->gitops, on_push, d->pipelines);
	if (gitops_start(d->gitops, err) < 0)
		goto out;
	gitops_routes(d->gitops, d->http);
	sw_info("slipway %s serving on %s%s%s (state %s, pid %d)", SLIPWAY_VERSION, path.s,
		opt->api_addr ? " and http://" : "", opt->api_addr ? opt->api_addr : "", d->dir,
		(int)getpid());
	r = 0;
out:
	buf_release(&path);
	return r;
}

static void teardown(struct daemon *d, bool loop_ok)
{
	if (!d->stopping)
		shut_down(d, true);
	if (d->rt) {
		runtime_free(d->rt);
		d->rt = NULL;
	}
	if (d->runner) {
		analysis_runner_free(d->runner);
		d->runner = NULL;
	}
	if (d->httpc) {
		httpc_free(d->httpc);
		d->httpc = NULL;
	}
	/* traffic closes its own handles (they free it); everything else
	 * still open is closed here, then the loop runs the callbacks */
	traffic_free(d->traffic);
	d->traffic = NULL;
	gitops_free(d->gitops); /* its handles close with the loop's run below */
	d->gitops = NULL;
	if (loop_ok) {
		uv_walk(&d->loop, close_walk, NULL);
		uv_run(&d->loop, UV_RUN_DEFAULT);
		uv_loop_close(&d->loop);
	}
	pipeline_server_free(d->pipelines);
	d->pipelines = NULL;
	engine_free(d->engine);
	api_free(d->api);
	free(d->metrics_text);
}

/* One identity file's keys added to d->age_ids; `named`: given with
 * --age-identity (then it must exist). */
static int load_age_file(struct daemon *d, const char *path, bool named, struct sw_err *err)
{
	struct sw_err lerr = {0};
	struct stat st;
	size_t before = d->age_ids.n;
	int rc = age_identities_load(&d->age_ids, path, &lerr);
	if (rc == SW_ENOTFOUND && !named) {
		sw_info("no age identity (%s): apps with valueFrom.age values cannot start", path);
		return 0;
	}
	if (rc < 0)
		return sw_errf(err, -1, "--age-identity: %s", lerr.msg);
	char rcpt[AGE_RECIPIENT_SIZE];
	struct age_recipient first;
	memcpy(first.pub, d->age_ids.keys[before].pub, sizeof(first.pub));
	age_recipient_format(&first, rcpt);
	sw_info("age identity %s: %zu key%s (the first one's recipient: %s)", path,
		d->age_ids.n - before, d->age_ids.n - before == 1 ? "" : "s", rcpt);
	if (stat(path, &st) == 0 && (st.st_mode & 077))
		sw_warn("age identity %s can be read by other users (mode %03o): chmod 600 it", path,
			(unsigned)(st.st_mode & 0777));
	return 0;
}

/*
 * The identities that open valueFrom.age values: the keys of every
 * --age-identity FILE, or DIR/age.key when it exists, or none (such
 * values then cannot start). Each environment uses some of them
 * (engine_age_ids). Read once, at start; a named file that cannot be
 * read stops the daemon.
 */
static int load_age_identity(struct daemon *d, struct sw_err *err)
{
	struct buf path = BUF_INIT;
	int r = 0;
	for (size_t i = 0; i < d->opt->nage_identities && r == 0; i++)
		r = load_age_file(d, d->opt->age_identities[i], true, err);
	if (!d->opt->nage_identities) {
		buf_addf(&path, "%s/age.key", d->dir);
		r = load_age_file(d, path.s, false, err);
	}
	buf_release(&path);
	return r;
}

int daemon_run(const struct daemon_options *opt)
{
	struct daemon dd = {0}, *d = &dd;
	struct sw_err err = {0};
	struct buf path = BUF_INIT;
	bool loop_ok = false;

	d->opt = opt;
	d->lock_fd = -1;
	d->exit_code = 1;
	signal(SIGPIPE, SIG_IGN);

	if (make_dir(opt->state_dir, &err) < 0)
		goto out;
	d->dir = realpath(opt->state_dir, NULL);
	if (!d->dir) {
		sw_errf(&err, -1, "cannot resolve \"%s\": %s", opt->state_dir, strerror(errno));
		goto out;
	}
	chmod(d->dir, 0700);
	/* Instances inherit this: it tells which daemon's they are (see
	 * runtime_orphans). No other descriptor of ours may leak into them. */
	setenv("SLIPWAY_STATE_DIR", d->dir, 1);
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (take_lock(d, &err) < 0 || load_token(d, &err) < 0 || load_age_identity(d, &err) < 0)
		goto out;
	buf_addf(&path, "%s/logs", d->dir);
	d->logs_dir = buf_detach(&path);
	if (make_dir(d->logs_dir, &err) < 0)
		goto out;
	buf_addf(&path, "%s/state.db", d->dir);
	if (store_open(&d->store, path.s, &err) < 0)
		goto out;
	if (uv_loop_init(&d->loop) < 0) {
		sw_errf(&err, -1, "cannot create the event loop");
		goto out;
	}
	loop_ok = true;
	uv_timer_init(&d->loop, &d->upgrade);
	uv_timer_init(&d->loop, &d->metrics);
	d->upgrade.data = d->metrics.data = d;
	d->started_ms = sw_wall_ms();
	if (build(d, &err) < 0)
		goto out;
	uv_signal_init(&d->loop, &d->sigterm);
	uv_signal_init(&d->loop, &d->sigint);
	uv_signal_init(&d->loop, &d->sigusr2);
	d->sigterm.data = d->sigint.data = d->sigusr2.data = d;
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_signal_start(&d->sigint, on_signal, SIGINT);
	uv_signal_start(&d->sigusr2, on_signal, SIGUSR2);

	engine_event(d->engine, NULL, "DaemonStarted", NULL, "slipway %s started (pid %d), %zu apps",
		     SLIPWAY_VERSION, (int)getpid(), engine_app_count(d->engine));
	uv_run(&d->loop, UV_RUN_DEFAULT);
	engine_event(d->engine, NULL, "DaemonStopped", NULL, "slipway stopped");
	d->exit_code = 0;
out:
	if (err.msg[0])
		fprintf(stderr, "slipway serve: %s\n", err.msg);
	teardown(d, loop_ok);
	if (d->store)
		store_close(d->store);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	free(d->dir);
	free(d->logs_dir);
	age_identities_release(&d->age_ids);
	buf_release(&path);
	if (d->upgrading && opt->argv) {
		char exe[PATH_MAX];
		struct sw_err xerr = {0};
		if (sw_proc_self_exe(exe, sizeof(exe), &xerr) == 0)
			execv(exe, opt->argv);
		fprintf(stderr, "slipway serve: cannot re-execute \"%s\": %s; instances and the proxy "
				"keep running, start `slipway serve` again to adopt them\n",
			exe, xerr.msg[0] ? xerr.msg : strerror(errno));
		return 1;
	}
	return d->exit_code;
}
