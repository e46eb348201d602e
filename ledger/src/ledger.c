#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger_int.h"
#include "sp/crypto.h"
#include "sp/error.h"
#include "sp/merkle.h"
#include "sp/msg.h"

#define DEFAULT_MAP (1ull << 30)
#define MAP_FULL_RETRIES 8
/* verified signatures remembered: a full mempool (the node's default is
 * 20,000) and a few blocks, 4 MiB */
#define DEFAULT_SIG_CACHE (1u << 17)

static const char *const le_messages[] = {
#define SP_LE_MSG(name, msg) msg,
    SP_LEDGER_ERRNO_MAP(SP_LE_MSG)
#undef SP_LE_MSG
};

const char *sp_ledger_strerror(int err)
{
  if (err > SP__LE_FIRST && err < SP__LE_LAST)
    return le_messages[err - SP__LE_FIRST - 1];
  return sp_strerror(err);
}

const char *sp_reason_name(int reason)
{
  switch (reason) {
#define SP_R_CASE(name, num, text)                                                        \
  case num: return text;
    SP_REASON_MAP(SP_R_CASE)
#undef SP_R_CASE
  default: return "unknown";
  }
}

/* ================================================================= meta */

static const char TIP_KEY[] = "tip";
static const char GENESIS_KEY[] = "genesis";

int tip_read(struct wctx *w, struct sp_tip *tip)
{
  MDB_val v;
  int rc = st_get(w, DB_META, TIP_KEY, sizeof(TIP_KEY) - 1, &v);
  if (rc)
    return rc == SP_LE_NOTFOUND ? SP_LE_CORRUPT : rc;
  if (v.mv_size != 8 + 2 * SP_HASH_LEN + 8)
    return SP_LE_CORRUPT;
  const uint8_t *p = v.mv_data;
  tip->height = be64_get(p);
  memcpy(tip->hash, p + 8, SP_HASH_LEN);
  memcpy(tip->state_digest, p + 8 + SP_HASH_LEN, SP_HASH_LEN);
  tip->time_ms = be64_get(p + 8 + 2 * SP_HASH_LEN);
  return SP_LE_OK;
}

static void tip_write(struct wctx *w, const struct sp_tip *tip)
{
  uint8_t b[8 + 2 * SP_HASH_LEN + 8];
  be64_put(b, tip->height);
  memcpy(b + 8, tip->hash, SP_HASH_LEN);
  memcpy(b + 8 + SP_HASH_LEN, tip->state_digest, SP_HASH_LEN);
  be64_put(b + 8 + 2 * SP_HASH_LEN, tip->time_ms);
  st_put(w, DB_META, TIP_KEY, sizeof(TIP_KEY) - 1, b, sizeof(b));
}

/* digest(h) = H_state(chain_id, digest(h-1) || H(changes of block h)) */
static void digest_next(const struct sp_ledger *l, struct wctx *w,
                        const uint8_t prev[SP_HASH_LEN], uint8_t out[SP_HASH_LEN])
{
  uint8_t in[2 * SP_HASH_LEN];
  memcpy(in, prev, SP_HASH_LEN);
  crypto_generichash_state copy = w->changes; /* keep w usable */
  crypto_generichash_final(&copy, in + SP_HASH_LEN, SP_HASH_LEN);
  sp_hash_dom(out, SP_DOM_STATE, l->chain_id, in, sizeof(in));
}

int block_hash_at(struct wctx *w, uint64_t h, uint8_t out[SP_HASH_LEN])
{
  uint8_t k[8];
  be64_put(k, h);
  MDB_val v;
  int rc = st_get(w, DB_BLOCKS, k, 8, &v);
  if (rc)
    return rc;
  struct sp_rd r = sp_rd_init(v.mv_data, v.mv_size);
  struct sp_header hd;
  memset(&hd, 0, sizeof(hd));
  /* the header is the second field of [version, header, txs, last_commit] */
  uint64_t ver;
  if (sp_rd_array_exact(&r, 4) || sp_rd_uint(&r, &ver) || sp__header_read(&r, &hd))
    return SP_LE_CORRUPT;
  return sp_header_hash(&hd, out) ? SP_LE_CORRUPT : SP_LE_OK;
}

/* ============================================================ lifecycle */

static unsigned default_workers(unsigned want)
{
  if (want == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    want = n > 0 ? (unsigned)n : 1;
  }
  return want - 1; /* the calling thread is one of them */
}

static int load_genesis(struct sp_ledger *l, const uint8_t *p, size_t n)
{
  l->genesis_bytes = malloc(n);
  if (l->genesis_bytes == NULL)
    return SP_LE_NOMEM;
  memcpy(l->genesis_bytes, p, n);
  l->genesis_len = n;
  if (sp_genesis_decode(l->genesis_bytes, n, &l->g) != SP_OK)
    return SP_LE_GENESIS;
  sp_chain_id(l->genesis_bytes, n, l->chain_id);
  return SP_LE_OK;
}

void staged_drop(struct sp_ledger *l)
{
  if (l->staged_on) {
    wctx_abort(&l->staged);
    l->staged_on = false;
  }
}

/* Keep w (a block's complete write txn, all but the commit certificate)
 * open for sp_ledger_apply of the same block. */
static void stage(struct sp_ledger *l, struct wctx *w, uint64_t height,
                  const uint8_t hash[SP_HASH_LEN], const uint8_t *raw, size_t n)
{
  staged_drop(l);
  /* compared byte for byte at the apply: copying and comparing a block
   * costs a twentieth of hashing it twice */
  if (n > l->staged_cap) {
    uint8_t *p = realloc(l->staged_raw, n);
    if (p == NULL) {
      wctx_abort(w); /* not staged: the apply does it all again */
      return;
    }
    l->staged_raw = p;
    l->staged_cap = n;
  }
  memcpy(l->staged_raw, raw, n);
  l->staged_len = n;
  l->staged = *w;
  l->staged_on = true;
  l->staged_height = height;
  memcpy(l->staged_hash, hash, SP_HASH_LEN);
}

static int grow_map(struct sp_ledger *l)
{
  staged_drop(l); /* it holds the resize lock shared */
  return store_grow(&l->st);
}

/* After attempt number `attempt` of a write transaction ended with *rc:
 * true if the map was full and has grown, so the caller tries again;
 * otherwise *rc is the final code (a map still full after
 * MAP_FULL_RETRIES growths becomes SP_LE_STORE). */
