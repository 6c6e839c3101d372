/*
 * The scheduler of one pipeline run (pipeline.h): state + event -> state
 * + actions. Pure: no I/O, no clock (time comes in the events).
 *
 * After each event it walks the jobs in plan order and, for each job
 * whose needs are all final, decides its pending runs; then it checks
 * whether the run is over. A pass is linear in the jobs and their needs,
 * so a 1,000-job pipeline is scheduled in a few milliseconds in all
 * (bench/pipeline-dag.sh).
 */
#include "pipeline.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pipeline_state_name(enum pipeline_state s)
{
	static const char *const names[] = {"pending", "running", "success", "failure", "cancelled",
					    "skipped"};
	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

void pipeline_actions_release(struct pipeline_actions *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].reason);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

static void act(struct pipeline_actions *a, enum pipeline_action_kind kind, size_t run,
		enum pipeline_state result, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void act(struct pipeline_actions *a, enum pipeline_action_kind kind, size_t run,
		enum pipeline_state result, const char *fmt, ...)
{
	if (a->n == a->alloc) {
		a->alloc = a->alloc ? a->alloc * 2 : 16;
		a->v = xrealloc(a->v, a->alloc * sizeof(*a->v));
	}
	struct pipeline_action *x = &a->v[a->n++];
	x->kind = kind;
	x->run = run;
	x->result = result;
	x->reason = NULL;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		x->reason = buf_vnewf(fmt, ap);
		va_end(ap);
	}
}

void pipeline_dag_init(struct pipeline_dag *d, const struct pipeline_plan *plan, json_t *slipway,
		       json_t *inputs)
{
	size_t nr = plan->nruns + 1, nj = plan->p->njobs + 1;
	memset(d, 0, sizeof(*d));
	d->plan = plan;
	d->slipway = json_incref(slipway);
	d->inputs = json_incref(inputs);
	d->state = xcalloc(nr, sizeof(*d->state));
	d->stopping = xcalloc(nr, sizeof(bool));
	d->timed_out = xcalloc(nr, sizeof(bool));
	d->started_ms = xcalloc(nr, sizeof(uint64_t));
	d->group = xcalloc(nr, sizeof(char *));
	d->job_ctx = xcalloc(nj, sizeof(json_t *));
	d->unfinished = xcalloc(nj, sizeof(size_t));
	d->running = xcalloc(nj, sizeof(size_t));
	d->failed = xcalloc(nj, sizeof(bool));
	d->upstream_failed = xcalloc(nj, sizeof(bool));
	d->outputs = xcalloc(nj, sizeof(json_t *));
	for (size_t j = 0; j < plan->p->njobs; j++)
		d->unfinished[j] = plan->jobs[j].nruns;
}

void pipeline_dag_release(struct pipeline_dag *d)
{
	if (!d->plan)
		return;
	for (size_t r = 0; r < d->plan->nruns; r++)
		free(d->group[r]);
	for (size_t j = 0; j < d->plan->p->njobs; j++) {
		json_decref(d->job_ctx[j]);
		json_decref(d->outputs[j]);
	}
	json_decref(d->slipway);
	json_decref(d->inputs);
	free(d->state);
	free(d->stopping);
	free(d->timed_out);
	free(d->started_ms);
	free(d->group);
	free(d->job_ctx);
	free(d->unfinished);
	free(d->running);
	free(d->failed);
	free(d->upstream_failed);
	free(d->outputs);
	memset(d, 0, sizeof(*d));
}

json_t *pipeline_dag_needs(const struct pipeline_dag *d, size_t run)
{
	const struct pipeline_plan *plan = d->plan;
	const struct pipeline_plan_job *pj = &plan->jobs[plan->runs[run].job];
	json_t *needs = json_object();
	for (size_t k = 0; k < pj->nneeds; k++)
		json_object_set(needs, plan->p->jobs[pj->needs[k]].id, d->job_ctx[pj->needs[k]]);
	return needs;
}

/* ---- evaluating a run's if: ---- */

struct run_ctx {
	const struct pipeline_dag *d;
	size_t run;
	json_t *needs;              /* built on first use */
};

static json_t *run_context(const char *name, void *data)
{
	struct run_ctx *c = data;
	const struct pipeline_plan *plan = c->d->plan;
	const struct pipeline_plan_run *r = &plan->runs[c->run];
	if (strcmp(name, "slipway") == 0)
		return c->d->slipway;
	if (strcmp(name, "inputs") == 0)
		return c->d->inputs;
	if (strcmp(name, "matrix") == 0)
		return r->matrix;
	if (strcmp(name, "needs") == 0) {
		if (!c->needs)
			c->needs = pipeline_dag_needs(c->d, c->run);
		return c->needs;
	}
	return NULL;
}

