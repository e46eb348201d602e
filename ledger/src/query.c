/* Read-only queries. Each runs in its own LMDB read transaction, so it sees
 * one consistent state even while blocks are being applied. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ledger_int.h"
#include "sp/crypto.h"
#include "sp/error.h"
#include "sp/merkle.h"
#include "sp/msg.h"

static void fund_info(const struct fund *f, struct sp_fund_info *o)
{
  memset(o, 0, sizeof(*o));
  memcpy(o->id, f->id, sizeof(o->id));
  memcpy(o->name, f->name, sizeof(o->name));
  o->n_categories = f->n_cats;
  memcpy(o->categories, f->cats, sizeof(o->categories));
  o->valid_from_ms = f->valid_from;
  o->valid_until_ms = f->valid_until;
  o->max_payment = f->max_payment;
  o->closed = f->closed;
  o->deposited = f->deposited;
  o->unissued = f->unissued;
  o->passes = f->passes;
  o->receivable = f->receivable;
  o->claimed = f->claimed;
  o->settled = f->settled;
  o->returned = f->returned;
  o->issued = f->issued;
  o->spent = f->spent;
  o->refunded = f->refunded;
}

int sp_ledger_fund(struct sp_ledger *l, const char *id, struct sp_fund_info *out)
{
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, true);
  if (rc)
    return rc;
  struct fund f;
  size_t n = strlen(id);
  rc = n > SP_MAX_ID ? SP_LE_NOTFOUND : fund_get(&w, id, n, &f);
  if (rc == SP_LE_OK)
    fund_info(&f, out);
  wctx_abort(&w);
  return rc;
}

int sp_ledger_funds(struct sp_ledger *l, int (*fn)(const struct sp_fund_info *, void *),
                    void *arg)
{
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, true);
  if (rc)
    return rc;
  MDB_cursor *cur;
  if ((rc = mdb_cursor_open(w.txn, l->st.dbi[DB_FUNDS], &cur))) {
    wctx_abort(&w);
    return store_err(rc);
  }
  MDB_val k, v;
  int out = SP_LE_OK;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    struct fund f;
    struct sp_fund_info fi;
    if (k.mv_size > SP_MAX_ID || (out = fund_get(&w, k.mv_data, k.mv_size, &f))) {
      out = out ? out : SP_LE_CORRUPT;
      break;
    }
    fund_info(&f, &fi);
    if (fn(&fi, arg))
      break;
  }
  mdb_cursor_close(cur);
  wctx_abort(&w);
  return out;
}

int sp_ledger_fund_spending(struct sp_ledger *l, const char *id,
                            int (*fn)(const char *cat, uint64_t cents, void *arg), void *arg)
{
  size_t idn = strlen(id);
  if (idn > SP_MAX_ID)
    return SP_LE_NOTFOUND;
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, true);
  if (rc)
    return rc;
  struct fund f;
  if ((rc = fund_get(&w, id, idn, &f))) {
    wctx_abort(&w);
    return rc;
  }
  MDB_cursor *cur;
  if ((rc = mdb_cursor_open(w.txn, l->st.dbi[DB_FUNDCAT], &cur))) {
    wctx_abort(&w);
    return store_err(rc);
  }
  uint8_t prefix[SP_MAX_ID + 1];
  memcpy(prefix, id, idn);
  prefix[idn] = 0;
  MDB_val k = {idn + 1, prefix}, v;
  int out = SP_LE_OK;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
       rc == 0 && k.mv_size > idn + 1 && memcmp(k.mv_data, prefix, idn + 1) == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    char cat[SP_MAX_ID + 1];
    size_t cn = k.mv_size - idn - 1;
    if (cn > SP_MAX_ID || v.mv_size != 8) {
      out = SP_LE_CORRUPT;
      break;
    }
    memcpy(cat, (const char *)k.mv_data + idn + 1, cn);
    cat[cn] = 0;
    if (fn(cat, be64_get(v.mv_data), arg))
      break;
  }
  mdb_cursor_close(cur);
  wctx_abort(&w);
  return out;
}

int sp_ledger_account(struct sp_ledger *l, const uint8_t pk[static SP_PK_LEN],
                      struct sp_account_info *out)
{
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, true);
  if (rc)
    return rc;
  struct acct a;
  if ((rc = acct_get(&w, pk, &a)))
    goto done;
  memset(out, 0, sizeof(*out));
  memcpy(out->pk, pk, SP_PK_LEN);
  out->kind = a.kind;
  out->status = a.status;
  out->seq = a.seq;
  memcpy(out->name, a.name, sizeof(out->name));
  out->n_categories = a.n_cats;
  memcpy(out->categories, a.cats, sizeof(out->categories));
  memcpy(out->household, a.household, SP_HASH_LEN);
  out->has_replacement = a.has_replacement;
  memcpy(out->replaced_by, a.replaced_by, SP_PK_LEN);

  MDB_cursor *cur;
  if ((rc = mdb_cursor_open(w.txn, l->st.dbi[DB_BALANCES], &cur))) {
    rc = store_err(rc);
    goto done;
  }
  MDB_val k = {SP_PK_LEN, (void *)pk}, v;
  int mrc;
  for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
       mrc == 0 && k.mv_size > SP_PK_LEN && memcmp(k.mv_data, pk, SP_PK_LEN) == 0 &&
       out->n_rows < SP_MAX_BALANCES;
       mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    size_t fn = k.mv_size - SP_PK_LEN;
    if (fn > SP_MAX_ID || v.mv_size != 8) {
      rc = SP_LE_CORRUPT;
      break;
    }
    memcpy(out->rows[out->n_rows].fund, (const char *)k.mv_data + SP_PK_LEN, fn);
    out->rows[out->n_rows].fund[fn] = 0;
    out->rows[out->n_rows++].amount = be64_get(v.mv_data);
  }
  mdb_cursor_close(cur);
done:
  wctx_abort(&w);
  return rc;
}

/* (height, index) as one number that orders like the position: the
 * history cursor is this plus 1 (index < SP_MAX_BLOCK_TXS < 2^24). */
