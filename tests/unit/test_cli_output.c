/*
 * cli output (src/cli/output.c): the YAML printer round-trips through a
 * real YAML parser (libfyaml) under the YAML 1.2 core schema, quotes
 * every string a reader could take for something else, and never writes
 * a control character; -o parses its four formats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <libfyaml.h>

#include "cli/cli_int.h"
#include "core/core.h"

/* A plain scalar as the YAML 1.2 core schema types it; a quoted one is a string. */
static json_t *scalar_json(struct fy_node *n)
{
	size_t len;
	const char *s = fy_node_get_scalar(n, &len);
	char *text = strndup(s, len);
	json_t *j = NULL;
	if (fy_node_get_style(n) != FYNS_PLAIN) {
		j = json_stringn(text, len);
	} else if (len == 0 || strcmp(text, "~") == 0 || strcasecmp(text, "null") == 0) {
		j = json_null();
	} else if (strcasecmp(text, "true") == 0 || strcasecmp(text, "false") == 0) {
		j = json_boolean(strcasecmp(text, "true") == 0);
	} else {
		j = json_loads(text, JSON_DECODE_ANY, NULL);
		if (!json_is_number(j)) {
			json_decref(j);
			j = json_stringn(text, len);
		}
	}
	free(text);
	return j;
}

static json_t *node_json(struct fy_node *n)
{
	void *it = NULL;
	if (fy_node_get_type(n) == FYNT_SCALAR)
		return scalar_json(n);
	if (fy_node_get_type(n) == FYNT_SEQUENCE) {
		json_t *a = json_array();
		struct fy_node *x;
		while ((x = fy_node_sequence_iterate(n, &it)))
			json_array_append_new(a, node_json(x));
		return a;
	}
	json_t *o = json_object();
	struct fy_node_pair *p;
	while ((p = fy_node_mapping_iterate(n, &it))) {
		size_t len;
		const char *k = fy_node_get_scalar(fy_node_pair_key(p), &len);
		char *key = strndup(k, len);
		json_object_set_new(o, key, node_json(fy_node_pair_value(p)));
		free(key);
	}
	return o;
}

/* Prints j as YAML, checks the text is terminal-safe, and parses it back. */
static json_t *round_trip(json_t *j, struct buf *text)
{
	buf_reset(text);
	cli_yaml_emit(text, j);
	for (size_t i = 0; i < text->len; i++) {
		unsigned char ch = (unsigned char)text->s[i];
		if ((ch < 0x20 && ch != '\n') || ch == 0x7f ||
		    (ch == 0xc2 && i + 1 < text->len && (unsigned char)text->s[i + 1] <= 0x9f))
			fail_msg("raw control byte 0x%02x at %zu in:\n%s", ch, i, text->s);
	}
	struct fy_document *d = fy_document_build_from_string(NULL, text->s, text->len);
	if (!d)
		fail_msg("libfyaml cannot read:\n%s", text->s);
	json_t *back = node_json(fy_document_root(d));
	fy_document_destroy(d);
	return back;
}

static void check_same(json_t *j)
{
	struct buf text = BUF_INIT;
	json_t *back = round_trip(j, &text);
	if (!json_equal(j, back)) {
		char *a = json_dumps(j, JSON_ENCODE_ANY), *b = json_dumps(back, JSON_ENCODE_ANY);
		fail_msg("round trip changed %s into %s via:\n%s", a, b, text.s);
	}
	json_decref(back);
	buf_release(&text);
}

static const char *const tricky[] = {
	"", "yes", "no", "on", "off", "y", "n", "Yes", "NO", "True", "false", "null", "Null", "~",
	"1", "1.0", "-1", "+1", ".5", "0x1F", "0o17", "1e3", ".inf", ".NaN", "2026-12-02",
	"12:30", "1.0.0", " lead", "trail ", "a: b", "a:b", "key:", "#x", "a #b", "- x", "-", "?",
	"[a]", "{a}", "&a", "*a", "!t", "|", ">", "'q'", "\"q\"", "%x", "@x", "`x`", "a,b",
	"multi\nline", "tab\there", "cr\r", "\x01ctl", "del\x7f", "c1\xc2\x85x", "ls\xe2\x80\xa8x",
	"bom\xef\xbb\xbfx", "back\\slash", "ünïcødé", "plain words", "hello-rolling", "/a/b",
	"${PORT}", "a=b", NULL,
};

static void test_cli_output__yaml_strings_round_trip(void **state)
{
	for (size_t i = 0; tricky[i]; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "v", json_string(tricky[i]));
		json_object_set_new(o, tricky[i], json_string("key"));
		json_t *a = json_pack("[s]", tricky[i]);
		check_same(o);
		check_same(a);
		check_same(json_object_get(o, "v"));
		json_decref(o);
		json_decref(a);
	}
}

