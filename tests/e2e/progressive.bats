#!/usr/bin/env bats
# Progressive delivery end to end: canary and blue/green rollouts judged by
# analysis, with real hello instances, the real proxy and steady load.

load helpers

setup() {
	e2e_setup
	LOAD_PID=
	PROM_PID=
}

teardown() {
	[ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
	[ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null
	stop_daemon
	kill_instances
	pkill -9 -f "$T/" 2>/dev/null || true
	rm -rf "$T"
}

# app VERSION ENV_YAML STRATEGY_YAML
app() {
	app_yaml hello "$1" 2 "$2" "  route: {listen: \"127.0.0.1:$LISTEN\"}
  strategy:
$3"
}

golden() { # golden [EXTRA_METRIC_YAML]
	cat <<YAML
---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: golden}
spec:
  metrics:
    - name: success-rate
      interval: 1s
      count: 3
      successCondition: "result >= 0.99"
      provider: {builtin: {metric: success-rate, window: 2s}}
$1
YAML
}

CANARY='    canary:
      steps:
        - setWeight: 20
        - analysis: {templates: [golden]}
        - setWeight: 50
        - analysis: {templates: [golden]}'

start_load() { # start_load SECONDS
	hey -z "${1}s" -c 4 -q 25 "http://127.0.0.1:$LISTEN/" >"$T/hey.txt" 2>&1 3>&- &
	LOAD_PID=$!
}

stop_load() {
	kill -INT "$LOAD_PID" 2>/dev/null || true
	wait "$LOAD_PID" 2>/dev/null || true
	LOAD_PID=
}

non2xx() {
	sed -n '/Status code distribution:/,/^$/p' "$T/hey.txt" | grep -E '^\s+\[[0-9]+\]' |
		grep -vE '^\s+\[2[0-9][0-9]\]' | awk '{s+=$2} END {print s+0}'
}

hey_errors() {
	sed -n '/Error distribution:/,/^$/p' "$T/hey.txt" | grep -E '^\s+\[[0-9]+\]' |
		awk '{gsub(/[\[\]]/, "", $1); s+=$1} END {print s+0}'
}

deploy_v1() {
	{ app 1.0.0 "" "$CANARY"; golden; } > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
}

weight_of() { # weight_of REVISION
	slipway status hello --json | tr -d ' \n' | grep -o "{\"revision\":$1,\"weight\":[0-9]*" | sed 's/.*://'
}

@test "a healthy canary walks its steps to Healthy with no failed request" {
	start_daemon
	deploy_v1
	start_load 60
	{ app 2.0.0 "" "$CANARY"; golden; } > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	run slipway rollout status hello --watch
	[ "$status" -eq 0 ]
	[[ "$output" == *"step 2/4"* ]]
	[[ "$output" == *"Healthy"* ]]
	stop_load
	sed -n '/Status code/,$p' "$T/hey.txt"
	[ "$(non2xx)" = 0 ]
	[ "$(hey_errors)" = 0 ]
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"2.0.0"* ]]
	run slipway analysis hello --revision 2
	[[ "$output" == *"golden/success-rate"*"builtin"*"Successful"* ]]
}

@test "a canary with 10% errors is rolled back by itself while stable keeps serving" {
	start_daemon
	deploy_v1
	start_load 30
	{ app 2.0.0 "      HELLO_ERROR_RATE: \"0.1\"" "$CANARY"; golden; } > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 15 eval '[ "$(weight_of 2)" = 20 ]'
	t0=$SECONDS
	wait_for 10 phase_is hello Degraded
	# how fast is bench/judge.sh's business; this only reports it
	echo "# rolled back $((SECONDS - t0)) s after the 20% step" >&3
	[ "$(weight_of 1)" = 100 ]
	j=$(status_json hello)
	[[ "$j" == *"success-rate"*"successCondition result >= 0.99 is false"* ]]
	[[ "$j" == *"revision 1 keeps serving"* ]]
	wait_for 10 eval '[ "$(instance_fields hello revision | sort -u)" = 1 ]'
	stop_load
	run slipway events hello
	[[ "$output" == *"Degraded"*"aborted"* ]]
	# the way out: undo goes back to revision 1 at once
	run slipway rollout undo hello
	[ "$status" -eq 0 ]
	wait_for 15 app_ready_at hello 1 2
}

