/* Seed-corpus generator for the fuzz harnesses.
 *
 *     make_corpus OUTDIR [VECTORS_DIR]
 *
 * writes a few small, valid, canonically encoded inputs for every harness
 * into OUTDIR/<harness>/ (fuzz_tx, fuzz_block, ...). Everything is built
 * with the library's own encoders from fixed seeds, and signed with the fuzz
 * chain id and validator keys of fuzz_common.h, so the output is
 * deterministic and the seeds' signatures verify in the harnesses.
 *
 * With VECTORS_DIR (tests/vectors), the golden vectors there (*.vec: the
 * concatenated `hex:` lines are one encoding) are added too, each to the
 * harness of its kind by file name (tx-*, block-*, msg-*, ...) and all of
 * them to fuzz_msgpack_check. A missing or unreadable directory is skipped. */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static const char *outdir;
static int failures;

static void put(const char *harness, const char *name, const void *p, size_t n)
{
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", outdir, harness);
  if (mkdir(path, 0777) != 0 && errno != EEXIST) {
    perror(path);
    exit(1);
  }
  snprintf(path, sizeof(path), "%s/%s/%s", outdir, harness, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

static void put_buf(const char *harness, const char *name, int rc, struct sp_buf *b)
{
  if (rc != SP_OK) {
    fprintf(stderr, "make_corpus: encoding %s/%s failed: %s\n", harness, name,
            sp_strerror(rc));
    failures++;
  } else {
    put(harness, name, b->data, b->len);
  }
  sp_buf_reset(b);
}

static void must(int rc, const char *what)
{
  if (rc != SP_OK) {
    fprintf(stderr, "make_corpus: %s: %s\n", what, sp_strerror(rc));
    exit(1);
  }
}

/* ------------------------------------------------------------- keys */

static uint8_t auth_pk[SP_PK_LEN], auth_sk[SP_SK_LEN];
static uint8_t house_pk[SP_PK_LEN], house_sk[SP_SK_LEN];
static uint8_t merch_pk[SP_PK_LEN], merch_sk[SP_SK_LEN];
static uint8_t pass_pk[3][SP_PK_LEN]; /* sorted */
static uint8_t val_pk[FUZZ_VALIDATORS][SP_PK_LEN], val_sk[FUZZ_VALIDATORS][SP_SK_LEN];

static void keys(void)
{
  uint8_t sk[SP_SK_LEN];
  fuzz_key(0x01, auth_pk, auth_sk);
  fuzz_key(0x02, house_pk, house_sk);
  fuzz_key(0x03, merch_pk, merch_sk);
  for (int i = 0; i < 3; i++)
    fuzz_key((uint8_t)(0x20 + i), pass_pk[i], sk);
  for (int i = 1; i < 3; i++)
    for (int j = i; j > 0 && memcmp(pass_pk[j - 1], pass_pk[j], SP_PK_LEN) > 0; j--) {
      uint8_t t[SP_PK_LEN];
      memcpy(t, pass_pk[j], SP_PK_LEN);
      memcpy(pass_pk[j], pass_pk[j - 1], SP_PK_LEN);
      memcpy(pass_pk[j - 1], t, SP_PK_LEN);
    }
  fuzz_validator_keys(val_pk, val_sk);
}

/* ------------------------------------------------------------- txs */

#define N_TX_SAMPLES (SP_TX__MAX + 1)
static struct sp_issue_row issue_rows[3];

/* Fill tx with sample number i (one per kind 1..SP_TX__MAX, then a second
 * payment);
 * returns its name. Signed by the right role's key. */
static const char *sample_tx(int i, struct sp_tx *tx)
{
  memset(tx, 0, sizeof(*tx));
  const uint8_t *sk = auth_sk;
  memcpy(tx->signer, auth_pk, SP_PK_LEN);
  tx->seq = (uint64_t)i + 1;
  int kind = i < SP_TX__MAX ? i + 1 : SP_TX_PAY;
  tx->kind = (uint32_t)kind;
  switch (kind) {
  case SP_TX_FUND_CREATE: {
    struct sp_tx_fund_create *f = &tx->u.fund_create;
    f->fund = sp_str_c("kindpakket-2025");
    f->name = sp_str_c("Kindpakket 2025 (Groningen)");
    f->categories.n = 3;
    f->categories.v[0] = sp_str_c("clothing");
    f->categories.v[1] = sp_str_c("school");
    f->categories.v[2] = sp_str_c("sport");
    f->valid_from_ms = UINT64_C(1735689600000);
    f->valid_until_ms = UINT64_C(1767225600000);
    f->max_payment = 25000;
    break;
  }
  case SP_TX_FUND_DEPOSIT:
    tx->u.fund_deposit.fund = sp_str_c("kindpakket-2025");
    tx->u.fund_deposit.amount = UINT64_C(1000000000);
    tx->u.fund_deposit.bank_ref = sp_str_c("NL91ABNA0417164300/2025-001");
    break;
  case SP_TX_FUND_CLOSE: tx->u.fund_close.fund = sp_str_c("kindpakket-2024"); break;
  case SP_TX_PASS_ENROLL:
    memcpy(tx->u.pass_enroll.pass, pass_pk[0], SP_PK_LEN);
    sp_hash(tx->u.pass_enroll.household, "household-42", 12);
    break;
  case SP_TX_PASS_BLOCK:
  case SP_TX_PASS_UNBLOCK:
    memcpy(tx->u.reason.account, pass_pk[1], SP_PK_LEN);
    tx->u.reason.reason =
        sp_str_c(kind == SP_TX_PASS_BLOCK ? "pas verloren" : "gevonden");
    break;
  case SP_TX_PASS_REPLACE:
    memcpy(tx->u.pass_replace.old_pass, pass_pk[1], SP_PK_LEN);
    memcpy(tx->u.pass_replace.new_pass, pass_pk[2], SP_PK_LEN);
    break;
  case SP_TX_MERCHANT_REGISTER:
  case SP_TX_MERCHANT_UPDATE:
    memcpy(tx->u.merchant.merchant, merch_pk, SP_PK_LEN);
    tx->u.merchant.name = sp_str_c("Sportwinkel Zuid \xc3\xa9\xc3\xa9n");
    tx->u.merchant.categories.n = kind == SP_TX_MERCHANT_REGISTER ? 1 : 2;
    tx->u.merchant.categories.v[0] = sp_str_c("clothing");
    tx->u.merchant.categories.v[1] = sp_str_c("sport");
    break;
  case SP_TX_MERCHANT_SUSPEND:
  case SP_TX_MERCHANT_REINSTATE:
    memcpy(tx->u.reason.account, merch_pk, SP_PK_LEN);
    tx->u.reason.reason = sp_str_c(kind == SP_TX_MERCHANT_SUSPEND ? "onderzoek" : "ok");
    break;
  case SP_TX_ISSUE:
    tx->u.issue.fund = sp_str_c("kindpakket-2025");
    tx->u.issue.ref = sp_str_c("batch-7");
    tx->u.issue.n_rows = 3;
    for (int r = 0; r < 3; r++) {
      memcpy(issue_rows[r].pass, pass_pk[r], SP_PK_LEN);
      issue_rows[r].amount = (uint64_t)(r + 1) * 5000;
    }
    tx->u.issue.rows = issue_rows;
    break;
  case SP_TX_CLAIM_SETTLE:
    sp_hash(tx->u.claim_settle.claim, "claim", 5);
    tx->u.claim_settle.bank_ref = sp_str_c("SEPA-77");
    break;
  case SP_TX_PAY:
    sk = house_sk;
    memcpy(tx->signer, house_pk, SP_PK_LEN);
    memcpy(tx->u.pay.merchant, merch_pk, SP_PK_LEN);
    if (i < SP_TX__MAX) {
      tx->u.pay.n_parts = 2;
      tx->u.pay.parts[0].fund = sp_str_c("kindpakket-2025");
      tx->u.pay.parts[0].amount = 1250;
      tx->u.pay.parts[1].fund = sp_str_c("sport.2025");
      tx->u.pay.parts[1].amount = 4999;
      tx->u.pay.order_ref = sp_str_c("bon 2025-0042");
    } else {
      tx->u.pay.n_parts = 1;
      tx->u.pay.parts[0].fund = sp_str_c("a");
      tx->u.pay.parts[0].amount = SP_MONEY_MAX;
      tx->u.pay.order_ref = sp_str_c("");
    }
    break;
  case SP_TX_REFUND:
    sk = merch_sk;
    memcpy(tx->signer, merch_pk, SP_PK_LEN);
    sp_hash(tx->u.refund.payment, "payment", 7);
    tx->u.refund.amount = 1250;
    break;
  case SP_TX_CLAIM:
    sk = merch_sk;
    memcpy(tx->signer, merch_pk, SP_PK_LEN);
    tx->u.claim.fund = sp_str_c("sport.2025");
    tx->u.claim.amount = 99999;
    break;
  }
  must(sp_tx_sign(tx, FUZZ_CHAIN_ID, sk), "sign tx");
  return i < SP_TX__MAX ? sp_tx_kind_name((uint32_t)kind) : "pay-min";
}

/* -------------------------------------------------- consensus objects */

static void sample_header(struct sp_header *h, uint64_t height, uint32_t tx_count)
{
  memset(h, 0, sizeof(*h));
  memcpy(h->chain_id, FUZZ_CHAIN_ID, SP_HASH_LEN);
  h->height = height;
  if (height > 1)
    sp_hash(h->prev, &height, sizeof(height));
  h->time_ms = UINT64_C(1735689600000) + height * 1000;
  memcpy(h->proposer, val_pk[height % FUZZ_VALIDATORS], SP_PK_LEN);
  sp_hash(h->tx_root, "root", 4);
  h->tx_count = tx_count;
  sp_hash(h->state_digest, "state", 5);
}

/* A commit certificate for (height, round, block) from validators 0..n-1. */
static void sample_cert(struct sp_cert *c, uint64_t height, uint32_t round,
                        const uint8_t block[SP_HASH_LEN], uint32_t n)
{
  memset(c, 0, sizeof(*c));
  c->height = height;
  c->round = round;
  memcpy(c->block, block, SP_HASH_LEN);
  c->n_sigs = n;
  for (uint32_t i = 0; i < n; i++) {
    struct sp_vote v = {
        .type = SP_VOTE_PRECOMMIT, .height = height, .round = round, .has_block = true};
    memcpy(v.block, block, SP_HASH_LEN);
    memcpy(v.validator, val_pk[i], SP_PK_LEN);
    must(sp_vote_sign(&v, FUZZ_CHAIN_ID, val_sk[i]), "sign precommit");
    c->sigs[i].validator = i;
    memcpy(c->sigs[i].sig, v.sig, SP_SIG_LEN);
  }
}

static struct sp_tx block_txs[4];

/* Block at `height` holding the first n sample txs (n <= 4). */
static void sample_block(struct sp_block *b, uint64_t height, uint32_t n)
{
  memset(b, 0, sizeof(*b));
  sample_header(&b->header, height, n);
  for (uint32_t i = 0; i < n; i++)
    sample_tx(i == 0 ? SP_TX_PAY - 1 : (int)i, &block_txs[i]);
  b->n_txs = n;
  b->txs = n ? block_txs : NULL;
  if (height > 1) { /* prev and the last commit name the same block */
    struct sp_header prev;
    sample_header(&prev, height - 1, 0);
    must(sp_header_hash(&prev, b->header.prev), "hash header");
    b->has_last_commit = true;
    sample_cert(&b->last_commit, height - 1, 0, b->header.prev, 3);
    must(sp_cert_hash(&b->last_commit, b->header.last_commit_hash), "hash cert");
  }
}

static void sample_vote(struct sp_vote *v, uint32_t type, bool has_block, uint32_t val)
{
  memset(v, 0, sizeof(*v));
  v->type = type;
  v->height = 7;
  v->round = type == SP_VOTE_PREVOTE ? 0 : 300;
  v->has_block = has_block;
  if (has_block)
    sp_hash(v->block, "block", 5);
  memcpy(v->validator, val_pk[val], SP_PK_LEN);
  must(sp_vote_sign(v, FUZZ_CHAIN_ID, val_sk[val]), "sign vote");
}

/* A proposal of `block` (NULL: an arbitrary hash). */
static void sample_proposal(struct sp_proposal *pr, uint64_t height, uint32_t round,
                            int64_t valid_round, const uint8_t *block)
{
  memset(pr, 0, sizeof(*pr));
  pr->height = height;
  pr->round = round;
  pr->valid_round = valid_round;
  if (block)
    memcpy(pr->block, block, SP_HASH_LEN);
  else
    sp_hash(pr->block, "block", 5);
  memcpy(pr->proposer, val_pk[1], SP_PK_LEN);
  must(sp_proposal_sign(pr, FUZZ_CHAIN_ID, val_sk[1]), "sign proposal");
}

static void sample_genesis(struct sp_genesis *g, uint32_t n_val)
{
  memset(g, 0, sizeof(*g));
  g->chain_name = sp_str_c("stadjerspas-fuzz");
  g->genesis_time_ms = UINT64_C(1735689600000);
  memcpy(g->authority, auth_pk, SP_PK_LEN);
  g->n_validators = n_val;
  static const char *const names[] = {"gemeente", "bibliotheek", "ggd", "noorderpoort"};
  for (uint32_t i = 0; i < n_val; i++) {
    memcpy(g->validators[i].pk, val_pk[i], SP_PK_LEN);
    g->validators[i].name = sp_str_c(names[i]);
    g->validators[i].addr = sp_str_c("10.0.0.1:7700");
  }
  g->n_categories = 3;
  g->categories[0] = sp_str_c("clothing");
  g->categories[1] = sp_str_c("school");
  g->categories[2] = sp_str_c("sport");
  g->params.max_block_txs = 5000;
  g->params.max_block_bytes = 4u * 1024u * 1024u;
  g->params.fund_close_grace_ms = UINT64_C(7776000000);
}

/* ----------------------------------------------------------- messages */

static struct sp_history_row hist_rows[2];
static struct sp_block_entry blocks_v[2];
static struct sp_fund_row fund_rows[2];

/* A fund row: open fund `id` in clothing and sport, with some money moved. */
static void sample_fund_row(struct sp_fund_row *f, const char *id, bool closed)
{
  memset(f, 0, sizeof(*f));
  f->id = sp_str_c(id);
  f->name = sp_str_c("Kindpakket 2025");
  f->categories.n = 2;
  f->categories.v[0] = sp_str_c("clothing");
  f->categories.v[1] = sp_str_c("sport");
  f->valid_from_ms = UINT64_C(1735689600000);
  f->valid_until_ms = UINT64_C(1767225600000);
  f->max_payment = 15000;
  f->closed = closed;
  f->deposited = UINT64_C(1000000000);
  f->unissued = UINT64_C(999000000);
  f->passes = 996250;
  f->receivable = 2500;
  f->settled = 1250;
  f->issued = UINT64_C(1000000);
  f->spent = 3750;
  f->n_spending = 2;
  f->spending[0].category = sp_str_c("clothing");
  f->spending[0].cents = 1250;
  f->spending[1].category = sp_str_c("sport");
  f->spending[1].cents = 2500;
}

static const char *sample_msg(uint32_t type, struct sp_msg *m)
{
  memset(m, 0, sizeof(*m));
  m->type = type;
  m->req_id = type * 11;
  switch (type) {
  case SP_MSG_HELLO:
    m->req_id = 0;
    memcpy(m->u.hello.chain_id, FUZZ_CHAIN_ID, SP_HASH_LEN);
    sp_hash(m->u.hello.eph, "eph", 3);
    break;
  case SP_MSG_AUTH:
    m->req_id = 0;
    memcpy(m->u.auth.pk, val_pk[0], SP_PK_LEN);
    m->u.auth.role = SP_ROLE_VALIDATOR;
    m->u.auth.agent = sp_str_c("stadjerspas-node/0.1.0");
    memset(m->u.auth.sig, 0x5a, SP_SIG_LEN);
    break;
  case SP_MSG_ERROR:
    m->u.error.code = 17;
    m->u.error.message = sp_str_c("fonds gesloten");
    break;
  case SP_MSG_SUBMIT: sample_tx(SP_TX_PAY - 1, &m->u.submit); break;
  case SP_MSG_RESULT:
    sp_hash(m->u.result.txid, "tx", 2);
    m->u.result.status = SP_TXS_COMMITTED;
    m->u.result.height = 12;
    m->u.result.index = 3;
    m->u.result.message = sp_str_c("");
    m->u.result.n_proof = 2;
    sp_hash(m->u.result.proof[0], "p0", 2);
    sp_hash(m->u.result.proof[1], "p1", 2);
    break;
  case SP_MSG_TX_STATUS:
  case SP_MSG_PROOF_Q: sp_hash(m->u.txid.txid, "tx", 2); break;
  case SP_MSG_BALANCE_Q: memcpy(m->u.account.account, pass_pk[0], SP_PK_LEN); break;
  case SP_MSG_BALANCE_A:
    memcpy(m->u.balance.account, pass_pk[0], SP_PK_LEN);
    m->u.balance.kind = SP_ACCT_PASS;
    m->u.balance.status = SP_ACCT_ACTIVE;
    m->u.balance.seq = 4;
    m->u.balance.n_rows = 2;
    m->u.balance.rows[0].fund = sp_str_c("kindpakket-2025");
    m->u.balance.rows[0].amount = 3750;
    m->u.balance.rows[1].fund = sp_str_c("sport.2025");
    m->u.balance.rows[1].amount = 0;
    break;
  case SP_MSG_HISTORY_Q:
    memcpy(m->u.history_q.account, house_pk, SP_PK_LEN);
    m->u.history_q.before = 0;
    m->u.history_q.limit = 20;
    break;
  case SP_MSG_HISTORY_A:
    m->u.history.n_rows = 2;
    m->u.history.rows = hist_rows;
    for (int i = 0; i < 2; i++) {
      hist_rows[i].height = 9 - (uint64_t)i;
      hist_rows[i].index = (uint32_t)i;
      hist_rows[i].time_ms = UINT64_C(1735689600000);
      sample_tx(i ? SP_TX_ISSUE - 1 : SP_TX_PAY - 1, &hist_rows[i].tx);
    }
    m->u.history.next = 8;
    break;
  case SP_MSG_PROOF_A:
    sample_tx(SP_TX_PAY - 1, &m->u.proof.tx);
    m->u.proof.height = 2;
    m->u.proof.index = 0;
    m->u.proof.n_proof = 1;
    sp_hash(m->u.proof.proof[0], "p0", 2);
    sample_header(&m->u.proof.header, 2, 1);
    {
      uint8_t h[SP_HASH_LEN];
      must(sp_header_hash(&m->u.proof.header, h), "hash header");
      sample_cert(&m->u.proof.cert, 2, 0, h, 3);
    }
    break;
  case SP_MSG_STATUS_Q: break;
  case SP_MSG_STATUS_A:
    memcpy(m->u.status.chain_id, FUZZ_CHAIN_ID, SP_HASH_LEN);
    m->u.status.height = 100;
    sp_hash(m->u.status.tip, "tip", 3);
    sp_hash(m->u.status.state_digest, "state", 5);
    m->u.status.role = SP_ROLE_OBSERVER;
    m->u.status.peers = 3;
    m->u.status.mempool = 250;
    m->u.status.version = sp_str_c(SP_VERSION_STRING);
    break;
  case SP_MSG_BLOCKS_Q:
    m->u.blocks_q.from = 1;
    m->u.blocks_q.count = SP_MAX_BLOCKS_PER_RESPONSE;
    break;
  case SP_MSG_BLOCKS_A:
    m->u.blocks.n = 2;
    m->u.blocks.v = blocks_v;
    sample_block(&blocks_v[0].block, 1, 0);
    sample_block(&blocks_v[1].block, 2, 0);
    for (int i = 0; i < 2; i++) {
      uint8_t h[SP_HASH_LEN];
      must(sp_header_hash(&blocks_v[i].block.header, h), "hash header");
      sample_cert(&blocks_v[i].cert, (uint64_t)i + 1, 0, h, 3);
    }
    break;
  case SP_MSG_PROPOSAL:
    m->req_id = 0;
    sample_block(&m->u.proposal.block, 2, 2);
    {
      uint8_t h[SP_HASH_LEN];
      must(sp_header_hash(&m->u.proposal.block.header, h), "hash header");
      sample_proposal(&m->u.proposal.proposal, 2, 0, SP_ROUND_NONE, h);
    }
    break;
  case SP_MSG_VOTE:
    m->req_id = 0;
    sample_vote(&m->u.vote, SP_VOTE_PRECOMMIT, true, 2);
    break;
  case SP_MSG_FUNDS_Q: m->u.funds_q.fund = sp_str_c("kindpakket-2025"); break;
  case SP_MSG_FUNDS_A:
    m->u.funds.n = 2;
    m->u.funds.rows = fund_rows;
    sample_fund_row(&fund_rows[0], "kindpakket-2024", true);
    sample_fund_row(&fund_rows[1], "kindpakket-2025", false);
    break;
  }
  return sp_msg_type_name(type);
}

/* ------------------------------------------------------ golden vectors */

static int hexval(int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Concatenate the `hex:` lines of one .vec file; 0 if it has none or a bad
 * digit. */
static int read_vec(const char *path, struct sp_buf *out)
{
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  char line[8192];
  int ok = 1, any = 0;
  while (ok && fgets(line, sizeof(line), f)) {
    if (strncmp(line, "hex:", 4) != 0)
      continue;
    any = 1;
    const char *p = line + 4;
    while (*p == ' ' || *p == '\t')
      p++;
    while (ok && hexval(p[0]) >= 0) {
      if (hexval(p[1]) < 0) {
        ok = 0;
        break;
      }
      uint8_t byte = (uint8_t)(hexval(p[0]) << 4 | hexval(p[1]));
      sp_buf_append(out, &byte, 1);
      p += 2;
    }
    if (*p != '\n' && *p != '\r' && *p != '\0' && *p != ' ')
      ok = 0;
  }
  fclose(f);
  return ok && any && out->err == 0;
}

static void add_vectors(const char *dir)
{
  static const struct {
    const char *prefix, *harness;
  } routes[] = {
      {"tx-", "fuzz_tx"},
      {"block", "fuzz_block"},
      {"genesis", "fuzz_genesis"},
      {"header", "fuzz_header"},
      {"cert", "fuzz_cert"},
      {"vote", "fuzz_vote"},
      {"proposal", "fuzz_proposal"},
      {"msg-", "fuzz_msg"},
  };
  DIR *d = opendir(dir);
  if (d == NULL)
    return;
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  int added = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n < 5 || strcmp(e->d_name + n - 4, ".vec") != 0)
      continue;
    char path[4096], name[300];
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    sp_buf_reset(&b);
    if (!read_vec(path, &b)) {
      fprintf(stderr, "make_corpus: skipping %s (no readable hex: lines)\n", path);
      continue;
    }
    snprintf(name, sizeof(name), "vec-%.*s", (int)(n - 4), e->d_name);
    put("fuzz_msgpack_check", name, b.data, b.len);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
      if (strncmp(e->d_name, routes[i].prefix, strlen(routes[i].prefix)) == 0) {
        put(routes[i].harness, name, b.data, b.len);
        break;
      }
    added++;
  }
  closedir(d);
  sp_buf_free(&b);
  fprintf(stderr, "make_corpus: %d golden vector(s) from %s\n", added, dir);
}

/* ---------------------------------------------------------------- main */

static void frame_seed(const char *name, uint8_t mode, uint8_t max,
                       const struct sp_buf *stream)
{
  uint8_t *p = malloc(stream->len + 2);
  if (p == NULL)
    exit(1);
  p[0] = mode;
  p[1] = max;
  if (stream->len)
    memcpy(p + 2, stream->data, stream->len);
  put("fuzz_frame", name, p, stream->len + 2);
  free(p);
}

int main(int argc, char **argv)
{
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: %s OUTDIR [VECTORS_DIR]\n", argv[0]);
    return 2;
  }
  outdir = argv[1];
  if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
    perror(outdir);
    return 1;
  }
  fuzz_init();
  keys();

  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  char name[64];

  /* transactions: every kind */
  for (int i = 0; i < N_TX_SAMPLES; i++) {
    struct sp_tx tx;
    const char *kind = sample_tx(i, &tx);
    snprintf(name, sizeof(name), "%02d-%s", i + 1, kind);
    put_buf("fuzz_tx", name, sp_tx_encode(&tx, &b), &b);
  }

  /* "edge" transactions: sorted lists whose neighbours differ in one byte,
   * so a single mutation makes them unsorted or duplicate */
  {
    struct sp_tx tx;
    sample_tx(SP_TX_PAY - 1, &tx);
    tx.u.pay.parts[0].fund = sp_str_c("a");
    tx.u.pay.parts[1].fund = sp_str_c("b");
    tx.u.pay.order_ref = sp_str_c("");
    must(sp_tx_sign(&tx, FUZZ_CHAIN_ID, house_sk), "sign tx");
    put_buf("fuzz_tx", "edge-pay-ab", sp_tx_encode(&tx, &b), &b);

    sample_tx(SP_TX_FUND_CREATE - 1, &tx);
    tx.u.fund_create.categories.n = 2;
    tx.u.fund_create.categories.v[0] = sp_str_c("a");
    tx.u.fund_create.categories.v[1] = sp_str_c("b");
    tx.u.fund_create.valid_until_ms = tx.u.fund_create.valid_from_ms + 1;
    must(sp_tx_sign(&tx, FUZZ_CHAIN_ID, auth_sk), "sign tx");
    put_buf("fuzz_tx", "edge-fund-create-ab", sp_tx_encode(&tx, &b), &b);

    sample_tx(SP_TX_MERCHANT_UPDATE - 1, &tx);
    tx.u.merchant.categories.v[0] = sp_str_c("a");
    tx.u.merchant.categories.v[1] = sp_str_c("b");
    must(sp_tx_sign(&tx, FUZZ_CHAIN_ID, auth_sk), "sign tx");
    put_buf("fuzz_tx", "edge-merchant-ab", sp_tx_encode(&tx, &b), &b);

    sample_tx(SP_TX_ISSUE - 1, &tx);
    struct sp_issue_row rows[2];
    memset(rows, 0, sizeof(rows));
    rows[0].pass[SP_PK_LEN - 1] = 1;
    rows[1].pass[SP_PK_LEN - 1] = 2;
    rows[0].amount = 1;
    rows[1].amount = SP_MONEY_MAX;
    tx.u.issue.n_rows = 2;
    tx.u.issue.rows = rows;
    must(sp_tx_sign(&tx, FUZZ_CHAIN_ID, auth_sk), "sign tx");
    put_buf("fuzz_tx", "edge-issue-ab", sp_tx_encode(&tx, &b), &b);

    sample_tx(SP_TX_PASS_REPLACE - 1, &tx);
    memset(tx.u.pass_replace.old_pass, 0, SP_PK_LEN);
    memset(tx.u.pass_replace.new_pass, 0, SP_PK_LEN);
    tx.u.pass_replace.new_pass[SP_PK_LEN - 1] = 1;
    must(sp_tx_sign(&tx, FUZZ_CHAIN_ID, auth_sk), "sign tx");
    put_buf("fuzz_tx", "edge-replace-01", sp_tx_encode(&tx, &b), &b);
  }

  /* blocks: empty first block, first block with txs, later block with commit */
  static const struct {
    uint64_t height;
    uint32_t n;
    const char *name;
  } blocks[] = {
      {1, 0, "h1-empty"}, {1, 3, "h1-3tx"}, {2, 1, "h2-1tx-commit"}, {5, 0, "h5-empty"}};
  for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
    struct sp_block blk;
    sample_block(&blk, blocks[i].height, blocks[i].n);
    put_buf("fuzz_block", blocks[i].name, sp_block_encode(&blk, &b), &b);
    put_buf("fuzz_header", blocks[i].name, sp_header_encode(&blk.header, &b), &b);
  }

  /* genesis */
  static struct sp_genesis g;
  sample_genesis(&g, FUZZ_VALIDATORS);
  put_buf("fuzz_genesis", "four-validators", sp_genesis_encode(&g, &b), &b);
  sample_genesis(&g, 1);
  g.n_categories = 1;
  put_buf("fuzz_genesis", "one-validator", sp_genesis_encode(&g, &b), &b);
  sample_genesis(&g, 2);
  memset(g.validators[0].pk, 0, SP_PK_LEN);
  memset(g.validators[1].pk, 0, SP_PK_LEN);
  g.validators[1].pk[SP_PK_LEN - 1] = 1;
  g.validators[1].addr = sp_str_c("h:1");
  g.n_categories = 2;
  g.categories[0] = sp_str_c("a");
  g.categories[1] = sp_str_c("b");
  g.params.max_block_txs = SP_MAX_BLOCK_TXS;
  g.params.max_block_bytes = SP_MIN_BLOCK_BYTES;
  put_buf("fuzz_genesis", "edge-ab", sp_genesis_encode(&g, &b), &b);

  /* votes, proposals, certificates */
  struct sp_vote v;
  sample_vote(&v, SP_VOTE_PREVOTE, true, 0);
  put_buf("fuzz_vote", "prevote", sp_vote_encode(&v, &b), &b);
  sample_vote(&v, SP_VOTE_PRECOMMIT, false, 3);
  put_buf("fuzz_vote", "precommit-nil", sp_vote_encode(&v, &b), &b);

  struct sp_proposal pr;
  sample_proposal(&pr, 7, 0, SP_ROUND_NONE, NULL);
  put_buf("fuzz_proposal", "round0", sp_proposal_encode(&pr, &b), &b);
  sample_proposal(&pr, 7, 200, 131, NULL);
  put_buf("fuzz_proposal", "valid-round", sp_proposal_encode(&pr, &b), &b);

  struct sp_cert c;
  uint8_t blockhash[SP_HASH_LEN];
  sp_hash(blockhash, "block", 5);
  sample_cert(&c, 7, 0, blockhash, 3);
  put_buf("fuzz_cert", "quorum", sp_cert_encode(&c, &b), &b);
  sample_cert(&c, 7, 1, blockhash, FUZZ_VALIDATORS);
  put_buf("fuzz_cert", "all", sp_cert_encode(&c, &b), &b);
  sample_cert(&c, 8, 0, blockhash, 1);
  put_buf("fuzz_cert", "one", sp_cert_encode(&c, &b), &b);

  /* messages: every type; the frame stream carries all of them */
  struct sp_buf stream, one;
  sp_buf_init(&stream, SP_MAX_FRAME);
  sp_buf_init(&one, SP_MAX_FRAME);
  static struct sp_msg m;
  for (uint32_t t = 1; t <= SP_MSG__MAX; t++) {
    const char *tn = sample_msg(t, &m);
    snprintf(name, sizeof(name), "%02u-%s", t, tn);
    int rc = sp_msg_encode(&m, &b);
    if (rc == SP_OK) {
      must(sp_frame_write(&stream, b.data, b.len, SP_MAX_FRAME), "frame");
      if (t == SP_MSG_STATUS_Q || t == SP_MSG_VOTE)
        must(sp_frame_write(&one, b.data, b.len, SP_MAX_FRAME), "frame");
      if (t == SP_MSG_SUBMIT || t == SP_MSG_STATUS_Q || t == SP_MSG_BLOCKS_Q)
        put("fuzz_msgpack_check", name, b.data, b.len);
    }
    put_buf("fuzz_msg", name, rc, &b);
  }
  sample_msg(SP_MSG_BALANCE_A, &m);
  m.u.balance.rows[0].fund = sp_str_c("a");
  m.u.balance.rows[1].fund = sp_str_c("b");
  put_buf("fuzz_msg", "edge-balance-ab", sp_msg_encode(&m, &b), &b);
  sample_msg(SP_MSG_FUNDS_Q, &m);
  m.u.funds_q.fund = sp_str_c(""); /* all funds */
  put_buf("fuzz_msg", "edge-funds-q-all", sp_msg_encode(&m, &b), &b);
  sample_msg(SP_MSG_FUNDS_A, &m);
  fund_rows[0].id = sp_str_c("a");
  fund_rows[1].id = sp_str_c("b");
  put_buf("fuzz_msg", "edge-funds-ab", sp_msg_encode(&m, &b), &b);

  /* frames: same stream, different splits and maxima */
  frame_seed("all-oneshot", 0xff, 0xff, &stream);
  frame_seed("all-bytewise", 0x00, 0xff, &stream);
  frame_seed("all-random", 0x7e, 0xff, &stream);
  frame_seed("two-chunk7", 0x19, 0xff, &one);
  frame_seed("two-small-max", 0x02, 0x03, &one); /* max 10: the vote is too big */
  static const uint8_t empty_frame[] = {0x00, 0x00, 0x00, 0x00, 0x01};
  struct sp_buf raw = {(uint8_t *)empty_frame, sizeof(empty_frame), sizeof(empty_frame),
                       sizeof(empty_frame), 0};
  frame_seed("empty-frame", 0x01, 0xff, &raw);

  /* msgpack: small hand-made canonical items of each allowed type */
  static const struct {
    const char *name;
    const char *bytes;
    size_t n;
  } items[] = {
      {"uint", "\x7f", 1},
      {"uint64", "\xcf\x00\x00\x01\x00\x00\x00\x00\x00", 9},
      {"neg", "\xff", 1},
      {"neg16-refused", "\xd1\x80\x00", 3}, /* only -1 is allowed */
      {"str",
       "\xa3"
       "abc",
       4},
      {"str8-utf8",
       "\xd9\x20"
       "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
       "01234567890123456789012",
       34},
      {"bin", "\xc4\x02\x00\xff", 4},
      {"nested", "\x92\x91\x90\x93\x01\xff\xa0", 7},
      {"deep9", "\x91\x91\x91\x91\x91\x91\x91\x91\x90", 9},
  };
  for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
    put("fuzz_msgpack_check", items[i].name, items[i].bytes, items[i].n);

  /* money */
  static const char *const amounts[] = {"12.50",          "0",     "0.05", "12.5",
                                        "10000000000.00", "12,50", "1e3",  "007.10"};
  for (size_t i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
    snprintf(name, sizeof(name), "amount-%zu", i);
    put("fuzz_money", name, amounts[i], strlen(amounts[i]));
  }
  static const uint8_t arith[16] = {0x10, 0x27, 0, 0, 0, 0, 0, 0,
                                    0xe8, 0x03, 0, 0, 0, 0, 0, 0x80};
  put("fuzz_money", "arith", arith, sizeof(arith));

  if (argc == 3)
    add_vectors(argv[2]);

  sp_buf_free(&b);
  sp_buf_free(&stream);
  sp_buf_free(&one);
  if (failures) {
    fprintf(stderr, "make_corpus: %d seed(s) failed to encode\n", failures);
    return 1;
  }
  return 0;
}
