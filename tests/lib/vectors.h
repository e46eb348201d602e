/* Golden test vectors: reading and writing the .vec files of tests/vectors.
 *
 * Header-only (every function static inline) so each test program can use it
 * without an extra source file. The format is described in
 * tests/vectors/README.md:
 *
 *   # comment lines: the encoded values in human terms
 *   hex: <lowercase hex>     (several hex: lines are concatenated)
 *
 * Blank lines are ignored; any other line is an error. */
#ifndef SP_TEST_VECTORS_H
#define SP_TEST_VECTORS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes per hex: line when writing (two hex digits each). */
#define SP_VEC_HEX_PER_LINE 64

struct sp_vec {
  uint8_t *bytes;  /* the decoded hex: lines */
  size_t len;
  char *comments;  /* every '#' line, '\n'-terminated, in file order */
  size_t comments_len;
};

/* Directory of the vectors: $SP_VECTORS (ctest sets it), or NULL. */
static inline const char *sp_vec_dir(void)
{
  const char *d = getenv("SP_VECTORS");
  return d != NULL && d[0] != '\0' ? d : NULL;
}

/* snprintf into an error buffer; truncation of a long path is fine. */
static inline void sp_vec_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void sp_vec_err(char *err, size_t cap, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}

static inline void sp_vec_free(struct sp_vec *v)
{
  if (v == NULL)
    return;
  free(v->bytes);
  free(v->comments);
  memset(v, 0, sizeof(*v));
}

/* Lowercase hex of p[0..n) into out (room for 2n+1). */
static inline void sp_vec_hex(char *out, const uint8_t *p, size_t n)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

static inline int sp_vec_hexdigit(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1; /* uppercase is refused: the format is lowercase only */
}

/* Whole file into a NUL-terminated heap buffer; NULL on error. */
static inline char *sp_vec_slurp(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  while (buf != NULL) {
    if (len + 1 >= cap) {
      char *nb = realloc(buf, cap * 2);
      if (nb == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + len, 1, cap - 1 - len, f);
    len += got;
    if (got == 0)
      break;
  }
  int bad = ferror(f);
  fclose(f);
  if (buf == NULL || bad) {
    free(buf);
    return NULL;
  }
  buf[len] = '\0';
  *n = len;
  return buf;
}

static inline int sp_vec_append(char **dst, size_t *len, size_t *cap, const char *p,
                                size_t n)
{
  if (*len + n + 1 > *cap) {
    size_t c = *cap ? *cap : 256;
    while (c < *len + n + 1)
      c *= 2;
    char *nb = realloc(*dst, c);
    if (nb == NULL)
      return -1;
    *dst = nb;
    *cap = c;
  }
  memcpy(*dst + *len, p, n);
  *len += n;
  (*dst)[*len] = '\0';
  return 0;
}

/* Parse the text of a .vec file. 0 on success; -1 with a message in err. */
static inline int sp_vec_parse(const char *text, size_t n, struct sp_vec *v, char *err,
                               size_t errcap)
{
  size_t hcap = 0, ccap = 0, hlen = 0, line_no = 0;
  char *hex = NULL;
  memset(v, 0, sizeof(*v));
  const char *p = text, *end = text + n;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *le = eol ? eol : end;
    size_t ll = (size_t)(le - p);
    line_no++;
    if (ll > 0 && p[ll - 1] == '\r')
      ll--;
    if (ll == 0) {
      /* blank */
    } else if (p[0] == '#') {
      if (sp_vec_append(&v->comments, &v->comments_len, &ccap, p, ll) ||
          sp_vec_append(&v->comments, &v->comments_len, &ccap, "\n", 1))
        goto nomem;
    } else if (ll >= 4 && memcmp(p, "hex:", 4) == 0) {
      size_t i = 4;
      while (i < ll && p[i] == ' ')
        i++;
      for (; i < ll; i++) {
        if (sp_vec_hexdigit(p[i]) < 0) {
          sp_vec_err(err, errcap, "line %zu: '%c' is not a lowercase hex digit", line_no, p[i]);
          goto fail;
        }
      }
      size_t s = 4;
      while (s < ll && p[s] == ' ')
        s++;
      if (sp_vec_append(&hex, &hlen, &hcap, p + s, ll - s))
        goto nomem;
    } else {
      sp_vec_err(err, errcap, "line %zu: neither a '#' comment nor a 'hex:' line", line_no);
      goto fail;
    }
    p = eol ? eol + 1 : end;
  }
  if (hlen == 0) {
    sp_vec_err(err, errcap, "no hex: line");
    goto fail;
  }
  if (hlen % 2) {
    sp_vec_err(err, errcap, "odd number of hex digits (%zu)", hlen);
    goto fail;
  }
  v->len = hlen / 2;
  v->bytes = malloc(v->len);
  if (v->bytes == NULL)
    goto nomem;
  for (size_t i = 0; i < v->len; i++)
    v->bytes[i] = (uint8_t)(sp_vec_hexdigit(hex[2 * i]) << 4 | sp_vec_hexdigit(hex[2 * i + 1]));
  if (v->comments == NULL && sp_vec_append(&v->comments, &v->comments_len, &ccap, "", 0))
    goto nomem;
  free(hex);
  return 0;
nomem:
  sp_vec_err(err, errcap, "out of memory");
fail:
  free(hex);
  sp_vec_free(v);
  return -1;
}

/* Load dir/name. 0 on success; -1 with a message in err. */
static inline int sp_vec_load(const char *dir, const char *name, struct sp_vec *v, char *err,
                              size_t errcap)
{
  char path[4096];
  size_t n;
  memset(v, 0, sizeof(*v));
  if (dir == NULL) {
    sp_vec_err(err, errcap, "SP_VECTORS is not set: run through ctest, or set it to the "
                          "tests/vectors directory of the source tree");
    return -1;
  }
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  char *text = sp_vec_slurp(path, &n);
  if (text == NULL) {
    sp_vec_err(err, errcap, "cannot read %s", path);
    return -1;
  }
  char sub[200];
  int rc = sp_vec_parse(text, n, v, sub, sizeof(sub));
  if (rc)
    sp_vec_err(err, errcap, "%s: %s", path, sub);
  free(text);
  return rc;
}

/* Write dir/name: the comment block as given (each line starting with '#'),
 * then the bytes as hex: lines. 0 or -1. */
static inline int sp_vec_write(const char *dir, const char *name, const char *comments,
                               const uint8_t *p, size_t n)
{
  char path[4096];
  char line[2 * SP_VEC_HEX_PER_LINE + 1];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL)
    return -1;
  fputs(comments, f);
  for (size_t off = 0; off < n; off += SP_VEC_HEX_PER_LINE) {
    size_t k = n - off < SP_VEC_HEX_PER_LINE ? n - off : SP_VEC_HEX_PER_LINE;
    sp_vec_hex(line, p + off, k);
    fprintf(f, "hex: %s\n", line);
  }
  return fclose(f) == 0 ? 0 : -1;
}

#endif
