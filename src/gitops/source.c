/* source: fetch jobs on their own threads, ref resolution, reading commits. */
#include "source_int.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/paths.h"
#include "core/sha256.h"
#include "spec/fields.h"
#include "spec/spec.h"
#include "splice.h"

struct source {
	uv_loop_t *loop;
	char *cache_dir;
	uv_async_t async;
	uv_timer_t watchdog;	 /* while jobs run: interrupts those past their deadline */
	int open_handles;	 /* async and watchdog, until both are closed */
	uv_mutex_t lock;	 /* guards jobs' done flags and the list */
	struct source_job *jobs; /* in source_fetch order: queued, running, or finished
				    and not yet reported */
	size_t running;		 /* jobs with a thread */
	uint64_t next_id;
};

static pthread_once_t git_once = PTHREAD_ONCE_INIT;
static int git_init_rc;

static void git_init(void)
{
	git_libgit2_init();
	/* a user's ~/.gitconfig (insteadOf, credential helpers) must not change
	 * what the daemon fetches */
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_SYSTEM, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, "");
	git_init_rc = source_stream_register();
}

void source_job_fail(struct source_job *job, const char *fmt, ...)
{
	if (job->err[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(job->err, sizeof(job->err), fmt, ap);
	va_end(ap);
}

void source_job_set_fd(struct source_job *job, int fd)
{
	pthread_mutex_lock(&job->fd_lock);
	job->fd = fd;
	pthread_mutex_unlock(&job->fd_lock);
}

/* ------------------------------------------------------------------ */
/* URLs                                                                */

void source_url_redact(struct buf *out, const char *url)
{
	const char *scheme = strstr(url, "://");
	if (!scheme) {
		buf_adds(out, url); /* scp-like user@host:path carries no secret */
		return;
	}
	const char *auth = scheme + 3;
	const char *slash = strchr(auth, '/');
	const char *at = NULL;
	for (const char *p = auth; *p && (!slash || p < slash); p++)
		if (*p == '@')
			at = p;
	const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (!colon) {
		buf_adds(out, url);
		return;
	}
	buf_add(out, url, (size_t)(colon - url)); /* keep the user, drop the password */
	buf_adds(out, at);
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static bool is_ssh_url(const char *url)
{
	if (has_prefix(url, "ssh://"))
		return true;
	if (strstr(url, "://"))
		return false;
	const char *colon = strchr(url, ':');
	const char *slash = strchr(url, '/');
	return colon && colon != url && (!slash || colon < slash);
}

static bool url_ok(const char *url)
{
	static const char *const schemes[] = {"file://", "git://", "http://", "https://", "ssh://"};
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (has_prefix(url, schemes[i]))
			return url[strlen(schemes[i])] != '\0';
	return is_ssh_url(url);
}

int source_url_check(const char *url, bool *is_ssh, struct sw_err *err)
{
	if (is_ssh)
		*is_ssh = url && is_ssh_url(url);
	if (url && url_ok(url))
		return 0;
	struct buf u = BUF_INIT;
	source_url_redact(&u, url ? url : "");
	sw_errf(err, SW_EINVAL, "url \"%s\" must be file://, git://, http(s)://, ssh:// or user@host:path",
		u.s);
	buf_release(&u);
	return SW_EINVAL;
}

/* host and port of an ssh URL (for known_hosts); port 22 when not given */
static void ssh_host_port(const char *url, char *host, size_t hsz, int *port)
{
	const char *h = url;
	*port = 22;
	if (has_prefix(url, "ssh://"))
		h = url + 6;
	const char *end = h + strcspn(h, has_prefix(url, "ssh://") ? "/" : ":");
	const char *at = memchr(h, '@', (size_t)(end - h));
	if (at)
		h = at + 1;
	const char *colon = NULL;
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (rb) {
			snprintf(host, hsz, "%.*s", (int)(rb - h - 1), h + 1);
			if (rb[1] == ':')
				*port = atoi(rb + 2);
			return;
		}
	}
	if (has_prefix(url, "ssh://"))
		colon = memchr(h, ':', (size_t)(end - h));
	snprintf(host, hsz, "%.*s", (int)((colon ? colon : end) - h), h);
	if (colon)
		*port = atoi(colon + 1);
}

static bool name_ok(const char *n)
{
	if (!n || !n[0] || n[0] == '.' || strlen(n) > 200)
		return false;
	for (const char *p = n; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return false;
	return true;
}

static void repo_path(struct buf *b, const char *cache_dir, const char *name)
{
	buf_addf(b, "%s/%s.git", cache_dir, name);
}

/* ------------------------------------------------------------------ */
/* libgit2 callbacks (on the fetch thread)                             */

static int check_limits(struct source_job *job, uint64_t received)
{
	if (atomic_load(&job->cancelled)) {
		source_job_fail(job, "cancelled");
		return -1;
	}
	if (received > job->max_bytes) {
		source_job_fail(job, "repository larger than %llu bytes (the fetch limit)",
				(unsigned long long)job->max_bytes);
		return -1;
	}
	if (sw_now_ms() >= job->deadline_ms) {
		source_job_fail(job, "timed out after %s", job->timeout_text);
		return -1;
	}
	return 0;
}

static int on_transfer(const git_indexer_progress *st, void *payload)
{
	struct source_job *job = payload;
	job->commit.received_bytes = st->received_bytes;
	return check_limits(job, st->received_bytes);
}

static int on_sideband(const char *str, int len, void *payload)
{
	struct source_job *job = payload;
	return check_limits(job, job->commit.received_bytes);
}

/* Reads a one-line secret file; never puts its contents in a message. */
static int read_secret(struct source_job *job, const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		source_job_fail(job, "cannot read credentials file \"%s\": %s", path, strerror(errno));
		return -1;
	}
	char line[4096];
	size_t n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	*out = xstrdup(line);
	explicit_bzero(line, sizeof(line));
	return 0;
}

static int on_credentials(git_credential **out, const char *url, const char *user_from_url,
			  unsigned int allowed, void *payload)
{
	struct source_job *job = payload;
	if (check_limits(job, job->commit.received_bytes) < 0)
		return -1;
	const char *user = job->username ? job->username : user_from_url ? user_from_url : "git";
	/* ssh without a user in the URL asks for the name first: not an attempt */
	if (allowed == GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user);
	if (job->auth_tries++ > 0) {
		source_job_fail(job, "authentication refused (check the credentials%s%s%s)",
				job->password_file || job->ssh_key_file ? " in \"" : "",
				job->password_file	? job->password_file
				: job->ssh_key_file ? job->ssh_key_file
						    : "",
				job->password_file || job->ssh_key_file ? "\"" : "");
		return -1;
	}
	if ((allowed & GIT_CREDENTIAL_SSH_KEY) && job->ssh_key_file)
		return git_credential_ssh_key_new(out, user, NULL, job->ssh_key_file, NULL);
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && job->password_file) {
		char *pw = NULL;
		if (read_secret(job, job->password_file, &pw) < 0)
			return -1;
		int r = git_credential_userpass_plaintext_new(out, user, pw);
		explicit_bzero(pw, strlen(pw));
		free(pw);
		return r;
	}
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user);
	source_job_fail(job, "authentication required, but no %s is configured",
			allowed & GIT_CREDENTIAL_SSH_KEY ? "ssh key" : "password or token file");
	return -1;
}

