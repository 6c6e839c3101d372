/*
 * patch tests: an environment's Patch over a base App, as users write
 * both (docs/internals/environments.md, "Overlays"), parsed as an App
 * afterwards: what each rule gives, and errors that point into the patch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "spec/node.h"
#include "spec/patch.h"
#include "spec/spec.h"

static const char BASE[] =
	"apiVersion: slipway/v1\n"
	"kind: App\n"
	"metadata: {name: hello, labels: {team: web}}\n"
	"spec:\n"
	"  version: \"1.0.0\"\n"
	"  replicas: 2\n"
	"  run:\n"
	"    command: [./hello, --port, \"${PORT}\"]\n"
	"    env: {GREETING: hi, LOG_LEVEL: debug, TRACE: \"1\"}\n"
	"  readiness: {http: {path: /healthz}}\n"
	"  route: {listen: \"127.0.0.1:8080\"}\n"
	"  strategy:\n"
	"    canary:\n"
	"      steps:\n"
	"        - setWeight: 20\n"
	"        - pause: {duration: 10s}\n";

static struct snode *one(const char *text, const char *file)
{
	struct snode **docs = NULL;
	size_t n = 0;
	struct sw_err err = {0};
	if (snode_from_yaml(&docs, &n, text, strlen(text), file, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(n, 1);
	struct snode *d = docs[0];
	free(docs);
	return d;
}

/* BASE with `patch` merged and parsed: 0 with the App in set, or -1 with
 * the message in err */
static int merged(struct spec_set *set, const char *base, const char *patch, struct sw_err *err)
{
	struct snode *b = one(base, "base/hello.yaml"), *p = one(patch, "envs/prod/hello.yaml"), *m;
	memset(set, 0, sizeof(*set));
	int rc = spec_patch_merge(&m, b, p, "envs/prod/hello.yaml", err);
	if (rc == 0) {
		rc = spec_parse_node(set, m, "base/hello.yaml", "/srv/app/base", err);
		snode_free(m);
	}
	snode_free(b);
	snode_free(p);
	return rc;
}

static const struct spec_env *env(const struct spec_app *a, const char *name)
{
	for (size_t i = 0; i < a->nenv; i++)
		if (strcmp(a->env[i].name, name) == 0)
			return &a->env[i];
	return NULL;
}

#define PATCH_HEAD "apiVersion: slipway/v1\nkind: Patch\nmetadata: {name: hello, environment: prod}\n"

static void test_patch__scalars_replace_mappings_merge_null_deletes(void **state)
{
	(void)state;
	struct spec_set set;
	struct sw_err err = {0};
	int rc = merged(&set, BASE,
			"apiVersion: slipway/v1\nkind: Patch\n"
			"metadata: {name: hello, environment: prod, labels: {tier: gold}}\n"
				   "spec:\n"
				   "  replicas: 4\n"
				   "  version: \"1.2.0\"\n"
				   "  run:\n"
				   "    env: {LOG_LEVEL: warn, REGION: eu, TRACE: null}\n"
				   "  route: {host: hello.example.com}\n",
			&err);
	if (rc < 0)
		fail_msg("%s", err.msg);
	const struct spec_app *a = set.apps[0];
	assert_int_equal(a->replicas, 4);
	assert_string_equal(a->version, "1.2.0");
	/* the base's command stays: run merged, not replaced */
	assert_string_equal(a->command[0], "./hello");
	assert_string_equal(a->workdir, "/srv/app/base");
	assert_string_equal(env(a, "GREETING")->value, "hi");
	assert_string_equal(env(a, "LOG_LEVEL")->value, "warn");
	assert_string_equal(env(a, "REGION")->value, "eu");
	assert_null(env(a, "TRACE"));
	/* route merged: the base's listen and the patch's host */
	assert_string_equal(a->route.host, "hello.example.com");
	/* labels merge */
	assert_string_equal(json_string_value(json_object_get(a->labels, "team")), "web");
	assert_string_equal(json_string_value(json_object_get(a->labels, "tier")), "gold");
	assert_int_equal(a->strategy.kind, SPEC_STRATEGY_CANARY);
	assert_int_equal(a->strategy.nsteps, 2);
	spec_set_release(&set);
}

