#include "sp/objects.h"

#include <stdlib.h>
#include <string.h>

#include "sp/crypto.h"
#include "wire.h"

/* ============================================================== genesis */

static int r_genesis(struct sp_rd *r, struct sp_genesis *g)
{
  TRY(sp_rd_array_exact(r, 7));
  TRY(r_version(r));
  TRY(r_text_req(r, &g->chain_name, SP_MAX_NAME));
  TRY(sp_rd_uint(r, &g->genesis_time_ms));
  TRY(sp_rd_binfix(r, g->authority, SP_PK_LEN));

  TRY(sp_rd_array_max(r, &g->n_validators, SP_MAX_VALIDATORS, 1));
  for (uint32_t i = 0; i < g->n_validators; i++) {
    struct sp_validator *v = &g->validators[i];
    TRY(sp_rd_array_exact(r, 3));
    TRY(sp_rd_binfix(r, v->pk, SP_PK_LEN));
    TRY(r_text_req(r, &v->name, SP_MAX_NAME));
    TRY(r_text_req(r, &v->addr, SP_MAX_ADDR));
    if (i > 0 && memcmp(g->validators[i - 1].pk, v->pk, SP_PK_LEN) >= 0)
      return SP_E_ORDER;
  }

  TRY(sp_rd_array_max(r, &g->n_categories, SP_MAX_GENESIS_CATEGORIES, 1));
  for (uint32_t i = 0; i < g->n_categories; i++) {
    TRY(sp_rd_ident(r, &g->categories[i]));
    if (i > 0 && sp_str_cmp(g->categories[i - 1], g->categories[i]) >= 0)
      return SP_E_ORDER;
  }

  TRY(sp_rd_array_exact(r, 3));
  TRY(r_u32(r, &g->params.max_block_txs));
  TRY(r_u32(r, &g->params.max_block_bytes));
  TRY(sp_rd_uint(r, &g->params.fund_close_grace_ms));
  if (g->params.max_block_txs < 1 || g->params.max_block_txs > SP_MAX_BLOCK_TXS ||
      g->params.max_block_bytes < SP_MIN_BLOCK_BYTES || g->params.max_block_bytes > SP_MAX_BLOCK_BYTES)
    return SP_E_RANGE;
  return SP_OK;
}

static void w_genesis(struct sp_buf *b, const struct sp_genesis *g)
{
  sp_wr_array(b, 7);
  sp_wr_uint(b, SP_FORMAT_VERSION);
  w_text_req(b, g->chain_name, SP_MAX_NAME);
  sp_wr_uint(b, g->genesis_time_ms);
  sp_wr_bin(b, g->authority, SP_PK_LEN);
  w_list(b, g->n_validators, SP_MAX_VALIDATORS, 1);
  for (uint32_t i = 0; i < g->n_validators && i < SP_MAX_VALIDATORS; i++) {
    const struct sp_validator *v = &g->validators[i];
    if (i > 0 && memcmp(g->validators[i - 1].pk, v->pk, SP_PK_LEN) >= 0)
      fail(b, SP_E_ORDER);
    sp_wr_array(b, 3);
    sp_wr_bin(b, v->pk, SP_PK_LEN);
    w_text_req(b, v->name, SP_MAX_NAME);
    w_text_req(b, v->addr, SP_MAX_ADDR);
  }
  w_list(b, g->n_categories, SP_MAX_GENESIS_CATEGORIES, 1);
  for (uint32_t i = 0; i < g->n_categories && i < SP_MAX_GENESIS_CATEGORIES; i++) {
    if (i > 0 && sp_str_cmp(g->categories[i - 1], g->categories[i]) >= 0)
      fail(b, SP_E_ORDER);
    w_ident(b, g->categories[i]);
  }
  const struct sp_params *pa = &g->params;
  if (pa->max_block_txs < 1 || pa->max_block_txs > SP_MAX_BLOCK_TXS ||
      pa->max_block_bytes < SP_MIN_BLOCK_BYTES || pa->max_block_bytes > SP_MAX_BLOCK_BYTES)
    fail(b, SP_E_RANGE);
  sp_wr_array(b, 3);
  sp_wr_uint(b, pa->max_block_txs);
  sp_wr_uint(b, pa->max_block_bytes);
  sp_wr_uint(b, pa->fund_close_grace_ms);
}

int sp_genesis_encode(const struct sp_genesis *g, struct sp_buf *out)
{
  ENCODE_INTO(out, w_genesis(out, g));
}

int sp_genesis_decode(const uint8_t *p, size_t n, struct sp_genesis *g)
{
  memset(g, 0, sizeof(*g));
  DECODE_FROM(p, n, r_genesis(r, g));
}

int sp_chain_id(const uint8_t *genesis, size_t n, uint8_t out[static SP_HASH_LEN])
{
  return sp_hash_dom(out, SP_DOM_GENESIS, NULL, genesis, n);
}

/* ========================================================= transactions */

