#!/usr/bin/env bash
# The main demo: builds the example programs and runs the tutorials with
# their defaults (the fixed points at the finest tolerance only), each
# writing results and figures under out/ (LFADS with fewer steps: see below),
# replacing (--force) those of an earlier demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${CTD_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$(nproc)" --target integrator_rnn decision_gru fixed_points force_esn lfads_integrator lfads contextual_toy
bin="$build/bin"
py=/usr/bin/python3

"$bin/integrator_rnn" --force --out out/integrator_rnn
$py examples/integrator_rnn/plot.py out/integrator_rnn
# LFADS on the integrator's spikes. The tutorial's 20000 steps take about
# 40 minutes on 2 cores; the demo trains 3000 and scores 300 trials (the
# full run: lfads_integrator --data out/integrator_rnn/data.h5 --out out/lfads_integrator).
echo "lfads_integrator: a shortened run (3000 of the tutorial's 20000 steps)"
"$bin/lfads_integrator" --force --data out/integrator_rnn/data.h5 --steps 3000 --eval-trials 300 --out out/lfads_integrator
$py examples/lfads_integrator/plot.py out/lfads_integrator
# LFADS as for a recording: the integrator's spikes in lfads-torch's layout
# with 20 % of the neurons held out and 5 bins predicted forward, scored
# with the NLB metrics beside the smoothing baseline. 3000 steps, about 4
# minutes on 2 cores.
$py examples/lfads/integrator_to_lfads_torch.py --data out/integrator_rnn/data.h5 --out out/integrator_nlb.h5
"$bin/lfads" --force --data out/integrator_nlb.h5 --steps 3000 --samples 8 --out out/lfads
$py examples/lfads/plot.py out/lfads out/integrator_nlb.h5
"$bin/decision_gru" --force --out out/decision_gru
$py examples/decision_gru/plot.py out/decision_gru
# The fixed points of the trained GRU at the tutorial's finest tolerance.
"$bin/fixed_points" --force --params out/decision_gru/params.h5 --tolerances 1e-6 --out out/fixed_points
$py examples/fixed_points/plot.py out/fixed_points
"$bin/force_esn" --force --out out/force_esn
$py examples/force_esn/plot.py out/force_esn
# The contextual-processing toy. The tutorial's 40000 steps take about 35
# minutes on 2 cores; the demo trains 8000 (the full run:
# contextual_toy --out out/contextual_toy).
echo "contextual_toy: a shortened run (8000 of the tutorial's 40000 steps)"
"$bin/contextual_toy" --force --steps 8000 --out out/contextual_toy
$py examples/contextual_toy/plot.py out/contextual_toy
echo "results and figures: out/"
