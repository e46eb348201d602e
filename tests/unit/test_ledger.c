/* Ledger: the main job end to end on a real LMDB store — funds, passes,
 * merchants, issuance, payments, refunds, claims, queries, receipts,
 * block-log proofs, full-chain verification and hot backup. */
#include "ledger_fixture.h"

struct world {
  struct fx *f;
  struct fx_key pass1, pass2, club, shop;
  uint64_t from, until;
};

static void world_setup(struct world *w)
{
  w->f = fx_new();
  fx_key(&w->pass1, 0x31);
  fx_key(&w->pass2, 0x32);
  fx_key(&w->club, 0x41);
  fx_key(&w->shop, 0x42);
  w->from = FX_T2027;
  w->until = FX_T2027 + 365 * FX_DAY_MS;
  struct fx *f = w->f;
  struct sp_tx t[8], d[8];
  static struct sp_issue_row rows[2];
  t[0] = fx_fund_create("sport-2027", "Sport en cultuur 2027", "culture", "sport", w->from,
                        w->until, 5000);
  t[1] = fx_deposit("sport-2027", 100000);
  t[2] = fx_enroll(w->pass1.pk);
  t[3] = fx_enroll(w->pass2.pk);
  t[4] = fx_merchant(w->club.pk, "Sportclub Be Quick", "sport");
  t[5] = fx_merchant(w->shop.pk, "Jumbo Centrum", "food");
  t[6] = fx_issue1("sport-2027", "batch-1", &rows[0], w->pass1.pk, 15000);
  t[7] = fx_issue1("sport-2027", "batch-2", &rows[1], w->pass2.pk, 15000);
  for (int i = 0; i < 8; i++)
    fx_sign_as(f, &f->authority, &t[i], &d[i]);
  fx_commit(f, d, 8);
  for (int i = 0; i < 8; i++)
    sp_tx_clear(&d[i]);
  f->now = w->from + FX_DAY_MS; /* the fund is open from here */
}

static void test_happy_path(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;

  assert_int_equal(fx_balance(f, w.pass1.pk, "sport-2027"), 15000);
  struct sp_fund_info fi;
  assert_int_equal(sp_ledger_fund(f->l, "sport-2027", &fi), 0);
  assert_int_equal(fi.deposited, 100000);
  assert_int_equal(fi.unissued, 70000);
  assert_int_equal(fi.passes, 30000);
  assert_true(sp_fund_reconciles(&fi));

  /* pay 12.50 at the club */
  struct sp_tx t = fx_pay(w.club.pk, "sport-2027", 1250), d;
  fx_sign_as(f, &w.pass1, &t, &d);
  uint8_t pay_id[SP_HASH_LEN];
  sp_tx_id(&d, f->chain_id, pay_id);
  fx_commit(f, &d, 1);
  sp_tx_clear(&d);
  assert_int_equal(fx_balance(f, w.pass1.pk, "sport-2027"), 13750);
  assert_int_equal(fx_balance(f, w.club.pk, "sport-2027"), 1250);

  /* paying at the supermarket is refused with the reason, nothing changes */
  t = fx_pay(w.shop.pk, "sport-2027", 500);
  fx_sign_as(f, &w.pass1, &t, &d);
  struct sp_refusal why;
  assert_int_equal(fx_try(f, &d, &why), SP_R_CATEGORY_NOT_ALLOWED);
  assert_string_equal(why.msg, "merchant 'Jumbo Centrum' (food) is not allowed by fund "
                               "'sport-2027' (culture, sport)");
  assert_int_equal(sp_ledger_check_tx(f->l, &d, f->now, &why), SP_LE_REFUSED);
  assert_int_equal(why.reason, SP_R_CATEGORY_NOT_ALLOWED);
  sp_tx_clear(&d);
  w.pass1.seq--;

  /* the club refunds 2.50 and claims the rest; the authority settles */
  struct sp_tx r;
  memset(&r, 0, sizeof(r));
  r.kind = SP_TX_REFUND;
  memcpy(r.u.refund.payment, pay_id, SP_HASH_LEN);
  r.u.refund.amount = 250;
  fx_sign_as(f, &w.club, &r, &d);
  fx_commit(f, &d, 1);
  sp_tx_clear(&d);
  assert_int_equal(fx_balance(f, w.pass1.pk, "sport-2027"), 14000);

  struct sp_tx c;
  memset(&c, 0, sizeof(c));
  c.kind = SP_TX_CLAIM;
  c.u.claim.fund = sp_str_c("sport-2027");
  c.u.claim.amount = 1000;
  fx_sign_as(f, &w.club, &c, &d);
  uint8_t claim_id[SP_HASH_LEN];
  sp_tx_id(&d, f->chain_id, claim_id);
  fx_commit(f, &d, 1);
  sp_tx_clear(&d);
  struct sp_tx s;
  memset(&s, 0, sizeof(s));
  s.kind = SP_TX_CLAIM_SETTLE;
  memcpy(s.u.claim_settle.claim, claim_id, SP_HASH_LEN);
  s.u.claim_settle.bank_ref = sp_str_c("SEPA-42");
  fx_sign_as(f, &f->authority, &s, &d);
  fx_commit(f, &d, 1);
  sp_tx_clear(&d);

  assert_int_equal(sp_ledger_fund(f->l, "sport-2027", &fi), 0);
  assert_int_equal(fi.spent, 1250);
  assert_int_equal(fi.refunded, 250);
  assert_int_equal(fi.settled, 1000);
  assert_int_equal(fi.receivable, 0);
  assert_int_equal(fi.passes, 29000);
  assert_true(sp_fund_reconciles(&fi));

  /* receipt for the payment verifies offline against the genesis */
  struct sp_tx_proof p;
  sp_tx_proof_init(&p);
  assert_int_equal(sp_ledger_tx_proof(f->l, pay_id, &p), 0);
  assert_true(p.has_cert);
  assert_int_equal(sp_tx_proof_verify(&p, sp_ledger_genesis(f->l), f->chain_id, &why), 0);
  p.tx.data[p.tx.len - 1] ^= 1; /* a forged receipt fails */
  assert_int_equal(sp_tx_proof_verify(&p, sp_ledger_genesis(f->l), f->chain_id, &why),
                   SP_LE_REFUSED);
  sp_tx_proof_free(&p);

  /* history of pass1: newest first, paged */
  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(f->l, &tip), 0);
  assert_int_equal(tip.height, 5);

  /* the whole chain re-verifies */
  struct sp_verify_report rep;
  assert_int_equal(sp_ledger_verify(f->l, "/tmp", &rep), 0);
  if (!rep.ok)
    fail_msg("verify: block %llu: %s", (unsigned long long)rep.first_bad.height,
             rep.first_bad.msg);
  assert_int_equal(rep.blocks, 5);
  assert_int_equal(rep.txs, 12);
  fx_free(f);
}

