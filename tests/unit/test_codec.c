/* Unit tests of the strict canonical msgpack reader and writer
 * (proto/src/codec.c).
 *
 * Every hostile or non-canonical input is copied into a heap buffer of
 * exactly its own size, so AddressSanitizer reports any read past the end
 * the reader might make. Each rejection class asserts its specific code. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "sp/codec.h"
#include "sp/crypto.h"
#include "sp/error.h"
#include "sp/limits.h"

/* ----------------------------------------------------------------- helpers */

#define CHECK_RC(what, got, want)                                                         \
  do {                                                                                    \
    int got_ = (got), want_ = (want);                                                     \
    if (got_ != want_)                                                                    \
      fail_msg("%s: got %d (%s), want %d (%s)", (what), got_, sp_errname(got_), want_,    \
               sp_errname(want_));                                                        \
  } while (0)

/* A byte-string literal and its length, for table rows. */
#define H(s) s, sizeof(s) - 1

/* Exact-size heap copy of head followed by body_len bytes of fill. */
static uint8_t *mk(const char *head, size_t head_len, size_t body_len, uint8_t fill,
                   size_t *n)
{
  *n = head_len + body_len;
  uint8_t *p = malloc(*n ? *n : 1);
  assert_non_null(p);
  if (head_len)
    memcpy(p, head, head_len);
  if (body_len)
    memset(p + head_len, fill, body_len);
  return p;
}

/* Which strict reader function to run over a row besides sp_msgpack_check. */
enum rdr { R_NONE, R_UINT, R_STR, R_BIN, R_ARRAY, R_ROUND, R_RAW };

static int run_reader(enum rdr rd, const uint8_t *p, size_t n)
{
  struct sp_rd r = sp_rd_init(p, n);
  uint64_t u;
  int64_t i;
  uint32_t cnt;
  struct sp_str s;
  const uint8_t *bp;
  size_t len;
  int rc;
  switch (rd) {
  case R_UINT: rc = sp_rd_uint(&r, &u); break;
  case R_STR: rc = sp_rd_str(&r, &s, UINT32_MAX); break;
  case R_BIN: rc = sp_rd_bin(&r, &bp, &cnt, UINT32_MAX); break;
  case R_ARRAY: rc = sp_rd_array(&r, &cnt); break;
  case R_ROUND: rc = sp_rd_round_opt(&r, &i); break;
  case R_RAW: rc = sp_rd_raw(&r, &bp, &len); break;
  default: return SP_OK;
  }
  return rc;
}

struct row {
  const char *name;
  const char *head;
  size_t head_len;
  size_t body_len; /* bytes of fill appended after head */
  uint8_t fill;
  int want_check; /* sp_msgpack_check(..., SP_MAX_DEPTH) */
  enum rdr rd;
  int want_rd;
};

static void run_rows(const struct row *rows, size_t n_rows)
{
  for (size_t i = 0; i < n_rows; i++) {
    size_t n;
    uint8_t *p = mk(rows[i].head, rows[i].head_len, rows[i].body_len, rows[i].fill, &n);
    int rc_check = sp_msgpack_check(p, n, SP_MAX_DEPTH);
    int rc_rd = run_reader(rows[i].rd, p, n);
    free(p); /* before asserting: a failure must not also report a leak */
    CHECK_RC(rows[i].name, rc_check, rows[i].want_check);
    if (rows[i].rd != R_NONE)
      CHECK_RC(rows[i].name, rc_rd, rows[i].want_rd);
  }
}

#define ROWS(t) run_rows((t), sizeof(t) / sizeof((t)[0]))

static int group_setup(void **state)
{
  (void)state;
  return sp_crypto_init() == SP_OK ? 0 : -1;
}

/* ------------------------------------------------------------ NONMINIMAL */

static void test_nonminimal(void **state)
{
  (void)state;
  const struct row rows[] = {
      {"uint8 for 5", H("\xcc\x05"), 0, 0, SP_E_NONMINIMAL, R_UINT, SP_E_NONMINIMAL},
      {"uint8 for 127", H("\xcc\x7f"), 0, 0, SP_E_NONMINIMAL, R_UINT, SP_E_NONMINIMAL},
      {"uint16 for 200", H("\xcd\x00\xc8"), 0, 0, SP_E_NONMINIMAL, R_UINT, SP_E_NONMINIMAL},
      {"uint16 for 255", H("\xcd\x00\xff"), 0, 0, SP_E_NONMINIMAL, R_UINT, SP_E_NONMINIMAL},
      {"uint32 for 300", H("\xce\x00\x00\x01\x2c"), 0, 0, SP_E_NONMINIMAL, R_UINT,
       SP_E_NONMINIMAL},
      {"uint32 for 65535", H("\xce\x00\x00\xff\xff"), 0, 0, SP_E_NONMINIMAL, R_UINT,
       SP_E_NONMINIMAL},
      {"uint64 for 70000", H("\xcf\x00\x00\x00\x00\x00\x01\x11\x70"), 0, 0, SP_E_NONMINIMAL,
       R_UINT, SP_E_NONMINIMAL},
      {"uint64 for 2^32-1", H("\xcf\x00\x00\x00\x00\xff\xff\xff\xff"), 0, 0, SP_E_NONMINIMAL,
       R_UINT, SP_E_NONMINIMAL},
      {"str8 len 5", H("\xd9\x05"), 5, 'a', SP_E_NONMINIMAL, R_STR, SP_E_NONMINIMAL},
      {"str8 len 31", H("\xd9\x1f"), 31, 'a', SP_E_NONMINIMAL, R_STR, SP_E_NONMINIMAL},
      {"str16 len 40", H("\xda\x00\x28"), 40, 'a', SP_E_NONMINIMAL, R_STR, SP_E_NONMINIMAL},
      {"str32 len 300", H("\xdb\x00\x00\x01\x2c"), 300, 'a', SP_E_NONMINIMAL, R_STR,
       SP_E_NONMINIMAL},
      {"bin16 len 10", H("\xc5\x00\x0a"), 10, 0x55, SP_E_NONMINIMAL, R_BIN, SP_E_NONMINIMAL},
      {"bin32 len 10", H("\xc6\x00\x00\x00\x0a"), 10, 0x55, SP_E_NONMINIMAL, R_BIN,
       SP_E_NONMINIMAL},
      {"array16 count 3", H("\xdc\x00\x03\x01\x02\x03"), 0, 0, SP_E_NONMINIMAL, R_ARRAY,
       SP_E_NONMINIMAL},
      {"array16 count 15", H("\xdc\x00\x0f"), 15, 0x01, SP_E_NONMINIMAL, R_ARRAY,
       SP_E_NONMINIMAL},
      {"array32 count 1", H("\xdd\x00\x00\x00\x01\x01"), 0, 0, SP_E_NONMINIMAL, R_ARRAY,
       SP_E_NONMINIMAL},
      {"int8 for -1", H("\xd0\xff"), 0, 0, SP_E_NONMINIMAL, R_ROUND, SP_E_NONMINIMAL},
      {"int8 for 5", H("\xd0\x05"), 0, 0, SP_E_NONMINIMAL, R_ROUND, SP_E_NONMINIMAL},
      {"int8 for -32", H("\xd0\xe0"), 0, 0, SP_E_NONMINIMAL, R_ROUND, SP_E_NONMINIMAL},
      {"int16 for -1", H("\xd1\xff\xff"), 0, 0, SP_E_NONMINIMAL, R_ROUND, SP_E_NONMINIMAL},
      {"int16 for 300", H("\xd1\x01\x2c"), 0, 0, SP_E_NONMINIMAL, R_ROUND, SP_E_NONMINIMAL},
      {"int32 for -1", H("\xd2\xff\xff\xff\xff"), 0, 0, SP_E_NONMINIMAL, R_ROUND,
       SP_E_NONMINIMAL},
      {"int64 for -1", H("\xd3\xff\xff\xff\xff\xff\xff\xff\xff"), 0, 0, SP_E_NONMINIMAL,
       R_ROUND, SP_E_NONMINIMAL},
      {"int64 for 2^32", H("\xd3\x00\x00\x00\x01\x00\x00\x00\x00"), 0, 0, SP_E_NONMINIMAL,
       R_ROUND, SP_E_NONMINIMAL},
      /* inside an array the walk must find it too */
      {"nested uint8 for 5", H("\x92\x01\xcc\x05"), 0, 0, SP_E_NONMINIMAL, R_RAW,
       SP_E_NONMINIMAL},
  };
  ROWS(rows);
}

