/*
 * The field-table engine (fields.h): parse context and messages, tables,
 * and the row types every document kind is built from.
 */
#include "fields.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/selector.h"

#define API_VERSION "slipway/v1"

/* ------------------------------------------------------------------ */
/* Parse context and messages                                         */


size_t spec_path_push(struct spec_pctx *c, const char *key)
{
	size_t old = c->path.len;
	if (old)
		buf_addc(&c->path, '.');
	buf_adds(&c->path, key);
	return old;
}

size_t spec_path_push_index(struct spec_pctx *c, size_t i)
{
	size_t old = c->path.len;
	buf_addf(&c->path, "[%zu]", i);
	return old;
}

void spec_path_pop(struct spec_pctx *c, size_t old)
{
	c->path.len = old;
	c->path.s[old] = '\0';
}

/* The subject of a value error: the last element of the path. */
const char *spec_subject(struct spec_pctx *c)
{
	const char *s = buf_str(&c->path);
	const char *dot = strrchr(s, '.');
	return *s ? (dot ? dot + 1 : s) : c->root;
}

/* Where a map is talked about as a whole: "spec.run", or the document. */
const char *spec_where(struct spec_pctx *c)
{
	return c->path.len ? c->path.s : "document";
}

int spec_perr(struct spec_pctx *c, const struct snode *n, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n && n->line > 0)
		return sw_errf(c->err, -1, "%s:%d:%d: %s", n->file ? n->file : c->file, n->line, n->col, msg);
	if (c->path.len)
		return sw_errf(c->err, -1, "%s: %s: %s", c->file, c->path.s, msg);
	return sw_errf(c->err, -1, "%s: %s", c->file, msg);
}

/* The position of the key a map hangs from, else the map's own. */
int spec_perr_at_key(struct spec_pctx *c, const struct snode *n, const char *msg)
{
	struct snode at = {0};
	if (n) {
		at.file = n->file;
		at.line = n->kline ? n->kline : n->line;
		at.col = n->kline ? n->kcol : n->col;
	}
	return spec_perr(c, &at, "%s", msg);
}

