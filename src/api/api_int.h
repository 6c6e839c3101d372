/* api internals shared by the server and the client. */
#ifndef SW_API_INT_H
#define SW_API_INT_H

#include <netinet/in.h>

/* Parses "IPv4:PORT" (port 0..65535); returns 0 or -1. */
int api_parse_tcp_addr(const char *s, struct sockaddr_in *sa);

#endif
