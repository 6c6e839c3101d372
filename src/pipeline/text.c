/*
 * What `slipway pipeline validate` and `graph` print (pipeline.h): the
 * documents read by spec, planned, and told as text.
 */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

/* Reads path and calls each() for every Pipeline with its plan, with sep
 * between two. */
static int each_pipeline(const char *path, struct buf *out, const char *sep, struct sw_err *err,
			 void (*each)(struct buf *out, const struct pipeline *p, const struct pipeline_plan *plan))
{
	struct spec_set set = {0};
	size_t n = 0;
	int rc = 0;
	if (spec_parse_path(&set, path, err) < 0)
		return -1;
	for (size_t i = 0; i < set.ndocs && rc == 0; i++) {
		if (set.docs[i].kind != &pipeline_kind)
			continue;
		struct pipeline_plan *plan = NULL;
		const struct pipeline *p = set.docs[i].obj;
		if (pipeline_plan_new(&plan, p, err) < 0) {
			char msg[sizeof(err->msg)];
			snprintf(msg, sizeof(msg), "%s", err->msg);
			sw_err_clear(err); /* sw_errf keeps a message that is set */
			rc = sw_errf(err, -1, "%s: %s", p->source, msg);
			break;
		}
		if (n++)
			buf_adds(out, sep);
		each(out, p, plan);
		pipeline_plan_free(plan);
	}
	if (rc == 0 && n == 0)
		rc = sw_errf(err, -1, "%s: no Pipeline document in it (kind: Pipeline)", path);
	spec_set_release(&set);
	return rc;
}

static void summary(struct buf *out, const struct pipeline *p, const struct pipeline_plan *plan)
{
	buf_addf(out, "pipeline/%s valid: %zu job%s, %zu job run%s in %zu stage%s", p->name, p->njobs,
		 p->njobs == 1 ? "" : "s", plan->nruns, plan->nruns == 1 ? "" : "s", plan->nstages,
		 plan->nstages == 1 ? "" : "s");
}

static void validate_one(struct buf *out, const struct pipeline *p, const struct pipeline_plan *plan)
{
	summary(out, p, plan);
	buf_addc(out, '\n');
}

int pipeline_validate_text(struct buf *out, const char *path, struct sw_err *err)
{
	return each_pipeline(path, out, "", err, validate_one);
}

static void list(struct buf *out, char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_addf(out, "%s%s", i ? ", " : "", v[i]);
}

static void triggers(struct buf *out, const struct pipeline *p)
{
	const char *sep = "";
	buf_adds(out, "on: ");
	if (p->on_push) {
		buf_adds(out, "push");
		if (p->push_source)
			buf_addf(out, " of source %s", p->push_source);
		if (p->nbranches || p->nbranches_ignore) {
			buf_adds(out, p->nbranches ? " to " : " to any branch but ");
			list(out, p->nbranches ? p->branches : p->branches_ignore,
			     p->nbranches ? p->nbranches : p->nbranches_ignore);
		}
		if (p->npaths || p->npaths_ignore) {
			buf_adds(out, p->npaths ? " touching " : " unless it touches only ");
			list(out, p->npaths ? p->paths : p->paths_ignore, p->npaths ? p->npaths : p->npaths_ignore);
		}
		sep = "; ";
	}
	if (p->on_manual) {
		buf_addf(out, "%smanual", sep);
		sep = "; ";
	}
	for (size_t i = 0; i < p->nschedules; i++) {
		buf_addf(out, "%sschedule \"%s\"", sep, p->schedules[i].cron.text);
		if (p->schedules[i].tz)
			buf_addf(out, " %s", sw_tz_name(p->schedules[i].tz));
		sep = "; ";
	}
	buf_addc(out, '\n');
}

static void graph_one(struct buf *out, const struct pipeline *p, const struct pipeline_plan *plan)
{
	size_t i = 0;
	buf_addf(out, "pipeline/%s: %zu job%s, %zu job run%s in %zu stage%s\n", p->name, p->njobs,
		 p->njobs == 1 ? "" : "s", plan->nruns, plan->nruns == 1 ? "" : "s", plan->nstages,
		 plan->nstages == 1 ? "" : "s");
	triggers(out, p);
	for (size_t s = 0; s < plan->nstages; s++) {
		buf_addf(out, "stage %zu:\n", s + 1);
		for (; i < p->njobs && plan->jobs[plan->order[i]].stage == s; i++) {
			size_t j = plan->order[i];
			const struct pipeline_job *job = &p->jobs[j];
			const struct pipeline_plan_job *pj = &plan->jobs[j];
			buf_addf(out, "  %s", job->id);
			if (job->nneeds) {
				buf_adds(out, " <- ");
				list(out, job->needs, job->nneeds);
			}
			buf_addc(out, '\n');
			if (job->if_text)
				buf_addf(out, "    if: %s\n", job->if_text);
			if (job->environment)
				buf_addf(out, "    environment: %s (waits for its gates)\n", job->environment);
			if (job->concurrency.group)
				buf_addf(out, "    concurrency: %s\n", job->concurrency.group);
			if (job->work == PIPELINE_WORK_DEPLOY)
				buf_addf(out, "    deploy: app %s to environment %s\n", job->deploy_app,
					 job->deploy_environment ? job->deploy_environment : "default");
			else
				buf_addf(out, "    %zu step%s\n", job->nsteps, job->nsteps == 1 ? "" : "s");
			if (job->nservices) {
				buf_adds(out, "    services: ");
				for (size_t k = 0; k < job->nservices; k++)
					buf_addf(out, "%s%s", k ? ", " : "", job->services[k].name);
				buf_addc(out, '\n');
			}
			if (job->strategy.axes) {
				buf_addf(out, "    matrix: %zu run%s", pj->nruns, pj->nruns == 1 ? "" : "s");
				if (job->strategy.max_parallel)
					buf_addf(out, ", %u at a time", job->strategy.max_parallel);
				buf_addf(out, "%s\n", job->strategy.fail_fast ? ", fail-fast" : "");
				for (size_t r = pj->first_run; r < pj->first_run + pj->nruns; r++)
					buf_addf(out, "    - %s\n", plan->runs[r].name);
			}
		}
	}
}

int pipeline_graph_text(struct buf *out, const char *path, struct sw_err *err)
{
	return each_pipeline(path, out, "\n", err, graph_one);
}
