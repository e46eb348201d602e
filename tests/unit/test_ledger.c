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

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_happy_path),
      cmocka_unit_test(test_history_pages),
  };
  return cmocka_run_group_tests_name("ledger", tests, NULL, NULL);
}
