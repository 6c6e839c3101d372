#!/bin/bash
# `make demo`: the main job on the embedded default. In a temporary state
# dir: start the daemon, deploy hello v1 behind a route, drive steady load
# with hey, roll out v2 (healthy) through canary steps judged by analysis to
# Healthy, then v3 with HELLO_ERROR_RATE=0.1, which the analysis catches
# and rolls back by itself. Printed live, one line a second; then a summary
# and the decision log. Exits 0 and leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/slipway
HELLO=$ROOT/build/hello
T=$(mktemp -d /tmp/slipway-demo.XXXXXX)
export SLIPWAY_STATE_DIR=$T/state
LISTEN=127.0.0.1:28080
DAEMON= LOAD=

cleanup() {
	[ -n "$LOAD" ] && kill "$LOAD" 2>/dev/null
	if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
		kill -TERM "$DAEMON"
		wait "$DAEMON" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# app VERSION [ERROR_RATE]
app() {
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: hello}
spec:
  version: "$1"
  replicas: 2
  run:
    command: ["$HELLO", "--port", "\${PORT}"]
    env: {HELLO_ERROR_RATE: "${2:-0}"}
  readiness: {http: {path: /healthz}, period: 200ms}
  liveness: {http: {path: /healthz}, period: 1s}
  stop: {signal: SIGTERM, timeout: 5s, drainTimeout: 5s}
  route: {listen: "$LISTEN"}
  strategy:
    canary:
      steps:
        - setWeight: 20
        - analysis: {templates: [golden]}
        - setWeight: 50
        - analysis: {templates: [golden]}
---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: golden}
spec:
  metrics:
    - name: success-rate
      interval: 1s
      initialDelay: 1s
      count: 4
      minSamples: 10
      inconclusiveLimit: 2
      successCondition: "result >= 0.99"
      provider: {builtin: {metric: success-rate, window: 2s}}
    - name: latency-p99
      interval: 1s
      initialDelay: 1s
      count: 4
      minSamples: 10
      inconclusiveLimit: 2
      successCondition: "result <= 250"
      provider: {builtin: {metric: latency-p99, window: 2s}}
YAML
}

say "starting slipway (state in $T/state)"
"$BIN" serve --port-range 28100-28199 >"$T/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 1 100); do "$BIN" get apps >/dev/null 2>&1 && break; sleep 0.1; done

say "hello 1.0.0: 2 replicas behind http://$LISTEN"
app 1.0.0 >"$T/hello.yaml"
"$BIN" apply -f "$T/hello.yaml" --wait
for _ in $(seq 1 50); do curl -fsS "http://$LISTEN/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$LISTEN/"

say "steady load: hey, 100 requests/s for the whole demo"
hey -z 80s -c 4 -q 25 "http://$LISTEN/" >"$T/hey.txt" 2>&1 &
LOAD=$!
sleep 1

say "rolling out 2.0.0 (healthy): canary 20% -> analysis -> 50% -> analysis -> 100%"
app 2.0.0 >"$T/hello.yaml"
"$BIN" apply -f "$T/hello.yaml"
"$BIN" rollout status hello --watch || true

say "rolling out 3.0.0 with 10% errors: the analysis must catch it"
app 3.0.0 0.1 >"$T/hello.yaml"
"$BIN" apply -f "$T/hello.yaml"
if "$BIN" rollout status hello --watch; then
	echo "demo: 3.0.0 was promoted; it should have been rolled back" >&2
	exit 1
fi

kill -INT "$LOAD" 2>/dev/null || true # hey prints its report on SIGINT
wait "$LOAD" 2>/dev/null || true
LOAD=

say "summary"
"$BIN" status hello
echo
echo "requests during the demo (hey):"
sed -n '/Status code distribution:/,/^$/p' "$T/hey.txt"
sed -n '/Error distribution:/,/^$/p' "$T/hey.txt"

say "decision log (slipway analysis hello)"
"$BIN" analysis hello | cut -c1-180

say "events"
"$BIN" events hello | grep -E "Applied|Weight|Analysis|Degraded|Healthy|Promoted|Drain" | cut -c1-200

say "stopping slipway (instances and proxy stop with it)"
kill -TERM "$DAEMON"
wait "$DAEMON" || true
DAEMON=
echo "done"
