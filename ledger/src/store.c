#include "store.h"

#include <errno.h>
#include <stdlib.h>
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
    free(s->wcache);
    s->wcache = NULL;
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

/* ------------------------------------------------------ hot records
 *
 * Every payment reads its fund, the fund's category counter and the
 * merchant's account, receivable and history head, and rewrites all but
 * the account: in a block of a thousand payments to a few merchants, the
 * same few records hundreds of times, each an LMDB lookup by key. A write
 * txn therefore keeps the latest value of every record of these tables
 * that it read or wrote in a table of its own. A record's first write goes
 * to LMDB at once (most records, a pass's, are written once in a block,
 * right after they were read, when LMDB finds them fastest); later writes
 * wait until a cursor is to read the table (st_cursor), the commit, or the
 * cache is full (it is then emptied). st_put and st_del still log every
 * change when it is made, so the state digest is the same. A key missing
 * from the cache is as LMDB has it. */

#define WC_SLOTS 2048u /* a power of two, at most half of them used */
#define WC_MAX   (WC_SLOTS / 2)
#define WC_ARENA (WC_MAX * 128u) /* keys and values */

/* the tables cached: not those written with st_append */
#define WC_TABLES                                                                        \
  (1u << DB_ACCOUNTS | 1u << DB_BALANCES | 1u << DB_FUNDS | 1u << DB_FUNDCAT |           \
   1u << DB_HISTHEAD)

enum {
  WC_WRITTEN = 1, /* written since cached: the next writes wait for a flush */
  WC_DIRTY = 2,   /* changed since it was last written to LMDB */
  WC_GONE = 4,    /* deleted */
};

struct wc_entry {
  uint32_t hash;
  uint32_t off;      /* of the key in the arena; the value follows it */
  uint32_t vn, vcap; /* value length, and the room it has */
  uint16_t kn;
  uint8_t db, flags;
};

struct wcache {
  uint32_t n, used;        /* entries, arena bytes */
  uint16_t slot[WC_SLOTS]; /* entry index + 1, or 0 */
  struct wc_entry e[WC_MAX];
  uint8_t arena[WC_ARENA];
};

static void wc_clear(struct wcache *c)
{
  c->n = c->used = 0;
  memset(c->slot, 0, sizeof(c->slot));
}

/* The hot records of w if db is one of their tables, else NULL (also when
 * w may not cache, or there was no memory for it). */
static struct wcache *wc_of(struct wctx *w, enum db db)
{
  if (w->no_cache || !(WC_TABLES >> db & 1))
    return NULL;
  if (w->cache == NULL) {
    if (w->s->wcache == NULL && (w->s->wcache = malloc(sizeof(*w->cache))) == NULL) {
      w->no_cache = true;
      return NULL;
    }
    w->cache = w->s->wcache;
    wc_clear(w->cache);
  }
  return w->cache;
}

/* The keys cached start with a public key or a fund id and end with a fund
 * id or a category: their length and their first and last 8 bytes tell
 * them apart (and a collision only makes a probe longer). */
static uint32_t wc_hash(enum db db, const uint8_t *k, size_t kn)
{
  uint64_t a = 0, b = 0;
  if (kn >= 8) {
    memcpy(&a, k, 8);
    memcpy(&b, k + kn - 8, 8);
  } else {
    memcpy(&a, k, kn);
  }
  uint64_t h = (a ^ (uint64_t)db << 56 ^ kn) * 0x9e3779b97f4a7c15ull ^ b;
  /* MurmurHash3's finalizer: the slot is taken from the low bits */
  h = (h ^ h >> 33) * 0xff51afd7ed558ccdull;
  h = (h ^ h >> 33) * 0xc4ceb9fe1a85ec53ull;
  return (uint32_t)(h ^ h >> 33);
}

/* The entry of (db, k), or NULL; *at is its slot, or the free slot where
 * it would go. */
