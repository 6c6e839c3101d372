/*
 * source: fetch a git repository off the event loop and read the documents
 * of a commit. This is the fetching half of GitOps (issue 12): it knows git,
 * limits and credentials, and nothing of apps, the store or the engine. The
 * gitops sync (above the engine, DESIGN.md) calls it and parses what it
 * returns with spec_parse_text, exactly as `slipway apply -f DIR` does with
 * a directory, then applies it through the engine as the API does.
 *
 *	struct source *s;
 *	if (source_new(&s, loop, "/var/lib/slipway/sources", &err) != 0) ...
 *	struct source_request req = {.name = "shop", .url = "https://git.example/shop.git",
 *				     .ref = "main", .previous = last_sha};
 *	uint64_t id = source_fetch(s, &req, on_fetched, ctx, &err);
 *	...
 *	static void on_fetched(const struct source_commit *c, const char *error, void *data)
 *	{
 *		if (error) ... "fetch https://git.example/shop.git: timed out after 60s" ...
 *		else ... c->sha, c->subject, c->history == SOURCE_HISTORY_REWRITTEN ...
 *	}
 *	...
 *	struct source_files files;
 *	const char *paths[] = {"deploy", NULL};
 *	if (source_read(&files, s, "shop", c->sha, paths, 0, &err) == 0)
 *		for (size_t i = 0; i < files.n; i++)
 *			spec_parse_text(&set, files.v[i].data, files.v[i].len,
 *					files.v[i].path, &err);
 *	source_files_release(&files);
 *	...
 *	source_free(s);   then let the loop run so the handles finish closing
 *
 * Threading. Every fetch runs on a thread of its own (never the loop's, and
 * not libuv's small shared pool, which a slow remote would starve), and its
 * result comes back on the loop through a uv_async_t. One struct source
 * belongs to one loop and is used from that loop's thread only, except
 * source_read and source_files_release, which touch nothing but the cache
 * on disk and may be called from any thread (the engine may read a big
 * commit on a worker of its own).
 *
 * Limits. Every fetch has a time limit (timeout_ms, connect to last byte)
 * and a size limit (max_bytes, bytes received from the remote). libgit2 1.5
 * has no connect or read timeout of its own, so this module registers its
 * own plain socket stream with libgit2 (git_stream_register; TLS and ssh run
 * over it): connect is non-blocking and waited for with poll(), reads and
 * writes wait in slices and give up at the deadline or on cancel, and
 * libgit2's progress callbacks (transfer, sideband, credentials,
 * certificate) stop the fetch once received bytes pass max_bytes or the
 * deadline passes. libssh2 reads the socket itself and would wait for a
 * silent server forever, so a watchdog timer on the loop (every 100 ms
 * while fetches run) shuts down the socket of a fetch past its deadline.
 * So a server that accepts and never answers costs at most timeout_ms plus
 * 100 ms, and source_cancel / source_free end a fetch within a fraction of
 * a second (except while it resolves the host name: getaddrinfo cannot be
 * interrupted and is bounded by the resolver's own timeouts).
 *
 * Cache. One bare repository per source name, CACHE_DIR/NAME.git, created
 * on the first fetch and fetched into incrementally afterwards (the refs it
 * already holds are offered as "haves", so one new commit costs one small
 * pack). Only the ref asked for is fetched; a commit SHA fetches every
 * branch and tag and looks the commit up among them. Branches are kept as
 * refs/heads/B, tags as refs/tags/T, both forced
 * (a force push replaces the branch), so the previous commit stays in the
 * cache and history can be compared. Each fetch that brings objects adds a
 * pack; past SOURCE_MAX_PACKS packs the fetch rewrites them into one (all
 * objects kept, so old commits stay readable). Nothing else is written
 * outside CACHE_DIR. Deleting the directory of a source only costs a full fetch.
 *
 * Credentials come from files named in the request, read by the fetch
 * thread when the remote asks for them (so a rotated file takes effect on
 * the next fetch). Their contents never reach a log line, an error message
 * or the cache (the remote URL is not stored in the repository's config;
 * a URL's own user:password@ is removed from every message).
 *
 * Errors. The callback's error names the URL (without credentials) and says
 * what went wrong, e.g.
 *   fetch git://127.0.0.1:9/r.git: connect to 127.0.0.1:9 failed: Connection refused
 *   fetch file:///srv/r.git: ref "mian" not found: branches dev, main; tags v1.0.0
 *       (did you mean "main"?)
 *   fetch https://h/r.git: authentication refused (check the credentials in "/etc/tok")
 *   fetch git://h/r.git: timed out after 2s
 *   fetch git://h/r.git: repository larger than 1048576 bytes (the fetch limit)
 *   fetch ssh://h/r.git: host key of "h" not in known_hosts "/etc/kh" (refusing unknown host)
 * and the files of a commit are named "PATH:1:1: ..." as spec_check_size
 * names them (their own position).
 */
