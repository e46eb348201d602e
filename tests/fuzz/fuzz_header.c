/* sp_header_decode: canonical decode, re-encode identity, block hash. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_init();
  struct sp_header h;
  int rc = sp_header_decode(data, size, &h);
  fuzz_check_rc(rc);
  if (rc != SP_OK)
    return 0;

  FUZZ_CHECK(h.height >= 1 && h.tx_count <= SP_MAX_BLOCK_TXS);
  FUZZ_CHECK(h.raw == data && h.raw_len == size);

  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  fuzz_check_same(sp_header_encode(&h, &b), &b, data, size);
  sp_buf_free(&b);

  uint8_t hash[SP_HASH_LEN], again[SP_HASH_LEN];
  FUZZ_CHECK(sp_header_hash(&h, hash) == SP_OK);
  FUZZ_CHECK(sp_hash_dom(again, SP_DOM_BLOCK, h.chain_id, data, size) == SP_OK);
  FUZZ_CHECK(memcmp(hash, again, SP_HASH_LEN) == 0);
  return 0;
}
