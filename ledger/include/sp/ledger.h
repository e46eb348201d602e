/* The ledger: validates transactions and blocks, applies blocks atomically
 * to an LMDB store, answers queries and re-verifies the whole chain.
 *
 * Pure library: no event loop, no clock (time comes from the block), no
 * printing. Every function returns 0 or a negative code (SP_LE_* from this
 * header, or SP_E_* from proto for decode problems). Refusals of a
 * transaction or block by the rules are SP_LE_REFUSED with the reason in a
 * struct sp_refusal: a stable code, its kebab-case name and a message that
 * names the things involved. A refused transaction or block changes
 * nothing. */
#ifndef SP_LEDGER_H
#define SP_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp/codec.h"
#include "sp/objects.h"

#define SP_LEDGER_ERRNO_MAP(X)                                                            \
  X(REFUSED, "refused by the ledger rules (see the refusal)")                             \
  X(STORE, "storage error")                                                               \
  X(NOMEM, "out of memory")                                                               \
  X(NOTFOUND, "not found")                                                                \
  X(EXISTS, "a ledger already exists in this directory")                                  \
  X(NOLEDGER, "no ledger in this directory")                                              \
  X(CORRUPT, "stored data is damaged")                                                    \
  X(GENESIS, "genesis is invalid")                                                        \
  X(INVAL, "invalid argument")                                                            \
  X(THREAD, "cannot start worker threads")                                                \
  X(IO, "file system error")

enum sp_ledger_err {
  SP_LE_OK = 0,
  SP__LE_FIRST = -2000,
#define SP_LE_ENUM(name, msg) SP_LE_##name,
  SP_LEDGER_ERRNO_MAP(SP_LE_ENUM)
#undef SP_LE_ENUM
  SP__LE_LAST
};

/* Text for ledger codes and, falling through, proto codes. */
const char *sp_ledger_strerror(int err);

/* Refusal reasons: stable numbers (they travel in RESULT messages) and
 * stable names (printed by the CLI). Never renumber; only append. */
#define SP_REASON_MAP(X)                                                                  \
  X(MALFORMED, 1, "malformed")                                                            \
  X(BAD_SIGNATURE, 2, "bad-signature")                                                    \
  X(WRONG_SEQUENCE, 3, "wrong-sequence")                                                  \
  X(NOT_AUTHORITY, 4, "not-authority")                                                    \
  X(AMOUNT_ZERO, 5, "amount-zero")                                                        \
  X(AMOUNT_OVERFLOW, 6, "amount-overflow")                                                \
  X(UNKNOWN_FUND, 7, "unknown-fund")                                                      \
  X(FUND_EXISTS, 8, "fund-exists")                                                        \
  X(FUND_NOT_OPEN, 9, "fund-not-yet-open")                                                \
  X(FUND_EXPIRED, 10, "fund-expired")                                                     \
  X(FUND_CLOSED, 11, "fund-closed")                                                       \
  X(FUND_NOT_CLOSABLE, 12, "fund-not-closable")                                           \
  X(UNKNOWN_CATEGORY, 13, "unknown-category")                                             \
  X(CATEGORY_NOT_ALLOWED, 14, "category-not-allowed")                                     \
  X(OVER_MAX_PAYMENT, 15, "over-max-payment")                                             \
  X(INSUFFICIENT_BALANCE, 16, "insufficient-balance")                                     \
  X(UNKNOWN_PASS, 17, "unknown-pass")                                                     \
  X(PASS_BLOCKED, 18, "pass-blocked")                                                     \
  X(PASS_NOT_BLOCKED, 19, "pass-not-blocked")                                             \
  X(PASS_REPLACED, 20, "pass-replaced")                                                   \
  X(UNKNOWN_MERCHANT, 21, "unknown-merchant")                                             \
  X(MERCHANT_SUSPENDED, 22, "merchant-suspended")                                         \
  X(MERCHANT_NOT_SUSPENDED, 23, "merchant-not-suspended")                                 \
  X(KEY_IN_USE, 24, "key-in-use")                                                         \
  X(DUPLICATE_ISSUANCE, 25, "duplicate-issuance")                                         \
  X(ISSUANCE_OVER_BUDGET, 26, "issuance-over-budget")                                     \
  X(UNKNOWN_PAYMENT, 27, "unknown-payment")                                               \
  X(NOT_YOUR_PAYMENT, 28, "not-your-payment")                                             \
  X(REFUND_EXCEEDS_PAYMENT, 29, "refund-exceeds-payment")                                 \
  X(INSUFFICIENT_RECEIVABLE, 30, "insufficient-receivable")                               \
  X(UNKNOWN_CLAIM, 31, "unknown-claim")                                                   \
  X(CLAIM_SETTLED, 32, "claim-already-settled")                                           \
  X(PASS_CHAIN_TOO_LONG, 33, "pass-chain-too-long")                                       \
  X(BLOCK_MALFORMED, 40, "block-malformed")                                               \
  X(BLOCK_WRONG_CHAIN, 41, "block-wrong-chain")                                           \
  X(BLOCK_WRONG_HEIGHT, 42, "block-wrong-height")                                         \
  X(BLOCK_WRONG_PREV, 43, "block-wrong-prev")                                             \
  X(BLOCK_TIME, 44, "block-time")                                                         \
  X(BLOCK_PROPOSER, 45, "block-proposer")                                                 \
  X(BLOCK_TOO_BIG, 46, "block-too-big")                                                   \
  X(BLOCK_TX_ROOT, 47, "block-tx-root")                                                   \
  X(BLOCK_LAST_COMMIT, 48, "block-last-commit")                                           \
  X(BLOCK_STATE_DIGEST, 49, "block-state-digest")                                         \
  X(BLOCK_CERT, 50, "block-cert")                                                         \
  X(BLOCK_CONFLICT, 51, "block-conflict")                                                 \
  X(BLOCK_TX, 52, "block-tx-refused")                                                     \
  X(CONSERVATION, 53, "conservation")                                                     \
  X(STATE_MISMATCH, 54, "state-mismatch")

