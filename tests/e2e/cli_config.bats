#!/usr/bin/env bats
# Contexts, the default state dir found from any directory, completion and
# manual pages: what a kubectl user reaches for, against real daemons.

load helpers

REPO=$(realpath "$BATS_TEST_DIRNAME/../..")

# Every test has a home of its own: the config file and the default state
# dir are per user, and no test may read or write the real ones.
setup_home() {
	export HOME=$T/home XDG_CONFIG_HOME=$T/home/.config XDG_STATE_HOME=$T/home/.local/state
	mkdir -p "$HOME"
	mkdir -p "$T/bin"
	ln -sf "$SLIPWAY_BIN" "$T/bin/slipway"
	export PATH=$T/bin:$PATH
}

# start_named NAME [serve options]: a daemon in $T/NAME, its pid in PID_NAME.
start_named() {
	local name=$1
	shift
	"$SLIPWAY_BIN" serve --state-dir "$T/$name" --port-range "$PORT_BASE-$((PORT_BASE + 49))" \
		--backoff 200ms "$@" >>"$T/$name.log" 2>&1 3>&- &
	eval "PID_$name=$!"
	wait_for 10 "$SLIPWAY_BIN" --state-dir "$T/$name" get apps
	PORT_BASE=$((PORT_BASE + 50))
}

stop_named() {
	local pid
	eval "pid=\${PID_$1:-}"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

teardown() {
	stop_named a
	stop_named b
	case "${T:-}" in /tmp/slipway-*) pkill -9 -f "$T/" 2>/dev/null || true ;; esac
	if [ -n "${DAEMON_PID:-}" ]; then stop_daemon; fi
	case "${T:-}" in /tmp/slipway-*) rm -rf "$T" ;; esac
}

# A small app: a name in `get apps` that tells two daemons apart.
named_app() {
	app_yaml "$1" 1.0.0 1
}

@test "the CLI finds the daemon from any directory, at the per-user default" {
	setup_home
	unset SLIPWAY_STATE_DIR
	mkdir -p "$T/one" "$T/two"
	cd "$T/one"
	start_daemon
	[ -S "$XDG_STATE_HOME/slipway/slipway.sock" ]
	app_yaml hello 1.0.0 1 > "$T/hello.yaml"
	slipway apply -f "$T/hello.yaml" --wait
	cd "$T/two"
	run slipway status hello
	[ "$status" -eq 0 ]
	[[ "$output" == *Healthy* ]]
	cd /
	run slipway get apps
	[[ "$output" == *hello* ]]
	# no state dir was made where the commands ran
	[ ! -e "$T/one/.slipway" ] && [ ! -e "$T/two/.slipway" ]
	# the help says where it is
	run slipway --help
	[[ "$output" == *'$XDG_STATE_HOME/slipway'* ]]
	[[ "$output" == *'~/.local/state/slipway'* ]]
}

