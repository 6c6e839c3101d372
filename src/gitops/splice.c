/* splice (splice.h): one App document of a YAML file replaced, the rest
 * kept byte for byte. */
#include "splice.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "spec/node.h"
#include "spec/spec.h"

/* One document: its body [start, end), and whether its "---" line holds
 * content of the document itself. */
struct doc {
	size_t start, end;
	bool inline_start;
};

/* A line of text starting at p is "---" or "..." (w) followed by a blank,
 * a line end or the end. */
static bool marker(const char *p, size_t left, const char *w)
{
	return left >= 3 && memcmp(p, w, 3) == 0 &&
	       (left == 3 || p[3] == ' ' || p[3] == '\t' || p[3] == '\r' || p[3] == '\n');
}

/* After "---": anything but blanks and a comment is content. */
static bool has_content(const char *p, const char *eol)
{
	for (p += 3; p < eol; p++) {
		if (*p == '#')
			return false;
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return true;
	}
	return false;
}

/* Calls fn for every document of text; stops at fn's nonzero result. */
static int each_doc(const char *text, size_t len, int (*fn)(const struct doc *d, void *data),
		    void *data)
{
	struct doc d = {0, 0, false};
	bool open = true; /* the text before the first "---" */
	size_t ls = 0;
	while (ls < len) {
		const char *nl = memchr(text + ls, '\n', len - ls);
		size_t next = nl ? (size_t)(nl - text) + 1 : len;
		bool start = marker(text + ls, len - ls, "---");
		if (start || marker(text + ls, len - ls, "...")) {
			int r;
			d.end = ls;
			if (open && (r = fn(&d, data)) != 0)
				return r;
			open = start;
			d.inline_start = start && has_content(text + ls, text + next);
			d.start = d.inline_start ? ls : next; /* read with its "---" line then */
		}
		ls = next;
	}
	d.end = len;
	return open ? fn(&d, data) : 0;
}

struct find {
	const char *text, *kind, *app, *file;
	struct doc found;
	int nfound;
	struct sw_err *err;
};

/* A scalar of a mapping is `want`; a missing or empty one is `dflt`. */
static bool scalar_is(const struct snode *n, const char *want, const char *dflt)
{
	if (!n || n->type == SN_NULL || (n->type == SN_SCALAR && !*n->text))
		return dflt && strcmp(want, dflt) == 0;
	return n->type == SN_SCALAR && strcmp(n->text, want) == 0;
}

/* The body is App `app` (a key, spec.h: "hello", or "prod/hello" for
 * metadata.environment prod): its kind, name and environment. A body
 * that does not parse is not (the commit it is in was refused, or will
 * be). The first root that is the app is kept in *root (the caller frees
 * *roots) when roots is not NULL. */
static bool is_doc(const char *body, size_t len, const char *kind, const char *app, const char *file,
		   struct snode ***roots_out, size_t *nroots, const struct snode **root)
{
	struct snode **roots = NULL;
	size_t n = 0;
	struct sw_err err = {0};
	char env[64];
	const char *name;
	bool yes = false;
	spec_key_split(app, env, &name);
	if (snode_from_yaml(&roots, &n, body, len, file, &err) < 0)
		return false;
	for (size_t i = 0; i < n && !yes; i++) {
		const struct snode *meta = snode_get(roots[i], "metadata");
		yes = scalar_is(snode_get(roots[i], "kind"), kind, NULL) &&
		      scalar_is(snode_get(meta, "name"), name, NULL) &&
		      scalar_is(snode_get(meta, "environment"), env, SPEC_ENV_DEFAULT);
		if (yes && root)
			*root = roots[i];
	}
	if (yes && roots_out) {
		*roots_out = roots;
		*nroots = n;
		return true;
	}
	for (size_t i = 0; i < n; i++)
		snode_free(roots[i]);
	free(roots);
	return yes;
}

