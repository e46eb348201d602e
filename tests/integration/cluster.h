/* Integration test harness: a cluster of real stadjerd processes on
 * 127.0.0.1 (4 validators and, optionally, one observer) in a fresh temp
 * dir, with ports chosen at run time, plus blocking client helpers, signed
 * transaction builders and raw sockets for protocol attacks.
 *
 * Every process started is recorded by PID; cl_stop_all / cl_free kill and
 * reap them, and an atexit handler (cl_harness_init) kills whatever is
 * still recorded, so a failing test never leaves a daemon behind. Each child
 * also gets PR_SET_PDEATHSIG(SIGKILL), for the case where the test program
 * itself is killed (ctest timeout). Every wait is bounded.
 *
 * Header-only, for one test program; cmocka assertions only on the main
 * thread (load generator threads report through their structs). */
#ifndef SP_IT_CLUSTER_H
#define SP_IT_CLUSTER_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>
#include <sodium.h>

#include "client.h"
#include "ledger_fixture.h" /* tx builders (fx_deposit, fx_pay, ...), fx_rmrf */
#include "sp/ledger.h"
#include "sp/merkle.h"
#include "sp/proto.h"
#include "sp/secure.h"

#define CL_MAX_NODES 5
#define CL_VALIDATORS 4
#define CL_OBSERVER 4 /* index of the observer, when there is one */
#define CL_EMPTY_BLOCK_MS "200"
/* Bounds, generous for a sanitized daemon on two loaded cores. */
#define CL_START_MS 30000   /* a node answers STATUS_Q after start */
#define CL_STOP_MS 30000    /* a node exits after SIGTERM */
#define CL_CALL_MS 15000    /* one request/answer */
#define CL_COMMIT_MS 60000  /* a submitted transaction commits */
#define CL_FUND "food-2027"
#define CL_FUND_CAT "food"

/* ------------------------------------------------------------ utilities */

static inline int64_t cl_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline uint64_t cl_wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void cl_sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static inline void cl_hex(const uint8_t *p, size_t n, char *out)
{
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hx[p[i] >> 4];
    out[2 * i + 1] = hx[p[i] & 15];
  }
  out[2 * n] = 0;
}

static int64_t cl_t0; /* start of the program, for log times */

__attribute__((format(printf, 1, 2))) static inline void cl_log(const char *fmt, ...);
static inline void cl_log(const char *fmt, ...)
{
  int64_t t0 = cl_t0;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  printf("[%7.3f] %s\n", (double)(cl_now_ms() - t0) / 1000.0, line);
  fflush(stdout);
}

/* -------------------------------------------------------- process table */

#define CL_MAX_PROCS 64
static pid_t cl_procs[CL_MAX_PROCS];
static pthread_mutex_t cl_procs_mu = PTHREAD_MUTEX_INITIALIZER;

static inline void cl_proc_add(pid_t pid)
{
  pthread_mutex_lock(&cl_procs_mu);
  for (int i = 0; i < CL_MAX_PROCS; i++)
    if (cl_procs[i] == 0) {
      cl_procs[i] = pid;
      break;
    }
  pthread_mutex_unlock(&cl_procs_mu);
}

static inline void cl_proc_del(pid_t pid)
{
  pthread_mutex_lock(&cl_procs_mu);
  for (int i = 0; i < CL_MAX_PROCS; i++)
    if (cl_procs[i] == pid)
      cl_procs[i] = 0;
  pthread_mutex_unlock(&cl_procs_mu);
}

/* atexit: SIGKILL and reap every process still recorded. */
static inline void cl_kill_leftovers(void)
{
  for (int i = 0; i < CL_MAX_PROCS; i++) {
    pid_t pid = cl_procs[i];
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      cl_procs[i] = 0;
    }
  }
}

