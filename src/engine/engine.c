/*
 * The engine's live state: apps by name, their instances, reconcile of the
 * apps that changed, draining, analysis runs, the route table and events.
 * The use cases are in usecases.c, the state after a restart in load.c.
 */
#include "engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analysis/runner.h"
#include "core/buf.h"
#include "rollout/routes.h"
#include "store/store.h"
#include "traffic/traffic.h"

#define TICK_MS 500
#define DRAIN_CHECK_MS 50
#define STATS_REFRESH_MS 1000
/* The snapshot is refreshed while someone looked at it this recently. */
#define STATS_INTEREST_MS 30000
#define STATS_IDLE_MS 10000

/* ---- apps ---- */

struct engine_app *engine_app_find(struct engine *e, const char *name)
{
	return name ? sw_map_get(&e->apps, name) : NULL;
}

size_t engine_app_count(const struct engine *e)
{
	return sw_map_count(&e->apps);
}

static int cmp_app(const void *pa, const void *pb)
{
	return strcmp((*(struct engine_app *const *)pa)->name,
		      (*(struct engine_app *const *)pb)->name);
}

size_t engine_apps(struct engine *e, struct engine_app ***out)
{
	size_t n = 0, it = 0;
	const char *k;
	void *v;
	*out = xmalloc((sw_map_count(&e->apps) + 1) * sizeof(**out));
	while (sw_map_next(&e->apps, &it, &k, &v))
		(*out)[n++] = v;
	qsort(*out, n, sizeof(**out), cmp_app);
	return n;
}

struct engine_app *engine_app_add(struct engine *e, const char *name)
{
	struct engine_app *a = xcalloc(1, sizeof(*a));
	a->name = xstrdup(name);
	a->st.phase = ROLLOUT_PROGRESSING;
	a->st.header_step = -1;
	sw_map_put(&e->apps, a->name, a);
	return a;
}

static void runs_free(struct engine_app *a)
{
	for (size_t i = 0; i < a->nruns; i++) {
		analysis_run_stop(a->runs[i]->run);
		free(a->runs[i]);
	}
	free(a->runs);
	a->runs = NULL;
	a->nruns = 0;
	engine_hooks_free(a);
}

void engine_app_free(struct engine *e, struct engine_app *a)
{
	runs_free(a);
	for (size_t i = 0; i < a->nspecs; i++)
		spec_app_unref(a->specs[i].spec);
	for (size_t i = 0; i < e->ndirty; i++)
		if (e->dirty[i] == a)
			e->dirty[i] = e->dirty[--e->ndirty];
	free(a->specs);
	free(a->insts);
	free(a->failures);
	free(a->gone);
	json_decref(a->labels);
	json_decref(a->routes);
	free(a->routes_text);
	free(a->owner);
	free(a->actor);
	free(a->name);
	free(a);
}

/*
 * The parsed spec of a revision. The cache keeps the spec_cache revisions
 * used last; instances hold their own reference, so evicting one never
 * frees a spec in use. Revisions the rollout names are used on every
 * reconcile and stay.
 */
struct spec_app *engine_app_spec(struct engine *e, struct engine_app *a, int64_t revision,
				 struct sw_err *err)
{
	for (size_t i = 0; i < a->nspecs; i++)
		if (a->specs[i].revision == revision) {
			a->specs[i].used = ++e->clock;
			return a->specs[i].spec;
		}

	struct store_revision rev = {0};
	struct spec_app *spec = NULL;
	json_t *j = NULL;
	if (store_revision_get(e->cfg.store, a->name, revision, &rev, err) < 0)
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
	size_t max = e->cfg.spec_cache ? e->cfg.spec_cache : 4;
	if (a->nspecs >= max) {
		size_t lru = 0;
		for (size_t i = 1; i < a->nspecs; i++)
			if (a->specs[i].used < a->specs[lru].used)
				lru = i;
		spec_app_unref(a->specs[lru].spec);
		a->specs[lru] = a->specs[--a->nspecs];
	}
	a->specs = xrealloc(a->specs, (a->nspecs + 1) * sizeof(*a->specs));
	a->specs[a->nspecs++] = (struct engine_spec_cache){revision, spec, ++e->clock};
out:
	json_decref(j);
	store_revision_release(&rev);
	return spec;
}

/* ---- what the engine keeps beside the rollout state ---- */

