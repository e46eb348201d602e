/* The node's transport: libuv TCP connections driving the pure secure channel
 * of proto (sp/secure.h). See net.h for the contract.
 *
 * Lifetimes. Every connection (struct sp_peer) owns two handles, its TCP
 * stream and a timer (the handshake deadline, later reused to resume a
 * paused peer outside the caller's stack). A connection is closed by
 * conn_close, which only marks it and calls uv_close on both handles; it is
 * unlinked and freed in conn_free, run from the second close callback. By
 * then libuv has run every write and connect callback of the stream (request
 * callbacks run before the close callback), so nothing refers to it any
 * more. The application may therefore close a peer, or the whole net, from
 * inside any callback: memory is never freed under a running callback.
 *
 * The net counts its outstanding handles and requests (n->pending): every
 * initialised handle until its close callback, every name lookup until its
 * callback. sp_net_close closes them all (plus one handle of its own, so
 * done never runs from inside sp_net_close) and the last callback frees the
 * net and calls done. Once n->closing is set, no application callback runs.
 *
 * Memory. Reads land in one buffer per net (consumed before the read
 * callback returns); only the bytes left over when the application pauses a
 * peer mid-read are copied, at most one read's worth per paused peer. The
 * secure channel bounds every frame (HELLO 72 bytes, AUTH 188, then
 * max_msg + 21). Output is sealed once per loop turn, one record for what
 * was queued, and handed to libuv as one write per connection, owned by
 * its request and freed in the write callback; sp_peer_send refuses to
 * pass max_out_queue, and the
 * handshake output is bounded by construction (one HELLO, one header, one
 * AUTH per connection). */
#include "net.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sp/codec.h"
#include "sp/crypto.h"
#include "sp/error.h"
#include "sp/secure.h"

#define NET_READ_BUF (64u * 1024u)
#define NET_BACKOFF_MIN_MS 100u
#define NET_BACKOFF_MAX_MS 2000u /* a restarted peer waits at most this for our redial */
/* A dialled connection must stay open this long before the backoff starts
 * again from NET_BACKOFF_MIN_MS: a peer that completes the handshake and
 * then refuses us at once would otherwise be redialled ten times a second. */
#define NET_STABLE_MS 1000u
#define NET_HANDSHAKE_TIMEOUT_MS 5000u
#define NET_KEEPALIVE_S 60u
#define NET_BACKLOG 128
#define NET_ADDR_LEN 64    /* "[v6 address]:port" */
#define NET_REASON_LEN 128 /* kept for on_close and the log */

struct dial;

struct listener {
  uv_tcp_t tcp;
  struct sp_net *net;
};

struct sp_net {
  uv_loop_t *loop;
  uint8_t chain_id[SP_HASH_LEN];
  uint8_t pk[SP_PK_LEN];
  uint8_t sk[SP_SK_LEN];
  uint32_t role;
  char agent[SP_MAX_AGENT + 1];
  size_t max_msg;
  size_t max_out_queue;
  uint32_t handshake_timeout_ms;
  struct sp_net_callbacks cb;

  struct listener *listener; /* NULL when not listening */
  struct sp_peer *peers;     /* every connection not yet freed, open or not */
  struct dial *dials;

  size_t pending; /* handles not yet closed + lookups not yet answered */
  int closing;
  uv_timer_t closer; /* closed by sp_net_close, so done always runs later */
  /* Records sent in one loop iteration leave together: one uv_write (one
   * system call) per connection and iteration, not one per message. The
   * check handle flushes after each poll; the idle handle, active while
   * something waits, keeps the poll from blocking before that (records
   * sent from timers). */
  uv_check_t flush_check;
  uv_idle_t flush_idle;
  struct sp_peer *dirty; /* connections with records waiting in out */
  void (*done)(void *arg);
  void *done_arg;

  uint8_t rbuf[NET_READ_BUF];
};

struct sp_peer {
  struct sp_net *net;
  struct sp_peer *next, **pprev;
  struct dial *dial; /* the dial that made it; NULL for inbound */

  uv_tcp_t tcp;
  uv_timer_t timer; /* handshake deadline, then resume after a pause */
  uv_connect_t connect_req;
  int handles; /* of tcp and timer, still open */

