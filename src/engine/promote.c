/*
 * Promotion on the loop (src/env/promotion.h decides; this file observes
 * and acts). A promotion of release R of app NAME into environment E is
 * created when NAME's stable revision in E's promotion.from becomes
 * Healthy with R while E's NAME does not run R; the newest per target app
 * lives in e->promos (by the target's key), every one in the store's
 * promotions table, so that a restarted daemon carries on (a soak's clock
 * is wall time; an analysis run is resumed with its measurements).
 *
 * Its analysis runs with the runner a rollout uses, against the upstream
 * app: its stable revision, its route, under the upstream's key, with a
 * run id from the upstream's rollout counter (so `slipway analysis`
 * shows the measurements beside the rollout's, kind "promotion").
 *
 * The apply: a writer (gitops, for an app its Source owns with writeBack)
 * may take it and commit the release to git, reporting back with
 * engine_promotion_written; otherwise the target's desired document is
 * applied with its version set (engine_apply, actor "promotion/ENV").
 *
 * Work happens on a timer of its own, never inside a reconcile: an app's
 * reconcile marks it (engine_promos_changed) and the timer, due at once,
 * then checks the upstream apps marked and evaluates every promotion that
 * is not final; otherwise it is due when the first soak ends or approval
 * expires.
 */
#include "engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/runner.h"
#include "core/buf.h"
#include "core/paths.h"
#include "env/promotion.h"
#include "httpc/httpc.h"
#include "store/store.h"

struct engine_promo {
	int64_t id;                   /* its row in the store */
	char target[SPEC_KEY_MAX];    /* the app promoted into, "prod/hello" */
	char upstream[SPEC_KEY_MAX];  /* where the release comes from, "staging/hello" */
	char env[64];                 /* the target's environment */
	struct promo_state st;
	struct analysis_run *run;     /* the runner's, while st.run */
	bool writing;                 /* the writer took the apply: waiting for its report */
	bool reapply;                 /* Promoting when the daemon started: apply again, on the
					 timer (once the writer, gitops, is registered) */
};

#define PROMO_ACTOR_PREFIX "promotion/"

/* What the host of an upstream on another host (promotion.remote) said
 * of it, the last time this daemon asked (every ENGINE_REMOTE_POLL_MS). */
#define ENGINE_REMOTE_POLL_MS 3000

struct engine_remote {
	struct engine *e;
	char target[SPEC_KEY_MAX];    /* the app here, "prod/hello" */
	char upstream[SPEC_KEY_MAX];  /* the app there, "staging/hello" */
	char env[64];                 /* the target's environment */
	uint64_t call;                /* the request in flight; 0: none */
	bool answered;                /* an answer (or a failure) came */
	bool ok;                      /* it serves `release` Healthy */
	char release[PROMO_RELEASE_MAX];
	char actor[PROMO_ACTOR_MAX];  /* who made it its desired revision there */
	char why[300];                /* when not ok */
};


/* ---- finding things ---- */

static const struct env_promotion *policy_of(struct engine *e, const char *env)
{
	const struct env_spec *x = engine_env_find(e, env);
	return x && x->promotion.from ? &x->promotion : NULL;
}

static struct engine_promo *promo_of(struct engine *e, const char *target)
{
	return target ? sw_map_get(&e->promos, target) : NULL;
}

static struct engine_promo *promo_by_id(struct engine *e, int64_t id)
{
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->promos, &it, &k, &v))
		if (((struct engine_promo *)v)->id == id)
			return v;
	return NULL;
}

/* The version of a's revision rev ("" when it cannot be read). */
static const char *version_of(struct engine *e, struct engine_app *a, int64_t rev)
{
	struct sw_err err = {0};
	const struct spec_app *sa = a && rev ? engine_app_spec(e, a, rev, &err) : NULL;
	return sa && sa->version ? sa->version : "";
}

/* Whether a serves release r Healthy (its stable revision, settled);
 * why not into why. */
static bool serves_healthy(struct engine *e, struct engine_app *a, const char *key,
			   const char *r, char *why, size_t size)
{
	const char *reason;
	if (!a) {
		snprintf(why, size, "app %s does not exist", key);
		return false;
	}
	enum rollout_phase ph = engine_app_phase(a, &reason);
	const char *v = version_of(e, a, a->st.stable);
	if (r && strcmp(v, r) != 0) {
		snprintf(why, size, "%s runs release %s now", a->name, *v ? v : "none");
		return false;
	}
	if (ph != ROLLOUT_HEALTHY || a->st.desired != a->st.stable || !a->st.stable) {
		snprintf(why, size, "%s is %s", a->name, rollout_phase_name(ph));
		return false;
	}
	return true;
}

/* Whether target's upstream `upstream` on another host (at api) serves
 * release r (NULL: any) Healthy, as its host said last; why not into why. */
static bool remote_serves(struct engine *e, const char *target, const char *upstream,
			  const char *api, const char *r, char *why, size_t size)
{
	const struct engine_remote *x = sw_map_get(&e->remotes, target);
	if (!x || !x->answered) {
		snprintf(why, size, "waiting for the first answer of %s about %s", api, upstream);
		return false;
	}
	if (!x->ok) {
		snprintf(why, size, "%.230s", x->why);
		return false;
	}
	if (r && strcmp(x->release, r) != 0) {
		snprintf(why, size, "%.80s at %.80s runs release %.50s", upstream, api, x->release);
		return false;
	}
	return true;
}

/* ---- the store ---- */

static void save(struct engine *e, struct engine_promo *p)
{
	json_t *j = promo_state_to_json(&p->st);
	char *text = json_dumps(j, JSON_COMPACT);
	struct store_promotion row = {.id = p->id, .phase = (char *)promo_phase_name(p->st.phase),
				      .state = text};
	struct sw_err err = {0};
	if (store_promotion_put(e->cfg.store, &row, &err) < 0)
		sw_warn("%s: cannot save the promotion of %s: %s", p->target, p->st.release, err.msg);
	free(text);
	json_decref(j);
}

