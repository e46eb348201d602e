/* proto_bench: how the codec's cost compares with signature verification.
 *
 * Build and run without make (any generator):
 *     cmake -S . -B build -DSP_BUILD_TESTS=OFF && cmake --build build --target
 * proto_bench build/bench/proto_bench or straight from the sources:
 *     cc -std=gnu11 -O2 -Iproto/include -Iproto/src bench/proto_bench.c \
 *        $(find proto/src -name '*.c') $(pkg-config --cflags --libs libsodium msgpack) \
 *        -o proto_bench && ./proto_bench
 *
 * Every node verifies the Ed25519 signature of every transaction, so the
 * verify rate of all cores is the throughput limit ("limit"); the codec
 * should cost only a small fraction of it. One run measures, each for at
 * least MIN_SECONDS of CLOCK_MONOTONIC time:
 *   (a) libsodium crypto_sign_verify_detached over a 150-byte message, one
 *       thread per online core verifying at once: the limit
 *       (verify_limit.h, which prints the 1-core rate beside it);
 *   (b) encode + decode of one signed payment (SP_TX_PAY, 2 parts);
 *   (c) encode + decode of a block of BLOCK_TXS such payments, as blocks/s
 *       and the tx/s that implies;
 *   and, for reference, sp_tx_verify of the decoded payment (domain
 *   separation included).
 * Each figure is printed on its own line as
 *     figure: NAME VALUE UNIT ratio=R target=T
 * with R = VALUE / limit (the verify reference lines print their ratio to it) and
 * T the target for R ("-" for none): a codec ratio >= 20 means the codec
 * costs at most 5% of what verification costs for the same transactions.
 * Runs in about 6 s; exit status 1 if any operation fails. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sp/proto.h"
#include "verify_limit.h"

#define MIN_SECONDS 1.5
#define BLOCK_TXS   1000u

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void check(int ok, const char *what)
{
  if (!ok) {
    fprintf(stderr, "proto_bench: %s failed\n", what);
    exit(1);
  }
}

static void figure(const char *name, double value, const char *unit, double ratio,
                   const char *target)
{
  printf("figure: %s %.0f %s ratio=%.3g target=%s\n", name, value, unit, ratio, target);
  fflush(stdout);
}

static void seeded_key(uint8_t which, uint8_t pk[SP_PK_LEN], uint8_t sk[SP_SK_LEN])
{
  uint8_t seed[32];
  memset(seed, which, sizeof(seed));
  check(sp_keypair_from_seed(pk, sk, seed) == SP_OK, "key pair");
}

/* A signed payment from household key `who`, 2 parts, like the wallet's. */
static void make_pay(struct sp_tx *tx, uint8_t who, uint64_t seq, const uint8_t *chain_id)
{
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN], merchant[SP_PK_LEN], msk[SP_SK_LEN];
  seeded_key(who, pk, sk);
  seeded_key(0x06, merchant, msk);
  memset(tx, 0, sizeof(*tx));
  tx->kind = SP_TX_PAY;
  memcpy(tx->signer, pk, SP_PK_LEN);
  tx->seq = seq;
  memcpy(tx->u.pay.merchant, merchant, SP_PK_LEN);
  tx->u.pay.n_parts = 2;
  tx->u.pay.parts[0].fund = sp_str_c("cultuur-2025");
  tx->u.pay.parts[0].amount = 1250;
  tx->u.pay.parts[1].fund = sp_str_c("sport-2025");
  tx->u.pay.parts[1].amount = 2500 + seq % 100;
  tx->u.pay.order_ref = sp_str_c("bon 0042");
  check(sp_tx_sign(tx, chain_id, sk) == SP_OK, "sign payment");
}

