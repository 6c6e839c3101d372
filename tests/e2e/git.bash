# shellcheck shell=bash disable=SC2034 # the GIT_* variables are its output
# Real git servers on 127.0.0.1 for the GitOps end-to-end tests, started
# by the test, killed by its teardown. Sourced after helpers.bash (it needs
# T and PORT_BASE from e2e_setup, and need/proc_record):
#
#   load helpers
#   load git
#
# Repositories: git_repo_init NAME makes the bare upstream $T/git/NAME.git
# and a work clone $T/git/NAME; git_commit, git_rm and git_force_push change
# it and push. Every server serves $T/git, so NAME.git appends to its URL:
#
#   server           port             URL variable
#   git_daemon_start PORT_BASE + 90   GIT_DAEMON_URL=git://127.0.0.1:PORT
#   git_http_start   PORT_BASE + 91   GIT_HTTP_URL=http://127.0.0.1:PORT
#   git_sshd_start   PORT_BASE + 92   GIT_SSH_URL=ssh://USER@127.0.0.1:PORT$T/git
#
# Offsets 93..97 are free for more servers; 98 and 99 are helpers.bash's
# PREVIEW and LISTEN. Each server's pid goes into $T/procs (proc_record in
# tests/procs.bash), which helpers.bash's teardown kills, with the process
# group each leads, while it is still that process. A file with its own
# teardown calls kill_recorded "$T/procs" there. Logs and configuration
# are under $T/gitsrv, out of what the servers serve; a server that does
# not come up fails the test with its log's path and tail.

# sshd, nginx and fcgiwrap live in /usr/sbin, not on every user's PATH
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac

# The tests' git commands see none of the machine's or the user's git
# configuration (an insteadOf, a credential helper, init.defaultBranch),
# and a missing password fails instead of prompting.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0

GIT_DAEMON_PORT_OFFSET=90
GIT_HTTP_PORT_OFFSET=91
GIT_SSH_PORT_OFFSET=92
GIT_HTTP_USER=git
GIT_HTTP_PASSWORD=hunter2
GIT_SERVER_DEADLINE=${GIT_SERVER_DEADLINE:-10}

