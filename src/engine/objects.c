/*
 * Objects: documents of the kinds modules register (Source, later
 * Environment, Pipeline...). The engine stores them as it stores
 * templates, inside the apply's transaction, and tells the kind's module
 * (its watcher) after the commit; what they mean is the module's.
 */
#include "engine_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void engine_watch(struct engine *e, const char *kind, engine_object_cb cb, void *data)
{
	for (size_t i = 0; i < e->nwatch; i++)
		if (strcmp(e->watch[i].kind, kind) == 0) {
			e->watch[i].cb = cb;
			e->watch[i].data = data;
			return;
		}
	e->watch = xrealloc(e->watch, (e->nwatch + 1) * sizeof(*e->watch));
	e->watch[e->nwatch++] = (struct engine_watcher){xstrdup(kind), cb, data};
}

void engine_watch_notify(struct engine *e, const char *kind, const char *name, const json_t *json,
			 const char *owner)
{
	for (size_t i = 0; i < e->nwatch; i++)
		if (strcmp(e->watch[i].kind, kind) == 0 && e->watch[i].cb)
			e->watch[i].cb(kind, name, json, owner, e->watch[i].data);
}

void engine_watch_release(struct engine *e)
{
	for (size_t i = 0; i < e->nwatch; i++)
		free(e->watch[i].kind);
	free(e->watch);
	e->watch = NULL;
	e->nwatch = 0;
}

/* "Source" -> "source", for messages */
void engine_kind_word(char *out, size_t size, const char *kind)
{
	size_t k = 0;
	for (; kind[k] && k + 1 < size; k++)
		out[k] = (char)tolower((unsigned char)kind[k]);
	out[k] = '\0';
}

int engine_record_object(struct engine *e, const struct spec_doc *d, const char *source,
			 const struct engine_origin *origin, const char *actor, bool dry_run,
			 struct engine_results *res, struct engine_object_change *change,
			 struct sw_err *err)
{
	struct store *s = e->cfg.store;
	const char *name = d->kind->name_of(d->obj);
	json_t *j = d->kind->to_json(d->obj);
	char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	struct store_object old = {0};
	struct sw_err gerr = {0};
	char word[64];
	int r = -1;

	engine_kind_word(word, sizeof(word), d->kind->name);
	memset(change, 0, sizeof(*change));
	bool found = store_object_get(s, d->kind->name, name, &old, &gerr) == 0;
	const char *owner = origin ? origin->owner : found ? old.owner : "";
	if (found && origin && *old.owner && strcmp(old.owner, origin->owner) != 0) {
		r = sw_errf(err, SW_ECONFLICT, "%s: %s \"%s\" belongs to source \"%s\"; source \"%s\" "
			    "defines it too (a document belongs to one source)",
			    d->kind->source_of(d->obj), word, name, old.owner, origin->owner);
		goto out;
	}
	bool changed = !found || strcmp(old.spec_json, text) != 0 || strcmp(old.owner, owner) != 0;
	json_t *live = NULL;
	if (dry_run && found)
		live = json_loads(old.spec_json, 0, NULL);
	engine_result_add(res, d->kind->name, name, 0, !found ? "created" : changed ? "configured" : "unchanged",
		   live, dry_run ? json_incref(j) : NULL);
	if (!changed) {
		r = 0;
		goto out;
	}
	struct store_object row = {.kind = (char *)d->kind->name, .name = (char *)name, .spec_json = text,
				   .source = (char *)source, .owner = (char *)owner};
	if (store_object_put(s, &row, err) < 0)
		goto out;
	char why[300];
	snprintf(why, sizeof(why), "%s \"%s\" %s from %s", word, name, found ? "configured" : "created",
		 source ? source : "the API");
	if (store_event_add(s, "", found ? "Configured" : "Created", why, actor, &change->event_id,
			    err) < 0)
		goto out;
	change->kind = d->kind->name;
	change->name = name;
	change->json = json_incref(j);
	change->owner = xstrdup(owner);
	change->event_kind = found ? "Configured" : "Created";
	sw_strlcpy(change->why, why, sizeof(change->why));
	r = 0;
out:
	store_object_release(&old);
	free(text);
	json_decref(j);
	return r;
}

void engine_object_change_release(struct engine_object_change *c)
{
	json_decref(c->json);
	free(c->owner);
	memset(c, 0, sizeof(*c));
}

int engine_objects(struct engine *e, const char *kind, struct store_object **out, size_t *n,
		   struct sw_err *err)
{
	return store_object_list(e->cfg.store, kind, out, n, err);
}

int engine_object_get(struct engine *e, const char *kind, const char *name,
		      struct store_object *out, struct sw_err *err)
{
	struct sw_err serr = {0};
	int r = store_object_get(e->cfg.store, kind, name, out, &serr);
	if (r == SW_ENOTFOUND) {
		char word[64];
		engine_kind_word(word, sizeof(word), kind);
		return sw_errf(err, SW_ENOTFOUND, "%s \"%s\" not found", word, name);
	}
	if (r < 0)
		return sw_errf(err, serr.code, "%s", serr.msg);
	return 0;
}

int engine_object_status(struct engine *e, const char *kind, const char *name, const char *status,
			 struct sw_err *err)
{
	engine_store_wait(e, false);
	int r = store_object_status(e->cfg.store, kind, name, status, err);
	engine_store_wait(e, true);
	return r;
}

int engine_object_delete(struct engine *e, const char *kind, const char *name, const char *actor,
			 struct sw_err *err)
{
	struct store_object old = {0};
	char word[64];
	int r = engine_object_get(e, kind, name, &old, err);
	if (r < 0)
		return r;
	engine_kind_word(word, sizeof(word), kind);
	r = store_object_delete(e->cfg.store, kind, name, err);
	if (r == 0) {
		engine_event(e, NULL, "Deleted", actor, "%s \"%s\" deleted", word, name);
		engine_watch_notify(e, kind, name, NULL, old.owner);
	}
	store_object_release(&old);
	return r;
}
