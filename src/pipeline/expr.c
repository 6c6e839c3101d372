/*
 * Pipeline expressions (expr.h): a recursive-descent parser into a small
 * tree, and an evaluator over jansson values with GitHub Actions' loose
 * rules. Values are json_t references; a "filter" result (a.*) is an
 * array that the next property access maps over.
 */
#include "expr.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spec/fields.h"

enum node_kind {
	N_LIT,    /* lit */
	N_CTX,    /* a context by name */
	N_PROP,   /* a.name */
	N_STAR,   /* a.* */
	N_INDEX,  /* a[b] */
	N_NOT,    /* !a */
	N_CMP,    /* a op b */
	N_AND,
	N_OR,
	N_CALL,   /* fn(args) */
};

enum cmp_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

enum fn_id {
	F_CONTAINS, F_STARTS_WITH, F_ENDS_WITH, F_FORMAT, F_JOIN, F_TO_JSON, F_FROM_JSON,
	F_HASH_FILES, F_SUCCESS, F_ALWAYS, F_FAILURE, F_CANCELLED,
};

static const struct fn_def {
	const char *name;
	size_t min, max;
} fns[] = {
	[F_CONTAINS] = {"contains", 2, 2},     [F_STARTS_WITH] = {"startsWith", 2, 2},
	[F_ENDS_WITH] = {"endsWith", 2, 2},    [F_FORMAT] = {"format", 1, 64},
	[F_JOIN] = {"join", 1, 2},             [F_TO_JSON] = {"toJSON", 1, 1},
	[F_FROM_JSON] = {"fromJSON", 1, 1},    [F_HASH_FILES] = {"hashFiles", 1, 64},
	[F_SUCCESS] = {"success", 0, 0},       [F_ALWAYS] = {"always", 0, 0},
	[F_FAILURE] = {"failure", 0, 0},       [F_CANCELLED] = {"cancelled", 0, 0},
};
#define NFNS (sizeof(fns) / sizeof(fns[0]))

/* Context names, the lower-case spelling the env's callback gets, and the
 * mask bit that allows each. */
static const struct ctx_def {
	const char *name, *canon;
	unsigned bit;
} ctxs[] = {
	{"slipway", "slipway", PIPELINE_CTX_SLIPWAY}, {"github", "slipway", PIPELINE_CTX_SLIPWAY},
	{"env", "env", PIPELINE_CTX_ENV},             {"matrix", "matrix", PIPELINE_CTX_MATRIX},
	{"strategy", "strategy", PIPELINE_CTX_MATRIX}, {"needs", "needs", PIPELINE_CTX_NEEDS},
	{"steps", "steps", PIPELINE_CTX_STEPS},       {"job", "job", PIPELINE_CTX_STEPS},
	{"runner", "runner", PIPELINE_CTX_STEPS},     {"inputs", "inputs", PIPELINE_CTX_INPUTS},
	{"vars", "vars", PIPELINE_CTX_INPUTS},        {"secrets", "secrets", PIPELINE_CTX_SECRETS},
};
#define NCTXS (sizeof(ctxs) / sizeof(ctxs[0]))

struct node {
	enum node_kind kind;
	size_t pos;            /* byte offset in the text, for messages */
	json_t *lit;           /* N_LIT */
	char *name;            /* N_CTX (canonical), N_PROP */
	int op;                /* N_CMP: enum cmp_op; N_CALL: enum fn_id */
	struct node *a, *b;
	struct node **args;
	size_t nargs;
};

struct pipeline_expr {
	struct node *root;
	bool has_status;
};

/* ------------------------------------------------------------------ */
/* Parsing                                                             */

struct parser {
	const char *s;
	size_t len, i, depth;
	unsigned contexts;
	bool has_status;
	size_t at;             /* where the error is */
	struct sw_err *err;
};

static int perr(struct parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(struct parser *p, size_t at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->at = at;
	return sw_errf(p->err, -1, "%s", msg);
}

static void node_free(struct node *n)
{
	if (!n)
		return;
	json_decref(n->lit);
	free(n->name);
	node_free(n->a);
	node_free(n->b);
	for (size_t i = 0; i < n->nargs; i++)
		node_free(n->args[i]);
	free(n->args);
	free(n);
}

static struct node *node_new(enum node_kind k, size_t pos)
{
	struct node *n = xcalloc(1, sizeof(*n));
	n->kind = k;
	n->pos = pos;
	return n;
}

static void skip_ws(struct parser *p)
{
	while (p->i < p->len && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
				 p->s[p->i] == '\r'))
		p->i++;
}

static bool peek(struct parser *p, const char *tok)
{
	size_t n = strlen(tok);
	skip_ws(p);
	return p->i + n <= p->len && memcmp(p->s + p->i, tok, n) == 0;
}

