#!/usr/bin/env python3
"""Independent NumPy (float64) reference of the Neural Latents Benchmark's
metrics, written from nlb_tools/evaluation.py (neg_log_likelihood,
bits_per_spike, eval_psth, fit_and_eval_decoder, evaluate) and the sklearn
pieces the decoder uses (Ridge, GridSearchCV with KFold(5), r2_score), not
from the C++ library, so that tests/test_nlb_metrics.cpp can compare the two.
Only numpy and h5py: gammaln is math.lgamma vectorised, the ridge solve
np.linalg.solve.

Usage:
  nlb_metrics_reference.py FIXTURE.h5 RESULTS.h5

FIXTURE.h5 holds nlb_tools-shaped arrays, (trials, T, neurons) unless noted:
  eval_spikes_heldout, eval_rates_heldin, eval_rates_heldout,
  eval_spikes_heldin_forward, eval_spikes_heldout_forward,
  eval_rates_heldin_forward, eval_rates_heldout_forward,
  train_rates_heldin, train_rates_heldout, train_behavior, eval_behavior,
  psth (conditions, T, neurons), eval_condition (trials,) int, -1 = none,
  eval_jitter (trials,) int, alphas (grid,), r2_truth, r2_pred (rows, cols).
RESULTS.h5 gets: nll, co_bps, fp_bps, psth_r2, vel_r2, vel_best (index),
vel_alpha, vel_cv_scores (grid,), r2 (r2_score(r2_truth, r2_pred)),
null_bps (bits/spike of the null model itself) and default_alphas
(np.logspace(-4, 0, 9), nlb_tools' grid).
"""

import math
import sys
import warnings

import h5py
import numpy as np

gammaln = np.vectorize(math.lgamma, otypes=[float])


# ---------------------------------------------------------------------------
# nlb_tools/evaluation.py
# ---------------------------------------------------------------------------

def neg_log_likelihood(rates, spikes):
    assert spikes.shape == rates.shape
    mask = np.isnan(spikes)
    rates = rates[~mask].copy()  # a copy: nlb_tools' in-place 1e-9 must not leak
    spikes = spikes[~mask]
    assert not np.any(np.isnan(rates)), "NaN rate predictions found"
    assert np.all(rates >= 0), "Negative rate predictions found"
    rates[rates == 0] = 1e-9
    return np.sum(rates - spikes * np.log(rates) + gammaln(spikes + 1.0))


def bits_per_spike(rates, spikes):
    nll_model = neg_log_likelihood(rates, spikes)
    with warnings.catch_warnings():  # an all-NaN neuron: "Mean of empty slice"
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(spikes, axis=tuple(range(spikes.ndim - 1)), keepdims=True)
    null_rates = np.tile(means, spikes.shape[:-1] + (1,))
    nll_null = neg_log_likelihood(null_rates, spikes)
    return (nll_null - nll_model) / np.nansum(spikes) / np.log(2)


def eval_psth(psth, eval_rates, eval_cond_idx, jitter):
    def jitter_trial(x):
        rates, j = x
        if j == 0:
            return rates
        if j > 0:
            return np.vstack([np.full((j, rates.shape[1]), np.nan), rates[:-j]])
        return np.vstack([rates[-j:], np.full((-j, rates.shape[1]), np.nan)])

    true_list, pred_list = [], []
    for i in range(len(eval_cond_idx)):
        if eval_cond_idx[i].size == 0:
            continue
        pred_psth = np.mean([jitter_trial((eval_rates[idx], jitter[idx])) for idx in eval_cond_idx[i]], axis=0)
        keep = ~np.isnan(psth[i, :, 0])
        true_psth = psth[i, :, :][keep]
        pred_psth = pred_psth[keep]
        assert not np.any(np.isnan(pred_psth)), "NaNs found in rate predictions within required trial times"
        true_list.append(true_psth)
        pred_list.append(pred_psth)
    return r2_score(np.vstack(true_list), np.vstack(pred_list))


# ---------------------------------------------------------------------------
# sklearn: r2_score, Ridge, KFold, GridSearchCV
# ---------------------------------------------------------------------------

def r2_score(y_true, y_pred):
    """multioutput="uniform_average", force_finite=True."""
    assert y_true.shape == y_pred.shape and y_true.shape[0] >= 2
    assert np.all(np.isfinite(y_true)) and np.all(np.isfinite(y_pred))
    numerator = ((y_true - y_pred) ** 2).sum(axis=0)
    denominator = ((y_true - np.average(y_true, axis=0)) ** 2).sum(axis=0)
    nonzero_num = numerator != 0
    nonzero_den = denominator != 0
    scores = np.ones(y_true.shape[1])
    valid = nonzero_num & nonzero_den
    scores[valid] = 1 - numerator[valid] / denominator[valid]
    scores[nonzero_num & ~nonzero_den] = 0.0
    return float(np.average(scores))


