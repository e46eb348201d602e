/* Ledger rules: every refusal reason a transaction can get (one table row
 * per case: the state it needs, the offending signed tx, the reason code
 * and a piece of the message), each checked through block proposal and
 * through mempool admission, and each shown to change nothing; then the
 * effects of accepted transactions, to the cent; then that a block holding
 * one refused transaction is refused whole. */
#include "ledger_fixture.h"
#include "sp/money.h"

#define T0    FX_T2027
#define DAY   FX_DAY_MS
#define GRACE (7 * FX_DAY_MS) /* fx_new's fund-close grace period */

/* ================================================================ world */

enum {
  K_AUTH,
  K_PASS1,
  K_PASS2,
  K_PASS3,
  K_STRANGER,
  K_NEWPASS,
  K_CLUB,
  K_SHOP,
  K_CLUB2,
  K_BOOK,
  K_GHOST,
  K_VAL0, /* a validator: not an account, may sign nothing */
  NK
};

struct world {
  struct fx *f;
  /* pass1, pass2, pass3 enrolled; stranger and newpass never enrolled */
  struct fx_key pass1, pass2, pass3, stranger, newpass;
  /* club, shop, club2, book registered; ghost never registered */
  struct fx_key club, shop, club2, book, ghost;
  struct sp_issue_row rows[8];
  uint8_t pay_id[SP_HASH_LEN];
  uint8_t claim_id[SP_HASH_LEN];
  char expect[SP_REFUSAL_MSG]; /* extra message piece a builder may set */
};

static struct fx_key *wkey(struct world *w, int i)
{
  switch (i) {
  case K_AUTH: return &w->f->authority;
  case K_PASS1: return &w->pass1;
  case K_PASS2: return &w->pass2;
  case K_PASS3: return &w->pass3;
  case K_STRANGER: return &w->stranger;
  case K_NEWPASS: return &w->newpass;
  case K_CLUB: return &w->club;
  case K_SHOP: return &w->shop;
  case K_CLUB2: return &w->club2;
  case K_BOOK: return &w->book;
  case K_GHOST: return &w->ghost;
  default: return &w->f->validators[0];
  }
}

/* The ledger's short form of a key or id in messages: 8 hex digits "..". */
static void kshort(char out[12], const uint8_t *pk)
{
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 4; i++) {
    out[2 * i] = hex[pk[i] >> 4];
    out[2 * i + 1] = hex[pk[i] & 15];
  }
  memcpy(out + 8, "..", 3);
}

static void expect_key(struct world *w, const char *before, const uint8_t *pk,
                       const char *after)
{
  char ks[12];
  kshort(ks, pk);
  snprintf(w->expect, sizeof(w->expect), "%s%s%s", before, ks, after);
}

/* ------------------------------------------------------ tx constructors */

static struct sp_tx tx_zero(uint32_t kind)
{
  struct sp_tx t;
  memset(&t, 0, sizeof(t));
  t.kind = kind;
  return t;
}

/* pass.block/unblock, merchant.suspend/reinstate */
static struct sp_tx tx_reason(uint32_t kind, const uint8_t *pk)
{
  struct sp_tx t = tx_zero(kind);
  memcpy(t.u.reason.account, pk, SP_PK_LEN);
  t.u.reason.reason = sp_str_c("test reason");
  return t;
}

static struct sp_tx tx_replace(const uint8_t *old_pass, const uint8_t *new_pass)
{
  struct sp_tx t = tx_zero(SP_TX_PASS_REPLACE);
  memcpy(t.u.pass_replace.old_pass, old_pass, SP_PK_LEN);
  memcpy(t.u.pass_replace.new_pass, new_pass, SP_PK_LEN);
  return t;
}

static struct sp_tx tx_close(const char *fund)
{
  struct sp_tx t = tx_zero(SP_TX_FUND_CLOSE);
  t.u.fund_close.fund = sp_str_c(fund);
  return t;
}

static struct sp_tx tx_refund(const uint8_t *payment, uint64_t cents)
{
  struct sp_tx t = tx_zero(SP_TX_REFUND);
  memcpy(t.u.refund.payment, payment, SP_HASH_LEN);
  t.u.refund.amount = cents;
  return t;
}

static struct sp_tx tx_claim(const char *fund, uint64_t cents)
{
  struct sp_tx t = tx_zero(SP_TX_CLAIM);
  t.u.claim.fund = sp_str_c(fund);
  t.u.claim.amount = cents;
  return t;
}

static struct sp_tx tx_settle(const uint8_t *claim)
{
  struct sp_tx t = tx_zero(SP_TX_CLAIM_SETTLE);
  memcpy(t.u.claim_settle.claim, claim, SP_HASH_LEN);
  t.u.claim_settle.bank_ref = sp_str_c("SEPA-42");
  return t;
}

/* merchant.register/update with one or two (sorted) categories */
static struct sp_tx tx_merchant(uint32_t kind, const uint8_t *pk, const char *name,
                                const char *c1, const char *c2)
{
  struct sp_tx t = tx_zero(kind);
  memcpy(t.u.merchant.merchant, pk, SP_PK_LEN);
  t.u.merchant.name = sp_str_c(name);
  t.u.merchant.categories.n = c2 ? 2 : 1;
  t.u.merchant.categories.v[0] = sp_str_c(c1);
  if (c2)
    t.u.merchant.categories.v[1] = sp_str_c(c2);
  return t;
}

/* pay split over two funds; f1 < f2 as the codec requires */
static struct sp_tx tx_pay2(const uint8_t *merchant, const char *f1, uint64_t a1,
                            const char *f2, uint64_t a2)
{
  struct sp_tx t = fx_pay(merchant, f1, a1);
  t.u.pay.n_parts = 2;
  t.u.pay.parts[1].fund = sp_str_c(f2);
  t.u.pay.parts[1].amount = a2;
  return t;
}

static int cmp_row(const void *a, const void *b)
{
  return memcmp(((const struct sp_issue_row *)a)->pass,
                ((const struct sp_issue_row *)b)->pass, SP_PK_LEN);
}

/* issue of n rows into w->rows, sorted by pass key as the codec requires */
static struct sp_tx tx_issue(struct world *w, const char *fund, const char *ref, size_t n,
                             const uint8_t *const *pks, const uint64_t *cents)
{
  assert_true(n <= sizeof(w->rows) / sizeof(w->rows[0]));
  for (size_t i = 0; i < n; i++) {
    memcpy(w->rows[i].pass, pks[i], SP_PK_LEN);
    w->rows[i].amount = cents[i];
  }
  qsort(w->rows, n, sizeof(w->rows[0]), cmp_row);
  struct sp_tx t = tx_zero(SP_TX_ISSUE);
  t.u.issue.fund = sp_str_c(fund);
  t.u.issue.ref = sp_str_c(ref);
  t.u.issue.n_rows = (uint32_t)n;
  t.u.issue.rows = w->rows;
  return t;
}

static struct sp_tx tx_issue1(struct world *w, const char *fund, const char *ref,
                              const uint8_t *pk, uint64_t cents)
{
  return tx_issue(w, fund, ref, 1, &pk, &cents);
}

/* ----------------------------------------------------- signing, commits */

static void sign(struct world *w, struct fx_key *k, struct sp_tx t, struct sp_tx *d)
{
  fx_sign_as(w->f, k, &t, d);
}

/* Sign, commit alone in a block; the tx id into id when asked. */
static void commit_as(struct world *w, struct fx_key *k, struct sp_tx t, uint8_t *id)
{
  struct sp_tx d;
  sign(w, k, t, &d);
  if (id)
    assert_int_equal(sp_tx_id(&d, w->f->chain_id, id), 0);
  fx_commit(w->f, &d, 1);
  sp_tx_clear(&d);
}

static void commit_auth(struct world *w, struct sp_tx t)
{
  commit_as(w, &w->f->authority, t, NULL);
}

/* The base world, committed in one block at T0 - 20 days:
 *   sport-2027  (culture, sport)  T0..T0+365d, max 50.00, deposited 1000.00,
 *               pass1 150.00, pass2 150.00 (refs batch-1, batch-2)
 *   school-2027 (school-supplies) T0..T0+365d, no max, deposited 500.00,
 *               pass1 100.00 (batch-s1)
 *   late-2027   (sport)   T0+100d..T0+200d, deposited 100.00, pass1 50.00
 *   short-2027  (sport)   T0..T0+10d, deposited 200.00, pass1 80.00, pass2 20.00
 *   merchants: club 'Sportclub Be Quick' (sport), shop 'Jumbo Centrum' (food),
 *              club2 'Tennisclub Helpman' (sport),
 *              book 'Boekhandel Riemer' (culture, school-supplies)
 * Then the clock moves to T0 + 1 day: every fund but late-2027 is open. */
#define BASE_AUTH_TXS 20

static void world_setup(struct world *w)
{
  memset(w, 0, sizeof(*w));
  w->f = fx_new();
  struct fx *f = w->f;
  fx_key(&w->pass1, 0x31);
  fx_key(&w->pass2, 0x32);
  fx_key(&w->pass3, 0x33);
  fx_key(&w->stranger, 0x39);
  fx_key(&w->newpass, 0x3a);
  fx_key(&w->club, 0x41);
  fx_key(&w->shop, 0x42);
  fx_key(&w->club2, 0x43);
  fx_key(&w->book, 0x44);
  fx_key(&w->ghost, 0x49);

  static struct sp_issue_row r[6];
  struct sp_tx t[BASE_AUTH_TXS], d[BASE_AUTH_TXS];
  int n = 0;
  t[n++] = fx_fund_create("sport-2027", "Sport en cultuur 2027", "culture", "sport", T0,
                          T0 + 365 * DAY, 5000);
  t[n++] = fx_fund_create("school-2027", "Schoolspullen 2027", "school-supplies", NULL,
                          T0, T0 + 365 * DAY, 0);
  t[n++] = fx_fund_create("late-2027", "Najaarsregeling 2027", "sport", NULL,
                          T0 + 100 * DAY, T0 + 200 * DAY, 0);
  t[n++] =
      fx_fund_create("short-2027", "Zomerkamp 2027", "sport", NULL, T0, T0 + 10 * DAY, 0);
  t[n++] = fx_deposit("sport-2027", 100000);
  t[n++] = fx_deposit("school-2027", 50000);
  t[n++] = fx_deposit("late-2027", 10000);
  t[n++] = fx_deposit("short-2027", 20000);
  t[n++] = fx_enroll(w->pass1.pk);
  t[n++] = fx_enroll(w->pass2.pk);
  t[n++] = fx_enroll(w->pass3.pk);
  t[n++] = fx_merchant(w->club.pk, "Sportclub Be Quick", "sport");
  t[n++] = fx_merchant(w->shop.pk, "Jumbo Centrum", "food");
  t[n++] = fx_merchant(w->club2.pk, "Tennisclub Helpman", "sport");
  t[n++] = tx_merchant(SP_TX_MERCHANT_REGISTER, w->book.pk, "Boekhandel Riemer",
                       "culture", "school-supplies");
  t[n++] = fx_issue1("sport-2027", "batch-1", &r[0], w->pass1.pk, 15000);
  t[n++] = fx_issue1("sport-2027", "batch-2", &r[1], w->pass2.pk, 15000);
  t[n++] = fx_issue1("school-2027", "batch-s1", &r[2], w->pass1.pk, 10000);
  t[n++] = fx_issue1("late-2027", "batch-l1", &r[3], w->pass1.pk, 5000);
  /* two rows, sorted by pass key */
  t[n] = fx_issue1("short-2027", "batch-h1", &r[4], w->pass1.pk, 8000);
  memcpy(r[5].pass, w->pass2.pk, SP_PK_LEN);
  r[5].amount = 2000;
  qsort(&r[4], 2, sizeof(r[0]), cmp_row);
  t[n++].u.issue.n_rows = 2;
  assert_int_equal(n, BASE_AUTH_TXS);
  for (int i = 0; i < n; i++)
    fx_sign_as(f, &f->authority, &t[i], &d[i]);
  fx_commit(f, d, (size_t)n);
  for (int i = 0; i < n; i++)
    sp_tx_clear(&d[i]);
  f->now = T0 + DAY;
}

