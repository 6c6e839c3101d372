/*
 * render tests: the Patch kind and spec_render, on files as a user lays
 * them out (base/hello.yaml, envs/ENV/hello.yaml, environments.yaml):
 * which documents each environment gets, what is checked (also for the
 * environments not rendered), where errors point, and that what `slipway
 * render` prints reads back as the same Apps.
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
#include "spec/spec.h"
#include "../fuzz/render_oracle.h"
#include "unit_util.h"

static const char BASE[] =
	"apiVersion: slipway/v1\n"
	"kind: App\n"
	"metadata: {name: hello, labels: {team: web}}\n"
	"spec:\n"
	"  version: \"1.1.0\"\n"
	"  replicas: 2\n"
	"  run:\n"
	"    command: [./hello, --port, \"${PORT}\"]\n"
	"    env: {LOG_LEVEL: info, TRACE: \"1\"}\n"
	"  route: {listen: \"127.0.0.1:8090\"}\n"
	"---\n"
	"apiVersion: slipway/v1\n"
	"kind: App\n"
	"metadata: {name: worker}\n"
	"spec:\n"
	"  version: \"2.0.0\"\n"
	"  run: {command: [./worker]}\n";

static const char PROD[] =
	"apiVersion: slipway/v1\n"
	"kind: Patch\n"
	"metadata: {name: hello, environment: prod}\n"
	"spec:\n"
	"  version: \"1.0.0\"\n"
	"  replicas: 3\n"
	"  run:\n"
	"    env: {LOG_LEVEL: warn, TRACE: null}\n";

static const char DEV[] =
	"apiVersion: slipway/v1\n"
	"kind: Patch\n"
	"metadata: {name: hello, environment: dev}\n"
	"spec: {replicas: 1}\n";

static const char OTHERS[] =
	"apiVersion: slipway/v1\n"
	"kind: App\n"
	"metadata: {name: cron, environment: prod}\n"
	"spec: {version: \"1\", run: {command: [./cron]}}\n"
	"---\n"
	"apiVersion: slipway/v1\n"
	"kind: App\n"
	"metadata: {name: probe, environment: dev}\n"
	"spec: {version: \"1\", run: {command: [./probe]}}\n"
	"---\n"
	"apiVersion: slipway/v1\n"
	"kind: AnalysisTemplate\n"
	"metadata: {name: golden}\n"
	"spec: {metrics: [{name: ok, successCondition: \"result >= 0.9\", provider: {builtin: {metric: success-rate}}}]}\n";

struct files {
	struct spec_set sets[8];
	struct spec_set *ptrs[8];
	size_t n;
};

/* Parses name/text pairs (NULL ends them) into f, one set per file. */
static void read_files(struct files *f, ...)
{
	va_list ap;
	const char *name;
	memset(f, 0, sizeof(*f));
	va_start(ap, f);
	while ((name = va_arg(ap, const char *))) {
		const char *text = va_arg(ap, const char *);
		struct sw_err err = {0};
		if (spec_parse_text_at(&f->sets[f->n], text, strlen(text), name, "/srv/app", &err) < 0)
			fail_msg("%s", err.msg);
		f->ptrs[f->n] = &f->sets[f->n];
		f->n++;
	}
	va_end(ap);
}

static void files_release(struct files *f)
{
	for (size_t i = 0; i < f->n; i++)
		spec_set_release(&f->sets[i]);
}

static int render(struct files *f, const char *const *envs, size_t n, unsigned flags, struct sw_err *err)
{
	return spec_render(f->ptrs, f->n, envs, n, flags, err);
}

/* The rendered App of key `key`, or NULL. */
static const struct spec_app *app(const struct files *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		for (size_t k = 0; k < f->sets[i].napps; k++)
			if (strcmp(f->sets[i].apps[k]->key, key) == 0)
				return f->sets[i].apps[k];
	return NULL;
}

static size_t count_kind(const struct files *f, const struct spec_kind *kind)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++)
		for (size_t k = 0; k < f->sets[i].ndocs; k++)
			n += f->sets[i].docs[k].kind == kind;
	return n;
}

static const char *env_value(const struct spec_app *a, const char *name)
{
	for (size_t i = 0; i < a->nenv; i++)
		if (strcmp(a->env[i].name, name) == 0)
			return a->env[i].value;
	return NULL;
}

