#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sodium.h>

#include "sp/codec.h"

#define MAGIC "SPWAL\0\0\1"
#define MAGIC_LEN 8
#define HASH_LEN 32
#define HDR_LEN (MAGIC_LEN + 8 + 4 + HASH_LEN)

static void be64(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

/* The hash over seq || length || snapshot; hdr holds magic, seq, length. */
static void record_hash(uint8_t out[HASH_LEN], const uint8_t *hdr, const uint8_t *p, size_t n)
{
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, HASH_LEN);
  crypto_generichash_update(&st, hdr + MAGIC_LEN, 12);
  crypto_generichash_update(&st, p, n);
  crypto_generichash_final(&st, out, HASH_LEN);
}

static void path_of(char *out, size_t cap, const char *home, const char *name)
{
  snprintf(out, cap, "%s/%s", home, name);
}

static int sync_dir(const char *home)
{
  int dfd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return -errno;
  int rc = fsync(dfd) == 0 ? 0 : -errno;
  close(dfd);
  return rc;
}

/* Read the whole file (at most max + HDR_LEN bytes). */
static int read_all(int fd, size_t max, uint8_t **out, size_t *n)
{
  struct stat sb;
  if (fstat(fd, &sb) != 0)
    return -errno;
  if ((uint64_t)sb.st_size > (uint64_t)max + HDR_LEN)
    return -EFBIG;
  size_t len = (size_t)sb.st_size;
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL)
    return -ENOMEM;
  size_t got = 0;
  while (got < len) {
    ssize_t r = pread(fd, buf + got, len - got, (off_t)got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      free(buf);
      return r < 0 ? -errno : -EIO;
    }
    got += (size_t)r;
  }
  *out = buf;
  *n = len;
  return 0;
}

/* A whole record in buf? Then its seq and snapshot. */
static bool record_ok(const uint8_t *buf, size_t n, uint64_t *seq, const uint8_t **snap,
                      size_t *snap_len)
{
  if (n < HDR_LEN || memcmp(buf, MAGIC, MAGIC_LEN) != 0)
    return false;
  uint32_t len = (uint32_t)buf[MAGIC_LEN + 8] << 24 | (uint32_t)buf[MAGIC_LEN + 9] << 16 |
                 (uint32_t)buf[MAGIC_LEN + 10] << 8 | buf[MAGIC_LEN + 11];
  if (len > n - HDR_LEN)
    return false;
  uint8_t h[HASH_LEN];
  record_hash(h, buf, buf + HDR_LEN, len);
  if (sodium_memcmp(h, buf + MAGIC_LEN + 12, HASH_LEN) != 0)
    return false;
  *seq = get_be64(buf + MAGIC_LEN);
  *snap = buf + HDR_LEN;
  *snap_len = len;
  return true;
}

/* Where a snapshot stands: height, round, step (its first fields, in
 * every format), which only grow for a validator. 0 if it does not parse. */
static int snap_position(const uint8_t *p, size_t n, uint64_t pos[3])
{
  struct sp_rd r = sp_rd_init(p, n);
  uint64_t ver;
  if (sp_rd_array_exact(&r, 11) || sp_rd_uint(&r, &ver) || sp_rd_uint(&r, &pos[0]) ||
      sp_rd_uint(&r, &pos[1]) || sp_rd_uint(&r, &pos[2]))
    return 0;
  return 1;
}

/* Is snapshot a (an older release's file) further on than b? */
static bool further(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
  uint64_t pa[3], pb[3];
  if (!snap_position(a, an, pa) || !snap_position(b, bn, pb))
    return false;
  for (int i = 0; i < 3; i++)
    if (pa[i] != pb[i])
      return pa[i] > pb[i];
  return false;
}

