/*
 * env: the Environment document and its rules. What users rely on: the
 * fields read as docs/environments.md writes them, every mistake is
 * positioned, the stored form reads back, port ranges that overlap are
 * seen, and a listen address is allowed exactly when a pattern covers it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "env/env.h"

#include <unistd.h>

#define HEAD "apiVersion: slipway/v1\nkind: Environment\nmetadata: {name: staging}\n"

static struct env_spec *parse_ok(const char *yaml)
{
	struct spec_set set;
	struct sw_err err = {0};
	if (spec_parse_text(&set, yaml, strlen(yaml), "env.yaml", &err) != 0)
		fail_msg("unexpected error: %s", err.msg);
	assert_int_equal(set.ndocs, 1);
	assert_ptr_equal(set.docs[0].kind, &env_kind);
	/* through the stored form, as the engine reads it back */
	json_t *j = env_kind.to_json(set.docs[0].obj);
	struct env_spec *e = NULL;
	if (env_spec_from_json(&e, j, &err) != 0)
		fail_msg("does not read back: %s", err.msg);
	json_t *again = env_kind.to_json(e);
	assert_true(json_equal(j, again));
	json_decref(again);
	json_decref(j);
	spec_set_release(&set);
	return e;
}

static const char *parse_err(const char *yaml)
{
	static struct sw_err err;
	struct spec_set set;
	memset(&err, 0, sizeof(err));
	if (spec_parse_text(&set, yaml, strlen(yaml), "env.yaml", &err) == 0) {
		spec_set_release(&set);
		fail_msg("parsed, but should not have: %s", yaml);
	}
	return err.msg;
}

static void test_env__document_as_the_docs_write_it(void **state)
{
	struct env_spec *e = parse_ok(HEAD "spec:\n  ports: 21000-21999\n"
				      "  listen: [\"127.0.0.1:9000-9099\", \"localhost:443\", \"*:8443\"]\n");
	assert_string_equal(e->name, "staging");
	assert_int_equal(e->port_min, 21000);
	assert_int_equal(e->port_max, 21999);
	assert_int_equal(e->nlisten, 3);
	char text[200];
	env_ports_text(text, sizeof(text), e);
	assert_string_equal(text, "21000-21999");
	env_listen_text(text, sizeof(text), e);
	assert_string_equal(text, "127.0.0.1:9000-9099, 127.0.0.1:443, *:8443");
	json_t *j = env_kind.to_json(e);
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(s, "{\"apiVersion\":\"slipway/v1\",\"kind\":\"Environment\",\"metadata\":"
			       "{\"name\":\"staging\"},\"spec\":{\"listen\":"
			       "[\"127.0.0.1:9000-9099\",\"127.0.0.1:443\",\"*:8443\"],\"ports\":"
			       "\"21000-21999\"}}");
	free(s);
	json_decref(j);
	env_spec_free(e);

	/* nothing but a name: the daemon's ports, any address */
	e = parse_ok(HEAD);
	assert_int_equal(e->port_min, 0);
	assert_int_equal(e->nlisten, 0);
	env_listen_text(text, sizeof(text), e);
	assert_string_equal(text, "any");
	env_spec_free(e);
}

static void test_env__mistakes_are_positioned(void **state)
{
	static const struct {
		const char *yaml, *msg;
	} cases[] = {
		{HEAD "spec: {ports: 21000}\n",
		 "env.yaml:4:15: ports must be a range of ports MIN-MAX from 1024 to 65535, like "
		 "21000-21999, got \"21000\""},
		{HEAD "spec: {ports: 22000-21000}\n", "env.yaml:4:15: ports must be a range"},
		{HEAD "spec: {ports: 80-90}\n", "env.yaml:4:15: ports must be a range"},
		{HEAD "spec: {ports: [1, 2]}\n", "env.yaml:4:15: ports must be a range of ports like"},
		{HEAD "spec: {listen: []}\n",
		 "env.yaml:4:16: listen must not be empty (leave it out to allow any address)"},
		{HEAD "spec: {listen: \"127.0.0.1:80\"}\n", "env.yaml:4:16: listen must be a list of addresses"},
		{HEAD "spec: {listen: [\"127.0.0.1\"]}\n",
		 "env.yaml:4:17: listen[0] must be \"HOST:PORT\" or \"HOST:MIN-MAX\""},
		{HEAD "spec: {listen: [\"example.com:80\"]}\n",
		 "env.yaml:4:17: listen[0]: the host of \"example.com:80\" must be an IP address, localhost or *"},
		{HEAD "spec: {listen: [\"127.0.0.1:90-80\"]}\n", "env.yaml:4:17: listen[0] must be \"HOST:PORT\""},
		{HEAD "spec: {port: 21000-21999}\n", "(did you mean \"ports\"?)"},
		{"apiVersion: slipway/v1\nkind: Environment\nmetadata: {name: default}\n",
		 "env.yaml:3:18: environment \"default\" always exists and takes no document"},
		{"apiVersion: slipway/v1\nkind: Environment\nmetadata: {name: Prod}\n",
		 "env.yaml:3:18: name must be lower-case letters"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *msg = parse_err(cases[i].yaml);
		if (!strstr(msg, cases[i].msg))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, msg, cases[i].msg);
	}
}

