#!/usr/bin/env bats
# Argo Rollouts users: their documents, as Argo's own examples write them
# (examples/argo/, unchanged from the argo-rollouts repository), become
# Slipway documents that `validate` accepts, and every field left behind
# is reported with its position. No daemon: import and validate are offline.

load helpers
bats_require_minimum_version 1.5.0

# The helpers' setup (a private temp dir, no daemon started) and teardown stay.
argo_examples() { cd "$BATS_TEST_DIRNAME/../../examples/argo"; }

@test "import argo: the analysis-step example and its templates validate, with exact warnings" {
	argo_examples
	run --separate-stderr "$SLIPWAY_BIN" import argo rollout-analysis-step.yaml analysis-templates.yaml \
		cluster-analysis-templates.yaml
	[ "$status" -eq 1 ]
	[ "$stderr" = 'rollout-analysis-step.yaml:14:3: spec.revisionHistoryLimit is not carried over
rollout-analysis-step.yaml:25:9: spec.template.spec.containers[0].image "argoproj/rollouts-demo:blue" cannot be run: Slipway runs commands, not images (there is no run.image yet); fill in spec.run.command
analysis-templates.yaml:19:7: spec.metrics[0].provider.job runs its container'"'"'s command on this host (exec); image "alpine:3.8" is not used
analysis-templates.yaml:45:7: spec.metrics[0].provider.job runs its container'"'"'s command on this host (exec); image "alpine:3.8" is not used
cluster-analysis-templates.yaml:14:9: spec.metrics[0].provider.job runs its container'"'"'s command on this host (exec); image "alpine:3.8" is not used' ]
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/out.yaml"
	run "$SLIPWAY_BIN" validate "$BATS_TEST_TMPDIR/out.yaml"
	[ "$status" -eq 0 ]
	[ "$output" = 'app/rollout-analysis-step valid (version blue, 4 replicas)
analysistemplate/pass valid
analysistemplate/random-fail valid
analysistemplate/always-pass valid' ]
}

@test "import argo -o DIR: one file per document, a directory validate reads" {
	argo_examples
	run "$SLIPWAY_BIN" import argo -o "$BATS_TEST_TMPDIR/out" rollout-analysis-step.yaml analysis-templates.yaml \
		cluster-analysis-templates.yaml
	[ "$status" -eq 1 ]
	[ -f "$BATS_TEST_TMPDIR/out/app-rollout-analysis-step.yaml" ]
	[ -f "$BATS_TEST_TMPDIR/out/template-random-fail.yaml" ]
	run "$SLIPWAY_BIN" validate "$BATS_TEST_TMPDIR/out"
	[ "$status" -eq 0 ]
}

@test "import argo: a Rollout with a command carries over its probes, steps and the Service's port; only the image is reported" {
	cat >"$BATS_TEST_TMPDIR/r.yaml" <<'YAML'
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  progressDeadlineSeconds: 120
  template:
    spec:
      containers:
      - name: web
        image: example/web:1.2.3
        command: [./web]
        args: [--port, "${PORT}"]
        ports: [{containerPort: 8080, name: http}]
        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 2}
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {duration: 10}
      - pause: {}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{port: 18080, targetPort: 8080}]
YAML
	run --separate-stderr "$SLIPWAY_BIN" import argo "$BATS_TEST_TMPDIR/r.yaml"
	[ "$stderr" = "$BATS_TEST_TMPDIR/r.yaml:11:9: spec.template.spec.containers[0].image \"example/web:1.2.3\" is not used: Slipway runs commands, not images (there is no run.image yet); its command is run on this host" ]
	[ "$status" -eq 1 ]
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/out.yaml"
	grep -q 'listen: "127.0.0.1:18080"' "$BATS_TEST_TMPDIR/out.yaml"
	grep -q 'duration: "10s"' "$BATS_TEST_TMPDIR/out.yaml"
	grep -q 'period: "2s"' "$BATS_TEST_TMPDIR/out.yaml"
	run "$SLIPWAY_BIN" validate "$BATS_TEST_TMPDIR/out.yaml"
	[ "$status" -eq 0 ]
	[ "$output" = 'app/web valid (version 1.2.3, 2 replicas)' ]
}

@test "import argo: traffic routing is reported with its position" {
	printf 'apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  strategy:\n    canary:\n      trafficRouting: {istio: {}}\n' >"$BATS_TEST_TMPDIR/t.yaml"
	run --separate-stderr "$SLIPWAY_BIN" import argo "$BATS_TEST_TMPDIR/t.yaml"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"t.yaml:7:7: spec.strategy.canary.trafficRouting is not supported; traffic goes through Slipway's proxy"* ]]
}
