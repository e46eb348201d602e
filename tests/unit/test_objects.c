/* Unit tests and golden vectors for the objects (objects.h) and network
 * messages (msg.h) of the proto library.
 *
 *   test_objects                      run the tests; the golden vectors are
 *                                     read from $SP_VECTORS (ctest sets it)
 *   test_objects --write-vectors DIR  (re)write DIR/<name>.vec from the fixed
 *                                     values below and exit
 *
 * Every value is deterministic: keys come from fixed seeds, Ed25519
 * signatures are deterministic, times are constants. The same builders make
 * the vectors and the objects the tests compare against, so the two cannot
 * drift. tests/vectors/README.md documents the file format and the inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sp/proto.h"
#include "vectors.h"

/* ================================================================ helpers */

/* Assert an SP_* return code, naming both codes on failure. */
#define assert_rc(expr, want)                                                             \
  do {                                                                                    \
    int rc_got_ = (expr), rc_want_ = (want);                                              \
    if (rc_got_ != rc_want_) {                                                            \
      print_error("%s:%d: %s\n    returned %s (%d), expected %s (%d)\n", __FILE__,       \
                  __LINE__, #expr, sp_errname(rc_got_), rc_got_, sp_errname(rc_want_),    \
                  rc_want_);                                                              \
      fail();                                                                             \
    }                                                                                     \
  } while (0)

#define assert_ok(expr) assert_rc((expr), SP_OK)

/* Plenty for any object here; the codecs have their own limits. */
#define BUF_MAX (SP_MAX_FRAME + 64u)

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
  uint8_t *d = malloc(n ? n : 1);
  assert_non_null(d);
  if (n)
    memcpy(d, p, n);
  return d;
}

/* Offset of the first occurrence of needle in hay, or -1. */
static long find(const uint8_t *hay, size_t n, const void *needle, size_t k)
{
  if (k == 0 || k > n)
    return -1;
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(hay + i, needle, k) == 0)
      return (long)i;
  return -1;
}

/* Replace the first occurrence of `from` with `to` (same length); the
 * pattern must be present. */
static void patch(uint8_t *p, size_t n, const void *from, const void *to, size_t k)
{
  long at = find(p, n, from, k);
  if (at < 0) {
    print_error("patch: pattern not found in the encoding\n");
    fail();
  }
  memcpy(p + at, to, k);
}

static void patch_str(uint8_t *p, size_t n, const char *from, const char *to)
{
  assert_int_equal(strlen(from), strlen(to));
  patch(p, n, from, to, strlen(from));
}

/* ================================================================== keys */

enum key_id {
  K_AUTH,
  K_PASS_A,
  K_PASS_B,
  K_PASS_C,
  K_PASS_D,
  K_MERCHANT,
  K_VAL1,
  K_VAL2,
  K_VAL3,
  K_VAL4,
  K_STRANGER,
  K__N
};

struct key {
  uint8_t seed; /* the seed is 32 bytes, all equal to this */
  const char *name;
  uint8_t pk[SP_PK_LEN];
  uint8_t sk[SP_SK_LEN];
};

static struct key keys[K__N] = {
    [K_AUTH] = {.seed = 0x01, .name = "authority"},
    [K_PASS_A] = {.seed = 0x02, .name = "pass A"},
    [K_PASS_B] = {.seed = 0x03, .name = "pass B"},
    [K_PASS_C] = {.seed = 0x04, .name = "pass C"},
    [K_PASS_D] = {.seed = 0x05, .name = "pass D (replacement card of pass B)"},
    [K_MERCHANT] = {.seed = 0x06, .name = "merchant M"},
    [K_VAL1] = {.seed = 0x11, .name = "validator-1"},
    [K_VAL2] = {.seed = 0x12, .name = "validator-2"},
    [K_VAL3] = {.seed = 0x13, .name = "validator-3"},
    [K_VAL4] = {.seed = 0x14, .name = "validator-4"},
    [K_STRANGER] = {.seed = 0x7f, .name = "stranger (not in the genesis)"},
};

/* Fixed times (ms since the Unix epoch, UTC). */
#define T_GENESIS UINT64_C(1735689600000)    /* 2025-01-01T00:00:00Z */
#define T_YEAR_2024 UINT64_C(1704067200000)  /* 2024-01-01T00:00:00Z */
#define T_FUND_UNTIL UINT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define T_BLOCK1 UINT64_C(1735693200000)     /* 2025-01-01T01:00:00Z */
#define T_BLOCK2 UINT64_C(1735693205000)     /* 2025-01-01T01:00:05Z */

/* ============================================================== fixture */

static struct fixture {
  struct sp_genesis genesis;
  uint8_t genesis_enc[2048];
  size_t genesis_len;
  uint8_t chain[SP_HASH_LEN];       /* sp_chain_id(genesis) */
  uint8_t other_chain[SP_HASH_LEN]; /* chain id of a genesis named differently */
  int val_key[4];                   /* key id of genesis validator i */
  uint8_t household[SP_HASH_LEN];
  struct sp_issue_row rows[3];
  struct sp_tx tx[SP_TX__MAX + 1]; /* one signed example per kind */
  uint8_t txid[SP_TX__MAX + 1][SP_HASH_LEN];
  struct sp_tx b1_txs[3], b2_txs[2];
  uint8_t b1_leaves[3][SP_HASH_LEN], b2_leaves[2][SP_HASH_LEN];
  uint8_t proof[2][SP_HASH_LEN]; /* audit path of tx 0 of block 1 */
  uint8_t state[3][SP_HASH_LEN];
  struct sp_block block[3]; /* [1], [2] */
  uint8_t bhash[3][SP_HASH_LEN];
  struct sp_cert cert[3]; /* [h]: commit certificate of block h */
  struct sp_vote prevote, precommit_nil;
  struct sp_proposal prop[2]; /* round 0 (valid -1), round 1 (valid 0) */
  uint8_t eph_a[SP_KX_LEN], eph_b[SP_KX_LEN];
  struct sp_history_row hist[2];
  struct sp_block_entry entries[2];
  struct sp_fund_row funds[3]; /* a funds answer, sorted by id */
} F;

/* Names of known 32-byte values, for the vector comments. */
static struct named {
  uint8_t v[32];
  char what[120];
} names[64];
static size_t n_names;

static void name_value(const uint8_t v[32], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void name_value(const uint8_t v[32], const char *fmt, ...)
{
  assert_true(n_names < sizeof(names) / sizeof(names[0]));
  memcpy(names[n_names].v, v, 32);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(names[n_names].what, sizeof(names[n_names].what), fmt, ap);
  va_end(ap);
  n_names++;
}

static const char *value_name(const uint8_t v[32])
{
  for (size_t i = 0; i < n_names; i++)
    if (memcmp(names[i].v, v, 32) == 0)
      return names[i].what;
  return NULL;
}

static const struct key *key_of(const uint8_t pk[SP_PK_LEN])
{
  for (int i = 0; i < K__N; i++)
    if (memcmp(keys[i].pk, pk, SP_PK_LEN) == 0)
      return &keys[i];
  return NULL;
}

static const uint8_t *val_pk(int idx)
{
  return F.genesis.validators[idx].pk;
}

static const uint8_t *val_sk(int idx)
{
  return keys[F.val_key[idx]].sk;
}

static void str_hash(uint8_t out[SP_HASH_LEN], const char *s)
{
  sp_hash(out, s, strlen(s));
}

/* RFC 6962 Merkle tree over BLAKE2b-256, as ledger/include/sp/merkle.h
 * describes it; computed here so the vectors depend on the proto library
 * only. leaf = H(0x00 || whole tx encoding), node = H(0x01 || left || right). */
static void merkle_leaf(uint8_t out[SP_HASH_LEN], const struct sp_tx *tx)
{
  struct sp_buf b;
  sp_buf_init(&b, 1 + SP_MAX_TX_BYTES);
  sp_buf_append(&b, "", 1); /* the 0x00 leaf prefix */
  assert_ok(sp_tx_encode(tx, &b));
  sp_hash(out, b.data, b.len);
  sp_buf_free(&b);
}

static void merkle_node(uint8_t out[SP_HASH_LEN], const uint8_t l[SP_HASH_LEN],
                        const uint8_t r[SP_HASH_LEN])
{
  uint8_t b[1 + 2 * SP_HASH_LEN];
  b[0] = 1;
  memcpy(b + 1, l, SP_HASH_LEN);
  memcpy(b + 1 + SP_HASH_LEN, r, SP_HASH_LEN);
  sp_hash(out, b, sizeof(b));
}

static void merkle_root(uint8_t out[SP_HASH_LEN], const uint8_t (*leaves)[SP_HASH_LEN],
                        size_t n)
{
  if (n == 1) {
    memcpy(out, leaves[0], SP_HASH_LEN);
    return;
  }
  size_t k = 1;
  while (k * 2 < n)
    k *= 2;
  uint8_t l[SP_HASH_LEN], r[SP_HASH_LEN];
  merkle_root(l, leaves, k);
  merkle_root(r, leaves + k, n - k);
  merkle_node(out, l, r);
}

/* Tx id of a built (not decoded) tx: H_tx(chain, body). */
static void txid_of(const struct sp_tx *tx, uint8_t out[SP_HASH_LEN])
{
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_TX_BYTES);
  assert_ok(sp_tx_encode_body(tx, &b));
  assert_ok(sp_hash_dom(out, SP_DOM_TX, F.chain, b.data, b.len));
  sp_buf_free(&b);
}

static void tx_start(struct sp_tx *tx, uint32_t kind, enum key_id signer, uint64_t seq)
{
  memset(tx, 0, sizeof(*tx));
  tx->kind = kind;
  memcpy(tx->signer, keys[signer].pk, SP_PK_LEN);
  tx->seq = seq;
}

static void tx_finish(uint32_t kind, enum key_id signer)
{
  struct sp_tx *tx = &F.tx[kind];
  assert_ok(sp_tx_sign(tx, F.chain, keys[signer].sk));
  txid_of(tx, F.txid[kind]);
}

static void catlist(struct sp_catlist *c, const char *a, const char *b)
{
  c->n = 0;
  c->v[c->n++] = sp_str_c(a);
  if (b != NULL)
    c->v[c->n++] = sp_str_c(b);
}

