#!/usr/bin/env bash
# Integration test of the wallet CLI `stadjer` against one real `stadjerd`
# validator on 127.0.0.1 (free port chosen at run time, temp dir removed at
# exit, the daemon always killed). Every check asserts the exit code
# (0 ok, 1 refused by the ledger, 2 usage, 3 node, 4 local) and key output.
#
# Env: STADJERD, STADJER = paths of the built programs.
set -uo pipefail

STADJERD=${STADJERD:?set STADJERD to the stadjerd binary}
STADJER=${STADJER:?set STADJER to the stadjer binary}

D=$(mktemp -d /tmp/sp-wallet-XXXXXX)
NODE_PID="" LIAR_PID=""
cleanup() {
  for pid in $NODE_PID $LIAR_PID; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$D"
}
trap cleanup EXIT

export STADJER_PASSPHRASE="wallet test passphrase"
W="$D/w"
mkdir -p "$W"

FAILS=0 PASSES=0
OUT="$D/out" ERR="$D/err"
pass() { PASSES=$((PASSES + 1)); echo "PASS: $*"; }
failed() {
  FAILS=$((FAILS + 1))
  echo "FAIL: $*"
  echo "  --- stdout:"; sed 's/^/  | /' "$OUT" 2>/dev/null | head -20
  echo "  --- stderr:"; sed 's/^/  | /' "$ERR" 2>/dev/null | head -20
}

