/*
 * Instance log files: LOG_DIR/<app>/<id>.log, appended to by the instance
 * itself (its stdout and stderr are the file, opened O_APPEND), rotated by
 * size with copy-and-truncate so that the writer never has to reopen.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/buf.h"
#include "../core/paths.h"
#include "../core/utf8.h"
#include "runtime_int.h"

int logfile_mkdirs(const char *path, struct sw_err *err)
{
	if (sw_mkdir_p(path, 0700) < 0)
		return sw_errf(err, -1, "cannot create directory \"%s\": %s", path, strerror(errno));
	return 0;
}

int logfile_open(const char *path, struct sw_err *err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return sw_errf(err, -1, "cannot open log \"%s\": %s", path, strerror(errno));
	return fd;
}

static int copy_file(const char *from, const char *to)
{
	int in = -1, out = -1, ret = -1;
	char chunk[65536];

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		goto out;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		goto out;
	for (;;) {
		ssize_t n = read(in, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, chunk + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				goto out;
			off += w;
		}
	}
	ret = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return ret;
}

/*
 * Shifts <path>.N-1 to <path>.N (dropping what was at .keep), copies the
 * live file to .1 and truncates it. The writer holds the file with
 * O_APPEND, so after the truncate it simply continues at offset 0. Lines
 * written between the copy and the truncate are lost: the usual price of
 * copytruncate, small next to making every app reopen its log.
 */
int logfile_rotate_if_needed(const char *path, int64_t size, uint64_t max_bytes, unsigned keep)
{
	struct buf from = BUF_INIT, to = BUF_INIT;
	int ret = 0;

	if (size < 0 || (uint64_t)size <= max_bytes)
		return 0;
	if (keep == 0)
		keep = 1;
	for (unsigned k = keep; k >= 2; k--) {
		buf_reset(&from);
		buf_reset(&to);
		buf_addf(&from, "%s.%u", path, k - 1);
		buf_addf(&to, "%s.%u", path, k);
		if (rename(from.s, to.s) < 0 && errno != ENOENT)
			sw_warn("cannot rotate \"%s\": %s", from.s, strerror(errno));
	}
	buf_reset(&to);
	buf_addf(&to, "%s.1", path);
	if (copy_file(path, to.s) < 0) {
		sw_warn("cannot rotate \"%s\": %s", path, strerror(errno));
		goto out;
	}
	if (truncate(path, 0) < 0) {
		sw_warn("cannot truncate \"%s\": %s", path, strerror(errno));
		goto out;
	}
	ret = 1;
out:
	buf_release(&from);
	buf_release(&to);
	return ret;
}

void runtime_log_read(const char *path, int64_t offset, size_t max, struct buf *text,
		      int64_t *next)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	int64_t size = 0;
	unsigned char *raw = NULL;

	if (fd >= 0 && fstat(fd, &sb) == 0)
		size = sb.st_size;
	if (offset < 0)
		offset = size + offset > 0 ? size + offset : 0;
	if (offset > size)
		offset = 0; /* the file was rotated (truncated): start over */
	int64_t want = size - offset;
	bool cut = false;
	if (want > (int64_t)max) {
		want = (int64_t)max;
		cut = true;
	}
	if (fd >= 0 && want > 0) {
		raw = xmalloc((size_t)want);
		ssize_t k = pread(fd, raw, (size_t)want, offset);
		if (k > 0) {
			size_t used = 0;
			sw_utf8_escape(text, raw, (size_t)k, cut && k == want, &used);
			offset += (int64_t)used;
		}
	}
	free(raw);
	if (fd >= 0)
		close(fd);
	*next = offset;
}

int64_t runtime_log_tail_offset(const char *path, int64_t lines, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	char chunk[8192];
	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) < 0 || sb.st_size == 0) {
		close(fd);
		return 0;
	}
	int64_t size = sb.st_size, floor = size > (int64_t)max ? size - (int64_t)max : 0;
	int64_t pos = size, found = floor;
	/* a newline that ends the file ends the last line; it starts none */
	bool skip_last = true;
	int64_t seen = 0;
	while (pos > floor && lines > 0) {
		size_t n = pos - floor < (int64_t)sizeof(chunk) ? (size_t)(pos - floor) : sizeof(chunk);
		ssize_t k = pread(fd, chunk, n, pos - (int64_t)n);
		if (k != (ssize_t)n)
			break;
		for (size_t i = n; i-- > 0;) {
			int64_t at = pos - (int64_t)n + (int64_t)i;
			if (chunk[i] != '\n')
				continue;
			if (skip_last && at == size - 1) {
				skip_last = false;
				continue;
			}
			if (++seen == lines) {
				found = at + 1;
				goto out;
			}
		}
		pos -= (int64_t)n;
	}
out:
	close(fd);
	return lines <= 0 ? size : found;
}
