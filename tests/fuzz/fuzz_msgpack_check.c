/* sp_msgpack_check against two independent oracles:
 *
 *  1. a small recursive reference checker written here from the rules in
 *     sp/codec.h (one item; unsigned integers, the one negative integer -1,
 *     str, bin and arrays only; every header byte-for-byte the shortest
 *     encoding; valid UTF-8 in str; arrays nested at most max_depth deep;
 *     nothing after the item): accept/refuse must agree;
 *  2. msgpack-c itself: an accepted input unpacks as exactly one object, and
 *     msgpack-c's packer (which always picks the shortest form) re-packs it to
 *     the very same bytes.
 *
 * The depth limit is exercised twice per input: with SP_MAX_DEPTH and with a
 * value derived from the input size (-1 .. 10, so also past the clamp). */
#include <msgpack.h>

#include "fuzz_common.h"

/* ------------------------------------------------------ reference checker */

/* Well-formed UTF-8 per Unicode Table 3-7. */
static int ref_utf8(const uint8_t *p, size_t n)
{
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    size_t k;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c <= 0x7f) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      k = 1;
    } else if (c == 0xe0) {
      k = 2, lo = 0xa0;
    } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
      k = 2;
    } else if (c == 0xed) {
      k = 2, hi = 0x9f;
    } else if (c == 0xf0) {
      k = 3, lo = 0x90;
    } else if (c >= 0xf1 && c <= 0xf3) {
      k = 3;
    } else if (c == 0xf4) {
      k = 3, hi = 0x8f;
    } else {
      return 0;
    }
    if (n - i <= k)
      return 0;
    if (p[i + 1] < lo || p[i + 1] > hi)
      return 0;
    for (size_t j = 2; j <= k; j++)
      if (p[i + j] < 0x80 || p[i + j] > 0xbf)
        return 0;
    i += k + 1;
  }
  return 1;
}