static void promo_free(struct engine_promo *p)
{
	if (p && p->run)
		analysis_run_stop(p->run);
	free(p);
}

/* ---- actions ---- */

static void run_start(struct engine *e, struct engine_promo *p, bool resumed)
{
	const struct env_promotion *pol = policy_of(e, p->env);
	/* an upstream on another host: the run is this host's, under the
	 * target's key (its templates ask prometheus or web providers) */
	bool remote = pol && pol->remote_api;
	struct engine_app *ua = engine_app_find(e, remote ? p->target : p->upstream);
	struct sw_err err = {0};
	if (!pol || !ua || !e->runner)
		return;
	const struct spec_app *spec = engine_app_spec(e, ua, ua->st.stable, &err);
	if (!resumed) {
		/* the upstream's counter: its measurements read apart from the rollout's */
		p->st.run = ++ua->st.next_run;
		if (engine_app_save(e, ua, &err) < 0)
			sw_warn("%s: cannot save its run counter: %s", ua->name, err.msg);
	}
	struct analysis_run_params rp = {
		.app = ua->name,
		.id = p->st.run,
		.kind = "promotion",
		.revision = ua->st.stable,
		.ref = &pol->analysis,
		.resumed = resumed,
		.since_ms = p->st.gates[PROMO_GATE_ANALYSIS].since_ms,
		.listen = spec && !remote ? spec->route.listen : NULL,
		.host = spec && !remote ? spec->route.host : NULL,
	};
	p->run = analysis_run_start(e->runner, &rp);
}

static void run_stop(struct engine_promo *p)
{
	if (p->run)
		analysis_run_stop(p->run);
	p->run = NULL;
}

static void execute(struct engine *e, struct engine_promo *p, const struct promo_actions *out);

/* Reports the apply and records what follows. */
static void applied(struct engine *e, struct engine_promo *p, bool ok, const char *detail)
{
	struct promo_actions out = {.n = 0};
	p->writing = false;
	promo_applied(&p->st, ok, detail, sw_wall_ms(), &out);
	execute(e, p, &out);
	save(e, p);
	engine_promos_kick(e); /* a newer release may wait for this one */
}

/* The target's desired document with version r, as one set to apply. */
static int promoted_doc(struct engine *e, struct engine_app *ta, const char *r,
			struct spec_set *set, struct sw_err *err)
{
	const struct spec_app *cur = engine_app_spec(e, ta, ta->st.desired, err);
	struct spec_app *sa = NULL;
	if (!cur)
		return -1;
	json_t *j = spec_app_to_json(cur);
	json_object_set_new(json_object_get(j, "spec"), "version", json_string(r));
	if (json_object_size(ta->labels))
		json_object_set_new(json_object_get(j, "metadata"), "labels", json_deep_copy(ta->labels));
	int rc = spec_app_from_json(&sa, j, err);
	json_decref(j);
	if (rc < 0)
		return -1;
	memset(set, 0, sizeof(*set));
	set->docs = xcalloc(1, sizeof(*set->docs));
	set->docs[0] = (struct spec_doc){.kind = &spec_kind_app, .obj = sa};
	set->ndocs = 1;
	set->apps = xcalloc(1, sizeof(*set->apps));
	set->apps[0] = sa;
	set->napps = 1;
	return 0;
}

static void apply(struct engine *e, struct engine_promo *p)
{
	struct engine_app *ta = engine_app_find(e, p->target);
	struct sw_err err = {0};
	char actor[80], source[SPEC_KEY_MAX + 16], detail[200];
	snprintf(actor, sizeof(actor), PROMO_ACTOR_PREFIX "%s", p->env);
	if (!ta || !ta->st.desired) {
		snprintf(detail, sizeof(detail), "app %s does not exist any more", p->target);
		applied(e, p, false, detail);
		return;
	}
	if (e->promo_writer && ta->owner) {
		char env[64];
		const char *name;
		struct buf message = BUF_INIT;
		spec_key_split(ta->name, env, &name);
		buf_addf(&message, "promote %s %s to %s\n\nRelease %s was Healthy in %s and passed the "
			 "gates of environment %s (promotion %lld).\n", name, p->st.release, env,
			 p->st.release, p->upstream, env, (long long)p->id);
		struct engine_promotion_write w = {.id = p->id, .app = ta->name, .owner = ta->owner,
						   .release = p->st.release, .actor = actor,
						   .message = message.s};
		int r = e->promo_writer(&w, e->promo_writer_data, &err);
		buf_release(&message);
		if (r > 0) {
			p->writing = true;
			return;
		}
		if (r < 0) {
			applied(e, p, false, err.msg);
			return;
		}
	}
	struct spec_set set;
	struct engine_results res = {0};
	if (promoted_doc(e, ta, p->st.release, &set, &err) < 0) {
		applied(e, p, false, err.msg);
		return;
	}
	snprintf(source, sizeof(source), "promotion from %s", p->upstream);
	struct engine_doc doc = {.set = &set, .source = source};
	int r = engine_apply(e, &doc, 1, actor, &res, &err);
	if (r == 0 && res.n)
		snprintf(detail, sizeof(detail), "%s revision %lld of %s", res.r[0].result,
			 (long long)res.r[0].revision, ta->name);
	engine_results_release(&res);
	spec_set_release(&set);
	applied(e, p, r == 0, r == 0 ? detail : err.msg);
}

static void execute(struct engine *e, struct engine_promo *p, const struct promo_actions *out)
{
	for (size_t i = 0; i < out->n; i++) {
		const struct promo_action *a = &out->a[i];
		switch (a->kind) {
		case PROMO_EVENT:
			engine_event(e, p->target, a->event, NULL, "%s", a->message);
			break;
		case PROMO_RUN_START:
			run_start(e, p, false);
			break;
		case PROMO_RUN_STOP:
			run_stop(p);
			break;
		case PROMO_APPLY:
			apply(e, p);
			break;
		}
	}
}

