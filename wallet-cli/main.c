/* stadjer: one command-line tool for municipality, household, merchant and
 * auditor. Commands are dispatched from wallet_commands (commands.c). */
#include <getopt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "wallet.h"

static void usage(FILE *f)
{
  fprintf(f, "usage: stadjer [--home DIR] [--node HOST:PORT] [--key NAME] [--json]\n"
             "               [--passphrase-file F] <command> [args]\n\n"
             "Amounts are typed as 12.50 and shown as \xe2\x82\xac" "12.50; dates as YYYY-MM-DD.\n"
             "Home: --home, else $STADJER_HOME, else ~/.stadjer. Node: --node or $STADJER_NODE.\n"
             "Exit codes: 0 done, 1 refused by the ledger, 2 usage, 3 node unreachable or\n"
             "authentication failed, 4 local problem (key file, passphrase).\n\ncommands:\n");
  for (const struct command *c = wallet_commands; c->name; c++)
    fprintf(f, "  %-60s %s\n", c->usage, c->help);
  fprintf(f, "\nstadjer help COMMAND shows one command.\n");
}

int main(int argc, char **argv)
{
  struct wallet w;
  memset(&w, 0, sizeof(w));
  static const struct option opts[] = {
      {"home", required_argument, 0, 'H'},   {"node", required_argument, 0, 'n'},
      {"key", required_argument, 0, 'k'},    {"json", no_argument, 0, 'j'},
      {"passphrase-file", required_argument, 0, 'p'},
      {"help", no_argument, 0, 'h'},         {"version", no_argument, 0, 'V'},
      {0, 0, 0, 0}};
  const char *home = NULL;
  int c;
  /* global options end at the first command word */
  while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
    switch (c) {
    case 'H': home = optarg; break;
    case 'n': w.node = optarg; break;
    case 'k': w.key_name = optarg; break;
    case 'j': w.json = true; break;
    case 'p': w.pass_file = optarg; break;
    case 'h': usage(stdout); return EXIT_OK;
    case 'V':
      printf("stadjer %s (wire format version %d)\n", SP_VERSION_STRING, SP_FORMAT_VERSION);
      return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (optind >= argc) {
    usage(stderr);
    return EXIT_USAGE;
  }
  if (home == NULL)
    home = getenv("STADJER_HOME");
  if (home)
    snprintf(w.home, sizeof(w.home), "%s", home);
  else
    snprintf(w.home, sizeof(w.home), "%s/.stadjer", getenv("HOME") ? getenv("HOME") : ".");
  if (sp_crypto_init() != 0)
    return fail(EXIT_LOCAL, "libsodium cannot start");

  const char *cmd = argv[optind];
  if (!strcmp(cmd, "help")) {
    if (optind + 1 >= argc) {
      usage(stdout);
      return EXIT_OK;
    }
    for (const struct command *k = wallet_commands; k->name; k++)
      if (!strcmp(k->name, argv[optind + 1])) {
        printf("usage: stadjer %s\n\n%s\n", k->usage, k->help);
        return EXIT_OK;
      }
    return fail(EXIT_USAGE, "no command '%s' (see stadjer --help)", argv[optind + 1]);
  }
  int rc = -1;
  for (const struct command *k = wallet_commands; k->name; k++)
    if (!strcmp(k->name, cmd)) {
      /* a command sees its own word as argv[0] and its arguments after it */
      rc = k->run(&w, argc - optind, argv + optind);
      break;
    }
  if (rc == -1)
    rc = fail(EXIT_USAGE, "unknown command '%s' (see stadjer --help)", cmd);
  sp_client_close(w.cli);
  free(w.genesis_bytes);
  sodium_memzero(w.sk, sizeof(w.sk));
  return rc;
}
