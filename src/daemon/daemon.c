#include "daemon_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
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
#include <openssl/sha.h>

#include "httpc/httpc.h"
#include "core/buf.h"

#define TICK_MS 500

/* ---- apps ---- */

struct app *daemon_app_find(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->napps; i++)
		if (strcmp(d->apps[i]->name, name) == 0)
			return d->apps[i];
	return NULL;
}

struct app *daemon_app_add(struct daemon *d, const char *name)
{
	struct app *a = xcalloc(1, sizeof(*a));
	a->name = xstrdup(name);
	a->st.phase = ROLLOUT_PROGRESSING;
	d->apps = xrealloc(d->apps, (d->napps + 1) * sizeof(*d->apps));
	d->apps[d->napps++] = a;
	return a;
}

static void app_free(struct daemon *d, struct app *a)
{
	daemon_runs_free(d, a);
	for (size_t i = 0; i < a->nspecs; i++)
		spec_app_unref(a->specs[i].spec);
	free(a->specs);
	free(a->insts);
	free(a->name);
	free(a);
}

struct spec_app *daemon_app_spec(struct daemon *d, struct app *a, int64_t revision,
				 struct sw_err *err)
{
	for (size_t i = 0; i < a->nspecs; i++)
		if (a->specs[i].revision == revision)
			return a->specs[i].spec;

	struct store_revision rev = {0};
	struct spec_app *spec = NULL;
	json_t *j = NULL;
	if (store_revision_get(d->store, a->name, revision, &rev, err) < 0)
		goto out;
	json_error_t jerr;
	j = json_loads(rev.spec_json, 0, &jerr);
	if (!j) {
		sw_errf(err, -1, "revision %lld of \"%s\" is not valid JSON: %s",
			(long long)revision, a->name, jerr.text);
		goto out;
	}
	if (spec_app_from_json(&spec, j, err) < 0)
		goto out;
	a->specs = xrealloc(a->specs, (a->nspecs + 1) * sizeof(*a->specs));
	a->specs[a->nspecs++] = (struct rev_spec){revision, spec};
out:
	json_decref(j);
	store_revision_release(&rev);
	return spec;
}

int daemon_app_save(struct daemon *d, struct app *a, struct sw_err *err)
{
	json_t *rj = rollout_state_to_json(&a->st);
	char *rollout = json_dumps(rj, JSON_COMPACT);
	json_decref(rj);
	struct store_app sa = {
		.rollout_json = rollout,
		.name = a->name,
		.desired_revision = a->st.desired,
		.stable_revision = a->st.stable,
		.phase = (char *)rollout_phase_name(a->st.phase),
		.reason = a->st.reason,
		.progress_ms = a->st.progress_ms,
		.created_ms = a->created_ms,
	};
	int r = store_app_put(d->store, &sa, err);
	free(rollout);
	return r;
}

void daemon_event(struct daemon *d, const char *app, const char *kind, const char *actor,
		  const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct sw_err err = {0};
	sw_info("%s%s%s: %s", app && *app ? app : "", app && *app ? " " : "", kind, msg);
	if (store_event_add(d->store, app ? app : "", kind, msg, actor ? actor : "daemon", NULL,
			    &err) < 0)
		sw_warn("cannot record event: %s", err.msg);
}

/* ---- instances ---- */

static void inst_save_as(struct daemon *d, struct runtime_instance *inst, const char *state);

static void inst_save(struct daemon *d, struct runtime_instance *inst)
{
	inst_save_as(d, inst, runtime_state_name(inst->state));
}

static void inst_save_as(struct daemon *d, struct runtime_instance *inst, const char *state)
{
	struct inst_meta *m = inst->data;
	if (m->app->deleted)
		return;
	struct store_instance si = {
		.id = inst->id,
		.app = inst->app,
		.revision = inst->revision,
		.pid = inst->pid,
		.start_time = inst->start_time,
		.port = inst->port,
		.ready = inst->ready,
		.restarts = (int)inst->restarts,
		.state = (char *)state,
		.created_ms = m->created_ms,
	};
	struct sw_err err = {0};
	if (store_instance_put(d->store, &si, &err) < 0)
		sw_warn("cannot record instance %s: %s", inst->id, err.msg);
}

static void app_attach(struct app *a, struct runtime_instance *inst, int64_t created_ms)
{
	struct inst_meta *m = xcalloc(1, sizeof(*m));
	m->app = a;
	m->created_ms = created_ms;
	inst->data = m;
	a->insts = xrealloc(a->insts, (a->ninsts + 1) * sizeof(*a->insts));
	a->insts[a->ninsts++] = inst;
}