static bool accept(struct parser *p, const char *tok)
{
	if (!peek(p, tok))
		return false;
	p->i += strlen(tok);
	return true;
}

static bool is_ident_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool is_ident(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* A short piece of the text near `at`, for "after ..." in messages. */
static const char *near(struct parser *p, size_t from, size_t to, char *out, size_t size)
{
	while (from < to && (p->s[from] == ' ' || p->s[from] == '\t' || p->s[from] == '\n'))
		from++;
	while (to > from && (p->s[to - 1] == ' ' || p->s[to - 1] == '\t' || p->s[to - 1] == '\n'))
		to--;
	size_t n = to > from ? to - from : 0;
	if (n > 40) {
		from = to - 40;
		n = 40;
	}
	snprintf(out, size, "%.*s", (int)n, p->s + from);
	return out;
}

static int parse_or(struct parser *p, struct node **out);

static int parse_string(struct parser *p, struct node **out)
{
	size_t start = p->i;
	struct buf b = BUF_INIT;
	p->i++;
	for (;;) {
		if (p->i >= p->len) {
			buf_release(&b);
			return perr(p, start, "unterminated string (strings end with ')");
		}
		if (p->s[p->i] == '\'') {
			if (p->i + 1 < p->len && p->s[p->i + 1] == '\'') {
				buf_addc(&b, '\'');
				p->i += 2;
				continue;
			}
			p->i++;
			break;
		}
		buf_addc(&b, p->s[p->i++]);
	}
	*out = node_new(N_LIT, start);
	(*out)->lit = json_stringn(buf_str(&b), b.len);
	buf_release(&b);
	if (!(*out)->lit) /* not UTF-8: the document's text is, so only a fuzzer's */
		(*out)->lit = json_string("");
	return 0;
}

static int parse_number(struct parser *p, struct node **out)
{
	size_t start = p->i;
	char text[64];
	size_t n = 0;
	while (p->i < p->len && (isalnum((unsigned char)p->s[p->i]) || p->s[p->i] == '.' ||
				 ((p->s[p->i] == '-' || p->s[p->i] == '+') && n > 0 &&
				  (text[n - 1] == 'e' || text[n - 1] == 'E')) ||
				 (p->s[p->i] == '-' && n == 0))) {
		if (n + 1 >= sizeof(text))
			return perr(p, start, "number too long");
		text[n++] = p->s[p->i++];
	}
	text[n] = '\0';
	char *end = NULL;
	double d;
	if (n > 2 && (strncmp(text, "0x", 2) == 0 || strncmp(text, "0X", 2) == 0))
		d = (double)strtoull(text + 2, &end, 16);
	else
		d = strtod(text, &end);
	if (!end || *end || n == 0 || strspn(text, "-") == n)
		return perr(p, start, "\"%s\" is not a number", text);
	*out = node_new(N_LIT, start);
	(*out)->lit = d == floor(d) && fabs(d) < 9e15 ? json_integer((json_int_t)d) : json_real(d);
	if (!(*out)->lit) /* jansson refuses NaN and infinities */
		(*out)->lit = json_null();
	return 0;
}

static int find_fn(const char *name)
{
	for (size_t i = 0; i < NFNS; i++)
		if (strcasecmp(name, fns[i].name) == 0)
			return (int)i;
	return -1;
}

static int parse_call(struct parser *p, const char *name, size_t start, struct node **out)
{
	int fn = find_fn(name);
	if (fn < 0) {
		const char *names[NFNS + 1];
		for (size_t i = 0; i < NFNS; i++)
			names[i] = fns[i].name;
		names[NFNS] = NULL;
		const char *s = spec_suggest(name, names);
		return s ? perr(p, start, "unknown function \"%s\" (did you mean \"%s\"?)", name, s)
			 : perr(p, start, "unknown function \"%s\"", name);
	}
	if (fn == F_SUCCESS || fn == F_ALWAYS || fn == F_FAILURE || fn == F_CANCELLED) {
		if (!(p->contexts & PIPELINE_CTX_STATUS))
			return perr(p, start, "%s() is for conditions (if:) only", fns[fn].name);
		p->has_status = true;
	}
	struct node *n = node_new(N_CALL, start);
	n->op = fn;
	*out = n;
	if (!accept(p, ")")) {
		for (;;) {
			struct node *arg = NULL;
			if (n->nargs == fns[fn].max)
				return perr(p, p->i, "%s takes at most %zu argument%s", fns[fn].name, fns[fn].max,
					    fns[fn].max == 1 ? "" : "s");
			int rc = parse_or(p, &arg);
			n->args = xrealloc(n->args, (n->nargs + 1) * sizeof(*n->args));
			n->args[n->nargs++] = arg; /* also a part made before an error: freed with n */
			if (rc < 0)
				return -1;
			if (accept(p, ")"))
				break;
			if (!accept(p, ",")) {
				char nb[48];
				return perr(p, p->i, "expected \",\" or \")\" after \"%s\"",
					    near(p, start, p->i, nb, sizeof(nb)));
			}
		}
	}
	if (n->nargs < fns[fn].min)
		return perr(p, start, "%s needs %s%zu argument%s, got %zu", fns[fn].name,
			    fns[fn].min == fns[fn].max ? "" : "at least ", fns[fn].min,
			    fns[fn].min == 1 ? "" : "s", n->nargs);
	return 0;
}

static int parse_primary(struct parser *p, struct node **out)
{
	char nb[48];
	skip_ws(p);
	size_t start = p->i;
	if (p->i >= p->len)
		return perr(p, p->i, p->i == 0 ? "empty expression" : "expected a value after \"%s\"",
			    near(p, 0, p->i, nb, sizeof(nb)));
	char c = p->s[p->i];
	if (c == '(') {
		p->i++;
		if (++p->depth > PIPELINE_EXPR_MAX_DEPTH)
			return perr(p, start, "nested deeper than %d", PIPELINE_EXPR_MAX_DEPTH);
		if (parse_or(p, out) < 0)
			return -1;
		p->depth--;
		if (!accept(p, ")"))
			return perr(p, p->i, "expected \")\" after \"%s\"", near(p, start, p->i, nb, sizeof(nb)));
		return 0;
	}
	if (c == '\'')
		return parse_string(p, out);
	if (c == '"')
		return perr(p, start, "strings are written in single quotes ('text'), as in GitHub Actions");
	if (isdigit((unsigned char)c) || (c == '-' && p->i + 1 < p->len && (isdigit((unsigned char)p->s[p->i + 1]) ||
									  p->s[p->i + 1] == '.')) ||
	    (c == '.' && p->i + 1 < p->len && isdigit((unsigned char)p->s[p->i + 1])))
		return parse_number(p, out);
	if (!is_ident_start(c))
		return perr(p, start, "unexpected \"%c\"", c);
	while (p->i < p->len && is_ident(p->s[p->i]))
		p->i++;
	char name[128];
	size_t nlen = p->i - start;
	if (nlen >= sizeof(name))
		return perr(p, start, "name too long");
	memcpy(name, p->s + start, nlen);
	name[nlen] = '\0';
	if (accept(p, "("))
		return parse_call(p, name, start, out);
	static const char *const lits[] = {"null", "true", "false"};
	for (size_t i = 0; i < 3; i++)
		if (strcmp(name, lits[i]) == 0) {
			*out = node_new(N_LIT, start);
			(*out)->lit = i == 0 ? json_null() : json_boolean(i == 1);
			return 0;
		}
	for (size_t i = 0; i < NCTXS; i++) {
		if (strcasecmp(name, ctxs[i].name) != 0)
			continue;
		if (!(p->contexts & ctxs[i].bit))
			return perr(p, start, "the context \"%s\" is not available here%s", ctxs[i].name,
				    ctxs[i].bit == PIPELINE_CTX_STEPS || ctxs[i].bit == PIPELINE_CTX_ENV ||
						    ctxs[i].bit == PIPELINE_CTX_SECRETS
					    ? " (a job's if: is decided before the job starts)"
					    : "");
		*out = node_new(N_CTX, start);
		(*out)->name = xstrdup(ctxs[i].canon);
		return 0;
	}
	const char *names[NCTXS + 1];
	for (size_t i = 0; i < NCTXS; i++)
		names[i] = ctxs[i].name;
	names[NCTXS] = NULL;
	const char *s = spec_suggest(name, names);
	if (s)
		return perr(p, start, "unknown name \"%s\" (did you mean \"%s\"?)", name, s);
	return perr(p, start, "unknown name \"%s\" (contexts: slipway, github, env, matrix, needs, "
		    "strategy, steps, job, runner, inputs, vars, secrets; strings are in single quotes)", name);
}

static int parse_postfix(struct parser *p, struct node **out)
{
	if (parse_primary(p, out) < 0)
		return -1;
	for (;;) {
		size_t at = p->i;
		if (accept(p, ".")) {
			skip_ws(p);
			size_t start = p->i;
			struct node *n;
			if (p->i < p->len && p->s[p->i] == '*') {
				p->i++;
				n = node_new(N_STAR, at);
			} else {
				while (p->i < p->len && is_ident(p->s[p->i]))
					p->i++;
				if (p->i == start)
					return perr(p, start, "expected a property name after \".\"");
				n = node_new(N_PROP, at);
				n->name = xstrndup(p->s + start, p->i - start);
			}
			n->a = *out;
			*out = n;
		} else if (accept(p, "[")) {
			struct node *n = node_new(N_INDEX, at);
			n->a = *out;
			*out = n;
			if (++p->depth > PIPELINE_EXPR_MAX_DEPTH)
				return perr(p, at, "nested deeper than %d", PIPELINE_EXPR_MAX_DEPTH);
			if (peek(p, "*")) {
				p->i++;
				n->kind = N_STAR;
			} else if (parse_or(p, &n->b) < 0) {
				return -1;
			}
			p->depth--;
			if (!accept(p, "]"))
				return perr(p, p->i, "expected \"]\"");
		} else {
			return 0;
		}
	}
}

static int parse_unary(struct parser *p, struct node **out)
{
	skip_ws(p);
	size_t at = p->i;
	if (p->i < p->len && p->s[p->i] == '!' && !(p->i + 1 < p->len && p->s[p->i + 1] == '=')) {
		p->i++;
		if (++p->depth > PIPELINE_EXPR_MAX_DEPTH)
			return perr(p, at, "nested deeper than %d", PIPELINE_EXPR_MAX_DEPTH);
		struct node *n = node_new(N_NOT, at);
		*out = n;
		int rc = parse_unary(p, &n->a);
		p->depth--;
		return rc;
	}
	return parse_postfix(p, out);
}

static int parse_cmp_level(struct parser *p, struct node **out, bool equality)
{
	static const struct {
		const char *tok;
		int op;
	} rel[] = {{"<=", OP_LE}, {">=", OP_GE}, {"<", OP_LT}, {">", OP_GT}, {NULL, 0}},
	  eq[] = {{"==", OP_EQ}, {"!=", OP_NE}, {NULL, 0}};
	int rc = equality ? parse_cmp_level(p, out, false) : parse_unary(p, out);
	size_t height = 0;
	while (rc == 0) {
		size_t at = (skip_ws(p), p->i);
		int op = -1;
		for (size_t i = 0; (equality ? eq : rel)[i].tok; i++)
			if (accept(p, (equality ? eq : rel)[i].tok)) {
				op = (equality ? eq : rel)[i].op;
				break;
			}
		if (op < 0)
			break;
		if (!equality && peek(p, "="))
			return perr(p, at, "unexpected \"=\"");
		if (++height > PIPELINE_EXPR_MAX_DEPTH)
			return perr(p, at, "more than %d operators in a row", PIPELINE_EXPR_MAX_DEPTH);
		struct node *n = node_new(N_CMP, at);
		n->op = op;
		n->a = *out;
		*out = n;
		rc = equality ? parse_cmp_level(p, &n->b, false) : parse_unary(p, &n->b);
	}
	return rc;
}

/* && over equality and || over &&: the same loop, one level apart. */
static int parse_logic(struct parser *p, struct node **out, bool or)
{
	const char *tok = or ? "||" : "&&";
	int rc = or ? parse_logic(p, out, false) : parse_cmp_level(p, out, true);
	size_t height = 0;
	while (rc == 0 && accept(p, tok)) {
		if (++height > PIPELINE_EXPR_MAX_DEPTH)
			return perr(p, p->i, "more than %d operators in a row", PIPELINE_EXPR_MAX_DEPTH);
		struct node *n = node_new(or ? N_OR : N_AND, p->i - 2);
		n->a = *out;
		*out = n;
		rc = or ? parse_logic(p, &n->b, false) : parse_cmp_level(p, &n->b, true);
	}
	return rc;
}

static int parse_or(struct parser *p, struct node **out)
{
	return parse_logic(p, out, true);
}

int pipeline_expr_compile(struct pipeline_expr **out, const char *text, size_t len, unsigned contexts,
			  size_t *at, struct sw_err *err)
{
	struct parser p = {.s = text, .len = len, .contexts = contexts, .err = err};
	struct node *root = NULL;
	char nb[48];
	*out = NULL;
	*at = 0;
	if (len > PIPELINE_EXPR_MAX_LEN)
		return sw_errf(err, -1, "expression longer than %d bytes", PIPELINE_EXPR_MAX_LEN);
	if (memchr(text, '\0', len)) {
		*at = (size_t)((const char *)memchr(text, '\0', len) - text);
		return sw_errf(err, -1, "a NUL byte in the expression");
	}
	if (parse_or(&p, &root) == 0) {
		skip_ws(&p);
		if (p.i < p.len) {
			if (p.s[p.i] == '=' )
				perr(&p, p.i, "unexpected \"=\" (compare with ==)");
			else if (p.s[p.i] == '&' || p.s[p.i] == '|')
				perr(&p, p.i, "unexpected \"%c\" (write %c%c)", p.s[p.i], p.s[p.i], p.s[p.i]);
			else
				perr(&p, p.i, "unexpected \"%s\" after the expression",
				     near(&p, p.i, p.len < p.i + 20 ? p.len : p.i + 20, nb, sizeof(nb)));
		} else {
			struct pipeline_expr *e = xcalloc(1, sizeof(*e));
			e->root = root;
			e->has_status = p.has_status;
			*out = e;
			return 0;
		}
	}
	node_free(root);
	*at = p.at;
	return -1;
}

void pipeline_expr_free(struct pipeline_expr *e)
{
	if (!e)
		return;
	node_free(e->root);
	free(e);
}

bool pipeline_expr_has_status(const struct pipeline_expr *e)
{
	return e->has_status;
}

/* ------------------------------------------------------------------ */
/* Values                                                              */

bool pipeline_value_truthy(const json_t *v)
{
	if (!v || json_is_null(v) || json_is_false(v))
		return false;
	if (json_is_true(v))
		return true;
	if (json_is_number(v)) {
		double d = json_number_value(v);
		return d != 0 && !isnan(d);
	}
	if (json_is_string(v))
		return json_string_length(v) > 0;
	return true;
}

static void number_text(struct buf *out, double d)
{
	if (isnan(d))
		buf_adds(out, "NaN");
	else if (isinf(d))
		buf_adds(out, d > 0 ? "Infinity" : "-Infinity");
	else if (d == floor(d) && fabs(d) < 1e15)
		buf_addf(out, "%lld", (long long)d);
	else
		buf_addf(out, "%.15g", d);
}

void pipeline_value_text(struct buf *out, const json_t *v)
{
	if (!v || json_is_null(v))
		return;
	if (json_is_boolean(v))
		buf_adds(out, json_is_true(v) ? "true" : "false");
	else if (json_is_number(v))
		number_text(out, json_number_value(v));
	else if (json_is_string(v))
		buf_add(out, json_string_value(v), json_string_length(v));
	else
		buf_adds(out, json_is_array(v) ? "Array" : "Object");
}

/* GitHub's number of a value (NaN where there is none). */
static double to_number(const json_t *v)
{
	if (!v || json_is_null(v))
		return 0;
	if (json_is_boolean(v))
		return json_is_true(v) ? 1 : 0;
	if (json_is_number(v))
		return json_number_value(v);
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			return 0;
		char *end = NULL;
		double d;
		if ((s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) && s[2])
			d = (double)strtoull(s + 2, &end, 16);
		else
			d = strtod(s, &end);
		while (end && isspace((unsigned char)*end))
			end++;
		/* strtod reads "inf" and "nan"; JSON does not */
		if (!end || *end || strpbrk(s, "iInN"))
			return NAN;
		return d;
	}
	return NAN;
}