/* Describes a node for "got ...": a quoted, shortened scalar or its kind. */
const char *spec_describe(const struct snode *n, char *out, size_t size)
{
	if (!n || n->type == SN_NULL)
		return "null";
	if (n->type == SN_MAP)
		return "a mapping";
	if (n->type == SN_SEQ)
		return "a list";
	size_t o = 0, max = 40;
	out[o++] = '"';
	for (size_t i = 0; i < n->len && o + 8 < size; i++) {
		unsigned char ch = (unsigned char)n->text[i];
		if (i >= max && (ch & 0xc0) != 0x80) {
			o += (size_t)snprintf(out + o, size - o, "...");
			break;
		}
		if (ch == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			out[o++] = '?';
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}


/* Best suggestion among names (NULL-terminated), or NULL. */
const char *spec_suggest(const char *word, const char *const *names)
{
	const char *best = NULL;
	size_t bestd = (size_t)-1;
	for (size_t i = 0; names[i]; i++) {
		if (strcasecmp(word, names[i]) == 0)
			return names[i];
		size_t d = sw_edit_distance(word, names[i]);
		size_t len = strlen(names[i]);
		if (d <= 2 && d < len && d < bestd) {
			best = names[i];
			bestd = d;
		}
	}
	return best;
}

/* Appends ` (did you mean "x"?)` when there is a close name. */
void spec_add_suggestion(struct buf *b, const char *word, const char *const *names)
{
	const char *s = spec_suggest(word, names);
	if (s)
		buf_addf(b, " (did you mean \"%s\"?)", s);
}

/* ------------------------------------------------------------------ */
/* Field tables                                                       */


void spec_table_free(const struct spec_table *t, void *base)
{
	for (const struct spec_field *f = t->fields; f->name; f++)
		if (f->type->free)
			f->type->free(base, f);
}

json_t *spec_table_emit(const struct spec_table *t, const void *base)
{
	json_t *obj = json_object();
	for (const struct spec_field *f = t->fields; f->name; f++) {
		if (f->flags & SPEC_F_NOEMIT)
			continue;
		if ((f->flags & SPEC_F_ONEOF) && t->kind_off >= 0 && *SPEC_CAT(base, t->kind_off, int) != f->tag)
			continue;
		json_t *v = f->type->emit(base, f);
		if (v)
			json_object_set_new(obj, f->name, v);
	}
	return obj;
}

bool spec_present(const struct snode *map, const char *key)
{
	const struct snode *v = snode_get(map, key);
	return v && v->type != SN_NULL;
}

/*
 * Parses a mapping into base with table t. A null node counts as an empty
 * mapping (the caller decided it is there). On failure the struct may be
 * partly filled; the owner frees it with table_free.
 */
int spec_table_parse(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_table *t)
{
	const char *names[64];
	uint64_t seen = 0;
	size_t nrows = 0;
	const struct spec_field *oneof = NULL;
	bool has_oneof = false;
	char gotbuf[128];

	for (const struct spec_field *f = t->fields; f->name; f++) {
		SW_ASSERT(nrows < 63);
		names[nrows++] = f->name;
		if (f->flags & SPEC_F_ONEOF)
			has_oneof = true;
	}
	names[nrows] = NULL;

	if (n->type != SN_MAP && n->type != SN_NULL)
		return spec_perr(c, n, "%s must be a mapping, got %s", spec_subject(c), SPEC_GOT(n));

	for (size_t i = 0; n->type == SN_MAP && i + 1 < n->nkids; i += 2) {
		const struct snode *k = n->kids[i], *v = n->kids[i + 1];
		const char *key = k->text ? k->text : "";
		size_t r;

		for (r = 0; r < nrows && strcmp(names[r], key) != 0; r++)
			;
		if (r == nrows) {
			struct buf b = BUF_INIT;
			char kb[128];
			buf_addf(&b, "unknown field %s in %s", spec_describe(k, kb, sizeof(kb)), spec_where(c));
			spec_add_suggestion(&b, key, names);
			spec_perr(c, k, "%s", b.s);
			buf_release(&b);
			return -1;
		}
		if (seen & (1ull << r))
			return spec_perr(c, k, "duplicate field \"%s\" in %s", key, spec_where(c));
		const struct spec_field *f = &t->fields[r];
		if (v->type == SN_NULL && !(f->flags & SPEC_F_NULLOK))
			continue; /* null is as good as absent */
		seen |= 1ull << r;
		if (f->flags & SPEC_F_ONEOF) {
			if (oneof)
				return spec_perr(c, k, "%s has both \"%s\" and \"%s\", only one is allowed",
					    c->path.len ? spec_subject(c) : c->root, oneof->name, f->name);
			oneof = f;
			if (t->kind_off >= 0)
				*SPEC_AT(base, t->kind_off, int) = f->tag;
		}
		size_t old = spec_path_push(c, key);
		/* every scalar value is text a terminal may show: checked here,
		 * once for every row type, so that no type's own parser can
		 * forget it (a hook's one-string command did) */
		int rc = v->type == SN_SCALAR && !(f->flags & SPEC_F_ANYTEXT) ? spec_need_text(c, v) : 0;
		if (rc == 0)
			rc = f->type->parse(c, v, base, f);
		spec_path_pop(c, old);
		if (rc < 0)
			return rc;
	}

	for (size_t r = 0; r < nrows; r++) {
		if ((t->fields[r].flags & SPEC_F_REQUIRED) && !(seen & (1ull << r))) {
			char msg[256];
			snprintf(msg, sizeof(msg), "missing required field \"%s\" in %s", names[r], spec_where(c));
			return spec_perr_at_key(c, n, msg);
		}
	}
	if (has_oneof && !oneof) {
		struct buf b = BUF_INIT;
		size_t k = 0, total = 0;
		for (const struct spec_field *f = t->fields; f->name; f++)
			total += (f->flags & SPEC_F_ONEOF) != 0;
		buf_addf(&b, "%s needs one of ", c->path.len ? spec_subject(c) : c->root);
		for (const struct spec_field *f = t->fields; f->name; f++) {
			if (!(f->flags & SPEC_F_ONEOF))
				continue;
			buf_addf(&b, "%s\"%s\"", k == 0 ? "" : k + 1 == total ? " or " : ", ", f->name);
			k++;
		}
		spec_perr_at_key(c, n, b.s);
		buf_release(&b);
		return -1;
	}
	return t->check ? t->check(c, n, base) : 0;
}

/* ------------------------------------------------------------------ */
/* Scalars                                                            */

/*
 * The code point of the first control character in s[0..len) other than
 * tab and newline (C0, DEL, and C1 as UTF-8), or -1. Text is shown in
 * terminals, where these erase or forge what an operator reads.
 */
static long control_char(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch < 0x20 && ch != '\t' && ch != '\n') || ch == 0x7f)
			return ch;
		if (ch == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f)
			return (unsigned char)s[i + 1];
	}
	return -1;
}

