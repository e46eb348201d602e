/* Unit tests of the wallet's key handling (wallet-cli/keys.c): addresses,
 * sealed key files, key files on disk and passphrase input.
 *
 * Key files are also built here by a second implementation written from
 * the format comment in keys.h (build_file), so the tests can make files no
 * honest writer makes: hostile limits, a box around the wrong key. The
 * terminal prompt is driven through a pseudo-terminal by a parent process
 * that types the answers and checks that nothing is echoed. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "keys.h"
#include "sp/codec.h"
#include "sp/crypto.h"
#include "sp/error.h"

#define CHECK_RC(what, got, want)                                                         \
  do {                                                                                    \
    int got_ = (got), want_ = (want);                                                     \
    if (got_ != want_)                                                                    \
      fail_msg("%s: got %d (%s), want %d (%s)", (what), got_, sp_keys_errname(got_),      \
               want_, sp_keys_errname(want_));                                            \
  } while (0)

/* Fast limits for everything but test_keyfile_default_limits. */
#define OPS_LOW crypto_pwhash_OPSLIMIT_MIN
#define MEM_LOW crypto_pwhash_MEMLIMIT_MIN

#define PASS "correct horse battery staple"

static const char B32[] = "abcdefghijklmnopqrstuvwxyz234567";

static int group_setup(void **state)
{
  (void)state;
  return sp_crypto_init() == SP_OK ? 0 : -1;
}

static void seed_fill(uint8_t seed[32], uint8_t v)
{
  memset(seed, v, 32);
}

static void pk_of_seed(uint8_t pk[32], const uint8_t seed[32])
{
  uint8_t sk[64];
  assert_int_equal(sp_keypair_from_seed(pk, sk, seed), SP_OK);
  sodium_memzero(sk, sizeof(sk));
}

/* ------------------------------------------------------------ addresses */

static void test_address_roundtrip(void **state)
{
  (void)state;
  for (unsigned i = 0; i < 2000; i++) {
    uint8_t pk[32], back[32];
    char addr[SP_ADDRESS_LEN + 1];
    if (i < 256) {
      memset(pk, (int)i, sizeof(pk)); /* includes all-zero and all-0xff */
    } else if (i < 512) {
      memset(pk, 0, sizeof(pk)); /* one bit set: every position */
      pk[(i - 256) / 8] = (uint8_t)(1u << ((i - 256) % 8));
    } else {
      randombytes_buf(pk, sizeof(pk));
    }
    memset(addr, 'X', sizeof(addr));
    sp_address_encode(pk, addr);
    assert_int_equal(strlen(addr), SP_ADDRESS_LEN);
    assert_memory_equal(addr, "sp", 2);
    for (size_t j = 2; j < SP_ADDRESS_LEN; j++)
      assert_non_null(strchr(B32, addr[j]));
    CHECK_RC("decode", sp_address_decode(addr, back), 0);
    assert_memory_equal(back, pk, 32);
  }
}

/* Every substitution of one character by another base32 character, at
 * every position, is refused, and pk is left alone. */
static void test_address_substitutions(void **state)
{
  (void)state;
  uint8_t seed[32], pk[32], out[32], untouched[32];
  char addr[SP_ADDRESS_LEN + 1], bad[SP_ADDRESS_LEN + 1];
  unsigned n_checksum = 0, n_char = 0;

  seed_fill(seed, 0x01);
  pk_of_seed(pk, seed);
  sp_address_encode(pk, addr);
  memset(untouched, 0xa5, sizeof(untouched));

  for (size_t pos = 0; pos < SP_ADDRESS_LEN; pos++) {
    for (size_t c = 0; c < 32; c++) {
      if (B32[c] == addr[pos])
        continue;
      memcpy(bad, addr, sizeof(addr));
      bad[pos] = B32[c];
      memcpy(out, untouched, sizeof(out));
      int rc = sp_address_decode(bad, out);
      if (rc == SP_ADDR_E_CHECKSUM)
        n_checksum++;
      else if (rc == SP_ADDR_E_CHAR)
        n_char++;
      else
        fail_msg("'%s' (position %zu): got %d (%s)", bad, pos, rc, sp_keys_errname(rc));
      assert_memory_equal(out, untouched, sizeof(out));
    }
  }
  /* Prefix: 2 x 31 (the 's' and 'p' slots take the other letters); last
   * character: the 3 other spellings of its data bits with nonzero padding
   * bits in each of the 8 data groups => 24 refused for CHAR. */
  assert_int_equal(n_char, 2 * 31 + 24);
  assert_int_equal(n_checksum + n_char, SP_ADDRESS_LEN * 31);

  /* Every other byte value at every position: CHAR (or LENGTH for NUL). */
  for (size_t pos = 0; pos < SP_ADDRESS_LEN; pos++) {
    for (int c = 1; c < 256; c++) {
      if (strchr(B32, c) != NULL)
        continue;
      memcpy(bad, addr, sizeof(addr));
      bad[pos] = (char)c;
      CHECK_RC("foreign character", sp_address_decode(bad, out), SP_ADDR_E_CHAR);
    }
    memcpy(bad, addr, sizeof(addr));
    bad[pos] = '\0';
    CHECK_RC("cut short", sp_address_decode(bad, out), SP_ADDR_E_LENGTH);
  }
}

static void test_address_length(void **state)
{
  (void)state;
  uint8_t pk[32] = {0}, out[32];
  char addr[SP_ADDRESS_LEN + 1], text[SP_ADDRESS_LEN + 8];
  sp_address_encode(pk, addr);

  CHECK_RC("NULL", sp_address_decode(NULL, out), SP_ADDR_E_LENGTH);
  CHECK_RC("empty", sp_address_decode("", out), SP_ADDR_E_LENGTH);
  CHECK_RC("prefix only", sp_address_decode("sp", out), SP_ADDR_E_LENGTH);
  snprintf(text, sizeof(text), "%.*s", SP_ADDRESS_LEN - 1, addr);
  CHECK_RC("one short", sp_address_decode(text, out), SP_ADDR_E_LENGTH);
  snprintf(text, sizeof(text), "%sa", addr);
  CHECK_RC("one long", sp_address_decode(text, out), SP_ADDR_E_LENGTH);
  /* Exact: surrounding whitespace is not trimmed. */
  snprintf(text, sizeof(text), "%s\n", addr);
  CHECK_RC("newline", sp_address_decode(text, out), SP_ADDR_E_LENGTH);
  snprintf(text, sizeof(text), " %s", addr);
  CHECK_RC("leading space", sp_address_decode(text, out), SP_ADDR_E_LENGTH);
  /* Dropping the prefix or a padding '=' is no way in either. */
  CHECK_RC("no prefix", sp_address_decode(addr + 2, out), SP_ADDR_E_LENGTH);
  snprintf(text, sizeof(text), "%.*s==", SP_ADDRESS_LEN - 2, addr + 2);
  CHECK_RC("no prefix, padded", sp_address_decode(text, out), SP_ADDR_E_CHAR);
}

