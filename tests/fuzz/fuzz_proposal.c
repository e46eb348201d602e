/* sp_proposal_decode: canonical decode, re-encode identity, signature. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_init();
  struct sp_proposal pr;
  int rc = sp_proposal_decode(data, size, &pr);
  fuzz_check_rc(rc);
  if (rc != SP_OK)
    return 0;

  FUZZ_CHECK(pr.valid_round == SP_ROUND_NONE ||
             (pr.valid_round >= 0 && pr.valid_round < (int64_t)pr.round));

  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  fuzz_check_same(sp_proposal_encode(&pr, &b), &b, data, size);
  sp_buf_reset(&b);
  FUZZ_CHECK(sp_proposal_signbytes(&pr, &b) == SP_OK && b.len < size);
  sp_buf_free(&b);

  rc = sp_proposal_verify(&pr, FUZZ_CHAIN_ID);
  FUZZ_CHECK(rc == SP_OK || rc == SP_E_BADSIG);
  return 0;
}
