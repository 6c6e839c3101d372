#!/bin/bash
# Runs Slipway's tests and ends with one line "N passed, N failed".
#   scripts/test.sh all|fast|checks|unit|e2e|e2e-asan|asan|fuzz
# checks: the dependency rule and a warning-free release build,
# unit: cmocka tests (build/), e2e: bats scenarios against build/slipway,
# asan: the unit tests built with ASan+UBSan (build-asan/),
# e2e-asan: the CLI-heavy e2e files against build-asan/slipway; any
#   sanitizer report fails,
# fuzz: every libFuzzer target over its corpus, FUZZ_BUDGET seconds shared (build-fuzz/),
# fast: checks, unit and e2e (the loop while working: no sanitizers, no fuzzing).
set -u
cd "$(dirname "$0")/.." || exit 2
mode=${1:-all}
passed=0
failed=0
failures=()
# FUZZ_SECONDS per target when set; else FUZZ_BUDGET seconds (160) shared
# by the targets, at least 4 each: the suite's time stays put as targets
# come (long sessions: make fuzz TARGET=NAME FUZZ_SECONDS=600)
FUZZ_BUDGET=${FUZZ_BUDGET:-160}

# Counts "ok" / "not ok" lines of TAP read from stdin; echoes them through.
count_tap() {
	local label=$1 line
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case "$line" in
		"not ok"*) failed=$((failed + 1)); failures+=("$label: $line") ;;
		"ok"*) passed=$((passed + 1)) ;;
		esac
	done
}

run_unit() {
	local dir=$1 label=$2 t rc
	for t in "$dir"/tests/unit/test_*; do
		if [ ! -f "$t" ] || [ ! -x "$t" ]; then continue; fi
		echo "# $label $(basename "$t")"
		local out
		# from the build dir, as `meson test` runs them (tests find ../examples)
		out=$(cd "$dir" && CMOCKA_MESSAGE_OUTPUT=TAP HELLO_BIN="$PWD/hello" \
			ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			timeout 300 "./tests/unit/$(basename "$t")" 2>&1)
		rc=$?
		count_tap "$label $(basename "$t")" < <(printf '%s\n' "$out")
		if [ $rc -ne 0 ] && ! grep -q '^not ok' <<<"$out"; then
			# crashed or sanitizer report without a TAP failure line
			failed=$((failed + 1))
			failures+=("$label $(basename "$t"): exited $rc")
			printf '%s\n' "$out" | tail -30
		fi
	done
}

# Seconds each e2e file took on 2 cores (for splitting them into streams;
# a file not listed counts 30).
declare -A e2e_seconds=([rollout_state]=165 [progressive]=156 [chaos]=60 [upgrade]=53
	[core]=44 [hooks]=42 [proxy]=39 [traffic]=33 [security]=29 [degraded]=15 [data]=14
	[demo]=60 [gitops]=90 [gitops_writeback]=40 [gitops_diff]=25 [gitops_templates]=15 [secrets_age]=35
	[depends]=40 [promotion]=55 [two_hosts]=25 [gitservers]=5 [hello]=4 [argo]=1 [windows]=50
	[pipeline]=4 [overlays]=30 [pipeline_run]=8 [pipeline_results]=3 [pipeline_daemon]=25)

