/* The command groups of stadjer and the dispatch table. */
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "sp/ledger.h"
#include "wallet.h"

int cmd_audit(struct wallet *w, int argc, char **argv);
int cmd_proof(struct wallet *w, int argc, char **argv);
int cmd_fund_show(struct wallet *w, const char *id, bool list);

static void hex32(const uint8_t *p, char out[65])
{
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    out[2 * i] = hex[p[i] >> 4];
    out[2 * i + 1] = hex[p[i] & 15];
  }
  out[64] = 0;
}

static int unhex32(const char *s, uint8_t out[32])
{
  if (strlen(s) != 64)
    return -1;
  for (int i = 0; i < 32; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1)
      return -1;
    out[i] = (uint8_t)v;
  }
  return 0;
}

static int amount_arg(const char *text, uint64_t *cents)
{
  int rc = sp_money_parse(text, cents);
  if (rc)
    return fail(EXIT_USAGE, "amount '%s': %s", text, sp_strerror(rc));
  return 0;
}

/* An amount that moves money: 0 is refused here, before anything is
 * signed (the ledger would refuse it as amount-zero). */
static int positive_amount_arg(const char *text, uint64_t *cents)
{
  int rc = amount_arg(text, cents);
  if (rc == 0 && *cents == 0)
    rc = fail(EXIT_USAGE, "amount '%s' must be more than zero", text);
  return rc;
}

static int text_arg(const char *what, const char *s, size_t max)
{
  if (s == NULL || s[0] == 0)
    return fail(EXIT_USAGE, "%s is required", what);
  if (strlen(s) > max || !sp_text_valid(s, strlen(s)))
    return fail(EXIT_USAGE, "%s '%s' is too long or has control characters", what, s);
  return 0;
}

/* ================================================================ keys */

static int key_path(struct wallet *w, const char *name, char *out, size_t cap)
{
  if (!sp_ident_valid(name, strlen(name)))
    return fail(EXIT_USAGE, "key name '%s': use lower-case letters, digits, '-', '_', '.'",
                name);
  snprintf(out, cap, "%s/keys/%s.key", w->home, name);
  return 0;
}

static int cmd_key(struct wallet *w, int argc, char **argv)
{
  if (argc < 2)
    return usage_of("key");
  const char *sub = argv[1];
  char path[1200], addr[SP_ADDRESS_LEN + 1];
  if (!strcmp(sub, "new") && argc == 3) {
    int rc = key_path(w, argv[2], path, sizeof(path));
    if (rc)
      return rc;
    char dir[1100];
    mkdir(w->home, 0700);
    snprintf(dir, sizeof(dir), "%s/keys", w->home);
    mkdir(dir, 0700);
    char pass[512];
    if ((rc = sp_passphrase_get("new passphrase: ", "STADJER_PASSPHRASE", w->pass_file, pass,
                                sizeof(pass), true)))
      return fail(EXIT_LOCAL, "%s", sp_keys_strerror(rc));
    uint8_t seed[32], pk[SP_PK_LEN], sk[SP_SK_LEN];
    randombytes_buf(seed, sizeof(seed));
    sp_keypair_from_seed(pk, sk, seed);
    struct sp_buf b;
    sp_buf_init(&b, 4096);
    rc = sp_keyfile_seal(seed, pass, strlen(pass), argv[2], &b);
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(pass, sizeof(pass));
    if (rc == 0)
      rc = sp_keyfile_write(path, b.data, b.len);
    sp_buf_free(&b);
    if (rc)
      return fail(EXIT_LOCAL, "key '%s': %s", argv[2], sp_keys_strerror(rc));
    sp_address_encode(pk, addr);
    if (w->json)
      printf("{\"ok\":true,\"key\":\"%s\",\"address\":\"%s\"}\n", argv[2], addr);
    else
      printf("%s\n", addr);
    return EXIT_OK;
  }
  if (!strcmp(sub, "show") && argc == 3) {
    uint8_t pk[SP_PK_LEN];
    int rc = key_path(w, argv[2], path, sizeof(path));
    if (rc || (rc = wallet_account(w, argv[2], pk)))
      return rc == EXIT_USAGE ? EXIT_LOCAL : rc;
    sp_address_encode(pk, addr);
    char hex[65];
    hex32(pk, hex);
    if (w->json)
      printf("{\"key\":\"%s\",\"address\":\"%s\",\"public_key\":\"%s\"}\n", argv[2], addr, hex);
    else
      printf("%s\n", addr);
    return EXIT_OK;
  }
  if (!strcmp(sub, "list") && argc == 2) {
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/keys", w->home);
    DIR *d = opendir(dir);
    if (w->json)
      printf("[");
    int n = 0, damaged = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
      size_t len = strlen(e->d_name);
      if (len < 5 || strcmp(e->d_name + len - 4, ".key"))
        continue;
      char name[256];
      snprintf(name, sizeof(name), "%.*s", (int)(len - 4), e->d_name);
      uint8_t pk[SP_PK_LEN];
      if (wallet_account(w, name, pk)) { /* it said which file and why */
        damaged++;
        continue;
      }
      sp_address_encode(pk, addr);
      if (w->json)
        printf("%s{\"key\":\"%s\",\"address\":\"%s\"}", n ? "," : "", name, addr);
      else
        printf("%-20s %s\n", name, addr);
      n++;
    }
    if (w->json)
      printf("]\n");
    if (d)
      closedir(d);
    return damaged ? EXIT_LOCAL : EXIT_OK;
  }
  return usage_of("key");
}

/* ============================================================= network */

static int cmd_genesis(struct wallet *w, int argc, char **argv)
{
  if (argc < 2 || strcmp(argv[1], "new"))
    return usage_of("genesis");
  struct args a = {.names = {"name", "authority", "validator*", "categories", "out", "time",
                             "grace-days"}};
  int rc = args_parse(&a, "genesis new", argc, argv, 2);
  if (rc)
    return rc;
  if (!a.set[0] || !a.set[1] || !a.set[2] || !a.set[3] || !a.set[4] || a.n_pos)
    return usage_of("genesis");
  struct sp_genesis g;
  memset(&g, 0, sizeof(g));
  if ((rc = text_arg("--name", a.values[0], SP_MAX_NAME)))
    return rc;
  g.chain_name = sp_str_c(a.values[0]);
  if ((rc = wallet_account(w, a.values[1], g.authority)))
    return rc;
  static char addrs[ARGS_MAX_MULTI][SP_MAX_ADDR + 1], names[ARGS_MAX_MULTI][32];
  for (int i = 0; i < a.n_multi[2]; i++) {
    const char *v = a.multi[2][i];
    const char *at = strchr(v, '@');
    char key[128];
    if (at == NULL || (size_t)(at - v) >= sizeof(key) || strlen(at + 1) > SP_MAX_ADDR ||
        strrchr(at + 1, ':') == NULL)
      return fail(EXIT_USAGE, "validator '%s' is not ADDRESS@HOST:PORT", v);
    memcpy(key, v, (size_t)(at - v));
    key[at - v] = 0;
    if ((rc = wallet_account(w, key, g.validators[i].pk)))
      return rc;
    snprintf(addrs[i], sizeof(addrs[i]), "%s", at + 1);
    snprintf(names[i], sizeof(names[i]), "validator-%d", i + 1);
    g.validators[i].addr = sp_str_c(addrs[i]);
    g.validators[i].name = sp_str_c(names[i]);
  }
  g.n_validators = (uint32_t)a.n_multi[2];
  /* genesis wants validators sorted by key */
  for (uint32_t i = 0; i < g.n_validators; i++)
    for (uint32_t j = i + 1; j < g.n_validators; j++)
      if (memcmp(g.validators[i].pk, g.validators[j].pk, SP_PK_LEN) > 0) {
        struct sp_validator t = g.validators[i];
        g.validators[i] = g.validators[j];
        g.validators[j] = t;
      }
  struct sp_catlist cl;
  char store[1024];
  if (parse_categories(a.values[3], &cl, store, sizeof(store)))
    return fail(EXIT_USAGE, "--categories '%s': a comma list of lower-case names", a.values[3]);
  g.n_categories = cl.n;
  memcpy(g.categories, cl.v, cl.n * sizeof(cl.v[0]));
  g.genesis_time_ms = (uint64_t)time(NULL) * 1000;
  if (a.set[5] && parse_date(a.values[5], &g.genesis_time_ms))
    return fail(EXIT_USAGE, "--time '%s' is not a date YYYY-MM-DD", a.values[5]);
  g.params.max_block_txs = 5000;
  g.params.max_block_bytes = 4u * 1024 * 1024;
  g.params.fund_close_grace_ms = 30ull * 86400000;
  if (a.set[6]) {
    const char *d = a.values[6];
    size_t len = strlen(d);
    if (len == 0 || len > 5 || strspn(d, "0123456789") != len || atoi(d) > SP_MAX_GRACE_DAYS)
      return fail(EXIT_USAGE, "--grace-days '%s' is not a number of days from 0 to %d", d,
                  SP_MAX_GRACE_DAYS);
    g.params.fund_close_grace_ms = (uint64_t)atoi(d) * 86400000ull;
  }
  struct sp_buf b;
  sp_buf_init(&b, 1 << 20);
  if ((rc = sp_genesis_encode(&g, &b))) {
    sp_buf_free(&b);
    return fail(EXIT_USAGE, "invalid genesis: %s (duplicate validator?)", sp_strerror(rc));
  }
  FILE *f = fopen(a.values[4], "wb");
  if (f == NULL || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
    sp_buf_free(&b);
    return fail(EXIT_LOCAL, "cannot write '%s'", a.values[4]);
  }
  uint8_t id[SP_HASH_LEN];
  char hex[65];
  sp_chain_id(b.data, b.len, id);
  hex32(id, hex);
  sp_buf_free(&b);
  if (w->json)
    printf("{\"ok\":true,\"chain_id\":\"%s\",\"file\":", hex), json_str(stdout, a.values[4]),
        printf("}\n");
  else
    printf("genesis written to %s, chain id %s\n", a.values[4], hex);
  return EXIT_OK;
}

