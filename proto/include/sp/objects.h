/* The signed objects of the chain: genesis, transactions, block header,
 * block, proposal, vote, commit certificate. docs/protocol.md gives the
 * byte layout of each; this header is the C view.
 *
 * Decoding is zero-copy for text and byte fields: every struct sp_str and
 * every `raw`/`body` pointer in a decoded object points into the input
 * buffer, which must stay alive and unchanged while the object is used.
 * Decoders that allocate (issue rows, block transactions) say so; release
 * those objects with the matching *_clear function, which accepts objects
 * that were never decoded (zeroed) and objects whose decode failed. */
#ifndef SP_OBJECTS_H
#define SP_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp/codec.h"
#include "sp/limits.h"

/* ------------------------------------------------------------- genesis */

struct sp_validator {
  uint8_t pk[SP_PK_LEN];
  struct sp_str name;
  struct sp_str addr; /* "host:port" where it listens for peers */
};

struct sp_params {
  uint32_t max_block_txs;      /* 1..SP_MAX_BLOCK_TXS */
  uint32_t max_block_bytes;    /* SP_MIN_BLOCK_BYTES..SP_MAX_BLOCK_BYTES */
  uint64_t fund_close_grace_ms; /* a fund may be closed this long after valid_until */
};

struct sp_genesis {
  struct sp_str chain_name;
  uint64_t genesis_time_ms;
  uint8_t authority[SP_PK_LEN];
  uint32_t n_validators; /* 1..SP_MAX_VALIDATORS, sorted by pk, unique */
  struct sp_validator validators[SP_MAX_VALIDATORS];
  uint32_t n_categories; /* 1..SP_MAX_GENESIS_CATEGORIES, sorted, unique */
  struct sp_str categories[SP_MAX_GENESIS_CATEGORIES];
  struct sp_params params;
};

int sp_genesis_encode(const struct sp_genesis *g, struct sp_buf *out);
int sp_genesis_decode(const uint8_t *p, size_t n, struct sp_genesis *g);
/* Chain id = H_genesis(canonical genesis bytes). */
int sp_chain_id(const uint8_t *genesis, size_t n, uint8_t out[static SP_HASH_LEN]);

/* -------------------------------------------------------- transactions */

enum sp_tx_kind {
  /* authority */
  SP_TX_FUND_CREATE = 1,
  SP_TX_FUND_DEPOSIT = 2,
  SP_TX_FUND_CLOSE = 3,
  SP_TX_PASS_ENROLL = 4,
  SP_TX_PASS_BLOCK = 5,
  SP_TX_PASS_UNBLOCK = 6,
  SP_TX_PASS_REPLACE = 7,
  SP_TX_MERCHANT_REGISTER = 8,
  SP_TX_MERCHANT_UPDATE = 9,
  SP_TX_MERCHANT_SUSPEND = 10,
  SP_TX_ISSUE = 11,
  SP_TX_CLAIM_SETTLE = 12,
  /* household */
  SP_TX_PAY = 13,
  /* merchant */
  SP_TX_REFUND = 14,
  SP_TX_CLAIM = 15,
  /* authority, added after the first list */
  SP_TX_MERCHANT_REINSTATE = 16,
  SP_TX__MAX = 16
};

/* "fund.create", ...; NULL for an unknown kind. */
const char *sp_tx_kind_name(uint32_t kind);

struct sp_catlist {
  uint32_t n; /* 1..SP_MAX_CATEGORIES, sorted, unique */
  struct sp_str v[SP_MAX_CATEGORIES];
};

struct sp_tx_fund_create {
  struct sp_str fund;
  struct sp_str name;
  struct sp_catlist categories;
  uint64_t valid_from_ms;  /* open from this block time ... */
  uint64_t valid_until_ms; /* ... up to, excluding, this one */
  uint64_t max_payment;    /* cents per payment; 0 = no maximum */
};

struct sp_tx_fund_deposit {
  struct sp_str fund;
  uint64_t amount;
  struct sp_str bank_ref;
};

struct sp_tx_fund_close {
  struct sp_str fund;
};

struct sp_tx_pass_enroll {
  uint8_t pass[SP_PK_LEN];
  uint8_t household[SP_HASH_LEN]; /* salted hash of the household reference */
};

struct sp_tx_account_reason { /* pass.block/unblock, merchant.suspend/reinstate */
  uint8_t account[SP_PK_LEN];
  struct sp_str reason;
};

struct sp_tx_pass_replace {
  uint8_t old_pass[SP_PK_LEN];
  uint8_t new_pass[SP_PK_LEN];
};

struct sp_tx_merchant { /* merchant.register, merchant.update */
  uint8_t merchant[SP_PK_LEN];
  struct sp_str name;
  struct sp_catlist categories;
};

struct sp_issue_row {
  uint8_t pass[SP_PK_LEN];
  uint64_t amount;
};

