/* Unit tests of the node transport (node/src/net.c) over real sockets on
 * 127.0.0.1, ports chosen by the kernel, all in one libuv loop per test.
 *
 * struct node wraps one sp_net and records every callback it gets. struct
 * raw is a hand-driven TCP client in the same loop: it either sends fixed
 * bytes (garbage, a truncated HELLO, a replay) or runs an sp_secure endpoint
 * itself and records every byte it wrote, so a later raw client can replay
 * them. A watchdog timer fails any wait after DEADLINE_MS. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "net.h"
#include "sp/codec.h"
#include "sp/crypto.h"
#include "sp/error.h"
#include "sp/msg.h"
#include "sp/secure.h"

#define DEADLINE_MS 10000
#define REC_OVERHEAD (SP_FRAME_HEADER + SP_SECURE_ABYTES)

static const uint8_t CHAIN[SP_HASH_LEN] = {'n', 'e', 't', '-', 't', 'e', 's', 't', 1, 2, 3};
static const uint8_t OTHER_CHAIN[SP_HASH_LEN] = {'n', 'e', 't', '-', 't', 'e', 's', 't', 1, 2, 4};

/* ---------------------------------------------------------------- fixture */

struct fixture {
  uv_loop_t loop;
  uv_timer_t watchdog; /* ticks so UV_RUN_ONCE never blocks for long */
  uint64_t deadline;
  int timed_out;
};

static void on_watchdog(uv_timer_t *t)
{
  struct fixture *fx = t->data;
  if (uv_now(&fx->loop) >= fx->deadline)
    fx->timed_out = 1;
}

static void fx_init(struct fixture *fx)
{
  memset(fx, 0, sizeof(*fx));
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  uv_timer_init(&fx->loop, &fx->watchdog);
  fx->watchdog.data = fx;
  fx->deadline = uv_now(&fx->loop) + DEADLINE_MS;
  uv_timer_start(&fx->watchdog, on_watchdog, 10, 10);
}

/* Every handle of the test must be closed by now: uv_loop_close says so. */
static void fx_fini(struct fixture *fx)
{
  uv_close((uv_handle_t *)&fx->watchdog, NULL);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&fx->loop), 0);
}

#define WAIT_UNTIL(fx, cond)                                                              \
  do {                                                                                    \
    while (!(cond)) {                                                                     \
      if ((fx)->timed_out)                                                                \
        fail_msg("timed out waiting for %s", #cond);                                      \
      uv_run(&(fx)->loop, UV_RUN_ONCE);                                                   \
    }                                                                                     \
  } while (0)

static void run_for(struct fixture *fx, uint64_t ms)
{
  uv_update_time(&fx->loop);
  uint64_t end = uv_now(&fx->loop) + ms;
  while (uv_now(&fx->loop) < end) {
    if (fx->timed_out)
      fail_msg("timed out");
    uv_run(&fx->loop, UV_RUN_ONCE);
  }
}

static int group_setup(void **state)
{
  (void)state;
  sp_log_set_level(SP_LOG_WARN);
  return sp_crypto_init() == SP_OK ? 0 : -1;
}

/* ---------------------------------------------------------------- payloads */

/* An application payload that is never taken for a HELLO or AUTH (envelope
 * prefix [1, 13, ...]) and whose every byte depends on its sequence number,
 * so a receiver that regenerates it checks content and order at once. */
static uint8_t *payload(size_t n, uint32_t seq)
{
  uint8_t *p = malloc(n);
  assert_non_null(p);
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(i * 131u + (i >> 11) + seq * 7u);
  static const uint8_t prefix[] = {0x93, 0x01, 0x0d};
  memcpy(p, prefix, n < sizeof(prefix) ? n : sizeof(prefix));
  return p;
}

/* ------------------------------------------------------------------- nodes */

struct node {
  struct fixture *fx;
  struct sp_net *net;
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN];
  int refuse; /* on_open's answer */
  int opens, closes, dones;
  int net_closed;  /* sp_net_close was called: no callback may follow */
  int after_close; /* callbacks that came anyway */
  struct sp_peer *peer; /* the last opened peer, NULL once closed */
  uint8_t peer_pk[SP_PK_LEN];
  uint32_t peer_role;
  bool peer_outbound;
  char peer_addr[64];
  char reason[128];
  int send_in_close; /* sp_peer_send's answer inside on_close */
  size_t queued_at_close; /* sp_peer_queued inside on_close */
  size_t since_turn, most_per_turn; /* messages since the last check phase, and the most */
  uint32_t sent; /* sequence number of the next message we send */
  size_t msgs;   /* messages received */
  size_t bad;    /* of which not the expected bytes */
  size_t sizes[64];
  int pause_in_open;   /* pause the peer from inside on_open */
  size_t pause_at;     /* pause the peer when msgs reaches it */
  size_t close_net_at; /* sp_net_close from inside on_message */
};

static void on_done(void *arg)
{
  struct node *nd = arg;
  nd->dones++;
}

