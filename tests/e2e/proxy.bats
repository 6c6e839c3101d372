#!/usr/bin/env bats
# The data plane on its own: the real `slipway proxy` process, real hello
# backends, route tables pushed over its control socket with curl. Only
# 127.0.0.1; every wait polls with a deadline.

load helpers

# The proxy's peak RSS (VmHWM) must stay under this while 50 MB bodies
# stream through it.
RSS_BOUND_KB=$((64 * 1024))

setup() {
	"$SLIPWAY_BIN" proxy --help >/dev/null 2>&1 || skip "this slipway has no proxy command"
	T=$(mktemp -d /tmp/slipway-proxy-e2e.XXXXXX)
	PIDS=()
	PROXY_PID=
}

teardown() {
	[ -n "${T:-}" ] || return 0
	[ -z "${DAEMON_PID:-}" ] || stop_daemon
	stop_proxy
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}

up() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/healthz"; }

# start_hello VAR VERSION: a hello backend; VAR gets its port. A port
# taken between free_port and the bind makes hello exit: try another.
start_hello() {
	local port pid try
	for try in 1 2 3; do
		port=$(free_port)
		HELLO_VERSION=$2 "$HELLO_BIN" --host 127.0.0.1 --port "$port" >/dev/null 2>&1 3>&- &
		pid=$!
		PIDS+=($pid)
		if wait_for 5 up_or_gone "$port" "$pid" && kill -0 "$pid" 2>/dev/null; then
			printf -v "$1" '%s' "$port"
			return 0
		fi
	done
	return 1
}

up_or_gone() { up "$1" || ! kill -0 "$2" 2>/dev/null; }

