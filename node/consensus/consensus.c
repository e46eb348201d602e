#include "consensus.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sp/crypto.h"
#include "sp/error.h"

/* Format of the snapshots written (docs/consensus.md 6); 1 is still read:
 * it wrote the locked, valid and proposed blocks in full, even when they
 * are one block. */
#define SNAPSHOT_VERSION 2

const struct sp_cons_timeouts sp_cons_default_timeouts = {
    .propose_base = 3000, .propose_delta = 500,
    .prevote_base = 1000, .prevote_delta = 500,
    .precommit_base = 1000, .precommit_delta = 500,
};

/* Round states kept per height: the current round, rounds others are in,
 * the locked/valid rounds. More would let a Byzantine validator make us
 * allocate by voting in ever new rounds; when full, the round farthest
 * above ours that is not needed is recycled. */
#define MAX_ROUNDS 32
/* Messages for the next height, kept until the driver starts it: only
 * checked ones, a few per validator, and a bounded amount of block bytes,
 * so nobody can crowd out the real ones or pin memory. */
#define MAX_FUTURE 256
#define MAX_FUTURE_PER_VALIDATOR 6
#define MAX_FUTURE_PROPOSALS 2
#define MAX_FUTURE_BLOCK_BYTES (2 * (size_t)SP_MAX_BLOCK_BYTES)

/* A validator's votes of one type in one round. An honest validator signs
 * one; a Byzantine one may sign two different ones (equivocation). Both
 * count, each towards its own value, as Algorithm 1 counts messages:
 * dropping the second would hide from us a polka others may have seen. */
#define SLOT_EXTRA 3 /* conflicting votes kept per validator, round and step */

struct slot {
  bool have;
  struct sp_vote v; /* the first vote */
  /* further, conflicting votes (Byzantine); when full, the oldest is
   * replaced, so the votes a proposer relays as a polka always count */
  uint8_t n_extra, next_extra;
  struct sp_vote extra[SLOT_EXTRA];
};

static bool vote_is_for(const struct sp_vote *v, const uint8_t *id)
{
  return id == NULL ? !v->has_block
                    : v->has_block && memcmp(v->block, id, SP_HASH_LEN) == 0;
}

/* The slot's vote for id (NULL = nil), if it has one. */
static const struct sp_vote *slot_vote_for(const struct slot *s, const uint8_t *id)
{
  if (s->have && vote_is_for(&s->v, id))
    return &s->v;
  for (int i = 0; i < s->n_extra; i++)
    if (vote_is_for(&s->extra[i], id))
      return &s->extra[i];
  return NULL;
}

struct rstate {
  uint32_t round;
  struct slot prevote[SP_MAX_VALIDATORS];
  struct slot precommit[SP_MAX_VALIDATORS];
  bool seen[SP_MAX_VALIDATORS]; /* any message from this validator in round */
  bool have_prop;
  struct sp_proposal prop;
  uint8_t *block;
  size_t block_len;
  int valid; /* -1 unknown, 0 invalid, 1 valid */
  /* "for the first time" guards of Algorithm 1 */
  bool prevote_timeout_set, precommit_timeout_set, polka_done, requested;
  /* own signed votes in this round (what the WAL protects) */
  bool own_prevote, own_precommit;
  struct sp_vote my_prevote, my_precommit;
};

struct future {
  int from; /* validator index */
  bool is_prop;
  struct sp_proposal p;
  struct sp_vote v;
  uint8_t *block;
  size_t len;
};

struct sp_cons {
  const struct sp_genesis *g;
  uint8_t chain_id[SP_HASH_LEN];
  int self;
  uint8_t sk[SP_SK_LEN];
  struct sp_cons_app app;
  struct sp_cons_timeouts to;
  bool no_lock; /* test only */

  uint64_t height;
  uint32_t round;
  enum sp_cons_step step;
  bool started, decided;
  int64_t locked_round, valid_round;
  uint8_t *locked, *validv; /* block bytes */
  size_t locked_len, valid_len;
  uint8_t locked_id[SP_HASH_LEN], valid_id[SP_HASH_LEN];
  /* own proposal of the current round, if any */
  bool own_prop;
  struct sp_proposal my_prop;

  struct rstate *rounds[MAX_ROUNDS];
  /* validators whose equivocation at this height was reported: one pair
   * of votes proves it, and more would let one validator make the node
   * write evidence for every round it can name */
  bool evidenced[SP_MAX_VALIDATORS];
  /* the highest round of this height each validator sent a verified
   * message for (has_round: any), kept outside the round slots: when
   * those are full a message of a new round is dropped, but it still
   * counts for skipping to a higher round */
  uint32_t max_round[SP_MAX_VALIDATORS];
  bool has_round[SP_MAX_VALIDATORS];
  struct future fut[MAX_FUTURE];
  size_t n_fut;
  uint64_t fut_height;

  /* a restored snapshot, waiting for sp_cons_start of its height */
  uint8_t *snap;
  size_t snap_len;
};

/* ============================================================ actions */

void sp_cons_actions_init(struct sp_cons_actions *a)
{
  memset(a, 0, sizeof(*a));
}

void sp_cons_actions_clear(struct sp_cons_actions *a)
{
  for (size_t i = 0; i < a->n; i++)
    free(a->v[i].data);
  a->n = 0;
}

void sp_cons_actions_free(struct sp_cons_actions *a)
{
  if (a == NULL)
    return;
  sp_cons_actions_clear(a);
  free(a->v);
  memset(a, 0, sizeof(*a));
}

static struct sp_cons_action *push(struct sp_cons_actions *a, enum sp_cons_action_type t)
{
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 16;
    struct sp_cons_action *v = realloc(a->v, cap * sizeof(*v));
    if (v == NULL)
      return NULL;
    a->v = v;
    a->cap = cap;
  }
  struct sp_cons_action *x = &a->v[a->n++];
  memset(x, 0, sizeof(*x));
  x->type = t;
  return x;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
  uint8_t *d = malloc(n ? n : 1);
  if (d && n)
    memcpy(d, p, n);
  return d;
}

