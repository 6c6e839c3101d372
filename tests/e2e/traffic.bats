#!/usr/bin/env bats
# Traffic through `slipway proxy` as `slipway serve` runs it: routes from
# documents, zero failed requests while instances are replaced, and while
# the control plane is killed and restarted.

load helpers

routed_app() { # routed_app VERSION REPLICAS [EXTRA_ENV]
	app_yaml hello "$1" "$2" "${3:-}" "  route: {listen: \"127.0.0.1:$LISTEN\"}"
}

setup() {
	T=$(mktemp -d /tmp/slipway-e2e.XXXXXX)
	export SLIPWAY_STATE_DIR=$T/state
	PORT_BASE=$((21000 + (RANDOM % 300) * 100))
	LISTEN=$((PORT_BASE + 99))
	DAEMON_PID=
}

# hey_summary FILE: "<non-2xx responses> <errors>" from hey's report.
hey_failures() {
	local bad errs
	bad=$(sed -n '/Status code distribution:/,/^$/p' "$1" | grep -E '^\s+\[[0-9]+\]' |
		grep -vE '^\s+\[2[0-9][0-9]\]' | awk '{s+=$2} END {print s+0}')
	errs=$(sed -n '/Error distribution:/,/^$/p' "$1" | grep -E '^\s+\[[0-9]+\]' |
		awk '{gsub(/[\[\]]/, "", $1); s+=$1} END {print s+0}')
	echo "$bad $errs"
}

hey_ok_count() {
	sed -n '/Status code distribution:/,/^$/p' "$1" | grep -E '^\s+\[200\]' | awk '{print $2}'
}

@test "an app with route.listen is served through the proxy" {
	start_daemon
	routed_app 1.0.0 2 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
	run curl -fsS "http://127.0.0.1:$LISTEN/"
	[[ "$output" == *"hello from 1.0.0"* ]]
	run slipway routes
	[ "$status" -eq 0 ]
	[[ "$output" == *"127.0.0.1:$LISTEN"*"hello"*"rev 1: 100% x 2"* ]]
	run slipway status hello
	[[ "$output" == *"Traffic (last 10s):"* ]]
	[[ "$output" == *"WEIGHT"* ]]
	run curl -fsS --unix-socket "$T/state/slipway.sock" http://slipway/metrics
	[[ "$output" == *"slipway_requests_total"* ]]
}

@test "no ready instance: 503" {
	start_daemon
	routed_app 1.0.0 1 "      HELLO_FAIL_HEALTH_AFTER: \"0\"" > "$T/app.yaml"
	slipway apply -f "$T/app.yaml"
	wait_for 10 eval '[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$LISTEN/")" = 503 ]'
}

@test "a rolling update under steady load fails no request" {
	start_daemon
	routed_app 1.0.0 2 > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
	hey -z 20s -c 8 -q 40 "http://127.0.0.1:$LISTEN/" > "$T/hey.txt" 2>&1 3>&- &
	hey_pid=$!
	for v in 2.0.0 3.0.0 4.0.0; do
		routed_app "$v" 2 > "$T/v.yaml"
		slipway apply -f "$T/v.yaml" --wait --timeout 30s
	done
	wait "$hey_pid"
	cat "$T/hey.txt" | sed -n '/Status code/,$p'
	[ "$(hey_failures "$T/hey.txt")" = "0 0" ]
	[ "$(hey_ok_count "$T/hey.txt")" -gt 1000 ]
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"4.0.0"* ]]
}

@test "kill -9 of slipway serve under load fails no request; the restart adopts the proxy" {
	start_daemon
	routed_app 1.0.0 2 > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
	proxy_pid=$(slipway routes --json | sed -n 's/^ *"pid": \([0-9]*\),*$/\1/p' | head -1)
	hey -z 8s -c 8 -q 40 "http://127.0.0.1:$LISTEN/" > "$T/hey.txt" 2>&1 3>&- &
	hey_pid=$!
	sleep 2 # let load run before the kill (load timing, not a wait for state)
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	sleep 2
	start_daemon
	wait_for 15 app_ready_at hello 1 2
	wait "$hey_pid"
	sed -n '/Status code/,$p' "$T/hey.txt"
	[ "$(hey_failures "$T/hey.txt")" = "0 0" ]
	[ "$(slipway routes --json | sed -n 's/^ *"pid": \([0-9]*\),*$/\1/p' | head -1)" = "$proxy_pid" ]
}
