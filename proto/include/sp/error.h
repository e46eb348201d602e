/* Error codes of the proto library: 0 or a negative SP_E_* value.
 * Each decoder rejection class has its own code so callers and tests can
 * tell a truncated frame from a non-canonical integer. */
#ifndef SP_ERROR_H
#define SP_ERROR_H

#define SP_ERRNO_MAP(X)                                                              \
  X(NOMEM, "out of memory")                                                          \
  X(INVAL, "invalid argument")                                                       \
  X(BUFFER, "output buffer too small or over its limit")                             \
  X(TRUNCATED, "input ends inside an object")                                        \
  X(TRAILING, "trailing bytes after the object")                                     \
  X(TYPE, "field has the wrong type")                                                \
  X(FORBIDDEN, "forbidden msgpack type (map, float, ext, bool or nil)")              \
  X(NONMINIMAL, "integer or length not in its shortest encoding")                    \
  X(COUNT, "array has the wrong number of fields")                                   \
  X(TOOMANY, "container count larger than the bytes that remain")                    \
  X(DEPTH, "nesting deeper than the format allows")                                  \
  X(VERSION, "unknown version")                                                      \
  X(KIND, "unknown object kind or message type")                                     \
  X(UTF8, "string is not valid UTF-8")                                               \
  X(CHARSET, "string contains a character not allowed in this field")                \
  X(TOOLONG, "string, byte string or list exceeds its maximum")                      \
  X(LENGTH, "byte string has the wrong length")                                      \
  X(RANGE, "value out of range for its field")                                       \
  X(ORDER, "list not in strictly ascending order (unsorted or duplicate)")           \
  X(MISMATCH, "fields that must agree do not (height, hash or count)")                  \
  X(QUORUM, "signers are not more than two thirds of the validators")                \
  X(FRAME_TOO_BIG, "frame length exceeds the maximum frame size")                    \
  X(FRAME_EMPTY, "frame length is zero")                                             \
  X(BADSIG, "signature does not verify")                                             \
  X(CRYPTO, "cryptographic library failure")                                         \
  X(OVERFLOW, "amount overflows")                                                    \
  X(UNDERFLOW, "amount would become negative")                                       \
  X(MONEY_EMPTY, "amount is empty")                                                  \
  X(MONEY_NEGATIVE, "amount is negative")                                            \
  X(MONEY_COMMA, "amount uses ',' as decimal separator; write it with '.', e.g. 12.50") \
  X(MONEY_DECIMALS, "amount has more than two decimals (cents)")                     \
  X(MONEY_SYNTAX, "amount is not a plain decimal number like 12.50")                 \
  X(MONEY_TOO_LARGE, "amount exceeds the maximum")                                   \
  X(HANDSHAKE, "handshake failed")                                                   \
  X(AUTH, "peer authentication failed")                                              \
  X(DECRYPT, "record does not decrypt")                                              \
  X(STATE, "message not allowed in this state")

enum sp_err {
  SP_OK = 0,
  SP__E_FIRST = -1000,
#define SP_ERR_ENUM(name, msg) SP_E_##name,
  SP_ERRNO_MAP(SP_ERR_ENUM)
#undef SP_ERR_ENUM
  SP__E_LAST
};

/* Static text for a code (never NULL; "unknown error" for foreign codes). */
const char *sp_strerror(int err);
/* Stable machine name of a code, e.g. "NONMINIMAL" (never NULL). */
const char *sp_errname(int err);

#endif
