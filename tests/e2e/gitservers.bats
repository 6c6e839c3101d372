#!/usr/bin/env bats
# tests/e2e/git.bash on its own, with the plain git CLI: the repositories
# it makes, each server it starts (git daemon, smart HTTP behind nginx with
# basic auth, sshd with a key), a push seen over every transport, and
# nothing left running after a test's teardown. No Slipway daemon.

load helpers
load git

# mark_servers N: the test recorded N servers; they go, "PID START" a
# line, to a file the last test reads.
mark_servers() {
	[ "$(wc -l <"$T/procs")" -eq "$1" ]
	cat "$T/procs" >>"$BATS_FILE_TMPDIR/servers"
}

sha_re='^[0-9a-f]{40}$'

# ls_main URL [GIT_OPTION...]: the SHA main has at URL.
ls_main() {
	local url=$1
	shift
	git "$@" ls-remote "$url" refs/heads/main | cut -f1
}

@test "git.bash: a repository's commits, removals and a rewritten history, over file://" {
	git_repo_init app deploy/app.yaml "replicas: 1"
	first=$(git_head app)
	[[ $first =~ $sha_re ]]
	[ "$(ls_main "file://$T/git/app.git")" = "$first" ]
	[ "$(git -C "$T/git/app" log -1 --format='%an <%ae> %s')" = "Test Author <test@example.com> update deploy/app.yaml" ]

	second=$(git_commit app deploy/app.yaml "replicas: 2" "scale to 2")
	[[ $second =~ $sha_re ]]
	[ "$second" != "$first" ]
	[ "$(ls_main "file://$T/git/app.git")" = "$second" ]
	git clone -q "file://$T/git/app.git" "$T/c1"
	[ "$(git -C "$T/c1" symbolic-ref HEAD)" = refs/heads/main ]
	[ "$(cat "$T/c1/deploy/app.yaml")" = "replicas: 2" ]
	[ "$(git -C "$T/c1" log -1 --format=%s)" = "scale to 2" ]
	# the same content again is still a new commit
	again=$(git_commit app deploy/app.yaml "replicas: 2")
	[ "$again" != "$second" ]

	removed=$(git_rm app deploy/app.yaml)
	[ "$(ls_main "file://$T/git/app.git")" = "$removed" ]
	[ "$(git -C "$T/git/app" log -1 --format=%s)" = "remove deploy/app.yaml" ]
	git -C "$T/c1" pull -q
	[ ! -e "$T/c1/deploy/app.yaml" ]

	# history rewritten: main moves to a commit that does not contain the
	# one it had, on top of the one before
	rewritten=$(git_force_push app)
	[[ $rewritten =~ $sha_re ]]
	[ "$(ls_main "file://$T/git/app.git")" = "$rewritten" ]
	[ "$(git -C "$T/git/app.git" rev-parse "$rewritten~1")" = "$again" ]
	refute git -C "$T/git/app.git" merge-base --is-ancestor "$removed" "$rewritten"

	# an empty repository to start from
	git_repo_init empty
	[ -z "$(git ls-remote "file://$T/git/empty.git")" ]
	[ -z "$(git_repo_init other)" ]
}

@test "git daemon: clone and ls-remote over git://, read-only" {
	git_repo_init app deploy/app.yaml "v: 1"
	git_daemon_start
	mark_servers 1
	[ "$GIT_DAEMON_URL" = "git://127.0.0.1:$((PORT_BASE + 90))" ]
	git clone -q "$GIT_DAEMON_URL/app.git" "$T/c"
	[ "$(cat "$T/c/deploy/app.yaml")" = "v: 1" ]
	sha=$(git_commit app deploy/app.yaml "v: 2")
	[ "$(ls_main "$GIT_DAEMON_URL/app.git")" = "$sha" ]
	git -C "$T/c" pull -q
	[ "$(cat "$T/c/deploy/app.yaml")" = "v: 2" ]
	# upload-pack only: a push is refused
	git -C "$T/c" -c user.name=x -c user.email=x@x commit -q --allow-empty -m x
	refute git -C "$T/c" push -q "$GIT_DAEMON_URL/app.git" HEAD:main
	[ "$(ls_main "$GIT_DAEMON_URL/app.git")" = "$sha" ]
}

@test "smart HTTP: clone and ls-remote with the password, refused without it" {
	git_repo_init app deploy/app.yaml "v: 1"
	git_http_start
	mark_servers 2 # nginx and fcgiwrap
	[ "$GIT_HTTP_URL" = "http://127.0.0.1:$((PORT_BASE + 91))" ]
	[ "$(cat "$GIT_HTTP_PASSWORD_FILE")" = hunter2 ]
	# the credential helper a user would write: the password from its file
	git -c credential.helper= \
		-c "credential.helper=!f() { echo username=git; echo password=\$(cat $GIT_HTTP_PASSWORD_FILE); }; f" \
		clone -q "$GIT_HTTP_URL/app.git" "$T/c"
	[ "$(cat "$T/c/deploy/app.yaml")" = "v: 1" ]
	sha=$(git_commit app deploy/app.yaml "v: 2")
	[ "$(ls_main "http://git:hunter2@127.0.0.1:$((PORT_BASE + 91))/app.git")" = "$sha" ]

	run git ls-remote "$GIT_HTTP_URL/app.git"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"could not read Username"* || $output == *"Authentication failed"* ]]
	run git ls-remote "http://git:wrong@127.0.0.1:$((PORT_BASE + 91))/app.git"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"Authentication failed"* ]]
	run curl -s -o /dev/null -w '%{http_code}' "$GIT_HTTP_URL/app.git/info/refs?service=git-upload-pack"
	[ "$output" = 401 ]
}

@test "sshd: clone and ls-remote over ssh:// with the key, the host key checked" {
	git_repo_init app deploy/app.yaml "v: 1"
	git_sshd_start
	mark_servers 1
	[ "$GIT_SSH_URL" = "ssh://$(id -un)@127.0.0.1:$((PORT_BASE + 92))$T/git" ]
	[ -f "$GIT_SSH_KEY" ]
	grep -q "^\[127.0.0.1\]:$((PORT_BASE + 92)) ssh-ed25519 " "$GIT_KNOWN_HOSTS"
	GIT_SSH_COMMAND=$(git_ssh_command) git clone -q "$GIT_SSH_URL/app.git" "$T/c"
	[ "$(cat "$T/c/deploy/app.yaml")" = "v: 1" ]
	sha=$(git_commit app deploy/app.yaml "v: 2")
	[ "$(GIT_SSH_COMMAND=$(git_ssh_command) ls_main "$GIT_SSH_URL/app.git")" = "$sha" ]

	# a host presenting another key than known_hosts names is refused
	ssh-keygen -q -t ed25519 -N '' -f "$T/other"
	printf '[127.0.0.1]:%s %s\n' $((PORT_BASE + 92)) "$(cut -d' ' -f1,2 "$T/other.pub")" >"$T/kh_other"
	run env GIT_SSH_COMMAND="$(GIT_KNOWN_HOSTS=$T/kh_other git_ssh_command)" git ls-remote "$GIT_SSH_URL/app.git"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"HOST IDENTIFICATION HAS CHANGED"* || $output == *"Host key verification failed"* ]]
	# and a key it does not authorize
	run env GIT_SSH_COMMAND="$(GIT_SSH_KEY=$T/other git_ssh_command)" git ls-remote "$GIT_SSH_URL/app.git"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
}

