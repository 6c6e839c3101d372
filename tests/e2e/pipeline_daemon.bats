#!/usr/bin/env bats
# Pipelines on the daemon (docs/pipelines.md, "On the daemon"): a Pipeline
# in a Source's repository runs when a push matches its on: push, on the
# commit the Source fetched; runs, status, logs, cancel, rerun and manual
# runs through the CLI; a daemon killed during a run; bad input. Real git
# repositories (tests/e2e/git.bash), the bubblewrap sandbox as by default.

load helpers
load git
bats_require_minimum_version 1.5.0

# pipeline_doc [ON_YAML] [STEPS_YAML]: a Pipeline "ci" that builds and
# tests the repository's C program, on pushes by default
pipeline_doc() {
	cat <<YAML
apiVersion: slipway/v1
kind: Pipeline
metadata: {name: ci}
spec:
  on: ${1:-"{push: {branches: [main]}, manual: {}}"}
  jobs:
    build:
      steps:
        - name: compile
          run: cc -Wall -Werror -o greet src/greet.c
        - name: test
          run: sh tests/run.sh ./greet
        - name: about
          run: echo "event=\$SLIPWAY_EVENT_NAME sha=\$SLIPWAY_SHA"
YAML
}

# a tiny C project at the root of the repository "shop"
c_project() {
	git_repo_init shop
	git_commit shop src/greet.c '#include <stdio.h>
int main(void) { puts("hello from greet"); return 0; }' >/dev/null
	git_commit shop tests/run.sh 'out=$("$1"); [ "$out" = "hello from greet" ] && echo "test passed: $out"' >/dev/null
}

runs_json() { slipway pipeline runs "$@" -o json; }
run_count() { runs_json "$@" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))'; }
run_count_is() { [ "$(run_count "${@:2}")" = "$1" ]; }
newest_run() { runs_json "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["id"])'; }
run_field() { slipway pipeline status "$1" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }
run_state_is() { [ "$(run_field "$1" state)" = "$2" ]; }
step_state() { slipway pipeline status "$1" -o json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["jobs"][0]["steps"][int(sys.argv[1])]["state"])' "$2"; }
step_state_is() { [ "$(step_state "$1" "$2")" = "$3" ]; }
none_left() { ! pgrep -f "$1" >/dev/null; }
some_left() { pgrep -f "$1" >/dev/null; }

# start_with PIPELINE_YAML: a repository with the pipeline in deploy/, a
# daemon, the Source
start_with() {
	[ -d "$T/git/shop" ] || git_repo_init shop
	git_commit shop deploy/pipeline.yaml "$1" >/dev/null
	start_daemon
	source_doc "file://$T/git/shop.git" >"$T/source.yaml"
	slipway apply -f "$T/source.yaml"
}

# start_shop [ON_YAML]: start_with the C project and pipeline_doc
start_shop() {
	c_project
	start_with "$(pipeline_doc "$@")"
}

@test "a push runs the pipeline in the Source's repository: a C program built and tested, per-step status, logs, events" {
	need cc git
	start_shop
	# the first commit the Source synced is a push too
	wait_for 20 run_count_is 1
	id=$(newest_run)
	wait_for 60 run_state_is "$id" success
	sha=$(git_head shop)
	[ "$(run_field "$id" commit)" = "$sha" ]
	[ "$(run_field "$id" trigger)" = push ]
	run slipway pipeline status "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pipeline/ci run $id: success"* ]]
	[[ "$output" == *"commit:   ${sha:0:7} refs/heads/main (source shop)"* ]]
	[[ "$output" == *"build"*"success"* ]]
	[[ "$output" == *"compile"*"success"* ]]
	[[ "$output" == *"test"*"success"* ]]
	run slipway pipeline logs "$id" --job build
	[ "$status" -eq 0 ]
	[[ "$output" =~ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\ test\ passed:\ hello\ from\ greet ]]
	run slipway pipeline logs "$id"
	[[ "$output" == *"[build] test passed: hello from greet"* ]]
	[[ "$output" == *"[build] event=push sha=$sha"* ]]
	[[ "$output" == *"run success"* ]]
	run slipway pipeline runs
	[[ "$output" == *"$id"*"ci"*"success"*"push"*"${sha:0:7}"* ]]
	slipway events | grep -q "PipelineRunStarted.*pipeline/ci run $id started (push, commit ${sha:0:7})"
	slipway events | grep -q "PipelineRunSucceeded.*pipeline/ci run $id succeeded"

	# a new commit: a new run, on it
	sha2=$(git_commit shop src/greet.c '#include <stdio.h>
int main(void) { puts("hello from greet"); return 0; } /* 2 */')
	slipway sync shop
	wait_for 20 run_count_is 2
	id2=$(newest_run)
	[ "$(run_field "$id2" commit)" = "$sha2" ]
	wait_for 60 run_state_is "$id2" success
	# a commit that breaks the test fails the run, at the test step
	git_commit shop src/greet.c 'int main(void) { return 0; }' >/dev/null
	slipway sync shop
	wait_for 20 run_count_is 3
	id3=$(newest_run)
	wait_for 60 run_state_is "$id3" failure
	[ "$(step_state "$id3" 0)" = success ]
	[ "$(step_state "$id3" 1)" = failure ]
	slipway events | grep -q "PipelineRunFailed.*pipeline/ci run $id3 failure"
}