/* ========================================================= bookkeeping */

static uint32_t n_vals(const struct sp_cons *c)
{
  return c->g->n_validators;
}

static bool quorum(const struct sp_cons *c, uint32_t count)
{
  return 3ull * count > 2ull * n_vals(c); /* more than two thirds */
}

static bool one_third(const struct sp_cons *c, uint32_t count)
{
  return 3ull * count > n_vals(c); /* at least one honest among them */
}

uint32_t sp_cons_proposer(const struct sp_cons *c, uint64_t height, uint32_t round)
{
  return (uint32_t)((height + round) % n_vals(c));
}

static int validator_index(const struct sp_cons *c, const uint8_t pk[SP_PK_LEN])
{
  for (uint32_t i = 0; i < n_vals(c); i++)
    if (memcmp(c->g->validators[i].pk, pk, SP_PK_LEN) == 0)
      return (int)i;
  return -1;
}

static void round_free(struct rstate *r)
{
  if (r) {
    free(r->block);
    free(r);
  }
}

static void reset_height(struct sp_cons *c)
{
  for (int i = 0; i < MAX_ROUNDS; i++) {
    round_free(c->rounds[i]);
    c->rounds[i] = NULL;
  }
  free(c->locked);
  free(c->validv);
  c->locked = c->validv = NULL;
  c->locked_len = c->valid_len = 0;
  c->locked_round = c->valid_round = -1;
  c->own_prop = false;
  c->decided = false;
  c->round = 0;
  c->step = SP_STEP_PROPOSE;
  memset(c->evidenced, 0, sizeof(c->evidenced));
  memset(c->max_round, 0, sizeof(c->max_round));
  memset(c->has_round, 0, sizeof(c->has_round));
}

static void note_round(struct sp_cons *c, int idx, uint32_t round)
{
  if (!c->has_round[idx] || round > c->max_round[idx])
    c->max_round[idx] = round;
  c->has_round[idx] = true;
}

