/* Internals shared by the ledger's source files. */
#ifndef SP_LEDGER_INT_H
#define SP_LEDGER_INT_H

#include "pool.h"
#include "rules.h"
#include "sigcache.h"

struct sp_ledger {
  struct store st;
  char *dir;
  uint8_t *genesis_bytes; /* owned; g's views point here */
  size_t genesis_len;
  struct sp_genesis g;
  uint8_t chain_id[SP_HASH_LEN];
  struct pool *pool;
  struct sigcache *sigs; /* NULL: no cache */
  bool track_lastw; /* verification scratch stores only */
};

/* Stored tip record. */
int tip_read(struct wctx *w, struct sp_tip *tip);

/* Header hash of stored block h, or SP_LE_NOTFOUND. */
int block_hash_at(struct wctx *w, uint64_t h, uint8_t out[SP_HASH_LEN]);

#endif
