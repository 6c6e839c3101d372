#!/bin/bash
# Proxy benchmark, one run: the same nginx backend (small body, one worker)
# measured direct, behind nginx (1 worker, upstream keepalive), behind
# HAProxy (1 thread, then 2 threads, http-reuse always) and behind `slipway
# proxy` (1 worker, then --workers 2), with wrk (1 thread, 64 connections,
# DURATION, ROUNDS rounds taken in turn so that a noisy neighbour hurts
# every proxy alike; the best round of each is reported). Then the proxy's
# RSS with 10,000 idle client connections. Loopback only, ports
# BENCH_PORT.. BENCH_PORT+5 (default 31080).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
BIN=${BIN:-$ROOT/build/slipway}

. bench/proxy-lib.sh
need nginx haproxy wrk python3 curl

BACK=${BENCH_PORT:-31080} NGX=$((BACK + 1)) HAP=$((BACK + 2)) HAP2=$((BACK + 3)) SLW=$((BACK + 4)) SLW2=$((BACK + 5))
nginx_backend
nginx_conf nginx-proxy "upstream b { server 127.0.0.1:$BACK; keepalive 64; }
  server { listen 127.0.0.1:$NGX; keepalive_requests 1000000; location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
haproxy_start haproxy 1 "$HAP"
haproxy_start haproxy2 2 "$HAP2"
slipway_start slipway "$SLW" "$BIN"
slipway_start slipway2 "$SLW2" "$BIN" --workers 2
serving $BACK $NGX $HAP $HAP2 $SLW $SLW2

declare -A RPS P50 P99
NAMES=(direct nginx haproxy haproxy-2threads slipway slipway-2workers)
declare -A PORT=([direct]=$BACK [nginx]=$NGX [haproxy]=$HAP [haproxy-2threads]=$HAP2 [slipway]=$SLW
	[slipway-2workers]=$SLW2)

# wrk's latency figures in ms ("850.00us", "1.20ms", "2.01s")
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}' <<<"$1"; }

run() { # run NAME: one wrk round; keeps the best req/s of the rounds
	local out rps
	out=$(wrk -t1 -c64 -d"$DURATION" --latency "http://127.0.0.1:${PORT[$1]}/")
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	if [ -z "${RPS[$1]:-}" ] || awk -v a="$rps" -v b="${RPS[$1]}" 'BEGIN {exit !(a > b)}'; then
		RPS[$1]=$rps
		P50[$1]=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
		P99[$1]=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
	fi
}

echo "wrk -t1 -c64 -d$DURATION, $ROUNDS rounds in turn, best round; backend: nginx (1 worker), small body"
for ((r = 1; r <= ROUNDS; r++)); do
	for n in "${NAMES[@]}"; do run "$n"; done
done
for n in "${NAMES[@]}"; do
	printf '%-18s %10s req/s   p50 %6s ms   p99 %6s ms\n' "$n" "${RPS[$n]}" "${P50[$n]}" "${P99[$n]}"
done
awk -v s="${RPS[slipway]}" -v h="${RPS[haproxy]}" -v s2="${RPS[slipway-2workers]}" -v h2="${RPS[haproxy-2threads]}" 'BEGIN {
	printf "slipway / haproxy req/s, 1 worker / 1 thread: %.2fx\n", s / h
	printf "slipway / haproxy req/s, 2 workers / 2 threads: %.2fx\n", s2 / h2
	printf "slipway 2 workers / 1 worker: %.2fx\n", s2 / s }'

# RSS with 10,000 idle client connections (1 worker)
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$SPID_slipway/status")
python3 - "$SLW" <<'PY' &
import socket, struct, sys, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (19000, 19000))
socks = []
for i in range(10000):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    # closed with a reset: 10,000 ephemeral ports in TIME_WAIT would make
    # binds of other programs on this machine fail for a minute
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    socks.append(s)
print("opened", len(socks), flush=True)
time.sleep(4)
for s in socks:
    s.close()
PY
IDLE=$!
sleep 3 # the client holds its connections open for 4 s
rss=$(awk '/VmRSS/ {print $2}' "/proc/$SPID_slipway/status")
wait $IDLE || true
echo "slipway proxy RSS: $rss0 KiB before, $rss KiB with 10,000 idle client connections"
