#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sp/proto.h"
#include "sp/secure.h"

struct sp_client {
  int fd;
  struct sp_secure *s;
  uint32_t next_req;
  /* bytes of the last answers (their views point here): a few are kept,
   * so a caller may hold two or three answers at once */
  uint8_t *kept[SP_CLIENT_KEPT];
  unsigned next_kept;
  uint8_t inbuf[65536];
  size_t in_off, in_len; /* unconsumed received bytes */
  struct sp_buf outq;    /* sealed records queued by sp_client_queue_raw */
};

#define OUTQ_FLUSH 65536 /* queued bytes that make sp_client_queue_raw send */

/* Keep a copy of an answer's bytes, dropping the oldest kept one. */
static uint8_t *keep(struct sp_client *c, const uint8_t *m, size_t n)
{
  uint8_t *copy = malloc(n ? n : 1);
  if (copy == NULL)
    return NULL;
  memcpy(copy, m, n);
  free(c->kept[c->next_kept]);
  c->kept[c->next_kept] = copy;
  c->next_kept = (c->next_kept + 1) % SP_CLIENT_KEPT;
  return copy;
}

static int64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int tcp_connect(const char *host, int port, int timeout_ms, char *err, size_t cap)
{
  char ports[16];
  snprintf(ports, sizeof(ports), "%d", port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
  int rc = getaddrinfo(host, ports, &hints, &res);
  if (rc) {
    snprintf(err, cap, "cannot resolve '%s': %s", host, gai_strerror(rc));
    return -1;
  }
  int fd = -1;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
      continue;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      snprintf(err, cap, "cannot connect to %s:%d: %s", host, port, strerror(errno));
      close(fd);
      fd = -1;
      continue;
    }
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (poll(&pf, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) ||
        soerr) {
      snprintf(err, cap, "cannot connect to %s:%d: %s", host, port,
               soerr ? strerror(soerr) : "timed out");
      close(fd);
      fd = -1;
      continue;
    }
    fcntl(fd, F_SETFL, fl);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  freeaddrinfo(res);
  return fd;
}

/* Feed received bytes until one application message is out (1), or the
 * handshake completes (0), or the deadline passes (0), or the channel
 * fails (-1). */
static int next_message(struct sp_client *c, int64_t deadline, const uint8_t **msg,
                        size_t *len, char *err, size_t cap)
{
  if (sp_client_flush(c)) {
    snprintf(err, cap, "connection lost while sending");
    return -1;
  }
  struct sp_buf out;
  sp_buf_init(&out, 4096);
  int result = 0;
  int was_established = sp_secure_established(c->s);
  for (;;) {
    while (c->in_off < c->in_len || sp_secure_has_message(c->s)) {
      size_t used = 0;
      sp_buf_reset(&out);
      int rc = sp_secure_feed(c->s, c->inbuf + c->in_off, c->in_len - c->in_off, &used, &out,
                              msg, len);
      c->in_off += used;
      if (out.len && send_all(c->fd, out.data, out.len)) {
        snprintf(err, cap, "connection lost while sending");
        result = -1;
        goto done;
      }
      if (rc < 0) {
        snprintf(err, cap, "%s: %s", sp_secure_established(c->s) ? "secure channel failed"
                                                                : "authentication failed",
                 sp_strerror(rc));
        result = -1;
        goto done;
      }
      if (rc == 1) {
        result = 1;
        goto done;
      }
      if (!was_established && sp_secure_established(c->s))
        goto done; /* sp_client_connect waits for this, not for a message */
    }
    int64_t left = deadline - mono_ms();
    if (left <= 0)
      goto done;
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    int pr = poll(&pf, 1, (int)left);
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr <= 0)
      goto done;
    ssize_t r = recv(c->fd, c->inbuf, sizeof(c->inbuf), 0);
    if (r <= 0) {
      snprintf(err, cap, "the node closed the connection");
      result = -1;
      goto done;
    }
    c->in_off = 0;
    c->in_len = (size_t)r;
  }
done:
  sp_buf_free(&out);
  return result;
}

int sp_client_connect(struct sp_client **out, const char *host, int port,
                      const uint8_t chain_id[SP_HASH_LEN], const uint8_t pk[SP_PK_LEN],
                      const uint8_t sk[SP_SK_LEN], int timeout_ms, char *err, size_t errcap)
{
  struct sp_client *c = calloc(1, sizeof(*c));
  if (c)
    /* what queue_raw leaves below OUTQ_FLUSH, sealed when a message of the
     * largest size follows, and then that message's own record */
    sp_buf_init(&c->outq, OUTQ_FLUSH + SP_MAX_FRAME +
                              2 * (SP_FRAME_HEADER + SP_SECURE_ITEM_HEADER + SP_SECURE_ABYTES));
  if (c == NULL) {
    snprintf(err, errcap, "out of memory");
    return -1;
  }
  c->fd = tcp_connect(host, port, timeout_ms, err, errcap);
  if (c->fd < 0) {
    free(c);
    return -1;
  }
  struct sp_secure_config cfg = {.initiator = 1, .chain_id = chain_id, .pk = pk, .sk = sk,
                                 .role = SP_ROLE_WALLET, .agent = "stadjer/" SP_VERSION_STRING};
  struct sp_buf hello;
  sp_buf_init(&hello, 1024);
  if (sp_secure_new(&cfg, &c->s) || sp_secure_start(c->s, &hello) ||
      send_all(c->fd, hello.data, hello.len)) {
    snprintf(err, errcap, "cannot start the secure channel");
    sp_buf_free(&hello);
    sp_client_close(c);
    return -1;
  }
  sp_buf_free(&hello);
  /* wait until the node's AUTH verified */
  int64_t deadline = mono_ms() + timeout_ms;
  while (!sp_secure_established(c->s)) {
    const uint8_t *m;
    size_t n;
    int rc = next_message(c, deadline, &m, &n, err, errcap);
    if (rc < 0 || (rc == 0 && !sp_secure_established(c->s))) {
      if (rc == 0)
        snprintf(err, errcap, "authentication with %s:%d timed out", host, port);
      sp_client_close(c);
      return -1;
    }
  }
  *out = c;
  return 0;
}

