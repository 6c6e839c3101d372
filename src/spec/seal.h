/*
 * seal: the edit behind `slipway secret encrypt --in-place FILE.yaml`.
 * Every env entry of the file's App documents (spec.run.env and each
 * hook's env, in list form) that says `secret: true` and has a `value`
 * gets its value encrypted: the `value: ...` pair becomes
 * `valueFrom: {age: ...}` with the armored ciphertext, and every other
 * byte of the file stays as it was: comments, other documents, quoting,
 * line endings, the `secret: true` line itself.
 *
 *	env:                                env:
 *	  - name: DB_PASSWORD                 - name: DB_PASSWORD
 *	    value: hunter2  # rotate          valueFrom:  # rotate
 *	    secret: true                        age: |
 *	                                          -----BEGIN AGE ENCRYPTED FILE-----
 *	                                          YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgy...
 *	                                          -----END AGE ENCRYPTED FILE-----
 *	                                      secret: true
 *
 * In block style the ciphertext is a literal block scalar indented two
 * spaces below `valueFrom:`, and what followed the value on its line (a
 * comment) moves behind `valueFrom:`; in flow style (`- {name: X, value:
 * y, secret: true}`) it is one double-quoted scalar with "\n" escapes.
 * Lines end as the file's first line does (LF or CRLF).
 *
 * The plaintext is the value as the document means it: "$$" is one "$".
 * An encrypted value is passed on as it is, so a value that uses
 * ${PORT}, ${VERSION}, ${INSTANCE} or ${APP} is refused (where it is, and
 * nothing is changed). Entries that already have valueFrom, and values
 * that are not secret, are left alone.
 *
 * The result is parsed again before it is handed back: each entry must
 * read as valueFrom.age holding exactly the ciphertext made for it.
 * Pure but for what `encrypt` does; any thread.
 */
#ifndef SW_SPEC_SEAL_H
#define SW_SPEC_SEAL_H

#include <stddef.h>

#include "../core/buf.h"
#include "../core/core.h"

/* Appends the armored ciphertext of plain[0..len) to armor (ending with
 * a newline); 0, or -1 with err. */
typedef int (*spec_seal_fn)(struct buf *armor, const char *plain, size_t len, void *data,
			    struct sw_err *err);

/*
 * Appends to out the text of the YAML file text[0..len) (`file` names it
 * in messages) with every secret value in clear encrypted by `encrypt`,
 * as above, and sets *count to how many were. Returns 0 (also with none:
 * out is then the text unchanged), or -1 with "FILE:LINE:COL: ..." in
 * err (a YAML error, a value with ${...}) and out unchanged.
 */
int spec_seal_text(struct buf *out, size_t *count, const char *text, size_t len, const char *file,
		   spec_seal_fn encrypt, void *data, struct sw_err *err);

#endif
