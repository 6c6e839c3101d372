#!/usr/bin/env bats
# Overlays (docs/environments.md, "Overlays"): examples/overlays' base App
# and its dev, staging and prod Patches, rendered offline and applied with
# -e, run as three apps of one name on one host; a patch's mistakes
# refused at the patch's own file:line:col with nothing applied.

load helpers
load git

# helpers.bash's teardown, and a second daemon's (two hosts: two state
# dirs) before it
eval "helpers_$(declare -f teardown)"
teardown() {
	if [ -n "${DAEMON2_PID:-}" ]; then
		kill -TERM "$DAEMON2_PID" 2>/dev/null || true
		wait "$DAEMON2_PID" 2>/dev/null || true
	fi
	[ -n "${T:-}" ] && kill_instances "$T/state2"
	helpers_teardown
}

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

setup() {
	e2e_setup
	BASE_PORT=$((PORT_BASE + 93)) DEV_PORT=$((PORT_BASE + 94))
	STAGING_PORT=$((PORT_BASE + 95)) PROD_PORT=$((PORT_BASE + 96))
	# the example as it is, next to a build/ as in the repository, with
	# this test's ports (the example's are fixed)
	mkdir -p "$T/repo/examples"
	cp -r "$ROOT/examples/overlays" "$T/repo/examples/"
	ln -s "$(dirname "$HELLO_BIN")" "$T/repo/build"
	OV=$T/repo/examples/overlays
	find "$OV" -name '*.yaml' -exec sed -i \
		-e "s/127.0.0.1:8190/127.0.0.1:$BASE_PORT/" -e "s/127.0.0.1:8191/127.0.0.1:$DEV_PORT/" \
		-e "s/127.0.0.1:8192/127.0.0.1:$STAGING_PORT/" -e "s/127.0.0.1:8193/127.0.0.1:$PROD_PORT/" \
		-e "s/21000-21099/$((PORT_BASE + 10))-$((PORT_BASE + 19))/" \
		-e "s/21100-21199/$((PORT_BASE + 20))-$((PORT_BASE + 29))/" \
		-e "s/21200-21299/$((PORT_BASE + 30))-$((PORT_BASE + 39))/" {} +
	DAEMON2_PID=
}

# The example in repository shop under deploy/, hello by its absolute path
# (a checkout from git has no build/ beside it).
shop_repo() {
	git_repo_init shop
	mkdir -p "$T/git/shop/deploy"
	cp -r "$OV/." "$T/git/shop/deploy/"
	find "$T/git/shop/deploy" -name '*.yaml' -exec sed -i "s|\.\./\.\./\.\./build/hello|$HELLO_BIN|" {} +
	git -C "$T/git/shop" add deploy
	git -C "$T/git/shop" commit -q -m "hello in three environments"
	git_push shop >/dev/null
}

# shop_source ENVS [EXTRA]: the Source of shop for environments ENVS.
shop_source() {
	cat <<YAML
apiVersion: slipway/v1
kind: Source
metadata: {name: shop}
spec:
  url: file://$T/git/shop.git
  path: [deploy, deploy/base, deploy/envs/dev, deploy/envs/staging, deploy/envs/prod]
  environments: $1
${2:-}
YAML
}

# A second daemon, another host: its own state dir (slipway2 talks to it).
start_daemon2() {
	"$SLIPWAY_BIN" serve --state-dir "$T/state2" --port-range "$PORT_BASE-$((PORT_BASE + 99))" \
		--backoff 200ms >>"$T/daemon2.log" 2>&1 3>&- &
	DAEMON2_PID=$!
	wait_for 10 slipway2 get apps
}
slipway2() { SLIPWAY_STATE_DIR=$T/state2 "$SLIPWAY_BIN" "$@"; }