/* The job's result as needs.ID.result says it, once every run is final. */
static const char *job_result(const struct pipeline_dag *d, size_t j)
{
	const struct pipeline_plan_job *pj = &d->plan->jobs[j];
	bool cancelled = false, all_skipped = true;
	if (d->failed[j])
		return "failure";
	for (size_t r = pj->first_run; r < pj->first_run + pj->nruns; r++) {
		cancelled |= d->state[r] == PIPELINE_CANCELLED;
		all_skipped &= d->state[r] == PIPELINE_SKIPPED;
	}
	return cancelled ? "cancelled" : all_skipped ? "skipped" : "success";
}

/* Once the job's last run ended: its context, and what its dependents see. */
static void job_final(struct pipeline_dag *d, size_t j)
{
	const struct pipeline_plan_job *pj = &d->plan->jobs[j];
	json_t *o = json_object();
	json_object_set_new(o, "result", json_string(job_result(d, j)));
	json_object_set_new(o, "outputs", d->outputs[j] ? json_incref(d->outputs[j]) : json_object());
	d->job_ctx[j] = o;
	for (size_t k = 0; k < pj->nneeds; k++)
		d->upstream_failed[j] |= d->failed[pj->needs[k]] || d->upstream_failed[pj->needs[k]];
}

/* A run reached a final state. */
static void run_final(struct pipeline_dag *d, size_t run, enum pipeline_state s)
{
	size_t j = d->plan->runs[run].job;
	if (d->state[run] == PIPELINE_RUNNING)
		d->running[j]--;
	d->state[run] = s;
	if (s == PIPELINE_FAILURE && !d->plan->p->jobs[j].continue_on_error)
		d->failed[j] = true;
	if (--d->unfinished[j] == 0)
		job_final(d, j);
}

/* Whether the job's needs have all ended, and how: *success when each
 * succeeded (a continue-on-error failure counts), *failure when one of
 * them or further up failed. */
static bool needs_final(const struct pipeline_dag *d, size_t j, bool *success, bool *failure)
{
	const struct pipeline_plan_job *pj = &d->plan->jobs[j];
	*success = true;
	*failure = false;
	for (size_t k = 0; k < pj->nneeds; k++) {
		size_t n = pj->needs[k];
		if (d->unfinished[n])
			return false;
		*success &= strcmp(json_string_value(json_object_get(d->job_ctx[n], "result")), "success") == 0;
		*failure |= d->failed[n] || d->upstream_failed[n];
	}
	return true;
}

/* Whether another run of the group `g` is running. */
static bool group_busy(const struct pipeline_dag *d, const char *g)
{
	for (size_t r = 0; r < d->plan->nruns; r++)
		if (d->state[r] == PIPELINE_RUNNING && d->group[r] && strcmp(d->group[r], g) == 0)
			return true;
	return false;
}

/* Decides the pending runs of job j, whose needs are final. */
static void decide_job(struct pipeline_dag *d, size_t j, uint64_t now, struct pipeline_actions *out)
{
	const struct pipeline_plan_job *pj = &d->plan->jobs[j];
	const struct pipeline_job *job = &d->plan->p->jobs[j];
	bool success, failure;
	if (!needs_final(d, j, &success, &failure))
		return;
	for (size_t r = pj->first_run; r < pj->first_run + pj->nruns; r++) {
		if (d->state[r] != PIPELINE_PENDING)
			continue;
		const char *name = d->plan->runs[r].name;
		if (d->cancelled) {
			run_final(d, r, PIPELINE_CANCELLED);
			act(out, PIPELINE_ACT_END, r, PIPELINE_CANCELLED, "the run was cancelled");
			continue;
		}
		if (d->failed[j] && job->strategy.fail_fast && job->strategy.axes) {
			run_final(d, r, PIPELINE_CANCELLED);
			act(out, PIPELINE_ACT_END, r, PIPELINE_CANCELLED,
			    "fail-fast: another run of %s failed", job->id);
			continue;
		}
		if (!d->group[r]) { /* if: and the group are decided once; then it may wait */
			struct run_ctx rc = {d, r, NULL};
			struct pipeline_expr_env env = {run_context, NULL, &rc, success, failure, false};
			struct sw_err err = {0};
			struct buf g = BUF_INIT;
			bool go = success; /* no if: is success() */
			int e = pj->cond ? pipeline_expr_eval_cond(&go, pj->cond, &env, &err) : 0;
			if (e == 0 && go && job->concurrency.group)
				e = pipeline_template_eval(&g, job->concurrency.group, &env, &err);
			json_decref(rc.needs);
			if (e < 0) {
				buf_release(&g);
				run_final(d, r, PIPELINE_FAILURE);
				act(out, PIPELINE_ACT_END, r, PIPELINE_FAILURE, "%s: %s", name, err.msg);
				continue;
			}
			if (!go) {
				buf_release(&g);
				run_final(d, r, PIPELINE_SKIPPED);
				if (!success && !(pj->cond && pipeline_expr_has_status(pj->cond)))
					act(out, PIPELINE_ACT_END, r, PIPELINE_SKIPPED,
					    "a job it needs did not succeed");
				else
					act(out, PIPELINE_ACT_END, r, PIPELINE_SKIPPED, "if: %s was false",
					    job->if_text);
				continue;
			}
			d->group[r] = buf_detach(&g);
		}
		if (job->strategy.max_parallel && d->running[j] >= job->strategy.max_parallel)
			continue;
		if (d->group[r][0] && group_busy(d, d->group[r]))
			continue;
		d->state[r] = PIPELINE_RUNNING;
		d->running[j]++;
		d->started_ms[r] = now ? now : 1;
		act(out, PIPELINE_ACT_START, r, PIPELINE_RUNNING, NULL);
	}
}

