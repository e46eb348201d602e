/* Unit tests of the secure channel (proto/src/secure.c, docs/protocol.md 9).
 *
 * Two endpoints are piped to each other in memory (struct pair); the byte
 * streams are delivered whole, byte by byte or in seeded random splits. A
 * second, independent implementation of the wire protocol written straight
 * from the spec with libsodium (struct manual) plays a peer that can do
 * what an honest endpoint never does: send application data before AUTH,
 * replay an AUTH, use another secretstream tag. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sp/codec.h"
#include "sp/crypto.h"
#include "sp/error.h"
#include "sp/frame.h"
#include "sp/limits.h"
#include "sp/msg.h"
#include "sp/secure.h"

#define CHECK_RC(what, got, want)                                                         \
  do {                                                                                    \
    int got_ = (got), want_ = (want);                                                     \
    if (got_ != want_)                                                                    \
      fail_msg("%s: got %d (%s), want %d (%s)", (what), got_, sp_errname(got_), want_,    \
               sp_errname(want_));                                                        \
  } while (0)

#define WIRE_MAX (64u * 1024u * 1024u)
#define KEY_A 0x41 /* Alice: the connecting side */
#define KEY_B 0x42 /* Bob: the accepting side */
#define KEY_M 0x4d /* Mallory */

static const uint8_t CHAIN[SP_HASH_LEN] = {
    0x73, 0x65, 0x63, 0x75, 0x72, 0x65, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x00, 0x01, 0x02, 0x03, 0x04,
    0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14};
static const uint8_t OTHER_CHAIN[SP_HASH_LEN] = {
    0x73, 0x65, 0x63, 0x75, 0x72, 0x65, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x00, 0x01, 0x02, 0x03, 0x04,
    0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x15};

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

static void key(uint8_t which, uint8_t pk[SP_PK_LEN], uint8_t sk[SP_SK_LEN])
{
  uint8_t seed[32];
  memset(seed, which, sizeof(seed));
  assert_int_equal(sp_keypair_from_seed(pk, sk, seed), SP_OK);
}

/* An application payload: an envelope-looking prefix [1, 13, ...] so it is
 * never taken for a HELLO or AUTH, then a pattern. */
static uint8_t *payload(size_t n, uint8_t salt)
{
  uint8_t *p = malloc(n ? n : 1);
  assert_non_null(p);
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(i * 131u + (i >> 9) + salt);
  static const uint8_t prefix[] = {0x93, 0x01, 0x0d};
  memcpy(p, prefix, n < sizeof(prefix) ? n : sizeof(prefix));
  return p;
}

/* ------------------------------------------------------------- endpoints */

struct ep_opt {
  uint8_t key;
  uint32_t role;
  const char *agent;
  const uint8_t *chain;
  size_t max_msg;
  const uint8_t *expect_pk;
  uint32_t expect_role;
};

static struct sp_secure *make_ep(int initiator, const struct ep_opt *o)
{
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN];
  key(o->key, pk, sk);
  struct sp_secure_config cfg = {
      .initiator = initiator,
      .chain_id = o->chain ? o->chain : CHAIN,
      .pk = pk,
      .sk = sk,
      .role = o->role ? o->role : SP_ROLE_VALIDATOR,
      .agent = o->agent,
      .max_msg = o->max_msg,
      .expect_pk = o->expect_pk,
      .expect_role = o->expect_role,
  };
  struct sp_secure *s = NULL;
  CHECK_RC("new", sp_secure_new(&cfg, &s), SP_OK);
  sodium_memzero(sk, sizeof(sk));
  assert_non_null(s);
  return s;
}

#define MAX_GOT 64

struct got {
  size_t n;
  uint8_t *m[MAX_GOT];
  size_t len[MAX_GOT];
};

static void got_add(struct got *g, const uint8_t *m, size_t n)
{
  assert_true(g->n < MAX_GOT);
  assert_true(n >= 1);
  g->m[g->n] = malloc(n);
  assert_non_null(g->m[g->n]);
  memcpy(g->m[g->n], m, n);
  g->len[g->n++] = n;
}

static void got_free(struct got *g)
{
  for (size_t i = 0; i < g->n; i++)
    free(g->m[i]);
  memset(g, 0, sizeof(*g));
}

/* Feed p[0..n) to s in one call sequence; messages go to g. Returns the
 * bytes consumed; *rc receives the error if there was one. */
static size_t feed_all(struct sp_secure *s, const uint8_t *p, size_t n, struct sp_buf *out,
                       struct got *g, int *rc)
{
  size_t off = 0;
  for (;;) {
    size_t used = 12345, len = 0;
    const uint8_t *m = NULL;
    int r = sp_secure_feed(s, p + off, n - off, &used, out, &m, &len);
    assert_true(used <= n - off);
    off += used;
    if (r < 0) {
      *rc = r;
      return off;
    }
    if (r == 0) {
      assert_int_equal(off, n); /* "more needed" only once all is taken */
      return off;
    }
    assert_int_equal(r, 1);
    assert_non_null(m);
    got_add(g, m, len);
    if (off == n && !sp_secure_has_message(s))
      return off;
  }
}

/* After a failure the error is sticky: nothing more is consumed, sealing
 * reports it too. */
static void check_sticky(struct sp_secure *s, int want)
{
  static const uint8_t junk[] = {0, 0, 0, 1, 0x93, 1, 13};
  struct sp_buf out;
  sp_buf_init(&out, 4096);
  for (int i = 0; i < 3; i++) {
    size_t used = 99, len = 0;
    const uint8_t *m = NULL;
    CHECK_RC("sticky feed", sp_secure_feed(s, junk, i == 0 ? 0 : sizeof(junk), &used, &out, &m,
                                           &len),
             want);
    assert_int_equal(used, 0);
  }
  CHECK_RC("sticky seal", sp_secure_seal(s, junk + 4, 3, &out), want);
  CHECK_RC("sticky start", sp_secure_start(s, &out), want);
  CHECK_RC("error getter", sp_secure_error(s), want);
  assert_int_equal(out.len, 0);
  assert_false(sp_secure_established(s));
  sp_buf_free(&out);
}

/* ------------------------------------------------------------------ pair */

enum mode { MODE_WHOLE, MODE_BYTES, MODE_RANDOM };

struct pair {
  struct sp_secure *ep[2]; /* 0: initiator, 1: responder */
  struct sp_buf wire[2];   /* everything ep[i] sent, in order (kept for replays) */
  size_t rd[2];            /* how much of wire[i] the other side was given */
  size_t limit[2];         /* never give the other side more than this of wire[i] */
  int rc[2];               /* the error ep[i] reported */
  struct got got[2];       /* messages ep[i] received */
  enum mode mode;
  uint64_t rng;
};

static void pair_init(struct pair *pr, const struct ep_opt *c, const struct ep_opt *s,
                      enum mode mode, uint64_t seed)
{
  memset(pr, 0, sizeof(*pr));
  pr->ep[0] = make_ep(1, c);
  pr->ep[1] = make_ep(0, s);
  for (int i = 0; i < 2; i++) {
    sp_buf_init(&pr->wire[i], WIRE_MAX);
    pr->limit[i] = SIZE_MAX;
    CHECK_RC("start", sp_secure_start(pr->ep[i], &pr->wire[i]), SP_OK);
    assert_int_equal(pr->wire[i].len, SP_SECURE_HELLO_OUT);
  }
  pr->mode = mode;
  pr->rng = seed | 1;
}

static void pair_free(struct pair *pr)
{
  for (int i = 0; i < 2; i++) {
    sp_secure_free(pr->ep[i]);
    sp_buf_free(&pr->wire[i]);
    got_free(&pr->got[i]);
  }
}

/* Give ep[1-from] what ep[from] sent and it has not seen; 1 if any. */
static int deliver(struct pair *pr, int from)
{
  int to = 1 - from;
  size_t end = pr->wire[from].len;
  if (end > pr->limit[from])
    end = pr->limit[from];
  if (pr->rd[from] >= end || pr->rc[to])
    return 0;
  while (pr->rd[from] < end && pr->rc[to] == 0) {
    size_t chunk = end - pr->rd[from];
    if (pr->mode == MODE_BYTES)
      chunk = 1;
    else if (pr->mode == MODE_RANDOM) {
      uint64_t r = rng_next(&pr->rng);
      size_t c = (r & 3) == 0 ? (size_t)(r >> 8) % 4000 : (size_t)(r >> 8) % 90;
      if (c < chunk)
        chunk = c; /* may be 0: an empty feed must be harmless */
    }
    /* feeding ep[to] appends to wire[to] only: this pointer stays valid */
    pr->rd[from] += feed_all(pr->ep[to], pr->wire[from].data + pr->rd[from], chunk,
                             &pr->wire[to], &pr->got[to], &pr->rc[to]);
  }
  return 1;
}

static void pump(struct pair *pr)
{
  while (deliver(pr, 0) | deliver(pr, 1)) {
  }
}

static void seal(struct pair *pr, int from, const uint8_t *m, size_t n)
{
  CHECK_RC("seal", sp_secure_seal(pr->ep[from], m, n, &pr->wire[from]), SP_OK);
}

