/* Ledger, block level: every reason a block is refused (each leaving the tip
 * and the state untouched), the no-op re-apply of a committed block, a
 * seeded property test of random valid and invalid transactions against an
 * independent model of balances, receivables, funds and sequence numbers,
 * blocks that hit the same records again and again (against a known state
 * digest), and the block-hash log's inclusion and consistency proofs.
 * SP_TEST_VERBOSE=1 prints the property test's verdicts per reason and kind. */
#include "ledger_fixture.h"

#include "sp/msg.h"

/* ================================================================ helpers */

#define HL SP_HASH_LEN

struct world {
  struct fx *f;
  struct fx_key pass1, pass2, club;
};

/* Block 1: a fund open from f->now on, a deposit, two passes with credit and
 * a sport club. */
static void world_setup(struct world *w)
{
  w->f = fx_new();
  struct fx *f = w->f;
  fx_key(&w->pass1, 0x31);
  fx_key(&w->pass2, 0x32);
  fx_key(&w->club, 0x41);
  struct sp_tx t[7], d[7];
  static struct sp_issue_row rows[2];
  t[0] = fx_fund_create("sport-2027", "Sport 2027", "culture", "sport", f->now - FX_DAY_MS,
                        FX_T2027 + 365 * FX_DAY_MS, 0);
  t[1] = fx_deposit("sport-2027", 100000);
  t[2] = fx_enroll(w->pass1.pk);
  t[3] = fx_enroll(w->pass2.pk);
  t[4] = fx_merchant(w->club.pk, "Sportclub Be Quick", "sport");
  t[5] = fx_issue1("sport-2027", "batch-1", &rows[0], w->pass1.pk, 15000);
  t[6] = fx_issue1("sport-2027", "batch-2", &rows[1], w->pass2.pk, 15000);
  for (int i = 0; i < 7; i++)
    fx_sign_as(f, &f->authority, &t[i], &d[i]);
  fx_commit(f, d, 7);
  for (int i = 0; i < 7; i++)
    sp_tx_clear(&d[i]);
}

/* Three payments (pass1 twice, pass2 once) signed now, decoded into d. */
static void three_pays(struct world *w, struct sp_tx d[3])
{
  struct sp_tx t = fx_pay(w->club.pk, "sport-2027", 100);
  fx_sign_as(w->f, &w->pass1, &t, &d[0]);
  t = fx_pay(w->club.pk, "sport-2027", 200);
  fx_sign_as(w->f, &w->pass1, &t, &d[1]);
  t = fx_pay(w->club.pk, "sport-2027", 300);
  fx_sign_as(w->f, &w->pass2, &t, &d[2]);
}

static void clear_txs(struct sp_tx *d, size_t n)
{
  for (size_t i = 0; i < n; i++)
    sp_tx_clear(&d[i]);
}

/* Propose the next block from txs; every tx must be accepted. */
static void propose_all(struct fx *f, const struct sp_tx *txs, size_t n, struct sp_buf *out)
{
  bool acc[32];
  struct sp_refusal why[32];
  assert_true(n <= 32);
  sp_buf_init(out, SP_MAX_BLOCK_BYTES);
  assert_int_equal(fx_propose(f, txs, n, out, acc, why), 0);
  for (size_t i = 0; i < n; i++)
    if (!acc[i])
      fail_msg("tx %zu refused: %s", i, why[i].msg);
}

static void hash_of(const struct sp_buf *blk, uint8_t out[HL])
{
  struct sp_block b;
  assert_int_equal(sp_block_decode(blk->data, blk->len, &b), 0);
  assert_int_equal(sp_header_hash(&b.header, out), 0);
  sp_block_clear(&b);
}

static void reencode(const struct sp_block *b, struct sp_buf *out)
{
  sp_buf_init(out, SP_MAX_BLOCK_BYTES);
  int rc = sp_block_encode(b, out);
  if (rc)
    fail_msg("re-encode: %s", sp_strerror(rc));
}

/* tx_root over each tx's full encoding, as the header commits to it. */
static void recompute_root(struct sp_block *b)
{
  uint8_t(*leaves)[HL] = calloc(b->n_txs ? b->n_txs : 1, HL);
  assert_non_null(leaves);
  for (uint32_t i = 0; i < b->n_txs; i++) {
    struct sp_buf e;
    sp_buf_init(&e, SP_MAX_TX_BYTES);
    assert_int_equal(sp_tx_encode(&b->txs[i], &e), 0);
    sp_merkle_leaf(leaves[i], e.data, e.len);
    sp_buf_free(&e);
  }
  assert_int_equal(sp_merkle_root(b->header.tx_root, (const uint8_t(*)[HL])leaves, b->n_txs),
                   0);
  free(leaves);
}

struct snap {
  struct sp_tip tip;
  uint64_t pass1, pass2, club;
  struct sp_fund_info fund;
};

static void take_snap(struct world *w, struct snap *s)
{
  memset(s, 0, sizeof(*s));
  assert_int_equal(sp_ledger_tip(w->f->l, &s->tip), 0);
  s->pass1 = fx_balance(w->f, w->pass1.pk, "sport-2027");
  s->pass2 = fx_balance(w->f, w->pass2.pk, "sport-2027");
  s->club = fx_balance(w->f, w->club.pk, "sport-2027");
  assert_int_equal(sp_ledger_fund(w->f->l, "sport-2027", &s->fund), 0);
}

static void assert_snap_same(struct world *w, const struct snap *a)
{
  struct snap b;
  take_snap(w, &b);
  assert_int_equal(b.tip.height, a->tip.height);
  assert_memory_equal(b.tip.hash, a->tip.hash, HL);
  assert_memory_equal(b.tip.state_digest, a->tip.state_digest, HL);
  assert_int_equal(b.tip.time_ms, a->tip.time_ms);
  assert_int_equal(b.pass1, a->pass1);
  assert_int_equal(b.pass2, a->pass2);
  assert_int_equal(b.club, a->club);
  assert_memory_equal(&b.fund, &a->fund, sizeof(b.fund));
}

enum cert_mode { CERT_NONE, CERT_GOOD };

/* Apply blk expecting a refusal with exactly (reason, height), then check
 * that nothing changed. */
static void expect_refused(struct world *w, const struct sp_buf *blk, enum cert_mode cm,
                           const struct sp_cert *cert, int reason, uint64_t height)
{
  struct snap before;
  take_snap(w, &before);
  struct sp_cert c;
  const struct sp_cert *cp = cert;
  if (cert == NULL && cm == CERT_GOOD) {
    struct sp_block b;
    if (sp_block_decode(blk->data, blk->len, &b) == SP_OK) {
      uint8_t h[HL];
      sp_header_hash(&b.header, h);
      fx_cert(w->f, b.header.height, h, 3, &c);
      cp = &c;
      sp_block_clear(&b);
    }
  }
  struct sp_refusal why;
  /* consensus's valid(v) gives the same verdict, except on the block's own
   * certificate, which it does not see */
  if (reason != SP_R_BLOCK_CERT) {
    memset(&why, 0xaa, sizeof(why));
    int crc = sp_ledger_check_block(w->f->l, blk->data, blk->len, &why);
    if (crc != SP_LE_REFUSED || why.reason != reason || why.height != height)
      fail_msg("check_block: expected %s at height %llu, got rc %d, %s at height %llu: %s",
               sp_reason_name(reason), (unsigned long long)height, crc,
               sp_reason_name(why.reason), (unsigned long long)why.height, why.msg);
    assert_snap_same(w, &before);
  }
  memset(&why, 0xaa, sizeof(why));
  int rc = sp_ledger_apply(w->f->l, blk->data, blk->len, cp, &why);
  if (rc != SP_LE_REFUSED)
    fail_msg("expected a refusal (%s), got %d (%s)", sp_reason_name(reason), rc,
             sp_ledger_strerror(rc));
  if (why.reason != reason || why.height != height)
    fail_msg("expected %s at height %llu, got %s at height %llu: %s", sp_reason_name(reason),
             (unsigned long long)height, sp_reason_name(why.reason),
             (unsigned long long)why.height, why.msg);
  assert_true(strlen(why.msg) > 0);
  assert_snap_same(w, &before);
}

/* Propose block 2 from three payments and decode it into b (whose txs point
 * into *raw, kept alive by the caller). */
static void block2(struct world *w, struct sp_tx d[3], struct sp_buf *raw, struct sp_block *b)
{
  three_pays(w, d);
  propose_all(w->f, d, 3, raw);
  assert_int_equal(sp_block_decode(raw->data, raw->len, b), 0);
  assert_int_equal(b->header.height, 2);
}

/* The untouched block must still apply after the refusals. */
static void apply_ok(struct world *w, const struct sp_buf *blk)
{
  struct sp_refusal why;
  int rc = sp_ledger_check_block(w->f->l, blk->data, blk->len, &why);
  if (rc)
    fail_msg("check_block refused (%d): %s", rc, why.msg);
  rc = fx_apply(w->f, blk, &why);
  if (rc)
    fail_msg("block refused (%d): %s", rc, why.msg);
}

/* The block is refused both by check_block (nothing written either way)
 * and by apply, for the same reason; why gets apply's answer. */
static void both_refuse(struct fx *f, const struct sp_buf *bad, const struct sp_cert *c,
                        struct sp_refusal *why)
{
  struct sp_refusal cw;
  assert_int_equal(sp_ledger_check_block(f->l, bad->data, bad->len, &cw), SP_LE_REFUSED);
  assert_int_equal(sp_ledger_apply(f->l, bad->data, bad->len, c, why), SP_LE_REFUSED);
  assert_int_equal(cw.reason, why->reason);
  assert_int_equal(cw.height, why->height);
  if (why->reason == SP_R_BLOCK_TX) {
    assert_int_equal(cw.tx_reason, why->tx_reason);
    assert_int_equal(cw.tx_index, why->tx_index);
  }
}

/* ============================================= block-level refusals */

static void test_malformed(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  static const uint8_t garbage[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02};
  struct sp_buf g = {(uint8_t *)garbage, sizeof(garbage), sizeof(garbage), sizeof(garbage), 0};
  expect_refused(&w, &g, CERT_NONE, NULL, SP_R_BLOCK_MALFORMED, 0);
  static const uint8_t empty_array[] = {0x90};
  struct sp_buf e = {(uint8_t *)empty_array, 1, 1, 1, 0};
  expect_refused(&w, &e, CERT_NONE, NULL, SP_R_BLOCK_MALFORMED, 0);

  struct sp_tx d[3];
  struct sp_buf raw;
  three_pays(&w, d);
  propose_all(w.f, d, 3, &raw);
  /* truncated, one trailing byte, a flipped msgpack type byte */
  struct sp_buf cut = raw;
  cut.len = raw.len - 1;
  expect_refused(&w, &cut, CERT_NONE, NULL, SP_R_BLOCK_MALFORMED, 0);
  struct sp_buf longer;
  sp_buf_init(&longer, SP_MAX_BLOCK_BYTES);
  sp_buf_append(&longer, raw.data, raw.len);
  uint8_t zero = 0;
  sp_buf_append(&longer, &zero, 1);
  expect_refused(&w, &longer, CERT_NONE, NULL, SP_R_BLOCK_MALFORMED, 0);
  sp_buf_free(&longer);
  uint8_t first = raw.data[0];
  raw.data[0] = 0x95; /* a 5-element array */
  expect_refused(&w, &raw, CERT_NONE, NULL, SP_R_BLOCK_MALFORMED, 0);
  raw.data[0] = first;
  apply_ok(&w, &raw);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(w.f);
}

static void test_wrong_chain(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_tx d[3];
  struct sp_buf raw, bad;
  struct sp_block b;
  block2(&w, d, &raw, &b);
  b.header.chain_id[7] ^= 0x20;
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_WRONG_CHAIN, 2);
  expect_refused(&w, &bad, CERT_NONE, NULL, SP_R_BLOCK_WRONG_CHAIN, 2);
  apply_ok(&w, &raw);
  sp_buf_free(&bad);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(w.f);
}

static void test_wrong_chain_first_block(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  struct world w = {.f = f};
  fx_key(&w.pass1, 0x31);
  fx_key(&w.pass2, 0x32);
  fx_key(&w.club, 0x41);
  struct sp_tx t = fx_fund_create("sport-2027", "Sport", "sport", NULL, f->now,
                                  f->now + FX_DAY_MS, 0),
               d;
  fx_sign_as(f, &f->authority, &t, &d);
  struct sp_buf raw, bad;
  propose_all(f, &d, 1, &raw);
  struct sp_block b;
  assert_int_equal(sp_block_decode(raw.data, raw.len, &b), 0);
  b.header.chain_id[0] ^= 1;
  reencode(&b, &bad);
  struct sp_tip tip0;
  assert_int_equal(sp_ledger_tip(f->l, &tip0), 0);
  struct sp_refusal why;
  both_refuse(f, &bad, NULL, &why);
  assert_int_equal(why.reason, SP_R_BLOCK_WRONG_CHAIN);
  assert_int_equal(why.height, 1);
  struct sp_tip tip1;
  assert_int_equal(sp_ledger_tip(f->l, &tip1), 0);
  assert_memory_equal(&tip0, &tip1, sizeof(tip0));
  assert_int_equal(tip1.height, 0);
  struct sp_fund_info fi;
  assert_int_equal(sp_ledger_fund(f->l, "sport-2027", &fi), SP_LE_NOTFOUND);
  apply_ok(&w, &raw);
  assert_int_equal(sp_ledger_fund(f->l, "sport-2027", &fi), 0);
  sp_buf_free(&bad);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  sp_tx_clear(&d);
  fx_free(f);
}

static void test_wrong_height(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_tx d[3];
  struct sp_buf raw, bad;
  struct sp_block b;
  block2(&w, d, &raw, &b);
  /* height tip+2, its last commit claiming to be for tip+1 (decodes) */
  b.header.height = 3;
  b.last_commit.height = 2;
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_WRONG_HEIGHT, 3);
  sp_buf_free(&bad);
  /* far ahead */
  b.header.height = 1000;
  b.last_commit.height = 999;
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_NONE, NULL, SP_R_BLOCK_WRONG_HEIGHT, 1000);
  sp_buf_free(&bad);
  apply_ok(&w, &raw);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(w.f);
}

