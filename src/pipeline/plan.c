/*
 * The plan of a pipeline (pipeline.h): matrices expanded as GitHub
 * expands them, needs as indices, stages, and the cycle finder the
 * document's check uses. Pure.
 */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

/* Whether every key of `part` has the same value in `combo`. */
static bool matches(const json_t *combo, const json_t *part)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)part, k, v) {
		json_t *c = json_object_get(combo, k);
		if (!c || !json_equal(c, v))
			return false;
	}
	return true;
}

/* Whether `inc` agrees with `combo` on every axis of the matrix it names. */
static bool compatible(const json_t *combo, const json_t *inc, const json_t *axes)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)inc, k, v) {
		if (!json_object_get(axes, k))
			continue;
		json_t *c = json_object_get(combo, k);
		if (c && !json_equal(c, v))
			return false;
	}
	return true;
}

int pipeline_matrix_expand(json_t **out, const struct pipeline_matrix *m, size_t limit, struct sw_err *err)
{
	json_t *all = json_array();
	size_t naxes = m->axes ? json_object_size(m->axes) : 0;
	*out = NULL;
	if (!m->axes) {
		json_array_append_new(all, json_object());
		*out = all;
		return 0;
	}
	/* the product, refused before it is made */
	const char *keys[64];
	json_t *vals[64];
	size_t idx[64] = {0}, product = 1, i = 0;
	const char *k;
	json_t *v;
	if (naxes > 64) {
		json_decref(all);
		return sw_errf(err, -1, "the matrix has %zu keys; at most 64", naxes);
	}
	json_object_foreach(m->axes, k, v) {
		keys[i] = k;
		vals[i++] = v;
		product *= json_array_size(v);
		if (product > 65536) {
			json_decref(all);
			return sw_errf(err, -1, "the matrix makes more than 65536 combinations; at most %zu",
				       limit);
		}
	}
	for (size_t e = 0; m->exclude && e < json_array_size(m->exclude); e++)
		json_object_foreach(json_array_get(m->exclude, e), k, v)
			if (!json_object_get(m->axes, k)) {
				json_decref(all);
				return sw_errf(err, -1, "exclude[%zu]: \"%s\" is not a key of the matrix", e, k);
			}
	if (naxes > 0) {
		for (size_t n = 0; n < product; n++) {
			json_t *combo = json_object();
			for (size_t a = 0; a < naxes; a++)
				json_object_set(combo, keys[a], json_array_get(vals[a], idx[a]));
			bool excluded = false;
			for (size_t e = 0; m->exclude && e < json_array_size(m->exclude) && !excluded; e++)
				excluded = matches(combo, json_array_get(m->exclude, e));
			if (excluded)
				json_decref(combo);
			else
				json_array_append_new(all, combo);
			for (size_t a = naxes; a-- > 0;) { /* the last axis varies fastest */
				if (++idx[a] < json_array_size(vals[a]))
					break;
				idx[a] = 0;
			}
		}
	}
	size_t originals = json_array_size(all);
	for (size_t n = 0; m->include && n < json_array_size(m->include); n++) {
		json_t *inc = json_array_get(m->include, n);
		bool added = false;
		for (size_t c = 0; c < originals; c++) {
			json_t *combo = json_array_get(all, c);
			if (!compatible(combo, inc, m->axes))
				continue;
			json_object_update(combo, inc);
			added = true;
		}
		if (!added)
			json_array_append_new(all, json_deep_copy(inc));
	}
	if (json_array_size(all) > limit) {
		size_t n = json_array_size(all);
		json_decref(all);
		return sw_errf(err, -1, "the matrix makes %zu combinations; at most %zu", n, limit);
	}
	if (json_array_size(all) == 0) {
		json_decref(all);
		return sw_errf(err, -1, "the matrix makes no combination: exclude removes every one");
	}
	*out = all;
	return 0;
}

/* ---- cycles ---- */

struct dfs {
	const struct pipeline *p;
	unsigned char *color;       /* 0 white, 1 on the path, 2 done */
	size_t *path, depth;
	struct buf *out;
};

static bool visit(struct dfs *d, size_t j)
{
	d->color[j] = 1;
	d->path[d->depth++] = j;
	const struct pipeline_job *job = &d->p->jobs[j];
	for (size_t k = 0; k < job->nneeds; k++) {
		size_t n;
		if (!pipeline_job_find(d->p, job->needs[k], &n))
			continue;
		if (d->color[n] == 1) {
			size_t from = d->depth;
			while (from > 0 && d->path[from - 1] != n)
				from--;
			/* the path runs from n to j, each needing the next */
			for (size_t i = from - 1; i < d->depth; i++)
				buf_addf(d->out, "%s -> ", d->p->jobs[d->path[i]].id);
			buf_adds(d->out, d->p->jobs[n].id);
			return true;
		}
		if (d->color[n] == 0 && visit(d, n))
			return true;
	}
	d->color[j] = 2;
	d->depth--;
	return false;
}