static size_t put_be(uint8_t *out, uint8_t tag, uint64_t v, int width)
{
  out[0] = tag;
  for (int i = 0; i < width; i++)
    out[1 + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
  return 1 + (size_t)width;
}

/* The shortest header, as msgpack specifies it, for each kind of item. */
static size_t canon_uint(uint8_t *o, uint64_t v)
{
  if (v < 0x80)
    return put_be(o, (uint8_t)v, 0, 0);
  if (v <= 0xff)
    return put_be(o, 0xcc, v, 1);
  if (v <= 0xffff)
    return put_be(o, 0xcd, v, 2);
  if (v <= 0xffffffffu)
    return put_be(o, 0xce, v, 4);
  return put_be(o, 0xcf, v, 8);
}

static size_t canon_int(uint8_t *o, int64_t v)
{
  if (v >= 0)
    return canon_uint(o, (uint64_t)v);
  if (v >= -32)
    return put_be(o, (uint8_t)(int8_t)v, 0, 0);
  if (v >= INT8_MIN)
    return put_be(o, 0xd0, (uint64_t)v, 1);
  if (v >= INT16_MIN)
    return put_be(o, 0xd1, (uint64_t)v, 2);
  if (v >= INT32_MIN)
    return put_be(o, 0xd2, (uint64_t)v, 4);
  return put_be(o, 0xd3, (uint64_t)v, 8);
}

enum { K_STR, K_BIN, K_ARRAY };

static size_t canon_len(uint8_t *o, int kind, uint64_t n)
{
  switch (kind) {
  case K_STR:
    if (n < 32)
      return put_be(o, (uint8_t)(0xa0 | n), 0, 0);
    if (n <= 0xff)
      return put_be(o, 0xd9, n, 1);
    if (n <= 0xffff)
      return put_be(o, 0xda, n, 2);
    return put_be(o, 0xdb, n, 4);
  case K_BIN:
    if (n <= 0xff)
      return put_be(o, 0xc4, n, 1);
    if (n <= 0xffff)
      return put_be(o, 0xc5, n, 2);
    return put_be(o, 0xc6, n, 4);
  default:
    if (n < 16)
      return put_be(o, (uint8_t)(0x90 | n), 0, 0);
    if (n <= 0xffff)
      return put_be(o, 0xdc, n, 2);
    return put_be(o, 0xdd, n, 4);
  }
}

static uint64_t get_be(const uint8_t *p, int width)
{
  uint64_t v = 0;
  for (int i = 0; i < width; i++)
    v = v << 8 | p[i];
  return v;
}

/* Length of the one item at p (within n bytes), or 0 if it is refused.
 * *maxd receives the deepest array nesting seen. */
static size_t ref_item(const uint8_t *p, size_t n, int depth, int max_depth, int *maxd)
{
  if (n == 0)
    return 0;
  uint8_t c = p[0], canon[9];
  int kind, width;
  uint64_t len;
  if (c <= 0x7f || c == 0xff) /* positive fixint, -1 */
    return 1;
  if (c >= 0xe0) /* negative fixints other than -1 */
    return 0;
  if (c >= 0xcc && c <= 0xd3) {
    width = 1 << ((c - 0xcc) & 3);
    if (n < 1 + (size_t)width)
      return 0;
    uint64_t raw = get_be(p + 1, width);
    size_t cl;
    if (c <= 0xcf) {
      cl = canon_uint(canon, raw);
    } else { /* sign-extend */
      int shift = 64 - 8 * width;
      int64_t v = shift ? (int64_t)(raw << shift) >> shift : (int64_t)raw;
      if (v < 0 && v != -1)
        return 0; /* the only negative value allowed is -1 */
      cl = canon_int(canon, v);
    }
    return cl == 1 + (size_t)width && memcmp(canon, p, cl) == 0 ? cl : 0;
  }
  size_t hl;
  if (c >= 0x90 && c <= 0x9f) {
    kind = K_ARRAY, len = c & 0x0f, hl = 1;
  } else if (c >= 0xa0 && c <= 0xbf) {
    kind = K_STR, len = c & 0x1f, hl = 1;
  } else {
    switch (c) {
    case 0xc4: kind = K_BIN, width = 1; break;
    case 0xc5: kind = K_BIN, width = 2; break;
    case 0xc6: kind = K_BIN, width = 4; break;
    case 0xd9: kind = K_STR, width = 1; break;
    case 0xda: kind = K_STR, width = 2; break;
    case 0xdb: kind = K_STR, width = 4; break;
    case 0xdc: kind = K_ARRAY, width = 2; break;
    case 0xdd: kind = K_ARRAY, width = 4; break;
    default: return 0; /* map, nil, bool, float, ext, 0xc1 */
    }
    if (n < 1 + (size_t)width)
      return 0;
    len = get_be(p + 1, width);
    hl = 1 + (size_t)width;
  }
  size_t cl = canon_len(canon, kind, len);
  if (cl != hl || memcmp(canon, p, hl) != 0)
    return 0;
  if (kind != K_ARRAY) {
    if (len > n - hl)
      return 0;
    if (kind == K_STR && !ref_utf8(p + hl, (size_t)len))
      return 0;
    return hl + (size_t)len;
  }
  if (depth + 1 > max_depth)
    return 0;
  if (depth + 1 > *maxd)
    *maxd = depth + 1;
  size_t off = hl;
  for (uint64_t i = 0; i < len; i++) {
    size_t l = ref_item(p + off, n - off, depth + 1, max_depth, maxd);
    if (l == 0)
      return 0;
    off += l;
  }
  return off;
}

static int ref_check(const uint8_t *p, size_t n, int max_depth, int *maxd)
{
  if (max_depth > SP_MAX_DEPTH)
    max_depth = SP_MAX_DEPTH; /* the library clamps, so does the reference */
  *maxd = 0;
  size_t l = ref_item(p, n, 0, max_depth, maxd);
  return l != 0 && l == n;
}

/* ---------------------------------------------------------- msgpack-c */

static int sbuf_write(void *data, const char *p, size_t n)
{
  return msgpack_sbuffer_write((msgpack_sbuffer *)data, p, n);
}

static void check_with_msgpack_c(const uint8_t *data, size_t size)
{
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  msgpack_unpack_return ur = msgpack_unpack_next(&u, (const char *)data, size, &off);
  FUZZ_CHECK(ur == MSGPACK_UNPACK_SUCCESS);
  FUZZ_CHECK(off == size);

  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, sbuf_write);
  FUZZ_CHECK(msgpack_pack_object(&pk, u.data) == 0);
  if (sb.size != size || memcmp(sb.data, data, size) != 0) {
    fprintf(stderr,
            "fuzz: accepted as canonical, but msgpack-c re-packs it to %zu bytes "
            "(input %zu)\n",
            sb.size, size);
    abort();
  }
  msgpack_sbuffer_destroy(&sb);
  msgpack_unpacked_destroy(&u);
}

