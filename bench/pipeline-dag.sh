#!/bin/bash
# What scheduling a 1,000-job pipeline costs (bench/pipeline_dag.c): parse
# and validate the document, plan it, and drive the scheduler through the
# whole run (every job started and finished); median of ROUNDS in ms.
# Issue 14's goal: under 1 s. Builds build/bench_pipeline_dag first
# (BUILD= for another build dir).
#   bench/pipeline-dag.sh [JOBS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ninja -C "$BUILD" bench_pipeline_dag >/dev/null
exec nice "$BUILD/bench_pipeline_dag" "${1:-1000}" "${2:-5}"