static int node_on_open(void *ctx, struct sp_peer *p)
{
  struct node *nd = ctx;
  if (nd->net_closed)
    nd->after_close++;
  nd->opens++;
  memcpy(nd->peer_pk, sp_peer_pk(p), SP_PK_LEN);
  nd->peer_role = sp_peer_role(p);
  nd->peer_outbound = sp_peer_outbound(p);
  snprintf(nd->peer_addr, sizeof(nd->peer_addr), "%s", sp_peer_addr(p));
  if (!nd->refuse) {
    nd->peer = p;
    sp_peer_set_user(p, nd);
  }
  if (nd->pause_in_open)
    sp_peer_pause(p, true);
  return nd->refuse;
}

static void node_on_message(void *ctx, struct sp_peer *p, const uint8_t *msg, size_t n)
{
  struct node *nd = ctx;
  if (++nd->since_turn > nd->most_per_turn)
    nd->most_per_turn = nd->since_turn;
  if (nd->net_closed)
    nd->after_close++;
  assert_ptr_equal(sp_peer_user(p), nd);
  uint8_t *want = payload(n, (uint32_t)nd->msgs);
  if (memcmp(msg, want, n) != 0)
    nd->bad++;
  free(want);
  if (nd->msgs < 64)
    nd->sizes[nd->msgs] = n;
  nd->msgs++;
  if (nd->pause_at && nd->msgs == nd->pause_at)
    sp_peer_pause(p, true);
  if (nd->close_net_at && nd->msgs == nd->close_net_at) {
    nd->net_closed = 1;
    sp_net_close(nd->net, on_done, nd);
  }
}

static void node_on_close(void *ctx, struct sp_peer *p, const char *reason)
{
  struct node *nd = ctx;
  if (nd->net_closed)
    nd->after_close++;
  nd->closes++;
  nd->queued_at_close = sp_peer_queued(p);
  snprintf(nd->reason, sizeof(nd->reason), "%s", reason);
  static const uint8_t m[] = {0x93, 0x01, 0x0d, 0x00};
  nd->send_in_close = sp_peer_send(p, m, sizeof(m));
  if (nd->peer == p)
    nd->peer = NULL;
}

struct node_opts {
  uint8_t seed;
  uint32_t role;
  const uint8_t *chain;
  size_t max_out_queue;
  uint32_t handshake_timeout_ms;
};

static void node_init(struct node *nd, struct fixture *fx, struct node_opts o)
{
  memset(nd, 0, sizeof(*nd));
  nd->fx = fx;
  uint8_t seed[32];
  memset(seed, o.seed, sizeof(seed));
  assert_int_equal(sp_keypair_from_seed(nd->pk, nd->sk, seed), SP_OK);
  struct sp_net_config cfg = {
      .loop = &fx->loop,
      .chain_id = o.chain ? o.chain : CHAIN,
      .pk = nd->pk,
      .sk = nd->sk,
      .role = o.role ? o.role : SP_ROLE_VALIDATOR,
      .agent = "test_net/1",
      .max_out_queue = o.max_out_queue,
      .handshake_timeout_ms = o.handshake_timeout_ms,
      .cb = {.ctx = nd,
             .on_open = node_on_open,
             .on_message = node_on_message,
             .on_close = node_on_close},
  };
  assert_int_equal(sp_net_new(&nd->net, &cfg), SP_OK);
}

static int node_listen(struct node *nd)
{
  int port = 0;
  assert_int_equal(sp_net_listen(nd->net, "127.0.0.1", 0, &port), SP_OK);
  assert_true(port > 0);
  return port;
}

static void node_close(struct node *nd)
{
  nd->net_closed = 1;
  sp_net_close(nd->net, on_done, nd);
}

/* Close, wait for done, and check that nothing came after. */
static void node_close_wait(struct node *nd)
{
  node_close(nd);
  WAIT_UNTIL(nd->fx, nd->dones == 1);
  assert_int_equal(nd->after_close, 0);
}

static void node_send(struct node *nd, size_t n)
{
  assert_non_null(nd->peer);
  uint8_t *m = payload(n, nd->sent);
  int rc = sp_peer_send(nd->peer, m, n);
  free(m);
  if (rc != SP_OK)
    fail_msg("send of %zu bytes: %s", n, sp_strerror(rc));
  nd->sent++;
}

/* -------------------------------------------------------------- raw client */

struct raw {
  struct fixture *fx;
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_shutdown_t sreq;
  uint8_t *bytes; /* sent on connect (owned) */
  size_t len;
  int half_close; /* shut our side down after sending */
  int hold;       /* secure mode: keep handshake output back until raw_flush */
  int eof, closed;
  uint64_t started, eof_at;
  size_t received;
  /* secure mode: an honest client run by hand */
  struct sp_secure *sec;
  struct sp_buf out;
  struct sp_buf sent; /* every byte we wrote */
  int established, sec_err;
  uint8_t rbuf[65536];
};

struct raw_write {
  uv_write_t req;
  uint8_t data[];
};

static void on_raw_written(uv_write_t *req, int status)
{
  (void)status;
  free(req->data);
}

static void raw_write(struct raw *r, const uint8_t *p, size_t n)
{
  struct raw_write *w = malloc(sizeof(*w) + n);
  assert_non_null(w);
  memcpy(w->data, p, n);
  w->req.data = w;
  sp_buf_append(&r->sent, p, n);
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
  assert_int_equal(uv_write(&w->req, (uv_stream_t *)&r->tcp, &b, 1, on_raw_written), 0);
}

static void raw_flush(struct raw *r)
{
  if (r->out.len)
    raw_write(r, r->out.data, r->out.len);
  sp_buf_reset(&r->out);
}

