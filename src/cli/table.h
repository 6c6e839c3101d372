/* Aligned text tables for the CLI's human output. */
#ifndef SW_CLI_TABLE_H
#define SW_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct cli_table {
	size_t ncols;
	char **cells;   /* row-major, nrows * ncols, owned */
	size_t nrows;
};

/* The first row added is the header. */
void cli_table_init(struct cli_table *t, size_t ncols);
/* Adds a row of ncols strings (copied; NULL prints as ""). */
void cli_table_row(struct cli_table *t, ...);
/* Prints columns left-aligned, separated by three spaces. */
void cli_table_print(const struct cli_table *t, FILE *f);
void cli_table_release(struct cli_table *t);

#endif
