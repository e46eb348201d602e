#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp/error.h"
#include "sp/money.h"
#include "sp/msg.h"

int refuse(struct sp_refusal *why, int reason, const char *fmt, ...)
{
  if (why) {
    why->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->msg, sizeof(why->msg), fmt, ap);
    va_end(ap);
  }
  return SP_LE_REFUSED;
}

void key_short(char out[12], const uint8_t pk[SP_PK_LEN])
{
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 4; i++) {
    out[2 * i] = hex[pk[i] >> 4];
    out[2 * i + 1] = hex[pk[i] & 15];
  }
  memcpy(out + 8, "..", 3);
}

/* "sport, culture" */
static const char *cats_text(char *buf, size_t cap, uint32_t n, char (*cats)[SP_MAX_ID + 1])
{
  size_t off = 0;
  buf[0] = '\0';
  for (uint32_t i = 0; i < n && off < cap; i++)
    off += (size_t)snprintf(buf + off, cap - off, "%s%s", i ? ", " : "", cats[i]);
  return buf;
}

static const char *euros(char *buf, uint64_t cents)
{
  buf[0] = '\xe2', buf[1] = '\x82', buf[2] = '\xac'; /* € */
  sp_money_format(cents, buf + 3, SP_MONEY_TEXT_MAX);
  return buf;
}

#define EUR_BUF (SP_MONEY_TEXT_MAX + 4)

/* A copied identifier from a view, for record lookups. */
#define IDBUF(name, view)                                                                 \
  char name[SP_MAX_ID + 1];                                                               \
  str_copy(name, sizeof(name), (view))

/* The keys a transaction involves. Their history rows are written once the
 * transaction is known to apply, sorted, so that the rows of one position
 * are appended in key order (and a key named twice gets one row). */
struct touched {
  uint8_t (*keys)[SP_PK_LEN];
  size_t n, cap;
  bool nomem;
};

/* The context the handlers get: rules_apply wraps the caller's tx_ctx
 * (whose layout callers fill positionally) with the set it collects. */
struct apply_ctx {
  struct tx_ctx c; /* first: handlers get &apply_ctx.c */
  struct touched *touched;
};

static struct touched *touched_of(const struct tx_ctx *c)
{
  return ((const struct apply_ctx *)c)->touched;
}

static void history_add(const struct tx_ctx *c, const uint8_t pk[SP_PK_LEN])
{
  struct touched *t = touched_of(c);
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 4;
    void *k = realloc(t->keys, cap * SP_PK_LEN);
    if (k == NULL) {
      t->nomem = true;
      return;
    }
    t->keys = k;
    t->cap = cap;
  }
  memcpy(t->keys[t->n++], pk, SP_PK_LEN);
}

static int pk_cmp(const void *a, const void *b)
{
  return memcmp(a, b, SP_PK_LEN);
}

/* One history row per touched key: pos || pk -> the key's previous row,
 * and the key's head moves to this position (docs/protocol.md 10.4). */
static int history_write(struct wctx *w, const struct tx_ctx *c)
{
  struct touched *t = touched_of(c);
  if (t->nomem)
    return SP_LE_NOMEM;
  qsort(t->keys, t->n, SP_PK_LEN, pk_cmp);
  uint8_t k[POS_LEN + SP_PK_LEN];
  pos_put(k, c->height, c->index);
  for (size_t i = 0; i < t->n && w->rc == 0; i++) {
    if (i > 0 && memcmp(t->keys[i], t->keys[i - 1], SP_PK_LEN) == 0)
      continue;
    uint8_t prev[POS_LEN] = {0};
    MDB_val head;
    int rc = st_get(w, DB_HISTHEAD, t->keys[i], SP_PK_LEN, &head);
    if (rc == SP_LE_OK) {
      /* the head is an earlier position: readers rely on links going back */
      if (head.mv_size != POS_LEN || memcmp(head.mv_data, k, POS_LEN) >= 0)
        return SP_LE_CORRUPT;
      memcpy(prev, head.mv_data, POS_LEN);
    } else if (rc != SP_LE_NOTFOUND) {
      return rc;
    }
    memcpy(k + POS_LEN, t->keys[i], SP_PK_LEN);
    st_append(w, DB_HISTORY, k, sizeof(k), prev, POS_LEN);
    st_put(w, DB_HISTHEAD, t->keys[i], SP_PK_LEN, k, POS_LEN);
  }
  return w->rc;
}

/* The fund of a transaction, refused if unknown. */
static int need_fund(struct wctx *w, struct sp_str id, struct fund *f, struct sp_refusal *why)
{
  int rc = fund_get(w, id.p, id.len, f);
  if (rc == SP_LE_NOTFOUND)
    return refuse(why, SP_R_UNKNOWN_FUND, "unknown fund '%.*s'", (int)id.len, id.p);
  return rc;
}

static int fund_usable(const struct fund *f, uint64_t now, bool need_started,
                       struct sp_refusal *why)
{
  if (f->closed)
    return refuse(why, SP_R_FUND_CLOSED, "fund '%s' is closed", f->id);
  if (need_started && now < f->valid_from)
    return refuse(why, SP_R_FUND_NOT_OPEN, "fund '%s' is not open yet", f->id);
  if (now >= f->valid_until)
    return refuse(why, SP_R_FUND_EXPIRED, "fund '%s' has expired", f->id);
  return SP_LE_OK;
}