static void test_patch__env_lists_merge_by_name_and_patch_delete(void **state)
{
	(void)state;
	struct spec_set set;
	struct sw_err err = {0};
	/* a list patch over a mapping base: the list form, base order first */
	int rc = merged(&set, BASE,
			PATCH_HEAD "spec:\n"
				   "  run:\n"
				   "    env:\n"
				   "      - {name: GREETING, value: hello}\n"
				   "      - {name: LOG_LEVEL, $patch: delete}\n"
				   "      - {name: NEW, value: x}\n",
			&err);
	if (rc < 0)
		fail_msg("%s", err.msg);
	const struct spec_app *a = set.apps[0];
	assert_int_equal(a->nenv, 3);
	assert_string_equal(a->env[0].name, "GREETING");
	assert_string_equal(a->env[0].value, "hello");
	assert_string_equal(a->env[1].name, "TRACE");
	assert_string_equal(a->env[2].name, "NEW");
	assert_null(env(a, "LOG_LEVEL"));
	spec_set_release(&set);
}

static void test_patch__another_strategy_replaces_steps_replace(void **state)
{
	(void)state;
	struct spec_set set;
	struct sw_err err = {0};
	int rc = merged(&set, BASE, PATCH_HEAD "spec:\n  strategy: {rolling: {maxSurge: 2}}\n", &err);
	if (rc < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(set.apps[0]->strategy.kind, SPEC_STRATEGY_ROLLING);
	assert_int_equal(set.apps[0]->strategy.max_surge, 2);
	spec_set_release(&set);

	rc = merged(&set, BASE, PATCH_HEAD "spec:\n  strategy:\n    canary:\n      steps: [{setWeight: 50}]\n",
		    &err);
	if (rc < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(set.apps[0]->strategy.kind, SPEC_STRATEGY_CANARY);
	assert_int_equal(set.apps[0]->strategy.nsteps, 1);
	spec_set_release(&set);
}

static void test_patch__errors_point_into_the_patch(void **state)
{
	(void)state;
	struct spec_set set;
	struct sw_err err = {0};
	/* a field App does not have: the patch's position, did you mean */
	assert_int_equal(merged(&set, BASE, PATCH_HEAD "spec:\n  replica: 3\n", &err), -1);
	assert_non_null(strstr(err.msg, "envs/prod/hello.yaml:5:3:"));
	assert_non_null(strstr(err.msg, "replicas"));
	/* a bad value the patch set */
	memset(&err, 0, sizeof(err));
	assert_int_equal(merged(&set, BASE, PATCH_HEAD "spec:\n  replicas: two\n", &err), -1);
	assert_non_null(strstr(err.msg, "envs/prod/hello.yaml:5:13: replicas must be a positive integer"));
	/* the base's own values keep the base's file */
	memset(&err, 0, sizeof(err));
	assert_int_equal(merged(&set, BASE, PATCH_HEAD "spec:\n  version: null\n", &err), -1);
	assert_non_null(strstr(err.msg, "base/hello.yaml"));
	assert_non_null(strstr(err.msg, "version"));
	/* a $patch that is not delete */
	memset(&err, 0, sizeof(err));
	assert_int_equal(merged(&set, BASE,
			       PATCH_HEAD "spec:\n  run:\n    env:\n      - {name: GREETING, $patch: replace}\n",
			       &err),
			 -1);
	assert_non_null(strstr(err.msg, "envs/prod/hello.yaml:7:"));
	assert_non_null(strstr(err.msg, "$patch must be \"delete\""));
	/* spec not a mapping */
	memset(&err, 0, sizeof(err));
	assert_int_equal(merged(&set, BASE, PATCH_HEAD "spec: [1]\n", &err), -1);
	assert_non_null(strstr(err.msg, "envs/prod/hello.yaml:4:7:"));
}

static void test_patch__the_base_is_untouched(void **state)
{
	(void)state;
	struct snode *b = one(BASE, "base/hello.yaml");
	struct snode *p = one(PATCH_HEAD "spec: {replicas: 9, run: {env: {GREETING: null}}}\n", "p.yaml");
	struct snode *m = NULL;
	struct sw_err err = {0};
	assert_int_equal(spec_patch_merge(&m, b, p, "p.yaml", &err), 0);
	struct spec_set set = {0};
	assert_int_equal(spec_parse_node(&set, b, "base/hello.yaml", NULL, &err), 0);
	assert_int_equal(set.apps[0]->replicas, 2);
	assert_non_null(env(set.apps[0], "GREETING"));
	spec_set_release(&set);
	snode_free(m);
	snode_free(b);
	snode_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patch__scalars_replace_mappings_merge_null_deletes),
		cmocka_unit_test(test_patch__env_lists_merge_by_name_and_patch_delete),
		cmocka_unit_test(test_patch__another_strategy_replaces_steps_replace),
		cmocka_unit_test(test_patch__errors_point_into_the_patch),
		cmocka_unit_test(test_patch__the_base_is_untouched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
