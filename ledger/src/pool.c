#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "sp/ledger.h"

/* Items are handed out in chunks through one atomic counter: cheap enough
 * that a chunk of a few signature checks (~50 us each) dwarfs it. */
#define CHUNK 4

struct pool {
  pthread_mutex_t run_mu; /* one job at a time, whoever calls */
  pthread_mutex_t mu;
  pthread_cond_t work;  /* a new job was posted, or shutdown */
  pthread_cond_t idle;  /* a worker finished its part of the job */
  pthread_t *threads;
  unsigned n_threads;
  unsigned busy;        /* workers still inside the current job */
  unsigned long job;    /* generation number of the current job */
  bool stop;
  /* the job */
  void (*fn)(size_t, void *);
  void *arg;
  size_t n;
  atomic_size_t next;
};

static void drain(struct pool *p)
{
  for (;;) {
    size_t i = atomic_fetch_add(&p->next, CHUNK);
    if (i >= p->n)
      return;
    size_t end = i + CHUNK < p->n ? i + CHUNK : p->n;
    for (; i < end; i++)
      p->fn(i, p->arg);
  }
}

static void *worker(void *arg)
{
  struct pool *p = arg;
  unsigned long seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stop && p->job == seen)
      pthread_cond_wait(&p->work, &p->mu);
    if (p->stop)
      break;
    seen = p->job;
    pthread_mutex_unlock(&p->mu);
    drain(p);
    pthread_mutex_lock(&p->mu);
    if (--p->busy == 0)
      pthread_cond_signal(&p->idle);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int pool_create(struct pool **out, unsigned workers)
{
  struct pool *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return SP_LE_NOMEM;
  pthread_mutex_init(&p->run_mu, NULL);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work, NULL);
  pthread_cond_init(&p->idle, NULL);
  atomic_init(&p->next, 0);
  if (workers) {
    p->threads = calloc(workers, sizeof(*p->threads));
    if (p->threads == NULL) {
      pool_destroy(p);
      return SP_LE_NOMEM;
    }
  }
  for (unsigned i = 0; i < workers; i++) {
    if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
      pool_destroy(p);
      return SP_LE_THREAD;
    }
    p->n_threads++;
  }
  *out = p;
  return SP_LE_OK;
}

void pool_destroy(struct pool *p)
{
  if (p == NULL)
    return;
  pthread_mutex_lock(&p->mu);
  p->stop = true;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  for (unsigned i = 0; i < p->n_threads; i++)
    pthread_join(p->threads[i], NULL);
  free(p->threads);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->idle);
  pthread_mutex_destroy(&p->mu);
  pthread_mutex_destroy(&p->run_mu);
  free(p);
}

void pool_start(struct pool *p, size_t n, void (*fn)(size_t i, void *arg), void *arg)
{
  pthread_mutex_lock(&p->run_mu);
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->arg = arg;
  p->n = n;
  atomic_store(&p->next, 0);
  /* small jobs are not worth waking anybody */
  p->busy = n > CHUNK ? p->n_threads : 0;
  if (p->busy) {
    p->job++;
    pthread_cond_broadcast(&p->work);
  }
  pthread_mutex_unlock(&p->mu);
}

void pool_finish(struct pool *p)
{
  drain(p);
  pthread_mutex_lock(&p->mu);
  while (p->busy)
    pthread_cond_wait(&p->idle, &p->mu);
  pthread_mutex_unlock(&p->mu);
  pthread_mutex_unlock(&p->run_mu);
}

void pool_run(struct pool *p, size_t n, void (*fn)(size_t i, void *arg), void *arg)
{
  if (n == 0)
    return;
  pool_start(p, n, fn, arg);
  pool_finish(p);
}
