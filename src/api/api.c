/*
 * The Slipway API, version 1: each handler decodes its request, calls one
 * of the engine's use cases or reads, and encodes the answer. Nothing here
 * decides anything; docs/api.md is the reference.
 */
#include "api.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "analysis/runner.h"
#include "core/buf.h"
#include "core/selector.h"
#include "core/utf8.h"
#include "env/promotion.h"
#include "store/store.h"
#include "traffic/traffic.h"

#define LOG_TAIL_DEFAULT (16 * 1024)
#define LOG_CHUNK_MAX (256 * 1024)

struct api {
	struct api_config cfg;
	struct engine *e;
	struct store *store;
};

static int status_of(int code)
{
	return http_status_of(code);
}

static void engine_error(struct http_resp *resp, int code, const struct sw_err *err)
{
	int status = status_of(code);
	if (status >= 500)
		http_resp_error(resp, status, "cannot record the change: %s", err->msg);
	else
		http_resp_error(resp, status, "%s", err->msg);
}

/* ---- the environment a request selects (docs/api.md, "Environments") ---- */

/*
 * ?environment=ENV names one environment (none: default), "*" every one
 * (listings only: `get apps -A`); the caller's token may be scoped to
 * some (engine_token_scope). A request for one its token may not use is
 * 403, for one that does not exist 404 with the known ones named.
 */
struct req_env {
	char one[64];                 /* the one selected ("default" when none is) */
	bool all;                     /* "*": every environment the token may use */
	bool given;                   /* the request named one (apply: documents without
					 metadata.environment go there) */
	char scope[512];              /* the token's environments, "" = every one */
};

/* 404 for an environment that does not exist, naming the known ones. */
static int unknown_env(struct api *v, struct http_resp *resp, const char *name)
{
	char known[512];
	engine_environments_known(v->e, known, sizeof(known));
	http_resp_error(resp, 404, "environment \"%s\" does not exist (known: %s)", name, known);
	return -1;
}

/* 403 unless the caller's scope holds env. */
static int scope_check(const struct http_req *req, struct http_resp *resp, const struct req_env *re,
		       const char *env)
{
	if (engine_scope_allows(re->scope, env))
		return 0;
	http_resp_error(resp, 403, "token \"%s\" may not use environment %s", req->actor,
			spec_env_is_default(env) ? SPEC_ENV_DEFAULT : env);
	return -1;
}

/* The request's environment and the caller's scope, not yet checked. */
static int request_env_read(struct api *v, const struct http_req *req, struct http_resp *resp,
			    struct req_env *out)
{
	const char *q = http_req_query(req, "environment");
	memset(out, 0, sizeof(*out));
	out->given = q && *q;
	out->all = out->given && strcmp(q, "*") == 0;
	snprintf(out->one, sizeof(out->one), "%s", out->given && !out->all ? q : SPEC_ENV_DEFAULT);
	if (engine_token_scope(v->e, req->actor, out->scope, sizeof(out->scope)) < 0) {
		http_resp_error(resp, 503, "cannot read the token's environments: the store is busy");
		return -1;
	}
	return 0;
}

static int request_env(struct api *v, const struct http_req *req, struct http_resp *resp,
		       bool list, struct req_env *out)
{
	if (request_env_read(v, req, resp, out) < 0)
		return -1;
	if (out->all && !list) {
		http_resp_error(resp, 400, "environment=* lists every environment; name one here");
		return -1;
	}
	if (!out->all && (strchr(out->one, '/') || !engine_environment_exists(v->e, out->one)))
		return unknown_env(v, resp, out->one);
	return out->all ? 0 : scope_check(req, resp, out, out->one);
}

/* A change of something the whole host's (an environment, a template):
 * 403 for a token scoped to environments. */
static int hostwide_check(struct api *v, const struct http_req *req, struct http_resp *resp,
			  const char *what)
{
	struct req_env re;
	if (request_env_read(v, req, resp, &re) < 0)
		return -1;
	if (!*re.scope)
		return 0;
	http_resp_error(resp, 403, "token \"%s\" is scoped to environments (%s): it may not delete "
			"%s, the whole host's", req->actor, re.scope, what);
	return -1;
}

/* Whether a listing shows what lives under key (an app's; "" host-wide). */
static bool env_shows(const struct req_env *re, const char *key)
{
	char env[64];
	const char *name;
	if (!key || !*key)
		return true;
	spec_key_split(key, env, &name);
	return re->all ? engine_scope_allows(re->scope, env) : strcmp(env, re->one) == 0;
}

/* The app a path names in the request's environment; NULL after a 404
 * (a name with '/' names none: keys are the daemon's own). */
static struct engine_app *app_or_404(struct api *v, const struct http_req *req,
				     struct http_resp *resp, const char *name, struct req_env *re)
{
	char key[SPEC_KEY_MAX];
	if (request_env(v, req, resp, false, re) < 0)
		return NULL;
	struct engine_app *a = name && !strchr(name, '/')
		? engine_app_find(v->e, spec_key(key, re->one, name)) : NULL;
	if (!a && spec_env_is_default(re->one))
		http_resp_error(resp, 404, "app \"%s\" not found", name ? name : "");
	else if (!a)
		http_resp_error(resp, 404, "app \"%s\" not found in environment %s", name ? name : "",
				re->one);
	return a;
}

static struct engine_app *find_or_404(struct api *v, const struct http_req *req,
				      struct http_resp *resp)
{
	struct req_env re;
	return app_or_404(v, req, resp, http_req_param(req, "name"), &re);
}

/* Sets "name" (the app's own, without its environment) and "environment"
 * of an object from a key. */
static void set_name(json_t *o, const char *name_field, const char *key)
{
	char env[64];
	const char *name;
	spec_key_split(key, env, &name);
	json_object_set_new(o, name_field, json_string(name));
	json_object_set_new(o, "environment", json_string(env));
}

static int64_t query_int(const struct http_req *req, const char *name, int64_t dflt)
{
	const char *v = http_req_query(req, name);
	if (!v || !*v)
		return dflt;
	char *end;
	long long x = strtoll(v, &end, 10);
	return *end ? dflt : x;
}

/* A request body that must be a JSON object when present; NULL for none.
 * On a bad body the response is set and *bad is true. */
static json_t *body_object(const struct http_req *req, struct http_resp *resp, bool required,
			   bool *bad)
{
	json_error_t jerr;
	*bad = false;
	if (!req->body_len && !required)
		return NULL;
	json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
	if (!body) {
		http_resp_error(resp, 400, "request body is not JSON: %s (line %d, column %d)",
			       jerr.text, jerr.line, jerr.column);
		*bad = true;
	} else if (!json_is_object(body)) {
		http_resp_error(resp, 400, "request body must be a JSON object");
		json_decref(body);
		body = NULL;
		*bad = true;
	}
	return body;
}

/* ---- encoders ---- */

static json_t *instance_json(const struct engine_inst *m)
{
	const struct runtime_instance *x = m->rt;
	char created[40];
	sw_format_time(created, sizeof(created), m->created_ms);
	return json_pack("{s:s, s:I, s:s, s:i, s:i, s:b, s:i, s:s, s:s, s:b, s:s}",
			 "id", x->id, "revision", (json_int_t)x->revision, "version",
			 x->spec && x->spec->version ? x->spec->version : "", "pid",
			 (int)runtime_instance_pid(x), "port", (int)x->port, "ready", x->ready,
			 "restarts", (int)x->restarts, "state",
			 m->stopping && x->state != RUNTIME_STOPPED ? "Stopping"
								    : runtime_state_name(x->state),
			 "reason", x->reason, "adopted", x->adopted, "created", created);
}

static int cmp_inst(const void *pa, const void *pb)
{
	const struct engine_inst *a = *(struct engine_inst *const *)pa;
	const struct engine_inst *b = *(struct engine_inst *const *)pb;
	if (a->created_ms != b->created_ms)
		return a->created_ms < b->created_ms ? -1 : 1;
	return strcmp(a->rt->id, b->rt->id);
}

static json_t *runs_json(const struct engine_app *a)
{
	json_t *runs = json_array();
	for (size_t i = 0; i < a->nruns; i++) {
		const struct engine_run *r = a->runs[i];
		json_array_append_new(
			runs, json_pack("{s:I, s:s, s:s, s:s, s:I}", "id", (json_int_t)r->id, "kind",
					engine_run_kind_name(r->kind), "phase",
					measure_phase_name(analysis_run_phase(r->run)), "reason",
					analysis_run_reason(r->run), "revision",
					(json_int_t)r->revision));
	}
	return runs;
}

static json_t *side_json(const struct engine_side *s)
{
	if (!s->revision)
		return json_null();
	return json_pack("{s:I, s:s, s:i, s:i}", "revision", (json_int_t)s->revision, "version",
			 s->version, "ready", (int)s->ready, "desired", (int)s->desired);
}

static const char *strategy_name(const struct spec_app *spec)
{
	if (!spec)
		return "";
	switch (spec->strategy.kind) {
	case SPEC_STRATEGY_CANARY: return "canary";
	case SPEC_STRATEGY_BLUEGREEN: return "blueGreen";
	default: return "rolling";
	}
}

static const struct engine_failure *failure_of(const struct engine_app *a, int64_t revision)
{
	for (size_t i = 0; i < a->nfailures; i++)
		if (a->failures[i].revision == revision)
			return &a->failures[i];
	return NULL;
}

/* Blanks the secret values of an env list: "" for the value, and an age
 * value's ciphertext (valueFrom.age) dropped too. */
static void mask_env(json_t *env)
{
	size_t i;
	json_t *e;
	json_array_foreach(env, i, e)
		if (json_is_true(json_object_get(e, "secret"))) {
			json_object_set_new(e, "value", json_string(""));
			json_object_del(e, "valueFrom");
		}
}

/* The desired revision's spec as its canonical JSON's "spec", secret
 * values blanked in run.env and every hook's env (they stay in the
 * store, for restarts, only). */
static json_t *spec_json_masked(const struct spec_app *spec)
{
	json_t *doc = spec_app_to_json(spec);
	json_t *sp = json_incref(json_object_get(doc, "spec"));
	json_decref(doc);
	mask_env(json_object_get(json_object_get(sp, "run"), "env"));
	const char *k;
	json_t *list, *h;
	size_t i;
	json_object_foreach(json_object_get(sp, "hooks"), k, list)
		json_array_foreach(list, i, h)
			mask_env(json_object_get(h, "env"));
	return sp ? sp : json_null();
}

