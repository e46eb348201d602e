#include "sp/secure.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sp/crypto.h"
#include "sp/error.h"
#include "sp/frame.h"
#include "sp/msg.h"

#define SS_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define SS_TAG_MESSAGE crypto_secretstream_xchacha20poly1305_TAG_MESSAGE

_Static_assert(crypto_kx_PUBLICKEYBYTES == SP_KX_LEN, "ephemeral key size");
_Static_assert(crypto_kx_SESSIONKEYBYTES == crypto_secretstream_xchacha20poly1305_KEYBYTES,
               "session key size");
_Static_assert(crypto_secretstream_xchacha20poly1305_HEADERBYTES == SP_SECURE_HEADER_LEN,
               "stream header size");
_Static_assert(crypto_secretstream_xchacha20poly1305_ABYTES == SP_SECURE_ABYTES,
               "record overhead");

/* What the next frame from the peer must be. */
enum step {
  ST_NEW,    /* sp_secure_start not called yet */
  ST_HELLO,  /* peer HELLO (clear) */
  ST_HEADER, /* peer stream header */
  ST_AUTH,   /* first record: peer AUTH */
  ST_OPEN,   /* application records */
  ST_FAILED  /* err is set, secrets are gone */
};

struct sp_secure {
  enum step st;
  int err;
  int initiator;
  size_t max_msg;
  uint8_t chain_id[SP_HASH_LEN];
  uint8_t pk[SP_PK_LEN];
  uint8_t sk[SP_SK_LEN]; /* wiped as soon as our AUTH is signed */
  uint32_t role;
  char agent[SP_MAX_AGENT + 1];
  int expect_pk_set;
  uint8_t expect_pk[SP_PK_LEN];
  uint32_t expect_role;

  uint8_t eph_pk[SP_KX_LEN];
  uint8_t eph_sk[crypto_kx_SECRETKEYBYTES]; /* wiped as soon as the session keys exist */
  uint8_t peer_eph[SP_KX_LEN];
  uint8_t rx[crypto_kx_SESSIONKEYBYTES]; /* wiped once the peer's stream header is in */
  crypto_secretstream_xchacha20poly1305_state tx_st, rx_st;

  struct sp_frame_reader fr; /* its max follows the step: see set_step */
  uint8_t *pt;               /* plaintext of the last record */
  size_t pt_cap;
  size_t pt_len, pt_off; /* its messages not yet handed out: pt[pt_off..pt_len) */

  uint8_t *bt; /* the batch being filled: length-prefixed messages for one record */
  size_t bt_len, bt_cap;

  int authed; /* the peer's AUTH verified (stays set after a later failure) */
  uint8_t peer_pk[SP_PK_LEN];
  uint32_t peer_role;
  char peer_agent[SP_MAX_AGENT + 1];
};

static void wipe_secrets(struct sp_secure *s)
{
  sodium_memzero(s->sk, sizeof(s->sk));
  sodium_memzero(s->eph_sk, sizeof(s->eph_sk));
  sodium_memzero(s->rx, sizeof(s->rx));
  sodium_memzero(&s->tx_st, sizeof(s->tx_st));
  sodium_memzero(&s->rx_st, sizeof(s->rx_st));
  if (s->pt)
    sodium_memzero(s->pt, s->pt_cap);
  if (s->bt)
    sodium_memzero(s->bt, s->bt_cap);
  s->pt_len = s->pt_off = s->bt_len = 0;
}

/* A protocol failure: the connection is over. Keep nothing worth stealing. */
static int fail(struct sp_secure *s, int err)
{
  wipe_secrets(s);
  free(s->pt);
  s->pt = NULL;
  s->pt_cap = 0;
  free(s->bt);
  s->bt = NULL;
  s->bt_cap = 0;
  sp_frame_reader_free(&s->fr);
  s->st = ST_FAILED;
  s->err = err;
  return err;
}

/* The frame limit of each step: a peer that has not authenticated yet can
 * make us buffer no more than the largest AUTH record. */
