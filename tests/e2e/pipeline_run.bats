#!/usr/bin/env bats
# slipway pipeline run: a pipeline run in the current checkout, without a
# daemon, as a user runs it (docs/pipelines.md, "Running a pipeline"): a
# real C build with its tests and JUnit XML, a matrix, continue-on-error,
# failure() cleanup, a retried flaky step, outputs between jobs, the
# sandbox (a read-only system, network: none), secrets masked, a timeout
# that ends a step's whole process group, SIGTERM that cancels and runs
# the cleanup, and the example pipeline. Every test works in its own
# checkout under $T; the sandbox is bubblewrap, as by default.

load helpers
bats_require_minimum_version 1.5.0

REPO=$(realpath "$BATS_TEST_DIRNAME/../..")

# pipeline YAML: writes .slipway/pipeline.yaml in a fresh checkout $T/co
# and cds there.
checkout() {
	mkdir -p "$T/co/.slipway"
	cd "$T/co"
	cat >.slipway/pipeline.yaml
}

@test "pipeline run: a C project configured, compiled and tested, with JUnit XML, in a copy of the checkout" {
	need cc git
	checkout <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: c}
	spec:
	  jobs:
	    build:
	      outputs:
	        tests: ${{ steps.test.outputs.tests }}
	      steps:
	        - name: configure
	          run: ./configure
	        - name: compile
	          run: cc -Wall -Werror -Ibuild -o build/greet src/greet.c
	        - name: in src
	          working-directory: src
	          run: ls greet.c && test "$GITHUB_WORKSPACE/src" = "$PWD" && test "$SLIPWAY_WORKSPACE" = "$GITHUB_WORKSPACE"
	        - name: test
	          id: test
	          run: |
	            sh tests/run.sh > build/junit.xml
	            echo "tests=$(grep -c '<testcase' build/junit.xml)" >> "$SLIPWAY_OUTPUT"
	    report:
	      needs: build
	      steps:
	        - run: echo "build ran ${{ needs.build.outputs.tests }} tests"
	YAML
	mkdir src tests
	cat >configure <<-'SH'
	#!/bin/sh
	set -e
	mkdir -p build
	echo '#define GREETING "hello"' > build/config.h
	echo configured
	SH
	chmod +x configure
	cat >src/greet.c <<-'C'
	#include <stdio.h>
	#include <string.h>
	#include "config.h"
	int main(int argc, char **argv) {
		if (argc > 1 && strcmp(argv[1], "--twice") == 0)
			printf("%s %s\n", GREETING, GREETING);
		else
			printf("%s\n", GREETING);
		return 0;
	}
	C
	cat >tests/run.sh <<-'SH'
	#!/bin/sh
	# two tests, as JUnit XML on stdout
	fail=0
	one() { [ "$(./build/greet $2)" = "$3" ] && echo "  <testcase name=\"$1\"/>" || { echo "  <testcase name=\"$1\"><failure/></testcase>"; fail=1; }; }
	echo '<?xml version="1.0"?>'
	echo '<testsuite name="greet" tests="2">'
	one plain "" hello
	one twice --twice "hello hello"
	echo '</testsuite>'
	exit $fail
	SH
	git init -q . && git add -A && git -c user.email=t@t -c user.name=t commit -qm init
	run --separate-stderr slipway pipeline run
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"[build] configured"* ]]
	[[ "$output" == *'[build] -- step 2/4 "compile": success in '* ]]
	[[ "$output" == *'[build] -- step 3/4 "in src": success in '* ]]
	[[ "$output" == *"[report] build ran 2 tests"* ]]
	[[ "$output" == *"pipeline/c run 1: success in "* ]]
	# the summary table: a row per job run, one per step
	[[ "$output" == *$'\nJOB'*STEP*RESULT*TIME* ]]
	[[ "$output" =~ $'\n'build\ +success ]]
	[[ "$output" =~ $'\n'\ +compile\ +success ]]
	# the work happened in the job's workspace, not in the checkout
	grep -q '<testcase name="twice"/>' .slipway/runs/1/work/build/build/junit.xml
	[ ! -e build ]
	[ -z "$(git status --porcelain)" ]
	# the job's log, with timestamps
	grep -qE '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} configured$' .slipway/runs/1/build.log
	# a second run is run 2
	run slipway pipeline run
	[ "$status" -eq 0 ]
	[ -d .slipway/runs/2/work/report ]
}

