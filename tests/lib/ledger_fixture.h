/* Test fixture for the ledger: a fresh ledger in a temp dir with a known
 * genesis (authority, 4 validators, categories), deterministic keys, and
 * helpers to sign transactions and commit blocks the way a network would
 * (propose, collect precommits from 3 of 4 validators, apply).
 * Header-only so each test program stays one .c file. */
#ifndef SP_LEDGER_FIXTURE_H
#define SP_LEDGER_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp/ledger.h"
#include "sp/merkle.h"
#include "sp/proto.h"

#define FX_VALIDATORS 4
#define FX_DAY_MS (24ull * 3600 * 1000)
/* 2027-01-01T00:00:00Z */
#define FX_T2027 1798761600000ull

struct fx_key {
  uint8_t pk[SP_PK_LEN];
  uint8_t sk[SP_SK_LEN];
  uint64_t seq; /* last used */
};

struct fx {
  char dir[256];
  struct sp_ledger *l;
  struct sp_buf genesis;
  struct fx_key authority;
  struct fx_key validators[FX_VALIDATORS]; /* sorted by pk as genesis needs */
  uint8_t chain_id[SP_HASH_LEN];
  uint64_t now; /* block time of the next block */
  bool has_tip_cert;
  struct sp_cert tip_cert;
  /* keep encodings alive while decoded txs point into them */
  uint8_t **scratch;
  size_t n_scratch, cap_scratch;
};

static inline void fx_key(struct fx_key *k, uint8_t seed_byte)
{
  uint8_t seed[32];
  memset(seed, seed_byte, sizeof(seed));
  memset(k, 0, sizeof(*k));
  assert_int_equal(sp_keypair_from_seed(k->pk, k->sk, seed), 0);
}

static inline int fx_cmp_key(const void *a, const void *b)
{
  return memcmp(((const struct fx_key *)a)->pk, ((const struct fx_key *)b)->pk, SP_PK_LEN);
}

/* Genesis categories, sorted. */
static const char *const fx_categories[] = {"culture", "food", "school-supplies", "sport"};

static inline void fx_genesis(struct fx *f, uint64_t grace_ms)
{
  struct sp_genesis g;
  memset(&g, 0, sizeof(g));
  g.chain_name = sp_str_c("stadjerspas-test");
  g.genesis_time_ms = FX_T2027 - 30 * FX_DAY_MS;
  memcpy(g.authority, f->authority.pk, SP_PK_LEN);
  g.n_validators = FX_VALIDATORS;
  static const char *const names[] = {"v0", "v1", "v2", "v3"};
  for (int i = 0; i < FX_VALIDATORS; i++) {
    memcpy(g.validators[i].pk, f->validators[i].pk, SP_PK_LEN);
    g.validators[i].name = sp_str_c(names[i]);
    g.validators[i].addr = sp_str_c("127.0.0.1:1");
  }
  g.n_categories = 4;
  for (int i = 0; i < 4; i++)
    g.categories[i] = sp_str_c(fx_categories[i]);
  g.params.max_block_txs = 5000;
  g.params.max_block_bytes = 8u * 1024 * 1024;
  g.params.fund_close_grace_ms = grace_ms;
  sp_buf_init(&f->genesis, 1 << 20);
  assert_int_equal(sp_genesis_encode(&g, &f->genesis), 0);
  assert_int_equal(sp_chain_id(f->genesis.data, f->genesis.len, f->chain_id), 0);
}