static bool genesis_has_category(const struct sp_genesis *g, struct sp_str cat)
{
  for (uint32_t i = 0; i < g->n_categories; i++)
    if (sp_str_eq(g->categories[i], cat))
      return true;
  return false;
}

static int known_categories(const struct sp_genesis *g, const struct sp_catlist *cl,
                            struct sp_refusal *why)
{
  for (uint32_t i = 0; i < cl->n; i++)
    if (!genesis_has_category(g, cl->v[i]))
      return refuse(why, SP_R_UNKNOWN_CATEGORY, "category '%.*s' is not in the genesis list",
                    (int)cl->v[i].len, cl->v[i].p);
  return SP_LE_OK;
}

static void copy_cats(uint32_t *n, char (*dst)[SP_MAX_ID + 1], const struct sp_catlist *cl)
{
  *n = cl->n;
  for (uint32_t i = 0; i < cl->n; i++)
    str_copy(dst[i], SP_MAX_ID + 1, cl->v[i]);
}

/* The first of the merchant's categories (sorted) that the fund allows,
 * or NULL: the category a payment is booked under. */
static const char *allowed_category(const struct acct *m, const struct fund *f)
{
  for (uint32_t i = 0; i < m->n_cats; i++)
    for (uint32_t j = 0; j < f->n_cats; j++)
      if (strcmp(m->cats[i], f->cats[j]) == 0)
        return m->cats[i];
  return NULL;
}

static int overflow(struct sp_refusal *why, const char *what)
{
  return refuse(why, SP_R_AMOUNT_OVERFLOW, "%s would overflow", what);
}

/* A pass may take part in a transaction when it is enrolled and active. */
static int pass_active(struct wctx *w, const uint8_t pk[SP_PK_LEN], struct acct *a,
                       struct sp_refusal *why)
{
  char ks[12];
  key_short(ks, pk);
  int rc = acct_get(w, pk, a);
  if (rc == SP_LE_NOTFOUND || (rc == SP_LE_OK && a->kind != SP_ACCT_PASS))
    return refuse(why, SP_R_UNKNOWN_PASS, "pass %s is not enrolled", ks);
  if (rc)
    return rc;
  if (a->status == SP_ACCT_REPLACED)
    return refuse(why, SP_R_PASS_REPLACED, "pass %s has been replaced", ks);
  if (a->status == SP_ACCT_BLOCKED)
    return refuse(why, SP_R_PASS_BLOCKED, "pass %s is blocked", ks);
  return SP_LE_OK;
}

static int need_merchant(struct wctx *w, const uint8_t pk[SP_PK_LEN], struct acct *a,
                         struct sp_refusal *why)
{
  char ks[12];
  key_short(ks, pk);
  int rc = acct_get(w, pk, a);
  if (rc == SP_LE_NOTFOUND || (rc == SP_LE_OK && a->kind != SP_ACCT_MERCHANT))
    return refuse(why, SP_R_UNKNOWN_MERCHANT, "merchant %s is not registered", ks);
  return rc;
}

static int key_unused(struct wctx *w, const uint8_t pk[SP_PK_LEN], struct sp_refusal *why)
{
  struct acct a;
  int rc = acct_get(w, pk, &a);
  if (rc == SP_LE_NOTFOUND)
    return SP_LE_OK;
  if (rc)
    return rc;
  char ks[12];
  key_short(ks, pk);
  return refuse(why, SP_R_KEY_IN_USE, "key %s is already in use", ks);
}

/* ================================================== authority: funds */

static int fund_create(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                       struct sp_refusal *why)
{
  const struct sp_tx_fund_create *fc = &tx->u.fund_create;
  struct fund f;
  int rc = fund_get(w, fc->fund.p, fc->fund.len, &f);
  if (rc == SP_LE_OK)
    return refuse(why, SP_R_FUND_EXISTS, "fund '%.*s' already exists", (int)fc->fund.len,
                  fc->fund.p);
  if (rc != SP_LE_NOTFOUND)
    return rc;
  if ((rc = known_categories(c->g, &fc->categories, why)))
    return rc;
  memset(&f, 0, sizeof(f));
  str_copy(f.id, sizeof(f.id), fc->fund);
  str_copy(f.name, sizeof(f.name), fc->name);
  copy_cats(&f.n_cats, f.cats, &fc->categories);
  f.valid_from = fc->valid_from_ms;
  f.valid_until = fc->valid_until_ms;
  f.max_payment = fc->max_payment;
  fund_put(w, &f);
  return SP_LE_OK;
}

