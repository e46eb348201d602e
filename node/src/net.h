/* The node's transport on libuv: TCP connections carrying the secure
 * channel of proto (sp/secure.h), framed messages in both directions, with
 * bounded queues.
 *
 * One struct sp_net per process: a listener plus outgoing connections that
 * it keeps open (reconnecting with exponential backoff). Every connection,
 * inbound or outbound, becomes a struct sp_peer once the handshake has
 * authenticated the other side; before that the application sees nothing.
 * All callbacks run on the loop thread. */
#ifndef SP_NODE_NET_H
#define SP_NODE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "sp/limits.h"

struct sp_net;
struct sp_peer;

struct sp_net_callbacks {
  void *ctx;
  /* The handshake authenticated the peer. Return 0 to keep the connection,
   * non-zero to refuse it (it is closed with "peer not allowed"). */
  int (*on_open)(void *ctx, struct sp_peer *p);
  /* One application message (the plaintext of one record: a canonical
   * message to pass to sp_msg_decode), valid during the call. */
  void (*on_message)(void *ctx, struct sp_peer *p, const uint8_t *msg, size_t n);
  /* The connection is gone (after on_open only); p is valid during the
   * call and freed after it. reason is for the log. */
  void (*on_close)(void *ctx, struct sp_peer *p, const char *reason);
};

struct sp_net_config {
  uv_loop_t *loop;
  const uint8_t *chain_id; /* SP_HASH_LEN */
  const uint8_t *pk;       /* our static key, SP_PK_LEN */
  const uint8_t *sk;       /* SP_SK_LEN; copied */
  uint32_t role;           /* enum sp_role we announce */
  const char *agent;       /* e.g. "stadjerd/0.1.0" */
  size_t max_msg;          /* largest message either way; 0 = SP_MAX_FRAME */
  /* Bytes waiting to be written to one peer; a send that would pass it
   * fails with SP_E_BUFFER (the caller decides: drop or close). */
  size_t max_out_queue;
  uint32_t handshake_timeout_ms; /* 0 = 5000 */
  struct sp_net_callbacks cb;
};

int sp_net_new(struct sp_net **out, const struct sp_net_config *cfg);

/* Listen on host:port (port 0 = any free port; *bound receives it). */
int sp_net_listen(struct sp_net *n, const char *host, int port, int *bound);

/* Keep a connection to host:port: connect now, and again after every close
 * or failure with exponential backoff (100 ms doubling to 2 s, with
 * jitter). expect_pk (optional) is the only key accepted on it. */
int sp_net_dial(struct sp_net *n, const char *host, int port, const uint8_t *expect_pk);

/* Close everything; done(arg) runs once every handle is closed. After this
 * no callback runs. */
void sp_net_close(struct sp_net *n, void (*done)(void *arg), void *arg);

/* Encrypt and queue one message. SP_E_BUFFER when the peer's queue would
 * pass max_out_queue, SP_E_STATE when the peer is closing. */
int sp_peer_send(struct sp_peer *p, const uint8_t *msg, size_t n);
/* Close with a reason for the log (on_close follows). */
void sp_peer_close(struct sp_peer *p, const char *reason);
/* Backpressure: stop (true) or resume (false) reading from this peer. */
void sp_peer_pause(struct sp_peer *p, bool paused);

const uint8_t *sp_peer_pk(const struct sp_peer *p);
uint32_t sp_peer_role(const struct sp_peer *p);
bool sp_peer_outbound(const struct sp_peer *p);
const char *sp_peer_addr(const struct sp_peer *p); /* "127.0.0.1:4242" */
size_t sp_peer_queued(const struct sp_peer *p);    /* bytes not yet written */
void *sp_peer_user(const struct sp_peer *p);
void sp_peer_set_user(struct sp_peer *p, void *user);

#endif
