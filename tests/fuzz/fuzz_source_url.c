/*
 * libFuzzer target for the Source URL checks (gitops/source.h): any bytes
 * as a url, as a document gives it. source_url_check must never crash or
 * leak and always say why it refuses; source_url_redact keeps no password:
 * the authority of what it writes (between "://" and the next '/') holds
 * no ':' before an '@', and redacting again changes nothing. A refusal's
 * message shows the url redacted, never the password.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/core.h"
#include "gitops/source.h"

static void no_password(const char *s)
{
	const char *scheme = strstr(s, "://");
	if (!scheme)
		return;
	const char *auth = scheme + 3, *slash = strchr(auth, '/');
	const char *at = NULL;
	for (const char *p = auth; *p && (!slash || p < slash); p++)
		if (*p == '@')
			at = p;
	if (at && memchr(auth, ':', (size_t)(at - auth)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = malloc(size + 1);
	memcpy(url, data, size);
	url[size] = '\0';
	struct sw_err err = {0};
	bool ssh = false;
	if (source_url_check(url, &ssh, &err) != 0 && !err.msg[0])
		abort(); /* every refusal says why */
	struct buf once = BUF_INIT, twice = BUF_INIT;
	source_url_redact(&once, url);
	no_password(buf_str(&once));
	source_url_redact(&twice, buf_str(&once));
	if (strcmp(buf_str(&once), buf_str(&twice)) != 0)
		abort();
	buf_release(&once);
	buf_release(&twice);
	free(url);
	return 0;
}
