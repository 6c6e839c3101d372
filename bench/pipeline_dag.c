/*
 * What scheduling a big pipeline costs (pipeline/pipeline.h): a document
 * of JOBS (1,000) jobs, each needing up to three earlier ones (a seeded
 * random DAG) and every tenth with an if:, is parsed and validated, planned,
 * and run through the scheduler with every job succeeding in the order it
 * was started, ROUNDS (5) times. Prints the median of each phase in ms.
 *   bench/pipeline-dag.sh [JOBS] [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/pipeline.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	int jobs = argc > 1 ? atoi(argv[1]) : 1000, rounds = argc > 2 ? atoi(argv[2]) : 5;
	struct buf doc = BUF_INIT;
	double parse[64], plan_ms[64], sched[64];
	size_t events = 0;
	if (jobs < 1 || jobs > PIPELINE_MAX_JOBS || rounds < 1 || rounds > 64) {
		fprintf(stderr, "usage: bench_pipeline_dag [JOBS 1..%d] [ROUNDS 1..64]\n", PIPELINE_MAX_JOBS);
		return 2;
	}
	pipeline_kinds_register();
	srand(14);
	buf_adds(&doc, "apiVersion: slipway/v1\nkind: Pipeline\nmetadata: {name: big}\nspec:\n  jobs:\n");
	for (int j = 0; j < jobs; j++) {
		buf_addf(&doc, "    j%d:\n", j);
		if (j > 0) {
			int n = 1 + rand() % 3, seen[3] = {-1, -1, -1};
			buf_adds(&doc, "      needs: [");
			for (int k = 0; k < n; k++) {
				int d = j - 1 - rand() % (j < 20 ? j : 20);
				if (d == seen[0] || d == seen[1])
					continue;
				seen[k] = d;
				buf_addf(&doc, "%sj%d", k && seen[0] >= 0 ? ", " : "", d);
			}
			buf_adds(&doc, "]\n");
		}
		if (j % 10 == 5)
			buf_adds(&doc, "      if: ${{ slipway.ref == 'refs/heads/main' || always() }}\n");
		buf_adds(&doc, "      steps: [{run: make}]\n");
	}
	for (int r = 0; r < rounds; r++) {
		struct spec_set set = {0};
		struct sw_err err = {0};
		struct pipeline_plan *plan = NULL;
		double t0 = now_ms();
		if (spec_parse_text(&set, doc.s, doc.len, "big.yaml", &err) < 0) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		double t1 = now_ms();
		if (pipeline_plan_new(&plan, set.docs[0].obj, &err) < 0) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		double t2 = now_ms();
		struct pipeline_dag d;
		struct pipeline_actions acts = {0};
		size_t *queue = calloc(plan->nruns + 1, sizeof(size_t)), head = 0, tail = 0;
		json_t *ctx = json_pack("{s:s}", "ref", "refs/heads/main");
		pipeline_dag_init(&d, plan, ctx, NULL);
		struct pipeline_event ev = {.kind = PIPELINE_EV_START, .now_ms = 1};
		events = 0;
		for (;;) {
			acts.n = 0;
			pipeline_dag_step(&d, &ev, &acts);
			events++;
			for (size_t i = 0; i < acts.n; i++) {
				if (acts.v[i].kind == PIPELINE_ACT_START)
					queue[tail++] = acts.v[i].run;
				free(acts.v[i].reason);
			}
			if (d.finished || head == tail)
				break;
			ev = (struct pipeline_event){.kind = PIPELINE_EV_DONE, .now_ms = 1 + events,
						     .run = queue[head++], .result = PIPELINE_SUCCESS};
		}
		double t3 = now_ms();
		if (!d.finished || d.result != PIPELINE_SUCCESS) {
			fprintf(stderr, "the run did not succeed\n");
			return 1;
		}
		parse[r] = t1 - t0;
		plan_ms[r] = t2 - t1;
		sched[r] = t3 - t2;
		acts.n = 0;
		pipeline_actions_release(&acts);
		pipeline_dag_release(&d);
		json_decref(ctx);
		free(queue);
		pipeline_plan_free(plan);
		spec_set_release(&set);
	}
	printf("pipeline of %d jobs (%zu bytes of YAML), median of %d rounds:\n", jobs, doc.len, rounds);
	printf("  parse + validate  %8.2f ms\n", median(parse, rounds));
	printf("  plan              %8.2f ms\n", median(plan_ms, rounds));
	printf("  schedule          %8.2f ms  (%zu events, every job started and finished)\n",
	       median(sched, rounds), events);
	buf_release(&doc);
	return 0;
}
