#include "hmap.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_of(const struct hmap *m, const uint8_t *key)
{
  uint8_t h[crypto_shorthash_BYTES];
  uint64_t v;
  crypto_shorthash(h, key, HMAP_KEY, m->secret);
  memcpy(&v, h, sizeof(v));
  return v;
}

int hmap_init(struct hmap *m, size_t buckets)
{
  randombytes_buf(m->secret, sizeof(m->secret));
  m->b = calloc(buckets, sizeof(*m->b));
  m->mask = buckets - 1;
  m->n = 0;
  return m->b ? 0 : -1;
}

void hmap_free(struct hmap *m)
{
  free(m->b);
  memset(m, 0, sizeof(*m));
}

static struct hnode *first_from(struct hnode *h, uint64_t hash, const uint8_t *key)
{
  while (h && (h->hash != hash || memcmp(h->key, key, HMAP_KEY) != 0))
    h = h->next;
  return h;
}

struct hnode *hmap_find(const struct hmap *m, const uint8_t *key)
{
  uint64_t hash = hash_of(m, key);
  return first_from(m->b[hash & m->mask], hash, key);
}

struct hnode *hmap_next(const struct hnode *h, const uint8_t *key)
{
  return first_from(h->next, h->hash, key);
}

static void grow(struct hmap *m)
{
  size_t nb = (m->mask + 1) * 2;
  struct hnode **b = calloc(nb, sizeof(*b));
  if (b == NULL)
    return;
  for (size_t i = 0; i <= m->mask; i++) {
    struct hnode *h = m->b[i];
    while (h) {
      struct hnode *next = h->next;
      size_t s = h->hash & (nb - 1);
      h->next = b[s];
      b[s] = h;
      h = next;
    }
  }
  free(m->b);
  m->b = b;
  m->mask = nb - 1;
}

void hmap_insert(struct hmap *m, struct hnode *h)
{
  if (m->n > m->mask)
    grow(m);
  h->hash = hash_of(m, h->key);
  size_t s = h->hash & m->mask;
  h->next = m->b[s];
  m->b[s] = h;
  m->n++;
}

void hmap_remove(struct hmap *m, struct hnode *h)
{
  struct hnode **p = &m->b[h->hash & m->mask];
  while (*p && *p != h)
    p = &(*p)->next;
  if (*p) {
    *p = h->next;
    m->n--;
  }
}
