/* Aligned text tables for the CLI's human output. */
#ifndef SW_CLI_TABLE_H
#define SW_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct table {
	size_t ncols;
	char **cells;   /* row-major, nrows * ncols, owned */
	size_t nrows;
};

/* The first row added is the header. */
void table_init(struct table *t, size_t ncols);
/* Adds a row of ncols strings (copied; NULL prints as ""). */
void table_row(struct table *t, ...);
/* Prints columns left-aligned, separated by three spaces. */
void table_print(const struct table *t, FILE *f);
void table_release(struct table *t);

#endif
