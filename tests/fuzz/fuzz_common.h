/* Shared helpers of the libFuzzer harnesses and the seed-corpus generator.
 *
 * Every harness aborts (FUZZ_CHECK) when a property fails, so libFuzzer
 * reports it as a crash and keeps the input. The fixed chain id and the
 * seeded validator keys are the ones tests/fuzz/make_corpus.c signs with, so
 * the seeds' signatures and certificates verify in the harnesses. */
#ifndef SP_FUZZ_COMMON_H
#define SP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "fuzz: %s:%d: property violated: %s\n", __FILE__, __LINE__,        \
              #cond);                                                                    \
      abort();                                                                           \
    }                                                                                    \
  } while (0)

/* Chain id every harness hashes and verifies with (and the generator signs
 * with): BLAKE2b-256 is not needed for a constant, any 32 bytes will do. */
static const uint8_t FUZZ_CHAIN_ID[SP_HASH_LEN] = {
    0x73, 0x70, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x63, 0x68, 0x61,
    0x69, 0x6e, 0x2d, 0x69, 0x64, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
    0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};

/* Number of validators of the fuzz chain; validator i has seed {0x10+i, ...}. */
#define FUZZ_VALIDATORS 4

static inline void fuzz_init(void)
{
  static int done;
  if (!done) {
    if (sp_crypto_init() != SP_OK)
      abort();
    done = 1;
  }
}

/* Deterministic key pair number `which`: seed = 32 bytes of `which`. */
static inline void fuzz_key(uint8_t which, uint8_t pk[SP_PK_LEN], uint8_t sk[SP_SK_LEN])
{
  uint8_t seed[32];
  memset(seed, which, sizeof(seed));
  if (sp_keypair_from_seed(pk, sk, seed) != SP_OK)
    abort();
}

/* The validator set of the fuzz chain, sorted by public key as genesis
 * requires. sks may be NULL. */
static inline void fuzz_validator_keys(uint8_t pks[FUZZ_VALIDATORS][SP_PK_LEN],
                                       uint8_t (*sks)[SP_SK_LEN])
{
  uint8_t pk[FUZZ_VALIDATORS][SP_PK_LEN], sk[FUZZ_VALIDATORS][SP_SK_LEN];
  int order[FUZZ_VALIDATORS];
  for (int i = 0; i < FUZZ_VALIDATORS; i++) {
    fuzz_key((uint8_t)(0x10 + i), pk[i], sk[i]);
    order[i] = i;
  }
  for (int i = 1; i < FUZZ_VALIDATORS; i++) /* insertion sort by pk */
    for (int j = i; j > 0 && memcmp(pk[order[j - 1]], pk[order[j]], SP_PK_LEN) > 0; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  for (int i = 0; i < FUZZ_VALIDATORS; i++) {
    memcpy(pks[i], pk[order[i]], SP_PK_LEN);
    if (sks)
      memcpy(sks[i], sk[order[i]], SP_SK_LEN);
  }
}

/* A decoded object was accepted: its re-encoding must be the input itself. */
static inline void fuzz_check_same(int enc_rc, const struct sp_buf *b,
                                   const uint8_t *data, size_t size)
{
  if (enc_rc != SP_OK) {
    fprintf(stderr, "fuzz: re-encode of an accepted input failed: %s (%s)\n",
            sp_errname(enc_rc), sp_strerror(enc_rc));
    abort();
  }
  if (b->len != size || (size && memcmp(b->data, data, size) != 0)) {
    size_t i = 0;
    while (i < size && i < b->len && b->data[i] == data[i])
      i++;
    fprintf(stderr,
            "fuzz: re-encode differs from the input: %zu vs %zu bytes, first difference "
            "at offset %zu\n",
            b->len, size, i);
    abort();
  }
}

/* Decoders return SP_OK or one of the library's own negative codes. */
static inline void fuzz_check_rc(int rc)
{
  FUZZ_CHECK(rc == SP_OK || (rc > SP__E_FIRST && rc < SP__E_LAST));
}

#endif