static void set_step(struct sp_secure *s, enum step st)
{
  s->st = st;
  switch (st) {
  case ST_HELLO: s->fr.max = SP_SECURE_HELLO_LEN; break;
  case ST_HEADER: s->fr.max = SP_SECURE_HEADER_LEN; break;
  case ST_AUTH: s->fr.max = SP_SECURE_AUTH_MAX + SS_ABYTES; break;
  case ST_OPEN: s->fr.max = SP_SECURE_ITEM_HEADER + s->max_msg + SS_ABYTES; break;
  default: break;
  }
}

/* ---------------------------------------------------------------- life */

int sp_secure_new(const struct sp_secure_config *cfg, struct sp_secure **out)
{
  if (cfg == NULL || out == NULL || cfg->chain_id == NULL || cfg->pk == NULL ||
      cfg->sk == NULL)
    return SP_E_INVAL;
  if (cfg->role < SP_ROLE_VALIDATOR || cfg->role > SP_ROLE_WALLET)
    return SP_E_INVAL;
  if (cfg->expect_role != 0 &&
      (cfg->expect_role < SP_ROLE_VALIDATOR || cfg->expect_role > SP_ROLE_WALLET))
    return SP_E_INVAL;
  if (cfg->max_msg > SP_MAX_FRAME)
    return SP_E_INVAL;
  const char *agent = cfg->agent ? cfg->agent : "";
  size_t agent_len = strnlen(agent, SP_MAX_AGENT + 1);
  if (agent_len > SP_MAX_AGENT || !sp_text_valid(agent, agent_len))
    return SP_E_INVAL;
  /* libsodium's secret key ends in its public key: a mismatch would make us
   * sign AUTH for a key we announce but do not hold. */
  if (memcmp(cfg->sk + SP_SK_LEN - SP_PK_LEN, cfg->pk, SP_PK_LEN) != 0)
    return SP_E_INVAL;

  struct sp_secure *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return SP_E_NOMEM;
  s->initiator = cfg->initiator != 0;
  s->max_msg = cfg->max_msg ? cfg->max_msg : SP_MAX_FRAME;
  memcpy(s->chain_id, cfg->chain_id, SP_HASH_LEN);
  memcpy(s->pk, cfg->pk, SP_PK_LEN);
  memcpy(s->sk, cfg->sk, SP_SK_LEN);
  s->role = cfg->role;
  memcpy(s->agent, agent, agent_len);
  if (cfg->expect_pk) {
    s->expect_pk_set = 1;
    memcpy(s->expect_pk, cfg->expect_pk, SP_PK_LEN);
  }
  s->expect_role = cfg->expect_role;
  if (crypto_kx_keypair(s->eph_pk, s->eph_sk) != 0) {
    sp_secure_free(s);
    return SP_E_CRYPTO;
  }
  sp_frame_reader_init(&s->fr, SP_SECURE_HELLO_LEN);
  s->st = ST_NEW;
  *out = s;
  return SP_OK;
}

void sp_secure_free(struct sp_secure *s)
{
  if (s == NULL)
    return;
  wipe_secrets(s);
  free(s->pt);
  free(s->bt);
  sp_frame_reader_free(&s->fr);
  sodium_memzero(s, sizeof(*s));
  free(s);
}

/* ------------------------------------------------------------- sending */

/* One clear frame holding message m. */
static int put_clear(const struct sp_msg *m, size_t max, struct sp_buf *out)
{
  struct sp_buf b;
  sp_buf_init(&b, max);
  int rc = sp_msg_encode(m, &b);
  if (rc == SP_OK)
    rc = sp_frame_write(out, b.data, b.len, max);
  sp_buf_free(&b);
  return rc;
}

/* One record frame: length || push(m, tag MESSAGE). The room is taken in out
 * before the stream advances, so a full buffer leaves the stream in step. */
