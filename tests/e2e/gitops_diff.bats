#!/usr/bin/env bats
# slipway diff --source NAME and diff APP: git's documents against the live
# ones, as docs/gitops.md and docs/cli.md write them, with a real git
# repository (tests/e2e/git.bash, over file://) and a real daemon.

load helpers
load git

bats_require_minimum_version 1.5.0

# shop [SYNC_POLICY [DAEMON_OPTION...]]: a repository with hello 1.0.0 in
# deploy/ (plus what $EXTRA_APPS holds: "NAME..." more apps), a daemon, and
# the Source as docs/gitops.md writes it, its apps Healthy and Synced.
shop() {
	local policy=${1:-}
	shift || true
	git_repo_init shop
	git_commit shop deploy/hello.yaml "$(hello_doc 1.0.0)" >/dev/null
	local app
	for app in ${EXTRA_APPS:-}; do
		git_commit shop "deploy/$app.yaml" "$(app_yaml "$app" 1.0.0 1)" >/dev/null
	done
	start_daemon "$@"
	cat >"$T/source.yaml" <<-YAML
	apiVersion: slipway/v1
	kind: Source
	metadata: {name: shop}
	spec:
	  url: file://$T/git/shop.git
	  path: deploy
	${policy:+  syncPolicy: $policy}
	YAML
	slipway apply -f "$T/source.yaml"
	slipway sync shop --wait
}

version_is() { [ "$(field version "$(status_json "$1")")" = "$2" ]; }

@test "diff --source: a push shows as the change a sync makes (exit 1); after the sync nothing (exit 0)" {
	shop
	run --separate-stderr slipway diff --source shop
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	git_commit shop deploy/hello.yaml "$(hello_doc 2.0.0)" >/dev/null
	git_commit shop deploy/other.yaml "$(app_yaml other 1.0.0 1)" >/dev/null
	# the newest commit is fetched; nothing is applied
	run --separate-stderr slipway diff --source shop
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--- live/app/hello"* ]]
	[[ "$output" == *"+++ merged/app/hello"* ]]
	[[ "$output" == *'-  version: "1.0.0"'* ]]
	[[ "$output" == *'+  version: "2.0.0"'* ]]
	[[ "$output" == *"+++ merged/app/other"* ]]
	[[ "$output" == *"+  name: other"* ]]
	[[ "$output" != *$'\e['* ]] # piped: no colour
	version_is hello 1.0.0
	refute slipway status other
	# source/NAME as sync takes it, and the same through an external diff
	SLIPWAY_EXTERNAL_DIFF="diff -q -r" run slipway diff --source source/shop
	[ "$status" -eq 1 ]
	[[ "$output" == *"Files live/app/hello and merged/app/hello differ"* ]]
	[[ "$output" == *"Only in merged/app: other"* ]]
	slipway sync shop --wait
	version_is hello 2.0.0
	run slipway diff --source shop
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
}

@test "diff APP: a hand apply of an app from git shows as drift from git; other apps are left out" {
	EXTRA_APPS=other shop
	hello_doc 9.9.9 >"$T/hand.yaml"
	slipway apply -f "$T/hand.yaml" --wait
	git_commit shop deploy/other.yaml "$(app_yaml other 2.0.0 1)" >/dev/null
	run --separate-stderr slipway diff hello
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *'-  version: "9.9.9"'* ]]
	[[ "$output" == *'+  version: "1.0.0"'* ]]
	[[ "$output" != *"app/other"* ]]
	run slipway diff other
	[ "$status" -eq 1 ]
	[[ "$output" == *'+  version: "2.0.0"'* ]]
	[[ "$output" != *"app/hello"* ]]
	slipway sync shop --wait
	run slipway diff hello
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
}

@test "an app that left git: kept and said on stderr with prune off" {
	EXTRA_APPS=other shop
	git_rm shop deploy/other.yaml >/dev/null
	run --separate-stderr slipway diff --source shop
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[[ "$stderr" == "slipway: app/other is not in git at "???????": kept (prune is off)" ]]
	run --separate-stderr slipway diff other
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"app/other is not in git"*"kept (prune is off)"* ]]
}

@test "an app that left git: shown removed with prune on" {
	EXTRA_APPS=other shop "{prune: true}"
	git_rm shop deploy/other.yaml >/dev/null
	run --separate-stderr slipway diff --source shop
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--- live/app/other"* ]]
	[[ "$output" == *"-  name: other"* ]]
	[[ "$output" != *"+  name: other"* ]]
	[ "$stderr" = "" ]
	phase_is other Healthy
	run slipway diff other
	[ "$status" -eq 1 ]
	[[ "$output" == *"-  name: other"* ]]
}

