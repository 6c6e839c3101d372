#!/usr/bin/env bats
# What the daemon keeps and gives back: logs as bytes, events page by page
# and kept within bounds, revision hashes that say nothing of secrets.

load helpers

@test "logs keep every byte: what is not UTF-8 is shown as \\xHH, and the instance stays listed" {
	start_daemon
	cat > "$T/app.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: bytes}
spec:
  version: "1.0.0"
  run:
    command: ["sh", "-c", "printf 'before \\\\300\\\\200 lone \\\\200 cut \\\\342\\\\202 after \\\\342\\\\202\\\\254\\\\n'; exec $HELLO_BIN --port \${PORT}"]
YAML
	slipway apply -f "$T/app.yaml" --wait
	wait_for 10 eval 'slipway logs bytes | grep -q listening'
	run slipway logs bytes
	[ "$status" -eq 0 ]
	[[ "$output" == *'[bytes-1] before \xC0\x80 lone \x80 cut \xE2\x82 after €'* ]]
	run slipway logs bytes --instance bytes-1 --json
	[ "$status" -eq 0 ]
	[[ "$output" == *'"id":"bytes-1"'* ]]
	[[ "$output" == *'before \\xC0\\x80 lone \\x80 cut \\xE2\\x82 after €'* ]]
	# the offset counts the bytes of the file, all of them read
	[[ "$output" == *"\"offset\":$(stat -c %s "$T/state/logs/bytes/bytes-1.log")"* ]]
	run curl -s --unix-socket "$T/state/slipway.sock" "http://slipway/v1/apps/bytes/logs"
	[[ "$output" == *'"id": "bytes-1"'* || "$output" == *'"id":"bytes-1"'* ]]
}

api() { curl -s --unix-socket "$T/state/slipway.sock" "http://slipway$1"; }

# make_events N: N real events (TokenCreated), named ev1..evN.
make_events() {
	local i
	for i in $(seq 1 "$1"); do
		slipway token create "ev$i" --role viewer >/dev/null
	done
}

@test "events: the newest first, page by page with a cursor, --limit and --since" {
	start_daemon
	make_events 130
	# the CLI: the newest N, printed oldest first
	run slipway events --limit 3
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	[[ "${lines[1]}" == *'token "ev128" created'* ]]
	[[ "${lines[3]}" == *'token "ev130" created'* ]]
	# by default the newest 100
	run slipway events
	[ "${#lines[@]}" -eq 101 ]
	[[ "${lines[100]}" == *'token "ev130" created'* ]]
	# all of them
	run slipway events --limit 0
	[ "$(printf '%s\n' "$output" | grep -c 'TokenCreated')" -eq 130 ]
	# the API's limit is the newest, and "next" walks back to the first event
	run api '/v1/events?limit=2'
	[[ "$output" == *'token \"ev130\" created'* && "$output" == *'token \"ev129\" created'* ]]
	seen=0 cursor= ids=
	while :; do
		page=$(api "/v1/events?limit=40${cursor:+&before=$cursor}")
		n=$(printf '%s' "$page" | grep -o '"kind": *"TokenCreated"' | wc -l)
		seen=$((seen + n))
		ids="$ids $(printf '%s' "$page" | grep -o '"id": *[0-9]*' | grep -o '[0-9]*$' | tr '\n' ' ')"
		cursor=$(printf '%s' "$page" | grep -o '"next": *"[0-9]*"' | grep -o '[0-9]*') || true
		[ -n "$cursor" ] || break
	done
	[ "$seen" -eq 130 ]
	# strictly newest first, no event twice
	[ "$(printf '%s\n' $ids | sort -rn | uniq | tr '\n' ' ')" = "$(printf '%s\n' $ids | tr '\n' ' ')" ]
	# a page never holds more than 1000, whatever is asked
	run api '/v1/events?limit=100000'
	[ "$(printf '%s' "$output" | grep -o '"kind"' | wc -l)" -le 1000 ]
	# bad parameters are refused, not guessed
	run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T/state/slipway.sock" \
		'http://slipway/v1/events?limit=ten'
	[ "$output" = 400 ]
	# --since: a duration back from now, or a time as the log prints it
	run slipway events --since 1h
	[ "$(printf '%s\n' "$output" | grep -c 'TokenCreated')" -eq 130 ]
	t=$(slipway events --limit 1 --json | sed -n 's/.*"time": "\(.*\)".*/\1/p' | head -1)
	[ -n "$t" ]
	run slipway events --since "$t"
	[ "$status" -eq 0 ]
	[[ "$output" == *'token "ev130" created'* ]]
	[[ "$output" != *'token "ev1" created'* ]]
	run slipway events --since 2030-01-01T00:00:00Z
	[ "${#lines[@]}" -eq 1 ]
	run slipway events --since yesterday
	[ "$status" -eq 2 ]
	[[ "$output" == *'--since must be a duration like 10m or a time like 2026-12-02T05:00:00Z, got "yesterday"'* ]]
}

