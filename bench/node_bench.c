/* node_bench: committed-transaction throughput and latency of stadjerd.
 *
 *     cmake -S . -B build -DSP_BUILD_TESTS=OFF
 *     cmake --build build --target node_bench stadjerd
 *     build/bench/node_bench [--txs N] [--stadjerd PATH]
 *
 * stadjerd is taken from --stadjerd, else $STADJERD, else ./node/stadjerd
 * (relative to the build dir). Steps:
 *   (1) raw Ed25519 verify with one thread per online core, all at once:
 *       the "limit" (verify_limit.h: on virtual cores that share a physical
 *       one it is less than the 1-core rate x cores, which is printed too),
 *       pooled over 1.5 s up front and 0.5 s slices before and after each
 *       scenario (the machine is shared: limit and figures see the same
 *       load); every figure is printed at the end;
 *   (2) scenario a: one validator (--empty-block-ms 100). The authority sets
 *       up a fund, a merchant, P passes and their credit through the node
 *       (pipelined); N payments are pre-signed, then submitted over C
 *       connections (each owns a group of passes, so per-pass order holds)
 *       with a window of W requests each; a tx's latency is from its send
 *       to its committed RESULT;
 *   (3) scenario b: 4 validators + 1 observer, the same workload spread
 *       over the validators;
 *   (4) scenario a again at a fixed rate of half the measured throughput
 *       for about 5 s: p99 latency;
 *   (5) after (3): the observer is killed, its ledger made anew from the
 *       genesis, and it is restarted: the rate at which block sync
 *       replays and verifies the whole chain up to the validators' tip.
 * Output lines as proto_bench: figure: NAME VALUE UNIT ratio=R target=T.
 * Every started process is killed by PID at exit, on error and on
 * SIGINT/SIGTERM/SIGHUP; temp dirs are removed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "sp/proto.h"
#include "verify_limit.h"

#define MIN_SECONDS 1.5
#define SLICE_SECONDS 0.5 /* raw verify before and after each scenario */
#define N_PASS 2000
#define N_CONN 8
#define WINDOW 2048 /* per connection: 16k in flight, under the mempool's 20k */
#define SCEN_MS 120000 /* bound on each scenario */
#define MAX_NODES 5
#define FUND "bench-2027"
#define CAT "food"

/* ------------------------------------------------------------ utilities */

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void figure(const char *name, double value, const char *unit, double ratio,
                   const char *target)
{
  if (ratio < 0)
    printf("figure: %s %.*f %s ratio=- target=%s\n", name, value < 100 ? 1 : 0, value, unit,
           target);
  else
    printf("figure: %s %.0f %s ratio=%.3g target=%s\n", name, value, unit, ratio, target);
  fflush(stdout);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[p[i] >> 4];
    out[2 * i + 1] = d[p[i] & 15];
  }
  out[2 * n] = 0;
}

/* ------------------------------------------------ processes and cleanup */

#define MAX_PROCS 32
static volatile pid_t procs[MAX_PROCS];
static char tmpdirs[4][128];

static void proc_add(pid_t pid)
{
  for (int i = 0; i < MAX_PROCS; i++)
    if (procs[i] == 0) {
      procs[i] = pid;
      return;
    }
}

static void proc_del(pid_t pid)
{
  for (int i = 0; i < MAX_PROCS; i++)
    if (procs[i] == pid)
      procs[i] = 0;
}

static void rmrf(const char *path)
{
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
        continue;
      char p[512];
      snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
      struct stat st;
      if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
        rmrf(p);
      else
        unlink(p);
    }
    closedir(d);
  }
  rmdir(path);
}

static void kill_all(void)
{
  for (int i = 0; i < MAX_PROCS; i++)
    if (procs[i] > 0)
      kill(procs[i], SIGKILL);
  for (int i = 0; i < MAX_PROCS; i++)
    if (procs[i] > 0) {
      waitpid(procs[i], NULL, 0);
      procs[i] = 0;
    }
}

static void cleanup(void)
{
  kill_all();
  for (int i = 0; i < 4; i++)
    if (tmpdirs[i][0]) {
      rmrf(tmpdirs[i]);
      tmpdirs[i][0] = 0;
    }
}

static void on_signal(int sig)
{
  for (int i = 0; i < MAX_PROCS; i++)
    if (procs[i] > 0)
      kill(procs[i], SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

__attribute__((format(printf, 1, 2))) static void die(const char *fmt, ...);
static void die(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "node_bench: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1); /* atexit: cleanup */
}

static pid_t spawn(char *const argv[], const char *logpath)
{
  int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || in < 0)
    die("cannot open %s", logpath);
  pid_t parent = getpid();
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    dup2(in, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  if (pid > 0)
    proc_add(pid);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(fd);
  close(in);
  if (pid < 0)
    die("fork failed");
  return pid;
}

static int run_wait(char *const argv[], const char *logpath, int ms)
{
  pid_t pid = spawn(argv, logpath);
  double end = now() + ms / 1000.0;
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      proc_del(pid);
      return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    if (now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      proc_del(pid);
      return -1;
    }
    sleep_ms(10);
  }
}

static void print_tail(const char *path)
{
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "tail -n 20 '%s' >&2", path);
  if (system(cmd) != 0)
    fprintf(stderr, "(no log)\n");
}

