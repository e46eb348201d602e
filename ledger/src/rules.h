/* The ledger rules: validity and effects of one transaction. */
#ifndef SP_LEDGER_RULES_H
#define SP_LEDGER_RULES_H

#include "state.h"

struct tx_ctx {
  const struct sp_genesis *g;
  uint64_t time_ms; /* block time */
  uint64_t height;
  uint32_t index;
  const uint8_t *txid;
};

/* Apply a transaction whose signature has been verified. On a refusal it
 * returns SP_LE_REFUSED with why filled and has written nothing; a store
 * error is returned as such (the caller aborts the LMDB transaction). An
 * applied transaction also gets its txs row (tx id -> position) and its
 * history rows, so later transactions of the same block, proposal or
 * check can find it. */
int rules_apply(struct wctx *w, const struct tx_ctx *c, const struct sp_tx *tx,
                struct sp_refusal *why);

/* Printf into a refusal. Returns SP_LE_REFUSED. */
int refuse(struct sp_refusal *why, int reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Short printable form of a key for messages: first 8 hex digits. */
void key_short(char out[12], const uint8_t pk[SP_PK_LEN]);

/* Every fund's conservation invariant; refusal names the first that fails. */
int rules_check_conservation(struct wctx *w, struct sp_refusal *why);

/* Genesis state: the authority's account. */
void rules_genesis(struct wctx *w, const struct sp_genesis *g);

#endif
