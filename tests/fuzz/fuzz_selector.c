/*
 * libFuzzer target for label selectors (core/selector.h): any bytes as a
 * selector. Parsing must never crash, hang or leak; it either fails with
 * a "column N: " message and nothing kept, or gives a selector whose
 * canonical spelling parses back to the same spelling, and matching it
 * against a few label sets is defined.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/selector.h"

static const char *lookup(const char *key, void *data)
{
	return strcmp(key, "team") == 0 ? "web" : strcmp(key, "env") == 0 ? "" : NULL;
}

static const char *nothing(const char *key, void *data)
{
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	struct sw_selector s, t;
	struct sw_err err = {0};
	if (sw_selector_parse(&s, text, &err) != 0) {
		if (s.nreqs || (strncmp(err.msg, "column ", 7) != 0 && !strstr(err.msg, "longer than")))
			abort();
	} else {
		struct buf a = BUF_INIT, b = BUF_INIT;
		sw_selector_format(&s, &a);
		if (sw_selector_parse(&t, buf_str(&a), NULL) != 0)
			abort();
		sw_selector_format(&t, &b);
		if (strcmp(buf_str(&a), buf_str(&b)) != 0 || s.nreqs != t.nreqs)
			abort();
		(void)sw_selector_match(&s, lookup, NULL);
		(void)sw_selector_match(&s, nothing, NULL);
		sw_selector_release(&t);
		buf_release(&a);
		buf_release(&b);
	}
	sw_selector_release(&s);
	free(text);
	return 0;
}
