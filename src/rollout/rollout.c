#include "rollout.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

const struct spec_header_match rollout_preview_header = {
	.name = "X-Slipway-Preview",
	.exact = "true",
	.regex = NULL,
};

const char *rollout_phase_name(enum rollout_phase p)
{
	switch (p) {
	case ROLLOUT_PROGRESSING: return "Progressing";
	case ROLLOUT_PAUSED: return "Paused";
	case ROLLOUT_HEALTHY: return "Healthy";
	case ROLLOUT_DEGRADED: return "Degraded";
	case ROLLOUT_FROZEN: return "Frozen";
	case ROLLOUT_WAITING: return "Waiting";
	}
	return "Progressing";
}

enum rollout_phase rollout_phase_parse(const char *name)
{
	if (name && strcmp(name, "Healthy") == 0)
		return ROLLOUT_HEALTHY;
	if (name && strcmp(name, "Degraded") == 0)
		return ROLLOUT_DEGRADED;
	if (name && strcmp(name, "Paused") == 0)
		return ROLLOUT_PAUSED;
	if (name && strcmp(name, "Frozen") == 0)
		return ROLLOUT_FROZEN;
	return ROLLOUT_PROGRESSING;
}

static bool aborted(const struct rollout_state *st)
{
	return st->phase == ROLLOUT_DEGRADED && st->failed == st->desired;
}

/* Aborted or Frozen: the steps go no further. */
static bool halted(const struct rollout_state *st)
{
	return aborted(st) || st->phase == ROLLOUT_FROZEN;
}

int64_t rollout_target(const struct rollout_state *st)
{
	return aborted(st) ? st->stable : st->desired;
}

static void reset_progressive(struct rollout_state *st, int64_t now_ms)
{
	st->step = 0;
	st->step_ms = now_ms;
	st->weight = 0;
	st->header_step = -1;
	st->step_run = st->bg_run = st->pre_run = 0;
	st->waiting = st->user_paused = st->promote = st->promote_full = false;
	st->promoted = false;
	st->ready_ms = 0;
}

void rollout_set_desired(struct rollout_state *st, int64_t revision, int64_t now_ms,
			 const char *why)
{
	st->desired = revision;
	st->failed = 0;
	st->phase = ROLLOUT_PROGRESSING;
	st->progress_ms = now_ms;
	st->progress_ready = 0;
	st->fast = false;
	reset_progressive(st, now_ms);
	/* a new rollout: runs before it are another's; the documents say how many */
	st->run_base = st->next_run;
	st->restart_ms = 0;
	st->scaled = false;
	st->replicas = 0;
	/* hooks run for a revision that is not the one serving already */
	st->hook_run = 0;
	st->hook_kind = SPEC_HOOK_PRE_DEPLOY;
	st->hook_index = 0;
	st->hooks_done = revision == st->stable
		? (1u << SPEC_HOOK_PRE_DEPLOY) | (1u << SPEC_HOOK_POST_DEPLOY) : 0;
	/* waits only when the daemon says so (rollout_wait_for_dependencies) */
	st->deps_wait = st->deps_told = false;
	st->window_wait = st->window_told = false;
	snprintf(st->reason, sizeof(st->reason), "%s", why);
}

void rollout_wait_for_dependencies(struct rollout_state *st)
{
	st->deps_wait = st->desired && st->desired != st->stable;
	st->deps_told = false;
}

void rollout_wait_for_window(struct rollout_state *st)
{
	st->window_wait = st->desired && st->desired != st->stable;
	st->window_told = false;
}

void rollout_undo(struct rollout_state *st, int64_t revision, int64_t now_ms, const char *why)
{
	rollout_set_desired(st, revision, now_ms, why);
	st->fast = true;
}

/* ---- actions ---- */

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
	return out->n + 8 < ROLLOUT_MAX_ACTIONS;
}

static void event(struct rollout_actions *out, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void event(struct rollout_actions *out, const char *kind, const char *fmt, ...)
{
	struct rollout_action *a = add(out, ROLLOUT_EVENT);
	a->event = kind;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->message, sizeof(a->message), fmt, ap);
	va_end(ap);
}

static void reasonf(struct rollout_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reasonf(struct rollout_state *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->reason, sizeof(st->reason), fmt, ap);
	va_end(ap);
}

static void set_phase(struct rollout_state *st, enum rollout_phase ph, const char *reason,
		      struct rollout_actions *out)
{
	bool changed = st->phase != ph;
	st->phase = ph;
	sw_strlcpy(st->reason, reason, sizeof(st->reason));
	if (changed || ph == ROLLOUT_DEGRADED)
		event(out, rollout_phase_name(ph), "%s", reason);
}

static void stop_run(int64_t *run, struct rollout_actions *out)
{
	if (*run) {
		add(out, ROLLOUT_RUN_STOP)->run = *run;
		*run = 0;
	}
}

static int64_t start_run(struct rollout_state *st, enum rollout_run_kind kind,
			 const struct spec_analysis_ref *ref, struct rollout_actions *out)
{
	struct rollout_action *a = add(out, ROLLOUT_RUN_START);
	a->run = ++st->next_run;
	a->run_kind = kind;
	a->ref = ref;
	a->revision = st->desired;
	return a->run;
}

static const struct rollout_run_status *run_status(const struct rollout_run_status *runs,
						   size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (runs[i].id == id)
			return &runs[i];
	return NULL;
}

/* What an abort takes back at once, whoever decides it: the new
 * revision's traffic and every pending request of the operator. */
static void mark_aborted(struct rollout_state *st)
{
	st->failed = st->desired;
	st->weight = 0;
	st->header_step = -1;
	st->waiting = st->user_paused = st->promote = st->promote_full = false;
	st->deps_wait = false; /* nothing waits for a revision that will not start */
	st->window_wait = false;
}

/* True when going back to stable would serve a revision the schema no
 * longer supports (a contract migration of a newer one ran). */
static bool schema_holds_back(const struct rollout_state *st)
{
	return st->stable > 0 && st->stable < st->schema_min && st->desired != st->stable;
}

static void freeze_reason(struct rollout_state *st, const char *why)
{
	/* the decision first: a long `why` is what gets cut */
	reasonf(st, "rollout of revision %lld frozen, not rolled back: a contract migration of "
		"revision %lld ran, revision %lld may not work with the schema; traffic held (%u%% "
		"to revision %lld); `slipway rollout abort --force` rolls back anyway; %s",
		(long long)st->desired, (long long)st->schema_min, (long long)st->stable,
		st->weight, (long long)st->desired, why);
}

/* Holds everything where it is instead of an abort: runs stopped, no
 * step taken, instances and weights as they are (rollout_reconcile does
 * nothing else while Frozen). */
static void do_freeze(struct rollout_state *st, const char *why, struct rollout_actions *out)
{
	stop_run(&st->step_run, out);
	stop_run(&st->bg_run, out);
	stop_run(&st->pre_run, out);
	st->waiting = st->user_paused = st->promote = st->promote_full = false;
	st->progress_ms = 0;
	freeze_reason(st, why);
	char msg[sizeof(st->reason)];
	snprintf(msg, sizeof(msg), "%s", st->reason);
	set_phase(st, ROLLOUT_FROZEN, msg, out);
}

/* Degraded with the abort's reason and what serves instead. */
static void set_aborted(struct rollout_state *st, const char *why, struct rollout_actions *out)
{
	char msg[700];
	if (st->stable > 0)
		snprintf(msg, sizeof(msg), "rollout of revision %lld aborted: %s; revision %lld keeps serving",
			 (long long)st->desired, why, (long long)st->stable);
	else
		snprintf(msg, sizeof(msg), "rollout of revision %lld aborted: %s; no earlier revision to fall back to",
			 (long long)st->desired, why);
	set_phase(st, ROLLOUT_DEGRADED, msg, out);
}