static void test_env__port_ranges_overlap(void **state)
{
	struct env_spec a = {.port_min = 21000, .port_max = 21999};
	struct env_spec b = {.port_min = 22000, .port_max = 22999};
	struct env_spec c = {.port_min = 21999, .port_max = 22000};
	struct env_spec none = {0};
	assert_false(env_ports_overlap(&a, &b));
	assert_true(env_ports_overlap(&a, &c));
	assert_true(env_ports_overlap(&c, &b));
	assert_true(env_ports_overlap(&a, &a));
	assert_false(env_ports_overlap(&a, &none));
	assert_false(env_ports_overlap(&none, &none));
}

static void test_env__listen_patterns_allow(void **state)
{
	struct env_spec *e = parse_ok(HEAD "spec:\n  listen: [\"127.0.0.1:9000-9099\", \"[::1]:443\", \"*:8443\"]\n");
	assert_true(env_listen_allows(e, "127.0.0.1:9000"));
	assert_true(env_listen_allows(e, "127.0.0.1:9099"));
	assert_false(env_listen_allows(e, "127.0.0.1:9100"));
	assert_false(env_listen_allows(e, "127.0.0.2:9000"));
	assert_true(env_listen_allows(e, "[::1]:443"));
	assert_false(env_listen_allows(e, "127.0.0.1:443"));
	assert_true(env_listen_allows(e, "0.0.0.0:8443"));
	assert_true(env_listen_allows(e, "[::]:8443"));
	assert_false(env_listen_allows(e, NULL));
	env_spec_free(e);
	e = parse_ok(HEAD);
	assert_true(env_listen_allows(e, "0.0.0.0:1"));
	env_spec_free(e);
}

#define R1 "age1gq3jfvpj0w05x0ygzkkh5a0aefqhafpvv2gd568zdf3vnzfs04qqza3ynx"
#define R2 "age1fazp6fguq06x7tvrzs8h9yhufmagknrsgureu4rpy6pkaw6xpfdqrue3nh"

static void test_env__windows_and_recipients_read_and_read_back(void **state)
{
	if (access(SW_TZ_DIR "/Europe/Berlin", R_OK) != 0)
		skip();
	struct env_spec *e = parse_ok(HEAD "spec:\n  windows:\n"
				      "    - {kind: deny, schedule: \"0 22 * * 5\", duration: 60h, "
				      "timeZone: Europe/Berlin}\n"
				      "    - {kind: allow, schedule: \"0 8 * * 1-5\", duration: 10h}\n"
				      "  recipients: [" R1 ", \"" R2 "\"]\n");
	assert_int_equal(e->nwindows, 2);
	assert_int_equal(e->windows[0].kind, SW_WINDOW_DENY);
	assert_string_equal(sw_tz_name(e->windows[0].tz), "Europe/Berlin");
	assert_int_equal(e->nrecipients, 2);
	char text[120];
	env_window_text(text, sizeof(text), &e->windows[0]);
	assert_string_equal(text, "deny \"0 22 * * 5\" 60h");
	json_t *j = env_kind.to_json(e);
	char *s = json_dumps(json_object_get(json_object_get(j, "spec"), "recipients"), JSON_COMPACT);
	assert_string_equal(s, "[\"" R1 "\",\"" R2 "\"]");
	free(s);
	json_decref(j);
	env_spec_free(e);
}

