/* slipway validate: check documents offline, without a daemon. */
#include "cli_int.h"

#include "core/core.h"
#include "spec/spec.h"

struct validate_opts {
	const char *file;
};

static const struct sw_opt options[] = {
	{.name = "filename", .letter = 'f', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct validate_opts, file, const char *), .value = "PATH",
	 .help = "a file or a directory of *.yaml / *.yml (or give PATH alone)"},
	{0},
};

static int run(struct cli *c, int argc, char **argv)
{
	struct validate_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_validate.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	if (!o.file && n > 0)
		o.file = argv[1];
	if (!o.file)
		return sw_opt_error("validate", "missing -f PATH");
	struct spec_set set = {0};
	struct sw_err err = {0};
	if (spec_parse_path(&set, o.file, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	for (size_t i = 0; i < set.napps; i++)
		printf("app/%s valid (version %s, %u replicas)\n", set.apps[i]->name,
		       set.apps[i]->version, set.apps[i]->replicas);
	for (size_t i = 0; i < set.ntemplates; i++)
		printf("analysistemplate/%s valid\n", set.templates[i]->name);
	/* its keys are checked; its values once merged (slipway render) */
	for (size_t i = 0; i < set.ndocs; i++)
		if (set.docs[i].kind == &spec_kind_patch)
			printf("patch/%s valid (its fields; `slipway render` checks the values)\n",
			       spec_kind_patch.name_of(set.docs[i].obj));
	spec_set_release(&set);
	return 0;
}

const struct cli_command cli_cmd_validate = {
	.summary = "check documents offline; errors say file:line:col",
	.run = run,
	.usage = {
		.name = "validate",
		.args = "[PATH]",
		.max_args = 1,
		.opts = options,
		.help = "Checks documents offline (no daemon needed); errors say file:line:col.",
	},
};
