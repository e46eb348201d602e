/* Canonical msgpack: the writer (msgpack-c's packer into a bounded buffer)
 * and the strict reader every decoder is built on.
 *
 * The format is a subset of msgpack: unsigned integers, the single negative
 * integer -1, byte strings (bin), UTF-8 strings (str) and arrays. Maps,
 * floats, ext, bool and nil are forbidden. Every integer and length must use
 * its shortest encoding, so each value has exactly one byte representation
 * and hashes/signatures over encodings are well defined. */
#ifndef SP_CODEC_H
#define SP_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* A growable output buffer with a hard maximum. Errors are sticky: after the
 * first failed append every further write is ignored and err holds the code
 * (SP_E_NOMEM or SP_E_BUFFER), so encoders check once at the end. */
struct sp_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
  size_t max;
  int err;
};

void sp_buf_init(struct sp_buf *b, size_t max);
void sp_buf_free(struct sp_buf *b); /* accepts NULL; leaves b re-usable */
void sp_buf_reset(struct sp_buf *b); /* len = 0, err = 0, keeps memory */
void sp_buf_append(struct sp_buf *b, const void *p, size_t n);

void sp_wr_array(struct sp_buf *b, uint32_t n);
void sp_wr_uint(struct sp_buf *b, uint64_t v);
void sp_wr_int(struct sp_buf *b, int64_t v);
void sp_wr_bin(struct sp_buf *b, const void *p, uint32_t n);
void sp_wr_str(struct sp_buf *b, const char *p, uint32_t n);

/* A string view into decoded input: not NUL-terminated, valid as long as the
 * input buffer it was decoded from. */
struct sp_str {
  const char *p;
  uint32_t len;
};

/* Make a view of a NUL-terminated C string (for building objects). */
struct sp_str sp_str_c(const char *s);
int sp_str_eq(struct sp_str a, struct sp_str b);
/* Byte-wise order used for canonical sorted lists: shorter prefix first. */
int sp_str_cmp(struct sp_str a, struct sp_str b);

/* Strict reader over [p, end). Each function consumes one item or returns a
 * negative SP_E_* code; on error the reader position is unspecified and the
 * caller must stop. Nothing here allocates. */
struct sp_rd {
  const uint8_t *p;
  const uint8_t *end;
};

static inline struct sp_rd sp_rd_init(const void *p, size_t n)
{
  struct sp_rd r = {(const uint8_t *)p, (const uint8_t *)p + n};
  return r;
}

/* Array header; *n checked against the bytes that remain (SP_E_TOOMANY). */
int sp_rd_array(struct sp_rd *r, uint32_t *n);
/* Array header with exactly n elements, else SP_E_COUNT. */
int sp_rd_array_exact(struct sp_rd *r, uint32_t n);
/* Array header with at most max elements (SP_E_TOOLONG); min 1 if nonempty. */
int sp_rd_array_max(struct sp_rd *r, uint32_t *n, uint32_t max, int nonempty);
int sp_rd_uint(struct sp_rd *r, uint64_t *v);
/* Unsigned integer in [0, max], else SP_E_RANGE. */
int sp_rd_uint_max(struct sp_rd *r, uint64_t *v, uint64_t max);
/* Unsigned 32-bit round or -1 (SP_ROUND_NONE). */
int sp_rd_round_opt(struct sp_rd *r, int64_t *v);
/* Byte string of any length up to max; *p points into the input. */
int sp_rd_bin(struct sp_rd *r, const uint8_t **p, uint32_t *n, uint32_t max);
/* Byte string of exactly n bytes, copied to out (SP_E_LENGTH otherwise). */
int sp_rd_binfix(struct sp_rd *r, uint8_t *out, uint32_t n);
/* Byte string of 0 or n bytes: *present says which; out filled if present. */
int sp_rd_binopt(struct sp_rd *r, uint8_t *out, uint32_t n, int *present);
/* Text: valid UTF-8, no control characters, at most max bytes. */
int sp_rd_str(struct sp_rd *r, struct sp_str *s, uint32_t max);
/* Identifier (fund id, category): 1..SP_MAX_ID of [a-z0-9._-], first
 * character a letter or digit. */
int sp_rd_ident(struct sp_rd *r, struct sp_str *s);
/* Skip one whole item; start and len receive its raw bytes. */
int sp_rd_raw(struct sp_rd *r, const uint8_t **start, size_t *len);
/* SP_OK if nothing remains, else SP_E_TRAILING. */
int sp_rd_done(const struct sp_rd *r);

/* The check that sits in front of every decoder: p[0..n) must be exactly one
 * canonical item (shortest encodings, allowed types only, no negative
 * integer but -1, valid UTF-8, counts and lengths within the input, depth
 * <= min(max_depth, SP_MAX_DEPTH), the outermost array being depth 1) and
 * nothing else. Iterative: hostile input cannot exhaust the stack. */
int sp_msgpack_check(const uint8_t *p, size_t n, int max_depth);

/* Validation helpers shared with the CLI and ledger. */
int sp_utf8_valid(const char *p, size_t n);    /* 1 if valid UTF-8 */
int sp_text_valid(const char *p, size_t n);    /* UTF-8 and no controls */
int sp_ident_valid(const char *p, size_t n);   /* identifier rule above */

#endif
