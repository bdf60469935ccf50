#!/usr/bin/env bash
# Sets memres up on a fresh Debian/Ubuntu machine with Python 3.11 or newer, in a project virtual
# environment `.venv/` beside this script's folder (Debian's system pip refuses installs: PEP 668).
#   bash scripts/setup.sh          # .venv with memres and its pinned toolchain, and the flashing tools
#   bash scripts/setup.sh --test   # .venv with the test dependencies, no flashing tools (what CI runs)
# Then run the tools as .venv/bin/memres, or `. .venv/bin/activate` once and use `memres` and `python`.
# Debian packages that are missing (a C++ compiler and make for Verilator, python3-venv, Icarus Verilog)
# are installed with apt-get when run as root; otherwise the script says which ones to install.
# Without --test it also installs the tools `memres program` runs: iceprog (Debian's fpga-icestorm) and
# openFPGALoader (Debian's openfpgaloader), without recommended packages (about 2 MB with libusb/libftdi).
# MEMRES_VENV=DIR puts the environment elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
case "${1:-}" in
  --test) extras="[test]" ;;
  "") ;;
  *) echo "setup: unknown option ${1} (use --test or nothing)" >&2; exit 2 ;;
esac

python=""
for p in python3.13 python3.12 python3.11 python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python="$p"; break
  fi
done
if [ -z "$python" ]; then
  echo "setup: memres needs Python 3.11 or newer (python3 --version: $(python3 --version 2>&1 || echo none))" >&2
  exit 2
fi

debian_pkgs=(g++ make perl zlib1g-dev liblz4-dev iverilog)
"$python" -c 'import ensurepip, venv' 2>/dev/null || debian_pkgs+=("python3-venv")
# The flashing tools of `memres program`: only without --test (CI flashes no board).
flash_pkgs=()
if [ -z "$extras" ]; then flash_pkgs=(fpga-icestorm openfpgaloader); fi

not_installed() {   # the Debian packages among "$@" that are not installed
  command -v dpkg-query >/dev/null 2>&1 || return 0
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
mapfile -t missing < <(not_installed "${debian_pkgs[@]}")
mapfile -t missing_flash < <(not_installed "${flash_pkgs[@]}")
if [ $(( ${#missing[@]} + ${#missing_flash[@]} )) -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages: ${missing[*]} ${missing_flash[*]}"
    apt-get update -qq
    if [ ${#missing[@]} -gt 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if [ ${#missing_flash[@]} -gt 0 ]; then
      # Not fatal: memres works without them, and `memres program` says how to install them.
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_flash[@]}" \
        >/dev/null || echo "setup: warning: could not install ${missing_flash[*]} (needed only by memres program)" >&2
    fi
  else
    if [ ${#missing[@]} -gt 0 ]; then
      echo "setup: warning: missing Debian packages (${missing[*]}); install them as root" \
        "(apt-get install ${missing[*]})" >&2
    fi
    if [ ${#missing_flash[@]} -gt 0 ]; then
      echo "setup: note: memres program needs ${missing_flash[*]}; install them as root" \
        "(apt-get install --no-install-recommends ${missing_flash[*]})" >&2
    fi
  fi
fi

venv="${MEMRES_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating the virtual environment $venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".${extras}"
echo "setup: done; run $venv/bin/memres, or '. $venv/bin/activate' once and then 'memres'" >&2
