/*
 * libFuzzer target for JUnit reports (pipeline_junit_parse, results.h):
 * any bytes give counts that add up (failed + errors + skipped <= total,
 * at most PIPELINE_RESULTS_SHOWN named) or a positioned message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pipeline_tests t = {0};
	struct sw_err err = {0};
	if (pipeline_junit_parse(&t, "j.xml", (const char *)data, size, &err) < 0) {
		if (strncmp(err.msg, "j.xml:", 6) != 0)
			abort();
	} else if (t.failed + t.errors + t.skipped > t.total || t.nshown > PIPELINE_RESULTS_SHOWN ||
		   t.nshown > t.failed + t.errors || !(t.seconds >= 0)) {
		abort();
	}
	pipeline_tests_release(&t);
	return 0;
}
