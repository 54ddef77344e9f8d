#!/usr/bin/env bash
# The main demo: builds the example programs and runs the tutorials with
# their defaults (the fixed points at the finest tolerance only), each
# writing results and figures under out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${CTD_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$(nproc)" --target integrator_rnn decision_gru fixed_points force_esn
bin="$build/bin"
py=/usr/bin/python3

"$bin/integrator_rnn" --out out/integrator_rnn
$py examples/integrator_rnn/plot.py out/integrator_rnn
"$bin/decision_gru" --out out/decision_gru
$py examples/decision_gru/plot.py out/decision_gru
# The fixed points of the trained GRU at the tutorial's finest tolerance.
"$bin/fixed_points" --params out/decision_gru/params.h5 --tolerances 1e-6 --out out/fixed_points
$py examples/fixed_points/plot.py out/fixed_points
"$bin/force_esn" --out out/force_esn
$py examples/force_esn/plot.py out/force_esn
echo "results and figures: out/"
