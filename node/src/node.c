#include "node.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include "consensus.h"
#include "log.h"
#include "mempool.h"
#include "net.h"
#include "wal.h"
#include "sp/ledger.h"
#include "sp/merkle.h"
#include "sp/proto.h"

#define AGENT "stadjerd/" SP_VERSION_STRING
#define MAX_PENDING_PER_PEER 1024  /* admissions in flight before we stop reading */
/* submissions of one connection waiting for their block: beyond this, a
 * SUBMIT is answered at once with a busy error (a resubmission of a
 * pending transaction costs no admission, only this) */
#define MAX_WAITERS_PER_PEER (4 * MAX_PENDING_PER_PEER)
#define ADMIT_BATCH 32             /* admissions handed to the pool at once, at most */
#define OUT_QUEUE (64u * 1024 * 1024)
#define STATUS_EVERY_MS 1000
#define FUTURE_SLACK_MS (10u * 60 * 1000) /* block time may lead our clock by this */
#define SENT_MAX 16 /* consensus messages kept for peers that connect late */

struct peer_info {
  struct sp_peer *p;
  uint64_t id;       /* unique per connection: late answers find it or nobody */
  uint64_t height;   /* last height it reported */
  unsigned pending;  /* admissions of its submissions in flight */
  unsigned waiting;  /* its submissions waiting for their block (waiters) */
  bool paused;
  bool privileged;   /* authority, auditor, validator or served observer */
};

/* A wallet waiting for the result of a transaction it submitted. */
struct waiter {
  uint8_t txid[SP_HASH_LEN];
  uint64_t peer;
  uint32_t req_id;
  struct hnode h; /* in node.waiters, by txid */
};

struct ctimer {
  uv_timer_t t;
  struct node *n;
  uint64_t height;
  uint32_t round;
  enum sp_cons_step step;
  struct ctimer *prev, *next;
};

struct node {
  uv_loop_t loop;
  char home[PATH_MAX];
  struct sp_wal wal; /* validators only: fds -1 otherwise */
  int lock_fd;
  struct sp_home_config cfg;
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN];
  struct sp_ledger *l;
  const struct sp_genesis *g;
  const uint8_t *chain_id;
  int self; /* validator index, or -1 for an observer */
  struct sp_cons *cons;
  struct sp_net *net;
  struct mempool mp;
  struct hmap waiters;
  struct ctimer *timers;
  uv_signal_t sigint, sigterm;
  uv_timer_t status_timer;
  bool stopping;
  int exit_code;
  struct peer_info **peers;
  size_t n_peers, cap_peers;
  /* connected to every other genesis validator (set on each connect and
   * disconnect): then one hop of forwarding reaches them all */
  bool reach_all;
  uint64_t sync_asked; /* height we last asked blocks for (0 = none) */
  /* Between heights: with nothing to order, wait (up to empty_ms) for a
   * transaction or for another validator to move on, so an idle chain
   * does not spin out empty blocks. */
  bool waiting;
  uv_timer_t next_timer;
  uint32_t empty_ms;
  uint64_t next_peer_id;
  struct admission *adm_head, *adm_tail; /* in arrival order */
  struct admit_batch *batch;             /* admissions not yet handed to the pool */
  uv_check_t admit_check;
  /* The consensus messages we sent at the height in progress (our own
   * proposals and votes, and votes we relayed). Rounds advance only on a
   * quorum of votes, and each vote is sent once: a validator that was down
   * when the others voted would never see those votes, nor they its own,
   * and a stalled round would stay stalled after it is back. So a
   * validator or observer that connects gets them again. */
  uint64_t own_height; /* the last block we proposed: its height and hash */
  uint8_t own_hash[SP_HASH_LEN];
  uint64_t sent_height;
  size_t n_sent;
  uint8_t *sent[SENT_MAX];
  size_t sent_len[SENT_MAX];
};

