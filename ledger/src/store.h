/* LMDB store: the environment, its named databases, and the write context
 * that feeds every state change into the block's state digest. */
#ifndef SP_LEDGER_STORE_H
#define SP_LEDGER_STORE_H

#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

#include "sp/ledger.h"

/* The numbers are part of the state digest (each change names its table),
 * so tables are only ever added at the end. A "pos" below is a position in
 * the chain, be64 height || be32 index (12 bytes): keys that start with one
 * grow with the chain, so their inserts all land in the last leaf page. */
enum db {
  DB_META,     /* "genesis", "tip" */
  DB_BLOCKS,   /* be64 height -> block */
  DB_CERTS,    /* be64 height -> commit certificate of that block */
  DB_HASHES,   /* block hash -> be64 height */
  DB_TXS,      /* tx id -> pos */
  DB_HISTORY,  /* pos || pk -> pos of pk's previous row, or 12 zero bytes */
  /* state: every change here is part of the state digest */
  DB_ACCOUNTS, /* pk -> account record */
  DB_BALANCES, /* pk || fund id -> be64 cents (pass credit, merchant receivable) */
  DB_FUNDS,    /* fund id -> fund record */
  DB_FUNDCAT,  /* fund id || 0 || category -> be64 cents spent */
  DB_PAYMENTS, /* pos of the pay -> payment record */
  DB_CLAIMS,   /* tx id -> claim record */
  DB_ISSUANCE, /* fund id || 0 || ref -> tx id */
  /* index again */
  DB_HISTHEAD, /* pk -> pos of pk's newest history row */
  DB__COUNT
};
#define DB_FIRST_STATE DB_ACCOUNTS
#define DB_LAST_STATE DB_ISSUANCE
#define POS_LEN 12

static inline bool db_is_state(enum db db)
{
  return db >= DB_FIRST_STATE && db <= DB_LAST_STATE;
}

struct store {
  MDB_env *env;
  MDB_dbi dbi[DB__COUNT];
  bool no_sync;
  /* Every transaction holds this shared; growing the map takes it
   * exclusively, because LMDB requires that no transaction of this process
   * be open while mdb_env_set_mapsize runs. */
  pthread_rwlock_t resize;
  /* The memory of the hot records of the write txn (store.c): LMDB lets
   * one write txn run at a time, and a fresh allocation per txn would be
   * faulted in page by page. */
  struct wcache *wcache;
};

int store_open(struct store *s, const char *dir, size_t map_size, bool no_sync, bool create);
void store_close(struct store *s);
/* Translate an LMDB code into SP_LE_*. */
int store_err(int mdb_rc);

/* Records a write txn keeps itself between LMDB reads and writes (store.c,
 * "hot records"). */
struct wcache;

/* A write (or read) context. All changes to state databases are hashed in
 * order; an error is sticky so rule code can check once. */
struct wctx {
  struct store *s;
  MDB_txn *txn;
  crypto_generichash_state changes;
  int rc;
  unsigned long writes; /* st_put and st_del calls: did a refused rule write? */
  bool dry;             /* a check in a read-only txn: writes are counted, not done */
  /* A write txn's hot records (s->wcache once used): a copy of the wctx
   * takes them over (the copy is the one committed or aborted). */
  struct wcache *cache;
  bool no_cache; /* read-only txns, and proposals whose candidates nest txns */
  /* verification only: remember which block last wrote each state key */
  MDB_dbi lastw;
  bool track_lastw;
  uint64_t height;
};

int wctx_begin(struct wctx *w, struct store *s, bool readonly);
/* Double the map (no transaction of the caller's may be open). */
int store_grow(struct store *s);
void wctx_abort(struct wctx *w);
int wctx_commit(struct wctx *w);

/* Get: SP_LE_OK, SP_LE_NOTFOUND or an error. The value points into the
 * LMDB map or the hot records and is valid until the transaction ends or
 * writes (so it must not be the value of a write). */
int st_get(struct wctx *w, enum db db, const void *k, size_t kn, MDB_val *v);
void st_put(struct wctx *w, enum db db, const void *k, size_t kn, const void *v, size_t vn);
void st_del(struct wctx *w, enum db db, const void *k, size_t kn);
/* A cursor on db that sees every write made so far: SP_LE_OK, an SP_LE_*
 * error, or MDB_MAP_FULL (raw, as w->rc keeps it). Rule code opens none
 * otherwise, and writes nothing while it is open. */
int st_cursor(struct wctx *w, enum db db, MDB_cursor **cur);
/* st_put for tables whose keys grow with the chain: a key above every key
 * in the table is appended (MDB_APPEND), which fills leaf pages instead of
 * splitting them in half. Any other key (an update, or rows of one tx put
 * out of order) is an ordinary put, so callers need not know which. Not
 * for the tables of hot records. */
void st_append(struct wctx *w, enum db db, const void *k, size_t kn, const void *v, size_t vn);

static inline void be64_put(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static inline uint64_t be64_get(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

static inline void be32_put(uint8_t *p, uint32_t v)
{
  for (int i = 3; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static inline uint32_t be32_get(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void pos_put(uint8_t p[POS_LEN], uint64_t height, uint32_t index)
{
  be64_put(p, height);
  be32_put(p + 8, index);
}

#endif
