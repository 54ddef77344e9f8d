#!/usr/bin/env python3
"""Independent NumPy (float64) reference of the LFADS tutorial's loss.

Written from the tutorial's equations (SPEC §7; the seed's lfads.py and
distributions.py, reproduced in shared/reference/wl_jax.py), not from the
C++ library, so that tests/test_lfads_files.cpp can compare the two.

Usage:
  lfads_reference.py write-params OUT.h5 D E C I G F SEED
      Writes random float64 parameters with h5py, as a nested dict in the
      tutorial's lfads_params layout and shapes.
  lfads_reference.py check FILE.h5 [PARAMS.h5]
      Reads a check file written by the C++ test (parameters at the root in
      the tutorial's layout; counts, noise/*, config/*, losses/*), verifies
      the parameters' keys and shapes (and, with PARAMS.h5, that they equal
      that file's bit for bit), recomputes nll, kl_ic, kl_ii, l2 and total
      and exits non-zero unless each agrees with the C++ value to relative
      1e-10.

Arrays in the check file are (batch, time, dim) like the tutorial's x_bxt.
Dropout masks already contain the 1/keep_rate scaling; the normal draws are
the N(0, 1) draws of the reparameterised samples (ic_eps: g_0; ii_eps: the
inferred inputs fed to the generator; kl_eps: the AR(1) KL's own sample, a
separate draw as in the seed, which uses separate keys).
"""

import sys

import h5py
import numpy as np

TOLERANCE = 1e-10
RESERVED = ("counts", "noise", "config", "losses")


# ----------------------------------------------------------------------------
# Layout of lfads_params
# ----------------------------------------------------------------------------

def gru_shapes(n, u):
    return {"h0": (n,), "wRUHX": (2 * n, n + u), "wCHX": (n, n + u),
            "bRU": (2 * n,), "bC": (n,)}


def param_shapes(D, E, C, I, G, F):
    """Flat 'a/b/c' key -> shape, exactly as the tutorial's lfads_params."""
    nested = {
        "ic_enc": {"fwd_rnn": gru_shapes(E, D), "bwd_rnn": gru_shapes(E, D)},
        "gen_ic": {"w": (2 * G, 2 * E), "b": (2 * G,)},
        "ic_prior": {"mean": (G,), "logvar": (G,)},
        "con": gru_shapes(C, 2 * E + F),
        "con_out": {"w": (2 * I, C), "b": (2 * I,)},
        "ii_prior": {"mean": (I,), "logatau": (I,), "lognvar": (I,)},
        "gen": gru_shapes(G, I),
        "factors": {"w": (F, G)},
        "logrates": {"w": (D, F), "b": (D,)},
    }
    flat = {}

    def walk(prefix, d):
        for k, v in d.items():
            if isinstance(v, dict):
                walk(prefix + k + "/", v)
            else:
                flat[prefix + k] = tuple(v)
    walk("", nested)
    return flat


def nest(flat):
    out = {}
    for key, value in flat.items():
        parts = key.split("/")
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = value
    return out


def write_dict(group, d):
    for k, v in d.items():
        if isinstance(v, dict):
            write_dict(group.create_group(k), v)
        else:
            group.create_dataset(k, data=v)


def datasets(group, skip=()):
    """Every dataset under group as {'a/b/c': array}, skipping the top-level
    names in skip."""
    found = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.split("/")[0] not in skip:
            found[name] = obj
    group.visititems(visit)
    return found


# ----------------------------------------------------------------------------
# write-params
# ----------------------------------------------------------------------------