/* Every scalar a row type reads passes here, or its text check alone
 * (spec_table_parse runs it on every scalar value before the row's parser;
 * list items and map values are their types' to check). */
int spec_need_scalar(struct spec_pctx *c, const struct snode *n, const char *what)
{
	char gotbuf[128];
	if (n->type != SN_SCALAR)
		return spec_perr(c, n, "%s must be %s, got %s", spec_subject(c), what, SPEC_GOT(n));
	return spec_need_text(c, n);
}

int spec_need_text(struct spec_pctx *c, const struct snode *n)
{
	char gotbuf[128];
	long cc = control_char(n->text, n->len);
	if (cc >= 0)
		return spec_perr(c, n, "%s contains the control character U+%04lX; only tab and newline may "
				 "appear in text, got %s", spec_subject(c), cc, SPEC_GOT(n));
	return 0;
}

/* ${NAME} with a known NAME, "$$", or a lone "$" followed by anything else. */
int spec_check_vars(struct spec_pctx *c, const struct snode *n, const char *s)
{
	static const char *const known[] = {"PORT", "VERSION", "INSTANCE", "APP", NULL};
	for (const char *p = s; *p; p++) {
		if (p[0] != '$')
			continue;
		if (p[1] == '$') {
			p++;
			continue;
		}
		if (p[1] != '{')
			continue;
		const char *end = strchr(p + 2, '}');
		if (!end)
			return spec_perr(c, n, "unterminated \"${\" in %s (write \"$$\" for a literal \"$\")",
				    spec_subject(c));
		size_t len = (size_t)(end - p - 2);
		bool ok = false;
		for (size_t i = 0; known[i]; i++)
			ok |= strlen(known[i]) == len && memcmp(known[i], p + 2, len) == 0;
		if (!ok) {
			struct buf b = BUF_INIT;
			char *name = xstrndup(p + 2, len > 64 ? 64 : len);
			buf_addf(&b, "unknown variable \"${%s}\" in %s", name, spec_subject(c));
			spec_add_suggestion(&b, name, known);
			buf_adds(&b, " (known: PORT, VERSION, INSTANCE, APP; write \"$$\" for a literal \"$\")");
			spec_perr(c, n, "%s", b.s);
			buf_release(&b);
			free(name);
			return -1;
		}
		p = end;
	}
	return 0;
}