static json_t *extra_to_json(const struct engine_app *a)
{
	json_t *failures = json_array(), *gone = json_array();
	for (size_t i = 0; i < a->nfailures; i++)
		json_array_append_new(failures, json_pack("{s:I, s:I, s:s}", "revision",
							  (json_int_t)a->failures[i].revision, "timeMs",
							  (json_int_t)a->failures[i].time_ms, "reason",
							  a->failures[i].reason));
	for (size_t i = 0; i < a->ngone; i++)
		json_array_append_new(gone, json_pack("{s:s, s:I, s:I, s:s}", "id", a->gone[i].id,
						      "revision", (json_int_t)a->gone[i].revision,
						      "stoppedMs", (json_int_t)a->gone[i].stopped_ms,
						      "reason", a->gone[i].reason));
	json_t *j = json_pack("{s:o, s:o}", "failedRevisions", failures, "goneInstances", gone);
	if (a->actor)
		json_object_set_new(j, "desiredActor", json_string(a->actor));
	if (json_object_size(a->labels))
		json_object_set_new(j, "labels", json_deep_copy(a->labels));
	return j;
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

void engine_app_extra_from_json(struct engine_app *a, const json_t *rj)
{
	size_t i;
	json_t *x;
	const char *k;
	json_t *labels = json_object_get(rj, "labels");
	if (*jstr(rj, "desiredActor")) {
		free(a->actor);
		a->actor = xstrdup(jstr(rj, "desiredActor"));
	}
	json_object_foreach(labels, k, x)
		if (json_is_string(x)) {
			if (!a->labels)
				a->labels = json_object();
			json_object_set(a->labels, k, x);
		}
	json_array_foreach(json_object_get(rj, "failedRevisions"), i, x) {
		if (a->nfailures >= ENGINE_FAILURES_MAX)
			break;
		struct engine_failure *f;
		a->failures = xrealloc(a->failures, (a->nfailures + 1) * sizeof(*a->failures));
		f = &a->failures[a->nfailures++];
		f->revision = json_integer_value(json_object_get(x, "revision"));
		f->time_ms = json_integer_value(json_object_get(x, "timeMs"));
		sw_strlcpy(f->reason, jstr(x, "reason"), sizeof(f->reason));
	}
	json_array_foreach(json_object_get(rj, "goneInstances"), i, x) {
		const char *id = jstr(x, "id");
		if (a->ngone >= ENGINE_GONE_MAX || !*id || strchr(id, '/'))
			continue;
		struct engine_gone *g;
		a->gone = xrealloc(a->gone, (a->ngone + 1) * sizeof(*a->gone));
		g = &a->gone[a->ngone++];
		sw_strlcpy(g->id, id, sizeof(g->id));
		g->revision = json_integer_value(json_object_get(x, "revision"));
		g->stopped_ms = json_integer_value(json_object_get(x, "stoppedMs"));
		sw_strlcpy(g->reason, jstr(x, "reason"), sizeof(g->reason));
	}
}

/* Keeps the abort of the desired revision for history, and forgets the
 * failure of a revision that became stable after all (a retry). Returns
 * true when the list changed. */
static bool failures_update(struct engine_app *a)
{
	bool changed = false;
	for (size_t i = 0; i < a->nfailures;)
		if (a->failures[i].revision == a->st.stable) {
			memmove(&a->failures[i], &a->failures[i + 1],
				(a->nfailures - i - 1) * sizeof(*a->failures));
			a->nfailures--;
			changed = true;
		} else {
			i++;
		}
	if (a->st.phase != ROLLOUT_DEGRADED || !a->st.failed || a->st.failed != a->st.desired)
		return changed;
	struct engine_failure *f = NULL;
	for (size_t i = 0; i < a->nfailures; i++)
		if (a->failures[i].revision == a->st.failed)
			f = &a->failures[i];
	if (f && strcmp(f->reason, a->st.reason) == 0)
		return changed;
	if (!f) {
		if (a->nfailures == ENGINE_FAILURES_MAX)
			memmove(&a->failures[0], &a->failures[1],
				(--a->nfailures) * sizeof(*a->failures));
		a->failures = xrealloc(a->failures, (a->nfailures + 1) * sizeof(*a->failures));
		f = &a->failures[a->nfailures++];
		f->revision = a->st.failed;
	}
	f->time_ms = sw_wall_ms();
	sw_strlcpy(f->reason, a->st.reason, sizeof(f->reason));
	return true;
}

/* Keeps a stopped instance for `logs --previous`. */
static void gone_add(struct engine_app *a, const struct runtime_instance *x)
{
	if (a->ngone == ENGINE_GONE_MAX)
		memmove(&a->gone[0], &a->gone[1], (--a->ngone) * sizeof(*a->gone));
	a->gone = xrealloc(a->gone, (a->ngone + 1) * sizeof(*a->gone));
	struct engine_gone *g = &a->gone[a->ngone++];
	memset(g, 0, sizeof(*g));
	sw_strlcpy(g->id, x->id, sizeof(g->id));
	g->revision = x->revision;
	g->stopped_ms = sw_wall_ms();
	if (x->exit_reason[0])
		snprintf(g->reason, sizeof(g->reason), "%s, %u restarts", x->exit_reason,
			 (unsigned)x->restarts);
	a->extra_dirty = true;
}

void engine_app_set_actor(struct engine_app *a, const char *actor)
{
	if (!actor || (a->actor && strcmp(a->actor, actor) == 0))
		return;
	free(a->actor);
	a->actor = xstrdup(actor);
	a->extra_dirty = true;
}

int engine_app_save(struct engine *e, struct engine_app *a, struct sw_err *err)
{
	json_t *rj = rollout_state_to_json(&a->st);
	json_object_update_missing_new(rj, extra_to_json(a));
	a->extra_dirty = false;
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
		.owner = a->owner,
	};
	int r = store_app_put(e->cfg.store, &sa, err);
	free(rollout);
	return r;
}

/*
 * How long a store call waits for another writer's lock. A use case (an
 * operator is waiting for its answer) waits up to 5 s and then says so;
 * the engine's own writes (events, instance rows, rollout state) wait a
 * quarter of a second and are logged and retried by the next change, so
 * a database locked from outside never stalls the loop for long.
 */
#define STORE_WAIT_USER_MS 5000
#define STORE_WAIT_BACKGROUND_MS 250

void engine_store_wait(struct engine *e, bool user)
{
	store_set_busy_timeout(e->cfg.store, user ? STORE_WAIT_USER_MS : STORE_WAIT_BACKGROUND_MS);
}

/* ---- events ---- */

void engine_event(struct engine *e, const char *app, const char *kind, const char *actor,
		  const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct sw_err err = {0};
	struct engine_event ev = {
		.app = app ? app : "",
		.kind = kind,
		.message = msg,
		.actor = actor ? actor : "daemon",
		.time_ms = sw_wall_ms(),
	};
	sw_info("%s%s%s: %s", *ev.app ? ev.app : "", *ev.app ? " " : "", kind, msg);
	if (store_event_add(e->cfg.store, ev.app, kind, msg, ev.actor, &ev.id, &err) < 0)
		sw_warn("cannot record event: %s", err.msg);
	engine_notify(e, &ev);
}

void engine_notify(struct engine *e, const struct engine_event *ev)
{
	/* a subscriber may unsubscribe itself: walk by id */
	for (size_t i = 0; i < e->nsubs; i++) {
		uint64_t id = e->subs[i].id;
		e->subs[i].cb(ev, e->subs[i].data);
		if (i < e->nsubs && e->subs[i].id != id)
			i--;
	}
}

uint64_t engine_subscribe(struct engine *e, engine_event_cb cb, void *data)
{
	e->subs = xrealloc(e->subs, (e->nsubs + 1) * sizeof(*e->subs));
	e->subs[e->nsubs++] = (struct engine_sub){++e->next_sub, cb, data};
	return e->next_sub;
}

void engine_unsubscribe(struct engine *e, uint64_t id)
{
	for (size_t i = 0; i < e->nsubs; i++)
		if (e->subs[i].id == id) {
			memmove(&e->subs[i], &e->subs[i + 1], (e->nsubs - i - 1) * sizeof(*e->subs));
			e->nsubs--;
			return;
		}
}

/* ---- instances ---- */

void engine_inst_save(struct engine *e, struct engine_inst *m, const char *state)
{
	struct runtime_instance *inst = m->rt;
	if (m->app->deleted)
		return;
	struct store_instance si = {
		.id = inst->id,
		.app = m->app->name, /* the key: "prod/hello" */
		.revision = inst->revision,
		.handle = inst->handle,
		.port = inst->port,
		.ready = inst->ready,
		.restarts = (int)inst->restarts,
		.state = (char *)(state ? state : runtime_state_name(inst->state)),
		.created_ms = m->created_ms,
	};
	struct sw_err err = {0};
	if (store_instance_put(e->cfg.store, &si, &err) < 0)
		sw_warn("cannot record instance %s: %s", inst->id, err.msg);
}

void engine_inst_attach(struct engine_app *a, struct runtime_instance *inst, int64_t created_ms)
{
	struct engine_inst *m = xcalloc(1, sizeof(*m));
	m->rt = inst;
	m->app = a;
	m->created_ms = created_ms;
	inst->data = m;
	a->insts = xrealloc(a->insts, (a->ninsts + 1) * sizeof(*a->insts));
	a->insts[a->ninsts++] = m;
}

static void inst_detach(struct engine_app *a, struct engine_inst *m)
{
	for (size_t i = 0; i < a->ninsts; i++)
		if (a->insts[i] == m) {
			a->insts[i] = a->insts[--a->ninsts];
			break;
		}
	m->rt->data = NULL;
	free(m);
}