static void on_raw_closed(uv_handle_t *h)
{
  struct raw *r = h->data;
  r->closed = 1;
}

static void raw_close(struct raw *r)
{
  if (!uv_is_closing((uv_handle_t *)&r->tcp))
    uv_close((uv_handle_t *)&r->tcp, on_raw_closed);
}

static void on_raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  (void)suggested;
  struct raw *r = h->data;
  *buf = uv_buf_init((char *)r->rbuf, sizeof(r->rbuf));
}

static void on_raw_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
  (void)buf;
  struct raw *r = s->data;
  if (nread < 0) {
    r->eof = 1;
    r->eof_at = uv_now(&r->fx->loop);
    raw_close(r);
    return;
  }
  r->received += (size_t)nread;
  if (r->sec == NULL || r->sec_err)
    return;
  size_t off = 0;
  while (off < (size_t)nread) {
    size_t used = 0, mlen = 0;
    const uint8_t *msg = NULL;
    int rc = sp_secure_feed(r->sec, r->rbuf + off, (size_t)nread - off, &used, &r->out, &msg,
                            &mlen);
    off += used;
    if (!r->hold)
      raw_flush(r);
    if (rc < 0) {
      r->sec_err = rc; /* keep reading: the server must close */
      return;
    }
    if (sp_secure_established(r->sec))
      r->established = 1;
  }
}

static void on_raw_connect(uv_connect_t *req, int status)
{
  struct raw *r = req->data;
  assert_int_equal(status, 0);
  if (r->sec) {
    assert_int_equal(sp_secure_start(r->sec, &r->out), SP_OK);
    raw_flush(r);
  } else if (r->len) {
    raw_write(r, r->bytes, r->len);
  }
  if (r->half_close)
    assert_int_equal(uv_shutdown(&r->sreq, (uv_stream_t *)&r->tcp, NULL), 0);
  assert_int_equal(uv_read_start((uv_stream_t *)&r->tcp, on_raw_alloc, on_raw_read), 0);
}

static void raw_init(struct raw *r, struct fixture *fx)
{
  memset(r, 0, sizeof(*r));
  r->fx = fx;
  sp_buf_init(&r->out, SP_SECURE_HANDSHAKE_OUT + SP_MAX_FRAME);
  sp_buf_init(&r->sent, SIZE_MAX);
}

static void raw_bytes(struct raw *r, const uint8_t *p, size_t n)
{
  r->bytes = malloc(n ? n : 1);
  assert_non_null(r->bytes);
  memcpy(r->bytes, p, n);
  r->len = n;
}

/* Make r an honest secure client with key seed and chain. */
static void raw_secure(struct raw *r, uint8_t seed_byte, const uint8_t *chain)
{
  uint8_t seed[32], pk[SP_PK_LEN], sk[SP_SK_LEN];
  memset(seed, seed_byte, sizeof(seed));
  assert_int_equal(sp_keypair_from_seed(pk, sk, seed), SP_OK);
  struct sp_secure_config sc = {
      .initiator = 1, .chain_id = chain, .pk = pk, .sk = sk, .role = SP_ROLE_WALLET};
  assert_int_equal(sp_secure_new(&sc, &r->sec), SP_OK);
}

static void raw_connect(struct raw *r, int port)
{
  struct sockaddr_in a;
  assert_int_equal(uv_ip4_addr("127.0.0.1", port, &a), 0);
  assert_int_equal(uv_tcp_init(&r->fx->loop, &r->tcp), 0);
  r->tcp.data = r;
  r->creq.data = r;
  r->started = uv_now(&r->fx->loop);
  assert_int_equal(uv_tcp_connect(&r->creq, &r->tcp, (struct sockaddr *)&a, on_raw_connect), 0);
}

/* Close if still open, wait for it, free. */
static void raw_fini(struct raw *r)
{
  raw_close(r);
  WAIT_UNTIL(r->fx, r->closed);
  sp_secure_free(r->sec);
  sp_buf_free(&r->out);
  sp_buf_free(&r->sent);
  free(r->bytes);
}

/* A genuine HELLO frame (from a throwaway endpoint). */
static void hello_frame(uint8_t out[SP_SECURE_HELLO_OUT])
{
  struct raw tmp;
  memset(&tmp, 0, sizeof(tmp));
  raw_secure(&tmp, 0x77, CHAIN);
  struct sp_buf b;
  sp_buf_init(&b, SP_SECURE_HELLO_OUT);
  assert_int_equal(sp_secure_start(tmp.sec, &b), SP_OK);
  assert_int_equal(b.len, SP_SECURE_HELLO_OUT);
  memcpy(out, b.data, b.len);
  sp_buf_free(&b);
  sp_secure_free(tmp.sec);
}

/* -------------------------------------------------------------------- tests */

#define OPTS(...) ((struct node_opts){__VA_ARGS__})

/* (1) A listens, B dials with A's key: both authenticate the other, and
 * messages from 1 byte to 1 MB cross both ways intact and in order. */
