/*
 * proxy table: what a user relies on when traffic is split between
 * versions: the table the control plane sends is checked with messages
 * that say where; a request lands on the route it should; the weights hold
 * exactly over any 100 requests; stickiness and header routes override
 * them; a retry avoids the backend that failed.
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

#include "proxy/table.h"

static struct table *load(const char *text)
{
	json_error_t jerr;
	struct sw_err err = {0};
	struct table *t = NULL;
	json_t *j = json_loads(text, 0, &jerr);
	if (!j)
		fail_msg("bad test JSON: %s: %s", jerr.text, text);
	if (table_from_json(&t, j, &err) != 0)
		fail_msg("table rejected: %s", err.msg);
	json_decref(j);
	return t;
}

/* The error message the table gets, or NULL when accepted. */
static const char *reject(const char *text, struct sw_err *err)
{
	json_error_t jerr;
	struct table *t = NULL;
	json_t *j = json_loads(text, 0, &jerr);
	int rc;
	if (!j)
		fail_msg("bad test JSON: %s: %s", jerr.text, text);
	sw_err_clear(err);
	rc = table_from_json(&t, j, err);
	json_decref(j);
	if (rc == 0) {
		table_free(t);
		return NULL;
	}
	assert_int_equal(rc, SW_EINVAL);
	assert_null(t);
	return err->msg;
}

static void test_proxy_table__validation_errors_name_the_path(void **state)
{
	static const struct {
		const char *json;
		const char *msg;
	} cases[] = {
		{"[]", "the table must be a JSON object"},
		{"{}", "routes is required"},
		{"{\"routes\": {}}", "routes must be an array, got {}"},
		{"{\"version\": -1, \"routes\": []}", "version must be >= 0, got -1"},
		{"{\"version\": \"7\", \"routes\": []}", "version must be an integer, got \"7\""},
		{"{\"routes\": [1]}", "routes[0] must be an object, got 1"},
		{"{\"routes\": [{\"listen\": \"127.0.0.1:80\"}]}", "routes[0].app is required"},
		{"{\"routes\": [{\"app\": 12, \"listen\": \"127.0.0.1:80\"}]}",
		 "routes[0].app must be a string, got 12"},
		{"{\"routes\": [{\"app\": \"\", \"listen\": \"127.0.0.1:80\"}]}",
		 "routes[0].app must be a non-empty string without NUL, got \"\""},
		{"{\"routes\": [{\"app\": \"a\"}]}", "routes[0].listen is required"},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"localhost:80\"}]}",
		 "routes[0].listen must be a canonical \"host:port\" (\"127.0.0.1:8080\", \"[::1]:8080\"), got \"localhost:80\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:0\"}]}",
		 "routes[0].listen must be a canonical \"host:port\" (\"127.0.0.1:8080\", \"[::1]:8080\"), got \"127.0.0.1:0\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:65536\"}]}",
		 "routes[0].listen must be a canonical \"host:port\" (\"127.0.0.1:8080\", \"[::1]:8080\"), got \"127.0.0.1:65536\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1\"}]}",
		 "routes[0].listen must be a canonical \"host:port\" (\"127.0.0.1:8080\", \"[::1]:8080\"), got \"127.0.0.1\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.01:80\"}]}",
		 "routes[0].listen must be a canonical \"host:port\" (\"127.0.0.1:8080\", \"[::1]:8080\"), got \"127.0.0.01:80\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"[0::1]:80\"}]}",
		 "routes[0].listen must be a canonical \"host:port\" (\"127.0.0.1:8080\", \"[::1]:8080\"), "
		 "got \"[0::1]:80\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:080\"}]}",
		 "routes[0].listen must be a canonical \"host:port\" (\"127.0.0.1:8080\", \"[::1]:8080\"), got \"127.0.0.1:080\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"host\": \"a..b\"}]}",
		 "routes[0].host must be a host name or \"*.domain\", got \"a..b\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"host\": \"*example.com\"}]}",
		 "routes[0].host must be a host name or \"*.domain\", got \"*example.com\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"host\": \"a.*.com\"}]}",
		 "routes[0].host must be a host name or \"*.domain\", got \"a.*.com\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"pathPrefix\": \"api\"}]}",
		 "routes[0].pathPrefix must start with '/' and hold no '?', '#' or blanks, got \"api\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"sticky\": 1}]}",
		 "routes[0].sticky must be true or false, got 1"},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 100}, {\"revision\": 2, \"weight\": 120}]}]}",
		 "routes[0].groups[1].weight must be 0..100, got 120"},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 60}, {\"revision\": 2, \"weight\": 30}]}]}",
		 "routes[0].groups weights must sum to 100 (or all be 0), got 90"},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
		 "[{\"revision\": 0, \"weight\": 100}]}]}",
		 "routes[0].groups[0].revision must be >= 1, got 0"},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
		 "[{\"weight\": 100}]}]}",
		 "routes[0].groups[0].revision is required"},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 50}, {\"revision\": 1, \"weight\": 50}]}]}",
		 "routes[0].groups[1].revision 1 is already the revision of routes[0].groups[0]"},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 100, \"backends\": [{\"id\": \"a-1\", \"addr\": \"x\"}]}]}]}",
		 "routes[0].groups[0].backends[0].addr must be a canonical \"host:port\" (\"127.0.0.1:8080\", \"[::1]:8080\"), got \"x\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 100, \"backends\": [{\"addr\": \"127.0.0.1:9\"}]}]}]}",
		 "routes[0].groups[0].backends[0].id is required"},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 100, \"backends\": [{\"id\": \"x\", \"addr\": \"127.0.0.1:9\"},"
		 " {\"id\": \"y\", \"addr\": \"127.0.0.1:9\"}]}]}]}",
		 "routes[0].groups[0].backends[1].addr \"127.0.0.1:9\" is listed twice"},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 100}], \"headerRoutes\": [{\"name\": \"X-V\", "
		 "\"exact\": \"c\", \"revision\": 2}]}]}",
		 "routes[0].headerRoutes[0].revision 2 names no group of the route"},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 100}], \"headerRoutes\": [{\"name\": \"X-V\", "
		 "\"revision\": 1}]}]}",
		 "routes[0].headerRoutes[0] needs exactly one of \"exact\" and \"regex\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 100}], \"headerRoutes\": [{\"name\": \"X-V\", "
		 "\"exact\": \"a\", \"regex\": \"b\", \"revision\": 1}]}]}",
		 "routes[0].headerRoutes[0] needs exactly one of \"exact\" and \"regex\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 100}], \"headerRoutes\": [{\"name\": \"X V\", "
		 "\"exact\": \"a\", \"revision\": 1}]}]}",
		 "routes[0].headerRoutes[0].name must be a header name, got \"X V\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 100}], \"headerRoutes\": [{\"name\": \"X-V\", "
		 "\"regex\": \"a)|(b\", \"revision\": 1}]}]}",
		 "routes[0].headerRoutes[0].regex has unbalanced parentheses or brackets, got \"a)|(b\""},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\"}, "
		 "{\"app\": \"b\", \"listen\": \"127.0.0.1:80\", \"pathPrefix\": \"/\"}]}",
		 "routes[1] has the same listen, host and pathPrefix as routes[0] (app \"a\")"},
		{"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"host\": \"A.com\"}, "
		 "{\"app\": \"b\", \"listen\": \"127.0.0.1:80\", \"host\": \"a.COM\"}]}",
		 "routes[1] has the same listen, host and pathPrefix as routes[0] (app \"a\")"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sw_err err;
		const char *msg = reject(cases[i].json, &err);
		if (!msg)
			fail_msg("accepted: %s", cases[i].json);
		if (strcmp(msg, cases[i].msg) != 0)
			fail_msg("for %s\n  want: %s\n  got:  %s", cases[i].json, cases[i].msg, msg);
	}
}

