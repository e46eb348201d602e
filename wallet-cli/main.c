/* stadjer: the wallet CLI for municipality, household, merchant and auditor.
 * This first cut offers the amount helpers only; the commands that talk to
 * a node follow (issue #7). */
#include <stdio.h>
#include <string.h>

#include "sp/proto.h"

static void usage(FILE *f)
{
  fprintf(f, "usage: stadjer [--help] [--version] <command> [args]\n"
             "\n"
             "commands:\n"
             "  amount EUR     check and normalise an amount, e.g. 12.5 -> 12.50\n");
}

static int cmd_amount(int argc, char **argv)
{
  if (argc != 1) {
    fprintf(stderr, "usage: stadjer amount EUR\n");
    return 2;
  }
  uint64_t cents;
  int rc = sp_money_parse(argv[0], &cents);
  if (rc) {
    fprintf(stderr, "stadjer: invalid amount '%s': %s\n", argv[0], sp_strerror(rc));
    return 2;
  }
  char text[SP_MONEY_TEXT_MAX];
  sp_money_format(cents, text, sizeof(text));
  printf("€%s\n", text);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("stadjer %s (wire format version %d)\n", SP_VERSION_STRING, SP_FORMAT_VERSION);
    return 0;
  }
  if (strcmp(argv[1], "amount") == 0)
    return cmd_amount(argc - 2, argv + 2);
  fprintf(stderr, "stadjer: unknown command '%s' (see stadjer --help)\n", argv[1]);
  return 2;
}
