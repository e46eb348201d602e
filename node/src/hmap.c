#include "hmap.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static size_t slot(const struct hmap *m, const uint8_t *key)
{
  uint8_t h[crypto_shorthash_BYTES];
  uint64_t v;
  crypto_shorthash(h, key, HMAP_KEY, m->secret);
  memcpy(&v, h, sizeof(v));
  return (size_t)v & m->mask;
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

struct hnode *hmap_find(const struct hmap *m, const uint8_t *key)
{
  struct hnode *h = m->b[slot(m, key)];
  while (h && memcmp(h->key, key, HMAP_KEY) != 0)
    h = h->next;
  return h;
}

struct hnode *hmap_next(const struct hnode *h, const uint8_t *key)
{
  struct hnode *x = h->next;
  while (x && memcmp(x->key, key, HMAP_KEY) != 0)
    x = x->next;
  return x;
}

static void grow(struct hmap *m)
{
  size_t nb = (m->mask + 1) * 2;
  struct hnode **b = calloc(nb, sizeof(*b));
  if (b == NULL)
    return;
  struct hmap big = {.b = b, .mask = nb - 1, .n = m->n};
  memcpy(big.secret, m->secret, sizeof(big.secret));
  for (size_t i = 0; i <= m->mask; i++) {
    struct hnode *h = m->b[i];
    while (h) {
      struct hnode *next = h->next;
      size_t s = slot(&big, h->key);
      h->next = b[s];
      b[s] = h;
      h = next;
    }
  }
  free(m->b);
  *m = big;
}

void hmap_insert(struct hmap *m, struct hnode *h)
{
  if (m->n > m->mask)
    grow(m);
  size_t s = slot(m, h->key);
  h->next = m->b[s];
  m->b[s] = h;
  m->n++;
}

void hmap_remove(struct hmap *m, struct hnode *h)
{
  struct hnode **p = &m->b[slot(m, h->key)];
  while (*p && *p != h)
    p = &(*p)->next;
  if (*p) {
    *p = h->next;
    m->n--;
  }
}
