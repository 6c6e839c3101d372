#!/usr/bin/env bats
# Promotion and approvals (docs/environments.md, "Promotion"): a release
# that is Healthy in dev moves to staging by itself after its soak and an
# analysis of dev's traffic; a release that fails staging's analysis
# stops there; prod waits for two approvers, never the release's author;
# approvals expire and are void when a newer release comes; a daemon
# restart in the middle of a soak keeps it; into an app from git, the
# promotion is a commit; mistakes are refused where they are.

load helpers
load git

setup() {
	e2e_setup
	DEV_PORT=$((PORT_BASE + 95))
	STAGING_PORT=$((PORT_BASE + 96))
	PROD_PORT=$((PORT_BASE + 97))
	API=
}

# envs DEV_SPEC STAGING_SPEC PROD_SPEC: the three environments, each its
# own ports, with the promotion (the spec's YAML, indented by 2) given.
envs() {
	cat >"$T/environments.yaml" <<YAML
apiVersion: slipway/v1
kind: Environment
metadata: {name: dev}
spec:
  ports: $((PORT_BASE + 10))-$((PORT_BASE + 29))
$1
---
apiVersion: slipway/v1
kind: Environment
metadata: {name: staging}
spec:
  ports: $((PORT_BASE + 30))-$((PORT_BASE + 49))
$2
---
apiVersion: slipway/v1
kind: Environment
metadata: {name: prod}
spec:
  ports: $((PORT_BASE + 50))-$((PORT_BASE + 69))
$3
YAML
	slipway apply -f "$T/environments.yaml"
}

# hello_in ENV VERSION PORT: the hello app of the docs, routed on PORT.
# Release 2.x has a bug that fails half its requests (hello's fault
# injection, set by the version the instance runs).
hello_in() {
	cat >"$T/$1.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: hello, environment: $1}
spec:
  version: "$2"
  run:
    command: ["/bin/sh", "-c", "case \${VERSION} in 2.*) export HELLO_ERROR_RATE=0.5;; esac; exec $HELLO_BIN --port \${PORT}"]
  readiness: {http: {path: /healthz}}
  route: {listen: "127.0.0.1:$3"}
YAML
}

# The gate a user writes for promotion: the upstream's own success rate,
# under synthetic load so that a quiet app is judged too.
gate_template() {
	cat >"$T/gate.yaml" <<'YAML'
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: upstream-ok}
spec:
  load: {path: /}
  metrics:
    - name: success-rate
      interval: 1s
      count: 3
      minSamples: 20
      successCondition: "result >= 0.95"
      provider: {builtin: {metric: success-rate, window: 3s}}
YAML
	slipway apply -f "$T/gate.yaml"
}

# deploy ENV VERSION PORT: applied and Healthy.
deploy() {
	hello_in "$1" "$2" "$3"
	slipway apply -f "$T/$1.yaml" --wait
}

