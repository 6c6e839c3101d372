#!/usr/bin/env bats
# Zero-downtime upgrade of `slipway proxy` as `slipway serve` runs it:
# SIGUSR2 (or `slipway upgrade --proxy-only`) replaces the proxy with the
# binary on disk; the listening sockets change hands, so no connection is
# refused and no request fails. A new binary that cannot start, or that
# fails half-way through the handover, leaves the old proxy serving.

load helpers

routed_app() { # routed_app VERSION REPLICAS
	app_yaml hello "$1" "$2" "" "  route: {listen: \"127.0.0.1:$LISTEN\"}"
}

# hey_failures FILE: "<non-2xx responses> <errors>" from hey's report.
hey_failures() {
	local bad errs
	bad=$(sed -n '/Status code distribution:/,/^$/p' "$1" | grep -E '^\s+\[[0-9]+\]' |
		grep -vE '^\s+\[2[0-9][0-9]\]' | awk '{s+=$2} END {print s+0}')
	errs=$(sed -n '/Error distribution:/,/^$/p' "$1" | grep -E '^\s+\[[0-9]+\]' |
		awk '{gsub(/[\[\]]/, "", $1); s+=$1} END {print s+0}')
	echo "$bad $errs"
}

hey_ok_count() {
	sed -n '/Status code distribution:/,/^$/p' "$1" | grep -E '^\s+\[200\]' | awk '{s+=$2} END {print s+0}'
}

proxy_pid() { cut -d' ' -f1 "$T/state/proxy.pid" 2>/dev/null; }

