/* Secure channel (proto/src/secure.c): hostile bytes from the network.
 *
 * Byte 0, bit 0 chooses the target:
 *
 * 0: a fresh endpoint (bit 1: initiator, else responder) is fed the rest of
 *    the input as its peer's stream, in pieces of (byte 0 >> 3) + 1 bytes
 *    (32: all at once); with bit 2 the harness first feeds it a valid HELLO
 *    of the fuzz chain, so the input starts at the stream header. It must
 *    never crash, never deliver a message and never complete the handshake
 *    (that would take the endpoint's fresh ephemeral key); after an error
 *    every feed returns the same error.
 *
 * 1: two endpoints complete a handshake in the harness; the rest of the input
 *    is a script of what the peer sends the target (bit 1: the target is the
 *    initiator). Each op byte: low 2 bits the kind, high 6 bits `arg`:
 *      0 seal   the peer seals the next L input bytes (L = next byte, plus
 *               256 * the byte after it if arg is odd); with arg bit 1 it
 *               queues them instead, for a record of several messages
 *      1 raw    the next L input bytes go on the wire as they are
 *      2 flip   flip bit (arg & 7) of the pending byte at offset
 *               (next 2 bytes) % pending
 *      3 flush  the peer seals what it queued; deliver the pending bytes,
 *               in pieces of arg + 1 (63: whole)
 *    and everything pending is delivered at the end. Whatever is tampered
 *    with, every message delivered is the next message the peer sealed
 *    (nobody can forge a record); untouched, all of them arrive and nothing
 *    fails. */
#include "fuzz_common.h"

#include "sp/secure.h"

#define MAX_MSG 1024 /* small, so the fuzzer reaches the record limit */
#define MAX_SEALED 4096

static const char *const AGENT = "fuzz/1";

static struct sp_secure *endpoint(int initiator, uint8_t which)
{
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN];
  fuzz_key(which, pk, sk);
  struct sp_secure_config cfg = {.initiator = initiator, .chain_id = FUZZ_CHAIN_ID, .pk = pk,
                                 .sk = sk, .role = SP_ROLE_VALIDATOR, .agent = AGENT,
                                 .max_msg = MAX_MSG};
  struct sp_secure *s = NULL;
  FUZZ_CHECK(sp_secure_new(&cfg, &s) == SP_OK);
  memset(sk, 0, sizeof(sk));
  return s;
}

static int known_error(int rc)
{
  return rc < 0 && rc > SP__E_FIRST && rc < SP__E_LAST;
}

static void check_sticky(struct sp_secure *s, int err, const uint8_t *p, size_t n)
{
  struct sp_buf out;
  sp_buf_init(&out, 1 << 16);
  size_t used = 1;
  const uint8_t *m = NULL;
  size_t len = 0;
  FUZZ_CHECK(sp_secure_feed(s, p, n, &used, &out, &m, &len) == err);
  FUZZ_CHECK(used == 0 && out.len == 0);
  FUZZ_CHECK(sp_secure_error(s) == err && !sp_secure_established(s));
  sp_buf_free(&out);
}

/* ------------------------------------------------------- raw stream */

