"""The fixed-point tutorial's figures from a fixed_points output folder.

    /usr/bin/python3 examples/fixed_points/plot.py out/fixed_points

fixed_points_pca.png         fixed points in the top-3 PCA space of the
                             candidates, coloured by their readout, and
                             the true fixed points Newton refines them to
eigenvalues_vs_readout.png   real parts of the top three eigenvalues of
                             dF/dh at each fixed point against its readout
speeds.png                   the fixed points' speeds, slowest first, per
                             tolerance, and Newton's final residuals
eigenvalues_slowest.png      the spectrum at the slowest fixed point
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import plot_common as pc  # noqa: E402
from plot_common import plt  # noqa: E402

folder = pc.out_dir("out/fixed_points")
with h5py.File(os.path.join(folder, "fixed_points.h5"), "r") as f:
    candidates = f["candidates"][...]
    groups = {name: {k: f[name][k][...] for k in f[name]} for name in f if isinstance(f[name], h5py.Group)}
names = sorted(groups, key=lambda g: -float(g[len("tol_"):]))  # coarse to fine
finest = groups[names[-1]]

# Top-3 PCA space of the candidates.
mean = candidates.mean(axis=0)
_, _, vt = np.linalg.svd(candidates - mean, full_matrices=False)
project = lambda x: (x - mean) @ vt[:3].T  # noqa: E731
fig = plt.figure(figsize=(7, 6))
ax = fig.add_subplot(projection="3d")
shown = project(candidates[:: max(1, len(candidates) // 2000)])
ax.scatter(*shown.T, s=1, c="0.75", alpha=0.3, label="candidates")
if len(finest["points"]):
    pts = project(finest["points"])
    sc = ax.scatter(*pts.T, s=12, c=finest["readouts"][:, 0], cmap="coolwarm")
    fig.colorbar(sc, ax=ax, shrink=0.6, label="readout wO h + bO")
if "newton_points" in finest:
    ax.scatter(*project(finest["newton_points"]).T, s=60, marker="*", c="k", label="after Newton")
    ax.legend(loc="upper left", fontsize=8)
ax.set_xlabel("PC 1")
ax.set_ylabel("PC 2")
ax.set_zlabel("PC 3")
ax.set_title(f"fixed points ({names[-1]}) in the candidates' top-3 PCA space")
pc.save(fig, folder, "fixed_points_pca.png")

# Top three eigenvalues against the readout.
fig, ax = plt.subplots(figsize=(7, 4.5))
for k in range(min(3, finest["eigenvalues_real"].shape[1]) if len(finest["points"]) else 0):
    ax.plot(finest["readouts"][:, 0], finest["eigenvalues_real"][:, k], ".", ms=4, label=f"eigenvalue {k + 1}")
ax.axhline(1.0, color="k", lw=0.5)
ax.set_xlabel("readout of the fixed point")
ax.set_ylabel("real part")
ax.set_title(f"top eigenvalues of dF/dh ({names[-1]})")
ax.legend()
pc.save(fig, folder, "eigenvalues_vs_readout.png")

# Speeds, slowest first.
fig, ax = plt.subplots(figsize=(7, 4.5))
for i, name in enumerate(names):
    g = groups[name]
    ax.semilogy(np.sort(g["speeds"]), ".", ms=3, color=f"C{i}", label=f"{name}: speed q")
    if "newton_residuals" in g:
        ax.semilogy(np.sort(np.maximum(g["newton_residuals"], 1e-300)), "x", ms=3, color=f"C{i}",
                    label=f"{name}: Newton residual max |F(h) - h|")
ax.set_xlabel("fixed point (sorted)")
ax.set_ylabel("q = mean (F(h) - h)^2; residual")
ax.legend(fontsize=8)
pc.save(fig, folder, "speeds.png")

if len(finest["points"]):
    eig = finest["eigenvalues_real"][0] + 1j * finest["eigenvalues_imag"][0]
    pc.plot_eigenvalues(folder, eig, f"eigenvalues of dF/dh at the slowest fixed point ({names[-1]})",
                        "eigenvalues_slowest.png")
