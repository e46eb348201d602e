#include <errno.h>
#include <sodium.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sp/ledger.h"
#include "wallet.h"

#define CALL_TIMEOUT_MS 30000
#define SUBMIT_TIMEOUT_MS 60000

int fail(int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "stadjer: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  return code;
}

int usage_of(const char *cmd)
{
  for (const struct command *c = wallet_commands; c->name; c++)
    if (!strcmp(c->name, cmd)) {
      fprintf(stderr, "usage: stadjer %s\n", c->usage);
      return EXIT_USAGE;
    }
  return fail(EXIT_USAGE, "unknown command '%s' (see stadjer --help)", cmd);
}

static int read_all(const char *path, size_t max, uint8_t **out, size_t *n)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return -1;
  uint8_t *buf = malloc(max + 1);
  size_t len = buf ? fread(buf, 1, max + 1, f) : 0;
  fclose(f);
  if (buf == NULL || len > max) {
    free(buf);
    return -1;
  }
  *out = buf;
  *n = len;
  return 0;
}

int wallet_genesis(struct wallet *w)
{
  if (w->genesis_bytes)
    return 0;
  char path[1100];
  snprintf(path, sizeof(path), "%s/genesis.bin", w->home);
  if (read_all(path, 1 << 20, &w->genesis_bytes, &w->genesis_len) != 0)
    return fail(EXIT_LOCAL, "no genesis in '%s' (copy the chain's genesis.bin there, or "
                            "create one with: stadjer genesis new)",
                path);
  if (sp_genesis_decode(w->genesis_bytes, w->genesis_len, &w->g) != SP_OK) {
    free(w->genesis_bytes);
    w->genesis_bytes = NULL;
    return fail(EXIT_LOCAL, "genesis '%s' is damaged", path);
  }
  sp_chain_id(w->genesis_bytes, w->genesis_len, w->chain_id);
  return 0;
}

int wallet_key(struct wallet *w)
{
  if (w->have_key)
    return 0;
  if (w->key_name == NULL)
    return fail(EXIT_USAGE, "which key? use --key NAME (see: stadjer key list)");
  char path[1200];
  snprintf(path, sizeof(path), "%s/keys/%s.key", w->home, w->key_name);
  uint8_t *file;
  size_t n;
  bool too_open = false;
  if (sp_keyfile_read(path, &file, &n, &too_open) != 0)
    return fail(EXIT_LOCAL, "no key '%s' (%s)", w->key_name, path);
  if (too_open)
    fprintf(stderr, "stadjer: warning: key file '%s' is readable by others (chmod 600 it)\n",
            path);
  char pass[512];
  char prompt[128];
  snprintf(prompt, sizeof(prompt), "passphrase for key '%s': ", w->key_name);
  int rc = sp_passphrase_get(prompt, "STADJER_PASSPHRASE", w->pass_file, pass, sizeof(pass),
                             false);
  if (rc && w->pass_file) { /* name the file that failed: not the key's */
    sodium_memzero(pass, sizeof(pass));
    free(file);
    return fail(EXIT_LOCAL, "--passphrase-file '%s': %s", w->pass_file, sp_keys_strerror(rc));
  }
  if (rc == 0)
    rc = sp_keyfile_open(file, n, pass, strlen(pass), w->pk, w->sk);
  sodium_memzero(pass, sizeof(pass));
  free(file);
  if (rc)
    return fail(EXIT_LOCAL, "key '%s': %s", w->key_name, sp_keys_strerror(rc));
  w->have_key = true;
  return 0;
}

