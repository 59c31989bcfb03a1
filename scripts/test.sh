#!/usr/bin/env bash
# Installs dependencies, builds, runs the fuzzers briefly, then the GoogleTest suite via CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fuzz.sh "${LLMOPT_FUZZ_SECONDS:-30}"
cd build && ctest --output-on-failure -j2 --timeout 900
