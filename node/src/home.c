#include "home.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sp/crypto.h"
#include "sp/error.h"

#include <sodium.h>

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int sp_hex_key(const char *text, uint8_t out[SP_PK_LEN])
{
  if (strlen(text) != 2 * SP_PK_LEN)
    return SP_E_RANGE;
  for (int i = 0; i < SP_PK_LEN; i++) {
    int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return SP_E_RANGE;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

void sp_key_hex(const uint8_t pk[SP_PK_LEN], char out[2 * SP_PK_LEN + 1])
{
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < SP_PK_LEN; i++) {
    out[2 * i] = hex[pk[i] >> 4];
    out[2 * i + 1] = hex[pk[i] & 15];
  }
  out[2 * SP_PK_LEN] = 0;
}

int sp_split_hostport(const char *s, char *host, size_t cap, int *port)
{
  const char *colon;
  size_t hl;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || close[1] != ':')
      return -1;
    hl = (size_t)(close - s - 1);
    s++;
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL)
      return -1;
    hl = (size_t)(colon - s);
  }
  if (hl == 0 || hl >= cap)
    return -1;
  char *end;
  errno = 0;
  long p = strtol(colon + 1, &end, 10);
  if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
    return -1;
  memcpy(host, s, hl);
  host[hl] = 0;
  *port = (int)p;
  return 0;
}

static int path_in(char *out, size_t cap, const char *home, const char *name)
{
  int n = snprintf(out, cap, "%s/%s", home, name);
  return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int sp_read_file(const char *path, size_t max, uint8_t **out, size_t *n)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return -errno;
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 4096;
      if (cap > max + 1)
        cap = max + 1;
      uint8_t *nb = realloc(buf, cap);
      if (nb == NULL) {
        rc = -ENOMEM;
        break;
      }
      buf = nb;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (len > max) {
      rc = -EFBIG;
      break;
    }
    if (got == 0) {
      if (ferror(f))
        rc = -EIO;
      break;
    }
  }
  fclose(f);
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf;
  *n = len;
  return 0;
}

int sp_write_file_durable(const char *path, const uint8_t *p, size_t n)
{
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
    return -ENAMETOOLONG;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  size_t off = 0;
  while (off < n) {
    ssize_t w = write(fd, p + off, n - off);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      int e = -errno;
      close(fd);
      unlink(tmp);
      return e;
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0) {
    int e = -errno;
    close(fd);
    unlink(tmp);
    return e;
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    int e = -errno;
    unlink(tmp);
    return e;
  }
  /* the rename itself must survive a crash: fsync the directory */
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = 0;
  else
    snprintf(dir, sizeof(dir), ".");
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

int sp_home_keygen(const char *home, uint8_t pk[SP_PK_LEN], char *err, size_t errcap)
{
  char path[PATH_MAX];
  if (mkdir(home, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errcap, "cannot create home '%s': %s", home, strerror(errno));
    return -1;
  }
  if (path_in(path, sizeof(path), home, "node.key")) {
    snprintf(err, errcap, "home path too long");
    return -1;
  }
  uint8_t seed[32], sk[SP_SK_LEN];
  randombytes_buf(seed, sizeof(seed));
  sp_keypair_from_seed(pk, sk, seed);
  char text[2 * 32 + 2];
  sp_key_hex(seed, text);
  strcat(text, "\n");
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  int rc = 0;
  if (fd < 0) {
    snprintf(err, errcap, "cannot create '%s': %s", path,
             errno == EEXIST ? "a key already exists (refusing to overwrite)" : strerror(errno));
    rc = -1;
  } else {
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
      snprintf(err, errcap, "cannot write '%s': %s", path, strerror(errno));
      rc = -1;
    }
    close(fd);
  }
  sodium_memzero(seed, sizeof(seed));
  sodium_memzero(sk, sizeof(sk));
  sodium_memzero(text, sizeof(text));
  return rc;
}

