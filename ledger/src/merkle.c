#include "sp/merkle.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sp/crypto.h"
#include "sp/error.h"

void sp_merkle_leaf(uint8_t out[static SP_HASH_LEN], const uint8_t *data, size_t n)
{
  crypto_generichash_state st;
  const uint8_t prefix = 0x00;
  crypto_generichash_init(&st, NULL, 0, SP_HASH_LEN);
  crypto_generichash_update(&st, &prefix, 1);
  crypto_generichash_update(&st, data, n);
  crypto_generichash_final(&st, out, SP_HASH_LEN);
}

static void node(uint8_t out[static SP_HASH_LEN], const uint8_t *l, const uint8_t *r)
{
  uint8_t in[1 + 2 * SP_HASH_LEN];
  in[0] = 0x01;
  memcpy(in + 1, l, SP_HASH_LEN);
  memcpy(in + 1 + SP_HASH_LEN, r, SP_HASH_LEN);
  sp_hash(out, in, sizeof(in));
}

/* Largest power of two strictly less than n (n >= 2). */
static size_t split(size_t n)
{
  size_t k = 1;
  while (k * 2 < n)
    k *= 2;
  return k;
}

static void subtree(uint8_t out[static SP_HASH_LEN], const uint8_t (*leaves)[SP_HASH_LEN],
                    size_t n)
{
  if (n == 1) {
    memcpy(out, leaves[0], SP_HASH_LEN);
    return;
  }
  size_t k = split(n);
  uint8_t l[SP_HASH_LEN], r[SP_HASH_LEN];
  subtree(l, leaves, k);
  subtree(r, leaves + k, n - k);
  node(out, l, r);
}

int sp_merkle_root(uint8_t out[static SP_HASH_LEN], const uint8_t (*leaves)[SP_HASH_LEN],
                   size_t n)
{
  if (n == 0)
    sp_hash(out, "", 0);
  else
    subtree(out, leaves, n); /* recursion depth is log2(n) */
  return SP_OK;
}

int sp_merkle_path(uint8_t (*path)[SP_HASH_LEN], size_t *len,
                   const uint8_t (*leaves)[SP_HASH_LEN], size_t n, size_t index)
{
  if (index >= n)
    return SP_E_RANGE;
  /* walk down from the root; siblings are found top-down, the path lists
   * them bottom-up, so fill from the end and shift */
  uint8_t tmp[SP_MAX_PROOF][SP_HASH_LEN];
  size_t depth = 0;
  while (n > 1) {
    size_t k = split(n);
    if (depth >= SP_MAX_PROOF)
      return SP_E_TOOLONG;
    if (index < k) {
      subtree(tmp[depth++], leaves + k, n - k);
      n = k;
    } else {
      subtree(tmp[depth++], leaves, k);
      leaves += k;
      n -= k;
      index -= k;
    }
  }
  for (size_t i = 0; i < depth; i++)
    memcpy(path[i], tmp[depth - 1 - i], SP_HASH_LEN);
  *len = depth;
  return SP_OK;
}

int sp_merkle_tree_build(struct sp_merkle_tree *t, const uint8_t (*leaves)[SP_HASH_LEN],
                         size_t n)
{
  memset(t, 0, sizeof(*t));
  if (n == 0)
    return SP_E_RANGE;
  t->level[0] = (uint8_t(*)[SP_HASH_LEN])leaves;
  t->count[0] = n;
  t->n_levels = 1;
  while (t->count[t->n_levels - 1] > 1) {
    size_t lv = t->n_levels;
    if (lv > SP_MAX_PROOF) {
      sp_merkle_tree_free(t);
      return SP_E_TOOLONG;
    }
    size_t below = t->count[lv - 1], m = (below + 1) / 2;
    t->level[lv] = malloc(m * SP_HASH_LEN);
    if (t->level[lv] == NULL) {
      sp_merkle_tree_free(t);
      return SP_E_NOMEM;
    }
    const uint8_t(*b)[SP_HASH_LEN] = (const uint8_t(*)[SP_HASH_LEN])t->level[lv - 1];
    for (size_t i = 0; i + 1 < below; i += 2)
      node(t->level[lv][i / 2], b[i], b[i + 1]);
    if (below & 1) /* the odd one out moves up as it is */
      memcpy(t->level[lv][m - 1], b[below - 1], SP_HASH_LEN);
    t->count[lv] = m;
    t->n_levels++;
  }
  return SP_OK;
}

void sp_merkle_tree_free(struct sp_merkle_tree *t)
{
  for (size_t i = 1; i <= SP_MAX_PROOF; i++) /* level 0 is the caller's */
    free(t->level[i]);
  memset(t, 0, sizeof(*t));
}