static void test_address_case(void **state)
{
  (void)state;
  uint8_t seed[32], pk[32], out[32];
  char addr[SP_ADDRESS_LEN + 1], text[SP_ADDRESS_LEN + 1];
  seed_fill(seed, 0x07);
  pk_of_seed(pk, seed);
  sp_address_encode(pk, addr);

  for (size_t i = 0; i < SP_ADDRESS_LEN; i++)
    text[i] = (char)(addr[i] >= 'a' && addr[i] <= 'z' ? addr[i] - 'a' + 'A' : addr[i]);
  text[SP_ADDRESS_LEN] = '\0';
  CHECK_RC("all upper case", sp_address_decode(text, out), SP_ADDR_E_CHAR);
  memcpy(text, addr, sizeof(text));
  text[0] = 'S';
  text[1] = 'P';
  CHECK_RC("upper-case prefix", sp_address_decode(text, out), SP_ADDR_E_CHAR);
  for (size_t i = 2; i < SP_ADDRESS_LEN; i++) {
    if (addr[i] < 'a' || addr[i] > 'z')
      continue;
    memcpy(text, addr, sizeof(text));
    text[i] = (char)(addr[i] - 'a' + 'A');
    CHECK_RC("one upper-case letter", sp_address_decode(text, out), SP_ADDR_E_CHAR);
  }
}

/* Pinned values, computed independently (Python hashlib/base64, the pk of
 * seed 0x01 x 32 by OpenSSL: 8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c).
 * Change them only together with the address format. */
static void test_address_known_answers(void **state)
{
  (void)state;
  static const struct {
    uint8_t seed_byte; /* 0: the all-zero public key itself */
    const char *address;
  } rows[] = {
      {0x00, "spaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaafsnlvvu"},
      {0x01, "sprkeohxlubhyzl7ks3mwtzos5olfgocn7dwkbeg7toseadnapn5oktlvsji"},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    uint8_t pk[32] = {0}, back[32];
    char addr[SP_ADDRESS_LEN + 1];
    if (rows[i].seed_byte != 0) {
      uint8_t seed[32];
      seed_fill(seed, rows[i].seed_byte);
      pk_of_seed(pk, seed);
    }
    sp_address_encode(pk, addr);
    assert_string_equal(addr, rows[i].address);
    CHECK_RC("decode", sp_address_decode(rows[i].address, back), 0);
    assert_memory_equal(back, pk, 32);
  }
}

/* ------------------------------------------------------------ key files */

/* Second implementation of the format in keys.h, for files no honest
 * writer makes. box_seed is what goes into the box, pk what goes in clear. */
struct kf_spec {
  uint64_t version;
  const char *magic;
  const char *name;
  const uint8_t *pk;
  uint64_t opslimit;
  uint64_t memlimit;
  const uint8_t *box_seed;
  const char *pass;
};

static void build_file(struct sp_buf *b, const struct kf_spec *s)
{
  uint8_t salt[16], nonce[24], k0[32], k[32], box[48];
  crypto_generichash_state st;

  memset(salt, 0x5a, sizeof(salt));
  memset(nonce, 0x6b, sizeof(nonce));
  memset(box, 0, sizeof(box));
  if (s->box_seed != NULL) {
    /* Only derivable for sane limits; the hostile-limit files get a dummy
     * box since the reader must refuse them before trying. */
    assert_int_equal(crypto_pwhash(k0, sizeof(k0), s->pass, strlen(s->pass), salt,
                                   s->opslimit, (size_t)s->memlimit,
                                   crypto_pwhash_ALG_ARGON2ID13),
                     0);
    crypto_generichash_init(&st, k0, sizeof(k0), sizeof(k));
    crypto_generichash_update(&st, (const uint8_t *)"stadjerspas/keyfile/1", 22); /* with NUL */
    crypto_generichash_update(&st, (const uint8_t *)s->name, strlen(s->name));
    crypto_generichash_final(&st, k, sizeof(k));
    assert_int_equal(crypto_secretbox_easy(box, s->box_seed, 32, nonce, k), 0);
  }
  sp_buf_init(b, 4096);
  sp_wr_array(b, 9);
  sp_wr_uint(b, s->version);
  sp_wr_str(b, s->magic, (uint32_t)strlen(s->magic));
  sp_wr_str(b, s->name, (uint32_t)strlen(s->name));
  sp_wr_bin(b, s->pk, 32);
  sp_wr_bin(b, salt, sizeof(salt));
  sp_wr_uint(b, s->opslimit);
  sp_wr_uint(b, s->memlimit);
  sp_wr_bin(b, nonce, sizeof(nonce));
  sp_wr_bin(b, box, sizeof(box));
  assert_int_equal(b->err, 0);
}

static void seal_low(struct sp_buf *b, const uint8_t seed[32], const char *pass, const char *name)
{
  sp_buf_init(b, 4096);
  CHECK_RC("seal", sp_keyfile_seal_params(seed, pass, strlen(pass), name, OPS_LOW, MEM_LOW, b),
           0);
}

