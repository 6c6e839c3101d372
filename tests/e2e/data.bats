#!/usr/bin/env bats
# What the daemon keeps and gives back: logs as bytes, events page by page
# and kept within bounds, revision hashes that say nothing of secrets.

load helpers

@test "logs keep every byte: what is not UTF-8 is shown as \\xHH, and the instance stays listed" {
	start_daemon
	cat > "$T/app.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata: {name: bytes}
spec:
  version: "1.0.0"
  run:
    command: ["sh", "-c", "printf 'before \\\\300\\\\200 lone \\\\200 cut \\\\342\\\\202 after \\\\342\\\\202\\\\254\\\\n'; exec $HELLO_BIN --port \${PORT}"]
YAML
	slipway apply -f "$T/app.yaml" --wait
	wait_for 10 eval 'slipway logs bytes | grep -q listening'
	run slipway logs bytes
	[ "$status" -eq 0 ]
	[[ "$output" == *'[bytes-1] before \xC0\x80 lone \x80 cut \xE2\x82 after €'* ]]
	run slipway logs bytes --instance bytes-1 --json
	[ "$status" -eq 0 ]
	[[ "$output" == *'"id":"bytes-1"'* ]]
	[[ "$output" == *'before \\xC0\\x80 lone \\x80 cut \\xE2\\x82 after €'* ]]
	# the offset counts the bytes of the file, all of them read
	[[ "$output" == *"\"offset\":$(stat -c %s "$T/state/logs/bytes/bytes-1.log")"* ]]
	run curl -s --unix-socket "$T/state/slipway.sock" "http://slipway/v1/apps/bytes/logs"
	[[ "$output" == *'"id": "bytes-1"'* || "$output" == *'"id":"bytes-1"'* ]]
}