@test "pipeline run: a matrix with include and exclude, each combination a job run with its values" {
	checkout <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: m}
	spec:
	  jobs:
	    build:
	      strategy:
	        matrix:
	          cc: [gcc, clang]
	          type: [debug, release]
	          exclude:
	            - {cc: clang, type: release}
	          include:
	            - {cc: gcc, type: debug, san: address}
	            - {cc: tcc, type: debug}
	      env:
	        CC: ${{ matrix.cc }}
	        HOME: /nonexistent/home
	      steps:
	        - run: echo "cc=$CC type=${{ matrix.type }} san=${{ matrix.san || 'none' }}"
	        - run: echo "home=$HOME job=$SLIPWAY_JOB run=$GITHUB_RUN_NUMBER matrix=$SLIPWAY_MATRIX"
	          env:
	            CC: overridden
	YAML
	run slipway pipeline run
	[ "$status" -eq 0 ]
	[[ "$output" == *"4 job runs"* ]]
	[[ "$output" == *"[build (gcc, debug, address)] cc=gcc type=debug san=address"* ]]
	[[ "$output" == *"[build (gcc, release)] cc=gcc type=release san=none"* ]]
	[[ "$output" == *"[build (clang, debug)] cc=clang type=debug san=none"* ]]
	[[ "$output" == *"[build (tcc, debug)] cc=tcc type=debug san=none"* ]]
	[[ "$output" != *"(clang, release)"* ]]
	# the job's env wins over what the step inherits; SLIPWAY_* variables
	[[ "$output" == *'[build (gcc, release)] home=/nonexistent/home job=build run=1 matrix={"cc":"gcc","type":"release"}'* ]]
}

@test "pipeline run: continue-on-error goes on, a failure skips what follows and runs the failure() cleanup" {
	checkout <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: f}
	spec:
	  jobs:
	    lint:
	      steps:
	        - name: optional check
	          run: exit 3
	          continue-on-error: true
	        - run: echo lint goes on
	    build:
	      needs: lint
	      steps:
	        - name: compile
	          run: echo compiling; exit 2
	        - name: after
	          run: echo never
	        - name: step cleanup
	          if: failure()
	          run: echo step cleanup ran
	    test:
	      needs: build
	      steps:
	        - run: echo never either
	    cleanup:
	      needs: [build, test]
	      if: failure()
	      steps:
	        - run: echo job cleanup ran
	YAML
	run slipway pipeline run
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *'"optional check": success, exited with status 3 in '*"(continue-on-error)"* ]]
	[[ "$output" == *"[lint] lint goes on"* ]]
	[[ "$output" == *"[lint] job success"* ]]
	[[ "$output" == *'"after": skipped'* ]]
	[[ "$output" == *"[build] step cleanup ran"* ]]
	[[ "$output" == *'[build] job failure: step "compile" exited with status 2'* ]]
	[[ "$output" == *"[test] job skipped"* ]]
	[[ "$output" != *"never"* ]]
	[[ "$output" == *"[cleanup] job cleanup ran"* ]]
	[[ "$output" == *"pipeline/f run 1: failure"* ]]
}

@test "pipeline run: a flaky step is retried, and outputs pass to the jobs that need it, heredoc form too" {
	checkout <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: r}
	spec:
	  jobs:
	    flaky:
	      outputs:
	        version: ${{ steps.v.outputs.version }}
	        notes: ${{ steps.v.outputs.notes }}
	      steps:
	        - name: first time fails
	          run: |
	            if [ ! -e marker ]; then touch marker; echo "failing once"; exit 1; fi
	            echo "passed on attempt 2"
	          retry: {max: 2}
	        - id: v
	          run: |
	            echo "version=1.4.2" >> "$SLIPWAY_OUTPUT"
	            { echo "notes<<END"; echo "line one"; echo "line two"; echo END; } >> "$GITHUB_OUTPUT"
	            echo "FROM_ENV=carried" >> "$SLIPWAY_ENV"
	        - run: echo "env $FROM_ENV, step output ${{ steps.v.outputs.version }}"
	    use:
	      needs: flaky
	      steps:
	        - run: |
	            echo "version ${{ needs.flaky.outputs.version }}"
	            echo "${{ needs.flaky.outputs.notes }}" | tail -n 1
	YAML
	run slipway pipeline run
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"[flaky] failing once"* ]]
	[[ "$output" == *"[flaky] !! exited with status 1; retrying (attempt 2 of 3)"* ]]
	[[ "$output" == *"[flaky] passed on attempt 2"* ]]
	[[ "$output" == *"[flaky] env carried, step output 1.4.2"* ]]
	[[ "$output" == *"[use] version 1.4.2"* ]]
	[[ "$output" == *"[use] line two"* ]]
	[[ "$output" =~ first\ time\ fails\ +success\ +[0-9.]+m?s\ +\(retried\) ]]
}