static void run_raw(uint8_t ctl, const uint8_t *p, size_t n)
{
  struct sp_secure *s = endpoint((ctl >> 1) & 1, 0x21);
  struct sp_buf out;
  sp_buf_init(&out, 1 << 20);
  FUZZ_CHECK(sp_secure_start(s, &out) == SP_OK);
  int rc = 0;
  if (ctl & 4) {
    struct sp_msg h;
    memset(&h, 0, sizeof(h));
    h.type = SP_MSG_HELLO;
    memcpy(h.u.hello.chain_id, FUZZ_CHAIN_ID, SP_HASH_LEN);
    h.u.hello.eph[0] = 9; /* the X25519 base point: a valid public key */
    struct sp_buf b, f;
    sp_buf_init(&b, 128);
    sp_buf_init(&f, 128);
    FUZZ_CHECK(sp_msg_encode(&h, &b) == SP_OK);
    FUZZ_CHECK(sp_frame_write(&f, b.data, b.len, b.len) == SP_OK);
    size_t used = 0, len = 0;
    const uint8_t *m = NULL;
    FUZZ_CHECK(sp_secure_feed(s, f.data, f.len, &used, &out, &m, &len) == 0);
    FUZZ_CHECK(used == f.len);
    FUZZ_CHECK(out.len > SP_SECURE_HELLO_OUT); /* header and AUTH sent */
    sp_buf_free(&b);
    sp_buf_free(&f);
  }
  size_t piece = (size_t)(ctl >> 3) + 1, off = 0;
  if (piece == 32)
    piece = n;
  while (off < n && rc == 0) {
    size_t end = n - off < piece ? n : off + piece;
    while (off < end) {
      size_t used = 0, len = 0;
      const uint8_t *m = NULL;
      rc = sp_secure_feed(s, p + off, end - off, &used, &out, &m, &len);
      FUZZ_CHECK(used <= end - off);
      off += used;
      FUZZ_CHECK(rc != 1); /* no message without a handshake */
      if (rc < 0) {
        FUZZ_CHECK(known_error(rc));
        break;
      }
      FUZZ_CHECK(off == end);
    }
    FUZZ_CHECK(!sp_secure_established(s));
  }
  if (rc < 0)
    check_sticky(s, rc, p, n);
  /* what it sent: HELLO, and at most header + AUTH */
  FUZZ_CHECK(out.len == SP_SECURE_HELLO_OUT ||
             (out.len > SP_SECURE_HELLO_OUT &&
              out.len <= SP_SECURE_HELLO_OUT + SP_SECURE_HANDSHAKE_OUT));
  sp_buf_free(&out);
  sp_secure_free(s);
}

/* ------------------------------------------- scripted established peer */

struct script {
  struct sp_secure *target, *peer;
  struct sp_buf wire; /* peer -> target, pending */
  struct sp_buf sink; /* whatever the target sends (nothing, once open) */
  struct sp_buf sealed; /* plaintexts the peer sealed, back to back */
  size_t sealed_len[MAX_SEALED];
  size_t n_sealed, n_got, got_off;
  int rc;
};

/* Pipe a's output into b and back until both are quiet. */
static void handshake(struct sp_secure *a, struct sp_secure *b)
{
  struct sp_buf ab, ba;
  sp_buf_init(&ab, 1 << 16);
  sp_buf_init(&ba, 1 << 16);
  FUZZ_CHECK(sp_secure_start(a, &ab) == SP_OK);
  FUZZ_CHECK(sp_secure_start(b, &ba) == SP_OK);
  for (int round = 0; round < 4; round++) {
    size_t used = 0, len = 0;
    const uint8_t *m = NULL;
    struct sp_buf tmp;
    sp_buf_init(&tmp, 1 << 16);
    FUZZ_CHECK(sp_secure_feed(b, ab.data, ab.len, &used, &tmp, &m, &len) == 0);
    FUZZ_CHECK(used == ab.len);
    sp_buf_reset(&ab);
    FUZZ_CHECK(sp_secure_feed(a, ba.data, ba.len, &used, &ab, &m, &len) == 0);
    FUZZ_CHECK(used == ba.len);
    sp_buf_reset(&ba);
    sp_buf_append(&ba, tmp.data, tmp.len);
    sp_buf_free(&tmp);
  }
  FUZZ_CHECK(sp_secure_established(a) && sp_secure_established(b));
  FUZZ_CHECK(ab.len == 0 && ba.len == 0);
  sp_buf_free(&ab);
  sp_buf_free(&ba);
}

static void deliver(struct script *sc, size_t piece)
{
  FUZZ_CHECK(sp_secure_flush(sc->peer, &sc->wire) == SP_OK);
  size_t off = 0, n = sc->wire.len;
  if (piece == 0)
    piece = n;
  static const uint8_t none;
  while ((off < n || sp_secure_has_message(sc->target)) && sc->rc == 0) {
    size_t end = n - off < piece ? n : off + piece;
    while (off < end || sp_secure_has_message(sc->target)) {
      size_t used = 0, len = 0;
      const uint8_t *m = NULL;
      const uint8_t *in = off < n ? sc->wire.data + off : &none;
      int rc = sp_secure_feed(sc->target, in, end - off, &used, &sc->sink, &m, &len);
      FUZZ_CHECK(used <= end - off);
      off += used;
      if (rc < 0) {
        FUZZ_CHECK(known_error(rc));
        sc->rc = rc;
        break;
      }
      if (rc == 0) {
        FUZZ_CHECK(off == end);
        continue;
      }
      /* a message: exactly the next one the peer sealed */
      FUZZ_CHECK(rc == 1 && len >= 1 && len <= MAX_MSG);
      FUZZ_CHECK(sc->n_got < sc->n_sealed);
      FUZZ_CHECK(len == sc->sealed_len[sc->n_got]);
      FUZZ_CHECK(memcmp(m, sc->sealed.data + sc->got_off, len) == 0);
      sc->got_off += len;
      sc->n_got++;
    }
  }
  FUZZ_CHECK(sc->sink.len == 0); /* nothing to answer once established */
  sp_buf_reset(&sc->wire);
}