static const char *const kind_names[] = {
    [SP_TX_FUND_CREATE] = "fund.create",
    [SP_TX_FUND_DEPOSIT] = "fund.deposit",
    [SP_TX_FUND_CLOSE] = "fund.close",
    [SP_TX_PASS_ENROLL] = "pass.enroll",
    [SP_TX_PASS_BLOCK] = "pass.block",
    [SP_TX_PASS_UNBLOCK] = "pass.unblock",
    [SP_TX_PASS_REPLACE] = "pass.replace",
    [SP_TX_MERCHANT_REGISTER] = "merchant.register",
    [SP_TX_MERCHANT_UPDATE] = "merchant.update",
    [SP_TX_MERCHANT_SUSPEND] = "merchant.suspend",
    [SP_TX_ISSUE] = "issue",
    [SP_TX_CLAIM_SETTLE] = "claim.settle",
    [SP_TX_PAY] = "pay",
    [SP_TX_REFUND] = "refund",
    [SP_TX_CLAIM] = "claim",
    [SP_TX_MERCHANT_REINSTATE] = "merchant.reinstate",
};

/* Number of kind-specific fields after [version, kind, signer, seq]. */
static const uint8_t kind_fields[] = {
    [SP_TX_FUND_CREATE] = 6,      [SP_TX_FUND_DEPOSIT] = 3,   [SP_TX_FUND_CLOSE] = 1,
    [SP_TX_PASS_ENROLL] = 2,      [SP_TX_PASS_BLOCK] = 2,     [SP_TX_PASS_UNBLOCK] = 2,
    [SP_TX_PASS_REPLACE] = 2,     [SP_TX_MERCHANT_REGISTER] = 3,
    [SP_TX_MERCHANT_UPDATE] = 3,  [SP_TX_MERCHANT_SUSPEND] = 2,
    [SP_TX_ISSUE] = 3,            [SP_TX_CLAIM_SETTLE] = 2,   [SP_TX_PAY] = 3,
    [SP_TX_REFUND] = 2,           [SP_TX_CLAIM] = 2,          [SP_TX_MERCHANT_REINSTATE] = 2,
};

const char *sp_tx_kind_name(uint32_t kind)
{
  return kind >= 1 && kind <= SP_TX__MAX ? kind_names[kind] : NULL;
}

/* Smallest encoding of one issue row: fixarray(1) + bin8 32 (34) + uint (1). */
#define ISSUE_ROW_MIN 36

static int r_issue_rows(struct sp_rd *r, struct sp_tx_issue *is)
{
  TRY(sp_rd_array_max(r, &is->n_rows, SP_MAX_ISSUE_ENTRIES, 1));
  /* the count is bounded by the bytes that remain before we allocate */
  if ((uint64_t)is->n_rows * ISSUE_ROW_MIN > (uint64_t)(r->end - r->p))
    return SP_E_TOOMANY;
  is->rows = calloc(is->n_rows, sizeof(*is->rows));
  if (is->rows == NULL)
    return SP_E_NOMEM;
  for (uint32_t i = 0; i < is->n_rows; i++) {
    TRY(sp_rd_array_exact(r, 2));
    TRY(sp_rd_binfix(r, is->rows[i].pass, SP_PK_LEN));
    TRY(r_amount(r, &is->rows[i].amount));
    if (i > 0 && memcmp(is->rows[i - 1].pass, is->rows[i].pass, SP_PK_LEN) >= 0)
      return SP_E_ORDER;
  }
  return SP_OK;
}

static int r_pay_parts(struct sp_rd *r, struct sp_tx_pay *pay)
{
  TRY(sp_rd_array_max(r, &pay->n_parts, SP_MAX_PAY_PARTS, 1));
  for (uint32_t i = 0; i < pay->n_parts; i++) {
    TRY(sp_rd_array_exact(r, 2));
    TRY(sp_rd_ident(r, &pay->parts[i].fund));
    TRY(r_amount(r, &pay->parts[i].amount));
    if (i > 0 && sp_str_cmp(pay->parts[i - 1].fund, pay->parts[i].fund) >= 0)
      return SP_E_ORDER;
  }
  return SP_OK;
}

