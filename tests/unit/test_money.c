/* Unit tests of money parsing, formatting and checked arithmetic
 * (proto/src/money.c), and of the error-code text tables (error.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sp/crypto.h"
#include "sp/error.h"
#include "sp/money.h"

#define CHECK_RC(what, got, want)                                                         \
  do {                                                                                    \
    int got_ = (got), want_ = (want);                                                     \
    if (got_ != want_)                                                                    \
      fail_msg("%s: got %d (%s), want %d (%s)", (what), got_, sp_errname(got_), want_,    \
               sp_errname(want_));                                                        \
  } while (0)

#define SENTINEL UINT64_C(0x5151515151515151)

static int group_setup(void **state)
{
  (void)state;
  return sp_crypto_init() == SP_OK ? 0 : -1;
}

/* xorshift64*: a fixed-seed generator so failures reproduce. */
static uint64_t rng_next(uint64_t *s)
{
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * UINT64_C(2685821657736338717);
}

/* ------------------------------------------------------------------ parse */

static void test_parse_accepts(void **state)
{
  (void)state;
  struct {
    const char *text;
    uint64_t cents;
  } rows[] = {
      {"12.50", 1250},
      {"12", 1200},
      {"0.05", 5},
      {"12.5", 1250},
      {"0", 0},
      {"0.00", 0},
      {"0.0", 0},
      {"0.01", 1},
      {"0.99", 99},
      {"1.10", 110},
      {"9999999999.99", SP_MONEY_MAX - 1},
      {"10000000000.00", SP_MONEY_MAX},
      {"10000000000", SP_MONEY_MAX},
      {"10000000000.0", SP_MONEY_MAX},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    uint64_t c = SENTINEL;
    CHECK_RC(rows[i].text, sp_money_parse(rows[i].text, &c), SP_OK);
    if (c != rows[i].cents)
      fail_msg("%s: got %llu cents, want %llu", rows[i].text, (unsigned long long)c,
               (unsigned long long)rows[i].cents);
  }
}

static void test_parse_refuses(void **state)
{
  (void)state;
  struct {
    const char *text;
    int want;
  } rows[] = {
      {"12.505", SP_E_MONEY_DECIMALS},
      {"0.001", SP_E_MONEY_DECIMALS},
      {"-1", SP_E_MONEY_NEGATIVE},
      {"-0.50", SP_E_MONEY_NEGATIVE},
      {"1e3", SP_E_MONEY_SYNTAX},
      {"12,50", SP_E_MONEY_COMMA},
      {"1,000.00", SP_E_MONEY_COMMA},
      {"", SP_E_MONEY_EMPTY},
      {"10000000000.01", SP_E_MONEY_TOO_LARGE},
      {"10000000001", SP_E_MONEY_TOO_LARGE},
      {"99999999999999999999999", SP_E_MONEY_TOO_LARGE},
      {"99999999999999999999999.99", SP_E_MONEY_TOO_LARGE},
      {"18446744073709551616", SP_E_MONEY_TOO_LARGE}, /* 2^64 must not wrap to 0 */
      {"184467440737095517.00", SP_E_MONEY_TOO_LARGE},
      {" 12", SP_E_MONEY_SYNTAX},
      {"12 ", SP_E_MONEY_SYNTAX},
      {"12.", SP_E_MONEY_SYNTAX},
      {".5", SP_E_MONEY_SYNTAX},
      {"+3", SP_E_MONEY_SYNTAX},
      {"0x10", SP_E_MONEY_SYNTAX},
      {"1.2.3", SP_E_MONEY_SYNTAX},
      {"12.5a", SP_E_MONEY_SYNTAX},
      {"12a", SP_E_MONEY_SYNTAX},
      {"abc", SP_E_MONEY_SYNTAX},
      {".", SP_E_MONEY_SYNTAX},
      {"12.50\n", SP_E_MONEY_SYNTAX},
      {"\xd9\xa1\xd9\xa2", SP_E_MONEY_SYNTAX}, /* Arabic-Indic digits */
      {"99999999999999999999999x", SP_E_MONEY_SYNTAX},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    uint64_t c = SENTINEL;
    CHECK_RC(rows[i].text, sp_money_parse(rows[i].text, &c), rows[i].want);
    if (c != SENTINEL)
      fail_msg("%s: output written on error", rows[i].text);
  }
  uint64_t c = SENTINEL;
  CHECK_RC("NULL", sp_money_parse(NULL, &c), SP_E_MONEY_EMPTY);
  assert_true(c == SENTINEL);
}

