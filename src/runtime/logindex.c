/*
 * The time index beside an instance log: LOG.idx, a 16-byte header and
 * entries of (offset, wall ms, kind), appended by the daemon's log timer
 * (at most one entry a check, once a second, and only when the log grew)
 * and when a process starts. An entry (s, t) says "at time t the log was
 * s bytes long": what lies past s was written after t. So the output
 * written since T starts at the offset of the last entry at or before T
 * (at most one check period early), found by binary search.
 *
 * The file is the daemon's own, in host byte order. It is reset when the
 * log rotates (offsets start over with the truncated file), and halved
 * when it grows past LOGINDEX_MAX entries: every other mark is dropped,
 * so old output keeps an index of coarser steps and the file stays small.
 * A daemon that adopts the instance after a restart reads the last entry
 * and goes on appending; the output written while no daemon ran is placed
 * at the first check after (a --since inside that gap includes it all).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/buf.h"
#include "runtime_int.h"

#define LOGINDEX_MAGIC "SWLIDX1\n"
#define LOGINDEX_HEADER 16
#define LOGINDEX_MAX 4096 /* entries before the file is halved (96 KiB) */

struct logindex_entry {
	int64_t offset;
	int64_t ms;
	uint32_t kind;
	uint32_t zero;
};

static void index_path(struct buf *out, const char *log_path)
{
	buf_reset(out);
	buf_addf(out, "%s.idx", log_path);
}

static bool header_ok(int fd)
{
	char h[LOGINDEX_HEADER];
	uint32_t esize;
	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || memcmp(h, LOGINDEX_MAGIC, 8) != 0)
		return false;
	memcpy(&esize, h + 12, sizeof(esize));
	return esize == sizeof(struct logindex_entry);
}

static void header_fill(char h[LOGINDEX_HEADER])
{
	uint32_t version = 1, esize = sizeof(struct logindex_entry);
	memcpy(h, LOGINDEX_MAGIC, 8);
	memcpy(h + 8, &version, 4);
	memcpy(h + 12, &esize, 4);
}

/* Opens the index for reading; the number of whole entries in *n.
 * -1 when there is none (or it is not one of ours). */
static int index_open(const char *log_path, size_t *n)
{
	struct buf p = BUF_INIT;
	struct stat st;
	index_path(&p, log_path);
	int fd = open(p.s, O_RDONLY | O_CLOEXEC);
	buf_release(&p);
	*n = 0;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || st.st_size < LOGINDEX_HEADER || !header_ok(fd)) {
		close(fd);
		return -1;
	}
	*n = (size_t)(st.st_size - LOGINDEX_HEADER) / sizeof(struct logindex_entry);
	return fd;
}

static bool entry_at(int fd, size_t i, struct logindex_entry *e)
{
	off_t at = LOGINDEX_HEADER + (off_t)(i * sizeof(*e));
	return pread(fd, e, sizeof(*e), at) == (ssize_t)sizeof(*e);
}