static int r_tx_fields(struct sp_rd *r, struct sp_tx *tx)
{
  switch (tx->kind) {
  case SP_TX_FUND_CREATE: {
    struct sp_tx_fund_create *f = &tx->u.fund_create;
    TRY(sp_rd_ident(r, &f->fund));
    TRY(r_text_req(r, &f->name, SP_MAX_NAME));
    TRY(r_catlist(r, &f->categories));
    TRY(sp_rd_uint(r, &f->valid_from_ms));
    TRY(sp_rd_uint(r, &f->valid_until_ms));
    TRY(r_amount(r, &f->max_payment));
    return f->valid_until_ms > f->valid_from_ms ? SP_OK : SP_E_RANGE;
  }
  case SP_TX_FUND_DEPOSIT:
    TRY(sp_rd_ident(r, &tx->u.fund_deposit.fund));
    TRY(r_amount(r, &tx->u.fund_deposit.amount));
    return r_text_req(r, &tx->u.fund_deposit.bank_ref, SP_MAX_REF);
  case SP_TX_FUND_CLOSE:
    return sp_rd_ident(r, &tx->u.fund_close.fund);
  case SP_TX_PASS_ENROLL:
    TRY(sp_rd_binfix(r, tx->u.pass_enroll.pass, SP_PK_LEN));
    return sp_rd_binfix(r, tx->u.pass_enroll.household, SP_HASH_LEN);
  case SP_TX_PASS_BLOCK:
  case SP_TX_PASS_UNBLOCK:
  case SP_TX_MERCHANT_SUSPEND:
  case SP_TX_MERCHANT_REINSTATE:
    TRY(sp_rd_binfix(r, tx->u.reason.account, SP_PK_LEN));
    return r_text_req(r, &tx->u.reason.reason, SP_MAX_REASON);
  case SP_TX_PASS_REPLACE:
    TRY(sp_rd_binfix(r, tx->u.pass_replace.old_pass, SP_PK_LEN));
    TRY(sp_rd_binfix(r, tx->u.pass_replace.new_pass, SP_PK_LEN));
    return memcmp(tx->u.pass_replace.old_pass, tx->u.pass_replace.new_pass, SP_PK_LEN)
               ? SP_OK
               : SP_E_RANGE;
  case SP_TX_MERCHANT_REGISTER:
  case SP_TX_MERCHANT_UPDATE:
    TRY(sp_rd_binfix(r, tx->u.merchant.merchant, SP_PK_LEN));
    TRY(r_text_req(r, &tx->u.merchant.name, SP_MAX_NAME));
    return r_catlist(r, &tx->u.merchant.categories);
  case SP_TX_ISSUE:
    TRY(sp_rd_ident(r, &tx->u.issue.fund));
    TRY(r_text_req(r, &tx->u.issue.ref, SP_MAX_REF));
    return r_issue_rows(r, &tx->u.issue);
  case SP_TX_CLAIM_SETTLE:
    TRY(sp_rd_binfix(r, tx->u.claim_settle.claim, SP_HASH_LEN));
    return r_text_req(r, &tx->u.claim_settle.bank_ref, SP_MAX_REF);
  case SP_TX_PAY:
    TRY(sp_rd_binfix(r, tx->u.pay.merchant, SP_PK_LEN));
    TRY(r_pay_parts(r, &tx->u.pay));
    return sp_rd_str(r, &tx->u.pay.order_ref, SP_MAX_REF);
  case SP_TX_REFUND:
    TRY(sp_rd_binfix(r, tx->u.refund.payment, SP_HASH_LEN));
    return r_amount(r, &tx->u.refund.amount);
  case SP_TX_CLAIM:
    TRY(sp_rd_ident(r, &tx->u.claim.fund));
    return r_amount(r, &tx->u.claim.amount);
  default:
    return SP_E_KIND;
  }
}

static int r_tx_body(struct sp_rd *r, struct sp_tx *tx)
{
  uint32_t n;
  uint64_t kind;
  const uint8_t *start = r->p;
  TRY(sp_rd_array(r, &n));
  if (n < 4)
    return SP_E_COUNT;
  TRY(r_version(r));
  TRY(sp_rd_uint(r, &kind));
  if (kind < 1 || kind > SP_TX__MAX)
    return SP_E_KIND;
  tx->kind = (uint32_t)kind;
  if (n != 4u + kind_fields[kind])
    return SP_E_COUNT;
  TRY(sp_rd_binfix(r, tx->signer, SP_PK_LEN));
  TRY(sp_rd_uint(r, &tx->seq));
  TRY(r_tx_fields(r, tx));
  tx->body = start;
  tx->body_len = (size_t)(r->p - start);
  return SP_OK;
}

int sp__tx_read(struct sp_rd *r, struct sp_tx *tx)
{
  const uint8_t *start = r->p;
  TRY(sp_rd_array_exact(r, 2));
  TRY(r_tx_body(r, tx));
  TRY(sp_rd_binfix(r, tx->sig, SP_SIG_LEN));
  tx->raw = start;
  tx->raw_len = (size_t)(r->p - start);
  if (tx->raw_len > SP_MAX_TX_BYTES)
    return SP_E_TOOLONG;
  return SP_OK;
}