# serves PORT TEXT: the route on PORT answers with TEXT.
serves() { [[ "$(curl -fsS "http://127.0.0.1:$1/")" == *"$2"* ]]; }

event_in() { slipway -e "$1" events hello | grep -q "$2"; }

# ready_in ENV APP N: N instances ready.
ready_in() { [ "$(field ready "$(slipway -e "$1" status "$2" --json)")" = "$3" ]; }

@test "example: overlays/ rendered offline: each environment's hello is the base with its patch" {
	cd "$OV"
	run slipway render prod
	[ "$status" -eq 0 ]
	# the patch's values, the base's where it says nothing, TRACE deleted
	[[ "$output" == *"  name: hello
  environment: prod
  labels:
    team: web
    tier: front"* ]]
	[[ "$output" == *'  version: "1.0.0"'* ]]
	[[ "$output" == *"  replicas: 3"* ]]
	[[ "$output" == *"      LOG_LEVEL: warn"* ]]
	[[ "$output" != *"TRACE"* ]]
	[[ "$output" == *"127.0.0.1:$PROD_PORT"* ]]
	# another strategy replaces the base's whole
	[[ "$output" == *"    canary:"* ]]
	[[ "$output" != *"rolling"* ]]
	# the Environments come too, no Patch does
	[[ "$output" == *"kind: Environment"* ]]
	[[ "$output" != *"kind: Patch"* ]]

	run slipway render dev hello -f base -f envs/dev
	[ "$status" -eq 0 ]
	[[ "$output" == *"  environment: dev"* ]]
	[[ "$output" == *"  replicas: 1"* ]]
	[[ "$output" == *"      LOG_LEVEL: debug"* ]]
	[[ "$output" == *'      TRACE: "1"'* ]]
	[[ "$output" == *'  version: "1.1.0"'* ]]
	[[ "$output" != *"kind: Environment"* ]]

	# what render prints is what apply takes: it validates as it is
	slipway render staging hello >"$T/staging.yaml"
	run slipway validate -f "$T/staging.yaml"
	[ "$status" -eq 0 ]
	[[ "$output" == "app/hello valid (version 1.1.0, 2 replicas)" ]]
	# validate reads a Patch's fields; render checks the values
	run slipway validate envs/prod
	[ "$status" -eq 0 ]
	[ "$output" = "patch/prod/hello valid (its fields; \`slipway render\` checks the values)" ]
	# every file of the example is one of these
	[ "$(find "$OV" -name '*.yaml' | wc -l)" -eq 5 ]
}

@test "apply -e with overlays: dev, staging and prod run their own hello from one base" {
	start_daemon
	cd "$OV"
	slipway apply -f environments.yaml
	slipway apply -e dev -f base -f envs/dev --wait
	# -e after the command, and every patch read: only staging's is used
	slipway apply -f base -f envs -e staging --wait
	slipway -e prod apply -f . --wait
	wait_for 10 serves "$DEV_PORT" "hello from 1.1.0 (instance dev.hello-"
	wait_for 10 serves "$STAGING_PORT" "hello from 1.1.0 (instance staging.hello-"
	wait_for 10 serves "$PROD_PORT" "hello from 1.0.0 (instance prod.hello-"
	ready_in dev hello 1
	ready_in staging hello 2
	ready_in prod hello 3
	run slipway get apps -A
	[ "$status" -eq 0 ]
	[[ "$output" == *"dev           hello   rolling    Healthy"* ]]
	[[ "$output" == *"prod          hello   canary     Healthy"* ]]
	# -e after `get`, too
	run slipway get apps -e prod
	[ "$status" -eq 0 ]
	[[ "$output" == *"hello   canary     Healthy"* ]]
	[[ "$output" != *"rolling"* ]]
	# the environment's app is the one documents name: a second apply of
	# the same files changes nothing
	run slipway apply -e prod -f base -f envs/prod
	[ "$status" -eq 0 ]
	[[ "$output" == *"app/prod/hello unchanged"* ]]
	# diff takes them the same way: prod's change, named with its environment
	sed -i 's/^  replicas: 3/  replicas: 4/' envs/prod/hello.yaml
	run slipway diff -e prod -f base -f envs/prod
	[ "$status" -eq 1 ]
	[[ "$output" == *"merged/app/prod.hello"* ]]
	[[ "$output" == *"-  replicas: 3"* ]]
	[[ "$output" == *"+  replicas: 4"* ]]
}

@test "a patch's mistakes are refused at the patch's file:line:col, and nothing is applied" {
	start_daemon
	cd "$OV"
	slipway apply -f environments.yaml
	sed -i 's/^  replicas: 3/  replica: 3/' envs/prod/hello.yaml
	run slipway apply -e prod -f base -f envs/prod
	[ "$status" -ne 0 ]
	[[ "$output" == *"envs/prod/hello.yaml:11:3: spec.replica is not a field of App (did you mean replicas?)"* ]]
	run slipway render prod
	[ "$status" -ne 0 ]
	[[ "$output" == "envs/prod/hello.yaml:11:3: spec.replica is not a field of App (did you mean replicas?)" ]]
	# read, and so refused, when another environment is rendered too
	run slipway render dev
	[ "$status" -ne 0 ]
	[[ "$output" == *"envs/prod/hello.yaml:11:3:"* ]]

	# a value the App refuses: at the patch's node
	sed -i 's/^  replica: 3/  replicas: none/' envs/prod/hello.yaml
	run slipway apply -e prod -f base -f envs/prod
	[ "$status" -ne 0 ]
	[[ "$output" == *"envs/prod/hello.yaml:11:13: replicas must be a positive integer, got \"none\""* ]]
	sed -i 's/^  replicas: none/  replicas: 3/' envs/prod/hello.yaml

	# a patch for an environment that does not exist
	sed 's/environment: staging/environment: stagin/' envs/staging/hello.yaml >envs/staging/typo.yaml
	run slipway apply -e prod -f base -f envs
	[ "$status" -ne 0 ]
	[[ "$output" == *"envs/staging/typo.yaml:2:1: patch \"stagin/hello\": environment \"stagin\" does not exist (known: default, dev, prod, staging)"* ]]
	rm envs/staging/typo.yaml

	# patches without -e: they are for an environment
	run slipway apply -f base -f envs/prod
	[ "$status" -ne 0 ]
	[[ "$output" == *"envs/prod/hello.yaml:3:1: patch \"prod/hello\" is for environment prod: select it (apply -e prod)"* ]]

	# a patch without its base
	run slipway apply -e prod -f envs/prod
	[ "$status" -ne 0 ]
	[[ "$output" == *"envs/prod/hello.yaml:3:1: patch \"prod/hello\" has no base: no App \"hello\" without metadata.environment is read with it"* ]]

	# two patches of one app for one environment
	cp envs/prod/hello.yaml envs/prod/again.yaml
	run slipway apply -e prod -f base -f envs/prod
	[ "$status" -ne 0 ]
	[[ "$output" == *"patch \"prod/hello\" is defined twice"* ]]
	rm envs/prod/again.yaml

	run slipway get apps -A
	[ "$status" -eq 0 ]
	[[ "$output" != *"hello"* ]]

	# a Source's environments: names, each once
	for envs in "[prod, staging, prod]" "[Prod]" "[]"; do
		printf 'apiVersion: slipway/v1\nkind: Source\nmetadata: {name: shop}\nspec:\n  url: https://git.example.com/shop.git\n  environments: %s\n' "$envs" >"$T/source.yaml"
		run slipway validate "$T/source.yaml"
		[ "$status" -eq 1 ]
		echo "$output" >>"$T/source-errors"
	done
	run cat "$T/source-errors"
	[[ "${lines[0]}" == *"source.yaml:6:33: environments names \"prod\" twice" ]]
	[[ "${lines[1]}" == *"source.yaml:6:18: environments[0] must be lower-case letters"* ]]
	[[ "${lines[2]}" == *"source.yaml:6:17: environments must not be empty" ]]
}

@test "two hosts sync one repository: [dev, staging] on one, [prod] on the other, each base App with its environment's patch" {
	shop_repo
	start_daemon
	start_daemon2
	shop_source "[dev, staging]" >"$T/source-a.yaml"
	shop_source "[prod]" >"$T/source-b.yaml"
	slipway apply -f "$T/source-a.yaml"
	slipway2 apply -f "$T/source-b.yaml"
	# sync --wait waits for the apps of every environment the source has
	run slipway sync shop --wait
	[ "$status" -eq 0 ]
	ready_in dev hello 1
	ready_in staging hello 2
	wait_for 10 serves "$DEV_PORT" "hello from 1.1.0 (instance dev.hello-"
	wait_for 10 serves "$STAGING_PORT" "hello from 1.1.0 (instance staging.hello-"
	slipway2 sync shop --wait
	[ "$(field ready "$(slipway2 -e prod status hello --json)")" = 3 ]
	wait_for 10 serves "$PROD_PORT" "hello from 1.0.0 (instance prod.hello-"
	# prod's documents were read and skipped on the first host, dev's and
	# staging's on the second; the default environment has no hello
	run slipway get apps -A
	[[ "$output" == *"dev           hello"* ]]
	[[ "$output" == *"staging       hello"* ]]
	[[ "$output" != *"prod "*"hello"* ]]
	[[ "$output" != *"default "*"hello"* ]]
	run slipway2 get apps -A
	[[ "$output" == *"prod          hello"* ]]
	[[ "$output" != *"dev "*"hello"* ]]

	# a change in git: staging's patch takes 3 replicas; the plan names the
	# app with its environment, and nothing changes on the other host
	sed -i 's|^  route:|  replicas: 3\n  route:|' "$T/git/shop/deploy/envs/staging/hello.yaml"
	git -C "$T/git/shop" commit -q -am "staging: 3 replicas"
	git_push shop >/dev/null
	run slipway sync shop --dry-run
	[ "$status" -eq 0 ]
	[[ "$output" == *"update    app/staging/hello"* ]]
	[[ "$output" != *"app/dev/hello"* ]]
	run slipway diff --source shop
	[ "$status" -eq 1 ]
	[[ "$output" == *"merged/app/staging.hello"* ]]
	[[ "$output" == *"+    \"replicas\": 3,"* || "$output" == *"+  replicas: 3"* ]]
	slipway sync shop --wait
	ready_in staging hello 3
	slipway2 sync shop --wait
	run slipway2 -e prod history hello
	[ "$(printf '%s\n' "$output" | grep -c '^ *[0-9]')" = 1 ]

	# a mistake in a patch for the other host's environment is refused here
	# too: every document is checked, and nothing of the commit applied
	sed -i 's/^  replicas: 3$/  replicaz: 3/' "$T/git/shop/deploy/envs/prod/hello.yaml"
	git -C "$T/git/shop" commit -q -am "prod: a typo"
	git_push shop >/dev/null
	run slipway sync shop
	[ "$status" -ne 0 ]
	[[ "$output" == *"deploy/envs/prod/hello.yaml:11:3: spec.replicaz is not a field of App (did you mean replicas?)"* ]]
}

# A repository where staging leads: the base runs 1.0.0, staging's Patch
# the release being tried, prod has no Patch yet (only its Environment,
# which promotes from staging).
leads_repo() {
	git_repo_init leads
	local d=$T/git/leads/deploy
	mkdir -p "$d/base" "$d/envs/staging" "$d/envs/prod"
	sed -e 's/version: "1.1.0"/version: "1.0.0"/' -e "s|\.\./\.\./\.\./build/hello|$HELLO_BIN|" \
		"$OV/base/hello.yaml" >"$d/base/hello.yaml"
	cat >"$d/envs/staging/hello.yaml" <<YAML
apiVersion: slipway/v1
kind: Patch
metadata: {name: hello, environment: staging}
spec:
  version: "$1"
  route: {listen: "127.0.0.1:$STAGING_PORT"}
YAML
	cat >"$d/envs/staging/environment.yaml" <<YAML
apiVersion: slipway/v1
kind: Environment
metadata: {name: staging}
spec: {ports: $((PORT_BASE + 20))-$((PORT_BASE + 29))}
YAML
	cat >"$d/envs/prod/environment.yaml" <<YAML
# prod takes staging's releases after a short soak
apiVersion: slipway/v1
kind: Environment
metadata: {name: prod}
spec:
  ports: $((PORT_BASE + 30))-$((PORT_BASE + 39))
  promotion: {from: staging, soak: 1s}
YAML
	git -C "$T/git/leads" add deploy
	git -C "$T/git/leads" commit -q -m "staging tries $1"
	git_push leads >/dev/null
}

@test "a promotion into an app from a base is a commit in prod's Patch: a new one first, then its version" {
	leads_repo 1.1.0
	start_daemon
	cat >"$T/source.yaml" <<YAML
apiVersion: slipway/v1
kind: Source
metadata: {name: leads}
spec:
  url: file://$T/git/leads.git
  path: [deploy/base, deploy/envs/staging, deploy/envs/prod]
  environments: [staging, prod]
  writeBack: {author: "Promotion Bot <bot@example.com>"}
YAML
	slipway apply -f "$T/source.yaml"
	wait_for 30 serves "$STAGING_PORT" "hello from 1.1.0"
	# prod runs the base's 1.0.0 until the promotion's commit is synced
	wait_for 30 event_in prod WrittenBack
	wait_for 30 serves "$BASE_PORT" "hello from 1.1.0"
	git -C "$T/git/leads" pull -q --ff-only origin main
	[ "$(git -C "$T/git/leads" log -1 --format='%an|%s')" = "Promotion Bot|promote hello 1.1.0 to prod" ]
	# the commit adds prod's Patch, in the directory beside base/, and nothing else
	[ "$(git -C "$T/git/leads" diff --name-status HEAD~1 HEAD)" = "A	deploy/envs/prod/hello.yaml" ]
	run slipway render prod hello -f "$T/git/leads/deploy"
	[ "$status" -eq 0 ]
	[[ "$output" == *'  version: "1.1.0"'* ]]
	run slipway -e prod events hello
	[[ "$output" == *"written to git: commit"*"(deploy/envs/prod/hello.yaml), source leads"* ]]

	# the next release: the Patch prod has now gets it, one line changed
	sed -i 's/version: "1.1.0"/version: "1.2.0"/' "$T/git/leads/deploy/envs/staging/hello.yaml"
	git -C "$T/git/leads" commit -q -am "staging tries 1.2.0"
	before=$(git_push leads)
	slipway sync leads --wait
	wait_for 30 serves "$STAGING_PORT" "hello from 1.2.0"
	wait_for 30 eval '[ "$(slipway -e prod events hello | grep -c WrittenBack)" -ge 2 ]'
	wait_for 30 serves "$BASE_PORT" "hello from 1.2.0"
	git -C "$T/git/leads" pull -q --ff-only origin main
	[ "$(git -C "$T/git/leads" diff --name-only "$before" HEAD)" = "deploy/envs/prod/hello.yaml" ]
	[ "$(git -C "$T/git/leads" diff "$before" HEAD | grep -c '^[-+] ')" = 2 ]
	git -C "$T/git/leads" diff "$before" HEAD | grep -q '^+  version: "1.2.0"'
}
