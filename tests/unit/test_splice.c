/*
 * splice tests: the write-back's replacement of one App document in
 * files as users write them (multi-document files, comments, CRLF, a
 * last document without a newline), and what cannot be spliced.
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
#include "gitops/splice.h"

/* splice(head, old, app) as a string the caller frees, or NULL with err */
static char *splice(const char *head, const char *old, const char *app, struct sw_err *err)
{
	struct buf out = BUF_INIT;
	if (splice_app(&out, head, strlen(head), "head.yaml", old, strlen(old), "old.yaml", app,
		       err) < 0) {
		buf_release(&out);
		return NULL;
	}
	buf_adds(&out, "");
	return buf_detach(&out);
}

static void expect(const char *head, const char *old, const char *app, const char *want)
{
	struct sw_err err = {0};
	char *got = splice(head, old, app, &err);
	if (!got)
		fail_msg("splice failed: %s", err.msg);
	assert_string_equal(got, want);
	free(got);
}

#define HELLO2 "apiVersion: slipway/v1\nkind: App\nmetadata: {name: hello}\nspec: {version: \"2.0.0\"}\n"
#define HELLO1 "apiVersion: slipway/v1\nkind: App\nmetadata: {name: hello}\nspec: {version: \"1.0.0\"}\n"
#define OTHER "apiVersion: slipway/v1\nkind: App\nmetadata:\n  name: other\nspec: {version: \"9\"}\n"

static void test_splice__one_document_file(void **state)
{
	(void)state;
	expect(HELLO2, HELLO1, "hello", HELLO1);
}

/* hello between a preamble and another app: only its lines change */
static void test_splice__multi_document_keeps_the_others(void **state)
{
	(void)state;
	const char *head = "# the shop's apps\n---\n" HELLO2 "---   # other\n" OTHER;
	const char *want = "# the shop's apps\n---\n" HELLO1 "---   # other\n" OTHER;
	expect(head, HELLO1, "hello", want);
	/* hello last, and the other app untouched whatever hello was in old */
	head = OTHER "---\n" HELLO2;
	expect(head, "---\n" OTHER "---\n" HELLO1, "hello", OTHER "---\n" HELLO1);
	/* an App of the same name elsewhere is not confused with a template */
	head = "kind: AnalysisTemplate\nmetadata: {name: hello}\n---\n" HELLO2;
	expect(head, HELLO1, "hello", "kind: AnalysisTemplate\nmetadata: {name: hello}\n---\n" HELLO1);
}

/* comments inside the old body come with it; comments of head elsewhere stay */
static void test_splice__comments(void **state)
{
	(void)state;
	const char *old = "# hello, as it was\napiVersion: slipway/v1\nkind: App  # the app\n"
			  "metadata: {name: hello}\nspec:\n  version: \"1.0.0\" # old\n";
	const char *head = "---\n# hello\n" HELLO2 "# other follows\n---\n# other\n" OTHER
			   "# the end\n";
	const char *want = "---\n" "# hello, as it was\napiVersion: slipway/v1\nkind: App  # the app\n"
			   "metadata: {name: hello}\nspec:\n  version: \"1.0.0\" # old\n"
			   "---\n# other\n" OTHER "# the end\n";
	expect(head, old, "hello", want);
	/* a "---" inside a comment or a string is no separator */
	head = HELLO2 "# --- not a marker\nx: \"---\"\n---\n" OTHER;
	expect(head, HELLO1, "hello", HELLO1 "---\n" OTHER);
}