static bool grown_for_retry(struct sp_ledger *l, int *rc, int attempt)
{
  if (*rc != MDB_MAP_FULL)
    return false;
  if (attempt == MAP_FULL_RETRIES) {
    *rc = SP_LE_STORE;
    return false;
  }
  return (*rc = grow_map(l)) == SP_LE_OK;
}

int sp_ledger_create(const char *dir, const uint8_t *genesis, size_t n,
                     const struct sp_ledger_opts *opts)
{
  struct sp_ledger_opts o = opts ? *opts : (struct sp_ledger_opts){0};
  struct sp_ledger l;
  memset(&l, 0, sizeof(l));
  int rc = sp_crypto_init() ? SP_LE_INVAL : load_genesis(&l, genesis, n);
  if (rc)
    goto out;
  if ((rc = store_open(&l.st, dir, o.map_size ? o.map_size : DEFAULT_MAP, o.no_sync, true)))
    goto out;
  struct wctx w;
  if ((rc = wctx_begin(&w, &l.st, false)))
    goto out;
  MDB_val v;
  if (st_get(&w, DB_META, GENESIS_KEY, sizeof(GENESIS_KEY) - 1, &v) == SP_LE_OK) {
    wctx_abort(&w);
    rc = SP_LE_EXISTS;
    goto out;
  }
  st_put(&w, DB_META, GENESIS_KEY, sizeof(GENESIS_KEY) - 1, genesis, n);
  rules_genesis(&w, &l.g);
  struct sp_tip tip = {.height = 0, .time_ms = l.g.genesis_time_ms};
  static const uint8_t zero[SP_HASH_LEN];
  digest_next(&l, &w, zero, tip.state_digest);
  tip_write(&w, &tip);
  rc = wctx_commit(&w);
  if (rc == MDB_MAP_FULL)
    rc = SP_LE_STORE;
out:
  store_close(&l.st);
  free(l.genesis_bytes);
  return rc;
}

int sp_ledger_open(struct sp_ledger **out, const char *dir,
                   const struct sp_ledger_opts *opts)
{
  struct sp_ledger_opts o = opts ? *opts : (struct sp_ledger_opts){0};
  if (sp_crypto_init())
    return SP_LE_INVAL;
  struct sp_ledger *l = calloc(1, sizeof(*l));
  if (l == NULL)
    return SP_LE_NOMEM;
  int rc;
  char data[4096 + 16];
  if (strlen(dir) > 4096) {
    rc = SP_LE_INVAL;
    goto fail;
  }
  snprintf(data, sizeof(data), "%s/data.mdb", dir);
  if (access(dir, F_OK) != 0 || access(data, F_OK) != 0) {
    rc = SP_LE_NOLEDGER; /* and create nothing there */
    goto fail;
  }
  if ((rc = store_open(&l->st, dir, o.map_size ? o.map_size : DEFAULT_MAP, o.no_sync, false)))
    goto fail;
  /* LMDB raises our requested map size to at least what the file uses */
  struct wctx w;
  if ((rc = wctx_begin(&w, &l->st, true)))
    goto fail;
  MDB_val v;
  rc = st_get(&w, DB_META, GENESIS_KEY, sizeof(GENESIS_KEY) - 1, &v);
  if (rc == SP_LE_OK)
    rc = load_genesis(l, v.mv_data, v.mv_size);
  else if (rc == SP_LE_NOTFOUND)
    rc = SP_LE_NOLEDGER;
  wctx_abort(&w);
  if (rc)
    goto fail;
  if ((l->dir = strdup(dir)) == NULL) {
    rc = SP_LE_NOMEM;
    goto fail;
  }
  if ((rc = pool_create(&l->pool, default_workers(o.verify_threads))))
    goto fail;
  if ((rc = sigcache_create(&l->sigs, o.sig_cache == SP_LEDGER_NO_SIG_CACHE ? 0
                                      : o.sig_cache                  ? o.sig_cache
                                                                     : DEFAULT_SIG_CACHE)))
    goto fail;
  *out = l;
  return SP_LE_OK;
fail:
  sp_ledger_close(l);
  return rc;
}

void sp_ledger_close(struct sp_ledger *l)
{
  if (l == NULL)
    return;
  staged_drop(l);
  free(l->staged_raw);
  pool_destroy(l->pool);
  sigcache_destroy(l->sigs);
  store_close(&l->st);
  free(l->genesis_bytes);
  free(l->dir);
  free(l);
}

const struct sp_genesis *sp_ledger_genesis(const struct sp_ledger *l)
{
  return &l->g;
}

const uint8_t *sp_ledger_chain_id(const struct sp_ledger *l)
{
  return l->chain_id;
}

int sp_ledger_tip(struct sp_ledger *l, struct sp_tip *tip)
{
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, true);
  if (rc)
    return rc;
  rc = tip_read(&w, tip);
  wctx_abort(&w);
  return rc;
}

/* ====================================================== block checking */

/* Verify tx's signature and remember it (by the Merkle leaf of its full
 * encoding) when it holds. Thread-safe. */
static bool verify_remember(struct sp_ledger *l, const struct sp_tx *tx,
                            const uint8_t leaf[SP_HASH_LEN])
{
  if (tx->body == NULL || sp_tx_verify(tx, l->chain_id) != SP_OK)
    return false;
  sigcache_put(l->sigs, leaf);
  return true;
}

/* The signature of tx, checked once per ledger: a hit in the cache of
 * verified transactions or a fresh verification. Thread-safe. */
static bool sig_ok(struct sp_ledger *l, const struct sp_tx *tx, const uint8_t leaf[SP_HASH_LEN])
{
  return sigcache_has(l->sigs, leaf) || verify_remember(l, tx, leaf);
}

/* The cache key of a transaction given as a struct: the leaf of its
 * encoding from the fields, which is what a block built from it carries,
 * and its encoded length in *len. The signature check reads the bytes the
 * struct was decoded from (tx->body, inside tx->raw), so the two must be
 * the same bytes: false if a field was changed after decoding (or the
 * struct was never decoded, or does not encode). Otherwise a changed
 * struct would verify, and the leaf of bytes nobody signed would be
 * remembered as verified. */