static int fund_deposit(struct wctx *w, const struct sp_tx *tx, struct sp_refusal *why)
{
  const struct sp_tx_fund_deposit *d = &tx->u.fund_deposit;
  struct fund f;
  int rc = need_fund(w, d->fund, &f, why);
  if (rc)
    return rc;
  if (f.closed)
    return refuse(why, SP_R_FUND_CLOSED, "fund '%s' is closed", f.id);
  if (d->amount == 0)
    return refuse(why, SP_R_AMOUNT_ZERO, "deposit amount is zero");
  if (sp_money_add(&f.deposited, d->amount) || sp_money_add(&f.unissued, d->amount))
    return overflow(why, "fund deposit");
  fund_put(w, &f);
  return SP_LE_OK;
}

static int collect_fund_passes(struct wctx *w, const char *fund, uint8_t (**keys)[SP_PK_LEN],
                               size_t *n, size_t *cap, uint64_t *sum)
{
  MDB_cursor *cur;
  int rc = st_cursor(w, DB_BALANCES, &cur);
  if (rc)
    return rc;
  size_t idn = strlen(fund);
  MDB_val k, v;
  int out = SP_LE_OK;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && out == SP_LE_OK;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size != SP_PK_LEN + idn || memcmp((uint8_t *)k.mv_data + SP_PK_LEN, fund, idn))
      continue;
    if (v.mv_size != 8) {
      out = SP_LE_CORRUPT;
      break;
    }
    uint8_t pk[SP_PK_LEN];
    uint64_t amount = be64_get(v.mv_data);
    memcpy(pk, k.mv_data, SP_PK_LEN);
    struct acct a;
    if ((out = acct_get(w, pk, &a)))
      break;
    if (a.kind != SP_ACCT_PASS)
      continue; /* merchants keep their receivables: they earned them */
    if (*n == *cap) {
      size_t nc = *cap ? *cap * 2 : 256;
      void *nk = realloc(*keys, nc * SP_PK_LEN);
      if (nk == NULL) {
        out = SP_LE_NOMEM;
        break;
      }
      *keys = nk;
      *cap = nc;
    }
    memcpy((*keys)[(*n)++], pk, SP_PK_LEN);
    *sum += amount;
  }
  mdb_cursor_close(cur);
  if (out == SP_LE_OK && rc != MDB_NOTFOUND)
    out = store_err(rc);
  return out;
}

static int fund_close(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                      struct sp_refusal *why)
{
  struct fund f;
  int rc = need_fund(w, tx->u.fund_close.fund, &f, why);
  if (rc)
    return rc;
  if (f.closed)
    return refuse(why, SP_R_FUND_CLOSED, "fund '%s' is already closed", f.id);
  uint64_t grace = c->g->params.fund_close_grace_ms;
  if (c->time_ms < f.valid_until || c->time_ms - f.valid_until < grace)
    return refuse(why, SP_R_FUND_NOT_CLOSABLE,
                  "fund '%s' can be closed only after its validity and grace period end",
                  f.id);
  /* Every pass's unspent credit of this fund returns to the budget. The
   * balances table is keyed pass||fund, so collect the keys in one walk,
   * then delete through bal_put (which logs into the state digest). Closing
   * is rare; the walk is over live balances only. */
  uint8_t(*keys)[SP_PK_LEN] = NULL;
  size_t n_keys = 0, cap = 0;
  uint64_t returned = 0;
  rc = collect_fund_passes(w, f.id, &keys, &n_keys, &cap, &returned);
  for (size_t i = 0; rc == SP_LE_OK && i < n_keys; i++) {
    bal_put(w, keys[i], f.id, strlen(f.id), 0);
    history_add(c, keys[i]); /* the household sees where its credit went */
  }
  free(keys);
  if (rc)
    return rc;
  if (returned != f.passes)
    return SP_LE_CORRUPT;
  f.returned += f.passes;
  f.passes = 0;
  f.closed = true;
  fund_put(w, &f);
  return SP_LE_OK;
}

/* ================================================= authority: passes */

static int pass_enroll(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                       struct sp_refusal *why)
{
  const struct sp_tx_pass_enroll *e = &tx->u.pass_enroll;
  int rc = key_unused(w, e->pass, why);
  if (rc)
    return rc;
  struct acct a = {.kind = SP_ACCT_PASS, .status = SP_ACCT_ACTIVE, .has_household = true};
  memcpy(a.household, e->household, SP_HASH_LEN);
  acct_put(w, e->pass, &a);
  history_add(c, e->pass);
  return SP_LE_OK;
}

/* An enrolled pass that has not been replaced (any other status). */
static int pass_current(struct wctx *w, const uint8_t pk[SP_PK_LEN], struct acct *a,
                        struct sp_refusal *why)
{
  char ks[12];
  key_short(ks, pk);
  int rc = acct_get(w, pk, a);
  if (rc == SP_LE_NOTFOUND || (rc == SP_LE_OK && a->kind != SP_ACCT_PASS))
    return refuse(why, SP_R_UNKNOWN_PASS, "pass %s is not enrolled", ks);
  if (rc)
    return rc;
  if (a->status == SP_ACCT_REPLACED)
    return refuse(why, SP_R_PASS_REPLACED, "pass %s has been replaced", ks);
  return SP_LE_OK;
}

