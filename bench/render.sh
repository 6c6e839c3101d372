#!/bin/bash
# What `slipway render` costs: APPS base Apps (the hello example's shape:
# run, env, readiness, route, strategy) in base/, one Patch each for dev,
# staging and prod in envs/ENV/ (replicas, env, route, a version in prod,
# another strategy in prod), one file per app. Each environment rendered
# ROUNDS times from the whole tree (`slipway render ENV -f .`), as a user
# or a CI job runs it: the median wall clock per environment, and the
# three together, in ms; and the documents printed. Offline: no daemon.
#   bench/render.sh [APPS] [ROUNDS]     default 1000 apps, 5 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/slipway
APPS=${1:-1000}
ROUNDS=${2:-5}
T=$(mktemp -d /tmp/slipway-bench-render.XXXXXX)
trap 'rm -rf "$T"' EXIT

D=$T/tree
mkdir -p "$D/base" "$D/envs/dev" "$D/envs/staging" "$D/envs/prod"
for ((i = 0; i < APPS; i++)); do
	cat >"$D/base/app$i.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: app$i, labels: {team: web}}
spec:
  version: "1.1.0"
  run:
    command: ["./hello", "--host", "127.0.0.1", "--port", "\${PORT}"]
    env: {HELLO_VERSION: "\${VERSION}", LOG_LEVEL: info, TRACE: "1"}
  replicas: 2
  readiness: {http: {path: /healthz}, period: 1s, timeout: 500ms}
  route: {listen: "127.0.0.1:8080", host: app$i.localhost}
  strategy: {rolling: {maxSurge: 1}}
YAML
	for env in dev staging; do
		cat >"$D/envs/$env/app$i.yaml" <<YAML
apiVersion: slipway/v1
kind: Patch
metadata: {name: app$i, environment: $env}
spec:
  replicas: 1
  run: {env: {LOG_LEVEL: debug}}
  route: {host: app$i.$env.localhost}
YAML
	done
	cat >"$D/envs/prod/app$i.yaml" <<YAML
apiVersion: slipway/v1
kind: Patch
metadata: {name: app$i, environment: prod}
spec:
  version: "1.0.0"
  replicas: 3
  run: {env: {LOG_LEVEL: warn, TRACE: null}}
  route: {host: app$i.example.com}
  strategy: {canary: {steps: [{setWeight: 20}, {pause: {duration: 10s}}]}}
YAML
done

now_ms() { date +%s%3N; }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

cd "$D"
total=0
for env in dev staging prod; do
	: >"$T/times"
	for ((r = 0; r < ROUNDS; r++)); do
		t0=$(now_ms)
		"$BIN" render "$env" -f . >"$T/out.yaml"
		echo $(($(now_ms) - t0)) >>"$T/times"
	done
	ms=$(median <"$T/times")
	docs=$(grep -c '^kind: App' "$T/out.yaml")
	total=$((total + ms))
	echo "render $env: $ms ms for $docs apps ($((4 * APPS)) files read, median of $ROUNDS)"
done
echo "render of $APPS apps x 3 environments: $total ms in all"