#ifndef SW_SOURCE_H
#define SW_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/core.h"

struct source; /* one per loop */

/* Fetches that run at once per struct source; more wait (see source_fetch). */
#define SOURCE_MAX_RUNNING 8
/* Packs in a cache repository before a fetch rewrites them into one. */
#define SOURCE_MAX_PACKS 32
#define SOURCE_DEFAULT_TIMEOUT_MS 60000u
#define SOURCE_DEFAULT_MAX_BYTES (256u * 1024 * 1024)
#define SOURCE_DEFAULT_MAX_TOTAL (64u * 1024 * 1024)

/*
 * Creates the fetcher on `loop`, with the cache under cache_dir (created
 * if missing, mode 0700). Returns 0 and the fetcher in *out, or -1 with err
 * set. The first call in the process initialises libgit2 and registers the
 * socket stream described above (once, for the whole process).
 */
int source_new(struct source **out, uv_loop_t *loop, const char *cache_dir, struct sw_err *err);

/*
 * Frees the fetcher. Every fetch still running is cancelled and waited for
 * (its thread is joined, which takes at most a fraction of a second since
 * a cancelled fetch stops at its next read or progress report), and its
 * callback is NOT called. The uv handles are closed: the loop must run
 * afterwards for the memory to be released. Must not be called from inside
 * a fetch callback. NULL is ignored.
 */
void source_free(struct source *s);

/* Credentials, each a path of a file or NULL. */
struct source_credentials {
	const char *username;	      /* for https basic auth (default "git", which token
					 hosts accept) and ssh (default the URL's user, else
					 "git") */
	const char *password_file;    /* https: the password (basic auth) or a token; one
					 line, a trailing newline is dropped */
	const char *ssh_key_file;     /* ssh: a private key without passphrase */
	const char *known_hosts_file; /* ssh: required with ssh URLs; the host's key must
					 be listed (OpenSSH format, hashed entries and
					 [host]:port too); an unknown or different key is
					 refused */
};

/* One fetch. Everything is copied by source_fetch. */
struct source_request {
	const char *name;     /* the cache key: [A-Za-z0-9._-]+, not starting with '.' */
	const char *url;      /* file://, git://, http(s)://, ssh:// or scp-like
				 user@host:path */
	const char *ref;      /* a branch, a tag, a commit SHA (4 to 40 hex digits,
				 found among the remote's branches and tags), or a
				 tag pattern with '*' ("v1.*": the highest matching
				 tag, comparing the numbers in the names, a
				 pre-release "v1.3.0-rc1" below "v1.3.0"); NULL or ""
				 means the remote's default branch (HEAD) */
	const char *previous; /* the SHA last deployed from this source, or NULL: the
				 result says whether the new commit descends from it */
	uint64_t timeout_ms;  /* 0: SOURCE_DEFAULT_TIMEOUT_MS */
	uint64_t max_bytes;   /* 0: SOURCE_DEFAULT_MAX_BYTES */
	struct source_credentials cred;
};

/* How the fetched commit relates to request.previous. */
enum source_history {
	SOURCE_HISTORY_FIRST = 0, /* no previous commit was given */
	SOURCE_HISTORY_SAME,	  /* the same commit */
	SOURCE_HISTORY_FORWARD,	  /* a descendant of the previous commit */
	SOURCE_HISTORY_REWRITTEN, /* not a descendant: a force push or a ref moved back;
				     the new commit is fetched all the same */
	SOURCE_HISTORY_UNKNOWN,	  /* the previous commit is not in the cache (a deleted
				     cache), so nothing can be said */
};

struct source_commit {
	char sha[41];		     /* full hex SHA-1 of the commit */
	const char *ref;	     /* what the request's ref resolved to: "refs/heads/main",
					"refs/tags/v1.2.0", or the SHA itself */
	const char *author_name;
	const char *author_email;
	int64_t time;		     /* author time, seconds since the epoch */
	int time_offset;	     /* the author's UTC offset, minutes */
	const char *subject;	     /* first line of the message, without its newline */
	enum source_history history;
	uint64_t received_bytes;     /* bytes received from the remote by this fetch */
};