/* ---- evaluation ---- */

static void evaluate(struct engine *e, struct engine_promo *p)
{
	const struct env_promotion *pol = policy_of(e, p->env);
	char why[240], window[240];
	int64_t now = sw_wall_ms(), ignored;
	if (!pol || promo_final(p->st.phase) || p->writing)
		return;
	struct promo_levels lv = {
		.upstream_why = why,
		.run_phase = p->run ? (enum promo_run_phase)analysis_run_phase(p->run) : PROMO_RUN_RUNNING,
		.run_reason = p->run ? analysis_run_reason(p->run) : NULL,
		.window_why = window,
	};
	lv.upstream_ok = pol->remote_api
		? remote_serves(e, p->target, p->upstream, pol->remote_api, p->st.release, why,
				sizeof(why))
		: serves_healthy(e, engine_app_find(e, p->upstream), p->upstream, p->st.release, why,
				 sizeof(why));
	lv.window_open = engine_env_window_open(e, p->env, now, window, sizeof(window), &ignored);
	struct promo_actions out = {.n = 0};
	bool changed = promo_reconcile(&p->st, pol, &lv, now, &out);
	/* saved before acting: an apply that the daemon does not live to see
	 * finished is made again after a restart (Promoting); and after it,
	 * for a run's id */
	if (changed)
		save(e, p);
	execute(e, p, &out);
	if (out.n)
		save(e, p);
}

/* The actors that caused release r of upstream app a: the causes of the
 * promotion that brought r into a's environment, else whoever made a's
 * desired revision the desired one. */
static void causes_of(struct engine *e, struct engine_app *a, const char *r, struct promo_state *st)
{
	struct engine_promo *up = promo_of(e, a->name);
	if (up && up->st.phase == PROMO_PROMOTED && strcmp(up->st.release, r) == 0) {
		for (size_t i = 0; i < up->st.ncauses; i++)
			promo_add_cause(st, up->st.causes[i]);
		return;
	}
	if (a->actor && strncmp(a->actor, PROMO_ACTOR_PREFIX, strlen(PROMO_ACTOR_PREFIX)) != 0)
		promo_add_cause(st, a->actor);
}

static void gates_text(char *out, size_t size, const struct env_promotion *pol)
{
	struct buf b = BUF_INIT;
	char d[32];
	if (pol->soak_ms) {
		sw_duration_format(d, sizeof(d), pol->soak_ms);
		buf_addf(&b, "soak %s", d);
	}
	if (pol->analysis.ntemplates) {
		buf_addf(&b, "%sanalysis", b.len ? ", " : "");
		for (size_t i = 0; i < pol->analysis.ntemplates; i++)
			buf_addf(&b, " %s", pol->analysis.templates[i]);
	}
	if (pol->approvals)
		buf_addf(&b, "%s%u approval%s", b.len ? ", " : "", (unsigned)pol->approvals,
			 pol->approvals == 1 ? "" : "s");
	if (!pol->automatic)
		buf_addf(&b, "%s`slipway promote`", b.len ? ", " : "");
	snprintf(out, size, "%s", b.len ? b.s : "none");
	buf_release(&b);
}

/* A new promotion of release r of upstream app `upstream` into target ta
 * (env): its causes are the local upstream app ua's (causes_of), or
 * `actor` for an upstream on another host (ua NULL). */
static struct engine_promo *create(struct engine *e, const char *env, const char *upstream,
				   struct engine_app *ua, const char *actor, struct engine_app *ta,
				   const char *r, struct sw_err *err)
{
	const struct env_promotion *pol = policy_of(e, env);
	struct engine_promo *p = xcalloc(1, sizeof(*p));
	char gates[200];
	snprintf(p->target, sizeof(p->target), "%s", ta->name);
	snprintf(p->upstream, sizeof(p->upstream), "%s", upstream);
	snprintf(p->env, sizeof(p->env), "%s", env);
	promo_init(&p->st, r, NULL, sw_wall_ms());
	if (ua)
		causes_of(e, ua, r, &p->st);
	else if (actor && *actor && strncmp(actor, PROMO_ACTOR_PREFIX, strlen(PROMO_ACTOR_PREFIX)) != 0)
		promo_add_cause(&p->st, actor);
	json_t *j = promo_state_to_json(&p->st);
	char *text = json_dumps(j, JSON_COMPACT);
	struct store_promotion row = {.target = p->target, .upstream = p->upstream,
				      .release = (char *)r, .phase = "Pending", .state = text};
	int rc = store_promotion_add(e->cfg.store, &row, &p->id, err);
	free(text);
	json_decref(j);
	if (rc < 0) {
		free(p);
		return NULL;
	}
	struct engine_promo *old = promo_of(e, p->target);
	if (old) {
		sw_map_del(&e->promos, old->target);
		promo_free(old);
	}
	sw_map_put(&e->promos, p->target, p);
	gates_text(gates, sizeof(gates), pol);
	engine_event(e, p->target, "PromotionCreated", NULL, "release %s is Healthy in %s%s%s: "
		     "promoting it into %s (gates: %s)", r, upstream, pol && pol->remote_api ? " at " : "",
		     pol && pol->remote_api ? pol->remote_api : "", env, gates);
	return p;
}

/* Ends the target's promotion that is not final for release r: false
 * while it cannot be (its apply is under way). */
static bool supersede(struct engine *e, struct engine_promo *cur, const char *r)
{
	struct promo_actions out = {.n = 0};
	if (!cur || promo_final(cur->st.phase))
		return true;
	if (promo_supersede(&cur->st, r, sw_wall_ms(), &out) < 0)
		return false;
	save(e, cur);
	execute(e, cur, &out);
	return true;
}

