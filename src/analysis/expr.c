/*
 * The expression language: a recursive-descent parser building a flat
 * array of nodes, and a tree-walking evaluator over it. Both recurse at
 * most EXPR_MAX_DEPTH (parser) or EXPR_MAX_HEIGHT (evaluator) frames, which
 * the compiler guarantees, so no input can exhaust the stack.
 */
#include "expr.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tok { T_END, T_NUM, T_STR, T_IDENT, T_LP, T_RP, T_LB, T_RB, T_COMMA, T_OP };

enum op {
	OP_OR, OP_AND, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
	OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_NOT, OP_NEG,
};

static const char *const op_names[] = {
	"||", "&&", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "!", "-",
};

/* Binding strength of the binary operators: loosest first. */
static int op_level(int op)
{
	switch (op) {
	case OP_OR: return 0;
	case OP_AND: return 1;
	case OP_EQ: case OP_NE: return 2;
	case OP_LT: case OP_LE: case OP_GT: case OP_GE: return 3;
	case OP_ADD: case OP_SUB: return 4;
	case OP_MUL: case OP_DIV: case OP_MOD: return 5;
	default: return -1;
	}
}
#define LEVELS 6

enum nkind { N_NUM, N_BOOL, N_NULL, N_STR, N_RESULT, N_INDEX, N_UNARY, N_BINARY, N_CALL };

enum fn { F_ISNAN, F_LEN, F_ABS, F_MIN, F_MAX, F_DEFAULT };

static const struct {
	const char *name;
	int nargs;
} fns[] = {
	[F_ISNAN] = {"isNaN", 1}, [F_LEN] = {"len", 1}, [F_ABS] = {"abs", 1},
	[F_MIN] = {"min", 2},     [F_MAX] = {"max", 2}, [F_DEFAULT] = {"default", 2},
};
#define NFNS (sizeof(fns) / sizeof(fns[0]))

struct node {
	uint8_t kind;
	uint8_t op;        /* N_UNARY/N_BINARY: enum op; N_CALL: enum fn */
	uint16_t height;   /* 1 for a leaf */
	uint32_t pos;      /* byte offset of the node's operator or literal */
	int32_t a, b;      /* children, -1 when absent */
	double num;        /* N_NUM */
	uint32_t soff;     /* N_STR: offset and length in expr.strings */
	uint32_t slen;
	bool bval;         /* N_BOOL */
};

struct expr {
	char *text;
	size_t len;
	struct node *nodes;
	size_t n, alloc;
	struct buf strings; /* decoded string literals, back to back */
	int32_t root;
};

/* ------------------------------------------------------------------ */
/* Messages                                                           */