static uint64_t pos_num(const uint8_t pos[POS_LEN])
{
  return be64_get(pos) << 24 | be32_get(pos + 8);
}

/* The row of pk at pos: its link to pk's previous row. */
static int history_row(struct wctx *w, const uint8_t pk[SP_PK_LEN], const uint8_t pos[POS_LEN],
                       uint8_t prev[POS_LEN])
{
  uint8_t k[POS_LEN + SP_PK_LEN];
  memcpy(k, pos, POS_LEN);
  memcpy(k + POS_LEN, pk, SP_PK_LEN);
  MDB_val v;
  int rc = st_get(w, DB_HISTORY, k, sizeof(k), &v);
  if (rc)
    return rc;
  if (v.mv_size != POS_LEN)
    return SP_LE_CORRUPT;
  memcpy(prev, v.mv_data, POS_LEN);
  return SP_LE_OK;
}

/* The key's newest row below the cursor `before` (0: its newest row), in
 * pos; *found false when there is none. The cursors this ledger hands out
 * name a row of the key, found in one look-up; any other value is served
 * by walking back from the newest row. */
static int history_start(struct wctx *w, const uint8_t pk[SP_PK_LEN], uint64_t before,
                         uint8_t pos[POS_LEN], bool *found)
{
  uint8_t prev[POS_LEN];
  *found = false;
  if (before > 0) {
    uint64_t at = before - 1;
    pos_put(pos, at >> 24, (uint32_t)(at & 0xffffff));
    int rc = history_row(w, pk, pos, prev);
    if (rc != SP_LE_NOTFOUND) {
      *found = rc == SP_LE_OK;
      return rc;
    }
  }
  MDB_val v;
  int rc = st_get(w, DB_HISTHEAD, pk, SP_PK_LEN, &v);
  if (rc)
    return rc == SP_LE_NOTFOUND ? SP_LE_OK : rc;
  if (v.mv_size != POS_LEN)
    return SP_LE_CORRUPT;
  memcpy(pos, v.mv_data, POS_LEN);
  static const uint8_t none[POS_LEN];
  while (before > 0 && pos_num(pos) >= before) {
    if ((rc = history_row(w, pk, pos, prev)))
      return rc == SP_LE_NOTFOUND ? SP_LE_CORRUPT : rc;
    if (memcmp(prev, none, POS_LEN) == 0)
      return SP_LE_OK;
    if (memcmp(prev, pos, POS_LEN) >= 0)
      return SP_LE_CORRUPT; /* links only go back */
    memcpy(pos, prev, POS_LEN);
  }
  *found = true;
  return SP_LE_OK;
}

