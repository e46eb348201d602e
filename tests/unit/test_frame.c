/* Unit tests of length-prefixed framing (proto/src/frame.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sp/codec.h"
#include "sp/crypto.h"
#include "sp/error.h"
#include "sp/frame.h"
#include "sp/limits.h"

#define CHECK_RC(what, got, want)                                                         \
  do {                                                                                    \
    int got_ = (got), want_ = (want);                                                     \
    if (got_ != want_)                                                                    \
      fail_msg("%s: got %d (%s), want %d (%s)", (what), got_, sp_errname(got_), want_,    \
               sp_errname(want_));                                                        \
  } while (0)

static int group_setup(void **state)
{
  (void)state;
  return sp_crypto_init() == SP_OK ? 0 : -1;
}

static uint64_t rng_next(uint64_t *s)
{
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * UINT64_C(2685821657736338717);
}

static uint8_t *payload(size_t n, uint8_t salt)
{
  uint8_t *p = malloc(n ? n : 1);
  assert_non_null(p);
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(i * 31u + (i >> 8) + salt);
  return p;
}

/* ------------------------------------------------------------------ write */

static void test_write_header_big_endian(void **state)
{
  (void)state;
  struct {
    size_t n;
    uint8_t hdr[4];
  } rows[] = {
      {1, {0, 0, 0, 1}},
      {0xff, {0, 0, 0, 0xff}},
      {0x100, {0, 0, 1, 0}},
      {0x010203, {0, 1, 2, 3}},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    uint8_t *p = payload(rows[i].n, (uint8_t)i);
    struct sp_buf b;
    sp_buf_init(&b, SP_MAX_FRAME + SP_FRAME_HEADER);
    CHECK_RC("write", sp_frame_write(&b, p, rows[i].n, SP_MAX_FRAME), SP_OK);
    assert_int_equal(b.len, SP_FRAME_HEADER + rows[i].n);
    assert_memory_equal(b.data, rows[i].hdr, 4);
    assert_memory_equal(b.data + 4, p, rows[i].n);
    sp_buf_free(&b);
    free(p);
  }

  /* Appends after what is already in the buffer. */
  struct sp_buf b;
  sp_buf_init(&b, 64);
  sp_buf_append(&b, "xy", 2);
  CHECK_RC("append", sp_frame_write(&b, "abc", 3, 100), SP_OK);
  assert_int_equal(b.len, 9);
  assert_memory_equal(b.data, "xy\0\0\0\x03" "abc", 9);
  sp_buf_free(&b);
}

static void test_write_refusals(void **state)
{
  (void)state;
  struct sp_buf b;
  sp_buf_init(&b, 1024);
  sp_buf_append(&b, "keep", 4);

  CHECK_RC("empty", sp_frame_write(&b, "x", 0, 100), SP_E_FRAME_EMPTY);
  assert_int_equal(b.len, 4);
  assert_int_equal(b.err, 0);

  uint8_t p[101];
  memset(p, 0x42, sizeof(p));
  CHECK_RC("max", sp_frame_write(&b, p, 100, 100), SP_OK);
  assert_int_equal(b.len, 4 + 4 + 100);
  b.len = 4;
  CHECK_RC("max + 1", sp_frame_write(&b, p, 101, 100), SP_E_FRAME_TOO_BIG);
  assert_int_equal(b.len, 4);
  assert_int_equal(b.err, 0);
  assert_memory_equal(b.data, "keep", 4);
  sp_buf_free(&b);

  /* A buffer limit hit halfway rolls back and leaves the buffer usable. */
  sp_buf_init(&b, 10);
  sp_buf_append(&b, "ab", 2);
  CHECK_RC("over buf max", sp_frame_write(&b, p, 5, 100), SP_E_BUFFER);
  assert_int_equal(b.len, 2);
  assert_int_equal(b.err, 0);
  CHECK_RC("fits", sp_frame_write(&b, p, 4, 100), SP_OK);
  assert_int_equal(b.len, 10);
  sp_buf_free(&b);

  /* A buffer already in error is not written to. */
  sp_buf_init(&b, 2);
  sp_buf_append(&b, "abc", 3);
  assert_int_equal(b.err, SP_E_BUFFER);
  CHECK_RC("sticky buf", sp_frame_write(&b, p, 1, 100), SP_E_BUFFER);
  assert_int_equal(b.len, 0);
  sp_buf_free(&b);
}