@test "a canary 50 ms slower is caught by the compare judge" {
	start_daemon
	compare='    - name: latency
      interval: 2s
      count: 2
      provider: {compare: {metric: latency, confidence: 0.98, maxIncrease: 0.2, minSamples: 20}}'
	{ app 1.0.0 "" "$CANARY"; golden "$compare"; } > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
	start_load 40
	{ app 2.0.0 "      HELLO_LATENCY_MS: \"50\"" "$CANARY"; golden "$compare"; } > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 30 phase_is hello Degraded
	stop_load
	j=$(status_json hello)
	[[ "$j" == *"golden/latency"*"Mann-Whitney"* ]]
	run slipway analysis hello --revision 2
	[[ "$output" == *"compare"*"Failed"* ]]
}

@test "a canary without traffic pauses instead of being promoted (noData: inconclusive)" {
	start_daemon
	deploy_v1
	{ app 2.0.0 "" "$CANARY"; golden; } > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"      # no load: the canary gets no request
	wait_for 20 phase_is hello Paused
	j=$(status_json hello)
	[[ "$j" == *"inconclusive"* ]]
	[ "$(weight_of 2)" = 20 ]
	run slipway rollout abort hello
	[ "$status" -eq 0 ]
	wait_for 10 phase_is hello Degraded
	run slipway rollout retry hello
	[ "$status" -eq 0 ]
	run slipway rollout promote hello --full
	[ "$status" -eq 0 ]
	wait_for 20 app_ready_at hello 2 2
}

@test "blue/green: preview, promote, and a failed post-promotion analysis switches back" {
	start_daemon
	BG='    blueGreen:
      postPromotionAnalysis: {templates: [golden]}
      scaleDownDelay: 30s'
	{ app 1.0.0 "" "$BG"; golden; } > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
	start_load 40
	{ app 2.0.0 "      HELLO_ERROR_RATE: \"0.3\"" "$BG"; golden; } > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 20 phase_is hello Paused
	# the preview answers (its X-Version, since 30% of its answers are 500s)
	run curl -sS -o /dev/null -D - -H 'X-Slipway-Preview: true' "http://127.0.0.1:$LISTEN/"
	[[ "$output" == *"X-Version: 2.0.0"* ]]
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"1.0.0"* ]]
	[ "$(weight_of 1)" = 100 ]
	slipway rollout promote hello
	# the switch and the switch back can both happen between two looks at
	# the weights: the events say that it switched first
	wait_for 15 phase_is hello Degraded
	[ "$(weight_of 1)" = 100 ]
	stop_load
	[[ "$(status_json hello)" == *"post-promotion analysis failed"* ]]
	run slipway events hello
	[[ "$output" == *"switched: revision 2 now gets 100% of requests"*"post-promotion analysis failed"* ]]
}

@test "blue/green: a healthy version switches on promote and the old one scales down" {
	start_daemon
	BG='    blueGreen:
      scaleDownDelay: 1s'
	{ app 1.0.0 "" "$BG"; golden; } > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	{ app 2.0.0 "" "$BG"; golden; } > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 20 phase_is hello Paused
	run slipway rollout promote hello
	[ "$status" -eq 0 ]
	wait_for 20 app_ready_at hello 2 2
	wait_for 10 eval '[ "$(instance_fields hello revision | sort -u)" = 2 ]'
}