static bool tx_leaf(const struct sp_tx *tx, uint8_t leaf[SP_HASH_LEN], size_t *len)
{
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_TX_BYTES);
  bool ok = tx->raw != NULL && sp_tx_encode(tx, &b) == SP_OK && b.len == tx->raw_len &&
            memcmp(b.data, tx->raw, b.len) == 0;
  if (ok) {
    sp_merkle_leaf(leaf, b.data, b.len);
    *len = b.len;
  }
  sp_buf_free(&b);
  return ok;
}

int sp_ledger_verify_tx_leaf(struct sp_ledger *l, const struct sp_tx *tx,
                             uint8_t leaf[static SP_HASH_LEN])
{
  size_t len;
  if (tx->body == NULL || !tx_leaf(tx, leaf, &len)) {
    memset(leaf, 0, SP_HASH_LEN);
    return SP_LE_INVAL; /* only decoded, unchanged transactions carry their signed bytes */
  }
  return sig_ok(l, tx, leaf) ? SP_LE_OK : SP_E_BADSIG;
}

int sp_ledger_verify_tx(struct sp_ledger *l, const struct sp_tx *tx)
{
  uint8_t leaf[SP_HASH_LEN];
  return sp_ledger_verify_tx_leaf(l, tx, leaf);
}

/* The signature checks of a block not yet in the cache, run on the pool
 * while the caller goes on with the rules. */
struct sigjob {
  struct sp_ledger *l;
  const struct sp_block *b;
  uint8_t (*leaves)[SP_HASH_LEN];
  uint32_t *unverified; /* indexes of the transactions the cache lacks */
  bool *ok;       /* per transaction of the block */
  size_t n_unverified;
  bool started; /* the checks were handed out (sigjob_run) */
  bool running; /* ... and the pool is still on them */
};

static void check_one(size_t i, void *arg)
{
  struct sigjob *j = arg;
  uint32_t k = j->unverified[i];
  /* sigjob_start found it missing from the cache */
  j->ok[k] = verify_remember(j->l, &j->b->txs[k], j->leaves[k]);
}

static void sigjob_free(struct sigjob *j)
{
  if (j->running)
    pool_finish(j->l->pool);
  free(j->leaves);
  free(j->unverified);
  free(j->ok);
  memset(j, 0, sizeof(*j));
}

/* Tx ids and Merkle leaves of every transaction (on the caller: about a
 * microsecond each), then the signatures the cache does not vouch for are
 * handed to the pool. */
static int sigjob_start(struct sigjob *j, struct sp_ledger *l, const struct sp_block *b,
                        uint8_t (*txids)[SP_HASH_LEN])
{
  size_t n = b->n_txs;
  memset(j, 0, sizeof(*j));
  j->l = l;
  j->b = b;
  if (n == 0)
    return SP_LE_OK;
  j->leaves = malloc(n * SP_HASH_LEN);
  j->unverified = malloc(n * sizeof(*j->unverified));
  j->ok = malloc(n * sizeof(*j->ok));
  if (j->leaves == NULL || j->unverified == NULL || j->ok == NULL)
    return SP_LE_NOMEM;
  for (size_t i = 0; i < n; i++) {
    const struct sp_tx *tx = &b->txs[i];
    if (txids)
      sp_tx_id(tx, l->chain_id, txids[i]);
    sp_merkle_leaf(j->leaves[i], tx->raw, tx->raw_len);
    j->ok[i] = sigcache_has(l->sigs, j->leaves[i]);
    if (!j->ok[i])
      j->unverified[j->n_unverified++] = (uint32_t)i;
  }
  return SP_LE_OK;
}

static void sigjob_run(struct sigjob *j)
{
  j->started = true;
  if (j->n_unverified) {
    pool_start(j->l->pool, j->n_unverified, check_one, j);
    j->running = true;
  }
}

/* Wait for the signatures; the index of the first bad one, or -1 (also
 * when they were never handed out). */
static long sigjob_wait(struct sigjob *j)
{
  if (!j->started)
    return -1;
  if (j->running) {
    pool_finish(j->l->pool);
    j->running = false;
  }
  for (size_t i = 0; i < j->b->n_txs; i++)
    if (!j->ok[i])
      return (long)i;
  return -1;
}

static bool is_validator(const struct sp_genesis *g, const uint8_t pk[SP_PK_LEN])
{
  for (uint32_t i = 0; i < g->n_validators; i++)
    if (memcmp(g->validators[i].pk, pk, SP_PK_LEN) == 0)
      return true;
  return false;
}

/* Refuse a block: "block 812: <detail>". */
__attribute__((format(printf, 4, 5))) static int
block_refuse(struct sp_refusal *why, uint64_t height, int reason, const char *fmt, ...)
{
  char detail[SP_REFUSAL_MSG - 32];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);
  int rc = refuse(why, reason, "block %llu: %s", (unsigned long long)height, detail);
  if (why)
    why->height = height;
  return rc;
}

static int refuse_bad_sig(struct sp_refusal *why, uint64_t height, long i)
{
  int rc = block_refuse(why, height, SP_R_BLOCK_TX, "tx %ld: bad signature", i);
  if (why) {
    why->tx_reason = SP_R_BAD_SIGNATURE;
    why->tx_index = (uint32_t)i;
  }
  return rc;
}

/* Everything about a block that does not need the state: links to the tip,
 * proposer, limits, last commit, tx root. Fills txids and starts the
 * signature checks on the pool (the caller waits for them with
 * sigjob_wait before it trusts the block, and frees j in any case). */
static int check_block(struct sp_ledger *l, const struct sp_block *b, size_t n_bytes,
                       const struct sp_tip *tip, uint8_t (*txids)[SP_HASH_LEN],
                       struct sigjob *j, struct sp_refusal *why)
{
  const struct sp_header *h = &b->header;
  const struct sp_genesis *g = &l->g;
  uint64_t height = h->height;
  static const uint8_t zero[SP_HASH_LEN];

