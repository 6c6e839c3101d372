#!/usr/bin/env bats
# Environments (docs/environments.md): one app name in staging and prod on
# one host, each with its own ports, routes and tokens; selecting one with
# -e, SLIPWAY_ENV or `get -A`; the mistakes a user makes, refused where
# they are; and a daemon restart that keeps it all.

load helpers

setup() {
	e2e_setup
	STAGING_PORT=$((PORT_BASE + 97)) # staging's route; prod's is LISTEN
	cat >"$T/environments.yaml" <<YAML
apiVersion: slipway/v1
kind: Environment
metadata: {name: staging}
spec:
  ports: $((PORT_BASE + 10))-$((PORT_BASE + 19))
  listen: ["127.0.0.1:$STAGING_PORT"]
---
apiVersion: slipway/v1
kind: Environment
metadata: {name: prod}
spec:
  ports: $((PORT_BASE + 20))-$((PORT_BASE + 29))
YAML
}

# hello_at VERSION PORT: the hello app of the docs, routed on PORT.
hello_at() {
	hello_doc "$1" | sed "s/127.0.0.1:$LISTEN/127.0.0.1:$2/"
}

# serves PORT TEXT: a request to the route answers with TEXT.
serves() { [[ "$(curl -fsS "http://127.0.0.1:$1/")" == *"$2"* ]]; }

# in_range LO HI N...: every N is within LO..HI.
in_range() {
	local lo=$1 hi=$2 n
	shift 2
	[ $# -gt 0 ] || return 1
	for n in "$@"; do [ "$n" -ge "$lo" ] && [ "$n" -le "$hi" ] || return 1; done
}

deploy_both() {
	slipway apply -f "$T/environments.yaml"
	hello_at 1.0.0 "$STAGING_PORT" >"$T/staging.yaml"
	hello_at 1.0.0 "$LISTEN" >"$T/prod.yaml"
	slipway -e staging apply -f "$T/staging.yaml" --wait
	SLIPWAY_ENV=prod slipway apply -f "$T/prod.yaml" --wait
}

@test "hello runs in staging and in prod at once: own instances, ports and routes; get -A lists both" {
	start_daemon
	deploy_both
	wait_for 10 serves "$STAGING_PORT" "instance staging.hello-"
	wait_for 10 serves "$LISTEN" "instance prod.hello-"
	run slipway get apps -A
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "ENVIRONMENT   NAME    STRATEGY   PHASE"* ]]
	[[ "$output" == *"prod          hello   rolling    Healthy"* ]]
	[[ "$output" == *"staging       hello   rolling    Healthy"* ]]
	# the default environment has none; each selection sees its own
	run slipway get apps
	[[ "$output" == "no apps; deploy one with"* ]]
	[ "$(slipway -e staging get apps -o name)" = "app/hello" ]
	# instances take ports from their environment's range
	in_range $((PORT_BASE + 10)) $((PORT_BASE + 19)) $(slipway -e staging status hello --json | sed -n 's/^ *"port": \([0-9]*\),*$/\1/p')
	in_range $((PORT_BASE + 20)) $((PORT_BASE + 29)) $(slipway -e prod status hello --json | sed -n 's/^ *"port": \([0-9]*\),*$/\1/p')
	# JSON and events carry the environment
	[[ "$(slipway -e prod status hello --json)" == *'"environment": "prod"'* ]]
	run slipway events -A --json
	[[ "$output" == *'"app": "hello",'*'"environment": "staging"'* ]]
	run slipway events -A
	[[ "$output" == *"prod/hello"*"Healthy"* ]]
	run slipway -e staging events
	[[ "$output" == *"staging/hello"* && "$output" != *"prod/hello"* ]]
	# a new version in staging leaves prod as it is
	hello_at 2.0.0 "$STAGING_PORT" >"$T/staging2.yaml"
	slipway -e staging apply -f "$T/staging2.yaml" --wait
	wait_for 10 serves "$STAGING_PORT" "hello from 2.0.0"
	serves "$LISTEN" "hello from 1.0.0"
	[ "$(field revision "$(slipway -e prod status hello --json)")" = 1 ]
	slipway get environments
	run slipway get environments
	[[ "$output" == *"prod      $((PORT_BASE + 20))-$((PORT_BASE + 29))   any"*"   1      "* ]]
}

@test "a document names its environment; another selected, or one that does not exist, is refused where it says so" {
	start_daemon
	cat >"$T/app.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata:
  name: hello
  environment: prod
spec:
  version: "1.0.0"
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
  readiness: {http: {path: /healthz}}
YAML
	cd "$T"
	run slipway apply -f app.yaml
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: app.yaml:5:16: environment "prod" does not exist (apply a kind: Environment first; known: default)' ]
	run slipway get apps -A
	[[ "$output" == "no apps"* ]]
	slipway apply -f environments.yaml
	run slipway -e staging apply -f app.yaml
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: app.yaml:5:16: metadata.environment is prod but the command selects staging' ]
	run slipway -e prdo get apps
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: environment "prdo" does not exist (known: default, prod, staging)' ]
	run slipway -e prdo apply -f app.yaml
	[[ "$output" == *'environment "prdo" does not exist (known: default, prod, staging)'* ]]
	# the document alone says where it goes
	slipway apply -f app.yaml --wait
	[ "$(slipway -e prod get apps -o name)" = "app/hello" ]
	run slipway status hello
	[ "$status" -eq 1 ]
	[[ "$output" == *'app "hello" not found'* ]]
	# nothing changed by the refusals: one app, one revision
	[ "$(slipway get apps -A -o name)" = "app/hello" ]
	[ "$(slipway -e prod get revisions hello -o name)" = "revision/1" ]
}

@test "routes: staging cannot take prod's listener nor listen outside its own" {
	start_daemon
	deploy_both
	hello_at 1.0.0 "$LISTEN" | sed 's/name: hello}/name: web}/' >"$T/web.yaml"
	run slipway -e staging apply -f "$T/web.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"app \"staging/web\": route.listen 127.0.0.1:$LISTEN is not allowed in environment \"staging\" (it allows 127.0.0.1:$STAGING_PORT)"* ]]
	run slipway -e prod apply -f "$T/web.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"app \"prod/web\": route 127.0.0.1:$LISTEN path / is already served by app \"prod/hello\""* ]]
	hello_at 1.0.0 "$STAGING_PORT" | sed 's/name: hello}/name: web}/' >"$T/web2.yaml"
	run slipway -e prod apply -f "$T/web2.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"app \"prod/web\": route 127.0.0.1:$STAGING_PORT path / is already served by app \"staging/hello\""* ]]
	# ranges of two environments may not overlap
	printf 'apiVersion: slipway/v1\nkind: Environment\nmetadata: {name: dev}\nspec: {ports: %s-%s}\n' \
		$((PORT_BASE + 15)) $((PORT_BASE + 40)) >"$T/dev.yaml"
	run slipway apply -f "$T/dev.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"environment \"dev\": ports $((PORT_BASE + 15))-$((PORT_BASE + 40)) overlap those of environment \"staging\""* ]]
}