static int on_certificate(git_cert *cert, int valid, const char *host, void *payload)
{
	struct source_job *job = payload;
	if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
		return GIT_PASSTHROUGH; /* TLS: libgit2 verifies against the system store */
	git_cert_hostkey *hk = (git_cert_hostkey *)cert;
	char h[256];
	int port;
	ssh_host_port(job->url, h, sizeof(h), &port);
	if (!job->known_hosts_file) {
		source_job_fail(job, "no known_hosts file to check the host key of \"%s\"", h);
		return -1;
	}
	if (!(hk->type & GIT_CERT_SSH_RAW)) {
		source_job_fail(job, "the host key of \"%s\" cannot be checked", h);
		return -1;
	}
	struct buf text = BUF_INIT;
	FILE *f = fopen(job->known_hosts_file, "rb");
	if (!f) {
		source_job_fail(job, "cannot read known_hosts \"%s\": %s", job->known_hosts_file,
				strerror(errno));
		return -1;
	}
	char chunk[8192];
	size_t n;
	text.cap = 4u * 1024 * 1024;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(&text, chunk, n) < 0)
			break;
	fclose(f);
	int r = source_known_hosts_check(text.s ? text.s : "", text.len, h, port,
					 (const unsigned char *)hk->hostkey, hk->hostkey_len);
	buf_release(&text);
	if (r == 1)
		return 0;
	if (r < 0)
		source_job_fail(job, "host key of \"%s\" does not match known_hosts \"%s\" (refusing)",
				h, job->known_hosts_file);
	else
		source_job_fail(job, "host key of \"%s\" not in known_hosts \"%s\" (refusing unknown host)",
				h, job->known_hosts_file);
	return -1;
}

/* ------------------------------------------------------------------ */
/* ref resolution                                                      */

/* Compares version-ish names: runs of digits by value, the rest bytewise,
 * and a pre-release below its release ("v1.3.0-rc1" < "v1.3.0"), as in
 * semver. */
static int version_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			while (*a == '0')
				a++;
			while (*b == '0')
				b++;
			size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
			if (la != lb)
				return la < lb ? -1 : 1;
			int c = strncmp(a, b, la);
			if (c)
				return c;
			a += la;
			b += lb;
		} else {
			if (*a != *b)
				return (unsigned char)*a - (unsigned char)*b;
			a++;
			b++;
		}
	}
	if (*a == '-' && !*b)
		return -1;
	if (*b == '-' && !*a)
		return 1;
	return (unsigned char)*a - (unsigned char)*b;
}

static bool is_hex_sha(const char *s)
{
	size_t n = strlen(s);
	return n >= 4 && n <= 40 && strspn(s, "0123456789abcdefABCDEF") == n;
}

/* What to fetch for the ref, from the remote's advertised refs. */
struct plan {
	char *refname;	/* local ref holding the commit, or NULL for a SHA */
	char *refspecs[2];
	size_t nrefspecs;
};

static void plan_release(struct plan *p)
{
	free(p->refname);
	for (size_t i = 0; i < p->nrefspecs; i++)
		free(p->refspecs[i]);
}

static void plan_ref(struct plan *p, const char *full)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "+%s:%s", full, full);
	p->refname = xstrdup(full);
	p->refspecs[p->nrefspecs++] = buf_detach(&b);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void unknown_ref(struct source_job *job, const git_remote_head **heads, size_t n)
{
	char **names = xcalloc(n + 1, sizeof(char *));
	size_t nn = 0;
	struct buf b = BUF_INIT, br = BUF_INIT, tg = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		const char *r = heads[i]->name;
		if (has_prefix(r, "refs/heads/"))
			names[nn++] = xstrdup(r + 11);
		else if (has_prefix(r, "refs/tags/") && !strstr(r, "^{}"))
			names[nn++] = xstrdup(r + 10);
	}
	qsort(names, nn, sizeof(char *), cmp_strp);
	size_t shown_b = 0, shown_t = 0;
	for (size_t i = 0; i < n; i++) {
		const char *r = heads[i]->name;
		bool br_ = has_prefix(r, "refs/heads/");
		bool tg_ = has_prefix(r, "refs/tags/") && !strstr(r, "^{}");
		if (br_ && shown_b++ < 20)
			buf_addf(&br, "%s%s", shown_b > 1 ? ", " : "", r + 11);
		if (tg_ && shown_t++ < 20)
			buf_addf(&tg, "%s%s", shown_t > 1 ? ", " : "", r + 10);
	}
	buf_addf(&b, "ref \"%s\" not found: branches %s; tags %s", job->ref,
		 br.len ? br.s : "(none)", tg.len ? tg.s : "(none)");
	if (shown_b > 20 || shown_t > 20)
		buf_adds(&b, " (first 20 of each)");
	spec_add_suggestion(&b, job->ref, (const char *const *)names);
	source_job_fail(job, "%s", b.s);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	buf_release(&b);
	buf_release(&br);
	buf_release(&tg);
}

static int plan_fetch(struct plan *p, struct source_job *job, const git_remote_head **heads,
		      size_t n)
{
	const char *ref = job->ref;
	struct buf want = BUF_INIT;
	size_t refs = 0;
	for (size_t i = 0; i < n; i++)
		refs += has_prefix(heads[i]->name, "refs/heads/") || has_prefix(heads[i]->name, "refs/tags/");
	if (refs == 0) {
		source_job_fail(job, "the repository is empty (no branches or tags)");
		return -1;
	}
	if (!ref || !ref[0]) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(heads[i]->name, "HEAD") == 0 && heads[i]->symref_target) {
				plan_ref(p, heads[i]->symref_target);
				return 0;
			}
		for (size_t i = 0; i < n; i++) /* an old server: the branch at HEAD's commit */
			if (strcmp(heads[i]->name, "HEAD") == 0)
				for (size_t j = 0; j < n; j++)
					if (has_prefix(heads[j]->name, "refs/heads/") &&
					    git_oid_equal(&heads[j]->oid, &heads[i]->oid)) {
						plan_ref(p, heads[j]->name);
						return 0;
					}
		source_job_fail(job, "the remote has no default branch (HEAD); set a ref");
		return -1;
	}
	static const char *const prefixes[] = {"", "refs/heads/", "refs/tags/"};
	for (size_t k = 0; k < 3; k++) {
		buf_reset(&want);
		buf_addf(&want, "%s%s", prefixes[k], ref);
		if (k == 0 && !has_prefix(ref, "refs/"))
			continue;
		for (size_t i = 0; i < n; i++)
			if (strcmp(heads[i]->name, want.s) == 0) {
				plan_ref(p, want.s);
				buf_release(&want);
				return 0;
			}
	}
	buf_release(&want);
	if (strchr(ref, '*')) {
		const char *best = NULL;
		for (size_t i = 0; i < n; i++) {
			const char *r = heads[i]->name;
			if (!has_prefix(r, "refs/tags/") || strstr(r, "^{}") ||
			    fnmatch(ref, r + 10, 0) != 0)
				continue;
			if (!best || version_cmp(r + 10, best + 10) > 0)
				best = r;
		}
		if (best) {
			plan_ref(p, best);
			return 0;
		}
		source_job_fail(job, "no tag matches \"%s\"", ref);
		return -1;
	}
	if (is_hex_sha(ref)) {
		/* a commit: fetch every branch and tag, then look it up */
		p->refspecs[p->nrefspecs++] = xstrdup("+refs/heads/*:refs/heads/*");
		p->refspecs[p->nrefspecs++] = xstrdup("+refs/tags/*:refs/tags/*");
		return 0;
	}
	unknown_ref(job, heads, n);
	return -1;
}

/* ------------------------------------------------------------------ */
/* the fetch thread                                                    */

static int open_cache(git_repository **repo, const char *cache_dir, const char *name,
		      struct sw_err *err)
{
	struct buf path = BUF_INIT;
	repo_path(&path, cache_dir, name);
	int r = git_repository_open_bare(repo, path.s);
	if (r == GIT_ENOTFOUND)
		r = SW_ENOTFOUND;
	else if (r < 0)
		r = sw_errf(err, -1, "cannot open the cache \"%s\": %s", path.s,
			    git_error_last() ? git_error_last()->message : "?");
	buf_release(&path);
	return r;
}

static void fill_commit(struct source_job *job, git_commit *c)
{
	const git_signature *a = git_commit_author(c);
	git_oid_tostr(job->commit.sha, sizeof(job->commit.sha), git_commit_id(c));
	job->c_name = xstrdup(a->name ? a->name : "");
	job->c_email = xstrdup(a->email ? a->email : "");
	job->commit.time = a->when.time;
	job->commit.time_offset = a->when.offset;
	const char *msg = git_commit_message(c);
	job->c_subject = xstrndup(msg ? msg : "", msg ? strcspn(msg, "\n") : 0);
	job->commit.author_name = job->c_name;
	job->commit.author_email = job->c_email;
	job->commit.subject = job->c_subject;
	job->commit.ref = job->c_ref;
}