static int put_record(struct sp_secure *s, const uint8_t *m, size_t n, struct sp_buf *out)
{
  static const uint8_t pad[SS_ABYTES];
  size_t clen = n + SS_ABYTES;
  uint8_t h[SP_FRAME_HEADER] = {(uint8_t)(clen >> 24), (uint8_t)(clen >> 16),
                                (uint8_t)(clen >> 8), (uint8_t)clen};
  if (out->err)
    return out->err;
  size_t start = out->len;
  sp_buf_append(out, h, sizeof(h));
  sp_buf_append(out, m, n); /* reserves the ciphertext's room; push writes over it */
  sp_buf_append(out, pad, sizeof(pad));
  int rc = out->err;
  if (rc) {
    out->len = start;
    out->err = 0;
    return rc;
  }
  if (crypto_secretstream_xchacha20poly1305_push(&s->tx_st, out->data + start + sizeof(h),
                                                 NULL, m, n, NULL, 0, SS_TAG_MESSAGE) != 0) {
    sodium_memzero(out->data + start, out->len - start);
    out->len = start;
    return SP_E_CRYPTO;
  }
  return SP_OK;
}

int sp_secure_start(struct sp_secure *s, struct sp_buf *out)
{
  if (s->st == ST_FAILED)
    return s->err;
  if (s->st != ST_NEW)
    return SP_E_STATE;
  struct sp_msg m;
  memset(&m, 0, sizeof(m));
  m.type = SP_MSG_HELLO;
  memcpy(m.u.hello.chain_id, s->chain_id, SP_HASH_LEN);
  memcpy(m.u.hello.eph, s->eph_pk, SP_KX_LEN);
  int rc = put_clear(&m, SP_SECURE_HELLO_LEN, out);
  if (rc == SP_OK)
    set_step(s, ST_HELLO);
  return rc;
}

/* Our AUTH: the signature binds our static key and role to both ephemeral
 * keys of this session, so it is worthless in any other session. */
static int send_auth(struct sp_secure *s, struct sp_buf *out)
{
  struct sp_msg m;
  memset(&m, 0, sizeof(m));
  m.type = SP_MSG_AUTH;
  memcpy(m.u.auth.pk, s->pk, SP_PK_LEN);
  m.u.auth.role = s->role;
  m.u.auth.agent = sp_str_c(s->agent);

  struct sp_buf b;
  sp_buf_init(&b, SP_SECURE_AUTH_MAX);
  int rc = sp_auth_signbytes(s->pk, s->role, s->eph_pk, s->peer_eph, &b);
  if (rc == SP_OK)
    rc = sp_sign_dom(m.u.auth.sig, SP_DOM_HANDSHAKE, s->chain_id, b.data, b.len, s->sk);
  sodium_memzero(s->sk, sizeof(s->sk)); /* needed for nothing else */
  if (rc == SP_OK) {
    sp_buf_reset(&b);
    rc = sp_msg_encode(&m, &b);
  }
  if (rc == SP_OK)
    rc = put_record(s, b.data, b.len, out);
  if (b.data)
    sodium_memzero(b.data, b.cap);
  sp_buf_free(&b);
  return rc;
}

/* Checks shared by sp_secure_queue and sp_secure_seal. */
static int check_app_msg(const struct sp_secure *s, const uint8_t *m, size_t n)
{
  if (s->st == ST_FAILED)
    return s->err;
  if (s->st != ST_OPEN)
    return SP_E_STATE;
  if (n == 0)
    return SP_E_FRAME_EMPTY;
  if (n > s->max_msg)
    return SP_E_FRAME_TOO_BIG;
  uint64_t type = sp_msg_peek_type(m, n);
  if (type == SP_MSG_HELLO || type == SP_MSG_AUTH)
    return SP_E_INVAL; /* the peer would close on it */
  return SP_OK;
}

/* Seal the batch as one record; the buffer stays for the next batch. */
static int seal_batch(struct sp_secure *s, struct sp_buf *out)
{
  int rc = put_record(s, s->bt, s->bt_len, out);
  if (rc == SP_OK) {
    sodium_memzero(s->bt, s->bt_len);
    s->bt_len = 0;
  }
  return rc;
}

int sp_secure_flush(struct sp_secure *s, struct sp_buf *out)
{
  if (s->st == ST_FAILED)
    return s->err;
  if (s->bt_len == 0)
    return SP_OK;
  int rc = seal_batch(s, out);
  if (rc == SP_OK && s->bt_cap > SP_SECURE_BATCH_KEEP) { /* after a block: give it back */
    free(s->bt);
    s->bt = NULL;
    s->bt_cap = 0;
  }
  return rc;
}

