#!/bin/bash
# GitOps end to end, with the real daemon, git and hello (issue 12):
#  1. webhook: R pushes of a new hello version (replicas 1, readiness on
#     /healthz, rolling), each followed by a GitHub push webhook; from just
#     before `git push` to the Applied event, to the new revision's first
#     InstanceStarted and to its Healthy (the daemon's event times);
#  2. poll: a Source with `interval: 5s` and no webhook; R pushes placed
#     across the interval (push i waits (i-1)*5s/R after the last was
#     seen), from just before `git push` until `slipway get source` shows
#     the pushed SHA as commit.sha (polled every 50 ms);
#  3. monorepo: N apps, apps/appNNNN/app.yaml each (`sleep`, no readiness,
#     no route), one Source listing the N directories (a path does not
#     enter subdirectories); apply -> all N apps listed as its own, the
#     daemon's VmRSS / VmHWM, then a one-app commit (webhook) -> that app's
#     new revision's first instance started, the other N-1 still at
#     revision 1. With a fresh state dir.
# Median and max (ms) over R; a table at the end. VIA=git serves the
# repositories from a git daemon on 127.0.0.1 (git://) instead of file://.
# LOG=FILE keeps the daemon's log. Ports: API 35990, git daemon 35991, instances 36000-37999.
#   bench/gitops.sh [R] [N]          (R = 5, N = 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
R=${1:-5}
N=${2:-1000}
VIA=${VIA:-file}
API=35990
GITD=35991
# shellcheck disable=SC2034 # used by daemon.sh
NAME=gitops PORTS=36000-37999
# shellcheck source=bench/daemon.sh
. bench/daemon.sh
HELLO=$ROOT/build/hello
GITD_PID='' PROBE=''
on_exit() {
	[ -n "$PROBE" ] && kill "$PROBE" 2>/dev/null
	[ -n "${LOG:-}" ] && cp "$T/serve.log" "$LOG"
	cleanup
	[ -n "$GITD_PID" ] && kill "$GITD_PID" 2>/dev/null
	true
}
trap on_exit EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0

ms() { date +%s%3N; }
die() { echo "gitops.sh: $*" >&2; echo "daemon log ($T/serve.log) ends:" >&2; tail -n 20 "$T/serve.log" >&2; exit 1; }
median_max() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)], a[NR]; else print "-", "-"}'; }
# until DEADLINE_S CMD...: polls CMD every 50 ms until it succeeds
until_ok() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.05
	done
}
jget() { python3 -c "import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

# repositories: bare $T/git/NAME.git, work clone $T/git/NAME
repo_init() {
	git init -q --bare -b main "$T/git/$1.git"
	git init -q -b main "$T/git/$1"
	git -C "$T/git/$1" config user.name Bench
	git -C "$T/git/$1" config user.email bench@example.com
	git -C "$T/git/$1" remote add origin "$T/git/$1.git"
}
commit() { git -C "$T/git/$1" add -A && git -C "$T/git/$1" commit -q -m "$2"; }
push() { git -C "$T/git/$1" push -q origin HEAD:refs/heads/main; }
head_sha() { git -C "$T/git/$1" rev-parse HEAD; }
url() { if [ "$VIA" = git ]; then echo "git://127.0.0.1:$GITD/$1.git"; else echo "file://$T/git/$1.git"; fi; }

printf 'bench secret\n' >"$T/secret"
webhook() { # webhook SOURCE: a GitHub push of main, signed; fails unless 202
	local body='{"ref":"refs/heads/main","repository":{"clone_url":"x"}}' sig code
	sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac 'bench secret' | awk '{print $NF}')
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$API/v1/sources/$1/webhook" \
		-H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: sha256=$sig" \
		-H 'Content-Type: application/json' --data "$body")
	[ "$code" = 202 ] || die "webhook of $1 answered $code"
}

hello_doc() { # hello_doc VERSION
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: hello}
spec:
  version: "$1"
  run:
    command: ["$HELLO", "--port", "\${PORT}"]
  replicas: 1
  readiness: {http: {path: /healthz}}