  memset(j, 0, sizeof(*j));
  if (memcmp(h->chain_id, l->chain_id, SP_HASH_LEN) != 0)
    return block_refuse(why, height, SP_R_BLOCK_WRONG_CHAIN, "belongs to another chain");
  if (height != tip->height + 1)
    return block_refuse(why, height, SP_R_BLOCK_WRONG_HEIGHT, "does not follow the tip");
  if (memcmp(h->prev, tip->hash, SP_HASH_LEN) != 0)
    return block_refuse(why, height, SP_R_BLOCK_WRONG_PREV, "previous-block hash does not match the tip");
  if (height == 1 ? h->time_ms < tip->time_ms : h->time_ms <= tip->time_ms)
    return block_refuse(why, height, SP_R_BLOCK_TIME, "time does not advance");
  if (!is_validator(g, h->proposer))
    return block_refuse(why, height, SP_R_BLOCK_PROPOSER, "proposer is not a validator");
  if (b->n_txs > g->params.max_block_txs || n_bytes > g->params.max_block_bytes)
    return block_refuse(why, height, SP_R_BLOCK_TOO_BIG, "exceeds the genesis block limits");

  if (b->has_last_commit) {
    uint8_t ch[SP_HASH_LEN];
    int rc = sp_cert_verify(&b->last_commit, g, l->chain_id);
    if (rc)
      return block_refuse(why, height, SP_R_BLOCK_LAST_COMMIT,
                          "last commit: %s", sp_strerror(rc));
    if (sp_cert_hash(&b->last_commit, ch) || memcmp(ch, h->last_commit_hash, SP_HASH_LEN))
      return block_refuse(why, height, SP_R_BLOCK_LAST_COMMIT, "last-commit hash does not match");
  } else if (memcmp(h->last_commit_hash, zero, SP_HASH_LEN) != 0) {
    return block_refuse(why, height, SP_R_BLOCK_LAST_COMMIT, "first block with a last-commit hash");
  }

  int rc = sigjob_start(j, l, b, txids);
  if (rc)
    return rc;
  uint8_t root[SP_HASH_LEN];
  if (sp_merkle_root(root, (const uint8_t(*)[SP_HASH_LEN])j->leaves, b->n_txs))
    return SP_LE_NOMEM;
  if (memcmp(root, h->tx_root, SP_HASH_LEN) != 0)
    return block_refuse(why, height, SP_R_BLOCK_TX_ROOT, "transaction Merkle root does not match");
  sigjob_run(j);
  return SP_LE_OK;
}

int sp_ledger_preverify(struct sp_ledger *l, const uint8_t *raw, size_t n)
{
  struct sp_block b;
  int rc = sp_block_decode(raw, n, &b);
  if (rc)
    return rc;
  struct sigjob j;
  rc = sigjob_start(&j, l, &b, NULL);
  if (rc == SP_LE_OK) {
    sigjob_run(&j);
    rc = sigjob_wait(&j) < 0 ? SP_LE_OK : SP_E_BADSIG;
  }
  sigjob_free(&j);
  sp_block_clear(&b);
  return rc;
}

static int check_commit(struct sp_ledger *l, const struct sp_cert *c, uint64_t height,
                        const uint8_t hash[SP_HASH_LEN], struct sp_refusal *why)
{
  if (c->height != height || memcmp(c->block, hash, SP_HASH_LEN) != 0)
    return block_refuse(why, height, SP_R_BLOCK_CERT, "certificate is for another block");
  int rc = sp_cert_verify(c, &l->g, l->chain_id);
  if (rc)
    return block_refuse(why, height, SP_R_BLOCK_CERT, "certificate: %s", sp_strerror(rc));
  return SP_LE_OK;
}

static void put_cert(struct wctx *w, const struct sp_cert *c)
{
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_TX_BYTES);
  if (sp_cert_encode(c, &b) == SP_OK) {
    uint8_t k[8];
    be64_put(k, c->height);
    st_put(w, DB_CERTS, k, 8, b.data, b.len);
  } else if (!w->rc) {
    w->rc = SP_LE_INVAL;
  }
  sp_buf_free(&b);
}

/* The block's own records: its bytes, hash index, the certificate it
 * carries for its parent, and the new tip. */
static void put_block(struct wctx *w, uint64_t height, const uint8_t *raw, size_t n,
                      const uint8_t hash[SP_HASH_LEN], const struct sp_cert *last_commit,
                      const struct sp_tip *next)
{
  uint8_t k[8];
  be64_put(k, height);
  st_put(w, DB_BLOCKS, k, 8, raw, n);
  st_put(w, DB_HASHES, hash, SP_HASH_LEN, k, 8);
  if (last_commit)
    put_cert(w, last_commit);
  tip_write(w, next);
}

/* Apply every tx of b to w; on a refusal, why says which and why. */
static int apply_txs(struct wctx *w, struct sp_ledger *l, const struct sp_block *b,
                     uint8_t (*txids)[SP_HASH_LEN], struct sp_refusal *why)
{
  for (uint32_t i = 0; i < b->n_txs; i++) {
    struct tx_ctx c = {&l->g, b->header.time_ms, b->header.height, i, txids[i]};
    struct sp_refusal txwhy = {0};
    int rc = rules_apply(w, &c, &b->txs[i], &txwhy);
    if (rc == SP_LE_REFUSED) {
      if (why) {
        why->reason = SP_R_BLOCK_TX;
        why->tx_reason = txwhy.reason;
        why->tx_index = i;
        why->height = b->header.height;
        snprintf(why->msg, sizeof(why->msg), "block %llu: tx %u: %s: %.240s",
                 (unsigned long long)b->header.height, i, sp_reason_name(txwhy.reason),
                 txwhy.msg);
      }
      return rc;
    }
    if (rc)
      return rc;
  }
  return w->rc;
}

/* Everything a block does to w, once check_block has passed: its
 * transactions, the conservation invariant, the state digest, its
 * records and (if given) its own certificate, then the signatures it
 * started on the pool. next is the tip it makes. w->changes must hold
 * this block's changes only. */
static int apply_block(struct wctx *w, struct sp_ledger *l, const struct sp_block *b,
                       const uint8_t *raw, size_t n, const uint8_t hash[SP_HASH_LEN],
                       const struct sp_tip *tip, uint8_t (*txids)[SP_HASH_LEN],
                       const struct sp_cert *commit, struct sigjob *j, struct sp_tip *next,
                       struct sp_refusal *why)
{
  int rc;
  if ((rc = apply_txs(w, l, b, txids, why)))
    return rc;
  if ((rc = rules_check_conservation(w, why))) {
    if (rc == SP_LE_REFUSED && why)
      why->height = b->header.height;
    return rc;
  }
  memset(next, 0, sizeof(*next));
  next->height = b->header.height;
  next->time_ms = b->header.time_ms;
  memcpy(next->hash, hash, SP_HASH_LEN);
  digest_next(l, w, tip->state_digest, next->state_digest);
  if (memcmp(next->state_digest, b->header.state_digest, SP_HASH_LEN) != 0)
    return block_refuse(why, b->header.height, SP_R_BLOCK_STATE_DIGEST, "state digest differs from the result of applying it");
  put_block(w, b->header.height, raw, n, hash, b->has_last_commit ? &b->last_commit : NULL,
            next);
  if (commit)
    put_cert(w, commit);
  /* the rules ran while the pool checked signatures: nothing is written
   * before every one of them holds */
  long bad = sigjob_wait(j);
  if (bad >= 0)
    return refuse_bad_sig(why, b->header.height, bad);
  return w->rc;
}

