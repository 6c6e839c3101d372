/* Analysis runs the rollout asks for: started and stopped here; measured
 * by the analysis runner. */
#include "daemon_int.h"

#include <stdlib.h>
#include <string.h>

static const char *kind_name(enum rollout_run_kind k)
{
	switch (k) {
	case ROLLOUT_RUN_STEP: return "step";
	case ROLLOUT_RUN_BACKGROUND: return "background";
	case ROLLOUT_RUN_PRE: return "pre-promotion";
	case ROLLOUT_RUN_POST: return "post-promotion";
	}
	return "step";
}

void daemon_run_start(struct daemon *d, struct app *a, int64_t id, enum rollout_run_kind kind,
		      int64_t revision, const struct spec_analysis_ref *ref)
{
	struct daemon_run *r = xcalloc(1, sizeof(*r));
	r->id = id;
	r->kind = kind;
	r->phase = ROLLOUT_RUN_RUNNING;
	r->revision = revision;
	r->ref = ref;
	r->started_ms = sw_wall_ms();
	a->runs = xrealloc(a->runs, (a->nruns + 1) * sizeof(*a->runs));
	a->runs[a->nruns++] = r;
	struct buf t = BUF_INIT;
	for (size_t i = 0; ref && i < ref->ntemplates; i++)
		buf_addf(&t, "%s%s", i ? ", " : "", ref->templates[i]);
	daemon_event(d, a->name, "AnalysisStarted", NULL,
		     "%s analysis run %lld of revision %lld started (templates: %s)", kind_name(kind),
		     (long long)id, (long long)revision, buf_str(&t));
	buf_release(&t);
}

static void run_free(struct daemon_run *r)
{
	free(r->state);
	free(r);
}

void daemon_run_stop(struct daemon *d, struct app *a, int64_t id)
{
	for (size_t i = 0; i < a->nruns; i++)
		if (a->runs[i]->id == id) {
			run_free(a->runs[i]);
			a->runs[i] = a->runs[--a->nruns];
			return;
		}
}

void daemon_runs_free(struct app *a)
{
	for (size_t i = 0; i < a->nruns; i++)
		run_free(a->runs[i]);
	free(a->runs);
	a->runs = NULL;
	a->nruns = 0;
}
