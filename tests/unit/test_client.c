/* The wallet's node client (wallet-cli/client.c) against a fake node on
 * 127.0.0.1: a thread that completes the handshake and answers by script.
 *
 * - An answer the caller holds survives unrelated messages read while it
 *   waits for a later answer (session 5 fixed a use-after-free there:
 *   every message read was kept, and only the last four are). Under the
 *   sanitizer build a freed answer is a report, not a silent pass.
 * - The messages of one record (a batch, docs/protocol.md 9.4) all reach
 *   the caller, in order, with nothing more to read from the socket. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "fake_node.h"
#include "sp/secure.h"
#include "sp/proto.h"

#define STRAYS 6

static const uint8_t CHAIN[SP_HASH_LEN] = {0x5c, 0x11, 0xe7};

enum mode {
  M_SEPARATE, /* every message in a record of its own */
  M_BATCHED   /* the strays and the answer in one record */
};

struct fake {
  int listen_fd, port;
  enum mode mode;
  pthread_t thread;
  size_t answered;
  int failed; /* what went wrong in the fake, for the test to report */
  char why[128];
};

static void fake_fail(struct fake *f, const char *why)
{
  if (!f->failed) {
    f->failed = 1;
    snprintf(f->why, sizeof(f->why), "%s", why);
  }
}

/* Encode m and queue it for one record (or seal it alone). */
static int put(struct sp_secure *s, struct sp_msg *m, bool alone, struct sp_buf *out)
{
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  int rc = sp_msg_encode(m, &b);
  if (rc == SP_OK)
    rc = alone ? sp_secure_seal(s, b.data, b.len, out) : sp_secure_queue(s, b.data, b.len, out);
  sp_buf_free(&b);
  return rc;
}

static void stray(struct sp_msg *m, uint32_t i)
{
  memset(m, 0, sizeof(*m));
  m->type = SP_MSG_STATUS_A;
  m->req_id = i % 2 ? 0 : 1000 + i; /* unsolicited, or for a request never made */
  memcpy(m->u.status.chain_id, CHAIN, SP_HASH_LEN);
  m->u.status.height = 100 + i;
  m->u.status.role = SP_ROLE_VALIDATOR;
  m->u.status.version = sp_str_c("stray");
}

/* The answer to request q: a balance with three rows, or a status. */
static void answer(struct sp_msg *a, const struct sp_msg *q)
{
  static const char *const funds[] = {"cultuur-2027", "school-2027", "sport-2027"};
  memset(a, 0, sizeof(*a));
  a->req_id = q->req_id;
  if (q->type == SP_MSG_BALANCE_Q) {
    a->type = SP_MSG_BALANCE_A;
    memcpy(a->u.balance.account, q->u.account.account, SP_PK_LEN);
    a->u.balance.kind = SP_ACCT_PASS;
    a->u.balance.status = SP_ACCT_ACTIVE;
    a->u.balance.seq = 7;
    a->u.balance.n_rows = 3;
    for (uint32_t i = 0; i < 3; i++) {
      a->u.balance.rows[i].fund = sp_str_c(funds[i]);
      a->u.balance.rows[i].amount = 1000u * (i + 1);
    }
  } else {
    a->type = SP_MSG_STATUS_A;
    memcpy(a->u.status.chain_id, CHAIN, SP_HASH_LEN);
    a->u.status.height = 42;
    a->u.status.role = SP_ROLE_OBSERVER;
    a->u.status.version = sp_str_c("fake/1");
  }
}

/* Every request is answered; before each answer after the first, STRAYS
 * messages nobody asked for. */
static int fake_answer(void *ctx, const struct sp_msg *q, struct sp_secure *s,
                       struct sp_buf *out)
{
  struct fake *f = ctx;
  struct sp_msg a;
  bool alone = f->mode == M_SEPARATE;
  for (uint32_t i = 0; f->answered > 0 && i < STRAYS; i++) {
    stray(&a, i);
    if (put(s, &a, alone, out) != SP_OK)
      return -1;
  }
  answer(&a, q);
  if (put(s, &a, alone, out) != SP_OK)
    return -1;
  f->answered++;
  return 0;
}

static void *fake_run(void *arg)
{
  struct fake *f = arg;
  int fd = accept(f->listen_fd, NULL, NULL);
  if (fd < 0) {
    fake_fail(f, "accept");
    return NULL;
  }
  char why[128];
  fk_serve(fd, CHAIN, "fake", NULL, fake_answer, f, why, sizeof(why));
  if (why[0])
    fake_fail(f, why);
  return NULL;
}