ctl() { # ctl METHOD PATH [BODY]
	if [ $# -ge 3 ]; then
		curl -s --max-time 5 --unix-socket "$T/state/proxy.sock" -X "$1" --data-binary "$3" "http://proxy$2"
	else
		curl -s --max-time 5 --unix-socket "$T/state/proxy.sock" -X "$1" "http://proxy$2"
	fi
}

ctl_up() { ctl GET /v1/version | grep -q '"pid"'; }

start_proxy() {
	"$SLIPWAY_BIN" proxy --state-dir "$T/state" "$@" >>"$T/proxy.log" 2>&1 3>&- &
	PROXY_PID=$!
	wait_for 10 ctl_up
}

stop_proxy() {
	[ -n "$PROXY_PID" ] || return 0
	kill -TERM "$PROXY_PID" 2>/dev/null || true
	local i
	for i in $(seq 1 150); do
		kill -0 "$PROXY_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$PROXY_PID" 2>/dev/null || true
	wait "$PROXY_PID" 2>/dev/null || true
	PROXY_PID=
}

# put_table JSON: installs it and checks the proxy took it.
put_table() {
	local out
	out=$(ctl PUT /v1/table "$1")
	echo "$out"
	[[ $out == *'"version"'* ]]
}

# A two-revision table: 1.0.0 (revision 1) and 2.0.0 (revision 2).
two_revisions() { # two_revisions W1 W2 [EXTRA_ROUTE_JSON]
	cat <<JSON
{"version": 1, "routes": [{"app": "hello", "listen": "127.0.0.1:$LP",
  "groups": [{"revision": 1, "weight": $1, "backends": [{"id": "h1", "addr": "127.0.0.1:$H1"}]},
             {"revision": 2, "weight": $2, "backends": [{"id": "h2", "addr": "127.0.0.1:$H2"}]}]
  ${3:-}}]}
JSON
}

# versions N [CURL_ARGS...]: N requests to / on one keep-alive connection,
# prints the X-Version of each, one a line.
versions() {
	local n=$1 i
	shift
	local urls=()
	for ((i = 0; i < n; i++)); do urls+=(-o /dev/null "http://127.0.0.1:$LP/"); done
	curl -s --max-time 60 -w '%header{x-version}\n' "$@" "${urls[@]}"
}

vmhwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$PROXY_PID/status"; }

two_backends_and_proxy() {
	start_hello H1 1.0.0
	start_hello H2 2.0.0
	LP=$(free_port)
	start_proxy "$@"
}

@test "proxy: weights 80/20 over 1000 requests give exactly 800/200" {
	two_backends_and_proxy
	run put_table "$(two_revisions 80 20)"
	[ "$status" -eq 0 ]
	grep -q 'serving 0 listeners (table version 0)' "$T/proxy.log"
	out=$(versions 1000)
	[ "$(grep -c '^1.0.0$' <<<"$out")" -eq 800 ]
	[ "$(grep -c '^2.0.0$' <<<"$out")" -eq 200 ]
	# every request counted, per revision
	stats=$(ctl GET '/v1/stats?window=60')
	[[ $stats == *'"requests":800,'*'"revision":1'* ]]
	[[ $stats == *'"requests":200,'*'"revision":2'* ]]
}

@test "proxy: the sticky cookie keeps a client on one revision" {
	two_backends_and_proxy
	put_table "$(two_revisions 50 50 ', "sticky": true')"
	for client in a b c d; do
		# first request: gets a cookie naming its revision
		first=$(curl -s --max-time 5 -c "$T/jar.$client" -o /dev/null -w '%header{x-version}' "http://127.0.0.1:$LP/")
		grep -q 'slipway_rev' "$T/jar.$client"
		out=$(versions 20 -b "$T/jar.$client")
		[ "$(sort -u <<<"$out")" = "$first" ]
	done
}

@test "proxy: a header route overrides the weights" {
	two_backends_and_proxy
	put_table "$(two_revisions 100 0 ', "headerRoutes": [{"name": "X-Slipway-Version", "exact": "canary", "revision": 2}]')"
	[ "$(versions 20 -H 'X-Slipway-Version: canary' | sort -u)" = 2.0.0 ]
	[ "$(versions 20 | sort -u)" = 1.0.0 ]
	[ "$(versions 5 -H 'X-Slipway-Version: other' | sort -u)" = 1.0.0 ]
}

@test "proxy: 50 MB up and down stream through with bounded memory" {
	two_backends_and_proxy
	put_table "$(two_revisions 100 0)"
	head -c $((50 * 1024 * 1024)) /dev/urandom >"$T/big"
	out=$(curl -s --max-time 60 --data-binary @"$T/big" "http://127.0.0.1:$LP/")
	[ "$out" = "received 52428800 bytes" ]
	out=$(curl -s --max-time 60 -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "http://127.0.0.1:$LP/")
	[ "$out" = "received 52428800 bytes" ]
	size=$(curl -s --max-time 60 -o /dev/null -w '%{size_download}' "http://127.0.0.1:$LP/bytes?n=52428800")
	[ "$size" = 52428800 ]
	# a client that reads slowly: the proxy must not buffer the body
	size=$(curl -s --max-time 60 --limit-rate 20M -o /dev/null -w '%{size_download}' "http://127.0.0.1:$LP/bytes?n=52428800")
	[ "$size" = 52428800 ]
	hwm=$(vmhwm_kb)
	echo "proxy VmHWM after 4 x 50 MB: ${hwm} kB (bound ${RSS_BOUND_KB} kB)" >&3
	[ "$hwm" -lt "$RSS_BOUND_KB" ]
}

# raw REQUEST: sends it on a fresh connection, prints the status line.
raw() {
	local line
	exec 4<>"/dev/tcp/127.0.0.1/$LP"
	printf '%b' "$1" >&4
	IFS= read -r -t 5 line <&4 || true
	exec 4>&-
	printf '%s\n' "${line%$'\r'}"
}

@test "proxy: request smuggling attempts get 400" {
	two_backends_and_proxy
	put_table "$(two_revisions 100 0)"
	[ "$(raw 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')" = "HTTP/1.1 400 Bad Request" ]
	[ "$(raw 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n')" = "HTTP/1.1 400 Bad Request" ]
	[ "$(raw 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nhello')" = "HTTP/1.1 400 Bad Request" ]
	[ "$(raw 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\nhello')" = "HTTP/1.1 400 Bad Request" ]
	[ "$(raw 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n')" = "HTTP/1.1 400 Bad Request" ]
	# a well-formed request on the same listener still works
	[ "$(raw 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')" = "HTTP/1.1 200 OK" ]
}

@test "proxy: no ready backend gives 503, no route gives 404" {
	start_hello H1 1.0.0
	LP=$(free_port)
	start_proxy
	put_table "{\"version\": 4, \"routes\": [{\"app\": \"hello\", \"listen\": \"127.0.0.1:$LP\", \"host\": \"hello.test\", \"groups\": [{\"revision\": 1, \"weight\": 100, \"backends\": []}]}]}"
	run curl -s --max-time 5 -w ' %{http_code}' -H 'Host: hello.test' "http://127.0.0.1:$LP/"
	[ "$output" = "no ready instance for hello
 503" ]
	run curl -s --max-time 5 -w ' %{http_code}' -H 'Host: other.test' "http://127.0.0.1:$LP/x"
	[ "$output" = "no route for other.test/x
 404" ]
	# an invalid table is refused with the reason, and the old one stays
	run ctl PUT /v1/table '{"routes": [{"app": "hello", "listen": "127.0.0.1:1x"}]}'
	[[ $output == *'routes[0].listen'* ]]
	[ "$(ctl GET /v1/version | grep -o '"tableVersion":[0-9]*')" = '"tableVersion":4' ]
}

@test "proxy: a client sending its head byte by byte is cut at the header timeout" {
	two_backends_and_proxy --header-timeout 1s
	put_table "$(two_revisions 100 0)"
	exec 5<>"/dev/tcp/127.0.0.1/$LP"
	(
		req='GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n'
		for ((i = 0; i < ${#req}; i++)); do
			printf '%s' "${req:$i:1}" >&5 2>/dev/null || exit 0
			sleep 0.2
		done
	) &
	writer=$!
	start=$(date +%s%N)
	got=$(timeout 10 cat <&5 || true)
	took_ms=$((($(date +%s%N) - start) / 1000000))
	kill "$writer" 2>/dev/null || true
	wait "$writer" 2>/dev/null || true
	exec 5>&-
	echo "cut after ${took_ms} ms: ${got%%$'\r'*}" >&3
	[[ $got == "HTTP/1.1 408 "* ]]
	[ "$took_ms" -lt 5000 ]
}

@test "proxy: a restarted proxy serves the saved table; one proxy per state dir" {
	two_backends_and_proxy
	put_table "$(two_revisions 100 0)"
	[ -f "$T/state/proxy-table.json" ]
	run "$SLIPWAY_BIN" proxy --state-dir "$T/state"
	[ "$status" -ne 0 ]
	[[ $output == *"another slipway proxy (pid $PROXY_PID)"* ]]
	stop_proxy
	start_proxy
	grep -q 'serving 1 listeners (table version 1)' "$T/proxy.log"
	[ "$(versions 3 | sort -u)" = 1.0.0 ]
	# a corrupt saved table is reported and ignored
	stop_proxy
	echo '{"routes": [' >"$T/state/proxy-table.json"
	start_proxy
	grep -q 'ignoring .*proxy-table.json' "$T/proxy.log"
}

@test "proxy: --metrics serves Prometheus text without auth; stop lets requests finish" {
	start_hello H1 1.0.0
	LP=$(free_port)
	MP=$(free_port)
	start_proxy --metrics "127.0.0.1:$MP"
	put_table "{\"version\": 1, \"routes\": [{\"app\": \"hello\", \"listen\": \"127.0.0.1:$LP\", \"groups\": [{\"revision\": 1, \"weight\": 100, \"backends\": [{\"id\": \"h1\", \"addr\": \"127.0.0.1:$H1\"}]}]}]}"
	versions 3 >/dev/null
	out=$(curl -s --max-time 5 "http://127.0.0.1:$MP/metrics")
	[[ $out == *'slipway_requests_total{app="hello",revision="1",class="2xx"} 3'* ]]
	# a slow download in flight when SIGTERM comes still completes
	# (long enough that socket buffers cannot hold the rest of it)
	curl -s --max-time 30 --limit-rate 10M -o /dev/null -w '%{size_download}' "http://127.0.0.1:$LP/bytes?n=40000000" >"$T/slow" &
	dl=$!
	wait_for 5 bash -c "curl -s --unix-socket $T/state/proxy.sock http://p/v1/stats | grep -q '\"h1\":{\"inflight\":1'"
	kill -TERM "$PROXY_PID"
	wait "$dl"
	[ "$(cat "$T/slow")" = 40000000 ]
	wait_for 12 bash -c "! kill -0 $PROXY_PID 2>/dev/null"
	wait "$PROXY_PID"
	PROXY_PID=
}

# hey_errors FILE [REGEX]: how many requests of hey's report failed with an
# error (no response), those whose error matches REGEX when given.
hey_errors() {
	sed -n '/Error distribution:/,/^$/p' "$1" | grep -E '^\s+\[[0-9]+\]' | grep -E -- "${2:-.}" |
		awk '{gsub(/[\[\]]/, "", $1); s+=$1} END {print s+0}'
}

hey_count() { # hey_count FILE STATUS
	sed -n '/Status code distribution:/,/^$/p' "$1" | grep -E "^\s+\[$2\]" | awk '{s+=$2} END {print s+0}'
}

# route_port: a free port below the instances' ranges (21000+) and the
# kernel's ephemeral ports (32768+), which a connection of anyone's may
# hold by the time the route is bound (seen here: "address already in use")
route_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + RANDOM % 10000))
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# requests_of REVISION: the proxy's count of revision's requests in the last 60 s.
requests_of() {
	ctl GET "/v1/stats?window=60" | python3 -c '
import json, sys
rev = int(sys.argv[1])
print(sum(s["requests"] for s in json.load(sys.stdin)["series"] if s["revision"] == rev))' "$1"
}

@test "proxy: --workers 2 shares the listeners; every worker gets the table, metrics are summed" {
	two_backends_and_proxy --workers 2
	LP=$(route_port)
	put_table "$(two_revisions 100 0)"
	hey -n 400 -c 8 "http://127.0.0.1:$LP/" >"$T/hey.txt" 2>&1 3>&-
	[ "$(hey_count "$T/hey.txt" 200)" = 400 ]
	# both workers' requests are in the one count analysis reads
	[ "$(requests_of 1)" = 400 ]
	ctl GET /metrics | grep -q 'slipway_requests_total{app="hello",revision="1",class="2xx"} 400'
	# a new table reaches every worker: no new connection, whichever
	# worker accepts it, still sees the old one
	put_table "$(two_revisions 0 100)"
	for i in $(seq 1 40); do
		curl -s --max-time 5 -o /dev/null -w '%header{x-version}\n' "http://127.0.0.1:$LP/"
	done >"$T/after"
	[ "$(sort -u "$T/after")" = 2.0.0 ]
	# exact weights still hold on one connection (one worker serves it)
	put_table "$(two_revisions 80 20)"
	out=$(versions 1000)
	[ "$(grep -c 1.0.0 <<<"$out")" = 800 ]
	[ "$(grep -c 2.0.0 <<<"$out")" = 200 ]
	# connections are shared out: 8 kept open, whichever worker accepts
	# them, end 4 and 4 (one worker took them all before)
	local fds=() fd i
	for i in $(seq 1 8); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$LP"
		fds+=("$fd")
	done
	wait_for 10 eval '[ "$(ctl GET /v1/stats | python3 -c "import json, sys; print(*[w[\"open\"] for w in json.load(sys.stdin)[\"workers\"]])")" = "4 4" ]'
	# and they work, each on whichever worker holds it
	for fd in "${fds[@]}"; do
		printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"$fd"
		head -n 1 <&"$fd" | grep -q '^HTTP/1.1 200'
		exec {fd}>&-
	done
	# backends are reported summed over the workers, and drain as usual
	[[ $(ctl GET /v1/stats) == *'"h1":{"inflight":0'* ]]
	kill -TERM "$PROXY_PID"
	wait_for 12 bash -c "! kill -0 $PROXY_PID 2>/dev/null"
	wait "$PROXY_PID"
	PROXY_PID=
	run "$SLIPWAY_BIN" proxy --state-dir "$T/state" --workers 65
	[ "$status" -eq 2 ]
	[[ $output == *"--workers must be from 1 to 64, got 65"* ]]
}

# The proxy `slipway serve` started, killed three times under 400 req/s of
# new connections: serve holds the listening sockets, so connections made
# while no proxy runs wait in the kernel's queue and are served by the
# next one. Only requests the killed proxy had already accepted fail.
@test "proxy: kill -9 of the proxy under load refuses no new connection" {
	export SLIPWAY_STATE_DIR=$T/state
	PORT_BASE=$((21000 + (RANDOM % 300) * 100))
	LP=$(route_port)
	start_daemon
	app_yaml hello 1.0.0 2 "" "  route: {listen: \"127.0.0.1:$LP\"}" >"$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LP/" || { cat "$T/daemon.log" "$T/state/logs/proxy.log"; false; }
	hey -z 10s -c 4 -q 100 -disable-keepalive "http://127.0.0.1:$LP/" >"$T/hey.txt" 2>&1 3>&- &
	hey_pid=$!
	sleep 1 # load runs before the first kill (load timing, not a wait for state)
	for i in 1 2 3; do
		old=$(cut -d' ' -f1 "$T/state/proxy.pid")
		kill -9 "$old"
		wait_for 10 bash -c "p=\$(cut -d' ' -f1 $T/state/proxy.pid); [ \"\$p\" != $old ] && kill -0 \$p"
		sleep 2 # load runs between kills; a proxy that served 1 s restarts at once
	done
	wait "$hey_pid"
	sed -n '/Status code/,$p' "$T/hey.txt"
	refused=$(hey_errors "$T/hey.txt" 'refused')
	errors=$(hey_errors "$T/hey.txt")
	ok=$(hey_count "$T/hey.txt" 200)
	echo "# 3 proxy kills under 400 req/s: $ok ok, $refused refused, $((errors - refused)) in flight failed" >&3
	[ "$refused" = 0 ]
	# only what was in flight can fail: at most the 4 connections per kill
	[ "$errors" -le 12 ]
	[ "$ok" -gt 2000 ]
	grep -q "listening sockets slipway serve held" "$T/state/logs/proxy.log"
}

@test "proxy: serve --proxy-workers 2 runs the proxy with 2 workers; a rollout goes through every worker" {
	export SLIPWAY_STATE_DIR=$T/state
	PORT_BASE=$((21000 + (RANDOM % 300) * 100))
	LP=$(route_port)
	start_daemon --proxy-workers 2
	app_yaml hello 1.0.0 2 "" "  route: {listen: \"127.0.0.1:$LP\"}" >"$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LP/" || { cat "$T/daemon.log" "$T/state/logs/proxy.log"; false; }
	pid=$(cut -d' ' -f1 "$T/state/proxy.pid")
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- '--workers 2'
	app_yaml hello 2.0.0 2 "" "  route: {listen: \"127.0.0.1:$LP\"}" >"$T/v2.yaml"
	slipway apply -f "$T/v2.yaml" --wait --timeout 30s
	for i in $(seq 1 40); do curl -s --max-time 5 "http://127.0.0.1:$LP/"; done >"$T/after"
	[ "$(grep -c 'hello from 2.0.0' "$T/after")" = 40 ]
	run slipway serve --proxy-workers 0
	[ "$status" -eq 2 ]
}

proxy_up_is() { slipway routes | grep -q "^proxy: up (pid $1)"; }

# After an upgrade the successor holds serve's channel: its crash refuses
# no connection either, also on a listener it opened after the upgrade.
@test "proxy: after a proxy upgrade, kill -9 of the new proxy refuses no new connection" {
	export SLIPWAY_STATE_DIR=$T/state
	PORT_BASE=$((21000 + (RANDOM % 300) * 100))
	LP=$(route_port)
	start_daemon
	app_yaml hello 1.0.0 1 "" "  route: {listen: \"127.0.0.1:$LP\"}" >"$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LP/" || { cat "$T/daemon.log" "$T/state/logs/proxy.log"; false; }
	old=$(cut -d' ' -f1 "$T/state/proxy.pid")
	slipway upgrade --proxy-only
	new=$(cut -d' ' -f1 "$T/state/proxy.pid")
	[ "$new" != "$old" ]
	wait_for 10 proxy_up_is "$new"
	# a listener the new proxy opened itself: only the set it sent
	# through the channel it inherited covers it
	LP2=$(route_port)
	app_yaml web 1.0.0 1 "" "  route: {listen: \"127.0.0.1:$LP2\"}" >"$T/web.yaml"
	slipway apply -f "$T/web.yaml" --wait
	wait_for 10 curl -fsS "http://127.0.0.1:$LP2/"
	hey -z 5s -c 4 -q 100 -disable-keepalive "http://127.0.0.1:$LP2/" >"$T/hey.txt" 2>&1 3>&- &
	hey_pid=$!
	sleep 1.5 # load runs before the kill (load timing, not a wait for state)
	kill -9 "$new"
	wait "$hey_pid"
	sed -n '/Status code/,$p' "$T/hey.txt"
	[ "$(hey_errors "$T/hey.txt" 'refused')" = 0 ]
	[ "$(hey_errors "$T/hey.txt")" -le 4 ]
	[ "$(hey_count "$T/hey.txt" 200)" -gt 1000 ]
}

# start_nginx_echo VAR: a real nginx (one process) answering every request
# with the request headers the proxy sent it; VAR gets its port.
start_nginx_echo() {
	local port try
	mkdir -p "$T/nginx"
	for try in 1 2 3; do
		port=$(free_port)
		nginx_echo_conf "$port"
		nginx -e "$T/nginx/error.log" -p "$T/nginx" -c "$T/nginx/nginx.conf" 3>&- &
		PIDS+=($!)
		# a port taken between free_port and the bind: try another
		if wait_for 5 up_or_gone "$port" "$!" && kill -0 "$!" 2>/dev/null; then
			printf -v "$1" '%s' "$port"
			return 0
		fi
	done
	return 1
}

nginx_echo_conf() {
	local port=$1
	cat >"$T/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $T/nginx/body;
  proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fastcgi;
  uwsgi_temp_path $T/nginx/uwsgi;
  scgi_temp_path $T/nginx/scgi;
  server {
    listen 127.0.0.1:$port;
    location / { return 200 "host=\$http_host rid=\$http_x_request_id xff=\$http_x_forwarded_for len=\$http_content_length\n"; }
  }
}
CONF
}

one_backend_table() { # one_backend_table PORT
	echo "{\"version\": 1, \"routes\": [{\"app\": \"hello\", \"listen\": \"127.0.0.1:$LP\", \"groups\": [{\"revision\": 1, \"weight\": 100, \"backends\": [{\"id\": \"h1\", \"addr\": \"127.0.0.1:$1\"}]}]}]}"
}

@test "proxy: Connection naming Host, X-Request-Id or Content-Length does not strip them upstream" {
	start_nginx_echo NG
	LP=$(free_port)
	start_proxy
	put_table "$(one_backend_table "$NG")"
	run curl -s --max-time 5 -H 'Connection: close, Host, X-Request-Id, X-Forwarded-For' \
		-H 'X-Request-Id: abc123' -H 'Host: app.test' "http://127.0.0.1:$LP/"
	echo "$output"
	[[ $output == "host=app.test rid=abc123 xff=127.0.0.1 "* ]]
	# a body's framing survives too: the upstream gets the Content-Length
	run curl -s --max-time 5 -H 'Connection: Content-Length' --data-binary 'hello' "http://127.0.0.1:$LP/"
	echo "$output"
	[[ $output == *"len=5" ]]
	# a true hop-by-hop header named in Connection is still removed
	run curl -s --max-time 5 -H 'Connection: X-Hop' -H 'X-Hop: 1' -H 'X-Request-Id: r2' "http://127.0.0.1:$LP/"
	[[ $output == "host=127.0.0.1:$LP rid=r2 "* ]]
}

# start_raw_upstream VAR RESPONSE: a backend that answers every request
# with the bytes RESPONSE (printf %b escapes) and closes; a broken upstream
# no real server would imitate. VAR gets its port.
start_raw_upstream() {
	local port pid try
	for try in 1 2 3; do
		port=$(free_port)
		python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
resp = sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
while True:
    c, _ = s.accept()
    try:
        data = b""
        while b"\r\n\r\n" not in data:
            d = c.recv(4096)
            if not d:
                break
            data += d
        if data:
            c.sendall(resp)
    except OSError:
        pass
    c.close()
' "$port" "$2" 3>&- &
		pid=$!
		PIDS+=($pid)
		# a port taken between free_port and the bind: try another
		if wait_for 5 raw_up_or_gone "$port" "$pid" && kill -0 "$pid" 2>/dev/null; then
			printf -v "$1" '%s' "$port"
			return 0
		fi
	done
	return 1
}

raw_up_or_gone() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || ! kill -0 "$2" 2>/dev/null; }

@test "proxy: an upstream response with an invalid header name is refused with 502" {
	start_raw_upstream UP 'HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\n\r\nok'
	start_raw_upstream GOOD 'HTTP/1.1 200 OK\r\nX-Good: y\r\nContent-Length: 2\r\n\r\nok'
	LP=$(free_port)
	start_proxy
	put_table "$(one_backend_table "$UP")"
	run curl -s --max-time 5 -D - "http://127.0.0.1:$LP/"
	echo "$output"
	[[ $output == "HTTP/1.1 502 "* ]]
	[[ $output != *"Bad Name"* ]]
	put_table "$(one_backend_table "$GOOD")"
	run curl -s --max-time 5 -D - "http://127.0.0.1:$LP/"
	[[ $output == "HTTP/1.1 200 "* ]]
	[[ $output == *"X-Good: y"* ]]
}

@test "proxy: a chunk size too large is reported as a chunk-size error" {
	two_backends_and_proxy
	put_table "$(two_revisions 100 0)"
	exec 4<>"/dev/tcp/127.0.0.1/$LP"
	printf 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nx\r\n' >&4
	got=$(timeout 5 cat <&4 || true)
	exec 4>&-
	echo "$got"
	[[ $got == "HTTP/1.1 400 "* ]]
	[[ $got == *"bad request: invalid chunk size"* ]]
	[[ $got != *"content-length"* ]]
}

@test "proxy: the access log is created 0640" {
	start_hello H1 1.0.0
	LP=$(free_port)
	umask 022 # what most users have: files come out 0644 unless asked otherwise
	start_proxy --access-log "$T/access.log"
	put_table "$(one_backend_table "$H1")"
	curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$LP/"
	[ "$(stat -c %a "$T/access.log")" = 640 ]
}

@test "proxy: a header-route regex with back-references is refused, and no header value stalls matching" {
	# the document a user writes is refused where the back-reference is
	cat >"$T/app.yaml" <<'YAML'
apiVersion: slipway/v1
kind: App
metadata: {name: hello}
spec:
  version: "1.0.0"
  run: {command: ["./hello", "--port", "${PORT}"]}
  route:
    listen: "127.0.0.1:8080"
    headerRoutes:
      - {name: X-Canary, regex: '((a*)*)\2\2\2x'}
YAML
	run "$SLIPWAY_BIN" validate -f "$T/app.yaml"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"app.yaml:10:41: regex is not a supported regular expression: back-references"* ]]
	# so is a table pushed to the proxy
	two_backends_and_proxy
	run ctl PUT /v1/table "$(two_revisions 100 0 ", \"headerRoutes\": [{\"name\": \"X-Canary\", \"regex\": \"((a*)*)\\\\2x\", \"revision\": 2}]")"
	echo "$output"
	[[ $output == *'headerRoutes[0].regex is not a valid regular expression (back-references'* ]]
	# a regex a backtracking matcher takes exponential time on, and values
	# up to 15 KB: answered at once, and the header route still works for
	# values up to 4 KiB (longer ones never match a regex route)
	put_table "$(two_revisions 100 0 ', "headerRoutes": [{"name": "X-Canary", "regex": "(a|a)*(a|aa)*b", "revision": 2}]')"
	long=$(head -c 4000 /dev/zero | tr '\0' a)
	run curl -s --max-time 5 -H "X-Canary: $long" "http://127.0.0.1:$LP/version"
	[ "$output" = 1.0.0 ]
	run curl -s --max-time 5 -H "X-Canary: ${long}b" "http://127.0.0.1:$LP/version"
	[ "$output" = 2.0.0 ]
	huge=$(head -c 15000 /dev/zero | tr '\0' a)
	run curl -s --max-time 5 -H "X-Canary: ${huge}b" "http://127.0.0.1:$LP/version"
	[ "$output" = 1.0.0 ]
}

