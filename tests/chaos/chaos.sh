#!/bin/bash
# Chaos test of crash recovery (issue 5, item 2).
#
# Under steady load through the proxy, canary and blue/green rollouts of
# healthy versions alternate; in each trial `slipway serve` is killed with
# SIGKILL at a random moment of the rollout and restarted. After every
# trial it checks:
#   - the rollout ends in a valid phase (Healthy/Degraded; Paused is driven
#     on with `rollout promote`);
#   - every hello process on the test's ports is an instance the daemon
#     knows, and no two instances share an id;
#   - events and measurements: ids unique, counts never go down;
#   - the proxy's table has the weights `slipway status` derives from the
#     store;
#   - zero failed requests (non-2xx or socket errors) in hey's report.
# Then trials that SIGKILL `slipway proxy`: the daemon restarts it; the
# longest interval without a successful response is measured and reported
# (goal < 100 ms, not asserted), and traffic and the table must be back.
#
# Seeded and reproducible: CHAOS_SEED (default 42) drives every random
# choice. CHAOS_TRIALS (default 30) serve kills, CHAOS_PROXY_TRIALS
# (default 5) proxy kills. Exits 1 when any inconsistency was found.
#
#   SLIPWAY_BIN=build/slipway HELLO_BIN=build/hello tests/chaos/chaos.sh
set -u

SEED=${CHAOS_SEED:-42}
TRIALS=${CHAOS_TRIALS:-30}
PTRIALS=${CHAOS_PROXY_TRIALS:-5}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../procs.bash
. "$here/../procs.bash"
SLIPWAY_BIN=$(realpath "${SLIPWAY_BIN:-$here/../../build/slipway}")
HELLO_BIN=$(realpath "${HELLO_BIN:-$here/../../build/hello}")
T=${CHAOS_DIR:-$(mktemp -d /tmp/slipway-chaos.XXXXXX)}
mkdir -p "$T"
export SLIPWAY_STATE_DIR=$T/state
PORT_BASE=${CHAOS_PORT_BASE:-$((12000 + (RANDOM % 180) * 100))}
LISTEN=$((PORT_BASE + 99))
DAEMON_PID=
LOAD_PID=
RANDOM=$SEED # bash's generator: the same seed, the same run

bad=0
trials=0
kills=0
load_failures=0
declare -a problems=() gaps=() remeasured=()

log() { printf '%s\n' "$*" >&2; }
problem() {
	bad=$((bad + 1))
	problems+=("trial $trials: $*")
	log "INCONSISTENCY (trial $trials): $*"
}

slipway() { "$SLIPWAY_BIN" "$@"; }

wait_for() { # wait_for SECONDS COMMAND...
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.05
	done
}

start_daemon() {
	"$SLIPWAY_BIN" serve --port-range "$PORT_BASE-$((PORT_BASE + 98))" --backoff 200ms \
		>>"$T/daemon.log" 2>&1 3>&- &
	DAEMON_PID=$!
	wait_for 10 slipway get apps || problem "the daemon did not come back"
}