/* After upstream app `key` changed: each environment that takes releases
 * from its environment gets a promotion of its release when it is
 * Healthy and the environment's app of the same name does not run it. */
static void check_upstream(struct engine *e, const char *key)
{
	struct engine_app *ua = engine_app_find(e, key);
	char uenv[64], why[200], target[SPEC_KEY_MAX];
	const char *name;
	size_t it = 0;
	const char *k;
	void *v;
	if (!ua || !serves_healthy(e, ua, key, NULL, why, sizeof(why)))
		return;
	spec_key_split(key, uenv, &name);
	const char *r = version_of(e, ua, ua->st.stable);
	if (!*r || strlen(r) >= PROMO_RELEASE_MAX)
		return;
	while (sw_map_next(&e->envs, &it, &k, &v)) {
		const struct env_spec *x = v;
		struct sw_err err = {0};
		if (!x->promotion.from || x->promotion.remote_api || strcmp(x->promotion.from, uenv) != 0)
			continue;
		struct engine_app *ta = engine_app_find(e, spec_key(target, x->name, name));
		struct engine_promo *cur = promo_of(e, target);
		if (!ta || !ta->st.desired || (cur && strcmp(cur->st.release, r) == 0))
			continue;
		/* another release is what the upstream serves now: one still on
		 * its way ends, even when the target got r some other way */
		if (!supersede(e, cur, r) || strcmp(version_of(e, ta, ta->st.desired), r) == 0)
			continue;
		if (!create(e, x->name, ua->name, ua, NULL, ta, r, &err))
			sw_warn("%s: cannot record the promotion of %s: %s", target, r, err.msg);
	}
}

/* ---- upstreams on other hosts ---- */

/* A promotion of what the other host serves, as check_upstream makes one
 * of a local upstream. */
static void remote_check(struct engine *e, struct engine_remote *x)
{
	struct engine_app *ta = engine_app_find(e, x->target);
	struct engine_promo *cur = promo_of(e, x->target);
	struct sw_err err = {0};
	if (!x->ok || !ta || !ta->st.desired || (cur && strcmp(cur->st.release, x->release) == 0))
		return;
	if (!supersede(e, cur, x->release) ||
	    strcmp(version_of(e, ta, ta->st.desired), x->release) == 0)
		return;
	if (!create(e, x->env, x->upstream, NULL, x->actor, ta, x->release, &err))
		sw_warn("%s: cannot record the promotion of %s: %s", x->target, x->release, err.msg);
}

/* The other host's answer to GET /v1/apps/NAME?environment=FROM. */
static void on_remote_answer(int status, const char *body, size_t len, const char *error,
			     void *data)
{
	struct engine_remote *x = data;
	struct engine *e = x->e;
	const struct env_promotion *pol = policy_of(e, x->env);
	const char *api = pol && pol->remote_api ? pol->remote_api : "the upstream's host";
	bool was_ok = x->ok;
	char was[PROMO_RELEASE_MAX];
	snprintf(was, sizeof(was), "%s", x->release);
	x->call = 0;
	x->answered = true;
	x->ok = false;
	json_t *j = !error && status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *msg = !error && status != 200 ? json_loadb(body, len, 0, NULL) : NULL;
	const char *phase = json_string_value(json_object_get(j, "phase"));
	const char *version = json_string_value(json_object_get(j, "version"));
	const char *actor = json_string_value(json_object_get(j, "actor"));
	json_int_t rev = json_integer_value(json_object_get(j, "revision"));
	json_int_t stable = json_integer_value(json_object_get(j, "stableRevision"));
	if (error)
		snprintf(x->why, sizeof(x->why), "%s does not answer: %s", api, error);
	else if (status == 404)
		snprintf(x->why, sizeof(x->why), "%s does not exist at %s", x->upstream, api);
	else if (status != 200)
		snprintf(x->why, sizeof(x->why), "%s answers %d: %.160s", api, status,
			 json_string_value(json_object_get(msg, "error"))
				 ? json_string_value(json_object_get(msg, "error")) : "");
	else if (!phase || !version)
		snprintf(x->why, sizeof(x->why), "%s answers something else than an app", api);
	else if (strcmp(phase, "Healthy") != 0 || rev != stable || !rev)
		snprintf(x->why, sizeof(x->why), "%s at %s is %s", x->upstream, api, phase);
	else if (!*version || strlen(version) >= PROMO_RELEASE_MAX)
		snprintf(x->why, sizeof(x->why), "%s at %s has no release to promote (spec.version)",
			 x->upstream, api);
	else {
		x->ok = true;
		snprintf(x->release, sizeof(x->release), "%s", version);
		snprintf(x->actor, sizeof(x->actor), "%s", actor ? actor : "");
	}
	json_decref(j);
	json_decref(msg);
	if (x->ok != was_ok || strcmp(was, x->release) != 0 || promo_of(e, x->target)) {
		remote_check(e, x);
		engine_promos_kick(e);
	}
}

