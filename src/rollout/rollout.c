#include "rollout.h"

#include <stdio.h>
#include <string.h>

#include "../util/util.h"

const char *rollout_phase_name(enum rollout_phase p)
{
	switch (p) {
	case ROLLOUT_PROGRESSING: return "Progressing";
	case ROLLOUT_HEALTHY: return "Healthy";
	case ROLLOUT_DEGRADED: return "Degraded";
	}
	return "Progressing";
}

enum rollout_phase rollout_phase_parse(const char *name)
{
	if (name && strcmp(name, "Healthy") == 0)
		return ROLLOUT_HEALTHY;
	if (name && strcmp(name, "Degraded") == 0)
		return ROLLOUT_DEGRADED;
	return ROLLOUT_PROGRESSING;
}

int64_t rollout_target(const struct rollout_state *st)
{
	if (st->phase == ROLLOUT_DEGRADED && st->failed == st->desired)
		return st->stable;
	return st->desired;
}

void rollout_set_desired(struct rollout_state *st, int64_t revision, int64_t now_ms,
			 const char *why)
{
	st->desired = revision;
	st->failed = 0;
	st->phase = ROLLOUT_PROGRESSING;
	st->progress_ms = now_ms;
	st->progress_ready = 0;
	snprintf(st->reason, sizeof(st->reason), "%s", why);
}