/* History cursor = (height << 24 | index) + 1 of the newest row not yet
 * returned (docs/protocol.md 10.4). The rows of a key form a chain from
 * its head (histhead) back through each row's link. */
int sp_ledger_history(struct sp_ledger *l, const uint8_t pk[static SP_PK_LEN],
                      uint64_t before, uint32_t limit,
                      int (*fn)(uint64_t, uint32_t, uint64_t, const uint8_t *, size_t, void *),
                      void *arg, uint64_t *next)
{
  *next = 0;
  if (limit == 0 || limit > SP_MAX_HISTORY)
    return SP_LE_INVAL;
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, true);
  if (rc)
    return rc;
  uint8_t pos[POS_LEN], prev[POS_LEN];
  static const uint8_t none[POS_LEN];
  bool more;
  rc = history_start(&w, pk, before, pos, &more);
  uint32_t got = 0;
  struct sp_block blk;
  memset(&blk, 0, sizeof(blk));
  uint64_t blk_height = 0;
  for (; rc == SP_LE_OK && more; memcpy(pos, prev, POS_LEN)) {
    uint64_t h = be64_get(pos);
    uint32_t idx = be32_get(pos + 8);
    if (got == limit) {
      *next = pos_num(pos) + 1;
      break;
    }
    if ((rc = history_row(&w, pk, pos, prev))) {
      rc = rc == SP_LE_NOTFOUND ? SP_LE_CORRUPT : rc;
      break;
    }
    more = memcmp(prev, none, POS_LEN) != 0;
    if (more && memcmp(prev, pos, POS_LEN) >= 0) {
      rc = SP_LE_CORRUPT; /* links only go back */
      break;
    }
    if (h != blk_height) {
      uint8_t hk[8];
      MDB_val bv;
      be64_put(hk, h);
      sp_block_clear(&blk);
      blk_height = 0;
      if (st_get(&w, DB_BLOCKS, hk, 8, &bv) || sp_block_decode(bv.mv_data, bv.mv_size, &blk)) {
        rc = SP_LE_CORRUPT;
        break;
      }
      blk_height = h;
    }
    if (idx >= blk.n_txs) {
      rc = SP_LE_CORRUPT;
      break;
    }
    got++;
    if (fn(h, idx, blk.header.time_ms, blk.txs[idx].raw, blk.txs[idx].raw_len, arg))
      break;
  }
  sp_block_clear(&blk);
  wctx_abort(&w);
  return rc;
}

int sp_ledger_find_tx(struct sp_ledger *l, const uint8_t txid[static SP_HASH_LEN],
                      struct sp_tx_location *loc)
{
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, true);
  if (rc)
    return rc;
  MDB_val v;
  rc = st_get(&w, DB_TXS, txid, SP_HASH_LEN, &v);
  if (rc == SP_LE_OK) {
    if (v.mv_size != 12) {
      rc = SP_LE_CORRUPT;
    } else {
      loc->height = be64_get(v.mv_data);
      loc->index = be32_get((const uint8_t *)v.mv_data + 8);
    }
  }
  wctx_abort(&w);
  return rc;
}

void sp_tx_proof_init(struct sp_tx_proof *p)
{
  memset(p, 0, sizeof(*p));
  sp_buf_init(&p->tx, SP_MAX_TX_BYTES);
  sp_buf_init(&p->header, 1024);
}

void sp_tx_proof_free(struct sp_tx_proof *p)
{
  if (p == NULL)
    return;
  sp_buf_free(&p->tx);
  sp_buf_free(&p->header);
}

static int read_cert(struct wctx *w, uint64_t height, struct sp_cert *c, bool *has)
{
  uint8_t k[8];
  be64_put(k, height);
  MDB_val v;
  int rc = st_get(w, DB_CERTS, k, 8, &v);
  *has = false;
  if (rc == SP_LE_NOTFOUND)
    return SP_LE_OK;
  if (rc)
    return rc;
  if (sp_cert_decode(v.mv_data, v.mv_size, c))
    return SP_LE_CORRUPT;
  *has = true;
  return SP_LE_OK;
}

