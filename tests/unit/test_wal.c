/* The validator's consensus record (node/src/wal.c): the newer whole of
 * two files wins, a torn or damaged newer file falls back to the older
 * one, both damaged refuses to start, and an older release's single
 * consensus.wal is read and then removed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal.h"

#define MAX (1u << 20)

static char g_dir[64];

static int setup(void **state)
{
  (void)state;
  snprintf(g_dir, sizeof(g_dir), "/tmp/sp-wal-XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  const char *names[] = {"consensus.wal.0", "consensus.wal.1", "consensus.wal"};
  char p[128];
  for (size_t i = 0; i < 3; i++) {
    snprintf(p, sizeof(p), "%s/%s", g_dir, names[i]);
    unlink(p);
  }
  rmdir(g_dir);
  return 0;
}

static void path(char *out, const char *name)
{
  snprintf(out, 128, "%s/%s", g_dir, name);
}

/* Open the record in g_dir (failing the test if it does not open). */
static uint8_t *open_ok(struct sp_wal *w, size_t *n)
{
  uint8_t *snap;
  char err[256];
  if (sp_wal_open(w, g_dir, MAX, &snap, n, err, sizeof(err)) != 0)
    fail_msg("open: %s", err);
  return snap;
}

/* Open, expect the record `want` (NULL: none), close. */
static void expect_record(const char *want, size_t want_len)
{
  struct sp_wal w;
  size_t n;
  uint8_t *snap = open_ok(&w, &n);
  if (want == NULL) {
    assert_null(snap);
    assert_int_equal(n, 0);
  } else {
    assert_non_null(snap);
    assert_int_equal(n, want_len);
    assert_memory_equal(snap, want, want_len);
  }
  free(snap);
  sp_wal_close(&w);
}

static void write_records(const char *const *recs, size_t k)
{
  struct sp_wal w;
  size_t n;
  free(open_ok(&w, &n));
  for (size_t i = 0; i < k; i++)
    assert_int_equal(sp_wal_write(&w, (const uint8_t *)recs[i], strlen(recs[i])), 0);
  sp_wal_close(&w);
}

static void flip_byte(const char *name, off_t at)
{
  char p[128];
  path(p, name);
  int fd = open(p, O_RDWR);
  assert_true(fd >= 0);
  uint8_t c;
  assert_int_equal(pread(fd, &c, 1, at), 1);
  c ^= 0x20;
  assert_int_equal(pwrite(fd, &c, 1, at), 1);
  close(fd);
}

static off_t size_of(const char *name)
{
  char p[128];
  path(p, name);
  struct stat sb;
  return stat(p, &sb) == 0 ? sb.st_size : -1;
}

static void test_fresh_then_newest(void **state)
{
  (void)state;
  expect_record(NULL, 0);
  /* both files exist before anything is written */
  assert_int_equal(size_of("consensus.wal.0"), 0);
  assert_int_equal(size_of("consensus.wal.1"), 0);
  static const char *const recs[] = {"first snapshot", "second", "the third and longest one",
                                     "4th"};
  write_records(recs, 4);
  expect_record("4th", 3);
  /* the shorter record replaced a longer one in the same file: no tail */
  assert_int_equal(size_of("consensus.wal.0"), 52 + 3);
}

static void test_torn_newest_falls_back(void **state)
{
  (void)state;
  static const char *const recs[] = {"older snapshot", "newer snapshot"};
  write_records(recs, 2); /* seq 1 in .1, seq 2 in .0 */
  flip_byte("consensus.wal.0", 52 + 3);
  expect_record("older snapshot", 14);
  /* cut short instead */
  write_records(recs + 1, 1); /* the damaged seq 2 is not counted: seq 2 again, in .0 */
  expect_record("newer snapshot", 14);
  char p[128];
  path(p, "consensus.wal.0");
  assert_int_equal(truncate(p, 52 + 5), 0);
  expect_record("older snapshot", 14);
}

/* The very first write, torn: its vote never left, so there is no record. */
static void test_first_write_torn(void **state)
{
  (void)state;
  static const char *const recs[] = {"the first snapshot"};
  write_records(recs, 1); /* seq 1, in .1 */
  char p[128];
  path(p, "consensus.wal.1");
  assert_int_equal(truncate(p, 30), 0);
  expect_record(NULL, 0);
}

static void test_both_damaged_refused(void **state)
{
  (void)state;
  static const char *const recs[] = {"one", "two"};
  write_records(recs, 2);
  flip_byte("consensus.wal.0", 20);
  flip_byte("consensus.wal.1", 20);
  struct sp_wal w;
  uint8_t *snap;
  size_t n;
  char err[256] = "";
  assert_int_equal(sp_wal_open(&w, g_dir, MAX, &snap, &n, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "damaged"));
}

static void put_legacy(const uint8_t *p, size_t n)
{
  char lp[128];
  path(lp, "consensus.wal");
  FILE *f = fopen(lp, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  fclose(f);
}

static void test_legacy_file(void **state)
{
  (void)state;
  /* an older release's record, and nothing else: it is the record */
  /* snapshots as far as the position goes: [version, height, round,
   * step, and 7 more fields (nil here)] */
#define REST 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0
  static const uint8_t old[] = {0x9b, 1, 7, 0, 2, REST};
  put_legacy(old, sizeof(old));
  expect_record((const char *)old, sizeof(old));
  /* the first write replaces it, and the old file goes */
  static const char *const recs[] = {"\x9b\x02\x07\x01\x01\xc0\xc0\xc0\xc0\xc0\xc0\xc0"};
  write_records(recs, 1);
  assert_int_equal(size_of("consensus.wal"), -1);
  expect_record(recs[0], 12);
  /* an old file further on than the new record (an older release ran in
   * between): the old file wins; one behind it loses */
  static const uint8_t later[] = {0x9b, 1, 7, 2, 0, REST};
  put_legacy(later, sizeof(later));
  expect_record((const char *)later, sizeof(later));
  static const uint8_t earlier[] = {0x9b, 1, 7, 1, 0, REST};
  put_legacy(earlier, sizeof(earlier));
  expect_record(recs[0], 12);
}

/* An older release's record that is there but cannot be opened (here a
 * link to itself) stops the start, naming it: ignoring it would let the
 * validator start without its record and sign twice. */
static void test_legacy_unreadable_refused(void **state)
{
  (void)state;
  char lp[128];
  path(lp, "consensus.wal");
  assert_int_equal(symlink("consensus.wal", lp), 0);
  struct sp_wal w;
  uint8_t *snap;
  size_t n;
  char err[256] = "";
  assert_int_equal(sp_wal_open(&w, g_dir, MAX, &snap, &n, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "consensus.wal'"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_fresh_then_newest, setup, teardown),
      cmocka_unit_test_setup_teardown(test_torn_newest_falls_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_first_write_torn, setup, teardown),
      cmocka_unit_test_setup_teardown(test_both_damaged_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_legacy_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_legacy_unreadable_refused, setup, teardown),
  };
  return cmocka_run_group_tests_name("wal", tests, NULL, NULL);
}
