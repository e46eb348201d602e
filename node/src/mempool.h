/* Pending transactions: admitted (decoded, signature checked, valid against
 * the tip at admission), waiting for a block. Bounded overall, per sender
 * and in bytes. Per sender, entries are in sequence order: admission only
 * takes the next sequence number after the ledger's and the pending ones. */
#ifndef SP_NODE_MEMPOOL_H
#define SP_NODE_MEMPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp/objects.h"

struct mp_entry {
  uint8_t txid[SP_HASH_LEN];
  uint8_t *raw; /* owned; tx's views point into it */
  size_t len;
  struct sp_tx tx;
};

struct mempool {
  struct mp_entry **v; /* arrival order */
  size_t n, cap;
  size_t bytes;
  size_t max_txs, max_per_sender, max_bytes;
};

void mp_init(struct mempool *mp, size_t max_txs, size_t max_per_sender, size_t max_bytes);
void mp_free(struct mempool *mp);
struct mp_entry *mp_find(const struct mempool *mp, const uint8_t txid[SP_HASH_LEN]);
/* Pending count of a sender and the highest pending sequence (0 if none). */
size_t mp_sender(const struct mempool *mp, const uint8_t pk[SP_PK_LEN], uint64_t *max_seq);
/* Why an add would be refused: 0, or a short reason ("mempool full", ...). */
const char *mp_room(const struct mempool *mp, const uint8_t pk[SP_PK_LEN], size_t len);
/* Take ownership of e (allocated by the caller with malloc). */
int mp_add(struct mempool *mp, struct mp_entry *e);
/* Remove and free one entry. */
void mp_remove(struct mempool *mp, const uint8_t txid[SP_HASH_LEN]);
/* Remove entries for which drop(e, arg) is true, in order. */
void mp_filter(struct mempool *mp, bool (*drop)(const struct mp_entry *e, void *arg), void *arg);

#endif
