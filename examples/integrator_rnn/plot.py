"""The integrator tutorial's figures from an integrator_rnn output folder.

    /usr/bin/python3 examples/integrator_rnn/plot.py out/integrator_rnn
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import plot_common as pc  # noqa: E402

folder = pc.out_dir("out/integrator_rnn")
pc.plot_trials(folder, "integrator RNN: white noise in, its integral out")
pc.plot_loss(folder)
(wR,) = pc.load(folder, "params.h5", ["wR"])
pc.plot_eigenvalues(folder, np.linalg.eigvals(wR), "eigenvalues of wR", "eigenvalues_wR.png")
