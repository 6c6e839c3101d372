/*
 * The sync (gitops.h): one struct gsrc per Source document, each with its
 * poll timer and at most one fetch; a fetched commit is read whole,
 * validated whole and applied in one engine_apply.
 */
#include "gitops_int.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/map.h"
#include "core/paths.h"
#include "engine/engine.h"
#include "source.h"
#include "spec/fields.h"

static void set_str(char **p, const char *v)
{
	free(*p);
	*p = v ? xstrdup(v) : NULL;
}

char *gitops_actor(const struct gsrc *gs)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "source/%s", gs->name);
	return buf_detach(&b);
}

/* ---- what a source owns, by kind ---- */

/* How the source names what it owns of each kind (gitops_int.h); an app
 * last: its prefix is empty. */
static const struct owned_kind {
	const char *kind;
	const char *prefix;
} owned_kinds[] = {
	{"Source", SOURCE_PREFIX},
	{"AnalysisTemplate", TEMPLATE_PREFIX},
	{"App", ""},
};
#define NOWNED (sizeof(owned_kinds) / sizeof(owned_kinds[0]))

/* "source/shop" for (Source, shop), "hello" for (App, hello); NULL for a
 * kind a source does not own. */
static const char *owned_ref(char *out, size_t size, const char *kind, const char *name)
{
	for (size_t i = 0; i < NOWNED; i++)
		if (strcmp(owned_kinds[i].kind, kind) == 0) {
			snprintf(out, size, "%s%s", owned_kinds[i].prefix, name);
			return out;
		}
	return NULL;
}

/* The kind of a name as owned_ref makes it, its name in *name. */
static const char *owned_kind_of(const char *ref, const char **name)
{
	for (size_t i = 0; i < NOWNED; i++) {
		size_t n = strlen(owned_kinds[i].prefix);
		if (strncmp(ref, owned_kinds[i].prefix, n) == 0) {
			*name = ref + n;
			return owned_kinds[i].kind;
		}
	}
	SW_ASSERT(!"the App row matches every name");
	return NULL;
}

static bool is_template(const char *ref)
{
	return strncmp(ref, TEMPLATE_PREFIX, strlen(TEMPLATE_PREFIX)) == 0;
}

/* ---- status ---- */

static const char *sync_word(const struct gsrc *gs)
{
	if (!gs->fetched[0] && !gs->synced[0])
		return "Unknown";
	if (json_array_size(gs->drift) || (gs->fetched[0] && strcmp(gs->fetched, gs->synced) != 0))
		return "OutOfSync";
	return "Synced";
}

static json_t *commit_json(const char *sha, const char *subject, const char *author, int64_t time_ms)
{
	if (!sha || !sha[0])
		return json_null();
	return json_pack("{s:s, s:s, s:s, s:I}", "sha", sha, "subject", subject ? subject : "",
			 "author", author ? author : "", "time", (json_int_t)time_ms);
}

json_t *gitops_status_json(const struct gsrc *gs)
{
	const struct gitops_source_spec *sp = gs->spec;
	struct buf url = BUF_INIT;
	source_url_redact(&url, sp->url);
	json_t *paths = json_array();
	for (size_t i = 0; i < sp->npaths; i++)
		json_array_append_new(paths, json_string(sp->paths[i]));
	json_t *j = json_pack(
		"{s:s, s:s?, s:s, s:s?, s:o, s:I, s:b, s:b, s:b, s:s, s:o, s:o, s:o, s:s?, s:o, s:o, s:o}",
		"name", gs->name, "owner", gs->owner, "url", buf_str(&url), "ref", sp->ref, "paths", paths,
		"intervalMs", (json_int_t)sp->interval_ms, "automated", sp->automated, "prune",
		sp->prune, "selfHeal", sp->self_heal, "sync", sync_word(gs), "commit",
		commit_json(gs->synced, gs->synced_subject, gs->synced_author, gs->synced_time_ms),
		"fetched",
		gs->fetched[0] ? json_pack("{s:s, s:I}", "sha", gs->fetched, "at", (json_int_t)gs->fetched_ms)
			       : json_null(),
		"invalid",
		gs->invalid[0] ? json_pack("{s:s, s:s}", "sha", gs->invalid, "error",
					   gs->invalid_error ? gs->invalid_error : "")
			       : json_null(),
		"fetchError", gs->fetch_error, "syncedAt",
		gs->synced_ms ? json_integer(gs->synced_ms) : json_null(), "drift",
		gs->drift ? json_incref(gs->drift) : json_array(), "apps",
		gs->apps ? json_incref(gs->apps) : json_array());
	buf_release(&url);
	return j;
}

/* What a restarted daemon needs: the synced and refused commits. */
static void save_status(struct gsrc *gs)
{
	json_t *j = json_pack("{s:o, s:s, s:s, s:O?}",
			      "commit", commit_json(gs->synced, gs->synced_subject, gs->synced_author,
						    gs->synced_time_ms),
			      "invalid", gs->invalid, "invalidError",
			      gs->invalid_error ? gs->invalid_error : "", "apps", gs->apps);
	json_object_set_new(j, "syncedAt", json_integer(gs->synced_ms));
	json_object_set(j, "paused", gs->paused);
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	struct sw_err err = {0};
	if (engine_object_status(gs->g->e, "Source", gs->name, text, &err) < 0)
		sw_warn("source %s: cannot keep its status: %s", gs->name, err.msg);
	free(text);
	json_decref(j);
}

static void load_status(struct gsrc *gs, const char *text)
{
	json_t *j = text && *text ? json_loads(text, 0, NULL) : NULL;
	json_t *c = json_object_get(j, "commit");
	const char *sha = json_string_value(json_object_get(c, "sha"));
	if (sha && strlen(sha) == 40) {
		sw_strlcpy(gs->synced, sha, sizeof(gs->synced));
		set_str(&gs->synced_subject, json_string_value(json_object_get(c, "subject")));
		set_str(&gs->synced_author, json_string_value(json_object_get(c, "author")));
		gs->synced_time_ms = json_integer_value(json_object_get(c, "time"));
	}
	const char *inv = json_string_value(json_object_get(j, "invalid"));
	if (inv && strlen(inv) == 40) {
		sw_strlcpy(gs->invalid, inv, sizeof(gs->invalid));
		set_str(&gs->invalid_error, json_string_value(json_object_get(j, "invalidError")));
	}
	gs->synced_ms = json_integer_value(json_object_get(j, "syncedAt"));
	json_t *paused = json_object_get(j, "paused");
	if (json_is_object(paused))
		json_object_update(gs->paused, paused);
	json_t *apps = json_object_get(j, "apps");
	if (json_is_array(apps)) {
		json_decref(gs->apps);
		gs->apps = json_incref(apps);
	}
	json_decref(j);
}

/* Every source by name, in an array the caller frees (few: each is a
 * document someone wrote). */
static size_t all_sources(struct gitops *g, struct gsrc ***out)
{
	size_t it = 0, n = 0;
	const char *k;
	void *v;
	struct gsrc **all = NULL;
	while (sw_map_next(&g->sources, &it, &k, &v)) {
		all = xrealloc(all, (n + 1) * sizeof(*all));
		all[n++] = v;
	}
	for (size_t i = 1; i < n; i++) /* insertion sort */
		for (size_t j = i; j > 0 && strcmp(all[j - 1]->name, all[j]->name) > 0; j--) {
			struct gsrc *t = all[j];
			all[j] = all[j - 1];
			all[j - 1] = t;
		}
	*out = all;
	return n;
}

