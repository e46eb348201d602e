/* Hashing and signing with domain separation (libsodium only).
 *
 * Every hash or signature that depends on the chain covers
 *     tag || 0x00 || chain_id(32) || canonical encoding
 * where tag is a fixed ASCII string per object kind. The NUL makes the tags
 * prefix-free; the chain id keeps a signature made for one chain (or one
 * kind of object) from ever verifying for another. */
#ifndef SP_CRYPTO_H
#define SP_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "sp/limits.h"

enum sp_domain {
  SP_DOM_GENESIS,   /* chain id = H(tag || 0 || genesis); no chain id inside */
  SP_DOM_TX,        /* tx id and tx signature over the tx body */
  SP_DOM_BLOCK,     /* block hash over the block header */
  SP_DOM_PROPOSAL,  /* proposal signature */
  SP_DOM_VOTE,      /* prevote/precommit signature */
  SP_DOM_HANDSHAKE, /* transport authentication */
  SP_DOM_STATE,     /* state digest chaining */
  SP_DOM__COUNT
};

/* "stadjerspas/tx/1" etc.; NULL for an unknown domain. */
const char *sp_domain_tag(enum sp_domain dom);

/* Call once before anything else (wraps sodium_init); 0 or SP_E_CRYPTO. */
int sp_crypto_init(void);

/* Plain BLAKE2b-256. */
void sp_hash(uint8_t out[static SP_HASH_LEN], const void *p, size_t n);

/* BLAKE2b-256(tag || 0 || chain_id || msg). chain_id may be NULL only for
 * SP_DOM_GENESIS. */
int sp_hash_dom(uint8_t out[static SP_HASH_LEN], enum sp_domain dom,
                const uint8_t *chain_id, const void *msg, size_t n);

/* Ed25519 signature over tag || 0 || chain_id || msg. */
int sp_sign_dom(uint8_t sig[static SP_SIG_LEN], enum sp_domain dom,
                const uint8_t chain_id[static SP_HASH_LEN], const void *msg, size_t n,
                const uint8_t sk[static SP_SK_LEN]);
/* SP_OK or SP_E_BADSIG. */
int sp_verify_dom(const uint8_t sig[static SP_SIG_LEN], enum sp_domain dom,
                  const uint8_t chain_id[static SP_HASH_LEN], const void *msg, size_t n,
                  const uint8_t pk[static SP_PK_LEN]);

/* Deterministic key pair from a 32-byte seed (tests, vectors). */
int sp_keypair_from_seed(uint8_t pk[static SP_PK_LEN], uint8_t sk[static SP_SK_LEN],
                         const uint8_t seed[static 32]);

#endif
