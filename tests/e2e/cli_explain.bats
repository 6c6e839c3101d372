#!/usr/bin/env bats
# slipway explain: the field reference as a kubectl user reads it, from the
# tables that validate documents. Offline: no daemon is started (the
# helpers' setup points SLIPWAY_STATE_DIR at a dir where none runs).

load helpers
bats_require_minimum_version 1.5.0

REPO=$(realpath "$BATS_TEST_DIRNAME/../..")

@test "explain app: the kind, its description and its top fields, with no daemon" {
	run "$SLIPWAY_BIN" explain app
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "KIND:        App" ]
	[ "${lines[1]}" = "VERSION:     slipway/v1" ]
	[[ "$output" == *"DESCRIPTION:"* ]]
	[[ "$output" == *"FIELDS:
    apiVersion   <string>   -required-
        Always \"slipway/v1\".
    kind         <string>   -required-
        The kind of the document.
    metadata     <object>   -required-"* ]]
	[[ "$output" == *"    spec         <object>   -required-"* ]]
	# no daemon runs, and even a broken config file does not stop it
	mkdir -p "$T/cfg/slipway"
	echo 'current-context: [' >"$T/cfg/slipway/config"
	XDG_CONFIG_HOME=$T/cfg run "$SLIPWAY_BIN" explain app.spec.replicas
	[ "$status" -eq 0 ]
	[[ "$output" == *"DEFAULT:     1"* ]]
	XDG_CONFIG_HOME=$T/cfg run "$SLIPWAY_BIN" get apps
	[ "$status" -ne 0 ]
	# every spelling a kubectl user writes
	for kind in apps App APPS; do
		run "$SLIPWAY_BIN" explain "$kind"
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = "KIND:        App" ]
	done
	for kind in analysistemplate AnalysisTemplate analysistemplates at; do
		run "$SLIPWAY_BIN" explain "$kind"
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = "KIND:        AnalysisTemplate" ]
	done
}

