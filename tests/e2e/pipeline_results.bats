#!/usr/bin/env bats
# pipeline run's results (docs/pipelines.md, "Test results, coverage and
# gates"): a real C project compiled with --coverage, its cmocka tests
# writing JUnit XML (CMOCKA_MESSAGE_OUTPUT=xml), gcov's counts turned into
# an lcov tracefile by a small script, gates that pass and gates that fail
# with their reasons, bad report files with positioned errors, a missing
# one, and results.json in the run directory. The sandbox is bubblewrap,
# as by default.

load helpers
bats_require_minimum_version 1.5.0

# project < SPEC: pipeline/c with the spec's lines on stdin, and a C
# project with two tested functions and one left untested, in a fresh
# checkout $T/co (cd there).
project() {
	mkdir -p "$T/co/.slipway" "$T/co/src" "$T/co/tests"
	cd "$T/co"
	{
		printf 'apiVersion: slipway/v1\nkind: Pipeline\nmetadata: {name: c}\nspec:\n'
		cat
	} >.slipway/pipeline.yaml
	cat >src/calc.c <<-'C'
	int calc_add(int a, int b)
	{
		return a + b;
	}

	int calc_sub(int a, int b)
	{
		return a - b;
	}

	int calc_mul(int a, int b)
	{
		int r = 0;
		for (int i = 0; i < b; i++)
			r += a;
		return r;
	}
	C
	cat >tests/test_calc.c <<-'C'
	#include <stdarg.h>
	#include <stddef.h>
	#include <stdint.h>
	#include <setjmp.h>
	#include <stdlib.h>
	#include <cmocka.h>

	int calc_add(int a, int b);
	int calc_sub(int a, int b);

	static void test_add(void **state) { assert_int_equal(calc_add(2, 3), 5); }
	static void test_sub(void **state) { assert_int_equal(calc_sub(5, 3), WANT_SUB); }
	static void test_later(void **state) { skip(); }

	int main(void)
	{
		const struct CMUnitTest tests[] = {
			cmocka_unit_test(test_add),
			cmocka_unit_test(test_sub),
			cmocka_unit_test(test_later),
		};
		return cmocka_run_group_tests_name("calc", tests, NULL, NULL);
	}
	C
	# gcov's text output to an lcov tracefile: DA per executable line
	cat >tests/lcov.sh <<-'SH'
	#!/bin/sh
	# usage: lcov.sh FILE.gcov... > coverage.info
	set -e
	for f in "$@"; do
		awk -F: '
		NR == 1 { sub(/^ *-: *0:Source:/, ""); print "SF:" $0; next }
		{ c = $1; gsub(/ /, "", c); n = $2; gsub(/ /, "", n) }
		c == "-" { next }
		c == "#####" { print "DA:" n ",0"; lf++; next }
		{ sub(/\*$/, "", c); print "DA:" n "," c; lf++; lh++ }
		END { print "LF:" lf + 0; print "LH:" lh + 0; print "end_of_record" }' "$f"
	done
	SH
}

STEPS='      steps:
        - name: build
          run: |
            mkdir -p build
            cc --coverage -O0 -DWANT_SUB=${WANT_SUB:-2} -o build/test_calc src/calc.c tests/test_calc.c -lcmocka
        - name: test
          run: CMOCKA_MESSAGE_OUTPUT=xml CMOCKA_XML_FILE=build/junit-%g.xml ./build/test_calc
        - name: coverage
          if: always()
          run: |
            gcov -o build/test_calc-calc.gcda src/calc.c >/dev/null
            sh tests/lcov.sh calc.c.gcov > build/coverage.info'

@test "pipeline results: cmocka JUnit and gcov coverage read after the steps; gates pass; results.json" {
	need cc gcov
	project <<-YAML
	  jobs:
	    test:
	$STEPS
	      reports:
	        junit: build/junit-*.xml
	        coverage: build/coverage.info
	      gates:
	        tests: passed
	        coverage: {min: 40}
	YAML
	run "$SLIPWAY_BIN" pipeline run
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"[test] results: tests: 2 passed, 0 failed, 0 errors, 1 skipped in "*"; coverage 44.4% (4/9 lines); gates: tests passed, coverage passed"* ]]
	[[ "$output" == *"gate passed: tests passed: 2 of 3 (1 skipped)"* ]]
	[[ "$output" == *"gate passed: coverage 44.4% >= 40%"* ]]
	# in the summary table, under the job's row
	[[ "$output" == *"
      tests: 2 passed, 0 failed, 0 errors, 1 skipped"* ]]
	run -0 jq -r '.jobs[0] | [.job, .result, .results.tests.passed, .results.tests.skipped,
		.results.coverage.lines_covered, .results.coverage.lines_valid, .results.tests.files[0]] | @tsv' \
		.slipway/runs/1/results.json
	[ "$output" = "$(printf 'test\tsuccess\t2\t1\t4\t9\tbuild/junit-calc.xml')" ]
}