static int pass_block(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                      bool block, struct sp_refusal *why)
{
  const uint8_t *pk = tx->u.reason.account;
  struct acct a;
  int rc = pass_current(w, pk, &a, why);
  if (rc)
    return rc;
  char ks[12];
  key_short(ks, pk);
  if (block && a.status == SP_ACCT_BLOCKED)
    return refuse(why, SP_R_PASS_BLOCKED, "pass %s is already blocked", ks);
  if (!block && a.status != SP_ACCT_BLOCKED)
    return refuse(why, SP_R_PASS_NOT_BLOCKED, "pass %s is not blocked", ks);
  a.status = block ? SP_ACCT_BLOCKED : SP_ACCT_ACTIVE;
  acct_put(w, pk, &a);
  history_add(c, pk);
  return SP_LE_OK;
}

/* Every balance of the old pass moves to the new key, which must be
 * unused; the old key is refused from then on. */
static int pass_replace(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                        struct sp_refusal *why)
{
  const struct sp_tx_pass_replace *r = &tx->u.pass_replace;
  struct acct old;
  int rc = pass_current(w, r->old_pass, &old, why);
  if (rc || (rc = key_unused(w, r->new_pass, why)))
    return rc;

  struct move {
    char fund[SP_MAX_ID + 1];
    uint64_t amount;
  } *moves = NULL;
  size_t n = 0, cap = 0;
  MDB_cursor *cur;
  if ((rc = st_cursor(w, DB_BALANCES, &cur)))
    return rc;
  MDB_val k = {SP_PK_LEN, (void *)r->old_pass}, v;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
       rc == 0 && k.mv_size > SP_PK_LEN && memcmp(k.mv_data, r->old_pass, SP_PK_LEN) == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (v.mv_size != 8 || k.mv_size - SP_PK_LEN > SP_MAX_ID) {
      rc = -1;
      break;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      struct move *m = realloc(moves, cap * sizeof(*m));
      if (m == NULL) {
        rc = -2;
        break;
      }
      moves = m;
    }
    str_copy(moves[n].fund, sizeof(moves[n].fund),
             (struct sp_str){(const char *)k.mv_data + SP_PK_LEN,
                             (uint32_t)(k.mv_size - SP_PK_LEN)});
    moves[n++].amount = be64_get(v.mv_data);
  }
  mdb_cursor_close(cur);
  if (rc == -1 || rc == -2 || (rc != 0 && rc != MDB_NOTFOUND)) {
    free(moves);
    return rc == -1 ? SP_LE_CORRUPT : rc == -2 ? SP_LE_NOMEM : store_err(rc);
  }
  for (size_t i = 0; i < n; i++) {
    size_t fn = strlen(moves[i].fund);
    bal_put(w, r->old_pass, moves[i].fund, fn, 0);
    bal_put(w, r->new_pass, moves[i].fund, fn, moves[i].amount);
  }
  free(moves);
  struct acct nw = {.kind = SP_ACCT_PASS, .status = SP_ACCT_ACTIVE};
  nw.has_household = old.has_household;
  memcpy(nw.household, old.household, SP_HASH_LEN);
  old.status = SP_ACCT_REPLACED;
  old.has_replacement = true;
  memcpy(old.replaced_by, r->new_pass, SP_PK_LEN);
  acct_put(w, r->old_pass, &old);
  acct_put(w, r->new_pass, &nw);
  history_add(c, r->old_pass);
  history_add(c, r->new_pass);
  return SP_LE_OK;
}

/* ============================================== authority: merchants */

static int merchant_set(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                        bool create, struct sp_refusal *why)
{
  const struct sp_tx_merchant *m = &tx->u.merchant;
  struct acct a;
  int rc = create ? key_unused(w, m->merchant, why) : need_merchant(w, m->merchant, &a, why);
  if (rc || (rc = known_categories(c->g, &m->categories, why)))
    return rc;
  if (create)
    a = (struct acct){.kind = SP_ACCT_MERCHANT, .status = SP_ACCT_ACTIVE};
  str_copy(a.name, sizeof(a.name), m->name);
  copy_cats(&a.n_cats, a.cats, &m->categories);
  acct_put(w, m->merchant, &a);
  history_add(c, m->merchant);
  return SP_LE_OK;
}

static int merchant_suspend(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                            bool suspend, struct sp_refusal *why)
{
  const uint8_t *pk = tx->u.reason.account;
  struct acct a;
  int rc = need_merchant(w, pk, &a, why);
  if (rc)
    return rc;
  if (suspend && a.status == SP_ACCT_SUSPENDED)
    return refuse(why, SP_R_MERCHANT_SUSPENDED, "merchant '%s' is already suspended", a.name);
  if (!suspend && a.status != SP_ACCT_SUSPENDED)
    return refuse(why, SP_R_MERCHANT_NOT_SUSPENDED, "merchant '%s' is not suspended", a.name);
  a.status = suspend ? SP_ACCT_SUSPENDED : SP_ACCT_ACTIVE;
  acct_put(w, pk, &a);
  history_add(c, pk);
  return SP_LE_OK;
}

/* ==================================================== authority: issue */

