/*
 * slipway token create NAME --role ROLE | list | revoke NAME: the TCP API's
 * tokens. A new token is printed alone on stdout (TOKEN=$(slipway token
 * create ...) works), once.
 */
#include "cli_int.h"

#include <string.h>

#include <openssl/crypto.h>

#include "core/buf.h"

#define TOKEN_ENVS_MAX 32

/* --environment, given once for each environment */
struct token_envs {
	const char *v[TOKEN_ENVS_MAX];
	size_t n;
};

struct token_opts {
	const char *role;
	bool json;
	struct token_envs envs, approve;
};

static int parse_env(void *field, const char *value)
{
	struct token_envs *e = field;
	if (!*value || e->n == TOKEN_ENVS_MAX)
		return -1;
	e->v[e->n++] = value;
	return 0;
}

static const struct sw_opt options[] = {
	{.name = "role", .kind = SW_OPT_STRING, .offset = SW_OPT_AT(struct token_opts, role, const char *),
	 .value = "admin|deployer|viewer", .help = "create: what the token may do"},
	{.name = "environment", .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct token_opts, envs, struct token_envs), .value = "ENV",
	 .parse = parse_env, .expect = "name an environment (at most 32 of them)",
	 .help = "create: only in environment ENV (again for more; default every one)"},
	{.name = "approve", .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct token_opts, approve, struct token_envs), .value = "ENV",
	 .parse = parse_env, .expect = "name an environment (at most 32 of them)",
	 .help = "create: may approve promotions into ENV, whatever its role (again for more)"},
	CLI_OPT_JSON(struct token_opts),
	{0},
};

static void print_list(json_t *j)
{
	struct cli_table t;
	cli_table_init(&t, 6);
	cli_table_row(&t, "NAME", "ROLE", "ENVIRONMENTS", "APPROVES", "CREATED", "LAST USED");
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(j, "tokens"), i, x) {
		struct buf envs = BUF_INIT, approve = BUF_INIT;
		cli_join(&envs, json_object_get(x, "environments"), ",");
		cli_join(&approve, json_object_get(x, "approve"), ",");
		cli_table_row(&t, cli_jstr(x, "name"), cli_jstr(x, "role"), envs.len ? envs.s : "all",
			      approve.len ? approve.s : "-", cli_jstr(x, "created"),
			      *cli_jstr(x, "lastUsed") ? cli_jstr(x, "lastUsed") : "never");
		buf_release(&envs);
		buf_release(&approve);
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
}

/* Every token, a page (by name) at a time, into {"tokens": [...]}. */
static int list_all(struct cli *c, json_t **out)
{
	struct buf path = BUF_INIT;
	json_t *all = json_array();
	char *after = xstrdup("");
	int r;
	for (;;) {
		json_t *j = NULL;
		buf_reset(&path);
		cli_pathf(&path, "/v1/tokens?limit=1000&after=%s", after);
		r = cli_call(c, "GET", path.s, NULL, &j);
		if (r)
			break;
		json_array_extend(all, json_object_get(j, "tokens"));
		const char *next = json_string_value(json_object_get(j, "next"));
		free(after);
		after = next ? xstrdup(next) : NULL;
		json_decref(j);
		if (!after)
			break;
	}
	free(after);
	buf_release(&path);
	*out = r ? NULL : json_pack("{s:o}", "tokens", all);
	if (r)
		json_decref(all);
	return r;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct token_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_token.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	const char *action = argv[1];
	const char *name = n > 1 ? argv[2] : NULL;
	bool create = strcmp(action, "create") == 0, revoke = strcmp(action, "revoke") == 0;
	bool list = strcmp(action, "list") == 0;
	json_t *j = NULL, *body = NULL;
	struct buf path = BUF_INIT;
	int r = 1;

	if (!create && !revoke && !list)
		return sw_opt_error("token", "unknown action \"%s\" (create, list, revoke)", action);
	if ((create || revoke) && !name)
		return sw_opt_error("token", "%s needs a token NAME", action);
	if (list && name)
		return sw_opt_error("token", "unexpected argument \"%s\"", name);
	if (create && !o.role)
		return sw_opt_error("token", "create needs --role admin|deployer|viewer");
	if (!create && (o.role || o.envs.n || o.approve.n))
		return sw_opt_error("token", "--role, --environment and --approve go with create");
	if (create) {
		json_t *envs = json_array(), *approve = json_array();
		for (size_t i = 0; i < o.envs.n; i++)
			json_array_append_new(envs, json_string(o.envs.v[i]));
		for (size_t i = 0; i < o.approve.n; i++)
			json_array_append_new(approve, json_string(o.approve.v[i]));
		body = json_pack("{s:s, s:s, s:o, s:o}", "name", name, "role", o.role, "environments", envs,
				 "approve", approve);
		r = cli_call(c, "POST", "/v1/tokens", body, &j);
	} else if (revoke) {
		cli_pathf(&path, "/v1/tokens/%s", name);
		r = cli_call(c, "DELETE", path.s, NULL, &j);
	} else {
		r = list_all(c, &j);
	}
	if (r)
		goto out;
	if (o.json) {
		cli_json_print(j);
	} else if (create) {
		printf("%s\n", cli_jstr(j, "token"));
		struct buf envs = BUF_INIT, approve = BUF_INIT;
		cli_join(&envs, json_object_get(j, "environments"), ", ");
		cli_join(&approve, json_object_get(j, "approve"), ", ");
		fprintf(stderr, "token \"%s\" (role %s%s%s%s%s) created; it is shown only this once\n",
			cli_jstr(j, "name"), cli_jstr(j, "role"), envs.len ? ", environments " : "",
			envs.len ? envs.s : "", approve.len ? ", approves for " : "",
			approve.len ? approve.s : "");
		buf_release(&envs);
		buf_release(&approve);
	} else if (revoke) {
		printf("token/%s revoked\n", cli_jstr(j, "name"));
	} else {
		print_list(j);
	}
out:
	if (j && create) {
		/* do not leave the token lying in freed memory */
		json_t *tok = json_object_get(j, "token");
		if (json_is_string(tok))
			OPENSSL_cleanse((char *)json_string_value(tok), json_string_length(tok));
	}
	json_decref(j);
	json_decref(body);
	buf_release(&path);
	return r;
}

const struct cli_command cli_cmd_token = {
	.summary = "create, list and revoke the TCP API's tokens",
	.run = run,
	.usage = {
		.name = "token",
		.args = "create NAME | list | revoke NAME",
		.min_args = 1,
		.max_args = 2,
		.opts = options,
		.help = "Manages the TCP API's tokens. create prints a new token once (only its\n"
			"SHA-256 is kept); viewer may read, deployer may also apply, roll back,\n"
			"delete and operate rollouts, admin may do everything, tokens included.\n"
			"list shows names, roles, creation and last use; revoke stops a token at\n"
			"once. DIR/token stays an admin token named \"root\". --environment ENV\n"
			"(again for more) scopes a deployer or viewer token: it sees and changes\n"
			"the apps of those environments only (docs/environments.md). --approve ENV\n"
			"lets the token approve and reject promotions into ENV, whatever its role.",
	},
};
