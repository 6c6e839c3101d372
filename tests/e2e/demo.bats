#!/usr/bin/env bats
# `make demo` (scripts/demo.sh) as the README runs it: a live canary under
# load, v2 promoted to Healthy, v3 (10% errors) rolled back by itself,
# nothing left running.

@test "make demo: v2 reaches Healthy, v3 is rolled back by its analysis, no request failed for want of a backend, nothing left running" {
	cd "$BATS_TEST_DIRNAME/../.."
	run timeout 300 ./scripts/demo.sh
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Healthy"*"revision 2 is fully rolled out"* ]]
	[[ "$output" == *"rollout of revision 3 aborted: analysis of step"*"golden/success-rate"*"revision 2 keeps serving"* ]]
	[[ "$output" == *"Stable:     revision 2 (version 2.0.0), 2/2 ready"* ]]
	# hey saw answers only (200s and v3's injected 500s), no connection error
	[[ "$output" == *"Status code distribution:"* ]]
	[[ "$output" != *"Error distribution:"* ]]
	[[ "$output" == *"done"* ]]
	# its temporary state dir is gone, and so is everything it started
	run pgrep -f '/tmp/slipway-demo\.'
	[ "$status" -ne 0 ]
}