  struct sp_secure *sec;
  struct sp_buf hs_out; /* what a feed asks us to send (handshake only) */
  struct sp_buf out;    /* sealed records waiting for the flush */
  int is_dirty;         /* on net.dirty */
  struct sp_peer *dirty_next;
  size_t inflight;      /* bytes handed to uv_write, not yet confirmed */

  uint8_t *pend; /* unprocessed input kept while paused */
  size_t pend_off, pend_len;
  uint8_t *held; /* a message decrypted with the AUTH, the peer paused in on_open */
  size_t held_len;

  int outbound, connected, established, open, closing, paused;
  uint64_t opened_at; /* loop time of on_open */
  uint8_t pk[SP_PK_LEN];
  uint32_t role;
  void *user;
  char addr[NET_ADDR_LEN];
  char reason[NET_REASON_LEN];
};

struct dial {
  struct sp_net *net;
  struct dial *next;
  char host[SP_MAX_ADDR + 1];
  int port;
  int has_pk;
  uint8_t expect_pk[SP_PK_LEN];
  uv_timer_t timer; /* backoff */
  uint32_t backoff_ms;
  struct sp_peer *conn; /* the current attempt or connection */
  uv_getaddrinfo_t gai;
  int resolving;
  unsigned attempt; /* which of the resolved addresses to try next */
};

struct wreq {
  uv_write_t req;
  struct sp_peer *p;
  uint8_t *data;
  size_t len;
};

static void conn_close(struct sp_peer *p, const char *reason);
static void on_flush_check(uv_check_t *h);
static void on_resume(uv_timer_t *t);
static void dial_start(struct dial *d);
static void on_dial_timer(uv_timer_t *t);

/* --------------------------------------------------------------- the net */

static void net_finish(struct sp_net *n)
{
  void (*done)(void *) = n->done;
  void *arg = n->done_arg;
  struct dial *d = n->dials;
  while (d) {
    struct dial *next = d->next;
    free(d);
    d = next;
  }
  sodium_memzero(n->sk, sizeof(n->sk));
  free(n);
  if (done)
    done(arg);
}

/* One handle closed or one lookup answered. */
static void net_release(struct sp_net *n, size_t k)
{
  n->pending -= k;
  if (n->closing && n->pending == 0)
    net_finish(n);
}

static void on_net_handle_closed(uv_handle_t *h)
{
  net_release(h->data, 1);
}

static void on_listener_closed(uv_handle_t *h)
{
  struct listener *l = h->data;
  struct sp_net *n = l->net;
  free(l);
  net_release(n, 1);
}

static void on_dial_timer_closed(uv_handle_t *h)
{
  struct dial *d = h->data;
  net_release(d->net, 1);
}

int sp_net_new(struct sp_net **out, const struct sp_net_config *cfg)
{
  if (out == NULL || cfg == NULL || cfg->loop == NULL || cfg->chain_id == NULL ||
      cfg->pk == NULL || cfg->sk == NULL || cfg->max_msg > SP_MAX_FRAME)
    return SP_E_INVAL;
  int rc = sp_crypto_init();
  if (rc)
    return rc;
  /* Let the secure channel judge the rest (role, agent, key pair) now,
   * rather than on the first connection. */
  struct sp_secure_config sc = {.initiator = 1,
                                .chain_id = cfg->chain_id,
                                .pk = cfg->pk,
                                .sk = cfg->sk,
                                .role = cfg->role,
                                .agent = cfg->agent,
                                .max_msg = cfg->max_msg};
  struct sp_secure *probe = NULL;
  rc = sp_secure_new(&sc, &probe);
  sp_secure_free(probe);
  if (rc)
    return rc;

  struct sp_net *n = calloc(1, sizeof(*n));
  if (n == NULL)
    return SP_E_NOMEM;
  n->loop = cfg->loop;
  memcpy(n->chain_id, cfg->chain_id, SP_HASH_LEN);
  memcpy(n->pk, cfg->pk, SP_PK_LEN);
  memcpy(n->sk, cfg->sk, SP_SK_LEN);
  n->role = cfg->role;
  if (cfg->agent)
    snprintf(n->agent, sizeof(n->agent), "%s", cfg->agent);
  n->max_msg = cfg->max_msg ? cfg->max_msg : SP_MAX_FRAME;
  /* 0: room for two of the largest records, so any one message can be sent
   * while another is still on its way. */
  n->max_out_queue =
      cfg->max_out_queue
          ? cfg->max_out_queue
          : 2 * (2 * (SP_FRAME_HEADER + SP_SECURE_ITEM_HEADER + SP_SECURE_ABYTES) + n->max_msg);
  n->handshake_timeout_ms =
      cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : NET_HANDSHAKE_TIMEOUT_MS;
  n->cb = cfg->cb;
  uv_check_init(n->loop, &n->flush_check);
  uv_idle_init(n->loop, &n->flush_idle);
  n->flush_check.data = n->flush_idle.data = n;
  uv_check_start(&n->flush_check, on_flush_check);
  uv_unref((uv_handle_t *)&n->flush_check); /* it alone keeps no loop alive */
  *out = n;
  return SP_OK;
}