static void check_peer(struct sp_secure *s, uint8_t which, uint32_t role, const char *agent)
{
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN], got_pk[SP_PK_LEN];
  key(which, pk, sk);
  uint32_t got_role = 0;
  const char *got_agent = NULL;
  CHECK_RC("peer", sp_secure_peer(s, got_pk, &got_role, &got_agent), SP_OK);
  assert_memory_equal(got_pk, pk, SP_PK_LEN);
  assert_int_equal(got_role, role);
  assert_non_null(got_agent);
  assert_string_equal(got_agent, agent);
  CHECK_RC("peer, pk only", sp_secure_peer(s, got_pk, NULL, NULL), SP_OK);
}

/* An established pair, handshake fully delivered. */
static void pair_open(struct pair *pr, size_t max_msg)
{
  struct ep_opt c = {.key = KEY_A, .role = SP_ROLE_WALLET, .agent = "wallet/1", .max_msg = max_msg};
  struct ep_opt s = {.key = KEY_B, .role = SP_ROLE_VALIDATOR, .agent = "node/1", .max_msg = max_msg};
  pair_init(pr, &c, &s, MODE_WHOLE, 1);
  pump(pr);
  CHECK_RC("client", pr->rc[0], SP_OK);
  CHECK_RC("server", pr->rc[1], SP_OK);
  assert_true(sp_secure_established(pr->ep[0]));
  assert_true(sp_secure_established(pr->ep[1]));
}

/* ----------------------------------------------------------- round trip */

static void round_trip(enum mode mode, uint64_t seed)
{
  struct ep_opt c = {.key = KEY_A, .role = SP_ROLE_WALLET, .agent = "stadjer 0.1.0",
                     .max_msg = 1u << 17};
  struct ep_opt s = {.key = KEY_B, .role = SP_ROLE_VALIDATOR,
                     .agent = "stadjerd 0.1.0 \xc3\xa9\xc3\xa9n", .max_msg = 1u << 17};
  struct pair pr;
  pair_init(&pr, &c, &s, mode, seed);

  uint8_t early[] = {0x93, 0x01, 0x0d, 'h', 'i'};
  CHECK_RC("seal before established", sp_secure_seal(pr.ep[0], early, sizeof(early),
                                                     &pr.wire[0]), SP_E_STATE);
  uint8_t pk[SP_PK_LEN];
  CHECK_RC("peer before established", sp_secure_peer(pr.ep[0], pk, NULL, NULL), SP_E_STATE);

  /* Server HELLO to the client: it answers with header and AUTH at once. */
  deliver(&pr, 1);
  assert_int_equal(pr.wire[0].len, SP_SECURE_HELLO_OUT + 4 + SP_SECURE_HEADER_LEN + 4 +
                                       (1 + 3 + 34 + 1 + 1 + 13 + 66) + SP_SECURE_ABYTES);
  assert_false(sp_secure_established(pr.ep[0]));
  /* Everything of the client to the server: it is established first and
   * may talk at once; its first record reaches the client together with its
   * header and AUTH. */
  deliver(&pr, 0);
  CHECK_RC("server", pr.rc[1], SP_OK);
  assert_true(sp_secure_established(pr.ep[1]));
  assert_false(sp_secure_established(pr.ep[0]));
  seal(&pr, 1, early, sizeof(early));
  pump(&pr);
  CHECK_RC("client", pr.rc[0], SP_OK);
  CHECK_RC("server", pr.rc[1], SP_OK);
  assert_true(sp_secure_established(pr.ep[0]));
  check_peer(pr.ep[0], KEY_B, SP_ROLE_VALIDATOR, "stadjerd 0.1.0 \xc3\xa9\xc3\xa9n");
  check_peer(pr.ep[1], KEY_A, SP_ROLE_WALLET, "stadjer 0.1.0");
  assert_int_equal(pr.got[0].n, 1);
  assert_int_equal(pr.got[0].len[0], sizeof(early));
  assert_memory_equal(pr.got[0].m[0], early, sizeof(early));
  assert_int_equal(pr.got[1].n, 0);
  CHECK_RC("start again", sp_secure_start(pr.ep[0], &pr.wire[0]), SP_E_STATE);

  /* A real message, then sizes up to the maximum, both ways, interleaved. */
  struct sp_msg q;
  memset(&q, 0, sizeof(q));
  q.type = SP_MSG_STATUS_Q;
  q.req_id = 7;
  struct sp_buf enc;
  sp_buf_init(&enc, 64);
  CHECK_RC("encode", sp_msg_encode(&q, &enc), SP_OK);
  seal(&pr, 0, enc.data, enc.len);

  static const size_t sizes[] = {1, 2, 3, 100, 4095, 4096, 70000, 1u << 17};
  size_t n_sizes = sizeof(sizes) / sizeof(sizes[0]);
  uint8_t *msgs[2][sizeof(sizes) / sizeof(sizes[0])];
  for (size_t i = 0; i < n_sizes; i++) {
    for (int side = 0; side < 2; side++) {
      msgs[side][i] = payload(sizes[i], (uint8_t)(i * 2 + (size_t)side));
      seal(&pr, side, msgs[side][i], sizes[i]);
    }
    if (i % 3 == 1)
      pump(&pr); /* some deliveries in between */
  }
  pump(&pr);
  CHECK_RC("client", pr.rc[0], SP_OK);
  CHECK_RC("server", pr.rc[1], SP_OK);

  assert_int_equal(pr.got[1].n, 1 + n_sizes);
  assert_int_equal(pr.got[1].len[0], enc.len);
  assert_memory_equal(pr.got[1].m[0], enc.data, enc.len);
  struct sp_msg d;
  CHECK_RC("decode delivered", sp_msg_decode(pr.got[1].m[0], pr.got[1].len[0], &d), SP_OK);
  assert_int_equal(d.type, SP_MSG_STATUS_Q);
  assert_int_equal(d.req_id, 7);
  sp_msg_clear(&d);
  assert_int_equal(pr.got[0].n, 1 + n_sizes);
  for (size_t i = 0; i < n_sizes; i++) {
    assert_int_equal(pr.got[1].len[1 + i], sizes[i]);
    assert_memory_equal(pr.got[1].m[1 + i], msgs[0][i], sizes[i]);
    assert_int_equal(pr.got[0].len[1 + i], sizes[i]);
    assert_memory_equal(pr.got[0].m[1 + i], msgs[1][i], sizes[i]);
    free(msgs[0][i]);
    free(msgs[1][i]);
  }
  assert_int_equal(sp_secure_error(pr.ep[0]), SP_OK);
  sp_buf_free(&enc);
  pair_free(&pr);
}

static void test_round_trip_whole(void **state)
{
  (void)state;
  round_trip(MODE_WHOLE, 1);
}

static void test_round_trip_bytes(void **state)
{
  (void)state;
  round_trip(MODE_BYTES, 1);
}

static void test_round_trip_random(void **state)
{
  (void)state;
  for (uint64_t seed = 1; seed <= 12; seed++)
    round_trip(MODE_RANDOM, seed * UINT64_C(0x9e3779b97f4a7c15));
}

/* A sealed message is a MESSAGE-tagged record of exactly 4 + len + 17
 * bytes: its length, the message, the tag. */
static void test_record_layout(void **state)
{
  (void)state;
  struct pair pr;
  pair_open(&pr, 0);
  size_t before = pr.wire[0].len;
  uint8_t *m = payload(300, 9);
  seal(&pr, 0, m, 300);
  assert_int_equal(pr.wire[0].len - before, 4 + 4 + 300 + SP_SECURE_ABYTES);
  const uint8_t *h = pr.wire[0].data + before;
  assert_int_equal((size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3],
                   4 + 300 + SP_SECURE_ABYTES);
  assert_memory_not_equal(h + 4 + 1, m, 300); /* not in clear */
  pump(&pr);
  assert_int_equal(pr.got[1].n, 1);
  free(m);
  pair_free(&pr);
}

/* ---------------------------------------------------------- refusals */

static void test_wrong_chain(void **state)
{
  (void)state;
  struct ep_opt c = {.key = KEY_A};
  struct ep_opt s = {.key = KEY_B, .chain = OTHER_CHAIN};
  struct pair pr;
  pair_init(&pr, &c, &s, MODE_WHOLE, 1);
  pump(&pr);
  CHECK_RC("client", pr.rc[0], SP_E_HANDSHAKE);
  CHECK_RC("server", pr.rc[1], SP_E_HANDSHAKE);
  /* Nothing but the HELLOs went out. */
  assert_int_equal(pr.wire[0].len, SP_SECURE_HELLO_OUT);
  assert_int_equal(pr.wire[1].len, SP_SECURE_HELLO_OUT);
  check_sticky(pr.ep[0], SP_E_HANDSHAKE);
  check_sticky(pr.ep[1], SP_E_HANDSHAKE);
  pair_free(&pr);
}

