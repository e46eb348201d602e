/* Framing: 4-byte big-endian payload length, then the payload. A length of
 * zero or above the reader's maximum is a protocol error: the connection
 * must be closed, since the stream can no longer be trusted to be in sync. */
#ifndef SP_FRAME_H
#define SP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "sp/codec.h"

/* Append header + payload to out. SP_E_FRAME_TOO_BIG / SP_E_FRAME_EMPTY. */
int sp_frame_write(struct sp_buf *out, const void *payload, size_t n, size_t max);

/* Incremental reader: bytes may arrive in any split, one byte at a time or
 * many frames at once. Memory grows with the bytes actually received (never
 * to a size a hostile length field merely announces) and is bounded by max. */
struct sp_frame_reader {
  size_t max;
  uint8_t hdr[4];
  size_t hdr_have;
  size_t need; /* payload length of the current frame, 0 while in header */
  size_t have;
  uint8_t *buf;
  size_t cap;
  int err; /* sticky: after an error every feed returns it */
};

void sp_frame_reader_init(struct sp_frame_reader *fr, size_t max);
void sp_frame_reader_free(struct sp_frame_reader *fr); /* accepts NULL */

/* Consume bytes from p[0..n) until one frame is complete or input runs out.
 * *used receives the bytes consumed. Returns 1 with frame and len set to the
 * payload (valid until the next call), 0 when more bytes are needed, or a
 * negative SP_E_* code. Call again with the rest of the input after a 1. */
int sp_frame_reader_feed(struct sp_frame_reader *fr, const uint8_t *p, size_t n,
                         size_t *used, const uint8_t **frame, size_t *len);

#endif