/* ------------------------------------------------------------- network */

struct key {
  uint8_t seed[32], pk[SP_PK_LEN], sk[SP_SK_LEN];
};

static void key_new(struct key *k)
{
  randombytes_buf(k->seed, sizeof(k->seed));
  if (sp_keypair_from_seed(k->pk, k->sk, k->seed) != SP_OK)
    die("key pair");
}

struct net {
  char dir[128];
  const char *stadjerd;
  int n, n_val;
  bool observer;
  struct key key[MAX_NODES];
  int port[MAX_NODES];
  pid_t pid[MAX_NODES];
  char home[MAX_NODES][200], log[MAX_NODES][200];
  struct key authority;
  uint8_t chain_id[SP_HASH_LEN];
  uint64_t t0;
  uint64_t txs_committed; /* by the workload so far */
};

static int free_ports(int *ports, int n)
{
  int fds[MAX_NODES];
  int rc = 0;
  for (int i = 0; i < n; i++)
    fds[i] = -1;
  for (int i = 0; i < n && rc == 0; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fds[i], (struct sockaddr *)&a, &len) != 0)
      rc = -1;
    else
      ports[i] = ntohs(a.sin_port);
  }
  for (int i = 0; i < n; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  return rc;
}

static int cmp_val(const void *a, const void *b)
{
  return memcmp(((const struct sp_validator *)a)->pk, ((const struct sp_validator *)b)->pk,
                SP_PK_LEN);
}

static struct sp_client *connect_to(struct net *nt, int i, int timeout_ms)
{
  struct sp_client *c = NULL;
  char err[256];
  if (sp_client_connect(&c, "127.0.0.1", nt->port[i], nt->chain_id, nt->authority.pk,
                        nt->authority.sk, timeout_ms, err, sizeof(err)) != 0) {
    if (getenv("NB_DEBUG"))
      fprintf(stderr, "connect node %d: %s\n", i, err);
    return NULL;
  }
  return c;
}

static int status_height(struct sp_client *c, uint64_t *h)
{
  struct sp_msg req, *resp = calloc(1, sizeof(*resp));
  memset(&req, 0, sizeof(req));
  req.type = SP_MSG_STATUS_Q;
  char err[256];
  int rc = -1;
  if (resp && sp_client_call(c, &req, resp, 5000, err, sizeof(err)) == 0 &&
      resp->type == SP_MSG_STATUS_A) {
    *h = resp->u.status.height;
    rc = 0;
  }
  sp_msg_clear(resp);
  free(resp);
  return rc;
}

