/* Output formats shared by the commands: -o json|yaml|wide|name, the
 * YAML printer, and tables printed a row at a time (get --watch). */
#include "cli_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/core.h"

int cli_since_parse(void *field, const char *value)
{
	int64_t *out = field;
	uint64_t d;
	int y, mo, da, h, mi, se, n = 0;
	if (sw_duration_parse(value, &d) == 0) {
		int64_t now = sw_wall_ms();
		*out = (int64_t)d < now ? now - (int64_t)d : 1;
		return 0;
	}
	/* digits where RFC 3339 has them (sscanf's %d alone takes "+2" and " 2") */
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	for (size_t i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] == 'd' ? value[i] < '0' || value[i] > '9'
				    : value[i] != shape[i] && !(shape[i] == 'T' && value[i] == 't'))
			return -1;
	if (sscanf(value, "%4d-%2d-%2d%*c%2d:%2d:%2d%n", &y, &mo, &da, &h, &mi, &se, &n) != 6 ||
	    n != 19 || mo < 1 || mo > 12 || da < 1 || da > 31 || h > 23 || mi > 59 || se > 60)
		return -1;
	const char *p = value + n;
	int64_t ms = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				ms = ms * 10 + (*p - '0');
		if (!digits)
			return -1;
		for (; digits < 3; digits++)
			ms *= 10;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om, k = 0;
		for (int i = 1; i <= 5; i++)
			if (i == 3 ? p[i] != ':' : p[i] < '0' || p[i] > '9')
				return -1;
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5 || oh > 23 || om > 59)
			return -1;
		off = (*p == '+' ? 1 : -1) * (int64_t)(oh * 60 + om) * 60000;
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = da, .tm_hour = h,
			.tm_min = mi, .tm_sec = se};
	int64_t t = (int64_t)timegm(&tm);
	*out = t * 1000 + ms - off;
	return *out > 0 ? 0 : -1;
}

int cli_output_parse(void *field, const char *value)
{
	static const char *const names[] = {[CLI_OUT_WIDE] = "wide", [CLI_OUT_JSON] = "json",
					    [CLI_OUT_YAML] = "yaml", [CLI_OUT_NAME] = "name"};
	for (size_t i = CLI_OUT_WIDE; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(value, names[i]) == 0) {
			*(int *)field = (int)i;
			return 0;
		}
	return -1;
}

enum cli_output cli_output_of(int output, bool json)
{
	return json ? CLI_OUT_JSON : (enum cli_output)output;
}

/* ---- YAML ---- */

/* Words a YAML 1.1 or 1.2 reader takes for a boolean or null. */
static bool yaml_keyword(const char *s)
{
	static const char *const words[] = {"y", "n", "yes", "no", "on", "off", "true", "false",
					    "null", "~", NULL};
	for (size_t i = 0; words[i]; i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	return false;
}

static bool yaml_plain(const char *s, size_t len)
{
	if (len == 0 || strlen(s) != len || yaml_keyword(s))
		return false;
	if ((s[0] >= '0' && s[0] <= '9') || strchr("+-.", s[0]) || s[0] == ' ' || s[len - 1] == ' ')
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || strchr("-_./ +=(),", ch);
		if (!ok)
			return false;
	}
	return true;
}

static void yaml_string(struct buf *out, const char *s, size_t len)
{
	if (yaml_plain(s, len)) {
		buf_add(out, s, len);
		return;
	}
	buf_addc(out, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		unsigned char c1 = i + 1 < len ? (unsigned char)s[i + 1] : 0;
		unsigned char c2 = i + 2 < len ? (unsigned char)s[i + 2] : 0;
		if (ch == '"' || ch == '\\') {
			buf_addc(out, '\\');
			buf_addc(out, (char)ch);
		} else if (ch == '\n') {
			buf_adds(out, "\\n");
		} else if (ch == '\t') {
			buf_adds(out, "\\t");
		} else if (ch == '\r') {
			buf_adds(out, "\\r");
		} else if (ch < 0x20 || ch == 0x7f) {
			buf_addf(out, "\\x%02X", ch);
		} else if (ch == 0xc2 && c1 >= 0x80 && c1 <= 0x9f) {
			buf_addf(out, "\\u%04X", c1); /* C1 controls */
			i++;
		} else if (ch == 0xe2 && c1 == 0x80 && (c2 == 0xa8 || c2 == 0xa9)) {
			buf_addf(out, "\\u%04X", 0x2000 | (c2 - 0x80)); /* line, paragraph separator */
			i += 2;
		} else if (ch == 0xef && c1 == 0xbb && c2 == 0xbf) {
			buf_adds(out, "\\uFEFF");
			i += 2;
		} else {
			buf_addc(out, (char)ch);
		}
	}
	buf_addc(out, '"');
}

static void indent(struct buf *out, int n)
{
	for (int i = 0; i < n; i++)
		buf_addc(out, ' ');
}

/* A value that fits after "key: " or "- " on the same line. */
static bool yaml_inline(json_t *j)
{
	return !(json_is_object(j) && json_object_size(j)) && !(json_is_array(j) && json_array_size(j));
}

static void yaml_scalar(struct buf *out, json_t *j)
{
	if (json_is_string(j)) {
		yaml_string(out, json_string_value(j), json_string_length(j));
	} else if (json_is_object(j)) {
		buf_adds(out, "{}");
	} else if (json_is_array(j)) {
		buf_adds(out, "[]");
	} else {
		char *s = json_dumps(j, JSON_ENCODE_ANY);
		buf_adds(out, s ? s : "null");
		free(s);
	}
}

/*
 * Writes the block value j at depth `level` (spaces). `first` is how the
 * first line begins: the caller has written "- " there already (a list
 * item), so the first key goes on that line.
 */
static void yaml_block(struct buf *out, json_t *j, int level, bool first_inline)
{
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		bool first = true;
		json_object_foreach(j, k, v) {
			if (!(first && first_inline))
				indent(out, level);
			first = false;
			yaml_string(out, k, strlen(k));
			buf_addc(out, ':');
			if (yaml_inline(v)) {
				buf_addc(out, ' ');
				yaml_scalar(out, v);
				buf_addc(out, '\n');
			} else {
				buf_addc(out, '\n');
				yaml_block(out, v, level + 2, false);
			}
		}
	} else {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) {
			if (!(i == 0 && first_inline))
				indent(out, level);
			buf_adds(out, "- ");
			if (yaml_inline(v)) {
				yaml_scalar(out, v);
				buf_addc(out, '\n');
			} else {
				yaml_block(out, v, level + 2, true);
			}
		}
	}
}

void cli_yaml_emit(struct buf *out, json_t *j)
{
	if (yaml_inline(j)) {
		yaml_scalar(out, j);
		buf_addc(out, '\n');
		return;
	}
	yaml_block(out, j, 0, false);
}

void cli_yaml_print(json_t *j)
{
	struct buf b = BUF_INIT;
	cli_yaml_emit(&b, j);
	fwrite(buf_str(&b), 1, b.len, stdout);
	buf_release(&b);
}

bool cli_output_doc(enum cli_output fmt, json_t *j)
{
	if (fmt == CLI_OUT_JSON)
		cli_json_print(j);
	else if (fmt == CLI_OUT_YAML)
		cli_yaml_print(j);
	else
		return false;
	return true;
}
