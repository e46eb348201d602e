#!/usr/bin/env bash
# The long sweep of the deterministic consensus simulator (tests/sim/sim.c).
#
#   scripts/sim-sweep.sh                 # 100,000 seeds each for 1, 4 and 7 validators
#   SEEDS=5000 VALIDATORS="4 7" scripts/sim-sweep.sh
#   SIM_ARGS=--disable-lock SEEDS=1000 scripts/sim-sweep.sh   # (expect failures)
#
# Builds a non-sanitized -O2 simulator into build-sim/ (BUILD=...), then runs
# the seeds START .. START+SEEDS-1 for each validator count in chunks of
# CHUNK seeds, JOBS chunks in parallel. Each seed is one exact, replayable
# run; on the first violation it prints the simulator's report (seed, N,
# fault settings, the replay command) and stops with a non-zero status.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-sim}
SEEDS=${SEEDS:-100000}
START=${START:-1}
VALIDATORS=${VALIDATORS:-"1 4 7"}
HEIGHTS=${HEIGHTS:-3}
CHUNK=${CHUNK:-1000}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
SIM_ARGS=${SIM_ARGS:-}

if ! [[ $SEEDS =~ ^[0-9]+$ && $START =~ ^[0-9]+$ && $CHUNK =~ ^[0-9]+$ && $SEEDS -gt 0 && $CHUNK -gt 0 ]]; then
  echo "sim-sweep: SEEDS, START and CHUNK must be positive integers" >&2
  exit 2
fi

echo "sim-sweep: building the simulator (-O2, no sanitizers) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2" \
  -DSP_SANITIZE=OFF -DSP_WERROR=OFF -DSP_BUILD_TESTS=ON -DSP_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD" --target sp_sim -j"$JOBS" >/dev/null
SIM="$BUILD/tests/sim/sim"
[ -x "$SIM" ] || { echo "sim-sweep: $SIM was not built" >&2; exit 2; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export SIM HEIGHTS SIM_ARGS TMP

# One chunk: sim over [first, first+count). Prints a progress line; on a
# violation prints the report and exits 255 so that xargs starts no more.
run_chunk() {
  local n=$1 first=$2 count=$3 out
  out="$TMP/n$n-$first"
  # shellcheck disable=SC2086
  if "$SIM" --seed "$first" --seeds "$count" --validators "$n" --heights "$HEIGHTS" \
      $SIM_ARGS >"$out" 2>&1; then
    printf 'sim-sweep: n=%s seeds %s..%s ok\n' "$n" "$first" "$((first + count - 1))"
  else
    {
      printf '\nsim-sweep: FAILURE with n=%s in seeds %s..%s\n' "$n" "$first" "$((first + count - 1))"
      grep -v '^sim: seeds=' "$out" || true
    } >&2
    touch "$TMP/failed"
    exit 255
  fi
}
export -f run_chunk

t0=$(date +%s)
status=0
for n in $VALIDATORS; do
  echo "sim-sweep: $SEEDS seeds from $START with $n validator(s), heights $HEIGHTS, $JOBS jobs"
  last=$((START + SEEDS - 1))
  for ((first = START; first <= last; first += CHUNK)); do
    count=$CHUNK
    ((first + count - 1 > last)) && count=$((last - first + 1))
    printf '%s %s %s\n' "$n" "$first" "$count"
  done | xargs -P "$JOBS" -n 3 bash -c 'run_chunk "$@"' _ || status=1
  if [ -e "$TMP/failed" ]; then
    status=1
    break
  fi
done

# totals over the chunks that ran
cat "$TMP"/n* 2>/dev/null | awk '
  /^sim: seeds=/ {
    for (i = 1; i <= NF; i++) {
      split($i, kv, "=")
      if (kv[1] == "seeds") seeds += kv[2]
      if (kv[1] == "heights-committed") heights += kv[2]
      if (kv[1] == "messages") msgs += kv[2]
      if (kv[1] == "virtual-time") vt += kv[2]
    }
  }
  END { printf "sim-sweep: %d seeds, %d heights committed, %d messages, %.0f s virtual time\n",
               seeds, heights, msgs, vt / 1000 }'
echo "sim-sweep: $(( $(date +%s) - t0 )) s wall, $( [ $status -eq 0 ] && echo OK || echo FAILED )"
exit $status