static void test_env__window_and_recipient_mistakes_are_positioned(void **state)
{
	static const struct {
		const char *yaml, *msg;
	} cases[] = {
		{HEAD "spec: {recipients: " R1 "}\n",
		 "env.yaml:4:20: recipients must be a list of age recipients (\"age1...\"), got"},
		{HEAD "spec: {recipients: []}\n", "env.yaml:4:20: recipients must not be empty"},
		{HEAD "spec: {recipients: [age1x]}\n",
		 "env.yaml:4:21: recipients[0]: \"age1x\" is not an age recipient"},
		{HEAD "spec: {recipients: [" R1 ", " R2 ", " R1 "]}\n",
		 "recipients[2]: the recipient is listed twice (first as recipients[0])"},
		{HEAD "spec: {recipients: [AGE-SECRET-KEY-1WY6L0RWWNQM8780VL6FEA4M0WMCYLVJXA9V5S8U8Q45SLQMKTT5QALJA57]}\n",
		 "recipients[0]: \"AGE-SECRET-KEY-1"},
		{HEAD "spec:\n  windows:\n    - {kind: never, schedule: \"@daily\", duration: 1h}\n",
		 "env.yaml:6:14: kind must be one of"},
		{HEAD "spec:\n  windows:\n    - {kind: deny, schedule: \"0 25 * * *\", duration: 1h}\n",
		 "env.yaml:6:30: schedule \"0 25 * * *\": cron field 2 (hour)"},
		{HEAD "spec:\n  windows:\n    - {kind: deny, schedule: \"@daily\", duration: 30s}\n",
		 "duration must be at least 1m"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *msg = parse_err(cases[i].yaml);
		if (!strstr(msg, cases[i].msg))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, msg, cases[i].msg);
	}
}

/* "2026-12-04 20:00" UTC, in ms: the tests' fake clock */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
	return (sw_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60) * 1000;
}

#define WEEKEND "    - {kind: deny, schedule: \"0 22 * * 5\", duration: 60h, timeZone: Europe/Berlin}\n"
#define OFFICE "    - {kind: allow, schedule: \"0 8 * * 1-5\", duration: 10h, timeZone: Europe/Berlin}\n"
#define LUNCH "    - {kind: allow, schedule: \"0 8 * * *\", duration: 10h}\n" \
	      "    - {kind: deny, schedule: \"0 12 * * *\", duration: 1h}\n"
#define NEVER -1 /* SW_WINDOW_NEVER, as a minute of the table */

/* The hold's answers, as the reason and `get environments` show them,
 * on a fake clock around the weekend of 2026-12-04 (a Friday). */
static void test_env__window_answers_say_until_when_in_the_deciding_zone(void **state)
{
	static const struct {
		const char *windows;          /* spec.windows' items; NULL: no spec */
		int now[5], until[5];         /* UTC y, m, d, h, min; until {NEVER} */
		bool allowed;
		const char *text;
	} cases[] = {
		/* Friday 22:00 CET is 21:00 UTC; 60h later is Monday 10:00 CET */
		{WEEKEND, {2026, 12, 4, 12, 0}, {2026, 12, 4, 21, 0}, true,
		 "open until 2026-12-04 22:00 Europe/Berlin (deny \"0 22 * * 5\" 60h starts then)"},
		{WEEKEND, {2026, 12, 5, 12, 0}, {2026, 12, 7, 9, 0}, false,
		 "denied until 2026-12-07 10:00 Europe/Berlin (deny \"0 22 * * 5\" 60h)"},
		/* office hours only: outside them, denied until the next opens */
		{OFFICE, {2026, 12, 5, 12, 0}, {2026, 12, 7, 7, 0}, false,
		 "denied until 2026-12-07 08:00 Europe/Berlin (no allow window is open; allow "
		 "\"0 8 * * 1-5\" 10h opens then)"},
		{OFFICE, {2026, 12, 7, 9, 0}, {2026, 12, 7, 17, 0}, true,
		 "open until 2026-12-07 18:00 Europe/Berlin (allow \"0 8 * * 1-5\" 10h)"},
		/* both: the deny window wins inside office hours */
		{LUNCH, {2026, 12, 7, 12, 30}, {2026, 12, 7, 13, 0}, false,
		 "denied until 2026-12-07 13:00 UTC (deny \"0 12 * * *\" 1h)"},
		/* none, and one that never lets go */
		{NULL, {2026, 12, 7, 12, 30}, {NEVER}, true, "open (no sync windows)"},
		{"    - {kind: deny, schedule: \"* * * * *\", duration: 1m}\n", {2026, 12, 7, 12, 30},
		 {NEVER}, false, "denied, and no window changes that within 400 days (deny \"* * * * *\" 1m)"},
	};
	if (access(SW_TZ_DIR "/Europe/Berlin", R_OK) != 0)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[512];
		snprintf(yaml, sizeof(yaml), HEAD "%s%s", cases[i].windows ? "spec:\n  windows:\n" : "",
			 cases[i].windows ? cases[i].windows : "");
		struct env_spec *e = parse_ok(yaml);
		const int *n = cases[i].now, *u = cases[i].until;
		int64_t until = u[0] == NEVER ? SW_WINDOW_NEVER : utc(u[0], u[1], u[2], u[3], u[4]);
		struct env_window_answer a;
		env_window_check(&a, e, utc(n[0], n[1], n[2], n[3], n[4]));
		if (a.allowed != cases[i].allowed || a.until_ms != until || strcmp(a.text, cases[i].text))
			fail_msg("case %zu: got %s until %lld: \"%s\"", i, a.allowed ? "open" : "denied",
				 (long long)a.until_ms, a.text);
		env_spec_free(e);
	}
	/* no document: the default environment */
	struct env_window_answer a;
	env_window_check(&a, NULL, utc(2026, 12, 7, 12, 30));
	assert_true(a.allowed && a.until_ms == SW_WINDOW_NEVER);
	assert_string_equal(a.text, "open (no sync windows)");
}

