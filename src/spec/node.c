#include "node.h"

#include "../core/buf.h"
#include "../core/utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libfyaml.h>

void snode_free(struct snode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		snode_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

const struct snode *snode_get(const struct snode *map, const char *key)
{
	if (!map || map->type != SN_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->nkids; i += 2)
		if (map->kids[i]->text && strcmp(map->kids[i]->text, key) == 0)
			return map->kids[i + 1];
	return NULL;
}

void snode_kid_add(struct snode *parent, struct snode *kid)
{
	if (parent->nkids == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 4;
		parent->kids = xrealloc(parent->kids, parent->cap * sizeof(*parent->kids));
	}
	parent->kids[parent->nkids++] = kid;
}

static bool is_plain_null(const char *s, size_t len)
{
	return len == 0 || (len == 1 && s[0] == '~') ||
	       (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

/* libfyaml's diagnostics go nowhere: errors are collected and read back. */
static void diag_discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
}

struct ybuild {
	const char *file;
	struct sw_err *err;
	struct snode *stack[SPEC_MAX_DEPTH + 1];
	int sp;
	struct snode *root;
	size_t nodes;
	int last_line, last_col; /* for events without a mark */
	const char *text;        /* the input */
	size_t len;
};

static int ybuild_attach(struct ybuild *b, struct snode *n)
{
	if (++b->nodes > SPEC_MAX_NODES) {
		int rc = sw_errf(b->err, -1, "%s:%d:%d: too many nodes (more than %d)", b->file, n->line,
				 n->col, SPEC_MAX_NODES);
		snode_free(n);
		return rc;
	}
	if (b->sp == 0) {
		snode_free(b->root); /* cannot happen: one root a document */
		b->root = n;
		return 0;
	}
	struct snode *parent = b->stack[b->sp - 1];
	if (parent->type == SN_MAP) {
		if (parent->nkids % 2 == 0) {
			if (n->type == SN_MAP || n->type == SN_SEQ) {
				int rc = sw_errf(b->err, -1, "%s:%d:%d: mapping keys must be scalars", b->file,
						 n->line, n->col);
				snode_free(n);
				return rc;
			}
		} else {
			const struct snode *key = parent->kids[parent->nkids - 1];
			n->kline = key->line;
			n->kcol = key->col;
			n->kpos = key->pos;
			if (n->line == 0) {
				n->line = key->line;
				n->col = key->col;
			}
		}
	}
	snode_kid_add(parent, n);
	return 0;
}

static struct snode *ybuild_node(struct ybuild *b, enum snode_type type, const struct fy_mark *m)
{
	struct snode *n = xcalloc(1, sizeof(*n));
	n->type = type;
	if (m && m->line >= 0 && m->column >= 0) {
		n->line = m->line + 1;
		n->col = m->column + 1;
		n->pos = m->input_pos;
		b->last_line = n->line;
		b->last_col = n->col;
	}
	return n;
}

/*
 * A token's text, read chunk by chunk through an iterator: fy_token_get_text
 * caches the text in the token, and libfyaml 0.7.12 leaks that cache when a
 * later syntax error abandons the token (found by fuzz_spec); and its
 * fy_token_iter_read copies only the last chunk of a scalar that needed
 * decoding (escapes, '' in single quotes, folded and multi-line scalars),
 * leaving stale bytes before it (found by fuzz_argo). Chunks are appended
 * one after the other as the iterator hands them out.
 */
static void token_text(struct fy_token *tok, struct buf *out)
{
	struct fy_token_iter *it = tok ? fy_token_iter_create(tok) : NULL;
	const struct fy_iter_chunk *c = NULL;
	int err = 0;

	if (!it)
		return;
	while ((c = fy_token_iter_chunk_next(it, c, &err)))
		buf_add(out, c->str, c->len);
	fy_token_iter_destroy(it);
}

/*
 * libfyaml 0.7.12's iterator also ends a block scalar that runs to the end
 * of the input without a final line break with a line break of its own
 * when it keeps trailing breaks ("a: |+\n  x" reads "x\n", the spec says
 * "x"; found by fuzz_spec's second decoding). For such a scalar, and only
 * there, fy_token_get_text is asked too (a token at the very end of the
 * input has no later syntax error to abandon it with its cache, the leak
 * token_text avoids).
 */
static bool block_at_unterminated_end(const struct ybuild *b, struct fy_event *e,
				      struct fy_token *tok)
{
	const struct fy_mark *m = fy_event_end_mark(e);
	enum fy_scalar_style st = tok ? fy_token_scalar_style(tok) : FYSS_PLAIN;
	return (st == FYSS_LITERAL || st == FYSS_FOLDED) && m && m->input_pos >= b->len &&
	       b->len > 0 && b->text[b->len - 1] != '\n' && b->text[b->len - 1] != '\r';
}

/*
 * libfyaml 0.7.12 loses a line break in a folded block scalar (">") where
 * a text line, then one or more empty lines, then a line indented exactly
 * one space more follow each other: ">\n a\n\n  c" reads "a\n c\n"
 * instead of "a\n\n c\n", through the iterator and fy_token_get_text alike
 * (found by fuzz_spec). Rather than hand on a changed value, such a
 * scalar is refused: returns the 1-based line of the offending line in
 * the input, or 0. The content's indentation is the first text line's;
 * with an explicit indentation indicator ">2" it cannot be told from the
 * lines alone, and the check is skipped.
 */
static int folded_break_loss_line(const struct ybuild *b, struct fy_event *e, int first_line)
{
	const struct fy_mark *sm = fy_event_start_mark(e), *em = fy_event_end_mark(e);
	if (!sm || !em || sm->input_pos > em->input_pos || em->input_pos > b->len)
		return 0;
	/* the header ends the line before the content: any digit in it after
	 * the last '>' is an indentation indicator */
	size_t h = sm->input_pos ? sm->input_pos - 1 : 0, hs = h;
	while (hs > 0 && b->text[hs - 1] != '\n')
		hs--;
	for (size_t i = h; i > hs; i--)
		if (b->text[i - 1] == '>') {
			for (size_t k = i; k < h && b->text[k] != ' ' && b->text[k] != '#'; k++)
				if (b->text[k] >= '1' && b->text[k] <= '9')
					return 0;
			break;
		}
	const char *p = b->text + sm->input_pos, *end = b->text + em->input_pos;
	long indent = -1;
	bool text_before = false, empty_since = false;
	for (int line = first_line; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		long sp = 0;
		while (p + sp < eol && p[sp] == ' ')
			sp++;
		bool blank = p + sp == eol || (p + sp + 1 == eol && p[sp] == '\r');
		if (!blank && indent < 0)
			indent = sp;
		if (blank && (indent < 0 || sp <= indent)) {
			empty_since = text_before;
		} else if (sp == indent && p[sp] != '\t') {
			text_before = true;
			empty_since = false;
		} else {
			if (sp == indent + 1 && empty_since)
				return line;
			text_before = empty_since = false;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

static int ybuild_scalar(struct ybuild *b, struct fy_event *e)
{
	struct fy_token *tok = e->scalar.value;
	struct buf tb = BUF_INIT;
	bool plain = !tok || fy_token_scalar_style(tok) == FYSS_PLAIN;
	struct snode *n;

	if (tok && fy_token_scalar_style(tok) == FYSS_FOLDED) {
		const struct fy_mark *sm = fy_event_start_mark(e);
		int bad = folded_break_loss_line(b, e, sm ? sm->line + 1 : 1);
		if (bad)
			return sw_errf(b->err, -1,
				       "%s:%d:1: this line of a folded scalar (\">\") is indented one space "
				       "more than the text before the empty line above it, which this "
				       "build's YAML library (libfyaml 0.7.12) reads wrongly; indent it by "
				       "two or more, or use a literal block (\"|\")", b->file, bad);
	}
	token_text(tok, &tb);
	if (block_at_unterminated_end(b, e, tok) && tb.len && tb.s[tb.len - 1] == '\n') {
		/* libfyaml's exact text says whether the last line break is one
		 * the iterator made up: it is then one byte shorter. Only its
		 * length is asked: fy_token_get_text leaks the text it makes on
		 * some inputs (512 bytes for " >\n ( >\n (\n..." in 0.7.12,
		 * found by fuzz_spec), and its decoder leaves bytes unwritten
		 * elsewhere (NULs and uninitialised memory), so its bytes were
		 * never taken anyway. */
		if (fy_token_get_text_length(tok) + 1 == tb.len)
			tb.s[--tb.len] = '\0';
	}
	const char *text = buf_str(&tb);
	size_t len = tb.len;
	n = ybuild_node(b, plain && is_plain_null(text, len) ? SN_NULL : SN_SCALAR, fy_event_start_mark(e));
	/* libfyaml marks a quoted scalar after its opening quote; point at the
	 * quote (the errors below included). */
	const struct fy_mark *em = fy_event_end_mark(e);
	n->end = em && em->input_pos <= b->len ? em->input_pos : n->pos;
	if (tok && n->col > 1 && (fy_token_scalar_style(tok) == FYSS_SINGLE_QUOTED ||
				  fy_token_scalar_style(tok) == FYSS_DOUBLE_QUOTED)) {
		n->col--;
		n->pos -= n->pos > 0;
		n->end += n->end < b->len;
	}
	if (tok && (fy_token_scalar_style(tok) == FYSS_LITERAL || fy_token_scalar_style(tok) == FYSS_FOLDED))
		while (n->end > n->pos && b->text[n->end - 1] == ' ')
			n->end--; /* the next line's indentation */
	if (memchr(text, '\0', len) || !sw_utf8_valid(text, len)) {
		int rc = sw_errf(b->err, -1, "%s:%d:%d: %s", b->file, n->line ? n->line : b->last_line,
				 n->line ? n->col : b->last_col,
				 memchr(text, '\0', len) ? "scalar contains a NUL character"
							 : "scalar is not valid UTF-8");
		snode_free(n);
		buf_release(&tb);
		return rc;
	}
	n->quoted = !plain;
	n->len = len;
	n->text = buf_detach(&tb);
	return ybuild_attach(b, n);
}

static int ybuild_event(struct ybuild *b, struct fy_event *e, struct snode ***docs, size_t *ndocs)
{
	const struct fy_mark *m = fy_event_start_mark(e);
	struct snode *n;
	int rc;

	switch (e->type) {
	case FYET_DOCUMENT_START:
		b->root = NULL;
		b->sp = 0;
		return 0;
	case FYET_DOCUMENT_END:
		if (!b->root)
			b->root = ybuild_node(b, SN_NULL, NULL);
		*docs = xrealloc(*docs, (*ndocs + 1) * sizeof(**docs));
		(*docs)[(*ndocs)++] = b->root;
		b->root = NULL;
		return 0;
	case FYET_MAPPING_START:
	case FYET_SEQUENCE_START:
		n = ybuild_node(b, e->type == FYET_MAPPING_START ? SN_MAP : SN_SEQ, m);
		if (b->sp >= SPEC_MAX_DEPTH) {
			rc = sw_errf(b->err, -1, "%s:%d:%d: nesting deeper than %d levels", b->file,
				     n->line ? n->line : b->last_line, n->line ? n->col : b->last_col,
				     SPEC_MAX_DEPTH);
			snode_free(n);
			return rc;
		}
		if ((rc = ybuild_attach(b, n)) < 0)
			return rc;
		b->stack[b->sp++] = n;
		return 0;
	case FYET_MAPPING_END:
	case FYET_SEQUENCE_END:
		if (b->sp > 0)
			b->sp--;
		return 0;
	case FYET_SCALAR:
		return ybuild_scalar(b, e);
	case FYET_ALIAS: {
		struct buf nb = BUF_INIT;
		token_text(e->alias.anchor, &nb);
		size_t len = nb.len;
		const char *name = buf_str(&nb);
		int line = m && m->line >= 0 ? m->line + 1 : b->last_line;
		/* the mark is after the '*' */
		int col = m && m->line >= 0 ? (m->column > 0 ? m->column : 1) : b->last_col;
		if (!name || len > 64 || !sw_utf8_valid(name, len))
			len = 0;
		rc = sw_errf(b->err, -1, "%s:%d:%d: aliases are not supported (\"*%.*s\")", b->file, line,
			     col, (int)len, name ? name : "");
		buf_release(&nb);
		return rc;
	}
	default:
		return 0;
	}
}

int snode_from_yaml(struct snode ***out, size_t *nout, const char *text, size_t len,
		    const char *file, struct sw_err *err)
{
	struct fy_diag_cfg dcfg;
	struct fy_diag *diag = NULL;
	struct fy_parser *parser = NULL;
	struct fy_parse_cfg pcfg;
	struct ybuild b;
	struct snode **docs = NULL;
	size_t ndocs = 0;
	int rc = -1;

	/*
	 * YAML is Unicode text. Check it before libfyaml sees it: besides
	 * giving a clear message, some invalid input makes libfyaml 0.7.12's
	 * scanner loop forever (found by fuzz_spec).
	 */
	size_t bad = sw_utf8_invalid_at(text, len);
	const char *nul = memchr(text, '\0', len);
	if (nul && (size_t)(nul - text) < bad)
		bad = (size_t)(nul - text);
	if (bad < len) {
		int line = 1, col = 1;
		for (size_t i = 0; i < bad; i++) {
			if (text[i] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
				col++;
			}
		}
		return sw_errf(err, -1, "%s:%d:%d: %s", file, line, col,
			       text[bad] ? "file is not valid UTF-8" : "file contains a NUL character");
	}

	memset(&b, 0, sizeof(b));
	b.file = file;
	b.err = err;
	b.last_line = b.last_col = 1;
	b.text = text;
	b.len = len;

	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = diag_discard;
	dcfg.colorize = false;
	dcfg.level = FYET_ERROR;
	diag = fy_diag_create(&dcfg);
	if (!diag) {
		sw_errf(err, -1, "%s: cannot create a YAML parser", file);
		goto out;
	}
	fy_diag_set_collect_errors(diag, true);

	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.flags = FYPCF_QUIET;
	pcfg.diag = diag;
	parser = fy_parser_create(&pcfg);
	if (!parser || fy_parser_set_string(parser, text, len) != 0) {
		sw_errf(err, -1, "%s: cannot create a YAML parser", file);
		goto out;
	}

	struct fy_event *e;
	while ((e = fy_parser_parse(parser))) {
		int r = ybuild_event(&b, e, &docs, &ndocs);
		fy_parser_event_free(parser, e);
		if (r < 0)
			goto out;
	}
	if (fy_parser_get_stream_error(parser)) {
		void *it = NULL;
		struct fy_diag_error *de = fy_diag_errors_iterate(diag, &it);
		if (de && de->msg && sw_utf8_valid(de->msg, strlen(de->msg)))
			sw_errf(err, -1, "%s:%d:%d: syntax error: %s", file, de->line > 0 ? de->line : 1,
				de->column > 0 ? de->column : 1, de->msg);
		else
			sw_errf(err, -1, "%s:%d:%d: syntax error", file, b.last_line, b.last_col);
		goto out;
	}
	*out = docs;
	*nout = ndocs;
	docs = NULL;
	ndocs = 0;
	rc = 0;
out:
	/* On failure the partial document is b.root (the stack points into it). */
	snode_free(b.root);
	for (size_t i = 0; i < ndocs; i++)
		snode_free(docs[i]);
	free(docs);
	if (parser)
		fy_parser_destroy(parser);
	if (diag)
		fy_diag_destroy(diag);
	return rc;
}

static int json_convert(struct snode **out, const json_t *j, int depth, size_t *nodes,
			const char *file, struct sw_err *err)
{
	struct snode *n = xcalloc(1, sizeof(*n));
	char num[64];
	int rc = -1;

	if (depth > SPEC_MAX_DEPTH) {
		sw_errf(err, -1, "%s: nesting deeper than %d levels", file, SPEC_MAX_DEPTH);
		goto out;
	}
	if (++*nodes > SPEC_MAX_NODES) {
		sw_errf(err, -1, "%s: too many nodes (more than %d)", file, SPEC_MAX_NODES);
		goto out;
	}
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *v;
		n->type = SN_MAP;
		json_object_foreach((json_t *)j, key, v) {
			struct snode *k = xcalloc(1, sizeof(*k)), *val = NULL;
			k->type = SN_SCALAR;
			k->quoted = true;
			k->text = xstrdup(key);
			k->len = strlen(key);
			snode_kid_add(n, k);
			if (json_convert(&val, v, depth + 1, nodes, file, err) < 0)
				goto out;
			snode_kid_add(n, val);
		}
		break;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *v;
		n->type = SN_SEQ;
		json_array_foreach(j, i, v) {
			struct snode *item = NULL;
			if (json_convert(&item, v, depth + 1, nodes, file, err) < 0)
				goto out;
			snode_kid_add(n, item);
		}
		break;
	}
	case JSON_STRING:
		n->type = SN_SCALAR;
		n->quoted = true;
		n->len = json_string_length(j);
		if (memchr(json_string_value(j), '\0', n->len)) {
			sw_errf(err, -1, "%s: string contains a NUL character", file);
			goto out;
		}
		n->text = xstrndup(json_string_value(j), n->len);
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		goto plain;
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(j));
		goto plain;
	case JSON_TRUE:
		snprintf(num, sizeof(num), "true");
		goto plain;
	case JSON_FALSE:
		snprintf(num, sizeof(num), "false");
plain:
		n->type = SN_SCALAR;
		n->text = xstrdup(num);
		n->len = strlen(num);
		break;
	case JSON_NULL:
	default:
		n->type = SN_NULL;
		break;
	}
	*out = n;
	n = NULL;
	rc = 0;
out:
	snode_free(n);
	return rc;
}

int snode_from_json(struct snode **out, const json_t *json, const char *file, struct sw_err *err)
{
	size_t nodes = 0;
	if (!json)
		return sw_errf(err, -1, "%s: no document", file);
	return json_convert(out, json, 0, &nodes, file, err);
}
