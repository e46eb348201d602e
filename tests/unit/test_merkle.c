/* Unit tests of the RFC 6962 / RFC 9162 Merkle tree (ledger/src/merkle.c)
 * against an independent, deliberately naive recursive implementation of
 * MTH and PATH written here straight from RFC 6962 section 2.1, hashing with
 * libsodium's BLAKE2b directly (no sp_hash). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "sp/crypto.h"
#include "sp/error.h"
#include "sp/limits.h"
#include "sp/merkle.h"

#define CHECK_RC(what, got, want)                                                         \
  do {                                                                                    \
    int got_ = (got), want_ = (want);                                                     \
    if (got_ != want_)                                                                    \
      fail_msg("%s: got %d (%s), want %d (%s)", (what), got_, sp_errname(got_), want_,    \
               sp_errname(want_));                                                        \
  } while (0)

#define MAXN 70
#define BIGN 1000

typedef uint8_t hash_t[SP_HASH_LEN];

/* ------------------------------------------------------ reference model */

struct data {
  char s[16];
  size_t n;
};

static struct data leaves_data[BIGN];

static void ref_leaf(hash_t out, const struct data *d)
{
  crypto_generichash_state st;
  const uint8_t zero = 0x00;
  crypto_generichash_init(&st, NULL, 0, SP_HASH_LEN);
  crypto_generichash_update(&st, &zero, 1);
  crypto_generichash_update(&st, (const uint8_t *)d->s, d->n);
  crypto_generichash_final(&st, out, SP_HASH_LEN);
}

static void ref_node(hash_t out, const hash_t l, const hash_t r)
{
  crypto_generichash_state st;
  const uint8_t one = 0x01;
  crypto_generichash_init(&st, NULL, 0, SP_HASH_LEN);
  crypto_generichash_update(&st, &one, 1);
  crypto_generichash_update(&st, l, SP_HASH_LEN);
  crypto_generichash_update(&st, r, SP_HASH_LEN);
  crypto_generichash_final(&st, out, SP_HASH_LEN);
}

/* k: the largest power of two smaller than n (n > 1) */
static size_t ref_k(size_t n)
{
  size_t k = 1;
  while (k < n)
    k <<= 1;
  return k >> 1;
}

/* MTH(D[n]) */
static void ref_mth(hash_t out, const struct data *d, size_t n)
{
  if (n == 0) {
    crypto_generichash(out, SP_HASH_LEN, NULL, 0, NULL, 0);
    return;
  }
  if (n == 1) {
    ref_leaf(out, d);
    return;
  }
  size_t k = ref_k(n);
  hash_t l, r;
  ref_mth(l, d, k);
  ref_mth(r, d + k, n - k);
  ref_node(out, l, r);
}

/* PATH(m, D[n]), appended to path[*len..]; dir records for each element
 * whether the sibling is on the right ('R') or on the left ('L'). */
static void ref_path(hash_t *path, char *dir, size_t *len, size_t m, const struct data *d,
                     size_t n)
{
  if (n <= 1)
    return;
  size_t k = ref_k(n);
  if (m < k) {
    ref_path(path, dir, len, m, d, k);
    ref_mth(path[*len], d + k, n - k);
    dir[(*len)++] = 'R';
  } else {
    ref_path(path, dir, len, m - k, d + k, n - k);
    ref_mth(path[*len], d, k);
    dir[(*len)++] = 'L';
  }
}

/* Only the shape of PATH(m, D[n]): the sibling directions, bottom-up. */
static void ref_shape(char *dir, size_t *len, size_t m, size_t n)
{
  if (n <= 1)
    return;
  size_t k = ref_k(n);
  if (m < k) {
    ref_shape(dir, len, m, k);
    dir[(*len)++] = 'R';
  } else {
    ref_shape(dir, len, m - k, n - k);
    dir[(*len)++] = 'L';
  }
}

/* ---------------------------------------------------------- fixtures */

static hash_t lib_leaves[BIGN]; /* sp_merkle_leaf of leaves_data */

static const uint8_t (*cl(hash_t *p))[SP_HASH_LEN]
{
  return (const uint8_t(*)[SP_HASH_LEN])p;
}

