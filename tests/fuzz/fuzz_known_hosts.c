/*
 * libFuzzer target for known_hosts lookups (source_known_hosts_check in
 * gitops/source.h): any bytes as the file's text (not NUL-terminated: the
 * function takes a length), checked for a few hosts, ports and keys. It
 * must never crash, hang or leak, and the answer is always -1, 0 or 1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gitops/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hosts[] = {"git.example.org", "127.0.0.1", "h", ""};
	static const int ports[] = {22, 2222};
	static const unsigned char key[] = "\0\0\0\x0b" "ssh-ed25519\0\0\0\x04" "abcd";
	char *text = malloc(size ? size : 1);
	memcpy(text, data, size);
	for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++)
		for (size_t p = 0; p < 2; p++) {
			int r = source_known_hosts_check(text, size, hosts[h], ports[p], key,
							 sizeof(key) - 1);
			if (r < -1 || r > 1)
				abort();
			/* a key taken from the input itself */
			r = source_known_hosts_check(text, size, hosts[h], ports[p], data,
						     size < 64 ? size : 64);
			if (r < -1 || r > 1)
				abort();
		}
	free(text);
	return 0;
}