/* One attempt at the write transaction of a block. */
static int apply_once(struct sp_ledger *l, const struct sp_block *b, const uint8_t *raw,
                      size_t n, const uint8_t hash[SP_HASH_LEN], const struct sp_tip *tip,
                      uint8_t (*txids)[SP_HASH_LEN], const struct sp_cert *commit,
                      struct sigjob *j, bool dry_run, struct sp_refusal *why)
{
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, false);
  if (rc)
    return rc;
  if (l->track_lastw) {
    w.track_lastw = true;
    w.height = b->header.height;
    mdb_dbi_open(w.txn, "lastw", MDB_CREATE, &w.lastw);
  }
  struct sp_tip next;
  if ((rc = apply_block(&w, l, b, raw, n, hash, tip, txids, commit, j, &next, why)))
    goto abort;
  if (dry_run) {
    stage(l, &w, b->header.height, hash, raw, n);
    return SP_LE_OK;
  }
  return wctx_commit(&w);
abort:
  wctx_abort(&w);
  return rc;
}

/* Apply the staged block if raw is byte for byte that block: it was
 * decoded and checked (or built) on this very tip, and every write is
 * done; what is left is its own certificate and the commit. 1 if raw is
 * not the staged block (or the map filled up: then the caller does it
 * all again). */
static int apply_staged(struct sp_ledger *l, const uint8_t *raw, size_t n,
                        const struct sp_cert *commit, struct sp_refusal *why)
{
  if (!l->staged_on || n != l->staged_len || memcmp(raw, l->staged_raw, n) != 0)
    return 1;
  int rc;
  if (commit && (rc = check_commit(l, commit, l->staged_height, l->staged_hash, why))) {
    staged_drop(l);
    return rc;
  }
  if (commit)
    put_cert(&l->staged, commit);
  l->staged_on = false;
  rc = wctx_commit(&l->staged);
  if (rc != MDB_MAP_FULL)
    return rc;
  return grow_map(l) ? SP_LE_STORE : 1;
}

static int apply_or_check(struct sp_ledger *l, const uint8_t *raw, size_t n,
                          const struct sp_cert *commit, bool dry_run, struct sp_refusal *why)
{
  if (why)
    memset(why, 0, sizeof(*why));
  int rc;
  if (!dry_run && (rc = apply_staged(l, raw, n, commit, why)) != 1)
    return rc;
  struct sp_block b;
  rc = sp_block_decode(raw, n, &b);
  if (rc)
    return refuse(why, SP_R_BLOCK_MALFORMED, "block does not decode: %s", sp_strerror(rc));
  uint8_t hash[SP_HASH_LEN];
  sp_header_hash(&b.header, hash);
  uint8_t(*txids)[SP_HASH_LEN] = NULL;
  struct sigjob j = {0};

  struct sp_tip tip;
  if ((rc = sp_ledger_tip(l, &tip)))
    goto out;
  if (b.header.height <= tip.height) {
    /* already applied: the same block is a no-op, another one a conflict */
    uint8_t have[SP_HASH_LEN];
    struct wctx w;
    if ((rc = wctx_begin(&w, &l->st, true)))
      goto out;
    rc = block_hash_at(&w, b.header.height, have);
    wctx_abort(&w);
    if (rc == SP_LE_OK && memcmp(have, hash, SP_HASH_LEN) != 0)
      rc = block_refuse(why, b.header.height, SP_R_BLOCK_CONFLICT,
                        "conflicts with the committed block at that height");
    else if (rc == SP_LE_OK && commit)
      rc = sp_ledger_put_cert(l, commit, why); /* a certificate we may lack */
    goto out;
  }
  staged_drop(l);
  if (b.n_txs && (txids = malloc((size_t)b.n_txs * SP_HASH_LEN)) == NULL) {
    rc = SP_LE_NOMEM;
    goto out;
  }
  if ((rc = check_block(l, &b, n, &tip, txids, &j, why)))
    goto out;
  if (commit && (rc = check_commit(l, commit, b.header.height, hash, why)))
    goto out;
  for (int attempt = 0;; attempt++) {
    rc = apply_once(l, &b, raw, n, hash, &tip, txids, commit, &j, dry_run, why);
    if (!grown_for_retry(l, &rc, attempt))
      break;
  }
out:
  /* a bad signature is the block's fault before any later finding (a
   * rule refusal may just be the consequence of a forged transaction) */
  if (rc == SP_LE_OK || rc == SP_LE_REFUSED) {
    long bad = sigjob_wait(&j);
    if (bad >= 0)
      rc = refuse_bad_sig(why, b.header.height, bad);
  }
  sigjob_free(&j);
  free(txids);
  sp_block_clear(&b);
  return rc;
}

int sp_ledger_apply(struct sp_ledger *l, const uint8_t *raw, size_t n,
                    const struct sp_cert *commit, struct sp_refusal *why)
{
  return apply_or_check(l, raw, n, commit, false, why);
}

/* One try at a batch in one write transaction (see sp_ledger_apply_batch).
 * The blocks are decoded; tip is the committed tip below the first. */