# git_repo_init NAME [FILE CONTENT]: the bare upstream $T/git/NAME.git
# (default branch main) and its work clone $T/git/NAME, committing as
# "Test Author" <test@example.com>; with FILE and CONTENT, a first commit
# of that file is pushed (git_head NAME prints it). Prints nothing.
git_repo_init() {
	local name=$1 dir=$T/git/$1
	[ -n "$name" ] || { echo "git_repo_init: no NAME" >&2; return 1; }
	mkdir -p "$T/git" || return 1
	git init -q --bare -b main "$dir.git" &&
		git init -q -b main "$dir" &&
		git -C "$dir" config user.name "Test Author" &&
		git -C "$dir" config user.email test@example.com &&
		git -C "$dir" config commit.gpgsign false &&
		git -C "$dir" remote add origin "$dir.git" || return 1
	if [ $# -ge 3 ]; then
		git_commit "$name" "$2" "$3" >/dev/null || return 1
	fi
}

# git_head NAME: the full SHA of the work clone's HEAD.
git_head() { git -C "$T/git/$1" rev-parse HEAD; }

# git_commit NAME FILE CONTENT [MESSAGE]: writes CONTENT and a newline to
# FILE (relative to the work clone; directories made), commits it (message
# "update FILE"), pushes main and prints the new commit's full SHA. The
# same content again still makes a new commit.
git_commit() {
	local dir=$T/git/$1 file=$2
	[ $# -ge 3 ] || { echo "usage: git_commit NAME FILE CONTENT [MESSAGE]" >&2; return 1; }
	mkdir -p "$(dirname "$dir/$file")" &&
		printf '%s\n' "$3" >"$dir/$file" &&
		git -C "$dir" add -- "$file" &&
		git -C "$dir" commit -q --allow-empty -m "${4:-update $file}" &&
		git_push "$1"
}

# git_rm NAME FILE [MESSAGE]: removes FILE (a directory: all of it),
# commits (message "remove FILE"), pushes main, prints the new SHA.
git_rm() {
	local dir=$T/git/$1 file=$2
	[ $# -ge 2 ] || { echo "usage: git_rm NAME FILE [MESSAGE]" >&2; return 1; }
	git -C "$dir" rm -q -r -- "$file" &&
		git -C "$dir" commit -q -m "${3:-remove $file}" &&
		git_push "$1"
}

# git_force_push NAME [FILE CONTENT [MESSAGE]]: rewrites history: drops
# the last commit (reset --hard HEAD~1; there must be two), commits FILE
# (default .rewrite, a content naming the dropped commit, so that the new
# commit never equals it), push --force to main, prints the new SHA.
git_force_push() {
	local dir=$T/git/$1 old
	old=$(git_head "$1") || return 1
	local file=${2:-.rewrite} content=${3:-rewrites $old}
	git -C "$dir" reset -q --hard HEAD~1 || return 1
	mkdir -p "$(dirname "$dir/$file")" &&
		printf '%s\n' "$content" >"$dir/$file" &&
		git -C "$dir" add -- "$file" &&
		git -C "$dir" commit -q -m "${4:-rewrite $old}" &&
		git_push "$1" --force
}

# git_push NAME [OPTION...]: pushes the work clone's HEAD to main; prints it.
git_push() {
	local name=$1
	shift
	git -C "$T/git/$name" push -q "$@" origin HEAD:refs/heads/main &&
		git_head "$name"
}

# git__fail WHAT LOG: the message a server that did not start fails with.
git__fail() {
	echo "$1 did not start; its log $2 ends:" >&2
	tail -n 20 "$2" 2>/dev/null | sed 's/^/  /' >&2
	return 1
}

# git__accepts PORT: something accepts TCP connections on 127.0.0.1:PORT.
git__accepts() { (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# git__spawn LOG PROGRAM ARG...: starts PROGRAM in a session (and process
# group) of its own, output to LOG, recorded in $T/procs; GIT__PID gets
# its pid. setsid execs in place: the pid is the server's.
git__spawn() {
	local log=$1
	shift
	setsid "$@" </dev/null >>"$log" 2>&1 3>&- &
	GIT__PID=$!
	proc_record "$T/procs" "$GIT__PID" || git__fail "$1" "$log"
}

# git__wait_port WHAT PID PORT LOG: polls until 127.0.0.1:PORT accepts;
# fails when PID exits or the deadline passes first.
git__wait_port() {
	local deadline=$((SECONDS + GIT_SERVER_DEADLINE))
	until git__accepts "$3"; do
		if ! proc_alive "$2" || [ $SECONDS -ge $deadline ]; then
			git__fail "$1 on 127.0.0.1:$3" "$4"
			return 1
		fi
		sleep 0.05
	done
}

# git__port_free WHAT PORT: fails when something already listens on PORT
# (a server of ours would otherwise seem to be up).
git__port_free() {
	if git__accepts "$2"; then
		echo "$1: 127.0.0.1:$2 (PORT_BASE + $(($2 - PORT_BASE))) is taken already" >&2
		return 1
	fi
}

# git_daemon_start: git daemon on PORT_BASE + 90, read-only (upload-pack),
# serving $T/git: GIT_DAEMON_URL/NAME.git is $T/git/NAME.git.
# Log: $T/gitsrv/daemon.log.
git_daemon_start() {
	need git || return 1
	local port=$((PORT_BASE + GIT_DAEMON_PORT_OFFSET)) log=$T/gitsrv/daemon.log
	mkdir -p "$T/git" "$T/gitsrv" || return 1
	git__port_free "git daemon" "$port" || return 1
	# git-daemon itself: `git daemon` would stay as its parent
	git__spawn "$log" "$(git --exec-path)/git-daemon" --listen=127.0.0.1 --port="$port" --reuseaddr \
		--export-all --informative-errors --base-path="$T/git" "$T/git" || return 1
	git__wait_port "git daemon" "$GIT__PID" "$port" "$log" || return 1
	GIT_DAEMON_PID=$GIT__PID
	GIT_DAEMON_URL=git://127.0.0.1:$port
}

# git_http_start: smart HTTP (git http-backend run by fcgiwrap, behind one
# nginx process) on PORT_BASE + 91 with basic auth: user git, the password
# in GIT_HTTP_PASSWORD_FILE ($T/git/password, "hunter2" and a newline).
# GIT_HTTP_URL/NAME.git is $T/git/NAME.git. Waits until a request passes
# nginx and fcgiwrap both. Logs: $T/gitsrv/http/{nginx,fcgiwrap}.log.
git_http_start() {
	need nginx fcgiwrap openssl curl git || return 1
	local port=$((PORT_BASE + GIT_HTTP_PORT_OFFSET)) dir=$T/gitsrv/http
	local backend
	backend=$(git --exec-path)/git-http-backend
	mkdir -p "$T/git" "$dir/tmp" || return 1
	git__port_free "nginx" "$port" || return 1
	printf '%s\n' "$GIT_HTTP_PASSWORD" >"$T/git/password" &&
		printf '%s:%s\n' "$GIT_HTTP_USER" "$(openssl passwd -apr1 "$GIT_HTTP_PASSWORD")" \
			>"$dir/htpasswd" || return 1
	# One process (no master, no workers), so its pid is all there is to
	# kill; a user directive matters only to a master, root's is harmless.
	cat >"$dir/nginx.conf" <<CONF || return 1
$([ "$(id -u)" = 0 ] && echo "user root;")
daemon off;
master_process off;
pid $dir/nginx.pid;
error_log $dir/nginx.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  fastcgi_temp_path $dir/tmp/fastcgi;
  proxy_temp_path $dir/tmp/proxy;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    location / {
      auth_basic "git";
      auth_basic_user_file $dir/htpasswd;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $backend;
      fastcgi_param GIT_PROJECT_ROOT $T/git;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO \$uri;
      fastcgi_param REMOTE_USER \$remote_user;
      fastcgi_pass unix:$dir/fcgi.sock;
    }
  }
}
CONF
	git__spawn "$dir/fcgiwrap.log" fcgiwrap -s "unix:$dir/fcgi.sock" || return 1
	local fcgi=$GIT__PID
	git__spawn "$dir/nginx.log" nginx -e stderr -p "$dir" -c "$dir/nginx.conf" || return 1
	git__wait_port "nginx" "$GIT__PID" "$port" "$dir/nginx.log" || return 1
	# nginx answers 502 until fcgiwrap listens; http-backend's own answer
	# to "/" (not a repository) is anything else
	local deadline=$((SECONDS + GIT_SERVER_DEADLINE)) code
	while :; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
			-u "$GIT_HTTP_USER:$GIT_HTTP_PASSWORD" "http://127.0.0.1:$port/")
		case "$code" in 000 | 502 | 504) ;; *) break ;; esac
		if ! proc_alive "$fcgi" || [ $SECONDS -ge $deadline ]; then
			git__fail "fcgiwrap (nginx answers $code)" "$dir/fcgiwrap.log"
			return 1
		fi
		sleep 0.05
	done
	GIT_HTTP_PID=$GIT__PID
	GIT_FCGIWRAP_PID=$fcgi
	GIT_HTTP_URL=http://127.0.0.1:$port
	GIT_HTTP_PASSWORD_FILE=$T/git/password
}