static void remove_dying(struct engine *e, struct engine_app *a)
{
	for (size_t i = 0; i < e->ndying; i++)
		if (e->dying[i] == a) {
			e->dying[i] = e->dying[--e->ndying];
			engine_app_free(e, a);
			return;
		}
}

void engine_on_instance(struct runtime_instance *inst, enum runtime_event ev, void *data)
{
	struct engine *e = data;
	if (!inst->data && e->pending_app) /* called from inside runtime_start */
		engine_inst_attach(e->pending_app, inst, sw_wall_ms());
	struct engine_inst *m = inst->data;
	if (!m)
		return;
	struct engine_app *a = m->app;
	const char *app = a->deleted ? NULL : a->name;

	switch (ev) {
	case RUNTIME_EV_STARTED:
		engine_inst_save(e, m, NULL);
		engine_event(e, app, "InstanceStarted", NULL,
			     "instance %s (revision %lld) started: pid %d, port %u", inst->id,
			     (long long)inst->revision, (int)runtime_instance_pid(inst), inst->port);
		break;
	case RUNTIME_EV_READY:
		engine_inst_save(e, m, NULL);
		engine_event(e, app, "InstanceReady", NULL, "instance %s is ready", inst->id);
		break;
	case RUNTIME_EV_UNREADY:
		engine_inst_save(e, m, NULL);
		engine_event(e, app, "InstanceUnready", NULL, "instance %s is not ready: %s",
			     inst->id, inst->reason);
		break;
	case RUNTIME_EV_EXITED:
		engine_inst_save(e, m, NULL);
		if (!m->stopping)
			engine_event(e, app, "InstanceExited", NULL, "instance %s %s", inst->id,
				     inst->reason);
		break;
	case RUNTIME_EV_BACKOFF:
		engine_inst_save(e, m, NULL);
		engine_event(e, app, "InstanceBackOff", NULL, "instance %s: %s", inst->id,
			     inst->reason);
		break;
	case RUNTIME_EV_LIVENESS:
		engine_inst_save(e, m, NULL);
		engine_event(e, app, "LivenessFailed", NULL, "instance %s: %s; restarting",
			     inst->id, inst->reason);
		break;
	case RUNTIME_EV_FAILED:
		engine_inst_save(e, m, NULL);
		engine_event(e, app, "InstanceFailed", NULL, "instance %s: %s", inst->id,
			     inst->reason);
		break;
	case RUNTIME_EV_STOPPED: {
		struct sw_err err = {0};
		if (!a->deleted && store_instance_delete(e->cfg.store, inst->id, &err) < 0)
			sw_warn("cannot forget instance %s: %s", inst->id, err.msg);
		if (!a->deleted)
			gone_add(a, inst);
		engine_event(e, app, "InstanceStopped", NULL, "instance %s (revision %lld) stopped",
			     inst->id, (long long)inst->revision);
		inst_detach(a, m);
		if (a->deleted) {
			if (a->ninsts == 0)
				remove_dying(e, a);
			return;
		}
		break;
	}
	}
	engine_kick(e, a);
}

static void stop_instance(struct engine *e, struct engine_inst *m)
{
	if (m->stopping && !m->draining)
		return;
	m->stopping = true;
	m->draining = false;
	runtime_stop(e->rt, m->rt);
}

/* ---- draining ---- */

static size_t draining_count(struct engine *e)
{
	size_t n = 0, it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->apps, &it, &k, &v)) {
		struct engine_app *a = v;
		for (size_t i = 0; i < a->ninsts; i++)
			n += a->insts[i]->draining;
	}
	return n;
}

/* Stops the draining instances whose drain is over: the data plane holds
 * a table without them and reports no request in flight to them
 * (`backends` non-NULL), or their drainTimeout passed (also when the data
 * plane cannot be reached). */
static void drain_decide(struct engine *e, json_t *backends, bool reachable)
{
	uint64_t now = sw_now_ms();
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->apps, &it, &k, &v)) {
		struct engine_app *a = v;
		size_t n = a->ninsts;
		struct engine_inst **copy = xmalloc((n ? n : 1) * sizeof(*copy));
		if (n)
			memcpy(copy, a->insts, n * sizeof(*copy));
		for (size_t i = 0; i < n; i++) {
			struct engine_inst *m = copy[i];
			if (!m->draining)
				continue;
			json_int_t inflight = json_integer_value(json_object_get(
				json_object_get(backends, m->rt->id), "inflight"));
			bool idle = backends && inflight == 0;
			if (!idle && now < m->drain_deadline_ms)
				continue;
			if (idle)
				engine_event(e, a->name, "InstanceDrained", NULL,
					     "instance %s has no request in flight; stopping it",
					     m->rt->id);
			else
				engine_event(e, a->name, "DrainTimeout", NULL,
					     "instance %s still had %lld requests in flight at its "
					     "drainTimeout%s; stopping it", m->rt->id,
					     (long long)inflight, reachable ? "" : " (proxy unreachable)");
			stop_instance(e, m);
		}
		free(copy);
	}
}

static void on_drain_stats(json_t *stats, const char *error, void *data)
{
	struct engine *e = data;
	e->drain_call = 0;
	json_t *backends = json_object_get(stats, "backends");
	drain_decide(e, stats ? backends : NULL, stats != NULL);
}

static void drain_check(uv_timer_t *t)
{
	struct engine *e = t->data;
	if (draining_count(e) == 0 || e->stopping) {
		uv_timer_stop(&e->drain);
		return;
	}
	if (e->drain_call)
		return; /* the last answer is still on its way */
	/* Counts mean something only once the data plane holds a table
	 * without the draining instances; until then only deadlines count. */
	if (!e->traffic || !traffic_synced(e->traffic)) {
		drain_decide(e, NULL, e->traffic != NULL);
		return;
	}
	e->drain_call = traffic_get(e->traffic, "/v1/stats?window=1", on_drain_stats, e);
}

void engine_drain_start(struct engine *e)
{
	if (!uv_is_active((uv_handle_t *)&e->drain))
		uv_timer_start(&e->drain, drain_check, 0, DRAIN_CHECK_MS);
}

/* Takes an instance out of service: a routed, ready instance first leaves
 * the data plane's rotation and finishes its in-flight requests
 * (drain_check stops it then); any other is stopped at once. The row says
 * "Stopping" before anything happens, so that a daemon restarted
 * meanwhile finishes the job instead of counting the instance. */
static void stop_and_save(struct engine *e, struct engine_inst *m)
{
	struct runtime_instance *inst = m->rt;
	if (m->stopping)
		return;
	engine_inst_save(e, m, "Stopping");
	if (inst->ready && inst->spec->route.listen && e->traffic) {
		m->stopping = true;
		m->draining = true;
		m->drain_deadline_ms = sw_now_ms() + inst->spec->drain_timeout_ms;
		engine_event(e, m->app->name, "InstanceDraining", NULL,
			     "instance %s left rotation; waiting up to %llums for its requests",
			     inst->id, (unsigned long long)inst->spec->drain_timeout_ms);
		engine_drain_start(e);
		return;
	}
	stop_instance(e, m);
}