/* ========================================================== snapshots */

#define MAX_FUNDS 16

struct snap {
  struct sp_tip tip;
  int acc_rc[NK];
  struct sp_account_info acc[NK];
  uint32_t n_funds;
  struct sp_fund_info funds[MAX_FUNDS];
  char spending[4096];
};

static int snap_fund(const struct sp_fund_info *fi, void *arg)
{
  struct snap *s = arg;
  assert_true(s->n_funds < MAX_FUNDS);
  memcpy(&s->funds[s->n_funds++], fi, sizeof(*fi));
  return 0;
}

static int snap_spending(const char *cat, uint64_t cents, void *arg)
{
  char *buf = arg;
  size_t len = strlen(buf);
  snprintf(buf + len, 4096 - len, "%s=%llu;", cat, (unsigned long long)cents);
  return 0;
}

/* Everything queryable about the state the rows can touch. */
static struct snap *snap_take(struct world *w)
{
  struct snap *s = calloc(1, sizeof(*s));
  assert_non_null(s);
  assert_int_equal(sp_ledger_tip(w->f->l, &s->tip), 0);
  for (int i = 0; i < NK; i++)
    s->acc_rc[i] = sp_ledger_account(w->f->l, wkey(w, i)->pk, &s->acc[i]);
  assert_int_equal(sp_ledger_funds(w->f->l, snap_fund, s), 0);
  for (uint32_t i = 0; i < s->n_funds; i++) {
    size_t len = strlen(s->spending);
    snprintf(s->spending + len, sizeof(s->spending) - len, "[%s]", s->funds[i].id);
    assert_int_equal(
        sp_ledger_fund_spending(w->f->l, s->funds[i].id, snap_spending, s->spending), 0);
  }
  return s;
}

static void snap_same(const struct snap *a, const struct snap *b, const char *what)
{
  if (a->tip.height != b->tip.height || memcmp(a->tip.hash, b->tip.hash, SP_HASH_LEN) ||
      memcmp(a->tip.state_digest, b->tip.state_digest, SP_HASH_LEN) ||
      a->tip.time_ms != b->tip.time_ms)
    fail_msg("%s: the tip changed", what);
  for (int i = 0; i < NK; i++) {
    if (a->acc_rc[i] != b->acc_rc[i])
      fail_msg("%s: account %d appeared or vanished", what, i);
    if (memcmp(&a->acc[i], &b->acc[i], sizeof(a->acc[i])) != 0)
      fail_msg(
          "%s: account %d changed (seq %llu -> %llu, status %u -> %u, rows %u -> %u)",
          what, i, (unsigned long long)a->acc[i].seq, (unsigned long long)b->acc[i].seq,
          a->acc[i].status, b->acc[i].status, a->acc[i].n_rows, b->acc[i].n_rows);
  }
  if (a->n_funds != b->n_funds)
    fail_msg("%s: number of funds changed", what);
  for (uint32_t i = 0; i < a->n_funds; i++)
    if (memcmp(&a->funds[i], &b->funds[i], sizeof(a->funds[i])) != 0)
      fail_msg("%s: fund '%s' changed", what, a->funds[i].id);
  if (strcmp(a->spending, b->spending) != 0)
    fail_msg("%s: spending per category changed: %s -> %s", what, a->spending,
             b->spending);
}

/* ============================================== table of refusals */

struct row {
  const char *name;
  void (*setup)(struct world *w); /* extra state on top of the base world */
  void (*build)(struct world *w, struct sp_tx *d); /* the offending signed tx */
  int reason;
  const char *substr; /* the message must contain this (and w->expect if set) */
};

/* ---------------------------------------------------------- setups */

static void s_paid(struct world *w) /* pass1 paid club 12.50 from sport-2027 */
{
  commit_as(w, &w->pass1, fx_pay(w->club.pk, "sport-2027", 1250), w->pay_id);
}

static void s_paid_refunded(struct world *w) /* ... and club refunded 2.50 */
{
  s_paid(w);
  commit_as(w, &w->club, tx_refund(w->pay_id, 250), NULL);
}

static void s_claimed_all(struct world *w) /* ... and club claimed all 12.50 */
{
  s_paid(w);
  commit_as(w, &w->club, tx_claim("sport-2027", 1250), w->claim_id);
}

static void s_settled(struct world *w)
{
  s_claimed_all(w);
  commit_auth(w, tx_settle(w->claim_id));
}

static void s_blocked(struct world *w)
{
  commit_auth(w, tx_reason(SP_TX_PASS_BLOCK, w->pass1.pk));
}

static void s_replaced(struct world *w)
{
  commit_auth(w, tx_replace(w->pass1.pk, w->newpass.pk));
}

/* s_paid, then pass1 replaced SP_MAX_PASS_CHAIN + 1 times in a row */
static void s_long_chain(struct world *w)
{
  s_paid(w);
  enum { N = SP_MAX_PASS_CHAIN + 1, PER_BLOCK = 500 };
  static uint8_t keys[N][SP_PK_LEN];
  uint8_t sk[SP_SK_LEN], seed[32] = {0x5e};
  for (int i = 0; i < N; i++) {
    seed[1] = (uint8_t)(i >> 8);
    seed[2] = (uint8_t)i;
    assert_int_equal(sp_keypair_from_seed(keys[i], sk, seed), 0);
  }
  struct sp_tx *d = calloc(PER_BLOCK, sizeof(*d));
  assert_non_null(d);
  for (int i = 0; i < N;) {
    int n = 0;
    for (; n < PER_BLOCK && i < N; n++, i++)
      sign(w, &w->f->authority, tx_replace(i ? keys[i - 1] : w->pass1.pk, keys[i]), &d[n]);
    fx_commit(w->f, d, (size_t)n);
    for (int k = 0; k < n; k++)
      sp_tx_clear(&d[k]);
  }
  free(d);
}

static void s_suspended(struct world *w)
{
  commit_auth(w, tx_reason(SP_TX_MERCHANT_SUSPEND, w->club.pk));
}

static void s_at_expiry(struct world *w) /* exactly short-2027's valid_until */
{
  w->f->now = T0 + 10 * DAY;
}

static void s_before_closable(struct world *w) /* 1 ms before valid_until + grace */
{
  w->f->now = T0 + 10 * DAY + GRACE - 1;
}

static void s_closed(struct world *w)
{
  w->f->now = T0 + 10 * DAY + GRACE;
  commit_auth(w, tx_close("short-2027"));
}

static void s_pass3_school(struct world *w) /* pass3 gets 5.00 of school-2027 */
{
  commit_auth(w, tx_issue1(w, "school-2027", "batch-s3", w->pass3.pk, 500));
}

static void s_near_max(struct world *w) /* sport-2027 deposited == SP_MONEY_MAX */
{
  commit_auth(w, fx_deposit("sport-2027", SP_MONEY_MAX - 100000));
}

/* -------------------------------------------------------- builders */

static void b_pay_other_chain(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, fx_pay(w->club.pk, "sport-2027", 100), d);
  uint8_t other[SP_HASH_LEN];
  memcpy(other, w->f->chain_id, SP_HASH_LEN);
  other[0] ^= 0x80;
  assert_int_equal(sp_tx_sign(d, other, w->pass1.sk), 0); /* same body, other chain */
  fx_redecode(w->f, d);
}

static void b_pay_flipped_sig(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, fx_pay(w->club.pk, "sport-2027", 100), d);
  d->sig[17] ^= 0x01;
  fx_redecode(w->f, d);
}

static void b_seq_too_high(struct world *w, struct sp_tx *d)
{
  w->pass1.seq++; /* skips 1 */
  sign(w, &w->pass1, fx_pay(w->club.pk, "sport-2027", 100), d);
  expect_key(w, "sequence number 2 of ", w->pass1.pk, ", expected 1");
}

static void b_seq_too_low(struct world *w, struct sp_tx *d) /* after s_paid: reuses 1 */
{
  w->pass1.seq--;
  sign(w, &w->pass1, fx_pay(w->club.pk, "sport-2027", 100), d);
  expect_key(w, "sequence number 1 of ", w->pass1.pk, ", expected 2");
}

static void b_seq_auth_low(struct world *w, struct sp_tx *d)
{
  w->f->authority.seq--; /* reuses the base world's last number */
  sign(w, &w->f->authority, fx_deposit("sport-2027", 100), d);
  expect_key(w, "sequence number 20 of ", w->f->authority.pk, ", expected 21");
}

static void b_seq_auth_high(struct world *w, struct sp_tx *d)
{
  w->f->authority.seq += 5;
  sign(w, &w->f->authority, fx_deposit("sport-2027", 100), d);
  expect_key(w, "sequence number 26 of ", w->f->authority.pk, ", expected 21");
}

static void b_pass_creates_fund(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1,
       fx_fund_create("my-2027", "Mine", "sport", NULL, T0, T0 + 10 * DAY, 0), d);
  expect_key(w, "fund.create may be signed only by the authority, not ", w->pass1.pk, "");
}

static void b_merchant_issues(struct world *w, struct sp_tx *d)
{
  sign(w, &w->club, tx_issue1(w, "sport-2027", "batch-x", w->pass1.pk, 100), d);
  expect_key(w, "issue may be signed only by the authority, not ", w->club.pk, "");
}

static void b_merchant_reinstates(struct world *w, struct sp_tx *d)
{
  sign(w, &w->club, tx_reason(SP_TX_MERCHANT_REINSTATE, w->club.pk), d);
}

static void b_validator_settles(struct world *w, struct sp_tx *d)
{
  uint8_t id[SP_HASH_LEN];
  memset(id, 0x5a, sizeof(id));
  sign(w, &w->f->validators[0], tx_settle(id), d);
}

static void b_deposit_zero(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, fx_deposit("sport-2027", 0), d);
}

static void b_pay_part_zero(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, tx_pay2(w->book.pk, "school-2027", 100, "sport-2027", 0), d);
}

static void b_issue_row_zero(struct world *w, struct sp_tx *d)
{
  const uint8_t *pks[3] = {w->pass1.pk, w->pass2.pk, w->pass3.pk};
  const uint64_t cents[3] = {100, 0, 300};
  struct sp_tx t = tx_issue(w, "sport-2027", "batch-z", 3, pks, cents);
  for (uint32_t i = 0; i < 3; i++)
    if (w->rows[i].amount == 0)
      snprintf(w->expect, sizeof(w->expect), "issue row %u has amount zero", i + 1);
  sign(w, &w->f->authority, t, d);
}

static void b_claim_zero(struct world *w, struct sp_tx *d)
{
  sign(w, &w->club, tx_claim("sport-2027", 0), d);
}

static void b_refund_zero(struct world *w, struct sp_tx *d)
{
  sign(w, &w->club, tx_refund(w->pay_id, 0), d);
}

static void b_deposit_one(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, fx_deposit("sport-2027", 1), d);
}

