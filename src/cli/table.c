/* Aligned text tables for the CLI's human output. */
#include "cli_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

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
		t->cells[t->nrows * t->ncols + c] = xstrdup(s ? s : "");
	}
	t->nrows++;
	va_end(ap);
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
	size_t *w = xcalloc(t->ncols, sizeof(*w));
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t l = strlen(t->cells[r * t->ncols + c]);
			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			if (c + 1 == t->ncols)
				fprintf(f, "%s", s);
			else
				fprintf(f, "%-*s   ", (int)w[c], s);
		}
		fputc('\n', f);
	}
	free(w);
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

void cli_print_groups(json_t *groups)
{
	struct cli_table t;
	size_t i;
	json_t *g;
	cli_table_init(&t, 6);
	cli_table_row(&t, "REVISION", "WEIGHT", "READY", "REQ/S", "SUCCESS", "P99");
	json_array_foreach(groups, i, g) {
		char rev[24], w[24], ready[24], rate[32], succ[32], p99[32];
		snprintf(rev, sizeof(rev), "%lld", cli_jint(g, "revision"));
		snprintf(w, sizeof(w), "%lld%%", cli_jint(g, "weight"));
		snprintf(ready, sizeof(ready), "%lld", cli_jint(g, "ready"));
		cli_fmt_metric(rate, sizeof(rate), json_object_get(g, "rate"), 1, "");
		cli_fmt_metric(succ, sizeof(succ), json_object_get(g, "successRate"), 100, "%");
		cli_fmt_metric(p99, sizeof(p99), json_object_get(g, "p99Ms"), 1, "ms");
		cli_table_row(&t, rev, w, ready, rate, succ, p99);
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
}
