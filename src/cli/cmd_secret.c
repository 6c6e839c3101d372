/*
 * slipway secret keygen | encrypt | decrypt: secret values that live in
 * git as age files (core/age.h, docs/secrets.md), without a daemon.
 *
 *	keygen [-o FILE]            an identity file as age-keygen writes it
 *	encrypt -r age1... [-R F]   stdin -> the armored ciphertext on stdout
 *	encrypt ... --in-place F    every secret value in clear of F's Apps
 *	decrypt -i FILE             stdin -> the plaintext on stdout
 *
 * The recipients are an input: -r, -R, and with -e ENV an Environment's
 * spec.recipients (docs/secrets.md, "Environments"), asked of the daemon
 * or read from the document in -f FILE; all through one age_encrypt.
 */
#include "cli_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/age.h"
#include "core/core.h"
#include "core/paths.h"
#include "spec/spec.h"
#include "spec/seal.h"

#define LIST_MAX 64
#define INPUT_MAX (1024 * 1024) /* what valueFrom.age holds (and its file) */

struct str_list {
	const char *v[LIST_MAX];
	size_t n;
};

struct secret_opts {
	const char *output, *in_place, *environment, *file;
	struct str_list recipients, recipients_files, identities;
};

/* A repeatable option; the values point into argv. */
static int parse_list(void *field, const char *value)
{
	struct str_list *l = field;
	if (!*value || l->n == LIST_MAX)
		return -1;
	l->v[l->n++] = value;
	return 0;
}

static const struct sw_opt options[] = {
	{.name = "recipient", .letter = 'r', .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct secret_opts, recipients, struct str_list), .value = "RECIPIENT",
	 .parse = parse_list, .expect = "be a recipient (at most 64)",
	 .help = "encrypt: to this recipient, age1... (repeatable)"},
	{.name = "recipients-file", .letter = 'R', .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct secret_opts, recipients_files, struct str_list), .value = "FILE",
	 .parse = parse_list, .expect = "be a file (at most 64)",
	 .help = "encrypt: to the recipients in FILE, one a line, as age -R (repeatable)"},
	{.name = "environment", .letter = 'e', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct secret_opts, environment, const char *), .value = "ENV",
	 .help = "encrypt: to the recipients of environment ENV (spec.recipients), from the daemon"},
	{.name = "filename", .letter = 'f', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct secret_opts, file, const char *), .value = "FILE",
	 .help = "encrypt -e ENV: read ENV's Environment document from FILE, not the daemon"},
	{.name = "in-place", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct secret_opts, in_place, const char *), .value = "FILE",
	 .help = "encrypt: every secret value in clear of FILE's Apps, in the file itself"},
	{.name = "identity", .letter = 'i', .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct secret_opts, identities, struct str_list), .value = "FILE",
	 .parse = parse_list, .expect = "be an identity file (at most 64)",
	 .help = "decrypt: with the identities in FILE (repeatable)"},
	{.name = "output", .letter = 'o', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct secret_opts, output, const char *), .value = "FILE",
	 .help = "keygen: write the identity to FILE (mode 0600, never over a file)"},
	{0},
};