enum sp_reason {
  SP_R_NONE = 0,
#define SP_R_ENUM(name, num, text) SP_R_##name = num,
  SP_REASON_MAP(SP_R_ENUM)
#undef SP_R_ENUM
};

const char *sp_reason_name(int reason); /* "category-not-allowed"; "unknown" */

#define SP_REFUSAL_MSG 320
/* replacements a refund follows from the pass that paid to the household's
 * current pass; beyond: refused with pass-chain-too-long */
#define SP_MAX_PASS_CHAIN 1000

struct sp_refusal {
  int reason;        /* enum sp_reason */
  int tx_reason;     /* for SP_R_BLOCK_TX: the transaction's own reason */
  uint32_t tx_index; /* for SP_R_BLOCK_TX: which transaction */
  uint64_t height;   /* for block refusals and verification: which block */
  char msg[SP_REFUSAL_MSG];
};

struct sp_ledger;

struct sp_ledger_opts {
  /* 0 = one per online CPU. Signature checks of a block are spread over
   * these threads (the calling thread works too). */
  unsigned verify_threads;
  /* Skip fsync at commit. Only for tests and benchmarks of the logic:
   * a crash may then lose the last blocks (never corrupt the store). */
  bool no_sync;
  /* Initial LMDB map size in bytes; 0 = default (1 GiB). The map grows
   * by doubling when full. */
  size_t map_size;
  /* Transactions whose signature verified are remembered (by the hash of
   * their encoding) so that a transaction is verified once, not again in
   * the proposal check and the apply of its block: room for this many;
   * 0 = default (131,072, 4 MiB), SP_LEDGER_NO_SIG_CACHE = none; more
   * than 67,108,864 (2 GiB) is refused by sp_ledger_open (SP_LE_INVAL). */
  size_t sig_cache;
};
#define SP_LEDGER_NO_SIG_CACHE ((size_t)-1)

/* Create a new ledger in dir (created if missing, must hold no ledger)
 * from the canonical genesis bytes. */
int sp_ledger_create(const char *dir, const uint8_t *genesis, size_t n,
                     const struct sp_ledger_opts *opts);
/* Open an existing ledger. Clears stale readers left by dead processes. */
int sp_ledger_open(struct sp_ledger **out, const char *dir,
                   const struct sp_ledger_opts *opts);
void sp_ledger_close(struct sp_ledger *l); /* accepts NULL */

/* Views valid for the ledger's lifetime. */
const struct sp_genesis *sp_ledger_genesis(const struct sp_ledger *l);
const uint8_t *sp_ledger_chain_id(const struct sp_ledger *l);

