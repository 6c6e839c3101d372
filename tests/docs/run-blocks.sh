#!/bin/bash
# run-blocks.sh FILE.md: runs every ```sh block of FILE.md (a path relative
# to the repository root) the way a user would type it, against a real
# daemon, and fails naming the file, the line and the command that broke.
# The convention it checks is in CONTRIBUTING.md, "Docs that run".
#
#   SLIPWAY_BIN   the slipway binary under test (default build/slipway); its
#                 directory is build/ for the docs: on PATH, and reachable as
#                 ./build from the scratch copy of the tree the blocks run in
#   DOCS_TIMEOUT  seconds one command may take (default 60)
#   DOCS_KEEP     non-empty: keep the scratch dir (its path is printed)
#
# Exit status: 0 every runnable block passed, 1 a command failed or a
# not-runnable mark has no reason, 2 usage.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../procs.bash
. "$here/../procs.bash"
repo=$(cd "$here/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 FILE.md" >&2; exit 2; }
doc=$1
[ -f "$repo/$doc" ] || { echo "$doc: no such file under $repo" >&2; exit 2; }
bin=$(realpath "${SLIPWAY_BIN:-$repo/build/slipway}")
build=$(dirname "$bin")
timeout_s=${DOCS_TIMEOUT:-60}

DOCS_T=$(mktemp -d /tmp/slipway-docs.XXXXXX)
mkdir -p "$DOCS_T/home" "$DOCS_T/xdg/config" "$DOCS_T/xdg/state" "$DOCS_T/xdg/data" "$DOCS_T/xdg/cache" "$DOCS_T/tmp"

# --- the blocks -----------------------------------------------------------
# Parsed into parallel arrays, one entry per command:
#   c_line   line of the command in FILE.md
#   c_text   the command as written (continuation lines and heredocs joined)
#   c_kind   run | skip:REASON | serve
#   c_expect newline-separated "# =>" texts its output must contain
#   c_status the exit status it must have (0 unless "# => exit N")
c_line=() c_text=() c_kind=() c_expect=() c_status=()
notrun=() bad_marks=0 nblocks=0