/* head's line ends win: CRLF in, CRLF out; LF in from a CRLF old file too */
static void test_splice__crlf(void **state)
{
	(void)state;
	const char *head = "kind: App\r\nmetadata: {name: other}\r\n---\r\nkind: App\r\n"
			   "metadata: {name: hello}\r\nspec: {version: \"2\"}\r\n";
	const char *old = "kind: App\nmetadata: {name: hello}\nspec: {version: \"1\"}\n";
	expect(head, old, "hello",
	       "kind: App\r\nmetadata: {name: other}\r\n---\r\nkind: App\r\n"
	       "metadata: {name: hello}\r\nspec: {version: \"1\"}\r\n");
	const char *old_dos = "kind: App\r\nmetadata: {name: hello}\r\nspec: {version: \"1\"}\r\n";
	expect("kind: App\nmetadata: {name: hello}\n---\nkind: App\nmetadata: {name: x}\n", old_dos,
	       "hello", "kind: App\nmetadata: {name: hello}\nspec: {version: \"1\"}\n---\nkind: App\n"
			"metadata: {name: x}\n");
}

/* a last document without a newline stays without; one before another gets one */
static void test_splice__no_newline_at_the_end(void **state)
{
	(void)state;
	expect(OTHER "---\nkind: App\nmetadata: {name: hello}\nspec: {version: \"2\"}",
	       "kind: App\nmetadata: {name: hello}\nspec: {version: \"1\"}\n", "hello",
	       OTHER "---\nkind: App\nmetadata: {name: hello}\nspec: {version: \"1\"}");
	expect("kind: App\nmetadata: {name: hello}\nspec: {version: \"2\"}\n---\n" OTHER,
	       OTHER "---\nkind: App\nmetadata: {name: hello}\nspec: {version: \"1\"}", "hello",
	       "kind: App\nmetadata: {name: hello}\nspec: {version: \"1\"}\n---\n" OTHER);
}

/* "..." ends a document; what follows it up to the next "---" stays */
static void test_splice__document_end_marker(void **state)
{
	(void)state;
	const char *head = HELLO2 "...\n# between\n---\n" OTHER;
	expect(head, HELLO1, "hello", HELLO1 "...\n# between\n---\n" OTHER);
}

static void test_splice__refusals(void **state)
{
	(void)state;
	struct sw_err err = {0};
	assert_null(splice(OTHER, HELLO1, "hello", &err));
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_string_equal(err.msg, "head.yaml: no App document \"hello\"");
	err = (struct sw_err){0};
	assert_null(splice(HELLO2, OTHER, "hello", &err));
	assert_string_equal(err.msg, "old.yaml: no App document \"hello\"");
	err = (struct sw_err){0};
	assert_null(splice(HELLO2 "---\n" HELLO2, HELLO1, "hello", &err));
	assert_int_equal(err.code, SW_EINVAL);
	assert_string_equal(err.msg, "head.yaml: app \"hello\" is defined twice in the file");
	err = (struct sw_err){0};
	assert_null(splice("--- {kind: App, metadata: {name: hello}}\n", HELLO1, "hello", &err));
	assert_int_equal(err.code, SW_EINVAL);
	assert_non_null(strstr(err.msg, "starts on its \"---\" line"));
	/* a document that does not parse is not the app, and breaks nothing else */
	expect("key: [unclosed\n---\n" HELLO2, HELLO1, "hello", "key: [unclosed\n---\n" HELLO1);
}

/* random files of documents: every other byte survives */
static void test_splice__random_files_keep_other_documents(void **state)
{
	(void)state;
	static const char *const parts[] = {OTHER, "# c\n", "kind: AnalysisTemplate\nmetadata: {name: t}\n",
					    "\n", "kind: App\nmetadata: {name: z}\n"};
	srand(12);
	for (int round = 0; round < 500; round++) {
		struct buf before = BUF_INIT, after = BUF_INIT, head = BUF_INIT, want = BUF_INIT;
		int nb = rand() % 4, na = rand() % 4;
		for (int i = 0; i < nb; i++)
			buf_addf(&before, "%s---\n", parts[rand() % 5]);
		for (int i = 0; i < na; i++)
			buf_addf(&after, "---\n%s", parts[rand() % 5]);
		buf_addf(&head, "%s%s%s", buf_str(&before), HELLO2, buf_str(&after));
		buf_addf(&want, "%s%s%s", buf_str(&before), HELLO1, buf_str(&after));
		expect(head.s, HELLO1, "hello", want.s);
		buf_release(&before);
		buf_release(&after);
		buf_release(&head);
		buf_release(&want);
	}
}

