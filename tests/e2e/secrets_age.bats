#!/usr/bin/env bats
# Secret values that live in git encrypted with age (docs/secrets.md):
# Debian's age and age-keygen against `slipway secret` in both directions,
# an App whose env value is an age file starting with the plaintext, the
# in-place rewrite of a file, and a value the daemon's key cannot open.

load helpers

setup() {
	e2e_setup
	need age age-keygen curl
}

# shop_doc VERSION ENV_ITEMS [SPEC_YAML]: an app on LISTEN whose env list
# is ENV_ITEMS (YAML list items, indented for run.env)
shop_doc() {
	cat <<YAML
# the shop's app; its secrets are encrypted to the ops key
apiVersion: slipway/v1
kind: App
metadata: {name: shop}
spec:
  version: "$1"
  run:
    command: ["$HELLO_BIN", "--port", "\${PORT}"]
    env:
$2
  readiness: {http: {path: /healthz}}
  route: {listen: "127.0.0.1:$LISTEN"}
${3:-}
YAML
}

# indent N: every line of stdin indented by N spaces
indent() { sed "s/^/$(printf '%*s' "$1" '')/"; }

@test "age interop: age's files open with slipway's keys and slipway's with age's, both ways" {
	cd "$T"
	run slipway secret keygen -o sw.key
	[ "$status" -eq 0 ]
	[ "$(stat -c %a sw.key)" = 600 ]
	[[ "$output" == "Public key: age1"* ]]
	sw_pub=${output#Public key: }
	grep -q "^# public key: $sw_pub$" sw.key
	age-keygen -o age.key 2>/dev/null
	age_pub=$(age-keygen -y age.key)
	# a key is never written over
	run slipway secret keygen -o sw.key
	[ "$status" -eq 1 ]
	[[ "$output" == *'cannot create "sw.key"'*"never overwritten"* ]]

	# age encrypts, slipway decrypts (armored and binary), with either key
	printf 'from age\n' | age -a -r "$sw_pub" > a1
	[ "$(slipway secret decrypt -i sw.key < a1)" = "from age" ]
	printf 'from age, binary' | age -r "$age_pub" > a2
	[ "$(slipway secret decrypt -i age.key < a2)" = "from age, binary" ]
	# slipway encrypts to both keys, age decrypts with either
	printf 'from slipway' | slipway secret encrypt -r "$sw_pub" --recipient "$age_pub" > s1
	head -1 s1 | grep -qx -- '-----BEGIN AGE ENCRYPTED FILE-----'
	[ "$(age -d -i age.key s1)" = "from slipway" ]
	[ "$(age -d -i sw.key s1)" = "from slipway" ]
	# a recipients file as age -R reads it, comments and all
	printf '# ops\n%s\n\n' "$age_pub" > recipients.txt
	printf 'via -R' | slipway secret encrypt -R recipients.txt > s2
	[ "$(age -d -i age.key s2)" = "via -R" ]
	# the wrong key: a clear error, nothing on stdout
	run slipway secret decrypt -i sw.key < a2
	[ "$status" -eq 1 ]
	[ "$output" = "slipway secret decrypt: no identity matches any recipient of this value" ]
	# a cut file: refused, never a shorter value
	head -c 100 a2 > cut
	run slipway secret decrypt -i age.key < cut
	[ "$status" -eq 1 ]
	[[ "$output" == "slipway secret decrypt: "* ]]
	run slipway secret encrypt -r age1notakey < /dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *'"age1notakey" is not an age recipient (age1...): '* ]]
}

@test "an App with an encrypted env value starts with the plaintext, which is shown nowhere" {
	secret="hunter2-$RANDOM-$RANDOM"
	mkdir -p "$T/state"
	slipway secret keygen -o "$T/state/age.key" 2> "$T/pub"
	pub=$(sed 's/^Public key: //' "$T/pub")
	armor=$(printf '%s\n' "$secret" | slipway secret encrypt -r "$pub")
	shop_doc 1.0.0 "      - name: GREETING
        value: hi
      - name: DB_PASSWORD
        valueFrom:
          age: |
$(printf '%s\n' "$armor" | indent 12)" > "$T/app.yaml"
	start_daemon   # its identity: the state dir's age.key
	grep -q "age identity $T/state/age.key: 1 key" "$T/daemon.log"
	run slipway apply -f "$T/app.yaml"
	[ "$status" -eq 0 ]
	wait_for 15 app_ready_at shop 1 1
	pid=$(instance_fields shop pid)
	tr '\0' '\n' < "/proc/$pid/environ" | grep -qx "DB_PASSWORD=$secret"
	# a second revision and a dry run, so that there is more to look at
	sed 's/version: "1.0.0"/version: "1.0.1"/' "$T/app.yaml" > "$T/v2.yaml"
	slipway apply -f "$T/v2.yaml" --dry-run > "$T/out" 2>&1
	slipway diff -f "$T/v2.yaml" >> "$T/out" 2>&1 || true
	slipway apply -f "$T/v2.yaml"
	wait_for 15 app_ready_at shop 2 1
	for cmd in "status shop" "status shop --json" "history shop" "history shop --json" "events" \
		"events --json" "get apps --json" "describe app shop" "logs shop"; do
		slipway $cmd >> "$T/out" 2>&1 || true
	done
	grep -q '"name": "DB_PASSWORD"' "$T/out"   # the outputs are really there
	absent "$secret" "$T/out"
	absent "BEGIN AGE" "$T/out"                 # masked like other secrets
	absent "$secret" "$T/daemon.log"
	# the store keeps the ciphertext only
	absent "$secret" "$T/state"
}

