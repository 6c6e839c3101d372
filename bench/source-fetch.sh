#!/bin/bash
# The source module's cost per GitOps poll (bench/source_fetch.c): a
# file:// repository of N (1,000) small App documents, a first fetch, then
# ROUNDS (10) one-file commits, each fetched incrementally and all N files
# read at it; VIA=git over git:// from a git daemon on 127.0.0.1. Builds
# build/bench_source first (BUILD= for another build dir).
#   bench/source-fetch.sh [N] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ninja -C "$BUILD" bench_source >/dev/null
exec nice "$BUILD/bench_source" "${1:-1000}" "${2:-10}"