@test "contexts switch between two real daemons; flags > env > current context" {
	setup_home
	unset SLIPWAY_STATE_DIR
	local port
	port=$(free_port)
	start_named a
	start_named b --api "127.0.0.1:$port"
	named_app one > "$T/one.yaml"
	named_app two > "$T/two.yaml"
	slipway --state-dir "$T/a" apply -f "$T/one.yaml"
	slipway --state-dir "$T/b" apply -f "$T/two.yaml"

	run slipway config get-contexts
	[[ "$output" == *"no contexts"* ]]
	slipway config set-context a --state-dir "$T/a"
	slipway config set-context b --socket "$T/b/slipway.sock"
	run slipway config set-context tcp --api "127.0.0.1:$port" --token-file "$T/b/token"
	[ "$status" -eq 0 ]
	[[ "$output" == *'context "tcp" created'* ]]
	[ "$(stat -c %a "$XDG_CONFIG_HOME/slipway/config")" = 600 ]
	# a token file, never the token
	refute grep -qF "$(cat "$T/b/token")" "$XDG_CONFIG_HOME/slipway/config"

	run slipway config current-context
	[ "$status" -eq 1 ]
	slipway config use-context a
	run slipway config current-context
	[ "$output" = a ]
	run slipway get apps
	[[ "$output" == *one* && "$output" != *two* ]]
	slipway config use-context b
	run slipway get apps
	[[ "$output" == *two* && "$output" != *one* ]]
	run slipway config get-contexts
	[[ "$output" == *"*         b"* ]]

	# --context, then SLIPWAY_CONTEXT, for one command
	run slipway --context a get apps
	[[ "$output" == *one* && "$output" != *two* ]]
	run env SLIPWAY_CONTEXT=a slipway get apps
	[[ "$output" == *one* && "$output" != *two* ]]
	run env SLIPWAY_CONTEXT=tcp slipway get apps
	[ "$status" -eq 0 ]
	[[ "$output" == *two* ]]
	# precedence: flags > --context > environment > SLIPWAY_CONTEXT > current
	run env SLIPWAY_CONTEXT=a slipway --state-dir "$T/b" get apps
	[[ "$output" == *two* && "$output" != *one* ]]
	run env SLIPWAY_STATE_DIR="$T/b" slipway --context a get apps
	[[ "$output" == *one* && "$output" != *two* ]]
	run env SLIPWAY_STATE_DIR="$T/a" SLIPWAY_CONTEXT=b slipway get apps
	[[ "$output" == *one* && "$output" != *two* ]]
	run slipway --context a --state-dir "$T/b" get apps
	[ "$status" -eq 2 ]
	[[ "$output" == *"give --context or --state-dir/--api, not both"* ]]

	# an unknown context says so and where it looked
	run slipway --context nope get apps
	[ "$status" -eq 1 ]
	[[ "$output" == *'no context "nope"'*"$XDG_CONFIG_HOME/slipway/config"* ]]
	run slipway config use-context tpc
	[ "$status" -eq 1 ]
	[[ "$output" == *'did you mean "tcp"?'* ]]

	# deleting the current context leaves none: back to the default state dir
	slipway config delete-context b
	run slipway config current-context
	[ "$status" -eq 1 ]
	run slipway config view
	[[ "$output" == *"kind: \"Config\""* && "$output" != *'name: "b"'* ]]
	# no token on the command line: set-context has no such option
	# (--token abc would be --token-file abc: it must name a file that exists)
	run slipway config set-context x --api "127.0.0.1:$port" --token abc
	[ "$status" -eq 2 ]
	[[ "$output" == *'--token-file: cannot read "abc"'* ]]
	refute grep -q abc "$XDG_CONFIG_HOME/slipway/config"
	run slipway config set-context x --api "127.0.0.1:$port"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--api needs --token-file FILE"* ]]
}

@test "a bad config file: file:line:col, a non-zero exit, nothing changed" {
	setup_home
	unset SLIPWAY_STATE_DIR
	mkdir -p "$XDG_CONFIG_HOME/slipway"
	local cfg=$XDG_CONFIG_HOME/slipway/config
	cat > "$cfg" <<YAML
apiVersion: slipway/v1
kind: Config
current-context: dev
contexts:
  - name: dev
    stateDir: $T/dev
YAML
	cp "$cfg" "$T/before"
	for cmd in "get apps" "status hello" "config get-contexts" "config use-context dev" \
		"config set-context x --state-dir /tmp" "config delete-context dev" "config view"; do
		run slipway $cmd
		[ "$status" -eq 1 ]
		[[ "$output" == *"$cfg:6:5: unknown field \"stateDir\" in contexts[0] (did you mean \"state-dir\"?)"* ]]
		cmp "$cfg" "$T/before"
	done
	ls "$XDG_CONFIG_HOME/slipway" > "$T/files"
	[ "$(cat "$T/files")" = config ]
	# commands that need no daemon still run
	run slipway version
	[ "$status" -eq 0 ]
	# explicit options do not read the file at all
	run slipway --state-dir "$T/none" get apps
	[[ "$output" == *"cannot connect"* ]]
	printf 'contexts: [\n' > "$cfg"
	run slipway get apps
	[ "$status" -eq 1 ]
	[[ "$output" == *"$cfg:2:1: "* ]]
}