static void b_issue_total_overflow(struct world *w, struct sp_tx *d)
{
  const uint8_t *pks[2] = {w->pass1.pk, w->pass2.pk};
  const uint64_t cents[2] = {SP_MONEY_MAX, SP_MONEY_MAX};
  sign(w, &w->f->authority, tx_issue(w, "sport-2027", "batch-big", 2, pks, cents), d);
}

static void b_deposit_unknown(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, fx_deposit("nope-2027", 100), d);
}

static void b_pay_unknown_fund(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, fx_pay(w->club.pk, "nope-2027", 100), d);
}

static void b_issue_unknown_fund(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_issue1(w, "nope-2027", "batch-n", w->pass1.pk, 100), d);
}

static void b_claim_unknown_fund(struct world *w, struct sp_tx *d)
{
  sign(w, &w->club, tx_claim("nope-2027", 100), d);
}

static void b_close_unknown_fund(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_close("nope-2027"), d);
}

static void b_fund_exists(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority,
       fx_fund_create("sport-2027", "Again", "sport", NULL, T0, T0 + 10 * DAY, 0), d);
}

static void b_pay_late(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, fx_pay(w->club.pk, "late-2027", 100), d);
}

static void b_pay_short(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, fx_pay(w->club.pk, "short-2027", 100), d);
}

static void b_issue_short(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_issue1(w, "short-2027", "batch-h2", w->pass3.pk, 100), d);
}

static void b_deposit_short(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, fx_deposit("short-2027", 100), d);
}

static void b_close_short(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_close("short-2027"), d);
}

static void b_close_sport(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_close("sport-2027"), d);
}

static void b_fund_unknown_cat(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority,
       fx_fund_create("bikes-2027", "Fietsen", "bike-repair", "sport", T0, T0 + 10 * DAY,
                      0),
       d);
}

static void b_register_unknown_cat(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority,
       tx_merchant(SP_TX_MERCHANT_REGISTER, w->ghost.pk, "Fietsmaker", "bike-repair",
                   NULL),
       d);
}

static void b_update_unknown_cat(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority,
       tx_merchant(SP_TX_MERCHANT_UPDATE, w->club.pk, "Sportclub Be Quick", "bike-repair",
                   "sport"),
       d);
}

static void b_pay_shop_sport(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, fx_pay(w->shop.pk, "sport-2027", 500), d);
}

static void b_pay_club_school(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, fx_pay(w->club.pk, "school-2027", 500), d);
}

static void b_pay_book_split_short(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, tx_pay2(w->book.pk, "school-2027", 100, "short-2027", 100), d);
}

static void b_pay_over_max(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, fx_pay(w->club.pk, "sport-2027", 5001), d);
}

static void b_pay_no_credit(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass3, fx_pay(w->club.pk, "sport-2027", 100), d);
}

static void b_pay_over_balance(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, fx_pay(w->book.pk, "school-2027", 10001), d);
}

static void b_pay_split_over_balance(struct world *w,
                                     struct sp_tx *d) /* s_pass3_school */
{
  /* the first part is covered, the second is not */
  sign(w, &w->pass3, tx_pay2(w->book.pk, "school-2027", 100, "sport-2027", 100), d);
}

static void b_pay_by_stranger(struct world *w, struct sp_tx *d)
{
  sign(w, &w->stranger, fx_pay(w->club.pk, "sport-2027", 100), d);
  expect_key(w, "pass ", w->stranger.pk, " is not enrolled");
}

static void b_pay_by_merchant(struct world *w, struct sp_tx *d)
{
  sign(w, &w->club, fx_pay(w->club2.pk, "sport-2027", 100), d);
  expect_key(w, "pass ", w->club.pk, " is not enrolled");
}

static void b_issue_to_stranger(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_issue1(w, "sport-2027", "batch-u", w->stranger.pk, 100),
       d);
  expect_key(w, "pass ", w->stranger.pk, " is not enrolled");
}

static void b_issue_to_merchant(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_issue1(w, "sport-2027", "batch-u", w->club.pk, 100), d);
  expect_key(w, "pass ", w->club.pk, " is not enrolled");
}

static void b_block_stranger(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_reason(SP_TX_PASS_BLOCK, w->stranger.pk), d);
  expect_key(w, "pass ", w->stranger.pk, " is not enrolled");
}

static void b_replace_stranger(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_replace(w->stranger.pk, w->newpass.pk), d);
  expect_key(w, "pass ", w->stranger.pk, " is not enrolled");
}

static void b_pay_pass1(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, fx_pay(w->club.pk, "sport-2027", 100), d);
}

static void b_block_pass1(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_reason(SP_TX_PASS_BLOCK, w->pass1.pk), d);
}

static void b_unblock_pass2(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_reason(SP_TX_PASS_UNBLOCK, w->pass2.pk), d);
  expect_key(w, "pass ", w->pass2.pk, " is not blocked");
}

static void b_issue_to_pass1(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_issue1(w, "sport-2027", "batch-p1", w->pass1.pk, 100), d);
}

static void b_replace_pass1_again(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_replace(w->pass1.pk, w->stranger.pk), d);
  expect_key(w, "pass ", w->pass1.pk, " has been replaced");
}

static void b_unblock_pass1(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_reason(SP_TX_PASS_UNBLOCK, w->pass1.pk), d);
}

static void b_pay_to_ghost(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, fx_pay(w->ghost.pk, "sport-2027", 100), d);
  expect_key(w, "merchant ", w->ghost.pk, " is not registered");
}

static void b_pay_to_pass(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, fx_pay(w->pass2.pk, "sport-2027", 100), d);
  expect_key(w, "merchant ", w->pass2.pk, " is not registered");
}

static void b_refund_by_pass(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, tx_refund(w->pay_id, 100), d);
  expect_key(w, "merchant ", w->pass1.pk, " is not registered");
}

static void b_claim_by_stranger(struct world *w, struct sp_tx *d)
{
  sign(w, &w->stranger, tx_claim("sport-2027", 100), d);
  expect_key(w, "merchant ", w->stranger.pk, " is not registered");
}

static void b_suspend_ghost(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_reason(SP_TX_MERCHANT_SUSPEND, w->ghost.pk), d);
  expect_key(w, "merchant ", w->ghost.pk, " is not registered");
}

static void b_update_pass(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority,
       tx_merchant(SP_TX_MERCHANT_UPDATE, w->pass1.pk, "Not a shop", "sport", NULL), d);
  expect_key(w, "merchant ", w->pass1.pk, " is not registered");
}

static void b_pay_club(struct world *w, struct sp_tx *d)
{
  sign(w, &w->pass1, fx_pay(w->club.pk, "sport-2027", 100), d);
}

static void b_suspend_club(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_reason(SP_TX_MERCHANT_SUSPEND, w->club.pk), d);
}

static void b_reinstate_club(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_reason(SP_TX_MERCHANT_REINSTATE, w->club.pk), d);
}

static void b_enroll_authority(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, fx_enroll(w->f->authority.pk), d);
  expect_key(w, "key ", w->f->authority.pk, " is already in use");
}

static void b_enroll_pass_again(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, fx_enroll(w->pass2.pk), d);
  expect_key(w, "key ", w->pass2.pk, " is already in use");
}

static void b_enroll_merchant_key(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, fx_enroll(w->club.pk), d);
  expect_key(w, "key ", w->club.pk, " is already in use");
}

static void b_register_pass_key(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, fx_merchant(w->pass1.pk, "Stiekem", "sport"), d);
  expect_key(w, "key ", w->pass1.pk, " is already in use");
}

static void b_register_again(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, fx_merchant(w->club.pk, "Sportclub Be Quick", "sport"), d);
  expect_key(w, "key ", w->club.pk, " is already in use");
}

static void b_replace_onto_pass(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_replace(w->pass2.pk, w->pass3.pk), d);
  expect_key(w, "key ", w->pass3.pk, " is already in use");
}

static void b_replace_onto_merchant(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_replace(w->pass2.pk, w->club.pk), d);
  expect_key(w, "key ", w->club.pk, " is already in use");
}

static void b_replace_onto_authority(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_replace(w->pass2.pk, w->f->authority.pk), d);
  expect_key(w, "key ", w->f->authority.pk, " is already in use");
}

static void b_issue_duplicate(struct world *w, struct sp_tx *d)
{
  /* a different row under an already used (fund, ref) */
  sign(w, &w->f->authority, tx_issue1(w, "sport-2027", "batch-1", w->pass2.pk, 5000), d);
}

static void b_issue_duplicate_same(struct world *w, struct sp_tx *d)
{
  /* the very same batch uploaded again */
  sign(w, &w->f->authority, tx_issue1(w, "sport-2027", "batch-1", w->pass1.pk, 15000), d);
}

static void b_issue_over_budget(struct world *w, struct sp_tx *d)
{
  sign(w, &w->f->authority, tx_issue1(w, "sport-2027", "batch-3", w->pass3.pk, 70001), d);
}

static void b_issue_over_budget_rows(struct world *w, struct sp_tx *d)
{
  const uint8_t *pks[2] = {w->pass2.pk, w->pass3.pk};
  const uint64_t cents[2] = {5000, 5001}; /* 100.01 of 100.00 left */
  sign(w, &w->f->authority, tx_issue(w, "short-2027", "batch-h2", 2, pks, cents), d);
}

static void b_refund_random(struct world *w, struct sp_tx *d)
{
  uint8_t id[SP_HASH_LEN];
  memset(id, 0xab, sizeof(id));
  sign(w, &w->club, tx_refund(id, 100), d);
  expect_key(w, "payment ", id, " does not exist");
}

static void b_refund_claim_id(struct world *w, struct sp_tx *d)
{
  sign(w, &w->club, tx_refund(w->claim_id, 100), d);
  expect_key(w, "payment ", w->claim_id, " does not exist");
}

static void b_refund_by_club2(struct world *w, struct sp_tx *d)
{
  sign(w, &w->club2, tx_refund(w->pay_id, 100), d);
  expect_key(w, "payment ", w->pay_id, " was made to another merchant");
}

static void b_refund_too_much(struct world *w,
                              struct sp_tx *d) /* after s_paid_refunded */
{
  sign(w, &w->club, tx_refund(w->pay_id, 1001), d);
  expect_key(w, "refund of €10.01 exceeds the €10.00 left of payment ", w->pay_id, "");
}

static void b_refund_whole_again(struct world *w,
                                 struct sp_tx *d) /* after s_paid_refunded */
{
  sign(w, &w->club, tx_refund(w->pay_id, 1250), d);
}

static void b_claim_too_much(struct world *w, struct sp_tx *d) /* after s_paid */
{
  sign(w, &w->club, tx_claim("sport-2027", 1251), d);
}

static void b_claim_nothing_received(struct world *w, struct sp_tx *d)
{
  sign(w, &w->club2, tx_claim("sport-2027", 1), d);
}

static void b_refund_after_claim(struct world *w,
                                 struct sp_tx *d) /* after s_claimed_all */
{
  sign(w, &w->club, tx_refund(w->pay_id, 100), d);
}

static void b_settle_random(struct world *w, struct sp_tx *d)
{
  uint8_t id[SP_HASH_LEN];
  memset(id, 0xcd, sizeof(id));
  sign(w, &w->f->authority, tx_settle(id), d);
  expect_key(w, "claim ", id, " does not exist");
}

static void b_settle_payment(struct world *w, struct sp_tx *d) /* after s_paid */
{
  sign(w, &w->f->authority, tx_settle(w->pay_id), d);
  expect_key(w, "claim ", w->pay_id, " does not exist");
}

