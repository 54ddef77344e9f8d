#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds everything (tests,
# examples, benchmarks, and the CUDA backend where nvcc exists) with the
# tests and examples under AddressSanitizer, runs the tests, and builds a
# downstream project against the installed package.
#
# Its own build folder, compiled by clang, which builds these template-heavy
# files in 0.6-0.7 of g++'s time (the demo and the downstream project below
# use the default compiler, so both compilers see the code). The test
# programs are at -O1, as the sanitizer's documentation advises: they train
# networks to the tutorials' accuracy. The examples (run on small inputs)
# and the benchmarks (only built here) are at -O0, which clang compiles in
# 0.4 of -O1's time. The programs to use and time come from a plain Release
# build (scripts/demo.sh, build/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
# Absolute, so that CTD_TEST_BUILD_DIR may name a folder anywhere.
build=$(realpath -m "${CTD_TEST_BUILD_DIR:-build-check}")
# A folder configured by another compiler starts afresh: CMake would drop
# the options below together with its cache.
if [ -f "$build/CMakeCache.txt" ] && ! grep -q '^CMAKE_CXX_COMPILER:.*clang++$' "$build/CMakeCache.txt"; then
  rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"
fi

cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O0 -DNDEBUG" \
      -DCTD_TEST_FLAGS=-O1 -DCTD_SANITIZE=ON -DCMAKE_INSTALL_PREFIX="$build/install"
cmake --build "$build" -j"$jobs"
(cd "$build" && ctest --output-on-failure -j"$jobs")

# A downstream project finds the installed package with find_package(ctd
# CONFIG) and runs a program for each target it links.
cmake --install "$build" >/dev/null
cmake -S tests/consumer -B "$build/consumer" -DCMAKE_PREFIX_PATH="$build/install"
cmake --build "$build/consumer" -j"$jobs"
for program in "$build"/consumer/ctd_consumer*; do
  if [ -f "$program" ] && [ -x "$program" ]; then (cd "$build/consumer" && "./${program##*/}"); fi
done