static void w_tx_fields(struct sp_buf *b, const struct sp_tx *tx)
{
  const struct sp_tx_fund_create *f = &tx->u.fund_create;
  switch (tx->kind) {
  case SP_TX_FUND_CREATE:
    w_ident(b, f->fund);
    w_text_req(b, f->name, SP_MAX_NAME);
    w_catlist(b, &f->categories);
    sp_wr_uint(b, f->valid_from_ms);
    sp_wr_uint(b, f->valid_until_ms);
    w_amount(b, f->max_payment);
    if (f->valid_until_ms <= f->valid_from_ms)
      fail(b, SP_E_RANGE);
    break;
  case SP_TX_FUND_DEPOSIT:
    w_ident(b, tx->u.fund_deposit.fund);
    w_amount(b, tx->u.fund_deposit.amount);
    w_text_req(b, tx->u.fund_deposit.bank_ref, SP_MAX_REF);
    break;
  case SP_TX_FUND_CLOSE:
    w_ident(b, tx->u.fund_close.fund);
    break;
  case SP_TX_PASS_ENROLL:
    sp_wr_bin(b, tx->u.pass_enroll.pass, SP_PK_LEN);
    sp_wr_bin(b, tx->u.pass_enroll.household, SP_HASH_LEN);
    break;
  case SP_TX_PASS_BLOCK:
  case SP_TX_PASS_UNBLOCK:
  case SP_TX_MERCHANT_SUSPEND:
  case SP_TX_MERCHANT_REINSTATE:
    sp_wr_bin(b, tx->u.reason.account, SP_PK_LEN);
    w_text_req(b, tx->u.reason.reason, SP_MAX_REASON);
    break;
  case SP_TX_PASS_REPLACE:
    sp_wr_bin(b, tx->u.pass_replace.old_pass, SP_PK_LEN);
    sp_wr_bin(b, tx->u.pass_replace.new_pass, SP_PK_LEN);
    if (!memcmp(tx->u.pass_replace.old_pass, tx->u.pass_replace.new_pass, SP_PK_LEN))
      fail(b, SP_E_RANGE);
    break;
  case SP_TX_MERCHANT_REGISTER:
  case SP_TX_MERCHANT_UPDATE:
    sp_wr_bin(b, tx->u.merchant.merchant, SP_PK_LEN);
    w_text_req(b, tx->u.merchant.name, SP_MAX_NAME);
    w_catlist(b, &tx->u.merchant.categories);
    break;
  case SP_TX_ISSUE: {
    const struct sp_tx_issue *is = &tx->u.issue;
    w_ident(b, is->fund);
    w_text_req(b, is->ref, SP_MAX_REF);
    w_list(b, is->n_rows, SP_MAX_ISSUE_ENTRIES, 1);
    for (uint32_t i = 0; i < is->n_rows && i < SP_MAX_ISSUE_ENTRIES; i++) {
      if (i > 0 && memcmp(is->rows[i - 1].pass, is->rows[i].pass, SP_PK_LEN) >= 0)
        fail(b, SP_E_ORDER);
      sp_wr_array(b, 2);
      sp_wr_bin(b, is->rows[i].pass, SP_PK_LEN);
      w_amount(b, is->rows[i].amount);
    }
    break;
  }
  case SP_TX_CLAIM_SETTLE:
    sp_wr_bin(b, tx->u.claim_settle.claim, SP_HASH_LEN);
    w_text_req(b, tx->u.claim_settle.bank_ref, SP_MAX_REF);
    break;
  case SP_TX_PAY: {
    const struct sp_tx_pay *pay = &tx->u.pay;
    sp_wr_bin(b, pay->merchant, SP_PK_LEN);
    w_list(b, pay->n_parts, SP_MAX_PAY_PARTS, 1);
    for (uint32_t i = 0; i < pay->n_parts && i < SP_MAX_PAY_PARTS; i++) {
      if (i > 0 && sp_str_cmp(pay->parts[i - 1].fund, pay->parts[i].fund) >= 0)
        fail(b, SP_E_ORDER);
      sp_wr_array(b, 2);
      w_ident(b, pay->parts[i].fund);
      w_amount(b, pay->parts[i].amount);
    }
    w_text(b, pay->order_ref, SP_MAX_REF);
    break;
  }
  case SP_TX_REFUND:
    sp_wr_bin(b, tx->u.refund.payment, SP_HASH_LEN);
    w_amount(b, tx->u.refund.amount);
    break;
  case SP_TX_CLAIM:
    w_ident(b, tx->u.claim.fund);
    w_amount(b, tx->u.claim.amount);
    break;
  default:
    fail(b, SP_E_KIND);
  }
}

static void w_tx_body(struct sp_buf *b, const struct sp_tx *tx)
{
  if (tx->kind < 1 || tx->kind > SP_TX__MAX) {
    fail(b, SP_E_KIND);
    return;
  }
  sp_wr_array(b, 4u + kind_fields[tx->kind]);
  sp_wr_uint(b, SP_FORMAT_VERSION);
  sp_wr_uint(b, tx->kind);
  sp_wr_bin(b, tx->signer, SP_PK_LEN);
  sp_wr_uint(b, tx->seq);
  w_tx_fields(b, tx);
}

void sp__tx_write(struct sp_buf *b, const struct sp_tx *tx)
{
  size_t start = b->len;
  sp_wr_array(b, 2);
  w_tx_body(b, tx);
  sp_wr_bin(b, tx->sig, SP_SIG_LEN);
  if (b->len - start > SP_MAX_TX_BYTES)
    fail(b, SP_E_TOOLONG);
}

int sp_tx_encode_body(const struct sp_tx *tx, struct sp_buf *out)
{
  ENCODE_INTO(out, w_tx_body(out, tx));
}

int sp_tx_encode(const struct sp_tx *tx, struct sp_buf *out)
{
  ENCODE_INTO(out, sp__tx_write(out, tx));
}

int sp_tx_sign(struct sp_tx *tx, const uint8_t chain_id[static SP_HASH_LEN],
               const uint8_t sk[static SP_SK_LEN])
{
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_TX_BYTES);
  int rc = sp_tx_encode_body(tx, &b);
  if (rc == SP_OK)
    rc = sp_sign_dom(tx->sig, SP_DOM_TX, chain_id, b.data, b.len, sk);
  sp_buf_free(&b);
  return rc;
}

