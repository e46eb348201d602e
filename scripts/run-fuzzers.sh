#!/usr/bin/env bash
# Build the libFuzzer harnesses (tests/fuzz/) with clang and run each one for
# a fixed time on a fresh copy of its seed corpus.
#
# usage: scripts/run-fuzzers.sh [BUILD_DIR]        (default: build-fuzz)
#
# environment:
#   FUZZ_SECONDS=20        run time per harness, in seconds
#   SP_FUZZ_OPTIONAL=1     exit 0 (after a message) when clang or the
#                          libFuzzer runtime is missing, instead of failing
#
# Everything is written under BUILD_DIR: fuzz-seeds/ (the generated seed
# corpus, the golden vectors of tests/vectors/ and tests/fuzz/corpus/), fuzz-corpus/<harness>/ (the
# working corpus, started afresh each run), fuzz-logs/<harness>.log and
# crashes/ (libFuzzer's crash-/timeout-/oom-/leak- artifacts). The source tree
# is never written. All harnesses run even when one fails; the exit status is
# non-zero if any of them found a crash, timeout, leak or OOM. -keep_seed=1
# keeps every seed in the fuzzer's corpus even when it adds no coverage: the
# "edge" seeds (sorted lists one byte away from unsorted) are there for that.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BUILD_DIR=${1:-build-fuzz}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
if ! [[ "$FUZZ_SECONDS" =~ ^[0-9]+$ ]] || [[ "$FUZZ_SECONDS" -lt 1 ]]; then
  echo "run-fuzzers: FUZZ_SECONDS must be a positive number of seconds" >&2
  exit 2
fi

# harness:max_len
HARNESSES=(
  fuzz_msgpack_check:65536
  fuzz_tx:65536
  fuzz_block:1048576
  fuzz_genesis:65536
  fuzz_vote:4096
  fuzz_proposal:4096
  fuzz_cert:16384
  fuzz_header:4096
  fuzz_msg:1048576
  fuzz_frame:65536
  fuzz_money:128
  fuzz_secure:65536
)

# --- toolchain check: clang that can link a libFuzzer program ------------------
missing_toolchain() {
  echo "run-fuzzers: $*" >&2
  if [[ "${SP_FUZZ_OPTIONAL:-0}" == "1" ]]; then
    echo "run-fuzzers: SP_FUZZ_OPTIONAL=1: skipping the fuzzers" >&2
    exit 0
  fi
  echo "run-fuzzers: install clang and the libFuzzer runtime (Debian: clang" \
       "libclang-rt-14-dev) with scripts/install-deps.sh, or set SP_FUZZ_OPTIONAL=1" \
       "to skip" >&2
  exit 1
}

command -v clang >/dev/null 2>&1 || missing_toolchain "clang not found"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
cat >"$probe/probe.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }
EOF
if ! clang -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" \
     >"$probe/log" 2>&1; then
  sed 's/^/  /' "$probe/log" >&2
  missing_toolchain "clang cannot link a -fsanitize=fuzzer,address,undefined program" \
                    "(libFuzzer/sanitizer runtime missing)"
fi

# --- configure and build ------------------------------------------------------
if [[ -f "$BUILD_DIR/CMakeCache.txt" ]] &&
   ! grep -Eq '^CMAKE_C_COMPILER(_ID)?:[A-Z]*=.*clang' "$BUILD_DIR/CMakeCache.txt"; then
  echo "run-fuzzers: $BUILD_DIR was configured with another compiler than clang;" \
       "remove it or pass another BUILD_DIR" >&2
  exit 1
fi
echo "== configure $BUILD_DIR"
mkdir -p "$BUILD_DIR"
CC=clang cmake -S "$ROOT" -B "$BUILD_DIR" -DSP_FUZZ=ON -DSP_BUILD_TESTS=ON \
  -DSP_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD_DIR/fuzz-configure.log" 2>&1 || {
  tail -n 40 "$BUILD_DIR/fuzz-configure.log" >&2
  echo "run-fuzzers: cmake configure failed (full log: $BUILD_DIR/fuzz-configure.log)" >&2
  exit 1
}