@test "a push the branches or paths filters exclude starts nothing" {
	need cc git
	start_shop '{push: {branches: [main], paths: ["src/**"]}}'
	wait_for 20 run_count_is 1
	wait_for 60 run_state_is "$(newest_run)" success
	# only docs changed: nothing runs
	git_commit shop docs/readme.md "words" >/dev/null
	run slipway sync shop
	[ "$status" -eq 0 ]
	# src changed: a run (so the docs-only push had its chance first)
	git_commit shop src/extra.c "int extra;" >/dev/null
	slipway sync shop
	wait_for 20 run_count_is 2
	[ "$(run_count)" = 2 ]
	grep -q "push of .* to source shop runs nothing: no changed file is in its paths" "$T/daemon.log"

	# a pipeline for release branches only: pushes to main start nothing
	git_commit shop deploy/pipeline.yaml "$(pipeline_doc '{push: {branches: ["release/*"]}}')" >/dev/null
	slipway sync shop
	git_commit shop src/extra.c "int extra2;" >/dev/null
	slipway sync shop
	[ "$(run_count)" = 2 ]
}

@test "cancel stops every process of the step and runs the cleanup steps" {
	need git
	marker="sleep 4$RANDOM$RANDOM"
	start_with "apiVersion: slipway/v1
kind: Pipeline
metadata: {name: ci}
spec:
  on: {push: {}, manual: {}}
  jobs:
    slow:
      steps:
        - name: wait
          run: |
            setsid $marker &
            $marker
        - name: cleanup
          if: cancelled()
          run: echo cleanup ran"
	wait_for 20 run_count_is 1
	id=$(newest_run)
	wait_for 20 some_left "$marker"
	run slipway pipeline cancel "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pipeline/ci run $id: cancelling"* ]]
	wait_for 20 run_state_is "$id" cancelled
	wait_for 10 none_left "$marker"
	[ "$(step_state "$id" 1)" = success ]
	slipway pipeline logs "$id" --job slow | grep -q "cleanup ran"
	# a run that ended cannot be cancelled
	run slipway pipeline cancel "$id"
	[ "$status" -eq 1 ]
	[[ "$output" == *"pipeline run $id is not running: it is cancelled"* ]]
}

@test "kill -9 of the daemon during a run: after the restart the run is failed, no process left" {
	need git
	marker="sleep 5$RANDOM$RANDOM"
	start_with "apiVersion: slipway/v1
kind: Pipeline
metadata: {name: ci}
spec:
  on: push
  jobs:
    slow:
      steps:
        - run: $marker"
	wait_for 20 run_count_is 1
	id=$(newest_run)
	wait_for 20 run_state_is "$id" running
	wait_for 20 some_left "$marker"
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	wait_for 10 none_left "$marker"
	start_daemon
	[ "$(run_field "$id" state)" = failure ]
	[ "$(run_field "$id" reason)" = "the daemon stopped during the run" ]
	run slipway pipeline status "$id"
	[[ "$output" == *"failure: the daemon stopped during the run"* ]]
	slipway events | grep -q "PipelineRunFailed.*run $id failed: the daemon stopped during the run"
}

@test "a manual run of an applied pipeline, its logs followed, a rerun of the failed jobs" {
	start_daemon
	cat >"$T/p.yaml" <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: hand}
	spec:
	  jobs:
	    first:
	      steps:
	        - run: echo first ran
	    second:
	      needs: first
	      steps:
	        - run: echo "second ran"; test -e /no/such/file
	YAML
	slipway apply -f "$T/p.yaml"
	run slipway pipeline run --server hand
	[ "$status" -eq 0 ]
	[[ "$output" == *"pipeline/hand run "*" started"* ]]
	id=$(newest_run hand)
	# -f prints lines as they come and returns once the run ended
	run slipway pipeline logs "$id" -f
	[ "$status" -eq 0 ]
	[[ "$output" == *"[first] first ran"* ]]
	[[ "$output" == *"[second] second ran"* ]]
	[[ "$output" == *"run failure"* ]]
	run_state_is "$id" failure
	[ "$(run_field "$id" trigger)" = manual ]
	run slipway pipeline logs "$id" --job nojob
	[ "$status" -eq 1 ]
	[[ "$output" == *"pipeline run $id has no job \"nojob\" (its jobs: first, second)"* ]]
	run slipway pipeline rerun "$id" --failed
	[ "$status" -eq 0 ]
	[[ "$output" == *"started again"* ]]
	id2=$(newest_run hand)
	wait_for 30 run_state_is "$id2" failure
	[ "$(run_field "$id2" rerunOf)" = "$id" ]
	[ "$(run_field "$id2" trigger)" = rerun ]
	slipway pipeline status "$id2" | grep -q "trigger:  rerun by local, rerun of run $id"
	# the rerun has the failed job and what it needs
	slipway pipeline status "$id2" -o json | python3 -c 'import json,sys; j=json.load(sys.stdin); assert [x["name"] for x in j["jobs"]] == ["first", "second"], j'
}

@test "bad input: an unknown run or pipeline, a run that is no number, a Pipeline with an error in the repository" {
	start_daemon
	run slipway pipeline status 999
	[ "$status" -eq 1 ]
	[[ "$output" == *"pipeline run 999 not found"* ]]
	run slipway pipeline logs 999
	[ "$status" -eq 1 ]
	[[ "$output" == *"pipeline run 999 not found"* ]]
	run slipway pipeline status abc
	[ "$status" -eq 2 ]
	[[ "$output" == *"a run is a number"*"\"abc\""* ]]
	run slipway pipeline run --server nope
	[ "$status" -eq 1 ]
	[[ "$output" == *"pipeline \"nope\" not found"* ]]
	run slipway pipeline status
	[ "$status" -eq 2 ]
	[[ "$output" == *"status needs a RUN"* ]]
	cat >"$T/p.yaml" <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: pushed}
	spec:
	  on: push
	  jobs:
	    a:
	      steps: [{run: "true"}]
	YAML
	slipway apply -f "$T/p.yaml"
	run slipway pipeline run --server pushed
	[ "$status" -eq 1 ]
	[[ "$output" == *"pipeline/pushed does not run by hand"* ]]

	git_repo_init shop
	git_commit shop deploy/pipeline.yaml "apiVersion: slipway/v1
kind: Pipeline
metadata: {name: broken}
spec:
  jobs:
    a:
      needs: b
      steps: [{run: 'true'}]" >/dev/null
	source_doc "file://$T/git/shop.git" >"$T/source.yaml"
	slipway apply -f "$T/source.yaml"
	run slipway sync shop
	[ "$status" -eq 1 ]
	[[ "$output" == *"deploy/pipeline.yaml:7:14:"*"\"b\""* ]]
	# nothing of the refused commit ran: "pushed" takes pushes from any source
	[ "$(run_count)" = 0 ]
}