static void set_history(struct source_job *job, git_repository *repo, const git_oid *now)
{
	if (!job->previous || !job->previous[0]) {
		job->commit.history = SOURCE_HISTORY_FIRST;
		return;
	}
	git_oid prev;
	git_object *o = NULL;
	if (git_oid_fromstrn(&prev, job->previous, strlen(job->previous)) < 0 ||
	    git_object_lookup_prefix(&o, repo, &prev, strlen(job->previous), GIT_OBJECT_COMMIT) < 0) {
		job->commit.history = SOURCE_HISTORY_UNKNOWN;
		return;
	}
	prev = *git_object_id(o);
	git_object_free(o);
	if (git_oid_equal(&prev, now))
		job->commit.history = SOURCE_HISTORY_SAME;
	else if (git_graph_descendant_of(repo, now, &prev) == 1)
		job->commit.history = SOURCE_HISTORY_FORWARD;
	else
		job->commit.history = SOURCE_HISTORY_REWRITTEN;
}

static bool pack_file(const char *n)
{
	size_t l = strlen(n);
	return strncmp(n, "pack-", 5) == 0 &&
	       ((l > 5 && strcmp(n + l - 5, ".pack") == 0) || (l > 4 && strcmp(n + l - 4, ".idx") == 0) ||
		(l > 5 && strcmp(n + l - 5, ".keep") == 0) || (l > 4 && strcmp(n + l - 4, ".rev") == 0));
}

static int insert_object(const git_oid *id, void *payload)
{
	return git_packbuilder_insert(payload, id, NULL);
}

/*
 * Every fetch that brings objects adds a pack to the cache, and libgit2
 * cannot repack: past SOURCE_MAX_PACKS packs, write one pack of every
 * object (reachable or not: an old force-pushed commit stays readable) and
 * remove the others. Best effort: a failure leaves the cache as it was.
 */
static void compact_cache(git_repository *repo)
{
	struct buf dir = BUF_INIT, path = BUF_INIT;
	git_packbuilder *pb = NULL;
	git_odb *odb = NULL;
	buf_addf(&dir, "%sobjects/pack", git_repository_path(repo));
	DIR *d = opendir(dir.s);
	size_t packs = 0;
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (pack_file(de->d_name) && strstr(de->d_name, ".pack"))
			packs++;
	if (d)
		closedir(d);
	if (packs <= SOURCE_MAX_PACKS)
		goto out;
	if (git_repository_odb(&odb, repo) < 0 || git_packbuilder_new(&pb, repo) < 0 ||
	    git_odb_foreach(odb, insert_object, pb) < 0 ||
	    git_packbuilder_write(pb, dir.s, 0, NULL, NULL) < 0)
		goto out;
	const char *keep = git_packbuilder_name(pb); /* the hex name of the new pack */
	if (!keep || !(d = opendir(dir.s)))
		goto out;
	while ((de = readdir(d)))
		if (pack_file(de->d_name) && !strstr(de->d_name, keep)) {
			buf_reset(&path);
			buf_addf(&path, "%s/%s", dir.s, de->d_name);
			unlink(path.s);
		}
	closedir(d);
out:
	git_packbuilder_free(pb);
	git_odb_free(odb);
	buf_release(&dir);
	buf_release(&path);
}

static void git_fail(struct source_job *job, const char *what)
{
	const git_error *e = git_error_last();
	if (sw_now_ms() >= job->deadline_ms) /* the watchdog cut the connection */
		source_job_fail(job, "timed out after %s", job->timeout_text);
	source_job_fail(job, "%s%s%s", what, e && e->message ? ": " : "",
			e && e->message ? e->message : "");
}

static int on_push_ref(const char *refname, const char *status, void *payload)
{
	struct source_job *job = payload;
	if (status && !job->rejected[0])
		snprintf(job->rejected, sizeof(job->rejected), "%s: %s", refname, status);
	return 0;
}

/*
 * An anonymous remote of job->url on repo, connected for dir with the
 * job's callbacks (credentials, host key, limits): 0, or -1 with the
 * job's error set and nothing held.
 */
static int connect_remote(git_remote **out, git_remote_callbacks *cbs, struct source_job *job,
			  git_repository *repo, git_direction dir)
{
	git_remote *remote = NULL;
	*out = NULL;
	/* no url.*.insteadOf rewriting: the URL is what the document says (and
	 * libgit2 1.5 leaks the regex match data of every config entry it
	 * looks at for insteadOf, some 20 KiB per fetch) */
	git_remote_create_options ro;
	git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	ro.repository = repo;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if (git_remote_create_with_opts(&remote, job->url, &ro) < 0) {
		git_fail(job, "bad URL");
		return -1;
	}
	git_remote_init_callbacks(cbs, GIT_REMOTE_CALLBACKS_VERSION);
	cbs->transfer_progress = on_transfer;
	cbs->sideband_progress = on_sideband;
	cbs->credentials = on_credentials;
	cbs->certificate_check = on_certificate;
	cbs->push_update_reference = on_push_ref;
	cbs->payload = job;
	job->auth_tries = 0; /* each connection asks anew */
	if (git_remote_connect(remote, dir, cbs, NULL, NULL) < 0) {
		git_fail(job, "cannot connect");
		git_remote_free(remote);
		return -1;
	}
	*out = remote;
	return 0;
}

static void run_fetch(struct source_job *job)
{
	struct source *s = job->s;
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_object *obj = NULL;
	git_commit *commit = NULL;
	struct plan plan = {0};
	struct sw_err err = {0};
	struct buf path = BUF_INIT;

	int r = open_cache(&repo, s->cache_dir, job->name, &err);
	if (r == SW_ENOTFOUND) {
		repo_path(&path, s->cache_dir, job->name);
		if (git_repository_init(&repo, path.s, 1) < 0) {
			git_fail(job, "cannot create the cache");
			goto out;
		}
	} else if (r < 0) {
		source_job_fail(job, "%s", err.msg);
		goto out;
	}
	git_remote_callbacks cbs;
	if (connect_remote(&remote, &cbs, job, repo, GIT_DIRECTION_FETCH) < 0)
		goto out;
	const git_remote_head **heads;
	size_t nheads;
	if (git_remote_ls(&heads, &nheads, remote) < 0) {
		git_fail(job, "cannot list the remote's refs");
		goto out;
	}
	if (plan_fetch(&plan, job, heads, nheads) < 0)
		goto out;
	git_fetch_options fo;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.callbacks = cbs;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	fo.update_fetchhead = 0;
	git_strarray specs = {.strings = plan.refspecs, .count = plan.nrefspecs};
	if (git_remote_download(remote, &specs, &fo) < 0) {
		git_fail(job, "fetch failed");
		goto out;
	}
	if (git_remote_update_tips(remote, &cbs, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE, NULL) < 0) {
		git_fail(job, "cannot update the cache's refs");
		goto out;
	}
	if (plan.refname) {
		if (git_revparse_single(&obj, repo, plan.refname) < 0) {
			git_fail(job, "cannot read the fetched ref");
			goto out;
		}
		job->c_ref = xstrdup(plan.refname);
	} else {
		git_oid want;
		git_oid_fromstrn(&want, job->ref, strlen(job->ref));
		if (git_object_lookup_prefix(&obj, repo, &want, strlen(job->ref), GIT_OBJECT_ANY) < 0) {
			source_job_fail(job, "commit \"%s\" not found on any branch or tag", job->ref);
			goto out;
		}
		job->c_ref = xstrdup(job->ref);
	}
	if (git_object_peel((git_object **)&commit, obj, GIT_OBJECT_COMMIT) < 0) {
		source_job_fail(job, "ref \"%s\" does not name a commit", job->ref ? job->ref : "HEAD");
		goto out;
	}
	fill_commit(job, commit);
	set_history(job, repo, git_commit_id(commit));
	compact_cache(repo);
out:
	if (job->err[0] == '\0' && !job->commit.sha[0])
		source_job_fail(job, "fetch failed");
	plan_release(&plan);
	buf_release(&path);
	git_commit_free(commit);
	git_object_free(obj);
	if (remote)
		git_remote_disconnect(remote);
	git_remote_free(remote);
	git_repository_free(repo);
}

