"""Figures of an lfads run on a recording in lfads-torch's layout: loss
curves; one valid trial's inferred rates against its spikes and (when the
file has them) the true rates, held-in and held-out neurons, with the
forward bins shaded; and the NLB scores beside the smoothing baseline's.

    /usr/bin/python3 examples/lfads/plot.py out/lfads DATA.h5
"""
import glob
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import plot_common as pc  # noqa: E402

folder = pc.out_dir("out/lfads")
if len(sys.argv) < 3:
    sys.exit("usage: plot.py OUT_DIR DATA.h5 (the file lfads was trained on)")
plt = pc.plt
with open(os.path.join(folder, "summary.json")) as f:
    summary = json.load(f)
outputs = glob.glob(os.path.join(folder, "lfads_output_*.h5"))
if not outputs:
    sys.exit(f"{folder}: no lfads_output_*.h5 — run lfads first")
with h5py.File(outputs[0], "r") as f:
    rates = f["valid_output_params"][0]
with h5py.File(sys.argv[2], "r") as f:
    spikes = f["valid_recon_data" if "valid_recon_data" in f else "valid_encod_data"][0]
    truth = f["valid_truth"][0] if "valid_truth" in f else None

pc.plot_lfads_losses(folder)

# One valid trial: a few held-in and held-out neurons.
held_in, te = summary["held_in_neurons"], summary["encod_bins"]
neurons = list(range(min(3, held_in))) + list(range(held_in, min(held_in + 3, rates.shape[1])))
fig, axes = plt.subplots(len(neurons), 1, figsize=(8, 1.6 * len(neurons)), sharex=True)
for ax, n in zip(np.atleast_1d(axes), neurons):
    ax.bar(np.arange(spikes.shape[0]), spikes[:, n], color="0.85", label="spikes")
    if truth is not None:
        ax.plot(truth[:, n], "k--", lw=1, label="true rate")
    ax.plot(rates[:, n], "C0", lw=1.5, label="LFADS")
    if spikes.shape[0] > te:
        ax.axvspan(te - 0.5, spikes.shape[0] - 0.5, color="C1", alpha=0.1, label="forward bins")
    ax.set_ylabel(f"{'held-out' if n >= held_in else 'held-in'} {n}", fontsize=8)
np.atleast_1d(axes)[0].legend(fontsize=7, ncol=4)
np.atleast_1d(axes)[-1].set_xlabel("bin")
pc.save(fig, folder, "rates.png")

# The NLB scores beside the smoothing baseline's.
keys = [k for k in ("bps", "co_bps", "fp_bps") if isinstance(summary.get(k), float)]
base = summary.get("smoothing_baseline", {})
fig, ax = plt.subplots(figsize=(6, 4))
x = np.arange(len(keys))
ax.bar(x - 0.2, [summary[k] for k in keys], 0.4, label="LFADS")
ax.bar(x + 0.2, [base.get(k) if isinstance(base.get(k), float) else 0 for k in keys], 0.4, label="smoothing")
ax.set_xticks(x, keys)
ax.set_ylabel("bits per spike (valid split)")
ax.axhline(0, color="k", lw=0.5)
ax.legend()
pc.save(fig, folder, "scores.png")
