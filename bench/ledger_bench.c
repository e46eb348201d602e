/* ledger_bench: how fast the ledger applies blocks of payments, compared
 * with the Ed25519 verify rate of all cores.
 *
 * Build and run (any generator):
 *     cmake -S . -B build -DSP_BUILD_TESTS=OFF && cmake --build build --target ledger_bench
 *     build/bench/ledger_bench [PARENT_DIR]
 * The stores live in a fresh directory under PARENT_DIR (default $TMPDIR or
 * /tmp), removed at the end: put it on the disk whose fsync you want to
 * measure (a tmpfs makes the durable figures meaningless).
 *
 * Every node verifies the signature of every transaction, so the verify rate
 * of all cores is the throughput limit ("limit"), as in proto_bench:
 *   (a) libsodium crypto_sign_verify_detached over a 150-byte message, one
 *       thread per online core verifying at once (verify_limit.h; the
 *       1-core rate and it times the cores are printed beside it),
 *       MIN_SECONDS up front plus a SLICE_SECONDS slice after each timed
 *       block (pooled, so that limit and figures see the same load): the
 *       limit.
 * Then, not timed, a chain is generated on a scratch ledger the way a network
 * makes one (sp_ledger_propose, a 3-of-4 commit certificate, sp_ledger_apply):
 * a genesis with 4 validators, one fund, N_MERCHANTS merchants, N_PASSES
 * enrolled passes each issued credit (issue txs of ISSUE_ROWS rows sorted by
 * pass key), and then N_BLOCKS blocks of BLOCK_TXS payments, each pass paying
 * at most twice (seq tracked per pass). The same block bytes and certificates
 * are then applied to four fresh ledgers in lockstep (block by block, the
 * order rotating, so that load from elsewhere hits them alike), the setup
 * blocks untimed and the payment blocks timed one sp_ledger_apply call at a
 * time (decode, links, last commit, tx root, signatures on the pool, rules,
 * state digest, commit certificate and the LMDB commit):
 *   (b) durable ledger (no_sync = false), default verify threads, one block
 *       at a time (its signature checks overlap only its own rules), and the
 *       bytes it sent to storage meanwhile (/proc/self/io);
 *   (b') the target: a fifth fresh durable ledger, after the lockstep runs
 *       and between two raw-verify slices, replays the timed blocks
 *       pipelined: a second thread verifies the signatures of the next
 *       blocks (sp_ledger_preverify, up to LOOKAHEAD ahead) while
 *       sp_ledger_apply checks and commits the current one; every signature
 *       is verified once and the whole span is timed, with the CPU the
 *       process used meanwhile (all threads: how busy the cores were);
 *   (b'') the same pipelined replay with no_sync = true: what waiting for
 *       the disk costs when everything else overlaps;
 *   (c) (b) with no_sync = true: the fsync cost is (b) - (c);
 *   (d) durable with verify_threads = 1, and the same with no_sync: what the
 *       pool buys, and (with the 1-core figures below) the time of the rules,
 *       LMDB writes and commit alone, free of any guess about how many cores
 *       the pool really got;
 *   (e) size of data.mdb of (b) per tx in the store, as is and compacted;
 *   (f) sp_ledger_verify of the whole chain of (b);
 *   (g) sp_ledger_check_block of one payment block whose signatures are
 *       cached, on the thread's CPU clock, fastest of 15: the CPU of all
 *       but signatures and commit, as tx/s on one core and in us per
 *       payment (the steadiest figure on a shared machine; LEDGER_BENCH_ONLY=rules
 *       prints only it, LEDGER_BENCH_REPS=N checks N times, for a
 *       profiler to see the checks);
 *   and, for the breakdown, on one core: sp_block_decode of the payment
 *   blocks, the per-tx work of the signature stage (tx id, Merkle leaf,
 *   sp_tx_verify) that apply spreads over the pool, and raw verification
 *   over 1024 distinct keys and messages (the limit repeats one signature,
 *   which may flatter the variable-time verify; real blocks never do).
 * Each figure is printed on its own line as
 *     figure: NAME VALUE UNIT ratio=R target=T
 * with R = VALUE / limit ("-" where a ratio to a verify rate means nothing)
 * and T the target for R ("-" for none). Lines starting with '#' are notes.
 * Runs in well under a minute; exit status 1 if any operation fails. */
#include <dirent.h>
#include <sys/resource.h>
#include <pthread.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sp/ledger.h"
#include "sp/merkle.h"
#include "sp/proto.h"
#include "verify_limit.h"

#define MIN_SECONDS 1.5    /* raw verify up front ... */
#define SLICE_SECONDS 0.075 /* ... and after each timed block */
#define MSG_LEN 150
#define N_VALIDATORS 4
/* sizes; -DN_PASSES=... etc. for a smaller run (e.g. under valgrind) */
#ifndef N_MERCHANTS
#define N_MERCHANTS 20u
#endif
#ifndef N_PASSES
#define N_PASSES 10000u
#endif
#define ISSUE_ROWS 1000u   /* rows per issue tx (SP_MAX_ISSUE_ENTRIES) */
#define ENROLL_BLOCK 5000u /* enrollments per setup block */
#ifndef BLOCK_TXS
#define BLOCK_TXS 1000u /* payments per timed block */
#endif
#ifndef N_BLOCKS
#define N_BLOCKS 40u /* timed blocks: enough that filling and draining the pipeline weigh little */
#endif
#define CREDIT 10000u /* cents issued to each pass; a payment is at most 2000 */
_Static_assert((unsigned long long)N_BLOCKS * BLOCK_TXS <= 5ull * N_PASSES,
               "passes would run out of credit: more passes or fewer payments");
#define DAY_MS (24ull * 3600 * 1000)
#define T_GENESIS 1798761600000ull /* 2027-01-01T00:00:00Z */
#define FUND "minima-2027"