static void test_keyfile_roundtrip(void **state)
{
  (void)state;
  uint8_t seed[32], want_pk[32], want_sk[64], pk[32], sk[64];
  char name[SP_KEYFILE_NAME_MAX + 1];
  struct sp_buf a, b;

  for (int i = 0; i < 4; i++) {
    randombytes_buf(seed, sizeof(seed));
    assert_int_equal(sp_keypair_from_seed(want_pk, want_sk, seed), SP_OK);
    seal_low(&a, seed, PASS, "huishouden-jansen");
    assert_true(a.len <= SP_KEYFILE_MAX);
    CHECK_RC("canonical", sp_msgpack_check(a.data, a.len, 1), SP_OK);
    CHECK_RC("open", sp_keyfile_open(a.data, a.len, PASS, strlen(PASS), pk, sk), 0);
    assert_memory_equal(pk, want_pk, 32);
    assert_memory_equal(sk, want_sk, 64);
    CHECK_RC("info", sp_keyfile_info(a.data, a.len, pk, name), 0);
    assert_memory_equal(pk, want_pk, 32);
    assert_string_equal(name, "huishouden-jansen");

    /* Fresh salt and nonce each time: same inputs, different files. */
    seal_low(&b, seed, PASS, "huishouden-jansen");
    assert_int_equal(a.len, b.len);
    assert_memory_not_equal(a.data, b.data, a.len);
    sp_buf_free(&a);
    sp_buf_free(&b);
  }

  /* Any bytes are a passphrase, including UTF-8 and a NUL in the middle. */
  static const char odd[] = "wachtwoord \xc3\xa9\xc3\xa9n\0twee";
  seed_fill(seed, 0x33);
  sp_buf_init(&a, 4096);
  CHECK_RC("seal odd", sp_keyfile_seal_params(seed, odd, sizeof(odd) - 1, "gemeente \xe2\x82\xac",
                                              OPS_LOW, MEM_LOW, &a),
           0);
  CHECK_RC("open odd", sp_keyfile_open(a.data, a.len, odd, sizeof(odd) - 1, pk, sk), 0);
  CHECK_RC("open odd, cut at NUL",
           sp_keyfile_open(a.data, a.len, odd, strlen(odd), pk, sk), SP_KEY_E_PASSPHRASE);
  CHECK_RC("info odd", sp_keyfile_info(a.data, a.len, pk, name), 0);
  assert_string_equal(name, "gemeente \xe2\x82\xac");
  sp_buf_free(&a);

  /* A 64-byte name fits; the file appends to what out already holds. */
  memset(name, 'n', 64);
  name[64] = '\0';
  sp_buf_init(&a, 4096);
  sp_buf_append(&a, "xyz", 3);
  CHECK_RC("seal long name",
           sp_keyfile_seal_params(seed, PASS, strlen(PASS), name, OPS_LOW, MEM_LOW, &a), 0);
  assert_memory_equal(a.data, "xyz", 3);
  char got[SP_KEYFILE_NAME_MAX + 1];
  CHECK_RC("info long name", sp_keyfile_info(a.data + 3, a.len - 3, pk, got), 0);
  assert_string_equal(got, name);
  sp_buf_free(&a);
  sodium_memzero(sk, sizeof(sk));
  sodium_memzero(want_sk, sizeof(want_sk));
}

static void test_keyfile_default_limits(void **state)
{
  (void)state;
  uint8_t seed[32], want_pk[32], want_sk[64], pk[32], sk[64];
  struct sp_buf b;
  struct sp_rd r;
  uint64_t v, ops, mem;
  struct sp_str s;
  const uint8_t *p;
  uint32_t n;

  seed_fill(seed, 0x01);
  assert_int_equal(sp_keypair_from_seed(want_pk, want_sk, seed), SP_OK);
  sp_buf_init(&b, 4096);
  CHECK_RC("seal", sp_keyfile_seal(seed, PASS, strlen(PASS), "default", &b), 0);

  r = sp_rd_init(b.data, b.len);
  assert_int_equal(sp_rd_array_exact(&r, 9), SP_OK);
  assert_int_equal(sp_rd_uint(&r, &v), SP_OK);
  assert_int_equal(v, 1);
  assert_int_equal(sp_rd_str(&r, &s, 64), SP_OK);
  assert_true(sp_str_eq(s, sp_str_c("stadjerspas-key")));
  assert_int_equal(sp_rd_str(&r, &s, 64), SP_OK);
  assert_true(sp_str_eq(s, sp_str_c("default")));
  assert_int_equal(sp_rd_bin(&r, &p, &n, 64), SP_OK);
  assert_int_equal(n, 32);
  assert_memory_equal(p, want_pk, 32);
  assert_int_equal(sp_rd_bin(&r, &p, &n, 64), SP_OK);
  assert_int_equal(n, 16);
  assert_int_equal(sp_rd_uint(&r, &ops), SP_OK);
  assert_int_equal(sp_rd_uint(&r, &mem), SP_OK);
  assert_int_equal(ops, crypto_pwhash_OPSLIMIT_INTERACTIVE);
  assert_int_equal(mem, crypto_pwhash_MEMLIMIT_INTERACTIVE);
  assert_int_equal(sp_rd_bin(&r, &p, &n, 64), SP_OK);
  assert_int_equal(n, 24);
  assert_int_equal(sp_rd_bin(&r, &p, &n, 64), SP_OK);
  assert_int_equal(n, 48);
  assert_int_equal(sp_rd_done(&r), SP_OK);

  CHECK_RC("open", sp_keyfile_open(b.data, b.len, PASS, strlen(PASS), pk, sk), 0);
  assert_memory_equal(pk, want_pk, 32);
  assert_memory_equal(sk, want_sk, 64);
  sp_buf_free(&b);
  sodium_memzero(sk, sizeof(sk));
  sodium_memzero(want_sk, sizeof(want_sk));
}

static void test_keyfile_wrong_passphrase(void **state)
{
  (void)state;
  uint8_t seed[32], pk[32], sk[64], mark_pk[32], mark_sk[64];
  struct sp_buf b;
  static const char *const wrong[] = {
      "correct horse battery stapl", "correct horse battery staple ", "Correct horse battery staple",
      "x"};

  seed_fill(seed, 0x02);
  seal_low(&b, seed, PASS, "k");
  memset(mark_pk, 0xaa, sizeof(mark_pk));
  memset(mark_sk, 0xbb, sizeof(mark_sk));
  for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
    memcpy(pk, mark_pk, 32);
    memcpy(sk, mark_sk, 64);
    CHECK_RC(wrong[i], sp_keyfile_open(b.data, b.len, wrong[i], strlen(wrong[i]), pk, sk),
             SP_KEY_E_PASSPHRASE);
    assert_memory_equal(pk, mark_pk, 32);
    assert_memory_equal(sk, mark_sk, 64);
  }
  CHECK_RC("empty", sp_keyfile_open(b.data, b.len, "", 0, pk, sk), SP_KEY_E_EMPTY);
  CHECK_RC("NULL", sp_keyfile_open(b.data, b.len, NULL, 0, pk, sk), SP_KEY_E_EMPTY);
  assert_memory_equal(pk, mark_pk, 32);
  assert_memory_equal(sk, mark_sk, 64);
  sp_buf_free(&b);
}

