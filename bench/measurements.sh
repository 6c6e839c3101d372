#!/bin/bash
# Daemon memory while an app's analysis measurements are read.
# Deploys one app (hello, no route), then inserts N measurements of it
# (default 1,000,000) straight into state.db with sqlite3, starts the
# daemon on them with measurement retention off (so that all of them
# stay), lists every one through GET /v1/apps/APP/analysis page by page,
# newest first, following "next", 1000 a page, and reports the daemon's
# RSS before, its peak (VmHWM) and RSS after, and the time taken; then
# `slipway analysis` with --limit, --revision and --limit 0 (all of them,
# streamed forwards). BIN= measures another build (one before paging
# answers the whole table in one response: try it with N=100000).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
NAME=measurements PORTS=31100-31199
. bench/daemon.sh
HELLO=${HELLO:-$ROOT/build/hello}

cat >"$T/app.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: measured}
spec:
  version: "1.0.0"
  run:
    command: ["$HELLO", "--port", "\${PORT}"]
YAML
start
"$BIN" apply -f "$T/app.yaml" --wait >/dev/null
stop

now=$(($(date +%s) * 1000))
t0=$(date +%s%N)
# 20 revisions' worth, 50 runs each, with the text a real measurement has
sqlite3 "$T/state/state.db" <<SQL
PRAGMA journal_mode=WAL;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO measurements (time_ms, app, revision, run, kind, template, metric, provider,
                          query, value, condition, outcome, reason)
SELECT $now - ($N - i), 'measured', 1 + i % 20, 1 + i % 50, 'step', 'golden', 'success-rate',
       'builtin', 'success-rate', '0.9987', 'result >= 0.99', 'Successful',
       'success-rate 0.9987 (1523 requests) met result >= 0.99' FROM n;
SQL
echo "inserted $N measurements in $(ms_since "$t0") ms ($(du -h "$T/state/state.db" | cut -f1) on disk)"

start --keep-measurements 0,0
"$BIN" get apps >/dev/null
sleep 1
rss0=$(kib VmRSS)
t0=$(date +%s%N)
walk /v1/apps/measured/analysis? outcome
echo "listed $seen measurements in $pages pages in $(ms_since "$t0") ms"
echo "daemon RSS before $(mib "$rss0"), peak $(mib "$(kib VmHWM)"), after $(mib "$(kib VmRSS)")"
for args in "--limit 1000" "--revision 7 --limit 100" "--limit 0"; do
	t0=$(date +%s%N)
	lines=$("$BIN" analysis measured $args 2>/dev/null | wc -l || true)
	echo "slipway analysis measured $args: $((lines - 1)) measurements in $(ms_since "$t0") ms"
done
echo "daemon RSS after the CLI calls $(mib "$(kib VmRSS)"), peak $(mib "$(kib VmHWM)")"