@test "a deployer token scoped to staging changes staging, and gets 403 for prod" {
	API=$(free_port)
	start_daemon --api "127.0.0.1:$API"
	deploy_both
	slipway token create ci --role deployer --environment staging >"$T/ci.token"
	run slipway token list
	[[ "$output" == *"ci     deployer   staging"* ]]
	ci() { slipway --api "127.0.0.1:$API" --token-file "$T/ci.token" "$@"; }
	hello_at 2.0.0 "$LISTEN" >"$T/prod2.yaml"
	for cmd in "apply -f $T/prod2.yaml" "rollback hello" "delete hello" "status hello"; do
		run ci -e prod $cmd
		[ "$status" -eq 1 ]
		[ "$output" = 'slipway: token "ci" may not use environment prod' ]
	done
	# -A lists only its own
	run ci get apps -A
	[[ "$output" == *"staging       hello"* && "$output" != *"prod "* ]]
	# host-wide documents are not a scoped token's
	run ci apply -f "$T/environments.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *'token "ci" is scoped to environments (staging): it applies App documents only'* ]]
	run ci delete environment staging
	[ "$status" -eq 1 ]
	# in staging it deploys, rolls back and deletes
	hello_at 2.0.0 "$STAGING_PORT" >"$T/staging2.yaml"
	ci -e staging apply -f "$T/staging2.yaml" --wait
	ci -e staging rollback hello --wait
	wait_for 10 serves "$STAGING_PORT" "hello from 1.0.0"
	run slipway -e staging events hello
	[[ "$output" == *"Rollback"*"ci"* ]]
	ci -e staging delete hello
	# prod never moved
	serves "$LISTEN" "hello from 1.0.0"
	[ "$(field revision "$(slipway -e prod status hello --json)")" = 1 ]
}

@test "delete environment is refused while apps live in it, naming them" {
	start_daemon
	deploy_both
	run slipway delete environment prod
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: environment "prod" is in use by 1 app: hello (delete them first: slipway -e prod delete app NAME)' ]
	slipway -e prod delete app hello
	slipway delete environment prod
	run slipway get environments -o name
	[ "$output" = $'environment/default\nenvironment/staging' ]
	run slipway -e prod get apps
	[[ "$output" == *'environment "prod" does not exist (known: default, staging)'* ]]
	run slipway delete environment default
	[ "$status" -eq 1 ]
}

@test "a daemon restart keeps both environments: instances adopted, ports and routes as they were" {
	start_daemon
	deploy_both
	before=$(slipway get instances -A -o wide | awk 'NR > 1 {print $1, $2, $9, $10}' | sort)
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	start_daemon
	wait_for 15 eval 'slipway -e staging get apps | grep -q Healthy'
	wait_for 15 eval 'slipway -e prod get apps | grep -q Healthy'
	[ "$(slipway get instances -A -o wide | awk 'NR > 1 {print $1, $2, $9, $10}' | sort)" = "$before" ]
	run slipway -e staging events hello
	[[ "$output" == *"InstanceAdopted"* ]]
	run slipway -e prod events hello
	[[ "$output" == *"InstanceAdopted"* ]]
	wait_for 10 serves "$STAGING_PORT" "instance staging.hello-"
	wait_for 10 serves "$LISTEN" "instance prod.hello-"
	# a new instance of prod still takes prod's ports
	slipway -e prod scale hello 2
	wait_for 15 eval '[ "$(slipway -e prod status hello --json | grep -c "\"ready\": true")" -ge 2 ]'
	in_range $((PORT_BASE + 20)) $((PORT_BASE + 29)) $(slipway -e prod status hello --json | sed -n 's/^ *"port": \([0-9]*\),*$/\1/p')
}
