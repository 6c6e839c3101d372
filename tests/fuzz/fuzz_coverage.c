/*
 * libFuzzer target for coverage reports (pipeline_coverage_parse,
 * results.h: Cobertura, lcov, gcovr's JSON summary) and benchmark files:
 * any bytes give a percent in 0..100 with covered <= valid, or a message
 * naming the file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pipeline_coverage c;
	struct sw_err err = {0};
	if (pipeline_coverage_parse(&c, "cov", (const char *)data, size, &err) < 0) {
		if (strncmp(err.msg, "cov", 3) != 0)
			abort();
	} else if (!(c.percent >= 0 && c.percent <= 100) || (c.counted && c.covered > c.valid) ||
		   c.br_covered > c.br_valid) {
		abort();
	}
	double v;
	struct sw_err berr = {0};
	if (pipeline_benchmark_parse(&v, "b.json", (const char *)data, size, "p99_ms", &berr) < 0 &&
	    strncmp(berr.msg, "b.json", 6) != 0)
		abort();
	return 0;
}