static void test_proxy_table__invalid_regex_is_reported(void **state)
{
	struct sw_err err;
	const char *msg = reject("{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", "
				 "\"groups\": [{\"revision\": 1, \"weight\": 100}], \"headerRoutes\": "
				 "[{\"name\": \"X-V\", \"regex\": \"a{2,1}\", \"revision\": 1}]}]}",
				 &err);
	assert_non_null(msg);
	const char *want = "routes[0].headerRoutes[0].regex is not a valid regular expression (";
	assert_true(strncmp(msg, want, strlen(want)) == 0);
	assert_non_null(strstr(msg, "\"a{2,1}\""));
}

static void test_proxy_table__accepts_edge_values(void **state)
{
	struct sw_err err;
	/* all weights 0, no groups, wildcard host, unknown keys, null host */
	assert_null(reject("{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
			   "[{\"revision\": 1, \"weight\": 0}, {\"revision\": 2, \"weight\": 0}]}]}",
			   &err));
	assert_null(reject("{\"routes\": [{\"app\": \"a\", \"listen\": \"0.0.0.0:65535\"}]}", &err));
	assert_null(reject("{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:1\", \"host\": "
			   "\"*.example.com\", \"future\": [1, 2]}], \"extra\": true}",
			   &err));
	assert_null(reject("{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:1\", \"host\": null, "
			   "\"headerRoutes\": null, \"groups\": [{\"revision\": 9, \"weight\": 100}]}]}",
			   &err));
	assert_null(reject("{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"groups\": "
			   "[{\"revision\": 1, \"weight\": 100}], \"headerRoutes\": [{\"name\": \"X-V\", "
			   "\"regex\": \"(a|b)[)(]\\\\)x\", \"revision\": 1}]}]}",
			   &err));
	/* same listen and host but different prefixes; same prefix on another host */
	assert_null(reject("{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\"}, "
			   "{\"app\": \"b\", \"listen\": \"127.0.0.1:80\", \"pathPrefix\": \"/b\"}, "
			   "{\"app\": \"c\", \"listen\": \"127.0.0.1:80\", \"host\": \"c.com\"}, "
			   "{\"app\": \"d\", \"listen\": \"127.0.0.1:81\"}]}",
			   &err));
	/* IPv6, canonical, for listeners and backends */
	assert_null(reject("{\"routes\": [{\"app\": \"a\", \"listen\": \"[::1]:80\", \"groups\": "
			   "[{\"revision\": 1, \"weight\": 100, \"backends\": [{\"id\": \"a-1\", "
			   "\"addr\": \"[::1]:20001\"}]}]}, {\"app\": \"b\", \"listen\": \"[::]:81\"}]}",
			   &err));
}

