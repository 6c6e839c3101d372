#!/bin/bash
# How long a promotion takes once its gates allow it: ROUNDS releases
# applied to dev, each promoted into staging (spec.promotion: {from: dev,
# soak: SOAK}), timed from the events the daemon records (wall clock, ms):
#  - dev Healthy + soak -> staging's Applied (promotion/staging): the
#    direct apply, the engine's own work;
#  - dev Healthy + soak -> WrittenBack (the commit pushed) and -> the
#    commit applied by the sync, for apps from a git Source with
#    writeBack (a bare repository on disk: file://).
#   bench/promotion.sh [ROUNDS]     SOAK=2s by default
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/slipway
HELLO=$ROOT/build/hello
ROUNDS=${1:-10}
SOAK=${SOAK:-2s}
SOAK_MS=$(( ${SOAK%s} * 1000 ))
T=$(mktemp -d /tmp/slipway-bench-promotion.XXXXXX)
export SLIPWAY_STATE_DIR=$T/state
DAEMON=
cleanup() {
	[ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

envs() {
	cat <<YAML
apiVersion: slipway/v1
kind: Environment
metadata: {name: dev}
spec: {ports: 31100-31129}
---
apiVersion: slipway/v1
kind: Environment
metadata: {name: staging}
spec:
  ports: 31130-31159
  promotion: {from: dev, soak: $SOAK}
YAML
}

app() { # app ENV VERSION PORT
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: pr, environment: $1}
spec:
  version: "$2"
  run: {command: ["$HELLO", "--port", "\${PORT}"]}
  readiness: {http: {path: /healthz}, period: 100ms}
  stop: {timeout: 2s}
  route: {listen: "127.0.0.1:$3"}
YAML
}

start() {
	rm -rf "$SLIPWAY_STATE_DIR"
	"$BIN" serve --port-range 31160-31189 "$@" >"$T/daemon.log" 2>&1 &
	DAEMON=$!
	for _ in $(seq 100); do "$BIN" get apps >/dev/null 2>&1 && break; sleep 0.1; done
	envs | "$BIN" apply -f - >/dev/null 2>&1
}
stop() {
	kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null || true
	DAEMON=
}

epoch_ms() { date -d "$1" +%s%3N; }
stats() { sort -n | awk '{a[NR]=$1; s+=$1} END {if (!NR) {print "no data"; exit} printf "median %d, max %d, mean %.1f (n=%d)\n", a[int((NR+1)/2)], a[NR], s/NR, NR}'; }
# the time of the first event line matching PATTERN in FILE
at() { grep -m1 -E "$2" "$1" | awk '{print $1}'; }
# the time dev's pr became Healthy with VERSION (the Healthy after its Applied)
healthy_at() {
	awk -v want="$1" '/ Applied / && index($0, "(version " want ")") {seen = 1; next}
		seen && / Healthy .*fully rolled out/ {print $1; exit}' "$T/dev.events"
}
# waits until staging's pr runs VERSION
staging_runs() {
	for _ in $(seq 600); do
		"$BIN" releases pr --json 2>/dev/null | tr -d '\n ' | grep -q "\"environment\":\"staging\",\"release\":\"$1\"" && return 0
		sleep 0.1
	done
	echo "staging never ran $1" >&2
	return 1
}

# ---- direct apply ----
start
app dev 0.0.1 31190 | "$BIN" apply -f - --wait >/dev/null 2>&1
app staging 0.0.1 31191 | "$BIN" apply -f - --wait >/dev/null 2>&1
for v in $(seq 1 "$ROUNDS"); do
	app dev "1.$v.0" 31190 | "$BIN" apply -f - --wait >/dev/null 2>&1
	staging_runs "1.$v.0"
done
"$BIN" -e dev events pr --limit 0 >"$T/dev.events"
"$BIN" -e staging events pr --limit 0 >"$T/staging.events"
: >"$T/direct"
for v in $(seq 1 "$ROUNDS"); do
	h=$(healthy_at "1.$v.0")
	a=$(at "$T/staging.events" " Applied .*promotion/staging .*\(version 1\.$v\.0\)")
	[ -n "$h" ] && [ -n "$a" ] || { echo "release 1.$v.0: events missing" >&2; continue; }
	echo $(( $(epoch_ms "$a") - $(epoch_ms "$h") - SOAK_MS )) >>"$T/direct"
done
stop

# ---- git, writeBack ----
start
git init -q --bare -b main "$T/shop.git"
git init -q -b main "$T/shop"
git -C "$T/shop" config user.name Bench && git -C "$T/shop" config user.email bench@example.com
git -C "$T/shop" remote add origin "$T/shop.git"
commit() { # commit DEV_VERSION STAGING_VERSION
	mkdir -p "$T/shop/deploy"
	{ app dev "$1" 31190; echo "---"; app staging "$2" 31191; } >"$T/shop/deploy/pr.yaml"
	git -C "$T/shop" add -A && git -C "$T/shop" commit -qm "dev $1" && git -C "$T/shop" push -q origin main
}
commit 0.0.1 0.0.1
cat <<YAML | "$BIN" apply -f - >/dev/null 2>&1
apiVersion: slipway/v1
kind: Source
metadata: {name: shop}
spec:
  url: file://$T/shop.git
  path: deploy
  writeBack: {}
YAML
staging_runs 0.0.1
for v in $(seq 1 "$ROUNDS"); do
	git -C "$T/shop" pull -q --rebase origin main
	staging=$(sed -n '/environment: staging/,$ s/^  version: "\(.*\)"/\1/p' "$T/shop/deploy/pr.yaml")
	commit "1.$v.0" "$staging"
	"$BIN" sync shop --wait >/dev/null
	staging_runs "1.$v.0"
done
"$BIN" -e dev events pr --limit 0 >"$T/dev.events"
"$BIN" -e staging events pr --limit 0 >"$T/staging.events"
: >"$T/commit"
: >"$T/synced"
for v in $(seq 1 "$ROUNDS"); do
	h=$(healthy_at "1.$v.0")
	w=$(at "$T/staging.events" " WrittenBack .*release 1\.$v\.0 ")
	a=$(at "$T/staging.events" " Applied .*source/shop .*\(version 1\.$v\.0\)")
	[ -n "$h" ] && [ -n "$w" ] && [ -n "$a" ] || { echo "release 1.$v.0 (git): events missing" >&2; continue; }
	echo $(( $(epoch_ms "$w") - $(epoch_ms "$h") - SOAK_MS )) >>"$T/commit"
	echo $(( $(epoch_ms "$a") - $(epoch_ms "$h") - SOAK_MS )) >>"$T/synced"
done

stop

# ---- across hosts: staging's daemon asks dev's (promotion.remote) ----
start --api 127.0.0.1:31058
"$BIN" token create bench-b --role viewer --environment dev >"$T/b.token" 2>/dev/null
B_STATE=$T/b
SLIPWAY_STATE_DIR=$B_STATE "$BIN" serve --port-range 31060-31099 >"$T/b.log" 2>&1 &
B_DAEMON=$!
trap 'kill -TERM "$B_DAEMON" 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do SLIPWAY_STATE_DIR=$B_STATE "$BIN" get apps >/dev/null 2>&1 && break; sleep 0.1; done
API_PORT=http://127.0.0.1:31058
cat <<YAML | SLIPWAY_STATE_DIR=$B_STATE "$BIN" apply -f - >/dev/null
apiVersion: slipway/v1
kind: Environment
metadata: {name: staging}
spec:
  ports: 31130-31159
  promotion: {from: dev, soak: $SOAK, remote: {api: "$API_PORT", tokenFile: "$T/b.token"}}
YAML
app dev 0.0.1 31190 | "$BIN" apply -f - --wait >/dev/null 2>&1
app staging 0.0.1 31191 | SLIPWAY_STATE_DIR=$B_STATE "$BIN" apply -f - --wait >/dev/null 2>&1
for v in $(seq 1 "$ROUNDS"); do
	app dev "1.$v.0" 31190 | "$BIN" apply -f - --wait >/dev/null 2>&1
	SLIPWAY_STATE_DIR=$B_STATE staging_runs "1.$v.0"
done
"$BIN" -e dev events pr --limit 0 >"$T/dev.events"
SLIPWAY_STATE_DIR=$B_STATE "$BIN" -e staging events pr --limit 0 >"$T/staging.events"
: >"$T/remote"
for v in $(seq 1 "$ROUNDS"); do
	h=$(healthy_at "1.$v.0")
	a=$(at "$T/staging.events" " Applied .*promotion/staging .*\(version 1\.$v\.0\)")
	[ -n "$h" ] && [ -n "$a" ] || { echo "release 1.$v.0 (remote): events missing" >&2; continue; }
	echo $(( $(epoch_ms "$a") - $(epoch_ms "$h") - SOAK_MS )) >>"$T/remote"
done
kill -TERM "$B_DAEMON" 2>/dev/null; wait "$B_DAEMON" 2>/dev/null || true

echo "promotion dev -> staging, soak $SOAK, $ROUNDS releases (ms after dev Healthy + soak):"
echo "  direct apply (Applied by promotion/staging):  $(stats <"$T/direct")"
echo "  git: commit pushed (WrittenBack):              $(stats <"$T/commit")"
echo "  git: the commit applied by the sync:           $(stats <"$T/synced")"
echo "  across hosts (asked every 3 s), Applied:       $(stats <"$T/remote")"