static int group_setup(void **state)
{
  (void)state;
  if (sp_crypto_init() != SP_OK)
    return -1;
  for (size_t i = 0; i < BIGN; i++) {
    leaves_data[i].n = (size_t)snprintf(leaves_data[i].s, sizeof(leaves_data[i].s),
                                        "leaf-%zu", i);
    sp_merkle_leaf(lib_leaves[i], (const uint8_t *)leaves_data[i].s, leaves_data[i].n);
  }
  return 0;
}

static void hex(char out[2 * SP_HASH_LEN + 1], const hash_t h)
{
  for (size_t i = 0; i < SP_HASH_LEN; i++)
    snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* ---------------------------------------------------------------- tests */

static void test_leaf_hash(void **state)
{
  (void)state;
  for (size_t i = 0; i < BIGN; i++) {
    hash_t want;
    ref_leaf(want, &leaves_data[i]);
    assert_memory_equal(lib_leaves[i], want, SP_HASH_LEN);
  }
  /* empty data and NULL with length 0 */
  hash_t a, b;
  struct data empty = {"", 0};
  ref_leaf(a, &empty);
  sp_merkle_leaf(b, NULL, 0);
  assert_memory_equal(a, b, SP_HASH_LEN);
  /* the 0x00 prefix separates leaves from plain hashes */
  uint8_t plain[SP_HASH_LEN];
  sp_hash(plain, leaves_data[0].s, leaves_data[0].n);
  assert_memory_not_equal(plain, lib_leaves[0], SP_HASH_LEN);
}

static void test_root_matches_reference(void **state)
{
  (void)state;
  for (size_t n = 0; n <= MAXN; n++) {
    hash_t want, got;
    ref_mth(want, leaves_data, n);
    memset(got, 0xee, sizeof(got));
    CHECK_RC("root", sp_merkle_root(got, n ? cl(lib_leaves) : NULL, n), SP_OK);
    if (memcmp(got, want, SP_HASH_LEN) != 0)
      fail_msg("root differs for n = %zu", n);
  }
  /* one larger, uneven tree */
  hash_t want, got;
  ref_mth(want, leaves_data, BIGN);
  CHECK_RC("root 1000", sp_merkle_root(got, cl(lib_leaves), BIGN), SP_OK);
  assert_memory_equal(got, want, SP_HASH_LEN);
}

static void test_known_answer(void **state)
{
  (void)state;
  struct data abc[3] = {{"a", 1}, {"b", 1}, {"c", 1}};
  hash_t leaves[3], ref, got;
  for (size_t i = 0; i < 3; i++)
    sp_merkle_leaf(leaves[i], (const uint8_t *)abc[i].s, 1);
  ref_mth(ref, abc, 3);
  CHECK_RC("root abc", sp_merkle_root(got, cl(leaves), 3), SP_OK);
  assert_memory_equal(got, ref, SP_HASH_LEN);
  char h[2 * SP_HASH_LEN + 1];
  hex(h, got);
  /* BLAKE2b-256(01 || BLAKE2b-256(01 || L(a) || L(b)) || L(c)), L(x) =
   * BLAKE2b-256(00 || x); also cross-checked with Python's hashlib. */
  assert_string_equal(h, "17321db51c1ef3ec1f77e271aa300b4e5c6091708bcba37e46025774a26142ee");

  /* the empty tree is BLAKE2b-256("") */
  CHECK_RC("root empty", sp_merkle_root(got, NULL, 0), SP_OK);
  hex(h, got);
  assert_string_equal(h, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");

  /* a single-leaf tree is its leaf hash */
  CHECK_RC("root a", sp_merkle_root(got, cl(leaves), 1), SP_OK);
  hex(h, got);
  assert_string_equal(h, "7234082e1dd0b5ec0acd71875d61c9f374af30c100bc4de7aa4eb3f15bbed686");
}

static void test_path_matches_reference_and_verifies(void **state)
{
  (void)state;
  for (size_t n = 1; n <= MAXN; n++) {
    hash_t root;
    ref_mth(root, leaves_data, n);
    for (size_t m = 0; m < n; m++) {
      hash_t want[SP_MAX_PROOF], got[SP_MAX_PROOF];
      char dir[SP_MAX_PROOF];
      size_t want_len = 0, got_len = 999;
      ref_path(want, dir, &want_len, m, leaves_data, n);
      memset(got, 0xee, sizeof(got));
      CHECK_RC("path", sp_merkle_path(got, &got_len, cl(lib_leaves), n, m), SP_OK);
      if (got_len != want_len || memcmp(got, want, want_len * SP_HASH_LEN) != 0)
        fail_msg("path differs for n = %zu, index = %zu (len %zu, want %zu)", n, m, got_len,
                 want_len);
      CHECK_RC("verify", sp_merkle_verify(lib_leaves[m], m, n, cl(got), got_len, root), SP_OK);
    }
  }
  /* a sample of paths in the larger tree */
  hash_t root;
  ref_mth(root, leaves_data, BIGN);
  static const size_t idx[] = {0, 1, 511, 512, 513, 767, 768, 991, 998, 999};
  for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
    hash_t want[SP_MAX_PROOF], got[SP_MAX_PROOF];
    char dir[SP_MAX_PROOF];
    size_t want_len = 0, got_len = 0;
    ref_path(want, dir, &want_len, idx[i], leaves_data, BIGN);
    CHECK_RC("path 1000", sp_merkle_path(got, &got_len, cl(lib_leaves), BIGN, idx[i]), SP_OK);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len * SP_HASH_LEN);
    CHECK_RC("verify 1000",
             sp_merkle_verify(lib_leaves[idx[i]], idx[i], BIGN, cl(got), got_len, root), SP_OK);
  }
}