void sp_net_close(struct sp_net *n, void (*done)(void *arg), void *arg)
{
  if (n == NULL || n->closing)
    return;
  n->closing = 1;
  n->done = done;
  n->done_arg = arg;
  if (n->listener) {
    uv_close((uv_handle_t *)&n->listener->tcp, on_listener_closed);
    n->listener = NULL;
  }
  for (struct sp_peer *p = n->peers; p; p = p->next)
    conn_close(p, "shutting down");
  for (struct dial *d = n->dials; d; d = d->next) {
    uv_close((uv_handle_t *)&d->timer, on_dial_timer_closed);
    if (d->resolving)
      uv_cancel((uv_req_t *)&d->gai); /* its callback still runs, and releases */
  }
  while (n->dirty) { /* the closing connections drop what they had */
    struct sp_peer *p = n->dirty;
    n->dirty = p->dirty_next;
    p->is_dirty = 0;
  }
  n->pending += 2;
  uv_close((uv_handle_t *)&n->flush_check, on_net_handle_closed);
  uv_close((uv_handle_t *)&n->flush_idle, on_net_handle_closed);
  uv_timer_init(n->loop, &n->closer);
  n->closer.data = n;
  n->pending++;
  uv_close((uv_handle_t *)&n->closer, on_net_handle_closed);
}

/* ------------------------------------------------------------- addresses */

/* A numeric IPv4 or IPv6 address. */
static int parse_addr(const char *host, int port, struct sockaddr_storage *ss)
{
  if (port < 0 || port > 65535)
    return SP_E_INVAL;
  memset(ss, 0, sizeof(*ss));
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
    return SP_OK;
  if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
    return SP_OK;
  return SP_E_INVAL;
}

