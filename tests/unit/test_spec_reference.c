/*
 * spec reference: `slipway explain` is made from the tables that read
 * documents. What must hold: every field of every kind has a description
 * and every description names a field (so a field cannot be added without
 * being documented), every field path explains, defaults are the parser's
 * own, and a typo gets validate's "did you mean".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

#include <cmocka.h>

#include "core/buf.h"
#include "env/env.h"
#include "gitops/gitops.h"
#include "pipeline/pipeline.h"
#include "spec/node.h"
#include "spec/reference.h"
#include "spec/spec.h"

struct walk {
	const struct spec_ref_kind *kind;
	struct buf missing;  /* paths without a description or shape */
	size_t n;
	bool found;          /* each_description: the key named a field */
	const char *want;
};

static void check_field(const char *path, const struct spec_field *row, void *data)
{
	struct walk *w = data;
	w->n++;
	if (!spec_ref_description(w->kind->kind, path))
		buf_addf(&w->missing, "  %s.%s has no description\n", w->kind->kind->name, path);
	if (row && !spec_ref_shape_of(row->type))
		buf_addf(&w->missing, "  %s.%s has a row type the reference does not know (spec_ref_shapes)\n",
			 w->kind->kind->name, path);
}

static void test_spec_reference__every_field_has_a_description(void **state)
{
	struct walk w = {.missing = BUF_INIT};
	size_t total = 0;
	for (size_t i = 0; spec_ref_kind_at(i); i++) {
		w.kind = spec_ref_kind_at(i);
		w.n = 0;
		spec_ref_each_field(w.kind, check_field, &w);
		assert_true(w.n >= 8); /* the smallest kind, Environment, has 8 */
		total += w.n;
	}
	if (w.missing.len)
		fail_msg("fields without a description in src/spec/reference.c:\n%s", w.missing.s);
	assert_true(total > 100);
	buf_release(&w.missing);
}

static void find_path(const char *path, const struct spec_field *row, void *data)
{
	struct walk *w = data;
	w->found |= strcmp(path, w->want) == 0;
}

static void check_key(const char *kind, const char *path, void *data)
{
	struct buf *bad = data;
	size_t kinds = 0, found = 0;
	for (size_t i = 0; spec_ref_kind_at(i); i++) {
		if (strcmp(kind, "*") != 0 && strcmp(kind, spec_ref_kind_at(i)->kind->name) != 0)
			continue;
		struct walk w = {.kind = spec_ref_kind_at(i), .want = path};
		spec_ref_each_field(w.kind, find_path, &w);
		kinds++;
		found += w.found;
	}
	if (!kinds || found < kinds)
		buf_addf(bad, "  %s \"%s\" names no field%s\n", kind, path, kinds > 1 ? " of every kind" : "");
}

static void test_spec_reference__every_description_names_a_field(void **state)
{
	struct buf bad = BUF_INIT;
	spec_ref_each_description(check_key, &bad);
	if (bad.len)
		fail_msg("descriptions in src/spec/reference.c that name no field:\n%s", bad.s);
	buf_release(&bad);
}

struct explain_all {
	const char *word;
	struct buf bad;
};

static void explain_one(const char *path, const struct spec_field *row, void *data)
{
	struct explain_all *x = data;
	struct buf p = BUF_INIT;
	struct sw_err err = {0};
	json_t *j = NULL;
	buf_addf(&p, "%s%s%s", x->word, *path ? "." : "", path);
	if (spec_ref_explain(&j, p.s, false, &err) < 0)
		buf_addf(&x->bad, "  %s: %s\n", p.s, err.msg);
	else if (!*json_string_value(json_object_get(j, "description")))
		buf_addf(&x->bad, "  %s: empty description\n", p.s);
	json_decref(j);
	buf_release(&p);
}