static json_t *app_json(struct api *v, struct engine_app *a, bool with_instances)
{
	struct sw_err err = {0};
	struct spec_app *spec = a->st.desired ? engine_app_spec(v->e, a, a->st.desired, &err) : NULL;
	uint32_t ready = 0, running = 0;
	for (size_t i = 0; i < a->ninsts; i++) {
		if (a->insts[i]->stopping)
			continue;
		running++;
		ready += a->insts[i]->rt->ready;
	}
	const char *reason;
	enum rollout_phase phase = engine_app_phase(a, &reason);
	struct engine_side stable, canary;
	engine_app_sides(v->e, a, &stable, &canary);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:i, s:i, s:i}", "name", a->name,
			      "phase", rollout_phase_name(phase), "rolloutPhase",
			      rollout_phase_name(a->st.phase), "reason", reason,
			      "revision", (json_int_t)a->st.desired, "stableRevision",
			      (json_int_t)a->st.stable, "version",
			      spec && spec->version ? spec->version : "", "replicas",
			      spec ? (int)rollout_replicas(&a->st, spec->replicas) : 0, "ready", (int)ready, "instancesRunning",
			      (int)running);
	set_name(j, "name", a->name);
	json_object_set_new(j, "labels", a->labels ? json_deep_copy(a->labels) : json_object());
	json_object_set_new(j, "owner", a->owner ? json_string(a->owner) : json_null());
	json_object_set_new(j, "commit", a->commit[0] ? json_string(a->commit) : json_null());
	/* who made the desired revision desired: another host's promotion
	 * of this app names them as its cause (four eyes across hosts) */
	json_object_set_new(j, "actor", a->actor ? json_string(a->actor) : json_null());
	json_object_set_new(j, "strategy", json_string(strategy_name(spec)));
	/* what a Paused rollout waits for: the command that goes on; a
	 * Waiting one: its dependencies or its window (the reason says which) */
	json_object_set_new(j, "waitingFor", phase == ROLLOUT_WAITING ? json_string(engine_app_waiting_for(a))
				: a->st.phase != ROLLOUT_PAUSED ? json_null()
				: json_string(a->st.user_paused ? "resume" : "promote"));
	json_object_set_new(j, "scaled", json_boolean(a->st.scaled));
	if (spec && spec->route.listen) {
		json_object_set_new(j, "listen", json_string(spec->route.listen));
		json_object_set_new(j, "host", spec->route.host ? json_string(spec->route.host) : json_null());
	}
	json_object_set_new(j, "stable", side_json(&stable));
	json_object_set_new(j, "canary", side_json(&canary));
	/* explicit only while a canary or blue/green rollout steps; a rolling
	 * update (also a first deploy, an undo) splits by ready instances */
	bool stepped = canary.revision && stable.revision && !a->st.fast && spec &&
		       spec->strategy.kind != SPEC_STRATEGY_ROLLING;
	json_object_set_new(j, "weight", stepped ? json_integer(a->st.weight) : json_null());
	bool has_routes, routed = engine_app_routed(v->e, a, &has_routes);
	json_object_set_new(j, "routed", has_routes ? json_boolean(routed) : json_null());
	const char *refused = has_routes && !routed ? engine_routes_refused(v->e) : NULL;
	if (refused)
		json_object_set_new(j, "routedError", json_string(refused));
	const struct engine_failure *f = a->st.failed ? failure_of(a, a->st.failed) : NULL;
	if (a->st.failed) {
		struct spec_app *fspec = engine_app_spec(v->e, a, a->st.failed, &err);
		json_object_set_new(j, "failed", json_pack("{s:I, s:s, s:s}", "revision",
							   (json_int_t)a->st.failed, "version",
							   fspec && fspec->version ? fspec->version : "",
							   "reason", f ? f->reason : a->st.reason));
	}
	if (spec && spec->strategy.kind != SPEC_STRATEGY_ROLLING) {
		json_t *r = json_pack("{s:s, s:i, s:i, s:b, s:I, s:o}", "strategy",
				      spec->strategy.kind == SPEC_STRATEGY_CANARY ? "canary" : "blueGreen",
				      "weight", (int)a->st.weight, "step", (int)a->st.step + 1,
				      "promoted", a->st.promoted, "steps",
				      (json_int_t)spec->strategy.nsteps, "analysisRuns", runs_json(a));
		json_object_set_new(j, "rollout", r);
	}
	if (with_instances) {
		struct engine_inst **sorted = xmalloc((a->ninsts + 1) * sizeof(*sorted));
		if (a->ninsts)
			memcpy(sorted, a->insts, a->ninsts * sizeof(*sorted));
		qsort(sorted, a->ninsts, sizeof(*sorted), cmp_inst);
		json_t *arr = json_array();
		for (size_t i = 0; i < a->ninsts; i++)
			json_array_append_new(arr, instance_json(sorted[i]));
		free(sorted);
		json_object_set_new(j, "instances", arr);
		if (spec)
			json_object_set_new(j, "spec", spec_json_masked(spec));
		if (spec && spec->route.listen)
			json_object_set_new(j, "groups", engine_app_groups(v->e, a));
	}
	return j;
}

/* ---- handlers ---- */

/* GET /v1/version */
static void h_version(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	http_resp_json(resp, 200, json_pack("{s:s, s:i, s:I}", "version", SLIPWAY_VERSION, "pid",
					   (int)getpid(), "startedMs", (json_int_t)v->cfg.started_ms));
}

/* ?selector= (kubectl's label selector, core/selector.h) into sel: 0, or
 * -1 after a 400 that says where the selector is wrong. */
static int query_selector(const struct http_req *req, struct http_resp *resp,
			  struct sw_selector *sel)
{
	const char *text = http_req_query(req, "selector");
	struct sw_err err = {0};
	if (sw_selector_parse(sel, text ? text : "", &err) == 0)
		return 0;
	http_resp_error(resp, 400, "bad selector \"%s\": %s", text, err.msg);
	return -1;
}

/* GET /v1/apps?selector=SEL&environment=ENV|* */
static void h_apps(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct engine_app **apps;
	struct sw_selector sel;
	struct req_env re;
	if (request_env(v, req, resp, true, &re) < 0 || query_selector(req, resp, &sel) < 0)
		return;
	size_t n = engine_apps(v->e, &apps);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		if (env_shows(&re, apps[i]->name) && engine_labels_match(apps[i]->labels, &sel))
			json_array_append_new(arr, app_json(v, apps[i], false));
	free(apps);
	sw_selector_release(&sel);
	http_resp_json(resp, 200, json_pack("{s:o}", "apps", arr));
}

/* A stored template as the API shows it: name, labels, its metrics'
 * names, source, time of the last change, its owner and commit (as an
 * app's) and the whole document. */
static json_t *template_json(const struct store_template *t)
{
	char updated[40];
	json_t *doc = json_loads(t->spec_json, 0, NULL);
	json_t *origin = *t->origin ? json_loads(t->origin, 0, NULL) : NULL;
	const char *commit = json_string_value(json_object_get(origin, "commit"));
	json_t *labels = json_object_get(json_object_get(doc, "metadata"), "labels");
	json_t *metrics = json_array(), *m;
	size_t i;
	json_array_foreach(json_object_get(json_object_get(doc, "spec"), "metrics"), i, m)
		json_array_append(metrics, json_object_get(m, "name"));
	sw_format_time(updated, sizeof(updated), t->updated_ms);
	json_t *j = json_pack("{s:s, s:o, s:o, s:s, s:s, s:o, s:o, s:o}", "name", t->name, "labels",
			      json_is_object(labels) ? json_incref(labels) : json_object(),
			      "metrics", metrics, "source", t->source, "updated", updated, "owner",
			      *t->owner ? json_string(t->owner) : json_null(), "commit",
			      commit && *commit ? json_string(commit) : json_null(), "document",
			      doc ? doc : json_null());
	json_decref(origin);
	return j;
}

/* GET /v1/analysistemplates?selector=SEL and GET /v1/analysistemplates/{name} */
static void templates_answer(const struct http_req *req, struct http_resp *resp, void *data,
			     const char *only)
{
	struct api *v = data;
	struct sw_err err = {0};
	struct store_template *ts = NULL;
	size_t n = 0;
	struct sw_selector sel = {0};
	if (!only && query_selector(req, resp, &sel) < 0)
		return;
	if (engine_templates(v->e, &ts, &n, &err) < 0) {
		http_resp_error(resp, err.code == SW_EBUSY ? 503 : 500, "%s", err.msg);
		goto out;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		if (only && strcmp(ts[i].name, only) != 0)
			continue;
		json_t *t = template_json(&ts[i]);
		if (only || engine_labels_match(json_object_get(t, "labels"), &sel))
			json_array_append(arr, t);
		json_decref(t);
	}
	if (!only)
		http_resp_json(resp, 200, json_pack("{s:O}", "analysisTemplates", arr));
	else if (json_array_size(arr))
		http_resp_json(resp, 200, json_incref(json_array_get(arr, 0)));
	else
		http_resp_error(resp, 404, "analysistemplate \"%s\" not found", only);
	json_decref(arr);
out:
	store_template_list_free(ts, n);
	sw_selector_release(&sel);
}

static void h_templates(const struct http_req *req, struct http_resp *resp, void *data)
{
	templates_answer(req, resp, data, NULL);
}

static void h_template(const struct http_req *req, struct http_resp *resp, void *data)
{
	const char *name = http_req_param(req, "name");
	templates_answer(req, resp, data, name ? name : "");
}

/* GET /v1/instances?app=NAME&selector=SEL: the instances of every app (or
 * of one), each with its app, by app then age; selected by their app's
 * labels. */
static void h_instances(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	const char *only = http_req_query(req, "app");
	struct engine_app **apps = NULL, *one = NULL;
	struct sw_selector sel;
	struct req_env re;
	size_t n;
	if (only && *only) {
		if (!(one = app_or_404(v, req, resp, only, &re)))
			return;
	} else if (request_env(v, req, resp, true, &re) < 0) {
		return;
	}
	if (query_selector(req, resp, &sel) < 0)
		return;
	n = engine_apps(v->e, &apps);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		struct engine_app *a = apps[i];
		if ((one && a != one) || !env_shows(&re, a->name) || !engine_labels_match(a->labels, &sel))
			continue;
		struct engine_inst **sorted = xmalloc((a->ninsts + 1) * sizeof(*sorted));
		if (a->ninsts)
			memcpy(sorted, a->insts, a->ninsts * sizeof(*sorted));
		qsort(sorted, a->ninsts, sizeof(*sorted), cmp_inst);
		for (size_t k = 0; k < a->ninsts; k++) {
			json_t *x = instance_json(sorted[k]);
			set_name(x, "app", a->name);
			json_array_append_new(arr, x);
		}
		free(sorted);
	}
	free(apps);
	sw_selector_release(&sel);
	http_resp_json(resp, 200, json_pack("{s:o}", "instances", arr));
}

/* GET /v1/apps/{name} */
static void h_app(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct engine_app *a = find_or_404(v, req, resp);
	if (a)
		http_resp_json(resp, 200, app_json(v, a, true));
}

/* A non-negative integer query parameter: 0 with *v when absent, 1 when
 * read, or -1 after a 400 naming it. */
static int query_count(const struct http_req *req, struct http_resp *resp, const char *name,
		       int64_t *v)
{
	const char *s = http_req_query(req, name);
	char *end;
	*v = 0;
	if (!s || !*s)
		return 0;
	long long x = strtoll(s, &end, 10);
	if (*end || x < 0 || (x == LLONG_MAX)) {
		http_resp_error(resp, 400, "%s must be a non-negative integer, got \"%s\"", name, s);
		return -1;
	}
	*v = x;
	return 1;
}

/* The "next" of a page of cap rows that ended at last_id: the cursor of
 * the page after it, or null when this one was the last (not full, or
 * newest first down to id 1). */
static json_t *page_next(size_t n, size_t cap, int64_t last_id, bool forward)
{
	if (n < cap || (!forward && last_id <= 1))
		return json_null();
	return json_sprintf("%lld", (long long)last_id);
}

/*
 * GET /v1/apps/{name}/history?limit=N&before=REV: the app's revisions
 * newest first, at most N (default 100, at most 1000), "next" the before=
 * of the page of older ones (null on the last page). A page is read
 * without the revisions' specs.
 */