static int fail(const char *action, const char *msg)
{
	fprintf(stderr, "slipway secret %s: %s\n", action, msg);
	return 1;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The result of an action on stdout; 1 with the error printed. */
static int put(const char *action, const struct buf *b)
{
	if (write_all(1, b->s ? b->s : "", b->len) < 0) {
		fprintf(stderr, "slipway secret %s: cannot write stdout: %s\n", action, strerror(errno));
		return 1;
	}
	return 0;
}

static void wipe(struct buf *b)
{
	if (b->alloc)
		OPENSSL_cleanse(b->s, b->alloc);
	buf_release(b);
}

/* ---- keygen ---- */

static int keygen(const struct secret_opts *o)
{
	struct age_identity id;
	struct age_recipient r;
	struct sw_err err = {0};
	char sk[AGE_IDENTITY_SIZE], pk[AGE_RECIPIENT_SIZE], when[64];
	struct buf text = BUF_INIT;
	int fd = 1, rc = 1;

	if (age_identity_generate(&id, &err) < 0)
		return fail("keygen", err.msg);
	memcpy(r.pub, id.pub, sizeof(r.pub));
	age_recipient_format(&r, pk);
	age_identity_format(&id, sk);
	age_identity_cleanse(&id);
	time_t now = time(NULL);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	buf_addf(&text, "# created: %s\n# public key: %s\n%s\n", when, pk, sk);
	OPENSSL_cleanse(sk, sizeof(sk));
	if (o->output) {
		fd = open(o->output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			fprintf(stderr, "slipway secret keygen: cannot create \"%s\": %s%s\n", o->output,
				strerror(errno), errno == EEXIST ? " (a key is never overwritten)" : "");
			goto out;
		}
	}
	if (write_all(fd, text.s, text.len) < 0 || (o->output && close(fd) < 0)) {
		fprintf(stderr, "slipway secret keygen: cannot write \"%s\": %s\n",
			o->output ? o->output : "stdout", strerror(errno));
		goto out;
	}
	fprintf(stderr, "Public key: %s\n", pk);
	rc = 0;
out:
	wipe(&text);
	return rc;
}

/* ---- encrypt ---- */

struct recipients {
	struct age_recipient *r;
	size_t n;
};

static int load_recipients(struct recipients *rs, const struct secret_opts *o, struct sw_err *err)
{
	for (size_t i = 0; i < o->recipients.n; i++) {
		struct age_recipient r;
		if (age_recipient_parse(&r, o->recipients.v[i], err) < 0)
			return -1;
		rs->r = xrealloc(rs->r, (rs->n + 1) * sizeof(*rs->r));
		rs->r[rs->n++] = r;
	}
	for (size_t i = 0; i < o->recipients_files.n; i++) {
		struct buf text = BUF_INIT;
		int r = sw_read_file(&text, o->recipients_files.v[i], INPUT_MAX, err);
		if (r == 0)
			r = age_recipients_parse(&rs->r, &rs->n, text.s ? text.s : "", text.len,
						 o->recipients_files.v[i], err);
		buf_release(&text);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* Appends the recipients of a JSON array of "age1..." (where: for messages). */
static int add_json_recipients(struct recipients *rs, json_t *arr, const char *where,
			       struct sw_err *err)
{
	size_t i;
	json_t *x;
	json_array_foreach(arr, i, x) {
		struct age_recipient r;
		struct sw_err why = {0};
		if (age_recipient_parse(&r, json_string_value(x) ? json_string_value(x) : "", &why) < 0)
			return sw_errf(err, -1, "%s: recipients[%zu]: %s", where, i, why.msg);
		rs->r = xrealloc(rs->r, (rs->n + 1) * sizeof(*rs->r));
		rs->r[rs->n++] = r;
	}
	return 0;
}

/* The spec.recipients of environment env: from its Environment document
 * in file (validated as apply would), or from the daemon. -1 with err
 * ("" when the API call printed its error). */
static int env_recipients(struct cli *c, struct recipients *rs, const char *env, const char *file,
			  struct sw_err *err)
{
	json_t *j = NULL, *arr = NULL;
	struct buf text = BUF_INIT, path = BUF_INIT;
	struct spec_set set = {0};
	bool parsed = false;
	int r = -1;
	if (file) {
		if (sw_read_file(&text, file, SPEC_MAX_TEXT, err) < 0 ||
		    spec_parse_text(&set, text.s ? text.s : "", text.len, file, err) < 0)
			goto out;
		parsed = true;
		for (size_t i = 0; i < set.ndocs && !j; i++) {
			const struct spec_doc *d = &set.docs[i];
			if (strcmp(d->kind->name, "Environment") == 0 && strcmp(d->kind->name_of(d->obj), env) == 0)
				j = d->kind->to_json(d->obj);
		}
		if (!j) {
			sw_errf(err, -1, "%s: no Environment named \"%s\"", file, env);
			goto out;
		}
		arr = json_object_get(json_object_get(j, "spec"), "recipients");
	} else {
		/* secret is an offline command: the daemon is reached for -e only */
		cli_pathf(&path, "/v1/environments/%s", env);
		if (cli_connect(c, false) != 0 || cli_call(c, "GET", path.s, NULL, &j) != 0)
			goto out; /* said */
		arr = json_object_get(j, "recipients");
	}
	if (!json_array_size(arr)) {
		sw_errf(err, -1, "environment \"%s\" has no recipients (spec.recipients): its values "
			"are opened with the daemon's keys that no environment lists; give --recipient",
			env);
		goto out;
	}
	r = add_json_recipients(rs, arr, file ? file : env, err);
out:
	json_decref(j);
	if (parsed)
		spec_set_release(&set);
	buf_release(&text);
	buf_release(&path);
	return r;
}

static int seal_cb(struct buf *armor, const char *plain, size_t len, void *data, struct sw_err *err)
{
	const struct recipients *rs = data;
	return age_encrypt(armor, rs->r, rs->n, plain, len, true, err);
}

/* Writes text over path by a new file in its directory renamed over it,
 * with the old file's mode: a crash leaves the old file or the new one. */
static int replace_file(const char *path, const struct buf *text, struct sw_err *err)
{
	struct stat st;
	struct buf tmp = BUF_INIT;
	char *copy = xstrdup(path);
	int fd = -1, rc = -1;

	if (stat(path, &st) < 0) {
		sw_errf(err, -1, "cannot stat \"%s\": %s", path, strerror(errno));
		goto out;
	}
	buf_addf(&tmp, "%s/.%s.slipway-XXXXXX", dirname(copy), strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
	fd = mkstemp(tmp.s);
	if (fd < 0) {
		sw_errf(err, -1, "cannot write next to \"%s\": %s", path, strerror(errno));
		goto out;
	}
	if (fchmod(fd, st.st_mode & 07777) < 0 || write_all(fd, text->s ? text->s : "", text->len) < 0 ||
	    fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		sw_errf(err, -1, "cannot write \"%s\": %s", tmp.s, strerror(errno));
		unlink(tmp.s);
		goto out;
	}
	fd = -1;
	if (rename(tmp.s, path) < 0) {
		sw_errf(err, -1, "cannot replace \"%s\": %s", path, strerror(errno));
		unlink(tmp.s);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(copy);
	buf_release(&tmp);
	return rc;
}

static int encrypt(struct cli *c, const struct secret_opts *o)
{
	struct recipients rs = {0};
	struct sw_err err = {0};
	struct buf in = BUF_INIT, out = BUF_INIT;
	int rc = 1;

	if ((o->environment && env_recipients(c, &rs, o->environment, o->file, &err) < 0) ||
	    load_recipients(&rs, o, &err) < 0) {
		if (err.msg[0])
			fail("encrypt", err.msg);
		goto out;
	}
	if (o->in_place) {
		size_t count = 0;
		if (sw_read_file(&in, o->in_place, SPEC_MAX_TEXT, &err) < 0 ||
		    spec_seal_text(&out, &count, in.s ? in.s : "", in.len, o->in_place, seal_cb, &rs, &err) < 0 ||
		    (count && replace_file(o->in_place, &out, &err) < 0)) {
			fail("encrypt", err.msg);
			goto out;
		}
		if (count)
			fprintf(stderr, "%s: %zu secret value%s encrypted to %zu recipient%s\n", o->in_place,
				count, count == 1 ? "" : "s", rs.n, rs.n == 1 ? "" : "s");
		else
			fprintf(stderr, "%s: no secret value in clear (env entries with secret: true and "
					"a value); nothing changed\n", o->in_place);
		rc = 0;
		goto out;
	}
	if (sw_read_file(&in, "/dev/stdin", INPUT_MAX, &err) < 0 ||
	    age_encrypt(&out, rs.r, rs.n, in.s ? in.s : "", in.len, true, &err) < 0) {
		fail("encrypt", err.msg);
		goto out;
	}
	rc = put("encrypt", &out);
out:
	wipe(&in);
	buf_release(&out);
	free(rs.r);
	return rc;
}

/* ---- decrypt ---- */

static int decrypt(const struct secret_opts *o)
{
	struct age_identities ids = {0};
	struct sw_err err = {0};
	struct buf in = BUF_INIT, out = BUF_INIT;
	int rc = 1;

	for (size_t i = 0; i < o->identities.n; i++)
		if (age_identities_load(&ids, o->identities.v[i], &err) < 0) {
			fail("decrypt", err.msg);
			goto out;
		}
	if (sw_read_file(&in, "/dev/stdin", 64u * 1024 * 1024, &err) < 0 ||
	    age_decrypt(&out, &ids, in.s ? in.s : "", in.len, &err) < 0) {
		fail("decrypt", err.msg);
		goto out;
	}
	rc = put("decrypt", &out);
out:
	wipe(&out);
	buf_release(&in);
	age_identities_release(&ids);
	return rc;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct secret_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_secret.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	const char *action = argv[1];
	bool keygen_ = !strcmp(action, "keygen"), encrypt_ = !strcmp(action, "encrypt");
	bool decrypt_ = !strcmp(action, "decrypt");
	bool has_rcpt = o.recipients.n || o.recipients_files.n || o.environment;

	if (!keygen_ && !encrypt_ && !decrypt_)
		return sw_opt_error("secret", "unknown action \"%s\" (keygen, encrypt, decrypt)", action);
	if (n > 1)
		return sw_opt_error("secret", "unexpected argument \"%s\"", argv[2]);
	if (o.output && !keygen_)
		return sw_opt_error("secret", "-o goes with keygen");
	if ((has_rcpt || o.in_place) && !encrypt_)
		return sw_opt_error("secret", "--recipient, --recipients-file, -e and --in-place go with "
				    "encrypt");
	if (o.file && !o.environment)
		return sw_opt_error("secret", "-f FILE goes with -e ENV (the Environment document to "
				    "read ENV's recipients from)");
	if (o.identities.n && !decrypt_)
		return sw_opt_error("secret", "-i goes with decrypt");
	if (encrypt_ && !has_rcpt)
		return sw_opt_error("secret", "encrypt needs -e ENV, --recipient age1... or "
				    "--recipients-file FILE");
	if (decrypt_ && !o.identities.n)
		return sw_opt_error("secret", "decrypt needs -i IDENTITY_FILE");
	return keygen_ ? keygen(&o) : encrypt_ ? encrypt(c, &o) : decrypt(&o);
}

const struct cli_command cli_cmd_secret = {
	.summary = "make age keys, encrypt values for git (to an environment's recipients too), decrypt them",
	.run = run,
	.usage = {
		.name = "secret",
		.args = "keygen | encrypt | decrypt",
		.min_args = 1,
		.max_args = 2,
		.opts = options,
		.help = "Secret values that live in git, encrypted with age (docs/secrets.md); Debian's\n"
			"age and age-keygen read and write the same files and keys.\n"
			"keygen writes a new identity (stdout, or -o FILE with mode 0600) and its\n"
			"public key on stderr. encrypt reads a value on stdin and prints it as an\n"
			"armored age file for valueFrom.age, to every --recipient and every key of\n"
			"each --recipients-file, and with -e ENV to environment ENV's recipients\n"
			"(spec.recipients, asked of the daemon, or with -f FILE read from its\n"
			"Environment document there); with --in-place FILE.yaml it encrypts every env\n"
			"entry with `secret: true` and a value of FILE's Apps and keeps every other\n"
			"byte. decrypt reads an age file on stdin and prints the plaintext, with the\n"
			"identities of each -i FILE. The daemon opens valueFrom.age values itself,\n"
			"with serve --age-identity.",
	},
};
