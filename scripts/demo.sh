#!/bin/bash
# `make demo`: in a temporary state dir, start the daemon, deploy hello with
# two replicas, show its status, roll out a new version one instance at a
# time while polling it, and clean up. Exits 0 and leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/slipway
HELLO=$ROOT/build/hello
T=$(mktemp -d /tmp/slipway-demo.XXXXXX)
export SLIPWAY_STATE_DIR=$T/state
DAEMON=

cleanup() {
	if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
		kill -TERM "$DAEMON"
		wait "$DAEMON" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

app() { # app VERSION
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: hello}
spec:
  version: "$1"
  replicas: 2
  run:
    command: ["$HELLO", "--port", "\${PORT}"]
  readiness: {http: {path: /healthz}, period: 200ms}
  liveness: {http: {path: /healthz}, period: 1s}
  stop: {signal: SIGTERM, timeout: 5s}
YAML
}

say "starting the daemon (state in $T/state)"
"$BIN" serve --port-range 28000-28099 >"$T/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 1 100); do "$BIN" version >/dev/null && "$BIN" get apps >/dev/null 2>&1 && break; sleep 0.1; done

say "slipway apply -f hello.yaml   (version 1.0.0, 2 replicas)"
app 1.0.0 >"$T/hello.yaml"
"$BIN" apply -f "$T/hello.yaml" --wait
"$BIN" status hello
port=$("$BIN" status hello --json | sed -n 's/^ *"port": \([0-9]*\),*$/\1/p' | head -1)
printf '\ncurl 127.0.0.1:%s -> %s\n' "$port" "$(curl -fsS "http://127.0.0.1:$port/")"

say "rolling out version 2.0.0, one instance at a time"
app 2.0.0 >"$T/hello.yaml"
"$BIN" apply -f "$T/hello.yaml" --wait
"$BIN" status hello

say "history"
"$BIN" history hello

say "events"
"$BIN" events hello | tail -n 12

say "stopping the daemon (instances stop with it)"
kill -TERM "$DAEMON"
wait "$DAEMON" || true
DAEMON=
echo "done"