static void test_spec_reference__every_field_path_explains(void **state)
{
	struct explain_all x = {.bad = BUF_INIT};
	for (size_t i = 0; spec_ref_kind_at(i); i++) {
		x.word = spec_ref_kind_at(i)->kind->name;
		spec_ref_each_field(spec_ref_kind_at(i), explain_one, &x);
	}
	if (x.bad.len)
		fail_msg("paths that do not explain:\n%s", x.bad.s);
	buf_release(&x.bad);
}

struct documents {
	const struct spec_ref_kind *kind;
	struct buf bad;
	size_t n;
};

static void document_for(const char *path, const struct spec_field *row, void *data)
{
	struct documents *d = data;
	if (row && (row->flags & SPEC_F_NOEMIT))
		return;
	d->n++;
	if (!spec_ref_has_document(d->kind, path))
		buf_addf(&d->bad, "  %s.%s\n", d->kind->kind->name, path);
}

/* Defaults are read from a parsed document: one must be found for every path. */
static void test_spec_reference__every_field_path_has_a_document(void **state)
{
	struct documents d = {.bad = BUF_INIT};
	for (size_t i = 0; spec_ref_kind_at(i); i++) {
		d.kind = spec_ref_kind_at(i);
		spec_ref_each_field(d.kind, document_for, &d);
	}
	if (d.bad.len)
		fail_msg("no valid document holds these paths (see synth in reference.c):\n%s", d.bad.s);
	assert_true(d.n > 100);
	buf_release(&d.bad);
}

static json_t *explain(const char *path)
{
	struct sw_err err = {0};
	json_t *j = NULL;
	if (spec_ref_explain(&j, path, false, &err) < 0)
		fail_msg("%s: %s", path, err.msg);
	return j;
}

/* The default explain shows, as compact JSON ("" when none). */
static char *default_of(const char *path)
{
	json_t *j = explain(path);
	json_t *d = json_object_get(j, "default");
	char *s = d ? json_dumps(d, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15)) : strdup("");
	json_decref(j);
	return s;
}

#define assert_default(path, want)                  \
	do {                                        \
		char *got_ = default_of(path);      \
		assert_string_equal(got_, want);    \
		free(got_);                         \
	} while (0)

static void test_spec_reference__defaults_are_the_parsers(void **state)
{
	assert_default("app.spec.replicas", "1");
	assert_default("app.spec.readiness.period", "\"1s\"");
	assert_default("app.spec.liveness.period", "\"2s\"");   /* one table, two defaults */
	assert_default("app.spec.readiness.http.path", "\"/\""); /* set by the table's check */
	assert_default("app.spec.stop.signal", "\"SIGTERM\"");
	assert_default("app.spec.strategy", "{\"rolling\":{\"maxSurge\":1,\"maxUnavailable\":0}}");
	assert_default("app.spec.strategy.blueGreen.scaleDownDelay", "\"30s\"");
	assert_default("app.spec.hooks.onAbort.timeout", "\"5m\"");  /* a list element's init */
	assert_default("app.spec.run.workdir", "\"the directory of the file\"");
	assert_default("app.spec.version", "");                      /* required */
	assert_default("app.spec.strategy.canary", "");              /* a choice */
	assert_default("at.spec.metrics.consecutiveErrorLimit", "4");
	assert_default("at.spec.metrics.noData", "\"inconclusive\"");
	/* a builtin metric needs a condition: the search fills one in */
	assert_default("at.spec.metrics.provider.builtin.window", "\"30s\"");
	assert_default("at.spec.metrics.provider.web.method", "\"GET\"");
	assert_default("at.spec.metrics.provider.compare.confidence", "0.98");
	assert_default("at.spec.load.rate", "50");
	assert_default("at.spec.metrics.maxFailures", "");           /* an alias */
	/* a module's kind: its own table's init and checks */
	assert_default("source.spec.interval", "\"1m\"");
	assert_default("source.spec.path", "[\".\"]");               /* set by the table's check */
	assert_default("source.spec.syncPolicy.automated", "true");
	assert_default("source.spec.syncPolicy.prune", "false");
	assert_default("source.spec.webhook", "\"no webhook\"");
	assert_default("source.spec.credentials.tokenFile", "");      /* an alias */
}