int main(void)
{
  check(sp_crypto_init() == SP_OK, "sp_crypto_init");
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (cores < 1)
    cores = 1;
  uint8_t chain_id[SP_HASH_LEN];
  sp_hash(chain_id, "proto_bench chain", 17);
  volatile uint64_t sink = 0;

  /* (a) raw Ed25519 verification: the limit */
  struct vlimit rv;
  vl_init(&rv);
  vl_run(&rv, 2 * MIN_SECONDS);
  double limit = vl_limit(&rv);
  vl_print(&rv);
  printf("# codec figures are measured on one core\n");
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN];
  seeded_key(0x01, pk, sk);
  uint64_t n = 0;
  double t0, el;

  /* (b) one payment: encode + decode */
  struct sp_tx pay, out;
  make_pay(&pay, 0x02, 1, chain_id);
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_TX_BYTES);
  check(sp_tx_encode(&pay, &b) == SP_OK, "encode payment");
  size_t pay_bytes = b.len;
  n = 0;
  t0 = now();
  do {
    for (int i = 0; i < 256; i++) {
      sp_buf_reset(&b);
      int rc = sp_tx_encode(&pay, &b);
      rc |= sp_tx_decode(b.data, b.len, &out);
      check(rc == SP_OK, "payment encode+decode");
      sink += out.seq;
      sp_tx_clear(&out);
    }
    n += 256;
  } while ((el = now() - t0) < MIN_SECONDS);
  double pay_rate = (double)n / el;
  printf("# payment: %zu bytes encoded\n", pay_bytes);
  figure("pay_tx_codec", pay_rate, "tx/s", pay_rate / limit, ">=20");

  /* reference: the library's verification of the decoded payment */
  check(sp_tx_decode(b.data, b.len, &out) == SP_OK, "decode payment");
  n = 0;
  t0 = now();
  do {
    for (int i = 0; i < 64; i++)
      check(sp_tx_verify(&out, chain_id) == SP_OK, "sp_tx_verify");
    n += 64;
  } while ((el = now() - t0) < MIN_SECONDS / 2);
  sp_tx_clear(&out);
  double sp_verify = (double)n / el;
  figure("pay_tx_verify_1core", sp_verify, "tx/s", sp_verify / limit, "-");

  /* (c) a block of BLOCK_TXS payments: encode + decode */
  struct sp_tx *txs = calloc(BLOCK_TXS, sizeof(*txs));
  check(txs != NULL, "calloc");
  for (uint32_t i = 0; i < BLOCK_TXS; i++)
    make_pay(&txs[i], (uint8_t)(0x20 + i % 64), 1 + i / 64, chain_id);
  struct sp_block blk;
  memset(&blk, 0, sizeof(blk));
  memcpy(blk.header.chain_id, chain_id, SP_HASH_LEN);
  blk.header.height = 1;
  blk.header.time_ms = UINT64_C(1735693200000);
  memcpy(blk.header.proposer, pk, SP_PK_LEN);
  sp_hash(blk.header.tx_root, "root", 4);
  blk.header.tx_count = BLOCK_TXS;
  sp_hash(blk.header.state_digest, "state-1", 7);
  blk.n_txs = BLOCK_TXS;
  blk.txs = txs;

  struct sp_buf bb;
  sp_buf_init(&bb, SP_MAX_BLOCK_BYTES);
  check(sp_block_encode(&blk, &bb) == SP_OK, "encode block");
  size_t block_bytes = bb.len;
  struct sp_block dec;
  n = 0;
  t0 = now();
  do {
    sp_buf_reset(&bb);
    int rc = sp_block_encode(&blk, &bb);
    rc |= sp_block_decode(bb.data, bb.len, &dec);
    check(rc == SP_OK && dec.n_txs == BLOCK_TXS, "block encode+decode");
    sink += dec.txs[BLOCK_TXS - 1].seq;
    sp_block_clear(&dec);
    n++;
  } while ((el = now() - t0) < MIN_SECONDS);
  double block_rate = (double)n / el;
  printf("# block: %u payments, %zu bytes encoded\n", BLOCK_TXS, block_bytes);
  figure("block_codec", block_rate, "block/s", block_rate / limit, "-");
  figure("block_codec_tx", block_rate * BLOCK_TXS, "tx/s", block_rate * BLOCK_TXS / limit,
         ">=20");

  sp_buf_free(&b);
  sp_buf_free(&bb);
  free(txs);
  return sink == 0; /* never: keeps the loops' results alive */
}