int sp_home_key(const char *home, uint8_t pk[SP_PK_LEN], uint8_t sk[SP_SK_LEN], char *err,
                size_t errcap)
{
  char path[PATH_MAX];
  if (path_in(path, sizeof(path), home, "node.key")) {
    snprintf(err, errcap, "home path too long");
    return -1;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    snprintf(err, errcap, "no key file '%s' (create one with: stadjerd keygen --home %s)",
             path, home);
    return -1;
  }
  if (st.st_mode & 077)
    LOG_W(0, NULL, "key file '%s' is readable by others (chmod 600 it)", path);
  uint8_t *buf;
  size_t n;
  if (sp_read_file(path, 256, &buf, &n) != 0) {
    snprintf(err, errcap, "cannot read key file '%s'", path);
    return -1;
  }
  char text[65];
  size_t len = n;
  while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
    len--;
  int rc = -1;
  uint8_t seed[32];
  if (len == 64) {
    memcpy(text, buf, 64);
    text[64] = 0;
    if (sp_hex_key(text, seed) == 0 && sp_keypair_from_seed(pk, sk, seed) == 0)
      rc = 0;
  }
  if (rc)
    snprintf(err, errcap, "key file '%s' is damaged: expected 64 hex digits", path);
  sodium_memzero(buf, n);
  free(buf);
  sodium_memzero(seed, sizeof(seed));
  sodium_memzero(text, sizeof(text));
  return rc;
}

static int add_key(uint8_t (*list)[SP_PK_LEN], size_t *n, const char *value, const char *what,
                   char *err, size_t errcap)
{
  if (*n == SP_HOME_MAX_KEYS) {
    snprintf(err, errcap, "too many %s keys (at most %d)", what, SP_HOME_MAX_KEYS);
    return -1;
  }
  if (sp_hex_key(value, list[*n]) != 0) {
    snprintf(err, errcap, "%s key '%s' is not 64 hex digits", what, value);
    return -1;
  }
  (*n)++;
  return 0;
}

int sp_home_setting(struct sp_home_config *cfg, const char *key, const char *value, char *err,
                    size_t errcap)
{
  if (strcmp(key, "listen") == 0) {
    if (sp_split_hostport(value, cfg->listen_host, sizeof(cfg->listen_host),
                          &cfg->listen_port) != 0) {
      snprintf(err, errcap, "listen address '%s' is not HOST:PORT", value);
      return -1;
    }
    cfg->has_listen = true;
    return 0;
  }
  if (strcmp(key, "observer") == 0)
    return add_key(cfg->observers, &cfg->n_observers, value, "observer", err, errcap);
  if (strcmp(key, "auditor") == 0)
    return add_key(cfg->auditors, &cfg->n_auditors, value, "auditor", err, errcap);
  if (strcmp(key, "log-level") == 0) {
    cfg->log_level = sp_log_parse_level(value);
    if (cfg->log_level < 0) {
      snprintf(err, errcap, "log level '%s' is not one of error, warn, info, debug", value);
      return -1;
    }
    return 0;
  }
  if (strcmp(key, "empty-block-ms") == 0) {
    char *end;
    long v = strtol(value, &end, 10);
    if (*value == 0 || *end || v < 0 || v > 3600000) {
      snprintf(err, errcap, "empty-block-ms '%s' is not a number of milliseconds", value);
      return -1;
    }
    cfg->empty_block_ms = (int)v;
    return 0;
  }
  snprintf(err, errcap, "unknown setting '%s'", key);
  return -1;
}

static char *trim(char *s)
{
  while (*s == ' ' || *s == '\t')
    s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
    s[--n] = 0;
  return s;
}

int sp_home_config(const char *home, struct sp_home_config *cfg, char *err, size_t errcap)
{
  memset(cfg, 0, sizeof(*cfg));
  cfg->log_level = -1;
  cfg->empty_block_ms = -1;
  char path[PATH_MAX];
  if (path_in(path, sizeof(path), home, "stadjerd.conf")) {
    snprintf(err, errcap, "home path too long");
    return -1;
  }
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return errno == ENOENT ? 0 : (snprintf(err, errcap, "cannot read '%s'", path), -1);
  char line[512];
  int lineno = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof(line), f)) {
    lineno++;
    char *s = trim(line);
    if (*s == 0 || *s == '#')
      continue;
    char *eq = strchr(s, '=');
    if (eq == NULL) {
      snprintf(err, errcap, "%s:%d: expected 'key = value'", path, lineno);
      rc = -1;
      break;
    }
    *eq = 0;
    char msg[256];
    if (sp_home_setting(cfg, trim(s), trim(eq + 1), msg, sizeof(msg)) != 0) {
      snprintf(err, errcap, "%s:%d: %s", path, lineno, msg);
      rc = -1;
    }
  }
  fclose(f);
  return rc;
}

int sp_home_lock(const char *home, char *err, size_t errcap)
{
  char path[PATH_MAX];
  if (path_in(path, sizeof(path), home, "LOCK")) {
    snprintf(err, errcap, "home path too long");
    return -1;
  }
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    snprintf(err, errcap, "cannot open '%s': %s", path, strerror(errno));
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    snprintf(err, errcap, "another stadjerd is already running on home '%s'", home);
    close(fd);
    return -1;
  }
  return fd;
}
