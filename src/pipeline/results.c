/*
 * Reports and gates (results.h): the XML tokenizer, JUnit, Cobertura,
 * lcov, gcovr's JSON summary, benchmark files, and the collection of a
 * job's results after its steps.
 */
#include "results.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/buf.h"
#include "pipeline_int.h"

/* ---- XML ---------------------------------------------------------------- */

struct xp {
	const char *name;           /* the file, for messages */
	const char *s, *end, *p;
	size_t nodes;
	struct sw_err *err;
};

static void xp_pos(const struct xp *x, const char *at, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (const char *q = x->s; q < at; q++) {
		if (*q == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static int xp_err(struct xp *x, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int xp_err(struct xp *x, const char *at, const char *fmt, ...)
{
	size_t line, col;
	xp_pos(x, at, &line, &col);
	va_list ap;
	va_start(ap, fmt);
	char *m = buf_vnewf(fmt, ap);
	va_end(ap);
	sw_errf(x->err, -1, "%s:%zu:%zu: %s", x->name, line, col, m);
	free(m);
	return -1;
}

static bool name_start(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' || c >= 0x80;
}

static bool name_char(unsigned char c)
{
	return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_blank(struct xp *x)
{
	while (x->p < x->end && blank(*x->p))
		x->p++;
}

static bool starts(const struct xp *x, const char *lit)
{
	size_t n = strlen(lit);
	return (size_t)(x->end - x->p) >= n && memcmp(x->p, lit, n) == 0;
}

static void utf8_put(struct buf *b, unsigned long cp)
{
	if (cp < 0x80) {
		buf_addc(b, (char)cp);
	} else if (cp < 0x800) {
		buf_addc(b, (char)(0xC0 | (cp >> 6)));
		buf_addc(b, (char)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		buf_addc(b, (char)(0xE0 | (cp >> 12)));
		buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		buf_addc(b, (char)(0x80 | (cp & 0x3F)));
	} else {
		buf_addc(b, (char)(0xF0 | (cp >> 18)));
		buf_addc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
		buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		buf_addc(b, (char)(0x80 | (cp & 0x3F)));
	}
}

/* At '&': appends what the reference stands for. */
static int entity(struct xp *x, struct buf *out)
{
	static const struct {
		const char *name;
		char c;
	} five[] = {{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''}};
	const char *at = x->p, *semi = x->p + 1;
	while (semi < x->end && semi - at < 16 && *semi != ';')
		semi++;
	if (semi >= x->end || *semi != ';')
		return xp_err(x, at, "\"&\" starts no entity reference (write &amp; for a plain \"&\")");
	size_t n = (size_t)(semi - at - 1);
	const char *e = at + 1;
	if (n >= 2 && e[0] == '#') {
		bool hex = e[1] == 'x';
		unsigned long cp = 0;
		size_t i = hex ? 2 : 1;
		if (i >= n)
			return xp_err(x, at, "\"&%.*s;\" is not a character reference", (int)n, e);
		for (; i < n; i++) {
			int d = e[i] >= '0' && e[i] <= '9' ? e[i] - '0'
				: hex && e[i] >= 'a' && e[i] <= 'f' ? e[i] - 'a' + 10
				: hex && e[i] >= 'A' && e[i] <= 'F' ? e[i] - 'A' + 10 : -1;
			if (d < 0 || cp > 0x10FFFF)
				return xp_err(x, at, "\"&%.*s;\" is not a character reference", (int)n, e);
			cp = cp * (hex ? 16 : 10) + (unsigned long)d;
		}
		if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return xp_err(x, at, "\"&%.*s;\" is not a character XML allows", (int)n, e);
		utf8_put(out, cp);
		x->p = semi + 1;
		return 0;
	}
	for (size_t i = 0; i < sizeof(five) / sizeof(five[0]); i++)
		if (strlen(five[i].name) == n && memcmp(five[i].name, e, n) == 0) {
			buf_addc(out, five[i].c);
			x->p = semi + 1;
			return 0;
		}
	return xp_err(x, at, "unknown entity \"&%.*s;\" (only &lt; &gt; &amp; &quot; &apos; and &#N; are read; "
			     "a DOCTYPE's entities never are)", (int)n, e);
}

/* Skips <!-- -->, <? ?>, <!DOCTYPE ...>; 1 when one was skipped, 0 when none is here. */
static int skip_misc(struct xp *x)
{
	static const struct {
		const char *open, *close, *what;
	} skipped[] = {{"<!--", "-->", "comment"}, {"<?", "?>", "processing instruction"}};
	const char *at = x->p;
	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
		size_t o = strlen(skipped[i].open), cl = strlen(skipped[i].close);
		if (!starts(x, skipped[i].open))
			continue;
		const char *e = memmem(x->p + o, (size_t)(x->end - x->p) - o, skipped[i].close, cl);
		if (!e)
			return xp_err(x, at, "%s not closed by %s", skipped[i].what, skipped[i].close);
		x->p = e + cl;
		return 1;
	}
	if (starts(x, "<!DOCTYPE")) {
		int depth = 0;
		char quote = 0;
		for (x->p += 9; x->p < x->end; x->p++) {
			char c = *x->p;
			if (quote) {
				if (c == quote)
					quote = 0;
			} else if (c == '"' || c == '\'') {
				quote = c;
			} else if (c == '[') {
				depth++;
			} else if (c == ']') {
				depth--;
			} else if (c == '>' && depth <= 0) {
				x->p++;
				return 1;
			}
		}
		return xp_err(x, at, "DOCTYPE not closed by >");
	}
	return 0;
}

static struct pipeline_xml *element(struct xp *x, int depth, int *rc);

static int attrs(struct xp *x, struct pipeline_xml *el)
{
	for (;;) {
		const char *before = x->p;
		skip_blank(x);
		if (x->p >= x->end)
			return xp_err(x, x->p, "end of file inside the tag <%s>", el->name);
		if (*x->p == '>' || *x->p == '/')
			return 0;
		if (x->p == before)
			return xp_err(x, x->p, "expected a blank before the attribute in <%s>", el->name);
		if (!name_start((unsigned char)*x->p))
			return xp_err(x, x->p, "expected an attribute name, \">\" or \"/>\" in <%s>, got \"%c\"",
				      el->name, *x->p);
		const char *an = x->p;
		while (x->p < x->end && name_char((unsigned char)*x->p))
			x->p++;
		char *name = xstrndup(an, (size_t)(x->p - an));
		for (size_t i = 0; i < el->nattrs; i++)
			if (strcmp(el->attrs[i].name, name) == 0) {
				xp_err(x, an, "attribute \"%s\" twice in <%s>", name, el->name);
				free(name);
				return -1;
			}
		if (el->nattrs >= PIPELINE_XML_MAX_ATTRS) {
			free(name);
			return xp_err(x, an, "<%s> has more than %d attributes", el->name, PIPELINE_XML_MAX_ATTRS);
		}
		skip_blank(x);
		if (x->p >= x->end || *x->p != '=') {
			xp_err(x, x->p, "attribute \"%s\" of <%s> has no value (name=\"value\")", name, el->name);
			free(name);
			return -1;
		}
		x->p++;
		skip_blank(x);
		if (x->p >= x->end || (*x->p != '"' && *x->p != '\'')) {
			xp_err(x, x->p, "the value of attribute \"%s\" must be quoted", name);
			free(name);
			return -1;
		}
		char q = *x->p++;
		struct buf v = BUF_INIT;
		v.cap = PIPELINE_XML_MAX_BYTES;
		int rc = 0;
		while (rc == 0 && x->p < x->end && *x->p != q) {
			if (*x->p == '<')
				rc = xp_err(x, x->p, "\"<\" in the value of attribute \"%s\" (write &lt;)", name);
			else if (*x->p == '&')
				rc = entity(x, &v);
			else
				buf_addc(&v, *x->p++);
		}
		if (rc == 0 && x->p >= x->end)
			rc = xp_err(x, an, "the value of attribute \"%s\" is not closed", name);
		if (rc < 0) {
			free(name);
			buf_release(&v);
			return -1;
		}
		x->p++;
		el->attrs = xrealloc(el->attrs, (el->nattrs + 1) * sizeof(*el->attrs));
		el->attrs[el->nattrs].name = name;
		el->attrs[el->nattrs++].value = buf_detach(&v);
	}
}

static void text_add(struct buf *t, const char *s, size_t n)
{
	if (t->len < PIPELINE_XML_MAX_TEXT)
		buf_add(t, s, n < PIPELINE_XML_MAX_TEXT - t->len ? n : PIPELINE_XML_MAX_TEXT - t->len);
}

/* Content of el up to its end tag. */
static int content(struct xp *x, struct pipeline_xml *el, int depth)
{
	struct buf text = BUF_INIT;
	int rc = 0;
	while (rc == 0) {
		if (x->p >= x->end) {
			rc = sw_errf(x->err, -1, "%s:%zu:%zu: <%s> is not closed (end of file)", x->name, el->line,
				     el->col, el->name);
			break;
		}
		if (starts(x, "</")) {
			const char *at = x->p;
			x->p += 2;
			size_t n = strlen(el->name);
			if ((size_t)(x->end - x->p) < n || memcmp(x->p, el->name, n) != 0 ||
			    (x->p + n < x->end && name_char((unsigned char)x->p[n]))) {
				const char *e = x->p;
				while (e < x->end && name_char((unsigned char)*e))
					e++;
				rc = xp_err(x, at, "</%.*s> closes <%s> (opened at %zu:%zu)", (int)(e - x->p), x->p,
					    el->name, el->line, el->col);
				break;
			}
			x->p += n;
			skip_blank(x);
			if (x->p >= x->end || *x->p != '>') {
				rc = xp_err(x, x->p, "expected \">\" to end </%s>", el->name);
				break;
			}
			x->p++;
			break;
		}
		if (starts(x, "<![CDATA[")) {
			const char *e = memmem(x->p + 9, (size_t)(x->end - x->p - 9), "]]>", 3);
			if (!e) {
				rc = xp_err(x, x->p, "CDATA section not closed by ]]>");
				break;
			}
			text_add(&text, x->p + 9, (size_t)(e - x->p - 9));
			x->p = e + 3;
			continue;
		}
		if (*x->p == '<') {
			if (starts(x, "<!DOCTYPE")) {
				rc = xp_err(x, x->p, "a DOCTYPE inside an element");
				break;
			}
			int r = skip_misc(x);
			if (r < 0) {
				rc = -1;
				break;
			}
			if (r)
				continue;
			struct pipeline_xml *kid = element(x, depth + 1, &rc);
			if (!kid)
				break;
			el->kids = xrealloc(el->kids, (el->nkids + 1) * sizeof(*el->kids));
			el->kids[el->nkids++] = kid;
			continue;
		}
		if (*x->p == '&') {
			struct buf e = BUF_INIT;
			rc = entity(x, &e);
			text_add(&text, e.s ? e.s : "", e.len);
			buf_release(&e);
			continue;
		}
		const char *s = x->p;
		while (x->p < x->end && *x->p != '<' && *x->p != '&')
			x->p++;
		text_add(&text, s, (size_t)(x->p - s));
	}
	el->text = buf_detach(&text);
	return rc;
}

/* At '<' of a start tag. */
static struct pipeline_xml *element(struct xp *x, int depth, int *rc)
{
	const char *at = x->p;
	*rc = -1;
	if (depth > PIPELINE_XML_MAX_DEPTH) {
		xp_err(x, at, "elements nested more than %d deep", PIPELINE_XML_MAX_DEPTH);
		return NULL;
	}
	if (++x->nodes > PIPELINE_XML_MAX_NODES) {
		xp_err(x, at, "more than %d elements", PIPELINE_XML_MAX_NODES);
		return NULL;
	}
	x->p++;
	if (x->p >= x->end || !name_start((unsigned char)*x->p)) {
		xp_err(x, at, "\"<\" starts no element (write &lt; for a plain \"<\")");
		return NULL;
	}
	const char *n = x->p;
	while (x->p < x->end && name_char((unsigned char)*x->p))
		x->p++;
	struct pipeline_xml *el = xcalloc(1, sizeof(*el));
	el->name = xstrndup(n, (size_t)(x->p - n));
	xp_pos(x, at, &el->line, &el->col);
	if (attrs(x, el) < 0)
		goto fail;
	if (*x->p == '/') {
		x->p++;
		if (x->p >= x->end || *x->p != '>') {
			xp_err(x, x->p, "expected \">\" after \"/\" in <%s>", el->name);
			goto fail;
		}
		x->p++;
		el->text = xstrdup("");
		*rc = 0;
		return el;
	}
	x->p++;
	if (content(x, el, depth) < 0)
		goto fail;
	*rc = 0;
	return el;
fail:
	pipeline_xml_free(el);
	return NULL;
}

int pipeline_xml_parse(struct pipeline_xml **out, const char *name, const char *text, size_t len,
		       struct sw_err *err)
{
	struct xp x = {.name = name, .s = text, .end = text + len, .p = text, .err = err};
	*out = NULL;
	if (len > PIPELINE_XML_MAX_BYTES)
		return sw_errf(err, -1, "%s: %zu bytes; a report is at most %u MiB", name, len,
			       PIPELINE_XML_MAX_BYTES >> 20);
	if (memchr(text, '\0', len))
		return xp_err(&x, (const char *)memchr(text, '\0', len), "a NUL byte (not a text file)");
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		x.p += 3;
	struct pipeline_xml *root = NULL;
	for (;;) {
		skip_blank(&x);
		if (x.p >= x.end)
			break;
		int r = skip_misc(&x);
		if (r < 0)
			goto fail;
		if (r)
			continue;
		if (*x.p != '<') {
			xp_err(&x, x.p, root ? "text after the root element <%s>" : "text before the root element%s",
			       root ? root->name : "");
			goto fail;
		}
		if (root) {
			xp_err(&x, x.p, "a second root element after <%s>", root->name);
			goto fail;
		}
		int rc;
		root = element(&x, 1, &rc);
		if (!root)
			goto fail;
	}
	if (!root) {
		xp_err(&x, x.p, "no element in it (an empty or truncated file?)");
		goto fail;
	}
	*out = root;
	return 0;
fail:
	pipeline_xml_free(root);
	return -1;
}

void pipeline_xml_free(struct pipeline_xml *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->nattrs; i++) {
		free(x->attrs[i].name);
		free(x->attrs[i].value);
	}
	for (size_t i = 0; i < x->nkids; i++)
		pipeline_xml_free(x->kids[i]);
	free(x->attrs);
	free(x->kids);
	free(x->name);
	free(x->text);
	free(x);
}

const char *pipeline_xml_attr(const struct pipeline_xml *x, const char *name)
{
	for (size_t i = 0; i < x->nattrs; i++)
		if (strcmp(x->attrs[i].name, name) == 0)
			return x->attrs[i].value;
	return NULL;
}

/* ---- numbers in attributes ------------------------------------------------ */

/* A finite number >= 0 from attribute `a` of el; absent: 1 with *out untouched. */
static int num_attr(double *out, const struct pipeline_xml *el, const char *a, const char *file,
		    struct sw_err *err)
{
	const char *v = pipeline_xml_attr(el, a);
	if (!v)
		return 1;
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	/* ctest and some Java writers put "1,234.5" or "" in time */
	if (end == v || *end || errno || !isfinite(d) || d < 0)
		return sw_errf(err, -1, "%s:%zu:%zu: <%s %s=\"%s\">: not a number >= 0", file, el->line, el->col,
			       el->name, a, v);
	*out = d;
	return 0;
}

/* ---- JUnit -------------------------------------------------------------------- */

static const struct pipeline_xml *kid(const struct pipeline_xml *el, const char *name)
{
	for (size_t i = 0; i < el->nkids; i++)
		if (strcmp(el->kids[i]->name, name) == 0)
			return el->kids[i];
	return NULL;
}

struct junit_count {
	uint64_t tests, failures, errors, skipped;
};

static int junit_case(struct pipeline_tests *t, struct junit_count *k, const struct pipeline_xml *tc,
		      const char *file, struct sw_err *err)
{
	const char *name = pipeline_xml_attr(tc, "name");
	if (!name)
		return sw_errf(err, -1, "%s:%zu:%zu: <testcase> without a name attribute", file, tc->line, tc->col);
	double secs = 0;
	if (num_attr(&secs, tc, "time", file, err) < 0)
		return -1;
	t->seconds += secs;
	t->total++;
	k->tests++;
	const struct pipeline_xml *bad = kid(tc, "failure");
	bool error = false;
	if (!bad && (bad = kid(tc, "error")))
		error = true;
	if (!bad) {
		if (kid(tc, "skipped")) {
			t->skipped++;
			k->skipped++;
		}
		return 0;
	}
	if (error) {
		t->errors++;
		k->errors++;
	} else {
		t->failed++;
		k->failures++;
	}
	if (t->nshown < PIPELINE_RESULTS_SHOWN) {
		const char *cls = pipeline_xml_attr(tc, "classname");
		const char *msg = pipeline_xml_attr(bad, "message");
		struct pipeline_failed_test *f = &t->shown[t->nshown++];
		f->name = cls && *cls ? pipeline_newf("%s.%s", cls, name) : xstrdup(name);
		if (msg && *msg) {
			f->message = xstrndup(msg, strcspn(msg, "\n"));
		} else {
			const char *s = bad->text;
			while (blank(*s))
				s++;
			f->message = xstrndup(s, strcspn(s, "\r\n"));
		}
	}
	return 0;
}

static int junit_suite(struct pipeline_tests *t, struct junit_count *up, const struct pipeline_xml *ts,
		       const char *file, int depth, struct sw_err *err)
{
	struct junit_count k = {0};
	for (size_t i = 0; i < ts->nkids; i++) {
		const struct pipeline_xml *e = ts->kids[i];
		int rc = 0;
		if (strcmp(e->name, "testcase") == 0)
			rc = junit_case(t, &k, e, file, err);
		else if (strcmp(e->name, "testsuite") == 0)
			rc = junit_suite(t, &k, e, file, depth + 1, err);
		if (rc < 0)
			return rc;
	}
	static const char *const names[] = {"tests", "failures", "errors", "skipped"};
	const uint64_t got[] = {k.tests, k.failures, k.errors, k.skipped};
	for (size_t i = 0; i < 4 && !t->note; i++) {
		double said = 0;
		int r = num_attr(&said, ts, names[i], file, err);
		if (r < 0)
			return r;
		if (r == 0 && (uint64_t)said != got[i]) {
			const char *sn = pipeline_xml_attr(ts, "name");
			t->note = pipeline_newf("%s:%zu:%zu: <%s%s%s%s> says %s=\"%s\" but holds %llu; the testcases are "
					   "counted",
					   file, ts->line, ts->col, ts->name, sn ? " name=\"" : "", sn ? sn : "",
					   sn ? "\"" : "", names[i], pipeline_xml_attr(ts, names[i]),
					   (unsigned long long)got[i]);
		}
	}
	up->tests += k.tests;
	up->failures += k.failures;
	up->errors += k.errors;
	up->skipped += k.skipped;
	return 0;
}

int pipeline_junit_parse(struct pipeline_tests *t, const char *name, const char *text, size_t len,
			 struct sw_err *err)
{
	struct pipeline_xml *root = NULL;
	if (pipeline_xml_parse(&root, name, text, len, err) < 0)
		return -1;
	int rc;
	struct junit_count k = {0};
	if (strcmp(root->name, "testsuites") == 0 || strcmp(root->name, "testsuite") == 0)
		rc = junit_suite(t, &k, root, name, 0, err);
	else
		rc = sw_errf(err, -1, "%s:%zu:%zu: a JUnit report's root is <testsuites> or <testsuite>, got <%s>",
			     name, root->line, root->col, root->name);
	pipeline_xml_free(root);
	return rc;
}

void pipeline_tests_release(struct pipeline_tests *t)
{
	for (size_t i = 0; i < t->nshown; i++) {
		free(t->shown[i].name);
		free(t->shown[i].message);
	}
	free(t->note);
	memset(t, 0, sizeof(*t));
}

/* ---- coverage ------------------------------------------------------------------ */

static int cobertura(struct pipeline_coverage *c, const char *name, const char *text, size_t len,
		     struct sw_err *err)
{
	struct pipeline_xml *root = NULL;
	if (pipeline_xml_parse(&root, name, text, len, err) < 0)
		return -1;
	int rc = -1;
	double covered = 0, valid = 0, rate = 0, bc = 0, bv = 0;
	if (strcmp(root->name, "coverage") != 0) {
		sw_errf(err, -1, "%s:%zu:%zu: a Cobertura report's root is <coverage>, got <%s>", name, root->line,
			root->col, root->name);
		goto out;
	}
	int rc1 = num_attr(&covered, root, "lines-covered", name, err);
	int rc2 = rc1 < 0 ? -1 : num_attr(&valid, root, "lines-valid", name, err);
	int rc3 = rc2 < 0 ? -1 : num_attr(&rate, root, "line-rate", name, err);
	if (rc3 < 0 || num_attr(&bc, root, "branches-covered", name, err) < 0 ||
	    num_attr(&bv, root, "branches-valid", name, err) < 0)
		goto out;
	if (covered > 1e15 || valid > 1e15 || bc > 1e15 || bv > 1e15 || covered != floor(covered) ||
	    valid != floor(valid) || bc != floor(bc) || bv != floor(bv)) {
		sw_errf(err, -1, "%s:%zu:%zu: <coverage>'s lines-* and branches-* are whole numbers", name, root->line,
			root->col);
		goto out;
	}
	if (bc > bv) {
		sw_errf(err, -1, "%s:%zu:%zu: <coverage> says branches-covered=\"%.0f\" > branches-valid=\"%.0f\"",
			name, root->line, root->col, bc, bv);
		goto out;
	}
	if (rc1 == 0 && rc2 == 0) {
		if (covered > valid) {
			sw_errf(err, -1, "%s:%zu:%zu: <coverage> says lines-covered=\"%.0f\" > lines-valid=\"%.0f\"", name,
				root->line, root->col, covered, valid);
			goto out;
		}
		c->covered = (uint64_t)covered;
		c->valid = (uint64_t)valid;
		c->counted = true;
		c->percent = valid > 0 ? 100.0 * covered / valid : 100.0;
	} else if (rc3 == 0) {
		if (rate > 1) {
			sw_errf(err, -1, "%s:%zu:%zu: <coverage line-rate=\"%s\">: a rate is 0..1", name, root->line,
				root->col, pipeline_xml_attr(root, "line-rate"));
			goto out;
		}
		c->percent = 100.0 * rate;
	} else {
		sw_errf(err, -1, "%s:%zu:%zu: <coverage> has neither lines-covered/lines-valid nor line-rate", name,
			root->line, root->col);
		goto out;
	}
	c->br_covered = (uint64_t)bc;
	c->br_valid = (uint64_t)bv;
	rc = 0;
out:
	pipeline_xml_free(root);
	return rc;
}

/* A JSON report, or NULL with "name:line:col: what" (jansson's). */
static json_t *json_read(const char *name, const char *text, size_t len, struct sw_err *err)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		sw_errf(err, -1, "%s:%d:%d: %s", name, je.line, je.column, je.text);
	return j;
}

static int gcovr_json(struct pipeline_coverage *c, const char *name, const char *text, size_t len,
		      struct sw_err *err)
{
	json_t *j = json_read(name, text, len, err);
	if (!j)
		return -1;
	int rc = 0;
	json_t *lc = json_object_get(j, "line_covered"), *lt = json_object_get(j, "line_total");
	if (!json_is_integer(lc) || !json_is_integer(lt) || json_integer_value(lc) < 0 ||
	    json_integer_value(lt) < json_integer_value(lc))
		rc = sw_errf(err, -1, "%s:1:1: a gcovr JSON summary has line_covered <= line_total, integers >= 0",
			     name);
	else {
		c->covered = (uint64_t)json_integer_value(lc);
		c->valid = (uint64_t)json_integer_value(lt);
		c->counted = true;
		c->percent = c->valid ? 100.0 * (double)c->covered / (double)c->valid : 100.0;
		json_t *bc = json_object_get(j, "branch_covered"), *bt = json_object_get(j, "branch_total");
		if (json_is_integer(bc) && json_is_integer(bt) && json_integer_value(bc) >= 0 &&
		    json_integer_value(bt) >= json_integer_value(bc)) {
			c->br_covered = (uint64_t)json_integer_value(bc);
			c->br_valid = (uint64_t)json_integer_value(bt);
		}
	}
	json_decref(j);
	return rc;
}

static bool lcov_uint(const char *s, size_t n, uint64_t *out)
{
	if (n == 0 || n > 15)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

static int lcov(struct pipeline_coverage *c, const char *name, const char *text, size_t len, struct sw_err *err)
{
	static const char *const known[] = {"TN", "SF", "FN", "FNDA", "FNF", "FNH", "FNL", "FNA", "DA", "LF",
					    "LH", "BRDA", "BRF", "BRH", "VER", NULL};
	bool in = false, lf_seen = false, lh_seen = false;
	uint64_t lf = 0, lh = 0, da = 0, dah = 0, brf = 0, brh = 0, records = 0;
	size_t line = 0, sf_line = 0;
	if (len > PIPELINE_XML_MAX_BYTES)
		return sw_errf(err, -1, "%s: %zu bytes; a report is at most %u MiB", name, len,
			       PIPELINE_XML_MAX_BYTES >> 20);
	for (const char *p = text, *end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *s = p;
		p += n + (nl ? 1 : 0);
		line++;
		if (n && s[n - 1] == '\r')
			n--;
		if (n == 0)
			continue;
		if (n == 13 && memcmp(s, "end_of_record", 13) == 0) {
			if (!in)
				return sw_errf(err, -1, "%s:%zu:1: end_of_record without its SF: line", name, line);
			if (!lf_seen)
				lf = da, lh = dah;
			if (lh > lf)
				return sw_errf(err, -1, "%s:%zu:1: this record says LH %llu > LF %llu", name, line,
					       (unsigned long long)lh, (unsigned long long)lf);
			if (c->valid + lf > (uint64_t)1e15)
				return sw_errf(err, -1, "%s:%zu:1: over 10^15 lines in all", name, line);
			c->covered += lh;
			c->valid += lf;
			in = lf_seen = lh_seen = false;
			lf = lh = da = dah = 0;
			records++;
			continue;
		}
		const char *colon = memchr(s, ':', n);
		size_t kn = colon ? (size_t)(colon - s) : n;
		size_t k;
		for (k = 0; known[k]; k++)
			if (strlen(known[k]) == kn && memcmp(known[k], s, kn) == 0)
				break;
		if (!colon || !known[k])
			return sw_errf(err, -1,
				       "%s:%zu:1: \"%.*s\" is not an lcov tracefile line (TN:, SF:, DA:, LF:, LH:, "
				       "BRF:, BRH:, ..., end_of_record)",
				       name, line, (int)(n > 40 ? 40 : n), s);
		const char *v = colon + 1;
		size_t vn = n - kn - 1;
		if (strcmp(known[k], "SF") == 0) {
			if (in)
				return sw_errf(err, -1, "%s:%zu:1: SF: inside the record of line %zu (no end_of_record)",
					       name, line, sf_line);
			in = true;
			sf_line = line;
			continue;
		}
		if (strcmp(known[k], "TN") == 0 || strcmp(known[k], "VER") == 0)
			continue;
		if (!in)
			return sw_errf(err, -1, "%s:%zu:1: %s: outside a record (SF: first)", name, line, known[k]);
		uint64_t num = 0;
		if (strcmp(known[k], "DA") == 0) {
			const char *comma = memchr(v, ',', vn);
			const char *c2 = comma ? memchr(comma + 1, ',', (size_t)(v + vn - comma - 1)) : NULL;
			size_t cn = comma ? (size_t)((c2 ? c2 : v + vn) - comma - 1) : 0;
			uint64_t ln;
			/* gcov writes a count of "-1"... never; lcov may write "=====" for unexecuted: refuse */
			if (!comma || !lcov_uint(v, (size_t)(comma - v), &ln) || !lcov_uint(comma + 1, cn, &num))
				return sw_errf(err, -1, "%s:%zu:4: DA: is LINE,COUNT with numbers, got \"%.*s\"", name,
					       line, (int)(vn > 40 ? 40 : vn), v);
			da++;
			dah += num > 0;
			continue;
		}
		bool counted = strcmp(known[k], "LF") == 0 || strcmp(known[k], "LH") == 0 ||
			       strcmp(known[k], "BRF") == 0 || strcmp(known[k], "BRH") == 0;
		if (!counted)
			continue;
		if (!lcov_uint(v, vn, &num))
			return sw_errf(err, -1, "%s:%zu:%zu: %s: takes a number, got \"%.*s\"", name, line, kn + 2,
				       known[k], (int)(vn > 40 ? 40 : vn), v);
		if (strcmp(known[k], "LF") == 0)
			lf = num, lf_seen = true;
		else if (strcmp(known[k], "LH") == 0)
			lh = num, lh_seen = true;
		else if (strcmp(known[k], "BRF") == 0)
			brf += num;
		else
			brh += num;
	}
	(void)lh_seen;
	if (in)
		return sw_errf(err, -1, "%s:%zu:1: the record of SF: is not closed by end_of_record", name, sf_line);
	if (records == 0)
		return sw_errf(err, -1, "%s:1:1: no SF: record in it (an empty lcov tracefile?)", name);
	if (brf > (uint64_t)1e15)
		return sw_errf(err, -1, "%s: over 10^15 branches in all", name);
	if (brh > brf)
		return sw_errf(err, -1, "%s: BRH %llu > BRF %llu", name, (unsigned long long)brh,
			       (unsigned long long)brf);
	c->counted = true;
	c->br_covered = brh;
	c->br_valid = brf;
	c->percent = c->valid ? 100.0 * (double)c->covered / (double)c->valid : 100.0;
	return 0;
}

int pipeline_coverage_parse(struct pipeline_coverage *c, const char *name, const char *text, size_t len,
			    struct sw_err *err)
{
	memset(c, 0, sizeof(*c));
	size_t i = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
	while (i < len && blank(text[i]))
		i++;
	if (i < len && text[i] == '<')
		return cobertura(c, name, text, len, err);
	if (i < len && text[i] == '{')
		return gcovr_json(c, name, text, len, err);
	return lcov(c, name, text, len, err);
}

int pipeline_benchmark_parse(double *out, const char *name, const char *text, size_t len, const char *metric,
			     struct sw_err *err)
{
	json_t *j = json_read(name, text, len, err);
	if (!j)
		return -1;
	int rc = 0;
	json_t *v = json_is_object(j) ? json_object_get(j, metric) : NULL;
	if (!json_is_object(j)) {
		rc = sw_errf(err, -1, "%s:1:1: a benchmark file is an object {\"METRIC\": number}", name);
	} else if (!json_is_number(v)) {
		struct buf has = BUF_INIT;
		const char *k;
		json_t *val;
		json_object_foreach(j, k, val)
			if (json_is_number(val))
				buf_addf(&has, "%s%s", has.len ? ", " : "", k);
		rc = sw_errf(err, -1, "%s: no number \"%s\" in it (it has: %s)", name, metric, has.len ? has.s : "none");
		buf_release(&has);
	} else {
		*out = json_number_value(v);
	}
	json_decref(j);
	return rc;
}

/* ---- a job's results ----------------------------------------------------------- */

static int read_report(struct buf *out, const char *ws, const char *rel, struct sw_err *err)
{
	struct buf path = BUF_INIT;
	buf_addf(&path, "%s/%s", ws, rel);
	int fd = open(path.s, O_RDONLY | O_CLOEXEC);
	buf_release(&path);
	if (fd < 0)
		return sw_errf(err, -1, "%s: cannot read it: %s", rel, strerror(errno));
	out->cap = PIPELINE_XML_MAX_BYTES + 1;
	int rc = buf_add_fd(out, fd);
	close(fd);
	if (rc < 0 || out->len > PIPELINE_XML_MAX_BYTES)
		return sw_errf(err, -1, "%s: over %u MiB; a report is at most that", rel, PIPELINE_XML_MAX_BYTES >> 20);
	return 0;
}

/* The files `pattern` matches in ws, relative to it, sorted; NULL when none. */
static char **expand(const char *ws, const char *pattern, size_t *n)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/%s", ws, pattern);
	glob_t g = {0};
	char **v = NULL;
	*n = 0;
	if (glob(b.s, GLOB_ERR, NULL, &g) == 0 && g.gl_pathc) {
		v = xcalloc(g.gl_pathc + 1, sizeof(char *));
		size_t skip = strlen(ws) + 1;
		for (size_t i = 0; i < g.gl_pathc; i++)
			v[(*n)++] = xstrdup(g.gl_pathv[i] + skip);
	}
	globfree(&g);
	buf_release(&b);
	return v;
}

static void gate(json_t *gates, struct buf *why, const char *name, bool passed, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void gate(json_t *gates, struct buf *why, const char *name, bool passed, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *reason = buf_vnewf(fmt, ap);
	va_end(ap);
	json_array_append_new(gates, json_pack("{ss sb ss}", "gate", name, "passed", passed, "reason", reason));
	if (!passed && why->len == 0)
		buf_adds(why, reason);
	free(reason);
}

static int collect_tests(json_t *res, const struct pipeline_reports *r, const char *ws, struct pipeline_tests *t,
			 struct sw_err *err)
{
	json_t *files = json_array();
	int rc = 0;
	for (size_t i = 0; i < r->njunit && rc == 0; i++) {
		size_t n;
		char **v = expand(ws, r->junit[i], &n);
		if (!v)
			rc = sw_errf(err, -1, "reports.junit: \"%s\" matches no file in the workspace", r->junit[i]);
		for (size_t k = 0; k < n && rc == 0; k++) {
			struct buf text = BUF_INIT;
			rc = read_report(&text, ws, v[k], err);
			if (rc == 0)
				rc = pipeline_junit_parse(t, v[k], text.s ? text.s : "", text.len, err);
			json_array_append_new(files, json_string(v[k]));
			buf_release(&text);
		}
		pipeline_strv_free(v, n);
	}
	json_t *failed = json_array();
	for (size_t i = 0; i < t->nshown; i++)
		json_array_append_new(failed, json_pack("{ss ss}", "name", t->shown[i].name, "message",
							t->shown[i].message));
	json_t *o = json_pack("{sI sI sI sI sI sf so so}", "total", (json_int_t)t->total, "passed",
			      (json_int_t)(t->total - t->failed - t->errors - t->skipped), "failed",
			      (json_int_t)t->failed, "errors", (json_int_t)t->errors, "skipped", (json_int_t)t->skipped,
			      "seconds", t->seconds, "failures", failed, "files", files);
	if (t->note)
		json_object_set_new(o, "note", json_string(t->note));
	json_object_set_new(res, "tests", o);
	return rc;
}

static int collect_coverage(json_t *res, const char *pattern, const char *ws, struct pipeline_coverage *sum,
			    struct sw_err *err)
{
	size_t n;
	char **v = expand(ws, pattern, &n);
	int rc = 0;
	memset(sum, 0, sizeof(*sum));
	if (!v)
		rc = sw_errf(err, -1, "reports.coverage: \"%s\" matches no file in the workspace", pattern);
	json_t *files = json_array();
	for (size_t k = 0; k < n && rc == 0; k++) {
		struct buf text = BUF_INIT;
		struct pipeline_coverage c;
		rc = read_report(&text, ws, v[k], err);
		if (rc == 0)
			rc = pipeline_coverage_parse(&c, v[k], text.s ? text.s : "", text.len, err);
		buf_release(&text);
		json_array_append_new(files, json_string(v[k]));
		if (rc < 0)
			break;
		if (!c.counted && n > 1) {
			rc = sw_errf(err, -1, "%s: gives a line-rate only; with several coverage files each needs "
					      "lines-covered and lines-valid", v[k]);
			break;
		}
		if (n == 1)
			*sum = c;
		else {
			sum->covered += c.covered;
			sum->valid += c.valid;
			sum->br_covered += c.br_covered;
			sum->br_valid += c.br_valid;
			sum->counted = true;
			sum->percent = sum->valid ? 100.0 * (double)sum->covered / (double)sum->valid : 100.0;
		}
	}
	pipeline_strv_free(v, n);
	json_t *o = json_pack("{sf so}", "percent", floor(sum->percent * 10 + 0.5) / 10, "files", files);
	if (sum->counted) {
		json_object_set_new(o, "lines_covered", json_integer((json_int_t)sum->covered));
		json_object_set_new(o, "lines_valid", json_integer((json_int_t)sum->valid));
	}
	if (sum->br_valid) {
		json_object_set_new(o, "branches_covered", json_integer((json_int_t)sum->br_covered));
		json_object_set_new(o, "branches_valid", json_integer((json_int_t)sum->br_valid));
	}
	json_object_set_new(res, "coverage", o);
	return rc;
}

/* "a.xml" or "a.xml, b.xml" from a files array */
static void files_text(struct buf *out, const json_t *res, const char *part)
{
	const json_t *files = json_object_get(json_object_get(res, part), "files");
	size_t i;
	const json_t *f;
	json_array_foreach(files, i, f)
		buf_addf(out, "%s%s", i ? ", " : "", json_string_value(f));
}

int pipeline_results_collect(json_t **out, const struct pipeline_job *pj, const char *ws, struct buf *why)
{
	const struct pipeline_reports *r = &pj->reports;
	const struct pipeline_gates *g = &pj->gates;
	*out = NULL;
	if (!r->njunit && !r->coverage && !g->tests && !g->coverage && !g->bench_file)
		return 0;
	json_t *res = json_object(), *gates = json_array();
	struct pipeline_tests t = {0};
	struct pipeline_coverage cov = {0};
	struct sw_err err = {0};
	bool tests_ok = true, cov_ok = true;
	if (r->njunit && collect_tests(res, r, ws, &t, &err) < 0) {
		tests_ok = false;
		if (!why->len)
			buf_adds(why, err.msg);
		json_object_set_new(res, "error", json_string(err.msg));
		json_object_set_new(json_object_get(res, "tests"), "error", json_string(err.msg));
	}
	struct sw_err cerr = {0};
	if (r->coverage && collect_coverage(res, r->coverage, ws, &cov, &cerr) < 0) {
		cov_ok = false;
		if (!why->len)
			buf_adds(why, cerr.msg);
		if (!json_object_get(res, "error"))
			json_object_set_new(res, "error", json_string(cerr.msg));
		json_object_set_new(json_object_get(res, "coverage"), "error", json_string(cerr.msg));
	}
	struct buf files = BUF_INIT;
	if (g->tests) {
		files_text(&files, res, "tests");
		uint64_t bad = t.failed + t.errors;
		if (!r->njunit)
			gate(gates, why, "tests", false, "tests: the job has no reports.junit to judge");
		else if (!tests_ok)
			gate(gates, why, "tests", false, "tests: the reports could not be read");
		else if (bad)
			gate(gates, why, "tests", false, "tests: %llu failed, %llu errors of %llu (%s)",
			     (unsigned long long)t.failed, (unsigned long long)t.errors, (unsigned long long)t.total,
			     files.s);
		else if (t.total == t.skipped)
			gate(gates, why, "tests", false, "tests: no test ran (%s)", files.s);
		else
			gate(gates, why, "tests", true, "tests passed: %llu of %llu (%llu skipped)",
			     (unsigned long long)(t.total - t.skipped), (unsigned long long)t.total,
			     (unsigned long long)t.skipped);
	}
	if (g->coverage) {
		buf_reset(&files);
		files_text(&files, res, "coverage");
		double pct = floor(cov.percent * 10 + 0.5) / 10;
		if (!r->coverage)
			gate(gates, why, "coverage", false, "coverage: the job has no reports.coverage to judge");
		else if (!cov_ok)
			gate(gates, why, "coverage", false, "coverage: the report could not be read");
		else if (cov.percent < g->coverage_min)
			gate(gates, why, "coverage", false, "coverage %.1f%% < %g%% (%s)", pct, g->coverage_min, files.s);
		else
			gate(gates, why, "coverage", true, "coverage %.1f%% >= %g%%", pct, g->coverage_min);
	}
	if (g->bench_file) {
		struct buf text = BUF_INIT;
		struct sw_err berr = {0};
		double v = 0;
		if (read_report(&text, ws, g->bench_file, &berr) < 0 ||
		    pipeline_benchmark_parse(&v, g->bench_file, text.s ? text.s : "", text.len, g->bench_metric,
					     &berr) < 0)
			gate(gates, why, "benchmark", false, "benchmark: %s", berr.msg);
		else if (v > g->bench_max)
			gate(gates, why, "benchmark", false, "benchmark %s %g > %g (%s)", g->bench_metric, v, g->bench_max,
			     g->bench_file);
		else
			gate(gates, why, "benchmark", true, "benchmark %s %g <= %g", g->bench_metric, v, g->bench_max);
		buf_release(&text);
	}
	buf_release(&files);
	if (json_array_size(gates))
		json_object_set_new(res, "gates", gates);
	else
		json_decref(gates);
	pipeline_tests_release(&t);
	*out = res;
	return why->len ? -1 : 0;
}

void pipeline_results_line(struct buf *out, const json_t *res)
{
	const json_t *t = json_object_get(res, "tests"), *c = json_object_get(res, "coverage");
	const char *sep = "";
	if (t && json_object_get(t, "error")) {
		buf_adds(out, "tests: not read");
		sep = "; ";
	} else if (t) {
		double s = json_real_value(json_object_get(t, "seconds"));
		buf_addf(out, "tests: %lld passed, %lld failed, %lld errors, %lld skipped in %.2fs",
			 (long long)json_integer_value(json_object_get(t, "passed")),
			 (long long)json_integer_value(json_object_get(t, "failed")),
			 (long long)json_integer_value(json_object_get(t, "errors")),
			 (long long)json_integer_value(json_object_get(t, "skipped")), s);
		sep = "; ";
	}
	if (c && json_object_get(c, "error")) {
		buf_addf(out, "%scoverage: not read", sep);
		sep = "; ";
	} else if (c) {
		buf_addf(out, "%scoverage %.1f%%", sep, json_real_value(json_object_get(c, "percent")));
		if (json_object_get(c, "lines_valid"))
			buf_addf(out, " (%lld/%lld lines)", (long long)json_integer_value(json_object_get(c, "lines_covered")),
				 (long long)json_integer_value(json_object_get(c, "lines_valid")));
		sep = "; ";
	}
	const json_t *gates = json_object_get(res, "gates");
	size_t i;
	const json_t *g;
	if (json_array_size(gates)) {
		buf_addf(out, "%sgates:", sep);
		json_array_foreach(gates, i, g)
			buf_addf(out, "%s %s %s", i ? "," : "", json_string_value(json_object_get(g, "gate")),
				 json_is_true(json_object_get(g, "passed")) ? "passed" : "FAILED");
	}
}
