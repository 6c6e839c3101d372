#!/usr/bin/env bats
# GitOps write-back (docs/gitops.md "Rollback"): a rollback of an app from
# git is committed to git, so that git and what runs agree; and `rollback
# --to SHA`. Real git servers from tests/e2e/git.bash, Sources written as
# the docs write them.

load helpers
load git

src_json() { slipway get source "$1" -o json; }
src_field() { src_json "$1" | python3 -c 'import json,sys; j=json.load(sys.stdin); print((j.get(sys.argv[1]) or {}).get("sha", "") if isinstance(j.get(sys.argv[1]), dict) else j.get(sys.argv[1]))' "$2"; }
src_sync_is() { [ "$(src_field "$1" sync)" = "$2" ]; }
src_commit_is() { [ "$(src_field "$1" commit)" = "$2" ]; }
version_is() { [ "$(field version "$(status_json "$1")")" = "$2" ]; }
revisions() { slipway history "$1" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["revisions"]))'; }
event_seen() { slipway events --limit 0 | grep -q "$1"; }
# upstream NAME: fetches the bare repository's main into the work clone
upstream() { git -C "$T/git/$1" pull -q --ff-only origin main; }
# same_file A B FILE: FILE is the same at commits A and B of shop
same_file() { [ "$(git -C "$T/git/shop" show "$1:$3")" = "$(git -C "$T/git/shop" show "$2:$3")" ]; }
# synced_at SHA: the source found the write-back's commit, and it made no revision of hello
synced_at() {
	wait_for 20 src_commit_is shop "$1"
	wait_for 30 phase_is hello Healthy
	wait_for 10 src_sync_is shop Synced
	version_is hello 1.0.0
	[ "$(revisions hello)" = 2 ]
}