/* ----------------------------------------------------------------- format */

static void test_format(void **state)
{
  (void)state;
  struct {
    uint64_t cents;
    const char *text;
  } rows[] = {
      {1250, "12.50"},
      {5, "0.05"},
      {0, "0.00"},
      {10, "0.10"},
      {100, "1.00"},
      {123456789, "1234567.89"},
      {SP_MONEY_MAX, "10000000000.00"},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    char out[SP_MONEY_TEXT_MAX];
    memset(out, 'Z', sizeof(out));
    int n = sp_money_format(rows[i].cents, out, sizeof(out));
    assert_int_equal(n, strlen(rows[i].text));
    assert_string_equal(out, rows[i].text);
  }

  /* The longest uint64 still fits SP_MONEY_TEXT_MAX. */
  char big[SP_MONEY_TEXT_MAX];
  int n = sp_money_format(UINT64_MAX, big, sizeof(big));
  assert_int_equal(n, strlen("184467440737095516.15"));
  assert_string_equal(big, "184467440737095516.15");
}

static void test_format_small_buffer(void **state)
{
  (void)state;
  char out[16];
  /* "12.50" needs 6 bytes with the NUL */
  assert_int_equal(sp_money_format(1250, out, 6), 5);
  assert_string_equal(out, "12.50");
  CHECK_RC("cap 5", sp_money_format(1250, out, 5), SP_E_BUFFER);
  CHECK_RC("cap 1", sp_money_format(1250, out, 1), SP_E_BUFFER);
  CHECK_RC("cap 0", sp_money_format(1250, out, 0), SP_E_BUFFER);
  CHECK_RC("max, cap 14", sp_money_format(SP_MONEY_MAX, out, 14), SP_E_BUFFER);
  assert_int_equal(sp_money_format(SP_MONEY_MAX, out, 15), 14);
}

static void test_parse_format_roundtrip(void **state)
{
  (void)state;
  uint64_t seed = UINT64_C(0x2027);
  uint64_t fixed[] = {0, 1, 9, 10, 99, 100, 101, 999, 1000, SP_MONEY_MAX - 1, SP_MONEY_MAX};
  for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) + 20000; i++) {
    uint64_t x;
    if (i < sizeof(fixed) / sizeof(fixed[0])) {
      x = fixed[i];
    } else {
      uint64_t r = rng_next(&seed);
      /* spread over magnitudes, not only the top of the range */
      uint64_t mod = (uint64_t)1 << (r % 41);
      x = rng_next(&seed) % (mod < SP_MONEY_MAX ? mod : SP_MONEY_MAX + 1);
    }
    char out[SP_MONEY_TEXT_MAX];
    int n = sp_money_format(x, out, sizeof(out));
    assert_true(n > 0);
    uint64_t back = SENTINEL;
    CHECK_RC(out, sp_money_parse(out, &back), SP_OK);
    if (back != x)
      fail_msg("format(%llu) = %s parses back as %llu", (unsigned long long)x, out,
               (unsigned long long)back);
  }
}

/* ------------------------------------------------------------- arithmetic */

static void test_add(void **state)
{
  (void)state;
  uint64_t acc = 100;
  CHECK_RC("100 + 50", sp_money_add(&acc, 50), SP_OK);
  assert_int_equal(acc, 150);

  acc = SP_MONEY_MAX - 10;
  CHECK_RC("to exactly max", sp_money_add(&acc, 10), SP_OK);
  assert_true(acc == SP_MONEY_MAX);
  CHECK_RC("max + 0", sp_money_add(&acc, 0), SP_OK);
  assert_true(acc == SP_MONEY_MAX);

  struct {
    const char *name;
    uint64_t acc, v;
  } over[] = {
      {"max + 1", SP_MONEY_MAX, 1},
      {"max-10 + 11", SP_MONEY_MAX - 10, 11},
      {"0 + max+1", 0, SP_MONEY_MAX + 1},
      {"1 + UINT64_MAX (would wrap)", 1, UINT64_MAX},
      {"max + max", SP_MONEY_MAX, SP_MONEY_MAX},
      {"UINT64_MAX + 0", UINT64_MAX, 0},
  };
  for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
    acc = over[i].acc;
    CHECK_RC(over[i].name, sp_money_add(&acc, over[i].v), SP_E_OVERFLOW);
    if (acc != over[i].acc)
      fail_msg("%s: acc changed on error", over[i].name);
  }
}

