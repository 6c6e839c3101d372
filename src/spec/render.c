/*
 * render: the Patch kind and overlays (spec.h, "spec_render"): base Apps
 * instantiated per environment with that environment's Patch merged
 * (patch.h has the rules), and the trees printed back as YAML.
 */
#include "spec.h"

#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "fields.h"
#include "node.h"
#include "patch.h"

/* ---- the Patch kind ---- */

static int v_patch_env(struct spec_pctx *c, const struct snode *n, const char *s)
{
	if (spec_v_dns_label(c, n, s) < 0)
		return -1;
	if (strcmp(s, SPEC_ENV_DEFAULT) == 0)
		return spec_perr(c, n, "a Patch is for a named environment; the default one has the "
				 "base App itself");
	return 0;
}

static int parse_patch_spec(struct spec_pctx *c, const struct snode *n, void *base,
			    const struct spec_field *f)
{
	char gotbuf[128];
	(void)base;
	(void)f;
	if (n->type != SN_MAP)
		return spec_perr(c, n, "spec of a Patch must be a mapping of App spec fields, got %s",
				 SPEC_GOT(n));
	return spec_patch_check(c, n);
}

static const struct spec_ftype t_patch_spec = {parse_patch_spec, NULL, NULL};

static const struct spec_field meta_patch_fields[] = {
	{"name", &spec_t_str, offsetof(struct spec_patch, name), SPEC_F_REQUIRED, 0, spec_v_dns_label, 0},
	{"environment", &spec_t_str, offsetof(struct spec_patch, environment), SPEC_F_REQUIRED, 0,
	 v_patch_env, 0},
	{"labels", &spec_t_labels, offsetof(struct spec_patch, labels), SPEC_F_NOEMIT, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

const struct spec_table spec_patch_meta_table = {meta_patch_fields, -1, 0, NULL, NULL};

static const struct spec_field patch_doc_fields[] = {
	{"apiVersion", &spec_t_api_version, 0, SPEC_F_REQUIRED, 0, NULL, 0},
	{"kind", &spec_t_kind, 0, SPEC_F_REQUIRED, 0, "Patch", 0},
	{"metadata", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &spec_patch_meta_table, 0},
	{"spec", &t_patch_spec, 0, SPEC_F_REQUIRED, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table patch_doc_table = {patch_doc_fields, -1, 0, NULL, NULL};

static void patch_free(void *obj)
{
	struct spec_patch *p = obj;
	if (!p)
		return;
	spec_table_free(&patch_doc_table, p);
	free(p->key);
	free(p->source);
	free(p);
}

static int patch_parse(struct spec_pctx *c, const struct snode *root, void **out)
{
	struct spec_patch *p = xcalloc(1, sizeof(*p));
	if (spec_table_parse(c, root, p, &patch_doc_table) < 0) {
		patch_free(p);
		return -1;
	}
	char key[SPEC_KEY_MAX];
	p->key = xstrdup(spec_key(key, p->environment, p->name));
	p->source = spec_position(c->file, root);
	*out = p;
	return 0;
}

static const char *patch_name(const void *obj)
{
	return ((const struct spec_patch *)obj)->key;
}

static const char *patch_source(const void *obj)
{
	return ((const struct spec_patch *)obj)->source;
}

/* A Patch is never stored (spec_render takes it away first): its JSON
 * says which it is. */
static json_t *patch_json(const void *obj)
{
	const struct spec_patch *p = obj;
	return json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "slipway/v1", "kind", "Patch",
			 "metadata", "name", p->name, "environment", p->environment);
}

const struct spec_kind spec_kind_patch = {"Patch", patch_parse, patch_name, patch_source, patch_json,
					  patch_free};

/* ---- render ---- */

const struct spec_patch *spec_sets_patch_at(struct spec_set *const *sets, size_t nsets, size_t at)
{
	for (size_t i = 0; i < nsets; i++)
		for (size_t k = 0; k < sets[i]->ndocs; k++)
			if (sets[i]->docs[k].kind == &spec_kind_patch && at-- == 0)
				return sets[i]->docs[k].obj;
	return NULL;
}

const struct spec_patch *spec_sets_patch(struct spec_set *const *sets, size_t nsets)
{
	return spec_sets_patch_at(sets, nsets, 0);
}

/* Sets metadata.environment of an App's tree (metadata is a mapping: the
 * App parsed), its nodes placed at `at` (the Patch's metadata.environment,
 * or the base's metadata) in `file` (NULL: the document's own). */
static void tree_set_env(struct snode *doc, const char *env, const struct snode *at, const char *file)
{
	struct snode *meta = NULL;
	for (size_t i = 0; i + 1 < doc->nkids; i += 2)
		if (strcmp(doc->kids[i]->text, "metadata") == 0)
			meta = doc->kids[i + 1];
	SW_ASSERT(meta && meta->type == SN_MAP);
	for (size_t i = 0; i + 1 < meta->nkids; i += 2)
		if (strcmp(meta->kids[i]->text, "environment") == 0) {
			snode_free(meta->kids[i + 1]);
			meta->kids[i + 1] = snode_scalar_at(env, at, file);
			return;
		}
	/* after the name, where a user writes it */
	size_t after = 0;
	for (size_t i = 0; i + 1 < meta->nkids; i += 2)
		if (strcmp(meta->kids[i]->text, "name") == 0)
			after = i + 2;
	snode_kid_add(meta, NULL);
	snode_kid_add(meta, NULL);
	memmove(&meta->kids[after + 2], &meta->kids[after], (meta->nkids - 2 - after) * sizeof(*meta->kids));
	meta->kids[after] = snode_scalar_at("environment", at, file);
	meta->kids[after + 1] = snode_scalar_at(env, at, file);
}

struct patch_at {
	struct spec_doc *doc;
	const struct spec_patch *p;
	struct spec_doc *base;       /* the App it is for */
};

/* The base App named `name` (no metadata.environment) in sets, or NULL. */
static struct spec_doc *find_base(struct spec_set *const *sets, size_t nsets, const char *name)
{
	for (size_t i = 0; i < nsets; i++)
		for (size_t k = 0; k < sets[i]->ndocs; k++) {
			struct spec_doc *d = &sets[i]->docs[k];
			const struct spec_app *a = d->obj;
			if (d->kind == &spec_kind_app && !a->environment_at && d->tree &&
			    strcmp(a->name, name) == 0)
				return d;
		}
	return NULL;
}

/* The base with the patch merged (p NULL: the base alone) in environment
 * env, parsed into *out. */
static int instantiate(struct spec_doc *out, const struct spec_doc *base, const struct patch_at *p,
		       const char *env, struct sw_err *err)
{
	struct snode *m = NULL;
	if (!p)
		m = snode_copy(base->tree, NULL);
	else if (spec_patch_merge(&m, base->tree, p->doc->tree, p->doc->file, err) < 0)
		return -1;
	const struct snode *at = NULL;
	const char *file = NULL;
	if (p) {
		const struct snode *meta = snode_get(p->doc->tree, "metadata");
		const struct snode *e = snode_get(meta, "environment");
		at = e ? e : meta;
		file = p->doc->file;
	} else
		at = snode_get(base->tree, "metadata");
	tree_set_env(m, env, at, file);
	return spec_parse_tree(out, m, base->file, base->dir, err);
}

/* The unpatched base d put into env itself: what instantiate would give
 * without a second parse. */
static void move_to_env(struct spec_doc *d, const char *env)
{
	struct spec_app *a = d->obj;
	char key[SPEC_KEY_MAX];
	if (spec_env_is_default(env))
		return;
	a->environment = xstrdup(env);
	free(a->key);
	a->key = xstrdup(spec_key(key, env, a->name));
	tree_set_env(d->tree, env, snode_get(d->tree, "metadata"), NULL);
}

static bool has_env(const char *const *envs, size_t n, const char *env)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(spec_env_is_default(envs[i]) ? SPEC_ENV_DEFAULT : envs[i],
			   spec_env_is_default(env) ? SPEC_ENV_DEFAULT : env) == 0)
			return true;
	return false;
}

/* What one set becomes: its documents, each either one of the set's
 * (fresh false; keep[k] marks the set's k-th as taken) or made here
 * (fresh), and for a base moved into its one environment that name. */
struct out {
	struct spec_doc *v;
	bool *fresh;
	const char **move_to;
	size_t n;
	bool *keep;
};

static void out_push(struct out *o, struct spec_doc d, bool fresh, const char *move_to)
{
	o->v = xrealloc(o->v, (o->n + 1) * sizeof(*o->v));
	o->fresh = xrealloc(o->fresh, (o->n + 1) * sizeof(*o->fresh));
	o->move_to = xrealloc(o->move_to, (o->n + 1) * sizeof(*o->move_to));
	o->v[o->n] = d;
	o->fresh[o->n] = fresh;
	o->move_to[o->n++] = move_to;
}

/* The set's views (apps, templates) made again from its docs. */
static void set_views(struct spec_set *set)
{
	set->napps = set->ntemplates = 0;
	free(set->apps);
	free(set->templates);
	set->apps = xcalloc(set->ndocs + 1, sizeof(*set->apps));
	set->templates = xcalloc(set->ndocs + 1, sizeof(*set->templates));
	for (size_t i = 0; i < set->ndocs; i++)
		if (set->docs[i].kind == &spec_kind_app)
			set->apps[set->napps++] = set->docs[i].obj;
		else if (set->docs[i].kind == &spec_kind_template)
			set->templates[set->ntemplates++] = set->docs[i].obj;
}

static const struct patch_at *patch_for(const struct patch_at *ps, size_t n, const struct spec_doc *base,
					const char *env)
{
	for (size_t i = 0; i < n; i++)
		if (ps[i].base == base && strcmp(ps[i].p->environment, env) == 0)
			return &ps[i];
	return NULL;
}

int spec_render(struct spec_set *const *sets, size_t nsets, const char *const *envs, size_t nenvs,
		unsigned flags, struct sw_err *err)
{
	struct patch_at *ps = NULL;
	struct out *outs = NULL;
	size_t nps = 0;
	int rc = -1;

	/* the patches, each with its base, each merged once to check it */
	for (size_t i = 0; i < nsets; i++)
		for (size_t k = 0; k < sets[i]->ndocs; k++) {
			struct spec_doc *d = &sets[i]->docs[k];
			if (d->kind != &spec_kind_patch)
				continue;
			const struct spec_patch *p = d->obj;
			for (size_t j = 0; j < nps; j++)
				if (strcmp(ps[j].p->key, p->key) == 0) {
					sw_errf(err, SW_EINVAL, "%s: patch \"%s\" is defined twice (first at %s)",
						p->source, p->key, ps[j].p->source);
					goto out;
				}
			struct spec_doc *base = find_base(sets, nsets, p->name);
			if (!base || !d->tree) {
				sw_errf(err, SW_EINVAL, "%s: patch \"%s\" has no base: no App \"%s\" without "
					"metadata.environment is read with it", p->source, p->key, p->name);
				goto out;
			}
			ps = xrealloc(ps, (nps + 1) * sizeof(*ps));
			ps[nps++] = (struct patch_at){d, p, base};
			if (!has_env(envs, nenvs, p->environment)) {
				struct spec_doc check;
				if (instantiate(&check, base, &ps[nps - 1], p->environment, err) < 0)
					goto out;
				spec_doc_release(&check);
			}
		}

	/* what each set becomes, made before anything is changed: the
	 * patches (and the arrays ps points into) live until it is all made */
	outs = xcalloc(nsets + 1, sizeof(*outs));
	for (size_t i = 0; i < nsets; i++) {
		struct spec_set *set = sets[i];
		struct out *o = &outs[i];
		o->keep = xcalloc(set->ndocs + 1, sizeof(*o->keep));
		for (size_t k = 0; k < set->ndocs; k++) {
			struct spec_doc *d = &set->docs[k];
			const struct spec_app *a = d->kind == &spec_kind_app ? d->obj : NULL;
			if (d->kind == &spec_kind_patch)
				continue;
			if (!a || (a->environment_at && (has_env(envs, nenvs, a->environment) ||
							 (flags & SPEC_RENDER_OTHERS))) ||
			    (!d->tree && has_env(envs, nenvs, SPEC_ENV_DEFAULT))) {
				out_push(o, *d, false, NULL);
				o->keep[k] = true;
				continue;
			}
			if (a->environment_at || !d->tree)
				continue; /* another environment's */
			/* a base: one App per environment; the last one without a
			 * patch is the base itself, moved (no second parse) */
			for (size_t e = 0; e < nenvs; e++) {
				const struct patch_at *p = patch_for(ps, nps, d, envs[e]);
				struct spec_doc inst;
				int r;
				if (!p && e + 1 == nenvs) {
					out_push(o, *d, false, envs[e]);
					o->keep[k] = true;
					continue;
				}
				if (spec_env_is_default(envs[e]))
					r = spec_parse_tree(&inst, snode_copy(d->tree, NULL), d->file, d->dir, err);
				else
					r = instantiate(&inst, d, p, envs[e], err);
				if (r < 0)
					goto out;
				out_push(o, inst, true, NULL);
			}
		}
	}
	for (size_t i = 0; i < nsets; i++) {
		struct spec_set *set = sets[i];
		struct out *o = &outs[i];
		for (size_t k = 0; k < set->ndocs; k++)
			if (!o->keep[k])
				spec_doc_release(&set->docs[k]);
		for (size_t k = 0; k < o->n; k++)
			if (o->move_to[k]) /* the docs are copies of the set's: o->v's is the one kept */
				move_to_env(&o->v[k], o->move_to[k]);
		free(set->docs);
		set->docs = o->v;
		set->ndocs = o->n;
		o->v = NULL;
		o->n = 0;
		set_views(set);
	}
	rc = 0;
out:
	for (size_t i = 0; outs && i < nsets; i++) {
		for (size_t k = 0; k < outs[i].n; k++)
			if (outs[i].fresh[k])
				spec_doc_release(&outs[i].v[k]);
		free(outs[i].v);
		free(outs[i].fresh);
		free(outs[i].move_to);
		free(outs[i].keep);
	}
	free(outs);
	free(ps);
	return rc;
}

/* ---- a tree as YAML ---- */

static bool plain_ok(const struct snode *n)
{
	if (n->quoted || n->len == 0 || strlen(n->text) != n->len)
		return false;
	if (n->text[0] == ' ' || n->text[n->len - 1] == ' ')
		return false;
	for (size_t i = 0; i < n->len; i++)
		if (n->text[i] == '\n' || n->text[i] == '\t' || n->text[i] == '\r')
			return false;
	return true;
}

static void put_scalar(struct buf *b, const struct snode *n)
{
	if (n->type == SN_NULL) {
		buf_adds(b, "null");
		return;
	}
	if (plain_ok(n)) {
		buf_add(b, n->text, n->len);
		return;
	}
	buf_addc(b, '"');
	for (size_t i = 0; i < n->len; i++) {
		unsigned char ch = (unsigned char)n->text[i];
		if (ch == '"' || ch == '\\')
			buf_addf(b, "\\%c", ch);
		else if (ch == '\n')
			buf_adds(b, "\\n");
		else if (ch == '\t')
			buf_adds(b, "\\t");
		else if (ch < 0x20 || ch == 0x7f)
			buf_addf(b, "\\x%02x", ch);
		else
			buf_addc(b, (char)ch);
	}
	buf_addc(b, '"');
}

static void put_node(struct buf *b, const struct snode *n, int indent);

/* A value after "key:" or "- ": inline when it is a scalar or empty. */
static void put_value(struct buf *b, const struct snode *v, int indent)
{
	if ((v->type == SN_MAP || v->type == SN_SEQ) && v->nkids) {
		buf_addc(b, '\n');
		put_node(b, v, indent);
		return;
	}
	buf_addc(b, ' ');
	if (v->type == SN_MAP)
		buf_adds(b, "{}");
	else if (v->type == SN_SEQ)
		buf_adds(b, "[]");
	else
		put_scalar(b, v);
	buf_addc(b, '\n');
}

/* n (a non-empty MAP or SEQ) at indent; the first line's indent is
 * already written when `first_done` (an item's "- "). */
static void put_block(struct buf *b, const struct snode *n, int indent, bool first_done)
{
	if (n->type == SN_MAP) {
		for (size_t i = 0; i + 1 < n->nkids; i += 2) {
			if (i || !first_done)
				buf_addf(b, "%*s", indent, "");
			put_scalar(b, n->kids[i]);
			buf_addc(b, ':');
			put_value(b, n->kids[i + 1], indent + 2);
		}
		return;
	}
	for (size_t i = 0; i < n->nkids; i++) {
		const struct snode *it = n->kids[i];
		if (i || !first_done)
			buf_addf(b, "%*s", indent, "");
		buf_adds(b, "-");
		if ((it->type == SN_MAP || it->type == SN_SEQ) && it->nkids) {
			buf_addc(b, ' ');
			put_block(b, it, indent + 2, true);
		} else
			put_value(b, it, indent + 2);
	}
}

static void put_node(struct buf *b, const struct snode *n, int indent)
{
	put_block(b, n, indent, false);
}

char *spec_tree_yaml(const struct snode *doc)
{
	struct buf b = BUF_INIT;
	if ((doc->type == SN_MAP || doc->type == SN_SEQ) && doc->nkids)
		put_node(&b, doc, 0);
	else
		put_value(&b, doc, 0);
	return buf_detach(&b);
}