# the walk-through's source, with self-heal
healing_source() { source_doc "$1" "  syncPolicy: {selfHeal: true}
${2:-}"; }

# apps_file HELLO_VERSION OTHER_VERSION: one file holding both apps and a comment
apps_file() {
	echo "# the shop's apps"
	hello_doc "$1"
	echo "---"
	app_yaml other "$2" 1
}

@test "a hand rollback is written back: a commit restoring the app's document, the other apps untouched, no new revision" {
	git_repo_init shop
	sha1=$(git_commit shop deploy/apps.yaml "$(apps_file 1.0.0 1.0.0)" "shop 1.0.0")
	start_daemon
	healing_source "file://$T/git/shop.git" "  writeBack: {author: \"Rollback Bot <bot@example.com>\"}" > "$T/source.yaml"
	slipway apply -f "$T/source.yaml"
	wait_for 20 phase_is hello Healthy
	sha2=$(git_commit shop deploy/apps.yaml "$(apps_file 2.0.0 2.0.0)" "shop 2.0.0")
	slipway sync shop --wait
	version_is hello 2.0.0

	slipway rollback hello --wait
	version_is hello 1.0.0
	wait_for 20 event_seen "WrittenBack.*rollback of hello to revision 1 written back"
	upstream shop
	new=$(git_head shop)
	[ "$(git -C "$T/git/shop" log -1 --format='%an <%ae>|%s|%P' "$new")" = \
		"Rollback Bot <bot@example.com>|Roll back hello to ${sha1:0:7} (revision 1)|$sha2" ]
	run git -C "$T/git/shop" log -1 --format=%b "$new"
	[[ "$output" == *"Rolled back by "*"rollback from revision 2 to revision 1"* ]]
	# hello as at sha1, other as at sha2, the comment kept: byte for byte
	printf "%s\n" "$(apps_file 1.0.0 2.0.0)" > "$T/want.yaml" # as git_commit writes it
	git -C "$T/git/shop" show "$new:deploy/apps.yaml" > "$T/got.yaml"
	diff "$T/want.yaml" "$T/got.yaml"
	refute git -C "$T/git/shop" diff --quiet "$sha2" "$new" -- deploy/apps.yaml
	# the next sync finds the commit: it matches what runs
	synced_at "$new"
	[ "$(field revision "$(status_json hello)")" = 1 ]
	[ "$(revisions other)" = 2 ]
	refute event_seen SyncPaused
	slipway sync shop --wait
	version_is hello 1.0.0
	[ "$(revisions hello)" = 2 ]
}

@test "over smart HTTP: a push refused because the branch moved is made again on the new head" {
	git_http_start
	git_repo_init shop
	sha1=$(git_commit shop deploy/hello.yaml "$(hello_doc 1.0.0)" "hello 1.0.0")
	start_daemon
	healing_source "$GIT_HTTP_URL/shop.git" "  credentials: {passwordFile: $GIT_HTTP_PASSWORD_FILE}
  writeBack: {}" > "$T/source.yaml"
	slipway apply -f "$T/source.yaml"
	wait_for 20 phase_is hello Healthy
	git_commit shop deploy/hello.yaml "$(hello_doc 2.0.0)" >/dev/null
	slipway sync shop --wait
	# someone pushes meanwhile; the daemon has not fetched it
	sha3=$(git_commit shop deploy/other.yaml "$(app_yaml other 1.0.0 1)" "add other")
	slipway rollback hello --wait
	wait_for 30 event_seen "WrittenBack.*the branch had moved: made again on ${sha3:0:7}"
	upstream shop
	new=$(git_head shop)
	[ "$(git -C "$T/git/shop" log -1 --format='%P|%an' "$new")" = "$sha3|Slipway" ]
	[ "$(git -C "$T/git/shop" log -1 --format='%ae' "$new")" = "slipway@$(hostname)" ]
	same_file "$new" "$sha1" deploy/hello.yaml
	same_file "$new" "$sha3" deploy/other.yaml
	synced_at "$new"
	wait_for 20 phase_is other Healthy
}

@test "a push the server refuses falls back to pausing the app's sync, with the reason" {
	git_daemon_start # read-only: it refuses every push
	git_repo_init shop
	git_commit shop deploy/hello.yaml "$(hello_doc 1.0.0)" >/dev/null
	start_daemon
	healing_source "$GIT_DAEMON_URL/shop.git" "  writeBack: {}" > "$T/source.yaml"
	slipway apply -f "$T/source.yaml"
	wait_for 20 phase_is hello Healthy
	git_commit shop deploy/hello.yaml "$(hello_doc 2.0.0)" >/dev/null
	slipway sync shop --wait
	slipway rollback hello --wait
	wait_for 30 event_seen "WriteBackFailed.*rollback of hello to revision 1 is not written back: push to $GIT_DAEMON_URL/shop.git"
	wait_for 10 src_sync_is shop OutOfSync
	run slipway get sources
	[[ "$output" == *"sync paused after a rollback by"*"not written back: push to $GIT_DAEMON_URL"* ]]
	# self-heal and a sync leave it alone; resume gives it git's version
	slipway sync shop
	version_is hello 1.0.0
	slipway sync shop --resume --wait
	version_is hello 2.0.0
}

@test "rollback --to SHA picks the newest revision from that commit; an unknown one changes nothing" {
	git_repo_init shop
	sha1=$(git_commit shop deploy/hello.yaml "$(hello_doc 1.0.0)" "hello 1.0.0")
	start_daemon
	healing_source "file://$T/git/shop.git" > "$T/source.yaml"
	slipway apply -f "$T/source.yaml"
	wait_for 20 phase_is hello Healthy
	git_commit shop deploy/hello.yaml "$(hello_doc 2.0.0)" >/dev/null
	slipway sync shop --wait
	git_commit shop deploy/hello.yaml "$(hello_doc 3.0.0)" >/dev/null
	slipway sync shop --wait
	version_is hello 3.0.0

	run slipway rollback hello --to deadbee
	[ "$status" -eq 1 ]
	[[ "$output" == *"app \"hello\" has no revision from a commit starting with \"deadbee\""*"nothing changed"* ]]
	version_is hello 3.0.0
	run slipway rollback hello --to xyz1234
	[ "$status" -eq 2 ]
	[[ "$output" == *"--to must be a revision number or a commit"* ]]

	run slipway rollback hello --to "${sha1:0:7}" --wait
	[ "$status" -eq 0 ]
	[[ "$output" == *"app/hello rolling back (revision 1)"* ]]
	version_is hello 1.0.0
	# the API takes the commit too, in any case
	run slipway rollback hello --to "$(echo "${sha1:0:12}" | tr a-f A-F)"
	[ "$status" -eq 0 ]
	[[ "$output" == *"app/hello unchanged (revision 1)"* ]]
	# no write-back configured: the app's sync is paused
	wait_for 10 src_sync_is shop OutOfSync
	run slipway get sources
	[[ "$output" == *"sync paused after a rollback"* ]]
}

CANARY='  strategy:
    canary:
      steps:
        - setWeight: 20
        - analysis: {templates: [golden]}'

@test "writeBack.onAbort: an automatic abort of a commit is written back to the stable revision's document" {
	git_repo_init shop
	git_commit shop deploy/golden.yaml "$(quiet_golden)" >/dev/null
	sha1=$(git_commit shop deploy/hello.yaml "$(hello_doc 1.0.0 "$CANARY")" "hello 1.0.0")
	start_daemon
	healing_source "file://$T/git/shop.git" "  writeBack: {onAbort: true}" > "$T/source.yaml"
	slipway apply -f "$T/source.yaml"
	wait_for 20 phase_is hello Healthy
	# 2.0.0 fails 10% of its requests: its canary is aborted
	hello_doc 2.0.0 "$CANARY" | sed "s|^  run:|  run:\n    env: {HELLO_ERROR_RATE: \"0.1\"}|" > "$T/v2.yaml"
	sha2=$(git_commit shop deploy/hello.yaml "$(cat "$T/v2.yaml")" "hello 2.0.0")
	slipway sync shop
	# (it is Degraded only until the write-back's commit is synced, at once)
	wait_for 90 event_seen "WrittenBack.*abort of hello to revision 1 written back"
	event_seen "Degraded.*rollout of revision 2 aborted"
	upstream shop
	new=$(git_head shop)
	[ "$(git -C "$T/git/shop" log -1 --format='%P|%s' "$new")" = "$sha2|Roll back hello to ${sha1:0:7} (revision 1)" ]
	run git -C "$T/git/shop" log -1 --format=%b "$new"
	[[ "$output" == *"Aborted automatically (commit ${sha2:0:7}): rollout of revision 2 aborted"* ]]
	same_file "$new" "$sha1" deploy/hello.yaml
	synced_at "$new"
	run slipway history hello
	[[ "$output" == *"revision 2 failed: "*"successCondition"* ]]
}