YAML
}
sleep_doc() { # sleep_doc NAME VERSION
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: $1}
spec:
  version: "$2"
  run: {command: ["sleep", "100000"]}
YAML
}
source_doc() { # source_doc NAME PATHS EXTRA
	cat <<YAML
apiVersion: slipway/v1
kind: Source
metadata: {name: $1}
spec:
  url: $(url "$1")
  path: $2
$3
YAML
}

# app_is APP REVISION: the app's stable revision is REVISION and it is Healthy
app_is() {
	"$BIN" get apps "$1" -o json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
a = j["apps"][0] if "apps" in j else j
sys.exit(0 if a["stableRevision"] == int(sys.argv[1]) and a["phase"] == "Healthy" else 1)' "$2"
}
source_at() { "$BIN" get source "$1" -o json 2>/dev/null | grep -A1 '"commit": {' | grep -q "\"$2\""; }

if [ "$VIA" = git ]; then
	mkdir -p "$T/git"
	git daemon --listen=127.0.0.1 --port=$GITD --base-path="$T/git" --export-all --reuseaddr \
		--enable=receive-pack "$T/git" >"$T/gitd.log" 2>&1 &
	GITD_PID=$!
	until_ok 10 bash -c "exec 9<>/dev/tcp/127.0.0.1/$GITD" 2>/dev/null || die "git daemon did not start"
fi

start --api "127.0.0.1:$API"

# ---- 1. push -> webhook -> new revision started, Healthy
repo_init web
mkdir -p "$T/git/web/deploy"
hello_doc 1.0.0 >"$T/git/web/deploy/hello.yaml"
commit web "hello 1.0.0" && push web
source_doc web deploy "  interval: 24h
  webhook: {secretFile: $T/secret}" >"$T/web.yaml"
"$BIN" apply -f "$T/web.yaml" >/dev/null
until_ok 60 app_is hello 1 || die "hello revision 1 not Healthy"
: >"$T/web.times"
for i in $(seq 1 "$R"); do
	rev=$((i + 1))
	hello_doc "$rev.0.0" >"$T/git/web/deploy/hello.yaml"
	commit web "hello $rev.0.0"
	t0=$(ms)
	push web
	t1=$(ms)
	webhook web
	until_ok 60 app_is hello "$rev" || die "hello revision $rev not Healthy"
	echo "$rev $t0 $t1" >>"$T/web.times"
done
"$BIN" events hello --json --limit 0 >"$T/web.events"
python3 - "$T/web.times" "$T/web.events" >"$T/web.ms" <<'PY'
import json, sys, re
from datetime import datetime
def epoch(s): return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
ev = json.load(open(sys.argv[2]))["events"]
def first(kind, pat):
    for e in ev:
        if e["kind"] == kind and re.search(pat, e["message"]):
            return epoch(e["time"])
    sys.exit("no %s event matching %r" % (kind, pat))
for line in open(sys.argv[1]):
    rev, t0, t1 = map(int, line.split())
    a = first("Applied", r"applied revision %d\b" % rev)
    s = first("InstanceStarted", r"\(revision %d\)" % rev)
    h = first("Healthy", r"^revision %d is fully" % rev)
    print(t1 - t0, a - t0, s - t0, h - t0)
PY
read -r push_m push_x < <(awk '{print $1}' "$T/web.ms" | median_max)
read -r appl_m appl_x < <(awk '{print $2}' "$T/web.ms" | median_max)
start_m=0 start_x=0 healthy_m=0 healthy_x=0
read -r start_m start_x < <(awk '{print $3}' "$T/web.ms" | median_max)
read -r healthy_m healthy_x < <(awk '{print $4}' "$T/web.ms" | median_max)
echo "webhook, $R pushes (ms from just before git push: push done, Applied, InstanceStarted, Healthy):"
sed 's/^/  /' "$T/web.ms"

