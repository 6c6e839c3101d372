/* Unit tests of the route derivation (src/rollout/routes.h): what each
 * strategy sends where, and that the proxy's own validator accepts every
 * table it produces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/table.h"
#include "rollout/routes.h"

static struct spec_header_match x_canary = {.name = "X-Canary", .exact = "yes"};

/* one app's inputs, owned by the test */
struct fixture {
	struct spec_app spec;
	struct rollout_state st;
	struct rollout_traffic t;
	struct routes_backend b[32];
	char ids[32][16];
	size_t n;
};

static void fx_init(struct fixture *f, const char *listen)
{
	memset(f, 0, sizeof(*f));
	f->spec.name = "hello";
	f->spec.route.listen = (char *)listen;
	f->spec.route.path_prefix = "/";
	f->st.desired = 2;
	f->st.stable = 1;
}

static void fx_add(struct fixture *f, int64_t revision, bool ready, bool stopping)
{
	struct routes_backend *x = &f->b[f->n];
	snprintf(f->ids[f->n], sizeof(f->ids[0]), "hello-%zu", f->n + 1);
	*x = (struct routes_backend){.id = f->ids[f->n], .revision = revision,
				     .port = (uint16_t)(20000 + f->n), .ready = ready,
				     .stopping = stopping};
	f->n++;
}

static json_t *fx_entries(struct fixture *f)
{
	struct routes_app app = {.name = f->spec.name, .spec = &f->spec, .st = &f->st,
				 .traffic = &f->t, .backends = f->b, .nbackends = f->n};
	return routes_app_entries(&app);
}

/* weight of revision's group in entry, or -1 when it has no group */
static int weight_of(json_t *entry, int64_t revision)
{
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(entry, "groups"), i, g)
		if (json_integer_value(json_object_get(g, "revision")) == revision)
			return (int)json_integer_value(json_object_get(g, "weight"));
	return -1;
}

static size_t backends_of(json_t *entry, int64_t revision)
{
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(entry, "groups"), i, g)
		if (json_integer_value(json_object_get(g, "revision")) == revision)
			return json_array_size(json_object_get(g, "backends"));
	return 0;
}

static void assert_accepted(json_t *routes)
{
	json_t *doc = json_pack("{s:I, s:O}", "version", (json_int_t)1, "routes", routes);
	struct table *t = NULL;
	struct sw_err err = {0};
	int r = table_from_json(&t, doc, &err);
	if (r != 0) {
		char *s = json_dumps(doc, JSON_COMPACT);
		fprintf(stderr, "refused: %s\n%s\n", err.msg, s);
		free(s);
	}
	assert_int_equal(r, 0);
	table_free(t);
	json_decref(doc);
}

static void test_routes__no_listen_no_entry(void **state)
{
	struct fixture f;
	fx_init(&f, NULL);
	fx_add(&f, 1, true, false);
	json_t *e = fx_entries(&f);
	assert_int_equal(json_array_size(e), 0);
	json_decref(e);
}

static void test_routes__rolling_split_by_ready_share(void **state)
{
	struct fixture f;
	fx_init(&f, "127.0.0.1:8080");
	for (int i = 0; i < 3; i++)
		fx_add(&f, 1, true, false);
	fx_add(&f, 2, true, false);
	fx_add(&f, 2, false, false); /* starting: not in rotation */
	json_t *e = fx_entries(&f);
	assert_int_equal(json_array_size(e), 1);
	json_t *r = json_array_get(e, 0);
	assert_string_equal(json_string_value(json_object_get(r, "listen")), "127.0.0.1:8080");
	assert_int_equal(weight_of(r, 1), 75);
	assert_int_equal(weight_of(r, 2), 25);
	assert_int_equal(backends_of(r, 2), 1);
	assert_accepted(e);
	json_decref(e);
}

static void test_routes__canary_weights(void **state)
{
	struct fixture f;
	fx_init(&f, "127.0.0.1:8080");
	f.t = (struct rollout_traffic){.explicit_weights = true, .stable = 1, .canary = 2,
				       .canary_weight = 20};
	for (int i = 0; i < 4; i++)
		fx_add(&f, 1, true, false);
	fx_add(&f, 2, true, false);
	json_t *e = fx_entries(&f);
	json_t *r = json_array_get(e, 0);
	assert_int_equal(weight_of(r, 1), 80);
	assert_int_equal(weight_of(r, 2), 20);
	assert_accepted(e);
	json_decref(e);
}