static struct rollout_action *add(struct rollout_actions *out, enum rollout_action_kind kind)
{
	SW_ASSERT(out->n < ROLLOUT_MAX_ACTIONS);
	struct rollout_action *a = &out->a[out->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

static bool room(const struct rollout_actions *out)
{
	return out->n + 2 < ROLLOUT_MAX_ACTIONS;
}

static void event(struct rollout_actions *out, const char *kind, const char *msg)
{
	struct rollout_action *a = add(out, ROLLOUT_EVENT);
	a->event = kind;
	snprintf(a->message, sizeof(a->message), "%s", msg);
}

static void set_phase(struct rollout_state *st, enum rollout_phase ph, const char *reason,
		      struct rollout_actions *out)
{
	st->phase = ph;
	snprintf(st->reason, sizeof(st->reason), "%s", reason);
	event(out, rollout_phase_name(ph), reason);
}

/* Stops one instance from `insts` matching the filter: not-ready ones
 * first, then the newest. Returns true if one was picked. */
static bool stop_one(const struct rollout_instance *insts, size_t n, bool *picked,
		     int64_t target, bool of_target, struct rollout_actions *out)
{
	ssize_t best = -1;
	for (size_t i = 0; i < n; i++) {
		const struct rollout_instance *x = &insts[i];
		if (x->stopping || picked[i] || (x->revision == target) != of_target)
			continue;
		if (best < 0)
			best = (ssize_t)i;
		else {
			const struct rollout_instance *b = &insts[best];
			if ((b->ready && !x->ready) ||
			    (b->ready == x->ready && x->created_ms > b->created_ms))
				best = (ssize_t)i;
		}
	}
	if (best < 0)
		return false;
	picked[best] = true;
	struct rollout_action *a = add(out, ROLLOUT_STOP);
	a->id = insts[best].id;
	a->revision = insts[best].revision;
	return true;
}

bool rollout_reconcile(struct rollout_state *st, const struct rollout_params *p,
		       const struct rollout_instance *insts, size_t n, int64_t now_ms,
		       struct rollout_actions *out)
{
	struct rollout_state before = *st;
	bool picked[n ? n : 1];
	memset(picked, 0, sizeof(picked));
	char msg[320];

	int64_t target = rollout_target(st);
	uint32_t want = 0;
	if (target == st->desired)
		want = p->desired_replicas;
	else if (target == st->stable)
		want = p->stable_replicas;

	uint32_t cur = 0, cur_ready = 0, old = 0, old_ready = 0;
	for (size_t i = 0; i < n; i++) {
		if (insts[i].stopping)
			continue;
		if (insts[i].revision == target) {
			cur++;
			cur_ready += insts[i].ready;
		} else {
			old++;
			old_ready += insts[i].ready;
		}
	}

	/* Progress of an update: a new instance became ready. */
	if (st->phase == ROLLOUT_PROGRESSING) {
		if (cur_ready > st->progress_ready) {
			st->progress_ms = now_ms;
			st->progress_ready = cur_ready;
		} else if (cur_ready < st->progress_ready) {
			st->progress_ready = cur_ready;
		}
	}

	/* Abort an update that stopped making progress. */
	if (st->phase == ROLLOUT_PROGRESSING && target == st->desired &&
	    st->desired != st->stable && !(cur == want && cur_ready == want && old == 0) &&
	    now_ms - st->progress_ms > (int64_t)p->progress_deadline_ms) {
		char dl[32];
		sw_duration_format(dl, sizeof(dl), p->progress_deadline_ms);
		if (st->stable > 0)
			snprintf(msg, sizeof(msg),
				 "revision %lld made no progress within progressDeadline %s "
				 "(%u/%u new instances ready); revision %lld keeps serving",
				 (long long)st->desired, dl, cur_ready, want, (long long)st->stable);
		else
			snprintf(msg, sizeof(msg),
				 "revision %lld made no progress within progressDeadline %s "
				 "(%u/%u instances ready); no earlier revision to fall back to",
				 (long long)st->desired, dl, cur_ready, want);
		st->failed = st->desired;
		set_phase(st, ROLLOUT_DEGRADED, msg, out);
		target = rollout_target(st);
		want = target ? p->stable_replicas : 0;
		cur = cur_ready = old = old_ready = 0;
		for (size_t i = 0; i < n; i++) {
			if (insts[i].stopping)
				continue;
			if (insts[i].revision == target) {
				cur++;
				cur_ready += insts[i].ready;
			} else {
				old++;
				old_ready += insts[i].ready;
			}
		}
	}

	if (target == 0) {
		/* Nothing should run: stop everything. */
		while (room(out) && stop_one(insts, n, picked, target, false, out))
			;
	} else if (old_ready == 0) {
		/* Nothing old is serving: no availability to protect. Start the
		 * target at full size at once and stop what is left of the old. */
		for (uint32_t i = cur; i < want && room(out); i++)
			add(out, ROLLOUT_START)->revision = target;
		while (room(out) && stop_one(insts, n, picked, target, false, out))
			;
	} else {
		/* Rolling: never fewer than want - maxUnavailable ready, never
		 * more than want + maxSurge instances. */
		uint32_t min_avail = want > p->max_unavailable ? want - p->max_unavailable : 0;
		uint32_t max_total = want + p->max_surge;
		uint32_t avail = cur_ready + old_ready, total = cur + old;
		/* Old instances that are not ready cost nothing to stop. */
		for (size_t i = 0; i < n && room(out); i++) {
			if (!insts[i].stopping && insts[i].revision != target && !insts[i].ready &&
			    !picked[i]) {
				picked[i] = true;
				struct rollout_action *a = add(out, ROLLOUT_STOP);
				a->id = insts[i].id;
				a->revision = insts[i].revision;
				old--;
				total--;
			}
		}
		while (old > 0 && avail > min_avail && room(out) &&
		       stop_one(insts, n, picked, target, false, out)) {
			old--;
			total--;
			avail--;
		}
		while (cur < want && total < max_total && room(out)) {
			add(out, ROLLOUT_START)->revision = target;
			cur++;
			total++;
		}
	}

	/* Scale the target down to its size (newest, not-ready first). */
	while (cur > want && room(out) && stop_one(insts, n, picked, target, true, out))
		cur--;

	if (st->phase == ROLLOUT_PROGRESSING && target == st->desired && cur == want &&
	    cur_ready == want && old == 0 && want > 0) {
		st->stable = st->desired;
		snprintf(msg, sizeof(msg), "revision %lld is fully rolled out (%u/%u ready)",
			 (long long)st->desired, cur_ready, want);
		set_phase(st, ROLLOUT_HEALTHY, msg, out);
	}

	return before.desired != st->desired || before.stable != st->stable ||
	       before.failed != st->failed || before.phase != st->phase ||
	       before.progress_ms != st->progress_ms ||
	       before.progress_ready != st->progress_ready || strcmp(before.reason, st->reason) != 0;
}
