/*
 * libFuzzer target for spec: any bytes as a YAML file. Parsing must never
 * crash or leak, and every App that parses must round-trip through its
 * canonical JSON byte for byte (templates likewise).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"

static void check_app(const struct spec_app *a)
{
	char *t1 = spec_app_canonical(a);
	json_t *j = json_loads(t1, 0, NULL);
	struct spec_app *b = NULL;
	struct sw_err err = {0};

	if (!j || spec_app_from_json(&b, j, &err) != 0)
		abort();
	char *t2 = spec_app_canonical(b);
	if (strcmp(t1, t2) != 0)
		abort();
	char h1[65], h2[65];
	spec_app_hash(a, h1);
	spec_app_hash(b, h2);
	if (strcmp(h1, h2) != 0)
		abort();
	free(t1);
	free(t2);
	json_decref(j);
	spec_app_unref(b);
}

static void check_template(const struct spec_template *t)
{
	struct spec_template *u = NULL;
	struct sw_err err = {0};
	if (spec_template_from_json(&u, t->json, &err) != 0 || !json_equal(u->json, t->json))
		abort();
	spec_template_free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spec_set set;
	struct sw_err err = {0};

	if (spec_parse_text(&set, (const char *)data, size, "fuzz.yaml", &err) != 0) {
		if (!err.msg[0])
			abort(); /* every failure says why */
		return 0;
	}
	for (size_t i = 0; i < set.napps; i++)
		check_app(set.apps[i]);
	for (size_t i = 0; i < set.ntemplates; i++)
		check_template(set.templates[i]);
	spec_set_release(&set);
	return 0;
}
