#!/usr/bin/env bats
# Rollout state as a user sees it, driven through the shipped examples
# (a copy in the test's temp dir, with its own ports) and the real daemon,
# proxy and hello instances.

load helpers

setup() {
	T=$(mktemp -d /tmp/slipway-e2e.XXXXXX)
	export SLIPWAY_STATE_DIR=$T/state
	PORT_BASE=$(port_base)
	LISTEN=$((PORT_BASE + 99))
	PREVIEW=$((PORT_BASE + 98))
	DAEMON_PID=
	LOAD_PID=
}

teardown() {
	[ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
	stop_daemon
	for p in $(pids_of_instances); do kill -9 "$p" 2>/dev/null || true; done
	pkill -9 -f "$T/" 2>/dev/null || true
	rm -rf "$T"
}

# example FILE [SED_SCRIPT]: copies examples/FILE to $T/examples/FILE with
# the demo binary where the example expects it (../build/hello) and the
# example's fixed ports moved into this test's range; prints the copy's path.
example() {
	mkdir -p "$T/examples" "$T/build"
	ln -sf "$HELLO_BIN" "$T/build/hello"
	sed -e "s/127\.0\.0\.1:808[013]/127.0.0.1:$LISTEN/" \
		-e "s/127\.0\.0\.1:8082/127.0.0.1:$PREVIEW/" \
		-e "${2:-}" "$BATS_TEST_DIRNAME/../../examples/$1" > "$T/examples/$1"
	echo "$T/examples/$1"
}

# as_version FILE VERSION: the same document with spec.version changed
as_version() { sed -i "s/^  version: \"[^\"]*\"/  version: \"$2\"/" "$1"; }

start_load() { # start_load SECONDS [HOST]
	hey -z "${1}s" -c 2 -q 20 ${2:+-host "$2"} "http://127.0.0.1:$LISTEN/" >"$T/hey.txt" 2>&1 3>&- &
	LOAD_PID=$!
}

stop_load() {
	kill -INT "$LOAD_PID" 2>/dev/null || true
	wait "$LOAD_PID" 2>/dev/null || true
	LOAD_PID=
}

reason() { field reason "$(status_json "$1")"; }

@test "hello.yaml: a pause {} held past progressDeadline, then promoted, finishes Healthy" {
	f=$(example hello.yaml '/^  replicas: 2/a\  progressDeadline: 3s')
	start_daemon
	slipway apply -f "$f" --wait
	start_load 120 hello.localhost
	as_version "$f" 2.0.0
	slipway apply -f "$f"
	wait_for 60 eval '[[ "$(reason hello)" == *"paused at 50%"* ]]'
	t0=$SECONDS
	while [ $((SECONDS - t0)) -le 4 ]; do sleep 0.5; done   # the deadline passes while paused
	phase_is hello Paused
	slipway rollout promote hello
	wait_for 30 eval 'app_ready_at hello 2 2 || phase_is hello Degraded'
	echo "$(status_json hello)"
	app_ready_at hello 2 2
	stop_load
}

@test "hello.yaml: a timed pause longer than progressDeadline finishes with nobody involved" {
	f=$(example hello.yaml '/^  replicas: 2/a\  progressDeadline: 3s')
	sed -i 's/- pause: {} .*/- pause: {duration: 5s}/' "$f"
	start_daemon
	slipway apply -f "$f" --wait
	start_load 120 hello.localhost
	as_version "$f" 2.0.0
	slipway apply -f "$f"
	wait_for 60 eval 'app_ready_at hello 2 2 || phase_is hello Degraded'
	echo "$(status_json hello)"
	app_ready_at hello 2 2
	stop_load
}

# Every shipped example, applied as the README says, updated to a new
# version and taken to its final phase with the promotions it needs.
# (example: hooks-v1.yaml, example: hooks-v2.yaml and example: hooks-v3.yaml
# need a PostgreSQL: tests/e2e/hooks.bats runs them.)
@test "every shipped example has a test here" {
	for f in "$BATS_TEST_DIRNAME"/../../examples/*.yaml; do
		grep -q "example: $(basename "$f")" "$BATS_TEST_FILENAME"
	done
}

@test "example: hello.yaml rolls out to Healthy with one promote" {
	f=$(example hello.yaml)
	start_daemon
	slipway apply -f "$f" --wait
	[[ "$(curl -fsS -H 'Host: hello.localhost' "http://127.0.0.1:$LISTEN/")" == *"1.0.0"* ]]
	start_load 120 hello.localhost
	as_version "$f" 2.0.0
	slipway apply -f "$f"
	wait_for 60 eval 'phase_is hello Paused || phase_is hello Degraded'
	[[ "$(reason hello)" == *"paused at 50%"* ]]
	slipway rollout promote hello
	wait_for 30 app_ready_at hello 2 2
	stop_load
	[[ "$(curl -fsS -H 'Host: hello.localhost' "http://127.0.0.1:$LISTEN/")" == *"2.0.0"* ]]
}

@test "example: hello-bluegreen.yaml passes its smoke check and switches by itself" {
	f=$(example hello-bluegreen.yaml)
	start_daemon
	slipway apply -f "$f" --wait
	as_version "$f" 2.0.0
	slipway apply -f "$f"
	wait_for 30 eval '[[ "$(curl -fsS "http://127.0.0.1:$PREVIEW/")" == *"2.0.0"* ]]'
	# autoPromotion 30s after the smoke check, then scaleDownDelay 30s
	wait_for 120 eval 'app_ready_at hello-bg 2 2 || phase_is hello-bg Degraded'
	echo "$(status_json hello-bg)"
	app_ready_at hello-bg 2 2
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"2.0.0"* ]]
	run slipway analysis hello-bg --revision 2
	[[ "$output" == *"smoke/preview-healthy"*"Successful"* ]]
}

@test "example: hello-rolling.yaml replaces its instances to Healthy" {
	f=$(example hello-rolling.yaml)
	start_daemon
	slipway apply -f "$f" --wait
	as_version "$f" 2.0.0
	slipway apply -f "$f"
	wait_for 60 app_ready_at hello-rolling 2 3
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"2.0.0"* ]]
}

# Argo's example, as its users wrote it: the canary's analysis step runs
# both templates (random-fail fails about one rollout in nine, as in Argo),
# so the rollout ends Healthy on green or Degraded back on blue — never
# stuck — and every measurement is recorded.
@test "example: argo-analysis-step.yaml judges green through its analysis step and ends" {
	f=$(example argo-analysis-step.yaml)
	start_daemon
	slipway apply -f "$f" --wait
	sed -i 's/^  version: blue$/  version: green/' "$f"
	slipway apply -f "$f"
	wait_for 120 eval 'phase_is rollout-analysis-step Degraded || { phase_is rollout-analysis-step Healthy && [ "$(field revision "$(status_json rollout-analysis-step)")" = 2 ] && [ "$(field stableRevision "$(status_json rollout-analysis-step)")" = 2 ]; }'
	run slipway analysis rollout-analysis-step
	[ "$status" -eq 0 ]
	[[ "$output" == *"random-fail"* ]]
	if phase_is rollout-analysis-step Healthy; then [[ "$output" == *"always-pass"* ]]; fi
}
