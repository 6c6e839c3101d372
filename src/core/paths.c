#include "paths.h"

#include <errno.h>
#include <ftw.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
