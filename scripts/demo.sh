#!/bin/bash
# `make demo`: the main job on the embedded default, from git. In a
# temporary state dir: start the daemon with its TCP API, make a local git
# repository whose post-receive hook sends a signed webhook, and let a
# Source deploy hello v1 from it. Under steady load (hey), push v2: the
# webhook starts a fetch and the new commit rolls out through canary steps
# judged by analysis to Healthy. Push v3 with HELLO_ERROR_RATE=0.1: the
# analysis catches it, rolls back by itself, and writes the rollback back
# to git as a commit (writeBack.onAbort), so git and the host agree.
# Printed live; then a summary, the decision log and git's log. Exits 0 and
# leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/slipway
HELLO=$ROOT/build/hello
T=$(mktemp -d /tmp/slipway-demo.XXXXXX)
export SLIPWAY_STATE_DIR=$T/state
LISTEN=127.0.0.1:28080
API=127.0.0.1:28090
export GIT_AUTHOR_NAME="Ada Lovelace" GIT_AUTHOR_EMAIL=ada@example.com
export GIT_COMMITTER_NAME="Ada Lovelace" GIT_COMMITTER_EMAIL=ada@example.com
DAEMON='' LOAD=''

cleanup() {
	[ -n "$LOAD" ] && kill "$LOAD" 2>/dev/null
	if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
		kill -TERM "$DAEMON"
		wait "$DAEMON" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# app VERSION [ERROR_RATE]
app() {
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: hello}
spec:
  version: "$1"
  replicas: 2
  run:
    command: ["$HELLO", "--port", "\${PORT}"]
    env: {HELLO_ERROR_RATE: "${2:-0}"}
  readiness: {http: {path: /healthz}, period: 200ms}
  liveness: {http: {path: /healthz}, period: 1s}
  stop: {signal: SIGTERM, timeout: 5s, drainTimeout: 5s}
  route: {listen: "$LISTEN"}
  strategy:
    canary:
      steps:
        - setWeight: 20
        - analysis: {templates: [golden]}
        - setWeight: 50
        - analysis: {templates: [golden]}
---
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: golden}
spec:
  metrics:
    - name: success-rate
      interval: 1s
      count: 5
      successCondition: "result >= 0.99"
      provider: {builtin: {metric: success-rate, window: 5s}}
    - name: latency
      interval: 5s
      provider: {compare: {metric: latency, maxIncrease: 0.2}}
YAML
}

# push VERSION [ERROR_RATE]: commit hello at VERSION and push it; the
# repository's post-receive hook sends the webhook
push() {
	app "$@" >"$T/work/deploy/hello.yaml"
	git -C "$T/work" add deploy/hello.yaml
	git -C "$T/work" commit -qm "hello $1${2:+ with ${2} errors}"
	git -C "$T/work" push -q origin main 2>&1 | grep -v '^remote: *$' || true
}

say "starting slipway (state in $T/state, API on $API)"
"$BIN" serve --api "$API" --port-range 28100-28199 >"$T/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 1 100); do "$BIN" get apps >/dev/null 2>&1 && break; sleep 0.1; done

say "a git repository whose post-receive hook sends a signed webhook"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/hook-secret"
git init -q --bare -b main "$T/git/hello.git"
git clone -q "$T/git/hello.git" "$T/work" 2>/dev/null
mkdir -p "$T/work/deploy"
push 1.0.0
cat >"$T/git/hello.git/hooks/post-receive" <<HOOK
#!/bin/sh
body='{"ref":"refs/heads/main"}'
sig=\$(printf '%s' "\$body" | openssl dgst -sha256 -hmac "\$(cat $T/hook-secret)" | awk '{print \$NF}')
curl -fsS -X POST -H "X-Slipway-Signature: sha256=\$sig" --data "\$body" \\
  http://$API/v1/sources/hello/webhook >/dev/null && echo "webhook sent"
HOOK
chmod +x "$T/git/hello.git/hooks/post-receive"
cat "$T/git/hello.git/hooks/post-receive"

say "a Source: deploy what deploy/ holds at main, write rollbacks back to git"
cat >"$T/source.yaml" <<YAML
apiVersion: slipway/v1
kind: Source
metadata: {name: hello}
spec:
  url: file://$T/git/hello.git
  path: deploy
  webhook: {secretFile: $T/hook-secret}
  writeBack: {onAbort: true}
YAML
cat "$T/source.yaml"
"$BIN" apply -f "$T/source.yaml"
for _ in $(seq 1 100); do "$BIN" status hello >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN" rollout status hello --watch
for _ in $(seq 1 50); do curl -fsS "http://$LISTEN/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$LISTEN/"
"$BIN" get apps

say "steady load: hey, 100 requests/s for the whole demo"
hey -z 90s -c 4 -q 25 "http://$LISTEN/" >"$T/hey.txt" 2>&1 &
LOAD=$!
sleep 1

say "git push of 2.0.0 (healthy): canary 20% -> analysis -> 50% -> analysis -> 100%"
push 2.0.0
"$BIN" rollout status hello --watch || true

say "git push of 3.0.0 with 10% errors: the analysis must catch it"
push 3.0.0 0.1
if "$BIN" rollout status hello --watch; then
	echo "demo: 3.0.0 was not rolled back" >&2
	exit 1
fi

kill -INT "$LOAD" 2>/dev/null || true # hey prints its report on SIGINT
wait "$LOAD" 2>/dev/null || true
LOAD=

say "summary"
"$BIN" status hello
echo
echo "requests during the demo (hey):"
sed -n '/Status code distribution:/,/^$/p' "$T/hey.txt"
sed -n '/Error distribution:/,/^$/p' "$T/hey.txt"

say "decision log (slipway analysis hello)"
"$BIN" analysis hello | cut -c1-180

say "git and the host agree: the abort is a commit (git log), and each revision names its commit"
for _ in $(seq 1 100); do
	[ "$(git -C "$T/git/hello.git" rev-list --count main)" -ge 4 ] && break
	sleep 0.1
done
git -C "$T/git/hello.git" log --format='%h %an: %s' main
"$BIN" history hello | cut -c1-180

say "events"
"$BIN" events hello | grep -E "Applied|Synced|Weight|Analysis|Degraded|Healthy|Promoted|WrittenBack" | cut -c1-200

say "stopping slipway (instances and proxy stop with it)"
kill -TERM "$DAEMON"
wait "$DAEMON" || true
DAEMON=
echo "done"
