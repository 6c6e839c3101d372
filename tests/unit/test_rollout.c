/* Unit tests of the rollout decision function, driven by a small simulator
 * of instances instead of processes: every path runs without sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollout/rollout.h"

#define MAXI 64

struct sim {
	struct rollout_state st;
	struct rollout_params p;
	struct rollout_instance inst[MAXI];
	char ids[MAXI][16];
	size_t n;
	int seq;
	int64_t now;
	int stops_of[8];  /* stop actions per revision */
	int events_healthy, events_degraded;
};

static void sim_init(struct sim *s, uint32_t replicas)
{
	memset(s, 0, sizeof(*s));
	s->p.desired_replicas = replicas;
	s->p.stable_replicas = replicas;
	s->p.max_surge = 1;
	s->p.max_unavailable = 0;
	s->p.progress_deadline_ms = 60000;
	s->now = 1000000;
}

static void sim_remove(struct sim *s, size_t i)
{
	s->inst[i] = s->inst[s->n - 1];
	memcpy(s->ids[i], s->ids[s->n - 1], sizeof(s->ids[i]));
	s->inst[i].id = s->ids[i];
	s->n--;
}

/* Runs one reconcile and applies its actions at once (stops complete
 * immediately). Returns the number of actions. */
static size_t sim_step(struct sim *s)
{
	struct rollout_actions out = {.n = 0};
	rollout_reconcile(&s->st, &s->p, s->inst, s->n, s->now, &out);
	for (size_t k = 0; k < out.n; k++) {
		struct rollout_action *a = &out.a[k];
		if (a->kind == ROLLOUT_START) {
			assert_true(s->n < MAXI);
			snprintf(s->ids[s->n], sizeof(s->ids[0]), "i%d", ++s->seq);
			s->inst[s->n] = (struct rollout_instance){
				.id = s->ids[s->n], .revision = a->revision, .created_ms = s->now};
			s->n++;
		} else if (a->kind == ROLLOUT_EVENT) {
			if (strcmp(a->event, "Healthy") == 0)
				s->events_healthy++;
			if (strcmp(a->event, "Degraded") == 0)
				s->events_degraded++;
		}
	}
	/* stops: find by id (ids point into s->ids, which sim_remove moves) */
	for (size_t k = 0; k < out.n; k++) {
		if (out.a[k].kind != ROLLOUT_STOP)
			continue;
		s->stops_of[out.a[k].revision & 7]++;
		for (size_t i = 0; i < s->n; i++)
			if (s->inst[i].id == out.a[k].id) {
				s->inst[i].stopping = true;
				break;
			}
	}
	for (size_t i = 0; i < s->n;) {
		if (s->inst[i].stopping)
			sim_remove(s, i);
		else
			i++;
	}
	return out.n;
}

static void make_ready(struct sim *s, int64_t rev, int count)
{
	for (size_t i = 0; i < s->n && count; i++)
		if (s->inst[i].revision == rev && !s->inst[i].ready) {
			s->inst[i].ready = true;
			count--;
		}
}

static uint32_t count(struct sim *s, int64_t rev, bool ready_only)
{
	uint32_t c = 0;
	for (size_t i = 0; i < s->n; i++)
		if ((rev == 0 || s->inst[i].revision == rev) && (!ready_only || s->inst[i].ready))
			c++;
	return c;
}

static void deploy_first(struct sim *s, uint32_t replicas)
{
	rollout_set_desired(&s->st, 1, s->now, "applied revision 1");
	sim_step(s);
	assert_int_equal(count(s, 1, false), replicas);
	make_ready(s, 1, (int)replicas);
	sim_step(s);
	assert_int_equal(s->st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s->st.stable, 1);
}

static void test_rollout__first_deploy_starts_all_replicas_at_once(void **state)
{
	struct sim s;
	sim_init(&s, 3);
	deploy_first(&s, 3);
	assert_int_equal(s.events_healthy, 1);
	assert_string_equal(rollout_phase_name(s.st.phase), "Healthy");
}

static void test_rollout__reconcile_is_idempotent(void **state)
{
	struct sim s;
	sim_init(&s, 2);
	deploy_first(&s, 2);
	assert_int_equal(sim_step(&s), 0);
	assert_int_equal(sim_step(&s), 0);
	/* while an instance is starting, repeating adds nothing either */
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	assert_int_equal(sim_step(&s), 1);
	assert_int_equal(sim_step(&s), 0);
}

static void test_rollout__update_replaces_one_at_a_time_keeping_availability(void **state)
{
	struct sim s;
	sim_init(&s, 3);
	deploy_first(&s, 3);
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	for (int round = 0; round < 20 && s.st.phase != ROLLOUT_HEALTHY; round++) {
		sim_step(&s);
		assert_true(count(&s, 0, true) >= 3);       /* maxUnavailable 0 */
		assert_true(count(&s, 0, false) <= 4);      /* maxSurge 1 */
		assert_true(count(&s, 2, false) - count(&s, 2, true) <= 1);
		s.now += 1000;
		make_ready(&s, 2, 1);
	}
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s.st.stable, 2);
	assert_int_equal(count(&s, 1, false), 0);
	assert_int_equal(count(&s, 2, true), 3);
}