static void test_wrong_prev(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_tx d[3];
  struct sp_buf raw, bad;
  struct sp_block b;
  block2(&w, d, &raw, &b);
  b.header.prev[31] ^= 0x80;
  memcpy(b.last_commit.block, b.header.prev, HL); /* decode requires them equal */
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_WRONG_PREV, 2);
  sp_buf_free(&bad);
  apply_ok(&w, &raw);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(w.f);
}

static void test_block_time(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_tx d[3];
  struct sp_buf raw, bad;
  struct sp_block b;
  block2(&w, d, &raw, &b);
  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(w.f->l, &tip), 0);
  b.header.time_ms = tip.time_ms; /* equal: does not advance */
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_TIME, 2);
  sp_buf_free(&bad);
  b.header.time_ms = tip.time_ms - 1; /* earlier */
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_TIME, 2);
  sp_buf_free(&bad);
  b.header.time_ms = 0;
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_NONE, NULL, SP_R_BLOCK_TIME, 2);
  sp_buf_free(&bad);
  apply_ok(&w, &raw);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(w.f);
}

static void test_block_time_first_block(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(f->l, &tip), 0);
  struct sp_buf raw, bad;
  propose_all(f, NULL, 0, &raw);
  struct sp_block b;
  assert_int_equal(sp_block_decode(raw.data, raw.len, &b), 0);
  b.header.time_ms = tip.time_ms - 1; /* before genesis */
  reencode(&b, &bad);
  struct sp_refusal why;
  both_refuse(f, &bad, NULL, &why);
  assert_int_equal(why.reason, SP_R_BLOCK_TIME);
  assert_int_equal(why.height, 1);
  struct sp_tip after;
  assert_int_equal(sp_ledger_tip(f->l, &after), 0);
  assert_memory_equal(&tip, &after, sizeof(tip));
  sp_buf_free(&bad);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  fx_free(f);
}

static void test_block_proposer(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_tx d[3];
  struct sp_buf raw, bad;
  struct sp_block b;
  block2(&w, d, &raw, &b);
  /* the authority is not a validator */
  memcpy(b.header.proposer, w.f->authority.pk, SP_PK_LEN);
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_PROPOSER, 2);
  sp_buf_free(&bad);
  /* the ledger proposes for anyone; applying is what refuses */
  struct sp_buf p;
  sp_buf_init(&p, SP_MAX_BLOCK_BYTES);
  bool acc[3];
  assert_int_equal(sp_ledger_propose(w.f->l, d, 3, w.f->now, w.pass1.pk, &w.f->tip_cert, &p,
                                     acc, NULL),
                   0);
  expect_refused(&w, &p, CERT_GOOD, NULL, SP_R_BLOCK_PROPOSER, 2);
  sp_buf_free(&p);
  /* every validator may propose */
  memcpy(b.header.proposer, w.f->validators[3].pk, SP_PK_LEN);
  reencode(&b, &bad);
  apply_ok(&w, &bad);
  sp_buf_free(&bad);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(w.f);
}

/* Recreate the fixture's ledger from a genesis with other block limits. */
static void fx_limits(struct fx *f, uint32_t max_txs, uint32_t max_bytes)
{
  sp_ledger_close(f->l);
  f->l = NULL;
  fx_rmrf(f->dir);
  struct sp_genesis g;
  assert_int_equal(sp_genesis_decode(f->genesis.data, f->genesis.len, &g), 0);
  g.params.max_block_txs = max_txs;
  g.params.max_block_bytes = max_bytes;
  struct sp_buf nb;
  sp_buf_init(&nb, 1 << 20);
  assert_int_equal(sp_genesis_encode(&g, &nb), 0); /* g's views still in the old bytes */
  sp_buf_free(&f->genesis);
  f->genesis = nb;
  assert_int_equal(sp_chain_id(f->genesis.data, f->genesis.len, f->chain_id), 0);
  struct sp_ledger_opts o = {.no_sync = true};
  assert_int_equal(sp_ledger_create(f->dir, f->genesis.data, f->genesis.len, &o), 0);
  fx_open(f);
}

static void test_block_too_big(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  fx_limits(f, 2, 8u * 1024 * 1024);
  struct sp_tx t[3], d[3];
  t[0] = fx_fund_create("sport-2027", "Sport", "sport", NULL, f->now, f->now + FX_DAY_MS, 0);
  t[1] = fx_deposit("sport-2027", 1000);
  t[2] = fx_deposit("sport-2027", 2000);
  for (int i = 0; i < 3; i++)
    fx_sign_as(f, &f->authority, &t[i], &d[i]);
  /* the proposer stops at the limit */
  struct sp_buf raw;
  sp_buf_init(&raw, SP_MAX_BLOCK_BYTES);
  bool acc[3];
  assert_int_equal(fx_propose(f, d, 3, &raw, acc, NULL), 0);
  assert_true(acc[0] && acc[1] && !acc[2]);
  struct sp_block b;
  assert_int_equal(sp_block_decode(raw.data, raw.len, &b), 0);
  assert_int_equal(b.n_txs, 2);
  /* a hand-made block with all three is refused */
  struct sp_block big = b;
  struct sp_tx all[3] = {d[0], d[1], d[2]};
  big.txs = all;
  big.n_txs = big.header.tx_count = 3;
  recompute_root(&big);
  struct sp_buf bad;
  reencode(&big, &bad);
  struct sp_tip tip0, tip1;
  assert_int_equal(sp_ledger_tip(f->l, &tip0), 0);
  struct sp_refusal why;
  both_refuse(f, &bad, NULL, &why);
  assert_int_equal(why.reason, SP_R_BLOCK_TOO_BIG);
  assert_int_equal(why.height, 1);
  assert_int_equal(sp_ledger_tip(f->l, &tip1), 0);
  assert_memory_equal(&tip0, &tip1, sizeof(tip0));
  sp_buf_free(&bad);
  assert_int_equal(fx_apply(f, &raw, &why), 0);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(f);
}

#ifndef SP_MIN_BLOCK_BYTES
#define SP_MIN_BLOCK_BYTES 1024u
#endif
#define NDEP 600

static void test_block_too_many_bytes(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  fx_limits(f, 5000, SP_MIN_BLOCK_BYTES); /* the smallest limit genesis allows */
  struct sp_tx *t = calloc(NDEP, sizeof(*t)), *d = calloc(NDEP, sizeof(*d));
  bool *acc = calloc(NDEP, sizeof(*acc));
  assert_true(t && d && acc);
  t[0] = fx_fund_create("sport-2027", "Sport", "sport", NULL, f->now, f->now + FX_DAY_MS, 0);
  for (int i = 1; i < NDEP; i++)
    t[i] = fx_deposit("sport-2027", 1000 + (uint64_t)i);
  for (int i = 0; i < NDEP; i++)
    fx_sign_as(f, &f->authority, &t[i], &d[i]);
  struct sp_buf e;
  sp_buf_init(&e, SP_MAX_TX_BYTES);
  assert_int_equal(sp_tx_encode(&d[NDEP - 1], &e), 0);
  size_t tx_len = e.len;
  sp_buf_free(&e);
  assert_true(NDEP * tx_len > SP_MIN_BLOCK_BYTES);

  struct sp_buf raw;
  sp_buf_init(&raw, SP_MAX_BLOCK_BYTES);
  assert_int_equal(fx_propose(f, d, NDEP, &raw, acc, NULL), 0);
  size_t taken = 0;
  for (int i = 0; i < NDEP; i++)
    taken += acc[i];
  /* within the limit, and packed: one more would not have fitted far off */
  assert_true(raw.len <= SP_MIN_BLOCK_BYTES);
  assert_true(taken > 0 && taken < NDEP);
  assert_true(raw.len + 2 * tx_len + 64 > SP_MIN_BLOCK_BYTES);
  for (size_t i = 0; i < taken; i++)
    assert_true(acc[i]); /* a prefix: the rest waits for the next block */

  /* a hand-made block of all of them is refused */
  struct sp_block b;
  assert_int_equal(sp_block_decode(raw.data, raw.len, &b), 0);
  struct sp_block big = b;
  big.txs = d;
  big.n_txs = big.header.tx_count = NDEP;
  recompute_root(&big);
  struct sp_buf bad;
  reencode(&big, &bad);
  assert_true(bad.len > SP_MIN_BLOCK_BYTES);
  struct sp_tip tip0, tip1;
  assert_int_equal(sp_ledger_tip(f->l, &tip0), 0);
  struct sp_refusal why;
  both_refuse(f, &bad, NULL, &why);
  assert_int_equal(why.reason, SP_R_BLOCK_TOO_BIG);
  assert_int_equal(why.height, 1);
  assert_int_equal(sp_ledger_tip(f->l, &tip1), 0);
  assert_memory_equal(&tip0, &tip1, sizeof(tip0));
  sp_buf_free(&bad);
  /* the proposal itself applies, and the rest goes into the next block */
  assert_int_equal(fx_apply(f, &raw, &why), 0);
  sp_buf_reset(&raw);
  assert_int_equal(fx_propose(f, d + taken, NDEP - taken, &raw, acc, NULL), 0);
  for (size_t i = 0; i < NDEP - taken; i++)
    assert_true(acc[i]);
  assert_int_equal(fx_apply(f, &raw, &why), 0);
  struct sp_fund_info fi;
  assert_int_equal(sp_ledger_fund(f->l, "sport-2027", &fi), 0);
  assert_int_equal(fi.deposited, (NDEP - 1) * 1000ull + (uint64_t)(NDEP - 1) * NDEP / 2);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, NDEP);
  free(t);
  free(d);
  free(acc);
  fx_free(f);
}

static void test_tx_root(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_tx d[3];
  struct sp_buf raw, bad;
  struct sp_block b;
  block2(&w, d, &raw, &b);
  b.header.tx_root[0] ^= 1;
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_TX_ROOT, 2);
  sp_buf_free(&bad);
  b.header.tx_root[0] ^= 1;
  /* two transactions swapped: same set, other root */
  struct sp_tx tmp = b.txs[0];
  b.txs[0] = b.txs[2];
  b.txs[2] = tmp;
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_TX_ROOT, 2);
  sp_buf_free(&bad);
  /* one transaction left out (count adjusted) */
  b.n_txs = b.header.tx_count = 2;
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_TX_ROOT, 2);
  sp_buf_free(&bad);
  b.n_txs = b.header.tx_count = 3;
  apply_ok(&w, &raw);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(w.f);
}

static void test_last_commit(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(f->l, &tip), 0);
  struct sp_tx d[3];
  struct sp_buf raw, bad;
  struct sp_block b;
  block2(&w, d, &raw, &b);
  const struct sp_cert good = b.last_commit;

  /* only 2 of 4 precommits, with a matching last_commit_hash */
  fx_cert(f, 1, tip.hash, 2, &b.last_commit);
  assert_int_equal(sp_cert_hash(&b.last_commit, b.header.last_commit_hash), 0);
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_LAST_COMMIT, 2);
  sp_buf_free(&bad);

  /* a bad signature, matching hash */
  b.last_commit = good;
  b.last_commit.sigs[1].sig[10] ^= 4;
  assert_int_equal(sp_cert_hash(&b.last_commit, b.header.last_commit_hash), 0);
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_LAST_COMMIT, 2);
  sp_buf_free(&bad);

  /* a signer index outside the validator set */
  b.last_commit = good;
  b.last_commit.sigs[2].validator = FX_VALIDATORS;
  assert_int_equal(sp_cert_hash(&b.last_commit, b.header.last_commit_hash), 0);
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_LAST_COMMIT, 2);
  sp_buf_free(&bad);

  /* a valid certificate (4 of 4) but the header names another one */
  fx_cert(f, 1, tip.hash, 4, &b.last_commit);
  assert_int_equal(sp_cert_hash(&good, b.header.last_commit_hash), 0);
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_LAST_COMMIT, 2);
  sp_buf_free(&bad);

  /* the right certificate with a wrong last_commit_hash */
  b.last_commit = good;
  assert_int_equal(sp_cert_hash(&good, b.header.last_commit_hash), 0);
  b.header.last_commit_hash[5] ^= 0x10;
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_LAST_COMMIT, 2);
  sp_buf_free(&bad);

  /* a different valid certificate (4 of 4) with its own hash is fine */
  fx_cert(f, 1, tip.hash, 4, &b.last_commit);
  assert_int_equal(sp_cert_hash(&b.last_commit, b.header.last_commit_hash), 0);
  reencode(&b, &bad);
  apply_ok(&w, &bad);
  sp_buf_free(&bad);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(f);
}

static void test_last_commit_first_block(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  struct sp_buf raw, bad;
  propose_all(f, NULL, 0, &raw);
  struct sp_block b;
  assert_int_equal(sp_block_decode(raw.data, raw.len, &b), 0);
  b.header.last_commit_hash[0] = 1; /* height 1 has no last commit */
  reencode(&b, &bad);
  struct sp_refusal why;
  both_refuse(f, &bad, NULL, &why);
  assert_int_equal(why.reason, SP_R_BLOCK_LAST_COMMIT);
  assert_int_equal(why.height, 1);
  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(f->l, &tip), 0);
  assert_int_equal(tip.height, 0);
  sp_buf_free(&bad);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  fx_free(f);
}

static void test_state_digest(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_tx d[3];
  struct sp_buf raw, bad;
  struct sp_block b;
  block2(&w, d, &raw, &b);
  b.header.state_digest[HL - 1] ^= 1;
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_STATE_DIGEST, 2);
  expect_refused(&w, &bad, CERT_NONE, NULL, SP_R_BLOCK_STATE_DIGEST, 2);
  sp_buf_free(&bad);
  /* the digest of the tip (nothing applied) is also wrong */
  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(w.f->l, &tip), 0);
  memcpy(b.header.state_digest, tip.state_digest, HL);
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_STATE_DIGEST, 2);
  sp_buf_free(&bad);
  /* an empty block carrying a made-up digest */
  struct sp_block e = b;
  e.n_txs = e.header.tx_count = 0;
  recompute_root(&e);
  reencode(&e, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_STATE_DIGEST, 2);
  sp_buf_free(&bad);
  apply_ok(&w, &raw);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(w.f);
}

