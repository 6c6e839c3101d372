/*
 * spec: documents → validated structs, driven by field tables.
 *
 * Every keyword is a row in a `struct field` table: its name, its type
 * (which knows how to parse a node into the struct, emit it as canonical
 * JSON and free it), where it lives (offset), and flags (required, one of
 * a group...). The same tables detect unknown fields and suggest the
 * nearest name, fill defaults, emit canonical JSON and free the structs,
 * so that adding a field is adding a row.
 *
 * YAML and JSON are first turned into a `struct snode` tree (node.c), so
 * spec_app_from_json validates exactly as the YAML path does.
 */
#include "spec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../core/buf.h"
#include "node.h"

#define API_VERSION "slipway/v1"

/* ------------------------------------------------------------------ */
/* Parse context and messages                                         */

struct pctx {
	const char *file;     /* for messages */
	const char *dir;      /* absolute directory relative paths start from */
	struct sw_err *err;
	struct buf path;      /* "spec.run.command[1]" */
	const char *root;     /* what the document's top level is called */
};

static size_t path_push(struct pctx *c, const char *key)
{
	size_t old = c->path.len;
	if (old)
		buf_addc(&c->path, '.');
	buf_adds(&c->path, key);
	return old;
}

static size_t path_push_index(struct pctx *c, size_t i)
{
	size_t old = c->path.len;
	buf_addf(&c->path, "[%zu]", i);
	return old;
}

static void path_pop(struct pctx *c, size_t old)
{
	c->path.len = old;
	c->path.s[old] = '\0';
}

/* The subject of a value error: the last element of the path. */
static const char *subject(struct pctx *c)
{
	const char *s = buf_str(&c->path);
	const char *dot = strrchr(s, '.');
	return *s ? (dot ? dot + 1 : s) : c->root;
}

/* Where a map is talked about as a whole: "spec.run", or the document. */
static const char *where(struct pctx *c)
{
	return c->path.len ? c->path.s : "document";
}

static int perr(struct pctx *c, const struct snode *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct pctx *c, const struct snode *n, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n && n->line > 0)
		return sw_errf(c->err, -1, "%s:%d:%d: %s", c->file, n->line, n->col, msg);
	if (c->path.len)
		return sw_errf(c->err, -1, "%s: %s: %s", c->file, c->path.s, msg);
	return sw_errf(c->err, -1, "%s: %s", c->file, msg);
}

/* The position of the key a map hangs from, else the map's own. */
static int perr_at_key(struct pctx *c, const struct snode *n, const char *msg)
{
	struct snode at = {0};
	if (n) {
		at.line = n->kline ? n->kline : n->line;
		at.col = n->kline ? n->kcol : n->col;
	}
	return perr(c, &at, "%s", msg);
}

/* Describes a node for "got ...": a quoted, shortened scalar or its kind. */
static const char *describe(const struct snode *n, char *out, size_t size)
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

#define GOT(n) describe((n), gotbuf, sizeof(gotbuf))

/* Best suggestion among names (NULL-terminated), or NULL. */
static const char *suggest(const char *word, const char *const *names)
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
static void add_suggestion(struct buf *b, const char *word, const char *const *names)
{
	const char *s = suggest(word, names);
	if (s)
		buf_addf(b, " (did you mean \"%s\"?)", s);
}

/* ------------------------------------------------------------------ */
/* Field tables                                                       */

enum {
	F_REQUIRED = 1 << 0,
	F_ONEOF = 1 << 1,     /* exactly one of the table's F_ONEOF rows */
	F_NOEMIT = 1 << 2,    /* input-only spelling; not in canonical JSON */
	F_NULLOK = 1 << 3,    /* null is a value (pause:), not "absent" */
	F_NONEMPTY = 1 << 4,  /* strings and lists */
	F_VARS = 1 << 5,      /* ${PORT}... allowed and checked */
	F_OMIT_NULL = 1 << 6, /* emit nothing (rather than null) when unset */
	F_ZERO_NULL = 1 << 7, /* numbers: 0 means unset, emitted as null */
};

struct field;
struct table;

struct ftype {
	int (*parse)(struct pctx *c, const struct snode *n, void *base, const struct field *f);
	json_t *(*emit)(const void *base, const struct field *f);
	void (*free)(void *base, const struct field *f);
};

struct field {
	const char *name;
	const struct ftype *type;
	size_t off;        /* of the value in the base struct */
	unsigned flags;
	int tag;           /* F_ONEOF: the value stored at the table's kind_off */
	const void *arg;   /* per type: sub-table, range, enum names, validator */
	size_t off2;       /* lists: offset of the size_t count */
};

struct table {
	const struct field *fields; /* ends with a row whose name is NULL */
	long kind_off;              /* where F_ONEOF rows put their tag; -1: nowhere */
	size_t size;                /* list elements: sizeof the element */
	void (*init)(void *elem);   /* list elements: defaults */
	int (*check)(struct pctx *c, const struct snode *map, void *base);
};

#define AT(base, off, T) ((T *)((char *)(base) + (off)))
#define CAT(base, off, T) ((const T *)((const char *)(base) + (off)))

static void table_free(const struct table *t, void *base)
{
	for (const struct field *f = t->fields; f->name; f++)
		if (f->type->free)
			f->type->free(base, f);
}

static json_t *table_emit(const struct table *t, const void *base)
{
	json_t *obj = json_object();
	for (const struct field *f = t->fields; f->name; f++) {
		if (f->flags & F_NOEMIT)
			continue;
		if ((f->flags & F_ONEOF) && t->kind_off >= 0 && *CAT(base, t->kind_off, int) != f->tag)
			continue;
		json_t *v = f->type->emit(base, f);
		if (v)
			json_object_set_new(obj, f->name, v);
	}
	return obj;
}

static bool present(const struct snode *map, const char *key)
{
	const struct snode *v = snode_get(map, key);
	return v && v->type != SN_NULL;
}

/*
 * Parses a mapping into base with table t. A null node counts as an empty
 * mapping (the caller decided it is there). On failure the struct may be
 * partly filled; the owner frees it with table_free.
 */
static int table_parse(struct pctx *c, const struct snode *n, void *base, const struct table *t)
{
	const char *names[64];
	uint64_t seen = 0;
	size_t nrows = 0;
	const struct field *oneof = NULL;
	bool has_oneof = false;
	char gotbuf[128];

	for (const struct field *f = t->fields; f->name; f++) {
		SW_ASSERT(nrows < 63);
		names[nrows++] = f->name;
		if (f->flags & F_ONEOF)
			has_oneof = true;
	}
	names[nrows] = NULL;

	if (n->type != SN_MAP && n->type != SN_NULL)
		return perr(c, n, "%s must be a mapping, got %s", subject(c), GOT(n));

	for (size_t i = 0; n->type == SN_MAP && i + 1 < n->nkids; i += 2) {
		const struct snode *k = n->kids[i], *v = n->kids[i + 1];
		const char *key = k->text ? k->text : "";
		size_t r;

		for (r = 0; r < nrows && strcmp(names[r], key) != 0; r++)
			;
		if (r == nrows) {
			struct buf b = BUF_INIT;
			char kb[128];
			buf_addf(&b, "unknown field %s in %s", describe(k, kb, sizeof(kb)), where(c));
			add_suggestion(&b, key, names);
			perr(c, k, "%s", b.s);
			buf_release(&b);
			return -1;
		}
		if (seen & (1ull << r))
			return perr(c, k, "duplicate field \"%s\" in %s", key, where(c));
		const struct field *f = &t->fields[r];
		if (v->type == SN_NULL && !(f->flags & F_NULLOK))
			continue; /* null is as good as absent */
		seen |= 1ull << r;
		if (f->flags & F_ONEOF) {
			if (oneof)
				return perr(c, k, "%s has both \"%s\" and \"%s\", only one is allowed",
					    c->path.len ? subject(c) : c->root, oneof->name, f->name);
			oneof = f;
			if (t->kind_off >= 0)
				*AT(base, t->kind_off, int) = f->tag;
		}
		size_t old = path_push(c, key);
		int rc = f->type->parse(c, v, base, f);
		path_pop(c, old);
		if (rc < 0)
			return rc;
	}

	for (size_t r = 0; r < nrows; r++) {
		if ((t->fields[r].flags & F_REQUIRED) && !(seen & (1ull << r))) {
			char msg[256];
			snprintf(msg, sizeof(msg), "missing required field \"%s\" in %s", names[r], where(c));
			return perr_at_key(c, n, msg);
		}
	}
	if (has_oneof && !oneof) {
		struct buf b = BUF_INIT;
		size_t k = 0, total = 0;
		for (const struct field *f = t->fields; f->name; f++)
			total += (f->flags & F_ONEOF) != 0;
		buf_addf(&b, "%s needs one of ", c->path.len ? subject(c) : c->root);
		for (const struct field *f = t->fields; f->name; f++) {
			if (!(f->flags & F_ONEOF))
				continue;
			buf_addf(&b, "%s\"%s\"", k == 0 ? "" : k + 1 == total ? " or " : ", ", f->name);
			k++;
		}
		perr_at_key(c, n, b.s);
		buf_release(&b);
		return -1;
	}
	return t->check ? t->check(c, n, base) : 0;
}

/* ------------------------------------------------------------------ */
/* Scalars                                                            */

