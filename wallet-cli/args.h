/* Tiny argument parser for the commands: positionals and "--name value"
 * options (or "--flag" switches), any order. */
#ifndef SP_WALLET_ARGS_H
#define SP_WALLET_ARGS_H

#include <stdbool.h>
#include <string.h>

#include "wallet.h"

#define ARGS_MAX_POS 8
#define ARGS_MAX_OPT 12
#define ARGS_MAX_MULTI 8

struct args {
  int n_pos;
  const char *pos[ARGS_MAX_POS];
  /* option names without "--"; a trailing '!' marks a switch, '*' repeatable */
  const char *names[ARGS_MAX_OPT];
  const char *values[ARGS_MAX_OPT];
  bool set[ARGS_MAX_OPT];
  const char *multi[ARGS_MAX_OPT][ARGS_MAX_MULTI];
  int n_multi[ARGS_MAX_OPT];
};

/* Returns 0, or prints the problem and returns EXIT_USAGE. */
static inline int args_parse(struct args *a, const char *cmd, int argc, char **argv, int first)
{
  for (int i = first; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == 0) {
      if (a->n_pos == ARGS_MAX_POS)
        return fail(EXIT_USAGE, "%s: too many arguments", cmd);
      a->pos[a->n_pos++] = argv[i];
      continue;
    }
    const char *name = argv[i] + 2;
    int k;
    for (k = 0; k < ARGS_MAX_OPT && a->names[k]; k++) {
      size_t n = strlen(a->names[k]);
      char last = a->names[k][n - 1];
      size_t base = last == '!' || last == '*' ? n - 1 : n;
      if (strlen(name) == base && !strncmp(name, a->names[k], base)) {
        if (last == '!') {
          a->set[k] = true;
        } else {
          if (i + 1 >= argc)
            return fail(EXIT_USAGE, "%s: option --%s needs a value", cmd, name);
          if (last == '*') {
            if (a->n_multi[k] == ARGS_MAX_MULTI)
              return fail(EXIT_USAGE, "%s: --%s given too often", cmd, name);
            a->multi[k][a->n_multi[k]++] = argv[i + 1];
          }
          a->values[k] = argv[++i];
          a->set[k] = true;
        }
        break;
      }
    }
    if (k == ARGS_MAX_OPT || a->names[k] == NULL)
      return fail(EXIT_USAGE, "%s: unknown option '%s'", cmd, argv[i]);
  }
  return 0;
}

#endif
