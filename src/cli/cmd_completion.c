/*
 * slipway completion bash|zsh|fish, and the hidden `slipway __complete
 * WORD...` every one of those scripts calls on each <Tab>. The scripts are
 * thin: __complete walks the words against the command table, each
 * command's option table and its usage's arguments, so that what
 * completes is what parses, always. App names come from the daemon
 * (a second at most, nothing printed when none runs); context names from
 * the config file.
 *
 * __complete's output: a first line saying what to complete, "words",
 * "files" or "dirs" (the shell completes paths itself), then for "words"
 * one candidate a line, already filtered by the word being completed,
 * optionally followed by a tab and a description.
 *
 * How the arguments of a usage are read: "a|b|c" and lower-case words are
 * literal choices; APP an app name (of the environment -e selects);
 * SOURCE a source's name; ENV an environment's; CONTEXT a context's name;
 * get's KIND its kinds (cli_get_kind_words) and a NAME after a kind word
 * (get KIND NAME, delete environment NAME) the names of that kind, from
 * the daemon; FILE or PATH
 * a path; DIR a directory; "[X]" an optional X; "X..." any number of X;
 * " | " separates whole alternatives ("create NAME | list"), chosen by
 * their first word. Option values read the same way (--role
 * admin|deployer|viewer).
 */
#include "cli_int.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"

#define MAX_WORDS 16

/* One alternative of a usage's arguments, as words. */
struct form {
	char *words[MAX_WORDS];
	size_t n;
};

/* Splits args into forms (one unless " | " separates alternatives);
 * returns how many. The words are copies in *store. */
static size_t read_forms(const char *args, struct form *forms, size_t max, char **store)
{
	size_t nforms = 0;
	if (!args)
		return 0;
	*store = xstrdup(args);
	char *s = *store;
	while (s && nforms < max) {
		char *bar = strstr(s, " | ");
		if (bar)
			*bar = '\0';
		struct form *f = &forms[nforms++];
		f->n = 0;
		for (char *w = s; *w && f->n < MAX_WORDS;) {
			while (*w == ' ')
				w++;
			if (!*w)
				break;
			f->words[f->n++] = w;
			w += strcspn(w, " ");
			if (*w)
				*w++ = '\0';
		}
		s = bar ? bar + 3 : NULL;
	}
	return nforms;
}

/* The word without "[", "]" and "...", into out. */
static void bare(char *out, size_t size, const char *w)
{
	size_t len = strlen(w);
	if (*w == '[')
		w++, len--;
	if (len && w[len - 1] == ']')
		len--;
	if (len >= 3 && strncmp(w + len - 3, "...", 3) == 0)
		len -= 3;
	if (len && w[len - 1] == ']')
		len--;
	snprintf(out, size, "%.*s", (int)len, w);
}

/* "a|b|c" or a lower-case word; "REVISION|SHA" names two placeholders */
static bool literal(const char *w)
{
	for (const char *p = w; *p; p++)
		if (!islower((unsigned char)*p) && *p != '-' && *p != '|')
			return false;
	return *w != '\0';
}

/* Whether the literal word w (a|b|c) has the choice s. */
static bool has_choice(const char *w, const char *s)
{
	size_t len = strlen(s);
	for (const char *p = w; p;) {
		size_t n = strcspn(p, "|");
		if (n == len && strncmp(p, s, len) == 0)
			return true;
		p = p[n] ? p + n + 1 : NULL;
	}
	return false;
}

struct out {
	const char *cur;    /* the word being completed */
	const char *kind;   /* "words", "files" or "dirs" */
	struct buf text;    /* candidates */
	const char *cmd;    /* the command word, NULL before it */
	char **argv;        /* the global options as argv, for the daemon */
	int argc;
};

static void add(struct out *o, const char *cand, const char *desc)
{
	if (strncmp(cand, o->cur, strlen(o->cur)) != 0 || strpbrk(cand, "\t\n"))
		return;
	buf_adds(&o->text, cand);
	if (desc)
		buf_addf(&o->text, "\t%s", desc);
	buf_adds(&o->text, "\n");
}

/* The names in the daemon's list at `path`: field of each item of the
 * array `key` (nothing when no daemon answers within a second). */
