#!/usr/bin/env bats
# logs and events as a kubectl user expects them: --tail in lines, events -f
# by long poll, the SSE stream of the event log.

load helpers

# An app whose instance writes 50 numbered lines, then serves.
chatty_yaml() {
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata:
  name: chatty
spec:
  version: "1.0.0"
  replicas: 1
  run:
    command: ["sh", "-c", "i=1; while [ \$i -le 50 ]; do echo line \$i; i=\$((i+1)); done; exec '$HELLO_BIN' --port \"\$PORT\""]
  readiness:
    http: {path: /healthz}
    period: 200ms
YAML
}

@test "logs --tail N prints the last N lines" {
	start_daemon
	chatty_yaml > "$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	wait_for 10 eval 'slipway logs chatty | grep -q "listening"'
	run slipway logs chatty --tail 3
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[0]}" == "[chatty-"*"] line 49" ]]
	[[ "${lines[1]}" == "[chatty-"*"] line 50" ]]
	[[ "${lines[2]}" == *"listening on 127.0.0.1:"* ]]
	run slipway logs chatty --tail 0
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run slipway logs chatty --tail lots
	[ "$status" -ne 0 ]
	[[ "$output" == *"number of lines"* ]]
}

@test "events -f prints a new event as it is recorded" {
	start_daemon
	slipway events -f > "$T/follow.out" 2>&1 &
	follower=$!
	wait_for 10 grep -q DaemonStarted "$T/follow.out"
	app_yaml hello 1.0.0 1 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml"
	wait_for 20 grep -q "Healthy .*revision 1 is fully rolled out" "$T/follow.out"
	kill "$follower"
	wait "$follower" 2>/dev/null || true
	grep -q "hello .*Applied" "$T/follow.out"
	# the follower waits in a long poll: the daemon logs no request storm,
	# and the API answers a long poll at once when newer events exist
	run slipway events --limit 1 --json
	[ "$status" -eq 0 ]
}

@test "the event log streams as Server-Sent Events, resumable by Last-Event-ID" {
	need curl
	start_daemon
	sock=$SLIPWAY_STATE_DIR/slipway.sock
	curl -sN --max-time 30 --unix-socket "$sock" -H 'Accept: text/event-stream' \
		'http://slipway/v1/events?watch=1' > "$T/sse.out" &
	streamer=$!
	wait_for 10 grep -q '^retry: ' "$T/sse.out"
	app_yaml hello 1.0.0 1 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml" --wait
	wait_for 10 grep -q '^event: Healthy' "$T/sse.out"
	kill "$streamer"
	wait "$streamer" 2>/dev/null || true
	grep -q '^event: Applied$' "$T/sse.out"
	grep -q '^data: {"id":.*"kind":"Applied"' "$T/sse.out"
	first=$(sed -n 's/^id: //p' "$T/sse.out" | head -1)
	# resume after the first: the second event comes first, from the log
	curl -sN --max-time 3 --unix-socket "$sock" -H 'Accept: text/event-stream' \
		-H "Last-Event-ID: $first" 'http://slipway/v1/events?watch=1' > "$T/resume.out" || true
	[ "$(sed -n 's/^id: //p' "$T/resume.out" | head -1)" -eq $((first + 1)) ]
	# a long poll with newer events answers at once; wait needs after
	run curl -s --max-time 10 --unix-socket "$sock" "http://slipway/v1/events?after=$first&wait=30s"
	[[ "$output" == *'"events":[{"id":'$((first + 1))* ]]
	run curl -s --unix-socket "$sock" "http://slipway/v1/events?wait=30s"
	[[ "$output" == *'wait needs after=ID'* ]]
}

@test "a long poll with nothing newer ends empty at its deadline" {
	need curl
	start_daemon
	sock=$SLIPWAY_STATE_DIR/slipway.sock
	last=$(slipway events --limit 1 --json | sed -n 's/^ *"id": \([0-9]*\),$/\1/p' | tail -1)
	run curl -s --max-time 20 --unix-socket "$sock" "http://slipway/v1/events?after=$last&wait=1s"
	[ "$status" -eq 0 ]
	[[ "$output" == '{"events":[],"next":null}' ]]
}

# app crashy VERSION COMMAND: one instance, a short progress deadline.
crashy_yaml() {
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata:
  name: crashy
spec:
  version: "$1"
  replicas: 1
  run:
    command: $2
  readiness:
    http: {path: /healthz}
    period: 200ms
  progressDeadline: 3s
YAML
}

@test "logs --failed shows a failed rollout's instances without their ids" {
	start_daemon
	crashy_yaml 1.0.0 "[\"$HELLO_BIN\", \"--port\", \"\${PORT}\"]" > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml" --wait
	slipway logs crashy -f > "$T/follow.out" 2>&1 &
	follower=$!
	wait_for 10 grep -q "listening" "$T/follow.out"
	crashy_yaml 2.0.0 '["sh", "-c", "echo boom at start; exit 3"]' > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml"
	wait_for 30 eval 'slipway logs crashy --failed | grep -q "boom at start"'
	# the follower saw the new instance crash, and its end when the rollout
	# gave up on it
	wait_for 20 grep -q "stopped] (revision 2: exited with status 3" "$T/follow.out"
	kill "$follower"
	wait "$follower" 2>/dev/null || true
	grep -q "^\[crashy-[0-9]*\] boom at start" "$T/follow.out"
	run slipway logs crashy --failed
	[ "$status" -eq 0 ]
	[[ "$output" == *"stopped] (revision 2: exited with status 3"* ]]
	[[ "$output" != *"listening"* ]]
	# plain logs: the running stable instance, and the failed one marked
	run slipway logs crashy
	[[ "$output" == *"listening"* ]]
	[[ "$output" == *"stopped] boom at start"* ]]
}