static size_t issuance_key(uint8_t *k, const struct sp_tx_issue *is)
{
  memcpy(k, is->fund.p, is->fund.len);
  k[is->fund.len] = 0;
  memcpy(k + is->fund.len + 1, is->ref.p, is->ref.len);
  return is->fund.len + 1 + is->ref.len;
}

static int issue(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                 struct sp_refusal *why)
{
  const struct sp_tx_issue *is = &tx->u.issue;
  struct fund f;
  int rc = need_fund(w, is->fund, &f, why);
  if (rc || (rc = fund_usable(&f, c->time_ms, false, why)))
    return rc;

  uint8_t ik[SP_MAX_ID + 1 + SP_MAX_REF];
  size_t ikn = issuance_key(ik, is);
  MDB_val v;
  rc = st_get(w, DB_ISSUANCE, ik, ikn, &v);
  if (rc == SP_LE_OK)
    return refuse(why, SP_R_DUPLICATE_ISSUANCE,
                  "issuance '%.*s' of fund '%s' was already made; nothing issued twice",
                  (int)is->ref.len, is->ref.p, f.id);
  if (rc != SP_LE_NOTFOUND)
    return rc;

  /* check every row before writing any */
  uint64_t total = 0;
  for (uint32_t i = 0; i < is->n_rows; i++) {
    struct acct a;
    if ((rc = pass_active(w, is->rows[i].pass, &a, why)))
      return rc;
    if (is->rows[i].amount == 0)
      return refuse(why, SP_R_AMOUNT_ZERO, "issue row %u has amount zero", i + 1);
    if (sp_money_add(&total, is->rows[i].amount))
      return overflow(why, "issue total");
  }
  if (total > f.unissued) {
    char a[EUR_BUF], b[EUR_BUF];
    return refuse(why, SP_R_ISSUANCE_OVER_BUDGET,
                  "issuing %s exceeds the %s left in the budget of fund '%s'", euros(a, total),
                  euros(b, f.unissued), f.id);
  }
  for (uint32_t i = 0; i < is->n_rows; i++) {
    uint64_t bal;
    if ((rc = bal_get(w, is->rows[i].pass, f.id, strlen(f.id), &bal)))
      return rc;
    if (sp_money_add(&bal, is->rows[i].amount))
      return overflow(why, "pass balance");
  }
  for (uint32_t i = 0; i < is->n_rows; i++) {
    uint64_t bal;
    bal_get(w, is->rows[i].pass, f.id, strlen(f.id), &bal);
    bal_put(w, is->rows[i].pass, f.id, strlen(f.id), bal + is->rows[i].amount);
    history_add(c, is->rows[i].pass);
  }
  f.unissued -= total;
  f.passes += total;
  f.issued += total;
  fund_put(w, &f);
  st_put(w, DB_ISSUANCE, ik, ikn, c->txid, SP_HASH_LEN);
  return SP_LE_OK;
}

static int claim_settle(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                        struct sp_refusal *why)
{
  const uint8_t *id = tx->u.claim_settle.claim;
  struct claim cl;
  int rc = claim_get(w, id, &cl);
  char ks[12];
  key_short(ks, id);
  if (rc == SP_LE_NOTFOUND)
    return refuse(why, SP_R_UNKNOWN_CLAIM, "claim %s does not exist", ks);
  if (rc)
    return rc;
  if (cl.settled)
    return refuse(why, SP_R_CLAIM_SETTLED, "claim %s is already settled", ks);
  struct fund f;
  if ((rc = fund_get(w, cl.fund, strlen(cl.fund), &f)))
    return rc == SP_LE_NOTFOUND ? SP_LE_CORRUPT : rc;
  if (f.claimed < cl.amount)
    return SP_LE_CORRUPT;
  f.claimed -= cl.amount;
  f.settled += cl.amount;
  cl.settled = true;
  fund_put(w, &f);
  claim_put(w, id, &cl);
  history_add(c, cl.merchant);
  return SP_LE_OK;
}

/* ======================================================= household: pay */

static int pay(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
               struct sp_refusal *why)
{
  const struct sp_tx_pay *p = &tx->u.pay;
  struct acct m;
  int rc = need_merchant(w, p->merchant, &m, why);
  if (rc)
    return rc;
  if (m.status == SP_ACCT_SUSPENDED)
    return refuse(why, SP_R_MERCHANT_SUSPENDED, "merchant '%s' is suspended", m.name);

