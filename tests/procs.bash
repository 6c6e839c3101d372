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

# kill_if_still PID START: kill -9 PID if its start time (field 22 of
# /proc/PID/stat, clock ticks since boot) is START.
kill_if_still() {
	local now
	now=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20)
	[ -n "$now" ] && [ "$now" = "$2" ] && kill -9 "$1" 2>/dev/null
	return 0
}
