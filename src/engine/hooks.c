/*
 * Hook jobs: the engine's side of ROLLOUT_HOOK_START. Each job the
 * rollout asks for runs through the runtime (runtime_job_start); its
 * attempts and its result are recorded as events (the decision log), and
 * its phase goes back to the rollout as a run status under the same id.
 * A job the rollout state no longer names (a superseded or aborted
 * rollout) is stopped: the state is the only truth, as for instances.
 *
 * Job ids (and log names): APP-rREV-KIND-NAME, e.g. shop-r3-predeploy-migrate
 * (prod.shop-r3-... in environment prod: engine_app_stem),
 * so `slipway logs shop --instance shop-r3-predeploy-migrate` shows it.
 *
 * Each attempt's handle is stored (the jobs table) before its command
 * runs (runtime's on_attempt), and the row goes when the job is let go.
 * A restarted daemon adopts the attempt the row names for the job the
 * rollout state names (engine_hooks_resume), and kills what other rows
 * of the app still name: a job runs once, never beside itself.
 */
#include "engine_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void job_id(char *out, size_t size, const char *app, int64_t revision,
		   enum spec_hook_kind kind, const char *name)
{
	char k[16];
	const char *kn = spec_hook_kind_name(kind);
	size_t i = 0;
	for (; kn[i] && i + 1 < sizeof(k); i++)
		k[i] = (char)tolower((unsigned char)kn[i]);
	k[i] = '\0';
	char stem[SPEC_KEY_MAX];
	engine_app_stem(stem, sizeof(stem), app);
	snprintf(out, size, "%s-r%lld-%s-%s", stem, (long long)revision, k, name);
}

static void on_job(struct runtime_job *rj, void *data)
{
	struct engine_job *j = data;
	struct engine_app *a = j->app;
	const char *kind = spec_hook_kind_name(j->kind);
	char took[32];
	switch (rj->phase) {
	case RUNTIME_JOB_RUNNING:
		engine_event(j->e, a->name, "HookRetry", NULL,
			     "%s hook \"%s\" of revision %lld: %s; retrying in 1s", kind,
			     rj->hook->name, (long long)rj->revision, rj->reason);
		break;
	case RUNTIME_JOB_SUCCEEDED:
		snprintf(took, sizeof(took), "%.1f s", (double)rj->duration_ms / 1000.0);
		engine_event(j->e, a->name, "HookSucceeded", NULL,
			     "%s hook \"%s\" of revision %lld succeeded in %s (attempt %u/%u)%s", kind,
			     rj->hook->name, (long long)rj->revision, took, rj->attempt, rj->attempts,
			     rj->hook->migration == SPEC_MIGRATION_CONTRACT
				     ? "; contract migration: older revisions no longer supported"
				     : rj->hook->migration == SPEC_MIGRATION_EXPAND
				     ? "; expand migration: the stable revision still works" : "");
		break;
	case RUNTIME_JOB_FAILED:
		engine_event(j->e, a->name, "HookFailed", NULL,
			     "%s hook \"%s\" of revision %lld failed: %s; log: slipway logs %s "
			     "--instance %s", kind, rj->hook->name, (long long)rj->revision,
			     rj->reason, a->name, rj->id);
		break;
	}
	engine_kick(j->e, a);
}

static void on_attempt(struct runtime_job *rj, void *data)
{
	struct engine_job *j = data;
	struct sw_err err = {0};
	struct store_job row = {
		.id = rj->id,
		.app = j->app->name,
		.run = j->id,
		.attempt = rj->attempt,
		.handle = rj->handle,
		.attempt_ms = rj->attempt_wall_ms,
		.started_ms = rj->started_wall_ms,
	};
	/* a row that cannot be written costs adoption only: the job runs */
	if (store_job_put(engine_store(j->e), &row, &err) < 0)
		sw_warn("%s: cannot store hook job %s: %s", j->app->name, rj->id, err.msg);
}

/* Starts (adopt NULL) or adopts hook job `index` of list `kind`. */
static void job_add(struct engine *e, struct engine_app *a, int64_t id, struct spec_app *spec,
		    int64_t revision, enum spec_hook_kind kind, uint32_t index,
		    const struct store_job *adopt)
{
	struct sw_err err = {0};
	if (index >= spec->hooks.n[kind])
		return;
	const struct spec_hook *h = &spec->hooks.list[kind][index];
	char jid[SPEC_KEY_MAX + 96]; /* the runtime refuses one longer than it keeps */
	job_id(jid, sizeof(jid), a->name, revision, kind, h->name);
	struct engine_job *j = xcalloc(1, sizeof(*j));
	j->id = id;
	j->kind = kind;
	j->app = a;
	j->e = e;
	struct runtime_job_options o = {
		.kind_name = spec_hook_kind_name(kind),
		.id = jid,
		.on_attempt = on_attempt,
		.on_change = on_job,
		.data = j,
	};
	if (adopt && strcmp(adopt->id, jid) == 0) {
		o.handle = adopt->handle;
		o.attempt = adopt->attempt;
		o.attempt_wall_ms = adopt->attempt_ms;
		o.started_wall_ms = adopt->started_ms;
	}
	j->job = runtime_job_start(e->rt, spec, revision, h, &o, &err);
	if (!j->job && o.handle) {
		sw_warn("%s: cannot adopt hook job %s: %s; starting it again", a->name, jid, err.msg);
		o.handle = NULL;
		j->job = runtime_job_start(e->rt, spec, revision, h, &o, &err);
	}
	if (!j->job) {
		engine_event(e, a->name, "HookFailed", NULL, "%s hook \"%s\" cannot start: %s",
			     spec_hook_kind_name(kind), h->name, err.msg);
		free(j);
		return;
	}
	if (j->job->adopted)
		engine_event(e, a->name, "HookAdopted", NULL,
			     "%s hook \"%s\" of revision %lld adopted: attempt %u/%u still runs (job "
			     "%s, process %s)", spec_hook_kind_name(kind), h->name, (long long)revision,
			     j->job->attempt, j->job->attempts, jid, j->job->handle);
	else if (j->job->resumed)
		engine_event(e, a->name, "HookAdopted", NULL,
			     "%s hook \"%s\" of revision %lld: attempt %u/%u ended while the daemon "
			     "was down; its result is read from its exit file (job %s)",
			     spec_hook_kind_name(kind), h->name, (long long)revision, j->job->attempt,
			     j->job->attempts, jid);
	else
		engine_event(e, a->name, "HookStarted", NULL,
			     "%s hook \"%s\" of revision %lld started (job %s, %u attempt%s)",
			     spec_hook_kind_name(kind), h->name, (long long)revision, jid,
			     j->job->attempts, j->job->attempts == 1 ? "" : "s");
	a->jobs = xrealloc(a->jobs, (a->njobs + 1) * sizeof(*a->jobs));
	a->jobs[a->njobs++] = j;
}

