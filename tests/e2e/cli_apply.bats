#!/usr/bin/env bats
# apply as a kubectl user expects it: --dry-run on the server, diff
# against the live state, stdin with a stated base directory, one spelling
# of kinds and of paths, one message for an app defined twice, and --wait's
# exit codes. Documents as docs/cli.md writes them, with defaults.

load helpers


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

PAUSE='  strategy:
    canary:
      steps:
        - setWeight: 50
        - pause: {}'

TIMED='  strategy:
    canary:
      steps:
        - setWeight: 50
        - pause: {duration: 30s}'

revisions() { slipway history hello | tail -n +2 | wc -l; }
events_of() { slipway events --limit 0 | grep -c "$1" || true; }

@test "apply --dry-run: the daemon decides per document as for a real apply and stores nothing" {
	start_daemon
	hello_doc 1.0.0 "" "$GOLDEN" > "$T/v1.yaml"
	run slipway apply -f "$T/v1.yaml" --dry-run
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "app/hello created (dry run)
analysistemplate/golden created (dry run)" ]
	run slipway status hello
	[ "$status" -ne 0 ]
	[[ "$output" == *'app "hello" not found'* ]]
	[ "$(events_of Applied)" = 0 ]
	slipway apply -f "$T/v1.yaml" --wait
	[ "$(revisions)" = 1 ]
	applied=$(events_of Applied)
	# a change, a change of labels only, no change: all said, none made
	hello_doc 2.0.0 "" "$GOLDEN" > "$T/v2.yaml"
	run slipway apply -f "$T/v2.yaml" --dry-run
	[ "$output" = "app/hello configured (dry run)
analysistemplate/golden unchanged (dry run)" ]
	sed 's/^metadata: {name: hello}$/metadata: {name: hello, labels: {team: web}}/' "$T/v1.yaml" > "$T/labels.yaml"
	run slipway apply -f "$T/labels.yaml" --dry-run
	[[ "$output" == "app/hello configured (dry run)"* ]]
	run slipway apply -f "$T/v1.yaml" --dry-run
	[[ "$output" == "app/hello unchanged (dry run)"* ]]
	[ "$(revisions)" = 1 ]
	[ "$(events_of Applied)" = "$applied" ]
	[ "$(events_of Labeled)" = 0 ]
	j=$(status_json hello)
	[ "$(field revision "$j")" = 1 ]
	[[ "$j" == *'"labels": {}'* ]]
	# --json is the API's answer, with what the apply would store
	run slipway apply -f "$T/v2.yaml" --dry-run --json
	[[ "$output" == *'"dryRun": true'* ]]
	[[ "$output" == *'"merged"'*'"version": "2.0.0"'* ]]
	# errors are a real apply's, word for word
	hello_doc 3.0.0 "  replicas: two" > "$T/bad.yaml"
	run slipway apply -f "$T/bad.yaml"
	real=$output
	run slipway apply -f "$T/bad.yaml" --dry-run
	[ "$status" -eq 1 ]
	[ "$output" = "$real" ]
	[[ "$output" == *"bad.yaml:"*"replicas"* ]]
	[ "$(revisions)" = 1 ]
	run slipway apply -f "$T/v1.yaml" --dry-run --wait
	[ "$status" -eq 2 ]
}

@test "diff: a unified diff of the live and the merged document, exit 0 same, 1 different, 2 error" {
	start_daemon
	hello_doc 1.0.0 "" "$GOLDEN" > "$T/v1.yaml"
	# a new app diffs against nothing
	run slipway diff -f "$T/v1.yaml"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"+++ merged/app/hello"* ]]
	[[ "$output" == *"+  name: hello"* ]]
	[[ "$output" == *"+++ merged/analysistemplate/golden"* ]]
	run slipway status hello
	[ "$status" -ne 0 ]
	slipway apply -f "$T/v1.yaml" --wait
	run slipway diff -f "$T/v1.yaml"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# the same app written another way: key order, quoting, defaults spelt out
	cat > "$T/same.yaml" <<YAML
kind: App
apiVersion: "slipway/v1"
metadata:
  name: "hello"
spec:
  route:
    listen: 127.0.0.1:$LISTEN
  readiness:
    http: {path: "/healthz"}
  replicas: 2
  version: 1.0.0
  stop: {signal: SIGTERM, timeout: 10s}
  run: {command: ["$HELLO_BIN", "--port", "\${PORT}"]}