/* The boundaries just above each shorter form are accepted. */
static void test_minimal_boundaries_accepted(void **state)
{
  (void)state;
  const struct row rows[] = {
      {"uint8 128", H("\xcc\x80"), 0, 0, SP_OK, R_UINT, SP_OK},
      {"uint16 256", H("\xcd\x01\x00"), 0, 0, SP_OK, R_UINT, SP_OK},
      {"uint32 65536", H("\xce\x00\x01\x00\x00"), 0, 0, SP_OK, R_UINT, SP_OK},
      {"uint64 2^32", H("\xcf\x00\x00\x00\x01\x00\x00\x00\x00"), 0, 0, SP_OK, R_UINT, SP_OK},
      {"str8 len 32", H("\xd9\x20"), 32, 'a', SP_OK, R_STR, SP_OK},
      {"str16 len 256", H("\xda\x01\x00"), 256, 'a', SP_OK, R_STR, SP_OK},
      {"bin8 len 0", H("\xc4\x00"), 0, 0, SP_OK, R_BIN, SP_OK},
      {"bin16 len 256", H("\xc5\x01\x00"), 256, 0x55, SP_OK, R_BIN, SP_OK},
      {"array16 count 16", H("\xdc\x00\x10"), 16, 0x01, SP_OK, R_ARRAY, SP_OK},
      {"negative fixint -1", H("\xff"), 0, 0, SP_OK, R_ROUND, SP_OK},
  };
  ROWS(rows);
}

/* ------------------------------------------------------------- FORBIDDEN */

static void test_forbidden(void **state)
{
  (void)state;
  const struct row rows[] = {
      {"fixmap empty", H("\x80"), 0, 0, SP_E_FORBIDDEN, R_UINT, SP_E_FORBIDDEN},
      {"fixmap 1", H("\x81\x01\x02"), 0, 0, SP_E_FORBIDDEN, R_UINT, SP_E_FORBIDDEN},
      {"map16", H("\xde\x00\x00"), 0, 0, SP_E_FORBIDDEN, R_ARRAY, SP_E_FORBIDDEN},
      {"map32", H("\xdf\x00\x00\x00\x00"), 0, 0, SP_E_FORBIDDEN, R_ARRAY, SP_E_FORBIDDEN},
      {"nil", H("\xc0"), 0, 0, SP_E_FORBIDDEN, R_STR, SP_E_FORBIDDEN},
      {"never used 0xc1", H("\xc1"), 0, 0, SP_E_FORBIDDEN, R_BIN, SP_E_FORBIDDEN},
      {"false", H("\xc2"), 0, 0, SP_E_FORBIDDEN, R_UINT, SP_E_FORBIDDEN},
      {"true", H("\xc3"), 0, 0, SP_E_FORBIDDEN, R_UINT, SP_E_FORBIDDEN},
      {"float32", H("\xca\x3f\x80\x00\x00"), 0, 0, SP_E_FORBIDDEN, R_UINT, SP_E_FORBIDDEN},
      {"float64", H("\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"), 0, 0, SP_E_FORBIDDEN, R_UINT,
       SP_E_FORBIDDEN},
      {"fixext1", H("\xd4\x01\x00"), 0, 0, SP_E_FORBIDDEN, R_BIN, SP_E_FORBIDDEN},
      {"fixext16", H("\xd8\x01"), 16, 0, SP_E_FORBIDDEN, R_BIN, SP_E_FORBIDDEN},
      {"ext8", H("\xc7\x01\x05\xaa"), 0, 0, SP_E_FORBIDDEN, R_BIN, SP_E_FORBIDDEN},
      {"ext16", H("\xc8\x00\x01\x05\xaa"), 0, 0, SP_E_FORBIDDEN, R_BIN, SP_E_FORBIDDEN},
      {"ext32", H("\xc9\x00\x00\x00\x01\x05\xaa"), 0, 0, SP_E_FORBIDDEN, R_BIN,
       SP_E_FORBIDDEN},
      {"nil inside array", H("\x92\x01\xc0"), 0, 0, SP_E_FORBIDDEN, R_RAW, SP_E_FORBIDDEN},
      {"map deep inside", H("\x91\x91\x80"), 0, 0, SP_E_FORBIDDEN, R_RAW, SP_E_FORBIDDEN},
      {"round_opt on bool", H("\xc3"), 0, 0, SP_E_FORBIDDEN, R_ROUND, SP_E_FORBIDDEN},
  };
  ROWS(rows);
}

/* -------------------------------------------------------------- TRAILING */