/* ---- write-back (source_push) ---- */

typedef int (*doc_finder)(size_t *start, size_t *end, const char *text, size_t len, const char *key,
			  const char *file, struct sw_err *err);

/* The file of files that holds the document `find` finds for key: its
 * index in *idx; 1 when there is none and `quiet`, else -1 with the
 * job's error. */
static int find_in(struct source_job *job, const struct source_files *files, const char *sha, doc_finder find,
		   const char *key, size_t *idx, bool quiet)
{
	char env[64];
	const char *name;
	spec_key_split(key, env, &name); /* files hold the name, not the key */
	size_t found = 0, alen = strlen(name);
	for (size_t i = 0; i < files->n; i++) {
		const struct source_file *f = &files->v[i];
		size_t a, b;
		if (!memmem(f->data, f->len, name, alen)) /* cheap: most files are other apps' */
			continue;
		struct sw_err ferr = {0};
		int r = find(&a, &b, f->data, f->len, key, f->path, &ferr);
		if (r == SW_ENOTFOUND)
			continue;
		if (r < 0) {
			source_job_fail(job, "%s", ferr.msg);
			return -1;
		}
		if (found++) {
			source_job_fail(job, "%s \"%s\" is defined in %s and %s at %.7s",
					find == splice_find_app ? "app" : "patch", key, files->v[*idx].path,
					f->path, sha);
			return -1;
		}
		*idx = i;
	}
	if (!found && quiet)
		return 1;
	if (!found) {
		source_job_fail(job, "app \"%s\" is not in git at %.7s", key, sha);
		return -1;
	}
	return 0;
}

static int read_at(struct source_job *job, const char *sha, struct source_files *files)
{
	struct sw_err err = {0};
	if (source_read(files, job->s, job->name, sha, (const char *const *)job->paths, 0, &err) < 0) {
		source_job_fail(job, "%s", err.msg);
		return -1;
	}
	return 0;
}

/* The file of job->paths at sha that holds App job->app: its index in
 * *files (read at sha, the caller releases them). */
static int find_app_file(struct source_job *job, const char *sha, struct source_files *files,
			 size_t *idx)
{
	if (read_at(job, sha, files) < 0)
		return -1;
	return find_in(job, files, sha, splice_find_app, job->app, idx, false);
}

/*
 * Where a promotion's new Patch for job->app goes (docs/internals/
 * environments.md, "Slice 2, as built"): envs/ENV/APP.yaml beside the
 * directory of the base App's file (deploy/base/hello.yaml gives
 * deploy/envs/prod/hello.yaml), a directory the source must read. Caller
 * frees; NULL with the job's error.
 */
static char *new_patch_path(struct source_job *job, const char *base_file)
{
	char env[64];
	const char *name;
	spec_key_split(job->app, env, &name);
	struct buf dir = BUF_INIT, path = BUF_INIT;
	const char *slash = strrchr(base_file, '/');
	size_t dl = slash ? (size_t)(slash - base_file) : 0;
	while (dl > 0 && base_file[dl - 1] != '/')
		dl--; /* the parent of the base's directory */
	buf_addf(&dir, "%.*senvs/%s", (int)dl, base_file, env);
	buf_addf(&path, "%s/%s.yaml", dir.s, name);
	bool read = false;
	for (size_t i = 0; job->paths[i] && !read; i++)
		read = strcmp(job->paths[i], dir.s) == 0 || strcmp(job->paths[i], path.s) == 0;
	if (!read) {
		source_job_fail(job, "app \"%s\" has no Patch for %s: a new one would go to %s, which the "
				"source does not read (add %s to its path)", job->app, env, path.s, dir.s);
		buf_release(&path);
	}
	buf_release(&dir);
	return read ? buf_detach(&path) : NULL;
}

/*
 * A promotion's text: the release in the app's own document, else in its
 * environment's Patch, else in a new Patch (new_patch_path). *bf is the
 * file changed, or NULL for a new file at *new_path (caller frees).
 */
static int promotion_text(struct source_job *job, const char *sha, struct source_files *files,
			  struct buf *text, const struct source_file **bf, char **new_path)
{
	struct sw_err err = {0};
	char env[64];
	const char *name;
	size_t i = 0;
	int r;
	*bf = NULL;
	*new_path = NULL;
	if (read_at(job, sha, files) < 0)
		return -1;
	spec_key_split(job->app, env, &name);
	if ((r = find_in(job, files, sha, splice_find_app, job->app, &i, true)) < 0)
		return -1;
	if (r == 0) {
		*bf = &files->v[i];
		r = splice_set_version(text, (*bf)->data, (*bf)->len, (*bf)->path, job->app, job->version, &err);
	} else if (!spec_env_is_default(env) &&
		   (r = find_in(job, files, sha, splice_find_patch, job->app, &i, true)) == 0) {
		*bf = &files->v[i];
		r = splice_patch_version(text, (*bf)->data, (*bf)->len, (*bf)->path, job->app, job->version,
					 &err);
	} else if (r == 1 && !spec_env_is_default(env)) {
		/* from a base without a Patch for the environment: a new one */
		if (find_in(job, files, sha, splice_find_app, name, &i, false) < 0 ||
		    !(*new_path = new_patch_path(job, files->v[i].path)))
			return -1;
		for (size_t k = 0; k < files->n && !*bf; k++)
			if (strcmp(files->v[k].path, *new_path) == 0)
				*bf = &files->v[k];
		if (*bf) {
			free(*new_path);
			*new_path = NULL;
		}
		splice_patch_add(text, *bf ? (*bf)->data : "", *bf ? (*bf)->len : 0, job->app, job->version);
		return 0;
	} else {
		if (r == 1)
			source_job_fail(job, "app \"%s\" is not in git at %.7s", job->app, sha);
		return -1;
	}
	if (r < 0) {
		source_job_fail(job, "%s", err.msg);
		return -1;
	}
	return 0;
}

/*
 * The commit on top of base giving the app its document at job->target
 * (or, for a promotion, its spec.version set to job->version): 0 with
 * *out, 1 when base has that document already, -1 with the job's error.
 */
static int make_commit(struct source_job *job, git_repository *repo, const git_oid *base,
		       git_oid *out)
{
	struct source_files at_target = {0}, at_base = {0};
	struct buf text = BUF_INIT;
	struct sw_err err = {0};
	git_commit *parent = NULL;
	git_tree *tree = NULL, *next = NULL;
	git_tree_entry *ent = NULL;
	git_signature *sig = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	size_t ti = 0, bi = 0;
	int r = -1;
	char *new_path = NULL;
	const struct source_file *bf = NULL, *tf = NULL;
	git_oid_tostr(hex, sizeof(hex), base);
	if (job->version) {
		if (promotion_text(job, hex, &at_base, &text, &bf, &new_path) < 0)
			goto out;
	} else if (find_app_file(job, job->target, &at_target, &ti) < 0 ||
		   find_app_file(job, hex, &at_base, &bi) < 0) {
		goto out;
	} else {
		bf = &at_base.v[bi];
		tf = &at_target.v[ti];
	}
	const char *changed = bf ? bf->path : new_path;
	if (tf && strcmp(tf->path, bf->path) != 0) {
		source_job_fail(job, "app \"%s\" is in %s at %.7s but in %s at %.7s: it moved, so the "
				"rollback is not written back", job->app, tf->path, job->target, bf->path,
				hex);
		goto out;
	}
	if (tf && splice_app(&text, bf->data, bf->len, bf->path, tf->data, tf->len, tf->path,
			     job->app, &err) < 0) {
		source_job_fail(job, "%s", err.msg);
		goto out;
	}
	free(job->p_file);
	job->p_file = xstrdup(changed);
	if (bf && text.len == bf->len && memcmp(text.s, bf->data, text.len) == 0) {
		r = 1;
		goto out;
	}
	git_oid blob, tree_id;
	if (git_blob_create_from_buffer(&blob, repo, text.s, text.len) < 0 ||
	    git_commit_lookup(&parent, repo, base) < 0 || git_commit_tree(&tree, parent) < 0 ||
	    (bf && git_tree_entry_bypath(&ent, tree, changed) < 0)) {
		git_fail(job, "cannot write the commit");
		goto out;
	}
	git_tree_update upd = {GIT_TREE_UPDATE_UPSERT, blob, ent ? git_tree_entry_filemode(ent) : GIT_FILEMODE_BLOB,
			       changed};
	if (git_tree_create_updated(&tree_id, repo, tree, 1, &upd) < 0 ||
	    git_tree_lookup(&next, repo, &tree_id) < 0 ||
	    git_signature_now(&sig, job->author_name, job->author_email) < 0 ||
	    git_commit_create(out, repo, NULL, sig, sig, NULL, job->message, next, 1,
			      (const git_commit **)&parent) < 0) {
		git_fail(job, "cannot write the commit");
		goto out;
	}
	r = 0;
out:
	free(new_path);
	source_files_release(&at_target);
	source_files_release(&at_base);
	buf_release(&text);
	git_signature_free(sig);
	git_tree_entry_free(ent);
	git_tree_free(next);
	git_tree_free(tree);
	git_commit_free(parent);
	return r;
}