/* Aborts the rollout of the desired revision: weight 0 at once, runs
 * stopped; the instance plan then brings stable back to full size. After
 * a contract migration it freezes instead. */
static void do_abort(struct rollout_state *st, const char *why, struct rollout_actions *out)
{
	if (schema_holds_back(st)) {
		do_freeze(st, why, out);
		return;
	}
	mark_aborted(st);
	stop_run(&st->step_run, out);
	stop_run(&st->bg_run, out);
	stop_run(&st->pre_run, out);
	set_aborted(st, why, out);
}

/* ---- operator commands ---- */

static int refuse(char *msg, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(char *msg, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, size, fmt, ap);
	va_end(ap);
	return -1;
}

static bool in_progress(const struct rollout_state *st)
{
	return st->phase == ROLLOUT_PROGRESSING || st->phase == ROLLOUT_PAUSED;
}

bool rollout_waiting_for_dependencies(const struct rollout_state *st)
{
	return st->deps_wait && in_progress(st) && st->desired && st->desired != st->stable;
}

bool rollout_waiting_for_window(const struct rollout_state *st)
{
	return st->window_wait && in_progress(st) && st->desired && st->desired != st->stable;
}

bool rollout_held_by_window(const struct rollout_state *st)
{
	return rollout_waiting_for_window(st) && st->window_told;
}

int rollout_window_override(struct rollout_state *st, int64_t now_ms, char *msg, size_t size)
{
	if (!rollout_waiting_for_window(st))
		return refuse(msg, size, "revision %lld does not wait for a sync window",
			      (long long)st->desired);
	st->window_wait = false;
	if (st->window_told && !rollout_waiting_for_dependencies(st)) {
		/* as when the window opens: the deadline and the first step start now */
		st->progress_ms = 0;
		st->step_ms = now_ms;
		reasonf(st, "sync window overridden; starting revision %lld", (long long)st->desired);
	}
	return 0;
}

int rollout_promote(struct rollout_state *st, bool full, char *msg, size_t size)
{
	if (rollout_held_by_window(st) && !rollout_waiting_for_dependencies(st))
		return refuse(msg, size, "revision %lld waits for a sync window, which promote does "
			      "not pass: `slipway rollout override APP --reason TEXT` starts it",
			      (long long)st->desired);
	if (st->phase == ROLLOUT_FROZEN) {
		if (!full)
			return refuse(msg, size, "the rollout is Frozen: `promote --full` goes forward, "
				      "`abort --force` rolls back");
		st->phase = ROLLOUT_PROGRESSING;
		st->promote_full = true;
		snprintf(st->reason, sizeof(st->reason), "promoted to full size from Frozen");
		return 0;
	}
	if (!in_progress(st))
		return refuse(msg, size, "the rollout is %s: nothing to promote",
			      rollout_phase_name(st->phase));
	st->promote = true;
	st->promote_full = st->promote_full || full;
	st->user_paused = false;
	return 0;
}

int rollout_abort(struct rollout_state *st, int64_t now_ms, const char *why, bool force,
		  char *msg, size_t size)
{
	bool frozen = st->phase == ROLLOUT_FROZEN;
	if ((!in_progress(st) && !frozen) || st->desired == st->stable)
		return refuse(msg, size, "the rollout is %s: nothing to abort",
			      rollout_phase_name(st->phase));
	if (frozen && !force)
		return refuse(msg, size, "the rollout is Frozen after a contract migration: `abort "
			      "--force` rolls back to revision %lld anyway", (long long)st->stable);
	if (!force && schema_holds_back(st)) {
		/* the reconcile that follows stops the runs */
		st->waiting = st->user_paused = st->promote = st->promote_full = false;
		st->phase = ROLLOUT_FROZEN;
		freeze_reason(st, why);
		return 0;
	}
	/* the reconcile that follows stops runs and instances; mark it now */
	mark_aborted(st);
	st->phase = ROLLOUT_DEGRADED;
	if (st->stable)
		snprintf(st->reason, sizeof(st->reason),
			 "rollout of revision %lld aborted: %s; revision %lld keeps serving",
			 (long long)st->desired, why, (long long)st->stable);
	else
		snprintf(st->reason, sizeof(st->reason), "rollout of revision %lld aborted: %s",
			 (long long)st->desired, why);
	(void)now_ms;
	return 0;
}

int rollout_pause(struct rollout_state *st, char *msg, size_t size)
{
	if (!in_progress(st))
		return refuse(msg, size, "the rollout is %s: nothing to pause",
			      rollout_phase_name(st->phase));
	if (st->user_paused)
		return refuse(msg, size, "the rollout is already paused");
	st->user_paused = true;
	st->phase = ROLLOUT_PAUSED;
	snprintf(st->reason, sizeof(st->reason),
		 "paused by the operator; `slipway rollout resume` continues");
	return 0;
}

int rollout_resume(struct rollout_state *st, char *msg, size_t size)
{
	if (st->phase != ROLLOUT_PAUSED)
		return refuse(msg, size, "the rollout is %s, not Paused",
			      rollout_phase_name(st->phase));
	if (st->user_paused) {
		st->user_paused = false;
		if (st->waiting) {
			/* back to what it was doing: waiting for a promote */
			snprintf(st->reason, sizeof(st->reason),
				 "waiting for `slipway rollout promote`");
			return 0;
		}
	} else {
		/* waiting for a promote (pause {} or inconclusive): resume = promote */
		st->promote = true;
	}
	st->phase = ROLLOUT_PROGRESSING;
	return 0;
}

int rollout_retry(struct rollout_state *st, int64_t now_ms, char *msg, size_t size)
{
	if (!aborted(st))
		return refuse(msg, size, "the rollout is %s: only an aborted (Degraded) rollout can be retried",
			      rollout_phase_name(st->phase));
	char why[96];
	snprintf(why, sizeof(why), "retrying revision %lld", (long long)st->desired);
	rollout_set_desired(st, st->desired, now_ms, why);
	return 0;
}

int rollout_restart(struct rollout_state *st, int64_t now_ms, char *msg, size_t size)
{
	if (!st->desired)
		return refuse(msg, size, "no revision is deployed: nothing to restart");
	bool restarting = st->restart_ms && st->phase == ROLLOUT_PROGRESSING;
	if ((st->phase != ROLLOUT_HEALTHY && !restarting) || st->desired != st->stable)
		return refuse(msg, size, "the rollout is %s: restart once it is Healthy (a rollout "
			      "under way replaces the instances already)", rollout_phase_name(st->phase));
	if (st->scaled && st->replicas == 0)
		return refuse(msg, size, "scaled to 0 replicas: nothing to restart");
	st->restart_ms = now_ms;
	st->phase = ROLLOUT_PROGRESSING;
	st->progress_ms = now_ms;
	st->progress_ready = 0;
	st->user_paused = st->promote = st->promote_full = st->waiting = false;
	reasonf(st, "restart of revision %lld: replacing its instances one at a time",
		(long long)st->desired);
	return 0;
}

int rollout_scale(struct rollout_state *st, uint32_t replicas, char *msg, size_t size)
{
	if (replicas > ROLLOUT_MAX_REPLICAS)
		return refuse(msg, size, "replicas must be between 0 and %d, got %u",
			      ROLLOUT_MAX_REPLICAS, replicas);
	if (!st->desired)
		return refuse(msg, size, "no revision is deployed: nothing to scale");
	if (st->phase == ROLLOUT_FROZEN ||
	    (in_progress(st) && st->desired != st->stable && !aborted(st)))
		return refuse(msg, size, "the rollout of revision %lld is %s: scale once it is Healthy "
			      "or aborted, or change replicas in the document",
			      (long long)st->desired, rollout_phase_name(st->phase));
	st->scaled = true;
	st->replicas = replicas;
	if (st->phase == ROLLOUT_HEALTHY && st->restart_ms == 0 && replicas > 0) {
		/* Healthy again once they are all ready (the rolling plan) */
		st->phase = ROLLOUT_PROGRESSING;
		reasonf(st, "scaling revision %lld to %u replica%s", (long long)st->desired, replicas,
			replicas == 1 ? "" : "s");
	} else if (st->phase == ROLLOUT_HEALTHY) {
		reasonf(st, "scaled to 0 replicas: no instance runs");
	}
	return 0;
}

