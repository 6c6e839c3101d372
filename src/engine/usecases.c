/*
 * The use cases: apply, rollback, delete and the rollout commands. Each
 * validates everything first, records the change in the store, and only
 * then changes the live state, so that a failure changes nothing.
 */
#include "engine_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/sha256.h"
#include "store/store.h"

void engine_results_release(struct engine_results *res)
{
	for (size_t i = 0; i < res->n; i++) {
		json_decref(res->r[i].live);
		json_decref(res->r[i].merged);
	}
	free(res->r);
	res->r = NULL;
	res->n = 0;
}

/* Adds a result; takes live and merged (may be NULL). */
void engine_result_add(struct engine_results *res, const char *kind, const char *name,
		       int64_t revision, const char *result, json_t *live, json_t *merged)
{
	res->r = xrealloc(res->r, (res->n + 1) * sizeof(*res->r));
	res->r[res->n++] = (struct engine_result){kind, name, revision, result, live, merged};
}

/* An App's canonical JSON with its labels in metadata.labels (a dry
 * run's live and merged): what one apply stores, in one document. */
static json_t *app_doc(const struct spec_app *sa, const json_t *labels)
{
	json_t *j = spec_app_to_json(sa);
	if (json_object_size(labels))
		json_object_set_new(json_object_get(j, "metadata"), "labels", json_deep_copy(labels));
	return j;
}

/* Secret values never leave the daemon. In a dry run's live and merged
 * (the env lists of run and hooks: objects with "secret": true), each
 * becomes "***", or "*** (before)" and "*** (after)" when the apply
 * changes it, so that a diff shows that it changes and not to what. */
/* One secret env item's value masked (an age value's ciphertext too,
 * valueFrom.age, which is dropped). */
static void mask_value(json_t *item, const char *mask)
{
	json_object_set_new(item, "value", json_string(mask));
	json_object_del(item, "valueFrom");
}

static void mask_secrets(json_t *live, json_t *merged)
{
	if (json_is_object(merged) && json_is_true(json_object_get(merged, "secret"))) {
		bool same = json_is_object(live);
		for (int k = 0; same && k < 2; k++) {
			const char *key = k ? "valueFrom" : "value";
			json_t *a = json_object_get(live, key), *b = json_object_get(merged, key);
			same = (!a && !b) || json_equal(a, b);
		}
		if (json_is_object(live) && json_is_true(json_object_get(live, "secret")))
			mask_value(live, same ? "***" : "*** (before)");
		mask_value(merged, same ? "***" : "*** (after)");
		return;
	}
	if (json_is_object(live) && json_is_true(json_object_get(live, "secret")))
		mask_value(live, "***");
	if (json_is_object(merged) || json_is_object(live)) {
		const char *k;
		json_t *x;
		json_object_foreach(merged, k, x)
			mask_secrets(json_object_get(live, k), x);
		json_object_foreach(live, k, x)
			if (!json_object_get(merged, k))
				mask_secrets(x, NULL);
	} else if (json_is_array(merged) || json_is_array(live)) {
		/* list items by name where they have one (env), else by place */
		size_t i, k, nlive = json_array_size(live);
		bool *paired = xcalloc(nlive + 1, sizeof(*paired));
		json_t *x, *y;
		json_array_foreach(merged, i, x) {
			json_t *other = NULL;
			json_t *nm = json_object_get(x, "name");
			json_array_foreach(live, k, y)
				if (!paired[k] && (json_is_string(nm) ? json_equal(json_object_get(y, "name"), nm)
								      : k == i)) {
					other = y;
					paired[k] = true;
					break;
				}
			mask_secrets(other, x);
		}
		json_array_foreach(live, k, y)
			if (!paired[k])
				mask_secrets(y, NULL);
		free(paired);
	}
}

bool engine_docs_apply(const struct engine_doc *docs, size_t ndocs, const char *key)
{
	for (size_t x = 0; x < ndocs; x++)
		for (size_t k = 0; k < docs[x].set->napps; k++)
			if (strcmp(docs[x].set->apps[k]->key, key) == 0)
				return true;
	return false;
}

/* One app may appear once across all documents of an apply; the message
 * is spec.c's for two in one file (add_document), word for word. */
static int check_unique(const struct engine_doc *docs, size_t ndocs, struct sw_err *err)
{
	struct sw_map seen;
	int r = 0;
	sw_map_init(&seen);
	for (size_t x = 0; x < ndocs && r == 0; x++)
		for (size_t k = 0; k < docs[x].set->napps && r == 0; k++) {
			struct spec_app *sa = docs[x].set->apps[k];
			struct spec_app *first = sw_map_get(&seen, sa->key);
			if (first)
				r = sw_errf(err, SW_EINVAL, "%s: app \"%s\" is defined twice (first at %s)",
					    sa->source, sa->key, first->source);
			else
				sw_map_put(&seen, sa->key, sa);
		}
	sw_map_release(&seen);
	return r;
}

/* ---- routes: one listener + host + pathPrefix serves one app ---- */