static void app_detach(struct app *a, struct runtime_instance *inst)
{
	for (size_t i = 0; i < a->ninsts; i++)
		if (a->insts[i] == inst) {
			a->insts[i] = a->insts[--a->ninsts];
			break;
		}
	free(inst->data);
	inst->data = NULL;
}

static void remove_dying(struct daemon *d, struct app *a)
{
	for (size_t i = 0; i < d->ndying; i++)
		if (d->dying[i] == a) {
			d->dying[i] = d->dying[--d->ndying];
			app_free(d, a);
			return;
		}
}

static void on_instance(struct runtime_instance *inst, enum runtime_event ev, void *data)
{
	struct daemon *d = data;
	if (!inst->data && d->pending_app) /* called from inside runtime_start */
		app_attach(d->pending_app, inst, sw_wall_ms());
	struct inst_meta *m = inst->data;
	if (!m)
		return;
	struct app *a = m->app;
	const char *app = a->deleted ? NULL : a->name;

	switch (ev) {
	case RUNTIME_EV_STARTED:
		inst_save(d, inst);
		daemon_event(d, app, "InstanceStarted", NULL,
			     "instance %s (revision %lld) started: pid %d, port %u", inst->id,
			     (long long)inst->revision, (int)inst->pid, inst->port);
		break;
	case RUNTIME_EV_READY:
		inst_save(d, inst);
		daemon_event(d, app, "InstanceReady", NULL, "instance %s is ready", inst->id);
		break;
	case RUNTIME_EV_UNREADY:
		inst_save(d, inst);
		daemon_event(d, app, "InstanceUnready", NULL, "instance %s is not ready: %s",
			     inst->id, inst->reason);
		break;
	case RUNTIME_EV_EXITED:
		inst_save(d, inst);
		if (!m->stopping)
			daemon_event(d, app, "InstanceExited", NULL, "instance %s %s", inst->id,
				     inst->reason);
		break;
	case RUNTIME_EV_BACKOFF:
		inst_save(d, inst);
		daemon_event(d, app, "InstanceBackOff", NULL, "instance %s: %s", inst->id,
			     inst->reason);
		break;
	case RUNTIME_EV_LIVENESS:
		inst_save(d, inst);
		daemon_event(d, app, "LivenessFailed", NULL, "instance %s: %s; restarting",
			     inst->id, inst->reason);
		break;
	case RUNTIME_EV_FAILED:
		inst_save(d, inst);
		daemon_event(d, app, "InstanceFailed", NULL, "instance %s: %s", inst->id,
			     inst->reason);
		break;
	case RUNTIME_EV_STOPPED: {
		struct sw_err err = {0};
		if (!a->deleted && store_instance_delete(d->store, inst->id, &err) < 0)
			sw_warn("cannot forget instance %s: %s", inst->id, err.msg);
		daemon_event(d, app, "InstanceStopped", NULL, "instance %s (revision %lld) stopped",
			     inst->id, (long long)inst->revision);
		app_detach(a, inst);
		if (a->deleted && a->ninsts == 0)
			remove_dying(d, a);
		break;
	}
	}
	daemon_kick(d);
}

static void stop_instance(struct runtime *rt, struct runtime_instance *inst)
{
	struct inst_meta *m = inst->data;
	if (m->stopping)
		return;
	m->stopping = true;
	runtime_stop(rt, inst);
}

#define DRAIN_CHECK_MS 50

/* Stops the instances whose drain is over: the proxy has a table without
 * them and reports no request in flight to them, or their drainTimeout
 * passed (also when the proxy cannot be reached). */
static void drain_check(uv_timer_t *t)
{
	struct daemon *d = t->data;
	size_t n = 0;
	for (size_t i = 0; i < d->napps; i++)
		for (size_t k = 0; k < d->apps[i]->ninsts; k++)
			n += ((struct inst_meta *)d->apps[i]->insts[k]->data)->draining;
	if (n == 0 || d->stopping) {
		uv_timer_stop(&d->drain);
		return;
	}
	bool synced = proxyctl_sync(d);
	json_t *stats = synced ? proxyctl_get(d, "/v1/stats?window=1") : NULL;
	json_t *backends = json_object_get(stats, "backends");
	uint64_t now = sw_now_ms();
	for (size_t i = 0; i < d->napps; i++) {
		struct app *a = d->apps[i];
		for (size_t k = 0; k < a->ninsts; k++) {
			struct runtime_instance *x = a->insts[k];
			struct inst_meta *m = x->data;
			if (!m->draining)
				continue;
			json_int_t inflight = json_integer_value(
				json_object_get(json_object_get(backends, x->id), "inflight"));
			bool idle = synced && backends && inflight == 0;
			if (!idle && now < m->drain_deadline_ms)
				continue;
			m->draining = false;
			if (idle)
				daemon_event(d, a->name, "InstanceDrained", NULL,
					     "instance %s has no request in flight; stopping it", x->id);
			else
				daemon_event(d, a->name, "DrainTimeout", NULL,
					     "instance %s still had %lld requests in flight at its "
					     "drainTimeout%s; stopping it", x->id, (long long)inflight,
					     synced ? "" : " (proxy unreachable)");
			runtime_stop(d->rt, x);
		}
	}
	json_decref(stats);
}

