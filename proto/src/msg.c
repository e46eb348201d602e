#include "sp/msg.h"

#include <stdlib.h>
#include <string.h>

#include "wire.h"

static const char *const type_names[] = {
    [SP_MSG_HELLO] = "hello",         [SP_MSG_AUTH] = "auth",
    [SP_MSG_ERROR] = "error",         [SP_MSG_SUBMIT] = "submit",
    [SP_MSG_RESULT] = "result",       [SP_MSG_TX_STATUS] = "tx-status",
    [SP_MSG_BALANCE_Q] = "balance-q", [SP_MSG_BALANCE_A] = "balance-a",
    [SP_MSG_HISTORY_Q] = "history-q", [SP_MSG_HISTORY_A] = "history-a",
    [SP_MSG_PROOF_Q] = "proof-q",     [SP_MSG_PROOF_A] = "proof-a",
    [SP_MSG_STATUS_Q] = "status-q",   [SP_MSG_STATUS_A] = "status-a",
    [SP_MSG_BLOCKS_Q] = "blocks-q",   [SP_MSG_BLOCKS_A] = "blocks-a",
    [SP_MSG_PROPOSAL] = "proposal",   [SP_MSG_VOTE] = "vote",
    [SP_MSG_FUNDS_Q] = "funds-q",     [SP_MSG_FUNDS_A] = "funds-a",
};

/* Fields after [version, type, req_id]. */
static const uint8_t type_fields[] = {
    [SP_MSG_HELLO] = 2,     [SP_MSG_AUTH] = 4,      [SP_MSG_ERROR] = 2,
    [SP_MSG_SUBMIT] = 1,    [SP_MSG_RESULT] = 7,    [SP_MSG_TX_STATUS] = 1,
    [SP_MSG_BALANCE_Q] = 1, [SP_MSG_BALANCE_A] = 5, [SP_MSG_HISTORY_Q] = 3,
    [SP_MSG_HISTORY_A] = 2, [SP_MSG_PROOF_Q] = 1,   [SP_MSG_PROOF_A] = 6,
    [SP_MSG_STATUS_Q] = 0,  [SP_MSG_STATUS_A] = 8,  [SP_MSG_BLOCKS_Q] = 2,
    [SP_MSG_BLOCKS_A] = 1,  [SP_MSG_PROPOSAL] = 2,  [SP_MSG_VOTE] = 1,
    [SP_MSG_FUNDS_Q] = 1,   [SP_MSG_FUNDS_A] = 1,
};

const char *sp_msg_type_name(uint32_t type)
{
  return type >= 1 && type <= SP_MSG__MAX ? type_names[type] : NULL;
}

/* ---------------------------------------------------------- shared parts */

static int r_proof(struct sp_rd *r, uint32_t *n, uint8_t (*path)[SP_HASH_LEN])
{
  TRY(sp_rd_array_max(r, n, SP_MAX_PROOF, 0));
  for (uint32_t i = 0; i < *n; i++)
    TRY(sp_rd_binfix(r, path[i], SP_HASH_LEN));
  return SP_OK;
}

static void w_proof(struct sp_buf *b, uint32_t n, const uint8_t (*path)[SP_HASH_LEN])
{
  w_list(b, n, SP_MAX_PROOF, 0);
  for (uint32_t i = 0; i < n && i < SP_MAX_PROOF; i++)
    sp_wr_bin(b, path[i], SP_HASH_LEN);
}

static int r_enum(struct sp_rd *r, uint32_t *v, uint32_t lo, uint32_t hi)
{
  uint64_t x;
  TRY(sp_rd_uint(r, &x));
  if (x < lo || x > hi)
    return SP_E_RANGE;
  *v = (uint32_t)x;
  return SP_OK;
}

static void w_enum(struct sp_buf *b, uint32_t v, uint32_t lo, uint32_t hi)
{
  if (v < lo || v > hi)
    fail(b, SP_E_RANGE);
  sp_wr_uint(b, v);
}

/* A certificate must be for the block it accompanies. */
static int cert_matches(const struct sp_cert *c, const struct sp_header *h)
{
  uint8_t hash[SP_HASH_LEN];
  TRY(sp_header_hash(h, hash));
  if (c->height != h->height || memcmp(c->block, hash, SP_HASH_LEN) != 0)
    return SP_E_MISMATCH;
  return SP_OK;
}