bool pipeline_find_cycle(const struct pipeline *p, struct buf *out)
{
	struct dfs d = {p, xcalloc(p->njobs + 1, 1), xcalloc(p->njobs + 1, sizeof(size_t)), 0, out};
	bool found = false;
	for (size_t j = 0; j < p->njobs && !found; j++)
		if (d.color[j] == 0)
			found = visit(&d, j);
	free(d.color);
	free(d.path);
	return found;
}

/* ---- the plan ---- */

/* "build (gcc, debug)": the job's name and its combination's values. */
static char *run_name(const struct pipeline_job *job, const json_t *combo)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, job->name && !strstr(job->name, "${{") ? job->name : job->id);
	if (json_object_size(combo)) {
		const char *k;
		json_t *v;
		bool first = true;
		buf_adds(&b, " (");
		json_object_foreach((json_t *)combo, k, v) {
			if (!first)
				buf_adds(&b, ", ");
			first = false;
			if (json_is_object(v) || json_is_array(v)) {
				char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
				buf_adds(&b, s ? s : "");
				free(s);
			} else {
				pipeline_value_text(&b, v);
			}
		}
		buf_addc(&b, ')');
	}
	return buf_detach(&b);
}

void pipeline_plan_free(struct pipeline_plan *plan)
{
	if (!plan)
		return;
	for (size_t j = 0; plan->jobs && j < plan->p->njobs; j++) {
		free(plan->jobs[j].needs);
		pipeline_expr_free(plan->jobs[j].cond);
	}
	for (size_t r = 0; r < plan->nruns; r++) {
		json_decref(plan->runs[r].matrix);
		free(plan->runs[r].name);
	}
	free(plan->runs);
	free(plan->jobs);
	free(plan->order);
	free(plan);
}

int pipeline_plan_new(struct pipeline_plan **out, const struct pipeline *p, struct sw_err *err)
{
	struct pipeline_plan *plan = xcalloc(1, sizeof(*plan));
	size_t n = p->njobs, done = 0;
	bool *placed = xcalloc(n + 1, sizeof(bool));
	int rc = -1;
	*out = NULL;
	plan->p = p;
	plan->jobs = xcalloc(n + 1, sizeof(*plan->jobs));
	plan->order = xcalloc(n + 1, sizeof(size_t));
	for (size_t j = 0; j < n; j++) {
		struct pipeline_plan_job *pj = &plan->jobs[j];
		pj->needs = xcalloc(p->jobs[j].nneeds + 1, sizeof(size_t));
		for (size_t k = 0; k < p->jobs[j].nneeds; k++)
			if (pipeline_job_find(p, p->jobs[j].needs[k], &pj->needs[pj->nneeds]))
				pj->nneeds++;
		if (p->jobs[j].if_text) {
			size_t at;
			if (pipeline_cond_compile(&pj->cond, p->jobs[j].if_text, PIPELINE_CTX_JOB_IF, &at, err) < 0)
				goto out;
		}
	}
	/* stage by stage: a job is placed once all it needs were, in an
	 * earlier stage; what is left unplaced is a cycle */
	while (done < n) {
		size_t before = done;
		for (size_t j = 0; j < n; j++) {
			if (placed[j])
				continue;
			bool ready = true;
			for (size_t k = 0; k < plan->jobs[j].nneeds && ready; k++) {
				size_t nj = plan->jobs[j].needs[k];
				ready = placed[nj] && plan->jobs[nj].stage < plan->nstages;
			}
			if (!ready)
				continue;
			plan->jobs[j].stage = plan->nstages;
			plan->order[done++] = j;
		}
		if (done == before) {
			sw_errf(err, -1, "the needs of the jobs make a cycle");
			goto out;
		}
		for (size_t i = before; i < done; i++)
			placed[plan->order[i]] = true;
		plan->nstages++;
	}
	for (size_t i = 0; i < n; i++) {
		size_t j = plan->order[i];
		json_t *all = NULL;
		if (pipeline_matrix_expand(&all, &p->jobs[j].strategy, PIPELINE_MAX_MATRIX, err) < 0)
			goto out;
		if (plan->nruns + json_array_size(all) > PIPELINE_MAX_RUNS) {
			json_decref(all);
			sw_errf(err, -1, "more than %d job runs with the matrices expanded", PIPELINE_MAX_RUNS);
			goto out;
		}
		plan->jobs[j].first_run = plan->nruns;
		plan->jobs[j].nruns = json_array_size(all);
		plan->runs = xrealloc(plan->runs, (plan->nruns + json_array_size(all)) * sizeof(*plan->runs));
		for (size_t c = 0; c < json_array_size(all); c++) {
			struct pipeline_plan_run *r = &plan->runs[plan->nruns++];
			r->job = j;
			r->matrix = json_incref(json_array_get(all, c));
			r->name = run_name(&p->jobs[j], r->matrix);
		}
		json_decref(all);
	}
	*out = plan;
	plan = NULL;
	rc = 0;
out:
	free(placed);
	pipeline_plan_free(plan);
	return rc;
}
