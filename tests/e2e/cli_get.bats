#!/usr/bin/env bats
# The read side a kubectl user expects: get KIND [NAME] for every kind,
# -o json|yaml|wide|name, labels and -l selectors, describe, get -w.
# Apps are examples/hello-rolling.yaml as shipped (defaults), copied to a
# temp dir with the demo app where it expects it and its listener in our
# port range.

load helpers

# example [SED_SCRIPT]: examples/hello-rolling.yaml in $T/examples, with
# ../build/hello there and its listener moved to $LISTEN.
example() {
	mkdir -p "$T/examples" "$T/build"
	ln -sf "$HELLO_BIN" "$T/build/hello"
	sed -e "s/127\.0\.0\.1:8083/127.0.0.1:$LISTEN/" -e "${1:-}" \
		"$BATS_TEST_DIRNAME/../../examples/hello-rolling.yaml" >"$T/examples/app.yaml"
	echo "$T/examples/app.yaml"
}

# The template of the README's canary example.
golden() {
	cat >"$T/examples/golden.yaml" <<'YAML'
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata:
  name: golden
  labels: {team: web}
spec:
  metrics:
    - name: success-rate
      interval: 1s
      count: 5
      failureLimit: 1
      successCondition: "result >= 0.99"
      provider: {builtin: {metric: success-rate}}
YAML
	echo "$T/examples/golden.yaml"
}

labelled='s/^  name: hello-rolling$/  name: hello-rolling\n  labels: {team: web, tier: front}/'

start() {
	start_daemon --port-range "$PORT_BASE-$((PORT_BASE + 98))"
	slipway apply -f "$(example "$labelled")" --wait
	slipway apply -f "$(golden)"
}

@test "get: every kind, by name and as a list; kinds by alias; unknown kind and name" {
	start
	run slipway get apps
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == NAME*STRATEGY*PHASE*STABLE*READY*CANARY*CANARY-READY*WEIGHT ]]
	[[ "${lines[1]}" == hello-rolling*rolling*Healthy*"1 (1.0.0)"*3/3* ]]
	run slipway get app hello-rolling
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	run slipway get at
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == NAME*METRICS*UPDATED*SOURCE ]]
	[[ "${lines[1]}" == golden*1*golden.yaml ]]
	run slipway get analysistemplate golden -o json
	[ "$status" -eq 0 ]
	[[ "$output" == *'"successCondition": "result >= 0.99"'* ]]
	run slipway get instances
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == NAME*APP*REVISION*VERSION*STATE*READY*RESTARTS ]]
	[ "${#lines[@]}" -eq 4 ]
	run slipway get inst --app hello-rolling -o name
	[ "$output" = "$(printf 'instance/hello-rolling-1\ninstance/hello-rolling-2\ninstance/hello-rolling-3')" ]
	run slipway get instance hello-rolling-2
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == hello-rolling-2*hello-rolling*1*1.0.0*Running*yes*0 ]]
	run slipway get revisions hello-rolling
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == 1*1.0.0*desired,stable ]]
	run slipway get rev --app hello-rolling 1 -o name
	[ "$output" = revision/1 ]
	run slipway get revisions
	[ "$status" -eq 2 ]
	[[ "$output" == *"revisions belong to an app"* ]]
	run slipway get all
	[ "$status" -eq 0 ]
	[[ "$output" == *app/hello-rolling*analysistemplate/golden*instance/hello-rolling-1* ]]
	run slipway get app nope
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: app "nope" not found' ]
	run slipway get at nope
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: analysistemplate "nope" not found' ]
	run slipway get instance nope
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: instance "nope" not found' ]
	run slipway get rev hello-rolling 9
	[ "$status" -eq 1 ]
	[[ "$output" == *'revision "9" of app "hello-rolling" not found'* ]]
	run slipway get instances --app nope
	[ "$status" -eq 1 ]
	[[ "$output" == *'app "nope" not found'* ]]
	run slipway get aps
	[ "$status" -eq 2 ]
	[[ "$output" == *'unknown kind "aps", did you mean "apps"?'*analysistemplates*instances*revisions* ]]
}