static void test_block_cert(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  struct sp_tx d[3];
  struct sp_buf raw;
  struct sp_block b;
  block2(&w, d, &raw, &b);
  uint8_t h[HL];
  hash_of(&raw, h);
  struct sp_cert c;

  fx_cert(f, 2, h, 3, &c); /* a bad signature */
  c.sigs[1].sig[0] ^= 1;
  expect_refused(&w, &raw, CERT_GOOD, &c, SP_R_BLOCK_CERT, 2);

  uint8_t other[HL]; /* for another block */
  memcpy(other, h, HL);
  other[3] ^= 1;
  fx_cert(f, 2, other, 3, &c);
  expect_refused(&w, &raw, CERT_GOOD, &c, SP_R_BLOCK_CERT, 2);

  fx_cert(f, 3, h, 3, &c); /* for another height */
  expect_refused(&w, &raw, CERT_GOOD, &c, SP_R_BLOCK_CERT, 2);

  fx_cert(f, 2, h, 2, &c); /* 2 of 4: no quorum */
  expect_refused(&w, &raw, CERT_GOOD, &c, SP_R_BLOCK_CERT, 2);

  fx_cert(f, 2, h, 3, &c); /* a signer outside the set */
  c.sigs[2].validator = 7;
  expect_refused(&w, &raw, CERT_GOOD, &c, SP_R_BLOCK_CERT, 2);

  fx_cert(f, 2, h, 3, &c); /* the same validator twice */
  c.sigs[2] = c.sigs[1];
  expect_refused(&w, &raw, CERT_GOOD, &c, SP_R_BLOCK_CERT, 2);

  fx_cert(f, 2, h, 3, &c); /* signed for round 0, claiming round 1 */
  c.round = 1;
  expect_refused(&w, &raw, CERT_GOOD, &c, SP_R_BLOCK_CERT, 2);

  fx_cert(f, 2, h, 4, &c); /* 4 of 4 is fine */
  struct sp_refusal why;
  assert_int_equal(sp_ledger_apply(f->l, raw.data, raw.len, &c, &why), 0);
  struct sp_cert got;
  bool has = false;
  struct sp_buf back;
  sp_buf_init(&back, SP_MAX_BLOCK_BYTES);
  assert_int_equal(sp_ledger_block(f->l, 2, &back, &got, &has), 0);
  assert_true(has);
  assert_int_equal(got.n_sigs, 4);
  assert_int_equal(back.len, raw.len);
  assert_memory_equal(back.data, raw.data, raw.len);
  sp_buf_free(&back);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(f);
}

static void test_block_tx_bad_signature(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_tx d[3];
  struct sp_buf raw, bad;
  struct sp_block b;
  block2(&w, d, &raw, &b);
  b.txs[1].sig[17] ^= 0x01;
  recompute_root(&b);
  reencode(&b, &bad);
  struct snap before;
  take_snap(&w, &before);
  uint8_t h[HL];
  hash_of(&bad, h);
  struct sp_cert c;
  fx_cert(w.f, 2, h, 3, &c);
  struct sp_refusal why;
  both_refuse(w.f, &bad, &c, &why);
  assert_int_equal(why.reason, SP_R_BLOCK_TX);
  assert_int_equal(why.tx_reason, SP_R_BAD_SIGNATURE);
  assert_int_equal(why.tx_index, 1);
  assert_int_equal(why.height, 2);
  assert_snap_same(&w, &before);
  sp_buf_free(&bad);
  /* the last one bad */
  b.txs[1].sig[17] ^= 0x01;
  b.txs[2].sig[63] ^= 0x80;
  recompute_root(&b);
  reencode(&b, &bad);
  both_refuse(w.f, &bad, NULL, &why);
  assert_int_equal(why.reason, SP_R_BLOCK_TX);
  assert_int_equal(why.tx_reason, SP_R_BAD_SIGNATURE);
  assert_int_equal(why.tx_index, 2);
  assert_int_equal(why.height, 2);
  assert_snap_same(&w, &before);
  sp_buf_free(&bad);
  apply_ok(&w, &raw);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(w.f);
}

/* The cache of verified signatures vouches only for the exact bytes that
 * verified: the same transaction with one bit of its signature flipped is
 * checked afresh (and refused) after the good one was cached, whether it
 * comes alone, in a proposal or in a block. */
static void test_sig_cache(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_tx d[3];
  struct sp_buf raw, bad;
  struct sp_block b;
  block2(&w, d, &raw, &b); /* proposing verified (and cached) all three */
  assert_int_equal(sp_ledger_verify_tx(w.f->l, &d[0]), SP_LE_OK);
  d[0].sig[5] ^= 0x20;
  fx_redecode(w.f, &d[0]);
  assert_int_equal(sp_ledger_verify_tx(w.f->l, &d[0]), SP_E_BADSIG);
  struct sp_refusal why;
  assert_int_equal(sp_ledger_check_tx(w.f->l, &d[0], w.f->now, &why), SP_LE_REFUSED);
  assert_int_equal(why.reason, SP_R_BAD_SIGNATURE);
  bool acc[3];
  struct sp_refusal whys[3];
  struct sp_buf out;
  sp_buf_init(&out, SP_MAX_BLOCK_BYTES);
  assert_int_equal(fx_propose(w.f, d, 3, &out, acc, whys), 0);
  assert_false(acc[0]);
  assert_int_equal(whys[0].reason, SP_R_BAD_SIGNATURE);
  sp_buf_free(&out);
  d[0].sig[5] ^= 0x20;
  fx_redecode(w.f, &d[0]);
  assert_int_equal(sp_ledger_verify_tx(w.f->l, &d[0]), SP_LE_OK);

  /* preverify: the good block passes, a forged one does not */
  assert_int_equal(sp_ledger_preverify(w.f->l, raw.data, raw.len), SP_LE_OK);
  b.txs[2].sig[40] ^= 0x04;
  recompute_root(&b);
  reencode(&b, &bad);
  assert_int_equal(sp_ledger_preverify(w.f->l, bad.data, bad.len), SP_E_BADSIG);
  struct snap before;
  take_snap(&w, &before);
  both_refuse(w.f, &bad, NULL, &why);
  assert_int_equal(why.tx_reason, SP_R_BAD_SIGNATURE);
  assert_int_equal(why.tx_index, 2);
  assert_snap_same(&w, &before);
  sp_buf_free(&bad);
  struct sp_block cut;
  int drc = sp_block_decode(raw.data, 3, &cut); /* a block cut short: its decode error */
  assert_true(drc < 0);
  assert_int_equal(sp_ledger_preverify(w.f->l, raw.data, 3), drc);

  /* a cache size that cannot be had is refused with a clear error; a
   * ledger without any cache verifies (and applies) just the same */
  sp_ledger_close(w.f->l);
  struct sp_ledger *l2 = NULL;
  struct sp_ledger_opts huge = {.no_sync = true, .sig_cache = ((size_t)1 << 26) + 1};
  assert_int_equal(sp_ledger_open(&l2, w.f->dir, &huge), SP_LE_INVAL);
  assert_null(l2);
  struct sp_ledger_opts none = {.no_sync = true, .sig_cache = SP_LEDGER_NO_SIG_CACHE};
  assert_int_equal(sp_ledger_open(&w.f->l, w.f->dir, &none), SP_LE_OK);
  assert_int_equal(sp_ledger_verify_tx(w.f->l, &d[0]), SP_LE_OK);
  d[0].sig[5] ^= 0x20;
  fx_redecode(w.f, &d[0]);
  assert_int_equal(sp_ledger_verify_tx(w.f->l, &d[0]), SP_E_BADSIG);
  d[0].sig[5] ^= 0x20;
  fx_redecode(w.f, &d[0]);
  apply_ok(&w, &raw);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(w.f);
}

/* Admission's batch: each transaction is judged against the tip alone,
 * exactly as sp_ledger_check_tx_verified judges it (pass1's second
 * payment is one sequence number ahead of the tip), in one read txn; and
 * the signature check hands out the transaction's Merkle leaf. */
static void test_check_batch(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_tx d[4];
  three_pays(&w, d);
  d[3] = d[2];
  d[3].body = NULL; /* not decoded: refused as input, not as a rule */
  struct sp_tx_check v[4];
  uint8_t ids[4][HL];
  for (int i = 0; i < 4; i++) {
    sp_tx_id(&d[i], sp_ledger_chain_id(w.f->l), ids[i]);
    v[i] = (struct sp_tx_check){.tx = &d[i], .txid = ids[i], .rc = -12345};
  }
  assert_int_equal(sp_ledger_check_txs_verified(w.f->l, v, 4, w.f->now), SP_LE_OK);
  assert_int_equal(v[0].rc, SP_LE_OK);
  assert_int_equal(v[1].rc, SP_LE_REFUSED);
  assert_int_equal(v[1].why.reason, SP_R_WRONG_SEQUENCE);
  assert_int_equal(v[2].rc, SP_LE_OK);
  assert_int_equal(v[3].rc, SP_LE_INVAL);
  for (int i = 0; i < 3; i++) {
    struct sp_refusal why;
    assert_int_equal(sp_ledger_check_tx_verified(w.f->l, &d[i], w.f->now, &why), v[i].rc);
    assert_int_equal(why.reason, v[i].why.reason);
    assert_int_equal(why.height, v[i].why.height);
    assert_int_equal(v[i].why.height, 2);
  }
  uint8_t leaf[HL], want[HL], zero[HL] = {0};
  assert_int_equal(sp_ledger_verify_tx_leaf(w.f->l, &d[0], leaf), SP_LE_OK);
  sp_merkle_leaf(want, d[0].raw, d[0].raw_len);
  assert_memory_equal(leaf, want, HL);
  assert_int_equal(sp_ledger_verify_tx_leaf(w.f->l, &d[3], leaf), SP_LE_INVAL);
  assert_memory_equal(leaf, zero, HL);
  d[2].sig[7] ^= 0x01;
  fx_redecode(w.f, &d[2]);
  assert_int_equal(sp_ledger_verify_tx_leaf(w.f->l, &d[2], leaf), SP_E_BADSIG);
  d[2].sig[7] ^= 0x01;
  fx_redecode(w.f, &d[2]);
  clear_txs(d, 3);
  fx_free(w.f);
}

/* sp_ledger_propose_hashed of three candidates, as fx_propose would propose them */
static int propose_h(struct world *w, const struct sp_tx *c, uint8_t (*leaves)[HL],
                     uint8_t (*ids)[HL], struct sp_buf *out, bool *acc, struct sp_refusal *why)
{
  const struct sp_cert *last = w->f->has_tip_cert ? &w->f->tip_cert : NULL;
  return sp_ledger_propose_hashed(w->f->l, c, (const uint8_t(*)[HL])leaves,
                                  (const uint8_t(*)[HL])ids, 3, w->f->now,
                                  w->f->validators[0].pk, last, out, acc, why);
}

/* A proposal from candidates with their leaves and ids given is the same
 * block, byte for byte, as one that hashes them itself, and applies; a
 * candidate whose signature is bad is still refused (the leaf only finds
 * the cache entry of exactly these bytes); half the hashes is refused. */
static void test_propose_hashed(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_tx d[3];
  three_pays(&w, d);
  uint8_t leaves[3][HL], ids[3][HL];
  for (int i = 0; i < 3; i++) {
    assert_int_equal(sp_ledger_verify_tx_leaf(w.f->l, &d[i], leaves[i]), SP_LE_OK);
    sp_tx_id(&d[i], sp_ledger_chain_id(w.f->l), ids[i]);
  }
  struct sp_buf plain, hashed;
  propose_all(w.f, d, 3, &plain);
  sp_buf_init(&hashed, SP_MAX_BLOCK_BYTES);
  bool acc[3];
  struct sp_refusal why[3];
  assert_int_equal(propose_h(&w, d, leaves, ids, &hashed, acc, why), SP_LE_OK);
  assert_true(acc[0] && acc[1] && acc[2]);
  assert_int_equal(hashed.len, plain.len);
  assert_memory_equal(hashed.data, plain.data, plain.len);
  struct sp_buf out;
  sp_buf_init(&out, SP_MAX_BLOCK_BYTES);
  assert_int_equal(propose_h(&w, d, leaves, NULL, &out, acc, why), SP_LE_INVAL);
  /* pass2's signature spoilt: its bytes (and leaf) are new to the cache */
  d[2].sig[3] ^= 0x10;
  struct sp_buf raw;
  sp_buf_init(&raw, SP_MAX_TX_BYTES);
  assert_int_equal(sp_tx_encode(&d[2], &raw), SP_OK);
  struct sp_tx bad;
  assert_int_equal(sp_tx_decode(raw.data, raw.len, &bad), SP_OK);
  struct sp_tx c2[3] = {d[0], d[1], bad};
  uint8_t bad_leaf[HL];
  assert_int_equal(sp_ledger_verify_tx_leaf(w.f->l, &bad, bad_leaf), SP_E_BADSIG);
  memcpy(leaves[2], bad_leaf, HL);
  sp_tx_id(&bad, sp_ledger_chain_id(w.f->l), ids[2]);
  sp_buf_reset(&out);
  assert_int_equal(propose_h(&w, c2, leaves, ids, &out, acc, why), SP_LE_OK);
  assert_true(acc[0] && acc[1] && !acc[2]);
  assert_int_equal(why[2].reason, SP_R_BAD_SIGNATURE);
  d[2].sig[3] ^= 0x10;
  /* the first proposal was dropped by the later ones: propose it again */
  sp_buf_reset(&hashed);
  assert_int_equal(sp_ledger_verify_tx_leaf(w.f->l, &d[2], leaves[2]), SP_LE_OK);
  sp_tx_id(&d[2], sp_ledger_chain_id(w.f->l), ids[2]);
  assert_int_equal(propose_h(&w, d, leaves, ids, &hashed, acc, why), SP_LE_OK);
  apply_ok(&w, &hashed);
  sp_tx_clear(&bad);
  sp_buf_free(&raw);
  sp_buf_free(&out);
  sp_buf_free(&plain);
  sp_buf_free(&hashed);
  clear_txs(d, 3);
  fx_free(w.f);
}

/* A decoded transaction whose field is changed afterwards is no longer
 * what was signed: its signature check would read the old bytes, while its
 * cache key and any block built from it would hold the new ones. It is
 * refused as not decoded, by the signature check and by a proposal, and
 * the forged bytes themselves fail their signature (nothing was cached for
 * them). Before, the changed struct verified, the leaf of the forged bytes
 * was cached, and a block carrying them applied. */