kill_daemon() {
	kill -9 "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

cleanup() {
	[ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
	if [ -n "$DAEMON_PID" ]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$DAEMON_PID" 2>/dev/null
	fi
	local p
	kill_instances "$T/state"
	[ -f "$T/state/proxy.pid" ] && kill_if_still $(cat "$T/state/proxy.pid")
	for p in $(our_hello_pids); do kill -9 "$p" 2>/dev/null; done
	[ -n "${CHAOS_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

# Pids of hello processes serving on this test's port range.
our_hello_pids() {
	pgrep -af "^$HELLO_BIN --port" | while read -r pid _ _ port _; do
		if [ "$port" -ge "$PORT_BASE" ] && [ "$port" -le $((PORT_BASE + 98)) ]; then
			echo "$pid"
		fi
	done | sort -n
}

# jq-free reads of the pretty JSON of `slipway status --json`
field() { printf '%s\n' "$2" | sed -n "s/^ *\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -1; }
inst_field() { printf '%s\n' "$2" | grep -E "^      \"$1\":" | sed "s/^ *\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/"; }
# "REV:WEIGHT:READY ..." of the groups of status --json, by revision
status_groups() {
	printf '%s\n' "$1" | tr -d ' \n' | grep -o '"groups":\[.*\]' |
		grep -o '{"revision":[0-9]*,"weight":[0-9]*,"ready":[0-9]*' |
		sed 's/{"revision":\([0-9]*\),"weight":\([0-9]*\),"ready":\([0-9]*\)/\1:\2:\3/' | sort | tr '\n' ' '
}
# the same of the proxy's live table (main listener only)
proxy_groups() {
	curl -fsS --max-time 2 --unix-socket "$T/state/proxy.sock" http://p/v1/table |
		tr -d ' \n' | grep -o "\"listen\":\"127.0.0.1:$LISTEN\".*" |
		sed 's/"headerRoutes".*"groups":/"groups":/' | sed 's/}\]}\]}.*$/}]}]/' |
		grep -o '{"revision":[0-9]*,"weight":[0-9]*,"backends":\[[^]]*\]' |
		while IFS= read -r g; do
			local rev w n
			rev=$(printf '%s' "$g" | sed 's/{"revision":\([0-9]*\).*/\1/')
			w=$(printf '%s' "$g" | sed 's/.*"weight":\([0-9]*\).*/\1/')
			n=$(printf '%s' "$g" | grep -o '"id"' | wc -l)
			echo "$rev:$w:$n"
		done | sort | tr '\n' ' '
}

app_doc() { # app_doc VERSION STRATEGY
	local strategy
	if [ "$2" = canary ]; then
		strategy='    canary:
      steps:
        - setWeight: 50
        - pause: {duration: 500ms}
        - analysis: {templates: [quick]}
        - pause: {}'
	else
		strategy='    blueGreen:
      prePromotionAnalysis: {templates: [quick]}
      scaleDownDelay: 500ms'
	fi
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: hello}
spec:
  version: "$1"
  replicas: 2
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
  readiness: {http: {path: /healthz}, period: 100ms, timeout: 500ms, failureThreshold: 2}
  liveness: {http: {path: /healthz}, period: 300ms, timeout: 500ms, failureThreshold: 3}
  stop: {signal: SIGTERM, timeout: 5s, drainTimeout: 2s}
  progressDeadline: 30s
  route: {listen: "127.0.0.1:$LISTEN"}
  strategy:
$strategy
---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: quick}
spec:
  metrics:
    - name: success-rate
      interval: 200ms
      count: 2
      successCondition: "result >= 0.99"
      provider: {builtin: {metric: success-rate, window: 2s}}
YAML
}

start_load() { # start_load FILE [hey options]
	local f=$1
	shift
	hey -z 600s "$@" "http://127.0.0.1:$LISTEN/" >"$f" 2>&1 3>&- &
	LOAD_PID=$!
}
stop_load() {
	kill -INT "$LOAD_PID" 2>/dev/null
	wait "$LOAD_PID" 2>/dev/null
	LOAD_PID=
}
# "<non-2xx> <socket errors>" of a hey report
hey_failures() {
	local b e
	b=$(sed -n '/Status code distribution:/,/^$/p' "$1" | grep -E '^\s+\[[0-9]+\]' |
		grep -vE '^\s+\[2[0-9][0-9]\]' | awk '{s+=$2} END {print s+0}')
	e=$(sed -n '/Error distribution:/,/^$/p' "$1" | grep -E '^\s+\[[0-9]+\]' |
		awk '{gsub(/[\[\]]/, "", $1); s+=$1} END {print s+0}')
	echo "$b $e"
}

# Drives the rollout to its end: promotes while Paused. Echoes the phase.
drive_to_end() {
	local deadline=$((SECONDS + 40)) j ph
	while [ $SECONDS -lt $deadline ]; do
		j=$(slipway status hello --json 2>/dev/null) || { sleep 0.1; continue; }
		ph=$(field phase "$j")
		case "$ph" in
		Healthy | Degraded)
			if [ "$(field ready "$j")" = 2 ] && [ "$(field instancesRunning "$j")" = 2 ]; then
				echo "$ph"
				return 0
			fi ;;
		Paused) slipway rollout promote hello >/dev/null 2>&1 ;;
		esac
		sleep 0.1
	done
	echo "${ph:-unknown}"
	return 1
}

last_events=0
last_meas=0
check_store() {
	local db=$T/state/state.db r n d mx
	for tbl in events measurements; do
		r=$(sqlite3 -cmd '.timeout 2000' "$db" "select count(*), count(distinct id), coalesce(max(id),0) from $tbl") ||
			{ problem "cannot read $tbl"; continue; }
		IFS='|' read -r n d mx <<<"$r"
		[ "$n" = "$d" ] || problem "$tbl: $n rows but $d distinct ids"
		[ "$mx" -ge "$n" ] || problem "$tbl: max id $mx below count $n"
		if [ $tbl = events ]; then
			[ "$n" -ge "$last_events" ] || problem "events went down: $last_events -> $n"
			last_events=$n
		else
			[ "$n" -ge "$last_meas" ] || problem "measurements went down: $last_meas -> $n"
			last_meas=$n
		fi
	done
	# a run resumed after a restart goes on from what it measured: a metric
	# with count: 2 has at most 2 measurements per run (none repeated)
	r=$(sqlite3 -cmd '.timeout 2000' "$db" "select app || ' run ' || run || ' ' || metric || ': ' || count(*) from measurements group by app, run, metric having count(*) > 2")
	if [ -n "$r" ]; then
		local line
		while IFS= read -r line; do
			case " ${remeasured[*]} " in *" ${line// /_} "*) continue ;; esac
			remeasured+=("${line// /_}")
			problem "measurements repeated after a restart: $line"
		done <<<"$r"
	fi
	# every instance row names a distinct live process (handle "PID STARTTIME")
	r=$(sqlite3 -cmd '.timeout 2000' "$db" "select count(*), count(distinct id), count(distinct handle) from instances")
	IFS='|' read -r n d mx <<<"$r"
	[ "$n" = "$d" ] && [ "$n" = "$mx" ] || problem "instance rows: $n rows, $d ids, $mx handles"
}