$GOLDEN
YAML
	run slipway diff -f "$T/same.yaml"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# a change, and labels count
	hello_doc 2.0.0 "" "$GOLDEN" | sed 's/^metadata: {name: hello}$/metadata: {name: hello, labels: {team: web}}/' > "$T/v2.yaml"
	run slipway diff -f "$T/v2.yaml"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--- live/app/hello"* ]]
	[[ "$output" == *"+++ merged/app/hello"* ]]
	[[ "$output" == *'-  version: "1.0.0"'* ]]
	[[ "$output" == *'+  version: "2.0.0"'* ]]
	[[ "$output" == *"+    team: web"* ]]
	[[ "$output" != *"analysistemplate"* ]]
	[ "$(revisions)" = 1 ]
	SLIPWAY_EXTERNAL_DIFF="diff -q -r" run slipway diff -f "$T/v2.yaml"
	[ "$status" -eq 1 ]
	[ "$output" = "Files live/app/hello and merged/app/hello differ" ]
	# errors: a bad document names where, and nothing is run or stored
	hello_doc 3.0.0 "  replicas: two" > "$T/bad.yaml"
	run slipway diff -f "$T/bad.yaml"
	[ "$status" -eq 2 ]
	[[ "$output" == "slipway: $T/bad.yaml:"*"replicas"* ]]
	run slipway diff -f "$T/missing.yaml"
	[ "$status" -eq 2 ]
	[ "$(revisions)" = 1 ]
	# no daemon to ask is an error too, not "they differ"
	run slipway --state-dir "$T/nowhere" diff -f "$T/v2.yaml"
	[ "$status" -eq 2 ]
	[[ "$output" == *"cannot connect"* ]]
}

@test "diff: secret values never leave the daemon; a changed one shows as changed" {
	mkdir "$T/secrets"
	start_daemon --secret-dir "$T/secrets"
	printf '1234' > "$T/secrets/pin"
	hello_doc 1.0.0 > "$T/app.yaml"
	sed -i 's|^  run:$|  run:\n    env:\n      - {name: PIN, valueFrom: {file: secrets/pin}}|' "$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	run slipway diff -f "$T/app.yaml"
	[ "$status" -eq 0 ]
	printf '5678' > "$T/secrets/pin"
	run slipway diff -f "$T/app.yaml"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *'-        value: "*** (before)"'* ]]
	[[ "$output" == *'+        value: "*** (after)"'* ]]
	[[ "$output" != *1234* && "$output" != *5678* ]]
}

@test "stdin: identical content is unchanged; relative paths are from --base-dir, said in the output" {
	start_daemon
	mkdir -p "$T/bin" "$T/d"
	cp "$HELLO_BIN" "$T/bin/hello"
	hello_doc 1.0.0 | sed "s|\"$HELLO_BIN\"|\"../bin/hello\"|; s|\"1.0.0\"|\"\${VERSION}\"|" > "$T/d/app.yaml"
	export VERSION=1.0.0
	cd "$T/d"
	envsubst '$VERSION' < app.yaml > app1.yaml
	slipway apply -f app1.yaml --wait
	run slipway apply -f - < app1.yaml
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"(stdin: relative paths from $T/d)"* ]]
	[[ "$output" == *"app/hello unchanged (revision 1)"* ]]
	cd "$T"
	run sh -c 'envsubst "\$VERSION" < d/app.yaml | "$0" apply -f - --base-dir d' "$SLIPWAY_BIN"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"(stdin: relative paths from $T/d)"* ]]
	[[ "$output" == *"app/hello unchanged (revision 1)"* ]]
	# from elsewhere without --base-dir the paths are from here: it says so
	run sh -c 'envsubst "\$VERSION" < d/app.yaml | "$0" apply -f - --dry-run' "$SLIPWAY_BIN"
	[[ "$output" == *"(stdin: relative paths from $T)"* ]]
	[[ "$output" == *"app/hello configured (dry run)"* ]]
	[ "$(revisions)" = 1 ]
	wait_for 10 app_ready_at hello 1 2
	# a stdin document's errors name stdin; --base-dir goes with stdin only
	run sh -c 'printf "apiVersion: slipway/v1\nkind: App\nmetadata: {name: x}\nspec: {replicas: two}\n" | "$0" apply -f -' "$SLIPWAY_BIN"
	[ "$status" -eq 1 ]
	[[ "$output" == *"slipway: stdin:4:"* ]]
	run slipway apply -f d/app1.yaml --base-dir d
	[ "$status" -eq 2 ]
	run slipway apply -f - --base-dir "$T/nowhere" < d/app1.yaml
	[ "$status" -eq 1 ]
	[[ "$output" == *"--base-dir \"$T/nowhere\": No such file or directory"* ]]
}

