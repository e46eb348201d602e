/* Deterministic simulator for the consensus core (node/consensus).
 *
 * One seed gives one exact run: every random choice comes from our own
 * xoshiro256** generator, time is a virtual clock (a binary heap of events
 * ordered by (time, sequence number)), there are no threads and no wall
 * clock. The simulator drives N copies of the core over a virtual network
 * that delays, drops, duplicates and reorders messages, cuts the nodes into
 * partitions that heal, crashes and restarts validators (keeping only their
 * "disk": the last PERSISTed snapshot and the committed chain), and lets up
 * to f = (n-1)/3 Byzantine validators equivocate, vote for garbage or stay
 * silent (they sign with the raw proto API, not through a core).
 *
 * Checked on every run:
 *   safety    no two honest validators commit different blocks at one
 *             height; every decision's certificate passes sp_cert_verify and
 *             names the decided block; decided blocks are valid; an honest
 *             validator never signs two different votes (or proposals) for
 *             one height/round/step, across crashes too; evidence only ever
 *             names Byzantine validators.
 *   liveness  after the heal time (no more partitions, drops or crashes,
 *             every node back up) every honest node reaches the goal height
 *             within a bounded virtual time.
 *
 * Usage: sim [--seed S] [--seeds K] [--validators N[,N...]] [--heights H]
 *            [--faults SPEC] [--disable-lock] [--expect-violation]
 *            [--keep-going] [--progress P] [--verbose]
 * A failure prints the seed, N, the fault settings and a replay command.
 * tests/sim/README.md describes the model and the bugs it found. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus.h"
#include "sp/crypto.h"
#include "sp/error.h"
#include "sp/objects.h"

#define MAXN                   64
#define BLK_LEN                72
#define GOSSIP_MS              300 /* relay / status tick */
#define SYNC_LAG_MS            500 /* block sync is slower than live votes */
#define APPLY_MIN_MS           10  /* a decided block takes this long to apply ... */
#define APPLY_MAX_MS           100 /* ... up to this; then the next height starts */
#define POST_DELAY_MAX         30  /* network delay bound after the heal, ms */
#define LIVENESS_BASE_MS       60000
#define LIVENESS_PER_HEIGHT_MS 5000
#define MAX_EVENTS             4000000u

/* ================================================================ util */

static void *xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  if (p == NULL) {
    fprintf(stderr, "sim: out of memory\n");
    exit(2);
  }
  return p;
}

static void *xcalloc(size_t n, size_t sz)
{
  void *p = calloc(n ? n : 1, sz ? sz : 1);
  if (p == NULL) {
    fprintf(stderr, "sim: out of memory\n");
    exit(2);
  }
  return p;
}

static void *xrealloc(void *p, size_t n)
{
  void *q = realloc(p, n ? n : 1);
  if (q == NULL) {
    fprintf(stderr, "sim: out of memory\n");
    exit(2);
  }
  return q;
}

static uint8_t *xdup(const uint8_t *p, size_t n)
{
  uint8_t *d = xmalloc(n);
  if (n)
    memcpy(d, p, n);
  return d;
}

static void put64(uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static uint32_t get32(const uint8_t *p)
{
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static const char *hex8(const uint8_t *h, char buf[17])
{
  static const char d[] = "0123456789abcdef";
  for (int i = 0; i < 8; i++) {
    buf[2 * i] = d[h[i] >> 4];
    buf[2 * i + 1] = d[h[i] & 15];
  }
  buf[16] = 0;
  return buf;
}

/* ================================================================ PRNG */

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t mix64(uint64_t x)
{
  return splitmix64(&x);
}

struct rng {
  uint64_t s[4];
};

static void rng_seed(struct rng *r, uint64_t seed)
{
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static uint64_t rng_u64(struct rng *r) /* xoshiro256** */
{
  uint64_t *s = r->s;
  uint64_t res = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return res;
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
  return n ? rng_u64(r) % n : 0;
}

static uint64_t rng_between(struct rng *r, uint64_t lo, uint64_t hi) /* inclusive */
{
  return hi <= lo ? lo : lo + rng_below(r, hi - lo + 1);
}

static bool rng_ppm(struct rng *r, uint32_t ppm)
{
  return rng_below(r, 1000000) < ppm;
}

/* ========================================================= hash tables */

/* Global bookkeeping: fixed 48-byte keys (six u64 words) to a value and an
 * optional owned byte string. Lookups only: iteration order never matters. */
#define HKEY 48

struct hent {
  bool used;
  uint8_t key[HKEY];
  uint64_t val;
  uint8_t *data;
  size_t len;
};

struct htab {
  struct hent *e;
  size_t cap, n;
};

static void mkkey(uint8_t k[HKEY], uint64_t a, uint64_t b, uint64_t c, uint64_t d,
                  uint64_t e, uint64_t f)
{
  put64(k, a);
  put64(k + 8, b);
  put64(k + 16, c);
  put64(k + 24, d);
  put64(k + 32, e);
  put64(k + 40, f);
}

static uint64_t hkey_hash(const uint8_t *k)
{
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < HKEY; i++)
    h = (h ^ k[i]) * 1099511628211ull;
  return mix64(h);
}

static struct hent *htab_slot(struct hent *e, size_t cap, const uint8_t *k)
{
  size_t i = (size_t)hkey_hash(k) & (cap - 1);
  while (e[i].used && memcmp(e[i].key, k, HKEY) != 0)
    i = (i + 1) & (cap - 1);
  return &e[i];
}

static struct hent *htab_find(struct htab *t, const uint8_t *k)
{
  if (t->cap == 0)
    return NULL;
  struct hent *x = htab_slot(t->e, t->cap, k);
  return x->used ? x : NULL;
}

static struct hent *htab_get(struct htab *t, const uint8_t *k, bool *created)
{
  if (2 * (t->n + 1) > t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 64;
    struct hent *e = xcalloc(cap, sizeof(*e));
    for (size_t i = 0; i < t->cap; i++)
      if (t->e[i].used)
        *htab_slot(e, cap, t->e[i].key) = t->e[i];
    free(t->e);
    t->e = e;
    t->cap = cap;
  }
  struct hent *x = htab_slot(t->e, t->cap, k);
  *created = !x->used;
  if (!x->used) {
    x->used = true;
    memcpy(x->key, k, HKEY);
    t->n++;
  }
  return x;
}

static void htab_free(struct htab *t)
{
  for (size_t i = 0; i < t->cap; i++)
    if (t->e[i].used)
      free(t->e[i].data);
  free(t->e);
  memset(t, 0, sizeof(*t));
}

/* Per-node table of messages (by 64-bit key): has the node got it, how many
 * copies are in flight to it. Models the peer state a gossip layer keeps. */
struct ment {
  uint64_t key; /* 0 = empty */
  uint64_t height;
  uint32_t inflight;
  bool seen;
};

struct mtab {
  struct ment *e;
  size_t cap, n;
};

static struct ment *mtab_slot(struct ment *e, size_t cap, uint64_t key)
{
  size_t i = (size_t)mix64(key) & (cap - 1);
  while (e[i].key && e[i].key != key)
    i = (i + 1) & (cap - 1);
  return &e[i];
}

static struct ment *mtab_find(struct mtab *t, uint64_t key)
{
  if (t->cap == 0)
    return NULL;
  struct ment *x = mtab_slot(t->e, t->cap, key);
  return x->key ? x : NULL;
}

static void mtab_rehash(struct mtab *t, size_t cap, uint64_t min_height)
{
  struct ment *e = xcalloc(cap, sizeof(*e));
  size_t n = 0;
  for (size_t i = 0; i < t->cap; i++)
    if (t->e[i].key && t->e[i].height >= min_height) {
      *mtab_slot(e, cap, t->e[i].key) = t->e[i];
      n++;
    }
  free(t->e);
  t->e = e;
  t->cap = cap;
  t->n = n;
}

static struct ment *mtab_get(struct mtab *t, uint64_t key, uint64_t height)
{
  if (2 * (t->n + 1) > t->cap)
    mtab_rehash(t, t->cap ? 2 * t->cap : 64, 0);
  struct ment *x = mtab_slot(t->e, t->cap, key);
  if (!x->key) {
    x->key = key;
    x->height = height;
    t->n++;
  }
  return x;
}

static void mtab_prune(struct mtab *t, uint64_t min_height)
{
  if (t->cap)
    mtab_rehash(t, t->cap, min_height);
}

static void mtab_free(struct mtab *t)
{
  free(t->e);
  memset(t, 0, sizeof(*t));
}

/* ============================================================ messages */

enum { MSG_PROP = 1, MSG_VOTE = 2 };

struct msg {
  int refs;
  int kind;
  uint64_t key;
  uint64_t height;
  uint32_t round;
  int from; /* original signer's index */
  struct sp_proposal p;
  struct sp_vote v;
  uint8_t *block;
  size_t len;
};

static uint64_t msg_key(const uint8_t sig[SP_SIG_LEN], const uint8_t *block, size_t len)
{
  uint64_t k = get64(sig) ^ rotl(get64(sig + 8), 17);
  if (block) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
      h = (h ^ block[i]) * 1099511628211ull;
    k ^= mix64(h ^ len);
  }
  return k ? k : 1;
}

static struct msg *msg_vote(const struct sp_vote *v, int from)
{
  struct msg *m = xcalloc(1, sizeof(*m));
  m->refs = 1;
  m->kind = MSG_VOTE;
  m->v = *v;
  m->height = v->height;
  m->round = v->round;
  m->from = from;
  m->key = msg_key(v->sig, NULL, 0) ^ v->type;
  if (!m->key)
    m->key = 1;
  return m;
}

static struct msg *msg_prop(const struct sp_proposal *p, const uint8_t *b, size_t n,
                            int from)
{
  struct msg *m = xcalloc(1, sizeof(*m));
  m->refs = 1;
  m->kind = MSG_PROP;
  m->p = *p;
  m->block = xdup(b, n);
  m->len = n;
  m->height = p->height;
  m->round = p->round;
  m->from = from;
  m->key = msg_key(p->sig, b, n);
  return m;
}

static struct msg *msg_ref(struct msg *m)
{
  m->refs++;
  return m;
}

static void msg_unref(struct msg *m)
{
  if (m && --m->refs == 0) {
    free(m->block);
    free(m);
  }
}

/* ============================================================== config */

enum byz_mode { BYZ_SILENT = 0, BYZ_EQUIV = 1, BYZ_GARBAGE = 2, BYZ_MIXED = 3 };
static const char *const byz_names[] = {"silent", "equiv", "garbage", "mixed"};

struct faults {
  uint32_t byz;      /* Byzantine validators, at most f */
  uint32_t byz_mode; /* enum byz_mode */
  uint32_t drop_ppm, dup_ppm;
  uint32_t delay_lo, delay_hi; /* ms, before the heal */
  uint32_t slow_ppm, slow_hi;  /* share of messages with a long delay, up to slow_hi ms */
  uint32_t parts;              /* partition episodes */
  uint32_t crashes;            /* crash episodes */
  uint32_t pcrash_ppm;         /* share of crashes that strike right after a PERSIST */
  uint32_t heal;               /* ms: end of all faults */
};

static void faults_format(const struct faults *f, char *out, size_t n)
{
  snprintf(out, n,
           "byz=%" PRIu32 ",mode=%s,drop=%" PRIu32 ",dup=%" PRIu32 ",delay=%" PRIu32
           "-%" PRIu32 ",slow=%" PRIu32 "/%" PRIu32 ",parts=%" PRIu32 ",crashes=%" PRIu32
           ",pcrash=%" PRIu32 ",heal=%" PRIu32,
           f->byz, byz_names[f->byz_mode & 3], f->drop_ppm, f->dup_ppm, f->delay_lo,
           f->delay_hi, f->slow_ppm, f->slow_hi, f->parts, f->crashes, f->pcrash_ppm,
           f->heal);
}

/* Parse "key=value,..." (the format above; missing keys are 0/none, and
 * "none" alone means no faults at all). 0 or -1 with a message. */
static int faults_parse(const char *spec, struct faults *f)
{
  memset(f, 0, sizeof(*f));
  f->delay_lo = 1;
  f->delay_hi = 10;
  f->heal = 1000;
  if (strcmp(spec, "none") == 0)
    return 0;
  char *copy = (char *)xdup((const uint8_t *)spec, strlen(spec) + 1), *save = NULL;
  int rc = 0;
  for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0;
       tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq) {
      rc = -1;
      break;
    }
    *eq = 0;
    const char *k = tok, *v = eq + 1;
    unsigned long a = strtoul(v, NULL, 10);
    if (strcmp(k, "byz") == 0)
      f->byz = (uint32_t)a;
    else if (strcmp(k, "mode") == 0) {
      rc = -1;
      for (uint32_t i = 0; i < 4; i++)
        if (strcmp(v, byz_names[i]) == 0) {
          f->byz_mode = i;
          rc = 0;
        }
    } else if (strcmp(k, "drop") == 0)
      f->drop_ppm = (uint32_t)a;
    else if (strcmp(k, "dup") == 0)
      f->dup_ppm = (uint32_t)a;
    else if (strcmp(k, "delay") == 0) {
      const char *d = strchr(v, '-');
      f->delay_lo = (uint32_t)a;
      f->delay_hi = d ? (uint32_t)strtoul(d + 1, NULL, 10) : (uint32_t)a;
    } else if (strcmp(k, "slow") == 0) {
      const char *d = strchr(v, '/');
      f->slow_ppm = (uint32_t)a;
      f->slow_hi = d ? (uint32_t)strtoul(d + 1, NULL, 10) : 0;
    } else if (strcmp(k, "parts") == 0)
      f->parts = (uint32_t)a;
    else if (strcmp(k, "crashes") == 0)
      f->crashes = (uint32_t)a;
    else if (strcmp(k, "pcrash") == 0)
      f->pcrash_ppm = (uint32_t)a;
    else if (strcmp(k, "heal") == 0)
      f->heal = (uint32_t)a;
    else
      rc = -1;
  }
  free(copy);
  if (f->delay_lo < 1)
    f->delay_lo = 1;
  if (f->delay_hi < f->delay_lo)
    f->delay_hi = f->delay_lo;
  if (f->slow_hi < f->delay_hi)
    f->slow_hi = f->delay_hi;
  return rc;
}