int sp_wal_open(struct sp_wal *w, const char *home, size_t max, uint8_t **snap, size_t *n,
                char *err, size_t errcap)
{
  memset(w, 0, sizeof(*w));
  w->fd[0] = w->fd[1] = -1;
  *snap = NULL;
  *n = 0;
  snprintf(w->home, sizeof(w->home), "%s", home);
  char path[PATH_MAX + 32];
  bool created = false;
  uint8_t *buf[2] = {NULL, NULL};
  size_t len[2] = {0, 0};
  for (int i = 0; i < 2; i++) {
    char name[32];
    snprintf(name, sizeof(name), "consensus.wal.%d", i);
    path_of(path, sizeof(path), home, name);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      created = true;
    }
    int rc = fd < 0 ? -errno : read_all(fd, max, &buf[i], &len[i]);
    if (rc) {
      snprintf(err, errcap, "consensus record '%s': %s", path, strerror(-rc));
      if (fd >= 0)
        close(fd);
      goto fail;
    }
    w->fd[i] = fd;
  }
  int rc;
  if (created && (rc = sync_dir(home))) {
    snprintf(err, errcap, "cannot sync '%s': %s", home, strerror(-rc));
    goto fail;
  }
  /* the newer whole record */
  const uint8_t *best = NULL;
  size_t best_len = 0;
  bool found = false;
  for (int i = 0; i < 2; i++) {
    uint64_t seq;
    const uint8_t *p;
    size_t pn;
    if (record_ok(buf[i], len[i], &seq, &p, &pn) && (!found || seq > w->seq)) {
      found = true;
      w->seq = seq;
      best = p;
      best_len = pn;
    }
  }
  if (!found && len[0] && len[1]) {
    /* a torn write spoils one file only: both bad is damage (one bad and
     * the other empty is the very first write, torn: nothing was sent) */
    snprintf(err, errcap, "consensus record in '%s' (consensus.wal.0 and .1) is damaged", home);
    goto fail;
  }
  uint8_t *legacy = NULL;
  size_t legacy_len = 0;
  path_of(path, sizeof(path), home, "consensus.wal");
  /* absent is the usual case; present but unreadable must stop the node,
   * as a damaged record does: starting without it could sign twice */
  int lfd = open(path, O_RDONLY | O_CLOEXEC);
  if (lfd < 0 && errno != ENOENT) {
    snprintf(err, errcap, "consensus record '%s': %s", path, strerror(errno));
    goto fail;
  }
  if (lfd >= 0) {
    w->legacy = 1;
    rc = read_all(lfd, max, &legacy, &legacy_len);
    close(lfd);
    if (rc) {
      snprintf(err, errcap, "consensus record '%s': %s", path, strerror(-rc));
      goto fail;
    }
  }
  /* both: the first write after an upgrade was cut short before the old
   * file went, or an older release ran in between; the further one wins */
  if (found && legacy && further(legacy, legacy_len, best, best_len))
    found = false;
  if (found) {
    *snap = malloc(best_len ? best_len : 1);
    if (*snap == NULL) {
      free(legacy);
      snprintf(err, errcap, "out of memory");
      goto fail;
    }
    memcpy(*snap, best, best_len);
    *n = best_len;
    free(legacy);
  } else if (legacy) {
    *snap = legacy; /* an older release's record: seq 0 */
    *n = legacy_len;
  }
  free(buf[0]);
  free(buf[1]);
  return 0;
fail:
  free(buf[0]);
  free(buf[1]);
  sp_wal_close(w);
  return -1;
}

int sp_wal_write(struct sp_wal *w, const uint8_t *p, size_t n)
{
  if (n > UINT32_MAX)
    return -EFBIG;
  uint64_t seq = w->seq + 1;
  int fd = w->fd[seq % 2];
  uint8_t hdr[HDR_LEN];
  memcpy(hdr, MAGIC, MAGIC_LEN);
  be64(hdr + MAGIC_LEN, seq);
  hdr[MAGIC_LEN + 8] = (uint8_t)(n >> 24);
  hdr[MAGIC_LEN + 9] = (uint8_t)(n >> 16);
  hdr[MAGIC_LEN + 10] = (uint8_t)(n >> 8);
  hdr[MAGIC_LEN + 11] = (uint8_t)n;
  record_hash(hdr + MAGIC_LEN + 12, hdr, p, n);
  size_t total = HDR_LEN + n, done = 0;
  while (done < total) {
    struct iovec iov[2];
    int k = 0;
    if (done < HDR_LEN)
      iov[k++] = (struct iovec){hdr + done, HDR_LEN - done};
    size_t from = done < HDR_LEN ? 0 : done - HDR_LEN;
    if (n > from)
      iov[k++] = (struct iovec){(void *)(p + from), n - from};
    ssize_t r = pwritev(fd, iov, k, (off_t)done);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return r < 0 ? -errno : -EIO;
    done += (size_t)r;
  }
  /* a shorter record than the last one: drop the tail (it would not
   * spoil the record, the length says where it ends, but it is junk) */
  if (ftruncate(fd, (off_t)total) != 0 || fdatasync(fd) != 0)
    return -errno;
  w->seq = seq;
  if (w->legacy) {
    char path[PATH_MAX + 32];
    path_of(path, sizeof(path), w->home, "consensus.wal");
    if (unlink(path) == 0 || errno == ENOENT) {
      w->legacy = 0;
      sync_dir(w->home);
    }
  }
  return 0;
}

void sp_wal_close(struct sp_wal *w)
{
  for (int i = 0; i < 2; i++)
    if (w->fd[i] >= 0)
      close(w->fd[i]);
  w->fd[0] = w->fd[1] = -1;
}
