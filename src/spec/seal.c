/* `secret encrypt --in-place`: secret values in clear to valueFrom.age (seal.h). */
#include "seal.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "node.h"

struct edit {
	size_t start, end; /* the bytes replaced */
	char *repl;
	char *armor;       /* what valueFrom.age must read back as */
	size_t item;       /* the env item's number in walk order */
};

struct seal {
	const char *text;
	size_t len;
	const char *file;
	const char *nl;    /* the file's line end */
	spec_seal_fn encrypt;
	void *data;
	struct sw_err *err;
	struct edit *edits;
	size_t nedits;
	size_t items;      /* env items walked so far */
	bool verify;       /* second pass, over the result */
	size_t next_edit;  /* verify: the edit to meet next */
};

static bool is_true(const struct snode *n)
{
	return n && n->type == SN_SCALAR &&
	       (!strcmp(n->text, "true") || !strcmp(n->text, "True") || !strcmp(n->text, "TRUE"));
}

/* The value as the document means it ("$$" is "$"); -1 for a ${...}. */
static int plaintext(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (s[0] == '$' && s[1] == '{')
			return -1;
		buf_addc(out, *s);
		if (s[0] == '$' && s[1] == '$')
			s++;
	}
	return 0;
}

static void add_spaces(struct buf *b, size_t n)
{
	while (n--)
		buf_addc(b, ' ');
}

/* The armor as one double-quoted YAML scalar. */
static void add_quoted(struct buf *b, const char *armor)
{
	buf_addc(b, '"');
	for (const char *p = armor; *p; p++)
		if (*p == '\n')
			buf_adds(b, "\\n");
		else
			buf_addc(b, *p);
	buf_addc(b, '"');
}

/*
 * The replacement of `value: ...` (from its key to its end) in block
 * style; false when the line does not allow it (then flow style is used).
 */
static bool block_edit(struct seal *s, struct edit *ed, const struct snode *v, const char *armor)
{
	struct buf b = BUF_INIT;
	size_t ls = ed->start;
	while (ls > 0 && s->text[ls - 1] != '\n')
		ls--;
	for (size_t i = ls; i < ed->start; i++)
		if (s->text[i] != ' ' && s->text[i] != '-')
			return false; /* "? key", a tab, anything odd before the key */
	size_t ind = ed->start - ls;
	bool at_line_start = v->end > 0 && s->text[v->end - 1] == '\n';
	size_t eol = v->end;
	if (!at_line_start) {
		while (eol < s->len && s->text[eol] != '\n')
			eol++;
		if (eol > v->end && s->text[eol - 1] == '\r')
			eol--;
		size_t k = v->end;
		while (k < eol && (s->text[k] == ' ' || s->text[k] == '\t'))
			k++;
		if (k < eol && s->text[k] != '#')
			return false;
	}
	buf_adds(&b, "valueFrom:");
	buf_add(&b, s->text + v->end, eol - v->end);
	buf_adds(&b, s->nl);
	add_spaces(&b, ind + 2);
	buf_adds(&b, "age: |");
	for (const char *p = armor; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		buf_adds(&b, s->nl);
		add_spaces(&b, ind + 4);
		buf_add(&b, p, n);
		p += n + (nl != NULL);
	}
	if (at_line_start)
		buf_adds(&b, s->nl);
	ed->end = eol;
	ed->repl = buf_detach(&b);
	return true;
}

/* One env item (a mapping) of an App's env list. */
static int seal_item(struct seal *s, const struct snode *item, const char *app, const char *where)
{
	const struct snode *name = snode_get(item, "name"), *value = snode_get(item, "value");
	const struct snode *vf = snode_get(item, "valueFrom");
	size_t no = s->items++;
	const char *ename = name && name->type == SN_SCALAR ? name->text : "?";

	if (s->verify) {
		if (s->next_edit >= s->nedits || s->edits[s->next_edit].item != no)
			return 0;
		const struct snode *age = snode_get(vf, "age");
		if (value || !age || age->type != SN_SCALAR || strcmp(age->text, s->edits[s->next_edit].armor))
			return sw_errf(s->err, -1, "%s: env %s of app \"%s\" cannot be rewritten safely here; "
				       "nothing was changed (encrypt its value with `slipway secret encrypt` "
				       "and paste it)", s->file, ename, app);
		s->next_edit++;
		return 0;
	}
	if (!is_true(snode_get(item, "secret")) || !value || value->type != SN_SCALAR ||
	    (vf && vf->type != SN_NULL))
		return 0;
	struct buf plain = BUF_INIT, armor = BUF_INIT;
	struct sw_err eerr = {0};
	int rc = -1;
	if (plaintext(&plain, value->text) < 0) {
		sw_errf(s->err, -1, "%s:%d:%d: env %s of app \"%s\" (%s): its value uses ${...}, but an "
			"encrypted value is passed on as it is; write it out, or keep it in clear",
			s->file, value->line, value->col, ename, app, where);
		goto out;
	}
	if (s->encrypt(&armor, plain.s ? plain.s : "", plain.len, s->data, &eerr) < 0) {
		sw_errf(s->err, -1, "%s:%d:%d: env %s: %s", s->file, value->line, value->col, ename, eerr.msg);
		goto out;
	}
	s->edits = xrealloc(s->edits, (s->nedits + 1) * sizeof(*s->edits));
	struct edit *ed = &s->edits[s->nedits++];
	*ed = (struct edit){.start = value->kpos, .end = value->end, .item = no};
	ed->armor = buf_detach(&armor);
	bool flow = item->pos < s->len && s->text[item->pos] == '{';
	if (flow || !block_edit(s, ed, value, ed->armor)) {
		struct buf b = BUF_INIT;
		buf_adds(&b, "valueFrom: {age: ");
		add_quoted(&b, ed->armor);
		buf_addc(&b, '}');
		ed->end = value->end;
		ed->repl = buf_detach(&b);
	}
	rc = 0;
out:
	if (plain.alloc)
		OPENSSL_cleanse(plain.s, plain.alloc);
	buf_release(&plain);
	buf_release(&armor);
	return rc;
}

