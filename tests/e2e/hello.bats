#!/usr/bin/env bats
# The demo app, examples/hello: what rollout and proxy tests rely on.
# HELLO_BIN points at the binary (default build/hello of this checkout).

load helpers

setup() { :; } # no state dir: these tests run hello alone

code_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT$1"; }
healthz_is() { [ "$(code_of /healthz)" = "$1" ]; }

# True once process $1 has exited (gone, or a zombie waiting for us).
exited() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "$st" = Z ]
}

# Starts hello with the given env assignments (NAME=value ...) on a free
# port and waits until /healthz answers. Sets PORT and HELLO_PID.
start_hello() {
	local try
	for try in 1 2 3; do
		PORT=$(free_port)
		env "$@" "$HELLO_BIN" --port "$PORT" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
		HELLO_PID=$!
		# an answer of any code means it is up
		if wait_for 5 up_or_exited && ! exited "$HELLO_PID"; then
			return 0
		fi
		grep -q 'cannot listen' "$BATS_TEST_TMPDIR/err" || break # lost a port race: retry
	done
	cat "$BATS_TEST_TMPDIR/err" >&2
	return 1
}

up_or_exited() {
	exited "$HELLO_PID" || [ "$(code_of /healthz)" != 000 ]
}

teardown() {
	if [ -n "${HELLO_PID:-}" ]; then
		kill -TERM "$HELLO_PID" 2>/dev/null || true
		wait_for 3 exited "$HELLO_PID" || kill -KILL "$HELLO_PID" 2>/dev/null || true
		wait "$HELLO_PID" 2>/dev/null || true
	fi
	if [ -n "${CURL_PID:-}" ]; then
		kill "$CURL_PID" 2>/dev/null || true
		wait "$CURL_PID" 2>/dev/null || true
	fi
}

