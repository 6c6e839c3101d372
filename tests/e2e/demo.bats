#!/usr/bin/env bats
# `make demo` (scripts/demo.sh) as the README runs it: pushes to a local
# git repository deploy through its webhook, a live canary under load, v2
# promoted to Healthy, v3 (10% errors) rolled back by itself and the
# rollback written back to git, nothing left running.

@test "make demo: a push deploys, v2 reaches Healthy, v3 is rolled back by its analysis and git says so, no request failed for want of a backend, nothing left running" {
	cd "$BATS_TEST_DIRNAME/../.."
	run timeout 300 ./scripts/demo.sh
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Healthy"*"revision 2 is fully rolled out"* ]]
	[[ "$output" == *"rollout of revision 3 aborted: analysis of step"*"golden/success-rate"*"revision 2 keeps serving"* ]]
	[[ "$output" == *"Stable:     revision 2 (version 2.0.0), 2/2 ready"* ]]
	# each push reached the daemon through the repository's webhook, and
	# each revision says which commit it came from
	[[ "$output" == *"remote: webhook sent"*"remote: webhook sent"* ]]
	[[ "$output" == *"applied revision 2 (version 2.0.0) from source hello at"* ]]
	[[ "$output" == *"2.0.0"*"hello 2.0.0"*"Ada Lovelace"* ]]
	# the abort is a commit in git on top of v3's
	[[ "$output" == *"Slipway: Roll back hello to "*"(revision 2)"*"Ada Lovelace: hello 3.0.0"* ]]
	# hey saw answers only (200s and v3's injected 500s), no connection error
	[[ "$output" == *"Status code distribution:"* ]]
	[[ "$output" != *"Error distribution:"* ]]
	[[ "$output" == *"done"* ]]
	# its temporary state dir is gone, and so is everything it started
	run pgrep -f '/tmp/slipway-demo\.'
	[ "$status" -ne 0 ]
}