/* Asks the upstream's host about target app a (environment env, policy pol). */
static void remote_ask(struct engine *e, struct engine_app *a, const char *env,
		       const struct env_promotion *pol)
{
	struct engine_remote *x = sw_map_get(&e->remotes, a->name);
	struct buf auth = BUF_INIT;
	const char *name;
	char ignored[64];
	struct sw_err err = {0};
	if (!x) {
		x = xcalloc(1, sizeof(*x));
		x->e = e;
		snprintf(x->target, sizeof(x->target), "%s", a->name);
		sw_map_put(&e->remotes, x->target, x);
	}
	spec_key_split(a->name, ignored, &name);
	snprintf(x->env, sizeof(x->env), "%s", env);
	spec_key(x->upstream, pol->from, name);
	if (x->call)
		return; /* the last question is not answered yet */
	buf_adds(&auth, "Authorization: Bearer ");
	if (sw_read_token_file(&auth, pol->remote_token_file, &err) < 0) {
		buf_release(&auth);
		x->answered = true;
		x->ok = false;
		snprintf(x->why, sizeof(x->why), "%.290s", err.msg);
		return;
	}
	struct buf url = BUF_INIT;
	size_t n = strlen(pol->remote_api);
	while (n && pol->remote_api[n - 1] == '/')
		n--;
	buf_add(&url, pol->remote_api, n);
	buf_adds(&url, "/v1/apps/");
	httpc_urlencode(&url, name);
	buf_adds(&url, "?environment=");
	httpc_urlencode(&url, pol->from);
	const char *headers[] = {auth.s, NULL};
	struct httpc_request req = {.url = url.s, .headers = headers, .timeout_ms = 2000,
				    .max_response = 4u << 20};
	x->call = httpc_request(e->httpc, &req, on_remote_answer, x, &err);
	explicit_bzero(auth.s, auth.len);
	buf_release(&auth);
	if (!x->call) {
		x->answered = true;
		x->ok = false;
		snprintf(x->why, sizeof(x->why), "cannot ask %.120s: %.160s", pol->remote_api, err.msg);
	}
	buf_release(&url);
}

static void remote_forget(struct engine *e, struct engine_remote *x)
{
	if (x->call && e->httpc)
		httpc_cancel(e->httpc, x->call);
	sw_map_del(&e->remotes, x->target);
	free(x);
}

/* Every target app of an environment whose upstream is on another host
 * asks that host, now and every ENGINE_REMOTE_POLL_MS; targets that are
 * gone are forgotten. */
static void on_remote_timer(uv_timer_t *t)
{
	struct engine *e = t->data;
	size_t it = 0;
	const char *k;
	void *v;
	bool any = false;
	if (e->stopping || !e->httpc)
		return;
	while (sw_map_next(&e->apps, &it, &k, &v)) {
		struct engine_app *a = v;
		char env[64];
		const char *name;
		spec_key_split(a->name, env, &name);
		const struct env_promotion *pol = policy_of(e, env);
		if (!pol || !pol->remote_api || !a->st.desired)
			continue;
		any = true;
		remote_ask(e, a, env, pol);
	}
	struct engine_remote **gone = xmalloc((sw_map_count(&e->remotes) + 1) * sizeof(*gone));
	size_t ngone = 0;
	it = 0;
	while (sw_map_next(&e->remotes, &it, &k, &v)) {
		struct engine_remote *x = v;
		const struct env_promotion *pol = policy_of(e, x->env);
		struct engine_app *a = engine_app_find(e, x->target);
		if (!pol || !pol->remote_api || !a || !a->st.desired)
			gone[ngone++] = x;
	}
	for (size_t i = 0; i < ngone; i++)
		remote_forget(e, gone[i]);
	free(gone);
	/* while an environment has a remote upstream: its apps may come later */
	it = 0;
	while (!any && sw_map_next(&e->envs, &it, &k, &v))
		any = ((const struct env_spec *)v)->promotion.remote_api != NULL;
	if (any)
		uv_timer_start(&e->remote_timer, on_remote_timer, ENGINE_REMOTE_POLL_MS, 0);
}

/* Starts asking when an environment with a remote upstream exists and
 * nobody asks yet (after a start, an Environment's or an app's change). */
static void remote_wake(struct engine *e)
{
	size_t it = 0;
	const char *k;
	void *v;
	if (e->stopping || !e->httpc || !e->promo_started || uv_is_active((uv_handle_t *)&e->remote_timer))
		return;
	while (sw_map_next(&e->envs, &it, &k, &v))
		if (((const struct env_spec *)v)->promotion.remote_api) {
			uv_timer_start(&e->remote_timer, on_remote_timer, 0, 0);
			return;
		}
}

/* ---- the timer ---- */

static void on_promo_timer(uv_timer_t *t)
{
	struct engine *e = t->data;
	int64_t now = sw_wall_ms(), next = 0;
	char **keys = e->promo_keys;
	size_t nkeys = e->npromo_keys;
	if (e->stopping)
		return;
	remote_wake(e);
	e->promo_keys = NULL;
	e->npromo_keys = 0;
	for (size_t i = 0; i < nkeys; i++) {
		check_upstream(e, keys[i]);
		free(keys[i]);
	}
	free(keys);
	/* evaluation may replace promotions (a newer release): a copy */
	struct engine_promo **all = xmalloc((sw_map_count(&e->promos) + 1) * sizeof(*all));
	size_t n = 0, it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->promos, &it, &k, &v))
		all[n++] = v;
	for (size_t i = 0; i < n; i++) {
		if (all[i]->reapply && all[i]->st.phase == PROMO_PROMOTING && !all[i]->writing) {
			all[i]->reapply = false;
			apply(e, all[i]);
		}
		evaluate(e, all[i]);
	}
	free(all);
	it = 0;
	while (sw_map_next(&e->promos, &it, &k, &v)) {
		struct engine_promo *p = v;
		const struct env_promotion *pol = policy_of(e, p->env);
		int64_t at = pol ? promo_next_ms(&p->st, pol) : 0, window = 0;
		char why[8];
		if (pol && !promo_final(p->st.phase))
			engine_env_window_open(e, p->env, now, why, sizeof(why), &window);
		for (int w = 0; w < 2; w++) {
			int64_t x = w ? window : at;
			if (x && (!next || x < next))
				next = x;
		}
	}
	if (next)
		uv_timer_start(&e->promo_timer, on_promo_timer, next > now ? (uint64_t)(next - now) : 0, 0);
}

void engine_promos_kick(struct engine *e)
{
	if (e->promo_started && !e->stopping)
		uv_timer_start(&e->promo_timer, on_promo_timer, 0, 0);
}