static int count_rows(uint64_t h, uint32_t i, uint64_t t, const uint8_t *tx, size_t n, void *arg)
{
  (void)h, (void)i, (void)t, (void)tx, (void)n;
  (*(int *)arg)++;
  return 0;
}

static void test_history_pages(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  for (int i = 0; i < 7; i++) {
    struct sp_tx t = fx_pay(w.club.pk, "sport-2027", 100), d;
    fx_sign_as(f, &w.pass1, &t, &d);
    fx_commit(f, &d, 1);
    sp_tx_clear(&d);
  }
  /* pass1: enrolled, issued, 7 payments = 9 rows */
  int total = 0, pages = 0;
  uint64_t next = 0;
  do {
    int rows = 0;
    assert_int_equal(sp_ledger_history(f->l, w.pass1.pk, next, 4, count_rows, &rows, &next), 0);
    total += rows;
    pages++;
    assert_true(rows <= 4);
  } while (next && pages < 10);
  assert_int_equal(total, 9);
  assert_int_equal(pages, 3);
  fx_free(f);
}

/* ------------------------------------------------------------ history */

struct hrow {
  uint64_t h;
  uint32_t i;
};

struct hlist {
  struct hrow r[256];
  int n;
};

static int collect_rows(uint64_t h, uint32_t i, uint64_t t, const uint8_t *tx, size_t n,
                        void *arg)
{
  (void)t, (void)tx, (void)n;
  struct hlist *l = arg;
  assert_true(l->n < 256);
  l->r[l->n++] = (struct hrow){h, i};
  return 0;
}

/* One page; fails the test on an error. */
static uint64_t hist_page(struct fx *f, const uint8_t pk[SP_PK_LEN], uint64_t before,
                          uint32_t limit, struct hlist *out)
{
  uint64_t next = 99;
  out->n = 0;
  assert_int_equal(sp_ledger_history(f->l, pk, before, limit, collect_rows, out, &next), 0);
  return next;
}

static uint64_t pos_of(struct hrow r)
{
  return r.h << 24 | r.i;
}

