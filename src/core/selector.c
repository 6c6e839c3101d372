/* Label selectors in kubectl's syntax: a small recursive-descent parser
 * over the text, and the matcher. The grammar is in selector.h. */
#include "core/selector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

static bool alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* A name: 1..63 of [A-Za-z0-9-_.], alphanumerical at both ends. */
static bool name_valid(const char *s, size_t len)
{
	if (len == 0 || len > 63 || !alnum(s[0]) || !alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* A DNS subdomain: dot-separated labels of [a-z0-9-], <= 253 in all. */
static bool prefix_valid(const char *s, size_t len)
{
	if (len == 0 || len > 253)
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		size_t n = i - start;
		if (n == 0 || n > 63 || s[start] == '-' || s[i - 1] == '-')
			return false;
		for (size_t k = start; k < i; k++)
			if (!((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= '0' && s[k] <= '9') || s[k] == '-'))
				return false;
		start = i + 1;
	}
	return true;
}

bool sw_label_key_valid(const char *key, size_t len)
{
	const char *slash = memchr(key, '/', len);
	if (!slash)
		return name_valid(key, len);
	size_t plen = (size_t)(slash - key);
	return prefix_valid(key, plen) && name_valid(slash + 1, len - plen - 1);
}

bool sw_label_value_valid(const char *value, size_t len)
{
	return len == 0 || name_valid(value, len);
}

/* ---- parsing ---- */

struct lexer {
	const char *text, *p;
	struct sw_err *err;
};

static void blanks(struct lexer *l)
{
	while (*l->p == ' ' || *l->p == '\t')
		l->p++;
}

static int fail(struct lexer *l, const char *what)
{
	return sw_errf(l->err, SW_EINVAL, "column %zu: %s", (size_t)(l->p - l->text) + 1, what);
}

/* The characters a key or value may hold (checked exactly afterwards). */
static bool word_char(char ch)
{
	return alnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '/';
}

/* A run of word characters at p; *len 0 when none. */
static const char *word(struct lexer *l, size_t *len)
{
	const char *s = l->p;
	while (word_char(*l->p))
		l->p++;
	*len = (size_t)(l->p - s);
	return s;
}

static int key(struct lexer *l, struct sw_sel_req *r)
{
	blanks(l);
	const char *at = l->p;
	size_t len;
	const char *s = word(l, &len);
	if (!len)
		return fail(l, "expected a label key");
	if (!sw_label_key_valid(s, len)) {
		l->p = at;
		return fail(l, "bad label key: a name of at most 63 letters, digits, '-', '_', '.' "
			       "that starts and ends with a letter or digit, with an optional "
			       "\"prefix/\"");
	}
	r->key = xstrndup(s, len);
	return 0;
}

static int value(struct lexer *l, struct sw_sel_req *r)
{
	blanks(l);
	const char *at = l->p;
	size_t len;
	const char *s = word(l, &len);
	if (!sw_label_value_valid(s, len)) {
		l->p = at;
		return fail(l, "bad label value: at most 63 letters, digits, '-', '_', '.' that "
			       "start and end with a letter or digit");
	}
	r->values = xrealloc(r->values, (r->nvalues + 1) * sizeof(*r->values));
	r->values[r->nvalues++] = xstrndup(s, len);
	return 0;
}

/* "(" VALUE ("," VALUE)* ")" */
static int value_set(struct lexer *l, struct sw_sel_req *r, const char *op)
{
	blanks(l);
	if (*l->p != '(') {
		char what[64];
		snprintf(what, sizeof(what), "expected \"(\" after \"%s\"", op);
		return fail(l, what);
	}
	l->p++;
	for (;;) {
		blanks(l);
		if (!*l->p)
			return fail(l, "missing \")\"");
		if (*l->p == ')' || *l->p == ',')
			return fail(l, "expected a value (an empty value is not allowed in a set)");
		int rc = value(l, r);
		if (rc)
			return rc;
		if (!r->values[r->nvalues - 1][0])
			return fail(l, "expected a value, \",\" or \")\"");
		blanks(l);
		if (*l->p == ')') {
			l->p++;
			return 0;
		}
		if (*l->p != ',')
			return fail(l, *l->p ? "expected \",\" or \")\"" : "missing \")\"");
		l->p++;
	}
}

/* Whether the text at p is the word w followed by something that cannot
 * continue a key (a blank or "("). */
static bool keyword(struct lexer *l, const char *w)
{
	size_t n = strlen(w);
	return strncmp(l->p, w, n) == 0 && !word_char(l->p[n]);
}

static int requirement(struct lexer *l, struct sw_sel_req *r)
{
	blanks(l);
	if (*l->p == '!') {
		l->p++;
		r->op = SW_SEL_NOT_EXISTS;
		return key(l, r);
	}
	int rc = key(l, r);
	if (rc)
		return rc;
	blanks(l);
	if (l->p[0] == '=' || (l->p[0] == '!' && l->p[1] == '=')) {
		r->op = l->p[0] == '!' ? SW_SEL_NE : SW_SEL_EQ;
		l->p += l->p[0] == '!' || l->p[1] == '=' ? 2 : 1;
		return value(l, r);
	}
	if (keyword(l, "in") || keyword(l, "notin")) {
		const char *op = l->p[0] == 'i' ? "in" : "notin";
		r->op = l->p[0] == 'i' ? SW_SEL_IN : SW_SEL_NOTIN;
		l->p += strlen(op);
		return value_set(l, r, op);
	}
	r->op = SW_SEL_EXISTS;
	if (*l->p && *l->p != ',')
		return fail(l, "expected \"=\", \"==\", \"!=\", \"in\", \"notin\" or \",\" after the key");
	return 0;
}

int sw_selector_parse(struct sw_selector *out, const char *text, struct sw_err *err)
{
	struct lexer l = {text, text, err};
	memset(out, 0, sizeof(*out));
	if (strlen(text) > SW_SELECTOR_MAX_TEXT)
		return sw_errf(err, SW_EINVAL, "longer than %d characters", SW_SELECTOR_MAX_TEXT);
	blanks(&l);
	if (!*l.p)
		return 0;
	for (;;) {
		out->reqs = xrealloc(out->reqs, (out->nreqs + 1) * sizeof(*out->reqs));
		struct sw_sel_req *r = &out->reqs[out->nreqs++];
		memset(r, 0, sizeof(*r));
		int rc = requirement(&l, r);
		if (rc) {
			sw_selector_release(out);
			return rc;
		}
		blanks(&l);
		if (!*l.p)
			return 0;
		if (*l.p != ',') {
			rc = fail(&l, "expected \",\" between requirements");
			sw_selector_release(out);
			return rc;
		}
		l.p++;
	}
}

void sw_selector_release(struct sw_selector *s)
{
	for (size_t i = 0; i < s->nreqs; i++) {
		for (size_t k = 0; k < s->reqs[i].nvalues; k++)
			free(s->reqs[i].values[k]);
		free(s->reqs[i].values);
		free(s->reqs[i].key);
	}
	free(s->reqs);
	s->reqs = NULL;
	s->nreqs = 0;
}

/* ---- matching ---- */

static bool in_values(const struct sw_sel_req *r, const char *v)
{
	for (size_t k = 0; k < r->nvalues; k++)
		if (strcmp(r->values[k], v) == 0)
			return true;
	return false;
}

bool sw_selector_match(const struct sw_selector *s, sw_label_lookup lookup, void *data)
{
	for (size_t i = 0; i < s->nreqs; i++) {
		const struct sw_sel_req *r = &s->reqs[i];
		const char *v = lookup(r->key, data);
		bool ok;
		switch (r->op) {
		case SW_SEL_EXISTS: ok = v != NULL; break;
		case SW_SEL_NOT_EXISTS: ok = v == NULL; break;
		case SW_SEL_EQ:
		case SW_SEL_IN: ok = v && in_values(r, v); break;
		default: ok = !v || !in_values(r, v); break; /* NE, NOTIN */
		}
		if (!ok)
			return false;
	}
	return true;
}

void sw_selector_format(const struct sw_selector *s, struct buf *out)
{
	for (size_t i = 0; i < s->nreqs; i++) {
		const struct sw_sel_req *r = &s->reqs[i];
		if (i)
			buf_addc(out, ',');
		if (r->op == SW_SEL_NOT_EXISTS)
			buf_addc(out, '!');
		buf_adds(out, r->key);
		if (r->op == SW_SEL_EQ || r->op == SW_SEL_NE) {
			buf_adds(out, r->op == SW_SEL_EQ ? "=" : "!=");
			buf_adds(out, r->values[0]);
		} else if (r->op == SW_SEL_IN || r->op == SW_SEL_NOTIN) {
			buf_adds(out, r->op == SW_SEL_IN ? " in (" : " notin (");
			for (size_t k = 0; k < r->nvalues; k++) {
				if (k)
					buf_addc(out, ',');
				buf_adds(out, r->values[k]);
			}
			buf_addc(out, ')');
		}
	}
}
