/* slipway import argo: Argo Rollouts documents to Slipway documents, offline. */
#include "cli_int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/core.h"
#include "spec/argo.h"

struct import_opts {
	const char *out_dir;
};

static const struct sw_opt options[] = {
	{.name = "output", .letter = 'o', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct import_opts, out_dir, const char *), .value = "DIR",
	 .help = "write one DIR/KIND-NAME.yaml per document instead of printing them"},
	{0},
};

static int read_file(struct buf *out, const char *path)
{
	FILE *f = fopen(path, "rb");
	char chunk[8192];
	size_t n;
	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(out, chunk, n);
	int rc = ferror(f) ? -1 : 0;
	fclose(f);
	return rc;
}

static int write_doc(const char *dir, const char *name, const char *yaml)
{
	struct buf path = BUF_INIT;
	buf_addf(&path, "%s/%s.yaml", dir, name);
	FILE *f = fopen(path.s, "w");
	int rc = f && fputs(yaml, f) >= 0 ? 0 : -1;
	if (f && fclose(f) != 0)
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "slipway: %s: %s\n", path.s, strerror(errno));
	buf_release(&path);
	return rc;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct import_opts o = {0};
	struct spec_argo imp;
	int rc = 0;
	int n = sw_opt_parse(&cli_cmd_import.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	if (n < 1)
		return sw_opt_error("import", "missing the source: import argo FILE...");
	if (strcmp(argv[1], "argo") != 0)
		return sw_opt_error("import", "unknown source, expected \"argo\"");
	if (n < 2)
		return sw_opt_error("import", "missing FILE");
	(void)c;
	spec_argo_init(&imp);
	for (int i = 2; i <= n && rc == 0; i++) {
		struct buf text = BUF_INIT;
		struct sw_err err = {0};
		if (read_file(&text, argv[i]) < 0) {
			fprintf(stderr, "slipway: %s: cannot read: %s\n", argv[i], strerror(errno));
			rc = 2;
		} else if (spec_argo_add(&imp, text.s ? text.s : "", text.len, argv[i], &err) < 0) {
			fprintf(stderr, "%s\n", err.msg);
			rc = 2;
		}
		buf_release(&text);
	}
	if (rc == 0) {
		spec_argo_finish(&imp);
		if (o.out_dir && mkdir(o.out_dir, 0777) < 0 && errno != EEXIST) {
			fprintf(stderr, "slipway: %s: %s\n", o.out_dir, strerror(errno));
			rc = 2;
		}
	}
	for (size_t i = 0; i < imp.ndocs && rc == 0; i++) {
		char *yaml = spec_yaml_emit(imp.docs[i]);
		if (o.out_dir)
			rc = write_doc(o.out_dir, imp.names[i], yaml) < 0 ? 2 : 0;
		else
			printf("%s%s", i ? "---\n" : "", yaml);
		free(yaml);
	}
	for (size_t i = 0; i < imp.nwarnings && rc == 0; i++)
		fprintf(stderr, "%s\n", imp.warnings[i]);
	if (rc == 0 && imp.nwarnings)
		rc = 1;
	spec_argo_release(&imp);
	return rc;
}

const struct cli_command cli_cmd_import = {
	.summary = "turn Argo Rollouts documents into Slipway documents",
	.run = run,
	.usage = {
		.name = "import",
		.args = "argo FILE...",
		.max_args = 64,
		.opts = options,
		.help = "Reads Argo Rollouts documents (Rollout, AnalysisTemplate, ClusterAnalysisTemplate, Service)\n"
			"and prints the Slipway documents that say the same thing. Every field that could not\n"
			"be carried over is listed on stderr as file:line:col; the exit status is then 1.",
	},
};
