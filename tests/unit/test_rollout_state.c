/* Unit tests of what the rollout says about instances that fail: the
 * failure the daemon observed ("exited with status 2, 3 restarts") is
 * quoted in the reason of a progressDeadline abort (issue 9). Pure: no
 * processes, no clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rollout/rollout.h"

#define NOW 10000000

/* Revision 1 serves with one ready instance; revision 2's one instance
 * has not been ready for longer than progressDeadline. */
static void deadline_passed(struct rollout_state *st, struct rollout_params *p)
{
	memset(st, 0, sizeof(*st));
	memset(p, 0, sizeof(*p));
	st->header_step = -1;
	st->stable = 1;
	rollout_set_desired(st, 2, NOW - 61000, "applied revision 2");
	p->desired_replicas = p->stable_replicas = 1;
	p->max_surge = 1;
	p->progress_deadline_ms = 60000;
}

static void test_rollout_state__deadline_abort_quotes_the_instance_failure(void **state)
{
	struct rollout_state st;
	struct rollout_params p;
	deadline_passed(&st, &p);
	struct rollout_instance insts[] = {
		{.id = "app-1", .revision = 1, .ready = true, .created_ms = 1},
		{.id = "app-2", .revision = 2, .created_ms = 2,
		 .failure = "exited with status 2, 3 restarts"},
	};
	struct rollout_actions out = {.n = 0};
	assert_true(rollout_reconcile(&st, &p, insts, 2, NULL, 0, NOW, &out));
	assert_int_equal(st.phase, ROLLOUT_DEGRADED);
	assert_int_equal(st.failed, 2);
	assert_non_null(strstr(st.reason, "no progress within progressDeadline 1m (0/1 new "
				       "instances ready; instance app-2 exited with status 2, "
				       "3 restarts)"));
	assert_non_null(strstr(st.reason, "revision 1 keeps serving"));
	bool event = false;
	for (size_t k = 0; k < out.n; k++)
		event |= out.a[k].kind == ROLLOUT_EVENT && strcmp(out.a[k].event, "Degraded") == 0 &&
			 strstr(out.a[k].message, "instance app-2 exited with status 2");
	assert_true(event);
}

/* A failure of another revision's instance is not the new one's. */
static void test_rollout_state__deadline_abort_without_failure_says_only_counts(void **state)
{
	struct rollout_state st;
	struct rollout_params p;
	deadline_passed(&st, &p);
	struct rollout_instance insts[] = {
		{.id = "app-1", .revision = 1, .ready = false, .created_ms = 1,
		 .failure = "exited with status 1, 1 restart"},
		{.id = "app-2", .revision = 2, .created_ms = 2},
	};
	struct rollout_actions out = {.n = 0};
	assert_true(rollout_reconcile(&st, &p, insts, 2, NULL, 0, NOW, &out));
	assert_int_equal(st.phase, ROLLOUT_DEGRADED);
	assert_non_null(strstr(st.reason, "(0/1 new instances ready)"));
	assert_null(strstr(st.reason, "instance app-"));
}

/* An instance whose document cannot start (a value no key opens) ends the
 * rollout at once, long before progressDeadline, for every strategy. */
static void test_rollout_state__unstartable_aborts_at_once(void **state)
{
	for (int strategy = 0; strategy < 3; strategy++) {
		struct rollout_state st;
		struct rollout_params p;
		struct spec_strategy s = {.kind = strategy == 0   ? SPEC_STRATEGY_ROLLING
						  : strategy == 1 ? SPEC_STRATEGY_CANARY
								  : SPEC_STRATEGY_BLUEGREEN};
		deadline_passed(&st, &p);
		rollout_set_desired(&st, 2, NOW - 1000, "applied revision 2");
		p.strategy = &s;
		struct rollout_instance insts[] = {
			{.id = "app-1", .revision = 1, .ready = true, .created_ms = 1},
			{.id = "app-2", .revision = 2, .created_ms = 2, .unstartable = true,
			 .failure = "could not start: env DB: no identity matches, 0 restarts"},
		};
		struct rollout_actions out = {.n = 0};
		rollout_reconcile(&st, &p, insts, 2, NULL, 0, NOW, &out);
		assert_int_equal(st.phase, ROLLOUT_DEGRADED);
		assert_int_equal(st.failed, 2);
		assert_non_null(strstr(st.reason, "instance app-2 cannot start, and retrying cannot "
					       "help: could not start: env DB: no identity matches"));
		assert_non_null(strstr(st.reason, "revision 1 keeps serving"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rollout_state__deadline_abort_quotes_the_instance_failure),
		cmocka_unit_test(test_rollout_state__deadline_abort_without_failure_says_only_counts),
		cmocka_unit_test(test_rollout_state__unstartable_aborts_at_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