@test "pipeline run: the sandbox: the system and the checkout are read-only, /tmp is the step's own" {
	checkout <<-YAML
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: s}
	spec:
	  jobs:
	    escape:
	      steps:
	        - run: echo in the workspace > mine.txt && cat mine.txt
	        - run: ls /tmp/slipway-e2e-visible-$$ || echo "the host's /tmp is not there"; touch /tmp/ok
	        - run: echo out > $T/co/escaped.txt
	YAML
	touch /tmp/slipway-e2e-visible-$$
	run slipway pipeline run
	rm -f /tmp/slipway-e2e-visible-$$
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"[escape] in the workspace"* ]]
	[[ "$output" == *"[escape] the host's /tmp is not there"* ]]
	[ ! -e /tmp/ok ]
	[[ "$output" == *"Read-only file system"* ]]
	[ ! -e escaped.txt ]
	[ -e .slipway/runs/1/work/escape/mine.txt ]
}

@test "pipeline run: network: none keeps a step from a port the host listens on" {
	need python3
	port=$(free_port)
	python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
while True: s.accept()[0].close()' "$port" 3>&- &
	proc_record "$T/procs" $!
	wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
	checkout <<-YAML
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: n}
	spec:
	  jobs:
	    online:
	      steps:
	        - run: (exec 3<>/dev/tcp/127.0.0.1/$port) && echo reached the port
	    offline:
	      network: none
	      steps:
	        - run: (exec 3<>/dev/tcp/127.0.0.1/$port) && echo reached the port || echo no network
	YAML
	run slipway pipeline run
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"[online] reached the port"* ]]
	[[ "$output" == *"[offline] no network"* ]]
	[[ "$output" != *"[offline] reached"* ]]
}

@test "pipeline run: secrets from the environment and from a file are given to steps and masked in logs" {
	checkout <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: sec}
	spec:
	  jobs:
	    deploy:
	      steps:
	        - run: |
	            echo "token is $API_TOKEN"
	            echo "key is ${{ secrets.SIGNING_KEY }}, length ${#SIGNING_KEY}"
	YAML
	printf 'k3y-from-a-file\n' >"$T/key"
	API_TOKEN=tok-0123456789 run --separate-stderr slipway pipeline run --secret API_TOKEN --secret SIGNING_KEY=@"$T/key"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"[deploy] token is ***"* ]]
	[[ "$output" == *"[deploy] key is ***, length 15"* ]]
	[[ "$output" != *tok-0123456789* ]]
	[[ "$output" != *k3y-from-a-file* ]]
	grep -q "token is \*\*\*" .slipway/runs/1/deploy.log
	refute grep -rq "tok-0123456789\|k3y-from-a-file" .slipway/runs/1/deploy.log
	# a secret that is not there, or given by value, is refused before anything runs
	run --separate-stderr slipway pipeline run --secret NOT_SET_ANYWHERE
	[ "$status" -eq 1 ]
	[ "$stderr" = "--secret NOT_SET_ANYWHERE: NOT_SET_ANYWHERE is not set in the environment (or give NOT_SET_ANYWHERE=@FILE)" ]
	run --separate-stderr slipway pipeline run --secret API_TOKEN=plain
	[ "$status" -eq 1 ]
	[[ "$stderr" == "--secret API_TOKEN: give NAME (read from the environment) or NAME=@FILE, never the value itself"* ]]
	[ ! -d .slipway/runs/2 ]
}

@test "pipeline run: a step's timeout ends its whole process group, children that would outlive it too" {
	checkout <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: t}
	spec:
	  jobs:
	    slow:
	      steps:
	        - name: hangs
	          timeout: 1s
	          run: |
	            sleep 3171 &
	            setsid sleep 3172 &
	            echo started children
	            sleep 3173
	        - name: cleanup
	          if: always()
	          run: echo cleanup after the timeout
	YAML
	start=$SECONDS
	run slipway pipeline run
	echo "$output"
	[ "$status" -eq 1 ]
	[ $((SECONDS - start)) -lt 20 ]
	[[ "$output" == *"[slow] started children"* ]]
	[[ "$output" == *'"hangs": failure, timed out after 1s in '* ]]
	[[ "$output" == *"[slow] cleanup after the timeout"* ]]
	wait_for 10 refute pgrep -f "sleep 317[123]"
}

@test "pipeline run: SIGTERM cancels: every step's processes end, the cleanup steps run, exit 130" {
	checkout <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: c}
	spec:
	  jobs:
	    long:
	      steps:
	        - run: |
	            sleep 3181 &
	            echo waiting
	            sleep 3182
	        - name: not after a cancel
	          run: echo should not run
	        - name: cleanup
	          if: cancelled()
	          run: echo cleanup after the cancel
	    later:
	      needs: long
	      if: always()
	      steps:
	        - run: echo should not start
	YAML
	"$SLIPWAY_BIN" pipeline run >"$T/out" 2>&1 &
	pid=$!
	wait_for 20 grep -q "\[long\] waiting" "$T/out"
	kill -TERM $pid
	status=0
	wait $pid || status=$?
	cat "$T/out"
	[ "$status" -eq 130 ]
	grep -q "SIGTERM: cancelling" "$T/out"
	grep -q '"not after a cancel": skipped' "$T/out"
	grep -q "\[long\] cleanup after the cancel" "$T/out"
	grep -q "\[long\] job cancelled" "$T/out"
	grep -q "\[later\] job cancelled" "$T/out"
	refute grep -q "should not" "$T/out"
	grep -q "pipeline/c run 1: cancelled" "$T/out"
	wait_for 10 refute pgrep -f "sleep 318[12]"
}

