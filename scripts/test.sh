#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds everything (tests,
# examples, benchmarks, and the CUDA backend where nvcc exists), runs the
# tests, builds a downstream project against the installed package, and
# runs the tests again under AddressSanitizer + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
build=${CTD_BUILD_DIR:-build}

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PWD/$build/install"
cmake --build "$build" -j"$jobs"
(cd "$build" && ctest --output-on-failure -j"$jobs")

# A downstream project finds the installed package with find_package(ctd CONFIG).
cmake --install "$build" >/dev/null
cmake -S tests/consumer -B "$build/consumer" -DCMAKE_PREFIX_PATH="$PWD/$build/install"
cmake --build "$build/consumer" -j"$jobs"
"$build/consumer/ctd_consumer"

# The tests once more with sanitizers (the long trainings are left out).
cmake -S . -B "$build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCTD_SANITIZE=ON -DCTD_BUILD_EXAMPLES=OFF \
      -DCTD_BUILD_BENCHMARKS=OFF -DCTD_CUDA=OFF -DCTD_NATIVE=OFF
cmake --build "$build-asan" -j"$jobs" --target ctd_tests
LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" UBSAN_OPTIONS=print_stacktrace=1 \
  "$build-asan/tests/ctd_tests" "~[slow]"
