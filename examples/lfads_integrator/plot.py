"""The LFADS tutorial's figures from an lfads_integrator output folder:
loss curves, one trial's inferred rates against the true rates, the
inferred input against the true input, and the R^2 histograms.

    /usr/bin/python3 examples/lfads_integrator/plot.py out/lfads_integrator
"""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import plot_common as pc  # noqa: E402

folder = pc.out_dir("out/lfads_integrator")
plt = pc.plt
with h5py.File(os.path.join(folder, "posterior.h5"), "r") as f:
    post = {k: f[k][...] for k in ("rates", "true_rates", "pca_rates", "spikes", "ii_mean", "true_inputs")}
with open(os.path.join(folder, "summary.json")) as f:
    summary = json.load(f)

pc.plot_lfads_losses(folder)


def r2(a, b):
    """Squared Pearson r of matching series along axis 1 (NaN if constant)."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(1) ** 2 / ((a * a).sum(1) * (b * b).sum(1))


# One trial: spikes, true rates, LFADS's posterior-averaged rates, PCA's.
trial = 0
fig, axes = plt.subplots(1, 4, figsize=(15, 4), sharey=True)
for ax, key, title in zip(axes, ("spikes", "true_rates", "rates", "pca_rates"),
                          ("spikes", "true rates", "LFADS rates", "PCA (2 PCs)")):
    ax.imshow(post[key][trial].T, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_title(title)
    ax.set_xlabel("time bin")
axes[0].set_ylabel("neuron")
pc.save(fig, folder, "rates_trial.png")

fig, axes = plt.subplots(2, 4, figsize=(14, 5), sharex=True)
for ax, neuron in zip(axes.flat, range(8)):
    ax.plot(post["true_rates"][trial, :, neuron], "k", label="true")
    ax.plot(post["rates"][trial, :, neuron], "C0", label="LFADS")
    ax.plot(post["pca_rates"][trial, :, neuron], "C1", lw=0.8, label="PCA")
    ax.set_title(f"neuron {neuron}")
axes[0, 0].legend()
pc.save(fig, folder, "rates_neurons.png")

# Inferred input against the true input, linearly rescaled per trial.
fig, axes = plt.subplots(1, 4, figsize=(15, 3.5))
for ax, k in zip(axes, range(4)):
    u, ii = post["true_inputs"][k], post["ii_mean"][k, :, 0]
    A = np.stack([ii, np.ones_like(ii)], 1)
    fit = A @ np.linalg.lstsq(A, u, rcond=None)[0]
    ax.plot(u, "k", label="true input")
    ax.plot(fit, "C3", label="inferred (rescaled)")
    ax.set_title(f"trial {k}")
    ax.set_xlabel("time bin")
axes[0].legend()
pc.save(fig, folder, "inferred_inputs.png")

# R^2 histograms, per trial and neuron: LFADS against PCA.
T, D = post["rates"].shape[1:]
lfads = r2(post["rates"].transpose(0, 2, 1).reshape(-1, T), post["true_rates"].transpose(0, 2, 1).reshape(-1, T))
pca = r2(post["pca_rates"].transpose(0, 2, 1).reshape(-1, T), post["true_rates"].transpose(0, 2, 1).reshape(-1, T))
ii = r2(post["ii_mean"][:, :, 0], post["true_inputs"])
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
bins = np.linspace(0, 1, 41)
axes[0].hist(lfads[np.isfinite(lfads)], bins, alpha=0.7, label=f"LFADS (mean {summary['rate_r2']:.3f})")
axes[0].hist(pca[np.isfinite(pca)], bins, alpha=0.7, label=f"PCA (mean {summary['pca_rate_r2']:.3f})")
axes[0].set_xlabel("R$^2$ of rates, per trial and neuron")
axes[0].legend()
axes[1].hist(ii[np.isfinite(ii)], bins, color="C3", alpha=0.7,
             label=f"mean {summary['inferred_input_r2']:.3f}")
axes[1].set_xlabel("R$^2$ of the inferred input, per trial")
axes[1].legend()
pc.save(fig, folder, "r2_histograms.png")
