#!/usr/bin/env bats
# dependsOn between apps (docs/documents.md, "spec.dependsOn"): a directory
# of apps applied at once rolls out in the order their dependsOn gives,
# against a real daemon and real hello instances (db's slow start is
# hello's HELLO_READY_AFTER); a Degraded dependency keeps its dependant
# waiting, a cycle is refused, and a restarted daemon carries on waiting.

load helpers

# db VERSION [ENV_YAML] > file: a database that takes a while to start
db_doc() {
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: db}
spec:
  version: "$1"
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
    env: {${2:-HELLO_READY_AFTER: "3"}}
  readiness: {http: {path: /healthz}}
YAML
}

# web VERSION [DEPENDS_YAML] > file: the app users reach, on LISTEN
web_doc() {
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: web}
spec:
  version: "$1"
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
  readiness: {http: {path: /healthz}}
  route: {listen: "127.0.0.1:$LISTEN"}
  dependsOn:
    - ${2:-db}
YAML
}

reason() { slipway status "$1" | sed -n 's/^Reason: *//p'; }
phase() { field phase "$(status_json "$1")"; }
phase_and_reason() { # phase_and_reason APP PHASE TEXT
	[ "$(phase "$1")" = "$2" ] && [[ "$(reason "$1")" == *"$3"* ]]
}
# the line number of the first event of APP of KIND in the whole log, oldest first
event_line() {
	slipway events --limit 0 | grep -nE "^[^ ]+ +$1 +$2 " | head -1 | cut -d: -f1
}
serves() { [[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == "hello from $1 "* ]]; }

@test "apply -f DIR: web's new revision starts only once db is Healthy, for a first deploy and an update" {
	start_daemon
	mkdir "$T/apps"
	db_doc 1.0.0 >"$T/apps/db.yaml"
	web_doc 1.0.0 >"$T/apps/web.yaml"
	run slipway apply -f "$T/apps"
	[ "$status" -eq 0 ]
	[[ "$output" == *"app/db created"*"app/web created"* ]]
	# while db warms up: web is Waiting, says for what, runs nothing
	run slipway get apps
	[[ "$output" =~ web\ +rolling\ +Waiting ]]
	[[ "$(reason web)" == "waiting for db (Progressing); revision 1 starts once it is Healthy" ]]
	[ "$(field instancesRunning "$(status_json web)")" = 0 ]
	wait_for 30 app_ready_at web 1 1
	# the order, from the log: db Healthy, then web told and started
	db_healthy=$(event_line db Healthy)
	web_ready=$(event_line web DependenciesReady)
	web_started=$(event_line web InstanceStarted)
	[ -n "$db_healthy" ] && [ "$db_healthy" -lt "$web_ready" ] && [ "$web_ready" -lt "$web_started" ]
	[ "$(slipway events web | grep -c WaitingForDependencies)" = 1 ]
	slipway events web | grep -q "DependenciesReady .*db is Healthy; starting revision 1"
	wait_for 10 serves 1.0.0

	# both change at once: web 1.0.0 keeps serving until db 2.0.0 is Healthy
	db_doc 2.0.0 >"$T/apps/db.yaml"
	web_doc 2.0.0 >"$T/apps/web.yaml"
	slipway apply -f "$T/apps"
	wait_for 10 phase_and_reason web Waiting "waiting for db (Progressing)"
	serves 1.0.0
	[ "$(instance_fields web revision | sort -u)" = 1 ]
	slipway apply -f "$T/apps" --wait
	app_ready_at db 2 1
	app_ready_at web 2 1
	wait_for 10 serves 2.0.0
	# a change of replicas only waits for nothing
	db_doc 3.0.0 >"$T/apps/db.yaml"
	slipway apply -f "$T/apps/db.yaml"
	sed -i 's/^  version: "2.0.0"/  version: "2.0.0"\n  replicas: 2/' "$T/apps/web.yaml"
	slipway apply -f "$T/apps/web.yaml"
	[ "$(phase web)" != Waiting ]
	wait_for 30 app_ready_at web 3 2
}

