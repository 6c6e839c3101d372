#!/usr/bin/env bats
# Docs that cannot drift: every ```sh block of README.md and docs/*.md runs,
# as a user types it, against a real daemon (tests/docs/run-blocks.sh; the
# convention is in CONTRIBUTING.md, "Docs that run"). One test per file, so
# that a failure names it; the runner names the line and the command.

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
SLIPWAY_BIN=${SLIPWAY_BIN:-$ROOT/build/slipway}
export SLIPWAY_BIN

run_doc() {
	[ -f "$ROOT/$1" ] || skip "$1 is not in this tree"
	run nice "$ROOT/tests/docs/run-blocks.sh" "$1"
	printf '%s\n' "$output"
	# the blocks that do not run, with their reasons, in every run's report
	grep -E '^# (not-runnable|skip) ' <<<"$output" | sed 's/^/# /' >&3 || true
	[ "$status" -eq 0 ]
}

@test "every doc file has a test here" {
	for f in "$ROOT"/README.md "$ROOT"/docs/*.md; do
		grep -q "^@test \"docs: ${f#"$ROOT"/}\"" "$BATS_TEST_FILENAME"
	done
}

@test "docs: README.md" { run_doc README.md; }
@test "docs: docs/analysis.md" { run_doc docs/analysis.md; }
@test "docs: docs/api.md" { run_doc docs/api.md; }
@test "docs: docs/cli.md" { run_doc docs/cli.md; }
@test "docs: docs/documents.md" { run_doc docs/documents.md; }
@test "docs: docs/environments.md" { run_doc docs/environments.md; }
@test "docs: docs/hooks.md" { run_doc docs/hooks.md; }
@test "docs: docs/gitops.md" { run_doc docs/gitops.md; }
@test "docs: docs/secrets.md" { run_doc docs/secrets.md; }
@test "docs: docs/pipelines.md" { run_doc docs/pipelines.md; }

# The runner itself: a broken block fails naming its line and command, a
# not-runnable mark needs a reason, "# =>" checks output and exit status.
@test "run-blocks: names the file, line and command that failed, with its output" {
	mkdir -p "$ROOT/tests/docs/tmp-$$"
	d=tests/docs/tmp-$$
	cat >"$ROOT/$d/bad.md" <<'MD'
# A doc

```sh
slipway get apps
slipway status nosuch
slipway version
```

<!-- not-runnable: stands for your own file -->
```sh
slipway apply -f mine.yaml
```
MD
	run "$ROOT/tests/docs/run-blocks.sh" "$d/bad.md"
	cat >"$ROOT/$d/marks.md" <<'MD'
<!-- not-runnable: -->
```sh
false
```

```sh
slipway version
# => slipway
slipway status nosuch
# => exit 1
# => not found
slipway version
# => no such text
```
MD
	out1=$output status1=$status
	run "$ROOT/tests/docs/run-blocks.sh" "$d/marks.md"
	rm -rf "${ROOT:?}/$d"
	printf '%s\n---\n%s\n' "$out1" "$output"
	[ "$status1" -eq 1 ]
	[[ "$out1" == *"$d/bad.md:5: exited 1 (expected 0)"*'$ slipway status nosuch'*'| slipway: app "nosuch" not found'* ]]
	[[ "$out1" == *"not-runnable $d/bad.md:10: stands for your own file"* ]]
	[[ "$out1" != *"run  $d/bad.md:6"* ]]
	[ "$status" -eq 1 ]
	[[ "$output" == *"$d/marks.md:2: not-runnable block without a reason"* ]]
	[[ "$output" == *"$d/marks.md:12: output lacks \"no such text\""* ]]
	[[ "$output" != *"marks.md:9: exited"* && "$output" != *"marks.md:9: output lacks"* ]]
}
