#include "sp/crypto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sp/error.h"

static const char *const tags[SP_DOM__COUNT] = {
    [SP_DOM_GENESIS] = "stadjerspas/genesis/1",
    [SP_DOM_TX] = "stadjerspas/tx/1",
    [SP_DOM_BLOCK] = "stadjerspas/block/1",
    [SP_DOM_PROPOSAL] = "stadjerspas/proposal/1",
    [SP_DOM_VOTE] = "stadjerspas/vote/1",
    [SP_DOM_HANDSHAKE] = "stadjerspas/handshake/1",
    [SP_DOM_STATE] = "stadjerspas/state/1",
};

const char *sp_domain_tag(enum sp_domain dom)
{
  if ((unsigned)dom >= SP_DOM__COUNT)
    return NULL;
  return tags[dom];
}

int sp_crypto_init(void)
{
  return sodium_init() < 0 ? SP_E_CRYPTO : SP_OK;
}

void sp_hash(uint8_t out[static SP_HASH_LEN], const void *p, size_t n)
{
  crypto_generichash(out, SP_HASH_LEN, p, n, NULL, 0);
}

int sp_hash_dom(uint8_t out[static SP_HASH_LEN], enum sp_domain dom,
                const uint8_t *chain_id, const void *msg, size_t n)
{
  const char *tag = sp_domain_tag(dom);
  if (tag == NULL || (chain_id == NULL && dom != SP_DOM_GENESIS))
    return SP_E_INVAL;
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, SP_HASH_LEN);
  crypto_generichash_update(&st, (const uint8_t *)tag, strlen(tag) + 1);
  if (chain_id != NULL)
    crypto_generichash_update(&st, chain_id, SP_HASH_LEN);
  crypto_generichash_update(&st, msg, n);
  crypto_generichash_final(&st, out, SP_HASH_LEN);
  return SP_OK;
}

/* Ed25519 needs the whole message in one piece: build tag||0||chain||msg in
 * a stack buffer when it fits (votes, most transactions), else on the heap. */
struct signbytes {
  uint8_t small[1024];
  uint8_t *p;
  size_t n;
};

static int signbytes_make(struct signbytes *sb, enum sp_domain dom,
                          const uint8_t *chain_id, const void *msg, size_t n)
{
  const char *tag = sp_domain_tag(dom);
  if (tag == NULL || chain_id == NULL)
    return SP_E_INVAL;
  size_t tl = strlen(tag) + 1;
  sb->n = tl + SP_HASH_LEN + n;
  sb->p = sb->n <= sizeof(sb->small) ? sb->small : malloc(sb->n);
  if (sb->p == NULL)
    return SP_E_NOMEM;
  memcpy(sb->p, tag, tl);
  memcpy(sb->p + tl, chain_id, SP_HASH_LEN);
  if (n)
    memcpy(sb->p + tl + SP_HASH_LEN, msg, n);
  return SP_OK;
}

static void signbytes_free(struct signbytes *sb)
{
  if (sb->p != sb->small)
    free(sb->p);
}

int sp_sign_dom(uint8_t sig[static SP_SIG_LEN], enum sp_domain dom,
                const uint8_t chain_id[static SP_HASH_LEN], const void *msg, size_t n,
                const uint8_t sk[static SP_SK_LEN])
{
  struct signbytes sb;
  int rc = signbytes_make(&sb, dom, chain_id, msg, n);
  if (rc)
    return rc;
  rc = crypto_sign_detached(sig, NULL, sb.p, sb.n, sk) == 0 ? SP_OK : SP_E_CRYPTO;
  signbytes_free(&sb);
  return rc;
}

int sp_verify_dom(const uint8_t sig[static SP_SIG_LEN], enum sp_domain dom,
                  const uint8_t chain_id[static SP_HASH_LEN], const void *msg, size_t n,
                  const uint8_t pk[static SP_PK_LEN])
{
  struct signbytes sb;
  int rc = signbytes_make(&sb, dom, chain_id, msg, n);
  if (rc)
    return rc;
  rc = crypto_sign_verify_detached(sig, sb.p, sb.n, pk) == 0 ? SP_OK : SP_E_BADSIG;
  signbytes_free(&sb);
  return rc;
}

int sp_keypair_from_seed(uint8_t pk[static SP_PK_LEN], uint8_t sk[static SP_SK_LEN],
                         const uint8_t seed[static 32])
{
  return crypto_sign_seed_keypair(pk, sk, seed) == 0 ? SP_OK : SP_E_CRYPTO;
}