void engine_app_forget(struct engine *e, struct engine_app *a)
{
	sw_map_del(&e->apps, a->name);
	a->deleted = true;
	if (a->routes && json_array_size(a->routes))
		e->table_dirty = true;
	runs_free(a);
	if (a->ninsts == 0) {
		engine_app_free(e, a);
	} else {
		e->dying = xrealloc(e->dying, (e->ndying + 1) * sizeof(*e->dying));
		e->dying[e->ndying++] = a;
		/* runtime_stop may report STOPPED at once and detach: iterate on a copy */
		size_t n = a->ninsts;
		struct engine_inst **copy = xmalloc(n * sizeof(*copy));
		if (n)
			memcpy(copy, a->insts, n * sizeof(*copy));
		for (size_t i = 0; i < n; i++)
			stop_instance(e, copy[i]);
		free(copy);
	}
	engine_kick(e, NULL); /* the table without it */
}

/* ---- analysis runs ---- */

const char *engine_run_kind_name(enum rollout_run_kind k)
{
	switch (k) {
	case ROLLOUT_RUN_STEP: return "step";
	case ROLLOUT_RUN_BACKGROUND: return "background";
	case ROLLOUT_RUN_PRE: return "prePromotion";
	case ROLLOUT_RUN_POST: return "postPromotion";
	}
	return "step";
}

void engine_run_start(struct engine *e, struct engine_app *a, int64_t id,
		      enum rollout_run_kind kind, int64_t revision,
		      const struct spec_analysis_ref *ref, bool resumed)
{
	struct engine_run *r = xcalloc(1, sizeof(*r));
	r->id = id;
	r->kind = kind;
	r->revision = revision;
	struct sw_err serr = {0};
	const struct spec_app *spec = engine_app_spec(e, a, revision, &serr); /* its route, for `load` */
	char preview[160]; /* a blue/green preview is reached through its header */
	snprintf(preview, sizeof(preview), "%s: %s", rollout_preview_header.name, rollout_preview_header.exact);
	struct analysis_run_params p = {
		.app = a->name,
		.id = id,
		.kind = engine_run_kind_name(kind),
		.revision = revision,
		.stable = a->st.stable,
		.ref = ref,
		.resumed = resumed,
		.since_ms = a->st.step_ms,
		.listen = spec ? spec->route.listen : NULL,
		.host = spec ? spec->route.host : NULL,
		.load_header = kind == ROLLOUT_RUN_PRE ? preview : NULL,
	};
	r->run = analysis_run_start(e->runner, &p);
	a->runs = xrealloc(a->runs, (a->nruns + 1) * sizeof(*a->runs));
	a->runs[a->nruns++] = r;
	engine_kick(e, a);
}

static void run_stop(struct engine_app *a, int64_t id)
{
	for (size_t i = 0; i < a->nruns; i++)
		if (a->runs[i]->id == id) {
			analysis_run_stop(a->runs[i]->run);
			free(a->runs[i]);
			a->runs[i] = a->runs[--a->nruns];
			return;
		}
}

/* After a restart: starts again the runs the stored rollout state names. */
void engine_runs_resume(struct engine *e, struct engine_app *a)
{
	struct sw_err err = {0};
	struct spec_app *spec = a->st.desired ? engine_app_spec(e, a, a->st.desired, &err) : NULL;
	if (!spec)
		return;
	const struct spec_strategy *s = &spec->strategy;
	bool canary = s->kind == SPEC_STRATEGY_CANARY;
	if (a->st.step_run && canary && a->st.step < s->nsteps &&
	    s->steps[a->st.step].kind == SPEC_STEP_ANALYSIS)
		engine_run_start(e, a, a->st.step_run, ROLLOUT_RUN_STEP, a->st.desired,
				 &s->steps[a->st.step].analysis, true);
	if (a->st.bg_run)
		engine_run_start(e, a, a->st.bg_run, canary ? ROLLOUT_RUN_BACKGROUND : ROLLOUT_RUN_POST,
				 a->st.desired, canary ? &s->background : &s->post_promotion, true);
	if (a->st.pre_run)
		engine_run_start(e, a, a->st.pre_run, ROLLOUT_RUN_PRE, a->st.desired,
				 &s->pre_promotion, true);
}

void engine_on_run_phase(const char *app, int64_t run_id, void *data)
{
	struct engine *e = data;
	struct engine_app *a = engine_app_find(e, app);
	if (a)
		engine_kick(e, a);
	engine_promos_run_phase(e, app, run_id);
}

void engine_on_run_event(const char *app, const char *kind, const char *message, void *data)
{
	engine_event(data, app, kind, NULL, "%s", message);
}

/* ---- reconciliation ---- */

static int start_instance(struct engine *e, struct engine_app *a, int64_t revision)
{
	struct sw_err err = {0};
	struct spec_app *spec = engine_app_spec(e, a, revision, &err);
	int64_t seq;
	if (!spec) {
		sw_warn("%s: cannot start revision %lld: %s", a->name, (long long)revision, err.msg);
		return -1;
	}
	if (store_next_seq(e->cfg.store, a->name, &seq, &err) < 0) {
		sw_warn("%s: cannot start an instance: %s", a->name, err.msg);
		return -1;
	}
	char id[SPEC_KEY_MAX + 32], stem[SPEC_KEY_MAX]; /* the runtime refuses one too long */
	struct runtime_ports ports;
	engine_app_stem(stem, sizeof(stem), a->name);
	snprintf(id, sizeof(id), "%s-%lld", stem, (long long)seq);
	e->pending_app = a;
	struct runtime_instance *inst = runtime_start_in(e->rt, spec, revision, id,
							 engine_app_ports(e, a, &ports) ? &ports : NULL,
							 &err);
	e->pending_app = NULL;
	if (!inst) {
		sw_warn("%s: cannot start instance %s: %s", a->name, id, err.msg);
		return -1;
	}
	if (!inst->data) {
		engine_inst_attach(a, inst, sw_wall_ms());
		engine_inst_save(e, inst->data, NULL);
	}
	return 0;
}

/* The rollout parameters of the app's desired and stable revisions. */
static int app_params(struct engine *e, struct engine_app *a, struct rollout_params *p,
		      struct sw_err *err)
{
	memset(p, 0, sizeof(*p));
	struct spec_app *want = a->st.desired ? engine_app_spec(e, a, a->st.desired, err) : NULL;
	if (a->st.desired && !want)
		return -1;
	struct sw_err ignored = {0};
	struct spec_app *stable = a->st.stable ? engine_app_spec(e, a, a->st.stable, &ignored) : NULL;
	if (want) {
		p->desired_replicas = want->replicas;
		p->max_surge = want->strategy.max_surge;
		p->max_unavailable = want->strategy.max_unavailable;
		if (p->max_surge == 0 && p->max_unavailable == 0)
			p->max_surge = 1;
		p->progress_deadline_ms = want->progress_deadline_ms;
		p->strategy = &want->strategy;
		p->hooks = &want->hooks;
		p->deps = want->depends_on;
		p->ndeps = want->ndepends;
	}
	if (stable)
		p->stable_replicas = stable->replicas;
	return 0;
}

