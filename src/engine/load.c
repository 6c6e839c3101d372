/*
 * The engine's state after a restart, a crash or an upgrade: apps from the
 * store, instances adopted by their driver handle, orphans found and
 * adopted or killed, and stops that were under way finished.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

struct orphans {
	struct engine *e;
	struct store_instance **unrecorded; /* rows without a handle: spawned, maybe */
	size_t n;
};

/*
 * A process of this state dir that no tracked instance is: a daemon killed
 * while spawning leaves one whose handle it never recorded. One whose id
 * has a row without a handle is adopted; any other is killed with its
 * process group.
 */
static void on_orphan(const char *id, const char *handle, void *data)
{
	struct orphans *o = data;
	struct engine *e = o->e;
	struct store_instance *row = NULL;
	for (size_t i = 0; i < o->n; i++)
		if (o->unrecorded[i] && strcmp(o->unrecorded[i]->id, id) == 0)
			row = o->unrecorded[i];
	struct engine_app *a = row ? engine_app_find(e, row->app) : NULL;
	struct sw_err err = {0};
	struct spec_app *spec = a ? engine_app_spec(e, a, row->revision, &err) : NULL;
	struct runtime_instance *inst = NULL;
	if (spec)
		inst = runtime_adopt(e->rt, spec, row->revision, row->id, handle,
				     (uint16_t)row->port, false, (uint32_t)row->restarts, &err);
	if (inst) {
		struct runtime_ports ports;
		if (engine_app_ports(e, a, &ports))
			runtime_instance_ports(inst, &ports);
		engine_inst_attach(a, inst, row->created_ms);
		engine_inst_save(e, inst->data, NULL);
		engine_event(e, a->name, "InstanceAdopted", NULL,
			     "instance %s (pid %d) was started by the last daemon as it "
			     "stopped; adopted", row->id, (int)runtime_instance_pid(inst));
		for (size_t i = 0; i < o->n; i++)
			if (o->unrecorded[i] == row)
				o->unrecorded[i] = NULL;
		return;
	}
	runtime_kill_handle(e->rt, handle);
	engine_event(e, NULL, "OrphanKilled", NULL,
		     "instance %s (process \"%s\") had no record; killed it and its group", id, handle);
}

/*
 * Finishes the stop of an adopted instance whose row says "Stopping". The
 * last daemon may have died while the instance drained: the data plane
 * still has it in its table until this daemon pushes one, so a signal now
 * would hit an instance that still gets requests. It is marked stopping
 * (out of every table this daemon derives) and draining; the drain check
 * stops it once the data plane holds a table without it and reports
 * nothing in flight.
 */
static void resume_stop(struct engine_inst *m)
{
	m->stopping = true;
	if (m->rt->ready && m->rt->spec->route.listen) {
		m->draining = true;
		m->drain_deadline_ms = sw_now_ms() + m->rt->spec->drain_timeout_ms;
	}
}

/* Once the loop's timers run: stops the adopted instances resume_stop
 * marked that need no drain, and starts the drain check for the others.
 * runtime_stop may report STOPPED at once and detach: work on a copy. */
void engine_resume_stops(struct engine *e)
{
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->apps, &it, &k, &v)) {
		struct engine_app *a = v;
		size_t n = a->ninsts;
		struct engine_inst **copy = xmalloc((n ? n : 1) * sizeof(*copy));
		if (n)
			memcpy(copy, a->insts, n * sizeof(*copy));
		for (size_t i = 0; i < n; i++) {
			if (copy[i]->draining)
				engine_drain_start(e);
			else if (copy[i]->stopping)
				runtime_stop(e->rt, copy[i]->rt);
		}
		free(copy);
	}
}

