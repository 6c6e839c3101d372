/* store internals shared by its files (store.c, retention.c); nothing
 * outside src/store includes it. */
#ifndef SW_STORE_INT_H
#define SW_STORE_INT_H

#include <sqlite3.h>

#include "store.h"

/* The connection, for statements a file of the store runs itself. */
sqlite3 *store_db(struct store *s);

#endif