# git_sshd_start: sshd on PORT_BASE + 92 with its own host key, letting in
# the current user with one client key (ed25519, no passphrase) only:
# GIT_SSH_URL=ssh://USER@127.0.0.1:PORT$T/git (NAME.git appends),
# GIT_SSH_USER, GIT_SSH_KEY (the private key's file), GIT_KNOWN_HOSTS
# ("[127.0.0.1]:PORT" and the host key). git_ssh_command prints an ssh
# command for GIT_SSH_COMMAND that uses them and checks the host key.
# Log: $T/gitsrv/ssh/sshd.log.
git_sshd_start() {
	need sshd ssh ssh-keygen git || return 1
	local port=$((PORT_BASE + GIT_SSH_PORT_OFFSET)) dir=$T/gitsrv/ssh sshd
	sshd=$(command -v sshd) # sshd re-executes itself: an absolute path
	mkdir -p "$T/git" "$dir" || return 1
	git__port_free "sshd" "$port" || return 1
	# root's sshd wants its privilege separation directory
	if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then
		mkdir -m 0755 /run/sshd || return 1
	fi
	ssh-keygen -q -t ed25519 -N '' -C "git.bash host" -f "$dir/hostkey" &&
		ssh-keygen -q -t ed25519 -N '' -C "git.bash client" -f "$dir/clientkey" &&
		cp "$dir/clientkey.pub" "$dir/authorized_keys" || return 1
	# StrictModes no: /tmp's modes are not sshd's business here
	cat >"$dir/sshd_config" <<CONF || return 1
Port $port
ListenAddress 127.0.0.1
HostKey $dir/hostkey
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
CONF
	git__spawn "$dir/sshd.log" "$sshd" -D -e -f "$dir/sshd_config" || return 1
	git__wait_port "sshd" "$GIT__PID" "$port" "$dir/sshd.log" || return 1
	printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$dir/hostkey.pub")" \
		>"$dir/known_hosts" || return 1
	GIT_SSHD_PID=$GIT__PID
	GIT_SSH_USER=$(id -un)
	GIT_SSH_URL=ssh://$GIT_SSH_USER@127.0.0.1:$port$T/git
	GIT_SSH_KEY=$dir/clientkey
	GIT_KNOWN_HOSTS=$dir/known_hosts
}

# git_ssh_command: for GIT_SSH_COMMAND: the test's key only, the test's
# known_hosts only, an unknown or changed host key refused, never a prompt.
git_ssh_command() {
	echo "ssh -F /dev/null -i $GIT_SSH_KEY -o IdentitiesOnly=yes -o BatchMode=yes" \
		"-o UserKnownHostsFile=$GIT_KNOWN_HOSTS -o GlobalKnownHostsFile=/dev/null" \
		"-o StrictHostKeyChecking=yes"
}

# A Source named shop reading deploy/ of URL, with more spec lines if given
source_doc() { # source_doc URL [EXTRA_SPEC_YAML]
	cat <<YAML
apiVersion: slipway/v1
kind: Source
metadata: {name: shop}
spec:
  url: $1
  path: deploy
${2:-}
YAML
}