static void drain_start(struct daemon *d)
{
	if (!uv_is_active((uv_handle_t *)&d->drain))
		uv_timer_start(&d->drain, drain_check, 0, DRAIN_CHECK_MS);
}

/* Takes an instance out of service: a routed, ready instance first leaves
 * the proxy's rotation and finishes its in-flight requests (drain_check
 * stops it then); any other is stopped at once. The row says "Stopping"
 * before anything happens, so that a daemon restarted meanwhile finishes
 * the job instead of counting the instance. */
static void stop_and_save(struct daemon *d, struct runtime_instance *inst)
{
	struct inst_meta *m = inst->data;
	if (m->stopping)
		return;
	inst_save_as(d, inst, "Stopping");
	if (inst->ready && inst->spec->route.listen && d->proxy) {
		m->stopping = true;
		m->draining = true;
		m->drain_deadline_ms = sw_now_ms() + inst->spec->drain_timeout_ms;
		daemon_event(d, m->app->name, "InstanceDraining", NULL,
			     "instance %s left rotation; waiting up to %llums for its requests",
			     inst->id, (unsigned long long)inst->spec->drain_timeout_ms);
		drain_start(d);
		return;
	}
	stop_instance(d->rt, inst);
}

void daemon_app_delete(struct daemon *d, struct app *a)
{
	for (size_t i = 0; i < d->napps; i++)
		if (d->apps[i] == a) {
			d->apps[i] = d->apps[--d->napps];
			break;
		}
	a->deleted = true;
	if (a->ninsts == 0) {
		app_free(d, a);
		return;
	}
	d->dying = xrealloc(d->dying, (d->ndying + 1) * sizeof(*d->dying));
	d->dying[d->ndying++] = a;
	/* runtime_stop may report STOPPED at once and detach: iterate on a copy */
	size_t n = a->ninsts;
	struct runtime_instance **copy = xmalloc(n * sizeof(*copy));
	memcpy(copy, a->insts, n * sizeof(*copy));
	for (size_t i = 0; i < n; i++)
		stop_instance(d->rt, copy[i]);
	free(copy);
}

/* ---- reconciliation ---- */

static int start_instance(struct daemon *d, struct app *a, int64_t revision)
{
	struct sw_err err = {0};
	struct spec_app *spec = daemon_app_spec(d, a, revision, &err);
	int64_t seq;
	if (!spec) {
		sw_warn("%s: cannot start revision %lld: %s", a->name, (long long)revision, err.msg);
		return -1;
	}
	if (store_next_seq(d->store, a->name, &seq, &err) < 0) {
		sw_warn("%s: cannot start an instance: %s", a->name, err.msg);
		return -1;
	}
	char id[96];
	snprintf(id, sizeof(id), "%s-%lld", a->name, (long long)seq);
	d->pending_app = a;
	struct runtime_instance *inst = runtime_start(d->rt, spec, revision, id, &err);
	d->pending_app = NULL;
	if (!inst) {
		sw_warn("%s: cannot start instance %s: %s", a->name, id, err.msg);
		return -1;
	}
	if (!inst->data) {
		app_attach(a, inst, sw_wall_ms());
		inst_save(d, inst);
	}
	return 0;
}