int wallet_account(struct wallet *w, const char *text, uint8_t pk[SP_PK_LEN])
{
  if (strncmp(text, "sp", 2) == 0 && strlen(text) == SP_ADDRESS_LEN) {
    int rc = sp_address_decode(text, pk);
    if (rc)
      return fail(EXIT_USAGE, "'%s': %s", text, sp_keys_strerror(rc));
    return 0;
  }
  /* a key name of this wallet */
  char path[1200];
  snprintf(path, sizeof(path), "%s/keys/%s.key", w->home, text);
  uint8_t *file;
  size_t n;
  bool too_open;
  char name[65];
  int rc = sp_keyfile_read(path, &file, &n, &too_open);
  if (rc == 0) {
    rc = sp_keyfile_info(file, n, pk, name);
    free(file);
    if (rc == 0)
      return 0;
  }
  if (rc != SP_KEY_E_NOTFOUND) /* there is such a key, but it cannot be used */
    return fail(EXIT_LOCAL, "key '%s': the file %s cannot be read: %s", text, path,
                sp_keys_strerror(rc));
  return fail(EXIT_USAGE, "'%s' is neither an address nor a key of this wallet", text);
}

int wallet_connect(struct wallet *w)
{
  if (w->cli)
    return 0;
  int rc = wallet_genesis(w);
  if (rc || (rc = wallet_key(w)))
    return rc;
  const char *node = w->node ? w->node : getenv("STADJER_NODE");
  if (node == NULL)
    return fail(EXIT_USAGE, "which node? use --node HOST:PORT or set STADJER_NODE");
  char host[256];
  const char *colon = strrchr(node, ':');
  char *end;
  long port = colon ? strtol(colon + 1, &end, 10) : -1;
  if (colon == NULL || colon == node || (size_t)(colon - node) >= sizeof(host) || *end ||
      port <= 0 || port > 65535)
    return fail(EXIT_USAGE, "node '%s' is not HOST:PORT", node);
  memcpy(host, node, (size_t)(colon - node));
  host[colon - node] = 0;
  char err[256];
  if (sp_client_connect(&w->cli, host, (int)port, w->chain_id, w->pk, w->sk, 10000, err,
                        sizeof(err)) != 0)
    return fail(EXIT_NODE, "node %s: %s", node, err);
  return 0;
}

int wallet_call(struct wallet *w, struct sp_msg *req, struct sp_msg *resp, uint32_t want)
{
  int rc = wallet_connect(w);
  if (rc)
    return rc;
  char err[256];
  if (sp_client_call(w->cli, req, resp, req->type == SP_MSG_SUBMIT ? SUBMIT_TIMEOUT_MS
                                                                    : CALL_TIMEOUT_MS,
                     err, sizeof(err)) != 0)
    return fail(EXIT_NODE, "%s", err);
  if (resp->type == SP_MSG_ERROR) {
    int code = resp->u.error.code == 1 ? EXIT_REFUSED : EXIT_NODE;
    fail(code, "node: %.*s", (int)resp->u.error.message.len, resp->u.error.message.p);
    sp_msg_clear(resp);
    return code;
  }
  if (resp->type != want) {
    sp_msg_clear(resp);
    return fail(EXIT_NODE, "node answered with an unexpected message");
  }
  return 0;
}

int wallet_next_seq(struct wallet *w, uint64_t *seq)
{
  struct sp_msg req = {.type = SP_MSG_BALANCE_Q}, resp;
  memcpy(req.u.account.account, w->pk, SP_PK_LEN);
  int rc = wallet_call(w, &req, &resp, SP_MSG_BALANCE_A);
  if (rc)
    return rc;
  *seq = resp.u.balance.seq + 1;
  sp_msg_clear(&resp);
  return 0;
}

void print_refusal(struct wallet *w, uint32_t reason, const char *msg)
{
  if (w->json) {
    printf("{\"ok\":false,\"refused\":");
    json_str(stdout, sp_reason_name((int)reason));
    printf(",\"reason_code\":%u,\"message\":", reason);
    json_str(stdout, msg);
    printf("}\n");
  }
  fprintf(stderr, "refused: %s: %s\n", sp_reason_name((int)reason), msg);
}