# ---- 2. poll mode, interval 5s
repo_init poll
mkdir -p "$T/git/poll/deploy"
sleep_doc poller 1 >"$T/git/poll/deploy/poller.yaml"
commit poll "poller 1" && push poll
source_doc poll deploy "  interval: 5s" >"$T/poll.yaml"
"$BIN" apply -f "$T/poll.yaml" >/dev/null
until_ok 30 source_at poll "$(head_sha poll)" || die "source poll did not sync"
: >"$T/poll.ms"
for i in $(seq 1 "$R"); do
	# place the push at (i-1)/R of the interval after the last sync seen
	sleep "$(awk -v i="$i" -v r="$R" 'BEGIN {printf "%.3f", (i - 1) * 5 / r}')"
	sleep_doc poller "$((i + 1))" >"$T/git/poll/deploy/poller.yaml"
	commit poll "poller $((i + 1))"
	sha=$(head_sha poll)
	t0=$(ms)
	push poll
	until_ok 30 source_at poll "$sha" || die "source poll did not reach $sha"
	echo $(($(ms) - t0)) >>"$T/poll.ms"
done
read -r poll_m poll_x < <(median_max <"$T/poll.ms")
echo "poll (5s), $R pushes (ms to commit.sha): $(tr '\n' ' ' <"$T/poll.ms")"

# ---- 3. monorepo of N apps, fresh daemon and state
stop
rm -rf "$SLIPWAY_STATE_DIR"
start --api "127.0.0.1:$API"
rss_idle=$(kib VmRSS)
repo_init mono
paths=
for i in $(seq -f %04g 1 "$N"); do
	mkdir -p "$T/git/mono/apps/app$i"
	sleep_doc "app$i" 1 >"$T/git/mono/apps/app$i/app.yaml"
	paths="$paths${paths:+, }apps/app$i"
done
commit mono "$N apps" && push mono
source_doc mono "[$paths]" "  interval: 24h
  webhook: {secretFile: $T/secret}" >"$T/mono.yaml"
owned() { [ "$("$BIN" get apps -o json | grep -c '"owner": "mono"')" -ge "$N" ]; }
# started and ready (these apps have no probe: ready once spawned);
# instancesRunning counts an instance from the moment it is asked for
running() {
	[ "$("$BIN" get apps -o json | jget 'sum(a["ready"] for a in j["apps"])')" -ge "$N" ]
}
# meanwhile, how long a small API call waits (GET /v1/sources/mono, every
# 100 ms): probe_start; ...; probe_stop sets api_max (ms) and api_n
probe_start() {
	: >"$T/api.lat"
	(while :; do
		curl -s -o /dev/null -w '%{time_total}\n' --unix-socket "$SLIPWAY_STATE_DIR/slipway.sock" \
			http://slipway/v1/sources/mono >>"$T/api.lat" || true
		sleep 0.1
	done) &
	PROBE=$!
}
probe_stop() {
	kill "$PROBE"
	wait "$PROBE" 2>/dev/null || true
	PROBE=''
	api_max=$(awk '$1 > m {m = $1} END {printf "%d", m * 1000}' "$T/api.lat")
	api_n=$(wc -l <"$T/api.lat")
}
probe_start
t0=$(ms)
"$BIN" apply -f "$T/mono.yaml" >/dev/null
until_ok 300 owned || die "not all $N apps owned by mono after 300 s"
first_sync=$(($(ms) - t0))
until_ok 300 running || die "not all $N instances running after 300 s"
all_running=$(($(ms) - t0))
probe_stop
sync_api_max=$api_max sync_api_n=$api_n
synced_at=$("$BIN" events --json --limit 0 | jget '[e["time"] for e in j["events"] if e["kind"] == "Synced"][-1]')
synced_ms=$(($(date -d "$synced_at" +%s%3N) - t0))
rss=$(kib VmRSS) hwm=$(kib VmHWM)
synced_msg=$("$BIN" events --json --limit 0 | jget '[e["message"] for e in j["events"] if e["kind"] == "Synced"][-1]')
# one app changed
k=$(printf %04g $(((N + 1) / 2)))
sleep_doc "app$k" 2 >"$T/git/mono/apps/app$k/app.yaml"
commit mono "app$k 2"
probe_start
t0=$(ms)
push mono
webhook mono
started2() { "$BIN" events "app$k" --json --limit 20 | grep -q "(revision 2) started"; }
until_ok 60 started2 || die "app$k revision 2 did not start"
probe_stop
started_at=$("$BIN" events "app$k" --json --limit 20 |
	jget '[e["time"] for e in j["events"] if e["kind"] == "InstanceStarted" and "(revision 2)" in e["message"]][0]')