def random_params(sizes, seed):
    D, E, C, I, G, F = sizes
    rng = np.random.default_rng(seed)
    shapes = param_shapes(*sizes)
    p = {}
    for key, shape in shapes.items():
        last = key.split("/")[-1]
        if len(shape) == 2:  # weights: N(0, 1) / sqrt(fan-in), a little larger
            p[key] = rng.normal(size=shape) * 1.3 / np.sqrt(shape[1])
        else:  # h0s, biases: moderate, non-zero so every term is exercised
            p[key] = 0.4 * rng.normal(size=shape)
        if last == "logvar":
            p[key] = np.log(0.1) + 0.3 * rng.normal(size=shape)
    # Posterior log-variances around log 0.1: the second halves of the
    # affine maps' biases.
    p["gen_ic/b"][G:] += np.log(0.1)
    p["con_out/b"][I:] += np.log(0.1)
    p["ii_prior/logatau"] = 0.3 * rng.normal(size=(I,))
    p["ii_prior/lognvar"] = np.log(0.1) + 0.3 * rng.normal(size=(I,))
    p["logrates/b"] = np.log(1.5) + 0.2 * rng.normal(size=(D,))
    return {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}


def write_params(out, sizes, seed):
    params = random_params(sizes, seed)
    with h5py.File(out, "w") as f:
        write_dict(f, nest(params))


# ----------------------------------------------------------------------------
# The model, from the tutorial's equations (batched over trials: row b of
# every (B, n) array is trial b)
# ----------------------------------------------------------------------------

def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lfads_gru(p, h, x):
    """The seed's GRU: bias 0.5 on the update gate, [h; x] concatenated."""
    bfg = 0.5
    n = h.shape[1]
    hx = np.concatenate([h, x], axis=1)
    ru = hx @ p["wRUHX"].T + p["bRU"]
    r, u = ru[:, :n], ru[:, n:]
    r = sigmoid(r)
    u = sigmoid(u + bfg)
    rhx = np.concatenate([r * h, x], axis=1)
    c = np.tanh(rhx @ p["wCHX"].T + p["bC"])
    return u * h + (1.0 - u) * c


def diag_gaussian_sample(eps, mean, logvar, varmin):
    logvar_wm = np.log(np.exp(logvar) + varmin)
    return mean + np.exp(0.5 * logvar_wm) * eps


def diag_gaussian_log_likelihood(z, mean, logvar, varmin):
    # As the seed: the leading logvar is not floored, the scale is.
    logvar_wm = np.log(np.exp(logvar) + varmin)
    return -0.5 * (logvar + np.log(2 * np.pi)
                   + np.square((z - mean) / np.exp(0.5 * logvar_wm)))


def kl_gauss_gauss(z_mean, z_logvar, prior_mean, prior_logvar, varmin):
    z_logvar_wm = np.log(np.exp(z_logvar) + varmin)
    prior_logvar_wm = np.log(np.exp(prior_logvar) + varmin)
    return 0.5 * (prior_logvar_wm - z_logvar_wm
                  + np.exp(z_logvar_wm - prior_logvar_wm)
                  + np.square((z_mean - prior_mean)
                              / np.exp(0.5 * prior_logvar_wm))
                  - 1.0)


def kl_gauss_ar1(eps_bti, mean_bti, logvar_bti, ar1, varmin):
    """The seed's one-sample KL, per trial and ii dim: (B, I). Literal,
    including log(exp(lognvar + varmin)) for the noise log-variance."""
    ll = diag_gaussian_log_likelihood
    T = mean_bti.shape[1]
    ar1_mean = ar1["mean"]
    ar1_lognoisevar = np.log(np.exp(ar1["lognvar"] + varmin))
    phi = np.exp(-np.exp(-ar1["logatau"]))
    logprocessvar = ar1_lognoisevar - (np.log(1 - phi) + np.log(1 + phi))
    z0 = diag_gaussian_sample(eps_bti[:, 0], mean_bti[:, 0], logvar_bti[:, 0],
                              varmin)
    logq = ll(z0, mean_bti[:, 0], logvar_bti[:, 0], varmin)
    logp = ll(z0, ar1_mean, logprocessvar, 0.0)
    z_last = z0
    for t in range(1, T):
        z = diag_gaussian_sample(eps_bti[:, t], mean_bti[:, t],
                                 logvar_bti[:, t], varmin)
        logq = logq + ll(z, mean_bti[:, t], logvar_bti[:, t], varmin)
        logp = logp + ll(z, ar1_mean + phi * z_last, ar1_lognoisevar, 0.0)
        z_last = z
    return logq - logp


