/* State records as stored in LMDB, in the same canonical msgpack as the
 * wire (docs/protocol.md, "Storage"). Records are copied out of LMDB into
 * these plain structs, because LMDB's pointers die at the next write. */
#ifndef SP_LEDGER_STATE_H
#define SP_LEDGER_STATE_H

#include "store.h"

struct acct {
  uint32_t kind;   /* enum sp_account_kind */
  uint32_t status; /* enum sp_account_status */
  uint64_t seq;
  bool has_household;
  uint8_t household[SP_HASH_LEN];
  bool has_replacement;
  uint8_t replaced_by[SP_PK_LEN];
  char name[SP_MAX_NAME + 1];
  uint32_t n_cats;
  char cats[SP_MAX_CATEGORIES][SP_MAX_ID + 1];
};

struct fund {
  char id[SP_MAX_ID + 1];
  char name[SP_MAX_NAME + 1];
  uint32_t n_cats;
  char cats[SP_MAX_CATEGORIES][SP_MAX_ID + 1];
  uint64_t valid_from, valid_until, max_payment;
  bool closed;
  uint64_t deposited, unissued, passes, receivable, claimed, settled, returned;
  uint64_t issued, spent, refunded;
};

struct payment {
  uint8_t pass[SP_PK_LEN];
  uint8_t merchant[SP_PK_LEN];
  uint32_t n_parts;
  struct {
    char fund[SP_MAX_ID + 1];
    uint64_t amount;
    uint64_t refunded;
  } parts[SP_MAX_PAY_PARTS];
};

struct claim {
  uint8_t merchant[SP_PK_LEN];
  char fund[SP_MAX_ID + 1];
  uint64_t amount;
  bool settled;
};

/* Each get returns SP_LE_OK, SP_LE_NOTFOUND, or SP_LE_CORRUPT/store errors. */
int acct_get(struct wctx *w, const uint8_t pk[SP_PK_LEN], struct acct *a);
void acct_put(struct wctx *w, const uint8_t pk[SP_PK_LEN], const struct acct *a);
int fund_get(struct wctx *w, const char *id, size_t idn, struct fund *f);
void fund_put(struct wctx *w, const struct fund *f);
/* Payments are keyed by the position of their pay (store.h); a tx id
 * leads there through the txs index. */
int payment_get(struct wctx *w, const uint8_t pos[POS_LEN], struct payment *p);
void payment_put(struct wctx *w, const uint8_t pos[POS_LEN], const struct payment *p);
int claim_get(struct wctx *w, const uint8_t txid[SP_HASH_LEN], struct claim *c);
void claim_put(struct wctx *w, const uint8_t txid[SP_HASH_LEN], const struct claim *c);

/* Balance of (pk, fund): pass credit or merchant receivable; 0 if none. */
int bal_get(struct wctx *w, const uint8_t pk[SP_PK_LEN], const char *fund, size_t fn,
            uint64_t *v);
/* Stores v; a zero balance is deleted so the table holds live rows only. */
void bal_put(struct wctx *w, const uint8_t pk[SP_PK_LEN], const char *fund, size_t fn,
             uint64_t v);

/* Spending per (fund, category). */
int fundcat_get(struct wctx *w, const char *fund, const char *cat, uint64_t *v);
void fundcat_put(struct wctx *w, const char *fund, const char *cat, uint64_t v);

/* Copy a view into a fixed NUL-terminated buffer (lengths are bounded by
 * the codec's limits, which the buffers match). */
void str_copy(char *dst, size_t cap, struct sp_str s);

#endif
