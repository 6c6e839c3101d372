#!/bin/bash
# Proxy benchmark: the same nginx backend (small body, one worker) measured
# direct, behind nginx (1 worker, upstream keepalive), behind HAProxy
# (1 thread, http-reuse) and behind `slipway proxy`, with wrk (1 thread,
# 64 connections, DURATION). Then the proxy's RSS with 10,000 idle client
# connections. Loopback only. Needs root the first time (installs nginx,
# haproxy, wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
BIN=$ROOT/build/slipway

need=""
for p in nginx haproxy wrk python3; do command -v "$p" >/dev/null || need="$need $p"; done
command -v nginx >/dev/null || need="$need nginx-light"
if [ -n "$need" ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light haproxy wrk python3 >/dev/null
fi

T=$(mktemp -d /tmp/slipway-bench-proxy.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$T/nginx-backend.pid" ] && kill "$(cat "$T/nginx-backend.pid")" 2>/dev/null
	[ -f "$T/nginx-proxy.pid" ] && kill "$(cat "$T/nginx-proxy.pid")" 2>/dev/null
	sleep 0.2
	rm -rf "$T"
}
trap cleanup EXIT

BACK=${BENCH_PORT:-31080} NGX=$((BACK + 1)) HAP=$((BACK + 2)) SLW=$((BACK + 3)) SLW2=$((BACK + 4))

nginx_conf() { # nginx_conf NAME SERVER_BLOCK
	cat >"$T/$1.conf" <<CONF
worker_processes 1;
pid $T/$1.pid;
error_log $T/$1.err;
events { worker_connections 20000; }
http {
  access_log off;
  $2
}
CONF
	nginx -c "$T/$1.conf" -p "$T"
}

nginx_conf nginx-backend "server { listen 127.0.0.1:$BACK; keepalive_requests 1000000; location / { return 200 'hello from the backend\n'; } }"
nginx_conf nginx-proxy "upstream b { server 127.0.0.1:$BACK; keepalive 64; }
  server { listen 127.0.0.1:$NGX; keepalive_requests 1000000; location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"

cat >"$T/haproxy.cfg" <<CFG
global
  nbthread 1
  maxconn 9000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend f
  bind 127.0.0.1:$HAP
  default_backend b
backend b
  server s1 127.0.0.1:$BACK
CFG
haproxy -f "$T/haproxy.cfg" -D -p "$T/haproxy.pid"
PIDS+=("$(cat "$T/haproxy.pid")")

mkdir -p "$T/state"
(ulimit -n 19000; exec "$BIN" proxy --state-dir "$T/state" >"$T/proxy.log" 2>&1) &
SPID=$!
PIDS+=("$SPID")
for _ in $(seq 1 100); do [ -S "$T/state/proxy.sock" ] && break; sleep 0.05; done
curl -fsS --unix-socket "$T/state/proxy.sock" -X PUT http://proxy/v1/table -d @- >/dev/null <<JSON
{"version": 1, "routes": [{"app": "bench", "listen": "127.0.0.1:$SLW", "host": null,
 "pathPrefix": "/", "sticky": false, "headerRoutes": [],
 "groups": [{"revision": 1, "weight": 100, "backends": [{"id": "b1", "addr": "127.0.0.1:$BACK"}]}]}]}
JSON
for port in $BACK $NGX $HAP $SLW; do
	for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.05; done
done

declare -A RPS P99
run() { # run NAME PORT
	local out
	out=$(wrk -t1 -c64 -d"$DURATION" --latency "http://127.0.0.1:$2/")
	RPS[$1]=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	P99[$1]=$(awk '$1 == "99%" {print $2}' <<<"$out")
	printf '%-16s %10s req/s   p99 %s\n' "$1" "${RPS[$1]}" "${P99[$1]}"
}

echo "wrk -t1 -c64 -d$DURATION, backend: nginx (1 worker), small body"
run direct $BACK
run nginx $NGX
run haproxy $HAP
run slipway $SLW
awk -v s="${RPS[slipway]}" -v h="${RPS[haproxy]}" 'BEGIN {printf "slipway / haproxy req/s: %.2fx\n", s / h}'

# RSS with 10,000 idle client connections
rss0=$(awk '/VmRSS/ {print $2}' /proc/$SPID/status)
python3 - "$SLW" <<'PY' &
import socket, sys, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (19000, 19000))
socks = []
for i in range(10000):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    socks.append(s)
print("opened", len(socks), flush=True)
time.sleep(4)
PY
IDLE=$!
sleep 3 # the client holds its connections open for 4 s
rss=$(awk '/VmRSS/ {print $2}' /proc/$SPID/status)
wait $IDLE || true
echo "slipway proxy RSS: $rss0 KiB before, $rss KiB with 10,000 idle client connections"
