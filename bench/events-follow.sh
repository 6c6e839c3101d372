#!/bin/bash
# Latency from an event recorded to `slipway events -f` printing it.
# Starts a daemon, follows the log with `events -f --json` (one line per
# event, stamped with the wall clock as it is read), records N events
# (default 50: token create/revoke, each one event, 200 ms apart so that
# every one is a fresh long poll), and reports the min, median, p90 and max
# of (printed - the event's own time). The event's time is taken by the
# daemon just before it is stored; the figure includes the store write,
# the answer, the CLI's parse and print and the pipe to the reader.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50}
NAME=events-follow PORTS=31100-31199
. bench/daemon.sh

start
"$BIN" events -f --json --limit 1 | while IFS= read -r line; do
	printf '%s %s\n' "$(date +%s%3N)" "$line"
done >"$T/follow.out" &
FOLLOW=$!
trap 'kill $FOLLOW 2>/dev/null || true; pkill -P $$ 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 100); do [ -s "$T/follow.out" ] && break; sleep 0.1; done
for i in $(seq 1 $((N / 2))); do
	"$BIN" token create "bench-$i" --role viewer >/dev/null 2>&1
	sleep 0.2
	"$BIN" token revoke "bench-$i" >/dev/null 2>&1
	sleep 0.2
done
for _ in $(seq 1 100); do
	[ "$(grep -c '"Token' "$T/follow.out" || true)" -ge $(((N / 2) * 2)) ] && break
	sleep 0.1
done
grep '"Token' "$T/follow.out" | while read -r printed json; do
	t=$(printf '%s\n' "$json" | sed -n 's/.*"time": *"\([^"]*\)".*/\1/p')
	echo $((printed - $(date -d "$t" +%s%3N)))
done | sort -n >"$T/lat"
awk '{a[NR] = $1} END {
	if (!NR) { print "no events seen"; exit 1 }
	printf "events -f latency over %d events: min %d ms, median %d ms, p90 %d ms, max %d ms\n",
	       NR, a[1], a[int((NR + 1) / 2)], a[int(NR * 0.9 + 0.5)], a[NR] }' "$T/lat"
