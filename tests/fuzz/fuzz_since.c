/*
 * libFuzzer target for --since (events, logs: cli_since_parse in
 * cli/cli_int.h): any bytes as the option's value, a duration back from
 * now or an RFC 3339 time. It must never crash or overflow (UBSan), and
 * answers 0 or -1; a time it takes in UTC ("...Z") reads back as the same
 * second.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/cli_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v = malloc(size + 1);
	memcpy(v, data, size);
	v[size] = '\0';
	int64_t ms = 0;
	int r = cli_since_parse(&ms, v);
	if (r != 0 && r != -1)
		abort();
	/* "YYYY-MM-DDTHH:MM:SSZ" exactly, with a year from 1970 on */
	if (r == 0 && strlen(v) == 20 && v[19] == 'Z' && ms >= 0 && v[0] != '+' && v[0] != '-' &&
	    v[0] != ' ') {
		time_t s = (time_t)(ms / 1000);
		struct tm tm;
		char back[32];
		if (!gmtime_r(&s, &tm) || strftime(back, sizeof(back), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			abort();
		/* day 31 of a short month or second 60 roll over; the rest must match */
		if (strcasecmp(back, v) != 0 && strncmp(v + 8, "31", 2) != 0 && strncmp(v + 8, "29", 2) != 0 &&
		    strncmp(v + 8, "30", 2) != 0 && strncmp(v + 17, "60", 2) != 0)
			abort();
	}
	free(v);
	return 0;
}
