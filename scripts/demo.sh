#!/usr/bin/env bash
# The main demo: builds the example programs and runs the tutorials with
# their defaults, each writing results and figures under out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${CTD_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$(nproc)" --target integrator_rnn decision_gru force_esn
bin="$build/bin"
py=/usr/bin/python3

"$bin/integrator_rnn" --out out/integrator_rnn
$py examples/integrator_rnn/plot.py out/integrator_rnn
"$bin/decision_gru" --out out/decision_gru
$py examples/decision_gru/plot.py out/decision_gru
"$bin/force_esn" --out out/force_esn
$py examples/force_esn/plot.py out/force_esn
echo "results and figures: out/"
