/*
 * libFuzzer target for the logs endpoint's encoding: any bytes as an
 * instance's log, read whole and in chunks of sizes taken from the input,
 * as GET /v1/apps/{name}/logs does (runtime_log_read). Oracles:
 *  - every answer is valid UTF-8 without NUL that jansson takes as a JSON
 *    string (jansson's own check is the second opinion);
 *  - no byte is dropped: decoding the text (valid sequences as they are,
 *    "\xHH" where the input byte is not valid) walks the whole input;
 *  - reading in chunks gives exactly the text of one read, and the
 *    offsets advance to the end;
 *  - logs --tail N (runtime_log_tail_offset) starts at a line's start,
 *    with at most N lines after it, and exactly N when the file has more;
 *  - the same bytes as a log's time index (LOG.idx, corrupt or not): the
 *    offset --since gives is within the log, and --previous's range is
 *    ordered and starts within it.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "runtime/runtime.h"

static char path[64];

static void check_text(struct buf *t)
{
	if (!sw_utf8_valid(buf_str(t), t->len) || memchr(buf_str(t), '\0', t->len))
		abort();
	json_t *j = json_stringn(buf_str(t), t->len);
	if (!j)
		abort();
	json_decref(j);
}

/* The text is the input with its invalid bytes as \xHH. */
static void check_decodes(const uint8_t *in, size_t len, struct buf *t)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *o = buf_str(t);
	size_t i = 0, k = 0;
	while (i < len) {
		size_t rest = len - i, n = 0;
		for (size_t m = 1; m <= 4 && m <= rest; m++)
			if (in[i] && sw_utf8_valid((const char *)in + i, m)) {
				n = m;
				break;
			}
		if (n) {
			if (k + n > t->len || memcmp(o + k, in + i, n) != 0)
				abort();
			i += n;
			k += n;
		} else {
			if (k + 4 > t->len || o[k] != '\\' || o[k + 1] != 'x' ||
			    o[k + 2] != hex[in[i] >> 4] || o[k + 3] != hex[in[i] & 15])
				abort();
			i++;
			k += 4;
		}
	}
	if (k != t->len)
		abort();
}

/* A log and its index in a directory of the run's own. */
static char dir[64], log[96], idx[112];

static void cleanup(void)
{
	unlink(idx);
	unlink(log);
	rmdir(dir);
}

/* The input as the index of a log of (its first byte * 97) bytes. */
static void check_index(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/slipway-fuzz-logs.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		snprintf(log, sizeof(log), "%s/i.log", dir);
		snprintf(idx, sizeof(idx), "%s.idx", log);
		atexit(cleanup);
	}
	int64_t logsize = size ? (int64_t)data[0] * 97 : 0;
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, logsize) < 0)
		abort();
	close(fd);
	fd = open(idx, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
	int64_t times[] = {INT64_MIN, -1, 0, 1, 1000, (int64_t)size * 1000, INT64_MAX};
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		int64_t off = runtime_log_since_offset(log, times[i]);
		if (off < 0 || off > logsize)
			abort();
	}
	int64_t from = -1, to = -1;
	if (runtime_log_previous(log, &from, &to) && (from < 0 || from > to))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t chunk = (size_t)data[0] % 8 + 1;  /* small chunks cut sequences */
	data++;
	size--;
	/* the log lives in memory: a memfd, opened by its /proc path like a
	 * file, so no run leaves files behind */
	static int fd = -1;
	if (fd < 0) {
		fd = memfd_create("fuzz_logs", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();

	struct buf whole = BUF_INIT, parts = BUF_INIT;
	int64_t next = 0;
	runtime_log_read(path, 0, size + 1, &whole, &next);
	if (next != (int64_t)size)
		abort();
	check_text(&whole);
	check_decodes(data, size, &whole);

	int64_t off = 0;
	for (int guard = 0; off < (int64_t)size; guard++) {
		struct buf one = BUF_INIT;
		if (guard > (int)size + 1)
			abort(); /* no progress */
		runtime_log_read(path, off, chunk, &one, &next);
		if (next < off || next > (int64_t)size)
			abort();
		check_text(&one);
		buf_add(&parts, buf_str(&one), one.len);
		buf_release(&one);
		if (next == off && chunk < 4)
			chunk = 4;  /* a character longer than the chunk: read more at once */
		off = next;
	}
	if (parts.len != whole.len || memcmp(buf_str(&parts), buf_str(&whole), whole.len) != 0)
		abort();
	int64_t want = (int64_t)chunk - 1;  /* 0..7 lines */
	int64_t at = runtime_log_tail_offset(path, want, size + 1);
	if (at < 0 || at > (int64_t)size || (at > 0 && at < (int64_t)size && data[at - 1] != '\n'))
		abort();
	int64_t nl_after = 0, nl_all = 0;
	for (size_t i = 0; i < size; i++) {
		bool counts = data[i] == '\n' && i != size - 1;
		nl_all += counts;
		nl_after += counts && (int64_t)i >= at;
	}
	/* the lines after `at`: its newlines (but a final one) plus the last line */
	int64_t got = at == (int64_t)size ? 0 : nl_after + 1;
	int64_t have = size ? nl_all + 1 : 0;
	if (got > want || (have >= want && got != want) || (have < want && got != have))
		abort();
	check_index(data, size);
	buf_release(&whole);
	buf_release(&parts);
	return 0;
}