static uint64_t now_ms(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static uint64_t tip_height(struct node *n)
{
  struct sp_tip t;
  return sp_ledger_tip(n->l, &t) == 0 ? t.height : 0;
}

static void run_actions(struct node *n, struct sp_cons_actions *acts);
static void node_stop(struct node *n, int code);

/* ============================================================ sending */

/* What could not be queued for a peer. A wallet (or auditor) whose
 * answers pile up unread is disconnected: dropping an answer would leave
 * it waiting for one that never comes, and it reconnects and asks again.
 * A node peer loses the message: consensus sends again when its timeouts
 * fire, and block sync fills gaps. */
static void send_failed(struct peer_info *pi, uint32_t type, int rc)
{
  if (rc == SP_E_STATE)
    return; /* closing already */
  if (rc == SP_E_BUFFER && sp_peer_role(pi->p) == SP_ROLE_WALLET) {
    LOG_W(0, sp_peer_pk(pi->p), "%.0f MiB of answers not read: disconnecting",
          (double)sp_peer_queued(pi->p) / (1024.0 * 1024.0));
    sp_peer_close(pi->p, "answers not read: output queue full");
    return;
  }
  LOG_W(0, sp_peer_pk(pi->p), "cannot send %s: %s", sp_msg_type_name(type), sp_strerror(rc));
}

static void send_msg(struct peer_info *pi, const struct sp_msg *m)
{
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  if (sp_msg_encode(m, &b) == SP_OK) {
    int rc = sp_peer_send(pi->p, b.data, b.len);
    if (rc)
      send_failed(pi, m->type, rc);
  } else {
    LOG_E(0, sp_peer_pk(pi->p), "cannot encode %s", sp_msg_type_name(m->type));
  }
  sp_buf_free(&b);
}

static void send_error(struct peer_info *pi, uint32_t req, uint32_t code, const char *text)
{
  struct sp_msg m = {.type = SP_MSG_ERROR, .req_id = req};
  m.u.error.code = code;
  m.u.error.message = sp_str_c(text);
  send_msg(pi, &m);
}

static void forget_sent(struct node *n)
{
  for (size_t i = 0; i < n->n_sent; i++)
    free(n->sent[i]);
  n->n_sent = 0;
}

/* Keep a copy of a consensus message of height h that we sent (the oldest
 * goes when full: the newest rounds are the ones that matter). */
static void remember_sent(struct node *n, uint64_t h, const uint8_t *p, size_t len)
{
  if (h != n->sent_height) {
    forget_sent(n);
    n->sent_height = h;
  }
  uint8_t *copy = malloc(len);
  if (copy == NULL)
    return;
  memcpy(copy, p, len);
  if (n->n_sent == SENT_MAX) {
    free(n->sent[0]);
    memmove(n->sent, n->sent + 1, (SENT_MAX - 1) * sizeof(n->sent[0]));
    memmove(n->sent_len, n->sent_len + 1, (SENT_MAX - 1) * sizeof(n->sent_len[0]));
    n->n_sent--;
  }
  n->sent[n->n_sent] = copy;
  n->sent_len[n->n_sent++] = len;
}

/* Consensus traffic goes to every validator and observer we are linked to. */
static void broadcast_raw(struct node *n, const uint8_t *p, size_t len)
{
  for (size_t i = 0; i < n->n_peers; i++) {
    uint32_t role = sp_peer_role(n->peers[i]->p);
    if (role == SP_ROLE_VALIDATOR || role == SP_ROLE_OBSERVER)
      sp_peer_send(n->peers[i]->p, p, len);
  }
}

/* A proposal message with the block spliced in as received: the block
 * bytes are canonical, so no decode and re-encode is needed. */
static void broadcast_proposal(struct node *n, const struct sp_proposal *pr, const uint8_t *blk,
                               size_t len)
{
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  sp_wr_array(&b, 5);
  sp_wr_uint(&b, SP_FORMAT_VERSION);
  sp_wr_uint(&b, SP_MSG_PROPOSAL);
  sp_wr_uint(&b, 0);
  sp__proposal_write(&b, pr);
  sp_buf_append(&b, blk, len);
  if (b.err == 0) {
    remember_sent(n, pr->height, b.data, b.len);
    broadcast_raw(n, b.data, b.len);
  }
  sp_buf_free(&b);
}

static void broadcast_vote(struct node *n, const struct sp_vote *v)
{
  struct sp_msg m = {.type = SP_MSG_VOTE};
  m.u.vote = *v;
  struct sp_buf b;
  sp_buf_init(&b, 4096);
  if (sp_msg_encode(&m, &b) == SP_OK) {
    remember_sent(n, v->height, b.data, b.len);
    broadcast_raw(n, b.data, b.len);
  }
  sp_buf_free(&b);
}

/* ==================================================== consensus driver */

/* Read the start of encoded block [version, header, txs, last_commit]: r
 * is left at the transactions. */
static int read_header(struct sp_rd *r, struct sp_header *h)
{
  uint64_t ver;
  memset(h, 0, sizeof(*h));
  return sp_rd_array_exact(r, 4) || sp_rd_uint(r, &ver) || sp__header_read(r, h) ? -1 : 0;
}

/* The header of an encoded block. */
static int header_of(const uint8_t *blk, size_t len, struct sp_header *h)
{
  struct sp_rd r = sp_rd_init(blk, len);
  return read_header(&r, h);
}

static int block_id(void *ctx, const uint8_t *blk, size_t len, uint8_t out[SP_HASH_LEN])
{
  (void)ctx;
  struct sp_header h;
  if (header_of(blk, len, &h))
    return -1;
  return sp_header_hash(&h, out);
}

static bool app_valid(void *ctx, uint64_t height, const uint8_t *blk, size_t len)
{
  struct node *n = ctx;
  struct sp_header h;
  if (header_of(blk, len, &h) || h.height != height)
    return false;
  /* a proposer must not push block time (and so fund validity) ahead */
  if (h.time_ms > now_ms() + FUTURE_SLACK_MS) {
    LOG_W(height, h.proposer, "proposal refused: block time is ahead of our clock");
    return false;
  }
  /* our own proposal: built by the ledger from the rules on this very tip
   * (the height says the tip has not moved), so valid by construction */
  uint8_t hash[SP_HASH_LEN];
  if (n->own_height == height && sp_header_hash(&h, hash) == SP_OK &&
      memcmp(hash, n->own_hash, SP_HASH_LEN) == 0)
    return true;
  struct sp_refusal why;
  uint64_t t0 = uv_hrtime();
  int rc = sp_ledger_check_block(n->l, blk, len, &why);
  if (rc)
    LOG_W(height, h.proposer, "proposal refused: %s",
          rc == SP_LE_REFUSED ? why.msg : sp_ledger_strerror(rc));
  else
    LOG_I(height, h.proposer, "proposal of %u transactions checked in %.1f ms", h.tx_count,
          (double)(uv_hrtime() - t0) / 1e6);
  return rc == 0;
}

static void reply_result(struct peer_info *pi, uint32_t req, const uint8_t txid[SP_HASH_LEN],
                         uint32_t status, uint32_t reason, const char *text);
static struct peer_info *peer_by_id(struct node *n, uint64_t id);

/* A pending transaction the rules now refuse: answer whoever waits for it
 * and drop it from the mempool. */
static void answer_refused(struct node *n, const uint8_t txid[SP_HASH_LEN], int reason,
                           const char *msg)
{
  struct hnode *h;
  while ((h = hmap_find(&n->waiters, txid)) != NULL) {
    struct waiter *w = HMAP_ENTRY(h, struct waiter, h);
    struct peer_info *pi = peer_by_id(n, w->peer);
    if (pi) {
      reply_result(pi, w->req_id, txid, SP_TXS_REFUSED, (uint32_t)reason, msg);
      pi->waiting--;
    }
    hmap_remove(&n->waiters, h);
    free(w);
  }
}

/* Drop the waiters of one peer (gone), or all of them (shutdown). */
static void forget_waiters(struct node *n, uint64_t peer, bool all)
{
  if (n->waiters.b == NULL)
    return;
  for (size_t i = 0; i <= n->waiters.mask; i++) {
    struct hnode **p = &n->waiters.b[i];
    while (*p) {
      struct waiter *w = HMAP_ENTRY(*p, struct waiter, h);
      if (all || w->peer == peer) {
        *p = w->h.next;
        n->waiters.n--;
        free(w);
      } else {
        p = &(*p)->next;
      }
    }
  }
}

static void refuse_pending(struct node *n, struct mp_entry *e, const struct sp_refusal *why)
{
  answer_refused(n, e->txid, why->reason, why->msg);
  mp_remove_entry(&n->mp, e);
}

static int app_propose(void *ctx, uint64_t height, uint32_t round, struct sp_buf *out)
{
  struct node *n = ctx;
  struct sp_tip tip;
  if (sp_ledger_tip(n->l, &tip) || tip.height + 1 != height)
    return -1;
  struct sp_cert cert;
  bool has_cert = false;
  if (tip.height > 0) {
    struct sp_buf tmp;
    sp_buf_init(&tmp, SP_MAX_BLOCK_BYTES);
    int rc = sp_ledger_block(n->l, tip.height, &tmp, &cert, &has_cert);
    sp_buf_free(&tmp);
    if (rc || !has_cert)
      return -1;
  }
  /* the oldest pending transactions, a block's worth and an eighth more
   * for the ones the rules may refuse: the ledger takes what fits and is
   * valid, and tells which it refused (each candidate is copied, so a
   * generous margin costs megabytes per proposal) */
  size_t max = (size_t)n->g->params.max_block_txs, cnt = 0;
  max += max / 8 + 16;
  size_t take = n->mp.n < max ? n->mp.n : max;
  uint64_t t0 = 0;
  size_t room = take ? take : 1;
  struct sp_tx *cands = calloc(room, sizeof(*cands));
  struct mp_entry **ents = calloc(room, sizeof(*ents));
  bool *acc = calloc(room, sizeof(bool));
  struct sp_refusal *why = calloc(room, sizeof(*why));
  /* their leaves and ids, from admission: not hashed again */
  uint8_t(*leaves)[SP_HASH_LEN] = malloc(room * SP_HASH_LEN);
  uint8_t(*txids)[SP_HASH_LEN] = malloc(room * SP_HASH_LEN);
  int rc = -1;
  if (cands && ents && acc && why && leaves && txids) {
    for (size_t i = 0; i < n->mp.len && cnt < take; i++)
      if (n->mp.v[i]) {
        ents[cnt] = n->mp.v[i];
        memcpy(leaves[cnt], n->mp.v[i]->leaf, SP_HASH_LEN);
        memcpy(txids[cnt], n->mp.v[i]->txid, SP_HASH_LEN);
        cands[cnt++] = n->mp.v[i]->tx;
      }
    t0 = uv_hrtime();
    rc = sp_ledger_propose_hashed(n->l, cands, (const uint8_t(*)[SP_HASH_LEN])leaves,
                                  (const uint8_t(*)[SP_HASH_LEN])txids, cnt, now_ms(), n->pk,
                                  tip.height ? &cert : NULL, out, acc, why);
  }
  if (rc == 0) {
    struct sp_header h;
    if (header_of(out->data, out->len, &h) == 0 && sp_header_hash(&h, n->own_hash) == SP_OK)
      n->own_height = height;
    size_t taken = 0;
    for (size_t i = 0; i < cnt; i++)
      taken += acc[i];
    LOG_I(height, NULL, "proposing round %u with %zu of %zu pending transactions (built in %.1f ms)",
          round, taken, cnt, (double)(uv_hrtime() - t0) / 1e6);
    /* what the rules refuse now leaves the mempool with its answer (a
     * sender's later transactions then fail on their sequence number and
     * follow), instead of waiting for ever; what merely did not fit stays */
    for (size_t i = cnt; i-- > 0;)
      if (!acc[i] && why[i].reason != SP_R_NONE)
        refuse_pending(n, ents[i], &why[i]);
  } else {
    LOG_E(height, NULL, "cannot build a proposal: %s", sp_ledger_strerror(rc));
  }
  free(cands);
  free(ents);
  free(acc);
  free(why);
  free(leaves);
  free(txids);
  return rc;
}

static void timer_closed(uv_handle_t *h)
{
  free(h->data);
}

static void timer_unlink(struct node *n, struct ctimer *t)
{
  if (t->prev)
    t->prev->next = t->next;
  else
    n->timers = t->next;
  if (t->next)
    t->next->prev = t->prev;
}

static void on_cons_timer(uv_timer_t *h)
{
  struct ctimer *t = h->data;
  struct node *n = t->n;
  timer_unlink(n, t);
  struct sp_cons_actions acts;
  sp_cons_actions_init(&acts);
  sp_cons_on_timeout(n->cons, t->height, t->round, t->step, &acts);
  uv_close((uv_handle_t *)&t->t, timer_closed);
  run_actions(n, &acts);
  sp_cons_actions_free(&acts);
}

static void schedule_timeout(struct node *n, const struct sp_cons_action *a)
{
  struct ctimer *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return;
  t->n = n;
  t->height = a->height;
  t->round = a->round;
  t->step = a->step;
  uv_timer_init(&n->loop, &t->t);
  t->t.data = t;
  t->next = n->timers;
  if (n->timers)
    n->timers->prev = t;
  n->timers = t;
  uv_timer_start(&t->t, on_cons_timer, a->ms, 0);
}

static void reply_result_committed(struct node *n, struct peer_info *pi, uint32_t req,
                                   const uint8_t txid[SP_HASH_LEN]);

/* The connection with this id, or NULL. None once the node stops: the
 * network layer then closes every connection without reporting it
 * (on_close), so an entry may point to a freed one, and work finishing on
 * the worker threads (admissions) must not touch it. */
static struct peer_info *peer_by_id(struct node *n, uint64_t id)
{
  if (n->stopping)
    return NULL;
  for (size_t i = 0; i < n->n_peers; i++)
    if (n->peers[i]->id == id)
      return n->peers[i];
  return NULL;
}

/* Answer whoever waits for txid, committed at (height, index) of the
 * block whose Merkle tree is given; r is scratch room for the answer. */
static void answer_committed(struct node *n, const uint8_t txid[SP_HASH_LEN], uint64_t height,
                             uint32_t index, const struct sp_merkle_tree *tree,
                             struct sp_msg *r)
{
  struct hnode *h = hmap_find(&n->waiters, txid);
  if (h == NULL)
    return;
  memset(&r->u.result, 0, sizeof(r->u.result));
  r->type = SP_MSG_RESULT;
  memcpy(r->u.result.txid, txid, SP_HASH_LEN);
  r->u.result.status = SP_TXS_COMMITTED;
  r->u.result.height = height;
  r->u.result.index = index;
  size_t len = 0;
  if (sp_merkle_tree_path(tree, index, r->u.result.proof, &len) != SP_OK)
    return;
  r->u.result.n_proof = (uint32_t)len;
  do {
    struct waiter *w = HMAP_ENTRY(h, struct waiter, h);
    struct peer_info *pi = peer_by_id(n, w->peer);
    if (pi) {
      r->req_id = w->req_id;
      send_msg(pi, r);
      pi->waiting--;
    }
    h = hmap_next(h, txid); /* the rest of the chain, before w leaves it */
    hmap_remove(&n->waiters, &w->h);
    free(w);
  } while (h != NULL);
}

/* After a block, on an observer: every sender's first pending transaction
 * is checked against the new tip. A validator's proposals refuse what the
 * rules no longer take; an observer never proposes, so without this a
 * transaction refused since (one admitted on its sequence number alone
 * behind the one just committed, or one a block has made invalid) stayed
 * pending for good, its wallet unanswered, and the sender's later
 * submissions were refused as out of sequence. The sender's pending
 * transactions after a refused one can never commit: they are refused
 * with it. */
static void recheck_heads(struct node *n)
{
  size_t cap = n->mp.n, m = 0;
  struct sp_tx_check *chk = cap ? calloc(cap, sizeof(*chk)) : NULL;
  struct mp_entry **of = cap ? calloc(cap, sizeof(*of)) : NULL;
  for (size_t i = 0; chk && of && i < n->mp.len; i++) {
    struct mp_entry *e = n->mp.v[i];
    if (e && e->s_prev == NULL) { /* the first of its sender */
      chk[m] = (struct sp_tx_check){.tx = &e->tx, .txid = e->txid};
      of[m++] = e;
    }
  }
  if (m && sp_ledger_check_txs_verified(n->l, chk, m, now_ms()) == SP_LE_OK) {
    for (size_t k = 0; k < m; k++) {
      if (chk[k].rc != SP_LE_REFUSED)
        continue;
      struct mp_entry *e = of[k];
      uint64_t seq = e->tx.seq;
      uint8_t pk[SP_PK_LEN];
      memcpy(pk, e->tx.signer, SP_PK_LEN);
      LOG_I(0, pk, "pending seq %llu refused now: %s", (unsigned long long)seq, chk[k].why.msg);
      refuse_pending(n, e, &chk[k].why);
      struct sp_refusal after = {.reason = SP_R_WRONG_SEQUENCE};
      snprintf(after.msg, sizeof(after.msg),
               "an earlier transaction of this key (sequence number %llu) was refused",
               (unsigned long long)seq);
      while ((e = mp_sender_first(&n->mp, pk)) != NULL)
        refuse_pending(n, e, &after);
    }
  }
  free(chk);
  free(of);
}

/* A transaction of a block the ledger has applied: its bytes, signer and
 * sequence number. */
struct tx_span {
  const uint8_t *raw;
  size_t len;
  const uint8_t *signer;
  uint64_t seq;
};

/* The header and the transactions of encoded block blk, read without
 * decoding the transactions' other fields: the ledger has checked the
 * block whole, and a decode of every transaction again cost the loop
 * about half a microsecond each. *out is malloc'd (NULL for none). */
static int block_spans(const uint8_t *blk, size_t len, struct sp_header *h,
                       struct tx_span **out, uint32_t *n)
{
  struct sp_rd r = sp_rd_init(blk, len);
  uint64_t ver, kind;
  uint32_t cnt, fields, slen;
  *out = NULL;
  *n = 0;
  if (read_header(&r, h) || sp_rd_array_max(&r, &cnt, SP_MAX_BLOCK_TXS, 0))
    return -1;
  struct tx_span *v = cnt ? malloc(cnt * sizeof(*v)) : NULL;
  if (cnt && v == NULL)
    return -1;
  for (uint32_t i = 0; i < cnt; i++) {
    const uint8_t *start = r.p, *skip;
    size_t skip_len;
    /* [[version, kind, signer, seq, fields...], sig] */
    if (sp_rd_array_exact(&r, 2) || sp_rd_array(&r, &fields) || fields < 4 ||
        sp_rd_uint(&r, &ver) || sp_rd_uint(&r, &kind) ||
        sp_rd_bin(&r, &v[i].signer, &slen, SP_PK_LEN) || slen != SP_PK_LEN ||
        sp_rd_uint(&r, &v[i].seq)) {
      free(v);
      return -1;
    }
    for (uint32_t f = 4; f <= fields; f++) /* the other fields, then the signature */
      if (sp_rd_raw(&r, &skip, &skip_len)) {
        free(v);
        return -1;
      }
    v[i].raw = start;
    v[i].len = (size_t)(r.p - start);
  }
  *out = v;
  *n = cnt;
  return 0;
}

/* The id and Merkle leaf of a transaction of a block: those of its mempool
 * entry when it is the one pending (the same bytes), else computed. */
static void span_hashes(struct node *n, const struct tx_span *t, uint8_t txid[SP_HASH_LEN],
                        uint8_t leaf[SP_HASH_LEN])
{
  const struct mp_entry *e = mp_sender_first(&n->mp, t->signer);
  struct sp_tx tx;
  if (e && e->tx.seq == t->seq && e->len == t->len && memcmp(e->raw, t->raw, e->len) == 0) {
    memcpy(txid, e->txid, SP_HASH_LEN);
    memcpy(leaf, e->leaf, SP_HASH_LEN);
  } else if (sp_tx_decode(t->raw, t->len, &tx) == SP_OK) {
    sp_tx_id(&tx, n->chain_id, txid);
    sp_merkle_leaf(leaf, t->raw, t->len);
    sp_tx_clear(&tx);
  } else { /* cannot be: the ledger decoded it */
    memset(txid, 0, SP_HASH_LEN);
    memset(leaf, 0, SP_HASH_LEN);
  }
}

/* A block is in the ledger: its transactions leave the mempool, with
 * every pending one of the same senders whose sequence number it used up
 * (a conflicting one, refused now: it can never commit), and whoever
 * waits for them is answered, the receipt path read off one Merkle tree
 * of the block. O(transactions in the block), and on an observer also
 * O(pending senders) for recheck_heads. A transaction of the block
 * that is the one pending in the mempool (the same bytes) lends its id and
 * Merkle leaf, computed at admission; only others are decoded and hashed
 * here. */
static void after_block(struct node *n, const uint8_t *raw, size_t len)
{
  struct sp_header hd;
  struct tx_span *txs;
  uint32_t n_txs;
  if (block_spans(raw, len, &hd, &txs, &n_txs) != 0)
    return; /* it was applied, so it reads */
  /* receipts need every id and the tree; a node nobody waits on (an
   * observer) hashes only what it must compare with its mempool */
  size_t k = n_txs ? n_txs : 1;
  uint8_t(*leaves)[SP_HASH_LEN] = NULL, (*txids)[SP_HASH_LEN] = NULL;
  struct sp_msg *r = NULL;
  if (n->waiters.n > 0) {
    leaves = malloc(k * (size_t)SP_HASH_LEN);
    txids = malloc(k * (size_t)SP_HASH_LEN);
    r = malloc(sizeof(*r));
    if (!leaves || !txids || !r) {
      LOG_E(hd.height, NULL, "out of memory: waiting wallets get no answer");
      free(leaves), free(txids), free(r);
      leaves = txids = NULL;
      r = NULL;
    }
  }
  for (uint32_t i = 0; txids && i < n_txs; i++)
    span_hashes(n, &txs[i], txids[i], leaves[i]);
  struct sp_merkle_tree tree = {0};
  bool have_tree = txids && n_txs &&
                   sp_merkle_tree_build(&tree, (const uint8_t(*)[SP_HASH_LEN])leaves, n_txs) ==
                       SP_OK;
  for (uint32_t i = 0; i < n_txs; i++) {
    const struct tx_span *t = &txs[i];
    struct mp_entry *e = mp_sender_first(&n->mp, t->signer);
    uint8_t id[SP_HASH_LEN], leaf[SP_HASH_LEN];
    if (txids)
      memcpy(id, txids[i], SP_HASH_LEN);
    else if (e != NULL && e->tx.seq <= t->seq)
      span_hashes(n, t, id, leaf);
    for (; e != NULL && e->tx.seq <= t->seq; e = mp_sender_first(&n->mp, t->signer)) {
      if (memcmp(e->txid, id, SP_HASH_LEN) != 0)
        answer_refused(n, e->txid, SP_R_WRONG_SEQUENCE,
                       "another transaction of this key took its sequence number");
      mp_remove_entry(&n->mp, e);
    }
    if (have_tree)
      answer_committed(n, id, hd.height, i, &tree, r);
  }
  if (n->self < 0)
    recheck_heads(n);
  mp_compact(&n->mp);
  if (have_tree)
    sp_merkle_tree_free(&tree);
  free(leaves);
  free(txids);
  free(r);
  free(txs);
}

/* Begin consensus at the height after the ledger's tip. */
static void cons_start_now(struct node *n)
{
  n->waiting = false;
  uv_timer_stop(&n->next_timer);
  uint64_t next = tip_height(n) + 1;
  struct sp_cons_actions acts;
  sp_cons_actions_init(&acts);
  int rc = sp_cons_start(n->cons, next, &acts);
  if (rc) {
    LOG_E(next, NULL, "consensus cannot start: %s", sp_strerror(rc));
    node_stop(n, 1);
  }
  run_actions(n, &acts);
  sp_cons_actions_free(&acts);
}

static void on_next_timer(uv_timer_t *t)
{
  cons_start_now(t->data);
}

/* Transactions arriving while a block commits are collected for a short
 * moment before the next height starts, so blocks carry batches. */
#define COMMIT_PAUSE_MS 20

static void cons_start_next(struct node *n)
{
  /* Never start the next height from inside this call chain: with one
   * validator a block commits within its own start, and starting the next
   * one here would recurse without ever returning to the loop (no I/O,
   * no admissions). The timer always goes through the loop. */
  n->waiting = true;
  uint64_t wait = n->mp.n > 0 || n->empty_ms == 0 ? COMMIT_PAUSE_MS : n->empty_ms;
  /* with a quarter of a block waiting already, batching buys nothing */
  if (n->mp.n >= n->g->params.max_block_txs / 4 + 1)
    wait = 0;
  uv_timer_start(&n->next_timer, on_next_timer, wait, 0);
}

static void request_blocks(struct node *n, struct peer_info *pi, uint64_t from);

static void write_evidence(struct node *n, const struct sp_cons_action *a)
{
  char dir[PATH_MAX + 16], path[PATH_MAX + 96];
  snprintf(dir, sizeof(dir), "%s/evidence", n->home);
  mkdir(dir, 0700);
  snprintf(path, sizeof(path), "%s/%llu-%u-%s-%02x%02x%02x%02x.bin", dir,
           (unsigned long long)a->height, a->round,
           a->vote.type == SP_VOTE_PREVOTE ? "prevote" : "precommit", a->vote.validator[0],
           a->vote.validator[1], a->vote.validator[2], a->vote.validator[3]);
  struct sp_buf b;
  sp_buf_init(&b, 4096);
  sp_wr_array(&b, 2);
  sp__vote_write(&b, &a->vote);
  sp__vote_write(&b, &a->vote2);
  if (b.err == 0 && sp_write_file_durable(path, b.data, b.len) == 0)
    LOG_W(a->height, a->vote.validator, "equivocation: two votes in round %u, kept in %s",
          a->round, path);
  sp_buf_free(&b);
}

static void run_actions(struct node *n, struct sp_cons_actions *acts)
{
  /* Every PERSIST is a whole snapshot of the consensus state, so the last
   * one of the batch (before its COMMIT, after which nothing is run)
   * holds all that the earlier ones do. It alone is written, first: every
   * proposal and vote of the batch leaves after it is durable. A proposer
   * used to write its block three times per height (proposing, prevoting,
   * locking), each with its own fdatasync. */
  size_t last = SIZE_MAX;
  for (size_t i = 0; i < acts->n && acts->v[i].type != SP_CA_COMMIT; i++)
    if (acts->v[i].type == SP_CA_PERSIST)
      last = i;
  if (last != SIZE_MAX && !n->stopping &&
      sp_wal_write(&n->wal, acts->v[last].data, acts->v[last].len) != 0) {
    LOG_E(acts->v[last].height, NULL, "cannot write the consensus record in %s: stopping",
          n->home);
    node_stop(n, 1);
    return;
  }
  for (size_t i = 0; i < acts->n && !n->stopping; i++) {
    struct sp_cons_action *a = &acts->v[i];
    switch (a->type) {
    case SP_CA_PERSIST:
      break; /* written above */
    case SP_CA_PROPOSAL:
      broadcast_proposal(n, &a->proposal, a->data, a->len);
      break;
    case SP_CA_VOTE:
    case SP_CA_RELAY:
      broadcast_vote(n, &a->vote);
      break;
    case SP_CA_TIMEOUT:
      schedule_timeout(n, a);
      break;
    case SP_CA_COMMIT: {
      struct sp_refusal why;
      uint64_t t0 = uv_hrtime();
      int rc = sp_ledger_apply(n->l, a->data, a->len, &a->cert, &why);
      if (rc) {
        LOG_E(a->height, NULL, "decided block does not apply: %s",
              rc == SP_LE_REFUSED ? why.msg : sp_ledger_strerror(rc));
        break;
      }
      uint64_t t1 = uv_hrtime();
      after_block(n, a->data, a->len);
      LOG_I(a->height, NULL,
            "block committed in round %u with %u precommits (applied in %.1f ms, mempool "
            "and answers %.1f ms)",
            a->round, a->cert.n_sigs, (double)(t1 - t0) / 1e6, (double)(uv_hrtime() - t1) / 1e6);
      cons_start_next(n);
      return; /* the rest belongs to the finished height */
    }
    case SP_CA_REQUEST:
      for (size_t k = 0; k < n->n_peers; k++)
        if (sp_peer_role(n->peers[k]->p) == SP_ROLE_VALIDATOR) {
          request_blocks(n, n->peers[k], tip_height(n) + 1);
          break;
        }
      break;
    case SP_CA_EVIDENCE:
      write_evidence(n, a);
      break;
    }
  }
}

static void on_cons_message(struct node *n, const struct sp_msg *m)
{
  uint64_t h = m->type == SP_MSG_VOTE ? m->u.vote.height : m->u.proposal.proposal.height;
  if (n->waiting && h == tip_height(n) + 1)
    cons_start_now(n); /* another validator has moved on: join it */
  struct sp_cons_actions acts;
  sp_cons_actions_init(&acts);
  if (m->type == SP_MSG_VOTE) {
    sp_cons_on_vote(n->cons, &m->u.vote, &acts);
  } else {
    /* the block travels decoded in the message; the core wants its bytes,
     * of which the decoder keeps a view (canonical: the same as encoding
     * the fields again) */
    const struct sp_block *blk = &m->u.proposal.block;
    sp_cons_on_proposal(n->cons, &m->u.proposal.proposal, blk->raw, blk->raw_len, &acts);
  }
  run_actions(n, &acts);
  sp_cons_actions_free(&acts);
}

/* ============================================================ syncing */

static void request_blocks(struct node *n, struct peer_info *pi, uint64_t from)
{
  if (n->sync_asked == from)
    return; /* one request for a height at a time */
  n->sync_asked = from;
  struct sp_msg m = {.type = SP_MSG_BLOCKS_Q};
  m.u.blocks_q.from = from;
  m.u.blocks_q.count = SP_MAX_BLOCKS_PER_RESPONSE;
  send_msg(pi, &m);
}

/* Block sync applies the blocks of an answer in groups of SYNC_GROUP, each
 * group in one LMDB transaction with one durable commit
 * (sp_ledger_apply_batch: every block still checked in full), and checks
 * the signatures of the next group on another thread meanwhile (the ledger
 * remembers them). */
#define SYNC_GROUP 4

struct ahead {
  struct sp_ledger *l;
  const struct sp_block_entry *v; /* decoded: each block's raw view is its bytes */
  size_t n;
};

static void *verify_ahead(void *arg)
{
  struct ahead *a = arg;
  for (size_t k = 0; k < a->n; k++)
    sp_ledger_preverify(a->l, a->v[k].block.raw, a->v[k].block.raw_len);
  return NULL;
}

/* How many blocks of the answer from index i (up to SYNC_GROUP) follow one
 * another from height `first`: they are applied together, as the bytes
 * they arrived in (the decoder keeps a view of each). A gap or a repeat in
 * the heights ends the group; the rest waits for the next request. */
static size_t group_len(const struct sp_msg *m, uint32_t i, uint64_t first)
{
  size_t k = 0;
  while (k < SYNC_GROUP && i + k < m->u.blocks.n &&
         m->u.blocks.v[i + k].block.header.height == first + k && m->u.blocks.v[i + k].block.raw)
    k++;
  return k;
}

static void on_blocks_a(struct node *n, struct peer_info *pi, const struct sp_msg *m)
{
  uint64_t before = tip_height(n);
  const struct sp_block_entry *v = m->u.blocks.v;
  uint32_t i = 0;
  while (i < m->u.blocks.n && v[i].block.header.height <= tip_height(n))
    i++;
  /* block i is at height `first`, the first one above the tip */
  uint64_t first = tip_height(n) + 1;
  size_t n_cur = group_len(m, i, first);
  while (n_cur) {
    size_t n_next =
        n_cur == SYNC_GROUP ? group_len(m, i + (uint32_t)n_cur, first + n_cur) : 0;
    struct ahead a = {n->l, &v[i + n_cur], n_next};
    pthread_t th;
    bool ahead = n_next && pthread_create(&th, NULL, verify_ahead, &a) == 0;
    struct sp_block_in in[SYNC_GROUP];
    for (size_t k = 0; k < n_cur; k++)
      in[k] = (struct sp_block_in){v[i + k].block.raw, v[i + k].block.raw_len, &v[i + k].cert};
    struct sp_refusal why;
    int rc = sp_ledger_apply_batch(n->l, in, n_cur, &why);
    if (ahead)
      pthread_join(th, NULL);
    /* the blocks now in the ledger: all of the group or none (it starts
     * right above the tip and its heights follow one another) */
    uint64_t h1 = tip_height(n);
    for (size_t k = 0; k < n_cur && first + k <= h1; k++)
      after_block(n, in[k].raw, in[k].len);
    if (rc) {
      LOG_W(rc == SP_LE_REFUSED ? why.height : h1 + 1, sp_peer_pk(pi->p),
            "synced block refused: %s", rc == SP_LE_REFUSED ? why.msg : sp_ledger_strerror(rc));
      break;
    }
    i += (uint32_t)n_cur;
    first += n_cur;
    n_cur = n_next;
  }
  n->sync_asked = 0;
  uint64_t after = tip_height(n);
  if (after > before) {
    LOG_I(after, sp_peer_pk(pi->p), "caught up %llu blocks", (unsigned long long)(after - before));
    if (sp_cons_height(n->cons) <= after)
      cons_start_next(n);
    if (pi->height > after)
      request_blocks(n, pi, after + 1);
  }
}

static void on_blocks_q(struct node *n, struct peer_info *pi, const struct sp_msg *m)
{
  /* [1, BLOCKS_A, req, [[block, cert]...]] with stored bytes spliced in */
  uint64_t tip = tip_height(n);
  uint64_t from = m->u.blocks_q.from;
  struct sp_buf items, blk, out;
  sp_buf_init(&items, SP_MAX_FRAME - 1024);
  sp_buf_init(&blk, SP_MAX_BLOCK_BYTES);
  sp_buf_init(&out, SP_MAX_FRAME);
  uint32_t count = 0;
  for (uint64_t h = from; h <= tip && count < m->u.blocks_q.count; h++) {
    struct sp_cert cert;
    bool has = false;
    sp_buf_reset(&blk);
    if (sp_ledger_block(n->l, h, &blk, &cert, &has) || !has)
      break;
    size_t mark = items.len;
    sp_msg_blocks_item(&items, blk.data, blk.len, &cert);
    if (items.err) { /* full: the rest in the next answer */
      items.len = mark;
      items.err = 0;
      break;
    }
    count++;
  }
  sp_msg_blocks_a(&out, m->req_id, count, &items);
  int rc = out.err ? out.err : sp_peer_send(pi->p, out.data, out.len);
  if (rc)
    send_failed(pi, SP_MSG_BLOCKS_A, rc);
  sp_buf_free(&items);
  sp_buf_free(&blk);
  sp_buf_free(&out);
}

static void send_status_q(struct node *n)
{
  struct sp_msg m = {.type = SP_MSG_STATUS_Q};
  for (size_t i = 0; i < n->n_peers; i++) {
    uint32_t role = sp_peer_role(n->peers[i]->p);
    if (role == SP_ROLE_VALIDATOR || role == SP_ROLE_OBSERVER)
      send_msg(n->peers[i], &m);
  }
}

static void on_status_timer(uv_timer_t *t)
{
  struct node *n = t->data;
  n->sync_asked = 0; /* a lost request must not block syncing forever */
  send_status_q(n);
}

/* ======================================================== client API */

static bool is_privileged_key(struct node *n, const uint8_t pk[SP_PK_LEN])
{
  if (memcmp(pk, n->g->authority, SP_PK_LEN) == 0)
    return true;
  for (size_t i = 0; i < n->cfg.n_auditors; i++)
    if (memcmp(pk, n->cfg.auditors[i], SP_PK_LEN) == 0)
      return true;
  return false;
}

/* Reads are authorised: a household or merchant key sees its own account;
 * the authority, configured auditors and the chain's own nodes see all. */
static bool may_read(struct peer_info *pi, const uint8_t account[SP_PK_LEN])
{
  return pi->privileged || memcmp(sp_peer_pk(pi->p), account, SP_PK_LEN) == 0;
}

static void refuse_read(struct peer_info *pi, uint32_t req, const uint8_t account[SP_PK_LEN])
{
  char msg[160];
  const uint8_t *me = sp_peer_pk(pi->p);
  snprintf(msg, sizeof(msg), "key %02x%02x%02x%02x.. may not read account %02x%02x%02x%02x..",
           me[0], me[1], me[2], me[3], account[0], account[1], account[2], account[3]);
  send_error(pi, req, SP_NERR_NOT_ALLOWED, msg);
}

static void on_balance_q(struct node *n, struct peer_info *pi, const struct sp_msg *m)
{
  const uint8_t *acct = m->u.account.account;
  if (!may_read(pi, acct)) {
    refuse_read(pi, m->req_id, acct);
    return;
  }
  struct sp_account_info *a = malloc(sizeof(*a));
  struct sp_msg *r = calloc(1, sizeof(*r));
  if (a == NULL || r == NULL) {
    send_error(pi, m->req_id, SP_NERR_INTERNAL, "out of memory");
  } else {
    r->type = SP_MSG_BALANCE_A;
    r->req_id = m->req_id;
    memcpy(r->u.balance.account, acct, SP_PK_LEN);
    int rc = sp_ledger_account(n->l, acct, a);
    if (rc == 0) {
      r->u.balance.kind = a->kind;
      r->u.balance.status = a->status;
      r->u.balance.seq = a->seq;
      r->u.balance.n_rows = a->n_rows;
      for (uint32_t i = 0; i < a->n_rows; i++) {
        r->u.balance.rows[i].fund = sp_str_c(a->rows[i].fund);
        r->u.balance.rows[i].amount = a->rows[i].amount;
      }
      send_msg(pi, r);
    } else if (rc == SP_LE_NOTFOUND) {
      send_msg(pi, r); /* an unknown key: kind 0, no rows */
    } else {
      send_error(pi, m->req_id, SP_NERR_INTERNAL, sp_ledger_strerror(rc));
    }
  }
  free(a);
  free(r);
}

struct hist_collect {
  struct sp_msg_history *h;
  uint8_t *raw[SP_MAX_HISTORY];
};

static int collect_row(uint64_t height, uint32_t index, uint64_t time_ms, const uint8_t *tx,
                       size_t len, void *arg)
{
  struct hist_collect *hc = arg;
  uint32_t i = hc->h->n_rows;
  if (i >= SP_MAX_HISTORY || (hc->raw[i] = malloc(len)) == NULL)
    return 1;
  memcpy(hc->raw[i], tx, len);
  if (sp_tx_decode(hc->raw[i], len, &hc->h->rows[i].tx) != SP_OK) {
    free(hc->raw[i]);
    return 1;
  }
  hc->h->rows[i].height = height;
  hc->h->rows[i].index = index;
  hc->h->rows[i].time_ms = time_ms;
  hc->h->n_rows++;
  return 0;
}

static void on_history_q(struct node *n, struct peer_info *pi, const struct sp_msg *m)
{
  const uint8_t *acct = m->u.history_q.account;
  if (!may_read(pi, acct)) {
    refuse_read(pi, m->req_id, acct);
    return;
  }
  struct sp_msg r = {.type = SP_MSG_HISTORY_A, .req_id = m->req_id};
  struct hist_collect hc = {.h = &r.u.history};
  r.u.history.rows = calloc(SP_MAX_HISTORY, sizeof(*r.u.history.rows));
  if (r.u.history.rows == NULL) {
    send_error(pi, m->req_id, SP_NERR_INTERNAL, "out of memory");
    return;
  }
  int rc = sp_ledger_history(n->l, acct, m->u.history_q.before, m->u.history_q.limit,
                             collect_row, &hc, &r.u.history.next);
  if (rc)
    send_error(pi, m->req_id, SP_NERR_INTERNAL, sp_ledger_strerror(rc));
  else
    send_msg(pi, &r);
  for (uint32_t i = 0; i < r.u.history.n_rows; i++) {
    sp_tx_clear(&r.u.history.rows[i].tx);
    free(hc.raw[i]);
  }
  free(r.u.history.rows);
}

static void fill_proof(struct sp_msg_result *res, const struct sp_tx_proof *p)
{
  res->height = p->loc.height;
  res->index = p->loc.index;
  res->n_proof = (uint32_t)p->n_path;
  memcpy(res->proof, p->path, p->n_path * SP_HASH_LEN);
}

static void reply_result_committed(struct node *n, struct peer_info *pi, uint32_t req,
                                   const uint8_t txid[SP_HASH_LEN])
{
  struct sp_msg *r = calloc(1, sizeof(*r));
  struct sp_tx_proof *p = malloc(sizeof(*p));
  if (r && p) {
    sp_tx_proof_init(p);
    r->type = SP_MSG_RESULT;
    r->req_id = req;
    memcpy(r->u.result.txid, txid, SP_HASH_LEN);
    r->u.result.status = SP_TXS_COMMITTED;
    if (sp_ledger_tx_proof(n->l, txid, p) == 0) {
      fill_proof(&r->u.result, p);
      send_msg(pi, r);
    }
    sp_tx_proof_free(p);
  }
  free(p);
  free(r);
}

static void reply_result(struct peer_info *pi, uint32_t req, const uint8_t txid[SP_HASH_LEN],
                         uint32_t status, uint32_t reason, const char *text)
{
  struct sp_msg *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return;
  r->type = SP_MSG_RESULT;
  r->req_id = req;
  memcpy(r->u.result.txid, txid, SP_HASH_LEN);
  r->u.result.status = status;
  r->u.result.reason = reason;
  r->u.result.message = sp_str_c(text ? text : "");
  send_msg(pi, r);
  free(r);
}

static void on_tx_status(struct node *n, struct peer_info *pi, const struct sp_msg *m)
{
  const uint8_t *id = m->u.txid.txid;
  struct sp_tx_location loc;
  if (sp_ledger_find_tx(n->l, id, &loc) == 0)
    reply_result_committed(n, pi, m->req_id, id);
  else if (mp_find(&n->mp, id))
    reply_result(pi, m->req_id, id, SP_TXS_PENDING, 0, "waiting for a block");
  else
    reply_result(pi, m->req_id, id, SP_TXS_UNKNOWN, 0, "not known to this node");
}

/* Keys a transaction names: who may fetch its receipt. */
static bool tx_involves(const struct sp_tx *tx, const uint8_t pk[SP_PK_LEN])
{
  if (!memcmp(tx->signer, pk, SP_PK_LEN))
    return true;
  switch (tx->kind) {
  case SP_TX_PAY: return !memcmp(tx->u.pay.merchant, pk, SP_PK_LEN);
  case SP_TX_PASS_ENROLL: return !memcmp(tx->u.pass_enroll.pass, pk, SP_PK_LEN);
  case SP_TX_PASS_BLOCK:
  case SP_TX_PASS_UNBLOCK:
  case SP_TX_MERCHANT_SUSPEND:
  case SP_TX_MERCHANT_REINSTATE: return !memcmp(tx->u.reason.account, pk, SP_PK_LEN);
  case SP_TX_PASS_REPLACE:
    return !memcmp(tx->u.pass_replace.old_pass, pk, SP_PK_LEN) ||
           !memcmp(tx->u.pass_replace.new_pass, pk, SP_PK_LEN);
  case SP_TX_MERCHANT_REGISTER:
  case SP_TX_MERCHANT_UPDATE: return !memcmp(tx->u.merchant.merchant, pk, SP_PK_LEN);
  case SP_TX_ISSUE:
    for (uint32_t i = 0; i < tx->u.issue.n_rows; i++)
      if (!memcmp(tx->u.issue.rows[i].pass, pk, SP_PK_LEN))
        return true;
    return false;
  default: return false;
  }
}

static void on_proof_q(struct node *n, struct peer_info *pi, const struct sp_msg *m)
{
  struct sp_tx_proof *p = malloc(sizeof(*p));
  struct sp_msg *r = calloc(1, sizeof(*r));
  if (p == NULL || r == NULL) {
    free(p);
    free(r);
    send_error(pi, m->req_id, SP_NERR_INTERNAL, "out of memory");
    return;
  }
  sp_tx_proof_init(p);
  int rc = sp_ledger_tx_proof(n->l, m->u.txid.txid, p);
  if (rc == SP_LE_NOTFOUND) {
    send_error(pi, m->req_id, SP_NERR_NOT_FOUND, "no committed transaction with this id");
  } else if (rc) {
    send_error(pi, m->req_id, SP_NERR_INTERNAL, sp_ledger_strerror(rc));
  } else if (!p->has_cert) {
    send_error(pi, m->req_id, SP_NERR_NOT_FOUND, "the block's certificate is not stored yet");
  } else {
    r->type = SP_MSG_PROOF_A;
    r->req_id = m->req_id;
    struct sp_msg_proof *pf = &r->u.proof;
    if (sp_tx_decode(p->tx.data, p->tx.len, &pf->tx) ||
        sp_header_decode(p->header.data, p->header.len, &pf->header)) {
      send_error(pi, m->req_id, SP_NERR_INTERNAL, "stored data is damaged");
    } else if (!pi->privileged && !tx_involves(&pf->tx, sp_peer_pk(pi->p))) {
      refuse_read(pi, m->req_id, pf->tx.signer);
    } else {
      pf->height = p->loc.height;
      pf->index = p->loc.index;
      pf->n_proof = (uint32_t)p->n_path;
      memcpy(pf->proof, p->path, p->n_path * SP_HASH_LEN);
      pf->cert = p->cert;
      send_msg(pi, r);
    }
    sp_tx_clear(&pf->tx);
  }
  sp_tx_proof_free(p);
  free(p);
  free(r);
}

static void on_status_q(struct node *n, struct peer_info *pi, const struct sp_msg *m)
{
  struct sp_tip tip;
  struct sp_msg r = {.type = SP_MSG_STATUS_A, .req_id = m->req_id};
  if (sp_ledger_tip(n->l, &tip) != 0) {
    send_error(pi, m->req_id, SP_NERR_INTERNAL, "cannot read the tip");
    return;
  }
  memcpy(r.u.status.chain_id, n->chain_id, SP_HASH_LEN);
  r.u.status.height = tip.height;
  memcpy(r.u.status.tip, tip.hash, SP_HASH_LEN);
  memcpy(r.u.status.state_digest, tip.state_digest, SP_HASH_LEN);
  r.u.status.role = n->self >= 0 ? SP_ROLE_VALIDATOR : SP_ROLE_OBSERVER;
  r.u.status.peers = (uint32_t)n->n_peers;
  r.u.status.mempool = (uint32_t)n->mp.n;
  r.u.status.version = sp_str_c(AGENT);
  send_msg(pi, &r);
}

/* Fund figures are public: anybody may see what a fund holds and allows. */
struct funds_collect {
  struct node *n;
  struct sp_fund_info *info; /* owned strings for the views in rows */
  struct sp_fund_row *rows;
  uint32_t count, cap;
  const char *only;
};

static int spend_row(const char *cat, uint64_t cents, void *arg)
{
  struct sp_fund_row *row = arg;
  if (row->n_spending == SP_MAX_CATEGORIES)
    return 1;
  /* cat points into a buffer that dies after the call: keep it in the row */
  char *copy = strdup(cat);
  if (copy == NULL)
    return 1;
  row->spending[row->n_spending].category = sp_str_c(copy);
  row->spending[row->n_spending++].cents = cents;
  return 0;
}

static int fund_row(const struct sp_fund_info *f, void *arg)
{
  struct funds_collect *fc = arg;
  if (fc->only && strcmp(fc->only, f->id))
    return 0;
  if (fc->count == fc->cap)
    return 1;
  struct sp_fund_info *keep = &fc->info[fc->count];
  struct sp_fund_row *row = &fc->rows[fc->count++];
  *keep = *f;
  row->id = sp_str_c(keep->id);
  row->name = sp_str_c(keep->name);
  row->categories.n = keep->n_categories;
  for (uint32_t i = 0; i < keep->n_categories; i++)
    row->categories.v[i] = sp_str_c(keep->categories[i]);
  row->valid_from_ms = f->valid_from_ms;
  row->valid_until_ms = f->valid_until_ms;
  row->max_payment = f->max_payment;
  row->closed = f->closed;
  row->deposited = f->deposited;
  row->unissued = f->unissued;
  row->passes = f->passes;
  row->receivable = f->receivable;
  row->claimed = f->claimed;
  row->settled = f->settled;
  row->returned = f->returned;
  row->issued = f->issued;
  row->spent = f->spent;
  row->refunded = f->refunded;
  sp_ledger_fund_spending(fc->n->l, f->id, spend_row, row);
  return 0;
}

static void on_funds_q(struct node *n, struct peer_info *pi, const struct sp_msg *m)
{
  char only[SP_MAX_ID + 1];
  struct funds_collect fc = {.n = n, .cap = SP_MAX_FUNDS};
  if (m->u.funds_q.fund.len) {
    snprintf(only, sizeof(only), "%.*s", (int)m->u.funds_q.fund.len, m->u.funds_q.fund.p);
    fc.only = only;
  }
  fc.info = calloc(SP_MAX_FUNDS, sizeof(*fc.info));
  fc.rows = calloc(SP_MAX_FUNDS, sizeof(*fc.rows));
  if (fc.info && fc.rows) {
    int rc = sp_ledger_funds(n->l, fund_row, &fc);
    struct sp_msg r = {.type = SP_MSG_FUNDS_A, .req_id = m->req_id};
    r.u.funds.n = fc.count;
    r.u.funds.rows = fc.rows;
    if (rc)
      send_error(pi, m->req_id, SP_NERR_INTERNAL, sp_ledger_strerror(rc));
    else
      send_msg(pi, &r);
  } else {
    send_error(pi, m->req_id, SP_NERR_INTERNAL, "out of memory");
  }
  for (uint32_t i = 0; i < fc.count; i++)
    for (uint32_t k = 0; k < fc.rows[i].n_spending; k++)
      free((char *)fc.rows[i].spending[k].category.p);
  free(fc.info);
  free(fc.rows);
}

/* ----------------------------------------------------------- admission */

struct admission {
  struct node *n;
  uint64_t from; /* connection id; its peer may be gone by the answer */
  uint32_t req_id;
  bool reply;
  bool from_validator; /* gossip: forwarded again only if ... */
  bool relay;          /* ... its sender asked (GOSSIP_RELAY) */
  struct mp_entry *e;
  bool need_state; /* the sender had nothing pending: check it against the tip */
  /* the worker's findings */
  bool committed; /* already in a block (looked up only after a refusal) */
  bool sig_ok;
  bool state_done; /* state_rc holds ... */
  int state_rc;    /* ... its check against the tip (SP_LE_*) ... */
  uint64_t tip;    /* ... at this height */
  struct sp_refusal why;
  bool done;
  int status;
  struct admission *next_in_order;
};

/* The worker's part of a batch of admissions: signatures (remembered by
 * the ledger: the proposal check and the apply of the block that carries
 * one will not verify it again), then the state checks, all in one read
 * transaction beside the loop. A state check counts if the sender still
 * has nothing pending when the loop takes the result (a sender's later
 * ones follow its pending ones instead). A transaction already in a block
 * is refused on its sequence number: only then is it worth looking up, to
 * answer "committed" to a resubmission. */
static void admit_verify(struct admission **v, size_t k)
{
  struct sp_ledger *l = v[0]->n->l;
  struct sp_tx_check chk[ADMIT_BATCH];
  struct admission *of[ADMIT_BATCH];
  size_t m = 0;
  for (size_t i = 0; i < k; i++) {
    struct admission *ad = v[i];
    ad->sig_ok = sp_ledger_verify_tx_leaf(l, &ad->e->tx, ad->e->leaf) == SP_LE_OK;
    if (ad->sig_ok && ad->need_state) {
      chk[m] = (struct sp_tx_check){.tx = &ad->e->tx, .txid = ad->e->txid};
      of[m++] = ad;
    }
  }
  /* a store error leaves state_done false: the loop checks again */
  if (m == 0 || sp_ledger_check_txs_verified(l, chk, m, now_ms()) != SP_LE_OK)
    return;
  for (size_t i = 0; i < m; i++) {
    struct admission *ad = of[i];
    struct sp_tx_location loc;
    ad->state_rc = chk[i].rc;
    ad->why = chk[i].why;
    ad->state_done = true;
    ad->tip = ad->why.height - 1;
    if (ad->state_rc == SP_LE_REFUSED)
      ad->committed = sp_ledger_find_tx(l, ad->e->txid, &loc) == SP_LE_OK;
  }
}

static void admission_done(struct admission *ad)
{
  struct peer_info *pi = peer_by_id(ad->n, ad->from);
  if (pi && pi->pending > 0 && --pi->pending < MAX_PENDING_PER_PEER / 2 && pi->paused) {
    pi->paused = false;
    sp_peer_pause(pi->p, false);
  }
}

/* A forwarded SUBMIT carries req_id GOSSIP_RELAY when its sender could not
 * reach every validator itself: the validators that get it pass it on to
 * the ones they are connected to (once: what they send is marked 0). */
#define GOSSIP_RELAY 1u

static void gossip_submit(struct node *n, struct sp_peer *except, const struct mp_entry *e,
                          bool relay)
{
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_TX_BYTES + 64);
  sp_wr_array(&b, 4);
  sp_wr_uint(&b, SP_FORMAT_VERSION);
  sp_wr_uint(&b, SP_MSG_SUBMIT);
  sp_wr_uint(&b, relay ? GOSSIP_RELAY : 0);
  sp_buf_append(&b, e->raw, e->len);
  for (size_t i = 0; b.err == 0 && i < n->n_peers; i++)
    if (n->peers[i]->p != except && sp_peer_role(n->peers[i]->p) == SP_ROLE_VALIDATOR)
      sp_peer_send(n->peers[i]->p, b.data, b.len);
  sp_buf_free(&b);
}