/* Writes the whole index anew (through a rename): header and entries. */
static void index_write(const char *log_path, const struct logindex_entry *es, size_t n)
{
	struct buf p = BUF_INIT, tmp = BUF_INIT;
	char h[LOGINDEX_HEADER];
	index_path(&p, log_path);
	buf_addf(&tmp, "%s.tmp", p.s);
	int fd = open(tmp.s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	header_fill(h);
	size_t len = n * sizeof(*es);
	if (fd < 0 || write(fd, h, sizeof(h)) != (ssize_t)sizeof(h) ||
	    (len && write(fd, es, len) != (ssize_t)len) || close(fd) < 0 || rename(tmp.s, p.s) < 0) {
		sw_warn("cannot write log index \"%s\": %s", p.s, strerror(errno));
		unlink(tmp.s);
	}
	buf_release(&p);
	buf_release(&tmp);
}

/* Halves a full index: every other mark goes (starts and the newest entry stay). */
static void index_compact(const char *log_path)
{
	size_t n;
	int fd = index_open(log_path, &n);
	if (fd < 0)
		return;
	struct logindex_entry *es = xmalloc(n * sizeof(*es));
	size_t k = 0, marks = 0;
	for (size_t i = 0; i < n; i++) {
		if (!entry_at(fd, i, &es[k]))
			break;
		bool keep = es[k].kind != LOGINDEX_MARK || i == n - 1 || marks++ % 2 == 1;
		if (keep)
			k++;
	}
	close(fd);
	/* a crash loop of many starts: the newest half */
	size_t from = k > LOGINDEX_MAX / 2 ? k - LOGINDEX_MAX / 2 : 0;
	index_write(log_path, es + from, k - from);
	free(es);
}

void logindex_note(const char *log_path, struct logindex *st, int64_t size, int64_t now_ms,
		   enum logindex_kind kind)
{
	if (!st->loaded) {
		size_t n;
		struct logindex_entry last;
		int fd = index_open(log_path, &n);
		st->loaded = true;
		st->size = -1;
		st->ms = 0;
		st->n = n;
		if (fd >= 0 && n && entry_at(fd, n - 1, &last)) {
			st->size = last.offset;
			st->ms = last.ms;
		}
		if (fd >= 0)
			close(fd);
		if (fd < 0)
			st->n = (size_t)-1; /* none yet: written whole below */
	}
	if (kind == LOGINDEX_MARK && size == st->size)
		return;
	if (size < st->size && kind == LOGINDEX_MARK)
		kind = LOGINDEX_ROTATED; /* truncated behind our back: start over */
	/* the wall clock may step back; the index stays ordered */
	struct logindex_entry e = {.offset = size, .ms = now_ms > st->ms ? now_ms : st->ms,
				   .kind = kind};
	if (kind == LOGINDEX_ROTATED || st->n == (size_t)-1) {
		index_write(log_path, &e, 1);
		st->n = 1;
	} else {
		struct buf p = BUF_INIT;
		index_path(&p, log_path);
		int fd = open(p.s, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0 || write(fd, &e, sizeof(e)) != (ssize_t)sizeof(e))
			sw_warn("cannot write log index \"%s\": %s", p.s, strerror(errno));
		if (fd >= 0)
			close(fd);
		buf_release(&p);
		if (++st->n > LOGINDEX_MAX) {
			index_compact(log_path);
			st->loaded = false; /* count again */
		}
	}
	st->size = size;
	st->ms = e.ms;
}

int64_t runtime_log_since_offset(const char *log_path, int64_t since_ms)
{
	size_t n;
	struct logindex_entry e;
	struct stat st;
	int fd = index_open(log_path, &n);
	int64_t off = 0;
	if (fd < 0)
		return 0;
	/* the last entry at or before since_ms */
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (!entry_at(fd, mid, &e))
			break;
		if (e.ms <= since_ms)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && entry_at(fd, lo - 1, &e))
		off = e.offset;
	close(fd);
	if (stat(log_path, &st) < 0 || off > st.st_size || off < 0)
		return 0; /* rotated since: all of it */
	return off;
}

bool runtime_log_previous(const char *log_path, int64_t *from, int64_t *to)
{
	size_t n;
	struct logindex_entry e;
	int fd = index_open(log_path, &n);
	int64_t last = -1, before = -1;
	if (fd < 0)
		return false;
	for (size_t i = n; i-- > 0 && before < 0;) {
		if (!entry_at(fd, i, &e) || e.kind != LOGINDEX_START)
			continue;
		if (last < 0)
			last = e.offset;
		else
			before = e.offset;
	}
	close(fd);
	if (last <= 0)
		return false;
	/* the start before was rotated or compacted away: from the top */
	*from = before >= 0 && before <= last ? before : 0;
	*to = last;
	return true;
}