int wallet_submit_signed(struct wallet *w, const struct sp_tx *tx, struct sp_msg *result)
{
  struct sp_msg req = {.type = SP_MSG_SUBMIT};
  req.u.submit = *tx;
  return wallet_call(w, &req, result, SP_MSG_RESULT);
}

int wallet_submit(struct wallet *w, struct sp_tx *tx, const char *what)
{
  int rc = wallet_connect(w);
  uint64_t seq;
  if (rc || (rc = wallet_next_seq(w, &seq)))
    return rc;
  memcpy(tx->signer, w->pk, SP_PK_LEN);
  tx->seq = seq;
  if (sp_tx_sign(tx, w->chain_id, w->sk) != SP_OK)
    return fail(EXIT_LOCAL, "cannot sign the transaction (invalid field?)");
  struct sp_msg res;
  if ((rc = wallet_submit_signed(w, tx, &res)))
    return rc;
  char msg[SP_MAX_REASON + 1];
  snprintf(msg, sizeof(msg), "%.*s", (int)res.u.result.message.len, res.u.result.message.p);
  char id[2 * SP_HASH_LEN + 1];
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < SP_HASH_LEN; i++) {
    id[2 * i] = hex[res.u.result.txid[i] >> 4];
    id[2 * i + 1] = hex[res.u.result.txid[i] & 15];
  }
  id[2 * SP_HASH_LEN] = 0;
  int code = EXIT_OK;
  if (res.u.result.status == SP_TXS_COMMITTED) {
    if (w->json)
      printf("{\"ok\":true,\"what\":\"%s\",\"txid\":\"%s\",\"height\":%llu,\"index\":%u}\n", what,
             id, (unsigned long long)res.u.result.height, res.u.result.index);
    else
      printf("%s: committed in block %llu (tx %s)\n", what,
             (unsigned long long)res.u.result.height, id);
  } else if (res.u.result.status == SP_TXS_REFUSED) {
    print_refusal(w, res.u.result.reason, msg);
    code = EXIT_REFUSED;
  } else {
    code = fail(EXIT_NODE, "%s: not committed (%s)", what, msg[0] ? msg : "unknown");
  }
  sp_msg_clear(&res);
  return code;
}

/* ------------------------------------------------------------ formats */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
  /* proleptic Gregorian calendar, days since 1970-01-01 */
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

int parse_date(const char *s, uint64_t *ms)
{
  int y, m, d;
  char tail;
  if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || s[4] != '-' ||
      s[7] != '-' || y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
    return -1;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
    return -1;
  *ms = (uint64_t)days_from_civil(y, (unsigned)m, (unsigned)d) * 86400000ull;
  return 0;
}

void format_date(uint64_t ms, char out[11])
{
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 11, "%Y-%m-%d", &tm);
}

void format_euro(uint64_t cents, char *out, size_t cap)
{
  char num[SP_MONEY_TEXT_MAX];
  sp_money_format(cents, num, sizeof(num));
  snprintf(out, cap, "\xe2\x82\xac%s", num);
}

void json_str(FILE *f, const char *s)
{
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static int cmp_str(const void *a, const void *b)
{
  return sp_str_cmp(*(const struct sp_str *)a, *(const struct sp_str *)b);
}

int parse_categories(const char *s, struct sp_catlist *out, char *store, size_t cap)
{
  size_t len = strlen(s);
  if (len == 0 || len >= cap)
    return -1;
  memcpy(store, s, len + 1);
  out->n = 0;
  for (char *tok = strtok(store, ","); tok; tok = strtok(NULL, ",")) {
    if (out->n == SP_MAX_CATEGORIES || !sp_ident_valid(tok, strlen(tok)))
      return -1;
    out->v[out->n++] = sp_str_c(tok);
  }
  qsort(out->v, out->n, sizeof(out->v[0]), cmp_str);
  for (uint32_t i = 1; i < out->n; i++)
    if (sp_str_eq(out->v[i - 1], out->v[i]))
      return -1;
  return out->n ? 0 : -1;
}