void engine_promos_changed(struct engine *e, struct engine_app *a)
{
	char env[64];
	const char *name;
	bool upstream = false, involved = false;
	size_t it = 0;
	const char *k;
	void *v;
	spec_key_split(a->name, env, &name);
	while (!upstream && sw_map_next(&e->envs, &it, &k, &v)) {
		const struct env_spec *x = v;
		upstream = x->promotion.from && !x->promotion.remote_api &&
			   strcmp(x->promotion.from, env) == 0;
	}
	it = 0;
	while (!upstream && !involved && sw_map_next(&e->promos, &it, &k, &v)) {
		const struct engine_promo *p = v;
		involved = !promo_final(p->st.phase) &&
			   (strcmp(p->upstream, a->name) == 0 || strcmp(p->target, a->name) == 0);
	}
	if (upstream) {
		bool have = false;
		for (size_t i = 0; i < e->npromo_keys && !have; i++)
			have = strcmp(e->promo_keys[i], a->name) == 0;
		if (!have) {
			e->promo_keys = xrealloc(e->promo_keys, (e->npromo_keys + 1) * sizeof(*e->promo_keys));
			e->promo_keys[e->npromo_keys++] = xstrdup(a->name);
		}
	}
	if (upstream || involved)
		engine_promos_kick(e);
}

void engine_promos_run_phase(struct engine *e, const char *app, int64_t run_id)
{
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->promos, &it, &k, &v)) {
		const struct engine_promo *p = v;
		if (p->st.run == run_id && (strcmp(p->upstream, app) == 0 || strcmp(p->target, app) == 0))
			engine_promos_kick(e);
	}
}

/* ---- lifecycle ---- */

void engine_promos_init(struct engine *e)
{
	sw_map_init(&e->promos);
	sw_map_init(&e->remotes);
	uv_timer_init(e->cfg.loop, &e->promo_timer);
	e->promo_timer.data = e;
	uv_timer_init(e->cfg.loop, &e->remote_timer);
	e->remote_timer.data = e;
}

int engine_promos_load(struct engine *e, struct sw_err *err)
{
	struct store_promotion *rows = NULL;
	size_t n = 0;
	if (store_promotion_latest(e->cfg.store, &rows, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct engine_promo *p = xcalloc(1, sizeof(*p));
		char name_env[64];
		const char *name;
		json_t *j = json_loads(rows[i].state, 0, NULL);
		p->id = rows[i].id;
		snprintf(p->target, sizeof(p->target), "%s", rows[i].target);
		snprintf(p->upstream, sizeof(p->upstream), "%s", rows[i].upstream);
		spec_key_split(p->target, name_env, &name);
		snprintf(p->env, sizeof(p->env), "%s", name_env);
		promo_state_from_json(&p->st, j);
		json_decref(j);
		sw_map_put(&e->promos, p->target, p);
	}
	store_promotion_list_free(rows, n);
	return 0;
}

/* After engine_start loaded the apps: runs come back, an apply the last
 * daemon was making is made again (an apply that did happen is
 * "unchanged"; a commit already pushed finds nothing to change). */
void engine_promos_start(struct engine *e)
{
	size_t it = 0;
	const char *k;
	void *v;
	e->promo_started = true;
	while (sw_map_next(&e->promos, &it, &k, &v)) {
		struct engine_promo *p = v;
		if (promo_final(p->st.phase))
			continue;
		if (p->st.run && p->st.gates[PROMO_GATE_ANALYSIS].state == PROMO_GATE_WAITING)
			run_start(e, p, true);
		p->reapply = p->st.phase == PROMO_PROMOTING;
	}
	it = 0;
	while (sw_map_next(&e->apps, &it, &k, &v))
		engine_promos_changed(e, v);
	engine_promos_kick(e);
}

void engine_promos_stop(struct engine *e)
{
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->promos, &it, &k, &v))
		run_stop(v);
	uv_timer_stop(&e->promo_timer);
	uv_timer_stop(&e->remote_timer);
	it = 0;
	while (sw_map_next(&e->remotes, &it, &k, &v)) {
		struct engine_remote *x = v;
		if (x->call && e->httpc)
			httpc_cancel(e->httpc, x->call);
		x->call = 0;
	}
}

void engine_promos_release(struct engine *e)
{
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->promos, &it, &k, &v))
		promo_free(v);
	sw_map_release(&e->promos);
	it = 0;
	while (sw_map_next(&e->remotes, &it, &k, &v))
		free(v);
	sw_map_release(&e->remotes);
	for (size_t i = 0; i < e->npromo_keys; i++)
		free(e->promo_keys[i]);
	free(e->promo_keys);
	e->promo_keys = NULL;
	e->npromo_keys = 0;
}

/* ---- the writer (gitops) ---- */

void engine_promotion_writer(struct engine *e, engine_promotion_writer_fn fn, void *data)
{
	e->promo_writer = fn;
	e->promo_writer_data = data;
}

void engine_promotion_written(struct engine *e, int64_t id, bool ok, const char *detail)
{
	struct engine_promo *p = promo_by_id(e, id);
	if (p && p->writing)
		applied(e, p, ok, detail);
}

/* ---- use cases ---- */

/* The policy of env and the target's promotion; SW_* with err. */
static int target_of(struct engine *e, const char *env, const char *name,
		     const struct env_promotion **pol, struct engine_app **ta, struct sw_err *err)
{
	char key[SPEC_KEY_MAX], known[400];
	if (!engine_environment_exists(e, env)) {
		engine_environments_known(e, known, sizeof(known));
		return sw_errf(err, SW_ENOTFOUND, "environment \"%s\" does not exist (known: %s)", env,
			       known);
	}
	*pol = policy_of(e, env);
	if (!*pol)
		return sw_errf(err, SW_ECONFLICT, "environment \"%s\" takes no promotions: its "
			       "spec.promotion.from is not set", env);
	*ta = engine_app_find(e, spec_key(key, env, name));
	if (!*ta)
		return sw_errf(err, SW_ENOTFOUND, "app \"%s\" not found in environment %s", name, env);
	return 0;
}