static void b_settle_again(struct world *w, struct sp_tx *d) /* after s_settled */
{
  sign(w, &w->f->authority, tx_settle(w->claim_id), d);
  expect_key(w, "claim ", w->claim_id, " is already settled");
}

#define ROW(name, setup, build, reason, substr)                                          \
  {                                                                                      \
    name, setup, build, SP_R_##reason, substr                                            \
  }

static const struct row rows[] = {
    ROW("bad-signature: signed for another chain", NULL, b_pay_other_chain, BAD_SIGNATURE,
        "signature does not verify for this chain"),
    ROW("bad-signature: flipped signature byte", NULL, b_pay_flipped_sig, BAD_SIGNATURE,
        "signature does not verify for this chain"),
    ROW("wrong-sequence: pass too high", NULL, b_seq_too_high, WRONG_SEQUENCE,
        "sequence number 2"),
    ROW("wrong-sequence: pass too low (number reused)", s_paid, b_seq_too_low,
        WRONG_SEQUENCE, "expected 2"),
    ROW("wrong-sequence: authority too low", NULL, b_seq_auth_low, WRONG_SEQUENCE,
        "expected 21"),
    ROW("wrong-sequence: authority too high", NULL, b_seq_auth_high, WRONG_SEQUENCE,
        "expected 21"),
    ROW("not-authority: pass signs fund.create", NULL, b_pass_creates_fund, NOT_AUTHORITY,
        "fund.create may be signed only by the authority"),
    ROW("not-authority: merchant signs issue", NULL, b_merchant_issues, NOT_AUTHORITY,
        "issue may be signed only by the authority"),
    ROW("not-authority: merchant signs merchant.reinstate", NULL, b_merchant_reinstates,
        NOT_AUTHORITY, "merchant.reinstate may be signed only by the authority"),
    ROW("not-authority: validator signs claim.settle", NULL, b_validator_settles,
        NOT_AUTHORITY, "claim.settle may be signed only by the authority"),
    ROW("amount-zero: deposit 0", NULL, b_deposit_zero, AMOUNT_ZERO,
        "deposit amount is zero"),
    ROW("amount-zero: pay part 0", NULL, b_pay_part_zero, AMOUNT_ZERO,
        "payment from fund 'sport-2027' is zero"),
    ROW("amount-zero: issue row 0", NULL, b_issue_row_zero, AMOUNT_ZERO,
        "has amount zero"),
    ROW("amount-zero: claim 0", s_paid, b_claim_zero, AMOUNT_ZERO,
        "claim amount is zero"),
    ROW("amount-zero: refund 0", s_paid, b_refund_zero, AMOUNT_ZERO,
        "refund amount is zero"),
    ROW("amount-overflow: deposit past SP_MONEY_MAX", s_near_max, b_deposit_one,
        AMOUNT_OVERFLOW, "fund deposit would overflow"),
    ROW("amount-overflow: issue total past SP_MONEY_MAX", NULL, b_issue_total_overflow,
        AMOUNT_OVERFLOW, "issue total would overflow"),
    ROW("unknown-fund: deposit", NULL, b_deposit_unknown, UNKNOWN_FUND,
        "unknown fund 'nope-2027'"),
    ROW("unknown-fund: pay", NULL, b_pay_unknown_fund, UNKNOWN_FUND,
        "unknown fund 'nope-2027'"),
    ROW("unknown-fund: issue", NULL, b_issue_unknown_fund, UNKNOWN_FUND,
        "unknown fund 'nope-2027'"),
    ROW("unknown-fund: claim", s_paid, b_claim_unknown_fund, UNKNOWN_FUND,
        "unknown fund 'nope-2027'"),
    ROW("unknown-fund: close", NULL, b_close_unknown_fund, UNKNOWN_FUND,
        "unknown fund 'nope-2027'"),
    ROW("fund-exists: create sport-2027 again", NULL, b_fund_exists, FUND_EXISTS,
        "fund 'sport-2027' already exists"),
    ROW("fund-not-yet-open: pay before valid_from", NULL, b_pay_late, FUND_NOT_OPEN,
        "fund 'late-2027' is not open yet"),
    ROW("fund-expired: pay at valid_until", s_at_expiry, b_pay_short, FUND_EXPIRED,
        "fund 'short-2027' has expired"),
    ROW("fund-expired: issue at valid_until", s_at_expiry, b_issue_short, FUND_EXPIRED,
        "fund 'short-2027' has expired"),
    ROW("fund-closed: pay", s_closed, b_pay_short, FUND_CLOSED,
        "fund 'short-2027' is closed"),
    ROW("fund-closed: deposit", s_closed, b_deposit_short, FUND_CLOSED,
        "fund 'short-2027' is closed"),
    ROW("fund-closed: issue", s_closed, b_issue_short, FUND_CLOSED,
        "fund 'short-2027' is closed"),
    ROW("fund-closed: close twice", s_closed, b_close_short, FUND_CLOSED,
        "fund 'short-2027' is already closed"),
    ROW("fund-not-closable: 1 ms before valid_until + grace", s_before_closable,
        b_close_short, FUND_NOT_CLOSABLE,
        "fund 'short-2027' can be closed only after its validity and grace period end"),
    ROW("fund-not-closable: fund still valid", NULL, b_close_sport, FUND_NOT_CLOSABLE,
        "fund 'sport-2027' can be closed only after"),
    ROW("unknown-category: fund.create", NULL, b_fund_unknown_cat, UNKNOWN_CATEGORY,
        "category 'bike-repair' is not in the genesis list"),
    ROW("unknown-category: merchant.register", NULL, b_register_unknown_cat,
        UNKNOWN_CATEGORY, "category 'bike-repair' is not in the genesis list"),
    ROW("unknown-category: merchant.update", NULL, b_update_unknown_cat, UNKNOWN_CATEGORY,
        "category 'bike-repair' is not in the genesis list"),
    ROW("category-not-allowed: supermarket, sport fund", NULL, b_pay_shop_sport,
        CATEGORY_NOT_ALLOWED,
        "merchant 'Jumbo Centrum' (food) is not allowed by fund 'sport-2027' (culture, "
        "sport)"),
    ROW("category-not-allowed: sport club, school fund", NULL, b_pay_club_school,
        CATEGORY_NOT_ALLOWED,
        "merchant 'Sportclub Be Quick' (sport) is not allowed by fund 'school-2027' "
        "(school-supplies)"),
    ROW("category-not-allowed: second part of a split payment", NULL,
        b_pay_book_split_short, CATEGORY_NOT_ALLOWED,
        "merchant 'Boekhandel Riemer' (culture, school-supplies) is not allowed by fund "
        "'short-2027' (sport)"),
    ROW("over-max-payment", NULL, b_pay_over_max, OVER_MAX_PAYMENT,
        "€50.01 from fund 'sport-2027' is over its maximum of €50.00 per payment"),
    ROW("insufficient-balance: no credit at all", NULL, b_pay_no_credit,
        INSUFFICIENT_BALANCE,
        "paying €1.00 from fund 'sport-2027' needs more than the €0.00 on the pass"),
    ROW("insufficient-balance: one cent more than the balance", NULL, b_pay_over_balance,
        INSUFFICIENT_BALANCE,
        "paying €100.01 from fund 'school-2027' needs more than the €100.00 on the pass"),
    ROW("insufficient-balance: second part of a split payment", s_pass3_school,
        b_pay_split_over_balance, INSUFFICIENT_BALANCE,
        "paying €1.00 from fund 'sport-2027' needs more than the €0.00 on the pass"),
    ROW("unknown-pass: pay signed by a key never enrolled", NULL, b_pay_by_stranger,
        UNKNOWN_PASS, "is not enrolled"),
    ROW("unknown-pass: pay signed by a merchant key", NULL, b_pay_by_merchant,
        UNKNOWN_PASS, "is not enrolled"),
    ROW("unknown-pass: issue to an unknown key", NULL, b_issue_to_stranger, UNKNOWN_PASS,
        "is not enrolled"),
    ROW("unknown-pass: issue to a merchant key", NULL, b_issue_to_merchant, UNKNOWN_PASS,
        "is not enrolled"),
    ROW("unknown-pass: block an unknown pass", NULL, b_block_stranger, UNKNOWN_PASS,
        "is not enrolled"),
    ROW("unknown-pass: replace an unknown pass", NULL, b_replace_stranger, UNKNOWN_PASS,
        "is not enrolled"),
    ROW("pass-blocked: blocked pass pays", s_blocked, b_pay_pass1, PASS_BLOCKED,
        "is blocked"),
    ROW("pass-blocked: block twice", s_blocked, b_block_pass1, PASS_BLOCKED,
        "is already blocked"),
    ROW("pass-blocked: issue to a blocked pass", s_blocked, b_issue_to_pass1,
        PASS_BLOCKED, "is blocked"),
    ROW("pass-not-blocked: unblock an active pass", NULL, b_unblock_pass2,
        PASS_NOT_BLOCKED, "is not blocked"),
    ROW("pass-replaced: old pass pays", s_replaced, b_pay_pass1, PASS_REPLACED,
        "has been replaced"),
    ROW("pass-replaced: replace it again", s_replaced, b_replace_pass1_again,
        PASS_REPLACED, "has been replaced"),
    ROW("pass-replaced: block the old pass", s_replaced, b_block_pass1, PASS_REPLACED,
        "has been replaced"),
    ROW("pass-replaced: unblock the old pass", s_replaced, b_unblock_pass1, PASS_REPLACED,
        "has been replaced"),
    ROW("pass-replaced: issue to the old pass", s_replaced, b_issue_to_pass1,
        PASS_REPLACED, "has been replaced"),
    ROW("unknown-merchant: pay to an unregistered key", NULL, b_pay_to_ghost,
        UNKNOWN_MERCHANT, "is not registered"),
    ROW("unknown-merchant: pay to a pass key", NULL, b_pay_to_pass, UNKNOWN_MERCHANT,
        "is not registered"),
    ROW("unknown-merchant: refund signed by a pass", s_paid, b_refund_by_pass,
        UNKNOWN_MERCHANT, "is not registered"),
    ROW("unknown-merchant: claim signed by an unknown key", NULL, b_claim_by_stranger,
        UNKNOWN_MERCHANT, "is not registered"),
    ROW("unknown-merchant: suspend an unregistered key", NULL, b_suspend_ghost,
        UNKNOWN_MERCHANT, "is not registered"),
    ROW("unknown-merchant: update a pass as merchant", NULL, b_update_pass,
        UNKNOWN_MERCHANT, "is not registered"),
    ROW("merchant-suspended: pay to a suspended merchant", s_suspended, b_pay_club,
        MERCHANT_SUSPENDED, "merchant 'Sportclub Be Quick' is suspended"),
    ROW("merchant-suspended: suspend twice", s_suspended, b_suspend_club,
        MERCHANT_SUSPENDED, "merchant 'Sportclub Be Quick' is already suspended"),
    ROW("merchant-not-suspended: reinstate an active merchant", NULL, b_reinstate_club,
        MERCHANT_NOT_SUSPENDED, "merchant 'Sportclub Be Quick' is not suspended"),
    ROW("key-in-use: enroll the authority key", NULL, b_enroll_authority, KEY_IN_USE,
        "is already in use"),
    ROW("key-in-use: enroll a pass twice", NULL, b_enroll_pass_again, KEY_IN_USE,
        "is already in use"),
    ROW("key-in-use: enroll a merchant key", NULL, b_enroll_merchant_key, KEY_IN_USE,
        "is already in use"),
    ROW("key-in-use: register a merchant with a pass key", NULL, b_register_pass_key,
        KEY_IN_USE, "is already in use"),
    ROW("key-in-use: register a merchant twice", NULL, b_register_again, KEY_IN_USE,
        "is already in use"),
    ROW("key-in-use: replace onto an enrolled pass", NULL, b_replace_onto_pass,
        KEY_IN_USE, "is already in use"),
    ROW("key-in-use: replace onto a merchant key", NULL, b_replace_onto_merchant,
        KEY_IN_USE, "is already in use"),
    ROW("key-in-use: replace onto the authority key", NULL, b_replace_onto_authority,
        KEY_IN_USE, "is already in use"),
    ROW("duplicate-issuance: same fund and ref, other rows", NULL, b_issue_duplicate,
        DUPLICATE_ISSUANCE,
        "issuance 'batch-1' of fund 'sport-2027' was already made; nothing issued twice"),
    ROW("duplicate-issuance: the same batch re-uploaded", NULL, b_issue_duplicate_same,
        DUPLICATE_ISSUANCE, "issuance 'batch-1' of fund 'sport-2027' was already made"),
    ROW("issuance-over-budget: one row", NULL, b_issue_over_budget, ISSUANCE_OVER_BUDGET,
        "issuing €700.01 exceeds the €700.00 left in the budget of fund 'sport-2027'"),
    ROW("issuance-over-budget: rows together", NULL, b_issue_over_budget_rows,
        ISSUANCE_OVER_BUDGET,
        "issuing €100.01 exceeds the €100.00 left in the budget of fund 'short-2027'"),
    ROW("unknown-payment: random id", NULL, b_refund_random, UNKNOWN_PAYMENT,
        "does not exist"),
    ROW("unknown-payment: a claim's id", s_claimed_all, b_refund_claim_id,
        UNKNOWN_PAYMENT, "does not exist"),
    ROW("not-your-payment: another merchant refunds", s_paid, b_refund_by_club2,
        NOT_YOUR_PAYMENT, "was made to another merchant"),
    ROW("refund-exceeds-payment: more than what is left", s_paid_refunded,
        b_refund_too_much, REFUND_EXCEEDS_PAYMENT, "exceeds the €10.00 left of payment"),
    ROW("refund-exceeds-payment: the whole payment after a partial refund",
        s_paid_refunded, b_refund_whole_again, REFUND_EXCEEDS_PAYMENT,
        "refund of €12.50 exceeds the €10.00 left"),
    ROW("insufficient-receivable: claim more than received", s_paid, b_claim_too_much,
        INSUFFICIENT_RECEIVABLE,
        "claiming €12.51 from fund 'sport-2027' exceeds the €12.50 received"),
    ROW("insufficient-receivable: claim with nothing received", NULL,
        b_claim_nothing_received, INSUFFICIENT_RECEIVABLE,
        "claiming €0.01 from fund 'sport-2027' exceeds the €0.00 received"),
    ROW("insufficient-receivable: refund after claiming everything", s_claimed_all,
        b_refund_after_claim, INSUFFICIENT_RECEIVABLE,
        "refunding €1.00 from fund 'sport-2027' needs more than the €0.00 not yet "
        "claimed"),
    ROW("pass-chain-too-long: refund after 1001 replacements of the pass", s_long_chain,
        b_refund_after_claim, PASS_CHAIN_TOO_LONG, "was replaced more than 1000 times"),
    ROW("unknown-claim: random id", NULL, b_settle_random, UNKNOWN_CLAIM,
        "does not exist"),
    ROW("unknown-claim: a payment's id", s_paid, b_settle_payment, UNKNOWN_CLAIM,
        "does not exist"),
    ROW("claim-already-settled: settle twice", s_settled, b_settle_again, CLAIM_SETTLED,
        "is already settled"),
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static void check_msg(const struct row *r, const struct world *w,
                      const struct sp_refusal *why, const char *via)
{
  if (strstr(why->msg, r->substr) == NULL)
    fail_msg("%s (%s): message \"%s\" lacks \"%s\"", r->name, via, why->msg, r->substr);
  if (w->expect[0] && strstr(why->msg, w->expect) == NULL)
    fail_msg("%s (%s): message \"%s\" lacks \"%s\"", r->name, via, why->msg, w->expect);
}

static void test_refusal(void **state)
{
  const struct row *r = *state;
  struct world w;
  world_setup(&w);
  if (r->setup)
    r->setup(&w);
  struct fx *f = w.f;
  uint64_t seqs[NK];
  for (int i = 0; i < NK; i++)
    seqs[i] = wkey(&w, i)->seq;
  w.expect[0] = 0;

  struct sp_tx d;
  r->build(&w, &d);
  struct snap *before = snap_take(&w);

  /* (a) proposing it: not taken, with the reason and a clear message */
  struct sp_refusal why;
  memset(&why, 0, sizeof(why));
  int got = fx_try(f, &d, &why);
  if (got != r->reason)
    fail_msg("%s: proposal gave %d %s (\"%s\"), expected %d %s", r->name, got,
             sp_reason_name(got), why.msg, r->reason, sp_reason_name(r->reason));
  check_msg(r, &w, &why, "propose");
  struct snap *mid = snap_take(&w);
  snap_same(before, mid, r->name);

  /* (b) mempool admission: the same reason and message */
  struct sp_refusal why2;
  memset(&why2, 0x5a, sizeof(why2));
  int rc = sp_ledger_check_tx(f->l, &d, f->now, &why2);
  if (rc != SP_LE_REFUSED)
    fail_msg("%s: check_tx returned %d (%s)", r->name, rc, sp_ledger_strerror(rc));
  if (why2.reason != r->reason)
    fail_msg("%s: check_tx gave %s (\"%s\"), expected %s", r->name,
             sp_reason_name(why2.reason), why2.msg, sp_reason_name(r->reason));
  check_msg(r, &w, &why2, "check_tx");
  assert_string_equal(why.msg, why2.msg);

  /* (c) nothing changed, and the tx is nowhere in the chain */
  struct snap *after = snap_take(&w);
  snap_same(before, after, r->name);
  uint8_t txid[SP_HASH_LEN];
  struct sp_tx_location loc;
  assert_int_equal(sp_tx_id(&d, f->chain_id, txid), 0);
  assert_int_equal(sp_ledger_find_tx(f->l, txid, &loc), SP_LE_NOTFOUND);

  free(before);
  free(mid);
  free(after);
  sp_tx_clear(&d);
  for (int i = 0; i < NK; i++)
    wkey(&w, i)->seq = seqs[i];
  fx_free(f);
}

/* Every reason a transaction can get has at least one row (MALFORMED is
 * kept out by the codec). */
static void test_table_covers_every_reason(void **state)
{
  (void)state;
  for (int reason = SP_R_BAD_SIGNATURE; reason <= SP_R_PASS_CHAIN_TOO_LONG; reason++) {
    bool found = false;
    for (size_t i = 0; i < N_ROWS; i++)
      found |= rows[i].reason == reason;
    if (!found)
      fail_msg("no refusal row for %s", sp_reason_name(reason));
    assert_string_not_equal(sp_reason_name(reason), "unknown");
  }
}

/* ====================================================== effect tests */

static void assert_fund(struct world *w, const char *id, struct sp_fund_info *fi)
{
  memset(fi, 0, sizeof(*fi));
  assert_int_equal(sp_ledger_fund(w->f->l, id, fi), 0);
  if (!sp_fund_reconciles(fi))
    fail_msg("fund '%s' does not reconcile", id);
}

static int reconcile_cb(const struct sp_fund_info *fi, void *arg)
{
  (*(int *)arg)++;
  if (!sp_fund_reconciles(fi))
    fail_msg("fund '%s' does not reconcile", fi->id);
  return 0;
}

/* sp_fund_reconciles on every fund of the ledger (expect of them) */
static void all_reconcile_n(struct world *w, int expect)
{
  int n = 0;
  assert_int_equal(sp_ledger_funds(w->f->l, reconcile_cb, &n), 0);
  assert_int_equal(n, expect);
}

static void all_reconcile(struct world *w)
{
  all_reconcile_n(w, 4); /* the base world's funds */
}

static struct sp_account_info *account(struct world *w, const uint8_t *pk)
{
  struct sp_account_info *a = calloc(1, sizeof(*a));
  assert_non_null(a);
  assert_int_equal(sp_ledger_account(w->f->l, pk, a), 0);
  return a;
}

static uint64_t seq_of(struct world *w, const uint8_t *pk)
{
  struct sp_account_info *a = account(w, pk);
  uint64_t s = a->seq;
  free(a);
  return s;
}

static uint32_t status_of(struct world *w, const uint8_t *pk)
{
  struct sp_account_info *a = account(w, pk);
  uint32_t s = a->status;
  free(a);
  return s;
}

static uint32_t rows_of(struct world *w, const uint8_t *pk)
{
  struct sp_account_info *a = account(w, pk);
  uint32_t n = a->n_rows;
  free(a);
  return n;
}

/* Try a tx that must be refused with reason; restores the signer's seq. */
static void refused(struct world *w, struct fx_key *k, struct sp_tx t, int reason,
                    const char *substr)
{
  struct sp_tx d;
  sign(w, k, t, &d);
  struct sp_refusal why;
  int got = fx_try(w->f, &d, &why);
  if (got != reason)
    fail_msg("expected %s, got %s (\"%s\")", sp_reason_name(reason), sp_reason_name(got),
             why.msg);
  if (substr && strstr(why.msg, substr) == NULL)
    fail_msg("message \"%s\" lacks \"%s\"", why.msg, substr);
  assert_int_equal(sp_ledger_check_tx(w->f->l, &d, w->f->now, &why), SP_LE_REFUSED);
  assert_int_equal(why.reason, reason);
  sp_tx_clear(&d);
  k->seq--;
}

static void verify_chain(struct world *w)
{
  struct sp_verify_report rep;
  assert_int_equal(sp_ledger_verify(w->f->l, "/tmp", &rep), 0);
  if (!rep.ok)
    fail_msg("verify: block %llu: %s", (unsigned long long)rep.first_bad.height,
             rep.first_bad.msg);
}

struct spend {
  char text[512];
};

static int spend_cb(const char *cat, uint64_t cents, void *arg)
{
  struct spend *s = arg;
  size_t len = strlen(s->text);
  snprintf(s->text + len, sizeof(s->text) - len, "%s=%llu;", cat,
           (unsigned long long)cents);
  return 0;
}

static void assert_spending(struct world *w, const char *fund, const char *expect)
{
  struct spend s;
  memset(&s, 0, sizeof(s));
  assert_int_equal(sp_ledger_fund_spending(w->f->l, fund, spend_cb, &s), 0);
  assert_string_equal(s.text, expect);
}

/* A payment split over two funds, then a refund of it that takes from the
 * parts in order; spending per category. */
static void test_split_payment(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_fund_info fi;

  uint8_t split_id[SP_HASH_LEN];
  commit_as(&w, &w.pass1, tx_pay2(w.book.pk, "school-2027", 2000, "sport-2027", 1500),
            split_id);
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "school-2027"), 8000);
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "sport-2027"), 13500);
  assert_int_equal(fx_balance(w.f, w.book.pk, "school-2027"), 2000);
  assert_int_equal(fx_balance(w.f, w.book.pk, "sport-2027"), 1500);
  assert_int_equal(rows_of(&w, w.book.pk), 2);
  assert_fund(&w, "school-2027", &fi);
  assert_int_equal(fi.passes, 8000);
  assert_int_equal(fi.receivable, 2000);
  assert_int_equal(fi.spent, 2000);
  assert_int_equal(fi.unissued, 40000);
  assert_fund(&w, "sport-2027", &fi);
  assert_int_equal(fi.passes, 28500);
  assert_int_equal(fi.receivable, 1500);
  assert_int_equal(fi.spent, 1500);

  /* a second payment at the sports club, booked under 'sport' */
  commit_as(&w, &w.pass1, fx_pay(w.club.pk, "sport-2027", 1000), NULL);
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "sport-2027"), 12500);
  assert_int_equal(fx_balance(w.f, w.club.pk, "sport-2027"), 1000);
  /* the bookshop (culture, school-supplies) is booked under the category
   * the fund allows: culture in sport-2027, school-supplies in school-2027 */
  assert_spending(&w, "sport-2027", "culture=1500;sport=1000;");
  assert_spending(&w, "school-2027", "school-supplies=2000;");
  assert_spending(&w, "late-2027", "");
  all_reconcile(&w);

  /* refund 25.00 of the split payment: 20.00 from school (all of it), then
   * 5.00 from sport */
  commit_as(&w, &w.book, tx_refund(split_id, 2500), NULL);
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "school-2027"), 10000);
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "sport-2027"), 13000);
  assert_int_equal(fx_balance(w.f, w.book.pk, "school-2027"), 0);
  assert_int_equal(fx_balance(w.f, w.book.pk, "sport-2027"), 1000);
  assert_int_equal(rows_of(&w, w.book.pk), 1);
  assert_fund(&w, "school-2027", &fi);
  assert_int_equal(fi.passes, 10000);
  assert_int_equal(fi.receivable, 0);
  assert_int_equal(fi.refunded, 2000);
  assert_fund(&w, "sport-2027", &fi);
  assert_int_equal(fi.passes, 28000);
  assert_int_equal(fi.receivable, 2000);
  assert_int_equal(fi.refunded, 500);
  assert_int_equal(fi.spent, 2500);
  all_reconcile(&w);
  /* 10.00 of it is left */
  refused(&w, &w.book, tx_refund(split_id, 1001), SP_R_REFUND_EXCEEDS_PAYMENT,
          "exceeds the €10.00 left");
  commit_as(&w, &w.book, tx_refund(split_id, 1000), NULL);
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "sport-2027"), 14000);
  refused(&w, &w.book, tx_refund(split_id, 1), SP_R_REFUND_EXCEEDS_PAYMENT,
          "exceeds the €0.00 left");
  all_reconcile(&w);
  verify_chain(&w);
  fx_free(w.f);
}