/* The fault settings of a seed: each kind of fault is on in about half the
 * runs, so the sweep covers calm runs, single faults and combinations. */
static void faults_derive(uint64_t seed, uint32_t n, struct faults *f)
{
  struct rng r;
  rng_seed(&r, seed * 0x2545F4914F6CDD1Dull + n * 0x9E3779B97F4A7C15ull + 0xFA17);
  uint32_t fmax = (n - 1) / 3;
  memset(f, 0, sizeof(*f));
  f->heal = (uint32_t)rng_between(&r, 500, 4000);
  f->delay_lo = (uint32_t)rng_between(&r, 1, 10);
  f->delay_hi = f->delay_lo + (uint32_t)rng_between(&r, 0, 60);
  f->slow_hi = f->delay_hi;
  if (rng_below(&r, 2)) {
    f->slow_ppm = (uint32_t)rng_between(&r, 10000, 200000);
    f->slow_hi = (uint32_t)rng_between(&r, 200, 1500);
  }
  if (rng_below(&r, 2))
    f->drop_ppm = (uint32_t)rng_between(&r, 10000, 300000);
  if (rng_below(&r, 3) == 0)
    f->dup_ppm = (uint32_t)rng_between(&r, 10000, 200000);
  if (n > 1 && rng_below(&r, 2))
    f->parts = (uint32_t)rng_between(&r, 1, 4);
  if (rng_below(&r, 2)) {
    f->crashes = (uint32_t)rng_between(&r, 1, n > 1 ? 3 : 2);
    f->pcrash_ppm = (uint32_t)rng_below(&r, 2) ? 500000 : 0;
  }
  if (fmax > 0 && rng_below(&r, 2)) {
    f->byz = (uint32_t)rng_between(&r, 1, fmax);
    f->byz_mode = (uint32_t)rng_below(&r, 4);
  }
}

/* ============================================================== the sim */

enum ev_type {
  EV_DELIVER = 1,
  EV_TIMEOUT,
  EV_CRASH,
  EV_RESTART,
  EV_PART_START,
  EV_PART_END,
  EV_HEAL,
  EV_GOSSIP,
  EV_SYNC,
  EV_FETCH,
  EV_START
};

struct event {
  uint64_t t, seq; /* order: time, then sequence number */
  uint8_t type;
  uint8_t step;   /* TIMEOUT */
  uint16_t node;  /* the node it happens to */
  uint32_t inc;   /* the node's incarnation (TIMEOUT, SYNC, FETCH, START);
                   * the sender (DELIVER); the downtime in ms (CRASH) */
  uint32_t round; /* TIMEOUT, FETCH */
  uint64_t height;
  struct msg *m;             /* DELIVER: a reference */
  uint8_t hash[SP_HASH_LEN]; /* FETCH */
};

struct sim;

struct node {
  struct sim *s;
  int idx;
  bool byz;
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN];
  /* honest: the core (NULL while down) */
  struct sp_cons *core;
  bool up;
  uint32_t inc; /* incarnation: invalidates timeouts of a crashed core */
  /* disk: survives crashes */
  uint8_t *snap;
  size_t snap_len;
  uint8_t (*chain)[SP_HASH_LEN]; /* chain[h-1] = hash of block h */
  size_t chain_len, chain_cap;
  /* memory: lost on a crash */
  struct msg **log; /* messages of heights >= the current one, for relay */
  size_t nlog, caplog;
  struct mtab mt;
  bool sync_pending;
  bool crash_armed; /* crash right after the next PERSIST */
  uint32_t armed_down;
  /* Byzantine */
  uint64_t byz_max_h;
};

struct commit_rec {
  bool have;
  int by; /* first honest node that decided it */
  uint8_t hash[SP_HASH_LEN];
  uint8_t *block;
  size_t len;
  struct sp_cert cert;
};

/* The lock attack the Byzantine validators run when one of them proposes
 * (see byz_propose): honest nodes split into X (see a polka for v, precommit
 * it; only `victim` also gets the Byzantine precommits and commits v) and Y
 * (get block w, see no polka). In the rounds after, the Byzantines vote for
 * whatever is proposed; only the lock keeps X from helping to commit it. */
struct attack {
  bool on;
  uint64_t h;
  uint32_t r;
  int victim;
  bool in_x[MAXN];
};

struct totals {
  uint64_t seeds, heights, messages, vtime, max_vtime, violations, safety;
};

struct sim {
  uint64_t seed;
  uint32_t n, f, heights;
  bool no_lock, verbose;
  struct faults fl;
  struct rng rng;
  uint64_t now, seq;
  struct event *heap;
  size_t nheap, capheap;
  struct node nodes[MAXN];
  struct sp_genesis g;
  uint8_t chain_id[SP_HASH_LEN];
  struct sp_cons_timeouts to;
  struct sp_cons_actions acts;
  struct commit_rec *commits; /* index = height */
  size_t ncommits;
  struct htab blocks, hvotes, hprops, byz_acted, certs;
  struct attack atk;
  int group[MAXN];
  bool healed;
  uint64_t goal, deadline;
  uint64_t delivered, events;
  bool failed, safety;
  char why[2048];
};

__attribute__((format(printf, 3, 4))) static void violation(struct sim *s, bool safety,
                                                            const char *fmt, ...)
{
  if (s->failed)
    return;
  s->failed = true;
  s->safety = safety;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->why, sizeof(s->why), fmt, ap);
  va_end(ap);
}

__attribute__((format(printf, 2, 3))) static void trace(struct sim *s, const char *fmt,
                                                        ...)
{
  if (!s->verbose)
    return;
  printf("%8" PRIu64 " ", s->now);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

static const char *step_name(int st)
{
  return st == SP_STEP_PROPOSE   ? "propose"
         : st == SP_STEP_PREVOTE ? "prevote"
                                 : "precommit";
}

static const char *vote_name(uint32_t t)
{
  return t == SP_VOTE_PREVOTE     ? "prevote"
         : t == SP_VOTE_PRECOMMIT ? "precommit"
                                  : "vote?";
}

/* ---------------------------------------------------------- event heap */

static bool ev_less(const struct event *a, const struct event *b)
{
  return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void push_event(struct sim *s, struct event *e)
{
  e->seq = s->seq++;
  if (s->nheap == s->capheap) {
    s->capheap = s->capheap ? 2 * s->capheap : 256;
    s->heap = xrealloc(s->heap, s->capheap * sizeof(*s->heap));
  }
  size_t i = s->nheap++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!ev_less(e, &s->heap[p]))
      break;
    s->heap[i] = s->heap[p];
    i = p;
  }
  s->heap[i] = *e;
}