static void test_render__prod_gets_the_base_with_its_patch(void **state)
{
	(void)state;
	struct files f;
	struct sw_err err = {0};
	const char *envs[] = {"prod"};
	read_files(&f, "base/hello.yaml", BASE, "envs/prod/hello.yaml", PROD, "envs/dev/hello.yaml", DEV,
		   NULL);
	if (render(&f, envs, 1, 0, &err) < 0)
		fail_msg("%s", err.msg);
	const struct spec_app *a = app(&f, "prod/hello");
	assert_non_null(a);
	assert_string_equal(a->environment, "prod");
	assert_string_equal(a->version, "1.0.0");
	assert_int_equal(a->replicas, 3);
	assert_string_equal(env_value(a, "LOG_LEVEL"), "warn");
	assert_null(env_value(a, "TRACE"));
	/* relative paths stay the base's; the environment is the patch's */
	assert_string_equal(a->workdir, "/srv/app");
	assert_string_equal(a->environment_at, "envs/prod/hello.yaml:3:25");
	/* a base without a patch comes as it is, in prod */
	const struct spec_app *w = app(&f, "prod/worker");
	assert_non_null(w);
	assert_string_equal(w->version, "2.0.0");
	assert_null(app(&f, "hello"));
	assert_int_equal(count_kind(&f, &spec_kind_patch), 0);
	assert_int_equal(count_kind(&f, &spec_kind_app), 2);
	/* the canonical JSON says the environment, as for an App written so */
	char *canon = spec_app_canonical(a);
	assert_non_null(strstr(canon, "\"environment\":\"prod\""));
	free(canon);
	files_release(&f);
}

