/* Private helpers shared by the object and message codecs. */
#ifndef SP_WIRE_H
#define SP_WIRE_H

#include "sp/codec.h"
#include "sp/error.h"
#include "sp/limits.h"
#include "sp/money.h"
#include "sp/objects.h"

#define TRY(expr)                                                                         \
  do {                                                                                    \
    int try_rc_ = (expr);                                                                 \
    if (try_rc_)                                                                          \
      return try_rc_;                                                                     \
  } while (0)

/* Writers that refuse (via the buffer's sticky error) what the decoder
 * would refuse, so we never emit bytes we would not accept. */
static inline void fail(struct sp_buf *b, int err)
{
  if (!b->err)
    b->err = err;
}

static inline void w_text(struct sp_buf *b, struct sp_str s, uint32_t max)
{
  if (!sp_utf8_valid(s.p, s.len))
    fail(b, SP_E_UTF8);
  else if (s.len > max)
    fail(b, SP_E_TOOLONG);
  else if (!sp_text_valid(s.p, s.len))
    fail(b, SP_E_CHARSET);
  sp_wr_str(b, s.p, s.len);
}

static inline void w_ident(struct sp_buf *b, struct sp_str s)
{
  if (s.len > SP_MAX_ID)
    fail(b, SP_E_TOOLONG);
  else if (!sp_ident_valid(s.p, s.len))
    fail(b, SP_E_CHARSET);
  sp_wr_str(b, s.p, s.len);
}

/* Text that must not be empty (names, bank references, reasons). */
static inline void w_text_req(struct sp_buf *b, struct sp_str s, uint32_t max)
{
  if (s.len == 0)
    fail(b, SP_E_RANGE);
  w_text(b, s, max);
}

static inline int r_text_req(struct sp_rd *r, struct sp_str *s, uint32_t max)
{
  TRY(sp_rd_str(r, s, max));
  return s->len ? SP_OK : SP_E_RANGE;
}

static inline void w_amount(struct sp_buf *b, uint64_t v)
{
  if (v > SP_MONEY_MAX)
    fail(b, SP_E_RANGE);
  sp_wr_uint(b, v);
}

static inline void w_u32(struct sp_buf *b, uint64_t v)
{
  if (v > UINT32_MAX)
    fail(b, SP_E_RANGE);
  sp_wr_uint(b, v);
}

static inline void w_list(struct sp_buf *b, uint32_t n, uint32_t max, int nonempty)
{
  if (n > max)
    fail(b, SP_E_TOOLONG);
  else if (nonempty && n == 0)
    fail(b, SP_E_RANGE);
  sp_wr_array(b, n);
}

static inline int r_amount(struct sp_rd *r, uint64_t *v)
{
  return sp_rd_uint_max(r, v, SP_MONEY_MAX);
}

static inline int r_u32(struct sp_rd *r, uint32_t *v)
{
  uint64_t x;
  TRY(sp_rd_uint_max(r, &x, UINT32_MAX));
  *v = (uint32_t)x;
  return SP_OK;
}

/* Category lists are sets: canonical form is sorted, no duplicates. */
static inline int r_catlist(struct sp_rd *r, struct sp_catlist *c)
{
  TRY(sp_rd_array_max(r, &c->n, SP_MAX_CATEGORIES, 1));
  for (uint32_t i = 0; i < c->n; i++) {
    TRY(sp_rd_ident(r, &c->v[i]));
    if (i > 0 && sp_str_cmp(c->v[i - 1], c->v[i]) >= 0)
      return SP_E_ORDER;
  }
  return SP_OK;
}

static inline void w_catlist(struct sp_buf *b, const struct sp_catlist *c)
{
  w_list(b, c->n, SP_MAX_CATEGORIES, 1);
  for (uint32_t i = 0; i < c->n && i < SP_MAX_CATEGORIES; i++) {
    if (i > 0 && sp_str_cmp(c->v[i - 1], c->v[i]) >= 0)
      fail(b, SP_E_ORDER);
    w_ident(b, c->v[i]);
  }
}

static inline int r_version(struct sp_rd *r)
{
  uint64_t v;
  TRY(sp_rd_uint(r, &v));
  return v == SP_FORMAT_VERSION ? SP_OK : SP_E_VERSION;
}

/* Public encoders append to a caller's buffer and leave it as it was when
 * they fail: run `write` and roll back on error. */
#define ENCODE_INTO(buf, write)                                                           \
  do {                                                                                    \
    if ((buf)->err)                                                                       \
      return (buf)->err;                                                                  \
    size_t enc_start_ = (buf)->len;                                                       \
    write;                                                                                \
    int enc_rc_ = (buf)->err;                                                             \
    if (enc_rc_) {                                                                        \
      (buf)->len = enc_start_;                                                            \
      (buf)->err = 0;                                                                     \
    }                                                                                     \
    return enc_rc_;                                                                       \
  } while (0)

/* Public decoders: the canonical check in front, then the schema reader,
 * then nothing may remain. */
#define DECODE_FROM(p, n, read)                                                           \
  do {                                                                                    \
    TRY(sp_msgpack_check((p), (n), SP_MAX_DEPTH));                                        \
    struct sp_rd dec_r_ = sp_rd_init((p), (n));                                           \
    struct sp_rd *r = &dec_r_;                                                            \
    TRY(read);                                                                            \
    return sp_rd_done(r);                                                                 \
  } while (0)

#endif
