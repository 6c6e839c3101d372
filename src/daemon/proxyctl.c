/*
 * The control plane's side of the data plane: starts `slipway proxy` (or
 * adopts the one a previous daemon started), restarts it when it dies,
 * sends it the route table whenever what should receive traffic changes,
 * and reads its metrics. See docs/internals/proxy.md.
 *
 * The route table is derived, never stored: for every app with a
 * route.listen, the groups are its revisions that have ready instances not
 * on their way out, weighted by their share of those instances (a rolling
 * update moves traffic one instance at a time).
 */
#include "daemon_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/buf.h"

#define PROXY_CALL_TIMEOUT_MS 1000
#define RESTART_MIN_MS 50
#define RESTART_MAX_MS 5000
/* A proxy that ran this long was serving, not crash-looping: it restarts
 * at once and its back-off starts over. */
#define RESTART_HEALTHY_MS 1000

struct proxyctl {
	struct daemon *d;
	pid_t pid;
	uint64_t start_time;
	bool child;               /* spawned by us (uv_process_t) or adopted (pidfd) */
	uv_process_t proc;
	uv_poll_t poll;
	int pidfd;
	bool watching;
	uv_timer_t restart;
	uint64_t restart_delay_ms;
	uint64_t started_ms;
	char *pushed;             /* last table text the proxy accepted */
	int64_t version;
	bool up;                  /* last call reached it */
	struct api_client client;
	char *sock_path;
	char *pid_path;
	char *log_path;
};

static void spawn_proxy(struct proxyctl *pc);
static bool adopt_proxy(struct proxyctl *pc);

static void on_restart(uv_timer_t *t)
{
	spawn_proxy(t->data);
}

static void write_pidfile(struct proxyctl *pc)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp", pc->pid_path);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%d %llu\n", (int)pc->pid, (unsigned long long)pc->start_time);
	if (fclose(f) == 0)
		rename(tmp, pc->pid_path);
}

static void schedule_restart(struct proxyctl *pc)
{
	if (pc->d->stopping)
		return;
	/* A proxy that ran a while restarts at once; a crash loop (dying
	 * within RESTART_HEALTHY_MS of its start) backs off. Every second of
	 * delay is a second without service, so a proxy killed after serving
	 * for a few seconds must not inherit the back-off of earlier kills. */
	if (sw_now_ms() - pc->started_ms >= RESTART_HEALTHY_MS)
		pc->restart_delay_ms = 0;
	uint64_t delay = pc->restart_delay_ms;
	pc->restart_delay_ms = delay ? (delay * 2 > RESTART_MAX_MS ? RESTART_MAX_MS : delay * 2)
				     : RESTART_MIN_MS;
	uv_timer_start(&pc->restart, on_restart, delay, 0);
}

static void proxy_gone(struct proxyctl *pc, const char *how)
{
	pid_t old = pc->pid;
	pc->pid = 0;
	pc->up = false;
	free(pc->pushed); /* a new proxy needs the table again */
	pc->pushed = NULL;
	/* An upgraded proxy hands over to its successor, which writes the pid
	 * file before the old one exits: follow it instead of starting one. */
	if (!pc->d->stopping && adopt_proxy(pc)) {
		daemon_event(pc->d, NULL, "ProxyReplaced", NULL,
			     "slipway proxy (pid %d) %s; its successor (pid %d) took over", (int)old,
			     how, (int)pc->pid);
		daemon_kick(pc->d);
		return;
	}
	daemon_event(pc->d, NULL, "ProxyExited", NULL, "slipway proxy (pid %d) %s; restarting",
		     (int)old, how);
	schedule_restart(pc);
}

static void on_proc_closed(uv_handle_t *h)
{
}

static void on_exit_cb(uv_process_t *proc, int64_t status, int sig)
{
	struct proxyctl *pc = proc->data;
	char how[64];
	if (sig)
		snprintf(how, sizeof(how), "was killed by signal %d", sig);
	else
		snprintf(how, sizeof(how), "exited with status %lld", (long long)status);
	pc->watching = false;
	uv_close((uv_handle_t *)proc, on_proc_closed);
	proxy_gone(pc, how);
}

/* The poll handle is reused to watch a successor: only once it is closed. */
static void on_pidfd_closed(uv_handle_t *h)
{
	struct proxyctl *pc = h->data;
	if (!pc->d->stopping)
		proxy_gone(pc, "exited");
}