struct route_key {
	const char *listen, *host, *prefix;
};

/* The keys the app's entries in the route table will have. */
static size_t route_keys(const struct spec_app *a, struct route_key out[2])
{
	size_t n = 0;
	if (!a || !a->route.listen)
		return 0;
	out[n++] = (struct route_key){a->route.listen, a->route.host,
				      a->route.path_prefix ? a->route.path_prefix : "/"};
	if (a->strategy.kind == SPEC_STRATEGY_BLUEGREEN && a->strategy.preview_listen)
		out[n++] = (struct route_key){a->strategy.preview_listen, NULL, "/"};
	return n;
}

static bool same_key(const struct route_key *x, const struct route_key *y)
{
	bool hosts = (!x->host && !y->host) || (x->host && y->host && strcasecmp(x->host, y->host) == 0);
	return hosts && strcmp(x->listen, y->listen) == 0 && strcmp(x->prefix, y->prefix) == 0;
}

/* A route of `a` that `b` serves already, or NULL. */
static const struct route_key *route_clash(const struct spec_app *a, const struct spec_app *b,
					   struct route_key ka[2])
{
	struct route_key kb[2];
	size_t na = route_keys(a, ka), nb = route_keys(b, kb);
	for (size_t i = 0; i < na; i++)
		for (size_t k = 0; k < nb; k++)
			if (same_key(&ka[i], &kb[k]))
				return &ka[i];
	return NULL;
}

static int clash_error(const struct spec_app *a, const struct route_key *k, const char *other,
		       struct sw_err *err)
{
	return sw_errf(err, SW_EINVAL, "%s: app \"%s\": route %s%s%s%s path %s is already served "
		       "by app \"%s\" (one listen + host + pathPrefix routes to one app)",
		       a->source, a->key, k->listen, k->host ? " host \"" : "", k->host ? k->host : "",
		       k->host ? "\"" : "", k->prefix, other);
}

/*
 * The routes of the applied apps must not clash with each other's or with
 * those of the apps already there (their desired revision): the proxy
 * could not tell them apart. Refused at apply, with the document's
 * position, so that no table the engine derives is ever refused.
 */
static int check_routes(struct engine *e, const struct engine_doc *docs, size_t ndocs,
			struct sw_err *err)
{
	struct route_key k[2];
	for (size_t x = 0; x < ndocs; x++)
		for (size_t i = 0; i < docs[x].set->napps; i++) {
			const struct spec_app *a = docs[x].set->apps[i];
			if (!a->route.listen)
				continue;
			for (size_t y = 0; y <= x; y++)
				for (size_t j = 0; j < (y == x ? i : docs[y].set->napps); j++) {
					const struct route_key *c = route_clash(a, docs[y].set->apps[j], k);
					if (c)
						return clash_error(a, c, docs[y].set->apps[j]->key, err);
				}
			size_t it = 0;
			const char *name;
			void *v;
			while (sw_map_next(&e->apps, &it, &name, &v)) {
				struct engine_app *o = v;
				if (engine_docs_apply(docs, ndocs, o->name) || !o->st.desired)
					continue; /* replaced by this apply */
				struct sw_err serr = {0};
				const struct route_key *c =
					route_clash(a, engine_app_spec(e, o, o->st.desired, &serr), k);
				if (c)
					return clash_error(a, c, o->name, err);
			}
		}
	return 0;
}

/* What an apply will do to one app, decided inside the transaction and
 * made live only after the commit. */
struct pending {
	struct engine_app *app;       /* NULL: a new app */
	const char *name;
	struct rollout_state st;
	const char *result;
	int64_t revision;
	char why[160];                /* the Applied event, stored in the transaction */
	int64_t event_id;
	const char *event_kind;       /* "Applied", or "Labeled" for a change of labels only */
	json_t *labels;               /* the document's labels (borrowed) */
	bool labels_changed;
	json_t *live, *merged;        /* a dry run's (owned until result_add) */
	const char *owner;            /* the app's owner after the apply (borrowed) */
	const char *commit;           /* the origin's commit, NULL for a hand apply */
	bool owner_changed;
	bool window_overridden;       /* passes its environment's windows: record it */
};

static bool labels_equal(const json_t *x, const json_t *y)
{
	if (!json_object_size(x) || !json_object_size(y))
		return json_object_size(x) == json_object_size(y);
	return json_equal(x, y);
}

/*
 * What is stored must read back: a revision the engine cannot load leaves
 * its app stuck (a secret with a CR once did). fuzz_spec checks the same
 * for any document; this refuses, rather than stores, what it missed.
 */
static int check_readable(const char *text, const char *name, struct sw_err *err)
{
	json_t *j = json_loads(text, 0, NULL);
	struct spec_app *back = NULL;
	struct sw_err why = {0};
	int r = j && spec_app_from_json(&back, j, &why) == 0 ? 0 : -1;
	if (r < 0)
		sw_errf(err, -1, "app \"%s\" cannot be stored: its canonical form does not read back (%s); "
			"this is a Slipway bug, please report it", name, j ? why.msg : "not JSON");
	spec_app_unref(back);
	json_decref(j);
	return r;
}

