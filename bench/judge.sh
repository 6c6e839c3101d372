#!/bin/bash
# The compare judge's goals (issue 9), each time printed next to its bound,
# with the real daemon, proxy and hello, at ~50 req/s (hey, 2 x 25 req/s)
# with the canary at 25%, templates as a user writes them (no tuning):
#   err10 err2 err1  a canary with +10%, +2%, +1% errors against an
#                    error-free stable: time from its "Weight" event to
#                    "Degraded"; bound: about 4 errors on the canary at
#                    level 0.01 (3.2 s, 16 s, 32 s), goal <= 1.5x;
#   lat20            +20% latency on every request (stable 10 ms, canary
#                    12 ms): Weight -> Degraded, goal <= 15 s;
#   quiet            no traffic at all: Weight -> Paused on "no data"
#                    after the data wait (10 s), never Healthy;
#   load             no traffic but the template's own `load: {}`: a healthy
#                    canary -> Healthy, one with 10% errors -> Degraded;
#   healthy          ROLLOUTS rollouts of an identical healthy version: 0
#                    false rollbacks, each promoted when its 20 looks end.
#   bench/judge.sh [TRIALS] [ROLLOUTS]       (CASES="err10 lat20" runs some)
# Ports: 34480-34483 (apps), 34500-34599 (instances).
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${1:-3}
ROLLOUTS=${2:-10}
CASES=${CASES:-err10 err2 err1 lat20 quiet load healthy}
T=$(mktemp -d /tmp/slipway-bench-judge.XXXXXX)
export SLIPWAY_STATE_DIR=$T/state
# copies: a rebuild while the bench runs must not change what it measures
mkdir "$T/bin"
cp "${BIN:-build/slipway}" "$T/bin/slipway"
cp "${HELLO:-build/hello}" "$T/bin/hello"
BIN=$T/bin/slipway HELLO=$T/bin/hello
DAEMON= LOADS=()
cleanup() {
	for p in "${LOADS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# app NAME PORT VERSION TEMPLATE ENV_YAML
app() {
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: $1}
spec:
  version: "$3"
  replicas: 1
  run:
    command: ["$HELLO", "--port", "\${PORT}"]
    env: {$5}
  readiness: {http: {path: /healthz}, period: 200ms}
  route: {listen: "127.0.0.1:$2"}
  strategy:
    canary:
      steps:
        - setWeight: 25
        - analysis: {templates: [$4]}
---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: errors}
spec:
  metrics:
    - name: errors
      interval: 1s
      count: 90
      provider: {compare: {metric: error-rate, confidence: 0.99}}
---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: errors-20}
spec:
  metrics:
    - name: errors
      interval: 1s
      count: 20
      provider: {compare: {metric: error-rate, confidence: 0.99}}
---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: latency}
spec:
  metrics:
    - name: latency
      interval: 1s
      count: 60
      provider: {compare: {metric: latency, confidence: 0.99}}
---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: with-load}
spec:
  load: {}
  metrics:
    - name: errors
      interval: 1s
      count: 20
      provider: {compare: {metric: error-rate, confidence: 0.99}}
YAML
}