int sp_tx_decode(const uint8_t *p, size_t n, struct sp_tx *tx)
{
  memset(tx, 0, sizeof(*tx));
  if (n > SP_MAX_TX_BYTES)
    return SP_E_TOOLONG;
  int rc = sp_msgpack_check(p, n, SP_MAX_DEPTH);
  if (rc == SP_OK) {
    struct sp_rd r = sp_rd_init(p, n);
    rc = sp__tx_read(&r, tx);
    if (rc == SP_OK)
      rc = sp_rd_done(&r);
  }
  if (rc)
    sp_tx_clear(tx);
  return rc;
}

int sp_tx_id(const struct sp_tx *tx, const uint8_t chain_id[static SP_HASH_LEN],
             uint8_t out[static SP_HASH_LEN])
{
  if (tx->body == NULL)
    return SP_E_INVAL;
  return sp_hash_dom(out, SP_DOM_TX, chain_id, tx->body, tx->body_len);
}

int sp_tx_verify(const struct sp_tx *tx, const uint8_t chain_id[static SP_HASH_LEN])
{
  if (tx->body == NULL)
    return SP_E_INVAL;
  return sp_verify_dom(tx->sig, SP_DOM_TX, chain_id, tx->body, tx->body_len, tx->signer);
}

void sp_tx_clear(struct sp_tx *tx)
{
  if (tx == NULL)
    return;
  if (tx->kind == SP_TX_ISSUE)
    free(tx->u.issue.rows);
  memset(tx, 0, sizeof(*tx));
}

/* ======================================================= votes, certs */

static void w_vote_signed(struct sp_buf *b, const struct sp_vote *v, uint32_t fields)
{
  if (v->type != SP_VOTE_PREVOTE && v->type != SP_VOTE_PRECOMMIT)
    fail(b, SP_E_KIND);
  if (v->height == 0)
    fail(b, SP_E_RANGE);
  sp_wr_array(b, fields);
  sp_wr_uint(b, SP_FORMAT_VERSION);
  sp_wr_uint(b, v->type);
  sp_wr_uint(b, v->height);
  sp_wr_uint(b, v->round);
  sp_wr_bin(b, v->block, v->has_block ? SP_HASH_LEN : 0);
}

void sp__vote_write(struct sp_buf *b, const struct sp_vote *v)
{
  w_vote_signed(b, v, 7);
  sp_wr_bin(b, v->validator, SP_PK_LEN);
  sp_wr_bin(b, v->sig, SP_SIG_LEN);
}

int sp__vote_read(struct sp_rd *r, struct sp_vote *v)
{
  uint64_t type;
  int present;
  TRY(sp_rd_array_exact(r, 7));
  TRY(r_version(r));
  TRY(sp_rd_uint(r, &type));
  if (type != SP_VOTE_PREVOTE && type != SP_VOTE_PRECOMMIT)
    return SP_E_KIND;
  v->type = (uint32_t)type;
  TRY(sp_rd_uint(r, &v->height));
  if (v->height == 0)
    return SP_E_RANGE;
  TRY(r_u32(r, &v->round));
  TRY(sp_rd_binopt(r, v->block, SP_HASH_LEN, &present));
  v->has_block = present;
  TRY(sp_rd_binfix(r, v->validator, SP_PK_LEN));
  return sp_rd_binfix(r, v->sig, SP_SIG_LEN);
}

int sp_vote_signbytes(const struct sp_vote *v, struct sp_buf *out)
{
  ENCODE_INTO(out, w_vote_signed(out, v, 5));
}

int sp_vote_encode(const struct sp_vote *v, struct sp_buf *out)
{
  ENCODE_INTO(out, sp__vote_write(out, v));
}

int sp_vote_decode(const uint8_t *p, size_t n, struct sp_vote *v)
{
  memset(v, 0, sizeof(*v));
  DECODE_FROM(p, n, sp__vote_read(r, v));
}

/* Sign-bytes of votes and proposals are tiny: encode them on the stack. */
#define SMALL_SIGNED 128

static int sign_small(uint8_t sig[static SP_SIG_LEN], enum sp_domain dom,
                      const uint8_t *chain_id, const uint8_t *sk, const uint8_t *pk,
                      int verify, const struct sp_buf *msg)
{
  if (verify)
    return sp_verify_dom(sig, dom, chain_id, msg->data, msg->len, pk);
  return sp_sign_dom(sig, dom, chain_id, msg->data, msg->len, sk);
}

static int vote_sig(struct sp_vote *v, const uint8_t *chain_id, const uint8_t *sk,
                    int verify)
{
  struct sp_buf b;
  sp_buf_init(&b, SMALL_SIGNED);
  int rc = sp_vote_signbytes(v, &b);
  if (rc == SP_OK)
    rc = sign_small(v->sig, SP_DOM_VOTE, chain_id, sk, v->validator, verify, &b);
  sp_buf_free(&b);
  return rc;
}

