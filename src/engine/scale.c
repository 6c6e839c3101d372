/*
 * The scale use case (engine_scale): how many instances of the revision
 * that serves, without a new revision. The restart command is a rollout
 * command (engine_rollout, ENGINE_RESTART) since it takes the same road.
 */
#include "engine_int.h"

#include <stdio.h>

static int do_scale(struct engine *e, const char *name, uint32_t replicas, const char *actor,
		    struct sw_err *err)
{
	struct engine_app *a = engine_app_find(e, name);
	char msg[256] = "";
	if (!a)
		return sw_errf(err, SW_ENOTFOUND, "app \"%s\" not found", name ? name : "");
	if (replicas > ROLLOUT_MAX_REPLICAS)
		return sw_errf(err, SW_EINVAL, "replicas must be between 0 and %d, got %u",
			       ROLLOUT_MAX_REPLICAS, replicas);
	struct sw_err serr = {0};
	struct spec_app *spec = a->st.desired ? engine_app_spec(e, a, a->st.desired, &serr) : NULL;
	uint32_t was = rollout_replicas(&a->st, spec ? spec->replicas : 0);
	struct rollout_state st = a->st, old = a->st;
	if (rollout_scale(&st, replicas, msg, sizeof(msg)) < 0)
		return sw_errf(err, SW_ECONFLICT, "%s: %s", a->name, msg);
	a->st = st;
	if (engine_app_save(e, a, err) < 0) {
		a->st = old;
		return err->code == SW_EBUSY ? SW_EBUSY : -1;
	}
	engine_kick(e, a);
	engine_event(e, a->name, "Scaled", actor, "scaled from %u to %u replica%s (revision %lld)",
		     was, replicas, replicas == 1 ? "" : "s", (long long)rollout_target(&a->st));
	return 0;
}

int engine_scale(struct engine *e, const char *app, uint32_t replicas, const char *actor,
		 struct sw_err *err)
{
	engine_store_wait(e, true);
	int r = do_scale(e, app, replicas, actor, err);
	engine_store_wait(e, false);
	if (r == 0)
		engine_reconcile_now(e); /* the answer shows the instances started or stopped */
	return r;
}