@test "events -f prints new events as they are recorded" {
	start_daemon
	make_events 2
	slipway events -f > "$T/follow" 2>&1 &
	follower=$!
	wait_for 10 grep -q 'token "ev2" created' "$T/follow"
	slipway token create late --role viewer >/dev/null
	wait_for 10 grep -q 'token "late" created' "$T/follow"
	kill "$follower"
	wait "$follower" 2>/dev/null || true
	[ "$(grep -c 'token "ev2" created' "$T/follow")" -eq 1 ]
}

@test "retention keeps the newest events, and every revision a rollback needs" {
	start_daemon --keep-events 20,0 --keep-revisions 2,0 --retention-interval 200ms
	make_events 60
	wait_for 15 eval '[ "$(slipway events --limit 0 | grep -c TokenCreated)" -le 20 ]'
	run slipway events --limit 0
	[[ "$output" == *'token "ev60" created'* ]]
	[[ "$output" != *'token "ev30" created'* ]]
	for v in 1 2 3 4 5 6; do
		app_yaml hello "1.0.$v" 1 > "$T/app.yaml"
		slipway apply -f "$T/app.yaml" --wait || { grep -v Token "$T/daemon.log" | tail -40; false; }
	done
	# 6 is desired and stable, 5 is what `rollback` goes to: both stay;
	# older ones go
	wait_for 15 eval '[ "$(slipway history hello --json | grep -c "\"revision\":")" -eq 2 ]'
	run slipway history hello --json
	[[ "$output" == *'"version": "1.0.6"'* && "$output" == *'"version": "1.0.5"'* ]]
	slipway rollback hello
	wait_for 20 app_ready_at hello 5 1
	# after the rollback 5 is desired and stable, 6 the one before it stays
	# too (the newest), and 4 is gone for good
	run slipway rollback hello --to 4
	[ "$status" -ne 0 ]
	[[ "$output" == *'no revision 4'* ]]
}

@test "the revision hash in history is keyed: it says nothing of a secret's value" {
	mkdir -p "$T/secrets"
	start_daemon --secret-dir "$T/secrets"
	for pin in 1234 5678; do
		printf '%s\n' "$pin" > "$T/secrets/pin"
		cat > "$T/app.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: vault}
spec:
  version: "1.0.0"
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
    env:
      - {name: PIN, valueFrom: {file: secrets/pin}}
YAML
		slipway apply -f "$T/app.yaml" --wait
	done
	[ "$(stat -c %a "$T/state/revision.key")" = 600 ]
	key=$(cat "$T/state/revision.key")
	run slipway history vault --json
	hashes=$(printf '%s\n' "$output" | sed -n 's/.*"hash": "\([0-9a-f]*\)".*/\1/p')
	[ "$(printf '%s\n' "$hashes" | sort -u | wc -l)" -eq 2 ]
	for n in 1 2; do
		shown=$(printf '%s\n' "$hashes" | sed -n "${n}p")
		sqlite3 "$T/state/state.db" "select spec_json from revisions where app = 'vault' and number = $n" \
			| tr -d '\n' > "$T/spec$n"
		grep -q '"value":"[0-9]\{4\}"' "$T/spec$n"   # the value is in what is hashed
		plain=$(sha256sum < "$T/spec$n" | cut -d' ' -f1)
		[ "$shown" != "$plain" ]
		keyed=$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" < "$T/spec$n" | sed 's/.* //')
		[ "$shown" = "$keyed" ]
	done
	# applying the same content again is still "unchanged", also after a restart
	stop_daemon
	start_daemon --secret-dir "$T/secrets"
	run slipway apply -f "$T/app.yaml"
	[[ "$output" == *unchanged* ]]
}

@test "events --limit 0 --json is one JSON document with every event" {
	start_daemon
	make_events 3
	run slipway events --limit 0 --json
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "{" ] && [ "${lines[1]}" = '  "events": [' ]
	[ "${lines[${#lines[@]} - 1]}" = "}" ]
	[ "$(printf '%s\n' "$output" | grep -c '"kind": "TokenCreated"')" -eq 3 ]
	# commas between the events, none after the last
	[ "$(printf '%s\n' "$output" | tr -d ' \n' | grep -o '},{' | wc -l)" -ge 2 ]
	[[ "$(printf '%s\n' "$output" | tr -d ' \n')" == *'}]}' ]]
}

# An app whose canary step runs an analysis of 5 measurements (exec: true).
checked_app() { # checked_app VERSION > file
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: checked}
spec:
  version: "$1"
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
  strategy:
    canary:
      steps:
        - setWeight: 50
        - analysis: {templates: [check]}
---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: check}
spec:
  metrics:
    - name: ok
      interval: 1s
      count: 5
      provider: {exec: {command: ["true"]}}
