#!/usr/bin/env bats
# Operating rollouts from the command line as a `kubectl argo rollouts` user
# would: rollout history / restart, scale, the state after each action,
# `rollout status --watch` that ends on a pause or a --timeout, apply
# --wait that prints changes only, labelled blue/green rows, colours on a
# terminal only. Documents as docs/cli.md writes them, with defaults.

load helpers

setup() {
	e2e_setup
	unset NO_COLOR
}

CANARY='  strategy:
    canary:
      steps:
        - setWeight: 20
        - pause: {}
        - setWeight: 50
        - pause: {}'

TIMED='  strategy:
    canary:
      steps:
        - setWeight: 50
        - pause: {duration: 12s}'

GOLDEN='---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: golden}
spec:
  metrics:
    - name: success-rate
      interval: 1s
      successCondition: "result >= 0.99"
      provider: {builtin: {metric: success-rate}}'

ANALYSIS='  strategy:
    canary:
      steps:
        - setWeight: 50
        - analysis: {templates: [golden]}'

bluegreen() {
	printf '  strategy:\n    blueGreen:\n      previewListen: "127.0.0.1:%s"\n' "$PREVIEW"
}

pids_sorted() { instance_fields hello pid | sort; }

@test "rollout history is history" {
	start_daemon
	hello_doc 1.0.0 "" > "$T/v1.yaml"
	hello_doc 2.0.0 "" > "$T/v2.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	slipway apply -f "$T/v2.yaml" --wait
	run slipway rollout history hello
	[ "$status" -eq 0 ]
	[ "$output" = "$(slipway history hello)" ]
	[[ "$output" == *"desired,stable"* ]]
	run slipway rollout history hello --limit 1
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 2 ]
	run slipway rollout history
	[ "$status" -eq 2 ]
}

@test "rollout restart replaces every instance, one at a time, without a new revision" {
	start_daemon
	hello_doc 1.0.0 "$CANARY" > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	before=$(pids_sorted)
	run slipway rollout restart hello
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "app/hello restarted: Progressing - restart of revision 1"* ]]
	# never fewer ready than replicas while it goes (maxUnavailable 0)
	deadline=$((SECONDS + 60))
	while ! app_ready_at hello 1 2 || [ "$(field reason "$(status_json hello)")" = "${reason:-}" ] &&
		[ $SECONDS -lt $deadline ]; do
		j=$(status_json hello)
		[ "$(field ready "$j")" -ge 2 ]
		reason=$(field reason "$j")
		case "$reason" in *restarted*) break ;; esac
		sleep 0.1
	done
	wait_for 60 app_ready_at hello 1 2
	after=$(pids_sorted)
	[ "$(comm -12 <(echo "$before") <(echo "$after") | wc -l)" -eq 0 ]
	[ "$(field revision "$(status_json hello)")" = 1 ]
	[ "$(slipway history hello | wc -l)" -eq 2 ]   # header + revision 1
	run slipway events hello
	[[ "$output" == *"RolloutRestart"*"local"*"restart of revision 1"* ]]
	[[ "$output" == *"Restarted"*"revision 1 restarted: 2/2 new instances ready"* ]]
	# refused mid-rollout, with the reason
	hello_doc 2.0.0 "$CANARY" > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	run slipway rollout restart hello
	[ "$status" -eq 1 ]
	[[ "$output" == *"restart once it is Healthy"* ]]
}

