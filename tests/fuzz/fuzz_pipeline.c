/*
 * libFuzzer target for the Pipeline document: any bytes as a YAML file
 * with the Pipeline kind registered. Parsing must never crash, hang or
 * leak and must fail with a message or give documents; every Pipeline
 * that parses must round-trip through its canonical JSON (the store's
 * form) unchanged, plan without an error (validation left nothing to
 * the plan but the job-run limit), and be run to its end by the
 * scheduler with every job succeeding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"

static void run_through(const struct pipeline_plan *plan)
{
	struct pipeline_dag d;
	struct pipeline_actions acts = {0};
	size_t *queue = calloc(plan->nruns + 1, sizeof(size_t)), head = 0, tail = 0;
	pipeline_dag_init(&d, plan, NULL, NULL);
	struct pipeline_event ev = {.kind = PIPELINE_EV_START, .now_ms = 1};
	for (size_t i = 0; i <= plan->nruns + 1 && !d.finished; i++) {
		pipeline_dag_step(&d, &ev, &acts);
		for (size_t a = 0; a < acts.n; a++)
			if (acts.v[a].kind == PIPELINE_ACT_START)
				queue[tail++] = acts.v[a].run;
		pipeline_actions_release(&acts);
		if (head == tail)
			break;
		ev = (struct pipeline_event){.kind = PIPELINE_EV_DONE, .now_ms = 2, .run = queue[head++],
					     .result = PIPELINE_SUCCESS};
	}
	if (!d.finished) /* every job ran or was skipped: the run must be over */
		abort();
	pipeline_dag_release(&d);
	free(queue);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool registered;
	struct spec_set set = {0};
	struct sw_err err = {0};
	if (!registered) {
		pipeline_kinds_register();
		registered = true;
	}
	if (spec_parse_text(&set, (const char *)data, size, "fuzz.yaml", &err) < 0) {
		if (err.msg[0] == '\0')
			abort();
		return 0;
	}
	for (size_t i = 0; i < set.ndocs; i++) {
		if (set.docs[i].kind != &pipeline_kind)
			continue;
		json_t *j = pipeline_kind.to_json(set.docs[i].obj);
		void *back = NULL;
		if (spec_doc_from_json(&pipeline_kind, &back, j, &err) < 0)
			abort();
		json_t *j2 = pipeline_kind.to_json(back);
		if (!json_equal(j, j2))
			abort();
		json_decref(j);
		json_decref(j2);
		pipeline_kind.free(back);
		struct pipeline_plan *plan = NULL;
		if (pipeline_plan_new(&plan, set.docs[i].obj, &err) < 0) {
			if (!strstr(err.msg, "job runs"))
				abort();
			continue;
		}
		run_through(plan);
		pipeline_plan_free(plan);
	}
	spec_set_release(&set);
	return 0;
}