# Every hello process on our ports is a known instance, no id twice; the
# proxy's table is what the daemon derives from the store. Polls a little:
# instances may still be on their way out when the rollout ended.
check_consistency() {
	local deadline=$((SECONDS + 15)) j known live ids sg pg why
	while :; do
		why=
		j=$(slipway status hello --json 2>/dev/null)
		known=$(inst_field pid "$j" | sort -n | tr '\n' ' ')
		live=$(our_hello_pids | tr '\n' ' ')
		ids=$(inst_field id "$j" | sort)
		[ "$known" = "$live" ] || why="hello processes [$live] but instances [$known]"
		[ -z "$(printf '%s\n' "$ids" | uniq -d)" ] || why="$why; duplicate instance ids: $(printf '%s\n' "$ids" | uniq -d)"
		sg=$(status_groups "$j")
		pg=$(proxy_groups)
		[ -n "$sg" ] && [ "$sg" = "$pg" ] || why="$why; proxy table [$pg] but status [$sg]"
		[ -z "$why" ] && return 0
		if [ $SECONDS -ge $deadline ]; then
			problem "$why"
			return 1
		fi
		sleep 0.2
	done
}

# ---- the run ----

log "chaos: seed $SEED, $TRIALS serve kills, $PTRIALS proxy kills, dir $T, ports $PORT_BASE-$LISTEN"
echo "CHAOS_SEED=$SEED"
start_daemon
rev=1
app_doc 1.0.0 canary >"$T/app.yaml"
slipway apply -f "$T/app.yaml" --wait --timeout 30s >/dev/null || { problem "first deploy failed"; exit 1; }
wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/" || problem "no traffic after the first deploy"
t_start=$SECONDS

