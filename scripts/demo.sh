#!/usr/bin/env bash
# `make demo`: the end-to-end story of the ledger's main job. It needs the
# node (stadjerd) and the wallet (stadjer) to talk to each other; until both
# can, it says what it will do and exits non-zero rather than pretend.
set -euo pipefail
build=${1:-build}

cat <<'TXT'
Stadjerspas demo — what it will show once the node and wallet are complete:

  1. start a local network: 4 validators + 1 auditor observer on 127.0.0.1,
     data in a fresh directory
  2. the municipality creates funds "sport-2027" (sport, culture) and
     "school-2027" (school-supplies) and deposits their budget
  3. it enrols 1,000 passes and issues €150 sport + €75 school credit to each
     from a CSV file
  4. a household pays €12.50 at a sports club; paying at a supermarket is
     refused with the reason; a bookshop is paid from the school fund
  5. the sports club refunds €2.50, claims its receivables, and the
     municipality settles the claim
  6. a lost pass is replaced and its balance follows to the new pass
  7. the auditor's observer verifies the whole chain and prints the
     reconciled report; a receipt proof is verified offline
  8. the nodes stop and a one-screen summary is printed

TXT
if [[ -x "$build/wallet-cli/stadjer" ]]; then
  echo "Built so far: $("$build/wallet-cli/stadjer" --version), $("$build/node/stadjerd" --version)"
  printf 'For instance, amounts are parsed exactly: stadjer amount 12.5 -> %s\n' \
    "$("$build/wallet-cli/stadjer" amount 12.5)"
fi
echo
echo "demo: not runnable yet — the node daemon and the wallet's network commands are still being built." >&2
exit 1
