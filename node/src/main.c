/* stadjerd: the Stadjerspas ledger peer daemon (validator or observer). */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "home.h"
#include "log.h"
#include "node.h"
#include "sp/ledger.h"
#include "sp/proto.h"

static const char usage_text[] =
    "usage: stadjerd <command> [options]\n"
    "\n"
    "commands:\n"
    "  keygen  --home DIR                 create the node key, print its public key\n"
    "  genesis --out FILE --name NAME --authority KEY\n"
    "          --validator KEY@HOST:PORT[=NAME]... --category CAT...\n"
    "          [--time-ms T] [--grace-days D] [--max-block-txs N] [--max-block-bytes N]\n"
    "                                     write a genesis file (keys as 64 hex digits)\n"
    "  init    --home DIR --genesis FILE  create the ledger of HOME from a genesis\n"
    "  run     --home DIR [--listen HOST:PORT] [--observer KEY]... [--auditor KEY]...\n"
    "          [--log-level error|warn|info|debug] [--empty-block-ms MS]\n"
    "                                     run the node until SIGINT/SIGTERM; port 0\n"
    "                                     picks a free port and prints it\n"
    "  pubkey  --home DIR                 print the node's public key\n"
    "\n"
    "Options of 'run' override HOME/stadjerd.conf (lines 'listen = ...',\n"
    "'observer = KEY', 'auditor = KEY', 'log-level = info', 'empty-block-ms = 5000').\n"
    "A validator is a\n"
    "node whose key is in the genesis; any other node is an observer.\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...);
static int usage_error(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "stadjerd: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(see stadjerd --help)\n");
  va_end(ap);
  return 2;
}

enum { O_HOME = 1, O_OUT, O_NAME, O_AUTH, O_VAL, O_CAT, O_TIME, O_GRACE, O_MAXTX, O_MAXB,
       O_GENESIS, O_LISTEN, O_OBS, O_AUD, O_LOG, O_EMPTY, O_HELP };

static const struct option opts[] = {
    {"home", required_argument, 0, O_HOME},      {"out", required_argument, 0, O_OUT},
    {"name", required_argument, 0, O_NAME},      {"authority", required_argument, 0, O_AUTH},
    {"validator", required_argument, 0, O_VAL},  {"category", required_argument, 0, O_CAT},
    {"time-ms", required_argument, 0, O_TIME},   {"grace-days", required_argument, 0, O_GRACE},
    {"max-block-txs", required_argument, 0, O_MAXTX},
    {"max-block-bytes", required_argument, 0, O_MAXB},
    {"genesis", required_argument, 0, O_GENESIS}, {"listen", required_argument, 0, O_LISTEN},
    {"observer", required_argument, 0, O_OBS},   {"auditor", required_argument, 0, O_AUD},
    {"log-level", required_argument, 0, O_LOG},  {"empty-block-ms", required_argument, 0, O_EMPTY},
    {"help", no_argument, 0, O_HELP},
    {0, 0, 0, 0}};

struct args {
  const char *home, *out, *name, *authority, *genesis;
  const char *validators[SP_MAX_VALIDATORS];
  int n_validators;
  const char *categories[SP_MAX_GENESIS_CATEGORIES];
  int n_categories;
  uint64_t time_ms, grace_days, max_txs, max_bytes;
  struct sp_home_config cfg;
  bool cfg_set[5];
};

static int parse_u64(const char *s, uint64_t *v)
{
  char *end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  if (errno || *end || end == s || s[0] == '-')
    return -1;
  *v = x;
  return 0;
}

static int cmp_val(const void *a, const void *b)
{
  return memcmp(((const struct sp_validator *)a)->pk, ((const struct sp_validator *)b)->pk,
                SP_PK_LEN);
}

static int cmp_str(const void *a, const void *b)
{
  return sp_str_cmp(*(const struct sp_str *)a, *(const struct sp_str *)b);
}