uint32_t rollout_replicas(const struct rollout_state *st, uint32_t spec_replicas)
{
	return st->scaled ? st->replicas : spec_replicas;
}

/* ---- hooks ---- */

enum hooks_result { HOOKS_DONE, HOOKS_RUNNING, HOOKS_FAILED };

static size_t hooks_count(const struct rollout_params *p, enum spec_hook_kind kind)
{
	return p->hooks ? p->hooks->n[kind] : 0;
}

/*
 * Walks list `kind`, one job at a time: starts the next, or reads the
 * one in flight. HOOKS_FAILED sets `why` ("preDeploy hook \"migrate\"
 * failed: exited with status 3 (attempt 2/2)"); the list is finished
 * either way once it returns DONE or FAILED.
 */
static enum hooks_result walk_hooks(struct rollout_state *st, const struct rollout_params *p,
				    enum spec_hook_kind kind, const struct rollout_run_status *runs,
				    size_t nruns, char *why, size_t why_size,
				    struct rollout_actions *out)
{
	size_t n = hooks_count(p, kind);
	if (st->hook_kind != (uint32_t)kind) {
		st->hook_kind = kind;
		st->hook_index = 0;
		st->hook_run = 0; /* another list's job: the daemon stops it */
	}
	while (st->hook_index < n) {
		const struct spec_hook *h = &p->hooks->list[kind][st->hook_index];
		if (!st->hook_run) {
			if (!room(out))
				return HOOKS_RUNNING;
			struct rollout_action *a = add(out, ROLLOUT_HOOK_START);
			a->run = st->hook_run = ++st->next_run;
			a->hook_kind = kind;
			a->hook_index = st->hook_index;
			a->hook = h;
			a->revision = st->desired;
			return HOOKS_RUNNING;
		}
		const struct rollout_run_status *rs = run_status(runs, nruns, st->hook_run);
		if (!rs || rs->phase == ROLLOUT_RUN_RUNNING)
			return HOOKS_RUNNING;
		st->hook_run = 0;
		if (rs->phase != ROLLOUT_RUN_SUCCESSFUL) {
			snprintf(why, why_size, "%s hook \"%s\" failed: %s", spec_hook_kind_name(kind),
				 h->name, rs->reason ? rs->reason : "");
			st->hook_index = 0;
			st->hooks_done |= 1u << kind;
			return HOOKS_FAILED;
		}
		if (kind == SPEC_HOOK_PRE_DEPLOY && h->migration == SPEC_MIGRATION_CONTRACT &&
		    st->schema_min < st->desired)
			st->schema_min = st->desired;
		st->hook_index++;
	}
	st->hook_index = 0;
	st->hooks_done |= 1u << kind;
	return HOOKS_DONE;
}

static bool hooks_finished(const struct rollout_state *st, enum spec_hook_kind kind)
{
	return st->hooks_done & (1u << kind);
}

/* While preDeploy runs or dependencies are waited for: stable at full
 * size and nothing else (nothing new starts; what an earlier, superseded
 * rollout started goes once stable is fully ready, or at once when there
 * is no stable). */
static void hold_new_revision(struct rollout_state *st, const struct rollout_params *p,
				const struct rollout_instance *insts, size_t n, bool *picked,
				struct rollout_actions *out);

/* ---- dependencies ---- */

/* "db", "db and cache", "db, cache and queue" (cut to fit) */
static void names_text(char *out, size_t size, char *const *names, size_t n)
{
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && len + 1 < size; i++) {
		int w = snprintf(out + len, size - len, "%s%s", i == 0 ? "" : i + 1 == n ? " and " : ", ",
				 names[i]);
		len += w > 0 ? (size_t)w : 0;
	}
}

/*
 * The gate of rollout_wait_for_dependencies. Returns true while the
 * revision is held (stable kept at full size, nothing new started, as for
 * preDeploy); false once it may go on: its dependencies are Healthy, or a
 * promote skipped them.
 */
static bool hold_for_dependencies(struct rollout_state *st, const struct rollout_params *p,
				  const struct rollout_instance *insts, size_t n, bool *picked,
				  int64_t now_ms, struct rollout_actions *out)
{
	char names[200];
	names_text(names, sizeof(names), p->deps, p->ndeps);
	bool pending = p->ndeps && p->deps_pending;
	if (st->user_paused || (pending && !st->promote)) {
		if (!st->user_paused)
			reasonf(st, "waiting for %s; revision %lld starts once %s Healthy",
				p->deps_pending, (long long)st->desired,
				p->ndeps == 1 ? "it is" : "they are");
		if (pending && !st->deps_told) {
			st->deps_told = true;
			event(out, "WaitingForDependencies", "revision %lld waits for %s",
			      (long long)st->desired, p->deps_pending);
		}
		st->progress_ms = 0;
		hold_new_revision(st, p, insts, n, picked, out);
		return true;
	}
	st->deps_wait = false;
	if (pending) {
		/* the operator's promote was for this: it takes no step */
		st->promote = false;
		event(out, "DependenciesSkipped", "promoted: revision %lld starts without waiting for %s",
		      (long long)st->desired, p->deps_pending);
	} else if (st->deps_told) {
		event(out, "DependenciesReady", "%s %s Healthy; starting revision %lld", names,
		      p->ndeps == 1 ? "is" : "are", (long long)st->desired);
	}
	if (st->deps_told) {
		/* as after preDeploy: the deadline and the first step start now */
		st->progress_ms = 0;
		st->step_ms = now_ms;
		reasonf(st, "starting revision %lld", (long long)st->desired);
	}
	return false;
}

/*
 * The gate of rollout_wait_for_window, after dependencies. Returns true
 * while the revision is held (as for dependencies); false once the
 * window is open (or an override cleared window_wait before).
 */
static bool hold_for_window(struct rollout_state *st, const struct rollout_params *p,
			    const struct rollout_instance *insts, size_t n, bool *picked,
			    int64_t now_ms, struct rollout_actions *out)
{
	if (st->user_paused || p->window_denied) {
		if (!st->user_paused)
			reasonf(st, "%s; revision %lld starts when it opens", p->window_denied,
				(long long)st->desired);
		if (p->window_denied && !st->window_told) {
			st->window_told = true;
			event(out, "WaitingForWindow", "revision %lld waits: %s", (long long)st->desired,
			      p->window_denied);
		}
		st->progress_ms = 0;
		hold_new_revision(st, p, insts, n, picked, out);
		return true;
	}
	st->window_wait = false;
	if (st->window_told) {
		event(out, "WindowOpen", "sync window open; starting revision %lld",
		      (long long)st->desired);
		st->progress_ms = 0;
		st->step_ms = now_ms;
		reasonf(st, "sync window open; starting revision %lld", (long long)st->desired);
	}
	return false;
}

/* ---- instances ---- */

struct counts {
	uint32_t total, ready;
};

static struct counts count_rev(const struct rollout_instance *insts, size_t n, int64_t rev)
{
	struct counts c = {0, 0};
	for (size_t i = 0; i < n; i++)
		if (!insts[i].stopping && insts[i].revision == rev) {
			c.total++;
			c.ready += insts[i].ready;
		}
	return c;
}

/* Stops one instance matching the filter: not-ready ones first, then the
 * newest. rev 0 = any revision other than keep_a and keep_b; before_ms
 * not 0 = only instances created before then (a restart's old ones). */