@test "secret encrypt --in-place encrypts the secret values and keeps every other byte" {
	slipway secret keygen -o "$T/ops.key" 2> "$T/pub"
	pub=$(sed 's/^Public key: //' "$T/pub")
	shop_doc 1.0.0 "      - name: DB_PASSWORD
        value: \"pa\$\$word\"   # rotated monthly
        secret: true
      - {name: API_KEY, value: k3y-4711, secret: true}
      - name: GREETING
        value: hi   # not a secret: stays" "---
# another document, untouched
apiVersion: slipway/v1
kind: AnalysisTemplate
metadata: {name: golden}
spec:
  metrics:
    - {name: rate, provider: {builtin: {metric: success-rate}}, successCondition: \"result > 0.9\"}" \
		> "$T/app.yaml"
	cp "$T/app.yaml" "$T/before.yaml"
	run slipway secret encrypt -r "$pub" --in-place "$T/app.yaml"
	[ "$status" -eq 0 ]
	[ "$output" = "$T/app.yaml: 2 secret values encrypted to 1 recipient" ]
	# the only lines gone are the two values; the comment moved up to valueFrom
	diff "$T/before.yaml" "$T/app.yaml" | grep '^<' > "$T/gone" || true
	[ "$(wc -l < "$T/gone")" -eq 2 ]
	grep -q 'value: "pa\$\$word"' "$T/gone"
	grep -q 'API_KEY, value: k3y-4711' "$T/gone"
	grep -q '^        valueFrom:   # rotated monthly$' "$T/app.yaml"
	diff <(grep -v -e '^            ' -e 'valueFrom' -e 'age: |' "$T/app.yaml") \
		<(grep -v -e 'value: "pa' -e 'API_KEY' "$T/before.yaml")
	absent 'k3y-4711' "$T/app.yaml"
	absent 'pa$$word' "$T/app.yaml"
	# it is valid, and age opens what it wrote ("$$" is one "$")
	slipway validate "$T/app.yaml"
	awk '/BEGIN AGE/ {f = 1} f {sub(/^ +/, ""); print} /END AGE/ {exit}' "$T/app.yaml" > "$T/first.age"
	[ "$(age -d -i "$T/ops.key" "$T/first.age")" = 'pa$word' ]
	# again: nothing left in clear, nothing changed
	cp "$T/app.yaml" "$T/after.yaml"
	run slipway secret encrypt -r "$pub" --in-place "$T/app.yaml"
	[ "$status" -eq 0 ]
	[[ "$output" == *"no secret value in clear"*"nothing changed" ]]
	cmp "$T/app.yaml" "$T/after.yaml"
	# the daemon gives the instance the values
	start_daemon --age-identity "$T/ops.key"
	slipway apply -f "$T/app.yaml"
	wait_for 15 app_ready_at shop 1 1
	pid=$(instance_fields shop pid)
	tr '\0' '\n' < "/proc/$pid/environ" | grep -qx 'DB_PASSWORD=pa$word'
	tr '\0' '\n' < "/proc/$pid/environ" | grep -qx 'API_KEY=k3y-4711'
}

@test "secret encrypt --in-place refuses a value with \${...} and changes nothing" {
	slipway secret keygen -o "$T/ops.key" 2> "$T/pub"
	pub=$(sed 's/^Public key: //' "$T/pub")
	shop_doc 1.0.0 "      - {name: TOKEN, value: abc, secret: true}
      - name: URL
        value: \"http://u:p@127.0.0.1:\${PORT}/\"
        secret: true" > "$T/app.yaml"
	cp "$T/app.yaml" "$T/before.yaml"
	run slipway secret encrypt -r "$pub" --in-place "$T/app.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == "slipway secret encrypt: $T/app.yaml:12:16: env URL of app \"shop\" (spec.run.env): its value uses \${...}"* ]]
	cmp "$T/app.yaml" "$T/before.yaml"
}