int sp_ledger_tx_proof(struct sp_ledger *l, const uint8_t txid[static SP_HASH_LEN],
                       struct sp_tx_proof *out)
{
  int rc = sp_ledger_find_tx(l, txid, &out->loc);
  if (rc)
    return rc;
  struct wctx w;
  if ((rc = wctx_begin(&w, &l->st, true)))
    return rc;
  struct sp_block blk;
  memset(&blk, 0, sizeof(blk));
  uint8_t k[8];
  be64_put(k, out->loc.height);
  MDB_val v;
  uint8_t(*leaves)[SP_HASH_LEN] = NULL;
  if ((rc = st_get(&w, DB_BLOCKS, k, 8, &v)))
    goto done;
  if (sp_block_decode(v.mv_data, v.mv_size, &blk) || out->loc.index >= blk.n_txs) {
    rc = SP_LE_CORRUPT;
    goto done;
  }
  if ((leaves = malloc((size_t)blk.n_txs * SP_HASH_LEN)) == NULL) {
    rc = SP_LE_NOMEM;
    goto done;
  }
  for (uint32_t i = 0; i < blk.n_txs; i++)
    sp_merkle_leaf(leaves[i], blk.txs[i].raw, blk.txs[i].raw_len);
  out->tx_count = blk.n_txs;
  if ((rc = sp_merkle_path(out->path, &out->n_path, (const uint8_t(*)[SP_HASH_LEN])leaves,
                           blk.n_txs, out->loc.index))) {
    rc = SP_LE_CORRUPT;
    goto done;
  }
  const struct sp_tx *tx = &blk.txs[out->loc.index];
  sp_buf_append(&out->tx, tx->raw, tx->raw_len);
  sp_buf_append(&out->header, blk.header.raw, blk.header.raw_len);
  if (out->tx.err || out->header.err) {
    rc = SP_LE_NOMEM;
    goto done;
  }
  rc = read_cert(&w, out->loc.height, &out->cert, &out->has_cert);
done:
  free(leaves);
  sp_block_clear(&blk);
  wctx_abort(&w);
  return rc;
}

int sp_tx_proof_verify(const struct sp_tx_proof *p, const struct sp_genesis *g,
                       const uint8_t chain_id[static SP_HASH_LEN], struct sp_refusal *why)
{
  if (why)
    memset(why, 0, sizeof(*why));
  struct sp_header h;
  struct sp_tx tx;
  if (sp_header_decode(p->header.data, p->header.len, &h))
    return refuse(why, SP_R_MALFORMED, "the block header does not decode");
  if (why)
    why->height = h.height;
  if (memcmp(h.chain_id, chain_id, SP_HASH_LEN) != 0)
    return refuse(why, SP_R_BLOCK_WRONG_CHAIN, "the block belongs to another chain");
  if (h.height != p->loc.height || p->loc.index >= h.tx_count)
    return refuse(why, SP_R_MALFORMED, "the receipt's position does not match its block");
  if (sp_tx_decode(p->tx.data, p->tx.len, &tx))
    return refuse(why, SP_R_MALFORMED, "the transaction does not decode");
  int rc = sp_tx_verify(&tx, chain_id);
  sp_tx_clear(&tx);
  if (rc)
    return refuse(why, SP_R_BAD_SIGNATURE, "the transaction's signature does not verify");
  uint8_t leaf[SP_HASH_LEN];
  sp_merkle_leaf(leaf, p->tx.data, p->tx.len);
  if (sp_merkle_verify(leaf, p->loc.index, h.tx_count,
                       (const uint8_t(*)[SP_HASH_LEN])p->path, p->n_path, h.tx_root))
    return refuse(why, SP_R_BLOCK_TX_ROOT, "the transaction is not in the block (Merkle path)");
  if (!p->has_cert)
    return refuse(why, SP_R_BLOCK_CERT, "the receipt has no commit certificate");
  uint8_t hash[SP_HASH_LEN];
  sp_header_hash(&h, hash);
  if (p->cert.height != h.height || memcmp(p->cert.block, hash, SP_HASH_LEN) != 0)
    return refuse(why, SP_R_BLOCK_CERT, "the certificate is for another block");
  if ((rc = sp_cert_verify(&p->cert, g, chain_id)))
    return refuse(why, SP_R_BLOCK_CERT, "the certificate does not verify: %s",
                  sp_strerror(rc));
  return SP_LE_OK;
}

int sp_ledger_block(struct sp_ledger *l, uint64_t height, struct sp_buf *out,
                    struct sp_cert *cert, bool *has_cert)
{
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, true);
  if (rc)
    return rc;
  uint8_t k[8];
  be64_put(k, height);
  MDB_val v;
  if ((rc = st_get(&w, DB_BLOCKS, k, 8, &v)) == SP_LE_OK) {
    sp_buf_append(out, v.mv_data, v.mv_size);
    rc = out->err ? SP_LE_NOMEM : read_cert(&w, height, cert, has_cert);
  }
  wctx_abort(&w);
  return rc;
}