static void h_history(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct engine_app *a = find_or_404(v, req, resp);
	struct store_revision *revs = NULL;
	size_t n = 0;
	int64_t limit, before;
	struct sw_err err = {0};
	if (!a || query_count(req, resp, "limit", &limit) < 0 ||
	    query_count(req, resp, "before", &before) < 0)
		return;
	size_t want = engine_page_limit((size_t)limit);
	if (engine_revisions_page(v->e, a->name, before, want, &revs, &n, &err) < 0) {
		http_resp_error(resp, err.code == SW_EBUSY ? 503 : 500, "%s", err.msg);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char created[40];
		sw_format_time(created, sizeof(created), revs[i].created_ms);
		const struct engine_failure *f = failure_of(a, revs[i].number);
		json_t *r = json_pack("{s:I, s:s, s:s, s:s, s:s, s:b, s:b, s:b}", "revision",
				      (json_int_t)revs[i].number, "version", revs[i].version, "hash",
				      revs[i].hash, "source", revs[i].source, "created", created,
				      "desired", revs[i].number == a->st.desired, "stable",
				      revs[i].number == a->st.stable, "failed",
				      revs[i].number == a->st.failed || f);
		if (f)
			json_object_set_new(r, "failedReason", json_string(f->reason));
		json_t *origin = revs[i].origin && *revs[i].origin ? json_loads(revs[i].origin, 0, NULL)
								   : NULL;
		json_object_set_new(r, "origin", origin ? origin : json_null());
		json_array_append_new(arr, r);
	}
	json_t *next = page_next(n, want, n ? revs[n - 1].number : 0, false);
	store_revision_list_free(revs, n);
	json_t *j = json_pack("{s:o, s:o}", "revisions", arr, "next", next);
	set_name(j, "name", a->name);
	http_resp_json(resp, 200, j);
}

struct parsed_file {
	char *path;                   /* what the documents are parsed as (absolute) */
	const char *given;            /* "name": the file as the user named it, for messages */
	struct spec_set set;
};

/* A message about the files of an apply with each file named as it was
 * given: the parse resolves relative paths from the absolute path, so its
 * messages hold /abs/app.yaml, and the user wrote app.yaml
 * ("app.yaml:12:5: ..."). */
static void name_as_given(struct sw_err *err, const struct parsed_file *pf, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (strcmp(pf[k].path, pf[k].given) == 0)
			continue;
		struct buf from = BUF_INIT, out = BUF_INIT;
		buf_addf(&from, "%s:", pf[k].path);
		for (const char *m = err->msg, *hit; *m; m = hit + from.len) {
			hit = strstr(m, from.s);
			if (!hit) {
				buf_adds(&out, m);
				break;
			}
			buf_add(&out, m, (size_t)(hit - m));
			buf_addf(&out, "%s:", pf[k].given);
		}
		sw_strlcpy(err->msg, buf_str(&out), sizeof(err->msg));
		buf_release(&from);
		buf_release(&out);
	}
}

/* The environment an apply names (?environment=) exists, or comes in its
 * documents: else 404 naming the known ones. */
static bool env_declared(struct api *v, const struct parsed_file *pf, size_t npf, const char *name)
{
	bool known = engine_environment_exists(v->e, name);
	for (size_t x = 0; x < npf && !known; x++)
		for (size_t k = 0; k < pf[x].set.ndocs; k++)
			known = known || (pf[x].set.docs[k].kind == &env_kind &&
					  strcmp(env_kind.name_of(pf[x].set.docs[k].obj), name) == 0);
	return known;
}

static int apply_env_known(struct api *v, struct http_resp *resp, const struct req_env *re,
			   const struct parsed_file *pf, size_t npf)
{
	return !re->given || env_declared(v, pf, npf, re->one) ? 0 : unknown_env(v, resp, re->one);
}

/*
 * Overlays: the files' base Apps and Patches rendered for the selected
 * environment (spec_render). Every Patch must name an environment that
 * exists (or comes with the documents), and Patches need one selected:
 * without -e they would be dropped unseen. 422 with the patch's position.
 */
static int apply_render(struct api *v, struct http_resp *resp, const struct req_env *re,
			struct parsed_file *pf, size_t npf)
{
	struct spec_set **sets = xcalloc(npf + 1, sizeof(*sets));
	struct sw_err err = {0};
	int r = 0;
	for (size_t x = 0; x < npf; x++)
		sets[x] = &pf[x].set;
	const struct spec_patch *p;
	for (size_t i = 0; r == 0 && (p = spec_sets_patch_at(sets, npf, i)); i++) {
		char known[512];
		if (!re->given)
			r = sw_errf(&err, SW_EINVAL, "%s: patch \"%s\" is for environment %s: select it "
				    "(apply -e %s) to apply base Apps with their patches", p->source,
				    p->key, p->environment, p->environment);
		else if (!env_declared(v, pf, npf, p->environment)) {
			engine_environments_known(v->e, known, sizeof(known));
			r = sw_errf(&err, SW_EINVAL, "%s: patch \"%s\": environment \"%s\" does not exist "
				    "(known: %s)", p->source, p->key, p->environment, known);
		}
	}
	const char *env = re->given ? re->one : SPEC_ENV_DEFAULT;
	if (r == 0)
		r = spec_render(sets, npf, &env, 1, SPEC_RENDER_OTHERS, &err);
	if (r < 0) {
		name_as_given(&err, pf, npf);
		http_resp_error(resp, 422, "%s", err.msg);
	}
	free(sets);
	return r < 0 ? -1 : 0;
}

/*
 * Whether the caller may apply these documents (their apps in their
 * environments by now): a token scoped to environments applies Apps of
 * those only (403), and no host-wide document (an Environment, a Source,
 * a template: 403 naming it), since those reach beyond its environments.
 */
static int apply_allowed(const struct http_req *req, struct http_resp *resp,
			 const struct req_env *re, const struct parsed_file *pf, size_t npf)
{
	if (re->given && scope_check(req, resp, re, re->one) < 0)
		return -1;
	for (size_t x = 0; x < npf; x++)
		for (size_t k = 0; k < pf[x].set.ndocs && *re->scope; k++) {
			const struct spec_doc *d = &pf[x].set.docs[k];
			if (d->kind == &spec_kind_app) {
				if (scope_check(req, resp, re, ((const struct spec_app *)d->obj)->environment) < 0)
					return -1;
				continue;
			}
			struct sw_err err = {0};
			sw_errf(&err, -1, "token \"%s\" is scoped to environments (%s): it applies App "
				"documents only, and %s is a kind: %s, the whole host's", req->actor,
				re->scope, d->kind->source_of(d->obj), d->kind->name);
			name_as_given(&err, pf, npf);
			http_resp_error(resp, 403, "%s", err.msg);
			return -1;
		}
	return 0;
}

/*
 * The body limit of POST /v1/apply (others keep the server's 1 MiB): what
 * `apply` sends for SPEC_MAX_TEXT of documents. JSON
 * at most doubles text a document may hold (a newline, tab, quote or
 * backslash takes two bytes; other control characters are refused), plus
 * room for the paths.
 */
#define API_MAX_BODY (2 * (size_t)SPEC_MAX_TEXT + 64 * 1024)

/* POST /v1/apply[?dryRun=true] {"files": [{"path": "/abs/app.yaml",
 * "content": "...", "name": "app.yaml"}]}; docs/api.md. */
static void h_apply(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct sw_err err = {0};
	struct parsed_file *pf = NULL;
	struct engine_doc *docs = NULL;
	struct engine_results res = {0};
	size_t npf = 0;
	bool bad;
	json_t *body = body_object(req, resp, true, &bad);
	json_t *files = json_object_get(body, "files");
	const char *dry = http_req_query(req, "dryRun");
	bool dry_run = dry && (strcmp(dry, "true") == 0 || strcmp(dry, "1") == 0);
	/* "overrideWindow": true with "reason": new revisions pass their sync windows */
	json_t *jover = json_object_get(body, "overrideWindow"), *jreason = json_object_get(body, "reason");
	const char *reason = json_string_value(jreason);
	struct req_env re;

	if (bad || request_env_read(v, req, resp, &re) < 0)
		goto out;
	if ((jover && !json_is_boolean(jover)) || (jreason && !json_is_string(jreason))) {
		http_resp_error(resp, 400, "\"overrideWindow\" must be a boolean and \"reason\" a string");
		goto out;
	}
	if (jreason && !json_is_true(jover)) {
		http_resp_error(resp, 400, "\"reason\" goes with \"overrideWindow\": true (--reason "
				"with --override-window)");
		goto out;
	}
	if (json_is_true(jover) && engine_override_reason_check(reason, &err) < 0) {
		http_resp_error(resp, 400, "%s", err.msg);
		goto out;
	}
	if (re.all) {
		http_resp_error(resp, 400, "environment=* lists every environment; apply to one");
		goto out;
	}
	if (!json_is_array(files) || json_array_size(files) == 0) {
		http_resp_error(resp, 400, "request body needs \"files\": a non-empty array");
		goto out;
	}
	pf = xcalloc(json_array_size(files), sizeof(*pf));
	docs = xcalloc(json_array_size(files), sizeof(*docs));
	size_t i, total = 0;
	bool one_too_big = false; /* then spec_parse_text names it below */
	json_t *f;
	json_array_foreach(files, i, f) {
		size_t len = json_string_length(json_object_get(f, "content"));
		total += len;
		one_too_big |= len > SPEC_MAX_TEXT;
	}
	if (total > SPEC_MAX_TEXT && !one_too_big) {
		http_resp_error(resp, 413, "the documents of one apply together are larger than %u MiB",
				SPEC_MAX_TEXT >> 20);
		goto out;
	}
	json_array_foreach(files, i, f) {
		const char *path = json_string_value(json_object_get(f, "path"));
		json_t *content = json_object_get(f, "content"), *jname = json_object_get(f, "name");
		if (!path || !json_is_string(content) || (jname && !json_is_string(jname))) {
			http_resp_error(resp, 400,
				       "files[%zu] needs \"path\" and \"content\" strings", i);
			goto out;
		}
		/* relative paths in the documents resolve from path's directory;
		 * messages name the file as the user gave it */
		pf[npf].path = xstrdup(path);
		pf[npf].given = jname ? json_string_value(jname) : pf[npf].path;
		int r = spec_parse_text(&pf[npf].set, json_string_value(content),
					json_string_length(content), pf[npf].path, &err);
		docs[npf] = (struct engine_doc){&pf[npf].set, pf[npf].path, NULL};
		npf++;
		if (r < 0) {
			name_as_given(&err, pf, npf);
			http_resp_error(resp, 422, "%s", err.msg);
			goto out;
		}
	}
	if (apply_env_known(v, resp, &re, pf, npf) < 0 || apply_render(v, resp, &re, pf, npf) < 0)
		goto out;
	for (size_t x = 0; x < npf && re.given; x++)
		if (spec_set_environment(&pf[x].set, re.one, &err) < 0) {
			name_as_given(&err, pf, npf);
			http_resp_error(resp, 422, "%s", err.msg);
			goto out;
		}
	if (apply_allowed(req, resp, &re, pf, npf) < 0)
		goto out;
	int r = dry_run ? engine_apply_dry_run(v->e, docs, npf, req->actor, &res, &err)
		: json_is_true(jover) ? engine_apply_override(v->e, docs, npf, req->actor, reason, &res, &err)
		: engine_apply(v->e, docs, npf, req->actor, &res, &err);
	if (r < 0) {
		name_as_given(&err, pf, npf);
		engine_error(resp, r, &err);
		goto out;
	}
	json_t *results = json_array();
	for (size_t k = 0; k < res.n; k++) {
		struct engine_result *x = &res.r[k];
		json_t *o = json_pack("{s:s, s:s, s:s}", "kind", x->kind, "name", x->name, "result",
				      x->result);
		if (strcmp(x->kind, "App") == 0) {
			set_name(o, "name", x->name);
			json_object_set_new(o, "revision", json_integer(x->revision));
		}
		if (dry_run) {
			json_object_set(o, "live", x->live ? x->live : json_null());
			json_object_set(o, "merged", x->merged ? x->merged : json_null());
		}
		json_array_append_new(results, o);
	}
	http_resp_json(resp, 200, json_pack("{s:o, s:b}", "results", results, "dryRun", dry_run));
out:
	engine_results_release(&res);
	for (size_t x = 0; x < npf; x++) {
		spec_set_release(&pf[x].set);
		free(pf[x].path);
	}
	free(pf);
	free(docs);
	json_decref(body);
}