# A pid that is gone: no process, or a zombie nobody reaped yet.
gone() {
	! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

alive() { ! gone "$1"; }

# upgraded_from OLD: the pid file names another live proxy and OLD is gone.
upgraded_from() {
	local new
	new=$(proxy_pid)
	[ -n "$new" ] && [ "$new" != "$1" ] && alive "$new" && gone "$1"
}

routes_show_proxy() { # routes_show_proxy PID
	slipway routes | grep -q "^proxy: up (pid $1)"
}

served() { curl -fsS "http://127.0.0.1:$LISTEN/" | grep -q "hello from $1"; }

@test "five proxy upgrades under steady load fail no request" {
	start_daemon
	routed_app 1.0.0 2 > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 served 1.0.0
	first=$(proxy_pid)
	hey -z 15s -c 8 -q 40 "http://127.0.0.1:$LISTEN/" > "$T/hey.txt" 2>&1 3>&- &
	hey_pid=$!
	sleep 1 # let load run before the first upgrade (load timing, not a wait for state)
	for i in 1 2 3 4 5; do
		old=$(proxy_pid)
		kill -USR2 "$old"
		wait_for 10 upgraded_from "$old"
		echo "# upgrade $i: proxy pid $old -> $(proxy_pid)" >&3
		sleep 1.5 # load keeps running between upgrades
	done
	wait "$hey_pid"
	sed -n '/Status code/,$p' "$T/hey.txt"
	read -r bad errs <<< "$(hey_failures "$T/hey.txt")"
	echo "# 5 upgrades under load: $(hey_ok_count "$T/hey.txt") requests ok, $bad non-2xx, $errs socket errors" >&3
	[ "$bad" = 0 ]
	[ "$errs" = 0 ]
	[ "$(hey_ok_count "$T/hey.txt")" -gt 1000 ]
	new=$(proxy_pid)
	[ "$new" != "$first" ]
	gone "$first"
	# the daemon followed every successor without crashing (it once hit
	# a libuv assertion here, and this test only skipped)
	kill -0 "$DAEMON_PID"
	[ -z "$(grep Assertion "$T/daemon.log")" ]
	wait_for 10 routes_show_proxy "$new"
	served 1.0.0
	# the daemon drives the new proxy: a rolling update goes through it
	routed_app 2.0.0 2 > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml" --wait --timeout 30s
	wait_for 10 served 2.0.0
	grep -q "handed over to the new proxy" "$T/state/logs/proxy.log"
}

@test "slipway upgrade --proxy-only replaces the proxy and says so" {
	start_daemon
	routed_app 1.0.0 1 > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 served 1.0.0
	old=$(proxy_pid)
	run slipway upgrade --proxy-only
	[ "$status" -eq 0 ]
	[[ "$output" == *"proxy upgraded: pid $old -> "* ]]
	wait_for 10 upgraded_from "$old"
	wait_for 10 routes_show_proxy "$(proxy_pid)"
	served 1.0.0
}

@test "a new binary that cannot start leaves the old proxy serving" {
	SLIPWAY_UPGRADE_EXE=/bin/false start_daemon
	routed_app 1.0.0 2 > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 served 1.0.0
	old=$(proxy_pid)
	hey -z 4s -c 8 -q 40 "http://127.0.0.1:$LISTEN/" > "$T/hey.txt" 2>&1 3>&- &
	hey_pid=$!
	run slipway upgrade --proxy-only
	[ "$status" -eq 1 ]
	[[ "$output" == *"keeps running: the new proxy (pid "*") exited with status 1"* ]]
	kill -USR2 "$old"
	wait_for 10 eval '[ "$(grep -c "upgrade failed" "$T/state/logs/proxy.log")" -ge 2 ]'
	wait "$hey_pid"
	read -r bad errs <<< "$(hey_failures "$T/hey.txt")"
	echo "# failed upgrades under load: $(hey_ok_count "$T/hey.txt") requests ok, $bad non-2xx, $errs socket errors" >&3
	[ "$bad" = 0 ]
	[ "$errs" = 0 ]
	[ "$(proxy_pid)" = "$old" ]
	alive "$old"
	routes_show_proxy "$old"
	served 1.0.0
}

@test "a new proxy that fails after the handover began gives everything back" {
	# The wrapper runs the real binary but asks for a metrics listener on
	# an address in use: the new process fails after the old one gave up
	# its control socket and lock, which it must take back.
	cat > "$T/bad-proxy" <<EOF
#!/bin/sh
exec "$SLIPWAY_BIN" "\$@" --metrics 127.0.0.1:$LISTEN
EOF
	chmod +x "$T/bad-proxy"
	SLIPWAY_UPGRADE_EXE=$T/bad-proxy start_daemon
	routed_app 1.0.0 1 > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 served 1.0.0
	old=$(proxy_pid)
	run slipway upgrade --proxy-only
	[ "$status" -eq 1 ]
	[[ "$output" == *"keeps running"*"address already in use"* ]]
	[ "$(proxy_pid)" = "$old" ]
	alive "$old"
	# it still owns the control socket: the daemon pushes a new table to it
	routed_app 2.0.0 1 > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml" --wait --timeout 30s
	wait_for 10 served 2.0.0
	routes_show_proxy "$old"
	# and the lock: a second proxy on the same state dir is refused
	run timeout 5 "$SLIPWAY_BIN" proxy --state-dir "$T/state"
	[ "$status" -ne 0 ]
	[[ "$output" == *"another slipway proxy (pid $old)"* ]]
}

@test "a new binary that never says ready is killed after 5 s; the old proxy keeps serving" {
	printf '#!/bin/sh\nexec sleep 60\n' > "$T/hung-proxy"
	chmod +x "$T/hung-proxy"
	SLIPWAY_UPGRADE_EXE=$T/hung-proxy start_daemon
	routed_app 1.0.0 1 > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 served 1.0.0
	old=$(proxy_pid)
	run slipway upgrade --proxy-only
	[ "$status" -eq 1 ]
	[[ "$output" == *"keeps running: the new proxy (pid "*") was not ready within 5000 ms"* ]]
	refute pgrep -f "^sleep 60$" -P 1 >/dev/null 2>&1 || refute pgrep -f "$T/hung-proxy" >/dev/null
	[ "$(proxy_pid)" = "$old" ]
	routes_show_proxy "$old"
	served 1.0.0
}

@test "slipway upgrade replaces the proxy and the control plane under load; instances are adopted" {
	start_daemon
	routed_app 1.0.0 2 > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 served 1.0.0
	pids=$(instance_fields hello pid | sort | tr '\n' ' ')
	old_proxy=$(proxy_pid)
	started=$(slipway version --json >/dev/null; curl -fsS --unix-socket "$T/state/slipway.sock" http://s/v1/version)
	hey -z 12s -c 8 -q 40 "http://127.0.0.1:$LISTEN/" > "$T/hey.txt" 2>&1 3>&- &
	hey_pid=$!
	sleep 1 # let load run before the upgrade (load timing, not a wait for state)
	for i in 1 2 3; do
		run slipway upgrade
		echo "# upgrade $i: status $status: $output"
		[ "$status" -eq 0 ]
		[[ "$output" == *"proxy upgraded"* ]]
		[[ "$output" == *"control plane upgraded"* ]]
		sleep 1
	done
	wait "$hey_pid"
	read -r bad errs <<< "$(hey_failures "$T/hey.txt")"
	echo "# 3 upgrades of proxy and control plane under load: $(hey_ok_count "$T/hey.txt") requests ok, $bad non-2xx, $errs socket errors" >&3
	[ "$bad" = 0 ]
	[ "$errs" = 0 ]
	# the same daemon process (exec), a new start; the same instances
	[ "$(curl -fsS --unix-socket "$T/state/slipway.sock" http://s/v1/version)" != "$started" ]
	kill -0 "$DAEMON_PID"
	[ "$(proxy_pid)" != "$old_proxy" ]
	wait_for 10 app_ready_at hello 1 2
	[ "$(instance_fields hello pid | sort | tr '\n' ' ')" = "$pids" ]
	run slipway events
	[[ "$output" == *"DaemonUpgrading"* ]]
	[[ "$output" == *"InstanceAdopted"* ]]
	# and it still deploys
	routed_app 2.0.0 2 > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml" --wait
	wait_for 10 served 2.0.0
}

# hey_refused FILE: requests of hey's report refused at connect.
hey_refused() {
	sed -n '/Error distribution:/,/^$/p' "$1" | grep -E '^\s+\[[0-9]+\].*refused' |
		awk '{gsub(/[\[\]]/, "", $1); s+=$1} END {print s+0}'
}

held_again() { # held_again PROXY_PID: the restarted daemon holds its sockets again
	slipway events | grep -q "ProxyHeld.*(pid $1) again"
}

# A proxy adopted by a restarted daemon has lost the channel its sockets
# were held through: the daemon asks for it again, so a later crash of the
# proxy refuses no connection either.
@test "after a daemon kill -9 and restart, kill -9 of the adopted proxy under load refuses no new connection" {
	start_daemon
	routed_app 1.0.0 1 > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 served 1.0.0
	proxy=$(proxy_pid)
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	start_daemon
	wait_for 10 routes_show_proxy "$proxy"
	wait_for 10 held_again "$proxy"
	hey -z 5s -c 4 -q 100 -disable-keepalive "http://127.0.0.1:$LISTEN/" >"$T/hey.txt" 2>&1 3>&- &
	hey_pid=$!
	sleep 1.5 # load runs before the kill (load timing, not a wait for state)
	kill -9 "$proxy"
	wait "$hey_pid"
	sed -n '/Status code/,$p' "$T/hey.txt"
	read -r bad errs <<< "$(hey_failures "$T/hey.txt")"
	refused=$(hey_refused "$T/hey.txt")
	echo "# kill -9 of the adopted proxy under 400 req/s: $(hey_ok_count "$T/hey.txt") ok, $refused refused, $((errs - refused)) other socket errors, $bad non-2xx" >&3
	[ "$refused" = 0 ]
	# only what was in flight can fail: the 4 connections of the kill
	[ "$errs" -le 4 ]
	[ "$(hey_ok_count "$T/hey.txt")" -gt 1000 ]
	[ "$(proxy_pid)" != "$proxy" ]
	grep -q "listening sockets slipway serve held" "$T/state/logs/proxy.log"
}

# `slipway upgrade` re-executes the control plane while a preDeploy job
# runs: the job is neither killed nor run again, the new process adopts it.
@test "slipway upgrade while a preDeploy job runs: the job runs once and the rollout goes on" {
	start_daemon
	routed_app 1.0.0 1 > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	{ routed_app 2.0.0 1; cat <<YAML
  hooks:
    preDeploy:
      - name: migrate
        command: echo start >>$T/runs; sleep 4; echo end >>$T/runs
YAML
	} > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 20 grep -q start "$T/runs"
	run slipway upgrade
	echo "# $output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"control plane upgraded"* ]]
	wait_for 40 app_ready_at hello 2 1
	[ "$(cat "$T/runs")" = "start
end" ]
	run slipway events hello
	[[ "$output" == *"HookAdopted"*'preDeploy hook "migrate" of revision 2'* ]]
	[[ "$output" == *'preDeploy hook "migrate" of revision 2 succeeded in '* ]]
	[ "$(grep -c 'HookStarted' <<<"$output")" = 1 ]
}