@test "pipeline run: the example pipeline: what this slice cannot run is refused, its lint job runs" {
	need git shellcheck
	git clone -q "$REPO" "$T/co"
	cd "$T/co"
	run --separate-stderr slipway pipeline run examples/pipeline/ci.yaml
	[ "$status" -eq 1 ]
	[[ "$stderr" == 'job "build": cache is not run by `pipeline run` yet'* ]]
	[ ! -d .slipway/runs/1 ]
	# this project's scripts pass its own lint
	run slipway pipeline run examples/pipeline/ci.yaml --job lint
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *'[lint] -- step 1/2 "shell scripts"'* ]]
	[[ "$output" == *'[lint] -- step 2/2 "whitespace"'* ]]
	[[ "$output" == *"pipeline/ci: run 1, 1 job run, logs in .slipway/runs/1/"* ]]
}

@test "pipeline run: bad options and a missing sandbox are refused with what to do, nothing run" {
	checkout <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: b}
	spec:
	  jobs:
	    build:
	      steps: [{run: echo built}]
	YAML
	run --separate-stderr slipway pipeline run --job biuld
	[ "$status" -eq 1 ]
	[ "$stderr" = "--job biuld: pipeline/b has no such job (its jobs: build)" ]
	run --separate-stderr slipway pipeline run --sandbox docker
	[ "$status" -eq 1 ]
	[ "$stderr" = '--sandbox must be bwrap or none, got "docker"' ]
	run --separate-stderr slipway pipeline validate --job build
	[ "$status" -eq 2 ]
	# without bwrap in PATH
	mkdir "$T/bin"
	for p in bash sh git; do ln -s "$(command -v $p)" "$T/bin/$p"; done
	run --separate-stderr env PATH="$T/bin" "$SLIPWAY_BIN" pipeline run
	[ "$status" -eq 1 ]
	[[ "$stderr" == "the sandbox needs bubblewrap, and bwrap is not in PATH: install it (Debian, Ubuntu: apt-get install bubblewrap) or run with --sandbox none" ]]
	[ ! -d .slipway/runs/1 ]
	# --sandbox none runs it as plain processes
	run slipway pipeline run --sandbox none
	[ "$status" -eq 0 ]
	[[ "$output" == *"[build] built"* ]]
}

@test "pipeline run: outputs over 1 MiB, a bad outputs line and a working-directory outside fail with the reason" {
	checkout <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: l}
	spec:
	  jobs:
	    big:
	      steps:
	        - run: head -c 1100000 /dev/zero | tr '\0' a | sed 's/^/x=/' >> "$SLIPWAY_OUTPUT"
	    bad:
	      steps:
	        - run: printf 'ok=1\noops\n' >> "$SLIPWAY_OUTPUT"
	    outside:
	      steps:
	        - run: pwd
	          working-directory: ../..
	YAML
	run slipway pipeline run
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *'[big] job failure: step "head -c '*'" $SLIPWAY_OUTPUT holds more than 1 MiB; at most 1 MiB'* ]]
	[[ "$output" == *'[bad] job failure: step "printf '*' $SLIPWAY_OUTPUT line 2: "oops" is not NAME=VALUE or NAME<<DELIMITER'* ]]
	[[ "$output" == *'[outside] job failure: step "pwd" working-directory "../.." is not inside the workspace'* ]]
}

@test "pipeline run: fail-fast: a failed matrix run stops the others" {
	checkout <<-'YAML'
	apiVersion: slipway/v1
	kind: Pipeline
	metadata: {name: ff}
	spec:
	  jobs:
	    build:
	      strategy:
	        matrix:
	          n: [1, 2]
	      steps:
	        - run: |
	            if [ "${{ matrix.n }}" = 1 ]; then
	              until [ -e "$RUNNER_TEMP/../../build-2/tmp/started" ]; do sleep 0.05; done
	              exit 1
	            fi
	            touch "$RUNNER_TEMP/started"
	            sleep 3191
	YAML
	start=$SECONDS
	run slipway pipeline run --workers 2
	echo "$output"
	[ "$status" -eq 1 ]
	[ $((SECONDS - start)) -lt 20 ]
	[[ "$output" == *'[build (1)] job failure'* ]]
	[[ "$output" == *'[build (2)] job cancelled'* ]]
	wait_for 10 refute pgrep -f "sleep 3191"
}
