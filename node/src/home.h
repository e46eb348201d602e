/* The node's home directory:
 *   HOME/stadjerd.conf   settings (key = value lines, see docs/operator.md)
 *   HOME/node.key        the node's Ed25519 seed, 64 hex digits, mode 0600
 *   HOME/genesis.bin     the canonical genesis
 *   HOME/data/           the LMDB ledger
 *   HOME/consensus.wal.0, .1   the consensus record (validators, wal.h)
 *   HOME/evidence/       equivocation evidence, one file per pair of votes
 *   HOME/LOCK            held (flock) while a node runs on this home */
#ifndef SP_NODE_HOME_H
#define SP_NODE_HOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp/limits.h"

#define SP_HOME_MAX_KEYS 256

struct sp_home_config {
  char listen_host[64];
  int listen_port; /* 0 = pick one (printed at start) */
  bool has_listen;
  /* observers this node serves, and keys that may read every account */
  size_t n_observers, n_auditors;
  uint8_t observers[SP_HOME_MAX_KEYS][SP_PK_LEN];
  uint8_t auditors[SP_HOME_MAX_KEYS][SP_PK_LEN];
  /* validators to follow (observers only; validators use the genesis) */
  int log_level; /* -1: not set */
  /* Longest wait for a transaction before an empty block (ms); -1: not
   * set (5000). 0 makes blocks back to back. */
  int empty_block_ms;
};

/* "text" = 64 hex digits. 0 or SP_E_RANGE. */
int sp_hex_key(const char *text, uint8_t out[SP_PK_LEN]);
void sp_key_hex(const uint8_t pk[SP_PK_LEN], char out[2 * SP_PK_LEN + 1]);

/* Split "host:port" ("[v6]:port" too). 0 or -1. */
int sp_split_hostport(const char *s, char *host, size_t cap, int *port);

/* Write a fresh key file (refuses to overwrite); prints nothing. */
int sp_home_keygen(const char *home, uint8_t pk[SP_PK_LEN], char *err, size_t errcap);
/* Read the node key; warns via err (returns 0) if others can read it. */
int sp_home_key(const char *home, uint8_t pk[SP_PK_LEN], uint8_t sk[SP_SK_LEN], char *err,
                size_t errcap);
/* Parse HOME/stadjerd.conf if present (missing file = defaults). Every bad
 * line is an error naming the file, line and problem. */
int sp_home_config(const char *home, struct sp_home_config *cfg, char *err, size_t errcap);
/* Apply one "key = value" setting (the same keys as the file, also used
 * for command-line flags). */
int sp_home_setting(struct sp_home_config *cfg, const char *key, const char *value, char *err,
                    size_t errcap);
/* Take HOME/LOCK; fails if another process holds it. Returns the fd. */
int sp_home_lock(const char *home, char *err, size_t errcap);
/* Read a whole file (at most max bytes) into a malloc'd buffer. */
int sp_read_file(const char *path, size_t max, uint8_t **out, size_t *n);
/* Write a file atomically and durably: tmp file, fsync, rename, fsync dir. */
int sp_write_file_durable(const char *path, const uint8_t *p, size_t n);

#endif