static const char full_table[] =
	"{\"version\": 7, \"routes\": ["
	"{\"app\": \"hello\", \"listen\": \"127.0.0.1:8080\", \"host\": \"hello.localhost\","
	" \"pathPrefix\": \"/\", \"sticky\": true,"
	" \"headerRoutes\": [{\"name\": \"X-Slipway-Version\", \"exact\": \"canary\", \"regex\": null,"
	" \"revision\": 3}, {\"name\": \"X-Tester\", \"exact\": null, \"regex\": \"t[0-9]+\","
	" \"revision\": 2}],"
	" \"groups\": [{\"revision\": 2, \"weight\": 80, \"backends\": [{\"id\": \"hello-1\", \"addr\":"
	" \"127.0.0.1:20001\"}, {\"id\": \"hello-2\", \"addr\": \"127.0.0.1:20002\"}]},"
	" {\"revision\": 3, \"weight\": 20, \"backends\": [{\"id\": \"hello-3\", \"addr\":"
	" \"127.0.0.1:20003\"}]}]},"
	"{\"app\": \"api\", \"listen\": \"127.0.0.1:8081\", \"host\": null, \"pathPrefix\": \"/api\","
	" \"sticky\": false, \"headerRoutes\": [], \"groups\": []}]}";

static void test_proxy_table__json_round_trip(void **state)
{
	json_error_t jerr;
	struct table *t = load(full_table), *t2 = NULL;
	json_t *in = json_loads(full_table, 0, &jerr), *out = table_to_json(t), *out2;
	struct sw_err err = {0};

	assert_non_null(in);
	if (!json_equal(in, out)) {
		char *s = json_dumps(out, JSON_SORT_KEYS);
		fail_msg("round trip differs: %s", s);
	}
	assert_int_equal(table_from_json(&t2, out, &err), 0);
	out2 = table_to_json(t2);
	assert_true(json_equal(out, out2));

	assert_int_equal(t->version, 7);
	assert_int_equal(t->nroutes, 2);
	assert_string_equal(t->routes[0].groups[1].backends[0].id, "hello-3");
	assert_true(t->routes[0].header_routes[1].has_regex);
	assert_string_equal(t->routes[1].path_prefix, "/api");
	assert_null(t->routes[1].host);

	/* defaults are written out */
	table_free(t);
	t = load("{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\"}]}");
	json_decref(out);
	out = table_to_json(t);
	json_t *r = json_array_get(json_object_get(out, "routes"), 0);
	assert_string_equal(json_string_value(json_object_get(r, "pathPrefix")), "/");
	assert_true(json_is_false(json_object_get(r, "sticky")));
	assert_true(json_is_null(json_object_get(r, "host")));
	assert_int_equal(json_integer_value(json_object_get(out, "version")), 0);

	json_decref(in);
	json_decref(out);
	json_decref(out2);
	table_free(t);
	table_free(t2);
}

static void test_proxy_table__listens_are_distinct(void **state)
{
	struct table *t = load("{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\"},"
			       " {\"app\": \"b\", \"listen\": \"127.0.0.1:81\"},"
			       " {\"app\": \"c\", \"listen\": \"127.0.0.1:80\", \"host\": \"c.com\"}]}");
	const char *l[4];
	assert_int_equal(table_listens(t, l, 4), 2);
	assert_string_equal(l[0], "127.0.0.1:80");
	assert_string_equal(l[1], "127.0.0.1:81");
	assert_int_equal(table_listens(t, l, 1), 1);
	table_free(t);
}

