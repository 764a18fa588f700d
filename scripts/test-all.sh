#!/usr/bin/env bash
# The README's second quickstart command, and exactly what .ci/run runs: install
# everything the whole test suite needs on a fresh machine, then run it.
#  - Debian's chromium and chromium-driver, for the report's browser test;
#  - a virtual environment with the project and its dev and local extras
#    (llama-cpp-python builds from source the first time: about 9 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium > /dev/null || ! command -v chromedriver > /dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver > /dev/null
fi
python3 -m venv .venv
.venv/bin/pip install -q -e '.[dev,local]'
.venv/bin/pytest "$@"
