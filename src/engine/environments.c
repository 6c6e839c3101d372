/*
 * Environments (src/env): the engine keeps the stored Environment
 * documents parsed, by name, as the watcher of their kind; checks every
 * apply against them (an app's environment exists, ports of two
 * environments do not overlap, routes stay within an environment's
 * listen); gives each app's instances its environment's ports; and
 * refuses to delete an environment apps live in. Apps are in an
 * environment by their key ("prod/hello", spec.h).
 */
#include "engine_int.h"

#include "core/window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/store.h"

/* ---- the parsed documents ---- */

const struct env_spec *engine_env_find(struct engine *e, const char *name)
{
	return name ? sw_map_get(&e->envs, name) : NULL;
}

bool engine_environment_exists(struct engine *e, const char *name)
{
	return spec_env_is_default(name) || engine_env_find(e, name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t engine_environment_names(struct engine *e, const char ***out)
{
	size_t n = 0, it = 0;
	const char *k;
	void *v;
	*out = xmalloc((sw_map_count(&e->envs) + 2) * sizeof(**out));
	(*out)[n++] = SPEC_ENV_DEFAULT;
	while (sw_map_next(&e->envs, &it, &k, &v))
		(*out)[n++] = ((const struct env_spec *)v)->name;
	qsort(*out + 1, n - 1, sizeof(**out), cmp_str);
	return n;
}

void engine_environments_known(struct engine *e, char *out, size_t size)
{
	const char **names;
	size_t n = engine_environment_names(e, &names);
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		buf_addf(&b, "%s%s", i ? ", " : "", names[i]);
	snprintf(out, size, "%s", b.s);
	buf_release(&b);
	free(names);
}

bool engine_app_in(const struct engine_app *a, const char *env)
{
	char mine[64];
	const char *name;
	spec_key_split(a->name, mine, &name);
	return strcmp(mine, spec_env_is_default(env) ? SPEC_ENV_DEFAULT : env) == 0;
}

/* Tells the runtime which ports belong to environments. */
static void reserve_ports(struct engine *e)
{
	if (!e->rt)
		return;
	struct runtime_ports *r = xcalloc(sw_map_count(&e->envs) + 1, sizeof(*r));
	size_t n = 0, it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->envs, &it, &k, &v)) {
		const struct env_spec *x = v;
		if (x->port_min)
			r[n++] = (struct runtime_ports){x->port_min, x->port_max};
	}
	runtime_reserve_ports(e->rt, r, n);
	free(r);
}

static void env_put(struct engine *e, const char *name, struct env_spec *spec)
{
	struct env_spec *old = sw_map_get(&e->envs, name);
	if (old) {
		sw_map_del(&e->envs, name);
		env_spec_free(old);
	}
	if (spec)
		sw_map_put(&e->envs, spec->name, spec);
}

/* The watcher of the kind (engine_watch): after an apply or a delete. */
static void on_env_change(const char *kind, const char *name, const json_t *json,
			  const char *owner, void *data)
{
	struct engine *e = data;
	struct env_spec *spec = NULL;
	struct sw_err err = {0};
	if (json && env_spec_from_json(&spec, json, &err) < 0)
		sw_warn("environment %s: the stored document does not read: %s", name, err.msg);
	env_put(e, name, spec);
	reserve_ports(e);
	engine_windows_changed(e);
	engine_keys_changed(e);
	engine_promos_kick(e);
}

void engine_envs_init(struct engine *e)
{
	sw_map_init(&e->envs);
	engine_watch(e, env_kind.name, on_env_change, e);
}

int engine_envs_load(struct engine *e, struct sw_err *err)
{
	struct store_object *objs = NULL;
	size_t n = 0;
	if (store_object_list(e->cfg.store, env_kind.name, &objs, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_loads(objs[i].spec_json, 0, NULL);
		on_env_change(env_kind.name, objs[i].name, j, objs[i].owner, e);
		json_decref(j);
	}
	store_object_list_free(objs, n);
	reserve_ports(e);
	return 0;
}

void engine_envs_release(struct engine *e)
{
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->envs, &it, &k, &v))
		env_spec_free(v);
	sw_map_release(&e->envs);
}

bool engine_app_ports(struct engine *e, const struct engine_app *a, struct runtime_ports *out)
{
	char env[64];
	const char *name;
	spec_key_split(a->name, env, &name);
	const struct env_spec *x = engine_env_find(e, env);
	*out = (struct runtime_ports){x ? x->port_min : 0, x ? x->port_max : 0};
	return out->min != 0;
}

void engine_app_stem(char *out, size_t size, const char *key)
{
	char env[64];
	const char *name;
	spec_key_split(key, env, &name);
	if (name == key)
		snprintf(out, size, "%s", key);
	else
		snprintf(out, size, "%s.%s", env, name);
}