static void test_exchange(void **state)
{
  (void)state;
  struct fixture fx;
  fx_init(&fx);
  struct node a, b;
  node_init(&a, &fx, OPTS(.seed = 'A', .role = SP_ROLE_VALIDATOR));
  node_init(&b, &fx, OPTS(.seed = 'B', .role = SP_ROLE_OBSERVER));
  int port = node_listen(&a);
  assert_int_equal(sp_net_listen(a.net, "127.0.0.1", 0, NULL), SP_E_STATE);
  assert_int_equal(sp_net_dial(b.net, "127.0.0.1", port, a.pk), SP_OK);
  WAIT_UNTIL(&fx, a.opens == 1 && b.opens == 1);

  assert_memory_equal(a.peer_pk, b.pk, SP_PK_LEN);
  assert_memory_equal(b.peer_pk, a.pk, SP_PK_LEN);
  assert_int_equal(a.peer_role, SP_ROLE_OBSERVER);
  assert_int_equal(b.peer_role, SP_ROLE_VALIDATOR);
  assert_false(a.peer_outbound);
  assert_true(b.peer_outbound);
  char want[64];
  snprintf(want, sizeof(want), "127.0.0.1:%d", port);
  assert_string_equal(b.peer_addr, want);
  assert_int_equal(strncmp(a.peer_addr, "127.0.0.1:", 10), 0);

  static const size_t sizes[] = {1, 100 * 1024, 1024 * 1024, 2, 3, 7, 65536 + 3, 16384};
  const size_t ns = sizeof(sizes) / sizeof(sizes[0]);
  for (int round = 0; round < 2; round++)
    for (size_t i = 0; i < ns; i++) {
      node_send(&a, sizes[i]);
      node_send(&b, sizes[i]);
    }
  WAIT_UNTIL(&fx, a.msgs == 2 * ns && b.msgs == 2 * ns);
  assert_int_equal(a.bad, 0);
  assert_int_equal(b.bad, 0);
  for (size_t i = 0; i < 2 * ns; i++) {
    assert_int_equal(a.sizes[i], sizes[i % ns]);
    assert_int_equal(b.sizes[i], sizes[i % ns]);
  }
  WAIT_UNTIL(&fx, sp_peer_queued(a.peer) == 0 && sp_peer_queued(b.peer) == 0);

  /* Local refusals that do not touch the stream. */
  static const uint8_t hello_like[] = {0x93, 0x01, 0x01, 0x00}; /* [1, HELLO, 0] */
  assert_int_equal(sp_peer_send(a.peer, hello_like, 0), SP_E_FRAME_EMPTY);
  assert_int_equal(sp_peer_send(a.peer, hello_like, sizeof(hello_like)), SP_E_INVAL);
  node_send(&a, 10);
  WAIT_UNTIL(&fx, b.msgs == 2 * ns + 1);
  assert_int_equal(b.bad, 0);

  /* The application closes: on_close on both sides, never from inside
   * sp_peer_close, and with the reason given. */
  sp_peer_close(a.peer, "test over");
  sp_peer_close(a.peer, "twice");
  assert_int_equal(a.closes, 0);
  WAIT_UNTIL(&fx, a.closes == 1 && b.closes == 1);
  assert_string_equal(a.reason, "test over");
  assert_int_equal(a.send_in_close, SP_E_STATE);

  node_close(&a);
  node_close(&b);
  WAIT_UNTIL(&fx, a.dones == 1 && b.dones == 1);
  assert_int_equal(a.after_close + b.after_close, 0);
  assert_int_equal(a.closes + b.closes, 2); /* only those of sp_peer_close */
  fx_fini(&fx);
}

/* (2) on_open returning non-zero closes the connection; the other side,
 * which accepted, gets on_close. Either end may be the refusing one. */
static void test_refuse(void **state)
{
  (void)state;
  for (int server_refuses = 1; server_refuses >= 0; server_refuses--) {
    struct fixture fx;
    fx_init(&fx);
    struct node a, b;
    node_init(&a, &fx, OPTS(.seed = 'A'));
    node_init(&b, &fx, OPTS(.seed = 'B'));
    struct node *refuser = server_refuses ? &a : &b, *other = server_refuses ? &b : &a;
    refuser->refuse = 1;
    int port = node_listen(&a);
    assert_int_equal(sp_net_dial(b.net, "127.0.0.1", port, a.pk), SP_OK);
    WAIT_UNTIL(&fx, refuser->opens >= 1 && other->closes >= 1);
    assert_true(other->opens >= other->closes);
    assert_int_equal(refuser->closes, 0); /* refused: never on_close */
    assert_null(other->peer);
    assert_int_equal(other->send_in_close, SP_E_STATE); /* closing peers send nothing */
    node_close(&a);
    node_close(&b);
    WAIT_UNTIL(&fx, a.dones == 1 && b.dones == 1);
    assert_int_equal(a.after_close + b.after_close, 0);
    fx_fini(&fx);
  }
}

/* (3) Another chain id: the handshake fails on both ends, nobody gets
 * on_open, the server closes, and keeps serving the right chain. */
