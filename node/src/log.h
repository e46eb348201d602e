/* Logging for the daemon: one line per event on stderr,
 *   2026-11-29T10:15:02.123Z info  [h=812 peer=3fa2b1c0] block committed
 * Levels filter; the context (height, peer) is optional per line. */
#ifndef SP_NODE_LOG_H
#define SP_NODE_LOG_H

#include <stdint.h>

enum sp_log_level { SP_LOG_ERROR = 0, SP_LOG_WARN = 1, SP_LOG_INFO = 2, SP_LOG_DEBUG = 3 };

void sp_log_set_level(enum sp_log_level level);
/* "error", "warn", "info", "debug"; -1 if unknown. */
int sp_log_parse_level(const char *s);

/* height 0 and peer NULL are left out of the context. */
void sp_log(enum sp_log_level level, uint64_t height, const uint8_t *peer, const char *fmt,
            ...) __attribute__((format(printf, 4, 5)));

#define LOG_E(h, p, ...) sp_log(SP_LOG_ERROR, (h), (p), __VA_ARGS__)
#define LOG_W(h, p, ...) sp_log(SP_LOG_WARN, (h), (p), __VA_ARGS__)
#define LOG_I(h, p, ...) sp_log(SP_LOG_INFO, (h), (p), __VA_ARGS__)
#define LOG_D(h, p, ...) sp_log(SP_LOG_DEBUG, (h), (p), __VA_ARGS__)

#endif