static int apply_batch_once(struct sp_ledger *l, const struct sp_block_in *in,
                            const struct sp_block *bs, const uint8_t (*hashes)[SP_HASH_LEN],
                            size_t n, const struct sp_tip *tip, struct sp_refusal *why)
{
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, false);
  if (rc)
    return rc;
  struct sp_tip cur = *tip, next;
  for (size_t i = 0; i < n && rc == SP_LE_OK; i++) {
    const struct sp_block *b = &bs[i];
    uint8_t(*txids)[SP_HASH_LEN] = NULL;
    struct sigjob j = {0};
    if (b->n_txs && (txids = malloc((size_t)b->n_txs * SP_HASH_LEN)) == NULL) {
      rc = SP_LE_NOMEM;
      break;
    }
    /* each block's digest covers its own changes only */
    crypto_generichash_init(&w.changes, NULL, 0, SP_HASH_LEN);
    rc = check_block(l, b, in[i].len, &cur, txids, &j, why);
    if (rc == SP_LE_OK && in[i].commit)
      rc = check_commit(l, in[i].commit, b->header.height, hashes[i], why);
    if (rc == SP_LE_OK)
      rc = apply_block(&w, l, b, in[i].raw, in[i].len, hashes[i], &cur, txids, in[i].commit,
                       &j, &next, why);
    if (rc == SP_LE_OK || rc == SP_LE_REFUSED) {
      long bad = sigjob_wait(&j); /* as in apply_or_check: a forgery first */
      if (bad >= 0)
        rc = refuse_bad_sig(why, b->header.height, bad);
    }
    sigjob_free(&j);
    free(txids);
    if (rc == SP_LE_OK)
      cur = next;
  }
  if (rc) {
    wctx_abort(&w);
    return rc;
  }
  return wctx_commit(&w);
}

int sp_ledger_apply_batch(struct sp_ledger *l, const struct sp_block_in *in, size_t n,
                          struct sp_refusal *why)
{
  if (why)
    memset(why, 0, sizeof(*why));
  struct sp_tip tip;
  int rc = sp_ledger_tip(l, &tip);
  if (rc)
    return rc;
  struct sp_block *bs = calloc(n ? n : 1, sizeof(*bs));
  uint8_t(*hashes)[SP_HASH_LEN] = malloc((n ? n : 1) * SP_HASH_LEN);
  size_t decoded = 0;
  bool one_by_one = n < 2 || l->track_lastw;
  if (bs == NULL || hashes == NULL) {
    rc = SP_LE_NOMEM;
    goto out;
  }
  for (; decoded < n && !one_by_one; decoded++) {
    if (sp_block_decode(in[decoded].raw, in[decoded].len, &bs[decoded]) != SP_OK) {
      one_by_one = true; /* sp_ledger_apply names it */
      break;
    }
    sp_header_hash(&bs[decoded].header, hashes[decoded]);
    /* only a run that starts right above the tip is done in one go */
    if (bs[decoded].header.height != tip.height + 1 + decoded)
      one_by_one = true;
  }
  if (!one_by_one) {
    staged_drop(l);
    for (int attempt = 0;; attempt++) {
      rc = apply_batch_once(l, in, bs, (const uint8_t(*)[SP_HASH_LEN])hashes, n, &tip, why);
      if (!grown_for_retry(l, &rc, attempt))
        break;
    }
  } else {
    for (size_t i = 0; i < n && rc == SP_LE_OK; i++)
      rc = sp_ledger_apply(l, in[i].raw, in[i].len, in[i].commit, why);
  }
out:
  for (size_t i = 0; i < decoded && bs; i++)
    sp_block_clear(&bs[i]);
  free(bs);
  free(hashes);
  return rc;
}

int sp_ledger_check_block(struct sp_ledger *l, const uint8_t *raw, size_t n,
                          struct sp_refusal *why)
{
  return apply_or_check(l, raw, n, NULL, true, why);
}

int sp_ledger_put_cert(struct sp_ledger *l, const struct sp_cert *c, struct sp_refusal *why)
{
  if (why)
    memset(why, 0, sizeof(*why));
  staged_drop(l);
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, false);
  if (rc)
    return rc;
  uint8_t hash[SP_HASH_LEN];
  rc = block_hash_at(&w, c->height, hash);
  if (rc == SP_LE_OK)
    rc = check_commit(l, c, c->height, hash, why);
  if (rc == SP_LE_OK) {
    put_cert(&w, c);
    rc = wctx_commit(&w);
    return rc == MDB_MAP_FULL ? SP_LE_STORE : rc;
  }
  wctx_abort(&w);
  return rc;
}

/* ====================================================== mempool check */

/* The rules of one transaction against the state of w (a read-only txn
 * whose writes are dropped: the rules decide before they write, proposing
 * relies on it too and notices if not, so the verdict is the same, and a
 * check may run on any thread, beside the writer). */
static int check_in(struct sp_ledger *l, struct wctx *w, const struct sp_tip *tip,
                    const struct sp_tx *tx, const uint8_t txid[SP_HASH_LEN], uint64_t time_ms,
                    struct sp_refusal *why)
{
  if (why)
    memset(why, 0, sizeof(*why));
  if (tx->body == NULL)
    return SP_LE_INVAL; /* only decoded transactions carry their signed bytes */
  w->rc = 0;
  w->writes = 0;
  struct tx_ctx c = {&l->g, time_ms, tip->height + 1, 0, txid};
  int rc = rules_apply(w, &c, tx, why);
  if (why)
    why->height = tip->height + 1; /* what it was checked for */
  return rc;
}

static int check_tx(struct sp_ledger *l, const struct sp_tx *tx, uint64_t time_ms,
                    bool verify_sig, struct sp_refusal *why)
{
  if (why)
    memset(why, 0, sizeof(*why));
  if (tx->body == NULL)
    return SP_LE_INVAL;
  if (verify_sig && sp_ledger_verify_tx(l, tx) != SP_LE_OK)
    return refuse(why, SP_R_BAD_SIGNATURE, "signature does not verify for this chain");
  uint8_t txid[SP_HASH_LEN];
  sp_tx_id(tx, l->chain_id, txid);
  struct sp_tx_check one = {.tx = tx, .txid = txid};
  int rc = sp_ledger_check_txs_verified(l, &one, 1, time_ms);
  if (rc)
    return rc;
  if (why)
    *why = one.why;
  return one.rc;
}

int sp_ledger_check_txs_verified(struct sp_ledger *l, struct sp_tx_check *v, size_t n,
                                 uint64_t time_ms)
{
  struct sp_tip tip;
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, true);
  if (rc)
    return rc;
  w.dry = true;
  if ((rc = tip_read(&w, &tip)) == SP_LE_OK)
    for (size_t i = 0; i < n; i++)
      v[i].rc = check_in(l, &w, &tip, v[i].tx, v[i].txid, time_ms, &v[i].why);
  wctx_abort(&w);
  return rc;
}