static struct event pop_event(struct sim *s)
{
  struct event top = s->heap[0];
  struct event last = s->heap[--s->nheap];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= s->nheap)
      break;
    if (c + 1 < s->nheap && ev_less(&s->heap[c + 1], &s->heap[c]))
      c++;
    if (!ev_less(&s->heap[c], &last))
      break;
    s->heap[i] = s->heap[c];
    i = c;
  }
  if (s->nheap)
    s->heap[i] = last;
  return top;
}

static void at(struct sim *s, uint64_t t, uint8_t type, int node, struct event *tmpl)
{
  struct event e;
  if (tmpl)
    e = *tmpl;
  else
    memset(&e, 0, sizeof(e));
  e.t = t;
  e.type = type;
  e.node = (uint16_t)node;
  push_event(s, &e);
}

/* ------------------------------------------------------- application */

static uint64_t chain_height(const struct node *nd)
{
  return nd->chain_len;
}

static const uint8_t *prev_hash(const struct node *nd, uint64_t height)
{
  static const uint8_t zero[SP_HASH_LEN];
  return height <= 1 ? zero : nd->chain[height - 2];
}

/* Block: "SPB1" | height u64 | round u32 | proposer u32 | prev hash |
 * 16-byte payload | variant u32. The payload is a function of the seed and
 * the other fields, so the propose callback is deterministic. */
static void make_block(const struct sim *s, uint8_t out[BLK_LEN], uint64_t height,
                       uint32_t rnd, uint32_t proposer, const uint8_t prev[SP_HASH_LEN],
                       uint32_t variant)
{
  memcpy(out, "SPB1", 4);
  put64(out + 4, height);
  put32(out + 12, rnd);
  put32(out + 16, proposer);
  memcpy(out + 20, prev, SP_HASH_LEN);
  uint64_t x = s->seed ^ mix64(height) ^ mix64((uint64_t)rnd << 20 | proposer) ^
               mix64(variant + 77);
  put64(out + 52, splitmix64(&x));
  put64(out + 60, splitmix64(&x));
  put32(out + 68, variant);
}

static int app_block_id(void *ctx, const uint8_t *block, size_t n,
                        uint8_t out[SP_HASH_LEN])
{
  const struct node *nd = ctx;
  if (n < 4 || memcmp(block, "SPB1", 4) != 0)
    return -1; /* not a block at all */
  return sp_hash_dom(out, SP_DOM_BLOCK, nd->s->chain_id, block, n) == SP_OK ? 0 : -1;
}

static int sim_block_id(const struct sim *s, const uint8_t *block, size_t n,
                        uint8_t out[SP_HASH_LEN])
{
  return app_block_id((void *)&s->nodes[0], block, n, out);
}

static int app_propose(void *ctx, uint64_t height, uint32_t rnd, struct sp_buf *out)
{
  struct node *nd = ctx;
  if (height != chain_height(nd) + 1)
    return SP_E_STATE;
  uint8_t b[BLK_LEN];
  make_block(nd->s, b, height, rnd, (uint32_t)nd->idx, prev_hash(nd, height), 0);
  sp_buf_append(out, b, sizeof(b));
  return out->err;
}

static bool app_valid(void *ctx, uint64_t height, const uint8_t *block, size_t n)
{
  const struct node *nd = ctx;
  return n == BLK_LEN && memcmp(block, "SPB1", 4) == 0 && get64(block + 4) == height &&
         height == chain_height(nd) + 1 && get32(block + 16) < nd->s->n &&
         memcmp(block + 20, prev_hash(nd, height), SP_HASH_LEN) == 0;
}

/* -------------------------------------------------------------- network */

static bool before_heal(const struct sim *s)
{
  return !s->healed;
}

static bool reachable(const struct sim *s, int a, int b)
{
  return s->healed || s->group[a] == s->group[b];
}

static uint64_t net_delay(struct sim *s)
{
  if (!before_heal(s))
    return rng_between(&s->rng, 1, POST_DELAY_MAX);
  if (s->fl.slow_ppm && rng_ppm(&s->rng, s->fl.slow_ppm))
    return rng_between(&s->rng, s->fl.delay_hi, s->fl.slow_hi);
  return rng_between(&s->rng, s->fl.delay_lo, s->fl.delay_hi);
}

static void send_one(struct sim *s, int from, int to, struct msg *m)
{
  if (from == to)
    return;
  int copies = 1;
  if (before_heal(s)) {
    if (!reachable(s, from, to) || (s->fl.drop_ppm && rng_ppm(&s->rng, s->fl.drop_ppm)))
      return;
    if (s->fl.dup_ppm && rng_ppm(&s->rng, s->fl.dup_ppm))
      copies = 2;
  }
  struct node *dst = &s->nodes[to];
  for (int c = 0; c < copies; c++) {
    struct event e;
    memset(&e, 0, sizeof(e));
    e.m = msg_ref(m);
    e.inc = (uint32_t)from;
    if (!dst->byz && dst->up)
      mtab_get(&dst->mt, m->key, m->height)->inflight++;
    at(s, s->now + net_delay(s), EV_DELIVER, to, &e);
  }
}

static void broadcast(struct sim *s, int from, struct msg *m)
{
  for (uint32_t j = 0; j < s->n; j++)
    send_one(s, from, (int)j, m);
}

/* ------------------------------------------------------------ invariants */

static void check_honest_vote(struct sim *s, const struct node *nd,
                              const struct sp_vote *v)
{
  uint8_t k[HKEY];
  mkkey(k, 'V', (uint64_t)nd->idx, v->height, v->round, v->type, 0);
  bool created;
  struct hent *e = htab_get(&s->hvotes, k, &created);
  uint8_t tgt[SP_HASH_LEN + 1] = {0};
  tgt[0] = v->has_block;
  if (v->has_block)
    memcpy(tgt + 1, v->block, SP_HASH_LEN);
  if (created) {
    e->data = xdup(tgt, sizeof(tgt));
    e->len = sizeof(tgt);
    return;
  }
  if (memcmp(e->data, tgt, sizeof(tgt)) != 0)
    violation(s, true,
              "honest validator %d signed two different %ss at height %" PRIu64
              " round %" PRIu32 " (equivocation, e.g. after a restart)",
              nd->idx, vote_name(v->type), v->height, v->round);
  /* (the signature itself is checked by every receiving core) */
  if (memcmp(v->validator, nd->pk, SP_PK_LEN) != 0)
    violation(s, true, "honest validator %d emitted a vote under another key", nd->idx);
}

static void check_honest_prop(struct sim *s, const struct node *nd,
                              const struct sp_proposal *p, const uint8_t *block,
                              size_t len)
{
  uint8_t k[HKEY], id[SP_HASH_LEN];
  mkkey(k, 'P', (uint64_t)nd->idx, p->height, p->round, 0, 0);
  bool created;
  struct hent *e = htab_get(&s->hprops, k, &created);
  if (created) {
    e->data = xdup(p->block, SP_HASH_LEN);
    e->len = SP_HASH_LEN;
  } else if (memcmp(e->data, p->block, SP_HASH_LEN) != 0) {
    violation(s, true,
              "honest validator %d proposed two different blocks at height %" PRIu64
              " round %" PRIu32,
              nd->idx, p->height, p->round);
  }
  if (sim_block_id(s, block, len, id) != 0 || memcmp(id, p->block, SP_HASH_LEN) != 0 ||
      memcmp(p->proposer, nd->pk, SP_PK_LEN) != 0 ||
      sp_cons_proposer(nd->core, p->height, p->round) != (uint32_t)nd->idx)
    violation(s, true,
              "honest validator %d emitted a malformed proposal at height %" PRIu64
              " round %" PRIu32,
              nd->idx, p->height, p->round);
}

static void check_evidence(struct sim *s, const struct node *nd,
                           const struct sp_cons_action *a)
{
  const struct sp_vote *v1 = &a->vote, *v2 = &a->vote2;
  bool same_target = v1->has_block == v2->has_block &&
                     (!v1->has_block || memcmp(v1->block, v2->block, SP_HASH_LEN) == 0);
  if (sp_vote_verify(v1, s->chain_id) != SP_OK ||
      sp_vote_verify(v2, s->chain_id) != SP_OK ||
      memcmp(v1->validator, v2->validator, SP_PK_LEN) != 0 || v1->height != v2->height ||
      v1->round != v2->round || v1->type != v2->type || same_target) {
    violation(s, false,
              "node %d emitted evidence that is not two conflicting signed votes",
              nd->idx);
    return;
  }
  for (uint32_t i = 0; i < s->n; i++)
    if (memcmp(s->nodes[i].pk, v1->validator, SP_PK_LEN) == 0 && !s->nodes[i].byz)
      violation(s, true,
                "node %d emitted evidence against honest validator %" PRIu32
                " (height %" PRIu64 " round %" PRIu32 ")",
                nd->idx, i, v1->height, v1->round);
  trace(s, "node %d: evidence against a Byzantine validator h%" PRIu64 " r%" PRIu32,
        nd->idx, v1->height, v1->round);
}

static void log_prune(struct node *nd, uint64_t min_height)
{
  size_t k = 0;
  for (size_t i = 0; i < nd->nlog; i++) {
    if (nd->log[i]->height >= min_height)
      nd->log[k++] = nd->log[i];
    else
      msg_unref(nd->log[i]);
  }
  nd->nlog = k;
  mtab_prune(&nd->mt, min_height);
}

static void log_clear(struct node *nd)
{
  for (size_t i = 0; i < nd->nlog; i++)
    msg_unref(nd->log[i]);
  nd->nlog = 0;
  mtab_free(&nd->mt);
}

/* Remember a message the node has (sent or received). false: already had it. */
static bool log_add(struct node *nd, struct msg *m)
{
  struct ment *e = mtab_get(&nd->mt, m->key, m->height);
  if (e->seen)
    return false;
  e->seen = true;
  if (nd->nlog == nd->caplog) {
    nd->caplog = nd->caplog ? 2 * nd->caplog : 64;
    nd->log = xrealloc(nd->log, nd->caplog * sizeof(*nd->log));
  }
  nd->log[nd->nlog++] = msg_ref(m);
  return true;
}