static void test_proxy_table__matching(void **state)
{
	struct table *t = load(
		"{\"routes\": ["
		"{\"app\": \"any\", \"listen\": \"127.0.0.1:80\"},"
		"{\"app\": \"any-api\", \"listen\": \"127.0.0.1:80\", \"pathPrefix\": \"/api\"},"
		"{\"app\": \"wild\", \"listen\": \"127.0.0.1:80\", \"host\": \"*.example.com\"},"
		"{\"app\": \"wild-deep\", \"listen\": \"127.0.0.1:80\", \"host\": \"*.eu.example.com\"},"
		"{\"app\": \"exact\", \"listen\": \"127.0.0.1:80\", \"host\": \"www.example.com\"},"
		"{\"app\": \"exact-api\", \"listen\": \"127.0.0.1:80\", \"host\": \"www.example.com\","
		" \"pathPrefix\": \"/api\"},"
		"{\"app\": \"exact-v2\", \"listen\": \"127.0.0.1:80\", \"host\": \"www.example.com\","
		" \"pathPrefix\": \"/api/v2/\"},"
		"{\"app\": \"only-host\", \"listen\": \"127.0.0.1:81\", \"host\": \"a.com\"}"
		"]}");
	static const struct {
		const char *listen, *host, *path, *app; /* app NULL = 404 */
	} cases[] = {
		{"127.0.0.1:80", "www.example.com", "/", "exact"},
		{"127.0.0.1:80", "WWW.Example.COM", "/x", "exact"},
		{"127.0.0.1:80", "www.example.com:8080", "/", "exact"},
		{"127.0.0.1:80", "www.example.com.", "/", "exact"},
		{"127.0.0.1:80", "www.example.com", "/api", "exact-api"},
		{"127.0.0.1:80", "www.example.com", "/api/", "exact-api"},
		{"127.0.0.1:80", "www.example.com", "/api/users?x=1", "exact-api"},
		{"127.0.0.1:80", "www.example.com", "/api?x=1", "exact-api"},
		{"127.0.0.1:80", "www.example.com", "/apix", "exact"},
		{"127.0.0.1:80", "www.example.com", "/api/v2", "exact-api"},
		{"127.0.0.1:80", "www.example.com", "/api/v2/", "exact-v2"},
		{"127.0.0.1:80", "www.example.com", "/api/v2/x", "exact-v2"},
		{"127.0.0.1:80", "shop.example.com", "/", "wild"},
		{"127.0.0.1:80", "a.b.example.com:1", "/", "wild"},
		{"127.0.0.1:80", "x.eu.example.com", "/", "wild-deep"},
		{"127.0.0.1:80", "eu.example.com", "/", "wild"},
		{"127.0.0.1:80", "example.com", "/", "any"},
		{"127.0.0.1:80", "notexample.com", "/", "any"},
		/* a longer prefix on "any host" beats a wildcard/exact host on "/" */
		{"127.0.0.1:80", "shop.example.com", "/api/x", "any-api"},
		{"127.0.0.1:80", NULL, "/", "any"},
		{"127.0.0.1:80", "[::1]:80", "/api", "any-api"},
		{"127.0.0.1:80", "", "/", "any"},
		{"127.0.0.1:80", "h.com", "*", "any"},
		{"127.0.0.1:81", "a.com", "/", "only-host"},
		{"127.0.0.1:81", "a.com:81", "/zzz", "only-host"},
		{"127.0.0.1:81", "b.com", "/", NULL},
		{"127.0.0.1:81", NULL, "/", NULL},
		{"127.0.0.1:82", "a.com", "/", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct table_route *r = table_match(t, cases[i].listen, cases[i].host, cases[i].path);
		const char *got = r ? r->app : NULL;
		if ((got == NULL) != (cases[i].app == NULL) ||
		    (got && strcmp(got, cases[i].app) != 0))
			fail_msg("%s %s %s: want %s, got %s", cases[i].listen,
				 cases[i].host ? cases[i].host : "(no host)", cases[i].path,
				 cases[i].app ? cases[i].app : "404", got ? got : "404");
	}
	table_free(t);
}

/* --- picking ---------------------------------------------------------- */

struct hdrs {
	const char *names[4];
	const char *values[4];
};

static const char *get_header(const char *name, void *data)
{
	struct hdrs *h = data;
	for (size_t i = 0; i < 4 && h->names[i]; i++)
		if (strcasecmp(h->names[i], name) == 0)
			return h->values[i];
	return NULL;
}

static struct table_group *pick(struct table_route *r, int64_t sticky, struct hdrs *h,
				struct table_backend **b, bool *set_cookie)
{
	struct hdrs none = {{NULL}, {NULL}};
	struct table_request req = {get_header, h ? h : &none, sticky, NULL};
	struct table_group *g;
	struct table_backend *bb;
	bool sc;
	assert_int_equal(table_pick(r, &req, &g, b ? b : &bb, set_cookie ? set_cookie : &sc), 0);
	return g;
}

/* A single route with the given groups; backends per group. */
static struct table *weighted(const unsigned *weights, const unsigned *nbackends, size_t n,
			      bool sticky)
{
	json_t *groups = json_array();
	unsigned port = 20000;
	for (size_t i = 0; i < n; i++) {
		json_t *bs = json_array();
		for (unsigned k = 0; k < nbackends[i]; k++) {
			char id[32], addr[32];
			snprintf(id, sizeof(id), "b%zu-%u", i, k);
			snprintf(addr, sizeof(addr), "127.0.0.1:%u", port++);
			json_array_append_new(bs, json_pack("{s:s, s:s}", "id", id, "addr", addr));
		}
		json_array_append_new(groups, json_pack("{s:I, s:I, s:o}", "revision",
							(json_int_t)(i + 1), "weight",
							(json_int_t)weights[i], "backends", bs));
	}
	json_t *j = json_pack("{s:[{s:s, s:s, s:b, s:o}]}", "routes", "app", "a", "listen",
			      "127.0.0.1:80", "sticky", sticky, "groups", groups);
	struct table *t = NULL;
	struct sw_err err = {0};
	if (table_from_json(&t, j, &err) != 0)
		fail_msg("%s", err.msg);
	json_decref(j);
	return t;
}

/* Every window of `win` consecutive picks holds exactly weight*win/100 of
 * each group (weights in the route's group order); and the whole run
 * holds weight*n/100. */
static void check_exact(struct table_route *r, const unsigned *weights, size_t ngroups,
			size_t n, size_t win)
{
	int64_t *seq = calloc(n, sizeof(*seq));
	size_t total[8] = {0};
	for (size_t i = 0; i < n; i++) {
		seq[i] = pick(r, 0, NULL, NULL, NULL) - r->groups;
		total[seq[i]]++;
	}
	for (size_t g = 0; g < ngroups; g++)
		assert_int_equal(total[g], weights[g] * n / 100);
	for (size_t start = 0; start + win <= n; start++) {
		size_t count[8] = {0};
		for (size_t i = start; i < start + win; i++)
			count[seq[i]]++;
		for (size_t g = 0; g < ngroups; g++)
			if (count[g] != weights[g] * win / 100)
				fail_msg("window at %zu: group %zu got %zu of %zu", start, g + 1,
					 count[g], win);
	}
	free(seq);
}

static void test_proxy_table__swrr_80_20_exact(void **state)
{
	const unsigned w[] = {80, 20}, nb[] = {2, 1};
	struct table *t = weighted(w, nb, 2, false);
	check_exact(&t->routes[0], w, 2, 1000, 100);
	table_free(t);
}

static void test_proxy_table__swrr_three_way_exact(void **state)
{
	static const unsigned sets[][3] = {{50, 30, 20}, {1, 1, 98}, {34, 33, 33}, {0, 0, 100},
					   {99, 0, 1}, {10, 45, 45}};
	const unsigned nb[] = {1, 2, 3};
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		struct table *t = weighted(sets[s], nb, 3, false);
		check_exact(&t->routes[0], sets[s], 3, 1000, 100);
		table_free(t);
	}
}