/* The origin as the revision keeps it (JSON text), or NULL. */
static char *origin_text(const struct engine_origin *o)
{
	if (!o)
		return NULL;
	json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:s}", "source", o->owner ? o->owner : "",
			      "commit", o->commit ? o->commit : "", "author", o->author ? o->author : "",
			      "time", (json_int_t)o->time_ms, "subject", o->subject ? o->subject : "");
	char *t = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	json_decref(j);
	return t;
}

/* " from source shop at 1a2b3c4 (\"subject\")", or "" */
static void origin_words(char *out, size_t size, const struct engine_origin *o)
{
	*out = '\0';
	if (o && o->owner)
		snprintf(out, size, " from source %s at %.7s", o->owner, o->commit ? o->commit : "");
}

static int record_app(struct engine *e, const struct spec_app *sa, const char *source,
		      const struct engine_origin *origin, const char *actor, int64_t now,
		      bool dry_run, const struct env_spec *env, const char *override,
		      struct pending *p, struct sw_err *err)
{
	struct store *s = e->cfg.store;
	struct engine_app *a = engine_app_find(e, sa->key);
	char *text = spec_app_canonical(sa);
	char *otext = origin_text(origin);
	char hash[65], from[80];
	bool created_rev = false;
	int r = -1;
	engine_revision_hash(e, text, hash);
	memset(p, 0, sizeof(*p));
	origin_words(from, sizeof(from), origin);
	if (check_readable(text, sa->key, err) < 0)
		goto out;
	if (origin && a && a->owner && strcmp(a->owner, origin->owner) != 0) {
		r = sw_errf(err, SW_ECONFLICT, "%s: app \"%s\" belongs to source \"%s\"; source \"%s\" "
			    "defines it too (an app belongs to one source)", sa->source, sa->key,
			    a->owner, origin->owner);
		goto out;
	}
	p->app = a;
	p->name = sa->key;
	p->event_kind = "Applied";
	p->labels = sa->labels;
	p->labels_changed = !labels_equal(sa->labels, a ? a->labels : NULL);
	p->owner = origin ? origin->owner : a ? a->owner : NULL;
	p->commit = origin ? origin->commit : NULL;
	p->owner_changed = origin && (!a || !a->owner || strcmp(a->owner, origin->owner) != 0);
	if (dry_run) {
		struct sw_err serr = {0};
		const struct spec_app *live = a && a->st.desired
						      ? engine_app_spec(e, a, a->st.desired, &serr) : NULL;
		p->live = live ? app_doc(live, a->labels) : NULL;
		p->merged = app_doc(sa, sa->labels);
	}
	if (a) {
		p->st = a->st;
	} else {
		p->st.phase = ROLLOUT_PROGRESSING;
		p->st.header_step = -1;
		struct store_app row = {.name = sa->key, .phase = "Progressing", .reason = "",
					.created_ms = now, .owner = (char *)p->owner};
		if (store_app_put(s, &row, err) < 0)
			goto out;
	}
	if (store_revision_add(s, sa->key, hash, text, sa->version, source, otext, &p->revision,
			       &created_rev, err) < 0)
		goto out;
	if (p->st.desired == p->revision) {
		p->result = "unchanged";
		r = 0;
		if (p->owner_changed && a) {
			/* an app made by hand now comes from a source: the same
			 * revision, a new owner */
			snprintf(p->why, sizeof(p->why), "owned by source %s from now on", p->owner);
			p->result = "configured";
			p->event_kind = "Owned";
			char *keep = a->owner;
			a->owner = (char *)p->owner; /* what engine_app_save writes */
			r = engine_app_save(e, a, err) < 0 ||
					    store_event_add(s, sa->key, "Owned", p->why, actor,
							    &p->event_id, err) < 0
				    ? -1 : 0;
			a->owner = keep;
			if (r < 0 || !p->labels_changed)
				goto out;
		}
		if (!p->labels_changed)
			goto out;
		/* labels are the app's, not the revision's: no rollout */
		char text[120];
		spec_labels_text(text, sizeof(text), sa->labels, "none");
		snprintf(p->why, sizeof(p->why), "labels set to %s", text);
		p->result = "configured";
		p->event_kind = "Labeled";
		r = store_event_add(s, sa->key, "Labeled", p->why, actor, &p->event_id, err) < 0 ? -1 : 0;
		goto out;
	}
	snprintf(p->why, sizeof(p->why), "applied revision %lld (version %s)%s",
		 (long long)p->revision, sa->version, from);
	rollout_set_desired(&p->st, p->revision, now, p->why);
	engine_depends_hold(e, a, sa, &p->st);
	p->window_overridden = engine_window_hold(e, a, sa, env, &p->st, override);
	p->result = a ? "configured" : "created";
	struct store_app row = {
		.name = sa->key,
		.desired_revision = p->st.desired,
		.stable_revision = p->st.stable,
		.phase = (char *)rollout_phase_name(p->st.phase),
		.reason = p->st.reason,
		.progress_ms = p->st.progress_ms,
		.created_ms = a ? a->created_ms : now,
		.owner = (char *)p->owner,
	};
	if (store_app_put(s, &row, err) < 0 ||
	    store_event_add(s, sa->key, "Applied", p->why, actor, &p->event_id, err) < 0)
		goto out;
	r = 0;
out:
	free(text);
	free(otext);
	return r;
}