# expect CODE DESCRIPTION -- command...   (stdout in $OUT, stderr in $ERR)
expect() {
  local want=$1 desc=$2
  shift 2
  [ "$1" = "--" ] && shift
  "$@" >"$OUT" 2>"$ERR"
  local got=$?
  if [ "$got" -eq "$want" ]; then pass "$desc (exit $got)"; return 0; fi
  failed "$desc: exit $got, expected $want"
  return 1
}
# check DESCRIPTION -- command...   (a condition that must hold)
check() {
  local desc=$1
  shift
  [ "$1" = "--" ] && shift
  if "$@"; then pass "$desc"; else failed "$desc"; fi
}
# out_has / err_has TEXT: the last command's stdout / stderr contains TEXT
out_has() { grep -qF -- "$1" "$OUT"; }
err_has() { grep -qF -- "$1" "$ERR"; }
# jq-like: jv 'PYEXPR over d' -> prints the value of the expression on the
# JSON in $OUT (or in file $2)
jv() { python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); print(eval(sys.argv[1]))' "$1" "${2:-$OUT}"; }
# jt 'PYEXPR': true if the expression over the JSON in $OUT is true
jt() { python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" "${2:-$OUT}"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

S() { "$STADJER" --home "$W" "$@"; }           # wallet, home $W
K() { local k=$1; shift; "$STADJER" --home "$W" --key "$k" "$@"; }

echo "== keys (data in $D)"
expect 0 "key new muni" -- S key new muni
check "key new prints an sp... address of 60 chars" -- \
  bash -c '[[ $(cat "$1") =~ ^sp[a-z2-7]{58}$ ]]' _ "$OUT"
for k in aud anna anna2 bob carol club super books; do
  S key new "$k" >/dev/null 2>"$ERR" || failed "key new $k"
done
expect 0 "key show anna" -- S key show anna
ANNA=$(cat "$OUT")
check "key show: address starts with sp and is 60 chars" -- \
  bash -c '[[ ${#1} -eq 60 && $1 == sp* ]]' _ "$ANNA"
expect 0 "key show --json muni" -- S --json key show muni
check "key show --json has address and 64-hex public_key" -- \
  jt 'd["address"].startswith("sp") and len(d["address"])==60 and len(d["public_key"])==64 and d["key"]=="muni"'
MUNI_HEX=$(jv 'd["public_key"]')
S --json key show aud >"$OUT" 2>"$ERR"
AUD_HEX=$(jv 'd["public_key"]')
expect 0 "key list" -- S key list
check "key list names all 9 keys" -- bash -c '[ $(grep -c " sp" "$1") -eq 9 ] && grep -q "^anna " "$1"' _ "$OUT"
expect 0 "key list --json" -- S --json key list
check "key list --json: 9 entries with key and address" -- \
  jt 'len(d)==9 and all(e["address"].startswith("sp") for e in d) and "bob" in [e["key"] for e in d]'
( umask 077; printf 'not a key file' >"$W/keys/broken.key" )
expect 4 "key show of a damaged key file" -- S key show broken
check "damaged key: names the key and its file, not 'neither an address nor a key'" -- \
  bash -c 'grep -q "key .broken.: the file .*broken.key cannot be read" "$1" && ! grep -q neither "$1"' _ "$ERR"
expect 4 "key list with a damaged key file" -- S --json key list
check "key list: the 9 good keys listed, the damaged one named on stderr" -- \
  bash -c 'python3 -c "import json,sys; sys.exit(0 if len(json.load(open(sys.argv[1])))==9 else 1)" "$1" &&
           grep -q "broken.key cannot be read" "$2"' _ "$OUT" "$ERR"
rm -f "$W/keys/broken.key"
expect 4 "key new of an existing name refused locally" -- S key new anna
for k in anna anna2 bob carol club super books; do
  eval "$(echo "$k" | tr a-z A-Z)=\$(S key show $k)"
done

# a mistyped address: one character changed (still in the alphabet)
c=${ANNA:20:1}; r=a; [ "$c" = a ] && r=b
BAD_ADDR="${ANNA:0:20}$r${ANNA:21}"
CLOSED_PORT=$(free_port)
expect 2 "mistyped address refused before contacting the node" -- \
  K anna --node "127.0.0.1:$CLOSED_PORT" pay "$BAD_ADDR" 1.00
check "mistyped address: 'invalid address (checksum)'" -- err_has "invalid address (checksum)"

echo "== genesis new (wallet) and the network"
expect 0 "genesis new writes a file" -- S genesis new --name test-chain --authority muni \
  --validator "aud@127.0.0.1:9" --categories sport,food --out "$D/g-test.bin"
check "genesis new prints the chain id and the file exists" -- \
  bash -c 'grep -Eq "chain id [0-9a-f]{64}" "$1" && [ -s "$2" ]' _ "$OUT" "$D/g-test.bin"
for g in abc -1 1e3 36501 ""; do
  expect 2 "genesis new --grace-days '$g'" -- S genesis new --name test-chain --authority muni \
    --validator "aud@127.0.0.1:9" --categories sport --grace-days "$g" --out "$D/g-grace.bin"
  check "--grace-days '$g': named, no file" -- \
    bash -c 'grep -q -- "--grace-days" "$1" && [ ! -e "$2" ]' _ "$ERR" "$D/g-grace.bin"
done
expect 2 "stadjerd genesis --grace-days 36501" -- "$STADJERD" genesis --grace-days 36501 \
  --out "$D/g-grace.bin" --name x
check "stadjerd: names --grace-days, no file" -- \
  bash -c 'grep -q -- "--grace-days 36501 is more than 36500 days" "$1" && [ ! -e "$2" ]' _ "$ERR" "$D/g-grace.bin"
expect 2 "genesis new with bad --categories" -- S genesis new --name test-chain --authority muni \
  --validator "aud@127.0.0.1:9" --categories "Sport!,food" --out "$D/g-bad.bin"
check "bad --categories: message and no file" -- \
  bash -c 'grep -q -- "--categories" "$1" && [ ! -e "$2" ]' _ "$ERR" "$D/g-bad.bin"

PORT=$(free_port)
V_PK=$("$STADJERD" keygen --home "$D/v0") || { echo "FAIL: stadjerd keygen"; exit 1; }
"$STADJERD" genesis --out "$D/genesis.bin" --name wallet-test --authority "$MUNI_HEX" \
  --validator "$V_PK@127.0.0.1:$PORT=validator-0" --category culture --category food \
  --category school-supplies --category sport \
  --time-ms $(( ($(date +%s) - 86400) * 1000 )) --grace-days 30 >/dev/null ||
  { echo "FAIL: stadjerd genesis"; exit 1; }
# stadjerd genesis without --grace-days: the 30 days of `stadjer genesis new`
GT=$(( ($(date +%s) - 86400) * 1000 ))
"$STADJERD" genesis --out "$D/g-grace30.bin" --name grace-test --authority "$MUNI_HEX" \
  --validator "$V_PK@127.0.0.1:9" --category food --time-ms "$GT" --grace-days 30 >/dev/null &&
  "$STADJERD" genesis --out "$D/g-gracedef.bin" --name grace-test --authority "$MUNI_HEX" \
    --validator "$V_PK@127.0.0.1:9" --category food --time-ms "$GT" >/dev/null ||
  { echo "FAIL: stadjerd genesis (grace)"; exit 1; }
check "stadjerd genesis: the grace period defaults to 30 days" -- \
  cmp -s "$D/g-grace30.bin" "$D/g-gracedef.bin"
check "stadjerd genesis: --grace-days 0 is a different chain" -- \
  bash -c '"$1" genesis --out "$2" --name grace-test --authority "$3" --validator "$4@127.0.0.1:9" \
    --category food --time-ms "$5" --grace-days 0 >/dev/null && ! cmp -s "$2" "$6"' \
  _ "$STADJERD" "$D/g-grace0.bin" "$MUNI_HEX" "$V_PK" "$GT" "$D/g-grace30.bin"
cp "$D/genesis.bin" "$W/genesis.bin"
"$STADJERD" init --home "$D/v0" --genesis "$D/genesis.bin" >/dev/null ||
  { echo "FAIL: stadjerd init"; exit 1; }
"$STADJERD" run --home "$D/v0" --listen "127.0.0.1:$PORT" --auditor "$AUD_HEX" \
  --empty-block-ms 100 >"$D/v0.out" 2>"$D/v0.log" &
NODE_PID=$!
export STADJER_NODE="127.0.0.1:$PORT"
up=0
for _ in $(seq 40); do  # bounded: ~10 s
  if K muni status >/dev/null 2>&1; then up=1; break; fi
  kill -0 "$NODE_PID" 2>/dev/null || break
  sleep 0.25
done
if [ $up -ne 1 ]; then
  echo "FAIL: the node did not come up"; tail -20 "$D/v0.log"; exit 1
fi
expect 0 "status --json" -- K muni --json status
check "status: height >= 0, role validator" -- jt 'd["height"]>=0 and d["role"]=="validator"'

echo "== funds"
YDAY=$(date -u +%Y-%m-%d -d yesterday)
expect 0 "fund create sport-2027" -- K muni fund create sport-2027 --name "Sport en cultuur" \
  --categories sport,culture --from "$YDAY" --until 2027-12-31
check "fund create says committed" -- out_has "committed in block"
expect 0 "fund create school-2027 (expires first)" -- K muni fund create school-2027 \
  --name "Schoolspullen" --categories school-supplies --from "$YDAY" --until 2027-06-30
expect 1 "fund create duplicate" -- K muni fund create sport-2027 --name again \
  --categories sport --from "$YDAY" --until 2027-12-31
check "duplicate fund: 'refused: fund-exists'" -- err_has "refused: fund-exists"
expect 0 "fund deposit sport-2027 1000.00" -- K muni fund deposit sport-2027 1000.00 --ref "bank 1"
expect 0 "fund deposit school-2027 500.00" -- K muni fund deposit school-2027 500.00 --ref "bank 2"
expect 0 "fund show --json sport-2027" -- K muni --json fund show sport-2027
check "fund show: deposited 100000, unissued 100000, categories" -- \
  jt 'd[0]["id"]=="sport-2027" and d[0]["deposited_cents"]==100000 and d[0]["unissued_cents"]==100000 and sorted(d[0]["categories"].split(", "))==["culture","sport"] and d[0]["until"]=="2027-12-31"'
expect 0 "fund list" -- K muni fund list
check "fund list shows both funds" -- bash -c 'grep -q "^sport-2027" "$1" && grep -q "^school-2027" "$1"' _ "$OUT"
expect 1 "fund show of an unknown fund" -- K muni fund show no-such-fund

echo "== passes"
expect 0 "pass enroll anna" -- K muni pass enroll anna --household hh-0001
printf 'address,household\n%s,hh-0002\n%s,hh-0003\n' "$BOB" "$CAROL" >"$D/passes.csv"
expect 0 "pass enroll --csv (2 rows)" -- K muni --json pass enroll --csv "$D/passes.csv"
check "enroll --csv: enrolled 2, refused 0" -- jt 'd["ok"] and d["enrolled"]==2 and d["refused"]==0'

echo "== merchants"
expect 0 "merchant register club (sport)" -- K muni merchant register club --name "Sportclub" --categories sport
expect 0 "merchant register super (food)" -- K muni merchant register super --name "Super" --categories food
expect 0 "merchant register books (school-supplies)" -- K muni merchant register books --name "Boeken" --categories school-supplies
expect 0 "merchant update books (+sport)" -- K muni merchant update books --name "Boeken en sport" --categories school-supplies,sport
expect 0 "merchant suspend super" -- K muni merchant suspend super --reason "inspection"
expect 0 "balance of super shows suspended" -- K muni --json balance super
check "super is a suspended merchant" -- jt 'd["kind"]=="merchant" and d["status"]=="suspended"'
expect 0 "merchant reinstate super" -- K muni merchant reinstate super --reason "inspection passed"

echo "== enrolment file with keys in use"
for k in dave erin; do
  S key new "$k" >/dev/null 2>"$ERR" || failed "key new $k"
done
DAVE=$(S key show dave) ERIN=$(S key show erin)
printf 'address,household\n%s,hh-0010\n%s,hh-0001\n%s,hh-0011\n%s,hh-0012\n' \
  "$DAVE" "$ANNA" "$CLUB" "$ERIN" >"$D/passes2.csv"
expect 1 "pass enroll --csv: new, enrolled already, a merchant, new" -- \
  K muni --json pass enroll --csv "$D/passes2.csv"
check "enroll --csv: 2 enrolled, 1 already, 1 refused" -- \
  jt 'not d["ok"] and d["enrolled"]==2 and d["already_enrolled"]==1 and d["refused"]==1'
check "enroll --csv: names line 3 (enrolled already) and line 4 (key-in-use)" -- \
  bash -c 'grep -q "^line 3: .* is enrolled already: skipped" "$1" && grep -q "^line 4 refused: key-in-use: .* by a merchant" "$1"' _ "$ERR"
expect 0 "the row after the merchant's was enrolled" -- K muni --json balance erin
check "erin is an active pass" -- jt 'd["kind"]=="pass" and d["status"]=="active"'
expect 0 "club is still a merchant" -- K muni --json balance club
check "club kind merchant" -- jt 'd["kind"]=="merchant"'
expect 1 "pass enroll --csv: the same file again" -- K muni --json pass enroll --csv "$D/passes2.csv"
check "again: nothing enrolled twice, 3 already, 1 refused" -- \
  jt 'd["enrolled"]==0 and d["already_enrolled"]==3 and d["refused"]==1'
printf 'address,household\n%s,"hh-0001"\n' "$ANNA" >"$D/quoted.csv"
expect 2 "pass enroll --csv with a quoted household" -- K muni pass enroll --csv "$D/quoted.csv"
check "quoted household: names line 2, nothing sent" -- err_has "quoted.csv:2: household"
printf 'address,household\n%s,hh-0001 \n' "$ANNA" >"$D/spaced.csv"
expect 2 "pass enroll --csv with a trailing space in the household" -- \
  K muni pass enroll --csv "$D/spaced.csv"
expect 2 "pass enroll --household with a leading space" -- K muni pass enroll dave --household " hh-1"
printf 'address,household\n%s,hh-0001\n%s,hh-9999\n' "$ANNA" "$DAVE" >"$D/passes3.csv"
expect 1 "pass enroll --csv: anna as before, dave for another household" -- \
  K muni --json pass enroll --csv "$D/passes3.csv"
check "household differs: 1 already, 1 refused, nothing enrolled" -- \
  jt 'not d["ok"] and d["enrolled"]==0 and d["already_enrolled"]==1 and d["refused"]==1'
check "household differs: names line 3 and says why" -- \
  bash -c 'grep -q "^line 3 refused: key-in-use: .* is enrolled for another household" "$1"' _ "$ERR"
printf 'address,household\n%s,hh-0020\n%s,hh-0021\n%s,hh-0022\n' "$ANNA2" "$DAVE" "$ANNA2" >"$D/repeat.csv"
expect 2 "pass enroll --csv with an address twice" -- K muni pass enroll --csv "$D/repeat.csv"
check "repeat: names line 4 and line 2" -- err_has "repeat.csv:4: the same address as line 2"
K muni --json balance anna2 >"$OUT" 2>"$ERR"
check "repeat: nothing sent (anna2 not enrolled)" -- jt 'd["kind"]=="unknown"'
printf 'address,household\n%s,%0600d\n' "$ANNA2" 7 >"$D/long.csv"
expect 2 "pass enroll --csv with a 600-character household" -- K muni pass enroll --csv "$D/long.csv"
check "long line: names line 2, not cut into two rows" -- err_has "long.csv:2: line longer than"

echo "== issue"
expect 2 "issue 0.00: refused before signing" -- K muni issue sport-2027 0.00 --to anna --ref zero-1
check "issue 0.00: 'must be more than zero'" -- err_has "must be more than zero"
expect 2 "fund deposit 0: refused before signing" -- K muni fund deposit sport-2027 0 --ref NL-0
check "deposit 0: 'must be more than zero'" -- err_has "must be more than zero"
expect 0 "issue single 50.00 to anna" -- K muni issue sport-2027 50.00 --to anna --ref single-1
expect 0 "issue single 75.00 school to anna" -- K muni issue school-2027 75.00 --to anna --ref single-2
printf 'address,amount\n%s,100.00\n%s,150.00\n%s,150.00\n' "$ANNA" "$BOB" "$CAROL" >"$D/sport.csv"
expect 0 "issue --csv (3 rows)" -- K muni --json issue sport-2027 --csv "$D/sport.csv" --ref csv-sport
check "issue --csv: 3 rows, 1 batch issued, 40000 cents" -- \
  jt 'd["rows"]==3 and d["issued_batches"]==1 and d["already_issued_batches"]==0 and d["issued_cents"]==40000'
expect 0 "issue --csv same file and ref again" -- K muni --json issue sport-2027 --csv "$D/sport.csv" --ref csv-sport
check "re-issue: nothing issued twice" -- \
  jt 'd["issued_batches"]==0 and d["already_issued_batches"]==1 and d["issued_cents"]==0'
expect 0 "issue --csv again (text)" -- K muni issue sport-2027 --csv "$D/sport.csv" --ref csv-sport
check "re-issue text: 'already issued'" -- out_has "already issued"
K muni --json fund show sport-2027 >"$OUT" 2>"$ERR"
UNISSUED0=$(jv 'd[0]["unissued_cents"]')
check "sport-2027 unissued = 100000 - 5000 - 40000" -- test "$UNISSUED0" = 55000
printf 'address,amount\n%s,10.00\n%s,10.00\n%s,10.00\n' "$ANNA" "$BAD_ADDR" "$CAROL" >"$D/bad-addr.csv"
expect 2 "issue --csv with a bad address at line 3" -- K muni issue sport-2027 --csv "$D/bad-addr.csv" --ref bad-1
check "bad address row: names line 3" -- err_has "bad-addr.csv:3:"
printf 'address,amount\n%s,10.00\n%s,12,50\n' "$ANNA" "$BOB" >"$D/bad-amount.csv"
expect 2 "issue --csv with amount '12,50' at line 3" -- K muni issue sport-2027 --csv "$D/bad-amount.csv" --ref bad-2
check "bad amount row: names line 3 and the amount" -- \
  bash -c 'grep -qF "bad-amount.csv:3:" "$1" && grep -qF "12,50" "$1"' _ "$ERR"
printf 'address,amount\n%s,10.00\n%s,10.00\n' "$ANNA" "$CLUB" >"$D/not-a-pass.csv"
expect 1 "issue --csv with a merchant's address: the batch is refused" -- \
  K muni issue sport-2027 --csv "$D/not-a-pass.csv" --ref bad-3
check "refused batch: says which batch, what was issued and how to go on" -- \
  bash -c 'grep -qF "batch 1 of 1 (ref bad-3/1) was not issued; before it 0 batches" "$1" &&
           grep -qF "same --ref" "$1"' _ "$ERR"
expect 0 "balances unchanged after the bad CSVs" -- K muni --json fund show sport-2027
check "sport-2027 unissued still $UNISSUED0" -- jt "d[0]['unissued_cents']==$UNISSUED0"

echo "== balance, history, pay"
expect 0 "balance --json anna" -- K anna --json balance
check "anna: sport 15000, school 7500, active pass" -- \
  jt 'd["kind"]=="pass" and d["status"]=="active" and {f["fund"]:f["cents"] for f in d["funds"]}=={"sport-2027":15000,"school-2027":7500}'
expect 0 "balance (text)" -- K anna balance
check "balance text names the funds" -- bash -c 'grep -q sport-2027 "$1" && grep -q school-2027 "$1"' _ "$OUT"
expect 0 "pay club 12.50 --fund sport-2027" -- K anna --json pay club 12.50 --fund sport-2027 --ref "contributie"
check "pay --json: ok with a txid" -- jt 'd["ok"] and len(d["txid"])==64'
PAY_ID=$(jv 'd["txid"]')
expect 0 "pay books 80.00 (auto split)" -- K anna --json pay books 80.00
check "auto split: school-2027 7500 (expires first) + sport-2027 500" -- \
  jt '{p["fund"]:p["cents"] for p in d["split"]}=={"school-2027":7500,"sport-2027":500}'
expect 1 "pay at a wrong-category merchant" -- K anna pay super 5.00 --fund sport-2027
check "wrong category: 'refused: category-not-allowed'" -- err_has "refused: category-not-allowed"
expect 1 "pay a merchant no fund of the pass allows (auto split)" -- K anna pay super 5.00
check "auto split, no fund allows it: as the guide says" -- \
  err_has "refused: insufficient-balance: not enough credit in funds that allow this merchant"
expect 1 "pay over the balance" -- K anna pay club 900.00 --fund sport-2027
check "over balance: 'refused: insufficient-...'" -- err_has "refused: insufficient"
expect 1 "pay over the balance (auto split)" -- K anna pay club 900.00
check "auto over balance: insufficient" -- err_has "refused: insufficient"
expect 0 "balance after the payments" -- K anna --json balance
check "anna: sport 15000-1250-500 = 13250, school 0" -- \
  jt '{f["fund"]:f["cents"] for f in d["funds"]}.get("sport-2027")==13250 and {f["fund"]:f["cents"] for f in d["funds"]}.get("school-2027",0)==0'
expect 0 "history --json anna" -- K anna --json history
check "history has the pay with PAY_ID and the issues" -- \
  jt "'$PAY_ID' in [r['txid'] for r in d] and 'pay' in [r['kind'] for r in d] and 'issue' in [r['kind'] for r in d]"
expect 0 "history (text)" -- K anna history
check "history text lists the payment" -- out_has "$PAY_ID"

expect 0 "pass block bob" -- K muni pass block bob --reason "lost"
expect 1 "pay with a blocked pass" -- K bob pay club 1.00 --fund sport-2027
check "blocked: 'pass-blocked'" -- err_has "pass-blocked"
expect 0 "pass unblock bob" -- K muni pass unblock bob
expect 0 "pay after unblock" -- K bob pay club 1.00 --fund sport-2027

echo "== refund, claim, settle"
expect 0 "refund 2.50 of the payment" -- K club refund "$PAY_ID" 2.50
expect 1 "refund more than is left of the payment" -- K club refund "$PAY_ID" 20.00
check "over-refund: 'refund-exceeds-payment'" -- err_has "refund-exceeds-payment"
expect 0 "bob pays club 3.00" -- K bob --json pay club 3.00 --fund sport-2027
PAY2_ID=$(jv 'd["txid"]')
K bob --json balance >"$OUT" 2>"$ERR"
BOB_SPORT=$(jv '{f["fund"]:f["cents"] for f in d["funds"]}.get("sport-2027",0)')
expect 0 "refund 1.00 of bob's payment" -- K club refund "$PAY2_ID" 1.00
expect 0 "refund without an amount: what is left" -- K club --json refund "$PAY2_ID"
check "the rest was refunded" -- jt 'd["ok"]'
expect 0 "bob's balance after both refunds" -- K bob --json balance
check "bob got 1.00 + 2.00 back: $BOB_SPORT + 300" -- \
  jt "{f['fund']:f['cents'] for f in d['funds']}.get('sport-2027')==$BOB_SPORT + 300"
expect 1 "refund without an amount once nothing is left (--json)" -- K club --json refund "$PAY2_ID"
check "nothing left, --json: the refusal on stdout too" -- \
  jt 'd["ok"]==False and d["refused"]=="refund-exceeds-payment"'
expect 1 "refund without an amount once nothing is left" -- K club refund "$PAY2_ID"
check "nothing left: 'refund-exceeds-payment' ... 'in full'" -- \
  bash -c 'grep -q refund-exceeds-payment "$1" && grep -q "in full" "$1"' _ "$ERR"
expect 1 "refund another merchant's payment without an amount" -- K books refund "$PAY2_ID"
check "not theirs: the node does not even show it to them" -- err_has "may not read"
expect 0 "balance --json club (receivable)" -- K club --json balance
check "club receivable sport-2027 = 1250 - 250 + 100 (+ 300 - 300) = 1100" -- \
  jt 'd["kind"]=="merchant" and {f["fund"]:f["cents"] for f in d["funds"]}.get("sport-2027")==1100'
expect 0 "claim --all" -- K club --json claim --fund sport-2027 --all
check "claim: ok with a txid" -- jt 'd["ok"] and len(d["txid"])==64'
CLAIM_ID=$(jv 'd["txid"]')
expect 1 "claim --all again: nothing to claim" -- K club claim --fund sport-2027 --all
expect 0 "claim settle" -- K muni claim settle "$CLAIM_ID" --bank-ref "SEPA-1"
expect 0 "fund show after settle" -- K muni --json fund show sport-2027
check "sport-2027: settled 1100, books' 500 still receivable, claimed 0" -- \
  jt 'd[0]["settled_cents"]==1100 and d[0]["receivable_cents"]==500 and d[0]["claimed_cents"]==0'
check "sport-2027 adds up: unissued+on passes+receivable+claimed+settled = deposited" -- \
  jt 'sum(d[0][k] for k in ("unissued_cents","on_passes_cents","receivable_cents","claimed_cents","settled_cents"))==d[0]["deposited_cents"]'

echo "== pass replace"
K anna --json balance >"$OUT" 2>"$ERR"
ANNA_SPORT=$(jv '{f["fund"]:f["cents"] for f in d["funds"]}.get("sport-2027",0)')
expect 0 "pass block anna (lost)" -- K muni pass block anna --reason "lost pass"
expect 0 "pass replace anna -> anna2" -- K muni pass replace anna anna2
expect 0 "balance --json anna2" -- K anna2 --json balance
check "the balance followed to the new pass ($ANNA_SPORT)" -- \
  jt "{f['fund']:f['cents'] for f in d['funds']}.get('sport-2027')==$ANNA_SPORT and d['status']=='active'"
expect 0 "balance --json of the old pass" -- K muni --json balance anna
check "old pass: replaced, no credit left" -- jt 'd["status"]=="replaced" and sum(f["cents"] for f in d["funds"])==0'
printf 'address,household\n%s,hh-0001\n' "$(S key show anna2)" >"$D/replaced-same.csv"
expect 0 "pass enroll --csv: the replacement pass with anna's household" -- \
  K muni --json pass enroll --csv "$D/replaced-same.csv"
check "replacement, same household: already enrolled" -- \
  jt 'd["ok"] and d["enrolled"]==0 and d["already_enrolled"]==1 and d["refused"]==0'
printf 'address,household\n%s,hh-5555\n' "$(S key show anna2)" >"$D/replaced-other.csv"
expect 1 "pass enroll --csv: the replacement pass with another household" -- \
  K muni --json pass enroll --csv "$D/replaced-other.csv"
check "replacement, other household: refused, read through the replacement" -- \
  jt 'not d["ok"] and d["already_enrolled"]==0 and d["refused"]==1'

echo "== audit"
expect 0 "audit verify" -- K aud audit verify
check "audit verify says OK" -- out_has ": OK"
check "audit verify names the node's tip it ended at" -- out_has "up to the node's tip at height"
expect 0 "audit verify --json" -- K aud --json audit verify
check "audit verify --json: ok, every block up to the node's height" -- \
  jt 'd["ok"] and d["blocks"]==d["node_height"] and d["node_height"]>0'

expect 0 "audit report --format json" -- K aud audit report --format json
check "audit report: reconciles true, both funds" -- \
  jt 'd["reconciles"] is True and sorted(f["fund"] for f in d["funds"])==["school-2027","sport-2027"] and all(f["reconciles"] for f in d["funds"])'
expect 0 "audit report --format csv" -- K aud audit report --format csv
check "csv report: header and a sport-2027 row" -- \
  bash -c 'head -1 "$1" | grep -q "^fund,deposited,issued" && grep -q "^sport-2027," "$1"' _ "$OUT"

echo "== proof"
expect 0 "proof TXID --out" -- K muni proof "$PAY_ID" --out "$D/receipt.bin"
check "receipt file written" -- test -s "$D/receipt.bin"
expect 0 "proof verify (offline)" -- S proof verify "$D/receipt.bin"
check "proof verify says receipt OK" -- out_has "receipt OK"
python3 - "$D/receipt.bin" "$D/receipt-bad.bin" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 2] ^= 0x01
open(sys.argv[2], "wb").write(bytes(b))
PY
"$STADJER" --home "$W" proof verify "$D/receipt-bad.bin" >"$OUT" 2>"$ERR"
rc=$?
if [ $rc -ne 0 ]; then pass "tampered receipt rejected (exit $rc)"; else failed "tampered receipt accepted (exit 0)"; fi