static int find_doc(const struct doc *d, void *data)
{
	struct find *f = data;
	if (!is_doc(f->text + d->start, d->end - d->start, f->kind, f->app, f->file, NULL, NULL, NULL))
		return 0;
	if (f->nfound++)
		return sw_errf(f->err, SW_EINVAL, "%s: %s \"%s\" is defined twice in the file", f->file,
			       strcmp(f->kind, "App") == 0 ? "app" : "patch", f->app);
	f->found = *d;
	return 0;
}

static int find_kind(size_t *start, size_t *end, const char *text, size_t len, const char *kind,
		     const char *app, const char *file, struct sw_err *err)
{
	struct find f = {.text = text, .kind = kind, .app = app, .file = file, .err = err};
	const char *word = strcmp(kind, "App") == 0 ? "app" : "patch";
	int r = each_doc(text, len, find_doc, &f);
	if (r < 0)
		return r;
	if (!f.nfound)
		return sw_errf(err, SW_ENOTFOUND, "%s: no %s document \"%s\"", file, kind, app);
	if (f.found.inline_start)
		return sw_errf(err, SW_EINVAL, "%s: the document of %s \"%s\" starts on its \"---\" "
			       "line, which cannot be spliced", file, word, app);
	*start = f.found.start;
	*end = f.found.end;
	return 0;
}

int splice_find_app(size_t *start, size_t *end, const char *text, size_t len, const char *app,
		    const char *file, struct sw_err *err)
{
	return find_kind(start, end, text, len, "App", app, file, err);
}

int splice_find_patch(size_t *start, size_t *end, const char *text, size_t len, const char *key,
		      const char *file, struct sw_err *err)
{
	return find_kind(start, end, text, len, "Patch", key, file, err);
}

/* The first line end of text is "\r\n". */
static bool crlf(const char *text, size_t len)
{
	const char *nl = memchr(text, '\n', len);
	return nl && nl > text && nl[-1] == '\r';
}

int splice_app(struct buf *out, const char *head, size_t head_len, const char *head_file,
	       const char *old, size_t old_len, const char *old_file, const char *app,
	       struct sw_err *err)
{
	size_t hs, he, os, oe;
	int r;
	if ((r = splice_find_app(&hs, &he, head, head_len, app, head_file, err)) < 0 ||
	    (r = splice_find_app(&os, &oe, old, old_len, app, old_file, err)) < 0)
		return r;
	bool dos = crlf(head, head_len) || (!memchr(head, '\n', head_len) && crlf(old, old_len));
	bool end_nl = he < head_len || (he > hs && head[he - 1] == '\n');
	/* the old body's lines, without their line ends, in head's line ends */
	struct buf body = BUF_INIT;
	for (size_t ls = os; ls < oe;) {
		const char *nl = memchr(old + ls, '\n', oe - ls);
		size_t le = nl ? (size_t)(nl - old) : oe, next = nl ? le + 1 : oe;
		size_t content = le > ls && old[le - 1] == '\r' ? le - 1 : le;
		buf_add(&body, old + ls, content - ls);
		if (nl || end_nl)
			buf_adds(&body, dos ? "\r\n" : "\n");
		ls = next;
	}
	if (!end_nl) /* the last document had no newline: nor has the new one */
		while (body.len && (body.s[body.len - 1] == '\n' || body.s[body.len - 1] == '\r'))
			body.len--;
	buf_add(out, head, hs);
	buf_add(out, body.s ? body.s : "", body.len);
	buf_add(out, head + he, head_len - he);
	buf_release(&body);
	return 0;
}

/* v as a YAML double-quoted scalar: what a version is written as. */
static void quoted(struct buf *out, const char *v)
{
	buf_adds(out, "\"");
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_adds(out, "\\");
		buf_add(out, p, 1);
	}
	buf_adds(out, "\"");
}

/* The first key of a block mapping's line: where a line goes before it. */
static size_t line_start(const char *text, size_t at)
{
	while (at > 0 && text[at - 1] != '\n')
		at--;
	return at;
}