static void reconcile_app(struct daemon *d, struct app *a)
{
	struct sw_err err = {0};
	struct rollout_params p = {0};
	struct spec_app *want = a->st.desired ? daemon_app_spec(d, a, a->st.desired, &err) : NULL;
	struct spec_app *stable = a->st.stable ? daemon_app_spec(d, a, a->st.stable, &err) : NULL;
	if (a->st.desired && !want) {
		sw_warn("%s: %s", a->name, err.msg);
		return;
	}
	if (want) {
		p.desired_replicas = want->replicas;
		p.max_surge = want->strategy.max_surge;
		p.max_unavailable = want->strategy.max_unavailable;
		if (p.max_surge == 0 && p.max_unavailable == 0)
			p.max_surge = 1;
		p.progress_deadline_ms = want->progress_deadline_ms;
		p.strategy = &want->strategy;
	}
	if (stable)
		p.stable_replicas = stable->replicas;

	struct rollout_instance *ri = xcalloc(a->ninsts, sizeof(*ri));
	for (size_t i = 0; i < a->ninsts; i++) {
		struct runtime_instance *x = a->insts[i];
		struct inst_meta *m = x->data;
		ri[i] = (struct rollout_instance){
			.id = x->id,
			.revision = x->revision,
			.ready = x->ready,
			.stopping = m->stopping,
			.created_ms = m->created_ms,
		};
	}
	struct rollout_run_status *rs = xcalloc(a->nruns + 1, sizeof(*rs));
	for (size_t i = 0; i < a->nruns; i++)
		rs[i] = (struct rollout_run_status){a->runs[i]->id, a->runs[i]->phase,
						    a->runs[i]->reason};
	struct rollout_actions out = {.n = 0};
	bool changed = rollout_reconcile(&a->st, &p, ri, a->ninsts, rs, a->nruns, sw_wall_ms(), &out);
	free(rs);
	if (changed && daemon_app_save(d, a, &err) < 0)
		sw_warn("%s: cannot save rollout state: %s", a->name, err.msg);

	/* Resolve STOP ids to instances before anything changes the array. */
	size_t n = a->ninsts;
	struct runtime_instance **snap = xmalloc((n ? n : 1) * sizeof(*snap));
	memcpy(snap, a->insts, n * sizeof(*snap));
	for (size_t k = 0; k < out.n; k++) {
		struct rollout_action *act = &out.a[k];
		switch (act->kind) {
		case ROLLOUT_EVENT:
			daemon_event(d, a->name, act->event, NULL, "%s", act->message);
			break;
		case ROLLOUT_START:
			start_instance(d, a, act->revision);
			break;
		case ROLLOUT_RUN_START:
			daemon_run_start(d, a, act->run, act->run_kind, act->revision, act->ref);
			break;
		case ROLLOUT_RUN_STOP:
			daemon_run_stop(d, a, act->run);
			break;
		case ROLLOUT_STOP:
			for (size_t i = 0; i < n; i++)
				if (ri[i].id == act->id) {
					daemon_event(d, a->name, "InstanceStopping", NULL,
						     "stopping instance %s (revision %lld)", act->id,
						     (long long)act->revision);
					stop_and_save(d, snap[i]);
					break;
				}
			break;
		}
	}
	free(snap);
	free(ri);
}

static void reconcile_all(struct daemon *d)
{
	if (d->stopping)
		return;
	for (size_t i = 0; i < d->napps; i++)
		reconcile_app(d, d->apps[i]);
	proxyctl_sync(d);
}

static void on_kick(uv_timer_t *t)
{
	reconcile_all(t->data);
}

void daemon_kick(struct daemon *d)
{
	if (!d->stopping && !uv_is_active((uv_handle_t *)&d->kick))
		uv_timer_start(&d->kick, on_kick, 0, 0);
}

/* ---- startup ---- */

static int make_dir(const char *path, struct sw_err *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
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

/* Lowercase hex SHA-256 of a token: tokens are looked up and compared by
 * it, never by their text. */
static void token_hash(const char *token, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)token, strlen(token), md);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Splits a decoded path into at most `max` segments (in place in buf). */
static size_t path_segments(char *buf, const char **segs, size_t max)
{
	size_t n = 0;
	char *p = buf[0] == '/' ? buf + 1 : buf;
	for (;;) {
		char *slash = strchr(p, '/');
		if (n == max)
			return max + 1;
		segs[n++] = p;
		if (!slash)
			return n;
		*slash = '\0';
		p = slash + 1;
	}
}

/*
 * What a role may call. viewer: reads (GET, HEAD) except /v1/tokens;
 * deployer: those plus apply, rollback, delete and the rollout actions;
 * admin: everything. Anything not listed for deployer (tokens, and
 * endpoints added later) is admin-only until someone decides otherwise.
 */