static void add_names(struct out *o, const char *path, const char *key, const char *field)
{
	struct cli_globals g;
	struct cli c = {0};
	struct buf resp = BUF_INIT;
	struct sw_err err = {0};
	int code, status = 0;
	if (cli_globals_parse(&g, o->argc, o->argv, &code) < 0)
		return;
	c.g = &g;
	if (cli_connect(&c, true) != 0)
		return;
	c.client.timeout_ms = 1000; /* a shell waits for this */
	struct buf full = BUF_INIT; /* the names of the environment selected (-e) */
	buf_adds(&full, path);
	if (c.environment)
		cli_pathf(&full, strchr(path, '?') ? "&environment=%s" : "?environment=%s",
			  c.environment);
	if (http_client_request(&c.client, "GET", full.s, NULL, 0, &status, &resp, &err) == 0 &&
	    status == 200) {
		json_t *j = json_loadb(resp.s ? resp.s : "", resp.len, 0, NULL), *a;
		size_t i;
		json_array_foreach(json_object_get(j, key), i, a)
			if (json_is_string(json_object_get(a, field)))
				add(o, json_string_value(json_object_get(a, field)), NULL);
		json_decref(j);
	}
	buf_release(&resp);
	buf_release(&full);
}

static void add_apps(struct out *o)
{
	add_names(o, "/v1/apps", "apps", "name");
}

static void add_contexts(struct out *o)
{
	struct buf path = BUF_INIT;
	struct cli_config cfg;
	struct sw_err err = {0};
	if (cli_config_file(&path) == 0 && cli_config_load(&cfg, path.s, &err) == 0) {
		for (size_t i = 0; i < cfg.ncontexts; i++)
			add(o, cfg.contexts[i].name, NULL);
		cli_config_release(&cfg);
	}
	buf_release(&path);
}

/* Candidates for one word of a usage (an argument or an option's value);
 * `before` is the argument before it (NULL: none). */
static void complete_word(struct out *o, const char *word, const char *before)
{
	char w[128];
	const char *path, *key, *field;
	bare(w, sizeof(w), word);
	if (strcmp(w, "KIND") == 0 && o->cmd && strcmp(o->cmd, "get") == 0) {
		const char *kinds[32];
		size_t n = cli_get_kind_words(kinds, 32);
		for (size_t i = 0; i < n; i++)
			add(o, kinds[i], NULL);
	} else if (strcmp(w, "NAME") == 0 && before && cli_get_name_list(before, &path, &key, &field)) {
		add_names(o, path, key, field); /* get KIND NAME, delete environment NAME */
	} else if (literal(w)) {
		for (char *p = w; p;) {
			char *bar = strchr(p, '|');
			if (bar)
				*bar = '\0';
			if (*p)
				add(o, p, NULL);
			p = bar ? bar + 1 : NULL;
		}
	} else if (strcmp(w, "APP") == 0) {
		add_apps(o);
	} else if (strcmp(w, "SOURCE") == 0) {
		add_names(o, "/v1/sources", "sources", "name");
	} else if (strcmp(w, "ENV") == 0) {
		add_names(o, "/v1/environments", "environments", "name");
	} else if (strcmp(w, "CONTEXT") == 0) {
		add_contexts(o);
	} else if (strcmp(w, "FILE") == 0 || strcmp(w, "PATH") == 0) {
		o->kind = "files";
	} else if (strcmp(w, "DIR") == 0) {
		o->kind = "dirs";
	}
}

/* The word at position k of the arguments, given the ones before it. */
static void complete_arg(struct out *o, const char *args, char **given, size_t k)
{
	struct form forms[8];
	char *store = NULL;
	size_t nforms = read_forms(args, forms, 8, &store);
	for (size_t i = 0; i < nforms; i++) {
		const struct form *f = &forms[i];
		char first[128];
		if (!f->n)
			continue;
		bare(first, sizeof(first), f->words[0]);
		if (k > 0 && literal(first) && !has_choice(first, given[0]))
			continue; /* another alternative */
		const char *w = k < f->n ? f->words[k] : NULL;
		if (!w && strstr(f->words[f->n - 1], "..."))
			w = f->words[f->n - 1];
		if (w)
			complete_word(o, w, k > 0 ? given[k - 1] : NULL);
	}
	free(store);
}

static const struct sw_opt help_opt = {.name = "help", .letter = 'h', .help = "show this help"};