@test "a Degraded dependency keeps web waiting and says so; abort keeps the old revision; retry waits again" {
	start_daemon
	mkdir "$T/apps"
	db_doc 1.0.0 'HELLO_READY_AFTER: "0"' >"$T/apps/db.yaml"
	web_doc 1.0.0 >"$T/apps/web.yaml"
	slipway apply -f "$T/apps" --wait
	wait_for 10 serves 1.0.0
	# db 2.0.0 never becomes ready; abort it: Degraded
	db_doc 2.0.0 'HELLO_FAIL_HEALTH_AFTER: "0"' >"$T/apps/db.yaml"
	web_doc 2.0.0 >"$T/apps/web.yaml"
	slipway apply -f "$T/apps"
	wait_for 10 phase_and_reason web Waiting "waiting for db (Progressing)"
	slipway rollout abort db
	wait_for 10 phase_and_reason web Waiting "waiting for db (Degraded); revision 2 starts once it is Healthy"
	run slipway get apps
	[[ "$output" =~ db\ +rolling\ +Degraded ]]
	[[ "$output" =~ web\ +rolling\ +Waiting ]]
	serves 1.0.0
	# abort of the waiting web: Degraded, 1.0.0 keeps serving, nothing of 2.0.0 ran
	slipway rollout abort web
	[ "$(phase web)" = Degraded ]
	[[ "$(reason web)" == "rollout of revision 2 aborted: aborted by "*"; revision 1 keeps serving" ]]
	serves 1.0.0
	refute grep -q "instance web-[0-9]* (revision 2) started" <(slipway events web)
	# retry waits again; a fixed db lets it go on by itself
	slipway rollout retry web
	wait_for 10 phase_and_reason web Waiting "waiting for db (Degraded)"
	db_doc 3.0.0 'HELLO_READY_AFTER: "0"' >"$T/apps/db.yaml"
	slipway apply -f "$T/apps/db.yaml"
	wait_for 30 app_ready_at web 2 1
	wait_for 10 serves 2.0.0
}

@test "a cycle is refused with file:line:col and nothing changes" {
	start_daemon
	mkdir "$T/apps"
	db_doc 1.0.0 >"$T/apps/db.yaml"
	web_doc 1.0.0 >"$T/apps/web.yaml"
	slipway apply -f "$T/apps" --wait
	before=$(slipway get apps)
	db_doc 2.0.0 >"$T/apps/db.yaml"
	printf '  dependsOn: [web]\n' >>"$T/apps/db.yaml"
	web_doc 2.0.0 >"$T/apps/web.yaml"
	run slipway apply -f "$T/apps"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$T/apps/db.yaml:10:14: dependsOn: cycle db -> web -> db"* ]]
	# alone, too: the live web depends on db
	run slipway apply -f "$T/apps/db.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"db.yaml:10:14: dependsOn: cycle db -> web -> db"* ]]
	[ "$(slipway get apps)" = "$before" ]
	[ "$(slipway history db | tail -n +2 | wc -l)" = 1 ]
	refute grep -q "applied revision 2" <(slipway events)
}

@test "a daemon restarted while web waits carries on waiting, and starts it once db comes" {
	start_daemon
	web_doc 1.0.0 >"$T/web.yaml"
	slipway apply -f "$T/web.yaml"
	wait_for 10 phase_and_reason web Waiting "waiting for db (not found); revision 1 starts once it is Healthy"
	stop_daemon
	start_daemon
	[ "$(phase web)" = Waiting ]
	[[ "$(reason web)" == "waiting for db (not found)"* ]]
	[ "$(field instancesRunning "$(status_json web)")" = 0 ]
	db_doc 1.0.0 >"$T/db.yaml"
	slipway apply -f "$T/db.yaml"
	wait_for 30 app_ready_at web 1 1
	[ "$(slipway events web | grep -c WaitingForDependencies)" = 1 ]
	[ "$(event_line db Healthy)" -lt "$(event_line web DependenciesReady)" ]
	wait_for 10 serves 1.0.0
}
