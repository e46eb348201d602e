#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum sp_log_level current = SP_LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

void sp_log_set_level(enum sp_log_level level)
{
  current = level;
}

int sp_log_parse_level(const char *s)
{
  for (int i = 0; i < 4; i++)
    if (strcmp(s, names[i]) == 0)
      return i;
  return -1;
}

void sp_log(enum sp_log_level level, uint64_t height, const uint8_t *peer, const char *fmt, ...)
{
  if (level > current)
    return;
  char line[1024];
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  size_t off = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
  off += (size_t)snprintf(line + off, sizeof(line) - off, ".%03dZ %-5s ",
                          (int)(tv.tv_usec / 1000), names[level]);
  if (height || peer) {
    off += (size_t)snprintf(line + off, sizeof(line) - off, "[");
    if (height)
      off += (size_t)snprintf(line + off, sizeof(line) - off, "h=%llu%s",
                              (unsigned long long)height, peer ? " " : "");
    if (peer)
      off += (size_t)snprintf(line + off, sizeof(line) - off, "peer=%02x%02x%02x%02x", peer[0],
                              peer[1], peer[2], peer[3]);
    off += (size_t)snprintf(line + off, sizeof(line) - off, "] ");
  }
  if (off < sizeof(line)) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + off, sizeof(line) - off, fmt, ap);
    va_end(ap);
  }
  /* one write per line, so lines from threads never interleave */
  fprintf(stderr, "%s\n", line);
}