json_t *gitops_status(struct gitops *g, const char *name)
{
	if (name) {
		struct gsrc *gs = sw_map_get(&g->sources, name);
		return gs ? gitops_status_json(gs) : NULL;
	}
	json_t *arr = json_array();
	struct gsrc **all = NULL;
	size_t n = all_sources(g, &all);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, gitops_status_json(all[i]));
	free(all);
	return json_pack("{s:o}", "sources", arr);
}

/* ---- reading a commit ---- */

struct loaded {
	struct source_files files;
	struct spec_set *sets;
	struct engine_doc *docs;
	size_t n;
	struct engine_origin origin;
	char *author;
	json_t *apps;                 /* the names of its apps */
	char *empty_why;              /* why it has no documents at all, or NULL */
};

static void loaded_release(struct loaded *l)
{
	for (size_t i = 0; i < l->n; i++)
		spec_set_release(&l->sets[i]);
	free(l->sets);
	free(l->docs);
	source_files_release(&l->files);
	free(l->author);
	free(l->empty_why);
	json_decref(l->apps);
	memset(l, 0, sizeof(*l));
}

/* The workdir of an app from git, which spec resolved against the
 * virtual root: checked out from the commit (gitops.h "Checkouts"). */
static int place_workdir(struct gitops *g, struct gsrc *gs, const char *sha, struct spec_app *a,
			 const struct loaded *l, struct source_tree **tree, struct sw_err *err)
{
	size_t vl = strlen(g->vroot);
	if (strncmp(a->workdir, g->vroot, vl) != 0 || (a->workdir[vl] != '/' && a->workdir[vl]))
		return 0; /* an absolute path of this host */
	const char *rel = a->workdir + vl + (a->workdir[vl] == '/');
	struct sw_err why = {0};
	char *dir = NULL;
	int r = 0;
	if (!*tree) { /* opened once for all the commit's apps */
		const char **skip = xcalloc(l->files.n + 1, sizeof(*skip));
		for (size_t i = 0; i < l->files.n; i++)
			skip[i] = l->files.v[i].path;
		r = source_tree_open(tree, g->src, gs->name, sha, skip, &why);
		free(skip);
	}
	if (r == 0)
		r = source_tree_checkout(&dir, *tree, rel, g->trees_dir, &why);
	if (r < 0)
		return sw_errf(err, SW_EINVAL, "%s: app \"%s\": workdir: %s", a->source, a->name, why.msg);
	free(a->workdir);
	a->workdir = dir;
	return 0;
}

/* Whether the sync leaves the app alone: paused after a rollback, or
 * rolled back and being written back. */
static bool held(const struct gsrc *gs, const char *app)
{
	return json_object_get(gs->paused, app) || json_object_get(gs->held, app);
}

/* Leaves the held apps out of what is applied (they still count as the
 * commit's apps: not pruned, not drift). */
static void drop_held(struct spec_set *set, const struct gsrc *gs)
{
	size_t k = 0;
	for (size_t i = 0; i < set->napps; i++)
		if (!held(gs, set->apps[i]->key))
			set->apps[k++] = set->apps[i];
	set->napps = k;
	k = 0;
	for (size_t i = 0; i < set->ndocs; i++) {
		struct spec_doc *d = &set->docs[i];
		if (d->kind == &spec_kind_app && held(gs, d->kind->name_of(d->obj)))
			spec_doc_release(d);
		else
			set->docs[k++] = *d;
	}
	set->ndocs = k;
}

static size_t gone_apps(struct gsrc *gs, const json_t *apps, char ***out);
static void free_names(char **v, size_t n);

/* Whether an app or a Source of this host is the source's. */
static bool owns_any(struct gsrc *gs)
{
	char **all = NULL;
	json_t *none = json_array();
	size_t n = gone_apps(gs, none, &all);
	json_decref(none);
	free_names(all, n);
	return n > 0;
}

/* The commit's documents as this host takes them (spec_render): for the
 * source's environments, else each where it says (a base App to
 * default). */
static int render_commit(const struct gsrc *gs, struct loaded *l, struct sw_err *err)
{
	struct spec_set **sets = xcalloc(l->n + 1, sizeof(*sets));
	const struct gitops_source_spec *s = gs->spec;
	const char *def = SPEC_ENV_DEFAULT;
	for (size_t i = 0; i < l->n; i++)
		sets[i] = &l->sets[i];
	int r = s->environments ? spec_render(sets, l->n, (const char *const *)s->environments,
					      s->nenvironments, 0, err)
				: spec_render(sets, l->n, &def, 1, SPEC_RENDER_OTHERS, err);
	free(sets);
	return r;
}

static int load_commit(struct gsrc *gs, const struct source_commit *c, const char *sha,
		       struct loaded *l, struct sw_err *err)
{
	struct gitops *g = gs->g;
	struct source_tree *tree = NULL; /* for the apps' workdirs */
	int r = -1;
	memset(l, 0, sizeof(*l));
	struct sw_err rerr = {0};
	if (source_read(&l->files, g->src, gs->name, sha, (const char *const *)gs->spec->paths, 0,
			&rerr) < 0) {
		/* a path with no documents left (emptied, removed) is a commit
		 * without apps: the prune safety decides; but a source that owns
		 * nothing yet has a wrong path, which is an error */
		if (rerr.code != SW_ENOTFOUND || !owns_any(gs) || strstr(rerr.msg, "commit \"")) {
			sw_errf(err, rerr.code, "%s", rerr.msg);
			return -1;
		}
		l->empty_why = xstrdup(rerr.msg);
	}
	l->sets = xcalloc(l->files.n + 1, sizeof(*l->sets));
	l->docs = xcalloc(l->files.n + 1, sizeof(*l->docs));
	l->apps = json_array();
	for (size_t i = 0; i < l->files.n; i++) {
		const struct source_file *f = &l->files.v[i];
		struct buf base = BUF_INIT;
		const char *slash = strrchr(f->path, '/');
		buf_adds(&base, g->vroot);
		if (slash)
			buf_addf(&base, "/%.*s", (int)(slash - f->path), f->path);
		int pr = spec_parse_text_at(&l->sets[l->n], f->data, f->len, f->path, base.s, err);
		buf_release(&base);
		if (pr < 0)
			goto out;
		l->docs[l->n] = (struct engine_doc){&l->sets[l->n], f->path, &l->origin};
		l->n++;
	}
	if (render_commit(gs, l, err) < 0)
		goto out;
	for (size_t i = 0; i < l->n; i++) {
		struct spec_set *set = &l->sets[i];
		for (size_t k = 0; k < set->ndocs; k++) {
			const struct spec_doc *d = &set->docs[k];
			if (d->kind != &gitops_kind_source)
				continue;
			if (strcmp(d->kind->name_of(d->obj), gs->name) == 0) {
				sw_errf(err, SW_EINVAL, "%s: source \"%s\" cannot render itself",
					d->kind->source_of(d->obj), gs->name);
				goto out;
			}
			char ref[300];
			json_array_append_new(l->apps, json_string(owned_ref(ref, sizeof(ref), "Source",
									     d->kind->name_of(d->obj))));
		}
		for (size_t k = 0; k < set->ntemplates; k++) {
			char ref[300];
			json_array_append_new(l->apps, json_string(owned_ref(ref, sizeof(ref),
									     "AnalysisTemplate",
									     set->templates[k]->name)));
		}
		for (size_t k = 0; k < set->napps; k++) {
			json_array_append_new(l->apps, json_string(set->apps[k]->key));
			if (held(gs, set->apps[k]->key))
				continue;
			if (place_workdir(g, gs, sha, set->apps[k], l, &tree, err) < 0)
				goto out;
		}
		drop_held(set, gs);
	}
	l->origin.owner = gs->name;
	l->origin.commit = sha;
	if (c) {
		struct buf a = BUF_INIT;
		buf_addf(&a, "%s <%s>", c->author_name ? c->author_name : "",
			 c->author_email ? c->author_email : "");
		l->author = buf_detach(&a);
		l->origin.author = l->author;
		l->origin.time_ms = c->time * 1000;
		l->origin.subject = c->subject;
	}
	r = 0;
out:
	source_tree_close(tree);
	if (r < 0)
		loaded_release(l);
	return r;
}