static int cmd_genesis(struct args *a)
{
  if (!a->out || !a->name || !a->authority || a->n_validators == 0 || a->n_categories == 0)
    return usage_error("%s", "genesis needs --out, --name, --authority, --validator and "
                             "--category");
  struct sp_genesis g;
  memset(&g, 0, sizeof(g));
  g.chain_name = sp_str_c(a->name);
  g.genesis_time_ms = a->time_ms;
  if (sp_hex_key(a->authority, g.authority))
    return usage_error("authority key '%s' is not 64 hex digits", a->authority);
  static char addr_store[SP_MAX_VALIDATORS][SP_MAX_ADDR + 1];
  for (int i = 0; i < a->n_validators; i++) {
    const char *v = a->validators[i];
    const char *at = strchr(v, '@');
    if (at == NULL || at - v != 2 * SP_PK_LEN)
      return usage_error("validator '%s' is not KEY@HOST:PORT[=NAME]", v);
    char key[2 * SP_PK_LEN + 1];
    memcpy(key, v, 2 * SP_PK_LEN);
    key[2 * SP_PK_LEN] = 0;
    if (sp_hex_key(key, g.validators[i].pk))
      return usage_error("validator key in '%s' is not 64 hex digits", v);
    const char *eq = strchr(at, '=');
    size_t alen = eq ? (size_t)(eq - at - 1) : strlen(at + 1);
    if (alen == 0 || alen > SP_MAX_ADDR)
      return usage_error("validator address in '%s' is empty or too long", v);
    memcpy(addr_store[i], at + 1, alen);
    addr_store[i][alen] = 0;
    char host[SP_MAX_ADDR + 1];
    int port;
    if (sp_split_hostport(addr_store[i], host, sizeof(host), &port) || port == 0)
      return usage_error("validator address in '%s' is not HOST:PORT", v);
    g.validators[i].addr = sp_str_c(addr_store[i]);
    g.validators[i].name = sp_str_c(eq ? eq + 1 : addr_store[i]);
  }
  g.n_validators = (uint32_t)a->n_validators;
  qsort(g.validators, g.n_validators, sizeof(g.validators[0]), cmp_val);
  for (int i = 0; i < a->n_categories; i++)
    g.categories[i] = sp_str_c(a->categories[i]);
  g.n_categories = (uint32_t)a->n_categories;
  qsort(g.categories, g.n_categories, sizeof(g.categories[0]), cmp_str);
  g.params.max_block_txs = (uint32_t)(a->max_txs ? a->max_txs : 5000);
  g.params.max_block_bytes = (uint32_t)(a->max_bytes ? a->max_bytes : 4u * 1024 * 1024);
  g.params.fund_close_grace_ms = a->grace_days * 24ull * 3600 * 1000;
  struct sp_buf b;
  sp_buf_init(&b, 1 << 20);
  int rc = sp_genesis_encode(&g, &b);
  if (rc) {
    fprintf(stderr, "stadjerd: invalid genesis: %s (duplicate validator or category, bad "
                    "category name, or limits out of range)\n",
            sp_strerror(rc));
    sp_buf_free(&b);
    return 2;
  }
  rc = sp_write_file_durable(a->out, b.data, b.len);
  if (rc == 0) {
    uint8_t id[SP_HASH_LEN];
    char hex[2 * SP_HASH_LEN + 1];
    sp_chain_id(b.data, b.len, id);
    sp_key_hex(id, hex);
    printf("%s\n", hex);
  } else {
    fprintf(stderr, "stadjerd: cannot write '%s': %s\n", a->out, strerror(-rc));
  }
  sp_buf_free(&b);
  return rc ? 4 : 0;
}

