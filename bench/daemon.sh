# Sourced by the benches that run one daemon on a state dir of their own:
# NAME (for the temp dir) and PORTS (its instances' port range) set first.
# Gives T, SLIPWAY_STATE_DIR, start [SERVE ARGS...], stop, kib FIELD (of
# the daemon's /proc status), mib KIB, ms_since NS and walk PATH FIELD;
# the daemon is stopped (and T removed) on exit.
ROOT=$PWD
BIN=${BIN:-$ROOT/build/slipway}
T=$(mktemp -d "/tmp/slipway-bench-$NAME.XXXXXX")
export SLIPWAY_STATE_DIR=$T/state
SERVE=
cleanup() {
	[ -n "$SERVE" ] && kill "$SERVE" 2>/dev/null && wait "$SERVE" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

start() {
	"$BIN" serve --port-range "$PORTS" "$@" >>"$T/serve.log" 2>&1 &
	SERVE=$!
	for _ in $(seq 1 300); do "$BIN" get apps >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "daemon did not start" >&2
	exit 1
}
# SIGTERM stops the daemon's instances too: nothing is left running
stop() { kill "$SERVE"; wait "$SERVE" 2>/dev/null || true; SERVE=; }
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$SERVE/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# walk PATH? FIELD: every page of a paged list (PATH ends in ? or &: the
# limit and cursor follow), 1000 a page, following "next", counting the
# rows by a FIELD each has: sets pages and seen.
walk() {
	local cursor=
	pages=0 seen=0
	while :; do
		curl -s --unix-socket "$SLIPWAY_STATE_DIR/slipway.sock" \
			"http://slipway${1}limit=1000${cursor:+&before=$cursor}" >"$T/page"
		pages=$((pages + 1))
		seen=$((seen + $(grep -o "\"$2\"" "$T/page" | wc -l)))
		cursor=$(grep -o '"next": *"[0-9]*"' "$T/page" | grep -o '[0-9]*' || true)
		[ -n "$cursor" ] || break
	done
}