int sp_ledger_check_tx(struct sp_ledger *l, const struct sp_tx *tx, uint64_t time_ms,
                       struct sp_refusal *why)
{
  return check_tx(l, tx, time_ms, true, why);
}

int sp_ledger_check_tx_verified(struct sp_ledger *l, const struct sp_tx *tx, uint64_t time_ms,
                                struct sp_refusal *why)
{
  return check_tx(l, tx, time_ms, false, why);
}

/* ============================================================ proposing */

/* Candidates are checked lazily, a window at a time (as many as the block
 * still has room for): a mempool of 20,000 must not cost 20,000 signature
 * checks, let alone hashes, for a block of 1,000. */
struct candjob {
  struct sp_ledger *l;
  const struct sp_tx *cands;
  const uint8_t (*known_leaves)[SP_HASH_LEN]; /* sp_ledger_propose_hashed */
  const uint8_t (*known_txids)[SP_HASH_LEN];
  uint8_t (*leaves)[SP_HASH_LEN];
  uint8_t (*txids)[SP_HASH_LEN];
  size_t *len;   /* encoded length */
  int8_t *state; /* 0 not looked at, 1 signature holds, -1 it does not,
                  * -2 not decoded or does not encode */
  size_t from;
};

static void check_cand(size_t k, void *arg)
{
  struct candjob *j = arg;
  size_t i = j->from + k;
  const struct sp_tx *tx = &j->cands[i];
  if (j->known_leaves && tx->body && tx->raw) {
    /* the caller's word: leaf and id of exactly these (decoded) bytes */
    memcpy(j->leaves[i], j->known_leaves[i], SP_HASH_LEN);
    j->len[i] = tx->raw_len;
  } else if (j->known_leaves || tx->body == NULL || !tx_leaf(tx, j->leaves[i], &j->len[i])) {
    j->state[i] = -2;
    return;
  }
  j->state[i] = sig_ok(j->l, tx, j->leaves[i]) ? 1 : -1;
  if (j->state[i] > 0 && j->known_txids)
    memcpy(j->txids[i], j->known_txids[i], SP_HASH_LEN);
  else if (j->state[i] > 0)
    sp_tx_id(tx, j->l->chain_id, j->txids[i]);
}

/* Try one candidate so that a refusal leaves no trace (nor in the digest
 * log). Most refusals come before the rule code writes anything: then the
 * candidate ran in the proposal's own transaction and nothing needs undoing
 * (*dirty stays false). A refusal after a write sets *dirty: the caller
 * starts over in careful mode, where each candidate runs in a nested
 * transaction (LMDB's nested commits cost O(dirty pages) each, far too
 * much to pay for every candidate of a big block). */
enum { DIRTY_REFUSAL = 1 }; /* propose_once: start over, carefully */

static int try_candidate(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                         bool careful, bool *dirty, struct sp_refusal *why)
{
  if (!careful) {
    unsigned long before = w->writes;
    int rc = rules_apply(w, c, tx, why);
    if (rc == SP_LE_REFUSED && w->writes != before)
      *dirty = true;
    return rc;
  }
  MDB_txn *parent = w->txn, *child;
  int rc = mdb_txn_begin(w->s->env, parent, 0, &child);
  if (rc)
    return store_err(rc);
  crypto_generichash_state saved = w->changes;
  w->txn = child;
  rc = rules_apply(w, c, tx, why);
  w->txn = parent;
  if (rc) {
    mdb_txn_abort(child);
    w->changes = saved;
    if (rc == SP_LE_REFUSED)
      w->rc = 0;
    return rc;
  }
  rc = mdb_txn_commit(child);
  return rc == MDB_MAP_FULL ? MDB_MAP_FULL : store_err(rc);
}

struct proposal_state {
  struct sp_block blk;
  const uint8_t (*known_leaves)[SP_HASH_LEN]; /* of the candidates, or NULL */
  const uint8_t (*known_txids)[SP_HASH_LEN];
  uint8_t (*leaves)[SP_HASH_LEN];     /* of the block's transactions */
  uint8_t (*cand_leaves)[SP_HASH_LEN]; /* of every candidate looked at */
  uint8_t (*txids)[SP_HASH_LEN];
  size_t *len;
  int8_t *state;
  struct sp_buf enc;
};

static void proposal_free(struct proposal_state *ps)
{
  free(ps->blk.txs);
  free(ps->leaves);
  free(ps->cand_leaves);
  free(ps->txids);
  free(ps->state);
  free(ps->len);
  sp_buf_free(&ps->enc);
}

/* Bytes the block takes without transactions (header with its last
 * commit), plus room for the tx count and list header to grow. */
static size_t block_overhead(struct proposal_state *ps)
{
  ps->blk.n_txs = 0;
  ps->blk.header.tx_count = 0;
  sp_buf_reset(&ps->enc);
  if (sp_block_encode(&ps->blk, &ps->enc) != SP_OK)
    return SIZE_MAX;
  return ps->enc.len + 16;
}

/* Signatures of the candidates from i on, as many as the block has room
 * for, on the pool. */
static void check_window(struct sp_ledger *l, struct proposal_state *ps,
                         const struct sp_tx *cands, size_t n, size_t i)
{
  size_t room = l->g.params.max_block_txs - ps->blk.n_txs;
  size_t end = i + (room ? room : 1);
  if (end > n)
    end = n;
  struct candjob job = {.l = l,
                        .cands = cands,
                        .known_leaves = ps->known_leaves,
                        .known_txids = ps->known_txids,
                        .leaves = ps->cand_leaves,
                        .txids = ps->txids,
                        .len = ps->len,
                        .state = ps->state,
                        .from = i};
  pool_run(l->pool, end - i, check_cand, &job);
}

