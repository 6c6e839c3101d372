#!/usr/bin/env bats
# The locked-down API: tokens and roles on TCP, hostile bodies, secrets
# that never leave the instance, private files.

load helpers

# api_code TOKEN METHOD PATH [BODY]: the HTTP status of one TCP call; the
# body lands in $T/body.
api_code() {
	local tok=$1 method=$2 path=$3
	shift 3
	local auth=()
	[ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
	curl -s -o "$T/body" -w '%{http_code}' "${auth[@]}" -X "$method" \
		-H 'Content-Type: application/json' "$@" "http://127.0.0.1:$API$path"
}

# expect CODE TOKEN METHOD PATH [curl args]: fails with what came back.
expect() {
	local want=$1 got
	shift
	got=$(api_code "$@")
	if [ "$got" != "$want" ]; then
		echo "$2 $3 with token ${1:0:8}...: want $want, got $got: $(cat "$T/body")" >&2
		return 1
	fi
}

start_api_daemon() {
	API=$((PORT_BASE + 99))
	start_daemon --api "127.0.0.1:$API" "$@"
	ROOT=$(cat "$T/state/token")
}

apply_body() { # apply_body FILE: the /v1/apply body for one YAML file
	printf '{"files":[{"path":"%s","content":%s}]}' "$1" \
		"$(sed 's/\\/\\\\/g; s/"/\\"/g' "$1" | awk '{printf "%s\\n", $0}' | sed 's/^/"/; s/$/"/')"
}

@test "tokens: create prints the token once, list never shows it, revoke stops it at once" {
	start_api_daemon
	run slipway token create ci --role viewer
	[ "$status" -eq 0 ]
	tok=$(printf '%s\n' "$output" | grep '^sw_')
	[ -n "$tok" ]
	[[ "$output" == *'token "ci" (role viewer) created; it is shown only this once'* ]]
	# only the hash is stored
	absent "$tok" "$T/state/state.db" "$T/state/state.db-wal"

	run slipway token create ci --role admin
	[ "$status" -eq 1 ]
	[[ "$output" == *'token "ci" exists'* ]]
	run slipway token create root --role admin
	[ "$status" -eq 1 ]
	[[ "$output" == *'token name "root" is reserved'* ]]
	run slipway token create x --role superuser
	[ "$status" -eq 1 ]
	[[ "$output" == *'unknown role "superuser" (admin, deployer, viewer)'* ]]
	run slipway token create ci2
	[ "$status" -eq 2 ]

	expect 200 "$tok" GET /v1/apps
	run slipway token list
	[ "$status" -eq 0 ]
	[[ "$output" == *"NAME"*"ROLE"*"CREATED"*"LAST USED"* ]]
	[[ "$output" == *"ci "*"viewer"*"20"*"Z"* ]]
	[[ "$output" != *"never"* ]] # it was used just now
	[[ "$output" != *"$tok"* ]]
	run slipway token list --json
	[[ "$output" != *"$tok"* ]]
	[[ "$output" != *'"hash"'* ]]

	run slipway token revoke ci
	[ "$status" -eq 0 ]
	[ "$output" = "token/ci revoked" ]
	expect 401 "$tok" GET /v1/apps
	run slipway token revoke ci
	[ "$status" -eq 1 ]
	[[ "$output" == *'token "ci" not found'* ]]

	# the same over the API, as admin
	expect 201 "$ROOT" POST /v1/tokens -d '{"name":"ops","role":"admin"}'
	grep -q '"name":"ops","role":"admin","token":"sw_' "$T/body" ||
		grep -q '"token":"sw_' "$T/body"
	expect 200 "$ROOT" GET /v1/tokens
	grep -q '"name":"ops"' "$T/body"
	expect 200 "$ROOT" DELETE /v1/tokens/ops
	expect 404 "$ROOT" DELETE /v1/tokens/ops
	expect 409 "$ROOT" DELETE /v1/tokens/root

	# token events name who did it and never hold the token
	run slipway events --json
	[[ "$output" == *'"kind": "TokenCreated"'* ]]
	[[ "$output" == *'"kind": "TokenRevoked"'* ]]
	[[ "$output" == *'"actor": "root"'* ]]
	[[ "$output" == *'"actor": "local"'* ]]
	[[ "$output" != *"sw_"* ]]
	absent "$tok" "$T/daemon.log"
}

@test "roles: every role against allowed and forbidden endpoints, with exact codes" {
	start_api_daemon
	viewer=$(slipway token create look --role viewer 2>/dev/null)
	deployer=$(slipway token create ci-deploy --role deployer 2>/dev/null)
	admin=$(slipway token create ops --role admin 2>/dev/null)
	app_yaml hello 1.0.0 1 > "$T/app.yaml"
	apply_body "$T/app.yaml" > "$T/apply.json"

	# viewer: reads only
	expect 200 "$viewer" GET /v1/apps
	expect 200 "$viewer" GET /v1/events
	expect 403 "$viewer" POST /v1/apply --data-binary "@$T/apply.json"
	[ "$(cat "$T/body")" = '{"error":"token \"look\" (role viewer) may not POST /v1/apply"}' ]
	expect 403 "$viewer" POST /v1/apps/hello/rollback -d '{}'
	expect 403 "$viewer" POST /v1/apps/hello/rollout/promote -d '{}'
	expect 403 "$viewer" DELETE /v1/apps/hello
	expect 403 "$viewer" GET /v1/tokens
	expect 403 "$viewer" POST /v1/tokens -d '{"name":"x","role":"admin"}'

	# deployer: reads, apply and operating rollouts; no tokens
	expect 200 "$deployer" POST /v1/apply --data-binary "@$T/apply.json"
	grep -q '"result":"created"' "$T/body"
	wait_for 15 app_ready_at hello 1 1
	expect 200 "$deployer" GET /v1/apps/hello
	expect 409 "$deployer" POST /v1/apps/hello/rollback -d '{}' # allowed: nothing to go back to
	expect 404 "$deployer" POST /v1/apps/nope/rollout/promote -d '{}'
	expect 404 "$deployer" DELETE /v1/apps/nope
	expect 403 "$deployer" GET /v1/tokens
	[ "$(cat "$T/body")" = '{"error":"token \"ci-deploy\" (role deployer) may not GET /v1/tokens"}' ]
	expect 403 "$deployer" POST /v1/tokens -d '{"name":"x","role":"admin"}'
	expect 403 "$deployer" DELETE /v1/tokens/look

	# admin and root: everything
	expect 200 "$admin" GET /v1/tokens
	expect 201 "$admin" POST /v1/tokens -d '{"name":"x","role":"viewer"}'
	expect 200 "$admin" DELETE /v1/tokens/x
	expect 200 "$ROOT" GET /v1/tokens
	expect 200 "$deployer" DELETE /v1/apps/hello

	# the audit trail names the token of every change
	run slipway events --app hello
	[[ "$output" == *"Applied"*"ci-deploy"*"applied revision 1"* ]]
	[[ "$output" == *"Deleted"*"ci-deploy"* ]]
	# templates too, once per change
	cat > "$T/golden.yaml" <<'YAML'
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: golden}
spec:
  metrics:
    - name: success-rate
      interval: 1s
      count: 5
      successCondition: "result >= 0.99"
      provider: {builtin: {metric: success-rate}}
YAML
	SLIPWAY_API=127.0.0.1:$API SLIPWAY_TOKEN=$deployer slipway apply -f "$T/golden.yaml"
	SLIPWAY_API=127.0.0.1:$API SLIPWAY_TOKEN=$deployer slipway apply -f "$T/golden.yaml"
	run slipway events
	[ "$(printf '%s\n' "$output" | grep -c 'TemplateApplied *ci-deploy *AnalysisTemplate "golden" applied')" -eq 1 ]
	[[ "$output" == *"TokenCreated"*"ops"*'token "x" created with role viewer'* ]]
	[[ "$output" == *"TokenRevoked"*"ops"*'token "x" revoked'* ]]
}