static bool role_allows(const char *role, const char *method, const char *path)
{
	char buf[512];
	const char *seg[6];
	if (strcmp(role, "admin") == 0)
		return true;
	if (sw_strlcpy(buf, path, sizeof(buf)) >= sizeof(buf))
		return false;
	size_t n = path_segments(buf, seg, 5);
	bool v1 = n >= 2 && strcmp(seg[0], "v1") == 0;
	if (v1 && strcmp(seg[1], "tokens") == 0)
		return false;
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return strcmp(role, "viewer") == 0 || strcmp(role, "deployer") == 0;
	if (strcmp(role, "deployer") != 0 || !v1)
		return false;
	bool post = strcmp(method, "POST") == 0;
	bool app = n >= 3 && strcmp(seg[1], "apps") == 0 && *seg[2];
	return (post && n == 2 && strcmp(seg[1], "apply") == 0) ||
	       (strcmp(method, "DELETE") == 0 && app && n == 3) ||
	       (post && app && n == 4 && strcmp(seg[3], "rollback") == 0) ||
	       (post && app && n == 5 && strcmp(seg[3], "rollout") == 0 && *seg[4]);
}

#define TOKEN_TOUCH_MS 1000 /* last-used times are kept to the second */

/*
 * The TCP API's auth: DIR/token is the implicit admin token "root"; the
 * others are looked up in the store by their SHA-256, so a revoked token
 * fails on its next call. Hashes are compared in constant time.
 */
static int auth_token(const char *token, const char *method, const char *path, char *actor,
		      size_t actor_size, void *data)
{
	struct daemon *d = data;
	struct store_token t = {0};
	struct sw_err err = {0};
	char hash[65], root[65];
	int r = -1;

	if (!token || !*token)
		return -1;
	token_hash(token, hash);
	token_hash(d->token, root);
	if (CRYPTO_memcmp(hash, root, 64) == 0) {
		sw_strlcpy(actor, "root", actor_size);
		return 0;
	}
	int g = store_token_get_by_hash(d->store, hash, &t, &err);
	if (g < 0) {
		if (g != SW_ENOTFOUND)
			sw_warn("cannot check a token: %s", err.msg);
		goto out;
	}
	if (strlen(t.hash) != 64 || CRYPTO_memcmp(t.hash, hash, 64) != 0)
		goto out;
	if (!role_allows(t.role, method, path)) {
		snprintf(actor, actor_size, "token \"%s\" (role %s) may not %s %s", t.name, t.role,
			 method, path);
		r = API_AUTH_FORBIDDEN;
		goto out;
	}
	int64_t now = sw_wall_ms();
	if (now - t.last_used_ms >= TOKEN_TOUCH_MS &&
	    store_token_touch(d->store, t.name, now, &err) < 0)
		sw_warn("cannot record the use of token \"%s\": %s", t.name, err.msg);
	sw_strlcpy(actor, t.name, actor_size);
	r = 0;
out:
	store_token_release(&t);
	return r;
}

/* Reads NAME's value from a process's initial environment into out. */
static bool proc_env(pid_t pid, const char *name, char *out, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t k;
	b.cap = 1 << 20;
	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0 && buf_add(&b, chunk, k) == 0)
		;
	fclose(f);
	bool found = false;
	size_t nl = strlen(name);
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

/* Session id of a process (field 6 of /proc/PID/stat), or -1. */
static pid_t proc_session(pid_t pid)
{
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	char *p = strrchr(line, ')');
	int ppid, pgrp, sid;
	char state;
	if (!p || sscanf(p + 1, " %c %d %d %d", &state, &ppid, &pgrp, &sid) != 4)
		return -1;
	return sid;
}

static bool app_has_pid(struct daemon *d, pid_t pid)
{
	for (size_t i = 0; i < d->napps; i++)
		for (size_t k = 0; k < d->apps[i]->ninsts; k++)
			if (d->apps[i]->insts[k]->pid == pid)
				return true;
	return false;
}

/*
 * Finds instance processes of this state dir that no row names: a daemon
 * killed while spawning leaves a process whose pid it never recorded. Each
 * instance runs as a session leader with SLIPWAY_STATE_DIR and
 * SLIPWAY_INSTANCE in its environment. One whose id has a row without a pid
 * (`unrecorded`) is adopted; any other is killed with its process group.
 */
