#!/usr/bin/env bats
# Sync windows (docs/environments.md, "Sync windows"): an Environment's
# allow and deny windows hold a new revision of its apps while they are
# closed — Waiting, with the reason and until when, the old revision
# serving — and start it when they open, also across a daemon restart;
# an override needs a reason and is audited; rollbacks, aborts, scale and
# deletes never wait. The windows are written as a user would, around the
# time the test runs.

load helpers

setup() {
	e2e_setup
	need curl
}

serves() { [[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == "hello from $1 "* ]]; }
reason() { slipway -e prod status hello | sed -n 's/^Reason: *//p'; }
phase() { field phase "$(slipway -e prod status hello --json)"; }
phase_is_() { [ "$(phase)" = "$1" ]; }
# "2026-12-04 22:00" in ZONE, HOURS from the start of this hour there
hour_from_now() { TZ=$1 date -d "$(TZ=$1 date '+%Y-%m-%d %H:00') $2 hours" '+%Y-%m-%d %H:%M'; }

# prod_env [WINDOWS_YAML]: the prod environment, with windows when given
prod_env() {
	cat >"$T/prod.yaml" <<YAML
apiVersion: slipway/v1
kind: Environment
metadata: {name: prod}
${1:+spec:
  windows:
$1}
YAML
	slipway apply -f "$T/prod.yaml"
}

# hello VERSION: the docs' hello app in prod
hello() {
	hello_doc "$1" >"$T/hello.yaml"
	slipway -e prod apply -f "$T/hello.yaml" "${@:2}"
}

deploy_v1() {
	start_daemon "$@"
	prod_env
	hello 1.0.0 --wait
	wait_for 10 serves 1.0.0
}

# A deny window over this hour and the next, in Berlin's time.
berlin_deny() {
	echo "    - {kind: deny, schedule: \"0 $(TZ=Europe/Berlin date +%-H) * * *\", duration: 2h, timeZone: Europe/Berlin}"
}

@test "a deny window covering now holds a new revision: Waiting with the reason and until when; the old one serves" {
	deploy_v1
	hour=$(TZ=Europe/Berlin date +%-H)
	until=$(hour_from_now Europe/Berlin 2)
	prod_env "$(berlin_deny)"
	run slipway get environments
	[[ "$output" =~ prod\ +-\ +any\ +1\ +denied\ until\ $until\ Europe/Berlin ]]
	run slipway describe environment prod
	[[ "$output" == *"Sync window:          denied until $until Europe/Berlin (deny \"0 $hour * * *\" 2h)"* ]]
	[[ "$output" == *"deny  \"0 $hour * * *\" for 2h (Europe/Berlin)"* ]]
	run hello 2.0.0
	[ "$status" -eq 0 ]
	[ "$output" = "app/prod/hello configured (revision 2)" ]
	wait_for 10 phase_is_ Waiting
	[ "$(reason)" = "sync window: denied until $until Europe/Berlin (deny \"0 $hour * * *\" 2h); revision 2 starts when it opens" ]
	[[ "$(slipway -e prod status hello --json)" == *'"waitingFor": "window"'* ]]
	run slipway -e prod get apps
	[[ "$output" =~ hello\ +rolling\ +Waiting\ +1\ \(1.0.0\)\ +2/2 ]]
	serves 1.0.0
	[ "$(slipway -e prod events hello | grep -c WaitingForWindow)" = 1 ]
	# promote does not pass a window
	run slipway -e prod rollout promote hello
	[ "$status" -eq 1 ]
	[[ "$output" == *"revision 2 waits for a sync window, which promote does not pass: \`slipway rollout override APP --reason TEXT\` starts it"* ]]
	# an abort is never held: revision 1 keeps serving, and scale and
	# delete act at once
	slipway -e prod rollout abort hello
	[ "$(phase)" = Degraded ]
	[[ "$(reason)" == "rollout of revision 2 aborted: aborted by "*"; revision 1 keeps serving" ]]
	slipway -e prod rollback hello --wait
	slipway -e prod scale hello 3
	wait_for 20 ready_is_prod 3
	slipway -e prod delete hello
	wait_for 20 refute slipway -e prod status hello
}

ready_is_prod() { [ "$(field ready "$(slipway -e prod status hello --json)")" = "$1" ]; }

@test "an allow window that does not cover now holds too, until it opens" {
	deploy_v1
	at=$(TZ=Europe/Berlin date -d '+3 hours' +%-H)
	prod_env "    - {kind: allow, schedule: \"0 $at * * *\", duration: 1h, timeZone: Europe/Berlin}"
	hello 2.0.0
	wait_for 10 phase_is_ Waiting
	until=$(hour_from_now Europe/Berlin 3)
	[ "$(reason)" = "sync window: denied until $until Europe/Berlin (no allow window is open; allow \"0 $at * * *\" 1h opens then); revision 2 starts when it opens" ]
	serves 1.0.0
	# an environment's windows go: the waiting revision starts
	prod_env
	wait_for 30 serves 2.0.0
	slipway -e prod events hello | grep -q "WindowOpen .*sync window open; starting revision 2"
}

