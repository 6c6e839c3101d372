# Process helpers shared by the e2e tests, tests/chaos/chaos.sh and
# tests/docs/run-blocks.sh (sourced).

# Kills (-9) the instances the state dir records, each only while it is
# still the process recorded (its start time matches): a pid alone may be
# anyone's by now. Pids wrap within minutes here, and a blind kill of a
# stale one can hit another test's daemon.
kill_instances() { # kill_instances [STATE_DIR] (default $T/state)
	local db=${1:-$T/state}/state.db
	[ -f "$db" ] && command -v sqlite3 >/dev/null || return 0
	local pid start
	sqlite3 "$db" "select handle from instances where handle != ''" 2>/dev/null |
		while read -r pid start; do
			kill_if_still "$pid" "$start"
		done
	return 0
}

# proc_start PID: prints PID's start time (field 22 of /proc/PID/stat,
# clock ticks since boot); fails when there is no such process.
proc_start() {
	local s
	s=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20)
	[ -n "$s" ] && echo "$s"
}

# kill_if_still PID START: kill -9 PID if its start time is START.
kill_if_still() {
	local now
	now=$(proc_start "$1")
	[ -n "$now" ] && [ "$now" = "$2" ] && kill -9 "$1" 2>/dev/null
	return 0
}

# proc_alive PID: PID runs, and is not a zombie (kill -0 succeeds on a
# process that has exited while its parent has not reaped it yet).
proc_alive() {
	local state
	state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$state" ] && [ "$state" != Z ]
}

# proc_is PID START: PID is still the process that started at START, and
# alive.
proc_is() { [ "$(proc_start "$1")" = "$2" ] && proc_alive "$1"; }

# proc_record FILE PID: appends "PID START" to FILE, for kill_recorded.
# Servers a test starts are recorded in $T/procs, which the e2e teardown
# (tests/e2e/helpers.bash) kills.
proc_record() {
	local start
	start=$(proc_start "$2") || return 1
	echo "$2 $start" >>"$1"
}

# kill_recorded FILE: kill -9 every process FILE records, each only while
# it is still that process; one that leads its own process group (started
# with setsid) takes its group with it: an sshd's sessions, a git daemon's
# upload-packs. Reaps those that are children of this shell.
kill_recorded() {
	[ -f "$1" ] || return 0
	local pid start
	while read -r pid start; do
		proc_is "$pid" "$start" || continue
		if [ "$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f3)" = "$pid" ]; then
			kill -9 -- "-$pid" 2>/dev/null
		fi
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done <"$1"
	return 0
}