int sp_secure_queue(struct sp_secure *s, const uint8_t *m, size_t n, struct sp_buf *out)
{
  int rc = check_app_msg(s, m, n);
  if (rc)
    return rc;
  size_t item = SP_SECURE_ITEM_HEADER + n, limit = SP_SECURE_ITEM_HEADER + s->max_msg;
  /* a record holds at most one message of the largest size: when m does
   * not fit, the batch so far is sealed first */
  bool seal_first = s->bt_len > 0 && s->bt_len + item > limit;
  size_t need = (seal_first ? 0 : s->bt_len) + item;
  uint8_t *room = NULL; /* a bigger buffer, allocated before anything changes */
  size_t cap = s->bt_cap;
  if (need > cap) {
    cap = cap ? cap : 4096;
    while (cap < need)
      cap *= 2;
    if (cap > limit)
      cap = need > limit ? need : limit;
    if ((room = malloc(cap)) == NULL)
      return SP_E_NOMEM;
  }
  if (seal_first && (rc = seal_batch(s, out))) {
    free(room);
    return rc;
  }
  if (room) {
    if (s->bt) {
      memcpy(room, s->bt, s->bt_len);
      sodium_memzero(s->bt, s->bt_cap);
      free(s->bt);
    }
    s->bt = room;
    s->bt_cap = cap;
  }
  uint8_t *d = s->bt + s->bt_len;
  d[0] = (uint8_t)(n >> 24);
  d[1] = (uint8_t)(n >> 16);
  d[2] = (uint8_t)(n >> 8);
  d[3] = (uint8_t)n;
  memcpy(d + SP_SECURE_ITEM_HEADER, m, n);
  s->bt_len += item;
  return SP_OK;
}

size_t sp_secure_queued(const struct sp_secure *s)
{
  return s->bt_len;
}

int sp_secure_seal(struct sp_secure *s, const uint8_t *m, size_t n, struct sp_buf *out)
{
  int rc = check_app_msg(s, m, n);
  if (rc || (rc = sp_secure_flush(s, out))) /* what was queued goes first */
    return rc;
  if ((rc = sp_secure_queue(s, m, n, out)) == SP_OK && (rc = sp_secure_flush(s, out)) != SP_OK) {
    sodium_memzero(s->bt, s->bt_len); /* nothing of m was sealed: it is not sent */
    s->bt_len = 0;
  }
  return rc;
}

/* ----------------------------------------------------------- receiving */

static int on_hello(struct sp_secure *s, const uint8_t *f, size_t len, struct sp_buf *out)
{
  struct sp_msg m;
  int rc = sp_msg_decode(f, len, &m);
  if (rc)
    return rc;
  if (m.type != SP_MSG_HELLO) {
    sp_msg_clear(&m);
    return SP_E_STATE;
  }
  if (memcmp(m.u.hello.chain_id, s->chain_id, SP_HASH_LEN) != 0)
    return SP_E_HANDSHAKE; /* another network */
  memcpy(s->peer_eph, m.u.hello.eph, SP_KX_LEN);
  if (memcmp(s->peer_eph, s->eph_pk, SP_KX_LEN) == 0)
    return SP_E_HANDSHAKE; /* our own HELLO reflected back */

  uint8_t tx[crypto_kx_SESSIONKEYBYTES], hdr[SP_SECURE_HEADER_LEN];
  if (s->initiator)
    rc = crypto_kx_client_session_keys(s->rx, tx, s->eph_pk, s->eph_sk, s->peer_eph);
  else
    rc = crypto_kx_server_session_keys(s->rx, tx, s->eph_pk, s->eph_sk, s->peer_eph);
  sodium_memzero(s->eph_sk, sizeof(s->eph_sk)); /* forward secrecy starts here */
  if (rc != 0) {
    sodium_memzero(tx, sizeof(tx));
    return SP_E_HANDSHAKE; /* e.g. a low-order peer key */
  }
  rc = crypto_secretstream_xchacha20poly1305_init_push(&s->tx_st, hdr, tx);
  sodium_memzero(tx, sizeof(tx));
  if (rc != 0)
    return SP_E_CRYPTO;
  rc = sp_frame_write(out, hdr, sizeof(hdr), sizeof(hdr));
  if (rc == SP_OK)
    rc = send_auth(s, out);
  if (rc == SP_OK)
    set_step(s, ST_HEADER);
  return rc;
}