# The bats files run in E2E_STREAMS (default 3) parallel streams, each
# file whole in one stream, split by their seconds: the tests mostly wait
# for state, so three streams take about 0.4 of the time on 2 cores (476 s
# against 1,100 s in one stream, with two other agents busy). Each
# stream has its own ports (tests/e2e/helpers.bash). Stream 0 prints as it
# goes, the others when they are done.
run_e2e() {
	[ -d tests/e2e ] || return 0
	ls tests/e2e/*.bats >/dev/null 2>&1 || return 0
	local streams=${E2E_STREAMS:-3} f name s best
	local -a sum files outs pids
	for ((s = 0; s < streams; s++)); do sum[s]=0; files[s]=""; done
	# heaviest first, each to the stream with the least so far
	while read -r _ f; do
		best=0
		for ((s = 1; s < streams; s++)); do
			[ "${sum[s]}" -lt "${sum[best]}" ] && best=$s
		done
		name=$(basename "$f" .bats)
		sum[best]=$((sum[best] + ${e2e_seconds[$name]:-30}))
		files[best]+=" $f"
	done < <(for f in tests/e2e/*.bats; do
		name=$(basename "$f" .bats)
		echo "${e2e_seconds[$name]:-30} $f"
	done | sort -rn)
	for ((s = 0; s < streams; s++)); do
		outs[s]=$(mktemp)
		echo "# e2e stream $s (~${sum[s]}s):${files[s]}"
	done
	for ((s = 1; s < streams; s++)); do
		# shellcheck disable=SC2086
		E2E_STREAM=$s E2E_STREAMS=$streams SLIPWAY_BIN="$PWD/build/slipway" \
			HELLO_BIN="$PWD/build/hello" timeout 900 bats --tap ${files[s]} >"${outs[s]}" 2>&1 &
		pids[s]=$!
	done
	# shellcheck disable=SC2086
	E2E_STREAM=0 E2E_STREAMS=$streams SLIPWAY_BIN="$PWD/build/slipway" \
		HELLO_BIN="$PWD/build/hello" timeout 900 bats --tap ${files[0]} 2>&1 | tee "${outs[0]}"
	for ((s = 1; s < streams; s++)); do
		wait "${pids[s]}"
		echo "# e2e stream $s"
		cat "${outs[s]}"
	done
	for ((s = 0; s < streams; s++)); do
		count_tap "e2e $s" < "${outs[s]}" >/dev/null
		rm -f "${outs[s]}"
	done
}

run_fuzz() {
	local t name corpus n=0 secs
	for t in build-fuzz/tests/fuzz/fuzz_*; do
		if [ -f "$t" ] && [ -x "$t" ]; then n=$((n + 1)); fi
	done
	secs=${FUZZ_SECONDS:-$((n ? FUZZ_BUDGET / n : FUZZ_BUDGET))}
	[ "$secs" -ge 4 ] || secs=4
	for t in build-fuzz/tests/fuzz/fuzz_*; do
		if [ ! -f "$t" ] || [ ! -x "$t" ]; then continue; fi
		name=$(basename "$t" | sed 's/^fuzz_//')
		corpus=tests/fuzz/corpus/$name
		mkdir -p "$corpus"
		work=$(mktemp -d)
		echo "# fuzz $name ${secs}s"
		if "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
			-artifact_prefix="$work/" "$work" "$corpus" >"$work/log" 2>&1; then
			passed=$((passed + 1))
			echo "ok fuzz $name: $(grep -o 'Done [0-9]* runs' "$work/log" | tail -1)"
		else
			failed=$((failed + 1))
			failures+=("fuzz $name")
			echo "not ok fuzz $name"
			# what the target said (libFuzzer's progress lines left out)
			# and the input that failed, to reproduce it from the CI log
			grep -v '^#[0-9]' "$work/log" | tail -60
			for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
				[ -f "$a" ] || continue
				echo "# input $(basename "$a") as base64 (base64 -d > x; $t x):"
				head -c 4096 "$a" | base64
			done
		fi
		rm -rf "$work"
	done
}

# The CLI-heavy e2e files against the ASan+UBSan build (daemon, proxy and
# every CLI call): a sanitizer report of any of their processes fails the
# run, named by its pid, with the report. The e2e tests pass on a normal
# build where a use after free or a leak goes unseen (get freed an answer
# twice; the tests still saw the right output and exit code).
E2E_ASAN_FILES=${E2E_ASAN_FILES:-cli_get cli_apply cli_logs cli_rollout data gitops promotion pipeline overlays pipeline_run}
run_e2e_asan() {
	[ -x build-asan/slipway ] || return 0
	local logs f files=() rep s out0 out1 pid
	logs=$(mktemp -d)
	for f in $E2E_ASAN_FILES; do files+=("tests/e2e/$f.bats"); done
	echo "# e2e under ASan, two streams: ${files[*]}"
	# two streams, the files dealt alternately (they wait on deadlines
	# more than they compute, as the e2e phase's streams do)
	local -a part0=() part1=()
	for ((s = 0; s < ${#files[@]}; s++)); do
		if ((s % 2)); then part1+=("${files[s]}"); else part0+=("${files[s]}"); fi
	done
	out0=$(mktemp) out1=$(mktemp)
	asan_bats() { # asan_bats STREAM OUT FILE...
		local stream=$1 out=$2
		shift 2
		[ $# -gt 0 ] || return 0
		E2E_ASAN=1 E2E_STREAM=$stream E2E_STREAMS=2 SLIPWAY_BIN="$PWD/build-asan/slipway" \
			HELLO_BIN="$PWD/build/hello" \
			ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0:exitcode=86:log_path=$logs/asan" \
			UBSAN_OPTIONS="print_stacktrace=1:log_path=$logs/ubsan" \
			timeout 900 bats --tap "$@" >"$out" 2>&1
	}
	asan_bats 1 "$out1" "${part1[@]}" &
	pid=$!
	asan_bats 0 "$out0" "${part0[@]}"
	wait "$pid"
	cat "$out0" "$out1"
	count_tap "e2e-asan" < <(cat "$out0" "$out1") >/dev/null
	rm -f "$out0" "$out1"
	for rep in "$logs"/*; do
		[ -f "$rep" ] || continue
		failed=$((failed + 1))
		failures+=("e2e-asan: sanitizer report $(basename "$rep")")
		echo "not ok sanitizer report $(basename "$rep") during the e2e tests under ASan"
		grep -v '^ *$' "$rep" | head -40 | sed 's/^/#   /'
	done
	[ -n "$(ls -A "$logs")" ] || { passed=$((passed + 1)); echo "ok no sanitizer report during the e2e tests under ASan"; }
	rm -rf "$logs"
}

# The dependency rule of DESIGN.md, by the includes (scripts/check-deps.sh),
# and a packager's release build (-O3, no -Werror) without a warning.
run_checks() {
	echo "# checks"
	count_tap deps < <(./scripts/check-deps.sh)
	if [ -d build-release ]; then
		local log
		log=$(ninja -C build-release 2>&1)
		if grep -q 'warning:' <<<"$log"; then
			failed=$((failed + 1))
			failures+=("release build has warnings")
			echo "not ok release build (meson -Dbuildtype=release) without warnings"
			grep 'warning:' <<<"$log" | head -20
		else
			passed=$((passed + 1))
			echo "ok release build (meson -Dbuildtype=release) without warnings"
		fi
	fi
}

case "$mode" in
checks) run_checks ;;
unit) run_checks; run_unit build unit ;;
e2e) run_e2e ;;
fast) run_checks; run_unit build unit; run_e2e ;;
asan) run_unit build-asan asan ;;
e2e-asan) run_e2e_asan ;;
fuzz) run_fuzz ;;
all)
	# each phase's seconds, printed at the end: what to trim when the
	# suite nears its 20 minutes
	t0=$SECONDS
	run_checks
	run_unit build unit
	t1=$SECONDS
	run_e2e
	t2=$SECONDS
	# neither is timing-sensitive: the fuzz targets run beside the ASan
	# unit tests (one core each), their TAP counted when both are done
	fuzz_log=$(mktemp)
	( run_fuzz > "$fuzz_log" 2>&1 ) &
	fuzz_pid=$!
	run_unit build-asan asan
	wait "$fuzz_pid"
	count_tap fuzz < "$fuzz_log"
	rm -f "$fuzz_log"
	t3=$SECONDS
	# alone, in two streams: its tests wait with deadlines, and ASan is slow enough
	run_e2e_asan
	echo "# seconds: checks+unit $((t1 - t0)), e2e $((t2 - t1)), asan unit+fuzz $((t3 - t2))," \
		"e2e-asan $((SECONDS - t3))"
	;;
*) echo "usage: $0 all|fast|checks|unit|e2e|e2e-asan|asan|fuzz" >&2; exit 2 ;;
esac

if [ ${#failures[@]} -gt 0 ]; then
	echo "# failures:"
	printf '#   %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
