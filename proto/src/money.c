#include "sp/money.h"

#include <stdio.h>
#include <string.h>

#include "sp/error.h"

int sp_money_add(uint64_t *acc, uint64_t v)
{
  if (v > SP_MONEY_MAX || *acc > SP_MONEY_MAX - v)
    return SP_E_OVERFLOW;
  *acc += v;
  return SP_OK;
}

int sp_money_sub(uint64_t *acc, uint64_t v)
{
  if (v > *acc)
    return SP_E_UNDERFLOW;
  *acc -= v;
  return SP_OK;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

int sp_money_parse(const char *text, uint64_t *cents)
{
  if (text == NULL || text[0] == '\0')
    return SP_E_MONEY_EMPTY;
  if (text[0] == '-')
    return SP_E_MONEY_NEGATIVE;
  if (strchr(text, ',') != NULL)
    return SP_E_MONEY_COMMA;

  const char *p = text;
  uint64_t euros = 0;
  size_t int_digits = 0;
  while (is_digit(*p)) {
    /* Stop accumulating once clearly over the maximum; keep scanning so that
     * syntax errors further on are still reported as syntax errors. */
    if (euros <= SP_MONEY_MAX)
      euros = euros * 10 + (uint64_t)(*p - '0');
    int_digits++;
    p++;
  }
  if (int_digits == 0)
    return SP_E_MONEY_SYNTAX;

  uint64_t frac = 0;
  if (*p == '.') {
    p++;
    size_t frac_digits = 0;
    while (is_digit(*p)) {
      if (frac_digits < 2)
        frac = frac * 10 + (uint64_t)(*p - '0');
      frac_digits++;
      p++;
    }
    if (*p != '\0' || frac_digits == 0)
      return SP_E_MONEY_SYNTAX;
    if (frac_digits > 2)
      return SP_E_MONEY_DECIMALS;
    if (frac_digits == 1)
      frac *= 10;
  }
  if (*p != '\0')
    return SP_E_MONEY_SYNTAX;
  if (euros > SP_MONEY_MAX / 100 || euros * 100 + frac > SP_MONEY_MAX)
    return SP_E_MONEY_TOO_LARGE;
  *cents = euros * 100 + frac;
  return SP_OK;
}

int sp_money_format(uint64_t cents, char *out, size_t cap)
{
  int n = snprintf(out, cap, "%llu.%02llu", (unsigned long long)(cents / 100),
                   (unsigned long long)(cents % 100));
  if (n < 0 || (size_t)n >= cap)
    return SP_E_BUFFER;
  return n;
}
