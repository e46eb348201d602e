/* Network messages: one message per frame, an array
 *     [version, type, request id, fields...]
 * Requests carry a caller-chosen request id that the answer repeats;
 * unsolicited messages (handshake, consensus) use 0. Lifetimes as in
 * objects.h: views into the input, allocations released by sp_msg_clear. */
#ifndef SP_MSG_H
#define SP_MSG_H

#include "sp/objects.h"

enum sp_msg_type {
  SP_MSG_HELLO = 1,     /* handshake step 1 (clear): chain id, ephemeral key */
  SP_MSG_AUTH = 2,      /* handshake step 2 (encrypted): static key + signature */
  SP_MSG_ERROR = 3,     /* answer to any request that failed */
  SP_MSG_SUBMIT = 4,    /* wallet -> node: a signed transaction */
  SP_MSG_RESULT = 5,    /* answer to SUBMIT and TX_STATUS */
  SP_MSG_TX_STATUS = 6, /* query a tx by id */
  SP_MSG_BALANCE_Q = 7,
  SP_MSG_BALANCE_A = 8,
  SP_MSG_HISTORY_Q = 9,
  SP_MSG_HISTORY_A = 10,
  SP_MSG_PROOF_Q = 11,
  SP_MSG_PROOF_A = 12,
  SP_MSG_STATUS_Q = 13,
  SP_MSG_STATUS_A = 14,
  SP_MSG_BLOCKS_Q = 15, /* block sync: a range of heights */
  SP_MSG_BLOCKS_A = 16,
  SP_MSG_PROPOSAL = 17, /* consensus: signed proposal + the proposed block */
  SP_MSG_VOTE = 18,     /* consensus: prevote or precommit */
  SP_MSG_FUNDS_Q = 19,  /* fund overview; public, answered to anyone */
  SP_MSG_FUNDS_A = 20,
  SP_MSG__MAX = 20
};

const char *sp_msg_type_name(uint32_t type); /* "submit", ...; NULL if unknown */

enum sp_role { SP_ROLE_VALIDATOR = 1, SP_ROLE_OBSERVER = 2, SP_ROLE_WALLET = 3 };

enum sp_tx_status {
  SP_TXS_COMMITTED = 1, /* in a block: height, index and proof are set */
  SP_TXS_REFUSED = 2,   /* reason and message are set */
  SP_TXS_PENDING = 3,   /* accepted into the mempool, not yet in a block */
  SP_TXS_UNKNOWN = 4
};

enum sp_account_kind {
  SP_ACCT_UNKNOWN = 0,
  SP_ACCT_AUTHORITY = 1,
  SP_ACCT_PASS = 2,
  SP_ACCT_MERCHANT = 3
};

enum sp_account_status {
  SP_ACCT_ACTIVE = 1,
  SP_ACCT_BLOCKED = 2,   /* pass */
  SP_ACCT_REPLACED = 3,  /* pass */
  SP_ACCT_SUSPENDED = 4  /* merchant */
};

struct sp_msg_hello {
  uint8_t chain_id[SP_HASH_LEN];
  uint8_t eph[SP_KX_LEN];
};

struct sp_msg_auth {
  uint8_t pk[SP_PK_LEN];
  uint32_t role;
  struct sp_str agent;
  uint8_t sig[SP_SIG_LEN];
};

struct sp_msg_error {
  uint32_t code;
  struct sp_str message;
};

struct sp_msg_result {
  uint8_t txid[SP_HASH_LEN];
  uint32_t status;
  uint64_t height; /* committed: block height, else 0 */
  uint32_t index;  /* committed: position in the block */
  uint32_t reason; /* refused: the ledger's stable reason code, else 0 */
  struct sp_str message;
  uint32_t n_proof; /* committed: Merkle audit path to the block's tx root */
  uint8_t proof[SP_MAX_PROOF][SP_HASH_LEN];
};

struct sp_msg_account { /* BALANCE_Q */
  uint8_t account[SP_PK_LEN];
};

struct sp_msg_txid { /* TX_STATUS, PROOF_Q */
  uint8_t txid[SP_HASH_LEN];
};

struct sp_balance_row {
  struct sp_str fund;
  uint64_t amount; /* pass: credit; merchant: receivable */
};

struct sp_msg_balance {
  uint8_t account[SP_PK_LEN];
  uint32_t kind;   /* enum sp_account_kind */
  uint32_t status; /* enum sp_account_status, 0 for unknown accounts */
  uint64_t seq;    /* last sequence number the account used */
  uint32_t n_rows; /* sorted by fund, unique */
  struct sp_balance_row rows[SP_MAX_BALANCES];
};

struct sp_msg_history_q {
  uint8_t account[SP_PK_LEN];
  uint64_t before; /* cursor from a previous answer; 0 = newest */
  uint32_t limit;  /* 1..SP_MAX_HISTORY */
};