void sp_merkle_tree_root(const struct sp_merkle_tree *t, uint8_t out[static SP_HASH_LEN])
{
  memcpy(out, t->level[t->n_levels - 1][0], SP_HASH_LEN);
}

int sp_merkle_tree_path(const struct sp_merkle_tree *t, size_t index,
                        uint8_t (*path)[SP_HASH_LEN], size_t *len)
{
  if (t->n_levels == 0 || index >= t->count[0])
    return SP_E_RANGE;
  size_t d = 0;
  for (size_t lv = 0; lv + 1 < t->n_levels; lv++, index /= 2) {
    size_t sib = index ^ 1;
    if (sib < t->count[lv]) /* a carried-up node has no sibling here */
      memcpy(path[d++], t->level[lv][sib], SP_HASH_LEN);
  }
  *len = d;
  return SP_OK;
}

int sp_merkle_verify(const uint8_t leaf[static SP_HASH_LEN], size_t index, size_t size,
                     const uint8_t (*path)[SP_HASH_LEN], size_t len,
                     const uint8_t root[static SP_HASH_LEN])
{
  if (index >= size)
    return SP_E_BADSIG;
  size_t fn = index, sn = size - 1;
  uint8_t r[SP_HASH_LEN];
  memcpy(r, leaf, SP_HASH_LEN);
  for (size_t i = 0; i < len; i++) {
    if (sn == 0)
      return SP_E_BADSIG;
    if ((fn & 1) || fn == sn) {
      node(r, path[i], r);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      node(r, r, path[i]);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0 || sodium_memcmp(r, root, SP_HASH_LEN) != 0)
    return SP_E_BADSIG;
  return SP_OK;
}

/* SUBPROOF(m, D[0:n], complete) of RFC 6962 2.1.2, appending bottom-up. */
static int subproof(uint8_t (*path)[SP_HASH_LEN], size_t *len,
                    const uint8_t (*leaves)[SP_HASH_LEN], size_t m, size_t n, int complete)
{
  if (m == n) {
    if (complete)
      return SP_OK;
    if (*len >= SP_MAX_PROOF)
      return SP_E_TOOLONG;
    subtree(path[(*len)++], leaves, n);
    return SP_OK;
  }
  size_t k = split(n);
  int rc;
  if (m <= k) {
    if ((rc = subproof(path, len, leaves, m, k, complete)))
      return rc;
    if (*len >= SP_MAX_PROOF)
      return SP_E_TOOLONG;
    subtree(path[(*len)++], leaves + k, n - k);
  } else {
    if ((rc = subproof(path, len, leaves + k, m - k, n - k, 0)))
      return rc;
    if (*len >= SP_MAX_PROOF)
      return SP_E_TOOLONG;
    subtree(path[(*len)++], leaves, k);
  }
  return SP_OK;
}

int sp_merkle_consistency(uint8_t (*path)[SP_HASH_LEN], size_t *len,
                          const uint8_t (*leaves)[SP_HASH_LEN], size_t old_size,
                          size_t new_size)
{
  if (old_size == 0 || old_size > new_size)
    return SP_E_RANGE;
  *len = 0;
  return subproof(path, len, leaves, old_size, new_size, 1);
}

int sp_merkle_consistency_verify(size_t old_size, size_t new_size,
                                 const uint8_t old_root[static SP_HASH_LEN],
                                 const uint8_t new_root[static SP_HASH_LEN],
                                 const uint8_t (*path)[SP_HASH_LEN], size_t len)
{
  if (old_size == 0 || old_size > new_size)
    return SP_E_BADSIG;
  if (old_size == new_size)
    return len == 0 && sodium_memcmp(old_root, new_root, SP_HASH_LEN) == 0 ? SP_OK
                                                                           : SP_E_BADSIG;
  /* when old_size is a power of two its root is the first node of the path */
  const uint8_t *first;
  size_t i = 0;
  if ((old_size & (old_size - 1)) == 0) {
    first = old_root;
  } else {
    if (len == 0)
      return SP_E_BADSIG;
    first = path[0];
    i = 1;
  }
  size_t fn = old_size - 1, sn = new_size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  uint8_t fr[SP_HASH_LEN], sr[SP_HASH_LEN];
  memcpy(fr, first, SP_HASH_LEN);
  memcpy(sr, first, SP_HASH_LEN);
  for (; i < len; i++) {
    if (sn == 0)
      return SP_E_BADSIG;
    if ((fn & 1) || fn == sn) {
      node(fr, path[i], fr);
      node(sr, path[i], sr);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      node(sr, sr, path[i]);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0 || sodium_memcmp(fr, old_root, SP_HASH_LEN) != 0 ||
      sodium_memcmp(sr, new_root, SP_HASH_LEN) != 0)
    return SP_E_BADSIG;
  return SP_OK;
}
