#!/usr/bin/env bats
# Two hosts (two daemons, two state dirs) and one release: staging runs on
# host A, prod on host B, whose Environment takes its releases from A's
# staging through A's API (docs/environments.md, "Across hosts"). B asks
# A every few seconds; a release Healthy there waits for B's approvals,
# never its author's, and B applies it; A down or a refused token is said
# in `releases`, and nothing moves. With one git repository for both
# hosts (a Source on each, environments [dev, staging] and [prod]), each
# promotion is a commit in that environment's Patch.

load helpers
load git

setup() {
	e2e_setup
	STAGING_PORT=$((PORT_BASE + 96))
	PROD_PORT=$((PORT_BASE + 97))
	API_A=$(free_port)
	API_B=$(free_port)
	A_PID=
}

teardown_file() { :; }

# on_a / on_b COMMAND...: the CLI of host A (staging) or B (prod).
on_a() { SLIPWAY_STATE_DIR=$T/a slipway "$@"; }
on_b() { SLIPWAY_STATE_DIR=$T/b slipway "$@"; }

# Host A: staging, its API on TCP; the daemon B talks to.
start_a() {
	SLIPWAY_STATE_DIR=$T/a "$SLIPWAY_BIN" serve --api "127.0.0.1:$API_A" \
		--port-range "$PORT_BASE-$((PORT_BASE + 49))" --backoff 200ms >>"$T/a.log" 2>&1 3>&- &
	A_PID=$!
	proc_record "$T/procs" "$A_PID"
	wait_for 10 on_a get apps
}

# Host B: prod (start_daemon: teardown stops it).
start_b() {
	export SLIPWAY_STATE_DIR=$T/b
	"$SLIPWAY_BIN" serve --api "127.0.0.1:$API_B" --port-range "$((PORT_BASE + 50))-$((PORT_BASE + 95))" \
		--backoff 200ms >>"$T/daemon.log" 2>&1 3>&- &
	DAEMON_PID=$!
	wait_for 10 on_b get apps
	unset SLIPWAY_STATE_DIR
}

# hello_in ENV VERSION PORT: the docs' hello app in ENV, routed on PORT.
hello_in() {
	cat >"$T/$1.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: hello, environment: $1}
spec:
  version: "$2"
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
  readiness: {http: {path: /healthz}}
  route: {listen: "127.0.0.1:$3"}
YAML
}

