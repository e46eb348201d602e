/* Full-chain verification: replay every stored block into a fresh store and
 * compare. Nothing of the audited store is trusted except its bytes. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger_int.h"
#include "sp/error.h"
#include "sp/msg.h"

static void remove_store(const char *dir)
{
  char p[4096 + 16]; /* dir is at most 4096 bytes (see sp_ledger_verify) */
  snprintf(p, sizeof(p), "%s/data.mdb", dir);
  unlink(p);
  snprintf(p, sizeof(p), "%s/lock.mdb", dir);
  unlink(p);
  rmdir(dir);
}

static void bad(struct sp_verify_report *r, uint64_t height, int reason, const char *msg)
{
  r->ok = false;
  r->first_bad.reason = reason;
  r->first_bad.height = height;
  snprintf(r->first_bad.msg, sizeof(r->first_bad.msg), "%s", msg);
}

/* The height that last wrote a state key during the replay. */
static uint64_t last_writer(struct sp_ledger *scratch, int db, const MDB_val *k)
{
  uint8_t key[1 + 511];
  if (k->mv_size > sizeof(key) - 1)
    return 0;
  key[0] = (uint8_t)db;
  memcpy(key + 1, k->mv_data, k->mv_size);
  struct wctx w;
  if (wctx_begin(&w, &scratch->st, true))
    return 0;
  MDB_dbi lastw;
  uint64_t h = 0;
  MDB_val mk = {k->mv_size + 1, key}, mv;
  if (mdb_dbi_open(w.txn, "lastw", 0, &lastw) == 0 && mdb_get(w.txn, lastw, &mk, &mv) == 0 &&
      mv.mv_size == 8)
    h = be64_get(mv.mv_data);
  wctx_abort(&w);
  return h;
}

static const char *const table_names[] = {
    [DB_ACCOUNTS] = "account", [DB_BALANCES] = "balance", [DB_FUNDS] = "fund",
    [DB_FUNDCAT] = "fund spending", [DB_PAYMENTS] = "payment", [DB_CLAIMS] = "claim",
    [DB_ISSUANCE] = "issuance", [DB_HASHES] = "block-hash index", [DB_TXS] = "tx index",
    [DB_HISTORY] = "history", [DB_HISTHEAD] = "history head",
};

/* The tables compared after a replay: the state, and the indexes queries
 * answer from (a damaged index gives wrong receipts or histories, though
 * no state digest covers it). Blocks and certificates are what the replay
 * was fed, so they match by construction. */
static const int compared[] = {DB_ACCOUNTS, DB_BALANCES, DB_FUNDS,  DB_FUNDCAT,  DB_PAYMENTS,
                               DB_CLAIMS,   DB_ISSUANCE, DB_HASHES, DB_TXS,      DB_HISTORY,
                               DB_HISTHEAD};

/* The block an index record belongs to: its height is in the key (history)
 * or the value (the others); 0 if the record is too short to say. */
static uint64_t index_height(int db, const MDB_val *k, const MDB_val *v)
{
  if (db == DB_HISTORY)
    return k->mv_size >= 8 ? be64_get(k->mv_data) : 0;
  return v->mv_size >= 8 ? be64_get(v->mv_data) : 0;
}