/* The node decides block `data` at its next height with certificate cert.
 * Checks everything a decision must satisfy, then appends to its chain. */
static bool decide(struct sim *s, struct node *nd, const uint8_t *data, size_t len,
                   const struct sp_cert *cert, const uint8_t hash[SP_HASH_LEN],
                   const char *how)
{
  uint64_t h = chain_height(nd) + 1;
  uint8_t id[SP_HASH_LEN];
  char b1[17], b2[17];
  if (cert->height != h) {
    violation(s, true,
              "node %d: %s at height %" PRIu64 " but its chain expects height %" PRIu64,
              nd->idx, how, cert->height, h);
    return false;
  }
  if (sim_block_id(s, data, len, id) != 0 || memcmp(id, hash, SP_HASH_LEN) != 0 ||
      memcmp(cert->block, hash, SP_HASH_LEN) != 0) {
    violation(s, true,
              "node %d: %s at height %" PRIu64 ": certificate/hash do not name the block",
              nd->idx, how, h);
    return false;
  }
  /* sp_cert_verify, cached by the certificate's hash (sync hands the same
   * certificate to many nodes) */
  uint8_t ch[SP_HASH_LEN], ck[HKEY];
  int rc = sp_cert_hash(cert, ch);
  if (rc == SP_OK) {
    bool created;
    mkkey(ck, 'Z', get64(ch), get64(ch + 8), get64(ch + 16), get64(ch + 24), 0);
    struct hent *x = htab_get(&s->certs, ck, &created);
    if (created)
      x->val = (uint64_t)(int64_t)sp_cert_verify(cert, &s->g, s->chain_id);
    rc = (int)(int64_t)x->val;
  }
  if (rc != SP_OK) {
    violation(s, true,
              "node %d: %s at height %" PRIu64 " round %" PRIu32
              ": certificate fails sp_cert_verify (%d, %" PRIu32 " sigs)",
              nd->idx, how, h, cert->round, rc, cert->n_sigs);
    return false;
  }
  if (!app_valid(nd, h, data, len)) {
    violation(s, true, "node %d: %s at height %" PRIu64 " decided an invalid block",
              nd->idx, how, h);
    return false;
  }
  if (h >= s->ncommits) {
    size_t nc = s->ncommits ? s->ncommits : 16;
    while (nc <= h)
      nc *= 2;
    s->commits = xrealloc(s->commits, nc * sizeof(*s->commits));
    memset(s->commits + s->ncommits, 0, (nc - s->ncommits) * sizeof(*s->commits));
    s->ncommits = nc;
  }
  struct commit_rec *c = &s->commits[h];
  if (c->have && memcmp(c->hash, hash, SP_HASH_LEN) != 0) {
    violation(s, true,
              "SAFETY: honest validators %d and %d committed different blocks at height "
              "%" PRIu64 " (%s… in round %" PRIu32 " vs %s… in round %" PRIu32
              ", via %s)",
              c->by, nd->idx, h, hex8(c->hash, b1), c->cert.round, hex8(hash, b2),
              cert->round, how);
    return false;
  }
  if (!c->have) {
    c->have = true;
    c->by = nd->idx;
    memcpy(c->hash, hash, SP_HASH_LEN);
    c->block = xdup(data, len);
    c->len = len;
    c->cert = *cert;
  }
  if (nd->chain_len == nd->chain_cap) {
    nd->chain_cap = nd->chain_cap ? 2 * nd->chain_cap : 16;
    nd->chain = xrealloc(nd->chain, nd->chain_cap * sizeof(*nd->chain));
  }
  memcpy(nd->chain[nd->chain_len++], hash, SP_HASH_LEN);
  trace(s, "node %d: DECIDE h%" PRIu64 " r%" PRIu32 " %s… via %s", nd->idx, h,
        cert->round, hex8(hash, b1), how);
  log_prune(nd, h + 1);
  return true;
}

/* ---------------------------------------------------- honest node driver */

static void crash_node(struct sim *s, struct node *nd, uint32_t down_ms);
static void exec_actions(struct sim *s, struct node *nd);
static void adversary_watch(struct sim *s, const struct node *nd);

static void check_rc(struct sim *s, const struct node *nd, int rc, const char *what)
{
  if (rc != SP_OK)
    violation(s, false, "node %d: %s returned %d (%s)", nd->idx, what, rc,
              sp_strerror(rc));
}

/* Begin height h on the node's core (after a decision or a sync). */
static void start_height(struct sim *s, struct node *nd, uint64_t h)
{
  sp_cons_actions_clear(&s->acts);
  check_rc(s, nd, sp_cons_start(nd->core, h, &s->acts), "sp_cons_start");
  exec_actions(s, nd);
}

/* The driver applies a decided block, then starts the next height. Until
 * then the core holds the decision and buffers next-height messages. */
static void schedule_start(struct sim *s, struct node *nd, uint64_t h)
{
  struct event e;
  memset(&e, 0, sizeof(e));
  e.inc = nd->inc;
  e.height = h;
  at(s, s->now + rng_between(&s->rng, APPLY_MIN_MS, APPLY_MAX_MS), EV_START, nd->idx, &e);
}

static void request_sync(struct sim *s, struct node *nd)
{
  if (nd->sync_pending || !nd->up)
    return;
  nd->sync_pending = true;
  struct event e;
  memset(&e, 0, sizeof(e));
  e.inc = nd->inc;
  at(s, s->now + net_delay(s) + SYNC_LAG_MS, EV_SYNC, nd->idx, &e);
}

/* Carry out the actions in s->acts, in order, for node nd. */
static void exec_actions(struct sim *s, struct node *nd)
{
  uint64_t next = 0;
  char b1[17];
  struct sp_cons_actions *acts = &s->acts;
  for (size_t k = 0; k < acts->n && nd->up && !s->failed; k++) {
    struct sp_cons_action *a = &acts->v[k];
    switch (a->type) {
    case SP_CA_PERSIST:
      free(nd->snap);
      nd->snap = xdup(a->data, a->len);
      nd->snap_len = a->len;
      if (nd->crash_armed) {
        trace(s, "node %d: crash right after PERSIST (h%" PRIu64 " r%" PRIu32 ")",
              nd->idx, a->height, a->round);
        crash_node(s, nd, nd->armed_down);
      }
      break;
    case SP_CA_PROPOSAL: {
      check_honest_prop(s, nd, &a->proposal, a->data, a->len);
      struct msg *m = msg_prop(&a->proposal, a->data, a->len, nd->idx);
      uint8_t bk[HKEY];
      bool created;
      mkkey(bk, 'K', get64(a->proposal.block), get64(a->proposal.block + 8),
            get64(a->proposal.block + 16), get64(a->proposal.block + 24), 0);
      struct hent *e = htab_get(&s->blocks, bk, &created);
      if (created) {
        e->data = xdup(a->data, a->len);
        e->len = a->len;
      }
      trace(s, "node %d: PROPOSE h%" PRIu64 " r%" PRIu32 " vr%" PRId64 " %s…", nd->idx,
            a->proposal.height, a->proposal.round, a->proposal.valid_round,
            hex8(a->proposal.block, b1));
      log_add(nd, m);
      broadcast(s, nd->idx, m);
      msg_unref(m);
      break;
    }
    case SP_CA_VOTE: {
      check_honest_vote(s, nd, &a->vote);
      struct msg *m = msg_vote(&a->vote, nd->idx);
      trace(s, "node %d: %s h%" PRIu64 " r%" PRIu32 " %s", nd->idx,
            vote_name(a->vote.type), a->vote.height, a->vote.round,
            a->vote.has_block ? hex8(a->vote.block, b1) : "nil");
      log_add(nd, m);
      broadcast(s, nd->idx, m);
      msg_unref(m);
      break;
    }
    case SP_CA_RELAY: {
      /* someone else's vote passed on (the polka behind a lock or a
       * proposal's valid round): no own-vote checks apply */
      struct msg *m = msg_vote(&a->vote, nd->idx);
      trace(s, "node %d: relays %s h%" PRIu64 " r%" PRIu32, nd->idx,
            vote_name(a->vote.type), a->vote.height, a->vote.round);
      log_add(nd, m);
      broadcast(s, nd->idx, m);
      msg_unref(m);
      break;
    }
    case SP_CA_TIMEOUT: {
      struct event e;
      memset(&e, 0, sizeof(e));
      e.inc = nd->inc;
      e.height = a->height;
      e.round = a->round;
      e.step = (uint8_t)a->step;
      at(s, s->now + a->ms, EV_TIMEOUT, nd->idx, &e);
      break;
    }
    case SP_CA_COMMIT:
      if (a->height != chain_height(nd) + 1 || a->cert.height != a->height) {
        violation(s, true,
                  "node %d: COMMIT for height %" PRIu64 " (cert %" PRIu64
                  ") but its chain has %zu blocks",
                  nd->idx, a->height, a->cert.height, nd->chain_len);
        break;
      }
      if (memcmp(a->hash, a->cert.block, SP_HASH_LEN) != 0) {
        violation(s, true, "node %d: COMMIT hash differs from its certificate's block",
                  nd->idx);
        break;
      }
      if (decide(s, nd, a->data, a->len, &a->cert, a->hash, "commit"))
        next = a->height + 1;
      break;
    case SP_CA_REQUEST: {
      trace(s, "node %d: REQUEST h%" PRIu64 " r%" PRIu32 " %s…", nd->idx, a->height,
            a->round, hex8(a->hash, b1));
      struct event e;
      memset(&e, 0, sizeof(e));
      e.inc = nd->inc;
      e.height = a->height;
      e.round = a->round;
      memcpy(e.hash, a->hash, SP_HASH_LEN);
      at(s, s->now + net_delay(s), EV_FETCH, nd->idx, &e);
      break;
    }
    case SP_CA_EVIDENCE: check_evidence(s, nd, a); break;
    default:
      violation(s, false, "node %d: unknown action type %d", nd->idx, (int)a->type);
    }
  }
  sp_cons_actions_clear(acts);
  if (next && nd->up && !s->failed)
    schedule_start(s, nd, next);
  adversary_watch(s, nd);
}