static void test_expected_peer(void **state)
{
  (void)state;
  uint8_t pk_b[SP_PK_LEN], pk_m[SP_PK_LEN], sk[SP_SK_LEN];
  key(KEY_B, pk_b, sk);
  key(KEY_M, pk_m, sk);
  struct {
    const char *name;
    const uint8_t *expect_pk;
    uint32_t expect_role;
    int want;
  } rows[] = {
      {"right key", pk_b, 0, SP_OK},
      {"right key and role", pk_b, SP_ROLE_VALIDATOR, SP_OK},
      {"right role", NULL, SP_ROLE_VALIDATOR, SP_OK},
      {"other key", pk_m, 0, SP_E_AUTH},
      {"other role", pk_b, SP_ROLE_OBSERVER, SP_E_AUTH},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct ep_opt c = {.key = KEY_A, .expect_pk = rows[i].expect_pk,
                       .expect_role = rows[i].expect_role};
    struct ep_opt s = {.key = KEY_B, .role = SP_ROLE_VALIDATOR};
    struct pair pr;
    pair_init(&pr, &c, &s, MODE_WHOLE, 1);
    pump(&pr);
    CHECK_RC(rows[i].name, pr.rc[0], rows[i].want);
    CHECK_RC(rows[i].name, pr.rc[1], SP_OK);
    assert_int_equal(sp_secure_established(pr.ep[0]), rows[i].want == SP_OK);
    if (rows[i].want) {
      check_sticky(pr.ep[0], rows[i].want);
      uint8_t pk[SP_PK_LEN];
      CHECK_RC(rows[i].name, sp_secure_peer(pr.ep[0], pk, NULL, NULL), SP_E_STATE);
    }
    pair_free(&pr);
  }
}

/* The largest AUTH (agent of SP_MAX_AGENT bytes) fits the AUTH record limit. */
static void test_longest_agent(void **state)
{
  (void)state;
  char agent[SP_MAX_AGENT + 1];
  memset(agent, 'v', SP_MAX_AGENT);
  agent[SP_MAX_AGENT] = '\0';
  struct pair pr;
  pair_init(&pr, &(struct ep_opt){.key = KEY_A, .agent = agent},
            &(struct ep_opt){.key = KEY_B, .agent = agent}, MODE_RANDOM, 5);
  deliver(&pr, 1);
  assert_int_equal(pr.wire[0].len, SP_SECURE_HELLO_OUT + SP_SECURE_HANDSHAKE_OUT);
  pump(&pr);
  CHECK_RC("client", pr.rc[0], SP_OK);
  CHECK_RC("server", pr.rc[1], SP_OK);
  check_peer(pr.ep[0], KEY_B, SP_ROLE_VALIDATOR, agent);
  check_peer(pr.ep[1], KEY_A, SP_ROLE_VALIDATOR, agent);
  pair_free(&pr);
}

/* A bit flipped anywhere in a record's ciphertext: SP_E_DECRYPT. */
static void test_tampered_record(void **state)
{
  (void)state;
  uint8_t m[10];
  memcpy(m, "\x93\x01\x0dpayload", sizeof(m));
  for (size_t pos = 0; pos < sizeof(m) + SP_SECURE_ABYTES; pos++) {
    struct pair pr;
    pair_open(&pr, 0);
    size_t at = pr.wire[0].len;
    seal(&pr, 0, m, sizeof(m));
    pr.wire[0].data[at + 4 + pos] ^= (uint8_t)(1u << (pos % 8));
    pump(&pr);
    CHECK_RC("tampered", pr.rc[1], SP_E_DECRYPT);
    assert_int_equal(pr.got[1].n, 0);
    check_sticky(pr.ep[1], SP_E_DECRYPT);
    pair_free(&pr);
  }

  /* ... and in the handshake's AUTH record. */
  struct pair pr;
  pair_init(&pr, &(struct ep_opt){.key = KEY_A}, &(struct ep_opt){.key = KEY_B}, MODE_WHOLE, 1);
  deliver(&pr, 1); /* client now has header + AUTH queued */
  pr.wire[0].data[pr.wire[0].len - 5] ^= 0x20;
  pump(&pr);
  CHECK_RC("tampered auth", pr.rc[1], SP_E_DECRYPT);
  assert_false(sp_secure_established(pr.ep[1]));
  pair_free(&pr);
}

/* secretstream nonces advance: record 1 again in place of record 2, or
 * record 2 before record 1, does not decrypt. */
static void test_replayed_record(void **state)
{
  (void)state;
  uint8_t m1[] = {0x93, 0x01, 0x0d, '1'}, m2[] = {0x93, 0x01, 0x0d, '2'};
  for (int reorder = 0; reorder < 2; reorder++) {
    struct pair pr;
    pair_open(&pr, 0);
    size_t r1 = pr.wire[0].len;
    seal(&pr, 0, m1, sizeof(m1));
    size_t r2 = pr.wire[0].len;
    seal(&pr, 0, m2, sizeof(m2));
    size_t rec = r2 - r1;
    assert_int_equal(pr.wire[0].len - r2, rec);
    uint8_t *copy = malloc(2 * rec);
    assert_non_null(copy);
    memcpy(copy, pr.wire[0].data + r1, 2 * rec);
    if (reorder) { /* record 2, then record 1 */
      memcpy(pr.wire[0].data + r1, copy + rec, rec);
      memcpy(pr.wire[0].data + r2, copy, rec);
    } else { /* record 1 twice */
      memcpy(pr.wire[0].data + r2, copy, rec);
    }
    pump(&pr);
    CHECK_RC("replayed", pr.rc[1], SP_E_DECRYPT);
    assert_int_equal(pr.got[1].n, reorder ? 0 : 1);
    if (!reorder)
      assert_memory_equal(pr.got[1].m[0], m1, sizeof(m1));
    check_sticky(pr.ep[1], SP_E_DECRYPT);
    free(copy);
    pair_free(&pr);
  }
}

static void test_record_too_big(void **state)
{
  (void)state;
  struct pair pr;
  pair_open(&pr, 1000);
  uint8_t *m = payload(1001, 3);
  size_t len = pr.wire[0].len;
  CHECK_RC("seal max + 1", sp_secure_seal(pr.ep[0], m, 1001, &pr.wire[0]), SP_E_FRAME_TOO_BIG);
  CHECK_RC("seal empty", sp_secure_seal(pr.ep[0], m, 0, &pr.wire[0]), SP_E_FRAME_EMPTY);
  assert_int_equal(pr.wire[0].len, len);
  seal(&pr, 0, m, 1000); /* the maximum itself passes */
  pump(&pr);
  assert_int_equal(pr.got[1].n, 1);
  assert_int_equal(pr.got[1].len[0], 1000);

  /* A frame announcing max + 4 + 17 + 1 bytes is refused from its header. */
  static const uint8_t big[] = {0, 0, (1000 + 22) >> 8, (1000 + 22) & 0xff};
  sp_buf_append(&pr.wire[0], big, sizeof(big));
  pump(&pr);
  CHECK_RC("too big", pr.rc[1], SP_E_FRAME_TOO_BIG);
  check_sticky(pr.ep[1], SP_E_FRAME_TOO_BIG);
  free(m);
  pair_free(&pr);

  /* A record frame of length 0 is a framing error too. */
  pair_open(&pr, 0);
  static const uint8_t empty[] = {0, 0, 0, 0};
  sp_buf_append(&pr.wire[1], empty, sizeof(empty));
  pump(&pr);
  CHECK_RC("empty", pr.rc[0], SP_E_FRAME_EMPTY);
  pair_free(&pr);
}

/* The stream cut at every byte: never a message that was not complete, never
 * an error, never a crash; established exactly once the AUTH is in. */
static void test_truncated(void **state)
{
  (void)state;
  const uint8_t m[] = {0x93, 0x01, 0x0d, 'x', 'y'};
  size_t full = 0, auth_end = 0;
  for (size_t cut = 0;; cut++) {
    struct pair pr;
    pair_init(&pr, &(struct ep_opt){.key = KEY_A}, &(struct ep_opt){.key = KEY_B},
              MODE_BYTES, 1);
    pr.limit[0] = cut;
    pump(&pr);
    if (sp_secure_established(pr.ep[0])) {
      if (auth_end == 0)
        auth_end = pr.wire[0].len;
      seal(&pr, 0, m, sizeof(m));
      pump(&pr);
    }
    CHECK_RC("client", pr.rc[0], SP_OK);
    CHECK_RC("server", pr.rc[1], SP_OK);
    assert_int_equal(pr.got[0].n, 0);
    if (full == 0 && pr.wire[0].len > auth_end && auth_end)
      full = pr.wire[0].len;
    int done = full && cut >= full;
    assert_int_equal(pr.got[1].n, done ? 1 : 0);
    assert_int_equal(sp_secure_established(pr.ep[1]), auth_end && cut >= auth_end);
    pair_free(&pr);
    if (done)
      break;
    assert_true(cut < 4096);
  }
  assert_int_equal(full, auth_end + 4 + 4 + sizeof(m) + SP_SECURE_ABYTES);
}

/* A MITM replays the client's whole recorded stream of session 1 (HELLO,
 * header, AUTH, a record) to a server in session 2: the server's fresh
 * ephemeral key makes other session keys, so the old AUTH record does not
 * even decrypt. */