/* ---- sync ---- */

static bool in_list(const json_t *names, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return true;
	return false;
}

/* The live apps, Sources (app-of-apps) and templates this source owns
 * that the commit no longer defines, named as owned_ref names them. */
static size_t gone_apps(struct gsrc *gs, const json_t *apps, char ***out)
{
	struct engine_app **all = NULL;
	struct store_object *objs = NULL;
	struct store_template *ts = NULL;
	size_t n = engine_apps(gs->g->e, &all), nobj = 0, nt = 0, k = 0;
	struct sw_err err = {0};
	char ref[300];
	if (engine_objects(gs->g->e, "Source", &objs, &nobj, &err) < 0)
		nobj = 0;
	if (engine_templates(gs->g->e, &ts, &nt, &err) < 0)
		nt = 0;
	*out = xcalloc(n + nobj + nt + 1, sizeof(**out));
	for (size_t i = 0; i < n; i++)
		if (all[i]->owner && strcmp(all[i]->owner, gs->name) == 0 && !in_list(apps, all[i]->name))
			(*out)[k++] = xstrdup(all[i]->name);
	for (size_t i = 0; i < nobj; i++)
		if (strcmp(objs[i].owner, gs->name) == 0 &&
		    !in_list(apps, owned_ref(ref, sizeof(ref), "Source", objs[i].name)))
			(*out)[k++] = xstrdup(ref);
	for (size_t i = 0; i < nt; i++)
		if (strcmp(ts[i].owner, gs->name) == 0 &&
		    !in_list(apps, owned_ref(ref, sizeof(ref), "AnalysisTemplate", ts[i].name)))
			(*out)[k++] = xstrdup(ref);
	store_template_list_free(ts, nt);
	store_object_list_free(objs, nobj);
	free(all);
	return k;
}

/* Whether a commit defining `apps` and no longer `gone` prunes every app
 * of the source (allowEmpty's safety: apps and Sources count, templates
 * do not): how many it prunes then, else 0. */
static size_t prunes_every_app(const json_t *apps, char **gone, size_t ngone)
{
	size_t i, left = 0, pruned = 0;
	json_t *v;
	json_array_foreach(apps, i, v)
		left += !is_template(json_string_value(v));
	for (i = 0; i < ngone; i++)
		pruned += !is_template(gone[i]);
	return left ? 0 : pruned;
}

/* Why prune keeps what gone_apps found: an app uses the template (the
 * app's analysis reads it when a run starts or resumes), into why; false
 * for anything else. */
static bool kept_in_use(struct gsrc *gs, const char *ref, char *why, size_t size)
{
	int64_t revision = 0;
	const struct engine_app *a =
		is_template(ref) ? engine_template_user(gs->g->e, ref + strlen(TEMPLATE_PREFIX), &revision)
				 : NULL;
	if (a)
		snprintf(why, size, "in use by app %s (revision %lld)", a->name, (long long)revision);
	return a != NULL;
}

/* Deletes what gone_apps found: an app, a Source it rendered, a template
 * (refused, -1, while an app uses it). */
