/*
 * Sync windows (an Environment's spec.windows): which new revisions wait
 * for them, what a waiting one is told, the timer that looks again when
 * the answer changes, and the override. The rollout decides (it holds
 * the revision while params.window_denied is set, src/rollout/rollout.h);
 * the answer comes from src/env (env_window_check, pure) with the
 * daemon's clock.
 *
 * A held app costs nothing while it waits: the tick leaves it alone
 * (engine_window_settled) and one timer, due at the earliest `until` of
 * the held apps (or WINDOW_RECHECK_MS from their last look, so that a
 * wall clock that jumps is seen), reconciles the ones whose time has
 * come. A daemon restarted meanwhile finds window_wait in the stored
 * state and looks again on its first reconcile.
 */
#include "engine_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"

/* The longest a held app goes without a look at its windows. */
#define WINDOW_RECHECK_MS (10 * 60 * 1000)
/* A reason for an override: short enough for an event line. */
#define OVERRIDE_REASON_MAX 200

bool engine_window_allows(struct engine *e, const char *env, int64_t now_ms, int64_t *until_ms,
			  char *why, size_t size)
{
	struct env_window_answer w;
	env_window_check(&w, engine_env_find(e, env), now_ms);
	if (until_ms)
		*until_ms = w.until_ms;
	if (why && size)
		snprintf(why, size, "%s", w.text);
	return w.allowed;
}

int engine_override_reason_check(const char *reason, struct sw_err *err)
{
	size_t len = reason ? strlen(reason) : 0;
	bool blank = true;
	for (size_t i = 0; i < len; i++) {
		if (iscntrl((unsigned char)reason[i]))
			return sw_errf(err, SW_EINVAL, "the reason of an override must be one line of "
				       "text, without control characters");
		blank &= isspace((unsigned char)reason[i]) != 0;
	}
	if (blank)
		return sw_errf(err, SW_EINVAL, "an override of a sync window needs a reason (--reason "
			       "TEXT): it is recorded with who overrode it");
	if (len > OVERRIDE_REASON_MAX || !sw_utf8_valid(reason, len))
		return sw_errf(err, SW_EINVAL, "the reason of an override must be UTF-8 text of at "
			       "most %d bytes", OVERRIDE_REASON_MAX);
	return 0;
}

bool engine_window_hold(struct engine *e, struct engine_app *a, const struct spec_app *sa,
			const struct env_spec *env, struct rollout_state *st, const char *override)
{
	if (!env || !env->nwindows || engine_replicas_only(e, a, sa) || st->desired == st->stable)
		return false;
	if (override)
		return true;
	rollout_wait_for_window(st);
	return false;
}

const char *engine_window_denied(struct engine *e, struct engine_app *a)
{
	int64_t now = sw_wall_ms();
	if (a->window_gen != e->window_gen || now >= a->window_due_ms) {
		char env[64], why[sizeof(a->window_text) - 16];
		const char *name;
		int64_t until;
		spec_key_split(a->name, env, &name);
		a->window_open = engine_window_allows(e, env, now, &until, why, sizeof(why));
		snprintf(a->window_text, sizeof(a->window_text), "sync window: %s", why);
		a->window_due_ms = until < now + WINDOW_RECHECK_MS ? until : now + WINDOW_RECHECK_MS;
		a->window_gen = e->window_gen;
	}
	return a->window_open ? NULL : a->window_text;
}

static void on_windows(uv_timer_t *t);

/* Makes the timer due at `at` (wall clock) unless it is due sooner. */
static void windows_arm(struct engine *e, int64_t at)
{
	if (e->stopping || (uv_is_active((uv_handle_t *)&e->windows) && e->windows_due_ms <= at))
		return;
	int64_t now = sw_wall_ms();
	e->windows_due_ms = at;
	/* a few ms late rather than early: the answer changes at `at` exactly */
	uv_timer_start(&e->windows, on_windows, at > now ? (uint64_t)(at - now) + 5 : 5, 0);
}

static void on_windows(uv_timer_t *t)
{
	struct engine *e = t->data;
	int64_t now = sw_wall_ms(), next = INT64_MAX;
	size_t it = 0;
	const char *k;
	void *v;
	e->windows_due_ms = 0;
	while (sw_map_next(&e->apps, &it, &k, &v)) {
		struct engine_app *a = v;
		if (!rollout_waiting_for_window(&a->st))
			continue;
		if (a->window_due_ms <= now || a->window_gen != e->window_gen)
			engine_kick(e, a); /* its reconcile arms the timer again */
		else if (a->window_due_ms < next)
			next = a->window_due_ms;
	}
	if (next != INT64_MAX)
		windows_arm(e, next);
}

void engine_windows_after(struct engine *e, struct engine_app *a)
{
	if (rollout_waiting_for_window(&a->st) && a->window_gen == e->window_gen)
		windows_arm(e, a->window_due_ms);
}

void engine_windows_changed(struct engine *e)
{
	size_t it = 0;
	const char *k;
	void *v;
	e->window_gen++;
	while (sw_map_next(&e->apps, &it, &k, &v))
		if (rollout_waiting_for_window(&((struct engine_app *)v)->st))
			engine_kick(e, v);
}

bool engine_window_settled(struct engine *e, struct engine_app *a)
{
	if (!rollout_held_by_window(&a->st) || rollout_waiting_for_dependencies(&a->st) ||
	    a->st.phase != ROLLOUT_PROGRESSING || a->nruns || a->njobs)
		return false;
	struct sw_err err = {0};
	struct spec_app *stable = a->st.stable ? engine_app_spec(e, a, a->st.stable, &err) : NULL;
	if (a->st.stable && (!stable || a->ninsts != rollout_replicas(&a->st, stable->replicas)))
		return false;
	for (size_t i = 0; i < a->ninsts; i++)
		if (a->insts[i]->stopping || a->insts[i]->rt->revision != a->st.stable ||
		    !a->insts[i]->rt->ready)
			return false;
	return true;
}

void engine_windows_init(struct engine *e)
{
	uv_timer_init(e->cfg.loop, &e->windows);
	e->windows.data = e;
	e->window_gen = 1; /* an app's 0 is "never looked" */
}

void engine_window_overridden(struct engine *e, const char *key, int64_t revision,
			      const char *actor, const char *reason)
{
	char env[64], why[200];
	const char *name;
	spec_key_split(key, env, &name);
	engine_window_allows(e, env, sw_wall_ms(), NULL, why, sizeof(why));
	engine_event(e, key, "WindowOverridden", actor, "revision %lld passes the sync windows of "
		     "environment %s (now %s): %s", (long long)revision, env, why, reason);
}

int engine_window_override(struct engine *e, const char *app, const char *actor,
			   const char *reason, struct sw_err *err)
{
	struct engine_app *a = engine_app_find(e, app);
	char msg[200];
	int r;
	if (!a)
		return sw_errf(err, SW_ENOTFOUND, "app \"%s\" not found", app);
	if ((r = engine_override_reason_check(reason, err)) < 0)
		return r;
	struct rollout_state st = a->st;
	if (rollout_window_override(&st, sw_wall_ms(), msg, sizeof(msg)) < 0)
		return sw_errf(err, SW_ECONFLICT, "%s: %s", a->name, msg);
	engine_store_wait(e, true);
	r = engine_commit_state(e, a, &st, err);
	engine_store_wait(e, false);
	if (r < 0)
		return r;
	engine_window_overridden(e, a->name, a->st.desired, actor, reason);
	engine_reconcile_now(e); /* the answer shows it started */
	return 0;
}