static void test_replayed_session(void **state)
{
  (void)state;
  struct pair one;
  pair_init(&one, &(struct ep_opt){.key = KEY_A}, &(struct ep_opt){.key = KEY_B}, MODE_WHOLE, 1);
  pump(&one);
  assert_true(sp_secure_established(one.ep[1]));
  uint8_t m[] = {0x93, 0x01, 0x0d};
  seal(&one, 0, m, sizeof(m));
  pump(&one);
  assert_int_equal(one.got[1].n, 1);

  struct sp_secure *bob = make_ep(0, &(struct ep_opt){.key = KEY_B});
  struct sp_buf out;
  sp_buf_init(&out, WIRE_MAX);
  CHECK_RC("start", sp_secure_start(bob, &out), SP_OK);
  struct got g;
  memset(&g, 0, sizeof(g));
  int rc = 0;
  feed_all(bob, one.wire[0].data, one.wire[0].len, &out, &g, &rc);
  CHECK_RC("replayed session", rc, SP_E_DECRYPT);
  assert_int_equal(g.n, 0);
  assert_false(sp_secure_established(bob));
  check_sticky(bob, SP_E_DECRYPT);
  sp_secure_free(bob);
  sp_buf_free(&out);
  pair_free(&one);
}

/* --------------------------------------------- an independent peer (spec) */

struct manual {
  int initiator;
  uint8_t chain[SP_HASH_LEN];
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN];
  uint8_t eph_pk[SP_KX_LEN], eph_sk[SP_KX_LEN];
  uint8_t peer_eph[SP_KX_LEN];
  uint8_t rx[32], tx[32];
  crypto_secretstream_xchacha20poly1305_state push, pull;
  int frames;  /* frames read from the endpoint */
  size_t seen; /* bytes of the endpoint's output read */
  struct sp_frame_reader fr;
  struct sp_buf out; /* what we send to the endpoint */
  size_t given;      /* bytes of out given to the endpoint */
  struct got got;    /* the endpoint's AUTH, then each message it sent */
  size_t records;    /* application records read from the endpoint */
};

static void man_init(struct manual *m, int initiator, uint8_t which)
{
  memset(m, 0, sizeof(*m));
  m->initiator = initiator;
  memcpy(m->chain, CHAIN, SP_HASH_LEN);
  key(which, m->pk, m->sk);
  assert_int_equal(crypto_kx_keypair(m->eph_pk, m->eph_sk), 0);
  sp_frame_reader_init(&m->fr, SP_MAX_FRAME + SP_SECURE_ITEM_HEADER + SP_SECURE_ABYTES);
  sp_buf_init(&m->out, WIRE_MAX);
}

static void man_free(struct manual *m)
{
  sp_frame_reader_free(&m->fr);
  sp_buf_free(&m->out);
  got_free(&m->got);
  sodium_memzero(m, sizeof(*m));
}

static void man_frame(struct manual *m, const void *p, size_t n)
{
  CHECK_RC("frame",
           sp_frame_write(&m->out, p, n, SP_MAX_FRAME + SP_SECURE_ITEM_HEADER + SP_SECURE_ABYTES),
           SP_OK);
}

static void man_hello_with(struct manual *m, const uint8_t *chain, const uint8_t *eph)
{
  struct sp_msg h;
  memset(&h, 0, sizeof(h));
  h.type = SP_MSG_HELLO;
  memcpy(h.u.hello.chain_id, chain, SP_HASH_LEN);
  memcpy(h.u.hello.eph, eph, SP_KX_LEN);
  struct sp_buf b;
  sp_buf_init(&b, 1024);
  CHECK_RC("encode hello", sp_msg_encode(&h, &b), SP_OK);
  assert_int_equal(b.len, SP_SECURE_HELLO_LEN);
  man_frame(m, b.data, b.len);
  sp_buf_free(&b);
}

static void man_hello(struct manual *m)
{
  man_hello_with(m, m->chain, m->eph_pk);
}