static inline void fx_rmrf(const char *dir)
{
  DIR *d = opendir(dir);
  if (d == NULL)
    return;
  struct dirent *e;
  char p[1024];
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    if (strlen(dir) + strlen(e->d_name) + 2 > sizeof(p))
      continue; /* our test dirs are short; never the case */
    memcpy(p, dir, strlen(dir));
    p[strlen(dir)] = '/';
    memcpy(p + strlen(dir) + 1, e->d_name, strlen(e->d_name) + 1);
    if (e->d_type == DT_DIR)
      fx_rmrf(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static inline void fx_open(struct fx *f)
{
  struct sp_ledger_opts o = {.no_sync = true, .verify_threads = 2};
  assert_int_equal(sp_ledger_open(&f->l, f->dir, &o), 0);
}

static inline struct fx *fx_new_grace(uint64_t grace_ms)
{
  struct fx *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  assert_int_equal(sp_crypto_init(), 0);
  snprintf(f->dir, sizeof(f->dir), "/tmp/sp-test-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  fx_key(&f->authority, 0x01);
  for (int i = 0; i < FX_VALIDATORS; i++)
    fx_key(&f->validators[i], (uint8_t)(0x10 + i));
  qsort(f->validators, FX_VALIDATORS, sizeof(f->validators[0]), fx_cmp_key);
  fx_genesis(f, grace_ms);
  struct sp_ledger_opts o = {.no_sync = true};
  char sub[300];
  snprintf(sub, sizeof(sub), "%s/ledger", f->dir);
  memcpy(f->dir, sub, sizeof(f->dir) - 1);
  assert_int_equal(sp_ledger_create(f->dir, f->genesis.data, f->genesis.len, &o), 0);
  fx_open(f);
  f->now = FX_T2027 - 20 * FX_DAY_MS;
  return f;
}

static inline struct fx *fx_new(void)
{
  return fx_new_grace(7 * FX_DAY_MS);
}

static inline void fx_free(struct fx *f)
{
  if (f == NULL)
    return;
  sp_ledger_close(f->l);
  char parent[300];
  snprintf(parent, sizeof(parent), "%s", f->dir);
  char *slash = strrchr(parent, '/');
  if (slash)
    *slash = 0;
  fx_rmrf(parent);
  sp_buf_free(&f->genesis);
  for (size_t i = 0; i < f->n_scratch; i++)
    free(f->scratch[i]);
  free(f->scratch);
  free(f);
}

/* Sign tx as key k with the next sequence number, encode it into a scratch
 * buffer and decode it into out (so out has its raw/body views). The
 * caller releases out with sp_tx_clear. */
/* out = tx encoded and decoded, its bytes owned by the fixture. */
static inline void fx_decoded(struct fx *f, const struct sp_tx *tx, struct sp_tx *out)
{
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_TX_BYTES);
  assert_int_equal(sp_tx_encode(tx, &b), 0);
  if (f->n_scratch == f->cap_scratch) {
    f->cap_scratch = f->cap_scratch ? 2 * f->cap_scratch : 64;
    f->scratch = realloc(f->scratch, f->cap_scratch * sizeof(*f->scratch));
    assert_non_null(f->scratch);
  }
  f->scratch[f->n_scratch++] = b.data; /* owned by the fixture from here */
  assert_int_equal(sp_tx_decode(b.data, b.len, out), 0);
}

static inline void fx_sign_as(struct fx *f, struct fx_key *k, struct sp_tx *tx,
                              struct sp_tx *out)
{
  memcpy(tx->signer, k->pk, SP_PK_LEN);
  tx->seq = ++k->seq;
  assert_int_equal(sp_tx_sign(tx, f->chain_id, k->sk), 0);
  fx_decoded(f, tx, out);
}

/* d with its fields changed (a flipped signature bit, another signature)
 * as it arrives from the wire: encoded and decoded again. The ledger takes
 * a decoded struct only as long as its fields still encode to the bytes it
 * was decoded from (the signature is checked over those). */
static inline void fx_redecode(struct fx *f, struct sp_tx *d)
{
  struct sp_tx changed;
  fx_decoded(f, d, &changed);
  sp_tx_clear(d);
  *d = changed;
}

/* Precommits of validators 0..n_sign-1 for block (height, hash). */
static inline void fx_cert(struct fx *f, uint64_t height, const uint8_t hash[SP_HASH_LEN],
                           int n_sign, struct sp_cert *c)
{
  memset(c, 0, sizeof(*c));
  c->height = height;
  c->round = 0;
  memcpy(c->block, hash, SP_HASH_LEN);
  struct sp_vote v = {.type = SP_VOTE_PRECOMMIT, .height = height, .round = 0,
                      .has_block = true};
  memcpy(v.block, hash, SP_HASH_LEN);
  for (int i = 0; i < n_sign; i++) {
    memcpy(v.validator, f->validators[i].pk, SP_PK_LEN);
    assert_int_equal(sp_vote_sign(&v, f->chain_id, f->validators[i].sk), 0);
    c->sigs[i].validator = (uint32_t)i;
    memcpy(c->sigs[i].sig, v.sig, SP_SIG_LEN);
  }
  c->n_sigs = (uint32_t)n_sign;
}

/* Propose a block from txs (refusals and accepted flags optional), at f->now.
 * Returns the encoded block in out. */
static inline int fx_propose(struct fx *f, const struct sp_tx *txs, size_t n,
                             struct sp_buf *out, bool *accepted, struct sp_refusal *why)
{
  bool local[256];
  bool *acc = accepted ? accepted : (n <= 256 ? local : calloc(n, sizeof(bool)));
  int rc = sp_ledger_propose(f->l, txs, n, f->now, f->validators[0].pk,
                             f->has_tip_cert ? &f->tip_cert : NULL, out, acc, why);
  if (!accepted && n > 256)
    free(acc);
  return rc;
}

/* Apply an encoded block with a 3-of-4 certificate; returns the ledger's
 * code (why filled on refusal). On success the certificate becomes the
 * fixture's tip certificate for the next proposal. */
static inline int fx_apply(struct fx *f, const struct sp_buf *blk, struct sp_refusal *why)
{
  struct sp_block b;
  int rc = sp_block_decode(blk->data, blk->len, &b);
  if (rc)
    return rc;
  uint8_t hash[SP_HASH_LEN];
  sp_header_hash(&b.header, hash);
  struct sp_cert c;
  fx_cert(f, b.header.height, hash, 3, &c);
  sp_block_clear(&b);
  rc = sp_ledger_apply(f->l, blk->data, blk->len, &c, why);
  if (rc == 0) {
    f->tip_cert = c;
    f->has_tip_cert = true;
    f->now += 1000;
  }
  return rc;
}

/* Propose and apply; every tx must be accepted. */
static inline void fx_commit(struct fx *f, const struct sp_tx *txs, size_t n)
{
  struct sp_buf blk;
  sp_buf_init(&blk, SP_MAX_BLOCK_BYTES);
  bool *acc = calloc(n ? n : 1, sizeof(bool));
  struct sp_refusal *why = calloc(n ? n : 1, sizeof(*why));
  assert_int_equal(sp_ledger_propose(f->l, txs, n, f->now, f->validators[0].pk,
                                     f->has_tip_cert ? &f->tip_cert : NULL, &blk, acc, why),
                   0);
  for (size_t i = 0; i < n; i++)
    if (!acc[i])
      fail_msg("tx %zu refused: %s: %s", i, sp_reason_name(why[i].reason), why[i].msg);
  struct sp_refusal bw;
  int rc = fx_apply(f, &blk, &bw);
  if (rc)
    fail_msg("block refused (%d): %s", rc, bw.msg);
  free(acc);
  free(why);
  sp_buf_free(&blk);
}

/* Propose one tx and return its refusal reason (0 if accepted). Nothing is
 * committed. */
static inline int fx_try(struct fx *f, const struct sp_tx *tx, struct sp_refusal *why)
{
  struct sp_buf blk;
  sp_buf_init(&blk, SP_MAX_BLOCK_BYTES);
  bool acc = false;
  struct sp_refusal w;
  memset(&w, 0, sizeof(w));
  assert_int_equal(sp_ledger_propose(f->l, tx, 1, f->now, f->validators[0].pk,
                                     f->has_tip_cert ? &f->tip_cert : NULL, &blk, &acc, &w),
                   0);
  sp_buf_free(&blk);
  if (why)
    *why = w;
  return acc ? 0 : w.reason;
}

/* ---- builders of common transactions (unsigned; sign with fx_sign_as) ---- */

static inline struct sp_tx fx_fund_create(const char *id, const char *name, const char *cat1,
                                          const char *cat2, uint64_t from, uint64_t until,
                                          uint64_t max_payment)
{
  struct sp_tx tx;
  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_FUND_CREATE;
  tx.u.fund_create.fund = sp_str_c(id);
  tx.u.fund_create.name = sp_str_c(name);
  tx.u.fund_create.categories.n = cat2 ? 2 : 1;
  tx.u.fund_create.categories.v[0] = sp_str_c(cat1);
  if (cat2)
    tx.u.fund_create.categories.v[1] = sp_str_c(cat2);
  tx.u.fund_create.valid_from_ms = from;
  tx.u.fund_create.valid_until_ms = until;
  tx.u.fund_create.max_payment = max_payment;
  return tx;
}

static inline struct sp_tx fx_deposit(const char *fund, uint64_t cents)
{
  struct sp_tx tx;
  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_FUND_DEPOSIT;
  tx.u.fund_deposit.fund = sp_str_c(fund);
  tx.u.fund_deposit.amount = cents;
  tx.u.fund_deposit.bank_ref = sp_str_c("NL-BANK-1");
  return tx;
}

static inline struct sp_tx fx_enroll(const uint8_t pass[SP_PK_LEN])
{
  struct sp_tx tx;
  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_PASS_ENROLL;
  memcpy(tx.u.pass_enroll.pass, pass, SP_PK_LEN);
  memset(tx.u.pass_enroll.household, 0x77, SP_HASH_LEN);
  return tx;
}

static inline struct sp_tx fx_merchant(const uint8_t pk[SP_PK_LEN], const char *name,
                                       const char *cat)
{
  struct sp_tx tx;
  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_MERCHANT_REGISTER;
  memcpy(tx.u.merchant.merchant, pk, SP_PK_LEN);
  tx.u.merchant.name = sp_str_c(name);
  tx.u.merchant.categories.n = 1;
  tx.u.merchant.categories.v[0] = sp_str_c(cat);
  return tx;
}

/* Single-row issue; rows must outlive signing (static storage per call site
 * is the caller's business): the row is kept in *row. */
static inline struct sp_tx fx_issue1(const char *fund, const char *ref, struct sp_issue_row *row,
                                     const uint8_t pass[SP_PK_LEN], uint64_t cents)
{
  struct sp_tx tx;
  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_ISSUE;
  tx.u.issue.fund = sp_str_c(fund);
  tx.u.issue.ref = sp_str_c(ref);
  memcpy(row->pass, pass, SP_PK_LEN);
  row->amount = cents;
  tx.u.issue.n_rows = 1;
  tx.u.issue.rows = row;
  return tx;
}

static inline struct sp_tx fx_pay(const uint8_t merchant[SP_PK_LEN], const char *fund,
                                  uint64_t cents)
{
  struct sp_tx tx;
  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_PAY;
  memcpy(tx.u.pay.merchant, merchant, SP_PK_LEN);
  tx.u.pay.n_parts = 1;
  tx.u.pay.parts[0].fund = sp_str_c(fund);
  tx.u.pay.parts[0].amount = cents;
  tx.u.pay.order_ref = sp_str_c("order-1");
  return tx;
}

/* Balance of pk in fund per the ledger (0 when none). */
static inline uint64_t fx_balance(struct fx *f, const uint8_t pk[SP_PK_LEN], const char *fund)
{
  struct sp_account_info *a = calloc(1, sizeof(*a));
  uint64_t v = 0;
  if (sp_ledger_account(f->l, pk, a) == 0)
    for (uint32_t i = 0; i < a->n_rows; i++)
      if (strcmp(a->rows[i].fund, fund) == 0)
        v = a->rows[i].amount;
  free(a);
  return v;
}

#endif