static void make_genesis(struct sp_genesis *g, const char *chain_name)
{
  static const char *const vnames[4] = {"validator-1", "validator-2", "validator-3",
                                        "validator-4"};
  static const char *const vaddrs[4] = {"10.0.0.1:7700", "10.0.0.2:7700", "10.0.0.3:7700",
                                        "10.0.0.4:7700"};
  memset(g, 0, sizeof(*g));
  g->chain_name = sp_str_c(chain_name);
  g->genesis_time_ms = T_GENESIS;
  memcpy(g->authority, keys[K_AUTH].pk, SP_PK_LEN);
  /* validators sorted by public key */
  int order[4] = {K_VAL1, K_VAL2, K_VAL3, K_VAL4};
  for (int i = 1; i < 4; i++)
    for (int j = i; j > 0 && memcmp(keys[order[j - 1]].pk, keys[order[j]].pk, SP_PK_LEN) > 0;
         j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  g->n_validators = 4;
  for (int i = 0; i < 4; i++) {
    int k = order[i];
    F.val_key[i] = k;
    memcpy(g->validators[i].pk, keys[k].pk, SP_PK_LEN);
    g->validators[i].name = sp_str_c(vnames[k - K_VAL1]);
    g->validators[i].addr = sp_str_c(vaddrs[k - K_VAL1]);
  }
  g->n_categories = 4;
  g->categories[0] = sp_str_c("cultuur");
  g->categories[1] = sp_str_c("kleding");
  g->categories[2] = sp_str_c("onderwijs");
  g->categories[3] = sp_str_c("sport");
  g->params.max_block_txs = 1000;
  g->params.max_block_bytes = 1048576;
  g->params.fund_close_grace_ms = UINT64_C(7776000000); /* 90 days */
}

static void sign_cert(struct sp_cert *c, uint64_t height, uint32_t round,
                      const uint8_t block[SP_HASH_LEN], const int *idx, uint32_t n)
{
  memset(c, 0, sizeof(*c));
  c->height = height;
  c->round = round;
  memcpy(c->block, block, SP_HASH_LEN);
  c->n_sigs = n;
  for (uint32_t i = 0; i < n; i++) {
    struct sp_vote v = {.type = SP_VOTE_PRECOMMIT, .height = height, .round = round,
                        .has_block = true};
    memcpy(v.block, block, SP_HASH_LEN);
    memcpy(v.validator, val_pk(idx[i]), SP_PK_LEN);
    assert_ok(sp_vote_sign(&v, F.chain, val_sk(idx[i])));
    c->sigs[i].validator = (uint32_t)idx[i];
    memcpy(c->sigs[i].sig, v.sig, SP_SIG_LEN);
  }
}

static void make_block(int h, struct sp_tx *txs, uint32_t n, uint8_t (*leaves)[SP_HASH_LEN],
                       uint64_t time_ms, int proposer)
{
  struct sp_block *b = &F.block[h];
  memset(b, 0, sizeof(*b));
  struct sp_header *hd = &b->header;
  memcpy(hd->chain_id, F.chain, SP_HASH_LEN);
  hd->height = (uint64_t)h;
  if (h > 1)
    memcpy(hd->prev, F.bhash[h - 1], SP_HASH_LEN);
  hd->time_ms = time_ms;
  memcpy(hd->proposer, val_pk(proposer), SP_PK_LEN);
  for (uint32_t i = 0; i < n; i++)
    merkle_leaf(leaves[i], &txs[i]);
  merkle_root(hd->tx_root, (const uint8_t(*)[SP_HASH_LEN])leaves, n);
  hd->tx_count = n;
  char s[16];
  snprintf(s, sizeof(s), "state-%d", h);
  str_hash(F.state[h], s);
  memcpy(hd->state_digest, F.state[h], SP_HASH_LEN);
  b->n_txs = n;
  b->txs = txs;
  if (h > 1) {
    b->has_last_commit = true;
    b->last_commit = F.cert[h - 1];
    assert_ok(sp_cert_hash(&F.cert[h - 1], hd->last_commit_hash));
  }
  assert_ok(sp_header_hash(hd, F.bhash[h]));
}

static void fixture_init(void)
{
  static int ready;
  if (ready)
    return;
  assert_ok(sp_crypto_init());
  for (int i = 0; i < K__N; i++) {
    uint8_t seed[32];
    memset(seed, keys[i].seed, sizeof(seed));
    assert_ok(sp_keypair_from_seed(keys[i].pk, keys[i].sk, seed));
  }

  /* genesis and chain id */
  struct sp_buf b;
  sp_buf_init(&b, sizeof(F.genesis_enc));
  make_genesis(&F.genesis, "Stadjerspas test chain");
  assert_ok(sp_genesis_encode(&F.genesis, &b));
  memcpy(F.genesis_enc, b.data, b.len);
  F.genesis_len = b.len;
  assert_ok(sp_chain_id(F.genesis_enc, F.genesis_len, F.chain));
  name_value(F.chain, "chain id: H_genesis of genesis.vec");
  {
    /* the same validators and authority, another chain name: another chain */
    struct sp_genesis other;
    make_genesis(&other, "Stadjerspas other chain");
    sp_buf_reset(&b);
    assert_ok(sp_genesis_encode(&other, &b));
    assert_ok(sp_chain_id(b.data, b.len, F.other_chain));
  }
  sp_buf_free(&b);

  /* one tx of every kind: the authority signs seq 1..13 (kind order, then
   * merchant.reinstate), pass A and merchant M sign their own */
  struct sp_tx *tx;
  tx = &F.tx[SP_TX_FUND_CREATE];
  tx_start(tx, SP_TX_FUND_CREATE, K_AUTH, 1);
  tx->u.fund_create.fund = sp_str_c("sport-2025");
  tx->u.fund_create.name = sp_str_c("Sportfonds 2025");
  catlist(&tx->u.fund_create.categories, "kleding", "sport");
  tx->u.fund_create.valid_from_ms = T_GENESIS;
  tx->u.fund_create.valid_until_ms = T_FUND_UNTIL;
  tx->u.fund_create.max_payment = 15000;
  tx_finish(SP_TX_FUND_CREATE, K_AUTH);

  tx = &F.tx[SP_TX_FUND_DEPOSIT];
  tx_start(tx, SP_TX_FUND_DEPOSIT, K_AUTH, 2);
  tx->u.fund_deposit.fund = sp_str_c("sport-2025");
  tx->u.fund_deposit.amount = 5000000;
  tx->u.fund_deposit.bank_ref = sp_str_c("BNG 2025-000123");
  tx_finish(SP_TX_FUND_DEPOSIT, K_AUTH);

  tx = &F.tx[SP_TX_FUND_CLOSE];
  tx_start(tx, SP_TX_FUND_CLOSE, K_AUTH, 3);
  tx->u.fund_close.fund = sp_str_c("sport-2024");
  tx_finish(SP_TX_FUND_CLOSE, K_AUTH);

  tx = &F.tx[SP_TX_PASS_ENROLL];
  tx_start(tx, SP_TX_PASS_ENROLL, K_AUTH, 4);
  memcpy(tx->u.pass_enroll.pass, keys[K_PASS_A].pk, SP_PK_LEN);
  str_hash(F.household, "salt-2025|household-0001");
  name_value(F.household, "BLAKE2b-256 of the ASCII text \"salt-2025|household-0001\"");
  memcpy(tx->u.pass_enroll.household, F.household, SP_HASH_LEN);
  tx_finish(SP_TX_PASS_ENROLL, K_AUTH);

  tx = &F.tx[SP_TX_PASS_BLOCK];
  tx_start(tx, SP_TX_PASS_BLOCK, K_AUTH, 5);
  memcpy(tx->u.reason.account, keys[K_PASS_B].pk, SP_PK_LEN);
  tx->u.reason.reason = sp_str_c("Pas verloren gemeld");
  tx_finish(SP_TX_PASS_BLOCK, K_AUTH);

  tx = &F.tx[SP_TX_PASS_UNBLOCK];
  tx_start(tx, SP_TX_PASS_UNBLOCK, K_AUTH, 6);
  memcpy(tx->u.reason.account, keys[K_PASS_B].pk, SP_PK_LEN);
  tx->u.reason.reason = sp_str_c("Pas teruggevonden");
  tx_finish(SP_TX_PASS_UNBLOCK, K_AUTH);

  tx = &F.tx[SP_TX_PASS_REPLACE];
  tx_start(tx, SP_TX_PASS_REPLACE, K_AUTH, 7);
  memcpy(tx->u.pass_replace.old_pass, keys[K_PASS_B].pk, SP_PK_LEN);
  memcpy(tx->u.pass_replace.new_pass, keys[K_PASS_D].pk, SP_PK_LEN);
  tx_finish(SP_TX_PASS_REPLACE, K_AUTH);

  tx = &F.tx[SP_TX_MERCHANT_REGISTER];
  tx_start(tx, SP_TX_MERCHANT_REGISTER, K_AUTH, 8);
  memcpy(tx->u.merchant.merchant, keys[K_MERCHANT].pk, SP_PK_LEN);
  tx->u.merchant.name = sp_str_c("Sportcaf\xc3\xa9 De Kroon");
  catlist(&tx->u.merchant.categories, "sport", NULL);
  tx_finish(SP_TX_MERCHANT_REGISTER, K_AUTH);

  tx = &F.tx[SP_TX_MERCHANT_UPDATE];
  tx_start(tx, SP_TX_MERCHANT_UPDATE, K_AUTH, 9);
  memcpy(tx->u.merchant.merchant, keys[K_MERCHANT].pk, SP_PK_LEN);
  tx->u.merchant.name = sp_str_c("Sportcaf\xc3\xa9 De Kroon B.V.");
  catlist(&tx->u.merchant.categories, "cultuur", "sport");
  tx_finish(SP_TX_MERCHANT_UPDATE, K_AUTH);

  tx = &F.tx[SP_TX_MERCHANT_SUSPEND];
  tx_start(tx, SP_TX_MERCHANT_SUSPEND, K_AUTH, 10);
  memcpy(tx->u.reason.account, keys[K_MERCHANT].pk, SP_PK_LEN);
  tx->u.reason.reason = sp_str_c("Onderzoek naar declaraties");
  tx_finish(SP_TX_MERCHANT_SUSPEND, K_AUTH);

  /* issue: three rows sorted by pass key */
  {
    static const struct {
      int key;
      uint64_t amount;
    } in[3] = {{K_PASS_A, 7500}, {K_PASS_B, 10000}, {K_PASS_C, 12500}};
    for (int i = 0; i < 3; i++) {
      memcpy(F.rows[i].pass, keys[in[i].key].pk, SP_PK_LEN);
      F.rows[i].amount = in[i].amount;
    }
    for (int i = 1; i < 3; i++)
      for (int j = i; j > 0 && memcmp(F.rows[j - 1].pass, F.rows[j].pass, SP_PK_LEN) > 0;
           j--) {
        struct sp_issue_row t = F.rows[j];
        F.rows[j] = F.rows[j - 1];
        F.rows[j - 1] = t;
      }
  }
  tx = &F.tx[SP_TX_ISSUE];
  tx_start(tx, SP_TX_ISSUE, K_AUTH, 11);
  tx->u.issue.fund = sp_str_c("sport-2025");
  tx->u.issue.ref = sp_str_c("2025-Q1");
  tx->u.issue.n_rows = 3;
  tx->u.issue.rows = F.rows;
  tx_finish(SP_TX_ISSUE, K_AUTH);

  tx = &F.tx[SP_TX_PAY];
  tx_start(tx, SP_TX_PAY, K_PASS_A, 1);
  memcpy(tx->u.pay.merchant, keys[K_MERCHANT].pk, SP_PK_LEN);
  tx->u.pay.n_parts = 2;
  tx->u.pay.parts[0].fund = sp_str_c("cultuur-2025");
  tx->u.pay.parts[0].amount = 1250;
  tx->u.pay.parts[1].fund = sp_str_c("sport-2025");
  tx->u.pay.parts[1].amount = 2500;
  tx->u.pay.order_ref = sp_str_c("bon 0042");
  tx_finish(SP_TX_PAY, K_PASS_A);

  tx = &F.tx[SP_TX_REFUND];
  tx_start(tx, SP_TX_REFUND, K_MERCHANT, 1);
  memcpy(tx->u.refund.payment, F.txid[SP_TX_PAY], SP_HASH_LEN);
  tx->u.refund.amount = 1000;
  tx_finish(SP_TX_REFUND, K_MERCHANT);

  tx = &F.tx[SP_TX_CLAIM];
  tx_start(tx, SP_TX_CLAIM, K_MERCHANT, 2);
  tx->u.claim.fund = sp_str_c("sport-2025");
  tx->u.claim.amount = 1500;
  tx_finish(SP_TX_CLAIM, K_MERCHANT);

  tx = &F.tx[SP_TX_CLAIM_SETTLE];
  tx_start(tx, SP_TX_CLAIM_SETTLE, K_AUTH, 12);
  memcpy(tx->u.claim_settle.claim, F.txid[SP_TX_CLAIM], SP_HASH_LEN);
  tx->u.claim_settle.bank_ref = sp_str_c("BNG 2025-000456");
  tx_finish(SP_TX_CLAIM_SETTLE, K_AUTH);

  tx = &F.tx[SP_TX_MERCHANT_REINSTATE];
  tx_start(tx, SP_TX_MERCHANT_REINSTATE, K_AUTH, 13);
  memcpy(tx->u.reason.account, keys[K_MERCHANT].pk, SP_PK_LEN);
  tx->u.reason.reason = sp_str_c("Onderzoek afgerond");
  tx_finish(SP_TX_MERCHANT_REINSTATE, K_AUTH);

  /* a kind added to enum sp_tx_kind needs an example here */
  for (uint32_t k = 1; k <= SP_TX__MAX; k++)
    if (F.tx[k].kind != k) {
      print_error("no example tx of kind %u (%s) in fixture_init\n", k, sp_tx_kind_name(k));
      fail();
    }

  for (uint32_t k = 1; k <= SP_TX__MAX; k++) {
    char file[64];
    snprintf(file, sizeof(file), "tx-%s.vec", sp_tx_kind_name(k));
    for (char *c = file; *c; c++)
      if (*c == '.' && strcmp(c, ".vec") != 0)
        *c = '-';
    name_value(F.txid[k], "tx id of %s", file);
  }

  /* blocks 1 and 2 with their certificates */
  F.b1_txs[0] = F.tx[SP_TX_FUND_CREATE];
  F.b1_txs[1] = F.tx[SP_TX_FUND_DEPOSIT];
  F.b1_txs[2] = F.tx[SP_TX_ISSUE];
  make_block(1, F.b1_txs, 3, F.b1_leaves, T_BLOCK1, 0);
  memcpy(F.proof[0], F.b1_leaves[1], SP_HASH_LEN);
  memcpy(F.proof[1], F.b1_leaves[2], SP_HASH_LEN);
  static const int signers1[3] = {0, 1, 2}, signers2[3] = {1, 2, 3};
  sign_cert(&F.cert[1], 1, 0, F.bhash[1], signers1, 3);
  F.b2_txs[0] = F.tx[SP_TX_PAY];
  F.b2_txs[1] = F.tx[SP_TX_REFUND];
  make_block(2, F.b2_txs, 2, F.b2_leaves, T_BLOCK2, 1);
  sign_cert(&F.cert[2], 2, 1, F.bhash[2], signers2, 3);
  name_value(F.block[2].header.last_commit_hash,
             "BLAKE2b-256 of the encoding of the last commit (= cert.vec)");
  for (int h = 1; h <= 2; h++) {
    name_value(F.bhash[h], "hash of block %d: H_block(chain id, header)", h);
    name_value(F.block[h].header.tx_root, "Merkle root over the tx encodings of block %d", h);
    name_value(F.state[h], "BLAKE2b-256 of the ASCII text \"state-%d\" (arbitrary)", h);
  }
  for (int i = 0; i < 3; i++)
    name_value(F.b1_leaves[i], "Merkle leaf of tx %d of block 1: H(0x00 || tx encoding)", i);

  /* votes and proposals */
  F.prevote = (struct sp_vote){.type = SP_VOTE_PREVOTE, .height = 1, .round = 0,
                               .has_block = true};
  memcpy(F.prevote.block, F.bhash[1], SP_HASH_LEN);
  memcpy(F.prevote.validator, val_pk(0), SP_PK_LEN);
  assert_ok(sp_vote_sign(&F.prevote, F.chain, val_sk(0)));
  F.precommit_nil = (struct sp_vote){.type = SP_VOTE_PRECOMMIT, .height = 2, .round = 0,
                                     .has_block = false};
  memcpy(F.precommit_nil.validator, val_pk(3), SP_PK_LEN);
  assert_ok(sp_vote_sign(&F.precommit_nil, F.chain, val_sk(3)));

  F.prop[0] = (struct sp_proposal){.height = 1, .round = 0, .valid_round = SP_ROUND_NONE};
  memcpy(F.prop[0].block, F.bhash[1], SP_HASH_LEN);
  memcpy(F.prop[0].proposer, val_pk(0), SP_PK_LEN);
  assert_ok(sp_proposal_sign(&F.prop[0], F.chain, val_sk(0)));
  F.prop[1] = (struct sp_proposal){.height = 2, .round = 1, .valid_round = 0};
  memcpy(F.prop[1].block, F.bhash[2], SP_HASH_LEN);
  memcpy(F.prop[1].proposer, val_pk(1), SP_PK_LEN);
  assert_ok(sp_proposal_sign(&F.prop[1], F.chain, val_sk(1)));

  /* handshake ephemeral keys: X25519 of the scalars 32 x 0x31, 32 x 0x32 */
  uint8_t scalar[32];
  memset(scalar, 0x31, sizeof(scalar));
  assert_int_equal(crypto_scalarmult_base(F.eph_a, scalar), 0);
  memset(scalar, 0x32, sizeof(scalar));
  assert_int_equal(crypto_scalarmult_base(F.eph_b, scalar), 0);
  name_value(F.eph_a, "X25519 public key of the scalar 32 x 0x31 (ephemeral key A)");
  name_value(F.eph_b, "X25519 public key of the scalar 32 x 0x32 (ephemeral key B)");

  F.hist[0] = (struct sp_history_row){.height = 2, .index = 0, .time_ms = T_BLOCK2,
                                      .tx = F.tx[SP_TX_PAY]};
  F.hist[1] = (struct sp_history_row){.height = 1, .index = 2, .time_ms = T_BLOCK1,
                                      .tx = F.tx[SP_TX_ISSUE]};
  F.entries[0].block = F.block[1];
  F.entries[0].cert = F.cert[1];
  F.entries[1].block = F.block[2];
  F.entries[1].cert = F.cert[2];

  /* three funds; in each, deposited = unissued + passes + receivable +
   * claimed + settled + returned, and the spending per category (gross,
   * like spent) adds up to spent */
  struct sp_fund_row *fr = &F.funds[0];
  fr->id = sp_str_c("cultuur-2025");
  fr->name = sp_str_c("Cultuurfonds 2025");
  catlist(&fr->categories, "cultuur", "onderwijs");
  fr->valid_from_ms = T_GENESIS;
  fr->valid_until_ms = T_FUND_UNTIL;
  fr->max_payment = 0;
  fr->closed = false;
  fr->deposited = 2000000;
  fr->unissued = 1500000;
  fr->passes = 498750;
  fr->receivable = 1250;
  fr->issued = 500000;
  fr->spent = 1250;
  fr->refunded = 0;
  fr->n_spending = 1;
  fr->spending[0].category = sp_str_c("cultuur");
  fr->spending[0].cents = 1250;

  fr = &F.funds[1]; /* closed: the rest of the pass credit returned */
  fr->id = sp_str_c("sport-2024");
  fr->name = sp_str_c("Sportfonds 2024");
  catlist(&fr->categories, "kleding", "sport");
  fr->valid_from_ms = T_YEAR_2024;
  fr->valid_until_ms = T_GENESIS;
  fr->max_payment = 15000;
  fr->closed = true;
  fr->deposited = 4000000;
  fr->unissued = 100000;
  fr->settled = 3650000;
  fr->returned = 250000;
  fr->issued = 3900000;
  fr->spent = 3700000;
  fr->refunded = 50000;
  fr->n_spending = 2;
  fr->spending[0].category = sp_str_c("kleding");
  fr->spending[0].cents = 1200000;
  fr->spending[1].category = sp_str_c("sport");
  fr->spending[1].cents = 2500000;

  fr = &F.funds[2]; /* after blocks 1 and 2, the claim settled */
  fr->id = sp_str_c("sport-2025");
  fr->name = sp_str_c("Sportfonds 2025");
  catlist(&fr->categories, "kleding", "sport");
  fr->valid_from_ms = T_GENESIS;
  fr->valid_until_ms = T_FUND_UNTIL;
  fr->max_payment = 15000;
  fr->closed = false;
  fr->deposited = 5000000;
  fr->unissued = 4970000;
  fr->passes = 28500;
  fr->settled = 1500;
  fr->issued = 30000;
  fr->spent = 2500;
  fr->refunded = 1000;
  fr->n_spending = 1;
  fr->spending[0].category = sp_str_c("sport");
  fr->spending[0].cents = 2500;
  ready = 1;
}

/* One example of every message type (pointers into F). */
static void make_msg(uint32_t type, struct sp_msg *m)
{
  memset(m, 0, sizeof(*m));
  m->type = type;
  switch (type) {
  case SP_MSG_HELLO:
    memcpy(m->u.hello.chain_id, F.chain, SP_HASH_LEN);
    memcpy(m->u.hello.eph, F.eph_a, SP_KX_LEN);
    break;
  case SP_MSG_AUTH: {
    struct sp_buf b;
    sp_buf_init(&b, 256);
    memcpy(m->u.auth.pk, val_pk(0), SP_PK_LEN);
    m->u.auth.role = SP_ROLE_VALIDATOR;
    m->u.auth.agent = sp_str_c("stadjerd/0.1.0");
    assert_ok(sp_auth_signbytes(m->u.auth.pk, SP_ROLE_VALIDATOR, F.eph_a, F.eph_b, &b));
    assert_ok(sp_sign_dom(m->u.auth.sig, SP_DOM_HANDSHAKE, F.chain, b.data, b.len, val_sk(0)));
    sp_buf_free(&b);
    break;
  }
  case SP_MSG_ERROR:
    m->req_id = 8;
    m->u.error.code = 42;
    m->u.error.message = sp_str_c("mempool full, try again later");
    break;
  case SP_MSG_SUBMIT:
    m->req_id = 1;
    m->u.submit = F.tx[SP_TX_PAY];
    break;
  case SP_MSG_RESULT:
    m->req_id = 2;
    memcpy(m->u.result.txid, F.txid[SP_TX_FUND_CREATE], SP_HASH_LEN);
    m->u.result.status = SP_TXS_COMMITTED;
    m->u.result.height = 1;
    m->u.result.index = 0;
    m->u.result.reason = 0;
    m->u.result.message = sp_str_c("");
    m->u.result.n_proof = 2;
    memcpy(m->u.result.proof, F.proof, sizeof(F.proof));
    break;
  case SP_MSG_TX_STATUS:
    m->req_id = 2;
    memcpy(m->u.txid.txid, F.txid[SP_TX_FUND_CREATE], SP_HASH_LEN);
    break;
  case SP_MSG_BALANCE_Q:
    m->req_id = 3;
    memcpy(m->u.account.account, keys[K_PASS_A].pk, SP_PK_LEN);
    break;
  case SP_MSG_BALANCE_A:
    m->req_id = 3;
    memcpy(m->u.balance.account, keys[K_PASS_A].pk, SP_PK_LEN);
    m->u.balance.kind = SP_ACCT_PASS;
    m->u.balance.status = SP_ACCT_ACTIVE;
    m->u.balance.seq = 1;
    m->u.balance.n_rows = 2;
    m->u.balance.rows[0].fund = sp_str_c("cultuur-2025");
    m->u.balance.rows[0].amount = 5000;
    m->u.balance.rows[1].fund = sp_str_c("sport-2025");
    m->u.balance.rows[1].amount = 5000;
    break;
  case SP_MSG_HISTORY_Q:
    m->req_id = 4;
    memcpy(m->u.history_q.account, keys[K_PASS_A].pk, SP_PK_LEN);
    m->u.history_q.before = 0;
    m->u.history_q.limit = 20;
    break;
  case SP_MSG_HISTORY_A:
    m->req_id = 4;
    m->u.history.n_rows = 2;
    m->u.history.rows = F.hist;
    m->u.history.next = 0;
    break;
  case SP_MSG_PROOF_Q:
    m->req_id = 5;
    memcpy(m->u.txid.txid, F.txid[SP_TX_FUND_CREATE], SP_HASH_LEN);
    break;
  case SP_MSG_PROOF_A:
    m->req_id = 5;
    m->u.proof.tx = F.tx[SP_TX_FUND_CREATE];
    m->u.proof.height = 1;
    m->u.proof.index = 0;
    m->u.proof.n_proof = 2;
    memcpy(m->u.proof.proof, F.proof, sizeof(F.proof));
    m->u.proof.header = F.block[1].header;
    m->u.proof.cert = F.cert[1];
    break;
  case SP_MSG_STATUS_Q:
    m->req_id = 6;
    break;
  case SP_MSG_STATUS_A:
    m->req_id = 6;
    memcpy(m->u.status.chain_id, F.chain, SP_HASH_LEN);
    m->u.status.height = 2;
    memcpy(m->u.status.tip, F.bhash[2], SP_HASH_LEN);
    memcpy(m->u.status.state_digest, F.state[2], SP_HASH_LEN);
    m->u.status.role = SP_ROLE_VALIDATOR;
    m->u.status.peers = 3;
    m->u.status.mempool = 5;
    m->u.status.version = sp_str_c("0.1.0");
    break;
  case SP_MSG_BLOCKS_Q:
    m->req_id = 7;
    m->u.blocks_q.from = 1;
    m->u.blocks_q.count = 2;
    break;
  case SP_MSG_BLOCKS_A:
    m->req_id = 7;
    m->u.blocks.n = 2;
    m->u.blocks.v = F.entries;
    break;
  case SP_MSG_PROPOSAL:
    m->u.proposal.proposal = F.prop[0];
    m->u.proposal.block = F.block[1];
    break;
  case SP_MSG_VOTE:
    m->u.vote = F.prevote;
    break;
  case SP_MSG_FUNDS_Q:
    m->req_id = 9;
    m->u.funds_q.fund = sp_str_c("sport-2025");
    break;
  case SP_MSG_FUNDS_A:
    m->req_id = 9;
    m->u.funds.n = 3;
    m->u.funds.rows = F.funds;
    break;
  default:
    fail();
  }
}

/* ========================================================= descriptions */

/* The '#' comment block of a vector file, built line by line. */
struct notes {
  char *p;
  size_t len, cap;
};

static void note(struct notes *n, int ind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(struct notes *n, int ind, const char *fmt, ...)
{
  char line[1024];
  int k = snprintf(line, sizeof(line), "#%*s ", 2 * ind, "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + k, sizeof(line) - (size_t)k, fmt, ap);
  va_end(ap);
  size_t l = strlen(line);
  while (l > 1 && line[l - 1] == ' ')
    line[--l] = '\0'; /* no trailing blanks */
  if (n->len + l + 2 > n->cap) {
    size_t c = n->cap ? n->cap : 4096;
    while (c < n->len + l + 2)
      c *= 2;
    char *np = realloc(n->p, c);
    assert_non_null(np);
    n->p = np;
    n->cap = c;
  }
  memcpy(n->p + n->len, line, l);
  n->len += l;
  n->p[n->len++] = '\n';
  n->p[n->len] = '\0';
}

static void notes_free(struct notes *n)
{
  free(n->p);
  memset(n, 0, sizeof(*n));
}

static void d_hex(struct notes *n, int ind, const char *label, const uint8_t *p, size_t len)
{
  char hex[2 * SP_SIG_LEN + 1];
  assert_true(len <= SP_SIG_LEN);
  sp_vec_hex(hex, p, len);
  note(n, ind, "%s: %s", label, len ? hex : "(empty)");
}

static void d_key(struct notes *n, int ind, const char *label, const uint8_t pk[SP_PK_LEN])
{
  const struct key *k = key_of(pk);
  if (k != NULL)
    note(n, ind, "%s: %s, Ed25519 key from the seed 32 x 0x%02x:", label, k->name, k->seed);
  else
    note(n, ind, "%s: (not a known key):", label);
  d_hex(n, ind + 1, "public key", pk, SP_PK_LEN);
}

static void d_hash(struct notes *n, int ind, const char *label, const uint8_t h[32])
{
  const char *what = value_name(h);
  static const uint8_t zero[32];
  if (what == NULL && memcmp(h, zero, 32) == 0)
    what = "all zero";
  if (what != NULL)
    note(n, ind, "%s: %s", label, what);
  else
    note(n, ind, "%s:", label);
  d_hex(n, ind + 1, "hex", h, 32);
}

static void d_sig(struct notes *n, int ind, const char *label, const uint8_t sig[SP_SIG_LEN],
                  const char *over)
{
  note(n, ind, "%s: Ed25519 over %s", label, over);
  d_hex(n, ind + 1, "hex", sig, SP_SIG_LEN);
}

static void d_amount(struct notes *n, int ind, const char *label, uint64_t cents)
{
  char text[SP_MONEY_TEXT_MAX];
  assert_true(sp_money_format(cents, text, sizeof(text)) > 0);
  note(n, ind, "%s: %llu cents = EUR %s", label, (unsigned long long)cents, text);
}

static void d_time(struct notes *n, int ind, const char *label, uint64_t ms)
{
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  char text[40];
  gmtime_r(&s, &tm);
  strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
  note(n, ind, "%s: %llu ms = %s.%03uZ", label, (unsigned long long)ms, text,
       (unsigned)(ms % 1000));
}

static void d_str(struct notes *n, int ind, const char *label, struct sp_str s)
{
  note(n, ind, "%s: \"%.*s\" (%u bytes of UTF-8)", label, (int)s.len, s.len ? s.p : "", s.len);
}

static void d_uint(struct notes *n, int ind, const char *label, uint64_t v)
{
  note(n, ind, "%s: %llu", label, (unsigned long long)v);
}

static void d_catlist(struct notes *n, int ind, const char *label, const struct sp_catlist *c)
{
  note(n, ind, "%s: %u, sorted:", label, c->n);
  for (uint32_t i = 0; i < c->n; i++)
    note(n, ind + 1, "\"%.*s\"", (int)c->v[i].len, c->v[i].p);
}

static const char *const over_tx = "\"stadjerspas/tx/1\" 00 || chain id || tx body";
static const char *const over_vote = "\"stadjerspas/vote/1\" 00 || chain id || "
                                     "[1, type, height, round, block]";

static void d_tx(struct notes *n, int ind, const struct sp_tx *tx)
{
  uint8_t id[SP_HASH_LEN];
  note(n, ind, "tx: [body, signature]; body = [version 1, kind, signer, seq, fields...]");
  note(n, ind + 1, "kind: %u (%s)", tx->kind, sp_tx_kind_name(tx->kind));
  d_key(n, ind + 1, "signer", tx->signer);
  d_uint(n, ind + 1, "seq", tx->seq);
  int f = ind + 1;
  switch (tx->kind) {
  case SP_TX_FUND_CREATE:
    d_str(n, f, "fund", tx->u.fund_create.fund);
    d_str(n, f, "name", tx->u.fund_create.name);
    d_catlist(n, f, "categories", &tx->u.fund_create.categories);
    d_time(n, f, "valid_from", tx->u.fund_create.valid_from_ms);
    d_time(n, f, "valid_until", tx->u.fund_create.valid_until_ms);
    d_amount(n, f, "max_payment", tx->u.fund_create.max_payment);
    break;
  case SP_TX_FUND_DEPOSIT:
    d_str(n, f, "fund", tx->u.fund_deposit.fund);
    d_amount(n, f, "amount", tx->u.fund_deposit.amount);
    d_str(n, f, "bank_ref", tx->u.fund_deposit.bank_ref);
    break;
  case SP_TX_FUND_CLOSE:
    d_str(n, f, "fund", tx->u.fund_close.fund);
    break;
  case SP_TX_PASS_ENROLL:
    d_key(n, f, "pass", tx->u.pass_enroll.pass);
    d_hash(n, f, "household", tx->u.pass_enroll.household);
    break;
  case SP_TX_PASS_BLOCK:
  case SP_TX_PASS_UNBLOCK:
  case SP_TX_MERCHANT_SUSPEND:
  case SP_TX_MERCHANT_REINSTATE:
    d_key(n, f, "account", tx->u.reason.account);
    d_str(n, f, "reason", tx->u.reason.reason);
    break;
  case SP_TX_PASS_REPLACE:
    d_key(n, f, "old_pass", tx->u.pass_replace.old_pass);
    d_key(n, f, "new_pass", tx->u.pass_replace.new_pass);
    break;
  case SP_TX_MERCHANT_REGISTER:
  case SP_TX_MERCHANT_UPDATE:
    d_key(n, f, "merchant", tx->u.merchant.merchant);
    d_str(n, f, "name", tx->u.merchant.name);
    d_catlist(n, f, "categories", &tx->u.merchant.categories);
    break;
  case SP_TX_ISSUE:
    d_str(n, f, "fund", tx->u.issue.fund);
    d_str(n, f, "ref", tx->u.issue.ref);
    note(n, f, "rows: %u [pass, amount], sorted by pass key:", tx->u.issue.n_rows);
    for (uint32_t i = 0; i < tx->u.issue.n_rows; i++) {
      d_key(n, f + 1, "pass", tx->u.issue.rows[i].pass);
      d_amount(n, f + 2, "amount", tx->u.issue.rows[i].amount);
    }
    break;
  case SP_TX_CLAIM_SETTLE:
    d_hash(n, f, "claim", tx->u.claim_settle.claim);
    d_str(n, f, "bank_ref", tx->u.claim_settle.bank_ref);
    break;
  case SP_TX_PAY:
    d_key(n, f, "merchant", tx->u.pay.merchant);
    note(n, f, "parts: %u [fund, amount], sorted by fund:", tx->u.pay.n_parts);
    for (uint32_t i = 0; i < tx->u.pay.n_parts; i++) {
      d_str(n, f + 1, "fund", tx->u.pay.parts[i].fund);
      d_amount(n, f + 2, "amount", tx->u.pay.parts[i].amount);
    }
    d_str(n, f, "order_ref", tx->u.pay.order_ref);
    break;
  case SP_TX_REFUND:
    d_hash(n, f, "payment", tx->u.refund.payment);
    d_amount(n, f, "amount", tx->u.refund.amount);
    break;
  case SP_TX_CLAIM:
    d_str(n, f, "fund", tx->u.claim.fund);
    d_amount(n, f, "amount", tx->u.claim.amount);
    break;
  default:
    print_error("d_tx: no description for tx kind %u\n", tx->kind);
    fail();
  }
  d_sig(n, ind + 1, "signature", tx->sig, over_tx);
  txid_of(tx, id);
  note(n, ind + 1, "tx id = BLAKE2b-256(\"stadjerspas/tx/1\" 00 || chain id || body):");
  d_hex(n, ind + 2, "hex", id, SP_HASH_LEN);
}

static void d_genesis(struct notes *n, int ind, const struct sp_genesis *g)
{
  note(n, ind, "genesis: [version 1, chain name, time, authority, validators, categories, "
               "params]");
  d_str(n, ind + 1, "chain_name", g->chain_name);
  d_time(n, ind + 1, "genesis_time", g->genesis_time_ms);
  d_key(n, ind + 1, "authority", g->authority);
  note(n, ind + 1, "validators: %u [pk, name, addr], sorted by pk:", g->n_validators);
  for (uint32_t i = 0; i < g->n_validators; i++) {
    note(n, ind + 2, "index %u:", i);
    d_key(n, ind + 3, "pk", g->validators[i].pk);
    d_str(n, ind + 3, "name", g->validators[i].name);
    d_str(n, ind + 3, "addr", g->validators[i].addr);
  }
  note(n, ind + 1, "categories: %u, sorted:", g->n_categories);
  for (uint32_t i = 0; i < g->n_categories; i++)
    note(n, ind + 2, "\"%.*s\"", (int)g->categories[i].len, g->categories[i].p);
  note(n, ind + 1, "params: [max_block_txs, max_block_bytes, fund_close_grace_ms]");
  d_uint(n, ind + 2, "max_block_txs", g->params.max_block_txs);
  d_uint(n, ind + 2, "max_block_bytes", g->params.max_block_bytes);
  note(n, ind + 2, "fund_close_grace: %llu ms = %llu days",
       (unsigned long long)g->params.fund_close_grace_ms,
       (unsigned long long)(g->params.fund_close_grace_ms / 86400000u));
}

static void d_header(struct notes *n, int ind, const struct sp_header *h)
{
  uint8_t hash[SP_HASH_LEN];
  note(n, ind, "header: [version 1, chain id, height, prev, time, proposer, tx_root, "
               "tx_count, last_commit_hash, state_digest]");
  d_hash(n, ind + 1, "chain_id", h->chain_id);
  d_uint(n, ind + 1, "height", h->height);
  d_hash(n, ind + 1, "prev", h->prev);
  d_time(n, ind + 1, "time", h->time_ms);
  d_key(n, ind + 1, "proposer", h->proposer);
  d_hash(n, ind + 1, "tx_root", h->tx_root);
  d_uint(n, ind + 1, "tx_count", h->tx_count);
  d_hash(n, ind + 1, "last_commit_hash", h->last_commit_hash);
  d_hash(n, ind + 1, "state_digest", h->state_digest);
  assert_ok(sp_header_hash(h, hash));
  note(n, ind + 1, "block hash = BLAKE2b-256(\"stadjerspas/block/1\" 00 || chain id || "
                   "header):");
  d_hex(n, ind + 2, "hex", hash, SP_HASH_LEN);
}

static void d_cert(struct notes *n, int ind, const struct sp_cert *c)
{
  note(n, ind, "commit certificate: [version 1, height, round, block, [[index, sig]...]]");
  d_uint(n, ind + 1, "height", c->height);
  d_uint(n, ind + 1, "round", c->round);
  d_hash(n, ind + 1, "block", c->block);
  note(n, ind + 1, "signatures: %u precommits, sorted by validator index:", c->n_sigs);
  for (uint32_t i = 0; i < c->n_sigs; i++) {
    const struct key *k = key_of(val_pk((int)c->sigs[i].validator));
    note(n, ind + 2, "validator index %u (%s, seed 32 x 0x%02x)", c->sigs[i].validator,
         k ? k->name : "?", k ? k->seed : 0);
    d_sig(n, ind + 3, "sig", c->sigs[i].sig, over_vote);
  }
}

static void d_block(struct notes *n, int ind, const struct sp_block *b)
{
  note(n, ind, "block: [version 1, header, txs, last commit]");
  d_header(n, ind + 1, &b->header);
  note(n, ind + 1, "txs: %u", b->n_txs);
  for (uint32_t i = 0; i < b->n_txs; i++) {
    uint8_t id[SP_HASH_LEN];
    const struct sp_tx *tx = &b->txs[i];
    txid_of(tx, id);
    const struct key *k = key_of(tx->signer);
    note(n, ind + 2, "tx %u: %s by %s, seq %llu, %s", i, sp_tx_kind_name(tx->kind),
         k ? k->name : "?", (unsigned long long)tx->seq,
         value_name(id) ? value_name(id) : "(not a vector)");
  }
  if (b->has_last_commit)
    d_cert(n, ind + 1, &b->last_commit);
  else
    note(n, ind + 1, "last commit: [] (none at height 1)");
}

static void d_vote(struct notes *n, int ind, const struct sp_vote *v)
{
  note(n, ind, "vote: [version 1, type, height, round, block or empty, validator, sig]");
  note(n, ind + 1, "type: %u (%s)", v->type, v->type == SP_VOTE_PREVOTE ? "prevote" : "precommit");
  d_uint(n, ind + 1, "height", v->height);
  d_uint(n, ind + 1, "round", v->round);
  if (v->has_block)
    d_hash(n, ind + 1, "block", v->block);
  else
    note(n, ind + 1, "block: nil (empty byte string)");
  d_key(n, ind + 1, "validator", v->validator);
  d_sig(n, ind + 1, "sig", v->sig, over_vote);
}

static void d_proposal(struct notes *n, int ind, const struct sp_proposal *p)
{
  note(n, ind, "proposal: [version 1, height, round, valid_round, block, proposer, sig]");
  d_uint(n, ind + 1, "height", p->height);
  d_uint(n, ind + 1, "round", p->round);
  note(n, ind + 1, "valid_round: %lld%s", (long long)p->valid_round,
       p->valid_round == SP_ROUND_NONE ? " (none)" : "");
  d_hash(n, ind + 1, "block", p->block);
  d_key(n, ind + 1, "proposer", p->proposer);
  d_sig(n, ind + 1, "sig", p->sig,
        "\"stadjerspas/proposal/1\" 00 || chain id || "
        "[1, height, round, valid_round, block]");
}

static void d_proof(struct notes *n, int ind, uint32_t np, const uint8_t (*path)[SP_HASH_LEN])
{
  note(n, ind, "audit path: %u hashes (RFC 6962, leaf = H(0x00 || tx encoding))", np);
  for (uint32_t i = 0; i < np; i++)
    d_hash(n, ind + 1, "hash", path[i]);
}

static void d_msg(struct notes *n, const struct sp_msg *m)
{
  note(n, 0, "message: [version 1, type, request id, fields...]");
  note(n, 1, "type: %u (%s)", m->type, sp_msg_type_name(m->type));
  d_uint(n, 1, "request id", m->req_id);
  switch (m->type) {
  case SP_MSG_HELLO:
    d_hash(n, 1, "chain_id", m->u.hello.chain_id);
    d_hash(n, 1, "ephemeral key", m->u.hello.eph);
    break;
  case SP_MSG_AUTH:
    d_key(n, 1, "pk", m->u.auth.pk);
    note(n, 1, "role: %u (validator)", m->u.auth.role);
    d_str(n, 1, "agent", m->u.auth.agent);
    d_sig(n, 1, "sig", m->u.auth.sig,
          "\"stadjerspas/handshake/1\" 00 || chain id || [1, pk, role, own ephemeral "
          "(key A), peer ephemeral (key B)]");
    note(n, 1, "signed over, not part of this message:");
    d_hash(n, 2, "own ephemeral", F.eph_a);
    d_hash(n, 2, "peer ephemeral", F.eph_b);
    break;
  case SP_MSG_ERROR:
    d_uint(n, 1, "code", m->u.error.code);
    d_str(n, 1, "message", m->u.error.message);
    break;
  case SP_MSG_SUBMIT:
    d_tx(n, 1, &m->u.submit);
    break;
  case SP_MSG_RESULT:
    d_hash(n, 1, "txid", m->u.result.txid);
    note(n, 1, "status: %u (committed)", m->u.result.status);
    d_uint(n, 1, "height", m->u.result.height);
    d_uint(n, 1, "index", m->u.result.index);
    d_uint(n, 1, "reason", m->u.result.reason);
    d_str(n, 1, "message", m->u.result.message);
    d_proof(n, 1, m->u.result.n_proof, (const uint8_t(*)[SP_HASH_LEN])m->u.result.proof);
    break;
  case SP_MSG_TX_STATUS:
  case SP_MSG_PROOF_Q:
    d_hash(n, 1, "txid", m->u.txid.txid);
    break;
  case SP_MSG_BALANCE_Q:
    d_key(n, 1, "account", m->u.account.account);
    break;
  case SP_MSG_BALANCE_A:
    d_key(n, 1, "account", m->u.balance.account);
    note(n, 1, "kind: %u (pass)", m->u.balance.kind);
    note(n, 1, "status: %u (active)", m->u.balance.status);
    d_uint(n, 1, "seq", m->u.balance.seq);
    note(n, 1, "rows: %u [fund, amount], sorted by fund:", m->u.balance.n_rows);
    for (uint32_t i = 0; i < m->u.balance.n_rows; i++) {
      d_str(n, 2, "fund", m->u.balance.rows[i].fund);
      d_amount(n, 3, "amount", m->u.balance.rows[i].amount);
    }
    break;
  case SP_MSG_HISTORY_Q:
    d_key(n, 1, "account", m->u.history_q.account);
    d_uint(n, 1, "before", m->u.history_q.before);
    d_uint(n, 1, "limit", m->u.history_q.limit);
    break;
  case SP_MSG_HISTORY_A:
    note(n, 1, "rows: %u [height, index, time, tx], newest first:", m->u.history.n_rows);
    for (uint32_t i = 0; i < m->u.history.n_rows; i++) {
      const struct sp_history_row *r = &m->u.history.rows[i];
      d_uint(n, 2, "height", r->height);
      d_uint(n, 2, "index", r->index);
      d_time(n, 2, "time", r->time_ms);
      d_tx(n, 2, &r->tx);
    }
    d_uint(n, 1, "next", m->u.history.next);
    break;
  case SP_MSG_PROOF_A:
    d_tx(n, 1, &m->u.proof.tx);
    d_uint(n, 1, "height", m->u.proof.height);
    d_uint(n, 1, "index", m->u.proof.index);
    d_proof(n, 1, m->u.proof.n_proof, (const uint8_t(*)[SP_HASH_LEN])m->u.proof.proof);
    d_header(n, 1, &m->u.proof.header);
    d_cert(n, 1, &m->u.proof.cert);
    break;
  case SP_MSG_STATUS_Q:
    note(n, 1, "(no fields)");
    break;
  case SP_MSG_STATUS_A:
    d_hash(n, 1, "chain_id", m->u.status.chain_id);
    d_uint(n, 1, "height", m->u.status.height);
    d_hash(n, 1, "tip", m->u.status.tip);
    d_hash(n, 1, "state_digest", m->u.status.state_digest);
    note(n, 1, "role: %u (validator)", m->u.status.role);
    d_uint(n, 1, "peers", m->u.status.peers);
    d_uint(n, 1, "mempool", m->u.status.mempool);
    d_str(n, 1, "version", m->u.status.version);
    break;
  case SP_MSG_BLOCKS_Q:
    d_uint(n, 1, "from", m->u.blocks_q.from);
    d_uint(n, 1, "count", m->u.blocks_q.count);
    break;
  case SP_MSG_BLOCKS_A:
    note(n, 1, "entries: %u [block, its commit certificate], consecutive heights:",
         m->u.blocks.n);
    for (uint32_t i = 0; i < m->u.blocks.n; i++) {
      note(n, 2, "entry %u: block-%llu.vec and its certificate", i,
           (unsigned long long)m->u.blocks.v[i].block.header.height);
      d_block(n, 3, &m->u.blocks.v[i].block);
      d_cert(n, 3, &m->u.blocks.v[i].cert);
    }
    break;
  case SP_MSG_PROPOSAL:
    d_proposal(n, 1, &m->u.proposal.proposal);
    d_block(n, 1, &m->u.proposal.block);
    break;
  case SP_MSG_VOTE:
    d_vote(n, 1, &m->u.vote);
    break;
  case SP_MSG_FUNDS_Q:
    d_str(n, 1, "fund", m->u.funds_q.fund);
    note(n, 2, "(\"\" would ask for all funds)");
    break;
  case SP_MSG_FUNDS_A:
    note(n, 1, "funds: %u rows of 18 fields, sorted by id:", m->u.funds.n);
    for (uint32_t i = 0; i < m->u.funds.n; i++) {
      const struct sp_fund_row *f = &m->u.funds.rows[i];
      d_str(n, 2, "id", f->id);
      d_str(n, 3, "name", f->name);
      d_catlist(n, 3, "categories", &f->categories);
      d_time(n, 3, "valid_from", f->valid_from_ms);
      d_time(n, 3, "valid_until", f->valid_until_ms);
      if (f->max_payment)
        d_amount(n, 3, "max_payment", f->max_payment);
      else
        note(n, 3, "max_payment: 0 (no maximum)");
      note(n, 3, "closed: %u (%s)", f->closed ? 1u : 0u, f->closed ? "closed" : "open");
      d_amount(n, 3, "deposited", f->deposited);
      d_amount(n, 3, "unissued", f->unissued);
      d_amount(n, 3, "passes", f->passes);
      d_amount(n, 3, "receivable", f->receivable);
      d_amount(n, 3, "claimed", f->claimed);
      d_amount(n, 3, "settled", f->settled);
      d_amount(n, 3, "returned", f->returned);
      d_amount(n, 3, "issued (flow)", f->issued);
      d_amount(n, 3, "spent (flow)", f->spent);
      d_amount(n, 3, "refunded (flow)", f->refunded);
      note(n, 3, "spending: %u [category, cents], sorted by category:", f->n_spending);
      for (uint32_t j = 0; j < f->n_spending; j++) {
        d_str(n, 4, "category", f->spending[j].category);
        d_amount(n, 5, "spent", f->spending[j].cents);
      }
    }
    break;
  default:
    fail();
  }
}

/* ====================================================== deep comparison */

/* want: a built object; got: the same object decoded. */

static void eq_str(struct sp_str want, struct sp_str got)
{
  if (!sp_str_eq(want, got)) {
    print_error("string differs: want \"%.*s\", got \"%.*s\"\n", (int)want.len,
                want.len ? want.p : "", (int)got.len, got.len ? got.p : "");
    fail();
  }
}

static void eq_catlist(const struct sp_catlist *want, const struct sp_catlist *got)
{
  assert_int_equal(want->n, got->n);
  for (uint32_t i = 0; i < want->n; i++)
    eq_str(want->v[i], got->v[i]);
}

static void eq_tx(const struct sp_tx *want, const struct sp_tx *got)
{
  assert_int_equal(want->kind, got->kind);
  assert_memory_equal(want->signer, got->signer, SP_PK_LEN);
  assert_int_equal(want->seq, got->seq);
  assert_memory_equal(want->sig, got->sig, SP_SIG_LEN);
  const struct sp_tx *w = want, *g = got;
  switch (want->kind) {
  case SP_TX_FUND_CREATE:
    eq_str(w->u.fund_create.fund, g->u.fund_create.fund);
    eq_str(w->u.fund_create.name, g->u.fund_create.name);
    eq_catlist(&w->u.fund_create.categories, &g->u.fund_create.categories);
    assert_int_equal(w->u.fund_create.valid_from_ms, g->u.fund_create.valid_from_ms);
    assert_int_equal(w->u.fund_create.valid_until_ms, g->u.fund_create.valid_until_ms);
    assert_int_equal(w->u.fund_create.max_payment, g->u.fund_create.max_payment);
    break;
  case SP_TX_FUND_DEPOSIT:
    eq_str(w->u.fund_deposit.fund, g->u.fund_deposit.fund);
    assert_int_equal(w->u.fund_deposit.amount, g->u.fund_deposit.amount);
    eq_str(w->u.fund_deposit.bank_ref, g->u.fund_deposit.bank_ref);
    break;
  case SP_TX_FUND_CLOSE:
    eq_str(w->u.fund_close.fund, g->u.fund_close.fund);
    break;
  case SP_TX_PASS_ENROLL:
    assert_memory_equal(w->u.pass_enroll.pass, g->u.pass_enroll.pass, SP_PK_LEN);
    assert_memory_equal(w->u.pass_enroll.household, g->u.pass_enroll.household, SP_HASH_LEN);
    break;
  case SP_TX_PASS_BLOCK:
  case SP_TX_PASS_UNBLOCK:
  case SP_TX_MERCHANT_SUSPEND:
  case SP_TX_MERCHANT_REINSTATE:
    assert_memory_equal(w->u.reason.account, g->u.reason.account, SP_PK_LEN);
    eq_str(w->u.reason.reason, g->u.reason.reason);
    break;
  case SP_TX_PASS_REPLACE:
    assert_memory_equal(w->u.pass_replace.old_pass, g->u.pass_replace.old_pass, SP_PK_LEN);
    assert_memory_equal(w->u.pass_replace.new_pass, g->u.pass_replace.new_pass, SP_PK_LEN);
    break;
  case SP_TX_MERCHANT_REGISTER:
  case SP_TX_MERCHANT_UPDATE:
    assert_memory_equal(w->u.merchant.merchant, g->u.merchant.merchant, SP_PK_LEN);
    eq_str(w->u.merchant.name, g->u.merchant.name);
    eq_catlist(&w->u.merchant.categories, &g->u.merchant.categories);
    break;
  case SP_TX_ISSUE:
    eq_str(w->u.issue.fund, g->u.issue.fund);
    eq_str(w->u.issue.ref, g->u.issue.ref);
    assert_int_equal(w->u.issue.n_rows, g->u.issue.n_rows);
    assert_non_null(g->u.issue.rows);
    for (uint32_t i = 0; i < w->u.issue.n_rows; i++) {
      assert_memory_equal(w->u.issue.rows[i].pass, g->u.issue.rows[i].pass, SP_PK_LEN);
      assert_int_equal(w->u.issue.rows[i].amount, g->u.issue.rows[i].amount);
    }
    break;
  case SP_TX_CLAIM_SETTLE:
    assert_memory_equal(w->u.claim_settle.claim, g->u.claim_settle.claim, SP_HASH_LEN);
    eq_str(w->u.claim_settle.bank_ref, g->u.claim_settle.bank_ref);
    break;
  case SP_TX_PAY:
    assert_memory_equal(w->u.pay.merchant, g->u.pay.merchant, SP_PK_LEN);
    assert_int_equal(w->u.pay.n_parts, g->u.pay.n_parts);
    for (uint32_t i = 0; i < w->u.pay.n_parts; i++) {
      eq_str(w->u.pay.parts[i].fund, g->u.pay.parts[i].fund);
      assert_int_equal(w->u.pay.parts[i].amount, g->u.pay.parts[i].amount);
    }
    eq_str(w->u.pay.order_ref, g->u.pay.order_ref);
    break;
  case SP_TX_REFUND:
    assert_memory_equal(w->u.refund.payment, g->u.refund.payment, SP_HASH_LEN);
    assert_int_equal(w->u.refund.amount, g->u.refund.amount);
    break;
  case SP_TX_CLAIM:
    eq_str(w->u.claim.fund, g->u.claim.fund);
    assert_int_equal(w->u.claim.amount, g->u.claim.amount);
    break;
  default:
    print_error("eq_tx: no comparison for tx kind %u\n", w->kind);
    fail();
  }

  /* the views a decoder sets: raw = whole tx, body = signed part inside it */
  struct sp_buf b;
  uint8_t id_want[SP_HASH_LEN], id_got[SP_HASH_LEN];
  sp_buf_init(&b, SP_MAX_TX_BYTES);
  assert_non_null(got->raw);
  assert_non_null(got->body);
  assert_ok(sp_tx_encode(want, &b));
  assert_int_equal(got->raw_len, b.len);
  assert_memory_equal(got->raw, b.data, b.len);
  sp_buf_reset(&b);
  assert_ok(sp_tx_encode_body(want, &b));
  assert_int_equal(got->body_len, b.len);
  assert_memory_equal(got->body, b.data, b.len);
  assert_true(got->body > got->raw && got->body + got->body_len <= got->raw + got->raw_len);
  sp_buf_free(&b);
  assert_ok(sp_tx_verify(got, F.chain));
  txid_of(want, id_want);
  assert_ok(sp_tx_id(got, F.chain, id_got));
  assert_memory_equal(id_want, id_got, SP_HASH_LEN);
}

static void eq_genesis(const struct sp_genesis *w, const struct sp_genesis *g)
{
  eq_str(w->chain_name, g->chain_name);
  assert_int_equal(w->genesis_time_ms, g->genesis_time_ms);
  assert_memory_equal(w->authority, g->authority, SP_PK_LEN);
  assert_int_equal(w->n_validators, g->n_validators);
  for (uint32_t i = 0; i < w->n_validators; i++) {
    assert_memory_equal(w->validators[i].pk, g->validators[i].pk, SP_PK_LEN);
    eq_str(w->validators[i].name, g->validators[i].name);
    eq_str(w->validators[i].addr, g->validators[i].addr);
  }
  assert_int_equal(w->n_categories, g->n_categories);
  for (uint32_t i = 0; i < w->n_categories; i++)
    eq_str(w->categories[i], g->categories[i]);
  assert_int_equal(w->params.max_block_txs, g->params.max_block_txs);
  assert_int_equal(w->params.max_block_bytes, g->params.max_block_bytes);
  assert_int_equal(w->params.fund_close_grace_ms, g->params.fund_close_grace_ms);
}

static void eq_header(const struct sp_header *w, const struct sp_header *g)
{
  assert_memory_equal(w->chain_id, g->chain_id, SP_HASH_LEN);
  assert_int_equal(w->height, g->height);
  assert_memory_equal(w->prev, g->prev, SP_HASH_LEN);
  assert_int_equal(w->time_ms, g->time_ms);
  assert_memory_equal(w->proposer, g->proposer, SP_PK_LEN);
  assert_memory_equal(w->tx_root, g->tx_root, SP_HASH_LEN);
  assert_int_equal(w->tx_count, g->tx_count);
  assert_memory_equal(w->last_commit_hash, g->last_commit_hash, SP_HASH_LEN);
  assert_memory_equal(w->state_digest, g->state_digest, SP_HASH_LEN);
  /* raw view: exactly the header's encoding; same hash as the built one */
  struct sp_buf b;
  uint8_t hw[SP_HASH_LEN], hg[SP_HASH_LEN];
  sp_buf_init(&b, 1024);
  assert_ok(sp_header_encode(w, &b));
  assert_non_null(g->raw);
  assert_int_equal(g->raw_len, b.len);
  assert_memory_equal(g->raw, b.data, b.len);
  sp_buf_free(&b);
  assert_ok(sp_header_hash(w, hw));
  assert_ok(sp_header_hash(g, hg));
  assert_memory_equal(hw, hg, SP_HASH_LEN);
}

static void eq_cert(const struct sp_cert *w, const struct sp_cert *g)
{
  assert_int_equal(w->height, g->height);
  assert_int_equal(w->round, g->round);
  assert_memory_equal(w->block, g->block, SP_HASH_LEN);
  assert_int_equal(w->n_sigs, g->n_sigs);
  for (uint32_t i = 0; i < w->n_sigs; i++) {
    assert_int_equal(w->sigs[i].validator, g->sigs[i].validator);
    assert_memory_equal(w->sigs[i].sig, g->sigs[i].sig, SP_SIG_LEN);
  }
  assert_ok(sp_cert_verify(g, &F.genesis, F.chain));
}

static void eq_vote(const struct sp_vote *w, const struct sp_vote *g)
{
  assert_int_equal(w->type, g->type);
  assert_int_equal(w->height, g->height);
  assert_int_equal(w->round, g->round);
  assert_int_equal(w->has_block, g->has_block);
  if (w->has_block)
    assert_memory_equal(w->block, g->block, SP_HASH_LEN);
  assert_memory_equal(w->validator, g->validator, SP_PK_LEN);
  assert_memory_equal(w->sig, g->sig, SP_SIG_LEN);
  assert_ok(sp_vote_verify(g, F.chain));
}

static void eq_proposal(const struct sp_proposal *w, const struct sp_proposal *g)
{
  assert_int_equal(w->height, g->height);
  assert_int_equal(w->round, g->round);
  assert_true(w->valid_round == g->valid_round);
  assert_memory_equal(w->block, g->block, SP_HASH_LEN);
  assert_memory_equal(w->proposer, g->proposer, SP_PK_LEN);
  assert_memory_equal(w->sig, g->sig, SP_SIG_LEN);
  assert_ok(sp_proposal_verify(g, F.chain));
}

static void eq_block(const struct sp_block *w, const struct sp_block *g)
{
  eq_header(&w->header, &g->header);
  assert_int_equal(w->n_txs, g->n_txs);
  for (uint32_t i = 0; i < w->n_txs; i++)
    eq_tx(&w->txs[i], &g->txs[i]);
  assert_int_equal(w->has_last_commit, g->has_last_commit);
  if (w->has_last_commit)
    eq_cert(&w->last_commit, &g->last_commit);
}

static void eq_proof(uint32_t wn, const uint8_t (*wp)[SP_HASH_LEN], uint32_t gn,
                     const uint8_t (*gp)[SP_HASH_LEN])
{
  assert_int_equal(wn, gn);
  if (wn)
    assert_memory_equal(wp, gp, (size_t)wn * SP_HASH_LEN);
}

static void eq_fund_row(const struct sp_fund_row *w, const struct sp_fund_row *g)
{
  eq_str(w->id, g->id);
  eq_str(w->name, g->name);
  eq_catlist(&w->categories, &g->categories);
  assert_int_equal(w->valid_from_ms, g->valid_from_ms);
  assert_int_equal(w->valid_until_ms, g->valid_until_ms);
  assert_int_equal(w->max_payment, g->max_payment);
  assert_int_equal(w->closed, g->closed);
  assert_int_equal(w->deposited, g->deposited);
  assert_int_equal(w->unissued, g->unissued);
  assert_int_equal(w->passes, g->passes);
  assert_int_equal(w->receivable, g->receivable);
  assert_int_equal(w->claimed, g->claimed);
  assert_int_equal(w->settled, g->settled);
  assert_int_equal(w->returned, g->returned);
  assert_int_equal(w->issued, g->issued);
  assert_int_equal(w->spent, g->spent);
  assert_int_equal(w->refunded, g->refunded);
  assert_int_equal(w->n_spending, g->n_spending);
  for (uint32_t i = 0; i < w->n_spending; i++) {
    eq_str(w->spending[i].category, g->spending[i].category);
    assert_int_equal(w->spending[i].cents, g->spending[i].cents);
  }
}

static void eq_msg(const struct sp_msg *w, const struct sp_msg *g)
{
  assert_int_equal(w->type, g->type);
  assert_int_equal(w->req_id, g->req_id);
  switch (w->type) {
  case SP_MSG_HELLO:
    assert_memory_equal(w->u.hello.chain_id, g->u.hello.chain_id, SP_HASH_LEN);
    assert_memory_equal(w->u.hello.eph, g->u.hello.eph, SP_KX_LEN);
    break;
  case SP_MSG_AUTH:
    assert_memory_equal(w->u.auth.pk, g->u.auth.pk, SP_PK_LEN);
    assert_int_equal(w->u.auth.role, g->u.auth.role);
    eq_str(w->u.auth.agent, g->u.auth.agent);
    assert_memory_equal(w->u.auth.sig, g->u.auth.sig, SP_SIG_LEN);
    break;
  case SP_MSG_ERROR:
    assert_int_equal(w->u.error.code, g->u.error.code);
    eq_str(w->u.error.message, g->u.error.message);
    break;
  case SP_MSG_SUBMIT:
    eq_tx(&w->u.submit, &g->u.submit);
    break;
  case SP_MSG_RESULT:
    assert_memory_equal(w->u.result.txid, g->u.result.txid, SP_HASH_LEN);
    assert_int_equal(w->u.result.status, g->u.result.status);
    assert_int_equal(w->u.result.height, g->u.result.height);
    assert_int_equal(w->u.result.index, g->u.result.index);
    assert_int_equal(w->u.result.reason, g->u.result.reason);
    eq_str(w->u.result.message, g->u.result.message);
    eq_proof(w->u.result.n_proof, (const uint8_t(*)[SP_HASH_LEN])w->u.result.proof,
             g->u.result.n_proof, (const uint8_t(*)[SP_HASH_LEN])g->u.result.proof);
    break;
  case SP_MSG_TX_STATUS:
  case SP_MSG_PROOF_Q:
    assert_memory_equal(w->u.txid.txid, g->u.txid.txid, SP_HASH_LEN);
    break;
  case SP_MSG_BALANCE_Q:
    assert_memory_equal(w->u.account.account, g->u.account.account, SP_PK_LEN);
    break;
  case SP_MSG_BALANCE_A:
    assert_memory_equal(w->u.balance.account, g->u.balance.account, SP_PK_LEN);
    assert_int_equal(w->u.balance.kind, g->u.balance.kind);
    assert_int_equal(w->u.balance.status, g->u.balance.status);
    assert_int_equal(w->u.balance.seq, g->u.balance.seq);
    assert_int_equal(w->u.balance.n_rows, g->u.balance.n_rows);
    for (uint32_t i = 0; i < w->u.balance.n_rows; i++) {
      eq_str(w->u.balance.rows[i].fund, g->u.balance.rows[i].fund);
      assert_int_equal(w->u.balance.rows[i].amount, g->u.balance.rows[i].amount);
    }
    break;
  case SP_MSG_HISTORY_Q:
    assert_memory_equal(w->u.history_q.account, g->u.history_q.account, SP_PK_LEN);
    assert_int_equal(w->u.history_q.before, g->u.history_q.before);
    assert_int_equal(w->u.history_q.limit, g->u.history_q.limit);
    break;
  case SP_MSG_HISTORY_A:
    assert_int_equal(w->u.history.n_rows, g->u.history.n_rows);
    for (uint32_t i = 0; i < w->u.history.n_rows; i++) {
      assert_int_equal(w->u.history.rows[i].height, g->u.history.rows[i].height);
      assert_int_equal(w->u.history.rows[i].index, g->u.history.rows[i].index);
      assert_int_equal(w->u.history.rows[i].time_ms, g->u.history.rows[i].time_ms);
      eq_tx(&w->u.history.rows[i].tx, &g->u.history.rows[i].tx);
    }
    assert_int_equal(w->u.history.next, g->u.history.next);
    break;
  case SP_MSG_PROOF_A:
    eq_tx(&w->u.proof.tx, &g->u.proof.tx);
    assert_int_equal(w->u.proof.height, g->u.proof.height);
    assert_int_equal(w->u.proof.index, g->u.proof.index);
    eq_proof(w->u.proof.n_proof, (const uint8_t(*)[SP_HASH_LEN])w->u.proof.proof,
             g->u.proof.n_proof, (const uint8_t(*)[SP_HASH_LEN])g->u.proof.proof);
    eq_header(&w->u.proof.header, &g->u.proof.header);
    eq_cert(&w->u.proof.cert, &g->u.proof.cert);
    break;
  case SP_MSG_STATUS_Q:
    break;
  case SP_MSG_STATUS_A:
    assert_memory_equal(w->u.status.chain_id, g->u.status.chain_id, SP_HASH_LEN);
    assert_int_equal(w->u.status.height, g->u.status.height);
    assert_memory_equal(w->u.status.tip, g->u.status.tip, SP_HASH_LEN);
    assert_memory_equal(w->u.status.state_digest, g->u.status.state_digest, SP_HASH_LEN);
    assert_int_equal(w->u.status.role, g->u.status.role);
    assert_int_equal(w->u.status.peers, g->u.status.peers);
    assert_int_equal(w->u.status.mempool, g->u.status.mempool);
    eq_str(w->u.status.version, g->u.status.version);
    break;
  case SP_MSG_BLOCKS_Q:
    assert_int_equal(w->u.blocks_q.from, g->u.blocks_q.from);
    assert_int_equal(w->u.blocks_q.count, g->u.blocks_q.count);
    break;
  case SP_MSG_BLOCKS_A:
    assert_int_equal(w->u.blocks.n, g->u.blocks.n);
    for (uint32_t i = 0; i < w->u.blocks.n; i++) {
      eq_block(&w->u.blocks.v[i].block, &g->u.blocks.v[i].block);
      eq_cert(&w->u.blocks.v[i].cert, &g->u.blocks.v[i].cert);
    }
    break;
  case SP_MSG_PROPOSAL:
    eq_proposal(&w->u.proposal.proposal, &g->u.proposal.proposal);
    eq_block(&w->u.proposal.block, &g->u.proposal.block);
    break;
  case SP_MSG_VOTE:
    eq_vote(&w->u.vote, &g->u.vote);
    break;
  case SP_MSG_FUNDS_Q:
    eq_str(w->u.funds_q.fund, g->u.funds_q.fund);
    break;
  case SP_MSG_FUNDS_A:
    assert_int_equal(w->u.funds.n, g->u.funds.n);
    for (uint32_t i = 0; i < w->u.funds.n; i++)
      eq_fund_row(&w->u.funds.rows[i], &g->u.funds.rows[i]);
    break;
  default:
    fail();
  }
}

/* ============================================== the objects of the vectors */

enum vkind { V_GENESIS, V_TX, V_HEADER, V_BLOCK, V_VOTE, V_PROPOSAL, V_CERT, V_MSG };

struct entry {
  char file[40];
  enum vkind kind;
  int arg; /* tx kind, block height, message type, ... */
};

static struct entry entries[64];
static size_t n_entries;

static void add_entry(enum vkind kind, int arg, const char *file)
{
  assert_true(n_entries < sizeof(entries) / sizeof(entries[0]));
  struct entry *e = &entries[n_entries++];
  snprintf(e->file, sizeof(e->file), "%s", file);
  e->kind = kind;
  e->arg = arg;
}

static void entries_init(void)
{
  char file[40];
  if (n_entries)
    return;
  add_entry(V_GENESIS, 0, "genesis.vec");
  for (uint32_t k = 1; k <= SP_TX__MAX; k++) {
    snprintf(file, sizeof(file), "tx-%s", sp_tx_kind_name(k));
    for (char *c = file; *c; c++)
      if (*c == '.')
        *c = '-';
    strcat(file, ".vec");
    add_entry(V_TX, (int)k, file);
  }
  add_entry(V_HEADER, 1, "header.vec");
  add_entry(V_BLOCK, 1, "block-1.vec");
  add_entry(V_BLOCK, 2, "block-2.vec");
  add_entry(V_VOTE, 0, "vote-prevote.vec");
  add_entry(V_VOTE, 1, "vote-precommit-nil.vec");
  add_entry(V_PROPOSAL, 0, "proposal-round-0.vec");
  add_entry(V_PROPOSAL, 1, "proposal-round-1.vec");
  add_entry(V_CERT, 1, "cert.vec");
  for (uint32_t t = 1; t <= SP_MSG__MAX; t++) {
    snprintf(file, sizeof(file), "msg-%s.vec", sp_msg_type_name(t));
    add_entry(V_MSG, (int)t, file);
  }
}

/* A built object of any kind (pointers into F, or a message by value). */
struct object {
  enum vkind kind;
  const struct sp_genesis *genesis;
  const struct sp_tx *tx;
  const struct sp_header *header;
  const struct sp_block *block;
  const struct sp_vote *vote;
  const struct sp_proposal *proposal;
  const struct sp_cert *cert;
  struct sp_msg msg;
};

static void entry_object(const struct entry *e, struct object *o)
{
  memset(o, 0, sizeof(*o));
  o->kind = e->kind;
  switch (e->kind) {
  case V_GENESIS: o->genesis = &F.genesis; break;
  case V_TX: o->tx = &F.tx[e->arg]; break;
  case V_HEADER: o->header = &F.block[e->arg].header; break;
  case V_BLOCK: o->block = &F.block[e->arg]; break;
  case V_VOTE: o->vote = e->arg ? &F.precommit_nil : &F.prevote; break;
  case V_PROPOSAL: o->proposal = &F.prop[e->arg]; break;
  case V_CERT: o->cert = &F.cert[e->arg]; break;
  case V_MSG: make_msg((uint32_t)e->arg, &o->msg); break;
  }
}

static int object_encode(const struct object *o, struct sp_buf *out)
{
  switch (o->kind) {
  case V_GENESIS: return sp_genesis_encode(o->genesis, out);
  case V_TX: return sp_tx_encode(o->tx, out);
  case V_HEADER: return sp_header_encode(o->header, out);
  case V_BLOCK: return sp_block_encode(o->block, out);
  case V_VOTE: return sp_vote_encode(o->vote, out);
  case V_PROPOSAL: return sp_proposal_encode(o->proposal, out);
  case V_CERT: return sp_cert_encode(o->cert, out);
  case V_MSG: return sp_msg_encode(&o->msg, out);
  }
  return SP_E_INVAL;
}

static const char *const kind_title[] = {
    [V_GENESIS] = "genesis",   [V_TX] = "transaction",  [V_HEADER] = "block header",
    [V_BLOCK] = "block",       [V_VOTE] = "vote",       [V_PROPOSAL] = "proposal",
    [V_CERT] = "commit certificate", [V_MSG] = "network message",
};

static void object_describe(const struct entry *e, const struct object *o, size_t len,
                            struct notes *n)
{
  note(n, 0, "Stadjerspas golden vector %s: %s, %zu bytes.", e->file, kind_title[e->kind],
       len);
  note(n, 0, "Generated by 'test_objects --write-vectors DIR'; do not edit by hand.");
  note(n, 0, "Keys, chain id and encoding rules: see README.md in this directory.");
  note(n, 0, "%s", "");
  switch (o->kind) {
  case V_GENESIS:
    d_genesis(n, 0, o->genesis);
    note(n, 0, "chain id = BLAKE2b-256(\"stadjerspas/genesis/1\" 00 || these bytes):");
    d_hex(n, 1, "hex", F.chain, SP_HASH_LEN);
    break;
  case V_TX: d_tx(n, 0, o->tx); break;
  case V_HEADER: d_header(n, 0, o->header); break;
  case V_BLOCK: d_block(n, 0, o->block); break;
  case V_VOTE: d_vote(n, 0, o->vote); break;
  case V_PROPOSAL: d_proposal(n, 0, o->proposal); break;
  case V_CERT: d_cert(n, 0, o->cert); break;
  case V_MSG: d_msg(n, &o->msg); break;
  }
}

/* Decode p[0..n) as kind; SP_OK or the decoder's code. On success and when
 * `want` is set, compare field by field; when `out` is set, re-encode into
 * it. Everything decoded is cleared before returning. */
static int decode_as(enum vkind kind, const uint8_t *p, size_t n, const struct object *want,
                     struct sp_buf *out)
{
  int rc = SP_E_INVAL;
  switch (kind) {
  case V_GENESIS: {
    struct sp_genesis g;
    rc = sp_genesis_decode(p, n, &g);
    if (rc == SP_OK && want)
      eq_genesis(want->genesis, &g);
    if (rc == SP_OK && out)
      assert_ok(sp_genesis_encode(&g, out));
    break;
  }
  case V_TX: {
    struct sp_tx tx;
    rc = sp_tx_decode(p, n, &tx);
    if (rc == SP_OK && want)
      eq_tx(want->tx, &tx);
    if (rc == SP_OK && out)
      assert_ok(sp_tx_encode(&tx, out));
    sp_tx_clear(&tx);
    break;
  }
  case V_HEADER: {
    struct sp_header h;
    rc = sp_header_decode(p, n, &h);
    if (rc == SP_OK && want)
      eq_header(want->header, &h);
    if (rc == SP_OK && out)
      assert_ok(sp_header_encode(&h, out));
    break;
  }
  case V_BLOCK: {
    struct sp_block b;
    rc = sp_block_decode(p, n, &b);
    if (rc == SP_OK && want)
      eq_block(want->block, &b);
    if (rc == SP_OK && out)
      assert_ok(sp_block_encode(&b, out));
    sp_block_clear(&b);
    break;
  }
  case V_VOTE: {
    struct sp_vote v;
    rc = sp_vote_decode(p, n, &v);
    if (rc == SP_OK && want)
      eq_vote(want->vote, &v);
    if (rc == SP_OK && out)
      assert_ok(sp_vote_encode(&v, out));
    break;
  }
  case V_PROPOSAL: {
    struct sp_proposal pr;
    rc = sp_proposal_decode(p, n, &pr);
    if (rc == SP_OK && want)
      eq_proposal(want->proposal, &pr);
    if (rc == SP_OK && out)
      assert_ok(sp_proposal_encode(&pr, out));
    break;
  }
  case V_CERT: {
    struct sp_cert c;
    rc = sp_cert_decode(p, n, &c);
    if (rc == SP_OK && want)
      eq_cert(want->cert, &c);
    if (rc == SP_OK && out)
      assert_ok(sp_cert_encode(&c, out));
    break;
  }
  case V_MSG: {
    struct sp_msg m;
    rc = sp_msg_decode(p, n, &m);
    if (rc == SP_OK && want)
      eq_msg(&want->msg, &m);
    if (rc == SP_OK && out)
      assert_ok(sp_msg_encode(&m, out));
    sp_msg_clear(&m);
    break;
  }
  }
  return rc;
}

/* Build and encode entry e (and its comment block when n is set). */
static void entry_encode(const struct entry *e, struct object *o, struct sp_buf *out,
                         struct notes *n)
{
  entry_object(e, o);
  sp_buf_init(out, BUF_MAX);
  int rc = object_encode(o, out);
  if (rc != SP_OK) {
    print_error("%s: encoding the fixed values returned %s\n", e->file, sp_errname(rc));
    sp_buf_free(out);
    fail();
  }
  if (n != NULL)
    object_describe(e, o, out->len, n);
}

/* ====================================================== round-trip tests */

static void test_names(void **state)
{
  (void)state;
  assert_null(sp_tx_kind_name(0));
  assert_null(sp_tx_kind_name(SP_TX__MAX + 1));
  assert_null(sp_msg_type_name(0));
  assert_null(sp_msg_type_name(SP_MSG__MAX + 1));
  for (uint32_t i = 1; i <= SP_TX__MAX; i++) {
    assert_non_null(sp_tx_kind_name(i));
    for (uint32_t j = 1; j < i; j++)
      assert_string_not_equal(sp_tx_kind_name(i), sp_tx_kind_name(j));
  }
  for (uint32_t i = 1; i <= SP_MSG__MAX; i++) {
    assert_non_null(sp_msg_type_name(i));
    for (uint32_t j = 1; j < i; j++)
      assert_string_not_equal(sp_msg_type_name(i), sp_msg_type_name(j));
  }
  /* one vector per object kind and message type */
  assert_int_equal(n_entries, 1 + SP_TX__MAX + 1 + 2 + 2 + 2 + 1 + SP_MSG__MAX);
}

/* encode -> decode (every field equal) -> re-encode gives the same bytes,
 * for every object and message, without the vector files. */
static void test_roundtrip_all(void **state)
{
  (void)state;
  for (size_t i = 0; i < n_entries; i++) {
    struct object o;
    struct sp_buf enc, re;
    entry_encode(&entries[i], &o, &enc, NULL);
    sp_buf_init(&re, BUF_MAX);
    int rc = decode_as(entries[i].kind, enc.data, enc.len, &o, &re);
    if (rc != SP_OK) {
      print_error("%s: decode returned %s\n", entries[i].file, sp_errname(rc));
      fail();
    }
    assert_int_equal(re.len, enc.len);
    assert_memory_equal(re.data, enc.data, enc.len);
    /* a second round gives the same bytes again */
    sp_buf_reset(&enc);
    assert_ok(decode_as(entries[i].kind, re.data, re.len, NULL, &enc));
    assert_int_equal(re.len, enc.len);
    assert_memory_equal(re.data, enc.data, enc.len);
    sp_buf_free(&enc);
    sp_buf_free(&re);
  }
}

/* Every tx kind: raw and body are views into the input at the right place,
 * the signature verifies, the id is H_tx(chain, body) and stable. */
static void test_tx_views_verify_id(void **state)
{
  (void)state;
  for (uint32_t k = 1; k <= SP_TX__MAX; k++) {
    const struct sp_tx *want = &F.tx[k];
    struct sp_buf enc, body;
    sp_buf_init(&enc, SP_MAX_TX_BYTES);
    sp_buf_init(&body, SP_MAX_TX_BYTES);
    assert_ok(sp_tx_encode(want, &enc));
    assert_ok(sp_tx_encode_body(want, &body));
    uint8_t *in = dup_bytes(enc.data, enc.len);
    struct sp_tx a, b;
    assert_ok(sp_tx_decode(in, enc.len, &a));
    assert_int_equal(a.kind, k);
    assert_ptr_equal(a.raw, in);
    assert_int_equal(a.raw_len, enc.len);
    assert_ptr_equal(a.body, in + 1); /* after the fixarray(2) header */
    assert_int_equal(a.body_len, body.len);
    assert_memory_equal(a.body, body.data, body.len);
    assert_ok(sp_tx_verify(&a, F.chain));

    uint8_t id1[SP_HASH_LEN], id2[SP_HASH_LEN], id3[SP_HASH_LEN];
    assert_ok(sp_tx_id(&a, F.chain, id1));
    assert_ok(sp_hash_dom(id2, SP_DOM_TX, F.chain, body.data, body.len));
    assert_memory_equal(id1, id2, SP_HASH_LEN);
    assert_memory_equal(id1, F.txid[k], SP_HASH_LEN);
    /* the same bytes decoded again (another copy) give the same id */
    uint8_t *in2 = dup_bytes(enc.data, enc.len);
    assert_ok(sp_tx_decode(in2, enc.len, &b));
    assert_ok(sp_tx_id(&b, F.chain, id3));
    assert_memory_equal(id1, id3, SP_HASH_LEN);
    /* ids differ per chain */
    assert_ok(sp_tx_id(&b, F.other_chain, id3));
    assert_memory_not_equal(id1, id3, SP_HASH_LEN);
    eq_tx(want, &a);

    /* a tx that was never decoded has no body: id and verify refuse */
    struct sp_tx built = *want;
    built.body = NULL;
    assert_rc(sp_tx_id(&built, F.chain, id3), SP_E_INVAL);
    assert_rc(sp_tx_verify(&built, F.chain), SP_E_INVAL);

    sp_tx_clear(&a);
    sp_tx_clear(&b);
    free(in);
    free(in2);
    sp_buf_free(&enc);
    sp_buf_free(&body);
  }
}

/* ============================================================ vectors */

static void test_vector(void **state)
{
  const struct entry *e = *state;
  struct object o;
  struct sp_buf enc, re;
  struct notes n = {0};
  struct sp_vec v;
  char err[600];

  entry_encode(e, &o, &enc, &n);
  if (sp_vec_load(sp_vec_dir(), e->file, &v, err, sizeof(err)) != 0) {
    print_error("%s\n", err);
    sp_buf_free(&enc);
    notes_free(&n);
    fail();
  }
  /* (a) the fixed values encode to exactly the file's bytes */
  if (v.len != enc.len || memcmp(v.bytes, enc.data, enc.len) != 0) {
    size_t at = 0;
    while (at < v.len && at < enc.len && v.bytes[at] == enc.data[at])
      at++;
    print_error("%s: encoding of the fixed values (%zu bytes) differs from the file (%zu "
                "bytes) at byte %zu; if the format changed on purpose, regenerate with "
                "'test_objects --write-vectors tests/vectors'\n",
                e->file, enc.len, v.len, at);
    sp_buf_free(&enc);
    notes_free(&n);
    sp_vec_free(&v);
    fail();
  }
  /* (b) the file's bytes decode (to the same values) and re-encode to
   * exactly themselves */
  sp_buf_init(&re, BUF_MAX);
  assert_ok(decode_as(e->kind, v.bytes, v.len, &o, &re));
  assert_int_equal(re.len, v.len);
  assert_memory_equal(re.data, v.bytes, v.len);
  /* the comments describe the values the C code holds */
  if (strcmp(n.p, v.comments) != 0) {
    print_error("%s: the comments are out of date; regenerate with "
                "'test_objects --write-vectors tests/vectors'\n",
                e->file);
    fail();
  }
  sp_buf_free(&enc);
  sp_buf_free(&re);
  notes_free(&n);
  sp_vec_free(&v);
}

/* README.md states the seeds, the public keys and the chain id. */
static void test_vectors_readme(void **state)
{
  (void)state;
  char path[4096], hex[65];
  size_t n;
  const char *dir = sp_vec_dir();
  if (dir == NULL) {
    print_error("SP_VECTORS is not set: run through ctest or set it to tests/vectors\n");
    fail();
  }
  snprintf(path, sizeof(path), "%s/README.md", dir);
  char *text = sp_vec_slurp(path, &n);
  if (text == NULL) {
    print_error("cannot read %s\n", path);
    fail();
  }
  sp_vec_hex(hex, F.chain, SP_HASH_LEN);
  int missing = strstr(text, hex) == NULL;
  if (missing)
    print_error("README.md does not state the chain id %s\n", hex);
  for (int i = 0; i < K__N; i++) {
    sp_vec_hex(hex, keys[i].pk, SP_PK_LEN);
    if (strstr(text, hex) == NULL) {
      print_error("README.md does not state the public key of %s: %s\n", keys[i].name, hex);
      missing = 1;
    }
  }
  free(text);
  assert_false(missing);
}

/* ==================================================== schema rejection */

/* Hand-built encodings: the codec's own writer functions, no checks. */
static void hb_tx_head(struct sp_buf *b, uint32_t nbody, uint64_t version, uint64_t kind)
{
  sp_wr_array(b, 2);
  sp_wr_array(b, nbody);
  sp_wr_uint(b, version);
  sp_wr_uint(b, kind);
  sp_wr_bin(b, keys[K_AUTH].pk, SP_PK_LEN);
  sp_wr_uint(b, 1);
}

static void hb_sig(struct sp_buf *b)
{
  static const uint8_t zero[SP_SIG_LEN];
  sp_wr_bin(b, zero, SP_SIG_LEN);
}

static void enc_tx(const struct sp_tx *tx, struct sp_buf *b)
{
  sp_buf_init(b, SP_MAX_TX_BYTES);
  assert_ok(sp_tx_encode(tx, b));
}

static int tx_rc(const struct sp_buf *b)
{
  assert_int_equal(b->err, 0);
  return decode_as(V_TX, b->data, b->len, NULL, NULL);
}

static void test_reject_version(void **state)
{
  (void)state;
  struct sp_buf b;
  /* tx body: [0x92 [0x96 version ...]] : the version is byte 2 */
  enc_tx(&F.tx[SP_TX_CLAIM], &b);
  assert_int_equal(b.data[0], 0x92);
  assert_int_equal(b.data[1], 0x96);
  assert_int_equal(b.data[2], 0x01);
  assert_rc(tx_rc(&b), SP_OK);
  b.data[2] = 0x02;
  assert_rc(tx_rc(&b), SP_E_VERSION);
  b.data[2] = 0x00;
  assert_rc(tx_rc(&b), SP_E_VERSION);
  sp_buf_free(&b);

  /* every other object and every message: the version is byte 1 */
  for (size_t i = 0; i < n_entries; i++) {
    struct object o;
    if (entries[i].kind == V_TX)
      continue;
    entry_encode(&entries[i], &o, &b, NULL);
    assert_int_equal(b.data[1], 0x01);
    b.data[1] = 0x02;
    assert_rc(decode_as(entries[i].kind, b.data, b.len, NULL, NULL), SP_E_VERSION);
    sp_buf_free(&b);
  }

  /* the header inside a block: [0x94 0x01 [0x9a 0x01 ...]] */
  struct object o;
  entry_encode(&(struct entry){.kind = V_BLOCK, .arg = 1}, &o, &b, NULL);
  assert_int_equal(b.data[2], 0x9a);
  assert_int_equal(b.data[3], 0x01);
  b.data[3] = 0x02;
  assert_rc(decode_as(V_BLOCK, b.data, b.len, NULL, NULL), SP_E_VERSION);
  sp_buf_free(&b);
}

static void test_reject_tx_kind(void **state)
{
  (void)state;
  struct sp_buf b;
  enc_tx(&F.tx[SP_TX_CLAIM], &b);
  assert_int_equal(b.data[3], SP_TX_CLAIM);
  b.data[3] = 99;
  assert_rc(tx_rc(&b), SP_E_KIND);
  b.data[3] = 0;
  assert_rc(tx_rc(&b), SP_E_KIND);
  b.data[3] = SP_TX__MAX + 1;
  assert_rc(tx_rc(&b), SP_E_KIND);
  sp_buf_free(&b);

  /* kind 99 with a plausible body (4 + 2 fields) */
  sp_buf_init(&b, 4096);
  hb_tx_head(&b, 6, 1, 99);
  sp_wr_str(&b, "sport-2025", 10);
  sp_wr_uint(&b, 100);
  hb_sig(&b);
  assert_rc(tx_rc(&b), SP_E_KIND);
  sp_buf_free(&b);

  /* vote type 3 */
  sp_buf_init(&b, 4096);
  assert_ok(sp_vote_encode(&F.prevote, &b));
  assert_int_equal(b.data[2], SP_VOTE_PREVOTE);
  b.data[2] = 3;
  assert_rc(decode_as(V_VOTE, b.data, b.len, NULL, NULL), SP_E_KIND);
  b.data[2] = 0;
  assert_rc(decode_as(V_VOTE, b.data, b.len, NULL, NULL), SP_E_KIND);
  sp_buf_free(&b);
}

static void test_reject_msg_type(void **state)
{
  (void)state;
  static const uint64_t bad[] = {0, SP_MSG__MAX + 1, 99, 1000};
  struct sp_buf b;
  sp_buf_init(&b, 4096);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    sp_buf_reset(&b);
    sp_wr_array(&b, 3);
    sp_wr_uint(&b, 1);
    sp_wr_uint(&b, bad[i]);
    sp_wr_uint(&b, 0);
    assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_E_KIND);
  }
  /* a real status-q [0x93 1 13 6] with its type patched */
  struct sp_msg m;
  make_msg(SP_MSG_STATUS_Q, &m);
  sp_buf_reset(&b);
  assert_ok(sp_msg_encode(&m, &b));
  assert_int_equal(b.len, 4);
  assert_int_equal(b.data[2], SP_MSG_STATUS_Q);
  b.data[2] = 0;
  assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_E_KIND);
  b.data[2] = SP_MSG__MAX + 1; /* still a positive fixint */
  assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_E_KIND);
  sp_buf_free(&b);
}

