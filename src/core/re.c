/*
 * re: parse to a small tree, emit a program for a Thompson automaton,
 * match by simulating every live state at once (Pike's VM without
 * captures). See re.h for the language.
 */
#include "re.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BOUND 100
#define MAX_NODES (4 * SW_RE_MAX_LEN + 8)
#define MAX_DEPTH 64 /* nesting of parentheses */

enum op {
	OP_BYTE,  /* arg: the byte */
	OP_ANY,
	OP_SET,   /* arg: index of a 256-bit set */
	OP_SPLIT, /* go to x and to y */
	OP_JMP,   /* go to x */
	OP_BOL,   /* only at offset 0 */
	OP_EOL,   /* only at the end */
	OP_MATCH,
};

struct inst {
	uint8_t op;
	uint8_t arg;
	uint16_t set;
	uint16_t x, y;
};

struct sw_re {
	struct inst *prog;
	size_t n;
	uint8_t (*sets)[32];
	size_t nsets;
};

/* ---- parse tree */

enum ntype { N_EMPTY, N_BYTE, N_ANY, N_SET, N_BOL, N_EOL, N_CAT, N_ALT, N_REP };

struct node {
	enum ntype t;
	int a, b;        /* N_CAT/N_ALT: kids; N_REP: a = kid */
	int min, max;    /* N_REP; max -1 = unbounded */
	uint8_t byte;
	uint16_t set;
};

struct parser {
	const char *s;
	size_t pos;
	struct node nodes[MAX_NODES];
	int nn;
	uint8_t (*sets)[32];
	size_t nsets;
	int depth;
	struct sw_err *err;
	size_t err_off;
	bool failed;
};

static int fail(struct parser *p, size_t off, const char *msg)
{
	if (!p->failed) {
		p->failed = true;
		p->err_off = off;
		sw_errf(p->err, SW_EINVAL, "%s", msg);
	}
	return -1;
}

static int node(struct parser *p, enum ntype t, int a, int b)
{
	if (p->nn == MAX_NODES)
		return fail(p, p->pos, "regex too complex");
	p->nodes[p->nn] = (struct node){.t = t, .a = a, .b = b};
	return p->nn++;
}

static int parse_alt(struct parser *p);

static void set_add(uint8_t *set, unsigned c)
{
	set[c >> 3] |= (uint8_t)(1u << (c & 7));
}

static const struct {
	const char *name;
	int (*is)(int);
} classes[] = {
	{"alpha", isalpha}, {"digit", isdigit}, {"alnum", isalnum}, {"upper", isupper},
	{"lower", islower}, {"space", isspace}, {"blank", isblank}, {"punct", ispunct},
	{"print", isprint}, {"graph", isgraph}, {"cntrl", iscntrl}, {"xdigit", isxdigit},
};

/* After '['; bytes only, as the C locale has them. */
static int parse_bracket(struct parser *p)
{
	size_t start = p->pos - 1;
	uint8_t set[32] = {0};
	bool neg = false, first = true;
	const char *s = p->s;
	if (s[p->pos] == '^') {
		neg = true;
		p->pos++;
	}
	for (;;) {
		unsigned char c = (unsigned char)s[p->pos];
		if (!c)
			return fail(p, start, "unterminated bracket expression");
		if (c == ']' && !first) {
			p->pos++;
			break;
		}
		first = false;
		if (c == '[' && (s[p->pos + 1] == '.' || s[p->pos + 1] == '='))
			return fail(p, p->pos, "collating elements and equivalence classes ([. .], [= =]) are not supported");
		if (c == '[' && s[p->pos + 1] == ':') {
			const char *end = strstr(s + p->pos + 2, ":]");
			size_t nl = end ? (size_t)(end - (s + p->pos + 2)) : 0;
			size_t k;
			for (k = 0; end && k < sizeof(classes) / sizeof(classes[0]); k++)
				if (strlen(classes[k].name) == nl && strncmp(classes[k].name, s + p->pos + 2, nl) == 0)
					break;
			if (!end || k == sizeof(classes) / sizeof(classes[0]))
				return fail(p, p->pos, "unknown character class");
			for (unsigned ch = 0; ch < 256; ch++)
				if (classes[k].is((int)ch))
					set_add(set, ch);
			p->pos += 2 + nl + 2;
			continue;
		}
		unsigned lo = c, hi = c;
		size_t at = p->pos;
		p->pos++;
		if (s[p->pos] == '-' && s[p->pos + 1] && s[p->pos + 1] != ']') {
			hi = (unsigned char)s[p->pos + 1];
			if (hi == '[' && (s[p->pos + 2] == '.' || s[p->pos + 2] == '=' || s[p->pos + 2] == ':'))
				return fail(p, p->pos + 1, "a range must end in a character");
			p->pos += 2;
			if (hi < lo)
				return fail(p, at, "invalid range (its end comes before its start)");
		}
		for (unsigned ch = lo; ch <= hi; ch++)
			set_add(set, ch);
	}
	if (neg)
		for (size_t i = 0; i < 32; i++)
			set[i] = (uint8_t)~set[i];
	p->sets = xrealloc(p->sets, (p->nsets + 1) * sizeof(*p->sets));
	memcpy(p->sets[p->nsets], set, 32);
	int n = node(p, N_SET, 0, 0);
	if (n >= 0)
		p->nodes[n].set = (uint16_t)p->nsets;
	p->nsets++;
	return n;
}

