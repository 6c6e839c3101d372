#!/usr/bin/env bats
# Every shipped example, as the docs say to run it: `slipway apply -f
# examples/X.yaml --wait` from the repository root, with the example's own
# (fixed) ports and its own `../build/hello`. It must end Healthy and serve
# through its route, then a second revision (the same file with another
# version, as a user edits it) must roll out. The hooks examples need
# PostgreSQL: tests/e2e/hooks.bats runs them. CONTRIBUTING.md, "Examples
# that run", says why the ports are fixed and which they are.

load helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

setup() {
	e2e_setup
	LOAD_PID=
	# the examples' ports are fixed: one run of this file at a time
	exec 9>/tmp/slipway-examples.lock
	flock -w 600 9
	cd "$ROOT"
}

teardown() {
	case "${T:-}" in /tmp/slipway-*) ;; *) return 0 ;; esac
	[ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
	stop_daemon
	kill_instances
	pkill -9 -f "$T/" 2>/dev/null || true
	rm -rf "$T"
	exec 9>&-
}

# ports_free PORT...: fails, naming the port, when something listens there
ports_free() {
	local p
	for p in "$@"; do
		if (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then
			echo "127.0.0.1:$p is in use by another program; the examples listen there" >&2
			return 1
		fi
	done
}

# next_version FILE VERSION: a copy of examples/ (next to a build/ like the
# tree's) with FILE's spec.version changed, as a user edits it; prints its path
next_version() {
	mkdir -p "$T/v2"
	cp -r "$ROOT/examples" "$T/v2/"
	ln -sfn "$(dirname "$HELLO_BIN")" "$T/v2/build"
	sed -i "s/^  version: .*/  version: \"$2\"/" "$T/v2/examples/$1"
	echo "$T/v2/examples/$1"
}

served() { # served URL TEXT [HOST]
	[[ "$(curl -fsS ${3:+-H "Host: $3"} "$1")" == *"$2"* ]]
}

revision_is() { # revision_is APP REVISION: desired and stable
	local j
	j=$(status_json "$1") || return 1
	[ "$(field revision "$j")" = "$2" ] && [ "$(field stableRevision "$j")" = "$2" ]
}

@test "every example has a test here or says where it has one" {
	for f in "$ROOT"/examples/*.yaml; do
		b=$(basename "$f")
		grep -q "^@test \"example: $b" "$BATS_TEST_FILENAME" ||
			grep -q "^@test \"example: .*$b" "$BATS_TEST_DIRNAME/hooks.bats"
	done
	grep -q 'examples/argo' "$BATS_TEST_DIRNAME/argo.bats"
	grep -q 'examples/overlays' "$BATS_TEST_DIRNAME/overlays.bats"
}

@test "example: hello-rolling.yaml from the repository root: Healthy, served, then v2 rolled out" {
	ports_free 8083
	start_daemon
	slipway apply -f examples/hello-rolling.yaml --wait
	phase_is hello-rolling Healthy
	served http://127.0.0.1:8083/ 1.0.0
	slipway apply -f "$(next_version hello-rolling.yaml 2.0.0)" --wait
	app_ready_at hello-rolling 2 3
	served http://127.0.0.1:8083/ 2.0.0
}

@test "example: hello.yaml from the repository root: Healthy, served, then v2 through its canary steps" {
	ports_free 8080
	start_daemon
	slipway apply -f examples/hello.yaml --wait
	phase_is hello Healthy
	served http://127.0.0.1:8080/ 1.0.0 hello.localhost
	hey -z 120s -c 2 -q 20 -host hello.localhost http://127.0.0.1:8080/ >"$T/hey.txt" 2>&1 3>&- &
	LOAD_PID=$!
	slipway apply -f "$(next_version hello.yaml 2.0.0)"
	# its last step is `pause: {}`: the canary is judged, then waits for a person
	wait_for 60 eval 'phase_is hello Paused || phase_is hello Degraded'
	slipway status hello
	phase_is hello Paused
	slipway rollout promote hello
	wait_for 30 app_ready_at hello 2 2
	served http://127.0.0.1:8080/ 2.0.0 hello.localhost
}

@test "example: hello-bluegreen.yaml from the repository root: Healthy, served, then v2 previewed and promoted" {
	ports_free 8081 8082
	start_daemon
	slipway apply -f examples/hello-bluegreen.yaml --wait
	phase_is hello-bg Healthy
	served http://127.0.0.1:8081/ 1.0.0
	slipway apply -f "$(next_version hello-bluegreen.yaml 2.0.0)"
	wait_for 30 served http://127.0.0.1:8082/ 2.0.0
	served http://127.0.0.1:8081/ 1.0.0
	# the smoke check passes; then promote rather than wait for autoPromotion (30s)
	wait_for 30 eval 'slipway analysis hello-bg --revision 2 | grep -q "smoke/preview-healthy.*Successful"'
	slipway rollout promote hello-bg
	wait_for 60 served http://127.0.0.1:8081/ 2.0.0
	# all traffic is on 2.0.0; revision 1 scales down after scaleDownDelay (30s),
	# which rollout_state.bats waits for
	[[ "$(slipway status hello-bg)" == *"switched to revision 2"*"100% of requests"* ]]
}

# Argo's example judges with random-fail, which fails about one rollout in
# nine as in Argo: green ends Healthy, or Degraded back on blue; never stuck.
@test "example: argo-analysis-step.yaml from the repository root: Healthy, then green judged by its analysis step" {
	start_daemon
	slipway apply -f examples/argo-analysis-step.yaml --wait
	phase_is rollout-analysis-step Healthy
	f=$(next_version argo-analysis-step.yaml green)
	slipway apply -f "$f"
	wait_for 60 eval 'phase_is rollout-analysis-step Degraded || { phase_is rollout-analysis-step Healthy && revision_is rollout-analysis-step 2; }'
	run slipway analysis rollout-analysis-step
	[[ "$output" == *"random-fail"* ]]
}

# examples/argo/ holds Argo Rollouts' documents unchanged; imported, with the
# command the importer asks for filled in, they run.
@test "example: examples/argo imported, its command filled in, is applied and rolled out" {
	start_daemon
	run slipway import argo -o "$T/argo" examples/argo/rollout-analysis-step.yaml \
		examples/argo/analysis-templates.yaml examples/argo/cluster-analysis-templates.yaml
	[ "$status" -eq 1 ]   # the image is reported: fill in spec.run.command
	app=$T/argo/app-rollout-analysis-step.yaml
	sed -i "s|^      - \"false\"$|      - \"$HELLO_BIN\"|; s|^      - \"fill in the command.*|      - \"--port\"\n      - \"\${PORT}\"|" "$app"
	cat "$app"
	slipway apply -f "$T/argo" --wait
	phase_is rollout-analysis-step Healthy
	sed -i 's/^  version: .*/  version: "green"/' "$app"
	slipway apply -f "$T/argo"
	wait_for 60 eval 'phase_is rollout-analysis-step Degraded || { phase_is rollout-analysis-step Healthy && revision_is rollout-analysis-step 2; }'
}