static void test_changed_struct_refused(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_tx d[3];
  three_pays(&w, d);
  d[0].u.pay.parts[0].amount = 9000; /* was 100, signed so */
  assert_int_equal(sp_ledger_verify_tx(w.f->l, &d[0]), SP_LE_INVAL);
  uint8_t leaf[HL];
  assert_int_equal(sp_ledger_verify_tx_leaf(w.f->l, &d[0], leaf), SP_LE_INVAL);
  bool acc[3];
  struct sp_refusal why[3];
  struct sp_buf out;
  sp_buf_init(&out, SP_MAX_BLOCK_BYTES);
  assert_int_equal(fx_propose(w.f, d, 3, &out, acc, why), 0);
  assert_false(acc[0]);
  assert_int_equal(why[0].reason, SP_R_MALFORMED);
  assert_true(acc[2]); /* d[1] is pass1's next after the refused d[0] */
  /* the forged bytes, decoded afresh: a plain bad signature */
  struct sp_buf raw;
  sp_buf_init(&raw, SP_MAX_TX_BYTES);
  assert_int_equal(sp_tx_encode(&d[0], &raw), SP_OK);
  struct sp_tx forged;
  assert_int_equal(sp_tx_decode(raw.data, raw.len, &forged), SP_OK);
  assert_int_equal(sp_ledger_verify_tx(w.f->l, &forged), SP_E_BADSIG);
  /* unchanged again, it verifies */
  d[0].u.pay.parts[0].amount = 100;
  assert_int_equal(sp_ledger_verify_tx(w.f->l, &d[0]), SP_LE_OK);
  sp_tx_clear(&forged);
  sp_buf_free(&raw);
  sp_buf_free(&out);
  clear_txs(d, 3);
  fx_free(w.f);
}

/* A checked or proposed block keeps its write transaction open until it is
 * applied; whatever comes first instead must drop it and see the ledger
 * exactly as committed: another block at the same height, a certificate,
 * a new proposal, queries meanwhile, closing without applying. */
static void test_staged(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_tx d[3];
  three_pays(&w, d);
  struct snap before;
  take_snap(&w, &before);
  struct sp_buf a, b;
  propose_all(w.f, d, 1, &a); /* pass1 pays 1.00: staged */
  w.f->now += 1;
  propose_all(w.f, d, 1, &b); /* the same a moment later: staged instead */
  w.f->now -= 1;
  assert_snap_same(&w, &before);  /* reads see the committed ledger only */
  struct sp_refusal why;
  int rc = fx_apply(w.f, &a, &why); /* not the staged one */
  if (rc)
    fail_msg("block a refused: %s", why.msg);
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "sport-2027"), before.pass1 - 100);
  uint8_t ha[HL], hb[HL];
  hash_of(&a, ha);
  hash_of(&b, hb);
  assert_memory_not_equal(ha, hb, HL);
  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(w.f->l, &tip), 0);
  assert_memory_equal(tip.hash, ha, HL);
  /* b is for a height that is taken now */
  assert_int_equal(sp_ledger_apply(w.f->l, b.data, b.len, NULL, &why), SP_LE_REFUSED);
  assert_int_equal(why.reason, SP_R_BLOCK_CONFLICT);
  sp_buf_free(&a);
  sp_buf_free(&b);

  /* checked (staged), then the tip's certificate is stored (drops it),
   * then applied the long way */
  struct sp_buf c;
  propose_all(w.f, d + 1, 1, &c);
  assert_int_equal(sp_ledger_check_block(w.f->l, c.data, c.len, &why), 0);
  assert_int_equal(sp_ledger_put_cert(w.f->l, &w.f->tip_cert, &why), 0);
  rc = fx_apply(w.f, &c, &why);
  if (rc)
    fail_msg("block c refused: %s", why.msg);
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "sport-2027"), before.pass1 - 300);
  sp_buf_free(&c);

  /* checked and never applied: closing leaves the ledger as committed */
  struct sp_tx e[1];
  struct sp_tx t = fx_pay(w.club.pk, "sport-2027", 5);
  fx_sign_as(w.f, &w.pass1, &t, &e[0]);
  struct sp_buf x;
  propose_all(w.f, e, 1, &x);
  assert_int_equal(sp_ledger_check_block(w.f->l, x.data, x.len, &why), 0);
  struct sp_tip t1, t2;
  assert_int_equal(sp_ledger_tip(w.f->l, &t1), 0);
  sp_ledger_close(w.f->l);
  fx_open(w.f);
  assert_int_equal(sp_ledger_tip(w.f->l, &t2), 0);
  assert_memory_equal(&t1, &t2, sizeof(t1));
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "sport-2027"), before.pass1 - 300);
  apply_ok(&w, &x); /* and it still applies after the reopen */
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "sport-2027"), before.pass1 - 305);
  struct sp_verify_report rep;
  assert_int_equal(sp_ledger_verify(w.f->l, "/tmp", &rep), 0);
  assert_true(rep.ok);
  sp_buf_free(&x);
  sp_tx_clear(&e[0]);
  clear_txs(d, 3);
  fx_free(w.f);
}

/* Blocks 1..n of f's chain with their certificates, as a batch. */
static void stored_blocks(struct fx *f, size_t n, struct sp_buf *raw,
                          struct sp_cert *cert, struct sp_block_in *in)
{
  for (size_t i = 0; i < n; i++) {
    bool has = false;
    sp_buf_init(&raw[i], SP_MAX_BLOCK_BYTES);
    assert_int_equal(sp_ledger_block(f->l, (uint64_t)i + 1, &raw[i], &cert[i], &has), 0);
    assert_true(has);
    in[i] = (struct sp_block_in){raw[i].data, raw[i].len, &cert[i]};
  }
}

/* sp_ledger_apply_batch: blocks 1..5 of one ledger, with their
 * certificates, replayed into fresh ledgers in one transaction. */
#define BATCH_N 5
#define BATCH_MAP (128u * 1024u) /* bytes: the empty ledger fits, the batch does not */
static void test_apply_batch(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w); /* block 1 */
  struct fx *f = w.f;
  for (int h = 2; h <= BATCH_N; h++) {
    struct sp_tx t = fx_pay(w.club.pk, "sport-2027", (uint64_t)(100 * h)), d[1];
    fx_sign_as(f, h % 2 ? &w.pass1 : &w.pass2, &t, &d[0]);
    struct sp_buf raw;
    propose_all(f, d, 1, &raw);
    apply_ok(&w, &raw);
    sp_buf_free(&raw);
    clear_txs(d, 1);
  }
  struct sp_buf raw[BATCH_N];
  struct sp_cert cert[BATCH_N];
  struct sp_block_in in[BATCH_N];
  stored_blocks(f, BATCH_N, raw, cert, in);
  struct sp_tip want;
  assert_int_equal(sp_ledger_tip(f->l, &want), 0);
  assert_int_equal(want.height, BATCH_N);

  /* all five in one go: the same tip, digest and balances, and the copy
   * verifies from genesis. The map is tiny: the batch fills it, and the
   * ledger grows it and runs the whole batch again. */
  struct sp_ledger *l2 = NULL;
  char dir[300];
  snprintf(dir, sizeof(dir), "%s-batch", f->dir);
  struct sp_ledger_opts o = {.no_sync = true, .map_size = BATCH_MAP};
  assert_int_equal(sp_ledger_create(dir, f->genesis.data, f->genesis.len, &o), 0);
  assert_int_equal(sp_ledger_open(&l2, dir, &o), 0);
  struct sp_refusal why;
  int rc = sp_ledger_apply_batch(l2, in, BATCH_N, &why);
  if (rc)
    fail_msg("batch refused (%d): %s", rc, why.msg);
  struct sp_tip got;
  assert_int_equal(sp_ledger_tip(l2, &got), 0);
  assert_memory_equal(&got, &want, sizeof(got));
  struct sp_verify_report rep;
  assert_int_equal(sp_ledger_verify(l2, "/tmp", &rep), 0);
  assert_true(rep.ok);
  sp_ledger_close(l2);
  fx_rmrf(dir);

  /* block 4 with a wrong state digest: nothing of the batch is written,
   * and the refusal names block 4 */
  struct sp_block b4;
  assert_int_equal(sp_block_decode(raw[3].data, raw[3].len, &b4), 0);
  b4.header.state_digest[0] ^= 1;
  struct sp_buf bad4;
  reencode(&b4, &bad4);
  sp_block_clear(&b4);
  struct sp_block_in tampered[BATCH_N];
  memcpy(tampered, in, sizeof(in));
  tampered[3] = (struct sp_block_in){bad4.data, bad4.len, NULL};
  assert_int_equal(sp_ledger_create(dir, f->genesis.data, f->genesis.len, &o), 0);
  assert_int_equal(sp_ledger_open(&l2, dir, &o), 0);
  assert_int_equal(sp_ledger_apply_batch(l2, tampered, BATCH_N, &why), SP_LE_REFUSED);
  assert_int_equal(why.reason, SP_R_BLOCK_STATE_DIGEST);
  assert_int_equal(why.height, 4);
  assert_int_equal(sp_ledger_tip(l2, &got), 0);
  assert_int_equal(got.height, 0);

  /* a forged signature in block 2: refused as such, nothing written */
  struct sp_block b2;
  assert_int_equal(sp_block_decode(raw[1].data, raw[1].len, &b2), 0);
  b2.txs[0].sig[5] ^= 0x10;
  recompute_root(&b2);
  struct sp_buf bad2;
  reencode(&b2, &bad2);
  sp_block_clear(&b2);
  struct sp_block_in forged[2] = {in[0], {bad2.data, bad2.len, NULL}};
  assert_int_equal(sp_ledger_apply_batch(l2, forged, 2, &why), SP_LE_REFUSED);
  assert_int_equal(why.reason, SP_R_BLOCK_TX);
  assert_int_equal(why.tx_reason, SP_R_BAD_SIGNATURE);
  assert_int_equal(why.height, 2);
  assert_int_equal(sp_ledger_tip(l2, &got), 0);
  assert_int_equal(got.height, 0);
  sp_buf_free(&bad2);

  /* blocks 1-3, then 3-5: the second batch starts below the tip, so it
   * goes block by block (3 is a no-op) and still ends at the same tip */
  assert_int_equal(sp_ledger_apply_batch(l2, in, 3, &why), 0);
  assert_int_equal(sp_ledger_tip(l2, &got), 0);
  assert_int_equal(got.height, 3);
  assert_int_equal(sp_ledger_apply_batch(l2, in + 2, 3, &why), 0);
  assert_int_equal(sp_ledger_tip(l2, &got), 0);
  assert_memory_equal(&got, &want, sizeof(got));
  /* a block of another height in the middle: refused as sp_ledger_apply
   * refuses it, after the blocks before it are applied */
  struct sp_block_in gap[2] = {in[0], in[2]};
  sp_ledger_close(l2);
  fx_rmrf(dir);
  assert_int_equal(sp_ledger_create(dir, f->genesis.data, f->genesis.len, &o), 0);
  assert_int_equal(sp_ledger_open(&l2, dir, &o), 0);
  assert_int_equal(sp_ledger_apply_batch(l2, gap, 2, &why), SP_LE_REFUSED);
  assert_int_equal(why.reason, SP_R_BLOCK_WRONG_HEIGHT);
  assert_int_equal(sp_ledger_tip(l2, &got), 0);
  assert_int_equal(got.height, 1);
  sp_ledger_close(l2);
  fx_rmrf(dir);

  sp_buf_free(&bad4);
  for (int i = 0; i < BATCH_N; i++)
    sp_buf_free(&raw[i]);
  fx_free(f);
}

static void test_block_tx_rules(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  struct sp_tx d[3];
  struct sp_buf raw, bad;
  struct sp_block b;
  block2(&w, d, &raw, &b);
  struct snap before;
  take_snap(&w, &before);
  struct sp_refusal why;

  /* pass1's two payments in the wrong order: seq 2 comes first */
  struct sp_tx tmp = b.txs[0];
  b.txs[0] = b.txs[1];
  b.txs[1] = tmp;
  recompute_root(&b);
  reencode(&b, &bad);
  both_refuse(f, &bad, NULL, &why);
  assert_int_equal(why.reason, SP_R_BLOCK_TX);
  assert_int_equal(why.tx_reason, SP_R_WRONG_SEQUENCE);
  assert_int_equal(why.tx_index, 0);
  assert_int_equal(why.height, 2);
  assert_snap_same(&w, &before);
  sp_buf_free(&bad);
  b.txs[1] = b.txs[0];
  b.txs[0] = tmp;

  /* a payment the proposer would refuse: more than the balance */
  struct sp_tx over = fx_pay(w.club.pk, "sport-2027", 999999), od;
  fx_sign_as(f, &w.pass2, &over, &od);
  struct sp_tx four[4] = {b.txs[0], b.txs[1], b.txs[2], od};
  struct sp_block b4 = b;
  b4.txs = four;
  b4.n_txs = b4.header.tx_count = 4;
  recompute_root(&b4);
  reencode(&b4, &bad);
  both_refuse(f, &bad, NULL, &why);
  assert_int_equal(why.reason, SP_R_BLOCK_TX);
  assert_int_equal(why.tx_reason, SP_R_INSUFFICIENT_BALANCE);
  assert_int_equal(why.tx_index, 3);
  assert_int_equal(why.height, 2);
  assert_snap_same(&w, &before);
  sp_buf_free(&bad);

  /* the same transaction twice */
  four[3] = b.txs[2];
  recompute_root(&b4);
  reencode(&b4, &bad);
  both_refuse(f, &bad, NULL, &why);
  assert_int_equal(why.reason, SP_R_BLOCK_TX);
  assert_int_equal(why.tx_reason, SP_R_WRONG_SEQUENCE);
  assert_int_equal(why.tx_index, 3);
  assert_snap_same(&w, &before);
  sp_buf_free(&bad);

  apply_ok(&w, &raw);
  /* replaying an already committed payment in the next block */
  struct sp_buf raw3;
  propose_all(f, NULL, 0, &raw3);
  struct sp_block b3;
  assert_int_equal(sp_block_decode(raw3.data, raw3.len, &b3), 0);
  b3.txs = &b.txs[2];
  b3.n_txs = b3.header.tx_count = 1;
  recompute_root(&b3);
  reencode(&b3, &bad);
  take_snap(&w, &before);
  both_refuse(f, &bad, NULL, &why);
  assert_int_equal(why.reason, SP_R_BLOCK_TX);
  assert_int_equal(why.tx_reason, SP_R_WRONG_SEQUENCE);
  assert_int_equal(why.height, 3);
  assert_snap_same(&w, &before);
  b3.txs = NULL;
  b3.n_txs = 0;
  sp_block_clear(&b3);
  sp_buf_free(&bad);
  sp_buf_free(&raw3);
  sp_tx_clear(&od);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  clear_txs(d, 3);
  fx_free(f);
}

