/* stadjerd's runtime: ledger + consensus core + transport + mempool + client
 * API on one libuv loop. */
#ifndef SP_NODE_NODE_H
#define SP_NODE_NODE_H

#include "home.h"

/* Run a node on home until SIGINT/SIGTERM. Prints "listening on HOST:PORT"
 * on stdout once the listener is up. Returns a process exit code. */
int sp_node_run(const char *home, const struct sp_home_config *cfg);

/* Node error codes carried in ERROR messages. */
enum sp_node_error {
  SP_NERR_NOT_ALLOWED = 1,
  SP_NERR_BAD_REQUEST = 2,
  SP_NERR_NOT_FOUND = 3,
  SP_NERR_BUSY = 4,
  SP_NERR_INTERNAL = 5
};

#endif