static void on_pidfd(uv_poll_t *p, int status, int events)
{
	struct proxyctl *pc = p->data;
	uv_poll_stop(p);
	uv_close((uv_handle_t *)p, on_pidfd_closed);
	close(pc->pidfd);
	pc->pidfd = -1;
	pc->watching = false;
}

static int watch_pidfd(struct proxyctl *pc)
{
	pc->pidfd = (int)syscall(SYS_pidfd_open, pc->pid, 0);
	if (pc->pidfd < 0)
		return -1;
	uv_poll_init(&pc->d->loop, &pc->poll, pc->pidfd);
	pc->poll.data = pc;
	uv_poll_start(&pc->poll, UV_READABLE, on_pidfd);
	pc->watching = true;
	pc->child = false;
	return 0;
}

static void spawn_proxy(struct proxyctl *pc)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (pc->d->stopping || pc->watching)
		return;
	if (n <= 0) {
		sw_warn("cannot find my own binary to start the proxy: %s", strerror(errno));
		schedule_restart(pc);
		return;
	}
	exe[n] = '\0';
	char *args[10];
	size_t k = 0;
	args[k++] = exe;
	args[k++] = "proxy";
	args[k++] = "--state-dir";
	args[k++] = pc->d->dir;
	if (pc->d->opt->metrics_addr) {
		args[k++] = "--metrics";
		args[k++] = (char *)pc->d->opt->metrics_addr;
	}
	if (pc->d->opt->access_log) {
		args[k++] = "--access-log";
		args[k++] = (char *)pc->d->opt->access_log;
	}
	args[k] = NULL;
	int logfd = open(pc->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	uv_stdio_container_t stdio[3] = {
		{.flags = UV_IGNORE},
		{.flags = logfd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = logfd},
		{.flags = logfd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = logfd},
	};
	uv_process_options_t o = {
		.exit_cb = on_exit_cb,
		.file = exe,
		.args = args,
		/* its own session: it outlives us like the instances do */
		.flags = UV_PROCESS_DETACHED,
		.stdio_count = 3,
		.stdio = stdio,
	};
	pc->proc.data = pc;
	int r = uv_spawn(&pc->d->loop, &pc->proc, &o);
	if (logfd >= 0)
		close(logfd);
	if (r < 0) {
		sw_warn("cannot start slipway proxy: %s", uv_strerror(r));
		uv_close((uv_handle_t *)&pc->proc, on_proc_closed);
		schedule_restart(pc);
		return;
	}
	pc->pid = pc->proc.pid;
	pc->start_time = runtime_proc_start_time(pc->pid);
	pc->child = true;
	pc->watching = true;
	pc->started_ms = sw_now_ms();
	write_pidfile(pc);
	daemon_event(pc->d, NULL, "ProxyStarted", NULL, "slipway proxy started (pid %d)",
		     (int)pc->pid);
	daemon_kick(pc->d);
}

/* Adopts the proxy a previous daemon started, if it still runs. */
static bool adopt_proxy(struct proxyctl *pc)
{
	FILE *f = fopen(pc->pid_path, "re");
	int pid = 0;
	unsigned long long st = 0;
	if (!f)
		return false;
	int ok = fscanf(f, "%d %llu", &pid, &st) == 2;
	fclose(f);
	if (!ok || pid <= 1 || pid == pc->pid || runtime_proc_start_time(pid) != st || st == 0)
		return false;
	pc->pid = pid;
	pc->start_time = st;
	if (watch_pidfd(pc) < 0)
		return false;
	pc->started_ms = sw_now_ms();
	daemon_event(pc->d, NULL, "ProxyAdopted", NULL, "slipway proxy (pid %d) adopted", pid);
	return true;
}

int proxyctl_start(struct daemon *d, struct sw_err *err)
{
	struct proxyctl *pc = xcalloc(1, sizeof(*pc));
	struct buf b = BUF_INIT;
	pc->d = d;
	pc->pidfd = -1;
	buf_addf(&b, "%s/proxy.sock", d->dir);
	pc->sock_path = buf_detach(&b);
	buf_addf(&b, "%s/proxy.pid", d->dir);
	pc->pid_path = buf_detach(&b);
	buf_addf(&b, "%s/proxy.log", d->logs_dir);
	pc->log_path = buf_detach(&b);
	pc->client.unix_path = pc->sock_path;
	pc->client.timeout_ms = PROXY_CALL_TIMEOUT_MS;
	uv_timer_init(&d->loop, &pc->restart);
	pc->restart.data = pc;
	d->proxy = pc;
	if (!adopt_proxy(pc))
		spawn_proxy(pc);
	return 0;
}