static int on_header(struct sp_secure *s, const uint8_t *f, size_t len)
{
  if (len != SP_SECURE_HEADER_LEN)
    return SP_E_HANDSHAKE;
  int rc = crypto_secretstream_xchacha20poly1305_init_pull(&s->rx_st, f, s->rx);
  sodium_memzero(s->rx, sizeof(s->rx));
  if (rc != 0)
    return SP_E_HANDSHAKE;
  set_step(s, ST_AUTH);
  return SP_OK;
}

/* Decrypt one record into s->pt. Anything but a MESSAGE record with at least
 * one byte of plaintext is refused: the other tags (PUSH, REKEY, FINAL) have
 * no meaning in this protocol. */
static int open_record(struct sp_secure *s, const uint8_t *c, size_t clen, size_t *plen)
{
  if (clen <= SS_ABYTES)
    return SP_E_DECRYPT;
  size_t n = clen - SS_ABYTES;
  if (n > s->pt_cap) {
    size_t cap = n < 256 ? 256 : n;
    uint8_t *pt = malloc(cap);
    if (pt == NULL)
      return SP_E_NOMEM;
    if (s->pt)
      sodium_memzero(s->pt, s->pt_cap);
    free(s->pt);
    s->pt = pt;
    s->pt_cap = cap;
  }
  unsigned long long mlen = 0;
  unsigned char tag = 0xff;
  if (crypto_secretstream_xchacha20poly1305_pull(&s->rx_st, s->pt, &mlen, &tag, c, clen, NULL,
                                                 0) != 0 ||
      tag != SS_TAG_MESSAGE || mlen != n)
    return SP_E_DECRYPT;
  *plen = n;
  return SP_OK;
}

static int on_auth(struct sp_secure *s, const uint8_t *f, size_t len)
{
  size_t n;
  int rc = open_record(s, f, len, &n);
  if (rc)
    return rc;
  struct sp_msg m;
  rc = sp_msg_decode(s->pt, n, &m);
  if (rc)
    return rc;
  if (m.type != SP_MSG_AUTH) {
    sp_msg_clear(&m);
    return SP_E_STATE;
  }
  const struct sp_msg_auth *a = &m.u.auth;
  if ((s->expect_pk_set && memcmp(a->pk, s->expect_pk, SP_PK_LEN) != 0) ||
      (s->expect_role && a->role != s->expect_role)) {
    sp_msg_clear(&m);
    return SP_E_AUTH;
  }
  /* The peer signed with its own ephemeral key first and ours second. */
  struct sp_buf b;
  sp_buf_init(&b, SP_SECURE_AUTH_MAX);
  rc = sp_auth_signbytes(a->pk, a->role, s->peer_eph, s->eph_pk, &b);
  if (rc == SP_OK)
    rc = sp_verify_dom(a->sig, SP_DOM_HANDSHAKE, s->chain_id, b.data, b.len, a->pk);
  sp_buf_free(&b);
  if (rc == SP_E_BADSIG)
    rc = SP_E_AUTH;
  if (rc == SP_OK) {
    memcpy(s->peer_pk, a->pk, SP_PK_LEN);
    s->peer_role = a->role;
    if (a->agent.len) /* <= SP_MAX_AGENT, decoder-checked */
      memcpy(s->peer_agent, a->agent.p, a->agent.len);
    s->peer_agent[a->agent.len] = '\0';
    s->authed = 1;
    set_step(s, ST_OPEN);
  }
  sp_msg_clear(&m);
  return rc;
}