# read_response FD: reads one response (status line, headers, a
# Content-Length body) from FD, keeping the connection; prints the status line.
read_response() {
	local line len=0 status body
	IFS= read -r -t 5 status <&"$1" || return 1
	while IFS= read -r -t 5 line <&"$1"; do
		line=${line%$'\r'}
		[ -z "$line" ] && break
		[[ ${line,,} == content-length:* ]] && len=${line#*: }
	done
	[ "$len" -gt 0 ] && IFS= read -r -t 5 -N "$len" body <&"$1"
	printf '%s\n' "${status%$'\r'}"
}

prom() { ctl GET /metrics | awk -v n="$1" '$1 == n {print $2}'; }

@test "proxy: at --max-conns idle keep-alive connections make room first, then 503 with Retry-After, counted and logged" {
	start_hello H1 1.0.0
	LP=$(free_port)
	start_proxy --max-conns 2
	put_table "$(one_backend_table "$H1")"
	[ "$(prom slipway_proxy_connections_limit)" = 2 ]
	# two keep-alive connections that finished a request and sit idle
	exec 5<>"/dev/tcp/127.0.0.1/$LP" 6<>"/dev/tcp/127.0.0.1/$LP"
	printf 'GET /version HTTP/1.1\r\nHost: x\r\n\r\n' >&5
	printf 'GET /version HTTP/1.1\r\nHost: x\r\n\r\n' >&6
	[ "$(read_response 5)" = "HTTP/1.1 200 OK" ]
	[ "$(read_response 6)" = "HTTP/1.1 200 OK" ]
	# a new client is served: the connection idle longest made room
	run curl -s --max-time 5 "http://127.0.0.1:$LP/version"
	[ "$output" = 1.0.0 ]
	[ "$(prom slipway_proxy_idle_connections_closed_total)" -ge 1 ]
	exec 5>&- 6>&-
	# two connections in the middle of a request are not idle: the next
	# client is answered 503 with Retry-After, not an empty reply
	wait_for 5 eval '[ "$(prom slipway_proxy_connections)" = 0 ]'
	exec 5<>"/dev/tcp/127.0.0.1/$LP" 6<>"/dev/tcp/127.0.0.1/$LP"
	printf 'GET /version HTTP/1.1\r\n' >&5
	printf 'GET /version HTTP/1.1\r\n' >&6
	wait_for 5 eval '[ "$(prom slipway_proxy_connections)" = 2 ]'
	run curl -s --max-time 5 -D - "http://127.0.0.1:$LP/version"
	echo "$output"
	[[ $output == "HTTP/1.1 503 "* ]]
	[[ $output == *"Retry-After: 1"* ]]
	[[ $output == *"the proxy is at its connection limit (2); retry later"* ]]
	[ "$(prom 'slipway_proxy_connections_refused_total{answer="503"}')" = 1 ]
	grep -q 'at the connection limit (2 client connections, --max-conns): refused 1 new connection' "$T/proxy.log"
	# at most one line per 10 s: the next refusals are reported when the window ends
	curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$LP/version"
	curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$LP/version"
	[ "$(grep -c 'at the connection limit' "$T/proxy.log")" = 1 ]
	[ "$(prom 'slipway_proxy_connections_refused_total{answer="503"}')" = 3 ]
	# the held connections still get their answers
	printf 'Host: x\r\n\r\n' >&5
	[ "$(read_response 5)" = "HTTP/1.1 200 OK" ]
	exec 5>&- 6>&-
	wait_for 15 grep -q 'refused 2 new connections since the last report' "$T/proxy.log"
}