serves() { [[ "$(curl -fsS "http://127.0.0.1:$1/")" == *"$2"* ]]; }
event_on_b() { on_b -e prod events hello | grep -q "$1"; }
releases_say() { [[ "$(on_b releases hello)" == *"$1"* ]]; }

# prod_env APPROVALS: host B's prod, taking its releases from A's staging
# with a viewer token of A's scoped to staging ($T/host-b.token).
prod_env() {
	cat <<YAML
apiVersion: slipway/v1
kind: Environment
metadata: {name: prod}
spec:
  ports: $((PORT_BASE + 50))-$((PORT_BASE + 69))
  promotion:
    from: staging
    remote: {api: "http://127.0.0.1:$API_A", tokenFile: "$T/host-b.token"}
    approvals: $1
YAML
}

# Both hosts with their environments; B's prod takes releases from A's
# staging with a viewer token of A's scoped to staging.
two_hosts() {
	start_a
	start_b
	cat >"$T/staging-env.yaml" <<YAML
apiVersion: slipway/v1
kind: Environment
metadata: {name: staging}
spec: {ports: $((PORT_BASE + 10))-$((PORT_BASE + 29))}
YAML
	on_a apply -f "$T/staging-env.yaml"
	on_a token create host-b --role viewer --environment staging >"$T/host-b.token"
	on_a token create alice --role deployer --environment staging >"$T/alice-a.token"
	prod_env "${1:-2}" | on_b apply -f -
	on_b token create alice --role viewer --approve prod >"$T/alice-b.token"
	on_b token create bob --role viewer --approve prod >"$T/bob.token"
	on_b token create carol --role viewer --approve prod >"$T/carol.token"
	hello_in staging 1.0.0 "$STAGING_PORT"
	on_a apply -f "$T/staging.yaml" --wait
	hello_in prod 1.0.0 "$PROD_PORT"
	on_b apply -f "$T/prod.yaml" --wait
}
as_b() { local who=$1; shift; slipway --api "127.0.0.1:$API_B" --token-file "$T/$who.token" "$@"; }

@test "two hosts: a release Healthy on A's staging waits for two approvals on B, never its author's, and B's prod runs it" {
	two_hosts
	hello_in staging 1.1.0 "$STAGING_PORT"
	slipway --api "127.0.0.1:$API_A" --token-file "$T/alice-a.token" apply -f "$T/staging.yaml" --wait
	wait_for 20 event_on_b PromotionCreated
	run on_b -e prod events hello
	[[ "$output" == *"release 1.1.0 is Healthy in staging/hello at http://127.0.0.1:$API_A: promoting it into prod (gates: 2 approvals)"* ]]
	run on_b releases hello
	[[ "$output" == *"prod          1.0.0     Healthy   staging   1.1.0 Pending: approvals: 0 of 2 approvals (none yet)"* ]]
	# alice applied 1.1.0 on host A: she may not approve it on host B
	run as_b alice-b approve prod hello
	[ "$status" -eq 1 ]
	[[ "$output" == *"alice caused release 1.1.0"*"(four eyes)"* ]]
	as_b bob approve prod hello --release 1.1.0
	as_b carol approve prod hello --release 1.1.0
	wait_for 30 serves "$PROD_PORT" "hello from 1.1.0"
	wait_for 10 releases_say "prod          1.1.0     Healthy"
	run on_b releases hello
	[[ "$output" == *"prod takes releases from staging at http://127.0.0.1:$API_A: it serves 1.1.0 Healthy"* ]]
	# A's staging never changed, and A was only read
	serves "$STAGING_PORT" "hello from 1.1.0"
	run on_a -e staging history hello
	[[ "$output" != *"promotion"* ]]
}

# promote_fails_with TEXT: `promote` on B is refused, saying TEXT (B asks
# A every few seconds: what it says changes with A's next answer).
promote_fails_with() { local out; ! out=$(on_b promote hello --to prod 2>&1) && [[ "$out" == *"$1"* ]]; }

@test "two hosts: A down, or A refusing B's token, is said on B and nothing moves" {
	two_hosts 0
	echo "not-a-token" >"$T/host-b.token"
	hello_in staging 1.1.0 "$STAGING_PORT"
	on_a apply -f "$T/staging.yaml" --wait
	wait_for 15 promote_fails_with "nothing to promote from staging at http://127.0.0.1:$API_A yet: http://127.0.0.1:$API_A answers 401"
	serves "$PROD_PORT" "hello from 1.0.0"
	run on_b releases hello
	[[ "$output" == *"prod takes releases from staging at http://127.0.0.1:$API_A: http://127.0.0.1:$API_A answers 401"* ]]
	on_a token create host-b2 --role viewer --environment staging >"$T/host-b.token"
	# with a good token it goes by itself (no approvals asked), once A answers
	wait_for 30 serves "$PROD_PORT" "hello from 1.1.0"
	kill -TERM "$A_PID"
	wait_for 15 refute kill -0 "$A_PID"
	wait_for 15 promote_fails_with "does not answer: connect to 127.0.0.1:$API_A failed"
	serves "$PROD_PORT" "hello from 1.1.0"
}

@test "two hosts: remote needs an api URL and an absolute tokenFile, at their own positions" {
	start_daemon
	cat >"$T/prod-env.yaml" <<YAML
apiVersion: slipway/v1
kind: Environment
metadata: {name: prod}
spec:
  promotion:
    from: staging
    remote: {api: "127.0.0.1:7070", tokenFile: host-b.token}
YAML
	run slipway apply -f "$T/prod-env.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"prod-env.yaml:7:19: api must be an http:// or https:// URL, got \"127.0.0.1:7070\""* ]]
	sed -i 's|127.0.0.1:7070|http://127.0.0.1:7070|' "$T/prod-env.yaml"
	run slipway apply -f "$T/prod-env.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"prod-env.yaml:7:"*": tokenFile must be an absolute path on the daemon's host, got \"host-b.token\""* ]]
	run slipway get environments
	[[ "$output" != *"prod"* ]]
}

# The shop repository both hosts sync: a base App (1.0.0) and a Patch per
# environment with its route; dev's Patch says the release being tried.
one_repo() {
	git_repo_init shop
	local d=$T/git/shop/deploy
	mkdir -p "$d/base" "$d/envs/dev" "$d/envs/staging" "$d/envs/prod"
	cat >"$d/base/hello.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: hello}
spec:
  version: "1.0.0"
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
  readiness: {http: {path: /healthz}}
YAML
	local env port
	for env in dev staging prod; do
		case $env in dev) port=$DEV_PORT ;; staging) port=$STAGING_PORT ;; prod) port=$PROD_PORT ;; esac
		cat >"$d/envs/$env/hello.yaml" <<YAML
apiVersion: slipway/v1
kind: Patch
metadata: {name: hello, environment: $env}
spec:
  route: {listen: "127.0.0.1:$port"}
YAML
	done
	git -C "$T/git/shop" add deploy
	git -C "$T/git/shop" commit -q -m "hello in dev, staging and prod"
	git_push shop >/dev/null
}