static int prune_one(struct gsrc *gs, const char *ref, const char *actor, const char *sha)
{
	struct engine *e = gs->g->e;
	struct sw_err err = {0};
	size_t stopping = 0;
	const char *name, *kind = owned_kind_of(ref, &name);
	int r = strcmp(kind, "App") == 0 ? engine_delete(e, name, actor, &stopping, &err)
		: strcmp(kind, "Source") == 0 ? engine_object_delete(e, kind, name, actor, &err)
					      : engine_template_delete(e, name, actor, &err);
	if (r < 0)
		return -1;
	if (strcmp(kind, "App") == 0)
		engine_event(e, name, "Pruned", actor, "not in source %s at %.7s: deleted", gs->name, sha);
	else
		engine_event(e, NULL, "Pruned", actor, "%s: not in source %s at %.7s: deleted", ref,
			     gs->name, sha);
	return 0;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void drift_add(json_t *drift, const char *app, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void drift_add(json_t *drift, const char *app, const char *fmt, ...)
{
	char why[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	json_array_append_new(drift, json_pack("{s:s, s:s}", "app", app, "reason", why));
}

/* What the commit no longer defines: kept (prune off, or in use), or not
 * pruned yet. Returns how many of them a sync would prune. */
static size_t drift_gone(json_t *drift, struct gsrc *gs, char **gone, size_t ngone, const char *sha)
{
	size_t prunable = 0;
	char use[200];
	for (size_t i = 0; i < ngone; i++) {
		if (!gs->spec->prune) {
			drift_add(drift, gone[i], "not in git at %.7s (prune is off)", sha);
		} else if (kept_in_use(gs, gone[i], use, sizeof(use))) {
			drift_add(drift, gone[i], "not in git at %.7s: kept, %s; pruned once no app "
				  "uses it", sha, use);
		} else {
			drift_add(drift, gone[i], "not in git at %.7s: a sync prunes it", sha);
			prunable++;
		}
	}
	return prunable;
}

/* Which owned apps, Sources and templates differ from the commit: a dry
 * run of its documents. *healable: how many of them a sync would change
 * (not those paused, kept with prune off, or kept in use). */
static json_t *find_drift(struct gsrc *gs, struct loaded *l, char **gone, size_t ngone,
			  size_t *healable)
{
	json_t *drift = json_array();
	struct engine_results res = {0};
	struct sw_err err = {0};
	char *actor = gitops_actor(gs);
	*healable = 0;
	if (engine_apply_dry_run(gs->g->e, l->docs, l->n, actor, &res, &err) < 0) {
		drift_add(drift, "", "%s", err.msg);
	} else {
		for (size_t i = 0; i < res.n; i++) {
			const struct engine_result *r = &res.r[i];
			bool app = strcmp(r->kind, "App") == 0;
			char ref[300];
			if (!owned_ref(ref, sizeof(ref), r->kind, r->name) ||
			    strcmp(r->result, "unchanged") == 0)
				continue;
			(*healable)++;
			if (strcmp(r->result, "created") == 0)
				drift_add(drift, ref, app ? "missing: not running, or deleted outside git"
							  : "missing: deleted outside git");
			else
				drift_add(drift, ref, "changed outside git: the live %s differs from %.7s",
					  app ? "revision" : "document", l->origin.commit);
		}
	}
	*healable += drift_gone(drift, gs, gone, ngone, l->origin.commit);
	const char *app;
	json_t *why;
	json_object_foreach(gs->paused, app, why)
		drift_add(drift, app, "%s", json_string_value(why));
	engine_results_release(&res);
	free(actor);
	return drift;
}

static void summary(struct buf *b, const struct engine_results *res)
{
	size_t created = 0, configured = 0, unchanged = 0;
	for (size_t i = 0; i < res->n; i++) {
		const char *w = res->r[i].result;
		if (strcmp(w, "created") == 0)
			created++;
		else if (strcmp(w, "configured") == 0)
			configured++;
		else
			unchanged++;
	}
	buf_addf(b, "%zu created, %zu configured, %zu unchanged", created, configured, unchanged);
}

/* Refuses the commit: its error in the status, one SyncFailed event per
 * commit (not one per poll), nothing applied. */
static void refuse(struct gsrc *gs, const char *actor, const char *sha, const char *why)
{
	bool again = strcmp(sha, gs->invalid) == 0;
	sw_strlcpy(gs->invalid, sha, sizeof(gs->invalid));
	set_str(&gs->invalid_error, why);
	if (!again)
		engine_event(gs->g->e, NULL, "SyncFailed", actor, "source %s: commit %.7s is not applied: %s",
			     gs->name, sha, why);
	save_status(gs);
}

/* The drift of the commit's documents l against the live apps; returns
 * how much of it a sync would change (find_drift). */
static size_t update_drift(struct gsrc *gs, struct loaded *l)
{
	char **gone = NULL;
	size_t healable, ngone = gone_apps(gs, l->apps, &gone);
	json_decref(gs->drift);
	gs->drift = find_drift(gs, l, gone, ngone, &healable);
	free_names(gone, ngone);
	return healable;
}

/*
 * The rest of a sync that kept templates in use (prune on): those no app
 * uses any more are pruned now, at the poll or drift check that finds
 * them free, as the sync of the commit would have. Returns how many.
 */
static size_t prune_freed(struct gsrc *gs, struct loaded *l, const char *actor)
{
	char **gone = NULL, use[200];
	size_t pruned = 0, ngone = gs->spec->prune ? gone_apps(gs, l->apps, &gone) : 0;
	gs->syncing = true;
	for (size_t i = 0; i < ngone; i++)
		if (is_template(gone[i]) && !kept_in_use(gs, gone[i], use, sizeof(use)) &&
		    prune_one(gs, gone[i], actor, l->origin.commit) == 0)
			pruned++;
	gs->syncing = false;
	free_names(gone, ngone);
	return pruned;
}

/*
 * Syncs the commit last fetched (c: its metadata when just fetched, NULL
 * for a drift check). Nothing is applied unless the whole commit is valid.
 */
static void sync_commit(struct gsrc *gs, const struct source_commit *c)
{
	struct gitops *g = gs->g;
	struct engine *e = g->e;
	const char *sha = gs->fetched;
	struct loaded l;
	struct sw_err err = {0};
	char *actor = gitops_actor(gs);
	char **gone = NULL;
	size_t ngone = 0;
	/* a changed Source document (prune turned on, another path) is
	 * applied as a new commit is */
	bool manual = gs->manual, new_commit = strcmp(sha, gs->synced) != 0 || gs->respec;
	gs->manual = false;
	gs->respec = false;

	if (!sha[0])
		goto out;
	if (!manual && strcmp(sha, gs->invalid) == 0)
		goto out; /* refused already: the status says why */
	if (load_commit(gs, c, sha, &l, &err) < 0) {
		refuse(gs, actor, sha, err.msg);
		goto out;
	}
	if (!new_commit) {
		/* the same commit: only what changed outside git, and the
		 * templates kept in use that are free now */
		size_t healable = update_drift(gs, &l);
		if (gs->spec->automated && !manual && prune_freed(gs, &l, actor)) {
			healable = update_drift(gs, &l);
			save_status(gs);
		}
		if (manual ? !json_array_size(gs->drift) : !(gs->spec->self_heal && healable))
			goto drop;
	}
	if (!gs->spec->automated && !manual) {
		update_drift(gs, &l);
		goto drop;
	}
	ngone = gone_apps(gs, l.apps, &gone);
	size_t every = prunes_every_app(l.apps, gone, ngone);
	if (gs->spec->prune && every && !gs->spec->allow_empty) {
		char msg[400];
		snprintf(msg, sizeof(msg), "it would prune every app of the source (%zu%s%s); "
			 "set syncPolicy.allowEmpty: true to allow it", every,
			 l.empty_why ? ": " : "", l.empty_why ? l.empty_why : "");
		refuse(gs, actor, sha, msg);
		goto drop;
	}
	struct engine_results res = {0};
	gs->syncing = true;
	if (engine_apply(e, l.docs, l.n, actor, &res, &err) < 0) {
		gs->syncing = false;
		refuse(gs, actor, sha, err.msg);
		goto drop;
	}
	size_t pruned = 0, kept = 0;
	char use[200];
	for (size_t i = 0; gs->spec->prune && i < ngone; i++)
		if (kept_in_use(gs, gone[i], use, sizeof(use)))
			kept++;
		else if (prune_one(gs, gone[i], actor, sha) == 0)
			pruned++;
	gs->syncing = false;
	struct buf why = BUF_INIT;
	summary(&why, &res);
	if (pruned)
		buf_addf(&why, ", %zu pruned", pruned);
	if (kept)
		buf_addf(&why, ", %zu kept in use", kept);
	if (new_commit || manual)
		engine_event(e, NULL, "Synced", actor, "source %s: commit %.7s \"%s\": %s", gs->name, sha,
			     l.origin.subject ? l.origin.subject : gs->synced_subject ? gs->synced_subject : "",
			     why.s);
	else
		engine_event(e, NULL, "SelfHealed", actor, "source %s: commit %.7s applied again: %s",
			     gs->name, sha, why.s);
	buf_release(&why);
	engine_results_release(&res);
	if (new_commit && c && g->on_push && strcmp(sha, gs->synced) != 0) {
		struct buf gd = BUF_INIT;
		buf_addf(&gd, "%s/%s.git", g->cache_dir, gs->name);
		struct gitops_push p = {gs->name, c->ref ? c->ref : "", sha, gs->synced, gd.s,
					c->subject ? c->subject : ""};
		g->on_push(&p, g->on_push_data);
		buf_release(&gd);
	}
	if (new_commit && c) {
		sw_strlcpy(gs->synced, sha, sizeof(gs->synced));
		set_str(&gs->synced_subject, c->subject);
		set_str(&gs->synced_author, l.author);
		gs->synced_time_ms = c->time * 1000;
	} else if (new_commit) {
		sw_strlcpy(gs->synced, sha, sizeof(gs->synced));
	}
	gs->synced_ms = sw_wall_ms();
	gs->invalid[0] = '\0';
	set_str(&gs->invalid_error, NULL);
	json_decref(gs->apps);
	gs->apps = json_incref(l.apps);
	free_names(gone, ngone);
	ngone = gone_apps(gs, l.apps, &gone);
	json_decref(gs->drift);
	gs->drift = json_array();
	drift_gone(gs->drift, gs, gone, ngone, sha);
	const char *papp;
	json_t *pwhy;
	json_object_foreach(gs->paused, papp, pwhy)
		drift_add(gs->drift, papp, "%s", json_string_value(pwhy));
	save_status(gs);
drop:
	gitops_gc_soon(gs->g);
	loaded_release(&l);
out:
	free_names(gone, ngone);
	free(actor);
}

/* ---- fetching ---- */

static void answer_waiters(struct gsrc *gs, bool all, const struct sw_err *err)
{
	struct waiter **pp = &gs->waiters;
	json_t *st = NULL;
	while (*pp) {
		struct waiter *w = *pp;
		if (!all && w->need_gen > gs->fetch_gen) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		if (w->plan && !err) {
			struct sw_err perr = {0};
			json_t *plan = gitops_plan(gs, &perr);
			if (w->cb)
				w->cb(plan, plan ? NULL : &perr, w->data);
			json_decref(plan);
			free(w);
			continue;
		}
		if (!st && !err)
			st = gitops_status_json(gs);
		if (w->cb)
			w->cb(err ? NULL : st, err, w->data);
		free(w);
	}
	json_decref(st);
}

static void on_check(uv_timer_t *t);
static void start_write_back(struct gsrc *gs);
static void release_written(struct gsrc *gs);
static void write_backs_free(struct write_back *w);

static void on_fetched(const struct source_commit *c, const char *error, void *data)
{
	struct gsrc *gs = data;
	gs->fetch_id = 0;
	gs->fetch_gen++;
	gs->fetched_ms = sw_wall_ms();
	if (error) {
		bool same = gs->fetch_error && strcmp(gs->fetch_error, error) == 0;
		set_str(&gs->fetch_error, error);
		if (!same) {
			char *actor = gitops_actor(gs);
			engine_event(gs->g->e, NULL, "FetchFailed", actor, "source %s: %s", gs->name, error);
			free(actor);
		}
	} else {
		if (gs->fetch_error) {
			char *actor = gitops_actor(gs);
			engine_event(gs->g->e, NULL, "Fetched", actor, "source %s: fetched %.7s again",
				     gs->name, c->sha);
			free(actor);
		}
		set_str(&gs->fetch_error, NULL);
		sw_strlcpy(gs->fetched, c->sha, sizeof(gs->fetched));
		set_str(&gs->fetched_ref, c->ref);
		release_written(gs);
		if (!gs->plan_only) /* a dry run's fetch leaves the apply to the next poll */
			sync_commit(gs, c);
	}
	gs->plan_only = false;
	answer_waiters(gs, false, NULL);
	start_write_back(gs);
	if (gs->push_id) {
		/* the fetch asked for meanwhile comes after it */
	} else if (gs->again) {
		gs->again = false;
		gitops_fetch(gs);
	} else {
		uv_timer_again(&gs->timer);
	}
}

void gitops_fetch(struct gsrc *gs)
{
	struct gitops *g = gs->g;
	struct gitops_source_spec *sp = gs->spec;
	if (gs->deleted || g->stopping)
		return;
	if (gs->fetch_id || gs->push_id) { /* one job per cache: after this one */
		gs->again = true;
		return;
	}
	struct source_request req = {
		.name = gs->name, .url = sp->url, .ref = sp->ref,
		.previous = gs->synced[0] ? gs->synced : NULL, .timeout_ms = sp->timeout_ms,
		.cred = {sp->username, sp->password_file, sp->ssh_key_file, sp->known_hosts_file},
	};
	struct sw_err err = {0};
	gs->fetch_id = source_fetch(g->src, &req, on_fetched, gs, &err);
	if (!gs->fetch_id) {
		if (err.code == SW_EBUSY) { /* the cancelled fetch of a replaced spec still stops */
			gs->again = true;
			uv_timer_start(&gs->check, on_check, 100, 0);
			return;
		}
		set_str(&gs->fetch_error, err.msg);
		gs->fetch_gen++;
		answer_waiters(gs, false, NULL);
	}
}

static void on_poll(uv_timer_t *t)
{
	gitops_fetch(t->data);
}

/* A drift check (or a retry of a fetch that found the cache busy). */
static void on_check(uv_timer_t *t)
{
	struct gsrc *gs = t->data;
	start_write_back(gs);
	if (gs->again && !gs->fetch_id && !gs->push_id) {
		gs->again = false;
		gitops_fetch(gs);
		return;
	}
	if (!gs->fetch_id && !gs->push_id && gs->fetched[0])
		sync_commit(gs, NULL);
}

/* ---- sources come and go with their documents ---- */

static void gsrc_closed(uv_handle_t *h)
{
	struct gsrc *gs = h->data;
	if (--gs->open_handles > 0)
		return;
	gitops_source_spec_free(gs->spec);
	free(gs->name);
	free(gs->owner);
	free(gs->fetch_error);
	free(gs->synced_subject);
	free(gs->synced_author);
	free(gs->invalid_error);
	json_decref(gs->drift);
	json_decref(gs->apps);
	json_decref(gs->paused);
	json_decref(gs->held);
	json_decref(gs->aborts);
	free(gs->fetched_ref);
	write_backs_free(gs->wb);
	write_backs_free(gs->pushing);
	free(gs);
}

static void gsrc_drop(struct gsrc *gs)
{
	struct sw_err err = {0};
	gs->deleted = true;
	if (gs->fetch_id)
		source_cancel(gs->g->src, gs->fetch_id);
	if (gs->push_id)
		source_cancel(gs->g->src, gs->push_id);
	gs->fetch_id = gs->push_id = 0;
	sw_errf(&err, SW_ENOTFOUND, "source \"%s\" was deleted", gs->name);
	answer_waiters(gs, true, &err);
	sw_map_del(&gs->g->sources, gs->name);
	uv_close((uv_handle_t *)&gs->timer, gsrc_closed);
	uv_close((uv_handle_t *)&gs->check, gsrc_closed);
}

static void gsrc_set(struct gitops *g, const char *name, const json_t *json, const char *status,
		     const char *owner)
{
	struct gitops_source_spec *sp = NULL;
	struct sw_err err = {0};
	if (gitops_source_spec_from_json(&sp, json, &err) < 0) {
		sw_warn("source %s: stored document does not read back: %s", name, err.msg);
		return;
	}
	struct gsrc *gs = sw_map_get(&g->sources, name);
	if (!gs) {
		gs = xcalloc(1, sizeof(*gs));
		gs->g = g;
		gs->name = xstrdup(name);
		uv_timer_init(g->cfg.loop, &gs->timer);
		uv_timer_init(g->cfg.loop, &gs->check);
		gs->timer.data = gs->check.data = gs;
		gs->open_handles = 2;
		gs->paused = json_object();
		gs->held = json_object();
		gs->aborts = json_object();
		sw_map_put(&g->sources, gs->name, gs);
		load_status(gs, status);
	} else {
		gitops_source_spec_free(gs->spec);
		if (gs->fetch_id) { /* the URL or ref may have changed: fetch anew */
			source_cancel(g->src, gs->fetch_id);
			gs->fetch_id = 0;
		}
		gs->invalid[0] = '\0'; /* another document: try the commit again */
		gs->respec = true;
	}
	gs->spec = sp;
	set_str(&gs->owner, owner && owner[0] ? owner : NULL);
	uv_timer_start(&gs->timer, on_poll, sp->interval_ms, sp->interval_ms);
	gitops_fetch(gs);
}

static void on_source(const char *kind, const char *name, const json_t *json, const char *owner,
		      void *data)
{
	struct gitops *g = data;
	(void)kind;
	struct gsrc *gs = sw_map_get(&g->sources, name);
	if (!json) {
		if (gs)
			gsrc_drop(gs);
		return;
	}
	gsrc_set(g, name, json, NULL, owner);
}

/* Leaves the app out of the sync until `sync --resume` (git would undo
 * its rollback); `failed` says why the rollback is not in git instead. */
static void pause_app(struct gsrc *gs, const char *app, const char *by, const char *failed)
{
	char why[900];
	snprintf(why, sizeof(why), "sync paused after a rollback by %s%s%s%s: `slipway sync %s "
		 "--resume` gives it git's version again", by ? by : "?",
		 failed ? " (not written back: " : "", failed ? failed : "", failed ? ")" : "",
		 gs->name);
	json_object_set_new(gs->paused, app, json_string(why));
	char *actor = gitops_actor(gs);
	engine_event(gs->g->e, app, "SyncPaused", actor, "source %s: %s", gs->name, why);
	free(actor);
	save_status(gs);
}

/* ---- write-back: a rollback committed to git (gitops.h) ---- */

static void write_backs_free(struct write_back *w)
{
	while (w) {
		struct write_back *next = w->next;
		free(w->app);
		free(w->actor);
		free(w->why);
		free(w->version);
		free(w);
		w = next;
	}
}

static void queue_write_back(struct gsrc *gs, const char *app, int64_t revision, int64_t failed,
			     const char *actor, const char *why, bool manual)
{
	struct write_back *w = xcalloc(1, sizeof(*w)), **tail = &gs->wb;
	w->app = xstrdup(app);
	w->revision = revision;
	w->failed = failed;
	w->actor = xstrdup(actor ? actor : "?");
	w->why = xstrdup(why ? why : "");
	w->manual = manual;
	while (*tail)
		tail = &(*tail)->next;
	*tail = w;
	if (manual) /* git would undo it until the commit is written and fetched */
		json_object_set_new(gs->held, app, json_string("writing"));
	uv_timer_start(&gs->check, on_check, 0, 0);
}

/* The branch the write-back goes to: writeBack.branch, else the branch
 * the source's ref resolved to (caller frees). */
static char *write_back_branch(const struct gsrc *gs, struct sw_err *err)
{
	if (gs->spec->wb_branch)
		return xstrdup(gs->spec->wb_branch);
	if (gs->fetched_ref && strncmp(gs->fetched_ref, "refs/heads/", 11) == 0)
		return xstrdup(gs->fetched_ref + 11);
	sw_errf(err, SW_EINVAL, "ref \"%s\" resolved to %s, not a branch: set writeBack.branch",
		gs->spec->ref ? gs->spec->ref : "", gs->fetched_ref ? gs->fetched_ref : "nothing yet");
	return NULL;
}

static void on_pushed(const struct source_pushed *p, const char *error, void *data);

/* The engine's promotion writer: a promotion into an app of a source
 * with writeBack is a commit of its version (engine.h "promotion"). */
static int write_promotion(const struct engine_promotion_write *p, void *data, struct sw_err *err)
{
	struct gitops *g = data;
	struct gsrc *gs = p->owner && !g->stopping ? sw_map_get(&g->sources, p->owner) : NULL;
	if (!gs || gs->deleted || !gs->spec->write_back)
		return 0;
	struct write_back *w = xcalloc(1, sizeof(*w)), **tail = &gs->wb;
	w->app = xstrdup(p->app);
	w->actor = xstrdup(p->actor);
	w->why = xstrdup(p->message);
	w->version = xstrdup(p->release);
	w->promotion = p->id;
	while (*tail)
		tail = &(*tail)->next;
	*tail = w;
	uv_timer_start(&gs->check, on_check, 0, 0);
	return 1;
}

static int push_write_back(struct gsrc *gs, struct write_back *w, struct sw_err *err)
{
	struct gitops *g = gs->g;
	const struct gitops_source_spec *sp = gs->spec;
	char target[41] = "", failed[41] = "", host[256] = "localhost";
	struct buf name = BUF_INIT, email = BUF_INIT, msg = BUF_INIT;
	char *branch = NULL;
	int r = -1;
	if (w->version)
		goto fetched; /* a promotion: nothing of the app's revisions to look up */
	if (engine_revision_commit(g->e, w->app, w->revision, target, err) < 0)
		goto out;
	if (!w->manual && (engine_revision_commit(g->e, w->app, w->failed, failed, err) < 0 ||
			   !failed[0])) {
		r = sw_errf(err, SW_EINVAL, "revision %lld was applied by hand, not from git",
			    (long long)w->failed);
		goto out;
	}
	if (!target[0]) {
		r = sw_errf(err, SW_EINVAL, "revision %lld was applied by hand, not from git",
			    (long long)w->revision);
		goto out;
	}
fetched:
	if (!gs->fetched[0]) {
		r = sw_errf(err, SW_ECONFLICT, "the source has not been fetched yet");
		goto out;
	}
	if (!(branch = write_back_branch(gs, err)))
		goto out;
	if (sp->wb_author) {
		const char *lt = strchr(sp->wb_author, '<');
		buf_add(&name, sp->wb_author, (size_t)(lt - sp->wb_author - 1));
		buf_add(&email, lt + 1, strlen(lt + 1) - 1);
	} else {
		gethostname(host, sizeof(host) - 1);
		buf_adds(&name, "Slipway");
		buf_addf(&email, "slipway@%s", host);
	}
	if (w->version) /* the engine's message says what and why */
		buf_addf(&msg, "%s\n", w->why);
	else
		buf_addf(&msg, "Roll back %s to %.7s (revision %lld)\n\n", w->app, target,
			 (long long)w->revision);
	if (w->version)
		;
	else if (w->manual)
		buf_addf(&msg, "Rolled back by %s: %s.\n", w->actor, w->why);
	else
		buf_addf(&msg, "Aborted automatically (commit %.7s): %s.\n", failed, w->why);
	buf_addf(&msg, "Written back by Slipway (source %s), so that git and what runs agree.\n",
		 gs->name);
	struct source_push_request req = {
		.name = gs->name, .url = sp->url, .branch = branch, .base = gs->fetched,
		.target = w->version ? NULL : target, .version = w->version, .app = w->app,
		.paths = (const char *const *)sp->paths,
		.author_name = name.s, .author_email = email.s, .message = msg.s,
		.timeout_ms = sp->timeout_ms,
		.cred = {sp->username, sp->password_file, sp->ssh_key_file, sp->known_hosts_file},
	};
	gs->push_id = source_push(g->src, &req, on_pushed, gs, err);
	r = gs->push_id ? 0 : -1;
out:
	free(branch);
	buf_release(&name);
	buf_release(&email);
	buf_release(&msg);
	return r;
}

static void write_back_failed(struct gsrc *gs, const struct write_back *w, const char *why)
{
	char *actor = gitops_actor(gs);
	if (w->version) {
		char detail[600];
		snprintf(detail, sizeof(detail), "source %s: the commit of release %s failed: %s",
			 gs->name, w->version, why);
		engine_event(gs->g->e, w->app, "WriteBackFailed", actor, "%s", detail);
		free(actor);
		engine_promotion_written(gs->g->e, w->promotion, false, detail);
		return;
	}
	engine_event(gs->g->e, w->app, "WriteBackFailed", actor, "source %s: the %s of %s to "
		     "revision %lld is not written back: %s", gs->name,
		     w->manual ? "rollback" : "abort", w->app, (long long)w->revision, why);
	free(actor);
	json_object_del(gs->held, w->app);
	if (w->manual)
		pause_app(gs, w->app, w->actor, why);
	uv_timer_start(&gs->check, on_check, DRIFT_CHECK_DELAY_MS, 0);
}

/* Starts the next write-back unless a fetch or push runs. */
static void start_write_back(struct gsrc *gs)
{
	while (gs->wb && !gs->fetch_id && !gs->push_id && !gs->deleted && !gs->g->stopping) {
		struct write_back *w = gs->wb;
		struct sw_err err = {0};
		gs->wb = w->next;
		w->next = NULL;
		if (push_write_back(gs, w, &err) == 0) {
			gs->pushing = w;
		} else {
			write_back_failed(gs, w, err.msg);
			write_backs_free(w);
		}
	}
}

/* A fetch after a write-back: what git holds is the truth again. */
static void release_written(struct gsrc *gs)
{
	const char *app;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(gs->held, tmp, app, v)
		if (strcmp(json_string_value(v), "written") == 0)
			json_object_del(gs->held, app);
}

static void on_pushed(const struct source_pushed *p, const char *error, void *data)
{
	struct gsrc *gs = data;
	struct write_back *w = gs->pushing;
	gs->pushing = NULL;
	gs->push_id = 0;
	if (error) {
		write_back_failed(gs, w, error);
	} else {
		struct sw_err err = {0};
		char *branch = write_back_branch(gs, &err);
		bool ours = !gs->spec->wb_branch || (gs->fetched_ref && branch &&
						    strncmp(gs->fetched_ref, "refs/heads/", 11) == 0 &&
						    strcmp(gs->fetched_ref + 11, branch) == 0);
		char *actor = gitops_actor(gs);
		char detail[400] = "";
		if (w->version && p->sha[0])
			snprintf(detail, sizeof(detail), "commit %.7s on %s (%s), source %s", p->sha,
				 branch ? branch : "?", p->file ? p->file : "", gs->name);
		else if (w->version)
			snprintf(detail, sizeof(detail), "%s at %.7s has release %s already, source %s",
				 p->file ? p->file : w->app, p->base, w->version, gs->name);
		if (w->version)
			engine_event(gs->g->e, w->app, "WrittenBack", actor, "promotion of %s to release %s "
				     "written to git: %s", w->app, w->version, detail);
		else if (p->sha[0])
			engine_event(gs->g->e, w->app, "WrittenBack", actor, "source %s: %s of %s to "
				     "revision %lld written back as %.7s on %s (%s%s%.7s)", gs->name,
				     w->manual ? "rollback" : "abort", w->app, (long long)w->revision,
				     p->sha, branch ? branch : "?", p->file ? p->file : "",
				     p->redone ? "; the branch had moved: made again on " : ", on ",
				     p->base);
		else
			engine_event(gs->g->e, w->app, "WrittenBack", actor, "source %s: %s at %.7s has "
				     "the document of revision %lld already: nothing to push", gs->name,
				     p->file ? p->file : w->app, p->base, (long long)w->revision);
		free(actor);
		if (w->version)
			engine_promotion_written(gs->g->e, w->promotion, true, detail);
		if (w->manual && ours)
			json_object_set_new(gs->held, w->app, json_string("written"));
		else if (w->manual) { /* another branch: git has it once that is merged */
			char why[300];
			snprintf(why, sizeof(why), "written back to branch %s as %.7s, not the source's",
				 branch ? branch : "?", p->sha);
			json_object_del(gs->held, w->app);
			pause_app(gs, w->app, w->actor, why);
		}
		free(branch);
	}
	write_backs_free(w);
	gitops_fetch(gs); /* the commit, and any fetch asked for meanwhile */
}

/* An abort of a rollout from git, written back with writeBack.onAbort:
 * the stable revision's documents, once per aborted revision. */
static void abort_written_back(struct gsrc *gs, const struct engine_event *ev)
{
	struct engine_app *a = engine_app_find(gs->g->e, ev->app);
	if (!gs->spec->write_back || !gs->spec->wb_on_abort || !a || !a->st.failed ||
	    a->st.failed != a->st.desired || a->st.stable <= 0 || a->st.stable == a->st.desired ||
	    !strstr(ev->message, "aborted"))
		return;
	json_t *done = json_object_get(gs->aborts, ev->app);
	if (done && json_integer_value(done) == a->st.failed)
		return;
	json_object_set_new(gs->aborts, ev->app, json_integer(a->st.failed));
	queue_write_back(gs, ev->app, a->st.stable, a->st.failed, "slipway", ev->message, false);
}

/* An outside change of an owned app: check for drift soon. A rollback
 * is written back to git (writeBack) or pauses the app's sync. */
static void on_event(const struct engine_event *ev, void *data)
{
	struct gitops *g = data;
	if (!ev->app || !ev->app[0] || g->stopping)
		return;
	bool rollback = strcmp(ev->kind, "Rollback") == 0, degraded = strcmp(ev->kind, "Degraded") == 0;
	if (strcmp(ev->kind, "Applied") != 0 && strcmp(ev->kind, "Deleted") != 0 && !rollback &&
	    !degraded)
		return;
	if (ev->actor && strncmp(ev->actor, "source/", 7) == 0)
		return; /* a source's own */
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&g->sources, &it, &k, &v)) {
		struct gsrc *gs = v;
		if (!in_list(gs->apps, ev->app))
			continue;
		if (degraded) {
			abort_written_back(gs, ev);
			continue;
		}
		if (rollback && gs->spec->write_back) {
			struct engine_app *a = engine_app_find(g->e, ev->app);
			if (a)
				queue_write_back(gs, ev->app, a->st.desired, 0, ev->actor, ev->message, true);
		} else if (rollback) {
			pause_app(gs, ev->app, ev->actor, NULL);
		}
		uv_timer_start(&gs->check, on_check, DRIFT_CHECK_DELAY_MS, 0);
	}
}

/* A template changed or deleted: by anyone but its source's own sync,
 * that is drift; the source checks soon. */
static void on_template(const char *kind, const char *name, const json_t *json, const char *owner,
			void *data)
{
	struct gitops *g = data;
	struct gsrc *gs = owner && *owner && !g->stopping ? sw_map_get(&g->sources, owner) : NULL;
	(void)kind;
	(void)name;
	(void)json;
	if (gs && !gs->syncing)
		uv_timer_start(&gs->check, on_check, DRIFT_CHECK_DELAY_MS, 0);
}

/* ---- the module ---- */

int gitops_new(struct gitops **out, const struct gitops_config *cfg, struct sw_err *err)
{
	struct gitops *g = xcalloc(1, sizeof(*g));
	struct buf b = BUF_INIT;
	g->cfg = *cfg;
	g->e = cfg->engine;
	buf_addf(&b, "%s/gitops/cache", cfg->state_dir);
	g->cache_dir = buf_detach(&b);
	buf_addf(&b, "%s/gitops/trees", cfg->state_dir);
	g->trees_dir = buf_detach(&b);
	/* where spec resolves relative paths of a commit's documents; never
	 * made: place_workdir maps what lies under it to a checkout */
	buf_addf(&b, "%s/gitops/repository", cfg->state_dir);
	g->vroot = buf_detach(&b);
	sw_map_init(&g->sources);
	if (sw_mkdir_p(g->cache_dir, 0700) < 0) {
		sw_errf(err, -1, "cannot create \"%s\": %s", g->cache_dir, strerror(errno));
		gitops_free(g);
		return -1;
	}
	if (source_new(&g->src, cfg->loop, g->cache_dir, err) < 0) {
		gitops_free(g);
		return -1;
	}
	*out = g;
	return 0;
}

int gitops_start(struct gitops *g, struct sw_err *err)
{
	struct store_object *objs = NULL;
	size_t n = 0;
	if (engine_objects(g->e, "Source", &objs, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_loads(objs[i].spec_json, 0, NULL);
		if (j)
			gsrc_set(g, objs[i].name, j, objs[i].status, objs[i].owner);
		json_decref(j);
	}
	store_object_list_free(objs, n);
	engine_watch(g->e, "Source", on_source, g);
	engine_watch(g->e, "AnalysisTemplate", on_template, g);
	g->sub = engine_subscribe(g->e, on_event, g);
	engine_promotion_writer(g->e, write_promotion, g);
	gitops_gc_init(g);
	gitops_gc_soon(g);
	return 0;
}

void gitops_on_push(struct gitops *g, gitops_push_fn fn, void *data)
{
	g->on_push = fn;
	g->on_push_data = data;
}

void gitops_stop(struct gitops *g)
{
	if (!g || g->stopping)
		return;
	g->stopping = true;
	if (g->sub)
		engine_unsubscribe(g->e, g->sub);
	g->sub = 0;
	engine_watch(g->e, "Source", NULL, NULL);
	engine_watch(g->e, "AnalysisTemplate", NULL, NULL);
	engine_promotion_writer(g->e, NULL, NULL);
	gitops_gc_stop(g);
	struct gsrc **all = NULL;
	size_t n = all_sources(g, &all);
	for (size_t i = 0; i < n; i++)
		gsrc_drop(all[i]);
	free(all);
}

void gitops_free(struct gitops *g)
{
	if (!g)
		return;
	gitops_stop(g);
	source_free(g->src);
	sw_map_release(&g->sources);
	free(g->cache_dir);
	free(g->trees_dir);
	free(g->vroot);
	free(g);
}

uint64_t gitops_sync(struct gitops *g, const char *name, const char *actor, gitops_sync_cb cb,
		     void *data, struct sw_err *err)
{
	return gitops_sync_ex(g, name, actor, false, false, cb, data, err);
}

uint64_t gitops_sync_ex(struct gitops *g, const char *name, const char *actor, bool plan,
			bool resume, gitops_sync_cb cb, void *data, struct sw_err *err)
{
	struct gsrc *gs = name ? sw_map_get(&g->sources, name) : NULL;
	(void)actor;
	if (!gs) {
		sw_errf(err, SW_ENOTFOUND, "source \"%s\" not found", name ? name : "");
		return 0;
	}
	struct waiter *w = xcalloc(1, sizeof(*w));
	w->id = ++g->next_waiter;
	w->cb = cb;
	w->data = data;
	/* a fetch that runs now may have started before the ask: wait for the next */
	w->need_gen = gs->fetch_gen + (gs->fetch_id ? 2 : 1);
	w->plan = plan;
	w->next = gs->waiters;
	gs->waiters = w;
	if (plan) {
		if (!gs->fetch_id)
			gs->plan_only = true; /* else the next fetch syncs as it would */
	} else {
		gs->manual = true;
		gs->plan_only = false;
	}
	if (resume && json_object_size(gs->paused)) {
		const char *app;
		json_t *why;
		json_object_foreach(gs->paused, app, why)
			engine_event(g->e, app, "SyncResumed", actor, "source %s: sync resumed", gs->name);
		json_object_clear(gs->paused);
		save_status(gs);
	}
	gitops_fetch(gs);
	return w->id;
}

void gitops_sync_cancel(struct gitops *g, uint64_t id)
{
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&g->sources, &it, &k, &v)) {
		struct gsrc *gs = v;
		for (struct waiter **pp = &gs->waiters; *pp; pp = &(*pp)->next)
			if ((*pp)->id == id) {
				struct waiter *w = *pp;
				*pp = w->next;
				free(w);
				return;
			}
	}
}

