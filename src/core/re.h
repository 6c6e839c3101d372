/*
 * re: regular expressions that always match in linear time, for values
 * that come from outside (header routes: one request must never stall
 * the proxy).
 *
 * The language is POSIX extended regular expressions (ERE) without the
 * parts that are not regular or that locales change, so that a regex
 * means the same here, to glibc's regcomp and to the user:
 *
 *	literals; `.` (any byte); `[...]` and `[^...]` with ranges (`a-z`),
 *	a leading `]` or a leading/trailing `-` as literals, and the classes
 *	[:alpha:] [:digit:] [:alnum:] [:upper:] [:lower:] [:space:]
 *	[:blank:] [:punct:] [:print:] [:graph:] [:cntrl:] [:xdigit:];
 *	`(...)`; `|`; `*` `+` `?` `{n}` `{n,}` `{n,m}` (n, m <= 100);
 *	`^` and `$`; `\` before punctuation for that character.
 *
 * Refused, each with the offset of the construct: back-references
 * (`\1`..`\9`), `\` before any other letter or digit (`\d`, `\w`, `\b`:
 * GNU or Perl extensions that POSIX leaves undefined) and before ` ' < >
 * (GNU's anchors), `(?`, collating
 * elements and equivalence classes (`[.x.]`, `[=x=]`), a repetition with
 * nothing to repeat, unbalanced parentheses or brackets, a reversed range,
 * more than SW_RE_MAX_LEN bytes, and a regex whose program, repetitions
 * expanded, exceeds SW_RE_MAX_STATES states.
 *
 * Matching is a simulation of the regex's automaton (every state at once,
 * no backtracking): at most SW_RE_MAX_STATES steps per byte of input, so a
 * 16 KiB header is matched in a few milliseconds whatever the regex and the
 * value. Bytes are bytes: no locale, case-sensitive.
 */
#ifndef SW_CORE_RE_H
#define SW_CORE_RE_H

#include <stdbool.h>
#include <stddef.h>

#include "core.h"

#define SW_RE_MAX_LEN 256
#define SW_RE_MAX_STATES 256

struct sw_re;

/* Compiles src (NUL-terminated). On failure returns SW_EINVAL, sets err
 * ("back-references are not supported") and *out_off to the byte offset
 * in src where the problem is; *out is NULL. The caller frees *out with
 * sw_re_free. out_off may be NULL. */
int sw_re_compile(struct sw_re **out, size_t *out_off, const char *src, struct sw_err *err);

/* Whether the whole of s[0, len) matches (as if the regex were written
 * "^(" src ")$"). */
bool sw_re_match(const struct sw_re *re, const char *s, size_t len);

/* Number of states of the compiled program (<= SW_RE_MAX_STATES). */
size_t sw_re_states(const struct sw_re *re);

void sw_re_free(struct sw_re *re);

#endif
