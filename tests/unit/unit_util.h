/*
 * Helpers the unit tests share, header-only (each test is a program of
 * its own). Include after <cmocka.h>.
 */
#ifndef SW_TESTS_UNIT_UTIL_H
#define SW_TESTS_UNIT_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* xorshift64: reproducible random numbers from *state (never 0). */
static inline uint64_t unit_rnd(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* Writes text to DIR/NAME (made or truncated); fails the test when it cannot. */
static inline void unit_write_file(const char *dir, const char *name, const char *text)
{
	char path[2048];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* rel ("tests/fuzz/corpus/cron") under the source tree, which holds this file. */
static inline void unit_source_path(char *out, size_t size, const char *rel)
{
	const char *self = __FILE__, *end = strstr(self, "tests/unit/");
	snprintf(out, size, "%.*s%s", (int)(end ? end - self : 0), self, rel);
}

/* Calls fn with the bytes of every file of tests/fuzz/corpus/NAME (at
 * most 64 KiB each, NUL-terminated); returns how many there were. */
static inline size_t unit_corpus_replay(const char *name, void (*fn)(const char *file, const char *data, size_t len))
{
	char dir[1024], rel[256];
	static char data[65536 + 1];
	struct dirent *de;
	size_t files = 0;
	snprintf(rel, sizeof(rel), "tests/fuzz/corpus/%s", name);
	unit_source_path(dir, sizeof(dir), rel);
	DIR *d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		char path[2048];
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		size_t len = fread(data, 1, sizeof(data) - 1, f);
		fclose(f);
		data[len] = '\0';
		fn(de->d_name, data, len);
		files++;
	}
	closedir(d);
	return files;
}

#endif