static void run_script(uint8_t ctl, const uint8_t *p, size_t n)
{
  struct script sc;
  memset(&sc, 0, sizeof(sc));
  int target_initiator = (ctl >> 1) & 1;
  sc.target = endpoint(target_initiator, 0x22);
  sc.peer = endpoint(!target_initiator, 0x23);
  if (target_initiator)
    handshake(sc.target, sc.peer);
  else
    handshake(sc.peer, sc.target);
  sp_buf_init(&sc.wire, 1 << 24);
  sp_buf_init(&sc.sink, 1 << 16);
  sp_buf_init(&sc.sealed, 1 << 24);

  int tainted = 0;
  size_t off = 0;
  while (off < n) {
    uint8_t op = p[off++];
    unsigned arg = op >> 2;
    switch (op & 3) {
    case 0:
    case 1: {
      size_t len = 0;
      if (off < n)
        len = p[off++];
      if ((op & 3) == 0 && (arg & 1) && off < n)
        len += (size_t)p[off++] << 8;
      if (len > n - off)
        len = n - off;
      if ((op & 3) == 1) {
        sp_buf_append(&sc.wire, p + off, len);
        tainted |= len > 0;
      } else {
        int rc = (arg & 2) ? sp_secure_queue(sc.peer, p + off, len, &sc.wire)
                           : sp_secure_seal(sc.peer, p + off, len, &sc.wire);
        FUZZ_CHECK(rc == SP_OK || rc == SP_E_FRAME_EMPTY || rc == SP_E_FRAME_TOO_BIG ||
                   rc == SP_E_INVAL);
        FUZZ_CHECK((rc == SP_E_FRAME_EMPTY) == (len == 0));
        FUZZ_CHECK((rc == SP_E_FRAME_TOO_BIG) == (len > MAX_MSG));
        if (rc == SP_OK && sc.n_sealed < MAX_SEALED) {
          sp_buf_append(&sc.sealed, p + off, len);
          sc.sealed_len[sc.n_sealed++] = len;
        } else if (rc == SP_OK) {
          tainted = 1; /* not recorded: the rest cannot be compared */
        }
      }
      off += len;
      break;
    }
    case 2: {
      size_t at = 0;
      if (off < n)
        at = p[off++];
      if (off < n)
        at = at << 8 | p[off++];
      if (sc.wire.len) {
        sc.wire.data[at % sc.wire.len] ^= (uint8_t)(1u << (arg & 7));
        tainted = 1;
      }
      break;
    }
    default:
      deliver(&sc, arg == 63 ? 0 : (size_t)arg + 1);
      break;
    }
    FUZZ_CHECK(sc.wire.err == 0 && sc.sealed.err == 0);
  }
  deliver(&sc, 0);

  if (!tainted) {
    FUZZ_CHECK(sc.rc == 0);
    FUZZ_CHECK(sc.n_got == sc.n_sealed);
    FUZZ_CHECK(sp_secure_established(sc.target));
  }
  if (sc.rc)
    check_sticky(sc.target, sc.rc, p, n);

  uint8_t pk[SP_PK_LEN], want[SP_PK_LEN], sk[SP_SK_LEN];
  uint32_t role = 0;
  const char *agent = NULL;
  FUZZ_CHECK(sp_secure_peer(sc.target, pk, &role, &agent) == SP_OK); /* even after a failure */
  fuzz_key(0x23, want, sk);
  FUZZ_CHECK(memcmp(pk, want, SP_PK_LEN) == 0 && role == SP_ROLE_VALIDATOR);
  FUZZ_CHECK(strcmp(agent, AGENT) == 0);

  sp_buf_free(&sc.wire);
  sp_buf_free(&sc.sink);
  sp_buf_free(&sc.sealed);
  sp_secure_free(sc.target);
  sp_secure_free(sc.peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_init();
  if (size < 1)
    return 0;
  if (data[0] & 1)
    run_script(data[0], data + 1, size - 1);
  else
    run_raw(data[0], data + 1, size - 1);
  return 0;
}
