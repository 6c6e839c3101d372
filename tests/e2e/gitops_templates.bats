#!/usr/bin/env bats
# AnalysisTemplates from git are owned by their Source as its apps are
# (docs/gitops.md): the app and its template written as docs/documents.md
# writes them, a real git repository (tests/e2e/git.bash, over file://)
# and a real daemon, checked through the CLI.

load helpers
load git

bats_require_minimum_version 1.5.0

# template_doc NAME [COUNT]: the AnalysisTemplate of docs/documents.md,
# named NAME, its success-rate measured COUNT times (default 5)
template_doc() {
	cat <<YAML
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: $1}
spec:
  args: [{name: threshold, value: "0.99"}]
  metrics:
    - name: success-rate
      interval: 1s
      count: ${2:-5}
      failureLimit: 1
      successCondition: "result >= 0.99"
      provider: {builtin: {metric: success-rate, window: 10s}}
    - name: latency
      count: 3
      provider: {compare: {metric: latency, maxIncrease: 0.2}}
YAML
}

# the hello app judged by golden at its canary step
canary_hello() {
	hello_doc "$1" "  strategy:
    canary:
      steps:
        - setWeight: 50
        - analysis: {templates: [golden]}"
}

# tmpl_field NAME FIELD: a field of `get analysistemplate NAME --json`
tmpl_field() {
	slipway get analysistemplate "$1" --json |
		python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print("" if v is None else v)' "$2"
}
# src_sync_is NAME WORD: the source's sync is WORD (Synced, OutOfSync)
src_sync_is() {
	slipway get source "$1" --json |
		python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["sync"] == sys.argv[1] else 1)' "$2"
}
events_say() { slipway events | grep -q "$1"; } # events_say REGEX
count_is() { # count_is TEMPLATE N: its success-rate's count is N
	slipway get analysistemplate "$1" --json |
		python3 -c 'import json,sys; m=json.load(sys.stdin)["document"]["spec"]["metrics"][0]; sys.exit(0 if m["count"] == int(sys.argv[1]) else 1)' "$2"
}

# shop [SYNC_POLICY [EXTRA_SPEC_YAML]]: a repository with hello 1.0.0
# (canary, judged by golden), golden and latency in deploy/, a daemon and
# the Source, synced
shop() {
	git_repo_init shop
	git_commit shop deploy/hello.yaml "$(canary_hello 1.0.0)" >/dev/null
	git_commit shop deploy/golden.yaml "$(template_doc golden)" >/dev/null
	SHA=$(git_commit shop deploy/latency.yaml "$(template_doc latency)")
	start_daemon
	source_doc "file://$T/git/shop.git" "${1:+  syncPolicy: $1}
${2:-}" >"$T/source.yaml"
	slipway apply -f "$T/source.yaml"
	slipway sync shop --wait
}

@test "templates from git are owned by the source: get shows source@commit, --json the owner" {
	shop
	run slipway get analysistemplates
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == NAME*METRICS*UPDATED*SOURCE ]]
	[[ "${lines[1]}" == golden*2*"shop@${SHA:0:7}" ]]
	[[ "${lines[2]}" == latency*2*"shop@${SHA:0:7}" ]]
	[ "$(tmpl_field golden owner)" = shop ]
	[ "$(tmpl_field golden commit)" = "$SHA" ]
	run slipway get source shop --json
	[[ "$output" == *'"analysistemplate/golden"'* ]]
	src_sync_is shop Synced
	# a template applied by hand has no owner; its SOURCE is its file
	template_doc mine >"$T/mine.yaml"
	slipway apply -f "$T/mine.yaml"
	[ "$(tmpl_field mine owner)" = "" ]
	run slipway get at mine
	[[ "${lines[1]}" == mine*"mine.yaml" ]]
}

