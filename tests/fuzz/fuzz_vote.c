/* sp_vote_decode: canonical decode, re-encode identity, signature check. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_init();
  struct sp_vote v;
  int rc = sp_vote_decode(data, size, &v);
  fuzz_check_rc(rc);
  if (rc != SP_OK)
    return 0;

  FUZZ_CHECK(v.type == SP_VOTE_PREVOTE || v.type == SP_VOTE_PRECOMMIT);

  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  fuzz_check_same(sp_vote_encode(&v, &b), &b, data, size);
  sp_buf_reset(&b);
  FUZZ_CHECK(sp_vote_signbytes(&v, &b) == SP_OK && b.len < size);
  sp_buf_free(&b);

  rc = sp_vote_verify(&v, FUZZ_CHAIN_ID);
  FUZZ_CHECK(rc == SP_OK || rc == SP_E_BADSIG);
  return 0;
}