#define WRITE_BACK_REF "refs/slipway/write-back"

/* Pushes commit id to the branch: 0, 1 when the remote refused it (the
 * branch moved; why in job->rejected), -1 with the job's error. */
static int push_commit(struct source_job *job, git_repository *repo, const git_oid *id)
{
	git_reference *ref = NULL;
	git_remote *remote = NULL;
	git_remote_callbacks cbs;
	struct buf spec = BUF_INIT;
	int r = -1;
	if (git_reference_create(&ref, repo, WRITE_BACK_REF, id, 1, "write-back") < 0) {
		git_fail(job, "cannot write the commit");
		goto out;
	}
	if (connect_remote(&remote, &cbs, job, repo, GIT_DIRECTION_PUSH) < 0)
		goto out;
	buf_addf(&spec, WRITE_BACK_REF ":refs/heads/%s", job->branch);
	char *specs[] = {spec.s};
	git_strarray refspecs = {specs, 1};
	git_push_options po;
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks = cbs;
	job->rejected[0] = '\0';
	int pr = git_remote_upload(remote, &refspecs, &po);
	if (pr == GIT_ENONFASTFORWARD) {
		const git_error *e = git_error_last();
		snprintf(job->rejected, sizeof(job->rejected), "%s", e && e->message ? e->message
									 : "not a fast-forward");
		r = 1;
	} else if (pr < 0) {
		git_fail(job, "push failed");
	} else {
		r = job->rejected[0] ? 1 : 0;
	}
out:
	if (remote)
		git_remote_disconnect(remote);
	git_remote_free(remote);
	if (ref)
		git_reference_delete(ref);
	git_reference_free(ref);
	buf_release(&spec);
	return r;
}

/* Fetches the branch into the cache: its commit in *out. */
static int fetch_branch(struct source_job *job, git_repository *repo, git_oid *out)
{
	git_remote *remote = NULL;
	git_remote_callbacks cbs;
	struct buf spec = BUF_INIT, name = BUF_INIT;
	int r = -1;
	if (connect_remote(&remote, &cbs, job, repo, GIT_DIRECTION_FETCH) < 0)
		goto out;
	buf_addf(&name, "refs/heads/%s", job->branch);
	buf_addf(&spec, "+%s:%s", name.s, name.s);
	char *specs[] = {spec.s};
	git_strarray refspecs = {specs, 1};
	git_fetch_options fo;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.callbacks = cbs;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	fo.update_fetchhead = 0;
	if (git_remote_download(remote, &refspecs, &fo) < 0 ||
	    git_remote_update_tips(remote, &cbs, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE, NULL) < 0 ||
	    git_reference_name_to_id(out, repo, name.s) < 0) {
		git_fail(job, "cannot fetch the branch again");
		goto out;
	}
	r = 0;
out:
	if (remote)
		git_remote_disconnect(remote);
	git_remote_free(remote);
	buf_release(&spec);
	buf_release(&name);
	return r;
}

static void run_push(struct source_job *job)
{
	git_repository *repo = NULL;
	struct sw_err err = {0};
	git_oid base, id;
	if (open_cache(&repo, job->s->cache_dir, job->name, &err) < 0) {
		source_job_fail(job, "%s", err.code == SW_ENOTFOUND ? "the source has not been fetched"
								     : err.msg);
		goto out;
	}
	if (git_oid_fromstr(&base, job->base) < 0) {
		source_job_fail(job, "commit \"%s\" is not a full SHA", job->base);
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		if (check_limits(job, 0) < 0)
			goto out;
		git_oid_tostr(job->pushed.base, sizeof(job->pushed.base), &base);
		int r = make_commit(job, repo, &base, &id);
		if (r != 0) /* failed, or nothing to do */
			goto out;
		r = push_commit(job, repo, &id);
		if (r == 0) {
			git_oid_tostr(job->pushed.sha, sizeof(job->pushed.sha), &id);
			goto out;
		}
		if (r < 0)
			goto out;
		if (attempt > 0) {
			source_job_fail(job, "the push to %s was refused again after a fetch: %s",
					job->branch, job->rejected);
			goto out;
		}
		if (fetch_branch(job, repo, &base) < 0)
			goto out;
		job->pushed.redone = true;
	}
out:
	job->pushed.file = job->p_file;
	git_repository_free(repo);
}

static void job_thread(void *arg)
{
	struct source_job *job = arg;
	struct source *s = job->s; /* outlives the thread: both are joined first */
	source_stream_set_job(job);
	if (job->push)
		run_push(job);
	else
		run_fetch(job);
	source_stream_set_job(NULL);
	uv_mutex_lock(&s->lock);
	job->done = true;
	uv_mutex_unlock(&s->lock);
	uv_async_send(&s->async);
}

static void job_free(struct source_job *job)
{
	free(job->name);
	free(job->url);
	free(job->shown_url);
	free(job->ref);
	free(job->previous);
	free(job->username);
	free(job->password_file);
	free(job->ssh_key_file);
	free(job->known_hosts_file);
	free(job->c_ref);
	free(job->c_name);
	free(job->c_email);
	free(job->c_subject);
	free(job->branch);
	free(job->base);
	free(job->target);
	free(job->version);
	free(job->app);
	free(job->author_name);
	free(job->author_email);
	free(job->message);
	free(job->p_file);
	for (size_t i = 0; job->paths && job->paths[i]; i++)
		free(job->paths[i]);
	free(job->paths);
	pthread_mutex_destroy(&job->fd_lock);
	free(job);
}

/* ------------------------------------------------------------------ */
/* the loop side                                                       */

/* Wakes a thread blocked on its socket (libssh2 reads it itself, and waits
 * in select() without a timeout): the read fails and the fetch ends. */
static void job_interrupt(struct source_job *j)
{
	pthread_mutex_lock(&j->fd_lock);
	if (j->fd >= 0)
		shutdown(j->fd, SHUT_RDWR);
	pthread_mutex_unlock(&j->fd_lock);
}

static void on_watchdog(uv_timer_t *t)
{
	struct source *s = t->data;
	if (!s->jobs) {
		uv_timer_stop(t);
		return;
	}
	uint64_t now = sw_now_ms();
	for (struct source_job *j = s->jobs; j; j = j->next)
		if (j->started && now >= j->deadline_ms)
			job_interrupt(j);
}

/* Starts the thread of a queued job; its time limit starts now. */
static void job_start(struct source *s, struct source_job *job)
{
	job->deadline_ms = sw_now_ms() + job->timeout_ms;
	job->started = true;
	s->running++;
	if (uv_thread_create(&job->thread, job_thread, job) != 0) {
		job->started = false;
		s->running--;
		source_job_fail(job, "cannot start a fetch thread");
		uv_mutex_lock(&s->lock);
		job->done = true;
		uv_mutex_unlock(&s->lock);
		uv_async_send(&s->async);
		return;
	}
	if (!uv_is_active((uv_handle_t *)&s->watchdog))
		uv_timer_start(&s->watchdog, on_watchdog, 100, 100);
}