@test "a prometheus metric from a real Prometheus server decides a step" {
	need prometheus
	mport=$((PORT_BASE + 97))
	pport=$((PORT_BASE + 98))
	start_daemon --metrics "127.0.0.1:$mport"
	cat > "$T/prom.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: slipway
    static_configs: [{targets: ["127.0.0.1:$mport"]}]
YAML
	prometheus --config.file="$T/prom.yml" --storage.tsdb.path="$T/prom" \
		--web.listen-address="127.0.0.1:$pport" >"$T/prom.log" 2>&1 3>&- &
	PROM_PID=$!
	wait_for 30 curl -fsS "http://127.0.0.1:$pport/-/ready"
	prom="    - name: scraped
      interval: 1s
      count: 1
      successCondition: \"result == 1\"
      provider: {prometheus: {address: \"http://127.0.0.1:$pport\", query: \"up{job='slipway'}\"}}"
	deploy_v1
	wait_for 30 eval "curl -fsS 'http://127.0.0.1:$pport/api/v1/query?query=up' | grep -q '\"1\"\\]'"
	{ app 2.0.0 "" "$CANARY"; golden "$prom"; } > "$T/v2.yaml"
	start_load 60
	slipway apply -f "$T/v2.yaml"
	wait_for 40 app_ready_at hello 2 2
	stop_load
	run slipway analysis hello --revision 2
	[[ "$output" == *"golden/scraped"*"prometheus"*"Successful"* ]]
}

@test "exec and web providers decide a step; a failing exec aborts" {
	aport=$((PORT_BASE + 96))
	start_daemon --api "127.0.0.1:$aport"
	token=$(cat "$T/state/token")
	extra="    - name: script
      count: 1
      successCondition: \"result == 42\"
      provider: {exec: {command: [sh, -c, 'echo 42']}}
    - name: api
      count: 1
      successCondition: \"result > 0\"
      provider: {web: {url: \"http://127.0.0.1:$aport/v1/version\", jsonPath: \"\$.pid\", headers: {Authorization: \"Bearer $token\"}}}"
	deploy_v1
	start_load 60
	{ app 2.0.0 "" "$CANARY"; golden "$extra"; } > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 40 app_ready_at hello 2 2
	run slipway analysis hello --revision 2
	[[ "$output" == *"golden/script"*"exec"*"42"*"Successful"* ]]
	[[ "$output" == *"golden/api"*"web"*"Successful"* ]]
	bad="    - name: script
      count: 1
      provider: {exec: {command: [sh, -c, 'exit 3']}}"
	{ app 3.0.0 "" "$CANARY"; golden "$bad"; } > "$T/v3.yaml"
	slipway apply -f "$T/v3.yaml"
	wait_for 30 phase_is hello Degraded
	stop_load
	[[ "$(status_json hello)" == *"golden/script"* ]]
}

@test "an exec metric that outlives its timeout is recorded within the timeout and leaves no process behind" {
	start_daemon
	deploy_v1
	# as docs/documents.md writes an exec metric; the shell's child holds stdout
	slow="    - name: slow-script
      count: 1
      provider: {exec: {command: [sh, -c, 'sleep 27; echo 1'], timeout: 1s}}"
	{ app 2.0.0 "" "$CANARY"; golden "$slow"; } > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	timed_out() { slipway analysis hello --revision 2 | grep -q 'golden/slow-script.*timed out after 1s'; }
	# recorded long before the 27 s sleep would end
	wait_for 10 timed_out
	# the default consecutiveErrorLimit (4): the fifth error in a row fails it
	wait_for 40 phase_is hello Degraded
	[[ "$(status_json hello)" == *"golden/slow-script"*"timed out after 1s"* ]]
	# the whole group was killed: no `sleep 27` keeps running
	wait_for 5 eval '! pgrep -x -f "sleep 27"'
}

# ---- templates as users write them: no initialDelay, no inconclusiveLimit,
# no pause before the analysis step (issue 9) ----

readme_golden() { # the README's golden template, as written there
	cat <<'YAML'
---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: golden}
spec:
  metrics:
    - name: success-rate
      interval: 1s
      count: 5
      minSamples: 20
      successCondition: "result >= 0.99"
      provider: {builtin: {metric: success-rate, window: 5s}}
    - name: latency
      interval: 5s
      provider: {compare: {metric: latency, maxIncrease: 0.2}}
YAML
}

argo_golden() { # as an Argo Rollouts user writes it
	cat <<'YAML'
---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: golden}
spec:
  metrics:
    - name: success-rate
      interval: 1s
      count: 4
      failureLimit: 0
      successCondition: "result >= 0.99"
      provider: {builtin: {metric: success-rate}}
YAML
}

NATURAL='    canary:
      steps:
        - setWeight: 20
        - analysis: {templates: [golden]}'

# settles APP SECONDS: waits until the rollout is Healthy, Degraded or
# Paused and prints that phase.
settles() {
	local deadline=$((SECONDS + $2)) p
	while [ $SECONDS -lt $deadline ]; do
		p=$(field phase "$(status_json "$1")")
		case "$p" in Healthy | Degraded | Paused) echo "$p"; return 0 ;; esac
		sleep 0.2
	done
	echo "timed out"
}

# natural_app VERSION ENV_YAML TEMPLATE_FN: the app with the default
# progressDeadline, as a user writes it
natural_app() {
	{ app "$1" "$2" "$NATURAL" | sed '/progressDeadline/d'; $3; }
}

# natural TEMPLATE_FN ENV_YAML: deploys v1, then v2 under steady load, and
# leaves the phase v2's rollout settles in in $T/phase. (Not under `run`:
# the load must stay this shell's job so that stop_load ends it.)
natural() {
	natural_app 1.0.0 "" "$1" > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
	start_load 90
	natural_app 2.0.0 "$2" "$1" > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 15 eval '[ "$(weight_of 2)" = 20 ]'
	settles hello 60 > "$T/phase"
	stop_load
	cat "$T/phase"
	status_json hello
	# shown when the test fails: each measurement and the load it saw
	slipway analysis hello || true
	grep -E "Requests/sec|\[[0-9]+\]" "$T/hey.txt" || true
}

@test "README golden: a healthy canary under load is promoted to Healthy" {
	start_daemon
	natural readme_golden ""
	[ "$(cat "$T/phase")" = Healthy ]
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"2.0.0"* ]]
}