@test "scale changes the replicas of the serving revision, survives a daemon restart, refuses bad input" {
	start_daemon
	hello_doc 1.0.0 "$CANARY" > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	run slipway scale hello 3 --wait
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "app/hello scaled to 3: Progressing, 2/3 ready (revision 1)"* ]]
	app_ready_at hello 1 3
	[ "$(slipway history hello | wc -l)" -eq 2 ]   # no new revision
	run slipway events hello
	[[ "$output" == *"Scaled"*"local"*"scaled from 2 to 3 replicas (revision 1)"* ]]
	stop_daemon
	start_daemon
	wait_for 30 app_ready_at hello 1 3
	[ "$(field replicas "$(status_json hello)")" = 3 ]
	for bad in -1 1001 two 2.5; do
		run slipway scale hello "$bad"
		echo "$bad: $output"
		[ "$status" -eq 2 ]
		[[ "$output" == *"REPLICAS must be"*"got"*"$bad"* ]]
	done
	run slipway scale nothere 2
	[ "$status" -eq 1 ]
	[[ "$output" == *'app "nothere" not found'* ]]
	[ "$(field replicas "$(status_json hello)")" = 3 ]
	# down, and refused while a rollout is under way
	slipway scale hello 1
	wait_for 30 app_ready_at hello 1 1
	hello_doc 2.0.0 "$CANARY" > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	run slipway scale hello 4
	[ "$status" -eq 1 ]
	[[ "$output" == *"rollout of revision 2 is"*"scale once it is Healthy"* ]]
	# a new revision: its document's replicas count again
	slipway rollout promote hello --full
	wait_for 60 app_ready_at hello 2 2
}

@test "promote from a pause {} prints the step and weight it went on to" {
	start_daemon
	hello_doc 1.0.0 "$CANARY" > "$T/v1.yaml"
	hello_doc 2.0.0 "$CANARY" > "$T/v2.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	slipway apply -f "$T/v2.yaml"
	wait_for 60 phase_is hello Paused
	run slipway rollout promote hello
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "app/hello promoted: "*"step 4/4, canary weight 50%"* ]]
	[[ "$output" != *"20%"* ]]
	run slipway rollout pause hello
	[[ "$output" == "app/hello paused: Paused"*"paused by the operator"* ]]
}

@test "rollout status --watch exits 3 on pause {} naming the command; --timeout exits 4" {
	start_daemon
	hello_doc 1.0.0 "$CANARY" > "$T/v1.yaml"
	hello_doc 2.0.0 "$CANARY" > "$T/v2.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	slipway apply -f "$T/v2.yaml"
	run timeout 120 "$SLIPWAY_BIN" rollout status hello --watch
	echo "$output"
	[ "$status" -eq 3 ]
	[[ "$output" == *'Paused: waiting for "slipway rollout promote hello"' ]]
	# apply --wait stops there too, with the same message
	hello_doc 2.0.1 "$CANARY" > "$T/v3.yaml"
	run timeout 120 "$SLIPWAY_BIN" apply -f "$T/v3.yaml" --wait
	[ "$status" -ne 0 ]
	[[ "$output" == *'Paused: waiting for "slipway rollout promote hello"'* ]]
	# an operator's pause waits for resume
	slipway rollout pause hello
	run timeout 120 "$SLIPWAY_BIN" rollout status hello --watch
	[ "$status" -eq 3 ]
	[[ "$output" == *'Paused: waiting for "slipway rollout resume hello"' ]]
	slipway rollout resume hello
	# a rollout that is not done in time
	hello_doc 3.0.0 "$TIMED" > "$T/v4.yaml"
	slipway apply -f "$T/v4.yaml"
	run timeout 120 "$SLIPWAY_BIN" rollout status hello --watch --timeout 2s
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"hello: timed out after 2s waiting for its rollout"* ]]
	run slipway rollout status hello --watch
	[ "$status" -eq 0 ]
	run slipway rollout promote hello --timeout 2s
	[ "$status" -eq 2 ]
}

