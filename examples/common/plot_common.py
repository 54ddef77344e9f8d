"""Figures shared by the supervised examples' plot scripts (matplotlib, Agg)."""
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def out_dir(default):
    """The output folder named on the command line (or the default)."""
    d = sys.argv[1] if len(sys.argv) > 1 else default
    if not os.path.isdir(d):
        sys.exit(f"{d}: no such folder — run the example program first")
    return d


def plot_trials(folder, title):
    """Inputs, targets and outputs of the first evaluation trials."""
    with h5py.File(os.path.join(folder, "training.h5"), "r") as f:
        x, y, o = f["inputs"][...], f["targets"][...], f["outputs"][...]
    fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for b in range(x.shape[0]):
        axes[0].plot(x[b, :, 0], color=f"C{b}")
        axes[1].plot(y[b, :, 0], "--", color=f"C{b}")
        axes[1].plot(o[b, :, 0], color=f"C{b}")
    axes[0].set_ylabel("input")
    axes[1].set_ylabel("target (dashed), output")
    axes[1].set_xlabel("time step")
    axes[0].set_title(title)
    save(fig, folder, "trials.png")


def plot_loss(folder):
    with h5py.File(os.path.join(folder, "training.h5"), "r") as f:
        loss = f["loss"][...]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.semilogy(loss, lw=0.5)
    ax.set_xlabel("training step")
    ax.set_ylabel("loss (MSE + L2)")
    save(fig, folder, "loss.png")


def plot_lfads_losses(folder):
    """An LFADS run's loss curves: the total and its parts (KL terms
    unweighted) with the KL warm-up's weight."""
    with h5py.File(os.path.join(folder, "training.h5"), "r") as f:
        curves = {k: f[k][...] for k in ("loss", "nll", "kl_ic", "kl_ii", "kl_scale")}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].semilogy(curves["loss"], lw=0.5, label="total")
    axes[0].semilogy(curves["nll"], lw=0.5, label="Poisson NLL")
    axes[0].set_xlabel("training step")
    axes[0].legend()
    axes[1].semilogy(curves["kl_ic"], lw=0.5, label="KL IC")
    axes[1].semilogy(np.maximum(curves["kl_ii"], 1e-3), lw=0.5, label="KL inferred input")
    axes[1].plot(curves["kl_scale"], "k--", lw=1, label="KL weight")
    axes[1].set_xlabel("training step")
    axes[1].legend()
    save(fig, folder, "losses.png")


def plot_eigenvalues(folder, eigenvalues, title, name):
    fig, ax = plt.subplots(figsize=(5, 5))
    t = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(t), np.sin(t), "k", lw=0.5)
    ax.plot(eigenvalues.real, eigenvalues.imag, ".", ms=6)
    ax.set_aspect("equal")
    ax.set_xlabel("real")
    ax.set_ylabel("imaginary")
    ax.set_title(title)
    save(fig, folder, name)


def load(folder, file, keys):
    with h5py.File(os.path.join(folder, file), "r") as f:
        return [f[k][...].astype(np.float64) for k in keys]


def save(fig, folder, name):
    path = os.path.join(folder, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print("wrote", path)