static int cmp_round_desc(const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* The highest round above ours that more than a third of the validators
 * have reached (each by its highest verified message of this height), or
 * 0 if there is none: at least one honest validator is in that round or a
 * later one, so moving there is the paper's f+1 round skip, even when the
 * messages of those rounds found no round slot. */
static uint32_t skip_target(const struct sp_cons *c)
{
  uint32_t above[SP_MAX_VALIDATORS], k = 0;
  for (uint32_t i = 0; i < n_vals(c); i++)
    if (c->has_round[i] && c->max_round[i] > c->round)
      above[k++] = c->max_round[i];
  if (!one_third(c, k))
    return 0;
  qsort(above, k, sizeof(above[0]), cmp_round_desc);
  uint32_t need = n_vals(c) / 3 + 1; /* the fewest that are more than a third */
  return above[need - 1];
}

static struct rstate *find_round(struct sp_cons *c, uint32_t round)
{
  for (int i = 0; i < MAX_ROUNDS; i++)
    if (c->rounds[i] && c->rounds[i]->round == round)
      return c->rounds[i];
  return NULL;
}

/* The round state for `round`, created if needed; NULL when there is no
 * room and nothing may be recycled (the message is then dropped). */
static struct rstate *get_round(struct sp_cons *c, uint32_t round)
{
  struct rstate *r = find_round(c, round);
  if (r)
    return r;
  int slot = -1;
  for (int i = 0; i < MAX_ROUNDS && slot < 0; i++)
    if (c->rounds[i] == NULL)
      slot = i;
  if (slot < 0) {
    /* Recycle a round nobody needs: the oldest one below ours first (we
     * never go back to it; the locked and valid rounds are kept), else the
     * highest one above ours if the new round is lower. */
    for (int i = 0; i < MAX_ROUNDS; i++) {
      uint32_t rr = c->rounds[i]->round;
      if (rr < c->round && (int64_t)rr != c->locked_round && (int64_t)rr != c->valid_round &&
          (slot < 0 || rr < c->rounds[slot]->round))
        slot = i;
    }
    uint32_t worst = round;
    for (int i = 0; slot < 0 && i < MAX_ROUNDS; i++) {
      uint32_t rr = c->rounds[i]->round;
      if (rr > c->round && rr > worst && (int64_t)rr != c->locked_round &&
          (int64_t)rr != c->valid_round) {
        worst = rr;
        slot = i;
      }
    }
    if (slot < 0)
      return NULL;
    round_free(c->rounds[slot]);
    c->rounds[slot] = NULL;
  }
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  r->round = round;
  r->valid = -1;
  c->rounds[slot] = r;
  return r;
}

static int id_of(struct sp_cons *c, const uint8_t *block, size_t n, uint8_t out[SP_HASH_LEN])
{
  if (c->app.block_id)
    return c->app.block_id(c->app.ctx, block, n, out);
  sp_hash(out, block, n);
  return 0;
}

static bool is_valid(struct sp_cons *c, struct rstate *r)
{
  if (r->valid < 0)
    r->valid = c->app.valid(c->app.ctx, c->height, r->block, r->block_len) ? 1 : 0;
  return r->valid == 1;
}

/* Votes of a type in a round for `id` (NULL = nil; any = count all). */
static uint32_t count(const struct rstate *r, uint32_t type, const uint8_t *id, bool any)
{
  const struct slot *s = type == SP_VOTE_PREVOTE ? r->prevote : r->precommit;
  uint32_t n = 0;
  for (int i = 0; i < SP_MAX_VALIDATORS; i++) {
    if (!s[i].have)
      continue;
    if (any || slot_vote_for(&s[i], id))
      n++;
  }
  return n;
}

static uint32_t count_seen(const struct rstate *r)
{
  uint32_t n = 0;
  for (int i = 0; i < SP_MAX_VALIDATORS; i++)
    n += r->seen[i];
  return n;
}

/* ============================================================ the WAL */

/* Snapshot: [1, height, round, step, locked_round, locked block,
 * valid_round, valid block, own votes [vote...], own proposal [] or
 * [proposal, block]]. Only the current round's own messages matter: a
 * restarted core never goes back to an earlier round. */
/* Calls fn for each prevote we hold that forms the polka of (round, id). */
static int each_polka_vote(struct sp_cons *c, int64_t round, const uint8_t *id,
                           int (*fn)(struct sp_cons *, const struct sp_vote *, void *),
                           void *arg)
{
  struct rstate *q = round >= 0 ? find_round(c, (uint32_t)round) : NULL;
  for (uint32_t k = 0; q && k < n_vals(c); k++) {
    const struct sp_vote *v = slot_vote_for(&q->prevote[k], id);
    int rc = v ? fn(c, v, arg) : 0;
    if (rc)
      return rc;
  }
  return 0;
}

static int count_vote(struct sp_cons *c, const struct sp_vote *v, void *arg)
{
  (void)c, (void)v;
  (*(uint32_t *)arg)++;
  return 0;
}

static int write_vote(struct sp_cons *c, const struct sp_vote *v, void *arg)
{
  (void)c;
  sp__vote_write(arg, v);
  return 0;
}

/* The prevotes behind our lock and our valid value. A snapshot keeps them:
 * after every honest node restarts, they are the only proof left that the
 * locked or valid value had a polka, without which no other node would
 * accept our proposal of it, and we accept nothing else. */
static uint32_t polka_count(struct sp_cons *c)
{
  uint32_t n = 0;
  each_polka_vote(c, c->locked_round, c->locked_id, count_vote, &n);
  if (c->valid_round != c->locked_round)
    each_polka_vote(c, c->valid_round, c->valid_id, count_vote, &n);
  return n;
}

/* Is id the block of our lock, or of our valid value? (Format 2 of the
 * snapshot writes such a block once: a later field that repeats it is an
 * empty bin.) */
static bool is_locked_id(const struct sp_cons *c, const uint8_t id[SP_HASH_LEN])
{
  return c->locked_round != SP_ROUND_NONE && memcmp(c->locked_id, id, SP_HASH_LEN) == 0;
}

static bool is_valid_id(const struct sp_cons *c, const uint8_t id[SP_HASH_LEN])
{
  return c->valid_round != SP_ROUND_NONE && memcmp(c->valid_id, id, SP_HASH_LEN) == 0;
}

static int snapshot(struct sp_cons *c, struct sp_buf *b)
{
  struct rstate *r = find_round(c, c->round);
  sp_wr_array(b, 11);
  sp_wr_uint(b, SNAPSHOT_VERSION);
  sp_wr_uint(b, c->height);
  sp_wr_uint(b, c->round);
  sp_wr_uint(b, c->step);
  sp_wr_int(b, c->locked_round);
  sp_wr_bin(b, c->locked, (uint32_t)c->locked_len);
  sp_wr_int(b, c->valid_round);
  /* most of the time the valid value is the locked one, and our own
   * proposal is one of them: a block can be megabytes, written before
   * every vote, so each is written once */
  if (c->valid_round != SP_ROUND_NONE && is_locked_id(c, c->valid_id))
    sp_wr_bin(b, NULL, 0);
  else
    sp_wr_bin(b, c->validv, (uint32_t)c->valid_len);
  uint32_t nv = r ? (uint32_t)r->own_prevote + (uint32_t)r->own_precommit : 0;
  sp_wr_array(b, nv);
  if (r && r->own_prevote)
    sp__vote_write(b, &r->my_prevote);
  if (r && r->own_precommit)
    sp__vote_write(b, &r->my_precommit);
  if (c->own_prop && r && r->have_prop) {
    sp_wr_array(b, 2);
    sp__proposal_write(b, &c->my_prop);
    if (is_locked_id(c, c->my_prop.block) || is_valid_id(c, c->my_prop.block))
      sp_wr_bin(b, NULL, 0);
    else
      sp_wr_bin(b, r->block, (uint32_t)r->block_len);
  } else {
    sp_wr_array(b, 0);
  }
  sp_wr_array(b, polka_count(c));
  each_polka_vote(c, c->locked_round, c->locked_id, write_vote, b);
  if (c->valid_round != c->locked_round)
    each_polka_vote(c, c->valid_round, c->valid_id, write_vote, b);
  return b->err;
}

static int persist(struct sp_cons *c, struct sp_cons_actions *out)
{
  if (c->self < 0)
    return SP_OK; /* an observer signs nothing, so has nothing to protect */
  struct sp_buf b;
  /* room for the locked, valid and own-proposal blocks, all at maximum */
  sp_buf_init(&b, 3 * (size_t)SP_MAX_BLOCK_BYTES + 65536);
  int rc = snapshot(c, &b);
  struct sp_cons_action *a = rc ? NULL : push(out, SP_CA_PERSIST);
  if (a == NULL) {
    sp_buf_free(&b);
    return rc ? rc : SP_E_NOMEM;
  }
  a->height = c->height;
  a->round = c->round;
  a->data = b.data; /* the action list owns it now */
  a->len = b.len;
  return SP_OK;
}

/* =========================================================== messages */

static int schedule(struct sp_cons *c, enum sp_cons_step step, struct sp_cons_actions *out)
{
  struct sp_cons_action *a = push(out, SP_CA_TIMEOUT);
  if (a == NULL)
    return SP_E_NOMEM;
  const struct sp_cons_timeouts *t = &c->to;
  uint64_t base = step == SP_STEP_PROPOSE   ? t->propose_base
                  : step == SP_STEP_PREVOTE ? t->prevote_base
                                            : t->precommit_base;
  uint64_t delta = step == SP_STEP_PROPOSE   ? t->propose_delta
                   : step == SP_STEP_PREVOTE ? t->prevote_delta
                                             : t->precommit_delta;
  uint64_t ms = base + delta * c->round;
  a->height = c->height;
  a->round = c->round;
  a->step = step;
  a->ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
  return SP_OK;
}

static int record_vote(struct sp_cons *c, const struct sp_vote *v, int idx,
                       struct sp_cons_actions *out);

/* Sign and send our vote of `type` in the current round for id (NULL =
 * nil). If we already signed one there (before a crash), send that one
 * again instead: never two different votes at one height/round/step. */
static int vote(struct sp_cons *c, uint32_t type, const uint8_t *id, struct sp_cons_actions *out)
{
  if (c->self < 0)
    return SP_OK;
  struct rstate *r = get_round(c, c->round);
  if (r == NULL)
    return SP_E_NOMEM;
  bool *own = type == SP_VOTE_PREVOTE ? &r->own_prevote : &r->own_precommit;
  struct sp_vote *mine = type == SP_VOTE_PREVOTE ? &r->my_prevote : &r->my_precommit;
  if (!*own) {
    struct sp_vote v = {.type = type, .height = c->height, .round = c->round};
    if (id) {
      v.has_block = true;
      memcpy(v.block, id, SP_HASH_LEN);
    }
    memcpy(v.validator, c->g->validators[c->self].pk, SP_PK_LEN);
    int rc = sp_vote_sign(&v, c->chain_id, c->sk);
    if (rc)
      return rc;
    *mine = v;
    *own = true;
    if ((rc = persist(c, out)))
      return rc;
  }
  struct sp_cons_action *a = push(out, SP_CA_VOTE);
  if (a == NULL)
    return SP_E_NOMEM;
  a->height = c->height;
  a->round = c->round;
  a->vote = *mine;
  /* our own vote counts like anybody's */
  return record_vote(c, mine, c->self, out);
}

static int set_value(uint8_t **dst, size_t *dst_len, uint8_t id_dst[SP_HASH_LEN],
                     const struct rstate *r)
{
  uint8_t *copy = dup_bytes(r->block, r->block_len);
  if (copy == NULL)
    return SP_E_NOMEM;
  free(*dst);
  *dst = copy;
  *dst_len = r->block_len;
  memcpy(id_dst, r->prop.block, SP_HASH_LEN);
  return SP_OK;
}

static int start_round(struct sp_cons *c, uint32_t round, struct sp_cons_actions *out);

/* ========================================================== the rules */

/* Evaluate every upon-rule of Algorithm 1 against the message log until
 * none fires. Each rule's guard makes it fire at most once per occasion. */
static int check_rules(struct sp_cons *c, struct sp_cons_actions *out)
{
  for (int progress = 1; progress && !c->decided;) {
    progress = 0;
    int rc;
    struct rstate *r = find_round(c, c->round);

    /* decision: a proposal and a quorum of precommits for it, any round */
    for (int i = 0; i < MAX_ROUNDS && !c->decided; i++) {
      struct rstate *q = c->rounds[i];
      if (q == NULL)
        continue;
      for (int v = 0; v < (1 + SLOT_EXTRA) * SP_MAX_VALIDATORS; v++) {
        const struct slot *sl = &q->precommit[v / (1 + SLOT_EXTRA)];
        int e = v % (1 + SLOT_EXTRA);
        const struct sp_vote *cand = e == 0 ? (sl->have ? &sl->v : NULL)
                                            : (e <= sl->n_extra ? &sl->extra[e - 1] : NULL);
        if (cand == NULL || !cand->has_block)
          continue;
        const uint8_t *id = cand->block;
        if (!quorum(c, count(q, SP_VOTE_PRECOMMIT, id, false)))
          continue;
        if (q->have_prop && memcmp(q->prop.block, id, SP_HASH_LEN) == 0) {
          if (!is_valid(c, q))
            break; /* a quorum for an invalid block: only Byzantine > f */
          struct sp_cons_action *a = push(out, SP_CA_COMMIT);
          if (a == NULL)
            return SP_E_NOMEM;
          a->height = c->height;
          a->round = q->round;
          memcpy(a->hash, id, SP_HASH_LEN);
          a->cert.height = c->height;
          a->cert.round = q->round;
          memcpy(a->cert.block, id, SP_HASH_LEN);
          for (uint32_t k = 0; k < n_vals(c); k++) {
            const struct sp_vote *pv = slot_vote_for(&q->precommit[k], id);
            if (pv) {
              a->cert.sigs[a->cert.n_sigs].validator = k;
              memcpy(a->cert.sigs[a->cert.n_sigs++].sig, pv->sig, SP_SIG_LEN);
            }
          }
          if ((a->data = dup_bytes(q->block, q->block_len)) == NULL)
            return SP_E_NOMEM;
          a->len = q->block_len;
          c->decided = true; /* the driver applies it and starts height+1 */
          return SP_OK;
        }
        if (!q->requested) {
          q->requested = true;
          struct sp_cons_action *a = push(out, SP_CA_REQUEST);
          if (a == NULL)
            return SP_E_NOMEM;
          a->height = c->height;
          a->round = q->round;
          memcpy(a->hash, id, SP_HASH_LEN);
        }
        break;
      }
    }

    /* f+1 messages from a higher round: catch up to it */
    for (int i = 0; i < MAX_ROUNDS; i++) {
      struct rstate *q = c->rounds[i];
      if (q && q->round > c->round && one_third(c, count_seen(q))) {
        if ((rc = start_round(c, q->round, out)))
          return rc;
        progress = 1;
        break;
      }
    }
    if (progress)
      continue;
    /* the same, counted per validator: the round slots may be full of one
     * Byzantine validator's rounds, while the others' was dropped */
    uint32_t skip = skip_target(c);
    if (skip > c->round) {
      if ((rc = start_round(c, skip, out)))
        return rc;
      continue;
    }
    if (r == NULL)
      break;

    /* proposal in the propose step */
    if (c->step == SP_STEP_PROPOSE && r->have_prop) {
      int64_t vr = r->prop.valid_round;
      const uint8_t *id = r->prop.block;
      bool fire = false, yes = false;
      if (vr == SP_ROUND_NONE) {
        fire = true;
        yes = is_valid(c, r) && (c->no_lock || c->locked_round == -1 ||
                                 memcmp(c->locked_id, id, SP_HASH_LEN) == 0);
      } else if (vr < (int64_t)c->round) {
        struct rstate *pr = find_round(c, (uint32_t)vr);
        if (pr && quorum(c, count(pr, SP_VOTE_PREVOTE, id, false))) {
          fire = true;
          yes = is_valid(c, r) && (c->no_lock || c->locked_round <= vr ||
                                   memcmp(c->locked_id, id, SP_HASH_LEN) == 0);
        }
      }
      if (fire) {
        c->step = SP_STEP_PREVOTE;
        if ((rc = vote(c, SP_VOTE_PREVOTE, yes ? id : NULL, out)))
          return rc;
        progress = 1;
        continue;
      }
    }

    /* any quorum of prevotes in our round: start the prevote timeout */
    if (c->step == SP_STEP_PREVOTE && !r->prevote_timeout_set &&
        quorum(c, count(r, SP_VOTE_PREVOTE, NULL, true))) {
      r->prevote_timeout_set = true;
      if ((rc = schedule(c, SP_STEP_PREVOTE, out)))
        return rc;
      progress = 1;
    }

    /* a polka for the proposal: lock (if still prevoting) and remember */
    if (c->step >= SP_STEP_PREVOTE && r->have_prop && !r->polka_done &&
        quorum(c, count(r, SP_VOTE_PREVOTE, r->prop.block, false)) && is_valid(c, r)) {
      r->polka_done = true;
      if ((rc = set_value(&c->validv, &c->valid_len, c->valid_id, r)))
        return rc;
      c->valid_round = r->round;
      if (c->step == SP_STEP_PREVOTE) {
        if ((rc = set_value(&c->locked, &c->locked_len, c->locked_id, r)))
          return rc;
        c->locked_round = r->round;
        c->step = SP_STEP_PRECOMMIT;
        if ((rc = vote(c, SP_VOTE_PRECOMMIT, r->prop.block, out)))
          return rc;
      } else if ((rc = persist(c, out))) {
        return rc;
      }
      progress = 1;
      continue;
    }

    /* a polka for nil */
    if (c->step == SP_STEP_PREVOTE && quorum(c, count(r, SP_VOTE_PREVOTE, NULL, false))) {
      c->step = SP_STEP_PRECOMMIT;
      if ((rc = vote(c, SP_VOTE_PRECOMMIT, NULL, out)))
        return rc;
      progress = 1;
      continue;
    }

    /* any quorum of precommits in our round: start the precommit timeout */
    if (!r->precommit_timeout_set && quorum(c, count(r, SP_VOTE_PRECOMMIT, NULL, true))) {
      r->precommit_timeout_set = true;
      if ((rc = schedule(c, SP_STEP_PRECOMMIT, out)))
        return rc;
      progress = 1;
    }
  }
  return SP_OK;
}

static int relay_cb(struct sp_cons *c, const struct sp_vote *v, void *arg);

static int start_round(struct sp_cons *c, uint32_t round, struct sp_cons_actions *out)
{
  c->round = round;
  c->step = SP_STEP_PROPOSE;
  c->own_prop = false;
  struct rstate *r = get_round(c, round);
  if (r == NULL)
    return SP_E_NOMEM;
  if (c->self >= 0 && sp_cons_proposer(c, c->height, round) == (uint32_t)c->self) {
    if (r->have_prop) /* ours from before a restart, or already received */
      return SP_OK;
    struct sp_buf blk;
    sp_buf_init(&blk, SP_MAX_BLOCK_BYTES);
    int rc = SP_OK;
    if (c->validv) {
      sp_buf_append(&blk, c->validv, c->valid_len);
      rc = blk.err;
    } else {
      rc = c->app.propose(c->app.ctx, c->height, round, &blk);
    }
    struct sp_proposal p = {.height = c->height, .round = round, .valid_round = c->valid_round};
    memcpy(p.proposer, c->g->validators[c->self].pk, SP_PK_LEN);
    if (rc == SP_OK)
      rc = id_of(c, blk.data, blk.len, p.block);
    if (rc == SP_OK)
      rc = sp_proposal_sign(&p, c->chain_id, c->sk);
    if (rc) {
      /* nothing to propose: wait like a non-proposer */
      sp_buf_free(&blk);
      return schedule(c, SP_STEP_PROPOSE, out);
    }
    r->have_prop = true;
    r->prop = p;
    r->block = blk.data;
    r->block_len = blk.len;
    r->seen[c->self] = true;
    c->own_prop = true;
    c->my_prop = p;
    if ((rc = persist(c, out)))
      return rc;
    struct sp_cons_action *a = push(out, SP_CA_PROPOSAL);
    if (a == NULL || (a->data = dup_bytes(r->block, r->block_len)) == NULL)
      return SP_E_NOMEM;
    a->height = c->height;
    a->round = round;
    a->proposal = p;
    a->len = r->block_len;
    /* a proposal with a valid round is accepted only with the polka of
     * that round: send it along for whoever missed (or lost) it */
    if (p.valid_round != SP_ROUND_NONE)
      return each_polka_vote(c, p.valid_round, p.block, relay_cb, out);
    return SP_OK;
  }
  return schedule(c, SP_STEP_PROPOSE, out);
}

/* ======================================================= input events */

static int record_vote(struct sp_cons *c, const struct sp_vote *v, int idx,
                       struct sp_cons_actions *out)
{
  struct rstate *r = get_round(c, v->round);
  if (r == NULL)
    return SP_OK; /* no room: dropped, like a lost message */
  struct slot *s = v->type == SP_VOTE_PREVOTE ? &r->prevote[idx] : &r->precommit[idx];
  if (s->have) {
    if (slot_vote_for(s, v->has_block ? v->block : NULL))
      return SP_OK; /* a duplicate */
    /* equivocation: two signed votes, one height/round/step; reported
     * once per validator and height */
    if (!c->evidenced[idx]) {
      struct sp_cons_action *a = push(out, SP_CA_EVIDENCE);
      if (a == NULL)
        return SP_E_NOMEM;
      a->height = v->height;
      a->round = v->round;
      a->vote = s->v;
      a->vote2 = *v;
      c->evidenced[idx] = true;
    }
    if (s->n_extra < SLOT_EXTRA) {
      s->extra[s->n_extra++] = *v;
    } else {
      s->extra[s->next_extra] = *v;
      s->next_extra = (uint8_t)((s->next_extra + 1) % SLOT_EXTRA);
    }
    return SP_OK;
  }
  s->have = true;
  s->v = *v;
  r->seen[idx] = true;
  return SP_OK;
}

/* May a checked message from validator idx for the next height be kept? */
static bool future_room(const struct sp_cons *c, int idx, bool is_prop, size_t bytes)
{
  if (c->n_fut == MAX_FUTURE)
    return false;
  size_t mine = 0, props = 0, held = 0;
  for (size_t i = 0; i < c->n_fut; i++) {
    mine += c->fut[i].from == idx;
    props += c->fut[i].from == idx && c->fut[i].is_prop;
    held += c->fut[i].len;
  }
  if (mine >= MAX_FUTURE_PER_VALIDATOR || (is_prop && props >= MAX_FUTURE_PROPOSALS))
    return false;
  return held + bytes <= MAX_FUTURE_BLOCK_BYTES;
}

int sp_cons_on_vote(struct sp_cons *c, const struct sp_vote *v, struct sp_cons_actions *out)
{
  if (!c->started || v->height != c->height || c->decided) {
    int idx;
    if (c->started && v->height == c->height + 1 &&
        (idx = validator_index(c, v->validator)) >= 0 && idx != c->self &&
        future_room(c, idx, false, 0) && sp_vote_verify(v, c->chain_id) == SP_OK) {
      struct future *f = &c->fut[c->n_fut++];
      memset(f, 0, sizeof(*f));
      f->from = idx;
      f->v = *v;
      c->fut_height = v->height;
    }
    return SP_OK;
  }
  int idx = validator_index(c, v->validator);
  if (idx < 0 || sp_vote_verify(v, c->chain_id) != SP_OK)
    return SP_OK; /* not a validator, or forged: ignore */
  note_round(c, idx, v->round);
  /* Our own votes come back from peers too. They count like anybody's:
   * after a restart they are how we learn what we voted in earlier rounds
   * (the snapshot keeps only the current round's). */
  int rc = record_vote(c, v, idx, out);
  return rc ? rc : check_rules(c, out);
}

int sp_cons_on_proposal(struct sp_cons *c, const struct sp_proposal *p, const uint8_t *block,
                        size_t n, struct sp_cons_actions *out)
{
  if (!c->started || p->height != c->height || c->decided) {
    uint32_t who = sp_cons_proposer(c, p->height, p->round);
    uint8_t id[SP_HASH_LEN];
    if (c->started && p->height == c->height + 1 && (int)who != c->self &&
        memcmp(p->proposer, c->g->validators[who].pk, SP_PK_LEN) == 0 &&
        n <= MAX_FUTURE_BLOCK_BYTES && sp_proposal_verify(p, c->chain_id) == SP_OK &&
        id_of(c, block, n, id) == 0 && memcmp(id, p->block, SP_HASH_LEN) == 0) {
      /* a lower round goes first: the proposals a Byzantine proposer
       * makes for later rounds must not crowd out round 0's */
      while (!future_room(c, (int)who, true, n)) {
        size_t worst = SIZE_MAX;
        for (size_t i = 0; i < c->n_fut; i++)
          if (c->fut[i].is_prop && c->fut[i].p.round > p->round &&
              (worst == SIZE_MAX || c->fut[i].p.round > c->fut[worst].p.round))
            worst = i;
        if (worst == SIZE_MAX)
          return SP_OK; /* no room: dropped, like a lost message */
        free(c->fut[worst].block);
        c->fut[worst] = c->fut[--c->n_fut];
      }
      uint8_t *copy = dup_bytes(block, n);
      if (copy == NULL)
        return SP_E_NOMEM;
      struct future *f = &c->fut[c->n_fut++];
      memset(f, 0, sizeof(*f));
      f->from = (int)who;
      f->is_prop = true;
      f->p = *p;
      f->block = copy;
      f->len = n;
      c->fut_height = p->height;
    }
    return SP_OK;
  }
  uint32_t who = sp_cons_proposer(c, p->height, p->round);
  if (memcmp(p->proposer, c->g->validators[who].pk, SP_PK_LEN) != 0 ||
      sp_proposal_verify(p, c->chain_id) != SP_OK)
    return SP_OK;
  uint8_t id[SP_HASH_LEN];
  if (id_of(c, block, n, id) != 0 || memcmp(id, p->block, SP_HASH_LEN) != 0)
    return SP_OK; /* the block is not the one the proposer signed */
  note_round(c, (int)who, p->round);
  struct rstate *r = get_round(c, p->round);
  if (r == NULL)
    return check_rules(c, out); /* no room for it; it counts for a skip */
  if (r->have_prop) {
    /* Keep the first proposal, unless the proposer equivocated and a
     * quorum precommitted the other block: that one is decided, and we
     * need its bytes to commit it. */
    if (!memcmp(r->prop.block, p->block, SP_HASH_LEN) ||
        !quorum(c, count(r, SP_VOTE_PRECOMMIT, p->block, false)))
      return SP_OK;
    free(r->block);
    r->block = NULL;
    r->valid = -1;
    r->polka_done = false;
  }
  if ((r->block = dup_bytes(block, n)) == NULL)
    return SP_E_NOMEM;
  r->block_len = n;
  r->prop = *p;
  r->have_prop = true;
  r->seen[who] = true;
  return check_rules(c, out);
}

int sp_cons_on_timeout(struct sp_cons *c, uint64_t height, uint32_t round,
                       enum sp_cons_step step, struct sp_cons_actions *out)
{
  if (!c->started || c->decided || height != c->height || round != c->round)
    return SP_OK;
  int rc = SP_OK;
  if (step == SP_STEP_PROPOSE && c->step == SP_STEP_PROPOSE) {
    c->step = SP_STEP_PREVOTE;
    rc = vote(c, SP_VOTE_PREVOTE, NULL, out);
  } else if (step == SP_STEP_PREVOTE && c->step == SP_STEP_PREVOTE) {
    c->step = SP_STEP_PRECOMMIT;
    rc = vote(c, SP_VOTE_PRECOMMIT, NULL, out);
  } else if (step == SP_STEP_PRECOMMIT) {
    rc = start_round(c, c->round + 1, out);
  }
  return rc ? rc : check_rules(c, out);
}

/* ========================================================== lifecycle */

int sp_cons_new(struct sp_cons **out, const struct sp_genesis *g,
                const uint8_t chain_id[static SP_HASH_LEN], int self, const uint8_t *sk,
                const struct sp_cons_app *app, const struct sp_cons_timeouts *timeouts)
{
  if (self >= (int)g->n_validators || (self >= 0 && sk == NULL) || app == NULL ||
      app->propose == NULL || app->valid == NULL)
    return SP_E_INVAL;
  struct sp_cons *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return SP_E_NOMEM;
  c->g = g;
  memcpy(c->chain_id, chain_id, SP_HASH_LEN);
  c->self = self;
  if (sk)
    memcpy(c->sk, sk, SP_SK_LEN);
  c->app = *app;
  c->to = timeouts ? *timeouts : sp_cons_default_timeouts;
  c->locked_round = c->valid_round = -1;
  *out = c;
  return SP_OK;
}

static void drop_future(struct sp_cons *c)
{
  for (size_t i = 0; i < c->n_fut; i++)
    free(c->fut[i].block);
  c->n_fut = 0;
}

void sp_cons_free(struct sp_cons *c)
{
  if (c == NULL)
    return;
  reset_height(c);
  drop_future(c);
  free(c->snap);
  sodium_memzero(c->sk, sizeof(c->sk));
  free(c);
}

int sp_cons_restore(struct sp_cons *c, const uint8_t *snap, size_t n)
{
  uint8_t *copy = dup_bytes(snap, n);
  if (copy == NULL)
    return SP_E_NOMEM;
  free(c->snap);
  c->snap = copy;
  c->snap_len = n;
  return SP_OK;
}

/* A value of a snapshot; in format 2 an empty bin with a round means the
 * same block as `same` (the locked value), which must then exist. */
static int restore_value(struct sp_cons *c, struct sp_rd *r, uint64_t ver, int64_t *round,
                         uint8_t **v, size_t *len, uint8_t id[SP_HASH_LEN],
                         const uint8_t *same, size_t same_len)
{
  const uint8_t *p;
  uint32_t bn;
  int rc;
  if ((rc = sp_rd_round_opt(r, round)) || (rc = sp_rd_bin(r, &p, &bn, SP_MAX_BLOCK_BYTES)))
    return rc;
  if (*round == SP_ROUND_NONE)
    return bn == 0 ? SP_OK : SP_E_RANGE;
  if (bn == 0) { /* no block is empty: format 1 never wrote this */
    if (ver < 2 || same == NULL)
      return SP_E_RANGE;
    p = same;
    bn = (uint32_t)same_len;
  }
  if ((*v = dup_bytes(p, bn)) == NULL)
    return SP_E_NOMEM;
  *len = bn;
  return id_of(c, p, bn, id) ? SP_E_RANGE : SP_OK;
}

/* Send someone's vote on (a relay: it verifies by its own signature). */
static int relay_vote(struct sp_cons *c, const struct sp_vote *v, struct sp_cons_actions *out)
{
  struct sp_cons_action *a = push(out, SP_CA_RELAY);
  if (a == NULL)
    return SP_E_NOMEM;
  a->height = c->height;
  a->round = v->round;
  a->vote = *v;
  return SP_OK;
}

static int relay_cb(struct sp_cons *c, const struct sp_vote *v, void *arg)
{
  return relay_vote(c, v, arg);
}

/* Re-enter the round of a snapshot and re-send what we had signed there. */
static int resume(struct sp_cons *c, struct sp_cons_actions *out, bool *resumed)
{
  *resumed = false;
  struct sp_rd rd = sp_rd_init(c->snap, c->snap_len), *r = &rd;
  uint64_t ver, height, round, step;
  int rc;
  if ((rc = sp_rd_array_exact(r, 11)) || (rc = sp_rd_uint(r, &ver)) ||
      (rc = sp_rd_uint(r, &height)) || (rc = sp_rd_uint_max(r, &round, UINT32_MAX)) ||
      (rc = sp_rd_uint_max(r, &step, SP_STEP_PRECOMMIT)))
    return rc;
  if (ver != 1 && ver != SNAPSHOT_VERSION)
    return SP_E_VERSION;
  if (height != c->height)
    return SP_OK; /* a snapshot of another height says nothing about this one */
  *resumed = true;
  if ((rc = restore_value(c, r, ver, &c->locked_round, &c->locked, &c->locked_len,
                          c->locked_id, NULL, 0)) ||
      (rc = restore_value(c, r, ver, &c->valid_round, &c->validv, &c->valid_len, c->valid_id,
                          c->locked, c->locked_len)))
    return rc;
  c->round = (uint32_t)round;
  struct rstate *rs = get_round(c, c->round);
  uint32_t nv, np;
  if (rs == NULL)
    return SP_E_NOMEM;
  if ((rc = sp_rd_array_max(r, &nv, 2, 0)))
    return rc;
  for (uint32_t i = 0; i < nv; i++) {
    struct sp_vote v;
    if ((rc = sp__vote_read(r, &v)))
      return rc;
    if (v.height != c->height || v.round != c->round)
      return SP_E_RANGE;
    if (v.type == SP_VOTE_PREVOTE) {
      rs->own_prevote = true;
      rs->my_prevote = v;
    } else {
      rs->own_precommit = true;
      rs->my_precommit = v;
    }
    if ((rc = record_vote(c, &v, c->self, out)))
      return rc;
    struct sp_cons_action *a = push(out, SP_CA_VOTE);
    if (a == NULL)
      return SP_E_NOMEM;
    a->height = c->height;
    a->round = c->round;
    a->vote = v;
  }
  if ((rc = sp_rd_array(r, &np)))
    return rc;
  if (np == 2) {
    const uint8_t *p;
    uint32_t bn;
    if ((rc = sp__proposal_read(r, &c->my_prop)) ||
        (rc = sp_rd_bin(r, &p, &bn, SP_MAX_BLOCK_BYTES)))
      return rc;
    if (bn == 0) {
      /* the block is the locked or the valid value, written before */
      if (ver < 2)
        return SP_E_RANGE;
      if (is_locked_id(c, c->my_prop.block)) {
        p = c->locked;
        bn = (uint32_t)c->locked_len;
      } else if (is_valid_id(c, c->my_prop.block)) {
        p = c->validv;
        bn = (uint32_t)c->valid_len;
      } else {
        return SP_E_RANGE;
      }
    }
    if ((rs->block = dup_bytes(p, bn)) == NULL)
      return SP_E_NOMEM;
    rs->block_len = bn;
    rs->prop = c->my_prop;
    rs->have_prop = true;
    rs->seen[c->self] = true;
    c->own_prop = true;
    struct sp_cons_action *a = push(out, SP_CA_PROPOSAL);
    if (a == NULL || (a->data = dup_bytes(p, bn)) == NULL)
      return SP_E_NOMEM;
    a->height = c->height;
    a->round = c->round;
    a->proposal = c->my_prop;
    a->len = bn;
  } else if (np != 0) {
    return SP_E_COUNT;
  }
  /* the polkas behind our lock and valid value: count them again and
   * pass them on, peers that restarted have lost them too */
  uint32_t npk;
  if ((rc = sp_rd_array_max(r, &npk, 2 * SP_MAX_VALIDATORS, 0)))
    return rc;
  for (uint32_t i = 0; i < npk; i++) {
    struct sp_vote v;
    int idx;
    if ((rc = sp__vote_read(r, &v)))
      return rc;
    if (v.height != c->height || v.type != SP_VOTE_PREVOTE ||
        (idx = validator_index(c, v.validator)) < 0 || sp_vote_verify(&v, c->chain_id))
      return SP_E_RANGE;
    if ((rc = record_vote(c, &v, idx, out)) || (rc = relay_vote(c, &v, out)))
      return rc;
  }
  if ((rc = sp_rd_done(r)))
    return rc;
  c->step = (enum sp_cons_step)step;
  return schedule(c, c->step, out);
}

int sp_cons_start(struct sp_cons *c, uint64_t height, struct sp_cons_actions *out)
{
  reset_height(c);
  c->height = height;
  c->started = true;
  int rc;
  if (c->snap && c->self >= 0) {
    bool resumed;
    rc = resume(c, out, &resumed);
    free(c->snap);
    c->snap = NULL;
    if (rc) {
      /* fail closed: a core that cannot trust its record signs nothing */
      reset_height(c);
      c->height = height;
      c->started = false;
      return rc;
    }
    if (!resumed)
      rc = start_round(c, 0, out);
  } else {
    rc = start_round(c, 0, out);
  }
  if (rc)
    return rc;
  /* messages that arrived while we were finishing the previous height */
  if (c->fut_height == height) {
    struct future fut[MAX_FUTURE];
    size_t n = c->n_fut;
    memcpy(fut, c->fut, n * sizeof(fut[0]));
    c->n_fut = 0;
    for (size_t i = 0; i < n && rc == SP_OK; i++)
      rc = fut[i].is_prop ? sp_cons_on_proposal(c, &fut[i].p, fut[i].block, fut[i].len, out)
                          : sp_cons_on_vote(c, &fut[i].v, out);
    for (size_t i = 0; i < n; i++)
      free(fut[i].block);
    if (rc)
      return rc;
  } else {
    drop_future(c);
  }
  return check_rules(c, out);
}

uint64_t sp_cons_height(const struct sp_cons *c)
{
  return c->height;
}

uint32_t sp_cons_round(const struct sp_cons *c)
{
  return c->round;
}

enum sp_cons_step sp_cons_step_of(const struct sp_cons *c)
{
  return c->step;
}

int64_t sp_cons_locked_round(const struct sp_cons *c)
{
  return c->locked_round;
}

int64_t sp_cons_valid_round(const struct sp_cons *c)
{
  return c->valid_round;
}

void sp_cons_test_disable_lock(struct sp_cons *c, bool disabled)
{
  c->no_lock = disabled;
}
