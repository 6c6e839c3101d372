/*
 * libFuzzer target for on.push's branch and path filters (server.h's
 * pipeline_glob and pipeline_filter), whose patterns come from documents:
 * the input's lines before a NUL are patterns, the bytes after it the
 * name matched. Any input ends quickly (the matcher never backtracks),
 * and a pattern without wildcards matches exactly itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 2);
	memcpy(text, data, size);
	text[size] = text[size + 1] = '\0';
	size_t plen = strlen(text);
	const char *name = plen < size ? text + plen + 1 : "";
	char *pats[64];
	size_t n = 0;
	for (char *line = text; line && n < 64;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		pats[n++] = line;
		line = nl ? nl + 1 : NULL;
	}
	(void)pipeline_filter(pats, n, name);
	for (size_t i = 0; i < n; i++)
		if (!strpbrk(pats[i], "*?") && pipeline_glob(pats[i], name) != (strcmp(pats[i], name) == 0))
			abort();
	free(text);
	return 0;
}
