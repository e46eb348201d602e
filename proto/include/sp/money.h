/* Money: unsigned 64-bit euro cents. Never floating point. */
#ifndef SP_MONEY_H
#define SP_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* Largest amount any field may hold: €10,000,000,000.00. Far above any
 * municipal budget, far below UINT64_MAX, so sums of a few billion maximal
 * amounts still cannot wrap before the overflow checks see them. */
#define SP_MONEY_MAX UINT64_C(1000000000000)

/* Longest text sp_money_format writes, NUL included ("10000000000.00"). */
#define SP_MONEY_TEXT_MAX 24

/* *acc += v; SP_E_OVERFLOW (acc untouched) if the sum passes SP_MONEY_MAX. */
int sp_money_add(uint64_t *acc, uint64_t v);
/* *acc -= v; SP_E_UNDERFLOW (acc untouched) if v > *acc. */
int sp_money_sub(uint64_t *acc, uint64_t v);

/* Parse "12.50", "12", "0.05", "12.5" exactly into cents. Refused, each with
 * its own code: empty, negative ("-1"), a comma separator ("12,50"), more
 * than two decimals ("12.505"), anything else ("1e3", " 12", "12.", ".5",
 * "+3", "0x10"), and values over SP_MONEY_MAX. *cents is untouched on
 * error. */
int sp_money_parse(const char *text, uint64_t *cents);

/* Format as "12.50" (no currency sign, no thousands separator). Returns the
 * length written, or SP_E_BUFFER if cap is too small. */
int sp_money_format(uint64_t cents, char *out, size_t cap);

#endif