/* Derives the app's route entries; marks the table dirty when they changed. */
static void app_routes(struct engine *e, struct engine_app *a, const struct rollout_params *p)
{
	struct sw_err err = {0};
	int64_t target = rollout_target(&a->st);
	struct spec_app *spec = target || a->st.desired
		? engine_app_spec(e, a, target ? target : a->st.desired, &err) : NULL;
	json_t *entries;
	if (!spec || !spec->route.listen) {
		entries = json_array();
	} else {
		struct rollout_traffic t;
		rollout_traffic(&a->st, p, &t);
		struct routes_backend *b = xcalloc(a->ninsts + 1, sizeof(*b));
		for (size_t i = 0; i < a->ninsts; i++) {
			struct runtime_instance *x = a->insts[i]->rt;
			b[i] = (struct routes_backend){x->id, x->revision, x->port, x->ready,
						       a->insts[i]->stopping};
		}
		struct routes_app ra = {a->name, spec, &a->st, &t, b, a->ninsts};
		entries = routes_app_entries(&ra);
		free(b);
	}
	char *text = json_dumps(entries, JSON_COMPACT | JSON_SORT_KEYS);
	if (!a->routes_text || strcmp(a->routes_text, text) != 0) {
		free(a->routes_text);
		a->routes_text = text;
		json_decref(a->routes);
		a->routes = entries;
		a->routes_gen++;
		e->table_dirty = true;
	} else {
		free(text);
		json_decref(entries);
	}
}

/* ---- availability ---- */

/* How an instance whose process ended fares, for the rollout's reasons
 * ("exited with status 2, 3 restarts"); false when none ended or it is
 * ready again. */
static bool inst_failure(const struct runtime_instance *x, char *buf, size_t size)
{
	if (x->ready || !x->exit_reason[0] || (x->state != RUNTIME_BACKOFF &&
						x->state != RUNTIME_FAILED && !x->restarts))
		return false;
	snprintf(buf, size, "%s, %u restart%s", x->exit_reason, (unsigned)x->restarts,
		 x->restarts == 1 ? "" : "s");
	return true;
}

/* Why an instance that is not ready is not, for the app's reason. */
static void inst_unavailable(const struct runtime_instance *x, char *buf, size_t size)
{
	char d[32] = "";
	if (x->backoff_ms)
		sw_duration_format(d, sizeof(d), x->backoff_ms);
	switch (x->state) {
	case RUNTIME_BACKOFF:
		snprintf(buf, size, "instance %s %s, restarting (backoff %s)", x->id,
			 x->exit_reason[0] ? x->exit_reason : "exited", d);
		return;
	case RUNTIME_FAILED:
		snprintf(buf, size, "instance %s %.120s, retrying (backoff %s)", x->id,
			 x->exit_reason[0] ? x->exit_reason : x->reason, d);
		return;
	default:
		break;
	}
	if (x->restarts && x->exit_reason[0])
		snprintf(buf, size, "instance %s %s, restarted (%u restarts), not ready yet", x->id,
			 x->exit_reason, (unsigned)x->restarts);
	else if (x->reason[0])
		snprintf(buf, size, "instance %s is not ready: %.120s", x->id, x->reason);
	else
		snprintf(buf, size, "instance %s is not ready yet", x->id);
}

/* An instance that restarted counts as available again only once it has
 * been ready this long: a crash-looping one that answers its probe for a
 * moment before each crash must not flap the app to Healthy. (Kubernetes
 * and Argo Rollouts call this minReadySeconds.) */
#define AVAILABLE_AFTER_RESTART_MS 10000

/* Whether the Healthy app has all its instances available; an event when
 * that changes. A rollout in progress or aborted says what it waits for
 * itself. */
static void availability_update(struct engine *e, struct engine_app *a)
{
	bool was = a->unavailable;
	a->unavailable = a->failing = false;
	a->unavailable_reason[0] = '\0';
	if (a->st.phase == ROLLOUT_PROGRESSING) {
		/* still within progressDeadline, but say why it is not ready yet */
		int64_t target = rollout_target(&a->st);
		char f[160], why[400];
		for (size_t i = 0; i < a->ninsts; i++) {
			const struct runtime_instance *x = a->insts[i]->rt;
			if (a->insts[i]->stopping || x->revision != target ||
			    !inst_failure(x, f, sizeof(f)))
				continue;
			inst_unavailable(x, why, sizeof(why));
			snprintf(a->unavailable_reason, sizeof(a->unavailable_reason), "%.150s; %.160s",
				 a->st.reason, why);
			a->failing = true;
			break;
		}
		return;
	}
	if (a->st.phase != ROLLOUT_HEALTHY || a->st.stable != a->st.desired || !a->st.desired)
		return;
	struct sw_err err = {0};
	struct spec_app *spec = engine_app_spec(e, a, a->st.desired, &err);
	if (!spec)
		return;
	uint32_t ready = 0;
	char why[400] = "";
	for (size_t i = 0; i < a->ninsts; i++) {
		const struct runtime_instance *x = a->insts[i]->rt;
		if (a->insts[i]->stopping || x->revision != a->st.desired)
			continue;
		uint64_t ready_for = x->ready && x->ready_ms ? sw_now_ms() - x->ready_ms : 0;
		/* an adopted instance's ready_ms is the adoption, not a restart */
		if (x->ready && (!x->restarts || x->adopted ||
				 ready_for >= AVAILABLE_AFTER_RESTART_MS)) {
			ready++;
		} else if (!why[0] && x->ready) {
			char d[32];
			sw_duration_format(d, sizeof(d), AVAILABLE_AFTER_RESTART_MS - ready_for);
			snprintf(why, sizeof(why), "instance %s %s (%u restarts), ready again; "
				 "available if it stays ready %s more", x->id,
				 x->exit_reason[0] ? x->exit_reason : "restarted",
				 (unsigned)x->restarts, d);
		} else if (!why[0]) {
			inst_unavailable(x, why, sizeof(why));
		}
	}
	uint32_t replicas = rollout_replicas(&a->st, spec->replicas);
	if (ready >= replicas) {
		if (was)
			engine_event(e, a->name, "Healthy", NULL,
				     "available again: %u/%u instances of revision %lld ready", ready,
				     replicas, (long long)a->st.desired);
		a->unavailable_reason[0] = '\0';
		return;
	}
	a->unavailable = true;
	snprintf(a->unavailable_reason, sizeof(a->unavailable_reason), "%.280s%s%u/%u instances ready",
		 why, why[0] ? "; " : "", ready, replicas);
	if (!was)
		engine_event(e, a->name, "Degraded", NULL, "%s", a->unavailable_reason);
}

const char *engine_app_waiting_for(const struct engine_app *a)
{
	if (a->st.phase != ROLLOUT_PROGRESSING)
		return NULL;
	return rollout_waiting_for_dependencies(&a->st) ? "dependencies"
	       : rollout_waiting_for_window(&a->st) ? "window" : NULL;
}