static void format_addr(const struct sockaddr *sa, char *out, size_t cap)
{
  /* Copied so the family-specific views are properly aligned. */
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  char ip[48] = "?";
  if (sa->sa_family == AF_INET) {
    memcpy(&ss, sa, sizeof(struct sockaddr_in));
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    uv_ip4_name(a, ip, sizeof(ip));
    snprintf(out, cap, "%s:%d", ip, ntohs(a->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    memcpy(&ss, sa, sizeof(struct sockaddr_in6));
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, ip, sizeof(ip));
    snprintf(out, cap, "[%s]:%d", ip, ntohs(a->sin6_port));
  } else {
    snprintf(out, cap, "?");
  }
}

/* ----------------------------------------------------------- connections */

static void on_conn_handle_closed(uv_handle_t *h);

static struct sp_peer *conn_new(struct sp_net *n, struct dial *d)
{
  struct sp_peer *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  struct sp_secure_config sc = {.initiator = d != NULL,
                                .chain_id = n->chain_id,
                                .pk = n->pk,
                                .sk = n->sk,
                                .role = n->role,
                                .agent = n->agent,
                                .max_msg = n->max_msg,
                                .expect_pk = d && d->has_pk ? d->expect_pk : NULL};
  if (sp_secure_new(&sc, &p->sec) != SP_OK) {
    free(p);
    return NULL;
  }
  if (uv_tcp_init(n->loop, &p->tcp) != 0) {
    sp_secure_free(p->sec);
    free(p);
    return NULL;
  }
  uv_timer_init(n->loop, &p->timer);
  p->tcp.data = p;
  p->timer.data = p;
  p->connect_req.data = p;
  p->handles = 2;
  n->pending += 2;
  p->net = n;
  p->dial = d;
  p->outbound = d != NULL;
  sp_buf_init(&p->hs_out, SP_SECURE_HANDSHAKE_OUT);
  sp_buf_init(&p->out, n->max_out_queue);
  snprintf(p->addr, sizeof(p->addr), "?");
  p->next = n->peers;
  if (n->peers)
    n->peers->pprev = &p->next;
  p->pprev = &n->peers;
  n->peers = p;
  return p;
}

static void on_handshake_timeout(uv_timer_t *t)
{
  conn_close(t->data, "handshake timed out");
}

static void dial_retry(struct dial *d)
{
  if (d->net->closing)
    return;
  uint32_t delay = d->backoff_ms;
  d->backoff_ms = delay >= NET_BACKOFF_MAX_MS / 2 ? NET_BACKOFF_MAX_MS : delay * 2;
  /* Jitter keeps validators that lost each other at the same moment from
   * redialling in lockstep. */
  delay += randombytes_uniform(delay / 4 + 1);
  uv_timer_start(&d->timer, on_dial_timer, delay, 0);
}

/* Both handles are closed: nothing refers to p any more. */
static void conn_free(struct sp_peer *p)
{
  struct sp_net *n = p->net;
  *p->pprev = p->next;
  if (p->next)
    p->next->pprev = p->pprev;
  if (p->open && !n->closing && n->cb.on_close)
    n->cb.on_close(n->cb.ctx, p, p->reason);
  struct dial *d = p->dial;
  if (d) {
    d->conn = NULL;
    if (p->open && uv_now(n->loop) - p->opened_at >= NET_STABLE_MS)
      d->backoff_ms = NET_BACKOFF_MIN_MS;
    dial_retry(d);
  }
  if (p->is_dirty) {
    struct sp_peer **pp = &n->dirty;
    while (*pp != p)
      pp = &(*pp)->dirty_next;
    *pp = p->dirty_next;
  }
  sp_secure_free(p->sec);
  sp_buf_free(&p->hs_out);
  sp_buf_free(&p->out);
  free(p->pend);
  free(p->held);
  free(p);
  net_release(n, 2);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
  struct sp_peer *p = h->data;
  if (--p->handles == 0)
    conn_free(p);
}

static void conn_close(struct sp_peer *p, const char *reason)
{
  if (p->closing)
    return;
  p->closing = 1;
  snprintf(p->reason, sizeof(p->reason), "%s", reason ? reason : "closed");
  if (p->net->closing)
    LOG_D(0, p->established ? p->pk : NULL, "%s: closed: %s", p->addr, p->reason);
  else if (p->open)
    LOG_I(0, p->pk, "%s: closed: %s", p->addr, p->reason);
  else if (p->outbound && p->connected)
    LOG_W(0, NULL, "%s: closed before open: %s", p->addr, p->reason);
  else
    LOG_D(0, NULL, "%s: closed before open: %s", p->addr, p->reason);
  uv_close((uv_handle_t *)&p->tcp, on_conn_handle_closed);
  uv_close((uv_handle_t *)&p->timer, on_conn_handle_closed);
}

/* --------------------------------------------------------------- writing */

static void on_written(uv_write_t *req, int status)
{
  struct wreq *w = req->data;
  struct sp_peer *p = w->p;
  p->inflight -= w->len;
  free(w->data);
  free(w);
  if (status < 0 && status != UV_ECANCELED)
    conn_close(p, uv_strerror(status));
}

/* Queue data[0..len) (malloc'd, ownership passes here) on p's stream. */
static int conn_write(struct sp_peer *p, uint8_t *data, size_t len)
{
  struct wreq *w = malloc(sizeof(*w));
  if (w == NULL) {
    free(data);
    conn_close(p, "out of memory");
    return SP_E_NOMEM;
  }
  w->req.data = w;
  w->p = p;
  w->data = data;
  w->len = len;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned int)len);
  int rc = uv_write(&w->req, (uv_stream_t *)&p->tcp, &b, 1, on_written);
  if (rc < 0) {
    free(data);
    free(w);
    conn_close(p, uv_strerror(rc));
    return SP_E_STATE;
  }
  p->inflight += len;
  return SP_OK;
}

/* Bytes not yet written: handed to libuv, sealed in out, or in the batch
 * of the next record. Computed, not counted: a batch the secure channel
 * discards (it failed) or a connection closing leaves nothing behind. */
static size_t queued_bytes(const struct sp_peer *p)
{
  if (p->closing) /* nothing more leaves; writes in flight are cancelled */
    return p->inflight;
  return p->inflight + p->out.len + (p->sec ? sp_secure_queued(p->sec) : 0);
}