/* The tree form gives the reference root and paths for every size up to
 * MAXN and every index, and for all of the 1000-leaf tree. */
static void test_tree_matches_reference(void **state)
{
  (void)state;
  for (size_t n = 1; n <= BIGN; n = n < MAXN ? n + 1 : BIGN + 1) {
    struct sp_merkle_tree t;
    CHECK_RC("build", sp_merkle_tree_build(&t, cl(lib_leaves), n), SP_OK);
    hash_t root, got_root;
    ref_mth(root, leaves_data, n);
    sp_merkle_tree_root(&t, got_root);
    assert_memory_equal(got_root, root, SP_HASH_LEN);
    for (size_t m = 0; m < n; m++) {
      hash_t want[SP_MAX_PROOF], got[SP_MAX_PROOF];
      char dir[SP_MAX_PROOF];
      size_t want_len = 0, got_len = 999;
      ref_path(want, dir, &want_len, m, leaves_data, n);
      CHECK_RC("tree path", sp_merkle_tree_path(&t, m, got, &got_len), SP_OK);
      if (got_len != want_len || memcmp(got, want, want_len * SP_HASH_LEN) != 0)
        fail_msg("tree path differs for n = %zu, index = %zu (len %zu, want %zu)", n, m,
                 got_len, want_len);
    }
    hash_t p[SP_MAX_PROOF];
    size_t len;
    CHECK_RC("tree path out of range", sp_merkle_tree_path(&t, n, p, &len), SP_E_RANGE);
    sp_merkle_tree_free(&t);
  }
  struct sp_merkle_tree t;
  CHECK_RC("empty tree", sp_merkle_tree_build(&t, cl(lib_leaves), 0), SP_E_RANGE);
}

static void test_path_index_out_of_range(void **state)
{
  (void)state;
  hash_t path[SP_MAX_PROOF];
  size_t len = 77;
  CHECK_RC("n = 0", sp_merkle_path(path, &len, NULL, 0, 0), SP_E_RANGE);
  CHECK_RC("index = n", sp_merkle_path(path, &len, cl(lib_leaves), 5, 5), SP_E_RANGE);
  CHECK_RC("index > n", sp_merkle_path(path, &len, cl(lib_leaves), 5, SIZE_MAX), SP_E_RANGE);
  assert_int_equal(len, 77);
}

/* Path of leaf m in the first n test leaves, by the library, and the root. */
static void lib_path(hash_t *path, size_t *len, hash_t root, size_t n, size_t m)
{
  CHECK_RC("path", sp_merkle_path(path, len, cl(lib_leaves), n, m), SP_OK);
  CHECK_RC("root", sp_merkle_root(root, cl(lib_leaves), n), SP_OK);
}

