#include "sp/codec.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "sp/error.h"
#include "sp/limits.h"

/* ---------------------------------------------------------------- buffer */

void sp_buf_init(struct sp_buf *b, size_t max)
{
  memset(b, 0, sizeof(*b));
  b->max = max;
}

void sp_buf_free(struct sp_buf *b)
{
  if (b == NULL)
    return;
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->err = 0;
}

void sp_buf_reset(struct sp_buf *b)
{
  b->len = 0;
  b->err = 0;
}

void sp_buf_append(struct sp_buf *b, const void *p, size_t n)
{
  if (b->err)
    return;
  if (n > b->max || b->len > b->max - n) {
    b->err = SP_E_BUFFER;
    return;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
      cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
    if (cap > b->max)
      cap = b->max;
    uint8_t *d = realloc(b->data, cap);
    if (d == NULL) {
      b->err = SP_E_NOMEM;
      return;
    }
    b->data = d;
    b->cap = cap;
  }
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
}

/* ---------------------------------------------------------------- writer */

static int buf_write(void *data, const char *p, size_t n)
{
  struct sp_buf *b = data;
  sp_buf_append(b, p, n);
  return b->err ? -1 : 0;
}

/* msgpack-c's packer chooses the shortest form for every integer and length
 * header, which is exactly our canonical rule. */
#define PACKER(b)                                                                         \
  msgpack_packer pk;                                                                      \
  msgpack_packer_init(&pk, (b), buf_write)

void sp_wr_array(struct sp_buf *b, uint32_t n)
{
  PACKER(b);
  msgpack_pack_array(&pk, n);
}

void sp_wr_uint(struct sp_buf *b, uint64_t v)
{
  PACKER(b);
  msgpack_pack_uint64(&pk, v);
}

void sp_wr_int(struct sp_buf *b, int64_t v)
{
  PACKER(b);
  msgpack_pack_int64(&pk, v);
}

void sp_wr_bin(struct sp_buf *b, const void *p, uint32_t n)
{
  PACKER(b);
  msgpack_pack_bin(&pk, n);
  msgpack_pack_bin_body(&pk, p, n);
}

void sp_wr_str(struct sp_buf *b, const char *p, uint32_t n)
{
  PACKER(b);
  msgpack_pack_str(&pk, n);
  msgpack_pack_str_body(&pk, p, n);
}

/* ---------------------------------------------------------------- strings */

struct sp_str sp_str_c(const char *s)
{
  struct sp_str v = {s, (uint32_t)strlen(s)};
  return v;
}

