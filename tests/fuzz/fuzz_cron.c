/*
 * libFuzzer target for cron expressions (core/cron.h): any bytes as an
 * expression. Parsing must never crash or hang; it fails with a "cron"
 * message and a zeroed result, or gives an expression whose text parses
 * back to the same, and whose next match (in UTC and in a zone with
 * daylight saving time) lies after the start and, in UTC, matches.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cron.h"
#include "core/tz.h"

/* A version 2 TZif file with no transitions: Central European rules. */
static const uint8_t cet[] = "TZif2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
			     "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1\0\0\0\1"
			     "\0\0\0\0\0\0\0"
			     "TZif2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
			     "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1\0\0\0\4"
			     "\0\0\x0e\x10\0\0CET\0"
			     "\nCET-1CEST,M3.5.0,M10.5.0/3\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sw_tz *tz;
	if (!tz && sw_tz_parse(&tz, "CET", cet, sizeof(cet) - 1, NULL) != 0)
		abort();
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	struct sw_cron c, again;
	struct sw_err err = {0};
	if (sw_cron_parse(&c, text, &err) != 0) {
		if (c.minutes || c.text[0] || (strncmp(err.msg, "cron ", 5) && strncmp(err.msg, "unknown cron ", 13)))
			abort();
		free(text);
		return 0;
	}
	if (sw_cron_parse(&again, c.text, NULL) != 0 || memcmp(&c, &again, sizeof(c)) != 0)
		abort();
	if (!c.minutes || !c.hours || !c.mdays || !c.months || !c.wdays)
		abort();
	int64_t after = (int64_t)(size * 7919 % 4000000000u), next;
	int rc = sw_cron_next(&next, &c, NULL, after);
	if (rc != (sw_cron_never(&c) ? SW_ENOTFOUND : 0) || (rc == 0 && (next <= after || !sw_cron_matches(&c, next))))
		abort();
	rc = sw_cron_next(&next, &c, tz, after);
	if (rc != (sw_cron_never(&c) ? SW_ENOTFOUND : 0) || (rc == 0 && next <= after))
		abort();
	free(text);
	return 0;
}