static char g_root[4096]; /* our temp directory; removed at exit */

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void rm_tree(const char *dir)
{
  DIR *d = opendir(dir);
  if (d == NULL)
    return;
  struct dirent *e;
  char p[4096 + 256 + 2];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      rm_tree(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static void cleanup(void)
{
  if (g_root[0])
    rm_tree(g_root);
  g_root[0] = '\0';
}

static void check(int ok, const char *what)
{
  if (!ok) {
    fprintf(stderr, "ledger_bench: %s failed\n", what);
    exit(1); /* atexit removes the temp directory */
  }
}

static void check_rc(int rc, const char *what, const struct sp_refusal *why)
{
  if (rc != 0) {
    fprintf(stderr, "ledger_bench: %s failed: %s%s%s\n", what, sp_ledger_strerror(rc),
            why && why->msg[0] ? ": " : "", why ? why->msg : "");
    exit(1);
  }
}

static void figure(const char *name, double value, const char *unit, double ratio,
                   const char *target)
{
  if (ratio < 0)
    printf("figure: %s %.0f %s ratio=- target=%s\n", name, value, unit, target);
  else
    printf("figure: %s %.0f %s ratio=%.3g target=%s\n", name, value, unit, ratio, target);
  fflush(stdout);
}

static void subdir(char *out, size_t cap, const char *name)
{
  int n = snprintf(out, cap, "%s/%s", g_root, name);
  check(n > 0 && (size_t)n < cap, "path length");
}

/* ---------------------------------------------------------------- keys */

struct key {
  uint8_t pk[SP_PK_LEN];
  uint8_t sk[SP_SK_LEN];
  uint64_t seq; /* last used */
};

/* Deterministic key: seed = tag || be32 index || zeros. */
static void make_key(struct key *k, uint8_t tag, uint32_t index)
{
  uint8_t seed[32] = {tag, (uint8_t)(index >> 24), (uint8_t)(index >> 16),
                      (uint8_t)(index >> 8), (uint8_t)index};
  memset(k, 0, sizeof(*k));
  check(sp_keypair_from_seed(k->pk, k->sk, seed) == SP_OK, "key pair");
}

static int cmp_key(const void *a, const void *b)
{
  return memcmp(((const struct key *)a)->pk, ((const struct key *)b)->pk, SP_PK_LEN);
}

/* ---------------------------------------------------- transaction lists */

/* Signed, encoded and decoded transactions: txs[i] views enc[i]. */
struct txlist {
  struct sp_tx *txs;
  uint8_t **enc;
  size_t n, cap;
};

static void tl_add(struct txlist *tl, struct sp_tx *tx, struct key *k, const uint8_t *chain_id)
{
  memcpy(tx->signer, k->pk, SP_PK_LEN);
  tx->seq = ++k->seq;
  check(sp_tx_sign(tx, chain_id, k->sk) == SP_OK, "sign tx");
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_TX_BYTES);
  check(sp_tx_encode(tx, &b) == SP_OK, "encode tx");
  if (tl->n == tl->cap) {
    tl->cap = tl->cap ? 2 * tl->cap : 1024;
    tl->txs = realloc(tl->txs, tl->cap * sizeof(*tl->txs));
    tl->enc = realloc(tl->enc, tl->cap * sizeof(*tl->enc));
    check(tl->txs != NULL && tl->enc != NULL, "realloc");
  }
  tl->enc[tl->n] = b.data; /* ours from here */
  check(sp_tx_decode(b.data, b.len, &tl->txs[tl->n]) == SP_OK, "decode tx");
  tl->n++;
}

static void tl_reset(struct txlist *tl)
{
  for (size_t i = 0; i < tl->n; i++) {
    sp_tx_clear(&tl->txs[i]);
    free(tl->enc[i]);
  }
  tl->n = 0;
}

static void tl_free(struct txlist *tl)
{
  tl_reset(tl);
  free(tl->txs);
  free(tl->enc);
  memset(tl, 0, sizeof(*tl));
}

/* --------------------------------------------------------------- chain */

struct blk {
  uint8_t *data;
  size_t len;
  uint32_t n_txs;
  struct sp_cert cert; /* its own commit certificate */
};

struct chain {
  struct sp_buf genesis;
  uint8_t chain_id[SP_HASH_LEN];
  struct key authority;
  struct key validators[N_VALIDATORS]; /* sorted by pk, as genesis needs */
  struct key merchants[N_MERCHANTS];
  struct key *passes;
  struct blk *blocks;
  size_t n_blocks, cap_blocks;
  size_t n_setup;    /* blocks before the timed ones */
  uint64_t setup_txs, timed_txs;
  /* generator state */
  struct sp_ledger *l;
  bool has_cert;
  struct sp_cert tip_cert;
};

static const char *const categories[] = {"culture", "food", "school-supplies", "sport"};

static void make_genesis(struct chain *c)
{
  struct sp_genesis g;
  memset(&g, 0, sizeof(g));
  g.chain_name = sp_str_c("ledger-bench");
  g.genesis_time_ms = T_GENESIS;
  memcpy(g.authority, c->authority.pk, SP_PK_LEN);
  g.n_validators = N_VALIDATORS;
  static const char *const names[N_VALIDATORS] = {"v0", "v1", "v2", "v3"};
  for (int i = 0; i < N_VALIDATORS; i++) {
    memcpy(g.validators[i].pk, c->validators[i].pk, SP_PK_LEN);
    g.validators[i].name = sp_str_c(names[i]);
    g.validators[i].addr = sp_str_c("127.0.0.1:1");
  }
  g.n_categories = 4;
  for (int i = 0; i < 4; i++)
    g.categories[i] = sp_str_c(categories[i]);
  g.params.max_block_txs = 10000;
  g.params.max_block_bytes = SP_MAX_BLOCK_BYTES;
  g.params.fund_close_grace_ms = 7 * DAY_MS;
  sp_buf_init(&c->genesis, 1 << 20);
  check(sp_genesis_encode(&g, &c->genesis) == SP_OK, "encode genesis");
  check(sp_chain_id(c->genesis.data, c->genesis.len, c->chain_id) == SP_OK, "chain id");
}

/* Precommits of validators 0..2 of 4 for (height, hash). */
static void make_cert(const struct chain *c, uint64_t height, const uint8_t hash[SP_HASH_LEN],
                      struct sp_cert *cert)
{
  memset(cert, 0, sizeof(*cert));
  cert->height = height;
  memcpy(cert->block, hash, SP_HASH_LEN);
  struct sp_vote v = {.type = SP_VOTE_PRECOMMIT, .height = height, .has_block = true};
  memcpy(v.block, hash, SP_HASH_LEN);
  for (int i = 0; i < 3; i++) {
    memcpy(v.validator, c->validators[i].pk, SP_PK_LEN);
    check(sp_vote_sign(&v, c->chain_id, c->validators[i].sk) == SP_OK, "sign vote");
    cert->sigs[i].validator = (uint32_t)i;
    memcpy(cert->sigs[i].sig, v.sig, SP_SIG_LEN);
  }
  cert->n_sigs = 3;
}

static uint64_t block_time(uint64_t height)
{
  return T_GENESIS + DAY_MS + height * 1000;
}

/* Propose a block of all of tl on the generator ledger, certify and apply
 * it there, and keep its bytes and certificate. Empties tl. */
static void gen_block(struct chain *c, struct txlist *tl)
{
  uint64_t height = c->n_blocks + 1;
  struct sp_buf out;
  sp_buf_init(&out, SP_MAX_BLOCK_BYTES);
  bool *acc = calloc(tl->n, sizeof(bool));
  struct sp_refusal *why = calloc(tl->n, sizeof(*why));
  check(acc != NULL && why != NULL, "calloc");
  int rc = sp_ledger_propose(c->l, tl->txs, tl->n, block_time(height),
                             c->validators[height % N_VALIDATORS].pk,
                             c->has_cert ? &c->tip_cert : NULL, &out, acc, why);
  check_rc(rc, "sp_ledger_propose", NULL);
  for (size_t i = 0; i < tl->n; i++) {
    if (!acc[i]) {
      fprintf(stderr, "ledger_bench: block %llu: tx %zu refused: %s: %s\n",
              (unsigned long long)height, i, sp_reason_name(why[i].reason), why[i].msg);
      exit(1);
    }
  }
  struct sp_block b;
  check(sp_block_decode(out.data, out.len, &b) == SP_OK, "decode proposed block");
  check(b.header.height == height && b.n_txs == tl->n, "proposed block shape");
  uint8_t hash[SP_HASH_LEN];
  sp_header_hash(&b.header, hash);
  sp_block_clear(&b);

  if (c->n_blocks == c->cap_blocks) {
    c->cap_blocks = c->cap_blocks ? 2 * c->cap_blocks : 64;
    c->blocks = realloc(c->blocks, c->cap_blocks * sizeof(*c->blocks));
    check(c->blocks != NULL, "realloc");
  }
  struct blk *k = &c->blocks[c->n_blocks];
  make_cert(c, height, hash, &k->cert);
  struct sp_refusal bw;
  rc = sp_ledger_apply(c->l, out.data, out.len, &k->cert, &bw);
  check_rc(rc, "generator sp_ledger_apply", &bw);
  k->data = out.data; /* ours from here */
  k->len = out.len;
  k->n_txs = (uint32_t)tl->n;
  c->n_blocks++;
  c->tip_cert = k->cert;
  c->has_cert = true;
  free(acc);
  free(why);
  tl_reset(tl);
}

static void gen_setup(struct chain *c)
{
  struct txlist tl = {0};
  struct sp_tx tx;
  const uint8_t *cid = c->chain_id;

  /* block 1: the fund, its budget, the merchants */
  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_FUND_CREATE;
  tx.u.fund_create.fund = sp_str_c(FUND);
  tx.u.fund_create.name = sp_str_c("Minimaregeling 2027");
  tx.u.fund_create.categories.n = 4;
  for (int i = 0; i < 4; i++)
    tx.u.fund_create.categories.v[i] = sp_str_c(categories[i]);
  tx.u.fund_create.valid_from_ms = T_GENESIS;
  tx.u.fund_create.valid_until_ms = T_GENESIS + 365 * DAY_MS;
  tl_add(&tl, &tx, &c->authority, cid);

  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_FUND_DEPOSIT;
  tx.u.fund_deposit.fund = sp_str_c(FUND);
  tx.u.fund_deposit.amount = (uint64_t)N_PASSES * CREDIT;
  tx.u.fund_deposit.bank_ref = sp_str_c("NL-BANK-2027-0001");
  tl_add(&tl, &tx, &c->authority, cid);

  for (uint32_t i = 0; i < N_MERCHANTS; i++) {
    char name[32];
    snprintf(name, sizeof(name), "Winkel %02u", i);
    memset(&tx, 0, sizeof(tx));
    tx.kind = SP_TX_MERCHANT_REGISTER;
    memcpy(tx.u.merchant.merchant, c->merchants[i].pk, SP_PK_LEN);
    tx.u.merchant.name = sp_str_c(name);
    tx.u.merchant.categories.n = 1;
    tx.u.merchant.categories.v[0] = sp_str_c(categories[i % 4]);
    tl_add(&tl, &tx, &c->authority, cid);
  }
  gen_block(c, &tl);

  /* enrollments */
  for (uint32_t i = 0; i < N_PASSES; i++) {
    memset(&tx, 0, sizeof(tx));
    tx.kind = SP_TX_PASS_ENROLL;
    memcpy(tx.u.pass_enroll.pass, c->passes[i].pk, SP_PK_LEN);
    uint8_t hh[8] = {'h', 'h', (uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8),
                     (uint8_t)i};
    sp_hash(tx.u.pass_enroll.household, hh, sizeof(hh));
    tl_add(&tl, &tx, &c->authority, cid);
    if (tl.n == ENROLL_BLOCK || i + 1 == N_PASSES)
      gen_block(c, &tl);
  }

  /* credit: issue batches of ISSUE_ROWS rows, rows sorted by pass key */
  struct sp_issue_row *rows = malloc(ISSUE_ROWS * sizeof(*rows));
  check(rows != NULL, "malloc");
  /* sort a copy of the keys: every batch is then a sorted run */
  struct key *sorted = malloc(N_PASSES * sizeof(*sorted));
  check(sorted != NULL, "malloc");
  memcpy(sorted, c->passes, N_PASSES * sizeof(*sorted));
  qsort(sorted, N_PASSES, sizeof(*sorted), cmp_key);
  for (uint32_t b = 0; b * ISSUE_ROWS < N_PASSES; b++) {
    uint32_t n = N_PASSES - b * ISSUE_ROWS < ISSUE_ROWS ? N_PASSES - b * ISSUE_ROWS : ISSUE_ROWS;
    for (uint32_t j = 0; j < n; j++) {
      memcpy(rows[j].pass, sorted[b * ISSUE_ROWS + j].pk, SP_PK_LEN);
      rows[j].amount = CREDIT;
    }
    char ref[32];
    snprintf(ref, sizeof(ref), "batch-%03u", b);
    memset(&tx, 0, sizeof(tx));
    tx.kind = SP_TX_ISSUE;
    tx.u.issue.fund = sp_str_c(FUND);
    tx.u.issue.ref = sp_str_c(ref);
    tx.u.issue.n_rows = n;
    tx.u.issue.rows = rows;
    tl_add(&tl, &tx, &c->authority, cid);
  }
  gen_block(c, &tl);
  free(sorted);
  free(rows);
  tl_free(&tl);
  c->n_setup = c->n_blocks;
  for (size_t i = 0; i < c->n_blocks; i++)
    c->setup_txs += c->blocks[i].n_txs;
}

/* N_BLOCKS blocks of BLOCK_TXS payments; passes in a shuffled order so
 * that consecutive payments touch unrelated keys, each at most twice. */
static void gen_payments(struct chain *c)
{
  uint32_t *perm = malloc(N_PASSES * sizeof(*perm));
  check(perm != NULL, "malloc");
  for (uint32_t i = 0; i < N_PASSES; i++)
    perm[i] = i;
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  for (uint32_t i = N_PASSES - 1; i > 0; i--) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    uint32_t j = (uint32_t)(rng % (i + 1));
    uint32_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  struct txlist tl = {0};
  for (uint32_t b = 0; b < N_BLOCKS; b++) {
    for (uint32_t j = 0; j < BLOCK_TXS; j++) {
      uint32_t k = b * BLOCK_TXS + j;
      struct key *pass = &c->passes[perm[k % N_PASSES]];
      char ref[32];
      snprintf(ref, sizeof(ref), "bon %06u", k);
      struct sp_tx tx;
      memset(&tx, 0, sizeof(tx));
      tx.kind = SP_TX_PAY;
      memcpy(tx.u.pay.merchant, c->merchants[k % N_MERCHANTS].pk, SP_PK_LEN);
      tx.u.pay.n_parts = 1;
      tx.u.pay.parts[0].fund = sp_str_c(FUND);
      tx.u.pay.parts[0].amount = 250 + (k * 37u) % 1750; /* <= 20 EUR; credit 100 EUR */
      tx.u.pay.order_ref = sp_str_c(ref);
      tl_add(&tl, &tx, pass, c->chain_id);
    }
    gen_block(c, &tl);
    c->timed_txs += BLOCK_TXS;
  }
  tl_free(&tl);
  free(perm);
}

static void gen_chain(struct chain *c)
{
  memset(c, 0, sizeof(*c));
  make_key(&c->authority, 0x01, 0);
  for (uint32_t i = 0; i < N_VALIDATORS; i++)
    make_key(&c->validators[i], 0x10, i);
  qsort(c->validators, N_VALIDATORS, sizeof(c->validators[0]), cmp_key);
  for (uint32_t i = 0; i < N_MERCHANTS; i++)
    make_key(&c->merchants[i], 0x20, i);
  c->passes = malloc(N_PASSES * sizeof(*c->passes));
  check(c->passes != NULL, "malloc");
  for (uint32_t i = 0; i < N_PASSES; i++)
    make_key(&c->passes[i], 0x30, i);
  make_genesis(c);

  char dir[4200];
  subdir(dir, sizeof(dir), "generator");
  struct sp_ledger_opts o = {.no_sync = true};
  check_rc(sp_ledger_create(dir, c->genesis.data, c->genesis.len, &o), "sp_ledger_create", NULL);
  check_rc(sp_ledger_open(&c->l, dir, &o), "sp_ledger_open", NULL);
  gen_setup(c);
  gen_payments(c);
  sp_ledger_close(c->l);
  c->l = NULL;
  rm_tree(dir);
}

static void chain_free(struct chain *c)
{
  for (size_t i = 0; i < c->n_blocks; i++)
    free(c->blocks[i].data);
  free(c->blocks);
  free(c->passes);
  sp_buf_free(&c->genesis);
}

/* ------------------------------------------------------------ the limit */

/* ------------------------------------------------------------- replay */

/* Bytes written to storage by this process so far (/proc/self/io), or -1. */
static long long io_write_bytes(void)
{
  FILE *f = fopen("/proc/self/io", "r");
  if (f == NULL)
    return -1;
  char line[128];
  long long v = -1;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "write_bytes: %lld", &v) == 1)
      break;
  fclose(f);
  return v;
}