static void test_reject_field_count_tx(void **state)
{
  (void)state;
  struct sp_buf b;
  sp_buf_init(&b, 4096);
  /* claim has 4 + 2 fields: 5 and 7 are refused */
  hb_tx_head(&b, 5, 1, SP_TX_CLAIM);
  sp_wr_str(&b, "sport-2025", 10);
  hb_sig(&b);
  assert_rc(tx_rc(&b), SP_E_COUNT);
  sp_buf_reset(&b);
  hb_tx_head(&b, 7, 1, SP_TX_CLAIM);
  sp_wr_str(&b, "sport-2025", 10);
  sp_wr_uint(&b, 100);
  sp_wr_uint(&b, 100);
  hb_sig(&b);
  assert_rc(tx_rc(&b), SP_E_COUNT);
  /* the right count is accepted */
  sp_buf_reset(&b);
  hb_tx_head(&b, 6, 1, SP_TX_CLAIM);
  sp_wr_str(&b, "sport-2025", 10);
  sp_wr_uint(&b, 100);
  hb_sig(&b);
  assert_rc(tx_rc(&b), SP_OK);
  /* fund.close (4 + 1) with the count of a claim */
  sp_buf_reset(&b);
  hb_tx_head(&b, 6, 1, SP_TX_FUND_CLOSE);
  sp_wr_str(&b, "sport-2025", 10);
  sp_wr_uint(&b, 100);
  hb_sig(&b);
  assert_rc(tx_rc(&b), SP_E_COUNT);
  /* a body shorter than the common prefix */
  sp_buf_reset(&b);
  sp_wr_array(&b, 2);
  sp_wr_array(&b, 3);
  sp_wr_uint(&b, 1);
  sp_wr_uint(&b, SP_TX_CLAIM);
  sp_wr_bin(&b, keys[K_AUTH].pk, SP_PK_LEN);
  hb_sig(&b);
  assert_rc(tx_rc(&b), SP_E_COUNT);
  /* the outer [body, sig] pair with 1 or 3 elements */
  struct sp_buf good;
  enc_tx(&F.tx[SP_TX_CLAIM], &good);
  for (uint8_t outer = 0x91; outer <= 0x93; outer += 2) {
    sp_buf_reset(&b);
    sp_buf_append(&b, &outer, 1);
    if (outer == 0x91) {
      sp_buf_append(&b, good.data + 1, good.len - 1 - 66); /* body only */
    } else {
      sp_buf_append(&b, good.data + 1, good.len - 1);
      sp_wr_uint(&b, 0);
    }
    assert_rc(tx_rc(&b), SP_E_COUNT);
  }
  sp_buf_free(&good);
  sp_buf_free(&b);
}