@test "a template removed from git is pruned; one an app still uses is kept, saying why, until it is free" {
	shop "{prune: true}"
	# latency: no app uses it
	git_rm shop deploy/latency.yaml >/dev/null
	run slipway sync shop --dry-run
	[ "$status" -eq 0 ]
	[[ "$output" == *"prune     analysistemplate/latency"* ]]
	run --separate-stderr slipway diff --source shop
	[ "$status" -eq 1 ]
	[[ "$output" == *"--- live/analysistemplate/latency"* ]]
	slipway sync shop
	run slipway get at latency
	[ "$status" -eq 1 ]
	slipway events | grep -q "Pruned.*analysistemplate/latency: not in source shop"
	# golden: hello's canary step names it
	git_rm shop deploy/golden.yaml >/dev/null
	run slipway sync shop --dry-run
	[[ "$output" == *"keep      analysistemplate/golden (not in git; in use by app hello (revision 1))"* ]]
	run --separate-stderr slipway diff --source shop
	[[ "$stderr" == *"analysistemplate/golden is not in git"*"kept (in use by app hello (revision 1))"* ]]
	run slipway sync shop
	[ "$status" -eq 0 ]
	[[ "$output" == *"analysistemplate/golden: not in git at"*"kept, in use by app hello (revision 1); pruned once no app uses it"* ]]
	[ "$(tmpl_field golden owner)" = shop ]
	src_sync_is shop OutOfSync
	# by hand neither: the delete is refused, naming the app
	run slipway delete analysistemplate/golden
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: analysistemplate "golden" is in use by app "hello" (revision 1); nothing deleted' ]
	# hello stops using it; once its new revision is the stable one,
	# the next sync prunes golden
	git_commit shop deploy/hello.yaml "$(hello_doc 2.0.0)" >/dev/null
	slipway sync shop --wait
	slipway sync shop
	run slipway get at golden
	[ "$status" -eq 1 ]
	slipway events | grep -q "Pruned.*analysistemplate/golden"
	src_sync_is shop Synced
}

@test "a template kept in use is pruned by a poll once its app has moved on" {
	shop "{prune: true}" "  interval: 1s"
	git_rm shop deploy/golden.yaml >/dev/null
	git_commit shop deploy/hello.yaml "$(hello_doc 2.0.0)" >/dev/null
	wait_for 20 events_say "Synced.*1 kept in use"
	wait_for 30 refute slipway get at golden
	slipway events | grep -q "Pruned.*analysistemplate/golden: not in source shop"
	wait_for 10 src_sync_is shop Synced
	phase_is hello Healthy
}

@test "prune never removes every app: templates left in git do not count" {
	shop "{prune: true}"
	git_rm shop deploy/hello.yaml >/dev/null
	run slipway sync shop
	[ "$status" -eq 1 ]
	[[ "$output" == *"would prune every app of the source (1)"*"allowEmpty"* ]]
	phase_is hello Healthy
}

@test "a template changed or deleted by hand is drift; selfHeal puts git's back" {
	shop
	template_doc golden 9 >"$T/hand.yaml"
	slipway apply -f "$T/hand.yaml"
	wait_for 10 src_sync_is shop OutOfSync
	run slipway get sources
	[[ "$output" == *"analysistemplate/golden: changed outside git"* ]]
	run slipway get at golden
	[[ "${lines[1]}" == golden*"shop@(by hand)" ]]
	run --separate-stderr slipway diff --source shop
	[ "$status" -eq 1 ]
	[[ "$output" == *"--- live/analysistemplate/golden"*"-      count: 9"*"+      count: 5"* ]]
	# with selfHeal on, git wins at once
	source_doc "file://$T/git/shop.git" "  syncPolicy: {selfHeal: true}" >"$T/source.yaml"
	slipway apply -f "$T/source.yaml"
	wait_for 20 count_is golden 5
	wait_for 10 src_sync_is shop Synced
	[ "$(tmpl_field golden commit)" = "$SHA" ]
	# latency, which no app uses, deleted by hand comes back
	run slipway delete analysistemplate/latency
	[ "$status" -eq 0 ]
	[ "$output" = "analysistemplate/latency deleted" ]
	wait_for 20 slipway get at latency
	[ "$(tmpl_field latency owner)" = shop ]
	slipway events | grep -q "SelfHealed"
	wait_for 10 src_sync_is shop Synced
}

@test "two sources defining one template: the second is refused, naming both" {
	shop
	git_repo_init cart
	git_commit cart deploy/golden.yaml "$(template_doc golden 3)" >/dev/null
	source_doc "file://$T/git/cart.git" | sed 's/name: shop/name: cart/' >"$T/cart.yaml"
	slipway apply -f "$T/cart.yaml"
	run slipway sync cart
	[ "$status" -eq 1 ]
	[[ "$output" == *'deploy/golden.yaml:1:1: AnalysisTemplate "golden" belongs to source "shop"; source "cart" defines it too'* ]]
	run slipway get sources
	[[ "$output" == *cart*refused* ]]
	[ "$(tmpl_field golden owner)" = shop ]
	count_is golden 5
}
