# Shared set-up for Slipway's end-to-end tests: a private state dir, a real
# daemon, real hello instances. Everything polls with a deadline; nothing
# sleeps to wait for state. Only 127.0.0.1 is used.

SLIPWAY_BIN=${SLIPWAY_BIN:-$BATS_TEST_DIRNAME/../../build/slipway}
HELLO_BIN=${HELLO_BIN:-$BATS_TEST_DIRNAME/../../build/hello}
SLIPWAY_BIN=$(realpath "$SLIPWAY_BIN")
# shellcheck source=../procs.bash
. "$BATS_TEST_DIRNAME/../procs.bash"
HELLO_BIN=$(realpath "$HELLO_BIN")

# Every test's start: a private state dir, its block of ports (LISTEN and
# PREVIEW, the last two, for routes), no daemon yet. A file that needs more
# calls it from its own setup.
e2e_setup() {
	T=$(mktemp -d /tmp/slipway-e2e.XXXXXX)
	export SLIPWAY_STATE_DIR=$T/state
	PORT_BASE=$(port_base)
	LISTEN=$((PORT_BASE + 99))
	PREVIEW=$((PORT_BASE + 98))
	DAEMON_PID=
}
setup() { e2e_setup; }

teardown() {
	# Without a test dir there is nothing of ours to stop, and the pattern
	# below would match every process on the machine.
	case "${T:-}" in /tmp/slipway-*) ;; *) return 0 ;; esac
	# a failed test shows how the daemon's log ended, and whether it is
	# still there: the test dir is removed below
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -s "$T/daemon.log" ]; then
		echo "daemon $( [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null && echo running || echo "not running") ; daemon.log ends:"
		tail -n 40 "$T/daemon.log" | sed "s/^/  /"
	fi
	stop_daemon
	# Nothing a test started may outlive it: the instances, the servers
	# it recorded (proc_record "$T/procs" PID; tests/e2e/git.bash's).
	kill_instances
	kill_recorded "$T/procs"
	pkill -9 -f "$T/" 2>/dev/null || true
	rm -rf "$T"
}

# A random block of 100 ports for one test, below the kernel's range for
# outgoing connections (32768 and up here), so that a busy machine's client
# sockets never hold a port a test is about to listen on. scripts/test.sh
# runs the files in E2E_STREAMS parallel streams; stream E2E_STREAM gets
# its own share of the blocks (12000-27999; make demo's ports are above)
# and of free_port's range (10000-11999), so two streams never meet.
E2E_STREAM=${E2E_STREAM:-0}
E2E_STREAMS=${E2E_STREAMS:-1}
port_base() {
	local n=$((160 / E2E_STREAMS))
	echo $((12000 + (E2E_STREAM * n + RANDOM % n) * 100))
}

slipway() { "$SLIPWAY_BIN" "$@"; }

# need PROGRAM...: fails the test (never skips it) when one is missing:
# scripts/deps.sh installs everything the tests use, and a skip would
# hide a machine that lacks it.
need() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null || { echo "$p is not installed (scripts/deps.sh installs it)" >&2; return 1; }
	done
}

# refute CMD...: fails the test when CMD succeeds. A bare `! CMD` in the
# middle of a test never fails it (bash's errexit ignores a negated
# command; four such checks here checked nothing).
refute() { ! "$@"; }

# Starts the daemon in the background; waits until its API answers.
start_daemon() {
	"$SLIPWAY_BIN" serve --port-range "$PORT_BASE-$((PORT_BASE + 99))" --backoff 200ms "$@" \
		>>"$T/daemon.log" 2>&1 3>&- &
	DAEMON_PID=$!
	wait_for 10 slipway version --json
	wait_for 10 slipway get apps
}

stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	local i
	for i in $(seq 1 150); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
}

# Every pid the store knows for instances (works while the daemon is down):
# the first word of the process driver's handle, "PID STARTTIME".

# wait_for SECONDS COMMAND...: runs COMMAND until it succeeds or time is up.
wait_for() {
	local secs=$1
	shift
	local deadline=$((SECONDS + secs))
	while ! "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			echo "timed out after ${secs}s waiting for: $*" >&2
			return 1
		fi
		sleep 0.1
	done
}

# Prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local width=$((2000 / E2E_STREAMS))
	local base=$((10000 + E2E_STREAM * width + RANDOM % (width / 2))) p i
	for ((i = 0; i < width / 2; i++)); do
		p=$((base + i))
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# hello_doc VERSION [SPEC_YAML] [EXTRA_DOCS]: the hello app as the docs
# write it (defaults, 2 replicas, readiness on /healthz), routed on LISTEN;
# SPEC_YAML is more of its spec, EXTRA_DOCS more documents after it.
hello_doc() {
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: hello}
spec:
  version: "$1"
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
  replicas: 2
  readiness: {http: {path: /healthz}}
  route: {listen: "127.0.0.1:$LISTEN"}
${2:-}
${3:-}
YAML
}

# quiet_golden: the template of docs/analysis.md, "Synthetic traffic for
# quiet apps", as written there: its own load, so a canary is judged
# without outside traffic.
quiet_golden() {
	cat <<'YAML'
---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: golden}
spec:
  load: {path: /}
  metrics:
    - name: success-rate
      interval: 1s
      count: 5
      minSamples: 20
      successCondition: "result >= 0.99"
      provider: {builtin: {metric: success-rate, window: 5s}}
    - name: latency
      interval: 5s
      provider: {compare: {metric: latency, maxIncrease: 0.2}}
YAML
}

# app_yaml NAME VERSION REPLICAS [EXTRA_ENV_YAML] [EXTRA_SPEC_YAML] > file
app_yaml() {
	local name=$1 version=$2 replicas=$3 env=${4:-} extra=${5:-}
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata:
  name: $name
spec:
  version: "$version"
  replicas: $replicas
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
    env:
      GREETING: hi
$env
  readiness:
    http: {path: /healthz}
    period: 200ms
    timeout: 500ms
    failureThreshold: 2
  liveness:
    http: {path: /healthz}
    period: 300ms
    timeout: 500ms
    failureThreshold: 2
  stop: {signal: SIGTERM, timeout: 5s}
  progressDeadline: 20s
$extra
YAML
}

status_json() { slipway status "$1" --json; }

# jq-free JSON reads: python3 is not guaranteed, so use the jansson-backed
# CLI output and grep/sed on one-line-per-field pretty JSON.
field() { # field NAME JSON_TEXT -> first value of "NAME": ...
	printf '%s\n' "$2" | sed -n "s/^ *\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -1
}

phase_is() { [ "$(field phase "$(status_json "$1")")" = "$2" ]; }
ready_count() { field ready "$(status_json "$1")"; }
ready_is() { [ "$(ready_count "$1")" = "$2" ]; }

# instance_fields APP FIELD: the FIELD of every instance, one per line
# (instance objects are the ones indented by 6 in the pretty JSON).
instance_fields() {
	status_json "$1" | grep -E "^      \"$2\":" |
		sed "s/^ *\"$2\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/"
}

# Apps settle when every instance is ready and of the wanted revision.
app_ready_at() { # app_ready_at APP REVISION REPLICAS
	local j
	j=$(status_json "$1") || return 1
	[ "$(field phase "$j")" = Healthy ] && [ "$(field revision "$j")" = "$2" ] &&
		[ "$(field ready "$j")" = "$3" ] && [ "$(field instancesRunning "$j")" = "$3" ]
}

# Pids of hello processes serving on this test's port range.
our_hello_pids() {
	pgrep -af "^$HELLO_BIN --port" | while read -r pid _ _ port _; do
		if [ "$port" -ge "$PORT_BASE" ] && [ "$port" -le $((PORT_BASE + 99)) ]; then
			echo "$pid"
		fi
	done
}

# absent PATTERN FILE...: grep finds nothing (and could read every file).
# (A bare `! grep` does not fail a bats test.)
absent() {
	local rc=0
	grep -raF "$@" || rc=$?
	if [ "$rc" -ne 1 ]; then
		echo "found or unreadable (grep exit $rc): $1" >&2
		return 1
	fi
}