static int parse_str(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char **p = SPEC_AT(base, f->off, char *);
	char gotbuf[128];
	int rc;

	if (f->flags & SPEC_F_ANYTEXT) {
		if (n->type != SN_SCALAR)
			return spec_perr(c, n, "%s must be a string, got %s", spec_subject(c), SPEC_GOT(n));
	} else if ((rc = spec_need_scalar(c, n, "a string")) < 0)
		return rc;
	if ((f->flags & SPEC_F_NONEMPTY) && n->len == 0)
		return spec_perr(c, n, "%s must not be empty", spec_subject(c));
	if ((f->flags & SPEC_F_VARS) && (rc = spec_check_vars(c, n, n->text)) < 0)
		return rc;
	if (f->arg && (rc = ((spec_validator_fn)f->arg)(c, n, n->text)) < 0)
		return rc;
	free(*p);
	*p = xstrdup(n->text);
	return 0;
}

json_t *spec_emit_str(const void *base, const struct spec_field *f)
{
	const char *s = *SPEC_CAT(base, f->off, char *);
	if (!s)
		return (f->flags & SPEC_F_OMIT_NULL) ? NULL : json_null();
	return json_string(s);
}

void spec_free_str(void *base, const struct spec_field *f)
{
	char **p = SPEC_AT(base, f->off, char *);
	free(*p);
	*p = NULL;
}

const struct spec_ftype spec_t_str = {parse_str, spec_emit_str, spec_free_str};


int spec_parse_uint(struct spec_pctx *c, const struct snode *n, const struct spec_range *r, uint64_t *out)
{
	char gotbuf[128];
	const char *what = r->min == 1 ? "a positive integer" : "a non-negative integer";
	uint64_t v = 0;

	if (n->type != SN_SCALAR || n->len == 0 || n->len > 19)
		goto bad;
	for (size_t i = 0; i < n->len; i++) {
		if (n->text[i] < '0' || n->text[i] > '9')
			goto bad;
		v = v * 10 + (uint64_t)(n->text[i] - '0');
	}
	if (v < r->min || v > r->max)
		return spec_perr(c, n, "%s must be between %llu and %llu, got %s", spec_subject(c),
			    (unsigned long long)r->min, (unsigned long long)r->max, SPEC_GOT(n));
	*out = v;
	return 0;
bad:
	return spec_perr(c, n, "%s must be %s, got %s", spec_subject(c), what, SPEC_GOT(n));
}

static int parse_u32(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	uint64_t v = 0;
	int rc = spec_parse_uint(c, n, f->arg, &v);
	if (rc == 0)
		*SPEC_AT(base, f->off, uint32_t) = (uint32_t)v;
	return rc;
}

static json_t *emit_u32(const void *base, const struct spec_field *f)
{
	uint32_t v = *SPEC_CAT(base, f->off, uint32_t);
	if (v == 0 && (f->flags & SPEC_F_ZERO_NULL))
		return json_null();
	return json_integer(v);
}

const struct spec_ftype spec_t_u32 = {parse_u32, emit_u32, NULL};

static int parse_u16(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	uint64_t v = 0;
	int rc = spec_parse_uint(c, n, f->arg, &v);
	if (rc == 0)
		*SPEC_AT(base, f->off, uint16_t) = (uint16_t)v;
	return rc;
}

static json_t *emit_u16(const void *base, const struct spec_field *f)
{
	uint16_t v = *SPEC_CAT(base, f->off, uint16_t);
	if (v == 0 && (f->flags & SPEC_F_ZERO_NULL))
		return json_null();
	return json_integer(v);
}

const struct spec_ftype spec_t_u16 = {parse_u16, emit_u16, NULL};


/* Checks the shape strictly ("1m30s", "1.5s") before sw_duration_parse. */
static bool duration_shape_ok(const char *s)
{
	const char *p = s;
	if (!*p)
		return false;
	while (*p) {
		size_t digits = 0;
		while (*p >= '0' && *p <= '9')
			p++, digits++;
		if (!digits)
			return false;
		if (*p == '.') {
			p++;
			digits = 0;
			while (*p >= '0' && *p <= '9')
				p++, digits++;
			if (!digits)
				return false;
		}
		if (p[0] == 'm' && p[1] == 's')
			p += 2;
		else if (*p == 'h' || *p == 'm' || *p == 's')
			p++;
		else
			return false;
	}
	return true;
}