@test "output: a new template is created, kinds are kind/NAME in lower case, paths as given" {
	start_daemon
	cd "$T"
	hello_doc 1.0.0 "" "$GOLDEN" > v1.yaml
	run slipway validate v1.yaml
	[ "$output" = "app/hello valid (version 1.0.0, 2 replicas)
analysistemplate/golden valid" ]
	run slipway apply -f v1.yaml
	[ "$output" = "app/hello created (revision 1)
analysistemplate/golden created" ]
	run slipway apply -f v1.yaml
	[ "$output" = "app/hello unchanged (revision 1)
analysistemplate/golden unchanged" ]
	sed 's/interval: 1s/interval: 2s/' v1.yaml > v2.yaml
	run slipway apply -f v2.yaml
	[[ "$output" == *"analysistemplate/golden configured" ]]
	# an error names the file as it was given, as validate does
	mkdir sub
	hello_doc 2.0.0 "  replicas: two" > sub/bad.yaml
	run slipway validate sub/bad.yaml
	[ "$status" -eq 1 ]
	[[ "$output" == "sub/bad.yaml:"* ]]
	want=$output
	run slipway apply -f sub/bad.yaml
	[ "$status" -eq 1 ]
	[ "$output" = "slipway: $want" ]
	run slipway apply -f sub
	[ "$output" = "slipway: $want" ]
}

@test "an app defined twice gets one message from validate and apply, with both positions" {
	start_daemon
	cd "$T"
	mkdir two one
	hello_doc 1.0.0 > two/a.yaml
	hello_doc 2.0.0 > two/b.yaml
	run slipway validate two
	[ "$status" -eq 1 ]
	echo "$output"
	[ "$output" = 'two/b.yaml:1:1: app "hello" is defined twice (first at two/a.yaml:1:1)' ]
	run slipway apply -f two
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: two/b.yaml:1:1: app "hello" is defined twice (first at two/a.yaml:1:1)' ]
	{ hello_doc 1.0.0; echo ---; hello_doc 2.0.0; } > one/app.yaml
	run slipway validate one/app.yaml
	want=$output
	[[ "$want" == 'one/app.yaml:'*': app "hello" is defined twice (first at one/app.yaml:1:1)' ]]
	run slipway apply -f one/app.yaml
	[ "$output" = "slipway: $want" ]
	run slipway status hello
	[ "$status" -ne 0 ]
}

@test "apply --wait exits as rollout status --watch: 0 Healthy, 3 paused, 4 timed out, 1 aborted" {
	start_daemon
	hello_doc 1.0.0 "$PAUSE" > "$T/v1.yaml"
	run timeout 120 "$SLIPWAY_BIN" apply -f "$T/v1.yaml" --wait
	[ "$status" -eq 0 ]
	hello_doc 2.0.0 "$PAUSE" > "$T/v2.yaml"
	run timeout 120 "$SLIPWAY_BIN" apply -f "$T/v2.yaml" --wait
	echo "$output"
	[ "$status" -eq 3 ]
	[[ "$output" == *'Paused: waiting for "slipway rollout promote hello"'* ]]
	# it prints changes only: no line twice in a row
	[ -z "$(printf '%s\n' "$output" | uniq -d)" ]
	slipway rollout promote hello
	wait_for 60 app_ready_at hello 2 2
	hello_doc 3.0.0 "$TIMED" > "$T/v3.yaml"
	run timeout 120 "$SLIPWAY_BIN" apply -f "$T/v3.yaml" --wait --timeout 2s
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"hello: timed out after 2s waiting for its rollout"* ]]
	# aborted while it waits: exit 1
	"$SLIPWAY_BIN" apply -f "$T/v3.yaml" --wait > "$T/wait.out" 2>&1 &
	pid=$!
	wait_for 30 grep -q "pause" "$T/wait.out"
	slipway rollout abort hello
	rc=0
	wait "$pid" || rc=$?
	cat "$T/wait.out"
	[ "$rc" -eq 1 ]
}