static void test_reject_field_count_msg(void **state)
{
  (void)state;
  struct sp_buf b;
  sp_buf_init(&b, 4096);
  /* status-q has no fields: one extra is refused */
  sp_wr_array(&b, 4);
  sp_wr_uint(&b, 1);
  sp_wr_uint(&b, SP_MSG_STATUS_Q);
  sp_wr_uint(&b, 6);
  sp_wr_uint(&b, 0);
  assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_E_COUNT);
  /* submit without its tx */
  sp_buf_reset(&b);
  sp_wr_array(&b, 3);
  sp_wr_uint(&b, 1);
  sp_wr_uint(&b, SP_MSG_SUBMIT);
  sp_wr_uint(&b, 1);
  assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_E_COUNT);
  /* fewer than [version, type, req id] */
  sp_buf_reset(&b);
  sp_wr_array(&b, 2);
  sp_wr_uint(&b, 1);
  sp_wr_uint(&b, SP_MSG_STATUS_Q);
  assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_E_COUNT);
  /* hello with one of its two fields */
  sp_buf_reset(&b);
  sp_wr_array(&b, 4);
  sp_wr_uint(&b, 1);
  sp_wr_uint(&b, SP_MSG_HELLO);
  sp_wr_uint(&b, 0);
  sp_wr_bin(&b, F.chain, SP_HASH_LEN);
  assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_E_COUNT);
  /* genesis with 6 instead of 7 fields: patch the header, drop params */
  sp_buf_reset(&b);
  assert_ok(sp_genesis_encode(&F.genesis, &b));
  assert_int_equal(b.data[0], 0x97);
  b.data[0] = 0x96;
  assert_true(b.len > 8);
  /* params [1000, 1048576, 7776000000] = 93 cd 03 e8 ce 00 10 00 00 cf ... : 18 bytes */
  assert_int_equal(b.data[b.len - 18], 0x93);
  b.len -= 18;
  assert_rc(decode_as(V_GENESIS, b.data, b.len, NULL, NULL), SP_E_COUNT);
  sp_buf_free(&b);
}

