#!/usr/bin/env bats
# Traffic through `slipway proxy` as `slipway serve` runs it: routes from
# documents, zero failed requests while instances are replaced, and while
# the control plane is killed and restarted.

load helpers

routed_app() { # routed_app VERSION REPLICAS [EXTRA_ENV]
	app_yaml hello "$1" "$2" "${3:-}" "  route: {listen: \"127.0.0.1:$LISTEN\"}"
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
	# a snapshot of the proxy's text, at most a second old while it is read
	metrics_has() { curl -fsS --unix-socket "$T/state/slipway.sock" http://slipway/metrics | grep -q "$1"; }
	wait_for 5 metrics_has 'slipway_requests_total{.*app="hello"'
}

@test "an app that listens on localhost:PORT does not take the other apps' routes away" {
	start_daemon
	local other=$((PORT_BASE + 98))
	{
		app_yaml hello 1.0.0 1 "" "  route: {listen: \"127.0.0.1:$LISTEN\"}"
		echo "---"
		app_yaml local 1.0.0 1 "" "  route: {listen: \"localhost:$other\"}"
	} > "$T/apps.yaml"
	slipway apply -f "$T/apps.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
	wait_for 10 curl -fsS "http://localhost:$other/"
	run curl -fsS "http://127.0.0.1:$LISTEN/"
	[[ "$output" == *"hello from 1.0.0"* ]]
	run curl -fsS "http://127.0.0.1:$other/"
	[ "$status" -eq 0 ]
	# one listener, one spelling: the document's localhost is 127.0.0.1
	run slipway routes
	[ "$status" -eq 0 ]
	[[ "$output" == *"127.0.0.1:$other"*"local"* ]]
	[[ "$output" != *"localhost:$other"* ]]
}

@test "a listen address that is not an IP address is refused at apply, with its position" {
	start_daemon
	app_yaml web 1.0.0 1 "" "  route: {listen: \"example.com:80\"}" > "$T/app.yaml"
	run slipway apply -f "$T/app.yaml"
	[ "$status" -ne 0 ]
	[[ "$output" == *"app.yaml:"*":"*": listen \"example.com:80\": the host must be an IP address or \"localhost\""* ]]
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

proxy_pid() { slipway routes --json | sed -n 's/^ *"pid": \([0-9]*\),*$/\1/p' | head -1; }
# proxy_back OLD_PID: a proxy other than OLD_PID runs and serves the app
proxy_back() {
	local p
	p=$(proxy_pid)
	[ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$1" ] && kill -0 "$p" &&
		curl -fsS --max-time 2 "http://127.0.0.1:$LISTEN/" >/dev/null
}

# A package upgrade writes the new binary next to the old one and renames
# it over: the running daemon's /proc/self/exe then reads "... (deleted)".
@test "the binary on disk is replaced, then the proxy is killed: it comes back at once" {
	cp "$SLIPWAY_BIN" "$T/slipway"
	SLIPWAY_BIN=$T/slipway start_daemon
	routed_app 1.0.0 1 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
	old=$(proxy_pid)
	cp "$SLIPWAY_BIN" "$T/slipway.new"
	mv -f "$T/slipway.new" "$T/slipway"
	kill -9 "$old"
	wait_for 10 proxy_back "$old"
	run grep -c "cannot start slipway proxy" "$T/daemon.log"
	[ "$output" = 0 ]
	# it runs the binary now on disk
	[ "$(readlink "/proc/$(proxy_pid)/exe")" = "$T/slipway" ]
}

@test "the binary on disk is gone, then the proxy is killed: it still comes back" {
	cp "$SLIPWAY_BIN" "$T/slipway"
	SLIPWAY_BIN=$T/slipway start_daemon
	routed_app 1.0.0 1 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
	old=$(proxy_pid)
	rm -f "$T/slipway"
	kill -9 "$old"
	wait_for 10 proxy_back "$old"
	# no busy loop of failed starts: a handful of lines at most
	[ "$(grep -c "cannot start slipway proxy" "$T/daemon.log" || true)" -le 5 ]
	run slipway events
	[[ "$output" == *"ProxyStarted"* ]]
}

# proxy.pid names a process that is not our proxy (its pid was reused):
# the daemon neither adopts nor signals it, and starts its own.
@test "proxy.pid naming a reused pid: not adopted, not signalled; a new proxy serves" {
	mkdir -p -m 0700 "$T/state"
	sleep 300 &
	other=$!
	echo "$other 12345" > "$T/state/proxy.pid"
	start_daemon
	routed_app 1.0.0 1 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
	p=$(proxy_pid)
	[ "$p" != "$other" ]
	kill -0 "$other"
	run slipway events
	[[ "$output" != *"pid $other) adopted"* ]]
	kill -9 "$other"
}

# median_ms N CMD...: median wall time of N runs of CMD, in ms
median_ms() {
	local n=$1 i t0 t1
	shift
	for i in $(seq 1 "$n"); do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000000))
	done | sort -n | sed -n "$(((n + 1) / 2))p"
}

@test "with the proxy stopped (SIGSTOP), get apps and status answer as fast as with it healthy" {
	start_daemon
	routed_app 1.0.0 1 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
	p=$(proxy_pid)
	healthy=$(median_ms 9 slipway get apps)
	kill -STOP "$p"
	stopped=$(median_ms 9 slipway get apps)
	status_ms=$(median_ms 5 slipway status hello)
	t0=$(date +%s%N)
	slipway get apps >/dev/null
	worst=$((($(date +%s%N) - t0) / 1000000))
	kill -CONT "$p"
	echo "get apps median: healthy ${healthy} ms, stopped ${stopped} ms; status ${status_ms} ms" >&3
	# a blocking call to a stopped proxy takes its 1 s timeout
	[ "$stopped" -lt $((healthy + 200)) ]
	[ "$status_ms" -lt 500 ]
	[ "$worst" -lt 500 ]
	# and once it runs again, routing and stats are back
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
}
