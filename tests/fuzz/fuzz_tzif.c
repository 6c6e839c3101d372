/*
 * libFuzzer target for the TZif reader (core/tz.h): any bytes as a zone
 * file. Reading must never crash, hang or leak; it fails with a message
 * or gives a zone whose every period holds its instant, with an offset
 * a TZif file may have, and in which a cron expression's next match is
 * later than where the search began.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cron.h"
#include "core/tz.h"

static int64_t read_i64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_tz *tz = NULL;
	struct sw_err err = {0};
	if (sw_tz_parse(&tz, "fuzz", data, size, &err) != 0) {
		if (tz || strncmp(err.msg, "fuzz: ", 6) != 0)
			abort();
		return 0;
	}
	/* instants: fixed ones, and some taken from the input's tail */
	int64_t at[12] = {INT64_MIN, INT64_MAX, -1, 0, 1700000000, 4102444800, -2208988800, (int64_t)1 << 53};
	for (size_t i = 0; i < 4 && size >= 8 * (i + 1); i++)
		at[8 + i] = read_i64(data + size - 8 * (i + 1));
	for (size_t i = 0; i < 12; i++) {
		struct sw_tz_period p;
		sw_tz_period(&p, tz, at[i]);
		if (!(p.start <= at[i] && at[i] < p.end) && !(at[i] == INT64_MAX && p.end == INT64_MAX))
			abort();
		if (p.utoff < -89999 || p.utoff > 93599 || strlen(p.abbr) >= sizeof(p.abbr))
			abort();
	}
	struct sw_cron c;
	if (sw_cron_parse(&c, "30 2 * * *", NULL) != 0)
		abort();
	for (size_t i = 2; i < 12; i++) {
		int64_t next, after = at[i] % SW_CRON_TIME_LIMIT;
		if (sw_cron_next(&next, &c, tz, after) == 0 && next <= after)
			abort();
	}
	sw_tz_free(tz);
	return 0;
}