static void test_reject_key_length(void **state)
{
  (void)state;
  uint8_t key[40];
  memset(key, 0xab, sizeof(key));
  struct sp_buf b;
  sp_buf_init(&b, 4096);
  static const uint32_t lens[] = {0, 31, 33};
  for (size_t i = 0; i < 3; i++) {
    /* the pass key of pass.enroll */
    sp_buf_reset(&b);
    hb_tx_head(&b, 6, 1, SP_TX_PASS_ENROLL);
    sp_wr_bin(&b, key, lens[i]);
    sp_wr_bin(&b, F.household, SP_HASH_LEN);
    hb_sig(&b);
    assert_rc(tx_rc(&b), SP_E_LENGTH);
    /* the household hash */
    sp_buf_reset(&b);
    hb_tx_head(&b, 6, 1, SP_TX_PASS_ENROLL);
    sp_wr_bin(&b, key, SP_PK_LEN);
    sp_wr_bin(&b, key, lens[i]);
    hb_sig(&b);
    assert_rc(tx_rc(&b), SP_E_LENGTH);
    /* the signer */
    sp_buf_reset(&b);
    sp_wr_array(&b, 2);
    sp_wr_array(&b, 6);
    sp_wr_uint(&b, 1);
    sp_wr_uint(&b, SP_TX_CLAIM);
    sp_wr_bin(&b, key, lens[i]);
    sp_wr_uint(&b, 1);
    sp_wr_str(&b, "sport-2025", 10);
    sp_wr_uint(&b, 100);
    hb_sig(&b);
    assert_rc(tx_rc(&b), SP_E_LENGTH);
    /* the account of a balance query */
    sp_buf_reset(&b);
    sp_wr_array(&b, 4);
    sp_wr_uint(&b, 1);
    sp_wr_uint(&b, SP_MSG_BALANCE_Q);
    sp_wr_uint(&b, 3);
    sp_wr_bin(&b, key, lens[i]);
    assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_E_LENGTH);
  }
  /* the right lengths are accepted */
  sp_buf_reset(&b);
  hb_tx_head(&b, 6, 1, SP_TX_PASS_ENROLL);
  sp_wr_bin(&b, key, SP_PK_LEN);
  sp_wr_bin(&b, key, SP_HASH_LEN);
  hb_sig(&b);
  assert_rc(tx_rc(&b), SP_OK);
  /* a signature of 63 bytes */
  sp_buf_reset(&b);
  hb_tx_head(&b, 6, 1, SP_TX_PASS_ENROLL);
  sp_wr_bin(&b, key, SP_PK_LEN);
  sp_wr_bin(&b, key, SP_HASH_LEN);
  sp_wr_bin(&b, key, 31);
  assert_rc(tx_rc(&b), SP_E_LENGTH);
  /* a vote's block hash must be 32 bytes or empty (nil) */
  sp_buf_reset(&b);
  sp_wr_array(&b, 7);
  sp_wr_uint(&b, 1);
  sp_wr_uint(&b, SP_VOTE_PREVOTE);
  sp_wr_uint(&b, 1);
  sp_wr_uint(&b, 0);
  sp_wr_bin(&b, key, 31);
  sp_wr_bin(&b, val_pk(0), SP_PK_LEN);
  hb_sig(&b);
  assert_rc(decode_as(V_VOTE, b.data, b.len, NULL, NULL), SP_E_LENGTH);
  sp_buf_free(&b);
}

static void test_reject_order_categories(void **state)
{
  (void)state;
  struct sp_tx tx = F.tx[SP_TX_FUND_CREATE];
  catlist(&tx.u.fund_create.categories, "kunst", "sport");
  struct sp_buf b;
  enc_tx(&tx, &b);
  assert_rc(tx_rc(&b), SP_OK);
  patch_str(b.data, b.len, "kunst", "zzzzz"); /* ["zzzzz", "sport"]: unsorted */
  assert_rc(tx_rc(&b), SP_E_ORDER);
  patch_str(b.data, b.len, "zzzzz", "sport"); /* ["sport", "sport"]: duplicate */
  assert_rc(tx_rc(&b), SP_E_ORDER);
  sp_buf_free(&b);

  /* the merchant lists use the same rule */
  tx = F.tx[SP_TX_MERCHANT_UPDATE];
  catlist(&tx.u.merchant.categories, "kunst", "sport");
  enc_tx(&tx, &b);
  assert_rc(tx_rc(&b), SP_OK);
  patch_str(b.data, b.len, "kunst", "sport");
  assert_rc(tx_rc(&b), SP_E_ORDER);
  sp_buf_free(&b);

  /* the genesis categories: cultuur kleding onderwijs sport */
  sp_buf_init(&b, 4096);
  assert_ok(sp_genesis_encode(&F.genesis, &b));
  patch_str(b.data, b.len, "kleding", "cultuur"); /* cultuur cultuur ...: duplicate */
  assert_rc(decode_as(V_GENESIS, b.data, b.len, NULL, NULL), SP_E_ORDER);
  sp_buf_reset(&b);
  assert_ok(sp_genesis_encode(&F.genesis, &b));
  patch_str(b.data, b.len, "kleding", "zzzzzzz"); /* cultuur zzzzzzz onderwijs: unsorted */
  assert_rc(decode_as(V_GENESIS, b.data, b.len, NULL, NULL), SP_E_ORDER);
  sp_buf_free(&b);
}

static void test_reject_order_pay_parts(void **state)
{
  (void)state;
  struct sp_tx tx = F.tx[SP_TX_PAY];
  tx.u.pay.parts[0].fund = sp_str_c("fund-a");
  tx.u.pay.parts[1].fund = sp_str_c("fund-b");
  struct sp_buf b;
  enc_tx(&tx, &b);
  assert_rc(tx_rc(&b), SP_OK);
  patch_str(b.data, b.len, "fund-a", "fund-z"); /* unsorted */
  assert_rc(tx_rc(&b), SP_E_ORDER);
  patch_str(b.data, b.len, "fund-z", "fund-b"); /* duplicate */
  assert_rc(tx_rc(&b), SP_E_ORDER);
  sp_buf_free(&b);

  /* balance rows in an answer are sorted the same way */
  struct sp_msg m;
  make_msg(SP_MSG_BALANCE_A, &m);
  m.u.balance.rows[0].fund = sp_str_c("fund-a");
  m.u.balance.rows[1].fund = sp_str_c("fund-b");
  sp_buf_init(&b, 4096);
  assert_ok(sp_msg_encode(&m, &b));
  assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_OK);
  patch_str(b.data, b.len, "fund-a", "fund-b");
  assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_E_ORDER);
  sp_buf_free(&b);
}

static void test_reject_order_issue_rows(void **state)
{
  (void)state;
  struct sp_buf b;
  uint8_t p0[SP_PK_LEN], p1[SP_PK_LEN];
  memcpy(p0, F.rows[0].pass, SP_PK_LEN);
  memcpy(p1, F.rows[1].pass, SP_PK_LEN);
  enc_tx(&F.tx[SP_TX_ISSUE], &b);
  /* swap the keys of rows 0 and 1: unsorted */
  long a0 = find(b.data, b.len, p0, SP_PK_LEN), a1 = find(b.data, b.len, p1, SP_PK_LEN);
  assert_true(a0 > 0 && a1 > a0);
  memcpy(b.data + a0, p1, SP_PK_LEN);
  memcpy(b.data + a1, p0, SP_PK_LEN);
  assert_rc(tx_rc(&b), SP_E_ORDER);
  /* row 1 with the key of row 0: duplicate */
  memcpy(b.data + a0, p0, SP_PK_LEN);
  assert_rc(tx_rc(&b), SP_E_ORDER);
  sp_buf_free(&b);
}

static void test_reject_order_validators(void **state)
{
  (void)state;
  struct sp_buf b;
  sp_buf_init(&b, 4096);
  assert_ok(sp_genesis_encode(&F.genesis, &b));
  long a0 = find(b.data, b.len, val_pk(0), SP_PK_LEN);
  long a1 = find(b.data, b.len, val_pk(1), SP_PK_LEN);
  assert_true(a0 > 0 && a1 > a0);
  memcpy(b.data + a0, val_pk(1), SP_PK_LEN);
  memcpy(b.data + a1, val_pk(0), SP_PK_LEN);
  assert_rc(decode_as(V_GENESIS, b.data, b.len, NULL, NULL), SP_E_ORDER);
  memcpy(b.data + a0, val_pk(0), SP_PK_LEN); /* validators 0 and 1 equal */
  assert_rc(decode_as(V_GENESIS, b.data, b.len, NULL, NULL), SP_E_ORDER);
  sp_buf_free(&b);
}

static void test_reject_order_cert_sigs(void **state)
{
  (void)state;
  struct sp_buf b;
  sp_buf_init(&b, 4096);
  assert_ok(sp_cert_encode(&F.cert[1], &b));
  /* signature entries are [index, bin64] = 92 <index> c4 40 <sig> */
  static const uint8_t second[4] = {0x92, 0x01, 0xc4, 0x40};
  long at = find(b.data, b.len, second, sizeof(second));
  assert_true(at > 0);
  b.data[at + 1] = 0x00; /* indices 0 0 2: duplicate */
  assert_rc(decode_as(V_CERT, b.data, b.len, NULL, NULL), SP_E_ORDER);
  b.data[at + 1] = 0x03; /* indices 0 3 2: unsorted */
  assert_rc(decode_as(V_CERT, b.data, b.len, NULL, NULL), SP_E_ORDER);
  b.data[at + 1] = 0x01;
  assert_rc(decode_as(V_CERT, b.data, b.len, NULL, NULL), SP_OK);
  /* index past SP_MAX_VALIDATORS - 1 */
  b.data[at + 1] = SP_MAX_VALIDATORS; /* 64 = fixint 0x40 */
  assert_rc(decode_as(V_CERT, b.data, b.len, NULL, NULL), SP_E_RANGE);
  sp_buf_free(&b);
}