# source_for ENVS: the Source of shop on a host serving ENVS, writing back.
source_for() {
	cat <<YAML
apiVersion: slipway/v1
kind: Source
metadata: {name: shop}
spec:
  url: file://$T/git/shop.git
  path: [deploy/base, deploy/envs/dev, deploy/envs/staging, deploy/envs/prod]
  environments: $1
  writeBack: {author: "Promotion Bot <bot@example.com>"}
YAML
}

@test "two hosts, one repository: dev to staging on A by itself, staging to prod on B after two approvals, each a commit in git" {
	DEV_PORT=$((PORT_BASE + 95))
	one_repo
	start_a
	start_b
	cat >"$T/a-envs.yaml" <<YAML
apiVersion: slipway/v1
kind: Environment
metadata: {name: dev}
spec: {ports: $((PORT_BASE + 10))-$((PORT_BASE + 19))}
---
apiVersion: slipway/v1
kind: Environment
metadata: {name: staging}
spec:
  ports: $((PORT_BASE + 20))-$((PORT_BASE + 29))
  promotion: {from: dev}
YAML
	on_a apply -f "$T/a-envs.yaml"
	on_a token create host-b --role viewer --environment staging >"$T/host-b.token"
	prod_env 2 | on_b apply -f -
	on_b token create bob --role viewer --approve prod >"$T/bob.token"
	on_b token create carol --role viewer --approve prod >"$T/carol.token"
	source_for "[dev, staging]" | on_a apply -f -
	source_for "[prod]" | on_b apply -f -
	wait_for 30 serves "$DEV_PORT" "hello from 1.0.0"
	wait_for 30 serves "$STAGING_PORT" "hello from 1.0.0"
	wait_for 30 serves "$PROD_PORT" "hello from 1.0.0"

	# a developer tries 1.1.0 in dev, in git
	sed -i 's|^spec:|spec:\n  version: "1.1.0"|' "$T/git/shop/deploy/envs/dev/hello.yaml"
	git -C "$T/git/shop" commit -q -am "dev tries 1.1.0"
	git_push shop >/dev/null
	on_a sync shop --wait
	wait_for 30 serves "$DEV_PORT" "hello from 1.1.0"
	# A promotes it into staging by a commit in staging's Patch, and syncs it
	wait_for 60 serves "$STAGING_PORT" "hello from 1.1.0"
	# B hears of it from A and waits for two approvals; prod is untouched
	wait_for 30 event_on_b PromotionCreated
	serves "$PROD_PORT" "hello from 1.0.0"
	as_b bob approve prod hello --release 1.1.0
	as_b carol approve prod hello --release 1.1.0
	# B commits it in prod's Patch, to the same repository, and syncs it
	wait_for 60 serves "$PROD_PORT" "hello from 1.1.0"
	git -C "$T/git/shop" pull -q --rebase origin main
	run git -C "$T/git/shop" log --format='%an|%s'
	[[ "$output" == *"Promotion Bot|promote hello 1.1.0 to prod"*"Promotion Bot|promote hello 1.1.0 to staging"*"dev tries 1.1.0"* ]]
	grep -q '^  version: "1.1.0"' "$T/git/shop/deploy/envs/staging/hello.yaml"
	grep -q '^  version: "1.1.0"' "$T/git/shop/deploy/envs/prod/hello.yaml"
	# git is the truth on both hosts: nothing drifts
	on_a sync shop --wait
	on_b sync shop --wait
	run on_b -e prod history hello
	[[ "$output" == *"1.1.0"* ]]
}