/* Everything a paginated walk and every cursor position must agree on:
 * paging with small limits gives the full list; a cursor at a row starts
 * with that row; a cursor between rows starts at the next older row. */
static void check_pagination(struct fx *f, const uint8_t pk[SP_PK_LEN], const struct hlist *all)
{
  for (int k = 1; k < all->n; k++)
    assert_true(pos_of(all->r[k]) < pos_of(all->r[k - 1])); /* newest first, no repeat */
  for (uint32_t limit = 1; limit <= 4; limit++) {
    struct hlist page, walked = {.n = 0};
    uint64_t next = 0;
    int pages = 0;
    do {
      next = hist_page(f, pk, next, limit, &page);
      assert_true(page.n <= (int)limit);
      assert_true(page.n == (int)limit || next == 0);
      for (int k = 0; k < page.n; k++)
        walked.r[walked.n++] = page.r[k];
      pages++;
    } while (next && pages < 300);
    assert_int_equal(walked.n, all->n);
    for (int k = 0; k < all->n; k++) {
      assert_int_equal(walked.r[k].h, all->r[k].h);
      assert_int_equal(walked.r[k].i, all->r[k].i);
    }
  }
  struct hlist page;
  for (int k = 0; k < all->n; k++) {
    /* at the row: that row first (the `next` a page hands out) */
    uint64_t next = hist_page(f, pk, pos_of(all->r[k]) + 1, 2, &page);
    assert_int_equal(page.n, all->n - k < 2 ? all->n - k : 2);
    assert_int_equal(page.r[0].h, all->r[k].h);
    assert_int_equal(page.r[0].i, all->r[k].i);
    assert_int_equal(next, all->n - k > 2 ? pos_of(all->r[k + 2]) + 1 : 0);
    /* just below the row: the row itself is excluded */
    hist_page(f, pk, pos_of(all->r[k]), 1, &page);
    if (k + 1 < all->n) {
      assert_int_equal(page.n, 1);
      assert_int_equal(page.r[0].h, all->r[k + 1].h);
      assert_int_equal(page.r[0].i, all->r[k + 1].i);
    } else {
      assert_int_equal(page.n, 0);
    }
    /* between this row and the next newer one, at a position no row of
     * this key has: starts at this row */
    if (k > 0 && pos_of(all->r[k - 1]) - pos_of(all->r[k]) > 1) {
      hist_page(f, pk, pos_of(all->r[k]) + 2, 1, &page);
      assert_int_equal(page.n, 1);
      assert_int_equal(page.r[0].h, all->r[k].h);
      assert_int_equal(page.r[0].i, all->r[k].i);
    }
  }
  /* a cursor past the tip gives everything; one below the first row nothing */
  struct hlist big;
  hist_page(f, pk, (uint64_t)1000 << 24, 100, &big);
  assert_int_equal(big.n, all->n);
  assert_int_equal(hist_page(f, pk, 1, 100, &page), 0);
  assert_int_equal(page.n, 0);
}

/* The key's whole history is exactly want (newest first), and every way of
 * paging through it agrees. */
static void expect_history(struct fx *f, const uint8_t pk[SP_PK_LEN], const struct hrow *want,
                           int n)
{
  struct hlist got;
  assert_int_equal(hist_page(f, pk, 0, 100, &got), 0);
  assert_int_equal(got.n, n);
  for (int k = 0; k < n; k++) {
    assert_int_equal(got.r[k].h, want[k].h);
    assert_int_equal(got.r[k].i, want[k].i);
  }
  check_pagination(f, pk, &got);
}

static struct sp_tx refund_of(const uint8_t pay_id[SP_HASH_LEN], uint64_t cents)
{
  struct sp_tx r;
  memset(&r, 0, sizeof(r));
  r.kind = SP_TX_REFUND;
  memcpy(r.u.refund.payment, pay_id, SP_HASH_LEN);
  r.u.refund.amount = cents;
  return r;
}

static struct sp_tx claim_of(uint64_t cents)
{
  struct sp_tx c;
  memset(&c, 0, sizeof(c));
  c.kind = SP_TX_CLAIM;
  c.u.claim.fund = sp_str_c("sport-2027");
  c.u.claim.amount = cents;
  return c;
}

/* A signed payment from `from` to `to` and its tx id. */
static void sign_pay(struct fx *f, struct fx_key *from, struct fx_key *to, uint64_t cents,
                     struct sp_tx *out, uint8_t id[SP_HASH_LEN])
{
  struct sp_tx t = fx_pay(to->pk, "sport-2027", cents);
  fx_sign_as(f, from, &t, out);
  sp_tx_id(out, f->chain_id, id);
}