/* Least bytes one element of a list can take, to refuse a count before the
 * allocation it would cause: a history row holds a tx (> 64 bytes), a block
 * entry a header and a certificate (> 190 bytes together), a fund row at
 * least 25 bytes (array16 header 3, id 2, name 2, one category 3, 14
 * integers of 1 byte, an empty spending list 1). */
#define HISTORY_ROW_MIN 64
#define BLOCK_ENTRY_MIN 190
#define FUND_ROW_MIN 25

static int alloc_rows(struct sp_rd *r, uint32_t n, size_t min_bytes, size_t elem,
                      void **out)
{
  if ((uint64_t)n * min_bytes > (uint64_t)(r->end - r->p))
    return SP_E_TOOMANY;
  if (n == 0)
    return SP_OK;
  *out = calloc(n, elem);
  return *out ? SP_OK : SP_E_NOMEM;
}

static int proposal_matches(const struct sp_msg_proposal *pm)
{
  uint8_t hash[SP_HASH_LEN];
  TRY(sp_header_hash(&pm->block.header, hash));
  if (pm->block.header.height != pm->proposal.height ||
      memcmp(pm->proposal.block, hash, SP_HASH_LEN) != 0)
    return SP_E_MISMATCH;
  return SP_OK;
}

/* A fund filter: "" for all funds, else a fund id (identifier rule). */
static int r_fund_filter(struct sp_rd *r, struct sp_str *s)
{
  TRY(sp_rd_str(r, s, SP_MAX_ID));
  return s->len == 0 || sp_ident_valid(s->p, s->len) ? SP_OK : SP_E_CHARSET;
}

static void w_fund_filter(struct sp_buf *b, struct sp_str s)
{
  if (s.len == 0)
    sp_wr_str(b, "", 0);
  else
    w_ident(b, s);
}

/* [id, name, categories, valid_from_ms, valid_until_ms, max_payment, closed,
 *  deposited, unissued, passes, receivable, claimed, settled, returned,
 *  issued, spent, refunded, spending] */
static int r_fund_row(struct sp_rd *r, struct sp_fund_row *f)
{
  uint32_t closed;
  TRY(sp_rd_array_exact(r, 18));
  TRY(sp_rd_ident(r, &f->id));
  TRY(r_text_req(r, &f->name, SP_MAX_NAME));
  TRY(r_catlist(r, &f->categories));
  TRY(sp_rd_uint(r, &f->valid_from_ms));
  TRY(sp_rd_uint(r, &f->valid_until_ms));
  TRY(r_amount(r, &f->max_payment));
  TRY(r_enum(r, &closed, 0, 1));
  f->closed = closed == 1;
  TRY(r_amount(r, &f->deposited));
  TRY(r_amount(r, &f->unissued));
  TRY(r_amount(r, &f->passes));
  TRY(r_amount(r, &f->receivable));
  TRY(r_amount(r, &f->claimed));
  TRY(r_amount(r, &f->settled));
  TRY(r_amount(r, &f->returned));
  TRY(sp_rd_uint(r, &f->issued));
  TRY(sp_rd_uint(r, &f->spent));
  TRY(sp_rd_uint(r, &f->refunded));
  TRY(sp_rd_array_max(r, &f->n_spending, SP_MAX_CATEGORIES, 0));
  for (uint32_t i = 0; i < f->n_spending; i++) {
    TRY(sp_rd_array_exact(r, 2));
    TRY(sp_rd_ident(r, &f->spending[i].category));
    TRY(sp_rd_uint(r, &f->spending[i].cents));
    if (i > 0 && sp_str_cmp(f->spending[i - 1].category, f->spending[i].category) >= 0)
      return SP_E_ORDER;
  }
  return SP_OK;
}