static void test_wrong_chain(void **state)
{
  (void)state;
  struct fixture fx;
  fx_init(&fx);
  struct node a, b, c;
  node_init(&a, &fx, OPTS(.seed = 'A'));
  node_init(&b, &fx, OPTS(.seed = 'B'));
  node_init(&c, &fx, OPTS(.seed = 'C', .chain = OTHER_CHAIN));
  int port = node_listen(&a);

  struct raw r;
  raw_init(&r, &fx);
  raw_secure(&r, 'R', OTHER_CHAIN);
  raw_connect(&r, port);
  WAIT_UNTIL(&fx, r.eof);
  assert_int_equal(r.sec_err, SP_E_HANDSHAKE); /* it saw the server's HELLO */
  assert_false(r.established);
  raw_fini(&r);

  assert_int_equal(sp_net_dial(c.net, "127.0.0.1", port, NULL), SP_OK);
  run_for(&fx, 300);
  assert_int_equal(a.opens, 0);
  assert_int_equal(c.opens, 0);
  node_close(&c);

  assert_int_equal(sp_net_dial(b.net, "127.0.0.1", port, a.pk), SP_OK);
  WAIT_UNTIL(&fx, a.opens == 1 && b.opens == 1 && c.dones == 1);
  assert_memory_equal(a.peer_pk, b.pk, SP_PK_LEN);
  node_close(&a);
  node_close(&b);
  WAIT_UNTIL(&fx, a.dones == 1 && b.dones == 1);
  assert_int_equal(a.after_close + b.after_close + c.after_close, 0);
  fx_fini(&fx);
}

/* (4) The dialled key is not the one expected: the dialler closes without
 * on_open. The server, which did authenticate the dialler, sees the close. */
static void test_expect_pk(void **state)
{
  (void)state;
  struct fixture fx;
  fx_init(&fx);
  struct node a, b, c;
  node_init(&a, &fx, OPTS(.seed = 'A'));
  node_init(&b, &fx, OPTS(.seed = 'B'));
  node_init(&c, &fx, OPTS(.seed = 'C')); /* only for its key */
  int port = node_listen(&a);
  assert_int_equal(sp_net_dial(b.net, "127.0.0.1", port, c.pk), SP_OK);
  WAIT_UNTIL(&fx, a.closes >= 1);
  assert_int_equal(b.opens, 0);
  node_close(&a);
  node_close(&b);
  node_close(&c);
  WAIT_UNTIL(&fx, a.dones == 1 && b.dones == 1 && c.dones == 1);
  assert_int_equal(b.opens, 0);
  assert_int_equal(a.after_close + b.after_close + c.after_close, 0);
  fx_fini(&fx);
}

/* (5) Raw clients that do not speak the protocol are closed by the server
 * (which never calls on_open for them), and it still serves a good client. */
static void test_raw_garbage(void **state)
{
  (void)state;
  struct fixture fx;
  fx_init(&fx);
  struct node a, b;
  node_init(&a, &fx, OPTS(.seed = 'A', .handshake_timeout_ms = 500));
  node_init(&b, &fx, OPTS(.seed = 'B'));
  int port = node_listen(&a);

  uint8_t hello[SP_SECURE_HELLO_OUT];
  hello_frame(hello);
  static const uint8_t http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  uint8_t junk[4 + 72];
  memset(junk, 0xff, sizeof(junk));
  memcpy(junk, "\x00\x00\x00\x48", 4); /* a HELLO-sized frame that is no HELLO */
  static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4};
  static const uint8_t empty[] = {0, 0, 0, 0};

  enum { HTTP, JUNK, TRUNC_EOF, HUGE, EMPTY, TRUNC_SILENT, NRAW };
  struct raw r[NRAW];
  for (int i = 0; i < NRAW; i++)
    raw_init(&r[i], &fx);
  raw_bytes(&r[HTTP], http, sizeof(http) - 1);
  raw_bytes(&r[JUNK], junk, sizeof(junk));
  raw_bytes(&r[TRUNC_EOF], hello, 40);
  r[TRUNC_EOF].half_close = 1; /* our side closes; the server must close too */
  raw_bytes(&r[HUGE], huge, sizeof(huge));
  raw_bytes(&r[EMPTY], empty, sizeof(empty));
  raw_bytes(&r[TRUNC_SILENT], hello, 40); /* then silence: the deadline closes it */
  for (int i = 0; i < NRAW; i++)
    raw_connect(&r[i], port);
  for (int i = 0; i < NRAW; i++)
    WAIT_UNTIL(&fx, r[i].eof);
  assert_true(r[TRUNC_SILENT].eof_at - r[TRUNC_SILENT].started >= 450);
  for (int i = 0; i < NRAW; i++) {
    if (i != TRUNC_SILENT)
      assert_true(r[i].eof_at - r[i].started < 450); /* closed at once, not by the deadline */
    assert_int_equal(r[i].received, SP_SECURE_HELLO_OUT); /* the server's HELLO only */
    raw_fini(&r[i]);
  }
  assert_int_equal(a.opens, 0);

  assert_int_equal(sp_net_dial(b.net, "127.0.0.1", port, a.pk), SP_OK);
  WAIT_UNTIL(&fx, a.opens == 1 && b.opens == 1);
  node_send(&b, 1000);
  WAIT_UNTIL(&fx, a.msgs == 1);
  assert_int_equal(a.bad, 0);
  node_close(&a);
  node_close(&b);
  WAIT_UNTIL(&fx, a.dones == 1 && b.dones == 1);
  assert_int_equal(a.after_close + b.after_close, 0);
  fx_fini(&fx);
}

/* (6) The bytes an honest client sent in one session, replayed verbatim on a
 * new connection: the server's fresh ephemeral key makes the old AUTH
 * undecryptable, so no on_open, and the connection is closed. */
