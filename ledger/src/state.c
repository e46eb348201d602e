#include "state.h"

#include <string.h>

#include "sp/error.h"
#include "sp/msg.h"

void str_copy(char *dst, size_t cap, struct sp_str s)
{
  size_t n = s.len < cap - 1 ? s.len : cap - 1;
  if (n)
    memcpy(dst, s.p, n);
  dst[n] = '\0';
}

/* Records are written into a stack buffer: the largest (a fund with 16
 * categories) is well under 2 KiB. */
#define REC_MAX 4096

static void put_record(struct wctx *w, enum db db, const void *k, size_t kn,
                       struct sp_buf *b, bool append)
{
  if (b->err) {
    if (!w->rc)
      w->rc = SP_LE_INVAL;
  } else {
    (append ? st_append : st_put)(w, db, k, kn, b->data, b->len);
  }
  sp_buf_free(b);
}

static int bad(int rc)
{
  return rc == SP_OK ? SP_LE_OK : SP_LE_CORRUPT;
}

static void w_cats(struct sp_buf *b, uint32_t n, const char (*cats)[SP_MAX_ID + 1])
{
  sp_wr_array(b, n);
  for (uint32_t i = 0; i < n; i++)
    sp_wr_str(b, cats[i], (uint32_t)strlen(cats[i]));
}

static int r_cats(struct sp_rd *r, uint32_t *n, char (*cats)[SP_MAX_ID + 1])
{
  int rc = sp_rd_array_max(r, n, SP_MAX_CATEGORIES, 0);
  for (uint32_t i = 0; rc == SP_OK && i < *n; i++) {
    struct sp_str s;
    rc = sp_rd_ident(r, &s);
    if (rc == SP_OK)
      str_copy(cats[i], SP_MAX_ID + 1, s);
  }
  return rc;
}

/* ------------------------------------------------------------ accounts */

int acct_get(struct wctx *w, const uint8_t pk[SP_PK_LEN], struct acct *a)
{
  MDB_val v;
  int rc = st_get(w, DB_ACCOUNTS, pk, SP_PK_LEN, &v);
  if (rc)
    return rc;
  memset(a, 0, sizeof(*a));
  struct sp_rd r = sp_rd_init(v.mv_data, v.mv_size);
  uint64_t kind, status;
  int present;
  struct sp_str name;
  if ((rc = sp_rd_array_exact(&r, 7)) || (rc = sp_rd_uint_max(&r, &kind, 3)) ||
      (rc = sp_rd_uint_max(&r, &status, 4)) || (rc = sp_rd_uint(&r, &a->seq)) ||
      (rc = sp_rd_binopt(&r, a->household, SP_HASH_LEN, &present)))
    return bad(rc);
  a->has_household = present;
  if ((rc = sp_rd_binopt(&r, a->replaced_by, SP_PK_LEN, &present)))
    return bad(rc);
  a->has_replacement = present;
  if ((rc = sp_rd_str(&r, &name, SP_MAX_NAME)) || (rc = r_cats(&r, &a->n_cats, a->cats)) ||
      (rc = sp_rd_done(&r)))
    return bad(rc);
  str_copy(a->name, sizeof(a->name), name);
  a->kind = (uint32_t)kind;
  a->status = (uint32_t)status;
  return SP_LE_OK;
}

void acct_put(struct wctx *w, const uint8_t pk[SP_PK_LEN], const struct acct *a)
{
  struct sp_buf b;
  sp_buf_init(&b, REC_MAX);
  sp_wr_array(&b, 7);
  sp_wr_uint(&b, a->kind);
  sp_wr_uint(&b, a->status);
  sp_wr_uint(&b, a->seq);
  sp_wr_bin(&b, a->household, a->has_household ? SP_HASH_LEN : 0);
  sp_wr_bin(&b, a->replaced_by, a->has_replacement ? SP_PK_LEN : 0);
  sp_wr_str(&b, a->name, (uint32_t)strlen(a->name));
  w_cats(&b, a->n_cats, a->cats);
  put_record(w, DB_ACCOUNTS, pk, SP_PK_LEN, &b, false);
}

/* --------------------------------------------------------------- funds */

#define FUND_FIELDS 16

