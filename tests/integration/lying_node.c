/* lying_node: a node that serves a real chain dishonestly, for the
 * auditor's tests (test_wallet.sh). It answers STATUS_Q and BLOCKS_Q from
 * a copy of a real node's ledger, with one lie:
 *
 *   withhold:H  blocks from height H on are not served (an empty or short
 *               BLOCKS_A), while STATUS_A reports the real tip;
 *   taller      STATUS_A reports one block more than the ledger has;
 *   tip         STATUS_A reports the real height with another tip hash;
 *   flip:H      block H is served with one byte changed where any value still
 *               decodes: in its first transaction's signature, or in its
 *               last commit's when it has no transaction.
 *
 *   lying_node --data DIR --port-file FILE --lie LIE
 *
 * Listens on 127.0.0.1 (port 0: the port is written to FILE), serves one
 * connection at a time, and exits on SIGTERM or after 120 s. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_node.h"
#include "sp/ledger.h"
#include "sp/proto.h"
#include "sp/secure.h"
#include "wire.h"

#define LIFETIME_S 120

enum lie { L_WITHHOLD, L_TALLER, L_TIP, L_FLIP };

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
  (void)sig;
  stop = 1;
}

static int die(const char *what)
{
  fprintf(stderr, "lying_node: %s\n", what);
  return 1;
}

struct liar {
  struct sp_ledger *l;
  enum lie lie;
  uint64_t at; /* H of withhold:H and flip:H */
  uint8_t chain_id[SP_HASH_LEN];
};

static void status_a(const struct liar *z, uint32_t req, struct sp_buf *out)
{
  struct sp_tip tip;
  struct sp_msg a;
  memset(&a, 0, sizeof(a));
  sp_ledger_tip(z->l, &tip);
  a.type = SP_MSG_STATUS_A;
  a.req_id = req;
  memcpy(a.u.status.chain_id, z->chain_id, SP_HASH_LEN);
  a.u.status.height = tip.height + (z->lie == L_TALLER);
  memcpy(a.u.status.tip, tip.hash, SP_HASH_LEN);
  if (z->lie == L_TIP)
    a.u.status.tip[0] ^= 1;
  memcpy(a.u.status.state_digest, tip.state_digest, SP_HASH_LEN);
  a.u.status.role = SP_ROLE_OBSERVER;
  a.u.status.version = sp_str_c("lying_node");
  sp_msg_encode(&a, out);
}

/* Change one byte of an encoded block so that it still decodes: the last
 * byte of a signature (of the first transaction, else of the last commit,
 * which ends the block). */
static void flip(struct sp_buf *blk)
{
  struct sp_block b;
  size_t at = blk->len - 1;
  if (sp_block_decode(blk->data, blk->len, &b) == SP_OK) {
    if (b.n_txs > 0)
      at = (size_t)(b.txs[0].raw - blk->data) + b.txs[0].raw_len - 1;
    sp_block_clear(&b);
  }
  blk->data[at] ^= 0x01;
  fprintf(stderr, "lying_node: changed byte %zu of %zu\n", at, blk->len);
}

/* BLOCKS_A as the node builds it (node.c on_blocks_q). */
static void blocks_a(const struct liar *z, uint32_t req, uint64_t from, uint32_t want,
                     struct sp_buf *out)
{
  struct sp_tip tip;
  sp_ledger_tip(z->l, &tip);
  uint64_t last = tip.height;
  if (z->lie == L_WITHHOLD && z->at - 1 < last)
    last = z->at - 1;
  struct sp_buf items, blk;
  sp_buf_init(&items, SP_MAX_FRAME - 1024);
  sp_buf_init(&blk, SP_MAX_BLOCK_BYTES);
  uint32_t count = 0;
  for (uint64_t h = from; h <= last && count < want; h++) {
    struct sp_cert cert;
    bool has = false;
    sp_buf_reset(&blk);
    if (sp_ledger_block(z->l, h, &blk, &cert, &has) || !has)
      break;
    if (z->lie == L_FLIP && h == z->at)
      flip(&blk);
    size_t mark = items.len;
    sp_msg_blocks_item(&items, blk.data, blk.len, &cert);
    if (items.err) {
      items.len = mark;
      items.err = 0;
      break;
    }
    count++;
  }
  sp_msg_blocks_a(out, req, count, &items);
  sp_buf_free(&items);
  sp_buf_free(&blk);
}

static int lie_answer(void *ctx, const struct sp_msg *q, struct sp_secure *s,
                      struct sp_buf *out)
{
  const struct liar *z = ctx;
  struct sp_buf ans;
  sp_buf_init(&ans, SP_MAX_FRAME);
  if (q->type == SP_MSG_STATUS_Q)
    status_a(z, q->req_id, &ans);
  else if (q->type == SP_MSG_BLOCKS_Q)
    blocks_a(z, q->req_id, q->u.blocks_q.from, q->u.blocks_q.count, &ans);
  int rc = ans.err || (ans.len && sp_secure_seal(s, ans.data, ans.len, out));
  sp_buf_free(&ans);
  return rc;
}

int main(int argc, char **argv)
{
  const char *data = NULL, *port_file = NULL, *lie = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--data"))
      data = argv[i + 1];
    else if (!strcmp(argv[i], "--port-file"))
      port_file = argv[i + 1];
    else if (!strcmp(argv[i], "--lie"))
      lie = argv[i + 1];
  }
  if (!data || !port_file || !lie)
    return die("usage: lying_node --data DIR --port-file FILE --lie LIE");
  struct liar z;
  memset(&z, 0, sizeof(z));
  if (!strncmp(lie, "withhold:", 9)) {
    z.lie = L_WITHHOLD;
    z.at = strtoull(lie + 9, NULL, 10);
  } else if (!strncmp(lie, "flip:", 5)) {
    z.lie = L_FLIP;
    z.at = strtoull(lie + 5, NULL, 10);
  } else if (!strcmp(lie, "taller")) {
    z.lie = L_TALLER;
  } else if (!strcmp(lie, "tip")) {
    z.lie = L_TIP;
  } else {
    return die("unknown --lie");
  }
  if ((z.lie == L_WITHHOLD || z.lie == L_FLIP) && z.at == 0)
    return die("the height of a lie is 1 or more");
  if (sp_crypto_init() != SP_OK)
    return die("sp_crypto_init");
  struct sp_ledger_opts o = {.no_sync = true};
  if (sp_ledger_open(&z.l, data, &o) != SP_LE_OK)
    return die("cannot open the ledger");
  memcpy(z.chain_id, sp_ledger_chain_id(z.l), SP_HASH_LEN);
  signal(SIGTERM, on_term);
  signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  socklen_t al = sizeof(a);
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 4) ||
      getsockname(ls, (struct sockaddr *)&a, &al))
    return die("cannot listen on 127.0.0.1");
  FILE *f = fopen(port_file, "w");
  if (f == NULL)
    return die("cannot write the port file");
  fprintf(f, "%d\n", ntohs(a.sin_port));
  fclose(f);
  time_t end = time(NULL) + LIFETIME_S;
  while (!stop && time(NULL) < end) {
    struct pollfd pf = {.fd = ls, .events = POLLIN};
    if (poll(&pf, 1, 500) <= 0)
      continue;
    int fd = accept(ls, NULL, NULL);
    char why[128];
    if (fd >= 0) {
      fk_serve(fd, z.chain_id, "lying_node", &stop, lie_answer, &z, why, sizeof(why));
      if (why[0])
        fprintf(stderr, "lying_node: %s\n", why);
    }
  }
  close(ls);
  sp_ledger_close(z.l);
  return 0;
}