struct run {
  double seconds;            /* sum of the timed sp_ledger_apply calls */
  double block_ms[N_BLOCKS]; /* each timed call */
  long long written;         /* bytes sent to storage during them; -1 unknown */
  double cpu;                /* process CPU seconds over the span (pipelined run), or 0 */
};

/* User + system CPU of the whole process (all threads) so far. */
static double cpu_seconds(void)
{
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0;
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

struct config {
  const char *name;
  struct sp_ledger_opts opts;
  struct sp_ledger *l;
  char dir[4200];
  struct run r;
};

/* A fresh ledger per configuration, all fed the same blocks in lockstep
 * (so that a burst of load from elsewhere hits them alike, and the order
 * rotates from block to block): setup blocks untimed, then the payment
 * blocks, each sp_ledger_apply call timed. The ledgers stay open. */
static void replay(const struct chain *c, struct config *cf, size_t n_cf, struct vlimit *rv)
{
  for (size_t j = 0; j < n_cf; j++) {
    subdir(cf[j].dir, sizeof(cf[j].dir), cf[j].name);
    check_rc(sp_ledger_create(cf[j].dir, c->genesis.data, c->genesis.len, &cf[j].opts),
             "sp_ledger_create", NULL);
    check_rc(sp_ledger_open(&cf[j].l, cf[j].dir, &cf[j].opts), "sp_ledger_open", NULL);
    memset(&cf[j].r, 0, sizeof(cf[j].r));
  }
  for (size_t i = 0; i < c->n_blocks; i++) {
    const struct blk *k = &c->blocks[i];
    for (size_t jj = 0; jj < n_cf; jj++) {
      struct config *x = &cf[(jj + i) % n_cf];
      struct sp_refusal why;
      long long w0 = io_write_bytes();
      double t0 = now();
      int rc = sp_ledger_apply(x->l, k->data, k->len, &k->cert, &why);
      double el = now() - t0;
      long long w1 = io_write_bytes();
      check_rc(rc, "sp_ledger_apply", &why);
      if (i >= c->n_setup) {
        x->r.seconds += el;
        x->r.block_ms[i - c->n_setup] = el * 1e3;
        if (w0 < 0 || w1 < 0 || x->r.written < 0)
          x->r.written = -1;
        else
          x->r.written += w1 - w0;
      }
    }
    if (i >= c->n_setup)
      vl_run(rv, SLICE_SECONDS);
  }
}

/* ---------------------------------------------------- pipelined replay */

/* How a node applies blocks it holds ahead of time (block sync; a
 * validator's mempool does the same per transaction as they arrive): a
 * second thread checks the signatures of block h+1 (sp_ledger_preverify,
 * on the ledger's pool) while block h is applied (sp_ledger_apply: every
 * check, the rules, the durable commit; the signatures it finds verified).
 * Each signature is verified exactly once and all of it is inside the
 * timed span, from the first preverify to the last commit. */
#define GROUP 4 /* blocks per sp_ledger_apply_batch in the grouped replay */
#define GROUP_TEXT "4"
#define LOOKAHEAD 2 /* blocks the signature checks may run ahead of apply */
struct pipe {
  const struct chain *c;
  struct sp_ledger *l;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t verified; /* blocks below this index are preverified */
  size_t applying; /* the block being applied (or next to be) */
  size_t group;    /* blocks per apply call */
  int rc;
};

static void *pipe_verifier(void *arg)
{
  struct pipe *p = arg;
  const struct chain *c = p->c;
  for (size_t i = c->n_setup; i < c->n_blocks; i++) {
    pthread_mutex_lock(&p->mu);
    /* the next group may be verified whole while this one is applied */
    while (i > p->applying + 2 * p->group - 2 + LOOKAHEAD)
      pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    int rc = sp_ledger_preverify(p->l, c->blocks[i].data, c->blocks[i].len);
    pthread_mutex_lock(&p->mu);
    if (rc && p->rc == 0)
      p->rc = rc;
    p->verified = i + 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  return NULL;
}

/* group 1: sp_ledger_apply per block; more: sp_ledger_apply_batch of that
 * many blocks (one LMDB transaction and one durable commit each). */
static void replay_pipelined(const struct chain *c, struct config *x, size_t group)
{
  subdir(x->dir, sizeof(x->dir), x->name);
  check_rc(sp_ledger_create(x->dir, c->genesis.data, c->genesis.len, &x->opts),
           "sp_ledger_create", NULL);
  check_rc(sp_ledger_open(&x->l, x->dir, &x->opts), "sp_ledger_open", NULL);
  memset(&x->r, 0, sizeof(x->r));
  struct sp_refusal why;
  for (size_t i = 0; i < c->n_setup; i++)
    check_rc(sp_ledger_apply(x->l, c->blocks[i].data, c->blocks[i].len, &c->blocks[i].cert,
                             &why),
             "sp_ledger_apply", &why);
  struct pipe p = {.c = c,
                   .l = x->l,
                   .verified = c->n_setup,
                   .applying = c->n_setup,
                   .group = group};
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  long long w0 = io_write_bytes();
  double c0 = cpu_seconds();
  double t0 = now();
  pthread_t th;
  check(pthread_create(&th, NULL, pipe_verifier, &p) == 0, "pthread_create");
  for (size_t i = c->n_setup; i < c->n_blocks; i += group) {
    size_t k = c->n_blocks - i < group ? c->n_blocks - i : group;
    double b0 = now();
    pthread_mutex_lock(&p.mu);
    while (p.verified < i + k)
      pthread_cond_wait(&p.cv, &p.mu);
    pthread_mutex_unlock(&p.mu);
    struct sp_block_in in[N_BLOCKS];
    for (size_t j = 0; j < k; j++)
      in[j] = (struct sp_block_in){c->blocks[i + j].data, c->blocks[i + j].len,
                                   &c->blocks[i + j].cert};
    int rc = k == 1 ? sp_ledger_apply(x->l, in[0].raw, in[0].len, in[0].commit, &why)
                    : sp_ledger_apply_batch(x->l, in, k, &why);
    check_rc(rc, k == 1 ? "sp_ledger_apply" : "sp_ledger_apply_batch", &why);
    pthread_mutex_lock(&p.mu);
    p.applying = i + k;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    for (size_t j = 0; j < k; j++) /* the group's time, spread over its blocks */
      x->r.block_ms[i + j - c->n_setup] = (now() - b0) * 1e3 / (double)k;
  }
  pthread_join(th, NULL);
  x->r.seconds = now() - t0;
  x->r.cpu = cpu_seconds() - c0;
  long long w1 = io_write_bytes();
  x->r.written = w0 < 0 || w1 < 0 ? -1 : w1 - w0;
  check_rc(p.rc, "sp_ledger_preverify", NULL);
  pthread_cond_destroy(&p.cv);
  pthread_mutex_destroy(&p.mu);
}

/* (g) The CPU of everything a block costs besides its signatures and its
 * commit: a fresh no-sync ledger with the setup and the first half of the
 * payment blocks applied, then the next block checked (sp_ledger_check_block:
 * decode, hashes, signature cache, the rules with their LMDB lookups and
 * writes in a staged txn, state digest) CHECK_REPS times. The first check
 * verifies the signatures and caches them; the others find them cached.
 * Each is timed on the thread's CPU clock and the fastest is kept, which
 * makes this the steadiest figure on a shared machine. Returns seconds
 * per block. */
#define CHECK_REPS 15
static void config_close(struct config *x);
static double rules_cpu(const struct chain *c)
{
  struct config x = {.name = "rules", .opts = {.no_sync = true}};
  subdir(x.dir, sizeof(x.dir), x.name);
  check_rc(sp_ledger_create(x.dir, c->genesis.data, c->genesis.len, &x.opts),
           "sp_ledger_create", NULL);
  check_rc(sp_ledger_open(&x.l, x.dir, &x.opts), "sp_ledger_open", NULL);
  struct sp_refusal why;
  size_t at = c->n_setup + (c->n_blocks - c->n_setup) / 2;
  for (size_t i = 0; i < at; i++)
    check_rc(sp_ledger_apply(x.l, c->blocks[i].data, c->blocks[i].len, &c->blocks[i].cert,
                             &why),
             "sp_ledger_apply", &why);
  double best = 0;
  /* LEDGER_BENCH_REPS: more checks, for a profiler to see them */
  const char *reps_env = getenv("LEDGER_BENCH_REPS");
  int reps = reps_env ? atoi(reps_env) : CHECK_REPS;
  if (reps < 1 || reps > 100000)
    reps = CHECK_REPS;
  for (int k = 0; k <= reps; k++) {
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    check_rc(sp_ledger_check_block(x.l, c->blocks[at].data, c->blocks[at].len, &why),
             "sp_ledger_check_block", &why);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    if (k > 0 && (best == 0 || s < best)) /* k = 0 verified the signatures */
      best = s;
  }
  config_close(&x);
  return best;
}

/* (g) as a rate on one core, beside the limit like every rate here, and
 * per payment in microseconds (what a change to the rules is judged by) */
static void rules_figure(double per_block, double limit)
{
  double rate = BLOCK_TXS / per_block;
  figure("check_block_tx_per_s_1core", rate, "tx/s", rate / limit, "-");
  printf("# ... sp_ledger_check_block of a payment block with its signatures cached, thread "
         "CPU, fastest of the checks: %.2f us per payment\n",
         per_block * 1e6 / BLOCK_TXS);
  fflush(stdout);
}

static void config_close(struct config *x)
{
  sp_ledger_close(x->l);
  x->l = NULL;
  rm_tree(x->dir);
}

static void print_run(const char *what, const struct run *r)
{
  double ms[N_BLOCKS];
  memcpy(ms, r->block_ms, sizeof(ms));
  qsort(ms, N_BLOCKS, sizeof(ms[0]), cmp_double);
  printf("# %s: %u blocks x %u payments in %.3f s; per block ms: min %.1f median %.1f max "
         "%.1f; %.1f MB written\n",
         what, N_BLOCKS, BLOCK_TXS, r->seconds, ms[0], ms[N_BLOCKS / 2], ms[N_BLOCKS - 1],
         (double)r->written / 1e6);
  if (r->cpu > 0)
    printf("# ... CPU %.3f s (user + system, all threads): %.2f cores busy on average\n", r->cpu,
           r->cpu / r->seconds);
}

static long long file_size(const char *dir, const char *file)
{
  char p[4400];
  snprintf(p, sizeof(p), "%s/%s", dir, file);
  struct stat st;
  return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* Entries and pages of every table of a (compacted) store, read with LMDB
 * directly from the copy: the ledger itself stays closed to this code. */
static void table_stats(const char *dir, uint64_t txs)
{
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi main_db;
  MDB_cursor *cur;
  if (mdb_env_create(&env))
    return;
  if (mdb_env_set_maxdbs(env, 64) || mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK, 0600) ||
      mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) {
    mdb_env_close(env);
    return;
  }
  if (mdb_dbi_open(txn, NULL, 0, &main_db) == 0 && mdb_cursor_open(txn, main_db, &cur) == 0) {
    MDB_val k, v;
    printf("# compacted tables, pages x page size / %llu txs:",
           (unsigned long long)txs);
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      char name[64];
      if (k.mv_size >= sizeof(name))
        continue;
      memcpy(name, k.mv_data, k.mv_size);
      name[k.mv_size] = '\0';
      MDB_dbi dbi;
      MDB_stat st;
      if (mdb_dbi_open(txn, name, 0, &dbi) || mdb_stat(txn, dbi, &st))
        continue;
      size_t pages = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
      printf(" %s %zu entries %.0f B/tx;", name, st.ms_entries,
             (double)pages * st.ms_psize / (double)txs);
    }
    printf("\n");
    mdb_cursor_close(cur);
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
}

/* ----------------------------------------------------------- breakdown */

/* One core: decode every payment block, and the per-tx work of the
 * signature stage of apply: hashing (tx id, Merkle leaf) and sp_tx_verify. */
static void breakdown(const struct chain *c, double *decode_s, double *hash_s, double *verify_s)
{
  *decode_s = *hash_s = *verify_s = 0;
  volatile uint8_t sink = 0;
  for (size_t i = c->n_setup; i < c->n_blocks; i++) {
    const struct blk *k = &c->blocks[i];
    struct sp_block b;
    double t0 = now();
    check(sp_block_decode(k->data, k->len, &b) == SP_OK, "sp_block_decode");
    double t1 = now();
    uint8_t txid[SP_HASH_LEN], leaf[SP_HASH_LEN];
    for (uint32_t j = 0; j < b.n_txs; j++) {
      const struct sp_tx *tx = &b.txs[j];
      sp_tx_id(tx, c->chain_id, txid);
      sp_merkle_leaf(leaf, tx->raw, tx->raw_len);
      sink ^= txid[0] ^ leaf[0];
    }
    double t2 = now();
    for (uint32_t j = 0; j < b.n_txs; j++)
      check(sp_tx_verify(&b.txs[j], c->chain_id) == SP_OK, "sp_tx_verify");
    double t3 = now();
    sp_block_clear(&b);
    *decode_s += t1 - t0;
    *hash_s += t2 - t1;
    *verify_s += t3 - t2;
  }
  (void)sink;
}

/* Raw verify rate on one core over DISTINCT keys and messages: the same
 * signature over and over (the limit's method) may let the branch predictor
 * learn the variable-time scalar multiplication; real blocks do not. */
#define N_DISTINCT 1024
static double verify_distinct_1core(void)
{
  struct item {
    uint8_t pk[SP_PK_LEN], sig[SP_SIG_LEN], msg[MSG_LEN];
  } *it = malloc(N_DISTINCT * sizeof(*it));
  check(it != NULL, "malloc");
  for (uint32_t i = 0; i < N_DISTINCT; i++) {
    struct key k;
    make_key(&k, 0x40, i);
    memcpy(it[i].pk, k.pk, SP_PK_LEN);
    for (size_t j = 0; j < MSG_LEN; j++)
      it[i].msg[j] = (uint8_t)(i * 31 + j * 7);
    check(crypto_sign_detached(it[i].sig, NULL, it[i].msg, MSG_LEN, k.sk) == 0, "sign");
  }
  uint64_t n = 0, ok = 0;
  double t0 = now(), el;
  do {
    for (uint32_t i = 0; i < N_DISTINCT; i++)
      ok += crypto_sign_verify_detached(it[i].sig, it[i].msg, MSG_LEN, it[i].pk) == 0;
    n += N_DISTINCT;
  } while ((el = now() - t0) < MIN_SECONDS);
  check(ok == n, "verify distinct");
  free(it);
  return (double)n / el;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
  check(sp_crypto_init() == SP_OK, "sp_crypto_init");
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (cores < 1)
    cores = 1;
  const char *parent = argc > 1 ? argv[1] : getenv("TMPDIR");
  if (parent == NULL || parent[0] == '\0')
    parent = "/tmp";
  int pn = snprintf(g_root, sizeof(g_root), "%s/ledger_bench-XXXXXX", parent);
  check(pn > 0 && (size_t)pn < sizeof(g_root), "temp path");
  check(mkdtemp(g_root) != NULL, "mkdtemp");
  atexit(cleanup);

  /* (a) raw Ed25519 verification on one core (more slices come later) */
  struct vlimit rv;
  vl_init(&rv);
  vl_run(&rv, MIN_SECONDS);
  double load[1] = {-1};
  getloadavg(load, 1);
  printf("# stores under %s; load average %.2f at the start (other processes bias every "
         "figure)\n",
         g_root, load[0]);
  fflush(stdout);
  double t0, el;

  /* the chain (not timed) */
  struct chain *c = malloc(sizeof(*c));
  check(c != NULL, "malloc");
  t0 = now();
  gen_chain(c);
  size_t timed_bytes = 0;
  for (size_t i = c->n_setup; i < c->n_blocks; i++)
    timed_bytes += c->blocks[i].len;
  printf("# chain: %zu setup blocks (%llu txs: fund, deposit, %u merchants, %u enrollments, "
         "%u issue txs), %u payment blocks of %u txs (%.0f bytes/payment block); "
         "generated in %.1f s\n",
         c->n_setup, (unsigned long long)c->setup_txs, N_MERCHANTS, N_PASSES,
         (N_PASSES + ISSUE_ROWS - 1) / ISSUE_ROWS, N_BLOCKS, BLOCK_TXS,
         (double)timed_bytes / N_BLOCKS, now() - t0);

  /* LEDGER_BENCH_ONLY=rules: just (g), for comparing builds quickly */
  const char *only = getenv("LEDGER_BENCH_ONLY");
  if (only && strcmp(only, "rules") == 0) {
    double per_block = rules_cpu(c);
    vl_run(&rv, SLICE_SECONDS * N_BLOCKS / 2);
    rules_figure(per_block, vl_limit(&rv));
    chain_free(c);
    return 0;
  }

  /* (b) durable apply, default verify threads; (c) no fsync; (d) one thread */
  struct config cf[4] = {
      {.name = "durable", .opts = {.no_sync = false}},
      {.name = "nosync", .opts = {.no_sync = true}},
      {.name = "onethread", .opts = {.no_sync = false, .verify_threads = 1}},
      {.name = "onethread_nosync", .opts = {.no_sync = true, .verify_threads = 1}},
  };
  replay(c, cf, 4, &rv);
  /* (b') the pipelined replay, between two raw-verify slices as long as
   * the lockstep ones together */
  struct config pipelined = {.name = "pipelined", .opts = {.no_sync = false}};
  struct config pipelined_ns = {.name = "pipelined_nosync", .opts = {.no_sync = true}};
  struct config grouped = {.name = "grouped", .opts = {.no_sync = false}};
  vl_run(&rv, SLICE_SECONDS * N_BLOCKS / 2);
  replay_pipelined(c, &pipelined, 1);
  vl_run(&rv, SLICE_SECONDS * N_BLOCKS / 2);
  replay_pipelined(c, &pipelined_ns, 1);
  config_close(&pipelined_ns);
  vl_run(&rv, SLICE_SECONDS * N_BLOCKS / 2);
  replay_pipelined(c, &grouped, GROUP);
  vl_run(&rv, SLICE_SECONDS * N_BLOCKS / 2);
  double limit = vl_limit(&rv);
  vl_print(&rv);
  printf("# the raw verify rate pools %.1f s up front and %u slices of %.0f ms between the "
         "timed blocks\n",
         MIN_SECONDS, N_BLOCKS, SLICE_SECONDS * 1e3);
  const struct run *rd = &cf[0].r, *rn = &cf[1].r, *r1 = &cf[2].r, *r1n = &cf[3].r;
  struct sp_ledger *l = cf[0].l;
  double pipe_rate = (double)c->timed_txs / pipelined.r.seconds;
  figure("ledger_apply_tx_per_s", pipe_rate, "tx/s", pipe_rate / limit, ">=0.8");
  print_run("durable apply, pipelined (signatures of block h+1 checked while h is applied; "
            "per block: waiting for them + sp_ledger_apply)",
            &pipelined.r);
  config_close(&pipelined);
  double group_rate = (double)c->timed_txs / grouped.r.seconds;
  figure("ledger_apply_tx_per_s_grouped", group_rate, "tx/s", group_rate / limit, "-");
  print_run("the same pipelined replay, " GROUP_TEXT " blocks per sp_ledger_apply_batch (one durable "
            "commit each, as block sync does)",
            &grouped.r);
  if (grouped.r.written >= 0)
    figure("apply_bytes_written_per_tx_grouped", (double)grouped.r.written / (double)c->timed_txs,
           "bytes/tx", -1, "-");
  config_close(&grouped);
  double pipe_ns_rate = (double)c->timed_txs / pipelined_ns.r.seconds;
  figure("ledger_apply_tx_per_s_nosync", pipe_ns_rate, "tx/s", pipe_ns_rate / limit, "-");
  print_run("the same pipelined replay with no_sync (what waiting for the disk costs)",
            &pipelined_ns.r);
  double apply_rate = (double)c->timed_txs / rd->seconds;
  figure("ledger_apply_tx_per_s_serial", apply_rate, "tx/s", apply_rate / limit, "-");
  print_run("durable apply, one block at a time (signature checks overlap that block's "
            "rules only)",
            rd);
  if (rd->written >= 0)
    figure("apply_bytes_written_per_tx", (double)rd->written / (double)c->timed_txs,
           "bytes/tx", -1, "-");
  double nosync_rate = (double)c->timed_txs / rn->seconds;
  figure("ledger_apply_tx_per_s_serial_nosync", nosync_rate, "tx/s", nosync_rate / limit, "-");
  print_run("no_sync apply", rn);
  double one_rate = (double)c->timed_txs / r1->seconds;
  figure("ledger_apply_tx_per_s_1thread", one_rate, "tx/s", one_rate / limit, "-");
  print_run("durable apply, verify_threads=1", r1);
  double one_ns_rate = (double)c->timed_txs / r1n->seconds;
  figure("ledger_apply_tx_per_s_1thread_nosync", one_ns_rate, "tx/s", one_ns_rate / limit, "-");
  print_run("no_sync apply, verify_threads=1", r1n);
  config_close(&cf[1]);
  config_close(&cf[2]);
  config_close(&cf[3]);

  /* (g) everything but signatures and commit, on one core */
  rules_figure(rules_cpu(c), limit);

  /* (e) size on disk */
  const char *ddir = cf[0].dir;
  char bdir[4200];
  subdir(bdir, sizeof(bdir), "backup");
  uint64_t all_txs = c->setup_txs + c->timed_txs;
  long long raw_size = file_size(ddir, "data.mdb");
  check(raw_size > 0, "stat data.mdb");
  figure("bytes_on_disk_per_tx", (double)raw_size / (double)all_txs, "bytes/tx", -1, "-");
  check_rc(sp_ledger_backup(l, bdir), "sp_ledger_backup (mdb_env_copy2 MDB_CP_COMPACT)", NULL);
  long long compact_size = file_size(bdir, "data.mdb");
  check(compact_size > 0, "stat compacted data.mdb");
  figure("bytes_on_disk_per_tx_compact", (double)compact_size / (double)all_txs, "bytes/tx",
         -1, "-");
  printf("# data.mdb %.1f MB, compacted %.1f MB, for %llu txs (%llu payments, the rest setup); "
         "block bytes alone: %.0f bytes/payment\n",
         (double)raw_size / 1e6, (double)compact_size / 1e6, (unsigned long long)all_txs,
         (unsigned long long)c->timed_txs, (double)timed_bytes / (double)c->timed_txs);
  table_stats(bdir, all_txs);
  rm_tree(bdir);

  /* (f) full-chain verification */
  struct sp_verify_report rep;
  t0 = now();
  check_rc(sp_ledger_verify(l, g_root, &rep), "sp_ledger_verify", NULL);
  el = now() - t0;
  check(rep.ok, "chain verification verdict");
  check(rep.txs == all_txs, "verified tx count");
  double verify_rate = (double)rep.txs / el;
  figure("verify_tx_per_s", verify_rate, "tx/s", verify_rate / limit, "-");
  printf("# verify: %llu blocks, %llu txs in %.3f s (the setup's %u issue rows are not "
         "counted as txs)\n",
         (unsigned long long)rep.blocks, (unsigned long long)rep.txs, el, N_PASSES);
  config_close(&cf[0]);

  /* breakdown per payment block, from the figures above */
  double dec_s, hash_s, ver_s;
  breakdown(c, &dec_s, &hash_s, &ver_s);
  double sig_s = hash_s + ver_s;
  double per = 1e3 / N_BLOCKS;
  /* single-threaded no_sync apply = decode + signature stage + the rest,
   * all on one thread: no assumption about how many cores the pool got */
  double rest = r1n->seconds - dec_s - sig_s;
  double sig_pool = rn->seconds - dec_s - rest;
  printf("# breakdown per block of %u payments (ms): durable apply %.1f = decode %.1f"
         " + signature stage %.1f on the pool (%.1f on 1 core: x%.2f with %ld cores)"
         " + rules, LMDB writes and commit without fsync %.1f (from the 1-thread run)"
         " + fsync (durable - no_sync) %.1f\n",
         BLOCK_TXS, rd->seconds * per, dec_s * per, sig_pool * per, sig_s * per,
         sig_s / sig_pool, cores, rest * per, (rd->seconds - rn->seconds) * per);
  double sig_rate = (double)c->timed_txs / sig_s;
  figure("apply_signature_stage_tx_per_s_1core", sig_rate, "tx/s", sig_rate / limit, "-");
  printf("# signature stage per tx on 1 core: tx id + Merkle leaf %.2f us, sp_tx_verify "
         "%.2f us\n",
         hash_s * 1e6 / (double)c->timed_txs, ver_s * 1e6 / (double)c->timed_txs);
  double distinct = verify_distinct_1core();
  figure("ed25519_verify_1core_distinct_keys", distinct, "verify/s", distinct / limit, "-");

  getloadavg(load, 1);
  printf("# load average at the end %.2f\n", load[0]);
  chain_free(c);
  free(c);
  cleanup();
  return 0;
}