static void fake_start(struct fake *f, enum mode mode)
{
  memset(f, 0, sizeof(*f));
  f->mode = mode;
  f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(f->listen_fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(f->listen_fd, 1), 0);
  socklen_t al = sizeof(a);
  assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&a, &al), 0);
  f->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&f->thread, NULL, fake_run, f), 0);
}

static void fake_stop(struct fake *f)
{
  pthread_join(f->thread, NULL);
  close(f->listen_fd);
  if (f->failed)
    fail_msg("fake node: %s", f->why);
}

static struct sp_client *connect_wallet(const struct fake *f)
{
  uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN];
  crypto_sign_keypair(pk, sk);
  struct sp_client *c = NULL;
  char err[256];
  if (sp_client_connect(&c, "127.0.0.1", f->port, CHAIN, pk, sk, 5000, err, sizeof(err)) != 0)
    fail_msg("connect: %s", err);
  return c;
}

/* A balance answer held while a status call reads STRAYS other messages. */
static void held_answer(enum mode mode)
{
  struct fake f;
  fake_start(&f, mode);
  struct sp_client *c = connect_wallet(&f);
  struct sp_msg q, bal, st;
  char err[256];
  memset(&q, 0, sizeof(q));
  q.type = SP_MSG_BALANCE_Q;
  memset(q.u.account.account, 0x42, SP_PK_LEN);
  if (sp_client_call(c, &q, &bal, 5000, err, sizeof(err)) != 0)
    fail_msg("balance: %s", err);
  memset(&q, 0, sizeof(q));
  q.type = SP_MSG_STATUS_Q;
  if (sp_client_call(c, &q, &st, 5000, err, sizeof(err)) != 0)
    fail_msg("status: %s", err);
  assert_int_equal(st.type, SP_MSG_STATUS_A);
  assert_int_equal(st.u.status.height, 42);
  assert_true(sp_str_eq(st.u.status.version, sp_str_c("fake/1")));
  /* the balance answer's views are still good */
  assert_int_equal(bal.type, SP_MSG_BALANCE_A);
  assert_int_equal(bal.u.balance.n_rows, 3);
  assert_true(sp_str_eq(bal.u.balance.rows[0].fund, sp_str_c("cultuur-2027")));
  assert_true(sp_str_eq(bal.u.balance.rows[2].fund, sp_str_c("sport-2027")));
  assert_int_equal(bal.u.balance.rows[1].amount, 2000);
  sp_msg_clear(&st);
  sp_msg_clear(&bal);
  sp_client_close(c);
  fake_stop(&f);
}

static void test_held_answer_separate_records(void **state)
{
  (void)state;
  held_answer(M_SEPARATE);
}

static void test_held_answer_one_record(void **state)
{
  (void)state;
  held_answer(M_BATCHED);
}

/* Three pipelined requests; the node answers each with the strays before
 * it, everything in one record: every message comes out of sp_client_recv
 * in order, although the socket has nothing more to read. */
static void test_pipelined_batch(void **state)
{
  (void)state;
  struct fake f;
  fake_start(&f, M_BATCHED);
  struct sp_client *c = connect_wallet(&f);
  uint32_t ids[3];
  for (int i = 0; i < 3; i++) {
    struct sp_msg q;
    memset(&q, 0, sizeof(q));
    q.type = SP_MSG_STATUS_Q;
    assert_int_equal(sp_client_send(c, &q, &ids[i]), 0);
  }
  size_t strays = 0, answers = 0;
  char err[256];
  while (answers < 3) {
    struct sp_msg m;
    if (sp_client_recv(c, &m, 5000, err, sizeof(err)) != 0)
      fail_msg("recv after %zu answers and %zu strays: %s", answers, strays, err);
    assert_int_equal(m.type, SP_MSG_STATUS_A);
    if (m.req_id == ids[answers]) {
      assert_int_equal(m.u.status.height, 42);
      answers++;
    } else {
      assert_true(sp_str_eq(m.u.status.version, sp_str_c("stray")));
      strays++;
    }
    sp_msg_clear(&m);
  }
  assert_int_equal(strays, 2 * STRAYS); /* before the second and the third */
  sp_client_close(c);
  fake_stop(&f);
}

int main(void)
{
  if (sodium_init() < 0 || sp_crypto_init() != SP_OK)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_held_answer_separate_records),
      cmocka_unit_test(test_held_answer_one_record),
      cmocka_unit_test(test_pipelined_batch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