# app staged NAME VERSION: one instance that says "early", then "late" once
# $T/go1 exists, "after" once $T/go2 exists, then sleeps.
staged_yaml() {
	cat <<YAML
apiVersion: slipway/v1
kind: App
metadata:
  name: $1
spec:
  version: "$2"
  replicas: 1
  run:
    command: ["sh", "-c", "echo early $2; until [ -e '$T/go1' ]; do sleep 0.1; done; echo late $2; until [ -e '$T/go2' ]; do sleep 0.1; done; echo after $2; exec sleep 600"]
YAML
}

# The time now, as the event log prints it, to the millisecond.
now_rfc3339() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

@test "logs --since prints what was written since then, also after a daemon restart" {
	start_daemon
	staged_yaml staged 1.0.0 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml"
	wait_for 20 eval 'slipway logs staged | grep -q "early 1.0.0"'
	# once "early" is more than a second old, --since 1s leaves it out
	wait_for 10 eval '! slipway logs staged --since 1s | grep -q early'
	t1=$(now_rfc3339)
	touch "$T/go1"
	wait_for 10 eval 'slipway logs staged | grep -q "late 1.0.0"'
	run slipway logs staged --since "$t1"
	[ "$status" -eq 0 ]
	[[ "$output" == *"] late 1.0.0"* ]]
	[[ "$output" != *early* ]]
	run slipway logs staged --since 10m
	[[ "$output" == *"] early 1.0.0"* && "$output" == *"] late 1.0.0"* ]]
	# with --tail: the last N lines of what is since
	run slipway logs staged --since 10m --tail 1
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == *"] late 1.0.0" ]]
	run slipway logs staged --since yesterday
	[ "$status" -eq 2 ]
	[[ "$output" == *"--since"*"be a duration like 10m or a time like"* ]]
	# a daemon that crashed and came back adopts the instance and its index
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	start_daemon
	wait_for 20 eval 'slipway get instances | grep -q "staged-.*Running"'
	run slipway logs staged --since "$t1"
	[[ "$output" == *"] late 1.0.0"* && "$output" != *early* ]]
	wait_for 10 eval '! slipway logs staged --since 1s | grep -q late'
	t2=$(now_rfc3339)
	touch "$T/go2"
	wait_for 10 eval 'slipway logs staged | grep -q "after 1.0.0"'
	run slipway logs staged --since "$t2"
	[[ "$output" == *"] after 1.0.0"* && "$output" != *late* && "$output" != *early* ]]
	ls "$SLIPWAY_STATE_DIR"/logs/staged/*.log.idx
}

@test "logs -f waits for output in a long poll and follows a rollout's new instances" {
	need curl
	start_daemon
	sock=$SLIPWAY_STATE_DIR/slipway.sock
	staged_yaml staged 1.0.0 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml"
	wait_for 20 eval 'slipway logs staged | grep -q "early 1.0.0"'
	json=$(slipway logs staged --json)
	id=$(printf '%s\n' "$json" | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p')
	off=$(printf '%s\n' "$json" | sed -n 's/.*"offset": *\([0-9]*\).*/\1/p')
	# nothing new: the answer waits for the next write, and then has it
	curl -s --max-time 60 --unix-socket "$sock" \
		"http://slipway/v1/apps/staged/logs?offsets=$id:$off&wait=30s" > "$T/poll.out" &
	poller=$!
	wait_for 10 eval 'slipway logs staged | grep -q "early"'
	touch "$T/go1"
	wait "$poller"
	grep -q '"text":"late 1.0.0\\n"' "$T/poll.out"
	run curl -s --unix-socket "$sock" "http://slipway/v1/apps/staged/logs?wait=30s"
	[[ "$output" == *'wait needs offsets='* ]]
	# a follower sees the instance of the next revision start, with its
	# prefix, and the old one marked when it stops
	slipway logs staged -f > "$T/follow.out" 2>&1 &
	follower=$!
	wait_for 10 grep -q "\[$id\] late 1.0.0" "$T/follow.out"
	staged_yaml staged 2.0.0 > "$T/app.yaml"
	slipway apply -f "$T/app.yaml"
	wait_for 30 grep -q "\] early 2.0.0" "$T/follow.out"
	wait_for 30 grep -q "^\[$id stopped\]" "$T/follow.out"
	kill "$follower"
	wait "$follower" 2>/dev/null || true
	grep "early 2.0.0" "$T/follow.out" | grep -qv "^\[$id"
	run slipway logs staged -f --previous
	[ "$status" -eq 2 ]
}

@test "logs --previous shows what a restarted instance wrote before it crashed, and why" {
	start_daemon
	cat > "$T/app.yaml" <<YAML
apiVersion: slipway/v1
kind: App
metadata:
  name: flaky
spec:
  version: "1.0.0"
  replicas: 1
  run:
    command: ["sh", "-c", "if [ ! -e '$T/crashed' ]; then touch '$T/crashed'; echo boom before the crash; exit 3; fi; echo second run; exec sleep 600"]
YAML
	slipway apply -f "$T/app.yaml"
	wait_for 20 eval 'slipway logs flaky | grep -q "second run"'
	run slipway logs flaky --previous
	[ "$status" -eq 0 ]
	[[ "$output" == *" previous] (revision 1: exited with status 3, restarted)"* ]]
	[[ "$output" == *" previous] boom before the crash"* ]]
	[[ "$output" != *"second run"* ]]
	# plain logs: both runs, the way they were written
	run slipway logs flaky
	[[ "$output" == *"boom before the crash"*"second run"* ]]
}