static void man_header(struct manual *m)
{
  uint8_t h[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  assert_int_equal(crypto_secretstream_xchacha20poly1305_init_push(&m->push, h, m->tx), 0);
  man_frame(m, h, sizeof(h));
}

static void man_record(struct manual *m, const void *p, size_t n, unsigned char tag)
{
  uint8_t *c = malloc(n + SP_SECURE_ABYTES);
  assert_non_null(c);
  assert_int_equal(crypto_secretstream_xchacha20poly1305_push(&m->push, c, NULL, p, n, NULL, 0,
                                                              tag), 0);
  man_frame(m, c, n + SP_SECURE_ABYTES);
  free(c);
}

/* An application record: the messages ps[i][0..ns[i]) each behind its
 * 4-byte length (section 9.4), sealed with `tag`. */
static void man_items(struct manual *m, const uint8_t *const *ps, const size_t *ns, size_t k,
                      unsigned char tag)
{
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  for (size_t i = 0; i < k; i++) {
    uint8_t h[4] = {(uint8_t)(ns[i] >> 24), (uint8_t)(ns[i] >> 16), (uint8_t)(ns[i] >> 8),
                    (uint8_t)ns[i]};
    sp_buf_append(&b, h, sizeof(h));
    sp_buf_append(&b, ps[i], ns[i]);
  }
  assert_int_equal(b.err, 0);
  man_record(m, b.data, b.len, tag);
  sp_buf_free(&b);
}

static void man_app(struct manual *m, const void *p, size_t n)
{
  const uint8_t *ps[1] = {p};
  man_items(m, ps, &n, 1, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
}

/* AUTH claiming key `claim` and role `role`, signed by `signer` over the
 * given role, ephemeral keys and chain. */
struct auth_spec {
  uint8_t claim, signer;
  uint32_t role, signed_role;
  const uint8_t *e1, *e2; /* signed as own_eph, peer_eph */
  const uint8_t *chain;
};

static void man_auth_bytes(const struct auth_spec *a, struct sp_buf *out)
{
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN], spk[SP_PK_LEN], ssk[SP_SK_LEN];
  key(a->claim, pk, sk);
  key(a->signer, spk, ssk);
  struct sp_buf sb;
  sp_buf_init(&sb, 1024);
  CHECK_RC("signbytes", sp_auth_signbytes(pk, a->signed_role, a->e1, a->e2, &sb), SP_OK);
  struct sp_msg m;
  memset(&m, 0, sizeof(m));
  m.type = SP_MSG_AUTH;
  memcpy(m.u.auth.pk, pk, SP_PK_LEN);
  m.u.auth.role = a->role;
  m.u.auth.agent = sp_str_c("manual");
  CHECK_RC("sign", sp_sign_dom(m.u.auth.sig, SP_DOM_HANDSHAKE, a->chain, sb.data, sb.len, ssk),
           SP_OK);
  CHECK_RC("encode auth", sp_msg_encode(&m, out), SP_OK);
  sp_buf_free(&sb);
}

/* The honest AUTH of m's own key. */
static void man_auth(struct manual *m, uint8_t which)
{
  struct auth_spec a = {which, which, SP_ROLE_OBSERVER, SP_ROLE_OBSERVER, m->eph_pk,
                        m->peer_eph, m->chain};
  struct sp_buf b;
  sp_buf_init(&b, 1024);
  man_auth_bytes(&a, &b);
  man_record(m, b.data, b.len, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  sp_buf_free(&b);
}

/* Read what the endpoint sent (out[seen..]), checking it follows the spec. */
static void man_read(struct manual *m, const struct sp_buf *epout)
{
  while (m->seen < epout->len) {
    size_t used = 0, len = 0;
    const uint8_t *f = NULL;
    int rc = sp_frame_reader_feed(&m->fr, epout->data + m->seen, epout->len - m->seen, &used, &f,
                                  &len);
    m->seen += used;
    assert_true(rc >= 0);
    if (rc == 0)
      break;
    if (m->frames == 0) {
      struct sp_msg h;
      assert_int_equal(len, SP_SECURE_HELLO_LEN);
      CHECK_RC("endpoint hello", sp_msg_decode(f, len, &h), SP_OK);
      assert_int_equal(h.type, SP_MSG_HELLO);
      assert_int_equal(h.req_id, 0);
      assert_memory_equal(h.u.hello.chain_id, m->chain, SP_HASH_LEN);
      memcpy(m->peer_eph, h.u.hello.eph, SP_KX_LEN);
      if (m->initiator)
        assert_int_equal(crypto_kx_client_session_keys(m->rx, m->tx, m->eph_pk, m->eph_sk,
                                                       m->peer_eph), 0);
      else
        assert_int_equal(crypto_kx_server_session_keys(m->rx, m->tx, m->eph_pk, m->eph_sk,
                                                       m->peer_eph), 0);
    } else if (m->frames == 1) {
      assert_int_equal(len, SP_SECURE_HEADER_LEN);
      assert_int_equal(crypto_secretstream_xchacha20poly1305_init_pull(&m->pull, f, m->rx), 0);
    } else {
      uint8_t *p = malloc(len);
      assert_non_null(p);
      unsigned long long n = 0;
      unsigned char tag = 0xff;
      assert_int_equal(crypto_secretstream_xchacha20poly1305_pull(&m->pull, p, &n, &tag, f, len,
                                                                  NULL, 0), 0);
      assert_int_equal(tag, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
      assert_int_equal(n, len - SP_SECURE_ABYTES);
      if (m->frames == 2) { /* the endpoint's AUTH: a record of its own */
        got_add(&m->got, p, (size_t)n);
      } else { /* then every record is one or more length-prefixed messages */
        size_t off = 0;
        while (off < n) {
          assert_true(n - off >= 4);
          size_t k = (size_t)p[off] << 24 | (size_t)p[off + 1] << 16 |
                     (size_t)p[off + 2] << 8 | p[off + 3];
          off += 4;
          assert_true(k >= 1 && k <= n - off);
          got_add(&m->got, p + off, k);
          off += k;
        }
        m->records++;
      }
      free(p);
    }
    m->frames++;
  }
}

/* The endpoint's AUTH (m->got.m[0]) must verify over (its eph, our eph). */
static void man_check_auth(const struct manual *m, uint8_t which, uint32_t role)
{
  assert_true(m->got.n >= 1);
  struct sp_msg a;
  CHECK_RC("endpoint auth", sp_msg_decode(m->got.m[0], m->got.len[0], &a), SP_OK);
  assert_int_equal(a.type, SP_MSG_AUTH);
  assert_int_equal(a.req_id, 0);
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN];
  key(which, pk, sk);
  assert_memory_equal(a.u.auth.pk, pk, SP_PK_LEN);
  assert_int_equal(a.u.auth.role, role);
  struct sp_buf sb;
  sp_buf_init(&sb, 1024);
  CHECK_RC("signbytes", sp_auth_signbytes(pk, role, m->peer_eph, m->eph_pk, &sb), SP_OK);
  CHECK_RC("endpoint auth sig",
           sp_verify_dom(a.u.auth.sig, SP_DOM_HANDSHAKE, m->chain, sb.data, sb.len, pk), SP_OK);
  sp_buf_free(&sb);
  sp_msg_clear(&a);
}

/* An endpoint talking to a manual peer. */
struct bench {
  struct sp_secure *ep;
  struct sp_buf out; /* the endpoint's output */
  struct got got;
  int rc;
  struct manual m;
};

static void bench_init(struct bench *b, int ep_initiator, uint8_t ep_key, uint8_t man_key)
{
  memset(b, 0, sizeof(*b));
  b->ep = make_ep(ep_initiator, &(struct ep_opt){.key = ep_key, .agent = "ep"});
  sp_buf_init(&b->out, WIRE_MAX);
  CHECK_RC("start", sp_secure_start(b->ep, &b->out), SP_OK);
  man_init(&b->m, !ep_initiator, man_key);
}

static void bench_free(struct bench *b)
{
  sp_secure_free(b->ep);
  sp_buf_free(&b->out);
  got_free(&b->got);
  man_free(&b->m);
}

/* Give the endpoint what the manual peer queued, then read its answer. */
static void bench_flush(struct bench *b)
{
  if (b->rc == 0 && b->m.given < b->m.out.len)
    b->m.given += feed_all(b->ep, b->m.out.data + b->m.given, b->m.out.len - b->m.given, &b->out,
                           &b->got, &b->rc);
  man_read(&b->m, &b->out);
}

/* HELLO and header both ways: the endpoint's AUTH is in b->m.got. */
static void bench_to_auth(struct bench *b)
{
  man_read(&b->m, &b->out); /* the endpoint's HELLO: keys */
  man_hello(&b->m);
  man_header(&b->m);
  bench_flush(b);
  CHECK_RC("handshake", b->rc, SP_OK);
  assert_int_equal(b->m.frames, 3);
  assert_false(sp_secure_established(b->ep));
}

/* The spec, implemented separately, and the module agree, in both roles. */
static void test_interop(void **state)
{
  (void)state;
  for (int ep_initiator = 0; ep_initiator < 2; ep_initiator++) {
    struct bench b;
    bench_init(&b, ep_initiator, KEY_A, KEY_B);
    /* wire sizes of section 9: HELLO frame 76 bytes */
    assert_int_equal(b.out.len, 4 + SP_SECURE_HELLO_LEN);
    bench_to_auth(&b);
    assert_int_equal(b.out.len, 76 + 4 + 24 + 4 + (1 + 3 + 34 + 1 + 3 + 66) + 17);
    man_check_auth(&b.m, KEY_A, SP_ROLE_VALIDATOR);
    man_auth(&b.m, KEY_B);
    uint8_t hi[] = {0x93, 0x01, 0x0d, 'm'};
    man_app(&b.m, hi, sizeof(hi));
    bench_flush(&b);
    CHECK_RC("established", b.rc, SP_OK);
    assert_true(sp_secure_established(b.ep));
    check_peer(b.ep, KEY_B, SP_ROLE_OBSERVER, "manual");
    assert_int_equal(b.got.n, 1);
    assert_memory_equal(b.got.m[0], hi, sizeof(hi));
    uint8_t back[] = {0x93, 0x01, 0x0e, 'e'};
    size_t before = b.out.len;
    CHECK_RC("seal", sp_secure_seal(b.ep, back, sizeof(back), &b.out), SP_OK);
    /* frame length || ciphertext of (item length || message) */
    assert_int_equal(b.out.len - before, 4 + 4 + sizeof(back) + SP_SECURE_ABYTES);
    man_read(&b.m, &b.out);
    assert_int_equal(b.m.got.n, 2);
    assert_memory_equal(b.m.got.m[1], back, sizeof(back));

    /* three messages in one record, both ways */
    uint8_t m1[] = {0x93, 0x01, 0x0d, 'a'}, m2[] = {0x93, 0x01, 0x0d, 'b', 'b'},
            m3[] = {0x93, 0x01, 0x0d, 'c', 'c', 'c'};
    const uint8_t *ps[] = {m1, m2, m3};
    size_t ns[] = {sizeof(m1), sizeof(m2), sizeof(m3)};
    man_items(&b.m, ps, ns, 3, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    bench_flush(&b);
    CHECK_RC("batch in", b.rc, SP_OK);
    assert_int_equal(b.got.n, 4);
    for (int i = 0; i < 3; i++) {
      assert_int_equal(b.got.len[1 + i], ns[i]);
      assert_memory_equal(b.got.m[1 + i], ps[i], ns[i]);
    }
    size_t records = b.m.records;
    before = b.out.len;
    for (int i = 0; i < 3; i++)
      CHECK_RC("queue", sp_secure_queue(b.ep, ps[i], ns[i], &b.out), SP_OK);
    assert_int_equal(b.out.len, before); /* nothing sealed yet */
    assert_int_equal(sp_secure_queued(b.ep), 12 + ns[0] + ns[1] + ns[2]);
    CHECK_RC("flush", sp_secure_flush(b.ep, &b.out), SP_OK);
    assert_int_equal(sp_secure_queued(b.ep), 0);
    assert_int_equal(b.out.len - before, 4 + 12 + ns[0] + ns[1] + ns[2] + SP_SECURE_ABYTES);
    CHECK_RC("flush nothing", sp_secure_flush(b.ep, &b.out), SP_OK);
    man_read(&b.m, &b.out);
    assert_int_equal(b.m.records, records + 1);
    assert_int_equal(b.m.got.n, 5);
    for (int i = 0; i < 3; i++) {
      assert_int_equal(b.m.got.len[2 + i], ns[i]);
      assert_memory_equal(b.m.got.m[2 + i], ps[i], ns[i]);
    }
    bench_free(&b);
  }
}

/* Application data as the first record, before any AUTH: SP_E_STATE. */
static void test_data_before_auth(void **state)
{
  (void)state;
  struct bench b;
  bench_init(&b, 1, KEY_A, KEY_B);
  bench_to_auth(&b);
  struct sp_msg q;
  memset(&q, 0, sizeof(q));
  q.type = SP_MSG_STATUS_Q;
  q.req_id = 1;
  struct sp_buf enc;
  sp_buf_init(&enc, 64);
  CHECK_RC("encode", sp_msg_encode(&q, &enc), SP_OK);
  man_record(&b.m, enc.data, enc.len, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  bench_flush(&b);
  CHECK_RC("data before auth", b.rc, SP_E_STATE);
  assert_int_equal(b.got.n, 0);
  assert_false(sp_secure_established(b.ep));
  check_sticky(b.ep, SP_E_STATE);
  sp_buf_free(&enc);
  bench_free(&b);
}

/* AUTH records an honest endpoint never accepts. */
static void test_auth_refused(void **state)
{
  (void)state;
  /* the manual peer signs; the endpoint receives */
  enum { E_SIGNER, E_RECEIVER, E_OTHER };
  struct {
    const char *name;
    uint8_t claim, signer;
    uint32_t role, signed_role;
    int e1, e2; /* which ephemeral keys are signed */
    const uint8_t *chain;
  } rows[] = {
      {"honest", KEY_M, KEY_M, 2, 2, E_SIGNER, E_RECEIVER, CHAIN},
      {"signed by another key", KEY_A, KEY_M, 2, 2, E_SIGNER, E_RECEIVER, CHAIN},
      {"ephemeral keys swapped", KEY_M, KEY_M, 2, 2, E_RECEIVER, E_SIGNER, CHAIN},
      {"signer's key of another session", KEY_M, KEY_M, 2, 2, E_OTHER, E_RECEIVER, CHAIN},
      {"receiver's key of another session", KEY_M, KEY_M, 2, 2, E_SIGNER, E_OTHER, CHAIN},
      {"other role signed", KEY_M, KEY_M, 1, 2, E_SIGNER, E_RECEIVER, CHAIN},
      {"other chain", KEY_M, KEY_M, 2, 2, E_SIGNER, E_RECEIVER, OTHER_CHAIN},
  };
  uint8_t other[SP_KX_LEN], other_sk[SP_KX_LEN];
  assert_int_equal(crypto_kx_keypair(other, other_sk), 0);
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct bench b;
    bench_init(&b, 0, KEY_B, KEY_M);
    bench_to_auth(&b);
    const uint8_t *pick[] = {[E_SIGNER] = b.m.eph_pk, [E_RECEIVER] = b.m.peer_eph,
                             [E_OTHER] = other};
    struct auth_spec a = {rows[i].claim, rows[i].signer, rows[i].role, rows[i].signed_role,
                          pick[rows[i].e1], pick[rows[i].e2], rows[i].chain};
    struct sp_buf ab;
    sp_buf_init(&ab, 1024);
    man_auth_bytes(&a, &ab);
    man_record(&b.m, ab.data, ab.len, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    bench_flush(&b);
    int want = i == 0 ? SP_OK : SP_E_AUTH;
    CHECK_RC(rows[i].name, b.rc, want);
    assert_int_equal(sp_secure_established(b.ep), want == SP_OK);
    if (want)
      check_sticky(b.ep, want);
    sp_buf_free(&ab);
    bench_free(&b);
  }
}

/* Mallory is the server of session 1 with Alice, so she learns Alice's AUTH
 * in clear. She connects to Bob as Alice and sends that AUTH in session 2 -
 * encrypted correctly for session 2, with her own ephemeral key of session 1
 * or a fresh one. Bob's ephemeral key is not in Alice's signature. */
static void test_replayed_auth(void **state)
{
  (void)state;
  for (int reuse_eph = 0; reuse_eph < 2; reuse_eph++) {
    /* session 1: Alice (endpoint, client) -> Mallory (manual, server) */
    struct bench s1;
    bench_init(&s1, 1, KEY_A, KEY_M);
    bench_to_auth(&s1);
    man_check_auth(&s1.m, KEY_A, SP_ROLE_VALIDATOR);
    struct sp_buf alice_auth;
    sp_buf_init(&alice_auth, 1024);
    sp_buf_append(&alice_auth, s1.m.got.m[0], s1.m.got.len[0]);

    /* session 2: Mallory (manual, client) -> Bob (endpoint, server) */
    struct bench s2;
    bench_init(&s2, 0, KEY_B, KEY_M);
    if (reuse_eph) {
      memcpy(s2.m.eph_pk, s1.m.eph_pk, SP_KX_LEN);
      memcpy(s2.m.eph_sk, s1.m.eph_sk, SP_KX_LEN);
    }
    bench_to_auth(&s2);
    man_record(&s2.m, alice_auth.data, alice_auth.len,
               crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    bench_flush(&s2);
    CHECK_RC("replayed auth", s2.rc, SP_E_AUTH);
    assert_false(sp_secure_established(s2.ep));
    check_sticky(s2.ep, SP_E_AUTH);
    sp_buf_free(&alice_auth);
    bench_free(&s2);
    bench_free(&s1);
  }
}

/* Append one item (4-byte length, then the bytes) to a record's plaintext. */
static void put_item(struct sp_buf *b, uint32_t len, const void *p, size_t n)
{
  uint8_t h[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
  sp_buf_append(b, h, sizeof(h));
  sp_buf_append(b, p, n);
}

/* Records that decrypt fine but break the record rules, and handshake
 * messages after the handshake. */
static void test_record_rules(void **state)
{
  (void)state;
  enum { AT_AUTH, AT_OPEN };
  enum { R_APP, R_HELLO, R_AUTH, R_GARBAGE, R_ZERO, R_OVER, R_PAST, R_TAIL, R_THEN_HELLO,
         R_BARE, R_N };
  uint8_t app[] = {0x93, 0x01, 0x0d, 'z'};
  uint8_t forbidden[] = {0xc1};
  struct sp_msg hello;
  memset(&hello, 0, sizeof(hello));
  hello.type = SP_MSG_HELLO;
  struct sp_buf hello_enc, auth_enc, r[R_N];
  sp_buf_init(&hello_enc, 128);
  CHECK_RC("encode", sp_msg_encode(&hello, &hello_enc), SP_OK);
  sp_buf_init(&auth_enc, 1024);
  {
    struct manual m;
    man_init(&m, 0, KEY_B);
    struct auth_spec a = {KEY_B, KEY_B, SP_ROLE_OBSERVER, SP_ROLE_OBSERVER, m.eph_pk,
                          m.peer_eph, m.chain};
    man_auth_bytes(&a, &auth_enc);
    man_free(&m);
  }
  /* application records' plaintexts */
  for (int i = 0; i < R_N; i++)
    sp_buf_init(&r[i], 4096);
  put_item(&r[R_APP], sizeof(app), app, sizeof(app));
  put_item(&r[R_HELLO], (uint32_t)hello_enc.len, hello_enc.data, hello_enc.len);
  put_item(&r[R_AUTH], (uint32_t)auth_enc.len, auth_enc.data, auth_enc.len);
  put_item(&r[R_GARBAGE], 1, forbidden, 1);
  put_item(&r[R_ZERO], 0, NULL, 0);
  put_item(&r[R_OVER], SP_MAX_FRAME + 1, app, sizeof(app));
  put_item(&r[R_PAST], sizeof(app) + 1, app, sizeof(app));
  put_item(&r[R_TAIL], sizeof(app), app, sizeof(app));
  sp_buf_append(&r[R_TAIL], app, 2);
  put_item(&r[R_THEN_HELLO], sizeof(app), app, sizeof(app));
  put_item(&r[R_THEN_HELLO], (uint32_t)hello_enc.len, hello_enc.data, hello_enc.len);
  sp_buf_append(&r[R_BARE], app, sizeof(app));
  for (int i = 0; i < R_N; i++)
    assert_int_equal(r[i].err, 0);
  struct {
    const char *name;
    int when;
    const uint8_t *p;
    size_t n;
    unsigned char tag;
    int want;
  } rows[] = {
      {"final tag", AT_OPEN, r[R_APP].data, r[R_APP].len,
       crypto_secretstream_xchacha20poly1305_TAG_FINAL, SP_E_DECRYPT},
      {"push tag", AT_OPEN, r[R_APP].data, r[R_APP].len,
       crypto_secretstream_xchacha20poly1305_TAG_PUSH, SP_E_DECRYPT},
      {"rekey tag", AT_AUTH, app, sizeof(app), crypto_secretstream_xchacha20poly1305_TAG_REKEY,
       SP_E_DECRYPT},
      {"empty record", AT_OPEN, app, 0, 0, SP_E_DECRYPT},
      {"empty record as auth", AT_AUTH, app, 0, 0, SP_E_DECRYPT},
      {"garbage as auth", AT_AUTH, forbidden, 1, 0, SP_E_FORBIDDEN},
      {"hello as auth", AT_AUTH, hello_enc.data, hello_enc.len, 0, SP_E_STATE},
      {"hello after handshake", AT_OPEN, r[R_HELLO].data, r[R_HELLO].len, 0, SP_E_STATE},
      {"auth after handshake", AT_OPEN, r[R_AUTH].data, r[R_AUTH].len, 0, SP_E_STATE},
      {"item of length 0", AT_OPEN, r[R_ZERO].data, r[R_ZERO].len, 0, SP_E_FRAME_EMPTY},
      {"item over the maximum", AT_OPEN, r[R_OVER].data, r[R_OVER].len, 0, SP_E_FRAME_TOO_BIG},
      {"item past the record's end", AT_OPEN, r[R_PAST].data, r[R_PAST].len, 0, SP_E_TRUNCATED},
      {"tail shorter than a length", AT_OPEN, r[R_TAIL].data, r[R_TAIL].len, 0, SP_E_TRUNCATED},
      /* checked whole before its first message is handed out */
      {"a message, then a hello", AT_OPEN, r[R_THEN_HELLO].data, r[R_THEN_HELLO].len, 0,
       SP_E_STATE},
      {"a message without its length", AT_OPEN, r[R_BARE].data, r[R_BARE].len, 0,
       SP_E_FRAME_TOO_BIG},
      {"garbage after handshake is delivered", AT_OPEN, r[R_GARBAGE].data, r[R_GARBAGE].len, 0,
       SP_OK},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct bench b;
    bench_init(&b, 1, KEY_A, KEY_B);
    bench_to_auth(&b);
    if (rows[i].when == AT_OPEN) {
      man_auth(&b.m, KEY_B);
      bench_flush(&b);
      assert_true(sp_secure_established(b.ep));
    }
    man_record(&b.m, rows[i].p, rows[i].n, rows[i].tag);
    bench_flush(&b);
    CHECK_RC(rows[i].name, b.rc, rows[i].want);
    if (rows[i].want) {
      assert_int_equal(b.got.n, 0);
      check_sticky(b.ep, rows[i].want);
    } else {
      assert_int_equal(b.got.n, 1);
    }
    bench_free(&b);
  }
  for (int i = 0; i < R_N; i++)
    sp_buf_free(&r[i]);
  sp_buf_free(&auth_enc);
  sp_buf_free(&hello_enc);
}

/* Header frames of the wrong size and AUTH records over their maximum. */
static void test_handshake_frames(void **state)
{
  (void)state;
  uint8_t junk[200];
  memset(junk, 0x5a, sizeof(junk));
  struct {
    const char *name;
    size_t header_len; /* 0: a proper header */
    size_t record_len; /* raw frame after the header, 0: none */
    int want;
  } rows[] = {
      {"short header", 23, 0, SP_E_HANDSHAKE},
      {"one byte header", 1, 0, SP_E_HANDSHAKE},
      {"long header", 25, 0, SP_E_FRAME_TOO_BIG},
      {"auth record over the maximum", 0, SP_SECURE_AUTH_MAX + SP_SECURE_ABYTES + 1,
       SP_E_FRAME_TOO_BIG},
      {"auth record at the maximum, forged", 0, SP_SECURE_AUTH_MAX + SP_SECURE_ABYTES,
       SP_E_DECRYPT},
      {"auth record of 17 bytes", 0, SP_SECURE_ABYTES, SP_E_DECRYPT},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct bench b;
    bench_init(&b, 1, KEY_A, KEY_B);
    man_read(&b.m, &b.out);
    man_hello(&b.m);
    if (rows[i].header_len)
      man_frame(&b.m, junk, rows[i].header_len);
    else
      man_header(&b.m);
    if (rows[i].record_len)
      man_frame(&b.m, junk, rows[i].record_len);
    bench_flush(&b);
    CHECK_RC(rows[i].name, b.rc, rows[i].want);
    check_sticky(b.ep, rows[i].want);
    bench_free(&b);
  }
}

/* The first frame must be a HELLO of our chain with a usable key. */
static void test_bad_hello(void **state)
{
  (void)state;
  enum { GARBAGE, NOT_HELLO, VERSION2, SHORT_EPH, TOO_LONG, EMPTY, OTHER_CHAIN_ID, REFLECTED,
         ZERO_EPH, HUGE };
  struct {
    const char *name;
    int kind;
    int want;
  } rows[] = {
      {"garbage", GARBAGE, SP_E_FORBIDDEN},
      {"status query", NOT_HELLO, SP_E_STATE},
      {"version 2", VERSION2, SP_E_VERSION},
      {"31-byte key", SHORT_EPH, SP_E_LENGTH},
      {"73-byte frame", TOO_LONG, SP_E_FRAME_TOO_BIG},
      {"huge frame", HUGE, SP_E_FRAME_TOO_BIG},
      {"empty frame", EMPTY, SP_E_FRAME_EMPTY},
      {"other chain", OTHER_CHAIN_ID, SP_E_HANDSHAKE},
      {"own hello reflected", REFLECTED, SP_E_HANDSHAKE},
      {"low-order key", ZERO_EPH, SP_E_HANDSHAKE},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct sp_secure *s = make_ep(0, &(struct ep_opt){.key = KEY_B});
    struct sp_buf out, in;
    sp_buf_init(&out, WIRE_MAX);
    sp_buf_init(&in, WIRE_MAX);
    CHECK_RC("start", sp_secure_start(s, &out), SP_OK);
    uint8_t eph[SP_KX_LEN], p[100];
    memset(eph, 0x77, sizeof(eph));
    struct sp_buf b;
    sp_buf_init(&b, 1024);
    switch (rows[i].kind) {
    case GARBAGE:
      memset(p, 0xc1, SP_SECURE_HELLO_LEN);
      sp_frame_write(&in, p, SP_SECURE_HELLO_LEN, 100);
      break;
    case NOT_HELLO: {
      struct sp_msg q;
      memset(&q, 0, sizeof(q));
      q.type = SP_MSG_STATUS_Q;
      CHECK_RC("encode", sp_msg_encode(&q, &b), SP_OK);
      sp_frame_write(&in, b.data, b.len, 100);
      break;
    }
    case VERSION2:
    case SHORT_EPH:
      sp_wr_array(&b, 5);
      sp_wr_uint(&b, rows[i].kind == VERSION2 ? 2 : 1);
      sp_wr_uint(&b, SP_MSG_HELLO);
      sp_wr_uint(&b, 0);
      sp_wr_bin(&b, CHAIN, SP_HASH_LEN);
      sp_wr_bin(&b, eph, rows[i].kind == SHORT_EPH ? SP_KX_LEN - 1 : SP_KX_LEN);
      sp_frame_write(&in, b.data, b.len, 100);
      break;
    case TOO_LONG:
      memset(p, 0, sizeof(p));
      sp_frame_write(&in, p, SP_SECURE_HELLO_LEN + 1, 100);
      break;
    case HUGE:
      sp_buf_append(&in, "\xff\xff\xff\xff", 4);
      break;
    case EMPTY:
      sp_buf_append(&in, "\0\0\0\0", 4);
      break;
    case OTHER_CHAIN_ID:
    case REFLECTED:
    case ZERO_EPH: {
      struct sp_msg h;
      memset(&h, 0, sizeof(h));
      h.type = SP_MSG_HELLO;
      memcpy(h.u.hello.chain_id, rows[i].kind == OTHER_CHAIN_ID ? OTHER_CHAIN : CHAIN,
             SP_HASH_LEN);
      if (rows[i].kind == OTHER_CHAIN_ID)
        memcpy(h.u.hello.eph, eph, SP_KX_LEN);
      CHECK_RC("encode", sp_msg_encode(&h, &b), SP_OK);
      if (rows[i].kind == REFLECTED)
        sp_buf_append(&in, out.data, out.len); /* its own HELLO frame */
      else
        sp_frame_write(&in, b.data, b.len, 100);
      break;
    }
    }
    assert_int_equal(in.err, 0);
    struct got g;
    memset(&g, 0, sizeof(g));
    int rc = 0;
    size_t before = out.len;
    feed_all(s, in.data, in.len, &out, &g, &rc);
    CHECK_RC(rows[i].name, rc, rows[i].want);
    assert_int_equal(out.len, before); /* nothing sent in answer */
    check_sticky(s, rows[i].want);
    sp_buf_free(&b);
    sp_buf_free(&in);
    sp_buf_free(&out);
    sp_secure_free(s);
  }

  /* Random bytes: some error or a wait, never a message or a crash. */
  uint64_t rng = 42;
  for (int round = 0; round < 200; round++) {
    struct sp_secure *s = make_ep(round & 1, &(struct ep_opt){.key = KEY_B});
    struct sp_buf out;
    sp_buf_init(&out, WIRE_MAX);
    CHECK_RC("start", sp_secure_start(s, &out), SP_OK);
    uint8_t p[300];
    size_t n = (size_t)(rng_next(&rng) % sizeof(p));
    for (size_t k = 0; k < n; k++)
      p[k] = (uint8_t)rng_next(&rng);
    if (n >= 4 && (round & 2)) { /* a plausible length */
      p[0] = p[1] = p[2] = 0;
      p[3] = SP_SECURE_HELLO_LEN;
    }
    struct got g;
    memset(&g, 0, sizeof(g));
    int rc = 0;
    feed_all(s, p, n, &out, &g, &rc);
    assert_true(rc <= 0);
    assert_int_equal(g.n, 0);
    assert_false(sp_secure_established(s));
    sp_buf_free(&out);
    sp_secure_free(s);
  }
}

/* ---------------------------------------------------------------- API */

static void test_config_refused(void **state)
{
  (void)state;
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN], pk2[SP_PK_LEN], sk2[SP_SK_LEN];
  key(KEY_A, pk, sk);
  key(KEY_B, pk2, sk2);
  char long_agent[SP_MAX_AGENT + 2];
  memset(long_agent, 'a', sizeof(long_agent) - 1);
  long_agent[sizeof(long_agent) - 1] = '\0';
  char max_agent[SP_MAX_AGENT + 1];
  memset(max_agent, 'a', sizeof(max_agent) - 1);
  max_agent[sizeof(max_agent) - 1] = '\0';
  struct sp_secure_config ok = {.initiator = 1, .chain_id = CHAIN, .pk = pk, .sk = sk,
                                .role = SP_ROLE_OBSERVER, .agent = "x"};
  struct {
    const char *name;
    struct sp_secure_config cfg;
    int want;
  } rows[] = {
      {"ok", ok, SP_OK},
      {"longest agent", ok, SP_OK},
      {"no agent", ok, SP_OK},
      {"max message = SP_MAX_FRAME", ok, SP_OK},
      {"no chain", ok, SP_E_INVAL},
      {"no pk", ok, SP_E_INVAL},
      {"no sk", ok, SP_E_INVAL},
      {"role 0", ok, SP_E_INVAL},
      {"role 4", ok, SP_E_INVAL},
      {"expected role 4", ok, SP_E_INVAL},
      {"agent too long", ok, SP_E_INVAL},
      {"agent with a control character", ok, SP_E_INVAL},
      {"agent not UTF-8", ok, SP_E_INVAL},
      {"sk of another key", ok, SP_E_INVAL},
      {"max message over SP_MAX_FRAME", ok, SP_E_INVAL},
  };
  rows[1].cfg.agent = max_agent;
  rows[2].cfg.agent = NULL;
  rows[3].cfg.max_msg = SP_MAX_FRAME;
  rows[4].cfg.chain_id = NULL;
  rows[5].cfg.pk = NULL;
  rows[6].cfg.sk = NULL;
  rows[7].cfg.role = 0;
  rows[8].cfg.role = 4;
  rows[9].cfg.expect_role = 4;
  rows[10].cfg.agent = long_agent;
  rows[11].cfg.agent = "a\tb";
  rows[12].cfg.agent = "\xc3";
  rows[13].cfg.sk = sk2;
  rows[14].cfg.max_msg = SP_MAX_FRAME + 1;
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct sp_secure *s = NULL;
    CHECK_RC(rows[i].name, sp_secure_new(&rows[i].cfg, &s), rows[i].want);
    if (rows[i].want == SP_OK)
      assert_non_null(s);
    else
      assert_null(s); /* untouched on failure */
    sp_secure_free(s);
  }
  struct sp_secure *s = NULL;
  CHECK_RC("no config", sp_secure_new(NULL, &s), SP_E_INVAL);
  CHECK_RC("no out", sp_secure_new(&ok, NULL), SP_E_INVAL);
  sp_secure_free(NULL);
}

static void test_api_order(void **state)
{
  (void)state;
  struct sp_secure *s = make_ep(1, &(struct ep_opt){.key = KEY_A});
  struct sp_buf out;
  sp_buf_init(&out, 10); /* too small for the HELLO frame */
  size_t used = 9, len = 0;
  const uint8_t *m = NULL;
  uint8_t byte = 0;
  CHECK_RC("feed before start", sp_secure_feed(s, &byte, 1, &used, &out, &m, &len), SP_E_STATE);
  assert_int_equal(used, 0);
  CHECK_RC("start, no room", sp_secure_start(s, &out), SP_E_BUFFER);
  assert_int_equal(out.len, 0);
  assert_int_equal(out.err, 0);
  assert_int_equal(sp_secure_error(s), SP_OK); /* misuse is not fatal */
  out.max = SP_SECURE_HELLO_OUT;
  CHECK_RC("start", sp_secure_start(s, &out), SP_OK);
  assert_int_equal(out.len, SP_SECURE_HELLO_OUT);
  CHECK_RC("start twice", sp_secure_start(s, &out), SP_E_STATE);
  CHECK_RC("feed nothing", sp_secure_feed(s, NULL, 0, &used, &out, &m, &len), 0);
  assert_int_equal(used, 0);
  sp_buf_free(&out);
  sp_secure_free(s);

  /* No room for the handshake answer: fatal, the handshake cannot go on. */
  struct pair pr;
  pair_init(&pr, &(struct ep_opt){.key = KEY_A}, &(struct ep_opt){.key = KEY_B}, MODE_WHOLE, 1);
  pr.wire[0].max = pr.wire[0].len + 20;
  pump(&pr);
  CHECK_RC("no room for header and auth", pr.rc[0], SP_E_BUFFER);
  check_sticky(pr.ep[0], SP_E_BUFFER);
  pair_free(&pr);
}

/* queue a message that does not fit the batch, with no room to seal the
 * batch first: nothing written, the batch and the stream unchanged; with
 * room, both messages arrive in order, in two records. */
static void test_queue_no_room(void **state)
{
  (void)state;
  struct pair pr;
  pair_open(&pr, 1000); /* a batch holds at most 1004 bytes */
  uint8_t *m = payload(600, 2);
  CHECK_RC("queue 600", sp_secure_queue(pr.ep[0], m, 600, &pr.wire[0]), SP_OK);
  size_t len = pr.wire[0].len;
  assert_int_equal(sp_secure_queued(pr.ep[0]), 604);
  pr.wire[0].max = pr.wire[0].len + 100;
  CHECK_RC("queue 500, no room to seal the 600",
           sp_secure_queue(pr.ep[0], m, 500, &pr.wire[0]), SP_E_BUFFER);
  assert_int_equal(pr.wire[0].len, len);
  assert_int_equal(pr.wire[0].err, 0);
  assert_int_equal(sp_secure_queued(pr.ep[0]), 604);
  pr.wire[0].max = WIRE_MAX;
  CHECK_RC("queue 500", sp_secure_queue(pr.ep[0], m, 500, &pr.wire[0]), SP_OK);
  assert_int_equal(pr.wire[0].len, len + 4 + 604 + SP_SECURE_ABYTES); /* the 600 sealed */
  assert_int_equal(sp_secure_queued(pr.ep[0]), 504);
  CHECK_RC("flush", sp_secure_flush(pr.ep[0], &pr.wire[0]), SP_OK);
  pump(&pr);
  CHECK_RC("server", pr.rc[1], SP_OK);
  assert_int_equal(pr.got[1].n, 2);
  assert_int_equal(pr.got[1].len[0], 600);
  assert_int_equal(pr.got[1].len[1], 500);
  assert_memory_equal(pr.got[1].m[1], m, 500);
  free(m);
  pair_free(&pr);
}

/* seal into a full buffer: nothing written, the stream stays in step. */
static void test_seal_no_room(void **state)
{
  (void)state;
  struct pair pr;
  pair_open(&pr, 0);
  uint8_t *m = payload(500, 1);
  pr.wire[0].max = pr.wire[0].len + 100;
  size_t len = pr.wire[0].len;
  CHECK_RC("no room", sp_secure_seal(pr.ep[0], m, 500, &pr.wire[0]), SP_E_BUFFER);
  assert_int_equal(pr.wire[0].len, len);
  assert_int_equal(pr.wire[0].err, 0);
  pr.wire[0].max = WIRE_MAX;
  seal(&pr, 0, m, 500);
  seal(&pr, 0, m, 100);
  pump(&pr);
  CHECK_RC("server", pr.rc[1], SP_OK);
  assert_int_equal(pr.got[1].n, 2);
  assert_memory_equal(pr.got[1].m[0], m, 500);
  assert_memory_equal(pr.got[1].m[1], m, 100);

  /* HELLO and AUTH are the channel's own. */
  /* (only the envelope is looked at: [version, type, ...] with enough bytes
   * for the announced fields) */
  static const uint8_t fake_auth[] = {0x97, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00};
  static const uint8_t fake_hello[] = {0x95, 0x01, 0x01, 0x00, 0x00, 0x00};
  CHECK_RC("seal auth", sp_secure_seal(pr.ep[0], fake_auth, sizeof(fake_auth), &pr.wire[0]),
           SP_E_INVAL);
  CHECK_RC("seal hello", sp_secure_seal(pr.ep[0], fake_hello, sizeof(fake_hello), &pr.wire[0]),
           SP_E_INVAL);
  assert_int_equal(sp_secure_error(pr.ep[0]), SP_OK);
  free(m);
  pair_free(&pr);
}

/* Errors added with this module: distinct names and texts. */
static void test_error_names(void **state)
{
  (void)state;
  assert_string_equal(sp_errname(SP_E_HANDSHAKE), "HANDSHAKE");
  assert_string_equal(sp_errname(SP_E_AUTH), "AUTH");
  assert_string_equal(sp_errname(SP_E_DECRYPT), "DECRYPT");
  assert_string_equal(sp_errname(SP_E_STATE), "STATE");
  assert_string_equal(sp_strerror(SP_E_DECRYPT), "record does not decrypt");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_whole),
      cmocka_unit_test(test_round_trip_bytes),
      cmocka_unit_test(test_round_trip_random),
      cmocka_unit_test(test_record_layout),
      cmocka_unit_test(test_longest_agent),
      cmocka_unit_test(test_wrong_chain),
      cmocka_unit_test(test_expected_peer),
      cmocka_unit_test(test_tampered_record),
      cmocka_unit_test(test_replayed_record),
      cmocka_unit_test(test_record_too_big),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_replayed_session),
      cmocka_unit_test(test_interop),
      cmocka_unit_test(test_data_before_auth),
      cmocka_unit_test(test_auth_refused),
      cmocka_unit_test(test_replayed_auth),
      cmocka_unit_test(test_record_rules),
      cmocka_unit_test(test_handshake_frames),
      cmocka_unit_test(test_bad_hello),
      cmocka_unit_test(test_config_refused),
      cmocka_unit_test(test_api_order),
      cmocka_unit_test(test_seal_no_room),
      cmocka_unit_test(test_queue_no_room),
      cmocka_unit_test(test_error_names),
  };
  return cmocka_run_group_tests_name("secure", tests, group_setup, NULL);
}
