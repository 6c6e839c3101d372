#!/bin/bash
# What starting a step costs (src/pipeline/exec.c): one job of STEPS (200)
# steps of `true`, run by `slipway pipeline run` with the bubblewrap
# sandbox and without it (--sandbox none). Each step's duration, as the
# run reports it (spawn, the shell, exit, the pipe's EOF, reading its
# files), median and p95 in ms; and the run's wall time per step. For
# scale, bwrap's own start (`bwrap ... true`, the sandbox's namespaces)
# timed alone, and bash's (`bash -c true`). Issue 14's goal: at most
# 10 ms per step with the sandbox.
#   bench/pipeline-step.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/${BUILD:-build}/slipway
STEPS=${1:-200}
work=$(mktemp -d /tmp/slipway-bench-step.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/.slipway"
{
	printf 'apiVersion: slipway/v1\nkind: Pipeline\nmetadata: {name: steps}\nspec:\n  jobs:\n    steps:\n      steps:\n'
	for ((i = 0; i < STEPS; i++)); do printf '        - run: "true"\n'; done
} >"$work/.slipway/pipeline.yaml"

# stats < numbers: "median M ms, p95 P ms"
stats() {
	sort -n | awk '{v[NR]=$1} END {m=v[int((NR+1)/2)]; p=v[int(NR*0.95+0.999)]; printf "median %.1f ms, p95 %.1f ms", m, p}'
}

now_ns() { date +%s%N; }

each() { # each N COMMAND...: per run of COMMAND, in ms, one line each
	local n=$1 t0 t1
	shift
	for ((i = 0; i < n; i++)); do
		t0=$(now_ns)
		"$@" >/dev/null 2>&1
		t1=$(now_ns)
		echo "scale=3; ($t1 - $t0) / 1000000" | bc
	done
}

for sandbox in bwrap none; do
	cd "$work"
	t0=$(now_ns)
	"$BIN" pipeline run --sandbox "$sandbox" >"$work/out-$sandbox" || { cat "$work/out-$sandbox"; exit 1; }
	t1=$(now_ns)
	per_step=$(grep -o '": success in [0-9]*ms' "$work/out-$sandbox" | grep -o '[0-9]*' | stats)
	wall=$(echo "scale=2; ($t1 - $t0) / 1000000 / $STEPS" | bc)
	printf '%-22s %s; run wall time %s ms per step\n' "steps, sandbox $sandbox:" "$per_step" "$wall"
	cd - >/dev/null
done
printf '%-22s %s\n' "bwrap ... true alone:" "$(each 50 bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp \
	--unshare-pid --die-with-parent true | stats)"
printf '%-22s %s\n' "bash -c true alone:" "$(each 50 bash --noprofile --norc -c true | stats)"
