/* Ledger, storage: crash safety under kill -9 while committing durably,
 * detection of bytes tampered with directly in LMDB, hot backup while
 * blocks keep coming, map growth from a tiny map (also under a running
 * backup), and open/create errors.
 * SP_TEST_VERBOSE=1 prints each crash round and the child's block times. */
#include "ledger_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "sp/msg.h"

#define HL SP_HASH_LEN

/* ============================================================== helpers */

struct world {
  struct fx *f;
  struct fx_key pass1, pass2, club;
};

static void world_setup(struct world *w)
{
  w->f = fx_new();
  struct fx *f = w->f;
  fx_key(&w->pass1, 0x31);
  fx_key(&w->pass2, 0x32);
  fx_key(&w->club, 0x41);
  struct sp_tx t[7], d[7];
  static struct sp_issue_row rows[2];
  t[0] = fx_fund_create("sport-2027", "Sport 2027", "culture", "sport", f->now - FX_DAY_MS,
                        FX_T2027 + 365 * FX_DAY_MS, 0);
  t[1] = fx_deposit("sport-2027", 100000);
  t[2] = fx_enroll(w->pass1.pk);
  t[3] = fx_enroll(w->pass2.pk);
  t[4] = fx_merchant(w->club.pk, "Sportclub Be Quick", "sport");
  t[5] = fx_issue1("sport-2027", "batch-1", &rows[0], w->pass1.pk, 15000);
  t[6] = fx_issue1("sport-2027", "batch-2", &rows[1], w->pass2.pk, 15000);
  for (int i = 0; i < 7; i++)
    fx_sign_as(f, &f->authority, &t[i], &d[i]);
  fx_commit(f, d, 7);
  for (int i = 0; i < 7; i++)
    sp_tx_clear(&d[i]);
}

/* One block of payments of `cents` by each given pass. */
static void pay_block(struct world *w, struct fx_key **payers, size_t n, uint64_t cents)
{
  struct sp_tx t[4], d[4];
  assert_true(n <= 4);
  for (size_t i = 0; i < n; i++) {
    t[i] = fx_pay(w->club.pk, "sport-2027", cents + i);
    fx_sign_as(w->f, payers[i], &t[i], &d[i]);
  }
  fx_commit(w->f, d, n);
  for (size_t i = 0; i < n; i++)
    sp_tx_clear(&d[i]);
}

static int reconcile_fn(const struct sp_fund_info *fi, void *arg)
{
  if (!sp_fund_reconciles(fi))
    fail_msg("fund %s does not reconcile", fi->id);
  (*(int *)arg)++;
  return 0;
}

static void expect_verify_ok(struct sp_ledger *l, uint64_t height)
{
  struct sp_verify_report rep;
  assert_int_equal(sp_ledger_verify(l, "/tmp", &rep), 0);
  if (!rep.ok)
    fail_msg("verify: block %llu: %s: %s", (unsigned long long)rep.first_bad.height,
             sp_reason_name(rep.first_bad.reason), rep.first_bad.msg);
  assert_int_equal(rep.blocks, height);
}

static struct sp_verify_report verify_of(struct sp_ledger *l)
{
  struct sp_verify_report rep;
  assert_int_equal(sp_ledger_verify(l, "/tmp", &rep), 0);
  return rep;
}

/* A fresh temporary directory name under /tmp (created). */
static void tmpdir(char *out, size_t cap)
{
  snprintf(out, cap, "/tmp/sp-store-XXXXXX");
  assert_non_null(mkdtemp(out));
}

static void clear_txs_n(struct sp_tx *d, size_t n)
{
  for (size_t i = 0; i < n; i++)
    sp_tx_clear(&d[i]);
}

/* ===================================================== 1. crash safety */

#define CRASH_ROUNDS 16
#define CHILD_MAX_BLOCKS 60 /* per round: keeps the replays cheap */
#define CRASH_PASSES 4
#define CHILD_ENC 256

/* Child-side helpers: no cmocka here (a failure must not unwind into the
 * test runner of a forked copy); every problem is an exit code. */
struct child_ctx {
  struct fx *f;
  struct sp_ledger *l;
  struct fx_key passes[CRASH_PASSES], club;
  uint8_t *enc[CHILD_ENC];
  size_t n_enc;
};

static int child_sign(struct child_ctx *c, const struct fx_key *k, uint64_t seq,
                      struct sp_tx *tx, struct sp_tx *out)
{
  memcpy(tx->signer, k->pk, SP_PK_LEN);
  tx->seq = seq;
  if (sp_tx_sign(tx, c->f->chain_id, k->sk))
    return -1;
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_TX_BYTES);
  if (sp_tx_encode(tx, &b) || c->n_enc == CHILD_ENC) {
    sp_buf_free(&b);
    return -1;
  }
  c->enc[c->n_enc++] = b.data;
  return sp_tx_decode(b.data, b.len, out) ? -1 : 0;
}

static uint64_t child_seq(struct child_ctx *c, const uint8_t pk[SP_PK_LEN])
{
  struct sp_account_info *a = calloc(1, sizeof(*a));
  uint64_t s = 0;
  if (a && sp_ledger_account(c->l, pk, a) == 0)
    s = a->seq;
  free(a);
  return s;
}

static void child_cert(const struct fx *f, uint64_t height, const uint8_t hash[HL],
                       struct sp_cert *c)
{
  memset(c, 0, sizeof(*c));
  c->height = height;
  memcpy(c->block, hash, HL);
  struct sp_vote v = {.type = SP_VOTE_PRECOMMIT, .height = height, .has_block = true};
  memcpy(v.block, hash, HL);
  for (int i = 0; i < 3; i++) {
    memcpy(v.validator, f->validators[i].pk, SP_PK_LEN);
    if (sp_vote_sign(&v, f->chain_id, f->validators[i].sk))
      _exit(20);
    c->sigs[i].validator = (uint32_t)i;
    memcpy(c->sigs[i].sig, v.sig, SP_SIG_LEN);
  }
  c->n_sigs = 3;
}

/* One block: the setup on an empty chain, else an issue and payments.
 * Applied to c->l; a copy of the block and its certificate go to out and
 * out_cert if given. */