/* Signatures are checked in parallel, but admissions finish in the order
 * the transactions arrived: a sender's seq 5 must not be judged before its
 * seq 4 (pipelined submissions). */
static void admit_finish(struct admission *ad, int status);

static void wait_for(struct node *n, struct peer_info *pi, uint32_t req_id,
                     const uint8_t txid[SP_HASH_LEN])
{
  if (pi->waiting >= MAX_WAITERS_PER_PEER) {
    send_error(pi, req_id, SP_NERR_BUSY,
               "too many submissions of this connection wait for their block");
    return;
  }
  struct waiter *wt = calloc(1, sizeof(*wt));
  if (wt) {
    pi->waiting++;
    memcpy(wt->txid, txid, SP_HASH_LEN);
    wt->peer = pi->id;
    wt->req_id = req_id;
    wt->h.key = wt->txid;
    hmap_insert(&n->waiters, &wt->h);
  }
}

static void add_waiter(struct node *n, struct peer_info *pi, const struct admission *ad,
                       const uint8_t txid[SP_HASH_LEN])
{
  if (pi != NULL && ad->reply)
    wait_for(n, pi, ad->req_id, txid);
}

/* Admissions go to libuv's pool in batches (those of one loop iteration,
 * up to ADMIT_BATCH): one queue hand-off and one wake-up of the loop for
 * many transactions instead of one each. */
