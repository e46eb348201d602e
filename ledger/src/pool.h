/* A small pthread pool for data-parallel work inside one call: signature
 * checks of a block. The calling thread works too, so a pool of n threads
 * keeps n+1 busy; pool_run returns when every item is done. */
#ifndef SP_LEDGER_POOL_H
#define SP_LEDGER_POOL_H

#include <stddef.h>

struct pool;

/* workers = extra threads (0 is valid: everything runs on the caller). */
int pool_create(struct pool **out, unsigned workers);
void pool_destroy(struct pool *p); /* accepts NULL */
void pool_run(struct pool *p, size_t n, void (*fn)(size_t i, void *arg), void *arg);

#endif