/* POST /v1/apps/{name}/rollback {"to": N} or {"commit": "abc1234"}; neither
 * = the revision before. */
static void h_rollback(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct sw_err err = {0};
	bool bad, unchanged;
	int64_t revision = 0;
	json_int_t to = 0;
	json_t *body = body_object(req, resp, false, &bad);
	json_t *jto = json_object_get(body, "to"), *jc = json_object_get(body, "commit");
	if (bad)
		return;
	const char *commit = json_string_value(jc);
	size_t cl = commit ? strlen(commit) : 0;
	const char *why = jto && (!json_is_integer(jto) || json_integer_value(jto) < 1)
				  ? "\"to\" must be a positive revision number"
			  : jc && (!commit || cl < 4 || cl > 40 ||
				   strspn(commit, "0123456789abcdefABCDEF") != cl)
				  ? "\"commit\" must be 4 to 40 hex digits of a commit"
			  : jto && jc ? "give \"to\" or \"commit\", not both"
				      : NULL;
	if (why) {
		json_decref(body);
		http_resp_error(resp, 400, "%s", why);
		return;
	}
	to = jto ? json_integer_value(jto) : 0;
	struct engine_app *a = find_or_404(v, req, resp);
	if (!a) {
		json_decref(body);
		return;
	}
	char key[SPEC_KEY_MAX];
	sw_strlcpy(key, a->name, sizeof(key));
	int r = commit ? engine_rollback_commit(v->e, key, commit, req->actor, &revision, &unchanged,
						&err)
		       : engine_rollback(v->e, key, to, req->actor, &revision, &unchanged, &err);
	json_decref(body);
	if (r < 0) {
		engine_error(resp, r, &err);
		return;
	}
	json_t *j = json_pack("{s:s, s:I, s:s}", "name", key, "revision", (json_int_t)revision,
			      "result", unchanged ? "unchanged" : "rolling back");
	set_name(j, "name", key);
	http_resp_json(resp, 200, j);
}

/* DELETE /v1/analysistemplates/{name} */
static int hostwide_check(struct api *v, const struct http_req *req, struct http_resp *resp,
			  const char *what);

static void h_template_delete(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct sw_err err = {0};
	const char *name = http_req_param(req, "name");
	if (hostwide_check(v, req, resp, "a template") < 0)
		return;
	int r = engine_template_delete(v->e, name, req->actor, &err);
	if (r < 0) {
		engine_error(resp, r, &err);
		return;
	}
	http_resp_json(resp, 200, json_pack("{s:s, s:s, s:s}", "kind", "AnalysisTemplate", "name",
					   name, "result", "deleted"));
}

/* DELETE /v1/apps/{name} */
static void h_delete(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct sw_err err = {0};
	size_t n = 0;
	struct engine_app *a = find_or_404(v, req, resp);
	if (!a)
		return;
	char key[SPEC_KEY_MAX];
	sw_strlcpy(key, a->name, sizeof(key)); /* a is gone after the delete */
	int r = engine_delete(v->e, key, req->actor, &n, &err);
	if (r < 0) {
		engine_error(resp, r, &err);
		return;
	}
	json_t *j = json_pack("{s:s, s:s, s:i}", "name", key, "result", "deleted", "stopping", (int)n);
	set_name(j, "name", key);
	http_resp_json(resp, 200, j);
}

/* How long GET /v1/apps/{name}/logs?offsets=...&wait=D may wait at most. */
#define LOGS_WAIT_MAX_MS (5 * 60 * 1000)

/* What a logs request asks for; copies, so that a long poll can ask again. */
struct logs_query {
	char *only_id;       /* instance=ID, or NULL */
	char *offsets;       /* "ID:N,..." of a follower's previous answer, or NULL */
	int64_t tail_lines;  /* tail=N; -1: the last 16 KiB */
	int64_t since_ms;    /* since=MS, wall clock; 0: any */
	bool previous, failed;
};

static void logs_query_release(struct logs_query *q)
{
	free(q->only_id);
	free(q->offsets);
}

/* Reads a log file from `offset` (negative: the last -offset bytes) up to
 * `end` (-1: the end of the file); the text keeps every byte
 * (runtime_log_read). "more": there is more to read from "offset". */
static json_t *log_chunk(const char *path, const char *id, int64_t offset, int64_t end)
{
	struct buf text = BUF_INIT;
	int64_t next = 0;
	size_t max = LOG_CHUNK_MAX;
	struct stat st;
	int64_t size = stat(path, &st) == 0 ? st.st_size : 0;
	if (end > size)
		end = size; /* an index that says more than the file holds (rotated since) */
	if (end >= 0 && offset >= 0 && end - offset < (int64_t)max)
		max = end > offset ? (size_t)(end - offset) : 0;
	if (max)
		runtime_log_read(path, offset, max, &text, &next);
	else
		next = offset;
	json_t *j = json_pack("{s:s, s:I, s:s, s:b}", "id", id, "offset", (json_int_t)next, "text",
			      buf_str(&text), "more", next < (end >= 0 ? end : size));
	buf_release(&text);
	return j;
}

/* One log to read: a live instance's, the previous process of a live one
 * (prev: the bytes [from, to) of its log), or a stopped one's (gone). */
struct log_pick {
	const char *id;
	const struct engine_gone *gone;
	const struct runtime_instance *prev;
	int64_t from, to;
};

static void log_path(struct buf *path, const struct api *v, const char *app, const char *id)
{
	buf_reset(path);
	buf_addf(path, "%s/%s/%s.log", v->cfg.logs_dir, app, id);
}

/*
 * Which logs a request reads. instance=ID: that instance, live or
 * stopped. previous=1 (kubectl's logs --previous): the output of the
 * process before the last restart of each live instance that restarted;
 * when none did, the stopped instances of the newest revision among those
 * kept. failed=1: the instances whose process failed (ended by itself,
 * not stopped by us), of the newest revision among them. Otherwise every
 * live instance, and when the desired revision has none (its rollout was
 * aborted, it never started) its instance that stopped last, so that the
 * output of a failed instance is never hidden. Returns how many were
 * picked into out (room for ninsts + ENGINE_GONE_MAX).
 */
static size_t logs_pick(const struct api *v, const struct engine_app *a, const char *only_id,
			bool previous, bool failed, struct log_pick *out)
{
	size_t n = 0;
	if (failed) {
		/* the failed ones (their process ended by itself: a reason), of the
		 * newest revision among them */
		int64_t newest = 0;
		for (size_t i = 0; i < a->ngone; i++)
			if (a->gone[i].reason[0] && a->gone[i].revision > newest)
				newest = a->gone[i].revision;
		for (size_t i = 0; i < a->ngone; i++)
			if (a->gone[i].reason[0] && a->gone[i].revision == newest)
				out[n++] = (struct log_pick){.id = a->gone[i].id, .gone = &a->gone[i]};
		return n;
	}
	if (only_id) {
		for (size_t i = 0; i < a->ninsts; i++)
			if (strcmp(a->insts[i]->rt->id, only_id) == 0) {
				out[n++] = (struct log_pick){.id = a->insts[i]->rt->id};
				return n;
			}
		for (size_t i = a->ngone; i-- > 0;)
			if (strcmp(a->gone[i].id, only_id) == 0) {
				out[n++] = (struct log_pick){.id = a->gone[i].id, .gone = &a->gone[i]};
				return n;
			}
		out[n++] = (struct log_pick){.id = only_id}; /* a log still on disk */
		return n;
	}
	if (previous) {
		struct buf path = BUF_INIT;
		for (size_t i = 0; i < a->ninsts; i++) {
			const struct runtime_instance *r = a->insts[i]->rt;
			struct log_pick p = {.id = r->id, .prev = r};
			log_path(&path, v, a->name, r->id);
			if (r->restarts && runtime_log_previous(path.s, &p.from, &p.to))
				out[n++] = p;
		}
		buf_release(&path);
		if (n)
			return n;
		int64_t newest = 0;
		for (size_t i = 0; i < a->ngone; i++)
			if (a->gone[i].revision > newest)
				newest = a->gone[i].revision;
		for (size_t i = 0; i < a->ngone; i++)
			if (a->gone[i].revision == newest)
				out[n++] = (struct log_pick){.id = a->gone[i].id, .gone = &a->gone[i]};
		return n;
	}
	bool desired_live = false;
	for (size_t i = 0; i < a->ninsts; i++) {
		out[n++] = (struct log_pick){.id = a->insts[i]->rt->id};
		desired_live = desired_live || (a->insts[i]->rt->revision == a->st.desired &&
						!a->insts[i]->stopping);
	}
	for (size_t i = a->ngone; !desired_live && i-- > 0;)
		if (a->gone[i].revision == a->st.desired) {
			out[n++] = (struct log_pick){.id = a->gone[i].id, .gone = &a->gone[i]};
			break;
		}
	return n;
}

/* The offset a follower gave for id in "ID:N,ID:N:s" (":s": it saw the
 * instance stopped, in *seen_stopped when asked), or -1 when none. */
static int64_t offsets_find(const char *offsets, const char *id, bool *seen_stopped)
{
	size_t idl = strlen(id);
	for (const char *p = offsets; p && *p;) {
		if (strncmp(p, id, idl) == 0 && p[idl] == ':') {
			char *end;
			long long x = strtoll(p + idl + 1, &end, 10);
			if (seen_stopped)
				*seen_stopped = end[0] == ':' && end[1] == 's';
			return x < 0 ? 0 : x;
		}
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	return -1;
}

static bool picked(const struct log_pick *picks, size_t n, const char *id, size_t idl)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(picks[i].id) == idl && strncmp(picks[i].id, id, idl) == 0)
			return true;
	return false;
}

/*
 * The answer to a logs query: {"instances": [chunk...]}, in *out, or an
 * HTTP status with the message in err. *news: there is something for a
 * follower (new text, an instance that started or stopped since its
 * offsets).
 */