struct admit_batch {
  uv_work_t work;
  size_t k;
  struct admission *v[ADMIT_BATCH];
};

static void admit_batch_work(uv_work_t *w)
{
  struct admit_batch *b = w->data;
  admit_verify(b->v, b->k);
}

static void admit_batch_after(uv_work_t *w, int status)
{
  struct admit_batch *b = w->data;
  struct node *n = b->v[0]->n;
  for (size_t i = 0; i < b->k; i++) {
    b->v[i]->done = true;
    b->v[i]->status = status;
  }
  free(b);
  while (n->adm_head && n->adm_head->done) {
    struct admission *head = n->adm_head;
    n->adm_head = head->next_in_order;
    if (n->adm_head == NULL)
      n->adm_tail = NULL;
    admit_finish(head, head->status);
  }
}

static void admit_finish(struct admission *ad, int status)
{
  struct node *n = ad->n;
  struct mp_entry *e = ad->e;
  struct peer_info *pi = peer_by_id(n, ad->from);
  admission_done(ad);
  if (status != 0 || n->stopping)
    goto drop;
  if (ad->committed) {
    if (pi && ad->reply)
      reply_result_committed(n, pi, ad->req_id, e->txid);
    goto drop;
  }
  if (!ad->sig_ok) {
    if (pi && ad->reply)
      reply_result(pi, ad->req_id, e->txid, SP_TXS_REFUSED, SP_R_BAD_SIGNATURE,
                   "signature does not verify for this chain");
    goto drop;
  }
  if (mp_find(&n->mp, e->txid))
    goto wait; /* a duplicate arrived meanwhile */
  const char *full = mp_room(&n->mp, e->tx.signer, e->len);
  if (full) {
    if (pi && ad->reply)
      send_error(pi, ad->req_id, SP_NERR_BUSY, full);
    goto drop;
  }
  /* the state check: against the tip if this is the sender's next
   * transaction, else it must follow the sender's pending ones */
  uint64_t pend_seq;
  size_t pending = mp_sender(&n->mp, e->tx.signer, &pend_seq);
  struct sp_refusal why = {0};
  int rc;
  if (pending == 0 && ad->state_done && ad->tip == tip_height(n)) {
    rc = ad->state_rc; /* no block since the worker's check */
    why = ad->why;
  } else if (pending == 0) {
    rc = sp_ledger_check_tx_verified(n->l, &e->tx, now_ms(), &why);
  } else if (e->tx.seq == pend_seq + 1) {
    rc = 0; /* checked against the state when a proposer takes it */
  } else {
    rc = SP_LE_REFUSED;
    why.reason = SP_R_WRONG_SEQUENCE;
    snprintf(why.msg, sizeof(why.msg), "sequence number %llu, expected %llu",
             (unsigned long long)e->tx.seq, (unsigned long long)(pend_seq + 1));
  }
  if (rc == SP_LE_REFUSED) {
    struct sp_tx_location loc;
    if (pi && ad->reply) {
      if (sp_ledger_find_tx(n->l, e->txid, &loc) == SP_LE_OK) /* a resubmission */
        reply_result_committed(n, pi, ad->req_id, e->txid);
      else
        reply_result(pi, ad->req_id, e->txid, SP_TXS_REFUSED, (uint32_t)why.reason, why.msg);
    }
    goto drop;
  }
  if (rc) {
    if (pi && ad->reply)
      send_error(pi, ad->req_id, SP_NERR_INTERNAL, sp_ledger_strerror(rc));
    goto drop;
  }
  if (mp_add(&n->mp, e) != 0)
    goto drop;
  LOG_D(0, e->tx.signer, "admitted %s seq %llu", sp_tx_kind_name(e->tx.kind),
        (unsigned long long)e->tx.seq);
  /* What reached us from elsewhere (a wallet, an observer) goes to every
   * validator we are connected to. When that is all of them, one hop is
   * enough: forwarding again what a validator sent made every validator
   * receive and decode each transaction once per validator, only to find
   * it pending already. When it is not (a link down, or still coming up),
   * the copies ask their receivers to pass them on, once. */
  if (!ad->from_validator)
    gossip_submit(n, pi ? pi->p : NULL, e, !n->reach_all);
  else if (ad->relay)
    gossip_submit(n, pi ? pi->p : NULL, e, false);
  /* the mempool owns e now, and a block may commit (and free it) as soon
   * as consensus starts: register the waiter first, with its own copy */
  add_waiter(n, pi, ad, e->txid);
  e = NULL;
  /* there is something to order now: do not wait for an empty block */
  if (n->waiting && uv_timer_get_due_in(&n->next_timer) > COMMIT_PAUSE_MS)
    uv_timer_start(&n->next_timer, on_next_timer, COMMIT_PAUSE_MS, 0);
  goto drop;
wait:
  add_waiter(n, pi, ad, e->txid);
drop:
  if (e) {
    sp_tx_clear(&e->tx);
    free(e->buf);
    free(e);
  }
  free(ad);
}

