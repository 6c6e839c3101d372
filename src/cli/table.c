/*
 * The CLI's human output: every text from the daemon is escaped here
 * before it reaches a terminal, and aligned into tables.
 */
#include "cli_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/utf8.h"

/* The length of the UTF-8 sequence that starts s[0..len), 0 when none does. */
static size_t utf8_seq(const char *s, size_t len)
{
	unsigned char ch = (unsigned char)s[0];
	size_t n = ch < 0x80 ? 1 : ch >= 0xc2 && ch <= 0xdf ? 2 : ch >= 0xe0 && ch <= 0xef ? 3
		 : ch >= 0xf0 && ch <= 0xf4 ? 4 : 0;
	return n && n <= len && sw_utf8_valid(s, n) ? n : 0;
}

void cli_escape(struct buf *out, const char *s, size_t len, bool multiline)
{
	for (size_t i = 0; i < len;) {
		unsigned char ch = (unsigned char)s[i];
		size_t n = utf8_seq(s + i, len - i);
		if (n == 0) {
			buf_addf(out, "\\x%02x", ch); /* not UTF-8: the byte, escaped */
			i++;
		} else if (n > 1) {
			/* C1 controls (U+0080..U+009F): some terminals obey them too */
			if (ch == 0xc2 && (unsigned char)s[i + 1] <= 0x9f)
				buf_addf(out, "\\u%04x", (unsigned char)s[i + 1]);
			else
				buf_add(out, s + i, n);
			i += n;
		} else if ((ch == '\n' || ch == '\t') && multiline) {
			buf_addc(out, (char)ch);
			i++;
		} else if (ch == '\n' || ch == '\t' || ch == '\r') {
			buf_adds(out, ch == '\n' ? "\\n" : ch == '\t' ? "\\t" : "\\r");
			i++;
		} else if (ch < 0x20 || ch == 0x7f) {
			buf_addf(out, "\\x%02x", ch);
			i++;
		} else {
			buf_addc(out, (char)ch);
			i++;
		}
	}
}

/* Whether cli_escape would change s. */
static bool needs_escape(const char *s, size_t len, bool multiline)
{
	if (!sw_utf8_valid(s, len))
		return true;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch < 0x20 && !(multiline && (ch == '\n' || ch == '\t'))) || ch == 0x7f ||
		    (ch == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] <= 0x9f))
			return true;
	}
	return false;
}

const char *cli_escape_in(json_t *o, const char *key, bool multiline)
{
	json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);
	if (!s)
		return "";
	size_t len = json_string_length(v);
	if (!needs_escape(s, len, multiline))
		return s;
	struct buf b = BUF_INIT;
	cli_escape(&b, s, len, multiline);
	json_object_set_new(o, key, json_stringn(buf_str(&b), b.len));
	buf_release(&b);
	return json_string_value(json_object_get(o, key));
}

void cli_table_init(struct cli_table *t, size_t ncols)
{
	t->ncols = ncols;
	t->cells = NULL;
	t->nrows = 0;
}

void cli_table_row(struct cli_table *t, ...)
{
	va_list ap;
	va_start(ap, t);
	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*t->cells));
	for (size_t c = 0; c < t->ncols; c++) {
		const char *s = va_arg(ap, const char *);
		struct buf cell = BUF_INIT;
		cli_escape(&cell, s ? s : "", s ? strlen(s) : 0, false);
		t->cells[t->nrows * t->ncols + c] = xstrdup(buf_str(&cell));
		buf_release(&cell);
	}
	t->nrows++;
	va_end(ap);
}

void cli_table_widths(const struct cli_table *t, size_t *w)
{
	for (size_t c = 0; c < t->ncols; c++)
		w[c] = 0;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t l = strlen(t->cells[r * t->ncols + c]);
			if (l > w[c])
				w[c] = l;
		}
}

void cli_table_print_rows(const struct cli_table *t, FILE *f, size_t from, const size_t *w,
			  const char *indent)
{
	struct buf line = BUF_INIT;
	for (size_t r = from; r < t->nrows; r++) {
		buf_reset(&line);
		buf_adds(&line, indent);
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			if (c + 1 == t->ncols)
				buf_adds(&line, s);
			else
				buf_addf(&line, "%-*s   ", (int)w[c], s);
		}
		while (line.len && line.s[line.len - 1] == ' ')
			line.s[--line.len] = '\0';
		fprintf(f, "%s\n", buf_str(&line));
	}
	buf_release(&line);
	fflush(f);
}

void cli_table_print_indented(const struct cli_table *t, FILE *f, const char *indent)
{
	size_t *w = xcalloc(t->ncols, sizeof(*w));
	cli_table_widths(t, w);
	cli_table_print_rows(t, f, 0, w, indent);
	free(w);
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
	cli_table_print_indented(t, f, "");
}

void cli_table_release(struct cli_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
}

void cli_fmt_metric(char *out, size_t size, json_t *v, double mul, const char *unit)
{
	if (json_is_number(v))
		snprintf(out, size, "%.*f%s", mul > 1 ? 2 : 1, json_number_value(v) * mul, unit);
	else
		snprintf(out, size, "-");
}

bool cli_color_on(FILE *f)
{
	const char *no = getenv("NO_COLOR");
	return (!no || !*no) && isatty(fileno(f));
}

const char *cli_phase_color(FILE *f, const char *phase)
{
	static char out[96];
	const char *code = strcmp(phase, "Healthy") == 0 ? "32"
		: strcmp(phase, "Degraded") == 0 || strcmp(phase, "Frozen") == 0 ? "31"
		: strcmp(phase, "Progressing") == 0 || strcmp(phase, "Paused") == 0 ||
		  strcmp(phase, "Waiting") == 0 ? "33" : NULL;
	if (!code || !cli_color_on(f) || strlen(phase) > 64)
		return phase;
	snprintf(out, sizeof(out), "\033[%sm%s\033[0m", code, phase);
	return out;
}

void cli_print_groups(json_t *groups)
{
	struct cli_table t;
	size_t i;
	json_t *g;
	cli_table_init(&t, 7);
	cli_table_row(&t, "REVISION", "ROLE", "WEIGHT", "READY", "REQ/S", "SUCCESS", "P99");
	json_array_foreach(groups, i, g) {
		char rev[24], w[24], ready[24], rate[32], succ[32], p99[32];
		snprintf(rev, sizeof(rev), "%lld", cli_jint(g, "revision"));
		snprintf(w, sizeof(w), "%lld%%", cli_jint(g, "weight"));
		snprintf(ready, sizeof(ready), "%lld", cli_jint(g, "ready"));
		cli_fmt_metric(rate, sizeof(rate), json_object_get(g, "rate"), 1, "");
		cli_fmt_metric(succ, sizeof(succ), json_object_get(g, "successRate"), 100, "%");
		cli_fmt_metric(p99, sizeof(p99), json_object_get(g, "p99Ms"), 1, "ms");
		cli_table_row(&t, rev, cli_jstr(g, "role"), w, ready, rate, succ, p99);
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
}
