#!/bin/bash
# What a preDeploy hook costs a rollout, with the real daemon and hello:
# ROLLOUTS rolling updates of one instance, each with a preDeploy job
# `true`, timed from the events the daemon records (wall clock, ms):
#  - apply -> HookStarted        (the rollout asks for the job)
#  - HookStarted -> HookSucceeded (spawn, run, exit, reported)
#  - HookSucceeded -> InstanceStarted of the new revision (the gate opens)
# and the daemon's resident memory after them (VmRSS, VmHWM).
#   bench/hooks.sh [ROLLOUTS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/slipway
HELLO=$ROOT/build/hello
ROLLOUTS=${1:-20}
T=$(mktemp -d /tmp/slipway-bench-hooks.XXXXXX)
export SLIPWAY_STATE_DIR=$T/state
DAEMON=
cleanup() {
	[ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

app() { # app VERSION
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: hk}
spec:
  version: "$1"
  run: {command: ["$HELLO", "--port", "\${PORT}"]}
  readiness: {http: {path: /healthz}, period: 100ms}
  stop: {timeout: 2s}
  hooks:
    preDeploy:
      - name: migrate
        command: ["true"]
YAML
}

"$BIN" serve --port-range 31000-31099 >"$T/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do "$BIN" get apps >/dev/null 2>&1 && break; sleep 0.1; done

ms() { date +%s%3N; }
: >"$T/times"
for v in $(seq 1 "$ROLLOUTS"); do
	app "$v.0.0" >"$T/app.yaml"
	t0=$(ms)
	"$BIN" apply -f "$T/app.yaml" --wait >/dev/null
	echo "$v $t0" >>"$T/times"
done

# events: 2026-12-02T05:28:14.104Z  APP  KIND  ACTOR  MESSAGE
"$BIN" events hk --limit 0 >"$T/events"
epoch_ms() { date -d "$1" +%s%3N; }
median_max() { sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; print m, a[NR]}'; }
: >"$T/ask" ; : >"$T/run" ; : >"$T/gate"
while read -r v t0; do
	st=$(grep -m1 "HookStarted .*of revision $v started" "$T/events" | awk '{print $1}')
	ok=$(grep -m1 "HookSucceeded .*of revision $v succeeded" "$T/events" | awk '{print $1}')
	in=$(grep -m1 "InstanceStarted .*(revision $v)" "$T/events" | awk '{print $1}')
	[ -n "$st" ] && [ -n "$ok" ] && [ -n "$in" ] || { echo "revision $v: events missing" >&2; continue; }
	echo $(( $(epoch_ms "$st") - t0 )) >>"$T/ask"
	echo $(( $(epoch_ms "$ok") - $(epoch_ms "$st") )) >>"$T/run"
	echo $(( $(epoch_ms "$in") - $(epoch_ms "$ok") )) >>"$T/gate"
done <"$T/times"

echo "preDeploy hook overhead over $ROLLOUTS rollouts (ms, median / max):"
echo "  apply -> job started:           $(median_max <"$T/ask")"
echo "  job started -> job succeeded:   $(median_max <"$T/run")"
echo "  job succeeded -> new instance:  $(median_max <"$T/gate")"
grep -E 'VmRSS|VmHWM' /proc/"$DAEMON"/status | tr -s ' \t' ' ' | sed 's/^/  daemon /'