static void admit_flush(struct node *n)
{
  struct admit_batch *b = n->batch;
  if (b == NULL || b->k == 0)
    return;
  n->batch = NULL;
  b->work.data = b;
  uv_queue_work(&n->loop, &b->work, admit_batch_work, admit_batch_after);
}

/* After each poll: what the connections' messages started leaves as one
 * batch. */
static void on_admit_check(uv_check_t *h)
{
  admit_flush(h->data);
}

/* m was decoded from `own` (malloc'd), which the mempool entry keeps: the
 * transaction is not decoded a second time. */
static void on_submit(struct node *n, struct peer_info *pi, struct sp_msg *m, uint8_t *own)
{
  struct sp_tx *tx = &m->u.submit;
  bool reply = sp_peer_role(pi->p) == SP_ROLE_WALLET;
  uint8_t txid[SP_HASH_LEN];
  sp_tx_id(tx, n->chain_id, txid);
  if (mp_find(&n->mp, txid)) {
    /* pending already: a wallet's resubmission waits for the same block,
     * anything else has nothing more to do */
    if (reply)
      wait_for(n, pi, m->req_id, txid);
    free(own);
    return;
  }
  if (n->batch == NULL)
    n->batch = calloc(1, sizeof(*n->batch));
  struct admission *ad = calloc(1, sizeof(*ad));
  struct mp_entry *e = calloc(1, sizeof(*e));
  if (!ad || !e || !n->batch) {
    free(ad), free(e), free(own);
    if (reply)
      send_error(pi, m->req_id, SP_NERR_INTERNAL, "out of memory");
    return;
  }
  e->buf = own;
  e->tx = *tx;
  memset(tx, 0, sizeof(*tx)); /* the entry owns what it holds now */
  tx = &e->tx;
  e->raw = tx->raw;
  e->len = tx->raw_len;
  memcpy(e->txid, txid, SP_HASH_LEN);
  ad->n = n;
  ad->from = pi->id;
  ad->req_id = m->req_id;
  ad->reply = reply;
  ad->from_validator = sp_peer_role(pi->p) == SP_ROLE_VALIDATOR;
  ad->relay = ad->from_validator && m->req_id == GOSSIP_RELAY;
  ad->e = e;
  uint64_t pend_seq;
  ad->need_state = mp_sender(&n->mp, tx->signer, &pend_seq) == 0;
  /* backpressure: a peer with too much in flight is not read from */
  if (++pi->pending >= MAX_PENDING_PER_PEER && !pi->paused) {
    pi->paused = true;
    sp_peer_pause(pi->p, true);
  }
  if (n->adm_tail)
    n->adm_tail->next_in_order = ad;
  else
    n->adm_head = ad;
  n->adm_tail = ad;
  n->batch->v[n->batch->k++] = ad;
  if (n->batch->k == ADMIT_BATCH)
    admit_flush(n);
}