static void new_core(struct sim *s, struct node *nd)
{
  static const struct sp_cons_app tmpl = {
      .propose = app_propose, .valid = app_valid, .block_id = app_block_id};
  struct sp_cons_app app = tmpl;
  app.ctx = nd;
  int rc = sp_cons_new(&nd->core, &s->g, s->chain_id, nd->idx, nd->sk, &app, &s->to);
  if (rc != SP_OK) {
    fprintf(stderr, "sim: sp_cons_new failed: %d\n", rc);
    exit(2);
  }
  if (s->no_lock)
    sp_cons_test_disable_lock(nd->core, true);
}

static void crash_node(struct sim *s, struct node *nd, uint32_t down_ms)
{
  trace(s, "node %d: CRASH (down %" PRIu32 " ms)", nd->idx, down_ms);
  sp_cons_free(nd->core);
  nd->core = NULL;
  nd->up = false;
  nd->inc++;
  nd->sync_pending = false;
  nd->crash_armed = false;
  log_clear(nd);
  uint64_t t = s->now + down_ms;
  if (t > s->fl.heal)
    t = s->fl.heal;
  if (t < s->now)
    t = s->now;
  at(s, t, EV_RESTART, nd->idx, NULL);
}

static void restart_node(struct sim *s, struct node *nd)
{
  if (nd->up)
    return;
  nd->up = true;
  nd->inc++;
  new_core(s, nd);
  trace(s, "node %d: RESTART at height %zu%s", nd->idx, nd->chain_len + 1,
        nd->snap ? " (restoring snapshot)" : "");
  if (nd->snap)
    check_rc(s, nd, sp_cons_restore(nd->core, nd->snap, nd->snap_len), "sp_cons_restore");
  start_height(s, nd, chain_height(nd) + 1);
}

/* ------------------------------------------------------------ Byzantine */

static bool byz_once(struct sim *s, int b, uint64_t h, uint32_t r, uint64_t what,
                     uint64_t tag)
{
  uint8_t k[HKEY];
  bool created;
  mkkey(k, 'B', (uint64_t)b, h, r, what, tag);
  htab_get(&s->byz_acted, k, &created);
  return created;
}

static uint64_t byz_count(struct sim *s, int b, uint64_t h, uint32_t r, uint64_t what)
{
  uint8_t k[HKEY];
  bool created;
  mkkey(k, 'C', (uint64_t)b, h, r, what, 0);
  return htab_get(&s->byz_acted, k, &created)->val++;
}

static void byz_send_vote(struct sim *s, struct node *bn, uint32_t type, uint64_t h,
                          uint32_t r, const uint8_t *target, const bool *to)
{
  struct sp_vote v;
  memset(&v, 0, sizeof(v));
  v.type = type;
  v.height = h;
  v.round = r;
  if (target) {
    v.has_block = true;
    memcpy(v.block, target, SP_HASH_LEN);
  }
  memcpy(v.validator, bn->pk, SP_PK_LEN);
  if (sp_vote_sign(&v, s->chain_id, bn->sk) != SP_OK)
    return;
  struct msg *m = msg_vote(&v, bn->idx);
  for (uint32_t j = 0; j < s->n; j++)
    if (!to || to[j])
      send_one(s, bn->idx, (int)j, m);
  msg_unref(m);
}

static void byz_send_prop(struct sim *s, struct node *bn, uint64_t h, uint32_t r,
                          int64_t vr, const uint8_t *block, size_t len, const uint8_t *id,
                          const bool *to)
{
  struct sp_proposal p;
  memset(&p, 0, sizeof(p));
  p.height = h;
  p.round = r;
  p.valid_round = vr;
  memcpy(p.block, id, SP_HASH_LEN);
  memcpy(p.proposer, bn->pk, SP_PK_LEN);
  if (sp_proposal_sign(&p, s->chain_id, bn->sk) != SP_OK)
    return;
  struct msg *m = msg_prop(&p, block, len, bn->idx);
  for (uint32_t j = 0; j < s->n; j++)
    if (!to || to[j])
      send_one(s, bn->idx, (int)j, m);
  msg_unref(m);
}

/* to[j] with probability num/den each */
static void random_split(struct sim *s, bool to[MAXN], uint32_t num, uint32_t den)
{
  for (uint32_t j = 0; j < s->n; j++)
    to[j] = rng_below(&s->rng, den) < num;
}

/* The Byzantine validator's audience in (h, r) for a vote type: fixed per
 * (validator, height, round, type), so all its votes of that kind go to
 * the same nodes. Prevotes reach about 2/3 of the nodes, precommits about
 * 1/3: a polka some see and others do not, and a commit quorum only a few
 * complete, which is what splits honest nodes across rounds. */
static void byz_audience(const struct sim *s, int b, uint64_t h, uint32_t r,
                         uint32_t type, bool to[MAXN])
{
  for (uint32_t j = 0; j < s->n; j++) {
    uint64_t x = mix64(s->seed ^ mix64(h * 131 + r) ^ ((uint64_t)b << 40) ^
                       ((uint64_t)type << 48) ^ ((uint64_t)j << 56));
    to[j] = x % 3 < (type == SP_VOTE_PREVOTE ? 2u : 1u);
  }
}

/* Plan and start the lock attack at (h, r), whose proposer is Byzantine.
 * false if the validator set does not allow it. */
static bool byz_attack(struct sim *s, uint64_t h, uint32_t r,
                       const uint8_t prev[SP_HASH_LEN])
{
  uint32_t nbyz = 0, honest[MAXN], nh = 0;
  for (uint32_t i = 0; i < s->n; i++) {
    if (s->nodes[i].byz)
      nbyz++;
    else
      honest[nh++] = i;
  }
  uint32_t q = 2 * s->n / 3 + 1; /* quorum */
  if (nbyz == 0 || q <= nbyz + 1 || nh < q - nbyz + 1)
    return false;
  uint32_t kx = q - nbyz, ky = nh - kx; /* |X| and |Y| */
  struct attack *a = &s->atk;
  memset(a, 0, sizeof(*a));
  for (uint32_t i = 0; i < nh; i++)
    a->in_x[honest[i]] = true;
  /* Y: the next round's proposer (so that it proposes a fresh block),
   * then random honest nodes */
  uint32_t next = (uint32_t)((h + r + 1) % s->n), ny = 0;
  if (!s->nodes[next].byz) {
    a->in_x[next] = false;
    ny++;
  }
  while (ny < ky) {
    uint32_t i = honest[rng_below(&s->rng, nh)];
    if (a->in_x[i]) {
      a->in_x[i] = false;
      ny++;
    }
  }
  uint32_t xs[MAXN], nx = 0;
  for (uint32_t i = 0; i < s->n; i++)
    if (a->in_x[i])
      xs[nx++] = i;
  a->on = true;
  a->h = h;
  a->r = r;
  a->victim = (int)xs[rng_below(&s->rng, nx)];
  uint32_t proposer = (uint32_t)((h + r) % s->n);
  uint8_t v[BLK_LEN], w[BLK_LEN], idv[SP_HASH_LEN], idw[SP_HASH_LEN];
  make_block(s, v, h, r, proposer, prev, 1);
  make_block(s, w, h, r, proposer, prev, 2);
  sim_block_id(s, v, BLK_LEN, idv);
  sim_block_id(s, w, BLK_LEN, idw);
  bool to_x[MAXN], to_y[MAXN], to_victim[MAXN], to_rest[MAXN];
  for (uint32_t j = 0; j < s->n; j++) {
    bool hon = !s->nodes[j].byz;
    to_x[j] = hon && a->in_x[j];
    to_y[j] = hon && !a->in_x[j];
    to_victim[j] = (int)j == a->victim;
    to_rest[j] = hon && (int)j != a->victim;
  }
  trace(s, "byz: lock attack at h%" PRIu64 " r%" PRIu32 " (victim %d)", h, r, a->victim);
  struct node *pn = &s->nodes[proposer];
  byz_send_prop(s, pn, h, r, SP_ROUND_NONE, v, BLK_LEN, idv, to_x);
  byz_send_prop(s, pn, h, r, SP_ROUND_NONE, w, BLK_LEN, idw, to_y);
  for (uint32_t i = 0; i < s->n; i++) {
    struct node *bn = &s->nodes[i];
    if (!bn->byz)
      continue;
    byz_send_vote(s, bn, SP_VOTE_PREVOTE, h, r, idv, to_x);
    byz_send_vote(s, bn, SP_VOTE_PREVOTE, h, r, idw, to_y);
    byz_send_vote(s, bn, SP_VOTE_PRECOMMIT, h, r, idv, to_victim);
    byz_send_vote(s, bn, SP_VOTE_PRECOMMIT, h, r, NULL, to_rest);
  }
  return true;
}

static void byz_propose(struct sim *s, struct node *bn, uint64_t h, uint32_t r, int mode)
{
  uint8_t prev[SP_HASH_LEN] = {0};
  if (h > 1) {
    if (h - 1 >= s->ncommits || !s->commits[h - 1].have)
      mode = BYZ_GARBAGE; /* cannot build a valid block: be annoying instead */
    else
      memcpy(prev, s->commits[h - 1].hash, SP_HASH_LEN);
  }
  uint8_t a[BLK_LEN], b[BLK_LEN], ida[SP_HASH_LEN], idb[SP_HASH_LEN];
  if (mode == BYZ_EQUIV && s->atk.on && s->atk.h == h && r > s->atk.r) {
    /* after the attack round: one fresh valid block for everybody */
    make_block(s, a, h, r, (uint32_t)bn->idx, prev, 4);
    sim_block_id(s, a, BLK_LEN, ida);
    byz_send_prop(s, bn, h, r, SP_ROUND_NONE, a, BLK_LEN, ida, NULL);
    return;
  }
  if (mode == BYZ_EQUIV && rng_below(&s->rng, 3) != 0 && byz_attack(s, h, r, prev))
    return;
  if (mode == BYZ_EQUIV) {
    /* two valid blocks, each to about half of the network */
    make_block(s, a, h, r, (uint32_t)bn->idx, prev, 1);
    make_block(s, b, h, r, (uint32_t)bn->idx, prev, 2);
    sim_block_id(s, a, BLK_LEN, ida);
    sim_block_id(s, b, BLK_LEN, idb);
    int64_t vr = SP_ROUND_NONE;
    if (r > 0 && rng_below(&s->rng, 4) == 0)
      vr = (int64_t)rng_below(&s->rng, r);
    bool to[MAXN];
    random_split(s, to, rng_below(&s->rng, 2) ? 1 : 3, 4);
    trace(s, "byz %d: equivocating proposals h%" PRIu64 " r%" PRIu32, bn->idx, h, r);
    byz_send_prop(s, bn, h, r, vr, a, BLK_LEN, ida, to);
    for (uint32_t j = 0; j < s->n; j++)
      to[j] = !to[j];
    byz_send_prop(s, bn, h, r, vr, b, BLK_LEN, idb, to);
    return;
  }
  /* garbage: a block that is not one, one for the wrong height or parent,
   * or a proposal whose hash does not match its block */
  uint64_t kind = rng_below(&s->rng, 4);
  make_block(s, a, h, r, (uint32_t)bn->idx, prev, 3);
  if (kind == 0) {
    for (int i = 0; i < BLK_LEN; i++)
      a[i] = (uint8_t)rng_u64(&s->rng);
    for (int i = 0; i < SP_HASH_LEN; i++)
      ida[i] = (uint8_t)rng_u64(&s->rng);
  } else {
    if (kind == 1)
      put64(a + 4, h + 1);
    else if (kind == 2)
      a[20] ^= 0x5a;
    sim_block_id(s, a, BLK_LEN, ida);
    if (kind == 3)
      ida[0] ^= 1;
  }
  trace(s, "byz %d: garbage proposal (kind %" PRIu64 ") h%" PRIu64 " r%" PRIu32, bn->idx,
        kind, h, r);
  byz_send_prop(s, bn, h, r, SP_ROUND_NONE, a, BLK_LEN, ida, NULL);
}