static void position(const char *s, size_t pos, unsigned *line, unsigned *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < pos; i++) {
		if (s[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* Appends s[0..n) for a message: quotes and backslashes escaped, control
 * and non-ASCII bytes as \xNN, so any input gives a readable line. */
static void add_quoted(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			buf_addf(b, "\\%c", ch);
		else if (ch == '\n' || ch == '\t' || ch == '\r')
			buf_addc(b, ' ');
		else if (ch < 0x20 || ch >= 0x7f)
			buf_addf(b, "\\x%02x", ch);
		else
			buf_addc(b, (char)ch);
	}
}

/* ------------------------------------------------------------------ */
/* Lexer and parser                                                   */

struct parser {
	struct expr *e;
	const char *s;
	size_t len;
	size_t pos;       /* next byte to lex */
	/* current token */
	enum tok tok;
	size_t tpos, tend;
	int op;
	double num;
	uint32_t soff, slen;
	struct sw_err *err;
};

static int perr(struct parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(struct parser *p, size_t pos, const char *fmt, ...)
{
	unsigned line, col;
	position(p->s, pos, &line, &col);
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	sw_errf(p->err, -1, "%u:%u: %s", line, col, b.s);
	buf_release(&b);
	return -1;
}

/* `"<text before pos>"`, the tail only when it is long. */
static void add_before(struct buf *b, struct parser *p, size_t pos)
{
	size_t end = pos;
	while (end > 0 && (p->s[end - 1] == ' ' || p->s[end - 1] == '\t' || p->s[end - 1] == '\n' ||
			   p->s[end - 1] == '\r'))
		end--;
	size_t start = end > 40 ? end - 40 : 0;
	buf_addc(b, '"');
	if (start > 0)
		buf_adds(b, "...");
	add_quoted(b, p->s + start, end - start);
	buf_addc(b, '"');
}

/* How the current token reads in a message: `")"` or `end of text`. */
static void add_token(struct buf *b, struct parser *p)
{
	if (p->tok == T_END) {
		buf_adds(b, "end of text");
		return;
	}
	size_t n = p->tend - p->tpos;
	buf_addc(b, '"');
	add_quoted(b, p->s + p->tpos, n > 24 ? 24 : n);
	if (n > 24)
		buf_adds(b, "...");
	buf_addc(b, '"');
}

/* "expected X after "text"[, got "tok"]" at the current token. */
static int perr_expected(struct parser *p, const char *what)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "expected %s", what);
	if (p->tpos > 0) {
		buf_adds(&b, " after ");
		add_before(&b, p, p->tpos);
	}
	if (p->tok != T_END) {
		buf_adds(&b, ", got ");
		add_token(&b, p);
	}
	int rc = perr(p, p->tpos, "%s", b.s);
	buf_release(&b);
	return rc;
}

static bool is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int lex_number(struct parser *p)
{
	const char *s = p->s;
	size_t i = p->pos;
	while (i < p->len && is_digit(s[i]))
		i++;
	if (i < p->len && s[i] == '.') {
		i++;
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
		size_t j = i + 1;
		if (j < p->len && (s[j] == '+' || s[j] == '-'))
			j++;
		if (j >= p->len || !is_digit(s[j])) {
			p->tend = j < p->len ? j + 1 : j;
			return perr(p, p->tpos, "bad number \"%.*s\"", (int)(j - p->tpos), s + p->tpos);
		}
		while (j < p->len && is_digit(s[j]))
			j++;
		i = j;
	}
	if (i < p->len && (is_ident_start(s[i]) || is_digit(s[i]) || s[i] == '.')) {
		size_t j = i;
		while (j < p->len && (is_ident_start(s[j]) || is_digit(s[j]) || s[j] == '.'))
			j++;
		struct buf b = BUF_INIT;
		add_quoted(&b, s + p->tpos, j - p->tpos > 32 ? 32 : j - p->tpos);
		int rc = perr(p, p->tpos, "bad number \"%s\"", b.s);
		buf_release(&b);
		return rc;
	}
	size_t n = i - p->tpos;
	if (n > 64)
		return perr(p, p->tpos, "number is longer than 64 characters");
	char tmp[65];
	memcpy(tmp, s + p->tpos, n);
	tmp[n] = '\0';
	double v = strtod(tmp, NULL);
	if (isinf(v))
		return perr(p, p->tpos, "number \"%s\" is out of range", tmp);
	p->tok = T_NUM;
	p->num = v;
	p->pos = i;
	p->tend = i;
	return 0;
}

static int lex_string(struct parser *p)
{
	char q = p->s[p->pos];
	size_t i = p->pos + 1;
	struct buf *sb = &p->e->strings;
	p->soff = (uint32_t)sb->len;
	for (;;) {
		if (i >= p->len)
			return perr(p, p->tpos, "unterminated string");
		char c = p->s[i];
		if (c == q)
			break;
		if (c == '\\') {
			if (i + 1 >= p->len)
				return perr(p, p->tpos, "unterminated string");
			char d = p->s[i + 1];
			switch (d) {
			case '\\': case '"': case '\'': buf_addc(sb, d); break;
			case 'n': buf_addc(sb, '\n'); break;
			case 't': buf_addc(sb, '\t'); break;
			default: {
				struct buf b = BUF_INIT;
				add_quoted(&b, p->s + i, 2);
				int rc = perr(p, i, "unknown escape \"%s\" in string", b.s);
				buf_release(&b);
				return rc;
			}
			}
			i += 2;
			continue;
		}
		buf_addc(sb, c);
		i++;
	}
	p->slen = (uint32_t)(sb->len - p->soff);
	p->tok = T_STR;
	p->pos = i + 1;
	p->tend = p->pos;
	return 0;
}

static int next(struct parser *p)
{
	const char *s = p->s;
	while (p->pos < p->len && (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r'))
		p->pos++;
	p->tpos = p->pos;
	p->tend = p->pos;
	if (p->pos >= p->len) {
		p->tok = T_END;
		return 0;
	}
	char c = s[p->pos];
	char d = p->pos + 1 < p->len ? s[p->pos + 1] : '\0';
	if (is_digit(c) || (c == '.' && is_digit(d)))
		return lex_number(p);
	if (c == '"' || c == '\'')
		return lex_string(p);
	if (is_ident_start(c)) {
		size_t i = p->pos;
		while (i < p->len && (is_ident_start(s[i]) || is_digit(s[i])))
			i++;
		p->tok = T_IDENT;
		p->pos = p->tend = i;
		return 0;
	}
	int op = -1;
	size_t n = 1;
	enum tok t = T_OP;
	switch (c) {
	case '(': t = T_LP; break;
	case ')': t = T_RP; break;
	case '[': t = T_LB; break;
	case ']': t = T_RB; break;
	case ',': t = T_COMMA; break;
	case '+': op = OP_ADD; break;
	case '-': op = OP_SUB; break;
	case '*': op = OP_MUL; break;
	case '/': op = OP_DIV; break;
	case '%': op = OP_MOD; break;
	case '<': op = d == '=' ? OP_LE : OP_LT; n = d == '=' ? 2 : 1; break;
	case '>': op = d == '=' ? OP_GE : OP_GT; n = d == '=' ? 2 : 1; break;
	case '!': op = d == '=' ? OP_NE : OP_NOT; n = d == '=' ? 2 : 1; break;
	case '=':
		if (d != '=')
			return perr(p, p->pos, "unexpected \"=\" (did you mean \"==\"?)");
		op = OP_EQ;
		n = 2;
		break;
	case '&':
		if (d != '&')
			return perr(p, p->pos, "unexpected \"&\" (did you mean \"&&\"?)");
		op = OP_AND;
		n = 2;
		break;
	case '|':
		if (d != '|')
			return perr(p, p->pos, "unexpected \"|\" (did you mean \"||\"?)");
		op = OP_OR;
		n = 2;
		break;
	default: {
		struct buf b = BUF_INIT;
		add_quoted(&b, s + p->pos, 1);
		int rc = perr(p, p->pos, "unexpected character \"%s\"", b.s);
		buf_release(&b);
		return rc;
	}
	}
	p->tok = t;
	p->op = op;
	p->pos += n;
	p->tend = p->pos;
	return 0;
}

static bool tok_is(struct parser *p, const char *word)
{
	size_t n = strlen(word);
	return p->tok == T_IDENT && p->tend - p->tpos == n && memcmp(p->s + p->tpos, word, n) == 0;
}

/* Adds a node; returns its index, or -1 when it would stand higher than
 * EXPR_MAX_HEIGHT operators. */
static int32_t add_node(struct parser *p, const struct node *nd)
{
	struct expr *e = p->e;
	struct node n = *nd;
	uint16_t h = 0;
	if (n.a >= 0 && e->nodes[n.a].height > h)
		h = e->nodes[n.a].height;
	if (n.b >= 0 && e->nodes[n.b].height > h)
		h = e->nodes[n.b].height;
	n.height = (uint16_t)(h + 1);
	if (n.height > EXPR_MAX_HEIGHT) {
		perr(p, n.pos, "expression is too complex (more than %d operations one above the other)",
		     EXPR_MAX_HEIGHT);
		return -1;
	}
	if (e->n == e->alloc) {
		e->alloc = e->alloc ? e->alloc * 2 : 16;
		e->nodes = xrealloc(e->nodes, e->alloc * sizeof(*e->nodes));
	}
	e->nodes[e->n] = n;
	return (int32_t)e->n++;
}

static int32_t parse_expr(struct parser *p, int depth);

static int32_t too_deep(struct parser *p)
{
	perr(p, p->tpos, "expression nests deeper than %d levels", EXPR_MAX_DEPTH);
	return -1;
}

static int32_t parse_call(struct parser *p, size_t name_pos, size_t name_len, int depth)
{
	const char *name = p->s + name_pos;
	int fn = -1;
	for (size_t i = 0; i < NFNS; i++)
		if (strlen(fns[i].name) == name_len && memcmp(fns[i].name, name, name_len) == 0)
			fn = (int)i;
	if (fn < 0) {
		char tmp[64];
		size_t n = name_len < sizeof(tmp) - 1 ? name_len : sizeof(tmp) - 1;
		memcpy(tmp, name, n);
		tmp[n] = '\0';
		const char *best = NULL;
		size_t bestd = 3;
		for (size_t i = 0; i < NFNS; i++) {
			size_t d = sw_edit_distance(tmp, fns[i].name);
			if (d < bestd) {
				bestd = d;
				best = fns[i].name;
			}
		}
		if (best)
			perr(p, name_pos, "unknown function \"%s\" (did you mean \"%s\"?)", tmp, best);
		else
			perr(p, name_pos, "unknown function \"%s\"", tmp);
		return -1;
	}
	if (depth + 1 > EXPR_MAX_DEPTH)
		return too_deep(p);
	if (next(p) < 0) /* past "(" */
		return -1;
	int32_t args[2] = {-1, -1};
	int nargs = 0;
	if (p->tok != T_RP) {
		for (;;) {
			int32_t a = parse_expr(p, depth + 1);
			if (a < 0)
				return -1;
			if (nargs < 2)
				args[nargs] = a;
			nargs++;
			if (p->tok == T_COMMA) {
				if (next(p) < 0)
					return -1;
				continue;
			}
			if (p->tok != T_RP)
				return perr_expected(p, "\",\" or \")\""), -1;
			break;
		}
	}
	if (nargs != fns[fn].nargs) {
		perr(p, name_pos, "%s takes %d argument%s, got %d", fns[fn].name, fns[fn].nargs,
		     fns[fn].nargs == 1 ? "" : "s", nargs);
		return -1;
	}
	if (next(p) < 0) /* past ")" */
		return -1;
	struct node nd = {.kind = N_CALL, .op = (uint8_t)fn, .pos = (uint32_t)name_pos, .a = args[0], .b = args[1]};
	return add_node(p, &nd);
}

static int32_t parse_primary(struct parser *p, int depth)
{
	struct node nd = {.pos = (uint32_t)p->tpos, .a = -1, .b = -1};
	switch (p->tok) {
	case T_NUM:
		nd.kind = N_NUM;
		nd.num = p->num;
		break;
	case T_STR:
		nd.kind = N_STR;
		nd.soff = p->soff;
		nd.slen = p->slen;
		break;
	case T_LP: {
		if (depth + 1 > EXPR_MAX_DEPTH)
			return too_deep(p);
		if (next(p) < 0)
			return -1;
		int32_t in = parse_expr(p, depth + 1);
		if (in < 0)
			return -1;
		if (p->tok != T_RP)
			return perr_expected(p, "\")\""), -1;
		if (next(p) < 0)
			return -1;
		return in;
	}
	case T_IDENT: {
		size_t npos = p->tpos, nlen = p->tend - p->tpos;
		if (tok_is(p, "result")) {
			nd.kind = N_RESULT;
		} else if (tok_is(p, "true") || tok_is(p, "false")) {
			nd.kind = N_BOOL;
			nd.bval = tok_is(p, "true");
		} else if (tok_is(p, "null")) {
			nd.kind = N_NULL;
		} else {
			if (next(p) < 0)
				return -1;
			if (p->tok == T_LP)
				return parse_call(p, npos, nlen, depth);
			char tmp[64];
			size_t n = nlen < sizeof(tmp) - 1 ? nlen : sizeof(tmp) - 1;
			memcpy(tmp, p->s + npos, n);
			tmp[n] = '\0';
			static const struct {
				const char *word, *hint;
			} hints[] = {{"and", "&&"}, {"or", "||"}, {"not", "!"}, {"nil", "null"},
				     {"True", "true"}, {"False", "false"}};
			for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
				if (strcmp(tmp, hints[i].word) == 0)
					return perr(p, npos, "unknown name \"%s\" (write \"%s\")", tmp, hints[i].hint), -1;
			if (sw_edit_distance(tmp, "result") <= 2)
				return perr(p, npos, "unknown name \"%s\" (did you mean \"result\"?)", tmp), -1;
			return perr(p, npos, "unknown name \"%s\" (the only variable is \"result\")", tmp), -1;
		}
		break;
	}
	default:
		if (p->tok == T_END && strspn(p->s, " \t\r\n") == p->len)
			return perr(p, p->tpos, "empty expression"), -1;
		return perr_expected(p, "a value"), -1;
	}
	if (next(p) < 0)
		return -1;
	return add_node(p, &nd);
}

static int32_t parse_postfix(struct parser *p, int depth)
{
	int32_t base = parse_primary(p, depth);
	while (base >= 0 && p->tok == T_LB) {
		size_t pos = p->tpos;
		if (depth + 1 > EXPR_MAX_DEPTH)
			return too_deep(p);
		if (next(p) < 0)
			return -1;
		int32_t idx = parse_expr(p, depth + 1);
		if (idx < 0)
			return -1;
		if (p->tok != T_RB)
			return perr_expected(p, "\"]\""), -1;
		if (next(p) < 0)
			return -1;
		struct node nd = {.kind = N_INDEX, .pos = (uint32_t)pos, .a = base, .b = idx};
		base = add_node(p, &nd);
	}
	return base;
}

static int32_t parse_unary(struct parser *p, int depth)
{
	if (p->tok == T_OP && (p->op == OP_NOT || p->op == OP_SUB)) {
		if (depth + 1 > EXPR_MAX_DEPTH)
			return too_deep(p);
		struct node nd = {.kind = N_UNARY, .op = p->op == OP_NOT ? OP_NOT : OP_NEG,
				  .pos = (uint32_t)p->tpos, .b = -1};
		if (next(p) < 0)
			return -1;
		nd.a = parse_unary(p, depth + 1);
		if (nd.a < 0)
			return -1;
		return add_node(p, &nd);
	}
	return parse_postfix(p, depth);
}

static int32_t parse_binary(struct parser *p, int level, int depth)
{
	if (level == LEVELS)
		return parse_unary(p, depth);
	int32_t left = parse_binary(p, level + 1, depth);
	while (left >= 0 && p->tok == T_OP && op_level(p->op) == level) {
		struct node nd = {.kind = N_BINARY, .op = (uint8_t)p->op, .pos = (uint32_t)p->tpos, .a = left};
		if (next(p) < 0)
			return -1;
		nd.b = parse_binary(p, level + 1, depth);
		if (nd.b < 0)
			return -1;
		left = add_node(p, &nd);
	}
	return left;
}

static int32_t parse_expr(struct parser *p, int depth)
{
	return parse_binary(p, 0, depth);
}

int expr_compile_n(struct expr **out, const char *text, size_t len, struct sw_err *err)
{
	*out = NULL;
	if (len > EXPR_MAX_LEN)
		return sw_errf(err, -1, "expression is longer than %d bytes", EXPR_MAX_LEN);
	if (memchr(text, '\0', len))
		return sw_errf(err, -1, "expression contains a NUL byte");
	struct expr *e = xcalloc(1, sizeof(*e));
	e->text = xstrndup(text, len);
	e->len = len;
	e->strings.cap = EXPR_MAX_LEN + 1;
	struct parser p = {.e = e, .s = e->text, .len = len, .err = err};
	int rc = -1;
	if (next(&p) < 0)
		goto out;
	e->root = parse_expr(&p, 0);
	if (e->root < 0)
		goto out;
	if (p.tok != T_END) {
		struct buf b = BUF_INIT;
		buf_adds(&b, "unexpected ");
		add_token(&b, &p);
		buf_adds(&b, " after ");
		add_before(&b, &p, p.tpos);
		perr(&p, p.tpos, "%s", b.s);
		buf_release(&b);
		goto out;
	}
	buf_str(&e->strings); /* never NULL, so that "" points somewhere */
	rc = 0;
	*out = e;
	e = NULL;
out:
	expr_free(e);
	return rc;
}

int expr_compile(struct expr **out, const char *text, struct sw_err *err)
{
	return expr_compile_n(out, text, strlen(text), err);
}

void expr_free(struct expr *e)
{
	if (!e)
		return;
	free(e->text);
	free(e->nodes);
	buf_release(&e->strings);
	free(e);
}

const char *expr_text(const struct expr *e)
{
	return e->text;
}

struct expr_value expr_string(const char *s)
{
	return (struct expr_value){.type = EXPR_STRING, .str = s, .len = strlen(s)};
}

const char *expr_type_name(enum expr_type t)
{
	switch (t) {
	case EXPR_NULL: return "null";
	case EXPR_NUMBER: return "number";
	case EXPR_BOOL: return "bool";
	case EXPR_STRING: return "string";
	case EXPR_ARRAY: return "array";
	}
	return "?";
}

/* ------------------------------------------------------------------ */
/* Evaluation                                                         */

#define E_FAIL (-1)    /* an error */
#define E_MISSING (-2) /* an error default() turns into its fallback */

struct ectx {
	const struct expr *e;
	const struct expr_value *result;
	char msg[512];
};

static int eerr(struct ectx *c, int code, const struct node *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int eerr(struct ectx *c, int code, const struct node *n, const char *fmt, ...)
{
	unsigned line, col;
	position(c->e->text, n->pos, &line, &col);
	char what[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(c->msg, sizeof(c->msg), "%u:%u: %s", line, col, what);
	return code;
}

static int ev(struct ectx *c, int32_t i, struct expr_value *out);

static int compare(struct ectx *c, const struct node *n, struct expr_value *a, struct expr_value *b, bool *res)
{
	int op = n->op;
	bool eqop = op == OP_EQ || op == OP_NE;
	if (a->type == EXPR_NULL || b->type == EXPR_NULL) {
		if (!eqop)
			return eerr(c, E_FAIL, n, "cannot compare %s with %s using \"%s\"", expr_type_name(a->type),
				    expr_type_name(b->type), op_names[op]);
		bool eq = a->type == b->type;
		*res = op == OP_EQ ? eq : !eq;
		return 0;
	}
	if (a->type != b->type)
		return eerr(c, E_FAIL, n, "cannot compare %s with %s", expr_type_name(a->type),
			    expr_type_name(b->type));
	int cmp = 0;
	switch (a->type) {
	case EXPR_NUMBER:
		if (isnan(a->num) || isnan(b->num)) {
			*res = false;
			return 0;
		}
		cmp = a->num < b->num ? -1 : a->num > b->num ? 1 : 0;
		break;
	case EXPR_STRING: {
		size_t m = a->len < b->len ? a->len : b->len;
		cmp = m ? memcmp(a->str, b->str, m) : 0;
		if (cmp == 0)
			cmp = a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
		break;
	}
	case EXPR_BOOL:
		if (!eqop)
			return eerr(c, E_FAIL, n, "cannot order bools with \"%s\"", op_names[op]);
		cmp = a->b == b->b ? 0 : 1;
		break;
	default:
		return eerr(c, E_FAIL, n, "cannot compare arrays");
	}
	switch (op) {
	case OP_EQ: *res = cmp == 0; break;
	case OP_NE: *res = cmp != 0; break;
	case OP_LT: *res = cmp < 0; break;
	case OP_LE: *res = cmp <= 0; break;
	case OP_GT: *res = cmp > 0; break;
	default: *res = cmp >= 0; break;
	}
	return 0;
}

static int need_bool(struct ectx *c, const struct node *n, const struct expr_value *v)
{
	if (v->type != EXPR_BOOL)
		return eerr(c, E_FAIL, n, "\"%s\" needs true or false, got %s", op_names[n->op],
			    expr_type_name(v->type));
	return 0;
}

static int ev_binary(struct ectx *c, const struct node *n, struct expr_value *out)
{
	struct expr_value a, b;
	int rc = ev(c, n->a, &a);
	if (rc < 0)
		return rc;
	if (n->op == OP_AND || n->op == OP_OR) {
		if ((rc = need_bool(c, n, &a)) < 0)
			return rc;
		if (a.b == (n->op == OP_OR)) { /* decided by the left side */
			*out = a;
			return 0;
		}
		if ((rc = ev(c, n->b, &b)) < 0)
			return rc;
		if ((rc = need_bool(c, n, &b)) < 0)
			return rc;
		*out = b;
		return 0;
	}
	if ((rc = ev(c, n->b, &b)) < 0)
		return rc;
	if (op_level(n->op) <= 3) {
		bool res = false;
		if ((rc = compare(c, n, &a, &b, &res)) < 0)
			return rc;
		*out = expr_bool(res);
		return 0;
	}
	if (a.type != EXPR_NUMBER || b.type != EXPR_NUMBER)
		return eerr(c, E_FAIL, n, "cannot apply \"%s\" to %s and %s", op_names[n->op],
			    expr_type_name(a.type), expr_type_name(b.type));
	double x = a.num, y = b.num, r;
	switch (n->op) {
	case OP_ADD: r = x + y; break;
	case OP_SUB: r = x - y; break;
	case OP_MUL: r = x * y; break;
	case OP_DIV: r = y == 0 ? NAN : x / y; break;
	default: r = y == 0 ? NAN : fmod(x, y); break;
	}
	*out = expr_number(r);
	return 0;
}

static int ev_call(struct ectx *c, const struct node *n, struct expr_value *out)
{
	struct expr_value a, b;
	int rc;
	if (n->op == F_DEFAULT) {
		rc = ev(c, n->a, &a);
		if (rc == E_MISSING || (rc == 0 && (a.type == EXPR_NULL || (a.type == EXPR_NUMBER && isnan(a.num)))))
			return ev(c, n->b, out);
		*out = a;
		return rc;
	}
	if ((rc = ev(c, n->a, &a)) < 0)
		return rc;
	const char *name = fns[n->op].name;
	if (n->op == F_LEN) {
		if (a.type != EXPR_STRING && a.type != EXPR_ARRAY)
			return eerr(c, E_FAIL, n, "len needs a string or an array, got %s", expr_type_name(a.type));
		*out = expr_number((double)a.len);
		return 0;
	}
	if (a.type != EXPR_NUMBER)
		return eerr(c, E_FAIL, n, "%s needs a number, got %s", name, expr_type_name(a.type));
	switch (n->op) {
	case F_ISNAN:
		*out = expr_bool(isnan(a.num));
		return 0;
	case F_ABS:
		*out = expr_number(fabs(a.num));
		return 0;
	default:
		break;
	}
	if ((rc = ev(c, n->b, &b)) < 0)
		return rc;
	if (b.type != EXPR_NUMBER)
		return eerr(c, E_FAIL, n, "%s needs a number, got %s", name, expr_type_name(b.type));
	/* NaN wins: a missing measurement must not hide behind min/max. */
	if (isnan(a.num) || isnan(b.num))
		*out = expr_number(NAN);
	else if (n->op == F_MIN)
		*out = expr_number(a.num < b.num ? a.num : b.num);
	else
		*out = expr_number(a.num > b.num ? a.num : b.num);
	return 0;
}

static int ev_index(struct ectx *c, const struct node *n, struct expr_value *out)
{
	struct expr_value a, b;
	int rc;
	if ((rc = ev(c, n->a, &a)) < 0)
		return rc;
	if ((rc = ev(c, n->b, &b)) < 0)
		return rc;
	if (a.type == EXPR_NULL)
		return eerr(c, E_MISSING, n, "cannot index null");
	if (a.type != EXPR_ARRAY)
		return eerr(c, E_FAIL, n, "cannot index %s", expr_type_name(a.type));
	if (b.type != EXPR_NUMBER)
		return eerr(c, E_FAIL, n, "index must be a number, got %s", expr_type_name(b.type));
	if (!(b.num >= 0) || b.num != floor(b.num) || b.num > 1e15) {
		char t[32];
		if (isnan(b.num))
			snprintf(t, sizeof(t), "NaN");
		else
			snprintf(t, sizeof(t), "%.10g", b.num);
		return eerr(c, E_FAIL, n, "index must be a whole number from 0, got %s", t);
	}
	if (b.num >= (double)a.len)
		return eerr(c, E_MISSING, n, "index %.0f is out of range (the array has %zu value%s)", b.num, a.len,
			    a.len == 1 ? "" : "s");
	*out = expr_number(a.arr[(size_t)b.num]);
	return 0;
}

static int ev(struct ectx *c, int32_t i, struct expr_value *out)
{
	const struct node *n = &c->e->nodes[i];
	int rc;
	switch (n->kind) {
	case N_NUM:
		*out = expr_number(n->num);
		return 0;
	case N_BOOL:
		*out = expr_bool(n->bval);
		return 0;
	case N_NULL:
		*out = expr_null();
		return 0;
	case N_STR:
		*out = (struct expr_value){.type = EXPR_STRING, .str = c->e->strings.s + n->soff, .len = n->slen};
		return 0;
	case N_RESULT:
		*out = c->result ? *c->result : expr_null();
		return 0;
	case N_INDEX:
		return ev_index(c, n, out);
	case N_UNARY:
		if ((rc = ev(c, n->a, out)) < 0)
			return rc;
		if (n->op == OP_NOT) {
			if (out->type != EXPR_BOOL)
				return eerr(c, E_FAIL, n, "\"!\" needs true or false, got %s", expr_type_name(out->type));
			out->b = !out->b;
			return 0;
		}
		if (out->type != EXPR_NUMBER)
			return eerr(c, E_FAIL, n, "cannot apply \"-\" to %s", expr_type_name(out->type));
		out->num = -out->num;
		return 0;
	case N_BINARY:
		return ev_binary(c, n, out);
	case N_CALL:
		return ev_call(c, n, out);
	}
	return eerr(c, E_FAIL, n, "bad node");
}

int expr_eval(const struct expr *e, const struct expr_value *result, struct expr_value *out, struct sw_err *err)
{
	struct ectx c = {.e = e, .result = result};
	*out = expr_null();
	int rc = ev(&c, e->root, out);
	if (rc < 0) {
		*out = expr_null();
		return sw_errf(err, -1, "%s", c.msg);
	}
	return 0;
}

int expr_eval_bool(const struct expr *e, const struct expr_value *result, bool *out, struct sw_err *err)
{
	struct expr_value v;
	*out = false;
	if (expr_eval(e, result, &v, err) < 0)
		return -1;
	if (v.type != EXPR_BOOL) {
		unsigned line, col;
		position(e->text, e->nodes[e->root].pos, &line, &col);
		return sw_errf(err, -1, "%u:%u: the condition gave %s %s, not true or false", line, col,
			       v.type == EXPR_ARRAY ? "an" : "a", expr_type_name(v.type));
	}
	*out = v.b;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Formatting                                                         */

static void add_number(struct buf *b, double v)
{
	if (isnan(v))
		buf_adds(b, "NaN");
	else if (isinf(v))
		buf_adds(b, v > 0 ? "+Inf" : "-Inf");
	else
		buf_addf(b, "%.10g", v);
}

void expr_value_format(struct buf *b, const struct expr_value *v)
{
	switch (v->type) {
	case EXPR_NULL:
		buf_adds(b, "null");
		break;
	case EXPR_NUMBER:
		add_number(b, v->num);
		break;
	case EXPR_BOOL:
		buf_adds(b, v->b ? "true" : "false");
		break;
	case EXPR_STRING: {
		size_t n = v->len > 200 ? 200 : v->len;
		char *tmp = xstrndup(v->str, n); /* stops at a NUL, which JSON text cannot hold anyway */
		buf_addc(b, '"');
		buf_add_json_escaped(b, tmp);
		if (n < v->len)
			buf_adds(b, "...");
		buf_addc(b, '"');
		free(tmp);
		break;
	}
	case EXPR_ARRAY:
		buf_addc(b, '[');
		for (size_t i = 0; i < v->len && i < 16; i++) {
			if (i)
				buf_adds(b, ", ");
			add_number(b, v->arr[i]);
		}
		if (v->len > 16)
			buf_addf(b, ", ... (%zu values)", v->len);
		buf_addc(b, ']');
		break;
	}
}
