#!/bin/bash
# Latency from an instance writing a line to `slipway logs -f` printing it.
# Starts a daemon and an app whose one instance writes "tick MS" (its wall
# clock just before the write) for every line it reads from a FIFO, follows
# it with `logs -f` (each printed line stamped with the wall clock as it is
# read), pokes it N times (default 50), 200 ms apart so that every line is
# a fresh long poll, and reports the min, median, p90 and max of (printed -
# written). The figure includes the daemon's wake-up on the write (inotify
# on the log directory), the read, the answer, the CLI's parse and print
# and the pipe to the reader.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50}
NAME=logs-follow PORTS=31200-31299
. bench/daemon.sh

start
mkfifo "$T/in"
cat >"$T/app.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: ticker}
spec:
  version: "1"
  run:
    command: ["sh", "-c", "exec 3<>'$T/in'; echo started; while read -r x <&3; do echo \"tick \$(date +%s%3N)\"; done"]
YAML
"$BIN" apply -f "$T/app.yaml" >/dev/null
for _ in $(seq 1 100); do "$BIN" logs ticker 2>/dev/null | grep -q started && break; sleep 0.1; done
"$BIN" logs ticker -f | while IFS= read -r line; do
	printf '%s %s\n' "$(date +%s%3N)" "$line"
done >"$T/follow.out" &
FOLLOW=$!
trap 'kill $FOLLOW 2>/dev/null || true; pkill -P $$ 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 100); do grep -q started "$T/follow.out" && break; sleep 0.1; done
for _ in $(seq 1 "$N"); do
	echo go >"$T/in"
	sleep 0.2
done
for _ in $(seq 1 100); do
	[ "$(grep -c ' tick ' "$T/follow.out" || true)" -ge "$N" ] && break
	sleep 0.1
done
grep ' tick ' "$T/follow.out" | while read -r printed _ _ written; do
	echo $((printed - written))
done | sort -n >"$T/lat"
awk '{a[NR] = $1} END {
	if (!NR) { print "no lines seen"; exit 1 }
	printf "logs -f latency over %d lines: min %d ms, median %d ms, p90 %d ms, max %d ms\n",
	       NR, a[1], a[int((NR + 1) / 2)], a[int(NR * 0.9 + 0.5)], a[NR] }' "$T/lat"