static void w_fund_row(struct sp_buf *b, const struct sp_fund_row *f)
{
  sp_wr_array(b, 18);
  w_ident(b, f->id);
  w_text_req(b, f->name, SP_MAX_NAME);
  w_catlist(b, &f->categories);
  sp_wr_uint(b, f->valid_from_ms);
  sp_wr_uint(b, f->valid_until_ms);
  w_amount(b, f->max_payment);
  sp_wr_uint(b, f->closed ? 1 : 0);
  w_amount(b, f->deposited);
  w_amount(b, f->unissued);
  w_amount(b, f->passes);
  w_amount(b, f->receivable);
  w_amount(b, f->claimed);
  w_amount(b, f->settled);
  w_amount(b, f->returned);
  sp_wr_uint(b, f->issued);
  sp_wr_uint(b, f->spent);
  sp_wr_uint(b, f->refunded);
  w_list(b, f->n_spending, SP_MAX_CATEGORIES, 0);
  for (uint32_t i = 0; i < f->n_spending && i < SP_MAX_CATEGORIES; i++) {
    if (i > 0 && sp_str_cmp(f->spending[i - 1].category, f->spending[i].category) >= 0)
      fail(b, SP_E_ORDER);
    sp_wr_array(b, 2);
    w_ident(b, f->spending[i].category);
    sp_wr_uint(b, f->spending[i].cents);
  }
}

/* --------------------------------------------------------------- decode */

