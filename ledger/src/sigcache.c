#include "sigcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sp/ledger.h"

#define WAYS 8      /* keys per set: a set is 256 bytes, four cache lines */
#define STRIPES 64  /* locks, each guarding every STRIPES-th set */

struct set {
  uint8_t key[WAYS][SP_HASH_LEN];
  uint8_t used; /* ways filled so far */
  uint8_t next; /* way to overwrite when full */
};

struct sigcache {
  struct set *sets;
  size_t n_sets; /* a power of two */
  pthread_mutex_t lock[STRIPES];
};

int sigcache_create(struct sigcache **out, size_t entries)
{
  *out = NULL;
  if (entries == 0)
    return SP_LE_OK;
  if (entries > SIGCACHE_MAX)
    return SP_LE_INVAL; /* and the doubling below would overflow */
  struct sigcache *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return SP_LE_NOMEM;
  c->n_sets = 1;
  while (c->n_sets * WAYS < entries)
    c->n_sets <<= 1;
  c->sets = calloc(c->n_sets, sizeof(*c->sets));
  if (c->sets == NULL) {
    free(c);
    return SP_LE_NOMEM;
  }
  for (size_t i = 0; i < STRIPES; i++)
    pthread_mutex_init(&c->lock[i], NULL);
  *out = c;
  return SP_LE_OK;
}

void sigcache_destroy(struct sigcache *c)
{
  if (c == NULL)
    return;
  for (size_t i = 0; i < STRIPES; i++)
    pthread_mutex_destroy(&c->lock[i]);
  free(c->sets);
  free(c);
}

/* The key is a hash: its first bytes are as good an index as any. */
static size_t set_of(const struct sigcache *c, const uint8_t key[SP_HASH_LEN])
{
  uint64_t v;
  memcpy(&v, key, sizeof(v));
  return (size_t)v & (c->n_sets - 1);
}

static bool find(const struct set *s, const uint8_t key[SP_HASH_LEN])
{
  for (unsigned i = 0; i < s->used; i++)
    if (memcmp(s->key[i], key, SP_HASH_LEN) == 0)
      return true;
  return false;
}

bool sigcache_has(struct sigcache *c, const uint8_t key[SP_HASH_LEN])
{
  if (c == NULL)
    return false;
  size_t i = set_of(c, key);
  pthread_mutex_lock(&c->lock[i % STRIPES]);
  bool hit = find(&c->sets[i], key);
  pthread_mutex_unlock(&c->lock[i % STRIPES]);
  return hit;
}

void sigcache_put(struct sigcache *c, const uint8_t key[SP_HASH_LEN])
{
  if (c == NULL)
    return;
  size_t i = set_of(c, key);
  struct set *s = &c->sets[i];
  pthread_mutex_lock(&c->lock[i % STRIPES]);
  if (!find(s, key)) {
    unsigned way;
    if (s->used < WAYS) {
      way = s->used++;
    } else {
      way = s->next;
      s->next = (uint8_t)((s->next + 1) % WAYS);
    }
    memcpy(s->key[way], key, SP_HASH_LEN);
  }
  pthread_mutex_unlock(&c->lock[i % STRIPES]);
}