/* One item of a plan: an App's key split into name and environment, as
 * the API names apps. */
static json_t *plan_item(const char *kind, const char *name, const char *action)
{
	char env[64];
	const char *bare = name;
	if (strcmp(kind, "App") == 0)
		spec_key_split(name, env, &bare);
	json_t *it = json_pack("{s:s, s:s, s:s}", "kind", kind, "name", bare, "action", action);
	if (strcmp(kind, "App") == 0)
		json_object_set_new(it, "environment", json_string(env));
	return it;
}

json_t *gitops_plan(struct gsrc *gs, struct sw_err *err)
{
	struct loaded l;
	char **gone = NULL;
	size_t ngone = 0;
	json_t *plan = NULL;
	if (!gs->fetched[0]) {
		sw_errf(err, SW_ECONFLICT, "source \"%s\" has not been fetched yet%s%s", gs->name,
			gs->fetch_error ? ": " : "", gs->fetch_error ? gs->fetch_error : "");
		return NULL;
	}
	if (load_commit(gs, NULL, gs->fetched, &l, err) < 0)
		return NULL;
	struct engine_results res = {0};
	char *actor = gitops_actor(gs);
	if (engine_apply_dry_run(gs->g->e, l.docs, l.n, actor, &res, err) < 0)
		goto out;
	json_t *items = json_array();
	for (size_t i = 0; i < res.n; i++) {
		const struct engine_result *r = &res.r[i];
		const char *action = strcmp(r->result, "created") == 0	   ? "create"
				     : strcmp(r->result, "configured") == 0 ? "update"
									    : "unchanged";
		json_t *it = plan_item(r->kind, r->name, action);
		if (r->live)
			json_object_set(it, "live", r->live);
		if (r->merged)
			json_object_set(it, "desired", r->merged);
		json_array_append_new(items, it);
	}
	ngone = gone_apps(gs, l.apps, &gone);
	for (size_t i = 0; i < ngone; i++) {
		const char *name, *kind = owned_kind_of(gone[i], &name);
		char use[200] = "prune is off";
		bool keep = !gs->spec->prune || kept_in_use(gs, gone[i], use, sizeof(use));
		json_t *it = plan_item(kind, name, keep ? "keep" : "prune");
		if (keep)
			json_object_set_new(it, "reason", json_string(use));
		json_array_append_new(items, it);
	}
	plan = json_pack("{s:s, s:s, s:o}", "source", gs->name, "commit", gs->fetched, "plan", items);
	if (gs->spec->prune && prunes_every_app(l.apps, gone, ngone) && !gs->spec->allow_empty)
		json_object_set_new(plan, "refused",
				    json_string("the commit would prune every app of the source; "
						"set syncPolicy.allowEmpty: true to allow it"));
out:
	engine_results_release(&res);
	free_names(gone, ngone);
	loaded_release(&l);
	free(actor);
	return plan;
}