/* An issue batch with several rows (sorted by pass key); the issuance
 * reference is per fund; a re-uploaded batch inside a committed block
 * issues nothing. */
static void test_issue_batch(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  struct sp_fund_info fi;

  const uint8_t *pks[3] = {w.pass3.pk, w.pass1.pk, w.pass2.pk};
  const uint64_t cents[3] = {300, 100, 200};
  commit_auth(&w, tx_issue(&w, "school-2027", "batch-s2", 3, pks, cents));
  assert_int_equal(fx_balance(f, w.pass1.pk, "school-2027"), 10100);
  assert_int_equal(fx_balance(f, w.pass2.pk, "school-2027"), 200);
  assert_int_equal(fx_balance(f, w.pass3.pk, "school-2027"), 300);
  assert_fund(&w, "school-2027", &fi);
  assert_int_equal(fi.deposited, 50000);
  assert_int_equal(fi.unissued, 39400);
  assert_int_equal(fi.passes, 10600);
  assert_int_equal(fi.issued, 10600);

  /* the same reference under another fund is another issuance */
  commit_auth(&w, tx_issue1(&w, "sport-2027", "batch-s2", w.pass3.pk, 50));
  assert_int_equal(fx_balance(f, w.pass3.pk, "sport-2027"), 50);

  /* the batch uploaded again, in a block with a good tx: only the good
   * one is taken, nothing is issued twice */
  struct sp_tx t[2], d[2];
  t[0] = tx_issue(&w, "school-2027", "batch-s2", 3, pks, cents);
  t[1] = fx_deposit("school-2027", 1000);
  fx_sign_as(f, &f->authority, &t[0], &d[0]);
  f->authority.seq--; /* the duplicate will be refused: the deposit takes its number */
  fx_sign_as(f, &f->authority, &t[1], &d[1]);
  struct sp_buf blk;
  sp_buf_init(&blk, SP_MAX_BLOCK_BYTES);
  bool acc[2];
  struct sp_refusal why[2];
  assert_int_equal(fx_propose(f, d, 2, &blk, acc, why), 0);
  assert_false(acc[0]);
  assert_int_equal(why[0].reason, SP_R_DUPLICATE_ISSUANCE);
  assert_true(acc[1]);
  struct sp_refusal bw;
  assert_int_equal(fx_apply(f, &blk, &bw), 0);
  sp_buf_free(&blk);
  sp_tx_clear(&d[0]);
  sp_tx_clear(&d[1]);
  assert_int_equal(fx_balance(f, w.pass1.pk, "school-2027"), 10100);
  assert_int_equal(fx_balance(f, w.pass2.pk, "school-2027"), 200);
  assert_int_equal(fx_balance(f, w.pass3.pk, "school-2027"), 300);
  assert_fund(&w, "school-2027", &fi);
  assert_int_equal(fi.deposited, 51000);
  assert_int_equal(fi.unissued, 40400);
  assert_int_equal(fi.issued, 10600);
  assert_int_equal(seq_of(&w, f->authority.pk), f->authority.seq);
  all_reconcile(&w);
  fx_free(f);
}