static const struct sw_opt *find_opt(const struct sw_opt *opts, const char *word)
{
	if (word[0] != '-' || !opts)
		return NULL;
	for (size_t i = 0; opts[i].name; i++) {
		if (word[1] == '-' && strcmp(word + 2, opts[i].name) == 0)
			return &opts[i];
		if (word[1] != '-' && opts[i].letter && word[1] == opts[i].letter && !word[2])
			return &opts[i];
	}
	return NULL;
}

static void complete_opts(struct out *o, const struct sw_opt *opts)
{
	char name[80];
	for (size_t i = 0; opts && opts[i].name; i++) {
		if (!opts[i].help)
			continue;
		snprintf(name, sizeof(name), "--%s", opts[i].name);
		add(o, name, opts[i].help);
	}
	add(o, "--help", help_opt.help);
}

static int complete(int argc, char **argv)
{
	struct out o = {.cur = argc > 1 ? argv[argc - 1] : "", .kind = "words", .text = BUF_INIT};
	char **words = argv + 1;
	int nwords = argc > 1 ? argc - 2 : 0, i = 0; /* the complete words before cur */
	size_t ncmds;
	const struct cli_command *const *cmds = cli_commands(&ncmds), *cmd = NULL;

	/* completion prints candidates or nothing: never an error */
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC), saved = dup(2);
	fflush(stderr);
	if (null >= 0) {
		dup2(null, 2);
		close(null);
	}
	o.argv = xcalloc((size_t)argc + 2, sizeof(*o.argv));
	o.argv[o.argc++] = "slipway";
	/* the options before the command word, kept to find the daemon */
	const struct sw_opt *want = NULL; /* an option waiting for its value */
	for (; i < nwords && !cmd; i++) {
		const struct sw_opt *opt = find_opt(cli_global_usage.opts, words[i]);
		if (want) {
			o.argv[o.argc++] = words[i];
			want = NULL;
		} else if (opt) {
			o.argv[o.argc++] = words[i];
			want = opt->kind == SW_OPT_FLAG ? NULL : opt;
		} else if (words[i][0] == '-') {
			if (strchr(words[i], '='))
				o.argv[o.argc++] = words[i];
		} else {
			for (size_t k = 0; k < ncmds && !cmd; k++)
				if (cmds[k]->summary && strcmp(cmds[k]->usage.name, words[i]) == 0)
					cmd = cmds[k];
			if (!cmd)
				goto print; /* an unknown command: nothing to offer */
		}
	}
	o.argv[o.argc++] = "get"; /* any command word, for cli_globals_parse */
	if (!cmd) {
		if (want)
			complete_word(&o, want->value, NULL);
		else if (o.cur[0] == '-')
			complete_opts(&o, cli_global_usage.opts);
		else
			for (size_t k = 0; k < ncmds; k++)
				if (cmds[k]->summary)
					add(&o, cmds[k]->usage.name, cmds[k]->summary);
		goto print;
	}
	const struct sw_opt_usage *u = cli_command_usage(cmd);
	o.cmd = u->name;
	char *given[MAX_WORDS];
	size_t ngiven = 0;
	bool options = true;
	for (; i < nwords; i++) {
		const struct sw_opt *opt = options ? find_opt(u->opts, words[i]) : NULL;
		if (want) {
			want = NULL;
		} else if (options && strcmp(words[i], "--") == 0) {
			options = false;
		} else if (opt) {
			want = opt->kind == SW_OPT_FLAG ? NULL : opt;
		} else if (options && words[i][0] == '-' && words[i][1]) {
			/* --name=value, grouped letters, an unknown option */
		} else if (ngiven < MAX_WORDS) {
			given[ngiven++] = words[i];
		}
	}
	if (want)
		complete_word(&o, want->value, NULL);
	else if (options && o.cur[0] == '-')
		complete_opts(&o, u->opts);
	else
		complete_arg(&o, u->args, given, ngiven);
print:
	printf("%s\n", o.kind);
	if (strcmp(o.kind, "words") == 0 && o.text.len)
		fputs(o.text.s, stdout);
	fflush(stdout);
	fflush(stderr);
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
	}
	buf_release(&o.text);
	free(o.argv);
	return 0;
}

static int run_complete(struct cli *c, int argc, char **argv)
{
	(void)c;
	return complete(argc, argv);
}

const struct cli_command cli_cmd_complete = {
	.run = run_complete,
	.usage = {.name = "__complete", .args = "WORD...", .max_args = 1 << 30},
};