static void update_timer(struct pipeline_dag *d)
{
	d->next_timer_ms = 0;
	for (size_t r = 0; r < d->plan->nruns; r++) {
		if (d->state[r] != PIPELINE_RUNNING || d->stopping[r])
			continue;
		uint64_t due = d->started_ms[r] + d->plan->p->jobs[d->plan->runs[r].job].timeout_ms;
		if (!d->next_timer_ms || due < d->next_timer_ms)
			d->next_timer_ms = due;
	}
}

static void stop(struct pipeline_dag *d, size_t r, struct pipeline_actions *out, const char *why)
{
	if (d->stopping[r])
		return;
	d->stopping[r] = true;
	act(out, PIPELINE_ACT_STOP, r, PIPELINE_CANCELLED, "%s", why);
}

size_t pipeline_dag_step(struct pipeline_dag *d, const struct pipeline_event *ev, struct pipeline_actions *out)
{
	const struct pipeline_plan *plan = d->plan;
	size_t before = out->n;
	if (d->finished)
		return 0;
	switch (ev->kind) {
	case PIPELINE_EV_START:
		if (d->started)
			return 0;
		d->started = true;
		break;
	case PIPELINE_EV_DONE: {
		size_t r = ev->run;
		if (!d->started || r >= plan->nruns || d->state[r] != PIPELINE_RUNNING)
			return 0;
		size_t j = plan->runs[r].job;
		enum pipeline_state s = ev->result;
		if (s != PIPELINE_SUCCESS && s != PIPELINE_CANCELLED)
			s = PIPELINE_FAILURE;
		if (d->timed_out[r])
			s = PIPELINE_FAILURE;
		if (ev->outputs && json_is_object(ev->outputs)) {
			if (!d->outputs[j])
				d->outputs[j] = json_object();
			json_object_update(d->outputs[j], ev->outputs);
		}
		run_final(d, r, s);
		const struct pipeline_job *job = &plan->p->jobs[j];
		if (s == PIPELINE_FAILURE && !job->continue_on_error && job->strategy.fail_fast &&
		    job->strategy.axes) {
			const struct pipeline_plan_job *pj = &plan->jobs[j];
			for (size_t o = pj->first_run; o < pj->first_run + pj->nruns; o++)
				if (d->state[o] == PIPELINE_RUNNING)
					stop(d, o, out, "fail-fast: another run of the job failed");
		}
		break;
	}
	case PIPELINE_EV_CANCEL:
		if (d->cancelled)
			return 0;
		d->cancelled = true;
		for (size_t r = 0; r < plan->nruns; r++)
			if (d->state[r] == PIPELINE_RUNNING)
				stop(d, r, out, "the run was cancelled");
		if (!d->started) /* nothing ran: it ends here */
			d->started = true;
		break;
	case PIPELINE_EV_TIMER:
		if (!d->started)
			return 0;
		for (size_t r = 0; r < plan->nruns; r++) {
			const struct pipeline_job *job = &plan->p->jobs[plan->runs[r].job];
			if (d->state[r] != PIPELINE_RUNNING || d->stopping[r] ||
			    ev->now_ms < d->started_ms[r] + job->timeout_ms)
				continue;
			char why[96];
			char t[48];
			sw_duration_format(t, sizeof(t), job->timeout_ms);
			snprintf(why, sizeof(why), "timed out after %s", t);
			d->timed_out[r] = true;
			stop(d, r, out, why);
		}
		break;
	}
	for (size_t i = 0; i < plan->p->njobs; i++) {
		size_t j = plan->order[i];
		if (d->unfinished[j] > d->running[j])
			decide_job(d, j, ev->now_ms, out);
	}
	update_timer(d);
	bool over = true;
	for (size_t j = 0; j < plan->p->njobs && over; j++)
		over = d->unfinished[j] == 0;
	if (over) {
		bool failed = false;
		for (size_t j = 0; j < plan->p->njobs; j++)
			failed |= d->failed[j];
		d->finished = true;
		d->result = failed ? PIPELINE_FAILURE : d->cancelled ? PIPELINE_CANCELLED : PIPELINE_SUCCESS;
		act(out, PIPELINE_ACT_FINISH, 0, d->result, "%s", failed ? "a job failed" :
		    d->cancelled ? "cancelled" : "every job succeeded or was skipped");
	}
	return out->n - before;
}
