/*
 * The Pipeline document's field descriptions, for `slipway explain
 * pipeline` (spec/reference.h): the only place this prose lives in code.
 * tests/unit/test_spec_reference.c fails when a field of kind.c's tables
 * has none here, or a path here names no field.
 */
#include "pipeline_int.h"

#include <stddef.h>

const struct spec_ref_doc pipeline_docs[] = {
	{"",
	 "A pipeline: jobs that build, test and deploy a change, with needs between them (a DAG), "
	 "written like a GitHub Actions workflow and run by Slipway on this host, the same file "
	 "locally and on the daemon (docs/pipelines.md). Slice 1 reads, checks and plans it "
	 "(`slipway pipeline validate`, `graph`); running it comes next.", NULL},
	{"metadata.labels", "Labels for selecting pipelines (the rules of an App's labels).", NULL},
	{"spec", "What starts the pipeline and the jobs it runs.", NULL},
	{"spec.on",
	 "What starts a run: push, manual, schedule; a word (push), a list of words, or a mapping.",
	 "manual"},
	{"spec.on.push",
	 "A push to a Source's repository starts a run (`push:` alone: every push).", NULL},
	{"spec.on.push.source", "The Source whose pushes count.", "any Source"},
	{"spec.on.push.branches",
	 "Branch patterns (GitHub's: * within a name, ** across /); a push to another branch "
	 "starts nothing.", "every branch"},
	{"spec.on.push.branches-ignore", "Branch patterns whose pushes start nothing.", NULL},
	{"spec.on.push.paths",
	 "Path patterns; a push changing none of these files starts nothing.", "every path"},
	{"spec.on.push.paths-ignore", "Path patterns; a push changing only these starts nothing.", NULL},
	{"spec.on.manual", "`slipway pipeline run` or the API may start a run.", NULL},
	{"spec.on.schedule", "Runs started at the times of cron expressions.", NULL},
	{"spec.on.schedule.cron",
	 "Five fields (minute hour day-of-month month day-of-week) or a macro such as @daily. "
	 "Quote it.", NULL},
	{"spec.on.schedule.timeZone", "The zone the expression reads its wall clock in.", "UTC"},
	{"spec.env", "Environment variables for every step of every job; values may hold ${{ }}.", NULL},
	{"spec.concurrency",
	 "Runs of this pipeline in the same group run one at a time; the others wait in order, "
	 "never cancelled. A string is the group.", "none"},
	{"spec.concurrency.group", "The group's name; may hold ${{ }} (slipway.ref).", NULL},
	{"spec.concurrency.queue",
	 "How many runs may wait; one more is refused with a message, never dropped.", NULL},
	{"spec.concurrency.cancel-in-progress",
	 "Refused: Slipway never cancels a run silently for a newer one.", NULL},
	{"spec.jobs",
	 "The jobs, by id (letters, digits, - and _). Each runs in its own workspace once the jobs it "
	 "needs are done; at most 1024.", NULL},
	{"spec.jobs.name", "The job's name for people; may hold ${{ }}.", "its id"},
	{"spec.jobs.needs",
	 "Jobs (ids) that must end first. They may not make a cycle. Without if:, the job runs "
	 "only when each of them succeeded.", "none"},
	{"spec.jobs.runs-on",
	 "Refused: Slipway runs every job on this host, in a sandbox of its own.", NULL},
	{"spec.jobs.uses", "Pipeline templates: not built yet.", NULL},
	{"spec.jobs.if",
	 "Whether the job runs, decided once its needs ended: an expression, bare or in ${{ }}. "
	 "Without success(), failure(), always() or cancelled() it is success() && (it).",
	 "success()"},
	{"spec.jobs.network",
	 "What its steps may reach: host (the host's network) or none (a network namespace of "
	 "their own with only loopback; needs the sandbox).", "host"},
	{"spec.jobs.env", "Environment variables for its steps, over spec.env.", NULL},
	{"spec.jobs.outputs",
	 "Values other jobs read as needs.ID.outputs.NAME, usually ${{ steps.STEP.outputs.NAME }} "
	 "(a step writes NAME=VALUE lines to $SLIPWAY_OUTPUT); at most 1 MiB in all.", NULL},
	{"spec.jobs.steps", "The commands the job runs, in order; at most 256.", NULL},
	{"spec.jobs.steps.id", "The id steps.ID reads the step's outputs and outcome by.", NULL},
	{"spec.jobs.steps.name", "The step's name for people.", "its run text's first line"},
	{"spec.jobs.steps.run", "Shell text run with sh -e in the workspace; may hold ${{ }}.", NULL},
	{"spec.jobs.steps.uses",
	 "Refused: GitHub's actions are not run; write the commands they stand for in run.", NULL},
	{"spec.jobs.steps.env", "Environment variables for this step, over the job's.", NULL},
	{"spec.jobs.steps.working-directory",
	 "Where it runs, relative to the workspace.", "the workspace"},
	{"spec.jobs.steps.if",
	 "Whether the step runs: an expression; success() is whether the steps before all "
	 "succeeded.", "success()"},
	{"spec.jobs.steps.timeout",
	 "The longest one attempt may run; then its process group is killed.", "the job's timeout"},
	{"spec.jobs.steps.continue-on-error",
	 "A failure of this step does not fail the job.", NULL},
	{"spec.jobs.steps.retry", "Runs the step again when it fails.", "no retry"},
	{"spec.jobs.steps.retry.max", "Attempts after the first, 0 to 10.", NULL},
	{"spec.jobs.steps.retry.when",
	 "What is retried: failure (a non-zero exit), timeout, or both.", NULL},
	{"spec.jobs.deploy",
	 "Instead of steps: applies the version the pipeline built to an App through the engine, "
	 "as `slipway apply` does (and so through its environment's promotion gates).", NULL},
	{"spec.jobs.deploy.app", "The App.", NULL},
	{"spec.jobs.deploy.environment", "The App's environment.", "default"},
	{"spec.jobs.strategy", "Runs the job once for each combination of a matrix.", NULL},
	{"spec.jobs.strategy.matrix",
	 "Keys with lists of values; every combination is a job run (matrix.KEY), at most 256. "
	 "include adds keys to the combinations it agrees with or makes its own; exclude removes "
	 "those it matches (GitHub's rules).", NULL},
	{"spec.jobs.strategy.max-parallel", "How many of its runs may run at once.", "all"},
	{"spec.jobs.strategy.fail-fast",
	 "When one run fails, stop the others and cancel those not started.", NULL},
	{"spec.jobs.timeout",
	 "The longest the job may run; then it is stopped and fails.", NULL},
	{"spec.jobs.continue-on-error",
	 "A failure of the job fails neither the run nor the jobs that need it.", NULL},
	{"spec.jobs.concurrency",
	 "Jobs of the same group run one at a time, in this run and across runs; a string is the "
	 "group.", "none"},
	{"spec.jobs.concurrency.group", "The group; may hold ${{ }} (matrix, needs).", NULL},
	{"spec.jobs.concurrency.queue", "How many may wait for the group.", NULL},
	{"spec.jobs.concurrency.cancel-in-progress",
	 "Refused: Slipway never cancels a job silently for a newer one.", NULL},
	{"spec.jobs.environment",
	 "An Environment whose approvals and sync windows the job waits for before it starts.",
	 "none"},
	{"spec.jobs.services",
	 "Processes started before the job's steps and stopped after them, by name; at most 16.",
	 "none"},
	{"spec.jobs.services.command", "The command: argv, or a string for /bin/sh -c.", NULL},
	{"spec.jobs.services.env", "Its environment variables.", NULL},
	{"spec.jobs.services.readiness",
	 "How Slipway knows it is ready; the steps start only then.", NULL},
	{"spec.jobs.services.readiness.tcp", "Ready when HOST:PORT accepts a connection.", NULL},
	{"spec.jobs.services.readiness.http", "Ready when the URL answers 2xx or 3xx.", NULL},
	{"spec.jobs.services.readiness.exec", "Ready when the command exits 0.", NULL},
	{"spec.jobs.services.readiness.period", "How often it is probed.", NULL},
	{"spec.jobs.services.readiness.timeout",
	 "Not ready within this long: the job fails.", NULL},
	{"spec.jobs.cache",
	 "Directories saved after the job and restored before it, content-addressed by key.", "none"},
	{"spec.jobs.cache.key",
	 "The exact key; usually holds ${{ hashFiles('meson.build') }}.", NULL},
	{"spec.jobs.cache.paths", "What is cached, relative to the workspace.", NULL},
	{"spec.jobs.cache.restore-keys",
	 "Key prefixes tried in order when the key misses (the newest match wins).", "none"},
	{"spec.jobs.artifacts", "Files passed from job to job in the run.", "none"},
	{"spec.jobs.reports",
	 "Files the job's steps write, read after its steps (even when one failed): test results and "
	 "coverage. A report that is missing or malformed fails the job with its file:line:col. "
	 "`pipeline run` prints the counts and writes them to the run's results.json.", "none"},
	{"spec.jobs.reports.junit",
	 "JUnit XML files: a glob or a list of globs relative to the workspace (<testsuites> or "
	 "<testsuite> of <testcase>s; counts are taken from the testcases).", NULL},
	{"spec.jobs.reports.coverage",
	 "A coverage file (a glob relative to the workspace): Cobertura XML (gcovr --xml, coverage.py "
	 "xml), an lcov tracefile, or gcovr's --json-summary; several matches are summed.", NULL},
	{"spec.jobs.gates",
	 "Conditions judged after the job's steps from its reports; one that fails fails the job with "
	 "its reason (\"coverage 71.3% < 80% (coverage.xml)\").", "none"},
	{"spec.jobs.gates.tests",
	 "passed: the JUnit reports hold at least one test that ran and no failure or error.", NULL},
	{"spec.jobs.gates.coverage", "A minimum line coverage of reports.coverage.", NULL},
	{"spec.jobs.gates.coverage.min", "Percent of lines covered, 0 to 100.", NULL},
	{"spec.jobs.gates.benchmark",
	 "A number from a JSON file the steps write ({\"METRIC\": number}) that must not exceed max.", NULL},
	{"spec.jobs.gates.benchmark.file", "The JSON file, relative to the workspace.", NULL},
	{"spec.jobs.gates.benchmark.metric", "The key of the number in it.", NULL},
	{"spec.jobs.gates.benchmark.max", "The highest value that passes.", NULL},
	{"spec.jobs.gates.scan", "Refused: image scanning comes with the supply-chain issue.", NULL},
	{"spec.jobs.artifacts.upload", "Artifacts the job leaves, by name.", NULL},
	{"spec.jobs.artifacts.upload.name", "The artifact's name, unique in the run; may hold ${{ }} (matrix).", NULL},
	{"spec.jobs.artifacts.upload.paths", "Files or directories, relative to the workspace.", NULL},
	{"spec.jobs.artifacts.download",
	 "Artifacts of jobs it needs, unpacked into its workspace before its steps.", "none"},
	{NULL, NULL, NULL},
};