YAML
}

@test "analysis: the newest measurements first, page by page with a cursor, --limit, bounded pages" {
	start_daemon
	for v in 1 2 3; do
		checked_app "1.0.$v" > "$T/app.yaml"
		slipway apply -f "$T/app.yaml" --wait
	done
	# revisions 2 and 3 ran their analysis step: 5 measurements each
	run slipway analysis checked
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c 'check/ok')" -eq 10 ]
	run slipway analysis checked --revision 2
	[ "$(printf '%s\n' "$output" | grep -c 'check/ok')" -eq 5 ]
	# --limit N: the newest N, printed oldest first
	run slipway analysis checked --limit 3 --json
	[ "$(printf '%s\n' "$output" | grep -c '"revision": 3')" -eq 3 ]
	ids=$(printf '%s\n' "$output" | sed -n 's/^ *"id": \([0-9]*\),$/\1/p' | tr '\n' ' ')
	[ "$ids" = "$(printf '%s\n' $ids | sort -n | tr '\n' ' ')" ]
	# the API: newest first, "next" walks back to the first one
	seen=0 cursor= all=
	while :; do
		page=$(api "/v1/apps/checked/analysis?limit=4${cursor:+&before=$cursor}")
		all="$all $(printf '%s' "$page" | grep -o '"id": *[0-9]*' | grep -o '[0-9]*$' | tr '\n' ' ')"
		cursor=$(printf '%s' "$page" | grep -o '"next": *"[0-9]*"' | grep -o '[0-9]*') || true
		[ -n "$cursor" ] || break
	done
	[ "$(printf '%s\n' $all | wc -l)" -eq 10 ]
	[ "$(printf '%s\n' $all | sort -rn | uniq | tr '\n' ' ')" = "$(printf '%s\n' $all | tr '\n' ' ')" ]
	# as many as retention keeps (100,000 by default): here 3,000 more
	sqlite3 "$T/state/state.db" >/dev/null <<SQL
PRAGMA busy_timeout = 5000;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO measurements (time_ms, app, revision, run, kind, template, metric, provider,
                          query, value, condition, outcome, reason)
SELECT $(date +%s)000, 'checked', 3, 99, 'step', 'bulk', 'm' || i, 'exec', 'true', 'true', '',
       'Successful', 'bulk ' || i FROM n;
SQL
	# a page holds 100 by default and never more than 1000, whatever is asked
	run api '/v1/apps/checked/analysis'
	[ "$(printf '%s' "$output" | grep -o '"outcome"' | wc -l)" -eq 100 ]
	printf '%s' "$output" | grep -q '"next": *"[0-9]'

	run api '/v1/apps/checked/analysis?limit=100000'
	[ "$(printf '%s' "$output" | grep -o '"outcome"' | wc -l)" -eq 1000 ]
	# the CLI by default the newest 100; --limit 0 all of them, a page at a time
	run slipway analysis checked
	[ "${#lines[@]}" -eq 101 ]
	[[ "${lines[100]}" == *'bulk/m3000'* ]]
	run slipway analysis checked --limit 0
	[ "$(printf '%s\n' "$output" | grep -c 'Successful')" -eq 3010 ]
	run slipway analysis checked --limit 0 --json
	[ "$(printf '%s\n' "$output" | grep -c '"outcome": "Successful"')" -eq 3010 ]
	[[ "$(printf '%s\n' "$output" | tr -d ' \n')" == '{"name":"checked","measurements":[{'*'}]}' ]]
	# bad parameters are refused, not guessed
	run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T/state/slipway.sock" \
		'http://slipway/v1/apps/checked/analysis?limit=ten'
	[ "$output" = 400 ]
	# history pages the same way
	run api '/v1/apps/checked/history?limit=2'
	printf '%s' "$output" | grep -q '"revision": *3'
	printf '%s' "$output" | grep -q '"revision": *2'
	! printf '%s' "$output" | grep -q '"revision": *1,' || false
	printf '%s' "$output" | grep -q '"next": *"2"'
	run slipway history checked --limit 2
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[1]}" == 2* && "${lines[2]}" == 3* ]]
}

@test "tokens are listed a page at a time, by name" {
	start_daemon
	make_events 5   # tokens ev1..ev5
	run api '/v1/tokens?limit=2'
	[ "$(printf '%s' "$output" | grep -o '"role"' | wc -l)" -eq 2 ]
	printf '%s' "$output" | grep -q '"next": *"ev2"'
	run api '/v1/tokens?limit=2&after=ev4'
	printf '%s' "$output" | grep -q '"name": *"ev5"'
	printf '%s' "$output" | grep -q '"next": *null'
	run slipway token list
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '^ev[1-5] ')" -eq 5 ]
	run slipway token list --json
	[ "$(printf '%s\n' "$output" | grep -c '"name": "ev')" -eq 5 ]
}
