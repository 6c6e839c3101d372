/*
 * slipway releases APP: which release runs in which environment, and
 * what each promotion waits for, gate by gate (docs/environments.md,
 * "Promotion").
 */
#include "cli_int.h"

#include <string.h>

#include "core/buf.h"

struct releases_opts {
	bool json;
	int output;
};

static const struct sw_opt options[] = {
	CLI_OPT_OUTPUT(struct releases_opts),
	CLI_OPT_JSON(struct releases_opts),
	{0},
};

/* "1.2.0 Pending: approvals: 1 of 2 approvals (bob)" */
static void promotion_line(struct buf *out, json_t *p)
{
	buf_addf(out, "%s %s: %s", cli_jstr(p, "release"), cli_jstr(p, "phase"), cli_jstr(p, "reason"));
}

void cli_print_promotion(json_t *p, FILE *f)
{
	struct cli_table t;
	size_t i;
	json_t *g, *d;
	char env[64];
	fprintf(f, "%s: release %s from %s: %s\n", cli_app_label(p, "app", env, sizeof(env)),
		cli_jstr(p, "release"), cli_jstr(p, "upstream"),
		cli_phase_color(f, cli_jstr(p, "phase")));
	cli_table_init(&t, 3);
	cli_table_row(&t, "GATE", "STATE", "WHY");
	json_array_foreach(json_object_get(p, "gates"), i, g)
		cli_table_row(&t, cli_jstr(g, "gate"), cli_jstr(g, "state"), cli_jstr(g, "reason"));
	cli_table_print_indented(&t, f, "  ");
	cli_table_release(&t);
	json_array_foreach(json_object_get(p, "decisions"), i, d) {
		const char *c = cli_jstr(d, "comment");
		bool approve = strcmp(cli_jstr(d, "decision"), "approve") == 0;
		fprintf(f, "  %s by %s at %s%s%s%s\n", approve ? "approved" : "rejected",
			cli_jstr(d, "actor"), cli_jstr(d, "time"), approve ? " (expires " : "",
			approve ? cli_jstr(d, "expires") : "", approve ? ")" : "");
		if (*c)
			fprintf(f, "    \"%s\"\n", c);
	}
}

static int run(struct cli *c, int argc, char **argv)
{
	struct releases_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_releases.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	struct buf path = BUF_INIT;
	json_t *j = NULL, *x;
	size_t i;
	/* every environment the token may use: the app's releases are its whole chain */
	cli_pathf(&path, "/v1/apps/%s/releases?environment=*", argv[1]);
	int r = cli_call(c, "GET", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	enum cli_output fmt = cli_output_of(o.output, o.json);
	if (cli_output_doc(fmt, j)) {
		json_decref(j);
		return 0;
	}
	struct cli_table t;
	cli_table_init(&t, 5);
	cli_table_row(&t, "ENVIRONMENT", "RELEASE", "PHASE", "FROM", "PROMOTION");
	json_array_foreach(json_object_get(j, "environments"), i, x) {
		struct buf promo = BUF_INIT, release = BUF_INIT;
		json_t *p = json_object_get(x, "promotion");
		const char *desired = cli_jstr(x, "desired"), *stable = cli_jstr(x, "release");
		if (json_is_object(p))
			promotion_line(&promo, p);
		/* a rollout under way shows both */
		buf_addf(&release, "%s", *stable ? stable : "-");
		if (*desired && strcmp(desired, stable) != 0)
			buf_addf(&release, " -> %s", desired);
		cli_table_row(&t, cli_jstr(x, "environment"), release.s,
			      *cli_jstr(x, "phase") ? cli_jstr(x, "phase") : "-",
			      *cli_jstr(x, "from") ? cli_jstr(x, "from") : "-", promo.len ? promo.s : "-");
		buf_release(&promo);
		buf_release(&release);
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	/* upstreams on other hosts: what their host said last */
	json_array_foreach(json_object_get(j, "environments"), i, x) {
		json_t *rm = json_object_get(x, "remote");
		if (!json_is_object(rm))
			continue;
		if (json_is_true(json_object_get(rm, "ok")))
			printf("\n%s takes releases from %s at %s: it serves %s Healthy\n",
			       cli_jstr(x, "environment"), cli_jstr(x, "from"), cli_jstr(rm, "api"),
			       cli_jstr(rm, "release"));
		else
			printf("\n%s takes releases from %s at %s: %s\n", cli_jstr(x, "environment"),
			       cli_jstr(x, "from"), cli_jstr(rm, "api"), cli_jstr(rm, "reason"));
	}
	/* the promotions under way, gate by gate */
	json_array_foreach(json_object_get(j, "environments"), i, x) {
		json_t *p = json_object_get(x, "promotion");
		const char *ph = json_is_object(p) ? cli_jstr(p, "phase") : "";
		if (!*ph || strcmp(ph, "Promoted") == 0 || strcmp(ph, "Superseded") == 0)
			continue;
		printf("\n");
		cli_print_promotion(p, stdout);
	}
	json_decref(j);
	return 0;
}

const struct cli_command cli_cmd_releases = {
	.summary = "show which release of an app runs in which environment, and its promotions",
	.run = run,
	.usage = {
		.name = "releases",
		.args = "APP",
		.min_args = 1,
		.max_args = 1,
		.opts = options,
		.help = "Lists the environments where APP runs, upstream first (dev, staging,\n"
			"prod): the release (version) each serves, its phase, where it takes\n"
			"releases from, and its newest promotion. A promotion that is not done\n"
			"is shown gate by gate (soak, analysis, approvals, window) with why it\n"
			"waits, and who approved it when (docs/environments.md, \"Promotion\").",
	},
};