class Ridge:
    def __init__(self, alpha):
        self.alpha = alpha

    def fit(self, X, y):
        X_offset = np.average(X, axis=0)
        y_offset = np.average(y, axis=0)
        Xc = X - X_offset
        yc = y - y_offset
        A = Xc.T @ Xc + self.alpha * np.eye(X.shape[1])
        self.coef_ = np.linalg.solve(A, Xc.T @ yc)  # (features, outputs)
        self.intercept_ = y_offset - X_offset @ self.coef_
        return self

    def predict(self, X):
        return X @ self.coef_ + self.intercept_

    def score(self, X, y):
        return r2_score(y, self.predict(X))


def kfold(n_samples, n_splits=5):
    """KFold(n_splits) without shuffling: (train, test) index arrays."""
    indices = np.arange(n_samples)
    fold_sizes = np.full(n_splits, n_samples // n_splits, dtype=int)
    fold_sizes[: n_samples % n_splits] += 1
    current = 0
    for size in fold_sizes:
        test = indices[current:current + size]
        train = np.concatenate([indices[:current], indices[current + size:]])
        yield train, test
        current += size


def grid_search_ridge(X, y, alphas):
    """GridSearchCV(Ridge(), {"alpha": alphas}).fit(X, y)."""
    mean_scores = []
    for alpha in alphas:
        fold_scores = [Ridge(alpha).fit(X[tr], y[tr]).score(X[te], y[te]) for tr, te in kfold(len(X))]
        mean_scores.append(np.average(fold_scores))
    mean_scores = np.array(mean_scores)
    best = int(np.argmax(mean_scores))  # rank_test_score "min" ranking: the first best
    return best, mean_scores, Ridge(alphas[best]).fit(X, y)


def fit_and_eval_decoder(train_rates, train_behavior, eval_rates, eval_behavior, alphas):
    if np.any(np.isnan(train_behavior)):
        keep = ~np.isnan(train_behavior)[:, 0]
        train_rates, train_behavior = train_rates[keep], train_behavior[keep]
    if np.any(np.isnan(eval_behavior)):
        keep = ~np.isnan(eval_behavior)[:, 0]
        eval_rates, eval_behavior = eval_rates[keep], eval_behavior[keep]
    assert not np.any(np.isnan(train_rates)) and not np.any(np.isnan(eval_rates))
    best, mean_scores, decoder = grid_search_ridge(train_rates, train_behavior, alphas)
    return decoder.score(eval_rates, eval_behavior), best, mean_scores


# ---------------------------------------------------------------------------
# evaluate(): the slices each metric sees
# ---------------------------------------------------------------------------

def main(fixture, results):
    with h5py.File(fixture, "r") as f:
        d = {k: f[k][()] for k in f.keys()}
    flt = {k: np.asarray(v, dtype=float) for k, v in d.items()}

    eval_spikes_heldout = flt["eval_spikes_heldout"]
    eval_rates = np.concatenate([flt["eval_rates_heldin"], flt["eval_rates_heldout"]], axis=-1)
    train_rates = np.concatenate([flt["train_rates_heldin"], flt["train_rates_heldout"]], axis=-1)
    flatten3d = lambda x: x.reshape(-1, x.shape[2]) if x.ndim > 2 else x

    out = {}
    out["nll"] = neg_log_likelihood(flt["eval_rates_heldout"], eval_spikes_heldout)
    out["co_bps"] = bits_per_spike(flt["eval_rates_heldout"], eval_spikes_heldout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        null = np.tile(np.nanmean(eval_spikes_heldout, axis=(0, 1), keepdims=True),
                       eval_spikes_heldout.shape[:-1] + (1,))
    out["null_bps"] = bits_per_spike(null, eval_spikes_heldout)

    # One decode mask, all trials: evaluate() without train_decode_mask.
    alphas = flt["alphas"]
    r2, best, cv = fit_and_eval_decoder(flatten3d(train_rates), flatten3d(flt["train_behavior"]),
                                        flatten3d(eval_rates), flatten3d(flt["eval_behavior"]), alphas)
    out["vel_r2"], out["vel_best"], out["vel_alpha"], out["vel_cv_scores"] = r2, best, alphas[best], cv

    labels = np.asarray(d["eval_condition"], dtype=int)
    psth = flt["psth"]
    eval_cond_idx = [np.nonzero(labels == c)[0] for c in range(psth.shape[0])]
    out["psth_r2"] = eval_psth(psth, eval_rates, eval_cond_idx, np.asarray(d["eval_jitter"], dtype=int))

    spikes_fwd = np.dstack([flt["eval_spikes_heldin_forward"], flt["eval_spikes_heldout_forward"]])
    rates_fwd = np.dstack([flt["eval_rates_heldin_forward"], flt["eval_rates_heldout_forward"]])
    out["fp_bps"] = bits_per_spike(rates_fwd, spikes_fwd)

    out["r2"] = r2_score(flt["r2_truth"], flt["r2_pred"])
    out["default_alphas"] = np.logspace(-4, 0, 9)

    with h5py.File(results, "w") as f:
        for k, v in out.items():
            f[k] = np.asarray(v, dtype=np.int64 if k == "vel_best" else np.float64)
    for k, v in out.items():
        print(f"{k}: {np.array2string(np.asarray(v), precision=17)}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