/* The adversary watches the honest nodes: when one of them enters a round
 * whose proposer (or, except for the lock attack, the next round's) is
 * Byzantine, that validator proposes (once per height/round), like a
 * well-informed attacker would. */
static void adversary_watch(struct sim *s, const struct node *nd)
{
  if (s->fl.byz == 0 || !nd->up || nd->core == NULL)
    return;
  uint64_t h = sp_cons_height(nd->core);
  uint32_t r = sp_cons_round(nd->core);
  for (uint32_t rr = r; rr <= r + 1; rr++) {
    struct node *bn = &s->nodes[(h + rr) % s->n];
    if (rr > r && s->fl.byz_mode == BYZ_EQUIV)
      break; /* the lock attack starts when honest nodes enter the round */
    if (!bn->byz)
      continue;
    int mode = (int)s->fl.byz_mode;
    if (mode == BYZ_MIXED)
      mode = (int)rng_below(&s->rng, 3);
    if (mode != BYZ_SILENT && byz_once(s, bn->idx, h, rr, 9, 0))
      byz_propose(s, bn, h, rr, mode);
  }
}

/* A Byzantine validator reacts to a message it received. */
static void byz_react(struct sim *s, struct node *bn, const struct msg *m)
{
  if (m->height < bn->byz_max_h)
    return;
  bn->byz_max_h = m->height;
  int mode = (int)s->fl.byz_mode;
  if (mode == BYZ_MIXED)
    mode = (int)rng_below(&s->rng, 3);
  if (mode == BYZ_SILENT)
    return;
  uint64_t h = m->height;
  uint32_t r = m->round;
  /* propose in this round (and, unless planning the lock attack, already
   * in the next one) if it is ours */
  for (uint32_t rr = r; rr <= r + (mode == BYZ_EQUIV ? 0u : 1u); rr++)
    if ((uint32_t)((h + rr) % s->n) == (uint32_t)bn->idx &&
        byz_once(s, bn->idx, h, rr, 9, 0))
      byz_propose(s, bn, h, rr, mode);

  const uint8_t *target = NULL;
  if (m->kind == MSG_PROP)
    target = m->p.block;
  else if (m->v.has_block)
    target = m->v.block;
  if (mode == BYZ_EQUIV && s->atk.on && s->atk.h == h && r >= s->atk.r) {
    /* the attack round was played at proposal time; after it, vote for
     * the first block seen in each round, to everybody */
    if (r == s->atk.r || target == NULL)
      return;
    for (uint32_t type = SP_VOTE_PREVOTE; type <= SP_VOTE_PRECOMMIT; type++)
      if (byz_once(s, bn->idx, h, r, type + 20, 0))
        byz_send_vote(s, bn, type, h, r, target, NULL);
    return;
  }
  if (mode == BYZ_EQUIV) {
    for (uint32_t type = SP_VOTE_PREVOTE; type <= SP_VOTE_PRECOMMIT; type++) {
      uint64_t tag = target ? get64(target) | 1 : 0;
      if (!byz_once(s, bn->idx, h, r, type, tag) ||
          byz_count(s, bn->idx, h, r, type) >= 3)
        continue;
      bool to[MAXN];
      byz_audience(s, bn->idx, h, r, type, to);
      byz_send_vote(s, bn, type, h, r, target, to);
      for (uint32_t j = 0; j < s->n; j++)
        to[j] = !to[j];
      byz_send_vote(s, bn, type, h, r, NULL, to);
    }
    /* sometimes push towards the next round (needs f+1 with honest ones) */
    if (rng_below(&s->rng, 10) == 0 && byz_once(s, bn->idx, h, r + 1, 7, 0))
      byz_send_vote(s, bn, SP_VOTE_PREVOTE, h, r + 1, NULL, NULL);
  } else { /* garbage votes for hashes nobody proposed */
    for (uint32_t type = SP_VOTE_PREVOTE; type <= SP_VOTE_PRECOMMIT; type++) {
      if (byz_count(s, bn->idx, h, r, type + 10) >= 2)
        continue;
      uint8_t junk[SP_HASH_LEN];
      for (int i = 0; i < SP_HASH_LEN; i++)
        junk[i] = (uint8_t)rng_u64(&s->rng);
      byz_send_vote(s, bn, type, h, r, junk, NULL);
    }
  }
}

/* -------------------------------------------------------------- events */

static void on_deliver(struct sim *s, struct event *e)
{
  struct node *nd = &s->nodes[e->node];
  struct msg *m = e->m;
  if (!nd->byz && nd->up) {
    struct ment *x = mtab_find(&nd->mt, m->key);
    if (x && x->inflight)
      x->inflight--;
  }
  if (!nd->up)
    return;
  s->delivered++;
  if (nd->byz) {
    byz_react(s, nd, m);
    return;
  }
  uint64_t h = sp_cons_height(nd->core);
  if (m->height > h)
    request_sync(s, nd); /* somebody is ahead of us */
  if (m->height >= h)
    log_add(nd, m);
  if (s->verbose) {
    char b1[17];
    if (m->kind == MSG_PROP)
      trace(s, "node %d <- %d: proposal h%" PRIu64 " r%" PRIu32 " vr%" PRId64 " %s…",
            nd->idx, (int)e->inc, m->height, m->round, m->p.valid_round,
            hex8(m->p.block, b1));
    else
      trace(s, "node %d <- %d: %s h%" PRIu64 " r%" PRIu32 " %s (by %d)", nd->idx,
            (int)e->inc, vote_name(m->v.type), m->height, m->round,
            m->v.has_block ? hex8(m->v.block, b1) : "nil", m->from);
  }
  sp_cons_actions_clear(&s->acts);
  if (m->kind == MSG_PROP) {
    uint8_t id[SP_HASH_LEN], bk[HKEY];
    if (sim_block_id(s, m->block, m->len, id) == 0) { /* honest nodes now hold it */
      bool created;
      mkkey(bk, 'K', get64(id), get64(id + 8), get64(id + 16), get64(id + 24), 0);
      struct hent *x = htab_get(&s->blocks, bk, &created);
      if (created) {
        x->data = xdup(m->block, m->len);
        x->len = m->len;
      }
    }
    check_rc(s, nd, sp_cons_on_proposal(nd->core, &m->p, m->block, m->len, &s->acts),
             "sp_cons_on_proposal");
  } else {
    check_rc(s, nd, sp_cons_on_vote(nd->core, &m->v, &s->acts), "sp_cons_on_vote");
  }
  exec_actions(s, nd);
}

static void on_timeout(struct sim *s, struct event *e)
{
  struct node *nd = &s->nodes[e->node];
  if (!nd->up || nd->inc != e->inc)
    return;
  trace(s, "node %d: timeout %s h%" PRIu64 " r%" PRIu32, nd->idx, step_name(e->step),
        e->height, e->round);
  sp_cons_actions_clear(&s->acts);
  check_rc(s, nd,
           sp_cons_on_timeout(nd->core, e->height, e->round, (enum sp_cons_step)e->step,
                              &s->acts),
           "sp_cons_on_timeout");
  exec_actions(s, nd);
}

/* Block sync: take decided heights from an honest node that has them. */
static bool sync_source(const struct sim *s, const struct node *nd, uint64_t h)
{
  for (uint32_t j = 0; j < s->n; j++) {
    const struct node *o = &s->nodes[j];
    if ((int)j != nd->idx && !o->byz && o->up && o->chain_len >= h &&
        reachable(s, nd->idx, (int)j))
      return true;
  }
  return false;
}

static void on_sync(struct sim *s, struct event *e)
{
  struct node *nd = &s->nodes[e->node];
  if (!nd->up || nd->inc != e->inc)
    return;
  nd->sync_pending = false;
  uint64_t h = chain_height(nd) + 1, first = h;
  while (!s->failed && h < s->ncommits && s->commits[h].have && sync_source(s, nd, h)) {
    struct commit_rec *c = &s->commits[h];
    if (!decide(s, nd, c->block, c->len, &c->cert, c->hash, "sync"))
      return;
    h++;
  }
  if (h > first && !s->failed)
    start_height(s, nd, h); /* the core has not decided these: move it on now */
}

/* The core saw a quorum of precommits for a block it does not have: fetch
 * the block from an honest node, build the certificate from the precommits
 * the node received, and decide. */