static void test_replay(void **state)
{
  (void)state;
  struct fixture fx;
  fx_init(&fx);
  struct node a;
  node_init(&a, &fx, OPTS(.seed = 'A'));
  int port = node_listen(&a);

  struct raw r1;
  raw_init(&r1, &fx);
  raw_secure(&r1, 'W', CHAIN);
  raw_connect(&r1, port);
  WAIT_UNTIL(&fx, a.opens == 1 && r1.established);
  uint8_t *m = payload(500, 0);
  assert_int_equal(sp_secure_seal(r1.sec, m, 500, &r1.out), SP_OK);
  free(m);
  raw_flush(&r1);
  WAIT_UNTIL(&fx, a.msgs == 1);
  assert_int_equal(a.bad, 0);
  assert_int_equal(a.peer_role, SP_ROLE_WALLET);
  raw_close(&r1);
  WAIT_UNTIL(&fx, a.closes == 1 && r1.closed);

  struct raw r2;
  raw_init(&r2, &fx);
  raw_bytes(&r2, r1.sent.data, r1.sent.len);
  raw_connect(&r2, port);
  WAIT_UNTIL(&fx, r2.eof);
  assert_int_equal(a.opens, 1);
  assert_int_equal(a.msgs, 1);
  raw_fini(&r1);
  raw_fini(&r2);
  node_close_wait(&a);
  fx_fini(&fx);
}

/* A message that arrives in the same read as the AUTH, for a peer paused in
 * on_open, waits for the resume like the rest. The client holds its header
 * and AUTH back until it has the server's AUTH, then sends them with two
 * records in one write. */
static void test_pause_in_open(void **state)
{
  (void)state;
  struct fixture fx;
  fx_init(&fx);
  struct node a;
  node_init(&a, &fx, OPTS(.seed = 'A'));
  a.pause_in_open = 1;
  int port = node_listen(&a);
  struct raw r;
  raw_init(&r, &fx);
  raw_secure(&r, 'W', CHAIN);
  r.hold = 1;
  raw_connect(&r, port);
  WAIT_UNTIL(&fx, r.established);
  for (uint32_t seq = 0; seq < 2; seq++) {
    uint8_t *m = payload(300, seq);
    assert_int_equal(sp_secure_seal(r.sec, m, 300, &r.out), SP_OK);
    free(m);
  }
  raw_flush(&r);
  WAIT_UNTIL(&fx, a.opens == 1);
  run_for(&fx, 200);
  assert_int_equal(a.msgs, 0);
  sp_peer_pause(a.peer, false);
  WAIT_UNTIL(&fx, a.msgs == 2);
  assert_int_equal(a.bad, 0);
  raw_fini(&r);
  node_close_wait(&a);
  fx_fini(&fx);
}

/* (7) The listener goes away and comes back on the same port: the dialler
 * reconnects on its own. Also dials by name (through getaddrinfo). */
static void test_reconnect(void **state)
{
  (void)state;
  struct fixture fx;
  fx_init(&fx);
  struct node a, a2, b;
  node_init(&a, &fx, OPTS(.seed = 'A'));
  node_init(&b, &fx, OPTS(.seed = 'B'));
  int port = node_listen(&a);
  assert_int_equal(sp_net_dial(b.net, "localhost", port, a.pk), SP_OK);
  WAIT_UNTIL(&fx, a.opens == 1 && b.opens == 1);
  run_for(&fx, 1100); /* long enough to count as stable: the backoff restarts */
  node_close(&a);
  WAIT_UNTIL(&fx, a.dones == 1 && b.closes == 1);
  assert_int_equal(a.after_close, 0);

  run_for(&fx, 300);
  node_init(&a2, &fx, OPTS(.seed = 'A'));
  int port2 = 0;
  assert_int_equal(sp_net_listen(a2.net, "127.0.0.1", port, &port2), SP_OK);
  assert_int_equal(port2, port);
  WAIT_UNTIL(&fx, a2.opens == 1 && b.opens == 2);
  node_send(&b, 123);
  WAIT_UNTIL(&fx, a2.msgs == 1);
  assert_int_equal(a2.bad, 0);
  node_close(&a2);
  node_close(&b);
  WAIT_UNTIL(&fx, a2.dones == 1 && b.dones == 1);
  assert_int_equal(a2.after_close + b.after_close, 0);
  fx_fini(&fx);
}

/* (8) Backpressure: the out queue bound refuses sends until the loop has
 * drained it; a paused receiver gets nothing until it resumes, whether it
 * paused between reads or from inside on_message. */
