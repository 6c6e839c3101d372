#!/bin/bash
# The proxy's client connections: memory per idle connection and what
# clients get at the connection limit. Loopback, ports 30000-39999.
#
#   bench/proxy-conns.sh [N]      (N idle connections, default 10000)
#
# 1. RSS (VmRSS) of `slipway proxy` before and with N idle connections,
#    fresh (connected, nothing sent), keep-alive (one request answered,
#    one connection after the other, then idle for 2 s) and burst (one
#    request on every connection at once, all in flight together, then
#    idle for 2 s); the same for nginx (1 worker, proxying to the same
#    backend) for comparison. Per connection = RSS delta / N. In a burst
#    the backend cannot take N connections at once: some requests get a
#    502 (the connections stay open all the same); the answers are shown.
# 2. At the limit: a proxy with --max-conns 1000 holding 1000 connections
#    in the middle of a request head, then 300 new clients each sending a
#    request: how many got 503 with Retry-After, how many were closed
#    unanswered, and the proxy's counters; then the same with 1000 idle
#    keep-alive connections instead (they make room: new clients get 200).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-10000}
BIN=${BIN:-$ROOT/build/slipway}
HELLO=${HELLO:-$ROOT/build/hello}
BACK=30180 SLW=30181 NGX=30182 LIM=30183
# descriptors: N clients, and in a burst up to N upstream connections
FDS=$((2 * N + 2000))
[ "$(ulimit -Hn)" = unlimited ] || [ "$FDS" -le "$(ulimit -Hn)" ] || FDS=$(ulimit -Hn)

T=$(mktemp -d /tmp/slipway-bench-conns.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null
	sleep 0.3
	rm -rf "$T"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# hold PORT N MODE: opens N connections (MODE fresh: nothing sent;
# keepalive: one request answered each; burst: one request on each, all
# sent before any answer is read; head: half a request head sent), prints
# "ready" (with the answers' status lines for burst), holds them until
# killed.
hold() {
	exec python3 - "$@" <<'PY'
import resource, socket, sys, time
port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1000, n + 1000))
def answer(s):
    data = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if cl and len(body) >= int(cl[0].split(b":")[1]):
                break
    return data.split(b"\r\n", 1)[0].decode() if data else "closed"
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    if mode == "keepalive":
        s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        answer(s)
    elif mode == "burst":
        s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
    elif mode == "head":
        s.sendall(b"GET /version HTTP/1.1\r\n")
    socks.append(s)
got = {}
if mode == "burst":
    for s in socks:
        a = answer(s)
        got[a] = got.get(a, 0) + 1
print("ready", ", ".join("%d x %s" % (v, k) for k, v in sorted(got.items())), flush=True)
time.sleep(3600)
PY
}

# measure NAME PID PORT MODE: RSS delta per connection, in bytes
measure() {
	local name=$1 pid=$2 port=$3 mode=$4 before after hp answers
	before=$(rss_kb "$pid")
	coproc HOLD { hold "$port" "$N" "$mode"; }
	hp=$HOLD_PID
	read -r _ answers <&"${HOLD[0]}"
	[ -z "$answers" ] || echo "         $mode answers: $answers"
	sleep 2 # idle keep-alive connections give their buffers back after 1 s
	after=$(rss_kb "$pid")
	kill "$hp" 2>/dev/null || true
	wait "$hp" 2>/dev/null || true
	awk -v n="$name" -v m="$mode" -v b="$before" -v a="$after" -v c="$N" \
		'BEGIN {printf "%-8s %-10s RSS %7d -> %7d KiB: %6.2f KiB per idle connection\n", n, m, b, a, (a - b) / c}'
	sleep 1
}

"$HELLO" --host 127.0.0.1 --port "$BACK" >/dev/null 2>&1 &
PIDS+=($!)
table() { # table LISTEN_PORT
	cat <<JSON
{"version": 1, "routes": [{"app": "bench", "listen": "127.0.0.1:$1",
 "groups": [{"revision": 1, "weight": 100, "backends": [{"id": "b1", "addr": "127.0.0.1:$BACK"}]}]}]}
JSON
}

