"""The contextual-processing tutorial's figures from a contextual_toy output folder.

    /usr/bin/python3 examples/contextual_toy/plot.py out/contextual_toy

loss.png                 training loss
trials.png               evaluation reviews: their words, cumulative valence and output
eigenvalues_h0.png       spectrum of dF/dh at h0 before and after training
line_attractor.png       fixed points in their top-2 PCA space, coloured by readout
eigenvalues_line.png     real parts of the top three eigenvalues along the line, by readout
spectrum_modifier.png    spectrum before the modifier, the not4 pair and very1 mode marked
linear_vs_full.png       input-Jacobian prediction against the full one-step effect
angles.png               angles between the modifiers' deflections and each mode
deletion.png             share of each modifier's effect left as modes are removed
notebook_deletion.png    the notebook's experiment (Supp. Fig. 14): share removed, modes in its ranking
not4_window.png          good1's effect each word after not4 (input 0), against after a noise word
"""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import plot_common as pc  # noqa: E402
from plot_common import plt  # noqa: E402

VOCABULARY = ["a", "and", "awesome1", "awful1", "bad1", "for", "good1", "it", "not4", "the", "very1", "while"]
folder = pc.out_dir("out/contextual_toy")
summary = json.load(open(os.path.join(folder, "summary.json")))
analysis = summary["analysis"]
if os.path.exists(os.path.join(folder, "training.h5")):
    pc.plot_loss(folder)
    with h5py.File(os.path.join(folder, "training.h5"), "r") as f:
        words, y, o = f["inputs"][...].argmax(axis=2), f["targets"][...], f["outputs"][...]
    fig, axes = plt.subplots(4, 1, figsize=(9, 8), sharex=True)
    for b, ax in enumerate(axes):
        ax.plot(y[b, :, 0], "k--", label="cumulative valence")
        ax.plot(o[b, :, 0], "C0", label="GRU output")
        for t, w in enumerate(words[b]):
            ax.text(t, ax.get_ylim()[1], VOCABULARY[w], rotation=90, fontsize=5, va="top", ha="center")
    axes[0].legend(loc="lower left", fontsize=7)
    axes[-1].set_xlabel("word")
    pc.save(fig, folder, "trials.png")


def complex_values(f, key):
    return f[key + "_real"][...] + 1j * f[key + "_imag"][...]


