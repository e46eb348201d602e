/* sp_frame_reader: the same byte stream fed in one piece and split into
 * pieces must give the same frames, the same error and the same number of
 * consumed bytes; and writing the frames back gives the consumed bytes.
 *
 * Input layout: byte 0 chooses how the stream is split (low 2 bits: mode,
 * high 6 bits: parameter), byte 1 chooses the reader's maximum frame size,
 * the rest is the stream. */
#include "fuzz_common.h"

struct run {
  uint8_t *frames; /* payloads back to back */
  size_t frames_len;
  size_t *lens;
  size_t n_frames;
  size_t consumed;
  int rc; /* 0: ran out of input, < 0: error */
};

static void take_frame(struct run *r, const uint8_t *frame, size_t len, size_t max)
{
  FUZZ_CHECK(len >= 1 && len <= max);
  memcpy(r->frames + r->frames_len, frame, len);
  r->frames_len += len;
  r->lens[r->n_frames++] = len;
}

/* Feed p[0..n) into fr, at most `piece` bytes per call; returns when the
 * piece is used up or the reader failed. */
static void feed_piece(struct sp_frame_reader *fr, struct run *r, const uint8_t *p,
                       size_t n, size_t max)
{
  size_t off = 0;
  for (;;) {
    size_t used = 0, len = 0;
    const uint8_t *frame = NULL;
    int rc = sp_frame_reader_feed(fr, p + off, n - off, &used, &frame, &len);
    FUZZ_CHECK(used <= n - off);
    off += used;
    r->consumed += used;
    if (rc < 0) {
      r->rc = rc;
      FUZZ_CHECK(rc == SP_E_FRAME_EMPTY || rc == SP_E_FRAME_TOO_BIG || rc == SP_E_NOMEM);
      return;
    }
    if (rc == 0) {
      FUZZ_CHECK(off == n); /* "need more" only once everything is taken */
      return;
    }
    FUZZ_CHECK(rc == 1);
    take_frame(r, frame, len, max);
    if (off == n)
      return;
  }
}

static uint32_t xorshift(uint32_t *s)
{
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

static void run_init(struct run *r, size_t n)
{
  memset(r, 0, sizeof(*r));
  r->frames = malloc(n ? n : 1);
  r->lens = calloc(n / (SP_FRAME_HEADER + 1) + 1, sizeof(*r->lens));
  FUZZ_CHECK(r->frames && r->lens);
}

static void run_free(struct run *r)
{
  free(r->frames);
  free(r->lens);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  uint8_t mode = data[0] & 3, param = data[0] >> 2;
  size_t max = data[1] == 0xff ? SP_MAX_FRAME : 1 + (size_t)data[1] * data[1];
  const uint8_t *s = data + 2;
  size_t n = size - 2;

  struct sp_frame_reader fr;
  struct run one, split;
  run_init(&one, n);
  run_init(&split, n);

  /* one shot */
  sp_frame_reader_init(&fr, max);
  feed_piece(&fr, &one, s, n, max);
  sp_frame_reader_free(&fr);

  /* split */
  sp_frame_reader_init(&fr, max);
  uint32_t seed = 0x9e3779b9u ^ param;
  size_t off = 0;
  while (off < n && split.rc == 0) {
    size_t piece;
    switch (mode) {
    case 0: piece = 1; break;                                     /* byte by byte */
    case 1: piece = (size_t)param + 1; break;                     /* fixed size */
    case 2: piece = xorshift(&seed) % ((size_t)param + 2); break; /* random, with 0s */
    default: piece = xorshift(&seed) % 8192 + 1; break;           /* random, large */
    }
    if (piece > n - off)
      piece = n - off;
    feed_piece(&fr, &split, s + off, piece, max);
    off += piece;
  }
  FUZZ_CHECK(split.rc != 0 || fr.err == 0);
  if (split.rc < 0) { /* sticky: another feed gives the same error, takes nothing */
    size_t used = 7, len = 0;
    const uint8_t *frame = NULL;
    FUZZ_CHECK(sp_frame_reader_feed(&fr, s, n, &used, &frame, &len) == split.rc);
    FUZZ_CHECK(used == 0);
  }
  sp_frame_reader_free(&fr);

  FUZZ_CHECK(one.rc == split.rc);
  FUZZ_CHECK(one.n_frames == split.n_frames);
  FUZZ_CHECK(one.frames_len == split.frames_len);
  FUZZ_CHECK(one.consumed == split.consumed);
  FUZZ_CHECK(one.n_frames == 0 ||
             memcmp(one.lens, split.lens, one.n_frames * sizeof(*one.lens)) == 0);
  FUZZ_CHECK(one.frames_len == 0 ||
             memcmp(one.frames, split.frames, one.frames_len) == 0);
  if (one.rc == 0)
    FUZZ_CHECK(one.consumed == n);

  /* writing the frames back reproduces the stream up to the last frame */
  struct sp_buf b;
  sp_buf_init(&b, n ? n : 1);
  size_t at = 0;
  for (size_t i = 0; i < one.n_frames; i++) {
    FUZZ_CHECK(sp_frame_write(&b, one.frames + at, one.lens[i], max) == SP_OK);
    at += one.lens[i];
  }
  FUZZ_CHECK(b.len <= one.consumed);
  FUZZ_CHECK(b.len == 0 || memcmp(b.data, s, b.len) == 0);
  sp_buf_free(&b);

  run_free(&one);
  run_free(&split);
  return 0;
}