static void sweep_orphans(struct daemon *d, struct store_instance **unrecorded, size_t n)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	if (!proc)
		return;
	while ((de = readdir(proc))) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		if (*end || v <= 1 || v == getpid())
			continue;
		pid_t pid = (pid_t)v;
		char dir[PATH_MAX], id[128];
		if (proc_session(pid) != pid || !proc_env(pid, "SLIPWAY_STATE_DIR", dir, sizeof(dir)) ||
		    strcmp(dir, d->dir) != 0 || !proc_env(pid, "SLIPWAY_INSTANCE", id, sizeof(id)) ||
		    app_has_pid(d, pid))
			continue;
		struct store_instance *row = NULL;
		for (size_t i = 0; i < n; i++)
			if (unrecorded[i] && strcmp(unrecorded[i]->id, id) == 0)
				row = unrecorded[i];
		struct app *a = row ? daemon_app_find(d, row->app) : NULL;
		struct sw_err err = {0};
		struct spec_app *spec = a ? daemon_app_spec(d, a, row->revision, &err) : NULL;
		struct runtime_instance *inst = NULL;
		if (spec)
			inst = runtime_adopt(d->rt, spec, row->revision, row->id, pid,
					     runtime_proc_start_time(pid), (uint16_t)row->port, false,
					     (uint32_t)row->restarts, &err);
		if (inst) {
			app_attach(a, inst, row->created_ms);
			inst_save(d, inst);
			daemon_event(d, a->name, "InstanceAdopted", NULL,
				     "instance %s (pid %d) was started by the last daemon as it "
				     "stopped; adopted", row->id, (int)pid);
			for (size_t i = 0; i < n; i++)
				if (unrecorded[i] == row)
					unrecorded[i] = NULL;
			continue;
		}
		kill(-pid, SIGKILL);
		daemon_event(d, NULL, "OrphanKilled", NULL,
			     "process %d (instance %s) had no record; killed it and its group",
			     (int)pid, id);
	}
	closedir(proc);
}

/*
 * Finishes the stop of an adopted instance whose row says "Stopping". The
 * last daemon may have died while the instance drained: the proxy still
 * has it in its table until this daemon pushes one, so a signal now would
 * hit an instance that still gets requests. It is marked stopping (out of
 * every table this daemon derives) and draining; drain_check stops it once
 * the proxy holds a table without it and reports nothing in flight.
 */
static void resume_stop(struct runtime_instance *inst)
{
	struct inst_meta *m = inst->data;
	m->stopping = true;
	if (inst->ready && inst->spec->route.listen) {
		m->draining = true;
		m->drain_deadline_ms = sw_now_ms() + inst->spec->drain_timeout_ms;
	}
}

/* Once the loop's timers exist: stops the adopted instances resume_stop
 * marked that need no drain, and starts the drain check for the others.
 * runtime_stop may report STOPPED at once and detach: work on a copy. */
static void resume_stops(struct daemon *d)
{
	for (size_t i = 0; i < d->napps; i++) {
		struct app *a = d->apps[i];
		size_t n = a->ninsts;
		struct runtime_instance **copy = xmalloc((n ? n : 1) * sizeof(*copy));
		memcpy(copy, a->insts, n * sizeof(*copy));
		for (size_t k = 0; k < n; k++) {
			struct inst_meta *m = copy[k]->data;
			if (m->draining)
				drain_start(d);
			else if (m->stopping)
				runtime_stop(d->rt, copy[k]);
		}
		free(copy);
	}
}

/* Loads apps from the store and takes over the instances a previous daemon
 * left running. */