static void test_spec_reference__field_shows_type_range_required_and_fields(void **state)
{
	json_t *j = explain("app.spec.strategy.canary.steps");
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "App");
	assert_string_equal(json_string_value(json_object_get(j, "field")), "spec.strategy.canary.steps");
	assert_string_equal(json_string_value(json_object_get(j, "type")), "list of object");
	assert_false(json_is_true(json_object_get(j, "required")));
	json_t *fields = json_object_get(j, "fields");
	assert_int_equal(json_array_size(fields), 4);
	json_t *sw = json_array_get(fields, 0);
	assert_string_equal(json_string_value(json_object_get(sw, "name")), "setWeight");
	assert_string_equal(json_string_value(json_object_get(sw, "type")), "integer");
	assert_string_equal(json_string_value(json_object_get(sw, "range")), "0 to 100");
	assert_true(json_is_true(json_object_get(sw, "oneOf")));
	json_decref(j);

	j = explain("app.spec.strategy.canary");
	json_t *group = json_object_get(j, "oneOf");
	assert_int_equal(json_array_size(group), 3);
	assert_string_equal(json_string_value(json_array_get(group, 2)), "blueGreen");
	json_decref(j);

	/* an input-only choice is in its group too */
	j = explain("app.spec.run.env.valueFrom");
	group = json_object_get(j, "oneOf");
	assert_int_equal(json_array_size(group), 2);
	assert_string_equal(json_string_value(json_array_get(group, 0)), "value");
	assert_string_equal(json_string_value(json_array_get(group, 1)), "valueFrom");
	json_decref(j);

	j = explain("analysistemplate.spec.metrics[0].provider.web.method");
	assert_string_equal(json_string_value(json_object_get(j, "type")), "one of \"GET\", \"POST\"");
	json_decref(j);

	j = explain("app.spec.version");
	assert_true(json_is_true(json_object_get(j, "required")));
	assert_string_equal(json_string_value(json_object_get(j, "type")), "string");
	assert_null(json_object_get(j, "fields"));
	json_decref(j);
}

static void test_spec_reference__kinds_are_spelled_as_kubectl_users_do(void **state)
{
	static const char *const app[] = {"app", "apps", "App", "APPS"};
	static const char *const at[] = {"analysistemplate", "AnalysisTemplate", "analysistemplates", "at"};
	for (size_t i = 0; i < 4; i++) {
		assert_ptr_equal(spec_ref_kind_find(app[i], NULL)->kind, &spec_kind_app);
		assert_ptr_equal(spec_ref_kind_find(at[i], NULL)->kind, &spec_kind_template);
	}
	static const char *const source[] = {"source", "Source", "sources", "SOURCES"};
	for (size_t i = 0; i < 4; i++)
		assert_ptr_equal(spec_ref_kind_find(source[i], NULL)->kind, &gitops_kind_source);
	struct sw_err err = {0};
	assert_null(spec_ref_kind_find("ap", &err));
	assert_string_equal(err.msg, "unknown kind \"ap\" (did you mean \"app\"?); kinds: app, analysistemplate, "
				     "patch, source, environment, pipeline");
	sw_err_clear(&err);
	assert_null(spec_ref_kind_find("sorce", &err));
	assert_string_equal(err.msg, "unknown kind \"sorce\" (did you mean \"source\"?); kinds: app, "
				     "analysistemplate, patch, source, environment, pipeline");
	static const char *const envs[] = {"environment", "Environment", "environments", "ENVIRONMENTS"};
	for (size_t i = 0; i < 4; i++)
		assert_ptr_equal(spec_ref_kind_find(envs[i], NULL)->kind, &env_kind);
	static const char *const pipes[] = {"pipeline", "Pipeline", "pipelines", "PIPELINES"};
	for (size_t i = 0; i < 4; i++)
		assert_ptr_equal(spec_ref_kind_find(pipes[i], NULL)->kind, &pipeline_kind);
}

/* Every kind the binary reads is in the reference, in registration order,
 * and registering one twice, or another under its name, is refused. */