static void test_routes__group_without_ready_instance_gets_no_share(void **state)
{
	struct fixture f;
	fx_init(&f, "127.0.0.1:8080");
	f.t = (struct rollout_traffic){.explicit_weights = true, .stable = 1, .canary = 2,
				       .canary_weight = 50};
	fx_add(&f, 1, true, false);
	fx_add(&f, 2, false, false);
	json_t *e = fx_entries(&f);
	json_t *r = json_array_get(e, 0);
	assert_int_equal(weight_of(r, 1), 100);
	assert_int_equal(weight_of(r, 2), -1);
	assert_accepted(e);
	json_decref(e);
}

static void test_routes__header_route_only_to_revision_with_group(void **state)
{
	struct fixture f;
	struct spec_header_match always = {.name = "X-Team", .regex = "a|b"};
	fx_init(&f, "127.0.0.1:8080");
	f.spec.header_routes = &always;
	f.spec.nheader_routes = 1;
	f.t = (struct rollout_traffic){.explicit_weights = true, .stable = 1, .canary = 2,
				       .canary_weight = 0, .header = &x_canary};
	fx_add(&f, 1, true, false);
	fx_add(&f, 2, false, false);
	json_t *e = fx_entries(&f);
	assert_int_equal(json_array_size(json_object_get(json_array_get(e, 0), "headerRoutes")), 0);
	assert_accepted(e);
	json_decref(e);

	f.b[1].ready = true;
	e = fx_entries(&f);
	json_t *hr = json_object_get(json_array_get(e, 0), "headerRoutes");
	assert_int_equal(json_array_size(hr), 2);
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(json_integer_value(json_object_get(json_array_get(hr, i), "revision")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(hr, 1), "name")),
			    "X-Canary");
	assert_accepted(e);
	json_decref(e);
}

static void test_routes__blue_green_preview_entry(void **state)
{
	struct fixture f;
	fx_init(&f, "127.0.0.1:8080");
	f.spec.route.host = "hello.localhost";
	f.t = (struct rollout_traffic){.explicit_weights = true, .stable = 1, .canary = 2,
				       .canary_weight = 0, .header = &rollout_preview_header,
				       .preview_listen = "localhost:8081"};
	fx_add(&f, 1, true, false);
	fx_add(&f, 2, true, false);
	json_t *e = fx_entries(&f);
	assert_int_equal(json_array_size(e), 2);
	json_t *main = json_array_get(e, 0), *pv = json_array_get(e, 1);
	assert_int_equal(weight_of(main, 1), 100);
	assert_int_equal(weight_of(main, 2), 0);
	assert_string_equal(json_string_value(json_object_get(pv, "listen")), "127.0.0.1:8081");
	assert_true(json_is_null(json_object_get(pv, "host")));
	assert_int_equal(json_array_size(json_object_get(pv, "groups")), 1);
	assert_int_equal(weight_of(pv, 2), 100);
	assert_int_equal(json_array_size(json_object_get(pv, "headerRoutes")), 0);
	assert_accepted(e);
	json_decref(e);
}

static void test_routes__stopping_instances_excluded(void **state)
{
	struct fixture f;
	fx_init(&f, "127.0.0.1:8080");
	fx_add(&f, 1, true, true);
	fx_add(&f, 2, true, false);
	fx_add(&f, 2, true, true);
	json_t *e = fx_entries(&f);
	json_t *r = json_array_get(e, 0);
	assert_int_equal(weight_of(r, 1), -1);
	assert_int_equal(weight_of(r, 2), 100);
	assert_int_equal(backends_of(r, 2), 1);
	assert_accepted(e);
	json_decref(e);
}

