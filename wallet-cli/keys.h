/* Keys of the wallet: addresses (the text form of a public key), sealed key
 * files and passphrase input.
 *
 * Address: "sp" followed by lowercase RFC 4648 base32, without padding, of
 *     pk(32) || check(4),  check = first 4 bytes of
 *     BLAKE2b-256("stadjerspas/address/1" || pk)
 * 36 bytes are 288 bits, so 58 characters whose last one carries 3 bits and
 * 2 zero bits. Decoding is exact: no case folding, no whitespace, the zero
 * bits must be zero, so every address has one spelling.
 *
 * Key file: one canonical msgpack array (sp/codec.h)
 *     [1, "stadjerspas-key", name (text 1..64 bytes), pk (bin 32),
 *      salt (bin 16), opslimit (uint), memlimit (uint, bytes, a multiple
 *      of 1024), nonce (bin 24), box (bin 48)]
 * where box = crypto_secretbox(seed(32), nonce, k) and
 *     k0 = crypto_pwhash Argon2id v1.3 (passphrase, salt, opslimit, memlimit)
 *     k  = BLAKE2b-256 keyed with k0 over "stadjerspas/keyfile/1" || 0x00 || name
 * pk is in clear so `key list` needs no passphrase. Nothing in clear can be
 * changed unnoticed: salt and limits feed k0, the name feeds k, the nonce
 * and box are under the MAC, and pk must equal the key derived from the
 * decrypted seed. */
#ifndef SP_KEYS_H
#define SP_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp/codec.h"

#define SP_ADDRESS_PREFIX "sp"
#define SP_ADDRESS_LEN 60 /* "sp" + 58 base32 characters, without the NUL */
#define SP_ADDRESS_TAG "stadjerspas/address/1"
#define SP_ADDRESS_CHECK_LEN 4

#define SP_KEYFILE_VERSION 1
#define SP_KEYFILE_MAGIC "stadjerspas-key"
#define SP_KEYFILE_KDF_TAG "stadjerspas/keyfile/1"
#define SP_KEYFILE_MAX 4096     /* bytes; larger files are not key files */
#define SP_KEYFILE_NAME_MAX 64  /* bytes of UTF-8 text, no control characters */
#define SP_KEYFILE_SALT_LEN 16  /* crypto_pwhash_SALTBYTES */
#define SP_KEYFILE_NONCE_LEN 24 /* crypto_secretbox_NONCEBYTES */
#define SP_KEYFILE_BOX_LEN 48   /* 32-byte seed + crypto_secretbox_MACBYTES */

/* Errors of this module: negative, disjoint from the SP_E_* codes. */
#define SP_KEYS_ERRNO_MAP(X)                                                             \
  X(SP_ADDR_E_LENGTH, "invalid address (length)")                                        \
  X(SP_ADDR_E_CHAR, "invalid address (character)")                                       \
  X(SP_ADDR_E_CHECKSUM, "invalid address (checksum)")                                    \
  X(SP_KEY_E_INVAL, "invalid argument")                                                  \
  X(SP_KEY_E_NOMEM, "out of memory")                                                     \
  X(SP_KEY_E_CRYPTO, "cryptographic library failure")                                    \
  X(SP_KEY_E_NAME, "invalid key name (1 to 64 bytes of text without control characters)") \
  X(SP_KEY_E_FORMAT, "key file is damaged or not a Stadjerspas key file")                \
  X(SP_KEY_E_PASSPHRASE, "wrong passphrase")                                             \
  X(SP_KEY_E_MISMATCH, "key file is damaged: the key does not match its public part")    \
  X(SP_KEY_E_LIMITS, "key file asks for unreasonable work")                              \
  X(SP_KEY_E_EXISTS, "a key with this name already exists")                              \
  X(SP_KEY_E_NOTFOUND, "file not found")                                                 \
  X(SP_KEY_E_IO, "cannot read or write the file")                                        \
  X(SP_KEY_E_PASSPHRASE_MISMATCH, "passphrases do not match")                            \
  X(SP_KEY_E_NO_PASSPHRASE,                                                              \
    "no passphrase: set STADJER_PASSPHRASE, use --passphrase-file, or run on a terminal") \
  X(SP_KEY_E_EMPTY, "empty passphrase")                                                  \
  X(SP_KEY_E_TOOLONG, "passphrase too long")                                             \
  X(SP_KEY_E_NUL, "passphrase contains a NUL byte")                                      \
  X(SP_KEY_E_INTERRUPTED, "interrupted")

enum sp_keys_err {
  SP_KEYS__E_FIRST = -2000,
#define SP_KEYS_ERR_ENUM(name, msg) name,
  SP_KEYS_ERRNO_MAP(SP_KEYS_ERR_ENUM)
#undef SP_KEYS_ERR_ENUM
  SP_KEYS__E_LAST
};

/* Static text for a code of this module; other codes go to sp_strerror(). */
const char *sp_keys_strerror(int err);
/* Stable name, e.g. "SP_KEY_E_FORMAT"; "UNKNOWN" for foreign codes. */
const char *sp_keys_errname(int err);

/* --- addresses --- */

void sp_address_encode(const uint8_t pk[static 32], char out[static SP_ADDRESS_LEN + 1]);
/* 0, SP_ADDR_E_LENGTH, SP_ADDR_E_CHAR (wrong prefix, a character outside
 * the lowercase alphabet, or nonzero trailing bits) or SP_ADDR_E_CHECKSUM.
 * pk is written only on success. */