static int logs_build(const struct api *v, const struct engine_app *a, const struct logs_query *q,
		      json_t **out, bool *news, struct buf *err)
{
	struct buf path = BUF_INIT;
	struct log_pick *picks = xcalloc(a->ninsts + ENGINE_GONE_MAX + 1, sizeof(*picks));
	json_t *arr = json_array();
	int status = 0;
	*news = false;
	size_t npicks = logs_pick(v, a, q->only_id, q->previous, q->failed, picks);
	for (size_t i = 0; i < npicks; i++) {
		const char *id = picks[i].id;
		log_path(&path, v, a->name, id);
		int64_t off, end = -1;
		if (picks[i].prev) {
			off = picks[i].from;
			end = picks[i].to;
		} else if (q->tail_lines >= 0) {
			off = runtime_log_tail_offset(path.s, q->tail_lines, LOG_CHUNK_MAX);
		} else {
			off = q->since_ms ? 0 : -LOG_TAIL_DEFAULT;
		}
		if (q->since_ms) {
			/* the last N lines of what is since: whichever starts later */
			int64_t s = runtime_log_since_offset(path.s, q->since_ms);
			off = s > off ? s : off;
		}
		if (q->offsets) {
			/* following: an instance that started since is read from its start */
			bool seen_stopped = false;
			int64_t had = offsets_find(q->offsets, id, &seen_stopped);
			/* new, or followed while it ran and stopped since */
			*news = *news || had < 0 || (picks[i].gone && !seen_stopped);
			off = had < 0 ? 0 : had;
		}
		bool known = picks[i].gone != NULL || picks[i].prev != NULL;
		for (size_t k = 0; !known && k < a->ninsts; k++)
			known = strcmp(a->insts[k]->rt->id, id) == 0;
		if (!known && access(path.s, R_OK) != 0) {
			buf_addf(err, "app \"%s\" has no instance \"%s\"", a->name, id);
			status = 404;
			goto out;
		}
		json_t *chunk = log_chunk(path.s, id, off, end);
		*news = *news || *json_string_value(json_object_get(chunk, "text"));
		json_object_set_new(chunk, "previous", json_boolean(picks[i].gone || picks[i].prev));
		if (picks[i].gone) {
			json_object_set_new(chunk, "revision", json_integer(picks[i].gone->revision));
			json_object_set_new(chunk, "reason", json_string(picks[i].gone->reason));
		}
		if (picks[i].prev) {
			char why[160];
			snprintf(why, sizeof(why), "%s, restarted",
				 picks[i].prev->exit_reason[0] ? picks[i].prev->exit_reason : "ended");
			json_object_set_new(chunk, "revision", json_integer(picks[i].prev->revision));
			json_object_set_new(chunk, "reason", json_string(why));
			json_object_set_new(chunk, "restarted", json_true());
		}
		json_array_append_new(arr, chunk);
	}
	/* following: the instances followed that stopped since, with the rest of
	 * their output, marked "stopped" (the follower drops them) */
	for (const char *p = q->offsets; p && *p;) {
		const char *colon = strchr(p, ':'), *comma = strchr(p, ',');
		size_t idl = colon && (!comma || colon < comma) ? (size_t)(colon - p) : 0;
		if (idl && idl < sizeof(a->gone[0].id) && !picked(picks, npicks, p, idl)) {
			char id[sizeof(a->gone[0].id)];
			memcpy(id, p, idl);
			id[idl] = '\0';
			const struct engine_gone *g = NULL;
			for (size_t k = a->ngone; !g && k-- > 0;)
				if (strcmp(a->gone[k].id, id) == 0)
					g = &a->gone[k];
			json_t *chunk;
			if (g && !strchr(id, '/')) {
				log_path(&path, v, a->name, id);
				chunk = log_chunk(path.s, id, offsets_find(q->offsets, id, NULL), -1);
				json_object_set_new(chunk, "revision", json_integer(g->revision));
				json_object_set_new(chunk, "reason", json_string(g->reason));
			} else {
				chunk = json_pack("{s:s, s:i, s:s, s:b}", "id", id, "offset", 0, "text", "",
						  "more", 0);
			}
			json_object_set_new(chunk, "previous", json_true());
			json_object_set_new(chunk, "stopped", json_true());
			json_array_append_new(arr, chunk);
			*news = true;
		}
		p = comma ? comma + 1 : NULL;
	}
	*out = json_pack("{s:O}", "instances", arr);
out:
	json_decref(arr);
	buf_release(&path);
	free(picks);
	return status;
}

/*
 * A follower's long poll: waits for a write to the app's logs (the log
 * directory is watched), or an event of the app (an instance started or
 * stopped), then answers if there is news, else waits on.
 */
struct logs_wait {
	struct api *v;
	struct http_deferred *d;
	char *app;
	struct logs_query q;
	uint64_t sub;           /* engine_subscribe */
	uv_fs_event_t watch;    /* LOG_DIR/<app>/ */
	bool watching;
	uv_timer_t recheck;     /* coalesces wake-ups into one look, on the next turn */
	int closing;            /* handle closes before the struct goes */
};

static void logs_wait_closed(uv_handle_t *h)
{
	struct logs_wait *w = h->data;
	if (--w->closing > 0)
		return;
	free(w->app);
	logs_query_release(&w->q);
	free(w);
}

static void logs_wait_free(struct logs_wait *w)
{
	engine_unsubscribe(w->v->e, w->sub);
	w->closing = 2;
	uv_close((uv_handle_t *)&w->watch, logs_wait_closed);
	uv_close((uv_handle_t *)&w->recheck, logs_wait_closed);
}

/* Answers the follower with what there is now; false (nothing sent) when
 * there is no news and `always` is not set. */
static bool logs_wait_answer(struct logs_wait *w, bool always)
{
	struct http_resp resp = {0};
	struct engine_app *a = engine_app_find(w->v->e, w->app);
	json_t *j = NULL;
	bool news = false;
	if (!a) {
		http_resp_error(&resp, 404, "app \"%s\" not found", w->app);
	} else {
		struct buf err = BUF_INIT;
		int status = logs_build(w->v, a, &w->q, &j, &news, &err);
		if (status)
			http_resp_error(&resp, status, "%s", buf_str(&err));
		buf_release(&err);
		if (!status && !news && !always) {
			json_decref(j);
			return false;
		}
		if (!status)
			http_resp_json(&resp, 200, j);
	}
	http_deferred_answer(w->d, &resp);
	buf_release(&resp.body);
	return true;
}

static void logs_wait_watch(struct logs_wait *w);

static void logs_wait_on_recheck(uv_timer_t *t)
{
	struct logs_wait *w = t->data;
	if (!w->watching)
		logs_wait_watch(w); /* the directory may exist by now */
	if (logs_wait_answer(w, false))
		logs_wait_free(w);
}

static void logs_wait_poke(struct logs_wait *w)
{
	if (!uv_is_active((uv_handle_t *)&w->recheck))
		uv_timer_start(&w->recheck, logs_wait_on_recheck, 0, 0);
}

static void logs_wait_on_fs(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct logs_wait *w = h->data;
	size_t n = filename ? strlen(filename) : 0;
	(void)events;
	/* the logs themselves, not their indexes */
	if (status == 0 && (!filename || (n > 4 && strcmp(filename + n - 4, ".log") == 0)))
		logs_wait_poke(w);
}

static void logs_wait_on_event(const struct engine_event *ev, void *data)
{
	struct logs_wait *w = data;
	if (strcmp(ev->app, w->app) == 0)
		logs_wait_poke(w); /* after the engine has applied it */
}

static void logs_wait_watch(struct logs_wait *w)
{
	struct buf dir = BUF_INIT;
	buf_addf(&dir, "%s/%s", w->v->cfg.logs_dir, w->app);
	w->watching = uv_fs_event_start(&w->watch, logs_wait_on_fs, dir.s, 0) == 0;
	buf_release(&dir);
}

static void logs_wait_end(struct http_deferred *d, enum http_defer_end why, void *data)
{
	struct logs_wait *w = data;
	(void)d;
	if (why != HTTP_DEFER_GONE)
		logs_wait_answer(w, true); /* the deadline: what there is (nothing new) */
	logs_wait_free(w);
}

/*
 * GET /v1/apps/{name}/logs?instance=ID&previous=1&failed=1&tail=LINES&since=MS
 *     &offsets=ID:N,ID:N&wait=DURATION
 * offsets: "ID:N" for each instance in the answer before, ":s" after N
 * when it came "previous" (so that an instance seen running that has
 * stopped since is news). With offsets and wait (at most
 * 5m): a long poll, answered as soon as a followed instance writes, one
 * starts or one stops, or at the deadline with nothing new.
 */
static void h_logs(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	const char *name = http_req_param(req, "name");
	struct req_env re;
	struct engine_app *a = app_or_404(v, req, resp, name, &re);
	const char *only = http_req_query(req, "instance");
	const char *offs = http_req_query(req, "offsets");
	const char *wait_s = http_req_query(req, "wait");
	uint64_t wait_ms = 0;
	struct logs_query q = {
		.only_id = only && *only ? xstrdup(only) : NULL,
		.offsets = offs ? xstrdup(offs) : NULL,
		/* tail=N: the last N lines (kubectl); without it the last 16 KiB */
		.tail_lines = query_int(req, "tail", -1),
		.previous = query_int(req, "previous", 0) != 0,
		.failed = query_int(req, "failed", 0) != 0,
	};
	struct buf err = BUF_INIT;
	json_t *j = NULL;
	bool news;

	if (!a)
		goto out; /* app_or_404 answered */
	if (q.only_id && (strchr(q.only_id, '/') || strstr(q.only_id, ".."))) {
		http_resp_error(resp, 400, "bad instance id \"%s\"", q.only_id);
		goto out;
	}
	if (query_count(req, resp, "since", &q.since_ms) < 0)
		goto out;
	if (wait_s && *wait_s && (sw_duration_parse(wait_s, &wait_ms) < 0 || wait_ms > LOGS_WAIT_MAX_MS)) {
		http_resp_error(resp, 400, "wait must be a duration of at most 5m like 30s, got \"%s\"", wait_s);
		goto out;
	}
	if (wait_ms && !q.offsets) {
		http_resp_error(resp, 400, "wait needs offsets=ID:N,...: where the follower is");
		goto out;
	}
	struct logs_wait *w = NULL;
	if (wait_ms && v->cfg.loop) {
		/* watched before the read, so that no write between falls through */
		w = xcalloc(1, sizeof(*w));
		w->v = v;
		w->app = xstrdup(a->name);
		uv_fs_event_init(v->cfg.loop, &w->watch);
		w->watch.data = w;
		uv_timer_init(v->cfg.loop, &w->recheck);
		w->recheck.data = w;
		logs_wait_watch(w);
	}
	int status = logs_build(v, a, &q, &j, &news, &err);
	if (w && !status && !news) {
		json_decref(j);
		w->q = q;
		memset(&q, 0, sizeof(q));
		w->sub = engine_subscribe(v->e, logs_wait_on_event, w);
		w->d = http_defer(req, wait_ms, logs_wait_end, w);
		goto out;
	}
	if (w) {
		w->closing = 2;
		uv_close((uv_handle_t *)&w->watch, logs_wait_closed);
		uv_close((uv_handle_t *)&w->recheck, logs_wait_closed);
	}
	if (status)
		http_resp_error(resp, status, "%s", buf_str(&err));
	else
		http_resp_json(resp, 200, j);
out:
	buf_release(&err);
	logs_query_release(&q);
}

/* An event: "app" its app's name ("" host-wide) and "environment" the
 * app's (null host-wide), so that a key never leaves the daemon. */
static json_t *event_json(const struct store_event *ev)
{
	char t[40];
	sw_format_time(t, sizeof(t), ev->time_ms);
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)ev->id, "time", t,
			      "app", ev->app, "kind", ev->kind, "message", ev->message, "actor",
			      ev->actor);
	if (j && ev->app && *ev->app)
		set_name(j, "app", ev->app);
	else if (j)
		json_object_set_new(j, "environment", json_null());
	return j;
}

/* A page being encoded, and the id of its last row (shown or not). */
struct json_page {
	json_t *arr;
	int64_t last_id;
	const struct req_env *re;     /* the environments shown; NULL: every one */
};

static void page_add(const struct store_event *ev, void *data)
{
	struct json_page *p = data;
	json_t *j = !p->re || env_shows(p->re, ev->app) ? event_json(ev) : NULL;
	if (j)
		json_array_append_new(p->arr, j);
	p->last_id = ev->id;
}

/* How long GET /v1/events?after=ID&wait=D may wait at most. */
#define EVENTS_WAIT_MAX_MS (5 * 60 * 1000)
/* An event stream ends after this (the client resumes with Last-Event-ID). */
#define EVENTS_STREAM_MAX_MS (60 * 60 * 1000)
#define EVENTS_HEARTBEAT_MS 15000

/* A request waiting for the next event: a long poll, or an SSE stream. */
struct event_wait {
	struct api *v;
	struct http_deferred *d;
	uint64_t sub;       /* engine_subscribe */
	char *app;          /* NULL: every app's */
	int64_t after;      /* the newest id the client has */
	int64_t since;      /* ms; 0: any */
	bool stream;
	struct req_env re;  /* the environments it shows */
};