/* =========================================================== routing */

static void on_message(void *ctx, struct sp_peer *p, const uint8_t *msg, size_t len)
{
  struct node *n = ctx;
  struct peer_info *pi = sp_peer_user(p);
  struct sp_msg *m = malloc(sizeof(*m));
  if (m == NULL || pi == NULL) {
    free(m);
    return;
  }
  /* A SUBMIT is decoded from a copy that its mempool entry keeps, not
   * decoded again from a copy of its bytes: one decode a transaction
   * instead of two. */
  uint8_t *own = NULL;
  if (sp_msg_peek_type(msg, len) == SP_MSG_SUBMIT) {
    if ((own = malloc(len)) == NULL) {
      send_error(pi, 0, SP_NERR_INTERNAL, "out of memory");
      free(m);
      return;
    }
    memcpy(own, msg, len);
    msg = own;
  }
  int rc = sp_msg_decode(msg, len, m);
  if (rc) {
    char why[96];
    snprintf(why, sizeof(why), "undecodable message: %s", sp_strerror(rc));
    sp_peer_close(p, why);
    free(m);
    free(own);
    return;
  }
  uint32_t role = sp_peer_role(p);
  bool node_peer = role == SP_ROLE_VALIDATOR || role == SP_ROLE_OBSERVER;
  switch (m->type) {
  case SP_MSG_PROPOSAL:
  case SP_MSG_VOTE:
    if (role == SP_ROLE_VALIDATOR)
      on_cons_message(n, m);
    break;
  case SP_MSG_SUBMIT: /* own is set: the envelope said SUBMIT too */
    if (own)
      on_submit(n, pi, m, own);
    own = NULL;
    break;
  case SP_MSG_TX_STATUS: on_tx_status(n, pi, m); break;
  case SP_MSG_BALANCE_Q: on_balance_q(n, pi, m); break;
  case SP_MSG_HISTORY_Q: on_history_q(n, pi, m); break;
  case SP_MSG_PROOF_Q: on_proof_q(n, pi, m); break;
  case SP_MSG_STATUS_Q: on_status_q(n, pi, m); break;
  case SP_MSG_STATUS_A:
    if (node_peer) {
      pi->height = m->u.status.height;
      if (m->u.status.height > tip_height(n))
        request_blocks(n, pi, tip_height(n) + 1);
    }
    break;
  case SP_MSG_BLOCKS_Q:
    /* nodes sync; the authority and auditors replay the chain themselves */
    if (node_peer || pi->privileged)
      on_blocks_q(n, pi, m);
    else
      send_error(pi, m->req_id, SP_NERR_NOT_ALLOWED, "block sync is for nodes and auditors");
    break;
  case SP_MSG_FUNDS_Q: on_funds_q(n, pi, m); break;
  case SP_MSG_BLOCKS_A:
    if (node_peer)
      on_blocks_a(n, pi, m);
    break;
  case SP_MSG_ERROR:
    LOG_W(0, sp_peer_pk(p), "peer reports error %u: %.*s", m->u.error.code,
          (int)m->u.error.message.len, m->u.error.message.p);
    break;
  default:
    send_error(pi, m->req_id, SP_NERR_BAD_REQUEST, "unexpected message type");
  }
  sp_msg_clear(m);
  free(m);
  free(own);
}

