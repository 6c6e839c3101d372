/*
 * results: what a job's reports say (docs/pipelines.md, "Test results,
 * coverage and gates"). Pure parsers of files a job's steps wrote, and
 * the gates judged from them; no I/O but pipeline_results_collect, which
 * reads the job's workspace.
 *
 *   - XML (pipeline_xml_parse): a small strict tokenizer into a tree,
 *     for JUnit and Cobertura. Elements, attributes ("" or ''), the five
 *     entities and &#N; / &#xN; (no NUL, no surrogate, at most U+10FFFF),
 *     CDATA, comments and processing instructions (skipped, the <?xml?>
 *     declaration too). A DOCTYPE is skipped whole, internal subset
 *     included, and nothing it declares is ever used: no entity is
 *     expanded but the five, no external entity is fetched (an &name;
 *     it declared is "unknown entity"). Names as written, prefix and
 *     all. Limits, each an error: PIPELINE_XML_MAX_BYTES of input,
 *     PIPELINE_XML_MAX_DEPTH nested elements, PIPELINE_XML_MAX_ATTRS
 *     attributes on one element, PIPELINE_XML_MAX_NODES elements; an
 *     element's text past PIPELINE_XML_MAX_TEXT bytes is cut (a test's
 *     log is not what a summary needs).
 *   - JUnit (pipeline_junit_parse): <testsuites> holding <testsuite>s
 *     (nested too), or one <testsuite>; each <testcase name classname
 *     time> passed, or failed (<failure message>), errored (<error>) or
 *     skipped (<skipped>). Counts come from the testcases, never from
 *     the suites' tests/failures/errors/skipped attributes; when these
 *     disagree, `note` says where and what (the first disagreement).
 *   - coverage (pipeline_coverage_parse), told apart by the first byte
 *     that is not blank: '<' Cobertura XML (gcovr --xml, coverage.py
 *     xml): <coverage lines-covered lines-valid> counted, or its
 *     line-rate alone; '{' gcovr's --json-summary (line_covered,
 *     line_total); anything else an lcov tracefile (SF ... end_of_record
 *     records, LF/LH per record, or its DA lines when LF/LH are missing;
 *     BRF/BRH for branches).
 *
 * Every error is "NAME:LINE:COL: what" with NAME the file as the user
 * wrote it (relative to the workspace).
 */
#ifndef SW_PIPELINE_RESULTS_H
#define SW_PIPELINE_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../core/core.h"
#include "pipeline.h"

#define PIPELINE_XML_MAX_BYTES (64u * 1024 * 1024) /* one report file */
#define PIPELINE_XML_MAX_DEPTH 64
#define PIPELINE_XML_MAX_ATTRS 64
#define PIPELINE_XML_MAX_NODES 1000000
#define PIPELINE_XML_MAX_TEXT 4096       /* bytes of one element's text kept */
#define PIPELINE_RESULTS_SHOWN 10        /* failed tests named in a job's results */

struct pipeline_xml_attr {
	char *name, *value;
};

struct pipeline_xml {
	char *name;
	struct pipeline_xml_attr *attrs;
	size_t nattrs;
	struct pipeline_xml **kids;  /* child elements, in order */
	size_t nkids;
	char *text;                  /* its own text and CDATA, concatenated, cut at MAX_TEXT */
	size_t line, col;            /* of its '<' */
};

/* Parses text[0..len) into a tree (*out, free with pipeline_xml_free).
 * 0, or -1 with "name:line:col: what". */
int pipeline_xml_parse(struct pipeline_xml **out, const char *name, const char *text, size_t len,
		       struct sw_err *err);
void pipeline_xml_free(struct pipeline_xml *x);
/* The value of attribute `name`, or NULL. */
const char *pipeline_xml_attr(const struct pipeline_xml *x, const char *name);

struct pipeline_failed_test {
	char *name;                  /* "classname.name", or name */
	char *message;               /* its message attribute, or its text's first line; may be "" */
};

struct pipeline_tests {
	uint64_t total, failed, errors, skipped; /* passed = total - failed - errors - skipped */
	double seconds;              /* the testcases' time attributes summed */
	struct pipeline_failed_test shown[PIPELINE_RESULTS_SHOWN]; /* the first failed or errored */
	size_t nshown;
	char *note;                  /* the first suite whose attributes disagree, or NULL */
};

/* Adds one JUnit file to *t (zeroed first, or holding earlier files). */
int pipeline_junit_parse(struct pipeline_tests *t, const char *name, const char *text, size_t len,
			 struct sw_err *err);
void pipeline_tests_release(struct pipeline_tests *t);

struct pipeline_coverage {
	uint64_t covered, valid;     /* lines; valid 0 when only a rate was given */
	double percent;              /* 0..100 */
	bool counted;                /* covered/valid known (else percent from a rate) */
	uint64_t br_covered, br_valid; /* branches; 0/0 when not reported */
};

/* Parses one coverage file (Cobertura, gcovr JSON summary or lcov) into *c. */
int pipeline_coverage_parse(struct pipeline_coverage *c, const char *name, const char *text, size_t len,
			    struct sw_err *err);

/* Reads a benchmark file {"METRIC": number, ...} and returns the metric's value. */
int pipeline_benchmark_parse(double *out, const char *name, const char *text, size_t len, const char *metric,
			     struct sw_err *err);

/*
 * After a job's steps: reads its reports (globs, relative to the
 * workspace `ws`, sorted) and judges its gates. *out is a new object
 * {"tests": {...}, "coverage": {...}, "gates": [{"gate", "passed",
 * "reason"}], "error": "..."}, only the parts the job has; a part whose
 * report could not be read has its own "error", and "error" is the
 * first. Returns 0 when every gate passed and every report was read,
 * else -1 with the first reason in `why` ("coverage 71.3% < 80% (build/coverage.xml)",
 * "reports.junit: \"junit-*.xml\" matches no file in the workspace",
 * "build/t.xml:3:7: ..."). A job without reports or gates: 0, *out NULL.
 */
int pipeline_results_collect(json_t **out, const struct pipeline_job *pj, const char *ws, struct buf *why);

/* One line for people: "tests: 12 passed, 1 failed, 0 errors, 0 skipped
 * in 0.40s; coverage 85.2% (170/200 lines); gates: tests FAILED, coverage
 * passed"; "tests: not read" or "coverage: not read" for a report that
 * could not be read (its part's "error" says why). */
void pipeline_results_line(struct buf *out, const json_t *results);

#endif