static void test_keyfile_truncated(void **state)
{
  (void)state;
  uint8_t seed[32], pk[32], sk[64], mark[64];
  char name[SP_KEYFILE_NAME_MAX + 1];
  struct sp_buf b;

  seed_fill(seed, 0x03);
  seal_low(&b, seed, PASS, "truncated");
  memset(mark, 0xcc, sizeof(mark));
  for (size_t n = 0; n < b.len; n++) {
    memcpy(pk, mark, 32);
    memcpy(sk, mark, 64);
    CHECK_RC("truncated open", sp_keyfile_open(b.data, n, PASS, strlen(PASS), pk, sk),
             SP_KEY_E_FORMAT);
    CHECK_RC("truncated info", sp_keyfile_info(b.data, n, pk, name), SP_KEY_E_FORMAT);
    assert_memory_equal(pk, mark, 32);
    assert_memory_equal(sk, mark, 64);
  }
  CHECK_RC("NULL file", sp_keyfile_open(NULL, 0, PASS, strlen(PASS), pk, sk), SP_KEY_E_FORMAT);

  /* Trailing bytes, of any kind, are not a key file either. */
  static const uint8_t tails[][1] = {{0x00}, {0x0a}, {0x90}};
  for (size_t i = 0; i < 3; i++) {
    struct sp_buf t;
    sp_buf_init(&t, 8192);
    sp_buf_append(&t, b.data, b.len);
    sp_buf_append(&t, tails[i], 1);
    CHECK_RC("trailing", sp_keyfile_open(t.data, t.len, PASS, strlen(PASS), pk, sk),
             SP_KEY_E_FORMAT);
    CHECK_RC("trailing info", sp_keyfile_info(t.data, t.len, pk, name), SP_KEY_E_FORMAT);
    sp_buf_free(&t);
  }
  sp_buf_free(&b);
}

/* Every single-bit flip is refused, never opens (to another key or to the
 * same one) and never crashes. A flip in the clear pk is told apart as
 * MISMATCH; everything else is FORMAT, PASSPHRASE or, when it raises the
 * opslimit past the maximum, LIMITS. */
static void test_keyfile_bitflips(void **state)
{
  (void)state;
  uint8_t seed[32], good_pk[32], pk[32], sk[64], mark[64];
  char name[SP_KEYFILE_NAME_MAX + 1];
  struct sp_buf b;
  unsigned counts[4] = {0}; /* FORMAT, PASSPHRASE, MISMATCH, LIMITS */
  size_t pk_at;

  seed_fill(seed, 0x04);
  pk_of_seed(good_pk, seed);
  seal_low(&b, seed, PASS, "bitflip");
  /* Locate the clear pk: bin8 header c4 20 then the 32 bytes. */
  for (pk_at = 0; pk_at + 34 <= b.len; pk_at++)
    if (b.data[pk_at] == 0xc4 && b.data[pk_at + 1] == 32 &&
        memcmp(b.data + pk_at + 2, good_pk, 32) == 0)
      break;
  assert_true(pk_at + 34 <= b.len);
  pk_at += 2;

  memset(mark, 0xdd, sizeof(mark));
  for (size_t i = 0; i < b.len; i++) {
    for (int bit = 0; bit < 8; bit++) {
      b.data[i] ^= (uint8_t)(1u << bit);
      memcpy(pk, mark, 32);
      memcpy(sk, mark, 64);
      int rc = sp_keyfile_open(b.data, b.len, PASS, strlen(PASS), pk, sk);
      switch (rc) {
      case SP_KEY_E_FORMAT: counts[0]++; break;
      case SP_KEY_E_PASSPHRASE: counts[1]++; break;
      case SP_KEY_E_MISMATCH: counts[2]++; break;
      case SP_KEY_E_LIMITS: counts[3]++; break;
      default: fail_msg("byte %zu bit %d: got %d (%s)", i, bit, rc, sp_keys_errname(rc));
      }
      if (i >= pk_at && i < pk_at + 32)
        CHECK_RC("flip in pk", rc, SP_KEY_E_MISMATCH);
      assert_memory_equal(pk, mark, 32);
      assert_memory_equal(sk, mark, 64);
      /* The clear part may still parse; it must not crash. */
      (void)sp_keyfile_info(b.data, b.len, pk, name);
      b.data[i] ^= (uint8_t)(1u << bit);
    }
  }
  assert_int_equal(counts[2], 32 * 8);
  assert_true(counts[0] > 0 && counts[1] > 0);
  print_message("bit flips: %u FORMAT, %u PASSPHRASE, %u MISMATCH, %u LIMITS\n", counts[0],
                counts[1], counts[2], counts[3]);
  /* Undamaged again: it opens. */
  CHECK_RC("restored", sp_keyfile_open(b.data, b.len, PASS, strlen(PASS), pk, sk), 0);
  sp_buf_free(&b);
  sodium_memzero(sk, sizeof(sk));
}

/* The second implementation agrees with the first, and can build the files
 * only a broken or hostile writer makes. */
