/* sp_tx_decode: canonical decode, re-encode identity, id and signature. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_init();
  struct sp_tx tx;
  int rc = sp_tx_decode(data, size, &tx);
  fuzz_check_rc(rc);
  if (rc != SP_OK)
    return 0;

  FUZZ_CHECK(sp_tx_kind_name(tx.kind) != NULL);
  FUZZ_CHECK(tx.raw == data && tx.raw_len == size);
  FUZZ_CHECK(tx.body > data && tx.body + tx.body_len <= data + size);

  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_TX_BYTES);
  fuzz_check_same(sp_tx_encode(&tx, &b), &b, data, size);
  sp_buf_reset(&b);
  fuzz_check_same(sp_tx_encode_body(&tx, &b), &b, tx.body, tx.body_len);
  sp_buf_free(&b);

  uint8_t id[SP_HASH_LEN];
  FUZZ_CHECK(sp_tx_id(&tx, FUZZ_CHAIN_ID, id) == SP_OK);
  rc = sp_tx_verify(&tx, FUZZ_CHAIN_ID);
  FUZZ_CHECK(rc == SP_OK || rc == SP_E_BADSIG);

  sp_tx_clear(&tx);
  return 0;
}