@test "a value the daemon's key cannot open: not started, the rollout fails at once, the old revision serves" {
	slipway secret keygen -o "$T/daemon.key" 2>/dev/null
	age-keygen -o "$T/other.key" 2>/dev/null
	other=$(age-keygen -y "$T/other.key")
	start_daemon --age-identity "$T/daemon.key"
	shop_doc 1.0.0 "      - {name: DB_PASSWORD, value: plain-for-now, secret: true}" > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml"
	wait_for 15 app_ready_at shop 1 1
	old=$(instance_fields shop pid)
	armor=$(printf 'new-pass' | age -a -r "$other")
	shop_doc 2.0.0 "      - name: DB_PASSWORD
        valueFrom:
          age: |
$(printf '%s\n' "$armor" | indent 12)" > "$T/v2.yaml"
	run slipway apply -f "$T/v2.yaml" --wait --timeout 30s
	[ "$status" -eq 1 ]
	wait_for 10 phase_is shop Degraded
	run slipway events --json
	[[ "$output" == *"env DB_PASSWORD: no identity matches any recipient of this value"* ]]
	# at once, not at the default progressDeadline: retrying cannot open it
	[[ "$(status_json shop)" == *"cannot start, and retrying cannot help"*"revision 1 keeps serving"* ]]
	# no process of revision 2 ever ran; revision 1's is the one there was
	[ "$(instance_fields shop pid)" = "$old" ]
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"hello from 1.0.0"* ]]
}

@test "bad age input: a cut value at apply, an unreadable identity at start" {
	slipway secret keygen -o "$T/k" 2> "$T/pub"
	pub=$(sed 's/^Public key: //' "$T/pub")
	# a line of the armor lost on its way into git
	armor=$(printf 'x' | slipway secret encrypt -r "$pub" | sed '2d')
	shop_doc 1.0.0 "      - name: DB_PASSWORD
        valueFrom:
          age: |
$(printf '%s\n' "$armor" | indent 12)" > "$T/app.yaml"
	run slipway validate "$T/app.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == "$T/app.yaml:12:11: valueFrom.age is not a usable age file: "* ]]
	start_daemon --age-identity "$T/k"
	run slipway apply -f "$T/app.yaml"
	[ "$status" -ne 0 ]
	[[ "$output" == *"app.yaml:12:11: valueFrom.age is not a usable age file: "* ]]
	run slipway get apps --json
	[[ "$output" != *shop* ]]
	stop_daemon
	# no identity at all: the daemon starts (the default key is optional),
	# and an app with an age value says why it cannot start
	mv "$T/k" "$T/k.away"
	start_daemon
	grep -q "no age identity ($T/state/age.key)" "$T/daemon.log"
	slipway secret keygen -o "$T/k2" 2> "$T/pub2"
	armor=$(printf 'x' | slipway secret encrypt -r "$(sed 's/^Public key: //' "$T/pub2")")
	shop_doc 1.0.0 "      - name: DB_PASSWORD
        valueFrom:
          age: |
$(printf '%s\n' "$armor" | indent 12)" > "$T/ok.yaml"
	slipway apply -f "$T/ok.yaml"
	wait_for 15 eval 'slipway events shop | grep -q "env DB_PASSWORD: the daemon has no age identity to open it"'
	[[ "$(slipway status shop)" == *"env DB_PASSWORD: the daemon has no age identity"* ]]
	stop_daemon
	# a named identity file that cannot be read stops the daemon at once
	run "$SLIPWAY_BIN" serve --age-identity "$T/missing.key"
	[ "$status" -eq 1 ]
	[[ "$output" == *"slipway serve: --age-identity: cannot read \"$T/missing.key\": No such file or directory"* ]]
	printf 'not a key\n' > "$T/bad.key"
	run "$SLIPWAY_BIN" serve --age-identity "$T/bad.key"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$T/bad.key:1: not an age identity (AGE-SECRET-KEY-1...)"* ]]
}

@test "a preDeploy hook's encrypted value its key cannot open fails the hook: the rollout aborts" {
	slipway secret keygen -o "$T/daemon.key" 2>/dev/null
	age-keygen -o "$T/other.key" 2>/dev/null
	start_daemon --age-identity "$T/daemon.key"
	shop_doc 1.0.0 "      - {name: GREETING, value: hi}" > "$T/v1.yaml"
	slipway apply -f "$T/v1.yaml"
	wait_for 15 app_ready_at shop 1 1
	armor=$(printf 'migrator-pass' | age -a -r "$(age-keygen -y "$T/other.key")")
	shop_doc 2.0.0 "      - {name: GREETING, value: hi}" "  hooks:
    preDeploy:
      - name: migrate
        command: \"true\"
        env:
          - name: MIGRATOR_PASSWORD
            valueFrom:
              age: |
$(printf '%s\n' "$armor" | indent 16)" > "$T/v2.yaml"
	run slipway apply -f "$T/v2.yaml" --wait --timeout 30s
	[ "$status" -eq 1 ]
	run slipway events shop
	[[ "$output" == *"env MIGRATOR_PASSWORD: no identity matches any recipient of this value"* ]]
	[[ "$output" != *migrator-pass* ]]
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"hello from 1.0.0"* ]]
}