static int cmd_status(struct wallet *w, int argc, char **argv)
{
  (void)argv;
  if (argc != 1)
    return usage_of("status");
  struct sp_msg req = {.type = SP_MSG_STATUS_Q}, resp;
  int rc = wallet_call(w, &req, &resp, SP_MSG_STATUS_A);
  if (rc)
    return rc;
  const struct sp_msg_status *s = &resp.u.status;
  char tip[65], dig[65];
  hex32(s->tip, tip);
  hex32(s->state_digest, dig);
  const char *role = s->role == SP_ROLE_VALIDATOR ? "validator" : "observer";
  if (w->json)
    printf("{\"height\":%llu,\"tip\":\"%s\",\"state_digest\":\"%s\",\"role\":\"%s\","
           "\"peers\":%u,\"mempool\":%u,\"version\":\"%.*s\"}\n",
           (unsigned long long)s->height, tip, dig, role, s->peers, s->mempool,
           (int)s->version.len, s->version.p);
  else
    printf("height %llu\ntip %s\nstate %s\nrole %s\npeers %u\nmempool %u\nversion %.*s\n",
           (unsigned long long)s->height, tip, dig, role, s->peers, s->mempool,
           (int)s->version.len, s->version.p);
  sp_msg_clear(&resp);
  return EXIT_OK;
}

/* ====================================================== municipality */

static int cmd_fund(struct wallet *w, int argc, char **argv)
{
  if (argc < 3 && !(argc == 2 && !strcmp(argv[1], "list")))
    return usage_of("fund");
  const char *sub = argv[1];
  struct sp_tx tx;
  memset(&tx, 0, sizeof(tx));
  int rc;
  if (!strcmp(sub, "list") || !strcmp(sub, "show"))
    return argc == (sub[0] == 'l' ? 2 : 3) ? cmd_fund_show(w, argc == 3 ? argv[2] : NULL,
                                                             sub[0] == 'l')
                                           : usage_of("fund");
  const char *id = argv[2];
  if (!sp_ident_valid(id, strlen(id)))
    return fail(EXIT_USAGE, "fund id '%s': lower-case letters, digits, '-', '_', '.'", id);
  if (!strcmp(sub, "create")) {
    struct args a = {.names = {"name", "categories", "from", "until", "max-payment"}};
    if ((rc = args_parse(&a, "fund create", argc, argv, 3)))
      return rc;
    if (!a.set[0] || !a.set[1] || !a.set[2] || !a.set[3] || a.n_pos)
      return usage_of("fund");
    struct sp_tx_fund_create *f = &tx.u.fund_create;
    char store[1024];
    tx.kind = SP_TX_FUND_CREATE;
    f->fund = sp_str_c(id);
    if ((rc = text_arg("--name", a.values[0], SP_MAX_NAME)))
      return rc;
    f->name = sp_str_c(a.values[0]);
    if (parse_categories(a.values[1], &f->categories, store, sizeof(store)))
      return fail(EXIT_USAGE, "--categories '%s': a comma list of lower-case names",
                  a.values[1]);
    if (parse_date(a.values[2], &f->valid_from_ms) || parse_date(a.values[3], &f->valid_until_ms))
      return fail(EXIT_USAGE, "--from and --until are dates YYYY-MM-DD");
    f->valid_until_ms += 86400000ull; /* --until is the last valid day, inclusive */
    if (f->valid_until_ms <= f->valid_from_ms)
      return fail(EXIT_USAGE, "--until must not be before --from");
    if (a.set[4] && (rc = amount_arg(a.values[4], &f->max_payment)))
      return rc;
    return wallet_submit(w, &tx, "fund create");
  }
  if (!strcmp(sub, "deposit")) {
    struct args a = {.names = {"ref"}};
    if ((rc = args_parse(&a, "fund deposit", argc, argv, 3)))
      return rc;
    if (a.n_pos != 1 || !a.set[0])
      return usage_of("fund");
    tx.kind = SP_TX_FUND_DEPOSIT;
    tx.u.fund_deposit.fund = sp_str_c(id);
    if ((rc = positive_amount_arg(a.pos[0], &tx.u.fund_deposit.amount)) ||
        (rc = text_arg("--ref", a.values[0], SP_MAX_REF)))
      return rc;
    tx.u.fund_deposit.bank_ref = sp_str_c(a.values[0]);
    return wallet_submit(w, &tx, "fund deposit");
  }
  if (!strcmp(sub, "close") && argc == 3) {
    tx.kind = SP_TX_FUND_CLOSE;
    tx.u.fund_close.fund = sp_str_c(id);
    return wallet_submit(w, &tx, "fund close");
  }
  return usage_of("fund");
}

/* Household reference: never on the chain in clear. It is hashed with a
 * secret salt the municipality keeps in its wallet home. */
/* A household reference as it is hashed: plain text. Quotes and spaces
 * around it (a spreadsheet's export) would make another household than
 * the same reference typed on the command line, so they are refused. */
static bool household_plain(const char *ref)
{
  size_t n = strlen(ref);
  return n > 0 && !isspace((unsigned char)ref[0]) && !isspace((unsigned char)ref[n - 1]) &&
         strchr(ref, '"') == NULL;
}

static int household_hash(struct wallet *w, const char *ref, uint8_t out[SP_HASH_LEN])
{
  char path[1100];
  snprintf(path, sizeof(path), "%s/household.salt", w->home);
  uint8_t salt[32];
  FILE *f = fopen(path, "rb");
  if (f) {
    size_t n = fread(salt, 1, sizeof(salt), f);
    fclose(f);
    if (n != sizeof(salt))
      return fail(EXIT_LOCAL, "household salt '%s' is damaged", path);
  } else {
    randombytes_buf(salt, sizeof(salt));
    mkdir(w->home, 0700);
    if (sp_keyfile_write(path, salt, sizeof(salt)) != 0)
      return fail(EXIT_LOCAL, "cannot create the household salt '%s'", path);
  }
  crypto_generichash_state st;
  crypto_generichash_init(&st, salt, sizeof(salt), SP_HASH_LEN);
  crypto_generichash_update(&st, (const uint8_t *)ref, strlen(ref));
  crypto_generichash_final(&st, out, SP_HASH_LEN);
  sodium_memzero(salt, sizeof(salt));
  return 0;
}

/* Submit many transactions of our key back to back (consecutive sequence
 * numbers, a window of requests in flight) and wait for every final
 * result. committed/refused count the outcomes; the first refusal is
 * printed with its line in the input file (lines[i] for txs[i]). */
#define PIPELINE_WINDOW 256

static int submit_many(struct wallet *w, struct sp_tx *txs, const int *lines, size_t n,
                       size_t *committed, size_t *refused)
{
  int rc = wallet_connect(w);
  uint64_t seq;
  if (rc || (rc = wallet_next_seq(w, &seq)))
    return rc;
  uint32_t *ids = calloc(n ? n : 1, sizeof(*ids));
  bool *final = calloc(n ? n : 1, sizeof(*final));
  if (!ids || !final) {
    free(ids), free(final);
    return fail(EXIT_LOCAL, "out of memory");
  }
  *committed = *refused = 0;
  size_t sent = 0, finished = 0;
  bool tty = isatty(2), printed = false;
  char err[256];
  while (finished < n && rc == 0) {
    while (sent < n && sent - finished < PIPELINE_WINDOW) {
      struct sp_tx *tx = &txs[sent];
      memcpy(tx->signer, w->pk, SP_PK_LEN);
      tx->seq = seq + sent;
      struct sp_msg req = {.type = SP_MSG_SUBMIT};
      if (sp_tx_sign(tx, w->chain_id, w->sk) != SP_OK) {
        rc = fail(EXIT_LOCAL, "cannot sign transaction %zu", sent + 1);
        break;
      }
      /* the message codec needs a decodable tx: encode then submit */
      req.u.submit = *tx;
      if (sp_client_send(w->cli, &req, &ids[sent]) != 0) {
        rc = fail(EXIT_NODE, "connection lost while submitting");
        break;
      }
      sent++;
    }
    if (rc)
      break;
    struct sp_msg resp;
    if (sp_client_recv(w->cli, &resp, 120000, err, sizeof(err)) != 0) {
      rc = fail(EXIT_NODE, "%s", err);
      break;
    }
    size_t k = 0;
    while (k < sent && ids[k] != resp.req_id)
      k++;
    if (k < sent && !final[k]) {
      if (resp.type == SP_MSG_RESULT && resp.u.result.status == SP_TXS_COMMITTED) {
        (*committed)++;
      } else if (resp.type == SP_MSG_RESULT && resp.u.result.status == SP_TXS_REFUSED) {
        (*refused)++;
        if (!printed) {
          char msg[SP_MAX_REASON + 1];
          snprintf(msg, sizeof(msg), "%.*s", (int)resp.u.result.message.len,
                   resp.u.result.message.p);
          fprintf(stderr, "line %d refused: %s: %s\n", lines[k],
                  sp_reason_name((int)resp.u.result.reason), msg);
          printed = true;
        }
      } else {
        (*refused)++;
        if (resp.type == SP_MSG_ERROR && !printed) {
          fprintf(stderr, "line %d: node: %.*s\n", lines[k], (int)resp.u.error.message.len,
                  resp.u.error.message.p);
          printed = true;
        }
      }
      final[k] = true;
      finished++;
      if (tty && (finished % 50 == 0 || finished == n))
        fprintf(stderr, "\rsubmitting: %zu/%zu", finished, n);
    }
    sp_msg_clear(&resp);
  }
  if (tty)
    fprintf(stderr, "\n");
  free(ids);
  free(final);
  return rc;
}

