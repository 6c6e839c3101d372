#!/bin/bash
# Slipway benchmarks (not tests: figures depend on the machine).
#   bench/run.sh            all
#   bench/run.sh apps N R   time from apply to all ready for N apps x R instances,
#                           then daemon RSS with those apps running
#   bench/run.sh event N    with N apps x 1 instance settled: daemon RSS, CPU time
#                           per second while nothing happens, and CPU time of one
#                           instance event (kill -9 of one instance until it is
#                           ready again)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build/slipway
HELLO=$PWD/build/hello

bench_apps() {
	local napps=$1 replicas=$2
	local T
	T=$(mktemp -d /tmp/slipway-bench.XXXXXX)
	export SLIPWAY_STATE_DIR=$T/state
	"$BIN" serve --port-range 30000-32759 >"$T/daemon.log" 2>&1 &
	local daemon=$!
	trap 'kill -TERM '"$daemon"' 2>/dev/null; wait '"$daemon"' 2>/dev/null; rm -rf '"$T" RETURN
	for _ in $(seq 1 100); do "$BIN" get apps >/dev/null 2>&1 && break; sleep 0.1; done
	mkdir -p "$T/apps"
	for i in $(seq 1 "$napps"); do
		cat >"$T/apps/app$i.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: app$i}
spec:
  version: "1.0.0"
  replicas: $replicas
  run: {command: ["$HELLO", "--port", "\${PORT}"]}
  readiness: {http: {path: /healthz}, period: 100ms}
  liveness: {http: {path: /healthz}, period: 5s}
YAML
	done
	local rss0 start end
	rss0=$(awk '/VmRSS/ {print $2}' "/proc/$daemon/status")
	start=$(date +%s%N)
	"$BIN" apply -f "$T/apps" >/dev/null
	local want=$((napps * replicas))
	while :; do
		local ready
		ready=$("$BIN" get apps --json | sed -n 's/^ *"ready": \([0-9]*\),*$/\1/p' | awk '{s+=$1} END {print s+0}')
		[ "$ready" -ge "$want" ] && break
		sleep 0.05
	done
	end=$(date +%s%N)
	sleep 3 # let probes run a few periods before reading memory
	local rss hwm
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$daemon/status")
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$daemon/status")
	printf 'apps=%d replicas=%d instances=%d apply->all ready: %d ms\n' \
		"$napps" "$replicas" "$want" $(((end - start) / 1000000))
	printf 'daemon RSS: idle %d KiB, with %d apps running %d KiB (peak %d KiB)\n' \
		"$rss0" "$napps" "$rss" "$hwm"
}

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

bench_event() {
	local napps=$1 T
	T=$(mktemp -d /tmp/slipway-bench.XXXXXX)
	export SLIPWAY_STATE_DIR=$T/state
	"$BIN" serve --port-range 30000-32759 >"$T/daemon.log" 2>&1 &
	local daemon=$!
	trap 'kill -TERM '"$daemon"' 2>/dev/null; wait '"$daemon"' 2>/dev/null; rm -rf '"$T" RETURN
	for _ in $(seq 1 100); do "$BIN" get apps >/dev/null 2>&1 && break; sleep 0.1; done
	mkdir -p "$T/apps"
	for i in $(seq 1 "$napps"); do
		cat >"$T/apps/app$i.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: app$i}
spec:
  version: "1.0.0"
  run: {command: ["$HELLO", "--port", "\${PORT}"]}
  readiness: {http: {path: /healthz}, period: 1s}
YAML
	done
	"$BIN" apply -f "$T/apps" >/dev/null
	while :; do
		local healthy
		healthy=$("$BIN" get apps --json | grep -c '"phase": "Healthy"' || true)
		[ "$healthy" -ge "$napps" ] && break
		sleep 0.2
	done
	sleep 2
	local hz t0 t1 idle rss
	hz=$(getconf CLK_TCK)
	t0=$(cpu_ticks "$daemon")
	sleep 10
	t1=$(cpu_ticks "$daemon")
	idle=$(( (t1 - t0) * 1000 / hz / 10 ))
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$daemon/status")
	# one instance event: kill an instance, wait until its app is ready again
	local pid start end c0 c1 ms
	pid=$("$BIN" status app1 --json | sed -n 's/^ *"pid": \([0-9]*\),*$/\1/p' | head -1)
	c0=$(cpu_ticks "$daemon")
	start=$(date +%s%N)
	kill -9 "$pid"
	while :; do
		"$BIN" status app1 --json | grep -q '"restarts": [1-9]' &&
			"$BIN" status app1 --json | grep -q '"ready": true' && break
		sleep 0.05
	done
	end=$(date +%s%N)
	c1=$(cpu_ticks "$daemon")
	ms=$(( (end - start) / 1000000 ))
	printf 'apps=%d daemon RSS %d KiB; idle CPU %d ms/s; one instance event: %d ms CPU over %d ms (idle share %d ms)\n' \
		"$napps" "$rss" "$idle" $(( (c1 - c0) * 1000 / hz )) "$ms" $(( idle * ms / 1000 ))
}

case "${1:-all}" in
event) bench_event "${2:-200}" ;;
apps) bench_apps "${2:-50}" "${3:-2}" ;;
all)
	bench_apps 50 2
	bench_apps 200 1
	;;
esac