@test "bad, missing and revoked tokens get 401" {
	start_api_daemon
	tok=$(slipway token create gone --role admin 2>/dev/null)
	expect 200 "$tok" GET /v1/apps
	slipway token revoke gone
	expect 401 "$tok" GET /v1/apps
	expect 401 "$tok" POST /v1/tokens -d '{"name":"back","role":"admin"}'
	expect 401 "" GET /v1/apps
	expect 401 "" POST /v1/apply -d '{}'
	expect 401 "nope" GET /v1/apps
	expect 401 "${ROOT}x" GET /v1/apps
	expect 401 "${ROOT:0:63}" GET /v1/apps
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic $ROOT" "http://127.0.0.1:$API/v1/apps"
	[ "$output" = 401 ]
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer" "http://127.0.0.1:$API/v1/apps"
	[ "$output" = 401 ]
	expect 200 "$ROOT" GET /v1/apps
}

@test "malformed JSON and oversized bodies get 4xx on every mutating endpoint; the daemon keeps serving" {
	start_api_daemon
	app_yaml hello 1.0.0 1 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml"
	wait_for 15 app_ready_at hello 1 1

	for body in '{' 'not json' '{"files": [' '[1,2' '"' '{"a":1}}' $'\x01\x02'; do
		expect 400 "$ROOT" POST /v1/apply --data-binary "$body"
		expect 400 "$ROOT" POST /v1/apps/hello/rollback --data-binary "$body"
		expect 400 "$ROOT" POST /v1/apps/hello/rollout/promote --data-binary "$body"
		expect 400 "$ROOT" POST /v1/tokens --data-binary "$body"
	done
	# valid JSON of the wrong shape
	expect 400 "$ROOT" POST /v1/apply -d '[]'
	expect 400 "$ROOT" POST /v1/apply -d '{"files": "x"}'
	expect 400 "$ROOT" POST /v1/apply -d '{"files": [{"path": 1}]}'
	expect 400 "$ROOT" POST /v1/apps/hello/rollback -d '{"to": "x"}'
	expect 400 "$ROOT" POST /v1/apps/hello/rollback -d '{"to": -3}'
	expect 400 "$ROOT" POST /v1/apps/hello/rollout/pause -d '[]'
	expect 400 "$ROOT" POST /v1/tokens -d '[]'
	expect 400 "$ROOT" POST /v1/tokens -d '{"name": 1, "role": "admin"}'
	expect 400 "$ROOT" POST /v1/tokens -d '{"name": "../x", "role": "admin"}'
	expect 422 "$ROOT" POST /v1/apply -d '{"files": [{"path": "/x.yaml", "content": "a: [1"}]}'

	# 2 MiB bodies, over the 1 MiB limit (9 MiB for apply, whose limit is made for 4 MiB of documents)
	head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'x' > "$T/big"
	head -c $((9 * 1024 * 1024)) /dev/zero | tr '\0' 'x' > "$T/bigger"
	expect 413 "$ROOT" POST /v1/apply --data-binary "@$T/bigger"
	for ep in "POST /v1/apps/hello/rollback" "POST /v1/apps/hello/rollout/promote" \
		"POST /v1/tokens" "DELETE /v1/apps/hello" "DELETE /v1/tokens/x"; do
		expect 413 "$ROOT" $ep --data-binary "@$T/big"
		# and over the unix socket
		run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T/state/slipway.sock" \
			-X ${ep% *} --data-binary "@$T/big" "http://slipway${ep#* }"
		[ "$output" = 413 ]
	done
	# headers over 16 KiB
	run curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' y)" \
		-H "Authorization: Bearer $ROOT" "http://127.0.0.1:$API/v1/apps"
	[ "$output" = 431 ]

	# still serving, nothing changed
	expect 200 "$ROOT" GET /v1/apps
	kill -0 "$DAEMON_PID"
	app_ready_at hello 1 1
	run slipway history hello --json
	[ "$(printf '%s\n' "$output" | grep -c '"revision":')" -eq 1 ]
}