static void test_cli_output__yaml_shapes_round_trip(void **state)
{
	json_t *j = json_loads(
		"{\"apps\": [{\"name\": \"hello\", \"replicas\": 3, \"weight\": null, \"ok\": true,"
		" \"bad\": false, \"ratio\": 0.25, \"whole\": 1.0, \"big\": 1e100, \"neg\": -7,"
		" \"labels\": {}, \"steps\": [], \"nested\": [[1, [2, {}]], {\"a\": [{\"b\": {\"c\": []}}]}],"
		" \"stable\": {\"revision\": 1, \"version\": \"1.0.0\"}}, {\"name\": \"x\"}],"
		" \"empty\": {}, \"list\": [], \"top\": \"yes\"}", 0, NULL);
	assert_non_null(j);
	check_same(j);
	json_decref(j);
	json_t *scalars[] = {json_integer(5), json_null(), json_array(), json_object(), json_real(2.5)};
	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		check_same(scalars[i]);
		json_decref(scalars[i]);
	}
}

static void test_cli_output__yaml_reads_like_kubectl(void **state)
{
	json_t *j = json_loads("{\"name\": \"hello\", \"version\": \"1.0.0\", \"labels\": {\"team\": \"web\"},"
			       " \"items\": [{\"a\": 1, \"b\": \"yes\"}, \"z\"]}", 0, NULL);
	struct buf b = BUF_INIT;
	cli_yaml_emit(&b, j);
	assert_string_equal(b.s, "name: hello\n"
				 "version: \"1.0.0\"\n"
				 "labels:\n"
				 "  team: web\n"
				 "items:\n"
				 "  - a: 1\n"
				 "    b: \"yes\"\n"
				 "  - z\n");
	buf_release(&b);
	json_decref(j);
}

static void test_cli_output__output_formats(void **state)
{
	int v = -1;
	assert_int_equal(cli_output_parse(&v, "json"), 0);
	assert_int_equal(v, CLI_OUT_JSON);
	assert_int_equal(cli_output_parse(&v, "yaml"), 0);
	assert_int_equal(v, CLI_OUT_YAML);
	assert_int_equal(cli_output_parse(&v, "wide"), 0);
	assert_int_equal(v, CLI_OUT_WIDE);
	assert_int_equal(cli_output_parse(&v, "name"), 0);
	assert_int_equal(v, CLI_OUT_NAME);
	assert_int_equal(cli_output_parse(&v, "xml"), -1);
	assert_int_equal(cli_output_parse(&v, ""), -1);
	assert_int_equal(cli_output_of(CLI_OUT_YAML, true), CLI_OUT_JSON);
	assert_int_equal(cli_output_of(CLI_OUT_WIDE, false), CLI_OUT_WIDE);
}

/* --since, for events and logs alike: a duration back from now or an RFC 3339 time. */
static void test_cli_output__since(void **state)
{
	int64_t v = 0;
	int64_t before = sw_wall_ms();
	assert_int_equal(cli_since_parse(&v, "10m"), 0);
	assert_true(v >= before - 600000 && v <= sw_wall_ms() - 600000);
	assert_int_equal(cli_since_parse(&v, "2026-12-02T05:00:00Z"), 0);
	assert_int_equal(v, 1796187600000LL);
	assert_int_equal(cli_since_parse(&v, "2026-12-02T05:00:00.25Z"), 0);
	assert_int_equal(v, 1796187600250LL);
	assert_int_equal(cli_since_parse(&v, "2026-12-02T06:30:00+01:30"), 0);
	assert_int_equal(v, 1796187600000LL);
	assert_int_equal(cli_since_parse(&v, "100000000h"), 0);
	assert_int_equal(v, 1); /* before the epoch: from the start */
	const char *bad[] = {"", "yesterday", "2026-12-02", "2026-12-02T05:00:00", "2026-13-02T05:00:00Z",
			     "2026-12-02T05:00:00.Z", "2026-12-02T05:00:00Zx", "2026-12-02T05:00:00+1:00",
			     /* signs and blanks where digits go (sscanf took them; fuzz_since) */
			     "2026-12-+2T05:00:00Z", "2026-12- 2T05:00:00Z", "2026-12-02T05:00:00+-1:00"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cli_since_parse(&v, bad[i]), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli_output__yaml_strings_round_trip),
		cmocka_unit_test(test_cli_output__yaml_shapes_round_trip),
		cmocka_unit_test(test_cli_output__yaml_reads_like_kubectl),
		cmocka_unit_test(test_cli_output__output_formats),
		cmocka_unit_test(test_cli_output__since),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