enum rollout_phase engine_app_phase(const struct engine_app *a, const char **reason)
{
	if (engine_app_waiting_for(a)) {
		*reason = a->st.reason;
		return ROLLOUT_WAITING;
	}
	if (a->unavailable && a->st.phase == ROLLOUT_HEALTHY) {
		*reason = a->unavailable_reason;
		return ROLLOUT_DEGRADED;
	}
	*reason = a->failing && a->st.phase == ROLLOUT_PROGRESSING ? a->unavailable_reason
								     : a->st.reason;
	return a->st.phase;
}

static void side_fill(struct engine *e, struct engine_app *a, int64_t rev, struct engine_side *out)
{
	struct sw_err err = {0};
	struct spec_app *spec = rev ? engine_app_spec(e, a, rev, &err) : NULL;
	memset(out, 0, sizeof(*out));
	out->revision = rev;
	out->version = spec && spec->version ? spec->version : "";
	for (size_t i = 0; rev && i < a->ninsts; i++) {
		const struct engine_inst *m = a->insts[i];
		if (m->stopping || m->rt->revision != rev)
			continue;
		out->desired++;
		out->ready += m->rt->ready;
	}
}

void engine_app_sides(struct engine *e, struct engine_app *a, struct engine_side *stable,
		      struct engine_side *canary)
{
	int64_t target = rollout_target(&a->st);
	bool rolling_out = a->st.desired != a->st.stable && target == a->st.desired;
	struct sw_err err = {0};
	side_fill(e, a, a->st.stable, stable);
	side_fill(e, a, rolling_out ? a->st.desired : 0, canary);
	/* The stable revision is wanted at full size unless a rolling update
	 * replaces it; the new one at what the rollout started of it, or its
	 * full size in a rolling update (like Kubernetes' UP-TO-DATE). */
	struct spec_app *sspec = stable->revision ? engine_app_spec(e, a, stable->revision, &err) : NULL;
	struct spec_app *dspec = canary->revision ? engine_app_spec(e, a, canary->revision, &err) : NULL;
	/* a first deploy and an undo roll out the rolling way, whatever the strategy */
	bool rolling = !dspec || dspec->strategy.kind == SPEC_STRATEGY_ROLLING || a->st.fast ||
		       !a->st.stable;
	if (sspec && !(rolling_out && rolling))
		stable->desired = rollout_replicas(&a->st, sspec->replicas);
	if (dspec && (rolling || a->st.step >= dspec->strategy.nsteps ||
		      dspec->strategy.kind == SPEC_STRATEGY_BLUEGREEN))
		canary->desired = rollout_replicas(&a->st, dspec->replicas);
}

static void reconcile_app(struct engine *e, struct engine_app *a)
{
	struct sw_err err = {0};
	struct rollout_params p;
	a->reconciles++;
	if (app_params(e, a, &p, &err) < 0) {
		sw_warn("%s: %s", a->name, err.msg);
		return;
	}
	struct rollout_instance *ri = xcalloc(a->ninsts + 1, sizeof(*ri));
	char (*fail)[160] = xcalloc(a->ninsts + 1, sizeof(*fail));
	for (size_t i = 0; i < a->ninsts; i++) {
		struct engine_inst *m = a->insts[i];
		ri[i] = (struct rollout_instance){
			.id = m->rt->id,
			.revision = m->rt->revision,
			.ready = m->rt->ready,
			.stopping = m->stopping,
			.created_ms = m->created_ms,
			.failure = inst_failure(m->rt, fail[i], sizeof(fail[i])) ? fail[i] : NULL,
			.unstartable = m->rt->state == RUNTIME_FAILED && m->rt->unstartable,
		};
	}
	struct rollout_run_status *rs = xcalloc(a->nruns + a->njobs + 1, sizeof(*rs));
	for (size_t i = 0; i < a->nruns; i++)
		rs[i] = (struct rollout_run_status){
			a->runs[i]->id, (enum rollout_run_phase)analysis_run_phase(a->runs[i]->run),
			analysis_run_reason(a->runs[i]->run)};
	size_t nrs = a->nruns + engine_hooks_status(a, rs + a->nruns);
	struct rollout_actions *out = xmalloc(sizeof(*out));
	out->n = 0;
	char pending[240];
	if (rollout_waiting_for_dependencies(&a->st))
		p.deps_pending = engine_depends_pending(e, engine_app_spec(e, a, a->st.desired, &err),
							pending, sizeof(pending));
	if (rollout_waiting_for_window(&a->st))
		p.window_denied = engine_window_denied(e, a);
	bool changed = rollout_reconcile(&a->st, &p, ri, a->ninsts, rs, nrs, sw_wall_ms(), out);
	free(rs);
	if (failures_update(a))
		a->extra_dirty = true;
	if ((changed || a->extra_dirty) && engine_app_save(e, a, &err) < 0)
		sw_warn("%s: cannot save rollout state: %s", a->name, err.msg);

	/* Resolve STOP ids to instances before anything changes the array. */
	size_t n = a->ninsts;
	struct engine_inst **snap = xmalloc((n ? n : 1) * sizeof(*snap));
	if (n)
		memcpy(snap, a->insts, n * sizeof(*snap));
	for (size_t k = 0; k < out->n; k++) {
		struct rollout_action *act = &out->a[k];
		switch (act->kind) {
		case ROLLOUT_EVENT:
			engine_event(e, a->name, act->event, NULL, "%s", act->message);
			break;
		case ROLLOUT_START:
			start_instance(e, a, act->revision);
			break;
		case ROLLOUT_RUN_START:
			engine_run_start(e, a, act->run, act->run_kind, act->revision, act->ref, false);
			break;
		case ROLLOUT_RUN_STOP:
			run_stop(a, act->run);
			break;
		case ROLLOUT_HOOK_START:
			engine_hook_start(e, a, act);
			break;
		case ROLLOUT_STOP:
			for (size_t i = 0; i < n; i++)
				if (ri[i].id == act->id) {
					engine_event(e, a->name, "InstanceStopping", NULL,
						     "stopping instance %s (revision %lld)", act->id,
						     (long long)act->revision);
					stop_and_save(e, snap[i]);
					break;
				}
			break;
		}
	}
	free(out);
	free(snap);
	free(ri);
	/* runs of an earlier rollout (superseded by an apply, rollback, undo
	 * or retry) no longer matter: stopped, and not shown as this one's */
	for (size_t i = a->nruns; i-- > 0;)
		if (a->runs[i]->id <= a->st.run_base)
			run_stop(a, a->runs[i]->id);
	engine_hooks_prune(a);
	free(fail);
	/* the rollout may have moved weights or the instances changed */
	if (app_params(e, a, &p, &err) == 0)
		app_routes(e, a, &p);
	availability_update(e, a);
	engine_depends_changed(e, a);
	engine_windows_after(e, a);
	engine_promos_changed(e, a);
}

/* An app with nothing time-based ahead: Healthy, no analysis, every
 * instance of the desired revision, in rotation, as many as wanted. */
