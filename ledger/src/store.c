#include "store.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const char *const db_names[DB__COUNT] = {
    [DB_META] = "meta",         [DB_BLOCKS] = "blocks",     [DB_CERTS] = "certs",
    [DB_HASHES] = "hashes",     [DB_TXS] = "txs",           [DB_HISTORY] = "history",
    [DB_ACCOUNTS] = "accounts", [DB_BALANCES] = "balances", [DB_FUNDS] = "funds",
    [DB_FUNDCAT] = "fundcat",   [DB_PAYMENTS] = "payments", [DB_CLAIMS] = "claims",
    [DB_ISSUANCE] = "issuance", [DB_HISTHEAD] = "histhead",
};

#define STORE_LAYOUT 2
static const char LAYOUT_KEY[] = "layout";
static const char GENESIS_KEY[] = "genesis"; /* as ledger.c writes it */

int store_err(int rc)
{
  switch (rc) {
  case MDB_SUCCESS: return SP_LE_OK;
  case MDB_NOTFOUND: return SP_LE_NOTFOUND;
  case ENOMEM: return SP_LE_NOMEM;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
  case MDB_INVALID:
  case MDB_VERSION_MISMATCH: return SP_LE_CORRUPT;
  case ENOENT:
  case EACCES:
  case EIO:
  case ENOSPC: return SP_LE_IO;
  default: return SP_LE_STORE;
  }
}

/* meta["layout"] = be32(STORE_LAYOUT), written into every new store. A
 * ledger without it (or with another number) was written with other keys
 * (layout 1 keyed history by pk and payments by tx id) and would be misread,
 * so it is refused as damaged: rebuild it by replaying the chain. */
static int layout_check(MDB_txn *txn, MDB_dbi meta)
{
  MDB_val k = {sizeof(LAYOUT_KEY) - 1, (void *)LAYOUT_KEY}, v;
  int rc = mdb_get(txn, meta, &k, &v);
  if (rc == 0)
    return v.mv_size == 4 && be32_get(v.mv_data) == STORE_LAYOUT ? 0 : MDB_INVALID;
  if (rc != MDB_NOTFOUND)
    return rc;
  MDB_val g = {sizeof(GENESIS_KEY) - 1, (void *)GENESIS_KEY};
  rc = mdb_get(txn, meta, &g, &v);
  if (rc == 0)
    return MDB_INVALID; /* a ledger of layout 1 */
  if (rc != MDB_NOTFOUND)
    return rc;
  uint8_t n[4];
  be32_put(n, STORE_LAYOUT);
  MDB_val nv = {sizeof(n), n};
  return mdb_put(txn, meta, &k, &nv, 0);
}

int store_open(struct store *s, const char *dir, size_t map_size, bool no_sync, bool create)
{
  memset(s, 0, sizeof(*s));
  s->no_sync = no_sync;
  pthread_rwlock_init(&s->resize, NULL);
  if (create && mkdir(dir, 0700) != 0 && errno != EEXIST)
    return SP_LE_IO;
  int rc = mdb_env_create(&s->env);
  if (rc)
    return store_err(rc);
  /* MDB_NOTLS: read transactions may run on worker threads (node queries)
   * and are not tied to the thread that began them. */
  unsigned flags = MDB_NOTLS | (no_sync ? MDB_NOSYNC : 0);
  if ((rc = mdb_env_set_maxdbs(s->env, DB__COUNT + 1)) ||
      (rc = mdb_env_set_maxreaders(s->env, 256)) ||
      (rc = mdb_env_set_mapsize(s->env, map_size)) ||
      (rc = mdb_env_open(s->env, dir, flags, 0600))) {
    mdb_env_close(s->env);
    s->env = NULL;
    return store_err(rc);
  }
  /* readers left behind by crashed processes would pin old pages forever */
  int dead = 0;
  mdb_reader_check(s->env, &dead);

  MDB_txn *txn;
  if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)))
    goto fail;
  for (int i = 0; i < DB__COUNT; i++) {
    if ((rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i]))) {
      mdb_txn_abort(txn);
      goto fail;
    }
  }
  if ((rc = layout_check(txn, s->dbi[DB_META]))) {
    mdb_txn_abort(txn);
    goto fail;
  }
  if ((rc = mdb_txn_commit(txn)))
    goto fail;
  return SP_LE_OK;
fail:
  mdb_env_close(s->env);
  s->env = NULL;
  return store_err(rc);
}

void store_close(struct store *s)
{
  if (s && s->env) {
    mdb_env_close(s->env);
    s->env = NULL;
    pthread_rwlock_destroy(&s->resize);
  }
}

int store_grow(struct store *s)
{
  MDB_envinfo info;
  pthread_rwlock_wrlock(&s->resize);
  mdb_env_info(s->env, &info);
  int rc = mdb_env_set_mapsize(s->env, info.me_mapsize * 2);
  pthread_rwlock_unlock(&s->resize);
  return rc ? store_err(rc) : SP_LE_OK;
}

int wctx_begin(struct wctx *w, struct store *s, bool readonly)
{
  memset(w, 0, sizeof(*w));
  w->s = s;
  pthread_rwlock_rdlock(&s->resize);
  int rc = mdb_txn_begin(s->env, NULL, readonly ? MDB_RDONLY : 0, &w->txn);
  if (rc == MDB_MAP_RESIZED) {
    /* another process grew the map: adopt its size, then retry */
    pthread_rwlock_unlock(&s->resize);
    pthread_rwlock_wrlock(&s->resize);
    mdb_env_set_mapsize(s->env, 0);
    pthread_rwlock_unlock(&s->resize);
    pthread_rwlock_rdlock(&s->resize);
    rc = mdb_txn_begin(s->env, NULL, readonly ? MDB_RDONLY : 0, &w->txn);
  }
  if (rc) {
    w->txn = NULL;
    pthread_rwlock_unlock(&s->resize);
    return store_err(rc);
  }
  crypto_generichash_init(&w->changes, NULL, 0, SP_HASH_LEN);
  return SP_LE_OK;
}