@test "a secret from a file never shows in logs, events, status, history or API output" {
	start_api_daemon --secret-dir "$T/secrets"
	secret="s3cr3t-$RANDOM-$RANDOM-value"
	mkdir -p "$T/secrets"
	printf '%s\n' "$secret" > "$T/secrets/api-key"
	cat > "$T/app.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: hush}
spec:
  version: "1.0.0"
  replicas: 1
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
    env:
      - {name: GREETING, value: hi}
      - {name: API_KEY, valueFrom: {file: secrets/api-key}}
  readiness: {http: {path: /healthz}, period: 200ms, timeout: 500ms, failureThreshold: 2}
YAML
	run slipway apply -f "$T/app.yaml"
	[ "$status" -eq 0 ]
	[[ "$output" != *"$secret"* ]]
	wait_for 15 app_ready_at hush 1 1
	# the instance does get it
	pid=$(instance_fields hush pid)
	tr '\0' '\n' < "/proc/$pid/environ" | grep -qx "API_KEY=$secret"
	# a second revision and a rollback, so that there are more events
	sed -i 's/version: "1.0.0"/version: "1.0.1"/' "$T/app.yaml"
	slipway apply -f "$T/app.yaml"
	wait_for 15 app_ready_at hush 2 1
	slipway rollback hush
	wait_for 15 app_ready_at hush 3 1 || wait_for 15 app_ready_at hush 1 1

	: > "$T/out"
	for cmd in "events --json" "events" "status hush --json" "status hush" "history hush --json" \
		"history hush" "get apps --json" "logs hush" "logs hush --json" "routes --json" \
		"rollout status hush --json"; do
		slipway $cmd >> "$T/out" 2>&1 || true
	done
	for path in /v1/apps /v1/apps/hush /v1/apps/hush/history /v1/events /v1/routes \
		/v1/apps/hush/logs /v1/apps/hush/analysis /v1/version /metrics; do
		curl -s --unix-socket "$T/state/slipway.sock" "http://slipway$path" >> "$T/out"
		curl -s -H "Authorization: Bearer $ROOT" "http://127.0.0.1:$API$path" >> "$T/out"
	done
	grep -q '"kind": "Applied"' "$T/out"   # the outputs are really there
	absent "$secret" "$T/out"
	absent "$secret" "$T/daemon.log" "$T/state/logs"
	absent "$secret" "$T/state" --exclude='state.db*'
}