struct sp_tip {
  uint64_t height; /* 0 = only genesis */
  uint8_t hash[SP_HASH_LEN];         /* zero at height 0 */
  uint8_t state_digest[SP_HASH_LEN]; /* the genesis digest at height 0 */
  uint64_t time_ms;                  /* genesis time at height 0 */
};

int sp_ledger_tip(struct sp_ledger *l, struct sp_tip *tip);

/* Check one signed transaction against the tip state (signature, sequence,
 * every rule) without changing anything: mempool admission. Runs in a
 * read-only LMDB transaction, so any thread may call it, also while
 * another applies a block (it then sees the tip before or after: why->height
 * says which, as the height the transaction was checked for, tip + 1). */
int sp_ledger_check_tx(struct sp_ledger *l, const struct sp_tx *tx, uint64_t time_ms,
                       struct sp_refusal *why);
/* The same for a transaction whose signature the caller has already
 * checked (on another thread): every rule but the signature. */
int sp_ledger_check_tx_verified(struct sp_ledger *l, const struct sp_tx *tx, uint64_t time_ms,
                                struct sp_refusal *why);

/* sp_ledger_check_tx_verified for many transactions in one read-only LMDB
 * transaction: each is checked against the same tip, as if alone (never
 * against another of the batch). A node's admission workers check a batch
 * at a time; opening a transaction per check cost about half as much as the
 * rules themselves. */
struct sp_tx_check {
  const struct sp_tx *tx;         /* in: decoded, its signature checked */
  const uint8_t *txid;            /* in: sp_tx_id of tx */
  int rc;                         /* out: as sp_ledger_check_tx_verified */
  struct sp_refusal why;          /* out */
};
/* SP_LE_OK with every rc and why filled in, or an error of the store (no
 * rc is then meaningful). */
int sp_ledger_check_txs_verified(struct sp_ledger *l, struct sp_tx_check *v, size_t n,
                                 uint64_t time_ms);

/* Verify the signature of a decoded transaction (or find it verified
 * before): SP_LE_OK, SP_E_BADSIG, or SP_LE_INVAL if tx was not decoded.
 * Thread-safe: a node calls it from its admission workers. */
int sp_ledger_verify_tx(struct sp_ledger *l, const struct sp_tx *tx);
/* The same, also giving the transaction's Merkle leaf (its leaf in any
 * block that carries it), which the check computes anyway: zeros if tx
 * was not decoded or does not encode. */
int sp_ledger_verify_tx_leaf(struct sp_ledger *l, const struct sp_tx *tx,
                             uint8_t leaf[static SP_HASH_LEN]);

/* Verify the signatures of every transaction of a block on the pool and
 * remember them, nothing else (SP_LE_OK, SP_E_BADSIG or a decode error):
 * whoever holds the next blocks (block sync) calls it on another thread
 * while the current one is applied. Thread-safe. */
int sp_ledger_preverify(struct sp_ledger *l, const uint8_t *block, size_t n);

/* Apply a block: decode, check header links, last commit, tx root,
 * signatures (in parallel), every rule, the state digest and, if given,
 * the block's own commit certificate; then write block, indexes and state
 * in one durable LMDB transaction. A block at a height already applied is
 * a no-op when it is the same block (SP_LE_OK) and refused with
 * block-conflict otherwise. */
int sp_ledger_apply(struct sp_ledger *l, const uint8_t *block, size_t n,
                    const struct sp_cert *commit, struct sp_refusal *why);

/* A block and (optionally) its own commit certificate. */
struct sp_block_in {
  const uint8_t *raw;
  size_t len;
  const struct sp_cert *commit;
};

/* Apply n consecutive blocks that start right above the tip in ONE LMDB
 * write transaction and one durable commit (group commit, for block sync
 * and replays): each block is checked exactly as sp_ledger_apply checks it
 * (links to the block before it, last commit, tx root, signatures, every
 * rule, its own state digest, its certificate if given), and pages that
 * several of them change are written once. All or nothing: on a refusal
 * nothing is written and why names the block at fault. Blocks that do not
 * start right above the tip (or do not decode) are applied one by one
 * with sp_ledger_apply, up to the first error. */
int sp_ledger_apply_batch(struct sp_ledger *l, const struct sp_block_in *blocks, size_t n,
                          struct sp_refusal *why);

