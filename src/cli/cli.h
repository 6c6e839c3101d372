/*
 * cli: the `slipway` command line. Every command but `serve`, `validate`
 * and `version` talks to the daemon through its API (unix socket
 * DIR/slipway.sock, or TCP with --api/--token). Exit codes: 0 success,
 * 1 failure, 2 usage error.
 */
#ifndef SW_CLI_H
#define SW_CLI_H

int cli_main(int argc, char **argv);

#endif
