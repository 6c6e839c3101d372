/* src/pipeline/server.h's pure part: GitHub's filter patterns and what a push runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline/pipeline.h"
#include "pipeline/server.h"
#include "unit_util.h"

static void test_pipeline_server__glob_is_githubs(void **state)
{
	(void)state;
	assert_true(pipeline_glob("main", "main"));
	assert_false(pipeline_glob("main", "mainx"));
	assert_true(pipeline_glob("release/*", "release/1.0"));
	assert_false(pipeline_glob("release/*", "release/1.0/fix"));
	assert_true(pipeline_glob("release/**", "release/1.0/fix"));
	assert_true(pipeline_glob("docs/**", "docs/a/b.md"));
	assert_true(pipeline_glob("**/*.md", "a/b/c.md"));
	assert_true(pipeline_glob("**/*.md", "c.md"));
	assert_true(pipeline_glob("*.md", "readme.md"));
	assert_false(pipeline_glob("*.md", "docs/readme.md"));
	assert_true(pipeline_glob("src/**/test.c", "src/test.c"));
	assert_true(pipeline_glob("v?", "v1"));
	assert_false(pipeline_glob("v?", "v/"));
	assert_true(pipeline_glob("**", "anything/at/all"));
	assert_false(pipeline_glob("", "x"));
	assert_true(pipeline_glob("", ""));
	assert_true(pipeline_glob("a/**/b", "a/b"));
	assert_true(pipeline_glob("a/**/b", "a/x/y/b"));
	assert_false(pipeline_glob("a/**/b", "a/xb"));
	assert_true(pipeline_glob("a/**", "a/"));
	assert_false(pipeline_glob("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac"));
}

static void test_pipeline_server__filter_last_match_decides(void **state)
{
	(void)state;
	char *pats[] = {"release/**", "!release/**-alpha", "release/1.0-alpha"};
	assert_true(pipeline_filter(pats, 3, "release/2.0"));
	assert_false(pipeline_filter(pats, 3, "release/2.0-alpha"));
	assert_true(pipeline_filter(pats, 3, "release/1.0-alpha"));
	assert_false(pipeline_filter(pats, 3, "main"));
	assert_false(pipeline_filter(pats, 0, "main"));
}

static struct pipeline *doc(struct spec_set *set, const char *on)
{
	char text[1024];
	struct sw_err err = {0};
	snprintf(text, sizeof(text),
		 "apiVersion: slipway/v1\nkind: Pipeline\nmetadata: {name: ci}\nspec:\n  on: %s\n"
		 "  jobs:\n    a:\n      steps: [{run: 'true'}]\n", on);
	memset(set, 0, sizeof(*set));
	if (spec_parse_text(set, text, strlen(text), "p.yaml", &err) < 0)
		fail_msg("%s", err.msg);
	return set->docs[0].obj;
}

static void test_pipeline_server__push_matches_source_branches_paths(void **state)
{
	(void)state;
	struct spec_set set;
	const char *why;
	char *docs_only[] = {"docs/a.md", "README.md"}, *mixed[] = {"docs/a.md", "src/x.c"};

	struct pipeline *p = doc(&set, "{push: {branches: [main], paths-ignore: ['docs/**', '*.md']}}");
	assert_true(pipeline_push_matches(p, "shop", "shop", "refs/heads/main", NULL, 0, &why));
	assert_false(pipeline_push_matches(p, "shop", "other", "refs/heads/main", NULL, 0, &why));
	assert_string_equal(why, "it runs on pushes to another source");
	assert_true(pipeline_push_matches(p, "", "any", "refs/heads/main", NULL, 0, &why)); /* applied: any */
	assert_false(pipeline_push_matches(p, "shop", "shop", "refs/heads/dev", NULL, 0, &why));
	assert_string_equal(why, "the branch is not in its branches");
	assert_false(pipeline_push_matches(p, "shop", "shop", "refs/tags/v1", NULL, 0, &why));
	assert_false(pipeline_push_matches(p, "shop", "shop", "refs/heads/main", docs_only, 2, &why));
	assert_string_equal(why, "every changed file is in its paths-ignore");
	assert_true(pipeline_push_matches(p, "shop", "shop", "refs/heads/main", mixed, 2, &why));
	spec_set_release(&set);

	p = doc(&set, "{push: {source: shop, paths: ['src/**']}}");
	assert_false(pipeline_push_matches(p, "", "other", "refs/heads/x", NULL, 0, &why));
	assert_true(pipeline_push_matches(p, "", "shop", "refs/tags/v1", mixed, 2, &why));
	assert_false(pipeline_push_matches(p, "", "shop", "refs/heads/x", docs_only, 2, &why));
	assert_string_equal(why, "no changed file is in its paths");
	spec_set_release(&set);

	p = doc(&set, "{push: {branches-ignore: ['wip/*']}}");
	assert_false(pipeline_push_matches(p, "", "s", "refs/heads/wip/a", NULL, 0, &why));
	assert_string_equal(why, "the branch is in its branches-ignore");
	assert_true(pipeline_push_matches(p, "", "s", "refs/heads/main", NULL, 0, &why));
	spec_set_release(&set);

	p = doc(&set, "manual");
	assert_false(pipeline_push_matches(p, "", "s", "refs/heads/main", NULL, 0, &why));
	assert_string_equal(why, "it has no on: push");
	spec_set_release(&set);
}

/* The fuzz target's corpus: patterns, NUL, a name; each input matched
 * (the "stars" and "globstars" inputs took exponential time with a
 * backtracking matcher). */
static void replay(const char *file, const char *data, size_t len)
{
	(void)file;
	size_t plen = strnlen(data, len);
	char *pats = strndup(data, plen), *name = strndup(plen < len ? data + plen + 1 : "", len);
	char *v[64];
	size_t n = 0;
	for (char *line = pats; line && n < 64;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		v[n++] = line;
		line = nl ? nl + 1 : NULL;
	}
	(void)pipeline_filter(v, n, name);
	free(pats);
	free(name);
}

static void test_pipeline_server__fuzz_corpus_replays(void **state)
{
	(void)state;
	assert_true(unit_corpus_replay("pipeline_filter", replay) >= 5);
}

int main(void)
{
	pipeline_kinds_register();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline_server__glob_is_githubs),
		cmocka_unit_test(test_pipeline_server__filter_last_match_decides),
		cmocka_unit_test(test_pipeline_server__push_matches_source_branches_paths),
		cmocka_unit_test(test_pipeline_server__fuzz_corpus_replays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
