/* sp_cert_decode: canonical decode, re-encode identity, and verification
 * against the fuzz chain's validator set. */
#include "fuzz_common.h"

static struct sp_genesis genesis;

static void init_genesis(void)
{
  static int done;
  if (done)
    return;
  uint8_t pks[FUZZ_VALIDATORS][SP_PK_LEN];
  fuzz_validator_keys(pks, NULL);
  genesis.n_validators = FUZZ_VALIDATORS;
  for (int i = 0; i < FUZZ_VALIDATORS; i++)
    memcpy(genesis.validators[i].pk, pks[i], SP_PK_LEN);
  done = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_init();
  init_genesis();
  struct sp_cert c;
  int rc = sp_cert_decode(data, size, &c);
  fuzz_check_rc(rc);
  if (rc != SP_OK)
    return 0;

  FUZZ_CHECK(c.n_sigs >= 1 && c.n_sigs <= SP_MAX_VALIDATORS);
  for (uint32_t i = 1; i < c.n_sigs; i++)
    FUZZ_CHECK(c.sigs[i - 1].validator < c.sigs[i].validator);

  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  fuzz_check_same(sp_cert_encode(&c, &b), &b, data, size);
  sp_buf_free(&b);

  /* the certificate hash is the hash of exactly these bytes */
  uint8_t h[SP_HASH_LEN], again[SP_HASH_LEN];
  FUZZ_CHECK(sp_cert_hash(&c, h) == SP_OK);
  sp_hash(again, data, size);
  FUZZ_CHECK(memcmp(h, again, SP_HASH_LEN) == 0);

  /* at most FUZZ_VALIDATORS signature checks: indices are sorted and unique */
  rc = sp_cert_verify(&c, &genesis, FUZZ_CHAIN_ID);
  FUZZ_CHECK(rc == SP_OK || rc == SP_E_BADSIG || rc == SP_E_RANGE || rc == SP_E_QUORUM);
  if (rc == SP_OK)
    FUZZ_CHECK(3 * c.n_sigs > 2 * FUZZ_VALIDATORS);
  return 0;
}