static int propose_once(struct sp_ledger *l, struct proposal_state *ps,
                        const struct sp_tx *cands, size_t n, const struct sp_tip *tip,
                        bool careful, struct wctx *keep, bool *accepted,
                        struct sp_refusal *refusals)
{
  struct sp_header *h = &ps->blk.header;
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, false);
  if (rc)
    return rc;
  /* a careful candidate writes into a nested txn that a refusal aborts:
   * no record of it may stay behind in the cache of w */
  w.no_cache = careful;
  size_t bytes = block_overhead(ps);
  if (bytes == SIZE_MAX) {
    wctx_abort(&w);
    return SP_LE_INVAL;
  }
  ps->blk.n_txs = 0;
  for (size_t i = 0; i < n; i++) {
    struct sp_refusal *why = refusals ? &refusals[i] : NULL;
    if (why)
      memset(why, 0, sizeof(*why));
    accepted[i] = false;
    if (ps->blk.n_txs == l->g.params.max_block_txs)
      continue; /* full: the rest waits for the next block */
    if (ps->state[i] == 0)
      check_window(l, ps, cands, n, i);
    if (ps->state[i] < 0) {
      if (ps->state[i] == -2)
        refuse(why, SP_R_MALFORMED, "transaction does not encode, or was not decoded");
      else
        refuse(why, SP_R_BAD_SIGNATURE, "signature does not verify for this chain");
      continue;
    }
    if (bytes + ps->len[i] > l->g.params.max_block_bytes)
      continue; /* does not fit: leave it for the next block */
    struct tx_ctx c = {&l->g, h->time_ms, h->height, ps->blk.n_txs, ps->txids[i]};
    bool dirty = false;
    rc = try_candidate(&w, &c, &cands[i], careful, &dirty, why);
    if (dirty) {
      rc = DIRTY_REFUSAL;
      goto out;
    }
    if (rc == SP_LE_REFUSED)
      continue;
    if (rc)
      goto out;
    memcpy(ps->leaves[ps->blk.n_txs], ps->cand_leaves[i], SP_HASH_LEN);
    ps->blk.txs[ps->blk.n_txs++] = cands[i];
    bytes += ps->len[i];
    accepted[i] = true;
  }
  if ((rc = rules_check_conservation(&w, NULL)))
    goto out;
  digest_next(l, &w, tip->state_digest, h->state_digest);
  h->tx_count = ps->blk.n_txs;
  sp_merkle_root(h->tx_root, (const uint8_t(*)[SP_HASH_LEN])ps->leaves, ps->blk.n_txs);
  rc = w.rc;
  if (rc == SP_LE_OK) {
    *keep = w; /* the caller stages it, or aborts it */
    return rc;
  }
out:
  wctx_abort(&w);
  return rc;
}

int sp_ledger_propose(struct sp_ledger *l, const struct sp_tx *cands, size_t n,
                      uint64_t time_ms, const uint8_t proposer[static SP_PK_LEN],
                      const struct sp_cert *last_commit, struct sp_buf *block_out,
                      bool *accepted, struct sp_refusal *refusals)
{
  return sp_ledger_propose_hashed(l, cands, NULL, NULL, n, time_ms, proposer, last_commit,
                                  block_out, accepted, refusals);
}

int sp_ledger_propose_hashed(struct sp_ledger *l, const struct sp_tx *cands,
                             const uint8_t (*leaves)[SP_HASH_LEN],
                             const uint8_t (*txids)[SP_HASH_LEN], size_t n, uint64_t time_ms,
                             const uint8_t proposer[static SP_PK_LEN],
                             const struct sp_cert *last_commit, struct sp_buf *block_out,
                             bool *accepted, struct sp_refusal *refusals)
{
  if ((leaves == NULL) != (txids == NULL))
    return SP_LE_INVAL;
  staged_drop(l);
  struct sp_tip tip;
  int rc = sp_ledger_tip(l, &tip);
  if (rc)
    return rc;
  if ((last_commit != NULL) != (tip.height > 0))
    return SP_LE_INVAL;
  struct proposal_state ps;
  memset(&ps, 0, sizeof(ps));
  ps.known_leaves = leaves;
  ps.known_txids = txids;
  sp_buf_init(&ps.enc, SP_MAX_TX_BYTES);
  size_t cap = n ? n : 1;
  ps.blk.txs = calloc(cap, sizeof(*ps.blk.txs));
  ps.leaves = calloc(cap, SP_HASH_LEN);
  ps.cand_leaves = calloc(cap, SP_HASH_LEN);
  ps.txids = calloc(cap, SP_HASH_LEN);
  ps.state = calloc(cap, sizeof(*ps.state));
  ps.len = calloc(cap, sizeof(*ps.len));
  if (!ps.blk.txs || !ps.leaves || !ps.cand_leaves || !ps.txids || !ps.state || !ps.len) {
    rc = SP_LE_NOMEM;
    goto out;
  }

  struct sp_header *h = &ps.blk.header;
  memcpy(h->chain_id, l->chain_id, SP_HASH_LEN);
  h->height = tip.height + 1;
  memcpy(h->prev, tip.hash, SP_HASH_LEN);
  /* block time must advance even if the proposer's clock lags */
  h->time_ms = time_ms > tip.time_ms ? time_ms : tip.time_ms + 1;
  memcpy(h->proposer, proposer, SP_PK_LEN);
  if (last_commit) {
    ps.blk.has_last_commit = true;
    ps.blk.last_commit = *last_commit;
    if ((rc = sp_cert_hash(last_commit, h->last_commit_hash)))
      goto out;
  }
  bool careful = false;
  struct wctx w;
  for (int attempt = 0;; attempt++) {
    rc = propose_once(l, &ps, cands, n, &tip, careful, &w, accepted, refusals);
    if (rc == DIRTY_REFUSAL && !careful) {
      careful = true; /* a rule refused after writing: undo per candidate */
      continue;
    }
    if (!grown_for_retry(l, &rc, attempt))
      break;
  }
  if (rc == SP_LE_OK) {
    /* the block, written in the txn that ran its rules, is staged: if it
     * is decided, sp_ledger_apply just adds the certificate and commits */
    size_t at = block_out->len;
    rc = sp_block_encode(&ps.blk, block_out) ? SP_LE_INVAL : SP_LE_OK;
    uint8_t hash[SP_HASH_LEN];
    if (rc == SP_LE_OK && sp_header_hash(h, hash) == SP_OK) {
      struct sp_tip next = {.height = h->height, .time_ms = h->time_ms};
      memcpy(next.hash, hash, SP_HASH_LEN);
      memcpy(next.state_digest, h->state_digest, SP_HASH_LEN);
      put_block(&w, h->height, block_out->data + at, block_out->len - at, hash,
                last_commit, &next);
      if (w.rc == SP_LE_OK) {
        stage(l, &w, h->height, hash, block_out->data + at, block_out->len - at);
        goto out;
      }
    }
    wctx_abort(&w);
  }
out:
  ps.blk.n_txs = 0; /* the txs are the caller's; only the array is ours */
  proposal_free(&ps);
  return rc;
}
