"""The decision tutorial's figures from a decision_gru output folder.

    /usr/bin/python3 examples/decision_gru/plot.py out/decision_gru
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import plot_common as pc  # noqa: E402


def gru_step(p, h, x):
    """The tutorials' GRU (SPEC §2b), in numpy."""
    n = h.shape[0]
    sigma = lambda z: 0.5 * (np.tanh(z / 2) + 1)  # noqa: E731
    ru = p["wRUHX"] @ np.concatenate([h, x]) + p["bRU"]
    r, u = sigma(ru[:n]), sigma(ru[n:] + 0.5)
    c = np.tanh(p["wCHX"] @ np.concatenate([r * h, x]) + p["bC"])
    return u * h + (1 - u) * c


folder = pc.out_dir("out/decision_gru")
pc.plot_trials(folder, "decision GRU: the sign of the integral at the last step")
pc.plot_loss(folder)
keys = ["h0", "wRUHX", "wCHX", "bRU", "bC"]
p = dict(zip(keys, pc.load(folder, "params.h5", keys)))
h0, x0 = p["h0"], np.zeros(p["wCHX"].shape[1] - p["h0"].shape[0])
eps = 1e-6  # central differences in double: the Jacobian dF/dh at h0
J = np.stack([(gru_step(p, h0 + eps * e, x0) - gru_step(p, h0 - eps * e, x0)) / (2 * eps)
              for e in np.eye(h0.shape[0])], axis=1)
pc.plot_eigenvalues(folder, np.linalg.eigvals(J), "eigenvalues of dF/dh at h0", "eigenvalues_jacobian_h0.png")