static int need_scalar(struct pctx *c, const struct snode *n, const char *what)
{
	char gotbuf[128];
	if (n->type == SN_SCALAR)
		return 0;
	return perr(c, n, "%s must be %s, got %s", subject(c), what, GOT(n));
}

/* ${NAME} with a known NAME, "$$", or a lone "$" followed by anything else. */
static int check_vars(struct pctx *c, const struct snode *n, const char *s)
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
			return perr(c, n, "unterminated \"${\" in %s (write \"$$\" for a literal \"$\")",
				    subject(c));
		size_t len = (size_t)(end - p - 2);
		bool ok = false;
		for (size_t i = 0; known[i]; i++)
			ok |= strlen(known[i]) == len && memcmp(known[i], p + 2, len) == 0;
		if (!ok) {
			struct buf b = BUF_INIT;
			char *name = xstrndup(p + 2, len > 64 ? 64 : len);
			buf_addf(&b, "unknown variable \"${%s}\" in %s", name, subject(c));
			add_suggestion(&b, name, known);
			buf_adds(&b, " (known: PORT, VERSION, INSTANCE, APP; write \"$$\" for a literal \"$\")");
			perr(c, n, "%s", b.s);
			buf_release(&b);
			free(name);
			return -1;
		}
		p = end;
	}
	return 0;
}

typedef int (*validator_fn)(struct pctx *c, const struct snode *n, const char *s);

static int parse_str(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	char **p = AT(base, f->off, char *);
	int rc;

	if ((rc = need_scalar(c, n, "a string")) < 0)
		return rc;
	if ((f->flags & F_NONEMPTY) && n->len == 0)
		return perr(c, n, "%s must not be empty", subject(c));
	if ((f->flags & F_VARS) && (rc = check_vars(c, n, n->text)) < 0)
		return rc;
	if (f->arg && (rc = ((validator_fn)f->arg)(c, n, n->text)) < 0)
		return rc;
	free(*p);
	*p = xstrdup(n->text);
	return 0;
}

static json_t *emit_str(const void *base, const struct field *f)
{
	const char *s = *CAT(base, f->off, char *);
	if (!s)
		return (f->flags & F_OMIT_NULL) ? NULL : json_null();
	return json_string(s);
}

static void free_str(void *base, const struct field *f)
{
	char **p = AT(base, f->off, char *);
	free(*p);
	*p = NULL;
}

static const struct ftype t_str = {parse_str, emit_str, free_str};

struct range {
	uint64_t min, max;
};

static int parse_uint(struct pctx *c, const struct snode *n, const struct range *r, uint64_t *out)
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
		return perr(c, n, "%s must be between %llu and %llu, got %s", subject(c),
			    (unsigned long long)r->min, (unsigned long long)r->max, GOT(n));
	*out = v;
	return 0;
bad:
	return perr(c, n, "%s must be %s, got %s", subject(c), what, GOT(n));
}

static int parse_u32(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	uint64_t v = 0;
	int rc = parse_uint(c, n, f->arg, &v);
	if (rc == 0)
		*AT(base, f->off, uint32_t) = (uint32_t)v;
	return rc;
}

static json_t *emit_u32(const void *base, const struct field *f)
{
	uint32_t v = *CAT(base, f->off, uint32_t);
	if (v == 0 && (f->flags & F_ZERO_NULL))
		return json_null();
	return json_integer(v);
}

static const struct ftype t_u32 = {parse_u32, emit_u32, NULL};

static int parse_u16(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	uint64_t v = 0;
	int rc = parse_uint(c, n, f->arg, &v);
	if (rc == 0)
		*AT(base, f->off, uint16_t) = (uint16_t)v;
	return rc;
}

static json_t *emit_u16(const void *base, const struct field *f)
{
	uint16_t v = *CAT(base, f->off, uint16_t);
	if (v == 0 && (f->flags & F_ZERO_NULL))
		return json_null();
	return json_integer(v);
}

static const struct ftype t_u16 = {parse_u16, emit_u16, NULL};

static const struct range r_port = {1, 65535};
static const struct range r_replicas = {1, 1000};
static const struct range r_count0 = {0, 1000000};
static const struct range r_count1 = {1, 1000000};
static const struct range r_weight = {0, 100};

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

static int parse_dur(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	const struct range *r = f->arg;
	char gotbuf[128];
	uint64_t ms;

	if (n->type != SN_SCALAR || !duration_shape_ok(n->text) || sw_duration_parse(n->text, &ms) < 0)
		return perr(c, n, "%s must be a duration like \"500ms\", \"10s\" or \"1m30s\", got %s",
			    subject(c), GOT(n));
	if (r && ms < r->min)
		return perr(c, n, "%s must be at least %llums, got %s", subject(c),
			    (unsigned long long)r->min, GOT(n));
	*AT(base, f->off, uint64_t) = ms;
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
	if (ms == 0 && (flags & F_ZERO_NULL))
		return json_null();
	format_ms(s, sizeof(s), ms);
	return json_string(s);
}

static json_t *emit_dur(const void *base, const struct field *f)
{
	return emit_ms(*CAT(base, f->off, uint64_t), f->flags);
}

static const struct ftype t_dur = {parse_dur, emit_dur, NULL};
static const struct range r_dur_positive = {1, UINT64_MAX};

static int parse_bool(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	char gotbuf[128];
	bool *p = AT(base, f->off, bool);
	if (n->type == SN_SCALAR && (!strcmp(n->text, "true") || !strcmp(n->text, "True") || !strcmp(n->text, "TRUE")))
		*p = true;
	else if (n->type == SN_SCALAR && (!strcmp(n->text, "false") || !strcmp(n->text, "False") || !strcmp(n->text, "FALSE")))
		*p = false;
	else
		return perr(c, n, "%s must be true or false, got %s", subject(c), GOT(n));
	return 0;
}

static json_t *emit_bool(const void *base, const struct field *f)
{
	return json_boolean(*CAT(base, f->off, bool));
}

static const struct ftype t_bool = {parse_bool, emit_bool, NULL};

struct drange {
	double min, max;
	bool open; /* min and max themselves are excluded */
};

static int parse_double(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	const struct drange *r = f->arg;
	char gotbuf[128];
	char *end = NULL;
	double v = 0;

	if (n->type == SN_SCALAR && n->len && ((n->text[0] >= '0' && n->text[0] <= '9') || n->text[0] == '.'))
		v = strtod(n->text, &end);
	if (!end || *end || !isfinite(v) || strpbrk(n->text, "xXpP"))
		return perr(c, n, "%s must be a number, got %s", subject(c), GOT(n));
	if (r->open ? (v <= r->min || v >= r->max) : (v < r->min || v > r->max))
		return perr(c, n, "%s must be %s %g and %g, got %s", subject(c),
			    r->open ? "strictly between" : "between", r->min, r->max, GOT(n));
	*AT(base, f->off, double) = v;
	return 0;
}

static json_t *emit_double(const void *base, const struct field *f)
{
	return json_real(*CAT(base, f->off, double));
}

static const struct ftype t_double = {parse_double, emit_double, NULL};
static const struct drange r_confidence = {0, 1, true};
static const struct drange r_increase = {0, 1e6, false};

/* Enumerations: arg is a NULL-terminated array of names; the int is the index. */
static int parse_enum(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	const char *const *names = f->arg;
	char gotbuf[128];
	int rc;

	if ((rc = need_scalar(c, n, "a string")) < 0)
		return rc;
	for (int i = 0; names[i]; i++) {
		if (strcmp(names[i], n->text) == 0) {
			*AT(base, f->off, int) = i;
			return 0;
		}
	}
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s must be one of ", subject(c));
	for (int i = 0; names[i]; i++)
		buf_addf(&b, "%s\"%s\"", i ? ", " : "", names[i]);
	buf_addf(&b, ", got %s", GOT(n));
	add_suggestion(&b, n->text, names);
	perr(c, n, "%s", b.s);
	buf_release(&b);
	return -1;
}

static json_t *emit_enum(const void *base, const struct field *f)
{
	const char *const *names = f->arg;
	return json_string(names[*CAT(base, f->off, int)]);
}

static const struct ftype t_enum = {parse_enum, emit_enum, NULL};

/* ------------------------------------------------------------------ */
/* Validators for strings                                             */

static bool is_dns_label(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static int v_dns_label(struct pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	if (is_dns_label(s))
		return 0;
	return perr(c, n,
		    "%s must be lower-case letters, digits and '-', starting and ending with a letter "
		    "or digit, at most 63 characters, got %s",
		    subject(c), GOT(n));
}

static int v_listen(struct pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	const char *colon = strrchr(s, ':');
	char host[64];
	struct in_addr a;
	unsigned long port = 0;

	if (!colon || (size_t)(colon - s) >= sizeof(host) || !colon[1] || strlen(colon + 1) > 5)
		goto bad;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, &a) != 1)
		goto bad;
	for (const char *p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port < 1 || port > 65535)
		goto bad;
	return 0;
bad:
	return perr(c, n,
		    "%s must be \"host:port\" with an IPv4 address or \"localhost\" and a port from 1 "
		    "to 65535, got %s",
		    subject(c), GOT(n));
}

static int v_host(struct pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	const char *p = strncmp(s, "*.", 2) == 0 ? s + 2 : s;
	size_t len = strlen(p);

	if (len == 0 || len > 253 || p[0] == '.' || p[0] == '-' || p[len - 1] == '.')
		goto bad;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '.'))
			goto bad;
	return 0;