/* ---- at apply ---- */

/* The Environment documents of an apply, in order (borrowed). */
static size_t applied_envs(const struct engine_doc *docs, size_t ndocs, const struct env_spec ***out)
{
	size_t n = 0;
	*out = NULL;
	for (size_t x = 0; x < ndocs; x++)
		for (size_t k = 0; k < docs[x].set->ndocs; k++)
			if (docs[x].set->docs[k].kind == &env_kind) {
				*out = xrealloc(*out, (n + 1) * sizeof(**out));
				(*out)[n++] = docs[x].set->docs[k].obj;
			}
	return n;
}

/* The environment `name` as it is after the apply: applied, else stored. */
static const struct env_spec *env_after(struct engine *e, const struct env_spec **applied, size_t n,
					const char *name)
{
	for (size_t i = n; name && i-- > 0;)
		if (strcmp(applied[i]->name, name) == 0)
			return applied[i];
	return engine_env_find(e, name);
}

const struct env_spec *engine_env_after(struct engine *e, const struct engine_doc *docs,
					size_t ndocs, const char *name)
{
	const struct env_spec **applied;
	size_t n = applied_envs(docs, ndocs, &applied);
	const struct env_spec *x = env_after(e, applied, n, name);
	free(applied);
	return x;
}

/* "" when every listen address of sa is allowed in x, else what is not:
 * the field and its address. */
static const char *listen_refused(const struct env_spec *x, const struct spec_app *sa, char *out,
				  size_t size)
{
	*out = '\0';
	if (sa->route.listen && !env_listen_allows(x, sa->route.listen))
		snprintf(out, size, "route.listen %s", sa->route.listen);
	else if (sa->strategy.kind == SPEC_STRATEGY_BLUEGREEN && sa->strategy.preview_listen &&
		 !env_listen_allows(x, sa->strategy.preview_listen))
		snprintf(out, size, "strategy.blueGreen.previewListen %s", sa->strategy.preview_listen);
	return out;
}

static int check_overlaps(struct engine *e, const struct env_spec **applied, size_t n,
			  struct sw_err *err)
{
	char mine[16], theirs[16];
	for (size_t i = 0; i < n; i++) {
		const struct env_spec *x = applied[i], *clash = NULL;
		for (size_t j = 0; j < i && !clash; j++)
			if (strcmp(applied[j]->name, x->name) != 0 && env_ports_overlap(x, applied[j]))
				clash = applied[j];
		size_t it = 0;
		const char *k;
		void *v;
		while (!clash && sw_map_next(&e->envs, &it, &k, &v))
			if (env_after(e, applied, n, k) == v && strcmp(k, x->name) != 0 &&
			    env_ports_overlap(x, v))
				clash = v;
		if (!clash)
			continue;
		env_ports_text(mine, sizeof(mine), x);
		env_ports_text(theirs, sizeof(theirs), clash);
		return sw_errf(err, SW_EINVAL, "%s: environment \"%s\": ports %s overlap those of "
			       "environment \"%s\" (%s); each environment's ports are its own",
			       x->source, x->name, mine, clash->name, theirs);
	}
	return 0;
}

struct after_ctx {
	struct engine *e;
	const struct env_spec **applied;
	size_t n;
};

static const struct env_spec *lookup_after(const char *name, void *data)
{
	struct after_ctx *x = data;
	return env_after(x->e, x->applied, x->n, name);
}

/* Each applied environment's promotion.from exists (default does) and
 * closes no cycle through the environments as they will be. */
static int check_promotions(struct engine *e, const struct env_spec **applied, size_t n,
			    struct sw_err *err)
{
	struct after_ctx x = {e, applied, n};
	char known[400], chain[600];
	for (size_t i = 0; i < n; i++) {
		const struct env_promotion *p = &applied[i]->promotion;
		if (!p->from || p->remote_api || env_after(e, applied, n, applied[i]->name) != applied[i])
			continue; /* a remote upstream is checked by asking its host */
		if (!spec_env_is_default(p->from) && !env_after(e, applied, n, p->from)) {
			engine_environments_known(e, known, sizeof(known));
			return sw_errf(err, SW_EINVAL, "%s: environment \"%s\": promotion.from: environment "
				       "\"%s\" does not exist (known: %s)", p->from_at, applied[i]->name,
				       p->from, known);
		}
		if (env_promotion_cycle(applied[i]->name, lookup_after, &x, chain, sizeof(chain)))
			return sw_errf(err, SW_EINVAL, "%s: environment \"%s\": promotion.from closes a "
				       "cycle: %s (releases would go round for ever)", p->from_at,
				       applied[i]->name, chain);
	}
	return 0;
}