int sp_vote_sign(struct sp_vote *v, const uint8_t chain_id[static SP_HASH_LEN],
                 const uint8_t sk[static SP_SK_LEN])
{
  return vote_sig(v, chain_id, sk, 0);
}

int sp_vote_verify(const struct sp_vote *v, const uint8_t chain_id[static SP_HASH_LEN])
{
  return vote_sig((struct sp_vote *)v, chain_id, NULL, 1);
}

void sp__cert_write(struct sp_buf *b, const struct sp_cert *c)
{
  if (c->height == 0)
    fail(b, SP_E_RANGE);
  sp_wr_array(b, 5);
  sp_wr_uint(b, SP_FORMAT_VERSION);
  sp_wr_uint(b, c->height);
  sp_wr_uint(b, c->round);
  sp_wr_bin(b, c->block, SP_HASH_LEN);
  w_list(b, c->n_sigs, SP_MAX_VALIDATORS, 1);
  for (uint32_t i = 0; i < c->n_sigs && i < SP_MAX_VALIDATORS; i++) {
    if (i > 0 && c->sigs[i - 1].validator >= c->sigs[i].validator)
      fail(b, SP_E_ORDER);
    if (c->sigs[i].validator >= SP_MAX_VALIDATORS)
      fail(b, SP_E_RANGE);
    sp_wr_array(b, 2);
    sp_wr_uint(b, c->sigs[i].validator);
    sp_wr_bin(b, c->sigs[i].sig, SP_SIG_LEN);
  }
}

int sp__cert_read(struct sp_rd *r, struct sp_cert *c)
{
  TRY(sp_rd_array_exact(r, 5));
  TRY(r_version(r));
  TRY(sp_rd_uint(r, &c->height));
  if (c->height == 0)
    return SP_E_RANGE;
  TRY(r_u32(r, &c->round));
  TRY(sp_rd_binfix(r, c->block, SP_HASH_LEN));
  TRY(sp_rd_array_max(r, &c->n_sigs, SP_MAX_VALIDATORS, 1));
  for (uint32_t i = 0; i < c->n_sigs; i++) {
    uint64_t idx;
    TRY(sp_rd_array_exact(r, 2));
    TRY(sp_rd_uint_max(r, &idx, SP_MAX_VALIDATORS - 1));
    c->sigs[i].validator = (uint32_t)idx;
    TRY(sp_rd_binfix(r, c->sigs[i].sig, SP_SIG_LEN));
    if (i > 0 && c->sigs[i - 1].validator >= c->sigs[i].validator)
      return SP_E_ORDER;
  }
  return SP_OK;
}

int sp_cert_encode(const struct sp_cert *c, struct sp_buf *out)
{
  ENCODE_INTO(out, sp__cert_write(out, c));
}

int sp_cert_hash(const struct sp_cert *c, uint8_t out[static SP_HASH_LEN])
{
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_TX_BYTES);
  int rc = sp_cert_encode(c, &b);
  if (rc == SP_OK)
    sp_hash(out, b.data, b.len);
  sp_buf_free(&b);
  return rc;
}

int sp_cert_decode(const uint8_t *p, size_t n, struct sp_cert *c)
{
  memset(c, 0, sizeof(*c));
  DECODE_FROM(p, n, sp__cert_read(r, c));
}

int sp_cert_verify(const struct sp_cert *c, const struct sp_genesis *g,
                   const uint8_t chain_id[static SP_HASH_LEN])
{
  struct sp_vote v = {
      .type = SP_VOTE_PRECOMMIT, .height = c->height, .round = c->round, .has_block = true};
  memcpy(v.block, c->block, SP_HASH_LEN);
  struct sp_buf b;
  sp_buf_init(&b, SMALL_SIGNED);
  int rc = sp_vote_signbytes(&v, &b);
  for (uint32_t i = 0; rc == SP_OK && i < c->n_sigs; i++) {
    uint32_t idx = c->sigs[i].validator;
    if (idx >= g->n_validators || (i > 0 && c->sigs[i - 1].validator >= idx))
      rc = SP_E_RANGE;
    else
      rc = sp_verify_dom(c->sigs[i].sig, SP_DOM_VOTE, chain_id, b.data, b.len,
                         g->validators[idx].pk);
  }
  sp_buf_free(&b);
  /* equal voting power: a quorum is more than two thirds of the set */
  if (rc == SP_OK && 3u * c->n_sigs <= 2u * g->n_validators)
    rc = SP_E_QUORUM;
  return rc;
}

/* ============================================================ proposal */

static void w_proposal_signed(struct sp_buf *b, const struct sp_proposal *pr,
                              uint32_t fields)
{
  if (pr->valid_round != SP_ROUND_NONE &&
      (pr->valid_round < 0 || pr->valid_round >= (int64_t)pr->round))
    fail(b, SP_E_RANGE);
  if (pr->height == 0)
    fail(b, SP_E_RANGE);
  sp_wr_array(b, fields);
  sp_wr_uint(b, SP_FORMAT_VERSION);
  sp_wr_uint(b, pr->height);
  sp_wr_uint(b, pr->round);
  sp_wr_int(b, pr->valid_round);
  sp_wr_bin(b, pr->block, SP_HASH_LEN);
}

