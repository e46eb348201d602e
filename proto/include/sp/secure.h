/* Secure channel: the transport handshake and record layer of one
 * connection (docs/protocol.md section 9).
 *
 * Pure: no sockets, no clocks, no I/O. The caller moves bytes: it hands
 * every byte received on the connection to sp_secure_feed and sends every
 * byte the functions append to its output buffer, in order. What comes out
 * is the plaintext of authenticated, decrypted messages.
 *
 *   client (initiator)                              server (responder)
 *   sp_secure_start:  HELLO frame (clear)        ->
 *                                                <- HELLO frame (clear)
 *   on peer HELLO:    stream header frame        ->
 *                     AUTH record                ->
 *                                                <- stream header frame
 *                                                <- AUTH record
 *   on peer AUTH:     established; sp_secure_seal / application records
 *
 * Any negative return of sp_secure_feed is fatal for the connection: the
 * error is sticky (every later feed returns it, consuming nothing), the
 * session secrets are wiped, and the caller closes the connection without
 * sending anything more. Whether the authenticated peer key is welcome
 * (a genesis validator, a configured observer or wallet) is the caller's
 * decision, made with sp_secure_peer once sp_secure_established says so.
 *
 * sp_crypto_init must have succeeded before sp_secure_new. */
#ifndef SP_SECURE_H
#define SP_SECURE_H

#include <stddef.h>
#include <stdint.h>

#include "sp/codec.h"
#include "sp/limits.h"

/* Wire sizes of the handshake (docs/protocol.md 9.2-9.5). */
#define SP_SECURE_HELLO_LEN 72  /* encoded HELLO: the whole first frame payload */
#define SP_SECURE_HEADER_LEN 24 /* secretstream header: the second frame payload */
#define SP_SECURE_ABYTES 17     /* ciphertext overhead of one record */
#define SP_SECURE_ITEM_HEADER 4 /* length before each message inside a record */
/* A batch buffer that grew beyond this (a block went out) is freed after
 * its record is sealed. */
#define SP_SECURE_BATCH_KEEP (256u * 1024u)
#define SP_SECURE_AUTH_MAX 171  /* largest encoded AUTH (agent of SP_MAX_AGENT bytes) */
/* Bytes a feed may append to out during the handshake (header frame plus
 * AUTH record), and sp_secure_start's HELLO frame. */
#define SP_SECURE_HANDSHAKE_OUT                                                           \
  (2 * SP_FRAME_HEADER + SP_SECURE_HEADER_LEN + SP_SECURE_AUTH_MAX + SP_SECURE_ABYTES)
#define SP_SECURE_HELLO_OUT (SP_FRAME_HEADER + SP_SECURE_HELLO_LEN)

struct sp_secure_config {
  int initiator; /* 1: this side opened the connection (crypto_kx client) */
  const uint8_t *chain_id; /* SP_HASH_LEN bytes */
  const uint8_t *pk;       /* our static Ed25519 key, SP_PK_LEN bytes */
  const uint8_t *sk;       /* its secret key, SP_SK_LEN bytes (libsodium form,
                              ending in pk) */
  uint32_t role;           /* enum sp_role we announce */
  const char *agent;       /* NUL-terminated text, <= SP_MAX_AGENT bytes; NULL = "" */
  size_t max_msg;          /* largest application message in either direction,
                              1 ..= SP_MAX_FRAME; 0 means SP_MAX_FRAME */
  const uint8_t *expect_pk; /* NULL, or the only peer key accepted (SP_E_AUTH) */
  uint32_t expect_role;     /* 0, or the only peer role accepted (SP_E_AUTH) */
};

struct sp_secure; /* opaque */

/* Allocate an endpoint and its fresh ephemeral X25519 key pair. Everything
 * cfg points to is copied; the caller may wipe its sk right after. *out is
 * set only on success. SP_E_INVAL (bad config), SP_E_NOMEM, SP_E_CRYPTO. */
int sp_secure_new(const struct sp_secure_config *cfg, struct sp_secure **out);

/* Wipe all secrets and free. Accepts NULL. */
void sp_secure_free(struct sp_secure *s);

/* Append our HELLO frame to out. Call exactly once, before the first feed:
 * both sides send HELLO without waiting for the peer. SP_E_STATE when called
 * twice; the buffer's error (SP_E_BUFFER, SP_E_NOMEM) leaves s and out
 * unchanged, so it may be retried with room. */
int sp_secure_start(struct sp_secure *s, struct sp_buf *out);

