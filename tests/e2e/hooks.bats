#!/usr/bin/env bats
# Hooks and database migrations end to end (docs/hooks.md): preDeploy,
# postDeploy and onAbort jobs with timeouts, retries and logs, and the
# expand/contract examples (examples/hooks-v*.yaml) against a real
# PostgreSQL cluster this test starts, under load through the real proxy.

load helpers

PGBIN=/usr/lib/postgresql/15/bin

setup() {
	e2e_setup
	LOAD_PID=
	PG=
}

teardown() {
	case "${T:-}" in /tmp/slipway-*) ;; *) return 0 ;; esac
	[ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
	stop_daemon
	kill_instances
	pkill -9 -f "$T/" 2>/dev/null || true
	stop_postgres
	rm -rf "$T"
}

# PostgreSQL runs as an unprivileged user: `nobody` when the test runs as
# root (initdb refuses root), else the test's own user. Its data and its
# unix socket are in a directory of its own; it listens on no TCP port.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

start_postgres() {
	[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL is not installed (scripts/deps.sh installs it)" >&2; return 1; }
	PG=$(mktemp -d /tmp/slipway-pg.XXXXXX)
	chmod 755 "$PG"
	[ "$(id -u)" -eq 0 ] && chown nobody "$PG"
	as_pg "$PGBIN/initdb" -D "$PG/data" -U postgres --auth=trust -E UTF8 --no-sync >"$T/initdb.log" 2>&1
	as_pg "$PGBIN/pg_ctl" -D "$PG/data" -l "$PG/log" -w -t 30 \
		-o "-k $PG -c listen_addresses='' -c fsync=off" start >/dev/null
	export PGHOST=$PG PGUSER=postgres PGDATABASE=postgres
	unset PGPORT
	wait_for 20 psql -c 'SELECT 1'
}

stop_postgres() {
	[ -n "${PG:-}" ] || return 0
	as_pg "$PGBIN/pg_ctl" -D "$PG/data" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$PG"
	PG=
}

# example FILE [SED_SCRIPT]: examples/FILE copied into $T/examples with the
# app where it expects it (../build/dbapp) and its listener in our range.
example() {
	mkdir -p "$T/examples" "$T/build"
	ln -sf "$(dirname "$HELLO_BIN")/dbapp" "$T/build/dbapp"
	sed -e "s/127\.0\.0\.1:8090/127.0.0.1:$LISTEN/" -e "${2:-}" \
		"$BATS_TEST_DIRNAME/../../examples/$1" >"$T/examples/$1"
	echo "$T/examples/$1"
}

start_load() { # start_load SECONDS
	hey -z "${1}s" -c 2 -q 20 "http://127.0.0.1:$LISTEN/" >"$T/hey.txt" 2>&1 3>&- &
	LOAD_PID=$!
}

stop_load() {
	kill -INT "$LOAD_PID" 2>/dev/null || true
	wait "$LOAD_PID" 2>/dev/null || true
	LOAD_PID=
}

# Requests that did not get a 2xx: other status codes and transport errors.
failed_requests() {
	local bad errs
	bad=$(sed -n '/Status code distribution:/,/^$/p' "$T/hey.txt" | grep -E '^\s+\[[0-9]+\]' |
		grep -vE '^\s+\[2[0-9][0-9]\]' | awk '{s+=$2} END {print s+0}')
	errs=$(sed -n '/Error distribution:/,/^$/p' "$T/hey.txt" | grep -E '^\s+\[[0-9]+\]' |
		awk '{gsub(/[\[\]]/, "", $1); s+=$1} END {print s+0}')
	echo $((bad + errs))
}

ok_requests() {
	sed -n '/Status code distribution:/,/^$/p' "$T/hey.txt" | grep -E '^\s+\[200\]' | awk '{print $2+0}'
}

# the reason as `rollout status` shows it (it has quotes and commas)
reason() { slipway rollout status "$1" | sed -n 's/^Reason: *//p'; }

# hello_app VERSION HOOKS_YAML: the demo app (rolling) with these hooks
hello_app() {
	app_yaml hello "$1" 1 "" "  hooks:
$2"
}

@test "example: hooks-v1.yaml, hooks-v2.yaml, hooks-v3.yaml: expand then contract under load, 0 failed requests" {
	start_postgres
	start_daemon
	v1=$(example hooks-v1.yaml)
	slipway apply -f "$v1" --wait
	# Healthy can come a moment before the proxy has the route's listener
	wait_for 10 curl -fsS "http://127.0.0.1:$LISTEN/healthz"
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == "ok v1 "* ]]
	start_load 180

	v2=$(example hooks-v2.yaml)
	slipway apply -f "$v2" --wait
	wait_for 30 app_ready_at shop 2 2
	[ "$(psql -At -c "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'title'")" = 1 ]
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == "ok v2 "* ]]
	# postDeploy ran once v2 was Healthy; its output is in its log
	wait_for 20 sh -c "\"$SLIPWAY_BIN\" events shop | grep -q 'postDeploy hook \"count-rows\" of revision 2 succeeded'"
	run slipway logs shop --instance shop-r2-postdeploy-count-rows
	[ "$status" -eq 0 ]
	[[ "$output" =~ [0-9]+ ]]

	v3=$(example hooks-v3.yaml)
	slipway apply -f "$v3" --wait
	wait_for 30 app_ready_at shop 3 2
	[ "$(psql -At -c "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'name'")" = 0 ]
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == "ok v3 "* ]]
	stop_load

	echo "requests: $(ok_requests) ok, $(failed_requests) failed"
	[ "$(ok_requests)" -gt 100 ]
	[ "$(failed_requests)" -eq 0 ]
	# the decision log tells the story in order
	run slipway events shop
	[[ "$output" == *'preDeploy hook "add-title" of revision 2 succeeded in '*'expand migration'* ]]
	[[ "$output" == *'preDeploy hook "drop-name" of revision 3 succeeded in '*'contract migration'* ]]
	# no v2 instance started before its migration succeeded
	migrated=$(printf '%s\n' "$output" | grep -n 'preDeploy hook "add-title" of revision 2 succeeded' | cut -d: -f1)
	started=$(printf '%s\n' "$output" | grep -n 'InstanceStarted.*(revision 2)' | head -1 | cut -d: -f1)
	[ "$migrated" -lt "$started" ]
}