static void test_backpressure(void **state)
{
  (void)state;
  struct fixture fx;
  fx_init(&fx);
  struct node a, b;
  const size_t qmax = 64 * 1024, msz = 16 * 1024;
  node_init(&a, &fx, OPTS(.seed = 'A', .max_out_queue = qmax));
  node_init(&b, &fx, OPTS(.seed = 'B', .max_out_queue = qmax));
  int port = node_listen(&a);
  assert_int_equal(sp_net_dial(b.net, "127.0.0.1", port, a.pk), SP_OK);
  WAIT_UNTIL(&fx, a.opens == 1 && b.opens == 1);

  uint8_t *m = NULL;
  int rc = SP_OK;
  size_t ok = 0;
  for (int i = 0; i < 100 && rc == SP_OK; i++) {
    m = payload(msz, b.sent);
    rc = sp_peer_send(b.peer, m, msz);
    free(m);
    if (rc == SP_OK) {
      b.sent++;
      ok++;
    }
  }
  assert_int_equal(rc, SP_E_BUFFER);
  /* each send needs room for a record of its own and for sealing the
   * batch before it, and takes its length and bytes in the batch the loop
   * seals (one record for all of them) */
  size_t rec = 2 * (SP_FRAME_HEADER + SP_SECURE_ITEM_HEADER + SP_SECURE_ABYTES) + msz;
  size_t want = 0;
  while (want * (SP_SECURE_ITEM_HEADER + msz) + rec <= qmax)
    want++;
  assert_int_equal(ok, want);
  assert_int_equal(sp_peer_queued(b.peer), ok * (SP_SECURE_ITEM_HEADER + msz));
  WAIT_UNTIL(&fx, sp_peer_queued(b.peer) == 0 && a.msgs == ok);
  node_send(&b, msz);
  WAIT_UNTIL(&fx, a.msgs == ok + 1);

  /* Paused between reads. */
  sp_peer_pause(a.peer, true);
  for (int i = 0; i < 3; i++)
    node_send(&b, msz);
  run_for(&fx, 200);
  assert_int_equal(a.msgs, ok + 1);
  sp_peer_pause(a.peer, false);
  WAIT_UNTIL(&fx, a.msgs == ok + 4);

  /* Paused from inside on_message, with more input already read. */
  size_t base = a.msgs;
  a.pause_at = base + 1;
  for (int i = 0; i < 10; i++)
    node_send(&b, 100);
  WAIT_UNTIL(&fx, a.msgs == base + 1);
  run_for(&fx, 200);
  assert_int_equal(a.msgs, base + 1);
  a.pause_at = 0;
  sp_peer_pause(a.peer, false);
  WAIT_UNTIL(&fx, a.msgs == base + 10);
  assert_int_equal(a.bad, 0);

  node_close(&a);
  node_close(&b);
  WAIT_UNTIL(&fx, a.dones == 1 && b.dones == 1);
  assert_int_equal(a.after_close + b.after_close, 0);
  fx_fini(&fx);
}

/* (9) sp_net_close with live connections and data in flight: done runs
 * once, later, and no callback follows; also from inside on_message, and
 * on a net that never had a handle. */
static void test_close_live(void **state)
{
  (void)state;
  struct fixture fx;
  fx_init(&fx);
  struct node a, b, c;
  node_init(&a, &fx, OPTS(.seed = 'A'));
  node_init(&b, &fx, OPTS(.seed = 'B'));
  node_init(&c, &fx, OPTS(.seed = 'C'));
  int port = node_listen(&a);
  assert_int_equal(sp_net_dial(b.net, "127.0.0.1", port, a.pk), SP_OK);
  assert_int_equal(sp_net_dial(c.net, "127.0.0.1", port, a.pk), SP_OK);
  WAIT_UNTIL(&fx, a.opens == 2 && b.opens == 1 && c.opens == 1);
  for (int i = 0; i < 5; i++) {
    node_send(&b, 100 * 1024);
    node_send(&a, 100 * 1024); /* to whichever opened last */
  }
  node_close(&a);
  node_close(&b);
  assert_int_equal(a.dones + b.dones, 0); /* never from inside sp_net_close */
  WAIT_UNTIL(&fx, a.dones == 1 && b.dones == 1 && c.closes == 1);
  run_for(&fx, 100);
  assert_int_equal(a.dones, 1);
  assert_int_equal(b.dones, 1);
  assert_int_equal(a.after_close + b.after_close, 0);
  assert_int_equal(a.closes + b.closes, 0);
  node_close_wait(&c);

  /* From inside on_message: no message after the one that closed. */
  struct node d, e;
  node_init(&d, &fx, OPTS(.seed = 'D'));
  node_init(&e, &fx, OPTS(.seed = 'E'));
  port = node_listen(&d);
  assert_int_equal(sp_net_dial(e.net, "127.0.0.1", port, d.pk), SP_OK);
  WAIT_UNTIL(&fx, d.opens == 1 && e.opens == 1);
  d.close_net_at = 1;
  for (int i = 0; i < 5; i++)
    node_send(&e, 10);
  WAIT_UNTIL(&fx, d.dones == 1 && e.closes == 1);
  assert_int_equal(d.msgs, 1);
  assert_int_equal(d.after_close, 0);
  node_close_wait(&e);

  /* Closed while a dial is still resolving its name. */
  struct node g;
  node_init(&g, &fx, OPTS(.seed = 'G'));
  assert_int_equal(sp_net_dial(g.net, "localhost", 1, NULL), SP_OK);
  node_close_wait(&g);

  /* Nothing to close: done still comes from the loop, once. */
  struct node f;
  node_init(&f, &fx, OPTS(.seed = 'F'));
  node_close(&f);
  node_close(&f); /* a second close is ignored */
  assert_int_equal(f.dones, 0);
  WAIT_UNTIL(&fx, f.dones == 1);
  run_for(&fx, 20);
  assert_int_equal(f.dones, 1);
  fx_fini(&fx);
}