/* pass.replace moves every balance; the old key is refused; the new key
 * starts at sequence 1; a refund of an old payment credits the new key. */
static void test_replace(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  struct sp_fund_info before[4], fi;
  const char *funds[4] = {"late-2027", "school-2027", "short-2027", "sport-2027"};

  s_paid(&w); /* pass1 paid 12.50 at the club */
  for (int i = 0; i < 4; i++)
    assert_fund(&w, funds[i], &before[i]);
  commit_auth(&w, tx_replace(w.pass1.pk, w.newpass.pk));

  struct sp_account_info *old = account(&w, w.pass1.pk);
  assert_int_equal(old->status, SP_ACCT_REPLACED);
  assert_true(old->has_replacement);
  assert_memory_equal(old->replaced_by, w.newpass.pk, SP_PK_LEN);
  assert_int_equal(old->n_rows, 0);
  assert_int_equal(old->seq, 1);
  struct sp_account_info *nw = account(&w, w.newpass.pk);
  assert_int_equal(nw->kind, SP_ACCT_PASS);
  assert_int_equal(nw->status, SP_ACCT_ACTIVE);
  assert_int_equal(nw->seq, 0);
  assert_false(nw->has_replacement);
  assert_memory_equal(nw->household, old->household, SP_HASH_LEN);
  assert_int_equal(nw->n_rows, 4);
  static const uint64_t moved[4] = {5000, 10000, 8000, 13750};
  for (uint32_t i = 0; i < 4; i++) {
    assert_string_equal(nw->rows[i].fund, funds[i]);
    assert_int_equal(nw->rows[i].amount, moved[i]);
  }
  free(old);
  free(nw);
  /* fund totals do not move */
  for (int i = 0; i < 4; i++) {
    assert_fund(&w, funds[i], &fi);
    assert_memory_equal(&fi, &before[i], sizeof(fi));
  }

  /* the old key is refused, the new one pays with sequence number 1 */
  refused(&w, &w.pass1, fx_pay(w.club.pk, "sport-2027", 100), SP_R_PASS_REPLACED,
          "has been replaced");
  assert_int_equal(w.newpass.seq, 0);
  commit_as(&w, &w.newpass, fx_pay(w.club.pk, "sport-2027", 100), NULL);
  assert_int_equal(seq_of(&w, w.newpass.pk), 1);
  assert_int_equal(fx_balance(f, w.newpass.pk, "sport-2027"), 13650);

  /* the club refunds 5.00 of the old payment: the credit goes to the new
   * pass, not to the replaced one */
  commit_as(&w, &w.club, tx_refund(w.pay_id, 500), NULL);
  assert_int_equal(fx_balance(f, w.newpass.pk, "sport-2027"), 14150);
  assert_int_equal(fx_balance(f, w.pass1.pk, "sport-2027"), 0);
  assert_int_equal(rows_of(&w, w.pass1.pk), 0);
  assert_int_equal(fx_balance(f, w.club.pk, "sport-2027"), 1250 + 100 - 500);

  /* a chain of replacements: refunds follow it to the current key */
  commit_auth(&w, tx_replace(w.newpass.pk, w.stranger.pk));
  commit_as(&w, &w.club, tx_refund(w.pay_id, 250), NULL);
  assert_int_equal(fx_balance(f, w.stranger.pk, "sport-2027"), 14400);
  assert_int_equal(fx_balance(f, w.newpass.pk, "sport-2027"), 0);
  all_reconcile(&w);
  verify_chain(&w);
  fx_free(f);
}

static void test_block_cycle(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  commit_auth(&w, tx_reason(SP_TX_PASS_BLOCK, w.pass1.pk));
  assert_int_equal(status_of(&w, w.pass1.pk), SP_ACCT_BLOCKED);
  refused(&w, &w.pass1, fx_pay(w.club.pk, "sport-2027", 100), SP_R_PASS_BLOCKED,
          "is blocked");
  /* a blocked pass keeps its credit */
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "sport-2027"), 15000);
  commit_auth(&w, tx_reason(SP_TX_PASS_UNBLOCK, w.pass1.pk));
  assert_int_equal(status_of(&w, w.pass1.pk), SP_ACCT_ACTIVE);
  refused(&w, &w.f->authority, tx_reason(SP_TX_PASS_UNBLOCK, w.pass1.pk),
          SP_R_PASS_NOT_BLOCKED, "is not blocked");
  commit_as(&w, &w.pass1, fx_pay(w.club.pk, "sport-2027", 100), NULL);
  assert_int_equal(seq_of(&w, w.pass1.pk), 1);
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "sport-2027"), 14900);
  /* block and replace: the new pass is active and holds the credit */
  commit_auth(&w, tx_reason(SP_TX_PASS_BLOCK, w.pass1.pk));
  commit_auth(&w, tx_replace(w.pass1.pk, w.newpass.pk));
  assert_int_equal(status_of(&w, w.pass1.pk), SP_ACCT_REPLACED);
  assert_int_equal(status_of(&w, w.newpass.pk), SP_ACCT_ACTIVE);
  assert_int_equal(fx_balance(w.f, w.newpass.pk, "sport-2027"), 14900);
  all_reconcile(&w);
  fx_free(w.f);
}

static void test_suspend_cycle(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  commit_as(&w, &w.pass1, fx_pay(w.club.pk, "sport-2027", 700), NULL);
  commit_auth(&w, tx_reason(SP_TX_MERCHANT_SUSPEND, w.club.pk));
  assert_int_equal(status_of(&w, w.club.pk), SP_ACCT_SUSPENDED);
  refused(&w, &w.pass1, fx_pay(w.club.pk, "sport-2027", 100), SP_R_MERCHANT_SUSPENDED,
          "merchant 'Sportclub Be Quick' is suspended");
  /* the suspension keeps what the club earned */
  assert_int_equal(fx_balance(w.f, w.club.pk, "sport-2027"), 700);
  /* other merchants are not affected */
  commit_as(&w, &w.pass1, fx_pay(w.club2.pk, "sport-2027", 100), NULL);
  commit_auth(&w, tx_reason(SP_TX_MERCHANT_REINSTATE, w.club.pk));
  assert_int_equal(status_of(&w, w.club.pk), SP_ACCT_ACTIVE);
  commit_as(&w, &w.pass1, fx_pay(w.club.pk, "sport-2027", 100), NULL);
  assert_int_equal(fx_balance(w.f, w.club.pk, "sport-2027"), 800);
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "sport-2027"), 15000 - 900);
  assert_int_equal(seq_of(&w, w.pass1.pk), 3);
  all_reconcile(&w);
  fx_free(w.f);
}

