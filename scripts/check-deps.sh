#!/bin/bash
# Checks the dependency rule of ../shared/DESIGN.md by the includes, and
# prints one TAP line per module:
#   core <- {spec, store, http, httpc} <- {rollout, analysis, runtime,
#   traffic, proxy, env} <- engine <- {api, gitops, pipeline, supply, web} <- daemon
# (env, the Environment kind and its rules, sits beside rollout: the engine
# consults it inside an apply; docs/internals/environments.md. pipeline sits
# beside gitops: its deploy jobs and environment gates call the engine; the
# CLI reaches its offline parts through what src/main.c hands it,
# cli.h's cli_pipeline_ops; docs/internals/pipelines.md)
# A module includes only modules of lower levels (never a sibling); the
# daemon wires them all; the proxy includes only core and http; the CLI
# only core, the API client (http) and spec (offline validate).
set -u
cd "$(dirname "$0")/.." || exit 1
declare -A level=(
	[core]=0
	[spec]=1 [store]=1 [http]=1 [httpc]=1
	[rollout]=2 [analysis]=2 [runtime]=2 [traffic]=2 [proxy]=2 [env]=2
	[engine]=3
	[api]=4 [gitops]=4 [pipeline]=4 [supply]=4 [web]=4
	[daemon]=5
)
declare -A only=(
	[proxy]="core http"
	[cli]="core http spec"
)
n=0
bad_total=0
for dir in src/*/; do
	mod=$(basename "$dir")
	[ "$mod" = "main.c" ] && continue
	n=$((n + 1))
	bad=()
	while IFS= read -r line; do
		file=${line%%:*}
		inc=$(sed -n 's/.*#include "\(\.\.\/\)\{0,1\}\([a-z_]*\)\/.*/\2/p' <<<"$line")
		if [ -z "$inc" ] || [ "$inc" = "$mod" ]; then continue; fi
		if [ -n "${only[$mod]:-}" ]; then
			[[ " ${only[$mod]} " == *" $inc "* ]] || bad+=("$file includes $inc/")
			continue
		fi
		[ -n "${level[$inc]:-}" ] || { bad+=("$file includes $inc/ (not in the rule)"); continue; }
		[ "$mod" = daemon ] && continue
		[ "${level[$inc]}" -lt "${level[$mod]}" ] || bad+=("$file includes $inc/ (level ${level[$inc]} from level ${level[$mod]})")
	done < <(grep -Hn '^#include "' "$dir"*.[ch] 2>/dev/null)
	if [ ${#bad[@]} -eq 0 ]; then
		echo "ok $n - src/$mod follows the dependency rule"
	else
		echo "not ok $n - src/$mod follows the dependency rule"
		printf '#   %s\n' "${bad[@]}"
		bad_total=$((bad_total + 1))
	fi
done
echo "1..$n"
[ $bad_total -eq 0 ]
