/* slipway routes: the proxy's listeners and routes. */
#include "cli_int.h"

#include "core/buf.h"

static void print_routes(json_t *j)
{
	json_t *proxy = json_object_get(j, "proxy");
	printf("proxy: %s (pid %lld)\n\n",
	       json_is_true(json_object_get(proxy, "up")) ? "up" : "not reachable",
	       cli_jint(proxy, "pid"));
	struct cli_table t;
	cli_table_init(&t, 6);
	cli_table_row(&t, "LISTEN", "HOST", "PATH", "APP", "STICKY", "BACKENDS");
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(j, "routes"), i, r) {
		struct buf be = BUF_INIT;
		size_t k;
		json_t *g;
		json_array_foreach(json_object_get(r, "groups"), k, g)
			buf_addf(&be, "%srev %lld: %lld%% x %zu", k ? ", " : "", cli_jint(g, "revision"),
				 cli_jint(g, "weight"), json_array_size(json_object_get(g, "backends")));
		const char *host = cli_jstr(r, "host");
		cli_table_row(&t, cli_jstr(r, "listen"), *host ? host : "*", cli_jstr(r, "pathPrefix"),
			      cli_jstr(r, "app"),
			      json_is_true(json_object_get(r, "sticky")) ? "yes" : "no",
			      be.len ? be.s : "none ready");
		buf_release(&be);
	}
	if (t.nrows > 1)
		cli_table_print(&t, stdout);
	else
		printf("no routes; give an app spec.route.listen to serve it through the proxy\n");
	cli_table_release(&t);
}

static int run(struct cli *c, int argc, char **argv)
{
	struct cli_json_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_routes.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	json_t *j = NULL;
	if (cli_call(c, "GET", "/v1/routes", NULL, &j) != 0)
		return 1;
	if (o.json)
		cli_json_print(j);
	else
		print_routes(j);
	json_decref(j);
	return 0;
}

const struct cli_command cli_cmd_routes = {
	.summary = "list the proxy's listeners and routes",
	.run = run,
	.usage = {
		.name = "routes",
		.opts = cli_json_options,
		.help = "Lists the proxy's listeners and routes with each revision's weight and\n"
			"backends in rotation.",
	},
};