static void test_conflict_and_noop(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  struct sp_buf raw1;
  sp_buf_init(&raw1, SP_MAX_BLOCK_BYTES);
  struct sp_cert c1;
  bool has = false;
  assert_int_equal(sp_ledger_block(f->l, 1, &raw1, &c1, &has), 0);
  assert_true(has);

  struct sp_tx d[3];
  struct sp_buf raw;
  struct sp_block b;
  block2(&w, d, &raw, &b);
  apply_ok(&w, &raw);
  struct sp_cert c2 = f->tip_cert;

  /* the same blocks again: no-ops, with or without their certificates */
  struct snap before;
  take_snap(&w, &before);
  struct sp_refusal why;
  assert_int_equal(sp_ledger_apply(f->l, raw1.data, raw1.len, &c1, &why), SP_LE_OK);
  assert_int_equal(sp_ledger_apply(f->l, raw1.data, raw1.len, NULL, &why), SP_LE_OK);
  assert_int_equal(sp_ledger_apply(f->l, raw.data, raw.len, &c2, &why), SP_LE_OK);
  assert_int_equal(sp_ledger_apply(f->l, raw.data, raw.len, NULL, &why), SP_LE_OK);
  assert_snap_same(&w, &before);

  /* the same block with a certificate that is no quorum: whatever the
   * answer, the stored certificate stays a valid one */
  struct sp_cert weak;
  fx_cert(f, 2, c2.block, 2, &weak);
  int rc = sp_ledger_apply(f->l, raw.data, raw.len, &weak, &why);
  assert_true(rc == SP_LE_OK || (rc == SP_LE_REFUSED && why.reason == SP_R_BLOCK_CERT));
  struct sp_buf back;
  sp_buf_init(&back, SP_MAX_BLOCK_BYTES);
  struct sp_cert stored;
  has = false;
  assert_int_equal(sp_ledger_block(f->l, 2, &back, &stored, &has), 0);
  assert_true(has);
  assert_int_equal(sp_cert_verify(&stored, sp_ledger_genesis(f->l), f->chain_id), SP_OK);
  assert_memory_equal(stored.block, c2.block, HL);
  sp_buf_free(&back);
  assert_snap_same(&w, &before);

  /* another block at an applied height: the tip's and an older one */
  struct sp_buf bad;
  b.header.time_ms += 1;
  reencode(&b, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_CONFLICT, 2);
  sp_buf_free(&bad);
  struct sp_block b1;
  assert_int_equal(sp_block_decode(raw1.data, raw1.len, &b1), 0);
  b1.header.state_digest[0] ^= 1;
  reencode(&b1, &bad);
  expect_refused(&w, &bad, CERT_GOOD, NULL, SP_R_BLOCK_CONFLICT, 1);
  expect_refused(&w, &bad, CERT_NONE, NULL, SP_R_BLOCK_CONFLICT, 1);
  sp_buf_free(&bad);
  sp_block_clear(&b1);

  /* and the chain goes on */
  struct sp_tx t = fx_pay(w.club.pk, "sport-2027", 5), d4;
  fx_sign_as(f, &w.pass1, &t, &d4);
  fx_commit(f, &d4, 1);
  sp_tx_clear(&d4);
  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(f->l, &tip), 0);
  assert_int_equal(tip.height, 3);
  struct sp_verify_report rep;
  assert_int_equal(sp_ledger_verify(f->l, "/tmp", &rep), 0);
  assert_true(rep.ok);
  assert_int_equal(rep.blocks, 3);
  sp_block_clear(&b);
  sp_buf_free(&raw);
  sp_buf_free(&raw1);
  clear_txs(d, 3);
  fx_free(f);
}

/* ======================================================== property test */

#define NF 3
#define NP 8
#define NM 4
#define NCAT 4
#define MAXPAY 1024
#define MAXCLAIM 512
#define MAXREF 2048
#define MAXCAND 20
#define PBLOCKS 30

/* sorted, as pay parts must be */
static const char *const pf_ids[NF] = {"culture-short", "school-2027", "sport-2027"};
/* merchant i books under this genesis category (index into fx_categories) */
static const int merchant_cat[NM] = {3 /* sport */, 0 /* culture */, 2 /* school */, 1 /* food */};

struct mfund {
  uint64_t from, until, maxpay;
  bool cats[NCAT];
  bool closed;
  uint64_t deposited, unissued, passes, receivable, claimed, settled, returned;
  uint64_t issued, spent, refunded;
  uint64_t spending[NCAT];
};

struct mpayment {
  uint8_t id[HL];
  int pass, merchant, nparts;
  int fund[2];
  uint64_t amount[2], refunded[2];
};

struct mclaim {
  uint8_t id[HL];
  int merchant, fund;
  uint64_t amount;
  bool settled;
};

struct model {
  struct fx_key passes[NP], merchants[NM], stranger;
  struct mfund funds[NF];
  uint64_t bal[NP][NF];
  uint64_t recv[NM][NF];
  bool blocked[NP], suspended[NM];
  uint64_t seq_auth, seq_pass[NP], seq_merch[NM];
  struct mpayment pays[MAXPAY];
  size_t npays;
  struct mclaim claims[MAXCLAIM];
  size_t nclaims;
  bool ref_used[NF][MAXREF];
  unsigned next_ref;
  uint64_t grace;
  uint64_t accepted_txs;
};

static uint64_t rng_next(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t *s, uint64_t n)
{
  return n ? rng_next(s) % n : 0;
}

static int pass_idx(const struct model *m, const uint8_t pk[SP_PK_LEN])
{
  for (int i = 0; i < NP; i++)
    if (memcmp(m->passes[i].pk, pk, SP_PK_LEN) == 0)
      return i;
  return -1;
}

static int merch_idx(const struct model *m, const uint8_t pk[SP_PK_LEN])
{
  for (int i = 0; i < NM; i++)
    if (memcmp(m->merchants[i].pk, pk, SP_PK_LEN) == 0)
      return i;
  return -1;
}

static int fund_idx(struct sp_str s)
{
  for (int i = 0; i < NF; i++)
    if (sp_str_eq(s, sp_str_c(pf_ids[i])))
      return i;
  return -1;
}

static int fund_usable_m(const struct mfund *f, uint64_t now, bool need_started)
{
  if (f->closed)
    return SP_R_FUND_CLOSED;
  if (need_started && now < f->from)
    return SP_R_FUND_NOT_OPEN;
  if (now >= f->until)
    return SP_R_FUND_EXPIRED;
  return 0;
}

static bool is_authority_kind(uint32_t k)
{
  return k <= SP_TX_CLAIM_SETTLE || k == SP_TX_MERCHANT_REINSTATE;
}

/* The model's verdict on tx at block time now: 0 and applied, or the
 * refusal reason and nothing changed. Written from DESIGN.md's rules. */
static int model_tx(struct model *m, const struct fx *f, const struct sp_tx *tx,
                    const uint8_t txid[HL], uint64_t now, bool badsig)
{
  if (badsig)
    return SP_R_BAD_SIGNATURE;
  uint64_t *seq;
  int signer = -1;
  if (is_authority_kind(tx->kind)) {
    if (memcmp(tx->signer, f->authority.pk, SP_PK_LEN) != 0)
      return SP_R_NOT_AUTHORITY;
    seq = &m->seq_auth;
  } else if (tx->kind == SP_TX_PAY) {
    signer = pass_idx(m, tx->signer);
    if (signer < 0)
      return SP_R_UNKNOWN_PASS;
    if (m->blocked[signer])
      return SP_R_PASS_BLOCKED;
    seq = &m->seq_pass[signer];
  } else {
    signer = merch_idx(m, tx->signer);
    if (signer < 0)
      return SP_R_UNKNOWN_MERCHANT;
    seq = &m->seq_merch[signer];
  }
  if (tx->seq != *seq + 1)
    return SP_R_WRONG_SEQUENCE;

  switch (tx->kind) {
  case SP_TX_PAY: {
    const struct sp_tx_pay *p = &tx->u.pay;
    int mi = merch_idx(m, p->merchant);
    if (mi < 0)
      return SP_R_UNKNOWN_MERCHANT;
    if (m->suspended[mi])
      return SP_R_MERCHANT_SUSPENDED;
    int fis[2];
    for (uint32_t i = 0; i < p->n_parts; i++) {
      int fi = fis[i] = fund_idx(p->parts[i].fund);
      if (fi < 0)
        return SP_R_UNKNOWN_FUND;
      struct mfund *fu = &m->funds[fi];
      int r = fund_usable_m(fu, now, true);
      if (r)
        return r;
      if (!fu->cats[merchant_cat[mi]])
        return SP_R_CATEGORY_NOT_ALLOWED;
      uint64_t a = p->parts[i].amount;
      if (a == 0)
        return SP_R_AMOUNT_ZERO;
      if (fu->maxpay && a > fu->maxpay)
        return SP_R_OVER_MAX_PAYMENT;
      if (m->bal[signer][fi] < a)
        return SP_R_INSUFFICIENT_BALANCE;
    }
    assert_true(m->npays < MAXPAY);
    struct mpayment *rec = &m->pays[m->npays++];
    memset(rec, 0, sizeof(*rec));
    memcpy(rec->id, txid, HL);
    rec->pass = signer;
    rec->merchant = mi;
    rec->nparts = (int)p->n_parts;
    for (uint32_t i = 0; i < p->n_parts; i++) {
      int fi = fis[i];
      uint64_t a = p->parts[i].amount;
      m->bal[signer][fi] -= a;
      m->recv[mi][fi] += a;
      m->funds[fi].passes -= a;
      m->funds[fi].receivable += a;
      m->funds[fi].spent += a;
      m->funds[fi].spending[merchant_cat[mi]] += a;
      rec->fund[i] = fi;
      rec->amount[i] = a;
    }
    break;
  }
  case SP_TX_REFUND: {
    const struct sp_tx_refund *r = &tx->u.refund;
    struct mpayment *p = NULL;
    for (size_t i = 0; i < m->npays; i++)
      if (memcmp(m->pays[i].id, r->payment, HL) == 0)
        p = &m->pays[i];
    if (p == NULL)
      return SP_R_UNKNOWN_PAYMENT;
    if (p->merchant != signer)
      return SP_R_NOT_YOUR_PAYMENT;
    if (r->amount == 0)
      return SP_R_AMOUNT_ZERO;
    uint64_t left = 0;
    for (int i = 0; i < p->nparts; i++)
      left += p->amount[i] - p->refunded[i];
    if (r->amount > left)
      return SP_R_REFUND_EXCEEDS_PAYMENT;
    uint64_t take[2] = {0, 0}, rest = r->amount;
    for (int i = 0; i < p->nparts && rest; i++) {
      uint64_t room = p->amount[i] - p->refunded[i];
      take[i] = room < rest ? room : rest;
      rest -= take[i];
      if (m->recv[signer][p->fund[i]] < take[i])
        return SP_R_INSUFFICIENT_RECEIVABLE;
    }
    for (int i = 0; i < p->nparts; i++) {
      int fi = p->fund[i];
      struct mfund *fu = &m->funds[fi];
      m->recv[signer][fi] -= take[i];
      fu->receivable -= take[i];
      fu->refunded += take[i];
      if (fu->closed) {
        fu->returned += take[i];
      } else {
        m->bal[p->pass][fi] += take[i];
        fu->passes += take[i];
      }
      p->refunded[i] += take[i];
    }
    break;
  }
  case SP_TX_CLAIM: {
    int fi = fund_idx(tx->u.claim.fund);
    if (fi < 0)
      return SP_R_UNKNOWN_FUND;
    uint64_t a = tx->u.claim.amount;
    if (a == 0)
      return SP_R_AMOUNT_ZERO;
    if (m->recv[signer][fi] < a)
      return SP_R_INSUFFICIENT_RECEIVABLE;
    m->recv[signer][fi] -= a;
    m->funds[fi].receivable -= a;
    m->funds[fi].claimed += a;
    assert_true(m->nclaims < MAXCLAIM);
    struct mclaim *c = &m->claims[m->nclaims++];
    memcpy(c->id, txid, HL);
    c->merchant = signer;
    c->fund = fi;
    c->amount = a;
    c->settled = false;
    break;
  }
  case SP_TX_CLAIM_SETTLE: {
    struct mclaim *c = NULL;
    for (size_t i = 0; i < m->nclaims; i++)
      if (memcmp(m->claims[i].id, tx->u.claim_settle.claim, HL) == 0)
        c = &m->claims[i];
    if (c == NULL)
      return SP_R_UNKNOWN_CLAIM;
    if (c->settled)
      return SP_R_CLAIM_SETTLED;
    c->settled = true;
    m->funds[c->fund].claimed -= c->amount;
    m->funds[c->fund].settled += c->amount;
    break;
  }
  case SP_TX_FUND_DEPOSIT: {
    int fi = fund_idx(tx->u.fund_deposit.fund);
    if (fi < 0)
      return SP_R_UNKNOWN_FUND;
    if (m->funds[fi].closed)
      return SP_R_FUND_CLOSED;
    if (tx->u.fund_deposit.amount == 0)
      return SP_R_AMOUNT_ZERO;
    m->funds[fi].deposited += tx->u.fund_deposit.amount;
    m->funds[fi].unissued += tx->u.fund_deposit.amount;
    break;
  }
  case SP_TX_ISSUE: {
    const struct sp_tx_issue *is = &tx->u.issue;
    int fi = fund_idx(is->fund);
    if (fi < 0)
      return SP_R_UNKNOWN_FUND;
    struct mfund *fu = &m->funds[fi];
    int r = fund_usable_m(fu, now, false);
    if (r)
      return r;
    char refs[24];
    assert_true(is->ref.len < sizeof(refs));
    memcpy(refs, is->ref.p, is->ref.len);
    refs[is->ref.len] = 0;
    unsigned refn = (unsigned)strtoul(refs + 4, NULL, 10);
    assert_true(refn < MAXREF);
    if (m->ref_used[fi][refn])
      return SP_R_DUPLICATE_ISSUANCE;
    uint64_t total = 0;
    int pis[4];
    for (uint32_t i = 0; i < is->n_rows; i++) {
      int pi = pis[i] = pass_idx(m, is->rows[i].pass);
      if (pi < 0)
        return SP_R_UNKNOWN_PASS;
      if (m->blocked[pi])
        return SP_R_PASS_BLOCKED;
      if (is->rows[i].amount == 0)
        return SP_R_AMOUNT_ZERO;
      total += is->rows[i].amount;
    }
    if (total > fu->unissued)
      return SP_R_ISSUANCE_OVER_BUDGET;
    for (uint32_t i = 0; i < is->n_rows; i++)
      m->bal[pis[i]][fi] += is->rows[i].amount;
    fu->unissued -= total;
    fu->passes += total;
    fu->issued += total;
    m->ref_used[fi][refn] = true;
    break;
  }
  case SP_TX_PASS_BLOCK:
  case SP_TX_PASS_UNBLOCK: {
    int pi = pass_idx(m, tx->u.reason.account);
    if (pi < 0)
      return SP_R_UNKNOWN_PASS;
    bool block = tx->kind == SP_TX_PASS_BLOCK;
    if (block && m->blocked[pi])
      return SP_R_PASS_BLOCKED;
    if (!block && !m->blocked[pi])
      return SP_R_PASS_NOT_BLOCKED;
    m->blocked[pi] = block;
    break;
  }
  case SP_TX_MERCHANT_SUSPEND:
  case SP_TX_MERCHANT_REINSTATE: {
    int mi = merch_idx(m, tx->u.reason.account);
    if (mi < 0)
      return SP_R_UNKNOWN_MERCHANT;
    bool susp = tx->kind == SP_TX_MERCHANT_SUSPEND;
    if (susp && m->suspended[mi])
      return SP_R_MERCHANT_SUSPENDED;
    if (!susp && !m->suspended[mi])
      return SP_R_MERCHANT_NOT_SUSPENDED;
    m->suspended[mi] = susp;
    break;
  }
  case SP_TX_FUND_CLOSE: {
    int fi = fund_idx(tx->u.fund_close.fund);
    if (fi < 0)
      return SP_R_UNKNOWN_FUND;
    struct mfund *fu = &m->funds[fi];
    if (fu->closed)
      return SP_R_FUND_CLOSED;
    if (now < fu->until || now - fu->until < m->grace)
      return SP_R_FUND_NOT_CLOSABLE;
    uint64_t sum = 0;
    for (int p = 0; p < NP; p++) {
      sum += m->bal[p][fi];
      m->bal[p][fi] = 0;
    }
    assert_int_equal(sum, fu->passes);
    fu->returned += fu->passes;
    fu->passes = 0;
    fu->closed = true;
    break;
  }
  default:
    fail_msg("model: unexpected kind %u", tx->kind);
  }
  *seq = tx->seq;
  m->accepted_txs++;
  return 0;
}