/* Replace the uint64 encoding of SP_MONEY_MAX (cf 00 00 00 e8 d4 a5 10 00)
 * by SP_MONEY_MAX + 1. */
static void bump_money_max(struct sp_buf *b)
{
  static const uint8_t max[9] = {0xcf, 0, 0, 0, 0xe8, 0xd4, 0xa5, 0x10, 0x00};
  static const uint8_t over[9] = {0xcf, 0, 0, 0, 0xe8, 0xd4, 0xa5, 0x10, 0x01};
  patch(b->data, b->len, max, over, sizeof(max));
}

static void test_reject_amount_range(void **state)
{
  (void)state;
  struct sp_tx tx;
  struct sp_buf b;
  for (int which = 0; which < 6; which++) {
    switch (which) {
    case 0:
      tx = F.tx[SP_TX_CLAIM];
      tx.u.claim.amount = SP_MONEY_MAX;
      break;
    case 1:
      tx = F.tx[SP_TX_FUND_DEPOSIT];
      tx.u.fund_deposit.amount = SP_MONEY_MAX;
      break;
    case 2:
      tx = F.tx[SP_TX_REFUND];
      tx.u.refund.amount = SP_MONEY_MAX;
      break;
    case 3:
      tx = F.tx[SP_TX_PAY];
      tx.u.pay.parts[1].amount = SP_MONEY_MAX;
      break;
    case 4: {
      static struct sp_issue_row rows[3];
      memcpy(rows, F.rows, sizeof(rows));
      rows[2].amount = SP_MONEY_MAX;
      tx = F.tx[SP_TX_ISSUE];
      tx.u.issue.rows = rows;
      break;
    }
    default:
      tx = F.tx[SP_TX_FUND_CREATE];
      tx.u.fund_create.max_payment = SP_MONEY_MAX;
      break;
    }
    enc_tx(&tx, &b);
    assert_rc(tx_rc(&b), SP_OK); /* the maximum itself is fine */
    bump_money_max(&b);
    assert_rc(tx_rc(&b), SP_E_RANGE);
    sp_buf_free(&b);
  }
  /* a balance row */
  struct sp_msg m;
  make_msg(SP_MSG_BALANCE_A, &m);
  m.u.balance.rows[0].amount = SP_MONEY_MAX;
  sp_buf_init(&b, 4096);
  assert_ok(sp_msg_encode(&m, &b));
  bump_money_max(&b);
  assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_E_RANGE);
  sp_buf_free(&b);
}

static void test_reject_charset(void **state)
{
  (void)state;
  struct sp_buf b;
  enc_tx(&F.tx[SP_TX_CLAIM], &b);
  patch_str(b.data, b.len, "sport-2025", "Sport-2025");
  assert_rc(tx_rc(&b), SP_E_CHARSET);
  patch_str(b.data, b.len, "Sport-2025", "-port-2025"); /* must start alphanumeric */
  assert_rc(tx_rc(&b), SP_E_CHARSET);
  patch_str(b.data, b.len, "-port-2025", "sport 2025");
  assert_rc(tx_rc(&b), SP_E_CHARSET);
  sp_buf_free(&b);

  /* an uppercase category */
  enc_tx(&F.tx[SP_TX_FUND_CREATE], &b);
  patch_str(b.data, b.len, "kleding", "Kleding");
  assert_rc(tx_rc(&b), SP_E_CHARSET);
  sp_buf_free(&b);

  /* a control character in a text field */
  enc_tx(&F.tx[SP_TX_FUND_CREATE], &b);
  patch_str(b.data, b.len, "Sportfonds 2025", "Sportfonds\n2025");
  assert_rc(tx_rc(&b), SP_E_CHARSET);
  sp_buf_free(&b);
}

static void test_reject_too_long(void **state)
{
  (void)state;
  char text[SP_MAX_REASON + 2];
  memset(text, 'x', sizeof(text));
  struct sp_buf b;
  sp_buf_init(&b, 4096);
  /* merchant name: SP_MAX_NAME bytes fine, one more refused */
  for (uint32_t len = SP_MAX_NAME; len <= SP_MAX_NAME + 1; len++) {
    sp_buf_reset(&b);
    hb_tx_head(&b, 7, 1, SP_TX_MERCHANT_REGISTER);
    sp_wr_bin(&b, keys[K_MERCHANT].pk, SP_PK_LEN);
    sp_wr_str(&b, text, len);
    sp_wr_array(&b, 1);
    sp_wr_str(&b, "sport", 5);
    hb_sig(&b);
    assert_rc(tx_rc(&b), len <= SP_MAX_NAME ? SP_OK : SP_E_TOOLONG);
  }
  /* fund id: SP_MAX_ID + 1 characters */
  for (uint32_t len = SP_MAX_ID; len <= SP_MAX_ID + 1; len++) {
    sp_buf_reset(&b);
    hb_tx_head(&b, 5, 1, SP_TX_FUND_CLOSE);
    sp_wr_str(&b, text, len);
    hb_sig(&b);
    assert_rc(tx_rc(&b), len <= SP_MAX_ID ? SP_OK : SP_E_TOOLONG);
  }
  /* block reason: SP_MAX_REASON + 1 */
  for (uint32_t len = SP_MAX_REASON; len <= SP_MAX_REASON + 1; len++) {
    sp_buf_reset(&b);
    hb_tx_head(&b, 6, 1, SP_TX_PASS_BLOCK);
    sp_wr_bin(&b, keys[K_PASS_B].pk, SP_PK_LEN);
    sp_wr_str(&b, text, len);
    hb_sig(&b);
    assert_rc(tx_rc(&b), len <= SP_MAX_REASON ? SP_OK : SP_E_TOOLONG);
  }
  /* more than SP_MAX_CATEGORIES categories */
  sp_buf_reset(&b);
  hb_tx_head(&b, 7, 1, SP_TX_MERCHANT_REGISTER);
  sp_wr_bin(&b, keys[K_MERCHANT].pk, SP_PK_LEN);
  sp_wr_str(&b, "M", 1);
  sp_wr_array(&b, SP_MAX_CATEGORIES + 1);
  for (int i = 0; i < SP_MAX_CATEGORIES + 1; i++) {
    char cat[8];
    snprintf(cat, sizeof(cat), "c%02d", i);
    sp_wr_str(&b, cat, 3);
  }
  hb_sig(&b);
  assert_rc(tx_rc(&b), SP_E_TOOLONG);
  sp_buf_free(&b);
}

/* An issue tx with n real rows (pass keys 00..00 <i as 2 bytes>). */
static void hb_issue(struct sp_buf *b, uint32_t n)
{
  hb_tx_head(b, 7, 1, SP_TX_ISSUE);
  sp_wr_str(b, "sport-2025", 10);
  sp_wr_str(b, "2025-Q1", 7);
  sp_wr_array(b, n);
  for (uint32_t i = 0; i < n; i++) {
    uint8_t pass[SP_PK_LEN] = {0};
    pass[30] = (uint8_t)(i >> 8);
    pass[31] = (uint8_t)i;
    sp_wr_array(b, 2);
    sp_wr_bin(b, pass, SP_PK_LEN);
    sp_wr_uint(b, 1);
  }
  hb_sig(b);
}

static void test_reject_issue_rows(void **state)
{
  (void)state;
  struct sp_buf b;
  struct sp_tx tx;
  sp_buf_init(&b, SP_MAX_TX_BYTES);
  /* exactly SP_MAX_ISSUE_ENTRIES rows: fine, and they round-trip */
  hb_issue(&b, SP_MAX_ISSUE_ENTRIES);
  assert_int_equal(b.err, 0);
  assert_ok(sp_tx_decode(b.data, b.len, &tx));
  assert_int_equal(tx.u.issue.n_rows, SP_MAX_ISSUE_ENTRIES);
  assert_int_equal(tx.u.issue.rows[999].pass[30], 999 >> 8);
  assert_int_equal(tx.u.issue.rows[999].pass[31], 999 & 0xff);
  struct sp_buf re;
  sp_buf_init(&re, SP_MAX_TX_BYTES);
  assert_ok(sp_tx_encode(&tx, &re));
  assert_int_equal(re.len, b.len);
  assert_memory_equal(re.data, b.data, b.len);
  sp_buf_free(&re);
  sp_tx_clear(&tx);
  /* one more: SP_E_TOOLONG */
  sp_buf_reset(&b);
  hb_issue(&b, SP_MAX_ISSUE_ENTRIES + 1);
  assert_int_equal(b.err, 0);
  assert_rc(tx_rc(&b), SP_E_TOOLONG);
  /* a row count the remaining bytes cannot hold (each row takes >= 36
   * bytes): 1000 rows announced, followed by 1000 one-byte items so that
   * the input is well-formed msgpack. Refused before the rows are
   * allocated. */
  sp_buf_reset(&b);
  hb_tx_head(&b, 7, 1, SP_TX_ISSUE);
  sp_wr_str(&b, "sport-2025", 10);
  sp_wr_str(&b, "2025-Q1", 7);
  sp_wr_array(&b, SP_MAX_ISSUE_ENTRIES);
  for (int i = 0; i < SP_MAX_ISSUE_ENTRIES; i++)
    sp_wr_uint(&b, 0);
  hb_sig(&b);
  assert_rc(tx_rc(&b), SP_E_TOOMANY);
  /* and the same count with nothing behind it at all */
  sp_buf_reset(&b);
  hb_tx_head(&b, 7, 1, SP_TX_ISSUE);
  sp_wr_str(&b, "sport-2025", 10);
  sp_wr_str(&b, "2025-Q1", 7);
  sp_wr_array(&b, SP_MAX_ISSUE_ENTRIES);
  assert_rc(tx_rc(&b), SP_E_TOOMANY);
  /* an empty issue */
  sp_buf_reset(&b);
  hb_issue(&b, 0);
  assert_rc(tx_rc(&b), SP_E_RANGE);
  sp_buf_free(&b);
}

static void enc_block(int h, struct sp_buf *b)
{
  sp_buf_init(b, BUF_MAX);
  assert_ok(sp_block_encode(&F.block[h], b));
}

static void test_reject_block_structure(void **state)
{
  (void)state;
  struct sp_buf b;
  /* header tx_count (just after the tx root) disagrees with the list */
  enc_block(1, &b);
  long at = find(b.data, b.len, F.block[1].header.tx_root, SP_HASH_LEN);
  assert_true(at > 0);
  at += SP_HASH_LEN;
  assert_int_equal(b.data[at], 3);
  b.data[at] = 2;
  assert_rc(decode_as(V_BLOCK, b.data, b.len, NULL, NULL), SP_E_MISMATCH);
  b.data[at] = 4;
  assert_rc(decode_as(V_BLOCK, b.data, b.len, NULL, NULL), SP_E_MISMATCH);
  b.data[at] = 0;
  assert_rc(decode_as(V_BLOCK, b.data, b.len, NULL, NULL), SP_E_MISMATCH);
  b.data[at] = 3;
  assert_rc(decode_as(V_BLOCK, b.data, b.len, NULL, NULL), SP_OK);

  /* the height: 94 01 [9a 01 c4 20 <chain id> <height> ...] at byte 38 */
  assert_memory_equal(b.data + 6, F.chain, SP_HASH_LEN);
  assert_int_equal(b.data[38], 1);
  b.data[38] = 2; /* height 2 without a last commit */
  assert_rc(decode_as(V_BLOCK, b.data, b.len, NULL, NULL), SP_E_RANGE);
  sp_buf_free(&b);

  enc_block(2, &b);
  assert_int_equal(b.data[38], 2);
  b.data[38] = 1; /* height 1 carrying a certificate */
  assert_rc(decode_as(V_BLOCK, b.data, b.len, NULL, NULL), SP_E_RANGE);
  b.data[38] = 2;
  assert_rc(decode_as(V_BLOCK, b.data, b.len, NULL, NULL), SP_OK);
  /* a last commit for another height: 95 01 <height> <round> c4 20 <hash 1> */
  uint8_t pat[6 + SP_HASH_LEN] = {0x95, 0x01, 0x01, 0x00, 0xc4, 0x20};
  memcpy(pat + 6, F.bhash[1], SP_HASH_LEN);
  at = find(b.data, b.len, pat, sizeof(pat));
  assert_true(at > 0);
  b.data[at + 2] = 5;
  assert_rc(decode_as(V_BLOCK, b.data, b.len, NULL, NULL), SP_E_MISMATCH);
  b.data[at + 2] = 1;
  /* a last commit for another block than prev */
  b.data[at + 6] ^= 0xff;
  assert_rc(decode_as(V_BLOCK, b.data, b.len, NULL, NULL), SP_E_MISMATCH);
  sp_buf_free(&b);

  /* block 1 with a nonzero prev: 94 01 [9a 01 c4 20 <chain> 01 c4 20 <prev> */
  enc_block(1, &b);
  assert_int_equal(b.data[39], 0xc4);
  b.data[41] = 1;
  assert_rc(decode_as(V_BLOCK, b.data, b.len, NULL, NULL), SP_E_MISMATCH);
  sp_buf_free(&b);
}

static void test_reject_proposal_valid_round(void **state)
{
  (void)state;
  struct sp_buf b;
  sp_buf_init(&b, 4096);
  /* 97 01 <height 2> <round 1> <valid_round 0> ... */
  assert_ok(sp_proposal_encode(&F.prop[1], &b));
  assert_int_equal(b.data[3], 1);
  assert_int_equal(b.data[4], 0);
  b.data[4] = 1; /* valid_round == round */
  assert_rc(decode_as(V_PROPOSAL, b.data, b.len, NULL, NULL), SP_E_RANGE);
  b.data[4] = 2; /* valid_round > round */
  assert_rc(decode_as(V_PROPOSAL, b.data, b.len, NULL, NULL), SP_E_RANGE);
  b.data[4] = 0xfe; /* -2 */
  assert_rc(decode_as(V_PROPOSAL, b.data, b.len, NULL, NULL), SP_E_RANGE);
  b.data[4] = 0xff; /* -1: none */
  assert_rc(decode_as(V_PROPOSAL, b.data, b.len, NULL, NULL), SP_OK);
  sp_buf_reset(&b);
  /* round 0: valid_round 0 is refused */
  assert_ok(sp_proposal_encode(&F.prop[0], &b));
  assert_int_equal(b.data[3], 0);
  assert_int_equal(b.data[4], 0xff);
  b.data[4] = 0;
  assert_rc(decode_as(V_PROPOSAL, b.data, b.len, NULL, NULL), SP_E_RANGE);
  sp_buf_free(&b);

  /* the same inside a proposal message: 95 01 11 00 [97 01 01 00 ff ...] */
  struct sp_msg m;
  make_msg(SP_MSG_PROPOSAL, &m);
  sp_buf_init(&b, BUF_MAX);
  assert_ok(sp_msg_encode(&m, &b));
  assert_int_equal(b.data[4], 0x97);
  assert_int_equal(b.data[8], 0xff);
  b.data[8] = 0;
  assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_E_RANGE);
  /* a proposal for another height than its block */
  b.data[8] = 0xff;
  assert_int_equal(b.data[6], 1);
  b.data[6] = 2;
  assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_E_MISMATCH);
  /* or for another block hash: 97 01 01 00 ff c4 20 <block> */
  b.data[6] = 1;
  assert_int_equal(b.data[9], 0xc4);
  b.data[11] ^= 1;
  assert_rc(decode_as(V_MSG, b.data, b.len, NULL, NULL), SP_E_MISMATCH);
  sp_buf_free(&b);
}

/* Hand-built funds answers: [1, 20, 9, [rows...]] announcing `rows` rows. */
static void hb_funds_head(struct sp_buf *b, uint32_t rows)
{
  sp_wr_array(b, 4);
  sp_wr_uint(b, 1);
  sp_wr_uint(b, SP_MSG_FUNDS_A);
  sp_wr_uint(b, 9);
  sp_wr_array(b, rows);
}

/* A fund row of `fields` fields (18 is right): category "c", every integer
 * 0 but closed, an empty spending list (left out below 18 fields). With a
 * one-character id and name it is the smallest valid row: 25 bytes. Invalid
 * rows can be smaller and then meet the size check first (TOOMANY). */
static void hb_fund_row(struct sp_buf *b, const char *id, const char *name, uint64_t closed,
                        uint32_t fields)
{
  sp_wr_array(b, fields);
  sp_wr_str(b, id, (uint32_t)strlen(id));
  sp_wr_str(b, name, (uint32_t)strlen(name));
  sp_wr_array(b, 1);
  sp_wr_str(b, "c", 1);
  for (int i = 0; i < 14; i++) /* valid_from .. refunded; closed is the 4th */
    sp_wr_uint(b, i == 3 ? closed : 0);
  if (fields >= 18)
    sp_wr_array(b, 0);
}

static int msg_rc(const struct sp_buf *b)
{
  assert_int_equal(b->err, 0);
  return decode_as(V_MSG, b->data, b->len, NULL, NULL);
}

static void test_reject_funds(void **state)
{
  (void)state;
  struct sp_msg m;
  struct sp_buf b;
  sp_buf_init(&b, BUF_MAX);

  /* rows sorted by id: cultuur-2025 sport-2024 sport-2025 */
  make_msg(SP_MSG_FUNDS_A, &m);
  assert_ok(sp_msg_encode(&m, &b));
  assert_rc(msg_rc(&b), SP_OK);
  patch_str(b.data, b.len, "sport-2024", "sport-2026"); /* after sport-2025: unsorted */
  assert_rc(msg_rc(&b), SP_E_ORDER);
  patch_str(b.data, b.len, "sport-2026", "sport-2025"); /* duplicate */
  assert_rc(msg_rc(&b), SP_E_ORDER);
  /* spending of sport-2024: kleding, sport */
  sp_buf_reset(&b);
  assert_ok(sp_msg_encode(&m, &b));
  static const uint8_t kleding_cents[] = {0xa7, 'k', 'l', 'e', 'd', 'i', 'n', 'g', 0xce};
  static const uint8_t zzzzzzz_cents[] = {0xa7, 'z', 'z', 'z', 'z', 'z', 'z', 'z', 0xce};
  patch(b.data, b.len, kleding_cents, zzzzzzz_cents, sizeof(kleding_cents));
  assert_rc(msg_rc(&b), SP_E_ORDER); /* zzzzzzz, sport: unsorted */
  /* a control character in a fund name */
  sp_buf_reset(&b);
  assert_ok(sp_msg_encode(&m, &b));
  patch_str(b.data, b.len, "Sportfonds 2024", "Sportfonds\n2024");
  assert_rc(msg_rc(&b), SP_E_CHARSET);

  /* minimal rows: closed 0 and 1 are fine, 2 is not */
  for (uint64_t closed = 0; closed <= 2; closed++) {
    sp_buf_reset(&b);
    hb_funds_head(&b, 2);
    hb_fund_row(&b, "a", "A", 0, 18);
    hb_fund_row(&b, "b", "B", closed, 18);
    assert_rc(msg_rc(&b), closed <= 1 ? SP_OK : SP_E_RANGE);
  }
  /* a row of 17 fields (no spending list; a longer name, so that the row
   * is not below the least size of a row) */
  sp_buf_reset(&b);
  hb_funds_head(&b, 1);
  hb_fund_row(&b, "a", "Sportfonds", 0, 17);
  assert_rc(msg_rc(&b), SP_E_COUNT);
  /* a row of 19 fields */
  sp_buf_reset(&b);
  hb_funds_head(&b, 1);
  hb_fund_row(&b, "a", "A", 0, 19);
  sp_wr_uint(&b, 0);
  assert_rc(msg_rc(&b), SP_E_COUNT);
  /* an empty name */
  sp_buf_reset(&b);
  hb_funds_head(&b, 1);
  hb_fund_row(&b, "sport-2025", "", 0, 18);
  assert_rc(msg_rc(&b), SP_E_RANGE);
  /* an uppercase id, an empty id */
  sp_buf_reset(&b);
  hb_funds_head(&b, 1);
  hb_fund_row(&b, "A", "A", 0, 18);
  assert_rc(msg_rc(&b), SP_E_CHARSET);
  sp_buf_reset(&b);
  hb_funds_head(&b, 1);
  hb_fund_row(&b, "", "Sportfonds", 0, 18);
  assert_rc(msg_rc(&b), SP_E_CHARSET);

  /* 36 smallest rows (ids 0..9, a..z in ASCII order) take exactly 36 x 25
   * bytes and are accepted; the row count is checked against the bytes
   * left before anything is allocated */
  static const char ids[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  sp_buf_reset(&b);
  hb_funds_head(&b, 36);
  size_t rows_at = b.len;
  for (int i = 0; i < 36; i++) {
    char id[2] = {ids[i], '\0'};
    hb_fund_row(&b, id, "x", 0, 18);
  }
  assert_int_equal(b.len - rows_at, 36 * 25);
  assert_rc(msg_rc(&b), SP_OK);
  /* 37 elements: the same rows and a 1-byte item; 37 x 25 > 901 bytes */
  sp_buf_reset(&b);
  hb_funds_head(&b, 37);
  for (int i = 0; i < 36; i++) {
    char id[2] = {ids[i], '\0'};
    hb_fund_row(&b, id, "x", 0, 18);
  }
  sp_wr_uint(&b, 0);
  assert_rc(msg_rc(&b), SP_E_TOOMANY);
  /* 200 one-byte elements announced as rows: refused before reading row 0 */
  sp_buf_reset(&b);
  hb_funds_head(&b, 200);
  for (int i = 0; i < 200; i++)
    sp_wr_uint(&b, 0);
  assert_rc(msg_rc(&b), SP_E_TOOMANY);
  /* more than SP_MAX_FUNDS rows */
  sp_buf_reset(&b);
  hb_funds_head(&b, SP_MAX_FUNDS + 1);
  for (int i = 0; i < SP_MAX_FUNDS + 1; i++)
    sp_wr_uint(&b, 0);
  assert_rc(msg_rc(&b), SP_E_TOOLONG);

  /* the buckets are amounts, the flow counters any uint64 */
  make_msg(SP_MSG_FUNDS_A, &m);
  struct sp_fund_row frows[3];
  memcpy(frows, F.funds, sizeof(frows));
  frows[0].issued = UINT64_MAX;
  frows[0].spent = SP_MONEY_MAX + 1;
  frows[0].spending[0].cents = UINT64_MAX;
  frows[1].deposited = SP_MONEY_MAX;
  m.u.funds.rows = frows;
  sp_buf_reset(&b);
  assert_ok(sp_msg_encode(&m, &b));
  struct object want = {.kind = V_MSG, .msg = m};
  struct sp_buf re;
  sp_buf_init(&re, BUF_MAX);
  assert_ok(decode_as(V_MSG, b.data, b.len, &want, &re));
  assert_int_equal(re.len, b.len);
  assert_memory_equal(re.data, b.data, b.len);
  sp_buf_free(&re);
  bump_money_max(&b); /* deposited of sport-2024 */
  assert_rc(msg_rc(&b), SP_E_RANGE);

  /* funds-q: "" (all funds) or an identifier */
  make_msg(SP_MSG_FUNDS_Q, &m);
  static const struct {
    const char *fund;
    int rc;
  } q[] = {
      {"", SP_OK},           {"sport-2025", SP_OK}, {"Sport", SP_E_CHARSET},
      {"-sport", SP_E_CHARSET}, {"sport 2025", SP_E_CHARSET},
      {"abcdefghijklmnopqrstuvwxyz012345", SP_OK},
      {"abcdefghijklmnopqrstuvwxyz0123456", SP_E_TOOLONG},
  };
  for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
    sp_buf_reset(&b);
    sp_wr_array(&b, 4);
    sp_wr_uint(&b, 1);
    sp_wr_uint(&b, SP_MSG_FUNDS_Q);
    sp_wr_uint(&b, 9);
    sp_wr_str(&b, q[i].fund, (uint32_t)strlen(q[i].fund));
    assert_rc(msg_rc(&b), q[i].rc);
  }
  /* [1, 19, 9] without its field, and with a second one */
  sp_buf_reset(&b);
  sp_wr_array(&b, 3);
  sp_wr_uint(&b, 1);
  sp_wr_uint(&b, SP_MSG_FUNDS_Q);
  sp_wr_uint(&b, 9);
  assert_rc(msg_rc(&b), SP_E_COUNT);
  sp_buf_reset(&b);
  sp_wr_array(&b, 5);
  sp_wr_uint(&b, 1);
  sp_wr_uint(&b, SP_MSG_FUNDS_Q);
  sp_wr_uint(&b, 9);
  sp_wr_str(&b, "", 0);
  sp_wr_str(&b, "", 0);
  assert_rc(msg_rc(&b), SP_E_COUNT);
  sp_buf_free(&b);
}