static void test_keyfile_handmade(void **state)
{
  (void)state;
  uint8_t seed[32], other_seed[32], pk[32], other_pk[32], got_pk[32], sk[64], want_sk[64];
  struct sp_buf b;
  struct kf_spec s = {1, "stadjerspas-key", "handmade", pk, OPS_LOW, MEM_LOW, seed, PASS};

  seed_fill(seed, 0x05);
  seed_fill(other_seed, 0x06);
  assert_int_equal(sp_keypair_from_seed(pk, want_sk, seed), SP_OK);
  pk_of_seed(other_pk, other_seed);

  build_file(&b, &s);
  CHECK_RC("interop", sp_keyfile_open(b.data, b.len, PASS, strlen(PASS), got_pk, sk), 0);
  assert_memory_equal(got_pk, pk, 32);
  assert_memory_equal(sk, want_sk, 64);
  sp_buf_free(&b);

  /* A box around one key with another key in clear. */
  s.pk = other_pk;
  build_file(&b, &s);
  CHECK_RC("mismatch", sp_keyfile_open(b.data, b.len, PASS, strlen(PASS), got_pk, sk),
           SP_KEY_E_MISMATCH);
  sp_buf_free(&b);
  s.pk = pk;

  /* Refusals of the format, one row each. */
  static const char long_name[] =
      "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"; /* 65 */
  struct {
    const char *what;
    struct kf_spec spec;
  } rows[] = {
      {"version 0", {0, "stadjerspas-key", "x", pk, OPS_LOW, MEM_LOW, NULL, PASS}},
      {"version 2", {2, "stadjerspas-key", "x", pk, OPS_LOW, MEM_LOW, NULL, PASS}},
      {"magic", {1, "stadjerspas-kez", "x", pk, OPS_LOW, MEM_LOW, NULL, PASS}},
      {"magic prefix", {1, "stadjerspas-ke", "x", pk, OPS_LOW, MEM_LOW, NULL, PASS}},
      {"empty name", {1, "stadjerspas-key", "", pk, OPS_LOW, MEM_LOW, NULL, PASS}},
      {"65-byte name", {1, "stadjerspas-key", long_name, pk, OPS_LOW, MEM_LOW, NULL, PASS}},
      {"control in name", {1, "stadjerspas-key", "a\nb", pk, OPS_LOW, MEM_LOW, NULL, PASS}},
      {"bad UTF-8 name", {1, "stadjerspas-key", "a\xc3", pk, OPS_LOW, MEM_LOW, NULL, PASS}},
      {"opslimit 0", {1, "stadjerspas-key", "x", pk, 0, MEM_LOW, NULL, PASS}},
      {"memlimit small", {1, "stadjerspas-key", "x", pk, OPS_LOW, MEM_LOW - 1, NULL, PASS}},
      {"memlimit not KiB", {1, "stadjerspas-key", "x", pk, OPS_LOW, MEM_LOW + 1, NULL, PASS}},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    char name[SP_KEYFILE_NAME_MAX + 1];
    memset(got_pk, 0xee, sizeof(got_pk));
    build_file(&b, &rows[i].spec);
    CHECK_RC(rows[i].what, sp_keyfile_open(b.data, b.len, PASS, strlen(PASS), got_pk, sk),
             SP_KEY_E_FORMAT);
    CHECK_RC(rows[i].what, sp_keyfile_info(b.data, b.len, got_pk, name), SP_KEY_E_FORMAT);
    for (size_t j = 0; j < 32; j++)
      assert_int_equal(got_pk[j], 0xee);
    sp_buf_free(&b);
  }

  /* Wrong shapes: 8 or 10 fields, a short pk, a map. */
  sp_buf_init(&b, 4096);
  sp_wr_array(&b, 8);
  sp_wr_uint(&b, 1);
  sp_wr_str(&b, "stadjerspas-key", 15);
  sp_wr_str(&b, "x", 1);
  sp_wr_bin(&b, pk, 32);
  sp_wr_bin(&b, seed, 16);
  sp_wr_uint(&b, 1);
  sp_wr_uint(&b, 8192);
  sp_wr_bin(&b, seed, 24);
  CHECK_RC("8 fields", sp_keyfile_open(b.data, b.len, PASS, strlen(PASS), got_pk, sk),
           SP_KEY_E_FORMAT);
  sp_buf_free(&b);
  static const uint8_t map[] = {0x81, 0x01, 0x02};
  CHECK_RC("map", sp_keyfile_open(map, sizeof(map), PASS, strlen(PASS), got_pk, sk),
           SP_KEY_E_FORMAT);
  sodium_memzero(sk, sizeof(sk));
  sodium_memzero(want_sk, sizeof(want_sk));
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A file that asks for hours of work or terabytes of memory is refused
 * before any of it is done. */
static void test_keyfile_hostile_limits(void **state)
{
  (void)state;
  uint8_t seed[32], pk[32], got_pk[32], sk[64];
  struct {
    uint64_t ops, mem;
  } rows[] = {
      {UINT64_MAX, MEM_LOW},
      {(uint64_t)1 << 32, MEM_LOW},
      {SP_KEYFILE_OPSLIMIT_MAX + 1, MEM_LOW},
      {OPS_LOW, UINT64_MAX - 1023}, /* memlimit a multiple of 1024, else FORMAT */
      {OPS_LOW, (uint64_t)1 << 40},
      {OPS_LOW, SP_KEYFILE_MEMLIMIT_MAX + 1024},
      {UINT64_MAX, UINT64_MAX - 1023},
  };
  seed_fill(seed, 0x08);
  pk_of_seed(pk, seed);
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct kf_spec s = {1, "stadjerspas-key", "hostile", pk, rows[i].ops, rows[i].mem, NULL,
                        PASS};
    struct sp_buf b;
    build_file(&b, &s);
    memset(got_pk, 0x11, sizeof(got_pk));
    double t0 = now_s();
    CHECK_RC("hostile limits", sp_keyfile_open(b.data, b.len, PASS, strlen(PASS), got_pk, sk),
             SP_KEY_E_LIMITS);
    assert_true(now_s() - t0 < 0.5);
    for (size_t j = 0; j < 32; j++)
      assert_int_equal(got_pk[j], 0x11);
    /* The clear part is still readable: `key list` shows it. */
    char name[SP_KEYFILE_NAME_MAX + 1];
    CHECK_RC("info", sp_keyfile_info(b.data, b.len, got_pk, name), 0);
    assert_memory_equal(got_pk, pk, 32);
    sp_buf_free(&b);
  }
}

static void test_keyfile_seal_refusals(void **state)
{
  (void)state;
  uint8_t seed[32];
  char long_name[66];
  memset(long_name, 'n', 65);
  long_name[65] = '\0';
  seed_fill(seed, 0x09);
  struct {
    const char *what, *pass, *name;
    unsigned long long ops;
    size_t mem;
    int want;
  } rows[] = {
      {"empty passphrase", "", "k", OPS_LOW, MEM_LOW, SP_KEY_E_EMPTY},
      {"empty name", PASS, "", OPS_LOW, MEM_LOW, SP_KEY_E_NAME},
      {"65-byte name", PASS, long_name, OPS_LOW, MEM_LOW, SP_KEY_E_NAME},
      {"newline in name", PASS, "a\nb", OPS_LOW, MEM_LOW, SP_KEY_E_NAME},
      {"bad UTF-8 in name", PASS, "\xff", OPS_LOW, MEM_LOW, SP_KEY_E_NAME},
      {"NULL name", PASS, NULL, OPS_LOW, MEM_LOW, SP_KEY_E_NAME},
      {"opslimit 0", PASS, "k", 0, MEM_LOW, SP_KEY_E_INVAL},
      {"opslimit too high", PASS, "k", SP_KEYFILE_OPSLIMIT_MAX + 1, MEM_LOW, SP_KEY_E_INVAL},
      {"memlimit too low", PASS, "k", OPS_LOW, MEM_LOW - 1, SP_KEY_E_INVAL},
      {"memlimit not KiB", PASS, "k", OPS_LOW, MEM_LOW + 512, SP_KEY_E_INVAL},
      {"memlimit too high", PASS, "k", OPS_LOW, (size_t)SP_KEYFILE_MEMLIMIT_MAX + 1,
       SP_KEY_E_INVAL},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct sp_buf b;
    sp_buf_init(&b, 4096);
    sp_buf_append(&b, "abc", 3);
    CHECK_RC(rows[i].what,
             sp_keyfile_seal_params(seed, rows[i].pass, strlen(rows[i].pass), rows[i].name,
                                    rows[i].ops, rows[i].mem, &b),
             rows[i].want);
    assert_int_equal(b.len, 3);
    assert_int_equal(b.err, 0);
    sp_buf_free(&b);
  }
  /* Output over its maximum: refused and out->len restored. */
  struct sp_buf small;
  sp_buf_init(&small, 100);
  sp_buf_append(&small, "abc", 3);
  CHECK_RC("small buffer",
           sp_keyfile_seal_params(seed, PASS, strlen(PASS), "k", OPS_LOW, MEM_LOW, &small),
           SP_KEY_E_INVAL);
  assert_int_equal(small.len, 3);
  sp_buf_free(&small);
}