/* Temp dir, keys, genesis, init and run every node, wait for STATUS. */
static void net_start(struct net *nt, int slot, int n_val, bool observer)
{
  nt->n_val = n_val;
  nt->observer = observer;
  nt->n = n_val + (observer ? 1 : 0);
  snprintf(nt->dir, sizeof(nt->dir), "/tmp/node-bench-XXXXXX");
  if (mkdtemp(nt->dir) == NULL)
    die("mkdtemp");
  snprintf(tmpdirs[slot], sizeof(tmpdirs[slot]), "%s", nt->dir);
  nt->t0 = wall_ms();
  key_new(&nt->authority);
  if (free_ports(nt->port, nt->n) != 0)
    die("no free ports");
  for (int i = 0; i < nt->n; i++) {
    key_new(&nt->key[i]);
    snprintf(nt->home[i], sizeof(nt->home[i]), "%s/node%d", nt->dir, i);
    snprintf(nt->log[i], sizeof(nt->log[i]), "%s/node%d.log", nt->dir, i);
    if (mkdir(nt->home[i], 0700) != 0)
      die("mkdir %s", nt->home[i]);
    char path[256], text[66];
    snprintf(path, sizeof(path), "%s/node.key", nt->home[i]);
    hex(nt->key[i].seed, 32, text);
    text[64] = '\n';
    text[65] = 0;
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
      die("write %s", path);
    chmod(path, 0600);
  }
  struct sp_genesis g;
  memset(&g, 0, sizeof(g));
  char addrs[MAX_NODES][32], names[MAX_NODES][8];
  g.chain_name = sp_str_c("stadjerspas-bench");
  g.genesis_time_ms = nt->t0 - 3600 * 1000;
  memcpy(g.authority, nt->authority.pk, SP_PK_LEN);
  g.n_validators = (uint32_t)n_val;
  for (int i = 0; i < n_val; i++) {
    snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%d", nt->port[i]);
    snprintf(names[i], sizeof(names[i]), "v%d", i);
    memcpy(g.validators[i].pk, nt->key[i].pk, SP_PK_LEN);
    g.validators[i].addr = sp_str_c(addrs[i]);
    g.validators[i].name = sp_str_c(names[i]);
  }
  qsort(g.validators, (size_t)n_val, sizeof(g.validators[0]), cmp_val);
  g.n_categories = 1;
  g.categories[0] = sp_str_c(CAT);
  g.params.max_block_txs = 10000;
  g.params.max_block_bytes = SP_MAX_BLOCK_BYTES;
  g.params.fund_close_grace_ms = 7ull * 24 * 3600 * 1000;
  struct sp_buf gb;
  sp_buf_init(&gb, 1 << 20);
  if (sp_genesis_encode(&g, &gb) != 0 || sp_chain_id(gb.data, gb.len, nt->chain_id) != 0)
    die("genesis");
  char gpath[256];
  snprintf(gpath, sizeof(gpath), "%s/genesis.bin", nt->dir);
  FILE *f = fopen(gpath, "wb");
  if (!f || fwrite(gb.data, 1, gb.len, f) != gb.len || fclose(f) != 0)
    die("write genesis");
  sp_buf_free(&gb);
  for (int i = 0; i < nt->n; i++) {
    char *argv[] = {(char *)nt->stadjerd, (char *)"init", (char *)"--home", nt->home[i],
                    (char *)"--genesis", gpath, NULL};
    if (run_wait(argv, nt->log[i], 30000) != 0) {
      print_tail(nt->log[i]);
      die("stadjerd init of node %d failed", i);
    }
  }
  /* --empty-block-ms 0 makes an idle node spin out empty blocks so fast
   * that it does not complete a handshake within 30 s; a waiting node is
   * woken by an arriving transaction, so a short wait costs no latency. */
  const char *empty_ms = getenv("NB_EMPTY_MS") ? getenv("NB_EMPTY_MS") : "100";
  char obs[2 * SP_PK_LEN + 1];
  if (observer)
    hex(nt->key[nt->n - 1].pk, SP_PK_LEN, obs);
  for (int i = 0; i < nt->n; i++) {
    char listen[40];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", nt->port[i]);
    char *argv[16];
    int a = 0;
    argv[a++] = (char *)nt->stadjerd;
    argv[a++] = (char *)"run";
    argv[a++] = (char *)"--home";
    argv[a++] = nt->home[i];
    argv[a++] = (char *)"--listen";
    argv[a++] = listen;
    if (observer && i < n_val) {
      argv[a++] = (char *)"--observer";
      argv[a++] = obs;
    }
    argv[a++] = (char *)"--log-level";
    argv[a++] = (char *)getenv("NB_LOGLEVEL") ? getenv("NB_LOGLEVEL") : "warn";
    argv[a++] = (char *)"--empty-block-ms";
    argv[a++] = (char *)empty_ms;
    argv[a] = NULL;
    nt->pid[i] = spawn(argv, nt->log[i]);
  }
  for (int i = 0; i < nt->n; i++) {
    double end = now() + 30;
    for (;;) {
      struct sp_client *c = connect_to(nt, i, 10000);
      uint64_t h;
      int ok = c && status_height(c, &h) == 0;
      sp_client_close(c);
      if (ok)
        break;
      int st;
      if (waitpid(nt->pid[i], &st, WNOHANG) == nt->pid[i]) {
        proc_del(nt->pid[i]);
        nt->pid[i] = 0;
        print_tail(nt->log[i]);
        die("node %d exited at start", i);
      }
      if (now() > end) {
        print_tail(nt->log[i]);
        die("node %d did not answer STATUS within 30 s", i);
      }
      sleep_ms(50);
    }
  }
}

/* (5) An auditor's observer started from genesis: the net5 observer is
 * killed, its ledger removed and made again from the genesis, and it is
 * restarted; the figure is the rate at which block sync replays and
 * verifies the chain until it reaches the validators' tip. */
static double sync_from_genesis(struct net *nt)
{
  int o = nt->n - 1;
  struct sp_client *c = connect_to(nt, 0, 10000);
  uint64_t tip = 0;
  if (!c || status_height(c, &tip) != 0)
    die("status of validator 0");
  sp_client_close(c);
  kill(nt->pid[o], SIGKILL);
  waitpid(nt->pid[o], NULL, 0);
  proc_del(nt->pid[o]);
  nt->pid[o] = 0;
  char data[256], gpath[256];
  snprintf(data, sizeof(data), "%s/data", nt->home[o]);
  snprintf(gpath, sizeof(gpath), "%s/genesis.bin", nt->dir);
  rmrf(data);
  char *init[] = {(char *)nt->stadjerd, (char *)"init", (char *)"--home", nt->home[o],
                  (char *)"--genesis", gpath, NULL};
  if (run_wait(init, nt->log[o], 30000) != 0)
    die("stadjerd init of the observer failed");
  char listen[40];
  snprintf(listen, sizeof(listen), "127.0.0.1:%d", nt->port[o]);
  char *run[] = {(char *)nt->stadjerd, (char *)"run", (char *)"--home", nt->home[o],
                 (char *)"--listen", listen, (char *)"--log-level", (char *)"warn", NULL};
  double t0 = now();
  nt->pid[o] = spawn(run, nt->log[o]);
  uint64_t h = 0;
  while (h < tip) {
    if (now() - t0 > SCEN_MS / 1000.0)
      die("the observer synced %llu of %llu blocks in %d s", (unsigned long long)h,
          (unsigned long long)tip, SCEN_MS / 1000);
    sleep_ms(20);
    struct sp_client *q = connect_to(nt, o, 2000);
    if (q == NULL || status_height(q, &h) != 0)
      h = 0;
    sp_client_close(q);
  }
  double el = now() - t0;
  /* every tx of the run: the setup's and the payments, as counted by the
   * validators (the observer verified each of them) */
  double txs = (double)nt->txs_committed;
  printf("# sync: an observer from genesis reached height %llu (%.0f txs) in %.2f s, start "
         "included\n",
         (unsigned long long)tip, txs, el);
  return txs / el;
}