int spec_parse_dur(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	const struct spec_range *r = f->arg;
	char gotbuf[128];
	uint64_t ms;

	if (n->type != SN_SCALAR || !duration_shape_ok(n->text) || sw_duration_parse(n->text, &ms) < 0)
		return spec_perr(c, n, "%s must be a duration like \"500ms\", \"10s\" or \"1m30s\", got %s",
			    spec_subject(c), SPEC_GOT(n));
	if (r && ms < r->min)
		return spec_perr(c, n, "%s must be at least %llums, got %s", spec_subject(c),
			    (unsigned long long)r->min, SPEC_GOT(n));
	*SPEC_AT(base, f->off, uint64_t) = ms;
	return 0;
}

/* Lossless, one spelling per value: "1h2m3s500ms". */
static void format_ms(char *out, size_t size, uint64_t ms)
{
	static const struct {
		uint64_t ms;
		const char *unit;
	} units[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
	size_t o = 0;

	out[0] = '\0';
	if (ms == 0) {
		snprintf(out, size, "0s");
		return;
	}
	for (size_t i = 0; i < 4 && o < size; i++) {
		uint64_t v = ms / units[i].ms;
		if (!v)
			continue;
		ms -= v * units[i].ms;
		int w = snprintf(out + o, size - o, "%llu%s", (unsigned long long)v, units[i].unit);
		if (w > 0)
			o += (size_t)w;
	}
}

static json_t *emit_ms(uint64_t ms, unsigned flags)
{
	char s[64];
	if (ms == 0 && (flags & SPEC_F_ZERO_NULL))
		return json_null();
	format_ms(s, sizeof(s), ms);
	return json_string(s);
}

json_t *spec_emit_dur(const void *base, const struct spec_field *f)
{
	return emit_ms(*SPEC_CAT(base, f->off, uint64_t), f->flags);
}

const struct spec_ftype spec_t_dur = {spec_parse_dur, spec_emit_dur, NULL};

static int parse_bool(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char gotbuf[128];
	bool *p = SPEC_AT(base, f->off, bool);
	if (n->type == SN_SCALAR && (!strcmp(n->text, "true") || !strcmp(n->text, "True") || !strcmp(n->text, "TRUE")))
		*p = true;
	else if (n->type == SN_SCALAR && (!strcmp(n->text, "false") || !strcmp(n->text, "False") || !strcmp(n->text, "FALSE")))
		*p = false;
	else
		return spec_perr(c, n, "%s must be true or false, got %s", spec_subject(c), SPEC_GOT(n));
	return 0;
}

static json_t *emit_bool(const void *base, const struct spec_field *f)
{
	return json_boolean(*SPEC_CAT(base, f->off, bool));
}

const struct spec_ftype spec_t_bool = {parse_bool, emit_bool, NULL};


static int parse_double(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	const struct spec_drange *r = f->arg;
	char gotbuf[128];
	char *end = NULL;
	double v = 0;

	if (n->type == SN_SCALAR && n->len && ((n->text[0] >= '0' && n->text[0] <= '9') || n->text[0] == '.'))
		v = strtod(n->text, &end);
	if (!end || *end || !isfinite(v) || strpbrk(n->text, "xXpP"))
		return spec_perr(c, n, "%s must be a number, got %s", spec_subject(c), SPEC_GOT(n));
	if (r->open ? (v <= r->min || v >= r->max) : (v < r->min || v > r->max))
		return spec_perr(c, n, "%s must be %s %g and %g, got %s", spec_subject(c),
			    r->open ? "strictly between" : "between", r->min, r->max, SPEC_GOT(n));
	*SPEC_AT(base, f->off, double) = v;
	return 0;
}

static json_t *emit_double(const void *base, const struct spec_field *f)
{
	return json_real(*SPEC_CAT(base, f->off, double));
}

const struct spec_ftype spec_t_double = {parse_double, emit_double, NULL};

/* Enumerations: arg is a NULL-terminated array of names; the int is the index. */
static int parse_enum(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	const char *const *names = f->arg;
	char gotbuf[128];
	int rc;

	if ((rc = spec_need_scalar(c, n, "a string")) < 0)
		return rc;
	for (int i = 0; names[i]; i++) {
		if (strcmp(names[i], n->text) == 0) {
			*SPEC_AT(base, f->off, int) = i;
			return 0;
		}
	}
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s must be one of ", spec_subject(c));
	for (int i = 0; names[i]; i++)
		buf_addf(&b, "%s\"%s\"", i ? ", " : "", names[i]);
	buf_addf(&b, ", got %s", SPEC_GOT(n));
	spec_add_suggestion(&b, n->text, names);
	spec_perr(c, n, "%s", b.s);
	buf_release(&b);
	return -1;
}

static json_t *emit_enum(const void *base, const struct spec_field *f)
{
	const char *const *names = f->arg;
	return json_string(names[*SPEC_CAT(base, f->off, int)]);
}

const struct spec_ftype spec_t_enum = {parse_enum, emit_enum, NULL};

/* ------------------------------------------------------------------ */
/* Structured types                                                   */

/* arg: the sub-table; the sub-struct starts at off. */
int spec_parse_sub(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	return spec_table_parse(c, n, SPEC_AT(base, f->off, char), f->arg);
}

static json_t *emit_sub(const void *base, const struct spec_field *f)
{
	return spec_table_emit(f->arg, SPEC_CAT(base, f->off, char));
}

void spec_free_sub(void *base, const struct spec_field *f)
{
	spec_table_free(f->arg, SPEC_AT(base, f->off, char));
}

const struct spec_ftype spec_t_sub = {spec_parse_sub, emit_sub, spec_free_sub};

/* Lists of structs: an array at off, its size_t count at off2. */
int spec_parse_list(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	const struct spec_table *t = f->arg;
	void **arr = SPEC_AT(base, f->off, void *);
	size_t *count = SPEC_AT(base, f->off2, size_t);
	char gotbuf[128];

	if (n->type != SN_SEQ)
		return spec_perr(c, n, "%s must be a list, got %s", spec_subject(c), SPEC_GOT(n));
	if ((f->flags & SPEC_F_NONEMPTY) && n->nkids == 0)
		return spec_perr(c, n, "%s must not be empty", spec_subject(c));
	*arr = xcalloc(n->nkids ? n->nkids : 1, t->size);
	for (size_t i = 0; i < n->nkids; i++) {
		void *elem = (char *)*arr + i * t->size;
		if (t->init)
			t->init(elem);
		*count = i + 1;
		size_t old = spec_path_push_index(c, i);
		int rc = spec_table_parse(c, n->kids[i], elem, t);
		spec_path_pop(c, old);
		if (rc < 0)
			return rc;
	}
	return 0;
}

json_t *spec_emit_list(const void *base, const struct spec_field *f)
{
	const struct spec_table *t = f->arg;
	const char *arr = *SPEC_CAT(base, f->off, void *);
	size_t count = *SPEC_CAT(base, f->off2, size_t);
	json_t *a = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(a, spec_table_emit(t, arr + i * t->size));
	return a;
}

void spec_free_list(void *base, const struct spec_field *f)
{
	const struct spec_table *t = f->arg;
	void **arr = SPEC_AT(base, f->off, void *);
	size_t *count = SPEC_AT(base, f->off2, size_t);
	for (size_t i = 0; i < *count; i++)
		spec_table_free(t, (char *)*arr + i * t->size);
	free(*arr);
	*arr = NULL;
	*count = 0;
}

const struct spec_ftype spec_t_list = {spec_parse_list, spec_emit_list, spec_free_list};

/* argv: NULL-terminated char ** at off, count at off2. */
static int parse_argv(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char ***argv = SPEC_AT(base, f->off, char **);
	size_t *argc = SPEC_AT(base, f->off2, size_t);
	char gotbuf[128];
	int rc;

	if (n->type != SN_SEQ)
		return spec_perr(c, n, "%s must be a list of strings, got %s", spec_subject(c), SPEC_GOT(n));
	if ((f->flags & SPEC_F_NONEMPTY) && n->nkids == 0)
		return spec_perr(c, n, "%s must not be empty", spec_subject(c));
	*argv = xcalloc(n->nkids + 1, sizeof(char *));
	for (size_t i = 0; i < n->nkids; i++) {
		const struct snode *item = n->kids[i];
		size_t old = spec_path_push_index(c, i);
		rc = spec_need_scalar(c, item, "a string");
		if (rc == 0 && i == 0 && item->len == 0)
			rc = spec_perr(c, item, "%s must not be empty", spec_subject(c));
		if (rc == 0 && (f->flags & SPEC_F_VARS))
			rc = spec_check_vars(c, item, item->text);
		spec_path_pop(c, old);
		if (rc < 0)
			return rc;
		(*argv)[i] = xstrdup(item->text);
		*argc = i + 1;
	}
	return 0;
}

static json_t *emit_argv(const void *base, const struct spec_field *f)
{
	char *const *argv = *(char **const *)((const char *)base + f->off);
	size_t argc = *SPEC_CAT(base, f->off2, size_t);
	json_t *a;
	if (!argv)
		return json_null();
	a = json_array();
	for (size_t i = 0; i < argc; i++)
		json_array_append_new(a, json_string(argv[i]));
	return a;
}

void spec_free_argv(void *base, const struct spec_field *f)
{
	char ***argv = SPEC_AT(base, f->off, char **);
	size_t *argc = SPEC_AT(base, f->off2, size_t);
	for (size_t i = 0; *argv && i < *argc; i++)
		free((*argv)[i]);
	free(*argv);
	*argv = NULL;
	*argc = 0;
}

const struct spec_ftype spec_t_argv = {parse_argv, emit_argv, spec_free_argv};

/* Index of the first name that repeats an earlier one, or -1. */
struct name_ix {
	const char *name;
	size_t i;
};

static int name_ix_cmp(const void *a, const void *b)
{
	const struct name_ix *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	return r ? r : (x->i < y->i ? -1 : x->i > y->i);
}

static long first_duplicate(const char *const *names, size_t n)
{
	struct name_ix *v;
	long dup = -1;
	if (n < 2)
		return -1;
	v = xmalloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		v[i].name = names[i] ? names[i] : "";
		v[i].i = i;
	}
	qsort(v, n, sizeof(*v), name_ix_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(v[i].name, v[i - 1].name) == 0 && (dup < 0 || v[i].i < (size_t)dup))
			dup = (long)v[i].i;
	free(v);
	return dup;
}