bad:
	return perr(c, n, "%s must be a host name or \"*.\" and a domain, got %s", subject(c), GOT(n));
}

static int v_abs_path(struct pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	if (s[0] == '/')
		return 0;
	return perr(c, n, "%s must start with \"/\", got %s", subject(c), GOT(n));
}

static int v_header_name(struct pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	if (!*s)
		goto bad;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_'))
			goto bad;
	return 0;
bad:
	return perr(c, n, "%s must be a header name (letters, digits, '-' and '_'), got %s", subject(c),
		    GOT(n));
}

static bool is_env_name(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return false;
	return true;
}

static int v_env_name(struct pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	if (is_env_name(s))
		return 0;
	return perr(c, n, "%s must be letters, digits and '_', not starting with a digit, got %s",
		    subject(c), GOT(n));
}

/*
 * glibc's regcomp copies a subexpression once per repetition, so nested
 * bounds ("(a{100}){100}") cost memory multiplied: keep the bounds small.
 */
static int v_regex(struct pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	regex_t re;
	size_t bounds = 0;
	int rc;

	if (strlen(s) > 256)
		return perr(c, n, "%s must be at most 256 characters", subject(c));
	for (const char *p = s; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (*p != '{')
			continue;
		unsigned long v = 0;
		for (const char *q = p + 1; *q && *q != '}'; q++)
			if (*q >= '0' && *q <= '9' && (v = v * 10 + (unsigned long)(*q - '0')) > 32)
				break;
		if (v > 32 || ++bounds > 2)
			return perr(c, n, "%s: repetition bounds above 32, or more than two of them, are not "
				    "supported, got %s", subject(c), GOT(n));
	}
	if ((rc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB)) != 0) {
		char msg[128];
		regerror(rc, &re, msg, sizeof(msg));
		return perr(c, n, "%s is not a valid extended regular expression (%s), got %s", subject(c),
			    msg, GOT(n));
	}
	regfree(&re);
	return 0;
}

static int v_url(struct pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	if ((strncmp(s, "http://", 7) == 0 && s[7]) || (strncmp(s, "https://", 8) == 0 && s[8]))
		return 0;
	return perr(c, n, "%s must be an http:// or https:// URL, got %s", subject(c), GOT(n));
}

/* ------------------------------------------------------------------ */
/* Structured types                                                   */

/* arg: the sub-table; the sub-struct starts at off. */
static int parse_sub(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	return table_parse(c, n, AT(base, f->off, char), f->arg);
}

static json_t *emit_sub(const void *base, const struct field *f)
{
	return table_emit(f->arg, CAT(base, f->off, char));
}

static void free_sub(void *base, const struct field *f)
{
	table_free(f->arg, AT(base, f->off, char));
}

static const struct ftype t_sub = {parse_sub, emit_sub, free_sub};

/* Lists of structs: an array at off, its size_t count at off2. */
static int parse_list(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	const struct table *t = f->arg;
	void **arr = AT(base, f->off, void *);
	size_t *count = AT(base, f->off2, size_t);
	char gotbuf[128];

	if (n->type != SN_SEQ)
		return perr(c, n, "%s must be a list, got %s", subject(c), GOT(n));
	if ((f->flags & F_NONEMPTY) && n->nkids == 0)
		return perr(c, n, "%s must not be empty", subject(c));
	*arr = xcalloc(n->nkids ? n->nkids : 1, t->size);
	for (size_t i = 0; i < n->nkids; i++) {
		void *elem = (char *)*arr + i * t->size;
		if (t->init)
			t->init(elem);
		*count = i + 1;
		size_t old = path_push_index(c, i);
		int rc = table_parse(c, n->kids[i], elem, t);
		path_pop(c, old);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static json_t *emit_list(const void *base, const struct field *f)
{
	const struct table *t = f->arg;
	const char *arr = *CAT(base, f->off, void *);
	size_t count = *CAT(base, f->off2, size_t);
	json_t *a = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(a, table_emit(t, arr + i * t->size));
	return a;
}

static void free_list(void *base, const struct field *f)
{
	const struct table *t = f->arg;
	void **arr = AT(base, f->off, void *);
	size_t *count = AT(base, f->off2, size_t);
	for (size_t i = 0; i < *count; i++)
		table_free(t, (char *)*arr + i * t->size);
	free(*arr);
	*arr = NULL;
	*count = 0;
}

static const struct ftype t_list = {parse_list, emit_list, free_list};

/* argv: NULL-terminated char ** at off, count at off2. */
static int parse_argv(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	char ***argv = AT(base, f->off, char **);
	size_t *argc = AT(base, f->off2, size_t);
	char gotbuf[128];
	int rc;

	if (n->type != SN_SEQ)
		return perr(c, n, "%s must be a list of strings, got %s", subject(c), GOT(n));
	if ((f->flags & F_NONEMPTY) && n->nkids == 0)
		return perr(c, n, "%s must not be empty", subject(c));
	*argv = xcalloc(n->nkids + 1, sizeof(char *));
	for (size_t i = 0; i < n->nkids; i++) {
		const struct snode *item = n->kids[i];
		size_t old = path_push_index(c, i);
		rc = need_scalar(c, item, "a string");
		if (rc == 0 && i == 0 && item->len == 0)
			rc = perr(c, item, "%s must not be empty", subject(c));
		if (rc == 0 && (f->flags & F_VARS))
			rc = check_vars(c, item, item->text);
		path_pop(c, old);
		if (rc < 0)
			return rc;
		(*argv)[i] = xstrdup(item->text);
		*argc = i + 1;
	}
	return 0;
}

static json_t *emit_argv(const void *base, const struct field *f)
{
	char *const *argv = *(char **const *)((const char *)base + f->off);
	size_t argc = *CAT(base, f->off2, size_t);
	json_t *a;
	if (!argv)
		return json_null();
	a = json_array();
	for (size_t i = 0; i < argc; i++)
		json_array_append_new(a, json_string(argv[i]));
	return a;
}

static void free_argv(void *base, const struct field *f)
{
	char ***argv = AT(base, f->off, char **);
	size_t *argc = AT(base, f->off2, size_t);
	for (size_t i = 0; *argv && i < *argc; i++)
		free((*argv)[i]);
	free(*argv);
	*argv = NULL;
	*argc = 0;
}

static const struct ftype t_argv = {parse_argv, emit_argv, free_argv};

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
static int unique_names(struct pctx *c, const struct snode *list, const void *arr, size_t count,
			size_t size, size_t name_off, const char *what)
{
	const char **names;
	long dup;
	if (count < 2)
		return 0;
	names = xmalloc(count * sizeof(*names));
	for (size_t i = 0; i < count; i++)
		names[i] = *CAT((const char *)arr + i * size, name_off, char *);
	dup = first_duplicate(names, count);
	int rc = 0;
	if (dup >= 0) {
		const struct snode *at = list && list->type == SN_SEQ && (size_t)dup < list->nkids
						 ? list->kids[dup] : list;
		rc = perr(c, at, "duplicate %s \"%s\"", what, names[dup]);
	}
	free(names);
	return rc;
}

/* ---- env: a mapping NAME: value, or a list of {name, value | valueFrom} */

static char *path_join_normalize(const char *dir, const char *p);

static char *escape_dollars(const char *s, size_t len)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '$')
			buf_addc(&b, '$');
		buf_addc(&b, s[i]);
	}
	return buf_detach(&b);
}

#define SECRET_MAX (1024 * 1024)

/*
 * valueFrom: {file: path}: the file's content (less one trailing newline)
 * becomes the value, marked secret. '$' is doubled so that
 * spec_substitute gives back the file's bytes unchanged.
 */