@test "an override needs a reason, passes the window and is audited; a scoped token overrides in its own environments only" {
	API=$(free_port)
	deploy_v1 --api "127.0.0.1:$API"
	prod_env "$(berlin_deny)"
	# refused without a reason, by the CLI and by the API; nothing applied
	run hello 2.0.0 --override-window
	[ "$status" -eq 2 ]
	[[ "$output" == *"--override-window needs --reason TEXT"* ]]
	run curl -sS --unix-socket "$SLIPWAY_STATE_DIR/slipway.sock" -X POST \
		"http://slipway/v1/apply?environment=prod" \
		-d "{\"files\": [{\"path\": \"$T/hello.yaml\", \"content\": \"x\"}], \"overrideWindow\": true}"
	[[ "$output" == *"an override of a sync window needs a reason (--reason TEXT): it is recorded with who overrode it"* ]]
	[ "$(field revision "$(slipway -e prod status hello --json)")" = 1 ]
	# with one: it rolls out at once, and the event says who and why
	hello 2.0.0 --override-window --reason "hotfix for incident 42" --wait
	serves 2.0.0
	run slipway -e prod events hello
	[[ "$output" == *"WindowOverridden   local    revision 2 passes the sync windows of environment prod (now denied until "*"): hotfix for incident 42"* ]]
	[[ "$output" != *"WaitingForWindow"* ]]

	# a revision already waiting: rollout override
	hello 3.0.0
	wait_for 10 phase_is_ Waiting
	run slipway -e prod rollout override hello
	[ "$status" -eq 2 ]
	[[ "$output" == *"override needs --reason TEXT"* ]]
	run curl -sS --unix-socket "$SLIPWAY_STATE_DIR/slipway.sock" -X POST \
		"http://slipway/v1/apps/hello/rollout/override?environment=prod" -d '{}'
	[[ "$output" == *"an override of a sync window needs a reason"* ]]
	# a token of staging may not; one of prod may
	slipway apply -f - <<'YAML'
apiVersion: slipway/v1
kind: Environment
metadata: {name: staging}
YAML
	slipway token create ci --role deployer --environment staging >"$T/ci.token"
	slipway token create release --role deployer --environment prod >"$T/release.token"
	as() { local t=$1; shift; slipway --api "127.0.0.1:$API" --token-file "$T/$t.token" "$@"; }
	run as ci -e prod rollout override hello --reason "not mine"
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: token "ci" may not use environment prod' ]
	[ "$(phase)" = Waiting ]
	run as release -e prod rollout override hello --reason "change 7 approved"
	[ "$status" -eq 0 ]
	[[ "$output" == "app/hello overridden: "*"sync window overridden; starting revision 3" ]]
	wait_for 30 serves 3.0.0
	run slipway -e prod events hello
	[[ "$output" == *"WindowOverridden   release   revision 3 passes the sync windows of environment prod (now denied until "*"): change 7 approved"* ]]
	run slipway -e prod rollout override hello --reason again
	[ "$status" -eq 1 ]
	[ "$output" = "slipway: prod/hello: revision 3 does not wait for a sync window" ]
}

@test "a window that opens next minute starts the held revision, also after a daemon restart" {
	deploy_v1
	# the next whole minute, or the one after when this one is nearly over
	ahead=1
	[ "$(date +%-S)" -lt 45 ] || ahead=2
	at=$(date -u -d "+$ahead minutes" '+%-M %-H')
	until=$(date -u -d "+$ahead minutes" '+%Y-%m-%d %H:%M')
	prod_env "    - {kind: allow, schedule: \"${at% *} ${at#* } * * *\", duration: 1h}"
	hello 2.0.0
	wait_for 10 phase_is_ Waiting
	[[ "$(reason)" == "sync window: denied until $until UTC (no allow window is open; allow \"${at% *} ${at#* } * * *\" 1h opens then)"* ]]
	stop_daemon
	start_daemon
	# the instances it stopped are back at revision 1; 2 still waits
	[ "$(phase)" = Waiting ]
	wait_for 20 serves 1.0.0
	[ "$(phase)" = Waiting ]
	wait_for 150 serves 2.0.0
	run slipway -e prod events hello
	[ "$(grep -c WaitingForWindow <<<"$output")" = 1 ]
	[ "$(grep -c WindowOpen <<<"$output")" = 1 ]
	[ "$(date -u '+%Y-%m-%d %H:%M')" \> "$until" ] || [ "$(date -u '+%Y-%m-%d %H:%M')" = "$until" ]
}
