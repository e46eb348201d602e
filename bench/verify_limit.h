/* The reference every benchmark figure is a ratio to: libsodium's raw
 * Ed25519 verify rate, measured in the same run (docs/decisions/0012).
 *
 * Two ways are measured, in slices that the benchmarks place before and
 * after their timed parts and pool, so that the reference sees the same
 * stretch of time as the figures (the machine is shared):
 *   - one thread verifying while the other cores idle: the "1-core" rate;
 *   - one thread per online core, all verifying at once: the "limit", the
 *     verifications the machine's cores deliver together.
 * On a machine whose cores are independent the limit is the 1-core rate
 * times the cores. Virtual cores need not be: when the host runs two of
 * them on the two hardware threads of one physical core, both verifying
 * at once give about 1.2 times one alone, not 2 (seen on this project's
 * machines). The 1-core rate times the cores is printed as well.
 *
 * One valid signature over a 150-byte message, verified over and over (as
 * libsodium's own benchmarks do). Header-only: each benchmark is one file. */
#ifndef SP_BENCH_VERIFY_LIMIT_H
#define SP_BENCH_VERIFY_LIMIT_H

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VL_MAX_CORES 256

struct vlimit {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES], msg[150];
  long cores;
  uint64_t n1, np; /* verifications: one thread; all threads together */
  double s1, sp;   /* seconds of each */
};

struct vl_thread {
  const struct vlimit *v;
  double seconds, elapsed;
  uint64_t n, ok;
  pthread_barrier_t *start;
};

static double vl_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void vl_init(struct vlimit *v)
{
  unsigned char sk[crypto_sign_SECRETKEYBYTES], seed[crypto_sign_SEEDBYTES];
  memset(v, 0, sizeof(*v));
  memset(seed, 1, sizeof(seed));
  crypto_sign_seed_keypair(v->pk, sk, seed);
  for (size_t i = 0; i < sizeof(v->msg); i++)
    v->msg[i] = (unsigned char)(i * 7 + 3);
  crypto_sign_detached(v->sig, NULL, v->msg, sizeof(v->msg), sk);
  v->cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (v->cores < 1)
    v->cores = 1;
  if (v->cores > VL_MAX_CORES)
    v->cores = VL_MAX_CORES;
}

static void *vl_thread_run(void *arg)
{
  struct vl_thread *t = arg;
  const struct vlimit *v = t->v;
  if (t->start)
    pthread_barrier_wait(t->start);
  double t0 = vl_now();
  do {
    for (int i = 0; i < 64; i++)
      t->ok += crypto_sign_verify_detached(v->sig, v->msg, sizeof(v->msg), v->pk) == 0;
    t->n += 64;
  } while ((t->elapsed = vl_now() - t0) < t->seconds);
  return NULL;
}

/* One slice of `seconds`: half on one thread, then half on every core. */
static void vl_run(struct vlimit *v, double seconds)
{
  seconds /= 2;
  struct vl_thread one = {.v = v, .seconds = seconds};
  vl_thread_run(&one);
  if (one.ok != one.n) {
    fprintf(stderr, "verify_limit: a valid signature did not verify\n");
    exit(1);
  }
  v->n1 += one.n;
  v->s1 += one.elapsed;

  static struct vl_thread ts[VL_MAX_CORES];
  static pthread_t tid[VL_MAX_CORES];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)v->cores);
  for (long i = 0; i < v->cores; i++)
    ts[i] = (struct vl_thread){.v = v, .seconds = seconds, .start = &start};
  for (long i = 1; i < v->cores; i++)
    if (pthread_create(&tid[i], NULL, vl_thread_run, &ts[i]) != 0) {
      fprintf(stderr, "verify_limit: cannot start a thread\n");
      exit(1);
    }
  vl_thread_run(&ts[0]);
  double longest = ts[0].elapsed;
  uint64_t n = ts[0].n, ok = ts[0].ok;
  for (long i = 1; i < v->cores; i++) {
    pthread_join(tid[i], NULL);
    n += ts[i].n;
    ok += ts[i].ok;
    if (ts[i].elapsed > longest)
      longest = ts[i].elapsed;
  }
  pthread_barrier_destroy(&start);
  if (ok != n) {
    fprintf(stderr, "verify_limit: a valid signature did not verify\n");
    exit(1);
  }
  v->np += n;
  v->sp += longest;
}

static double vl_1core(const struct vlimit *v)
{
  return v->s1 > 0 ? (double)v->n1 / v->s1 : 0;
}

/* verify/s of all cores at once: the limit */
static double vl_limit(const struct vlimit *v)
{
  return v->sp > 0 ? (double)v->np / v->sp : 0;
}

/* The reference lines, with ratios to the limit. */
static void vl_print(const struct vlimit *v)
{
  double limit = vl_limit(v), one = vl_1core(v);
  printf("figure: ed25519_verify_limit %.0f verify/s ratio=1 target=-\n", limit);
  printf("figure: ed25519_verify_1core %.0f verify/s ratio=%.3g target=-\n", one, one / limit);
  printf("figure: ed25519_verify_1core_x_cores %.0f verify/s ratio=%.3g target=-\n",
         one * (double)v->cores, one * (double)v->cores / limit);
  printf("# limit = verify/s of %ld threads verifying at once, one per online core, pooled "
         "over %.1f s; all cores at once gave %.2f times one core alone\n",
         v->cores, v->sp, one > 0 ? limit / one : 0);
  fflush(stdout);
}

#endif