static void start_queued(struct source *s)
{
	for (struct source_job *j = s->jobs; j && s->running < SOURCE_MAX_RUNNING; j = j->next)
		if (!j->started && !j->done)
			job_start(s, j);
}

static void on_async(uv_async_t *a)
{
	struct source *s = a->data;
	for (;;) {
		struct source_job *job = NULL, **pp;
		uv_mutex_lock(&s->lock);
		for (pp = &s->jobs; *pp; pp = &(*pp)->next)
			if ((*pp)->done) {
				job = *pp;
				*pp = job->next;
				break;
			}
		uv_mutex_unlock(&s->lock);
		if (!job)
			break;
		if (job->started) {
			uv_thread_join(&job->thread);
			s->running--;
		}
		start_queued(s); /* before the callback, which may queue more */
		if (!atomic_load(&job->cancelled)) {
			if (job->err[0]) {
				struct buf msg = BUF_INIT;
				buf_addf(&msg, "%s %s: %s", job->push ? "push to" : "fetch", job->shown_url,
					 job->err);
				if (job->push)
					job->push_cb(NULL, msg.s, job->data);
				else
					job->cb(NULL, msg.s, job->data);
				buf_release(&msg);
			} else if (job->push) {
				job->push_cb(&job->pushed, NULL, job->data);
			} else {
				job->cb(&job->commit, NULL, job->data);
			}
		}
		job_free(job);
	}
}

int source_new(struct source **out, uv_loop_t *loop, const char *cache_dir, struct sw_err *err)
{
	*out = NULL;
	pthread_once(&git_once, git_init);
	if (git_init_rc < 0)
		return sw_errf(err, -1, "cannot set up libgit2's socket stream");
	if (mkdir(cache_dir, 0700) < 0 && errno != EEXIST)
		return sw_errf(err, -1, "cannot create \"%s\": %s", cache_dir, strerror(errno));
	struct source *s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->cache_dir = xstrdup(cache_dir);
	s->next_id = 1;
	uv_mutex_init(&s->lock);
	uv_async_init(loop, &s->async, on_async);
	s->async.data = s;
	uv_timer_init(loop, &s->watchdog);
	s->watchdog.data = s;
	s->open_handles = 2;
	*out = s;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	struct source *s = h->data;
	if (--s->open_handles > 0)
		return;
	uv_mutex_destroy(&s->lock);
	free(s->cache_dir);
	free(s);
}

void source_free(struct source *s)
{
	if (!s)
		return;
	s->running = SOURCE_MAX_RUNNING; /* nothing queued starts from here on */
	for (struct source_job *j = s->jobs; j; j = j->next)
		if (j->started) {
			atomic_store(&j->cancelled, true);
			job_interrupt(j);
		}
	while (s->jobs) {
		struct source_job *j = s->jobs;
		s->jobs = j->next;
		if (j->started)
			uv_thread_join(&j->thread);
		job_free(j);
	}
	uv_close((uv_handle_t *)&s->async, on_closed);
	uv_close((uv_handle_t *)&s->watchdog, on_closed);
}

static char *dup_or_null(const char *x)
{
	return x ? xstrdup(x) : NULL;
}

/* A job for source `name` at url, checked as source_fetch says, or NULL
 * with err. */
static struct source_job *job_new(struct source *s, const char *name, const char *url,
				  uint64_t timeout_ms, const struct source_credentials *cred,
				  void *data, struct sw_err *err)
{
	if (!name_ok(name)) {
		sw_errf(err, SW_EINVAL, "source name \"%s\" must be letters, digits, '.', '_' or '-'",
			name ? name : "");
		return NULL;
	}
	bool ssh;
	if (source_url_check(url, &ssh, err) < 0)
		return NULL;
	if (ssh && !cred->known_hosts_file) {
		sw_errf(err, SW_EINVAL, "an ssh url needs a known_hosts file");
		return NULL;
	}
	for (struct source_job *j = s->jobs; j; j = j->next)
		if (strcmp(j->name, name) == 0) {
			sw_errf(err, SW_EBUSY, "a fetch of \"%s\" is already running", name);
			return NULL;
		}
	struct source_job *job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->id = s->next_id++;
	job->data = data;
	job->timeout_ms = timeout_ms ? timeout_ms : SOURCE_DEFAULT_TIMEOUT_MS;
	sw_duration_format(job->timeout_text, sizeof(job->timeout_text), job->timeout_ms);
	job->max_bytes = SOURCE_DEFAULT_MAX_BYTES;
	job->name = xstrdup(name);
	job->url = xstrdup(url);
	struct buf u = BUF_INIT;
	source_url_redact(&u, url);
	job->shown_url = buf_detach(&u);
	job->username = dup_or_null(cred->username);
	job->password_file = dup_or_null(cred->password_file);
	job->ssh_key_file = dup_or_null(cred->ssh_key_file);
	job->known_hosts_file = dup_or_null(cred->known_hosts_file);
	job->fd = -1;
	pthread_mutex_init(&job->fd_lock, NULL);
	return job;
}

/* Queues the job (in call order) and starts it if a thread is free. */
static uint64_t job_enqueue(struct source *s, struct source_job *job)
{
	struct source_job **tail = &s->jobs;
	uv_mutex_lock(&s->lock);
	while (*tail)
		tail = &(*tail)->next;
	*tail = job;
	uv_mutex_unlock(&s->lock);
	if (s->running < SOURCE_MAX_RUNNING)
		job_start(s, job);
	return job->id;
}

uint64_t source_fetch(struct source *s, const struct source_request *req, source_cb cb, void *data,
		      struct sw_err *err)
{
	SW_ASSERT(cb);
	struct source_job *job = job_new(s, req->name, req->url, req->timeout_ms, &req->cred, data, err);
	if (!job)
		return 0;
	job->cb = cb;
	if (req->max_bytes)
		job->max_bytes = req->max_bytes;
	job->ref = dup_or_null(req->ref && req->ref[0] ? req->ref : NULL);
	job->previous = dup_or_null(req->previous);
	return job_enqueue(s, job);
}

uint64_t source_push(struct source *s, const struct source_push_request *req, source_push_cb cb,
		     void *data, struct sw_err *err)
{
	SW_ASSERT(cb);
	bool target = req->target && req->target[0], version = req->version && req->version[0];
	if (!req->branch || !req->branch[0] || !req->base || strlen(req->base) != 40 ||
	    target == version || !req->app || !req->paths || !req->author_name ||
	    !req->author_email || !req->message) {
		sw_errf(err, SW_EINVAL, "a write-back needs a branch, a base commit, a target commit or "
			"a version (one of them), an app, paths, an author and a message");
		return 0;
	}
	struct source_job *job = job_new(s, req->name, req->url, req->timeout_ms, &req->cred, data, err);
	if (!job)
		return 0;
	job->push = true;
	job->push_cb = cb;
	job->branch = xstrdup(req->branch);
	job->base = xstrdup(req->base);
	job->target = target ? xstrdup(req->target) : NULL;
	job->version = version ? xstrdup(req->version) : NULL;
	job->app = xstrdup(req->app);
	job->author_name = xstrdup(req->author_name);
	job->author_email = xstrdup(req->author_email);
	job->message = xstrdup(req->message);
	size_t n = 0;
	while (req->paths[n])
		n++;
	job->paths = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		job->paths[i] = xstrdup(req->paths[i]);
	return job_enqueue(s, job);
}

void source_cancel(struct source *s, uint64_t id)
{
	for (struct source_job **pp = &s->jobs; *pp; pp = &(*pp)->next) {
		struct source_job *j = *pp;
		if (j->id != id)
			continue;
		if (!j->started && !j->done) { /* queued: no thread to wait for */
			uv_mutex_lock(&s->lock);
			*pp = j->next;
			uv_mutex_unlock(&s->lock);
			job_free(j);
			return;
		}
		atomic_store(&j->cancelled, true);
		job_interrupt(j);
		return;
	}
}