static bool stop_pick(const struct rollout_instance *insts, size_t n, bool *picked, int64_t rev,
		      int64_t keep_a, int64_t keep_b, int64_t before_ms, struct rollout_actions *out)
{
	ssize_t best = -1;
	for (size_t i = 0; i < n; i++) {
		const struct rollout_instance *x = &insts[i];
		if (x->stopping || picked[i])
			continue;
		if (rev ? x->revision != rev : (x->revision == keep_a || x->revision == keep_b))
			continue;
		if (before_ms && x->created_ms >= before_ms)
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

static bool stop_one(const struct rollout_instance *insts, size_t n, bool *picked,
		     int64_t rev, int64_t keep_a, int64_t keep_b, struct rollout_actions *out)
{
	return stop_pick(insts, n, picked, rev, keep_a, keep_b, 0, out);
}

/* Brings revision `rev` to `want` instances at once (no availability to
 * protect: used for canary/preview instances beside a full stable). */
static void size_rev(const struct rollout_instance *insts, size_t n, bool *picked, int64_t rev,
		     uint32_t want, struct rollout_actions *out)
{
	struct counts c = count_rev(insts, n, rev);
	for (uint32_t i = c.total; i < want && room(out); i++)
		add(out, ROLLOUT_START)->revision = rev;
	for (uint32_t i = want; i < c.total && room(out); i++)
		stop_one(insts, n, picked, rev, 0, 0, out);
}

/* Tracks progress (more desired instances ready) and aborts after
 * progressDeadline without any while the wanted ones are not ready. The
 * clock runs only while the rollout waits for instances: with all wanted
 * ones ready (a timed pause, an analysis) it is stopped (progress_ms 0), and
 * it starts afresh when a step first wants more, so time spent in a step
 * never counts against the next one. An instance of the desired revision
 * that cannot start as its document is (unstartable) aborts at once: the
 * deadline would only make the user wait for a known end. */
static bool check_deadline(struct rollout_state *st, const struct rollout_params *p,
			   const struct rollout_instance *insts, size_t n,
			   struct counts c, uint32_t want, int64_t now_ms,
			   struct rollout_actions *out)
{
	if (c.ready >= want) {
		st->progress_ms = 0;
		st->progress_ready = c.ready;
		return false;
	}
	char why[256];
	for (size_t i = 0; i < n; i++)
		if (!insts[i].stopping && insts[i].revision == st->desired && insts[i].unstartable) {
			snprintf(why, sizeof(why), "instance %s cannot start, and retrying cannot help: "
				 "%s", insts[i].id, insts[i].failure ? insts[i].failure : "");
			do_abort(st, why, out);
			return true;
		}
	if (st->progress_ms == 0) {
		st->progress_ms = now_ms;
		st->progress_ready = c.ready;
	} else if (c.ready > st->progress_ready) {
		st->progress_ms = now_ms;
		st->progress_ready = c.ready;
	} else if (c.ready < st->progress_ready) {
		st->progress_ready = c.ready;
	}
	if (now_ms - st->progress_ms <= (int64_t)p->progress_deadline_ms)
		return false;
	char dl[32];
	sw_duration_format(dl, sizeof(dl), p->progress_deadline_ms);
	/* why the new instances are not ready, when one of them says */
	const struct rollout_instance *bad = NULL;
	for (size_t i = 0; i < n && !bad; i++)
		if (!insts[i].stopping && insts[i].revision == st->desired && insts[i].failure)
			bad = &insts[i];
	if (bad)
		snprintf(why, sizeof(why), "no progress within progressDeadline %s (%u/%u new "
			 "instances ready; instance %s %s)", dl, c.ready, want, bad->id, bad->failure);
	else
		snprintf(why, sizeof(why), "no progress within progressDeadline %s (%u/%u new "
			 "instances ready)", dl, c.ready, want);
	do_abort(st, why, out);
	return true;
}

/* ---- rolling ---- */

static void reconcile_rolling(struct rollout_state *st, const struct rollout_params *p,
			      const struct rollout_instance *insts, size_t n, bool *picked,
			      int64_t now_ms, struct rollout_actions *out)
{
	int64_t target = rollout_target(st);
	uint32_t want = 0;
	if (target == st->desired)
		want = p->desired_replicas;
	else if (target == st->stable)
		want = p->stable_replicas;
	uint32_t max_surge = p->max_surge, max_unavail = p->max_unavailable;
	if (st->fast)
		max_surge = want; /* undo: full size at once */
	if (max_surge == 0 && max_unavail == 0)
		max_surge = 1;

	struct counts cur = count_rev(insts, n, target);
	uint32_t old = 0, old_ready = 0;
	for (size_t i = 0; i < n; i++)
		if (!insts[i].stopping && insts[i].revision != target) {
			old++;
			old_ready += insts[i].ready;
		}

	if (st->phase == ROLLOUT_PROGRESSING && target == st->desired &&
	    st->desired != st->stable && !(cur.total == want && cur.ready == want && old == 0) &&
	    check_deadline(st, p, insts, n, cur, want, now_ms, out)) {
		if (st->phase == ROLLOUT_FROZEN)
			return;
		/* aborted: converge to stable instead */
		target = rollout_target(st);
		want = target ? p->stable_replicas : 0;
		cur = count_rev(insts, n, target);
		old = old_ready = 0;
		for (size_t i = 0; i < n; i++)
			if (!insts[i].stopping && insts[i].revision != target) {
				old++;
				old_ready += insts[i].ready;
			}
	}

	if (target == 0) {
		while (room(out) && stop_one(insts, n, picked, 0, 0, 0, out))
			;
	} else if (old_ready == 0) {
		/* Nothing old is serving: no availability to protect. */
		for (uint32_t i = cur.total; i < want && room(out); i++)
			add(out, ROLLOUT_START)->revision = target;
		while (room(out) && stop_one(insts, n, picked, 0, target, target, out))
			;
		cur.total = cur.total > want ? cur.total : want;
	} else {
		uint32_t min_avail = want > max_unavail ? want - max_unavail : 0;
		uint32_t max_total = want + max_surge;
		uint32_t avail = cur.ready + old_ready, total = cur.total + old;
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
		       stop_one(insts, n, picked, 0, target, target, out)) {
			old--;
			total--;
			avail--;
		}
		while (cur.total < want && total < max_total && room(out)) {
			add(out, ROLLOUT_START)->revision = target;
			cur.total++;
			total++;
		}
	}
	while (cur.total > want && room(out) && stop_one(insts, n, picked, target, 0, 0, out))
		cur.total--;

	if ((st->phase == ROLLOUT_PROGRESSING || st->phase == ROLLOUT_PAUSED) &&
	    target == st->desired && cur.total == want && cur.ready == want && old == 0 &&
	    want > 0) {
		st->stable = st->desired;
		st->fast = false;
		char msg[160];
		snprintf(msg, sizeof(msg), "revision %lld is fully rolled out (%u/%u ready)",
			 (long long)st->desired, cur.ready, want);
		set_phase(st, ROLLOUT_HEALTHY, msg, out);
	}
}

/* ---- restart ---- */

/* Stops one instance of the desired revision older than the restart. */
static bool stop_old(const struct rollout_state *st, const struct rollout_instance *insts,
		     size_t n, bool *picked, struct rollout_actions *out)
{
	return stop_pick(insts, n, picked, st->desired, 0, 0, st->restart_ms, out);
}

/* Replaces the instances older than restart_ms the rolling way (see
 * rollout_restart). */
static void reconcile_restart(struct rollout_state *st, const struct rollout_params *p,
			      const struct rollout_instance *insts, size_t n, bool *picked,
			      int64_t now_ms, struct rollout_actions *out)
{
	uint32_t want = p->desired_replicas, fresh = 0, fresh_ready = 0, old = 0, old_ready = 0;
	uint32_t max_surge = p->max_surge, max_unavail = p->max_unavailable;
	if (max_surge == 0 && max_unavail == 0)
		max_surge = 1;
	for (size_t i = 0; i < n; i++) {
		const struct rollout_instance *x = &insts[i];
		if (x->stopping || picked[i])
			continue;
		if (x->revision != st->desired) {
			/* nothing else belongs here: left over from an earlier rollout */
			picked[i] = true;
			struct rollout_action *a = add(out, ROLLOUT_STOP);
			a->id = x->id;
			a->revision = x->revision;
		} else if (x->created_ms < st->restart_ms) {
			old++;
			old_ready += x->ready;
		} else {
			fresh++;
			fresh_ready += x->ready;
		}
	}
	if (st->user_paused)
		return;
	if (fresh_ready >= want) {
		st->progress_ms = 0;
		st->progress_ready = fresh_ready;
	} else if (st->progress_ms == 0 || fresh_ready > st->progress_ready) {
		st->progress_ms = now_ms;
		st->progress_ready = fresh_ready;
	} else if (now_ms - st->progress_ms > (int64_t)p->progress_deadline_ms) {
		char dl[32], why[sizeof(st->reason)];
		sw_duration_format(dl, sizeof(dl), p->progress_deadline_ms);
		snprintf(why, sizeof(why), "restart of revision %lld stopped: no progress within "
			 "progressDeadline %s (%u/%u new instances ready); the older instances keep "
			 "serving", (long long)st->desired, dl, fresh_ready, want);
		event(out, "RestartFailed", "%s", why);
		st->restart_ms = 0;
		st->progress_ms = 0;
		/* the new ones that are not ready go; the rolling plan keeps the rest */
		for (size_t i = 0; i < n && room(out); i++)
			if (!insts[i].stopping && !picked[i] && !insts[i].ready &&
			    insts[i].revision == st->desired) {
				picked[i] = true;
				struct rollout_action *a = add(out, ROLLOUT_STOP);
				a->id = insts[i].id;
				a->revision = insts[i].revision;
			}
		set_phase(st, ROLLOUT_HEALTHY, why, out);
		return;
	}

	uint32_t min_avail = want > max_unavail ? want - max_unavail : 0;
	uint32_t max_total = want + max_surge, avail = fresh_ready + old_ready, total = fresh + old;
	while (old > old_ready && room(out) && stop_old(st, insts, n, picked, out)) {
		old--; /* not ready: serves nothing */
		total--;
	}
	while (old > 0 && avail > min_avail && room(out) && stop_old(st, insts, n, picked, out)) {
		old--;
		total--;
		avail--;
	}
	while (fresh < want && total < max_total && room(out)) {
		add(out, ROLLOUT_START)->revision = st->desired;
		fresh++;
		total++;
	}
	while (fresh > want && room(out) && stop_one(insts, n, picked, st->desired, 0, 0, out))
		fresh--;
	if (old == 0 && fresh == want && fresh_ready >= want) {
		st->restart_ms = 0;
		char msg[160];
		snprintf(msg, sizeof(msg), "revision %lld restarted: %u/%u new instances ready",
			 (long long)st->desired, fresh_ready, want);
		event(out, "Restarted", "%s", msg);
		set_phase(st, ROLLOUT_HEALTHY, msg, out);
		return;
	}
	reasonf(st, "restart of revision %lld: %u/%u new instances ready, %u old left",
		(long long)st->desired, fresh_ready, want, old);
}

/* ---- canary ---- */

static uint32_t canary_size(const struct rollout_params *p, uint32_t weight)
{
	if (p->strategy->canary_replicas)
		return p->strategy->canary_replicas;
	uint32_t n = (p->desired_replicas * weight + 99) / 100;
	return n ? n : 1;
}

static bool has_templates(const struct spec_analysis_ref *r)
{
	return r && r->ntemplates > 0;
}

/* Reads a run's result. Returns true when the rollout may go on; on
 * failure aborts, on inconclusive pauses for a human. */
static bool judge_run(struct rollout_state *st, const char *what, int64_t *run,
		      const struct rollout_run_status *runs, size_t nruns, bool *done,
		      struct rollout_actions *out)
{
	const struct rollout_run_status *rs = run_status(runs, nruns, *run);
	*done = false;
	if (!rs || rs->phase == ROLLOUT_RUN_RUNNING)
		return true;
	char why[320];
	switch (rs->phase) {
	case ROLLOUT_RUN_SUCCESSFUL:
		*done = true;
		return true;
	case ROLLOUT_RUN_INCONCLUSIVE:
		if (!st->waiting) {
			st->waiting = true;
			snprintf(why, sizeof(why), "%s was inconclusive: %s; `slipway rollout promote` "
				 "continues, `abort` rolls back", what, rs->reason ? rs->reason : "");
			set_phase(st, ROLLOUT_PAUSED, why, out);
		}
		return false;
	default:
		snprintf(why, sizeof(why), "%s failed: %s", what, rs->reason ? rs->reason : "");
		do_abort(st, why, out);
		return false;
	}
}

static void advance(struct rollout_state *st, const struct spec_strategy *s, int64_t now_ms,
		    struct rollout_actions *out)
{
	st->step++;
	st->step_ms = now_ms;
	st->waiting = false;
	if (st->step < s->nsteps)
		event(out, "Step", "step %u/%zu", st->step + 1, s->nsteps);
}

static void reconcile_canary(struct rollout_state *st, const struct rollout_params *p,
			     const struct rollout_instance *insts, size_t n, bool *picked,
			     const struct rollout_run_status *runs, size_t nruns, int64_t now_ms,
			     struct rollout_actions *out)
{
	const struct spec_strategy *s = p->strategy;
	uint32_t size_for = st->weight; /* canary instances are sized for this weight */
	bool done;

	if (st->promote_full && st->step < s->nsteps) {
		stop_run(&st->step_run, out);
		st->step = (uint32_t)s->nsteps;
		st->step_ms = now_ms;
		st->waiting = false;
		event(out, "Promoted", "promoted to full size: remaining steps and analysis skipped");
	}
	if (has_templates(&s->background) && !st->bg_run && st->step < s->nsteps)
		st->bg_run = start_run(st, ROLLOUT_RUN_BACKGROUND, &s->background, out);
	if (st->bg_run && !judge_run(st, "background analysis", &st->bg_run, runs, nruns, &done, out) &&
	    halted(st))
		return;

	/* Walk the steps as far as they go this time. */
	for (int guard = 0; guard <= (int)s->nsteps + 1 && !halted(st); guard++) {
		if (st->user_paused)
			break;
		if (st->waiting && !st->promote)
			break;
		if (st->step >= s->nsteps)
			break;
		const struct spec_step *step = &s->steps[st->step];
		bool promote = st->promote;
		st->promote = false;
		if (promote && st->waiting) {
			stop_run(&st->step_run, out);
			event(out, "Promoted", "promoted past step %u/%zu by the operator",
			      st->step + 1, s->nsteps);
			st->phase = ROLLOUT_PROGRESSING;
			advance(st, s, now_ms, out);
			continue;
		}
		switch (step->kind) {
		case SPEC_STEP_SET_WEIGHT: {
			uint32_t want = canary_size(p, step->weight);
			struct counts c = count_rev(insts, n, st->desired);
			if (step->weight > st->weight && c.ready < want) {
				size_for = step->weight;
				reasonf(st, "step %u/%zu: setWeight %u, waiting for %u/%u canary instances",
					st->step + 1, s->nsteps, step->weight, c.ready, want);
				goto plan;
			}
			st->weight = step->weight;
			reasonf(st, "step %u/%zu: canary at %u%%", st->step + 1, s->nsteps, st->weight);
			event(out, "Weight", "canary revision %lld now gets %u%% of requests",
			      (long long)st->desired, st->weight);
			advance(st, s, now_ms, out);
			break;
		}
		case SPEC_STEP_PAUSE:
			if (step->pause_indefinite && !promote) {
				if (!st->waiting) {
					st->waiting = true;
					char why[160];
					snprintf(why, sizeof(why),
						 "step %u/%zu: paused at %u%% until `slipway rollout promote`",
						 st->step + 1, s->nsteps, st->weight);
					set_phase(st, ROLLOUT_PAUSED, why, out);
				}
				goto plan;
			}
			if (!step->pause_indefinite && !promote &&
			    now_ms - st->step_ms < (int64_t)step->pause_ms) {
				char left[32];
				sw_duration_format(left, sizeof(left),
						   step->pause_ms - (uint64_t)(now_ms - st->step_ms));
				reasonf(st, "step %u/%zu: canary at %u%%, pause (%s left)", st->step + 1,
					s->nsteps, st->weight, left);
				goto plan;
			}
			advance(st, s, now_ms, out);
			break;
		case SPEC_STEP_ANALYSIS:
			if (promote) {
				stop_run(&st->step_run, out);
				advance(st, s, now_ms, out);
				break;
			}
			if (!st->step_run) {
				st->step_run = start_run(st, ROLLOUT_RUN_STEP, &step->analysis, out);
				reasonf(st, "step %u/%zu: canary at %u%%, analysis running", st->step + 1,
					s->nsteps, st->weight);
				goto plan;
			}
			{
				char what[64];
				snprintf(what, sizeof(what), "analysis of step %u/%zu", st->step + 1,
					 s->nsteps);
				if (!judge_run(st, what, &st->step_run, runs, nruns, &done, out) || !done)
					goto plan;
			}
			st->step_run = 0;
			advance(st, s, now_ms, out);
			break;
		case SPEC_STEP_SET_HEADER_ROUTE:
			st->header_step = (int32_t)st->step;
			event(out, "HeaderRoute", "requests with %s matching go to revision %lld",
			      step->header.name ? step->header.name : "", (long long)st->desired);
			advance(st, s, now_ms, out);
			break;
		}
	}
plan:
	if (halted(st))
		return;
	if (st->phase == ROLLOUT_PAUSED && !st->waiting && !st->user_paused)
		st->phase = ROLLOUT_PROGRESSING;

	if (st->weight > size_for)
		size_for = st->weight;
	uint32_t want = st->step >= s->nsteps ? p->desired_replicas : canary_size(p, size_for);
	struct counts c = count_rev(insts, n, st->desired);
	if (st->phase == ROLLOUT_PROGRESSING && check_deadline(st, p, insts, n, c, want, now_ms, out))
		return;
	size_rev(insts, n, picked, st->stable, p->stable_replicas, out);
	size_rev(insts, n, picked, st->desired, want, out);
	while (room(out) && stop_one(insts, n, picked, 0, st->stable, st->desired, out))
		;

	if (st->step >= s->nsteps && !aborted(st)) {
		if (c.ready < p->desired_replicas || c.total != p->desired_replicas) {
			reasonf(st, "promoting: %u/%u instances of revision %lld ready", c.ready,
				p->desired_replicas, (long long)st->desired);
			return;
		}
		stop_run(&st->bg_run, out);
		st->weight = 100;
		st->header_step = -1;
		st->stable = st->desired;
		char msg[160];
		snprintf(msg, sizeof(msg), "revision %lld is fully rolled out (%u/%u ready, 100%% of requests)",
			 (long long)st->desired, c.ready, p->desired_replicas);
		set_phase(st, ROLLOUT_HEALTHY, msg, out);
	}
}

/* ---- blue/green ---- */

static void reconcile_bluegreen(struct rollout_state *st, const struct rollout_params *p,
				const struct rollout_instance *insts, size_t n, bool *picked,
				const struct rollout_run_status *runs, size_t nruns,
				int64_t now_ms, struct rollout_actions *out)
{
	const struct spec_strategy *s = p->strategy;
	struct counts c = count_rev(insts, n, st->desired);
	bool done;

	size_rev(insts, n, picked, st->stable, p->stable_replicas, out);
	size_rev(insts, n, picked, st->desired, p->desired_replicas, out);
	while (room(out) && stop_one(insts, n, picked, 0, st->stable, st->desired, out))
		;

	if (!st->promoted) {
		if (c.ready < p->desired_replicas) {
			if (st->phase == ROLLOUT_PROGRESSING &&
			    check_deadline(st, p, insts, n, c, p->desired_replicas, now_ms, out))
				return;
			reasonf(st, "preview: %u/%u instances of revision %lld ready", c.ready,
				p->desired_replicas, (long long)st->desired);
			return;
		}
		if (!st->ready_ms) {
			st->ready_ms = now_ms;
			event(out, "PreviewReady", "revision %lld is ready at full size behind the preview",
			      (long long)st->desired);
		}
		if (st->user_paused)
			return;
		bool skip = st->promote_full;
		if (has_templates(&s->pre_promotion) && !skip) {
			if (!st->pre_run) {
				st->pre_run = start_run(st, ROLLOUT_RUN_PRE, &s->pre_promotion, out);
				reasonf(st, "preview ready; pre-promotion analysis running");
				return;
			}
			if (!judge_run(st, "pre-promotion analysis", &st->pre_run, runs, nruns, &done,
				       out) && !(st->promote && st->waiting))
				return;
			if (!done && !st->promote)
				return;
		}
		bool go = st->promote;
		if (!go && s->auto_promotion_ms) {
			int64_t at = st->ready_ms + (int64_t)s->auto_promotion_ms;
			if (now_ms < at) {
				char left[32];
				sw_duration_format(left, sizeof(left), (uint64_t)(at - now_ms));
				reasonf(st, "preview ready; switching automatically in %s", left);
				return;
			}
			go = true;
		}
		if (!go) {
			if (!st->waiting) {
				st->waiting = true;
				set_phase(st, ROLLOUT_PAUSED,
					  "preview ready; waiting for `slipway rollout promote` to switch",
					  out);
			}
			return;
		}
		st->promote = false;
		st->waiting = false;
		stop_run(&st->pre_run, out);
		st->promoted = true;
		st->weight = 100;
		st->step_ms = now_ms;
		st->phase = ROLLOUT_PROGRESSING;
		event(out, "Promoted", "switched: revision %lld now gets 100%% of requests",
		      (long long)st->desired);
		if (has_templates(&s->post_promotion) && !skip)
			st->bg_run = start_run(st, ROLLOUT_RUN_POST, &s->post_promotion, out);
	}

	/* switched: post-promotion analysis, then scale-down delay */
	if (st->bg_run) {
		if (!judge_run(st, "post-promotion analysis", &st->bg_run, runs, nruns, &done, out) ||
		    !done) {
			if (halted(st))
				return;
			if (!st->waiting)
				reasonf(st, "switched to revision %lld; post-promotion analysis running",
					(long long)st->desired);
			if (!(st->promote && st->waiting))
				return;
		}
		st->bg_run = 0;
		st->waiting = false;
		st->promote = false;
		st->phase = ROLLOUT_PROGRESSING;
	}
	int64_t at = st->step_ms + (int64_t)s->scale_down_delay_ms;
	if (now_ms < at && !st->promote_full) {
		char left[32];
		sw_duration_format(left, sizeof(left), (uint64_t)(at - now_ms));
		reasonf(st, "switched to revision %lld; revision %lld scales down in %s",
			(long long)st->desired, (long long)st->stable, left);
		return;
	}
	st->stable = st->desired;
	char msg[160];
	snprintf(msg, sizeof(msg), "revision %lld is fully rolled out (%u/%u ready, 100%% of requests)",
		 (long long)st->desired, c.ready, p->desired_replicas);
	set_phase(st, ROLLOUT_HEALTHY, msg, out);
}

/* ---- the decision ---- */

static bool state_equal(const struct rollout_state *a, const struct rollout_state *b)
{
	return a->desired == b->desired && a->stable == b->stable && a->failed == b->failed &&
	       a->phase == b->phase && strcmp(a->reason, b->reason) == 0 &&
	       a->progress_ms == b->progress_ms && a->progress_ready == b->progress_ready &&
	       a->step == b->step && a->step_ms == b->step_ms && a->weight == b->weight &&
	       a->header_step == b->header_step && a->step_run == b->step_run &&
	       a->bg_run == b->bg_run && a->pre_run == b->pre_run && a->next_run == b->next_run &&
	       a->waiting == b->waiting && a->user_paused == b->user_paused &&
	       a->promote == b->promote && a->promote_full == b->promote_full &&
	       a->fast == b->fast && a->promoted == b->promoted && a->ready_ms == b->ready_ms &&
	       a->hook_run == b->hook_run && a->hook_kind == b->hook_kind &&
	       a->hook_index == b->hook_index && a->hooks_done == b->hooks_done &&
	       a->schema_min == b->schema_min && a->run_base == b->run_base &&
	       a->restart_ms == b->restart_ms && a->scaled == b->scaled &&
	       a->replicas == b->replicas && a->deps_wait == b->deps_wait &&
	       a->deps_told == b->deps_told && a->window_wait == b->window_wait &&
	       a->window_told == b->window_told;
}

static bool progressive(const struct rollout_state *st, const struct rollout_params *p)
{
	return p->strategy && p->strategy->kind != SPEC_STRATEGY_ROLLING && !st->fast &&
	       st->stable > 0 && st->stable != st->desired && !aborted(st) &&
	       (st->phase == ROLLOUT_PROGRESSING || st->phase == ROLLOUT_PAUSED);
}

bool rollout_reconcile(struct rollout_state *st, const struct rollout_params *p,
		       const struct rollout_instance *insts, size_t n,
		       const struct rollout_run_status *runs, size_t nruns, int64_t now_ms,
		       struct rollout_actions *out)
{
	struct rollout_state before = *st;
	bool picked[n ? n : 1];
	memset(picked, 0, sizeof(picked));
	/* `scale` overrides what the documents say */
	struct rollout_params scaled = *p;
	if (st->scaled) {
		scaled.desired_replicas = st->replicas;
		if (st->stable)
			scaled.stable_replicas = st->replicas;
	}
	p = &scaled;

	/* An abort decided by a command: make sure its runs stop. */
	if (aborted(st) || st->phase == ROLLOUT_FROZEN) {
		stop_run(&st->step_run, out);
		stop_run(&st->bg_run, out);
		stop_run(&st->pre_run, out);
	}
	if (aborted(st) && st->hook_run && st->hook_kind != SPEC_HOOK_ON_ABORT)
		st->hook_run = 0; /* a preDeploy cut short: the daemon stops it */
	if (st->phase == ROLLOUT_FROZEN) {
		/* held: nothing moves until the operator or a new apply decides */
		st->progress_ms = 0;
		return !state_equal(&before, st);
	}
	if (st->restart_ms && !(in_progress(st) && st->desired == st->stable))
		st->restart_ms = 0; /* superseded */
	if (st->restart_ms) {
		reconcile_restart(st, p, insts, n, picked, now_ms, out);
		if (st->phase == ROLLOUT_PAUSED)
			st->progress_ms = 0;
		return !state_equal(&before, st);
	}
	if (rollout_waiting_for_dependencies(st) && hold_for_dependencies(st, p, insts, n, picked,
									     now_ms, out))
		return !state_equal(&before, st);
	if (rollout_waiting_for_window(st) && hold_for_window(st, p, insts, n, picked, now_ms, out))
		return !state_equal(&before, st);
	char why[320];
	if (in_progress(st) && st->desired && st->desired != st->stable &&
	    !hooks_finished(st, SPEC_HOOK_PRE_DEPLOY)) {
		switch (walk_hooks(st, p, SPEC_HOOK_PRE_DEPLOY, runs, nruns, why, sizeof(why), out)) {
		case HOOKS_RUNNING:
			reasonf(st, "preDeploy hook \"%s\" (%u/%zu) running; revision %lld starts once it succeeds",
				p->hooks->list[SPEC_HOOK_PRE_DEPLOY][st->hook_index].name, st->hook_index + 1,
				hooks_count(p, SPEC_HOOK_PRE_DEPLOY), (long long)st->desired);
			st->progress_ms = 0;
			hold_new_revision(st, p, insts, n, picked, out);
			return !state_equal(&before, st);
		case HOOKS_FAILED:
			/* nothing new served: always back to stable (no freeze) */
			mark_aborted(st);
			set_aborted(st, why, out);
			break;
		case HOOKS_DONE:
			/* after preDeploy jobs the deadline and the first step start
			 * now; without any they started when the revision was desired */
			if (hooks_count(p, SPEC_HOOK_PRE_DEPLOY)) {
				st->progress_ms = 0;
				st->step_ms = now_ms;
				reasonf(st, "preDeploy hooks succeeded; starting revision %lld",
					(long long)st->desired);
			}
			break;
		}
	}
	if (progressive(st, p)) {
		if (p->strategy->kind == SPEC_STRATEGY_CANARY)
			reconcile_canary(st, p, insts, n, picked, runs, nruns, now_ms, out);
		else
			reconcile_bluegreen(st, p, insts, n, picked, runs, nruns, now_ms, out);
		/* Paused exactly while something waits for a human */
		if (in_progress(st) && st->desired != st->stable)
			st->phase = st->waiting || st->user_paused ? ROLLOUT_PAUSED : ROLLOUT_PROGRESSING;
		if (aborted(st)) {
			/* weight is 0 now; stop the new revision and restore stable */
			memset(picked, 0, sizeof(picked));
			reconcile_rolling(st, p, insts, n, picked, now_ms, out);
		}
	} else {
		reconcile_rolling(st, p, insts, n, picked, now_ms, out);
	}
	/* Paused time never counts against progressDeadline. */
	if (st->phase == ROLLOUT_PAUSED)
		st->progress_ms = 0;

	if (st->phase == ROLLOUT_HEALTHY && st->stable == st->desired) {
		/* serving it: the schema supports it */
		if (st->schema_min > st->stable)
			st->schema_min = st->stable;
		if (!hooks_finished(st, SPEC_HOOK_POST_DEPLOY) &&
		    walk_hooks(st, p, SPEC_HOOK_POST_DEPLOY, runs, nruns, why, sizeof(why), out) ==
			    HOOKS_FAILED) {
			size_t l = strlen(st->reason);
			snprintf(st->reason + l, sizeof(st->reason) - l, "; %s", why);
		}
	}
	if (aborted(st) && !hooks_finished(st, SPEC_HOOK_ON_ABORT))
		walk_hooks(st, p, SPEC_HOOK_ON_ABORT, runs, nruns, why, sizeof(why), out);

	return !state_equal(&before, st);
}

static void hold_new_revision(struct rollout_state *st, const struct rollout_params *p,
				const struct rollout_instance *insts, size_t n, bool *picked,
				struct rollout_actions *out)
{
	if (st->stable > 0)
		size_rev(insts, n, picked, st->stable, p->stable_replicas, out);
	struct counts c = count_rev(insts, n, st->stable);
	bool stable_full = st->stable == 0 || c.ready >= p->stable_replicas;
	for (size_t i = 0; i < n && room(out); i++) {
		const struct rollout_instance *x = &insts[i];
		if (x->stopping || picked[i] || x->revision == st->stable || (x->ready && !stable_full))
			continue;
		picked[i] = true;
		struct rollout_action *a = add(out, ROLLOUT_STOP);
		a->id = x->id;
		a->revision = x->revision;
	}
}

/* ---- traffic ---- */

void rollout_traffic(const struct rollout_state *st, const struct rollout_params *p,
		     struct rollout_traffic *out)
{
	memset(out, 0, sizeof(*out));
	out->stable = st->stable;
	out->canary = st->desired;
	if (aborted(st) && st->stable) {
		out->explicit_weights = true;
		out->canary_weight = 0;
		return;
	}
	if (st->phase == ROLLOUT_FROZEN) {
		/* held where the freeze found it */
		if (p->strategy && p->strategy->kind != SPEC_STRATEGY_ROLLING && !st->fast &&
		    st->stable > 0) {
			out->explicit_weights = true;
			out->canary_weight = st->weight;
			if (p->strategy->kind == SPEC_STRATEGY_CANARY && st->header_step >= 0 &&
			    (size_t)st->header_step < p->strategy->nsteps)
				out->header = &p->strategy->steps[st->header_step].header;
		}
		return;
	}
	if (!progressive(st, p)) {
		/* a finished rollout: everything to the desired revision (old
		 * instances are on their way out); a rolling update: in
		 * proportion to ready instances */
		if (st->phase == ROLLOUT_HEALTHY && st->stable == st->desired) {
			out->explicit_weights = true;
			out->canary_weight = 0;
		}
		return;
	}
	out->explicit_weights = true;
	out->canary_weight = st->weight;
	if (p->strategy->kind == SPEC_STRATEGY_CANARY) {
		if (st->header_step >= 0 && (size_t)st->header_step < p->strategy->nsteps)
			out->header = &p->strategy->steps[st->header_step].header;
	} else {
		out->header = &rollout_preview_header;
		out->preview_listen = p->strategy->preview_listen;
	}
}

void rollout_route_weights(const struct rollout_traffic *t, const int64_t *revs,
			   const uint32_t *ready, size_t n, uint32_t *out)
{
	uint64_t base[n ? n : 1], sum = 0;
	for (size_t i = 0; i < n; i++) {
		base[i] = 0;
		if (!ready[i])
			continue;
		if (!t->explicit_weights)
			base[i] = ready[i];
		else if (revs[i] == t->canary && t->canary != t->stable)
			base[i] = t->canary_weight;
		else if (revs[i] == t->stable)
			base[i] = 100 - t->canary_weight;
		sum += base[i];
	}
	if (sum == 0) /* what should serve cannot: anything ready serves */
		for (size_t i = 0; i < n; i++) {
			base[i] = ready[i];
			sum += base[i];
		}
	uint32_t total = 0;
	uint64_t rem[n ? n : 1];
	for (size_t i = 0; i < n; i++) {
		out[i] = sum ? (uint32_t)(base[i] * 100 / sum) : 0;
		rem[i] = sum ? base[i] * 100 % sum : 0;
		total += out[i];
	}
	while (sum && total < 100) {
		size_t best = n;
		for (size_t i = 0; i < n; i++)
			if (base[i] && (best == n || rem[i] > rem[best]))
				best = i;
		out[best]++;
		rem[best] = 0;
		total++;
	}
}

/* ---- persistence ---- */

json_t *rollout_state_to_json(const struct rollout_state *st)
{
	json_t *j = json_pack("{s:I, s:I, s:I, s:s, s:s, s:I, s:i, s:i, s:I, s:i, s:i, s:I, s:I, s:I,"
			 " s:I, s:b, s:b, s:b, s:b, s:b, s:b, s:I}",
			 "desired", (json_int_t)st->desired, "stable", (json_int_t)st->stable,
			 "failed", (json_int_t)st->failed, "phase", rollout_phase_name(st->phase),
			 "reason", st->reason, "progressMs", (json_int_t)st->progress_ms,
			 "progressReady", (int)st->progress_ready, "step", (int)st->step, "stepMs",
			 (json_int_t)st->step_ms, "weight", (int)st->weight, "headerStep",
			 (int)st->header_step, "stepRun", (json_int_t)st->step_run, "bgRun",
			 (json_int_t)st->bg_run, "preRun", (json_int_t)st->pre_run, "nextRun",
			 (json_int_t)st->next_run, "waiting", st->waiting, "userPaused",
			 st->user_paused, "promote", st->promote, "promoteFull", st->promote_full,
			 "fast", st->fast, "promoted", st->promoted, "readyMs",
			 (json_int_t)st->ready_ms);
	json_object_update_new(j, json_pack("{s:I, s:i, s:i, s:i, s:I}", "hookRun",
					    (json_int_t)st->hook_run, "hookKind", (int)st->hook_kind,
					    "hookIndex", (int)st->hook_index, "hooksDone",
					    (int)st->hooks_done, "schemaMin",
					    (json_int_t)st->schema_min));
	json_object_update_new(j, json_pack("{s:I, s:I, s:b, s:i}", "runBase",
					    (json_int_t)st->run_base, "restartMs",
					    (json_int_t)st->restart_ms, "scaled", st->scaled,
					    "replicas", (int)st->replicas));
	json_object_update_new(j, json_pack("{s:b, s:b, s:b, s:b}", "depsWait", st->deps_wait,
					    "depsTold", st->deps_told, "windowWait", st->window_wait,
					    "windowTold", st->window_told));
	return j;
}

static int64_t jint(const json_t *j, const char *k, int64_t dflt)
{
	json_t *v = json_object_get(j, k);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static bool jbool(const json_t *j, const char *k)
{
	return json_is_true(json_object_get(j, k));
}

void rollout_state_from_json(struct rollout_state *st, const json_t *j)
{
	memset(st, 0, sizeof(*st));
	st->header_step = -1;
	if (!json_is_object(j))
		return;
	st->desired = jint(j, "desired", 0);
	st->stable = jint(j, "stable", 0);
	st->failed = jint(j, "failed", 0);
	st->phase = rollout_phase_parse(json_string_value(json_object_get(j, "phase")));
	const char *r = json_string_value(json_object_get(j, "reason"));
	snprintf(st->reason, sizeof(st->reason), "%s", r ? r : "");
	st->progress_ms = jint(j, "progressMs", 0);
	st->progress_ready = (uint32_t)jint(j, "progressReady", 0);
	st->step = (uint32_t)jint(j, "step", 0);
	st->step_ms = jint(j, "stepMs", 0);
	st->weight = (uint32_t)jint(j, "weight", 0);
	if (st->weight > 100)
		st->weight = 100;
	st->header_step = (int32_t)jint(j, "headerStep", -1);
	st->step_run = jint(j, "stepRun", 0);
	st->bg_run = jint(j, "bgRun", 0);
	st->pre_run = jint(j, "preRun", 0);
	st->next_run = jint(j, "nextRun", 0);
	st->waiting = jbool(j, "waiting");
	st->user_paused = jbool(j, "userPaused");
	st->promote = jbool(j, "promote");
	st->promote_full = jbool(j, "promoteFull");
	st->fast = jbool(j, "fast");
	st->promoted = jbool(j, "promoted");
	st->ready_ms = jint(j, "readyMs", 0);
	st->hook_run = jint(j, "hookRun", 0);
	st->hook_kind = (uint32_t)jint(j, "hookKind", 0);
	if (st->hook_kind >= SPEC_HOOK_KINDS)
		st->hook_kind = 0;
	st->hook_index = (uint32_t)jint(j, "hookIndex", 0);
	/* a state stored before hooks: every list counts as finished */
	st->hooks_done = (uint32_t)jint(j, "hooksDone", (1 << SPEC_HOOK_KINDS) - 1);
	st->schema_min = jint(j, "schemaMin", 0);
	st->run_base = jint(j, "runBase", 0);
	st->restart_ms = jint(j, "restartMs", 0);
	st->scaled = jbool(j, "scaled");
	int64_t replicas = jint(j, "replicas", 0);
	st->replicas = replicas < 0 ? 0 : replicas > ROLLOUT_MAX_REPLICAS ? ROLLOUT_MAX_REPLICAS
									 : (uint32_t)replicas;
	/* a state stored before dependsOn: nothing waits */
	st->deps_wait = jbool(j, "depsWait");
	st->deps_told = jbool(j, "depsTold");
	/* and before sync windows */
	st->window_wait = jbool(j, "windowWait");
	st->window_told = jbool(j, "windowTold");
}