/* The stored template's canonical JSON as spec_template.json builds it
 * (so that it compares with a parsed one key for key), or NULL. */
static json_t *template_doc(const char *stored)
{
	json_t *j = stored ? json_loads(stored, 0, NULL) : NULL, *out = NULL;
	struct spec_template *t = NULL;
	struct sw_err err = {0};
	if (j && spec_template_from_json(&t, j, &err) == 0)
		out = json_incref(t->json);
	spec_template_free(t);
	json_decref(j);
	return out;
}

/*
 * Stores a template; its result: "created" the first time, "configured"
 * when it changed or a source adopts it, else "unchanged" (nothing is
 * written). Ownership as record_app's: another source's template is
 * refused, one without an owner is adopted, and a hand apply changes it
 * with its owner kept (the source sees drift). A dry run's live and
 * merged go to res.
 */
static int record_template(struct engine *e, const struct spec_template *t, const char *source,
			   const struct engine_origin *origin, const char *actor, bool dry_run,
			   struct engine_results *res, struct engine_object_change *change,
			   struct sw_err *err)
{
	struct store *s = e->cfg.store;
	char *text = json_dumps(t->json, JSON_SORT_KEYS | JSON_COMPACT);
	char *otext = NULL, hash[65], from[80];
	struct store_template old = {0};
	struct sw_err gerr = {0};
	int r = -1;
	memset(change, 0, sizeof(*change));
	bool found = store_template_get(s, t->name, &old, &gerr) == 0;
	if (found && origin && *old.owner && strcmp(old.owner, origin->owner) != 0) {
		r = sw_errf(err, SW_ECONFLICT, "%s: AnalysisTemplate \"%s\" belongs to source \"%s\"; "
			    "source \"%s\" defines it too (a template belongs to one source)", t->source,
			    t->name, old.owner, origin->owner);
		goto out;
	}
	const char *owner = origin ? origin->owner : found ? old.owner : "";
	bool changed = !found || strcmp(old.spec_json, text) != 0;
	bool adopted = found && strcmp(old.owner, owner) != 0;
	engine_result_add(res, "AnalysisTemplate", t->name, 0,
		   !found ? "created" : changed || adopted ? "configured" : "unchanged",
		   dry_run && found ? template_doc(old.spec_json) : NULL,
		   dry_run ? json_deep_copy(t->json) : NULL);
	r = 0;
	if (!changed && !adopted)
		goto out;
	r = -1;
	otext = origin_text(origin);
	sw_sha256_hex(text, strlen(text), hash);
	struct store_template row = {.name = t->name, .hash = hash, .spec_json = text,
				     .source = (char *)source, .owner = (char *)owner, .origin = otext};
	if (store_template_put(s, &row, err) < 0)
		goto out;
	origin_words(from, sizeof(from), origin);
	if (changed)
		snprintf(change->why, sizeof(change->why), "AnalysisTemplate \"%s\" applied from %s%s",
			 t->name, source, from);
	else
		snprintf(change->why, sizeof(change->why),
			 "AnalysisTemplate \"%s\" owned by source %s from now on", t->name, owner);
	change->event_kind = changed ? "TemplateApplied" : "Owned";
	if (store_event_add(s, "", change->event_kind, change->why, actor, &change->event_id, err) < 0)
		goto out;
	change->kind = "AnalysisTemplate";
	change->name = t->name;
	change->json = json_incref(t->json);
	change->owner = xstrdup(owner);
	r = 0;
out:
	store_template_release(&old);
	free(otext);
	free(text);
	return r;
}