/* Many blocks of several transactions: pass1 pays in some of them, the club
 * receives, refunds and claims, so each key's rows are spread between rows
 * of others. The exact rows of pass1 and of the club are known. */
static void test_history_many_blocks(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  struct hlist want1 = {.n = 0}, wantc = {.n = 0};
  /* setup block 1 (oldest first): pass1 enrolled at index 2 and issued
   * credit at 6; the club registered at 4 */
  want1.r[want1.n++] = (struct hrow){1, 2};
  want1.r[want1.n++] = (struct hrow){1, 6};
  wantc.r[wantc.n++] = (struct hrow){1, 4};
  for (uint64_t b = 0; b < 12; b++) {
    struct sp_tx t[4], d[4];
    size_t n = 0;
    uint64_t h = 2 + b;
    t[n] = fx_pay(w.club.pk, "sport-2027", 100 + b);
    fx_sign_as(f, &w.pass2, &t[n], &d[n]);
    wantc.r[wantc.n++] = (struct hrow){h, (uint32_t)n};
    n++;
    if (b % 3 != 1) {
      t[n] = fx_pay(w.club.pk, "sport-2027", 50);
      fx_sign_as(f, &w.pass1, &t[n], &d[n]);
      want1.r[want1.n++] = (struct hrow){h, (uint32_t)n};
      wantc.r[wantc.n++] = (struct hrow){h, (uint32_t)n};
      n++;
    }
    if (b % 4 == 2) {
      t[n] = claim_of(10);
      fx_sign_as(f, &w.club, &t[n], &d[n]);
      wantc.r[wantc.n++] = (struct hrow){h, (uint32_t)n};
      n++;
    }
    fx_commit(f, d, n);
    for (size_t k = 0; k < n; k++)
      sp_tx_clear(&d[k]);
  }
  /* newest first */
  struct hlist *lists[] = {&want1, &wantc};
  for (int l = 0; l < 2; l++)
    for (int a = 0, z = lists[l]->n - 1; a < z; a++, z--) {
      struct hrow x = lists[l]->r[a];
      lists[l]->r[a] = lists[l]->r[z], lists[l]->r[z] = x;
    }

  expect_history(f, w.pass1.pk, want1.r, want1.n);
  expect_history(f, w.club.pk, wantc.r, wantc.n);
  /* an unknown key has no history */
  struct hlist got;
  struct fx_key nobody;
  fx_key(&nobody, 0x99);
  assert_int_equal(hist_page(f, nobody.pk, 0, 10, &got), 0);
  assert_int_equal(got.n, 0);
  fx_free(f);
}

/* The club is the other party of payments (not their signer) and signs its
 * own refunds and claims; the pass is the other party of a refund. Each
 * transaction appears once in each key's history. */
static void test_history_both_roles(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  struct sp_tx d[3];
  uint8_t pay_id[SP_HASH_LEN];
  sign_pay(f, &w.pass1, &w.club, 1000, &d[0], pay_id);
  fx_commit(f, d, 1); /* block 2 */
  sp_tx_clear(&d[0]);
  struct sp_tx r = refund_of(pay_id, 300);
  fx_sign_as(f, &w.club, &r, &d[0]);
  struct sp_tx c = claim_of(700);
  fx_sign_as(f, &w.club, &c, &d[1]);
  static struct sp_issue_row row;
  struct sp_tx is = fx_issue1("sport-2027", "batch-3", &row, w.pass1.pk, 300);
  fx_sign_as(f, &f->authority, &is, &d[2]);
  fx_commit(f, d, 3); /* block 3: refund, claim, issue */
  for (int k = 0; k < 3; k++)
    sp_tx_clear(&d[k]);
  assert_int_equal(fx_balance(f, w.pass1.pk, "sport-2027"), 15000 - 1000 + 300 + 300);

  const struct hrow club[] = {{3, 1}, {3, 0}, {2, 0}, {1, 4}};
  expect_history(f, w.club.pk, club, 4);
  const struct hrow pass[] = {{3, 2}, {3, 0}, {2, 0}, {1, 6}, {1, 2}};
  expect_history(f, w.pass1.pk, pass, 5);
  fx_free(f);
}

/* A refund in the same block as its payment: the payment is found by its
 * tx id while proposing (nested transactions), when checking the block and
 * when applying it, and a full replay agrees. */
