/* A node that the tests script: it completes the secure handshake as the
 * responder on an accepted socket, then hands each request to a callback,
 * which appends what to send (queued or sealed records) to an output
 * buffer. Blocking I/O; one connection. Used by test_client (the wallet's
 * client against strays and batches) and lying_node (the auditor against
 * a dishonest node). */
#ifndef SP_TEST_FAKE_NODE_H
#define SP_TEST_FAKE_NODE_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sp/proto.h"
#include "sp/secure.h"

static inline int fk_write_all(int fd, const uint8_t *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Answer request q on s: append records to out. Non-zero ends the
 * connection. */
typedef int (*fk_answer_fn)(void *ctx, const struct sp_msg *q, struct sp_secure *s,
                            struct sp_buf *out);

/* Serve fd until the peer closes, the channel fails, a callback says stop
 * or *stop is set (checked every second). why gets a reason for anything
 * but the peer closing (left empty then). Closes fd. */
static inline void fk_serve(int fd, const uint8_t chain_id[SP_HASH_LEN], const char *agent,
                            volatile sig_atomic_t *stop, fk_answer_fn answer, void *ctx,
                            char *why, size_t cap)
{
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN];
  crypto_sign_keypair(pk, sk);
  struct sp_secure_config cfg = {.initiator = 0, .chain_id = chain_id, .pk = pk, .sk = sk,
                                 .role = SP_ROLE_OBSERVER, .agent = agent};
  struct sp_secure *s = NULL;
  struct sp_buf out;
  sp_buf_init(&out, 4 * (size_t)SP_MAX_FRAME);
  why[0] = '\0';
  if (sp_secure_new(&cfg, &s) || sp_secure_start(s, &out) || fk_write_all(fd, out.data, out.len)) {
    snprintf(why, cap, "secure channel start");
    goto done;
  }
  static _Thread_local uint8_t in[1 << 16];
  while (stop == NULL || !*stop) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, 1000) <= 0)
      continue;
    ssize_t r = read(fd, in, sizeof(in));
    if (r <= 0)
      break; /* the peer closed */
    size_t off = 0;
    while (off < (size_t)r || sp_secure_has_message(s)) {
      size_t used = 0, len = 0;
      const uint8_t *msg = NULL;
      sp_buf_reset(&out);
      int rc = sp_secure_feed(s, in + off, (size_t)r - off, &used, &out, &msg, &len);
      off += used;
      if (rc < 0) {
        snprintf(why, cap, "secure channel: %s", sp_strerror(rc));
        goto done;
      }
      if (rc == 1) {
        struct sp_msg q;
        if (sp_msg_decode(msg, len, &q) != SP_OK) {
          snprintf(why, cap, "undecodable request");
          goto done;
        }
        int stop_now = answer(ctx, &q, s, &out);
        sp_msg_clear(&q);
        if (stop_now || sp_secure_flush(s, &out) != SP_OK) {
          snprintf(why, cap, "answering a request");
          goto done;
        }
      }
      if (out.len && fk_write_all(fd, out.data, out.len)) {
        snprintf(why, cap, "write");
        goto done;
      }
      if (rc == 0)
        break;
    }
  }
done:
  sp_secure_free(s);
  sp_buf_free(&out);
  close(fd);
}

#endif