static struct wc_entry *wc_find(struct wcache *c, enum db db, const void *k, size_t kn,
                                uint32_t h, uint32_t *at)
{
  for (uint32_t i = h & (WC_SLOTS - 1);; i = (i + 1) & (WC_SLOTS - 1)) {
    *at = i;
    if (c->slot[i] == 0)
      return NULL;
    struct wc_entry *e = &c->e[c->slot[i] - 1];
    if (e->hash == h && e->db == db && e->kn == kn && !memcmp(c->arena + e->off, k, kn))
      return e;
  }
}

static uint8_t *wc_value(struct wcache *c, const struct wc_entry *e)
{
  return c->arena + e->off + e->kn;
}

/* Room in the arena for the key and a value of vn bytes, at its end. */
static bool wc_place(struct wcache *c, struct wc_entry *e, const void *k, size_t vn)
{
  if (vn > WC_ARENA - e->kn || WC_ARENA - e->kn - vn < c->used)
    return false;
  e->off = c->used;
  e->vcap = (uint32_t)vn;
  memcpy(c->arena + e->off, k, e->kn);
  c->used += e->kn + (uint32_t)vn;
  return true;
}

/* A new entry in free slot at, with room for a value of vn bytes; NULL
 * if the cache is full. */
static struct wc_entry *wc_add(struct wcache *c, uint32_t at, uint32_t h, enum db db,
                               const void *k, size_t kn, size_t vn)
{
  if (c->n == WC_MAX)
    return NULL;
  struct wc_entry *e = &c->e[c->n];
  *e = (struct wc_entry){.hash = h, .kn = (uint16_t)kn, .db = (uint8_t)db};
  if (!wc_place(c, e, k, vn))
    return NULL;
  c->slot[at] = (uint16_t)++c->n;
  return e;
}

/* Write the changed records to LMDB; they stay cached, unchanged. */
static void wc_flush(struct wctx *w)
{
  struct wcache *c = w->cache;
  for (uint32_t i = 0; c && i < c->n && w->rc == 0; i++) {
    struct wc_entry *e = &c->e[i];
    if (!(e->flags & WC_DIRTY))
      continue;
    MDB_val key = {e->kn, c->arena + e->off}, val = {e->vn, wc_value(c, e)};
    MDB_dbi dbi = w->s->dbi[e->db];
    int rc = e->flags & WC_GONE ? mdb_del(w->txn, dbi, &key, NULL)
                                : mdb_put(w->txn, dbi, &key, &val, 0);
    /* not found: a record put and deleted again before it reached LMDB */
    if (rc && rc != MDB_NOTFOUND)
      w->rc = rc == MDB_MAP_FULL ? MDB_MAP_FULL : store_err(rc);
    e->flags &= (uint8_t)~WC_DIRTY;
  }
}

/* The entry that takes the new value (vn bytes) of (db, k); NULL if the
 * value goes to LMDB (the key is then not cached). */
static struct wc_entry *wc_for_put(struct wctx *w, struct wcache *c, enum db db,
                                   const void *k, size_t kn, size_t vn)
{
  uint32_t h = wc_hash(db, k, kn), at;
  struct wc_entry *e = wc_find(c, db, k, kn, h, &at);
  if (e && (e->vcap >= vn || wc_place(c, e, k, vn)))
    return e; /* where the old value was, or (longer) at the end of the arena */
  if (e == NULL && (e = wc_add(c, at, h, db, k, kn, vn)))
    return e;
  /* full: everything to LMDB, and start over */
  wc_flush(w);
  wc_clear(c);
  wc_find(c, db, k, kn, h, &at);
  return w->rc ? NULL : wc_add(c, at, h, db, k, kn, vn);
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
  w->no_cache = readonly;
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
  w->cache = NULL;
}

int wctx_commit(struct wctx *w)
{
  wc_flush(w);
  int rc = w->rc;
  if (rc) {
    wctx_abort(w);
    return rc;
  }
  rc = mdb_txn_commit(w->txn);
  w->txn = NULL;
  pthread_rwlock_unlock(&w->s->resize);
  w->cache = NULL;
  return rc == MDB_MAP_FULL ? MDB_MAP_FULL : store_err(rc);
}