  struct fund funds[SP_MAX_PAY_PARTS];
  const char *cats[SP_MAX_PAY_PARTS];
  uint64_t bals[SP_MAX_PAY_PARTS], recvs[SP_MAX_PAY_PARTS], spent[SP_MAX_PAY_PARTS];
  for (uint32_t i = 0; i < p->n_parts; i++) {
    struct fund *f = &funds[i];
    uint64_t amount = p->parts[i].amount;
    if ((rc = need_fund(w, p->parts[i].fund, f, why)) ||
        (rc = fund_usable(f, c->time_ms, true, why)))
      return rc;
    cats[i] = allowed_category(&m, f);
    if (cats[i] == NULL) {
      char mc[200], fcs[200];
      return refuse(why, SP_R_CATEGORY_NOT_ALLOWED,
                    "merchant '%s' (%s) is not allowed by fund '%s' (%s)", m.name,
                    cats_text(mc, sizeof(mc), m.n_cats, m.cats), f->id,
                    cats_text(fcs, sizeof(fcs), f->n_cats, f->cats));
    }
    if (amount == 0)
      return refuse(why, SP_R_AMOUNT_ZERO, "payment from fund '%s' is zero", f->id);
    if (f->max_payment && amount > f->max_payment) {
      char a[EUR_BUF], b[EUR_BUF];
      return refuse(why, SP_R_OVER_MAX_PAYMENT,
                    "%s from fund '%s' is over its maximum of %s per payment",
                    euros(a, amount), f->id, euros(b, f->max_payment));
    }
    if ((rc = bal_get(w, tx->signer, f->id, strlen(f->id), &bals[i])))
      return rc;
    if (bals[i] < amount) {
      char a[EUR_BUF], b[EUR_BUF];
      return refuse(why, SP_R_INSUFFICIENT_BALANCE,
                    "paying %s from fund '%s' needs more than the %s on the pass",
                    euros(a, amount), f->id, euros(b, bals[i]));
    }
    if ((rc = bal_get(w, p->merchant, f->id, strlen(f->id), &recvs[i])) ||
        (rc = fundcat_get(w, f->id, cats[i], &spent[i])))
      return rc;
    if (sp_money_add(&recvs[i], amount))
      return overflow(why, "merchant receivable");
    /* spending per category is a report counter (gross, only grows with
     * refunds churning): a u64 that no payment may be refused for */
    spent[i] += amount;
  }

  struct payment rec = {.n_parts = p->n_parts};
  memcpy(rec.pass, tx->signer, SP_PK_LEN);
  memcpy(rec.merchant, p->merchant, SP_PK_LEN);
  for (uint32_t i = 0; i < p->n_parts; i++) {
    struct fund *f = &funds[i];
    uint64_t amount = p->parts[i].amount;
    size_t fn = strlen(f->id);
    bal_put(w, tx->signer, f->id, fn, bals[i] - amount);
    bal_put(w, p->merchant, f->id, fn, recvs[i]);
    fundcat_put(w, f->id, cats[i], spent[i]);
    f->passes -= amount;
    f->receivable += amount;
    f->spent += amount;
    fund_put(w, f);
    memcpy(rec.parts[i].fund, f->id, fn + 1);
    rec.parts[i].amount = amount;
  }
  uint8_t pos[POS_LEN];
  pos_put(pos, c->height, c->index);
  payment_put(w, pos, &rec);
  history_add(c, p->merchant);
  return SP_LE_OK;
}

/* ================================================= merchant: refund */

/* Follow replacements to the pass that holds the household's credit now,
 * at most SP_MAX_PASS_CHAIN of them: further is a refusal, not a store
 * error, so that such a refund cannot stop every proposal (the rules
 * never make a chain of replacements circular). */
static int current_pass(struct wctx *w, const uint8_t pk[SP_PK_LEN], uint8_t out[SP_PK_LEN],
                        struct sp_refusal *why)
{
  memcpy(out, pk, SP_PK_LEN);
  for (int hops = 0; hops <= SP_MAX_PASS_CHAIN; hops++) {
    struct acct a;
    int rc = acct_get(w, out, &a);
    if (rc)
      return rc == SP_LE_NOTFOUND ? SP_LE_CORRUPT : rc;
    if (!a.has_replacement)
      return SP_LE_OK;
    memcpy(out, a.replaced_by, SP_PK_LEN);
  }
  char ks[12];
  key_short(ks, pk);
  return refuse(why, SP_R_PASS_CHAIN_TOO_LONG,
                "pass %s was replaced more than %d times: its current pass is not followed", ks,
                SP_MAX_PASS_CHAIN);
}

/* The payment a tx id names: the txs index gives the position of its pay
 * (rules_apply writes it, so a pay earlier in the same block is found
 * too), and payments are keyed by that position. */
static int payment_by_id(struct wctx *w, const uint8_t txid[SP_HASH_LEN], uint8_t pos[POS_LEN],
                         struct payment *p)
{
  MDB_val v;
  int rc = st_get(w, DB_TXS, txid, SP_HASH_LEN, &v);
  if (rc)
    return rc;
  if (v.mv_size != POS_LEN)
    return SP_LE_CORRUPT;
  memcpy(pos, v.mv_data, POS_LEN);
  return payment_get(w, pos, p); /* not found: the tx is no payment */
}