echo "== local key problems, node, usage"
SUM0=$(sha256sum "$W/keys/anna2.key" | cut -d' ' -f1)
expect 4 "--passphrase-file that does not exist" -- \
  "$STADJER" --home "$W" --key anna2 --passphrase-file "$D/no-such-file" balance
check "missing passphrase file: names that file, not the key's" -- err_has "--passphrase-file '$D/no-such-file'"
expect 4 "wrong passphrase" -- env STADJER_PASSPHRASE=wrong "$STADJER" --home "$W" --key anna2 balance
SUM1=$(sha256sum "$W/keys/anna2.key" | cut -d' ' -f1)
check "key file unchanged after a wrong passphrase" -- test "$SUM0" = "$SUM1"
cp "$W/keys/anna2.key" "$W/keys/trunc.key"
truncate -s $(( $(stat -c %s "$W/keys/anna2.key") / 2 )) "$W/keys/trunc.key"
expect 4 "truncated key file" -- K trunc balance
cp "$W/keys/anna2.key" "$W/keys/flip.key"
python3 - "$W/keys/flip.key" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) - 5] ^= 0x01
open(sys.argv[1], "wb").write(bytes(b))
PY
expect 4 "tampered key file" -- K flip balance
expect 3 "node unreachable" -- K muni --node "127.0.0.1:$CLOSED_PORT" status
expect 2 "unknown command" -- S frobnicate
check "unknown command: message" -- err_has "unknown command"
expect 0 "stadjer --help" -- "$STADJER" --help
expect 0 "stadjer help pay" -- "$STADJER" help pay
check "help pay shows the pay usage" -- bash -c 'grep -q "pay MERCHANT" "$1" "$2"' _ "$OUT" "$ERR"

