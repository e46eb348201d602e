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