void sp_client_close(struct sp_client *c)
{
  if (c == NULL)
    return;
  if (c->fd >= 0)
    close(c->fd);
  sp_secure_free(c->s);
  for (unsigned i = 0; i < SP_CLIENT_KEPT; i++)
    free(c->kept[i]);
  sp_buf_free(&c->outq);
  free(c);
}

int sp_client_flush(struct sp_client *c)
{
  if (sp_secure_flush(c->s, &c->outq) != 0)
    return -1;
  if (c->outq.len == 0)
    return 0;
  int rc = send_all(c->fd, c->outq.data, c->outq.len);
  sp_buf_reset(&c->outq);
  return rc;
}

int sp_client_queue_raw(struct sp_client *c, const uint8_t *p, size_t n)
{
  if (sp_secure_queue(c->s, p, n, &c->outq) != 0)
    return -1;
  return c->outq.len + sp_secure_queued(c->s) >= OUTQ_FLUSH ? sp_client_flush(c) : 0;
}

int sp_client_send_raw(struct sp_client *c, const uint8_t *p, size_t n)
{
  /* after whatever is queued: the records must leave in the order sealed */
  if (sp_secure_queue(c->s, p, n, &c->outq) != 0)
    return -1;
  return sp_client_flush(c);
}

int sp_client_send(struct sp_client *c, struct sp_msg *req, uint32_t *req_id)
{
  req->req_id = ++c->next_req;
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  int rc = sp_msg_encode(req, &b) || sp_client_send_raw(c, b.data, b.len) ? -1 : 0;
  sp_buf_free(&b);
  if (rc == 0 && req_id)
    *req_id = req->req_id;
  return rc;
}

int sp_client_recv(struct sp_client *c, struct sp_msg *resp, int timeout_ms, char *err,
                   size_t errcap)
{
  memset(resp, 0, sizeof(*resp));
  const uint8_t *m;
  size_t n;
  int rc = next_message(c, mono_ms() + timeout_ms, &m, &n, err, errcap);
  if (rc <= 0) {
    if (rc == 0)
      snprintf(err, errcap, "no answer from the node within %d ms", timeout_ms);
    return -1;
  }
  uint8_t *copy = keep(c, m, n);
  if (copy == NULL) {
    snprintf(err, errcap, "out of memory");
    return -1;
  }
  if (sp_msg_decode(copy, n, resp) != SP_OK) {
    snprintf(err, errcap, "the node sent an undecodable message");
    return -1;
  }
  return 0;
}

int sp_client_call(struct sp_client *c, struct sp_msg *req, struct sp_msg *resp,
                   int timeout_ms, char *err, size_t errcap)
{
  memset(resp, 0, sizeof(*resp));
  req->req_id = ++c->next_req;
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  if (sp_msg_encode(req, &b) || sp_client_send_raw(c, b.data, b.len)) {
    snprintf(err, errcap, "cannot send the request");
    sp_buf_free(&b);
    return -1;
  }
  sp_buf_free(&b);
  int64_t deadline = mono_ms() + timeout_ms;
  for (;;) {
    const uint8_t *m;
    size_t n;
    int rc = next_message(c, deadline, &m, &n, err, errcap);
    if (rc <= 0) {
      if (rc == 0)
        snprintf(err, errcap, "no answer from the node within %d ms", timeout_ms);
      return -1;
    }
    /* decoded where it lies first: a message that is not the answer
     * (unsolicited, or late) must not take the place of the answers the
     * caller still holds */
    if (sp_msg_decode(m, n, resp) != SP_OK) {
      snprintf(err, errcap, "the node sent an undecodable message");
      return -1;
    }
    bool ours = resp->req_id == req->req_id;
    sp_msg_clear(resp);
    if (!ours)
      continue;
    uint8_t *copy = keep(c, m, n);
    if (copy == NULL) {
      snprintf(err, errcap, "out of memory");
      return -1;
    }
    if (sp_msg_decode(copy, n, resp) != SP_OK) {
      snprintf(err, errcap, "the node sent an undecodable message");
      return -1;
    }
    return 0;
  }
}