/* One random candidate: src is built with storage in rows/ref, signed into d. */
struct cand {
  struct sp_tx src, d;
  struct sp_issue_row rows[4];
  char ref[24];
  uint8_t txid[HL];
  bool badsig;
};

static int cmp_row(const void *a, const void *b)
{
  return memcmp(((const struct sp_issue_row *)a)->pass, ((const struct sp_issue_row *)b)->pass,
                SP_PK_LEN);
}

static uint64_t pick_amount(uint64_t *rs, uint64_t have)
{
  switch (rnd(rs, 12)) {
  case 0: return 0;
  case 1:
  case 2: return have + 1 + rnd(rs, 500); /* too much */
  default: return have ? 1 + rnd(rs, have) : 1 + rnd(rs, 50);
  }
}

static uint64_t *model_seq(struct model *m, struct fx *f, const struct fx_key *k)
{
  static uint64_t none;
  if (k == &f->authority)
    return &m->seq_auth;
  for (int i = 0; i < NP; i++)
    if (k == &m->passes[i])
      return &m->seq_pass[i];
  for (int i = 0; i < NM; i++)
    if (k == &m->merchants[i])
      return &m->seq_merch[i];
  none = 0;
  return &none;
}

static void gen_cand(struct model *m, struct fx *f, uint64_t *rs, struct cand *c)
{
  memset(c, 0, sizeof(*c));
  struct sp_tx *t = &c->src;
  struct fx_key *k = &f->authority;
  uint64_t r = rnd(rs, 100);
  if (r < 40) { /* pay */
    int pi = (int)rnd(rs, NP);
    k = rnd(rs, 50) == 0 ? &m->stranger : &m->passes[pi];
    uint8_t junk[SP_PK_LEN];
    memset(junk, 0x5a, sizeof(junk));
    int mi = (int)rnd(rs, NM);
    *t = fx_pay(rnd(rs, 40) == 0 ? junk : m->merchants[mi].pk, pf_ids[0], 1);
    /* mostly a fund that allows the merchant's category */
    int allowed[NF], na = 0;
    for (int fi = 0; fi < NF; fi++)
      if (m->funds[fi].cats[merchant_cat[mi]])
        allowed[na++] = fi;
    if (rnd(rs, 4) == 0) {
      int a = (int)rnd(rs, NF), b = (int)rnd(rs, NF - 1);
      if (b >= a)
        b++;
      int lo = a < b ? a : b, hi = a < b ? b : a;
      t->u.pay.n_parts = 2;
      t->u.pay.parts[0].fund = sp_str_c(pf_ids[lo]);
      t->u.pay.parts[0].amount = pick_amount(rs, m->bal[pi][lo] / 2);
      t->u.pay.parts[1].fund = sp_str_c(pf_ids[hi]);
      t->u.pay.parts[1].amount = pick_amount(rs, m->bal[pi][hi] / 2);
    } else {
      int fi = na && rnd(rs, 10) < 7 ? allowed[rnd(rs, (uint64_t)na)] : (int)rnd(rs, NF);
      t->u.pay.parts[0].fund = sp_str_c(rnd(rs, 60) == 0 ? "no-such-fund" : pf_ids[fi]);
      t->u.pay.parts[0].amount = pick_amount(rs, m->bal[pi][fi]);
    }
  } else if (r < 50) { /* issue */
    t->kind = SP_TX_ISSUE;
    int fi = (int)rnd(rs, NF);
    t->u.issue.fund = sp_str_c(fi == 0 && rnd(rs, 30) == 0 ? "no-such-fund" : pf_ids[fi]);
    unsigned refn = m->next_ref && rnd(rs, 8) == 0 ? (unsigned)rnd(rs, m->next_ref)
                                                   : m->next_ref++;
    assert_true(refn < MAXREF);
    snprintf(c->ref, sizeof(c->ref), "ref-%u", refn);
    t->u.issue.ref = sp_str_c(c->ref);
    uint32_t n = 1 + (uint32_t)rnd(rs, 3);
    int start = (int)rnd(rs, NP);
    for (uint32_t i = 0; i < n; i++) {
      bool stranger = rnd(rs, 40) == 0;
      memcpy(c->rows[i].pass, stranger ? m->stranger.pk : m->passes[(start + (int)i) % NP].pk,
             SP_PK_LEN);
      uint64_t q = rnd(rs, 30);
      c->rows[i].amount = q == 0 ? 0 : q == 1 ? 200000 + rnd(rs, 100000) : 1 + rnd(rs, 3000);
    }
    /* unique and sorted by pass key */
    qsort(c->rows, n, sizeof(c->rows[0]), cmp_row);
    uint32_t u = 0;
    for (uint32_t i = 0; i < n; i++)
      if (u == 0 || memcmp(c->rows[u - 1].pass, c->rows[i].pass, SP_PK_LEN) != 0)
        c->rows[u++] = c->rows[i];
    t->u.issue.n_rows = u;
    t->u.issue.rows = c->rows;
    if (rnd(rs, 30) == 0)
      k = &m->merchants[rnd(rs, NM)]; /* not the authority */
  } else if (r < 62) { /* refund */
    t->kind = SP_TX_REFUND;
    int mi = (int)rnd(rs, NM);
    if (m->npays && rnd(rs, 8) != 0) {
      const struct mpayment *p = &m->pays[rnd(rs, m->npays)];
      if (rnd(rs, 6) != 0)
        mi = p->merchant;
      memcpy(t->u.refund.payment, p->id, HL);
      uint64_t left = 0;
      for (int i = 0; i < p->nparts; i++)
        left += p->amount[i] - p->refunded[i];
      t->u.refund.amount = pick_amount(rs, left);
    } else {
      for (int i = 0; i < HL; i++)
        t->u.refund.payment[i] = (uint8_t)rnd(rs, 256);
      t->u.refund.amount = 1 + rnd(rs, 10);
    }
    k = &m->merchants[mi];
  } else if (r < 72) { /* claim */
    t->kind = SP_TX_CLAIM;
    int mi = (int)rnd(rs, NM), fi = (int)rnd(rs, NF);
    t->u.claim.fund = sp_str_c(rnd(rs, 40) == 0 ? "no-such-fund" : pf_ids[fi]);
    t->u.claim.amount = pick_amount(rs, m->recv[mi][fi]);
    k = rnd(rs, 40) == 0 ? &m->passes[0] : &m->merchants[mi];
  } else if (r < 78) { /* settle */
    t->kind = SP_TX_CLAIM_SETTLE;
    if (m->nclaims && rnd(rs, 6) != 0)
      memcpy(t->u.claim_settle.claim, m->claims[rnd(rs, m->nclaims)].id, HL);
    else
      memset(t->u.claim_settle.claim, 0x33, HL);
    t->u.claim_settle.bank_ref = sp_str_c("SEPA-1");
  } else if (r < 83) { /* deposit */
    *t = fx_deposit(pf_ids[rnd(rs, NF)], rnd(rs, 15) == 0 ? 0 : 1 + rnd(rs, 100000));
  } else if (r < 90) { /* block / unblock */
    /* mostly unblocking blocked passes, so that most passes can pay */
    int pi = (int)rnd(rs, NP);
    for (int tries = 0; tries < 3 && !m->blocked[pi]; tries++)
      pi = (int)rnd(rs, NP);
    bool sensible = rnd(rs, 10) < (m->blocked[pi] ? 8 : 3);
    t->kind = (m->blocked[pi] != sensible) ? SP_TX_PASS_BLOCK : SP_TX_PASS_UNBLOCK;
    memcpy(t->u.reason.account, rnd(rs, 30) == 0 ? m->stranger.pk : m->passes[pi].pk,
           SP_PK_LEN);
    t->u.reason.reason = sp_str_c("lost");
  } else if (r < 95) { /* suspend / reinstate */
    int mi = (int)rnd(rs, NM);
    for (int tries = 0; tries < 2 && !m->suspended[mi]; tries++)
      mi = (int)rnd(rs, NM);
    bool sensible = rnd(rs, 10) < (m->suspended[mi] ? 8 : 3);
    t->kind = (m->suspended[mi] != sensible) ? SP_TX_MERCHANT_SUSPEND : SP_TX_MERCHANT_REINSTATE;
    memcpy(t->u.reason.account, m->merchants[mi].pk, SP_PK_LEN);
    t->u.reason.reason = sp_str_c("audit");
  } else { /* close */
    t->kind = SP_TX_FUND_CLOSE;
    t->u.fund_close.fund = sp_str_c(pf_ids[rnd(rs, NF)]);
  }
  /* sign with the next sequence number the model expects for this key, so
   * a refused transaction does not doom the signer's later ones; now and
   * then a wrong one: a gap or a reused number */
  k->seq = *model_seq(m, f, k);
  /* a wrong sequence number now and then: a gap or a reused one */
  if (rnd(rs, 20) == 0) {
    if (rnd(rs, 2) && k->seq > 0)
      k->seq--;
    else
      k->seq += 1 + rnd(rs, 2);
  }
  fx_sign_as(f, k, t, &c->d);
  assert_int_equal(sp_tx_id(&c->d, f->chain_id, c->txid), 0);
  if (rnd(rs, 25) == 0) {
    c->d.sig[rnd(rs, SP_SIG_LEN)] ^= (uint8_t)(1u << rnd(rs, 8));
    fx_redecode(f, &c->d);
    c->badsig = true;
  }
}

struct fund_check {
  struct model *m;
  int seen;
};

static int check_fund(const struct sp_fund_info *fi, void *arg)
{
  struct fund_check *fc = arg;
  if (!sp_fund_reconciles(fi))
    fail_msg("fund %s does not reconcile", fi->id);
  int i = fund_idx(sp_str_c(fi->id));
  assert_true(i >= 0);
  const struct mfund *e = &fc->m->funds[i];
  const uint64_t got[] = {fi->deposited, fi->unissued, fi->passes, fi->receivable,
                          fi->claimed,   fi->settled,  fi->returned, fi->issued,
                          fi->spent,     fi->refunded};
  const uint64_t want[] = {e->deposited, e->unissued, e->passes, e->receivable,
                           e->claimed,   e->settled,  e->returned, e->issued,
                           e->spent,     e->refunded};
  static const char *const names[] = {"deposited", "unissued", "passes", "receivable",
                                      "claimed",   "settled",  "returned", "issued",
                                      "spent",     "refunded"};
  for (size_t j = 0; j < sizeof(got) / sizeof(got[0]); j++)
    if (got[j] != want[j])
      fail_msg("fund %s %s: ledger %llu, model %llu", fi->id, names[j],
               (unsigned long long)got[j], (unsigned long long)want[j]);
  assert_int_equal(fi->closed, e->closed);
  fc->seen++;
  return 0;
}

struct spend_check {
  const struct mfund *f;
  uint64_t seen[NCAT];
};

static int check_spend(const char *cat, uint64_t cents, void *arg)
{
  struct spend_check *sc = arg;
  for (int i = 0; i < NCAT; i++)
    if (strcmp(cat, fx_categories[i]) == 0) {
      sc->seen[i] = cents;
      return 0;
    }
  fail_msg("spending under unknown category %s", cat);
  return 1;
}