@test "all servers at once: one push seen over file, git, http and ssh" {
	git_repo_init app deploy/app.yaml "v: 1"
	git_daemon_start
	git_http_start
	git_sshd_start
	mark_servers 4
	sha=$(git_commit app deploy/app.yaml "v: 2")
	[ "$(ls_main "file://$T/git/app.git")" = "$sha" ]
	[ "$(ls_main "$GIT_DAEMON_URL/app.git")" = "$sha" ]
	[ "$(ls_main "http://git:hunter2@127.0.0.1:$((PORT_BASE + 91))/app.git")" = "$sha" ]
	[ "$(GIT_SSH_COMMAND=$(git_ssh_command) ls_main "$GIT_SSH_URL/app.git")" = "$sha" ]
	new=$(git_force_push app)
	[ "$(ls_main "$GIT_DAEMON_URL/app.git")" = "$new" ]
	[ "$(ls_main "http://git:hunter2@127.0.0.1:$((PORT_BASE + 91))/app.git")" = "$new" ]
	[ "$(GIT_SSH_COMMAND=$(git_ssh_command) ls_main "$GIT_SSH_URL/app.git")" = "$new" ]
}

@test "teardown: no server a test before started is still running" {
	# the tests above record their servers in this file; run alone, this
	# test has none to check
	[ -s "$BATS_FILE_TMPDIR/servers" ] || skip "no test before this one started a server"
	local pid start
	while read -r pid start; do
		if proc_is "$pid" "$start"; then
			echo "still running: $pid $(tr '\0' ' ' <"/proc/$pid/cmdline")"
			return 1
		fi
	done <"$BATS_FILE_TMPDIR/servers"
}