/* Hand every connection's waiting records to libuv. */
static void flush_all(struct sp_net *n)
{
  while (n->dirty) {
    struct sp_peer *p = n->dirty;
    n->dirty = p->dirty_next;
    p->is_dirty = 0;
    int rc = p->closing ? SP_OK : sp_secure_flush(p->sec, &p->out);
    if (rc)
      conn_close(p, sp_strerror(rc));
    if (p->closing || p->out.len == 0) {
      sp_buf_reset(&p->out);
      continue;
    }
    uint8_t *data = p->out.data;
    size_t len = p->out.len;
    sp_buf_init(&p->out, n->max_out_queue);
    conn_write(p, data, len);
  }
  uv_idle_stop(&n->flush_idle);
}

static void on_flush_check(uv_check_t *h)
{
  flush_all(h->data);
}

static void on_flush_idle(uv_idle_t *h)
{
  flush_all(h->data);
}

/* Send what the secure channel appended to hs_out. */
static int conn_flush_handshake(struct sp_peer *p)
{
  if (p->hs_out.len == 0)
    return SP_OK;
  uint8_t *data = p->hs_out.data;
  size_t len = p->hs_out.len;
  sp_buf_init(&p->hs_out, SP_SECURE_HANDSHAKE_OUT);
  return conn_write(p, data, len);
}

int sp_peer_send(struct sp_peer *p, const uint8_t *msg, size_t n)
{
  if (p->closing || p->net->closing)
    return SP_E_STATE;
  if (n == 0)
    return SP_E_FRAME_EMPTY;
  if (n > p->net->max_msg)
    return SP_E_FRAME_TOO_BIG;
  /* room for it in a record of its own, and for the batch sealed first */
  size_t rec = 2 * (SP_FRAME_HEADER + SP_SECURE_ITEM_HEADER + SP_SECURE_ABYTES) + n;
  size_t queued = queued_bytes(p);
  if (rec > p->net->max_out_queue || queued > p->net->max_out_queue - rec)
    return SP_E_BUFFER;
  /* queued now, sealed with the others of this loop iteration (flush_all) */
  int rc = sp_secure_queue(p->sec, msg, n, &p->out);
  if (rc)
    return rc;
  if (!p->is_dirty) {
    struct sp_net *net = p->net;
    p->is_dirty = 1;
    p->dirty_next = net->dirty;
    net->dirty = p;
    uv_idle_start(&net->flush_idle, on_flush_idle);
  }
  return SP_OK;
}

/* --------------------------------------------------------------- reading */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  (void)suggested;
  struct sp_peer *p = h->data;
  *buf = uv_buf_init((char *)p->net->rbuf, sizeof(p->net->rbuf));
}

/* The peer's AUTH verified: hand the peer to the application. */
static void conn_established(struct sp_peer *p)
{
  struct sp_net *n = p->net;
  const char *agent = "";
  p->established = 1;
  uv_timer_stop(&p->timer);
  sp_secure_peer(p->sec, p->pk, &p->role, &agent);
  if (n->closing)
    return;
  LOG_I(0, p->pk, "%s: peer connected (%s, role %u, agent '%s')", p->addr,
        p->outbound ? "outbound" : "inbound", (unsigned)p->role, agent);
  p->open = 1;
  p->opened_at = uv_now(n->loop);
  if (n->cb.on_open && n->cb.on_open(n->cb.ctx, p) != 0) {
    p->open = 0; /* refused: the application never hears of it again */
    conn_close(p, "peer not allowed");
  }
}

/* Messages handed to the application per read callback or resume: one
 * record may hold a million tiny messages, and the loop must get back to
 * its timers and other connections in between (the rest follows through
 * the resume timer). */
#define FEED_BUDGET 1024
/* The resume after a spent budget waits 1 ms: libuv 1.44 runs a timer
 * started with 0 from its own callback again in the same pass, before any
 * I/O, so 0 would not let the loop turn. */
#define FEED_YIELD_MS 1

/* Feed p[0..len) to the secure channel, delivering its messages, until the
 * input is used up, FEED_BUDGET messages were delivered, or the peer is
 * paused or closed. Returns the bytes consumed. */