with h5py.File(os.path.join(folder, "analysis.h5"), "r") as f:
    # Spectrum at h0, before and after training.
    fig, ax = plt.subplots(figsize=(5, 5))
    t = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(t), np.sin(t), "k", lw=0.5)
    if "h0/initial_eigenvalues_real" in f:
        e = complex_values(f, "h0/initial_eigenvalues")
        ax.plot(e.real, e.imag, "o", mfc="none", ms=5, label="before training")
    e = complex_values(f, "h0/trained_eigenvalues")
    ax.plot(e.real, e.imag, ".", ms=6, label="after training")
    ax.set_aspect("equal")
    ax.set_xlabel("real")
    ax.set_ylabel("imaginary")
    ax.set_title("eigenvalues of dF/dh at h0")
    ax.legend()
    pc.save(fig, folder, "eigenvalues_h0.png")

    groups = sorted((k for k in f if k.startswith("tol_")), key=lambda g: -float(g[len("tol_"):]))
    finest = f[groups[-1]]
    points, readouts = finest["points"][...], finest["readouts"][...][:, 0]
    if len(points) > 2:
        mean = points.mean(axis=0)
        _, _, vt = np.linalg.svd(points - mean, full_matrices=False)
        pcs = (points - mean) @ vt[:2].T
        fig, ax = plt.subplots(figsize=(6, 5))
        sc = ax.scatter(pcs[:, 0], pcs[:, 1], c=readouts, cmap="coolwarm", s=8)
        fig.colorbar(sc, label="readout")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.set_title(f"fixed points ({groups[-1]}): the line attractor")
        pc.save(fig, folder, "line_attractor.png")

        eig = finest["eigenvalues_real"][...]
        order = np.argsort(readouts)
        fig, ax = plt.subplots(figsize=(7, 4))
        for k in range(3):
            ax.plot(readouts[order], eig[order, k], ".", ms=4, label=f"eigenvalue {k + 1}")
        ax.axhline(1, color="k", lw=0.5)
        ax.set_xlabel("readout of the fixed point")
        ax.set_ylabel("real part")
        ax.legend()
        pc.save(fig, folder, "eigenvalues_line.png")

    spectrum = analysis["spectrum_before_modifier"]
    e = complex_values(f, "before_modifier/eigenvalues")
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(np.cos(t), np.sin(t), "k", lw=0.5)
    ax.plot(e.real, e.imag, ".", ms=6, color="0.5")
    for key, color, label in [("integration_mode", "k", "integration"), ("not_pair", "C3", "not4 pair"),
                              ("very_mode", "C2", "very1 mode")]:
        z = spectrum[key]["eigenvalue"]
        ax.plot([z[0], z[0]], [z[1], -z[1]], "o", mfc="none", ms=10, color=color, label=label)
    ax.set_aspect("equal")
    ax.set_title("dF/dh at the state before the modifier")
    ax.legend()
    pc.save(fig, folder, "spectrum_modifier.png")

    linear, full = f["input_jacobian/linear"][...], f["input_jacobian/full"][...]  # (word, state)
    words = ["good1", "awesome1", "bad1", "awful1"]
    states = ["line", "after very1", "after not4", "3 after not4"]
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(16)
    ax.bar(x - 0.2, linear.T.ravel(), 0.4, label="wO dF/dx x (linear)")
    ax.bar(x + 0.2, full.T.ravel(), 0.4, label="wO (F(h, x) - F(h, 0)) (full)")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{s}\n{w}" for s in states for w in words], fontsize=6)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("change of the readout")
    ax.legend()
    pc.save(fig, folder, "linear_vs_full.png")

    idx = f["angles/mode_index"][...].astype(int)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.abs(e[idx]), f["angles/not4_degrees"][...], "o", mfc="none", label="not4 deflection")
    ax.plot(np.abs(e[idx]), f["angles/very1_degrees"][...], "x", label="very1 deflection")
    ax.set_xlabel("|eigenvalue| of the mode")
    ax.set_ylabel("angle to its left eigenvector(s) (degrees)")
    ax.legend()
    pc.save(fig, folder, "angles.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in [("deletion/not4_remaining", "not4 effect"), ("deletion/very1_remaining", "very1 amplification")]:
        ax.plot(f[key][...], ".-", ms=3, label=label)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("modes removed (largest weight in the deflection first; a complex pair counts once)")
    ax.set_ylabel("share of the effect left")
    ax.set_xlim(0, 20)
    ax.legend()
    pc.save(fig, folder, "deletion.png")

    if "notebook_deletion" in f:
        fig, ax = plt.subplots(figsize=(7, 4))
        for key, label in [("not4", "not4 (readout after a a bad1)"), ("very1", "very1 (readout after bad1)")]:
            removed = f[f"notebook_deletion/{key}_removed"][...]
            ax.plot(np.arange(1, len(removed) + 1), removed, "o-", label=label)
        ax.axhline(1, color="k", lw=0.5)
        ax.axhline(0.9, color="k", lw=0.5, ls=":")
        ax.set_xlabel("modes removed from the deflection's left-eigenvector span (the notebook's ranking)")
        ax.set_ylabel("share of the effect removed")
        ax.legend()
        pc.save(fig, folder, "notebook_deletion.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in [("not4_window/good1_effect_after_not4", "after not4"),
                       ("not4_window/good1_effect_on_line", "after a noise word")]:
        ax.plot(f[key][...], "o-", label=label)
    ax.axhline(0, color="k", lw=0.5)
    ax.axvspan(-0.5, 3.5, color="C3", alpha=0.1, label="not4's window")
    ax.set_xlabel("words of input 0 before good1")
    ax.set_ylabel("good1's one-step effect on the readout")
    ax.legend()
    pc.save(fig, folder, "not4_window.png")