void sp__proposal_write(struct sp_buf *b, const struct sp_proposal *pr)
{
  w_proposal_signed(b, pr, 7);
  sp_wr_bin(b, pr->proposer, SP_PK_LEN);
  sp_wr_bin(b, pr->sig, SP_SIG_LEN);
}

int sp__proposal_read(struct sp_rd *r, struct sp_proposal *pr)
{
  TRY(sp_rd_array_exact(r, 7));
  TRY(r_version(r));
  TRY(sp_rd_uint(r, &pr->height));
  if (pr->height == 0)
    return SP_E_RANGE;
  TRY(r_u32(r, &pr->round));
  TRY(sp_rd_round_opt(r, &pr->valid_round));
  if (pr->valid_round != SP_ROUND_NONE && pr->valid_round >= (int64_t)pr->round)
    return SP_E_RANGE;
  TRY(sp_rd_binfix(r, pr->block, SP_HASH_LEN));
  TRY(sp_rd_binfix(r, pr->proposer, SP_PK_LEN));
  return sp_rd_binfix(r, pr->sig, SP_SIG_LEN);
}

int sp_proposal_signbytes(const struct sp_proposal *pr, struct sp_buf *out)
{
  ENCODE_INTO(out, w_proposal_signed(out, pr, 5));
}

int sp_proposal_encode(const struct sp_proposal *pr, struct sp_buf *out)
{
  ENCODE_INTO(out, sp__proposal_write(out, pr));
}

int sp_proposal_decode(const uint8_t *p, size_t n, struct sp_proposal *pr)
{
  memset(pr, 0, sizeof(*pr));
  DECODE_FROM(p, n, sp__proposal_read(r, pr));
}

static int proposal_sig(struct sp_proposal *pr, const uint8_t *chain_id,
                        const uint8_t *sk, int verify)
{
  struct sp_buf b;
  sp_buf_init(&b, SMALL_SIGNED);
  int rc = sp_proposal_signbytes(pr, &b);
  if (rc == SP_OK)
    rc = sign_small(pr->sig, SP_DOM_PROPOSAL, chain_id, sk, pr->proposer, verify, &b);
  sp_buf_free(&b);
  return rc;
}

int sp_proposal_sign(struct sp_proposal *pr, const uint8_t chain_id[static SP_HASH_LEN],
                     const uint8_t sk[static SP_SK_LEN])
{
  return proposal_sig(pr, chain_id, sk, 0);
}

int sp_proposal_verify(const struct sp_proposal *pr,
                       const uint8_t chain_id[static SP_HASH_LEN])
{
  return proposal_sig((struct sp_proposal *)pr, chain_id, NULL, 1);
}

/* ============================================================== blocks */

void sp__header_write(struct sp_buf *b, const struct sp_header *h)
{
  if (h->height == 0 || h->tx_count > SP_MAX_BLOCK_TXS)
    fail(b, SP_E_RANGE);
  sp_wr_array(b, 10);
  sp_wr_uint(b, SP_FORMAT_VERSION);
  sp_wr_bin(b, h->chain_id, SP_HASH_LEN);
  sp_wr_uint(b, h->height);
  sp_wr_bin(b, h->prev, SP_HASH_LEN);
  sp_wr_uint(b, h->time_ms);
  sp_wr_bin(b, h->proposer, SP_PK_LEN);
  sp_wr_bin(b, h->tx_root, SP_HASH_LEN);
  sp_wr_uint(b, h->tx_count);
  sp_wr_bin(b, h->last_commit_hash, SP_HASH_LEN);
  sp_wr_bin(b, h->state_digest, SP_HASH_LEN);
}

int sp__header_read(struct sp_rd *r, struct sp_header *h)
{
  const uint8_t *start = r->p;
  uint64_t count;
  TRY(sp_rd_array_exact(r, 10));
  TRY(r_version(r));
  TRY(sp_rd_binfix(r, h->chain_id, SP_HASH_LEN));
  TRY(sp_rd_uint(r, &h->height));
  if (h->height == 0)
    return SP_E_RANGE;
  TRY(sp_rd_binfix(r, h->prev, SP_HASH_LEN));
  TRY(sp_rd_uint(r, &h->time_ms));
  TRY(sp_rd_binfix(r, h->proposer, SP_PK_LEN));
  TRY(sp_rd_binfix(r, h->tx_root, SP_HASH_LEN));
  TRY(sp_rd_uint_max(r, &count, SP_MAX_BLOCK_TXS));
  h->tx_count = (uint32_t)count;
  TRY(sp_rd_binfix(r, h->last_commit_hash, SP_HASH_LEN));
  TRY(sp_rd_binfix(r, h->state_digest, SP_HASH_LEN));
  h->raw = start;
  h->raw_len = (size_t)(r->p - start);
  return SP_OK;
}

int sp_header_encode(const struct sp_header *h, struct sp_buf *out)
{
  ENCODE_INTO(out, sp__header_write(out, h));
}

int sp_header_decode(const uint8_t *p, size_t n, struct sp_header *h)
{
  memset(h, 0, sizeof(*h));
  DECODE_FROM(p, n, sp__header_read(r, h));
}