static size_t conn_feed(struct sp_peer *p, const uint8_t *data, size_t len)
{
  struct sp_net *n = p->net;
  size_t off = 0, given = 0;
  while ((off < len || sp_secure_has_message(p->sec)) && given < FEED_BUDGET && !p->closing &&
         !p->paused && !n->closing) {
    size_t used = 0, mlen = 0;
    const uint8_t *msg = NULL;
    int rc = sp_secure_feed(p->sec, data + off, len - off, &used, &p->hs_out, &msg, &mlen);
    off += used;
    if (conn_flush_handshake(p) != SP_OK)
      break;
    if (rc < 0) {
      conn_close(p, sp_strerror(rc));
      break;
    }
    if (!p->established && sp_secure_established(p->sec)) {
      conn_established(p);
      if (p->closing || n->closing)
        break;
      if (rc == 1 && p->paused) {
        /* The message came in the same input as the AUTH and the peer was
         * paused in on_open: msg dies with the next feed, so keep a copy. */
        p->held = malloc(mlen);
        if (p->held == NULL) {
          conn_close(p, "out of memory");
          break;
        }
        memcpy(p->held, msg, mlen);
        p->held_len = mlen;
        break;
      }
    }
    if (rc == 1 && n->cb.on_message) {
      given++;
      n->cb.on_message(n->cb.ctx, p, msg, mlen);
    }
  }
  return off;
}

/* More to deliver from what was already read (the budget ran out). */
static bool conn_more(const struct sp_peer *p, size_t used, size_t len)
{
  return used < len || sp_secure_has_message(p->sec);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
  struct sp_peer *p = s->data;
  (void)buf;
  if (nread == 0 || p->closing)
    return;
  if (nread < 0) {
    conn_close(p, nread == UV_EOF ? "connection closed by peer" : uv_strerror((int)nread));
    return;
  }
  const uint8_t *data = p->net->rbuf;
  size_t len = (size_t)nread;
  size_t used = conn_feed(p, data, len);
  if (p->closing || p->net->closing || !conn_more(p, used, len))
    return;
  if (!p->paused) {
    /* the budget ran out: no more reads until the resume timer has
     * delivered the rest, in order */
    uv_read_stop((uv_stream_t *)&p->tcp);
    uv_timer_start(&p->timer, on_resume, FEED_YIELD_MS, 0);
  }
  if (used < len) {
    /* Paused from inside on_message, or out of budget: keep the rest. */
    p->pend = malloc(len - used);
    if (p->pend == NULL) {
      conn_close(p, "out of memory");
      return;
    }
    memcpy(p->pend, data + used, len - used);
    p->pend_off = 0;
    p->pend_len = len - used;
  }
}

static int conn_read_start(struct sp_peer *p)
{
  int rc = uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
  if (rc == UV_EALREADY)
    rc = 0;
  if (rc < 0)
    conn_close(p, uv_strerror(rc));
  return rc;
}

static void on_resume(uv_timer_t *t)
{
  struct sp_peer *p = t->data;
  if (p->closing || p->paused || p->net->closing)
    return;
  if (p->held) {
    uint8_t *msg = p->held;
    size_t mlen = p->held_len;
    p->held = NULL;
    p->held_len = 0;
    if (p->net->cb.on_message)
      p->net->cb.on_message(p->net->cb.ctx, p, msg, mlen);
    free(msg);
    if (p->closing || p->paused || p->net->closing)
      return;
  }
  /* what was read before the pause: bytes kept in pend, and messages of
   * a record still in the secure channel */
  static const uint8_t none;
  const uint8_t *in = p->pend ? p->pend + p->pend_off : &none;
  size_t left = p->pend ? p->pend_len - p->pend_off : 0;
  if (left > 0 || sp_secure_has_message(p->sec)) {
    size_t used = conn_feed(p, in, left);
    p->pend_off += used;
    if (p->closing || p->paused || p->net->closing)
      return;
    if (conn_more(p, used, left)) {
      uv_timer_start(&p->timer, on_resume, FEED_YIELD_MS, 0); /* out of budget: later */
      return;
    }
  }
  free(p->pend);
  p->pend = NULL;
  p->pend_off = p->pend_len = 0;
  conn_read_start(p);
}

void sp_peer_pause(struct sp_peer *p, bool paused)
{
  if (p->closing || p->paused == (int)paused)
    return;
  p->paused = paused;
  if (paused)
    uv_read_stop((uv_stream_t *)&p->tcp);
  else /* not from here: the caller may be inside one of our callbacks */
    uv_timer_start(&p->timer, on_resume, 0, 0);
}