@test "colour: off when piped, on on a terminal unless NO_COLOR, and as --color says" {
	need script
	shop
	git_commit shop deploy/hello.yaml "$(hello_doc 2.0.0)" >/dev/null
	run slipway diff --source shop --color=always
	[ "$status" -eq 1 ]
	[[ "$output" == *$'\e['*'+  version: "2.0.0"'* ]]
	run slipway diff --source shop
	[[ "$output" != *$'\e['* ]]
	# a terminal: script(1) gives the command one
	run script -qec "$SLIPWAY_BIN diff --source shop" /dev/null
	[[ "$output" == *$'\e['*"2.0.0"* ]]
	NO_COLOR=1 run script -qec "$SLIPWAY_BIN diff --source shop" /dev/null
	[[ "$output" == *'+  version: "2.0.0"'* && "$output" != *$'\e['* ]]
	run script -qec "$SLIPWAY_BIN diff --source shop --color=never" /dev/null
	[[ "$output" == *'+  version: "2.0.0"'* && "$output" != *$'\e['* ]]
	NO_COLOR=1 run slipway diff --source shop --color always
	[[ "$output" == *$'\e['* ]]
	run --separate-stderr slipway diff --source shop --color=sometimes
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--color must be always, never or auto"* ]]
}

@test "diff --source and diff APP: secret values never leave the daemon" {
	mkdir "$T/secrets"
	printf '1234' >"$T/secrets/pin"
	start_daemon --secret-dir "$T/secrets"
	git_repo_init shop
	pin() { hello_doc "$1" | sed "s|^  run:\$|  run:\n    env:\n      - {name: PIN, valueFrom: {file: $T/secrets/pin}}|"; }
	git_commit shop deploy/hello.yaml "$(pin 1.0.0)" >/dev/null
	cat >"$T/source.yaml" <<-YAML
	apiVersion: slipway/v1
	kind: Source
	metadata: {name: shop}
	spec: {url: "file://$T/git/shop.git", path: deploy}
	YAML
	slipway apply -f "$T/source.yaml"
	slipway sync shop --wait
	printf '5678' >"$T/secrets/pin"
	run slipway diff hello
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *'-        value: "*** (before)"'* ]]
	[[ "$output" == *'+        value: "*** (after)"'* ]]
	[[ "$output" != *1234* && "$output" != *5678* ]]
	# the plan the API gives is masked too
	run slipway sync shop --dry-run --json
	[ "$status" -eq 0 ]
	[[ "$output" == *'*** (after)'* ]]
	[[ "$output" != *1234* && "$output" != *5678* ]]
}

@test "diff: errors say what is wrong and exit 2" {
	shop
	run --separate-stderr slipway diff
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"give exactly one of -f PATH, APP and --source SOURCE"* ]]
	hello_doc 1.0.0 >"$T/app.yaml"
	run --separate-stderr slipway diff hello -f "$T/app.yaml"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"give exactly one of"* ]]
	run --separate-stderr slipway diff hello --source shop
	[ "$status" -eq 2 ]
	run --separate-stderr slipway diff nosuch
	[ "$status" -eq 2 ]
	[ "$stderr" = 'slipway: app "nosuch" not found' ]
	run --separate-stderr slipway diff --source nosuch
	[ "$status" -eq 2 ]
	[ "$stderr" = 'slipway: source "nosuch" not found' ]
	# an app that no source owns
	app_yaml byhand 1.0.0 1 >"$T/byhand.yaml"
	slipway apply -f "$T/byhand.yaml"
	run --separate-stderr slipway diff byhand
	[ "$status" -eq 2 ]
	[ "$stderr" = 'slipway: app "byhand" is not from a source; use slipway diff -f FILE' ]
	# a commit that does not validate: its file:line:col, and nothing runs
	git_commit shop deploy/hello.yaml "$(hello_doc 2.0.0 '  replicas: two')" >/dev/null
	run --separate-stderr slipway diff --source shop
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"deploy/hello.yaml:"*"replicas"* ]]
	version_is hello 1.0.0
}

@test "completion: diff takes an app, --source a source's name, --color its words" {
	shop
	run slipway __complete diff --source ""
	[ "$output" = "$(printf 'words\nshop')" ]
	run slipway __complete sync s
	[ "$output" = "$(printf 'words\nshop')" ]
	run slipway __complete diff h
	[ "$output" = "$(printf 'words\nhello')" ]
	run slipway __complete diff --color a
	[ "$output" = "$(printf 'words\nalways\nauto')" ]
}
