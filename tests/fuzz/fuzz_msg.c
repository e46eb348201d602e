/* sp_msg_decode: canonical decode of every message type, re-encode
 * identity, and the tx id of a submitted transaction. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_init();
  /* struct sp_msg holds fixed arrays (balance rows, proofs): not on the stack */
  static struct sp_msg m;
  int rc = sp_msg_decode(data, size, &m);
  fuzz_check_rc(rc);
  if (rc != SP_OK) {
    FUZZ_CHECK(m.type == 0); /* cleared */
    return 0;
  }

  FUZZ_CHECK(sp_msg_type_name(m.type) != NULL);

  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  fuzz_check_same(sp_msg_encode(&m, &b), &b, data, size);
  sp_buf_free(&b);

  if (m.type == SP_MSG_SUBMIT) {
    uint8_t id[SP_HASH_LEN];
    FUZZ_CHECK(sp_tx_id(&m.u.submit, FUZZ_CHAIN_ID, id) == SP_OK);
    rc = sp_tx_verify(&m.u.submit, FUZZ_CHAIN_ID);
    FUZZ_CHECK(rc == SP_OK || rc == SP_E_BADSIG);
  }

  sp_msg_clear(&m);
  return 0;
}
