/* The consensus write-ahead record of a validator: the last snapshot of
 * the consensus core (docs/consensus.md 6), durable before any vote that
 * follows it leaves.
 *
 * Two files, HOME/consensus.wal.0 and HOME/consensus.wal.1, are
 * overwritten in turn, in place, and each write is made durable with one
 * fdatasync. Each holds one record:
 *     "SPWAL\0\0\1" | seq (be64) | length (be32) | BLAKE2b-256 of
 *     seq || length || snapshot | snapshot
 * The record is the whole one with the higher seq. A write torn by a crash
 * leaves the other file, the snapshot before, which is the right one: the
 * vote of the torn snapshot was never sent. Both files exist before the
 * first vote (created, then the directory synced), so a write never
 * changes the directory. A HOME/consensus.wal left by an older release
 * (one snapshot, written whole by rename) is read as seq 0 and removed
 * after the first write. */
#ifndef SP_NODE_WAL_H
#define SP_NODE_WAL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct sp_wal {
  int fd[2];
  uint64_t seq; /* of the newest record */
  char home[PATH_MAX];
  int legacy; /* 1 while HOME/consensus.wal is still there */
};

/* Open (creating the files if need be) and read the newest record: *snap
 * is malloc'd (NULL, *n = 0 when there is none). Fails (-1, err says why)
 * when the files cannot be opened or read, or when both hold something and
 * neither a whole record (a crash spoils one file at most): the node must
 * then not sign anything. */
int sp_wal_open(struct sp_wal *w, const char *home, size_t max, uint8_t **snap, size_t *n,
                char *err, size_t errcap);
/* Make p the record, durably: 0 or -errno. */
int sp_wal_write(struct sp_wal *w, const uint8_t *p, size_t n);
void sp_wal_close(struct sp_wal *w);

#endif
