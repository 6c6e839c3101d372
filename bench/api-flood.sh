#!/bin/bash
# The API under a flood of idle TCP connections (FLOOD, default 300, that
# never send a byte): the operator's calls over the unix socket (curl, N
# calls, median and p99 in ms) before and during the flood, the daemon's
# RSS, how many of the flood were answered 503, and how long the silent
# ones are held (the header timeout). Ports 31400-31499.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${N:-100}
FLOOD=${FLOOD:-300}
BIN=${BIN:-$ROOT/build/slipway}
T=$(mktemp -d /tmp/slipway-bench-flood.XXXXXX)
export SLIPWAY_STATE_DIR=$T/state
API=31499
SERVE=
HOLD=
cleanup() {
	[ -n "$HOLD" ] && kill "$HOLD" 2>/dev/null || true
	[ -n "$SERVE" ] && kill "$SERVE" 2>/dev/null && wait "$SERVE" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

"$BIN" serve --api "127.0.0.1:$API" --port-range 31400-31498 >"$T/serve.log" 2>&1 &
SERVE=$!
for _ in $(seq 1 100); do "$BIN" get apps >/dev/null 2>&1 && break; sleep 0.1; done

stats() { sort -n | awk '{v[NR]=$1} END {m=v[int((NR+1)/2)]; p=v[int(NR*0.99+0.999)]; printf "median %6.2f ms   p99 %6.2f ms", m, p}'; }
api() { for _ in $(seq 1 "$N"); do
	curl -s -o /dev/null -w '%{time_total}\n' --unix-socket "$SLIPWAY_STATE_DIR/slipway.sock" "http://slipway/v1/apps"
	done | awk '{print $1 * 1000}' | stats; }
rss() { awk '/VmRSS/ {print $2 " KiB"}' "/proc/$SERVE/status"; }
established() { ss -tn state established "( sport = :$API )" | tail -n +2 | wc -l; }

echo "$("$BIN" version 2>/dev/null | head -1), $N calls each, flood of $FLOOD, $(nproc) cores"
echo "idle:         GET /v1/apps over the unix socket  $(api)   daemon RSS $(rss)"
# Each connection reads what the server says (a 503, or nothing) into a file.
cat >"$T/hold.sh" <<SH
for i in \$(seq 1 $FLOOD); do
	exec {fd}<>/dev/tcp/127.0.0.1/$API || continue
	timeout 0.5 cat <&\$fd >"$T/r.\$i" 2>/dev/null &
done
wait
touch "$T/holding"
exec sleep 600
SH
t0=$(date +%s%N)
bash "$T/hold.sh" &
HOLD=$!
while [ ! -f "$T/holding" ]; do sleep 0.05; done
echo "flooded:      GET /v1/apps over the unix socket  $(api)   daemon RSS $(rss)"
refused=$(grep -l '^HTTP/1.1 503' "$T"/r.* 2>/dev/null | wc -l)
echo "              $refused of $FLOOD answered 503 at once, $(established) held by the daemon"
while [ "$(established)" -gt 0 ]; do sleep 0.1; done
t1=$(date +%s%N)
echo "              the silent ones closed by the daemon after $(( (t1 - t0) / 1000000 )) ms"