# start_slipway DIR PORT [OPTIONS]: a proxy serving the backend on PORT; SPID
start_slipway() {
	local dir=$1 port=$2
	shift 2
	mkdir -p "$dir"
	(ulimit -n "$FDS"; exec "$BIN" proxy --state-dir "$dir" "$@" >"$dir.log" 2>&1) &
	SPID=$!
	PIDS+=("$SPID")
	for _ in $(seq 1 100); do [ -S "$dir/proxy.sock" ] && break; sleep 0.05; done
	curl -fsS --unix-socket "$dir/proxy.sock" -X PUT http://proxy/v1/table -d "$(table "$port")" >/dev/null
	for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/version" >/dev/null 2>&1 && break; sleep 0.05; done
}

# start_nginx: nginx (1 worker) proxying to the backend on NGX; NPID is its worker
start_nginx() {
	cat >"$T/nginx.conf" <<CONF
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx.err;
worker_rlimit_nofile $FDS;
events { worker_connections $((FDS - 1000)); }
http {
  access_log off;
  keepalive_timeout 60s;
  upstream b { server 127.0.0.1:$BACK; keepalive 16; }
  server { listen 127.0.0.1:$NGX; location / { proxy_pass http://b; proxy_http_version 1.1;
           proxy_set_header Connection ""; } }
}
CONF
	nginx -c "$T/nginx.conf" -p "$T" -e "$T/nginx.err"
	for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$NGX/version" >/dev/null 2>&1 && break; sleep 0.05; done
	NPID=$(pgrep -P "$(cat "$T/nginx.pid")" | head -1)
}

stop_nginx() {
	kill "$(cat "$T/nginx.pid")"
	for _ in $(seq 1 100); do [ -f "$T/nginx.pid" ] || break; sleep 0.05; done
}

# an older build (BIN=...) without --max-conns: memory only, at its limit
MAXC=()
if "$BIN" proxy --help | grep -q -- --max-conns; then
	MAXC=(--max-conns $((N + 1000)))
elif [ "$N" -gt 10000 ]; then
	N=10000
fi
echo "memory per idle client connection ($N connections; each figure from a fresh process)"
for mode in fresh keepalive burst; do
	start_slipway "$T/s-$mode" $SLW "${MAXC[@]}"
	measure slipway "$SPID" $SLW $mode
	kill "$SPID"
	wait "$SPID" 2>/dev/null || true
	start_nginx
	measure nginx "$NPID" $NGX $mode
	stop_nginx
done

# --- at the limit
[ ${#MAXC[@]} -gt 0 ] || exit 0
start_slipway "$T/lim" $LIM --max-conns 1000

# burst: 300 clients at once, each one request; prints the answers by kind
burst() {
	python3 - "$LIM" <<'PY'
import socket, sys, threading, time, collections
port = int(sys.argv[1])
got = collections.Counter()
lat = []
lock = threading.Lock()
def one():
    t0 = time.time()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(body) >= int(cl[0].split(b":")[1]):
                    break
        s.close()
        if not data:
            k = "closed, no answer"
        else:
            st = data.split(b"\r\n", 1)[0].decode()
            k = st + (" + Retry-After" if b"Retry-After:" in data else "")
    except Exception as e:
        k = "error: " + type(e).__name__
    with lock:
        got[k] += 1
        lat.append(time.time() - t0)
ts = [threading.Thread(target=one) for _ in range(300)]
for t in ts: t.start()
for t in ts: t.join()
lat.sort()
for k, v in sorted(got.items()):
    print("   %4d  %s" % (v, k))
print("   slowest answer %.0f ms, median %.0f ms" % (lat[-1] * 1000, lat[len(lat) // 2] * 1000))
PY
}
counters() {
	curl -fsS --unix-socket "$T/lim/proxy.sock" http://proxy/metrics |
		grep -E '^slipway_proxy_(connections_refused_total|idle_connections_closed_total)' | sed 's/^/   /'
}

echo "at the limit: --max-conns 1000, 1000 connections in the middle of a request head, 300 new clients"
coproc HOLD { hold $LIM 1000 head; }
hp=$HOLD_PID
read -r _ <&"${HOLD[0]}"
burst
counters
kill "$hp"; wait "$hp" 2>/dev/null || true
sleep 1
echo "at the limit: --max-conns 1000, 1000 idle keep-alive connections, 300 new clients"
coproc HOLD { hold $LIM 1000 keepalive; }
hp=$HOLD_PID
read -r _ <&"${HOLD[0]}"
burst
counters
kill "$hp"; wait "$hp" 2>/dev/null || true
echo "log lines about refusals (at most one per 10 s): $(grep -c 'at the connection limit' "$T/lim.log")"
