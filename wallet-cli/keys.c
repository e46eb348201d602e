/* Addresses, sealed key files and passphrase input (keys.h). */
#include "keys.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "sp/crypto.h"
#include "sp/error.h"

static_assert(SP_KEYFILE_SALT_LEN == crypto_pwhash_SALTBYTES, "salt size");
static_assert(SP_KEYFILE_NONCE_LEN == crypto_secretbox_NONCEBYTES, "nonce size");
static_assert(SP_KEYFILE_BOX_LEN == 32 + crypto_secretbox_MACBYTES, "box size");
static_assert(crypto_secretbox_KEYBYTES == 32, "secretbox key size");
static_assert(SP_KEYFILE_NAME_MAX == SP_MAX_NAME, "key names are names");

/* --- errors --- */

static const char *const key_messages[] = {
#define SP_KEYS_ERR_MSG(name, msg) msg,
    SP_KEYS_ERRNO_MAP(SP_KEYS_ERR_MSG)
#undef SP_KEYS_ERR_MSG
};

static const char *const key_names[] = {
#define SP_KEYS_ERR_NAME(name, msg) #name,
    SP_KEYS_ERRNO_MAP(SP_KEYS_ERR_NAME)
#undef SP_KEYS_ERR_NAME
};

static int key_slot(int err)
{
  if (err <= SP_KEYS__E_FIRST || err >= SP_KEYS__E_LAST)
    return -1;
  return err - SP_KEYS__E_FIRST - 1;
}

const char *sp_keys_strerror(int err)
{
  int i = key_slot(err);
  return i < 0 ? sp_strerror(err) : key_messages[i];
}

const char *sp_keys_errname(int err)
{
  if (err == 0)
    return "OK";
  int i = key_slot(err);
  return i < 0 ? "UNKNOWN" : key_names[i];
}

/* --- addresses --- */

#define ADDR_RAW_LEN (32 + SP_ADDRESS_CHECK_LEN)
#define ADDR_PREFIX_LEN (sizeof(SP_ADDRESS_PREFIX) - 1)

static_assert(ADDR_PREFIX_LEN + (ADDR_RAW_LEN * 8 + 4) / 5 == SP_ADDRESS_LEN, "address length");

static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

static int b32_value(char c)
{
  if (c >= 'a' && c <= 'z')
    return c - 'a';
  if (c >= '2' && c <= '7')
    return c - '2' + 26;
  return -1;
}

static void address_check(uint8_t check[static SP_ADDRESS_CHECK_LEN], const uint8_t pk[static 32])
{
  uint8_t h[32];
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, sizeof(h));
  crypto_generichash_update(&st, (const uint8_t *)SP_ADDRESS_TAG, sizeof(SP_ADDRESS_TAG) - 1);
  crypto_generichash_update(&st, pk, 32);
  crypto_generichash_final(&st, h, sizeof(h));
  memcpy(check, h, SP_ADDRESS_CHECK_LEN);
}

void sp_address_encode(const uint8_t pk[static 32], char out[static SP_ADDRESS_LEN + 1])
{
  uint8_t raw[ADDR_RAW_LEN];
  memcpy(raw, pk, 32);
  address_check(raw + 32, pk);

  memcpy(out, SP_ADDRESS_PREFIX, ADDR_PREFIX_LEN);
  size_t o = ADDR_PREFIX_LEN;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < sizeof(raw); i++) {
    acc = (acc << 8) | raw[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out[o++] = b32_alphabet[(acc >> bits) & 31];
    }
    acc &= (1u << bits) - 1;
  }
  if (bits > 0)
    out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
  out[o] = '\0';
}