/* TCP is up (accepted or connected): start the handshake. */
static void conn_start(struct sp_peer *p)
{
  p->connected = 1;
  uv_tcp_nodelay(&p->tcp, 1);
  uv_tcp_keepalive(&p->tcp, 1, NET_KEEPALIVE_S);
  int rc = sp_secure_start(p->sec, &p->hs_out);
  if (rc) {
    conn_close(p, sp_strerror(rc));
    return;
  }
  if (conn_flush_handshake(p) == SP_OK)
    conn_read_start(p);
}

void sp_peer_close(struct sp_peer *p, const char *reason)
{
  conn_close(p, reason ? reason : "closed by application");
}

/* -------------------------------------------------------------- inbound */

static void on_rejected_closed(uv_handle_t *h)
{
  struct sp_net *n = h->data;
  free(h);
  net_release(n, 1);
}

static void on_connection(uv_stream_t *server, int status)
{
  struct listener *l = server->data;
  struct sp_net *n = l->net;
  if (status < 0) {
    LOG_W(0, NULL, "accept: %s", uv_strerror(status));
    return;
  }
  struct sp_peer *p = conn_new(n, NULL);
  if (p == NULL) {
    /* Take the connection off the backlog anyway, or libuv stops accepting. */
    uv_tcp_t *t = malloc(sizeof(*t));
    if (t && uv_tcp_init(n->loop, t) == 0) {
      t->data = n;
      n->pending++;
      uv_accept(server, (uv_stream_t *)t);
      uv_close((uv_handle_t *)t, on_rejected_closed);
    } else {
      free(t);
    }
    LOG_W(0, NULL, "accept: out of memory");
    return;
  }
  int rc = uv_accept(server, (uv_stream_t *)&p->tcp);
  if (rc < 0) {
    conn_close(p, uv_strerror(rc));
    return;
  }
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  if (uv_tcp_getpeername(&p->tcp, (struct sockaddr *)&ss, &len) == 0)
    format_addr((struct sockaddr *)&ss, p->addr, sizeof(p->addr));
  LOG_D(0, NULL, "%s: accepted", p->addr);
  uv_timer_start(&p->timer, on_handshake_timeout, n->handshake_timeout_ms, 0);
  conn_start(p);
}

int sp_net_listen(struct sp_net *n, const char *host, int port, int *bound)
{
  if (n->closing || n->listener)
    return SP_E_STATE;
  /* No name lookup here: a daemon listens on an address it was given (or
   * on all of them). */
  if (host == NULL || host[0] == '\0')
    host = "0.0.0.0";
  else if (strcmp(host, "localhost") == 0)
    host = "127.0.0.1";
  struct sockaddr_storage ss;
  if (parse_addr(host, port, &ss) != SP_OK)
    return SP_E_INVAL;
  struct listener *l = calloc(1, sizeof(*l));
  if (l == NULL)
    return SP_E_NOMEM;
  l->net = n;
  int rc = uv_tcp_init(n->loop, &l->tcp);
  if (rc < 0) {
    free(l);
    return SP_E_NOMEM;
  }
  l->tcp.data = l;
  n->pending++;
  rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&l->tcp, NET_BACKLOG, on_connection);
  if (rc < 0) {
    LOG_E(0, NULL, "listen on %s:%d: %s", host ? host : "", port, uv_strerror(rc));
    uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
    return SP_E_INVAL;
  }
  if (bound) {
    int len = sizeof(ss);
    if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) == 0)
      *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
  }
  n->listener = l;
  char addr[NET_ADDR_LEN];
  format_addr((struct sockaddr *)&ss, addr, sizeof(addr));
  LOG_I(0, NULL, "listening on %s", addr);
  return SP_OK;
}

/* ------------------------------------------------------------- outbound */

static void on_dial_timer(uv_timer_t *t)
{
  dial_start(t->data);
}

static void on_connect(uv_connect_t *req, int status)
{
  struct sp_peer *p = req->data;
  if (status == UV_ECANCELED || p->closing)
    return;
  if (status < 0) {
    char reason[NET_REASON_LEN];
    snprintf(reason, sizeof(reason), "connect: %s", uv_strerror(status));
    conn_close(p, reason);
    return;
  }
  LOG_D(0, NULL, "%s: connected", p->addr);
  conn_start(p);
}