static void test_reject_trailing(void **state)
{
  (void)state;
  static const uint8_t extra[] = {0x00, 0x01, 0xc0, 0x90};
  for (size_t i = 0; i < n_entries; i++) {
    struct object o;
    struct sp_buf b;
    entry_encode(&entries[i], &o, &b, NULL);
    for (size_t j = 0; j < sizeof(extra); j++) {
      sp_buf_append(&b, &extra[j], 1);
      uint8_t *in = dup_bytes(b.data, b.len);
      int rc = decode_as(entries[i].kind, in, b.len, NULL, NULL);
      free(in);
      if (rc != SP_E_TRAILING) {
        print_error("%s + byte %02x: %s, expected TRAILING\n", entries[i].file, extra[j],
                    sp_errname(rc));
        fail();
      }
      b.len--;
    }
    sp_buf_free(&b);
  }
}

/* Every proper prefix of every vector is refused, without reading past it
 * (each prefix is its own heap block, so ASan sees any overread). */
static void test_truncated_every_length(void **state)
{
  (void)state;
  for (size_t i = 0; i < n_entries; i++) {
    struct object o;
    struct sp_buf b;
    entry_encode(&entries[i], &o, &b, NULL);
    for (size_t len = 0; len < b.len; len++) {
      uint8_t *in = dup_bytes(b.data, len);
      int rc = decode_as(entries[i].kind, in, len, NULL, NULL);
      free(in);
      if (rc == SP_OK) {
        print_error("%s truncated to %zu of %zu bytes was accepted\n", entries[i].file, len,
                    b.len);
        fail();
      }
    }
    sp_buf_free(&b);
  }
}

/* Whatever the decoders accept is canonical: every single-bit change of
 * every vector either is refused or decodes to something that re-encodes
 * to exactly the changed bytes (never to other bytes, never refused by the
 * encoder). Also a fixed pseudo-random sample of multi-byte changes. */
static int mutant_check(const struct entry *e, const uint8_t *p, size_t n, const char *how,
                        size_t at)
{
  struct sp_buf re;
  sp_buf_init(&re, BUF_MAX);
  int rc = SP_OK, enc = SP_OK;
  /* decode_as asserts on encoder failure; do it by hand to report */
  switch (e->kind) {
  case V_MSG: {
    struct sp_msg m;
    rc = sp_msg_decode(p, n, &m);
    if (rc == SP_OK)
      enc = sp_msg_encode(&m, &re);
    sp_msg_clear(&m);
    break;
  }
  case V_BLOCK: {
    struct sp_block b;
    rc = sp_block_decode(p, n, &b);
    if (rc == SP_OK)
      enc = sp_block_encode(&b, &re);
    sp_block_clear(&b);
    break;
  }
  case V_TX: {
    struct sp_tx tx;
    rc = sp_tx_decode(p, n, &tx);
    if (rc == SP_OK)
      enc = sp_tx_encode(&tx, &re);
    sp_tx_clear(&tx);
    break;
  }
  default:
    rc = decode_as(e->kind, p, n, NULL, &re);
    break;
  }
  int bad = 0;
  if (rc == SP_OK && enc != SP_OK) {
    print_error("%s, %s at byte %zu: decoded, but re-encoding returned %s\n", e->file, how, at,
                sp_errname(enc));
    bad = 1;
  } else if (rc == SP_OK && (re.len != n || memcmp(re.data, p, n) != 0)) {
    print_error("%s, %s at byte %zu: decoded, but re-encodes to other bytes\n", e->file, how,
                at);
    bad = 1;
  }
  sp_buf_free(&re);
  return bad;
}

static void test_mutants_canonical(void **state)
{
  (void)state;
  int bad = 0;
  uint64_t rng = 0x9e3779b97f4a7c15u;
  for (size_t i = 0; i < n_entries && bad < 5; i++) {
    struct object o;
    struct sp_buf b;
    entry_encode(&entries[i], &o, &b, NULL);
    for (size_t at = 0; at < b.len && bad < 5; at++)
      for (int bit = 0; bit < 8; bit++) {
        b.data[at] ^= (uint8_t)(1u << bit);
        bad += mutant_check(&entries[i], b.data, b.len, "bit flip", at);
        b.data[at] ^= (uint8_t)(1u << bit);
      }
    /* byte values 0x00..0xff at each of the first 16 positions (the
     * headers, versions, kinds, counts) */
    for (size_t at = 0; at < b.len && at < 16 && bad < 5; at++) {
      uint8_t keep = b.data[at];
      for (int v = 0; v < 256; v++) {
        b.data[at] = (uint8_t)v;
        bad += mutant_check(&entries[i], b.data, b.len, "byte set", at);
      }
      b.data[at] = keep;
    }
    /* 300 changes of 2..4 random bytes */
    uint8_t *copy = dup_bytes(b.data, b.len);
    for (int round = 0; round < 300 && bad < 5; round++) {
      memcpy(copy, b.data, b.len);
      int k = 2 + (int)(rng % 3);
      size_t first = 0;
      for (int j = 0; j < k; j++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        size_t at = (size_t)(rng % b.len);
        if (j == 0)
          first = at;
        copy[at] = (uint8_t)(rng >> 32);
      }
      bad += mutant_check(&entries[i], copy, b.len, "random change", first);
    }
    free(copy);
    sp_buf_free(&b);
  }
  assert_int_equal(bad, 0);
}

/* ====================================================== encoder refusals */

/* Encode into a buffer that already holds 3 bytes: the encoder must return
 * `want` and leave the buffer as it was (length, content, no sticky error). */
static void expect_refusal(enum vkind kind, const void *obj, int want, const char *what)
{
  struct sp_buf b;
  struct object o;
  memset(&o, 0, sizeof(o));
  o.kind = kind;
  switch (kind) {
  case V_GENESIS: o.genesis = obj; break;
  case V_TX: o.tx = obj; break;
  case V_HEADER: o.header = obj; break;
  case V_BLOCK: o.block = obj; break;
  case V_VOTE: o.vote = obj; break;
  case V_PROPOSAL: o.proposal = obj; break;
  case V_CERT: o.cert = obj; break;
  case V_MSG: o.msg = *(const struct sp_msg *)obj; break;
  }
  sp_buf_init(&b, BUF_MAX);
  sp_buf_append(&b, "xyz", 3);
  int rc = object_encode(&o, &b);
  if (rc != want) {
    print_error("encoding %s returned %s, expected %s\n", what, sp_errname(rc),
                sp_errname(want));
    sp_buf_free(&b);
    fail();
  }
  assert_int_equal(b.len, 3);
  assert_memory_equal(b.data, "xyz", 3);
  assert_int_equal(b.err, 0);
  sp_buf_free(&b);
}