void engine_hook_start(struct engine *e, struct engine_app *a, const struct rollout_action *act)
{
	struct sw_err err = {0};
	struct spec_app *spec = engine_app_spec(e, a, act->revision, &err);
	if (!spec) {
		sw_warn("%s: cannot run hook: %s", a->name, err.msg);
		return;
	}
	job_add(e, a, act->run, spec, act->revision, act->hook_kind, act->hook_index, NULL);
}

size_t engine_hooks_status(struct engine_app *a, struct rollout_run_status *out)
{
	for (size_t i = 0; i < a->njobs; i++) {
		struct runtime_job *rj = a->jobs[i]->job;
		enum rollout_run_phase ph = ROLLOUT_RUN_RUNNING;
		if (rj->phase == RUNTIME_JOB_SUCCEEDED)
			ph = ROLLOUT_RUN_SUCCESSFUL;
		else if (rj->phase == RUNTIME_JOB_FAILED)
			ph = ROLLOUT_RUN_FAILED;
		out[i] = (struct rollout_run_status){a->jobs[i]->id, ph, rj->reason};
	}
	return a->njobs;
}

static void job_free(struct engine_job *j)
{
	struct sw_err err = {0};
	/* killed (if it runs) and forgotten: nothing left to adopt */
	if (store_job_delete(engine_store(j->e), j->job->id, &err) < 0)
		sw_warn("%s: cannot forget hook job %s: %s", j->app->name, j->job->id, err.msg);
	runtime_job_free(j->job);
	free(j);
}

void engine_hooks_prune(struct engine_app *a)
{
	for (size_t i = 0; i < a->njobs;) {
		if (a->jobs[i]->id == a->st.hook_run) {
			i++;
			continue;
		}
		struct engine_job *j = a->jobs[i];
		if (j->job->phase == RUNTIME_JOB_RUNNING)
			engine_event(j->e, a->name, "HookStopped", NULL,
				     "hook job %s stopped: the rollout no longer needs it", j->job->id);
		a->jobs[i] = a->jobs[--a->njobs];
		job_free(j);
	}
}

void engine_hooks_free(struct engine_app *a)
{
	for (size_t i = 0; i < a->njobs; i++)
		job_free(a->jobs[i]);
	free(a->jobs);
	a->jobs = NULL;
	a->njobs = 0;
}

void engine_hooks_keep(struct engine *e)
{
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&e->apps, &it, &k, &v)) {
		struct engine_app *a = v;
		/* left running, the row kept: the next daemon adopts it */
		for (size_t i = 0; i < a->njobs; i++) {
			runtime_job_forget(a->jobs[i]->job);
			free(a->jobs[i]);
		}
		free(a->jobs);
		a->jobs = NULL;
		a->njobs = 0;
	}
}

void engine_hooks_resume(struct engine *e, struct engine_app *a)
{
	struct sw_err err = {0};
	struct store_job *rows = NULL, *adopt = NULL;
	size_t n = 0;
	if (store_job_list(engine_store(e), a->name, &rows, &n, &err) < 0)
		sw_warn("%s: cannot read hook jobs: %s", a->name, err.msg);
	/* the row of the job the state names is adopted; any other is a job
	 * the rollout had left when the daemon died: it must not run on */
	for (size_t i = 0; i < n; i++) {
		if (a->st.hook_run && rows[i].run == a->st.hook_run && !adopt) {
			adopt = &rows[i];
			continue;
		}
		if (rows[i].handle[0] && runtime_kill_handle(e->rt, rows[i].handle) == 0)
			engine_event(e, a->name, "HookStopped", NULL,
				     "hook job %s stopped: it ran on while the daemon was down, and the "
				     "rollout no longer needs it", rows[i].id);
		store_job_delete(engine_store(e), rows[i].id, NULL);
	}
	struct spec_app *spec = NULL;
	if (a->st.hook_run && a->st.desired)
		spec = engine_app_spec(e, a, a->st.desired, &err);
	if (spec)
		job_add(e, a, a->st.hook_run, spec, a->st.desired,
			(enum spec_hook_kind)a->st.hook_kind, a->st.hook_index, adopt);
	store_job_list_free(rows, n);
}