size_t source_pending(const struct source *s)
{
	size_t n = 0;
	for (const struct source_job *j = s->jobs; j; j = j->next)
		if (!atomic_load(&j->cancelled))
			n++;
	return n;
}

/* ------------------------------------------------------------------ */
/* reading a commit                                                    */

void source_files_release(struct source_files *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].path);
		free(f->v[i].data);
	}
	free(f->v);
	f->v = NULL;
	f->n = 0;
}

static bool yaml_name(const char *n)
{
	size_t l = strlen(n);
	if (n[0] == '.')
		return false;
	return (l > 5 && strcmp(n + l - 5, ".yaml") == 0) || (l > 4 && strcmp(n + l - 4, ".yml") == 0);
}

static bool regular(git_filemode_t m)
{
	return m == GIT_FILEMODE_BLOB || m == GIT_FILEMODE_BLOB_EXECUTABLE;
}

static int add_blob(struct source_files *out, git_repository *repo, const git_oid *id,
		    const char *path, uint64_t *total, uint64_t max_total, const char *at,
		    struct sw_err *err)
{
	git_blob *b = NULL;
	if (git_blob_lookup(&b, repo, id) < 0)
		return sw_errf(err, -1, "%s: cannot read the file at %s", path, at);
	uint64_t size = (uint64_t)git_blob_rawsize(b);
	if (spec_check_size(path, size, false, err) < 0) {
		git_blob_free(b);
		return -1;
	}
	*total += size;
	if (*total > max_total) {
		git_blob_free(b);
		return sw_errf(err, -1, "%s: the files at %s together are larger than %llu bytes", path,
			       at, (unsigned long long)max_total);
	}
	out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
	struct source_file *f = &out->v[out->n++];
	f->path = xstrdup(path);
	f->len = (size_t)size;
	f->data = xmalloc(f->len + 1);
	memcpy(f->data, git_blob_rawcontent(b), f->len);
	f->data[f->len] = '\0';
	git_blob_free(b);
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(git_tree_entry_name(*(const git_tree_entry *const *)a),
		      git_tree_entry_name(*(const git_tree_entry *const *)b));
}

static int read_dir(struct source_files *out, git_repository *repo, const git_tree *tree,
		    const char *path, uint64_t *total, uint64_t max_total, const char *at,
		    struct sw_err *err)
{
	size_t n = git_tree_entrycount(tree), k = 0;
	const git_tree_entry **v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		if (regular(git_tree_entry_filemode(e)) && yaml_name(git_tree_entry_name(e)))
			v[k++] = e;
	}
	int r = -1;
	uint64_t here = 0;
	if (k == 0) {
		sw_errf(err, SW_ENOTFOUND, "no *.yaml or *.yml files in \"%s\" at %s",
			path[0] ? path : ".", at);
		goto out;
	}
	qsort(v, k, sizeof(*v), cmp_entry);
	for (size_t i = 0; i < k; i++) {
		struct buf p = BUF_INIT;
		buf_addf(&p, "%s%s%s", path, path[0] ? "/" : "", git_tree_entry_name(v[i]));
		uint64_t before = *total;
		int rr = add_blob(out, repo, git_tree_entry_id(v[i]), p.s, total, max_total, at, err);
		buf_release(&p);
		if (rr < 0)
			goto out;
		here += *total - before;
		if (spec_check_size(path[0] ? path : ".", here, true, err) < 0)
			goto out;
	}
	r = 0;
out:
	free(v);
	return r;
}

/* "./a//b/" -> "a/b"; "." and "" -> "" */
static char *clean_path(const char *p)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, "");
	while (*p) {
		size_t n = strcspn(p, "/");
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (b.len)
				buf_addc(&b, '/');
			buf_add(&b, p, n);
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return buf_detach(&b);
}

/* The cache's repository and the tree of commit `sha` in it; on failure
 * nothing is held. */
static int open_tree(git_repository **repo_out, git_tree **tree_out, struct source *s,
		     const char *name, const char *sha, struct sw_err *err)
{
	git_repository *repo = NULL;
	git_object *obj = NULL;
	git_tree *tree = NULL;
	git_oid id;
	int r;
	*repo_out = NULL;
	*tree_out = NULL;
	pthread_once(&git_once, git_init);
	if (!name_ok(name))
		return sw_errf(err, SW_EINVAL, "source name \"%s\" is not valid", name ? name : "");
	if ((r = open_cache(&repo, s->cache_dir, name, err)) < 0) {
		if (r == SW_ENOTFOUND)
			sw_errf(err, SW_ENOTFOUND, "source \"%s\" has not been fetched", name);
		return r;
	}
	if (!sha || !is_hex_sha(sha) || git_oid_fromstrn(&id, sha, strlen(sha)) < 0 ||
	    git_object_lookup_prefix(&obj, repo, &id, strlen(sha), GIT_OBJECT_COMMIT) < 0) {
		git_repository_free(repo);
		return sw_errf(err, SW_ENOTFOUND, "commit \"%s\" not found in the cache of \"%s\"",
			       sha ? sha : "", name);
	}
	r = git_commit_tree(&tree, (git_commit *)obj);
	git_object_free(obj);
	if (r < 0) {
		git_repository_free(repo);
		return sw_errf(err, -1, "cannot read the tree of %.7s", sha);
	}
	*repo_out = repo;
	*tree_out = tree;
	return 0;
}

int source_read(struct source_files *out, struct source *s, const char *name, const char *sha,
		const char *const *paths, uint64_t max_total, struct sw_err *err)
{
	out->v = NULL;
	out->n = 0;
	git_repository *repo = NULL;
	git_tree *tree = NULL;
	uint64_t total = 0;
	int r;
	char at[16];
	if (!max_total)
		max_total = SOURCE_DEFAULT_MAX_TOTAL;
	snprintf(at, sizeof(at), "%.7s", sha ? sha : "");
	if ((r = open_tree(&repo, &tree, s, name, sha, err)) < 0)
		goto out;
	r = -1;
	for (size_t i = 0; paths && paths[i]; i++) {
		char *p = clean_path(paths[i]);
		int rr;
		if (!p[0]) {
			rr = read_dir(out, repo, tree, p, &total, max_total, at, err);
		} else {
			git_tree_entry *e = NULL;
			if (git_tree_entry_bypath(&e, tree, p) < 0) {
				rr = sw_errf(err, SW_ENOTFOUND, "path \"%s\" not found at %s", p, at);
			} else if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
				git_tree *sub = NULL;
				rr = git_tree_lookup(&sub, repo, git_tree_entry_id(e));
				if (rr == 0)
					rr = read_dir(out, repo, sub, p, &total, max_total, at, err);
				else
					rr = sw_errf(err, -1, "cannot read \"%s\" at %s", p, at);
				git_tree_free(sub);
			} else if (regular(git_tree_entry_filemode(e))) {
				rr = add_blob(out, repo, git_tree_entry_id(e), p, &total, max_total, at,
					      err);
			} else {
				rr = sw_errf(err, -1, "\"%s\" at %s is not a regular file or directory", p,
					     at);
			}
			git_tree_entry_free(e);
		}
		free(p);
		if (rr < 0)
			goto out;
	}
	r = 0;
out:
	if (r < 0) {
		source_files_release(out);
		r = err && err->code < 0 ? err->code : -1;
	}
	git_tree_free(tree);
	git_repository_free(repo);
	return r;
}

/* ---- checkouts ---- */