@test "apply --wait prints a line when something changes, not a line per poll in a timed pause; its --timeout holds" {
	start_daemon
	hello_doc 1.0.0 "$TIMED" > "$T/v1.yaml"
	hello_doc 2.0.0 "$TIMED" > "$T/v2.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	run timeout 120 "$SLIPWAY_BIN" apply -f "$T/v2.yaml" --wait
	echo "$output"
	[ "$status" -eq 0 ]
	# 12 s of countdown: at most one line per 5 s of it (and one per change)
	[ "$(printf '%s\n' "$output" | grep -c 'pause (')" -le 4 ]
	[[ "$output" == *"hello: Healthy, stable 2 (2.0.0) 2/2 ready"* ]]
	hello_doc 3.0.0 "$TIMED" > "$T/v3.yaml"
	run timeout 120 "$SLIPWAY_BIN" apply -f "$T/v3.yaml" --wait --timeout 2s
	[ "$status" -ne 0 ]
	[[ "$output" == *"hello: timed out after 2s waiting for its rollout"* ]]
	hello_doc 4.0.0 "$TIMED" > "$T/v4.yaml"
	slipway apply -f "$T/v4.yaml"
	run timeout 120 "$SLIPWAY_BIN" rollback hello --to 1 --wait --timeout 1s
	[ "$status" -eq 4 ]
	[[ "$output" == *"timed out after 1s"* ]]
}

@test "status shows only the current rollout's analysis after undo and rollback --to" {
	start_daemon
	hello_doc 1.0.0 "$ANALYSIS" "$GOLDEN" > "$T/v1.yaml"
	hello_doc 2.0.0 "$ANALYSIS" "$GOLDEN" > "$T/v2.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	slipway apply -f "$T/v2.yaml"
	wait_for 60 sh -c "'$SLIPWAY_BIN' status hello | grep -q '^Analysis: '"
	run slipway rollout undo hello
	[ "$status" -eq 0 ]
	wait_for 60 app_ready_at hello 1 2
	run slipway status hello
	echo "$output"
	[[ "$output" != *"Analysis:"* ]]
	# the same through rollback --to
	slipway apply -f "$T/v2.yaml"
	wait_for 60 sh -c "'$SLIPWAY_BIN' status hello | grep -q '^Analysis: '"
	slipway rollback hello --to 1 --wait
	run slipway status hello
	echo "$output"
	[[ "$output" != *"Analysis:"* ]]
	# and the run of the new rollout is its own
	slipway apply -f "$T/v2.yaml"
	wait_for 60 sh -c "'$SLIPWAY_BIN' status hello | grep -q '^Analysis: '"
	[ "$(slipway status hello | grep -c '^Analysis: ')" -eq 1 ]
}

@test "blue/green: the preview and active rows are labelled in status, rollout status and the watch line" {
	start_daemon
	hello_doc 1.0.0 "$(bluegreen)" > "$T/v1.yaml"
	hello_doc 2.0.0 "$(bluegreen)" > "$T/v2.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	slipway apply -f "$T/v2.yaml"
	run timeout 120 "$SLIPWAY_BIN" rollout status hello --watch
	echo "$output"
	[ "$status" -eq 3 ]
	[[ "$output" == *"| r1 active 100%"*"| r2 preview   0%"* ]]
	[[ "$output" == *'Paused: waiting for "slipway rollout promote hello"' ]]
	run slipway status hello
	echo "$output"
	printf '%s\n' "$output" | grep -Eq '^1 +active +100%'
	printf '%s\n' "$output" | grep -Eq '^2 +preview +0%'
	run slipway rollout status hello
	[ "$status" -eq 3 ]
	printf '%s\n' "$output" | grep -Eq '^2 +preview +0%'
	run slipway rollout promote hello
	[[ "$output" == "app/hello promoted: "* ]]
	wait_for 60 sh -c "'$SLIPWAY_BIN' status hello | grep -Eq '^2 +active +100%'"
}

@test "phase colours on a terminal only, and never with NO_COLOR" {
	start_daemon
	hello_doc 1.0.0 "" > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	esc=$(printf '\033')
	run slipway status hello
	[[ "$output" != *"$esc"* ]]
	run script -qec "'$SLIPWAY_BIN' status hello" /dev/null
	echo "$output"
	[[ "$output" == *"Phase:      ${esc}[32mHealthy${esc}[0m"* ]]
	run env NO_COLOR=1 script -qec "'$SLIPWAY_BIN' status hello" /dev/null
	[[ "$output" != *"${esc}[3"* ]]
	[[ "$output" == *"Phase:      Healthy"* ]]
}
