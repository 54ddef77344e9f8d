#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds everything (tests,
# examples, benchmarks, and the CUDA backend where nvcc exists) with the
# tests under AddressSanitizer, runs the tests, and builds a
# downstream project against the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
build=${CTD_BUILD_DIR:-build}

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCTD_SANITIZE=ON -DCMAKE_INSTALL_PREFIX="$PWD/$build/install"
cmake --build "$build" -j"$jobs"
(cd "$build" && ctest --output-on-failure -j"$jobs")

# A downstream project finds the installed package with find_package(ctd CONFIG).
cmake --install "$build" >/dev/null
cmake -S tests/consumer -B "$build/consumer" -DCMAKE_PREFIX_PATH="$PWD/$build/install"
cmake --build "$build/consumer" -j"$jobs"
"$build/consumer/ctd_consumer"