/* engine_apply, or (dry_run) all of it but the commit and what follows. */
static int do_apply(struct engine *e, const struct engine_doc *docs, size_t ndocs, const char *actor,
		    bool dry_run, const char *override, struct engine_results *out, struct sw_err *err)
{
	struct engine_results tmpl = {0}; /* the templates' and objects', after the apps' */
	struct pending *pend = NULL;
	struct engine_object_change *chg = NULL;
	size_t npend = 0, napps = 0, nobj = 0, nchg = 0;
	int64_t now = sw_wall_ms();
	int r = -1;

	memset(out, 0, sizeof(*out));
	if (check_unique(docs, ndocs, err) < 0 || engine_envs_check(e, docs, ndocs, err) < 0 ||
	    check_routes(e, docs, ndocs, err) < 0 || engine_depends_check(e, docs, ndocs, err) < 0 ||
	    engine_keys_check(e, docs, ndocs, err) < 0)
		return SW_EINVAL;
	for (size_t x = 0; x < ndocs; x++) {
		napps += docs[x].set->napps;
		nobj += docs[x].set->ndocs;
	}
	pend = xcalloc(napps + 1, sizeof(*pend));
	chg = xcalloc(nobj + 1, sizeof(*chg));
	if (store_begin(e->cfg.store, err) < 0)
		goto out;
	for (size_t x = 0; x < ndocs; x++)
		for (size_t k = 0; k < docs[x].set->napps; k++)
			if (record_app(e, docs[x].set->apps[k], docs[x].source, docs[x].origin, actor,
				       now, dry_run,
				       engine_env_after(e, docs, ndocs, docs[x].set->apps[k]->environment),
				       override, &pend[npend++], err) < 0)
				goto fail;
	for (size_t x = 0; x < ndocs; x++)
		for (size_t k = 0; k < docs[x].set->ntemplates; k++)
			if (record_template(e, docs[x].set->templates[k], docs[x].source,
					    docs[x].origin, actor, dry_run, &tmpl, &chg[nchg++], err) < 0)
				goto fail;
	for (size_t x = 0; x < ndocs; x++)
		for (size_t k = 0; k < docs[x].set->ndocs; k++) {
			const struct spec_doc *d = &docs[x].set->docs[k];
			if (d->kind == &spec_kind_app || d->kind == &spec_kind_template)
				continue;
			if (engine_record_object(e, d, docs[x].source, docs[x].origin, actor, dry_run,
						 &tmpl, &chg[nchg++], err) < 0)
				goto fail;
		}
	if (dry_run) {
		store_rollback(e->cfg.store);
		for (size_t k = 0; k < npend; k++) {
			engine_result_add(out, "App", pend[k].name, pend[k].revision, pend[k].result,
				   pend[k].live, pend[k].merged);
			pend[k].live = pend[k].merged = NULL;
		}
		goto done;
	}
	if (store_commit(e->cfg.store, err) < 0)
		goto out; /* a failed commit has rolled back */

	for (size_t k = 0; k < npend; k++) {
		struct pending *p = &pend[k];
		struct engine_app *a = p->app;
		if (!a) {
			a = engine_app_add(e, p->name);
			a->created_ms = now;
		}
		a->st = p->st;
		if (p->labels_changed) {
			json_decref(a->labels);
			a->labels = json_object_size(p->labels) ? json_deep_copy(p->labels) : NULL;
			a->extra_dirty = true;
		}
		engine_kick(e, a);
		if (p->event_id) {
			struct engine_event ev = {p->event_id, now, p->name, p->event_kind, p->why, actor};
			sw_info("%s %s: %s", p->name, p->event_kind, p->why);
			engine_notify(e, &ev);
		}
		if (p->window_overridden)
			engine_window_overridden(e, p->name, p->revision, actor, override);
		engine_result_add(out, "App", p->name, p->revision, p->result, NULL, NULL);
		if (p->result && strcmp(p->result, "unchanged") != 0 && strcmp(p->event_kind, "Applied") == 0) {
			sw_strlcpy(a->commit, p->commit ? p->commit : "", sizeof(a->commit));
			engine_app_set_actor(a, actor);
		}
		else if (p->commit && p->owner_changed)
			sw_strlcpy(a->commit, p->commit, sizeof(a->commit));
		if (p->owner_changed) {
			free(a->owner);
			a->owner = p->owner ? xstrdup(p->owner) : NULL;
		}
	}
	for (size_t k = 0; k < nchg; k++) {
		struct engine_object_change *c = &chg[k];
		if (!c->kind)
			continue;
		struct engine_event ev = {c->event_id, now, "", c->event_kind, c->why, actor};
		sw_info("%s", c->why);
		engine_notify(e, &ev);
		engine_watch_notify(e, c->kind, c->name, c->json, c->owner);
	}
done:
	for (size_t k = 0; k < tmpl.n; k++) {
		struct engine_result *t = &tmpl.r[k];
		engine_result_add(out, t->kind, t->name, 0, t->result, t->live, t->merged);
		t->live = t->merged = NULL;
	}
	r = 0;
	goto out;
fail:
	store_rollback(e->cfg.store);
out:
	for (size_t k = 0; k < npend; k++) {
		json_decref(pend[k].live);
		json_decref(pend[k].merged);
	}
	engine_results_release(&tmpl);
	for (size_t k = 0; k < nchg; k++)
		engine_object_change_release(&chg[k]);
	free(chg);
	free(pend);
	if (r < 0)
		r = err->code == SW_EBUSY || err->code == SW_ECONFLICT ? err->code : -1;
	return r;
}

int engine_commit_state(struct engine *e, struct engine_app *a, const struct rollout_state *st,
			struct sw_err *err)
{
	struct rollout_state old = a->st;
	a->st = *st;
	if (engine_app_save(e, a, err) < 0) {
		a->st = old;
		return err->code == SW_EBUSY ? SW_EBUSY : -1;
	}
	engine_kick(e, a);
	return 0;
}

