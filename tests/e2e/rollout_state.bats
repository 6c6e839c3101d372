#!/usr/bin/env bats
# Rollout state as a user sees it, driven through the shipped examples
# (a copy in the test's temp dir, with its own ports) or documents written
# as the README does, and the real daemon, proxy and hello instances:
# pauses and progressDeadline, every example end to end, the app's phase
# with crashing instances, why a rollout failed, the failed instance's
# logs, history after a rollback, and the stable/canary sides of get and
# status (issue 9).

load helpers

setup() {
	e2e_setup
	LOAD_PID=
}

teardown() {
	[ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
	stop_daemon
	kill_instances
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

# The reason as `status` prints it (field() reads no value with a comma).
reason() { slipway status "$1" | sed -n 's/^Reason: *//p'; }

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
	# autoPromotion 30s after the smoke check switches it; the old side
	# scales down 30s later (scaleDownDelay: the blue/green tests of
	# progressive.bats check that, with 1s)
	wait_for 90 eval '[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"2.0.0"* ]] || phase_is hello-bg Degraded'
	echo "$(status_json hello-bg)"
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"2.0.0"* ]]
	run slipway events hello-bg
	[[ "$output" == *"switched: revision 2 now gets 100% of requests"* ]]
	refute phase_is hello-bg Degraded
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

# An app as the README writes one, with this test's demo binary; extra
# lines go under spec.
app_doc() { # app_doc NAME VERSION [ENV_YAML] [SPEC_YAML]
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: $1}
spec:
  version: "$2"
  replicas: 1
  run:
    command: ["$HELLO_BIN", "--host", "127.0.0.1", "--port", "\${PORT}"]
    env: {GREETING: hi${3:+, $3}}
  readiness: {http: {path: /healthz}}
${4:-}
YAML
}

@test "a crash-looping app is Degraded with its instance's exit status, Healthy again once fixed" {
	start_daemon
	# ready after its first probe (1 s), then it crashes, again and again
	app_doc crashy 1.0.0 'HELLO_CRASH_AFTER: "2"' > "$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	wait_for 30 phase_is crashy Degraded
	[[ "$(reason crashy)" == *"instance crashy-1 exited with status 1"*"0/1 instances ready"* ]]
	run slipway get apps
	[[ "$output" =~ crashy\ +rolling\ +Degraded\ +1\ \(1\.0\.0\)\ +0/1 ]]
	run slipway events crashy
	[[ "$output" == *"Degraded"*"instance crashy-1 exited with status 1, restarting (backoff "*"0/1 instances ready"* ]]
	# a moment of readiness between crashes does not make it Healthy
	wait_for 30 eval '[ "$(instance_fields crashy restarts)" -ge 3 ]'
	phase_is crashy Degraded
	run slipway events crashy
	[[ "$output" != *"available again"* ]]
	# fixed in a new version: rolled out, available, Healthy
	app_doc crashy 1.0.1 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	phase_is crashy Healthy
	run slipway get apps
	[[ "$output" =~ crashy\ +rolling\ +Healthy\ +2\ \(1\.0\.1\)\ +1/1 ]]
}

@test "an instance killed makes its app Degraded until it is back and stays ready" {
	start_daemon
	app_doc hello 1.0.0 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	pid=$(instance_fields hello pid)
	kill -9 "$pid"
	wait_for 30 eval 'slipway events hello | grep -q "Degraded.*instance hello-1 killed by signal 9"'
	wait_for 60 eval 'slipway events hello | grep -q "Healthy.*available again: 1/1"'
	phase_is hello Healthy
	[ "$(instance_fields hello restarts)" = 1 ]
	# a new daemon adopts it as it is: still Healthy, no new Degraded
	degraded=$(slipway events hello | grep -c " Degraded ")
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	start_daemon
	wait_for 10 eval 'status_json hello | grep -q "\"adopted\": true"'
	slipway get apps | grep -Eq "hello +rolling +Healthy +1 \(1\.0\.0\) +1/1"
	[ "$(slipway events hello | grep -c " Degraded ")" = "$degraded" ]
}

