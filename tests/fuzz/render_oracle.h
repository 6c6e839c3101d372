/*
 * The render oracle, shared by tests/fuzz/fuzz_render.c and the corpus
 * replay in tests/unit/test_render.c: any bytes as one file of base Apps
 * and Patches. Parsed, rendered for prod alone and for dev and prod
 * together (spec_render must never crash or leak, and fails only with a
 * message); every rendered document's tree printed as YAML
 * (spec_tree_yaml) must read back, an App as the very same App (its
 * canonical JSON byte for byte). A mismatch aborts.
 */
#ifndef SW_TESTS_RENDER_ORACLE_H
#define SW_TESTS_RENDER_ORACLE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"

static void render_oracle_envs(const char *data, size_t size, const char *const *envs, size_t nenvs)
{
	struct spec_set set;
	struct sw_err err = {0};
	if (spec_parse_text_at(&set, data, size, "f.yaml", "/srv", &err) != 0)
		return;
	struct spec_set *sets[] = {&set};
	if (spec_render(sets, 1, envs, nenvs, 0, &err) != 0) {
		if (!err.msg[0])
			abort();
		spec_set_release(&set);
		return;
	}
	for (size_t i = 0; i < set.ndocs; i++) {
		const struct spec_doc *d = &set.docs[i];
		if (!d->tree)
			abort();
		char *yaml = spec_tree_yaml(d->tree);
		struct spec_set back;
		struct sw_err berr = {0};
		if (spec_parse_text_at(&back, yaml, strlen(yaml), "f.yaml", "/srv", &berr) != 0) {
			/* a merged tree may hold what only parses from the patch's
			 * file (a valueFrom file), never a shape YAML cannot say */
			if (d->kind != &spec_kind_app || !strstr(berr.msg, "valueFrom")) {
				fprintf(stderr, "rendered document does not read back: %s\n%s", berr.msg, yaml);
				abort();
			}
		} else if (d->kind == &spec_kind_app) {
			char *a = spec_app_canonical(d->obj), *b = spec_app_canonical(back.apps[0]);
			if (back.napps != 1 || strcmp(a, b) != 0) {
				fprintf(stderr, "rendered App reads back otherwise:\n%s\n%s\n", a, b);
				abort();
			}
			free(a);
			free(b);
		}
		if (berr.msg[0] == '\0')
			spec_set_release(&back);
		free(yaml);
	}
	spec_set_release(&set);
}

static void render_oracle(const char *data, size_t size)
{
	static const char *const one[] = {"prod"}, *const two[] = {"dev", "prod"};
	render_oracle_envs(data, size, one, 1);
	render_oracle_envs(data, size, two, 2);
}

#endif
