/* Auditor commands: verify the chain by replaying it from genesis into a
 * store of our own, reconcile every fund from that replay, and receipts
 * (inclusion proofs) that can be checked offline. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "sp/ledger.h"
#include "sp/merkle.h"
#include "wallet.h"

static double secs_since(const struct timespec *t0)
{
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void rm_store(const char *dir)
{
  char p[1200];
  snprintf(p, sizeof(p), "%s/data.mdb", dir);
  unlink(p);
  snprintf(p, sizeof(p), "%s/lock.mdb", dir);
  unlink(p);
  rmdir(dir);
}

/* Replay the node's chain up to height `upto` into a fresh store; every
 * block is checked in full by our own ledger code before it is applied. A
 * node that stops serving blocks below `upto` fails the audit (*ok false,
 * bad names the first missing height). */
static int replay(struct wallet *w, uint64_t upto, char *dir, size_t cap,
                  struct sp_ledger **out, uint64_t *blocks, uint64_t *txs,
                  struct sp_refusal *bad, bool *ok)
{
  int rc = wallet_connect(w);
  if (rc)
    return rc;
  snprintf(dir, cap, "/tmp/stadjer-audit-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return fail(EXIT_LOCAL, "cannot create a scratch directory: %s", strerror(errno));
  struct sp_ledger_opts o = {.no_sync = true};
  if (sp_ledger_create(dir, w->genesis_bytes, w->genesis_len, &o) ||
      sp_ledger_open(out, dir, &o)) {
    rm_store(dir);
    return fail(EXIT_LOCAL, "cannot create the audit store");
  }
  *ok = true;
  *blocks = *txs = 0;
  for (uint64_t from = 1; from <= upto;) {
    struct sp_msg req = {.type = SP_MSG_BLOCKS_Q}, resp;
    req.u.blocks_q.from = from;
    req.u.blocks_q.count = SP_MAX_BLOCKS_PER_RESPONSE;
    if ((rc = wallet_call(w, &req, &resp, SP_MSG_BLOCKS_A)))
      break;
    uint32_t n = resp.u.blocks.n;
    if (n == 0) {
      *ok = false;
      memset(bad, 0, sizeof(*bad));
      bad->height = from;
      bad->reason = SP_R_BLOCK_MALFORMED;
      snprintf(bad->msg, sizeof(bad->msg),
               "the node did not serve block %llu, below the height %llu it reports",
               (unsigned long long)from, (unsigned long long)upto);
    }
    for (uint32_t i = 0; i < n && *ok && from + i <= upto; i++) {
      const struct sp_block_entry *e = &resp.u.blocks.v[i];
      /* the bytes as served: the decoder keeps a view of them */
      int arc = sp_ledger_apply(*out, e->block.raw, e->block.raw_len, &e->cert, bad);
      if (arc == SP_LE_REFUSED) {
        *ok = false;
      } else if (arc) {
        rc = fail(EXIT_LOCAL, "audit store: %s", sp_ledger_strerror(arc));
        break;
      } else {
        (*blocks)++;
        *txs += e->block.n_txs;
      }
    }
    sp_msg_clear(&resp);
    if (rc || !*ok || n == 0)
      break;
    from += n;
  }
  return rc;
}

/* Replay the chain up to the tip the node reports first (the height, in
 * *claimed), and require the replay to end in that block and state:
 * blocks only append, so this holds while the node moves on. */
static int verify_to_node_tip(struct wallet *w, char *dir, size_t cap, struct sp_ledger **l,
                              uint64_t *blocks, uint64_t *txs, struct sp_refusal *bad,
                              bool *ok, uint64_t *claimed)
{
  int rc = wallet_connect(w);
  if (rc)
    return rc;
  struct sp_msg req = {.type = SP_MSG_STATUS_Q}, st;
  if ((rc = wallet_call(w, &req, &st, SP_MSG_STATUS_A)))
    return rc;
  *claimed = st.u.status.height;
  uint8_t claimed_tip[SP_HASH_LEN], claimed_digest[SP_HASH_LEN];
  memcpy(claimed_tip, st.u.status.tip, SP_HASH_LEN);
  memcpy(claimed_digest, st.u.status.state_digest, SP_HASH_LEN);
  sp_msg_clear(&st);
  if ((rc = replay(w, *claimed, dir, cap, l, blocks, txs, bad, ok))) {
    if (*l) { /* a failure after the scratch store was made: remove it */
      sp_ledger_close(*l);
      *l = NULL;
      rm_store(dir);
    }
    return rc;
  }
  struct sp_tip tip;
  sp_ledger_tip(*l, &tip);
  if (*ok && (tip.height != *claimed || memcmp(claimed_tip, tip.hash, SP_HASH_LEN) ||
              memcmp(claimed_digest, tip.state_digest, SP_HASH_LEN))) {
    *ok = false;
    memset(bad, 0, sizeof(*bad));
    bad->height = *claimed;
    bad->reason = SP_R_STATE_MISMATCH;
    snprintf(bad->msg, sizeof(bad->msg),
             "the node's tip at height %llu differs from the verified chain",
             (unsigned long long)*claimed);
  }
  return EXIT_OK;
}

static int audit_verify(struct wallet *w)
{
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  char dir[256];
  struct sp_ledger *l = NULL;
  uint64_t blocks, txs;
  struct sp_refusal bad;
  bool ok;
  uint64_t claimed;
  int rc = verify_to_node_tip(w, dir, sizeof(dir), &l, &blocks, &txs, &bad, &ok, &claimed);
  if (rc)
    return rc;
  double s = secs_since(&t0);
  if (w->json)
    printf("{\"ok\":%s,\"blocks\":%llu,\"transactions\":%llu,\"node_height\":%llu,"
           "\"seconds\":%.3f",
           ok ? "true" : "false", (unsigned long long)blocks, (unsigned long long)txs,
           (unsigned long long)claimed, s);
  if (ok) {
    if (w->json)
      printf("}\n");
    else
      printf("verified %llu blocks, %llu transactions from genesis in %.2f s, up to the "
             "node's tip at height %llu: OK\n",
             (unsigned long long)blocks, (unsigned long long)txs, s,
             (unsigned long long)claimed);
  } else {
    if (w->json) {
      printf(",\"bad_block\":%llu,\"reason\":\"%s\",\"message\":",
             (unsigned long long)bad.height, sp_reason_name(bad.reason));
      json_str(stdout, bad.msg);
      printf("}\n");
    } else {
      printf("verified %llu blocks, %llu transactions in %.2f s: FAILED at block %llu\n",
             (unsigned long long)blocks, (unsigned long long)txs, s,
             (unsigned long long)bad.height);
    }
    fprintf(stderr, "stadjer: block %llu: %s: %s\n", (unsigned long long)bad.height,
            sp_reason_name(bad.reason), bad.msg);
  }
  sp_ledger_close(l);
  rm_store(dir);
  return rc ? rc : ok ? EXIT_OK : EXIT_REFUSED;
}

struct report {
  struct wallet *w;
  struct sp_ledger *l;
  const char *only;
  const char *format;
  int n;
  bool all_ok;
};

/* Spending per category, formatted into a buffer: json, csv or text. */
struct cat_ctx {
  char *buf;
  size_t cap, off;
  int fmt; /* 0 text, 1 json, 2 csv */
};

static int cat_cb(const char *cat, uint64_t cents, void *arg)
{
  struct cat_ctx *c = arg;
  if (c->off >= c->cap)
    return 1;
  char val[32];
  if (c->fmt == 0)
    format_euro(cents, val, sizeof(val));
  else
    snprintf(val, sizeof(val), "%llu", (unsigned long long)cents);
  c->off += (size_t)snprintf(c->buf + c->off, c->cap - c->off,
                             c->fmt == 1 ? "%s\"%s\":%s" : "%s%s %s",
                             c->off ? (c->fmt == 1 ? "," : "; ") : "", cat, val);
  return 0;
}

static int report_fund(const struct sp_fund_info *f, void *arg)
{
  struct report *r = arg;
  if (r->only && strcmp(r->only, f->id))
    return 0;
  bool ok = sp_fund_reconciles(f);
  r->all_ok = r->all_ok && ok;
  uint64_t claimed = f->claimed + f->settled;
  uint64_t outstanding = f->passes + f->receivable + f->claimed;
  const bool json = !strcmp(r->format, "json"), csv = !strcmp(r->format, "csv");
  char spend[1024] = "";
  struct cat_ctx cc = {spend, sizeof(spend), 0, json ? 1 : csv ? 2 : 0};
  sp_ledger_fund_spending(r->l, f->id, cat_cb, &cc);
  if (json) {
    printf("%s{\"fund\":\"%s\",\"deposited\":%llu,\"issued\":%llu,\"spent\":%llu,"
           "\"spent_per_category\":{%s},\"refunded\":%llu,\"claimed\":%llu,\"settled\":%llu,"
           "\"returned_on_close\":%llu,\"unissued\":%llu,\"outstanding\":%llu,"
           "\"closed\":%s,\"reconciles\":%s}",
           r->n ? "," : "", f->id, (unsigned long long)f->deposited,
           (unsigned long long)f->issued, (unsigned long long)f->spent, spend,
           (unsigned long long)f->refunded, (unsigned long long)claimed,
           (unsigned long long)f->settled, (unsigned long long)f->returned,
           (unsigned long long)f->unissued, (unsigned long long)outstanding,
           f->closed ? "true" : "false", ok ? "true" : "false");
  } else if (csv) {
    printf("%s,%llu,%llu,%llu,\"%s\",%llu,%llu,%llu,%llu,%llu,%llu,%s\n", f->id,
           (unsigned long long)f->deposited, (unsigned long long)f->issued,
           (unsigned long long)f->spent, spend, (unsigned long long)f->refunded,
           (unsigned long long)claimed, (unsigned long long)f->settled,
           (unsigned long long)f->returned, (unsigned long long)f->unissued,
           (unsigned long long)outstanding, ok ? "yes" : "NO");
  } else {
    char e[9][32];
    const uint64_t v[9] = {f->deposited, f->issued,   f->spent,    f->refunded, claimed,
                           f->settled,   f->returned, f->unissued, outstanding};
    for (int i = 0; i < 9; i++)
      format_euro(v[i], e[i], sizeof(e[i]));
    printf("fund %s (%s)%s\n  deposited            %14s\n  issued               %14s\n"
           "  spent                %14s   %s\n  refunded             %14s\n"
           "  claimed              %14s\n  settled              %14s\n"
           "  returned on close    %14s\n  not yet issued       %14s\n"
           "  outstanding          %14s\n  reconciles           %14s\n",
           f->id, f->name, f->closed ? " closed" : "", e[0], e[1], e[2], spend, e[3], e[4], e[5],
           e[6], e[7], e[8], ok ? "yes" : "NO");
  }
  r->n++;
  return 0;
}

static int audit_report(struct wallet *w, const char *fund, const char *format)
{
  char dir[256];
  struct sp_ledger *l = NULL;
  uint64_t blocks, txs;
  struct sp_refusal bad;
  bool ok;
  uint64_t claimed;
  int rc = verify_to_node_tip(w, dir, sizeof(dir), &l, &blocks, &txs, &bad, &ok, &claimed);
  if (rc)
    return rc;
  if (!ok) {
    sp_ledger_close(l);
    rm_store(dir);
    fprintf(stderr, "stadjer: the chain does not verify at block %llu: %s\n",
            (unsigned long long)bad.height, bad.msg);
    return EXIT_REFUSED;
  }
  struct report r = {w, l, fund, format, 0, true};
  if (!strcmp(format, "json"))
    printf("{\"blocks\":%llu,\"funds\":[", (unsigned long long)blocks);
  else if (!strcmp(format, "csv"))
    printf("fund,deposited,issued,spent,spent_per_category,refunded,claimed,settled,"
           "returned_on_close,unissued,outstanding,reconciles\n");
  else
    printf("audit report over %llu verified blocks (amounts in euro)\n",
           (unsigned long long)blocks);
  sp_ledger_funds(l, report_fund, &r);
  if (!strcmp(format, "json"))
    printf("],\"reconciles\":%s}\n", r.all_ok ? "true" : "false");
  sp_ledger_close(l);
  rm_store(dir);
  if (fund && r.n == 0)
    return fail(EXIT_REFUSED, "unknown fund '%s'", fund);
  return r.all_ok ? EXIT_OK : EXIT_REFUSED;
}

int cmd_audit(struct wallet *w, int argc, char **argv);
int cmd_audit(struct wallet *w, int argc, char **argv)
{
  if (argc == 2 && !strcmp(argv[1], "verify"))
    return audit_verify(w);
  if (argc >= 2 && !strcmp(argv[1], "report")) {
    struct args a = {.names = {"fund", "format"}};
    int rc = args_parse(&a, "audit report", argc, argv, 2);
    if (rc)
      return rc;
    const char *format = a.set[1] ? a.values[1] : (w->json ? "json" : "text");
    if (a.n_pos || (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "csv")))
      return usage_of("audit");
    return audit_report(w, a.set[0] ? a.values[0] : NULL, format);
  }
  return usage_of("audit");
}