static int r_fields(struct sp_rd *r, struct sp_msg *m)
{
  switch (m->type) {
  case SP_MSG_HELLO:
    TRY(sp_rd_binfix(r, m->u.hello.chain_id, SP_HASH_LEN));
    return sp_rd_binfix(r, m->u.hello.eph, SP_KX_LEN);
  case SP_MSG_AUTH:
    TRY(sp_rd_binfix(r, m->u.auth.pk, SP_PK_LEN));
    TRY(r_enum(r, &m->u.auth.role, SP_ROLE_VALIDATOR, SP_ROLE_WALLET));
    TRY(sp_rd_str(r, &m->u.auth.agent, SP_MAX_AGENT));
    return sp_rd_binfix(r, m->u.auth.sig, SP_SIG_LEN);
  case SP_MSG_ERROR:
    TRY(r_u32(r, &m->u.error.code));
    return sp_rd_str(r, &m->u.error.message, SP_MAX_REASON);
  case SP_MSG_SUBMIT:
    return sp__tx_read(r, &m->u.submit);
  case SP_MSG_RESULT: {
    struct sp_msg_result *res = &m->u.result;
    TRY(sp_rd_binfix(r, res->txid, SP_HASH_LEN));
    TRY(r_enum(r, &res->status, SP_TXS_COMMITTED, SP_TXS_UNKNOWN));
    TRY(sp_rd_uint(r, &res->height));
    TRY(r_u32(r, &res->index));
    TRY(r_u32(r, &res->reason));
    TRY(sp_rd_str(r, &res->message, SP_MAX_REASON));
    return r_proof(r, &res->n_proof, res->proof);
  }
  case SP_MSG_TX_STATUS:
  case SP_MSG_PROOF_Q:
    return sp_rd_binfix(r, m->u.txid.txid, SP_HASH_LEN);
  case SP_MSG_BALANCE_Q:
    return sp_rd_binfix(r, m->u.account.account, SP_PK_LEN);
  case SP_MSG_BALANCE_A: {
    struct sp_msg_balance *bal = &m->u.balance;
    TRY(sp_rd_binfix(r, bal->account, SP_PK_LEN));
    TRY(r_enum(r, &bal->kind, SP_ACCT_UNKNOWN, SP_ACCT_MERCHANT));
    TRY(r_enum(r, &bal->status, 0, SP_ACCT_SUSPENDED));
    TRY(sp_rd_uint(r, &bal->seq));
    TRY(sp_rd_array_max(r, &bal->n_rows, SP_MAX_BALANCES, 0));
    for (uint32_t i = 0; i < bal->n_rows; i++) {
      TRY(sp_rd_array_exact(r, 2));
      TRY(sp_rd_ident(r, &bal->rows[i].fund));
      TRY(r_amount(r, &bal->rows[i].amount));
      if (i > 0 && sp_str_cmp(bal->rows[i - 1].fund, bal->rows[i].fund) >= 0)
        return SP_E_ORDER;
    }
    return SP_OK;
  }
  case SP_MSG_HISTORY_Q:
    TRY(sp_rd_binfix(r, m->u.history_q.account, SP_PK_LEN));
    TRY(sp_rd_uint(r, &m->u.history_q.before));
    TRY(r_enum(r, &m->u.history_q.limit, 1, SP_MAX_HISTORY));
    return SP_OK;
  case SP_MSG_HISTORY_A: {
    struct sp_msg_history *h = &m->u.history;
    uint32_t n;
    TRY(sp_rd_array_max(r, &n, SP_MAX_HISTORY, 0));
    TRY(alloc_rows(r, n, HISTORY_ROW_MIN, sizeof(*h->rows), (void **)&h->rows));
    for (uint32_t i = 0; i < n; i++) {
      struct sp_history_row *row = &h->rows[i];
      h->n_rows = i + 1; /* a failed decode frees what was allocated */
      TRY(sp_rd_array_exact(r, 4));
      TRY(sp_rd_uint(r, &row->height));
      TRY(r_u32(r, &row->index));
      TRY(sp_rd_uint(r, &row->time_ms));
      TRY(sp__tx_read(r, &row->tx));
    }
    return sp_rd_uint(r, &h->next);
  }
  case SP_MSG_PROOF_A: {
    struct sp_msg_proof *pf = &m->u.proof;
    TRY(sp__tx_read(r, &pf->tx));
    TRY(sp_rd_uint(r, &pf->height));
    TRY(r_u32(r, &pf->index));
    TRY(r_proof(r, &pf->n_proof, pf->proof));
    TRY(sp__header_read(r, &pf->header));
    TRY(sp__cert_read(r, &pf->cert));
    if (pf->height != pf->header.height || pf->index >= pf->header.tx_count)
      return SP_E_MISMATCH;
    return cert_matches(&pf->cert, &pf->header);
  }
  case SP_MSG_STATUS_Q:
    return SP_OK;
  case SP_MSG_STATUS_A: {
    struct sp_msg_status *st = &m->u.status;
    TRY(sp_rd_binfix(r, st->chain_id, SP_HASH_LEN));
    TRY(sp_rd_uint(r, &st->height));
    TRY(sp_rd_binfix(r, st->tip, SP_HASH_LEN));
    TRY(sp_rd_binfix(r, st->state_digest, SP_HASH_LEN));
    TRY(r_enum(r, &st->role, SP_ROLE_VALIDATOR, SP_ROLE_OBSERVER));
    TRY(r_u32(r, &st->peers));
    TRY(r_u32(r, &st->mempool));
    return sp_rd_str(r, &st->version, SP_MAX_AGENT);
  }
  case SP_MSG_BLOCKS_Q:
    TRY(sp_rd_uint(r, &m->u.blocks_q.from));
    if (m->u.blocks_q.from == 0)
      return SP_E_RANGE;
    return r_enum(r, &m->u.blocks_q.count, 1, SP_MAX_BLOCKS_PER_RESPONSE);
  case SP_MSG_BLOCKS_A: {
    struct sp_msg_blocks *bl = &m->u.blocks;
    uint32_t n;
    TRY(sp_rd_array_max(r, &n, SP_MAX_BLOCKS_PER_RESPONSE, 0));
    TRY(alloc_rows(r, n, BLOCK_ENTRY_MIN, sizeof(*bl->v), (void **)&bl->v));
    for (uint32_t i = 0; i < n; i++) {
      bl->n = i + 1;
      TRY(sp_rd_array_exact(r, 2));
      TRY(sp__block_read(r, &bl->v[i].block));
      TRY(sp__cert_read(r, &bl->v[i].cert));
      TRY(cert_matches(&bl->v[i].cert, &bl->v[i].block.header));
      if (i > 0 && bl->v[i].block.header.height != bl->v[i - 1].block.header.height + 1)
        return SP_E_MISMATCH;
    }
    return SP_OK;
  }
  case SP_MSG_PROPOSAL:
    TRY(sp__proposal_read(r, &m->u.proposal.proposal));
    TRY(sp__block_read(r, &m->u.proposal.block));
    return proposal_matches(&m->u.proposal);
  case SP_MSG_VOTE:
    return sp__vote_read(r, &m->u.vote);
  case SP_MSG_FUNDS_Q:
    return r_fund_filter(r, &m->u.funds_q.fund);
  case SP_MSG_FUNDS_A: {
    struct sp_msg_funds *fu = &m->u.funds;
    uint32_t n;
    TRY(sp_rd_array_max(r, &n, SP_MAX_FUNDS, 0));
    TRY(alloc_rows(r, n, FUND_ROW_MIN, sizeof(*fu->rows), (void **)&fu->rows));
    for (uint32_t i = 0; i < n; i++) {
      fu->n = i + 1;
      TRY(r_fund_row(r, &fu->rows[i]));
      if (i > 0 && sp_str_cmp(fu->rows[i - 1].id, fu->rows[i].id) >= 0)
        return SP_E_ORDER;
    }
    return SP_OK;
  }
  default:
    return SP_E_KIND;
  }
}

