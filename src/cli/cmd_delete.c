/* slipway delete APP | app/APP | source/NAME | analysistemplate/NAME: forget
 * an app (its instances stop), a source or a template. */
#include "cli_int.h"

#include <string.h>

#include "core/buf.h"

/* What a KIND/ prefix of the argument names, and where the API has it. */
static const struct {
	const char *prefix;
	const char *path;
} kinds[] = {
	{"app/", "/v1/apps/%s"},
	{"source/", "/v1/sources/%s"},
	{"analysistemplate/", "/v1/analysistemplates/%s"},
	{"at/", "/v1/analysistemplates/%s"},
};

static int run(struct cli *c, int argc, char **argv)
{
	struct cli_json_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_delete.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	struct buf path = BUF_INIT;
	const char *name = argv[1], *fmt = kinds[0].path;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strncmp(name, kinds[i].prefix, strlen(kinds[i].prefix)) == 0) {
			name += strlen(kinds[i].prefix);
			fmt = kinds[i].path;
			break;
		}
	bool source = fmt == kinds[1].path, tmpl = fmt == kinds[2].path;
	cli_pathf(&path, fmt, name);
	json_t *j = NULL;
	int r = cli_call(c, "DELETE", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	if (o.json)
		cli_json_print(j);
	else if (source)
		printf("source/%s deleted (its apps keep running; delete them with `slipway delete`)\n",
		       name);
	else if (tmpl)
		printf("analysistemplate/%s deleted\n", name);
	else
		printf("app/%s deleted (stopping %lld instances)\n", cli_jstr(j, "name"),
		       cli_jint(j, "stopping"));
	json_decref(j);
	return 0;
}

const struct cli_command cli_cmd_delete = {
	.summary = "stop an app's instances and forget the app",
	.run = run,
	.usage = {
		.name = "delete",
		.args = "APP | source/NAME | analysistemplate/NAME",
		.min_args = 1,
		.max_args = 1,
		.opts = cli_json_options,
		.help = "Stops the app's instances and forgets the app (APP or app/APP).\n"
			"source/NAME forgets a git source: it is not fetched any more, and the\n"
			"apps it made stay as they are, still owned by it (docs/gitops.md).\n"
			"analysistemplate/NAME (or at/NAME) forgets a template; one that an app's\n"
			"desired or stable revision uses is refused, naming the app.",
	},
};