int sp_str_eq(struct sp_str a, struct sp_str b)
{
  return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

int sp_str_cmp(struct sp_str a, struct sp_str b)
{
  uint32_t n = a.len < b.len ? a.len : b.len;
  int c = n ? memcmp(a.p, b.p, n) : 0;
  if (c)
    return c;
  return a.len < b.len ? -1 : a.len > b.len;
}

int sp_utf8_valid(const char *s, size_t n)
{
  const uint8_t *p = (const uint8_t *)s, *end = p + n;
  while (p < end) {
    uint8_t c = *p;
    if (c < 0x80) {
      p++;
      continue;
    }
    size_t need;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
      need = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      need = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      need = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if ((size_t)(end - p) <= need)
      return 0;
    for (size_t i = 1; i <= need; i++) {
      if ((p[i] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    /* overlong forms, UTF-16 surrogates and values past Unicode */
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
      return 0;
    p += need + 1;
  }
  return 1;
}

int sp_text_valid(const char *s, size_t n)
{
  if (!sp_utf8_valid(s, n))
    return 0;
  const uint8_t *p = (const uint8_t *)s;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < 0x20 || p[i] == 0x7f)
      return 0;
    /* C1 controls U+0080..U+009F are encoded as C2 80..C2 9F */
    if (p[i] == 0xc2 && i + 1 < n && p[i + 1] < 0xa0)
      return 0;
  }
  return 1;
}

int sp_ident_valid(const char *s, size_t n)
{
  if (n == 0 || n > SP_MAX_ID)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (i > 0)
      ok = ok || c == '-' || c == '_' || c == '.';
    if (!ok)
      return 0;
  }
  return 1;
}

/* ---------------------------------------------------------------- reader */

enum item { IT_UINT, IT_NINT, IT_STR, IT_BIN, IT_ARRAY };

static int need(const struct sp_rd *r, size_t n)
{
  return (size_t)(r->end - r->p) >= n ? SP_OK : SP_E_TRUNCATED;
}

static uint64_t be(const uint8_t *p, int n)
{
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

/* Read one item header. For str/bin the body length is checked against the
 * input but not consumed; for arrays *val is the element count. Every
 * non-shortest form is refused: the encoder would never produce it, so
 * accepting it would give one value two encodings (and two hashes). */
static int head(struct sp_rd *r, enum item *type, uint64_t *val)
{
  if (r->p >= r->end)
    return SP_E_TRUNCATED;
  uint8_t c = *r->p++;
  int width = 0;
  uint64_t min = 0;

  if (c <= 0x7f) {
    *type = IT_UINT, *val = c;
    return SP_OK;
  }
  if (c >= 0xe0) {
    *type = IT_NINT, *val = (uint64_t)(int64_t)(int8_t)c;
    return SP_OK;
  }
  if (c >= 0x90 && c <= 0x9f) {
    *type = IT_ARRAY, *val = c & 0x0f;
    return SP_OK;
  }
  if (c >= 0xa0 && c <= 0xbf) {
    *type = IT_STR, *val = c & 0x1f;
    goto body;
  }
  switch (c) {
  case 0xcc: *type = IT_UINT, width = 1, min = 0x80; break;
  case 0xcd: *type = IT_UINT, width = 2, min = 0x100; break;
  case 0xce: *type = IT_UINT, width = 4, min = 0x10000; break;
  case 0xcf: *type = IT_UINT, width = 8, min = UINT64_C(0x100000000); break;
  case 0xc4: *type = IT_BIN, width = 1, min = 0; break;
  case 0xc5: *type = IT_BIN, width = 2, min = 0x100; break;
  case 0xc6: *type = IT_BIN, width = 4, min = 0x10000; break;
  case 0xd9: *type = IT_STR, width = 1, min = 0x20; break;
  case 0xda: *type = IT_STR, width = 2, min = 0x100; break;
  case 0xdb: *type = IT_STR, width = 4, min = 0x10000; break;
  case 0xdc: *type = IT_ARRAY, width = 2, min = 0x10; break;
  case 0xdd: *type = IT_ARRAY, width = 4, min = 0x10000; break;
  case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
    /* Signed forms. The only negative the format uses is -1, whose shortest
     * form is a negative fixint; a signed form is therefore never minimal
     * for anything within the fixint range. */
    width = 1 << (c - 0xd0);
    if (need(r, (size_t)width))
      return SP_E_TRUNCATED;
    uint64_t raw = be(r->p, width);
    r->p += width;
    int64_t v;
    switch (width) {
    case 1: v = (int8_t)raw; break;
    case 2: v = (int16_t)raw; break;
    case 4: v = (int32_t)raw; break;
    default: v = (int64_t)raw; break;
    }
    int64_t shorter = width == 1 ? -32 : width == 2 ? -128 : width == 4 ? -32768 : INT32_MIN;
    if (v >= shorter)
      return SP_E_NONMINIMAL;
    *type = IT_NINT, *val = (uint64_t)v;
    return SP_OK;
  }
  default:
    /* 0x80-0x8f, 0xde, 0xdf maps; 0xc0 nil; 0xc1 unused; 0xc2/0xc3 bool;
     * 0xc7-0xc9, 0xd4-0xd8 ext; 0xca/0xcb float */
    return SP_E_FORBIDDEN;
  }
  if (need(r, (size_t)width))
    return SP_E_TRUNCATED;
  *val = be(r->p, width);
  r->p += width;
  if (*val < min)
    return SP_E_NONMINIMAL;
  if (*type == IT_ARRAY || *type == IT_UINT)
    return SP_OK;
body:
  if (need(r, *val))
    return SP_E_TRUNCATED;
  return SP_OK;
}

static int expect(struct sp_rd *r, enum item want, uint64_t *val)
{
  enum item t;
  int rc = head(r, &t, val);
  if (rc)
    return rc;
  return t == want ? SP_OK : SP_E_TYPE;
}

int sp_rd_array(struct sp_rd *r, uint32_t *n)
{
  uint64_t v;
  int rc = expect(r, IT_ARRAY, &v);
  if (rc)
    return rc;
  /* every element takes at least one byte: refuse before anyone allocates */
  if (v > (uint64_t)(r->end - r->p))
    return SP_E_TOOMANY;
  *n = (uint32_t)v;
  return SP_OK;
}

int sp_rd_array_exact(struct sp_rd *r, uint32_t n)
{
  uint32_t got;
  int rc = sp_rd_array(r, &got);
  if (rc)
    return rc;
  return got == n ? SP_OK : SP_E_COUNT;
}

int sp_rd_array_max(struct sp_rd *r, uint32_t *n, uint32_t max, int nonempty)
{
  int rc = sp_rd_array(r, n);
  if (rc)
    return rc;
  if (*n > max)
    return SP_E_TOOLONG;
  if (nonempty && *n == 0)
    return SP_E_RANGE;
  return SP_OK;
}

int sp_rd_uint(struct sp_rd *r, uint64_t *v)
{
  return expect(r, IT_UINT, v);
}

int sp_rd_uint_max(struct sp_rd *r, uint64_t *v, uint64_t max)
{
  int rc = expect(r, IT_UINT, v);
  if (rc)
    return rc;
  return *v <= max ? SP_OK : SP_E_RANGE;
}

int sp_rd_round_opt(struct sp_rd *r, int64_t *v)
{
  enum item t;
  uint64_t raw;
  int rc = head(r, &t, &raw);
  if (rc)
    return rc;
  if (t == IT_NINT) {
    if ((int64_t)raw != SP_ROUND_NONE)
      return SP_E_RANGE;
    *v = SP_ROUND_NONE;
    return SP_OK;
  }
  if (t != IT_UINT)
    return SP_E_TYPE;
  if (raw > UINT32_MAX)
    return SP_E_RANGE;
  *v = (int64_t)raw;
  return SP_OK;
}

int sp_rd_bin(struct sp_rd *r, const uint8_t **p, uint32_t *n, uint32_t max)
{
  uint64_t len;
  int rc = expect(r, IT_BIN, &len);
  if (rc)
    return rc;
  if (len > max)
    return SP_E_TOOLONG;
  *p = r->p;
  *n = (uint32_t)len;
  r->p += len;
  return SP_OK;
}

int sp_rd_binfix(struct sp_rd *r, uint8_t *out, uint32_t n)
{
  uint64_t len;
  int rc = expect(r, IT_BIN, &len);
  if (rc)
    return rc;
  if (len != n)
    return SP_E_LENGTH;
  memcpy(out, r->p, n);
  r->p += n;
  return SP_OK;
}

int sp_rd_binopt(struct sp_rd *r, uint8_t *out, uint32_t n, int *present)
{
  uint64_t len;
  int rc = expect(r, IT_BIN, &len);
  if (rc)
    return rc;
  if (len != 0 && len != n)
    return SP_E_LENGTH;
  *present = len == n;
  if (*present)
    memcpy(out, r->p, n);
  else
    memset(out, 0, n);
  r->p += len;
  return SP_OK;
}

int sp_rd_str(struct sp_rd *r, struct sp_str *s, uint32_t max)
{
  uint64_t len;
  int rc = expect(r, IT_STR, &len);
  if (rc)
    return rc;
  const char *p = (const char *)r->p;
  if (!sp_utf8_valid(p, len))
    return SP_E_UTF8;
  if (len > max)
    return SP_E_TOOLONG;
  if (!sp_text_valid(p, len))
    return SP_E_CHARSET;
  s->p = p;
  s->len = (uint32_t)len;
  r->p += len;
  return SP_OK;
}

int sp_rd_ident(struct sp_rd *r, struct sp_str *s)
{
  int rc = sp_rd_str(r, s, SP_MAX_ID);
  if (rc)
    return rc;
  return sp_ident_valid(s->p, s->len) ? SP_OK : SP_E_CHARSET;
}

int sp_rd_done(const struct sp_rd *r)
{
  return r->p == r->end ? SP_OK : SP_E_TRAILING;
}

/* Walk one item and everything inside it without recursion: a stack of
 * "elements still to read" per open array. */
static int walk(struct sp_rd *r, int max_depth)
{
  uint64_t left[SP_MAX_DEPTH + 2];
  int depth = 0;
  if (max_depth > SP_MAX_DEPTH)
    max_depth = SP_MAX_DEPTH;
  left[0] = 1;
  while (depth >= 0) {
    if (left[depth] == 0) {
      depth--;
      continue;
    }
    left[depth]--;
    enum item t;
    uint64_t v;
    int rc = head(r, &t, &v);
    if (rc)
      return rc;
    switch (t) {
    case IT_ARRAY:
      if (v > (uint64_t)(r->end - r->p))
        return SP_E_TOOMANY;
      if (depth + 1 > max_depth)
        return SP_E_DEPTH;
      left[++depth] = v;
      break;
    case IT_STR:
      if (!sp_utf8_valid((const char *)r->p, v))
        return SP_E_UTF8;
      r->p += v;
      break;
    case IT_BIN:
      r->p += v;
      break;
    case IT_NINT:
      /* the only negative value of the format is -1 ("no round") */
      if ((int64_t)v != -1)
        return SP_E_RANGE;
      break;
    default:
      break;
    }
  }
  return SP_OK;
}

int sp_rd_raw(struct sp_rd *r, const uint8_t **start, size_t *len)
{
  const uint8_t *s = r->p;
  int rc = walk(r, SP_MAX_DEPTH);
  if (rc)
    return rc;
  *start = s;
  *len = (size_t)(r->p - s);
  return SP_OK;
}

int sp_msgpack_check(const uint8_t *p, size_t n, int max_depth)
{
  struct sp_rd r = sp_rd_init(p, n);
  int rc = walk(&r, max_depth);
  if (rc)
    return rc;
  return sp_rd_done(&r);
}