/* ============================================================ receipts */

static const char RECEIPT_TAG[] = "stadjerspas-receipt";

/* [1, tag, tx, height, index, tx_count, [path...], header, cert] */
static int receipt_encode(const struct sp_tx_proof *p, struct sp_buf *b)
{
  sp_wr_array(b, 9);
  sp_wr_uint(b, 1);
  sp_wr_str(b, RECEIPT_TAG, sizeof(RECEIPT_TAG) - 1);
  sp_buf_append(b, p->tx.data, p->tx.len);
  sp_wr_uint(b, p->loc.height);
  sp_wr_uint(b, p->loc.index);
  sp_wr_uint(b, p->tx_count);
  sp_wr_array(b, (uint32_t)p->n_path);
  for (size_t i = 0; i < p->n_path; i++)
    sp_wr_bin(b, p->path[i], SP_HASH_LEN);
  sp_buf_append(b, p->header.data, p->header.len);
  sp__cert_write(b, &p->cert);
  return b->err;
}

static int receipt_decode(const uint8_t *d, size_t n, struct sp_tx_proof *p)
{
  if (sp_msgpack_check(d, n, SP_MAX_DEPTH))
    return -1;
  struct sp_rd r = sp_rd_init(d, n);
  struct sp_str tag;
  uint64_t v, h, idx, cnt;
  uint32_t np;
  const uint8_t *s;
  size_t len;
  if (sp_rd_array_exact(&r, 9) || sp_rd_uint(&r, &v) || v != 1 ||
      sp_rd_str(&r, &tag, 64) || !sp_str_eq(tag, sp_str_c(RECEIPT_TAG)) ||
      sp_rd_raw(&r, &s, &len))
    return -1;
  sp_buf_append(&p->tx, s, len);
  if (sp_rd_uint(&r, &h) || sp_rd_uint_max(&r, &idx, UINT32_MAX) ||
      sp_rd_uint_max(&r, &cnt, SP_MAX_BLOCK_TXS) || sp_rd_array_max(&r, &np, SP_MAX_PROOF, 0))
    return -1;
  p->loc.height = h;
  p->loc.index = (uint32_t)idx;
  p->tx_count = (uint32_t)cnt;
  p->n_path = np;
  for (uint32_t i = 0; i < np; i++)
    if (sp_rd_binfix(&r, p->path[i], SP_HASH_LEN))
      return -1;
  if (sp_rd_raw(&r, &s, &len))
    return -1;
  sp_buf_append(&p->header, s, len);
  if (sp__cert_read(&r, &p->cert) || sp_rd_done(&r) || p->tx.err || p->header.err)
    return -1;
  p->has_cert = true;
  return 0;
}