@test "hello: / names version and instance, X-Version header, /healthz, /version" {
	start_hello SLIPWAY_VERSION=2.0.0 SLIPWAY_INSTANCE=hello-r2-1 HELLO_VERSION=ignored
	run curl -s -D "$BATS_TEST_TMPDIR/h" "http://127.0.0.1:$PORT/"
	[ "$status" -eq 0 ]
	[ "$output" = "hello from 2.0.0 (instance hello-r2-1)" ]
	grep -qi '^X-Version: 2.0.0' "$BATS_TEST_TMPDIR/h"
	grep -q '^HTTP/1.1 200' "$BATS_TEST_TMPDIR/h"
	[ "$(curl -s "http://127.0.0.1:$PORT/healthz")" = ok ]
	[ "$(curl -s "http://127.0.0.1:$PORT/version")" = 2.0.0 ]
	[ "$(code_of /nope)" = 404 ]
	grep -qx "hello 2.0.0 listening on 127.0.0.1:$PORT" "$BATS_TEST_TMPDIR/out"
}

@test "hello: version falls back to HELLO_VERSION, then dev; PORT from env" {
	start_hello HELLO_VERSION=1.0.0
	[ "$(curl -s "http://127.0.0.1:$PORT/")" = "hello from 1.0.0 (instance -)" ]
	kill -TERM "$HELLO_PID"
	wait_for 5 exited "$HELLO_PID"
	wait "$HELLO_PID" || true

	PORT=$(free_port)
	env -u SLIPWAY_VERSION -u HELLO_VERSION PORT="$PORT" "$HELLO_BIN" >"$BATS_TEST_TMPDIR/out" 2>&1 3>&- &
	HELLO_PID=$!
	wait_for 5 healthz_is 200
	[ "$(curl -s "http://127.0.0.1:$PORT/version")" = dev ]
}

@test "hello: request bodies are read and counted, plain and chunked; /bytes streams N bytes" {
	start_hello
	head -c 300000 /dev/zero >"$BATS_TEST_TMPDIR/body"
	run curl -s --data-binary @"$BATS_TEST_TMPDIR/body" "http://127.0.0.1:$PORT/any/path"
	[ "$output" = "received 300000 bytes" ]
	run curl -s -H 'Transfer-Encoding: chunked' --data-binary @"$BATS_TEST_TMPDIR/body" \
		"http://127.0.0.1:$PORT/upload"
	[ "$output" = "received 300000 bytes" ]
	run curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$PORT/bytes?n=5000000"
	[ "$output" = "200 5000000" ]
	[ "$(code_of '/bytes?n=abc')" = 400 ]
}

@test "hello: keep-alive reuses the connection; Connection: close is honoured" {
	start_hello
	run curl -sv "http://127.0.0.1:$PORT/healthz" "http://127.0.0.1:$PORT/version"
	[[ "$output" == *"Re-using existing connection"* ]]
	run curl -sv -H 'Connection: close' "http://127.0.0.1:$PORT/healthz"
	[[ "$output" == *"Connection: close"* ]]
	[[ "$output" == *"Closing connection"* ]]
}

@test "hello: malformed request gets 400, oversized headers 431, and it keeps serving" {
	start_hello
	exec 4<>/dev/tcp/127.0.0.1/$PORT
	printf 'NOT HTTP AT ALL\r\n\r\n' >&4
	run timeout 5 head -1 <&4
	exec 4<&-
	[[ "$output" == "HTTP/1.1 400 "* ]]

	exec 4<>/dev/tcp/127.0.0.1/$PORT
	printf 'GET / HTTP/1.1\r\nHost: x\r\n\x01bad\r\n\r\n' >&4
	run timeout 5 head -1 <&4
	exec 4<&-
	[[ "$output" == "HTTP/1.1 400 "* ]]

	big=$(head -c 40000 /dev/zero | tr '\0' a)
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "http://127.0.0.1:$PORT/")" = 431 ]
	[ "$(code_of /healthz)" = 200 ]
}

@test "hello: HELLO_ERROR_RATE=1 answers / with 500, health stays ok" {
	start_hello HELLO_ERROR_RATE=1
	for i in 1 2 3 4 5; do
		[ "$(code_of /)" = 500 ]
	done
	[ "$(code_of /healthz)" = 200 ]
}

@test "hello: HELLO_FAIL_HEALTH_AFTER=1 turns /healthz into 503" {
	start_hello HELLO_FAIL_HEALTH_AFTER=1
	wait_for 5 healthz_is 503
	[ "$(code_of /)" = 200 ]
}

@test "hello: HELLO_CRASH_AFTER=1 exits with status 1" {
	start_hello HELLO_CRASH_AFTER=1
	wait_for 5 exited "$HELLO_PID"
	local st=0
	wait "$HELLO_PID" || st=$?
	HELLO_PID=
	[ "$st" -eq 1 ]
	grep -q 'crashing as asked' "$BATS_TEST_TMPDIR/err"
}

@test "hello: injected latency does not block other connections" {
	start_hello HELLO_LATENCY_MS=800
	local t0 t1 pids=() p
	t0=$(date +%s%N)
	for i in $(seq 1 20); do
		curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$PORT/" >"$BATS_TEST_TMPDIR/c$i" 3>&- &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	t1=$(date +%s%N)
	for i in $(seq 1 20); do [ "$(cat "$BATS_TEST_TMPDIR/c$i")" = 200 ]; done
	# 20 serial requests would take 16 s
	(((t1 - t0) / 1000000 < 6000))
}

# curl has sent its request and hello has a thread for the connection.
request_in_flight() {
	grep -q '^> GET / HTTP/1.1' "$BATS_TEST_TMPDIR/curl.err" &&
		[ "$(awk '/^Threads:/ {print $2}' "/proc/$HELLO_PID/status")" -ge 2 ]
}

@test "hello: SIGTERM lets the in-flight request finish, then exits 0" {
	start_hello HELLO_LATENCY_MS=1000
	curl -sv -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' "http://127.0.0.1:$PORT/" \
		>"$BATS_TEST_TMPDIR/code" 2>"$BATS_TEST_TMPDIR/curl.err" 3>&- &
	CURL_PID=$!
	wait_for 5 request_in_flight
	kill -TERM "$HELLO_PID"
	wait "$CURL_PID"
	CURL_PID=
	[ "$(cat "$BATS_TEST_TMPDIR/code")" = 200 ]
	[ "$(cat "$BATS_TEST_TMPDIR/body")" = "hello from dev (instance -)" ]
	wait_for 5 exited "$HELLO_PID"
	local st=0
	wait "$HELLO_PID" || st=$?
	HELLO_PID=
	[ "$st" -eq 0 ]
	grep -q 'shutting down' "$BATS_TEST_TMPDIR/out"
	# and it no longer accepts
	run curl -s --max-time 2 "http://127.0.0.1:$PORT/healthz"
	[ "$status" -ne 0 ]
}