static void test_refund_same_block(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  struct sp_tx d[4];
  uint8_t pay_id[SP_HASH_LEN];
  sign_pay(f, &w.pass1, &w.club, 1000, &d[0], pay_id);
  /* before the payment is anywhere, its refund is unknown */
  struct sp_tx r = refund_of(pay_id, 400);
  fx_sign_as(f, &w.club, &r, &d[1]);
  struct sp_refusal why;
  assert_int_equal(sp_ledger_check_tx(f->l, &d[1], f->now, &why), SP_LE_REFUSED);
  assert_int_equal(why.reason, SP_R_UNKNOWN_PAYMENT);
  /* the other pass pays, and is refunded in full, in the same block */
  uint8_t pay2_id[SP_HASH_LEN];
  sign_pay(f, &w.pass2, &w.club, 500, &d[2], pay2_id);
  struct sp_tx r2 = refund_of(pay2_id, 500);
  fx_sign_as(f, &w.club, &r2, &d[3]);

  struct sp_buf blk;
  sp_buf_init(&blk, SP_MAX_BLOCK_BYTES);
  bool acc[4];
  struct sp_refusal whys[4];
  assert_int_equal(fx_propose(f, d, 4, &blk, acc, whys), 0);
  for (int k = 0; k < 4; k++)
    if (!acc[k])
      fail_msg("tx %d refused: %s", k, whys[k].msg);
  assert_int_equal(sp_ledger_check_block(f->l, blk.data, blk.len, &why), 0);
  struct sp_tip before;
  assert_int_equal(sp_ledger_tip(f->l, &before), 0);
  assert_int_equal(fx_apply(f, &blk, &why), 0);
  sp_buf_free(&blk);
  for (int k = 0; k < 4; k++)
    sp_tx_clear(&d[k]);
  assert_int_equal(fx_balance(f, w.pass1.pk, "sport-2027"), 15000 - 1000 + 400);
  assert_int_equal(fx_balance(f, w.pass2.pk, "sport-2027"), 15000);
  assert_int_equal(fx_balance(f, w.club.pk, "sport-2027"), 600);
  struct sp_fund_info fi;
  assert_int_equal(sp_ledger_fund(f->l, "sport-2027", &fi), 0);
  assert_int_equal(fi.spent, 1500);
  assert_int_equal(fi.refunded, 900);
  struct sp_tx_location loc;
  assert_int_equal(sp_ledger_find_tx(f->l, pay_id, &loc), 0);
  assert_int_equal(loc.height, before.height + 1);
  assert_int_equal(loc.index, 0);
  assert_int_equal(sp_ledger_find_tx(f->l, pay2_id, &loc), 0);
  assert_int_equal(loc.index, 2);

  /* the rest of the payment can still be refunded, not more */
  r = refund_of(pay_id, 601);
  fx_sign_as(f, &w.club, &r, &d[0]);
  assert_int_equal(fx_try(f, &d[0], &why), SP_R_REFUND_EXCEEDS_PAYMENT);
  sp_tx_clear(&d[0]);
  w.club.seq--;
  r = refund_of(pay_id, 599);
  fx_sign_as(f, &w.club, &r, &d[0]);
  fx_commit(f, d, 1);
  sp_tx_clear(&d[0]);
  assert_int_equal(fx_balance(f, w.pass1.pk, "sport-2027"), 14999);

  /* a tx id that is in the chain but is no payment */
  uint8_t claim_id[SP_HASH_LEN];
  struct sp_tx c = claim_of(1);
  fx_sign_as(f, &w.club, &c, &d[0]);
  sp_tx_id(&d[0], f->chain_id, claim_id);
  fx_commit(f, d, 1);
  sp_tx_clear(&d[0]);
  r = refund_of(claim_id, 1);
  fx_sign_as(f, &w.club, &r, &d[0]);
  assert_int_equal(fx_try(f, &d[0], &why), SP_R_UNKNOWN_PAYMENT);
  sp_tx_clear(&d[0]);

  struct sp_verify_report rep;
  assert_int_equal(sp_ledger_verify(f->l, "/tmp", &rep), 0);
  if (!rep.ok)
    fail_msg("verify: block %llu: %s", (unsigned long long)rep.first_bad.height,
             rep.first_bad.msg);
  fx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_happy_path),
      cmocka_unit_test(test_history_pages),
      cmocka_unit_test(test_history_many_blocks),
      cmocka_unit_test(test_history_both_roles),
      cmocka_unit_test(test_refund_same_block),
  };
  return cmocka_run_group_tests_name("ledger", tests, NULL, NULL);
}
