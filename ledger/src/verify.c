/* Full-chain verification: replay every stored block into a fresh store and
 * compare. Nothing of the audited store is trusted except its bytes. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger_int.h"
#include "sp/error.h"

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

static const char *const state_names[] = {
    [DB_ACCOUNTS] = "account", [DB_BALANCES] = "balance", [DB_FUNDS] = "fund",
    [DB_FUNDCAT] = "fund spending", [DB_PAYMENTS] = "payment", [DB_CLAIMS] = "claim",
    [DB_ISSUANCE] = "issuance",
};

/* Compare every state table of the audited store with the replayed one;
 * report the first difference and the block that last wrote the key. */
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
  for (int db = DB_FIRST_STATE; db < DB__COUNT && r->ok && rc == SP_LE_OK; db++) {
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
      bool same = ra == 0 && rb == 0 && ka.mv_size == kb.mv_size &&
                  memcmp(ka.mv_data, kb.mv_data, ka.mv_size) == 0 &&
                  va.mv_size == vb.mv_size && memcmp(va.mv_data, vb.mv_data, va.mv_size) == 0;
      if (!same) {
        /* the replayed key tells which block should have written it */
        const MDB_val *k = rb == 0 ? &kb : &ka;
        uint64_t h = rb == 0 ? last_writer(scratch, db, &kb) : 0;
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "stored %s record differs from the replay of the chain (%s)",
                 state_names[db], h ? "last written by this block" : "no block wrote it");
        (void)k;
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
  }
  sp_buf_free(&blk);
  if (rc || !r->ok)
    goto out;

  struct sp_tip replayed;
  if ((rc = sp_ledger_tip(s, &replayed)))
    goto out;
  if (memcmp(replayed.hash, tip.hash, 32) || memcmp(replayed.state_digest, tip.state_digest, 32))
    bad(r, tip.height, SP_R_STATE_MISMATCH, "stored tip differs from the replayed chain");
  else
    rc = compare_state(l, s, tip.height, r);
out:
  sp_ledger_close(s);
  remove_store(dir);
  return rc;
}
