#!/bin/bash
# API latency with a healthy and with a stopped (SIGSTOP) data plane:
# `slipway get apps` (the CLI, process start included) and the API calls
# behind `get apps` and `status APP` (curl over the unix socket), N calls
# each (default 200), median and p99 in ms. One routed hello app with 2
# instances under light load (hey) so that stats and drains are live.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${N:-200}
BIN=${BIN:-$ROOT/build/slipway}
HELLO=$ROOT/build/hello
T=$(mktemp -d /tmp/slipway-bench-api.XXXXXX)
export SLIPWAY_STATE_DIR=$T/state
LISTEN=18290
SERVE=
cleanup() {
	[ -n "${PROXY:-}" ] && kill -CONT "$PROXY" 2>/dev/null || true
	[ -n "${HEY:-}" ] && kill "$HEY" 2>/dev/null || true
	[ -n "$SERVE" ] && kill "$SERVE" 2>/dev/null && wait "$SERVE" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

"$BIN" serve --port-range 18300-18399 >"$T/serve.log" 2>&1 &
SERVE=$!
for _ in $(seq 1 100); do "$BIN" get apps >/dev/null 2>&1 && break; sleep 0.1; done
cat >"$T/app.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: hello}
spec:
  version: "1.0.0"
  run: {command: ["$HELLO", "--port", "\${PORT}"]}
  replicas: 2
  readiness: {http: {path: /healthz}, period: 200ms}
  route: {listen: "127.0.0.1:$LISTEN"}
YAML
"$BIN" apply -f "$T/app.yaml" --wait >/dev/null
if command -v hey >/dev/null; then
	hey -z 1h -c 2 -q 20 "http://127.0.0.1:$LISTEN/" >/dev/null 2>&1 &
	HEY=$!
fi
PROXY=$("$BIN" routes --json | sed -n 's/^ *"pid": \([0-9]*\),*$/\1/p' | head -1)

# stats < one ms value per line: "median p99"
stats() { sort -n | awk '{v[NR]=$1} END {m=v[int((NR+1)/2)]; p=v[int(NR*0.99+0.999)]; printf "median %6.1f ms   p99 %6.1f ms", m, p}'; }
cli() { for _ in $(seq 1 "$N"); do
	t0=$(date +%s%N); "$BIN" get apps >/dev/null; t1=$(date +%s%N)
	awk -v d=$((t1 - t0)) 'BEGIN {print d / 1e6}'; done | stats; }
api() { for _ in $(seq 1 "$N"); do
	curl -s -o /dev/null -w '%{time_total}\n' --unix-socket "$SLIPWAY_STATE_DIR/slipway.sock" "http://slipway$1"
	done | awk '{print $1 * 1000}' | stats; }

measure() {
	echo "$1:"
	echo "  slipway get apps       $(cli)"
	echo "  GET /v1/apps           $(api /v1/apps)"
	echo "  GET /v1/apps/hello     $(api /v1/apps/hello)"
}
echo "slipway $("$BIN" version 2>/dev/null | head -1), $N calls each, $(nproc) cores"
measure "proxy healthy"
kill -STOP "$PROXY"
measure "proxy stopped (SIGSTOP)"
kill -CONT "$PROXY"
