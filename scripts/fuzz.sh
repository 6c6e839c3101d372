#!/bin/bash
# Longer fuzzing than `make test` does: `make fuzz TARGET=spec FUZZ_SECONDS=600`
# (TARGET=all runs each target in turn). New inputs go to a temporary dir,
# crashes to tests/fuzz/crash-* (git-ignored); add interesting inputs to
# tests/fuzz/corpus/TARGET/ by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-all}
seconds=${2:-60}
targets=()
if [ "$target" = all ]; then
	for t in build-fuzz/tests/fuzz/fuzz_*; do
		[ -f "$t" ] && [ -x "$t" ] && targets+=("$(basename "$t" | sed 's/^fuzz_//')")
	done
else
	targets=("$target")
fi
for name in "${targets[@]}"; do
	bin=build-fuzz/tests/fuzz/fuzz_$name
	if [ ! -x "$bin" ]; then
		have=$(for f in build-fuzz/tests/fuzz/fuzz_*; do [ -f "$f" ] && [ -x "$f" ] && printf '%s ' "${f##*/fuzz_}"; done)
		echo "fuzz: no target \"$name\" (have: $have)" >&2
		exit 2
	fi
	work=$(mktemp -d)
	echo "== fuzz $name for ${seconds}s"
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=tests/fuzz/ "$work" "tests/fuzz/corpus/$name" 2>&1 | tail -3
	rm -rf "$work"
done