@test "a v3 that fails analysis after its contract migration freezes instead of rolling back; abort --force rolls back" {
	start_postgres
	start_daemon
	slipway apply -f "$(example hooks-v1.yaml)" --wait
	start_load 150 # analysis judges traffic: without any, a canary pauses
	slipway apply -f "$(example hooks-v2.yaml)"
	wait_for 90 app_ready_at shop 2 2
	# a broken build of v3: every request fails
	slipway apply -f "$(example hooks-v3.yaml 's/^      DBAPP_SCHEMA: v3/      DBAPP_SCHEMA: v3\n      DBAPP_FAIL: "1"/')"
	wait_for 60 phase_is shop Frozen
	r=$(reason shop)
	echo "$r"
	[[ "$r" == *"analysis of step 2/2 failed"* ]]
	[[ "$r" == *"frozen, not rolled back: a contract migration of revision 3 ran"* ]]
	[[ "$r" == *"traffic held (50% to revision 3)"* ]]
	# traffic held where it was: the v3 canary still gets its share
	j=$(status_json shop)
	[ "$(field weight "$j")" = 50 ]
	[[ "$(instance_fields shop revision | sort -u | tr '\n' ' ')" == "2 3 " ]]
	run slipway events shop
	[[ "$output" == *"Frozen"*"rollout of revision 3 frozen"* ]]
	[[ "$output" != *"onAbort"* ]]
	# a plain abort is refused: it would serve a revision the schema dropped
	run slipway rollout abort shop
	[ "$status" -ne 0 ]
	[[ "$output" == *"--force"* ]]
	phase_is shop Frozen
	# the operator decides: back to v2 anyway
	slipway rollout abort --force shop
	wait_for 30 phase_is shop Degraded
	wait_for 30 sh -c "curl -fsS http://127.0.0.1:$LISTEN/ | grep -q '^ok v2 '"
	stop_load
	wait_for 20 sh -c "\"$SLIPWAY_BIN\" events shop | grep -q 'onAbort hook \"report\" of revision 3 succeeded'"
	run slipway logs shop --instance shop-r3-onabort-report
	[[ "$output" == *"rollout of shop 3.0.0 aborted"* ]]
}