/* One call to the proxy's control socket. */
static int pcall(struct proxyctl *pc, const char *method, const char *path, const char *body,
		 struct buf *out, int *status)
{
	struct sw_err err = {0};
	if (api_client_request(&pc->client, method, path, body, body ? strlen(body) : 0, status,
			       out, &err) < 0) {
		pc->up = false;
		return -1;
	}
	pc->up = true;
	return 0;
}

struct group_acc {
	int64_t revision;
	json_t *backends;
	uint32_t n;
};

/* The rollout parameters of an app's desired revision, for its traffic. */
static void traffic_of(struct daemon *d, struct app *a, struct rollout_traffic *t)
{
	struct sw_err err = {0};
	struct rollout_params p = {0};
	struct spec_app *want = a->st.desired ? daemon_app_spec(d, a, a->st.desired, &err) : NULL;
	if (want)
		p.strategy = &want->strategy;
	rollout_traffic(&a->st, &p, t);
}

static json_t *header_route_json(const struct spec_header_match *h, int64_t revision)
{
	return json_pack("{s:s, s:s?, s:s?, s:I}", "name", h->name, "exact", h->exact, "regex",
			 h->regex, "revision", (json_int_t)revision);
}

/* One route entry: groups of ready instances not on their way out, with
 * the weights the rollout calls for. `only` limits it to one revision
 * (a blue/green preview listener). */
static json_t *route_json(struct daemon *d, struct app *a, const struct spec_app *spec,
			  const char *listen, const struct rollout_traffic *t, int64_t only)
{
	struct group_acc g[64];
	size_t ng = 0;
	for (size_t k = 0; k < a->ninsts; k++) {
		struct runtime_instance *x = a->insts[k];
		struct inst_meta *m = x->data;
		if (!x->ready || m->stopping || !x->port || (only && x->revision != only))
			continue;
		size_t gi = 0;
		while (gi < ng && g[gi].revision != x->revision)
			gi++;
		if (gi == ng) {
			if (ng == 64)
				continue;
			g[ng++] = (struct group_acc){x->revision, json_array(), 0};
		}
		char addr[32];
		snprintf(addr, sizeof(addr), "127.0.0.1:%u", x->port);
		json_array_append_new(g[gi].backends, json_pack("{s:s, s:s}", "id", x->id, "addr", addr));
		g[gi].n++;
	}
	for (size_t x = 0; x < ng; x++) /* stable order: by revision */
		for (size_t y = x + 1; y < ng; y++)
			if (g[y].revision < g[x].revision) {
				struct group_acc tmp = g[x];
				g[x] = g[y];
				g[y] = tmp;
			}
	int64_t revs[64] = {0};
	uint32_t ready[64] = {0}, w[64] = {0};
	for (size_t k = 0; k < ng; k++) {
		revs[k] = g[k].revision;
		ready[k] = g[k].n;
	}
	struct rollout_traffic plain = {0};
	rollout_route_weights(only ? &plain : t, revs, ready, ng, w);
	json_t *groups = json_array();
	for (size_t k = 0; k < ng; k++)
		json_array_append_new(groups, json_pack("{s:I, s:i, s:o}", "revision",
							(json_int_t)g[k].revision, "weight", (int)w[k],
							"backends", g[k].backends));
	/* A header route may only name a revision with a group: the proxy
	 * refuses the whole table otherwise (422), and with it every other
	 * change until the revision has a ready instance — e.g. while a
	 * blue/green preview starts. */
	bool has_desired = false, has_canary = false;
	for (size_t k = 0; k < ng; k++) {
		has_desired |= g[k].revision == a->st.desired;
		has_canary |= g[k].revision == t->canary;
	}
	json_t *hr = json_array();
	if (!only) {
		for (size_t k = 0; has_desired && k < spec->nheader_routes; k++)
			json_array_append_new(hr, header_route_json(&spec->header_routes[k],
								    a->st.desired));
		if (t->header && has_canary)
			json_array_append_new(hr, header_route_json(t->header, t->canary));
	}
	return json_pack("{s:s, s:s, s:s?, s:s, s:b, s:o, s:o}", "app", a->name, "listen", listen,
			 "host", only ? NULL : spec->route.host, "pathPrefix",
			 !only && spec->route.path_prefix ? spec->route.path_prefix : "/", "sticky",
			 !only && spec->route.sticky, "headerRoutes", hr, "groups", groups);
}