static void test_env__a_key_one_environment_lists_is_its_only(void **state)
{
	struct env_spec *prod = parse_ok("apiVersion: slipway/v1\nkind: Environment\n"
					 "metadata: {name: prod}\nspec: {recipients: [" R1 "]}\n");
	struct env_spec *staging = parse_ok(HEAD "spec: {recipients: [" R2 "]}\n");
	struct env_spec *dev = parse_ok("apiVersion: slipway/v1\nkind: Environment\n"
					"metadata: {name: dev}\n");
	const struct env_spec *all[] = {prod, staging, dev};
	struct age_recipient r1, r2, other;
	struct sw_err err = {0};
	assert_int_equal(age_recipient_parse(&r1, R1, &err), 0);
	assert_int_equal(age_recipient_parse(&r2, R2, &err), 0);
	memset(&other, 7, sizeof(other));
	assert_true(env_key_usable(prod, all, 3, &r1));
	assert_false(env_key_usable(prod, all, 3, &r2)); /* staging's key never opens prod's */
	assert_false(env_key_usable(prod, all, 3, &other));
	assert_true(env_key_usable(staging, all, 3, &r2));
	assert_false(env_key_usable(staging, all, 3, &r1));
	/* without recipients: the keys no environment lists */
	assert_true(env_key_usable(dev, all, 3, &other));
	assert_false(env_key_usable(dev, all, 3, &r1));
	assert_true(env_key_usable(NULL, all, 3, &other));
	assert_false(env_key_usable(NULL, all, 3, &r2));
	env_spec_free(prod);
	env_spec_free(staging);
	env_spec_free(dev);
}

static void test_env__promotion_as_the_docs_write_it(void **state)
{
	struct env_spec *e = parse_ok(HEAD "spec:\n  promotion:\n    from: dev\n    soak: 10m\n"
				      "    analysis: {templates: [golden]}\n    approvals: 2\n");
	assert_string_equal(e->promotion.from, "dev");
	assert_true(e->promotion.automatic);
	assert_int_equal(e->promotion.soak_ms, 600000);
	assert_int_equal(e->promotion.analysis.ntemplates, 1);
	assert_string_equal(e->promotion.analysis.templates[0], "golden");
	assert_int_equal(e->promotion.approvals, 2);
	assert_int_equal(e->promotion.approval_timeout_ms, ENV_APPROVAL_TIMEOUT_MS);
	assert_non_null(e->promotion.from_at);
	env_spec_free(e);

	e = parse_ok(HEAD "spec:\n  promotion: {from: dev, automatic: false, approvalTimeout: 2h}\n");
	assert_false(e->promotion.automatic);
	assert_int_equal(e->promotion.soak_ms, 0);
	assert_int_equal(e->promotion.analysis.ntemplates, 0);
	assert_int_equal(e->promotion.approval_timeout_ms, 7200000);
	env_spec_free(e);

	/* none: the stored form has no promotion at all */
	e = parse_ok(HEAD);
	assert_null(e->promotion.from);
	json_t *j = env_kind.to_json(e);
	assert_null(json_object_get(json_object_get(j, "spec"), "promotion"));
	json_decref(j);
	env_spec_free(e);
}

