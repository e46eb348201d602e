/* The node's intrusive hash map (node/src/hmap.c): keys shared by several
 * nodes, found with hmap_find and hmap_next; removal in any order; growth
 * by doubling, from 16 buckets and from 1 (where every early key shares
 * the one chain). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "hmap.h"

#define N 5000

struct item {
  uint8_t key[HMAP_KEY];
  struct hnode h;
  int id;
};

static struct item items[N];

static void key_of(uint8_t key[HMAP_KEY], int k)
{
  memset(key, 0, HMAP_KEY);
  key[0] = (uint8_t)k;
  key[1] = (uint8_t)(k >> 8);
  key[31] = 0xa5; /* keys that differ only in their first bytes */
}

/* How many nodes carry key k, walking with hmap_find and hmap_next. */
static int count(const struct hmap *m, int k)
{
  uint8_t key[HMAP_KEY];
  key_of(key, k);
  int c = 0;
  for (struct hnode *h = hmap_find(m, key); h; h = hmap_next(h, key)) {
    assert_memory_equal(h->key, key, HMAP_KEY);
    c++;
  }
  return c;
}

static void run(size_t buckets)
{
  struct hmap m;
  assert_int_equal(hmap_init(&m, buckets), 0);
  /* items i and i + N/2 share a key */
  for (int i = 0; i < N; i++) {
    key_of(items[i].key, i % (N / 2));
    items[i].id = i;
    items[i].h.key = items[i].key;
    hmap_insert(&m, &items[i].h);
  }
  assert_int_equal(m.n, N);
  assert_true(m.mask + 1 >= buckets); /* grown, or not shrunk */
  for (int k = 0; k < N / 2; k++)
    assert_int_equal(count(&m, k), 2);
  assert_int_equal(count(&m, N), 0); /* absent */

  /* remove the first of every pair, then every odd key's second */
  for (int i = 0; i < N / 2; i++)
    hmap_remove(&m, &items[i].h);
  for (int k = 0; k < N / 2; k++)
    assert_int_equal(count(&m, k), 1);
  for (int i = N / 2; i < N; i++)
    if (i % 2)
      hmap_remove(&m, &items[i].h);
  for (int k = 0; k < N / 2; k++) {
    int want = (k + N / 2) % 2 ? 0 : 1;
    assert_int_equal(count(&m, k), want);
    uint8_t key[HMAP_KEY];
    key_of(key, k);
    struct hnode *h = hmap_find(&m, key);
    if (want)
      assert_int_equal(HMAP_ENTRY(h, struct item, h)->id, k + N / 2);
  }
  assert_int_equal(m.n, N / 4);
  /* removing a node that is not in the map changes nothing */
  hmap_remove(&m, &items[0].h);
  assert_int_equal(m.n, N / 4);
  hmap_free(&m);
}

static void test_grows(void **state)
{
  (void)state;
  run(16);
}

static void test_one_bucket(void **state)
{
  (void)state;
  run(1);
}

int main(void)
{
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grows),
      cmocka_unit_test(test_one_bucket),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
