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
/* The same in two halves, so the caller can do other work while the
 * workers run: pool_start posts the job and returns at once; pool_finish
 * makes the caller help with what is left and returns when every item is
 * done. Between the two the pool belongs to this job (other callers wait),
 * so every pool_start must be followed by exactly one pool_finish. */
void pool_start(struct pool *p, size_t n, void (*fn)(size_t i, void *arg), void *arg);
void pool_finish(struct pool *p);

#endif
