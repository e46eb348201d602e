#include "mempool.h"

#include <stdlib.h>
#include <string.h>

int mp_init(struct mempool *mp, size_t max_txs, size_t max_per_sender, size_t max_bytes)
{
  memset(mp, 0, sizeof(*mp));
  mp->max_txs = max_txs;
  mp->max_per_sender = max_per_sender;
  mp->max_bytes = max_bytes;
  if (hmap_init(&mp->ids, 1024) || hmap_init(&mp->senders, 1024)) {
    mp_free(mp);
    return -1;
  }
  return 0;
}

static void entry_free(struct mp_entry *e)
{
  sp_tx_clear(&e->tx);
  free(e->buf);
  free(e);
}

void mp_free(struct mempool *mp)
{
  for (size_t i = 0; i < mp->len; i++)
    if (mp->v[i])
      mp_remove_entry(mp, mp->v[i]);
  free(mp->v);
  hmap_free(&mp->ids);
  hmap_free(&mp->senders);
  memset(mp, 0, sizeof(*mp));
}

struct mp_entry *mp_find(const struct mempool *mp, const uint8_t txid[SP_HASH_LEN])
{
  struct hnode *h = hmap_find(&mp->ids, txid);
  return h ? HMAP_ENTRY(h, struct mp_entry, by_id) : NULL;
}

static struct mp_sender *sender_of(const struct mempool *mp, const uint8_t pk[SP_PK_LEN])
{
  struct hnode *h = hmap_find(&mp->senders, pk);
  return h ? HMAP_ENTRY(h, struct mp_sender, node) : NULL;
}

size_t mp_sender(const struct mempool *mp, const uint8_t pk[SP_PK_LEN], uint64_t *max_seq)
{
  struct mp_sender *s = sender_of(mp, pk);
  *max_seq = s ? s->tail->tx.seq : 0;
  return s ? s->count : 0;
}

struct mp_entry *mp_sender_first(const struct mempool *mp, const uint8_t pk[SP_PK_LEN])
{
  struct mp_sender *s = sender_of(mp, pk);
  return s ? s->head : NULL;
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

void mp_compact(struct mempool *mp)
{
  size_t w = 0;
  for (size_t i = 0; i < mp->len; i++) {
    struct mp_entry *e = mp->v[i];
    if (e) {
      e->slot = w;
      mp->v[w++] = e;
    }
  }
  mp->len = w;
}

int mp_add(struct mempool *mp, struct mp_entry *e)
{
  if (mp->len == mp->cap && mp->n < mp->len)
    mp_compact(mp);
  if (mp->len == mp->cap) {
    size_t cap = mp->cap ? mp->cap * 2 : 256;
    struct mp_entry **v = realloc(mp->v, cap * sizeof(*v));
    if (v == NULL)
      return -1;
    mp->v = v;
    mp->cap = cap;
  }
  struct mp_sender *s = sender_of(mp, e->tx.signer);
  if (s == NULL) {
    if ((s = calloc(1, sizeof(*s))) == NULL)
      return -1;
    memcpy(s->pk, e->tx.signer, SP_PK_LEN);
    s->node.key = s->pk;
    hmap_insert(&mp->senders, &s->node);
  }
  e->sender = s;
  e->s_next = NULL;
  e->s_prev = s->tail;
  if (s->tail)
    s->tail->s_next = e;
  else
    s->head = e;
  s->tail = e;
  s->count++;
  e->by_id.key = e->txid;
  hmap_insert(&mp->ids, &e->by_id);
  e->slot = mp->len;
  mp->v[mp->len++] = e;
  mp->n++;
  mp->bytes += e->len;
  return 0;
}

void mp_remove_entry(struct mempool *mp, struct mp_entry *e)
{
  struct mp_sender *s = e->sender;
  if (e->s_prev)
    e->s_prev->s_next = e->s_next;
  else
    s->head = e->s_next;
  if (e->s_next)
    e->s_next->s_prev = e->s_prev;
  else
    s->tail = e->s_prev;
  if (--s->count == 0) {
    hmap_remove(&mp->senders, &s->node);
    free(s);
  }
  hmap_remove(&mp->ids, &e->by_id);
  mp->v[e->slot] = NULL;
  mp->n--;
  mp->bytes -= e->len;
  entry_free(e);
}