static void event_wait_free(struct event_wait *w)
{
	engine_unsubscribe(w->v->e, w->sub);
	free(w->app);
	free(w);
}

static bool event_wanted(const struct event_wait *w, int64_t id, int64_t time_ms, const char *app)
{
	return id > w->after && (!w->app || strcmp(w->app, app) == 0) && time_ms >= w->since &&
	       env_shows(&w->re, app);
}

/* Appends one event as SSE: id, event (the kind), data (its JSON on one line). */
static void sse_event(struct buf *out, const struct store_event *ev)
{
	json_t *j = event_json(ev);
	char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	buf_addf(out, "id: %lld\nevent: ", (long long)ev->id);
	for (const char *k = ev->kind; *k; k++)
		buf_addc(out, (*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
				      (*k >= '0' && *k <= '9') || *k == '-' || *k == '_' ? *k : '_');
	buf_addf(out, "\ndata: %s\n\n", t ? t : "{}");
	free(t);
}

static void event_wait_end(struct http_deferred *d, enum http_defer_end why, void *data)
{
	struct event_wait *w = data;
	if (!w->stream && why != HTTP_DEFER_GONE) {
		/* nothing new in time (or the daemon stops): an empty page; the
		 * client asks again from the same cursor */
		struct http_resp resp = {0};
		http_resp_json(&resp, 200, json_pack("{s:[], s:n}", "events", "next"));
		http_deferred_answer(d, &resp);
		buf_release(&resp.body);
	}
	event_wait_free(w);
}

static void event_wait_on_event(const struct engine_event *ev, void *data)
{
	struct event_wait *w = data;
	if (!ev->id || !event_wanted(w, ev->id, ev->time_ms, ev->app))
		return;
	struct store_event se = {.id = ev->id, .time_ms = ev->time_ms, .app = (char *)ev->app,
				 .kind = (char *)ev->kind, .message = (char *)ev->message,
				 .actor = (char *)ev->actor};
	if (w->stream) {
		struct buf out = BUF_INIT;
		sse_event(&out, &se);
		w->after = ev->id;
		int r = http_deferred_write(w->d, out.s, out.len);
		buf_release(&out);
		if (r < 0)
			event_wait_free(w);
		return;
	}
	struct json_page page = {json_array(), 0, NULL};
	struct http_resp resp = {0};
	page_add(&se, &page);
	/* the same page as a read that found it: next is null below a full page */
	http_resp_json(&resp, 200, json_pack("{s:O, s:n}", "events", page.arr, "next"));
	json_decref(page.arr);
	http_deferred_answer(w->d, &resp);
	buf_release(&resp.body);
	event_wait_free(w);
}

static struct event_wait *event_wait_new(struct api *v, const char *app, int64_t after,
					 int64_t since, bool stream, const struct req_env *re)
{
	struct event_wait *w = xcalloc(1, sizeof(*w));
	w->v = v;
	w->re = *re;
	w->app = app ? xstrdup(app) : NULL;
	w->after = after;
	w->since = since;
	w->stream = stream;
	w->sub = engine_subscribe(v->e, event_wait_on_event, w);
	return w;
}

/*
 * GET /v1/events?watch=1 (Accept: text/event-stream): Server-Sent Events.
 * From Last-Event-ID (or after=ID): the events after it first, at most a
 * page (ENGINE_PAGE_MAX); when there were more, the stream ends there and
 * the client resumes from the last id it got. Without either, only what is
 * recorded from now on. A heartbeat comment every 15 s; the stream ends
 * after an hour (the client resumes).
 */
static void events_stream(struct api *v, const struct http_req *req, struct http_resp *resp,
			  const char *app, int64_t after, int64_t since, const struct req_env *re)
{
	struct sw_err err = {0};
	struct store_event *evs = NULL;
	size_t n = 0;
	const char *leid = req->last_event_id;
	if (leid && *leid) {
		char *end;
		long long x = strtoll(leid, &end, 10);
		if (*end || x < 0) {
			http_resp_error(resp, 400, "Last-Event-ID must be an event id, got \"%s\"", leid);
			return;
		}
		after = x;
	}
	if (after && engine_events_after(v->e, app, after, since, ENGINE_PAGE_MAX, &evs, &n, &err) < 0) {
		http_resp_error(resp, err.code == SW_EBUSY ? 503 : 500, "%s", err.msg);
		return;
	}
	if (!after) {
		/* from now on: the newest id there is is the cursor */
		struct json_page newest = {json_array(), 0, NULL};
		if (engine_events_page(v->e, NULL, 0, 0, 1, page_add, &newest, &err) > 0)
			after = newest.last_id;
		json_decref(newest.arr);
	}
	struct event_wait *w = event_wait_new(v, app, after, since, true, re);
	struct buf out = BUF_INIT;
	w->d = http_defer(req, EVENTS_STREAM_MAX_MS, event_wait_end, w);
	http_deferred_stream(w->d, 200, "text/event-stream", "X-Accel-Buffering: no\r\n",
			     ": keep-alive\n\n", EVENTS_HEARTBEAT_MS);
	buf_adds(&out, "retry: 1000\n\n");
	for (size_t i = 0; i < n; i++) {
		if (env_shows(re, evs[i].app))
			sse_event(&out, &evs[i]);
		w->after = evs[i].id;
	}
	http_deferred_write(w->d, out.s, out.len);
	buf_release(&out);
	store_event_list_free(evs, n);
	(void)resp;
}
/*
 * GET /v1/events?app=NAME&limit=N&before=ID&since=MS: newest first, at
 * most N (default 100, at most 1000) with "next" the cursor of the page
 * after (null on the last page). ?after=ID instead: the events after ID
 * (and since MS), oldest first, "next" the after= of the following page
 * (null: none yet), for reading forwards and following the log; with
 * &wait=DURATION too (at most 5m), a long poll: when nothing is newer, the
 * answer waits for the next event (then it alone), or is the empty page at
 * the deadline. ?watch=1: an SSE stream (events_stream). Each page is read a row at a
 * time from the store, so memory does not grow with the log.
 */
static void h_events(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct sw_err err = {0};
	const char *app = http_req_query(req, "app");
	char *app_name = NULL;
	int64_t after, limit, before, since;
	int has_after;
	struct req_env re;
	struct json_page page = {json_array(), 0, &re};

	if (request_env(v, req, resp, true, &re) < 0)
		goto out;
	if (app && *app) {
		char key[SPEC_KEY_MAX];
		if (re.all || strchr(app, '/')) {
			http_resp_error(resp, 400, "app=NAME needs one environment (environment=ENV)");
			goto out;
		}
		app_name = xstrdup(spec_key(key, re.one, app));
	}

	if ((has_after = query_count(req, resp, "after", &after)) < 0 ||
	    query_count(req, resp, "limit", &limit) < 0 ||
	    query_count(req, resp, "before", &before) < 0 ||
	    query_count(req, resp, "since", &since) < 0)
		goto out;
	const char *wait_s = http_req_query(req, "wait");
	uint64_t wait_ms = 0;
	if (wait_s && *wait_s && (sw_duration_parse(wait_s, &wait_ms) < 0 || wait_ms > EVENTS_WAIT_MAX_MS)) {
		http_resp_error(resp, 400, "wait must be a duration of at most 5m like 30s, got \"%s\"", wait_s);
		goto out;
	}
	if (wait_ms && !has_after) {
		http_resp_error(resp, 400, "wait needs after=ID: the newest event id the client has");
		goto out;
	}
	if (query_int(req, "watch", 0)) {
		events_stream(v, req, resp, app_name, after, since, &re);
		goto out;
	}
	if (has_after) {
		struct store_event *evs = NULL;
		size_t n = 0;
		if (engine_events_after(v->e, app_name, after, since, (size_t)limit, &evs, &n, &err) < 0) {
			http_resp_error(resp, err.code == SW_EBUSY ? 503 : 500, "%s", err.msg);
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			page_add(&evs[i], &page);
		store_event_list_free(evs, n);
		if (n == 0 && wait_ms) {
			struct event_wait *w = event_wait_new(v, app_name, after, since, false, &re);
			w->d = http_defer(req, wait_ms, event_wait_end, w);
			goto out;
		}
		size_t cap = limit == 0 ? ENGINE_PAGE_MAX : engine_page_limit((size_t)limit);
		json_t *next = page_next(n, cap, page.last_id, true);
		http_resp_json(resp, 200, json_pack("{s:O, s:o}", "events", page.arr, "next", next));
		goto out;
	}
	size_t want = engine_page_limit((size_t)limit);
	int n = engine_events_page(v->e, app_name, before, since, want, page_add, &page, &err);
	if (n < 0) {
		http_resp_error(resp, err.code == SW_EBUSY ? 503 : 500, "%s", err.msg);
		goto out;
	}
	json_t *next = page_next((size_t)n, want, page.last_id, false);
	http_resp_json(resp, 200, json_pack("{s:O, s:o}", "events", page.arr, "next", next));
out:
	json_decref(page.arr);
	free(app_name);
}

/* POST /v1/apps/{name}/rollout/{action} {"full": bool}
 * action: promote, abort, pause, resume, retry, undo. Answers with the
 * app as it is after the command. */
static void h_rollout_action(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct sw_err err = {0};
	const char *action = http_req_param(req, "action");
	struct engine_app *a = find_or_404(v, req, resp);
	bool bad;
	if (!a)
		return;
	int cmd = engine_rollout_cmd_parse(action);
	bool override = action && strcmp(action, "override") == 0;
	if (cmd < 0 && !override) {
		http_resp_error(resp, 404, "unknown rollout action \"%s\" (promote, abort, pause, "
			       "resume, retry, undo, restart, override)", action);
		return;
	}
	json_t *body = body_object(req, resp, false, &bad);
	if (bad)
		return;
	if (override) { /* {"reason": TEXT}: the revision waiting for its window starts */
		json_t *jr = json_object_get(body, "reason");
		int r = jr && !json_is_string(jr)
			? sw_errf(&err, SW_EINVAL, "\"reason\" must be a string")
			: engine_window_override(v->e, a->name, req->actor, json_string_value(jr), &err);
		json_decref(body);
		if (r < 0)
			engine_error(resp, r, &err);
		else
			http_resp_json(resp, 200, app_json(v, a, true));
		return;
	}
	/* "force" (abort --force) travels as the command's flag, like "full" */
	bool full = json_is_true(json_object_get(body, "full")) ||
		    json_is_true(json_object_get(body, "force"));
	json_decref(body);
	int r = engine_rollout(v->e, a->name, (enum engine_rollout_cmd)cmd, full, req->actor, &err);
	if (r < 0) {
		engine_error(resp, r, &err);
		return;
	}
	http_resp_json(resp, 200, app_json(v, a, true));
}

/* POST /v1/apps/{name}/scale {"replicas": N}: N instances of the revision
 * that serves, without a new revision (engine_scale). Answers with the app
 * as it is after the command. */
static void h_scale(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct sw_err err = {0};
	struct engine_app *a = find_or_404(v, req, resp);
	bool bad;
	if (!a)
		return;
	json_t *body = body_object(req, resp, true, &bad);
	if (bad)
		return;
	json_t *jn = json_object_get(body, "replicas");
	if (!json_is_integer(jn) || json_integer_value(jn) < 0 ||
	    json_integer_value(jn) > ROLLOUT_MAX_REPLICAS) {
		json_decref(body);
		http_resp_error(resp, 400, "\"replicas\" must be a number of instances from 0 to %d",
				ROLLOUT_MAX_REPLICAS);
		return;
	}
	uint32_t n = (uint32_t)json_integer_value(jn);
	json_decref(body);
	int r = engine_scale(v->e, a->name, n, req->actor, &err);
	if (r < 0) {
		engine_error(resp, r, &err);
		return;
	}
	http_resp_json(resp, 200, app_json(v, a, true));
}

static void measurement_add(const struct store_measurement *m, void *data)
{
	struct json_page *p = data;
	char t[40];
	sw_format_time(t, sizeof(t), m->time_ms);
	json_t *j = json_pack("{s:I, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			      "id", (json_int_t)m->id, "time", t, "revision",
			      (json_int_t)m->revision, "run", (json_int_t)m->run, "kind", m->kind,
			      "template", m->template_name, "metric", m->metric, "provider",
			      m->provider, "query", m->query, "value", m->value, "condition",
			      m->condition, "outcome", m->outcome, "reason", m->reason);
	if (j)
		json_array_append_new(p->arr, j);
	p->last_id = m->id;
}

/*
 * GET /v1/apps/{name}/analysis?revision=N&limit=N&before=ID: the app's
 * measurements (of revision N; 0 = all) newest first, at most N (default
 * 100, at most 1000), each with its provider, query, value, condition,
 * outcome and reason; "next" the before= of the page of older ones (null
 * on the last). ?after=ID instead: those after ID, oldest first (at most
 * 1000 a page), as for events. Read from the store a row at a time.
 */
static void h_analysis(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct engine_app *a = find_or_404(v, req, resp);
	struct sw_err err = {0};
	int64_t revision, limit, before, after;
	int has_after;
	if (!a || query_count(req, resp, "revision", &revision) < 0 ||
	    (has_after = query_count(req, resp, "after", &after)) < 0 ||
	    query_count(req, resp, "limit", &limit) < 0 ||
	    query_count(req, resp, "before", &before) < 0)
		return;
	struct json_page page = {json_array(), 0, NULL};
	size_t want = has_after && !limit ? ENGINE_PAGE_MAX : engine_page_limit((size_t)limit);
	int n = engine_measurements_page(v->e, a->name, revision, has_after ? after : before,
					 has_after, want, measurement_add, &page, &err);
	if (n < 0)
		http_resp_error(resp, err.code == SW_EBUSY ? 503 : 500, "%s", err.msg);
	else {
		json_t *j = json_pack("{s:s, s:O, s:o}", "name", a->name, "measurements", page.arr,
				      "next", page_next((size_t)n, want, page.last_id, has_after));
		set_name(j, "name", a->name);
		http_resp_json(resp, 200, j);
	}
	json_decref(page.arr);
}

/* POST /v1/upgrade: the control plane re-executes the binary on disk once
 * this answer is out (`slipway upgrade` upgrades the proxy first). */
static void h_upgrade(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	if (!v->cfg.upgrade || !v->cfg.upgrade(v->cfg.data)) {
		http_resp_error(resp, 409, "the daemon is stopping");
		return;
	}
	engine_event(v->e, NULL, "UpgradeRequested", req->actor, "upgrade of slipway serve requested");
	http_resp_json(resp, 202, json_pack("{s:s, s:i, s:I}", "result", "upgrading", "pid",
					   (int)getpid(), "startedMs", (json_int_t)v->cfg.started_ms));
}

/* GET /v1/routes: what the data plane is told, and whether it is up. */
static void h_routes(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	json_t *t = json_deep_copy(engine_route_table(v->e));
	struct traffic_status ts = {0};
	if (engine_traffic(v->e))
		traffic_status(engine_traffic(v->e), &ts);
	json_object_set_new(t, "proxy", json_pack("{s:i, s:b, s:b}", "pid", (int)ts.pid, "up", ts.up,
						  "synced", ts.synced));
	http_resp_json(resp, 200, t);
}

/* GET /metrics: the data plane's Prometheus text (a snapshot). */
static void h_metrics(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct buf text = BUF_INIT;
	if (!v->cfg.metrics_text || v->cfg.metrics_text(&text, v->cfg.data) < 0) {
		buf_release(&text);
		http_resp_error(resp, 503, "the proxy is not reachable");
		return;
	}
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4";
	buf_add(&resp->body, buf_str(&text), text.len);
	buf_release(&text);
}

/* A token's "environments" as the API shows them: a list, [] for every one. */
static json_t *scope_json(const char *scope)
{
	json_t *arr = json_array();
	for (const char *p = scope ? scope : ""; *p;) {
		size_t len = strcspn(p, ",");
		json_array_append_new(arr, json_stringn(p, len));
		p += len + (p[len] == ',');
	}
	return arr;
}

/* A body's list of environment names (absent: none) into *out (the
 * caller frees the array; the names are the body's); -1 after a 400. */
static int name_list(json_t *body, const char *key, struct http_resp *resp, const char ***out,
		     size_t *n)
{
	json_t *arr = json_object_get(body, key), *x;
	size_t i;
	*out = xcalloc(json_array_size(arr) + 1, sizeof(**out));
	*n = 0;
	if (arr && !json_is_array(arr)) {
		http_resp_error(resp, 400, "\"%s\", when given, must be a list of names", key);
		return -1;
	}
	json_array_foreach(arr, i, x) {
		if (!json_is_string(x)) {
			http_resp_error(resp, 400, "\"%s\" must be a list of names", key);
			return -1;
		}
		(*out)[(*n)++] = json_string_value(x);
	}
	return 0;
}

/* POST /v1/tokens {"name", "role", "environments": [ENV...], "approve":
 * [ENV...]}: the token is in this answer only. */
static void h_token_create(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct sw_err err = {0};
	char token[68];
	bool bad;
	json_t *body = body_object(req, resp, true, &bad);
	const char *name = json_string_value(json_object_get(body, "name"));
	const char *role = json_string_value(json_object_get(body, "role"));
	const char **envs = NULL, **approve = NULL;
	size_t nenvs = 0, napprove = 0;
	if (bad)
		return;
	if (!name || !role) {
		http_resp_error(resp, 400, "request body needs \"name\" and \"role\" strings (and "
				"\"environments\" and \"approve\", when given, lists of names)");
		goto out;
	}
	if (name_list(body, "environments", resp, &envs, &nenvs) < 0 ||
	    name_list(body, "approve", resp, &approve, &napprove) < 0)
		goto out;
	int r = engine_token_create(v->e, name, role, envs, nenvs, approve, napprove, req->actor, token,
				    &err);
	if (r < 0) {
		http_resp_error(resp, r == SW_EINVAL ? 400 : status_of(r), "%s", err.msg);
		goto out;
	}
	char scope[512], approves[512];
	engine_token_scope(v->e, name, scope, sizeof(scope));
	engine_token_approve_list(v->e, name, approves, sizeof(approves));
	http_resp_json(resp, 201, json_pack("{s:s, s:s, s:o, s:o, s:s}", "name", name, "role", role,
					   "environments", scope_json(scope), "approve",
					   scope_json(approves), "token", token));
	OPENSSL_cleanse(token, sizeof(token));
out:
	free(envs);
	free(approve);
	json_decref(body);
}

/* GET /v1/tokens?limit=N&after=NAME: names, roles and times, never a
 * token or its hash; by name, at most N (default 100, at most 1000) a
 * page, "next" the after= of the page that follows (null on the last). */
static void h_token_list(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct sw_err err = {0};
	struct store_token *ts = NULL;
	size_t n = 0;
	int64_t limit;
	const char *after = http_req_query(req, "after");
	if (query_count(req, resp, "limit", &limit) < 0)
		return;
	size_t want = engine_page_limit((size_t)limit);
	if (store_token_page(v->store, after ? after : "", want, &ts, &n, &err) < 0) {
		http_resp_error(resp, err.code == SW_EBUSY ? 503 : 500, "%s", err.msg);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char created[40], used[40] = "";
		sw_format_time(created, sizeof(created), ts[i].created_ms);
		if (ts[i].last_used_ms)
			sw_format_time(used, sizeof(used), ts[i].last_used_ms);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:o, s:s, s:s}", "name",
						     ts[i].name, "role", ts[i].role, "environments",
						     scope_json(ts[i].environments), "approve",
						     scope_json(ts[i].approve), "created", created,
						     "lastUsed", used));
	}
	json_t *next = n == want ? json_string(ts[n - 1].name) : json_null();
	store_token_list_free(ts, n);
	http_resp_json(resp, 200, json_pack("{s:o, s:o}", "tokens", arr, "next", next));
}

