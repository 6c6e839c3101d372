#!/bin/bash
# What one request costs the proxy, Slipway's and HAProxy's side by side:
# user and system CPU (utime/stime of /proc/PID/stat), syscalls by kind
# (perf stat on the syscall tracepoints, a few hundred ns each) and context
# switches (/proc/PID/status), each divided by the requests wrk completed.
# The same nginx backend (1 worker, 23-byte body) as bench/proxy.sh; HAProxy
# with 1 thread, `slipway proxy` with 1 worker; `wrk -t1 -c64 -dDURATION`
# (default 5s), ROUNDS (default 3) rounds taken in turn, every round printed,
# then the mean. On a loaded machine req/s moves a lot; these per-request
# figures much less. Ports BENCH_PORT.. BENCH_PORT+2 (default 31090);
# BIN=/path/to/slipway measures another build, BIN2= a second one beside
# it (printed as slipway-b). Needs nginx, haproxy, wrk, perf.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
BIN=${BIN:-$ROOT/build/slipway}
BIN2=${BIN2:-}

. bench/proxy-lib.sh
need nginx haproxy wrk perf curl

BACK=${BENCH_PORT:-31090} HAP=$((BACK + 1)) SLW=$((BACK + 2)) SLW2=$((BACK + 3))
nginx_backend
haproxy_start haproxy 1 "$HAP"
declare -A PID PORT
PID[haproxy]=$HPID_haproxy
PORT[haproxy]=$HAP
NAMES=(haproxy slipway)
slipway_start slipway "$SLW" "$BIN"
PID[slipway]=$SPID_slipway
PORT[slipway]=$SLW
if [ -n "$BIN2" ]; then
	slipway_start slipway-b "$SLW2" "$BIN2"
	PID[slipway-b]=$SPID_slipway_b
	PORT[slipway-b]=$SLW2
	NAMES+=(slipway-b)
fi
serving "${PORT[@]}"

# syscalls counted by kind; the total is raw_syscalls:sys_enter
KINDS=(read write readv writev recvfrom sendto recvmsg sendmsg epoll_wait epoll_ctl accept4 connect close
	setsockopt getsockopt)
EVENTS=raw_syscalls:sys_enter
for k in "${KINDS[@]}"; do EVENTS+=",syscalls:sys_enter_$k"; done

ticks() { awk '{print $14, $15}' "/proc/$1/stat"; } # utime stime (clock ticks)
# every thread's (a task's status counts its own switches only)
ctxsw() { cat /proc/"$1"/task/*/status | awk '/^voluntary_ctxt_switches/ {v+=$2} /^nonvoluntary_ctxt_switches/ {n+=$2} END {print v + n}'; }
HZ=$(getconf CLK_TCK)

declare -A SUM
round() { # round NAME: one wrk run with the proxy's costs; prints one line
	local n=$1 pid=${PID[$1]} out reqs u0 s0 u1 s1 c0 c1 perfpid
	perf stat -x, -e "$EVENTS" -p "$pid" -o "$T/perf.$n" 2>/dev/null &
	perfpid=$!
	sleep 0.2 # perf attached
	read -r u0 s0 < <(ticks "$pid")
	c0=$(ctxsw "$pid")
	out=$(wrk -t1 -c64 -d"$DURATION" "http://127.0.0.1:${PORT[$n]}/")
	read -r u1 s1 < <(ticks "$pid")
	c1=$(ctxsw "$pid")
	kill -INT "$perfpid"
	wait "$perfpid" 2>/dev/null || true
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	local rps
	rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
	# perf -x, lines: value,unit,event,...
	local line
	line=$(awk -F, -v reqs="$reqs" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$HZ" -v cs=$((c1 - c0)) \
		-v name="$n" -v rps="$rps" '
		$3 ~ /^raw_syscalls/ { total = $1 }
		$3 ~ /^syscalls:sys_enter_/ { k = $3; sub(/^syscalls:sys_enter_/, "", k); if ($1 + 0 > 0) c[k] = $1 }
		END {
			printf "%-10s %7d req/s  user %5.2f us  sys %5.2f us  ctxsw %4.2f  syscalls %5.2f:",
				name, rps, u * 1e6 / hz / reqs, s * 1e6 / hz / reqs, cs / reqs, total / reqs
			for (k in c) if (c[k] / reqs >= 0.005) printf " %s %.2f", k, c[k] / reqs
			printf "\n"
			printf "%s %f %f %f %f\n", name, u * 1e6 / hz / reqs, s * 1e6 / hz / reqs, cs / reqs, total / reqs > "/dev/stderr"
		}' "$T/perf.$n" 2>>"$T/sums")
	echo "$line"
}

echo "per request, wrk -t1 -c64 -d$DURATION, $ROUNDS rounds in turn; backend: nginx (1 worker), 23-byte body"
for ((r = 1; r <= ROUNDS; r++)); do
	for n in "${NAMES[@]}"; do round "$n"; done
done
echo "mean over $ROUNDS rounds:"
awk '{u[$1] += $2; s[$1] += $3; c[$1] += $4; y[$1] += $5; k[$1]++}
	END { for (n in u) printf "%-10s user %5.2f us  sys %5.2f us  total %5.2f us  ctxsw %4.2f  syscalls %5.2f\n",
		n, u[n] / k[n], s[n] / k[n], (u[n] + s[n]) / k[n], c[n] / k[n], y[n] / k[n] }' "$T/sums" | sort