for i in $(seq 1 "$TRIALS"); do
	trials=$i
	rev=$((rev + 1))
	strategy=$([ $((i % 2)) = 1 ] && echo canary || echo blueGreen)
	delay_ms=$((RANDOM % 2500))
	app_doc "$rev.0.0" "$strategy" >"$T/app.yaml"
	start_load "$T/hey.txt" -c 4 -q 25
	sleep 0.2
	slipway apply -f "$T/app.yaml" >/dev/null || problem "apply of revision $rev failed"
	# a pause {} / manual blue/green switch would stop the clock: promote
	# in the background of the wait, as an operator would
	end=$((SECONDS + 3))
	sleep "$(printf '0.%03d' $((delay_ms % 1000)))"
	[ $delay_ms -ge 1000 ] && { slipway rollout promote hello >/dev/null 2>&1; sleep $((delay_ms / 1000)); }
	before=$(field phase "$(slipway status hello --json 2>/dev/null)")
	kill_daemon
	kills=$((kills + 1))
	sleep "0.$((RANDOM % 3))"
	start_daemon
	ph=$(drive_to_end) || problem "rollout of revision $rev did not end: phase $ph"
	check_consistency
	check_store
	sleep 0.3
	stop_load
	read -r non2xx errs <<<"$(hey_failures "$T/hey.txt")"
	ok=$(sed -n '/Status code distribution:/,/^$/p' "$T/hey.txt" | grep -E '^\s+\[200\]' | awk '{print $2}')
	if [ "$non2xx" != 0 ] || [ "$errs" != 0 ]; then
		load_failures=$((load_failures + non2xx + errs))
		problem "$non2xx non-2xx and $errs socket errors under load (revision $rev)"
		sed -n '/Status code/,$p' "$T/hey.txt" | head -12 >&2
	fi
	log "trial $i: $strategy rev $rev, kill at ${delay_ms}ms ($before) -> $ph, ${ok:-0} ok, $non2xx non-2xx, $errs errors"
done
t_serve=$((SECONDS - t_start))

# ---- proxy kills ----
proxy_failures=0
for i in $(seq 1 "$PTRIALS"); do
	trials=$((TRIALS + i))
	ppid=$(cut -d' ' -f1 "$T/state/proxy.pid")
	table_before=$(proxy_groups)
	hey -z 2s -c 4 -q 500 -o csv "http://127.0.0.1:$LISTEN/" >"$T/hey.csv" 2>/dev/null 3>&- &
	hp=$!
	sleep "0.$((5 + RANDOM % 5))"
	kill -9 "$ppid"
	wait "$hp"
	# longest interval without a completed successful request (ms):
	# completion = offset + response time, both in seconds in hey's CSV
	gap=$(awk -F, 'NR > 1 && $7 ~ /^2/ {print ($8 + $1) * 1000}' "$T/hey.csv" | sort -n |
		awk 'NR > 1 && $1 - p > g {g = $1 - p} {p = $1} END {printf "%.0f", g}')
	total=$(awk -F, 'NR > 1' "$T/hey.csv" | wc -l)
	okc=$(awk -F, 'NR > 1 && $7 ~ /^2/' "$T/hey.csv" | wc -l)
	gaps+=("$gap")
	# hey's CSV lists completed responses only; socket errors are the
	# difference to what 4 workers at 500/s would have sent: not exact,
	# so report failed requests from a second, summary run below
	newpid=$(cut -d' ' -f1 "$T/state/proxy.pid" 2>/dev/null)
	wait_for 5 curl -fsS --max-time 1 "http://127.0.0.1:$LISTEN/" || problem "no traffic after the proxy restart"
	[ "$newpid" != "$ppid" ] || problem "proxy pid file still names the killed proxy"
	table_after=$(proxy_groups)
	[ "$table_after" = "$table_before" ] || problem "proxy table [$table_after] after restart, was [$table_before]"
	check_consistency
	log "proxy trial $i: killed $ppid, new $newpid, gap ${gap}ms, $okc/$total responses ok"
done

# failed requests across proxy kills (expected: the ones in flight)
start_load "$T/hey-proxy.txt" -c 4 -q 50
for i in 1 2 3; do
	sleep 0.7
	kill -9 "$(cut -d' ' -f1 "$T/state/proxy.pid")"
	wait_for 5 curl -fsS --max-time 1 "http://127.0.0.1:$LISTEN/"
done
sleep 0.5
stop_load
read -r pn pe <<<"$(hey_failures "$T/hey-proxy.txt")"

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}'; }
max() { printf '%s\n' "$@" | sort -n | tail -1; }

echo "chaos summary: seed $SEED; $TRIALS serve kills in ${t_serve}s ($kills kill -9), $PTRIALS proxy kills"
echo "  failed requests across serve kills: $load_failures (goal 0)"
echo "  proxy kill service gap: max $(max "${gaps[@]}") ms, median $(median "${gaps[@]}") ms (goal < 100 ms)"
echo "  failed requests across 3 proxy kills (in flight at the kill, expected): $pn non-2xx, $pe socket errors"
echo "  analysis runs that re-measured after a restart: ${#remeasured[@]}"
echo "  inconsistencies found: $bad"
for p in "${problems[@]}"; do echo "    $p"; done
[ "$bad" = 0 ]