/* spec.version of the document of kind `kind` named key set to version;
 * a Patch without one gets one, as spec's first key. */
static int set_version(struct buf *out, const char *text, size_t len, const char *file, const char *kind,
		       const char *app, const char *version, struct sw_err *err)
{
	size_t bs, be;
	struct snode **roots = NULL;
	size_t nroots = 0;
	const struct snode *root = NULL;
	const char *word = strcmp(kind, "App") == 0 ? "app" : "patch";
	int r = find_kind(&bs, &be, text, len, kind, app, file, err);
	if (r < 0)
		return r;
	/* the body again, alone: its nodes' offsets are the body's */
	if (!is_doc(text + bs, be - bs, kind, app, file, &roots, &nroots, &root))
		return sw_errf(err, SW_EINVAL, "%s: %s \"%s\" does not read", file, word, app);
	const struct snode *spec = snode_get(root, "spec"), *v = snode_get(spec, "version");
	bool patch = strcmp(kind, "Patch") == 0;
	if (patch && !v && spec && spec->type == SN_MAP && text[bs + spec->pos] == '{') {
		/* spec: {replicas: 3} -> spec: {version: "X", replicas: 3} */
		buf_add(out, text, bs + spec->pos + 1);
		buf_adds(out, "version: ");
		quoted(out, version);
		if (spec->nkids)
			buf_adds(out, ", ");
		buf_add(out, text + bs + spec->pos + 1, len - bs - spec->pos - 1);
		r = 0;
	} else if (patch && !v && spec && spec->type == SN_MAP && spec->nkids) {
		/* a block mapping: a line before its first key, as indented */
		const struct snode *k = spec->kids[0];
		size_t at = line_start(text, bs + k->pos);
		bool dos = crlf(text, len);
		buf_add(out, text, at);
		buf_add(out, text + at, bs + k->pos - at); /* the indentation */
		buf_adds(out, "version: ");
		quoted(out, version);
		buf_adds(out, dos ? "\r\n" : "\n");
		buf_add(out, text + at, len - at);
		r = 0;
	} else if (!v || v->type != SN_SCALAR || v->end <= v->pos) {
		r = sw_errf(err, SW_EINVAL, "%s: %s \"%s\" has no spec.version to set", file, word, app);
	} else if (strcmp(v->text, version) == 0) {
		buf_add(out, text, len); /* it says so already */
		r = 0;
	} else {
		buf_add(out, text, bs + v->pos);
		quoted(out, version);
		buf_add(out, text + bs + v->end, len - bs - v->end);
		r = 0;
	}
	for (size_t i = 0; i < nroots; i++)
		snode_free(roots[i]);
	free(roots);
	return r;
}

int splice_set_version(struct buf *out, const char *text, size_t len, const char *file,
		       const char *app, const char *version, struct sw_err *err)
{
	return set_version(out, text, len, file, "App", app, version, err);
}

int splice_patch_version(struct buf *out, const char *text, size_t len, const char *file,
			 const char *key, const char *version, struct sw_err *err)
{
	return set_version(out, text, len, file, "Patch", key, version, err);
}

void splice_patch_add(struct buf *out, const char *text, size_t len, const char *key,
		      const char *version)
{
	char env[64];
	const char *name;
	spec_key_split(key, env, &name);
	bool dos = crlf(text, len);
	const char *nl = dos ? "\r\n" : "\n";
	buf_add(out, text, len);
	if (len && text[len - 1] != '\n')
		buf_adds(out, nl);
	if (len)
		buf_addf(out, "---%s", nl);
	buf_addf(out, "# %s's release in %s, written by a promotion%s", name, env, nl);
	buf_addf(out, "apiVersion: slipway/v1%skind: Patch%smetadata: {name: %s, environment: %s}%s", nl, nl,
		 name, env, nl);
	buf_addf(out, "spec:%s  version: ", nl);
	quoted(out, version);
	buf_adds(out, nl);
}