static size_t item_len(const uint8_t *p)
{
  return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

/* The plaintext of an application record, pt[0..n), is one or more items
 * `length (4 bytes, big-endian) || message`, filling it exactly; each
 * message is 1 ..= max_msg bytes and not a HELLO or AUTH. All of it is
 * checked before the first message is handed out. */
static int check_batch(const struct sp_secure *s, size_t n)
{
  size_t off = 0;
  while (off < n) {
    if (n - off < SP_SECURE_ITEM_HEADER)
      return SP_E_TRUNCATED;
    size_t len = item_len(s->pt + off);
    off += SP_SECURE_ITEM_HEADER;
    if (len == 0)
      return SP_E_FRAME_EMPTY;
    if (len > s->max_msg)
      return SP_E_FRAME_TOO_BIG;
    if (len > n - off)
      return SP_E_TRUNCATED;
    uint64_t type = sp_msg_peek_type(s->pt + off, len);
    if (type == SP_MSG_HELLO || type == SP_MSG_AUTH)
      return SP_E_STATE; /* the handshake is over */
    off += len;
  }
  return SP_OK;
}

/* Hand out the next message of a checked record. */
static void next_item(struct sp_secure *s, const uint8_t **msg, size_t *msg_len)
{
  size_t len = item_len(s->pt + s->pt_off);
  *msg = s->pt + s->pt_off + SP_SECURE_ITEM_HEADER;
  *msg_len = len;
  s->pt_off += SP_SECURE_ITEM_HEADER + len;
}

/* 1 with an application message, 0 when the frame was handshake, or < 0. */
static int on_frame(struct sp_secure *s, const uint8_t *f, size_t len, struct sp_buf *out,
                    const uint8_t **msg, size_t *msg_len)
{
  switch (s->st) {
  case ST_HELLO: return on_hello(s, f, len, out);
  case ST_HEADER: return on_header(s, f, len);
  case ST_AUTH: return on_auth(s, f, len);
  case ST_OPEN: {
    size_t n;
    int rc = open_record(s, f, len, &n);
    if (rc == SP_OK)
      rc = check_batch(s, n);
    if (rc)
      return rc;
    s->pt_len = n;
    s->pt_off = 0;
    next_item(s, msg, msg_len);
    return 1;
  }
  default: return SP_E_STATE;
  }
}

int sp_secure_feed(struct sp_secure *s, const uint8_t *p, size_t n, size_t *used,
                   struct sp_buf *out, const uint8_t **msg, size_t *msg_len)
{
  *used = 0;
  if (s->st == ST_FAILED)
    return s->err;
  if (s->st == ST_NEW)
    return SP_E_STATE;
  if (s->pt_off < s->pt_len) { /* the rest of the last record first */
    next_item(s, msg, msg_len);
    return 1;
  }
  size_t off = 0;
  while (off < n) {
    size_t u = 0, len = 0;
    const uint8_t *f = NULL;
    int rc = sp_frame_reader_feed(&s->fr, p + off, n - off, &u, &f, &len);
    off += u;
    *used = off;
    if (rc < 0)
      return fail(s, rc);
    if (rc == 0)
      break;
    rc = on_frame(s, f, len, out, msg, msg_len);
    if (rc < 0)
      return fail(s, rc);
    if (rc == 1)
      return 1;
  }
  return 0;
}

/* ------------------------------------------------------------- queries */

int sp_secure_has_message(const struct sp_secure *s)
{
  return s->st == ST_OPEN && s->pt_off < s->pt_len;
}

int sp_secure_established(const struct sp_secure *s)
{
  return s->st == ST_OPEN;
}

int sp_secure_error(const struct sp_secure *s)
{
  return s->st == ST_FAILED ? s->err : SP_OK;
}

int sp_secure_peer(const struct sp_secure *s, uint8_t pk[static SP_PK_LEN], uint32_t *role,
                   const char **agent)
{
  if (!s->authed)
    return SP_E_STATE;
  memcpy(pk, s->peer_pk, SP_PK_LEN);
  if (role)
    *role = s->peer_role;
  if (agent)
    *agent = s->peer_agent;
  return SP_OK;
}
