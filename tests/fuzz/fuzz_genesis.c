/* sp_genesis_decode: canonical decode, re-encode identity, chain id. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_init();
  /* struct sp_genesis is large (validators, categories): keep it off the stack */
  static struct sp_genesis g;
  int rc = sp_genesis_decode(data, size, &g);
  fuzz_check_rc(rc);
  if (rc != SP_OK)
    return 0;

  FUZZ_CHECK(g.n_validators >= 1 && g.n_validators <= SP_MAX_VALIDATORS);
  FUZZ_CHECK(g.n_categories >= 1 && g.n_categories <= SP_MAX_GENESIS_CATEGORIES);

  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  fuzz_check_same(sp_genesis_encode(&g, &b), &b, data, size);
  sp_buf_free(&b);

  uint8_t id[SP_HASH_LEN];
  FUZZ_CHECK(sp_chain_id(data, size, id) == SP_OK);
  return 0;
}
