/*
 * daemon/main: the `slipway serve` entry point that src/main.c calls.
 * (Its own header until the daemon's restructuring settles; the one
 * declaration belongs in daemon.h.)
 */
#ifndef SW_DAEMON_MAIN_H
#define SW_DAEMON_MAIN_H

/*
 * `slipway serve [options]`: argv[0] is "serve". Parses the options into
 * daemon_options and runs daemon_run; an upgrade re-executes this program
 * with the same argv. Returns the exit code (2 on a usage error).
 */
int daemon_main(int argc, char **argv);

#endif