ms_of() { date -d "$1" +%s%3N; }
event_time() { # event_time APP KIND: the last such event of the app
	"$BIN" events "$1" --json | jq -r --arg k "$2" '[.[] | select(.kind == $k)] | last | .time // empty' 2>/dev/null ||
		"$BIN" events "$1" --json | tr -d '\n ' | grep -o "\"time\":\"[^\"]*\",\"app\":\"$1\",\"kind\":\"$2\"" |
			tail -1 | sed 's/"time":"\([^"]*\)".*/\1/'
}
phase() { "$BIN" status "$1" --json | jq -r .phase; }
settle() { # settle APP SECONDS: waits for Healthy, Degraded or Paused; prints it
	local deadline=$((SECONDS + $2)) p
	while [ $SECONDS -lt $deadline ]; do
		p=$(phase "$1")
		case "$p" in Healthy | Degraded | Paused) echo "$p"; return ;; esac
		sleep 0.2
	done
	echo "timed out"
}
since_weight() { # since_weight APP KIND: ms from the last Weight event to the last KIND event
	local w d
	w=$(event_time "$1" Weight) d=$(event_time "$1" "$2")
	if [ -n "$w" ] && [ -n "$d" ]; then echo $(($(ms_of "$d") - $(ms_of "$w"))); fi
}
back_to_stable() { # after an abort or a pause: stable alone again
	"$BIN" rollout undo "$1" >/dev/null 2>&1 || "$BIN" rollout abort "$1" >/dev/null 2>&1 || true
	for _ in $(seq 1 100); do [ "$(phase "$1")" = Healthy ] && break; sleep 0.1; done
}
summary() { # summary LABEL BOUND_TEXT TIMES_MS...
	local label=$1 bound=$2
	shift 2
	printf '%s\n' "$@" | sort -n | awk -v l="$label" -v b="$bound" 'NF {a[++n]=$1} END {
		if (n) printf "%-28s median %5.1f s (min %.1f, max %.1f, %d trials)   %s\n", l, a[int((n+1)/2)]/1000, a[1]/1000, a[n]/1000, n, b
		else printf "%-28s no trial ended as expected   %s\n", l, b }'
}
has() { [[ " $CASES " == *" $1 "* ]]; }
start_app() { # start_app NAME PORT TEMPLATE ENV LOAD(yes|no)
	app "$1" "$2" 0.0.0 "$3" "$4" >"$T/$1.yaml"
	"$BIN" apply -f "$T/$1.yaml" --wait >/dev/null
	for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$2/" >/dev/null 2>&1 && break; sleep 0.1; done
	if [ "$5" = yes ]; then
		hey -z 3600s -c 2 -q 25 "http://127.0.0.1:$2/" >/dev/null 2>&1 &
		LOADS+=($!)
	fi
}
echo 0 >"$T/version"
# trial NAME PORT TEMPLATE ENV EXPECT: one canary; prints ms Weight -> EXPECT, or a note on stderr
# (it runs in a $(...) subshell: the version counter lives in a file)
trial() {
	local V=$(($(cat "$T/version") + 1))
	echo "$V" >"$T/version"
	app "$1" "$2" "v.$V" "$3" "$4" >"$T/$1.yaml"
	"$BIN" apply -f "$T/$1.yaml" >/dev/null
	local p
	p=$(settle "$1" 150)
	if [ "$p" = "$5" ]; then
		since_weight "$1" "$5"
	else
		echo "  $1 v.$V: $p, not $5: $("$BIN" status "$1" --json | jq -r .reason)" >&2
	fi
	[ "$p" = Healthy ] || back_to_stable "$1"
	return 0
}

"$BIN" serve --port-range 34500-34599 >"$T/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 1 100); do "$BIN" get apps >/dev/null 2>&1 && break; sleep 0.1; done
echo "judge goals, $TRIALS trials each, canary at 25% of ~50 req/s ($(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg))"

if has err10 || has err2 || has err1 || has healthy; then
	start_app judge 34480 errors '' yes
fi
for spec in "err10 0.10 3.2 5" "err2 0.02 16 24" "err1 0.01 32 48"; do
	set -- $spec
	has "$1" || continue
	times=()
	for _ in $(seq 1 "$TRIALS"); do
		times+=("$(trial judge 34480 errors "HELLO_ERROR_RATE: \"$2\"" Degraded)")
	done
	summary "+$(awk -v e="$2" 'BEGIN {print e * 100}')% errors -> Degraded" "bound $3 s, goal <= $4 s" "${times[@]}"
done

if has lat20; then
	start_app judge-lat 34481 latency 'HELLO_LATENCY_MS: "10"' yes
	times=()
	for _ in $(seq 1 "$TRIALS"); do
		times+=("$(trial judge-lat 34481 latency 'HELLO_LATENCY_MS: "12"' Degraded)")
	done
	summary "+20% latency -> Degraded" "goal <= 15 s" "${times[@]}"
fi

if has quiet; then
	start_app judge-quiet 34482 errors '' no
	times=()
	for _ in $(seq 1 "$TRIALS"); do
		times+=("$(trial judge-quiet 34482 errors '' Paused)")
	done
	summary "no traffic -> Paused" "the data wait: 10 s; never Healthy" "${times[@]}"
fi

if has load; then
	start_app judge-load 34483 with-load '' no
	times=()
	for _ in $(seq 1 "$TRIALS"); do
		times+=("$(trial judge-load 34483 with-load '' Healthy)")
	done
	summary "load: {}, healthy -> Healthy" "its 20 looks: >= 20 s" "${times[@]}"
	times=()
	for _ in $(seq 1 "$TRIALS"); do
		times+=("$(trial judge-load 34483 with-load 'HELLO_ERROR_RATE: "0.1"' Degraded)")
	done
	summary "load: {}, +10% errors -> Degraded" "bound at 50 req/s: 3.2 s" "${times[@]}"
fi

if has healthy; then
	times=()
	for _ in $(seq 1 "$ROLLOUTS"); do
		times+=("$(trial judge 34480 errors-20 '' Healthy)")
	done
	ok=$(printf '%s\n' "${times[@]}" | grep -c . || true)
	summary "healthy -> Healthy" "its 20 looks: >= 20 s" "${times[@]}"
	echo "healthy rollouts: $ok of $ROLLOUTS promoted, $((ROLLOUTS - ok)) not (false rollbacks or pauses, listed above)"
fi