static int parse_atom(struct parser *p)
{
	const char *s = p->s;
	size_t at = p->pos;
	unsigned char c = (unsigned char)s[p->pos++];
	int n;
	switch (c) {
	case '(':
		if (s[p->pos] == '?')
			return fail(p, at, "(? is not supported (no lookaround, no non-capturing groups)");
		if (++p->depth > MAX_DEPTH)
			return fail(p, at, "parentheses nested too deeply");
		if (s[p->pos] == ')') {
			p->pos++;
			p->depth--;
			return node(p, N_EMPTY, 0, 0);
		}
		n = parse_alt(p);
		if (n < 0)
			return -1;
		if (s[p->pos] != ')')
			return fail(p, at, "unmatched (");
		p->pos++;
		p->depth--;
		return n;
	case '[':
		return parse_bracket(p);
	case '.':
		return node(p, N_ANY, 0, 0);
	case '^':
		return node(p, N_BOL, 0, 0);
	case '$':
		return node(p, N_EOL, 0, 0);
	case '\\':
		c = (unsigned char)s[p->pos];
		if (!c)
			return fail(p, at, "trailing backslash");
		if (c >= '1' && c <= '9')
			return fail(p, at, "back-references (\\1 to \\9) are not supported");
		if (isalnum(c))
			return fail(p, at, "\\ before a letter or digit is not supported (write [0-9] for \\d, "
					   "[[:alnum:]_] for \\w)");
		if (strchr("`'<>", c))
			return fail(p, at, "\\` \\' \\< \\> (GNU anchors) are not supported");
		p->pos++;
		break;
	case '*':
	case '+':
	case '?':
	case '{':
		return fail(p, at, "nothing to repeat");
	default:
		break;
	}
	n = node(p, N_BYTE, 0, 0);
	if (n >= 0)
		p->nodes[n].byte = c;
	return n;
}

static int parse_number(struct parser *p, int *out)
{
	const char *s = p->s;
	if (s[p->pos] < '0' || s[p->pos] > '9')
		return -1;
	int v = 0;
	while (s[p->pos] >= '0' && s[p->pos] <= '9') {
		v = v * 10 + (s[p->pos++] - '0');
		if (v > MAX_BOUND)
			return -2;
	}
	*out = v;
	return 0;
}

static int parse_repeat(struct parser *p)
{
	int n = parse_atom(p);
	const char *s = p->s;
	while (n >= 0) {
		size_t at = p->pos;
		int min, max;
		char c = s[p->pos];
		if (c == '*') {
			min = 0, max = -1;
		} else if (c == '+') {
			min = 1, max = -1;
		} else if (c == '?') {
			min = 0, max = 1;
		} else if (c == '{') {
			p->pos++;
			int r = parse_number(p, &min);
			if (r == -2)
				return fail(p, at, "repetition bounds above 100 are not supported");
			if (r < 0)
				return fail(p, at, "invalid repetition bound (write {n}, {n,} or {n,m})");
			max = min;
			if (s[p->pos] == ',') {
				p->pos++;
				max = -1;
				if (s[p->pos] != '}') {
					r = parse_number(p, &max);
					if (r == -2)
						return fail(p, at, "repetition bounds above 100 are not supported");
					if (r < 0)
						return fail(p, at, "invalid repetition bound (write {n}, {n,} or {n,m})");
					if (max < min)
						return fail(p, at, "invalid repetition bound (m is below n in {n,m})");
				}
			}
			if (s[p->pos] != '}')
				return fail(p, at, "invalid repetition bound (write {n}, {n,} or {n,m})");
		} else {
			break;
		}
		p->pos++;
		int r = node(p, N_REP, n, 0);
		if (r < 0)
			return -1;
		p->nodes[r].min = min;
		p->nodes[r].max = max;
		n = r;
	}
	return n;
}