static int refund(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                  struct sp_refusal *why)
{
  const struct sp_tx_refund *r = &tx->u.refund;
  struct payment p;
  uint8_t pos[POS_LEN];
  char ks[12];
  key_short(ks, r->payment);
  int rc = payment_by_id(w, r->payment, pos, &p);
  if (rc == SP_LE_NOTFOUND)
    return refuse(why, SP_R_UNKNOWN_PAYMENT, "payment %s does not exist", ks);
  if (rc)
    return rc;
  if (memcmp(p.merchant, tx->signer, SP_PK_LEN) != 0)
    return refuse(why, SP_R_NOT_YOUR_PAYMENT, "payment %s was made to another merchant", ks);
  if (r->amount == 0)
    return refuse(why, SP_R_AMOUNT_ZERO, "refund amount is zero");
  uint64_t left = 0;
  for (uint32_t i = 0; i < p.n_parts; i++)
    left += p.parts[i].amount - p.parts[i].refunded;
  if (r->amount > left) {
    char a[EUR_BUF], b[EUR_BUF];
    return refuse(why, SP_R_REFUND_EXCEEDS_PAYMENT,
                  "refund of %s exceeds the %s left of payment %s", euros(a, r->amount),
                  euros(b, left), ks);
  }
  uint8_t holder[SP_PK_LEN];
  if ((rc = current_pass(w, p.pass, holder, why)))
    return rc;

  /* Take from the parts in order; check receivables before writing. */
  uint64_t take[SP_MAX_PAY_PARTS] = {0}, rest = r->amount;
  for (uint32_t i = 0; i < p.n_parts && rest; i++) {
    uint64_t room = p.parts[i].amount - p.parts[i].refunded;
    take[i] = room < rest ? room : rest;
    rest -= take[i];
    uint64_t recv;
    if ((rc = bal_get(w, tx->signer, p.parts[i].fund, strlen(p.parts[i].fund), &recv)))
      return rc;
    if (recv < take[i]) {
      char a[EUR_BUF], b[EUR_BUF];
      return refuse(why, SP_R_INSUFFICIENT_RECEIVABLE,
                    "refunding %s from fund '%s' needs more than the %s not yet claimed",
                    euros(a, take[i]), p.parts[i].fund, euros(b, recv));
    }
  }
  for (uint32_t i = 0; i < p.n_parts; i++) {
    if (!take[i])
      continue;
    const char *fid = p.parts[i].fund;
    size_t fn = strlen(fid);
    struct fund f;
    uint64_t recv, bal;
    if ((rc = fund_get(w, fid, fn, &f)) || (rc = bal_get(w, tx->signer, fid, fn, &recv)))
      return rc == SP_LE_NOTFOUND ? SP_LE_CORRUPT : rc;
    bal_put(w, tx->signer, fid, fn, recv - take[i]);
    f.receivable -= take[i];
    f.refunded += take[i];
    if (f.closed) {
      f.returned += take[i]; /* the fund is closed: back to its budget */
    } else {
      if ((rc = bal_get(w, holder, fid, fn, &bal)))
        return rc;
      bal_put(w, holder, fid, fn, bal + take[i]);
      f.passes += take[i];
    }
    fund_put(w, &f);
    p.parts[i].refunded += take[i];
  }
  payment_put(w, pos, &p);
  history_add(c, holder);
  return SP_LE_OK;
}

static int claim(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                 struct sp_refusal *why)
{
  const struct sp_tx_claim *cl = &tx->u.claim;
  struct fund f;
  int rc = need_fund(w, cl->fund, &f, why);
  if (rc)
    return rc;
  if (cl->amount == 0)
    return refuse(why, SP_R_AMOUNT_ZERO, "claim amount is zero");
  uint64_t recv;
  size_t fn = strlen(f.id);
  if ((rc = bal_get(w, tx->signer, f.id, fn, &recv)))
    return rc;
  if (recv < cl->amount) {
    char a[EUR_BUF], b[EUR_BUF];
    return refuse(why, SP_R_INSUFFICIENT_RECEIVABLE,
                  "claiming %s from fund '%s' exceeds the %s received", euros(a, cl->amount),
                  f.id, euros(b, recv));
  }
  bal_put(w, tx->signer, f.id, fn, recv - cl->amount);
  f.receivable -= cl->amount;
  f.claimed += cl->amount;
  fund_put(w, &f);
  struct claim rec = {.amount = cl->amount};
  memcpy(rec.merchant, tx->signer, SP_PK_LEN);
  memcpy(rec.fund, f.id, fn + 1);
  claim_put(w, c->txid, &rec);
  return SP_LE_OK;
}

/* ============================================================ dispatch */

static bool by_authority(uint32_t kind)
{
  return kind <= SP_TX_CLAIM_SETTLE || kind == SP_TX_MERCHANT_REINSTATE;
}

/* Signer's account and sequence: the signer must hold the role the kind
 * needs, be allowed to act, and use exactly the next sequence number. */
static int check_signer(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                        struct acct *a, struct sp_refusal *why)
{
  char ks[12];
  key_short(ks, tx->signer);
  int rc;
  if (by_authority(tx->kind)) {
    if (memcmp(tx->signer, c->g->authority, SP_PK_LEN) != 0)
      return refuse(why, SP_R_NOT_AUTHORITY, "%s may be signed only by the authority, not %s",
                    sp_tx_kind_name(tx->kind), ks);
    rc = acct_get(w, tx->signer, a);
    if (rc)
      return rc == SP_LE_NOTFOUND ? SP_LE_CORRUPT : rc;
  } else if (tx->kind == SP_TX_PAY) {
    if ((rc = pass_active(w, tx->signer, a, why)))
      return rc;
  } else {
    if ((rc = need_merchant(w, tx->signer, a, why)))
      return rc;
  }
  if (tx->seq != a->seq + 1)
    return refuse(why, SP_R_WRONG_SEQUENCE, "sequence number %llu of %s, expected %llu",
                  (unsigned long long)tx->seq, ks, (unsigned long long)a->seq + 1);
  return SP_LE_OK;
}

