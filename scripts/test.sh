#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds everything (tests,
# examples, benchmarks, and the CUDA backend where nvcc exists) with the
# tests and examples under AddressSanitizer, runs the tests, and builds a
# downstream project against the installed package.
#
# Its own build folder, at -O1: the sanitizer's documentation advises it, and
# these template-heavy files compile in half of -O3's time. The programs to
# use and time are built by a plain Release build (scripts/demo.sh, build/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
build=${CTD_TEST_BUILD_DIR:-build-check}

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DCTD_SANITIZE=ON -DCMAKE_INSTALL_PREFIX="$PWD/$build/install"
cmake --build "$build" -j"$jobs"
(cd "$build" && ctest --output-on-failure -j"$jobs")

# A downstream project finds the installed package with find_package(ctd
# CONFIG) and runs a program for each target it links.
cmake --install "$build" >/dev/null
cmake -S tests/consumer -B "$build/consumer" -DCMAKE_PREFIX_PATH="$PWD/$build/install"
cmake --build "$build/consumer" -j"$jobs"
for program in "$build"/consumer/ctd_consumer*; do
  if [ -f "$program" ] && [ -x "$program" ]; then (cd "$build/consumer" && "./${program##*/}"); fi
done
