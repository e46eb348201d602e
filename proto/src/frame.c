#include "sp/frame.h"

#include <stdlib.h>
#include <string.h>

#include "sp/error.h"
#include "sp/limits.h"

int sp_frame_write(struct sp_buf *out, const void *payload, size_t n, size_t max)
{
  if (n == 0)
    return SP_E_FRAME_EMPTY;
  if (n > max || n > UINT32_MAX)
    return SP_E_FRAME_TOO_BIG;
  if (out->err)
    return out->err;
  uint8_t h[SP_FRAME_HEADER] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                                (uint8_t)n};
  size_t start = out->len;
  sp_buf_append(out, h, sizeof(h));
  sp_buf_append(out, payload, n);
  int rc = out->err;
  if (rc) {
    out->len = start;
    out->err = 0;
  }
  return rc;
}

void sp_frame_reader_init(struct sp_frame_reader *fr, size_t max)
{
  memset(fr, 0, sizeof(*fr));
  fr->max = max;
}

void sp_frame_reader_free(struct sp_frame_reader *fr)
{
  if (fr == NULL)
    return;
  free(fr->buf);
  size_t max = fr->max;
  sp_frame_reader_init(fr, max);
}

static int reserve(struct sp_frame_reader *fr, size_t want)
{
  if (want <= fr->cap)
    return SP_OK;
  size_t cap = fr->cap ? fr->cap : 4096;
  while (cap < want)
    cap *= 2;
  if (cap > fr->need)
    cap = fr->need;
  uint8_t *b = realloc(fr->buf, cap);
  if (b == NULL)
    return SP_E_NOMEM;
  fr->buf = b;
  fr->cap = cap;
  return SP_OK;
}

int sp_frame_reader_feed(struct sp_frame_reader *fr, const uint8_t *p, size_t n,
                         size_t *used, const uint8_t **frame, size_t *len)
{
  size_t off = 0;
  *used = 0;
  if (fr->err)
    return fr->err;

  if (fr->need == 0) {
    while (fr->hdr_have < SP_FRAME_HEADER && off < n)
      fr->hdr[fr->hdr_have++] = p[off++];
    *used = off;
    if (fr->hdr_have < SP_FRAME_HEADER)
      return 0;
    size_t l = (size_t)fr->hdr[0] << 24 | (size_t)fr->hdr[1] << 16 |
               (size_t)fr->hdr[2] << 8 | fr->hdr[3];
    if (l == 0)
      return fr->err = SP_E_FRAME_EMPTY;
    if (l > fr->max)
      return fr->err = SP_E_FRAME_TOO_BIG;
    fr->need = l;
    fr->have = 0;
  }

  size_t take = fr->need - fr->have;
  if (take > n - off)
    take = n - off;
  int rc = reserve(fr, fr->have + take);
  if (rc)
    return fr->err = rc;
  if (take)
    memcpy(fr->buf + fr->have, p + off, take);
  fr->have += take;
  off += take;
  *used = off;
  if (fr->have < fr->need)
    return 0;

  *frame = fr->buf;
  *len = fr->need;
  fr->need = 0;
  fr->hdr_have = 0;
  return 1;
}