/* The next line of a CSV file into line, without the characters of
 * `trail` at its end: 1, or 0 at the end of the file, or an exit code
 * (negated) after saying so when a line does not fit (it would otherwise
 * be read as two rows, the first cut short). */
static int csv_next(FILE *f, const char *file, int *lineno, char *line, size_t cap,
                    const char *trail, size_t *len)
{
  if (fgets(line, (int)cap, f) == NULL)
    return 0;
  ++*lineno;
  size_t n = strlen(line);
  if (n == cap - 1 && line[n - 1] != '\n' && !feof(f))
    return -fail(EXIT_USAGE, "%s:%d: line longer than %zu characters", file, *lineno, cap - 2);
  while (n && strchr(trail, line[n - 1]))
    line[--n] = 0;
  *len = n;
  return 1;
}

/* An address twice in one enrolment file: the second row could only be
 * refused, so the file is refused before anything is sent. */
struct row_key {
  uint8_t pk[SP_PK_LEN];
  int line;
};

static int cmp_row_key(const void *a, const void *b)
{
  const struct row_key *x = a, *y = b;
  int c = memcmp(x->pk, y->pk, SP_PK_LEN);
  return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int csv_repeats(const char *file, const struct sp_tx *txs, const int *lines, size_t n)
{
  struct row_key *rk = malloc(n * sizeof(*rk));
  if (rk == NULL)
    return fail(EXIT_LOCAL, "out of memory");
  for (size_t i = 0; i < n; i++) {
    memcpy(rk[i].pk, txs[i].u.pass_enroll.pass, SP_PK_LEN);
    rk[i].line = lines[i];
  }
  qsort(rk, n, sizeof(*rk), cmp_row_key);
  int rc = 0;
  for (size_t i = 1; i < n && rc == 0; i++)
    if (memcmp(rk[i].pk, rk[i - 1].pk, SP_PK_LEN) == 0)
      rc = fail(EXIT_USAGE, "%s:%d: the same address as line %d", file, rk[i].line,
                rk[i - 1].line);
  free(rk);
  return rc;
}

/* Ask the node about every row's key before anything is signed, and keep
 * only the rows whose key is unused (in their order, at the front of txs
 * and lines; *n_left of them). A key that is a pass already, enrolled for
 * the same household, counts as already enrolled (uploading a file again
 * is harmless); a pass enrolled for another household, and any other key in
 * use (a merchant's) is refused here. Sent, such a row would be refused by
 * the ledger, and the rows after it, signed with later sequence numbers,
 * would be held up behind the one that never commits. */
#define CHECK_TIMEOUT_MS 30000

/* The next answer of a pipelined check (the caller clears it), or why
 * there is none. */
static int check_recv(struct wallet *w, struct sp_msg *resp)
{
  char err[256];
  if (sp_client_recv(w->cli, resp, CHECK_TIMEOUT_MS, err, sizeof(err)) != 0)
    return fail(EXIT_NODE, "%s", err);
  return EXIT_OK;
}

/* EXIT_OK when the answer about the row at `line` is of type `want`; else
 * what the node said instead. */
static int check_answer(const struct sp_msg *resp, uint32_t want, int line)
{
  if (resp->type == want)
    return EXIT_OK;
  if (resp->type == SP_MSG_ERROR)
    return fail(resp->u.error.code == 1 ? EXIT_REFUSED : EXIT_NODE,
                "checking line %d: node: %.*s", line, (int)resp->u.error.message.len,
                resp->u.error.message.p);
  return fail(EXIT_NODE, "node answered with an unexpected message");
}

static int send_history_q(struct wallet *w, const uint8_t pk[SP_PK_LEN], uint64_t before,
                          uint32_t *id)
{
  struct sp_msg req = {.type = SP_MSG_HISTORY_Q};
  memcpy(req.u.history_q.account, pk, SP_PK_LEN);
  req.u.history_q.before = before;
  req.u.history_q.limit = SP_MAX_HISTORY;
  if (sp_client_send(w->cli, &req, id) != 0)
    return fail(EXIT_NODE, "connection lost while checking the households");
  return EXIT_OK;
}

/* For each row i whose key is a pass already (kind[i]), other[i] tells
 * whether that pass was enrolled for another household than row i names.
 * The oldest row of a pass's history is its pass.enroll, read with a
 * window of history requests in flight. A replacement pass starts with
 * the pass.replace that made it, and has its predecessor's household: the
 * walk goes on with the predecessor's history (at most SP_MAX_PASS_CHAIN
 * of them; further, the household is not compared). */
static int enrolled_elsewhere(struct wallet *w, const struct sp_tx *txs, const int *lines,
                              size_t n, const uint32_t *kind, bool *other)
{
  struct flight {
    uint32_t id;
    size_t row;
    uint8_t pk[SP_PK_LEN]; /* the pass whose history is read */
    int hops;              /* replacements followed back so far */
  } *fl = calloc(PIPELINE_WINDOW, sizeof(*fl));
  if (fl == NULL)
    return fail(EXIT_LOCAL, "out of memory");
  size_t next = 0, in_flight = 0;
  int rc = EXIT_OK;
  for (;;) {
    while (rc == EXIT_OK && next < n && in_flight < PIPELINE_WINDOW) {
      if (kind[next] == SP_ACCT_PASS) {
        struct flight *f = &fl[in_flight++];
        f->row = next;
        f->hops = 0;
        memcpy(f->pk, txs[next].u.pass_enroll.pass, SP_PK_LEN);
        rc = send_history_q(w, f->pk, 0, &f->id);
      }
      next++;
    }
    if (rc || in_flight == 0)
      break;
    struct sp_msg resp;
    if ((rc = check_recv(w, &resp)))
      break;
    size_t k = 0;
    while (k < in_flight && fl[k].id != resp.req_id)
      k++;
    if (k < in_flight && (rc = check_answer(&resp, SP_MSG_HISTORY_A, lines[fl[k].row])) == 0) {
      struct flight *f = &fl[k];
      size_t row = f->row;
      const struct sp_msg_history *h = &resp.u.history;
      if (h->next) {
        rc = send_history_q(w, f->pk, h->next, &f->id); /* older rows: same slot */
      } else {
        const struct sp_tx *first = h->n_rows ? &h->rows[h->n_rows - 1].tx : NULL;
        if (first && first->kind == SP_TX_PASS_REPLACE &&
            memcmp(first->u.pass_replace.new_pass, f->pk, SP_PK_LEN) == 0 &&
            f->hops < SP_MAX_PASS_CHAIN) {
          f->hops++; /* on with the predecessor, same slot */
          memcpy(f->pk, first->u.pass_replace.old_pass, SP_PK_LEN);
          rc = send_history_q(w, f->pk, 0, &f->id);
        } else {
          if (first && first->kind == SP_TX_PASS_ENROLL &&
              memcmp(first->u.pass_enroll.pass, f->pk, SP_PK_LEN) == 0)
            other[row] = memcmp(first->u.pass_enroll.household,
                                txs[row].u.pass_enroll.household, SP_HASH_LEN) != 0;
          *f = fl[--in_flight];
        }
      }
    }
    sp_msg_clear(&resp);
    if (rc)
      break;
  }
  free(fl);
  return rc;
}

static int drop_keys_in_use(struct wallet *w, struct sp_tx *txs, int *lines, size_t n,
                            size_t *n_left, size_t *already, size_t *refused)
{
  int rc = wallet_connect(w);
  if (rc)
    return rc;
  uint32_t *ids = calloc(n, sizeof(*ids));
  uint32_t *kind = calloc(n, sizeof(*kind));
  bool *answered = calloc(n, sizeof(*answered));
  if (!ids || !kind || !answered) {
    free(ids), free(kind), free(answered);
    return fail(EXIT_LOCAL, "out of memory");
  }
  size_t sent = 0, done = 0;
  while (done < n && rc == 0) {
    while (sent < n && sent - done < PIPELINE_WINDOW) {
      struct sp_msg req = {.type = SP_MSG_BALANCE_Q};
      memcpy(req.u.account.account, txs[sent].u.pass_enroll.pass, SP_PK_LEN);
      if (sp_client_send(w->cli, &req, &ids[sent]) != 0) {
        rc = fail(EXIT_NODE, "connection lost while checking the addresses");
        break;
      }
      sent++;
    }
    if (rc)
      break;
    struct sp_msg resp;
    if ((rc = check_recv(w, &resp)))
      break;
    size_t k = 0;
    while (k < sent && ids[k] != resp.req_id)
      k++;
    if (k < sent && !answered[k] && (rc = check_answer(&resp, SP_MSG_BALANCE_A, lines[k])) == 0) {
      kind[k] = resp.u.balance.kind;
      answered[k] = true;
      done++;
    }
    sp_msg_clear(&resp);
  }
  bool *other = rc == 0 ? calloc(n ? n : 1, sizeof(*other)) : NULL;
  if (rc == 0 && other == NULL)
    rc = fail(EXIT_LOCAL, "out of memory");
  if (rc == 0)
    rc = enrolled_elsewhere(w, txs, lines, n, kind, other);
  size_t left = 0;
  bool told_already = false, told_refused = false, told_other = false;
  for (size_t i = 0; i < n && rc == 0; i++) {
    char addr[SP_ADDRESS_LEN + 1];
    sp_address_encode(txs[i].u.pass_enroll.pass, addr);
    if (kind[i] == SP_ACCT_UNKNOWN) {
      txs[left] = txs[i];
      lines[left] = lines[i];
      left++;
    } else if (kind[i] == SP_ACCT_PASS && other[i]) {
      if (!told_other)
        fprintf(stderr, "line %d refused: %s: %s is enrolled for another household: not sent\n",
                lines[i], sp_reason_name(SP_R_KEY_IN_USE), addr);
      told_other = true;
      (*refused)++;
    } else if (kind[i] == SP_ACCT_PASS) {
      if (!told_already)
        fprintf(stderr, "line %d: %s is enrolled already: skipped\n", lines[i], addr);
      told_already = true;
      (*already)++;
    } else {
      if (!told_refused)
        fprintf(stderr, "line %d refused: %s: %s is in use by %s: not sent\n", lines[i],
                sp_reason_name(SP_R_KEY_IN_USE), addr,
                kind[i] == SP_ACCT_MERCHANT    ? "a merchant"
                : kind[i] == SP_ACCT_AUTHORITY ? "the authority"
                                               : "another account");
      told_refused = true;
      (*refused)++;
    }
  }
  *n_left = left;
  free(ids);
  free(kind);
  free(answered);
  free(other);
  return rc;
}

/* pass enroll --csv FILE: rows "address,household-reference" */
static int enroll_csv(struct wallet *w, const char *file)
{
  FILE *f = fopen(file, "r");
  if (f == NULL)
    return fail(EXIT_LOCAL, "cannot read '%s': %s", file, strerror(errno));
  struct sp_tx *txs = NULL;
  int *lines = NULL;
  size_t n = 0, cap = 0;
  char line[512];
  int lineno = 0, rc = 0;
  size_t len = 0;
  while (rc == 0 && (rc = csv_next(f, file, &lineno, line, sizeof(line), "\r\n", &len)) > 0) {
    rc = 0;
    if (len == 0 || (lineno == 1 && !strcmp(line, "address,household")))
      continue;
    char *comma = strchr(line, ',');
    if (comma == NULL || comma[1] == 0) {
      rc = fail(EXIT_USAGE, "%s:%d: expected 'address,household'", file, lineno);
      break;
    }
    *comma = 0;
    if (n == cap) {
      cap = cap ? 2 * cap : 1024;
      struct sp_tx *nt = realloc(txs, cap * sizeof(*txs));
      if (nt)
        txs = nt;
      int *nl = realloc(lines, cap * sizeof(*lines));
      if (nl)
        lines = nl;
      if (nt == NULL || nl == NULL) {
        rc = fail(EXIT_LOCAL, "out of memory");
        break;
      }
    }
    memset(&txs[n], 0, sizeof(txs[n]));
    txs[n].kind = SP_TX_PASS_ENROLL;
    int e = sp_address_decode(line, txs[n].u.pass_enroll.pass);
    if (e) {
      rc = fail(EXIT_USAGE, "%s:%d: '%s': %s", file, lineno, line, sp_keys_strerror(e));
      break;
    }
    if (!household_plain(comma + 1)) {
      rc = fail(EXIT_USAGE,
                "%s:%d: household '%s': no quotes, and no spaces at either end (it would "
                "be another household than the same reference typed plainly)",
                file, lineno, comma + 1);
      break;
    }
    if ((rc = household_hash(w, comma + 1, txs[n].u.pass_enroll.household)))
      break;
    lines[n] = lineno;
    n++;
  }
  fclose(f);
  if (rc < 0)
    rc = -rc; /* csv_next said why */
  if (rc == 0 && n == 0)
    rc = fail(EXIT_USAGE, "%s: no rows", file);
  if (rc == 0)
    rc = csv_repeats(file, txs, lines, n);
  size_t ok = 0, bad = 0, already = 0, to_send = 0;
  if (rc == 0)
    rc = drop_keys_in_use(w, txs, lines, n, &to_send, &already, &bad);
  if (rc == 0 && to_send) {
    size_t refused = 0;
    rc = submit_many(w, txs, lines, to_send, &ok, &refused);
    bad += refused;
  }
  free(txs);
  free(lines);
  if (rc)
    return rc;
  if (w->json)
    printf("{\"ok\":%s,\"enrolled\":%zu,\"already_enrolled\":%zu,\"refused\":%zu}\n",
           bad ? "false" : "true", ok, already, bad);
  else
    printf("enrolled %zu passes (%zu already enrolled, %zu refused)\n", ok, already, bad);
  return bad ? EXIT_REFUSED : EXIT_OK;
}

static int cmd_pass(struct wallet *w, int argc, char **argv)
{
  if (argc < 3)
    return usage_of("pass");
  const char *sub = argv[1];
  struct sp_tx tx;
  memset(&tx, 0, sizeof(tx));
  struct args a = {.names = {"household", "reason", "csv"}};
  int rc = args_parse(&a, "pass", argc, argv, 2);
  if (rc)
    return rc;
  if (!strcmp(sub, "enroll") && a.set[2] && a.n_pos == 0)
    return enroll_csv(w, a.values[2]);
  if (!strcmp(sub, "replace")) {
    if (a.n_pos != 2)
      return usage_of("pass");
    tx.kind = SP_TX_PASS_REPLACE;
    if ((rc = wallet_account(w, a.pos[0], tx.u.pass_replace.old_pass)) ||
        (rc = wallet_account(w, a.pos[1], tx.u.pass_replace.new_pass)))
      return rc;
    return wallet_submit(w, &tx, "pass replace");
  }
  if (a.n_pos != 1)
    return usage_of("pass");
  if (!strcmp(sub, "enroll")) {
    tx.kind = SP_TX_PASS_ENROLL;
    if ((rc = wallet_account(w, a.pos[0], tx.u.pass_enroll.pass)) ||
        (rc = text_arg("--household", a.values[0], 256)))
      return rc;
    if (!household_plain(a.values[0]))
      return fail(EXIT_USAGE, "--household '%s': no quotes, and no spaces at either end",
                  a.values[0]);
    if ((rc = household_hash(w, a.values[0], tx.u.pass_enroll.household)))
      return rc;
    return wallet_submit(w, &tx, "pass enroll");
  }
  if (!strcmp(sub, "block") || !strcmp(sub, "unblock")) {
    tx.kind = sub[0] == 'b' ? SP_TX_PASS_BLOCK : SP_TX_PASS_UNBLOCK;
    const char *reason = a.set[1] ? a.values[1] : (sub[0] == 'u' ? "unblocked" : NULL);
    if ((rc = wallet_account(w, a.pos[0], tx.u.reason.account)) ||
        (rc = text_arg("--reason", reason, SP_MAX_REASON)))
      return rc;
    tx.u.reason.reason = sp_str_c(reason);
    return wallet_submit(w, &tx, sub[0] == 'b' ? "pass block" : "pass unblock");
  }
  return usage_of("pass");
}

static int cmd_merchant(struct wallet *w, int argc, char **argv)
{
  if (argc < 3)
    return usage_of("merchant");
  const char *sub = argv[1];
  struct sp_tx tx;
  memset(&tx, 0, sizeof(tx));
  struct args a = {.names = {"name", "categories", "reason"}};
  int rc = args_parse(&a, "merchant", argc, argv, 2);
  if (rc)
    return rc;
  if (a.n_pos != 1)
    return usage_of("merchant");
  if (!strcmp(sub, "register") || !strcmp(sub, "update")) {
    char store[1024];
    tx.kind = sub[0] == 'r' ? SP_TX_MERCHANT_REGISTER : SP_TX_MERCHANT_UPDATE;
    if ((rc = wallet_account(w, a.pos[0], tx.u.merchant.merchant)) ||
        (rc = text_arg("--name", a.values[0], SP_MAX_NAME)))
      return rc;
    tx.u.merchant.name = sp_str_c(a.values[0]);
    if (!a.set[1] || parse_categories(a.values[1], &tx.u.merchant.categories, store,
                                      sizeof(store)))
      return fail(EXIT_USAGE, "--categories: a comma list of lower-case names");
    return wallet_submit(w, &tx, sub[0] == 'r' ? "merchant register" : "merchant update");
  }
  if (!strcmp(sub, "suspend") || !strcmp(sub, "reinstate")) {
    tx.kind = sub[0] == 's' ? SP_TX_MERCHANT_SUSPEND : SP_TX_MERCHANT_REINSTATE;
    if ((rc = wallet_account(w, a.pos[0], tx.u.reason.account)) ||
        (rc = text_arg("--reason", a.values[2], SP_MAX_REASON)))
      return rc;
    tx.u.reason.reason = sp_str_c(a.values[2]);
    return wallet_submit(w, &tx, sub[0] == 's' ? "merchant suspend" : "merchant reinstate");
  }
  return usage_of("merchant");
}

/* Sign and submit without printing; status, reason and msg tell the outcome. */
static int submit_quiet(struct wallet *w, struct sp_tx *tx, uint32_t *status, uint32_t *reason,
                        char *msg, size_t cap, uint64_t *height)
{
  int rc = wallet_connect(w);
  uint64_t seq;
  if (rc || (rc = wallet_next_seq(w, &seq)))
    return rc;
  memcpy(tx->signer, w->pk, SP_PK_LEN);
  tx->seq = seq;
  if (sp_tx_sign(tx, w->chain_id, w->sk) != SP_OK)
    return fail(EXIT_LOCAL, "cannot sign the transaction");
  struct sp_msg res;
  if ((rc = wallet_submit_signed(w, tx, &res)))
    return rc;
  *status = res.u.result.status;
  *reason = res.u.result.reason;
  *height = res.u.result.height;
  snprintf(msg, cap, "%.*s", (int)res.u.result.message.len, res.u.result.message.p);
  sp_msg_clear(&res);
  return 0;
}

static int cmp_row(const void *a, const void *b)
{
  return memcmp(((const struct sp_issue_row *)a)->pass, ((const struct sp_issue_row *)b)->pass,
                SP_PK_LEN);
}

/* issue FUND EUR --to ADDR --ref REF | issue FUND --csv FILE --ref REF */
static int cmd_issue(struct wallet *w, int argc, char **argv)
{
  struct args a = {.names = {"to", "csv", "ref"}};
  int rc = args_parse(&a, "issue", argc, argv, 1);
  if (rc)
    return rc;
  if (a.n_pos < 1 || !a.set[2] || (a.set[0] == a.set[1]) || (a.set[0] && a.n_pos != 2) ||
      (a.set[1] && a.n_pos != 1))
    return usage_of("issue");
  const char *fund = a.pos[0], *ref = a.values[2];
  if (!sp_ident_valid(fund, strlen(fund)))
    return fail(EXIT_USAGE, "fund id '%s': lower-case letters, digits, '-', '_', '.'", fund);
  if ((rc = text_arg("--ref", ref, SP_MAX_REF - 8)))
    return rc;
  struct sp_tx tx;
  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_ISSUE;
  tx.u.issue.fund = sp_str_c(fund);
  if (a.set[0]) {
    struct sp_issue_row row;
    if ((rc = wallet_account(w, a.values[0], row.pass)) || (rc = positive_amount_arg(a.pos[1], &row.amount)))
      return rc;
    tx.u.issue.ref = sp_str_c(ref);
    tx.u.issue.n_rows = 1;
    tx.u.issue.rows = &row;
    return wallet_submit(w, &tx, "issue");
  }

  /* CSV: check every row before issuing anything */
  FILE *f = fopen(a.values[1], "r");
  if (f == NULL)
    return fail(EXIT_LOCAL, "cannot read '%s': %s", a.values[1], strerror(errno));
  struct sp_issue_row *rows = NULL;
  size_t n = 0, cap = 0;
  char line[512];
  int lineno = 0;
  rc = 0;
  size_t len = 0;
  while (rc == 0 &&
         (rc = csv_next(f, a.values[1], &lineno, line, sizeof(line), "\r\n ", &len)) > 0) {
    rc = 0;
    if (len == 0 || (lineno == 1 && !strcmp(line, "address,amount")))
      continue;
    char *comma = strchr(line, ',');
    if (comma == NULL) {
      rc = fail(EXIT_USAGE, "%s:%d: expected 'address,amount'", a.values[1], lineno);
      break;
    }
    *comma = 0;
    if (n == cap) {
      cap = cap ? 2 * cap : 1024;
      struct sp_issue_row *nr = realloc(rows, cap * sizeof(*rows));
      if (nr == NULL) {
        rc = fail(EXIT_LOCAL, "out of memory");
        break;
      }
      rows = nr;
    }
    int e = sp_address_decode(line, rows[n].pass);
    if (e) {
      rc = fail(EXIT_USAGE, "%s:%d: '%s': %s", a.values[1], lineno, line, sp_keys_strerror(e));
      break;
    }
    e = sp_money_parse(comma + 1, &rows[n].amount);
    if (e || rows[n].amount == 0) {
      rc = fail(EXIT_USAGE, "%s:%d: amount '%s': %s", a.values[1], lineno, comma + 1,
                e ? sp_strerror(e) : "must be more than zero");
      break;
    }
    n++;
  }
  fclose(f);
  if (rc < 0)
    rc = -rc; /* csv_next said why */
  if (rc == 0 && n == 0)
    rc = fail(EXIT_USAGE, "%s: no rows", a.values[1]);
  if (rc == 0) {
    qsort(rows, n, sizeof(*rows), cmp_row);
    for (size_t i = 1; i < n; i++)
      if (!memcmp(rows[i - 1].pass, rows[i].pass, SP_PK_LEN)) {
        char addr[SP_ADDRESS_LEN + 1];
        sp_address_encode(rows[i].pass, addr);
        rc = fail(EXIT_USAGE, "%s: address %s appears twice; nothing issued", a.values[1], addr);
        break;
      }
  }
  if (rc) {
    free(rows);
    return rc;
  }
  /* batches of SP_MAX_ISSUE_ENTRIES rows, each with ref "REF/k": a re-run
   * of the same file and ref issues nothing twice (duplicate-issuance) */
  size_t batches = (n + SP_MAX_ISSUE_ENTRIES - 1) / SP_MAX_ISSUE_ENTRIES, done = 0, skipped = 0;
  size_t failed_at = 0; /* 1-based batch that was refused or not committed */
  bool tty = isatty(2);
  uint64_t total = 0;
  for (size_t b = 0; b < batches && rc == 0; b++) {
    char bref[SP_MAX_REF + 1];
    snprintf(bref, sizeof(bref), "%s/%zu", ref, b + 1);
    memset(&tx, 0, sizeof(tx));
    tx.kind = SP_TX_ISSUE;
    tx.u.issue.fund = sp_str_c(fund);
    tx.u.issue.ref = sp_str_c(bref);
    tx.u.issue.rows = rows + b * SP_MAX_ISSUE_ENTRIES;
    tx.u.issue.n_rows = (uint32_t)(b + 1 < batches ? SP_MAX_ISSUE_ENTRIES
                                                   : n - b * SP_MAX_ISSUE_ENTRIES);
    uint32_t status = 0, reason = 0;
    uint64_t height = 0;
    char msg[SP_MAX_REASON + 1];
    rc = submit_quiet(w, &tx, &status, &reason, msg, sizeof(msg), &height);
    if (rc)
      break;
    if (status == SP_TXS_COMMITTED) {
      done++;
      for (uint32_t i = 0; i < tx.u.issue.n_rows; i++)
        total += tx.u.issue.rows[i].amount;
    } else if (status == SP_TXS_REFUSED && reason == SP_R_DUPLICATE_ISSUANCE) {
      skipped++;
    } else if (status == SP_TXS_REFUSED) {
      print_refusal(w, reason, msg);
      rc = EXIT_REFUSED;
      failed_at = b + 1;
    } else {
      rc = fail(EXIT_NODE, "batch %zu not committed: %s", b + 1, msg);
      failed_at = b + 1;
    }
    if (tty)
      fprintf(stderr, "\rissuing: %zu/%zu batches", b + 1, batches);
  }
  if (tty)
    fprintf(stderr, "\n");
  free(rows);
  if (failed_at) { /* what went through, so that nobody issues twice or guesses */
    char eur[32];
    format_euro(total, eur, sizeof(eur));
    fprintf(stderr,
            "stadjer: batch %zu of %zu (ref %s/%zu) was not issued; before it %zu batches were "
            "issued now (%s) and %zu had been before; no later batch was sent. A file of at most "
            "%d rows: correct it and run it again with the same --ref. A larger one: put the "
            "rows not yet issued in a new file, with a new --ref.\n",
            failed_at, batches, ref, failed_at, done, eur, skipped, SP_MAX_ISSUE_ENTRIES);
  }
  if (rc == 0) {
    char eur[32];
    format_euro(total, eur, sizeof(eur));
    if (w->json)
      printf("{\"ok\":true,\"rows\":%zu,\"batches\":%zu,\"issued_batches\":%zu,"
             "\"already_issued_batches\":%zu,\"issued_cents\":%llu}\n",
             n, batches, done, skipped, (unsigned long long)total);
    else
      printf("issued %s to %zu passes in %zu batches (%zu already issued before, skipped)\n",
             eur, n, done, skipped);
  }
  return rc;
}

static int cmd_claim(struct wallet *w, int argc, char **argv)
{
  struct sp_tx tx;
  memset(&tx, 0, sizeof(tx));
  int rc;
  if (argc >= 2 && !strcmp(argv[1], "settle")) {
    struct args a = {.names = {"bank-ref"}};
    if ((rc = args_parse(&a, "claim settle", argc, argv, 2)))
      return rc;
    if (a.n_pos != 1 || unhex32(a.pos[0], tx.u.claim_settle.claim))
      return usage_of("claim");
    if ((rc = text_arg("--bank-ref", a.values[0], SP_MAX_REF)))
      return rc;
    tx.kind = SP_TX_CLAIM_SETTLE;
    tx.u.claim_settle.bank_ref = sp_str_c(a.values[0]);
    return wallet_submit(w, &tx, "claim settle");
  }
  struct args a = {.names = {"fund", "all!"}};
  if ((rc = args_parse(&a, "claim", argc, argv, 1)))
    return rc;
  if ((a.n_pos == 1) == a.set[1] || !a.set[0])
    return usage_of("claim");
  const char *fund = a.values[0];
  if (!sp_ident_valid(fund, strlen(fund)))
    return fail(EXIT_USAGE, "fund id '%s' is not valid", fund);
  tx.kind = SP_TX_CLAIM;
  tx.u.claim.fund = sp_str_c(fund);
  if (a.set[1]) {
    /* everything received in this fund and not yet claimed */
    if ((rc = wallet_connect(w)))
      return rc;
    struct sp_msg req = {.type = SP_MSG_BALANCE_Q}, resp;
    memcpy(req.u.account.account, w->pk, SP_PK_LEN);
    if ((rc = wallet_call(w, &req, &resp, SP_MSG_BALANCE_A)))
      return rc;
    for (uint32_t i = 0; i < resp.u.balance.n_rows; i++)
      if (sp_str_eq(resp.u.balance.rows[i].fund, sp_str_c(fund)))
        tx.u.claim.amount = resp.u.balance.rows[i].amount;
    sp_msg_clear(&resp);
    if (tx.u.claim.amount == 0) {
      char why[SP_MAX_REASON + 1];
      snprintf(why, sizeof(why), "nothing to claim in fund '%s'", fund);
      print_refusal(w, SP_R_INSUFFICIENT_RECEIVABLE, why);
      return EXIT_REFUSED;
    }
  } else if ((rc = positive_amount_arg(a.pos[0], &tx.u.claim.amount))) {
    return rc;
  }
  return wallet_submit(w, &tx, "claim");
}

/* What this merchant has refunded of payment `id` at (height, index):
 * its own refunds of that payment, all newer than the payment, found by
 * reading the merchant's history back to the payment. */
static int refunded_so_far(struct wallet *w, const uint8_t id[SP_HASH_LEN], uint64_t height,
                           uint32_t index, uint64_t *refunded)
{
  *refunded = 0;
  uint64_t before = 0;
  bool reached = false;
  do {
    struct sp_msg req = {.type = SP_MSG_HISTORY_Q}, resp;
    memcpy(req.u.history_q.account, w->pk, SP_PK_LEN);
    req.u.history_q.before = before;
    req.u.history_q.limit = SP_MAX_HISTORY;
    int rc = wallet_call(w, &req, &resp, SP_MSG_HISTORY_A);
    if (rc)
      return rc;
    for (uint32_t i = 0; i < resp.u.history.n_rows && !reached; i++) {
      const struct sp_history_row *r = &resp.u.history.rows[i];
      reached = r->height < height || (r->height == height && r->index <= index);
      if (!reached && r->tx.kind == SP_TX_REFUND &&
          memcmp(r->tx.signer, w->pk, SP_PK_LEN) == 0 &&
          memcmp(r->tx.u.refund.payment, id, SP_HASH_LEN) == 0)
        *refunded += r->tx.u.refund.amount;
    }
    before = resp.u.history.next;
    sp_msg_clear(&resp);
  } while (before && !reached);
  return EXIT_OK;
}

static int cmd_refund(struct wallet *w, int argc, char **argv)
{
  if (argc < 2 || argc > 3)
    return usage_of("refund");
  struct sp_tx tx;
  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_REFUND;
  if (unhex32(argv[1], tx.u.refund.payment))
    return fail(EXIT_USAGE, "TXID '%s' is not 64 hex digits", argv[1]);
  int rc;
  if (argc == 3) {
    if ((rc = positive_amount_arg(argv[2], &tx.u.refund.amount)))
      return rc;
    return wallet_submit(w, &tx, "refund");
  }
  /* what is left of the payment: its amount less this merchant's refunds */
  if ((rc = wallet_connect(w)))
    return rc;
  struct sp_msg req = {.type = SP_MSG_PROOF_Q}, resp;
  memcpy(req.u.txid.txid, tx.u.refund.payment, SP_HASH_LEN);
  if ((rc = wallet_call(w, &req, &resp, SP_MSG_PROOF_A)))
    return rc;
  uint64_t paid = 0, height = resp.u.proof.height;
  uint32_t index = resp.u.proof.index;
  bool to_me = resp.u.proof.tx.kind == SP_TX_PAY &&
               memcmp(resp.u.proof.tx.u.pay.merchant, w->pk, SP_PK_LEN) == 0;
  if (resp.u.proof.tx.kind == SP_TX_PAY)
    for (uint32_t i = 0; i < resp.u.proof.tx.u.pay.n_parts; i++)
      paid += resp.u.proof.tx.u.pay.parts[i].amount;
  sp_msg_clear(&resp);
  if (paid == 0)
    return fail(EXIT_USAGE, "%s is not a payment", argv[1]);
  char why[SP_MAX_REASON + 1];
  if (!to_me) { /* the ledger would refuse it: say so without sending */
    snprintf(why, sizeof(why), "payment %.8s was made to another merchant", argv[1]);
    print_refusal(w, SP_R_NOT_YOUR_PAYMENT, why);
    return EXIT_REFUSED;
  }
  uint64_t done;
  if ((rc = refunded_so_far(w, tx.u.refund.payment, height, index, &done)))
    return rc;
  if (done >= paid) {
    snprintf(why, sizeof(why), "payment %.8s is refunded in full already", argv[1]);
    print_refusal(w, SP_R_REFUND_EXCEEDS_PAYMENT, why);
    return EXIT_REFUSED;
  }
  tx.u.refund.amount = paid - done;
  return wallet_submit(w, &tx, "refund");
}

/* Fund overview from the node (public data). resp must be cleared. */
static int fetch_funds(struct wallet *w, const char *id, struct sp_msg *resp)
{
  struct sp_msg req = {.type = SP_MSG_FUNDS_Q};
  req.u.funds_q.fund = sp_str_c(id ? id : "");
  return wallet_call(w, &req, resp, SP_MSG_FUNDS_A);
}

static const struct sp_fund_row *find_fund(const struct sp_msg *m, struct sp_str id)
{
  for (uint32_t i = 0; i < m->u.funds.n; i++)
    if (sp_str_eq(m->u.funds.rows[i].id, id))
      return &m->u.funds.rows[i];
  return NULL;
}

static void cats_text(const struct sp_catlist *c, char *out, size_t cap)
{
  size_t off = 0;
  out[0] = 0;
  for (uint32_t i = 0; i < c->n && off < cap; i++)
    off += (size_t)snprintf(out + off, cap - off, "%s%.*s", i ? ", " : "", (int)c->v[i].len,
                            c->v[i].p);
}

int cmd_fund_show(struct wallet *w, const char *id, bool list)
{
  struct sp_msg resp;
  int rc = fetch_funds(w, list ? NULL : id, &resp);
  if (rc)
    return rc;
  if (!list && resp.u.funds.n == 0) {
    sp_msg_clear(&resp);
    return fail(EXIT_REFUSED, "unknown fund '%s'", id);
  }
  if (w->json)
    printf("[");
  for (uint32_t i = 0; i < resp.u.funds.n; i++) {
    const struct sp_fund_row *f = &resp.u.funds.rows[i];
    char cats[256], from[11], until[11], dep[32], left[32], cred[32], recv[32], clm[32],
        set[32], ret[32], maxp[32];
    cats_text(&f->categories, cats, sizeof(cats));
    format_date(f->valid_from_ms, from);
    format_date(f->valid_until_ms - 86400000ull, until);
    format_euro(f->deposited, dep, sizeof(dep));
    format_euro(f->unissued, left, sizeof(left));
    format_euro(f->passes, cred, sizeof(cred));
    format_euro(f->receivable, recv, sizeof(recv));
    format_euro(f->claimed, clm, sizeof(clm));
    format_euro(f->settled, set, sizeof(set));
    format_euro(f->returned, ret, sizeof(ret));
    format_euro(f->max_payment, maxp, sizeof(maxp));
    if (w->json) {
      printf("%s{\"id\":\"%.*s\",\"name\":", i ? "," : "", (int)f->id.len, f->id.p);
      char name[SP_MAX_NAME + 1];
      snprintf(name, sizeof(name), "%.*s", (int)f->name.len, f->name.p);
      json_str(stdout, name);
      printf(",\"categories\":\"%s\",\"from\":\"%s\",\"until\":\"%s\",\"closed\":%s,"
             "\"max_payment_cents\":%llu,\"deposited_cents\":%llu,\"unissued_cents\":%llu,"
             "\"on_passes_cents\":%llu,\"receivable_cents\":%llu,\"claimed_cents\":%llu,"
             "\"settled_cents\":%llu,\"returned_cents\":%llu}",
             cats, from, until, f->closed ? "true" : "false",
             (unsigned long long)f->max_payment, (unsigned long long)f->deposited,
             (unsigned long long)f->unissued, (unsigned long long)f->passes,
             (unsigned long long)f->receivable, (unsigned long long)f->claimed,
             (unsigned long long)f->settled, (unsigned long long)f->returned);
    } else if (list) {
      printf("%-16.*s %-28.*s %s..%s %s%s\n", (int)f->id.len, f->id.p, (int)f->name.len,
             f->name.p, from, until, cats, f->closed ? " (closed)" : "");
    } else {
      printf("fund %.*s: %.*s\n  categories   %s\n  valid        %s to %s%s\n"
             "  max payment  %s\n  deposited    %s\n  unissued     %s\n  on passes    %s\n"
             "  receivable   %s\n  claimed      %s\n  settled      %s\n  returned     %s\n",
             (int)f->id.len, f->id.p, (int)f->name.len, f->name.p, cats, from, until,
             f->closed ? " (closed)" : "", f->max_payment ? maxp : "none", dep, left, cred,
             recv, clm, set, ret);
    }
  }
  if (w->json)
    printf("]\n");
  sp_msg_clear(&resp);
  return EXIT_OK;
}

static int cmd_balance(struct wallet *w, int argc, char **argv)
{
  if (argc > 2)
    return usage_of("balance");
  int rc = wallet_connect(w);
  if (rc)
    return rc;
  uint8_t pk[SP_PK_LEN];
  if (argc == 2) {
    if ((rc = wallet_account(w, argv[1], pk)))
      return rc;
  } else {
    memcpy(pk, w->pk, SP_PK_LEN);
  }
  struct sp_msg req = {.type = SP_MSG_BALANCE_Q}, bal, funds;
  memcpy(req.u.account.account, pk, SP_PK_LEN);
  if ((rc = wallet_call(w, &req, &bal, SP_MSG_BALANCE_A)))
    return rc;
  if ((rc = fetch_funds(w, NULL, &funds))) {
    sp_msg_clear(&bal);
    return rc;
  }
  static const char *const kinds[] = {"unknown", "authority", "pass", "merchant"};
  static const char *const states[] = {"-", "active", "blocked", "replaced", "suspended"};
  const struct sp_msg_balance *b = &bal.u.balance;
  char addr[SP_ADDRESS_LEN + 1];
  sp_address_encode(pk, addr);
  if (w->json)
    printf("{\"address\":\"%s\",\"kind\":\"%s\",\"status\":\"%s\",\"funds\":[", addr,
           kinds[b->kind], states[b->status]);
  else
    printf("%s (%s, %s)\n", addr, kinds[b->kind], states[b->status]);
  for (uint32_t i = 0; i < b->n_rows; i++) {
    const struct sp_fund_row *f = find_fund(&funds, b->rows[i].fund);
    char eur[32], cats[256] = "", until[11] = "?", name[SP_MAX_NAME + 1] = "";
    format_euro(b->rows[i].amount, eur, sizeof(eur));
    if (f) {
      cats_text(&f->categories, cats, sizeof(cats));
      format_date(f->valid_until_ms - 86400000ull, until);
      snprintf(name, sizeof(name), "%.*s", (int)f->name.len, f->name.p);
    }
    if (w->json) {
      printf("%s{\"fund\":\"%.*s\",\"name\":", i ? "," : "", (int)b->rows[i].fund.len,
             b->rows[i].fund.p);
      json_str(stdout, name);
      printf(",\"cents\":%llu,\"categories\":\"%s\",\"valid_until\":\"%s\"}",
             (unsigned long long)b->rows[i].amount, cats, until);
    } else {
      printf("  %-16.*s %12s  %s (%s), valid until %s\n", (int)b->rows[i].fund.len,
             b->rows[i].fund.p, eur, name, cats, until);
    }
  }
  if (w->json)
    printf("]}\n");
  else if (b->n_rows == 0)
    printf("  no credit\n");
  sp_msg_clear(&bal);
  sp_msg_clear(&funds);
  return EXIT_OK;
}

static void describe_tx(const struct sp_tx *tx, char *out, size_t cap)
{
  char eur[32], addr[SP_ADDRESS_LEN + 1];
  switch (tx->kind) {
  case SP_TX_PAY: {
    uint64_t total = 0;
    for (uint32_t i = 0; i < tx->u.pay.n_parts; i++)
      total += tx->u.pay.parts[i].amount;
    format_euro(total, eur, sizeof(eur));
    sp_address_encode(tx->u.pay.merchant, addr);
    snprintf(out, cap, "pay %s to %.14s..", eur, addr);
    break;
  }
  case SP_TX_ISSUE: {
    uint64_t total = 0;
    for (uint32_t i = 0; i < tx->u.issue.n_rows; i++)
      total += tx->u.issue.rows[i].amount;
    format_euro(total, eur, sizeof(eur));
    snprintf(out, cap, "issue %s from fund '%.*s' to %u passes", eur, (int)tx->u.issue.fund.len,
             tx->u.issue.fund.p, tx->u.issue.n_rows);
    break;
  }
  case SP_TX_REFUND:
    format_euro(tx->u.refund.amount, eur, sizeof(eur));
    snprintf(out, cap, "refund %s", eur);
    break;
  case SP_TX_CLAIM:
    format_euro(tx->u.claim.amount, eur, sizeof(eur));
    snprintf(out, cap, "claim %s from fund '%.*s'", eur, (int)tx->u.claim.fund.len,
             tx->u.claim.fund.p);
    break;
  default: snprintf(out, cap, "%s", sp_tx_kind_name(tx->kind));
  }
}

static int cmd_history(struct wallet *w, int argc, char **argv)
{
  if (argc > 2)
    return usage_of("history");
  int rc = wallet_connect(w);
  if (rc)
    return rc;
  uint8_t pk[SP_PK_LEN];
  if (argc == 2 ? (rc = wallet_account(w, argv[1], pk)) : (memcpy(pk, w->pk, SP_PK_LEN), 0))
    return rc;
  uint64_t before = 0;
  int shown = 0;
  if (w->json)
    printf("[");
  do {
    struct sp_msg req = {.type = SP_MSG_HISTORY_Q}, resp;
    memcpy(req.u.history_q.account, pk, SP_PK_LEN);
    req.u.history_q.before = before;
    req.u.history_q.limit = SP_MAX_HISTORY;
    if ((rc = wallet_call(w, &req, &resp, SP_MSG_HISTORY_A)))
      return rc;
    for (uint32_t i = 0; i < resp.u.history.n_rows && shown < 1000; i++, shown++) {
      const struct sp_history_row *r = &resp.u.history.rows[i];
      char date[11], what[160], id[65];
      uint8_t txid[SP_HASH_LEN];
      format_date(r->time_ms, date);
      describe_tx(&r->tx, what, sizeof(what));
      sp_tx_id(&r->tx, w->chain_id, txid);
      hex32(txid, id);
      if (w->json) {
        printf("%s{\"height\":%llu,\"index\":%u,\"date\":\"%s\",\"kind\":\"%s\",\"txid\":\"%s\","
               "\"what\":",
               shown ? "," : "", (unsigned long long)r->height, r->index, date,
               sp_tx_kind_name(r->tx.kind), id);
        json_str(stdout, what);
        printf("}");
      } else {
        printf("%s  block %-6llu %s  %s\n", date, (unsigned long long)r->height, what, id);
      }
    }
    before = resp.u.history.next;
    sp_msg_clear(&resp);
  } while (before && shown < 1000);
  if (w->json)
    printf("]\n");
  return EXIT_OK;
}

/* pay MERCHANT EUR [--fund ID]... [--ref ORDER]. Without --fund, the funds
 * of the pass that expire first are used, skipping funds the merchant's
 * category is not allowed in; the split is shown. */
static int cmd_pay(struct wallet *w, int argc, char **argv)
{
  struct args a = {.names = {"fund*", "ref"}};
  int rc = args_parse(&a, "pay", argc, argv, 1);
  if (rc)
    return rc;
  if (a.n_pos != 2)
    return usage_of("pay");
  uint8_t merchant[SP_PK_LEN];
  uint64_t amount;
  if ((rc = wallet_account(w, a.pos[0], merchant)) ||
      (rc = positive_amount_arg(a.pos[1], &amount)))
    return rc;
  const char *ref = a.set[1] ? a.values[1] : "";
  if (strlen(ref) > SP_MAX_REF || !sp_text_valid(ref, strlen(ref)))
    return fail(EXIT_USAGE, "--ref is too long or has control characters");
  struct sp_tx tx;
  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_PAY;
  memcpy(tx.u.pay.merchant, merchant, SP_PK_LEN);
  tx.u.pay.order_ref = sp_str_c(ref);
  if (a.n_multi[0] == 1) {
    tx.u.pay.n_parts = 1;
    tx.u.pay.parts[0].fund = sp_str_c(a.multi[0][0]);
    tx.u.pay.parts[0].amount = amount;
    return wallet_submit(w, &tx, "pay");
  }
  /* choose: candidate funds with credit, soonest expiry first */
  if ((rc = wallet_connect(w)))
    return rc;
  struct sp_msg req = {.type = SP_MSG_BALANCE_Q}, bal, funds;
  memcpy(req.u.account.account, w->pk, SP_PK_LEN);
  if ((rc = wallet_call(w, &req, &bal, SP_MSG_BALANCE_A)))
    return rc;
  if ((rc = fetch_funds(w, NULL, &funds))) {
    sp_msg_clear(&bal);
    return rc;
  }
  struct cand {
    char id[SP_MAX_ID + 1];
    uint64_t have, until;
    bool excluded;
  } c[SP_MAX_BALANCES];
  size_t nc = 0;
  uint64_t now = (uint64_t)time(NULL) * 1000;
  for (uint32_t i = 0; i < bal.u.balance.n_rows && nc < SP_MAX_BALANCES; i++) {
    const struct sp_str id = bal.u.balance.rows[i].fund;
    const struct sp_fund_row *f = find_fund(&funds, id);
    bool named = a.n_multi[0] == 0;
    for (int k = 0; k < a.n_multi[0]; k++)
      named = named || sp_str_eq(sp_str_c(a.multi[0][k]), id);
    if (!named || f == NULL || f->closed || now < f->valid_from_ms || now >= f->valid_until_ms)
      continue;
    snprintf(c[nc].id, sizeof(c[nc].id), "%.*s", (int)id.len, id.p);
    c[nc].have = bal.u.balance.rows[i].amount;
    c[nc].until = f->valid_until_ms;
    c[nc++].excluded = false;
  }
  sp_msg_clear(&bal);
  sp_msg_clear(&funds);
  for (size_t i = 0; i < nc; i++) /* soonest expiry first */
    for (size_t j = i + 1; j < nc; j++)
      if (c[j].until < c[i].until) {
        struct cand t = c[i];
        c[i] = c[j];
        c[j] = t;
      }
  for (int attempt = 0; attempt <= (int)nc; attempt++) {
    uint64_t left = amount;
    tx.u.pay.n_parts = 0;
    for (size_t i = 0; i < nc && left && tx.u.pay.n_parts < SP_MAX_PAY_PARTS; i++) {
      if (c[i].excluded || c[i].have == 0)
        continue;
      uint64_t take = c[i].have < left ? c[i].have : left;
      tx.u.pay.parts[tx.u.pay.n_parts].fund = sp_str_c(c[i].id);
      tx.u.pay.parts[tx.u.pay.n_parts++].amount = take;
      left -= take;
    }
    if (left) { /* as the user guide says: naming the fund gives the ledger's reason */
      print_refusal(w, SP_R_INSUFFICIENT_BALANCE,
                    "not enough credit in funds that allow this merchant");
      return EXIT_REFUSED;
    }
    /* parts must be sorted by fund id */
    for (uint32_t i = 0; i < tx.u.pay.n_parts; i++)
      for (uint32_t j = i + 1; j < tx.u.pay.n_parts; j++)
        if (sp_str_cmp(tx.u.pay.parts[j].fund, tx.u.pay.parts[i].fund) < 0) {
          struct sp_pay_part t = tx.u.pay.parts[i];
          tx.u.pay.parts[i] = tx.u.pay.parts[j];
          tx.u.pay.parts[j] = t;
        }
    uint32_t status = 0, reason = 0;
    uint64_t height = 0;
    char msg[SP_MAX_REASON + 1];
    if ((rc = submit_quiet(w, &tx, &status, &reason, msg, sizeof(msg), &height)))
      return rc;
    if (status == SP_TXS_COMMITTED) {
      uint8_t id[SP_HASH_LEN];
      char hex[65];
      struct sp_buf b;
      sp_buf_init(&b, SP_MAX_TX_BYTES);
      sp_tx_encode_body(&tx, &b);
      sp_hash_dom(id, SP_DOM_TX, w->chain_id, b.data, b.len);
      sp_buf_free(&b);
      hex32(id, hex);
      if (w->json) {
        printf("{\"ok\":true,\"what\":\"pay\",\"txid\":\"%s\",\"height\":%llu,\"split\":[", hex,
               (unsigned long long)height);
        for (uint32_t i = 0; i < tx.u.pay.n_parts; i++)
          printf("%s{\"fund\":\"%.*s\",\"cents\":%llu}", i ? "," : "",
                 (int)tx.u.pay.parts[i].fund.len, tx.u.pay.parts[i].fund.p,
                 (unsigned long long)tx.u.pay.parts[i].amount);
        printf("]}\n");
      } else {
        printf("paid in block %llu (tx %s):\n", (unsigned long long)height, hex);
        for (uint32_t i = 0; i < tx.u.pay.n_parts; i++) {
          char eur[32];
          format_euro(tx.u.pay.parts[i].amount, eur, sizeof(eur));
          printf("  %10s from %.*s\n", eur, (int)tx.u.pay.parts[i].fund.len,
                 tx.u.pay.parts[i].fund.p);
        }
      }
      return EXIT_OK;
    }
    if (status != SP_TXS_REFUSED)
      return fail(EXIT_NODE, "payment not committed: %s", msg);
    /* a fund this merchant may not be paid from: leave it out and retry,
     * unless the user named the funds */
    /* the fund is named last in those messages (after the merchant's name,
     * which may itself contain "fund '") */
    const char *q = NULL;
    for (const char *f = strstr(msg, "fund '"); f; f = strstr(f + 1, "fund '"))
      q = f;
    bool retried = false;
    if (a.n_multi[0] == 0 && q &&
        (reason == SP_R_CATEGORY_NOT_ALLOWED || reason == SP_R_OVER_MAX_PAYMENT ||
         reason == SP_R_FUND_EXPIRED || reason == SP_R_FUND_NOT_OPEN)) {
      q += 6;
      for (size_t i = 0; i < nc; i++)
        if (!c[i].excluded && !strncmp(q, c[i].id, strlen(c[i].id)) &&
            q[strlen(c[i].id)] == '\'') {
          c[i].excluded = retried = true;
          break;
        }
    }
    if (!retried) {
      print_refusal(w, reason, msg);
      return EXIT_REFUSED;
    }
  }
  print_refusal(w, SP_R_INSUFFICIENT_BALANCE, "no fund of this pass can pay this merchant");
  return EXIT_REFUSED;
}

/* address HEX...: the address of hex public keys (e.g. node keys) */
static int cmd_address(struct wallet *w, int argc, char **argv)
{
  if (argc < 2)
    return usage_of("address");
  for (int i = 1; i < argc; i++) {
    uint8_t pk[SP_PK_LEN];
    char addr[SP_ADDRESS_LEN + 1];
    if (unhex32(argv[i], pk))
      return fail(EXIT_USAGE, "'%s' is not a 64-hex-digit public key", argv[i]);
    sp_address_encode(pk, addr);
    if (w->json)
      printf("%s\"%s\"%s", i == 1 ? "[" : ",", addr, i + 1 == argc ? "]\n" : "");
    else
      printf("%s\n", addr);
  }
  return EXIT_OK;
}

/* ================================================================ table */

const struct command wallet_commands[] = {
    {"key", cmd_key, "key new NAME | key list | key show NAME",
     "create a sealed key (passphrase from $STADJER_PASSPHRASE, --passphrase-file or a "
     "prompt), list keys, show a key's address"},
    {"genesis", cmd_genesis,
     "genesis new --name NAME --authority ADDR --validator ADDR@HOST:PORT... --categories a,b "
     "--out FILE [--time DATE] [--grace-days N]",
     "write the genesis of a new chain"},
    {"status", cmd_status, "status", "show the node's height, tip, peers and mempool"},
    {"fund", cmd_fund,
     "fund create ID --name NAME --categories a,b --from DATE --until DATE [--max-payment EUR]"
     " | fund deposit ID EUR --ref BANKREF | fund close ID | fund show ID | fund list",
     "municipality: manage funds (create, deposit budget, close after expiry); anyone: show"},
    {"pass", cmd_pass,
     "pass enroll ADDR --household REF | pass enroll --csv FILE | pass block ADDR --reason TEXT"
     " | pass unblock ADDR | pass replace OLD NEW",
     "municipality: enrol, block, unblock and replace passes"},
    {"merchant", cmd_merchant,
     "merchant register ADDR --name NAME --categories a,b | merchant update ADDR --name NAME "
     "--categories a,b | merchant suspend ADDR --reason TEXT | merchant reinstate ADDR "
     "--reason TEXT",
     "municipality: manage merchants"},
    {"issue", cmd_issue, "issue FUND EUR --to ADDR --ref REF | issue FUND --csv FILE --ref REF",
     "municipality: issue credit to one pass, or to thousands from a CSV of address,amount "
     "(a bad row issues nothing; re-running the same file and ref issues nothing twice)"},
    {"claim", cmd_claim, "claim --fund ID (EUR | --all) | claim settle CLAIMID --bank-ref REF",
     "merchant: redeem received credit; municipality: settle a claim"},
    {"balance", cmd_balance, "balance [ADDR]", "credit per fund (passes) or receivables (merchants)"},
    {"history", cmd_history, "history [ADDR]", "transactions of an account, newest first"},
    {"pay", cmd_pay, "pay MERCHANT EUR [--fund ID]... [--ref ORDER]",
     "household: pay a merchant; without --fund the funds expiring first are used"},
    {"refund", cmd_refund, "refund TXID [EUR]",
     "merchant: refund part of a payment, or without EUR what is left of it"},
    {"audit", cmd_audit, "audit verify | audit report [--fund ID] [--format text|json|csv]",
     "auditor: verify the whole chain from genesis; reconcile every fund"},
    {"address", cmd_address, "address HEXKEY...",
     "the address (with checksum) of public keys given as 64 hex digits"},
    {"proof", cmd_proof, "proof TXID [--out FILE] | proof verify FILE",
     "write a receipt for a transaction; check a receipt offline against the genesis"},
    {NULL, NULL, NULL, NULL}};