int sp_address_decode(const char *text, uint8_t pk[static 32])
{
  if (text == NULL || strnlen(text, SP_ADDRESS_LEN + 1) != SP_ADDRESS_LEN)
    return SP_ADDR_E_LENGTH;
  if (memcmp(text, SP_ADDRESS_PREFIX, ADDR_PREFIX_LEN) != 0)
    return SP_ADDR_E_CHAR;

  uint8_t raw[ADDR_RAW_LEN];
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = ADDR_PREFIX_LEN; i < SP_ADDRESS_LEN; i++) {
    int v = b32_value(text[i]);
    if (v < 0)
      return SP_ADDR_E_CHAR;
    acc = (acc << 5) | (uint32_t)v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      raw[o++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  /* The last character carries 3 data bits and 2 that must be zero: with
   * them free, four spellings would decode to the same key and a typo in
   * those bits would go unnoticed. */
  if (o != ADDR_RAW_LEN || acc != 0)
    return SP_ADDR_E_CHAR;

  uint8_t check[SP_ADDRESS_CHECK_LEN];
  address_check(check, raw);
  if (memcmp(check, raw + 32, SP_ADDRESS_CHECK_LEN) != 0)
    return SP_ADDR_E_CHECKSUM;
  memcpy(pk, raw, 32);
  return 0;
}

/* --- key files --- */

#define KEYFILE_FIELDS 9

struct keyfile {
  struct sp_str name; /* points into the file */
  uint8_t pk[32];
  uint8_t salt[SP_KEYFILE_SALT_LEN];
  uint64_t opslimit;
  uint64_t memlimit;
  uint8_t nonce[SP_KEYFILE_NONCE_LEN];
  uint8_t box[SP_KEYFILE_BOX_LEN];
};

static int keyfile_decode(const uint8_t *p, size_t n, struct keyfile *kf)
{
  struct sp_rd r;
  struct sp_str magic;
  uint64_t version;

  if (p == NULL || n == 0 || n > SP_KEYFILE_MAX || sp_msgpack_check(p, n, 1) != SP_OK)
    return SP_KEY_E_FORMAT;
  r = sp_rd_init(p, n);
  if (sp_rd_array_exact(&r, KEYFILE_FIELDS) || sp_rd_uint(&r, &version) ||
      version != SP_KEYFILE_VERSION || sp_rd_str(&r, &magic, sizeof(SP_KEYFILE_MAGIC)) ||
      !sp_str_eq(magic, sp_str_c(SP_KEYFILE_MAGIC)) ||
      sp_rd_str(&r, &kf->name, SP_KEYFILE_NAME_MAX) || kf->name.len == 0 ||
      sp_rd_binfix(&r, kf->pk, sizeof(kf->pk)) ||
      sp_rd_binfix(&r, kf->salt, sizeof(kf->salt)) || sp_rd_uint(&r, &kf->opslimit) ||
      sp_rd_uint(&r, &kf->memlimit) || sp_rd_binfix(&r, kf->nonce, sizeof(kf->nonce)) ||
      sp_rd_binfix(&r, kf->box, sizeof(kf->box)) || sp_rd_done(&r))
    return SP_KEY_E_FORMAT;
  /* Below libsodium's minimums no writer of ours ever sealed anything.
   * Argon2 counts memory in KiB: memlimit 8192 and 8193 would be the same
   * work, so only multiples of 1024 are canonical. */
  if (kf->opslimit < crypto_pwhash_OPSLIMIT_MIN || kf->memlimit < crypto_pwhash_MEMLIMIT_MIN ||
      kf->memlimit % 1024 != 0)
    return SP_KEY_E_FORMAT;
  return 0;
}

/* k = BLAKE2b-256 keyed with Argon2id(pass, salt) over tag || 0 || name. */
static int derive_key(uint8_t k[static 32], const char *pass, size_t passlen,
                      const uint8_t salt[static SP_KEYFILE_SALT_LEN], unsigned long long opslimit,
                      size_t memlimit, const char *name, size_t namelen)
{
  uint8_t k0[32];
  crypto_generichash_state st;
  int rc = 0;

  /* The arguments were checked, so what remains to fail is the allocation
   * of memlimit bytes. */
  if (crypto_pwhash(k0, sizeof(k0), pass, passlen, salt, opslimit, memlimit,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    rc = SP_KEY_E_NOMEM;
    goto out;
  }
  if (crypto_generichash_init(&st, k0, sizeof(k0), 32) != 0 ||
      crypto_generichash_update(&st, (const uint8_t *)SP_KEYFILE_KDF_TAG,
                                sizeof(SP_KEYFILE_KDF_TAG)) != 0 ||
      crypto_generichash_update(&st, (const uint8_t *)name, namelen) != 0 ||
      crypto_generichash_final(&st, k, 32) != 0)
    rc = SP_KEY_E_CRYPTO;
out:
  sodium_memzero(k0, sizeof(k0));
  sodium_memzero(&st, sizeof(st));
  return rc;
}

int sp_keyfile_seal(const uint8_t seed[static 32], const char *pass, size_t passlen,
                    const char *name, struct sp_buf *out)
{
  return sp_keyfile_seal_params(seed, pass, passlen, name, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                crypto_pwhash_MEMLIMIT_INTERACTIVE, out);
}

int sp_keyfile_seal_params(const uint8_t seed[static 32], const char *pass, size_t passlen,
                           const char *name, unsigned long long opslimit, size_t memlimit,
                           struct sp_buf *out)
{
  uint8_t pk[32], sk[64], k[32];
  uint8_t salt[SP_KEYFILE_SALT_LEN], nonce[SP_KEYFILE_NONCE_LEN], box[SP_KEYFILE_BOX_LEN];
  size_t namelen, old_len;
  int rc;

  if (seed == NULL || out == NULL || (pass == NULL && passlen != 0))
    return SP_KEY_E_INVAL;
  if (passlen == 0)
    return SP_KEY_E_EMPTY;
  if (passlen > crypto_pwhash_PASSWD_MAX)
    return SP_KEY_E_INVAL;
  if (name == NULL)
    return SP_KEY_E_NAME;
  namelen = strnlen(name, SP_KEYFILE_NAME_MAX + 1);
  if (namelen == 0 || namelen > SP_KEYFILE_NAME_MAX || !sp_text_valid(name, namelen))
    return SP_KEY_E_NAME;
  if (opslimit < crypto_pwhash_OPSLIMIT_MIN || opslimit > SP_KEYFILE_OPSLIMIT_MAX ||
      memlimit < crypto_pwhash_MEMLIMIT_MIN || memlimit > SP_KEYFILE_MEMLIMIT_MAX ||
      memlimit % 1024 != 0)
    return SP_KEY_E_INVAL;

  rc = sp_keypair_from_seed(pk, sk, seed) == SP_OK ? 0 : SP_KEY_E_CRYPTO;
  sodium_memzero(sk, sizeof(sk));
  if (rc)
    goto out;
  randombytes_buf(salt, sizeof(salt));
  randombytes_buf(nonce, sizeof(nonce));
  rc = derive_key(k, pass, passlen, salt, opslimit, memlimit, name, namelen);
  if (rc)
    goto out;
  if (crypto_secretbox_easy(box, seed, 32, nonce, k) != 0) {
    rc = SP_KEY_E_CRYPTO;
    goto out;
  }

  old_len = out->len;
  sp_wr_array(out, KEYFILE_FIELDS);
  sp_wr_uint(out, SP_KEYFILE_VERSION);
  sp_wr_str(out, SP_KEYFILE_MAGIC, sizeof(SP_KEYFILE_MAGIC) - 1);
  sp_wr_str(out, name, (uint32_t)namelen);
  sp_wr_bin(out, pk, sizeof(pk));
  sp_wr_bin(out, salt, sizeof(salt));
  sp_wr_uint(out, opslimit);
  sp_wr_uint(out, memlimit);
  sp_wr_bin(out, nonce, sizeof(nonce));
  sp_wr_bin(out, box, sizeof(box));
  if (out->err) {
    rc = out->err == SP_E_NOMEM ? SP_KEY_E_NOMEM : SP_KEY_E_INVAL;
    out->len = old_len;
  }
out:
  sodium_memzero(k, sizeof(k));
  return rc;
}

int sp_keyfile_open(const uint8_t *file, size_t n, const char *pass, size_t passlen,
                    uint8_t pk[static 32], uint8_t sk[static 64])
{
  struct keyfile kf;
  uint8_t k[32], seed[32], pk2[32], sk2[64];
  int rc;

  if (pk == NULL || sk == NULL || (pass == NULL && passlen != 0))
    return SP_KEY_E_INVAL;
  rc = keyfile_decode(file, n, &kf);
  if (rc)
    return rc;
  /* Before any work: the limits come from the file, which may be hostile. */
  if (kf.opslimit > SP_KEYFILE_OPSLIMIT_MAX || kf.memlimit > SP_KEYFILE_MEMLIMIT_MAX)
    return SP_KEY_E_LIMITS;
  if (passlen == 0)
    return SP_KEY_E_EMPTY;
  if (passlen > crypto_pwhash_PASSWD_MAX)
    return SP_KEY_E_PASSPHRASE;

  rc = derive_key(k, pass, passlen, kf.salt, kf.opslimit, (size_t)kf.memlimit, kf.name.p,
                  kf.name.len);
  if (rc)
    goto out;
  if (crypto_secretbox_open_easy(seed, kf.box, sizeof(kf.box), kf.nonce, k) != 0) {
    rc = SP_KEY_E_PASSPHRASE;
    goto out;
  }
  if (sp_keypair_from_seed(pk2, sk2, seed) != SP_OK) {
    rc = SP_KEY_E_CRYPTO;
    goto out;
  }
  /* Only reachable for a file sealed consistently around a wrong pk (a
   * broken or hostile writer): the box authenticates everything else. */
  if (sodium_memcmp(pk2, kf.pk, sizeof(pk2)) != 0) {
    rc = SP_KEY_E_MISMATCH;
    goto out;
  }
  memcpy(pk, pk2, sizeof(pk2));
  memcpy(sk, sk2, sizeof(sk2));
out:
  sodium_memzero(k, sizeof(k));
  sodium_memzero(seed, sizeof(seed));
  sodium_memzero(sk2, sizeof(sk2));
  return rc;
}

int sp_keyfile_info(const uint8_t *file, size_t n, uint8_t pk[static 32],
                    char name[static SP_KEYFILE_NAME_MAX + 1])
{
  struct keyfile kf;
  int rc;

  if (pk == NULL || name == NULL)
    return SP_KEY_E_INVAL;
  rc = keyfile_decode(file, n, &kf);
  if (rc)
    return rc;
  memcpy(pk, kf.pk, sizeof(kf.pk));
  memcpy(name, kf.name.p, kf.name.len);
  name[kf.name.len] = '\0';
  return 0;
}

/* --- key files on disk --- */

static int write_all(int fd, const void *p, size_t n)
{
  const uint8_t *q = p;
  while (n > 0) {
    ssize_t w = write(fd, q, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    q += w;
    n -= (size_t)w;
  }
  return 0;
}

/* The new directory entry must survive a crash as well as the contents. */
static int fsync_parent(const char *path)
{
  const char *slash = strrchr(path, '/');
  char *dir;
  int fd, rc = 0;

  if (slash == NULL)
    dir = strdup(".");
  else if (slash == path)
    dir = strdup("/");
  else
    dir = strndup(path, (size_t)(slash - path));
  if (dir == NULL)
    return -1;
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free(dir);
  if (fd < 0)
    return -1;
  if (fsync(fd) != 0 && errno != EINVAL) /* some file systems cannot */
    rc = -1;
  close(fd);
  return rc;
}

static int errno_to_key(int e)
{
  switch (e) {
  case EEXIST: return SP_KEY_E_EXISTS;
  case ENOENT: return SP_KEY_E_NOTFOUND;
  case ENOMEM: return SP_KEY_E_NOMEM;
  default: return SP_KEY_E_IO;
  }
}

int sp_keyfile_write(const char *path, const uint8_t *p, size_t n)
{
  int fd, saved;

  if (path == NULL || (p == NULL && n != 0))
    return SP_KEY_E_INVAL;
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return errno_to_key(errno);
  /* The umask can only take bits away; fchmod makes it exactly 0600. */
  if (fchmod(fd, 0600) != 0 || write_all(fd, p, n) != 0 || fsync(fd) != 0) {
    saved = errno;
    close(fd);
    goto fail;
  }
  if (close(fd) != 0 || fsync_parent(path) != 0) {
    saved = errno;
    goto fail;
  }
  return 0;
fail:
  unlink(path); /* ours: O_EXCL created it */
  errno = saved;
  return SP_KEY_E_IO;
}

int sp_keyfile_read(const char *path, uint8_t **out, size_t *n, bool *too_open)
{
  struct stat st;
  uint8_t *buf = NULL;
  size_t len = 0;
  int fd, rc = 0, saved;

  if (path == NULL || out == NULL || n == NULL)
    return SP_KEY_E_INVAL;
  /* O_NONBLOCK: a FIFO in place of a key file must not hang the wallet. */
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return errno_to_key(errno);
  if (fstat(fd, &st) != 0) {
    rc = SP_KEY_E_IO;
    goto out;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > SP_KEYFILE_MAX) {
    rc = SP_KEY_E_FORMAT;
    goto out;
  }
  buf = malloc(SP_KEYFILE_MAX + 1);
  if (buf == NULL) {
    rc = SP_KEY_E_NOMEM;
    goto out;
  }
  /* Read one byte past the maximum: the file may have grown since fstat. */
  while (len < SP_KEYFILE_MAX + 1) {
    ssize_t r = read(fd, buf + len, SP_KEYFILE_MAX + 1 - len);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      rc = SP_KEY_E_IO;
      goto out;
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  if (len > SP_KEYFILE_MAX) {
    rc = SP_KEY_E_FORMAT;
    goto out;
  }
  *out = buf;
  *n = len;
  if (too_open != NULL)
    *too_open = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
  buf = NULL;
out:
  saved = errno;
  free(buf);
  close(fd);
  errno = saved;
  return rc;
}

/* --- passphrase input --- */

#define DEFAULT_PROMPT "passphrase: "
#define CONFIRM_PROMPT "repeat passphrase: "

/* Signals that end or stop the process while echo is off. */
static const int tty_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU};
#define N_TTY_SIGNALS (sizeof(tty_signals) / sizeof(tty_signals[0]))

static volatile sig_atomic_t caught_signal;

static void on_tty_signal(int sig)
{
  caught_signal = sig;
}

/* Read one line from fd into buf[0..bufcap) (bufcap = cap + 1, one spare
 * byte so a "\r" before the "\n" can be dropped), without the line end.
 * Bytes past the capacity are read and dropped: the rest of an over-long
 * line must not be taken for the next answer. */
static int read_line(int fd, char *buf, size_t bufcap, size_t *len_out, bool stop_on_signal)
{
  size_t len = 0;
  bool over = false, nul = false;
  char c = 0;
  int rc = 0;

  for (;;) {
    if (stop_on_signal && caught_signal) {
      rc = SP_KEY_E_INTERRUPTED;
      goto out;
    }
    ssize_t r = read(fd, &c, 1);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      rc = SP_KEY_E_IO;
      goto out;
    }
    if (r == 0 || c == '\n')
      break;
    if (c == '\0')
      nul = true;
    if (len < bufcap - 1)
      buf[len++] = c;
    else
      over = true;
  }
  if (len > 0 && buf[len - 1] == '\r' && !over)
    len--;
  buf[len] = '\0';
  if (over || len > bufcap - 2)
    rc = SP_KEY_E_TOOLONG;
  else if (nul)
    rc = SP_KEY_E_NUL;
  else
    *len_out = len;
out:
  sodium_memzero(&c, sizeof(c));
  return rc;
}

static int pass_from_file(const char *path, char *buf, size_t bufcap, size_t *len)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return errno_to_key(errno);
  int rc = read_line(fd, buf, bufcap, len, false);
  close(fd);
  return rc;
}

static void tty_write(int fd, const char *s)
{
  (void)write_all(fd, s, strlen(s));
}

static int tty_set(int fd, const struct termios *t)
{
  while (tcsetattr(fd, TCSAFLUSH, t) != 0)
    if (errno != EINTR)
      return -1;
  return 0;
}

static int pass_from_tty(const char *prompt, char *buf, char *again, size_t bufcap, size_t *len,
                         bool confirm)
{
  struct sigaction act, saved[N_TTY_SIGNALS];
  bool installed[N_TTY_SIGNALS];
  struct termios old, quiet;
  size_t len2 = 0;
  int fd, rc, sig;

restart:
  fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return SP_KEY_E_NO_PASSPHRASE;
  if (tcgetattr(fd, &old) != 0) {
    close(fd);
    return SP_KEY_E_NO_PASSPHRASE;
  }

  caught_signal = 0;
  memset(&act, 0, sizeof(act));
  act.sa_handler = on_tty_signal;
  sigemptyset(&act.sa_mask);
  act.sa_flags = 0; /* no SA_RESTART: the read must return EINTR */
  for (size_t i = 0; i < N_TTY_SIGNALS; i++) {
    installed[i] = false;
    if (sigaction(tty_signals[i], NULL, &saved[i]) != 0 || saved[i].sa_handler == SIG_IGN)
      continue;
    installed[i] = sigaction(tty_signals[i], &act, NULL) == 0;
  }

  quiet = old;
  quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
  /* Echo off before the prompt appears, so nothing typed after it shows
   * (TCSAFLUSH drops what was typed before it). */
  if (tty_set(fd, &quiet) != 0) {
    rc = SP_KEY_E_IO;
    goto restore;
  }
  tty_write(fd, prompt);
  rc = read_line(fd, buf, bufcap, len, true);
  tty_write(fd, "\n");
  if (rc == 0 && confirm) {
    tty_write(fd, CONFIRM_PROMPT);
    rc = read_line(fd, again, bufcap, &len2, true);
    tty_write(fd, "\n");
    if (rc == 0 && (len2 != *len || sodium_memcmp(buf, again, *len) != 0))
      rc = SP_KEY_E_PASSPHRASE_MISMATCH;
    sodium_memzero(again, bufcap);
  }

restore:
  tty_set(fd, &old);
  close(fd);
  for (size_t i = 0; i < N_TTY_SIGNALS; i++)
    if (installed[i])
      sigaction(tty_signals[i], &saved[i], NULL);
  sig = caught_signal;
  caught_signal = 0;
  if (sig != 0) {
    /* The terminal is sane again: deliver the signal as if we had never
     * caught it. A stop returns here after SIGCONT and asks again. */
    kill(getpid(), sig);
    if (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
      sodium_memzero(buf, bufcap);
      goto restart;
    }
    rc = SP_KEY_E_INTERRUPTED;
  }
  return rc;
}

int sp_passphrase_get(const char *prompt, const char *env_name, const char *file, char *out,
                      size_t cap, bool confirm)
{
  const char *env = NULL;
  char *buf = NULL, *again = NULL;
  size_t len = 0;
  int rc;

  if (out == NULL || cap < 2 || cap > SIZE_MAX / 2)
    return SP_KEY_E_INVAL;
  buf = malloc(cap + 1);
  again = malloc(cap + 1);
  if (buf == NULL || again == NULL) {
    rc = SP_KEY_E_NOMEM;
    goto out;
  }

  if (file != NULL) {
    rc = pass_from_file(file, buf, cap + 1, &len);
  } else if (env_name != NULL && (env = getenv(env_name)) != NULL) {
    len = strlen(env);
    rc = len > cap - 1 ? SP_KEY_E_TOOLONG : 0;
    if (rc == 0)
      memcpy(buf, env, len + 1);
  } else if (isatty(STDIN_FILENO)) {
    rc = pass_from_tty(prompt != NULL ? prompt : DEFAULT_PROMPT, buf, again, cap + 1, &len,
                       confirm);
  } else {
    rc = SP_KEY_E_NO_PASSPHRASE;
  }
  if (rc == 0 && len == 0)
    rc = SP_KEY_E_EMPTY;
  if (rc == 0)
    memcpy(out, buf, len + 1);
out:
  if (buf != NULL)
    sodium_memzero(buf, cap + 1);
  if (again != NULL)
    sodium_memzero(again, cap + 1);
  free(buf);
  free(again);
  return rc;
}