static int parse_value_from(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	struct spec_env *e = base;
	const struct snode *file = snode_get(n, "file");
	char gotbuf[128];
	char *path = NULL, *data = NULL;
	int fd = -1, rc = -1;
	struct stat st;
	size_t len = 0;

	if (n->type != SN_MAP)
		return perr(c, n, "valueFrom must be a mapping like {file: path}, got %s", GOT(n));
	for (size_t i = 0; i + 1 < n->nkids; i += 2)
		if (strcmp(n->kids[i]->text, "file") != 0) {
			static const char *const names[] = {"file", NULL};
			struct buf b = BUF_INIT;
			char kb[128];
			buf_addf(&b, "unknown field %s in %s", describe(n->kids[i], kb, sizeof(kb)),
				 where(c));
			add_suggestion(&b, n->kids[i]->text, names);
			perr(c, n->kids[i], "%s", b.s);
			buf_release(&b);
			return -1;
		}
	if (!file || file->type == SN_NULL)
		return perr_at_key(c, n, "missing required field \"file\" in valueFrom");
	if (file->type != SN_SCALAR || file->len == 0)
		return perr(c, file, "file must be a path, got %s", GOT(file));

	path = path_join_normalize(c->dir, file->text);
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perr(c, file, "cannot read \"%s\": %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SECRET_MAX) {
		perr(c, file, "cannot read \"%s\": %s", path,
		     S_ISREG(st.st_mode) ? "larger than 1 MiB" : "not a regular file");
		goto out;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, data + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perr(c, file, "cannot read \"%s\": %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len && data[len - 1] == '\n')
		len--;
	if (memchr(data, '\0', len) || !utf8_valid(data, len)) {
		perr(c, file, "\"%s\" must hold UTF-8 text without NUL characters", path);
		goto out;
	}
	free(e->value);
	e->value = escape_dollars(data, len);
	e->secret = true;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(data);
	free(path);
	return rc;
}

static const struct ftype t_value_from = {parse_value_from, NULL, NULL};

static const struct field env_item_fields[] = {
	{"name", &t_str, offsetof(struct spec_env, name), F_REQUIRED, 0, v_env_name, 0},
	{"value", &t_str, offsetof(struct spec_env, value), F_ONEOF | F_VARS, 0, NULL, 0},
	{"valueFrom", &t_value_from, 0, F_ONEOF | F_NOEMIT, 0, NULL, 0},
	{"secret", &t_bool, offsetof(struct spec_env, secret), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* valueFrom implies secret even when `secret: false` is written too. */
static int check_env_item(struct pctx *c, const struct snode *map, void *base)
{
	struct spec_env *e = base;
	if (present(map, "valueFrom"))
		e->secret = true;
	return 0;
}

static const struct table env_item_table = {env_item_fields, -1, sizeof(struct spec_env), NULL, check_env_item};

static const struct field header_item_fields[] = {
	{"name", &t_str, offsetof(struct spec_env, name), F_REQUIRED, 0, v_header_name, 0},
	{"value", &t_str, offsetof(struct spec_env, value), F_REQUIRED, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table header_item_table = {header_item_fields, -1, sizeof(struct spec_env), NULL, NULL};

/* arg: the item table; its first row (name) validates the map form's keys. */
static int parse_env(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	const struct table *t = f->arg;
	struct spec_env **arr = AT(base, f->off, struct spec_env *);
	size_t *count = AT(base, f->off2, size_t);
	char gotbuf[128];
	int rc;

	if (n->type == SN_SEQ) {
		struct field lf = *f;
		lf.arg = t;
		lf.flags &= ~(unsigned)F_NONEMPTY;
		if ((rc = parse_list(c, n, base, &lf)) < 0)
			return rc;
	} else if (n->type == SN_MAP) {
		validator_fn vname = (validator_fn)t->fields[0].arg;
		*arr = xcalloc(n->nkids / 2 + 1, sizeof(**arr));
		for (size_t i = 0; i + 1 < n->nkids; i += 2) {
			const struct snode *k = n->kids[i], *v = n->kids[i + 1];
			struct spec_env *e = &(*arr)[i / 2];
			size_t old = path_push(c, k->text);
			rc = vname(c, k, k->text);
			if (rc == 0 && v->type != SN_NULL)
				rc = need_scalar(c, v, "a string");
			if (rc == 0 && v->type != SN_NULL && (f->flags & F_VARS))
				rc = check_vars(c, v, v->text);
			path_pop(c, old);
			if (rc < 0)
				return rc;
			e->name = xstrdup(k->text);
			e->value = xstrdup(v->type == SN_NULL ? "" : v->text);
			*count = i / 2 + 1;
		}
	} else {
		return perr(c, n, "%s must be a mapping or a list of {name, value}, got %s", subject(c), GOT(n));
	}
	for (size_t i = 0; i < *count; i++)
		if (!(*arr)[i].value)
			(*arr)[i].value = xstrdup("");
	return unique_names(c, n->type == SN_SEQ ? n : NULL, *arr, *count, sizeof(**arr),
			    offsetof(struct spec_env, name), "name");
}

static const struct ftype t_env = {parse_env, emit_list, free_list};

/* ---- analysis references: templates: [name | {templateName: name}] */

static int parse_tmplrefs(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	char ***names = AT(base, f->off, char **);
	size_t *count = AT(base, f->off2, size_t);
	char gotbuf[128];
	int rc = 0;

	if (n->type != SN_SEQ)
		return perr(c, n, "%s must be a list of template names, got %s", subject(c), GOT(n));
	if (n->nkids == 0)
		return perr(c, n, "%s must not be empty", subject(c));
	*names = xcalloc(n->nkids + 1, sizeof(char *));
	for (size_t i = 0; i < n->nkids && rc == 0; i++) {
		const struct snode *item = n->kids[i], *name = item;
		size_t old = path_push_index(c, i);
		if (item->type == SN_MAP) {
			name = snode_get(item, "templateName");
			for (size_t k = 0; k + 1 < item->nkids && rc == 0; k += 2)
				if (strcmp(item->kids[k]->text, "templateName") != 0) {
					static const char *const known[] = {"templateName", NULL};
					struct buf b = BUF_INIT;
					char kb[128];
					buf_addf(&b, "unknown field %s in %s",
						 describe(item->kids[k], kb, sizeof(kb)), where(c));
					add_suggestion(&b, item->kids[k]->text, known);
					rc = perr(c, item->kids[k], "%s", b.s);
					buf_release(&b);
				}
			if (rc == 0 && (!name || name->type == SN_NULL))
				rc = perr(c, item, "missing required field \"templateName\" in %s", where(c));
			if (rc == 0) {
				size_t o2 = path_push(c, "templateName");
				rc = need_scalar(c, name, "a template name");
				if (rc == 0)
					rc = v_dns_label(c, name, name->text);
				path_pop(c, o2);
			}
		} else {
			rc = need_scalar(c, item, "a template name or {templateName: name}");
			if (rc == 0)
				rc = v_dns_label(c, item, item->text);
		}
		path_pop(c, old);
		if (rc == 0) {
			(*names)[i] = xstrdup(name->text);
			*count = i + 1;
		}
	}
	return rc;
}

static json_t *emit_tmplrefs(const void *base, const struct field *f)
{
	char *const *names = *(char **const *)((const char *)base + f->off);
	size_t count = *CAT(base, f->off2, size_t);
	json_t *a = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(a, json_pack("{s:s}", "templateName", names[i]));
	return a;
}

static const struct ftype t_tmplrefs = {parse_tmplrefs, emit_tmplrefs, free_argv};

static const struct field aref_arg_fields[] = {
	{"name", &t_str, offsetof(struct spec_env, name), F_REQUIRED | F_NONEMPTY, 0, NULL, 0},
	{"value", &t_str, offsetof(struct spec_env, value), F_REQUIRED, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table aref_arg_table = {aref_arg_fields, -1, sizeof(struct spec_env), NULL, NULL};

static int check_aref(struct pctx *c, const struct snode *map, void *base)
{
	struct spec_analysis_ref *r = base;
	return unique_names(c, snode_get(map, "args"), r->args, r->nargs, sizeof(*r->args),
			    offsetof(struct spec_env, name), "argument");
}

static const struct field aref_fields[] = {
	{"templates", &t_tmplrefs, offsetof(struct spec_analysis_ref, templates), F_REQUIRED, 0, NULL,
	 offsetof(struct spec_analysis_ref, ntemplates)},
	{"args", &t_list, offsetof(struct spec_analysis_ref, args), 0, 0, &aref_arg_table,
	 offsetof(struct spec_analysis_ref, nargs)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table aref_table = {aref_fields, -1, 0, NULL, check_aref};

/* An analysis reference that is absent is emitted as null. */
static json_t *emit_aref(const void *base, const struct field *f)
{
	const struct spec_analysis_ref *r = CAT(base, f->off, struct spec_analysis_ref);
	if (r->ntemplates == 0)
		return json_null();
	return table_emit(&aref_table, r);
}

static const struct ftype t_aref = {parse_sub, emit_aref, free_sub};

/* ------------------------------------------------------------------ */
/* App tables                                                         */

static int parse_api_version(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	char gotbuf[128];
	if (n->type == SN_SCALAR && strcmp(n->text, API_VERSION) == 0)
		return 0;
	return perr(c, n, "unknown apiVersion %s, expected \"" API_VERSION "\"", GOT(n));
}

static json_t *emit_api_version(const void *base, const struct field *f)
{
	return json_string(API_VERSION);
}

static const struct ftype t_api_version = {parse_api_version, emit_api_version, NULL};

/* The kind was checked before its table was chosen; arg is its name. */
static int parse_kind(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	return 0;
}

static json_t *emit_kind(const void *base, const struct field *f)
{
	return json_string(f->arg);
}

static const struct ftype t_kind = {parse_kind, emit_kind, NULL};

/* metadata.labels: a mapping of strings, accepted and not kept. */
static int parse_labels(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	char gotbuf[128];
	if (n->type != SN_MAP)
		return perr(c, n, "labels must be a mapping, got %s", GOT(n));
	for (size_t i = 1; i < n->nkids; i += 2)
		if (n->kids[i]->type == SN_MAP || n->kids[i]->type == SN_SEQ)
			return perr(c, n->kids[i], "label %s must be a string, got %s",
				    n->kids[i - 1]->text, GOT(n->kids[i]));
	return 0;
}

static const struct ftype t_labels = {parse_labels, NULL, NULL};

static const struct field meta_app_fields[] = {
	{"name", &t_str, offsetof(struct spec_app, name), F_REQUIRED, 0, v_dns_label, 0},
	{"labels", &t_labels, 0, F_NOEMIT, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table meta_app_table = {meta_app_fields, -1, 0, NULL, NULL};

/* Lexical clean-up of dir/p (no symlinks followed, nothing stat'ed). */
static char *path_join_normalize(const char *dir, const char *p)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	size_t *marks = NULL, nmarks = 0;

	if (p[0] != '/')
		buf_addf(&in, "%s/", dir);
	buf_adds(&in, p);
	marks = xmalloc((in.len / 2 + 2) * sizeof(*marks));
	for (const char *s = in.s; *s;) {
		while (*s == '/')
			s++;
		const char *e = strchrnul(s, '/');
		size_t len = (size_t)(e - s);
		if (len == 0 || (len == 1 && s[0] == '.')) {
			/* nothing */
		} else if (len == 2 && s[0] == '.' && s[1] == '.') {
			if (nmarks) {
				out.len = marks[--nmarks];
				out.s[out.len] = '\0';
			}
		} else {
			marks[nmarks++] = out.len;
			buf_addc(&out, '/');
			buf_add(&out, s, len);
		}
		s = e;
	}
	if (!out.len)
		buf_addc(&out, '/');
	free(marks);
	buf_release(&in);
	return buf_detach(&out);
}

static int parse_workdir(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	char **p = AT(base, f->off, char *);
	int rc;
	if ((rc = need_scalar(c, n, "a path")) < 0)
		return rc;
	if (n->len == 0)
		return perr(c, n, "%s must not be empty", subject(c));
	free(*p);
	*p = path_join_normalize(c->dir, n->text);
	return 0;
}

static const struct ftype t_workdir = {parse_workdir, emit_str, free_str};

static int check_run(struct pctx *c, const struct snode *map, void *base)
{
	struct spec_app *a = base;
	if (!a->workdir)
		a->workdir = xstrdup(c->dir);
	return 0;
}

static const struct field run_fields[] = {
	{"command", &t_argv, offsetof(struct spec_app, command), F_REQUIRED | F_NONEMPTY | F_VARS, 0,
	 NULL, offsetof(struct spec_app, argc)},
	{"workdir", &t_workdir, offsetof(struct spec_app, workdir), 0, 0, NULL, 0},
	{"env", &t_env, offsetof(struct spec_app, env), F_VARS, 0, &env_item_table,
	 offsetof(struct spec_app, nenv)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table run_table = {run_fields, -1, 0, NULL, check_run};

/* ---- probes */

static int check_probe_http(struct pctx *c, const struct snode *map, void *base)
{
	struct spec_probe *p = base;
	if (!p->http_path)
		p->http_path = xstrdup("/");
	return 0;
}

static const struct field probe_http_fields[] = {
	{"path", &t_str, offsetof(struct spec_probe, http_path), 0, 0, v_abs_path, 0},
	{"port", &t_u16, offsetof(struct spec_probe, port), F_ZERO_NULL, 0, &r_port, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table probe_http_table = {probe_http_fields, -1, 0, NULL, check_probe_http};

static const struct field probe_tcp_fields[] = {
	{"port", &t_u16, offsetof(struct spec_probe, port), F_ZERO_NULL, 0, &r_port, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table probe_tcp_table = {probe_tcp_fields, -1, 0, NULL, NULL};

static const struct field probe_exec_fields[] = {
	{"command", &t_argv, offsetof(struct spec_probe, exec_command), F_REQUIRED | F_NONEMPTY, 0, NULL,
	 offsetof(struct spec_probe, exec_argc)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table probe_exec_table = {probe_exec_fields, -1, 0, NULL, NULL};

static const struct field probe_fields[] = {
	{"http", &t_sub, 0, F_ONEOF | F_NULLOK, SPEC_PROBE_HTTP, &probe_http_table, 0},
	{"tcp", &t_sub, 0, F_ONEOF | F_NULLOK, SPEC_PROBE_TCP, &probe_tcp_table, 0},
	{"exec", &t_sub, 0, F_ONEOF, SPEC_PROBE_EXEC, &probe_exec_table, 0},
	{"period", &t_dur, offsetof(struct spec_probe, period_ms), 0, 0, &r_dur_positive, 0},
	{"timeout", &t_dur, offsetof(struct spec_probe, timeout_ms), 0, 0, &r_dur_positive, 0},
	{"initialDelay", &t_dur, offsetof(struct spec_probe, initial_delay_ms), 0, 0, NULL, 0},
	{"failureThreshold", &t_u32, offsetof(struct spec_probe, failure_threshold), 0, 0, &r_count1, 0},
	{"successThreshold", &t_u32, offsetof(struct spec_probe, success_threshold), 0, 0, &r_count1, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table probe_table = {probe_fields, offsetof(struct spec_probe, kind), 0, NULL, NULL};

/* No probe (kind NONE) is emitted as null, so that it reads back as absent. */
static json_t *emit_probe(const void *base, const struct field *f)
{
	const struct spec_probe *p = CAT(base, f->off, struct spec_probe);
	if (p->kind == SPEC_PROBE_NONE)
		return json_null();
	return table_emit(&probe_table, p);
}

static const struct ftype t_probe = {parse_sub, emit_probe, free_sub};

/* ---- stop */

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{"SIGTERM", SIGTERM}, {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT}, {"SIGHUP", SIGHUP},
	{"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGKILL", SIGKILL},
};
#define NSIGNALS (sizeof(signals) / sizeof(signals[0]))

static int parse_signal(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	const char *names[NSIGNALS + 1];
	char gotbuf[128];
	int rc;

	if ((rc = need_scalar(c, n, "a signal name")) < 0)
		return rc;
	for (size_t i = 0; i < NSIGNALS; i++) {
		names[i] = signals[i].name;
		if (strcmp(n->text, signals[i].name) == 0 || strcmp(n->text, signals[i].name + 3) == 0) {
			*AT(base, f->off, int) = signals[i].sig;
			return 0;
		}
	}
	names[NSIGNALS] = NULL;
	struct buf b = BUF_INIT;
	buf_addf(&b, "signal must be one of SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGKILL, got %s",
		 GOT(n));
	add_suggestion(&b, n->text, names);
	perr(c, n, "%s", b.s);
	buf_release(&b);
	return -1;
}

static json_t *emit_signal(const void *base, const struct field *f)
{
	int sig = *CAT(base, f->off, int);
	for (size_t i = 0; i < NSIGNALS; i++)
		if (signals[i].sig == sig)
			return json_string(signals[i].name);
	return json_integer(sig);
}

static const struct ftype t_signal = {parse_signal, emit_signal, NULL};

static const struct field stop_fields[] = {
	{"signal", &t_signal, offsetof(struct spec_app, stop_signal), 0, 0, NULL, 0},
	{"timeout", &t_dur, offsetof(struct spec_app, stop_timeout_ms), 0, 0, NULL, 0},
	{"drainTimeout", &t_dur, offsetof(struct spec_app, drain_timeout_ms), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table stop_table = {stop_fields, -1, 0, NULL, NULL};

/* ---- route */

static const struct field header_route_fields[] = {
	{"name", &t_str, offsetof(struct spec_header_match, name), F_REQUIRED, 0, v_header_name, 0},
	{"exact", &t_str, offsetof(struct spec_header_match, exact), F_ONEOF | F_OMIT_NULL, 0, NULL, 0},
	{"regex", &t_str, offsetof(struct spec_header_match, regex), F_ONEOF | F_OMIT_NULL, 0, v_regex, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table header_route_table = {header_route_fields, -1, sizeof(struct spec_header_match),
						NULL, NULL};

static const struct field route_fields[] = {
	{"listen", &t_str, offsetof(struct spec_app, route.listen), 0, 0, v_listen, 0},
	{"host", &t_str, offsetof(struct spec_app, route.host), 0, 0, v_host, 0},
	{"pathPrefix", &t_str, offsetof(struct spec_app, route.path_prefix), 0, 0, v_abs_path, 0},
	{"sticky", &t_bool, offsetof(struct spec_app, route.sticky), 0, 0, NULL, 0},
	{"headerRoutes", &t_list, offsetof(struct spec_app, header_routes), 0, 0, &header_route_table,
	 offsetof(struct spec_app, nheader_routes)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table route_table = {route_fields, -1, 0, NULL, NULL};

/* ---- strategy */

static int check_rolling(struct pctx *c, const struct snode *map, void *base)
{
	struct spec_strategy *s = base;
	if (s->max_surge == 0 && s->max_unavailable == 0)
		return perr_at_key(c, map, "maxSurge and maxUnavailable must not both be 0");
	return 0;
}

static const struct field rolling_fields[] = {
	{"maxSurge", &t_u32, offsetof(struct spec_strategy, max_surge), 0, 0, &(struct range){0, 1000}, 0},
	{"maxUnavailable", &t_u32, offsetof(struct spec_strategy, max_unavailable), 0, 0,
	 &(struct range){0, 1000}, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table rolling_table = {rolling_fields, -1, 0, NULL, check_rolling};

/* pause: {} waits for promote; pause: {duration: d} waits d. */
static int check_pause(struct pctx *c, const struct snode *map, void *base)
{
	struct spec_step *s = base;
	s->pause_indefinite = !present(map, "duration");
	return 0;
}

static json_t *emit_pause_duration(const void *base, const struct field *f)
{
	const struct spec_step *s = base;
	return s->pause_indefinite ? NULL : emit_dur(base, f);
}

static const struct ftype t_pause_duration = {parse_dur, emit_pause_duration, NULL};

static const struct field pause_fields[] = {
	{"duration", &t_pause_duration, offsetof(struct spec_step, pause_ms), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table pause_table = {pause_fields, -1, 0, NULL, check_pause};

static const struct field header_match_fields[] = {
	{"exact", &t_str, offsetof(struct spec_header_match, exact), F_ONEOF | F_OMIT_NULL, 0, NULL, 0},
	{"regex", &t_str, offsetof(struct spec_header_match, regex), F_ONEOF | F_OMIT_NULL, 0, v_regex, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table header_match_table = {header_match_fields, -1, 0, NULL, NULL};

static const struct field set_header_route_fields[] = {
	{"name", &t_str, offsetof(struct spec_header_match, name), F_REQUIRED, 0, v_header_name, 0},
	{"match", &t_sub, 0, F_REQUIRED, 0, &header_match_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table set_header_route_table = {set_header_route_fields, -1, 0, NULL, NULL};

static const struct field step_fields[] = {
	{"setWeight", &t_u32, offsetof(struct spec_step, weight), F_ONEOF, SPEC_STEP_SET_WEIGHT, &r_weight, 0},
	{"pause", &t_sub, 0, F_ONEOF | F_NULLOK, SPEC_STEP_PAUSE, &pause_table, 0},
	{"analysis", &t_sub, offsetof(struct spec_step, analysis), F_ONEOF, SPEC_STEP_ANALYSIS, &aref_table, 0},
	{"setHeaderRoute", &t_sub, offsetof(struct spec_step, header), F_ONEOF, SPEC_STEP_SET_HEADER_ROUTE,
	 &set_header_route_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table step_table = {step_fields, offsetof(struct spec_step, kind), sizeof(struct spec_step),
					NULL, NULL};

static const struct field canary_fields[] = {
	{"steps", &t_list, offsetof(struct spec_strategy, steps), 0, 0, &step_table,
	 offsetof(struct spec_strategy, nsteps)},
	{"analysis", &t_aref, offsetof(struct spec_strategy, background), 0, 0, &aref_table, 0},
	{"canaryReplicas", &t_u32, offsetof(struct spec_strategy, canary_replicas), 0, 0,
	 &(struct range){0, 1000}, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table canary_table = {canary_fields, -1, 0, NULL, NULL};

static int parse_seconds(struct pctx *c, const struct snode *n, void *base, const struct field *f)
{
	uint64_t v = 0;
	int rc = parse_uint(c, n, &(struct range){0, 1000000000}, &v);
	if (rc == 0)
		*AT(base, f->off, uint64_t) = v * 1000;
	return rc;
}

static const struct ftype t_seconds = {parse_seconds, NULL, NULL};

static int check_blue_green(struct pctx *c, const struct snode *map, void *base)
{
	if (present(map, "autoPromotionSeconds") && present(map, "autoPromotion"))
		return perr(c, snode_get(map, "autoPromotion"),
			    "blueGreen has both \"autoPromotionSeconds\" and \"autoPromotion\", only one is allowed");
	return 0;
}

static const struct field blue_green_fields[] = {
	{"previewListen", &t_str, offsetof(struct spec_strategy, preview_listen), 0, 0, v_listen, 0},
	{"autoPromotionSeconds", &t_seconds, offsetof(struct spec_strategy, auto_promotion_ms), F_NOEMIT, 0,
	 NULL, 0},
	{"autoPromotion", &t_dur, offsetof(struct spec_strategy, auto_promotion_ms), F_ZERO_NULL, 0, NULL, 0},
	{"prePromotionAnalysis", &t_aref, offsetof(struct spec_strategy, pre_promotion), 0, 0, &aref_table, 0},
	{"postPromotionAnalysis", &t_aref, offsetof(struct spec_strategy, post_promotion), 0, 0, &aref_table, 0},
	{"scaleDownDelay", &t_dur, offsetof(struct spec_strategy, scale_down_delay_ms), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table blue_green_table = {blue_green_fields, -1, 0, NULL, check_blue_green};

static const struct field strategy_fields[] = {
	{"rolling", &t_sub, 0, F_ONEOF | F_NULLOK, SPEC_STRATEGY_ROLLING, &rolling_table, 0},
	{"canary", &t_sub, 0, F_ONEOF | F_NULLOK, SPEC_STRATEGY_CANARY, &canary_table, 0},
	{"blueGreen", &t_sub, 0, F_ONEOF | F_NULLOK, SPEC_STRATEGY_BLUEGREEN, &blue_green_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table strategy_table = {strategy_fields, offsetof(struct spec_strategy, kind), 0, NULL, NULL};

/* ---- spec and the document */

static const struct field app_spec_fields[] = {
	{"version", &t_str, offsetof(struct spec_app, version), F_REQUIRED | F_NONEMPTY, 0, NULL, 0},
	{"run", &t_sub, 0, F_REQUIRED, 0, &run_table, 0},
	{"replicas", &t_u32, offsetof(struct spec_app, replicas), 0, 0, &r_replicas, 0},
	{"readiness", &t_probe, offsetof(struct spec_app, readiness), 0, 0, &probe_table, 0},
	{"liveness", &t_probe, offsetof(struct spec_app, liveness), 0, 0, &probe_table, 0},
	{"stop", &t_sub, 0, 0, 0, &stop_table, 0},
	{"progressDeadline", &t_dur, offsetof(struct spec_app, progress_deadline_ms), 0, 0, &r_dur_positive, 0},
	{"route", &t_sub, 0, 0, 0, &route_table, 0},
	{"strategy", &t_sub, offsetof(struct spec_app, strategy), 0, 0, &strategy_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table app_spec_table = {app_spec_fields, -1, 0, NULL, NULL};

static const struct field app_doc_fields[] = {
	{"apiVersion", &t_api_version, 0, F_REQUIRED, 0, NULL, 0},
	{"kind", &t_kind, 0, F_REQUIRED, 0, "App", 0},
	{"metadata", &t_sub, 0, F_REQUIRED, 0, &meta_app_table, 0},
	{"spec", &t_sub, 0, F_REQUIRED, 0, &app_spec_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table app_doc_table = {app_doc_fields, -1, 0, NULL, NULL};

static void app_init(struct spec_app *a)
{
	memset(a, 0, sizeof(*a));
	a->refs = 1;
	a->replicas = 1;
	a->readiness = (struct spec_probe){.period_ms = 1000, .timeout_ms = 1000,
					   .failure_threshold = 3, .success_threshold = 1};
	a->liveness = a->readiness;
	a->liveness.period_ms = 2000;
	a->stop_signal = SIGTERM;
	a->stop_timeout_ms = 10000;
	a->drain_timeout_ms = 30000;
	a->progress_deadline_ms = 60000;
	a->route.path_prefix = xstrdup("/");
	a->strategy.kind = SPEC_STRATEGY_ROLLING;
	a->strategy.max_surge = 1;
	a->strategy.scale_down_delay_ms = 30000;
}

static void app_free(struct spec_app *a)
{
	table_free(&app_doc_table, a);
	free(a->source);
	free(a);
}

/* ------------------------------------------------------------------ */
/* AnalysisTemplate tables                                            */

enum provider_kind { PROV_BUILTIN, PROV_PROMETHEUS, PROV_WEB, PROV_EXEC, PROV_COMPARE };

struct spec_provider {
	int kind;
	int builtin_metric;
	uint64_t window_ms;
	char *address, *query;
	uint64_t prom_timeout_ms;
	char *url;
	int method;
	struct spec_env *headers;
	size_t nheaders;
	char *body, *json_path;
	uint64_t web_timeout_ms;
	char **command;
	size_t argc;
	uint64_t exec_timeout_ms;
	int compare_metric;
	double confidence, max_increase;
	uint32_t compare_min_samples;
};

struct spec_metric {
	char *name;
	uint64_t interval_ms;
	uint32_t count;
	uint64_t initial_delay_ms;
	uint32_t failure_limit, inconclusive_limit, consecutive_error_limit, min_samples;
	char *success_condition, *failure_condition;
	int no_data;
	struct spec_provider provider;
};

struct tmpl {
	char *name;
	struct spec_env *args;
	size_t nargs;
	struct spec_metric *metrics;
	size_t nmetrics;
};

static const char *const builtin_metrics[] = {"success-rate", "error-rate", "latency-p50", "latency-p90",
					      "latency-p95", "latency-p99", "request-rate", NULL};
static const char *const compare_metrics[] = {"latency", "error-rate", NULL};
static const char *const http_methods[] = {"GET", "POST", NULL};
static const char *const no_data_policies[] = {"inconclusive", "fail", "pass", NULL};

#define PROV(f) offsetof(struct spec_provider, f)

static const struct field builtin_fields[] = {
	{"metric", &t_enum, PROV(builtin_metric), F_REQUIRED, 0, builtin_metrics, 0},
	{"window", &t_dur, PROV(window_ms), 0, 0, &r_dur_positive, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct field prometheus_fields[] = {
	{"address", &t_str, PROV(address), F_REQUIRED, 0, v_url, 0},
	{"query", &t_str, PROV(query), F_REQUIRED | F_NONEMPTY, 0, NULL, 0},
	{"timeout", &t_dur, PROV(prom_timeout_ms), 0, 0, &r_dur_positive, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct field web_fields[] = {
	{"url", &t_str, PROV(url), F_REQUIRED, 0, v_url, 0},
	{"method", &t_enum, PROV(method), 0, 0, http_methods, 0},
	{"headers", &t_env, PROV(headers), 0, 0, &header_item_table, PROV(nheaders)},
	{"body", &t_str, PROV(body), 0, 0, NULL, 0},
	{"jsonPath", &t_str, PROV(json_path), 0, 0, NULL, 0},
	{"timeout", &t_dur, PROV(web_timeout_ms), 0, 0, &r_dur_positive, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct field exec_fields[] = {
	{"command", &t_argv, PROV(command), F_REQUIRED | F_NONEMPTY, 0, NULL, PROV(argc)},
	{"timeout", &t_dur, PROV(exec_timeout_ms), 0, 0, &r_dur_positive, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct field compare_fields[] = {
	{"metric", &t_enum, PROV(compare_metric), F_REQUIRED, 0, compare_metrics, 0},
	{"confidence", &t_double, PROV(confidence), 0, 0, &r_confidence, 0},
	{"maxIncrease", &t_double, PROV(max_increase), 0, 0, &r_increase, 0},
	{"minSamples", &t_u32, PROV(compare_min_samples), 0, 0, &r_count1, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table builtin_table = {builtin_fields, -1, 0, NULL, NULL};
static const struct table prometheus_table = {prometheus_fields, -1, 0, NULL, NULL};
static const struct table web_table = {web_fields, -1, 0, NULL, NULL};
static const struct table exec_table = {exec_fields, -1, 0, NULL, NULL};
static const struct table compare_table = {compare_fields, -1, 0, NULL, NULL};

static const struct field provider_fields[] = {
	{"builtin", &t_sub, 0, F_ONEOF, PROV_BUILTIN, &builtin_table, 0},
	{"prometheus", &t_sub, 0, F_ONEOF, PROV_PROMETHEUS, &prometheus_table, 0},
	{"web", &t_sub, 0, F_ONEOF, PROV_WEB, &web_table, 0},
	{"exec", &t_sub, 0, F_ONEOF, PROV_EXEC, &exec_table, 0},
	{"compare", &t_sub, 0, F_ONEOF, PROV_COMPARE, &compare_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table provider_table = {provider_fields, PROV(kind), 0, NULL, NULL};

#define MET(f) offsetof(struct spec_metric, f)

static void metric_init(void *elem)
{
	struct spec_metric *m = elem;
	m->interval_ms = 1000;
	m->consecutive_error_limit = 4;
	m->provider.window_ms = 30000;
	m->provider.prom_timeout_ms = 5000;
	m->provider.web_timeout_ms = 5000;
	m->provider.exec_timeout_ms = 10000;
	m->provider.confidence = 0.98;
	m->provider.max_increase = 0.1;
	m->provider.compare_min_samples = 30;
}

/*
 * Argo's rule for count: neither count nor interval → measure once;
 * interval alone → measure until the analysis is stopped (count 0).
 * Threshold providers need a condition to judge by.
 */
static int check_metric(struct pctx *c, const struct snode *map, void *base)
{
	struct spec_metric *m = base;
	if (!present(map, "count"))
		m->count = present(map, "interval") ? 0 : 1;
	if (!m->success_condition && !m->failure_condition &&
	    (m->provider.kind == PROV_BUILTIN || m->provider.kind == PROV_PROMETHEUS ||
	     m->provider.kind == PROV_WEB))
		return perr_at_key(c, map, "metric needs \"successCondition\" or \"failureCondition\"");
	return 0;
}

static const struct field metric_fields[] = {
	{"name", &t_str, MET(name), F_REQUIRED | F_NONEMPTY, 0, NULL, 0},
	{"interval", &t_dur, MET(interval_ms), 0, 0, &r_dur_positive, 0},
	{"count", &t_u32, MET(count), 0, 0, &r_count0, 0},
	{"initialDelay", &t_dur, MET(initial_delay_ms), 0, 0, NULL, 0},
	{"failureLimit", &t_u32, MET(failure_limit), 0, 0, &r_count0, 0},
	{"inconclusiveLimit", &t_u32, MET(inconclusive_limit), 0, 0, &r_count0, 0},
	{"consecutiveErrorLimit", &t_u32, MET(consecutive_error_limit), 0, 0, &r_count0, 0},
	{"successCondition", &t_str, MET(success_condition), F_NONEMPTY, 0, NULL, 0},
	{"failureCondition", &t_str, MET(failure_condition), F_NONEMPTY, 0, NULL, 0},
	{"minSamples", &t_u32, MET(min_samples), 0, 0, &r_count0, 0},
	{"noData", &t_enum, MET(no_data), 0, 0, no_data_policies, 0},
	{"provider", &t_sub, MET(provider), F_REQUIRED, 0, &provider_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table metric_table = {metric_fields, -1, sizeof(struct spec_metric), metric_init,
					  check_metric};

static const struct field targ_fields[] = {
	{"name", &t_str, offsetof(struct spec_env, name), F_REQUIRED | F_NONEMPTY, 0, NULL, 0},
	{"value", &t_str, offsetof(struct spec_env, value), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table targ_table = {targ_fields, -1, sizeof(struct spec_env), NULL, NULL};

static int check_tmpl_spec(struct pctx *c, const struct snode *map, void *base)
{
	struct tmpl *t = base;
	int rc = unique_names(c, snode_get(map, "args"), t->args, t->nargs, sizeof(*t->args),
			      offsetof(struct spec_env, name), "argument");
	if (rc == 0)
		rc = unique_names(c, snode_get(map, "metrics"), t->metrics, t->nmetrics, sizeof(*t->metrics),
				  MET(name), "metric");
	return rc;
}

static const struct field tmpl_spec_fields[] = {
	{"args", &t_list, offsetof(struct tmpl, args), 0, 0, &targ_table, offsetof(struct tmpl, nargs)},
	{"metrics", &t_list, offsetof(struct tmpl, metrics), F_REQUIRED | F_NONEMPTY, 0, &metric_table,
	 offsetof(struct tmpl, nmetrics)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table tmpl_spec_table = {tmpl_spec_fields, -1, 0, NULL, check_tmpl_spec};

static const struct field meta_tmpl_fields[] = {
	{"name", &t_str, offsetof(struct tmpl, name), F_REQUIRED, 0, v_dns_label, 0},
	{"labels", &t_labels, 0, F_NOEMIT, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table meta_tmpl_table = {meta_tmpl_fields, -1, 0, NULL, NULL};

static const struct field tmpl_doc_fields[] = {
	{"apiVersion", &t_api_version, 0, F_REQUIRED, 0, NULL, 0},
	{"kind", &t_kind, 0, F_REQUIRED, 0, "AnalysisTemplate", 0},
	{"metadata", &t_sub, 0, F_REQUIRED, 0, &meta_tmpl_table, 0},
	{"spec", &t_sub, 0, F_REQUIRED, 0, &tmpl_spec_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct table tmpl_doc_table = {tmpl_doc_fields, -1, 0, NULL, NULL};

_Static_assert(sizeof(enum spec_probe_kind) == sizeof(int), "kind fields are read as int");
_Static_assert(sizeof(enum spec_strategy_kind) == sizeof(int), "kind fields are read as int");
_Static_assert(sizeof(enum spec_step_kind) == sizeof(int), "kind fields are read as int");

/* ------------------------------------------------------------------ */
/* Documents, files and directories                                   */

#define SPEC_MAX_FILE (4u * 1024 * 1024)

static const char *const kinds[] = {"App", "AnalysisTemplate", NULL};

/* The absolute directory of `file` ("." and cwd when it has none). */
static char *dir_of(const char *file)
{
	const char *slash = strrchr(file, '/');
	char *dir = slash ? xstrndup(file, slash == file ? 1 : (size_t)(slash - file)) : xstrdup(".");
	char *abs;
	if (dir[0] == '/') {
		abs = path_join_normalize("/", dir);
	} else {
		char cwd[PATH_MAX];
		abs = path_join_normalize(getcwd(cwd, sizeof(cwd)) ? cwd : "/", dir);
	}
	free(dir);
	return abs;
}

static char *position(const char *file, const struct snode *n)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s:%d:%d", file, n && n->line ? n->line : 1, n && n->line ? n->col : 1);
	return buf_detach(&b);
}

static void tmpl_release(struct tmpl *t)
{
	table_free(&tmpl_doc_table, t);
}

/*
 * Checks the document's kind and parses it with that kind's table. On
 * success exactly one of *app_out / *tmpl_out is set.
 */
static int parse_document(struct pctx *c, const struct snode *root, struct spec_app **app_out,
			  struct spec_template **tmpl_out)
{
	char gotbuf[128];
	const struct snode *kind;
	int rc = -1;

	*app_out = NULL;
	*tmpl_out = NULL;
	if (root->type != SN_MAP)
		return perr(c, root, "document must be a mapping, got %s", GOT(root));
	kind = snode_get(root, "kind");
	if (!kind || kind->type == SN_NULL)
		return perr(c, root, "missing required field \"kind\" in document");
	if (kind->type == SN_SCALAR && strcmp(kind->text, "App") == 0) {
		struct spec_app *a = xmalloc(sizeof(*a));
		app_init(a);
		c->root = "App";
		if ((rc = table_parse(c, root, a, &app_doc_table)) < 0) {
			app_free(a);
			return rc;
		}
		a->source = position(c->file, root);
		*app_out = a;
		return 0;
	}
	if (kind->type == SN_SCALAR && strcmp(kind->text, "AnalysisTemplate") == 0) {
		struct tmpl t = {0};
		c->root = "AnalysisTemplate";
		if ((rc = table_parse(c, root, &t, &tmpl_doc_table)) == 0) {
			struct spec_template *st = xcalloc(1, sizeof(*st));
			st->name = xstrdup(t.name);
			st->source = position(c->file, root);
			st->json = table_emit(&tmpl_doc_table, &t);
			*tmpl_out = st;
		}
		tmpl_release(&t);
		return rc;
	}
	struct buf b = BUF_INIT;
	buf_addf(&b, "unknown kind %s, expected \"App\" or \"AnalysisTemplate\"", GOT(kind));
	if (kind->type == SN_SCALAR)
		add_suggestion(&b, kind->text, kinds);
	perr(c, kind, "%s", b.s);
	buf_release(&b);
	return -1;
}

static int add_document(struct spec_set *set, struct pctx *c, const struct snode *root)
{
	struct spec_app *a = NULL;
	struct spec_template *t = NULL;
	const struct snode *name = snode_get(snode_get(root, "metadata"), "name");
	int rc;

	if ((rc = parse_document(c, root, &a, &t)) < 0)
		return rc;
	if (a) {
		for (size_t i = 0; i < set->napps; i++)
			if (strcmp(set->apps[i]->name, a->name) == 0) {
				rc = perr(c, name, "duplicate App \"%s\" (first defined at %s)", a->name,
					  set->apps[i]->source);
				spec_app_unref(a);
				return rc;
			}
		set->apps = xrealloc(set->apps, (set->napps + 1) * sizeof(*set->apps));
		set->apps[set->napps++] = a;
	} else {
		for (size_t i = 0; i < set->ntemplates; i++)
			if (strcmp(set->templates[i]->name, t->name) == 0) {
				rc = perr(c, name, "duplicate AnalysisTemplate \"%s\" (first defined at %s)",
					  t->name, set->templates[i]->source);
				spec_template_free(t);
				return rc;
			}
		set->templates = xrealloc(set->templates, (set->ntemplates + 1) * sizeof(*set->templates));
		set->templates[set->ntemplates++] = t;
	}
	return 0;
}

/* Parses one file's text into set (which may already hold documents). */
static int parse_into(struct spec_set *set, const char *text, size_t len, const char *file,
		      struct sw_err *err)
{
	struct snode **docs = NULL;
	size_t ndocs = 0, used = 0;
	struct pctx c = {.file = file, .err = err, .path = BUF_INIT, .root = "document"};
	int rc = -1;

	if (len > SPEC_MAX_FILE)
		return sw_errf(err, -1, "%s:1:1: file is larger than 4 MiB", file);
	if (snode_from_yaml(&docs, &ndocs, text, len, file, err) < 0)
		return -1;
	c.dir = dir_of(file);
	for (size_t i = 0; i < ndocs; i++) {
		if (docs[i]->type == SN_NULL)
			continue;
		used++;
		if (add_document(set, &c, docs[i]) < 0)
			goto out;
	}
	if (!used) {
		sw_errf(err, -1, "%s:1:1: file has no documents", file);
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < ndocs; i++)
		snode_free(docs[i]);
	free(docs);
	free((char *)c.dir);
	buf_release(&c.path);
	return rc;
}

int spec_parse_text(struct spec_set *out, const char *text, size_t len, const char *filename,
		    struct sw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (parse_into(out, text, len, filename, err) < 0) {
		spec_set_release(out);
		return -1;
	}
	return 0;
}

static int read_file(char **out, size_t *len_out, const char *path, struct sw_err *err)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), rc = -1;

	if (fd < 0 || fstat(fd, &st) < 0) {
		sw_errf(err, -1, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		sw_errf(err, -1, "%s: cannot read: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > SPEC_MAX_FILE) {
		sw_errf(err, -1, "%s:1:1: file is larger than 4 MiB", path);
		goto out;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, data + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sw_errf(err, -1, "%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	data[len] = '\0';
	*out = data;
	*len_out = len;
	data = NULL;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(data);
	return rc;
}

static int parse_file_into(struct spec_set *set, const char *path, struct sw_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = read_file(&text, &len, path, err);
	if (rc == 0)
		rc = parse_into(set, text, len, path, err);
	free(text);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_yaml_name(const char *name)
{
	size_t len = strlen(name);
	if (name[0] == '.')
		return false;
	return (len > 5 && strcmp(name + len - 5, ".yaml") == 0) ||
	       (len > 4 && strcmp(name + len - 4, ".yml") == 0);
}

int spec_parse_path(struct spec_set *out, const char *path, struct sw_err *err)
{
	struct stat st;
	DIR *d = NULL;
	char **names = NULL;
	size_t nnames = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (stat(path, &st) < 0) {
		sw_errf(err, -1, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = parse_file_into(out, path, err);
		goto out;
	}
	if (!(d = opendir(path))) {
		sw_errf(err, -1, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!is_yaml_name(de->d_name))
			continue;
		struct buf b = BUF_INIT;
		size_t plen = strlen(path);
		buf_addf(&b, "%s%s%s", path, plen && path[plen - 1] == '/' ? "" : "/", de->d_name);
		struct stat fst;
		if (stat(b.s, &fst) == 0 && S_ISDIR(fst.st_mode)) {
			buf_release(&b);
			continue;
		}
		names = xrealloc(names, (nnames + 1) * sizeof(*names));
		names[nnames++] = buf_detach(&b);
	}
	if (!nnames) {
		sw_errf(err, -1, "%s: no *.yaml or *.yml files in directory", path);
		goto out;
	}
	qsort(names, nnames, sizeof(*names), name_cmp);
	for (size_t i = 0; i < nnames; i++)
		if (parse_file_into(out, names[i], err) < 0)
			goto out;
	rc = 0;
out:
	if (d)
		closedir(d);
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	if (rc < 0)
		spec_set_release(out);
	return rc;
}

void spec_set_release(struct spec_set *set)
{
	for (size_t i = 0; i < set->napps; i++)
		spec_app_unref(set->apps[i]);
	for (size_t i = 0; i < set->ntemplates; i++)
		spec_template_free(set->templates[i]);
	free(set->apps);
	free(set->templates);
	memset(set, 0, sizeof(*set));
}

void spec_template_free(struct spec_template *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->source);
	json_decref(t->json);
	free(t);
}

struct spec_app *spec_app_ref(struct spec_app *app)
{
	SW_ASSERT(app && app->refs > 0);
	app->refs++;
	return app;
}

void spec_app_unref(struct spec_app *app)
{
	if (!app)
		return;
	SW_ASSERT(app->refs > 0);
	if (--app->refs == 0)
		app_free(app);
}

/* ------------------------------------------------------------------ */
/* Canonical JSON                                                     */

json_t *spec_app_to_json(const struct spec_app *app)
{
	return table_emit(&app_doc_table, app);
}

static int from_json(const json_t *json, const char *want, struct spec_app **app_out,
		     struct spec_template **tmpl_out, struct sw_err *err)
{
	struct snode *root = NULL;
	struct pctx c = {.file = "json", .err = err, .path = BUF_INIT, .root = "document"};
	int rc = -1;

	*app_out = NULL;
	*tmpl_out = NULL;
	if (snode_from_json(&root, json, "json", err) < 0)
		goto out;
	c.dir = dir_of("x");
	const struct snode *kind = snode_get(root, "kind");
	if (kind && kind->type == SN_SCALAR && strcmp(kind->text, want) != 0) {
		char gotbuf[128];
		sw_errf(err, -1, "json: expected kind \"%s\", got %s", want, GOT(kind));
		goto out;
	}
	rc = parse_document(&c, root, app_out, tmpl_out);
out:
	snode_free(root);
	free((char *)c.dir);
	buf_release(&c.path);
	return rc;
}

int spec_app_from_json(struct spec_app **out, const json_t *json, struct sw_err *err)
{
	struct spec_template *t = NULL;
	int rc = from_json(json, "App", out, &t, err);
	if (rc == 0) {
		free((*out)->source);
		(*out)->source = xstrdup("json");
	}
	return rc;
}

int spec_template_from_json(struct spec_template **out, const json_t *json, struct sw_err *err)
{
	struct spec_app *a = NULL;
	int rc = from_json(json, "AnalysisTemplate", &a, out, err);
	if (rc == 0) {
		free((*out)->source);
		(*out)->source = xstrdup("json");
	}
	return rc;
}

char *spec_app_canonical(const struct spec_app *app)
{
	json_t *j = spec_app_to_json(app);
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(j);
	SW_ASSERT(s);
	return s;
}

void spec_app_hash(const struct spec_app *app, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *s = spec_app_canonical(app);

	SW_ASSERT(EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	free(s);
}

/* ------------------------------------------------------------------ */
/* Substitution                                                       */

char *spec_substitute(const char *in, const struct spec_vars *vars)
{
	struct buf b = BUF_INIT;
	const struct {
		const char *name;
		const char *value;
	} map[] = {
		{"PORT", vars ? vars->port : NULL},
		{"VERSION", vars ? vars->version : NULL},
		{"INSTANCE", vars ? vars->instance : NULL},
		{"APP", vars ? vars->app : NULL},
	};

	for (const char *p = in; *p; p++) {
		if (p[0] == '$' && p[1] == '$') {
			buf_addc(&b, '$');
			p++;
			continue;
		}
		if (p[0] == '$' && p[1] == '{') {
			const char *end = strchr(p + 2, '}');
			size_t len = end ? (size_t)(end - p - 2) : 0;
			size_t i;
			for (i = 0; end && i < 4; i++)
				if (strlen(map[i].name) == len && memcmp(map[i].name, p + 2, len) == 0)
					break;
			if (end && i < 4) {
				buf_adds(&b, map[i].value ? map[i].value : "");
				p = end;
				continue;
			}
		}
		buf_addc(&b, *p);
	}
	return buf_detach(&b);
}