static void test_verify_rejects_wrong_index(void **state)
{
  (void)state;
  for (size_t n = 1; n <= MAXN; n++) {
    for (size_t m = 0; m < n; m++) {
      hash_t path[SP_MAX_PROOF], root;
      size_t len;
      lib_path(path, &len, root, n, m);
      for (size_t w = 0; w < n + 2; w++) {
        if (w == m)
          continue;
        int rc = sp_merkle_verify(lib_leaves[m], w, n, cl(path), len, root);
        if (rc != SP_E_BADSIG)
          fail_msg("n = %zu: path of %zu accepted for index %zu (rc %d)", n, m, w, rc);
      }
      CHECK_RC("index SIZE_MAX",
               sp_merkle_verify(lib_leaves[m], SIZE_MAX, n, cl(path), len, root),
               SP_E_BADSIG);
    }
  }
}

/* RFC 9162 verification binds the tree size only through the shape of the
 * path: a path is accepted for another size exactly when that size gives
 * the leaf the same sibling directions (e.g. leaf 0 of 3 and of 4 leaves).
 * Every other size must be refused. */
static void test_verify_rejects_wrong_size(void **state)
{
  (void)state;
  for (size_t n = 1; n <= MAXN; n++) {
    for (size_t m = 0; m < n; m++) {
      hash_t path[SP_MAX_PROOF], root;
      size_t len;
      lib_path(path, &len, root, n, m);
      char dir[SP_MAX_PROOF];
      size_t dlen = 0;
      ref_shape(dir, &dlen, m, n);
      assert_int_equal(dlen, len);
      for (size_t s = 0; s <= MAXN + 2; s++) {
        if (s == n)
          continue;
        char sdir[SP_MAX_PROOF];
        size_t slen = 0;
        int want = SP_E_BADSIG;
        if (m < s) {
          ref_shape(sdir, &slen, m, s);
          if (slen == dlen && memcmp(sdir, dir, dlen) == 0)
            want = SP_OK;
        }
        int rc = sp_merkle_verify(lib_leaves[m], m, s, cl(path), len, root);
        if (rc != want)
          fail_msg("leaf %zu of %zu claimed in size %zu: rc %d, want %d", m, n, s, rc, want);
      }
    }
  }

  /* explicit cases */
  hash_t path[SP_MAX_PROOF], root;
  size_t len;
  lib_path(path, &len, root, 5, 4); /* path [H(0..3)] */
  assert_int_equal(len, 1);
  CHECK_RC("5 -> 6", sp_merkle_verify(lib_leaves[4], 4, 6, cl(path), len, root), SP_E_BADSIG);
  CHECK_RC("5 -> 8", sp_merkle_verify(lib_leaves[4], 4, 8, cl(path), len, root), SP_E_BADSIG);
  CHECK_RC("5 -> 4", sp_merkle_verify(lib_leaves[4], 4, 4, cl(path), len, root), SP_E_BADSIG);
  CHECK_RC("5 -> 0", sp_merkle_verify(lib_leaves[4], 4, 0, cl(path), len, root), SP_E_BADSIG);
  lib_path(path, &len, root, 7, 6);
  CHECK_RC("7 -> 8", sp_merkle_verify(lib_leaves[6], 6, 8, cl(path), len, root), SP_E_BADSIG);
  CHECK_RC("7 -> SIZE_MAX",
           sp_merkle_verify(lib_leaves[6], 6, SIZE_MAX, cl(path), len, root), SP_E_BADSIG);
}

