#!/usr/bin/env bash
# Install what building and testing the Stadjerspas ledger needs.
# Debian/Ubuntu: installs the missing packages with apt-get (as root, or via
# sudo) and does nothing when everything is present. Other systems: prints
# the equivalent command and fails if a tool is missing.
set -euo pipefail

DEBIAN_PKGS=(
  cmake make gcc pkg-config
  libsodium-dev liblmdb-dev libuv1-dev libmsgpack-dev libcmocka-dev
  clang libclang-rt-14-dev   # libFuzzer runtime for the fuzz harnesses
  python3                    # the demo picks free ports with it
)
FEDORA_CMD="sudo dnf install cmake make gcc pkgconf-pkg-config libsodium-devel lmdb-devel libuv-devel msgpack-devel libcmocka-devel clang compiler-rt"
BREW_CMD="brew install cmake pkg-config libsodium lmdb libuv msgpack cmocka llvm"

others() {
  echo "On Fedora:   $FEDORA_CMD"
  echo "On Homebrew: $BREW_CMD"
}

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  echo "usage: scripts/install-deps.sh"
  echo "Installs, when missing: ${DEBIAN_PKGS[*]}"
  others
  exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  missing=0
  for tool in cmake make cc pkg-config; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool"; missing=1; }
  done
  for mod in libsodium lmdb libuv msgpack cmocka; do
    pkg-config --exists "$mod" 2>/dev/null || pkg-config --exists "$mod-c" 2>/dev/null ||
      { echo "missing library: $mod"; missing=1; }
  done
  if [[ $missing -ne 0 ]]; then
    echo "This is not a Debian-like system; install the dependencies yourself:"
    others
    exit 1
  fi
  exit 0
fi

missing=()
for p in "${DEBIAN_PKGS[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-deps: need root or sudo to run: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