/* set_version(text, app, version) as a string the caller frees, or NULL */
static char *set_version(const char *text, const char *app, const char *version, struct sw_err *err)
{
	struct buf out = BUF_INIT;
	if (splice_set_version(&out, text, strlen(text), "envs.yaml", app, version, err) < 0) {
		buf_release(&out);
		return NULL;
	}
	buf_adds(&out, "");
	return buf_detach(&out);
}

static void expect_version(const char *text, const char *app, const char *version, const char *want)
{
	struct sw_err err = {0};
	char *got = set_version(text, app, version, &err);
	if (!got)
		fail_msg("set_version failed: %s", err.msg);
	assert_string_equal(got, want);
	free(got);
}

#define IN_ENV(env, style) "apiVersion: slipway/v1\nkind: App\nmetadata: {name: hello, environment: " env \
	"}\nspec:\n  version: " style "   # the release\n  replicas: 2\n"

/* a promotion's write-back: the version of the App in the environment
 * promoted into, whatever its style, and nothing else */
static void test_splice__set_version_in_its_environment(void **state)
{
	(void)state;
	const char *file = "# both\n---\n" IN_ENV("staging", "\"1.2.0\"") "---\n" IN_ENV("prod", "1.1.0");
	expect_version(file, "prod/hello", "1.2.0",
		       "# both\n---\n" IN_ENV("staging", "\"1.2.0\"") "---\n" IN_ENV("prod", "\"1.2.0\""));
	expect_version(file, "staging/hello", "1.3.0",
		       "# both\n---\n" IN_ENV("staging", "\"1.3.0\"") "---\n" IN_ENV("prod", "1.1.0"));
	/* single quotes, flow style, a version that needs escapes */
	expect_version(IN_ENV("prod", "'1.1.0'"), "prod/hello", "1.2.0", IN_ENV("prod", "\"1.2.0\""));
	expect_version("kind: App\nmetadata: {name: hello}\nspec: {version: 1.0.0, replicas: 1}\n",
		       "hello", "2.0.0-rc\"1",
		       "kind: App\nmetadata: {name: hello}\nspec: {version: \"2.0.0-rc\\\"1\", replicas: 1}\n");
	/* the default environment: no metadata.environment (or "default") */
	expect_version("kind: App\nmetadata: {name: hello, environment: default}\nspec: {version: \"1\"}\n",
		       "hello", "2", "kind: App\nmetadata: {name: hello, environment: default}\nspec: {version: \"2\"}\n");
	/* CRLF stays */
	expect_version("kind: App\r\nmetadata: {name: hello}\r\nspec:\r\n  version: \"1\"\r\n", "hello", "2",
		       "kind: App\r\nmetadata: {name: hello}\r\nspec:\r\n  version: \"2\"\r\n");
	/* the same version: the same text */
	expect_version(IN_ENV("prod", "\"1.2.0\""), "prod/hello", "1.2.0", IN_ENV("prod", "\"1.2.0\""));
	struct sw_err err = {0};
	assert_null(set_version(IN_ENV("prod", "1.1.0"), "staging/hello", "2", &err));
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_string_equal(err.msg, "envs.yaml: no App document \"staging/hello\"");
	struct sw_err err2 = {0};
	assert_null(set_version("kind: App\nmetadata: {name: hello}\nspec: {replicas: 1}\n", "hello", "2", &err2));
	assert_string_equal(err2.msg, "envs.yaml: app \"hello\" has no spec.version to set");
}

/* patch_version(text, key, version) as a string the caller frees; fails the test on error */
static char *patch_version(const char *text, const char *key, const char *version)
{
	struct buf out = BUF_INIT;
	struct sw_err err = {0};
	if (splice_patch_version(&out, text, strlen(text), "envs/prod/hello.yaml", key, version, &err) < 0)
		fail_msg("%s", err.msg);
	return buf_detach(&out);
}