def run_gru(p, x_btu, h0, reverse=False):
    B, T, _ = x_btu.shape
    h = np.broadcast_to(h0, (B, h0.shape[0]))
    out = [None] * T
    for t in (reversed(range(T)) if reverse else range(T)):
        h = lfads_gru(p, h, x_btu[:, t])
        out[t] = h
    return np.stack(out, axis=1)


def lfads_losses(params, x, noise, var_min, l2reg, kl_scale):
    """params: nested dict; x: (B, T, D); noise: dict of the draws."""
    B, T, _ = x.shape
    E = params["ic_enc"]["fwd_rnn"]["h0"].shape[0]
    G = params["gen"]["h0"].shape[0]
    I = params["ii_prior"]["mean"].shape[0]
    F = params["factors"]["w"].shape[0]

    # Encoder.
    xd = x * noise["data_mask"]
    enc = params["ic_enc"]
    fwd = run_gru(enc["fwd_rnn"], xd, enc["fwd_rnn"]["h0"])
    bwd = run_gru(enc["bwd_rnn"], xd, enc["bwd_rnn"]["h0"], reverse=True)
    xenc = np.concatenate([fwd, bwd], axis=2) * noise["enc_mask"]
    ends = np.concatenate([bwd[:, 0], fwd[:, T - 1]], axis=1) * noise["ends_mask"]
    ic = ends @ params["gen_ic"]["w"].T + params["gen_ic"]["b"]
    ic_mean, ic_logvar = ic[:, :G], ic[:, G:]

    # Decoder.
    c = np.broadcast_to(params["con"]["h0"], (B, params["con"]["h0"].shape[0]))
    g = diag_gaussian_sample(noise["ic_eps"], ic_mean, ic_logvar, var_min)
    f = np.zeros((B, F))
    wf = params["factors"]["w"]
    wf = wf / np.sqrt(np.sum(wf ** 2, axis=1, keepdims=True))
    ii_mean_t, ii_logvar_t, lograte_t = [], [], []
    for t in range(T):
        c = lfads_gru(params["con"], c, np.concatenate([xenc[:, t], f], axis=1))
        cout = c @ params["con_out"]["w"].T + params["con_out"]["b"]
        ii_mean, ii_logvar = cout[:, :I], cout[:, I:]
        ii = diag_gaussian_sample(noise["ii_eps"][:, t], ii_mean, ii_logvar,
                                  var_min)
        g = lfads_gru(params["gen"], g, ii) * noise["gen_mask"][:, t]
        f = g @ wf.T
        lograte = f @ params["logrates"]["w"].T + params["logrates"]["b"]
        ii_mean_t.append(ii_mean)
        ii_logvar_t.append(ii_logvar)
        lograte_t.append(lograte)
    ii_mean_t = np.stack(ii_mean_t, axis=1)
    ii_logvar_t = np.stack(ii_logvar_t, axis=1)
    lograte_t = np.stack(lograte_t, axis=1)

    # Losses: sums over time and dims, means over trials.
    nll = -np.sum(x * lograte_t - np.exp(lograte_t)) / B
    kl_ic = np.sum(kl_gauss_gauss(ic_mean, ic_logvar, params["ic_prior"]["mean"],
                                  params["ic_prior"]["logvar"], var_min)) / B
    kl_ii = np.sum(kl_gauss_ar1(noise["kl_eps"], ii_mean_t, ii_logvar_t,
                                params["ii_prior"], var_min)) / B
    leaves = []

    def collect(d):
        for v in d.values():
            if isinstance(v, dict):
                collect(v)
            else:
                leaves.append(v)
    collect(params)
    l2 = l2reg * sum(float(np.sum(np.square(v))) for v in leaves)
    total = nll + kl_scale * (kl_ic + kl_ii) + l2
    return {"nll": nll, "kl_ic": kl_ic, "kl_ii": kl_ii, "l2": l2,
            "total": total}


# ----------------------------------------------------------------------------
# check
# ----------------------------------------------------------------------------