static void test_verify_rejects_tampering(void **state)
{
  (void)state;
  for (size_t n = 1; n <= MAXN; n++) {
    for (size_t m = 0; m < n; m++) {
      hash_t path[SP_MAX_PROOF], root, bad[SP_MAX_PROOF];
      size_t len;
      lib_path(path, &len, root, n, m);
      const uint8_t *leaf = lib_leaves[m];

      /* a flipped bit in any path element, at varying positions */
      for (size_t i = 0; i < len; i++) {
        for (size_t bit = (i * 37 + m) % 8; bit < 8 * SP_HASH_LEN; bit += 61) {
          memcpy(bad, path, len * SP_HASH_LEN);
          bad[i][bit / 8] ^= (uint8_t)(1u << (bit % 8));
          int rc = sp_merkle_verify(leaf, m, n, cl(bad), len, root);
          if (rc != SP_E_BADSIG)
            fail_msg("n %zu index %zu: flipped bit %zu of element %zu accepted", n, m, bit, i);
        }
      }
      /* swapped neighbours */
      if (len >= 2) {
        memcpy(bad, path, len * SP_HASH_LEN);
        memcpy(bad[0], path[1], SP_HASH_LEN);
        memcpy(bad[1], path[0], SP_HASH_LEN);
        CHECK_RC("swapped", sp_merkle_verify(leaf, m, n, cl(bad), len, root), SP_E_BADSIG);
      }
      /* truncated, down to nothing */
      for (size_t l = 0; l < len; l++)
        CHECK_RC("truncated", sp_merkle_verify(leaf, m, n, cl(path), l, root), SP_E_BADSIG);
      /* an extra element, whatever it holds */
      memcpy(bad, path, len * SP_HASH_LEN);
      memcpy(bad[len], root, SP_HASH_LEN);
      CHECK_RC("extra", sp_merkle_verify(leaf, m, n, cl(bad), len + 1, root), SP_E_BADSIG);
      memset(bad[len], 0, SP_HASH_LEN);
      CHECK_RC("extra zero", sp_merkle_verify(leaf, m, n, cl(bad), len + 1, root),
               SP_E_BADSIG);
      /* a wrong leaf: another leaf of the tree, and the raw data hash */
      const uint8_t *other = lib_leaves[(m + 1) % BIGN];
      CHECK_RC("wrong leaf", sp_merkle_verify(other, m, n, cl(path), len, root), SP_E_BADSIG);
      hash_t flipped;
      memcpy(flipped, leaf, SP_HASH_LEN);
      flipped[SP_HASH_LEN - 1] ^= 0x80;
      CHECK_RC("flipped leaf", sp_merkle_verify(flipped, m, n, cl(path), len, root),
               SP_E_BADSIG);
      /* a wrong root */
      hash_t r2;
      memcpy(r2, root, SP_HASH_LEN);
      r2[0] ^= 1;
      CHECK_RC("wrong root", sp_merkle_verify(leaf, m, n, cl(path), len, r2), SP_E_BADSIG);
    }
  }
}

/* The second-preimage defence: an inner node presented as a leaf of a
 * smaller tree must not verify (leaves and nodes are hashed differently). */
static void test_inner_node_is_not_a_leaf(void **state)
{
  (void)state;
  hash_t root;
  CHECK_RC("root 4", sp_merkle_root(root, cl(lib_leaves), 4), SP_OK);
  hash_t n01, n23;
  ref_node(n01, lib_leaves[0], lib_leaves[1]);
  ref_node(n23, lib_leaves[2], lib_leaves[3]);
  hash_t pair[2];
  memcpy(pair[0], n01, SP_HASH_LEN);
  memcpy(pair[1], n23, SP_HASH_LEN);
  /* As hashed leaves of a 2-leaf tree the nodes give the same root ... */
  hash_t r2;
  CHECK_RC("root 2", sp_merkle_root(r2, cl(pair), 2), SP_OK);
  assert_memory_equal(r2, root, SP_HASH_LEN);
  /* ... which is why leaf hashes must come from sp_merkle_leaf: the data
   * n01||... hashed as a leaf is a different value. */
  hash_t as_leaf;
  sp_merkle_leaf(as_leaf, n01, SP_HASH_LEN);
  const uint8_t (*p)[SP_HASH_LEN] = cl(&pair[1]);
  CHECK_RC("node as leaf", sp_merkle_verify(as_leaf, 0, 2, p, 1, root), SP_E_BADSIG);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_leaf_hash),
      cmocka_unit_test(test_root_matches_reference),
      cmocka_unit_test(test_known_answer),
      cmocka_unit_test(test_path_matches_reference_and_verifies),
      cmocka_unit_test(test_tree_matches_reference),
      cmocka_unit_test(test_path_index_out_of_range),
      cmocka_unit_test(test_verify_rejects_wrong_index),
      cmocka_unit_test(test_verify_rejects_wrong_size),
      cmocka_unit_test(test_verify_rejects_tampering),
      cmocka_unit_test(test_inner_node_is_not_a_leaf),
  };
  return cmocka_run_group_tests_name("merkle", tests, group_setup, NULL);
}