static int parse_cat(struct parser *p)
{
	int n = -1;
	while (p->s[p->pos] && p->s[p->pos] != '|' && p->s[p->pos] != ')') {
		int k = parse_repeat(p);
		if (k < 0)
			return -1;
		n = n < 0 ? k : node(p, N_CAT, n, k);
		if (n < 0)
			return -1;
	}
	return n < 0 ? node(p, N_EMPTY, 0, 0) : n;
}

static int parse_alt(struct parser *p)
{
	int n = parse_cat(p);
	while (n >= 0 && p->s[p->pos] == '|') {
		p->pos++;
		int k = parse_cat(p);
		if (k < 0)
			return -1;
		n = node(p, N_ALT, n, k);
	}
	return n;
}

/* ---- code */

struct emitter {
	struct parser *p;
	struct inst prog[SW_RE_MAX_STATES];
	size_t n;
	bool full;
};

static int emit(struct emitter *e, struct inst in)
{
	if (e->n == SW_RE_MAX_STATES) {
		e->full = true;
		return -1;
	}
	e->prog[e->n] = in;
	return (int)e->n++;
}

static int emit_node(struct emitter *e, int ni)
{
	const struct node *nd = &e->p->nodes[ni];
	int a, b, l;
	switch (nd->t) {
	case N_EMPTY:
		return 0;
	case N_BYTE:
		return emit(e, (struct inst){.op = OP_BYTE, .arg = nd->byte}) < 0 ? -1 : 0;
	case N_ANY:
		return emit(e, (struct inst){.op = OP_ANY}) < 0 ? -1 : 0;
	case N_SET:
		return emit(e, (struct inst){.op = OP_SET, .set = nd->set}) < 0 ? -1 : 0;
	case N_BOL:
		return emit(e, (struct inst){.op = OP_BOL}) < 0 ? -1 : 0;
	case N_EOL:
		return emit(e, (struct inst){.op = OP_EOL}) < 0 ? -1 : 0;
	case N_CAT:
		return emit_node(e, nd->a) < 0 || emit_node(e, nd->b) < 0 ? -1 : 0;
	case N_ALT:
		/* SPLIT L1 L2; L1: a; JMP end; L2: b; end: */
		if ((l = emit(e, (struct inst){.op = OP_SPLIT})) < 0)
			return -1;
		e->prog[l].x = (uint16_t)e->n;
		if (emit_node(e, nd->a) < 0 || (a = emit(e, (struct inst){.op = OP_JMP})) < 0)
			return -1;
		e->prog[l].y = (uint16_t)e->n;
		if (emit_node(e, nd->b) < 0)
			return -1;
		e->prog[a].x = (uint16_t)e->n;
		return 0;
	case N_REP:
		for (int i = 0; i < nd->min; i++)
			if (emit_node(e, nd->a) < 0)
				return -1;
		if (nd->max < 0) {
			/* L: SPLIT body end; body; JMP L; end: */
			if ((l = emit(e, (struct inst){.op = OP_SPLIT})) < 0)
				return -1;
			e->prog[l].x = (uint16_t)e->n;
			if (emit_node(e, nd->a) < 0 || (b = emit(e, (struct inst){.op = OP_JMP})) < 0)
				return -1;
			e->prog[b].x = (uint16_t)l;
			e->prog[l].y = (uint16_t)e->n;
			return 0;
		}
		/* each optional copy: SPLIT body next; body; (the ends meet) */
		for (int i = nd->min; i < nd->max; i++) {
			if ((l = emit(e, (struct inst){.op = OP_SPLIT})) < 0)
				return -1;
			e->prog[l].x = (uint16_t)e->n;
			if (emit_node(e, nd->a) < 0)
				return -1;
			e->prog[l].y = (uint16_t)e->n;
		}
		return 0;
	}
	return -1;
}