static bool is_validator_key(struct node *n, const uint8_t pk[SP_PK_LEN])
{
  for (uint32_t i = 0; i < n->g->n_validators; i++)
    if (!memcmp(n->g->validators[i].pk, pk, SP_PK_LEN))
      return true;
  return false;
}

static bool is_observer_key(struct node *n, const uint8_t pk[SP_PK_LEN])
{
  for (size_t i = 0; i < n->cfg.n_observers; i++)
    if (!memcmp(n->cfg.observers[i], pk, SP_PK_LEN))
      return true;
  return false;
}

/* Is every other genesis validator among our connections? */
static void update_reach(struct node *n)
{
  bool all = true;
  for (uint32_t v = 0; all && v < n->g->n_validators; v++) {
    const uint8_t *pk = n->g->validators[v].pk;
    if (!memcmp(pk, n->pk, SP_PK_LEN))
      continue;
    bool found = false;
    for (size_t i = 0; !found && i < n->n_peers; i++)
      found = sp_peer_role(n->peers[i]->p) == SP_ROLE_VALIDATOR &&
              !memcmp(sp_peer_pk(n->peers[i]->p), pk, SP_PK_LEN);
    all = found;
  }
  n->reach_all = all;
}

static int on_open(void *ctx, struct sp_peer *p)
{
  struct node *n = ctx;
  const uint8_t *pk = sp_peer_pk(p);
  uint32_t role = sp_peer_role(p);
  /* a node accepts as peers only genesis validators and the observers it
   * serves; wallets may be anybody (their reads are authorised per key) */
  if (role == SP_ROLE_VALIDATOR && !is_validator_key(n, pk)) {
    LOG_W(0, pk, "refused: claims to be a validator but is not in genesis");
    return 1;
  }
  if (role == SP_ROLE_OBSERVER && !sp_peer_outbound(p) && !is_observer_key(n, pk)) {
    LOG_W(0, pk, "refused: not an observer this node serves");
    return 1;
  }
  struct peer_info *pi = calloc(1, sizeof(*pi));
  if (pi == NULL)
    return 1;
  if (n->n_peers == n->cap_peers) {
    size_t cap = n->cap_peers ? 2 * n->cap_peers : 16;
    struct peer_info **v = realloc(n->peers, cap * sizeof(*v));
    if (v == NULL) {
      free(pi);
      return 1;
    }
    n->peers = v;
    n->cap_peers = cap;
  }
  pi->p = p;
  pi->id = ++n->next_peer_id;
  pi->privileged = role != SP_ROLE_WALLET || is_privileged_key(n, pk);
  n->peers[n->n_peers++] = pi;
  sp_peer_set_user(p, pi);
  update_reach(n);
  LOG_I(0, pk, "connected (%s, %s)",
        role == SP_ROLE_VALIDATOR ? "validator" : role == SP_ROLE_OBSERVER ? "observer" : "wallet",
        sp_peer_addr(p));
  if (role != SP_ROLE_WALLET) {
    struct sp_msg m = {.type = SP_MSG_STATUS_Q};
    send_msg(pi, &m);
    if (n->sent_height == tip_height(n) + 1)
      for (size_t i = 0; i < n->n_sent; i++)
        sp_peer_send(p, n->sent[i], n->sent_len[i]);
  }
  return 0;
}

