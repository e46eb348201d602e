/* An intrusive hash map over 32-byte keys (tx ids, public keys). The
 * bucket index is SipHash of the key under a random per-map secret: a
 * sender can choose its tx ids, and must not be able to pile them into one
 * bucket. Chained; grows by doubling when the load passes 1. Several nodes
 * may share a key. Each node keeps its key's hash: a lookup compares keys
 * only where the hashes agree (and so reads almost no other node's key). */
#ifndef SP_NODE_HMAP_H
#define SP_NODE_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HMAP_KEY 32

struct hnode {
  struct hnode *next;
  const uint8_t *key; /* HMAP_KEY bytes, owned by the containing object */
  uint64_t hash;      /* of key, set by hmap_insert: chains are walked and
                         nodes removed without reading keys or hashing again */
};

struct hmap {
  uint8_t secret[16];
  struct hnode **b;
  size_t mask; /* buckets - 1 */
  size_t n;
};

int hmap_init(struct hmap *m, size_t buckets); /* a power of two */
void hmap_free(struct hmap *m);                /* the nodes are the caller's */
/* The first node with this key, and the next one after h. */
struct hnode *hmap_find(const struct hmap *m, const uint8_t *key);
struct hnode *hmap_next(const struct hnode *h, const uint8_t *key);
/* Insert h (h->key set by the caller); growing may fail silently (the map
 * then just gets fuller). */
void hmap_insert(struct hmap *m, struct hnode *h);
void hmap_remove(struct hmap *m, struct hnode *h);

/* The object that contains an hnode member. */
#define HMAP_ENTRY(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
