/*
 * Fuzzes the proxy's client side: raw bytes of one client connection go
 * through the same code as bytes from a socket (proxy_feed_for_test):
 * request parsing, limits, smuggling checks, routing, backend picks,
 * head rewriting, local error responses, pipelining and upgrades. The
 * only backend is 127.0.0.1:1, where nothing listens, so requests that
 * route end in a connect failure, one retry and a 502, with no upstream
 * to run.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy.h"

static uv_loop_t loop;
static struct proxy *proxy;
static char listen_addr[32];

static const char *table_fmt =
	"{\"version\": 1, \"routes\": ["
	"{\"app\": \"x\", \"listen\": \"%s\", \"host\": \"x.test\", \"sticky\": true,"
	" \"headerRoutes\": [{\"name\": \"X-Slipway-Version\", \"exact\": \"canary\", \"revision\": 2},"
	"                    {\"name\": \"X-Beta\", \"regex\": \"b[0-9]+\", \"revision\": 1}],"
	" \"groups\": [{\"revision\": 1, \"weight\": 80, \"backends\": [{\"id\": \"d1\", \"addr\": \"127.0.0.1:1\"}]},"
	"              {\"revision\": 2, \"weight\": 20, \"backends\": [{\"id\": \"d2\", \"addr\": \"127.0.0.1:1\"}]}]},"
	"{\"app\": \"api\", \"listen\": \"%s\", \"host\": \"*.wild.test\", \"pathPrefix\": \"/api\","
	" \"groups\": [{\"revision\": 3, \"weight\": 100, \"backends\": []}]}]}";

/* A port to listen on: the table's listener must bind. */
static int pick_port(void)
{
	uv_tcp_t t;
	struct sockaddr_in sa;
	int len = sizeof(sa);
	uv_tcp_init(&loop, &t);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	if (uv_tcp_bind(&t, (struct sockaddr *)&sa, 0) != 0 || uv_tcp_getsockname(&t, (struct sockaddr *)&sa, &len) != 0)
		__builtin_trap();
	int port = ntohs(sa.sin_port);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	return port;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sw_err err = {0};
	struct table *t = NULL;
	char text[2048];
	(void)argc;
	(void)argv;
	if (uv_loop_init(&loop) != 0)
		__builtin_trap();
	snprintf(listen_addr, sizeof(listen_addr), "127.0.0.1:%d", pick_port());
	struct proxy_config cfg = {.loop = &loop, .max_header_bytes = 4096, .connect_timeout_ms = 500,
				   .upstream_timeout_ms = 500};
	if (proxy_new(&proxy, &cfg, &err) != 0)
		__builtin_trap();
	snprintf(text, sizeof(text), table_fmt, listen_addr, listen_addr);
	json_t *j = json_loads(text, 0, NULL);
	if (!j || table_from_json(&t, j, &err) != 0 || proxy_set_table(proxy, t, &err) != 0) {
		fprintf(stderr, "fuzz_proxy_http: %s\n", err.msg);
		__builtin_trap();
	}
	json_decref(j);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT;
	proxy_feed_for_test(proxy, listen_addr, (const char *)data, size, &out, 2000);
	/* every response the proxy writes starts with a status line */
	if (out.len && memcmp(out.s, "HTTP/1.1 ", 9) != 0)
		__builtin_trap();
	/* the proxy answers every request itself here: never a 2xx (bodies
	 * quote the Host header, which holds no line break) */
	if (!strncmp(buf_str(&out), "HTTP/1.1 2", 10) || strstr(buf_str(&out), "\nHTTP/1.1 2"))
		__builtin_trap();
	buf_release(&out);
	return 0;
}