@test "get -o: json (and --json), yaml, wide and name for every kind" {
	start
	run slipway get apps -o json
	[ "$status" -eq 0 ]
	[[ "$output" == *'"labels": {'*'"team": "web"'* ]]
	[ "$(slipway get apps --json)" = "$output" ]
	run slipway get apps -o yaml
	[ "$status" -eq 0 ]
	[[ "$output" == "apps:"* ]]
	[[ "$output" == *'    version: "1.0.0"'* ]]
	[[ "$output" == *$'    labels:\n      team: web\n      tier: front'* ]]
	run slipway get app hello-rolling -o yaml
	[[ "$output" == "name: hello-rolling"* ]]
	run slipway get apps -o wide
	[[ "${lines[0]}" == *STEP*LISTEN*HOST*LABELS ]]
	[[ "${lines[1]}" == *"127.0.0.1:$LISTEN"*team=web,tier=front ]]
	run slipway get at -o wide
	[[ "${lines[1]}" == golden*success-rate*team=web ]]
	run slipway get inst -o wide
	[[ "${lines[0]}" == *PID*PORT*CREATED*REASON ]]
	run slipway get rev hello-rolling -o wide
	[[ "${lines[0]}" == *SOURCE*HASH ]]
	run slipway get apps -o name
	[ "$output" = app/hello-rolling ]
	run slipway get at -o name
	[ "$output" = analysistemplate/golden ]
	run slipway get at -o yaml
	[[ "$output" == *'successCondition: "result >= 0.99"'* ]]
	run slipway get inst -o yaml
	[[ "$output" == *"app: hello-rolling"* ]]
	run slipway get all -o name
	[ "${#lines[@]}" -eq 5 ]
	run slipway get apps -o xml
	[ "$status" -eq 2 ]
	[[ "$output" == *"--output must be one of json, yaml, wide, name"* ]]
}

@test "labels: kept, selected with kubectl's syntax; a bad selector is an error; a label change is no rollout" {
	start
	sel() { slipway get "$1" -l "$2" -o name; }
	[ "$(sel apps team=web)" = app/hello-rolling ]
	[ "$(sel apps team==web)" = app/hello-rolling ]
	[ -z "$(sel apps team!=web)" ]
	[ "$(sel apps 'tier in (back,front)')" = app/hello-rolling ]
	[ -z "$(sel apps 'tier notin (front)')" ]
	[ "$(sel apps team)" = app/hello-rolling ]
	[ -z "$(sel apps '!team')" ]
	[ "$(sel apps 'team=web,tier=front')" = app/hello-rolling ]
	[ -z "$(sel apps 'team=web,tier=back')" ]
	[ "$(sel at team=web)" = analysistemplate/golden ]
	[ -z "$(sel at team=db)" ]
	[ "$(sel instances team=web | wc -l)" -eq 3 ]
	[ -z "$(sel instances team=db)" ]
	[ "$(slipway get rev hello-rolling -l team=web -o name)" = revision/1 ]
	[ -z "$(slipway get rev hello-rolling -l team=db -o name)" ]
	run slipway get rev nope -l team=db
	[ "$status" -eq 1 ]
	[[ "$output" == *'app "nope" not found'* ]]
	run slipway get apps -l 'team in (web'
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: bad selector "team in (web": column 13: missing ")"' ]
	run slipway get apps -l 'team=web tier=front'
	[ "$status" -eq 1 ]
	[[ "$output" == *"column 10: expected \",\" between requirements"* ]]
	# a change of labels only: configured, no new revision, no rollout
	slipway apply -f "$(example 's/^  name: hello-rolling$/  name: hello-rolling\n  labels: {team: db}/')" >"$T/out"
	grep -q 'app/hello-rolling configured (revision 1)' "$T/out"
	[ "$(sel apps team=db)" = app/hello-rolling ]
	[ -z "$(sel apps tier)" ]
	[ "$(slipway get revisions hello-rolling -o name)" = revision/1 ]
	[ "$(slipway get inst -o name | wc -l)" -eq 3 ]
	# the same again: unchanged; labels survive a restart of the daemon
	slipway apply -f "$T/examples/app.yaml" | grep -q 'unchanged'
	stop_daemon
	start_daemon --port-range "$PORT_BASE-$((PORT_BASE + 98))"
	[ "$(sel apps team=db)" = app/hello-rolling ]
	# a bad label is refused where it is written
	run slipway validate -f "$(example 's/^  name: hello-rolling$/  name: hello-rolling\n  labels: {"te am": x}/')"
	[ "$status" -ne 0 ]
	[[ "$output" == *"app.yaml:6:"*'bad label key "te am"'* ]]
}