static int cmd_init(struct args *a)
{
  if (!a->home || !a->genesis)
    return usage_error("%s", "init needs --home and --genesis");
  uint8_t *g;
  size_t n;
  if (sp_read_file(a->genesis, 1 << 20, &g, &n) != 0) {
    fprintf(stderr, "stadjerd: cannot read genesis '%s'\n", a->genesis);
    return 4;
  }
  char data[PATH_MAX], copy[PATH_MAX];
  snprintf(data, sizeof(data), "%s/data", a->home);
  snprintf(copy, sizeof(copy), "%s/genesis.bin", a->home);
  mkdir(a->home, 0700);
  /* a running node holds the home (and may hold LMDB's write lock for a
   * long time: its checked block waits for votes), so ask the lock first */
  char err[512];
  int lock = sp_home_lock(a->home, err, sizeof(err));
  if (lock < 0) {
    fprintf(stderr, "stadjerd: %s\n", err);
    free(g);
    return 4;
  }
  int rc = sp_ledger_create(data, g, n, NULL);
  if (rc == 0)
    rc = sp_write_file_durable(copy, g, n) ? SP_LE_IO : 0;
  close(lock);
  free(g);
  if (rc) {
    fprintf(stderr, "stadjerd: cannot create the ledger in '%s': %s\n", data,
            sp_ledger_strerror(rc));
    return 4;
  }
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    fputs(usage_text, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("stadjerd %s (wire format version %d)\n", SP_VERSION_STRING, SP_FORMAT_VERSION);
    return 0;
  }
  const char *cmd = argv[1];
  struct args a;
  memset(&a, 0, sizeof(a));
  a.cfg.log_level = -1;
  a.cfg.empty_block_ms = -1;
  a.grace_days = 30; /* as `stadjer genesis new`: a new chain's default is the same from either tool */
  char err[512];
  int c;
  optind = 2;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case O_HOME: a.home = optarg; break;
    case O_OUT: a.out = optarg; break;
    case O_NAME: a.name = optarg; break;
    case O_AUTH: a.authority = optarg; break;
    case O_GENESIS: a.genesis = optarg; break;
    case O_VAL:
      if (a.n_validators == SP_MAX_VALIDATORS)
        return usage_error("%s", "too many validators");
      a.validators[a.n_validators++] = optarg;
      break;
    case O_CAT:
      if (a.n_categories == SP_MAX_GENESIS_CATEGORIES)
        return usage_error("%s", "too many categories");
      a.categories[a.n_categories++] = optarg;
      break;
    case O_TIME:
    case O_GRACE:
    case O_MAXTX:
    case O_MAXB: {
      uint64_t v;
      if (parse_u64(optarg, &v))
        return usage_error("'%s' is not a non-negative number", optarg);
      if (c == O_GRACE && v > SP_MAX_GRACE_DAYS)
        return usage_error("--grace-days %s is more than %d days", optarg, SP_MAX_GRACE_DAYS);
      *(c == O_TIME ? &a.time_ms : c == O_GRACE ? &a.grace_days : c == O_MAXTX ? &a.max_txs
                                                                                : &a.max_bytes) = v;
      break;
    }
    case O_LISTEN:
    case O_OBS:
    case O_AUD:
    case O_LOG:
    case O_EMPTY: {
      static const char *const keys[] = {"listen", "observer", "auditor", "log-level",
                                         "empty-block-ms"};
      int k = c == O_LISTEN ? 0 : c == O_OBS ? 1 : c == O_AUD ? 2 : c == O_LOG ? 3 : 4;
      if (sp_home_setting(&a.cfg, keys[k], optarg, err, sizeof(err)))
        return usage_error("%s", err);
      a.cfg_set[k] = true;
      break;
    }
    case O_HELP: fputs(usage_text, stdout); return 0;
    default: return usage_error("%s", "unknown option");
    }
  }
  if (optind != argc)
    return usage_error("unexpected argument '%s'", argv[optind]);
  if (sp_crypto_init() != 0) {
    fprintf(stderr, "stadjerd: libsodium cannot start\n");
    return 4;
  }

  if (!strcmp(cmd, "genesis"))
    return cmd_genesis(&a);
  if (!strcmp(cmd, "init"))
    return cmd_init(&a);
  if (!a.home)
    return usage_error("%s needs --home DIR", cmd);
  if (!strcmp(cmd, "keygen") || !strcmp(cmd, "pubkey")) {
    uint8_t pk[SP_PK_LEN], sk[SP_SK_LEN];
    char hex[2 * SP_PK_LEN + 1];
    int rc = !strcmp(cmd, "keygen") ? sp_home_keygen(a.home, pk, err, sizeof(err))
                                    : sp_home_key(a.home, pk, sk, err, sizeof(err));
    if (rc) {
      fprintf(stderr, "stadjerd: %s\n", err);
      return 4;
    }
    sp_key_hex(pk, hex);
    printf("%s\n", hex);
    return 0;
  }
  if (!strcmp(cmd, "run")) {
    struct sp_home_config cfg;
    if (sp_home_config(a.home, &cfg, err, sizeof(err))) {
      fprintf(stderr, "stadjerd: %s\n", err);
      return 2;
    }
    /* flags win over the file; key lists add up */
    if (a.cfg_set[0]) {
      memcpy(cfg.listen_host, a.cfg.listen_host, sizeof(cfg.listen_host));
      cfg.listen_port = a.cfg.listen_port;
      cfg.has_listen = true;
    }
    for (size_t i = 0; i < a.cfg.n_observers && cfg.n_observers < SP_HOME_MAX_KEYS; i++)
      memcpy(cfg.observers[cfg.n_observers++], a.cfg.observers[i], SP_PK_LEN);
    for (size_t i = 0; i < a.cfg.n_auditors && cfg.n_auditors < SP_HOME_MAX_KEYS; i++)
      memcpy(cfg.auditors[cfg.n_auditors++], a.cfg.auditors[i], SP_PK_LEN);
    if (a.cfg_set[3])
      cfg.log_level = a.cfg.log_level;
    if (a.cfg_set[4])
      cfg.empty_block_ms = a.cfg.empty_block_ms;
    if (cfg.log_level >= 0)
      sp_log_set_level((enum sp_log_level)cfg.log_level);
    /* libuv writes with write(2): a peer that hung up must cost an EPIPE
     * on that connection, not the process (SIGPIPE's default is to die) */
    signal(SIGPIPE, SIG_IGN);
    return sp_node_run(a.home, &cfg);
  }
  return usage_error("unknown command '%s'", cmd);
}