/*
 * Checks that the `name` of each list element is unique; items is the
 * list node (for the position), arr the parsed elements (name first).
 */
int spec_unique_names(struct spec_pctx *c, const struct snode *list, const void *arr, size_t count,
			size_t size, size_t name_off, const char *what)
{
	const char **names;
	long dup;
	if (count < 2)
		return 0;
	names = xmalloc(count * sizeof(*names));
	for (size_t i = 0; i < count; i++)
		names[i] = *SPEC_CAT((const char *)arr + i * size, name_off, char *);
	dup = first_duplicate(names, count);
	int rc = 0;
	if (dup >= 0) {
		const struct snode *at = list && list->type == SN_SEQ && (size_t)dup < list->nkids
						 ? list->kids[dup] : list;
		rc = spec_perr(c, at, "duplicate %s \"%s\"", what, names[dup]);
	}
	free(names);
	return rc;
}

/* ------------------------------------------------------------------ */
/* App tables                                                         */

static int parse_api_version(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char gotbuf[128];
	if (n->type == SN_SCALAR && strcmp(n->text, API_VERSION) == 0)
		return 0;
	return spec_perr(c, n, "unknown apiVersion %s, expected \"" API_VERSION "\"", SPEC_GOT(n));
}

static json_t *emit_api_version(const void *base, const struct spec_field *f)
{
	return json_string(API_VERSION);
}