static double peak_rss_mb(pid_t pid)
{
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  double v = 0;
  if (!f)
    return 0;
  while (fgets(line, sizeof(line), f))
    if (!strncmp(line, "VmHWM:", 6))
      v = strtod(line + 6, NULL) / 1024.0;
  fclose(f);
  return v;
}

/* Per-thread CPU seconds of a node (where its time goes). */
static void print_threads(const char *label, pid_t pid)
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  if (!d)
    return;
  long hz = sysconf(_SC_CLK_TCK);
  printf("# %s threads (cpu s):", label);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char p[128], comm[64] = "?", buf[1024];
    snprintf(p, sizeof(p), "/proc/%d/task/%.20s/comm", (int)pid, e->d_name);
    FILE *f = fopen(p, "r");
    if (f) {
      if (fgets(comm, sizeof(comm), f))
        comm[strcspn(comm, "\n")] = 0;
      fclose(f);
    }
    snprintf(p, sizeof(p), "/proc/%d/task/%.20s/stat", (int)pid, e->d_name);
    f = fopen(p, "r");
    if (!f)
      continue;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *s = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (s && sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
      printf(" %s=%.2f(u%.2f/s%.2f)", comm, (double)(ut + st) / (double)hz, (double)ut / (double)hz,
             (double)st / (double)hz);
  }
  closedir(d);
  printf("\n");
}

static void net_stop(struct net *nt, int slot)
{
  const char *keep = getenv("NB_LOGDIR"); /* copy the nodes' logs there */
  for (int i = 0; keep && i < nt->n; i++) {
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s/node%d-%d.log'", nt->log[i], keep, slot, i);
    if (system(cmd) != 0)
      fprintf(stderr, "node_bench: could not copy %s to %s\n", nt->log[i], keep);
  }
  for (int i = 0; i < nt->n; i++) {
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "grep -v '^listening' '%s' | sort | uniq -c | sort -rn | head -5 >&2",
             nt->log[i]);
    if (getenv("NB_DEBUG") && system(cmd) != 0)
      fprintf(stderr, "(no log)\n");
  }
  /* NB_TERM=1: SIGTERM first and up to 20 s for a clean exit (a node run
   * under a profiler writes its data then) */
  for (int i = 0; getenv("NB_TERM") && i < nt->n; i++)
    if (nt->pid[i] > 0) {
      kill(nt->pid[i], SIGTERM);
      for (int t = 0; t < 200; t++) {
        if (waitpid(nt->pid[i], NULL, WNOHANG) == nt->pid[i]) {
          proc_del(nt->pid[i]);
          nt->pid[i] = 0;
          break;
        }
        sleep_ms(100);
      }
    }
  for (int i = 0; i < nt->n; i++)
    if (nt->pid[i] > 0) {
      kill(nt->pid[i], SIGKILL);
      waitpid(nt->pid[i], NULL, 0);
      proc_del(nt->pid[i]);
      nt->pid[i] = 0;
    }
  rmrf(nt->dir);
  tmpdirs[slot][0] = 0;
}

/* ------------------------------------------------------------ workload */

struct stx {
  uint8_t *msg; /* encoded SUBMIT message, req_id = index + 1 */
  size_t len;
  double t_send, t_done;
  uint64_t height;
  uint32_t status;
};

static void encode_submit(struct sp_tx *tx, const uint8_t *chain_id, const uint8_t *sk,
                          uint32_t req_id, struct stx *out)
{
  if (sp_tx_sign(tx, chain_id, sk) != SP_OK)
    die("sign");
  struct sp_msg *m = calloc(1, sizeof(*m));
  if (!m)
    die("oom");
  m->type = SP_MSG_SUBMIT;
  m->req_id = req_id;
  m->u.submit = *tx;
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_FRAME);
  if (sp_msg_encode(m, &b) != 0)
    die("encode");
  out->msg = b.data;
  out->len = b.len;
  free(m);
}

struct worker {
  struct net *nt;
  int node;
  struct stx *txs;
  size_t *idx; /* indices into txs, in send order */
  size_t n;
  double rate; /* tx/s for this worker; 0 = as fast as the window allows */
  double deadline;
  int failed;
  char err[256];
};