static struct engine_app *find(struct engine *e, const char *name, struct sw_err *err)
{
	struct engine_app *a = engine_app_find(e, name);
	if (!a)
		sw_errf(err, SW_ENOTFOUND, "app \"%s\" not found", name ? name : "");
	return a;
}

static int do_rollback(struct engine *e, const char *app, int64_t to, const char *actor,
		    int64_t *out_revision, bool *unchanged, struct sw_err *err)
{
	struct engine_app *a = find(e, app, err);
	*unchanged = false;
	if (!a)
		return SW_ENOTFOUND;
	if (to == 0) {
		to = a->st.stable > 0 && a->st.stable != a->st.desired ? a->st.stable
								       : a->st.desired - 1;
		if (to < 1)
			return sw_errf(err, SW_ECONFLICT,
				       "app \"%s\" has no earlier revision to roll back to", a->name);
	}
	struct sw_err serr = {0};
	if (!engine_app_spec(e, a, to, &serr))
		return sw_errf(err, serr.code == SW_ENOTFOUND ? SW_ENOTFOUND : -1,
			       "app \"%s\" has no revision %lld", a->name, (long long)to);
	*out_revision = to;
	if (to == a->st.desired && a->st.phase != ROLLOUT_DEGRADED) {
		*unchanged = true;
		return 0;
	}
	struct rollout_state st = a->st;
	char why[160];
	snprintf(why, sizeof(why), "rollback from revision %lld to revision %lld",
		 (long long)a->st.desired, (long long)to);
	rollout_set_desired(&st, to, sw_wall_ms(), why);
	int r = engine_commit_state(e, a, &st, err);
	if (r == 0) {
		engine_app_set_actor(a, actor);
		engine_event(e, a->name, "Rollback", actor, "%s", why);
	}
	return r;
}

/* The commit of a revision's origin JSON text, or NULL (owned by j). */
static const char *origin_commit(json_t **j, const char *origin)
{
	*j = origin && *origin ? json_loads(origin, 0, NULL) : NULL;
	return json_string_value(json_object_get(*j, "commit"));
}

int engine_revision_commit(struct engine *e, const char *app, int64_t revision, char out[41],
			   struct sw_err *err)
{
	struct store_revision rev = {0};
	out[0] = '\0';
	if (store_revision_get(e->cfg.store, app, revision, &rev, err) < 0)
		return err->code == SW_ENOTFOUND ? SW_ENOTFOUND : -1;
	json_t *j;
	const char *c = origin_commit(&j, rev.origin);
	sw_strlcpy(out, c ? c : "", 41);
	json_decref(j);
	store_revision_release(&rev);
	return 0;
}

/*
 * The newest revision of a whose origin commit starts with prefix (4 to
 * 40 hex digits, any case): SW_ENOTFOUND when none does, SW_ECONFLICT
 * when revisions of two different commits do (both named).
 */
static int revision_of_commit(struct engine *e, struct engine_app *a, const char *prefix,
			      int64_t *out, struct sw_err *err)
{
	size_t pl = strlen(prefix);
	char want[41], found[41] = "";
	int64_t before = 0, other = 0;
	char other_commit[41] = "";
	int r = 0;
	if (pl < 4 || pl > 40 || strspn(prefix, "0123456789abcdefABCDEF") != pl)
		return sw_errf(err, SW_EINVAL, "commit \"%s\" must be 4 to 40 hex digits", prefix);
	for (size_t i = 0; i <= pl; i++)
		want[i] = (char)tolower((unsigned char)prefix[i]);
	*out = 0;
	for (;;) {
		struct store_revision *revs = NULL;
		size_t n = 0;
		struct sw_err serr = {0};
		if (store_revision_page(e->cfg.store, a->name, before, ENGINE_PAGE_MAX, &revs, &n, &serr) < 0)
			return sw_errf(err, -1, "cannot read the revisions of \"%s\": %s", a->name, serr.msg);
		for (size_t i = 0; i < n && !other; i++) {
			json_t *j;
			const char *c = origin_commit(&j, revs[i].origin);
			if (c && strncmp(c, want, pl) == 0) {
				if (!*out) {
					*out = revs[i].number;
					sw_strlcpy(found, c, sizeof(found));
				} else if (strcmp(c, found) != 0) {
					other = revs[i].number;
					sw_strlcpy(other_commit, c, sizeof(other_commit));
				}
			}
			json_decref(j);
		}
		before = n ? revs[n - 1].number : 0;
		store_revision_list_free(revs, n);
		if (n < ENGINE_PAGE_MAX || other)
			break;
	}
	if (other)
		r = sw_errf(err, SW_ECONFLICT, "commit \"%s\" is ambiguous for app \"%s\": revision "
			    "%lld is from %.12s, revision %lld from %.12s; give more digits "
			    "(nothing changed)", prefix, a->name, (long long)*out, found,
			    (long long)other, other_commit);
	else if (!*out)
		r = sw_errf(err, SW_ENOTFOUND, "app \"%s\" has no revision from a commit starting "
			    "with \"%s\" (`slipway history %s` lists them; nothing changed)", a->name,
			    prefix, a->name);
	return r;
}