static void test_routes__listen_is_canonical(void **state)
{
	struct fixture f;
	fx_init(&f, "localhost:18082");
	fx_add(&f, 1, true, false);
	json_t *e = fx_entries(&f);
	assert_string_equal(json_string_value(json_object_get(json_array_get(e, 0), "listen")),
			    "127.0.0.1:18082");
	assert_accepted(e);
	json_decref(e);

	/* one that does not parse gets no entry, never a refused table */
	fx_init(&f, "nosuch.example:80");
	fx_add(&f, 1, true, false);
	e = fx_entries(&f);
	assert_int_equal(json_array_size(e), 0);
	json_decref(e);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* Random apps (strategies, rollout states, instances) side by side on
 * their own listeners: the proxy accepts every table. */
static void test_routes__random_tables_accepted_by_proxy(void **state)
{
	static const char *hosts[] = {NULL, "hello.localhost", "*.example.com", "a.b"};
	static const char *prefixes[] = {"/", "/api", "/x/y"};
	struct spec_step steps[4];
	memset(steps, 0, sizeof(steps));
	steps[1].header = x_canary;
	steps[3].header = (struct spec_header_match){.name = "X-V", .regex = "v[0-9]+"};
	for (int round = 0; round < 3000; round++) {
		json_t *routes = json_array();
		size_t napps = 1 + rnd(4);
		struct fixture *fs = calloc(napps, sizeof(*fs));
		struct spec_strategy strat[4];
		struct spec_header_match hm = {.name = "X-Team", .exact = "a"};
		for (size_t a = 0; a < napps; a++) {
			struct fixture *f = &fs[a];
			char *listen = malloc(32);
			snprintf(listen, 32, "%s:%u", rnd(2) ? "localhost" : "127.0.0.1",
				 (unsigned)(8000 + a * 10));
			fx_init(f, listen);
			f->spec.route.host = (char *)hosts[rnd(4)];
			f->spec.route.path_prefix = rnd(3) ? (char *)prefixes[rnd(3)] : NULL;
			f->spec.route.sticky = rnd(2);
			if (rnd(2)) {
				f->spec.header_routes = &hm;
				f->spec.nheader_routes = 1;
			}
			memset(&strat[a], 0, sizeof(strat[a]));
			strat[a].kind = (enum spec_strategy_kind)rnd(3);
			strat[a].steps = steps;
			strat[a].nsteps = 4;
			char *pv = malloc(32);
			snprintf(pv, 32, "127.0.0.1:%u", (unsigned)(8000 + a * 10 + 1));
			strat[a].preview_listen = rnd(4) ? pv : NULL;
			f->st.stable = rnd(4);
			f->st.desired = 1 + rnd(4);
			f->st.failed = rnd(3) ? 0 : f->st.desired;
			f->st.phase = (enum rollout_phase)rnd(4);
			f->st.weight = rnd(101);
			f->st.step = rnd(5);
			f->st.header_step = (int32_t)rnd(6) - 1;
			f->st.promoted = rnd(2);
			struct rollout_params p = {.strategy = rnd(4) ? &strat[a] : NULL};
			rollout_traffic(&f->st, &p, &f->t);
			size_t n = rnd(12);
			for (size_t k = 0; k < n; k++) {
				fx_add(f, rnd(6), rnd(4) != 0, rnd(5) == 0);
				if (rnd(10) == 0)
					f->b[f->n - 1].port = 0;
				/* ids unique across apps */
				snprintf(f->ids[f->n - 1], sizeof(f->ids[0]), "a%zu-%zu", a, k);
			}
			json_t *e = fx_entries(f);
			size_t i;
			json_t *x;
			json_array_foreach(e, i, x) {
				/* every group weight is 0..100 and they sum to 100 or 0 */
				size_t gi;
				json_t *g;
				json_int_t sum = 0;
				json_array_foreach(json_object_get(x, "groups"), gi, g) {
					assert_true(json_array_size(json_object_get(g, "backends")) > 0);
					sum += json_integer_value(json_object_get(g, "weight"));
				}
				assert_true(sum == 100 || sum == 0);
				json_array_append(routes, x);
			}
			json_decref(e);
			free(pv);
		}
		assert_accepted(routes);
		json_decref(routes);
		for (size_t a = 0; a < napps; a++)
			free(fs[a].spec.route.listen);
		free(fs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes__no_listen_no_entry),
		cmocka_unit_test(test_routes__rolling_split_by_ready_share),
		cmocka_unit_test(test_routes__canary_weights),
		cmocka_unit_test(test_routes__group_without_ready_instance_gets_no_share),
		cmocka_unit_test(test_routes__header_route_only_to_revision_with_group),
		cmocka_unit_test(test_routes__blue_green_preview_entry),
		cmocka_unit_test(test_routes__stopping_instances_excluded),
		cmocka_unit_test(test_routes__listen_is_canonical),
		cmocka_unit_test(test_routes__random_tables_accepted_by_proxy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
