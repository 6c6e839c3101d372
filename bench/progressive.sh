#!/bin/bash
# Progressive-delivery figures, under steady load (hey, 100 req/s):
#  - time from the first weighted request to a bad canary (10% errors,
#    analysis every 1 s) until 100% of traffic is back on stable, over
#    ROLLBACKS trials (from the event log: the canary's "Weight" event to
#    its "Degraded" event, both stamped by the daemon in ms);
#  - failed requests and false rollbacks over ROLLOUTS canary rollouts of
#    a healthy version.
#   bench/progressive.sh [ROLLBACKS] [ROLLOUTS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/slipway
HELLO=$ROOT/build/hello
ROLLBACKS=${1:-5}
ROLLOUTS=${2:-20}
T=$(mktemp -d /tmp/slipway-bench-pd.XXXXXX)
export SLIPWAY_STATE_DIR=$T/state
LISTEN=127.0.0.1:29080
DAEMON= LOAD=
cleanup() {
	[ -n "$LOAD" ] && kill "$LOAD" 2>/dev/null
	[ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

app() { # app VERSION ERROR_RATE
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: bench}
spec:
  version: "$1"
  replicas: 2
  run:
    command: ["$HELLO", "--port", "\${PORT}"]
    env: {HELLO_ERROR_RATE: "$2"}
  readiness: {http: {path: /healthz}, period: 200ms}
  stop: {drainTimeout: 5s}
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
      count: 3
      minSamples: 10
      inconclusiveLimit: 2
      successCondition: "result >= 0.99"
      provider: {builtin: {metric: success-rate, window: 2s}}
YAML
}

ms_of() { # RFC 3339 with ms -> epoch ms
	date -d "$1" +%s%3N
}

"$BIN" serve --port-range 29100-29299 >"$T/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 1 100); do "$BIN" get apps >/dev/null 2>&1 && break; sleep 0.1; done
app 0.0.0 0 >"$T/app.yaml"
"$BIN" apply -f "$T/app.yaml" --wait >/dev/null
for _ in $(seq 1 50); do curl -fsS "http://$LISTEN/" >/dev/null 2>&1 && break; sleep 0.1; done

echo "== rollback time of a canary with 10% errors ($ROLLBACKS trials, analysis every 1 s)"
times=()
v=0
for i in $(seq 1 "$ROLLBACKS"); do
	hey -z 60s -c 4 -q 25 "http://$LISTEN/" >/dev/null 2>&1 &
	LOAD=$!
	v=$((v + 1))
	app "bad.$v" 0.1 >"$T/app.yaml"
	"$BIN" apply -f "$T/app.yaml" >/dev/null
	"$BIN" rollout status bench --watch >/dev/null || true
	ev=$("$BIN" events bench --json)
	flat=$(printf '%s\n' "$ev" | tr -d '\n ')
	w=$(grep -o '"time":"[^"]*","app":"bench","kind":"Weight"' <<<"$flat" | tail -1 | sed 's/"time":"\([^"]*\)".*/\1/' || true)
	d=$(grep -o '"time":"[^"]*","app":"bench","kind":"Degraded"' <<<"$flat" | tail -1 | sed 's/"time":"\([^"]*\)".*/\1/' || true)
	kill "$LOAD" 2>/dev/null; wait "$LOAD" 2>/dev/null || true; LOAD=
	if [ -n "$w" ] && [ -n "$d" ]; then
		t=$(( $(ms_of "$d") - $(ms_of "$w") ))
		times+=("$t")
		echo "trial $i: weight 20% at $w, back to 100% stable at $d: ${t} ms"
	else
		echo "trial $i: no rollback seen"
	fi
	"$BIN" rollout undo bench >/dev/null 2>&1 || true
	for _ in $(seq 1 100); do "$BIN" get apps | grep -q Healthy && break; sleep 0.1; done
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {if (NR) printf "rollback time: min %d ms, median %d ms, max %d ms over %d trials\n", a[1], a[int((NR+1)/2)], a[NR], NR}'

echo "== $ROLLOUTS canary rollouts of a healthy version under steady load"
hey -z 3600s -c 4 -q 25 "http://$LISTEN/" >"$T/hey.txt" 2>&1 &
LOAD=$!
healthy=0 degraded=0
for i in $(seq 1 "$ROLLOUTS"); do
	v=$((v + 1))
	app "good.$v" 0 >"$T/app.yaml"
	"$BIN" apply -f "$T/app.yaml" >/dev/null
	if "$BIN" rollout status bench --watch >/dev/null; then
		healthy=$((healthy + 1))
	else
		degraded=$((degraded + 1))
		"$BIN" status bench | sed -n 3p
		"$BIN" rollout undo bench >/dev/null 2>&1 || true
	fi
done
kill -INT "$LOAD"
wait "$LOAD" || true
LOAD=
set +o pipefail # a grep that finds nothing is a zero here
ok=$(sed -n '/Status code distribution:/,/^$/p' "$T/hey.txt" | grep -E '\[200\]' | awk '{print $2}')
bad=$(sed -n '/Status code distribution:/,/^$/p' "$T/hey.txt" | grep -E '^\s+\[[0-9]+\]' | grep -vE '\[2[0-9][0-9]\]' | awk '{s+=$2} END {print s+0}')
errs=$(sed -n '/Error distribution:/,/^$/p' "$T/hey.txt" | grep -E '^\s+\[[0-9]+\]' | awk '{gsub(/[\[\]]/, "", $1); s+=$1} END {print s+0}')
echo "rollouts: $healthy Healthy, $degraded Degraded (false rollbacks)"
echo "requests: ${ok:-0} answered 200, $bad non-2xx, $errs socket errors"