/* What "not pending" means for a release, in words. */
static int not_pending(struct engine_promo *p, const char *env, const char *name,
		       const char *release, struct sw_err *err)
{
	if (!p)
		return sw_errf(err, SW_ECONFLICT, "no release of %s is waiting for promotion into %s",
			       name, env);
	if (release && strcmp(release, p->st.release) != 0)
		return sw_errf(err, SW_ECONFLICT, "release %s of %s is not pending in %s: %s is (%s: %s)",
			       release, name, env, p->st.release, promo_phase_name(p->st.phase),
			       p->st.reason);
	return sw_errf(err, SW_ECONFLICT, "release %s of %s is not pending in %s: its promotion is %s "
		       "(%s)", p->st.release, name, env, promo_phase_name(p->st.phase), p->st.reason);
}

int engine_promotion_decide(struct engine *e, const char *env, const char *name,
			    const char *release, bool approve, const char *comment, const char *actor,
			    struct sw_err *err)
{
	const struct env_promotion *pol;
	struct engine_app *ta;
	char msg[400];
	int r = target_of(e, env, name, &pol, &ta, err);
	if (r < 0)
		return r;
	struct engine_promo *p = promo_of(e, ta->name);
	if (!p || promo_final(p->st.phase) || p->st.phase == PROMO_PROMOTING ||
	    (release && *release && strcmp(release, p->st.release) != 0))
		return not_pending(p, env, name, release && *release ? release : NULL, err);
	struct promo_state before = p->st;
	struct promo_actions out = {.n = 0};
	int64_t now = sw_wall_ms();
	r = approve ? promo_approve(&p->st, pol, actor, comment, now, msg, sizeof(msg))
		    : promo_reject(&p->st, actor, comment, now, &out, msg, sizeof(msg));
	if (r < 0)
		return sw_errf(err, SW_ECONFLICT, "%s", msg);
	engine_store_wait(e, true);
	json_t *j = promo_state_to_json(&p->st);
	char *text = json_dumps(j, JSON_COMPACT);
	struct store_promotion row = {.id = p->id, .phase = (char *)promo_phase_name(p->st.phase),
				      .state = text};
	r = store_promotion_put(e->cfg.store, &row, err);
	engine_store_wait(e, false);
	free(text);
	json_decref(j);
	if (r < 0) {
		p->st = before;
		return err->code == SW_EBUSY ? SW_EBUSY : -1;
	}
	char c[PROMO_COMMENT_MAX + 8] = "";
	if (comment && *comment)
		snprintf(c, sizeof(c), ": %s", comment);
	if (approve)
		engine_event(e, ta->name, "Approved", actor, "release %s approved by %s (%zu of %u)%s",
			     p->st.release, actor, promo_approvals(&p->st), (unsigned)pol->approvals, c);
	else
		engine_event(e, ta->name, "Rejected", actor, "release %s rejected by %s%s; it is not "
			     "promoted into %s", p->st.release, actor, c, env);
	execute(e, p, &out);
	evaluate(e, p);
	engine_promos_kick(e); /* its expiry is a deadline the timer did not know */
	return 0;
}

int engine_promote(struct engine *e, const char *env, const char *name, const char *release,
		   const char *actor, struct sw_err *err)
{
	const struct env_promotion *pol;
	struct engine_app *ta;
	char ukey[SPEC_KEY_MAX], why[240], msg[400];
	int r = target_of(e, env, name, &pol, &ta, err);
	if (r < 0)
		return r;
	struct engine_app *ua = pol->remote_api ? NULL : engine_app_find(e, spec_key(ukey, pol->from, name));
	const struct engine_remote *x = pol->remote_api ? sw_map_get(&e->remotes, ta->name) : NULL;
	if (pol->remote_api) {
		spec_key(ukey, pol->from, name);
		if (!remote_serves(e, ta->name, ukey, pol->remote_api, NULL, why, sizeof(why)))
			return sw_errf(err, SW_ECONFLICT, "nothing to promote from %s at %s yet: %s",
				       pol->from, pol->remote_api, why);
	} else if (!ua)
		return sw_errf(err, SW_ENOTFOUND, "app \"%s\" is not in %s, where %s takes its releases "
			       "from", name, pol->from, env);
	const char *r_up = x ? x->release : version_of(e, ua, ua->st.stable);
	if (release && *release && strcmp(release, r_up) != 0)
		return sw_errf(err, SW_ECONFLICT, "release %s is not what %s runs: it runs %s (a "
			       "promotion takes the upstream's release)", release, ukey,
			       *r_up ? r_up : "none");
	if (ua && !serves_healthy(e, ua, ukey, NULL, why, sizeof(why)))
		return sw_errf(err, SW_ECONFLICT, "release %s is not Healthy in %s: %s; nothing to "
			       "promote yet", *r_up ? r_up : "none", pol->from, why);
	if (strlen(r_up) >= PROMO_RELEASE_MAX)
		return sw_errf(err, SW_EINVAL, "release \"%.40s...\" is longer than %d characters",
			       r_up, PROMO_RELEASE_MAX - 1);
	struct engine_promo *p = promo_of(e, ta->name);
	if (p && strcmp(p->st.release, r_up) == 0 && p->st.phase == PROMO_PROMOTING)
		return sw_errf(err, SW_ECONFLICT, "release %s is being promoted into %s already",
			       r_up, env);
	if (!p || strcmp(p->st.release, r_up) != 0 || promo_final(p->st.phase)) {
		/* a new release, or one whose promotion ended (Failed, Rejected):
		 * it starts over, every gate again */
		if (strcmp(version_of(e, ta, ta->st.desired), r_up) == 0)
			return sw_errf(err, SW_ECONFLICT, "%s runs release %s already", ta->name, r_up);
		if (!supersede(e, p, r_up))
			return sw_errf(err, SW_ECONFLICT, "release %s is being promoted into %s now; try "
				       "again once it is done", p->st.release, env);
		engine_store_wait(e, true);
		p = create(e, env, ukey, ua, x ? x->actor : NULL, ta, r_up, err);
		engine_store_wait(e, false);
		if (!p)
			return err->code == SW_EBUSY ? SW_EBUSY : -1;
	}
	if (promo_request(&p->st, actor, msg, sizeof(msg)) < 0)
		return sw_errf(err, SW_ECONFLICT, "%s", msg);
	save(e, p);
	engine_event(e, ta->name, "PromotionRequested", actor, "%s asked for the promotion of release "
		     "%s from %s into %s", actor, r_up, pol->from, env);
	evaluate(e, p);
	engine_promos_kick(e);
	return 0;
}