/*
 * Called exactly once per fetch that was not cancelled, always on the loop
 * and never from inside source_fetch itself. On success error is NULL and
 * c the commit; on failure c is NULL and error as described above. c and
 * error are valid only during the call. The callback may start and cancel
 * fetches (not source_free).
 */
typedef void (*source_cb)(const struct source_commit *c, const char *error, void *data);

/*
 * Starts a fetch. Returns its id (never 0, never reused), or 0 with err set
 * when the request is invalid (no name or URL, a bad name, an unsupported
 * URL scheme, an ssh URL without known_hosts_file) or a fetch of the same
 * name is already running or waiting (err->code SW_EBUSY: one fetch per
 * cache repository at a time). At most SOURCE_MAX_RUNNING fetches run at
 * once (each holds a thread and a connection); the others wait in the order
 * of their source_fetch calls, and a fetch's time limit starts when it
 * runs, not while it waits.
 */
uint64_t source_fetch(struct source *s, const struct source_request *req, source_cb cb, void *data,
		      struct sw_err *err);

/*
 * Cancels one fetch: its callback is not called, now or later, and after
 * the call `data` is never used again. The thread stops at its next read
 * or progress report and the cache stays consistent (libgit2 writes refs
 * only after a complete pack). The name stays busy (source_fetch fails
 * with SW_EBUSY) until the thread has stopped. Unknown or finished ids are
 * ignored. Safe from inside a callback.
 */
void source_cancel(struct source *s, uint64_t id);

/*
 * Write-back (gitops.h): a commit that gives App `app` back the document
 * it had at commit `target`, made on top of `base` and pushed to
 * `branch`, with the fetch's credentials, threading and time limit (the
 * whole job, the retry included, within timeout_ms). On the job's thread:
 *   1. the files of `paths` at target and at base are read as source_read
 *      reads them, and the one holding App `app` found in each (splice.h);
 *      the app in another file at base than at target, or in none, fails
 *      ("app "hello" is in deploy/a.yaml at 3f2a1bc but in deploy/b.yaml
 *      at 9c0ffee: it moved, so its rollback is not written back");
 *   2. that file at base gets the app's document of target (splice_app),
 *      every other byte kept; when it already has it nothing is pushed
 *      (pushed->sha "");
 *   3. a commit of it (parent base, author and committer `author_name
 *      <author_email>` now, `message`) is pushed to refs/heads/BRANCH
 *      without force;
 *   4. a push refused because the branch moved (someone pushed meanwhile:
 *      not a fast-forward, or the remote refused the ref) fetches the
 *      branch into the cache and does 1-3 once more on its new head
 *      (pushed->redone); refused again, it fails with the remote's reason.
 * A promotion's write-back names a version instead of a target: step 1
 * finds the file at base only, and step 2 sets the app's spec.version
 * there (splice_set_version). The app is named by key ("prod/hello").
 * The cache gets the commit's objects, never a branch of it: the next
 * fetch finds the commit on the remote like any other.
 */
struct source_push_request {
	const char *name;             /* the source, as for source_fetch (one job per name) */
	const char *url;
	const char *branch;           /* "main" */
	const char *base;             /* full SHA: the commit fetched last */
	const char *target;           /* full SHA: where the app's document comes from */
	const char *version;          /* instead of target (a promotion): the app's spec.version
					 becomes this (splice_set_version) */
	const char *app;
	const char *const *paths;     /* the source's paths, NULL-terminated */
	const char *author_name, *author_email;
	const char *message;          /* the whole commit message */
	uint64_t timeout_ms;          /* 0: SOURCE_DEFAULT_TIMEOUT_MS */
	struct source_credentials cred;
};

struct source_pushed {
	char sha[41];                 /* the commit pushed; "" when nothing was to be done */
	char base[41];                /* the commit it went on top of */
	const char *file;             /* the file it changed */
	bool redone;                  /* the first push was refused: made again on the new head */
};

/* As source_cb: exactly once unless cancelled, on the loop; p or error. */
typedef void (*source_push_cb)(const struct source_pushed *p, const char *error, void *data);

/* Starts a write-back; id or 0 with err (as source_fetch: SW_EBUSY while
 * a fetch or push of that name runs or waits). */
uint64_t source_push(struct source *s, const struct source_push_request *req, source_push_cb cb,
		     void *data, struct sw_err *err);

/* Fetches running (started, callback not yet called). */
size_t source_pending(const struct source *s);

struct source_file {
	char *path;  /* repository-relative, "deploy/app.yaml" */
	char *data;  /* the file's bytes, NUL-terminated (not counted in len) */
	size_t len;
};

struct source_files {
	struct source_file *v;
	size_t n;
};