int sw_re_compile(struct sw_re **out, size_t *out_off, const char *src, struct sw_err *err)
{
	struct parser *p = xcalloc(1, sizeof(*p));
	struct emitter *e = NULL;
	int ret = SW_EINVAL;
	*out = NULL;
	if (out_off)
		*out_off = 0;
	p->s = src;
	p->err = err;
	if (strlen(src) > SW_RE_MAX_LEN) {
		fail(p, SW_RE_MAX_LEN, "longer than 256 bytes");
		goto out;
	}
	int root = parse_alt(p);
	if (root < 0)
		goto out;
	if (src[p->pos] == ')') {
		fail(p, p->pos, "unmatched )");
		goto out;
	}
	e = xcalloc(1, sizeof(*e));
	e->p = p;
	if (emit_node(e, root) < 0 || emit(e, (struct inst){.op = OP_MATCH}) < 0) {
		fail(p, 0, "too large once its repetitions are expanded (more than 256 states)");
		goto out;
	}
	struct sw_re *re = xcalloc(1, sizeof(*re));
	re->n = e->n;
	re->prog = xmalloc(e->n * sizeof(*re->prog));
	memcpy(re->prog, e->prog, e->n * sizeof(*re->prog));
	re->sets = p->sets;
	re->nsets = p->nsets;
	p->sets = NULL;
	*out = re;
	ret = 0;
out:
	if (ret < 0 && out_off)
		*out_off = p->err_off;
	free(p->sets);
	free(p);
	free(e);
	return ret;
}

/* ---- matching */

struct threads {
	uint16_t *pc;
	size_t n;
};

/* Adds pc and what it reaches without reading a byte; `mark` holds the
 * step each state was last added in, so a state is added once per step
 * (empty loops end here). */
static void add(const struct sw_re *re, struct threads *l, uint32_t *mark, uint32_t step, uint16_t pc,
		size_t at, size_t len, uint16_t *stack)
{
	size_t sp = 0;
	stack[sp++] = pc;
	while (sp) {
		pc = stack[--sp];
		if (mark[pc] == step)
			continue;
		mark[pc] = step;
		const struct inst *in = &re->prog[pc];
		switch (in->op) {
		case OP_JMP:
			stack[sp++] = in->x;
			break;
		case OP_SPLIT:
			stack[sp++] = in->y;
			stack[sp++] = in->x;
			break;
		case OP_BOL:
			if (at == 0)
				stack[sp++] = (uint16_t)(pc + 1);
			break;
		case OP_EOL:
			if (at == len)
				stack[sp++] = (uint16_t)(pc + 1);
			break;
		default:
			l->pc[l->n++] = pc;
			break;
		}
	}
}

bool sw_re_match(const struct sw_re *re, const char *s, size_t len)
{
	/* every array has one slot per state; each state is pushed at most
	 * twice per closure (once per edge into it), so 2n bounds the stack */
	uint16_t buf[4 * SW_RE_MAX_STATES + 2 * SW_RE_MAX_STATES];
	uint32_t mark[SW_RE_MAX_STATES];
	struct threads cur = {buf, 0}, next = {buf + SW_RE_MAX_STATES, 0};
	uint16_t *stack = buf + 2 * SW_RE_MAX_STATES;
	uint32_t step = 1;
	bool matched = false;

	memset(mark, 0, re->n * sizeof(mark[0]));
	add(re, &cur, mark, step, 0, 0, len, stack);
	for (size_t i = 0;; i++) {
		if (i == len) {
			for (size_t k = 0; k < cur.n; k++)
				if (re->prog[cur.pc[k]].op == OP_MATCH)
					matched = true;
			break;
		}
		if (!cur.n)
			break;
		unsigned char c = (unsigned char)s[i];
		step++;
		next.n = 0;
		for (size_t k = 0; k < cur.n; k++) {
			const struct inst *in = &re->prog[cur.pc[k]];
			bool ok = false;
			switch (in->op) {
			case OP_BYTE:
				ok = in->arg == c;
				break;
			case OP_ANY:
				ok = true;
				break;
			case OP_SET:
				ok = (re->sets[in->set][c >> 3] >> (c & 7)) & 1;
				break;
			default:
				break;
			}
			if (ok)
				add(re, &next, mark, step, (uint16_t)(cur.pc[k] + 1), i + 1, len, stack);
		}
		struct threads t = cur;
		cur = next;
		next = t;
	}
	return matched;
}

size_t sw_re_states(const struct sw_re *re)
{
	return re->n;
}

void sw_re_free(struct sw_re *re)
{
	if (!re)
		return;
	free(re->prog);
	free(re->sets);
	free(re);
}