static int child_block(struct child_ctx *c, struct sp_buf *out, struct sp_cert *out_cert)
{
  struct fx *f = c->f;
  struct sp_tip tip;
  if (sp_ledger_tip(c->l, &tip))
    return 30;
  struct sp_cert last;
  bool has_last = false;
  if (tip.height > 0) {
    struct sp_buf raw;
    sp_buf_init(&raw, SP_MAX_BLOCK_BYTES);
    int rc = sp_ledger_block(c->l, tip.height, &raw, &last, &has_last);
    sp_buf_free(&raw);
    if (rc)
      return 31;
    if (!has_last)
      child_cert(f, tip.height, tip.hash, &last);
  }
  struct sp_tx t[12], d[12];
  struct sp_issue_row row;
  char ref[32], refs[CRASH_PASSES][16];
  size_t n = 0;
  uint64_t aseq = child_seq(c, f->authority.pk);
  memset(t, 0, sizeof(t));
  if (aseq == 0) {
    t[n++] = fx_fund_create("sport-2027", "Sport", "sport", NULL, FX_T2027 - 40 * FX_DAY_MS,
                            FX_T2027 + 3650 * FX_DAY_MS, 0);
    t[n++] = fx_deposit("sport-2027", 100000000);
    t[n++] = fx_merchant(c->club.pk, "Be Quick", "sport");
    for (int i = 0; i < CRASH_PASSES; i++)
      t[n++] = fx_enroll(c->passes[i].pk);
    struct sp_issue_row rows[CRASH_PASSES];
    for (int i = 0; i < CRASH_PASSES; i++) {
      snprintf(refs[i], sizeof(refs[i]), "init-%d", i);
      t[n++] = fx_issue1("sport-2027", refs[i], &rows[i], c->passes[i].pk, 100000);
    }
    for (size_t i = 0; i < n; i++)
      if (child_sign(c, &f->authority, aseq + 1 + i, &t[i], &d[i]))
        return 32;
  } else {
    snprintf(ref, sizeof(ref), "r-%llu", (unsigned long long)tip.height);
    const struct fx_key *p = &c->passes[tip.height % CRASH_PASSES];
    t[0] = fx_issue1("sport-2027", ref, &row, p->pk, 500);
    if (child_sign(c, &f->authority, aseq + 1, &t[0], &d[0]))
      return 33;
    n = 1;
    for (int i = 0; i < 3; i++) {
      const struct fx_key *q = &c->passes[(tip.height + (uint64_t)i) % CRASH_PASSES];
      t[n] = fx_pay(c->club.pk, "sport-2027", 1 + (uint64_t)i);
      if (child_sign(c, q, child_seq(c, q->pk) + 1, &t[n], &d[n]))
        return 34;
      n++;
    }
  }
  struct sp_buf blk;
  sp_buf_init(&blk, SP_MAX_BLOCK_BYTES);
  bool acc[12];
  int rc = sp_ledger_propose(c->l, d, n, tip.time_ms + 1000, f->validators[0].pk,
                             has_last ? &last : NULL, &blk, acc, NULL);
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (!acc[i])
      rc = 35;
  struct sp_block b;
  uint8_t hash[HL];
  if (rc == 0 && (sp_block_decode(blk.data, blk.len, &b) || sp_header_hash(&b.header, hash)))
    rc = 36;
  else if (rc == 0)
    sp_block_clear(&b);
  if (rc == 0) {
    struct sp_cert cert;
    child_cert(f, tip.height + 1, hash, &cert);
    struct sp_refusal why;
    if (sp_ledger_apply(c->l, blk.data, blk.len, &cert, &why))
      rc = 37;
    if (rc == 0 && out) {
      sp_buf_reset(out);
      sp_buf_append(out, blk.data, blk.len);
      if (out->err)
        rc = 38;
      *out_cert = cert;
    }
  }
  sp_buf_free(&blk);
  for (size_t i = 0; i < n; i++)
    sp_tx_clear(&d[i]);
  for (size_t i = 0; i < c->n_enc; i++)
    free(c->enc[i]);
  c->n_enc = 0;
  return rc;
}

/* In a forked child: die with the parent, and let a crash be a crash
 * (cmocka's handlers would unwind into the copy of the test runner). */
static void child_init(void)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS};
  for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
    signal(sigs[i], SIG_DFL);
}

/* Group mode: blocks are built on a scratch ledger (no fsync) that first
 * replays the durable one, and reach the durable one CHILD_GROUP at a time
 * through sp_ledger_apply_batch (one transaction, one durable commit). */