@test "explain app.spec.strategy.canary.steps: type, default, required, one-of fields" {
	run "$SLIPWAY_BIN" explain app.spec.strategy.canary.steps
	[ "$status" -eq 0 ]
	[ "$output" = "KIND:        App
FIELD:       spec.strategy.canary.steps
TYPE:        list of object
DEFAULT:     none
REQUIRED:    no

DESCRIPTION:
    Run in order; each step has exactly one key. Without steps the new version
    goes straight to 100%.

FIELDS:
    setWeight        <integer, 0 to 100>   one of
        Send this share (0 to 100%) of requests to the new version.
    pause            <object>              one of
        Wait: \`pause: {duration: 10s}\` waits that long, \`pause: {}\` (or
        \`pause:\`) waits for \`slipway rollout promote\`.
    analysis         <object>              one of
        Run the templates' metrics; continue when they succeed, abort when one
        fails.
    setHeaderRoute   <object>              one of
        From this step on, requests with this header go to the new version." ]
}

@test "explain shows the parser's defaults and the one-of group a field is in" {
	run "$SLIPWAY_BIN" explain app.spec.liveness.period
	[ "$status" -eq 0 ]
	[[ "$output" == *"DEFAULT:     2s"* ]]
	run "$SLIPWAY_BIN" explain app.spec.strategy.blueGreen
	[ "$status" -eq 0 ]
	[[ "$output" == *"ONE OF:      rolling, canary, blueGreen (exactly one)"* ]]
	[[ "$output" == *"scaleDownDelay          <duration>   default 30s"* ]]
	# a list is crossed with or without an index, as error messages write it
	run "$SLIPWAY_BIN" explain 'at.spec.metrics[0].provider.compare.confidence'
	[ "$status" -eq 0 ]
	[[ "$output" == *"TYPE:        number, strictly between 0 and 1"* ]]
	[[ "$output" == *"DEFAULT:     0.98"* ]]
}

@test "explain: a typo gets validate's did-you-mean and exit 1" {
	run --separate-stderr "$SLIPWAY_BIN" explain app.spec.strategy.canary.stpes
	[ "$status" -eq 1 ]
	[ "$output" = "" ]
	[ "$stderr" = 'slipway explain: unknown field "stpes" in app.spec.strategy.canary (did you mean "steps"?)' ]
	# the same suggestion validate gives for the same typo in a document
	cat >"$T/app.yaml" <<-'EOF'
	apiVersion: slipway/v1
	kind: App
	metadata: {name: web}
	spec:
	  version: "1"
	  run: {command: [./web]}
	  strategy: {canary: {stpes: []}}
	EOF
	run --separate-stderr "$SLIPWAY_BIN" validate "$T/app.yaml"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *'unknown field "stpes" in spec.strategy.canary (did you mean "steps"?)' ]]

	run --separate-stderr "$SLIPWAY_BIN" explain ap.spec
	[ "$status" -eq 1 ]
	[ "$stderr" = 'slipway explain: unknown kind "ap" (did you mean "app"?); kinds: app, analysistemplate, patch, source, environment, pipeline' ]
	run --separate-stderr "$SLIPWAY_BIN" explain app.spec.replicas.max
	[ "$status" -eq 1 ]
	[ "$stderr" = 'slipway explain: unknown field "max" in app.spec.replicas: replicas is a value (integer) and has no fields' ]
	run "$SLIPWAY_BIN" explain app spec
	[ "$status" -eq 2 ]
}

@test "explain with no kind lists every kind, Patch, Source (brought by gitops), Environment and Pipeline too" {
	run "$SLIPWAY_BIN" explain
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "KINDS:" ]
	[[ "$output" == *"
    App
        An app: "*"
    AnalysisTemplate
        A list of metrics."*"
    Patch
        An environment's part of a base App"*"
    Source
        A git repository to deploy from"*"
    Environment
        An environment (dev, staging, prod...)"*"
    Pipeline
        A pipeline: jobs that build, test and deploy"* ]]
	run "$SLIPWAY_BIN" explain -o json
	[ "$status" -eq 0 ]
	python3 -c 'import json, sys
j = json.loads(sys.argv[1])
assert [k["kind"] for k in j] == ["App", "AnalysisTemplate", "Patch", "Source", "Environment", "Pipeline"], j
assert all(k["description"] for k in j), j' "$output"
}

@test "explain source: its fields, types, defaults and descriptions like any kind" {
	for kind in source Source sources; do
		run "$SLIPWAY_BIN" explain "$kind"
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = "KIND:        Source" ]
	done
	[[ "$output" == *"    spec         <object>   -required-
        Where the documents are, how often to look, and what a sync may do."* ]]
	run "$SLIPWAY_BIN" explain source.spec.syncPolicy
	[ "$status" -eq 0 ]
	[[ "$output" == *"FIELD:       spec.syncPolicy"* ]]
	[[ "$output" == *"    automated    <boolean>   default true
        Apply new commits as they are fetched"* ]]
	[[ "$output" == *"    prune        <boolean>   default false"* ]]
	run "$SLIPWAY_BIN" explain source.spec.interval
	[[ "$output" == *"TYPE:        duration, at least 1s"* ]]
	[[ "$output" == *"DEFAULT:     1m"* ]]
	run "$SLIPWAY_BIN" explain source.spec --recursive
	[[ "$output" == *"    path               <string, or list of string>   default [\".\"]"* ]]
	[[ "$output" == *"      knownHostsFile   <string>"* ]]
	run --separate-stderr "$SLIPWAY_BIN" explain source.spec.syncPolicy.prnue
	[ "$status" -eq 1 ]
	[ "$stderr" = 'slipway explain: unknown field "prnue" in source.spec.syncPolicy (did you mean "prune"?)' ]
}

@test "explain --recursive prints the whole tree of names and types" {
	run "$SLIPWAY_BIN" explain app.spec.readiness --recursive
	[ "$status" -eq 0 ]
	[[ "$output" == *"FIELDS:
    http               <object>                   one of
      path             <string>                   default /
      port             <integer, 1 to 65535>      default the instance's \${PORT}
    tcp                <object>                   one of
      port             <integer, 1 to 65535>      default the instance's \${PORT}
    exec               <object>                   one of
      command          <list of string>           -required-
    period             <duration, more than 0s>   default 1s"* ]] || { echo "$output"; false; }
	run "$SLIPWAY_BIN" explain app --recursive
	[ "$status" -eq 0 ]
	[[ "$output" == *"          setWeight "* ]]
	[[ "$output" == *"        drainTimeout "* ]]
}

@test "explain -o json: the same for scripts, and every path it lists explains" {
	run "$SLIPWAY_BIN" explain app.spec.replicas -o json
	[ "$status" -eq 0 ]
	python3 -c 'import json, sys
j = json.loads(sys.argv[1])
assert j["kind"] == "App" and j["field"] == "spec.replicas", j
assert j["type"] == "integer" and j["range"] == "1 to 1000" and j["default"] == 1, j
assert j["required"] is False and j["description"], j' "$output"
	for kind in app analysistemplate source pipeline; do
		"$SLIPWAY_BIN" explain "$kind" --recursive -o json >"$T/$kind.json"
		python3 -c 'import json, sys
def walk(prefix, fields):
    for f in fields:
        print(prefix + "." + f["name"])
        walk(prefix + "." + f["name"], f.get("fields", []))
walk(sys.argv[2], json.load(open(sys.argv[1]))["fields"])' "$T/$kind.json" "$kind" >"$T/$kind.paths"
		[ "$(wc -l <"$T/$kind.paths")" -gt 20 ]
		while read -r path; do
			"$SLIPWAY_BIN" explain "$path" >/dev/null || { echo "explain $path failed"; false; }
		done <"$T/$kind.paths"
	done
}

@test "explain: every field path of the docs' own examples explains" {
	# the keys of every App, AnalysisTemplate and Source in docs/*.md's yaml blocks
	# and examples/*.yaml, as kind.path; env, labels and headers map names,
	# not fields, and templates, valueFrom are values
	python3 - "$REPO" >"$T/paths" <<-'EOF'
	import glob, re, sys, yaml
	root = sys.argv[1]
	texts = [open(f).read() for f in glob.glob(root + "/examples/*.yaml")]
	for f in glob.glob(root + "/docs/*.md"):
	    texts += re.findall(r"```yaml\n(.*?)\n```", open(f).read(), re.S)
	def walk(prefix, v):
	    if isinstance(v, list):
	        for item in v:
	            walk(prefix, item)
	    elif isinstance(v, dict):
	        for k, x in v.items():
	            print(prefix + "." + k)
	            if k not in ("env", "labels", "headers", "valueFrom", "templates"):
	                walk(prefix + "." + k, x)
	for t in texts:
	    try:
	        docs = list(yaml.safe_load_all(t))
	    except yaml.YAMLError:
	        continue
	    for d in docs:
	        if isinstance(d, dict) and d.get("kind") in ("App", "AnalysisTemplate", "Source"):
	            walk(d["kind"], {k: x for k, x in d.items()})
	EOF
	sort -u "$T/paths" >"$T/paths.sorted"
	[ "$(wc -l <"$T/paths.sorted")" -gt 40 ]
	while read -r path; do
		run "$SLIPWAY_BIN" explain "$path"
		[ "$status" -eq 0 ] || { echo "explain $path: $output"; false; }
	done <"$T/paths.sorted"
}