int engine_envs_check(struct engine *e, const struct engine_doc *docs, size_t ndocs,
		      struct sw_err *err)
{
	const struct env_spec **applied;
	size_t n = applied_envs(docs, ndocs, &applied);
	char what[160], allowed[400];
	int r = check_overlaps(e, applied, n, err);
	if (r == 0)
		r = check_promotions(e, applied, n, err);
	for (size_t x = 0; x < ndocs && r == 0; x++)
		for (size_t k = 0; k < docs[x].set->napps && r == 0; k++) {
			const struct spec_app *sa = docs[x].set->apps[k];
			if (!sa->environment)
				continue;
			const struct env_spec *env = env_after(e, applied, n, sa->environment);
			if (!env) {
				engine_environments_known(e, allowed, sizeof(allowed));
				r = sw_errf(err, SW_EINVAL, "%s: environment \"%s\" does not exist (apply a "
					    "kind: Environment first; known: %s)",
					    sa->environment_at ? sa->environment_at : sa->source,
					    sa->environment, allowed);
			} else if (*listen_refused(env, sa, what, sizeof(what))) {
				env_listen_text(allowed, sizeof(allowed), env);
				r = sw_errf(err, SW_EINVAL, "%s: app \"%s\": %s is not allowed in environment "
					    "\"%s\" (it allows %s)", sa->source, sa->key, what, env->name,
					    allowed);
			}
		}
	/* an environment's new listen must still hold the routes of its apps */
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct env_spec *x = applied[i];
		size_t it = 0;
		const char *k;
		void *v;
		while (r == 0 && x->nlisten && env_after(e, applied, n, x->name) == x &&
		       sw_map_next(&e->apps, &it, &k, &v)) {
			struct engine_app *a = v;
			struct sw_err ignored = {0};
			if (!engine_app_in(a, x->name) || !a->st.desired || engine_docs_apply(docs, ndocs, a->name))
				continue;
			const struct spec_app *sa = engine_app_spec(e, a, a->st.desired, &ignored);
			if (sa && *listen_refused(x, sa, what, sizeof(what))) {
				env_listen_text(allowed, sizeof(allowed), x);
				r = sw_errf(err, SW_EINVAL, "%s: environment \"%s\": listen (%s) would leave "
					    "out app \"%s\"'s %s; change the app first", x->source, x->name,
					    allowed, a->name, what);
			}
		}
	}
	free(applied);
	return r < 0 ? SW_EINVAL : 0;
}

/* ---- sync windows ---- */

bool engine_env_window_open(struct engine *e, const char *env, int64_t now_ms, char *why,
			    size_t size, int64_t *next_ms)
{
	int64_t until = SW_WINDOW_NEVER;
	char buf[240] = "";
	bool open = engine_window_allows(e, env, now_ms, &until, buf, sizeof(buf));
	if (size)
		snprintf(why, size, "%s", open ? "" : buf);
	*next_ms = until == SW_WINDOW_NEVER ? 0 : until;
	return open;
}

/* ---- delete ---- */

int engine_environment_delete(struct engine *e, const char *name, const char *actor,
			      struct sw_err *err)
{
	struct engine_app **apps;
	size_t n = engine_apps(e, &apps), used = 0;
	struct buf b = BUF_INIT;
	int r;
	if (spec_env_is_default(name)) {
		free(apps);
		return sw_errf(err, SW_ECONFLICT, "environment \"default\" always exists: it cannot be "
			       "deleted");
	}
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->envs, &it, &k, &v)) {
		const struct env_spec *x = v;
		if (x->promotion.from && strcmp(x->promotion.from, name) == 0) {
			free(apps);
			return sw_errf(err, SW_ECONFLICT, "environment \"%s\" is where environment \"%s\" "
				       "takes its releases from (its spec.promotion.from); change that "
				       "first", name, x->name);
		}
	}
	for (size_t i = 0; i < n; i++)
		if (engine_app_in(apps[i], name)) {
			char env[64];
			const char *plain;
			spec_key_split(apps[i]->name, env, &plain);
			if (used++ < 10)
				buf_addf(&b, "%s%s", used > 1 ? ", " : "", plain);
		}
	free(apps);
	if (used) {
		if (used > 10)
			buf_addf(&b, " and %zu more", used - 10);
		r = sw_errf(err, SW_ECONFLICT, "environment \"%s\" is in use by %zu app%s: %s (delete "
			    "them first: slipway -e %s delete app NAME)", name, used, used == 1 ? "" : "s",
			    b.s, name);
	} else {
		r = engine_object_delete(e, env_kind.name, name, actor, err);
	}
	buf_release(&b);
	return r;
}