static void test_render__each_environment_gets_its_own_instance(void **state)
{
	(void)state;
	struct files f;
	struct sw_err err = {0};
	const char *envs[] = {"dev", "staging", "prod"};
	read_files(&f, "base/hello.yaml", BASE, "envs/prod/hello.yaml", PROD, "envs/dev/hello.yaml", DEV,
		   NULL);
	if (render(&f, envs, 3, 0, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(app(&f, "dev/hello")->replicas, 1);
	assert_int_equal(app(&f, "staging/hello")->replicas, 2);
	assert_string_equal(app(&f, "staging/hello")->version, "1.1.0");
	assert_int_equal(app(&f, "prod/hello")->replicas, 3);
	assert_non_null(app(&f, "dev/worker"));
	assert_non_null(app(&f, "staging/worker"));
	assert_non_null(app(&f, "prod/worker"));
	/* in the base's file, in the order of envs */
	assert_int_equal(f.sets[0].napps, 6);
	assert_string_equal(f.sets[0].apps[0]->key, "dev/hello");
	assert_string_equal(f.sets[0].apps[2]->key, "prod/hello");
	assert_int_equal(f.sets[1].ndocs, 0);
	files_release(&f);
}

static void test_render__apps_of_an_environment_go_where_they_say(void **state)
{
	(void)state;
	struct files f;
	struct sw_err err = {0};
	const char *prod[] = {"prod"}, *def[] = {"default"};
	read_files(&f, "base/hello.yaml", BASE, "envs/prod/hello.yaml", PROD, "others.yaml", OTHERS, NULL);
	assert_int_equal(render(&f, prod, 1, 0, &err), 0);
	assert_non_null(app(&f, "prod/cron"));
	assert_null(app(&f, "dev/probe"));
	/* other kinds stay */
	assert_int_equal(count_kind(&f, &spec_kind_template), 1);
	files_release(&f);

	/* the default environment: the bases themselves; with OTHERS the
	 * Apps that name one stay too (an apply, a source without
	 * environments:) */
	read_files(&f, "base/hello.yaml", BASE, "envs/prod/hello.yaml", PROD, "others.yaml", OTHERS, NULL);
	assert_int_equal(render(&f, def, 1, SPEC_RENDER_OTHERS, &err), 0);
	const struct spec_app *h = app(&f, "hello");
	assert_non_null(h);
	assert_null(h->environment);
	assert_int_equal(h->replicas, 2);
	assert_non_null(app(&f, "prod/cron"));
	assert_non_null(app(&f, "dev/probe"));
	files_release(&f);
}

static void test_render__patches_are_checked_for_every_environment(void **state)
{
	(void)state;
	struct files f;
	struct sw_err err = {0};
	const char *envs[] = {"dev"};
	static const char bad[] = "apiVersion: slipway/v1\nkind: Patch\n"
				  "metadata: {name: hello, environment: prod}\n"
				  "spec:\n  replicas: two\n";
	/* rendering dev, prod's wrong value is still an error, in the patch */
	read_files(&f, "base/hello.yaml", BASE, "envs/prod/hello.yaml", bad, NULL);
	assert_int_equal(render(&f, envs, 1, 0, &err), -1);
	assert_string_equal(err.msg, "envs/prod/hello.yaml:5:13: replicas must be a positive integer, "
				     "got \"two\"");
	files_release(&f);
}

static void test_render__a_patch_without_base_or_twice_is_refused(void **state)
{
	(void)state;
	struct files f;
	struct sw_err err = {0};
	const char *envs[] = {"prod"};
	read_files(&f, "envs/prod/hello.yaml", PROD, NULL);
	assert_int_equal(render(&f, envs, 1, 0, &err), -1);
	assert_string_equal(err.msg, "envs/prod/hello.yaml:1:1: patch \"prod/hello\" has no base: no App "
				     "\"hello\" without metadata.environment is read with it");
	files_release(&f);
	sw_err_clear(&err);
	read_files(&f, "base/hello.yaml", BASE, "envs/prod/hello.yaml", PROD, "envs/prod/again.yaml", PROD,
		   NULL);
	assert_int_equal(render(&f, envs, 1, 0, &err), -1);
	assert_string_equal(err.msg, "envs/prod/again.yaml:1:1: patch \"prod/hello\" is defined twice "
				     "(first at envs/prod/hello.yaml:1:1)");
	files_release(&f);
}

/* The Patch kind's own checks, as the file is read. */
static void test_render__patch_keys_are_checked_where_they_are(void **state)
{
	(void)state;
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"apiVersion: slipway/v1\nkind: Patch\nmetadata: {name: hello, environment: prod}\n"
		 "spec:\n  version: \"2\"\n  replica: 3\n",
		 "p.yaml:6:3: spec.replica is not a field of App (did you mean replicas?)"},
		{"apiVersion: slipway/v1\nkind: Patch\nmetadata: {name: hello, environment: prod}\n"
		 "spec:\n  strategy:\n    canary:\n      steps:\n        - setWeigth: 20\n",
		 "p.yaml:8:11: spec.strategy.canary.steps[0].setWeigth is not a field of App "
		 "(did you mean setWeight?)"},
		{"apiVersion: slipway/v1\nkind: Patch\nmetadata: {name: hello, environment: prod}\n"
		 "spec:\n  run:\n    env:\n      - {name: A, $patch: delete}\n      - {nmae: B}\n",
		 "p.yaml:8:10: spec.run.env[1].nmae is not a field of App (did you mean name?)"},
		{"apiVersion: slipway/v1\nkind: Patch\nmetadata: {name: hello}\nspec: {replicas: 2}\n",
		 "p.yaml:3:1: missing required field \"environment\" in metadata"},
		{"apiVersion: slipway/v1\nkind: Patch\nmetadata: {name: hello, environment: default}\n"
		 "spec: {replicas: 2}\n",
		 "p.yaml:3:38: a Patch is for a named environment; the default one has the base App itself"},
		{"apiVersion: slipway/v1\nkind: Patch\nmetadata: {name: hello, environment: prod}\nspec: [1]\n",
		 "p.yaml:4:7: spec of a Patch must be a mapping of App spec fields, got a list"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spec_set set;
		struct sw_err err = {0};
		if (spec_parse_text(&set, cases[i].text, strlen(cases[i].text), "p.yaml", &err) == 0)
			fail_msg("case %zu parsed", i);
		if (strcmp(err.msg, cases[i].want) != 0)
			fail_msg("case %zu\n got: %s\nwant: %s", i, err.msg, cases[i].want);
	}
}

/* What `slipway render` prints reads back as the very same Apps. */
static void test_render__printed_yaml_reads_back_the_same(void **state)
{
	(void)state;
	struct files f;
	struct sw_err err = {0};
	const char *envs[] = {"prod"};
	static const char quoted[] =
		"apiVersion: slipway/v1\nkind: Patch\nmetadata: {name: worker, environment: prod}\n"
		"spec:\n  run:\n    env:\n      NOTE: \"a: b # not a comment\\n\\ttwo\"\n"
		"      EMPTY: \"\"\n      ODD: ' lead'\n  route: {listen: \"127.0.0.1:9000\"}\n"
		"  strategy: {canary: {steps: [{setWeight: 10}, {pause: {}}]}}\n";
	read_files(&f, "base/hello.yaml", BASE, "envs/prod/hello.yaml", PROD, "envs/prod/worker.yaml", quoted,
		   NULL);
	if (render(&f, envs, 1, 0, &err) < 0)
		fail_msg("%s", err.msg);
	for (size_t k = 0; k < f.sets[0].ndocs; k++) {
		const struct spec_doc *d = &f.sets[0].docs[k];
		char *yaml = spec_tree_yaml(d->tree);
		struct spec_set back;
		if (spec_parse_text_at(&back, yaml, strlen(yaml), "rendered.yaml", "/srv/app", &err) < 0)
			fail_msg("%s\n%s", err.msg, yaml);
		char *a = spec_app_canonical(d->obj), *b = spec_app_canonical(back.apps[0]);
		assert_string_equal(a, b);
		free(a);
		free(b);
		free(yaml);
		spec_set_release(&back);
	}
	files_release(&f);
}

static void replay(const char *file, const char *data, size_t len)
{
	(void)file;
	render_oracle(data, len);
}

/* The fuzz target's corpus replays as a test, through its own oracle. */
static void test_render__fuzz_corpus_replays(void **state)
{
	(void)state;
	assert_true(unit_corpus_replay("render", replay) >= 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render__prod_gets_the_base_with_its_patch),
		cmocka_unit_test(test_render__each_environment_gets_its_own_instance),
		cmocka_unit_test(test_render__apps_of_an_environment_go_where_they_say),
		cmocka_unit_test(test_render__patches_are_checked_for_every_environment),
		cmocka_unit_test(test_render__a_patch_without_base_or_twice_is_refused),
		cmocka_unit_test(test_render__patch_keys_are_checked_where_they_are),
		cmocka_unit_test(test_render__printed_yaml_reads_back_the_same),
		cmocka_unit_test(test_render__fuzz_corpus_replays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