/* ---- reads ---- */

static json_t *time_or_null(int64_t ms)
{
	char t[40];
	if (!ms)
		return json_null();
	sw_format_time(t, sizeof(t), ms);
	return json_string(t);
}

/* The API's form: the stored state with times people read, what each
 * approval's expiry is, and who may not approve. */
static json_t *promo_json(struct engine *e, const struct engine_promo *p)
{
	const struct env_promotion *pol = policy_of(e, p->env);
	char env[64];
	const char *name;
	size_t i;
	json_t *x;
	spec_key_split(p->target, env, &name);
	json_t *j = promo_state_to_json(&p->st);
	json_t *gates = json_object_get(j, "gates");
	json_array_foreach(gates, i, x) {
		json_object_set_new(x, "since", time_or_null(json_integer_value(json_object_get(x, "sinceMs"))));
		json_object_set_new(x, "done", time_or_null(json_integer_value(json_object_get(x, "doneMs"))));
	}
	json_array_foreach(json_object_get(j, "decisions"), i, x) {
		int64_t t = json_integer_value(json_object_get(x, "timeMs"));
		json_object_set_new(x, "time", time_or_null(t));
		if (pol && strcmp(json_string_value(json_object_get(x, "decision")), "approve") == 0)
			json_object_set_new(x, "expires",
					    time_or_null(t + (int64_t)pol->approval_timeout_ms));
	}
	json_object_set_new(j, "id", json_integer(p->id));
	json_object_set_new(j, "app", json_string(name));
	json_object_set_new(j, "environment", json_string(env));
	json_object_set_new(j, "upstream", json_string(p->upstream));
	json_object_set_new(j, "created", time_or_null(p->st.created_ms));
	json_object_set_new(j, "approvalsNeeded", json_integer(pol ? pol->approvals : 0));
	json_object_set_new(j, "approvalsGiven", json_integer((json_int_t)promo_approvals(&p->st)));
	json_object_set_new(j, "automatic", json_boolean(pol && pol->automatic));
	return j;
}

json_t *engine_promotion_json(struct engine *e, const char *env, const char *name)
{
	char key[SPEC_KEY_MAX];
	const struct engine_promo *p = promo_of(e, spec_key(key, env, name));
	return p ? promo_json(e, p) : NULL;
}

/* How far env is down its promotion chain (0: it takes no releases). */
static int chain_depth(struct engine *e, const char *env)
{
	int d = 0;
	for (const struct env_promotion *pol = policy_of(e, env); pol && d < 64;
	     pol = policy_of(e, pol->from))
		d++;
	return d;
}

struct release_row {
	int depth;
	const char *env;
	json_t *j;
};

static int cmp_rows(const void *pa, const void *pb)
{
	const struct release_row *a = pa, *b = pb;
	return a->depth != b->depth ? a->depth - b->depth : strcmp(a->env, b->env);
}

json_t *engine_releases(struct engine *e, const char *name, const char *scope)
{
	const char **envs;
	size_t n = engine_environment_names(e, &envs), nrows = 0;
	struct release_row *rows = xcalloc(n + 1, sizeof(*rows));
	char key[SPEC_KEY_MAX];
	for (size_t i = 0; i < n; i++) {
		struct engine_app *a = engine_app_find(e, spec_key(key, envs[i], name));
		const struct env_promotion *pol = policy_of(e, envs[i]);
		const struct engine_promo *p = promo_of(e, key);
		const char *reason;
		if (!engine_scope_allows(scope, envs[i]) || (!a && !p))
			continue;
		enum rollout_phase ph = a ? engine_app_phase(a, &reason) : ROLLOUT_PROGRESSING;
		json_t *j = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "environment", envs[i], "release",
				      a && a->st.stable ? json_string(version_of(e, a, a->st.stable))
							: json_null(),
				      "desired", a && a->st.desired
							 ? json_string(version_of(e, a, a->st.desired))
							 : json_null(),
				      "phase", a ? json_string(rollout_phase_name(ph)) : json_null(),
				      "from", pol ? json_string(pol->from) : json_null(), "promotion",
				      p ? promo_json(e, p) : json_null());
		if (pol && pol->remote_api) {
			/* what the upstream's host said last, promotion or not */
			const struct engine_remote *x = sw_map_get(&e->remotes, key);
			json_object_set_new(j, "remote", json_pack(
				"{s:s, s:b, s:o, s:o}", "api", pol->remote_api, "ok", x && x->ok,
				"release", x && x->ok ? json_string(x->release) : json_null(), "reason",
				!x || !x->answered ? json_string("not asked yet")
				: x->ok ? json_null() : json_string(x->why)));
		}
		rows[nrows++] = (struct release_row){chain_depth(e, envs[i]), envs[i], j};
	}
	qsort(rows, nrows, sizeof(*rows), cmp_rows);
	json_t *arr = json_array();
	for (size_t i = 0; i < nrows; i++)
		json_array_append_new(arr, rows[i].j);
	free(rows);
	free(envs);
	return json_pack("{s:s, s:o}", "app", name, "environments", arr);
}