/* ----------------------------------------------------------------- reader */

struct stream {
  size_t n_frames;
  size_t sizes[8];
  uint8_t *frames[8];
  struct sp_buf bytes;
};

static void stream_make(struct stream *s)
{
  static const size_t sizes[] = {1, 1000, 70000, 2, 4096, 4097, 1, 8193};
  s->n_frames = sizeof(sizes) / sizeof(sizes[0]);
  sp_buf_init(&s->bytes, 1u << 20);
  for (size_t i = 0; i < s->n_frames; i++) {
    s->sizes[i] = sizes[i];
    s->frames[i] = payload(sizes[i], (uint8_t)(17 * i + 1));
    CHECK_RC("stream write", sp_frame_write(&s->bytes, s->frames[i], sizes[i], 100000),
             SP_OK);
  }
}

static void stream_free(struct stream *s)
{
  for (size_t i = 0; i < s->n_frames; i++)
    free(s->frames[i]);
  sp_buf_free(&s->bytes);
}

/* Feed the stream in chunks chosen by next_chunk; every frame must come out
 * identical and in order, and nothing may be left over. */
typedef size_t (*chunker)(uint64_t *rng, size_t left);

static void feed_all(const struct stream *s, chunker next_chunk, uint64_t seed)
{
  struct sp_frame_reader fr;
  sp_frame_reader_init(&fr, 100000);
  size_t pos = 0, got = 0;
  uint64_t rng = seed;
  while (pos < s->bytes.len) {
    size_t chunk = next_chunk(&rng, s->bytes.len - pos);
    const uint8_t *p = s->bytes.data + pos;
    size_t left = chunk;
    for (;;) {
      size_t used = 12345;
      const uint8_t *frame = NULL;
      size_t len = 0;
      int rc = sp_frame_reader_feed(&fr, p, left, &used, &frame, &len);
      assert_true(rc >= 0);
      assert_true(used <= left);
      p += used;
      left -= used;
      if (rc == 0) {
        assert_int_equal(left, 0);
        break;
      }
      assert_true(got < s->n_frames);
      assert_int_equal(len, s->sizes[got]);
      assert_memory_equal(frame, s->frames[got], len);
      got++;
    }
    pos += chunk;
  }
  assert_int_equal(got, s->n_frames);
  assert_int_equal(fr.hdr_have, 0);
  assert_int_equal(fr.need, 0);
  assert_true(fr.cap <= 100000);
  sp_frame_reader_free(&fr);
}

static size_t chunk_all(uint64_t *rng, size_t left)
{
  (void)rng;
  return left;
}

static size_t chunk_one(uint64_t *rng, size_t left)
{
  (void)rng;
  (void)left;
  return 1;
}

static size_t chunk_random(uint64_t *rng, size_t left)
{
  uint64_t r = rng_next(rng);
  /* mostly small pieces (header splits), sometimes large ones */
  size_t c = (r & 3) == 0 ? (size_t)(r >> 8) % 20000 : (size_t)(r >> 8) % 9;
  if (c == 0)
    c = 1;
  return c < left ? c : left;
}

static void test_reader_at_once(void **state)
{
  (void)state;
  struct stream s;
  stream_make(&s);
  feed_all(&s, chunk_all, 0);
  stream_free(&s);
}