# v1 serves; v2 crashes at once and is aborted at its progressDeadline.
crash_aborted_rollout() {
	start_daemon
	app_doc crashy 1.0.0 '' '  progressDeadline: 10s' > "$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	app_doc crashy 2.0.0 'HELLO_CRASH_AFTER: "0"' '  progressDeadline: 10s' > "$T/app.yaml"
	run slipway apply -f "$T/app.yaml" --wait
	[ "$status" -eq 1 ]
	phase_is crashy Degraded
}

@test "a rollout aborted by crashing instances says why they failed" {
	crash_aborted_rollout
	# while it waited, the reason said so already
	[[ "$output" == *"crashy: Progressing"*"applied revision 2 (version 2.0.0); instance crashy-2 exited with status 1"* ]]
	[[ "$(reason crashy)" == *"no progress within progressDeadline 10s (0/1 new instances ready; instance crashy-2 exited with status 1,"*"revision 1 keeps serving"* ]]
	# the serving side is shown, the failed one named
	run slipway get apps
	[[ "$output" =~ crashy\ +rolling\ +Degraded\ +1\ \(1\.0\.0\)\ +1/1\ +-\ +-\ +- ]]
	run slipway status crashy
	[[ "$output" == *"Failed:     revision 2 (version 2.0.0)"* ]]
}

@test "logs of an app whose rollout was aborted show the failed instance's output, marked stopped" {
	crash_aborted_rollout
	wait_for 30 eval 'slipway logs crashy | grep -q "^\[crashy-2 stopped\] crashing as asked"'
	run slipway logs crashy
	[[ "$output" == *"[crashy-1] "* ]]
	run slipway logs crashy --previous
	[[ "$output" == *"[crashy-2 stopped] (revision 2: exited with status 1"* ]]
	[[ "$output" == *"[crashy-2 stopped] crashing as asked"* ]]
	[[ "$output" != *"[crashy-1]"* ]]
}

@test "history keeps an aborted revision failed after a rollback, and after a daemon restart" {
	crash_aborted_rollout
	slipway rollback crashy --wait
	run slipway history crashy
	[[ "$output" =~ (^|$'\n')2\ +2\.0\.0\ +[^$'\n']*\ failed\  ]]
	[[ "$output" =~ (^|$'\n')1\ +1\.0\.0\ +[^$'\n']*\ desired,stable\  ]]
	[[ "$output" == *"revision 2 failed: rollout of revision 2 aborted: no progress within progressDeadline 10s"* ]]
	stop_daemon
	start_daemon
	run slipway history crashy
	[[ "$output" =~ (^|$'\n')2\ +2\.0\.0\ +[^$'\n']*\ failed\  ]]
}

@test "get apps and status show the stable and canary sides of a canary, and only stable after an abort" {
	f=$(example hello.yaml)
	start_daemon
	slipway apply -f "$f" --wait
	run slipway get apps
	[[ "$output" == *"NAME"*"STRATEGY"*"PHASE"*"STABLE"*"READY"*"CANARY"*"CANARY-READY"*"WEIGHT"* ]]
	[[ "$output" =~ hello\ +canary\ +Healthy\ +1\ \(1\.0\.0\)\ +2/2\ +-\ +-\ +- ]]
	start_load 120 hello.localhost
	as_version "$f" 2.0.0
	slipway apply -f "$f"
	wait_for 60 eval 'phase_is hello Paused || phase_is hello Degraded'
	[[ "$(reason hello)" == *"paused at 50%"* ]]
	run slipway get apps
	[[ "$output" =~ hello\ +canary\ +Paused\ +1\ \(1\.0\.0\)\ +2/2\ +2\ \(2\.0\.0\)\ +1/1\ +50% ]]
	[[ "$output" != *"3/2"* ]]
	run slipway status hello
	[[ "$output" == *"Stable:     revision 1 (version 1.0.0), 2/2 ready"* ]]
	[[ "$output" == *"Canary:     revision 2 (version 2.0.0), 1/1 ready, 50% of requests"* ]]
	slipway rollout abort hello
	wait_for 30 eval 'slipway get apps | grep -Eq "hello +canary +Degraded +1 \(1\.0\.0\) +2/2 +- +- +-"'
	run slipway get apps
	[[ "$output" != *"2.0.0"* ]]
	run slipway status hello
	[[ "$output" == *"Failed:     revision 2 (version 2.0.0)"* ]]
	[[ "$output" == *"Stable:     revision 1 (version 1.0.0), 2/2 ready"* ]]
	stop_load
}