const struct spec_ftype spec_t_api_version = {parse_api_version, emit_api_version, NULL};

/* The kind was checked before its table was chosen; arg is its name. */
static int parse_kind(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	return 0;
}

static json_t *emit_kind(const void *base, const struct spec_field *f)
{
	return json_string(f->arg);
}

const struct spec_ftype spec_t_kind = {parse_kind, emit_kind, NULL};

/* metadata.labels: a mapping of label keys to string values (Kubernetes'
 * syntax, core/selector.h), kept as a JSON object at off (json_t *, NULL
 * when there are none) and emitted only when there are some. */
static int parse_labels(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char gotbuf[128];
	json_t **out = SPEC_AT(base, f->off, json_t *);
	if (n->type == SN_NULL)
		return 0;
	if (n->type != SN_MAP)
		return spec_perr(c, n, "labels must be a mapping, got %s", SPEC_GOT(n));
	json_t *labels = json_object();
	for (size_t i = 1; i < n->nkids; i += 2) {
		const struct snode *k = n->kids[i - 1], *v = n->kids[i];
		int r = 0;
		if (v->type == SN_MAP || v->type == SN_SEQ)
			r = spec_perr(c, v, "label %s must be a string, got %s", k->text, SPEC_GOT(v));
		else if (!sw_label_key_valid(k->text, k->len))
			r = spec_perr(c, k, "bad label key \"%s\": a name of at most 63 letters, digits, "
				      "'-', '_', '.' that starts and ends with a letter or digit, with an "
				      "optional \"prefix/\"", k->text);
		else if (v->type != SN_NULL && !sw_label_value_valid(v->text, v->len))
			r = spec_perr(c, v, "bad value of label %s: \"%s\" (at most 63 letters, "
				      "digits, '-', '_', '.' that start and end with a letter or digit)",
				      k->text, v->text);
		if (r) {
			json_decref(labels);
			return r;
		}
		json_object_set_new(labels, k->text, json_string(v->type == SN_NULL ? "" : v->text));
	}
	json_decref(*out);
	*out = labels;
	return 0;
}

static json_t *emit_labels(const void *base, const struct spec_field *f)
{
	const json_t *labels = *SPEC_CAT(base, f->off, json_t *);
	return json_object_size(labels) ? json_deep_copy(labels) : NULL;
}

static void free_labels(void *base, const struct spec_field *f)
{
	json_t **labels = SPEC_AT(base, f->off, json_t *);
	json_decref(*labels);
	*labels = NULL;
}

const struct spec_ftype spec_t_labels = {parse_labels, emit_labels, free_labels};

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void spec_labels_text(char *out, size_t size, const json_t *labels, const char *none)
{
	const char *keys[64];
	size_t n = 0, len = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)labels, k, v)
		if (n < 64)
			keys[n++] = k;
	qsort(keys, n, sizeof(*keys), cmp_key);
	snprintf(out, size, "%s", none);
	for (size_t i = 0; i < n && len < size; i++) {
		int w = snprintf(out + len, size - len, "%s%s=%s", i ? "," : "", keys[i],
				 json_string_value(json_object_get(labels, keys[i])));
		if (w < 0)
			break;
		len += (size_t)w;
	}
}