static void test_rollout__never_ready_update_degrades_and_keeps_old(void **state)
{
	struct sim s;
	sim_init(&s, 2);
	deploy_first(&s, 2);
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 1);
	s.now += 59000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING);
	s.now += 2000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_non_null(strstr(s.st.reason, "progressDeadline 1m"));
	assert_non_null(strstr(s.st.reason, "revision 1 keeps serving"));
	assert_int_equal(count(&s, 2, false), 0);
	assert_int_equal(count(&s, 1, true), 2);
	assert_int_equal(s.stops_of[1], 0);
	assert_int_equal(rollout_target(&s.st), 1);
	/* stays put */
	s.now += 100000;
	assert_int_equal(sim_step(&s), 0);
	assert_int_equal(s.events_degraded, 1);
}

static void test_rollout__first_deploy_never_ready_degrades_and_stops(void **state)
{
	struct sim s;
	sim_init(&s, 2);
	rollout_set_desired(&s.st, 1, s.now, "applied revision 1");
	sim_step(&s);
	s.now += 61000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_int_equal(count(&s, 0, false), 0);
	assert_non_null(strstr(s.st.reason, "no earlier revision"));
}

static void test_rollout__progress_resets_the_deadline(void **state)
{
	struct sim s;
	sim_init(&s, 3);
	deploy_first(&s, 3);
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	for (int i = 0; i < 3; i++) {
		sim_step(&s);
		s.now += 50000; /* each instance takes 50 s: slow but progressing */
		make_ready(&s, 2, 1);
		sim_step(&s);
	}
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
}

static void test_rollout__rollback_after_degraded_returns_to_healthy(void **state)
{
	struct sim s;
	sim_init(&s, 2);
	deploy_first(&s, 2);
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	sim_step(&s);
	s.now += 61000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	rollout_set_desired(&s.st, 1, s.now, "rollback to revision 1");
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s.stops_of[1], 0);
}

static void test_rollout__scale_down_and_up_in_place(void **state)
{
	struct sim s;
	sim_init(&s, 3);
	deploy_first(&s, 3);
	/* same revision number would not change; a new revision with fewer replicas */
	s.p.desired_replicas = 1;
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	for (int i = 0; i < 10 && s.st.phase != ROLLOUT_HEALTHY; i++) {
		sim_step(&s);
		make_ready(&s, 2, 1);
	}
	assert_int_equal(count(&s, 0, false), 1);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
}

static void test_rollout__crashed_old_instances_do_not_block_update(void **state)
{
	struct sim s;
	sim_init(&s, 2);
	deploy_first(&s, 2);
	for (size_t i = 0; i < s.n; i++)
		s.inst[i].ready = false;  /* old revision is crash-looping */
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 2);  /* full size at once */
	assert_int_equal(count(&s, 1, false), 0);
}

/* Random event sequences: whatever happens, the invariants hold and the
 * rollout ends in a terminal phase. */
static void test_rollout__random_sequences_keep_invariants(void **state)
{
	srand(12345);
	for (int trial = 0; trial < 500; trial++) {
		struct sim s;
		uint32_t r = 1 + (uint32_t)(rand() % 4);
		sim_init(&s, r);
		s.p.progress_deadline_ms = 10000;
		deploy_first(&s, r);
		int64_t rev = 1;
		for (int step = 0; step < 200; step++) {
			int e = rand() % 10;
			if (e == 0) {
				rev++;
				s.p.desired_replicas = 1 + (uint32_t)(rand() % 4);
				if (s.st.phase == ROLLOUT_HEALTHY)
					s.p.stable_replicas = s.p.desired_replicas;
				rollout_set_desired(&s.st, rev, s.now, "apply");
			} else if (e < 6) {
				make_ready(&s, rollout_target(&s.st), 1);
			} else if (e == 6 && s.n) {
				s.inst[rand() % s.n].ready = false;
			}
			s.now += rand() % 3000;
			uint32_t ready_before = count(&s, 0, true);
			enum rollout_phase phase_before = s.st.phase;
			sim_step(&s);
			int64_t t = rollout_target(&s.st);
			uint32_t want = t == s.st.desired ? s.p.desired_replicas : s.p.stable_replicas;
			if (t == 0)
				want = 0;
			/* the target never runs more instances than its size */
			assert_true(count(&s, t, false) <= want);
			/* a step never takes ready instances below what was serving,
			 * up to the target size, unless it just aborted */
			uint32_t floor = ready_before < want ? ready_before : want;
			if (!(phase_before != ROLLOUT_DEGRADED && s.st.phase == ROLLOUT_DEGRADED))
				assert_true(count(&s, 0, true) >= floor);
		}
		/* let it settle: everything becomes ready */
		for (int k = 0; k < 50; k++) {
			make_ready(&s, rollout_target(&s.st), 8);
			s.now += 1000;
			sim_step(&s);
		}
		assert_true(s.st.phase == ROLLOUT_HEALTHY || s.st.phase == ROLLOUT_DEGRADED);
		int64_t t = rollout_target(&s.st);
		for (size_t i = 0; i < s.n; i++)
			assert_int_equal(s.inst[i].revision, t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rollout__first_deploy_starts_all_replicas_at_once),
		cmocka_unit_test(test_rollout__reconcile_is_idempotent),
		cmocka_unit_test(test_rollout__update_replaces_one_at_a_time_keeping_availability),
		cmocka_unit_test(test_rollout__never_ready_update_degrades_and_keeps_old),
		cmocka_unit_test(test_rollout__first_deploy_never_ready_degrades_and_stops),
		cmocka_unit_test(test_rollout__progress_resets_the_deadline),
		cmocka_unit_test(test_rollout__rollback_after_degraded_returns_to_healthy),
		cmocka_unit_test(test_rollout__scale_down_and_up_in_place),
		cmocka_unit_test(test_rollout__crashed_old_instances_do_not_block_update),
		cmocka_unit_test(test_rollout__random_sequences_keep_invariants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