/* ---------------------------------------------------------------- fuzz */

static void one(const uint8_t *data, size_t size, int max_depth)
{
  int rc = sp_msgpack_check(data, size, max_depth);
  fuzz_check_rc(rc);
  int maxd;
  int ref = ref_check(data, size, max_depth, &maxd);
  if ((rc == SP_OK) != ref) {
    fprintf(stderr, "fuzz: sp_msgpack_check(max_depth %d) = %s, reference %s\n",
            max_depth, sp_errname(rc), ref ? "accepts" : "refuses");
    abort();
  }
  if (rc != SP_OK)
    return;

  /* the raw skipper agrees on where the item ends */
  struct sp_rd r = sp_rd_init(data, size);
  const uint8_t *start = NULL;
  size_t len = 0;
  if (maxd <= SP_MAX_DEPTH) {
    FUZZ_CHECK(sp_rd_raw(&r, &start, &len) == SP_OK);
    FUZZ_CHECK(start == data && len == size && sp_rd_done(&r) == SP_OK);
  }
  /* one level less is refused for depth, and for nothing else */
  if (maxd > 0)
    FUZZ_CHECK(sp_msgpack_check(data, size, maxd - 1) == SP_E_DEPTH);
  /* a complete item cannot be a proper prefix of another one */
  FUZZ_CHECK(sp_msgpack_check(data, size - 1, max_depth) != SP_OK);
}

/* Item by item: the library's raw skipper (sp_rd_raw) and the reference
 * must agree on whether each successive item is canonical and on its
 * length. This finds a wrongly accepted item without the fuzzer also having
 * to get the total input length exactly right. */
static void items(const uint8_t *data, size_t size)
{
  struct sp_rd r = sp_rd_init(data, size);
  size_t off = 0;
  while (off < size) {
    const uint8_t *start = NULL;
    size_t len = 0;
    int rc = sp_rd_raw(&r, &start, &len);
    fuzz_check_rc(rc);
    int maxd;
    size_t ref = ref_item(data + off, size - off, 0, SP_MAX_DEPTH, &maxd);
    if ((rc == SP_OK) != (ref != 0) || (rc == SP_OK && len != ref)) {
      fprintf(stderr,
              "fuzz: item at offset %zu: sp_rd_raw %s (%zu bytes), reference %zu bytes\n",
              off, sp_errname(rc), len, ref);
      abort();
    }
    if (rc != SP_OK)
      return;
    FUZZ_CHECK(start == data + off && r.p == start + len);
    off += len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  items(data, size);
  one(data, size, SP_MAX_DEPTH);
  one(data, size, (int)(size % 12) - 1);
  if (sp_msgpack_check(data, size, SP_MAX_DEPTH) == SP_OK)
    check_with_msgpack_c(data, size);
  return 0;
}