struct sp_tx_issue {
  struct sp_str fund;
  struct sp_str ref; /* issuance reference: a repeated (fund, ref) is a no-op */
  uint32_t n_rows;   /* 1..SP_MAX_ISSUE_ENTRIES, sorted by pass, unique */
  struct sp_issue_row *rows; /* decode: allocated, freed by sp_tx_clear */
};

struct sp_tx_claim_settle {
  uint8_t claim[SP_HASH_LEN]; /* tx id of the claim */
  struct sp_str bank_ref;
};

struct sp_pay_part {
  struct sp_str fund;
  uint64_t amount;
};

struct sp_tx_pay {
  uint8_t merchant[SP_PK_LEN];
  uint32_t n_parts; /* 1..SP_MAX_PAY_PARTS, sorted by fund, unique */
  struct sp_pay_part parts[SP_MAX_PAY_PARTS];
  struct sp_str order_ref; /* may be empty */
};

struct sp_tx_refund {
  uint8_t payment[SP_HASH_LEN]; /* tx id of the pay */
  uint64_t amount;
};

struct sp_tx_claim {
  struct sp_str fund;
  uint64_t amount;
};

struct sp_tx {
  uint32_t kind;
  uint8_t signer[SP_PK_LEN];
  uint64_t seq; /* per signer, strictly increasing from 1 */
  union {
    struct sp_tx_fund_create fund_create;
    struct sp_tx_fund_deposit fund_deposit;
    struct sp_tx_fund_close fund_close;
    struct sp_tx_pass_enroll pass_enroll;
    struct sp_tx_account_reason reason; /* pass.block/unblock, merchant.suspend/reinstate */
    struct sp_tx_pass_replace pass_replace;
    struct sp_tx_merchant merchant; /* merchant.register/update */
    struct sp_tx_issue issue;
    struct sp_tx_claim_settle claim_settle;
    struct sp_tx_pay pay;
    struct sp_tx_refund refund;
    struct sp_tx_claim claim;
  } u;
  uint8_t sig[SP_SIG_LEN];
  /* Set by decode (views into the input): the whole tx and the signed body.
   * Encoders ignore them. */
  const uint8_t *raw;
  size_t raw_len;
  const uint8_t *body;
  size_t body_len;
};

/* Encode the body (the signed-over part) of tx. */
int sp_tx_encode_body(const struct sp_tx *tx, struct sp_buf *out);
/* Encode the whole tx: [body, sig]. These bytes are the tx's Merkle leaf
 * data in its block, so the tx root binds signatures too. */
int sp_tx_encode(const struct sp_tx *tx, struct sp_buf *out);
/* Fill tx->sig: encode the body, sign it in the tx domain. */
int sp_tx_sign(struct sp_tx *tx, const uint8_t chain_id[static SP_HASH_LEN],
               const uint8_t sk[static SP_SK_LEN]);
/* Decode one whole tx (exactly n bytes). Allocates issue rows. */
int sp_tx_decode(const uint8_t *p, size_t n, struct sp_tx *tx);
/* Tx id = H_tx(chain_id, body); needs a decoded tx (body set). */
int sp_tx_id(const struct sp_tx *tx, const uint8_t chain_id[static SP_HASH_LEN],
             uint8_t out[static SP_HASH_LEN]);
/* Check the signature of a decoded tx against its signer key. */
int sp_tx_verify(const struct sp_tx *tx, const uint8_t chain_id[static SP_HASH_LEN]);
void sp_tx_clear(struct sp_tx *tx);

/* ------------------------------------------------------- votes, certs */

enum sp_vote_type { SP_VOTE_PREVOTE = 1, SP_VOTE_PRECOMMIT = 2 };

struct sp_vote {
  uint32_t type;
  uint64_t height;
  uint32_t round;
  bool has_block; /* false: a vote for nil */
  uint8_t block[SP_HASH_LEN];
  uint8_t validator[SP_PK_LEN];
  uint8_t sig[SP_SIG_LEN];
};

/* Bytes signed by a vote: [1, type, height, round, block-or-empty]. */
int sp_vote_signbytes(const struct sp_vote *v, struct sp_buf *out);
int sp_vote_encode(const struct sp_vote *v, struct sp_buf *out);
int sp_vote_decode(const uint8_t *p, size_t n, struct sp_vote *v);
int sp_vote_sign(struct sp_vote *v, const uint8_t chain_id[static SP_HASH_LEN],
                 const uint8_t sk[static SP_SK_LEN]);
int sp_vote_verify(const struct sp_vote *v, const uint8_t chain_id[static SP_HASH_LEN]);

struct sp_cert_sig {
  uint32_t validator; /* index into the genesis validator list */
  uint8_t sig[SP_SIG_LEN];
};

/* Commit certificate: precommits of > 2/3 of the validators for one block. */
struct sp_cert {
  uint64_t height;
  uint32_t round;
  uint8_t block[SP_HASH_LEN];
  uint32_t n_sigs; /* 1..SP_MAX_VALIDATORS, sorted by validator index, unique */
  struct sp_cert_sig sigs[SP_MAX_VALIDATORS];
};

