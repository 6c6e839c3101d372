/* An environment's Patch merged onto a base App (patch.h has the rules). */
#include "patch.h"

#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"

struct snode *snode_copy(const struct snode *n, const char *file)
{
	struct snode *c = xcalloc(1, sizeof(*c));
	*c = *n;
	c->file = n->file ? n->file : file;
	c->text = n->text ? xstrdup(n->text) : NULL;
	c->kids = NULL;
	c->nkids = c->cap = 0;
	if (n->nkids) {
		c->kids = xcalloc(n->nkids, sizeof(*c->kids));
		c->cap = n->nkids;
		for (size_t i = 0; i < n->nkids; i++)
			c->kids[c->nkids++] = snode_copy(n->kids[i], file);
	}
	return c;
}

/* The index of key's value in a MAP's kids, or -1. */
static long map_find(const struct snode *map, const char *key)
{
	for (size_t i = 0; i + 1 < map->nkids; i += 2)
		if (strcmp(map->kids[i]->text, key) == 0)
			return (long)i + 1;
	return -1;
}

static void map_delete(struct snode *map, long at)
{
	snode_free(map->kids[at - 1]);
	snode_free(map->kids[at]);
	memmove(&map->kids[at - 1], &map->kids[at + 1], (map->nkids - (size_t)at - 1) * sizeof(*map->kids));
	map->nkids -= 2;
}

/* Puts value (owned) under a copy of key in map, replacing what was there. */
static void map_put(struct snode *map, const struct snode *key, struct snode *value, const char *file)
{
	long at = map_find(map, key->text);
	if (at >= 0) {
		snode_free(map->kids[at]);
		map->kids[at] = value;
		return;
	}
	snode_kid_add(map, snode_copy(key, file));
	snode_kid_add(map, value);
}

struct snode *snode_scalar_at(const char *text, const struct snode *at, const char *file)
{
	struct snode *s = xcalloc(1, sizeof(*s));
	s->type = SN_SCALAR;
	s->text = xstrdup(text);
	s->len = strlen(text);
	s->line = at->kline ? at->kline : at->line;
	s->col = at->kline ? at->kcol : at->col;
	s->file = at->file ? at->file : file;
	return s;
}

static int perr(struct sw_err *err, const struct snode *n, const char *file, const char *msg)
{
	return sw_errf(err, -1, "%s:%d:%d: %s", n->file ? n->file : file, n->line, n->col, msg);
}

/* ---- spec.run.env: merged by name ---- */

/* The env list form of n (a copy): a mapping's NAME: VALUE pairs become
 * {name, value} items at the key's position. */
static struct snode *env_as_list(const struct snode *n, const char *file)
{
	if (n->type != SN_MAP)
		return snode_copy(n, file);
	struct snode *l = xcalloc(1, sizeof(*l));
	l->type = SN_SEQ;
	l->line = n->line;
	l->col = n->col;
	l->file = n->file ? n->file : file;
	for (size_t i = 0; i + 1 < n->nkids; i += 2) {
		const struct snode *k = n->kids[i], *v = n->kids[i + 1];
		struct snode *item = xcalloc(1, sizeof(*item));
		item->type = SN_MAP;
		item->line = k->line;
		item->col = k->col;
		item->file = l->file;
		struct snode kn = {.type = SN_SCALAR, .text = "name", .len = 4, .line = k->line, .col = k->col};
		snode_kid_add(item, snode_copy(&kn, l->file));
		snode_kid_add(item, snode_copy(k, file));
		if (v->type != SN_NULL) {
			struct snode vk = {.type = SN_SCALAR, .text = "value", .len = 5, .line = v->line, .col = v->col};
			snode_kid_add(item, snode_copy(&vk, l->file));
			snode_kid_add(item, snode_copy(v, file));
		} else {
			/* NAME: null in a patch: a deletion, said the list's way */
			struct snode pk = {.type = SN_SCALAR, .text = "$patch", .len = 6, .line = v->line, .col = v->col};
			snode_kid_add(item, snode_copy(&pk, l->file));
			snode_kid_add(item, snode_scalar_at("delete", v, l->file));
		}
		snode_kid_add(l, item);
	}
	return l;
}

static const char *item_name(const struct snode *item)
{
	const struct snode *n = item->type == SN_MAP ? snode_get(item, "name") : NULL;
	return n && n->type == SN_SCALAR ? n->text : NULL;
}