/* SIGINT/SIGTERM/SIGHUP of the test program: the same, then die of it. */
static inline void cl_on_fatal_signal(int sig)
{
  for (int i = 0; i < CL_MAX_PROCS; i++)
    if (cl_procs[i] > 0)
      kill(cl_procs[i], SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

static inline void cl_harness_init(void)
{
  signal(SIGINT, cl_on_fatal_signal);
  signal(SIGTERM, cl_on_fatal_signal);
  signal(SIGHUP, cl_on_fatal_signal);
  cl_t0 = cl_now_ms();
  signal(SIGPIPE, SIG_IGN); /* our sockets; children get the default back */
  assert_int_equal(sp_crypto_init(), 0);
  atexit(cl_kill_leftovers);
}

/* Start argv (argv[0] a path) with stdout and stderr appended to logpath. */
static inline pid_t cl_spawn(char *const argv[], const char *logpath)
{
  int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || in < 0) {
    if (fd >= 0)
      close(fd);
    if (in >= 0)
      close(in);
    return -1;
  }
  pid_t parent = getpid();
  /* signals blocked across fork: the child must not run our handlers */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) {
    /* only async-signal-safe calls until exec */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL; /* a daemon starts with default dispositions */
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    dup2(in, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(fd);
  close(in);
  if (pid > 0)
    cl_proc_add(pid);
  return pid;
}

/* Wait for pid to exit within ms. Returns its wait status, or -1 on time
 * out (the process is left running). */
static inline int cl_wait_exit(pid_t pid, int ms)
{
  int64_t end = cl_now_ms() + ms;
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      cl_proc_del(pid);
      return st;
    }
    if (r < 0 && errno != EINTR) {
      cl_proc_del(pid);
      return -2;
    }
    if (cl_now_ms() >= end)
      return -1;
    cl_sleep_ms(20);
  }
}

static inline bool cl_alive(pid_t pid)
{
  int st;
  return pid > 0 && waitpid(pid, &st, WNOHANG) == 0;
}