struct sp_history_row {
  uint64_t height;
  uint32_t index;
  uint64_t time_ms;
  struct sp_tx tx;
};

struct sp_msg_history {
  uint32_t n_rows; /* newest first */
  struct sp_history_row *rows; /* decode: allocated */
  uint64_t next;   /* cursor for the next page; 0 = no more */
};

struct sp_msg_proof {
  struct sp_tx tx;
  uint64_t height;
  uint32_t index;
  uint32_t n_proof;
  uint8_t proof[SP_MAX_PROOF][SP_HASH_LEN];
  struct sp_header header;
  struct sp_cert cert; /* commit certificate of that block */
};

struct sp_msg_status {
  uint8_t chain_id[SP_HASH_LEN];
  uint64_t height;
  uint8_t tip[SP_HASH_LEN];
  uint8_t state_digest[SP_HASH_LEN];
  uint32_t role;
  uint32_t peers;
  uint32_t mempool;
  struct sp_str version;
};

struct sp_msg_blocks_q {
  uint64_t from;  /* first height wanted, >= 1 */
  uint32_t count; /* 1..SP_MAX_BLOCKS_PER_RESPONSE */
};

struct sp_block_entry {
  struct sp_block block;
  struct sp_cert cert; /* the block's own commit certificate */
};

struct sp_msg_blocks {
  uint32_t n; /* consecutive heights, ascending */
  struct sp_block_entry *v; /* decode: allocated */
};

struct sp_msg_proposal {
  struct sp_proposal proposal;
  struct sp_block block;
};

struct sp_msg_funds_q {
  struct sp_str fund; /* "" = all funds, else a fund id */
};

/* One fund as the ledger holds it (docs/protocol.md, fund record). */
struct sp_fund_row {
  struct sp_str id, name;
  struct sp_catlist categories;
  uint64_t valid_from_ms, valid_until_ms;
  uint64_t max_payment; /* 0 = no maximum */
  bool closed;
  /* the conservation buckets: amounts, each <= SP_MONEY_MAX */
  uint64_t deposited, unissued, passes, receivable, claimed, settled, returned;
  /* gross flow counters: any uint64 */
  uint64_t issued, spent, refunded;
  uint32_t n_spending; /* sorted by category, unique */
  struct {
    struct sp_str category;
    uint64_t cents;
  } spending[SP_MAX_CATEGORIES];
};

struct sp_msg_funds {
  uint32_t n; /* sorted by id, unique */
  struct sp_fund_row *rows; /* decode: allocated */
};

struct sp_msg {
  uint32_t type;
  uint32_t req_id;
  union {
    struct sp_msg_hello hello;
    struct sp_msg_auth auth;
    struct sp_msg_error error;
    struct sp_tx submit;
    struct sp_msg_result result;
    struct sp_msg_txid txid; /* TX_STATUS, PROOF_Q */
    struct sp_msg_account account; /* BALANCE_Q */
    struct sp_msg_balance balance;
    struct sp_msg_history_q history_q;
    struct sp_msg_history history;
    struct sp_msg_proof proof;
    struct sp_msg_status status;
    struct sp_msg_blocks_q blocks_q;
    struct sp_msg_blocks blocks;
    struct sp_msg_proposal proposal;
    struct sp_vote vote;
    struct sp_msg_funds_q funds_q;
    struct sp_msg_funds funds;
  } u;
};

int sp_msg_encode(const struct sp_msg *m, struct sp_buf *out);
/* Decode one message of exactly n bytes (a frame's payload). */
int sp_msg_decode(const uint8_t *p, size_t n, struct sp_msg *m);
void sp_msg_clear(struct sp_msg *m); /* accepts NULL */
/* The type of the message in p[0..n) from its envelope alone ([version,
 * type, req_id, ...]), without decoding or checking the rest; 0 when even
 * the envelope does not read. */
uint64_t sp_msg_peek_type(const uint8_t *p, size_t n);

/* BLOCKS_A from stored block bytes, spliced in without decoding them:
 * sp_msg_blocks_item appends one [block, cert] item to items (the block's
 * encoding as stored), sp_msg_blocks_a writes the whole message of `count`
 * such items to out. Errors are the buffers' (b->err). */
void sp_msg_blocks_item(struct sp_buf *items, const uint8_t *block, size_t len,
                        const struct sp_cert *cert);
void sp_msg_blocks_a(struct sp_buf *out, uint32_t req_id, uint32_t count,
                     const struct sp_buf *items);

/* Bytes a handshake AUTH signature covers (see docs/protocol.md):
 * [1, pk, role, own ephemeral, peer ephemeral], in the handshake domain. */
int sp_auth_signbytes(const uint8_t pk[static SP_PK_LEN], uint32_t role,
                      const uint8_t own_eph[static SP_KX_LEN],
                      const uint8_t peer_eph[static SP_KX_LEN], struct sp_buf *out);

#endif