int sp_cert_encode(const struct sp_cert *c, struct sp_buf *out);
/* BLAKE2b-256 of the certificate's canonical encoding: the value a block
 * header stores as last_commit_hash. */
int sp_cert_hash(const struct sp_cert *c, uint8_t out[static SP_HASH_LEN]);
int sp_cert_decode(const uint8_t *p, size_t n, struct sp_cert *c);
/* SP_OK when every signature is a valid precommit of the indexed validator
 * and they are more than two thirds of the validator set; SP_E_BADSIG for a
 * bad signature, SP_E_RANGE for an index outside the set or indexes not
 * strictly ascending, and
 * the signers are not a quorum (SP_E_QUORUM). */
int sp_cert_verify(const struct sp_cert *c, const struct sp_genesis *g,
                   const uint8_t chain_id[static SP_HASH_LEN]);

struct sp_proposal {
  uint64_t height;
  uint32_t round;
  int64_t valid_round; /* SP_ROUND_NONE or < round */
  uint8_t block[SP_HASH_LEN];
  uint8_t proposer[SP_PK_LEN];
  uint8_t sig[SP_SIG_LEN];
};

int sp_proposal_signbytes(const struct sp_proposal *pr, struct sp_buf *out);
int sp_proposal_encode(const struct sp_proposal *pr, struct sp_buf *out);
int sp_proposal_decode(const uint8_t *p, size_t n, struct sp_proposal *pr);
int sp_proposal_sign(struct sp_proposal *pr, const uint8_t chain_id[static SP_HASH_LEN],
                     const uint8_t sk[static SP_SK_LEN]);
int sp_proposal_verify(const struct sp_proposal *pr,
                       const uint8_t chain_id[static SP_HASH_LEN]);

/* -------------------------------------------------------------- blocks */

struct sp_header {
  uint8_t chain_id[SP_HASH_LEN];
  uint64_t height; /* 1 for the first block after genesis */
  uint8_t prev[SP_HASH_LEN]; /* zero for height 1 */
  uint64_t time_ms;
  uint8_t proposer[SP_PK_LEN];
  uint8_t tx_root[SP_HASH_LEN]; /* Merkle root; leaf data = each tx's full encoding */
  uint32_t tx_count;
  /* H(canonical encoding of the block's last_commit); zero at height 1 */
  uint8_t last_commit_hash[SP_HASH_LEN];
  uint8_t state_digest[SP_HASH_LEN];
  const uint8_t *raw; /* decode: view of the header bytes */
  size_t raw_len;
};

int sp_header_encode(const struct sp_header *h, struct sp_buf *out);
int sp_header_decode(const uint8_t *p, size_t n, struct sp_header *h);
/* Block hash = H_block(chain_id, header bytes). The header commits to the
 * transactions (tx_root over their full encodings, signatures included)
 * and to the last commit (last_commit_hash), so the hash binds the block. */
int sp_header_hash(const struct sp_header *h, uint8_t out[static SP_HASH_LEN]);

struct sp_block {
  struct sp_header header;
  uint32_t n_txs;
  struct sp_tx *txs; /* decode: allocated, freed by sp_block_clear */
  bool has_last_commit; /* false only at height 1 */
  struct sp_cert last_commit; /* certificate of block height-1 */
  /* decode: view of the block's own bytes (the codec is canonical, so they
   * are what sp_block_encode of the fields gives); NULL when built */
  const uint8_t *raw;
  size_t raw_len;
};

int sp_block_encode(const struct sp_block *b, struct sp_buf *out);
/* Decode a block. Checks what needs no state: header.tx_count equals the
 * number of transactions, height 1 has no last commit and a zero prev, and
 * a later block's last commit is for height-1 and block prev. tx_root and
 * last_commit_hash are the ledger's to check. */
int sp_block_decode(const uint8_t *p, size_t n, struct sp_block *b);
void sp_block_clear(struct sp_block *b);

/* Shared by the message codec: decode from/encode into an open reader or
 * buffer (no canonical pre-check, no trailing check). */
int sp__tx_read(struct sp_rd *r, struct sp_tx *tx);
int sp__block_read(struct sp_rd *r, struct sp_block *b);
int sp__header_read(struct sp_rd *r, struct sp_header *h);
int sp__cert_read(struct sp_rd *r, struct sp_cert *c);
int sp__vote_read(struct sp_rd *r, struct sp_vote *v);
int sp__proposal_read(struct sp_rd *r, struct sp_proposal *pr);
void sp__tx_write(struct sp_buf *b, const struct sp_tx *tx);
void sp__block_write(struct sp_buf *b, const struct sp_block *blk);
void sp__header_write(struct sp_buf *b, const struct sp_header *h);
void sp__cert_write(struct sp_buf *b, const struct sp_cert *c);
void sp__vote_write(struct sp_buf *b, const struct sp_vote *v);
void sp__proposal_write(struct sp_buf *b, const struct sp_proposal *pr);

#endif