/* ---------------------------------------------------------- files on disk */

static char tmpdir[64];

static int dir_setup(void **state)
{
  (void)state;
  snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_keys.XXXXXX");
  return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int dir_teardown(void **state)
{
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *out, size_t cap, const char *name)
{
  snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_plain(const char *path, const void *p, size_t n, mode_t mode)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, p, n), (ssize_t)n);
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
}

static void test_keyfile_disk(void **state)
{
  (void)state;
  char path[256], other[256];
  uint8_t seed[32], *data = NULL, pk[32], sk[64];
  size_t n = 0;
  bool too_open = true;
  struct stat st;
  struct sp_buf b;

  seed_fill(seed, 0x0a);
  seal_low(&b, seed, PASS, "disk");
  path_in(path, sizeof(path), "disk.key");

  mode_t old_umask = umask(0); /* the mode must not depend on the umask */
  CHECK_RC("write", sp_keyfile_write(path, b.data, b.len), 0);
  umask(old_umask);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal((size_t)st.st_size, b.len);

  CHECK_RC("read", sp_keyfile_read(path, &data, &n, &too_open), 0);
  assert_false(too_open);
  assert_int_equal(n, b.len);
  assert_memory_equal(data, b.data, n);
  CHECK_RC("open read file", sp_keyfile_open(data, n, PASS, strlen(PASS), pk, sk), 0);
  free(data);
  data = NULL;

  /* No overwriting, and the existing key is intact afterwards. */
  static const uint8_t junk[] = "junk";
  CHECK_RC("overwrite", sp_keyfile_write(path, junk, sizeof(junk)), SP_KEY_E_EXISTS);
  CHECK_RC("read again", sp_keyfile_read(path, &data, &n, NULL), 0);
  assert_int_equal(n, b.len);
  assert_memory_equal(data, b.data, n);
  free(data);
  data = NULL;

  /* A symlink, even a dangling one, is not replaced or followed. */
  path_in(other, sizeof(other), "link.key");
  assert_int_equal(symlink("/nonexistent/target", other), 0);
  CHECK_RC("dangling symlink", sp_keyfile_write(other, junk, sizeof(junk)), SP_KEY_E_EXISTS);
  unlink(other);

  /* Group or other permissions are reported. */
  assert_int_equal(chmod(path, 0644), 0);
  CHECK_RC("read 0644", sp_keyfile_read(path, &data, &n, &too_open), 0);
  assert_true(too_open);
  free(data);
  data = NULL;
  assert_int_equal(chmod(path, 0620), 0);
  too_open = false;
  CHECK_RC("read 0620", sp_keyfile_read(path, &data, &n, &too_open), 0);
  assert_true(too_open);
  free(data);
  data = NULL;
  assert_int_equal(chmod(path, 0400), 0);
  CHECK_RC("read 0400", sp_keyfile_read(path, &data, &n, &too_open), 0);
  assert_false(too_open);
  free(data);
  data = NULL;
  unlink(path);

  /* Missing things. */
  uint8_t *mark = (uint8_t *)&too_open;
  path_in(other, sizeof(other), "missing.key");
  data = mark;
  n = 12345;
  CHECK_RC("read missing", sp_keyfile_read(other, &data, &n, NULL), SP_KEY_E_NOTFOUND);
  assert_ptr_equal(data, mark);
  assert_int_equal(n, 12345);
  path_in(other, sizeof(other), "no-such-dir/x.key");
  CHECK_RC("write in missing dir", sp_keyfile_write(other, junk, sizeof(junk)),
           SP_KEY_E_NOTFOUND);

  /* Not a key file: a directory, a FIFO (must not hang), too large. */
  CHECK_RC("read dir", sp_keyfile_read(tmpdir, &data, &n, NULL), SP_KEY_E_FORMAT);
  path_in(other, sizeof(other), "fifo.key");
  assert_int_equal(mkfifo(other, 0600), 0);
  CHECK_RC("read fifo", sp_keyfile_read(other, &data, &n, NULL), SP_KEY_E_FORMAT);
  unlink(other);
  uint8_t big[SP_KEYFILE_MAX + 1];
  memset(big, 0x90, sizeof(big));
  path_in(other, sizeof(other), "big.key");
  write_plain(other, big, sizeof(big), 0600);
  CHECK_RC("read too large", sp_keyfile_read(other, &data, &n, NULL), SP_KEY_E_FORMAT);
  unlink(other);
  write_plain(other, big, SP_KEYFILE_MAX, 0600);
  CHECK_RC("read largest", sp_keyfile_read(other, &data, &n, NULL), 0);
  assert_int_equal(n, SP_KEYFILE_MAX);
  CHECK_RC("largest is no key", sp_keyfile_open(data, n, PASS, strlen(PASS), pk, sk),
           SP_KEY_E_FORMAT);
  free(data);
  unlink(other);
  sp_buf_free(&b);
  sodium_memzero(sk, sizeof(sk));
}

/* ------------------------------------------------------------ passphrases */

#define ENV "TEST_KEYS_PASSPHRASE"