static void test_trailing(void **state)
{
  (void)state;
  const struct row rows[] = {
      {"fixint + 1", H("\x01\x00"), 0, 0, SP_E_TRAILING, R_NONE, 0},
      {"uint16 + 1", H("\xcd\x01\x00\x00"), 0, 0, SP_E_TRAILING, R_NONE, 0},
      {"str + 1", H("\xa2hi!"), 0, 0, SP_E_TRAILING, R_NONE, 0},
      {"bin + 1", H("\xc4\x01\x00\x00"), 0, 0, SP_E_TRAILING, R_NONE, 0},
      {"array + 1", H("\x92\x01\x02\x03"), 0, 0, SP_E_TRAILING, R_NONE, 0},
      {"empty array + 1", H("\x90\x90"), 0, 0, SP_E_TRAILING, R_NONE, 0},
  };
  ROWS(rows);

  /* The reader functions consume exactly one item; sp_rd_done then sees
   * the extra byte. */
  size_t n;
  uint8_t *p = mk(H("\xcd\x01\x00\x07"), 0, 0, &n);
  struct sp_rd r = sp_rd_init(p, n);
  uint64_t v = 0;
  CHECK_RC("rd_uint", sp_rd_uint(&r, &v), SP_OK);
  assert_int_equal(v, 256);
  CHECK_RC("rd_done", sp_rd_done(&r), SP_E_TRAILING);
  CHECK_RC("rd_uint last", sp_rd_uint(&r, &v), SP_OK);
  assert_int_equal(v, 7);
  CHECK_RC("rd_done end", sp_rd_done(&r), SP_OK);
  free(p);
}

/* ------------------------------------------------------------- TRUNCATED */

static void test_truncated(void **state)
{
  (void)state;
  const struct row rows[] = {
      {"empty input", H(""), 0, 0, SP_E_TRUNCATED, R_UINT, SP_E_TRUNCATED},
      {"uint8 without byte", H("\xcc"), 0, 0, SP_E_TRUNCATED, R_UINT, SP_E_TRUNCATED},
      {"uint16 cut", H("\xcd\x01"), 0, 0, SP_E_TRUNCATED, R_UINT, SP_E_TRUNCATED},
      {"uint32 cut", H("\xce\x00\x01\x00"), 0, 0, SP_E_TRUNCATED, R_UINT, SP_E_TRUNCATED},
      {"uint64 cut", H("\xcf\x00\x00\x00\x01\x00\x00\x00"), 0, 0, SP_E_TRUNCATED, R_UINT,
       SP_E_TRUNCATED},
      {"fixstr body cut", H("\xa5" "ab"), 0, 0, SP_E_TRUNCATED, R_STR, SP_E_TRUNCATED},
      {"str8 no length", H("\xd9"), 0, 0, SP_E_TRUNCATED, R_STR, SP_E_TRUNCATED},
      {"str8 body cut", H("\xd9\x40"), 63, 'a', SP_E_TRUNCATED, R_STR, SP_E_TRUNCATED},
      {"str16 length cut", H("\xda\x01"), 0, 0, SP_E_TRUNCATED, R_STR, SP_E_TRUNCATED},
      {"bin8 body cut", H("\xc4\x05\x01\x02"), 0, 0, SP_E_TRUNCATED, R_BIN, SP_E_TRUNCATED},
      {"bin32 body cut", H("\xc6\x00\x01\x00\x00"), 100, 0, SP_E_TRUNCATED, R_BIN,
       SP_E_TRUNCATED},
      {"array16 count cut", H("\xdc\x00"), 0, 0, SP_E_TRUNCATED, R_ARRAY, SP_E_TRUNCATED},
      {"array missing element", H("\x92\xcd\x01\x00"), 0, 0, SP_E_TRUNCATED, R_RAW,
       SP_E_TRUNCATED},
      {"array second str missing", H("\x92\xa3" "abc"), 0, 0, SP_E_TRUNCATED, R_RAW,
       SP_E_TRUNCATED},
      {"int8 cut", H("\xd0"), 0, 0, SP_E_TRUNCATED, R_ROUND, SP_E_TRUNCATED},
  };
  ROWS(rows);
}

/* --------------------------------------------------------------- TOOMANY */

static void test_toomany(void **state)
{
  (void)state;
  const struct row rows[] = {
      {"array32 0xffffffff", H("\xdd\xff\xff\xff\xff\x01\x02\x03"), 0, 0, SP_E_TOOMANY,
       R_ARRAY, SP_E_TOOMANY},
      {"array16 0xffff", H("\xdc\xff\xff"), 100, 0x01, SP_E_TOOMANY, R_ARRAY, SP_E_TOOMANY},
      {"fixarray 3 over 2 bytes", H("\x93\x01\x02"), 0, 0, SP_E_TOOMANY, R_ARRAY,
       SP_E_TOOMANY},
      {"nested array32", H("\x91\xdd\xff\xff\xff\xff\x00"), 0, 0, SP_E_TOOMANY, R_RAW,
       SP_E_TOOMANY},
      /* exactly as many elements as bytes is fine */
      {"fixarray 3 over 3 bytes", H("\x93\x01\x02\x03"), 0, 0, SP_OK, R_ARRAY, SP_OK},
  };
  ROWS(rows);

  /* Directly: the count is refused and *n is never written, so no caller
   * can size an allocation from it. */
  size_t n;
  uint8_t *p = mk(H("\xdd\xff\xff\xff\xff\x01\x02\x03"), 0, 0, &n);
  struct sp_rd r = sp_rd_init(p, n);
  uint32_t cnt = 0xdeadbeef;
  CHECK_RC("sp_rd_array", sp_rd_array(&r, &cnt), SP_E_TOOMANY);
  assert_int_equal(cnt, 0xdeadbeef);
  r = sp_rd_init(p, n);
  CHECK_RC("sp_rd_array_exact", sp_rd_array_exact(&r, 0xffffffffu), SP_E_TOOMANY);
  r = sp_rd_init(p, n);
  CHECK_RC("sp_rd_array_max", sp_rd_array_max(&r, &cnt, UINT32_MAX, 1), SP_E_TOOMANY);
  free(p);
}

/* ----------------------------------------------------------------- DEPTH */

/* levels nested arrays: (levels - 1) times 0x91, then 0x90. */
static uint8_t *nested(size_t levels, size_t *n)
{
  uint8_t *p = malloc(levels);
  assert_non_null(p);
  memset(p, 0x91, levels - 1);
  p[levels - 1] = 0x90;
  *n = levels;
  return p;
}