int sp_ledger_block_height(struct sp_ledger *l, const uint8_t hash[static SP_HASH_LEN],
                           uint64_t *height)
{
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, true);
  if (rc)
    return rc;
  MDB_val v;
  if ((rc = st_get(&w, DB_HASHES, hash, SP_HASH_LEN, &v)) == SP_LE_OK)
    rc = v.mv_size == 8 ? (*height = be64_get(v.mv_data), SP_LE_OK) : SP_LE_CORRUPT;
  wctx_abort(&w);
  return rc;
}

/* ------------------------------------------------------ block-hash log */

/* Leaf hashes of blocks 1..size. The log is rebuilt from the block headers
 * on each call: O(size) hashing, fine for auditors' occasional checks. */
static int log_leaves(struct sp_ledger *l, uint64_t size, uint8_t (**out)[SP_HASH_LEN])
{
  struct sp_tip tip;
  int rc = sp_ledger_tip(l, &tip);
  if (rc)
    return rc;
  if (size == 0 || size > tip.height)
    return SP_LE_NOTFOUND;
  uint8_t(*leaves)[SP_HASH_LEN] = malloc((size_t)size * SP_HASH_LEN);
  if (leaves == NULL)
    return SP_LE_NOMEM;
  struct wctx w;
  if ((rc = wctx_begin(&w, &l->st, true))) {
    free(leaves);
    return rc;
  }
  for (uint64_t h = 1; rc == SP_LE_OK && h <= size; h++) {
    uint8_t hash[SP_HASH_LEN];
    if ((rc = block_hash_at(&w, h, hash)) == SP_LE_OK)
      sp_merkle_leaf(leaves[h - 1], hash, SP_HASH_LEN);
  }
  wctx_abort(&w);
  if (rc) {
    free(leaves);
    return rc == SP_LE_NOTFOUND ? SP_LE_CORRUPT : rc;
  }
  *out = leaves;
  return SP_LE_OK;
}

int sp_ledger_log_root(struct sp_ledger *l, uint64_t size, uint8_t out[static SP_HASH_LEN])
{
  uint8_t(*leaves)[SP_HASH_LEN];
  int rc = log_leaves(l, size, &leaves);
  if (rc)
    return rc;
  sp_merkle_root(out, (const uint8_t(*)[SP_HASH_LEN])leaves, size);
  free(leaves);
  return SP_LE_OK;
}

int sp_ledger_log_inclusion(struct sp_ledger *l, uint64_t height, uint64_t size,
                            uint8_t (*path)[SP_HASH_LEN], size_t *len)
{
  if (height == 0 || height > size)
    return SP_LE_INVAL;
  uint8_t(*leaves)[SP_HASH_LEN];
  int rc = log_leaves(l, size, &leaves);
  if (rc)
    return rc;
  rc = sp_merkle_path(path, len, (const uint8_t(*)[SP_HASH_LEN])leaves, size, height - 1);
  free(leaves);
  return rc ? SP_LE_INVAL : SP_LE_OK;
}

int sp_ledger_log_consistency(struct sp_ledger *l, uint64_t old_size, uint64_t new_size,
                              uint8_t (*path)[SP_HASH_LEN], size_t *len)
{
  if (old_size == 0 || old_size > new_size)
    return SP_LE_INVAL;
  uint8_t(*leaves)[SP_HASH_LEN];
  int rc = log_leaves(l, new_size, &leaves);
  if (rc)
    return rc;
  rc = sp_merkle_consistency(path, len, (const uint8_t(*)[SP_HASH_LEN])leaves, old_size,
                             new_size);
  free(leaves);
  return rc ? SP_LE_INVAL : SP_LE_OK;
}

int sp_ledger_backup(struct sp_ledger *l, const char *dir)
{
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return SP_LE_IO;
  /* a consistent snapshot from a read transaction; writers keep going.
   * The copy's transaction is LMDB's own, so hold off map growth for it. */
  pthread_rwlock_rdlock(&l->st.resize);
  int rc = mdb_env_copy2(l->st.env, dir, MDB_CP_COMPACT);
  pthread_rwlock_unlock(&l->st.resize);
  return rc ? store_err(rc) : SP_LE_OK;
}
