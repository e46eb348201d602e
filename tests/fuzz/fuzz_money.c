/* sp_money_parse / sp_money_format / sp_money_add / sp_money_sub.
 *
 * The input, cut at the first NUL and at 64 bytes, is parsed as an amount;
 * when it parses, formatting and parsing again must give the same cents and
 * formatting must be a fixed point. The first 16 bytes, read as two
 * integers, also drive the arithmetic and a format round trip. */
#include "fuzz_common.h"

#define MAX_TEXT 64

static int money_code(int rc)
{
  switch (rc) {
  case SP_E_MONEY_EMPTY:
  case SP_E_MONEY_NEGATIVE:
  case SP_E_MONEY_COMMA:
  case SP_E_MONEY_DECIMALS:
  case SP_E_MONEY_SYNTAX:
  case SP_E_MONEY_TOO_LARGE: return 1;
  default: return 0;
  }
}

/* Reference parser, written from the rules in sp/money.h: the expected
 * result code, and the cents when it is SP_OK. */
static int ref_parse(const char *t, uint64_t *cents)
{
  if (t[0] == '\0')
    return SP_E_MONEY_EMPTY;
  if (t[0] == '-')
    return SP_E_MONEY_NEGATIVE;
  if (strchr(t, ',') != NULL)
    return SP_E_MONEY_COMMA;
  size_t i = 0, int_digits = 0, frac_digits = 0;
  while (t[i] >= '0' && t[i] <= '9')
    i++, int_digits++;
  int dot = t[i] == '.';
  if (dot) {
    i++;
    while (t[i] >= '0' && t[i] <= '9')
      i++, frac_digits++;
  }
  /* the only shape left: digits, optionally '.' and at least one digit */
  if (int_digits == 0 || t[i] != '\0' || (dot && frac_digits == 0))
    return SP_E_MONEY_SYNTAX;
  if (frac_digits > 2)
    return SP_E_MONEY_DECIMALS;
  /* value: skip leading zeros, then more than 13 digits is too large */
  size_t z = 0;
  while (z + 1 < int_digits && t[z] == '0')
    z++;
  if (int_digits - z > 13)
    return SP_E_MONEY_TOO_LARGE;
  uint64_t euros = 0;
  for (size_t k = z; k < int_digits; k++)
    euros = euros * 10 + (uint64_t)(t[k] - '0');
  uint64_t c = euros * 100;
  if (frac_digits >= 1)
    c += (uint64_t)(t[int_digits + 1] - '0') * 10;
  if (frac_digits == 2)
    c += (uint64_t)(t[int_digits + 2] - '0');
  if (c > SP_MONEY_MAX)
    return SP_E_MONEY_TOO_LARGE;
  *cents = c;
  return SP_OK;
}

static void round_trip(uint64_t cents)
{
  char text[SP_MONEY_TEXT_MAX], again[SP_MONEY_TEXT_MAX];
  int n = sp_money_format(cents, text, sizeof(text));
  FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text) && strlen(text) == (size_t)n);
  uint64_t back = 0;
  int rc = sp_money_parse(text, &back);
  if (rc != SP_OK || back != cents) {
    fprintf(stderr, "fuzz: format(%llu) = \"%s\" parses to %llu (%s)\n",
            (unsigned long long)cents, text, (unsigned long long)back, sp_errname(rc));
    abort();
  }
  FUZZ_CHECK(sp_money_format(back, again, sizeof(again)) == n &&
             strcmp(text, again) == 0);
  /* too small a buffer is refused, never truncated silently */
  FUZZ_CHECK(sp_money_format(cents, again, (size_t)n) == SP_E_BUFFER);
}

static uint64_t le64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char text[MAX_TEXT + 1];
  size_t n = size < MAX_TEXT ? size : MAX_TEXT;
  memcpy(text, data, n);
  text[n] = '\0';

  const uint64_t sentinel = UINT64_C(0xdeadbeefcafef00d);
  uint64_t cents = sentinel;
  int rc = sp_money_parse(text, &cents);
  uint64_t want = 0;
  int want_rc = ref_parse(text, &want);
  if (rc != want_rc || (rc == SP_OK && cents != want)) {
    fprintf(stderr, "fuzz: sp_money_parse(\"%s\") = %s %llu, reference %s %llu\n", text,
            sp_errname(rc), (unsigned long long)cents, sp_errname(want_rc),
            (unsigned long long)want);
    abort();
  }
  if (rc == SP_OK) {
    FUZZ_CHECK(cents <= SP_MONEY_MAX);
    round_trip(cents);
  } else {
    FUZZ_CHECK(money_code(rc));
    FUZZ_CHECK(cents == sentinel); /* untouched on error */
  }

  if (size >= 16) {
    uint64_t a = le64(data) % (SP_MONEY_MAX + 1), v = le64(data + 8);
    if (data[15] & 0x80) /* mostly in range, sometimes anything */
      v %= SP_MONEY_MAX + 1;
    round_trip(a);

    uint64_t acc = a;
    rc = sp_money_add(&acc, v);
    if (v <= SP_MONEY_MAX && a + v <= SP_MONEY_MAX)
      FUZZ_CHECK(rc == SP_OK && acc == a + v);
    else
      FUZZ_CHECK(rc == SP_E_OVERFLOW && acc == a);

    acc = a;
    rc = sp_money_sub(&acc, v);
    if (v <= a)
      FUZZ_CHECK(rc == SP_OK && acc == a - v);
    else
      FUZZ_CHECK(rc == SP_E_UNDERFLOW && acc == a);
  }
  return 0;
}