/* Configuration and arguments the net refuses up front. */
static void test_config(void **state)
{
  (void)state;
  struct fixture fx;
  fx_init(&fx);
  uint8_t seed[32], pk[SP_PK_LEN], sk[SP_SK_LEN];
  memset(seed, 'A', sizeof(seed));
  assert_int_equal(sp_keypair_from_seed(pk, sk, seed), SP_OK);
  struct sp_net_config cfg = {
      .loop = &fx.loop, .chain_id = CHAIN, .pk = pk, .sk = sk, .role = SP_ROLE_VALIDATOR};
  struct sp_net *n = NULL;
  struct sp_net_config bad = cfg;
  bad.role = 9;
  assert_int_equal(sp_net_new(&n, &bad), SP_E_INVAL);
  bad = cfg;
  uint8_t wrong_sk[SP_SK_LEN] = {0}; /* not the secret key of pk */
  bad.sk = wrong_sk;
  assert_int_equal(sp_net_new(&n, &bad), SP_E_INVAL);
  bad = cfg;
  bad.max_msg = SP_MAX_FRAME + 1;
  assert_int_equal(sp_net_new(&n, &bad), SP_E_INVAL);
  assert_null(n);

  struct node a;
  node_init(&a, &fx, OPTS(.seed = 'A'));
  assert_int_equal(sp_net_listen(a.net, "not an address", 0, NULL), SP_E_INVAL);
  assert_int_equal(sp_net_listen(a.net, "127.0.0.1", 70000, NULL), SP_E_INVAL);
  assert_int_equal(sp_net_dial(a.net, "127.0.0.1", 0, NULL), SP_E_INVAL);
  assert_int_equal(sp_net_dial(a.net, "", 1, NULL), SP_E_INVAL);
  int port = node_listen(&a);
  struct node b;
  node_init(&b, &fx, OPTS(.seed = 'B'));
  assert_int_equal(sp_net_listen(b.net, "127.0.0.1", port, NULL), SP_E_INVAL); /* in use */
  node_close(&a);
  node_close(&b);
  WAIT_UNTIL(&fx, a.dones == 1 && b.dones == 1);
  fx_fini(&fx);
}

/* Two nodes with default options, b connected to a. */
static void pair_open(struct fixture *fx, struct node *a, struct node *b)
{
  fx_init(fx);
  node_init(a, fx, OPTS(.seed = 'A'));
  node_init(b, fx, OPTS(.seed = 'B'));
  int port = node_listen(a);
  assert_int_equal(sp_net_dial(b->net, "127.0.0.1", port, a->pk), SP_OK);
  WAIT_UNTIL(fx, a->opens == 1 && b->opens == 1);
}

static void pair_close(struct fixture *fx, struct node *a, struct node *b)
{
  node_close(a);
  node_close(b);
  WAIT_UNTIL(fx, a->dones == 1 && b->dones == 1);
  fx_fini(fx);
}

static void on_turn(uv_check_t *h)
{
  struct node *nd = h->data;
  nd->since_turn = 0;
}

/* 5,000 messages sent in one turn travel in one record; the receiver hands
 * them out at most 1,024 at a time, its loop turning in between (its
 * timers and other connections get their turn), in order, none lost.
 * (UV_RUN_ONCE runs timers before and after I/O, so two resumes may fall
 * between two check phases: at most 2,048 messages there.) */
static void test_feed_budget(void **state)
{
  (void)state;
  struct fixture fx;
  struct node a, b;
  pair_open(&fx, &a, &b);
  uv_check_t turn;
  uv_check_init(&fx.loop, &turn);
  turn.data = &a;
  uv_check_start(&turn, on_turn);
  a.most_per_turn = a.since_turn = 0;
  for (int i = 0; i < 5000; i++)
    node_send(&b, 8);
  WAIT_UNTIL(&fx, a.msgs == 5000);
  assert_int_equal(a.bad, 0);
  if (a.most_per_turn > 2048)
    fail_msg("%zu messages between two check phases", a.most_per_turn);
  uv_close((uv_handle_t *)&turn, NULL);
  pair_close(&fx, &a, &b);
}

/* A message queued (not yet sealed) when the peer is closed is not counted
 * as waiting any more once the connection is gone. */
static void test_queued_after_close(void **state)
{
  (void)state;
  struct fixture fx;
  struct node a, b;
  pair_open(&fx, &a, &b);
  node_send(&b, 100);
  assert_int_equal(sp_peer_queued(b.peer), SP_SECURE_ITEM_HEADER + 100);
  sp_peer_close(b.peer, "test");
  WAIT_UNTIL(&fx, b.closes == 1);
  assert_int_equal(b.queued_at_close, 0);
  pair_close(&fx, &a, &b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exchange),   cmocka_unit_test(test_refuse),
      cmocka_unit_test(test_wrong_chain), cmocka_unit_test(test_expect_pk),
      cmocka_unit_test(test_raw_garbage), cmocka_unit_test(test_replay),
      cmocka_unit_test(test_reconnect),  cmocka_unit_test(test_backpressure),
      cmocka_unit_test(test_close_live), cmocka_unit_test(test_config),
      cmocka_unit_test(test_pause_in_open), cmocka_unit_test(test_queued_after_close),
      cmocka_unit_test(test_feed_budget),
  };
  return cmocka_run_group_tests_name("net", tests, group_setup, NULL);
}
