/* stadjerd: the peer daemon. This first cut knows its options only; the
 * transport, mempool, consensus driver and client API follow (issue #6). */
#include <stdio.h>
#include <string.h>

#include "sp/proto.h"

static void usage(FILE *f)
{
  fprintf(f,
          "usage: stadjerd [--help] [--version]\n"
          "\n"
          "stadjerd is the Stadjerspas ledger peer daemon (validator or observer).\n"
          "This build contains the wire format only; it cannot run a node yet.\n");
}

int main(int argc, char **argv)
{
  if (argc == 2 && strcmp(argv[1], "--help") == 0) {
    usage(stdout);
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "--version") == 0) {
    printf("stadjerd %s (wire format version %d)\n", SP_VERSION_STRING, SP_FORMAT_VERSION);
    return 0;
  }
  usage(stderr);
  return 2;
}