static int merge_env(struct snode *dst_parent, const struct snode *key, const struct snode *patch,
		     const char *file, struct sw_err *err)
{
	long at = map_find(dst_parent, key->text);
	struct snode *base = at >= 0 ? dst_parent->kids[at] : NULL;
	if (!base || base->type == SN_NULL || (base->type == SN_MAP && patch->type == SN_MAP)) {
		if (base && base->type == SN_MAP) {
			/* both mappings: by key, null deletes */
			for (size_t i = 0; i + 1 < patch->nkids; i += 2) {
				long j = map_find(base, patch->kids[i]->text);
				if (patch->kids[i + 1]->type == SN_NULL) {
					if (j >= 0)
						map_delete(base, j);
				} else
					map_put(base, patch->kids[i], snode_copy(patch->kids[i + 1], file), file);
			}
			return 0;
		}
		map_put(dst_parent, key, snode_copy(patch, file), file);
		return 0;
	}
	if ((base->type != SN_MAP && base->type != SN_SEQ) || (patch->type != SN_MAP && patch->type != SN_SEQ)) {
		map_put(dst_parent, key, snode_copy(patch, file), file);
		return 0;
	}
	struct snode *list = env_as_list(base, NULL), *items = env_as_list(patch, file);
	int rc = 0;
	for (size_t i = 0; i < items->nkids && rc == 0; i++) {
		const struct snode *it = items->kids[i];
		const char *name = item_name(it);
		const struct snode *op = it->type == SN_MAP ? snode_get(it, "$patch") : NULL;
		if (op && (op->type != SN_SCALAR || strcmp(op->text, "delete") != 0)) {
			rc = perr(err, op, file, "$patch must be \"delete\" (the only patch directive of an env item)");
			break;
		}
		long found = -1;
		for (size_t j = 0; name && j < list->nkids; j++)
			if (item_name(list->kids[j]) && strcmp(item_name(list->kids[j]), name) == 0)
				found = (long)j;
		if (op) {
			if (found >= 0) {
				snode_free(list->kids[found]);
				memmove(&list->kids[found], &list->kids[found + 1],
					(list->nkids - (size_t)found - 1) * sizeof(*list->kids));
				list->nkids--;
			}
			continue;
		}
		struct snode *copy = snode_copy(it, file);
		if (found >= 0) {
			snode_free(list->kids[found]);
			list->kids[found] = copy;
		} else
			snode_kid_add(list, copy);
	}
	snode_free(items);
	if (rc < 0) {
		snode_free(list);
		return rc;
	}
	map_put(dst_parent, key, list, file);
	return 0;
}

/* ---- the general merge ---- */

static int merge_map(struct snode *dst, const struct snode *patch, struct buf *path, const char *file,
		     struct sw_err *err);

/* One key of the patch into dst (a MAP), at path (the key's, dotted). */
static int merge_key(struct snode *dst, const struct snode *key, const struct snode *val, struct buf *path,
		     const char *file, struct sw_err *err)
{
	long at = map_find(dst, key->text);
	if (val->type == SN_NULL) {
		if (at >= 0)
			map_delete(dst, at);
		return 0;
	}
	if (strcmp(path->s, "spec.run.env") == 0)
		return merge_env(dst, key, val, file, err);
	struct snode *cur = at >= 0 ? dst->kids[at] : NULL;
	bool other_strategy = false;
	if (strcmp(path->s, "spec.strategy") == 0 && cur && cur->type == SN_MAP && val->type == SN_MAP)
		for (size_t i = 0; i + 1 < val->nkids; i += 2)
			if (map_find(cur, val->kids[i]->text) < 0)
				other_strategy = true;
	if (!cur || cur->type != SN_MAP || val->type != SN_MAP || other_strategy) {
		map_put(dst, key, snode_copy(val, file), file);
		return 0;
	}
	return merge_map(cur, val, path, file, err);
}

static int merge_map(struct snode *dst, const struct snode *patch, struct buf *path, const char *file,
		     struct sw_err *err)
{
	size_t keep = path->len;
	for (size_t i = 0; i + 1 < patch->nkids; i += 2) {
		buf_addf(path, ".%s", patch->kids[i]->text);
		int rc = merge_key(dst, patch->kids[i], patch->kids[i + 1], path, file, err);
		path->len = keep;
		path->s[keep] = '\0';
		if (rc < 0)
			return rc;
	}
	return 0;
}

int spec_patch_merge(struct snode **out, const struct snode *base, const struct snode *patch,
		     const char *patch_file, struct sw_err *err)
{
	*out = NULL;
	if (base->type != SN_MAP || patch->type != SN_MAP)
		return perr(err, patch, patch_file, "a patch and its base must be mappings");
	struct snode *doc = snode_copy(base, NULL);
	struct buf path = BUF_INIT;
	int rc = 0;
	const struct snode *spec = snode_get(patch, "spec"), *meta = snode_get(patch, "metadata");
	const struct snode *labels = meta && meta->type == SN_MAP ? snode_get(meta, "labels") : NULL;
	if (spec && spec->type != SN_NULL && spec->type != SN_MAP)
		rc = perr(err, spec, patch_file, "spec of a Patch must be a mapping of App spec fields");
	if (rc == 0 && spec && spec->type == SN_MAP) {
		long at = map_find(doc, "spec");
		if (at < 0 || doc->kids[at]->type != SN_MAP) {
			struct snode key = {.type = SN_SCALAR, .text = "spec", .len = 4, .line = spec->kline,
					    .col = spec->kcol};
			struct snode empty = {.type = SN_MAP, .line = spec->line, .col = spec->col};
			map_put(doc, &key, snode_copy(&empty, patch_file), patch_file);
			at = map_find(doc, "spec");
		}
		buf_adds(&path, "spec");
		rc = merge_map(doc->kids[at], spec, &path, patch_file, err);
	}
	if (rc == 0 && labels && labels->type == SN_MAP) {
		long at = map_find(doc, "metadata");
		if (at >= 0 && doc->kids[at]->type == SN_MAP) {
			buf_reset(&path);
			buf_adds(&path, "metadata");
			struct snode key = {.type = SN_SCALAR, .text = "labels", .len = 6,
					    .line = labels->kline, .col = labels->kcol};
			buf_adds(&path, ".labels");
			rc = merge_key(doc->kids[at], &key, labels, &path, patch_file, err);
		}
	}
	buf_release(&path);
	if (rc < 0) {
		snode_free(doc);
		return rc;
	}
	*out = doc;
	return 0;
}