int sp_msg_decode(const uint8_t *p, size_t n, struct sp_msg *m)
{
  memset(m, 0, sizeof(*m));
  if (n > SP_MAX_FRAME)
    return SP_E_FRAME_TOO_BIG;
  int rc = sp_msgpack_check(p, n, SP_MAX_DEPTH);
  if (rc)
    return rc;
  struct sp_rd rd = sp_rd_init(p, n), *r = &rd;
  uint32_t count;
  uint64_t type;
  if ((rc = sp_rd_array(r, &count)) || count < 3) {
    rc = rc ? rc : SP_E_COUNT;
  } else if ((rc = r_version(r)) || (rc = sp_rd_uint(r, &type))) {
    /* rc set */
  } else if (type < 1 || type > SP_MSG__MAX) {
    rc = SP_E_KIND;
  } else if (count != 3u + type_fields[type]) {
    rc = SP_E_COUNT;
  } else if (!(rc = r_u32(r, &m->req_id))) {
    m->type = (uint32_t)type;
    rc = r_fields(r, m);
    if (rc == SP_OK)
      rc = sp_rd_done(r);
  }
  if (rc)
    sp_msg_clear(m);
  return rc;
}

/* --------------------------------------------------------------- encode */

static void w_fields(struct sp_buf *b, const struct sp_msg *m)
{
  switch (m->type) {
  case SP_MSG_HELLO:
    sp_wr_bin(b, m->u.hello.chain_id, SP_HASH_LEN);
    sp_wr_bin(b, m->u.hello.eph, SP_KX_LEN);
    break;
  case SP_MSG_AUTH:
    sp_wr_bin(b, m->u.auth.pk, SP_PK_LEN);
    w_enum(b, m->u.auth.role, SP_ROLE_VALIDATOR, SP_ROLE_WALLET);
    w_text(b, m->u.auth.agent, SP_MAX_AGENT);
    sp_wr_bin(b, m->u.auth.sig, SP_SIG_LEN);
    break;
  case SP_MSG_ERROR:
    sp_wr_uint(b, m->u.error.code);
    w_text(b, m->u.error.message, SP_MAX_REASON);
    break;
  case SP_MSG_SUBMIT:
    sp__tx_write(b, &m->u.submit);
    break;
  case SP_MSG_RESULT: {
    const struct sp_msg_result *res = &m->u.result;
    sp_wr_bin(b, res->txid, SP_HASH_LEN);
    w_enum(b, res->status, SP_TXS_COMMITTED, SP_TXS_UNKNOWN);
    sp_wr_uint(b, res->height);
    sp_wr_uint(b, res->index);
    sp_wr_uint(b, res->reason);
    w_text(b, res->message, SP_MAX_REASON);
    w_proof(b, res->n_proof, (const uint8_t(*)[SP_HASH_LEN])res->proof);
    break;
  }
  case SP_MSG_TX_STATUS:
  case SP_MSG_PROOF_Q:
    sp_wr_bin(b, m->u.txid.txid, SP_HASH_LEN);
    break;
  case SP_MSG_BALANCE_Q:
    sp_wr_bin(b, m->u.account.account, SP_PK_LEN);
    break;
  case SP_MSG_BALANCE_A: {
    const struct sp_msg_balance *bal = &m->u.balance;
    sp_wr_bin(b, bal->account, SP_PK_LEN);
    w_enum(b, bal->kind, SP_ACCT_UNKNOWN, SP_ACCT_MERCHANT);
    w_enum(b, bal->status, 0, SP_ACCT_SUSPENDED);
    sp_wr_uint(b, bal->seq);
    w_list(b, bal->n_rows, SP_MAX_BALANCES, 0);
    for (uint32_t i = 0; i < bal->n_rows && i < SP_MAX_BALANCES; i++) {
      if (i > 0 && sp_str_cmp(bal->rows[i - 1].fund, bal->rows[i].fund) >= 0)
        fail(b, SP_E_ORDER);
      sp_wr_array(b, 2);
      w_ident(b, bal->rows[i].fund);
      w_amount(b, bal->rows[i].amount);
    }
    break;
  }
  case SP_MSG_HISTORY_Q:
    sp_wr_bin(b, m->u.history_q.account, SP_PK_LEN);
    sp_wr_uint(b, m->u.history_q.before);
    w_enum(b, m->u.history_q.limit, 1, SP_MAX_HISTORY);
    break;
  case SP_MSG_HISTORY_A: {
    const struct sp_msg_history *h = &m->u.history;
    w_list(b, h->n_rows, SP_MAX_HISTORY, 0);
    for (uint32_t i = 0; i < h->n_rows && i < SP_MAX_HISTORY; i++) {
      sp_wr_array(b, 4);
      sp_wr_uint(b, h->rows[i].height);
      sp_wr_uint(b, h->rows[i].index);
      sp_wr_uint(b, h->rows[i].time_ms);
      sp__tx_write(b, &h->rows[i].tx);
    }
    sp_wr_uint(b, h->next);
    break;
  }
  case SP_MSG_PROOF_A: {
    const struct sp_msg_proof *pf = &m->u.proof;
    sp__tx_write(b, &pf->tx);
    sp_wr_uint(b, pf->height);
    sp_wr_uint(b, pf->index);
    w_proof(b, pf->n_proof, (const uint8_t(*)[SP_HASH_LEN])pf->proof);
    if (pf->height != pf->header.height || pf->index >= pf->header.tx_count ||
        cert_matches(&pf->cert, &pf->header))
      fail(b, SP_E_MISMATCH);
    sp__header_write(b, &pf->header);
    sp__cert_write(b, &pf->cert);
    break;
  }
  case SP_MSG_STATUS_Q:
    break;
  case SP_MSG_STATUS_A: {
    const struct sp_msg_status *st = &m->u.status;
    sp_wr_bin(b, st->chain_id, SP_HASH_LEN);
    sp_wr_uint(b, st->height);
    sp_wr_bin(b, st->tip, SP_HASH_LEN);
    sp_wr_bin(b, st->state_digest, SP_HASH_LEN);
    w_enum(b, st->role, SP_ROLE_VALIDATOR, SP_ROLE_OBSERVER);
    sp_wr_uint(b, st->peers);
    sp_wr_uint(b, st->mempool);
    w_text(b, st->version, SP_MAX_AGENT);
    break;
  }
  case SP_MSG_BLOCKS_Q:
    if (m->u.blocks_q.from == 0)
      fail(b, SP_E_RANGE);
    sp_wr_uint(b, m->u.blocks_q.from);
    w_enum(b, m->u.blocks_q.count, 1, SP_MAX_BLOCKS_PER_RESPONSE);
    break;
  case SP_MSG_BLOCKS_A: {
    const struct sp_msg_blocks *bl = &m->u.blocks;
    w_list(b, bl->n, SP_MAX_BLOCKS_PER_RESPONSE, 0);
    for (uint32_t i = 0; i < bl->n && i < SP_MAX_BLOCKS_PER_RESPONSE && !b->err; i++) {
      const struct sp_block_entry *e = &bl->v[i];
      if (cert_matches(&e->cert, &e->block.header) ||
          (i > 0 && e->block.header.height != bl->v[i - 1].block.header.height + 1))
        fail(b, SP_E_MISMATCH);
      sp_wr_array(b, 2);
      sp__block_write(b, &e->block);
      sp__cert_write(b, &e->cert);
    }
    break;
  }
  case SP_MSG_PROPOSAL:
    if (proposal_matches(&m->u.proposal))
      fail(b, SP_E_MISMATCH);
    sp__proposal_write(b, &m->u.proposal.proposal);
    sp__block_write(b, &m->u.proposal.block);
    break;
  case SP_MSG_VOTE:
    sp__vote_write(b, &m->u.vote);
    break;
  case SP_MSG_FUNDS_Q:
    w_fund_filter(b, m->u.funds_q.fund);
    break;
  case SP_MSG_FUNDS_A: {
    const struct sp_msg_funds *fu = &m->u.funds;
    w_list(b, fu->n, SP_MAX_FUNDS, 0);
    for (uint32_t i = 0; i < fu->n && i < SP_MAX_FUNDS && !b->err; i++) {
      w_fund_row(b, &fu->rows[i]);
      if (i > 0 && sp_str_cmp(fu->rows[i - 1].id, fu->rows[i].id) >= 0)
        fail(b, SP_E_ORDER);
    }
    break;
  }
  default:
    fail(b, SP_E_KIND);
  }
}