static void test_proxy_table__swrr_is_smooth(void **state)
{
	/* 80/20: the 20% group never gets two picks in a row, and is first
	 * picked within the first 5 requests */
	const unsigned w[] = {80, 20}, nb[] = {1, 1};
	struct table *t = weighted(w, nb, 2, false);
	int64_t prev = 0;
	size_t first = 0;
	for (size_t i = 0; i < 200; i++) {
		int64_t rev = pick(&t->routes[0], 0, NULL, NULL, NULL)->revision;
		if (rev == 2) {
			assert_int_not_equal(prev, 2);
			if (!first)
				first = i + 1;
		}
		prev = rev;
	}
	assert_true(first >= 1 && first <= 5);
	table_free(t);
}

static void test_proxy_table__round_robin_within_group(void **state)
{
	const unsigned w[] = {100}, nb[] = {3};
	struct table *t = weighted(w, nb, 1, false);
	for (size_t i = 0; i < 30; i++) {
		struct table_backend *b;
		pick(&t->routes[0], 0, NULL, &b, NULL);
		assert_ptr_equal(b, &t->routes[0].groups[0].backends[i % 3]);
	}
	table_free(t);
}

static void test_proxy_table__header_route_beats_weights(void **state)
{
	struct table *t = load(full_table);
	struct table_route *r = &t->routes[0];
	struct table_backend *b;
	bool sc;
	struct hdrs canary = {{"x-slipway-version"}, {"canary"}};
	struct hdrs wrong_case = {{"X-Slipway-Version"}, {"Canary"}};
	struct hdrs tester = {{"X-Tester"}, {"t42"}};
	struct hdrs tester_partial = {{"X-Tester"}, {"xt42"}};
	struct hdrs tester_suffix = {{"X-Tester"}, {"t42x"}};

	for (size_t i = 0; i < 50; i++) {
		assert_int_equal(pick(r, 0, &canary, &b, &sc)->revision, 3);
		assert_string_equal(b->id, "hello-3");
		assert_false(sc); /* the header decides, not a cookie */
		/* even a sticky cookie for 2 loses against the header */
		assert_int_equal(pick(r, 2, &canary, NULL, NULL)->revision, 3);
		assert_int_equal(pick(r, 3, &tester, NULL, NULL)->revision, 2);
	}
	/* header picks did not consume the weighted sequence: the first 100
	 * plain picks are still exactly 80/20 */
	const unsigned w[] = {80, 20};
	check_exact(r, w, 2, 100, 100);

	/* exact is case-sensitive on the value; regex is anchored */
	size_t rev3 = 0;
	for (size_t i = 0; i < 100; i++) {
		rev3 += pick(r, 0, &wrong_case, NULL, NULL)->revision == 3;
		rev3 += pick(r, 0, &tester_partial, NULL, NULL)->revision == 3;
		rev3 += pick(r, 0, &tester_suffix, NULL, NULL)->revision == 3;
	}
	assert_int_equal(rev3, 60); /* 20% of 300 weighted picks */
	table_free(t);
}

static void test_proxy_table__header_route_to_empty_group_falls_back(void **state)
{
	struct table *t = load(
		"{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\", \"headerRoutes\": "
		"[{\"name\": \"X-V\", \"exact\": \"canary\", \"revision\": 2}], \"groups\": ["
		"{\"revision\": 1, \"weight\": 100, \"backends\": [{\"id\": \"s\", \"addr\": \"127.0.0.1:1\"}]},"
		"{\"revision\": 2, \"weight\": 0, \"backends\": []}]}]}");
	struct hdrs canary = {{"X-V"}, {"canary"}};
	assert_int_equal(pick(&t->routes[0], 0, &canary, NULL, NULL)->revision, 1);
	table_free(t);
}