#define PATCH_OF(env) "apiVersion: slipway/v1\nkind: Patch\nmetadata: {name: hello, environment: " env "}\n"

/* A promotion into an app from a base sets the release in the Patch of its
 * environment: in place, or as spec's first key, or in a new document. */
static void test_splice__patch_version_set_added_or_new(void **state)
{
	(void)state;
	char *got = patch_version("# prod\n" PATCH_OF("prod") "spec:\n  version: '1.0'   # promoted\n  replicas: 3\n",
				  "prod/hello", "1.1.0");
	assert_string_equal(got, "# prod\n" PATCH_OF("prod") "spec:\n  version: \"1.1.0\"   # promoted\n  replicas: 3\n");
	free(got);
	/* no version yet: a line before the first key, as indented */
	got = patch_version(PATCH_OF("prod") "spec:\n    replicas: 3\n    route: {listen: x}\n", "prod/hello", "2");
	assert_string_equal(got, PATCH_OF("prod") "spec:\n    version: \"2\"\n    replicas: 3\n    route: {listen: x}\n");
	free(got);
	/* a flow mapping, empty or not */
	got = patch_version(PATCH_OF("prod") "spec: {replicas: 3}\n", "prod/hello", "2");
	assert_string_equal(got, PATCH_OF("prod") "spec: {version: \"2\", replicas: 3}\n");
	free(got);
	got = patch_version(PATCH_OF("prod") "spec: {}\n", "prod/hello", "2");
	assert_string_equal(got, PATCH_OF("prod") "spec: {version: \"2\"}\n");
	free(got);
	/* the other environment's Patch and an App of the name are not it */
	const char *two = PATCH_OF("staging") "spec: {replicas: 1}\n---\n" PATCH_OF("prod") "spec: {replicas: 3}\n";
	got = patch_version(two, "prod/hello", "2");
	assert_string_equal(got, PATCH_OF("staging") "spec: {replicas: 1}\n---\n" PATCH_OF("prod")
				 "spec: {version: \"2\", replicas: 3}\n");
	free(got);
	struct buf out = BUF_INIT;
	struct sw_err err = {0};
	const char *app = "kind: App\nmetadata: {name: hello, environment: prod}\nspec: {version: \"1\"}\n";
	assert_int_equal(splice_patch_version(&out, app, strlen(app), "a.yaml", "prod/hello", "2", &err),
			 SW_ENOTFOUND);
	assert_string_equal(err.msg, "a.yaml: no Patch document \"prod/hello\"");
	/* none at all: a new document, in a file of its own or after others */
	splice_patch_add(&out, "", 0, "prod/hello", "1.1.0");
	assert_string_equal(buf_str(&out), "# hello's release in prod, written by a promotion\n"
					   PATCH_OF("prod") "spec:\n  version: \"1.1.0\"\n");
	buf_reset(&out);
	const char *other = "kind: App\r\nmetadata: {name: other}";
	splice_patch_add(&out, other, strlen(other), "prod/hello", "1");
	assert_string_equal(buf_str(&out), "kind: App\r\nmetadata: {name: other}\r\n---\r\n"
					   "# hello's release in prod, written by a promotion\r\n"
					   "apiVersion: slipway/v1\r\nkind: Patch\r\n"
					   "metadata: {name: hello, environment: prod}\r\nspec:\r\n  version: \"1\"\r\n");
	buf_release(&out);
}

int main(void)
{
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_splice__one_document_file),
		cmocka_unit_test(test_splice__multi_document_keeps_the_others),
		cmocka_unit_test(test_splice__comments),
		cmocka_unit_test(test_splice__crlf),
		cmocka_unit_test(test_splice__no_newline_at_the_end),
		cmocka_unit_test(test_splice__document_end_marker),
		cmocka_unit_test(test_splice__refusals),
		cmocka_unit_test(test_splice__random_files_keep_other_documents),
		cmocka_unit_test(test_splice__set_version_in_its_environment),
		cmocka_unit_test(test_splice__patch_version_set_added_or_new),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