int sp_address_decode(const char *text, uint8_t pk[static 32]);

/* --- key files (pure: no I/O) --- */

/* Seal seed under the passphrase pass[0..passlen) (any bytes, not empty)
 * with Argon2id at OPSLIMIT/MEMLIMIT_INTERACTIVE and append the key file
 * to out. On failure out->len is restored (its sticky err may be set if out
 * itself failed). Needs sp_crypto_init(). 0, SP_KEY_E_EMPTY, SP_KEY_E_NAME,
 * SP_KEY_E_INVAL, SP_KEY_E_NOMEM or SP_KEY_E_CRYPTO. */
int sp_keyfile_seal(const uint8_t seed[static 32], const char *pass, size_t passlen,
                    const char *name, struct sp_buf *out);
/* The same with explicit limits (tests use the minimums), each within
 * [crypto_pwhash_*_MIN, SP_KEYFILE_*_MAX] and memlimit a multiple of 1024
 * (Argon2 counts KiB), else SP_KEY_E_INVAL. */
int sp_keyfile_seal_params(const uint8_t seed[static 32], const char *pass, size_t passlen,
                           const char *name, unsigned long long opslimit, size_t memlimit,
                           struct sp_buf *out);

/* Largest limits a key file may ask for (libsodium's SENSITIVE level):
 * a hostile file must not make the wallet work for hours or take all
 * memory before the passphrase is even checked. */
#define SP_KEYFILE_OPSLIMIT_MAX 4ULL           /* crypto_pwhash_OPSLIMIT_SENSITIVE */
#define SP_KEYFILE_MEMLIMIT_MAX 1073741824ULL  /* crypto_pwhash_MEMLIMIT_SENSITIVE */

/* Decrypt a key file. pk and sk are written only on success; every copy of
 * the seed, the derived keys and the secret key inside is wiped.
 * 0, SP_KEY_E_FORMAT (any decoding failure), SP_KEY_E_LIMITS (checked
 * before any work), SP_KEY_E_EMPTY, SP_KEY_E_PASSPHRASE (wrong passphrase,
 * or a damaged box/nonce/name: the two cannot be told apart),
 * SP_KEY_E_MISMATCH, SP_KEY_E_NOMEM or SP_KEY_E_CRYPTO. */
int sp_keyfile_open(const uint8_t *file, size_t n, const char *pass, size_t passlen,
                    uint8_t pk[static 32], uint8_t sk[static 64]);

/* The clear part only, after checking the whole file's format: pk and the
 * name as a NUL-terminated string. 0 or SP_KEY_E_FORMAT; outputs written
 * only on success. */
int sp_keyfile_info(const uint8_t *file, size_t n, uint8_t pk[static 32],
                    char name[static SP_KEYFILE_NAME_MAX + 1]);

/* --- key files on disk --- */

/* Create path with mode 0600, refusing to replace anything that exists
 * (O_EXCL, also a dangling symlink), write p[0..n) and fsync the file and
 * its directory. A partly written file is removed. 0, SP_KEY_E_EXISTS,
 * SP_KEY_E_NOTFOUND (no such directory) or SP_KEY_E_IO (errno kept). */
int sp_keyfile_write(const char *path, const uint8_t *p, size_t n);

/* Read a whole key file (at most SP_KEYFILE_MAX bytes) into *out (malloc,
 * the caller frees). *too_open (may be NULL) is set when group or others
 * have any permission on it; the caller should warn, as wg does.
 * 0, SP_KEY_E_NOTFOUND, SP_KEY_E_FORMAT (not a regular file, or too large),
 * SP_KEY_E_NOMEM or SP_KEY_E_IO (errno kept). Outputs untouched on error. */
int sp_keyfile_read(const char *path, uint8_t **out, size_t *n, bool *too_open);

/* --- passphrase input --- */

/* Get a passphrase into out (NUL-terminated, at most cap - 1 bytes), from
 * the first source that is there:
 *   1. file != NULL: the first line of that file, without its "\n" (or
 *      "\r\n"); what follows is ignored;
 *   2. env_name != NULL and getenv(env_name) set: its value;
 *   3. stdin is a terminal: prompt on /dev/tty with echo off, asking again
 *      to confirm if confirm is true. The terminal is restored on every
 *      path; SIGINT, SIGTERM, SIGHUP and SIGQUIT restore it and are then
 *      delivered as before (if the process survives: SP_KEY_E_INTERRUPTED);
 *      after a stop (^Z) the prompt starts again.
 *   else SP_KEY_E_NO_PASSPHRASE.
 * Errors: SP_KEY_E_EMPTY, SP_KEY_E_TOOLONG, SP_KEY_E_NUL,
 * SP_KEY_E_PASSPHRASE_MISMATCH, SP_KEY_E_NOTFOUND / SP_KEY_E_IO (the file),
 * SP_KEY_E_NOMEM, SP_KEY_E_INVAL (cap < 2). out is written only on
 * success; the caller wipes it (sodium_memzero) after use. */
int sp_passphrase_get(const char *prompt, const char *env_name, const char *file, char *out,
                      size_t cap, bool confirm);

#endif