/* Consume received bytes p[0..n), in any split, until one application
 * message is complete or the input runs out. Handshake frames are handled
 * internally; whatever they require us to send (stream header, AUTH) is
 * appended to out, which must accept SP_SECURE_HANDSHAKE_OUT more bytes;
 * send what is in out after every call that returned 0 or 1.
 *
 * *used receives the bytes consumed. Returns 1 with *msg, *msg_len set to
 * the plaintext of one application message (a view into s, valid until the
 * next feed or free; 1 ..= max_msg bytes, not yet decoded: pass it to
 * sp_msg_decode) - call again with the rest of the input; 0 when every byte
 * was consumed and more are needed; or a negative, sticky error:
 *   framing      SP_E_FRAME_EMPTY, SP_E_FRAME_TOO_BIG (a frame above the
 *                limit of the current step: HELLO 72, header 24, AUTH
 *                record 188, then max_msg + 21)
 *   HELLO        a decode error (SP_E_TYPE, SP_E_COUNT, ...), SP_E_STATE
 *                (another message type), SP_E_HANDSHAKE (other chain id,
 *                our own ephemeral key reflected, key exchange refused)
 *   header       SP_E_HANDSHAKE (shorter than 24 bytes)
 *   records      SP_E_DECRYPT (shorter than 18 bytes, forged, altered,
 *                replayed, reordered, or a tag other than MESSAGE)
 *   AUTH         a decode error, SP_E_STATE (first record is not AUTH),
 *                SP_E_AUTH (signature does not verify, or not the expected
 *                key or role)
 *   batch        SP_E_TRUNCATED (an item runs past the record's end),
 *                SP_E_FRAME_EMPTY / SP_E_FRAME_TOO_BIG (an item's length
 *                is 0 or above max_msg), SP_E_STATE (a HELLO or AUTH);
 *                the whole record is checked before its first message
 *                is handed out
 *   local        SP_E_BUFFER, SP_E_NOMEM (out or memory exhausted)
 * SP_E_STATE without consuming anything when sp_secure_start was not
 * called (not sticky). */
int sp_secure_feed(struct sp_secure *s, const uint8_t *p, size_t n, size_t *used,
                   struct sp_buf *out, const uint8_t **msg, size_t *msg_len);

/* 1 once the peer's AUTH verified (application messages may flow), else 0. */
int sp_secure_established(const struct sp_secure *s);

/* The sticky error of s, or 0. */
int sp_secure_error(const struct sp_secure *s);

/* The authenticated peer: its static key, role and agent (a NUL-terminated
 * view valid as long as s). role and agent may be NULL. SP_E_STATE until the
 * peer's AUTH verified; still answers after a later failure (for the log). */
int sp_secure_peer(const struct sp_secure *s, uint8_t pk[static SP_PK_LEN], uint32_t *role,
                   const char **agent);

/* Application records carry a batch: one or more messages, each behind
 * its 4-byte length (docs/protocol.md 9.4). Sealing a record has a fixed
 * cost of about a microsecond, more than encrypting a small message, so a
 * sender that has many messages queues them and seals them together.
 *
 * sp_secure_queue adds one application message m[0..n) (its canonical
 * encoding; not a HELLO or AUTH, SP_E_INVAL) to the batch. When it would
 * not fit in one record (at most one message of max_msg bytes), the batch
 * so far is sealed into out first. m is copied. SP_E_STATE before
 * established, the sticky error after a failure, SP_E_FRAME_EMPTY /
 * SP_E_FRAME_TOO_BIG for n outside 1 ..= max_msg, SP_E_NOMEM, or the
 * buffer's error when out has no room for the earlier batch: on any error
 * m is not queued, and the batch and out are unchanged. Both ends of a
 * link must have the same max_msg: batches are sized by the sender's. */
int sp_secure_queue(struct sp_secure *s, const uint8_t *m, size_t n, struct sp_buf *out);

/* Seal the queued batch, if any, as one record appended to out. When out
 * has no room, nothing is appended and the batch stays queued; after a
 * failure of the channel (the sticky error) the batch is gone with the
 * other secrets. */
int sp_secure_flush(struct sp_secure *s, struct sp_buf *out);

/* Bytes queued and not sealed yet (messages and their lengths). */
size_t sp_secure_queued(const struct sp_secure *s);

/* Seal what is queued, then m[0..n) alone in a record of its own, both
 * appended to out (errors as sp_secure_queue). m must not point into out.
 * On an error nothing of m is appended. */
int sp_secure_seal(struct sp_secure *s, const uint8_t *m, size_t n, struct sp_buf *out);

/* 1 while messages of the last record remain to be handed out: the next
 * sp_secure_feed returns one of them (consuming no input, so it may be
 * called with n = 0). A caller that stops feeding in the middle of a
 * record (backpressure) must come back for them. */
int sp_secure_has_message(const struct sp_secure *s);

#endif