static int load_state(struct daemon *d, struct sw_err *err)
{
	struct store_app *apps = NULL;
	struct store_instance *insts = NULL, **unrecorded = NULL;
	size_t napps = 0, ninsts = 0, nunrec = 0;
	int r = -1;

	if (store_app_list(d->store, &apps, &napps, err) < 0)
		goto out;
	for (size_t i = 0; i < napps; i++) {
		struct app *a = daemon_app_add(d, apps[i].name);
		a->created_ms = apps[i].created_ms;
		if (apps[i].rollout_json && *apps[i].rollout_json) {
			json_t *rj = json_loads(apps[i].rollout_json, 0, NULL);
			rollout_state_from_json(&a->st, rj);
			json_decref(rj);
			if (rj)
				continue;
		}
		a->st.header_step = -1;
		a->st.desired = apps[i].desired_revision;
		a->st.stable = apps[i].stable_revision;
		a->st.phase = rollout_phase_parse(apps[i].phase);
		a->st.failed = a->st.phase == ROLLOUT_DEGRADED ? a->st.desired : 0;
		a->st.progress_ms = apps[i].progress_ms;
		a->created_ms = apps[i].created_ms;
		sw_strlcpy(a->st.reason, apps[i].reason, sizeof(a->st.reason));
	}
	if (store_instance_list(d->store, NULL, &insts, &ninsts, err) < 0)
		goto out;
	unrecorded = xcalloc(ninsts + 1, sizeof(*unrecorded));
	for (size_t i = 0; i < ninsts; i++) {
		struct store_instance *si = &insts[i];
		struct app *a = daemon_app_find(d, si->app);
		struct sw_err e = {0};
		struct spec_app *spec = a ? daemon_app_spec(d, a, si->revision, &e) : NULL;
		struct runtime_instance *inst = NULL;
		if (a && si->pid <= 0) {
			unrecorded[nunrec++] = si; /* spawned, maybe, as the daemon died */
			continue;
		}
		if (spec)
			inst = runtime_adopt(d->rt, spec, si->revision, si->id, si->pid,
					     si->start_time, (uint16_t)si->port, si->ready,
					     (uint32_t)si->restarts, &e);
		if (inst) {
			app_attach(a, inst, si->created_ms);
			daemon_event(d, a->name, "InstanceAdopted", NULL,
				     "instance %s (pid %d, port %d) adopted after daemon restart",
				     si->id, si->pid, si->port);
			if (strcmp(si->state, "Stopping") == 0)
				resume_stop(inst); /* the last daemon was stopping it */
			continue;
		}
		if (!a && si->pid > 0 && runtime_proc_start_time(si->pid) == si->start_time)
			kill(-si->pid, SIGKILL); /* an instance of an app that no longer exists */
		daemon_event(d, si->app, "InstanceLost", NULL, "instance %s was not adopted: %s",
			     si->id, e.msg[0] ? e.msg : "no process recorded");
		struct sw_err e2 = {0};
		store_instance_delete(d->store, si->id, &e2);
	}
	sweep_orphans(d, unrecorded, nunrec);
	for (size_t i = 0; i < nunrec; i++) {
		if (!unrecorded[i])
			continue;
		struct sw_err e2 = {0};
		daemon_event(d, unrecorded[i]->app, "InstanceLost", NULL,
			     "instance %s was being started when the last daemon stopped; "
			     "no process found", unrecorded[i]->id);
		store_instance_delete(d->store, unrecorded[i]->id, &e2);
	}
	r = 0;
out:
	free(unrecorded);
	store_app_list_free(apps, napps);
	store_instance_list_free(insts, ninsts);
	return r;
}

/* ---- shutdown ---- */

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

static void on_all_stopped(void *data)
{
	finish(data);
}

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
	d->stopping = true;
	uv_timer_stop(&d->tick);
	uv_timer_stop(&d->kick);
	uv_timer_stop(&d->drain);
	proxyctl_stop(d, d->opt->keep_instances);
	if (d->api) {
		api_free(d->api);
		d->api = NULL;
	}
	if (d->opt->keep_instances) {
		sw_info("%s: stopping; instances keep running (--keep-instances)", strsignal(signum));
		finish(d);
		return;
	}
	sw_info("%s: stopping %zu instances", strsignal(signum), runtime_count(d->rt));
	runtime_stop_all(d->rt, on_all_stopped, d);
}

static void on_tick(uv_timer_t *t)
{
	reconcile_all(t->data);
}

/*
 * Replaces this control plane with the binary now on disk: stop the API
 * and the timers, let go of instances and the proxy without stopping them,
 * close the store and the lock; daemon_run then execs the same command
 * line, and the new process adopts everything as after a crash (traffic
 * never depends on the control plane).
 */
void daemon_upgrade(struct daemon *d)
{
	if (d->stopping)
		return;
	daemon_event(d, NULL, "DaemonUpgrading", NULL,
		     "slipway serve (pid %d) re-executes the binary on disk", (int)getpid());
	d->stopping = true;
	d->upgrading = true;
	uv_timer_stop(&d->tick);
	uv_timer_stop(&d->kick);
	uv_timer_stop(&d->drain);
	proxyctl_stop(d, true);
	if (d->api) {
		api_free(d->api);
		d->api = NULL;
	}
	finish(d);
}

/* The path of the running binary, or of what replaced it on disk. */
static void self_exe(char *out, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", out, size - 1);
	out[n > 0 ? n : 0] = '\0';
	size_t l = strlen(out);
	static const char deleted[] = " (deleted)";
	if (l > sizeof(deleted) - 1 && strcmp(out + l - (sizeof(deleted) - 1), deleted) == 0)
		out[l - (sizeof(deleted) - 1)] = '\0';
}