static void test_passphrase_file(void **state)
{
  (void)state;
  char path[256], out[32];
  path_in(path, sizeof(path), "pass.txt");
  unsetenv(ENV);
  struct {
    const char *what;
    const char *content;
    size_t len;
    int want;
    const char *pass;
  } rows[] = {
      {"newline", "geheim\n", 7, 0, "geheim"},
      {"no newline", "geheim", 6, 0, "geheim"},
      {"CRLF", "geheim\r\n", 8, 0, "geheim"},
      {"first line only", "geheim\nnog iets\n", 16, 0, "geheim"},
      {"spaces kept", " ge heim \n", 10, 0, " ge heim "},
      {"longest", "0123456789012345678901234567890\n", 32, 0, "0123456789012345678901234567890"},
      {"longest, CRLF", "0123456789012345678901234567890\r\n", 33, 0,
       "0123456789012345678901234567890"},
      {"too long", "01234567890123456789012345678901\n", 33, SP_KEY_E_TOOLONG, NULL},
      {"too long, no newline", "01234567890123456789012345678901", 32, SP_KEY_E_TOOLONG, NULL},
      {"empty file", "", 0, SP_KEY_E_EMPTY, NULL},
      {"empty line", "\ngeheim\n", 8, SP_KEY_E_EMPTY, NULL},
      {"NUL", "geh\0eim\n", 8, SP_KEY_E_NUL, NULL},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    write_plain(path, rows[i].content, rows[i].len, 0600);
    memset(out, 'Z', sizeof(out));
    CHECK_RC(rows[i].what, sp_passphrase_get("p: ", ENV, path, out, sizeof(out), true),
             rows[i].want);
    if (rows[i].pass != NULL) {
      assert_string_equal(out, rows[i].pass);
    } else {
      for (size_t j = 0; j < sizeof(out); j++)
        assert_int_equal(out[j], 'Z');
    }
  }

  /* The file comes before the environment. */
  write_plain(path, "uit-bestand\n", 12, 0600);
  assert_int_equal(setenv(ENV, "uit-omgeving", 1), 0);
  CHECK_RC("file first", sp_passphrase_get(NULL, ENV, path, out, sizeof(out), false), 0);
  assert_string_equal(out, "uit-bestand");
  unsetenv(ENV);
  unlink(path);
  CHECK_RC("missing file", sp_passphrase_get(NULL, ENV, path, out, sizeof(out), false),
           SP_KEY_E_NOTFOUND);
  CHECK_RC("cap 1", sp_passphrase_get(NULL, ENV, path, out, 1, false), SP_KEY_E_INVAL);
}

static void test_passphrase_env(void **state)
{
  (void)state;
  char out[16];
  assert_int_equal(setenv(ENV, "uit-omgeving", 1), 0);
  CHECK_RC("env", sp_passphrase_get(NULL, ENV, NULL, out, sizeof(out), true), 0);
  assert_string_equal(out, "uit-omgeving");
  assert_int_equal(setenv(ENV, "0123456789abcde", 1), 0);
  CHECK_RC("env longest", sp_passphrase_get(NULL, ENV, NULL, out, sizeof(out), true), 0);
  assert_string_equal(out, "0123456789abcde");
  memset(out, 'Z', sizeof(out));
  assert_int_equal(setenv(ENV, "0123456789abcdef", 1), 0);
  CHECK_RC("env too long", sp_passphrase_get(NULL, ENV, NULL, out, sizeof(out), true),
           SP_KEY_E_TOOLONG);
  assert_int_equal(out[0], 'Z');
  assert_int_equal(setenv(ENV, "", 1), 0);
  CHECK_RC("env empty", sp_passphrase_get(NULL, ENV, NULL, out, sizeof(out), true),
           SP_KEY_E_EMPTY);
  unsetenv(ENV);
}

/* Neither file nor environment, stdin not a terminal: a clear refusal, not
 * a read from stdin. */
static void test_passphrase_none(void **state)
{
  (void)state;
  char out[16];
  unsetenv(ENV);
  assert_non_null(freopen("/dev/null", "r", stdin));
  assert_false(isatty(STDIN_FILENO));
  memset(out, 'Z', sizeof(out));
  CHECK_RC("none", sp_passphrase_get(NULL, ENV, NULL, out, sizeof(out), false),
           SP_KEY_E_NO_PASSPHRASE);
  CHECK_RC("none, no env name", sp_passphrase_get(NULL, NULL, NULL, out, sizeof(out), false),
           SP_KEY_E_NO_PASSPHRASE);
  assert_int_equal(out[0], 'Z');
  assert_string_equal(sp_keys_strerror(SP_KEY_E_NO_PASSPHRASE),
                      "no passphrase: set STADJER_PASSPHRASE, use --passphrase-file, or run on "
                      "a terminal");
}

/* --- the terminal prompt, through a pseudo-terminal --- */

struct tty_run {
  int rc;
  int echo_after; /* ECHO flag of the terminal after the call, seen by the child */
  char pass[32];
  char transcript[1024]; /* what the child wrote to the terminal */
  int status;            /* waitpid status of the child */
  int echo_parent;       /* ECHO flag seen by the parent after the child ended */
};

/* Append terminal output to the transcript until it contains want (or the
 * timeout). */
static bool wait_for(int master, struct tty_run *run, size_t *len, const char *want,
                     int timeout_ms)
{
  double end = now_s() + timeout_ms / 1000.0;
  for (;;) {
    run->transcript[*len] = '\0';
    if (want != NULL && strstr(run->transcript, want) != NULL)
      return true;
    int left = (int)((end - now_s()) * 1000);
    if (left <= 0)
      return false;
    struct pollfd pfd = {master, POLLIN, 0};
    if (poll(&pfd, 1, left) <= 0)
      continue;
    ssize_t r = read(master, run->transcript + *len, sizeof(run->transcript) - 1 - *len);
    if (r <= 0)
      return false; /* EIO: the child has gone */
    *len += (size_t)r;
  }
}

/* Run sp_passphrase_get in a child whose controlling terminal is a new
 * pty. script: alternating prompts to wait for and bytes to type. */