#define CHILD_GROUP 3
static int child_groups(struct child_ctx *c, struct sp_ledger *target, bool verbose)
{
  struct fx *f = c->f;
  char dir[300];
  snprintf(dir, sizeof(dir), "%s-builder", f->dir);
  fx_rmrf(dir);
  struct sp_ledger_opts o = {.no_sync = true, .verify_threads = 1};
  if (sp_ledger_create(dir, f->genesis.data, f->genesis.len, &o) ||
      sp_ledger_open(&c->l, dir, &o))
    return 40;
  struct sp_tip tip;
  if (sp_ledger_tip(target, &tip))
    return 41;
  struct sp_buf raw[CHILD_GROUP];
  struct sp_cert cert[CHILD_GROUP];
  for (int k = 0; k < CHILD_GROUP; k++)
    sp_buf_init(&raw[k], SP_MAX_BLOCK_BYTES);
  int rc = 0;
  for (uint64_t h = 1; h <= tip.height && rc == 0; h++) {
    bool has = false;
    struct sp_refusal why;
    sp_buf_reset(&raw[0]);
    if (sp_ledger_block(target, h, &raw[0], &cert[0], &has) || !has ||
        sp_ledger_apply(c->l, raw[0].data, raw[0].len, &cert[0], &why))
      rc = 42;
  }
  for (int i = 0; i < CHILD_MAX_BLOCKS / CHILD_GROUP && rc == 0; i++) {
    struct sp_block_in in[CHILD_GROUP];
    for (int k = 0; k < CHILD_GROUP && rc == 0; k++) {
      rc = child_block(c, &raw[k], &cert[k]);
      in[k] = (struct sp_block_in){raw[k].data, raw[k].len, &cert[k]};
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct sp_refusal why;
    if (rc == 0 && sp_ledger_apply_batch(target, in, CHILD_GROUP, &why))
      rc = 43;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (verbose)
      fprintf(stderr, "    child group %d: %ld us\n", i,
              (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
  }
  for (int k = 0; k < CHILD_GROUP; k++)
    sp_buf_free(&raw[k]);
  sp_ledger_close(c->l);
  c->l = target;
  fx_rmrf(dir);
  return rc;
}

static void child_run(struct fx *f, bool groups) __attribute__((noreturn));
static void child_run(struct fx *f, bool groups)
{
  child_init();
  struct child_ctx c;
  memset(&c, 0, sizeof(c));
  c.f = f;
  for (int i = 0; i < CRASH_PASSES; i++) {
    uint8_t seed[32];
    memset(seed, 0xa0 + i, sizeof(seed));
    if (sp_keypair_from_seed(c.passes[i].pk, c.passes[i].sk, seed))
      _exit(2);
  }
  uint8_t seed[32];
  memset(seed, 0xb0, sizeof(seed));
  if (sp_keypair_from_seed(c.club.pk, c.club.sk, seed))
    _exit(2);
  struct sp_ledger_opts o = {.no_sync = false, .verify_threads = 1};
  if (sp_ledger_open(&c.l, f->dir, &o))
    _exit(3);
  bool verbose = getenv("SP_TEST_VERBOSE") != NULL;
  if (groups) {
    int rc = child_groups(&c, c.l, verbose);
    if (rc)
      _exit(rc);
  }
  for (int i = 0; i < CHILD_MAX_BLOCKS && !groups; i++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = child_block(&c, NULL, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (verbose)
      fprintf(stderr, "    child block %d: %ld us\n", i,
              (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
    if (rc)
      _exit(rc);
  }
  /* done: wait to be killed (the parent always kills and reaps) */
  for (int i = 0; i < 6000; i++)
    usleep(10000);
  _exit(4);
}

static void sleep_ms(unsigned ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
    ;
}

/* Reopened after a crash: the tip is one whole, certified block. */
static uint64_t check_after_crash(struct fx *f, uint64_t min_height)
{
  struct sp_ledger_opts o = {.no_sync = true, .verify_threads = 2};
  struct sp_ledger *l = NULL;
  assert_int_equal(sp_ledger_open(&l, f->dir, &o), 0);
  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(l, &tip), 0);
  assert_true(tip.height >= min_height);
  struct sp_buf raw;
  sp_buf_init(&raw, SP_MAX_BLOCK_BYTES);
  struct sp_cert cert;
  bool has = false;
  if (tip.height > 0) {
    assert_int_equal(sp_ledger_block(l, tip.height, &raw, &cert, &has), 0);
    assert_true(has); /* written in the same transaction as the block */
    struct sp_block b;
    assert_int_equal(sp_block_decode(raw.data, raw.len, &b), 0);
    uint8_t h[HL];
    assert_int_equal(sp_header_hash(&b.header, h), 0);
    assert_memory_equal(h, tip.hash, HL);
    assert_memory_equal(b.header.state_digest, tip.state_digest, HL);
    assert_int_equal(b.header.time_ms, tip.time_ms);
    assert_memory_equal(cert.block, tip.hash, HL);
    sp_block_clear(&b);
    uint64_t got = 0;
    assert_int_equal(sp_ledger_block_height(l, tip.hash, &got), 0);
    assert_int_equal(got, tip.height);
  }
  sp_buf_reset(&raw);
  assert_int_equal(sp_ledger_block(l, tip.height + 1, &raw, &cert, &has), SP_LE_NOTFOUND);
  sp_buf_free(&raw);
  expect_verify_ok(l, tip.height);
  int funds = 0;
  assert_int_equal(sp_ledger_funds(l, reconcile_fn, &funds), 0);
  if (tip.height > 0)
    assert_int_equal(funds, 1);
  sp_ledger_close(l);
  return tip.height;
}

/* Kill a child that applies blocks durably, CRASH_ROUNDS times, at random
 * moments; after each kill the store must reopen at a whole, certified
 * block that verifies from genesis. groups: the child commits three
 * blocks per transaction (sp_ledger_apply_batch). */
static void crash_rounds(bool groups)
{
  struct fx *f = fx_new();
  sp_ledger_close(f->l); /* never share an LMDB environment across fork */
  f->l = NULL;
  uint64_t rs = 0x5eedc0de;
  uint64_t height = 0;
  int progressed = 0, killed_busy = 0;
  for (int round = 0; round < CRASH_ROUNDS; round++) {
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    /* a durable commit (two fsyncs) takes from ~1 ms on fast storage to
     * ~100 ms on a slow virtual disk: kill anywhere from just after the
     * start to a few blocks in; the last rounds wait long enough for
     * blocks to land even on slow storage */
    unsigned delay = 5 + (unsigned)((rs >> 33) % 396); /* 5..400 ms */
    if (round >= CRASH_ROUNDS - 2)
      delay += 800;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
      child_run(f, groups);
    sleep_ms(delay);
    /* still running? then it dies in the middle of whatever it does */
    int st = 0;
    pid_t done = waitpid(pid, &st, WNOHANG);
    if (done == 0) {
      kill(pid, SIGKILL);
      assert_int_equal(waitpid(pid, &st, 0), pid);
    }
    if (WIFEXITED(st))
      fail_msg("round %d: the child exited with %d", round, WEXITSTATUS(st));
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    uint64_t h = check_after_crash(f, height);
    if (getenv("SP_TEST_VERBOSE"))
      printf("  round %2d: killed after %2u ms at height %llu (+%llu)\n", round, delay,
             (unsigned long long)h, (unsigned long long)(h - height));
    /* a group is one transaction: never a part of one */
    if (groups)
      assert_int_equal((h - height) % CHILD_GROUP, 0);
    if (h > height)
      progressed++;
    if (h - height < CHILD_MAX_BLOCKS)
      killed_busy++;
    height = h;
  }
  /* the chain grew across crashes, each round going on from the last tip */
  assert_true(progressed >= 2);
  assert_true(killed_busy > 0);
  assert_true(height > 0);
  fx_open(f);
  fx_free(f);
}

static void test_crash_safety(void **state)
{
  (void)state;
  crash_rounds(false);
}

static void test_crash_safety_groups(void **state)
{
  (void)state;
  crash_rounds(true);
}

/* ================================================== 2. tamper detection */

static void be64(uint8_t k[8], uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    k[i] = (uint8_t)v;
}

typedef void (*edit_fn)(MDB_val *v, uint8_t *copy, void *arg);

/* Open the ledger's LMDB environment directly and rewrite one value of a
 * named database through edit (which edits `copy`, a copy of the value).
 * edit NULL deletes the key; insert adds (key, *ins) when absent. */
static void tamper(const char *dir, const char *db, const void *key, size_t kn, edit_fn edit,
                   void *arg, const MDB_val *ins)
{
  MDB_env *env;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
  assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  MDB_dbi dbi;
  assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
  MDB_val k = {kn, (void *)key}, v;
  if (ins) {
    assert_int_equal(mdb_get(txn, dbi, &k, &v), MDB_NOTFOUND);
    MDB_val nv = *ins;
    assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
  } else {
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    if (edit == NULL) {
      assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
    } else {
      uint8_t *copy = malloc(v.mv_size);
      assert_non_null(copy);
      memcpy(copy, v.mv_data, v.mv_size);
      MDB_val nv = {v.mv_size, copy};
      edit(&nv, copy, arg);
      assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
      free(copy);
    }
  }
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

/* Six blocks: the world, then payments. pass2 pays last in block 4; the
 * club receives in every block from 2 on. */
static void tamper_world(struct world *w)
{
  world_setup(w);
  struct fx_key *p1[] = {&w->pass1}, *both[] = {&w->pass1, &w->pass2},
                *p2[] = {&w->pass2};
  pay_block(w, p1, 1, 100);   /* 2 */
  pay_block(w, both, 2, 200); /* 3 */
  pay_block(w, p2, 1, 300);   /* 4: pass2's balance last written here */
  pay_block(w, p1, 1, 10);    /* 5 */
  pay_block(w, p1, 1, 20);    /* 6 */
  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(w->f->l, &tip), 0);
  assert_int_equal(tip.height, 6);
  expect_verify_ok(w->f->l, 6);
  sp_ledger_close(w->f->l);
  w->f->l = NULL;
}

static void reopen(struct fx *f)
{
  fx_open(f);
}

struct flip {
  enum { FLIP_TX_SIG, FLIP_TX_SIGNER, FLIP_DIGEST } what;
};

static void flip_block(MDB_val *v, uint8_t *copy, void *arg)
{
  const struct flip *fl = arg;
  struct sp_block b;
  assert_int_equal(sp_block_decode(copy, v->mv_size, &b), 0);
  size_t off;
  switch (fl->what) {
  case FLIP_TX_SIG: /* the signature is the last 64 bytes of the tx */
    assert_true(b.n_txs > 0);
    off = (size_t)(b.txs[0].raw - copy) + b.txs[0].raw_len - 5;
    break;
  case FLIP_TX_SIGNER: { /* a byte of the signer key inside the signed body */
    assert_true(b.n_txs > 0);
    const uint8_t *body = b.txs[0].body;
    size_t bl = b.txs[0].body_len;
    off = SIZE_MAX;
    for (size_t i = 0; i + SP_PK_LEN <= bl; i++)
      if (memcmp(body + i, b.txs[0].signer, SP_PK_LEN) == 0) {
        off = (size_t)(body + i - copy) + 7;
        break;
      }
    assert_true(off != SIZE_MAX);
    break;
  }
  case FLIP_DIGEST: /* the state digest is the header's last field */
    off = (size_t)(b.header.raw - copy) + b.header.raw_len - 3;
    break;
  default:
    off = v->mv_size - 1;
  }
  sp_block_clear(&b);
  assert_true(off < v->mv_size);
  copy[off] ^= 0x04;
  /* the bytes still decode as a block */
  struct sp_block again;
  assert_int_equal(sp_block_decode(copy, v->mv_size, &again), 0);
  sp_block_clear(&again);
}

static void flip_last_byte(MDB_val *v, uint8_t *copy, void *arg)
{
  (void)arg;
  copy[v->mv_size - 1] ^= 0x01;
}

static void expect_bad(struct fx *f, uint64_t height, int reason)
{
  struct sp_verify_report rep = verify_of(f->l);
  if (rep.ok)
    fail_msg("verify found nothing wrong (expected %s at block %llu)", sp_reason_name(reason),
             (unsigned long long)height);
  if (rep.first_bad.height != height || (reason && rep.first_bad.reason != reason))
    fail_msg("expected %s at block %llu, got %s at block %llu: %s", sp_reason_name(reason),
             (unsigned long long)height, sp_reason_name(rep.first_bad.reason),
             (unsigned long long)rep.first_bad.height, rep.first_bad.msg);
  /* a block refusal stops the replay before it; a state difference is
   * found after the whole chain replayed */
  assert_int_equal(rep.blocks, rep.first_bad.reason == SP_R_STATE_MISMATCH ? 6 : height - 1);
}

static void test_tamper_tx_signature(void **state)
{
  (void)state;
  struct world w;
  tamper_world(&w);
  uint8_t k[8];
  be64(k, 3);
  struct flip fl = {FLIP_TX_SIG};
  tamper(w.f->dir, "blocks", k, 8, flip_block, &fl, NULL);
  reopen(w.f);
  /* the ledger still opens and answers; the audit finds block 3 */
  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(w.f->l, &tip), 0);
  assert_int_equal(tip.height, 6);
  expect_bad(w.f, 3, SP_R_BLOCK_TX_ROOT);
  fx_free(w.f);
}

static void test_tamper_tx_body(void **state)
{
  (void)state;
  struct world w;
  tamper_world(&w);
  uint8_t k[8];
  be64(k, 3);
  struct flip fl = {FLIP_TX_SIGNER};
  tamper(w.f->dir, "blocks", k, 8, flip_block, &fl, NULL);
  reopen(w.f);
  expect_bad(w.f, 3, 0);
  fx_free(w.f);
}

static void test_tamper_balance(void **state)
{
  (void)state;
  struct world w;
  tamper_world(&w);
  uint8_t k[SP_PK_LEN + 10];
  memcpy(k, w.pass2.pk, SP_PK_LEN);
  memcpy(k + SP_PK_LEN, "sport-2027", 10);
  tamper(w.f->dir, "balances", k, sizeof(k), flip_last_byte, NULL, NULL);
  reopen(w.f);
  assert_int_equal(fx_balance(w.f, w.pass2.pk, "sport-2027"), (15000 - 201 - 300) ^ 1);
  expect_bad(w.f, 4, SP_R_STATE_MISMATCH);
  fx_free(w.f);
}

static void test_tamper_balance_deleted(void **state)
{
  (void)state;
  struct world w;
  tamper_world(&w);
  uint8_t k[SP_PK_LEN + 10];
  memcpy(k, w.pass2.pk, SP_PK_LEN);
  memcpy(k + SP_PK_LEN, "sport-2027", 10);
  tamper(w.f->dir, "balances", k, sizeof(k), NULL, NULL, NULL);
  reopen(w.f);
  assert_int_equal(fx_balance(w.f, w.pass2.pk, "sport-2027"), 0);
  expect_bad(w.f, 4, SP_R_STATE_MISMATCH);
  fx_free(w.f);
}

/* A balance row no block ever wrote: a mismatch reported at the tip, not
 * blamed on the block that wrote the genuine row next to it. */
static void test_tamper_balance_inserted(void **state)
{
  (void)state;
  struct world w;
  tamper_world(&w);
  /* pass2's genuine row (last written by block 4) is "sport-2027"; the
   * forged one sorts just before it */
  uint8_t k[SP_PK_LEN + 10];
  memcpy(k, w.pass2.pk, SP_PK_LEN);
  memcpy(k + SP_PK_LEN, "sport-2026", 10);
  uint8_t val[8] = {0, 0, 0, 0, 0, 0, 0x27, 0x10};
  MDB_val ins = {8, val};
  tamper(w.f->dir, "balances", k, sizeof(k), NULL, NULL, &ins);
  reopen(w.f);
  expect_bad(w.f, 6, SP_R_STATE_MISMATCH);
  fx_free(w.f);
}

static void test_tamper_account(void **state)
{
  (void)state;
  struct world w;
  tamper_world(&w);
  /* pass2's account record (its seq) was last written by block 4 */
  tamper(w.f->dir, "accounts", w.pass2.pk, SP_PK_LEN, flip_last_byte, NULL, NULL);
  reopen(w.f);
  expect_bad(w.f, 4, SP_R_STATE_MISMATCH);
  fx_free(w.f);
}

static void test_tamper_state_digest(void **state)
{
  (void)state;
  struct world w;
  tamper_world(&w);
  uint8_t k[8];
  be64(k, 4);
  struct flip fl = {FLIP_DIGEST};
  tamper(w.f->dir, "blocks", k, 8, flip_block, &fl, NULL);
  reopen(w.f);
  /* the header's hash changed, so the stored certificate no longer fits */
  struct sp_verify_report rep = verify_of(w.f->l);
  assert_false(rep.ok);
  assert_int_equal(rep.first_bad.height, 4);
  assert_true(rep.first_bad.reason == SP_R_BLOCK_CERT ||
              rep.first_bad.reason == SP_R_BLOCK_STATE_DIGEST);
  assert_int_equal(rep.blocks, 3);
  sp_ledger_close(w.f->l);
  w.f->l = NULL;
  /* without that certificate, the digest itself gives it away */
  tamper(w.f->dir, "certs", k, 8, NULL, NULL, NULL);
  reopen(w.f);
  expect_bad(w.f, 4, SP_R_BLOCK_STATE_DIGEST);
  fx_free(w.f);
}

/* The first key of `db` whose value starts with be64(height) (the tx
 * index: tx id -> pos), read with LMDB directly. */
static void key_of_height(const char *dir, const char *db, uint64_t height, uint8_t *key,
                          size_t cap, size_t *kn)
{
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  MDB_cursor *cur;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
  assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
  assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
  MDB_val k, v;
  bool found = false;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !found;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    const uint8_t *p = v.mv_data;
    uint64_t h = 0;
    for (int i = 0; i < 8 && v.mv_size >= 8; i++)
      h = h << 8 | p[i];
    if (h == height && k.mv_size <= cap) {
      memcpy(key, k.mv_data, k.mv_size);
      *kn = k.mv_size;
      found = true;
    }
  }
  assert_true(found);
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  mdb_env_close(env);
}

/* The indexes queries answer from are compared too: a tx index entry that
 * points elsewhere, or a history head that is gone, names its block. */
static void test_tamper_indexes(void **state)
{
  (void)state;
  struct world w;
  tamper_world(&w);
  uint8_t k[64];
  size_t kn = 0;
  key_of_height(w.f->dir, "txs", 5, k, sizeof(k), &kn);
  tamper(w.f->dir, "txs", k, kn, flip_last_byte, NULL, NULL);
  reopen(w.f);
  expect_bad(w.f, 5, SP_R_STATE_MISMATCH);
  sp_ledger_close(w.f->l);
  w.f->l = NULL;
  tamper(w.f->dir, "txs", k, kn, flip_last_byte, NULL, NULL); /* mended */
  /* pass2 last paid in block 4: its history head points there */
  tamper(w.f->dir, "histhead", w.pass2.pk, SP_PK_LEN, NULL, NULL, NULL);
  reopen(w.f);
  expect_bad(w.f, 4, SP_R_STATE_MISMATCH);
  fx_free(w.f);
}

/* The tip is proven final only by its own stored certificate: without it
 * verification names the tip (a block appended by someone who can write
 * the store, but not sign as the validators, looks just like this). */
static void test_tip_without_certificate(void **state)
{
  (void)state;
  struct world w;
  tamper_world(&w);
  uint8_t k[8];
  be64(k, 6);
  tamper(w.f->dir, "certs", k, 8, NULL, NULL, NULL);
  reopen(w.f);
  struct sp_verify_report rep = verify_of(w.f->l);
  assert_false(rep.ok);
  assert_int_equal(rep.first_bad.height, 6);
  assert_int_equal(rep.first_bad.reason, SP_R_BLOCK_CERT);
  assert_int_equal(rep.blocks, 6); /* every block replayed; the tip is unproven */
  struct sp_refusal why;
  assert_int_equal(sp_ledger_put_cert(w.f->l, &w.f->tip_cert, &why), 0);
  expect_verify_ok(w.f->l, 6);
  fx_free(w.f);
}

static void flip_tip_digest(MDB_val *v, uint8_t *copy, void *arg)
{
  (void)arg;
  assert_int_equal(v->mv_size, 8 + 2 * HL + 8);
  copy[8 + HL + 5] ^= 0x10;
}

static void test_tamper_tip_record(void **state)
{
  (void)state;
  struct world w;
  tamper_world(&w);
  /* meta "tip" = be64 height || hash || state digest || be64 time */
  tamper(w.f->dir, "meta", "tip", 3, flip_tip_digest, NULL, NULL);
  reopen(w.f);
  expect_bad(w.f, 6, SP_R_STATE_MISMATCH);
  fx_free(w.f);
}

/* A store of an older key layout (no meta "layout", or another number) is
 * refused when opened, instead of being misread. */
static void set_layout_9(MDB_val *v, uint8_t *copy, void *arg)
{
  (void)arg;
  assert_int_equal(v->mv_size, 4);
  copy[3] = 9;
}

static void test_other_layout_refused(void **state)
{
  (void)state;
  struct world w;
  tamper_world(&w);
  tamper(w.f->dir, "meta", "layout", 6, set_layout_9, NULL, NULL);
  struct sp_ledger *l = NULL;
  assert_int_equal(sp_ledger_open(&l, w.f->dir, NULL), SP_LE_CORRUPT);
  assert_null(l);
  tamper(w.f->dir, "meta", "layout", 6, NULL, NULL, NULL);
  assert_int_equal(sp_ledger_open(&l, w.f->dir, NULL), SP_LE_CORRUPT);
  assert_int_equal(sp_ledger_create(w.f->dir, w.f->genesis.data, w.f->genesis.len, NULL),
                   SP_LE_CORRUPT);
  /* with the marker back it opens as before */
  const uint8_t two[4] = {0, 0, 0, 2};
  MDB_val v = {4, (void *)two};
  tamper(w.f->dir, "meta", "layout", 6, NULL, NULL, &v);
  reopen(w.f);
  expect_verify_ok(w.f->l, 6);
  fx_free(w.f);
}

/* ========================================================= 3. hot backup */

static void test_backup(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx_key *p1[] = {&w.pass1};
  for (int i = 0; i < 3; i++)
    pay_block(&w, p1, 1, 10 + (uint64_t)i);
  struct sp_tip at;
  assert_int_equal(sp_ledger_tip(w.f->l, &at), 0);
  assert_int_equal(at.height, 4);
  char dir[64], sub[96];
  tmpdir(dir, sizeof(dir));
  snprintf(sub, sizeof(sub), "%s/copy", dir);
  assert_int_equal(sp_ledger_backup(w.f->l, sub), 0);
  /* the ledger goes on */
  for (int i = 0; i < 3; i++)
    pay_block(&w, p1, 1, 20 + (uint64_t)i);

  struct sp_ledger *b = NULL;
  struct sp_ledger_opts o = {.no_sync = true, .verify_threads = 2};
  assert_int_equal(sp_ledger_open(&b, sub, &o), 0);
  struct sp_tip bt;
  assert_int_equal(sp_ledger_tip(b, &bt), 0);
  assert_int_equal(bt.height, at.height);
  assert_memory_equal(bt.hash, at.hash, HL);
  assert_memory_equal(bt.state_digest, at.state_digest, HL);
  expect_verify_ok(b, 4);
  assert_memory_equal(sp_ledger_chain_id(b), w.f->chain_id, HL);
  /* the copy is a ledger of its own: it takes block 5 of the original */
  struct sp_buf raw;
  sp_buf_init(&raw, SP_MAX_BLOCK_BYTES);
  struct sp_cert c;
  bool has;
  assert_int_equal(sp_ledger_block(w.f->l, 5, &raw, &c, &has), 0);
  assert_true(has);
  struct sp_refusal why;
  assert_int_equal(sp_ledger_apply(b, raw.data, raw.len, &c, &why), 0);
  sp_buf_free(&raw);
  sp_ledger_close(b);
  /* backing up over an existing ledger is refused and leaves it intact */
  assert_int_not_equal(sp_ledger_backup(w.f->l, sub), 0);
  assert_int_equal(sp_ledger_open(&b, sub, &o), 0);
  assert_int_equal(sp_ledger_tip(b, &bt), 0);
  assert_int_equal(bt.height, 5);
  expect_verify_ok(b, 5);
  sp_ledger_close(b);
  expect_verify_ok(w.f->l, 7);
  fx_rmrf(dir);
  fx_free(w.f);
}

struct backup_job {
  struct sp_ledger *l;
  char dir[96];
  int rc;
};

static void *backup_thread(void *arg)
{
  struct backup_job *j = arg;
  j->rc = sp_ledger_backup(j->l, j->dir);
  return NULL;
}

static void test_backup_concurrent(void **state)
{
  (void)state;
  struct world w;
  world_setup(&w);
  struct fx_key *both[] = {&w.pass1, &w.pass2};
  for (int i = 0; i < 4; i++)
    pay_block(&w, both, 2, 5);
  struct sp_tip before, after;
  assert_int_equal(sp_ledger_tip(w.f->l, &before), 0);
  char dir[64];
  tmpdir(dir, sizeof(dir));
  struct backup_job j = {.l = w.f->l, .rc = -1};
  snprintf(j.dir, sizeof(j.dir), "%s/copy", dir);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, backup_thread, &j), 0);
  for (int i = 0; i < 6; i++) /* blocks keep coming during the copy */
    pay_block(&w, both, 2, 7);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(j.rc, 0);
  assert_int_equal(sp_ledger_tip(w.f->l, &after), 0);

  struct sp_ledger *b = NULL;
  struct sp_ledger_opts o = {.no_sync = true, .verify_threads = 2};
  assert_int_equal(sp_ledger_open(&b, j.dir, &o), 0);
  struct sp_tip bt;
  assert_int_equal(sp_ledger_tip(b, &bt), 0);
  assert_true(bt.height >= before.height && bt.height <= after.height);
  /* the copy's tip is the original's block at that height */
  struct sp_buf raw1, raw2;
  sp_buf_init(&raw1, SP_MAX_BLOCK_BYTES);
  sp_buf_init(&raw2, SP_MAX_BLOCK_BYTES);
  struct sp_cert c;
  bool has;
  assert_int_equal(sp_ledger_block(b, bt.height, &raw1, &c, &has), 0);
  assert_int_equal(sp_ledger_block(w.f->l, bt.height, &raw2, &c, &has), 0);
  assert_int_equal(raw1.len, raw2.len);
  assert_memory_equal(raw1.data, raw2.data, raw1.len);
  sp_buf_free(&raw1);
  sp_buf_free(&raw2);
  expect_verify_ok(b, bt.height);
  sp_ledger_close(b);
  fx_rmrf(dir);
  fx_free(w.f);
}

/* ========================================================= 4. map growth */

#define TINY_MAP (256u * 1024u)
/* enough passes that the store outgrows the tiny map several times; the
 * append-only history packs its pages full, so 750 no longer did */
#define GROW_PASSES 1000
#define GROW_CHUNK 250

static int cmp_pk(const void *a, const void *b)
{
  return memcmp(a, b, SP_PK_LEN);
}

/* Propose and apply like fx_commit, but report instead of asserting, so the
 * caller can clean up before failing. Returns 0, or fills err. */
static int try_commit(struct fx *f, const struct sp_tx *txs, size_t n, char *err, size_t cap)
{
  struct sp_buf blk;
  sp_buf_init(&blk, SP_MAX_BLOCK_BYTES);
  bool *acc = calloc(n ? n : 1, sizeof(bool));
  struct sp_refusal *why = calloc(n ? n : 1, sizeof(*why));
  struct sp_tip before, after;
  int rc = acc && why ? sp_ledger_tip(f->l, &before) : SP_LE_NOMEM;
  if (rc == 0 && (rc = fx_propose(f, txs, n, &blk, acc, why)) != 0)
    snprintf(err, cap, "propose failed: %d (%s)", rc, sp_ledger_strerror(rc));
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (!acc[i]) {
      snprintf(err, cap, "tx %zu refused: %s", i, why[i].msg);
      rc = -1;
    }
  if (rc == 0) {
    struct sp_refusal bw;
    memset(&bw, 0, sizeof(bw));
    if ((rc = fx_apply(f, &blk, &bw)) != 0) {
      snprintf(err, cap, "apply of a %zu-byte block failed: %d (%s) %s", blk.len, rc,
               sp_ledger_strerror(rc), bw.msg);
      /* a failed apply leaves the tip as it was */
      if (sp_ledger_tip(f->l, &after) != 0 || after.height != before.height ||
          memcmp(after.hash, before.hash, HL) != 0)
        snprintf(err + strlen(err), cap - strlen(err), "; and the tip moved");
    }
  }
  free(acc);
  free(why);
  sp_buf_free(&blk);
  return rc;
}

static void test_map_growth(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  sp_ledger_close(f->l);
  f->l = NULL;
  fx_rmrf(f->dir);
  struct sp_ledger_opts o = {.no_sync = true, .verify_threads = 2, .map_size = TINY_MAP};
  assert_int_equal(sp_ledger_create(f->dir, f->genesis.data, f->genesis.len, &o), 0);
  assert_int_equal(sp_ledger_open(&f->l, f->dir, &o), 0);

  char err[512] = "";
  int rc = 0;
  uint8_t(*pks)[SP_PK_LEN] = calloc(GROW_PASSES, SP_PK_LEN);
  struct sp_tx *t = calloc(GROW_CHUNK, sizeof(*t)), *d = calloc(GROW_CHUNK, sizeof(*d));
  struct sp_issue_row *rows = calloc(GROW_PASSES, sizeof(*rows));
  assert_true(pks && t && d && rows);
  for (int i = 0; i < GROW_PASSES; i++) {
    uint8_t seed[32] = {0x42}, sk[SP_SK_LEN];
    seed[1] = (uint8_t)(i >> 8);
    seed[2] = (uint8_t)i;
    assert_int_equal(sp_keypair_from_seed(pks[i], sk, seed), 0);
  }
  qsort(pks, GROW_PASSES, SP_PK_LEN, cmp_pk);

  t[0] = fx_fund_create("sport-2027", "Sport", "sport", NULL, f->now, FX_T2027 + FX_DAY_MS, 0);
  t[1] = fx_deposit("sport-2027", 100000000);
  for (int i = 0; i < 2; i++)
    fx_sign_as(f, &f->authority, &t[i], &d[i]);
  rc = try_commit(f, d, 2, err, sizeof(err));
  clear_txs_n(d, 2);
  /* enrolments, GROW_CHUNK per block (~90 KB each) */
  for (int b = 0; rc == 0 && b < GROW_PASSES / GROW_CHUNK; b++) {
    for (int i = 0; i < GROW_CHUNK; i++) {
      t[i] = fx_enroll(pks[b * GROW_CHUNK + i]);
      fx_sign_as(f, &f->authority, &t[i], &d[i]);
    }
    rc = try_commit(f, d, GROW_CHUNK, err, sizeof(err));
    clear_txs_n(d, GROW_CHUNK);
    if (rc)
      snprintf(err + strlen(err), sizeof(err) - strlen(err), " (enrolment block %d)", b + 1);
  }
  /* issue batches: every pass, half of them per tx, twice */
  char refs[4][16];
  for (int round = 0; rc == 0 && round < 2; round++) {
    struct sp_tx it[2], id[2];
    for (int part = 0; part < 2; part++) {
      int lo = part * (GROW_PASSES / 2), n = GROW_PASSES / 2;
      for (int i = 0; i < n; i++) {
        memcpy(rows[lo + i].pass, pks[lo + i], SP_PK_LEN);
        rows[lo + i].amount = 100 + (uint64_t)round;
      }
      snprintf(refs[2 * round + part], sizeof(refs[0]), "batch-%d", 2 * round + part);
      memset(&it[part], 0, sizeof(it[part]));
      it[part].kind = SP_TX_ISSUE;
      it[part].u.issue.fund = sp_str_c("sport-2027");
      it[part].u.issue.ref = sp_str_c(refs[2 * round + part]);
      it[part].u.issue.n_rows = (uint32_t)n;
      it[part].u.issue.rows = &rows[lo];
      fx_sign_as(f, &f->authority, &it[part], &id[part]);
    }
    rc = try_commit(f, id, 2, err, sizeof(err));
    clear_txs_n(id, 2);
    if (rc)
      snprintf(err + strlen(err), sizeof(err) - strlen(err), " (issue block %d)", round + 1);
  }
  uint64_t want_height = 1 + GROW_PASSES / GROW_CHUNK + 2;
  struct sp_tip tip;
  if (rc == 0) {
    assert_int_equal(sp_ledger_tip(f->l, &tip), 0);
    assert_int_equal(tip.height, want_height);
    assert_int_equal(fx_balance(f, pks[GROW_PASSES - 1], "sport-2027"), 201);
    char data[320];
    snprintf(data, sizeof(data), "%s/data.mdb", f->dir);
    struct stat sb;
    assert_int_equal(stat(data, &sb), 0);
    assert_true((uint64_t)sb.st_size > 4ull * TINY_MAP); /* outgrew the map several times */
    expect_verify_ok(f->l, want_height);

    /* reopened with the tiny map again, it keeps working and growing */
    sp_ledger_close(f->l);
    assert_int_equal(sp_ledger_open(&f->l, f->dir, &o), 0);
    assert_int_equal(sp_ledger_tip(f->l, &tip), 0);
    assert_int_equal(tip.height, want_height);
    for (int i = 0; i < GROW_PASSES / 2; i++)
      rows[i].amount = 1;
    struct sp_tx it, id;
    memset(&it, 0, sizeof(it));
    it.kind = SP_TX_ISSUE;
    it.u.issue.fund = sp_str_c("sport-2027");
    it.u.issue.ref = sp_str_c("after-reopen");
    it.u.issue.n_rows = GROW_PASSES / 2;
    it.u.issue.rows = rows;
    fx_sign_as(f, &f->authority, &it, &id);
    rc = try_commit(f, &id, 1, err, sizeof(err));
    sp_tx_clear(&id);
    if (rc == 0) {
      expect_verify_ok(f->l, want_height + 1);
      int funds = 0;
      assert_int_equal(sp_ledger_funds(f->l, reconcile_fn, &funds), 0);
      assert_int_equal(funds, 1);
    }
  }
  if (rc) { /* what is there must still be whole */
    assert_int_equal(sp_ledger_tip(f->l, &tip), 0);
    expect_verify_ok(f->l, tip.height);
  }
  free(rows);
  free(t);
  free(d);
  free(pks);
  fx_free(f);
  if (rc)
    fail_msg("with a %u KiB initial map: %s", TINY_MAP / 1024, err);
}

/* Hot backup while the map grows. LMDB requires that no transaction of the
 * process be open while the map is resized; a backup is a long read
 * transaction. Run in a child process: a use of the old mapping may crash. */
#define RACE_ITERS 10
#define RACE_TXS 60
#define RACE_PREFILL 300
#define RACE_PREFILL_BLOCKS 3

struct race {
  struct sp_ledger *l;
  char base[300];
  atomic_int stop;
  int n, fails, first_rc;
};

static void *race_backups(void *arg)
{
  struct race *r = arg;
  while (!atomic_load(&r->stop) && r->n < 100000) {
    char d[340];
    snprintf(d, sizeof(d), "%s/bk-%d", r->base, r->n++);
    int rc = sp_ledger_backup(r->l, d);
    if (rc && r->fails++ == 0)
      r->first_rc = rc;
    fx_rmrf(d);
    sleep_ms(1); /* leave the writer a gap: backups are not back to back */
  }
  return NULL;
}

/* One block of RACE_TXS deposits, made and applied without cmocka. */
static int race_block(struct child_ctx *c)
{
  struct fx *f = c->f;
  struct sp_tip tip;
  if (sp_ledger_tip(c->l, &tip))
    return 1;
  struct sp_cert last;
  bool has_last = false;
  struct sp_buf blk;
  sp_buf_init(&blk, SP_MAX_BLOCK_BYTES);
  if (tip.height > 0 && sp_ledger_block(c->l, tip.height, &blk, &last, &has_last))
    return 2;
  if (tip.height > 0 && !has_last)
    child_cert(f, tip.height, tip.hash, &last);
  struct sp_tx t[RACE_TXS], d[RACE_TXS];
  uint64_t aseq = child_seq(c, f->authority.pk);
  size_t n = 0;
  int rc = 0;
  if (aseq == 0) {
    t[n++] = fx_fund_create("sport-2027", "Sport", "sport", NULL, FX_T2027 - 40 * FX_DAY_MS,
                            FX_T2027 + 3650 * FX_DAY_MS, 0);
  }
  while (n < RACE_TXS)
    t[n] = fx_deposit("sport-2027", 1 + n), n++;
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (child_sign(c, &f->authority, aseq + 1 + i, &t[i], &d[i]))
      rc = 3;
  bool acc[RACE_TXS];
  sp_buf_reset(&blk);
  int prc = 0;
  if (rc == 0 && (prc = sp_ledger_propose(c->l, d, n, tip.time_ms + 1000, f->validators[0].pk,
                                           has_last ? &last : NULL, &blk, acc, NULL)))
    rc = prc == SP_LE_STORE ? 4 : 5;
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (!acc[i])
      rc = 6;
  struct sp_block b;
  uint8_t hash[HL];
  if (rc == 0 && (sp_block_decode(blk.data, blk.len, &b) || sp_header_hash(&b.header, hash)))
    rc = 7;
  else if (rc == 0)
    sp_block_clear(&b);
  if (rc == 0) {
    struct sp_cert cert;
    child_cert(f, tip.height + 1, hash, &cert);
    struct sp_refusal why;
    int arc = sp_ledger_apply(c->l, blk.data, blk.len, &cert, &why);
    if (arc)
      rc = arc == SP_LE_STORE ? 8 : 9;
  }
  sp_buf_free(&blk);
  for (size_t i = 0; i < c->n_enc; i++) {
    sp_tx_clear(&d[i]);
    free(c->enc[i]);
  }
  c->n_enc = 0;
  return rc;
}

/* Exit codes: 0 ok; 10+k: a block failed (k from race_block); 40 a backup
 * failed; 41 open failed. */
static void race_child(struct fx *f, const char *base) __attribute__((noreturn));
static void race_child(struct fx *f, const char *base)
{
  child_init();
  struct child_ctx c;
  memset(&c, 0, sizeof(c));
  c.f = f;
  struct race r;
  memset(&r, 0, sizeof(r));
  snprintf(r.base, sizeof(r.base), "%s", base);
  struct sp_ledger_opts o = {.no_sync = true, .verify_threads = 1, .map_size = TINY_MAP};
  for (int it = 0; it < RACE_ITERS; it++) {
    /* reopened with the tiny map, the map is just what the file uses: the
     * next block has to grow it */
    if (sp_ledger_open(&c.l, f->dir, &o))
      _exit(41);
    r.l = c.l;
    atomic_store(&r.stop, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, race_backups, &r))
      _exit(42);
    int rc = race_block(&c);
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    sp_ledger_close(c.l);
    if (rc)
      _exit(10 + rc);
    if (r.fails) {
      fprintf(stderr, "  backup failed during map growth: %d (%s) in iteration %d\n",
              r.first_rc, sp_ledger_strerror(r.first_rc), it);
      _exit(40);
    }
  }
  _exit(0);
}