@test "usage hints are commands that work when pasted; --help lists every command" {
	setup_home
	run slipway config sideways
	[ "$status" -eq 2 ]
	[[ "$output" == *'(see `slipway config --help`)'* ]]
	hint=$(printf '%s\n' "$output" | sed -n 's/.*(see `\(.*\)`)$/\1/p')
	run $hint
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: slipway config"* ]]
	run slipway get --nope
	[[ "$output" == *'(see `slipway get --help`)'* ]]
	run slipway --help
	[ "$status" -eq 0 ]
	for c in apply get status config completion serve proxy; do
		[[ "$output" == *"  $c "* ]]
	done
	for o in --context --state-dir --api --token-file --help --version; do
		[[ "$output" == *"$o"* ]]
	done
	[[ "$output" == *'`slipway serve --help`'* ]]
	[[ "$output" != *__complete* && "$output" != *__man* ]]
	# serve's help says where its state dir is by default
	run slipway serve --help
	[[ "$output" == *"--state-dir DIR"*"~/.local/state/slipway"* ]]
}

# complete_bash WORD...: what bash's completion offers for the words (the
# last one is being completed), one a line.
complete_bash() {
	bash -c 'source <(slipway completion bash)
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_slipway; printf "%s\n" "${COMPREPLY[@]}"' complete_bash "$@"
}

@test "bash completion: commands, subcommands, options, values and app names from the daemon" {
	setup_home
	run bash -c 'source <(slipway completion bash) && complete -p slipway'
	[ "$status" -eq 0 ]
	[ "$output" = "complete -F _slipway slipway" ]

	run complete_bash slipway ro
	[ "$output" = "$(printf 'rollout\nroutes\nrollback')" ]
	run complete_bash slipway rollout pro
	[ "$output" = promote ]
	run complete_bash slipway config ""
	[[ "$output" == *use-context*set-context* ]]
	run complete_bash slipway logs --fo
	[ "$output" = --follow ]
	run complete_bash slipway token create --role v
	[ "$output" = viewer ]
	run complete_bash slipway completion z
	[ "$output" = zsh ]
	touch "$T/app-one.yaml"
	cd "$T"
	run complete_bash slipway apply -f app-
	[ "$output" = app-one.yaml ]

	# no daemon: nothing, at once, and no error
	run complete_bash slipway status ""
	[ "$status" -eq 0 ]
	[ -z "$output" ]

	# a real daemon's apps, also through a context
	start_daemon
	named_app web > "$T/web.yaml"
	named_app worker > "$T/worker.yaml"
	slipway apply -f "$T/web.yaml"
	slipway apply -f "$T/worker.yaml"
	run complete_bash slipway status w
	[ "$output" = "$(printf 'web\nworker')" ]
	run complete_bash slipway rollout promote we
	[ "$output" = web ]
	slipway config set-context here --state-dir "$SLIPWAY_STATE_DIR"
	run env -u SLIPWAY_STATE_DIR bash -c 'source <(slipway completion bash)
		COMP_WORDS=(slipway --context here logs wo); COMP_CWORD=4; _slipway; echo "${COMPREPLY[@]}"'
	[ "$output" = worker ]
	run complete_bash slipway --context ""
	[ "$output" = here ]
}

