/*
 * paths: where Slipway keeps its files when nothing names a place, found
 * the same way from any directory (as kubectl finds ~/.kube/config and
 * docker /var/run/docker.sock), never relative to the current directory.
 *
 *	state dir  --state-dir DIR, else $SLIPWAY_STATE_DIR, else
 *	           $XDG_STATE_HOME/slipway when XDG_STATE_HOME is an absolute path,
 *	           else /var/lib/slipway for root (effective uid 0),
 *	           else $HOME/.local/state/slipway
 *	config     $XDG_CONFIG_HOME/slipway/config when XDG_CONFIG_HOME is an
 *	           absolute path, else $HOME/.config/slipway/config (root too)
 *
 * Both the daemon (`slipway serve`) and the CLI use sw_path_state_dir, so
 * that a daemon started with no options is the one the CLI talks to.
 * HOME unset or relative falls back to the passwd entry's home.
 */
#ifndef SW_CORE_PATHS_H
#define SW_CORE_PATHS_H

#include <stdbool.h>

#include "buf.h"
#include "core.h"

/*
 * The default state dir for the given environment (pure, for tests):
 * xdg_state_home and home may be NULL or "" (unset). Appends it to out;
 * returns 0, or -1 when no home is known.
 */
int sw_path_state_dir_for(struct buf *out, const char *xdg_state_home, const char *home, bool root);
/* The same for this process: $XDG_STATE_HOME, $HOME, geteuid(). */
int sw_path_state_dir(struct buf *out);

/* The config file, as above (pure) and for this process. */
int sw_path_config_for(struct buf *out, const char *xdg_config_home, const char *home);
int sw_path_config(struct buf *out);

/*
 * mkdir -p: creates path and the missing directories above it with `mode`
 * (existing ones are left as they are). Returns 0, or -1 with errno set.
 */
int sw_mkdir_p(const char *path, unsigned mode);

/*
 * rm -rf: removes path and, for a directory, everything under it, never
 * following a symlink (a link is removed, not what it points at). A
 * missing path is fine. Returns 0, or -1 with errno set.
 */
int sw_rm_rf(const char *path);

/*
 * Appends the whole file at path (a regular file, a pipe such as bash's
 * <(...), anything but a directory) to out, at most `max` bytes. Returns
 * 0, or with "cannot read \"PATH\": REASON" in err: SW_ENOTFOUND when it
 * does not exist, -1 otherwise (also "larger than 1 MiB" past max); out
 * keeps what it held before. The read buffer is wiped: key files pass here.
 */
int sw_read_file(struct buf *out, const char *path, size_t max, struct sw_err *err);

/*
 * A token file (the CLI's --token-file, an Environment's
 * promotion.remote.tokenFile): its first line, without the blanks around
 * it, appended to out. -1 with "cannot read the token file \"PATH\":
 * REASON" or "the token file \"PATH\" is empty" in err. The read buffer
 * is wiped.
 */
int sw_read_token_file(struct buf *out, const char *path, struct sw_err *err);

#endif