echo "== audit against a lying node"
# The real node stops; a node that serves a copy of its chain with one lie
# takes its place (tests/integration/lying_node.c). Every lie must fail the
# audit (exit 1) at the right block, never pass it.
if [ -n "${LYING_NODE:-}" ]; then
  kill "$NODE_PID" 2>/dev/null
  wait "$NODE_PID" 2>/dev/null
  NODE_PID=""
  cp -r "$D/v0/data" "$D/lie-data"
  liar() {  # liar LIE: start the lying node, wait for its port (bounded)
    rm -f "$D/lie.port"
    "$LYING_NODE" --data "$D/lie-data" --port-file "$D/lie.port" --lie "$1" 2>"$D/lie.log" &
    LIAR_PID=$!
    for _ in $(seq 40); do [ -s "$D/lie.port" ] && break; sleep 0.25; done
    LIE_NODE="127.0.0.1:$(cat "$D/lie.port" 2>/dev/null)"
  }
  unliar() { kill "$LIAR_PID" 2>/dev/null; wait "$LIAR_PID" 2>/dev/null; LIAR_PID=""; }
  liar "withhold:1000000"
  expect 0 "audit verify: the lying node's program, honest (control)" -- K aud --node "$LIE_NODE" --json audit verify
  check "control: OK, the whole copied chain" -- jt 'd["ok"] and d["blocks"]==d["node_height"] and d["node_height"]>2'
  H=$(jv 'd["node_height"]')
  unliar
  liar "withhold:2"
  expect 1 "audit verify: a node that stops serving at block 2" -- K aud --node "$LIE_NODE" --json audit verify
  check "withheld block: not ok, FAILED at 2, named" -- \
    jt 'not d["ok"] and d["bad_block"]==2 and "did not serve block 2" in d["message"]'
  unliar
  liar "taller"
  expect 1 "audit verify: a node that claims one block more than it has" -- K aud --node "$LIE_NODE" --json audit verify
  check "claimed block: not ok, FAILED at the claimed height $((H + 1))" -- \
    jt "not d['ok'] and d['bad_block']==$((H + 1)) and d['node_height']==$((H + 1))"
  unliar
  liar "tip"
  expect 1 "audit verify: a node that reports another tip hash" -- K aud --node "$LIE_NODE" --json audit verify
  check "other tip: not ok, the tip differs from the verified chain" -- \
    jt "not d['ok'] and d['bad_block']==$H and 'differs from the verified chain' in d['message']"
  unliar
  liar "flip:2"
  expect 1 "audit verify: a node that serves block 2 with a byte changed" -- K aud --node "$LIE_NODE" audit verify
  check "changed block: FAILED at block 2" -- out_has "FAILED at block 2"
  unliar
else
  failed "LYING_NODE is not set: the auditor's checks against a lying node did not run"
fi

echo
echo "$PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ] || exit 1
exit 0