static void on_fetch(struct sim *s, struct event *e)
{
  struct node *nd = &s->nodes[e->node];
  if (!nd->up || nd->inc != e->inc || chain_height(nd) + 1 != e->height)
    return;
  uint8_t bk[HKEY];
  mkkey(bk, 'K', get64(e->hash), get64(e->hash + 8), get64(e->hash + 16),
        get64(e->hash + 24), 0);
  struct hent *blk = htab_find(&s->blocks, bk);
  if (blk == NULL) { /* nobody honest has it (yet): try again later */
    at(s, s->now + GOSSIP_MS, EV_FETCH, nd->idx, e);
    return;
  }
  struct sp_cert cert;
  memset(&cert, 0, sizeof(cert));
  cert.height = e->height;
  cert.round = e->round;
  memcpy(cert.block, e->hash, SP_HASH_LEN);
  bool have[MAXN] = {false};
  struct sp_vote votes[MAXN];
  for (size_t i = 0; i < nd->nlog; i++) {
    const struct msg *m = nd->log[i];
    if (m->kind != MSG_VOTE || m->v.type != SP_VOTE_PRECOMMIT ||
        m->v.height != e->height || m->v.round != e->round || !m->v.has_block ||
        memcmp(m->v.block, e->hash, SP_HASH_LEN) != 0)
      continue;
    for (uint32_t j = 0; j < s->n; j++)
      if (!have[j] && memcmp(s->g.validators[j].pk, m->v.validator, SP_PK_LEN) == 0 &&
          sp_vote_verify(&m->v, s->chain_id) == SP_OK) {
        have[j] = true;
        votes[j] = m->v;
      }
  }
  for (uint32_t j = 0; j < s->n; j++)
    if (have[j]) {
      cert.sigs[cert.n_sigs].validator = j;
      memcpy(cert.sigs[cert.n_sigs++].sig, votes[j].sig, SP_SIG_LEN);
    }
  if (3ull * cert.n_sigs <= 2ull * s->n) {
    violation(s, false,
              "node %d: REQUEST for h%" PRIu64 " r%" PRIu32
              " but it received only %" PRIu32
              " valid precommits for that block (no quorum)",
              nd->idx, e->height, e->round, cert.n_sigs);
    return;
  }
  if (decide(s, nd, blk->data, blk->len, &cert, e->hash, "request"))
    start_height(s, nd, e->height + 1);
}

static void on_gossip(struct sim *s)
{
  for (uint32_t i = 0; i < s->n && !s->failed; i++) {
    struct node *nd = &s->nodes[i];
    if (nd->byz || !nd->up)
      continue;
    /* status: a reachable peer is ahead of us -> block sync */
    for (uint32_t j = 0; j < s->n; j++) {
      const struct node *o = &s->nodes[j];
      if (j != i && !o->byz && o->up && o->chain_len > nd->chain_len &&
          reachable(s, (int)i, (int)j))
        request_sync(s, nd);
    }
    /* relay what a peer at our height lacks and has not in flight */
    uint64_t h = sp_cons_height(nd->core);
    for (uint32_t j = 0; j < s->n; j++) {
      struct node *o = &s->nodes[j];
      if (j == i || o->byz || !o->up || sp_cons_height(o->core) != h)
        continue;
      for (size_t k = 0; k < nd->nlog; k++) {
        struct msg *m = nd->log[k];
        if (m->height != h)
          continue;
        struct ment *x = mtab_find(&o->mt, m->key);
        if (x && (x->seen || x->inflight))
          continue;
        send_one(s, (int)i, (int)j, m);
      }
    }
  }
  at(s, s->now + GOSSIP_MS, EV_GOSSIP, 0, NULL);
}

static void on_part_start(struct sim *s)
{
  uint64_t kind = rng_below(&s->rng, 3);
  if (kind == 0) { /* isolate one node */
    uint64_t lone = rng_below(&s->rng, s->n);
    for (uint32_t i = 0; i < s->n; i++)
      s->group[i] = i == lone ? 1 : 0;
  } else {
    for (uint32_t i = 0; i < s->n; i++)
      s->group[i] = (int)rng_below(&s->rng, kind + 1);
  }
  if (s->verbose) {
    char buf[3 * MAXN + 1];
    size_t o = 0;
    for (uint32_t i = 0; i < s->n; i++)
      o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%d", s->group[i]);
    trace(s, "PARTITION groups %s", buf);
  }
}

static void on_heal(struct sim *s)
{
  s->healed = true;
  for (uint32_t i = 0; i < s->n; i++)
    s->group[i] = 0;
  uint64_t top = 0;
  for (uint32_t i = 0; i < s->n; i++) {
    struct node *nd = &s->nodes[i];
    nd->crash_armed = false;
    if (!nd->byz && nd->chain_len > top)
      top = nd->chain_len;
  }
  s->goal = top + 1 > s->heights ? top + 1 : s->heights;
  s->deadline = s->now + LIVENESS_BASE_MS + LIVENESS_PER_HEIGHT_MS * s->goal;
  trace(s, "HEAL: goal height %" PRIu64 ", deadline %" PRIu64, s->goal, s->deadline);
  for (uint32_t i = 0; i < s->n && !s->failed; i++)
    if (!s->nodes[i].byz && !s->nodes[i].up)
      restart_node(s, &s->nodes[i]);
}

static bool all_reached_goal(const struct sim *s)
{
  for (uint32_t i = 0; i < s->n; i++)
    if (!s->nodes[i].byz && (!s->nodes[i].up || s->nodes[i].chain_len < s->goal))
      return false;
  return true;
}

static void liveness_report(struct sim *s)
{
  char buf[1536];
  size_t o = 0;
  for (uint32_t i = 0; i < s->n && o < sizeof(buf) - 100; i++) {
    const struct node *nd = &s->nodes[i];
    if (nd->byz)
      o += (size_t)snprintf(buf + o, sizeof(buf) - o, " [%" PRIu32 ": byzantine]", i);
    else if (!nd->up)
      o += (size_t)snprintf(buf + o, sizeof(buf) - o, " [%" PRIu32 ": down, %zu blocks]",
                            i, nd->chain_len);
    else
      o +=
          (size_t)snprintf(buf + o, sizeof(buf) - o,
                           " [%" PRIu32 ": %zu blocks, h%" PRIu64 " r%" PRIu32
                           " %s lock%" PRId64 " valid%" PRId64 "]",
                           i, nd->chain_len, sp_cons_height(nd->core),
                           sp_cons_round(nd->core), step_name(sp_cons_step_of(nd->core)),
                           sp_cons_locked_round(nd->core), sp_cons_valid_round(nd->core));
  }
  violation(s, false,
            "LIVENESS: goal height %" PRIu64
            " not reached by every honest node at t=%" PRIu64 " ms (healed at %" PRIu32
            " ms, %" PRIu64 " events):%s",
            s->goal, s->now, s->fl.heal, s->events, buf);
}

/* -------------------------------------------------------------- set up */

struct keypair {
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN];
};

static int cmp_key(const void *a, const void *b)
{
  return memcmp(((const struct keypair *)a)->pk, ((const struct keypair *)b)->pk,
                SP_PK_LEN);
}

static const char *const val_names[] = {
    "v00", "v01", "v02", "v03", "v04", "v05", "v06", "v07", "v08", "v09", "v10",
    "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21",
    "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31", "v32",
    "v33", "v34", "v35", "v36", "v37", "v38", "v39", "v40", "v41", "v42", "v43",
    "v44", "v45", "v46", "v47", "v48", "v49", "v50", "v51", "v52", "v53", "v54",
    "v55", "v56", "v57", "v58", "v59", "v60", "v61", "v62", "v63"};

static void sim_setup(struct sim *s)
{
  uint64_t x = s->seed * 0xD1B54A32D192ED03ull + s->n;
  rng_seed(&s->rng, splitmix64(&x));
  s->f = (s->n - 1) / 3;
  s->to = (struct sp_cons_timeouts){.propose_base = 300,
                                    .propose_delta = 100,
                                    .prevote_base = 150,
                                    .prevote_delta = 75,
                                    .precommit_base = 150,
                                    .precommit_delta = 75};
  sp_cons_actions_init(&s->acts);

  /* keys from the seed, sorted by public key as the genesis requires */
  struct keypair keys[MAXN + 1];
  for (uint32_t i = 0; i <= s->n; i++) {
    uint8_t ks[32];
    for (int w = 0; w < 4; w++)
      put64(ks + 8 * w, splitmix64(&x));
    if (sp_keypair_from_seed(keys[i].pk, keys[i].sk, ks) != SP_OK) {
      fprintf(stderr, "sim: keypair failed\n");
      exit(2);
    }
  }
  qsort(keys, s->n, sizeof(keys[0]), cmp_key);
  memset(&s->g, 0, sizeof(s->g));
  s->g.chain_name = sp_str_c("stadjerspas-sim");
  s->g.genesis_time_ms = 1;
  memcpy(s->g.authority, keys[s->n].pk, SP_PK_LEN);
  s->g.n_validators = s->n;
  for (uint32_t i = 0; i < s->n; i++) {
    memcpy(s->g.validators[i].pk, keys[i].pk, SP_PK_LEN);
    s->g.validators[i].name = sp_str_c(val_names[i]);
    s->g.validators[i].addr = sp_str_c("127.0.0.1:7000");
  }
  s->g.n_categories = 1;
  s->g.categories[0] = sp_str_c("food");
  s->g.params.max_block_txs = 100;
  s->g.params.max_block_bytes = 65536;
  struct sp_buf gb;
  sp_buf_init(&gb, 1 << 20);
  if (sp_genesis_encode(&s->g, &gb) != SP_OK ||
      sp_chain_id(gb.data, gb.len, s->chain_id) != SP_OK) {
    fprintf(stderr, "sim: genesis encoding failed\n");
    exit(2);
  }
  sp_buf_free(&gb);

  /* which validators are Byzantine */
  uint32_t nbyz = s->fl.byz > s->f ? s->f : s->fl.byz;
  for (uint32_t i = 0; i < s->n; i++) {
    struct node *nd = &s->nodes[i];
    nd->s = s;
    nd->idx = (int)i;
    memcpy(nd->pk, keys[i].pk, SP_PK_LEN);
    memcpy(nd->sk, keys[i].sk, SP_SK_LEN);
  }
  for (uint32_t k = 0; k < nbyz;) {
    uint64_t i = rng_below(&s->rng, s->n);
    if (!s->nodes[i].byz) {
      s->nodes[i].byz = true;
      k++;
    }
  }

  /* the fault schedule */
  uint32_t heal = s->fl.heal;
  for (uint32_t k = 0; k < s->fl.parts && s->n > 1; k++) {
    uint64_t t0 = rng_below(&s->rng, heal ? heal : 1);
    uint64_t t1 = t0 + rng_between(&s->rng, 100, 2500);
    at(s, t0, EV_PART_START, 0, NULL);
    at(s, t1 < heal ? t1 : heal, EV_PART_END, 0, NULL);
  }
  uint32_t honest = s->n - nbyz;
  for (uint32_t k = 0; k < s->fl.crashes && honest > 0; k++) {
    uint64_t t0 = rng_below(&s->rng, heal ? heal : 1);
    struct event e;
    memset(&e, 0, sizeof(e));
    e.inc = (uint32_t)rng_between(&s->rng, 50, 2500); /* downtime */
    uint64_t who = rng_below(&s->rng, s->n);
    while (s->nodes[who].byz)
      who = (who + 1) % s->n;
    at(s, t0, EV_CRASH, (int)who, &e);
  }
  at(s, heal, EV_HEAL, 0, NULL);
  at(s, GOSSIP_MS, EV_GOSSIP, 0, NULL);
  s->goal = UINT64_MAX;
  s->deadline = UINT64_MAX;
}