int st_get(struct wctx *w, enum db db, const void *k, size_t kn, MDB_val *v)
{
  /* after a failed write (MAP_FULL) LMDB refuses every further operation
   * with MDB_BAD_TXN: report the cause, so the caller grows and retries */
  if (w->rc)
    return w->rc;
  struct wcache *c = wc_of(w, db);
  uint32_t h = c ? wc_hash(db, k, kn) : 0, at = 0;
  struct wc_entry *e = c ? wc_find(c, db, k, kn, h, &at) : NULL;
  if (e && e->flags & WC_GONE)
    return SP_LE_NOTFOUND;
  if (e) {
    *v = (MDB_val){e->vn, wc_value(c, e)};
    return SP_LE_OK;
  }
  MDB_val key = {kn, (void *)k};
  int rc = mdb_get(w->txn, w->s->dbi[db], &key, v);
  if (rc == MDB_NOTFOUND)
    return SP_LE_NOTFOUND;
  if (rc)
    return store_err(rc);
  /* the next reads of a record are served from the cache, while there is
   * room: reads never empty it (a cursor may be open) */
  if (c && (e = wc_add(c, at, h, db, k, kn, v->mv_size))) {
    e->vn = (uint32_t)v->mv_size;
    memcpy(wc_value(c, e), v->mv_data, e->vn);
  }
  return SP_LE_OK;
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
  struct wcache *c = wc_of(w, db);
  struct wc_entry *e = c ? wc_for_put(w, c, db, k, kn, vn) : NULL;
  if (w->rc)
    return; /* emptying the cache failed (MAP_FULL) */
  int rc = 0;
  if (!e || !(e->flags & WC_WRITTEN)) {
    MDB_val key = {kn, (void *)k}, val = {vn, (void *)v};
    rc = mdb_put(w->txn, w->s->dbi[db], &key, &val, 0);
  }
  if (e) {
    e->flags = e->flags & WC_WRITTEN ? WC_WRITTEN | WC_DIRTY : WC_WRITTEN;
    e->vn = (uint32_t)vn;
    memcpy(wc_value(c, e), v, vn);
  }
  put_done(w, db, rc, k, kn, v, vn);
}

void st_append(struct wctx *w, enum db db, const void *k, size_t kn, const void *v, size_t vn)
{
  w->writes++;
  if (w->rc || w->dry)
    return;
  MDB_dbi dbi = w->s->dbi[db];
  MDB_val key = {kn, (void *)k}, val = {vn, (void *)v};
  /* LMDB looks up the last key itself for MDB_APPEND and refuses a key
   * that is not above it with MDB_KEYEXIST before changing anything: that
   * key is then put the ordinary way (one descent of the tree per row
   * instead of two, and no cursor to allocate) */
  int rc = mdb_put(w->txn, dbi, &key, &val, MDB_APPEND);
  if (rc == MDB_KEYEXIST)
    rc = mdb_put(w->txn, dbi, &key, &val, 0);
  put_done(w, db, rc, k, kn, v, vn);
}

void st_del(struct wctx *w, enum db db, const void *k, size_t kn)
{
  w->writes++;
  if (w->rc || w->dry)
    return;
  struct wcache *c = wc_of(w, db);
  uint32_t at;
  struct wc_entry *e = c ? wc_find(c, db, k, kn, wc_hash(db, k, kn), &at) : NULL;
  bool later = e && e->flags & WC_WRITTEN; /* as for st_put */
  int rc;
  if (later) {
    rc = e->flags & WC_GONE ? MDB_NOTFOUND : 0; /* as mdb_del would tell */
  } else {
    MDB_val key = {kn, (void *)k};
    rc = mdb_del(w->txn, w->s->dbi[db], &key, NULL);
  }
  if (e) {
    e->flags = WC_WRITTEN | WC_GONE | (later ? WC_DIRTY : 0);
    e->vn = 0;
  }
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
  wc_flush(w);
  if (w->rc)
    return w->rc;
  int rc = mdb_cursor_open(w->txn, w->s->dbi[db], cur);
  return rc ? store_err(rc) : SP_LE_OK;
}
