#!/usr/bin/env bash
# Installs the Debian packages ctd needs that are missing (Debian 12).
# Usage: scripts/install-deps.sh [extra package ...]
set -euo pipefail
# clang with its sanitizer runtimes and OpenMP compiles the test suite
# (scripts/test.sh); the demo and downstream builds use the default compiler.
packages=(build-essential cmake libeigen3-dev catch2 libhdf5-dev libcli11-dev libfmt-dev libopenblas-openmp-dev
          nlohmann-json3-dev clang libclang-rt-dev libomp-dev python3 python3-numpy python3-h5py python3-matplotlib
          "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