static void test_proxy_table__sticky_cookie(void **state)
{
	const unsigned w[] = {80, 20}, nb[] = {1, 1};
	struct table *t = weighted(w, nb, 2, true);
	struct table_route *r = &t->routes[0];
	bool sc;
	struct table_group *g;

	/* no cookie: weighted, and the response sets the cookie */
	g = pick(r, 0, NULL, NULL, &sc);
	assert_true(sc);
	/* a client with a cookie stays, whatever the weights say */
	for (size_t i = 0; i < 100; i++) {
		assert_int_equal(pick(r, 2, NULL, NULL, &sc)->revision, 2);
		assert_false(sc);
		assert_int_equal(pick(r, 1, NULL, NULL, &sc)->revision, 1);
		assert_false(sc);
	}
	/* a stale cookie (no such revision) is replaced */
	g = pick(r, 99, NULL, NULL, &sc);
	assert_true(sc);
	assert_true(g->revision == 1 || g->revision == 2);
	table_free(t);

	/* the sticky picks did not shift the weighted sequence */
	t = weighted(w, nb, 2, true);
	for (size_t i = 0; i < 37; i++)
		pick(&t->routes[0], 2, NULL, NULL, NULL);
	check_exact(&t->routes[0], w, 2, 200, 100);
	table_free(t);

	/* not sticky: never a cookie, cookie ignored */
	t = weighted(w, nb, 2, false);
	size_t rev2 = 0;
	for (size_t i = 0; i < 100; i++) {
		rev2 += pick(&t->routes[0], 2, NULL, NULL, &sc)->revision == 2;
		assert_false(sc);
	}
	assert_int_equal(rev2, 20);
	table_free(t);
}

static void test_proxy_table__sticky_to_weight_zero_moves(void **state)
{
	/* an aborted canary (weight 0, still has instances) loses its clients */
	const unsigned w[] = {100, 0}, nb[] = {1, 1};
	struct table *t = weighted(w, nb, 2, true);
	bool sc;
	assert_int_equal(pick(&t->routes[0], 2, NULL, NULL, &sc)->revision, 1);
	assert_true(sc);
	table_free(t);
	/* ... unless nothing weighted can serve */
	const unsigned w2[] = {100, 0}, nb2[] = {0, 1};
	t = weighted(w2, nb2, 2, true);
	assert_int_equal(pick(&t->routes[0], 2, NULL, NULL, &sc)->revision, 2);
	assert_false(sc);
	/* a sticky client of the empty group moves and gets a new cookie */
	assert_int_equal(pick(&t->routes[0], 1, NULL, NULL, &sc)->revision, 2);
	assert_true(sc);
	table_free(t);
}

static void test_proxy_table__empty_group_gives_share_away(void **state)
{
	/* 50/30/20 with the 30 group empty: 50:20 between the others, still
	 * exact over each period of 70 */
	const unsigned w[] = {50, 30, 20}, nb[] = {1, 0, 2};
	struct table *t = weighted(w, nb, 3, false);
	size_t count[3] = {0};
	for (size_t i = 0; i < 700; i++)
		count[pick(&t->routes[0], 0, NULL, NULL, NULL)->revision - 1]++;
	assert_int_equal(count[0], 500);
	assert_int_equal(count[1], 0);
	assert_int_equal(count[2], 200);
	table_free(t);

	/* all weighted groups empty: the weight-0 group with backends serves */
	const unsigned w2[] = {100, 0}, nb2[] = {0, 2};
	t = weighted(w2, nb2, 2, false);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(pick(&t->routes[0], 0, NULL, NULL, NULL)->revision, 2);
	table_free(t);

	/* all weights 0 (blue/green preview): any group with backends */
	const unsigned w3[] = {0, 0}, nb3[] = {0, 1};
	t = weighted(w3, nb3, 2, false);
	assert_int_equal(pick(&t->routes[0], 0, NULL, NULL, NULL)->revision, 2);
	table_free(t);
}

static void test_proxy_table__no_backend_is_not_found(void **state)
{
	const unsigned w[] = {80, 20}, nb[] = {0, 0};
	struct table *t = weighted(w, nb, 2, true);
	struct table_request req = {get_header, NULL, 0, NULL};
	struct table_group *g = (void *)1;
	struct table_backend *b = (void *)1;
	bool sc = true;
	struct hdrs none = {{NULL}, {NULL}};
	req.data = &none;
	assert_int_equal(table_pick(&t->routes[0], &req, &g, &b, &sc), SW_ENOTFOUND);
	assert_null(g);
	assert_null(b);
	assert_false(sc);
	table_free(t);

	t = load("{\"routes\": [{\"app\": \"a\", \"listen\": \"127.0.0.1:80\"}]}");
	assert_int_equal(table_pick(&t->routes[0], &req, &g, &b, &sc), SW_ENOTFOUND);
	table_free(t);
}