serves() { [[ "$(curl -fsS "http://127.0.0.1:$1/")" == *"$2"* ]]; }
event_in() { slipway -e "$1" events hello | grep -q "$2"; }

@test "a release Healthy in dev moves to staging after its soak and an analysis of dev's traffic" {
	start_daemon
	gate_template
	envs "" "  promotion: {from: dev, soak: 3s, analysis: {templates: [upstream-ok]}}" ""
	deploy dev 1.0.0 "$DEV_PORT"
	deploy staging 1.0.0 "$STAGING_PORT"
	deploy dev 1.1.0 "$DEV_PORT"
	wait_for 10 event_in staging PromotionCreated
	run slipway releases hello
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "ENVIRONMENT   RELEASE   PHASE     FROM   PROMOTION" ]]
	[[ "${lines[1]}" == "dev           1.1.0     Healthy   -      -" ]]
	[[ "${lines[2]}" == "staging       1.0.0     Healthy   dev    1.1.0 Pending: "* ]]
	[[ "$output" == *"staging/hello: release 1.1.0 from dev/hello: Pending"* ]]
	[[ "$output" == *"approvals   Skipped"*"no approvals"* ]]
	wait_for 60 serves "$STAGING_PORT" "hello from 1.1.0"
	wait_for 10 event_in staging Promoted
	run slipway -e staging events hello
	[[ "$output" == *"PromotionCreated"*"release 1.1.0 is Healthy in dev/hello: promoting it into staging (gates: soak 3s, analysis upstream-ok)"* ]]
	[[ "$output" == *"PromotionGatePassed"*"release 1.1.0: soak passed: Healthy in dev for 3s"* ]]
	[[ "$output" == *"PromotionGatePassed"*"release 1.1.0: analysis passed (upstream-ok, against dev)"* ]]
	[[ "$output" == *"PromotionStarted"* ]]
	[[ "$output" == *"Applied"*"promotion/staging"*"applied revision 2 (version 1.1.0)"* ]]
	[[ "$output" == *"Promoted"*"release 1.1.0 promoted: configured revision 2 of staging/hello"* ]]
	# the analysis measured dev's release, beside dev's own rollouts
	run slipway -e dev analysis hello
	[[ "$output" == *"promotion"*"upstream-ok/success-rate"*"Successful"* ]]
	# the soak was a soak: the apply came 3s or more after dev was Healthy
	healthy=$(slipway -e dev events hello | grep " Healthy " | tail -1 | cut -d' ' -f1)
	applied=$(slipway -e staging events hello | grep " Applied .*promotion/staging" | cut -d' ' -f1)
	[ "$(($(date -d "$applied" +%s%N) - $(date -d "$healthy" +%s%N)))" -ge 3000000000 ]
	run slipway releases hello
	[[ "${lines[2]}" == "staging       1.1.0     Healthy   dev    1.1.0 Promoted: promoted: configured revision 2 of staging/hello" ]]
	run slipway -e staging history hello
	[[ "$output" == *"promotion from dev/hello"* ]]
}

@test "a release that fails staging's analysis stops in staging: prod keeps what it runs" {
	start_daemon
	gate_template
	envs "" "  promotion: {from: dev}" "  promotion: {from: staging, analysis: {templates: [upstream-ok]}}"
	deploy dev 1.0.0 "$DEV_PORT"
	deploy staging 1.0.0 "$STAGING_PORT"
	deploy prod 1.0.0 "$PROD_PORT"
	# 2.0.0 fails half its requests: dev takes it (no gate there), staging
	# gets it automatically, prod's analysis of staging's traffic says no
	deploy dev 2.0.0 "$DEV_PORT"
	wait_for 30 serves "$STAGING_PORT" "hello from 2.0.0"
	wait_for 90 event_in prod PromotionFailed
	run slipway -e prod events hello
	[[ "$output" == *"PromotionFailed"*"release 2.0.0 stops in staging: analysis: upstream-ok failed against staging: "*"success-rate"* ]]
	run slipway releases hello
	[[ "$output" == *"prod          1.0.0     Healthy   staging   2.0.0 Failed: analysis: upstream-ok failed against staging"* ]]
	[[ "$output" == *"analysis    Failed"* ]]
	serves "$PROD_PORT" "hello from 1.0.0"
	[ "$(field revision "$(slipway -e prod status hello --json)")" = 1 ]
	# the failure stays: no new promotion of 2.0.0 by itself
	slipway -e staging rollout restart hello
	wait_for 30 eval 'slipway -e staging events hello | grep -q Restarted'
	[ "$(slipway -e prod events hello | grep -c PromotionCreated)" = 1 ]
}

# The daemon with its TCP API, and the tokens (once prod exists): alice
# deploys staging and may approve prod (she leads the team), bob and
# carol approve prod, dave only views.
start_api() {
	API=$(free_port)
	start_daemon --api "127.0.0.1:$API"
}
tokens() {
	slipway token create alice --role deployer --approve prod >"$T/alice.token"
	slipway token create bob --role viewer --approve prod >"$T/bob.token"
	slipway token create carol --role viewer --approve prod >"$T/carol.token"
	slipway token create dave --role viewer >"$T/dave.token"
}
as() { local who=$1; shift; slipway --api "127.0.0.1:$API" --token-file "$T/$who.token" "$@"; }

@test "prod waits for two approvals; the author may not approve, a viewer without --approve gets 403, a release not pending is named" {
	start_api
	envs "" "" "  promotion: {from: staging, approvals: 2}"
	tokens
	run slipway token list
	[[ "$output" == *"bob     viewer     all            prod"* ]]
	# approving in prod is acting in prod: not for a token scoped elsewhere
	run slipway token create qa --role viewer --environment staging --approve prod
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: token "qa" is scoped to staging: it cannot approve for prod (scope it to prod too, or leave it unscoped)' ]
	deploy staging 1.0.0 "$STAGING_PORT"
	deploy prod 1.0.0 "$PROD_PORT"
	hello_in staging 1.1.0 "$STAGING_PORT"
	as alice apply -f "$T/staging.yaml" --wait
	wait_for 10 event_in prod PromotionCreated
	run slipway releases hello
	[[ "$output" == *"prod          1.0.0     Healthy   staging   1.1.0 Pending: approvals: 0 of 2 approvals (none yet)"* ]]
	# four eyes: alice applied 1.1.0 in staging
	run as alice approve prod hello
	[ "$status" -eq 1 ]
	[ "$output" = "slipway: alice caused release 1.1.0 (applied it upstream or asked for its promotion): someone else must approve it (four eyes)" ]
	run as dave approve prod hello
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: token "dave" may not approve promotions into prod (that takes a token with --approve prod)' ]
	run as bob approve prod hello --release 1.0.9
	[ "$status" -eq 1 ]
	[[ "$output" == "slipway: release 1.0.9 of hello is not pending in prod: 1.1.0 is (Pending: approvals: 0 of 2 approvals (none yet))" ]]
	run as bob approve prod hello --release 1.1.0 --comment "looks good in staging"
	[ "$status" -eq 0 ]
	[[ "$output" == "app/hello: release 1.1.0 approved for prod (1 of 2): Pending (approvals: 1 of 2 approvals (bob))" ]]
	run as bob approve prod hello
	[ "$status" -eq 1 ]
	[[ "$output" == "slipway: bob approved release 1.1.0 already ("*"); one decision each" ]]
	run slipway releases hello
	[[ "$output" == *"approved by bob at "*"(expires "*'"looks good in staging"'* ]]
	serves "$PROD_PORT" "hello from 1.0.0"
	as carol approve prod hello --release 1.1.0
	wait_for 30 serves "$PROD_PORT" "hello from 1.1.0"
	run slipway -e prod events hello
	[[ "$output" == *"Approved"*"bob"*"release 1.1.0 approved by bob (1 of 2): looks good in staging"* ]]
	[[ "$output" == *"Approved"*"carol"*"release 1.1.0 approved by carol (2 of 2)"* ]]
	[[ "$output" == *"PromotionStarted"*"every gate passed (approved by bob, carol); applying it"* ]]
	[[ "$output" == *"Promoted"* ]]
	run as carol approve prod hello
	[ "$status" -eq 1 ]
	[[ "$output" == "slipway: release 1.1.0 of hello is not pending in prod: its promotion is Promoted"* ]]
	# the API says the same
	run curl -sS -H "Authorization: Bearer $(cat "$T/dave.token")" -X POST \
		"http://127.0.0.1:$API/v1/apps/hello/approve?environment=prod" -d '{}' -o /dev/null -w '%{http_code}'
	[ "$output" = 403 ]
}

@test "approvals expire after approvalTimeout, and a newer release voids them" {
	start_api
	envs "" "" "  promotion: {from: staging, approvals: 2, approvalTimeout: 4s}"
	tokens
	deploy staging 1.0.0 "$STAGING_PORT"
	deploy prod 1.0.0 "$PROD_PORT"
	hello_in staging 1.1.0 "$STAGING_PORT"
	as alice apply -f "$T/staging.yaml" --wait
	wait_for 10 event_in prod PromotionCreated
	as bob approve prod hello
	wait_for 15 event_in prod ApprovalExpired
	run slipway -e prod events hello
	[[ "$output" == *"ApprovalExpired"*"the approval of release 1.1.0 by bob (given "*") expired: approvalTimeout is 4s"* ]]
	run slipway releases hello
	[[ "$output" == *"1.1.0 Pending: approvals: 0 of 2 approvals (none yet)"* ]]
	# once expired, bob may approve again; then 1.2.0 comes and his approval is void
	as bob approve prod hello
	hello_in staging 1.2.0 "$STAGING_PORT"
	as alice apply -f "$T/staging.yaml" --wait
	wait_for 10 event_in prod PromotionSuperseded
	run slipway -e prod events hello
	[[ "$output" == *"PromotionSuperseded"*"release 1.1.0 was not promoted: release 1.2.0 came after it; its approvals are void"* ]]
	run slipway releases hello
	[[ "$output" == *"1.2.0 Pending: approvals: 0 of 2 approvals (none yet)"* ]]
	run as carol approve prod hello --release 1.1.0
	[ "$status" -eq 1 ]
	[[ "$output" == "slipway: release 1.1.0 of hello is not pending in prod: 1.2.0 is"* ]]
	as carol approve prod hello --release 1.2.0
	run slipway releases hello
	[[ "$output" == *"1.2.0 Pending: approvals: 1 of 2 approvals (carol)"* ]]
	serves "$PROD_PORT" "hello from 1.0.0"
}

@test "a daemon restart in the middle of a soak keeps the promotion and its clock" {
	start_daemon
	envs "" "  promotion: {from: dev, soak: 8s}" ""
	deploy dev 1.0.0 "$DEV_PORT"
	deploy staging 1.0.0 "$STAGING_PORT"
	deploy dev 1.1.0 "$DEV_PORT"
	wait_for 10 event_in staging PromotionCreated
	before=$(slipway releases hello -o json | grep '"reason": "Healthy in dev since')
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	start_daemon
	[ "$(slipway releases hello -o json | grep '"reason": "Healthy in dev since')" = "$before" ]
	serves "$STAGING_PORT" "hello from 1.0.0"
	wait_for 30 serves "$STAGING_PORT" "hello from 1.1.0"
	run slipway -e staging events hello
	[ "$(grep -c PromotionCreated <<<"$output")" = 1 ]
	[[ "$output" == *"release 1.1.0: soak passed: Healthy in dev for 8s"*"Promoted"* ]]
}

@test "automatic: false waits for slipway promote; who promotes may not approve" {
	start_api
	envs "" "" "  promotion: {from: staging, automatic: false, approvals: 1}"
	tokens
	deploy staging 1.0.0 "$STAGING_PORT"
	deploy prod 1.0.0 "$PROD_PORT"
	deploy staging 1.1.0 "$STAGING_PORT"
	wait_for 10 event_in prod PromotionCreated
	as carol approve prod hello
	wait_for 10 event_in prod PromotionReady
	run slipway releases hello
	[[ "$output" == *"1.1.0 Ready: every gate passed; automatic is false: it waits for \`slipway promote\`"* ]]
	serves "$PROD_PORT" "hello from 1.0.0"
	run slipway promote hello --to prod --release 1.0.0
	[ "$status" -eq 1 ]
	[ "$output" = "slipway: release 1.0.0 is not what staging/hello runs: it runs 1.1.0 (a promotion takes the upstream's release)" ]
	slipway token create erin --role deployer --approve prod >"$T/erin.token"
	run as erin promote hello --to prod
	[ "$status" -eq 0 ]
	[ "$output" = "app/hello: release 1.1.0 into prod: Promoted (promoted: configured revision 2 of prod/hello)" ]
	wait_for 30 serves "$PROD_PORT" "hello from 1.1.0"
	run slipway -e prod events hello
	[[ "$output" == *"PromotionRequested"*"erin"*"erin asked for the promotion of release 1.1.0 from staging into prod"* ]]
	# once prod runs it, promoting it again is said to be done
	run slipway promote hello --to prod
	[ "$status" -eq 1 ]
	[ "$output" = "slipway: prod/hello runs release 1.1.0 already" ]
	# a promoter is a cause: a new release she asks for, she may not approve
	deploy staging 1.2.0 "$STAGING_PORT"
	wait_for 10 eval 'slipway releases hello | grep -q "1.2.0 Pending"'
	as erin promote hello --to prod
	run as erin approve prod hello
	[ "$status" -eq 1 ]
	[[ "$output" == *"erin caused release 1.2.0"*"(four eyes)"* ]]
}

@test "mistakes: a from: cycle, an unknown from, promote and approve where nothing applies" {
	start_daemon
	cd "$T"
	cat >cycle.yaml <<'YAML'
apiVersion: slipway/v1
kind: Environment
metadata: {name: staging}
spec:
  promotion: {from: prod}
---
apiVersion: slipway/v1
kind: Environment
metadata: {name: prod}
spec:
  promotion:
    from: staging
YAML
	run slipway apply -f cycle.yaml
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: cycle.yaml:5:21: environment "staging": promotion.from closes a cycle: staging -> prod -> staging (releases would go round for ever)' ]
	run slipway get environments -o name
	[ "$output" = "environment/default" ]
	printf 'apiVersion: slipway/v1\nkind: Environment\nmetadata: {name: prod}\nspec:\n  promotion: {from: stagin}\n' >typo.yaml
	run slipway apply -f typo.yaml
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: typo.yaml:5:21: environment "prod": promotion.from: environment "stagin" does not exist (known: default)' ]
	printf 'apiVersion: slipway/v1\nkind: Environment\nmetadata: {name: prod}\nspec:\n  promotion: {from: prod}\n' >self.yaml
	run slipway apply -f self.yaml
	[ "$status" -eq 1 ]
	[[ "$output" == 'slipway: self.yaml:5:21: spec.promotion.from is "prod", the environment itself'* ]]
	envs "" "" "  promotion: {from: staging, approvals: 1}"
	deploy staging 1.0.0 "$STAGING_PORT"
	deploy prod 1.0.0 "$PROD_PORT"
	run slipway promote hello --to staging
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: environment "staging" takes no promotions: its spec.promotion.from is not set' ]
	run slipway promote hello --to prdo
	[ "$status" -eq 1 ]
	[ "$output" = 'slipway: environment "prdo" does not exist (known: default, dev, prod, staging)' ]
	run slipway promote hello
	[ "$status" -eq 2 ]
	run slipway approve prod hello
	[ "$status" -eq 1 ]
	[ "$output" = "slipway: no release of hello is waiting for promotion into prod" ]
	run slipway promote hello --to prod
	[ "$status" -eq 1 ]
	[ "$output" = "slipway: prod/hello runs release 1.0.0 already" ]
	# an environment another takes releases from stays
	run slipway delete environment staging
	[ "$status" -eq 1 ]
	[[ "$output" == *'environment "staging" is where environment "prod" takes its releases from'* ]]
}

# deploy/hello.yaml of the shop repository: hello in staging and in prod,
# as a team keeps them in git
shop_apps() {
	hello_in staging "$1" "$STAGING_PORT"
	hello_in prod "$2" "$PROD_PORT"
	printf '# hello, per environment\n---\n%s\n---\n%s\n' "$(cat "$T/staging.yaml")" "$(cat "$T/prod.yaml")"
}

@test "into an app from git with writeBack, the promotion is a commit of its version, which the sync then deploys" {
	git_repo_init shop
	git_commit shop deploy/hello.yaml "$(shop_apps 1.0.0 1.0.0)" "hello 1.0.0" >/dev/null
	start_daemon
	envs "" "" "  promotion: {from: staging, soak: 1s}"
	source_doc "file://$T/git/shop.git" "  writeBack: {author: \"Promotion Bot <bot@example.com>\"}" >"$T/source.yaml"
	slipway apply -f "$T/source.yaml"
	wait_for 30 serves "$PROD_PORT" "hello from 1.0.0"
	wait_for 30 serves "$STAGING_PORT" "hello from 1.0.0"
	sha2=$(git_commit shop deploy/hello.yaml "$(shop_apps 1.1.0 1.0.0)" "staging gets 1.1.0")
	slipway sync shop --wait
	wait_for 30 serves "$STAGING_PORT" "hello from 1.1.0"
	wait_for 30 event_in prod WrittenBack
	wait_for 30 serves "$PROD_PORT" "hello from 1.1.0"
	git -C "$T/git/shop" pull -q --ff-only origin main
	new=$(git_head shop)
	[ "$(git -C "$T/git/shop" log -1 --format='%an <%ae>|%s|%P' "$new")" = \
		"Promotion Bot <bot@example.com>|promote hello 1.1.0 to prod|$sha2" ]
	# one line changed: prod's version; comments and staging's document as they were
	[ "$(git -C "$T/git/shop" diff "$sha2" "$new" | grep -c '^[-+] ')" = 2 ]
	git -C "$T/git/shop" diff "$sha2" "$new" | grep -q '^+  version: "1.1.0"'
	[ "$(git -C "$T/git/shop" show "$new:deploy/hello.yaml" | head -1)" = "# hello, per environment" ]
	run slipway -e prod events hello
	[[ "$output" == *"WrittenBack"*"promotion of prod/hello to release 1.1.0 written to git: commit ${new:0:7} on main (deploy/hello.yaml), source shop"* ]]
	[[ "$output" == *"Promoted"*"release 1.1.0 promoted: commit ${new:0:7} on main"* ]]
	# prod's revision came from the commit: git is the truth
	run slipway -e prod history hello
	[[ "$output" == *"${new:0:7}"* ]]
	wait_for 20 eval '[ "$(slipway get sources -o json | grep -c "\"sync\": \"Synced\"")" -ge 1 ]'
}