static void *worker_run(void *arg)
{
  struct worker *w = arg;
  struct sp_client *c = connect_to(w->nt, w->node, 30000);
  if (!c) {
    w->failed = 1;
    snprintf(w->err, sizeof(w->err), "connect to node %d failed", w->node);
    return NULL;
  }
  struct sp_msg *resp = calloc(1, sizeof(*resp));
  size_t sent = 0, done = 0;
  double t0 = now();
  /* After an answer, the answers already read are taken before sending
   * more: what is sent then leaves as one record, not one each (the load
   * generator shares the cores with the node) */
  bool draining = false;
  while (done < w->n) {
    double t = now();
    if (t > w->deadline) {
      w->failed = 1;
      snprintf(w->err, sizeof(w->err), "timed out with %zu of %zu answered", done, w->n);
      break;
    }
    if (!draining && sent < w->n && sent - done < WINDOW &&
        (w->rate == 0 || t >= t0 + (double)sent / w->rate)) {
      struct stx *s = &w->txs[w->idx[sent]];
      s->t_send = now();
      if (sp_client_queue_raw(c, s->msg, s->len) != 0) {
        w->failed = 1;
        snprintf(w->err, sizeof(w->err), "send failed");
        break;
      }
      sent++;
      continue;
    }
    int tmo = 1000;
    if (w->rate > 0 && sent < w->n) {
      double next = t0 + (double)sent / w->rate - now();
      tmo = next <= 0.001 ? 1 : (int)(next * 1000);
    }
    if (draining)
      tmo = 0;
    else if (sent == done) {
      sleep_ms(tmo);
      continue;
    }
    char err[256];
    if (sp_client_recv(c, resp, tmo, err, sizeof(err)) != 0) {
      draining = false;
      if (strstr(err, "no answer"))
        continue;
      w->failed = 1;
      snprintf(w->err, sizeof(w->err), "recv: %.200s", err);
      break;
    }
    draining = true;
    double tr = now();
    if (resp->req_id >= 1 && (resp->type == SP_MSG_RESULT || resp->type == SP_MSG_ERROR)) {
      struct stx *s = &w->txs[resp->req_id - 1];
      s->t_done = tr;
      s->status = resp->type == SP_MSG_RESULT ? resp->u.result.status : 0;
      s->height = resp->type == SP_MSG_RESULT ? resp->u.result.height : 0;
      if (s->status != SP_TXS_COMMITTED && !w->failed) {
        w->failed = 2; /* keep going, report */
        if (resp->type == SP_MSG_RESULT)
          snprintf(w->err, sizeof(w->err), "tx %u: status %u reason %u: %.*s",
                   resp->req_id, resp->u.result.status, resp->u.result.reason,
                   (int)resp->u.result.message.len, resp->u.result.message.p);
        else
          snprintf(w->err, sizeof(w->err), "tx %u: error %u: %.*s", resp->req_id,
                   resp->u.error.code, (int)resp->u.error.message.len, resp->u.error.message.p);
      }
      done++;
    }
    sp_msg_clear(resp);
  }
  free(resp);
  sp_client_close(c);
  return NULL;
}

/* Submit txs[0..n) over n_conn connections; connection k goes to node
 * nodes[k % n_nodes] and carries the txs whose pass (i % n_pass) is
 * congruent to k. Returns wall seconds from first send to last answer. */
static double submit_all(struct net *nt, struct stx *txs, size_t n, size_t n_pass, int n_conn,
                         const int *nodes, int n_nodes, double rate, const char *what)
{
  struct worker w[N_CONN];
  pthread_t th[N_CONN];
  size_t *idx = malloc(n * sizeof(size_t));
  if (!idx)
    die("oom");
  size_t off = 0;
  double deadline = now() + SCEN_MS / 1000.0;
  for (int k = 0; k < n_conn; k++) {
    memset(&w[k], 0, sizeof(w[k]));
    w[k].nt = nt;
    w[k].node = nodes[k % n_nodes];
    w[k].txs = txs;
    w[k].idx = idx + off;
    for (size_t i = 0; i < n; i++)
      if ((i % n_pass) % (size_t)n_conn == (size_t)k)
        idx[off++] = i;
    w[k].n = (size_t)(idx + off - w[k].idx);
    w[k].rate = rate / n_conn;
    w[k].deadline = deadline;
  }
  double t0 = now();
  for (int k = 0; k < n_conn; k++)
    if (pthread_create(&th[k], NULL, worker_run, &w[k]) != 0)
      die("pthread_create");
  for (int k = 0; k < n_conn; k++)
    pthread_join(th[k], NULL);
  double el = now() - t0;
  int bad = 0;
  for (int k = 0; k < n_conn; k++)
    if (w[k].failed) {
      fprintf(stderr, "node_bench: %s: connection %d (node %d): %s\n", what, k, w[k].node,
              w[k].err);
      bad |= w[k].failed;
    }
  free(idx);
  if (bad & 1) {
    for (int i = 0; i < nt->n; i++)
      print_tail(nt->log[i]);
    die("%s failed", what);
  }
  return el;
}

