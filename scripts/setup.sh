#!/usr/bin/env bash
# Install tunesmith and everything it needs on a fresh Debian/Ubuntu machine (CPU).
#   system: libfluidsynth3 (WAV rendering), abcmidi (abc2midi, used by the validity benchmark),
#           chromium + chromium-driver (the studio's browser test: headless, via selenium)
#   python: the CPU build of torch 2.13.0 first (any other spec may pull GBs of CUDA
#           packages), then tunesmith with its test extras, editable.
#           On this project's machines the pin installs a local CPU build. On another Linux
#           machine PyPI's torch==2.13.0 is the CUDA build; for the CPU one, install it first
#           with: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if command -v apt-get >/dev/null; then
  need=()
  for pkg in libfluidsynth3 abcmidi chromium chromium-driver; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q -e '.[test]'