static void test_encoders_refuse_invalid(void **state)
{
  (void)state;
  struct sp_tx tx;
  char longname[SP_MAX_NAME + 2];
  memset(longname, 'x', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';

  tx = F.tx[SP_TX_FUND_CREATE];
  catlist(&tx.u.fund_create.categories, "sport", "kleding");
  expect_refusal(V_TX, &tx, SP_E_ORDER, "unsorted categories");
  catlist(&tx.u.fund_create.categories, "sport", "sport");
  expect_refusal(V_TX, &tx, SP_E_ORDER, "duplicate categories");
  tx.u.fund_create.categories.n = 0;
  expect_refusal(V_TX, &tx, SP_E_RANGE, "no categories");
  tx.u.fund_create.categories.n = SP_MAX_CATEGORIES + 1;
  expect_refusal(V_TX, &tx, SP_E_TOOLONG, "17 categories");
  catlist(&tx.u.fund_create.categories, "Sport", NULL);
  expect_refusal(V_TX, &tx, SP_E_CHARSET, "uppercase category");
  tx = F.tx[SP_TX_FUND_CREATE];
  tx.u.fund_create.valid_until_ms = tx.u.fund_create.valid_from_ms;
  expect_refusal(V_TX, &tx, SP_E_RANGE, "empty validity window");
  tx = F.tx[SP_TX_FUND_CREATE];
  tx.u.fund_create.name = sp_str_c(longname);
  expect_refusal(V_TX, &tx, SP_E_TOOLONG, "65-byte fund name");
  tx.u.fund_create.name = sp_str_c("a\x01z");
  expect_refusal(V_TX, &tx, SP_E_CHARSET, "control character in a name");
  tx.u.fund_create.name = sp_str_c("\xc3\x28");
  expect_refusal(V_TX, &tx, SP_E_UTF8, "invalid UTF-8 in a name");

  tx = F.tx[SP_TX_CLAIM];
  tx.u.claim.fund = sp_str_c("Sport-2025");
  expect_refusal(V_TX, &tx, SP_E_CHARSET, "uppercase fund id");
  tx = F.tx[SP_TX_CLAIM];
  tx.u.claim.amount = SP_MONEY_MAX + 1;
  expect_refusal(V_TX, &tx, SP_E_RANGE, "amount over SP_MONEY_MAX");

  tx = F.tx[SP_TX_MERCHANT_REGISTER];
  tx.u.merchant.name = sp_str_c(longname);
  expect_refusal(V_TX, &tx, SP_E_TOOLONG, "65-byte merchant name");

  static struct sp_issue_row rows[3];
  memcpy(rows, F.rows, sizeof(rows));
  rows[1] = F.rows[2];
  rows[2] = F.rows[1];
  tx = F.tx[SP_TX_ISSUE];
  tx.u.issue.rows = rows;
  expect_refusal(V_TX, &tx, SP_E_ORDER, "unsorted issue rows");
  rows[2] = F.rows[2];
  expect_refusal(V_TX, &tx, SP_E_ORDER, "duplicate issue rows");
  tx = F.tx[SP_TX_ISSUE];
  tx.u.issue.n_rows = 0;
  expect_refusal(V_TX, &tx, SP_E_RANGE, "issue without rows");
  tx = F.tx[SP_TX_ISSUE];
  tx.u.issue.ref = sp_str_c("");
  expect_refusal(V_TX, &tx, SP_E_RANGE, "issue without a reference");

  tx = F.tx[SP_TX_PAY];
  tx.u.pay.parts[0] = F.tx[SP_TX_PAY].u.pay.parts[1];
  tx.u.pay.parts[1] = F.tx[SP_TX_PAY].u.pay.parts[0];
  expect_refusal(V_TX, &tx, SP_E_ORDER, "unsorted pay parts");
  tx.u.pay.parts[0] = tx.u.pay.parts[1];
  expect_refusal(V_TX, &tx, SP_E_ORDER, "duplicate pay parts");
  tx.u.pay.n_parts = SP_MAX_PAY_PARTS + 1;
  expect_refusal(V_TX, &tx, SP_E_TOOLONG, "9 pay parts");

  tx = F.tx[SP_TX_PASS_REPLACE];
  memcpy(tx.u.pass_replace.new_pass, tx.u.pass_replace.old_pass, SP_PK_LEN);
  expect_refusal(V_TX, &tx, SP_E_RANGE, "pass replaced by itself");

  tx = F.tx[SP_TX_CLAIM];
  tx.kind = 0;
  expect_refusal(V_TX, &tx, SP_E_KIND, "tx kind 0");
  tx.kind = 99;
  expect_refusal(V_TX, &tx, SP_E_KIND, "tx kind 99");

  struct sp_genesis g = F.genesis;
  memcpy(g.validators[0].pk, F.genesis.validators[1].pk, SP_PK_LEN);
  memcpy(g.validators[1].pk, F.genesis.validators[0].pk, SP_PK_LEN);
  expect_refusal(V_GENESIS, &g, SP_E_ORDER, "unsorted validators");
  g = F.genesis;
  g.validators[1] = g.validators[0];
  expect_refusal(V_GENESIS, &g, SP_E_ORDER, "duplicate validators");
  g = F.genesis;
  g.categories[1] = g.categories[0];
  expect_refusal(V_GENESIS, &g, SP_E_ORDER, "duplicate genesis categories");
  g = F.genesis;
  g.params.max_block_bytes = 1023;
  expect_refusal(V_GENESIS, &g, SP_E_RANGE, "max_block_bytes 1023");

  struct sp_cert c = F.cert[1];
  c.sigs[1] = F.cert[1].sigs[2];
  c.sigs[2] = F.cert[1].sigs[1];
  expect_refusal(V_CERT, &c, SP_E_ORDER, "unsorted certificate signatures");
  c.sigs[2] = c.sigs[1];
  expect_refusal(V_CERT, &c, SP_E_ORDER, "duplicate certificate signatures");
  c = F.cert[1];
  c.sigs[2].validator = SP_MAX_VALIDATORS;
  expect_refusal(V_CERT, &c, SP_E_RANGE, "validator index 64");
  c.n_sigs = 0;
  expect_refusal(V_CERT, &c, SP_E_RANGE, "certificate without signatures");

  struct sp_vote v = F.prevote;
  v.type = 3;
  expect_refusal(V_VOTE, &v, SP_E_KIND, "vote type 3");

  struct sp_proposal pr = F.prop[1];
  pr.valid_round = pr.round;
  expect_refusal(V_PROPOSAL, &pr, SP_E_RANGE, "valid_round == round");
  pr.valid_round = -2;
  expect_refusal(V_PROPOSAL, &pr, SP_E_RANGE, "valid_round -2");

  struct sp_header h = F.block[1].header;
  h.height = 0;
  expect_refusal(V_HEADER, &h, SP_E_RANGE, "header at height 0");

  struct sp_block blk = F.block[1];
  blk.header.tx_count = 2;
  expect_refusal(V_BLOCK, &blk, SP_E_MISMATCH, "block with tx_count 2 and 3 txs");
  blk = F.block[1];
  blk.has_last_commit = true;
  blk.last_commit = F.cert[1];
  expect_refusal(V_BLOCK, &blk, SP_E_RANGE, "block 1 with a last commit");
  blk = F.block[2];
  blk.has_last_commit = false;
  expect_refusal(V_BLOCK, &blk, SP_E_RANGE, "block 2 without a last commit");
  blk = F.block[1];
  struct sp_tx bad_txs[3];
  memcpy(bad_txs, F.b1_txs, sizeof(bad_txs));
  bad_txs[1].u.fund_deposit.amount = SP_MONEY_MAX + 1;
  blk.txs = bad_txs;
  expect_refusal(V_BLOCK, &blk, SP_E_RANGE, "block with an invalid tx");

  struct sp_msg m;
  make_msg(SP_MSG_STATUS_Q, &m);
  m.type = 0;
  expect_refusal(V_MSG, &m, SP_E_KIND, "message type 0");
  m.type = SP_MSG__MAX + 1;
  expect_refusal(V_MSG, &m, SP_E_KIND, "message type SP_MSG__MAX + 1");
  make_msg(SP_MSG_BALANCE_A, &m);
  m.u.balance.rows[0] = m.u.balance.rows[1];
  expect_refusal(V_MSG, &m, SP_E_ORDER, "duplicate balance rows");
  make_msg(SP_MSG_BLOCKS_A, &m);
  struct sp_block_entry swapped[2] = {F.entries[1], F.entries[0]};
  m.u.blocks.v = swapped;
  expect_refusal(V_MSG, &m, SP_E_MISMATCH, "blocks out of order");
  make_msg(SP_MSG_BLOCKS_A, &m);
  struct sp_block_entry wrong_cert[2] = {F.entries[0], F.entries[1]};
  wrong_cert[1].cert = F.cert[1];
  m.u.blocks.v = wrong_cert;
  expect_refusal(V_MSG, &m, SP_E_MISMATCH, "block 2 with the certificate of block 1");
  make_msg(SP_MSG_PROPOSAL, &m);
  m.u.proposal.block = F.block[2];
  expect_refusal(V_MSG, &m, SP_E_MISMATCH, "proposal and block of different heights");
  make_msg(SP_MSG_PROOF_A, &m);
  m.u.proof.index = 3;
  expect_refusal(V_MSG, &m, SP_E_MISMATCH, "proof for index 3 of a 3-tx block");
  make_msg(SP_MSG_AUTH, &m);
  m.u.auth.role = 4;
  expect_refusal(V_MSG, &m, SP_E_RANGE, "role 4");
  make_msg(SP_MSG_SUBMIT, &m);
  m.u.submit.u.pay.order_ref = sp_str_c(longname); /* 65 > SP_MAX_REF */
  expect_refusal(V_MSG, &m, SP_E_TOOLONG, "submit with a 65-byte order ref");

  make_msg(SP_MSG_FUNDS_Q, &m);
  m.u.funds_q.fund = sp_str_c("Sport");
  expect_refusal(V_MSG, &m, SP_E_CHARSET, "funds-q for an uppercase fund id");
  m.u.funds_q.fund = sp_str_c(longname);
  expect_refusal(V_MSG, &m, SP_E_TOOLONG, "funds-q for a 65-byte fund id");
  struct sp_fund_row frows[3];
  memcpy(frows, F.funds, sizeof(frows));
  frows[0] = F.funds[2];
  frows[2] = F.funds[0];
  make_msg(SP_MSG_FUNDS_A, &m);
  m.u.funds.rows = frows;
  expect_refusal(V_MSG, &m, SP_E_ORDER, "unsorted fund rows");
  memcpy(frows, F.funds, sizeof(frows));
  frows[2] = frows[1];
  expect_refusal(V_MSG, &m, SP_E_ORDER, "duplicate fund rows");
  memcpy(frows, F.funds, sizeof(frows));
  frows[1].name = sp_str_c("");
  expect_refusal(V_MSG, &m, SP_E_RANGE, "fund row without a name");
  memcpy(frows, F.funds, sizeof(frows));
  frows[1].id = sp_str_c("");
  expect_refusal(V_MSG, &m, SP_E_CHARSET, "fund row without an id");
  memcpy(frows, F.funds, sizeof(frows));
  frows[1].categories.n = 0;
  expect_refusal(V_MSG, &m, SP_E_RANGE, "fund row without categories");
  memcpy(frows, F.funds, sizeof(frows));
  catlist(&frows[1].categories, "sport", "kleding");
  expect_refusal(V_MSG, &m, SP_E_ORDER, "fund row with unsorted categories");
  memcpy(frows, F.funds, sizeof(frows));
  frows[1].returned = SP_MONEY_MAX + 1;
  expect_refusal(V_MSG, &m, SP_E_RANGE, "fund bucket over SP_MONEY_MAX");
  memcpy(frows, F.funds, sizeof(frows));
  frows[1].spending[1] = frows[1].spending[0];
  expect_refusal(V_MSG, &m, SP_E_ORDER, "duplicate spending categories");
  frows[1].spending[0] = F.funds[1].spending[1];
  expect_refusal(V_MSG, &m, SP_E_ORDER, "unsorted spending categories");
  memcpy(frows, F.funds, sizeof(frows));
  frows[1].n_spending = SP_MAX_CATEGORIES + 1;
  expect_refusal(V_MSG, &m, SP_E_TOOLONG, "17 spending entries");
  memcpy(frows, F.funds, sizeof(frows));
  m.u.funds.n = SP_MAX_FUNDS + 1;
  expect_refusal(V_MSG, &m, SP_E_TOOLONG, "257 fund rows");

  /* a buffer too small for the encoding */
  struct sp_buf small;
  sp_buf_init(&small, 40);
  sp_buf_append(&small, "xyz", 3);
  assert_rc(sp_tx_encode(&F.tx[SP_TX_CLAIM], &small), SP_E_BUFFER);
  assert_int_equal(small.len, 3);
  assert_int_equal(small.err, 0);
  sp_buf_free(&small);

  /* after a refusal the buffer is still usable: a good encode appends */
  struct sp_buf b, ref;
  sp_buf_init(&b, BUF_MAX);
  sp_buf_init(&ref, BUF_MAX);
  sp_buf_append(&b, "xyz", 3);
  tx = F.tx[SP_TX_CLAIM];
  tx.kind = 0;
  assert_rc(sp_tx_encode(&tx, &b), SP_E_KIND);
  assert_ok(sp_tx_encode(&F.tx[SP_TX_CLAIM], &b));
  assert_ok(sp_tx_encode(&F.tx[SP_TX_CLAIM], &ref));
  assert_int_equal(b.len, 3 + ref.len);
  assert_memory_equal(b.data + 3, ref.data, ref.len);
  sp_buf_free(&b);
  sp_buf_free(&ref);
}

/* ==================================================== domain separation */

static void test_dom_tx_signature(void **state)
{
  (void)state;
  for (uint32_t k = 1; k <= SP_TX__MAX; k++) {
    struct sp_buf b;
    struct sp_tx tx;
    enc_tx(&F.tx[k], &b);
    assert_ok(sp_tx_decode(b.data, b.len, &tx));
    assert_ok(sp_tx_verify(&tx, F.chain));
    /* another chain */
    assert_rc(sp_tx_verify(&tx, F.other_chain), SP_E_BADSIG);
    /* the same signed bytes in every other domain */
    for (int d = 0; d < SP_DOM__COUNT; d++) {
      int rc = sp_verify_dom(tx.sig, (enum sp_domain)d, F.chain, tx.body, tx.body_len,
                             tx.signer);
      if (d == SP_DOM_TX)
        assert_rc(rc, SP_OK);
      else
        assert_rc(rc, SP_E_BADSIG);
    }
    /* or under another key */
    assert_rc(sp_verify_dom(tx.sig, SP_DOM_TX, F.chain, tx.body, tx.body_len,
                            keys[K_STRANGER].pk),
              SP_E_BADSIG);
    sp_tx_clear(&tx);
    sp_buf_free(&b);
  }
}

static void test_dom_vote_signature(void **state)
{
  (void)state;
  struct sp_vote v = {.type = SP_VOTE_PRECOMMIT, .height = 1, .round = 0, .has_block = true};
  memcpy(v.block, F.bhash[1], SP_HASH_LEN);
  memcpy(v.validator, val_pk(0), SP_PK_LEN);
  assert_ok(sp_vote_sign(&v, F.chain, val_sk(0)));
  assert_ok(sp_vote_verify(&v, F.chain));
  /* the signature in a certificate is exactly this precommit signature */
  assert_memory_equal(v.sig, F.cert[1].sigs[0].sig, SP_SIG_LEN);

  struct sp_vote w = v;
  w.type = SP_VOTE_PREVOTE;
  assert_rc(sp_vote_verify(&w, F.chain), SP_E_BADSIG);
  w = v;
  w.height = 2;
  assert_rc(sp_vote_verify(&w, F.chain), SP_E_BADSIG);
  w = v;
  w.round = 1;
  assert_rc(sp_vote_verify(&w, F.chain), SP_E_BADSIG);
  w = v;
  memcpy(w.block, F.bhash[2], SP_HASH_LEN);
  assert_rc(sp_vote_verify(&w, F.chain), SP_E_BADSIG);
  w = v;
  w.has_block = false;
  assert_rc(sp_vote_verify(&w, F.chain), SP_E_BADSIG);
  w = v;
  memcpy(w.validator, val_pk(1), SP_PK_LEN);
  assert_rc(sp_vote_verify(&w, F.chain), SP_E_BADSIG);
  assert_rc(sp_vote_verify(&v, F.other_chain), SP_E_BADSIG);

  /* the vote sign-bytes in every other domain */
  struct sp_buf b;
  sp_buf_init(&b, 256);
  assert_ok(sp_vote_signbytes(&v, &b));
  for (int d = 0; d < SP_DOM__COUNT; d++)
    assert_rc(sp_verify_dom(v.sig, (enum sp_domain)d, F.chain, b.data, b.len, v.validator),
              d == SP_DOM_VOTE ? SP_OK : SP_E_BADSIG);
  sp_buf_free(&b);

  /* a nil precommit does not count for a block and vice versa */
  w = F.precommit_nil;
  assert_ok(sp_vote_verify(&w, F.chain));
  w.has_block = true;
  memcpy(w.block, F.bhash[2], SP_HASH_LEN);
  assert_rc(sp_vote_verify(&w, F.chain), SP_E_BADSIG);
}

static void test_cert_verify(void **state)
{
  (void)state;
  assert_int_equal(F.genesis.n_validators, 4);
  /* 3 of 4 */
  assert_ok(sp_cert_verify(&F.cert[1], &F.genesis, F.chain));
  assert_ok(sp_cert_verify(&F.cert[2], &F.genesis, F.chain));
  /* 4 of 4 */
  struct sp_cert c;
  static const int all[4] = {0, 1, 2, 3};
  sign_cert(&c, 1, 0, F.bhash[1], all, 4);
  assert_ok(sp_cert_verify(&c, &F.genesis, F.chain));
  /* 2 of 4 is not more than two thirds */
  c = F.cert[1];
  c.n_sigs = 2;
  assert_rc(sp_cert_verify(&c, &F.genesis, F.chain), SP_E_QUORUM);
  c.n_sigs = 1;
  assert_rc(sp_cert_verify(&c, &F.genesis, F.chain), SP_E_QUORUM);
  /* one forged signature among three: a stranger's, then a prevote's */
  c = F.cert[1];
  struct sp_vote v = {.type = SP_VOTE_PRECOMMIT, .height = 1, .round = 0, .has_block = true};
  memcpy(v.block, F.bhash[1], SP_HASH_LEN);
  memcpy(v.validator, keys[K_STRANGER].pk, SP_PK_LEN);
  assert_ok(sp_vote_sign(&v, F.chain, keys[K_STRANGER].sk));
  memcpy(c.sigs[1].sig, v.sig, SP_SIG_LEN);
  assert_rc(sp_cert_verify(&c, &F.genesis, F.chain), SP_E_BADSIG);
  v.type = SP_VOTE_PREVOTE;
  memcpy(v.validator, val_pk(1), SP_PK_LEN);
  assert_ok(sp_vote_sign(&v, F.chain, val_sk(1)));
  memcpy(c.sigs[1].sig, v.sig, SP_SIG_LEN);
  assert_rc(sp_cert_verify(&c, &F.genesis, F.chain), SP_E_BADSIG);
  /* a flipped bit */
  c = F.cert[1];
  c.sigs[2].sig[5] ^= 0x01;
  assert_rc(sp_cert_verify(&c, &F.genesis, F.chain), SP_E_BADSIG);
  /* the certificate of block 1 presented for block 2, another round, height, chain */
  c = F.cert[1];
  memcpy(c.block, F.bhash[2], SP_HASH_LEN);
  assert_rc(sp_cert_verify(&c, &F.genesis, F.chain), SP_E_BADSIG);
  c = F.cert[1];
  c.round = 1;
  assert_rc(sp_cert_verify(&c, &F.genesis, F.chain), SP_E_BADSIG);
  c = F.cert[1];
  c.height = 2;
  assert_rc(sp_cert_verify(&c, &F.genesis, F.chain), SP_E_BADSIG);
  assert_rc(sp_cert_verify(&F.cert[1], &F.genesis, F.other_chain), SP_E_BADSIG);
  /* an index outside the 4-validator set */
  c = F.cert[1];
  c.sigs[2].validator = 4;
  assert_rc(sp_cert_verify(&c, &F.genesis, F.chain), SP_E_RANGE);
  c.sigs[2].validator = SP_MAX_VALIDATORS - 1;
  assert_rc(sp_cert_verify(&c, &F.genesis, F.chain), SP_E_RANGE);
}

static void test_dom_proposal_signature(void **state)
{
  (void)state;
  for (int i = 0; i < 2; i++) {
    const struct sp_proposal *pr = &F.prop[i];
    assert_ok(sp_proposal_verify(pr, F.chain));
    assert_rc(sp_proposal_verify(pr, F.other_chain), SP_E_BADSIG);
    struct sp_proposal q = *pr;
    q.valid_round = i ? SP_ROUND_NONE : 0;
    q.round = 1;
    assert_rc(sp_proposal_verify(&q, F.chain), SP_E_BADSIG);
    q = *pr;
    q.height++;
    assert_rc(sp_proposal_verify(&q, F.chain), SP_E_BADSIG);
    q = *pr;
    q.block[0] ^= 1;
    assert_rc(sp_proposal_verify(&q, F.chain), SP_E_BADSIG);

    /* the proposal sign-bytes in every other domain */
    struct sp_buf b;
    sp_buf_init(&b, 256);
    assert_ok(sp_proposal_signbytes(pr, &b));
    for (int d = 0; d < SP_DOM__COUNT; d++)
      assert_rc(sp_verify_dom(pr->sig, (enum sp_domain)d, F.chain, b.data, b.len, pr->proposer),
                d == SP_DOM_PROPOSAL ? SP_OK : SP_E_BADSIG);
    sp_buf_free(&b);

    /* presented as a vote of the proposer for the same block */
    for (uint32_t type = SP_VOTE_PREVOTE; type <= SP_VOTE_PRECOMMIT; type++) {
      struct sp_vote v = {.type = type, .height = pr->height, .round = pr->round,
                          .has_block = true};
      memcpy(v.block, pr->block, SP_HASH_LEN);
      memcpy(v.validator, pr->proposer, SP_PK_LEN);
      memcpy(v.sig, pr->sig, SP_SIG_LEN);
      assert_rc(sp_vote_verify(&v, F.chain), SP_E_BADSIG);
    }
  }
  /* and a vote's signature is no proposal signature */
  struct sp_proposal q = F.prop[0];
  memcpy(q.sig, F.prevote.sig, SP_SIG_LEN);
  assert_rc(sp_proposal_verify(&q, F.chain), SP_E_BADSIG);
}

static void test_dom_auth_signature(void **state)
{
  (void)state;
  struct sp_msg m;
  struct sp_buf b;
  make_msg(SP_MSG_AUTH, &m);
  sp_buf_init(&b, 256);
  assert_ok(sp_auth_signbytes(m.u.auth.pk, m.u.auth.role, F.eph_a, F.eph_b, &b));
  assert_ok(sp_verify_dom(m.u.auth.sig, SP_DOM_HANDSHAKE, F.chain, b.data, b.len, m.u.auth.pk));
  assert_rc(sp_verify_dom(m.u.auth.sig, SP_DOM_HANDSHAKE, F.other_chain, b.data, b.len,
                          m.u.auth.pk),
            SP_E_BADSIG);
  for (int d = 0; d < SP_DOM__COUNT; d++)
    if (d != SP_DOM_HANDSHAKE)
      assert_rc(sp_verify_dom(m.u.auth.sig, (enum sp_domain)d, F.chain, b.data, b.len,
                              m.u.auth.pk),
                SP_E_BADSIG);
  /* the ephemeral keys swapped (a reflected handshake) */
  sp_buf_reset(&b);
  assert_ok(sp_auth_signbytes(m.u.auth.pk, m.u.auth.role, F.eph_b, F.eph_a, &b));
  assert_rc(sp_verify_dom(m.u.auth.sig, SP_DOM_HANDSHAKE, F.chain, b.data, b.len, m.u.auth.pk),
            SP_E_BADSIG);
  /* another role */
  sp_buf_reset(&b);
  assert_ok(sp_auth_signbytes(m.u.auth.pk, SP_ROLE_OBSERVER, F.eph_a, F.eph_b, &b));
  assert_rc(sp_verify_dom(m.u.auth.sig, SP_DOM_HANDSHAKE, F.chain, b.data, b.len, m.u.auth.pk),
            SP_E_BADSIG);
  sp_buf_free(&b);
}

static void test_dom_tags(void **state)
{
  (void)state;
  for (int i = 0; i < SP_DOM__COUNT; i++) {
    const char *a = sp_domain_tag((enum sp_domain)i);
    assert_non_null(a);
    assert_true(strlen(a) > 0);
    for (int j = 0; j < SP_DOM__COUNT; j++) {
      const char *b = sp_domain_tag((enum sp_domain)j);
      if (i == j)
        continue;
      assert_string_not_equal(a, b);
      if (strncmp(a, b, strlen(a)) == 0) {
        print_error("domain tag \"%s\" is a prefix of \"%s\"\n", a, b);
        fail();
      }
    }
  }
  assert_null(sp_domain_tag(SP_DOM__COUNT));
  assert_null(sp_domain_tag((enum sp_domain)-1));
  assert_string_equal(sp_domain_tag(SP_DOM_TX), "stadjerspas/tx/1");

  /* hashes in different domains over the same bytes differ; the chain id
   * is part of every domain but the genesis one */
  uint8_t h[SP_DOM__COUNT][SP_HASH_LEN];
  for (int i = 0; i < SP_DOM__COUNT; i++) {
    assert_ok(sp_hash_dom(h[i], (enum sp_domain)i, F.chain, "x", 1));
    for (int j = 0; j < i; j++)
      assert_memory_not_equal(h[i], h[j], SP_HASH_LEN);
  }
  uint8_t g[SP_HASH_LEN];
  assert_ok(sp_hash_dom(g, SP_DOM_GENESIS, NULL, F.genesis_enc, F.genesis_len));
  assert_memory_equal(g, F.chain, SP_HASH_LEN);
  assert_rc(sp_hash_dom(g, SP_DOM_TX, NULL, "x", 1), SP_E_INVAL);
  assert_rc(sp_hash_dom(g, SP_DOM__COUNT, F.chain, "x", 1), SP_E_INVAL);
  /* the tx id is that of the tx domain */
  struct sp_tx tx;
  struct sp_buf b;
  enc_tx(&F.tx[SP_TX_PAY], &b);
  assert_ok(sp_tx_decode(b.data, b.len, &tx));
  assert_ok(sp_hash_dom(g, SP_DOM_BLOCK, F.chain, tx.body, tx.body_len));
  assert_memory_not_equal(g, F.txid[SP_TX_PAY], SP_HASH_LEN);
  sp_tx_clear(&tx);
  sp_buf_free(&b);
}

/* ============================================================= tamper */

static void test_tamper_tx(void **state)
{
  (void)state;
  struct sp_buf b;
  struct sp_tx tx;
  enc_tx(&F.tx[SP_TX_FUND_CREATE], &b);

  /* one letter of the fund name: still a valid tx, no longer the signed one */
  patch_str(b.data, b.len, "Sportfonds 2025", "Sportfonds 2026");
  assert_ok(sp_tx_decode(b.data, b.len, &tx));
  assert_rc(sp_tx_verify(&tx, F.chain), SP_E_BADSIG);
  sp_tx_clear(&tx);
  patch_str(b.data, b.len, "Sportfonds 2026", "Sportfonds 2025");
  /* the max payment 15000 = cd 3a 98 -> 15001 */
  static const uint8_t mp[3] = {0xcd, 0x3a, 0x98}, mp2[3] = {0xcd, 0x3a, 0x99};
  patch(b.data, b.len, mp, mp2, 3);
  assert_ok(sp_tx_decode(b.data, b.len, &tx));
  assert_rc(sp_tx_verify(&tx, F.chain), SP_E_BADSIG);
  sp_tx_clear(&tx);
  patch(b.data, b.len, mp2, mp, 3);
  assert_ok(sp_tx_decode(b.data, b.len, &tx));
  assert_ok(sp_tx_verify(&tx, F.chain));
  sp_tx_clear(&tx);

  /* every bit of every byte of every tx, body and signature: either the
   * decoder refuses the bytes or the signature no longer verifies */
  for (uint32_t k = 1; k <= SP_TX__MAX; k++) {
    struct sp_buf e;
    enc_tx(&F.tx[k], &e);
    size_t decoded = 0, refused = 0;
    for (size_t i = 0; i < e.len; i++) {
      for (int bit = 0; bit < 8; bit++) {
        e.data[i] ^= (uint8_t)(1u << bit);
        int rc = sp_tx_decode(e.data, e.len, &tx);
        if (rc == SP_OK) {
          decoded++;
          int vr = sp_tx_verify(&tx, F.chain);
          sp_tx_clear(&tx);
          if (vr != SP_E_BADSIG) {
            print_error("tx kind %u, byte %zu bit %d flipped: decoded and verify gave %s\n", k,
                        i, bit, sp_errname(vr));
            fail();
          }
        } else {
          refused++;
        }
        e.data[i] ^= (uint8_t)(1u << bit);
      }
    }
    assert_true(decoded > 0);
    assert_true(refused > 0);
    sp_buf_free(&e);
  }
  sp_buf_free(&b);
}

/* ============================================ encoder/decoder asymmetry */

/* wire.h promises: "Writers ... refuse what the decoder would refuse, so we
 * never emit bytes we would not accept." Two cases that once broke it. */

static void test_header_encode_refuses_tx_count_over_max(void **state)
{
  (void)state;
  struct sp_header h = F.block[1].header, got;
  h.tx_count = SP_MAX_BLOCK_TXS + 1;
  struct sp_buf b;
  sp_buf_init(&b, 1024);
  int enc = sp_header_encode(&h, &b);
  int dec = enc == SP_OK ? sp_header_decode(b.data, b.len, &got) : enc;
  sp_buf_free(&b);
  /* the decoder refuses such a header ... */
  assert_rc(dec, SP_E_RANGE);
  /* ... so the encoder must not produce it */
  assert_rc(enc, SP_E_RANGE);
  /* the largest count is fine both ways */
  h.tx_count = SP_MAX_BLOCK_TXS;
  sp_buf_init(&b, 1024);
  assert_ok(sp_header_encode(&h, &b));
  assert_ok(sp_header_decode(b.data, b.len, &got));
  assert_int_equal(got.tx_count, SP_MAX_BLOCK_TXS);
  sp_buf_free(&b);
}

static void test_block_encode_refuses_last_commit_height(void **state)
{
  (void)state;
  struct sp_block blk = F.block[2], got;
  blk.last_commit.height = 5; /* must be header.height - 1 = 1 */
  struct sp_buf b;
  sp_buf_init(&b, BUF_MAX);
  int enc = sp_block_encode(&blk, &b);
  int dec = enc == SP_OK ? sp_block_decode(b.data, b.len, &got) : enc;
  if (dec == SP_OK)
    sp_block_clear(&got);
  sp_buf_free(&b);
  assert_rc(dec, SP_E_MISMATCH);
  assert_rc(enc, SP_E_MISMATCH);
}

/* A decoded block keeps a view of its own bytes, so that whoever needs
 * them (the consensus core, block sync) does not encode the fields again;
 * they are exactly what encoding the fields gives. */
static void test_block_decode_keeps_view(void **state)
{
  (void)state;
  struct sp_buf b, again;
  sp_buf_init(&b, BUF_MAX);
  sp_buf_init(&again, BUF_MAX);
  assert_rc(sp_block_encode(&F.block[2], &b), SP_OK);
  struct sp_block got;
  assert_rc(sp_block_decode(b.data, b.len, &got), SP_OK);
  assert_ptr_equal(got.raw, b.data);
  assert_int_equal(got.raw_len, b.len);
  assert_rc(sp_block_encode(&got, &again), SP_OK);
  assert_int_equal(again.len, got.raw_len);
  assert_memory_equal(again.data, got.raw, got.raw_len);
  sp_block_clear(&got);
  assert_null(got.raw);
  sp_buf_free(&b);
  sp_buf_free(&again);
}

/* ================================================================ main */

static int write_vectors(const char *dir)
{
  int bad = 0;
  for (size_t i = 0; i < n_entries; i++) {
    struct object o;
    struct sp_buf enc;
    struct notes n = {0};
    entry_encode(&entries[i], &o, &enc, &n);
    if (sp_vec_write(dir, entries[i].file, n.p, enc.data, enc.len) != 0) {
      fprintf(stderr, "cannot write %s/%s\n", dir, entries[i].file);
      bad = 1;
    } else {
      printf("wrote %s/%s (%zu bytes)\n", dir, entries[i].file, enc.len);
    }
    sp_buf_free(&enc);
    notes_free(&n);
  }
  char hex[65];
  printf("\nkeys (seed = 32 bytes of the seed byte):\n");
  for (int i = 0; i < K__N; i++) {
    sp_vec_hex(hex, keys[i].pk, SP_PK_LEN);
    printf("| 0x%02x | %s | `%s` |\n", keys[i].seed, keys[i].name, hex);
  }
  sp_vec_hex(hex, F.chain, SP_HASH_LEN);
  printf("chain id: %s\n", hex);
  for (int i = 0; i < 4; i++)
    printf("genesis validator index %d = %s\n", i, keys[F.val_key[i]].name);
  return bad;
}

int main(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "--write-vectors") == 0) {
    fixture_init();
    entries_init();
    return write_vectors(argv[2]);
  }
  if (argc != 1) {
    fprintf(stderr, "usage: %s [--write-vectors DIR]\n", argv[0]);
    return 2;
  }
  fixture_init();
  entries_init();

  static const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_roundtrip_all),
      cmocka_unit_test(test_tx_views_verify_id),
      cmocka_unit_test(test_vectors_readme),
      cmocka_unit_test(test_reject_version),
      cmocka_unit_test(test_reject_tx_kind),
      cmocka_unit_test(test_reject_msg_type),
      cmocka_unit_test(test_reject_field_count_tx),
      cmocka_unit_test(test_reject_field_count_msg),
      cmocka_unit_test(test_reject_key_length),
      cmocka_unit_test(test_reject_order_categories),
      cmocka_unit_test(test_reject_order_pay_parts),
      cmocka_unit_test(test_reject_order_issue_rows),
      cmocka_unit_test(test_reject_order_validators),
      cmocka_unit_test(test_reject_order_cert_sigs),
      cmocka_unit_test(test_reject_amount_range),
      cmocka_unit_test(test_reject_charset),
      cmocka_unit_test(test_reject_too_long),
      cmocka_unit_test(test_reject_issue_rows),
      cmocka_unit_test(test_reject_block_structure),
      cmocka_unit_test(test_reject_proposal_valid_round),
      cmocka_unit_test(test_reject_funds),
      cmocka_unit_test(test_reject_trailing),
      cmocka_unit_test(test_truncated_every_length),
      cmocka_unit_test(test_mutants_canonical),
      cmocka_unit_test(test_encoders_refuse_invalid),
      cmocka_unit_test(test_dom_tx_signature),
      cmocka_unit_test(test_dom_vote_signature),
      cmocka_unit_test(test_cert_verify),
      cmocka_unit_test(test_dom_proposal_signature),
      cmocka_unit_test(test_dom_auth_signature),
      cmocka_unit_test(test_dom_tags),
      cmocka_unit_test(test_tamper_tx),
      cmocka_unit_test(test_header_encode_refuses_tx_count_over_max),
      cmocka_unit_test(test_block_encode_refuses_last_commit_height),
      cmocka_unit_test(test_block_decode_keeps_view),
  };
  int failed = cmocka_run_group_tests_name("objects", tests, NULL, NULL);

  /* one test per golden vector file */
  static struct CMUnitTest vtests[sizeof(entries) / sizeof(entries[0])];
  static char vnames[sizeof(entries) / sizeof(entries[0])][64];
  for (size_t i = 0; i < n_entries; i++) {
    snprintf(vnames[i], sizeof(vnames[i]), "vector %s", entries[i].file);
    vtests[i] = (struct CMUnitTest){.name = vnames[i], .test_func = test_vector,
                                    .initial_state = &entries[i]};
  }
  failed += _cmocka_run_group_tests("vectors", vtests, n_entries, NULL, NULL);
  return failed ? 1 : 0;
}