static void test_env__promotion_mistakes_are_positioned(void **state)
{
	static const struct {
		const char *yaml, *msg;
	} cases[] = {
		{HEAD "spec: {promotion: {soak: 10m}}\n", "env.yaml:4:8: missing required field \"from\" in spec.promotion"},
		{HEAD "spec: {promotion: {from: staging}}\n",
		 "env.yaml:4:26: spec.promotion.from is \"staging\", the environment itself"},
		{HEAD "spec: {promotion: {from: Dev}}\n", "env.yaml:4:26: from must be lower-case letters"},
		{HEAD "spec: {promotion: {from: dev, approvals: 17}}\n", "env.yaml:4:42: approvals must be"},
		{HEAD "spec: {promotion: {from: dev, soak: ten}}\n", "env.yaml:4:37: soak"},
		{HEAD "spec: {promotion: {from: dev, approval: 2}}\n", "(did you mean \"approvals\"?)"},
		{HEAD "spec: {promotion: {from: dev, analysis: {templates: []}}}\n", "env.yaml:4:"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *msg = parse_err(cases[i].yaml);
		if (!strstr(msg, cases[i].msg))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, msg, cases[i].msg);
	}
}

static struct env_spec chain_envs[4];

static const struct env_spec *chain_lookup(const char *name, void *data)
{
	for (size_t i = 0; i < 4; i++)
		if (chain_envs[i].name && strcmp(chain_envs[i].name, name) == 0)
			return &chain_envs[i];
	return NULL;
}

static void test_env__promotion_cycles_are_named(void **state)
{
	char chain[200];
	chain_envs[0] = (struct env_spec){.name = "dev"};
	chain_envs[1] = (struct env_spec){.name = "staging", .promotion = {.from = "dev"}};
	chain_envs[2] = (struct env_spec){.name = "prod", .promotion = {.from = "staging"}};
	assert_false(env_promotion_cycle("prod", chain_lookup, NULL, chain, sizeof(chain)));
	assert_string_equal(chain, "");
	/* dev from prod closes it */
	chain_envs[0].promotion.from = "prod";
	assert_true(env_promotion_cycle("dev", chain_lookup, NULL, chain, sizeof(chain)));
	assert_string_equal(chain, "dev -> prod -> staging -> dev");
	assert_true(env_promotion_cycle("staging", chain_lookup, NULL, chain, sizeof(chain)));
	assert_string_equal(chain, "staging -> dev -> prod -> staging");
	/* a cycle the walk enters but that does not pass through the start is
	 * that cycle's to report */
	chain_envs[0].promotion.from = "staging";
	chain_envs[3] = (struct env_spec){.name = "qa", .promotion = {.from = "dev"}};
	assert_false(env_promotion_cycle("qa", chain_lookup, NULL, chain, sizeof(chain)));
	assert_true(env_promotion_cycle("dev", chain_lookup, NULL, chain, sizeof(chain)));
	assert_string_equal(chain, "dev -> staging -> dev");
}

int main(void)
{
	env_kinds_register();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env__document_as_the_docs_write_it),
		cmocka_unit_test(test_env__mistakes_are_positioned),
		cmocka_unit_test(test_env__port_ranges_overlap),
		cmocka_unit_test(test_env__listen_patterns_allow),
		cmocka_unit_test(test_env__windows_and_recipients_read_and_read_back),
		cmocka_unit_test(test_env__window_and_recipient_mistakes_are_positioned),
		cmocka_unit_test(test_env__window_answers_say_until_when_in_the_deciding_zone),
		cmocka_unit_test(test_env__a_key_one_environment_lists_is_its_only),
		cmocka_unit_test(test_env__promotion_as_the_docs_write_it),
		cmocka_unit_test(test_env__promotion_mistakes_are_positioned),
		cmocka_unit_test(test_env__promotion_cycles_are_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