enum vkind { V_NULL, V_BOOL, V_NUM, V_STR, V_ARR, V_OBJ };

static enum vkind kind_of(const json_t *v)
{
	if (!v || json_is_null(v))
		return V_NULL;
	if (json_is_boolean(v))
		return V_BOOL;
	if (json_is_number(v))
		return V_NUM;
	if (json_is_string(v))
		return V_STR;
	return json_is_array(v) ? V_ARR : V_OBJ;
}

/* -1, 0, 1, or 2 when the two are not ordered (NaN, distinct objects). */
static int compare(const json_t *a, const json_t *b)
{
	enum vkind ka = kind_of(a), kb = kind_of(b);
	if (ka == kb) {
		switch (ka) {
		case V_NULL:
			return 0;
		case V_BOOL:
			return (int)json_is_true(a) - (int)json_is_true(b);
		case V_STR: {
			int c = strcasecmp(json_string_value(a), json_string_value(b));
			return c < 0 ? -1 : c > 0;
		}
		case V_ARR:
		case V_OBJ:
			return a == b ? 0 : 2;
		case V_NUM:
			break;
		}
	}
	double x = to_number(a), y = to_number(b);
	if (isnan(x) || isnan(y))
		return 2;
	return x < y ? -1 : x > y;
}

/* The property `name` of an object: exact first, else ignoring case. */
static json_t *prop(const json_t *obj, const char *name)
{
	if (!json_is_object(obj))
		return NULL;
	json_t *v = json_object_get(obj, name);
	if (v)
		return v;
	const char *k;
	json_object_foreach((json_t *)obj, k, v)
		if (strcasecmp(k, name) == 0)
			return v;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Evaluation                                                          */

struct ev {
	const struct pipeline_expr_env *env;
	struct sw_err *err;
};

/* A result: a new reference (or NULL for null), and whether it is the
 * array a filter (a.*) made. */
struct val {
	json_t *v;
	bool filter;
};

static int eval(struct ev *e, const struct node *n, struct val *out);

static json_t *vtext(const json_t *v)
{
	struct buf b = BUF_INIT;
	pipeline_value_text(&b, v);
	json_t *s = json_stringn(buf_str(&b), b.len);
	buf_release(&b);
	return s ? s : json_string("");
}

/* The buffer's text as a new string value. */
static json_t *buf_string(struct buf *b)
{
	json_t *s = json_stringn(buf_str(b), b->len);
	return s ? s : json_string("");
}

static bool text_has(const char *hay, const char *needle, int where)
{
	size_t h = strlen(hay), n = strlen(needle);
	if (n > h)
		return false;
	if (where == F_STARTS_WITH)
		return strncasecmp(hay, needle, n) == 0;
	if (where == F_ENDS_WITH)
		return strncasecmp(hay + h - n, needle, n) == 0;
	for (size_t i = 0; i + n <= h; i++)
		if (strncasecmp(hay + i, needle, n) == 0)
			return true;
	return false;
}

static int fn_format(struct ev *e, const struct node *n, json_t **args, json_t **out)
{
	const char *f = json_string_value(args[0]);
	struct buf b = BUF_INIT;
	b.cap = PIPELINE_EXPR_MAX_VALUE;
	int rc = 0;
	for (const char *p = f; *p && rc == 0; p++) {
		if (p[0] == '{' && p[1] == '{') {
			buf_addc(&b, '{');
			p++;
		} else if (p[0] == '}' && p[1] == '}') {
			buf_addc(&b, '}');
			p++;
		} else if (p[0] == '{') {
			char *end = NULL;
			unsigned long i = strtoul(p + 1, &end, 10);
			if (!isdigit((unsigned char)p[1]) || *end != '}')
				rc = sw_errf(e->err, -1, "format: \"{\" must start {N} or be doubled ({{), in '%s'", f);
			else if (i >= n->nargs - 1)
				rc = sw_errf(e->err, -1, "format: {%lu} names no argument (it has %zu)", i,
					     n->nargs - 1);
			else
				pipeline_value_text(&b, args[i + 1]);
			if (rc < 0)
				break;
			p = end; /* its '}' */
		} else if (p[0] == '}') {
			rc = sw_errf(e->err, -1, "format: a lone \"}\" must be doubled (}}), in '%s'", f);
		} else {
			buf_addc(&b, *p);
		}
	}
	if (rc == 0 && b.toobig)
		rc = sw_errf(e->err, -1, "format: the result is longer than %d bytes", PIPELINE_EXPR_MAX_VALUE);
	if (rc == 0)
		*out = buf_string(&b);
	buf_release(&b);
	return rc;
}

static int call(struct ev *e, const struct node *n, json_t **out)
{
	json_t *args[64] = {0};
	int rc = 0;
	*out = NULL;
	for (size_t i = 0; i < n->nargs && rc == 0; i++) {
		struct val v = {0};
		rc = eval(e, n->args[i], &v);
		args[i] = v.v;
	}
	if (rc < 0)
		goto out;
	switch ((enum fn_id)n->op) {
	case F_SUCCESS:
		*out = json_boolean(e->env->success && !e->env->cancelled);
		break;
	case F_ALWAYS:
		*out = json_true();
		break;
	case F_FAILURE:
		*out = json_boolean(e->env->failure);
		break;
	case F_CANCELLED:
		*out = json_boolean(e->env->cancelled);
		break;
	case F_CONTAINS:
		if (json_is_array(args[0])) {
			bool found = false;
			size_t i;
			json_t *x;
			json_array_foreach(args[0], i, x)
				found = found || compare(x, args[1]) == 0;
			*out = json_boolean(found);
			break;
		}
		__attribute__((fallthrough)); /* a string: contains as text */
	case F_STARTS_WITH:
	case F_ENDS_WITH: {
		json_t *a = vtext(args[0]), *b = vtext(args[1]);
		*out = json_boolean(text_has(json_string_value(a), json_string_value(b), n->op));
		json_decref(a);
		json_decref(b);
		break;
	}
	case F_FORMAT: {
		json_t *f = vtext(args[0]);
		json_decref(args[0]);
		args[0] = f;
		rc = fn_format(e, n, args, out);
		break;
	}
	case F_JOIN: {
		const char *sep = ",";
		json_t *s = n->nargs > 1 ? vtext(args[1]) : NULL;
		if (s)
			sep = json_string_value(s);
		if (!json_is_array(args[0])) {
			*out = vtext(args[0]);
		} else {
			struct buf b = BUF_INIT;
			size_t i;
			json_t *x;
			b.cap = PIPELINE_EXPR_MAX_VALUE;
			json_array_foreach(args[0], i, x) {
				if (i)
					buf_adds(&b, sep);
				pipeline_value_text(&b, x);
			}
			if (b.toobig)
				rc = sw_errf(e->err, -1, "join: the result is longer than %d bytes",
					     PIPELINE_EXPR_MAX_VALUE);
			else
				*out = buf_string(&b);
			buf_release(&b);
		}
		json_decref(s);
		break;
	}
	case F_TO_JSON: {
		char *s = json_dumps(args[0] ? args[0] : json_null(), JSON_INDENT(2) | JSON_ENCODE_ANY);
		if (!s || strlen(s) > PIPELINE_EXPR_MAX_VALUE)
			rc = sw_errf(e->err, -1, "toJSON: the result is longer than %d bytes",
				     PIPELINE_EXPR_MAX_VALUE);
		else
			*out = json_string(s);
		free(s);
		break;
	}
	case F_FROM_JSON: {
		json_t *t = vtext(args[0]);
		json_error_t je;
		*out = json_loads(json_string_value(t), JSON_DECODE_ANY, &je);
		if (!*out)
			rc = sw_errf(e->err, -1, "fromJSON: '%.60s' is not JSON (%s)", json_string_value(t),
				     je.text);
		json_decref(t);
		if (json_is_null(*out)) {
			json_decref(*out);
			*out = NULL;
		}
		break;
	}
	case F_HASH_FILES: {
		const char *pats[64];
		json_t *texts[64] = {0};
		for (size_t i = 0; i < n->nargs; i++) {
			texts[i] = vtext(args[i]);
			pats[i] = json_string_value(texts[i]);
		}
		if (!e->env->hash_files)
			rc = sw_errf(e->err, -1, "hashFiles is evaluated when the job runs");
		else
			rc = e->env->hash_files(out, pats, n->nargs, e->env->data, e->err);
		for (size_t i = 0; i < n->nargs; i++)
			json_decref(texts[i]);
		break;
	}
	}
out:
	for (size_t i = 0; i < n->nargs; i++)
		json_decref(args[i]);
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* obj.name, mapped over a filter's elements. */
static struct val property(struct val base, const char *name)
{
	struct val r = {0};
	if (base.filter) {
		json_t *a = json_array();
		size_t i;
		json_t *x;
		json_array_foreach(base.v, i, x) {
			json_t *p = prop(x, name);
			if (p)
				json_array_append(a, p);
		}
		r.v = a;
		r.filter = true;
	} else {
		r.v = json_incref(prop(base.v, name));
	}
	return r;
}

static int eval(struct ev *e, const struct node *n, struct val *out)
{
	struct val a = {0}, b = {0};
	int rc = 0;
	*out = (struct val){0};
	switch (n->kind) {
	case N_LIT:
		out->v = json_is_null(n->lit) ? NULL : json_incref(n->lit);
		return 0;
	case N_CTX:
		out->v = e->env->context ? json_incref(e->env->context(n->name, e->env->data)) : NULL;
		return 0;
	case N_PROP:
		if ((rc = eval(e, n->a, &a)) == 0)
			*out = property(a, n->name);
		break;
	case N_STAR:
		if ((rc = eval(e, n->a, &a)) < 0)
			break;
		out->filter = true;
		out->v = json_array();
		if (json_is_array(a.v) && !a.filter) {
			json_array_extend(out->v, a.v);
		} else if (json_is_object(a.v)) {
			const char *k;
			json_t *x;
			json_object_foreach(a.v, k, x)
				json_array_append(out->v, x);
		} else if (a.filter) {
			size_t i;
			json_t *x;
			json_array_foreach(a.v, i, x) {
				if (json_is_array(x))
					json_array_extend(out->v, x);
				else if (json_is_object(x)) {
					const char *k;
					json_t *y;
					json_object_foreach(x, k, y)
						json_array_append(out->v, y);
				}
			}
		}
		break;
	case N_INDEX:
		if ((rc = eval(e, n->a, &a)) < 0 || (rc = eval(e, n->b, &b)) < 0)
			break;
		if (json_is_array(a.v) && !a.filter && kind_of(b.v) != V_STR) {
			double d = to_number(b.v);
			if (!isnan(d) && d >= 0 && d == floor(d) && d < (double)json_array_size(a.v))
				out->v = json_incref(json_array_get(a.v, (size_t)d));
		} else if (json_is_array(a.v) && !a.filter) {
			out->v = NULL;
		} else {
			json_t *key = vtext(b.v);
			*out = property(a, json_string_value(key));
			json_decref(key);
		}
		break;
	case N_NOT:
		if ((rc = eval(e, n->a, &a)) == 0)
			out->v = json_boolean(!pipeline_value_truthy(a.v));
		break;
	case N_CMP: {
		if ((rc = eval(e, n->a, &a)) < 0 || (rc = eval(e, n->b, &b)) < 0)
			break;
		int c = compare(a.v, b.v);
		bool r = false;
		switch ((enum cmp_op)n->op) {
		case OP_EQ: r = c == 0; break;
		case OP_NE: r = c != 0; break;
		case OP_LT: r = c == -1; break;
		case OP_LE: r = c == -1 || c == 0; break;
		case OP_GT: r = c == 1; break;
		case OP_GE: r = c == 1 || c == 0; break;
		}
		out->v = json_boolean(r);
		break;
	}
	case N_AND:
	case N_OR:
		if ((rc = eval(e, n->a, &a)) < 0)
			break;
		if (pipeline_value_truthy(a.v) == (n->kind == N_OR)) {
			*out = a;
			return 0;
		}
		rc = eval(e, n->b, out);
		break;
	case N_CALL:
		rc = call(e, n, &out->v);
		break;
	}
	json_decref(a.v);
	json_decref(b.v);
	if (rc < 0) {
		json_decref(out->v);
		*out = (struct val){0};
	}
	return rc;
}

int pipeline_expr_eval(json_t **out, const struct pipeline_expr *e, const struct pipeline_expr_env *env,
		       struct sw_err *err)
{
	struct ev ev = {env, err};
	struct val v = {0};
	*out = NULL;
	if (eval(&ev, e->root, &v) < 0)
		return -1;
	*out = v.v ? v.v : json_null();
	return 0;
}

int pipeline_expr_eval_cond(bool *out, const struct pipeline_expr *e, const struct pipeline_expr_env *env,
			    struct sw_err *err)
{
	json_t *v = NULL;
	*out = false;
	if (!e->has_status && (!env->success || env->cancelled))
		return 0; /* the implicit success() && */
	if (pipeline_expr_eval(&v, e, env, err) < 0)
		return -1;
	*out = pipeline_value_truthy(v);
	json_decref(v);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Conditions and templates                                            */

/* The end of the `${{` part starting at text[i] (the offset after its
 * `}}`), or 0 when it is not closed; quotes are skipped over. */
static size_t part_end(const char *text, size_t i)
{
	bool quoted = false;
	for (size_t j = i + 3; text[j]; j++) {
		if (text[j] == '\'')
			quoted = !quoted;
		else if (!quoted && text[j] == '}' && text[j + 1] == '}')
			return j + 2;
	}
	return 0;
}

int pipeline_cond_compile(struct pipeline_expr **out, const char *text, unsigned contexts, size_t *at,
			  struct sw_err *err)
{
	size_t len = strlen(text), b = 0, e = len;
	while (b < e && isspace((unsigned char)text[b]))
		b++;
	while (e > b && isspace((unsigned char)text[e - 1]))
		e--;
	const char *open = strstr(text, "${{");
	*out = NULL;
	if (open) {
		size_t o = (size_t)(open - text), end = part_end(text, o);
		if (!end) {
			*at = o;
			return sw_errf(err, -1, "\"${{\" is not closed with \"}}\"");
		}
		if (o != b || end != e) {
			*at = o;
			return sw_errf(err, -1, "write the whole condition inside one ${{ }}, or none (text "
					   "around it makes a string, which is always true)");
		}
		int rc = pipeline_expr_compile(out, text + o + 3, end - 2 - o - 3, contexts, at, err);
		*at += o + 3;
		return rc;
	}
	int rc = pipeline_expr_compile(out, text, len, contexts, at, err);
	return rc;
}

int pipeline_template_check(const char *text, unsigned contexts, size_t *at, struct sw_err *err)
{
	for (const char *p = strstr(text, "${{"); p; p = strstr(p, "${{")) {
		size_t o = (size_t)(p - text), end = part_end(text, o);
		struct pipeline_expr *e = NULL;
		if (!end) {
			*at = o;
			return sw_errf(err, -1, "\"${{\" is not closed with \"}}\"");
		}
		if (pipeline_expr_compile(&e, p + 3, end - o - 5, contexts, at, err) < 0) {
			*at += o + 3;
			return -1;
		}
		pipeline_expr_free(e);
		p = text + end;
	}
	return 0;
}

int pipeline_template_eval(struct buf *out, const char *text, const struct pipeline_expr_env *env,
			   struct sw_err *err)
{
	const char *from = text;
	for (const char *p = strstr(text, "${{"); p; p = strstr(from, "${{")) {
		size_t o = (size_t)(p - text), end = part_end(text, o), at;
		struct pipeline_expr *e = NULL;
		json_t *v = NULL;
		if (!end)
			return sw_errf(err, -1, "\"${{\" is not closed with \"}}\"");
		buf_add(out, from, (size_t)(p - from));
		if (pipeline_expr_compile(&e, p + 3, end - o - 5, ~0u, &at, err) < 0)
			return -1;
		int rc = pipeline_expr_eval(&v, e, env, err);
		pipeline_expr_free(e);
		if (rc < 0)
			return -1;
		pipeline_value_text(out, v);
		json_decref(v);
		from = text + end;
	}
	buf_adds(out, from);
	return 0;
}