/* fund.close after valid_until + grace: the passes' credit goes to
 * `returned`, merchants keep their receivables and can still claim them, a
 * refund after the close goes to `returned`, not to the pass. */
static void test_fund_close(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  struct sp_fund_info fi;

  commit_as(&w, &w.pass1, fx_pay(w.club.pk, "short-2027", 3000), w.pay_id);
  uint8_t claim1[SP_HASH_LEN], claim2[SP_HASH_LEN];
  commit_as(&w, &w.club, tx_claim("short-2027", 1000), claim1);
  /* the last millisecond of validity is still open */
  f->now = T0 + 10 * DAY - 1;
  commit_as(&w, &w.pass2, fx_pay(w.club.pk, "short-2027", 500), NULL);
  assert_fund(&w, "short-2027", &fi);
  assert_int_equal(fi.unissued, 10000);
  assert_int_equal(fi.passes, 5000 + 1500);
  assert_int_equal(fi.receivable, 2500);
  assert_int_equal(fi.claimed, 1000);

  /* exactly at valid_until + grace it can be closed */
  f->now = T0 + 10 * DAY + GRACE;
  commit_auth(&w, tx_close("short-2027"));
  assert_fund(&w, "short-2027", &fi);
  assert_true(fi.closed);
  assert_int_equal(fi.deposited, 20000);
  assert_int_equal(fi.unissued, 10000);
  assert_int_equal(fi.passes, 0);
  assert_int_equal(fi.returned, 6500);
  assert_int_equal(fi.receivable, 2500);
  assert_int_equal(fi.claimed, 1000);
  assert_int_equal(fx_balance(f, w.pass1.pk, "short-2027"), 0);
  assert_int_equal(fx_balance(f, w.pass2.pk, "short-2027"), 0);
  /* the passes' other funds are untouched */
  assert_int_equal(fx_balance(f, w.pass1.pk, "sport-2027"), 15000);
  assert_int_equal(fx_balance(f, w.pass2.pk, "sport-2027"), 15000);
  assert_int_equal(rows_of(&w, w.pass1.pk), 3);
  assert_int_equal(rows_of(&w, w.pass2.pk), 1);
  /* the merchant's receivable stays */
  assert_int_equal(fx_balance(f, w.club.pk, "short-2027"), 2500);
  all_reconcile(&w);

  /* and can still be claimed */
  commit_as(&w, &w.club, tx_claim("short-2027", 1500), claim2);
  assert_int_equal(fx_balance(f, w.club.pk, "short-2027"), 1000);
  /* a refund after the close goes back to the budget, not to the pass */
  commit_as(&w, &w.club, tx_refund(w.pay_id, 600), NULL);
  assert_int_equal(fx_balance(f, w.pass1.pk, "short-2027"), 0);
  assert_int_equal(fx_balance(f, w.club.pk, "short-2027"), 400);
  assert_fund(&w, "short-2027", &fi);
  assert_int_equal(fi.returned, 7100);
  assert_int_equal(fi.passes, 0);
  assert_int_equal(fi.receivable, 400);
  assert_int_equal(fi.claimed, 2500);
  assert_int_equal(fi.refunded, 600);
  commit_auth(&w, tx_settle(claim1));
  commit_auth(&w, tx_settle(claim2));
  assert_fund(&w, "short-2027", &fi);
  assert_int_equal(fi.claimed, 0);
  assert_int_equal(fi.settled, 2500);
  all_reconcile(&w);
  verify_chain(&w);
  fx_free(f);
}

/* claim then settle: receivable -> claimed -> settled */
static void test_claim_settle(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_fund_info fi;
  s_paid(&w);
  assert_fund(&w, "sport-2027", &fi);
  assert_int_equal(fi.receivable, 1250);
  assert_int_equal(fi.claimed, 0);
  uint8_t id[SP_HASH_LEN];
  commit_as(&w, &w.club, tx_claim("sport-2027", 1000), id);
  assert_int_equal(fx_balance(w.f, w.club.pk, "sport-2027"), 250);
  assert_fund(&w, "sport-2027", &fi);
  assert_int_equal(fi.receivable, 250);
  assert_int_equal(fi.claimed, 1000);
  assert_int_equal(fi.settled, 0);
  commit_auth(&w, tx_settle(id));
  assert_fund(&w, "sport-2027", &fi);
  assert_int_equal(fi.receivable, 250);
  assert_int_equal(fi.claimed, 0);
  assert_int_equal(fi.settled, 1000);
  assert_int_equal(fi.passes, 28750);
  assert_int_equal(fi.unissued, 70000);
  refused(&w, &w.f->authority, tx_settle(id), SP_R_CLAIM_SETTLED, "is already settled");
  /* the rest, then nothing more */
  commit_as(&w, &w.club, tx_claim("sport-2027", 250), NULL);
  assert_int_equal(rows_of(&w, w.club.pk), 0);
  refused(&w, &w.club, tx_claim("sport-2027", 1), SP_R_INSUFFICIENT_RECEIVABLE,
          "exceeds the €0.00 received");
  assert_int_equal(seq_of(&w, w.club.pk), 2);
  all_reconcile(&w);
  fx_free(w.f);
}

/* merchant.update changes name and categories, and so what funds allow */
static void test_merchant_update(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  commit_auth(&w, tx_merchant(SP_TX_MERCHANT_UPDATE, w.shop.pk, "Jumbo Sport en Spel",
                              "food", "sport"));
  struct sp_account_info *a = account(&w, w.shop.pk);
  assert_string_equal(a->name, "Jumbo Sport en Spel");
  assert_int_equal(a->n_categories, 2);
  assert_string_equal(a->categories[0], "food");
  assert_string_equal(a->categories[1], "sport");
  assert_int_equal(a->status, SP_ACCT_ACTIVE);
  free(a);
  commit_as(&w, &w.pass1, fx_pay(w.shop.pk, "sport-2027", 500), NULL);
  assert_int_equal(fx_balance(w.f, w.shop.pk, "sport-2027"), 500);
  assert_spending(&w, "sport-2027", "sport=500;");

  commit_auth(&w, tx_merchant(SP_TX_MERCHANT_UPDATE, w.club.pk, "Sportclub Be Quick",
                              "food", NULL));
  refused(&w, &w.pass1, fx_pay(w.club.pk, "sport-2027", 100), SP_R_CATEGORY_NOT_ALLOWED,
          "merchant 'Sportclub Be Quick' (food) is not allowed by fund 'sport-2027' "
          "(culture, sport)");
  refused(
      &w, &w.pass1, fx_pay(w.shop.pk, "school-2027", 100), SP_R_CATEGORY_NOT_ALLOWED,
      "merchant 'Jumbo Sport en Spel' (food, sport) is not allowed by fund 'school-2027' "
      "(school-supplies)");

  /* an update keeps a suspension */
  commit_auth(&w, tx_reason(SP_TX_MERCHANT_SUSPEND, w.club2.pk));
  commit_auth(&w, tx_merchant(SP_TX_MERCHANT_UPDATE, w.club2.pk, "Tennisclub Helpman",
                              "culture", "sport"));
  assert_int_equal(status_of(&w, w.club2.pk), SP_ACCT_SUSPENDED);
  all_reconcile(&w);
  fx_free(w.f);
}

static void test_deposit(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct sp_fund_info a, b;
  assert_fund(&w, "sport-2027", &a);
  commit_auth(&w, fx_deposit("sport-2027", 12345));
  assert_fund(&w, "sport-2027", &b);
  assert_int_equal(b.deposited, a.deposited + 12345);
  assert_int_equal(b.unissued, a.unissued + 12345);
  b.deposited = a.deposited;
  b.unissued = a.unissued;
  assert_memory_equal(&a, &b, sizeof(a)); /* nothing else moved */
  /* an expired fund that is not closed yet still takes deposits */
  w.f->now = T0 + 10 * DAY;
  commit_auth(&w, fx_deposit("short-2027", 1));
  assert_fund(&w, "short-2027", &b);
  assert_int_equal(b.deposited, 20001);
  /* up to exactly SP_MONEY_MAX */
  commit_auth(&w, fx_deposit("sport-2027", SP_MONEY_MAX - 112345));
  assert_fund(&w, "sport-2027", &b);
  assert_int_equal(b.deposited, SP_MONEY_MAX);
  all_reconcile(&w);
  fx_free(w.f);
}

/* Each signer's sequence number advances by exactly one per accepted tx,
 * also for several txs of one signer in one block. */
static void test_sequences(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  assert_int_equal(seq_of(&w, f->authority.pk), BASE_AUTH_TXS);
  assert_int_equal(seq_of(&w, w.pass1.pk), 0);
  assert_int_equal(seq_of(&w, w.club.pk), 0);

  struct sp_tx t[3], d[3];
  t[0] = fx_pay(w.club.pk, "sport-2027", 100);
  t[1] = fx_pay(w.club.pk, "sport-2027", 200);
  t[2] = fx_pay(w.club2.pk, "sport-2027", 300);
  for (int i = 0; i < 3; i++)
    fx_sign_as(f, &w.pass1, &t[i], &d[i]);
  fx_commit(f, d, 3);
  uint8_t pid[SP_HASH_LEN];
  assert_int_equal(sp_tx_id(&d[1], f->chain_id, pid), 0);
  for (int i = 0; i < 3; i++)
    sp_tx_clear(&d[i]);
  assert_int_equal(seq_of(&w, w.pass1.pk), 3);
  assert_int_equal(seq_of(&w, w.pass2.pk), 0);
  assert_int_equal(fx_balance(f, w.pass1.pk, "sport-2027"), 14400);

  commit_as(&w, &w.club, tx_refund(pid, 50), NULL);
  commit_as(&w, &w.club, tx_claim("sport-2027", 100), NULL);
  assert_int_equal(seq_of(&w, w.club.pk), 2);
  assert_int_equal(seq_of(&w, w.club2.pk), 0);
  /* receiving payments or refunds does not move anyone's sequence */
  assert_int_equal(seq_of(&w, w.pass1.pk), 3);

  commit_auth(&w, fx_deposit("sport-2027", 1));
  assert_int_equal(seq_of(&w, f->authority.pk), BASE_AUTH_TXS + 1);
  /* a refused tx does not use the number */
  refused(&w, &w.pass1, fx_pay(w.club.pk, "sport-2027", 5001), SP_R_OVER_MAX_PAYMENT,
          NULL);
  assert_int_equal(seq_of(&w, w.pass1.pk), 3);
  commit_as(&w, &w.pass1, fx_pay(w.club.pk, "sport-2027", 1), NULL);
  assert_int_equal(seq_of(&w, w.pass1.pk), 4);
  assert_int_equal(w.pass1.seq, 4);
  all_reconcile(&w);
  fx_free(f);
}

/* valid_from is open, valid_until is not; issuing before valid_from is
 * allowed (the base world does it for late-2027). */