/*
 * Reads the documents of commit `sha` (full or a unique prefix) from the
 * cache of source `name`, for each of the NULL-terminated `paths`
 * (repository-relative; "" or "." is the root), with the rules of
 * `slipway apply -f PATH`:
 *   - a directory gives its own *.yaml and *.yml files (name longer than the
 *     extension, not starting with '.'), in strcmp order of their names;
 *     subdirectories are not entered and entries that are not regular files
 *     (symlinks, submodules) are skipped; none at all is an error
 *     ("no *.yaml or *.yml files in \"deploy\" at abc1234");
 *   - a file gives itself, whatever its name;
 *   - one file over SPEC_MAX_TEXT, or the files of one path together, fail as
 *     spec_check_size says, and all paths together may hold at most
 *     max_total bytes (0: SOURCE_DEFAULT_MAX_TOTAL);
 *   - a missing path fails: "path \"deploy\" not found at abc1234".
 * Files come back in the order of `paths`, then name order; a file named by
 * two paths comes twice. Returns 0 with *out filled (the caller releases it
 * with source_files_release), or -1 (SW_ENOTFOUND for a missing commit or
 * path) with err set and *out empty. Any thread; touches only the cache.
 */
int source_read(struct source_files *out, struct source *s, const char *name, const char *sha,
		const char *const *paths, uint64_t max_total, struct sw_err *err);

void source_files_release(struct source_files *f);

/*
 * Checks out directory `dir` (repository-relative; "" or "." the root) of
 * commit `sha` from the cache of `name` into a directory of its own under
 * trees_dir, and gives its path in *out (caller frees): what an app from
 * git runs in (its run.workdir). Checkouts are content-addressed and
 * never change once made: the directory's name is the git tree id of
 * `dir`, or, when some of the files in it are listed in `skip`
 * (repository-relative paths, NULL-terminated; the source's documents),
 * the SHA-256 of what is left. So a commit that changes nothing under
 * `dir` but the documents gives the same path, and an app's revision
 * changes only when what it runs changes. The files are all written
 * (skipped ones too); modes are git's (0755 for executables, 0644), symlinks
 * stay symlinks, submodules are empty directories. A checkout is written
 * to a temporary name and renamed, so a crash never leaves half of one.
 * SW_ENOTFOUND: ""dir" is not a directory in the repository at abc1234".
 * Any thread; touches only the cache and trees_dir.
 */
int source_checkout(char **out, struct source *s, const char *name, const char *sha,
		    const char *dir, const char *const *skip, const char *trees_dir,
		    struct sw_err *err);

/*
 * source_checkout for many directories of one commit (every app of a
 * monorepo): the cache and the commit's tree are opened once and the
 * skip list sorted once, so each checkout costs its own directory only.
 * The errors are source_checkout's; one source_tree per thread.
 */
struct source_tree;
int source_tree_open(struct source_tree **out, struct source *s, const char *name, const char *sha,
		     const char *const *skip, struct sw_err *err);
int source_tree_checkout(char **out, struct source_tree *t, const char *dir, const char *trees_dir,
			 struct sw_err *err);
void source_tree_close(struct source_tree *t);

/*
 * Looks up an ssh host key in the text of a known_hosts file (OpenSSH
 * format: "HOSTS KEYTYPE BASE64 [comment]" lines; HOSTS a comma list of
 * names, "[name]:port" for a port other than 22, "*" / "?" wildcards,
 * "!name" negations, or a hashed "|1|salt|hmac" entry; "@revoked" lines
 * refuse their key; "@cert-authority" lines and malformed lines are
 * skipped). key/keylen is the key blob as the server sent it (what the
 * base64 field decodes to). Returns 1 when a line for host:port lists this
 * key, -1 when the host is listed with other keys only or the key is
 * revoked, 0 when the host is not listed. Pure.
 */
int source_known_hosts_check(const char *text, size_t len, const char *host, int port,
			     const unsigned char *key, size_t keylen);

/*
 * Checks a URL as source_fetch does, for the Source document's validation
 * (which adds the file:line:col): 0, or -1 with err "url \"ftp://h/r\"
 * must be file://, git://, http(s)://, ssh:// or user@host:path" (the URL
 * shown without its password). *is_ssh (may be NULL) says whether it is an
 * ssh URL, which needs a known_hosts file. Pure.
 */
int source_url_check(const char *url, bool *is_ssh, struct sw_err *err);

/*
 * Appends to out url without a user:password@ part (for messages). Exposed
 * for the engine's own messages about a source.
 */
struct buf;
void source_url_redact(struct buf *out, const char *url);

#endif