static void w_msg(struct sp_buf *b, const struct sp_msg *m)
{
  if (m->type < 1 || m->type > SP_MSG__MAX) {
    fail(b, SP_E_KIND);
    return;
  }
  size_t start = b->len;
  sp_wr_array(b, 3u + type_fields[m->type]);
  sp_wr_uint(b, SP_FORMAT_VERSION);
  sp_wr_uint(b, m->type);
  sp_wr_uint(b, m->req_id);
  w_fields(b, m);
  if (b->len - start > SP_MAX_FRAME)
    fail(b, SP_E_FRAME_TOO_BIG);
}

int sp_msg_encode(const struct sp_msg *m, struct sp_buf *out)
{
  ENCODE_INTO(out, w_msg(out, m));
}

void sp_msg_clear(struct sp_msg *m)
{
  if (m == NULL)
    return;
  switch (m->type) {
  case SP_MSG_SUBMIT:
    sp_tx_clear(&m->u.submit);
    break;
  case SP_MSG_HISTORY_A:
    for (uint32_t i = 0; i < m->u.history.n_rows && m->u.history.rows; i++)
      sp_tx_clear(&m->u.history.rows[i].tx);
    free(m->u.history.rows);
    break;
  case SP_MSG_PROOF_A:
    sp_tx_clear(&m->u.proof.tx);
    break;
  case SP_MSG_BLOCKS_A:
    for (uint32_t i = 0; i < m->u.blocks.n && m->u.blocks.v; i++)
      sp_block_clear(&m->u.blocks.v[i].block);
    free(m->u.blocks.v);
    break;
  case SP_MSG_PROPOSAL:
    sp_block_clear(&m->u.proposal.block);
    break;
  case SP_MSG_FUNDS_A:
    free(m->u.funds.rows);
    break;
  default:
    break;
  }
  memset(m, 0, sizeof(*m));
}