json_t *proxyctl_table_json(struct daemon *d)
{
	json_t *routes = json_array();
	for (size_t i = 0; i < d->napps; i++) {
		struct app *a = d->apps[i];
		struct sw_err err = {0};
		int64_t target = rollout_target(&a->st);
		struct spec_app *spec = daemon_app_spec(d, a, target ? target : a->st.desired, &err);
		if (!spec || !spec->route.listen)
			continue;
		struct rollout_traffic t;
		traffic_of(d, a, &t);
		json_array_append_new(routes, route_json(d, a, spec, spec->route.listen, &t, 0));
		if (t.preview_listen)
			json_array_append_new(routes, route_json(d, a, spec, t.preview_listen, &t,
								 t.canary));
	}
	return json_pack("{s:o}", "routes", routes);
}

bool proxyctl_sync(struct daemon *d)
{
	struct proxyctl *pc = d->proxy;
	if (!pc || !pc->pid)
		return false;
	json_t *t = proxyctl_table_json(d);
	char *text = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
	bool synced = pc->pushed && strcmp(pc->pushed, text) == 0;
	if (!synced) {
		json_object_set_new(t, "version", json_integer(pc->version + 1));
		char *body = json_dumps(t, JSON_COMPACT);
		struct buf out = BUF_INIT;
		int status = 0;
		if (pcall(pc, "PUT", "/v1/table", body, &out, &status) == 0) {
			if (status == 200) {
				pc->version++;
				free(pc->pushed);
				pc->pushed = text;
				text = NULL;
				synced = true;
			} else {
				sw_warn("the proxy refused the route table (%d): %s", status,
					buf_str(&out));
			}
		}
		buf_release(&out);
		free(body);
	}
	free(text);
	json_decref(t);
	return synced;
}

json_t *proxyctl_get(struct daemon *d, const char *path)
{
	struct proxyctl *pc = d->proxy;
	struct buf out = BUF_INIT;
	int status = 0;
	json_t *j = NULL;
	if (pc && pc->pid && pcall(pc, "GET", path, NULL, &out, &status) == 0 && status == 200)
		j = json_loadb(out.s ? out.s : "", out.len, 0, NULL);
	buf_release(&out);
	return j;
}

int proxyctl_metrics_text(struct daemon *d, struct buf *out)
{
	struct proxyctl *pc = d->proxy;
	int status = 0;
	if (!pc || !pc->pid || pcall(pc, "GET", "/metrics", NULL, out, &status) < 0 ||
	    status != 200)
		return -1;
	return 0;
}

bool proxyctl_up(struct daemon *d)
{
	return d->proxy && d->proxy->pid && d->proxy->up;
}

pid_t proxyctl_pid(struct daemon *d)
{
	return d->proxy ? d->proxy->pid : 0;
}

void proxyctl_stop(struct daemon *d, bool keep_running)
{
	struct proxyctl *pc = d->proxy;
	if (!pc)
		return;
	uv_timer_stop(&pc->restart);
	if (pc->pid && !keep_running)
		kill(pc->pid, SIGTERM);
	if (pc->watching) {
		if (pc->child)
			uv_close((uv_handle_t *)&pc->proc, on_proc_closed);
		else {
			uv_poll_stop(&pc->poll);
			uv_close((uv_handle_t *)&pc->poll, on_proc_closed);
			close(pc->pidfd);
		}
		pc->watching = false;
	}
	uv_close((uv_handle_t *)&pc->restart, on_proc_closed);
}

void proxyctl_free(struct daemon *d)
{
	struct proxyctl *pc = d->proxy;
	if (!pc)
		return;
	free(pc->pushed);
	free(pc->sock_path);
	free(pc->pid_path);
	free(pc->log_path);
	free(pc);
	d->proxy = NULL;
}