static void test_spec_reference__registered_kinds_are_listed(void **state)
{
	json_t *kinds = spec_ref_kinds_json();
	assert_int_equal(json_array_size(kinds), 6);
	assert_string_equal(json_string_value(json_object_get(json_array_get(kinds, 3), "kind")), "Source");
	assert_string_equal(json_string_value(json_object_get(json_array_get(kinds, 3), "name")), "source");
	assert_true(strncmp(json_string_value(json_object_get(json_array_get(kinds, 3), "description")),
			    "A git repository", 16) == 0);
	json_decref(kinds);
	assert_int_equal(spec_ref_register(spec_ref_kind_at(3)), 0);
	struct spec_ref_kind impostor = *spec_ref_kind_at(3);
	assert_int_equal(spec_ref_register(&impostor), -1);
	assert_ptr_equal(spec_ref_kind_at(4)->kind, &env_kind);
	assert_ptr_equal(spec_ref_kind_at(5)->kind, &pipeline_kind);
	assert_null(spec_ref_kind_at(6));
}

static void test_spec_reference__typo_gets_did_you_mean(void **state)
{
	struct sw_err err = {0};
	json_t *j = NULL;
	assert_int_equal(spec_ref_explain(&j, "app.spec.strategy.canary.stpes", false, &err), -1);
	assert_null(j);
	assert_string_equal(err.msg, "unknown field \"stpes\" in app.spec.strategy.canary (did you mean \"steps\"?)");
	sw_err_clear(&err);
	assert_int_equal(spec_ref_explain(&j, "app.spec.replicas.max", false, &err), -1);
	assert_string_equal(err.msg, "unknown field \"max\" in app.spec.replicas: replicas is a value (integer) "
				     "and has no fields");
}

static size_t count_leaves(json_t *fields)
{
	size_t n = 0, i;
	json_t *f;
	json_array_foreach(fields, i, f) {
		json_t *sub = json_object_get(f, "fields");
		n += sub ? count_leaves(sub) : 1;
	}
	return n;
}

static void test_spec_reference__recursive_reaches_every_leaf(void **state)
{
	struct sw_err err = {0};
	json_t *j = NULL;
	assert_int_equal(spec_ref_explain(&j, "app", true, &err), 0);
	json_t *spec = json_array_get(json_object_get(j, "fields"), 3);
	assert_string_equal(json_string_value(json_object_get(spec, "name")), "spec");
	assert_true(count_leaves(json_object_get(j, "fields")) > 60);
	json_decref(j);
}

/* ---- the docs' own examples: every path they write explains ---- */

/* The source tree, as seen from where the tests run (__FILE__ is as the
 * compiler saw it, relative to the build directory). */
static void source_path(char *out, size_t size, const char *rel)
{
	const char *self = __FILE__;
	const char *end = strstr(self, "tests/unit/test_spec_reference.c");
	snprintf(out, size, "%.*s%s", (int)(end ? end - self : 0), self, rel);
}

struct example_walk {
	struct buf bad;
	size_t paths;
	const char *file;
};

/*
 * Explains kind.path for every key of map n, and goes into a mapping where
 * the field is an object and into list items where it is a list of
 * objects, and into each value of a mapping of objects by name (a
 * Pipeline's jobs); env's mapping form has variable names for keys: not
 * fields.
 */