static void test_reader_byte_at_a_time(void **state)
{
  (void)state;
  struct stream s;
  stream_make(&s);
  feed_all(&s, chunk_one, 0);
  stream_free(&s);
}

static void test_reader_random_splits(void **state)
{
  (void)state;
  struct stream s;
  stream_make(&s);
  for (uint64_t seed = 1; seed <= 25; seed++)
    feed_all(&s, chunk_random, seed * UINT64_C(0x9e3779b97f4a7c15));
  stream_free(&s);
}

static void test_reader_max_exact(void **state)
{
  (void)state;
  uint8_t in[4 + 16];
  memcpy(in, "\0\0\0\x10", 4);
  memset(in + 4, 0x33, 16);
  struct sp_frame_reader fr;
  sp_frame_reader_init(&fr, 16);
  size_t used;
  const uint8_t *frame;
  size_t len;
  assert_int_equal(sp_frame_reader_feed(&fr, in, sizeof(in), &used, &frame, &len), 1);
  assert_int_equal(used, sizeof(in));
  assert_int_equal(len, 16);
  assert_memory_equal(frame, in + 4, 16);
  sp_frame_reader_free(&fr);
}

static void test_reader_zero_length(void **state)
{
  (void)state;
  struct sp_frame_reader fr;
  sp_frame_reader_init(&fr, 1000);
  static const uint8_t in[] = {0, 0, 0, 0, 0, 0, 0, 1, 'x'};
  size_t used;
  const uint8_t *frame = NULL;
  size_t len = 0;
  CHECK_RC("zero length", sp_frame_reader_feed(&fr, in, sizeof(in), &used, &frame, &len),
           SP_E_FRAME_EMPTY);
  /* sticky: a valid frame after it is not accepted */
  CHECK_RC("sticky", sp_frame_reader_feed(&fr, in + 4, 5, &used, &frame, &len),
           SP_E_FRAME_EMPTY);
  assert_int_equal(used, 0);
  assert_null(frame);
  sp_frame_reader_free(&fr);
}

static void test_reader_too_big_sticky(void **state)
{
  (void)state;
  struct sp_frame_reader fr;
  sp_frame_reader_init(&fr, 1000);
  /* a valid frame first, then 1001 */
  static const uint8_t in[] = {0, 0, 0, 1, 'a', 0, 0, 0x03, 0xe9, 'b', 'c'};
  size_t used;
  const uint8_t *frame = NULL;
  size_t len = 0;
  assert_int_equal(sp_frame_reader_feed(&fr, in, sizeof(in), &used, &frame, &len), 1);
  assert_int_equal(used, 5);
  assert_int_equal(len, 1);
  assert_int_equal(frame[0], 'a');
  CHECK_RC("too big", sp_frame_reader_feed(&fr, in + 5, sizeof(in) - 5, &used, &frame, &len),
           SP_E_FRAME_TOO_BIG);
  /* the error stays, whatever comes next */
  static const uint8_t ok[] = {0, 0, 0, 1, 'z'};
  for (int i = 0; i < 3; i++) {
    used = 99;
    CHECK_RC("sticky", sp_frame_reader_feed(&fr, ok, sizeof(ok), &used, &frame, &len),
             SP_E_FRAME_TOO_BIG);
    assert_int_equal(used, 0);
  }
  assert_true(fr.cap <= 4096);
  sp_frame_reader_free(&fr);

  /* 0xffffffff with the protocol maximum */
  sp_frame_reader_init(&fr, SP_MAX_FRAME);
  static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
  CHECK_RC("0xffffffff", sp_frame_reader_feed(&fr, huge, sizeof(huge), &used, &frame, &len),
           SP_E_FRAME_TOO_BIG);
  assert_null(fr.buf);
  sp_frame_reader_free(&fr);
}

/* A header announcing the largest allowed frame followed by a trickle of
 * bytes: memory follows the bytes received, not the announced length. */
