#!/usr/bin/env bats
# Degraded environments: a full or read-only store, a busy database, a
# taken port, unreachable or slow analysis providers. Slipway keeps serving
# traffic and instances, refuses changes with a clear error, and recovers.

load helpers

setup() {
	e2e_setup
	MNT=
	LOCKER=
}

teardown() {
	[ -n "$LOCKER" ] && kill "$LOCKER" 2>/dev/null
	stop_daemon
	kill_instances
	pkill -9 -f "$T/" 2>/dev/null || true
	[ -n "$MNT" ] && umount "$MNT" 2>/dev/null
	rm -rf "$T"
}

routed() { # routed VERSION [ENV] [EXTRA]
	app_yaml hello "$1" 1 "${2:-}" "  route: {listen: \"127.0.0.1:$LISTEN\"}
${3:-}"
}

# A state dir on a small tmpfs; skips where mounting is not allowed.
small_state_dir() {
	MNT=$T/mnt
	mkdir -p "$MNT"
	mount -t tmpfs -o size=4m tmpfs "$MNT" 2>/dev/null || { MNT=; skip "cannot mount a tmpfs here"; }
	export SLIPWAY_STATE_DIR=$MNT/state
}

@test "a full disk refuses changes with a clear error, keeps serving, and recovers" {
	small_state_dir
	start_daemon
	routed 1.0.0 > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/"
	dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null || true
	routed 2.0.0 > "$T/v2.yaml"
	run slipway apply -f "$T/v2.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot record the change"*"disk is full"* ]]
	# traffic and instances go on; reads work
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"1.0.0"* ]]
	run slipway status hello
	[ "$status" -eq 0 ]
	[[ "$output" == *"Revision:   1 "* ]]
	kill -0 "$DAEMON_PID"
	rm -f "$MNT/filler"
	run slipway apply -f "$T/v2.yaml" --wait
	[ "$status" -eq 0 ]
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"2.0.0"* ]]
}

@test "a state dir that cannot be written: a clear error at start, exit 1" {
	MNT=$T/mnt
	mkdir -p "$MNT"
	mount -t tmpfs -o size=1m,ro tmpfs "$MNT" 2>/dev/null || { MNT=; skip "cannot mount a tmpfs here"; }
	run "$SLIPWAY_BIN" serve --state-dir "$MNT/state"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot create"*"Read-only file system"* ]]
}

@test "a busy database is waited for within a bound, then reported" {
	start_daemon
	routed 1.0.0 > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	# another process holds the write lock for 1 s: the apply waits and succeeds
	printf '.timeout 5000\nBEGIN IMMEDIATE;\nSELECT 1;\n.shell sleep 1\nCOMMIT;\n' > "$T/short.sql"
	sqlite3 "$T/state/state.db" < "$T/short.sql" >/dev/null 3>&- &
	LOCKER=$!
	routed 2.0.0 > "$T/v2.yaml"
	run slipway apply -f "$T/v2.yaml"
	[ "$status" -eq 0 ]
	wait "$LOCKER" || true
	# held longer than the bound: a clear error, nothing half-done
	printf '.timeout 20000\nBEGIN IMMEDIATE;\nSELECT 1;\n.shell sleep 30\nCOMMIT;\n' > "$T/long.sql"
	# -bail: "1" is printed only if BEGIN IMMEDIATE got the lock
	sqlite3 -bail "$T/state/state.db" < "$T/long.sql" > "$T/locker.out" 2>&1 3>&- &
	LOCKER=$!
	wait_for 25 grep -qx 1 "$T/locker.out"   # it holds the write lock now
	routed 3.0.0 > "$T/v3.yaml"
	run slipway apply -f "$T/v3.yaml"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot record the change: store:"* ]]
	kill "$LOCKER" 2>/dev/null; wait "$LOCKER" 2>/dev/null || true; LOCKER=
	run slipway apply -f "$T/v3.yaml" --wait
	[ "$status" -eq 0 ]
	[ "$(slipway history hello --json | grep -c '"revision":')" -eq 3 ]
}

@test "an instance whose port is taken fails with a clear reason and is retried" {
	port=$((PORT_BASE + 50))
	# only one port for instances, and something else holds it
	"$HELLO_BIN" --port "$port" >/dev/null 2>&1 3>&- &
	holder=$!
	wait_for 5 curl -fsS "http://127.0.0.1:$port/healthz"
	"$SLIPWAY_BIN" serve --port-range "$port-$port" --backoff 200ms >>"$T/daemon.log" 2>&1 3>&- &
	DAEMON_PID=$!
	wait_for 10 slipway get apps
	app_yaml hello 1.0.0 1 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml"
	wait_for 10 eval 'slipway status hello | grep -q "no free port"'
	kill "$holder"
	wait_for 20 app_ready_at hello 1 1
	[ "$(instance_fields hello port)" = "$port" ]
}

@test "an unreachable or slow analysis provider counts as errors, never a hang" {
	start_daemon
	slow=$((PORT_BASE + 60))
	HELLO_LATENCY_MS=10000 "$HELLO_BIN" --port "$slow" >/dev/null 2>&1 3>&- &
	slow_pid=$!
	wait_for 5 curl -fsS "http://127.0.0.1:$slow/healthz"
	strategy='  strategy:
    canary:
      steps:
        - setWeight: 50
        - analysis: {templates: [remote]}'
	template() { # template URL
		cat <<YAML
---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: remote}
spec:
  metrics:
    - name: web
      interval: 500ms
      count: 3
      consecutiveErrorLimit: 2
      successCondition: "result == true"
      provider: {web: {url: "$1", timeout: 500ms}}
YAML
	}
	{ routed 1.0.0 "" "$strategy"; template "http://127.0.0.1:1/"; } > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	{ routed 2.0.0 "" "$strategy"; template "http://127.0.0.1:1/"; } > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 20 phase_is hello Degraded
	[[ "$(status_json hello)" == *"refused"* ]]
	# the daemon answered all along and still does
	slipway get apps
	{ routed 3.0.0 "" "$strategy"; template "http://127.0.0.1:$slow/"; } > "$T/v3.yaml"
	slipway apply -f "$T/v3.yaml"
	t0=$SECONDS
	while ! phase_is hello Degraded || [ "$(field revision "$(status_json hello)")" != 3 ]; do
		slipway version >/dev/null   # the API answers while measurements time out
		[ $((SECONDS - t0)) -lt 30 ]
		sleep 0.2
	done
	[[ "$(status_json hello)" == *"timed out"* ]]
	kill "$slow_pid"
}