add_cmd() { # add_cmd LINE TEXT
	local kind=run first
	first=${2%%[[:space:]]*}
	case "$first" in
	make) kind="skip:make targets install, build or run the whole test suite; the harness uses the build under test" ;;
	esac
	if [[ "$2" =~ ^[[:space:]]*([^[:space:]]*slipway)[[:space:]]+serve([[:space:]][^#]*)?\&[[:space:]]*(#.*)?$ ]]; then
		kind=serve
	fi
	c_line+=("$1") c_text+=("$2") c_kind+=("$kind") c_expect+=("") c_status+=(0)
}

in_block=0 prev= n=0 pending= pending_line= heredoc=
while IFS= read -r line || [ -n "$line" ]; do
	n=$((n + 1))
	if [ $in_block -eq 0 ]; then
		if [[ "$line" =~ ^[[:space:]]*\`\`\`sh[[:space:]]*$ ]]; then
			nblocks=$((nblocks + 1))
			if [[ "$prev" =~ ^[[:space:]]*\<\!--[[:space:]]*not-runnable:?(.*)--\>[[:space:]]*$ ]]; then
				reason=${BASH_REMATCH[1]}
				reason=$(printf '%s' "$reason" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
				if [ -z "$reason" ]; then
					echo "$doc:$n: not-runnable block without a reason (write <!-- not-runnable: why -->)" >&2
					bad_marks=$((bad_marks + 1))
				fi
				notrun+=("$doc:$n: ${reason:-(no reason)}")
				in_block=2
			else
				in_block=1
			fi
		fi
		prev=$line
		continue
	fi
	if [ -z "$heredoc" ] && [[ "$line" =~ ^[[:space:]]*\`\`\`[[:space:]]*$ ]]; then
		[ -n "$pending" ] && add_cmd "$pending_line" "$pending"
		pending= in_block=0 prev=$line
		continue
	fi
	prev=$line
	[ $in_block -eq 2 ] && continue
	if [ -n "$heredoc" ]; then # inside a heredoc: up to its terminator
		pending+=$'\n'"$line"
		t=$line
		[ "${heredoc:0:1}" = - ] && t=$(printf '%s' "$line" | sed 's/^\t*//')
		[ "$t" = "${heredoc#-}" ] && { add_cmd "$pending_line" "$pending"; pending= heredoc=; }
		continue
	fi
	if [ -n "$pending" ]; then # a continuation line
		pending+=$'\n'"$line"
	else
		if [[ "$line" =~ ^[[:space:]]*#[[:space:]]*=\>[[:space:]]?(.*)$ ]]; then
			want=${BASH_REMATCH[1]}
			k=$((${#c_line[@]} - 1))
			if [ $k -lt 0 ]; then
				echo "$doc:$n: \"# =>\" with no command before it" >&2
				bad_marks=$((bad_marks + 1))
			elif [[ "$want" =~ ^exit[[:space:]]+([0-9]+)$ ]]; then
				c_status[k]=${BASH_REMATCH[1]}
			else
				c_expect[k]+="$want"$'\n'
			fi
			continue
		fi
		[[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue
		pending=$line pending_line=$n
	fi
	if [[ "$line" =~ \<\<(-?)[\'\"]?([A-Za-z_][A-Za-z0-9_]*)[\'\"]? ]]; then
		heredoc=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
		continue
	fi
	[[ "$line" =~ \\$ ]] && continue
	add_cmd "$pending_line" "$pending"
	pending=
done <"$repo/$doc"
if [ $in_block -ne 0 ] || [ -n "$heredoc" ]; then
	echo "$doc:$n: a \`\`\`sh block or heredoc is not closed" >&2
	bad_marks=$((bad_marks + 1))
fi

runnable=$((nblocks - ${#notrun[@]}))
echo "# $doc: $nblocks sh blocks, $runnable runnable, ${#notrun[@]} not runnable, ${#c_line[@]} commands"
for m in "${notrun[@]}"; do echo "# not-runnable $m"; done

# The docs use the examples' fixed ports (CONTRIBUTING.md): one run at a
# time here and in tests/e2e/examples.bats.
exec 9>/tmp/slipway-examples.lock
flock -w 600 9 || { echo "$doc: another docs or examples run holds the examples' ports" >&2; exit 1; }

# --- a scratch copy of the tree, build/ reachable ---------------------------
mkdir -p "$DOCS_T/repo"
tar -C "$repo" --exclude=./.git --exclude=./build --exclude='./build-*' --exclude=./.slipway \
	-cf - . | tar -C "$DOCS_T/repo" -xf -
ln -s "$build" "$DOCS_T/repo/build"

# --- the session ------------------------------------------------------------
daemon_pids=()
port_base=$((12000 + (RANDOM % 180) * 100))
session_env=(HOME="$DOCS_T/home" XDG_CONFIG_HOME="$DOCS_T/xdg/config" XDG_STATE_HOME="$DOCS_T/xdg/state"
	XDG_DATA_HOME="$DOCS_T/xdg/data" XDG_CACHE_HOME="$DOCS_T/xdg/cache" TMPDIR="$DOCS_T/tmp"
	SLIPWAY_STATE_DIR="$DOCS_T/state" PATH="$DOCS_T/repo/build:$PATH" NO_COLOR=1)
for v in "${session_env[@]}"; do export "${v?}"; done
unset SLIPWAY_API SLIPWAY_TOKEN SLIPWAY_CONTEXT
cd "$DOCS_T/repo" || exit 1

# Waits until a daemon answers on the state dir's socket.
wait_daemon() {
	local deadline=$((SECONDS + 20))
	until "$bin" get apps >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			echo "the daemon did not answer within 20s; its log:" >&2
			tail -20 "$DOCS_T/daemon.log" >&2
			return 1
		fi
		sleep 0.1
	done
}

# The doc's own `slipway serve ... &` runs as written, with its output in
# daemon.log and instance ports in a range of this run's own (so that runs
# side by side, and other tests, do not take each other's ports).
start_serve() { # start_serve COMMAND_TEXT
	local cmd=${1%%#*}
	cmd=${cmd%&*}
	case "$cmd" in *--port-range*) ;; *) cmd+=" --port-range $port_base-$((port_base + 99))" ;; esac
	eval "$cmd >>\"\$DOCS_T/daemon.log\" 2>&1 3>&- 9>&- &"
	daemon_pids+=($!)
	wait_daemon
}

cleanup() {
	local p i
	for p in "${daemon_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
		for i in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# nothing the docs started may outlive the run
	kill_instances "$DOCS_T/state"
	pkill -9 -f "$DOCS_T/" 2>/dev/null
	for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
	if [ -n "${DOCS_KEEP:-}" ]; then echo "# kept $DOCS_T"; else rm -rf "$DOCS_T"; fi
}
trap cleanup EXIT

failed=0
fail() { # fail INDEX WHAT OUTPUT_FILE
	local k=$1
	{
		echo "$doc:${c_line[k]}: $2"
		printf '  $ %s\n' "${c_text[k]//$'\n'/$'\n'    }"
		if [ -s "$3" ]; then sed 's/^/  | /' "$3" | tail -40; else echo "  (no output)"; fi
	} >&2
	failed=1
}

has_serve=0
for k in "${!c_kind[@]}"; do [ "${c_kind[k]}" = serve ] && has_serve=1; done
if [ $has_serve -eq 0 ] && [ ${#c_line[@]} -gt 0 ]; then
	echo "# daemon: started by the harness (no \`slipway serve &\` in $doc)"
	start_serve "$bin serve &" || { echo "$doc: the daemon did not start" >&2; exit 1; }
fi

set -a # a variable a block sets is there for the commands after it
__out=$DOCS_T/out
for __k in "${!c_line[@]}"; do
	__cmd=${c_text[__k]}
	case "${c_kind[__k]}" in
	skip:*)
		echo "# skip $doc:${c_line[__k]}: $__cmd (${c_kind[__k]#skip:})"
		continue
		;;
	serve)
		echo "# run  $doc:${c_line[__k]}: $__cmd"
		start_serve "$__cmd" || { fail "$__k" "the daemon it starts did not answer" "$DOCS_T/daemon.log"; break; }
		continue
		;;
	esac
	echo "# run  $doc:${c_line[__k]}: ${__cmd%%$'\n'*}"
	__first=${__cmd#"${__cmd%%[![:space:]]*}"}
	__first=${__first%%[[:space:]]*}
	if [[ "$__first" =~ ^(cd|export|unset|source|\.|pushd|popd)$ ]] ||
		[[ "$__cmd" =~ ^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*=[^[:space:]]*[[:space:]]*(#.*)?$ ]] ||
		[[ "$__cmd" =~ ^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*=\$\(.*\)[[:space:]]*(#.*)?$ ]] ||
		[[ "$__cmd" =~ \&[[:space:]]*(#.*)?$ ]]; then
		# changes the session (directory, variables) or starts a job: in this shell
		eval "$__cmd" >"$__out" 2>&1
		__rc=$?
	else
		timeout -k 5 "$timeout_s" bash -c "$__cmd" </dev/null >"$__out" 2>&1
		__rc=$?
		if [ $__rc -eq 124 ]; then
			fail "$__k" "timed out after ${timeout_s}s" "$__out"
			break
		fi
	fi
	sed 's/^/#      /' "$__out" | head -20
	if [ $__rc -ne "${c_status[__k]}" ]; then
		fail "$__k" "exited $__rc (expected ${c_status[__k]})" "$__out"
		break
	fi
	while IFS= read -r __want; do
		[ -n "$__want" ] || continue
		if ! grep -qF -- "$__want" "$__out"; then
			fail "$__k" "output lacks \"$__want\"" "$__out"
			break 2
		fi
	done <<<"${c_expect[__k]}"
done
set +a

[ $bad_marks -eq 0 ] || failed=1
[ $failed -eq 0 ] && echo "# $doc: every runnable block passed"
exit $failed
