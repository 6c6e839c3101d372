/*
 * slipway: one binary, three roles. `serve` runs the control plane, `proxy`
 * the data plane, everything else is the CLI, which knows only the API.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "daemon/daemon.h"
#include "env/env.h"
#include "gitops/gitops.h"
#include "pipeline/exec.h"
#include "pipeline/pipeline.h"
#include "proxy/proxy.h"
#include "runtime/runtime.h"

static const struct role {
	const char *name;
	int (*main)(int argc, char **argv);
} roles[] = {
	{"serve", daemon_main},
	{"proxy", proxy_main},
	{"job-waiter", runtime_job_waiter_main}, /* hook jobs' waiter, run by serve */
};

/*
 * Runs a role with the state dir of the options before the command (or the
 * environment) as its own first --state-dir, so that one given after the
 * command still wins, as the last of an option does.
 */
static int run_role(const struct role *role, const char *state_dir, int argc, char **argv)
{
	char **args = xcalloc((size_t)argc + 3, sizeof(*args));
	args[0] = argv[0];
	args[1] = "--state-dir";
	args[2] = (char *)state_dir;
	for (int i = 1; i < argc; i++)
		args[i + 2] = argv[i];
	int r = role->main(argc + 2, args);
	free(args);
	return r;
}

int main(int argc, char **argv)
{
	struct cli_globals g;
	int code;
	gitops_kinds_register(); /* before any document is read, by any role */
	env_kinds_register();
	pipeline_kinds_register();
	static const struct cli_pipeline_ops pipeline_ops = {pipeline_validate_text, pipeline_graph_text,
								  pipeline_run_local};
	cli_pipeline_ops(&pipeline_ops); /* the CLI may not include src/pipeline */
	cli_role_usage("serve", &daemon_usage);
	cli_role_usage("proxy", &proxy_usage);
	int n = cli_globals_parse(&g, argc, argv, &code);
	if (n < 0)
		return code;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(argv[1], roles[i].name) == 0)
			return run_role(&roles[i], g.state_dir, n, argv + 1);
	return cli_main(&g, n, argv + 1);
}