change_ms=$(($(date -d "$started_at" +%s%3N) - t0))
applied_at=$("$BIN" events "app$k" --json --limit 20 |
	jget '[e["time"] for e in j["events"] if e["kind"] == "Applied" and "revision 2" in e["message"]][0]')
change_applied=$(($(date -d "$applied_at" +%s%3N) - t0))
change_msg=$("$BIN" events --json --limit 0 | jget '[e["message"] for e in j["events"] if e["kind"] == "Synced"][-1]')
read -r at1 at2 other < <("$BIN" get apps -o json | jget '" ".join(map(str, [
	sum(1 for a in j["apps"] if a["revision"] == 1 and a["name"] != "app'"$k"'"),
	sum(1 for a in j["apps"] if a["revision"] == 2 and a["name"] == "app'"$k"'"),
	sum(1 for a in j["apps"] if a["revision"] not in (1, 2))]))')
rss2=$(kib VmRSS) hwm2=$(kib VmHWM)
echo "monorepo: first sync: $synced_msg"
echo "monorepo: change: $change_msg"

echo
echo "GitOps, VIA=$VIA, R=$R, N=$N ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '| %-62s | %-22s |\n' "figure" "median / max (ms)"
printf '| %-62s | %-22s |\n' "git push itself" "$push_m / $push_x"
printf '| %-62s | %-22s |\n' "webhook: push -> Applied (fetched, synced)" "$appl_m / $appl_x"
printf '| %-62s | %-22s |\n' "webhook: push -> new revision's first InstanceStarted" "$start_m / $start_x"
printf '| %-62s | %-22s |\n' "webhook: push -> Healthy" "$healthy_m / $healthy_x"
printf '| %-62s | %-22s |\n' "poll 5s: push -> commit.sha (pushes spread over the interval)" "$poll_m / $poll_x"
printf '| %-62s | %-22s |\n' "monorepo: apply Source -> Synced event ($N created)" "$synced_ms"
printf '| %-62s | %-22s |\n' "monorepo: apply Source -> $N apps owned (get apps)" "$first_sync"
printf '| %-62s | %-22s |\n' "monorepo: apply Source -> $N instances running" "$all_running"
printf '| %-62s | %-22s |\n' "monorepo: slowest GET /v1/sources/mono meanwhile ($sync_api_n calls)" "$sync_api_max"
printf '| %-62s | %-22s |\n' "monorepo: one-app commit -> Applied (fetched, synced)" "$change_applied"
printf '| %-62s | %-22s |\n' "monorepo: one-app commit -> its revision 2 started" "$change_ms"
printf '| %-62s | %-22s |\n' "monorepo: slowest GET /v1/sources/mono meanwhile ($api_n calls)" "$api_max"
printf '| %-62s | %-22s |\n' "monorepo: others still at revision 1" "$at1 of $((N - 1)) (changed app at 2: $at2, other: $other)"
printf '| %-62s | %-22s |\n' "daemon VmRSS idle (fresh)" "$(mib "$rss_idle")"
printf '| %-62s | %-22s |\n' "daemon VmRSS / VmHWM after first sync ($N running)" "$(mib "$rss") / $(mib "$hwm")"
printf '| %-62s | %-22s |\n' "daemon VmRSS / VmHWM after the change" "$(mib "$rss2") / $(mib "$hwm2")"
if [ "$at1" -ne $((N - 1)) ] || [ "$at2" -ne 1 ]; then die "other apps got a new revision"; fi
