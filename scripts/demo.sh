#!/usr/bin/env bash
# `make demo`: the main job of the Stadjerspas ledger, end to end, on a
# local network of 4 validators and 1 auditor observer on 127.0.0.1.
# Every step runs the real programs: stadjerd (the nodes) and stadjer (the
# wallet of the municipality, households, merchants and the auditor).
set -euo pipefail
build=${1:-build}
STADJERD=$(realpath "$build/node/stadjerd")
STADJER=$(realpath "$build/wallet-cli/stadjer")
PASSES=${DEMO_PASSES:-1000}

D=$(mktemp -d /tmp/stadjerspas-demo-XXXXXX)
export STADJER_PASSPHRASE="demo passphrase (use a real one)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ stadjer %s\n' "$*"; "$STADJER" "$@"; }

free_port() {
  # a port the kernel hands out for 127.0.0.1:0, released for our use
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

say "1. a local network: 4 validators and an auditor's observer (data in $D)"
MUNI="$D/municipality" HH="$D/households" SHOP="$D/merchants" AUD="$D/auditor"
for who in MUNI HH SHOP AUD; do mkdir -p "${!who}"; done
W() { local home=$1; shift; "$STADJER" --home "$home" "$@"; }
W "$MUNI" key new municipality >/dev/null
W "$AUD" key new auditor >/dev/null
AUTH_HEX=$(W "$MUNI" --json key show municipality | sed 's/.*"public_key":"\([0-9a-f]*\)".*/\1/')
AUD_HEX=$(W "$AUD" --json key show auditor | sed 's/.*"public_key":"\([0-9a-f]*\)".*/\1/')
VALS=() PORTS=()
for i in 0 1 2 3; do
  PORTS[$i]=$(free_port)
  pk=$("$STADJERD" keygen --home "$D/v$i")
  VALS+=(--validator "$pk@127.0.0.1:${PORTS[$i]}=validator-$i")
done
OBS_PK=$("$STADJERD" keygen --home "$D/observer")
OBS_PORT=$(free_port)
"$STADJERD" genesis --out "$D/genesis.bin" --name "stadjerspas-demo" --authority "$AUTH_HEX" \
  "${VALS[@]}" --category culture --category food --category school-supplies --category sport \
  --time-ms $(( ($(date +%s) - 86400) * 1000 )) --grace-days 30 >/dev/null
for home in "$MUNI" "$HH" "$SHOP" "$AUD"; do cp "$D/genesis.bin" "$home/genesis.bin"; done
for i in 0 1 2 3; do
  "$STADJERD" init --home "$D/v$i" --genesis "$D/genesis.bin"
  "$STADJERD" run --home "$D/v$i" --listen "127.0.0.1:${PORTS[$i]}" --observer "$OBS_PK" \
    --auditor "$AUD_HEX" --empty-block-ms 2000 >"$D/v$i.out" 2>"$D/v$i.log" &
  pids+=($!)
done
"$STADJERD" init --home "$D/observer" --genesis "$D/genesis.bin"
"$STADJERD" run --home "$D/observer" --listen "127.0.0.1:$OBS_PORT" --auditor "$AUD_HEX" \
  --empty-block-ms 2000 >"$D/observer.out" 2>"$D/observer.log" &
pids+=($!)
export STADJER_NODE="127.0.0.1:${PORTS[0]}"
for _ in $(seq 50); do W "$MUNI" --key municipality status >/dev/null 2>&1 && break; sleep 0.2; done
W "$MUNI" --key municipality status | head -2

say "2. the municipality creates two funds and deposits their budget"
M() { run --home "$MUNI" --key municipality "$@"; }
M fund create sport-2027 --name "Sport en cultuur 2027" --categories sport,culture \
  --from "$(date -u +%Y-%m-%d -d yesterday)" --until 2027-12-31 --max-payment 100.00
M fund create school-2027 --name "Schoolspullen 2027" --categories school-supplies \
  --from "$(date -u +%Y-%m-%d -d yesterday)" --until 2027-12-31
M fund deposit sport-2027 $((PASSES * 150)).00 --ref "NL91BNGH0000000001 batch 2027-01"
M fund deposit school-2027 $((PASSES * 75)).00 --ref "NL91BNGH0000000001 batch 2027-02"

say "3. it enrols $PASSES passes and issues €150 sport + €75 school credit from CSV files"
W "$HH" key new anna >/dev/null
W "$HH" key new anna-new-pass >/dev/null
ANNA=$(W "$HH" key show anna)
ANNA_NEW=$(W "$HH" key show anna-new-pass)
others=(); mkdir -p "$D/pass"
for i in $(seq 2 "$PASSES"); do others+=("$("$STADJERD" keygen --home "$D/pass/$i")"); done
{ echo "address,household"; echo "$ANNA,household-0001"
  i=2; "$STADJER" address "${others[@]}" | while read -r a; do echo "$a,household-$(printf %04d $i)"; i=$((i+1)); done
} >"$D/passes.csv"
{ echo "address,amount"; tail -n +2 "$D/passes.csv" | cut -d, -f1 | sed 's/$/,150.00/'; } >"$D/sport.csv"
{ echo "address,amount"; tail -n +2 "$D/passes.csv" | cut -d, -f1 | sed 's/$/,75.00/'; } >"$D/school.csv"
M pass enroll --csv "$D/passes.csv"
M issue sport-2027 --csv "$D/sport.csv" --ref "uitkering-2027-sport"
M issue school-2027 --csv "$D/school.csv" --ref "uitkering-2027-school"
echo "(uploading the same file again issues nothing twice:)"
M issue sport-2027 --csv "$D/sport.csv" --ref "uitkering-2027-sport"

say "4. merchants: a sports club, a supermarket and a bookshop"
for m in club supermarket bookshop; do W "$SHOP" key new "$m" >/dev/null; done
CLUB=$(W "$SHOP" key show club) SUPER=$(W "$SHOP" key show supermarket) BOOKS=$(W "$SHOP" key show bookshop)
M merchant register "$CLUB" --name "Sportclub Be Quick" --categories sport
M merchant register "$SUPER" --name "Jumbo Centrum" --categories food
M merchant register "$BOOKS" --name "Boekhandel Riemer" --categories school-supplies

say "5. Anna pays €12.50 at the sports club; at the supermarket she is refused"
H() { run --home "$HH" --key anna "$@"; }
H balance
PAY=$(W "$HH" --key anna --json pay "$CLUB" 12.50 --ref "contributie jan")
echo "$PAY"
PAY_ID=$(echo "$PAY" | sed 's/.*"txid":"\([0-9a-f]*\)".*/\1/')
set +e; H pay "$SUPER" 20.00 --fund sport-2027; rc=$?; set -e
echo "(exit code $rc: refused, nothing changed)"
H pay "$BOOKS" 23.95 --ref "schoolboeken"

say "6. the club refunds €2.50, claims what it received; the municipality settles"
C() { run --home "$SHOP" --key club "$@"; }
C refund "$PAY_ID" 2.50
CLAIM=$(W "$SHOP" --key club --json claim --fund sport-2027 --all)
echo "$CLAIM"
CLAIM_ID=$(echo "$CLAIM" | sed 's/.*"txid":"\([0-9a-f]*\)".*/\1/')
M claim settle "$CLAIM_ID" --bank-ref "SEPA-2027-000042"

say "7. Anna loses her pass: it is replaced and her balance follows"
M pass block "$ANNA" --reason "lost pass reported at the Stadjerspas desk"
M pass replace "$ANNA" "$ANNA_NEW"
run --home "$HH" --key anna-new-pass balance

say "8. the auditor verifies the whole chain on its own observer and reconciles every fund"
A() { run --home "$AUD" --key auditor --node "127.0.0.1:$OBS_PORT" "$@"; }
for _ in $(seq 50); do
  h0=$(W "$MUNI" --key municipality status | sed -n 's/^height //p')
  h1=$(W "$AUD" --key auditor --node "127.0.0.1:$OBS_PORT" status | sed -n 's/^height //p')
  [ "$h1" -ge "$h0" ] && break; sleep 0.2
done
A audit verify
A audit report

say "9. a receipt of Anna's payment, checked offline against the genesis"
run --home "$HH" --key anna proof "$PAY_ID" --out "$D/receipt.bin"
run --home "$AUD" proof verify "$D/receipt.bin"

say "10. stopping the network"
cleanup
pids=()
cat <<TXT

Summary
  network     4 validators + 1 observer on 127.0.0.1 (BFT: blocks final with 3 of 4)
  funds       sport-2027 (sport, culture), school-2027 (school-supplies)
  passes      $PASSES enrolled, €150 + €75 each, issued from CSV (re-upload: no double issue)
  payments    €12.50 at the sports club; the supermarket refused (category); €23.95 books
  merchant    refund €2.50, claim of the rest, settled by the municipality
  lost pass   blocked, replaced; the balance moved to the new pass
  auditor     replayed and verified every block itself; every fund reconciles
  receipt     verified offline against the genesis
  data        $D (logs: v*.log, observer.log)
TXT