static bool app_settled(struct engine *e, struct engine_app *a)
{
	if (engine_window_settled(e, a))
		return true; /* held: the windows' timer wakes it */
	if (a->st.phase != ROLLOUT_HEALTHY || a->nruns || a->njobs || a->st.stable != a->st.desired ||
	    a->unavailable)
		return false;
	struct sw_err err = {0};
	struct spec_app *spec = engine_app_spec(e, a, a->st.desired, &err);
	if (!spec || a->ninsts != rollout_replicas(&a->st, spec->replicas))
		return false;
	for (size_t i = 0; i < a->ninsts; i++)
		if (a->insts[i]->stopping || a->insts[i]->rt->revision != a->st.desired ||
		    !a->insts[i]->rt->ready)
			return false;
	return true;
}

static bool same_str(json_t *a, json_t *b, bool nocase)
{
	const char *x = json_string_value(a), *y = json_string_value(b);
	if (!x || !y)
		return !x && !y;
	return nocase ? strcasecmp(x, y) == 0 : strcmp(x, y) == 0;
}

/* True when one of `entries` has the listen, host and pathPrefix of a
 * route already in `routes` (the proxy would refuse the table). */
static bool entries_clash(json_t *routes, json_t *entries)
{
	size_t i, k;
	json_t *r, *x;
	json_array_foreach(entries, i, x)
		json_array_foreach(routes, k, r)
			if (same_str(json_object_get(x, "listen"), json_object_get(r, "listen"), false) &&
			    same_str(json_object_get(x, "host"), json_object_get(r, "host"), true) &&
			    same_str(json_object_get(x, "pathPrefix"), json_object_get(r, "pathPrefix"), false))
				return true;
	return false;
}

/*
 * Builds the whole table from the apps' entries and hands it on. Apply
 * refuses routes that clash (engine_apply); an app whose entries clash
 * anyway (two rollouts moving onto each other's listener) is left out and
 * said so, rather than letting the proxy refuse every app's routes.
 */
static void push_table(struct engine *e)
{
	if (!e->table_dirty)
		return;
	e->table_dirty = false;
	struct engine_app **apps;
	size_t n = engine_apps(e, &apps); /* by name: a stable order */
	json_t *routes = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *entries = apps[i]->routes;
		if (!entries)
			continue;
		bool clash = entries_clash(routes, entries);
		if (clash && !apps[i]->route_clash)
			engine_event(e, apps[i]->name, "RouteConflict", NULL,
				     "its route is served by another app; it gets no traffic until "
				     "one of them moves");
		apps[i]->route_clash = clash;
		if (!clash)
			json_array_extend(routes, entries);
		apps[i]->table_gen = apps[i]->routes_gen;
	}
	free(apps);
	json_decref(e->table);
	e->table = json_pack("{s:o}", "routes", routes);
	if (e->traffic)
		traffic_set_table(e->traffic, e->table);
}

/* How long one pass of the kick may reconcile before it lets the loop
 * serve its I/O (the API, the proxy's answers, probes): a commit that
 * creates 1,000 apps starts their instances in passes of this length,
 * not in one that holds every request up for seconds. */
#define RECONCILE_PASS_MS 20

/* Reconciles the dirty apps: all of them, or (budget) until the pass has
 * taken RECONCILE_PASS_MS, the rest marked for the next pass. */
static void on_kick(uv_timer_t *t);

static void reconcile_dirty(struct engine *e, bool budget)
{
	if (e->stopping)
		return;
	/* reconcile may mark apps dirty again (a run ended at once): those
	 * wait for the next kick */
	struct engine_app **todo = e->dirty;
	size_t n = e->ndirty, done = 0;
	e->dirty = NULL;
	e->ndirty = 0;
	for (size_t i = 0; i < n; i++)
		todo[i]->dirty = false;
	uint64_t start = sw_now_ms();
	for (; done < n; done++) {
		if (budget && done > 0 && sw_now_ms() - start >= RECONCILE_PASS_MS)
			break;
		reconcile_app(e, todo[done]);
	}
	for (size_t i = done; i < n; i++)
		engine_kick(e, todo[i]);
	free(todo);
	push_table(e);
	if (done < n) /* a timer due later than now: the loop polls its I/O first */
		uv_timer_start(&e->kick, on_kick, 1, 0);
}

static void on_kick(uv_timer_t *t)
{
	reconcile_dirty(t->data, true);
}

void engine_reconcile_now(struct engine *e)
{
	if (e->started)
		reconcile_dirty(e, false);
}

void engine_kick(struct engine *e, struct engine_app *a)
{
	if (e->stopping)
		return;
	if (a && !a->dirty && !a->deleted) {
		a->dirty = true;
		e->dirty = xrealloc(e->dirty, (e->ndirty + 1) * sizeof(*e->dirty));
		e->dirty[e->ndirty++] = a;
	}
	if (e->started && !uv_is_active((uv_handle_t *)&e->kick))
		uv_timer_start(&e->kick, on_kick, 0, 0);
}

/* Apps with time-based work ahead are reconciled on every tick. */
static void on_tick(uv_timer_t *t)
{
	struct engine *e = t->data;
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->apps, &it, &k, &v))
		if (!app_settled(e, v))
			engine_kick(e, v);
	if (e->ndirty == 0)
		push_table(e);
}

void engine_on_traffic_event(const char *kind, const char *message, void *data)
{
	engine_event(data, NULL, kind, NULL, "%s", message);
}

void engine_on_traffic_change(void *data)
{
	struct engine *e = data;
	if (e->traffic && e->table && !e->stopping)
		traffic_set_table(e->traffic, e->table);
}

bool engine_app_routed(struct engine *e, const struct engine_app *a, bool *has_routes)
{
	*has_routes = a->routes && json_array_size(a->routes);
	if (!*has_routes)
		return true;
	/* the table the data plane holds is e->table: traffic is given no other */
	return e->traffic && !a->route_clash && a->table_gen == a->routes_gen &&
	       traffic_synced(e->traffic);
}

const char *engine_routes_refused(struct engine *e)
{
	return e->traffic ? traffic_refused(e->traffic) : NULL;
}

json_t *engine_route_table(struct engine *e)
{
	if (!e->table)
		e->table = json_pack("{s:[]}", "routes");
	return e->table;
}

/* ---- stats snapshot for the groups of `get app` ---- */

static void on_stats(json_t *stats, const char *error, void *data)
{
	struct engine *e = data;
	e->stats_call = 0;
	if (!stats)
		return; /* keep the last one */
	json_decref(e->stats_snapshot);
	e->stats_snapshot = json_incref(stats);
	e->stats_ms = sw_now_ms();
}

/* Every second while someone looked at an app's groups in the last 30 s,
 * every 10 s otherwise: reads answer from the snapshot at once. */
static void stats_refresh(uv_timer_t *t)
{
	struct engine *e = t->data;
	uint64_t now = sw_now_ms();
	bool wanted = now - e->stats_asked_ms < STATS_INTEREST_MS;
	bool stale = !e->stats_snapshot || now - e->stats_ms >= STATS_IDLE_MS;
	if ((wanted || stale) && !e->stats_call && e->traffic && !e->stopping)
		e->stats_call = traffic_get(e->traffic, "/v1/stats?window=10", on_stats, e);
}