@test "Argo-style template: a healthy canary under load is promoted to Healthy" {
	start_daemon
	natural argo_golden ""
	[ "$(cat "$T/phase")" = Healthy ]
}

@test "README golden: a canary with 10% errors under load is aborted" {
	start_daemon
	natural readme_golden "      HELLO_ERROR_RATE: \"0.1\""
	[ "$(cat "$T/phase")" = Degraded ]
	[[ "$(status_json hello)" == *"successCondition result >= 0.99 is false"* ]]
}

@test "Argo-style template: a canary with 10% errors under load is aborted" {
	start_daemon
	natural argo_golden "      HELLO_ERROR_RATE: \"0.1\""
	[ "$(cat "$T/phase")" = Degraded ]
}

@test "README golden: without any traffic the rollout waits for data, then pauses on no data" {
	start_daemon
	natural_app 1.0.0 "" readme_golden > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	natural_app 2.0.0 "" readme_golden > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	# while it waits, status and events say so
	wait_for 15 eval 'slipway status hello | grep -q "waiting for data: 0 of 20 requests"'
	run slipway events hello
	[[ "$output" == *"golden/success-rate: waiting for data"* ]]
	run settles hello 60
	status_json hello
	[ "$output" = Paused ]
	[[ "$(status_json hello)" == *"no data"* ]]
	[ "$(weight_of 2)" = 20 ]
}

@test "Argo-style template: without any traffic the rollout pauses on no data, never Healthy" {
	start_daemon
	natural_app 1.0.0 "" argo_golden > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	natural_app 2.0.0 "" argo_golden > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	run settles hello 60
	status_json hello
	[ "$output" = Paused ]
	[[ "$(status_json hello)" == *"no data"* ]]
}

# ---- quiet apps: the analysis drives its own load (issue 9, item 4) ----

# quiet ENV_YAML: v1, then v2 with no traffic but the analysis's own;
# prints the phase v2's rollout settles in.
quiet() {
	natural_app 1.0.0 "" quiet_golden > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait >/dev/null
	natural_app 2.0.0 "$1" quiet_golden > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml" >/dev/null
	# a deadline, not a wait: ~30 s on an idle machine, more on a busy one
	settles hello 150
}

@test "a quiet app with load in its template: a healthy canary is judged on that load and promoted" {
	start_daemon
	run quiet ""
	echo "settled: $output"
	slipway analysis hello | tail -20
	[ "$output" = Healthy ]
	run slipway events hello
	[[ "$output" == *"LoadStarted"*"synthetic load, 50 requests a second to http://127.0.0.1:$LISTEN/"* ]]
	[[ "$output" == *"LoadStopped"*"requests sent"* ]]
	run slipway analysis hello
	[[ "$output" == *"success-rate"*"Successful"* ]]
	[[ "$output" == *"latency"*"compare"*"Successful"* ]]
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"2.0.0"* ]]
}

@test "a quiet app with load in its template: a canary with 10% errors is aborted, not paused on no data" {
	start_daemon
	run quiet "      HELLO_ERROR_RATE: \"0.1\""
	status_json hello
	[ "$output" = Degraded ]
	[[ "$(status_json hello)" != *"no data"* ]]
	run slipway events hello
	[[ "$output" == *"LoadStopped"* ]]
}

@test "load in a template of an app without route.listen: the analysis is in Error with the reason" {
	start_daemon
	{ app_yaml hello 1.0.0 2 "" "  strategy:
$NATURAL" | sed '/progressDeadline/d'; quiet_golden; } > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	sed 's/1\.0\.0/2.0.0/' "$T/v1.yaml" > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	run settles hello 30
	status_json hello
	[ "$output" = Degraded ]
	[[ "$(status_json hello)" == *"has no route.listen to send load to"* ]]
}