static void test_depth(void **state)
{
  (void)state;
  size_t n;
  uint8_t *p;
  const uint8_t *raw;
  size_t raw_len;
  struct sp_rd r;

  p = nested(SP_MAX_DEPTH, &n);
  CHECK_RC("max depth", sp_msgpack_check(p, n, SP_MAX_DEPTH), SP_OK);
  r = sp_rd_init(p, n);
  CHECK_RC("max depth raw", sp_rd_raw(&r, &raw, &raw_len), SP_OK);
  assert_ptr_equal(raw, p);
  assert_int_equal(raw_len, n);
  free(p);

  p = nested(SP_MAX_DEPTH + 1, &n);
  CHECK_RC("max depth + 1", sp_msgpack_check(p, n, SP_MAX_DEPTH), SP_E_DEPTH);
  r = sp_rd_init(p, n);
  CHECK_RC("max depth + 1 raw", sp_rd_raw(&r, &raw, &raw_len), SP_E_DEPTH);
  free(p);

  /* A smaller limit is honoured exactly. */
  p = nested(3, &n);
  CHECK_RC("3 levels, limit 3", sp_msgpack_check(p, n, 3), SP_OK);
  CHECK_RC("3 levels, limit 2", sp_msgpack_check(p, n, 2), SP_E_DEPTH);
  free(p);
  p = mk(H("\x05"), 0, 0, &n);
  CHECK_RC("scalar, limit 0", sp_msgpack_check(p, n, 0), SP_OK);
  free(p);
  p = mk(H("\x90"), 0, 0, &n);
  CHECK_RC("empty array, limit 0", sp_msgpack_check(p, n, 0), SP_E_DEPTH);
  free(p);

  /* The depth counts open arrays, not arrays seen: siblings do not add up. */
  p = mk(H("\x93\x91\x90\x91\x90\x90"), 0, 0, &n);
  CHECK_RC("siblings, limit 3", sp_msgpack_check(p, n, 3), SP_OK);
  CHECK_RC("siblings, limit 2", sp_msgpack_check(p, n, 2), SP_E_DEPTH);
  free(p);
}

static void test_depth_hostile(void **state)
{
  (void)state;
  size_t n;
  uint8_t *p = nested(100000, &n);
  CHECK_RC("100000 deep", sp_msgpack_check(p, n, SP_MAX_DEPTH), SP_E_DEPTH);
  /* a caller asking for more than the format allows is still bounded: the
   * walk's fixed stack clamps the limit to SP_MAX_DEPTH (ASan would catch
   * an overrun of that stack if the clamp went missing) */
  CHECK_RC("100000 deep, huge limit", sp_msgpack_check(p, n, 1000000), SP_E_DEPTH);
  struct sp_rd r = sp_rd_init(p, n);
  const uint8_t *raw;
  size_t raw_len;
  CHECK_RC("100000 deep raw", sp_rd_raw(&r, &raw, &raw_len), SP_E_DEPTH);
  free(p);
}

/* ------------------------------------------------------------------ UTF8 */

