/*
 * fdpass: short messages with at most one file descriptor over a unix
 * SOCK_SEQPACKET socket (SCM_RIGHTS). The proxy's upgrade hands its
 * listening sockets to its successor with them, and `slipway serve`
 * holds the proxy's listening sockets across a proxy crash with them
 * (docs/internals/proxy.md).
 */
#ifndef SW_CORE_FDPASS_H
#define SW_CORE_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* Sends text (one message, its length without the NUL) and fd with it
 * when fd >= 0 (the fd stays the caller's). Never raises SIGPIPE.
 * Returns 0, or -1 with errno (EAGAIN on a full non-blocking socket). */
int sw_fdpass_send(int sock, const char *text, int fd);

/* Receives one message into buf (NUL-terminated, cut to size - 1) and its
 * fd, if any, into *fd (-1 without; close-on-exec; extra fds are closed).
 * Waits up to timeout_ms (0: not at all). Returns its length, 0 at the
 * end of the channel, -1 on error (errno) and -2 when nothing came in
 * time. */
ssize_t sw_fdpass_recv(int sock, char *buf, size_t size, int *fd, int timeout_ms);

#endif