/* DELETE /v1/tokens/{name}: the token stops working at once. */
static void h_token_revoke(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct sw_err err = {0};
	const char *name = http_req_param(req, "name");
	if (strcmp(name, "root") == 0) {
		http_resp_error(resp, 409, "token \"root\" is the file %s/token: replace it and "
			       "restart the daemon to change it", v->cfg.state_dir);
		return;
	}
	int r = engine_token_revoke(v->e, name, req->actor, &err);
	if (r < 0) {
		http_resp_error(resp, status_of(r), "%s", err.msg);
		return;
	}
	http_resp_json(resp, 200, json_pack("{s:s, s:s}", "name", name, "result", "revoked"));
}

/* ---- promotion (docs/api.md "Promotion") ---- */

/* A body's optional string field; -1 after a 400 for one that is no string. */
static int body_str(json_t *body, const char *key, struct http_resp *resp, const char **out)
{
	json_t *x = json_object_get(body, key);
	*out = json_string_value(x);
	if (x && !json_is_null(x) && !*out) {
		http_resp_error(resp, 400, "\"%s\" must be a string", key);
		return -1;
	}
	return 0;
}

/* GET /v1/apps/{name}/releases: which release runs in which environment
 * and what waits for which gate; the environments the token may use. */
static void h_releases(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct req_env re;
	const char *name = http_req_param(req, "name");
	if (request_env_read(v, req, resp, &re) < 0)
		return;
	if (!name || strchr(name, '/') || !spec_is_dns_label(name)) {
		http_resp_error(resp, 404, "app \"%s\" not found", name ? name : "");
		return;
	}
	json_t *j = engine_releases(v->e, name, re.scope);
	if (!json_array_size(json_object_get(j, "environments"))) {
		json_decref(j);
		http_resp_error(resp, 404, "app \"%s\" not found in any environment", name);
		return;
	}
	http_resp_json(resp, 200, j);
}

/* GET /v1/apps/{name}/promotion?environment=ENV: the newest promotion
 * into ENV (what `promote --wait` and `approve --wait` follow). */
static void h_promotion(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct req_env re;
	const char *name = http_req_param(req, "name");
	if (!app_or_404(v, req, resp, name, &re))
		return;
	json_t *j = engine_promotion_json(v->e, re.one, name);
	if (j)
		http_resp_json(resp, 200, j);
	else
		http_resp_error(resp, 404, "no release of %s has been promoted into %s yet", name, re.one);
}

/* A use case's answer: its error (r < 0), else the promotion into the
 * request's environment as it is after it. */
static void promotion_answer(struct api *v, struct http_resp *resp, const struct req_env *re,
			     const char *name, int r, const struct sw_err *err)
{
	if (r < 0) {
		engine_error(resp, r, err);
		return;
	}
	json_t *j = engine_promotion_json(v->e, re->one, name);
	http_resp_json(resp, 200, j ? j : json_pack("{s:s, s:s}", "app", name, "environment", re->one));
}

/* POST /v1/apps/{name}/promote?environment=TARGET {"release": R}:
 * `slipway promote NAME --to TARGET`. */