static void test_utf8(void **state)
{
  (void)state;
  const struct row rows[] = {
      {"overlong slash", H("\xa2\xc0\xaf"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"overlong 3-byte", H("\xa3\xe0\x80\xaf"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"overlong 4-byte", H("\xa4\xf0\x80\x80\xaf"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"surrogate D800", H("\xa3\xed\xa0\x80"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"surrogate DFFF", H("\xa3\xed\xbf\xbf"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"above U+10FFFF", H("\xa4\xf4\x90\x80\x80"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"lead byte F8", H("\xa5\xf8\x88\x80\x80\x80"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"lead byte FF", H("\xa1\xff"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"truncated 2 of 3", H("\xa3" "a\xe2\x82"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"truncated 1 of 2", H("\xa1\xc3"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"truncated 3 of 4", H("\xa3\xf0\x9f\x98"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"bad continuation", H("\xa2\xc3\x41"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"lone continuation", H("\xa3" "a\x80" "b"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"lone continuation BF", H("\xa1\xbf"), 0, 0, SP_E_UTF8, R_STR, SP_E_UTF8},
      {"inside array", H("\x92\x01\xa2\xc0\xaf"), 0, 0, SP_E_UTF8, R_RAW, SP_E_UTF8},
      /* valid multibyte is accepted */
      {"e-acute", H("\xa2\xc3\xa9"), 0, 0, SP_OK, R_STR, SP_OK},
      {"euro", H("\xa3\xe2\x82\xac"), 0, 0, SP_OK, R_STR, SP_OK},
      {"emoji", H("\xa4\xf0\x9f\x98\x80"), 0, 0, SP_OK, R_STR, SP_OK},
      {"U+10FFFF", H("\xa4\xf4\x8f\xbf\xbf"), 0, 0, SP_OK, R_STR, SP_OK},
      {"U+D7FF", H("\xa3\xed\x9f\xbf"), 0, 0, SP_OK, R_STR, SP_OK},
      {"mixed", H("\xab" "caf\xc3\xa9 \xe2\x82\xac" "12"), 0, 0, SP_OK, R_STR, SP_OK},
  };
  ROWS(rows);

  /* bin bodies are opaque: the same bytes are fine there */
  size_t n;
  uint8_t *p = mk(H("\xc4\x02\xc0\xaf"), 0, 0, &n);
  CHECK_RC("bin with invalid utf8", sp_msgpack_check(p, n, SP_MAX_DEPTH), SP_OK);
  free(p);

  assert_true(sp_utf8_valid("", 0));
  assert_true(sp_utf8_valid("\xc3\xa9", 2));
  assert_false(sp_utf8_valid("\xc3\xa9", 1));
  assert_false(sp_utf8_valid("\xed\xa0\x80", 3));
}

/* --------------------------------------------------------- text, idents */

static void test_rd_str_limits_and_charset(void **state)
{
  (void)state;
  struct {
    const char *name;
    const char *bytes;
    size_t n;
    uint32_t max;
    int want;
  } rows[] = {
      {"fits max", H("\xa5hello"), 5, SP_OK},
      {"one over max", H("\xa5hello"), 4, SP_E_TOOLONG},
      {"empty, max 0", H("\xa0"), 0, SP_OK},
      {"newline", H("\xa3" "a\nb"), 10, SP_E_CHARSET},
      {"tab", H("\xa1\t"), 10, SP_E_CHARSET},
      {"NUL", H("\xa3" "a\0b"), 10, SP_E_CHARSET},
      {"DEL", H("\xa1\x7f"), 10, SP_E_CHARSET},
      {"C1 U+0085", H("\xa2\xc2\x85"), 10, SP_E_CHARSET},
      {"C1 U+0080", H("\xa2\xc2\x80"), 10, SP_E_CHARSET},
      {"C1 U+009F", H("\xa2\xc2\x9f"), 10, SP_E_CHARSET},
      {"U+00A0 allowed", H("\xa2\xc2\xa0"), 10, SP_OK},
      {"space and tilde", H("\xa3 ~ "), 10, SP_OK},
      {"max counts bytes", H("\xa3\xe2\x82\xac"), 2, SP_E_TOOLONG},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    size_t n;
    uint8_t *p = mk(rows[i].bytes, rows[i].n, 0, 0, &n);
    struct sp_rd r = sp_rd_init(p, n);
    struct sp_str s = {NULL, 0xdeadu};
    CHECK_RC(rows[i].name, sp_rd_str(&r, &s, rows[i].max), rows[i].want);
    if (rows[i].want == SP_OK) {
      assert_ptr_equal(s.p, (const char *)p + 1);
      assert_int_equal(s.len, n - 1);
      CHECK_RC(rows[i].name, sp_rd_done(&r), SP_OK);
    }
    free(p);
  }
}

static void test_rd_ident(void **state)
{
  (void)state;
  char long33[34], long32[33];
  memset(long33, 'a', 33);
  long33[33] = '\0';
  memset(long32, 'b', 32);
  long32[32] = '\0';
  struct {
    const char *id;
    int want;
  } rows[] = {
      {"sport-2027", SP_OK},
      {"school.supplies_1", SP_OK},
      {"a", SP_OK},
      {"7up", SP_OK},
      {long32, SP_OK},
      {"Sport", SP_E_CHARSET},
      {"sporT", SP_E_CHARSET},
      {"-x", SP_E_CHARSET},
      {".x", SP_E_CHARSET},
      {"_x", SP_E_CHARSET},
      {"", SP_E_CHARSET},
      {long33, SP_E_TOOLONG},
      {"a b", SP_E_CHARSET},
      {"caf\xc3\xa9", SP_E_CHARSET},
      {"a/b", SP_E_CHARSET},
      {"a\n", SP_E_CHARSET},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct sp_buf b;
    sp_buf_init(&b, 64);
    sp_wr_str(&b, rows[i].id, (uint32_t)strlen(rows[i].id));
    assert_int_equal(b.err, 0);
    size_t n;
    uint8_t *p = mk((const char *)b.data, b.len, 0, 0, &n);
    sp_buf_free(&b);
    struct sp_rd r = sp_rd_init(p, n);
    struct sp_str s;
    CHECK_RC(rows[i].id, sp_rd_ident(&r, &s), rows[i].want);
    if (rows[i].want == SP_OK) {
      assert_int_equal(s.len, strlen(rows[i].id));
      assert_memory_equal(s.p, rows[i].id, s.len);
    }
    assert_int_equal(sp_ident_valid(rows[i].id, strlen(rows[i].id)), rows[i].want == SP_OK);
    free(p);
  }
}

/* ----------------------------------------- TYPE, COUNT, LENGTH, RANGE */

static void test_type_mismatch(void **state)
{
  (void)state;
  const struct row rows[] = {
      {"uint where bin is", H("\xc4\x01\x00"), 0, 0, SP_OK, R_UINT, SP_E_TYPE},
      {"uint where str is", H("\xa1x"), 0, 0, SP_OK, R_UINT, SP_E_TYPE},
      {"uint where array is", H("\x90"), 0, 0, SP_OK, R_UINT, SP_E_TYPE},
      {"uint where -1 is", H("\xff"), 0, 0, SP_OK, R_UINT, SP_E_TYPE},
      {"bin where str is", H("\xa1x"), 0, 0, SP_OK, R_BIN, SP_E_TYPE},
      {"bin where uint is", H("\x05"), 0, 0, SP_OK, R_BIN, SP_E_TYPE},
      {"str where bin is", H("\xc4\x01x"), 0, 0, SP_OK, R_STR, SP_E_TYPE},
      {"array where uint is", H("\xcd\x01\x00"), 0, 0, SP_OK, R_ARRAY, SP_E_TYPE},
      {"round where str is", H("\xa1x"), 0, 0, SP_OK, R_ROUND, SP_E_TYPE},
  };
  ROWS(rows);
}

static void test_rd_array_variants(void **state)
{
  (void)state;
  size_t n;
  uint8_t *p = mk(H("\x93\x01\x02\x03"), 0, 0, &n);
  struct sp_rd r;
  uint32_t cnt;

  r = sp_rd_init(p, n);
  CHECK_RC("exact 3", sp_rd_array_exact(&r, 3), SP_OK);
  assert_ptr_equal(r.p, p + 1);
  r = sp_rd_init(p, n);
  CHECK_RC("exact 2", sp_rd_array_exact(&r, 2), SP_E_COUNT);
  r = sp_rd_init(p, n);
  CHECK_RC("exact 4", sp_rd_array_exact(&r, 4), SP_E_COUNT);
  r = sp_rd_init(p, n);
  CHECK_RC("max 3", sp_rd_array_max(&r, &cnt, 3, 1), SP_OK);
  assert_int_equal(cnt, 3);
  r = sp_rd_init(p, n);
  CHECK_RC("max 2", sp_rd_array_max(&r, &cnt, 2, 0), SP_E_TOOLONG);
  free(p);

  p = mk(H("\x90"), 0, 0, &n);
  r = sp_rd_init(p, n);
  CHECK_RC("empty, nonempty required", sp_rd_array_max(&r, &cnt, 5, 1), SP_E_RANGE);
  r = sp_rd_init(p, n);
  CHECK_RC("empty allowed", sp_rd_array_max(&r, &cnt, 5, 0), SP_OK);
  assert_int_equal(cnt, 0);
  free(p);
}

static void test_rd_uint_max(void **state)
{
  (void)state;
  size_t n;
  uint8_t *p = mk(H("\xcd\x01\x00"), 0, 0, &n);
  struct sp_rd r = sp_rd_init(p, n);
  uint64_t v;
  CHECK_RC("256 <= 256", sp_rd_uint_max(&r, &v, 256), SP_OK);
  assert_int_equal(v, 256);
  r = sp_rd_init(p, n);
  CHECK_RC("256 > 255", sp_rd_uint_max(&r, &v, 255), SP_E_RANGE);
  free(p);
}

static void test_rd_bin_variants(void **state)
{
  (void)state;
  uint8_t body[40];
  for (size_t i = 0; i < sizeof(body); i++)
    body[i] = (uint8_t)(0xa0 + i);

  struct {
    uint32_t len;
    int want_fix;     /* sp_rd_binfix(.., 32) */
    int want_opt;     /* sp_rd_binopt(.., 32) */
    int want_present; /* when want_opt is OK */
  } rows[] = {
      {32, SP_OK, SP_OK, 1},
      {31, SP_E_LENGTH, SP_E_LENGTH, 0},
      {33, SP_E_LENGTH, SP_E_LENGTH, 0},
      {0, SP_E_LENGTH, SP_OK, 0},
      {5, SP_E_LENGTH, SP_E_LENGTH, 0},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct sp_buf b;
    sp_buf_init(&b, 64);
    sp_wr_bin(&b, body, rows[i].len);
    assert_int_equal(b.err, 0);
    size_t n;
    uint8_t *p = mk((const char *)b.data, b.len, 0, 0, &n);
    sp_buf_free(&b);

    uint8_t out[32];
    struct sp_rd r = sp_rd_init(p, n);
    memset(out, 0x11, sizeof(out));
    CHECK_RC("binfix", sp_rd_binfix(&r, out, 32), rows[i].want_fix);
    if (rows[i].want_fix == SP_OK) {
      assert_memory_equal(out, body, 32);
      CHECK_RC("binfix done", sp_rd_done(&r), SP_OK);
    }

    r = sp_rd_init(p, n);
    memset(out, 0x11, sizeof(out));
    int present = -1;
    CHECK_RC("binopt", sp_rd_binopt(&r, out, 32, &present), rows[i].want_opt);
    if (rows[i].want_opt == SP_OK) {
      assert_int_equal(present, rows[i].want_present);
      if (present) {
        assert_memory_equal(out, body, 32);
      } else {
        uint8_t zero[32] = {0};
        assert_memory_equal(out, zero, 32);
      }
      CHECK_RC("binopt done", sp_rd_done(&r), SP_OK);
    }

    r = sp_rd_init(p, n);
    const uint8_t *bp = NULL;
    uint32_t bn = 0;
    CHECK_RC("bin", sp_rd_bin(&r, &bp, &bn, 32), rows[i].len <= 32 ? SP_OK : SP_E_TOOLONG);
    if (rows[i].len <= 32) {
      assert_int_equal(bn, rows[i].len);
      assert_ptr_equal(bp, p + 2);
    }
    free(p);
  }
}

static void test_rd_round_opt(void **state)
{
  (void)state;
  struct {
    const char *name;
    const char *bytes;
    size_t n;
    int want;
    int64_t v;
  } rows[] = {
      {"-1", H("\xff"), SP_OK, -1},
      {"0", H("\x00"), SP_OK, 0},
      {"7", H("\x07"), SP_OK, 7},
      {"2^32-1", H("\xce\xff\xff\xff\xff"), SP_OK, (int64_t)UINT32_MAX},
      {"-2", H("\xfe"), SP_E_RANGE, 0},
      {"-32", H("\xe0"), SP_E_RANGE, 0},
      {"-33 int8", H("\xd0\xdf"), SP_E_RANGE, 0},
      {"-129 int16", H("\xd1\xff\x7f"), SP_E_RANGE, 0},
      {"2^32", H("\xcf\x00\x00\x00\x01\x00\x00\x00\x00"), SP_E_RANGE, 0},
      {"UINT64_MAX", H("\xcf\xff\xff\xff\xff\xff\xff\xff\xff"), SP_E_RANGE, 0},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    size_t n;
    uint8_t *p = mk(rows[i].bytes, rows[i].n, 0, 0, &n);
    struct sp_rd r = sp_rd_init(p, n);
    int64_t v = 12345;
    CHECK_RC(rows[i].name, sp_rd_round_opt(&r, &v), rows[i].want);
    if (rows[i].want == SP_OK) {
      assert_int_equal(v, rows[i].v);
      CHECK_RC(rows[i].name, sp_rd_done(&r), SP_OK);
    }
    free(p);
  }
}

/* The canonical check itself admits no negative integer but -1. */
static void test_check_negatives(void **state)
{
  (void)state;
  static const uint8_t minus_one[] = {0xff}, minus_two[] = {0xfe}, minus_32[] = {0xe0},
                       minus_33[] = {0xd0, 0xdf}, in_array[] = {0x92, 0x01, 0xfe};
  assert_int_equal(sp_msgpack_check(minus_one, 1, SP_MAX_DEPTH), SP_OK);
  assert_int_equal(sp_msgpack_check(minus_two, 1, SP_MAX_DEPTH), SP_E_RANGE);
  assert_int_equal(sp_msgpack_check(minus_32, 1, SP_MAX_DEPTH), SP_E_RANGE);
  assert_int_equal(sp_msgpack_check(minus_33, 2, SP_MAX_DEPTH), SP_E_RANGE);
  assert_int_equal(sp_msgpack_check(in_array, 3, SP_MAX_DEPTH), SP_E_RANGE);
}

static void test_rd_raw_spans_item(void **state)
{
  (void)state;
  size_t n;
  uint8_t *p = mk(H("\x92\x92\x01\xa2hi\xc4\x01\x00\x07"), 0, 0, &n);
  struct sp_rd r = sp_rd_init(p, n);
  CHECK_RC("outer", sp_rd_array_exact(&r, 2), SP_OK);
  const uint8_t *start;
  size_t len;
  CHECK_RC("raw", sp_rd_raw(&r, &start, &len), SP_OK);
  assert_ptr_equal(start, p + 1);
  assert_int_equal(len, 5); /* 92 01 a2 'h' 'i' */
  CHECK_RC("raw 2", sp_rd_raw(&r, &start, &len), SP_OK);
  assert_ptr_equal(start, p + 6);
  assert_int_equal(len, 3);
  CHECK_RC("trailing", sp_rd_done(&r), SP_E_TRAILING);
  free(p);
}

/* ---------------------------------------------------------------- writer */

static void test_wr_uint_shortest(void **state)
{
  (void)state;
  struct {
    uint64_t v;
    const char *bytes;
    size_t n;
  } rows[] = {
      {0, H("\x00")},
      {1, H("\x01")},
      {127, H("\x7f")},
      {128, H("\xcc\x80")},
      {255, H("\xcc\xff")},
      {256, H("\xcd\x01\x00")},
      {65535, H("\xcd\xff\xff")},
      {65536, H("\xce\x00\x01\x00\x00")},
      {UINT32_MAX, H("\xce\xff\xff\xff\xff")},
      {UINT64_C(1) << 32, H("\xcf\x00\x00\x00\x01\x00\x00\x00\x00")},
      {UINT64_MAX, H("\xcf\xff\xff\xff\xff\xff\xff\xff\xff")},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct sp_buf b;
    sp_buf_init(&b, 16);
    sp_wr_uint(&b, rows[i].v);
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, rows[i].n);
    assert_memory_equal(b.data, rows[i].bytes, rows[i].n);
    CHECK_RC("check", sp_msgpack_check(b.data, b.len, SP_MAX_DEPTH), SP_OK);
    struct sp_rd r = sp_rd_init(b.data, b.len);
    uint64_t v = ~rows[i].v;
    CHECK_RC("read back", sp_rd_uint(&r, &v), SP_OK);
    assert_int_equal(v, rows[i].v);
    CHECK_RC("done", sp_rd_done(&r), SP_OK);
    sp_buf_free(&b);
  }
}

static void test_wr_int_minus_one(void **state)
{
  (void)state;
  struct sp_buf b;
  sp_buf_init(&b, 16);
  sp_wr_int(&b, -1);
  sp_wr_int(&b, 5); /* non-negative ints take the unsigned forms */
  sp_wr_int(&b, 200);
  assert_int_equal(b.err, 0);
  assert_int_equal(b.len, 4);
  assert_memory_equal(b.data, "\xff\x05\xcc\xc8", 4);
  struct sp_rd r = sp_rd_init(b.data, b.len);
  int64_t v = 0;
  CHECK_RC("-1", sp_rd_round_opt(&r, &v), SP_OK);
  assert_int_equal(v, SP_ROUND_NONE);
  CHECK_RC("5", sp_rd_round_opt(&r, &v), SP_OK);
  assert_int_equal(v, 5);
  CHECK_RC("200", sp_rd_round_opt(&r, &v), SP_OK);
  assert_int_equal(v, 200);
  CHECK_RC("done", sp_rd_done(&r), SP_OK);
  sp_buf_free(&b);
}

static void test_wr_array_headers(void **state)
{
  (void)state;
  struct {
    uint32_t count;
    const char *bytes;
    size_t n;
  } rows[] = {
      {0, H("\x90")},
      {15, H("\x9f")},
      {16, H("\xdc\x00\x10")},
      {65535, H("\xdc\xff\xff")},
      {65536, H("\xdd\x00\x01\x00\x00")},
      {UINT32_MAX, H("\xdd\xff\xff\xff\xff")},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct sp_buf b;
    sp_buf_init(&b, 16);
    sp_wr_array(&b, rows[i].count);
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, rows[i].n);
    assert_memory_equal(b.data, rows[i].bytes, rows[i].n);
    sp_buf_free(&b);
  }
}

static void test_wr_str_bin_roundtrip(void **state)
{
  (void)state;
  struct {
    int is_str;
    uint32_t len;
    const char *hdr;
    size_t hdr_n;
  } rows[] = {
      {1, 0, H("\xa0")},
      {1, 1, H("\xa1")},
      {1, 31, H("\xbf")},
      {1, 32, H("\xd9\x20")},
      {1, 255, H("\xd9\xff")},
      {1, 256, H("\xda\x01\x00")},
      {1, 65535, H("\xda\xff\xff")},
      {1, 65536, H("\xdb\x00\x01\x00\x00")},
      {0, 0, H("\xc4\x00")},
      {0, 1, H("\xc4\x01")},
      {0, 255, H("\xc4\xff")},
      {0, 256, H("\xc5\x01\x00")},
      {0, 65535, H("\xc5\xff\xff")},
      {0, 65536, H("\xc6\x00\x01\x00\x00")},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    uint32_t len = rows[i].len;
    char *body = malloc(len ? len : 1);
    assert_non_null(body);
    for (uint32_t k = 0; k < len; k++)
      body[k] = rows[i].is_str ? (char)('a' + k % 26) : (char)(k * 7);

    struct sp_buf b;
    sp_buf_init(&b, 1u << 20);
    if (rows[i].is_str)
      sp_wr_str(&b, body, len);
    else
      sp_wr_bin(&b, body, len);
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, rows[i].hdr_n + len);
    assert_memory_equal(b.data, rows[i].hdr, rows[i].hdr_n);
    if (len)
      assert_memory_equal(b.data + rows[i].hdr_n, body, len);
    CHECK_RC("check", sp_msgpack_check(b.data, b.len, SP_MAX_DEPTH), SP_OK);

    struct sp_rd r = sp_rd_init(b.data, b.len);
    if (rows[i].is_str) {
      struct sp_str s;
      CHECK_RC("rd_str", sp_rd_str(&r, &s, len), SP_OK);
      assert_int_equal(s.len, len);
      assert_ptr_equal(s.p, (const char *)b.data + rows[i].hdr_n);
      if (len) {
        r = sp_rd_init(b.data, b.len);
        CHECK_RC("rd_str max-1", sp_rd_str(&r, &s, len - 1), SP_E_TOOLONG);
      }
    } else {
      const uint8_t *bp;
      uint32_t bn;
      CHECK_RC("rd_bin", sp_rd_bin(&r, &bp, &bn, len), SP_OK);
      assert_int_equal(bn, len);
      assert_ptr_equal(bp, b.data + rows[i].hdr_n);
      if (len) {
        r = sp_rd_init(b.data, b.len);
        CHECK_RC("rd_bin max-1", sp_rd_bin(&r, &bp, &bn, len - 1), SP_E_TOOLONG);
      }
    }
    sp_buf_free(&b);
    free(body);
  }
}

static void test_buf_max_enforced(void **state)
{
  (void)state;
  struct sp_buf b;

  /* Exactly max is fine, one more byte is not. */
  sp_buf_init(&b, 5);
  sp_wr_uint(&b, 65536); /* 5 bytes */
  assert_int_equal(b.err, 0);
  assert_int_equal(b.len, 5);
  assert_true(b.cap <= 5);
  sp_wr_uint(&b, 0);
  assert_int_equal(b.err, SP_E_BUFFER);
  assert_int_equal(b.len, 5);
  sp_buf_free(&b);

  /* Once failed, every further write is ignored. */
  sp_buf_init(&b, 4);
  sp_wr_uint(&b, 1);
  assert_int_equal(b.err, 0);
  sp_wr_uint(&b, UINT64_MAX); /* 9 bytes: over */
  assert_int_equal(b.err, SP_E_BUFFER);
  size_t len_at_err = b.len;
  assert_true(len_at_err <= 4);
  sp_wr_uint(&b, 2);
  sp_wr_array(&b, 0);
  sp_wr_str(&b, "", 0);
  sp_buf_append(&b, "x", 1);
  assert_int_equal(b.err, SP_E_BUFFER);
  assert_int_equal(b.len, len_at_err);
  assert_int_equal(b.data[0], 0x01);

  /* reset clears the error and keeps working within max */
  sp_buf_reset(&b);
  assert_int_equal(b.err, 0);
  assert_int_equal(b.len, 0);
  sp_wr_str(&b, "abc", 3);
  assert_int_equal(b.err, 0);
  assert_memory_equal(b.data, "\xa3" "abc", 4);
  sp_buf_free(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.err, 0);
  /* free leaves it re-usable */
  sp_wr_uint(&b, 7);
  assert_int_equal(b.err, 0);
  assert_int_equal(b.len, 1);
  sp_buf_free(&b);
  sp_buf_free(NULL);

  /* a huge append to a small buffer fails without overflow in len + n */
  sp_buf_init(&b, 100);
  sp_buf_append(&b, "x", 1);
  sp_buf_append(&b, "y", SIZE_MAX);
  assert_int_equal(b.err, SP_E_BUFFER);
  assert_int_equal(b.len, 1);
  sp_buf_free(&b);
}

/* --------------------------------------- cross-check against msgpack-c */

static void test_msgpack_c_agrees_on_canonical(void **state)
{
  (void)state;
  static const uint8_t blob[3] = {0xde, 0xad, 0x00};
  /* [1, -1, "héllo", bin(3), [UINT64_MAX, 300, "x"*40], 65536] */
  struct sp_buf b;
  sp_buf_init(&b, 1024);
  sp_wr_array(&b, 6);
  sp_wr_uint(&b, 1);
  sp_wr_int(&b, -1);
  sp_wr_str(&b, "h\xc3\xa9llo", 6);
  sp_wr_bin(&b, blob, 3);
  sp_wr_array(&b, 3);
  sp_wr_uint(&b, UINT64_MAX);
  sp_wr_uint(&b, 300);
  char forty[40];
  memset(forty, 'x', sizeof(forty));
  sp_wr_str(&b, forty, 40);
  sp_wr_uint(&b, 65536);
  assert_int_equal(b.err, 0);
  CHECK_RC("our check", sp_msgpack_check(b.data, b.len, SP_MAX_DEPTH), SP_OK);

  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  assert_int_equal(msgpack_unpack_next(&u, (const char *)b.data, b.len, &off),
                   MSGPACK_UNPACK_SUCCESS);
  assert_int_equal(off, b.len);
  msgpack_object o = u.data;
  assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY);
  assert_int_equal(o.via.array.size, 6);
  msgpack_object *e = o.via.array.ptr;
  assert_int_equal(e[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
  assert_int_equal(e[0].via.u64, 1);
  assert_int_equal(e[1].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
  assert_true(e[1].via.i64 == -1);
  assert_int_equal(e[2].type, MSGPACK_OBJECT_STR);
  assert_int_equal(e[2].via.str.size, 6);
  assert_memory_equal(e[2].via.str.ptr, "h\xc3\xa9llo", 6);
  assert_int_equal(e[3].type, MSGPACK_OBJECT_BIN);
  assert_int_equal(e[3].via.bin.size, 3);
  assert_memory_equal(e[3].via.bin.ptr, blob, 3);
  assert_int_equal(e[4].type, MSGPACK_OBJECT_ARRAY);
  assert_int_equal(e[4].via.array.size, 3);
  assert_true(e[4].via.array.ptr[0].via.u64 == UINT64_MAX);
  assert_int_equal(e[4].via.array.ptr[1].via.u64, 300);
  assert_int_equal(e[4].via.array.ptr[2].type, MSGPACK_OBJECT_STR);
  assert_int_equal(e[4].via.array.ptr[2].via.str.size, 40);
  assert_int_equal(e[5].via.u64, 65536);

  /* msgpack-c's own packer reproduces our bytes exactly */
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  assert_int_equal(msgpack_pack_object(&pk, o), 0);
  assert_int_equal(sb.size, b.len);
  assert_memory_equal(sb.data, b.data, b.len);
  msgpack_sbuffer_destroy(&sb);
  msgpack_unpacked_destroy(&u);
  sp_buf_free(&b);
}

static void test_msgpack_c_accepts_what_we_refuse(void **state)
{
  (void)state;
  struct {
    const char *name;
    const char *bytes;
    size_t n;
    int want; /* ours */
    size_t msgpack_c_consumes;
  } rows[] = {
      {"uint8 for 5", H("\xcc\x05"), SP_E_NONMINIMAL, 2},
      {"str16 for 3", H("\xda\x00\x03" "abc"), SP_E_NONMINIMAL, 6},
      {"int8 for -1", H("\xd0\xff"), SP_E_NONMINIMAL, 2},
      {"trailing byte", H("\x01\x02"), SP_E_TRAILING, 1},
      {"nil", H("\xc0"), SP_E_FORBIDDEN, 1},
      {"map", H("\x81\x01\x02"), SP_E_FORBIDDEN, 3},
      {"float64", H("\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"), SP_E_FORBIDDEN, 9},
      {"overlong utf8 str", H("\xa2\xc0\xaf"), SP_E_UTF8, 3},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    size_t n;
    uint8_t *p = mk(rows[i].bytes, rows[i].n, 0, 0, &n);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int mrc = msgpack_unpack_next(&u, (const char *)p, n, &off);
    if (mrc != MSGPACK_UNPACK_SUCCESS)
      fail_msg("%s: msgpack-c returned %d", rows[i].name, mrc);
    assert_int_equal(off, rows[i].msgpack_c_consumes);
    msgpack_unpacked_destroy(&u);
    CHECK_RC(rows[i].name, sp_msgpack_check(p, n, SP_MAX_DEPTH), rows[i].want);
    free(p);
  }
}

/* --------------------------------------------------------------- strings */

static void test_str_cmp_eq(void **state)
{
  (void)state;
  struct sp_str a = sp_str_c("abc"), a2 = sp_str_c("abc"), ab = sp_str_c("ab"),
                abd = sp_str_c("abd"), empty = sp_str_c(""), nul = {NULL, 0};
  assert_int_equal(a.len, 3);
  assert_true(sp_str_eq(a, a2));
  assert_false(sp_str_eq(a, ab));
  assert_false(sp_str_eq(a, abd));
  assert_true(sp_str_eq(empty, nul));
  assert_int_equal(sp_str_cmp(a, a2), 0);
  assert_true(sp_str_cmp(ab, a) < 0); /* prefix first */
  assert_true(sp_str_cmp(a, ab) > 0);
  assert_true(sp_str_cmp(a, abd) < 0);
  assert_true(sp_str_cmp(abd, a) > 0);
  assert_true(sp_str_cmp(empty, a) < 0);
  assert_int_equal(sp_str_cmp(empty, nul), 0);
  /* byte-wise, unsigned: 0xc3 sorts after 'z' */
  struct sp_str hi = sp_str_c("\xc3\xa9"), z = sp_str_c("z");
  assert_true(sp_str_cmp(z, hi) < 0);
  /* views need not be NUL-terminated */
  struct sp_str v1 = {"abcX", 3}, v2 = {"abcY", 3};
  assert_true(sp_str_eq(v1, v2));
  assert_int_equal(sp_str_cmp(v1, v2), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nonminimal),
      cmocka_unit_test(test_minimal_boundaries_accepted),
      cmocka_unit_test(test_forbidden),
      cmocka_unit_test(test_trailing),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_toomany),
      cmocka_unit_test(test_depth),
      cmocka_unit_test(test_depth_hostile),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_rd_str_limits_and_charset),
      cmocka_unit_test(test_rd_ident),
      cmocka_unit_test(test_type_mismatch),
      cmocka_unit_test(test_rd_array_variants),
      cmocka_unit_test(test_rd_uint_max),
      cmocka_unit_test(test_rd_bin_variants),
      cmocka_unit_test(test_rd_round_opt),
      cmocka_unit_test(test_check_negatives),
      cmocka_unit_test(test_rd_raw_spans_item),
      cmocka_unit_test(test_wr_uint_shortest),
      cmocka_unit_test(test_wr_int_minus_one),
      cmocka_unit_test(test_wr_array_headers),
      cmocka_unit_test(test_wr_str_bin_roundtrip),
      cmocka_unit_test(test_buf_max_enforced),
      cmocka_unit_test(test_msgpack_c_agrees_on_canonical),
      cmocka_unit_test(test_msgpack_c_accepts_what_we_refuse),
      cmocka_unit_test(test_str_cmp_eq),
  };
  return cmocka_run_group_tests_name("codec", tests, group_setup, NULL);
}
