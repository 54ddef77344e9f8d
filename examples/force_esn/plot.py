"""The FORCE tutorial's figures from a force_esn output folder.

    /usr/bin/python3 examples/force_esn/plot.py out/force_esn

targets_vs_outputs.png  targets against the outputs before and after training
error_over_time.png     RMS error (over the outputs) at every step of every
                        training pass and of the test pass
eigenvalues.png         eigenvalues of wR and of the closed loop wR + wF wO
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import plot_common as pc  # noqa: E402

folder = pc.out_dir("out/force_esn")
f, before, after, train, ev_wR, ev_loop, dt = pc.load(
    folder, "force.h5",
    ["targets", "outputs_before", "outputs_after", "outputs_train", "eigenvalues_wR",
     "eigenvalues_wR_wF_wO", "dt_over_tau"])
T, m = f.shape
time = np.arange(1, T + 1) * float(dt)

# Targets vs outputs: a few outputs, before and after training.
shown = min(m, 4)
fig, axes = pc.plt.subplots(shown, 2, figsize=(10, 1.8 * shown + 1), sharex=True, squeeze=False)
for i in range(shown):
    for col, (z, label) in enumerate(((before, "before training"), (after, "after training (test pass)"))):
        ax = axes[i, col]
        ax.plot(time, f[:, i], "k--", lw=1, label="target")
        ax.plot(time, z[:, i], color=f"C{i}", lw=1, label="output")
        ax.set_ylim(-1.6, 1.6)
        if i == 0:
            ax.set_title(label)
        if col == 0:
            ax.set_ylabel(f"unit {i}")
axes[0, 0].legend(loc="upper right", fontsize=8)
for ax in axes[-1]:
    ax.set_xlabel("time (tau)")
pc.save(fig, folder, "targets_vs_outputs.png")

# Error over time, pass after pass, then the test pass.
passes = train.shape[0]
err_train = np.sqrt(np.mean((train - f[None]) ** 2, axis=2)).reshape(-1)
err_test = np.sqrt(np.mean((after - f) ** 2, axis=1))
fig, ax = pc.plt.subplots(figsize=(9, 4))
steps = np.arange(passes * T)
ax.semilogy(steps, err_train, lw=0.6, label="training passes")
ax.semilogy(passes * T + np.arange(T), err_test, lw=0.6, color="C3", label="test pass (no learning)")
for p in range(1, passes + 1):
    ax.axvline(p * T, color="0.85", lw=0.5, zorder=0)
ax.set_xlabel("time step (passes back to back; each restarts from a0)")
ax.set_ylabel("RMS error over outputs")
ax.legend()
pc.save(fig, folder, "error_over_time.png")

# The two spectra; eigenvalues right of Re = 1 make a = 0 unstable in
# da/dt = -a + W tanh(a).
fig, axes = pc.plt.subplots(1, 2, figsize=(10, 5))
for ax, ev, title in ((axes[0], ev_wR, "eigenvalues of wR"),
                      (axes[1], ev_loop, "eigenvalues of wR + wF wO (trained)")):
    t = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(t), np.sin(t), "k", lw=0.5)
    ax.axvline(1.0, color="C3", lw=0.5)
    ax.plot(ev[:, 0], ev[:, 1], ".", ms=4)
    ax.set_aspect("equal")
    ax.set_xlabel("real")
    ax.set_ylabel("imaginary")
    ax.set_title(title)
pc.save(fig, folder, "eigenvalues.png")