static void test_backup_during_growth(void **state)
{
  (void)state;
  /* a few MB of blocks first (with the default map), so that a copy takes
   * long enough to overlap the growth */
  struct fx *f = fx_new();
  struct sp_tx *t = calloc(RACE_PREFILL, sizeof(*t)), *d = calloc(RACE_PREFILL, sizeof(*d));
  assert_true(t && d);
  t[0] = fx_fund_create("sport-2027", "Sport", "sport", NULL, FX_T2027 - 40 * FX_DAY_MS,
                        FX_T2027 + 3650 * FX_DAY_MS, 0);
  for (int b = 0; b < RACE_PREFILL_BLOCKS; b++) {
    for (int i = b ? 0 : 1; i < RACE_PREFILL; i++)
      t[i] = fx_deposit("sport-2027", 1000 + (uint64_t)i);
    for (int i = 0; i < RACE_PREFILL; i++)
      fx_sign_as(f, &f->authority, &t[i], &d[i]);
    fx_commit(f, d, RACE_PREFILL);
    clear_txs_n(d, RACE_PREFILL);
  }
  free(t);
  free(d);
  sp_ledger_close(f->l);
  f->l = NULL;
  char base[64];
  tmpdir(base, sizeof(base));
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    race_child(f, base);
  int st = 0;
  pid_t done = 0;
  for (int i = 0; i < 4500 && done == 0; i++) { /* at most 45 s */
    done = waitpid(pid, &st, WNOHANG);
    if (done == 0)
      sleep_ms(10);
  }
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
  }
  fx_rmrf(base);
  fx_open(f);
  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(f->l, &tip), 0);
  fx_free(f);
  if (done == 0)
    fail_msg("the child did not finish in 45 s (height %llu)", (unsigned long long)tip.height);
  if (WIFSIGNALED(st))
    fail_msg("the child died of signal %d (%s) at height %llu: a backup read the map while it "
             "was being resized",
             WTERMSIG(st), strsignal(WTERMSIG(st)), (unsigned long long)tip.height);
  int code = WEXITSTATUS(st);
  if (code == 40)
    fail_msg("a hot backup failed while the map grew (height %llu)",
             (unsigned long long)tip.height);
  if (code >= 10 && code < 40)
    fail_msg("a block failed (code %d: %s) at height %llu before any backup went wrong", code,
             code == 14 ? "propose: storage error" : code == 18 ? "apply: storage error"
                                                                 : "see race_block",
             (unsigned long long)tip.height);
  if (code != 0)
    fail_msg("the child failed with exit code %d at height %llu", code,
             (unsigned long long)tip.height);
  assert_int_equal(tip.height, RACE_PREFILL_BLOCKS + RACE_ITERS);
}