@test "per environment: the staging key cannot open prod's values, and apply refuses a prod value that is not prod's alone" {
	cd "$T"
	slipway secret keygen -o staging.key 2>/dev/null
	slipway secret keygen -o prod.key 2>/dev/null
	staging=$(age-keygen -y staging.key)
	prod=$(age-keygen -y prod.key)
	cat >envs.yaml <<YAML
apiVersion: slipway/v1
kind: Environment
metadata: {name: staging}
spec:
  recipients: [$staging]
---
apiVersion: slipway/v1
kind: Environment
metadata: {name: prod}
spec:
  recipients: [$prod]
YAML
	start_daemon --age-identity staging.key --age-identity prod.key
	slipway apply -f envs.yaml
	run slipway describe environment prod
	[[ "$output" == *"Recipients:           $prod"* ]]
	[[ "$output" == *"Keys:                 1 of the daemon's open its values"* ]]
	# encrypt -e prod: prod's recipients, from the daemon or from the document
	printf 'prod-pw' | slipway secret encrypt -e prod >prod.age
	printf 'prod-pw' | slipway secret encrypt -e prod -f envs.yaml >prod-offline.age
	[ "$(age -d -i prod.key prod.age)" = prod-pw ]
	[ "$(slipway secret decrypt -i prod.key <prod-offline.age)" = prod-pw ]
	# the staging key opens neither, with age or with slipway
	run age -d -i staging.key prod.age
	[ "$status" -ne 0 ]
	run slipway secret decrypt -i staging.key <prod-offline.age
	[ "$status" -eq 1 ]
	[[ "$output" == *"no identity matches any recipient of this value"* ]]

	# prod's app starts with it: the daemon opens it with prod's key
	value() { printf '      - name: DB_PASSWORD\n        valueFrom:\n          age: |\n'; indent 12 <"$1"; }
	shop_doc 1.0.0 "$(value prod.age)" >v1.yaml
	slipway -e prod apply -f v1.yaml --wait
	pid=$(slipway -e prod status shop --json | sed -n 's/^ *"pid": \([0-9]*\),*$/\1/p' | head -1)
	tr '\0' '\n' <"/proc/$pid/environ" | grep -qx "DB_PASSWORD=prod-pw"

	# a staging value in prod is refused at apply, naming it; nothing changes
	printf 'staging-pw' | slipway secret encrypt -e staging >staging.age
	shop_doc 2.0.0 "$(value staging.age)" >v2.yaml
	run slipway -e prod apply -f v2.yaml
	[ "$status" -eq 1 ]
	[[ "$output" == "slipway: v2.yaml:"*": app \"prod/shop\": env DB_PASSWORD: valueFrom.age is not for environment prod: it does not open with its keys (encrypt it to its recipients: slipway secret encrypt -e prod)" ]]
	# and so is one that staging's key opens too
	printf 'both-pw' | slipway secret encrypt -e prod -r "$staging" >both.age
	shop_doc 2.0.0 "$(value both.age)" >v2.yaml
	run slipway -e prod apply -f v2.yaml
	[ "$status" -eq 1 ]
	[[ "$output" == *"env DB_PASSWORD: valueFrom.age opens with environment staging's key too; environment prod's values must be encrypted to its recipients only"* ]]
	[ "$(field revision "$(slipway -e prod status shop --json)")" = 1 ]

	# prod names a key the daemon was not given: a value for it does not
	# start, and revision 1 keeps serving
	slipway secret keygen -o new.key 2>/dev/null
	sed "s/$prod/$(age-keygen -y new.key)/" envs.yaml >envs-new.yaml
	slipway apply -f envs-new.yaml
	[[ "$(slipway describe environment prod)" == *"Keys:                 0 of the daemon's open its values"* ]]
	printf 'new-pw' | slipway secret encrypt -e prod >new.age
	shop_doc 3.0.0 "$(value new.age)" >v3.yaml
	slipway -e prod apply -f v3.yaml
	wait_for 15 eval 'slipway -e prod events shop | grep -q "env DB_PASSWORD: the daemon has no age key for environment prod"'
	[[ "$(curl -fsS "http://127.0.0.1:$LISTEN/")" == *"hello from 1.0.0"* ]]
	[ "$(slipway -e prod status shop --json | sed -n 's/^ *"pid": \([0-9]*\),*$/\1/p' | head -1)" = "$pid" ]
	absent prod-pw "$T/daemon.log"
	absent new-pw "$T/daemon.log"
}