static void test_sub(void **state)
{
  (void)state;
  uint64_t acc = 150;
  CHECK_RC("150 - 50", sp_money_sub(&acc, 50), SP_OK);
  assert_int_equal(acc, 100);
  CHECK_RC("100 - 100", sp_money_sub(&acc, 100), SP_OK);
  assert_int_equal(acc, 0);
  CHECK_RC("0 - 0", sp_money_sub(&acc, 0), SP_OK);
  assert_int_equal(acc, 0);

  struct {
    const char *name;
    uint64_t acc, v;
  } under[] = {
      {"0 - 1", 0, 1},
      {"99 - 100", 99, 100},
      {"1 - UINT64_MAX", 1, UINT64_MAX},
  };
  for (size_t i = 0; i < sizeof(under) / sizeof(under[0]); i++) {
    acc = under[i].acc;
    CHECK_RC(under[i].name, sp_money_sub(&acc, under[i].v), SP_E_UNDERFLOW);
    if (acc != under[i].acc)
      fail_msg("%s: acc changed on error", under[i].name);
  }
}

/* ------------------------------------------------------------ error texts */

static void test_error_texts(void **state)
{
  (void)state;
  int first = SP__E_FIRST + 1, last = SP__E_LAST - 1;
  assert_true(last > first);
  const char *unknown = sp_strerror(12345);
  assert_string_equal(unknown, "unknown error");
  assert_string_equal(sp_strerror(SP__E_FIRST), "unknown error");
  assert_string_equal(sp_strerror(SP__E_LAST), "unknown error");
  assert_string_equal(sp_strerror(-1), "unknown error");
  assert_string_equal(sp_strerror(SP__E_FIRST - 1), "unknown error");
  assert_non_null(sp_errname(12345));
  assert_non_null(sp_errname(SP__E_LAST));
  assert_non_null(sp_strerror(SP_OK));
  assert_string_not_equal(sp_strerror(SP_OK), "unknown error");
  assert_non_null(sp_errname(SP_OK));

  for (int e = first; e <= last; e++) {
    const char *msg = sp_strerror(e), *name = sp_errname(e);
    assert_non_null(msg);
    assert_non_null(name);
    assert_true(msg[0] != '\0');
    assert_true(name[0] != '\0');
    if (strcmp(msg, "unknown error") == 0)
      fail_msg("code %d has no message", e);
    for (int f = first; f < e; f++) {
      if (strcmp(msg, sp_strerror(f)) == 0)
        fail_msg("codes %d and %d share the message \"%s\"", e, f, msg);
      if (strcmp(name, sp_errname(f)) == 0)
        fail_msg("codes %d and %d share the name \"%s\"", e, f, name);
    }
    if (strcmp(name, sp_errname(12345)) == 0)
      fail_msg("code %d has the unknown-code name", e);
  }
  /* spot checks that the tables are not shifted against the enum */
  assert_string_equal(sp_strerror(SP_E_NOMEM), "out of memory");
  assert_string_equal(sp_strerror(SP_E_MONEY_TOO_LARGE), "amount exceeds the maximum");
  assert_string_equal(sp_strerror(SP_E_NONMINIMAL),
                      "integer or length not in its shortest encoding");
}

/* error.h documents sp_errname as giving the stable machine name in the
 * form "NONMINIMAL": the enum's name without its SP_E_ prefix. */
static void test_errname_documented_form(void **state)
{
  (void)state;
  assert_string_equal(sp_errname(SP_E_NONMINIMAL), "NONMINIMAL");
  assert_string_equal(sp_errname(SP_E_MONEY_COMMA), "MONEY_COMMA");
  assert_string_equal(sp_errname(SP_OK), "OK");
  assert_string_equal(sp_errname(12345), "UNKNOWN");
  for (int e = SP__E_FIRST + 1; e < SP__E_LAST; e++) {
    for (const char *c = sp_errname(e); *c; c++)
      if (*c >= 'a' && *c <= 'z')
        fail_msg("sp_errname(%d) = \"%s\" is not upper case", e, sp_errname(e));
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_accepts),
      cmocka_unit_test(test_parse_refuses),
      cmocka_unit_test(test_format),
      cmocka_unit_test(test_format_small_buffer),
      cmocka_unit_test(test_parse_format_roundtrip),
      cmocka_unit_test(test_add),
      cmocka_unit_test(test_sub),
      cmocka_unit_test(test_error_texts),
      cmocka_unit_test(test_errname_documented_form),
  };
  return cmocka_run_group_tests_name("money", tests, group_setup, NULL);
}