@test "a secret file with CRLF line endings deploys, and its CR reaches the instance" {
	# written on Windows or pasted from a browser: the daemon took it and
	# then could not read its own stored revision (the app stayed
	# Progressing, with a warning every half second)
	start_api_daemon --secret-dir "$T/secrets"
	mkdir -p "$T/secrets"
	printf 'line1\r\nline2\r\n' > "$T/secrets/cert"
	cat > "$T/app.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: crlf}
spec:
  version: "1.0.0"
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
    env:
      - {name: CERT, valueFrom: {file: secrets/cert}}
  readiness: {http: {path: /healthz}}
YAML
	slipway apply -f "$T/app.yaml"
	wait_for 15 app_ready_at crlf 1 1
	pid=$(instance_fields crlf pid)
	tr '\0' '\n' < "/proc/$pid/environ" | grep -q $'^CERT=line1\r$'
	absent "control character" "$T/daemon.log"
}

@test "the state dir, its sockets, database, token and logs are private" {
	start_api_daemon
	app_yaml hello 1.0.0 1 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml"
	wait_for 15 app_ready_at hello 1 1
	[ "$(stat -c %a "$T/state")" = 700 ]
	for f in slipway.sock token lock state.db state.db-wal state.db-shm; do
		echo "$f: $(stat -c %a "$T/state/$f")"
		[ "$(stat -c %a "$T/state/$f")" = 600 ]
	done
	[ "$(stat -c %a "$T/state/logs")" = 700 ]
	[ "$(stat -c %a "$T/state/logs/hello")" = 700 ]
	n=0
	for f in "$T"/state/logs/hello/*.log; do
		echo "$f: $(stat -c %a "$f")"
		[ "$(stat -c %a "$f")" = 600 ]
		n=$((n + 1))
	done
	[ "$n" -ge 1 ]
	# a daemon started on a loosened dir tightens it again
	stop_daemon
	chmod 755 "$T/state"
	start_daemon
	[ "$(stat -c %a "$T/state")" = 700 ]
}

@test "idle TCP connections cannot lock the local operator out; strangers get a short header timeout and a clear 503" {
	start_api_daemon
	app_yaml hello 1.0.0 1 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml"
	wait_for 15 app_ready_at hello 1 1
	# 300 connections that never send a byte, held by a process of this test
	cat > "$T/hold.sh" <<SH
for i in \$(seq 1 300); do exec {fd}<>/dev/tcp/127.0.0.1/$API || true; done
touch "$T/holding"
exec -a "$T/holder" sleep 120
SH
	bash "$T/hold.sh" 3>&- &
	HOLDER=$!
	wait_for 10 test -f "$T/holding"
	# the operator on the unix socket is answered at once
	run slipway status hello
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Phase:      Healthy"* ]]
	# a TCP client from the same address is told why, not hung up on
	run env SLIPWAY_TOKEN="$ROOT" "$SLIPWAY_BIN" --api "127.0.0.1:$API" get apps
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"too many connections from 127.0.0.1 (at most 32 at a time); try again later"* ]]
	# the daemon's log says so, without a line per refusal
	grep -q 'connection refused since the last report; the latest: too many connections from 127.0.0.1' "$T/daemon.log"
	[ "$(grep -c 'refused since the last report' "$T/daemon.log")" -le 2 ]
	# the silent ones are dropped after the header timeout, not the 60 s idle one
	wait_for 15 expect 200 "$ROOT" GET /v1/apps
	kill "$HOLDER"
	wait "$HOLDER" 2>/dev/null || true
}

@test "the CLI reads its token from --token-file or SLIPWAY_TOKEN; --token works but warns that every local user can read it" {
	start_api_daemon
	tok=$(slipway token create ci --role viewer 2>/dev/null)
	printf '%s\n' "$tok" > "$T/ci.token"
	chmod 600 "$T/ci.token"
	run "$SLIPWAY_BIN" --api "127.0.0.1:$API" --token-file "$T/ci.token" get apps
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"no apps"* ]]
	[[ "$output" != *warning* ]]
	run env SLIPWAY_TOKEN="$tok" "$SLIPWAY_BIN" --api "127.0.0.1:$API" get apps
	[ "$status" -eq 0 ]
	[[ "$output" != *warning* ]]
	run "$SLIPWAY_BIN" --api "127.0.0.1:$API" --token "$tok" get apps
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"slipway: warning: a token given with --token can be read by every local user (ps, /proc/PID/cmdline); use --token-file FILE or \$SLIPWAY_TOKEN"* ]]
	# the viewer token is what was used: it may not create tokens
	run "$SLIPWAY_BIN" --api "127.0.0.1:$API" --token-file "$T/ci.token" token create x --role admin
	[ "$status" -eq 1 ]
	[[ "$output" == *'(role viewer) may not POST /v1/tokens'* ]]
	run "$SLIPWAY_BIN" --api "127.0.0.1:$API" --token-file "$T/missing" get apps
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot read the token file \"$T/missing\""* ]]
	# the local CLI needs no token file at all: the daemon knows its uid
	mv "$T/state/token" "$T/token.moved"
	run slipway token create ops --role viewer
	[ "$status" -eq 0 ]
	mv "$T/token.moved" "$T/state/token"
}

@test "control characters: refused in documents with a position, escaped in everything the CLI prints (logs too, unless --raw)" {
	start_daemon
	app_yaml hello 1.0.0 1 > "$T/app.yaml"
	printf 'apiVersion: slipway/v1\nkind: App\nmetadata: {name: bad}\nspec:\n  version: "1.0\\e[2K\\rforged"\n  run: {command: ["%s"]}\n' \
		"$HELLO_BIN" > "$T/bad.yaml"
	run slipway validate "$T/bad.yaml"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == "$T/bad.yaml:5:12: version contains the control character U+001B; only tab and newline may appear in text, got "* ]]
	[[ "$output" != *$'\e'* ]]
	run slipway apply -f "$T/bad.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.yaml:5:12: version contains the control character U+001B"* ]]
	run slipway get apps
	[[ "$output" == *"no apps"* ]]
	# an env value may span lines: newline and tab pass
	app_yaml hello 1.0.0 1 "      MOTD: \"line one\\n\\tline two\"" > "$T/app.yaml"
	slipway validate "$T/app.yaml"

	# what an instance writes is shown escaped; --raw gives the bytes
	cat > "$T/loud.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: loud}
spec:
  version: "1.0.0"
  run:
    command: ["sh", "-c", "printf 'ok \\\\033[31mred\\\\033[0m bell\\\\a done\\\\n'; exec \"\$0\" --port \"\$PORT\"", "$HELLO_BIN"]
  readiness: {http: {path: /healthz}, period: 200ms}
YAML
	slipway apply -f "$T/loud.yaml"
	wait_for 15 app_ready_at loud 1 1
	wait_for 10 sh -c "\"$SLIPWAY_BIN\" logs loud | grep -q done"
	run slipway logs loud
	echo "$output"
	[[ "$output" == *'ok \x1b[31mred\x1b[0m bell\x07 done'* ]]
	[[ "$output" != *$'\e'* ]]
	[[ "$output" != *$'\a'* ]]
	run slipway logs loud --raw
	[[ "$output" == *$'ok \e[31mred\e[0m bell\a done'* ]]
}

@test "the CLI percent-encodes what it puts in a path or query: --instance is one value" {
	start_daemon
	app_yaml hello 1.0.0 1 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml"
	wait_for 15 app_ready_at hello 1 1
	id=$(instance_fields hello id | head -1)
	run slipway logs hello --instance "$id"
	[ "$status" -eq 0 ]
	# not a second query parameter smuggled in
	run slipway logs hello --instance "$id&tail=0"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"app \"hello\" has no instance \"$id&tail=0\""* ]]
	run slipway logs hello --instance "a b"
	[ "$status" -eq 1 ]
	[[ "$output" == *'app "hello" has no instance "a b"'* ]]
	run slipway status 'hello/../hello'
	[ "$status" -eq 1 ]
	[[ "$output" == *'not found'* ]]
}

@test "one document size limit (4 MiB): apply takes what validate takes, and both refuse more naming the file" {
	start_daemon
	# 2.5 MiB of documents, mostly quotes, backslashes and newlines: it grows in JSON
	app_yaml hello 1.0.0 1 > "$T/app.yaml"
	awk 'BEGIN { for (i = 0; i < 200000; i++) print "# \"a\\\\b\"\t\"c\"" }' >> "$T/app.yaml"
	size=$(stat -c %s "$T/app.yaml")
	[ "$size" -gt $((2 * 1024 * 1024)) ]
	[ "$size" -lt $((4 * 1024 * 1024)) ]
	slipway validate "$T/app.yaml"
	run slipway apply -f "$T/app.yaml"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"app/hello created (revision 1)"* ]]

	# over it: the same words from both, naming the file
	cp "$T/app.yaml" "$T/big.yaml"
	head -c $((3 * 1024 * 1024)) /dev/zero | tr '\0' '#' >> "$T/big.yaml"
	run slipway validate "$T/big.yaml"
	[ "$status" -eq 1 ]
	[ "$output" = "$T/big.yaml:1:1: file is larger than 4 MiB" ]
	run slipway apply -f "$T/big.yaml"
	[ "$status" -eq 1 ]
	[ "$output" = "slipway: $T/big.yaml:1:1: file is larger than 4 MiB" ]

	# a directory's files count together
	mkdir "$T/dir"
	cp "$T/app.yaml" "$T/dir/a.yaml"
	app_yaml other 1.0.0 1 > "$T/dir/b.yaml"
	awk 'BEGIN { for (i = 0; i < 200000; i++) print "# padding padding" }' >> "$T/dir/b.yaml"
	run slipway validate "$T/dir"
	[ "$status" -eq 1 ]
	[ "$output" = "$T/dir: the *.yaml and *.yml files together are larger than 4 MiB" ]
	run slipway apply -f "$T/dir"
	[ "$status" -eq 1 ]
	[ "$output" = "slipway: $T/dir: the *.yaml and *.yml files together are larger than 4 MiB" ]
	run slipway history hello --json
	[ "$(printf '%s\n' "$output" | grep -c '"revision":')" -eq 1 ]
}

@test "proxy.pid and the access log are private, --proxy-max-conns reaches the proxy, a refused table says why" {
	umask 022 # what most users have
	held=$((PORT_BASE + 98))
	"$HELLO_BIN" --host 127.0.0.1 --port "$held" >/dev/null 2>&1 3>&- &
	holder=$!
	wait_for 5 curl -fsS "http://127.0.0.1:$held/healthz"
	start_daemon --access-log "$T/access.log" --proxy-max-conns 500
	wait_for 10 test -s "$T/state/proxy.pid"
	# the proxy got the limit; the daemon's /metrics shows the proxy's figures
	wait_for 10 eval 'curl -fsS --unix-socket "$T/state/slipway.sock" http://slipway/metrics |
		grep -qx "slipway_proxy_connections_limit 500"'
	curl -fsS --unix-socket "$T/state/slipway.sock" http://slipway/metrics |
		grep -q '^slipway_proxy_connections_refused_total{answer="503"} 0$'
	wait_for 10 test -f "$T/access.log"
	[ "$(stat -c %a "$T/state/proxy.pid")" = 600 ]
	[ "$(stat -c %a "$T/access.log")" = 640 ]
	app_yaml hello 1.0.0 1 "" "  route: {listen: \"127.0.0.1:$held\"}" > "$T/app.yaml"
	slipway apply -f "$T/app.yaml"
	wait_for 20 eval 'slipway events hello 2>/dev/null | grep -q "proxy refused the table: cannot listen on 127.0.0.1:$held" ||
		slipway events 2>/dev/null | grep -q "proxy refused the table: cannot listen on 127.0.0.1:$held"'
	run slipway events
	kill "$holder"
	[[ $output != *"unreachable"* ]]
}

@test "valueFrom reads only from the --secret-dir directories, never the state dir" {
	mkdir -p "$T/secrets" "$T/elsewhere"
	printf 'pin-4711\n' > "$T/secrets/pin"
	printf 'not a secret\n' > "$T/elsewhere/file"
	ln -s "$T/state/token" "$T/secrets/token-link"
	# a secret dir that holds the state dir does not open it up
	start_api_daemon --secret-dir "$T/secrets" --secret-dir "$T"
	env_app() { # env_app FILE: an app whose one secret env var comes from FILE
		cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: thief}
spec:
  version: "1.0.0"
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
    env:
      - {name: LOOT, valueFrom: {file: $1}}
YAML
	}
	for f in "$T/state/token" "$T/secrets/token-link" "$T/secrets/../state/token" \
		"secrets/../state/./token" "$T/state/state.db"; do
		env_app "$f" > "$T/app.yaml"
		run slipway apply -f "$T/app.yaml"
		echo "$f: $output"
		[ "$status" -ne 0 ]
		[[ "$output" == *"app.yaml:9:40: valueFrom file \""*"\" is in the daemon's state dir, which is never read for secrets"* ]]
	done
	stop_daemon
	start_api_daemon --secret-dir "$T/secrets"
	for f in "$T/elsewhere/file" "$T/elsewhere/missing" "/etc/passwd"; do
		env_app "$f" > "$T/app.yaml"
		run slipway apply -f "$T/app.yaml"
		echo "$f: $output"
		[ "$status" -ne 0 ]
		[[ "$output" == *"app.yaml:9:40: valueFrom file \"$f\" is not in a secret directory (\"$T/secrets\")"* ]]
	done
	# nothing was recorded
	run slipway get apps --json
	[[ "$output" != *thief* ]]
	# from a secret dir it works, relative to the file like any path
	env_app secrets/pin > "$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	pid=$(instance_fields thief pid)
	tr '\0' '\n' < "/proc/$pid/environ" | grep -qx "LOOT=pin-4711"
}
