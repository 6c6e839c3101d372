#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

static bool absolute(const char *s)
{
	return s && s[0] == '/';
}

/* $HOME when it is absolute, else the passwd entry's home, else NULL. */
static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	if (absolute(home))
		return home;
	struct passwd *pw = getpwuid(geteuid());
	return pw && absolute(pw->pw_dir) ? pw->pw_dir : NULL;
}

int sw_path_state_dir_for(struct buf *out, const char *xdg_state_home, const char *home, bool root)
{
	if (absolute(xdg_state_home))
		buf_addf(out, "%s/slipway", xdg_state_home);
	else if (root)
		buf_adds(out, "/var/lib/slipway");
	else if (absolute(home))
		buf_addf(out, "%s/.local/state/slipway", home);
	else
		return -1;
	return 0;
}

int sw_path_state_dir(struct buf *out)
{
	return sw_path_state_dir_for(out, getenv("XDG_STATE_HOME"), home_dir(), geteuid() == 0);
}

int sw_path_config_for(struct buf *out, const char *xdg_config_home, const char *home)
{
	if (absolute(xdg_config_home))
		buf_addf(out, "%s/slipway/config", xdg_config_home);
	else if (absolute(home))
		buf_addf(out, "%s/.config/slipway/config", home);
	else
		return -1;
	return 0;
}

int sw_path_config(struct buf *out)
{
	return sw_path_config_for(out, getenv("XDG_CONFIG_HOME"), home_dir());
}

int sw_mkdir_p(const char *path, unsigned mode)
{
	struct buf p = BUF_INIT;
	int r = 0;
	buf_adds(&p, path);
	for (char *s = p.s + 1; *s && r == 0; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p.s, mode) < 0 && errno != EEXIST)
			r = -1;
		*s = '/';
	}
	if (r == 0 && mkdir(p.s, mode) < 0 && errno != EEXIST)
		r = -1;
	int saved = errno;
	buf_release(&p);
	errno = saved;
	return r;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

int sw_rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* "1 MiB", "64 KiB" or "100 bytes", for messages */
static void size_text(char *out, size_t size, size_t n)
{
	if (n >= 1024 * 1024 && n % (1024 * 1024) == 0)
		snprintf(out, size, "%zu MiB", n / 1024 / 1024);
	else if (n >= 1024 && n % 1024 == 0)
		snprintf(out, size, "%zu KiB", n / 1024);
	else
		snprintf(out, size, "%zu bytes", n);
}

int sw_read_token_file(struct buf *out, const char *path, struct sw_err *err)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	if (!f)
		return sw_errf(err, -1, "cannot read the token file \"%s\": %s", path, strerror(errno));
	const char *s = fgets(line, sizeof(line), f) ? line : "";
	fclose(f);
	s += strspn(s, " \t");
	size_t n = strcspn(s, "\r\n");
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n)
		buf_add(out, s, n);
	OPENSSL_cleanse(line, sizeof(line));
	if (!n)
		return sw_errf(err, -1, "the token file \"%s\" is empty", path);
	return 0;
}

int sw_read_file(struct buf *out, const char *path, size_t max, struct sw_err *err)
{
	size_t start = out->len;
	char tmp[65536];
	struct stat st;
	int rc = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return sw_errf(err, errno == ENOENT ? SW_ENOTFOUND : -1, "cannot read \"%s\": %s", path,
			       strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		sw_errf(err, -1, "cannot read \"%s\": %s", path, strerror(EISDIR));
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sw_errf(err, -1, "cannot read \"%s\": %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (out->len - start + (size_t)r > max || buf_add(out, tmp, (size_t)r) < 0) {
			char limit[32];
			size_text(limit, sizeof(limit), max);
			sw_errf(err, -1, "cannot read \"%s\": larger than %s", path, limit);
			goto out;
		}
	}
	rc = 0;
out:
	OPENSSL_cleanse(tmp, sizeof(tmp));
	if (rc < 0 && out->alloc) {
		OPENSSL_cleanse(out->s + start, out->len - start);
		out->len = start;
		out->s[start] = '\0';
	}
	close(fd);
	return rc;
}