@test "describe: app, analysistemplate and instance sections" {
	start
	run slipway describe app hello-rolling
	[ "$status" -eq 0 ]
	[[ "$output" == *"Name:                 hello-rolling"* ]]
	[[ "$output" == *$'Labels:               team=web\n                      tier=front'* ]]
	[[ "$output" == *"Spec:"*"Version:            1.0.0"*"Replicas:           3"* ]]
	[[ "$output" == *"Route:              127.0.0.1:$LISTEN"* ]]
	[[ "$output" == *"Strategy:           rolling"*"maxSurge: 1"* ]]
	[[ "$output" == *"Status:"*"Phase:              Healthy"*"Stable:             revision 1 (version 1.0.0), 3/3 ready"* ]]
	[[ "$output" == *"Conditions:"*"Available     True     3/3 instances ready"* ]]
	[[ "$output" == *"Instances:"*hello-rolling-1*hello-rolling-3* ]]
	[[ "$output" == *"Events:"*Applied*InstanceReady*Healthy* ]]
	# events newest last, at most 10
	[[ "$(printf '%s\n' "$output" | sed -n '/^Events:/,$p' | tail -1)" == *Healthy*"revision 1 is fully rolled out"* ]]
	[ "$(printf '%s\n' "$output" | sed -n '/^Events:/,$p' | wc -l)" -le 12 ]
	run slipway describe at golden
	[ "$status" -eq 0 ]
	[[ "$output" == *"Kind:                 AnalysisTemplate"*"Labels:               team=web"* ]]
	[[ "$output" == *"Metrics:"*"success-rate:"*'successCondition: "result >= 0.99"'* ]]
	run slipway describe instance hello-rolling-1
	[ "$status" -eq 0 ]
	[[ "$output" == *"App:                  hello-rolling"*"State:                Running"* ]]
	[[ "$output" == *"Events:"*"instance hello-rolling-1 is ready"* ]]
	[[ "$output" != *hello-rolling-2* ]]
	run slipway describe app hello-rolling -o yaml
	[[ "$output" == *"events:"* ]]
	run slipway describe app nope
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: app "nope" not found' ]
	run slipway describe pod x
	[ "$status" -eq 2 ]
}

@test "get -w: the list, then a row for each change; --watch-only: changes only" {
	start
	slipway get apps -w >"$T/watch" 2>&1 3>&- &
	local w=$!
	slipway get apps --watch-only -o name >"$T/watch-only" 2>&1 3>&- &
	local wo=$!
	wait_for 10 grep -q Healthy "$T/watch"
	slipway apply -f "$(example "$labelled"';s/version: "1.0.0"/version: "1.0.1"/')" --wait
	wait_for 15 grep -q 'hello-rolling *rolling *Healthy *2 (1.0.1) *3/3' "$T/watch"
	wait_for 15 grep -q app/hello-rolling "$T/watch-only"
	kill "$w" "$wo"
	wait "$w" "$wo" 2>/dev/null || true
	[ "$(grep -c '^NAME' "$T/watch")" -eq 1 ]
	grep -q 'hello-rolling *rolling *Healthy *1 (1.0.0)' "$T/watch"
	grep -q 'hello-rolling *rolling *Progressing *1 (1.0.0)' "$T/watch"
	refute grep -q NAME "$T/watch-only"
}