@test "after a contract migration a plain abort freezes at the canary's weight; promote --full goes forward" {
	start_daemon
	canary="  route: {listen: \"127.0.0.1:$LISTEN\"}
  strategy:
    canary:
      steps:
        - setWeight: 50
        - pause: {}"
	app_yaml hello 1.0.0 2 "" "$canary" >"$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	app_yaml hello 2.0.0 2 "" "$canary
  hooks:
    preDeploy:
      - name: drop-old
        command: [\"true\"]
        migration: {compatibility: contract}" >"$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 30 phase_is hello Paused
	slipway rollout abort hello
	phase_is hello Frozen
	[[ "$(reason hello)" == *"traffic held (50% to revision 2)"* ]]
	[ "$(field weight "$(status_json hello)")" = 50 ]
	run slipway rollout status hello --watch
	[ "$status" -eq 1 ]
	slipway rollout promote --full hello
	wait_for 30 app_ready_at hello 2 2
	wait_for 10 sh -c "curl -fsS http://127.0.0.1:$LISTEN/ | grep -q 2.0.0"
}

@test "a failed preDeploy stops the rollout before any new instance starts, after its retries" {
	start_daemon
	hello_app 1.0.0 "    postDeploy: []" >"$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	hello_app 2.0.0 "    preDeploy:
      - name: migrate
        command: echo migrating \${VERSION}; exit 3
        retries: 1
    onAbort:
      - name: cleanup
        command: [\"sh\", \"-c\", \"echo cleaned >$T/cleaned\"]" >"$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 30 phase_is hello Degraded
	r=$(reason hello)
	echo "$r"
	[[ "$r" == *'preDeploy hook "migrate" failed: exited with status 3 (attempt 2/2)'* ]]
	[[ "$r" == *"revision 1 keeps serving"* ]]
	run slipway events hello
	[[ "$output" == *"HookRetry"*"attempt 1/2"* ]]
	[[ "$output" == *"HookFailed"*"slipway logs hello --instance hello-r2-predeploy-migrate"* ]]
	[[ "$output" != *"InstanceStarted"*"(revision 2)"* ]]
	[[ "$(instance_fields hello revision | sort -u)" == 1 ]]
	# both attempts' output is in the job's log
	run slipway logs hello --instance hello-r2-predeploy-migrate
	[ "$(grep -c 'migrating 2.0.0' <<<"$output")" -eq 2 ]
	[[ "$output" == *"attempt 2/2"* ]]
	# onAbort ran after the abort
	wait_for 20 test -s "$T/cleaned"
}

@test "a preDeploy job that outlives its timeout is killed with its group and fails the rollout" {
	start_daemon
	hello_app 1.0.0 "    postDeploy: []" >"$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	marker="600.$RANDOM"
	hello_app 2.0.0 "    preDeploy:
      - name: slow
        command: [\"sh\", \"-c\", \"sleep $marker\"]
        timeout: 1s" >"$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 30 phase_is hello Degraded
	[[ "$(reason hello)" == *'preDeploy hook "slow" failed: timed out after 1s (attempt 1/1)'* ]]
	# the child of the shell went with it
	refute pgrep -f "sleep $marker"
}

@test "a preDeploy that fails once and succeeds on retry lets the rollout finish; postDeploy runs after Healthy" {
	start_daemon
	hello_app 1.0.0 "    postDeploy: []" >"$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	hello_app 2.0.0 "    preDeploy:
      - name: flaky
        command: if [ -e $T/once ]; then echo second try; else touch $T/once; exit 1; fi
        retries: 2
    postDeploy:
      - name: smoke
        command: [\"sh\", \"-c\", \"echo \$SLIPWAY_HOOK \$SLIPWAY_VERSION >$T/post\"]" >"$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 60 app_ready_at hello 2 1
	run slipway events hello
	[[ "$output" == *'preDeploy hook "flaky" of revision 2 succeeded in '*'(attempt 2/3)'* ]]
	wait_for 20 test -s "$T/post"
	[ "$(cat "$T/post")" = "postDeploy 2.0.0" ]
}

@test "hooks are validated with positions; nothing is applied" {
	start_daemon
	hello_app 1.0.0 "    postDeploy:
      - name: notify
        command: [\"true\"]
        migration: {compatibility: expand}" >"$T/bad1.yaml"
	run slipway apply -f "$T/bad1.yaml"
	[ "$status" -ne 0 ]
	[[ "$output" == *"bad1.yaml:"*":"*': unknown field "migration" in spec.hooks.postDeploy[0]'* ]]
	hello_app 1.0.0 "    preDeploy:
      - name: migrate
        command: \"\"
        migration: {compatibility: contracts}" >"$T/bad2.yaml"
	run slipway apply -f "$T/bad2.yaml"
	[ "$status" -ne 0 ]
	[[ "$output" == *"bad2.yaml:"*"must not be empty"* ]]
	hello_app 1.0.0 "    preDeploy:
      - name: migrate
        command: [\"true\"]
        migration: {compatibility: contracts}
      - name: migrate
        command: [\"true\"]" >"$T/bad3.yaml"
	run slipway apply -f "$T/bad3.yaml"
	[ "$status" -ne 0 ]
	[[ "$output" == *'bad3.yaml:'*'did you mean "contract"'* ]]
	run slipway get apps
	[[ "$output" != *hello* ]]
}

# A daemon killed outright while a preDeploy job runs: the next one adopts
# the job (it keeps running, never a second copy beside it), gets its exit
# status and goes on with the rollout.
@test "a daemon killed while a preDeploy job runs adopts the job: one run, its result recorded, the rollout goes on" {
	start_daemon
	hello_app 1.0.0 "    postDeploy: []" >"$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	# each run appends "start" at once and "end" after 4 s
	hello_app 2.0.0 "    preDeploy:
      - name: migrate
        command: echo start >>$T/runs; sleep 4; echo end >>$T/runs" >"$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 20 grep -q start "$T/runs"
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	start_daemon
	wait_for 40 app_ready_at hello 2 1
	[ "$(cat "$T/runs")" = "start
end" ]
	run slipway events hello
	[[ "$output" == *"HookAdopted"*'preDeploy hook "migrate" of revision 2'* ]]
	[[ "$output" == *'preDeploy hook "migrate" of revision 2 succeeded in '*'(attempt 1/1)'* ]]
	[ "$(grep -c 'HookStarted' <<<"$output")" = 1 ]
}

# The job ends while no daemon runs: the next daemon does not run it again,
# and still knows how it ended (it was not the job's parent).
@test "a preDeploy job that fails while the daemon is down is not run again; its exit status fails the rollout" {
	start_daemon
	hello_app 1.0.0 "    postDeploy: []" >"$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	hello_app 2.0.0 "    preDeploy:
      - name: migrate
        command: echo start >>$T/runs; sleep 2; echo end >>$T/runs; exit 3" >"$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 20 grep -q start "$T/runs"
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	wait_for 20 test -s "$T/state/logs/hello/hello-r2-predeploy-migrate.exit"
	start_daemon
	wait_for 30 phase_is hello Degraded
	[[ "$(reason hello)" == *'preDeploy hook "migrate" failed: exited with status 3 (attempt 1/1)'* ]]
	[ "$(cat "$T/runs")" = "start
end" ]
	run slipway events hello
	[[ "$output" == *"HookAdopted"*"ended while the daemon was down"* ]]
	[[ "$(instance_fields hello revision | sort -u)" == 1 ]]
}