int daemon_run(const struct daemon_options *opt)
{
	struct daemon dd = {0}, *d = &dd;
	struct sw_err err = {0};
	struct buf path = BUF_INIT;
	int loop_ok = 0;

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
	 * sweep_orphans). No other descriptor of ours may leak into them. */
	setenv("SLIPWAY_STATE_DIR", d->dir, 1);
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (take_lock(d, &err) < 0 || load_token(d, &err) < 0)
		goto out;
	buf_addf(&path, "%s/logs", d->dir);
	d->logs_dir = buf_detach(&path);
	if (make_dir(d->logs_dir, &err) < 0)
		goto out;
	buf_addf(&path, "%s/state.db", d->dir);
	if (store_open(&d->store, path.s, &err) < 0)
		goto out;
	buf_reset(&path);

	if (uv_loop_init(&d->loop) < 0) {
		sw_errf(&err, -1, "cannot create the event loop");
		goto out;
	}
	loop_ok = 1;
	/* before anything that may kick a reconcile (adoption, resumed runs) */
	uv_timer_init(&d->loop, &d->tick);
	uv_timer_init(&d->loop, &d->kick);
	uv_timer_init(&d->loop, &d->drain);
	uv_timer_init(&d->loop, &d->upgrade);
	d->tick.data = d->kick.data = d->drain.data = d->upgrade.data = d;
	struct runtime_config rc = {
		.loop = &d->loop,
		.log_dir = d->logs_dir,
		.port_min = opt->port_min,
		.port_max = opt->port_max,
		.backoff_initial_ms = opt->backoff_initial_ms,
		.backoff_max_ms = opt->backoff_max_ms,
		.on_change = on_instance,
		.data = d,
	};
	if (runtime_new(&d->rt, &rc, &err) < 0 || httpc_new(&d->httpc, &d->loop, &err) < 0)
		goto out;
	if (load_state(d, &err) < 0)
		goto out;
	for (size_t i = 0; i < d->napps; i++)
		daemon_runs_resume(d, d->apps[i]);

	buf_addf(&path, "%s/slipway.sock", d->dir);
	struct api_config ac = {
		.loop = &d->loop,
		.unix_path = path.s,
		.tcp_addr = opt->api_addr,
		.auth = auth_token,
		.auth_data = d,
	};
	if (api_new(&d->api, &ac, &err) < 0)
		goto out;
	handlers_register(d);

	if (proxyctl_start(d, &err) < 0)
		goto out;
	resume_stops(d);
	uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
	uv_signal_init(&d->loop, &d->sigterm);
	uv_signal_init(&d->loop, &d->sigint);
	d->sigterm.data = d->sigint.data = d;
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_signal_start(&d->sigint, on_signal, SIGINT);
	uv_signal_init(&d->loop, &d->sigusr2);
	d->sigusr2.data = d;
	uv_signal_start(&d->sigusr2, on_signal, SIGUSR2);
	d->started_ms = sw_wall_ms();

	sw_info("slipway %s serving on %s%s%s (state %s, pid %d)", SLIPWAY_VERSION, path.s,
		opt->api_addr ? " and http://" : "", opt->api_addr ? opt->api_addr : "", d->dir,
		(int)getpid());
	daemon_event(d, NULL, "DaemonStarted", NULL, "slipway %s started (pid %d), %zu apps",
		     SLIPWAY_VERSION, (int)getpid(), d->napps);
	reconcile_all(d);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	daemon_event(d, NULL, "DaemonStopped", NULL, "slipway stopped");
	d->exit_code = 0;
out:
	if (err.msg[0])
		fprintf(stderr, "slipway serve: %s\n", err.msg);
	if (d->api)
		api_free(d->api);
	if (d->rt)
		runtime_free(d->rt);
	for (size_t i = 0; i < d->napps; i++)
		daemon_runs_free(d, d->apps[i]);
	if (d->httpc) {
		httpc_free(d->httpc);
		d->httpc = NULL;
	}
	if (d->proxy && !d->stopping)
		proxyctl_stop(d, true);
	if (loop_ok) {
		uv_walk(&d->loop, close_walk, NULL);
		uv_run(&d->loop, UV_RUN_DEFAULT);
		uv_loop_close(&d->loop);
	}
	for (size_t i = 0; i < d->napps; i++)
		app_free(d, d->apps[i]);
	for (size_t i = 0; i < d->ndying; i++)
		app_free(d, d->dying[i]);
	free(d->apps);
	free(d->dying);
	proxyctl_free(d);
	if (d->store)
		store_close(d->store);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	free(d->dir);
	free(d->logs_dir);
	buf_release(&path);
	if (d->upgrading && opt->argv) {
		char exe[PATH_MAX];
		self_exe(exe, sizeof(exe));
		execv(exe, opt->argv);
		fprintf(stderr, "slipway serve: cannot re-execute \"%s\": %s; instances and the proxy "
				"keep running, start `slipway serve` again to adopt them\n",
			exe, strerror(errno));
		return 1;
	}
	return d->exit_code;
}