static void test_reader_hostile_length(void **state)
{
  (void)state;
  struct sp_frame_reader fr;
  sp_frame_reader_init(&fr, SP_MAX_FRAME);
  uint8_t in[4 + 6];
  in[0] = (uint8_t)(SP_MAX_FRAME >> 24);
  in[1] = (uint8_t)(SP_MAX_FRAME >> 16);
  in[2] = (uint8_t)(SP_MAX_FRAME >> 8);
  in[3] = (uint8_t)SP_MAX_FRAME;
  memset(in + 4, 0xab, 6);
  size_t used;
  const uint8_t *frame;
  size_t len;
  assert_int_equal(sp_frame_reader_feed(&fr, in, sizeof(in), &used, &frame, &len), 0);
  assert_int_equal(used, sizeof(in));
  assert_int_equal(fr.need, SP_MAX_FRAME);
  assert_int_equal(fr.have, 6);
  assert_true(fr.cap <= 8192);

  /* keep trickling: capacity stays within twice what arrived (plus the
   * initial block) */
  uint8_t chunk[1000];
  memset(chunk, 0xcd, sizeof(chunk));
  for (int i = 0; i < 300; i++) {
    assert_int_equal(sp_frame_reader_feed(&fr, chunk, sizeof(chunk), &used, &frame, &len),
                     0);
    assert_int_equal(used, sizeof(chunk));
    if (fr.cap > 2 * fr.have + 4096)
      fail_msg("cap %zu after %zu bytes", fr.cap, fr.have);
  }
  sp_frame_reader_free(&fr);
  assert_null(fr.buf);
  assert_int_equal(fr.cap, 0);
  assert_int_equal(fr.max, SP_MAX_FRAME);
}

static void test_reader_free(void **state)
{
  (void)state;
  sp_frame_reader_free(NULL);

  struct sp_frame_reader fr;
  sp_frame_reader_init(&fr, 64);
  sp_frame_reader_free(&fr); /* fresh */
  sp_frame_reader_free(&fr); /* twice */

  /* used, mid-frame: free, then the reader starts over cleanly */
  static const uint8_t in[] = {0, 0, 0, 3, 'a', 'b'};
  size_t used;
  const uint8_t *frame;
  size_t len;
  assert_int_equal(sp_frame_reader_feed(&fr, in, sizeof(in), &used, &frame, &len), 0);
  assert_non_null(fr.buf);
  sp_frame_reader_free(&fr);
  assert_null(fr.buf);
  assert_int_equal(fr.need, 0);
  assert_int_equal(fr.hdr_have, 0);
  assert_int_equal(fr.max, 64);
  static const uint8_t in2[] = {0, 0, 0, 2, 'x', 'y'};
  assert_int_equal(sp_frame_reader_feed(&fr, in2, sizeof(in2), &used, &frame, &len), 1);
  assert_int_equal(len, 2);
  assert_memory_equal(frame, "xy", 2);
  sp_frame_reader_free(&fr);

  /* after an error, free resets the sticky error too */
  static const uint8_t bad[] = {0, 0, 0, 0};
  CHECK_RC("empty", sp_frame_reader_feed(&fr, bad, sizeof(bad), &used, &frame, &len),
           SP_E_FRAME_EMPTY);
  sp_frame_reader_free(&fr);
  assert_int_equal(fr.err, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_header_big_endian),
      cmocka_unit_test(test_write_refusals),
      cmocka_unit_test(test_reader_at_once),
      cmocka_unit_test(test_reader_byte_at_a_time),
      cmocka_unit_test(test_reader_random_splits),
      cmocka_unit_test(test_reader_max_exact),
      cmocka_unit_test(test_reader_zero_length),
      cmocka_unit_test(test_reader_too_big_sticky),
      cmocka_unit_test(test_reader_hostile_length),
      cmocka_unit_test(test_reader_free),
  };
  return cmocka_run_group_tests_name("frame", tests, group_setup, NULL);
}