static void test_proxy_table__retry_excludes_backend(void **state)
{
	const unsigned w[] = {80, 20}, nb[] = {3, 1};
	struct table *t = weighted(w, nb, 2, false);
	struct table_route *r = &t->routes[0];
	struct hdrs none = {{NULL}, {NULL}};

	for (size_t i = 0; i < 100; i++) {
		struct table_group *g, *g2;
		struct table_backend *b, *b2;
		bool sc;
		struct table_request req = {get_header, &none, 0, NULL};
		assert_int_equal(table_pick(r, &req, &g, &b, &sc), 0);
		req.exclude = b;
		assert_int_equal(table_pick(r, &req, &g2, &b2, &sc), 0);
		assert_ptr_not_equal(b2, b);
		assert_string_not_equal(b2->addr, b->addr);
		/* a retry stays on its revision when it can */
		if (g->nbackends > 1)
			assert_ptr_equal(g2, g);
		else
			assert_int_equal(g2->revision, 1);
	}
	table_free(t);

	/* retries do not move the weighted sequence */
	t = weighted(w, nb, 2, false);
	r = &t->routes[0];
	for (size_t i = 0; i < 100; i++) {
		struct table_request req = {get_header, &none, 0, &r->groups[1].backends[0]};
		struct table_group *g;
		struct table_backend *b;
		bool sc;
		assert_int_equal(table_pick(r, &req, &g, &b, &sc), 0);
		assert_int_equal(g->revision, 1);
	}
	check_exact(r, w, 2, 300, 100);
	table_free(t);

	/* the only backend: it comes back ("avoid if possible") */
	const unsigned w1[] = {100}, nb1[] = {1};
	t = weighted(w1, nb1, 1, false);
	struct table_request req = {get_header, &none, 0, &t->routes[0].groups[0].backends[0]};
	struct table_group *g;
	struct table_backend *b;
	bool sc;
	assert_int_equal(table_pick(&t->routes[0], &req, &g, &b, &sc), 0);
	assert_ptr_equal(b, req.exclude);
	table_free(t);
}

static void test_proxy_table__carry_state_continues_sequence(void **state)
{
	const unsigned w[] = {80, 20}, nb[] = {2, 1};
	struct table *t = weighted(w, nb, 2, false);
	int64_t seq[300];
	for (size_t i = 0; i < 300; i++) {
		if (i % 37 == 0) { /* a table push with the same weights */
			struct table *n = weighted(w, nb, 2, false);
			table_carry_state(n, t);
			table_free(t);
			t = n;
		}
		seq[i] = pick(&t->routes[0], 0, NULL, NULL, NULL)->revision;
	}
	for (size_t s = 0; s + 100 <= 300; s++) {
		size_t c = 0;
		for (size_t i = s; i < s + 100; i++)
			c += seq[i] == 2;
		assert_int_equal(c, 20);
	}
	/* changed weights: state resets, table still valid */
	const unsigned w2[] = {50, 50};
	struct table *n = weighted(w2, nb, 2, false);
	table_carry_state(n, t);
	check_exact(&n->routes[0], w2, 2, 200, 100);
	table_carry_state(n, NULL);
	table_free(n);
	table_free(t);
}