struct walk {
	git_repository *repo;
	const char *prefix;            /* "dir/" of the subtree in the repository, "" the root */
	const char *const *skip;       /* sorted (source_tree_open), nskip of them */
	size_t nskip;
	struct buf hash;               /* what names the checkout: path, mode, id of each entry */
	bool skipped;
	const char *dest;              /* writing: the directory, else NULL */
	int error;
	struct sw_err *err;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool skipped(const struct walk *w, const char *root, const char *name)
{
	if (!w->nskip)
		return false;
	struct buf path = BUF_INIT;
	buf_addf(&path, "%s%s%s", w->prefix, root, name);
	const char *key = path.s;
	bool found = bsearch(&key, w->skip, w->nskip, sizeof(*w->skip), cmp_str) != NULL;
	buf_release(&path);
	return found;
}

static int write_entry(struct walk *w, const char *rel, const git_tree_entry *e)
{
	struct buf path = BUF_INIT;
	git_blob *b = NULL;
	int r = 0, fd = -1;
	git_filemode_t m = git_tree_entry_filemode(e);
	buf_addf(&path, "%s/%s", w->dest, rel);
	if (m == GIT_FILEMODE_TREE) {
		if (mkdir(path.s, 0755) < 0 && errno != EEXIST)
			r = sw_errf(w->err, -1, "cannot create \"%s\": %s", path.s, strerror(errno));
	} else if (regular(m) || m == GIT_FILEMODE_LINK) {
		if (git_blob_lookup(&b, w->repo, git_tree_entry_id(e)) < 0) {
			r = sw_errf(w->err, -1, "cannot read \"%s%s\"", w->prefix, rel);
		} else if (m == GIT_FILEMODE_LINK) {
			/* a symlink stays one, as git checks it out */
			char *target = xstrndup(git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
			if (symlink(target, path.s) < 0)
				r = sw_errf(w->err, -1, "cannot create \"%s\": %s", path.s, strerror(errno));
			free(target);
		} else {
			fd = open(path.s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
				  m == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644);
			const char *data = git_blob_rawcontent(b);
			size_t len = (size_t)git_blob_rawsize(b), off = 0;
			while (fd >= 0 && off < len) {
				ssize_t n = write(fd, data + off, len - off);
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
					break;
				off += (size_t)n;
			}
			if (fd < 0 || off < len || close(fd) < 0)
				r = sw_errf(w->err, -1, "cannot write \"%s\": %s", path.s, strerror(errno));
			fd = -1;
		}
	} /* submodules (commits) have no content here */
	git_blob_free(b);
	buf_release(&path);
	return r;
}

static int walk_entry(const char *root, const git_tree_entry *e, void *payload)
{
	struct walk *w = payload;
	const char *name = git_tree_entry_name(e);
	if (!w->dest && git_tree_entry_filemode(e) != GIT_FILEMODE_TREE && skipped(w, root, name)) {
		w->skipped = true;
		return 0;
	}
	struct buf rel = BUF_INIT;
	buf_addf(&rel, "%s%s", root, name);
	if (w->dest) {
		if (write_entry(w, rel.s, e) < 0)
			w->error = -1;
	} else {
		char hex[GIT_OID_HEXSZ + 1];
		char mode[16];
		git_oid_tostr(hex, sizeof(hex), git_tree_entry_id(e));
		snprintf(mode, sizeof(mode), "%o", (unsigned)git_tree_entry_filemode(e));
		buf_add(&w->hash, rel.s, rel.len + 1);
		buf_add(&w->hash, mode, strlen(mode) + 1);
		buf_add(&w->hash, hex, strlen(hex) + 1);
	}
	buf_release(&rel);
	return w->error < 0 ? -1 : 0;
}

struct source_tree {
	git_repository *repo;
	git_tree *tree;
	char sha[GIT_OID_HEXSZ + 1];
	const char **skip;             /* sorted copies of the pointers */
	size_t nskip;
};

int source_tree_open(struct source_tree **out, struct source *s, const char *name, const char *sha,
		     const char *const *skip, struct sw_err *err)
{
	struct source_tree *t = xcalloc(1, sizeof(*t));
	*out = NULL;
	int r = open_tree(&t->repo, &t->tree, s, name, sha, err);
	if (r < 0) {
		free(t);
		return r;
	}
	snprintf(t->sha, sizeof(t->sha), "%s", sha);
	while (skip && skip[t->nskip])
		t->nskip++;
	t->skip = xcalloc(t->nskip + 1, sizeof(*t->skip));
	memcpy(t->skip, skip, t->nskip * sizeof(*t->skip));
	qsort(t->skip, t->nskip, sizeof(*t->skip), cmp_str);
	*out = t;
	return 0;
}

void source_tree_close(struct source_tree *t)
{
	if (!t)
		return;
	git_tree_free(t->tree);
	git_repository_free(t->repo);
	free(t->skip);
	free(t);
}

int source_tree_checkout(char **out, struct source_tree *st, const char *dir, const char *trees_dir,
			 struct sw_err *err)
{
	git_repository *repo = st->repo;
	git_tree *tree = st->tree, *sub = NULL;
	git_tree_entry *ent = NULL;
	const char *sha = st->sha;
	struct buf final = BUF_INIT, tmp = BUF_INIT, prefix = BUF_INIT;
	char *d = clean_path(dir ? dir : "");
	struct walk w = {.skip = st->skip, .nskip = st->nskip, .err = err};
	int r = -1;
	*out = NULL;
	if (d[0]) {
		if (git_tree_entry_bypath(&ent, tree, d) < 0 ||
		    git_tree_entry_type(ent) != GIT_OBJECT_TREE) {
			r = sw_errf(err, SW_ENOTFOUND, "\"%s\" is not a directory in the repository at %.7s",
				    d, sha);
			goto out;
		}
		if (git_tree_lookup(&sub, repo, git_tree_entry_id(ent)) < 0) {
			sw_errf(err, -1, "cannot read \"%s\" at %.7s", d, sha);
			goto out;
		}
		buf_addf(&prefix, "%s/", d);
	}
	const git_tree *t = sub ? sub : tree;
	w.repo = repo;
	w.prefix = buf_str(&prefix);
	w.hash = (struct buf)BUF_INIT;
	if (git_tree_walk(t, GIT_TREEWALK_PRE, walk_entry, &w) < 0) {
		sw_errf(err, -1, "cannot read \"%s\" at %.7s", d[0] ? d : ".", sha);
		goto out;
	}
	char key[65];
	sw_sha256_hex(w.hash.s ? w.hash.s : "", w.hash.len, key);
	if (!w.skipped) /* nothing left out: the tree's own id names it */
		git_oid_tostr(key, sizeof(key), git_tree_id(t));
	buf_addf(&final, "%s/%.40s", trees_dir, key);
	if (access(final.s, F_OK) == 0) {
		*out = buf_detach(&final);
		r = 0;
		goto out;
	}
	if (sw_mkdir_p(trees_dir, 0700) < 0) {
		sw_errf(err, -1, "cannot create \"%s\": %s", trees_dir, strerror(errno));
		goto out;
	}
	buf_addf(&tmp, "%s/.new-%.40s-%ld", trees_dir, key, (long)getpid());
	sw_rm_rf(tmp.s);
	if (mkdir(tmp.s, 0755) < 0) {
		sw_errf(err, -1, "cannot create \"%s\": %s", tmp.s, strerror(errno));
		goto out;
	}
	w.dest = tmp.s;
	if (git_tree_walk(t, GIT_TREEWALK_PRE, walk_entry, &w) < 0 || w.error < 0) {
		if (!err->msg[0])
			sw_errf(err, -1, "cannot check out \"%s\" at %.7s", d[0] ? d : ".", sha);
		sw_rm_rf(tmp.s);
		goto out;
	}
	if (rename(tmp.s, final.s) < 0) {
		int e = errno;
		sw_rm_rf(tmp.s);
		if (access(final.s, F_OK) != 0) { /* not another checkout of the same */
			sw_errf(err, -1, "cannot rename \"%s\": %s", tmp.s, strerror(e));
			goto out;
		}
	}
	*out = buf_detach(&final);
	r = 0;
out:
	free(d);
	buf_release(&w.hash);
	buf_release(&final);
	buf_release(&tmp);
	buf_release(&prefix);
	git_tree_entry_free(ent);
	git_tree_free(sub);
	return r;
}

int source_checkout(char **out, struct source *s, const char *name, const char *sha,
		    const char *dir, const char *const *skip, const char *trees_dir,
		    struct sw_err *err)
{
	struct source_tree *t = NULL;
	*out = NULL;
	int r = source_tree_open(&t, s, name, sha, skip, err);
	if (r == 0)
		r = source_tree_checkout(out, t, dir, trees_dir, err);
	source_tree_close(t);
	return r;
}