int cmd_proof(struct wallet *w, int argc, char **argv);
int cmd_proof(struct wallet *w, int argc, char **argv)
{
  int rc;
  if (argc == 3 && !strcmp(argv[1], "verify")) {
    if ((rc = wallet_genesis(w)))
      return rc;
    FILE *f = fopen(argv[2], "rb");
    if (f == NULL)
      return fail(EXIT_LOCAL, "cannot read '%s': %s", argv[2], strerror(errno));
    uint8_t *buf = malloc(SP_MAX_BLOCK_BYTES);
    size_t n = buf ? fread(buf, 1, SP_MAX_BLOCK_BYTES, f) : 0;
    fclose(f);
    struct sp_tx_proof p;
    sp_tx_proof_init(&p);
    struct sp_refusal why;
    rc = buf && receipt_decode(buf, n, &p) == 0
             ? (sp_tx_proof_verify(&p, &w->g, w->chain_id, &why) == 0 ? EXIT_OK : EXIT_REFUSED)
             : fail(EXIT_LOCAL, "'%s' is not a Stadjerspas receipt", argv[2]);
    if (rc == EXIT_OK) {
      if (w->json)
        printf("{\"ok\":true,\"height\":%llu,\"index\":%u}\n", (unsigned long long)p.loc.height,
               p.loc.index);
      else
        printf("receipt OK: the transaction is in block %llu (position %u), final with %u of "
               "%u validator signatures\n",
               (unsigned long long)p.loc.height, p.loc.index, p.cert.n_sigs, w->g.n_validators);
    } else if (rc == EXIT_REFUSED) {
      print_refusal(w, (uint32_t)why.reason, why.msg);
    }
    sp_tx_proof_free(&p);
    free(buf);
    return rc;
  }
  struct args a = {.names = {"out"}};
  if (argc < 2 || (rc = args_parse(&a, "proof", argc, argv, 1)) || a.n_pos != 1)
    return argc < 2 ? usage_of("proof") : rc ? rc : usage_of("proof");
  uint8_t txid[SP_HASH_LEN];
  const char *hex = a.pos[0];
  if (strlen(hex) != 64)
    return fail(EXIT_USAGE, "TXID '%s' is not 64 hex digits", hex);
  for (int i = 0; i < 32; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1)
      return fail(EXIT_USAGE, "TXID '%s' is not 64 hex digits", hex);
    txid[i] = (uint8_t)v;
  }
  struct sp_msg req = {.type = SP_MSG_PROOF_Q}, resp;
  memcpy(req.u.txid.txid, txid, SP_HASH_LEN);
  if ((rc = wallet_call(w, &req, &resp, SP_MSG_PROOF_A)))
    return rc;
  struct sp_tx_proof p;
  sp_tx_proof_init(&p);
  const struct sp_msg_proof *pf = &resp.u.proof;
  sp_buf_append(&p.tx, pf->tx.raw, pf->tx.raw_len);
  sp_buf_append(&p.header, pf->header.raw, pf->header.raw_len);
  p.loc.height = pf->height;
  p.loc.index = pf->index;
  p.tx_count = pf->header.tx_count;
  p.n_path = pf->n_proof;
  memcpy(p.path, pf->proof, (size_t)pf->n_proof * SP_HASH_LEN);
  p.cert = pf->cert;
  p.has_cert = true;
  sp_msg_clear(&resp);
  struct sp_refusal why;
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_BLOCK_BYTES);
  if (sp_tx_proof_verify(&p, &w->g, w->chain_id, &why) != 0) {
    rc = fail(EXIT_NODE, "the node's proof does not verify: %s", why.msg);
  } else if (receipt_encode(&p, &b) != 0) {
    rc = fail(EXIT_LOCAL, "cannot encode the receipt");
  } else {
    char path[300];
    snprintf(path, sizeof(path), "%s", a.set[0] ? a.values[0] : "receipt.bin");
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
      rc = fail(EXIT_LOCAL, "cannot write '%s'", path);
    } else {
      rc = EXIT_OK;
      if (w->json)
        printf("{\"ok\":true,\"file\":\"%s\",\"height\":%llu}\n", path,
               (unsigned long long)p.loc.height);
      else
        printf("receipt written to %s (block %llu)\n", path, (unsigned long long)p.loc.height);
    }
  }
  sp_buf_free(&b);
  sp_tx_proof_free(&p);
  return rc;
}