# Only the harnesses and the seed generator: the rest of the tree is built and
# tested by the regular (gcc) build, and clang-only warnings there must not
# stop the fuzzing.
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
echo "== build fuzz harnesses"
cmake --build "$BUILD_DIR" --target sp_fuzz_all -j "$JOBS" >"$BUILD_DIR/fuzz-build.log" 2>&1 || {
  tail -n 60 "$BUILD_DIR/fuzz-build.log" >&2
  echo "run-fuzzers: build failed (full log: $BUILD_DIR/fuzz-build.log)" >&2
  exit 1
}
FUZZ_BIN="$BUILD_DIR/tests/fuzz"

# --- seed corpus --------------------------------------------------------------
SEEDS="$BUILD_DIR/fuzz-seeds"
rm -rf "$SEEDS"
mkdir -p "$SEEDS"
echo "== seed corpus -> $SEEDS"
"$FUZZ_BIN/make_corpus" "$SEEDS" "$ROOT/tests/vectors"
if [[ -d "$ROOT/tests/fuzz/corpus" ]]; then
  for d in "$ROOT"/tests/fuzz/corpus/*/; do
    [[ -d "$d" ]] || continue
    h=$(basename "$d")
    mkdir -p "$SEEDS/$h"
    find "$d" -maxdepth 1 -type f -exec cp -- {} "$SEEDS/$h/" \;
  done
fi

CRASHES="$BUILD_DIR/crashes"
LOGS="$BUILD_DIR/fuzz-logs"
rm -rf "$CRASHES" "$LOGS" "$BUILD_DIR/fuzz-corpus"
mkdir -p "$CRASHES" "$LOGS"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# --- run ----------------------------------------------------------------------
declare -a SUMMARY=()
failed=0
for entry in "${HARNESSES[@]}"; do
  h=${entry%%:*}
  max_len=${entry##*:}
  work="$BUILD_DIR/fuzz-corpus/$h"
  mkdir -p "$work"
  if [[ -d "$SEEDS/$h" ]]; then
    find "$SEEDS/$h" -maxdepth 1 -type f -exec cp -- {} "$work/" \;
  fi
  seeds=$(find "$work" -type f | wc -l)
  log="$LOGS/$h.log"
  echo "== $h: ${FUZZ_SECONDS}s, max_len $max_len, $seeds seeds"
  rc=0
  "$FUZZ_BIN/$h" -max_total_time="$FUZZ_SECONDS" -max_len="$max_len" -rss_limit_mb=2048 \
    -timeout=10 -keep_seed=1 -print_final_stats=1 -artifact_prefix="$CRASHES/$h-" "$work" \
    >"$log" 2>&1 || rc=$?

  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2 || true)
  corp=$(find "$work" -type f | wc -l)
  artifacts=$(find "$CRASHES" -maxdepth 1 -type f -name "$h-*" | sort)
  if [[ $rc -eq 0 && -z "$artifacts" ]]; then
    status=ok
  else
    status=FAIL
    failed=1
    grep -E '^fuzz: |ERROR: |SUMMARY: |runtime error' "$log" | head -n 6 |
      sed 's/^/    /' || true
  fi
  line=$(printf '%-20s %-4s runs=%-10s exec/s=%-8s cov=%-5s corpus=%s' "$h" "$status" \
    "${runs:-?}" "${eps:-?}" "${cov:-?}" "$corp")
  [[ $status == ok ]] || line="$line exit=$rc log=$log"
  echo "   $line"
  SUMMARY+=("$line")
done

echo
echo "== fuzz summary (${FUZZ_SECONDS}s per harness)"
printf '%s\n' "${SUMMARY[@]}"
if [[ $failed -ne 0 ]]; then
  echo
  echo "FAILED: artifacts in $CRASHES:"
  find "$CRASHES" -maxdepth 1 -type f | sort | while read -r a; do
    printf '  %s (%s bytes)\n' "$a" "$(wc -c <"$a")"
  done
  echo "reproduce: $FUZZ_BIN/<harness> <artifact>"
  exit 1
fi
echo "all harnesses ran clean"