static int seal_list(struct seal *s, const struct snode *env, const char *app, const char *where)
{
	for (size_t i = 0; env && env->type == SN_SEQ && i < env->nkids; i++)
		if (env->kids[i]->type == SN_MAP && seal_item(s, env->kids[i], app, where) < 0)
			return -1;
	return 0;
}

/* Every env list of every App document, in document order. */
static int seal_docs(struct seal *s, struct snode **docs, size_t ndocs)
{
	static const char *const hook_kinds[] = {"preDeploy", "postDeploy", "onAbort"};
	for (size_t d = 0; d < ndocs; d++) {
		const struct snode *kind = snode_get(docs[d], "kind");
		if (!kind || kind->type != SN_SCALAR || strcmp(kind->text, "App") != 0)
			continue;
		const struct snode *name = snode_get(snode_get(docs[d], "metadata"), "name");
		const char *app = name && name->type == SN_SCALAR ? name->text : "?";
		const struct snode *spec = snode_get(docs[d], "spec");
		if (seal_list(s, snode_get(snode_get(spec, "run"), "env"), app, "spec.run.env") < 0)
			return -1;
		for (size_t k = 0; k < 3; k++) {
			const struct snode *list = snode_get(snode_get(spec, "hooks"), hook_kinds[k]);
			for (size_t i = 0; list && list->type == SN_SEQ && i < list->nkids; i++) {
				char where[64];
				snprintf(where, sizeof(where), "spec.hooks.%s[%zu].env", hook_kinds[k], i);
				if (seal_list(s, snode_get(list->kids[i], "env"), app, where) < 0)
					return -1;
			}
		}
	}
	return 0;
}

static void free_docs(struct snode **docs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snode_free(docs[i]);
	free(docs);
}

int spec_seal_text(struct buf *out, size_t *count, const char *text, size_t len, const char *file,
		   spec_seal_fn encrypt, void *data, struct sw_err *err)
{
	struct seal s = {.text = text, .len = len, .file = file, .encrypt = encrypt, .data = data,
			 .err = err, .nl = "\n"};
	struct snode **docs = NULL;
	size_t ndocs = 0;
	struct buf res = BUF_INIT;
	int rc = -1;

	const char *first = memchr(text, '\n', len);
	if (first && first > text && first[-1] == '\r')
		s.nl = "\r\n";
	if (snode_from_yaml(&docs, &ndocs, text, len, file, err) < 0)
		goto out;
	if (seal_docs(&s, docs, ndocs) < 0)
		goto out;
	size_t at = 0;
	for (size_t i = 0; i < s.nedits; i++) {
		buf_add(&res, text + at, s.edits[i].start - at);
		buf_adds(&res, s.edits[i].repl);
		at = s.edits[i].end;
	}
	buf_add(&res, text + at, len - at);
	if (res.toobig) {
		sw_errf(err, -1, "%s: the encrypted file would be too large", file);
		goto out;
	}
	/* read the result back: each edit must say exactly what was meant */
	free_docs(docs, ndocs);
	docs = NULL;
	ndocs = 0;
	struct sw_err perr = {0};
	if (snode_from_yaml(&docs, &ndocs, res.s ? res.s : "", res.len, file, &perr) < 0) {
		sw_errf(err, -1, "%s: cannot be rewritten safely (the result would not read: %s); nothing "
			"was changed", file, perr.msg);
		goto out;
	}
	s.verify = true;
	s.items = 0;
	if (seal_docs(&s, docs, ndocs) < 0)
		goto out;
	if (s.next_edit != s.nedits) {
		sw_errf(err, -1, "%s: cannot be rewritten safely; nothing was changed", file);
		goto out;
	}
	if (buf_add(out, res.s ? res.s : "", res.len) < 0) {
		sw_errf(err, -1, "%s: the encrypted file would be too large", file);
		goto out;
	}
	*count = s.nedits;
	rc = 0;
out:
	free_docs(docs, ndocs);
	for (size_t i = 0; i < s.nedits; i++) {
		free(s.edits[i].repl);
		free(s.edits[i].armor);
	}
	free(s.edits);
	buf_release(&res);
	return rc;
}