/* NULL while node pid runs; else how it ended (it is reaped). */
static inline const char *cl_dead(pid_t *pid)
{
  static char why[96];
  int st;
  if (*pid <= 0)
    return "not running";
  pid_t r = waitpid(*pid, &st, WNOHANG);
  if (r == 0)
    return NULL;
  cl_proc_del(*pid);
  *pid = 0;
  if (r < 0)
    return "gone";
  if (WIFSIGNALED(st))
    snprintf(why, sizeof(why), "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
  else
    snprintf(why, sizeof(why), "exited with status %d", WEXITSTATUS(st));
  return why;
}

/* Run a command to completion within ms; its exit code, or -1. */
static inline int cl_run(char *const argv[], const char *logpath, int ms)
{
  pid_t pid = cl_spawn(argv, logpath);
  if (pid < 0)
    return -1;
  int st = cl_wait_exit(pid, ms);
  if (st == -1) {
    kill(pid, SIGKILL);
    cl_wait_exit(pid, 5000);
    return -1;
  }
  return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* -------------------------------------------------------------- keys */

struct cl_key {
  uint8_t seed[32];
  uint8_t pk[SP_PK_LEN];
  uint8_t sk[SP_SK_LEN];
  uint64_t seq; /* last sequence number used */
};

static inline void cl_key_new(struct cl_key *k)
{
  memset(k, 0, sizeof(*k));
  randombytes_buf(k->seed, sizeof(k->seed));
  assert_int_equal(sp_keypair_from_seed(k->pk, k->sk, k->seed), 0);
}

/* ------------------------------------------------------------ the cluster */

struct cl_node {
  int idx;
  bool validator;
  struct cl_key key;
  char home[200];
  char log[200];
  int port;
  pid_t pid; /* 0 when not running */
  int starts;
  const char *log_level; /* NULL: info */
};

struct cluster {
  char dir[128];
  const char *stadjerd;
  int n; /* nodes: validators first, then the observer */
  bool has_observer;
  struct cl_node node[CL_MAX_NODES];
  struct cl_key authority;
  uint8_t chain_id[SP_HASH_LEN];
  struct sp_buf genesis;
  struct sp_genesis g; /* decoded: views into genesis */
  uint64_t t0;         /* wall clock at setup: funds open from before it */
  bool passed;         /* set by the test body on success; logs shown otherwise */
  /* run by cl_free once the nodes are dead (a failed test's threads) */
  void (*cleanup)(void *arg);
  void *cleanup_arg;
};

/* Free TCP ports on 127.0.0.1: bind port 0, read it, keep every socket open
 * until all are picked (no duplicates), then close. */
static inline int cl_free_ports(int *ports, int n)
{
  int fds[CL_MAX_NODES * 2];
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

static inline int cl_write_key(const char *home, const struct cl_key *k)
{
  char path[256], text[2 * 32 + 2];
  snprintf(path, sizeof(path), "%s/node.key", home);
  cl_hex(k->seed, 32, text);
  text[64] = '\n';
  text[65] = 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  ssize_t w = write(fd, text, 65);
  close(fd);
  return w == 65 ? 0 : -1;
}

static inline int cl_cmp_val(const void *a, const void *b)
{
  return memcmp(((const struct sp_validator *)a)->pk, ((const struct sp_validator *)b)->pk,
                SP_PK_LEN);
}

/* Print the last `lines` lines of a file. */
static inline void cl_print_tail(const char *path, int lines)
{
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    printf("(no log %s)\n", path);
    return;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  long pos = size;
  int seen = 0;
  while (pos > 0 && seen <= lines) {
    pos--;
    fseek(f, pos, SEEK_SET);
    if (fgetc(f) == '\n' && pos != size - 1)
      seen++;
  }
  if (seen > lines)
    pos++;
  fseek(f, pos, SEEK_SET);
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
    fwrite(buf, 1, got, stdout);
  fclose(f);
  fflush(stdout);
}

/* Whether the file holds text (read whole; logs are small). */
static inline bool cl_file_contains(const char *path, const char *text)
{
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return false;
  char line[2048];
  bool found = false;
  while (!found && fgets(line, sizeof(line), f))
    found = strstr(line, text) != NULL;
  fclose(f);
  return found;
}

/* No node logged at error level or got a sanitizer report: the first such
 * line, or NULL. */
static inline const char *cl_log_problem(const struct cluster *cl, int *node)
{
  static const char *const bad[] = {"Z error ", "Sanitizer", "runtime error"};
  static char found[600];
  for (int i = 0; i < cl->n; i++) {
    FILE *f = fopen(cl->node[i].log, "r");
    if (f == NULL)
      continue;
    char line[512];
    while (fgets(line, sizeof(line), f))
      for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
        if (strstr(line, bad[k])) {
          fclose(f);
          snprintf(found, sizeof(found), "%s", line);
          *node = i;
          return found;
        }
    fclose(f);
  }
  return NULL;
}

static inline void cl_print_logs(const struct cluster *cl)
{
  for (int i = 0; i < cl->n; i++) {
    printf("=========== %s %d (port %d) log, last lines: %s\n",
           cl->node[i].validator ? "validator" : "observer", i, cl->node[i].port,
           cl->node[i].log);
    cl_print_tail(cl->node[i].log, 120);
  }
}

/* Start node i (stadjerd run). Does not wait for it to answer. */
static inline int cl_start(struct cluster *cl, int i)
{
  struct cl_node *nd = &cl->node[i];
  if (nd->pid > 0)
    return -1;
  char listen[64], obs[2 * SP_PK_LEN + 1];
  snprintf(listen, sizeof(listen), "127.0.0.1:%d", nd->port);
  char *argv[16];
  int a = 0;
  argv[a++] = (char *)cl->stadjerd;
  argv[a++] = (char *)"run";
  argv[a++] = (char *)"--home";
  argv[a++] = nd->home;
  argv[a++] = (char *)"--listen";
  argv[a++] = listen;
  if (nd->validator && cl->has_observer) {
    cl_hex(cl->node[CL_OBSERVER].key.pk, SP_PK_LEN, obs);
    argv[a++] = (char *)"--observer";
    argv[a++] = obs;
  }
  argv[a++] = (char *)"--log-level";
  argv[a++] = (char *)(nd->log_level ? nd->log_level : "info");
  argv[a++] = (char *)"--empty-block-ms";
  argv[a++] = (char *)CL_EMPTY_BLOCK_MS;
  argv[a] = NULL;
  char mark[128];
  int fd = open(nd->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd >= 0) {
    int len = snprintf(mark, sizeof(mark), "----- test harness: start #%d of node %d\n",
                       nd->starts + 1, i);
    if (write(fd, mark, (size_t)len) < 0) {
    }
    close(fd);
  }
  nd->pid = cl_spawn(argv, nd->log);
  if (nd->pid < 0) {
    nd->pid = 0;
    return -1;
  }
  nd->starts++;
  return 0;
}

/* SIGKILL node i and reap it. */
static inline void cl_kill9(struct cluster *cl, int i)
{
  struct cl_node *nd = &cl->node[i];
  if (nd->pid <= 0)
    return;
  kill(nd->pid, SIGKILL);
  cl_wait_exit(nd->pid, CL_STOP_MS);
  nd->pid = 0;
}

/* SIGTERM node i and wait; its exit code (0 = clean), or -1 if it had to
 * be killed, -2 if it died of a signal. */
static inline int cl_stop(struct cluster *cl, int i)
{
  struct cl_node *nd = &cl->node[i];
  if (nd->pid <= 0)
    return 0;
  kill(nd->pid, SIGTERM);
  int st = cl_wait_exit(nd->pid, CL_STOP_MS);
  if (st == -1) {
    kill(nd->pid, SIGKILL);
    cl_wait_exit(nd->pid, CL_STOP_MS);
    nd->pid = 0;
    return -1;
  }
  nd->pid = 0;
  if (st >= 0 && WIFEXITED(st))
    return WEXITSTATUS(st);
  return -2;
}

static inline void cl_kill_all(struct cluster *cl)
{
  for (int i = 0; i < cl->n; i++)
    cl_kill9(cl, i);
}

/* Create the cluster: temp dir, keys, genesis, `stadjerd init` of every
 * home. Nothing runs yet. NULL on failure (with a message printed). */
/* The node index of the validator with the rank-th smallest key. */
static inline int cl_validator_by_rank(const struct cluster *cl, int rank)
{
  for (int i = 0; i < CL_VALIDATORS; i++) {
    int smaller = 0;
    for (int j = 0; j < CL_VALIDATORS; j++)
      smaller += memcmp(cl->node[j].key.pk, cl->node[i].key.pk, SP_PK_LEN) < 0;
    if (smaller == rank)
      return i;
  }
  return -1;
}

/* A cluster whose genesis gives the validator with the dead_rank-th
 * smallest key (-1: none) the address of a port nobody listens on. The
 * smaller key of a pair dials, so the validators with smaller keys never
 * reach it, while it reaches the others itself. Wallets use its real
 * port. */
static inline struct cluster *cl_new_ex(bool observer, int dead_rank)
{
  struct cluster *cl = calloc(1, sizeof(*cl));
  if (cl == NULL)
    return NULL;
  cl->stadjerd = getenv("STADJERD");
  if (cl->stadjerd == NULL || access(cl->stadjerd, X_OK) != 0) {
    printf("STADJERD does not name the stadjerd program (set by ctest)\n");
    free(cl);
    return NULL;
  }
  snprintf(cl->dir, sizeof(cl->dir), "/tmp/sp-it-XXXXXX");
  if (mkdtemp(cl->dir) == NULL) {
    free(cl);
    return NULL;
  }
  cl->has_observer = observer;
  cl->n = CL_VALIDATORS + (observer ? 1 : 0);
  cl->t0 = cl_wall_ms();
  cl_key_new(&cl->authority);
  int ports[CL_MAX_NODES + 1];
  if (cl_free_ports(ports, cl->n + 1) != 0) /* the last one stays unused */
    goto fail;
  for (int i = 0; i < cl->n; i++) {
    struct cl_node *nd = &cl->node[i];
    nd->idx = i;
    nd->validator = i < CL_VALIDATORS;
    nd->port = ports[i];
    cl_key_new(&nd->key);
    snprintf(nd->home, sizeof(nd->home), "%s/node%d", cl->dir, i);
    snprintf(nd->log, sizeof(nd->log), "%s/node%d.log", cl->dir, i);
    if (mkdir(nd->home, 0700) != 0 || cl_write_key(nd->home, &nd->key) != 0)
      goto fail;
  }
  int dead = dead_rank < 0 ? -1 : cl_validator_by_rank(cl, dead_rank);
  /* genesis: 4 validators with their ports, the authority, categories */
  struct sp_genesis g;
  memset(&g, 0, sizeof(g));
  char addrs[CL_VALIDATORS][32], names[CL_VALIDATORS][8];
  g.chain_name = sp_str_c("stadjerspas-it");
  g.genesis_time_ms = cl->t0 - 3600 * 1000;
  memcpy(g.authority, cl->authority.pk, SP_PK_LEN);
  g.n_validators = CL_VALIDATORS;
  for (int i = 0; i < CL_VALIDATORS; i++) {
    snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%d",
             i == dead ? ports[cl->n] : cl->node[i].port);
    snprintf(names[i], sizeof(names[i]), "v%d", i);
    memcpy(g.validators[i].pk, cl->node[i].key.pk, SP_PK_LEN);
    g.validators[i].addr = sp_str_c(addrs[i]);
    g.validators[i].name = sp_str_c(names[i]);
  }
  qsort(g.validators, CL_VALIDATORS, sizeof(g.validators[0]), cl_cmp_val);
  static const char *const cats[] = {"culture", "food", "sport"};
  g.n_categories = 3;
  for (int i = 0; i < 3; i++)
    g.categories[i] = sp_str_c(cats[i]);
  g.params.max_block_txs = 5000;
  g.params.max_block_bytes = 4u * 1024 * 1024;
  g.params.fund_close_grace_ms = 7ull * 24 * 3600 * 1000;
  sp_buf_init(&cl->genesis, 1 << 20);
  if (sp_genesis_encode(&g, &cl->genesis) != 0 ||
      sp_chain_id(cl->genesis.data, cl->genesis.len, cl->chain_id) != 0 ||
      sp_genesis_decode(cl->genesis.data, cl->genesis.len, &cl->g) != 0)
    goto fail;
  char gpath[256];
  snprintf(gpath, sizeof(gpath), "%s/genesis.bin", cl->dir);
  FILE *f = fopen(gpath, "wb");
  if (f == NULL)
    goto fail;
  size_t w = fwrite(cl->genesis.data, 1, cl->genesis.len, f);
  if (fclose(f) != 0 || w != cl->genesis.len)
    goto fail;
  for (int i = 0; i < cl->n; i++) {
    char *argv[] = {(char *)cl->stadjerd, (char *)"init", (char *)"--home", cl->node[i].home,
                    (char *)"--genesis", gpath, NULL};
    int rc = cl_run(argv, cl->node[i].log, 60000);
    if (rc != 0) {
      printf("stadjerd init of node %d failed (%d)\n", i, rc);
      cl_print_tail(cl->node[i].log, 40);
      goto fail;
    }
  }
  return cl;
fail:
  printf("cluster setup failed in %s\n", cl->dir);
  sp_buf_free(&cl->genesis);
  fx_rmrf(cl->dir);
  free(cl);
  return NULL;
}

static inline struct cluster *cl_new(bool observer)
{
  return cl_new_ex(observer, -1);
}

/* Kill everything still running, show the logs if the test did not pass,
 * remove the temp dir. Accepts NULL. */
static inline void cl_free(struct cluster *cl)
{
  if (cl == NULL)
    return;
  cl_kill_all(cl);
  if (cl->cleanup)
    cl->cleanup(cl->cleanup_arg);
  if (!cl->passed)
    cl_print_logs(cl);
  if (getenv("CL_KEEP")) /* for a look at the logs and ledgers */
    printf("keeping %s\n", cl->dir);
  else
    fx_rmrf(cl->dir);
  sp_buf_free(&cl->genesis);
  free(cl);
}

/* ---------------------------------------------------------- the client */

/* Connect to node i as key k (a wallet); NULL with the reason printed. */
static inline struct sp_client *cl_connect(struct cluster *cl, int i, const struct cl_key *k,
                                           int timeout_ms)
{
  struct sp_client *c = NULL;
  char err[256];
  if (sp_client_connect(&c, "127.0.0.1", cl->node[i].port, cl->chain_id, k->pk, k->sk,
                        timeout_ms, err, sizeof(err)) != 0) {
    cl_log("connect to node %d (port %d): %s", i, cl->node[i].port, err);
    return NULL;
  }
  return c;
}

/* One request; the answer in *resp (release with sp_msg_clear). 0 or -1. */
static inline int cl_call(struct sp_client *c, struct sp_msg *req, struct sp_msg *resp,
                          int timeout_ms)
{
  char err[256];
  if (sp_client_call(c, req, resp, timeout_ms, err, sizeof(err)) != 0) {
    cl_log("%s request failed: %s", sp_msg_type_name(req->type), err);
    return -1;
  }
  return 0;
}

struct cl_status {
  uint64_t height;
  uint8_t tip[SP_HASH_LEN];
  uint8_t digest[SP_HASH_LEN];
  uint32_t role, peers, mempool;
};

static inline int cl_status_on(struct sp_client *c, struct cl_status *st)
{
  struct sp_msg req = {.type = SP_MSG_STATUS_Q}, *resp = calloc(1, sizeof(*resp));
  int rc = -1;
  if (resp && cl_call(c, &req, resp, CL_CALL_MS) == 0 && resp->type == SP_MSG_STATUS_A) {
    st->height = resp->u.status.height;
    memcpy(st->tip, resp->u.status.tip, SP_HASH_LEN);
    memcpy(st->digest, resp->u.status.state_digest, SP_HASH_LEN);
    st->role = resp->u.status.role;
    st->peers = resp->u.status.peers;
    st->mempool = resp->u.status.mempool;
    rc = 0;
  }
  sp_msg_clear(resp);
  free(resp);
  return rc;
}

/* STATUS of node i over a fresh connection (as the authority). */
static inline int cl_status(struct cluster *cl, int i, struct cl_status *st)
{
  struct sp_client *c = cl_connect(cl, i, &cl->authority, 5000);
  if (c == NULL)
    return -1;
  int rc = cl_status_on(c, st);
  sp_client_close(c);
  return rc;
}

/* Wait until node i answers STATUS_Q (it has started); -1 if it exited or
 * did not answer in time. */
static inline int cl_wait_ready(struct cluster *cl, int i)
{
  int64_t end = cl_now_ms() + CL_START_MS;
  while (cl_now_ms() < end) {
    if (!cl_alive(cl->node[i].pid)) {
      cl_log("node %d exited during start", i);
      cl_proc_del(cl->node[i].pid);
      cl->node[i].pid = 0;
      return -1;
    }
    struct sp_client *c = NULL;
    char err[256];
    if (sp_client_connect(&c, "127.0.0.1", cl->node[i].port, cl->chain_id,
                          cl->authority.pk, cl->authority.sk, 2000, err, sizeof(err)) == 0) {
      struct cl_status st;
      int rc = cl_status_on(c, &st);
      sp_client_close(c);
      if (rc == 0)
        return 0;
    }
    cl_sleep_ms(100);
  }
  cl_log("node %d did not answer within %d ms", i, CL_START_MS);
  return -1;
}

static inline int cl_start_ready(struct cluster *cl, int i)
{
  return cl_start(cl, i) == 0 ? cl_wait_ready(cl, i) : -1;
}

/* Wait until node i's height is at least h. */
static inline int cl_wait_height(struct cluster *cl, int i, uint64_t h, int ms)
{
  int64_t end = cl_now_ms() + ms;
  struct sp_client *c = NULL;
  while (cl_now_ms() < end) {
    if (c == NULL)
      c = cl_connect(cl, i, &cl->authority, 3000);
    struct cl_status st;
    if (c && cl_status_on(c, &st) == 0) {
      if (st.height >= h) {
        sp_client_close(c);
        return 0;
      }
    } else {
      sp_client_close(c);
      c = NULL;
    }
    cl_sleep_ms(100);
  }
  sp_client_close(c);
  return -1;
}

/* Wait until the running nodes in mask (bit i = node i) report the same
 * height, tip and state digest, at a height >= min_h. *out gets it. */
static inline int cl_wait_converged(struct cluster *cl, unsigned mask, uint64_t min_h, int ms,
                                    struct cl_status *out)
{
  struct sp_client *c[CL_MAX_NODES] = {0};
  int64_t end = cl_now_ms() + ms;
  int rc = -1;
  while (rc != 0 && cl_now_ms() < end) {
    struct cl_status st[CL_MAX_NODES];
    bool ok = true;
    int first = -1;
    for (int i = 0; i < cl->n && ok; i++) {
      if (!(mask & (1u << i)))
        continue;
      if (c[i] == NULL && (c[i] = cl_connect(cl, i, &cl->authority, 3000)) == NULL) {
        ok = false;
        break;
      }
      if (cl_status_on(c[i], &st[i]) != 0) {
        sp_client_close(c[i]);
        c[i] = NULL;
        ok = false;
        break;
      }
      if (first < 0)
        first = i;
      else if (st[i].height != st[first].height ||
               memcmp(st[i].tip, st[first].tip, SP_HASH_LEN) != 0 ||
               memcmp(st[i].digest, st[first].digest, SP_HASH_LEN) != 0)
        ok = false;
    }
    if (ok && first >= 0 && st[first].height >= min_h) {
      if (out)
        *out = st[first];
      rc = 0;
    } else {
      cl_sleep_ms(30);
    }
  }
  for (int i = 0; i < CL_MAX_NODES; i++)
    sp_client_close(c[i]);
  return rc;
}

/* ---------------------------------------------------------- transactions */

/* A signed transaction: its bytes, id and a decoded view (into raw). */
struct cl_tx {
  uint8_t *raw;
  size_t len;
  uint8_t id[SP_HASH_LEN];
  struct sp_tx tx;
};

/* Sign tx as k with k's next sequence number. */
static inline void cl_sign(struct cluster *cl, struct cl_key *k, struct sp_tx *tx,
                           struct cl_tx *out)
{
  memcpy(tx->signer, k->pk, SP_PK_LEN);
  tx->seq = ++k->seq;
  assert_int_equal(sp_tx_sign(tx, cl->chain_id, k->sk), 0);
  struct sp_buf b;
  sp_buf_init(&b, SP_MAX_TX_BYTES);
  assert_int_equal(sp_tx_encode(tx, &b), 0);
  out->raw = b.data;
  out->len = b.len;
  assert_int_equal(sp_tx_decode(out->raw, out->len, &out->tx), 0);
  assert_int_equal(sp_tx_id(&out->tx, cl->chain_id, out->id), 0);
}

static inline void cl_tx_free(struct cl_tx *t)
{
  sp_tx_clear(&t->tx);
  free(t->raw);
  memset(t, 0, sizeof(*t));
}

struct cl_result {
  int rc;          /* 0: an answer came; -1: no answer (err says why) */
  uint32_t type;   /* SP_MSG_RESULT or SP_MSG_ERROR */
  uint32_t status; /* RESULT */
  uint64_t height;
  uint32_t index, reason, code, n_proof;
  uint8_t proof[SP_MAX_PROOF][SP_HASH_LEN];
  char msg[SP_MAX_REASON + 1];
};

static inline void cl_copy_result(const struct sp_msg *m, struct cl_result *r)
{
  r->type = m->type;
  if (m->type == SP_MSG_RESULT) {
    r->status = m->u.result.status;
    r->height = m->u.result.height;
    r->index = m->u.result.index;
    r->reason = m->u.result.reason;
    r->n_proof = m->u.result.n_proof;
    memcpy(r->proof, m->u.result.proof, (size_t)r->n_proof * SP_HASH_LEN);
    snprintf(r->msg, sizeof(r->msg), "%.*s", (int)m->u.result.message.len,
             m->u.result.message.p);
  } else if (m->type == SP_MSG_ERROR) {
    r->code = m->u.error.code;
    snprintf(r->msg, sizeof(r->msg), "%.*s", (int)m->u.error.message.len,
             m->u.error.message.p);
  }
}

/* SUBMIT and wait for the answer (the node answers at commit or refusal). */
static inline void cl_submit(struct sp_client *c, const struct cl_tx *t, int timeout_ms,
                             struct cl_result *r)
{
  memset(r, 0, sizeof(*r));
  struct sp_msg *req = calloc(1, sizeof(*req)), *resp = calloc(1, sizeof(*resp));
  r->rc = -1;
  if (req && resp) {
    req->type = SP_MSG_SUBMIT;
    req->u.submit = t->tx;
    char err[256];
    if (sp_client_call(c, req, resp, timeout_ms, err, sizeof(err)) == 0) {
      r->rc = 0;
      cl_copy_result(resp, r);
    } else {
      snprintf(r->msg, sizeof(r->msg), "%.200s", err);
    }
  }
  sp_msg_clear(resp);
  free(req);
  free(resp);
}

/* TX_STATUS of a tx id. */
static inline void cl_tx_status(struct sp_client *c, const uint8_t id[SP_HASH_LEN],
                                struct cl_result *r)
{
  memset(r, 0, sizeof(*r));
  struct sp_msg req = {.type = SP_MSG_TX_STATUS}, *resp = calloc(1, sizeof(*resp));
  memcpy(req.u.txid.txid, id, SP_HASH_LEN);
  char err[256];
  r->rc = -1;
  if (resp && sp_client_call(c, &req, resp, CL_CALL_MS, err, sizeof(err)) == 0) {
    r->rc = 0;
    cl_copy_result(resp, r);
  }
  sp_msg_clear(resp);
  free(resp);
}

/* Submit on node i as the signer's key and require a committed RESULT. */
static inline void cl_submit_committed(struct cluster *cl, int i, const struct cl_key *as,
                                       const struct cl_tx *t, struct cl_result *r)
{
  struct sp_client *c = cl_connect(cl, i, as, 5000);
  assert_non_null(c);
  cl_submit(c, t, CL_COMMIT_MS, r);
  sp_client_close(c);
  if (r->rc != 0 || r->type != SP_MSG_RESULT || r->status != SP_TXS_COMMITTED)
    fail_msg("%s (seq %llu) on node %d: rc %d type %u status %u reason %u code %u: %s",
             sp_tx_kind_name(t->tx.kind), (unsigned long long)t->tx.seq, i, r->rc, r->type,
             r->status, r->reason, r->code, r->msg);
  assert_true(r->height > 0);
}

/* ------------------------------------------------------------ raw sockets */

static inline int cl_raw_connect(int port)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

static inline int cl_raw_send(int fd, const void *p, size_t n)
{
  const uint8_t *b = p;
  while (n) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Read and discard until the peer closes (recv 0 or a reset): 0, or -1 if
 * the connection is still open after ms. */
static inline int cl_raw_wait_closed(int fd, int ms)
{
  int64_t end = cl_now_ms() + ms;
  uint8_t buf[4096];
  for (;;) {
    int64_t left = end - cl_now_ms();
    if (left <= 0)
      return -1;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int pr = poll(&pf, 1, (int)left);
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr <= 0)
      return -1;
    ssize_t r = recv(fd, buf, sizeof(buf), 0);
    if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
      return 0;
  }
}

/* A handshake driven by hand over a raw socket, recording every byte we
 * send (for the replay attack). */
struct cl_raw_session {
  int fd;
  struct sp_secure *s;
  struct sp_buf sent;
  int err; /* sticky error of the secure channel, or 0 */
  bool closed;
};

static inline int cl_raw_session_send(struct cl_raw_session *rs, const uint8_t *p, size_t n)
{
  sp_buf_append(&rs->sent, p, n);
  return cl_raw_send(rs->fd, p, n);
}

/* Open a socket to port and start a handshake with cfg. */
static inline int cl_raw_session_open(struct cl_raw_session *rs, int port,
                                      const struct sp_secure_config *cfg)
{
  memset(rs, 0, sizeof(*rs));
  sp_buf_init(&rs->sent, 1 << 20);
  rs->fd = cl_raw_connect(port);
  if (rs->fd < 0)
    return -1;
  struct sp_buf out;
  sp_buf_init(&out, 4096);
  int rc = sp_secure_new(cfg, &rs->s);
  if (rc == 0)
    rc = sp_secure_start(rs->s, &out);
  if (rc == 0)
    rc = cl_raw_session_send(rs, out.data, out.len);
  sp_buf_free(&out);
  return rc;
}

/* Feed what arrives until one application message is out (1, copied into
 * msg of cap bytes, *len set), the handshake completes when want_established
 * (2), the channel fails (-1, rs->err), the peer closes (-2) or ms pass (0). */
static inline int cl_raw_session_pump(struct cl_raw_session *rs, int ms, bool want_established,
                                      uint8_t *msg, size_t cap, size_t *len)
{
  int64_t end = cl_now_ms() + ms;
  static _Thread_local uint8_t in[65536];
  struct sp_buf out;
  sp_buf_init(&out, 1 << 16);
  int result = 0;
  for (;;) {
    if (want_established && sp_secure_established(rs->s)) {
      result = 2;
      break;
    }
    int64_t left = end - cl_now_ms();
    if (left <= 0)
      break;
    struct pollfd pf = {.fd = rs->fd, .events = POLLIN};
    int pr = poll(&pf, 1, (int)left);
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr <= 0)
      break;
    ssize_t r = recv(rs->fd, in, sizeof(in), 0);
    if (r <= 0) {
      rs->closed = true;
      result = -2;
      break;
    }
    size_t off = 0;
    while (off < (size_t)r) {
      size_t used = 0;
      const uint8_t *m = NULL;
      size_t mlen = 0;
      sp_buf_reset(&out);
      int rc = sp_secure_feed(rs->s, in + off, (size_t)r - off, &used, &out, &m, &mlen);
      off += used;
      if (out.len)
        cl_raw_session_send(rs, out.data, out.len);
      if (rc < 0) {
        rs->err = rc;
        result = -1;
        goto done;
      }
      if (rc == 1 && msg) {
        if (mlen <= cap) {
          memcpy(msg, m, mlen);
          *len = mlen;
        }
        result = 1; /* bytes after it in this read are dropped: one answer only */
        goto done;
      }
      if (rc == 0)
        break;
    }
  }
done:
  sp_buf_free(&out);
  return result;
}

static inline void cl_raw_session_close(struct cl_raw_session *rs)
{
  if (rs->fd >= 0)
    close(rs->fd);
  rs->fd = -1;
  sp_secure_free(rs->s);
  rs->s = NULL;
  sp_buf_free(&rs->sent);
}

#endif
