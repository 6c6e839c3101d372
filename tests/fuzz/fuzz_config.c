/*
 * libFuzzer target for the CLI's config file (cli/config.h): any bytes as
 * ~/.config/slipway/config. The parser must never crash or leak, a refusal
 * always says why, and a config it accepts is written as YAML that reads
 * back to the same config.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cli_config cfg, back;
	struct sw_err err = {0};

	if (cli_config_parse(&cfg, (const char *)data, size, "config", &err) != 0) {
		if (!err.msg[0])
			abort();
		return 0;
	}
	char *text = cli_config_yaml(&cfg);
	if (cli_config_parse(&back, text, strlen(text), "written", &err) != 0)
		abort();
	char *again = cli_config_yaml(&back);
	if (strcmp(text, again) != 0)
		abort();
	free(again);
	free(text);
	cli_config_release(&back);
	cli_config_release(&cfg);
	return 0;
}
