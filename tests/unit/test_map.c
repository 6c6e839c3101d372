/* core/map: a string-keyed hash map checked against a plain array model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/map.h"

static void test_map__put_get_del(void **state)
{
	struct sw_map m;
	sw_map_init(&m);
	assert_null(sw_map_get(&m, "a"));
	assert_null(sw_map_del(&m, "a"));
	int x = 1, y = 2;
	sw_map_put(&m, "a", &x);
	sw_map_put(&m, "b", &y);
	assert_ptr_equal(sw_map_get(&m, "a"), &x);
	assert_ptr_equal(sw_map_get(&m, "b"), &y);
	sw_map_put(&m, "a", &y);
	assert_ptr_equal(sw_map_get(&m, "a"), &y);
	assert_int_equal(sw_map_count(&m), 2);
	assert_ptr_equal(sw_map_del(&m, "a"), &y);
	assert_null(sw_map_get(&m, "a"));
	assert_int_equal(sw_map_count(&m), 1);
	sw_map_release(&m);
}

/* Random puts and deletes over a small key space (many tombstones) agree
 * with an array model, and iteration visits each live key once. */
static void test_map__random_against_model(void **state)
{
	enum { KEYS = 300, OPS = 200000 };
	static char keys[KEYS][16];
	static void *model[KEYS];
	static int vals[KEYS];
	struct sw_map m;
	sw_map_init(&m);
	srand(7);
	for (int i = 0; i < KEYS; i++)
		snprintf(keys[i], sizeof(keys[i]), "app-%d", i);
	for (int op = 0; op < OPS; op++) {
		int k = rand() % KEYS;
		if (rand() % 3) {
			sw_map_put(&m, keys[k], &vals[k]);
			model[k] = &vals[k];
		} else {
			assert_ptr_equal(sw_map_del(&m, keys[k]), model[k]);
			model[k] = NULL;
		}
		int q = rand() % KEYS;
		assert_ptr_equal(sw_map_get(&m, keys[q]), model[q]);
	}
	size_t live = 0, it = 0, seen = 0;
	for (int i = 0; i < KEYS; i++)
		live += model[i] != NULL;
	assert_int_equal(sw_map_count(&m), live);
	const char *key;
	void *v;
	while (sw_map_next(&m, &it, &key, &v)) {
		int k = atoi(key + 4);
		assert_ptr_equal(model[k], v);
		seen++;
	}
	assert_int_equal(seen, live);
	assert_true(m.cap <= 2048); /* tombstones do not make it grow without bound */
	sw_map_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map__put_get_del),
		cmocka_unit_test(test_map__random_against_model),
	};
	return cmocka_run_group_tests_name("tests", tests, NULL, NULL);
}