static void test_validity_bounds(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  w.f->now = T0 + 100 * DAY - 1;
  refused(&w, &w.pass1, fx_pay(w.club.pk, "late-2027", 100), SP_R_FUND_NOT_OPEN, NULL);
  w.f->now = T0 + 100 * DAY;
  commit_as(&w, &w.pass1, fx_pay(w.club.pk, "late-2027", 100), NULL);
  w.f->now = T0 + 200 * DAY - 1;
  commit_as(&w, &w.pass1, fx_pay(w.club.pk, "late-2027", 200), NULL);
  w.f->now = T0 + 200 * DAY;
  refused(&w, &w.pass1, fx_pay(w.club.pk, "late-2027", 100), SP_R_FUND_EXPIRED,
          "fund 'late-2027' has expired");
  assert_int_equal(fx_balance(w.f, w.pass1.pk, "late-2027"), 4700);
  /* a merchant may still claim from an expired fund */
  commit_as(&w, &w.club, tx_claim("late-2027", 300), NULL);
  all_reconcile(&w);
  fx_free(w.f);
}

/* A payment that keeps every amount of the state within SP_MONEY_MAX must
 * be accepted. The per-category spending counter is a cumulative flow (it
 * is not lowered by refunds), and pay refuses with amount-overflow
 * ("merchant receivable would overflow") once that report counter would
 * pass SP_MONEY_MAX, although the receivable is tiny. */
static void test_spending_counter_does_not_refuse_payments(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  commit_auth(&w,
              fx_fund_create("big-2027", "Groot", "sport", NULL, T0, T0 + 365 * DAY, 0));
  commit_auth(&w, fx_deposit("big-2027", SP_MONEY_MAX));
  commit_auth(&w, tx_issue1(&w, "big-2027", "big-1", w.pass3.pk, SP_MONEY_MAX));
  uint8_t id[SP_HASH_LEN];
  commit_as(&w, &w.pass3, fx_pay(w.club.pk, "big-2027", SP_MONEY_MAX), id);
  commit_as(&w, &w.club, tx_refund(id, SP_MONEY_MAX), NULL);
  assert_int_equal(fx_balance(w.f, w.pass3.pk, "big-2027"), SP_MONEY_MAX);
  assert_int_equal(fx_balance(w.f, w.club.pk, "big-2027"), 0);
  all_reconcile_n(&w, 5);
  /* pass balance MAX, receivable 0: paying 0.01 is within every limit */
  struct sp_tx d;
  sign(&w, &w.pass3, fx_pay(w.club.pk, "big-2027", 1), &d);
  struct sp_refusal why, why2;
  int got = fx_try(w.f, &d, &why);
  int rc = sp_ledger_check_tx(w.f->l, &d, w.f->now, &why2);
  sp_tx_clear(&d);
  fx_free(w.f); /* before any failure, so that LSan stays quiet */
  if (got != 0)
    fail_msg("a payment of 0.01 was refused: %s: %s", sp_reason_name(got), why.msg);
  if (rc != 0)
    fail_msg("check_tx refused a payment of 0.01: %s: %s", sp_reason_name(why2.reason),
             why2.msg);
}

/* ================================================= block with a bad tx */

/* A block made from a proposal's header with other transactions: tx root
 * and count recomputed, everything else (height, prev, time, last commit,
 * state digest) as proposed. */
static void craft_block(const struct sp_buf *proposal, struct sp_tx *txs, uint32_t n,
                        struct sp_buf *out)
{
  struct sp_block b;
  assert_int_equal(sp_block_decode(proposal->data, proposal->len, &b), 0);
  struct sp_block nb = b;
  nb.txs = txs;
  nb.n_txs = n;
  nb.header.tx_count = n;
  uint8_t(*leaves)[SP_HASH_LEN] = calloc(n ? n : 1, SP_HASH_LEN);
  assert_non_null(leaves);
  struct sp_buf enc;
  sp_buf_init(&enc, SP_MAX_TX_BYTES);
  for (uint32_t i = 0; i < n;
       i++) { /* leaf data = the tx as it is encoded in the block */
    sp_buf_reset(&enc);
    assert_int_equal(sp_tx_encode(&txs[i], &enc), 0);
    sp_merkle_leaf(leaves[i], enc.data, enc.len);
  }
  sp_buf_free(&enc);
  assert_int_equal(
      sp_merkle_root(nb.header.tx_root, (const uint8_t(*)[SP_HASH_LEN])leaves, n), 0);
  free(leaves);
  sp_buf_init(out, SP_MAX_BLOCK_BYTES);
  assert_int_equal(sp_block_encode(&nb, out), 0);
  sp_block_clear(&b);
}

static void test_block_with_refused_tx(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  s_paid(&w); /* pass1: sport 137.50, school 100.00; seq 1 */

  /* tx1, tx2: pass1 pays 60.00 twice from school (each fine alone, not
   * both); tx3: pass2 pays 1.00 at the club */
  struct sp_tx t[3], d[3];
  t[0] = fx_pay(w.book.pk, "school-2027", 6000);
  t[1] = fx_pay(w.book.pk, "school-2027", 6000);
  t[2] = fx_pay(w.club.pk, "sport-2027", 100);
  fx_sign_as(f, &w.pass1, &t[0], &d[0]);
  fx_sign_as(f, &w.pass1, &t[1], &d[1]);
  fx_sign_as(f, &w.pass2, &t[2], &d[2]);
  assert_int_equal(sp_ledger_check_tx(f->l, &d[0], f->now, NULL), 0);
  assert_int_equal(sp_ledger_check_tx(f->l, &d[2], f->now, NULL), 0);

  /* a valid block: tx1 and tx3 */
  struct sp_tx good[2] = {d[0], d[2]};
  struct sp_buf prop;
  sp_buf_init(&prop, SP_MAX_BLOCK_BYTES);
  bool acc[2];
  assert_int_equal(fx_propose(f, good, 2, &prop, acc, NULL), 0);
  assert_true(acc[0] && acc[1]);

  struct snap *before = snap_take(&w);

  /* the same header with tx1, tx2: tx2 is refused after tx1 */
  struct sp_tx bad[2] = {d[0], d[1]};
  struct sp_buf blk;
  craft_block(&prop, bad, 2, &blk);
  struct sp_refusal why;
  assert_int_equal(fx_apply(f, &blk, &why), SP_LE_REFUSED);
  assert_int_equal(why.reason, SP_R_BLOCK_TX);
  assert_int_equal(why.tx_reason, SP_R_INSUFFICIENT_BALANCE);
  assert_int_equal(why.tx_index, 1);
  assert_non_null(strstr(why.msg, "insufficient-balance"));
  sp_buf_free(&blk);
  struct snap *after = snap_take(&w);
  snap_same(before, after, "block with a refused tx");
  free(after);
  /* tx1's effect inside the refused block is gone too */
  assert_int_equal(fx_balance(f, w.pass1.pk, "school-2027"), 10000);
  assert_int_equal(fx_balance(f, w.book.pk, "school-2027"), 0);

  /* a replayed tx (already committed: its sequence number is used) */
  struct sp_tx replay[2];
  struct sp_tx paid;
  w.pass1.seq = 0;
  sign(&w, &w.pass1, fx_pay(w.club.pk, "sport-2027", 1250), &paid); /* = s_paid's tx */
  uint8_t pid[SP_HASH_LEN];
  assert_int_equal(sp_tx_id(&paid, f->chain_id, pid), 0);
  assert_memory_equal(pid, w.pay_id, SP_HASH_LEN);
  w.pass1.seq = 3;
  replay[0] = d[2];
  replay[1] = paid;
  craft_block(&prop, replay, 2, &blk);
  assert_int_equal(fx_apply(f, &blk, &why), SP_LE_REFUSED);
  assert_int_equal(why.reason, SP_R_BLOCK_TX);
  assert_int_equal(why.tx_reason, SP_R_WRONG_SEQUENCE);
  assert_int_equal(why.tx_index, 1);
  sp_buf_free(&blk);
  after = snap_take(&w);
  snap_same(before, after, "block with a replayed tx");
  free(after);

  /* a tx with a bad signature in the block */
  struct sp_tx forged[1] = {d[2]};
  forged[0].sig[0] ^= 1;
  craft_block(&prop, forged, 1, &blk);
  assert_int_equal(fx_apply(f, &blk, &why), SP_LE_REFUSED);
  assert_int_equal(why.reason, SP_R_BLOCK_TX);
  assert_int_equal(why.tx_reason, SP_R_BAD_SIGNATURE);
  assert_int_equal(why.tx_index, 0);
  sp_buf_free(&blk);
  after = snap_take(&w);
  snap_same(before, after, "block with a forged tx");
  free(after);

  /* the honest proposal still applies */
  assert_int_equal(fx_apply(f, &prop, &why), 0);
  assert_int_equal(fx_balance(f, w.pass1.pk, "school-2027"), 4000);
  assert_int_equal(fx_balance(f, w.book.pk, "school-2027"), 6000);
  assert_int_equal(fx_balance(f, w.pass2.pk, "sport-2027"), 14900);

  sp_buf_free(&prop);
  free(before);
  sp_tx_clear(&paid);
  for (int i = 0; i < 3; i++)
    sp_tx_clear(&d[i]);
  all_reconcile(&w);
  fx_free(f);
}

/* A block proposed from state S is refused once another block has been
 * committed on S (its height is taken: block-conflict), and changes
 * nothing. */
static void test_stale_proposal(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx *f = w.f;
  struct sp_tx t = fx_pay(w.book.pk, "school-2027", 6000), d;
  fx_sign_as(f, &w.pass1, &t, &d);
  struct sp_buf a;
  sp_buf_init(&a, SP_MAX_BLOCK_BYTES);
  bool acc;
  assert_int_equal(fx_propose(f, &d, 1, &a, &acc, NULL), 0);
  assert_true(acc);
  /* another block goes first */
  commit_auth(&w, fx_deposit("school-2027", 100));
  struct snap *before = snap_take(&w);
  struct sp_refusal why;
  assert_int_equal(fx_apply(f, &a, &why), SP_LE_REFUSED);
  assert_int_equal(why.reason, SP_R_BLOCK_CONFLICT);
  struct snap *after = snap_take(&w);
  snap_same(before, after, "stale proposal");
  free(before);
  free(after);
  assert_int_equal(fx_balance(f, w.pass1.pk, "school-2027"), 10000);
  sp_buf_free(&a);
  sp_tx_clear(&d);
  fx_free(f);
}

int main(void)
{
  struct CMUnitTest refusals[N_ROWS + 1];
  refusals[0] = (struct CMUnitTest){"table covers every reason",
                                    test_table_covers_every_reason, NULL, NULL, NULL};
  for (size_t i = 0; i < N_ROWS; i++)
    refusals[i + 1] =
        (struct CMUnitTest){rows[i].name, test_refusal, NULL, NULL, (void *)&rows[i]};
  const struct CMUnitTest effects[] = {
      cmocka_unit_test(test_split_payment),
      cmocka_unit_test(test_issue_batch),
      cmocka_unit_test(test_replace),
      cmocka_unit_test(test_block_cycle),
      cmocka_unit_test(test_suspend_cycle),
      cmocka_unit_test(test_fund_close),
      cmocka_unit_test(test_claim_settle),
      cmocka_unit_test(test_merchant_update),
      cmocka_unit_test(test_deposit),
      cmocka_unit_test(test_sequences),
      cmocka_unit_test(test_validity_bounds),
      cmocka_unit_test(test_spending_counter_does_not_refuse_payments),
      cmocka_unit_test(test_block_with_refused_tx),
      cmocka_unit_test(test_stale_proposal),
  };
  int failed =
      _cmocka_run_group_tests("rules-refusals", refusals, N_ROWS + 1, NULL, NULL);
  failed += cmocka_run_group_tests_name("rules-effects", effects, NULL, NULL);
  return failed;
}