static void tty_session(bool confirm, const char *const *script, size_t n_script,
                        struct tty_run *run)
{
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0)
    skip();
  assert_int_equal(grantpt(master), 0);
  assert_int_equal(unlockpt(master), 0);
  int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
  assert_true(slave >= 0);
  int pipefd[2];
  assert_int_equal(pipe(pipefd), 0);

  memset(run, 0, sizeof(*run));
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(master);
    close(pipefd[0]);
    struct tty_run r;
    memset(&r, 0, sizeof(r));
    if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) != 0 || dup2(slave, STDIN_FILENO) < 0)
      _exit(100);
    unsetenv(ENV);
    r.rc = sp_passphrase_get("Passphrase: ", ENV, NULL, r.pass, sizeof(r.pass), confirm);
    struct termios t;
    r.echo_after = tcgetattr(STDIN_FILENO, &t) == 0 && (t.c_lflag & ECHO) != 0;
    if (write(pipefd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
      _exit(101);
    _exit(0);
  }
  close(pipefd[1]);

  size_t len = 0;
  for (size_t i = 0; i + 1 < n_script; i += 2) {
    if (!wait_for(master, run, &len, script[i], 5000)) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      fail_msg("no prompt '%s'; terminal shows '%s'", script[i], run->transcript);
    }
    size_t n = strlen(script[i + 1]);
    assert_int_equal(write(master, script[i + 1], n), (ssize_t)n);
    /* Drop what was seen so far so the same prompt can be waited for again. */
    char *seen = strstr(run->transcript, script[i]);
    memset(seen, '.', strlen(script[i]));
  }
  (void)wait_for(master, run, &len, NULL, 300); /* the rest of the output */

  struct tty_run result;
  ssize_t got = read(pipefd[0], &result, sizeof(result));
  close(pipefd[0]);
  assert_int_equal(waitpid(pid, &run->status, 0), pid);
  if (got == (ssize_t)sizeof(result)) {
    run->rc = result.rc;
    run->echo_after = result.echo_after;
    memcpy(run->pass, result.pass, sizeof(run->pass));
  } else {
    run->rc = INT32_MIN; /* the child did not return */
  }
  struct termios t;
  assert_int_equal(tcgetattr(slave, &t), 0);
  run->echo_parent = (t.c_lflag & ECHO) != 0;
  close(slave);
  close(master);
}

static void test_passphrase_tty(void **state)
{
  (void)state;
  struct tty_run run;

  /* One answer, not echoed. */
  static const char *const once[] = {"Passphrase: ", "geheim-1234\n"};
  tty_session(false, once, 2, &run);
  CHECK_RC("tty", run.rc, 0);
  assert_string_equal(run.pass, "geheim-1234");
  assert_null(strstr(run.transcript, "geheim"));
  assert_true(run.echo_after);

  /* Confirmed. */
  static const char *const twice[] = {"Passphrase: ", "geheim-1234\n", "repeat passphrase: ",
                                      "geheim-1234\n"};
  tty_session(true, twice, 4, &run);
  CHECK_RC("tty confirm", run.rc, 0);
  assert_string_equal(run.pass, "geheim-1234");
  assert_null(strstr(run.transcript, "geheim"));
  assert_true(run.echo_after);

  /* Not the same twice. */
  static const char *const differ[] = {"Passphrase: ", "geheim-1234\n", "repeat passphrase: ",
                                       "geheim-1235\n"};
  tty_session(true, differ, 4, &run);
  CHECK_RC("tty mismatch", run.rc, SP_KEY_E_PASSPHRASE_MISMATCH);
  assert_int_equal(run.pass[0], '\0');
  assert_true(run.echo_after);

  /* Just Enter. */
  static const char *const empty[] = {"Passphrase: ", "\n"};
  tty_session(false, empty, 2, &run);
  CHECK_RC("tty empty", run.rc, SP_KEY_E_EMPTY);
  assert_true(run.echo_after);

  /* ^C halfway: the process dies of SIGINT as usual and the terminal has
   * its echo back. */
  static const char *const intr[] = {"Passphrase: ", "gehe\x03"};
  tty_session(false, intr, 2, &run);
  assert_true(WIFSIGNALED(run.status));
  assert_int_equal(WTERMSIG(run.status), SIGINT);
  assert_true(run.echo_parent);

  /* ^Z: the terminal is restored for the stop, and the prompt starts again
   * (this child's process group is orphaned, so the kernel drops the stop
   * itself; in a shell job it would stop here until fg). */
  static const char *const stop[] = {"Passphrase: ", "gehe\x1a", "Passphrase: ",
                                     "opnieuw\n"};
  tty_session(false, stop, 4, &run);
  CHECK_RC("tty after ^Z", run.rc, 0);
  assert_string_equal(run.pass, "opnieuw");
  assert_true(run.echo_after);
}

/* ------------------------------------------------------------------ errors */

static void test_strerror(void **state)
{
  (void)state;
  static const struct {
    int code;
    const char *text;
  } pinned[] = {
      {SP_ADDR_E_LENGTH, "invalid address (length)"},
      {SP_ADDR_E_CHAR, "invalid address (character)"},
      {SP_ADDR_E_CHECKSUM, "invalid address (checksum)"},
      {SP_KEY_E_FORMAT, "key file is damaged or not a Stadjerspas key file"},
      {SP_KEY_E_PASSPHRASE, "wrong passphrase"},
      {SP_KEY_E_MISMATCH, "key file is damaged: the key does not match its public part"},
      {SP_KEY_E_LIMITS, "key file asks for unreasonable work"},
      {SP_KEY_E_EXISTS, "a key with this name already exists"},
      {SP_KEY_E_PASSPHRASE_MISMATCH, "passphrases do not match"},
      {SP_KEY_E_EMPTY, "empty passphrase"},
  };
  for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++)
    assert_string_equal(sp_keys_strerror(pinned[i].code), pinned[i].text);
  for (int c = SP_KEYS__E_FIRST + 1; c < SP_KEYS__E_LAST; c++) {
    assert_true(c < 0);
    assert_string_not_equal(sp_keys_strerror(c), "unknown error");
    assert_string_not_equal(sp_keys_errname(c), "UNKNOWN");
    /* Disjoint from the proto codes. */
    assert_string_equal(sp_strerror(c), "unknown error");
  }
  assert_string_equal(sp_keys_strerror(SP_E_NOMEM), sp_strerror(SP_E_NOMEM));
  assert_string_equal(sp_keys_errname(0), "OK");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_address_roundtrip),
      cmocka_unit_test(test_address_substitutions),
      cmocka_unit_test(test_address_length),
      cmocka_unit_test(test_address_case),
      cmocka_unit_test(test_address_known_answers),
      cmocka_unit_test(test_keyfile_roundtrip),
      cmocka_unit_test(test_keyfile_default_limits),
      cmocka_unit_test(test_keyfile_wrong_passphrase),
      cmocka_unit_test(test_keyfile_truncated),
      cmocka_unit_test(test_keyfile_bitflips),
      cmocka_unit_test(test_keyfile_handmade),
      cmocka_unit_test(test_keyfile_hostile_limits),
      cmocka_unit_test(test_keyfile_seal_refusals),
      cmocka_unit_test_setup_teardown(test_keyfile_disk, dir_setup, dir_teardown),
      cmocka_unit_test_setup_teardown(test_passphrase_file, dir_setup, dir_teardown),
      cmocka_unit_test(test_passphrase_env),
      cmocka_unit_test(test_passphrase_tty),
      cmocka_unit_test(test_passphrase_none),
      cmocka_unit_test(test_strerror),
  };
  return cmocka_run_group_tests_name("keys", tests, group_setup, NULL);
}