/* Everything sp_ledger_apply checks for the next block, without writing:
 * consensus's valid(v). A block at an applied height is refused as a
 * conflict unless it is the same block. */
int sp_ledger_check_block(struct sp_ledger *l, const uint8_t *block, size_t n,
                          struct sp_refusal *why);

/* Store the commit certificate of an applied block (e.g. the tip's, which
 * no later block carries yet). Verified against the validator set. */
int sp_ledger_put_cert(struct sp_ledger *l, const struct sp_cert *commit,
                       struct sp_refusal *why);

/* Build the next block from candidate transactions in order, skipping those
 * the rules refuse (accepted[i] says which were taken; refusals optional)
 * and stopping at the genesis size limits. last_commit is the certificate
 * of the tip (NULL at height 0). Nothing is written. */
int sp_ledger_propose(struct sp_ledger *l, const struct sp_tx *cands, size_t n,
                      uint64_t time_ms, const uint8_t proposer[static SP_PK_LEN],
                      const struct sp_cert *last_commit, struct sp_buf *block_out,
                      bool *accepted, struct sp_refusal *refusals);
/* The same for candidates whose Merkle leaves and tx ids the caller has
 * already (a node has both from admission: sp_ledger_verify_tx_leaf,
 * sp_tx_id), so that proposing does not encode and hash each again:
 * leaves[i] and txids[i] must be those of cands[i] exactly as it was
 * decoded, never changed since (a candidate without its raw bytes is
 * refused as malformed). Both NULL is sp_ledger_propose; one NULL is
 * SP_LE_INVAL. */
int sp_ledger_propose_hashed(struct sp_ledger *l, const struct sp_tx *cands,
                             const uint8_t (*leaves)[SP_HASH_LEN],
                             const uint8_t (*txids)[SP_HASH_LEN], size_t n, uint64_t time_ms,
                             const uint8_t proposer[static SP_PK_LEN],
                             const struct sp_cert *last_commit, struct sp_buf *block_out,
                             bool *accepted, struct sp_refusal *refusals);

/* ------------------------------------------------------------- queries */

struct sp_fund_info {
  char id[SP_MAX_ID + 1];
  char name[SP_MAX_NAME + 1];
  uint32_t n_categories;
  char categories[SP_MAX_CATEGORIES][SP_MAX_ID + 1];
  uint64_t valid_from_ms, valid_until_ms, max_payment;
  bool closed;
  /* money, in cents */
  uint64_t deposited;  /* all fund.deposit */
  uint64_t unissued;   /* deposited, not yet issued */
  uint64_t passes;     /* credit on passes now */
  uint64_t receivable; /* received by merchants, not yet claimed */
  uint64_t claimed;    /* claimed, not yet settled */
  uint64_t settled;    /* claims paid out */
  uint64_t returned;   /* returned to the budget by fund.close / refunds after it */
  /* flows, for reports */
  uint64_t issued, spent, refunded;
};

/* deposited == unissued + passes + receivable + claimed + settled + returned */
bool sp_fund_reconciles(const struct sp_fund_info *f);

int sp_ledger_fund(struct sp_ledger *l, const char *id, struct sp_fund_info *out);
/* Calls fn for every fund in id order; stops early if fn returns non-zero. */
int sp_ledger_funds(struct sp_ledger *l,
                    int (*fn)(const struct sp_fund_info *f, void *arg), void *arg);
/* Spending of a fund per merchant category: fn(category, cents, arg). */
int sp_ledger_fund_spending(struct sp_ledger *l, const char *id,
                            int (*fn)(const char *cat, uint64_t cents, void *arg),
                            void *arg);

struct sp_account_info {
  uint8_t pk[SP_PK_LEN];
  uint32_t kind;   /* enum sp_account_kind (proto msg.h) */
  uint32_t status; /* enum sp_account_status */
  uint64_t seq;    /* last sequence number used */
  char name[SP_MAX_NAME + 1]; /* merchants */
  uint32_t n_categories;      /* merchants */
  char categories[SP_MAX_CATEGORIES][SP_MAX_ID + 1];
  uint8_t household[SP_HASH_LEN]; /* passes */
  bool has_replacement;           /* passes */
  uint8_t replaced_by[SP_PK_LEN];
  uint32_t n_rows; /* pass: credit per fund; merchant: receivable per fund */
  struct {
    char fund[SP_MAX_ID + 1];
    uint64_t amount;
  } rows[SP_MAX_BALANCES];
};

