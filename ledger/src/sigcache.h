/* A bounded, thread-safe set of transactions whose signature has already
 * been verified by this ledger, keyed by the Merkle leaf hash of the full
 * transaction encoding (which covers body, signer and signature; the chain
 * is fixed per ledger). A node checks a signature when a transaction enters
 * its mempool; the proposal check and the apply of the block that carries
 * it then find it here instead of verifying it twice more.
 *
 * Only a successful verification inserts a key, and the key is a 256-bit
 * BLAKE2b hash, so a hit proves the same bytes verified before. Entries are
 * evicted per set in round-robin order; a miss just costs a verification. */
#ifndef SP_LEDGER_SIGCACHE_H
#define SP_LEDGER_SIGCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp/limits.h"

struct sigcache;

/* At most this many entries (2 GiB of keys). */
#define SIGCACHE_MAX ((size_t)1 << 26)

/* Room for about `entries` keys (rounded up to whole sets); 0 = disabled;
 * SP_LE_INVAL above SIGCACHE_MAX. */
int sigcache_create(struct sigcache **out, size_t entries);
void sigcache_destroy(struct sigcache *c); /* accepts NULL */
bool sigcache_has(struct sigcache *c, const uint8_t key[SP_HASH_LEN]);
void sigcache_put(struct sigcache *c, const uint8_t key[SP_HASH_LEN]);

#endif