static void dial_connect(struct dial *d, const struct sockaddr *sa)
{
  struct sp_net *n = d->net;
  struct sp_peer *p = conn_new(n, d);
  if (p == NULL) {
    LOG_W(0, NULL, "dial %s:%d: out of memory", d->host, d->port);
    dial_retry(d);
    return;
  }
  d->conn = p;
  format_addr(sa, p->addr, sizeof(p->addr));
  /* The deadline covers the TCP connect too: a silently dropped SYN must not
   * hold the dial for minutes. */
  uv_timer_start(&p->timer, on_handshake_timeout, n->handshake_timeout_ms, 0);
  int rc = uv_tcp_connect(&p->connect_req, &p->tcp, sa, on_connect);
  if (rc < 0) {
    char reason[NET_REASON_LEN];
    snprintf(reason, sizeof(reason), "connect: %s", uv_strerror(rc));
    conn_close(p, reason); /* conn_free schedules the retry */
  }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
  struct dial *d = req->data;
  struct sp_net *n = d->net;
  d->resolving = 0;
  if (!n->closing) {
    if (status < 0 || res == NULL) {
      LOG_D(0, NULL, "dial %s:%d: %s", d->host, d->port,
            status < 0 ? uv_strerror(status) : "no address");
      dial_retry(d);
    } else {
      /* Each attempt takes the next address, so a name whose first address
       * does not answer (say ::1 where the peer listens on 127.0.0.1) still
       * gets through. */
      unsigned count = 0;
      for (struct addrinfo *a = res; a; a = a->ai_next)
        count++;
      struct addrinfo *a = res;
      for (unsigned i = d->attempt++ % count; i > 0; i--)
        a = a->ai_next;
      dial_connect(d, a->ai_addr);
    }
  }
  uv_freeaddrinfo(res);
  net_release(n, 1); /* last: may free the net */
}

static void dial_start(struct dial *d)
{
  struct sp_net *n = d->net;
  if (n->closing || d->conn)
    return;
  struct sockaddr_storage ss;
  if (parse_addr(d->host, d->port, &ss) == SP_OK) {
    dial_connect(d, (struct sockaddr *)&ss);
    return;
  }
  char port[8];
  snprintf(port, sizeof(port), "%d", d->port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  d->gai.data = d;
  int rc = uv_getaddrinfo(n->loop, &d->gai, on_resolved, d->host, port, &hints);
  if (rc < 0) {
    LOG_D(0, NULL, "dial %s:%d: %s", d->host, d->port, uv_strerror(rc));
    dial_retry(d);
    return;
  }
  d->resolving = 1;
  n->pending++;
}

int sp_net_dial(struct sp_net *n, const char *host, int port, const uint8_t *expect_pk)
{
  if (n->closing)
    return SP_E_STATE;
  if (host == NULL || host[0] == '\0' || strlen(host) > SP_MAX_ADDR || port <= 0 ||
      port > 65535)
    return SP_E_INVAL;
  struct dial *d = calloc(1, sizeof(*d));
  if (d == NULL)
    return SP_E_NOMEM;
  d->net = n;
  snprintf(d->host, sizeof(d->host), "%s", host);
  d->port = port;
  if (expect_pk) {
    d->has_pk = 1;
    memcpy(d->expect_pk, expect_pk, SP_PK_LEN);
  }
  d->backoff_ms = NET_BACKOFF_MIN_MS;
  uv_timer_init(n->loop, &d->timer);
  d->timer.data = d;
  n->pending++;
  d->next = n->dials;
  n->dials = d;
  dial_start(d);
  return SP_OK;
}

/* --------------------------------------------------------------- queries */

const uint8_t *sp_peer_pk(const struct sp_peer *p)
{
  return p->pk;
}

uint32_t sp_peer_role(const struct sp_peer *p)
{
  return p->role;
}

bool sp_peer_outbound(const struct sp_peer *p)
{
  return p->outbound;
}

const char *sp_peer_addr(const struct sp_peer *p)
{
  return p->addr;
}

size_t sp_peer_queued(const struct sp_peer *p)
{
  return queued_bytes(p);
}

void *sp_peer_user(const struct sp_peer *p)
{
  return p->user;
}

void sp_peer_set_user(struct sp_peer *p, void *user)
{
  p->user = user;
}