static int apply_kind(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                      struct sp_refusal *why)
{
  struct acct signer;
  int rc = check_signer(w, c, tx, &signer, why);
  if (rc)
    return rc;
  switch (tx->kind) {
  case SP_TX_FUND_CREATE: rc = fund_create(w, c, tx, why); break;
  case SP_TX_FUND_DEPOSIT: rc = fund_deposit(w, tx, why); break;
  case SP_TX_FUND_CLOSE: rc = fund_close(w, c, tx, why); break;
  case SP_TX_PASS_ENROLL: rc = pass_enroll(w, c, tx, why); break;
  case SP_TX_PASS_BLOCK: rc = pass_block(w, c, tx, true, why); break;
  case SP_TX_PASS_UNBLOCK: rc = pass_block(w, c, tx, false, why); break;
  case SP_TX_PASS_REPLACE: rc = pass_replace(w, c, tx, why); break;
  case SP_TX_MERCHANT_REGISTER: rc = merchant_set(w, c, tx, true, why); break;
  case SP_TX_MERCHANT_UPDATE: rc = merchant_set(w, c, tx, false, why); break;
  case SP_TX_MERCHANT_SUSPEND: rc = merchant_suspend(w, c, tx, true, why); break;
  case SP_TX_MERCHANT_REINSTATE: rc = merchant_suspend(w, c, tx, false, why); break;
  case SP_TX_ISSUE: rc = issue(w, c, tx, why); break;
  case SP_TX_CLAIM_SETTLE: rc = claim_settle(w, c, tx, why); break;
  case SP_TX_PAY: rc = pay(w, c, tx, why); break;
  case SP_TX_REFUND: rc = refund(w, c, tx, why); break;
  case SP_TX_CLAIM: rc = claim(w, c, tx, why); break;
  default: rc = refuse(why, SP_R_MALFORMED, "unknown transaction kind %u", tx->kind);
  }
  if (w->rc == MDB_MAP_FULL)
    return MDB_MAP_FULL; /* whatever failed after it failed because of it */
  if (rc)
    return rc;
  /* re-read: the handler may have rewritten the signer's own record (a
   * payment, the most frequent kind by far, writes none of it) */
  if (tx->kind != SP_TX_PAY && (rc = acct_get(w, tx->signer, &signer)))
    return rc;
  signer.seq = tx->seq;
  acct_put(w, tx->signer, &signer);
  history_add(c, tx->signer);
  return w->rc;
}

int rules_apply(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                struct sp_refusal *why)
{
  struct touched t = {0};
  struct apply_ctx own = {*c, &t};
  int rc = apply_kind(w, &own.c, tx, why);
  if (rc == SP_LE_OK)
    rc = history_write(w, &own.c);
  if (rc == SP_LE_OK) {
    uint8_t pos[POS_LEN];
    pos_put(pos, c->height, c->index);
    st_put(w, DB_TXS, c->txid, SP_HASH_LEN, pos, POS_LEN);
    rc = w->rc;
  }
  free(t.keys);
  return rc;
}

int rules_check_conservation(struct wctx *w, struct sp_refusal *why)
{
  MDB_cursor *cur;
  int rc = st_cursor(w, DB_FUNDS, &cur);
  if (rc)
    return rc;
  MDB_val k, v;
  int out = SP_LE_OK;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && out == SP_LE_OK;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    struct fund f;
    if (k.mv_size > SP_MAX_ID) {
      out = SP_LE_CORRUPT;
      break;
    }
    if ((out = fund_get(w, k.mv_data, k.mv_size, &f)))
      break;
    struct sp_fund_info fi = {.deposited = f.deposited, .unissued = f.unissued,
                              .passes = f.passes, .receivable = f.receivable,
                              .claimed = f.claimed, .settled = f.settled,
                              .returned = f.returned};
    if (!sp_fund_reconciles(&fi))
      out = refuse(why, SP_R_CONSERVATION,
                   "fund '%s' does not reconcile: deposited differs from the sum of "
                   "unissued, pass credit, receivables, claims and returns",
                   f.id);
  }
  mdb_cursor_close(cur);
  if (out == SP_LE_OK && rc != MDB_NOTFOUND)
    out = store_err(rc);
  return out;
}

bool sp_fund_reconciles(const struct sp_fund_info *f)
{
  /* each term is <= SP_MONEY_MAX, so the sum of six cannot wrap */
  uint64_t sum = f->unissued + f->passes + f->receivable + f->claimed + f->settled + f->returned;
  return sum == f->deposited;
}

void rules_genesis(struct wctx *w, const struct sp_genesis *g)
{
  struct acct a = {.kind = SP_ACCT_AUTHORITY, .status = SP_ACCT_ACTIVE};
  acct_put(w, g->authority, &a);
}