@test "pipeline results: a failed test fails the tests gate with its name and message; coverage below its min" {
	need cc gcov
	project <<-YAML
	  env: {WANT_SUB: "3"}
	  jobs:
	    test:
	      continue-on-error: true
	$STEPS
	      reports:
	        junit: build/junit-*.xml
	        coverage: build/coverage.info
	      gates:
	        tests: passed
	        coverage: {min: 80}
	    gated:
	      env: {WANT_SUB: "2"}
	$STEPS
	        - name: passes
	          run: "true"
	      reports: {coverage: build/coverage.info}
	      gates: {coverage: {min: 80}}
	YAML
	run "$SLIPWAY_BIN" pipeline run
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"[test] results: tests: 1 passed, 1 failed, 0 errors, 1 skipped"* ]]
	[[ "$output" == *"[test]   FAILED test_sub: "*"0x2 != 0x3"* ]]
	[[ "$output" == *"[test]   gate FAILED: tests: 1 failed, 0 errors of 3 (build/junit-calc.xml)"* ]]
	[[ "$output" == *"[test]   gate FAILED: coverage 44.4% < 80% (build/coverage.info)"* ]]
	# the gated job's steps all passed: its gate alone fails it
	[[ "$output" == *"[gated] job failure: coverage 44.4% < 80% (build/coverage.info)"* ]]
	run -0 jq -r '.jobs[] | select(.job == "gated") | .results.gates[0] | [.gate, .passed, .reason] | @tsv' \
		.slipway/runs/1/results.json
	[ "$output" = "$(printf 'coverage\tfalse\tcoverage 44.4%% < 80%% (build/coverage.info)')" ]
}

@test "pipeline results: a malformed JUnit file and a bad lcov line fail the job at file:line:col; a missing report is named" {
	checkout_only() {
		mkdir -p "$T/co/.slipway"
		cd "$T/co"
		cat >.slipway/pipeline.yaml
	}
	checkout_only <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: bad}
	spec:
	  jobs:
	    xml:
	      steps:
	        - run: printf '<testsuites>\n  <testsuite name="a">\n    <testcase name="x"></testsuite>\n</testsuites>\n' > junit.xml
	      reports: {junit: junit.xml}
	    entity:
	      steps:
	        - run: printf '<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<testsuite><testcase name="&x;"/></testsuite>\n' > junit.xml
	      reports: {junit: junit.xml}
	    lcov:
	      steps:
	        - run: printf 'SF:a.c\nDA:1,1\nXX:2\nend_of_record\n' > cov.info
	      reports: {coverage: cov.info}
	    missing:
	      steps:
	        - run: mkdir -p build
	      reports: {junit: [build/junit-*.xml]}
	YAML
	run -1 "$SLIPWAY_BIN" pipeline run --job xml
	[[ "$output" == *"[xml] job failure: junit.xml:3:24: </testsuite> closes <testcase> (opened at 3:5)"* ]]
	run -1 "$SLIPWAY_BIN" pipeline run --job entity
	[[ "$output" == *"[entity] job failure: junit.xml:2:28: unknown entity \"&x;\""* ]]
	[[ "$output" == *"[entity] results: tests: not read"* ]]
	run -1 "$SLIPWAY_BIN" pipeline run --job lcov
	[[ "$output" == *"[lcov] job failure: cov.info:3:1: \"XX:2\" is not an lcov tracefile line"* ]]
	run -1 "$SLIPWAY_BIN" pipeline run --job missing
	[[ "$output" == *"[missing] job failure: reports.junit: \"build/junit-*.xml\" matches no file in the workspace"* ]]
}

@test "pipeline results: a benchmark gate over its max, and documents refused with positions" {
	mkdir -p "$T/co/.slipway"
	cd "$T/co"
	cat >.slipway/pipeline.yaml <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: bench}
	spec:
	  jobs:
	    bench:
	      steps:
	        - run: |
	            echo '{"p99_ms": 12.5, "rps": 900}' > bench.json
	      gates:
	        benchmark: {file: bench.json, metric: p99_ms, max: 10}
	YAML
	run -1 "$SLIPWAY_BIN" pipeline run
	[[ "$output" == *"[bench]   gate FAILED: benchmark p99_ms 12.5 > 10 (bench.json)"* ]]
	sed -i 's/max: 10/max: 20/' .slipway/pipeline.yaml
	run -0 "$SLIPWAY_BIN" pipeline run
	[[ "$output" == *"gate passed: benchmark p99_ms 12.5 <= 20"* ]]

	cat >bad.yaml <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: bad}
	spec:
	  jobs:
	    test:
	      steps: [{run: "true"}]
	      gates:
	        tests: passed
	YAML
	run -1 "$SLIPWAY_BIN" pipeline run bad.yaml
	[[ "$output" == *"[test] job failure: tests: the job has no reports.junit to judge"* ]]
	sed -i 's/tests: passed/tests: green/' bad.yaml
	run -1 "$SLIPWAY_BIN" pipeline validate bad.yaml
	[ "$output" = "bad.yaml:9:16: tests must be passed (no failure, no error, at least one test), got \"green\"" ]
	sed -i 's/        tests: green/        scan: {severity: high}/' bad.yaml
	run -1 "$SLIPWAY_BIN" pipeline validate bad.yaml
	[[ "$output" == "bad.yaml:9:9: scan gates are not available until the supply-chain issue"* ]]
	printf '      reports: {coverage: /tmp/coverage.xml}\n' >>bad.yaml
	sed -i '/gates:/d; /scan:/d' bad.yaml
	run -1 "$SLIPWAY_BIN" pipeline validate bad.yaml
	[[ "$output" == "bad.yaml:8:27: reports.coverage: \"/tmp/coverage.xml\" is not inside the job's workspace"* ]]
}