static void walk_example(struct example_walk *w, const char *kind, const char *path, const struct snode *n)
{
	for (size_t i = 0; n->type == SN_MAP && i + 1 < n->nkids; i += 2) {
		struct buf p = BUF_INIT;
		struct sw_err err = {0};
		json_t *j = NULL;
		buf_addf(&p, "%s%s%s", path, *path ? "." : "", n->kids[i]->text);
		struct buf full = BUF_INIT;
		buf_addf(&full, "%s.%s", kind, p.s);
		w->paths++;
		if (spec_ref_explain(&j, full.s, false, &err) < 0) {
			buf_addf(&w->bad, "  %s: %s\n", w->file, err.msg);
		} else {
			const char *type = json_string_value(json_object_get(j, "type"));
			const struct snode *v = n->kids[i + 1];
			if (strcmp(type, "object") == 0)
				walk_example(w, kind, p.s, v);
			else if (strncmp(type, "list of object", 14) == 0 && v->type == SN_SEQ)
				for (size_t k = 0; k < v->nkids; k++)
					walk_example(w, kind, p.s, v->kids[k]);
			else if (strcmp(type, "map of object") == 0 && v->type == SN_MAP) /* jobs */
				for (size_t k = 1; k < v->nkids; k += 2)
					walk_example(w, kind, p.s, v->kids[k]);
		}
		json_decref(j);
		buf_release(&p);
		buf_release(&full);
	}
}

static void walk_yaml(struct example_walk *w, const char *text, size_t len)
{
	struct snode **docs = NULL;
	size_t ndocs = 0;
	struct sw_err err = {0};
	if (snode_from_yaml(&docs, &ndocs, text, len, w->file, &err) < 0)
		return; /* a fragment (env: {...} alone): not a document */
	for (size_t i = 0; i < ndocs; i++) {
		const struct snode *kind = snode_get(docs[i], "kind");
		if (kind && kind->type == SN_SCALAR && spec_ref_kind_find(kind->text, NULL))
			walk_example(w, kind->text, "", docs[i]);
		snode_free(docs[i]);
	}
	free(docs);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	if (!f)
		fail_msg("cannot read %s", path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return buf_detach(&b);
}

static void test_spec_reference__every_path_of_the_docs_examples_explains(void **state)
{
	struct example_walk w = {.bad = BUF_INIT};
	static const char *const dirs[] = {"docs", "examples", "examples/pipeline"};
	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		char dir[1024];
		source_path(dir, sizeof(dir), dirs[d]);
		DIR *dh = opendir(dir);
		assert_non_null(dh);
		struct dirent *de;
		while ((de = readdir(dh))) {
			size_t nl = strlen(de->d_name);
			bool md = nl > 3 && strcmp(de->d_name + nl - 3, ".md") == 0;
			bool yaml = nl > 5 && strcmp(de->d_name + nl - 5, ".yaml") == 0;
			if (!md && !yaml)
				continue;
			char path[1200];
			size_t len;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			char *text = slurp(path, &len);
			w.file = de->d_name;
			if (yaml) {
				walk_yaml(&w, text, len);
			} else {
				/* each ```yaml block */
				for (char *p = text; (p = strstr(p, "```yaml\n"));) {
					p += 8;
					char *end = strstr(p, "\n```");
					if (!end)
						break;
					walk_yaml(&w, p, (size_t)(end - p) + 1);
					p = end + 4;
				}
			}
			free(text);
		}
		closedir(dh);
	}
	if (w.bad.len)
		fail_msg("paths of the docs' examples that do not explain:\n%s", w.bad.s);
	assert_true(w.paths > 100);
	buf_release(&w.bad);
}

int main(void)
{
	gitops_kinds_register(); /* the kinds the binary reads, in src/main.c's order */
	env_kinds_register();
	pipeline_kinds_register();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_reference__every_field_has_a_description),
		cmocka_unit_test(test_spec_reference__every_description_names_a_field),
		cmocka_unit_test(test_spec_reference__every_field_path_explains),
		cmocka_unit_test(test_spec_reference__every_field_path_has_a_document),
		cmocka_unit_test(test_spec_reference__defaults_are_the_parsers),
		cmocka_unit_test(test_spec_reference__field_shows_type_range_required_and_fields),
		cmocka_unit_test(test_spec_reference__kinds_are_spelled_as_kubectl_users_do),
		cmocka_unit_test(test_spec_reference__registered_kinds_are_listed),
		cmocka_unit_test(test_spec_reference__typo_gets_did_you_mean),
		cmocka_unit_test(test_spec_reference__recursive_reaches_every_leaf),
		cmocka_unit_test(test_spec_reference__every_path_of_the_docs_examples_explains),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
