#!/usr/bin/env python3
"""The integrator's spikes as an lfads-torch data file with held-out neurons
and forward bins: a synthetic recording whose true rates are known.

  integrator_to_lfads_torch.py --data out/integrator_rnn/data.h5 --out out/integrator_nlb.h5

Rates as the LFADS tutorial makes them (SPEC §7): (hiddens + 1)/2 * 80 Hz *
dt with dt = 1/25, spikes ~ Poisson(rates). The last --held-out fraction of
the neurons and the last --forward bins are what the encoder never reads:
{split}_encod_data is (trials, T - forward, held-in neurons),
{split}_recon_data and {split}_truth are (trials, T, all neurons). The first
--train fraction of the trials is the train split.
"""
import argparse

import h5py
import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="out/integrator_rnn/data.h5", help="integrator_rnn's data.h5")
    p.add_argument("--out", required=True, help="the lfads-torch data file to write")
    p.add_argument("--held-out", type=float, default=0.2, help="fraction of the neurons held out")
    p.add_argument("--forward", type=int, default=5, help="bins predicted forward")
    p.add_argument("--train", type=float, default=0.9, help="fraction of the trials in the train split")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    with h5py.File(a.data, "r") as f:
        hiddens = np.asarray(f["hiddens"], dtype=np.float64)
    if hiddens.ndim != 3:
        raise SystemExit(f"{a.data}: key 'hiddens': expected (trials, T, units), found shape {hiddens.shape}")
    trials, T, n = hiddens.shape
    if not 0 <= a.forward < T:
        raise SystemExit(f"--forward {a.forward}: expected 0 <= forward < {T} bins")
    rates = (hiddens + 1) / 2 * 80.0 / 25.0
    spikes = np.random.default_rng(a.seed).poisson(rates).astype(np.float32)
    held_in = n - int(round(a.held_out * n))
    te = T - a.forward
    n_train = int(a.train * trials)
    splits = {"train": slice(0, n_train), "valid": slice(n_train, trials)}
    with h5py.File(a.out, "w") as f:
        for name, s in splits.items():
            f[f"{name}_encod_data"] = spikes[s, :te, :held_in]
            f[f"{name}_recon_data"] = spikes[s]
            f[f"{name}_truth"] = rates[s].astype(np.float32)
            f[f"{name}_inds"] = np.arange(trials)[s]
    print(f"{a.out}: {n_train} train and {trials - n_train} valid trials; encoder: {te} bins x {held_in} neurons, "
          f"reconstruction: {T} bins x {n} neurons")


if __name__ == "__main__":
    main()
