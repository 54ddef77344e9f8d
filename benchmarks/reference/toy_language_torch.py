"""PyTorch reference for the toy-language GRU training step (SPEC §3, §6).

One step of the contextual-processing tutorial's loop, written from its
equations: the tutorials' GRU (n 100, u 12, o 1) over 50-word reviews in a
batch of 128, state noise 0.003 added to every new state, the readout at
every step, masked MSE (mask 1) plus l2 1e-4 on all parameters, global-norm
clipping at 10, Adam (lr 0.04 * 0.99995^i, eps 0.1). Batches are made up
front from the language's rules and cycled, so the generator is not timed
(as the shared reference workloads do). The shared helpers (timing, the
seed GRU cell, the optimiser, the result rows) come from
../shared/reference/common.py, found through CTD_REFERENCE_DIR.

    /usr/bin/python3 toy_language_torch.py --json out.json [--samples 30]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.environ.get("CTD_REFERENCE_DIR", ""))
import common  # noqa: E402

WORDS = sorted(["a", "and", "the", "for", "it", "while", "good1", "bad1", "awesome1", "awful1", "not4", "very1"])
VALENCE = {"good1": 1, "bad1": -1, "awesome1": 2, "awful1": -2}
MODIFIER = {"not4": (1, 5, -1.0), "very1": (1, 2, 2.0)}
HP = dict(n=100, u=len(WORDS), o=1, batch=128, T=50, state_noise=0.003, l2reg=1e-4, step_size=0.04,
          decay_factor=0.99995, b1=0.9, b2=0.999, eps=0.1, max_grad_norm=10.0)


def review_batch(rng, batch, T):
    """One-hot inputs (B, T, u) and cumulative-valence targets (B, T, 1)."""
    x = np.zeros((batch, T, len(WORDS)), np.float32)
    y = np.zeros((batch, T, 1), np.float32)
    plain = [w for w in WORDS if w not in MODIFIER]
    for b in range(batch):
        review, last_not = [], -100
        for t in range(T):
            w = WORDS[rng.integers(len(WORDS))]
            if w == "not4":
                if t - last_not <= 4:
                    w = plain[rng.integers(len(plain))]
                else:
                    last_not = t
            review.append(w)
        count = np.zeros(T)
        for t in range(T - 1, -1, -1):
            w = review[t]
            count[t] += VALENCE.get(w, 0)
            if w in MODIFIER:
                k1, k2, f = MODIFIER[w]
                count[t + k1:t + k2] *= f
            x[b, t, WORDS.index(w)] = 1
        y[b, :, 0] = np.cumsum(count)
    return torch.from_numpy(x), torch.from_numpy(y)


def loss(p, x, y, hp):
    B, T, _ = x.shape
    h = p["h0"].expand(B, -1)
    outs = []
    for t in range(T):
        h = common.seed_gru_cell(p, h, x[:, t]) + hp["state_noise"] * torch.randn_like(h)
        outs.append(h)
    out = F.linear(torch.stack(outs, 1), p["wO"], p["bO"])
    return torch.mean((out - y) ** 2) + common.l2_penalty(p.values(), hp["l2reg"])


def flops(hp):
    B, T, n, u, o = hp["batch"], hp["T"], hp["n"], hp["u"], hp["o"]
    f, b = common.seed_gru_step_flops(B, n, u)
    fo, bo = common.linear_train_flops(B * T, n, o)
    return T * f + fo, T * b + bo


def benchmark(samples, seed=0):
    hp = HP
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    batches = [review_batch(rng, hp["batch"], hp["T"]) for _ in range(8)]
    p = common.init_seed_gru(gen, hp["n"], hp["u"], 1.0, 1.0, 0.1)
    p["wO"] = (torch.randn(hp["o"], hp["n"], generator=gen) / hp["n"] ** 0.5).requires_grad_(True)
    p["bO"] = torch.zeros(hp["o"], requires_grad=True)
    opt = common.SeedOptimizer(p.values(), hp["step_size"], hp["decay_factor"], hp["b1"], hp["b2"], hp["eps"],
                               hp["max_grad_norm"])

    def step(i):
        x, y = batches[i % len(batches)]
        opt.step(loss(p, x, y, hp))

    fwd, bwd = flops(hp)
    times = common.time_steps(step, 5, samples)
    return [common.make_result("e_toy_language_train", "hand loop + autograd (seed GRU)", times, fwd + bwd,
                               "B=128,T=50,n=100,u=12; state noise 0.003")]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", required=True)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    with open(args.json, "w") as f:
        json.dump({"results": benchmark(args.samples)}, f)