/* ========================================================= 5. open errors */

static void test_open_errors(void **state)
{
  (void)state;
  assert_int_equal(sp_crypto_init(), 0);
  char dir[64], p[128];
  tmpdir(dir, sizeof(dir));
  struct sp_ledger *l = (struct sp_ledger *)&l; /* must stay untouched */
  struct sp_ledger *const sentinel = l;
  struct sp_ledger_opts o = {.no_sync = true, .verify_threads = 1};
  char dp0[160];

  /* a directory that does not exist */
  snprintf(p, sizeof(p), "%s/missing", dir);
  assert_int_equal(sp_ledger_open(&l, p, &o), SP_LE_NOLEDGER);
  assert_ptr_equal(l, sentinel);
  struct stat sb;
  assert_int_equal(stat(p, &sb), -1); /* and opening did not create it */

  /* an empty directory */
  snprintf(p, sizeof(p), "%s/empty", dir);
  assert_int_equal(mkdir(p, 0700), 0);
  assert_int_equal(sp_ledger_open(&l, p, &o), SP_LE_NOLEDGER);
  assert_ptr_equal(l, sentinel);
  snprintf(dp0, sizeof(dp0), "%s/data.mdb", p);
  assert_int_equal(stat(dp0, &sb), -1); /* nothing created there either */

  /* a directory with garbage where the store should be */
  snprintf(p, sizeof(p), "%s/junk", dir);
  assert_int_equal(mkdir(p, 0700), 0);
  char dp[160];
  snprintf(dp, sizeof(dp), "%s/data.mdb", p);
  int fd = open(dp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  uint8_t junk[16384];
  for (size_t i = 0; i < sizeof(junk); i++)
    junk[i] = (uint8_t)(i * 131 + 7);
  assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
  close(fd);
  int rc = sp_ledger_open(&l, p, &o);
  assert_true(rc == SP_LE_CORRUPT || rc == SP_LE_STORE);
  assert_ptr_equal(l, sentinel);

  /* creating twice */
  struct fx *f = fx_new(); /* for its genesis */
  snprintf(p, sizeof(p), "%s/twice", dir);
  assert_int_equal(sp_ledger_create(p, f->genesis.data, f->genesis.len, &o), 0);
  assert_int_equal(sp_ledger_create(p, f->genesis.data, f->genesis.len, &o), SP_LE_EXISTS);
  assert_int_equal(sp_ledger_open(&l, p, &o), 0);
  struct sp_tip tip;
  assert_int_equal(sp_ledger_tip(l, &tip), 0);
  assert_int_equal(tip.height, 0);
  sp_ledger_close(l);
  l = sentinel;
  /* also where a ledger has blocks: untouched */
  assert_int_equal(sp_ledger_create(f->dir, f->genesis.data, f->genesis.len, &o), SP_LE_EXISTS);

  /* garbage genesis: refused, and nothing is left that opens */
  static const uint8_t bad[] = {0x93, 0x01, 0x02, 0x03};
  snprintf(p, sizeof(p), "%s/badgen", dir);
  assert_int_equal(sp_ledger_create(p, bad, sizeof(bad), &o), SP_LE_GENESIS);
  assert_int_equal(sp_ledger_open(&l, p, &o), SP_LE_NOLEDGER);
  assert_ptr_equal(l, sentinel);
  /* the same into an existing empty directory */
  snprintf(p, sizeof(p), "%s/empty2", dir);
  assert_int_equal(mkdir(p, 0700), 0);
  assert_int_equal(sp_ledger_create(p, bad, sizeof(bad), &o), SP_LE_GENESIS);
  assert_int_equal(sp_ledger_open(&l, p, &o), SP_LE_NOLEDGER);
  /* a valid genesis with one byte more, and one byte less */
  struct sp_buf g2;
  sp_buf_init(&g2, 1 << 20);
  sp_buf_append(&g2, f->genesis.data, f->genesis.len);
  uint8_t zero = 0;
  sp_buf_append(&g2, &zero, 1);
  snprintf(p, sizeof(p), "%s/badgen2", dir);
  assert_int_equal(sp_ledger_create(p, g2.data, g2.len, &o), SP_LE_GENESIS);
  assert_int_equal(sp_ledger_create(p, g2.data, g2.len - 2, &o), SP_LE_GENESIS);
  assert_int_equal(sp_ledger_open(&l, p, &o), SP_LE_NOLEDGER);
  sp_buf_free(&g2);
  /* and the directory can still take a good one */
  assert_int_equal(sp_ledger_create(p, f->genesis.data, f->genesis.len, &o), 0);
  assert_int_equal(sp_ledger_open(&l, p, &o), 0);
  assert_memory_equal(sp_ledger_chain_id(l), f->chain_id, HL);
  sp_ledger_close(l);
  fx_free(f);
  fx_rmrf(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crash_safety),
      cmocka_unit_test(test_crash_safety_groups),
      cmocka_unit_test(test_tamper_tx_signature),
      cmocka_unit_test(test_tamper_tx_body),
      cmocka_unit_test(test_tamper_balance),
      cmocka_unit_test(test_tamper_balance_deleted),
      cmocka_unit_test(test_tamper_balance_inserted),
      cmocka_unit_test(test_tamper_account),
      cmocka_unit_test(test_tamper_state_digest),
      cmocka_unit_test(test_tamper_tip_record),
      cmocka_unit_test(test_tip_without_certificate),
      cmocka_unit_test(test_tamper_indexes),
      cmocka_unit_test(test_other_layout_refused),
      cmocka_unit_test(test_backup),
      cmocka_unit_test(test_backup_concurrent),
      cmocka_unit_test(test_map_growth),
      cmocka_unit_test(test_backup_during_growth),
      cmocka_unit_test(test_open_errors),
  };
  return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
