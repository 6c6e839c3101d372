#!/usr/bin/env bats
# slipway pipeline validate | graph: a Pipeline document checked and
# planned offline, as a user writes it (docs/pipelines.md): the example's
# graph in stages with its matrix expanded, the default file, and every
# kind of bad input with its positioned error, exit 1 and nothing printed
# on stdout. No daemon is started but for the one test that applies a
# Pipeline to it.

load helpers
bats_require_minimum_version 1.5.0

REPO=$(realpath "$BATS_TEST_DIRNAME/../..")

@test "pipeline validate: the example is valid, with its jobs, job runs and stages" {
	run --separate-stderr "$SLIPWAY_BIN" pipeline validate "$REPO/examples/pipeline/ci.yaml"
	[ "$status" -eq 0 ]
	[ "$output" = "pipeline/ci valid: 5 jobs, 7 job runs in 4 stages" ]
	[ -z "$stderr" ]
	# validate, the general command, reads the kind too
	run "$SLIPWAY_BIN" validate "$REPO/examples/pipeline/ci.yaml"
	[ "$status" -eq 0 ]
}

@test "pipeline graph: stages, needs, conditions, deploys and the matrix expanded" {
	run "$SLIPWAY_BIN" pipeline graph -f "$REPO/examples/pipeline/ci.yaml"
	[ "$status" -eq 0 ]
	[ "$output" = "pipeline/ci: 5 jobs, 7 job runs in 4 stages
on: push to main, release/* unless it touches only docs/**, *.md; manual; schedule \"0 3 * * *\"
stage 1:
  lint
    2 steps
stage 2:
  build <- lint
    3 steps
    matrix: 3 runs, 2 at a time, fail-fast
    - build (gcc, debug, address,undefined)
    - build (gcc, release)
    - build (clang, debug)
stage 3:
  test <- build
    2 steps
    services: db
stage 4:
  cleanup <- build, test
    if: failure()
    1 step
  deploy <- test
    if: slipway.ref == 'refs/heads/main' && !cancelled()
    environment: production (waits for its gates)
    deploy: app hello to environment production" ]
}

@test "pipeline: the default file is .slipway/pipeline.yaml, and a missing one says so" {
	cd "$T"
	run --separate-stderr "$SLIPWAY_BIN" pipeline validate
	[ "$status" -eq 1 ]
	[[ "$stderr" == *".slipway/pipeline.yaml"* ]]
	mkdir .slipway
	cat >.slipway/pipeline.yaml <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: tiny}
	spec:
	  jobs:
	    hello: {steps: [{run: echo hello}]}
	YAML
	run "$SLIPWAY_BIN" pipeline validate
	[ "$status" -eq 0 ]
	[ "$output" = "pipeline/tiny valid: 1 job, 1 job run in 1 stage" ]
	run "$SLIPWAY_BIN" pipeline graph
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "on: manual" ]
	run "$SLIPWAY_BIN" pipeline graph .slipway/pipeline.yaml
	[ "$status" -eq 0 ]
	# a file with no Pipeline in it
	printf 'apiVersion: slipway/v1\nkind: App\nmetadata: {name: a}\nspec: {version: "1", run: {command: [x]}}\n' >app.yaml
	run --separate-stderr "$SLIPWAY_BIN" pipeline validate app.yaml
	[ "$status" -eq 1 ]
	[ "$stderr" = "app.yaml: no Pipeline document in it (kind: Pipeline)" ]
}

@test "pipeline: several pipelines in one file, a line each; a graph each, a blank line between" {
	cat >"$T/two.yaml" <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: one}
	spec:
	  jobs: {a: {steps: [{run: x}]}}
	---
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: two}
	spec:
	  jobs: {a: {steps: [{run: x}]}, b: {needs: a, steps: [{run: x}]}}
	YAML
	run "$SLIPWAY_BIN" pipeline validate "$T/two.yaml"
	[ "$status" -eq 0 ]
	[ "$output" = "pipeline/one valid: 1 job, 1 job run in 1 stage
pipeline/two valid: 2 jobs, 2 job runs in 2 stages" ]
	run "$SLIPWAY_BIN" pipeline graph "$T/two.yaml"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "pipeline/one: 1 job, 1 job run in 1 stage" ]
	[[ "$output" == *"    1 step

pipeline/two: 2 jobs, 2 job runs in 2 stages"* ]]
}

# Writes $T/p.yaml: the head of a Pipeline, then stdin as its spec.
bad() {
	{ printf 'apiVersion: slipway/v1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n'; cat; } >"$T/p.yaml"
}

expect_error() {
	run --separate-stderr "$SLIPWAY_BIN" pipeline validate "$T/p.yaml"
	[ "$status" -eq 1 ] || { echo "status $status"; return 1; }
	[ -z "$output" ] || { echo "stdout: $output"; return 1; }
	[ "$stderr" = "$1" ] || { echo "got:  $stderr"; echo "want: $1"; return 1; }
	# graph reads the same way
	run --separate-stderr "$SLIPWAY_BIN" pipeline graph "$T/p.yaml"
	[ "$status" -eq 1 ] && [ "$stderr" = "$1" ]
}

@test "bad needs: a cycle is named, an unknown job gets did-you-mean" {
	bad <<-'YAML'
	  jobs:
	    build: {needs: test, steps: [{run: make}]}
	    test:
	      needs: [lint, build]
	      steps: [{run: make test}]
	    lint: {steps: [{run: make lint}]}
	YAML
	expect_error "$T/p.yaml:6:20: jobs.build.needs: the needs make a cycle: build -> test -> build"
	bad <<-'YAML'
	  jobs:
	    build: {steps: [{run: make}]}
	    test:
	      needs: [biuld]
	      steps: [{run: make test}]
	YAML
	expect_error "$T/p.yaml:8:15: jobs.test.needs: no job is called \"biuld\" (did you mean \"build\"?)"
	bad <<-'YAML'
	  jobs:
	    a: {needs: a, steps: [{run: x}]}
	YAML
	expect_error "$T/p.yaml:6:16: jobs.a.needs: the needs make a cycle: a -> a"
}

@test "bad matrix: over the limit of 256 combinations, or emptied by exclude" {
	bad <<-'YAML'
	  jobs:
	    build:
	      strategy:
	        matrix:
	          a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
	          b: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
	          c: [1, 2, 3]
	      steps: [{run: make}]
	YAML
	expect_error "$T/p.yaml:9:11: matrix: the matrix makes 300 combinations; at most 256"
	bad <<-'YAML'
	  jobs:
	    build:
	      strategy:
	        matrix: {a: [1], exclude: [{a: 1}]}
	      steps: [{run: make}]
	YAML
	expect_error "$T/p.yaml:8:17: matrix: the matrix makes no combination: exclude removes every one"
}

@test "bad if: the position is inside the expression" {
	bad <<-'YAML'
	  jobs:
	    build: {steps: [{run: make}]}
	    deploy:
	      needs: build
	      if: ${{ needs.build.result == 'success' && github.ref = 'refs/heads/main' }}
	      steps: [{run: ./deploy}]
	YAML
	expect_error "$T/p.yaml:9:61: if expression: unexpected \"=\" (compare with ==)"
	bad <<-'YAML'
	  jobs:
	    build:
	      if: steps.x.outcome == 'success'
	      steps: [{run: make}]
	YAML
	expect_error "$T/p.yaml:7:11: if expression: the context \"steps\" is not available here (a job's if: is decided before the job starts)"
	bad <<-'YAML'
	  jobs:
	    build:
	      steps:
	        - run: make
	          if: "${{ success() }} && true"
	YAML
	expect_error "$T/p.yaml:9:16: if expression: write the whole condition inside one \${{ }}, or none (text around it makes a string, which is always true)"
	bad <<-'YAML'
	  jobs:
	    build:
	      steps:
	        - run: echo ${{ matrix.os ]] }}
	YAML
	expect_error "$T/p.yaml:8:35: run expression: unexpected \"]]\" after the expression"
}

@test "bad fields: unknown ones get did-you-mean; runs-on, uses and GitHub's events are refused with a reason" {
	bad <<-'YAML'
	  jobs:
	    build:
	      stpes: [{run: make}]
	YAML
	expect_error "$T/p.yaml:7:7: unknown field \"stpes\" in spec.jobs.build (did you mean \"steps\"?)"
	bad <<-'YAML'
	  jobs:
	    build:
	      runs-on: ubuntu-latest
	      steps: [{run: make}]
	YAML
	expect_error "$T/p.yaml:7:7: runs-on: Slipway runs every job on this host, each in its own workspace and sandbox; leave runs-on out"
	bad <<-'YAML'
	  jobs:
	    build:
	      steps:
	        - uses: actions/checkout@v4
	YAML
	expect_error "$T/p.yaml:8:11: a step runs commands (run:); GitHub's actions (uses:) are not run by Slipway: write the commands they stand for"
	bad <<-'YAML'
	  on: [push, workflow_dispatch]
	  jobs:
	    build: {steps: [{run: make}]}
	YAML
	expect_error "$T/p.yaml:5:14: on: \"workflow_dispatch\" is GitHub's; Slipway's is manual"
	bad <<-'YAML'
	  jobs:
	    build:
	      concurrency: {group: ci, cancel-in-progress: true}
	      steps: [{run: make}]
	YAML
	expect_error "$T/p.yaml:7:32: Slipway never cancels a run for a newer one: runs of a group wait in order (queue says how many may wait; \`slipway pipeline cancel RUN\` cancels one)"
	bad <<-'YAML'
	  jobs:
	    build:
	      steps: [{run: make}]
	      deploy: {app: web}
	YAML
	expect_error "$T/p.yaml:8:7: build has both \"steps\" and \"deploy\", only one is allowed"
	bad <<-'YAML'
	  on:
	    schedule: [{cron: "0 25 * * *"}]
	  jobs:
	    build: {steps: [{run: make}]}
	YAML
	expect_error "$T/p.yaml:6:23: cron \"0 25 * * *\": cron field 2 (hour): 25 is out of range 0-23"
}

@test "bad timeouts: a step's longer than its job's, a job's over 7 days" {
	bad <<-'YAML'
	  jobs:
	    build:
	      timeout: 10m
	      steps: [{run: make, timeout: 1h}]
	YAML
	expect_error "$T/p.yaml:8:36: steps[0].timeout: 1h is longer than the job's timeout, 10m"
	bad <<-'YAML'
	  jobs:
	    build:
	      timeout: 200h
	      steps: [{run: make}]
	YAML
	expect_error "$T/p.yaml:7:16: timeout must be at most 168h, got 200h"
}

@test "apply: the daemon keeps a Pipeline like any document, and refuses a bad one with its position" {
	start_daemon
	run slipway apply -f "$REPO/examples/pipeline/ci.yaml"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pipeline/ci created"* ]]
	run slipway apply -f "$REPO/examples/pipeline/ci.yaml"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pipeline/ci unchanged"* ]]
	bad <<-'YAML'
	  jobs:
	    a: {needs: a, steps: [{run: x}]}
	YAML
	run --separate-stderr slipway apply -f "$T/p.yaml"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"p.yaml:6:16: jobs.a.needs: the needs make a cycle: a -> a"* ]]
	# a restarted daemon reads it back from the store
	stop_daemon
	start_daemon
	run slipway apply -f "$REPO/examples/pipeline/ci.yaml"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pipeline/ci unchanged"* ]]
}

@test "pipeline: usage errors exit 2" {
	run --separate-stderr "$SLIPWAY_BIN" pipeline
	[ "$status" -eq 2 ]
	run --separate-stderr "$SLIPWAY_BIN" pipeline lint x.yaml
	[ "$status" -eq 2 ]
	[[ "$stderr" == *'unknown action "lint" (validate, graph, run, runs, status, logs, cancel, rerun)'* ]]
	run --separate-stderr "$SLIPWAY_BIN" pipeline validate a.yaml -f b.yaml
	[ "$status" -eq 2 ]
	run --separate-stderr "$SLIPWAY_BIN" pipeline validate a.yaml b.yaml
	[ "$status" -eq 2 ]
	[[ "$stderr" == *'validate takes one FILE, got "a.yaml" and "b.yaml"'* ]]
	run --separate-stderr "$SLIPWAY_BIN" pipeline logs 3 --failed
	[ "$status" -eq 2 ]
	[[ "$stderr" == *'--failed is for pipeline rerun'* ]]
	run --separate-stderr "$SLIPWAY_BIN" pipeline validate --follow
	[ "$status" -eq 2 ]
}
