/* sp_block_decode: canonical decode, re-encode identity, header hash. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_init();
  struct sp_block blk;
  int rc = sp_block_decode(data, size, &blk);
  fuzz_check_rc(rc);
  if (rc != SP_OK) {
    FUZZ_CHECK(blk.txs == NULL && blk.n_txs == 0); /* failed decode left nothing */
    return 0;
  }

  FUZZ_CHECK(blk.n_txs == blk.header.tx_count);
  FUZZ_CHECK(blk.has_last_commit == (blk.header.height > 1));
  FUZZ_CHECK(!blk.has_last_commit ||
             (blk.last_commit.height == blk.header.height - 1 &&
              memcmp(blk.last_commit.block, blk.header.prev, SP_HASH_LEN) == 0));

  /* the block's view is the whole input, which is what it re-encodes to */
  FUZZ_CHECK(blk.raw == data && blk.raw_len == size);
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_BLOCK_BYTES);
  fuzz_check_same(sp_block_encode(&blk, &b), &b, data, size);

  /* the header view re-encodes to the same bytes, so it hashes */
  sp_buf_reset(&b);
  fuzz_check_same(sp_header_encode(&blk.header, &b), &b, blk.header.raw,
                  blk.header.raw_len);
  sp_buf_free(&b);
  uint8_t h[SP_HASH_LEN];
  FUZZ_CHECK(sp_header_hash(&blk.header, h) == SP_OK);

  /* every tx inside is a whole canonical tx on its own */
  for (uint32_t i = 0; i < blk.n_txs; i++) {
    struct sp_tx tx;
    FUZZ_CHECK(sp_tx_decode(blk.txs[i].raw, blk.txs[i].raw_len, &tx) == SP_OK);
    FUZZ_CHECK(tx.body_len == blk.txs[i].body_len);
    uint8_t id[SP_HASH_LEN];
    FUZZ_CHECK(sp_tx_id(&tx, blk.header.chain_id, id) == SP_OK);
    sp_tx_clear(&tx);
  }

  sp_block_clear(&blk);
  FUZZ_CHECK(blk.txs == NULL);
  return 0;
}