/* Unknown keys give SP_LE_NOTFOUND. */
int sp_ledger_account(struct sp_ledger *l, const uint8_t pk[static SP_PK_LEN],
                      struct sp_account_info *out);

/* History of a key, newest first. before = 0 for the newest page, else the
 * `next` of the previous page; next = 0 when there is no more. fn gets
 * each tx (raw bytes, valid during the call). */
int sp_ledger_history(struct sp_ledger *l, const uint8_t pk[static SP_PK_LEN],
                      uint64_t before, uint32_t limit,
                      int (*fn)(uint64_t height, uint32_t index, uint64_t time_ms,
                                const uint8_t *tx, size_t n, void *arg),
                      void *arg, uint64_t *next);

struct sp_tx_location {
  uint64_t height;
  uint32_t index;
};

int sp_ledger_find_tx(struct sp_ledger *l, const uint8_t txid[static SP_HASH_LEN],
                      struct sp_tx_location *loc);

/* Everything a receipt needs: the tx bytes, its Merkle audit path to the
 * block's tx root, the block header bytes and the block's commit
 * certificate (has_cert false while none is stored). Buffers are appended
 * to; the caller owns and frees them. */
struct sp_tx_proof {
  struct sp_tx_location loc;
  uint32_t tx_count;
  size_t n_path;
  uint8_t path[SP_MAX_PROOF][SP_HASH_LEN];
  struct sp_buf tx;     /* the tx encoding */
  struct sp_buf header; /* the header encoding */
  bool has_cert;
  struct sp_cert cert;
};

void sp_tx_proof_init(struct sp_tx_proof *p);
void sp_tx_proof_free(struct sp_tx_proof *p);
int sp_ledger_tx_proof(struct sp_ledger *l, const uint8_t txid[static SP_HASH_LEN],
                       struct sp_tx_proof *out);

/* Check a receipt offline: the tx is in the block (Merkle path to the
 * header's tx root), the header belongs to this chain and the certificate
 * is a valid quorum for exactly this header. */
int sp_tx_proof_verify(const struct sp_tx_proof *p, const struct sp_genesis *g,
                       const uint8_t chain_id[static SP_HASH_LEN], struct sp_refusal *why);

/* Block bytes and its commit certificate (has_cert false if not stored). */
int sp_ledger_block(struct sp_ledger *l, uint64_t height, struct sp_buf *out,
                    struct sp_cert *cert, bool *has_cert);
int sp_ledger_block_height(struct sp_ledger *l, const uint8_t hash[static SP_HASH_LEN],
                           uint64_t *height);

/* ----------------------------------------- block-hash log (RFC 9162) */

/* The log's leaves are the block hashes of heights 1..size. Root of the
 * first `size` blocks; inclusion path of block `height` (1-based) in the
 * log of `size`; consistency path between sizes old_size <= new_size. */
int sp_ledger_log_root(struct sp_ledger *l, uint64_t size, uint8_t out[static SP_HASH_LEN]);
int sp_ledger_log_inclusion(struct sp_ledger *l, uint64_t height, uint64_t size,
                            uint8_t (*path)[SP_HASH_LEN], size_t *len);
int sp_ledger_log_consistency(struct sp_ledger *l, uint64_t old_size, uint64_t new_size,
                              uint8_t (*path)[SP_HASH_LEN], size_t *len);

/* -------------------------------------------------------- verification */

struct sp_verify_report {
  uint64_t blocks;
  uint64_t txs;
  bool ok;
  struct sp_refusal first_bad; /* when !ok: height, reason, message */
};

/* Replay the whole chain from genesis into a fresh store in scratch_dir
 * (created, then removed): every hash link, root, signature, certificate,
 * rule and state digest re-checked, the conservation invariant of every
 * fund checked at every block, and at the end the replayed state compared
 * with the stored one. Returns SP_LE_OK with report->ok telling the
 * verdict, or an error when verification itself could not run. */
int sp_ledger_verify(struct sp_ledger *l, const char *scratch_dir,
                     struct sp_verify_report *report);

/* Hot backup: a consistent, compacted copy of the store into an empty or
 * new directory dir, while the ledger stays open and in use. */
int sp_ledger_backup(struct sp_ledger *l, const char *dir);

#endif
