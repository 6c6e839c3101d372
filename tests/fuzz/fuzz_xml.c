/*
 * libFuzzer target for the reports' XML tokenizer (pipeline_xml_parse,
 * results.h): any bytes give a tree or a positioned message naming the
 * file, never a crash, and a tree holds nothing past the stated limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/results.h"

static void check(const struct pipeline_xml *x, int depth)
{
	if (depth > PIPELINE_XML_MAX_DEPTH || x->nattrs > PIPELINE_XML_MAX_ATTRS ||
	    strlen(x->text) > PIPELINE_XML_MAX_TEXT)
		abort();
	for (size_t i = 0; i < x->nkids; i++)
		check(x->kids[i], depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pipeline_xml *x = NULL;
	struct sw_err err = {0};
	if (pipeline_xml_parse(&x, "f.xml", (const char *)data, size, &err) < 0) {
		if (strncmp(err.msg, "f.xml:", 6) != 0 || x)
			abort();
		return 0;
	}
	check(x, 1);
	pipeline_xml_free(x);
	return 0;
}