/* A number field of the data plane's metrics JSON, or NaN when null/absent. */
static json_t *num_or_null(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_real(json_number_value(v)) : json_null();
}

/* What a revision group is to the rollout, for `status` and `rollout
 * status`: "stable" / "canary" (canary), "active" / "preview" (blue/green;
 * after the switch the old one is "previous" until it scales down), "new"
 * (a rolling update), "aborted", or "old" (on its way out). */
static const char *group_role(struct engine *e, struct engine_app *a, int64_t rev)
{
	struct sw_err err = {0};
	struct spec_app *spec = a->st.desired ? engine_app_spec(e, a, a->st.desired, &err) : NULL;
	bool bg = spec && spec->strategy.kind == SPEC_STRATEGY_BLUEGREEN;
	int64_t target = rollout_target(&a->st);
	if (target != a->st.desired || a->st.desired == a->st.stable) {
		/* settled, or aborted: the target serves */
		if (rev == target)
			return bg ? "active" : "stable";
		return rev == a->st.failed ? "aborted" : "old";
	}
	bool stepped = spec && spec->strategy.kind != SPEC_STRATEGY_ROLLING && !a->st.fast &&
		       a->st.stable;
	if (rev == a->st.desired)
		return !stepped ? "new" : bg ? (a->st.promoted ? "active" : "preview") : "canary";
	if (rev == a->st.stable)
		return bg && stepped ? (a->st.promoted ? "previous" : "active") : "stable";
	return "old";
}

json_t *engine_app_groups(struct engine *e, struct engine_app *a)
{
	uint64_t now = sw_now_ms();
	e->stats_asked_ms = now;
	if (e->started && now - e->stats_ms >= STATS_REFRESH_MS)
		stats_refresh(&e->stats); /* fresh for the next look */
	json_t *out = json_array(), *route, *g, *series;
	size_t i, k, l;
	json_array_foreach(a->routes, i, route) {
		if (i > 0)
			break; /* the main listener; a preview entry repeats a group */
		json_array_foreach(json_object_get(route, "groups"), k, g) {
			json_int_t rev = json_integer_value(json_object_get(g, "revision"));
			json_t *s = NULL;
			json_array_foreach(json_object_get(e->stats_snapshot, "series"), l, series) {
				const char *app = json_string_value(json_object_get(series, "app"));
				if (app && strcmp(app, a->name) == 0 &&
				    json_integer_value(json_object_get(series, "revision")) == rev)
					s = series;
			}
			json_array_append_new(
				out, json_pack("{s:I, s:O, s:i, s:o, s:o, s:o, s:s}", "revision", rev,
					       "weight", json_object_get(g, "weight"), "ready",
					       (int)json_array_size(json_object_get(g, "backends")),
					       "rate", s ? num_or_null(s, "rate") : json_real(0),
					       "successRate", num_or_null(s, "successRate"),
					       "p99Ms", num_or_null(s, "p99Ms"),
					       /* last: scripts read the fields before it in order */
					       "role", group_role(e, a, rev)));
		}
	}
	return out;
}

/* ---- lifecycle ---- */

struct store *engine_store(struct engine *e) { return e->cfg.store; }
struct traffic *engine_traffic(struct engine *e) { return e->traffic; }
struct runtime *engine_runtime(struct engine *e) { return e->rt; }

int engine_new(struct engine **out, const struct engine_config *cfg, struct sw_err *err)
{
	struct engine *e = xcalloc(1, sizeof(*e));
	e->cfg = *cfg;
	e->state_dir = cfg->state_dir ? xstrdup(cfg->state_dir) : NULL;
	e->cfg.state_dir = e->state_dir;
	sw_map_init(&e->apps);
	engine_envs_init(e);
	engine_windows_init(e);
	sw_map_init(&e->env_keys);
	engine_promos_init(e);
	uv_timer_init(cfg->loop, &e->tick);
	uv_timer_init(cfg->loop, &e->kick);
	uv_timer_init(cfg->loop, &e->drain);
	uv_timer_init(cfg->loop, &e->stats);
	uv_timer_init(cfg->loop, &e->retention);
	e->tick.data = e->kick.data = e->drain.data = e->stats.data = e->retention.data = e;
	*out = e;
	return 0;
}

int engine_start(struct engine *e, const struct engine_parts *parts, struct sw_err *err)
{
	e->rt = parts->rt;
	e->runner = parts->runner;
	e->httpc = parts->httpc;
	e->traffic = parts->traffic;
	engine_store_wait(e, false);
	if (engine_revision_key_init(e, err) < 0 || engine_load(e, err) < 0 ||
	    engine_promos_load(e, err) < 0)
		return -1;
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->apps, &it, &k, &v)) {
		engine_runs_resume(e, v);
		engine_hooks_resume(e, v);
	}
	e->started = true;
	engine_resume_stops(e);
	it = 0;
	while (sw_map_next(&e->apps, &it, &k, &v))
		engine_kick(e, v);
	uv_timer_start(&e->tick, on_tick, TICK_MS, TICK_MS);
	uv_timer_start(&e->stats, stats_refresh, 0, STATS_REFRESH_MS);
	engine_retention_start(e);
	engine_promos_start(e);
	return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
	struct engine *e = h->data;
	e->handles--;
}

void engine_stop(struct engine *e)
{
	if (e->stopping)
		return;
	e->stopping = true;
	if (e->traffic) {
		if (e->drain_call)
			traffic_cancel(e->traffic, e->drain_call);
		if (e->stats_call)
			traffic_cancel(e->traffic, e->stats_call);
		e->drain_call = e->stats_call = 0;
	}
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->apps, &it, &k, &v))
		runs_free(v);
	engine_promos_stop(e);
	uv_timer_t *timers[] = {&e->tick, &e->kick, &e->drain, &e->stats, &e->retention,
				&e->windows, &e->promo_timer};
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
		uv_timer_stop(timers[i]);
		e->handles++;
		uv_close((uv_handle_t *)timers[i], on_timer_closed);
	}
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->apps, &it, &k, &v)) {
		struct engine_app *a = v;
		/* the runtime is gone by now: its instances are not touched */
		for (size_t i = 0; i < a->ninsts; i++)
			free(a->insts[i]);
		a->ninsts = 0;
		engine_app_free(e, a);
	}
	for (size_t i = 0; i < e->ndying; i++) {
		struct engine_app *a = e->dying[i];
		for (size_t j = 0; j < a->ninsts; j++)
			free(a->insts[j]);
		a->ninsts = 0;
		engine_app_free(e, a);
	}
	sw_map_release(&e->apps);
	free(e->dying);
	free(e->dirty);
	free(e->subs);
	engine_watch_release(e);
	engine_envs_release(e);
	engine_keys_release(e);
	engine_promos_release(e);
	json_decref(e->table);
	json_decref(e->stats_snapshot);
	free(e->state_dir);
	free(e);
}