static void on_close(void *ctx, struct sp_peer *p, const char *reason)
{
  struct node *n = ctx;
  LOG_I(0, sp_peer_pk(p), "disconnected: %s", reason);
  uint64_t id = 0;
  for (size_t i = 0; i < n->n_peers; i++) {
    if (n->peers[i]->p == p) {
      id = n->peers[i]->id;
      free(n->peers[i]);
      n->peers[i] = n->peers[--n->n_peers];
      break;
    }
  }
  update_reach(n);
  /* forget its pending answers; admissions in flight see it gone */
  forget_waiters(n, id, false);
}

/* ========================================================= lifecycle */

static void on_net_closed(void *arg)
{
  (void)arg;
}

static void close_walk(uv_handle_t *h, void *arg)
{
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void node_stop(struct node *n, int code)
{
  if (n->stopping)
    return;
  n->stopping = true;
  n->exit_code = code;
  LOG_I(0, NULL, "stopping");
  for (struct ctimer *t = n->timers, *next; t; t = next) {
    next = t->next;
    uv_close((uv_handle_t *)&t->t, timer_closed);
  }
  n->timers = NULL;
  admit_flush(n); /* they finish (dropped, as stopping) and free */
  uv_close((uv_handle_t *)&n->admit_check, NULL);
  uv_close((uv_handle_t *)&n->status_timer, NULL);
  uv_close((uv_handle_t *)&n->next_timer, NULL);
  uv_close((uv_handle_t *)&n->sigint, NULL);
  uv_close((uv_handle_t *)&n->sigterm, NULL);
  if (n->net)
    sp_net_close(n->net, on_net_closed, n);
}

static void on_signal(uv_signal_t *s, int signum)
{
  struct node *n = s->data;
  LOG_I(0, NULL, "signal %d", signum);
  node_stop(n, 0);
}

static int load_genesis_into_ledger(struct node *n, char *err, size_t cap)
{
  char path[PATH_MAX + 16];
  snprintf(path, sizeof(path), "%s/data", n->home);
  struct sp_ledger_opts o = {0};
  int rc = sp_ledger_open(&n->l, path, &o);
  if (rc) {
    snprintf(err, cap, "cannot open the ledger in '%.200s': %s (run: stadjerd init --home "
                       "%.200s --genesis FILE)",
             path, sp_ledger_strerror(rc), n->home);
    return -1;
  }
  n->g = sp_ledger_genesis(n->l);
  n->chain_id = sp_ledger_chain_id(n->l);
  return 0;
}

static void dial_validators(struct node *n)
{
  for (uint32_t i = 0; i < n->g->n_validators; i++) {
    const struct sp_validator *v = &n->g->validators[i];
    if ((int)i == n->self)
      continue;
    /* each validator pair has one dialer: the smaller key dials */
    if (n->self >= 0 && memcmp(n->pk, v->pk, SP_PK_LEN) > 0)
      continue;
    char addr[SP_MAX_ADDR + 1], host[SP_MAX_ADDR + 1];
    int port;
    memcpy(addr, v->addr.p, v->addr.len);
    addr[v->addr.len] = 0;
    if (sp_split_hostport(addr, host, sizeof(host), &port) != 0) {
      LOG_W(0, v->pk, "genesis address '%s' is not HOST:PORT", addr);
      continue;
    }
    sp_net_dial(n->net, host, port, v->pk);
  }
}

/* libuv's thread pool (admissions: signature and state checks) defaults
 * to 4 threads; more runnable threads than cores only adds switching, and
 * the ledger's own pool and the loop share the same cores. An operator's
 * UV_THREADPOOL_SIZE wins. Must run before the pool's first use. */
static void size_thread_pool(void)
{
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  char v[24];
  if (getenv("UV_THREADPOOL_SIZE") || cores < 1)
    return;
  snprintf(v, sizeof(v), "%ld", cores < 2 ? 2 : cores > 128 ? 128 : cores);
  setenv("UV_THREADPOOL_SIZE", v, 0);
}

/* Every block allocates and frees a few arrays of megabytes (candidates,
 * decoded transactions, refusals, the consensus snapshot). With glibc's
 * defaults some of them are mapped and unmapped each time, or the heap is
 * grown and trimmed back, and the loop pays a page fault per 4 KiB touched
 * again (about a tenth of its CPU under load). Freed memory is kept
 * instead, up to what a node holds at a block's peak anyway. */
static void tune_malloc(void)
{
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}

int sp_node_run(const char *home, const struct sp_home_config *cfg)
{
  tune_malloc();
  size_thread_pool();
  struct node *n = calloc(1, sizeof(*n));
  char err[512];
  int code = 1;
  if (n == NULL)
    return 1;
  n->lock_fd = -1;
  n->cfg = *cfg;
  snprintf(n->home, sizeof(n->home), "%s", home);
  n->wal.fd[0] = n->wal.fd[1] = -1;
  if (sp_crypto_init() != 0) {
    fprintf(stderr, "stadjerd: libsodium cannot start\n");
    goto out;
  }
  if ((n->lock_fd = sp_home_lock(home, err, sizeof(err))) < 0 ||
      sp_home_key(home, n->pk, n->sk, err, sizeof(err)) != 0 ||
      load_genesis_into_ledger(n, err, sizeof(err)) != 0) {
    fprintf(stderr, "stadjerd: %s\n", err);
    goto out;
  }
  n->self = -1;
  for (uint32_t i = 0; i < n->g->n_validators; i++)
    if (!memcmp(n->g->validators[i].pk, n->pk, SP_PK_LEN))
      n->self = (int)i;
  if (mp_init(&n->mp, 20000, 4096, 256u * 1024 * 1024) || hmap_init(&n->waiters, 4096)) {
    fprintf(stderr, "stadjerd: out of memory\n");
    goto out;
  }
  uv_loop_init(&n->loop);
  uv_signal_init(&n->loop, &n->sigint);
  uv_signal_init(&n->loop, &n->sigterm);
  uv_timer_init(&n->loop, &n->status_timer);
  uv_timer_init(&n->loop, &n->next_timer);
  uv_check_init(&n->loop, &n->admit_check);
  n->admit_check.data = n;
  uv_check_start(&n->admit_check, on_admit_check);
  uv_unref((uv_handle_t *)&n->admit_check);
  n->sigint.data = n->sigterm.data = n->status_timer.data = n->next_timer.data = n;
  n->empty_ms = cfg->empty_block_ms >= 0 ? (uint32_t)cfg->empty_block_ms : 5000;

  struct sp_cons_app app = {n, app_propose, app_valid, block_id};
  if (sp_cons_new(&n->cons, n->g, n->chain_id, n->self, n->self >= 0 ? n->sk : NULL, &app,
                  NULL) != 0) {
    fprintf(stderr, "stadjerd: cannot create the consensus core\n");
    goto out_loop;
  }
  /* a validator that cannot read what it signed before must not sign */
  uint8_t *snap = NULL;
  size_t snap_len = 0;
  if (n->self >= 0) {
    if (sp_wal_open(&n->wal, home, 4 * (size_t)SP_MAX_BLOCK_BYTES, &snap, &snap_len, err,
                    sizeof(err)) != 0) {
      fprintf(stderr, "stadjerd: %s\n", err);
      goto out_loop;
    }
    if (snap && sp_cons_restore(n->cons, snap, snap_len) != 0) {
      fprintf(stderr, "stadjerd: out of memory\n");
      free(snap);
      goto out_loop;
    }
    free(snap);
  }

  struct sp_net_config nc = {
      .loop = &n->loop, .chain_id = n->chain_id, .pk = n->pk, .sk = n->sk,
      .role = n->self >= 0 ? SP_ROLE_VALIDATOR : SP_ROLE_OBSERVER, .agent = AGENT,
      .max_msg = SP_MAX_FRAME, .max_out_queue = OUT_QUEUE,
      .cb = {.ctx = n, .on_open = on_open, .on_message = on_message, .on_close = on_close}};
  if (sp_net_new(&n->net, &nc) != 0) {
    fprintf(stderr, "stadjerd: cannot start the transport\n");
    goto out_loop;
  }
  if (cfg->has_listen) {
    int bound = 0;
    int rc = sp_net_listen(n->net, cfg->listen_host, cfg->listen_port, &bound);
    if (rc) {
      fprintf(stderr, "stadjerd: cannot listen on %s:%d: %s\n", cfg->listen_host,
              cfg->listen_port, sp_strerror(rc));
      goto out_loop;
    }
    printf("listening on %s:%d\n", cfg->listen_host, bound);
    fflush(stdout);
  }
  uv_signal_start(&n->sigint, on_signal, SIGINT);
  uv_signal_start(&n->sigterm, on_signal, SIGTERM);
  uv_timer_start(&n->status_timer, on_status_timer, STATUS_EVERY_MS, STATUS_EVERY_MS);

  char hex[2 * SP_PK_LEN + 1];
  sp_key_hex(n->pk, hex);
  LOG_I(tip_height(n), NULL, "stadjerd %s started as %s %s", SP_VERSION_STRING,
        n->self >= 0 ? "validator" : "observer", hex);
  dial_validators(n);
  cons_start_next(n);
  uv_run(&n->loop, UV_RUN_DEFAULT);
  code = n->exit_code;
out_loop:
  if (!n->stopping) {
    node_stop(n, code);
    uv_run(&n->loop, UV_RUN_DEFAULT);
  }
  uv_walk(&n->loop, close_walk, NULL);
  uv_run(&n->loop, UV_RUN_DEFAULT);
  uv_loop_close(&n->loop);
out:
  sp_cons_free(n->cons);
  mp_free(&n->mp);
  free(n->batch); /* flushed when stopping: empty if any */
  forget_waiters(n, 0, true);
  hmap_free(&n->waiters);
  for (size_t i = 0; i < n->n_peers; i++)
    free(n->peers[i]);
  free(n->peers);
  forget_sent(n);
  sp_ledger_close(n->l);
  sp_wal_close(&n->wal);
  if (n->lock_fd >= 0)
    close(n->lock_fd);
  sodium_memzero(n->sk, sizeof(n->sk));
  free(n);
  return code;
}