int fund_get(struct wctx *w, const char *id, size_t idn, struct fund *f)
{
  MDB_val v;
  int rc = st_get(w, DB_FUNDS, id, idn, &v);
  if (rc)
    return rc;
  memset(f, 0, sizeof(*f));
  str_copy(f->id, sizeof(f->id), (struct sp_str){id, (uint32_t)idn});
  struct sp_rd r = sp_rd_init(v.mv_data, v.mv_size);
  struct sp_str name;
  uint64_t closed;
  uint64_t *money[] = {&f->deposited, &f->unissued, &f->passes,  &f->receivable,
                       &f->claimed,   &f->settled,  &f->returned, &f->issued,
                       &f->spent,     &f->refunded};
  if ((rc = sp_rd_array_exact(&r, FUND_FIELDS)) || (rc = sp_rd_str(&r, &name, SP_MAX_NAME)) ||
      (rc = r_cats(&r, &f->n_cats, f->cats)) || (rc = sp_rd_uint(&r, &f->valid_from)) ||
      (rc = sp_rd_uint(&r, &f->valid_until)) || (rc = sp_rd_uint(&r, &f->max_payment)) ||
      (rc = sp_rd_uint_max(&r, &closed, 1)))
    return bad(rc);
  for (size_t i = 0; i < sizeof(money) / sizeof(money[0]); i++)
    if ((rc = sp_rd_uint(&r, money[i])))
      return bad(rc);
  if ((rc = sp_rd_done(&r)))
    return bad(rc);
  str_copy(f->name, sizeof(f->name), name);
  f->closed = closed;
  return SP_LE_OK;
}

void fund_put(struct wctx *w, const struct fund *f)
{
  struct sp_buf b;
  sp_buf_init(&b, REC_MAX);
  sp_wr_array(&b, FUND_FIELDS);
  sp_wr_str(&b, f->name, (uint32_t)strlen(f->name));
  w_cats(&b, f->n_cats, f->cats);
  sp_wr_uint(&b, f->valid_from);
  sp_wr_uint(&b, f->valid_until);
  sp_wr_uint(&b, f->max_payment);
  sp_wr_uint(&b, f->closed);
  const uint64_t money[] = {f->deposited, f->unissued, f->passes, f->receivable, f->claimed,
                            f->settled,   f->returned, f->issued, f->spent,      f->refunded};
  for (size_t i = 0; i < sizeof(money) / sizeof(money[0]); i++)
    sp_wr_uint(&b, money[i]);
  put_record(w, DB_FUNDS, f->id, strlen(f->id), &b, false);
}

/* ------------------------------------------------------------ payments */

int payment_get(struct wctx *w, const uint8_t pos[POS_LEN], struct payment *p)
{
  MDB_val v;
  int rc = st_get(w, DB_PAYMENTS, pos, POS_LEN, &v);
  if (rc)
    return rc;
  memset(p, 0, sizeof(*p));
  struct sp_rd r = sp_rd_init(v.mv_data, v.mv_size);
  if ((rc = sp_rd_array_exact(&r, 3)) || (rc = sp_rd_binfix(&r, p->pass, SP_PK_LEN)) ||
      (rc = sp_rd_binfix(&r, p->merchant, SP_PK_LEN)) ||
      (rc = sp_rd_array_max(&r, &p->n_parts, SP_MAX_PAY_PARTS, 1)))
    return bad(rc);
  for (uint32_t i = 0; i < p->n_parts; i++) {
    struct sp_str fund;
    if ((rc = sp_rd_array_exact(&r, 3)) || (rc = sp_rd_ident(&r, &fund)) ||
        (rc = sp_rd_uint(&r, &p->parts[i].amount)) ||
        (rc = sp_rd_uint(&r, &p->parts[i].refunded)))
      return bad(rc);
    str_copy(p->parts[i].fund, sizeof(p->parts[i].fund), fund);
  }
  return bad(sp_rd_done(&r));
}

void payment_put(struct wctx *w, const uint8_t pos[POS_LEN], const struct payment *p)
{
  struct sp_buf b;
  sp_buf_init(&b, REC_MAX);
  sp_wr_array(&b, 3);
  sp_wr_bin(&b, p->pass, SP_PK_LEN);
  sp_wr_bin(&b, p->merchant, SP_PK_LEN);
  sp_wr_array(&b, p->n_parts);
  for (uint32_t i = 0; i < p->n_parts; i++) {
    sp_wr_array(&b, 3);
    sp_wr_str(&b, p->parts[i].fund, (uint32_t)strlen(p->parts[i].fund));
    sp_wr_uint(&b, p->parts[i].amount);
    sp_wr_uint(&b, p->parts[i].refunded);
  }
  /* a new payment goes at the end of the table; a refund rewrites one */
  put_record(w, DB_PAYMENTS, pos, POS_LEN, &b, true);
}