static void check_rows(const struct sp_account_info *a, const uint64_t amounts[NF],
                       const char *who, int idx)
{
  uint32_t want_rows = 0;
  for (int fi = 0; fi < NF; fi++)
    if (amounts[fi])
      want_rows++;
  if (a->n_rows != want_rows)
    fail_msg("%s %d: %u rows, model %u", who, idx, a->n_rows, want_rows);
  for (uint32_t i = 0; i < a->n_rows; i++) {
    int fi = fund_idx(sp_str_c(a->rows[i].fund));
    assert_true(fi >= 0);
    if (a->rows[i].amount != amounts[fi])
      fail_msg("%s %d fund %s: ledger %llu, model %llu", who, idx, a->rows[i].fund,
               (unsigned long long)a->rows[i].amount, (unsigned long long)amounts[fi]);
  }
}

/* Compare the ledger with the model; resync the keys' sequence numbers. */
static void check_model(struct model *m, struct fx *f)
{
  struct fund_check fc = {m, 0};
  assert_int_equal(sp_ledger_funds(f->l, check_fund, &fc), 0);
  assert_int_equal(fc.seen, NF);
  for (int fi = 0; fi < NF; fi++) {
    struct spend_check sc = {&m->funds[fi], {0}};
    assert_int_equal(sp_ledger_fund_spending(f->l, pf_ids[fi], check_spend, &sc), 0);
    for (int c = 0; c < NCAT; c++)
      if (sc.seen[c] != m->funds[fi].spending[c])
        fail_msg("fund %s category %s: spent %llu, model %llu", pf_ids[fi], fx_categories[c],
                 (unsigned long long)sc.seen[c],
                 (unsigned long long)m->funds[fi].spending[c]);
  }
  struct sp_account_info *a = calloc(1, sizeof(*a));
  assert_non_null(a);
  for (int p = 0; p < NP; p++) {
    assert_int_equal(sp_ledger_account(f->l, m->passes[p].pk, a), 0);
    assert_int_equal(a->kind, SP_ACCT_PASS);
    assert_int_equal(a->status, m->blocked[p] ? SP_ACCT_BLOCKED : SP_ACCT_ACTIVE);
    assert_int_equal(a->seq, m->seq_pass[p]);
    check_rows(a, m->bal[p], "pass", p);
    m->passes[p].seq = a->seq;
  }
  for (int i = 0; i < NM; i++) {
    assert_int_equal(sp_ledger_account(f->l, m->merchants[i].pk, a), 0);
    assert_int_equal(a->kind, SP_ACCT_MERCHANT);
    assert_int_equal(a->status, m->suspended[i] ? SP_ACCT_SUSPENDED : SP_ACCT_ACTIVE);
    assert_int_equal(a->seq, m->seq_merch[i]);
    check_rows(a, m->recv[i], "merchant", i);
    m->merchants[i].seq = a->seq;
  }
  assert_int_equal(sp_ledger_account(f->l, f->authority.pk, a), 0);
  assert_int_equal(a->seq, m->seq_auth);
  f->authority.seq = a->seq;
  assert_int_equal(sp_ledger_account(f->l, m->stranger.pk, a), SP_LE_NOTFOUND);
  m->stranger.seq = 0;
  free(a);
}

static void property_run(uint64_t seed)
{
  struct fx *f = fx_new_grace(0);
  struct model *m = calloc(1, sizeof(*m));
  assert_non_null(m);
  uint64_t rs = seed;
  for (int i = 0; i < NP; i++)
    fx_key(&m->passes[i], (uint8_t)(0x60 + i));
  for (int i = 0; i < NM; i++)
    fx_key(&m->merchants[i], (uint8_t)(0x70 + i));
  fx_key(&m->stranger, 0x7f);
  m->grace = 0;

  /* setup block: funds, deposits, passes, merchants, first credit */
  uint64_t t0 = FX_T2027;
  static const char *const fcats[NF][2] = {{"culture", NULL}, {"school-supplies", NULL},
                                           {"culture", "sport"}};
  const uint64_t until[NF] = {t0 + 12000, t0 + 365 * FX_DAY_MS, t0 + 365 * FX_DAY_MS};
  const uint64_t maxpay[NF] = {0, 0, 2500};
  struct cand *cs = calloc(MAXCAND + 40, sizeof(*cs));
  assert_non_null(cs);
  struct sp_tx setup[40], sd[40];
  size_t ns = 0;
  for (int i = 0; i < NF; i++) {
    setup[ns++] = fx_fund_create(pf_ids[i], pf_ids[i], fcats[i][0], fcats[i][1], t0,
                                 until[i], maxpay[i]);
    setup[ns++] = fx_deposit(pf_ids[i], 60000);
    struct mfund *fu = &m->funds[i];
    fu->from = t0;
    fu->until = until[i];
    fu->maxpay = maxpay[i];
    for (int c = 0; c < NCAT; c++)
      fu->cats[c] = (fcats[i][0] && !strcmp(fcats[i][0], fx_categories[c])) ||
                    (fcats[i][1] && !strcmp(fcats[i][1], fx_categories[c]));
    fu->deposited = fu->unissued = 60000;
  }
  static const char *const mnames[NM] = {"Be Quick", "Groninger Museum", "Bruna", "Snackbar"};
  for (int i = 0; i < NM; i++)
    setup[ns++] = fx_merchant(m->merchants[i].pk, mnames[i], fx_categories[merchant_cat[i]]);
  for (int i = 0; i < NP; i++)
    setup[ns++] = fx_enroll(m->passes[i].pk);
  struct sp_issue_row rows0[NF][NP];
  char refs0[NF][16];
  for (int fi = 0; fi < NF; fi++) {
    for (int p = 0; p < NP; p++) {
      memcpy(rows0[fi][p].pass, m->passes[p].pk, SP_PK_LEN);
      rows0[fi][p].amount = 2000;
      m->bal[p][fi] = 2000;
    }
    qsort(rows0[fi], NP, sizeof(rows0[fi][0]), cmp_row);
    snprintf(refs0[fi], sizeof(refs0[fi]), "ref-%u", m->next_ref);
    m->ref_used[fi][m->next_ref++] = true;
    struct sp_tx *t = &setup[ns++];
    memset(t, 0, sizeof(*t));
    t->kind = SP_TX_ISSUE;
    t->u.issue.fund = sp_str_c(pf_ids[fi]);
    t->u.issue.ref = sp_str_c(refs0[fi]);
    t->u.issue.n_rows = NP;
    t->u.issue.rows = rows0[fi];
    m->funds[fi].unissued -= 2000 * NP;
    m->funds[fi].passes += 2000 * NP;
    m->funds[fi].issued += 2000 * NP;
  }
  for (size_t i = 0; i < ns; i++)
    fx_sign_as(f, &f->authority, &setup[i], &sd[i]);
  fx_commit(f, sd, ns);
  clear_txs(sd, ns);
  m->seq_auth = ns;
  m->accepted_txs = ns;
  f->now = t0;
  check_model(m, f);

  struct sp_buf blk;
  sp_buf_init(&blk, SP_MAX_BLOCK_BYTES);
  struct sp_tx d[MAXCAND];
  bool acc[MAXCAND];
  struct sp_refusal why[MAXCAND];
  uint64_t refused = 0;
  unsigned hist[64] = {0}, kinds[SP_TX__MAX + 1][2];
  memset(kinds, 0, sizeof(kinds));
  for (int bn = 0; bn < PBLOCKS; bn++) {
    size_t n = (size_t)rnd(&rs, MAXCAND + 1);
    /* the model judges each candidate as it is made, in block order */
    int want[MAXCAND];
    for (size_t i = 0; i < n; i++) {
      gen_cand(m, f, &rs, &cs[i]);
      d[i] = cs[i].d;
      want[i] = model_tx(m, f, &cs[i].d, cs[i].txid, f->now, cs[i].badsig);
    }
    sp_buf_reset(&blk);
    assert_int_equal(fx_propose(f, d, n, &blk, acc, why), 0);
    for (size_t i = 0; i < n; i++) {
      int got = acc[i] ? 0 : why[i].reason;
      if (want[i] != got)
        fail_msg("seed %llu block %d tx %zu (%s): ledger %s (%s), model %s",
                 (unsigned long long)seed, bn, i, sp_tx_kind_name(cs[i].d.kind),
                 got ? sp_reason_name(got) : "accepted", why[i].msg,
                 want[i] ? sp_reason_name(want[i]) : "accepted");
      if (!acc[i])
        refused++;
      if (getenv("SP_TEST_VERBOSE"))
        hist[want[i]]++, kinds[cs[i].d.kind][want[i] ? 1 : 0]++;
    }
    struct sp_refusal bw;
    int rc = sp_ledger_check_block(f->l, blk.data, blk.len, &bw);
    if (rc)
      fail_msg("seed %llu block %d: check_block: %s", (unsigned long long)seed, bn, bw.msg);
    rc = fx_apply(f, &blk, &bw);
    if (rc)
      fail_msg("seed %llu block %d refused: %s", (unsigned long long)seed, bn, bw.msg);
    for (size_t i = 0; i < n; i++)
      sp_tx_clear(&cs[i].d);
    check_model(m, f);
  }
  assert_true(refused > 0);
  assert_true(m->accepted_txs > ns + PBLOCKS);
  if (getenv("SP_TEST_VERBOSE")) {
    for (int i = 0; i < 64; i++)
      if (hist[i])
        printf("  %-26s %u\n", i ? sp_reason_name(i) : "accepted", hist[i]);
    for (int i = 1; i <= SP_TX__MAX; i++)
      if (kinds[i][0] + kinds[i][1])
        printf("  %-20s ok %u refused %u\n", sp_tx_kind_name((uint32_t)i), kinds[i][0], kinds[i][1]);
  }

  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(f->l, &tip), 0);
  assert_int_equal(tip.height, PBLOCKS + 1);
  struct sp_verify_report rep;
  assert_int_equal(sp_ledger_verify(f->l, "/tmp", &rep), 0);
  if (!rep.ok)
    fail_msg("verify: block %llu: %s", (unsigned long long)rep.first_bad.height,
             rep.first_bad.msg);
  assert_int_equal(rep.blocks, tip.height);
  assert_int_equal(rep.txs, m->accepted_txs);
  sp_buf_free(&blk);
  free(cs);
  free(m);
  fx_free(f);
}

static void test_property(void **state)
{
  (void)state;
  static const uint64_t seeds[] = {1, 0x5eed2027, 0xdeadbeefcafe};
  for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
    property_run(seeds[i]);
}

/* ================================================ hot records in a block */

/* Every payment of a block reads and rewrites the same few records (its
 * funds, their category counters, the merchant's account, receivables and
 * history head), and other rules then walk the balances table with a
 * cursor (pass.replace, fund.close) or read what an earlier transaction of
 * the block wrote. HOT_DIGEST is this chain's state digest as the ledger
 * computed it when it read and wrote every record in LMDB each time: any
 * caching of hot records must leave it as it is, whether the chain is
 * proposed, checked, applied block by block or in one batch. */
#define HOT_PASSES 400
#define HOT_DIGEST "8b388a74a0a6cc796ab25e3980e4e575899af5e71cac5b4be95f98be52d9416a"

static void hot_key(struct fx_key *k, unsigned i)
{
  uint8_t seed[32] = {0x9e, (uint8_t)i, (uint8_t)(i >> 8)};
  memset(k, 0, sizeof(*k));
  assert_int_equal(sp_keypair_from_seed(k->pk, k->sk, seed), 0);
}

/* The committed chain replayed into a fresh ledger, by a check and an
 * apply of each block or in one sp_ledger_apply_batch: it ends at want. */
static void hot_replay(struct fx *f, const struct sp_tip *want, bool batch)
{
  struct sp_buf raw[3];
  struct sp_cert cert[3];
  struct sp_block_in in[3];
  stored_blocks(f, 3, raw, cert, in);
  char dir[300];
  snprintf(dir, sizeof(dir), "%s-replay", f->dir);
  struct sp_ledger_opts o = {.no_sync = true};
  struct sp_ledger *l2 = NULL;
  if (sp_ledger_create(dir, f->genesis.data, f->genesis.len, &o) ||
      sp_ledger_open(&l2, dir, &o))
    fail_msg("cannot make a ledger in %s", dir);
  struct sp_refusal why;
  for (int i = 0; i < 3 && !batch; i++) {
    if (sp_ledger_check_block(l2, in[i].raw, in[i].len, &why))
      fail_msg("check of block %d refused: %s", i + 1, why.msg);
    if (sp_ledger_apply(l2, in[i].raw, in[i].len, in[i].commit, &why))
      fail_msg("block %d refused: %s", i + 1, why.msg);
  }
  if (batch && sp_ledger_apply_batch(l2, in, 3, &why))
    fail_msg("batch refused: %s", why.msg);
  struct sp_tip got;
  assert_int_equal(sp_ledger_tip(l2, &got), 0);
  assert_memory_equal(&got, want, sizeof(got));
  sp_ledger_close(l2);
  fx_rmrf(dir);
  for (int i = 0; i < 3; i++)
    sp_buf_free(&raw[i]);
}

