#!/usr/bin/env bats
# Crash recovery under chaos (issue 5, item 2): tests/chaos/chaos.sh kills
# `slipway serve` at random moments of canary and blue/green rollouts
# under load, and `slipway proxy` 5 times, and checks the state after
# every trial. Seeded: CHAOS_SEED=N reproduces a run. Here 12 serve kills
# (CHAOS_TRIALS), to keep `make test` short; `make chaos` runs 30.

load helpers

setup() { :; }
teardown() { :; }

@test "chaos: kill -9 of serve and proxy mid-rollout leaves no inconsistency" {
	run env SLIPWAY_BIN="$SLIPWAY_BIN" HELLO_BIN="$HELLO_BIN" CHAOS_TRIALS="${CHAOS_TRIALS:-12}" \
		CHAOS_PORT_BASE="$(port_base)" timeout 240 \
		"$BATS_TEST_DIRNAME/../chaos/chaos.sh"
	printf '%s\n' "$output" | grep -E 'CHAOS_SEED|INCONSISTENCY|summary|^  ' >&3 || true
	printf '%s\n' "$output" | tail -60
	[ "$status" -eq 0 ]
	[[ "$output" == *"inconsistencies found: 0"* ]]
}