static void w_auth_signed(struct sp_buf *b, const uint8_t *pk, uint32_t role,
                          const uint8_t *own_eph, const uint8_t *peer_eph)
{
  if (role < SP_ROLE_VALIDATOR || role > SP_ROLE_WALLET)
    fail(b, SP_E_RANGE);
  sp_wr_array(b, 5);
  sp_wr_uint(b, SP_FORMAT_VERSION);
  sp_wr_bin(b, pk, SP_PK_LEN);
  sp_wr_uint(b, role);
  sp_wr_bin(b, own_eph, SP_KX_LEN);
  sp_wr_bin(b, peer_eph, SP_KX_LEN);
}

int sp_auth_signbytes(const uint8_t pk[static SP_PK_LEN], uint32_t role,
                      const uint8_t own_eph[static SP_KX_LEN],
                      const uint8_t peer_eph[static SP_KX_LEN], struct sp_buf *out)
{
  ENCODE_INTO(out, w_auth_signed(out, pk, role, own_eph, peer_eph));
}

void sp_msg_blocks_item(struct sp_buf *items, const uint8_t *block, size_t len,
                        const struct sp_cert *cert)
{
  sp_wr_array(items, 2);
  sp_buf_append(items, block, len);
  sp__cert_write(items, cert);
}

void sp_msg_blocks_a(struct sp_buf *out, uint32_t req_id, uint32_t count,
                     const struct sp_buf *items)
{
  sp_wr_array(out, 4);
  sp_wr_uint(out, SP_FORMAT_VERSION);
  sp_wr_uint(out, SP_MSG_BLOCKS_A);
  sp_wr_uint(out, req_id);
  sp_wr_array(out, count);
  sp_buf_append(out, items->data, items->len);
}

uint64_t sp_msg_peek_type(const uint8_t *p, size_t n)
{
  struct sp_rd r = sp_rd_init(p, n);
  uint32_t count;
  uint64_t version, type;
  if (sp_rd_array(&r, &count) || count < 3 || sp_rd_uint(&r, &version) ||
      sp_rd_uint(&r, &type))
    return 0;
  return type;
}