static void sim_free(struct sim *s)
{
  for (size_t i = 0; i < s->nheap; i++)
    msg_unref(s->heap[i].m);
  free(s->heap);
  for (uint32_t i = 0; i < s->n; i++) {
    struct node *nd = &s->nodes[i];
    sp_cons_free(nd->core);
    free(nd->snap);
    free(nd->chain);
    log_clear(nd);
    free(nd->log);
  }
  for (size_t h = 0; h < s->ncommits; h++)
    free(s->commits[h].block);
  free(s->commits);
  htab_free(&s->blocks);
  htab_free(&s->hvotes);
  htab_free(&s->hprops);
  htab_free(&s->byz_acted);
  htab_free(&s->certs);
  sp_cons_actions_free(&s->acts);
}

/* Run one seed. Returns 0, or 1 on a violation (s->why says which). */
static int sim_run(struct sim *s)
{
  sim_setup(s);
  for (uint32_t i = 0; i < s->n && !s->failed; i++) {
    struct node *nd = &s->nodes[i];
    nd->up = true; /* Byzantine ones too: they receive (and react) */
    if (nd->byz)
      continue;
    new_core(s, nd);
    start_height(s, nd, 1);
  }
  while (!s->failed) {
    if (s->nheap == 0) {
      liveness_report(s);
      break;
    }
    struct event e = pop_event(s);
    s->now = e.t;
    if (s->healed && s->now > s->deadline) {
      msg_unref(e.m);
      liveness_report(s);
      break;
    }
    if (++s->events > MAX_EVENTS) {
      msg_unref(e.m);
      liveness_report(s);
      break;
    }
    struct node *nd = &s->nodes[e.node];
    switch (e.type) {
    case EV_DELIVER: on_deliver(s, &e); break;
    case EV_TIMEOUT: on_timeout(s, &e); break;
    case EV_CRASH:
      if (nd->up && !nd->byz && !s->healed) {
        if (s->fl.pcrash_ppm && rng_ppm(&s->rng, s->fl.pcrash_ppm)) {
          trace(s, "node %d: armed to crash at its next PERSIST", nd->idx);
          nd->crash_armed = true;
          nd->armed_down = e.inc;
        } else {
          crash_node(s, nd, e.inc);
        }
      }
      break;
    case EV_RESTART: restart_node(s, nd); break;
    case EV_PART_START:
      if (!s->healed)
        on_part_start(s);
      break;
    case EV_PART_END:
      for (uint32_t i = 0; i < s->n; i++)
        s->group[i] = 0;
      trace(s, "PARTITION ends");
      break;
    case EV_HEAL: on_heal(s); break;
    case EV_GOSSIP: on_gossip(s); break;
    case EV_SYNC: on_sync(s, &e); break;
    case EV_FETCH: on_fetch(s, &e); break;
    case EV_START:
      if (nd->up && nd->inc == e.inc && chain_height(nd) + 1 == e.height &&
          sp_cons_height(nd->core) < e.height)
        start_height(s, nd, e.height);
      break;
    default: break;
    }
    msg_unref(e.m);
    if (s->healed && !s->failed && all_reached_goal(s))
      break;
  }
  return s->failed ? 1 : 0;
}

/* ================================================================ main */

struct opts {
  uint64_t seed, seeds;
  uint32_t ns[8], nn;
  uint32_t heights;
  bool no_lock, verbose, expect, have_faults, keep_going;
  uint64_t progress;
  struct faults fl;
  char faults_spec[512];
};

static void usage(void)
{
  fprintf(stderr,
          "usage: sim [--seed S] [--seeds K] [--validators N[,N...]] [--heights H]\n"
          "           [--faults SPEC|none] [--disable-lock] [--expect-violation]\n"
          "           [--keep-going] [--progress P] [--verbose]\n"
          "SPEC: byz=B,mode=silent|equiv|garbage|mixed,drop=PPM,dup=PPM,delay=LO-HI,\n"
          "      slow=PPM/MAXMS,parts=P,crashes=C,pcrash=PPM,heal=MS\n"
          "Without --faults each seed picks its own fault settings.\n");
}

static bool parse_u64(const char *v, uint64_t *out)
{
  char *end;
  if (v == NULL || *v == 0)
    return false;
  unsigned long long x = strtoull(v, &end, 0);
  if (*end)
    return false;
  *out = x;
  return true;
}

int main(int argc, char **argv)
{
  struct opts o;
  memset(&o, 0, sizeof(o));
  o.seed = 1;
  o.seeds = 1;
  o.ns[0] = 4;
  o.nn = 1;
  o.heights = 3;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    uint64_t x;
    if (strcmp(a, "--seed") == 0 && parse_u64(v, &x)) {
      o.seed = x;
      i++;
    } else if (strcmp(a, "--seeds") == 0 && parse_u64(v, &x) && x > 0) {
      o.seeds = x;
      i++;
    } else if (strcmp(a, "--heights") == 0 && parse_u64(v, &x) && x > 0 && x < 100000) {
      o.heights = (uint32_t)x;
      i++;
    } else if (strcmp(a, "--progress") == 0 && parse_u64(v, &x)) {
      o.progress = x;
      i++;
    } else if (strcmp(a, "--validators") == 0 && v) {
      o.nn = 0;
      const char *p = v;
      while (*p && o.nn < 8) {
        char *end;
        unsigned long n = strtoul(p, &end, 10);
        if (end == p || n < 1 || n > MAXN) {
          usage();
          return 2;
        }
        o.ns[o.nn++] = (uint32_t)n;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') {
          usage();
          return 2;
        }
      }
      i++;
    } else if (strcmp(a, "--faults") == 0 && v) {
      if (faults_parse(v, &o.fl) != 0) {
        fprintf(stderr, "sim: bad --faults spec '%s'\n", v);
        usage();
        return 2;
      }
      o.have_faults = true;
      i++;
    } else if (strcmp(a, "--disable-lock") == 0) {
      o.no_lock = true;
    } else if (strcmp(a, "--keep-going") == 0) {
      o.keep_going = true;
    } else if (strcmp(a, "--expect-violation") == 0) {
      o.expect = true;
    } else if (strcmp(a, "--verbose") == 0) {
      o.verbose = true;
    } else {
      usage();
      return 2;
    }
  }
  if (sp_crypto_init() != SP_OK) {
    fprintf(stderr, "sim: crypto init failed\n");
    return 2;
  }

  struct totals t;
  memset(&t, 0, sizeof(t));
  bool found_safety = false;
  int failures = 0;
  for (uint32_t ni = 0;
       ni < o.nn && (o.keep_going || (!found_safety && (o.expect || failures == 0)));
       ni++) {
    uint32_t n = o.ns[ni];
    for (uint64_t k = 0; k < o.seeds; k++) {
      uint64_t seed = o.seed + k;
      struct sim *s = xcalloc(1, sizeof(*s));
      s->seed = seed;
      s->n = n;
      s->heights = o.heights;
      s->no_lock = o.no_lock;
      s->verbose = o.verbose;
      if (o.have_faults)
        s->fl = o.fl;
      else
        faults_derive(seed, n, &s->fl);
      int rc = sim_run(s);
      t.seeds++;
      t.messages += s->delivered;
      t.vtime += s->now;
      if (s->now > t.max_vtime)
        t.max_vtime = s->now;
      uint64_t low = UINT64_MAX;
      for (uint32_t i = 0; i < n; i++)
        if (!s->nodes[i].byz && s->nodes[i].chain_len < low)
          low = s->nodes[i].chain_len;
      t.heights += low == UINT64_MAX ? 0 : low;
      if (rc) {
        char spec[512];
        faults_format(&s->fl, spec, sizeof(spec));
        t.violations++;
        failures++;
        if (s->safety) {
          t.safety++;
          found_safety = true;
        }
        printf("VIOLATION %s\n  seed=%" PRIu64 " validators=%" PRIu32 " heights=%" PRIu32
               " faults=%s%s\n  replay: sim --seed %" PRIu64 " --validators %" PRIu32
               " --heights %" PRIu32 " --faults '%s'%s --verbose\n",
               s->why, seed, n, o.heights, spec, o.no_lock ? " disable-lock" : "", seed,
               n, o.heights, spec, o.no_lock ? " --disable-lock" : "");
        fflush(stdout);
      }
      sim_free(s);
      free(s);
      if (o.progress && (k + 1) % o.progress == 0) {
        fprintf(stderr, "sim: n=%" PRIu32 " %" PRIu64 "/%" PRIu64 " seeds done\n", n,
                k + 1, o.seeds);
      }
      if (rc && !o.keep_going && (!o.expect || found_safety))
        break;
    }
  }
  char ns[64];
  size_t off = 0;
  for (uint32_t i = 0; i < o.nn; i++)
    off +=
        (size_t)snprintf(ns + off, sizeof(ns) - off, "%s%" PRIu32, i ? "," : "", o.ns[i]);
  printf("sim: seeds=%" PRIu64 " (from %" PRIu64
         ") validators=%s heights-committed=%" PRIu64 " messages=%" PRIu64
         " virtual-time=%" PRIu64 " ms (max %" PRIu64 " ms/run) violations=%" PRIu64
         "%s\n",
         t.seeds, o.seed, ns, t.heights, t.messages, t.vtime, t.max_vtime, t.violations,
         o.no_lock ? " [lock disabled]" : "");
  if (o.expect) {
    if (found_safety) {
      printf("sim: expected safety violation found\n");
      return 0;
    }
    printf("sim: FAIL: expected a safety violation, none found\n");
    return 1;
  }
  return failures ? 1 : 0;
}
