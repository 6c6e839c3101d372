#!/bin/bash
# Daemon memory while the whole event log is read page by page.
# Inserts N events (default 1,000,000) straight into a fresh state.db with
# sqlite3, starts the daemon on it (retention off, so that all of them
# stay), then lists every event through GET /v1/events, newest first,
# following "next", 1000 per page, and reports the daemon's RSS before,
# its peak (VmHWM) and RSS after, and the time taken. Then it restarts the
# daemon with the default retention (the newest 100,000 events) and times
# how long the backlog takes to be trimmed, and what the daemon's RSS is
# then, while `slipway events` keeps answering.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
NAME=events PORTS=31000-31099
. bench/daemon.sh

# the schema comes from the daemon itself
start
stop
now=$(($(date +%s) * 1000))
t0=$(date +%s%N)
sqlite3 "$T/state/state.db" <<SQL
PRAGMA journal_mode=WAL;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO events (time_ms, app, kind, message, actor)
SELECT $now - ($N - i), 'app-' || (i % 50), 'InstanceReady',
       'instance app-' || (i % 50) || '-' || i || ' is ready', 'daemon' FROM n;
SQL
t1=$(date +%s%N)
echo "inserted $N events in $(( (t1 - t0) / 1000000 )) ms ($(du -h "$T/state/state.db" | cut -f1) on disk)"

start --keep-events 0,0
sleep 1
rss0=$(kib VmRSS)
t0=$(date +%s%N)
walk /v1/events? kind
t1=$(date +%s%N)
echo "listed $seen events in $pages pages in $(( (t1 - t0) / 1000000 )) ms"
echo "daemon RSS before $(mib "$rss0"), peak $(mib "$(kib VmHWM)"), after $(mib "$(kib VmRSS)")"
for args in "--limit 1000" "--app app-7 --limit 100" "--since 1m" "--since 10m"; do
	t0=$(date +%s%N)
	lines=$("$BIN" events $args | wc -l)
	t1=$(date +%s%N)
	echo "slipway events $args: $((lines - 1)) events in $(( (t1 - t0) / 1000000 )) ms"
done
echo "daemon RSS after the CLI calls $(mib "$(kib VmRSS)"), peak $(mib "$(kib VmHWM)")"
stop

start
t0=$(date +%s%N)
while :; do
	left=$(sqlite3 "$T/state/state.db" "select count(*) from events")
	[ "$left" -le 100000 ] && break
	"$BIN" events --limit 10 >/dev/null   # the API keeps answering meanwhile
	sleep 0.5
done
t1=$(date +%s%N)
echo "default retention trimmed to $left events in $(( (t1 - t0) / 1000000 )) ms; daemon RSS $(mib "$(kib VmRSS)"), peak $(mib "$(kib VmHWM)")"