static const char bash_script[] =
	"# bash completion for slipway: source <(slipway completion bash)\n"
	"_slipway() {\n"
	"\tlocal cur=${COMP_WORDS[COMP_CWORD]} line kind\n"
	"\tlocal -a out\n"
	"\tCOMPREPLY=()\n"
	"\tmapfile -t out < <(\"${COMP_WORDS[0]}\" __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" 2>/dev/null)\n"
	"\tkind=${out[0]}\n"
	"\tcase $kind in\n"
	"\tfiles) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- \"$cur\") ;;\n"
	"\tdirs) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- \"$cur\") ;;\n"
	"\t*) for line in \"${out[@]:1}\"; do COMPREPLY+=(\"${line%%$'\\t'*}\"); done ;;\n"
	"\tesac\n"
	"}\n"
	"complete -F _slipway slipway\n";

static const char zsh_script[] =
	"#compdef slipway\n"
	"# zsh completion for slipway: source <(slipway completion zsh), or save it as\n"
	"# _slipway in a directory of $fpath\n"
	"_slipway() {\n"
	"\tlocal -a out cands\n"
	"\tlocal line\n"
	"\tout=(\"${(@f)$(\"${words[1]}\" __complete \"${(@)words[2,CURRENT]}\" 2>/dev/null)}\")\n"
	"\tcase $out[1] in\n"
	"\tfiles) _files ;;\n"
	"\tdirs) _files -/ ;;\n"
	"\t*)\n"
	"\t\tfor line in \"${(@)out[2,-1]}\"; do\n"
	"\t\t\t[[ -n $line ]] || continue\n"
	"\t\t\tif [[ $line == *$'\\t'* ]]; then\n"
	"\t\t\t\tcands+=(\"${${line%%$'\\t'*}//:/\\\\:}:${line#*$'\\t'}\")\n"
	"\t\t\telse\n"
	"\t\t\t\tcands+=(\"${line//:/\\\\:}\")\n"
	"\t\t\tfi\n"
	"\t\tdone\n"
	"\t\t_describe -t values slipway cands ;;\n"
	"\tesac\n"
	"}\n"
	"if [[ $funcstack[1] == _slipway ]]; then\n"
	"\t_slipway \"$@\"\n"
	"else\n"
	"\tcompdef _slipway slipway\n"
	"fi\n";

static const char fish_script[] =
	"# fish completion for slipway: slipway completion fish | source\n"
	"function __slipway_complete\n"
	"\tset -l words (commandline -opc) (commandline -ct)\n"
	"\tset -l out ($words[1] __complete $words[2..-1] 2>/dev/null)\n"
	"\tswitch \"$out[1]\"\n"
	"\t\tcase files\n"
	"\t\t\t__fish_complete_path (commandline -ct)\n"
	"\t\tcase dirs\n"
	"\t\t\t__fish_complete_directories (commandline -ct)\n"
	"\t\tcase '*'\n"
	"\t\t\tprintf '%s\\n' $out[2..-1]\n"
	"\tend\n"
	"end\n"
	"complete -c slipway -f -a '(__slipway_complete)'\n";

static int run_completion(struct cli *c, int argc, char **argv)
{
	static const char *const shells[] = {"bash", "zsh", "fish"};
	const char *const scripts[] = {bash_script, zsh_script, fish_script};
	int n = sw_opt_parse(&cli_cmd_completion.usage, NULL, argc, argv);
	(void)c;
	if (n < 0)
		return SW_OPT_EXIT(n);
	for (size_t i = 0; i < 3; i++)
		if (strcmp(argv[1], shells[i]) == 0) {
			fputs(scripts[i], stdout);
			return 0;
		}
	return sw_opt_error("completion", "unknown shell \"%s\" (bash, zsh, fish)", argv[1]);
}

const struct cli_command cli_cmd_completion = {
	.summary = "print the shell completion script for bash, zsh or fish",
	.run = run_completion,
	.usage = {
		.name = "completion",
		.args = "bash|zsh|fish",
		.min_args = 1,
		.max_args = 1,
		.help = "Prints a script that completes slipway's commands, options, their values\n"
			"and app names (asked of the daemon) in the shell:\n"
			"  bash: source <(slipway completion bash)   (in ~/.bashrc)\n"
			"  zsh:  source <(slipway completion zsh)    (in ~/.zshrc, after compinit)\n"
			"  fish: slipway completion fish | source    (in ~/.config/fish/config.fish)",
	},
};
