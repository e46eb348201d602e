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
  /* The write transaction of the last block checked or proposed, kept
   * open until that block is applied (its rules then need not run twice)
   * or any other write comes first (it is dropped). */
  struct wctx staged;
  bool staged_on;
  uint64_t staged_height;
  uint8_t staged_hash[SP_HASH_LEN];  /* of its header */
  uint8_t *staged_raw; /* a copy of its encoding: an apply of the same bytes */
  size_t staged_len, staged_cap;
};

/* Abort the staged write transaction, if any: before any other write. */
void staged_drop(struct sp_ledger *l);

/* Stored tip record. */
int tip_read(struct wctx *w, struct sp_tip *tip);

/* Header hash of stored block h, or SP_LE_NOTFOUND. */
int block_hash_at(struct wctx *w, uint64_t h, uint8_t out[SP_HASH_LEN]);

#endif
