/* stadjer: shared state and helpers of the wallet's command groups. */
#ifndef SP_WALLET_H
#define SP_WALLET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"
#include "keys.h"
#include "sp/proto.h"

/* Exit codes (README, man page). */
enum {
  EXIT_OK = 0,
  EXIT_REFUSED = 1, /* refused by the ledger: reason code and message on stderr */
  EXIT_USAGE = 2,
  EXIT_NODE = 3,  /* node unreachable or authentication failed */
  EXIT_LOCAL = 4  /* key file, passphrase, files */
};

struct wallet {
  char home[1024];
  const char *node;     /* HOST:PORT */
  const char *key_name; /* --key */
  const char *pass_file;
  bool json;
  /* loaded on demand */
  uint8_t *genesis_bytes;
  size_t genesis_len;
  struct sp_genesis g;
  uint8_t chain_id[SP_HASH_LEN];
  bool have_key;
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN];
  struct sp_client *cli;
};

struct command {
  const char *name;
  int (*run)(struct wallet *w, int argc, char **argv);
  const char *usage; /* "fund create ID --name .. --categories a,b ..." */
  const char *help;
};

extern const struct command wallet_commands[];

/* Diagnostics on stderr; return the exit code given. */
int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int usage_of(const char *cmd);

int wallet_genesis(struct wallet *w);            /* HOME/genesis.bin */
int wallet_key(struct wallet *w);                /* unseal the key named by --key */
int wallet_connect(struct wallet *w);            /* needs genesis and key */
/* Address or key name to a public key ("invalid address (checksum)"...). */
int wallet_account(struct wallet *w, const char *text, uint8_t pk[SP_PK_LEN]);

/* Sign tx as our key with the next sequence number, submit, wait for the
 * final result and print it. Returns an exit code. */
int wallet_submit(struct wallet *w, struct sp_tx *tx, const char *what);
/* Submit a tx built and signed elsewhere; fills result. */
int wallet_submit_signed(struct wallet *w, const struct sp_tx *tx, struct sp_msg *result);
/* Next sequence number of our key (asks the node). */
int wallet_next_seq(struct wallet *w, uint64_t *seq);
/* A request/answer round trip; ERROR answers become messages + exit codes. */
int wallet_call(struct wallet *w, struct sp_msg *req, struct sp_msg *resp, uint32_t want);

/* Parse YYYY-MM-DD as UTC midnight in unix ms (0 or -1). */
int parse_date(const char *s, uint64_t *ms);
void format_date(uint64_t ms, char out[11]);
void format_euro(uint64_t cents, char *out, size_t cap); /* "€12.50" */
void json_str(FILE *f, const char *s);                    /* "..." escaped */
/* Comma list "sport,culture" into sorted unique identifiers. */
int parse_categories(const char *s, struct sp_catlist *out, char *store, size_t cap);
void print_refusal(struct wallet *w, uint32_t reason, const char *msg);

#endif