static int cmp_row(const void *a, const void *b)
{
  return memcmp(((const struct sp_issue_row *)a)->pass, ((const struct sp_issue_row *)b)->pass,
                SP_PK_LEN);
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

struct lat {
  double p50, p99, max;
  size_t committed, blocks;
};

static struct lat latencies(const struct stx *txs, size_t n)
{
  struct lat L;
  memset(&L, 0, sizeof(L));
  double *v = malloc((n + 1) * sizeof(double));
  uint64_t last_h = 0;
  for (size_t i = 0; i < n; i++)
    if (txs[i].status == SP_TXS_COMMITTED)
      v[L.committed++] = (txs[i].t_done - txs[i].t_send) * 1000.0;
  /* distinct block heights (heights are ascending per connection; count a set) */
  uint64_t *hs = malloc((n + 1) * sizeof(uint64_t));
  size_t nh = 0;
  for (size_t i = 0; i < n; i++)
    if (txs[i].status == SP_TXS_COMMITTED)
      hs[nh++] = txs[i].height;
  qsort(hs, nh, sizeof(uint64_t), cmp_u64);
  qsort(v, L.committed, sizeof(double), cmp_double);
  if (L.committed) {
    L.p50 = v[(size_t)(0.50 * (double)(L.committed - 1))];
    L.p99 = v[(size_t)(0.99 * (double)(L.committed - 1))];
    L.max = v[L.committed - 1];
  }
  /* count distinct heights */
  for (size_t i = 0; i < nh; i++) {
    if (i == 0 || hs[i] != last_h)
      L.blocks++;
    last_h = hs[i];
  }
  free(hs);
  free(v);
  return L;
}

/* The authority's setup over one connection to node 0, pipelined:
 * fund, deposit, merchant, passes, credit in issue batches of <= 1000. */
static void setup_economy(struct net *nt, struct key *passes, size_t n_pass, struct key *merchant,
                          uint64_t credit)
{
  size_t n_issue = (n_pass + SP_MAX_ISSUE_ENTRIES - 1) / SP_MAX_ISSUE_ENTRIES;
  size_t n = 3 + n_pass + n_issue, k = 0;
  struct stx *t = calloc(n, sizeof(*t));
  uint64_t seq = 0;
  struct sp_tx tx;
  key_new(merchant);
#define SIGN_NEXT()                                                                                \
  do {                                                                                             \
    memcpy(tx.signer, nt->authority.pk, SP_PK_LEN);                                                \
    tx.seq = ++seq;                                                                                \
    encode_submit(&tx, nt->chain_id, nt->authority.sk, (uint32_t)(k + 1), &t[k]);                  \
    k++;                                                                                           \
  } while (0)
  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_FUND_CREATE;
  tx.u.fund_create.fund = sp_str_c(FUND);
  tx.u.fund_create.name = sp_str_c("Bench fund");
  tx.u.fund_create.categories.n = 1;
  tx.u.fund_create.categories.v[0] = sp_str_c(CAT);
  tx.u.fund_create.valid_from_ms = nt->t0 - 3600 * 1000;
  tx.u.fund_create.valid_until_ms = nt->t0 + 30ull * 24 * 3600 * 1000;
  SIGN_NEXT();
  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_FUND_DEPOSIT;
  tx.u.fund_deposit.fund = sp_str_c(FUND);
  tx.u.fund_deposit.amount = credit * n_pass + 100000;
  tx.u.fund_deposit.bank_ref = sp_str_c("NL-BANK-1");
  SIGN_NEXT();
  memset(&tx, 0, sizeof(tx));
  tx.kind = SP_TX_MERCHANT_REGISTER;
  memcpy(tx.u.merchant.merchant, merchant->pk, SP_PK_LEN);
  tx.u.merchant.name = sp_str_c("Bakkerij de Stadjer");
  tx.u.merchant.categories.n = 1;
  tx.u.merchant.categories.v[0] = sp_str_c(CAT);
  SIGN_NEXT();
  for (size_t i = 0; i < n_pass; i++) {
    memset(&tx, 0, sizeof(tx));
    tx.kind = SP_TX_PASS_ENROLL;
    memcpy(tx.u.pass_enroll.pass, passes[i].pk, SP_PK_LEN);
    memcpy(tx.u.pass_enroll.household, passes[i].pk, SP_HASH_LEN); /* one household each */
    SIGN_NEXT();
  }
  struct sp_issue_row *rows = calloc(n_pass, sizeof(*rows));
  for (size_t i = 0; i < n_pass; i++) {
    memcpy(rows[i].pass, passes[i].pk, SP_PK_LEN);
    rows[i].amount = credit;
  }
  qsort(rows, n_pass, sizeof(rows[0]), cmp_row);
  for (size_t b = 0; b < n_issue; b++) {
    char ref[32];
    snprintf(ref, sizeof(ref), "issue-%zu", b);
    memset(&tx, 0, sizeof(tx));
    tx.kind = SP_TX_ISSUE;
    tx.u.issue.fund = sp_str_c(FUND);
    tx.u.issue.ref = sp_str_c(ref);
    size_t lo = b * SP_MAX_ISSUE_ENTRIES, hi = lo + SP_MAX_ISSUE_ENTRIES;
    if (hi > n_pass)
      hi = n_pass;
    tx.u.issue.n_rows = (uint32_t)(hi - lo);
    tx.u.issue.rows = rows + lo;
    SIGN_NEXT();
  }
#undef SIGN_NEXT
  int node0 = 0;
  double el = submit_all(nt, t, n, n, 1, &node0, 1, 0, "setup");
  for (size_t i = 0; i < n; i++) {
    if (t[i].status != SP_TXS_COMMITTED)
      die("setup tx %zu not committed (status %u)", i, t[i].status);
    free(t[i].msg);
  }
  printf("# setup: %zu authority txs (%zu passes) committed in %.2f s\n", n, n_pass, el);
  nt->txs_committed += n;
  free(rows);
  free(t);
}

/* Pay txs [from, from+n) of the round robin over the passes: tx i is from
 * pass i % n_pass with that pass's next seq (pass_seq is kept). */
static struct stx *sign_payments(struct net *nt, struct key *passes, uint64_t *pass_seq,
                                 size_t n_pass, const struct key *merchant, size_t n)
{
  struct stx *t = calloc(n, sizeof(*t));
  if (!t)
    die("oom");
  for (size_t i = 0; i < n; i++) {
    size_t p = i % n_pass;
    struct sp_tx tx;
    memset(&tx, 0, sizeof(tx));
    tx.kind = SP_TX_PAY;
    memcpy(tx.signer, passes[p].pk, SP_PK_LEN);
    tx.seq = ++pass_seq[p];
    memcpy(tx.u.pay.merchant, merchant->pk, SP_PK_LEN);
    tx.u.pay.n_parts = 1;
    tx.u.pay.parts[0].fund = sp_str_c(FUND);
    tx.u.pay.parts[0].amount = 1 + i % 7;
    tx.u.pay.order_ref = sp_str_c("bon 0042");
    encode_submit(&tx, nt->chain_id, passes[p].sk, (uint32_t)(i + 1), &t[i]);
  }
  return t;
}

static void free_stx(struct stx *t, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(t[i].msg);
  free(t);
}

struct result {
  double tps, el;
  struct lat L;
  double rss;
};

/* One run of n payments on a started network; returns the figures. */
static struct result run_payments(struct net *nt, struct key *passes, uint64_t *pass_seq,
                                  size_t n_pass, const struct key *merchant, size_t n,
                                  double rate, const char *what)
{
  double ts = now();
  struct stx *t = sign_payments(nt, passes, pass_seq, n_pass, merchant, n);
  printf("# %s: %zu payments pre-signed in %.2f s\n", what, n, now() - ts);
  int nodes[MAX_NODES] = {0};
  for (int i = 0; i < nt->n_val; i++)
    nodes[i] = i;
  struct result r;
  memset(&r, 0, sizeof(r));
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  r.el = submit_all(nt, t, n, n_pass, N_CONN, nodes, nt->n_val, rate, what);
  getrusage(RUSAGE_SELF, &ru1);
  r.L = latencies(t, n);
  r.tps = (double)r.L.committed / r.el;
  nt->txs_committed += r.L.committed;
  if (r.L.committed != n)
    fprintf(stderr, "node_bench: %s: only %zu of %zu committed\n", what, r.L.committed, n);
  printf("# %s: %zu committed in %.2f s over %zu blocks (%.0f tx/block), max latency %.0f ms\n",
         what, r.L.committed, r.el, r.L.blocks,
         r.L.blocks ? (double)r.L.committed / (double)r.L.blocks : 0.0, r.L.max);
  /* the load generator shares the machine's cores with the nodes */
  double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
               (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
               (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
               (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
  printf("# %s: the load generator used %.2f cpu s (%.0f us per tx)\n", what, cpu,
         cpu * 1e6 / (double)n);
  free_stx(t, n);
  return r;
}

static struct net *net_new(const char *stadjerd)
{
  struct net *nt = calloc(1, sizeof(*nt));
  if (!nt)
    die("oom");
  nt->stadjerd = stadjerd;
  return nt;
}

int main(int argc, char **argv)
{
  size_t n_tx = 20000;
  const char *stadjerd = getenv("STADJERD");
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--txs") && i + 1 < argc)
      n_tx = (size_t)strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--stadjerd") && i + 1 < argc)
      stadjerd = argv[++i];
    else {
      fprintf(stderr, "usage: node_bench [--txs N] [--stadjerd PATH]\n");
      return 2;
    }
  }
  if (!stadjerd)
    stadjerd = "./node/stadjerd";
  if (access(stadjerd, X_OK) != 0) {
    fprintf(stderr, "node_bench: stadjerd not found at '%s' (use --stadjerd PATH or STADJERD)\n",
            stadjerd);
    return 1;
  }
  static char abs_path[4096];
  if (realpath(stadjerd, abs_path))
    stadjerd = abs_path;
  if (n_tx < 100 || n_tx > 1000000)
    die("--txs out of range (100..1000000)");
  if (sp_crypto_init() != SP_OK)
    die("sp_crypto_init");
  atexit(cleanup);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGHUP, on_signal);
  signal(SIGPIPE, SIG_IGN);
  double t_start = now();

  /* (1) raw Ed25519 verify: a slice up front and one before and after
   * each scenario, pooled, so that the limit sees the load the scenarios
   * saw (the machine is shared); figures are printed at the end */
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (cores < 1)
    cores = 1;
  {
    struct vlimit rv;
    vl_init(&rv);
    vl_run(&rv, MIN_SECONDS);

    size_t n_pass = N_PASS < n_tx ? N_PASS : n_tx;
    struct key *passes = calloc(n_pass, sizeof(*passes));
    uint64_t *pass_seq = calloc(n_pass, sizeof(*pass_seq));
    for (size_t i = 0; i < n_pass; i++)
      key_new(&passes[i]);
    uint64_t credit = (n_tx / n_pass + 2) * 7 * 3 + 1000;
    struct key merchant;

    /* NB_ONLY=node1 or net5 runs just that scenario (for profiling) */
    const char *only = getenv("NB_ONLY") ? getenv("NB_ONLY") : "";
    struct result ra = {0}, rh = {0}, rb = {0};
    double sync_tps = 0, rss = 0;

    /* (2) scenario a: one validator */
    if (strcmp(only, "net5") != 0) {
      struct net *a = net_new(stadjerd);
      net_start(a, 0, 1, false);
      setup_economy(a, passes, n_pass, &merchant, credit);
      vl_run(&rv, SLICE_SECONDS);
      ra = run_payments(a, passes, pass_seq, n_pass, &merchant, n_tx, 0, "node1");
      vl_run(&rv, SLICE_SECONDS);
      ra.rss = peak_rss_mb(a->pid[0]);
      print_threads("node1", a->pid[0]);

      /* (4) on the same single node: half the measured rate for ~5 s */
      double half = ra.tps / 2;
      size_t n_half = (size_t)(half * 5);
      if (n_half < 100)
        n_half = 100;
      if (n_half > n_tx)
        n_half = n_tx; /* credit was sized for a second run of at most N */
      if (strcmp(only, "node1") != 0)
        rh = run_payments(a, passes, pass_seq, n_pass, &merchant, n_half, half, "node1_half");
      printf("# half load: %.0f tx/s offered, %.0f tx/s committed, p50 %.1f ms\n", half, rh.tps,
             rh.L.p50);
      net_stop(a, 0);
      free(a);
      printf("# elapsed %.1f s\n", now() - t_start);
    }

    /* (3) scenario b: 4 validators + 1 observer */
    if (strcmp(only, "node1") != 0) {
      memset(pass_seq, 0, n_pass * sizeof(*pass_seq));
      struct net *b = net_new(stadjerd);
      net_start(b, 1, 4, true);
      setup_economy(b, passes, n_pass, &merchant, credit);
      vl_run(&rv, SLICE_SECONDS);
      rb = run_payments(b, passes, pass_seq, n_pass, &merchant, n_tx, 0, "net5");
      vl_run(&rv, SLICE_SECONDS);
      for (int i = 0; i < b->n; i++) {
        double r = peak_rss_mb(b->pid[i]);
        if (r > rss)
          rss = r;
    }
    print_threads("net5 validator0", b->pid[0]);
    print_threads("net5 observer", b->pid[b->n - 1]);
    /* (5) an observer from genesis */
    sync_tps = sync_from_genesis(b);
    vl_run(&rv, SLICE_SECONDS);
    net_stop(b, 1);
    free(b);
    }
    free(passes);
    free(pass_seq);

    double limit = vl_limit(&rv), one_x_cores = vl_1core(&rv) * (double)cores;
    vl_print(&rv);
    printf("# N = %zu payments, %d passes, %d connections, window %d; as ratios to the "
           "1-core rate x %ld cores: node1 %.3g, net5 %.3g\n",
           n_tx, N_PASS, N_CONN, WINDOW, cores, ra.tps / one_x_cores, rb.tps / (one_x_cores / 5));
    figure("node1_committed_tx_per_s", ra.tps, "tx/s", ra.tps / limit, ">=0.6");
    figure("node1_latency_p50", ra.L.p50, "ms", -1, "-");
    figure("node1_latency_p99", ra.L.p99, "ms", -1, "-");
    figure("node1_peak_rss", ra.rss, "MB", -1, "-");
    figure("node1_p99_at_half_load", rh.L.p99, "ms", -1, "<1000");
    figure("net5_committed_tx_per_s", rb.tps, "tx/s", rb.tps / (limit / 5), ">=0.6");
    figure("net5_latency_p50", rb.L.p50, "ms", -1, "-");
    figure("net5_latency_p99", rb.L.p99, "ms", -1, "-");
    figure("net5_peak_rss", rss, "MB", -1, "-");
    figure("observer_sync_tx_per_s", sync_tps, "tx/s", sync_tps / limit, "-");
  }
  printf("# total %.1f s\n", now() - t_start);
  return 0;
}
