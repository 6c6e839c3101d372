#!/bin/bash
# What sync windows cost (bench/window_check.c): loading a zone, parsing a
# cron expression, one next match, and sw_window_check for lists of 1 to
# 10 windows and two costly shapes, at ROUNDS (2,000) instants; median and
# p99 in microseconds. Builds build/bench_window first (BUILD= for another
# build dir).
#   bench/cron.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ninja -C "$BUILD" bench_window >/dev/null
exec nice "$BUILD/bench_window" "${1:-2000}"
