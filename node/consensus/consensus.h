/* Tendermint consensus (Buchman, Kwon, Milosevic, "The latest gossip on BFT
 * consensus", 2018, Algorithm 1) as a pure state machine.
 *
 * The core never touches sockets, clocks, disks, threads or stdout. The
 * driver (the node, or the simulator in tests/sim) feeds it events through
 * sp_cons_* calls; each call appends the actions the driver must carry out,
 * in order, to an action list. Time exists only as timeouts the core asks
 * to be scheduled and the driver later reports as fired.
 *
 * Validators have equal voting power; with n validators a quorum is more
 * than 2n/3 and "f+1" (enough to skip to a higher round) is more than n/3.
 * The proposer of (height, round) is validator (height + round) mod n.
 *
 * Safety across crashes: before any vote or proposal of ours leaves, the
 * core emits SP_CA_PERSIST with a snapshot of everything it has signed at
 * this height and its lock; the driver must make it durable before
 * executing the following actions. Restoring that snapshot after a restart
 * (sp_cons_restore) makes the core re-send, never re-sign differently. */
#ifndef SP_CONSENSUS_H
#define SP_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp/objects.h"

enum sp_cons_step { SP_STEP_PROPOSE = 0, SP_STEP_PREVOTE = 1, SP_STEP_PRECOMMIT = 2 };

/* Callbacks into the application (the ledger). Both must be deterministic
 * functions of their inputs and the committed chain. */
struct sp_cons_app {
  void *ctx;
  /* getValue(): build the block to propose at height (appended to out).
   * Return 0 or a negative code (the core then proposes nothing and waits
   * for its timeout like everybody else). */
  int (*propose)(void *ctx, uint64_t height, uint32_t round, struct sp_buf *out);
  /* valid(v): is this block valid as the next block of the chain? */
  bool (*valid)(void *ctx, uint64_t height, const uint8_t *block, size_t n);
  /* id(v): the hash votes and certificates name (the ledger's block
   * hash). NULL: BLAKE2b-256 of the bytes. Return 0 or negative if the
   * bytes are not a block at all. */
  int (*block_id)(void *ctx, const uint8_t *block, size_t n, uint8_t out[SP_HASH_LEN]);
};

struct sp_cons_timeouts {
  /* timeout(step, round) = base + round * delta, in milliseconds */
  uint32_t propose_base, propose_delta;
  uint32_t prevote_base, prevote_delta;
  uint32_t precommit_base, precommit_delta;
};

/* The defaults used by the node: 3 s / 1 s / 1 s bases, +0.5 s per round. */
extern const struct sp_cons_timeouts sp_cons_default_timeouts;

enum sp_cons_action_type {
  SP_CA_PERSIST = 1,   /* make `data` durable before doing anything after it */
  SP_CA_PROPOSAL = 2,  /* broadcast proposal + block (data = block bytes) */
  SP_CA_VOTE = 3,      /* broadcast vote */
  SP_CA_TIMEOUT = 4,   /* schedule timeout (height, round, step) after ms */
  SP_CA_COMMIT = 5,    /* block (data) is decided with certificate cert */
  SP_CA_REQUEST = 6,   /* a quorum precommitted block `hash` we do not have */
  SP_CA_EVIDENCE = 7,  /* two conflicting signed votes (vote, vote2) */
  SP_CA_RELAY = 8      /* broadcast someone else's vote (a polka we hold) */
};

struct sp_cons_action {
  enum sp_cons_action_type type;
  uint64_t height;
  uint32_t round;
  enum sp_cons_step step; /* TIMEOUT */
  uint32_t ms;            /* TIMEOUT */
  struct sp_proposal proposal;
  struct sp_vote vote, vote2;
  struct sp_cert cert;       /* COMMIT */
  uint8_t hash[SP_HASH_LEN]; /* REQUEST, COMMIT: block hash */
  uint8_t *data;             /* owned by the action list */
  size_t len;
};

struct sp_cons_actions {
  struct sp_cons_action *v;
  size_t n, cap;
};

void sp_cons_actions_init(struct sp_cons_actions *a);
void sp_cons_actions_clear(struct sp_cons_actions *a); /* frees data, n = 0 */
void sp_cons_actions_free(struct sp_cons_actions *a);

struct sp_cons;

/* self < 0: an observer core that follows votes and commits but never signs
 * (sk may be NULL). The genesis and chain id must outlive the core. */
int sp_cons_new(struct sp_cons **out, const struct sp_genesis *g,
                const uint8_t chain_id[static SP_HASH_LEN], int self,
                const uint8_t *sk, const struct sp_cons_app *app,
                const struct sp_cons_timeouts *timeouts);
void sp_cons_free(struct sp_cons *c);

/* Begin height h (the chain holds h-1 blocks): StartRound(0). */
int sp_cons_start(struct sp_cons *c, uint64_t height, struct sp_cons_actions *out);
/* A proposal with its block, as received (signature checked here). */
int sp_cons_on_proposal(struct sp_cons *c, const struct sp_proposal *p, const uint8_t *block,
                        size_t n, struct sp_cons_actions *out);
/* A prevote or precommit, as received (signature checked here). */
int sp_cons_on_vote(struct sp_cons *c, const struct sp_vote *v, struct sp_cons_actions *out);
/* A timeout scheduled earlier has fired. */
int sp_cons_on_timeout(struct sp_cons *c, uint64_t height, uint32_t round,
                       enum sp_cons_step step, struct sp_cons_actions *out);
/* After a restart: the last snapshot the core asked to persist. Call
 * before sp_cons_start of that height; the core then starts at the
 * snapshot's round and re-sends what it had signed. */
int sp_cons_restore(struct sp_cons *c, const uint8_t *snap, size_t n);

/* Introspection for drivers and tests. */
uint64_t sp_cons_height(const struct sp_cons *c);
uint32_t sp_cons_round(const struct sp_cons *c);
enum sp_cons_step sp_cons_step_of(const struct sp_cons *c);
int64_t sp_cons_locked_round(const struct sp_cons *c);
int64_t sp_cons_valid_round(const struct sp_cons *c);
/* Proposer index of (height, round). */
uint32_t sp_cons_proposer(const struct sp_cons *c, uint64_t height, uint32_t round);

/* Test-only: disable the lock rule (prevote for any valid proposal even
 * when locked on another value), to show the simulator catches the safety
 * violation that follows. Never set in production code. */
void sp_cons_test_disable_lock(struct sp_cons *c, bool disabled);

#endif
