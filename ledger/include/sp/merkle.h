/* Merkle trees in the RFC 6962 / RFC 9162 shape over BLAKE2b-256:
 *   leaf  = H(0x00 || data)      node = H(0x01 || left || right)
 *   empty tree = H(""), no leaf duplication (odd nodes are not paired).
 * Used for the transactions of a block (data = each tx's full encoding) and
 * for the log of block hashes (data = block hash). */
#ifndef SP_MERKLE_H
#define SP_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "sp/limits.h"

void sp_merkle_leaf(uint8_t out[static SP_HASH_LEN], const uint8_t *data, size_t n);

/* Root over n leaf hashes (already hashed with sp_merkle_leaf).
 * SP_E_NOMEM if scratch memory cannot be had. */
int sp_merkle_root(uint8_t out[static SP_HASH_LEN], const uint8_t (*leaves)[SP_HASH_LEN],
                   size_t n);

/* Audit path for leaf `index` of n leaves into path (room for SP_MAX_PROOF);
 * *len receives the path length. */
int sp_merkle_path(uint8_t (*path)[SP_HASH_LEN], size_t *len,
                   const uint8_t (*leaves)[SP_HASH_LEN], size_t n, size_t index);

/* Every level of a tree, for many audit paths of one tree: building it
 * hashes each node once (n - 1 nodes), and each path is then read off in
 * O(log n) instead of sp_merkle_path's O(n). Bottom-up pairing with the
 * odd last node carried up unchanged gives exactly the RFC 6962 tree. */
struct sp_merkle_tree {
  size_t n_levels;
  size_t count[SP_MAX_PROOF + 1];         /* nodes per level; level 0 = leaves */
  uint8_t (*level[SP_MAX_PROOF + 1])[SP_HASH_LEN]; /* owned, except level 0 */
};

/* leaves must outlive the tree. SP_E_NOMEM, SP_E_TOOLONG, or SP_OK. */
int sp_merkle_tree_build(struct sp_merkle_tree *t, const uint8_t (*leaves)[SP_HASH_LEN],
                         size_t n);
void sp_merkle_tree_free(struct sp_merkle_tree *t);
/* The root (n > 0), and the audit path of leaf `index`, as sp_merkle_path. */
void sp_merkle_tree_root(const struct sp_merkle_tree *t, uint8_t out[static SP_HASH_LEN]);
int sp_merkle_tree_path(const struct sp_merkle_tree *t, size_t index,
                        uint8_t (*path)[SP_HASH_LEN], size_t *len);

/* SP_OK if `leaf` at `index` of a tree of `size` leaves has root `root`
 * with this audit path (RFC 9162 2.1.3.2), SP_E_BADSIG otherwise. */
int sp_merkle_verify(const uint8_t leaf[static SP_HASH_LEN], size_t index, size_t size,
                     const uint8_t (*path)[SP_HASH_LEN], size_t len,
                     const uint8_t root[static SP_HASH_LEN]);

/* Consistency proof that the tree of the first old_size leaves is a prefix
 * of the tree of new_size leaves (RFC 6962 PROOF/SUBPROOF). */
int sp_merkle_consistency(uint8_t (*path)[SP_HASH_LEN], size_t *len,
                          const uint8_t (*leaves)[SP_HASH_LEN], size_t old_size,
                          size_t new_size);

/* SP_OK if old_root (of old_size leaves) and new_root (of new_size) are
 * consistent under path (RFC 9162 2.1.4.2), SP_E_BADSIG otherwise. */
int sp_merkle_consistency_verify(size_t old_size, size_t new_size,
                                 const uint8_t old_root[static SP_HASH_LEN],
                                 const uint8_t new_root[static SP_HASH_LEN],
                                 const uint8_t (*path)[SP_HASH_LEN], size_t len);

#endif