static void test_hot_records(void **state)
{
  (void)state;
  struct fx *f = fx_new_grace(0);
  struct fx_key *p = calloc(HOT_PASSES, sizeof(*p)), m[2], n0, n1;
  size_t cap = HOT_PASSES + 16;
  struct sp_tx *t = calloc(cap, sizeof(*t)), *d = calloc(cap, sizeof(*d));
  struct sp_issue_row *rows = calloc(HOT_PASSES, sizeof(*rows));
  assert_true(p && t && d && rows);
  for (unsigned i = 0; i < HOT_PASSES; i++)
    hot_key(&p[i], i);
  fx_key(&m[0], 0x51);
  fx_key(&m[1], 0x52);
  fx_key(&n0, 0x53);
  fx_key(&n1, 0x54);

  /* block 1: fund a (closable from block 3 on) and fund b, two merchants,
   * the passes with 10.00 of each */
  uint64_t until_a = f->now + 5000;
  size_t n = 0;
  t[n++] =
      fx_fund_create("a-2027", "A", "culture", "sport", f->now - FX_DAY_MS, until_a, 0);
  t[n++] = fx_fund_create("b-2027", "B", "culture", "sport", f->now - FX_DAY_MS,
                          FX_T2027 + 365 * FX_DAY_MS, 0);
  t[n++] = fx_deposit("a-2027", 1000 * HOT_PASSES);
  t[n++] = fx_deposit("b-2027", 1000 * HOT_PASSES);
  t[n++] = fx_merchant(m[0].pk, "Filmhuis", "culture");
  t[n++] = fx_merchant(m[1].pk, "Zwembad", "sport");
  for (unsigned i = 0; i < HOT_PASSES; i++) {
    t[n++] = fx_enroll(p[i].pk);
    memcpy(rows[i].pass, p[i].pk, SP_PK_LEN);
    rows[i].amount = 1000;
  }
  qsort(rows, HOT_PASSES, sizeof(*rows), cmp_row);
  static const char *const ids[2] = {"a-2027", "b-2027"};
  for (int k = 0; k < 2; k++) {
    struct sp_issue_row first;
    t[n] = fx_issue1(ids[k], ids[k], &first, rows[0].pass, 1000);
    t[n].u.issue.n_rows = HOT_PASSES; /* every row, from the first on */
    t[n++].u.issue.rows = rows;
  }
  for (size_t i = 0; i < n; i++)
    fx_sign_as(f, &f->authority, &t[i], &d[i]);
  fx_commit(f, d, n);
  clear_txs(d, n);

  /* block 2: every pass pays 0.10 of a and 0.20 of b, to either merchant */
  for (unsigned i = 0; i < HOT_PASSES; i++) {
    t[i] = fx_pay(m[i % 2].pk, "a-2027", 10);
    t[i].u.pay.n_parts = 2;
    t[i].u.pay.parts[1].fund = sp_str_c("b-2027");
    t[i].u.pay.parts[1].amount = 20;
    fx_sign_as(f, &p[i], &t[i], &d[i]);
  }
  fx_commit(f, d, HOT_PASSES);
  clear_txs(d, HOT_PASSES);

  /* block 3, once a has expired: passes pay and are replaced (the walk over
   * their balances must see what the payments left), the new key pays,
   * fund a closes (its walk must find the moved credit under the new keys
   * only), its receivable is claimed and a payment of this very block is
   * refunded to the pass that replaced the payer */
  f->now = until_a;
  uint8_t pay0[HL];
  n = 0;
  t[n] = fx_pay(m[0].pk, "b-2027", 5);
  fx_sign_as(f, &p[0], &t[n], &d[n]);
  assert_int_equal(sp_tx_id(&d[n++], f->chain_id, pay0), 0);
  const struct fx_key *olds[2] = {&p[0], &p[1]}, *news[2] = {&n0, &n1};
  for (int k = 0; k < 2; k++) {
    if (k == 1) {
      t[n] = fx_pay(m[1].pk, "b-2027", 6);
      fx_sign_as(f, &p[1], &t[n], &d[n]);
      n++;
    }
    memset(&t[n], 0, sizeof(t[n]));
    t[n].kind = SP_TX_PASS_REPLACE;
    memcpy(t[n].u.pass_replace.old_pass, olds[k]->pk, SP_PK_LEN);
    memcpy(t[n].u.pass_replace.new_pass, news[k]->pk, SP_PK_LEN);
    fx_sign_as(f, &f->authority, &t[n], &d[n]);
    n++;
  }
  t[n] = fx_pay(m[0].pk, "b-2027", 7);
  fx_sign_as(f, &n0, &t[n], &d[n]);
  n++;
  memset(&t[n], 0, sizeof(t[n]));
  t[n].kind = SP_TX_FUND_CLOSE;
  t[n].u.fund_close.fund = sp_str_c("a-2027");
  fx_sign_as(f, &f->authority, &t[n], &d[n]);
  n++;
  memset(&t[n], 0, sizeof(t[n]));
  t[n].kind = SP_TX_CLAIM;
  t[n].u.claim.fund = sp_str_c("a-2027");
  t[n].u.claim.amount = 10 * HOT_PASSES / 2;
  fx_sign_as(f, &m[0], &t[n], &d[n]);
  n++;
  memset(&t[n], 0, sizeof(t[n]));
  t[n].kind = SP_TX_REFUND;
  memcpy(t[n].u.refund.payment, pay0, HL);
  t[n].u.refund.amount = 3;
  fx_sign_as(f, &m[0], &t[n], &d[n]);
  n++;
  for (unsigned i = 2; i < 10; i++) {
    t[n] = fx_pay(m[i % 2].pk, "b-2027", 1);
    fx_sign_as(f, &p[i], &t[n], &d[n]);
    n++;
  }
  fx_commit(f, d, n);
  clear_txs(d, n);

  assert_int_equal(fx_balance(f, p[0].pk, "b-2027"), 0);
  assert_int_equal(fx_balance(f, p[1].pk, "b-2027"), 0);
  assert_int_equal(fx_balance(f, n0.pk, "a-2027"), 0);
  assert_int_equal(fx_balance(f, n0.pk, "b-2027"), 980 - 5 + 3 - 7);
  assert_int_equal(fx_balance(f, n1.pk, "b-2027"), 980 - 6);
  assert_int_equal(fx_balance(f, p[2].pk, "a-2027"), 0);
  assert_int_equal(fx_balance(f, p[2].pk, "b-2027"), 980 - 1);
  assert_int_equal(fx_balance(f, m[0].pk, "a-2027"), 0);
  assert_int_equal(fx_balance(f, m[0].pk, "b-2027"), 20 * HOT_PASSES / 2 + 5 - 3 + 7 + 4);
  assert_int_equal(fx_balance(f, m[1].pk, "a-2027"), 10 * HOT_PASSES / 2);
  assert_int_equal(fx_balance(f, m[1].pk, "b-2027"), 20 * HOT_PASSES / 2 + 6 + 4);
  struct sp_fund_info fi;
  assert_int_equal(sp_ledger_fund(f->l, "a-2027", &fi), 0);
  assert_true(fi.closed);
  assert_int_equal(fi.passes, 0);
  assert_int_equal(fi.returned, 990 * HOT_PASSES);
  assert_int_equal(fi.claimed, 10 * HOT_PASSES / 2);
  assert_int_equal(fi.receivable, 10 * HOT_PASSES / 2);

  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(f->l, &tip), 0);
  assert_int_equal(tip.height, 3);
  char hex[2 * HL + 1];
  for (int i = 0; i < HL; i++)
    snprintf(hex + 2 * i, 3, "%02x", tip.state_digest[i]);
  assert_string_equal(hex, HOT_DIGEST);
  struct sp_verify_report rep;
  assert_int_equal(sp_ledger_verify(f->l, "/tmp", &rep), 0);
  if (!rep.ok)
    fail_msg("verify: block %llu: %s", (unsigned long long)rep.first_bad.height,
             rep.first_bad.msg);
  hot_replay(f, &tip, false);
  hot_replay(f, &tip, true);
  free(p);
  free(t);
  free(d);
  free(rows);
  fx_free(f);
}

/* ===================================================== block-log proofs */

#define LOGN 13

static void test_log_proofs(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  uint8_t leaves[LOGN][HL], roots[LOGN + 1][HL];
  uint8_t path[SP_MAX_PROOF][HL];
  size_t len;
  for (uint64_t n = 1; n <= LOGN; n++) {
    if (n > 1) { /* block 1 is the world; then blocks of 0..2 payments */
      struct sp_tx t[2], d[2];
      size_t k = (size_t)(n % 3);
      for (size_t i = 0; i < k; i++) {
        t[i] = fx_pay(w.club.pk, "sport-2027", 10 + n);
        fx_sign_as(f, i ? &w.pass2 : &w.pass1, &t[i], &d[i]);
      }
      fx_commit(f, d, k);
      clear_txs(d, k);
    }
    struct sp_tip tip;
    assert_int_equal(sp_ledger_tip(f->l, &tip), 0);
    assert_int_equal(tip.height, n);
    /* the new leaf from the stored block */
    struct sp_buf raw;
    sp_buf_init(&raw, SP_MAX_BLOCK_BYTES);
    struct sp_cert c;
    bool has;
    assert_int_equal(sp_ledger_block(f->l, n, &raw, &c, &has), 0);
    struct sp_block b;
    assert_int_equal(sp_block_decode(raw.data, raw.len, &b), 0);
    uint8_t h[HL];
    assert_int_equal(sp_header_hash(&b.header, h), 0);
    assert_memory_equal(h, tip.hash, HL);
    sp_merkle_leaf(leaves[n - 1], h, HL);
    uint64_t got_h = 0;
    assert_int_equal(sp_ledger_block_height(f->l, h, &got_h), 0);
    assert_int_equal(got_h, n);
    sp_block_clear(&b);
    sp_buf_free(&raw);

    assert_int_equal(sp_ledger_log_root(f->l, n, roots[n]), 0);
    uint8_t mine[HL];
    assert_int_equal(sp_merkle_root(mine, (const uint8_t(*)[HL])leaves, n), 0);
    assert_memory_equal(mine, roots[n], HL);
    /* older roots do not change as the log grows */
    for (uint64_t m = 1; m < n; m++) {
      uint8_t again[HL];
      assert_int_equal(sp_ledger_log_root(f->l, m, again), 0);
      assert_memory_equal(again, roots[m], HL);
    }

    /* inclusion of every block in the log of n */
    for (uint64_t hh = 1; hh <= n; hh++) {
      assert_int_equal(sp_ledger_log_inclusion(f->l, hh, n, path, &len), 0);
      assert_true(len <= SP_MAX_PROOF);
      const uint8_t(*cp)[HL] = (const uint8_t(*)[HL])path;
      assert_int_equal(sp_merkle_verify(leaves[hh - 1], hh - 1, n, cp, len, roots[n]), SP_OK);
      uint8_t bad[HL];
      memcpy(bad, roots[n], HL);
      bad[0] ^= 1;
      assert_int_not_equal(sp_merkle_verify(leaves[hh - 1], hh - 1, n, cp, len, bad), SP_OK);
      if (n > 1) {
        uint64_t other = hh == n ? 0 : hh; /* another block's leaf */
        assert_int_not_equal(sp_merkle_verify(leaves[other], hh - 1, n, cp, len, roots[n]),
                             SP_OK);
        assert_int_not_equal(sp_merkle_verify(leaves[hh - 1], other, n, cp, len, roots[n]),
                             SP_OK);
      }
      for (size_t i = 0; i < len; i++) {
        path[i][i % HL] ^= 0x40;
        assert_int_not_equal(sp_merkle_verify(leaves[hh - 1], hh - 1, n, cp, len, roots[n]),
                             SP_OK);
        path[i][i % HL] ^= 0x40;
      }
    }

    /* consistency of every earlier log with this one, and between them */
    for (uint64_t m = 1; m <= n; m++) {
      for (uint64_t nn = m; nn <= n; nn++) {
        assert_int_equal(sp_ledger_log_consistency(f->l, m, nn, path, &len), 0);
        const uint8_t(*cp)[HL] = (const uint8_t(*)[HL])path;
        if (sp_merkle_consistency_verify(m, nn, roots[m], roots[nn], cp, len) != SP_OK)
          fail_msg("consistency %llu -> %llu (log of %llu) does not verify",
                   (unsigned long long)m, (unsigned long long)nn, (unsigned long long)n);
        if (m == nn)
          assert_int_equal(len, 0);
        uint8_t bad[HL];
        memcpy(bad, roots[m], HL);
        bad[HL - 1] ^= 1;
        assert_int_not_equal(sp_merkle_consistency_verify(m, nn, bad, roots[nn], cp, len),
                             SP_OK);
        memcpy(bad, roots[nn], HL);
        bad[HL - 1] ^= 1;
        assert_int_not_equal(sp_merkle_consistency_verify(m, nn, roots[m], bad, cp, len),
                             SP_OK);
        for (size_t i = 0; i < len; i++) {
          path[i][(i * 7) % HL] ^= 0x01;
          assert_int_not_equal(sp_merkle_consistency_verify(m, nn, roots[m], roots[nn], cp, len),
                               SP_OK);
          path[i][(i * 7) % HL] ^= 0x01;
        }
        if (len > 0) /* a path element left out */
          assert_int_not_equal(
              sp_merkle_consistency_verify(m, nn, roots[m], roots[nn], cp, len - 1), SP_OK);
      }
    }

    /* sizes and heights outside the log */
    uint8_t r[HL];
    assert_int_equal(sp_ledger_log_root(f->l, 0, r), SP_LE_NOTFOUND);
    assert_int_equal(sp_ledger_log_root(f->l, n + 1, r), SP_LE_NOTFOUND);
    assert_int_equal(sp_ledger_log_inclusion(f->l, 0, n, path, &len), SP_LE_INVAL);
    assert_int_equal(sp_ledger_log_inclusion(f->l, n + 1, n, path, &len), SP_LE_INVAL);
    assert_int_equal(sp_ledger_log_inclusion(f->l, n + 1, n + 1, path, &len), SP_LE_NOTFOUND);
    assert_int_equal(sp_ledger_log_consistency(f->l, 0, n, path, &len), SP_LE_INVAL);
    assert_int_equal(sp_ledger_log_consistency(f->l, n + 1, n, path, &len), SP_LE_INVAL);
    assert_int_equal(sp_ledger_log_consistency(f->l, 1, n + 1, path, &len), SP_LE_NOTFOUND);
  }
  fx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_wrong_chain),
      cmocka_unit_test(test_wrong_chain_first_block),
      cmocka_unit_test(test_wrong_height),
      cmocka_unit_test(test_wrong_prev),
      cmocka_unit_test(test_block_time),
      cmocka_unit_test(test_block_time_first_block),
      cmocka_unit_test(test_block_proposer),
      cmocka_unit_test(test_block_too_big),
      cmocka_unit_test(test_block_too_many_bytes),
      cmocka_unit_test(test_tx_root),
      cmocka_unit_test(test_last_commit),
      cmocka_unit_test(test_last_commit_first_block),
      cmocka_unit_test(test_state_digest),
      cmocka_unit_test(test_block_cert),
      cmocka_unit_test(test_block_tx_bad_signature),
      cmocka_unit_test(test_sig_cache),
      cmocka_unit_test(test_check_batch),
      cmocka_unit_test(test_propose_hashed),
      cmocka_unit_test(test_changed_struct_refused),
      cmocka_unit_test(test_staged),
      cmocka_unit_test(test_block_tx_rules),
      cmocka_unit_test(test_conflict_and_noop),
      cmocka_unit_test(test_apply_batch),
      cmocka_unit_test(test_property),
      cmocka_unit_test(test_hot_records),
      cmocka_unit_test(test_log_proofs),
  };
  return cmocka_run_group_tests_name("blocks", tests, NULL, NULL);
}
