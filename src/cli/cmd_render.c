/* slipway render: the documents an environment gets from base Apps and Patches, offline. */
#include "cli_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/core.h"
#include "spec/spec.h"

struct render_opts {
	struct cli_paths files;
};

static const struct sw_opt options[] = {
	{.name = "filename", .letter = 'f', .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct render_opts, files, struct cli_paths), .value = "PATH",
	 .parse = cli_path_add, .expect = CLI_PATHS_EXPECT,
	 .help = "a file, a directory (with its subdirectories) or - for stdin; repeatable "
		 "(default: .)"},
	{0},
};

/* Whether render prints d: every document, or with APP the Apps named so. */
static bool shown(const struct spec_doc *d, const char *app)
{
	return !app || (d->kind == &spec_kind_app && strcmp(((const struct spec_app *)d->obj)->name, app) == 0);
}

static int run(struct cli *c, int argc, char **argv)
{
	struct render_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_render.usage, &o, argc, argv);
	(void)c;
	if (n < 0)
		return SW_OPT_EXIT(n);
	const char *env = argv[1], *app = n > 1 ? argv[2] : NULL;
	if (!spec_is_dns_label(env))
		return sw_opt_error("render", "ENV must be an environment's name (a DNS label), got \"%s\"", env);
	if (cli_paths_check("render", &o.files, NULL) != 0)
		return SW_OPT_EXIT_USAGE;
	if (!o.files.n)
		cli_path_add(&o.files, ".");

	char **names = NULL;
	size_t nn = 0, nsets = 0;
	struct spec_set *sets = NULL, **ptrs = NULL;
	struct sw_err err = {0};
	int r = 1;
	if (cli_collect_files(&o.files, &names, &nn, &err) < 0)
		goto out;
	sets = xcalloc(nn + 1, sizeof(*sets));
	ptrs = xcalloc(nn + 1, sizeof(*ptrs));
	for (size_t i = 0; i < nn; i++) {
		struct buf text = BUF_INIT;
		bool in = strcmp(names[i], "-") == 0;
		int pr = cli_read_doc_file(names[i], &text, &err);
		if (pr == 0)
			pr = spec_parse_text(&sets[nsets], buf_str(&text), text.len, in ? "stdin" : names[i], &err);
		buf_release(&text);
		if (pr < 0)
			goto out;
		ptrs[nsets] = &sets[nsets];
		nsets++;
	}
	if (spec_render(ptrs, nsets, &env, 1, 0, &err) < 0)
		goto out;
	bool any = false;
	for (size_t i = 0; i < nsets; i++)
		for (size_t k = 0; k < sets[i].ndocs; k++) {
			const struct spec_doc *d = &sets[i].docs[k];
			if (!shown(d, app) || !d->tree)
				continue;
			char *yaml = spec_tree_yaml(d->tree);
			printf("%s%s", any ? "---\n" : "", yaml);
			free(yaml);
			any = true;
		}
	if (app && !any) {
		sw_errf(&err, SW_ENOTFOUND, "no App \"%s\" in environment %s", app, env);
		goto out;
	}
	r = 0;
out:
	if (r)
		fprintf(stderr, "%s\n", err.msg); /* file:line:col first, as validate says it */
	for (size_t i = 0; i < nsets; i++)
		spec_set_release(&sets[i]);
	free(sets);
	free(ptrs);
	cli_files_free(names, nn);
	return r;
}

const struct cli_command cli_cmd_render = {
	.summary = "print the documents an environment gets from base Apps and Patches, offline",
	.run = run,
	.usage = {
		.name = "render",
		.args = "ENV [APP]",
		.min_args = 1,
		.max_args = 2,
		.opts = options,
		.help = "Reads the files of every -f PATH together (default: the current directory, with\n"
			"its subdirectories) and prints, as YAML, the documents environment ENV gets:\n"
			"each base App (one without metadata.environment) with ENV's Patch merged and\n"
			"metadata.environment set, the Apps that name ENV, and the documents of other\n"
			"kinds; Apps of other environments and Patches are left out. With APP, only\n"
			"that App. Every Patch is checked, also other environments'; errors say\n"
			"file:line:col in the patch. No daemon is needed. The merge rules are in\n"
			"docs/environments.md, \"Overlays\".",
	},
};