static int do_delete(struct engine *e, const char *app, const char *actor, size_t *stopping,
		  struct sw_err *err)
{
	struct engine_app *a = find(e, app, err);
	if (!a)
		return SW_ENOTFOUND;
	struct sw_err serr = {0};
	if (store_app_delete(e->cfg.store, a->name, &serr) < 0)
		return sw_errf(err, serr.code == SW_EBUSY ? SW_EBUSY : -1, "cannot delete \"%s\": %s",
			       a->name, serr.msg);
	*stopping = a->ninsts;
	engine_event(e, a->name, "Deleted", actor, "app deleted; stopping %zu instances", a->ninsts);
	engine_app_forget(e, a);
	return 0;
}

static const char *const cmd_names[] = {"promote", "abort", "pause", "resume", "retry", "undo",
					"restart"};

int engine_rollout_cmd_parse(const char *name)
{
	for (size_t i = 0; name && i < sizeof(cmd_names) / sizeof(cmd_names[0]); i++)
		if (strcmp(name, cmd_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *engine_rollout_cmd_name(enum engine_rollout_cmd cmd)
{
	return cmd_names[cmd];
}

/* The revision `undo` goes back to: the stable one while a rollout is in
 * progress or aborted, else the newest revision before the desired one. */
static int64_t undo_target(struct engine *e, struct engine_app *a)
{
	if (a->st.stable > 0 && a->st.stable != a->st.desired)
		return a->st.stable;
	struct sw_err err = {0};
	for (int64_t r = a->st.desired - 1; r >= 1; r--)
		if (engine_app_spec(e, a, r, &err))
			return r;
	return 0;
}

static int do_rollout(struct engine *e, const char *app, enum engine_rollout_cmd cmd, bool full,
		   const char *actor, struct sw_err *err)
{
	struct engine_app *a = find(e, app, err);
	char msg[256] = "", why[200];
	int64_t now = sw_wall_ms();
	int r = -1;
	if (!a)
		return SW_ENOTFOUND;
	struct rollout_state st = a->st;
	snprintf(why, sizeof(why), "aborted by %s", actor);
	switch (cmd) {
	case ENGINE_PROMOTE: r = rollout_promote(&st, full, msg, sizeof(msg)); break;
	case ENGINE_ABORT: r = rollout_abort(&st, now, why, full, msg, sizeof(msg)); break;
	case ENGINE_PAUSE: r = rollout_pause(&st, msg, sizeof(msg)); break;
	case ENGINE_RESUME: r = rollout_resume(&st, msg, sizeof(msg)); break;
	case ENGINE_RETRY:
		r = rollout_retry(&st, now, msg, sizeof(msg));
		if (r == 0) { /* rolled out anew: it waits again, as after its apply */
			struct sw_err ignored = {0};
			const struct spec_app *sa = engine_app_spec(e, a, st.desired, &ignored);
			engine_depends_hold(e, a, sa, &st);
			if (sa)
				engine_window_hold(e, a, sa, engine_env_find(e, sa->environment), &st,
						   NULL);
		}
		break;
	case ENGINE_RESTART: r = rollout_restart(&st, now, msg, sizeof(msg)); break;
	case ENGINE_UNDO: {
		int64_t to = undo_target(e, a);
		if (!to) {
			snprintf(msg, sizeof(msg), "no earlier revision to go back to");
			break;
		}
		snprintf(why, sizeof(why), "undo: back to revision %lld at once (no steps, no analysis)",
			 (long long)to);
		rollout_undo(&st, to, now, why);
		r = 0;
		break;
	}
	}
	if (r < 0)
		return sw_errf(err, SW_ECONFLICT, "%s: %s", a->name, msg);
	r = engine_commit_state(e, a, &st, err);
	if (r < 0)
		return r;
	if (cmd == ENGINE_UNDO)
		engine_app_set_actor(a, actor);
	const char *name = cmd_names[cmd];
	char kind[32];
	snprintf(kind, sizeof(kind), "Rollout%c%s", name[0] - 'a' + 'A', name + 1);
	if (cmd == ENGINE_RESTART)
		engine_event(e, a->name, kind, actor, "restart of revision %lld: its instances are "
			     "replaced one at a time", (long long)a->st.desired);
	else
		engine_event(e, a->name, kind, actor, "%s%s", name,
			     !full ? "" : cmd == ENGINE_ABORT ? " --force" : " --full");
	return 0;
}

int engine_apply(struct engine *e, const struct engine_doc *docs, size_t ndocs, const char *actor,
		 struct engine_results *out, struct sw_err *err)
{
	engine_store_wait(e, true);
	int r = do_apply(e, docs, ndocs, actor, false, NULL, out, err);
	engine_store_wait(e, false);
	return r;
}

int engine_apply_override(struct engine *e, const struct engine_doc *docs, size_t ndocs,
			  const char *actor, const char *reason, struct engine_results *out,
			  struct sw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (engine_override_reason_check(reason, err) < 0)
		return SW_EINVAL;
	engine_store_wait(e, true);
	int r = do_apply(e, docs, ndocs, actor, false, reason, out, err);
	engine_store_wait(e, false);
	return r;
}

int engine_apply_dry_run(struct engine *e, const struct engine_doc *docs, size_t ndocs,
			 const char *actor, struct engine_results *out, struct sw_err *err)
{
	engine_store_wait(e, true);
	int r = do_apply(e, docs, ndocs, actor, true, NULL, out, err);
	engine_store_wait(e, false);
	for (size_t i = 0; r == 0 && i < out->n; i++)
		mask_secrets(out->r[i].live, out->r[i].merged);
	return r;
}

json_t *engine_live_doc(struct engine *e, const char *kind, const char *name)
{
	struct sw_err err = {0};
	if (!kind || !name)
		return NULL;
	if (strcmp(kind, "AnalysisTemplate") == 0) {
		struct store_template t = {0};
		json_t *doc = store_template_get(e->cfg.store, name, &t, &err) == 0
				      ? template_doc(t.spec_json) : NULL;
		store_template_release(&t);
		return doc;
	}
	if (strcmp(kind, "App") != 0) {
		struct store_object o = {0};
		if (engine_object_get(e, kind, name, &o, &err) < 0)
			return NULL;
		json_t *j = json_loads(o.spec_json, 0, NULL);
		store_object_release(&o);
		return j;
	}
	struct engine_app *a = engine_app_find(e, name);
	const struct spec_app *sa = a && a->st.desired ? engine_app_spec(e, a, a->st.desired, &err) : NULL;
	json_t *doc = sa ? app_doc(sa, a->labels) : NULL;
	mask_secrets(doc, NULL);
	return doc;
}

int engine_rollback(struct engine *e, const char *app, int64_t to, const char *actor,
		    int64_t *out_revision, bool *unchanged, struct sw_err *err)
{
	engine_store_wait(e, true);
	int r = do_rollback(e, app, to, actor, out_revision, unchanged, err);
	engine_store_wait(e, false);
	return r;
}

int engine_rollback_commit(struct engine *e, const char *app, const char *commit,
			   const char *actor, int64_t *out_revision, bool *unchanged,
			   struct sw_err *err)
{
	struct engine_app *a = find(e, app, err);
	int64_t to = 0;
	*unchanged = false;
	if (!a)
		return SW_ENOTFOUND;
	engine_store_wait(e, true);
	int r = revision_of_commit(e, a, commit, &to, err);
	if (r == 0)
		r = do_rollback(e, app, to, actor, out_revision, unchanged, err);
	engine_store_wait(e, false);
	return r;
}

static int do_template_delete(struct engine *e, const char *name, const char *actor,
			      struct sw_err *err)
{
	struct store_template t = {0};
	struct sw_err serr = {0};
	int64_t revision = 0;
	const struct engine_app *user = NULL;
	int r = store_template_get(e->cfg.store, name, &t, &serr);
	if (r == SW_ENOTFOUND) {
		r = sw_errf(err, SW_ENOTFOUND, "analysistemplate \"%s\" not found", name);
	} else if (r < 0) {
		r = sw_errf(err, serr.code == SW_EBUSY ? SW_EBUSY : -1, "%s", serr.msg);
	} else if ((user = engine_template_user(e, name, &revision))) {
		r = sw_errf(err, SW_ECONFLICT, "analysistemplate \"%s\" is in use by app \"%s\" "
			    "(revision %lld); nothing deleted", name, user->name, (long long)revision);
	} else if (store_template_delete(e->cfg.store, name, &serr) < 0) {
		r = sw_errf(err, serr.code == SW_EBUSY ? SW_EBUSY : -1, "cannot delete \"%s\": %s",
			    name, serr.msg);
	} else {
		engine_event(e, NULL, "TemplateDeleted", actor, "AnalysisTemplate \"%s\" deleted", name);
		engine_watch_notify(e, "AnalysisTemplate", name, NULL, t.owner);
	}
	store_template_release(&t);
	return r;
}

int engine_template_delete(struct engine *e, const char *name, const char *actor,
			   struct sw_err *err)
{
	engine_store_wait(e, true);
	int r = do_template_delete(e, name, actor, err);
	engine_store_wait(e, false);
	return r;
}

int engine_delete(struct engine *e, const char *app, const char *actor, size_t *stopping,
		  struct sw_err *err)
{
	engine_store_wait(e, true);
	int r = do_delete(e, app, actor, stopping, err);
	engine_store_wait(e, false);
	return r;
}

int engine_rollout(struct engine *e, const char *app, enum engine_rollout_cmd cmd, bool full,
		   const char *actor, struct sw_err *err)
{
	engine_store_wait(e, true);
	int r = do_rollout(e, app, cmd, full, actor, err);
	engine_store_wait(e, false);
	if (r == 0)
		engine_reconcile_now(e); /* the answer shows the step the command allows */
	return r;
}