def check(path, params_path=None):
    errors = []
    with h5py.File(path, "r") as f:
        sizes = [int(s) for s in f["config/sizes"][()]]
        if len(sizes) != 6:
            raise SystemExit("config/sizes must hold [D, E, C, I, G, F], got %r" % sizes)
        D, E, C, I, G, F = sizes
        var_min = float(f["config/var_min"][()])
        l2reg = float(f["config/l2"][()])
        kl_scale = float(f["config/kl_scale"][()])
        expected = param_shapes(*sizes)
        found = datasets(f, skip=RESERVED)
        for key in sorted(set(expected) - set(found)):
            errors.append("missing parameter key %s" % key)
        for key in sorted(set(found) - set(expected)):
            errors.append("extra key %s (shape %s)" % (key, found[key].shape))
        flat = {}
        for key in sorted(set(expected) & set(found)):
            ds = found[key]
            if ds.shape != expected[key]:
                errors.append("%s: shape %s, the tutorial's is %s"
                              % (key, ds.shape, expected[key]))
            if ds.dtype != np.float64:
                errors.append("%s: dtype %s, expected float64" % (key, ds.dtype))
            flat[key] = np.asarray(ds[()], dtype=np.float64)
        x = np.asarray(f["counts"][()], dtype=np.float64)
        B, T = x.shape[0], x.shape[1]
        noise_shapes = {"data_mask": (B, T, D), "enc_mask": (B, T, 2 * E),
                        "ends_mask": (B, 2 * E), "gen_mask": (B, T, G),
                        "ic_eps": (B, G), "ii_eps": (B, T, I),
                        "kl_eps": (B, T, I)}
        if x.shape != (B, T, D):
            errors.append("counts: shape %s, expected (B, T, %d)" % (x.shape, D))
        noise = {}
        for name, shape in noise_shapes.items():
            noise[name] = np.asarray(f["noise/" + name][()], dtype=np.float64)
            if noise[name].shape != shape:
                errors.append("noise/%s: shape %s, expected %s"
                              % (name, noise[name].shape, shape))
        cpp = {k: float(f["losses/" + k][()])
               for k in ("nll", "kl_ic", "kl_ii", "l2", "total")}

    if params_path is not None:
        with h5py.File(params_path, "r") as f:
            original = {k: ds[()] for k, ds in datasets(f).items()}
        if set(original) != set(flat):
            errors.append("round trip: keys differ from %s: %s" % (
                params_path, sorted(set(original) ^ set(flat))))
        for key in sorted(set(original) & set(flat)):
            a, b = original[key], flat[key]
            if a.dtype != b.dtype or a.shape != b.shape or \
                    a.tobytes() != b.tobytes():
                diff = np.max(np.abs(a - b)) if a.shape == b.shape else None
                errors.append("round trip: %s differs from %s (max |diff| %s)"
                              % (key, params_path, diff))
        if not errors:
            print("round trip: all %d parameters equal %s bit for bit"
                  % (len(flat), params_path))

    if errors:
        print("\n".join(errors))
        return 1

    ref = lfads_losses(nest(flat), x, noise, var_min, l2reg, kl_scale)
    print("sizes D E C I G F = %s, B = %d, T = %d, kl_scale = %g"
          % (sizes, B, T, kl_scale))
    print("%-6s %24s %24s %10s" % ("term", "C++", "numpy", "rel diff"))
    bad = 0
    for k in ("nll", "kl_ic", "kl_ii", "l2", "total"):
        a, b = cpp[k], float(ref[k])
        rel = abs(a - b) / max(abs(a), abs(b), 1e-300)
        ok = np.isfinite(a) and rel <= TOLERANCE
        bad += not ok
        print("%-6s %24.17g %24.17g %10.3g%s" % (k, a, b, rel,
                                                 "" if ok else "  MISMATCH"))
    return 1 if bad else 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "write-params" and len(argv) == 10:
        write_params(argv[2], [int(a) for a in argv[3:9]], int(argv[9]))
        return 0
    if len(argv) in (3, 4) and argv[1] == "check":
        return check(argv[2], argv[3] if len(argv) == 4 else None)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