static void test_proxy_table__cookie_parsing(void **state)
{
	static const struct {
		const char *in;
		int64_t rev;
	} cases[] = {
		{NULL, 0},
		{"", 0},
		{"slipway_rev=3", 3},
		{"a=1; slipway_rev=42; b=2", 42},
		{"a=1;slipway_rev=42", 42},
		{"  slipway_rev = 7 ", 7},
		{"slipway_rev=\"5\"", 5},
		{"slipway_rev=", 0},
		{"slipway_rev=0", 0},
		{"slipway_rev=-1", 0},
		{"slipway_rev=07", 0},
		{"slipway_rev=3x", 0},
		{"slipway_rev=99999999999999999999", 0},
		{"slipway_rev=9223372036854775807", INT64_MAX},
		{"slipway_rev=9223372036854775808", 0},
		{"xslipway_rev=3", 0},
		{"slipway_revx=3", 0},
		{"Slipway_Rev=3", 0},
		{"slipway_rev", 0},
		{";;;=;=;slipway_rev=8;", 8},
		{"slipway_rev=bad; slipway_rev=9", 9},
		{"slipway_rev=4; slipway_rev=9", 4},
		{"a=\"x;y\"", 0},
		{"=====", 0},
		{"slipway_rev=1 2", 0},
		{"\"slipway_rev=3\"", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = table_cookie_revision(cases[i].in);
		if (got != cases[i].rev)
			fail_msg("\"%s\": want %lld, got %lld", cases[i].in ? cases[i].in : "(null)",
				 (long long)cases[i].rev, (long long)got);
	}
	char out[128];
	size_t n = table_cookie_format(out, sizeof(out), 12);
	assert_int_equal(n, strlen(out));
	assert_string_equal(out, "slipway_rev=12; Path=/; HttpOnly; SameSite=Lax");
	assert_int_equal(table_cookie_revision(out), 12);
}

/* Deterministic PRNG for the randomized test. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
	uint64_t z = (rnd_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static void test_proxy_table__cookie_parser_survives_junk(void **state)
{
	/* client-controlled bytes: never crash, and any revision found is
	 * written right after "slipway_rev=" in the input */
	static const char alphabet[] = "slipway_rev=0123456789; \t\"x,\\\x80\xff";
	char in[64];
	for (size_t round = 0; round < 200000; round++) {
		size_t n = rnd() % sizeof(in);
		for (size_t i = 0; i < n; i++)
			in[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		in[n] = '\0';
		if (rnd() % 2 && n > 14)
			memcpy(in + rnd() % (n - 13), "slipway_rev=", 12);
		int64_t rev = table_cookie_revision(in);
		assert_true(rev >= 0);
		if (rev > 0) {
			char digits[32];
			snprintf(digits, sizeof(digits), "%lld", (long long)rev);
			assert_non_null(strstr(in, digits));
			assert_non_null(strstr(in, "slipway_rev"));
		}
	}
}

static bool backend_in_route(const struct table_route *r, const struct table_backend *b,
			     const struct table_group *g)
{
	for (size_t i = 0; i < r->ngroups; i++)
		for (size_t k = 0; k < r->groups[i].nbackends; k++)
			if (&r->groups[i].backends[k] == b)
				return &r->groups[i] == g;
	return false;
}

static void test_proxy_table__random_picks_stay_in_table(void **state)
{
	struct table *t = NULL;
	struct hdrs h = {{"X-V"}, {NULL}};
	for (size_t round = 0; round < 300; round++) {
		/* a random table: 1..4 groups, weights summing to 100 or all 0,
		 * 0..3 backends each */
		size_t n = 1 + rnd() % 4;
		unsigned w[4] = {0}, nb[4];
		if (rnd() % 5) {
			unsigned left = 100;
			for (size_t i = 0; i + 1 < n; i++) {
				w[i] = (unsigned)(rnd() % (left + 1));
				left -= w[i];
			}
			w[n - 1] = left;
		}
		size_t any = 0;
		for (size_t i = 0; i < n; i++)
			any += nb[i] = (unsigned)(rnd() % 4);
		struct table *nt = weighted(w, nb, n, rnd() % 2);
		table_carry_state(nt, t);
		table_free(t);
		t = nt;
		struct table_route *r = &t->routes[0];
		for (size_t k = 0; k < 50; k++) {
			struct table_request req = {get_header, &h, (int64_t)(rnd() % 6), NULL};
			struct table_group *g;
			struct table_backend *b;
			bool sc;
			h.values[0] = rnd() % 3 ? NULL : "x";
			if (any && rnd() % 4 == 0) {
				size_t gi = rnd() % n;
				if (r->groups[gi].nbackends)
					req.exclude = &r->groups[gi].backends[rnd() %
									   r->groups[gi].nbackends];
			}
			int rc = table_pick(r, &req, &g, &b, &sc);
			if (!any) {
				assert_int_equal(rc, SW_ENOTFOUND);
				continue;
			}
			assert_int_equal(rc, 0);
			assert_true(backend_in_route(r, b, g));
			if (req.exclude && any > 1)
				assert_ptr_not_equal(b, req.exclude);
			/* weighted picks never go to a weight-0 group while a
			 * weighted one has backends (no sticky cookie here) */
			if (req.sticky_revision == 0 && !req.exclude && g->weight == 0)
				for (size_t i = 0; i < n; i++)
					assert_true(r->groups[i].weight == 0 ||
						    r->groups[i].nbackends == 0);
		}
	}
	table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proxy_table__validation_errors_name_the_path),
		cmocka_unit_test(test_proxy_table__invalid_regex_is_reported),
		cmocka_unit_test(test_proxy_table__accepts_edge_values),
		cmocka_unit_test(test_proxy_table__json_round_trip),
		cmocka_unit_test(test_proxy_table__listens_are_distinct),
		cmocka_unit_test(test_proxy_table__matching),
		cmocka_unit_test(test_proxy_table__swrr_80_20_exact),
		cmocka_unit_test(test_proxy_table__swrr_three_way_exact),
		cmocka_unit_test(test_proxy_table__swrr_is_smooth),
		cmocka_unit_test(test_proxy_table__round_robin_within_group),
		cmocka_unit_test(test_proxy_table__header_route_beats_weights),
		cmocka_unit_test(test_proxy_table__header_route_to_empty_group_falls_back),
		cmocka_unit_test(test_proxy_table__sticky_cookie),
		cmocka_unit_test(test_proxy_table__sticky_to_weight_zero_moves),
		cmocka_unit_test(test_proxy_table__empty_group_gives_share_away),
		cmocka_unit_test(test_proxy_table__no_backend_is_not_found),
		cmocka_unit_test(test_proxy_table__retry_excludes_backend),
		cmocka_unit_test(test_proxy_table__carry_state_continues_sequence),
		cmocka_unit_test(test_proxy_table__cookie_parsing),
		cmocka_unit_test(test_proxy_table__cookie_parser_survives_junk),
		cmocka_unit_test(test_proxy_table__random_picks_stay_in_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