@test "get completes its kinds, and the names of a kind from the daemon" {
	setup_home
	run complete_bash slipway get ""
	[ "$output" = "$(printf '%s\n' apps app analysistemplates analysistemplate at instances \
		instance inst revisions revision rev sources source src environments environment env all)" ]
	run complete_bash slipway get a
	[ "$output" = "$(printf '%s\n' apps app analysistemplates analysistemplate at all)" ]
	run complete_bash slipway get inst
	[ "$output" = "$(printf '%s\n' instances instance inst)" ]
	# every word offered is one get takes
	for k in $(complete_bash slipway get ""); do
		run slipway get "$k" --help
		[ "$status" -eq 0 ]
	done
	start_daemon
	named_app web > "$T/web.yaml"
	named_app worker > "$T/worker.yaml"
	slipway apply -f "$T/web.yaml"
	slipway apply -f "$T/worker.yaml"
	run complete_bash slipway get apps ""
	[ "$output" = "$(printf 'web\nworker')" ]
	run complete_bash slipway get app w
	[ "$output" = "$(printf 'web\nworker')" ]
	run complete_bash slipway get -o wide apps wo
	[ "$output" = worker ]
	run complete_bash slipway get revisions we
	[ "$output" = web ]
	run complete_bash slipway get all ""
	[ -z "$output" ]
	# the kind word: nothing but kinds, also when a daemon runs
	run complete_bash slipway get w
	[ -z "$output" ]
}

@test "zsh and fish completion scripts load; fish completes from the tables" {
	setup_home
	need zsh fish
	slipway completion zsh > "$T/_slipway"
	zsh -n "$T/_slipway"
	run zsh -fc 'autoload -U compinit && compinit -u -d "$1/zcompdump" && source "$1/_slipway" && echo ${_comps[slipway]}' zsh "$T"
	[ "$status" -eq 0 ]
	[ "$output" = _slipway ]
	# the function itself, with zsh's completion builtins standing in
	run zsh -fc 'compdef() { :; }; source "$1/_slipway"
		_describe() { print -rl -- "${(@P)4}"; }; _files() { print "files $*"; }
		words=(slipway rollout pro); CURRENT=3; _slipway
		words=(slipway co); CURRENT=2; _slipway
		words=(slipway --state-dir ""); CURRENT=3; _slipway' zsh "$T"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = promote ]
	[ "${lines[1]}" = "config:name daemons as contexts and pick the one the CLI talks to" ]
	[[ "${lines[2]}" == completion:* ]]
	[ "${lines[3]}" = "files -/" ]
	slipway completion fish > "$T/slipway.fish"
	fish --no-execute "$T/slipway.fish"
	run fish -c "source $T/slipway.fish; complete -C 'slipway rollout pro'"
	[ "$status" -eq 0 ]
	[[ "$output" == promote* ]]
	run fish -c "source $T/slipway.fish; complete -C 'slipway conf'"
	[[ "$output" == config*"name daemons as contexts"* ]]
	run slipway completion tcsh
	[ "$status" -eq 2 ]
}

@test "the committed man pages are what the tables generate, and render without warnings" {
	mkdir -p "$T/man"
	slipway __man "$T/man"
	run diff -r "$REPO/docs/man" "$T/man"
	if [ "$status" -ne 0 ]; then
		echo "docs/man differs from the command tables: run \`build/slipway __man docs/man\`" >&2
		echo "$output" >&2
		return 1
	fi
	# one page per command, and the overview
	[ -f "$T/man/slipway.1" ] && [ -f "$T/man/slipway-apply.1" ] && [ -f "$T/man/slipway-config.1" ]
	[ -f "$T/man/slipway-serve.1" ]
	grep -qF 'port\-range' "$T/man/slipway-serve.1"
	for page in "$REPO"/docs/man/*.1; do
		run groff -ww -z -man "$page"
		[ "$status" -eq 0 ]
		[ -z "$output" ] || { echo "$page: $output" >&2; return 1; }
	done
	run env MANWIDTH=80 man -l "$REPO/docs/man/slipway.1"
	[ "$status" -eq 0 ]
	[[ "$output" == *"slipway-config(1)"* ]]
	[[ "$output" == *"FINDING THE DAEMON"* ]]
}
