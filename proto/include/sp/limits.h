/* Every size limit and constant of the wire and disk format, in one place.
 * docs/protocol.md states the same values in prose; change both together. */
#ifndef SP_LIMITS_H
#define SP_LIMITS_H

#define SP_FORMAT_VERSION 1 /* first field of every object and message */

#define SP_HASH_LEN 32 /* BLAKE2b-256 */
#define SP_PK_LEN 32   /* Ed25519 public key */
#define SP_SK_LEN 64   /* Ed25519 secret key (seed + public key) */
#define SP_SIG_LEN 64  /* Ed25519 signature */
#define SP_KX_LEN 32   /* X25519 ephemeral public key (handshake) */

/* Strings (UTF-8 bytes, not characters). */
#define SP_MAX_ID 32        /* fund id, category: [a-z0-9] then [a-z0-9._-] */
#define SP_MAX_NAME 64      /* chain, fund, merchant, validator names */
#define SP_MAX_REF 64       /* bank, order, issuance, household-free refs */
#define SP_MAX_REASON 200   /* block/suspend reasons, refusal and error text */
#define SP_MAX_ADDR 128     /* validator network address "host:port" */
#define SP_MAX_AGENT 64     /* software name/version in the handshake */

/* Lists. */
#define SP_MAX_CATEGORIES 16         /* per fund or merchant */
#define SP_MAX_GENESIS_CATEGORIES 64 /* the chain's category list */
#define SP_MAX_VALIDATORS 64
#define SP_MAX_PAY_PARTS 8          /* funds one payment may draw from */
#define SP_MAX_GRACE_DAYS 36500     /* --grace-days of the genesis tools (100 years) */
#define SP_MAX_ISSUE_ENTRIES 1000   /* (pass, amount) rows in one issue tx */
#define SP_MAX_PROOF 64             /* Merkle audit path length */
#define SP_MAX_BALANCES 256         /* rows in a balance answer */
#define SP_MAX_FUNDS 256            /* rows in a funds answer */
#define SP_MAX_HISTORY 100          /* rows in a history answer */
#define SP_MAX_BLOCKS_PER_RESPONSE 64

/* Sizes in bytes. */
#define SP_MAX_TX_BYTES (64u * 1024u)
#define SP_MAX_BLOCK_BYTES (8u * 1024u * 1024u)
/* Smallest max_block_bytes a genesis may set: room for a header and a
 * certificate of SP_MAX_VALIDATORS signatures, with transactions to spare. */
#define SP_MIN_BLOCK_BYTES (64u * 1024u)
#define SP_MAX_BLOCK_TXS 20000u
#define SP_MAX_FRAME (16u * 1024u * 1024u) /* payload, without the 4-byte length */
#define SP_FRAME_HEADER 4

/* Deepest nesting of arrays any object or message has (a block response:
 * message > entries > entry > block > txs > tx > body > issue rows > row). */
#define SP_MAX_DEPTH 9

/* Round number meaning "no valid round" in a proposal (Tendermint's -1). */
#define SP_ROUND_NONE (-1)

#endif
