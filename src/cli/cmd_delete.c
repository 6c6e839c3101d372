/* slipway delete APP | KIND/NAME | KIND NAME: forget an app (its
 * instances stop), a source, a template or an environment. */
#include "cli_int.h"

#include <string.h>

#include "core/buf.h"

/* What delete takes: a kind's word (KIND/NAME or KIND NAME), where the
 * API has it, and what is said once it is gone. */
static const struct {
	const char *word, *path, *done;
} kinds[] = {
	{"app", "/v1/apps/%s", NULL},
	{"source", "/v1/sources/%s", " (its apps keep running; delete them with `slipway delete`)"},
	{"analysistemplate", "/v1/analysistemplates/%s", ""},
	{"at", "/v1/analysistemplates/%s", ""},
	{"environment", "/v1/environments/%s", ""},
};

static int run(struct cli *c, int argc, char **argv)
{
	struct cli_json_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_delete.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	struct buf path = BUF_INIT;
	const char *name = argv[1];
	size_t k = 0; /* an app, unless a kind is named */
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t wl = strlen(kinds[i].word);
		if (n == 2 && strcmp(argv[1], kinds[i].word) == 0) {
			k = i;
			name = argv[2];
		} else if (n == 1 && strncmp(name, kinds[i].word, wl) == 0 && name[wl] == '/') {
			k = i;
			name += wl + 1;
		}
	}
	if (n == 2 && name == argv[1])
		return sw_opt_error("delete", "unknown kind \"%s\" (app, source, analysistemplate, "
				    "environment)", argv[1]);
	cli_pathf(&path, kinds[k].path, name);
	json_t *j = NULL;
	int r = cli_call(c, "DELETE", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	if (o.json)
		cli_json_print(j);
	else if (kinds[k].done)
		printf("%s/%s deleted%s\n", strcmp(kinds[k].word, "at") == 0 ? "analysistemplate"
									   : kinds[k].word,
		       name, kinds[k].done);
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
		.args = "APP | KIND/NAME | app|source|analysistemplate|environment NAME",
		.min_args = 1,
		.max_args = 2,
		.opts = cli_json_options,
		.help = "Stops the app's instances and forgets the app (APP, app/APP or app APP)\n"
			"in the environment selected (slipway -e ENV).\n"
			"source/NAME forgets a git source: it is not fetched any more, and the\n"
			"apps it made stay as they are, still owned by it (docs/gitops.md).\n"
			"analysistemplate/NAME (or at/NAME) forgets a template; one that an app's\n"
			"desired or stable revision uses is refused, naming the app.\n"
			"environment/NAME forgets an environment; refused while apps live in it.",
	},
};