void wctx_abort(struct wctx *w)
{
  if (w->txn) {
    mdb_txn_abort(w->txn);
    pthread_rwlock_unlock(&w->s->resize);
  }
  w->txn = NULL;
}

int wctx_commit(struct wctx *w)
{
  int rc = w->rc;
  if (rc) {
    wctx_abort(w);
    return rc;
  }
  rc = mdb_txn_commit(w->txn);
  w->txn = NULL;
  pthread_rwlock_unlock(&w->s->resize);
  return rc == MDB_MAP_FULL ? MDB_MAP_FULL : store_err(rc);
}

int st_get(struct wctx *w, enum db db, const void *k, size_t kn, MDB_val *v)
{
  /* after a failed write (MAP_FULL) LMDB refuses every further operation
   * with MDB_BAD_TXN: report the cause, so the caller grows and retries */
  if (w->rc)
    return w->rc;
  MDB_val key = {kn, (void *)k};
  int rc = mdb_get(w->txn, w->s->dbi[db], &key, v);
  if (rc == MDB_NOTFOUND)
    return SP_LE_NOTFOUND;
  return rc ? store_err(rc) : SP_LE_OK;
}

static void log_change(struct wctx *w, enum db db, const void *k, size_t kn, const void *v,
                       size_t vn, bool del)
{
  uint8_t hdr[9];
  hdr[0] = (uint8_t)(db | (del ? 0x80 : 0));
  be32_put(hdr + 1, (uint32_t)kn);
  be32_put(hdr + 5, (uint32_t)vn);
  crypto_generichash_update(&w->changes, hdr, sizeof(hdr));
  crypto_generichash_update(&w->changes, k, kn);
  if (vn)
    crypto_generichash_update(&w->changes, v, vn);
  if (w->track_lastw) {
    uint8_t key[1 + 511];
    uint8_t h[8];
    if (kn > sizeof(key) - 1)
      return;
    key[0] = (uint8_t)db;
    memcpy(key + 1, k, kn);
    be64_put(h, w->height);
    MDB_val mk = {kn + 1, key}, mv = {8, h};
    int rc = mdb_put(w->txn, w->lastw, &mk, &mv, 0);
    if (rc && !w->rc)
      w->rc = rc == MDB_MAP_FULL ? MDB_MAP_FULL : store_err(rc);
  }
}

static void put_done(struct wctx *w, enum db db, int rc, const void *k, size_t kn,
                     const void *v, size_t vn)
{
  if (rc) {
    /* MAP_FULL is kept raw: the caller aborts, grows the map and retries */
    w->rc = rc == MDB_MAP_FULL ? MDB_MAP_FULL : store_err(rc);
    return;
  }
  if (db_is_state(db))
    log_change(w, db, k, kn, v, vn, false);
}

void st_put(struct wctx *w, enum db db, const void *k, size_t kn, const void *v, size_t vn)
{
  w->writes++;
  if (w->rc || w->dry)
    return;
  MDB_val key = {kn, (void *)k}, val = {vn, (void *)v};
  put_done(w, db, mdb_put(w->txn, w->s->dbi[db], &key, &val, 0), k, kn, v, vn);
}

void st_append(struct wctx *w, enum db db, const void *k, size_t kn, const void *v, size_t vn)
{
  w->writes++;
  if (w->rc || w->dry)
    return;
  MDB_dbi dbi = w->s->dbi[db];
  MDB_val key = {kn, (void *)k}, val = {vn, (void *)v}, last, lv;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(w->txn, dbi, &cur);
  if (rc == 0) {
    /* MDB_APPEND with a key that is not the largest fails (MDB_KEYEXIST),
     * so decide first; the last page is the one we are about to write. */
    unsigned flags = 0;
    rc = mdb_cursor_get(cur, &last, &lv, MDB_LAST);
    if (rc == MDB_NOTFOUND || (rc == 0 && mdb_cmp(w->txn, dbi, &key, &last) > 0))
      flags = MDB_APPEND;
    if (rc == 0 || rc == MDB_NOTFOUND)
      rc = mdb_cursor_put(cur, &key, &val, flags);
    mdb_cursor_close(cur);
  }
  put_done(w, db, rc, k, kn, v, vn);
}

void st_del(struct wctx *w, enum db db, const void *k, size_t kn)
{
  w->writes++;
  if (w->rc || w->dry)
    return;
  MDB_val key = {kn, (void *)k};
  int rc = mdb_del(w->txn, w->s->dbi[db], &key, NULL);
  if (rc == MDB_NOTFOUND)
    return;
  if (rc) {
    w->rc = rc == MDB_MAP_FULL ? MDB_MAP_FULL : store_err(rc);
    return;
  }
  if (db_is_state(db))
    log_change(w, db, k, kn, NULL, 0, true);
}

int st_cursor(struct wctx *w, enum db db, MDB_cursor **cur)
{
  if (w->rc)
    return w->rc;
  int rc = mdb_cursor_open(w->txn, w->s->dbi[db], cur);
  return rc ? store_err(rc) : SP_LE_OK;
}