/* -------------------------------------------------------------- claims */

int claim_get(struct wctx *w, const uint8_t txid[SP_HASH_LEN], struct claim *c)
{
  MDB_val v;
  int rc = st_get(w, DB_CLAIMS, txid, SP_HASH_LEN, &v);
  if (rc)
    return rc;
  memset(c, 0, sizeof(*c));
  struct sp_rd r = sp_rd_init(v.mv_data, v.mv_size);
  struct sp_str fund;
  uint64_t settled;
  if ((rc = sp_rd_array_exact(&r, 4)) || (rc = sp_rd_binfix(&r, c->merchant, SP_PK_LEN)) ||
      (rc = sp_rd_ident(&r, &fund)) || (rc = sp_rd_uint(&r, &c->amount)) ||
      (rc = sp_rd_uint_max(&r, &settled, 1)) || (rc = sp_rd_done(&r)))
    return bad(rc);
  str_copy(c->fund, sizeof(c->fund), fund);
  c->settled = settled;
  return SP_LE_OK;
}

void claim_put(struct wctx *w, const uint8_t txid[SP_HASH_LEN], const struct claim *c)
{
  struct sp_buf b;
  sp_buf_init(&b, REC_MAX);
  sp_wr_array(&b, 4);
  sp_wr_bin(&b, c->merchant, SP_PK_LEN);
  sp_wr_str(&b, c->fund, (uint32_t)strlen(c->fund));
  sp_wr_uint(&b, c->amount);
  sp_wr_uint(&b, c->settled);
  put_record(w, DB_CLAIMS, txid, SP_HASH_LEN, &b, false);
}

/* ------------------------------------------------------------ balances */

static size_t bal_key(uint8_t *k, const uint8_t *pk, const char *fund, size_t fn)
{
  memcpy(k, pk, SP_PK_LEN);
  memcpy(k + SP_PK_LEN, fund, fn);
  return SP_PK_LEN + fn;
}

static int u64_get(struct wctx *w, enum db db, const void *k, size_t kn, uint64_t *v)
{
  MDB_val val;
  int rc = st_get(w, db, k, kn, &val);
  if (rc == SP_LE_NOTFOUND) {
    *v = 0;
    return SP_LE_OK;
  }
  if (rc)
    return rc;
  if (val.mv_size != 8)
    return SP_LE_CORRUPT;
  *v = be64_get(val.mv_data);
  return SP_LE_OK;
}

static void u64_put(struct wctx *w, enum db db, const void *k, size_t kn, uint64_t v)
{
  if (v == 0) {
    st_del(w, db, k, kn);
    return;
  }
  uint8_t b[8];
  be64_put(b, v);
  st_put(w, db, k, kn, b, 8);
}

int bal_get(struct wctx *w, const uint8_t pk[SP_PK_LEN], const char *fund, size_t fn,
            uint64_t *v)
{
  uint8_t k[SP_PK_LEN + SP_MAX_ID];
  return u64_get(w, DB_BALANCES, k, bal_key(k, pk, fund, fn), v);
}

void bal_put(struct wctx *w, const uint8_t pk[SP_PK_LEN], const char *fund, size_t fn,
             uint64_t v)
{
  uint8_t k[SP_PK_LEN + SP_MAX_ID];
  u64_put(w, DB_BALANCES, k, bal_key(k, pk, fund, fn), v);
}

static size_t fundcat_key(uint8_t *k, const char *fund, const char *cat)
{
  size_t fn = strlen(fund), cn = strlen(cat);
  memcpy(k, fund, fn);
  k[fn] = 0;
  memcpy(k + fn + 1, cat, cn);
  return fn + 1 + cn;
}

int fundcat_get(struct wctx *w, const char *fund, const char *cat, uint64_t *v)
{
  uint8_t k[2 * SP_MAX_ID + 1];
  return u64_get(w, DB_FUNDCAT, k, fundcat_key(k, fund, cat), v);
}

void fundcat_put(struct wctx *w, const char *fund, const char *cat, uint64_t v)
{
  uint8_t k[2 * SP_MAX_ID + 1];
  u64_put(w, DB_FUNDCAT, k, fundcat_key(k, fund, cat), v);
}