static void h_promote(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct sw_err err = {0};
	struct req_env re;
	const char *release;
	bool bad;
	if (!app_or_404(v, req, resp, http_req_param(req, "name"), &re))
		return;
	json_t *body = body_object(req, resp, false, &bad);
	if (bad || body_str(body, "release", resp, &release) < 0)
		goto out;
	int r = engine_promote(v->e, re.one, http_req_param(req, "name"), release, req->actor, &err);
	promotion_answer(v, resp, &re, http_req_param(req, "name"), r, &err);
out:
	json_decref(body);
}

/* POST /v1/apps/{name}/approve?environment=ENV {"release", "comment"}
 * (and /reject): a decision on the pending promotion, for a token that
 * may approve for ENV (--approve ENV), whatever its role. */
static void decide(const struct http_req *req, struct http_resp *resp, struct api *v, bool approve)
{
	struct sw_err err = {0};
	struct req_env re;
	const char *release, *comment;
	bool bad, may;
	if (!app_or_404(v, req, resp, http_req_param(req, "name"), &re))
		return;
	if (engine_token_approves(v->e, req->actor, re.one, &may) < 0) {
		http_resp_error(resp, 503, "cannot read the token's permissions: the store is busy");
		return;
	}
	if (!may) {
		http_resp_error(resp, 403, "token \"%s\" may not %s promotions into %s (that takes a "
				"token with --approve %s)", req->actor, approve ? "approve" : "reject",
				re.one, re.one);
		return;
	}
	json_t *body = body_object(req, resp, false, &bad);
	if (bad || body_str(body, "release", resp, &release) < 0 ||
	    body_str(body, "comment", resp, &comment) < 0)
		goto out;
	bool control = false;
	for (const unsigned char *c = (const unsigned char *)comment; c && *c; c++)
		control |= *c < 0x20 || *c == 0x7f;
	if (comment && (strlen(comment) >= PROMO_COMMENT_MAX || control ||
			!sw_utf8_valid(comment, strlen(comment)))) {
		http_resp_error(resp, 400, "\"comment\" must be one line of UTF-8 text, at most %d bytes",
				PROMO_COMMENT_MAX - 1);
		goto out;
	}
	int r = engine_promotion_decide(v->e, re.one, http_req_param(req, "name"), release, approve,
					comment, req->actor, &err);
	promotion_answer(v, resp, &re, http_req_param(req, "name"), r, &err);
out:
	json_decref(body);
}

static void h_approve(const struct http_req *req, struct http_resp *resp, void *data)
{
	decide(req, resp, data, true);
}

static void h_reject(const struct http_req *req, struct http_resp *resp, void *data)
{
	decide(req, resp, data, false);
}

/* ---- environments ---- */

/* An environment as the API shows it (o: its stored row; NULL for
 * default, which has none): its document's fields, how many apps live
 * in it, where it came from. */
static json_t *environment_json(struct api *v, const char *name, const struct store_object *o)
{
	json_t *doc = o ? json_loads(o->spec_json, 0, NULL) : NULL;
	const struct env_spec *x = engine_env_find(v->e, name);
	struct engine_app **apps;
	size_t n = engine_apps(v->e, &apps), used = 0;
	for (size_t i = 0; i < n; i++)
		used += engine_app_in(apps[i], name);
	free(apps);
	char ports[16] = "", created[40] = "", updated[40] = "";
	json_t *listen = json_array(), *labels = NULL;
	if (x) {
		env_ports_text(ports, sizeof(ports), x);
		json_decref(listen);
		listen = json_incref(json_object_get(json_object_get(doc, "spec"), "listen"));
		if (!json_is_array(listen)) {
			json_decref(listen);
			listen = json_array();
		}
		labels = x->labels;
	}
	if (o) {
		sw_format_time(created, sizeof(created), o->created_ms);
		sw_format_time(updated, sizeof(updated), o->updated_ms);
	}
	json_t *j = json_pack("{s:s, s:o, s:o, s:o, s:i, s:s?, s:o, s:s?, s:s?, s:o}", "name", name,
			      "labels", labels ? json_deep_copy(labels) : json_object(), "ports",
			      *ports ? json_string(ports) : json_null(), "listen", listen, "apps",
			      (int)used, "source", o ? o->source : NULL, "owner",
			      o && *o->owner ? json_string(o->owner) : json_null(), "created",
			      o ? created : NULL, "updated", o ? updated : NULL, "document",
			      doc ? json_incref(doc) : json_null());
	/* the windows as written, and what they say now */
	json_t *spec = json_object_get(doc, "spec"), *w = json_object_get(spec, "windows");
	json_t *r = json_object_get(spec, "recipients");
	int64_t until;
	char why[200], at[40] = "";
	bool open = engine_window_allows(v->e, name, sw_wall_ms(), &until, why, sizeof(why));
	if (until != SW_WINDOW_NEVER)
		sw_format_time(at, sizeof(at), until);
	json_object_set_new(j, "windows", json_is_array(w) ? json_incref(w) : json_array());
	json_object_set_new(j, "window", json_pack("{s:b, s:o, s:s}", "open", open, "until",
						   *at ? json_string(at) : json_null(), "reason", why));
	json_object_set_new(j, "recipients", json_is_array(r) ? json_incref(r) : json_array());
	json_object_set_new(j, "keys", json_integer((json_int_t)engine_age_ids(v->e, name)->n));
	json_decref(doc);
	return j;
}

/* GET /v1/environments?selector=SEL (GET /v1/environments/{name}: one):
 * "default" first, then by name; a scoped token sees its own only. */
static void environments_answer(const struct http_req *req, struct http_resp *resp, void *data,
				const char *only)
{
	struct api *v = data;
	struct sw_err err = {0};
	struct store_object *objs = NULL;
	struct sw_selector sel = {0};
	struct req_env re;
	size_t n = 0;
	if (request_env_read(v, req, resp, &re) < 0 || (!only && query_selector(req, resp, &sel) < 0))
		return;
	if (only && !engine_environment_exists(v->e, only)) {
		unknown_env(v, resp, only);
		goto out;
	}
	if (only && scope_check(req, resp, &re, only) < 0)
		goto out;
	if (engine_objects(v->e, env_kind.name, &objs, &n, &err) < 0) {
		http_resp_error(resp, err.code == SW_EBUSY ? 503 : 500, "%s", err.msg);
		goto out;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i <= n; i++) {
		const struct store_object *o = i ? &objs[i - 1] : NULL;
		const char *name = o ? o->name : SPEC_ENV_DEFAULT;
		if ((only && strcmp(only, name) != 0) || !engine_scope_allows(re.scope, name))
			continue;
		json_t *j = environment_json(v, name, o);
		if (only || engine_labels_match(json_object_get(j, "labels"), &sel))
			json_array_append(arr, j);
		json_decref(j);
	}
	if (only)
		http_resp_json(resp, 200, json_incref(json_array_get(arr, 0)));
	else
		http_resp_json(resp, 200, json_pack("{s:O}", "environments", arr));
	json_decref(arr);
out:
	store_object_list_free(objs, n);
	sw_selector_release(&sel);
}

static void h_environments(const struct http_req *req, struct http_resp *resp, void *data)
{
	environments_answer(req, resp, data, NULL);
}

static void h_environment(const struct http_req *req, struct http_resp *resp, void *data)
{
	const char *name = http_req_param(req, "name");
	environments_answer(req, resp, data, name ? name : "");
}

/* DELETE /v1/environments/{name}: refused while apps live in it; not for
 * a scoped token (an environment is the host's). */
static void h_environment_delete(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct api *v = data;
	struct sw_err err = {0};
	const char *name = http_req_param(req, "name");
	if (hostwide_check(v, req, resp, "an environment") < 0)
		return;
	if (engine_environment_delete(v->e, name, req->actor, &err) < 0)
		http_resp_error(resp, http_status_of(err.code), "%s", err.msg);
	else
		http_resp_json(resp, 200, json_pack("{s:s, s:s, s:s}", "kind", env_kind.name, "name",
						   name, "result", "deleted"));
}

/* Every endpoint with the least role it needs: viewers read (but not
 * tokens), deployers also change apps, admins also manage tokens and
 * upgrade. An endpoint added later names its role here, in its row. */
static const struct {
	const char *method, *pattern;
	enum http_role least;
	http_handler h;
} routes[] = {
	{"GET", "/v1/version", HTTP_ROLE_VIEWER, h_version},
	{"GET", "/v1/apps", HTTP_ROLE_VIEWER, h_apps},
	{"GET", "/v1/analysistemplates", HTTP_ROLE_VIEWER, h_templates},
	{"GET", "/v1/analysistemplates/{name}", HTTP_ROLE_VIEWER, h_template},
	{"DELETE", "/v1/analysistemplates/{name}", HTTP_ROLE_DEPLOYER, h_template_delete},
	{"GET", "/v1/environments", HTTP_ROLE_VIEWER, h_environments},
	{"GET", "/v1/environments/{name}", HTTP_ROLE_VIEWER, h_environment},
	{"DELETE", "/v1/environments/{name}", HTTP_ROLE_DEPLOYER, h_environment_delete},
	{"GET", "/v1/instances", HTTP_ROLE_VIEWER, h_instances},
	{"POST", "/v1/apply", HTTP_ROLE_DEPLOYER, h_apply},
	{"GET", "/v1/apps/{name}", HTTP_ROLE_VIEWER, h_app},
	{"DELETE", "/v1/apps/{name}", HTTP_ROLE_DEPLOYER, h_delete},
	{"GET", "/v1/apps/{name}/history", HTTP_ROLE_VIEWER, h_history},
	{"POST", "/v1/apps/{name}/rollback", HTTP_ROLE_DEPLOYER, h_rollback},
	{"GET", "/v1/apps/{name}/logs", HTTP_ROLE_VIEWER, h_logs},
	{"GET", "/v1/events", HTTP_ROLE_VIEWER, h_events},
	{"GET", "/v1/routes", HTTP_ROLE_VIEWER, h_routes},
	{"POST", "/v1/upgrade", HTTP_ROLE_ADMIN, h_upgrade},
	{"POST", "/v1/apps/{name}/rollout/{action}", HTTP_ROLE_DEPLOYER, h_rollout_action},
	{"POST", "/v1/apps/{name}/scale", HTTP_ROLE_DEPLOYER, h_scale},
	{"GET", "/v1/apps/{name}/analysis", HTTP_ROLE_VIEWER, h_analysis},
	{"GET", "/v1/apps/{name}/releases", HTTP_ROLE_VIEWER, h_releases},
	{"GET", "/v1/apps/{name}/promotion", HTTP_ROLE_VIEWER, h_promotion},
	{"POST", "/v1/apps/{name}/promote", HTTP_ROLE_DEPLOYER, h_promote},
	/* approving is its own permission (the token's --approve), checked there */
	{"POST", "/v1/apps/{name}/approve", HTTP_ROLE_VIEWER, h_approve},
	{"POST", "/v1/apps/{name}/reject", HTTP_ROLE_VIEWER, h_reject},
	{"GET", "/metrics", HTTP_ROLE_VIEWER, h_metrics},
	{"POST", "/v1/tokens", HTTP_ROLE_ADMIN, h_token_create},
	{"GET", "/v1/tokens", HTTP_ROLE_ADMIN, h_token_list},
	{"DELETE", "/v1/tokens/{name}", HTTP_ROLE_ADMIN, h_token_revoke},
};

int api_new(struct api **out, struct http_server *server, const struct api_config *cfg)
{
	struct api *v = xcalloc(1, sizeof(*v));
	v->cfg = *cfg;
	v->e = cfg->engine;
	v->store = engine_store(cfg->engine);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		http_route(server, routes[i].method, routes[i].pattern, routes[i].least, routes[i].h, v);
	http_route_max_body(server, "POST", "/v1/apply", API_MAX_BODY);
	*out = v;
	return 0;
}

void api_free(struct api *v)
{
	free(v);
}