int sp_header_hash(const struct sp_header *h, uint8_t out[static SP_HASH_LEN])
{
  /* always re-encoded: a decoded header's raw bytes are canonical, so they
   * are the same bytes, and headers being built have no raw view */
  struct sp_buf b;
  sp_buf_init(&b, 256);
  int rc = sp_header_encode(h, &b);
  if (rc == SP_OK)
    rc = sp_hash_dom(out, SP_DOM_BLOCK, h->chain_id, b.data, b.len);
  sp_buf_free(&b);
  return rc;
}

/* Smallest possible encoded tx: a [body, sig] pair of at least ~100 bytes;
 * 64 is a safe lower bound used to refuse hostile counts early. */
#define TX_MIN_BYTES 64

/* The stateless links of a block to its predecessor: height 1 has no last
 * commit and a zero prev; later blocks carry the certificate of block
 * height-1, which is the block named by prev. */
static int block_links(const struct sp_block *blk)
{
  static const uint8_t zero[SP_HASH_LEN];
  const struct sp_header *h = &blk->header;
  if (h->height == 1) {
    if (blk->has_last_commit)
      return SP_E_RANGE;
    if (memcmp(h->prev, zero, SP_HASH_LEN) != 0)
      return SP_E_MISMATCH;
    return SP_OK;
  }
  if (!blk->has_last_commit)
    return SP_E_RANGE;
  if (blk->last_commit.height + 1 != h->height ||
      memcmp(blk->last_commit.block, h->prev, SP_HASH_LEN) != 0)
    return SP_E_MISMATCH;
  return SP_OK;
}

void sp__block_write(struct sp_buf *b, const struct sp_block *blk)
{
  size_t start = b->len;
  if (blk->header.tx_count != blk->n_txs)
    fail(b, SP_E_MISMATCH);
  int rc = block_links(blk);
  if (rc)
    fail(b, rc);
  sp_wr_array(b, 4);
  sp_wr_uint(b, SP_FORMAT_VERSION);
  sp__header_write(b, &blk->header);
  w_list(b, blk->n_txs, SP_MAX_BLOCK_TXS, 0);
  for (uint32_t i = 0; i < blk->n_txs && !b->err; i++)
    sp__tx_write(b, &blk->txs[i]);
  if (blk->has_last_commit)
    sp__cert_write(b, &blk->last_commit);
  else
    sp_wr_array(b, 0);
  if (b->len - start > SP_MAX_BLOCK_BYTES)
    fail(b, SP_E_TOOLONG);
}

int sp__block_read(struct sp_rd *r, struct sp_block *blk)
{
  const uint8_t *start = r->p;
  uint32_t n;
  TRY(sp_rd_array_exact(r, 4));
  TRY(r_version(r));
  TRY(sp__header_read(r, &blk->header));
  TRY(sp_rd_array_max(r, &n, SP_MAX_BLOCK_TXS, 0));
  if (n != blk->header.tx_count)
    return SP_E_MISMATCH;
  if ((uint64_t)n * TX_MIN_BYTES > (uint64_t)(r->end - r->p))
    return SP_E_TOOMANY;
  if (n > 0) {
    blk->txs = calloc(n, sizeof(*blk->txs));
    if (blk->txs == NULL)
      return SP_E_NOMEM;
  }
  for (uint32_t i = 0; i < n; i++) {
    blk->n_txs = i + 1; /* so a failed decode frees what was allocated */
    TRY(sp__tx_read(r, &blk->txs[i]));
  }
  /* the last commit is [] at height 1 and a certificate afterwards */
  const uint8_t *mark = r->p;
  uint32_t m;
  TRY(sp_rd_array(r, &m));
  if (m != 0) {
    r->p = mark;
    TRY(sp__cert_read(r, &blk->last_commit));
    blk->has_last_commit = true;
  }
  TRY(block_links(blk));
  if ((size_t)(r->p - start) > SP_MAX_BLOCK_BYTES)
    return SP_E_TOOLONG;
  blk->raw = start;
  blk->raw_len = (size_t)(r->p - start);
  return SP_OK;
}

int sp_block_encode(const struct sp_block *blk, struct sp_buf *out)
{
  ENCODE_INTO(out, sp__block_write(out, blk));
}

int sp_block_decode(const uint8_t *p, size_t n, struct sp_block *blk)
{
  memset(blk, 0, sizeof(*blk));
  if (n > SP_MAX_BLOCK_BYTES)
    return SP_E_TOOLONG;
  int rc = sp_msgpack_check(p, n, SP_MAX_DEPTH);
  if (rc == SP_OK) {
    struct sp_rd r = sp_rd_init(p, n);
    rc = sp__block_read(&r, blk);
    if (rc == SP_OK)
      rc = sp_rd_done(&r);
  }
  if (rc)
    sp_block_clear(blk);
  return rc;
}

void sp_block_clear(struct sp_block *blk)
{
  if (blk == NULL)
    return;
  for (uint32_t i = 0; i < blk->n_txs && blk->txs; i++)
    sp_tx_clear(&blk->txs[i]);
  free(blk->txs);
  memset(blk, 0, sizeof(*blk));
}
