#include "mempool.h"

#include <stdlib.h>
#include <string.h>

void mp_init(struct mempool *mp, size_t max_txs, size_t max_per_sender, size_t max_bytes)
{
  memset(mp, 0, sizeof(*mp));
  mp->max_txs = max_txs;
  mp->max_per_sender = max_per_sender;
  mp->max_bytes = max_bytes;
}

static void entry_free(struct mp_entry *e)
{
  if (e) {
    sp_tx_clear(&e->tx);
    free(e->raw);
    free(e);
  }
}

void mp_free(struct mempool *mp)
{
  for (size_t i = 0; i < mp->n; i++)
    entry_free(mp->v[i]);
  free(mp->v);
  memset(mp, 0, sizeof(*mp));
}

struct mp_entry *mp_find(const struct mempool *mp, const uint8_t txid[SP_HASH_LEN])
{
  for (size_t i = 0; i < mp->n; i++)
    if (memcmp(mp->v[i]->txid, txid, SP_HASH_LEN) == 0)
      return mp->v[i];
  return NULL;
}

size_t mp_sender(const struct mempool *mp, const uint8_t pk[SP_PK_LEN], uint64_t *max_seq)
{
  size_t n = 0;
  *max_seq = 0;
  for (size_t i = 0; i < mp->n; i++) {
    if (memcmp(mp->v[i]->tx.signer, pk, SP_PK_LEN) == 0) {
      n++;
      if (mp->v[i]->tx.seq > *max_seq)
        *max_seq = mp->v[i]->tx.seq;
    }
  }
  return n;
}

const char *mp_room(const struct mempool *mp, const uint8_t pk[SP_PK_LEN], size_t len)
{
  uint64_t seq;
  if (mp->n >= mp->max_txs || mp->bytes + len > mp->max_bytes)
    return "mempool full";
  if (mp_sender(mp, pk, &seq) >= mp->max_per_sender)
    return "too many pending transactions from this key";
  return NULL;
}

int mp_add(struct mempool *mp, struct mp_entry *e)
{
  if (mp->n == mp->cap) {
    size_t cap = mp->cap ? mp->cap * 2 : 256;
    struct mp_entry **v = realloc(mp->v, cap * sizeof(*v));
    if (v == NULL)
      return -1;
    mp->v = v;
    mp->cap = cap;
  }
  mp->v[mp->n++] = e;
  mp->bytes += e->len;
  return 0;
}

static bool same_id(const struct mp_entry *e, void *arg)
{
  return memcmp(e->txid, arg, SP_HASH_LEN) == 0;
}

void mp_remove(struct mempool *mp, const uint8_t txid[SP_HASH_LEN])
{
  mp_filter(mp, same_id, (void *)txid);
}

void mp_filter(struct mempool *mp, bool (*drop)(const struct mp_entry *e, void *arg), void *arg)
{
  size_t w = 0;
  for (size_t i = 0; i < mp->n; i++) {
    struct mp_entry *e = mp->v[i];
    if (drop(e, arg)) {
      mp->bytes -= e->len;
      entry_free(e);
    } else {
      mp->v[w++] = e;
    }
  }
  mp->n = w;
}