static int key_cmp(const MDB_val *a, const MDB_val *b)
{
  size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
  int c = memcmp(a->mv_data, b->mv_data, n);
  if (c)
    return c;
  return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

static void key_hex(char *out, size_t cap, const MDB_val *k)
{
  const uint8_t *p = k->mv_data;
  size_t n = k->mv_size < 12 ? k->mv_size : 12;
  size_t off = 0;
  for (size_t i = 0; i < n && off + 3 < cap; i++)
    off += (size_t)snprintf(out + off, cap - off, "%02x", p[i]);
  if (k->mv_size > n && off + 3 < cap)
    snprintf(out + off, cap - off, "..");
}

/* Compare every state and index table of the audited store with the
 * replayed one, in key order. The first difference is reported with the
 * key and the block that last wrote it in the replay (state), or the block
 * the record belongs to (indexes); a state record only the audited store
 * has was written by no block: it is reported at the tip. */
static int compare_state(struct sp_ledger *l, struct sp_ledger *scratch, uint64_t tip,
                         struct sp_verify_report *r)
{
  struct wctx a, b;
  int rc = wctx_begin(&a, &l->st, true);
  if (rc)
    return rc;
  if ((rc = wctx_begin(&b, &scratch->st, true))) {
    wctx_abort(&a);
    return rc;
  }
  for (size_t t = 0; t < sizeof(compared) / sizeof(compared[0]) && r->ok && rc == SP_LE_OK;
       t++) {
    int db = compared[t];
    bool state = db >= DB_FIRST_STATE && db <= DB_LAST_STATE;
    MDB_cursor *ca, *cb;
    if (mdb_cursor_open(a.txn, l->st.dbi[db], &ca)) {
      rc = SP_LE_STORE;
      break;
    }
    if (mdb_cursor_open(b.txn, scratch->st.dbi[db], &cb)) {
      mdb_cursor_close(ca);
      rc = SP_LE_STORE;
      break;
    }
    MDB_val ka, va, kb, vb;
    int ra = mdb_cursor_get(ca, &ka, &va, MDB_FIRST);
    int rb = mdb_cursor_get(cb, &kb, &vb, MDB_FIRST);
    while (ra == 0 || rb == 0) {
      int order = ra ? 1 : rb ? -1 : key_cmp(&ka, &kb);
      const char *what = NULL;
      if (order < 0)
        what = "exists in the store but no block created it";
      else if (order > 0)
        what = "is missing from the store";
      else if (va.mv_size != vb.mv_size || memcmp(va.mv_data, vb.mv_data, va.mv_size))
        what = "differs from the replay of the chain";
      if (what) {
        const MDB_val *k = order < 0 ? &ka : &kb;
        uint64_t h = !state       ? index_height(db, k, order < 0 ? &va : &vb)
                     : order < 0 ? 0
                                 : last_writer(scratch, db, &kb);
        if (h > tip)
          h = 0; /* a damaged record may name any height */
        char hex[32], msg[240];
        key_hex(hex, sizeof(hex), k);
        snprintf(msg, sizeof(msg), "stored %s record %s %s (%s)", table_names[db], hex, what,
                 !h ? "reported at the tip"
                 : state ? "last written by this block"
                         : "of this block");
        bad(r, h ? h : tip, SP_R_STATE_MISMATCH, msg);
        break;
      }
      ra = mdb_cursor_get(ca, &ka, &va, MDB_NEXT);
      rb = mdb_cursor_get(cb, &kb, &vb, MDB_NEXT);
    }
    mdb_cursor_close(ca);
    mdb_cursor_close(cb);
  }
  wctx_abort(&a);
  wctx_abort(&b);
  return rc;
}

/* The auditor's recomputation from scratch: every fund's `passes` and
 * `receivable` totals must equal the sum of the individual balances. */
static int recount_balances(struct sp_ledger *l, uint64_t tip, struct sp_verify_report *r)
{
  struct wctx w;
  int rc = wctx_begin(&w, &l->st, true);
  if (rc)
    return rc;
  MDB_cursor *fc;
  if ((rc = mdb_cursor_open(w.txn, l->st.dbi[DB_FUNDS], &fc))) {
    wctx_abort(&w);
    return store_err(rc);
  }
  MDB_val fk, fv;
  int mrc;
  for (mrc = mdb_cursor_get(fc, &fk, &fv, MDB_FIRST); mrc == 0 && r->ok && rc == SP_LE_OK;
       mrc = mdb_cursor_get(fc, &fk, &fv, MDB_NEXT)) {
    struct fund f;
    if (fk.mv_size > SP_MAX_ID || (rc = fund_get(&w, fk.mv_data, fk.mv_size, &f))) {
      rc = rc ? rc : SP_LE_CORRUPT;
      break;
    }
    uint64_t passes = 0, recv = 0;
    MDB_cursor *bc;
    if ((rc = mdb_cursor_open(w.txn, l->st.dbi[DB_BALANCES], &bc))) {
      rc = store_err(rc);
      break;
    }
    MDB_val bk, bv;
    size_t idn = strlen(f.id);
    for (int b = mdb_cursor_get(bc, &bk, &bv, MDB_FIRST); b == 0 && rc == SP_LE_OK;
         b = mdb_cursor_get(bc, &bk, &bv, MDB_NEXT)) {
      if (bk.mv_size != SP_PK_LEN + idn || memcmp((uint8_t *)bk.mv_data + SP_PK_LEN, f.id, idn))
        continue;
      struct acct a;
      if (bv.mv_size != 8 || (rc = acct_get(&w, bk.mv_data, &a))) {
        rc = rc ? rc : SP_LE_CORRUPT;
        break;
      }
      if (a.kind == SP_ACCT_MERCHANT)
        recv += be64_get(bv.mv_data);
      else
        passes += be64_get(bv.mv_data);
    }
    mdb_cursor_close(bc);
    if (rc == SP_LE_OK && (passes != f.passes || recv != f.receivable)) {
      char msg[200];
      snprintf(msg, sizeof(msg),
               "fund '%s': the balances add up to other totals than the fund records", f.id);
      bad(r, tip, SP_R_CONSERVATION, msg);
    }
  }
  mdb_cursor_close(fc);
  wctx_abort(&w);
  return rc == SP_LE_CORRUPT ? (bad(r, tip, SP_R_STATE_MISMATCH, "a state record is damaged"),
                                SP_LE_OK)
                             : rc;
}

int sp_ledger_verify(struct sp_ledger *l, const char *scratch_dir,
                     struct sp_verify_report *r)
{
  memset(r, 0, sizeof(*r));
  r->ok = true;
  char dir[4096];
  int dn = snprintf(dir, sizeof(dir), "%s/sp-verify-XXXXXX", scratch_dir ? scratch_dir : "/tmp");
  if (dn < 0 || (size_t)dn >= sizeof(dir))
    return SP_LE_INVAL;
  if (mkdtemp(dir) == NULL)
    return SP_LE_IO;
  struct sp_ledger_opts o = {.no_sync = true};
  struct sp_ledger *s = NULL;
  int rc = sp_ledger_create(dir, l->genesis_bytes, l->genesis_len, &o);
  if (rc == SP_LE_OK)
    rc = sp_ledger_open(&s, dir, &o);
  if (rc)
    goto out;
  s->track_lastw = true;

  struct sp_tip tip;
  if ((rc = sp_ledger_tip(l, &tip)))
    goto out;
  struct sp_buf blk;
  sp_buf_init(&blk, SP_MAX_BLOCK_BYTES);
  bool tip_certified = false;
  for (uint64_t h = 1; h <= tip.height; h++) {
    struct sp_cert cert;
    bool has_cert = false;
    sp_buf_reset(&blk);
    rc = sp_ledger_block(l, h, &blk, &cert, &has_cert);
    if (rc == SP_LE_NOTFOUND) {
      bad(r, h, SP_R_BLOCK_MALFORMED, "block is missing from the store");
      rc = SP_LE_OK;
      break;
    }
    if (rc == SP_LE_CORRUPT) {
      bad(r, h, SP_R_BLOCK_CERT, "stored commit certificate does not decode");
      rc = SP_LE_OK;
      break;
    }
    if (rc)
      break;
    struct sp_refusal why;
    rc = sp_ledger_apply(s, blk.data, blk.len, has_cert ? &cert : NULL, &why);
    if (rc == SP_LE_REFUSED) {
      r->ok = false;
      r->first_bad = why;
      r->first_bad.height = h;
      rc = SP_LE_OK;
      break;
    }
    if (rc)
      break;
    struct sp_block decoded;
    if (sp_block_decode(blk.data, blk.len, &decoded) == SP_OK) {
      r->txs += decoded.n_txs;
      sp_block_clear(&decoded);
    }
    r->blocks = h;
    tip_certified = has_cert; /* verified by the apply above */
  }
  sp_buf_free(&blk);
  if (rc || !r->ok)
    goto out;
  /* Each block below the tip is proven final by the next one's last
   * commit; the tip only by its own stored certificate. Without it anyone
   * who can write the store could append a block no validator signed. */
  if (tip.height > 0 && !tip_certified) {
    bad(r, tip.height, SP_R_BLOCK_CERT,
        "the tip has no commit certificate: nothing proves it was decided");
    goto out;
  }

  struct sp_tip replayed;
  if ((rc = sp_ledger_tip(s, &replayed)))
    goto out;
  if (memcmp(replayed.hash, tip.hash, 32) || memcmp(replayed.state_digest, tip.state_digest, 32))
    bad(r, tip.height, SP_R_STATE_MISMATCH, "stored tip differs from the replayed chain");
  else if ((rc = compare_state(l, s, tip.height, r)) == SP_LE_OK && r->ok)
    rc = recount_balances(l, tip.height, r);
out:
  sp_ledger_close(s);
  remove_store(dir);
  return rc;
}
