/* Pending transactions: admitted (decoded, signature checked, valid against
 * the tip at admission), waiting for a block. Bounded overall, per sender
 * and in bytes. Per sender, entries are in sequence order: admission only
 * takes the next sequence number after the ledger's and the pending ones.
 *
 * Every operation a transaction or a block triggers is O(1) per
 * transaction (hash maps by tx id and by sender, a list per sender);
 * arrival order is kept in an array with holes, compacted now and then. */
#ifndef SP_NODE_MEMPOOL_H
#define SP_NODE_MEMPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hmap.h"
#include "sp/objects.h"

struct mp_sender;

struct mp_entry {
  uint8_t txid[SP_HASH_LEN];
  uint8_t leaf[SP_HASH_LEN]; /* its Merkle leaf, from the signature check */
  const uint8_t *raw; /* the tx's encoding, inside buf: tx's views point into it */
  size_t len;
  uint8_t *buf; /* owned: the SUBMIT message it arrived in, or a copy of raw */
  struct sp_tx tx;
  /* the mempool's */
  struct hnode by_id;
  struct mp_sender *sender;
  struct mp_entry *s_prev, *s_next; /* the sender's, in sequence order */
  size_t slot;                      /* index in v */
};

struct mp_sender {
  uint8_t pk[SP_PK_LEN];
  struct hnode node;
  struct mp_entry *head, *tail;
  size_t count;
};

struct mempool {
  struct mp_entry **v; /* arrival order; NULL where one was removed */
  size_t len, cap;     /* slots used (holes included), allocated */
  size_t n;            /* entries */
  size_t bytes;
  size_t max_txs, max_per_sender, max_bytes;
  struct hmap ids, senders;
};

int mp_init(struct mempool *mp, size_t max_txs, size_t max_per_sender, size_t max_bytes);
void mp_free(struct mempool *mp);
struct mp_entry *mp_find(const struct mempool *mp, const uint8_t txid[SP_HASH_LEN]);
/* Pending count of a sender and the highest pending sequence (0 if none). */
size_t mp_sender(const struct mempool *mp, const uint8_t pk[SP_PK_LEN], uint64_t *max_seq);
/* A sender's pending entry with the lowest sequence number, or NULL. */
struct mp_entry *mp_sender_first(const struct mempool *mp, const uint8_t pk[SP_PK_LEN]);
/* Why an add would be refused: 0, or a short reason ("mempool full", ...). */
const char *mp_room(const struct mempool *mp, const uint8_t pk[SP_PK_LEN], size_t len);
/* Take ownership of e (allocated by the caller with calloc), which must
 * carry its sender's next sequence number. */
int mp_add(struct mempool *mp, struct mp_entry *e);
/* Remove and free one entry (its slot in v becomes NULL). */
void mp_remove_entry(struct mempool *mp, struct mp_entry *e);
/* Close the holes in v (slot indexes change): not while iterating v. */
void mp_compact(struct mempool *mp);

#endif