static void load_app(struct engine *e, const struct store_app *row)
{
	struct engine_app *a = engine_app_add(e, row->name);
	a->created_ms = row->created_ms;
	a->owner = row->owner && *row->owner ? xstrdup(row->owner) : NULL;
	if (a->owner && row->desired_revision) {
		struct store_revision rev = {0};
		struct sw_err err = {0};
		if (store_revision_get(e->cfg.store, row->name, row->desired_revision, &rev, &err) == 0) {
			json_t *o = rev.origin && *rev.origin ? json_loads(rev.origin, 0, NULL) : NULL;
			const char *c = json_string_value(json_object_get(o, "commit"));
			sw_strlcpy(a->commit, c ? c : "", sizeof(a->commit));
			json_decref(o);
		}
		store_revision_release(&rev);
	}
	if (row->rollout_json && *row->rollout_json) {
		json_t *rj = json_loads(row->rollout_json, 0, NULL);
		rollout_state_from_json(&a->st, rj);
		engine_app_extra_from_json(a, rj);
		json_decref(rj);
		if (rj)
			return;
	}
	/* a row written before the whole state was kept */
	a->st.header_step = -1;
	a->st.desired = row->desired_revision;
	a->st.stable = row->stable_revision;
	a->st.phase = rollout_phase_parse(row->phase);
	a->st.failed = a->st.phase == ROLLOUT_DEGRADED ? a->st.desired : 0;
	a->st.progress_ms = row->progress_ms;
	sw_strlcpy(a->st.reason, row->reason, sizeof(a->st.reason));
}

int engine_load(struct engine *e, struct sw_err *err)
{
	struct store_app *apps = NULL;
	struct store_instance *insts = NULL;
	struct orphans o = {.e = e};
	size_t napps = 0, ninsts = 0;
	int r = -1;

	if (engine_envs_load(e, err) < 0 || store_app_list(e->cfg.store, &apps, &napps, err) < 0)
		goto out;
	for (size_t i = 0; i < napps; i++)
		load_app(e, &apps[i]);
	if (store_instance_list(e->cfg.store, NULL, &insts, &ninsts, err) < 0)
		goto out;
	o.unrecorded = xcalloc(ninsts + 1, sizeof(*o.unrecorded));
	for (size_t i = 0; i < ninsts; i++) {
		struct store_instance *si = &insts[i];
		struct engine_app *a = engine_app_find(e, si->app);
		struct sw_err ae = {0};
		bool recorded = si->handle && *si->handle;
		if (a && !recorded) {
			o.unrecorded[o.n++] = si; /* spawned, maybe, as the daemon died */
			continue;
		}
		struct spec_app *spec = a ? engine_app_spec(e, a, si->revision, &ae) : NULL;
		struct runtime_instance *inst = NULL;
		if (spec)
			inst = runtime_adopt(e->rt, spec, si->revision, si->id, si->handle,
					     (uint16_t)si->port, si->ready, (uint32_t)si->restarts, &ae);
		if (inst) {
			struct runtime_ports ports;
			if (engine_app_ports(e, a, &ports))
				runtime_instance_ports(inst, &ports);
			engine_inst_attach(a, inst, si->created_ms);
			engine_event(e, a->name, "InstanceAdopted", NULL,
				     "instance %s (pid %d, port %d) adopted after daemon restart",
				     si->id, (int)runtime_instance_pid(inst), si->port);
			if (strcmp(si->state, "Stopping") == 0)
				resume_stop(inst->data); /* the last daemon was stopping it */
			continue;
		}
		if (!a && recorded)
			runtime_kill_handle(e->rt, si->handle); /* its app no longer exists */
		engine_event(e, si->app, "InstanceLost", NULL, "instance %s was not adopted: %s",
			     si->id, ae.msg[0] ? ae.msg : "no process recorded");
		struct sw_err de = {0};
		store_instance_delete(e->cfg.store, si->id, &de);
	}
	if (e->state_dir)
		runtime_orphans(e->rt, e->state_dir, on_orphan, &o);
	for (size_t i = 0; i < o.n; i++) {
		if (!o.unrecorded[i])
			continue;
		struct sw_err de = {0};
		engine_event(e, o.unrecorded[i]->app, "InstanceLost", NULL,
			     "instance %s was being started when the last daemon stopped; "
			     "no process found", o.unrecorded[i]->id);
		store_instance_delete(e->cfg.store, o.unrecorded[i]->id, &de);
	}
	r = 0;
out:
	free(o.unrecorded);
	store_app_list_free(apps, napps);
	store_instance_list_free(insts, ninsts);
	return r;
}
