"""GPU reference for bench_cuda: the same workloads in PyTorch and JAX on
the same GPU, timed as ../../shared/reference times them on the CPU (warm-up
steps, then the median of timed steps; every step ends with a device
synchronisation, so its time is the whole step).

    python3 reference_gpu.py --json out.json [--device cuda|cpu] [--only a,b,c,d,e] [--quick]

Workloads (the tutorials' equations and hyperparameters, SPEC.md; written
from the equations, like the CPU reference):
  a  integrator vanilla RNN training step: n 100, B 128, T 25; Adam eps 0.1,
     lr 0.025 * 0.99975^i, global-norm clip 10, L2 2e-4
  b  decision GRU training step (the tutorials' GRU): n 100, B 128, T 25;
     readout at the last step; lr 0.04 * 0.9999^i, L2 2e-5
  c  one Adam step of the fixed-point finder on 10000 candidates of a
     random GRU (n 100): q = mean (h - F(h))^2, lr 0.2 * 0.9999^i, eps 1e-5
  d  LFADS training step at the tutorial's sizes (B 128, T 25, D 100,
     encoder/controller/generator 128, factors 32, one inferred input):
     the equations of ../../shared/reference/wl_lfads.py (dropout 0.98,
     sampled IC and inferred inputs, normed factors, Poisson NLL, the KL of
     the IC and the sampled AR(1) KL, L2 2e-5 on every parameter); Adam eps
     0.1, lr 0.05 * 0.9999^i, clip 10, the KL warm-up; spikes Poisson with
     rates in [0.5, 3] per bin. PyTorch only (hand loop + autograd).
  e  one FORCE training pass: ESN n 500, m 20, 300 Euler steps with RLS
     after each, P and wO carried from pass to pass
Variants: PyTorch eager (the tutorial's loop with autograd; for a and b also
the cuDNN RNN/GRU modules, whose GRU has other gate equations; for e the
in-place BLAS-2 form); JAX as the tutorials write it: jit of the whole step,
lax.scan over time, jax.example_libraries.optimizers.adam.

float32 throughout with full-precision matmuls: TF32 is off in torch
(matmul and cuDNN) and jax_default_matmul_precision is "highest" (JAX would
use TF32 on Hopper otherwise), as ctd's float GEMMs are full fp32.
A library that is missing, or has no GPU, loses its rows and says so.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # share the GPU with torch

import numpy as np

N, U, O, B, T = 100, 1, 1, 128, 25
INTEGRATOR = dict(lr0=0.025, decay=0.99975, eps=0.1, l2=2e-4, g=0.85)
DECISION = dict(lr0=0.04, decay=0.9999, eps=0.1, l2=2e-5)
FINDER = dict(points=10000, trials=400, lr0=0.2, decay=0.9999, eps=1e-5)
FORCE = dict(n=500, m=20, steps=300, dt_over_tau=0.1, g_teacher=1.8, g=1.5)
LFADS = dict(data=100, enc=128, con=128, gen=128, factors=32, ii=1, var_min=0.001, l2=2e-5,
             ic_prior_var=0.1, ar_mean=0.0, ar_tau=1.0, ar_noise_var=0.1, keep=0.98,
             lr0=0.05, decay=0.9999, eps=0.1, warmup=(500.0, 1000.0, 0.01, 1.0))


def timed(step, warmup, samples, sync):
    """step(i) warmup times, then samples timed calls; ms per call."""
    for i in range(warmup):
        step(i)
    sync()
    times = []
    for i in range(samples):
        t0 = time.perf_counter()
        step(warmup + i)
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def row(workload, variant, times, notes=""):
    return {"workload": workload, "variant": variant, "n_timed": len(times),
            "median_ms": statistics.median(times), "min_ms": min(times),
            "max_ms": max(times), "notes": notes,
            "times_ms": [round(t, 4) for t in times]}


# ---------------------------------------------------------------------------
# Data (numpy, before timing)
# ---------------------------------------------------------------------------

def white_noise(rng, trials, bval=0.01, sval=0.025):
    """(trials, T) inputs of the integrator/decision tasks (SPEC §1a)."""
    dt = 1.0 / T
    bias = bval * 2.0 * (rng.standard_normal((trials, 1)) - 0.5)
    return (bias + sval / math.sqrt(dt) * rng.standard_normal((trials, T))).astype(np.float32)


def supervised_batches(rng, decision, count=8):
    """count (x, y) pairs, x (B, T, 1); y the cumulative sum (integrator) or
    the sign of the total at the last step, (B, 1) (decision)."""
    out = []
    for _ in range(count):
        x = white_noise(rng, B)
        if decision:
            y = np.where(x.sum(axis=1, keepdims=True) > 0, 1.0, -1.0).astype(np.float32)
        else:
            y = np.cumsum(x, axis=1)[..., None]
        out.append((x[..., None], y))
    return out


def gru_params(rng, h_scale=0.1):
    """The tutorials' GRU: wRUHX (2n, n+u), wCHX (n, n+u), hidden columns
    N/sqrt(n), input columns N/sqrt(u), biases 0."""
    def cols(rows):
        return np.concatenate([rng.standard_normal((rows, N)) / math.sqrt(N),
                               rng.standard_normal((rows, U)) / math.sqrt(U)], axis=1)
    p = {"h0": rng.standard_normal(N) * h_scale, "wRUHX": cols(2 * N), "wCHX": cols(N),
         "bRU": np.zeros(2 * N), "bC": np.zeros(N)}
    return {k: v.astype(np.float32) for k, v in p.items()}


def vanilla_params(rng):
    p = {"h0": rng.standard_normal(N) * 0.1, "wI": rng.standard_normal((N, U)) / math.sqrt(U),
         "wR": rng.standard_normal((N, N)) * INTEGRATOR["g"] / math.sqrt(N), "bR": np.zeros(N)}
    return {k: v.astype(np.float32) for k, v in p.items()}


def readout_params(rng):
    return {"wO": (rng.standard_normal((O, N)) / math.sqrt(N)).astype(np.float32),
            "bO": np.zeros(O, np.float32)}


def gru_step_np(p, h, x):
    """numpy GRU step on a batch h (P, n), x (P, u): the finder's candidates."""
    sig = lambda z: 0.5 * (np.tanh(0.5 * z) + 1)
    ru = np.concatenate([h, x], 1) @ p["wRUHX"].T + p["bRU"]
    r, u = sig(ru[:, :N]), sig(ru[:, N:] + 0.5)
    c = np.tanh(np.concatenate([r * h, x], 1) @ p["wCHX"].T + p["bC"])
    return u * h + (1 - u) * c


def finder_problem(rng):
    """A random GRU and 10000 candidates: its states over 400 decision trials."""
    p = gru_params(rng)
    x = white_noise(rng, FINDER["trials"])
    h = np.broadcast_to(p["h0"], (FINDER["trials"], N))
    states = []
    for t in range(T):
        h = gru_step_np(p, h, x[:, t:t + 1])
        states.append(h)
    return p, np.stack(states, 1).reshape(-1, N).astype(np.float32)


def lfads_batches(rng, count=8):
    """count spike batches (B, T, data): Poisson, rates uniform in [0.5, 3]."""
    shape = (B, T, LFADS["data"])
    return [rng.poisson(0.5 + 2.5 * rng.random(shape)).astype(np.float32) for _ in range(count)]


def lfads_params(rng):
    """The tutorial's initial LFADS parameters (lfads_params), flat names:
    GRUs as gru_params (h0 = 0, biases 0), affine maps N/sqrt(fan-in) with
    zero biases, the priors at their configured values."""
    hp = LFADS
    D, E, C, G, Fd, I = hp["data"], hp["enc"], hp["con"], hp["gen"], hp["factors"], hp["ii"]
    p = {}

    def gru(prefix, n, u):
        def cols(rows):
            return np.concatenate([rng.standard_normal((rows, n)) / math.sqrt(n),
                                   rng.standard_normal((rows, u)) / math.sqrt(u)], axis=1)
        p.update({prefix + "h0": np.zeros(n), prefix + "wRUHX": cols(2 * n), prefix + "wCHX": cols(n),
                  prefix + "bRU": np.zeros(2 * n), prefix + "bC": np.zeros(n)})

    def affine(prefix, o, u, bias=True):
        p[prefix + "w"] = rng.standard_normal((o, u)) / math.sqrt(u)
        if bias:
            p[prefix + "b"] = np.zeros(o)

    gru("enc_fwd/", E, D)
    gru("enc_bwd/", E, D)
    affine("gen_ic/", 2 * G, 2 * E)
    p["ic_prior/mean"] = np.zeros(G)
    p["ic_prior/logvar"] = np.full(G, math.log(hp["ic_prior_var"]))
    gru("con/", C, 2 * E + Fd)
    affine("con_out/", 2 * I, C)
    p["ii_prior/mean"] = np.full(I, hp["ar_mean"])
    p["ii_prior/logatau"] = np.full(I, math.log(hp["ar_tau"]))
    p["ii_prior/lognvar"] = np.full(I, math.log(hp["ar_noise_var"]))
    gru("gen/", G, I)
    affine("factors/", Fd, G, bias=False)
    affine("logrates/", D, Fd)
    return {k: v.astype(np.float32) for k, v in p.items()}


def kl_warmup(i):
    start, end, lo, hi = LFADS["warmup"]
    if i < start:
        return lo
    if i > end:
        return hi
    return (hi - lo) * (i - start) / (end - start) + lo


def force_problem(rng):
    """Student ESN parameters and the chaotic teacher's targets (m, steps)."""
    n, m, k = FORCE["n"], FORCE["m"], FORCE["dt_over_tau"]

    def esn(g):
        return {"a0": rng.standard_normal(n) * 0.25, "wI": rng.standard_normal((n, U)),
                "wR": rng.standard_normal((n, n)) * g / math.sqrt(n),
                "wO": rng.standard_normal((m, n)) / math.sqrt(n), "wF": rng.standard_normal((n, m))}
    teacher = esn(FORCE["g_teacher"])
    a = teacher["a0"].copy()
    h = np.tanh(a)
    z = teacher["wO"] @ h
    targets = []
    for _ in range(FORCE["steps"]):
        a = a + k * (-a + teacher["wR"] @ h + teacher["wF"] @ z)
        h = np.tanh(a)
        z = teacher["wO"] @ h
        targets.append(h[:m].copy())
    student = {key: v.astype(np.float32) for key, v in esn(FORCE["g"]).items()}
    return student, np.stack(targets, 1).astype(np.float32)


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------

def torch_rows(only, device, warmup, samples):
    import torch
    import torch.nn.functional as F

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    on = lambda a: torch.as_tensor(a, device=dev)
    name = "torch CUDA" if dev.type == "cuda" else "torch CPU"
    rows = []

    def optimizer(params, hp):
        opt = torch.optim.Adam(params, lr=hp["lr0"], betas=(0.9, 0.999), eps=hp["eps"])
        return opt, torch.optim.lr_scheduler.ExponentialLR(opt, gamma=hp["decay"])

    def train_step(params, opt, sched, loss_fn, clip=10.0):
        def step(i):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(i)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            sched.step()
        return step

    def l2(params, weight):
        return weight * sum((p * p).sum() for p in params)

    def supervised(workload, decision, hp, make_params, run_hand, make_module):
        rng = np.random.default_rng(0)
        data = [(on(x), on(y)) for x, y in supervised_batches(rng, decision)]
        p = {k: on(v).requires_grad_(True) for k, v in {**make_params(rng), **readout_params(rng)}.items()}
        opt, sched = optimizer(list(p.values()), hp)

        def hand_loss(i):
            x, y = data[i % len(data)]
            out = run_hand(p, x)
            return torch.mean((out - y) ** 2) + l2(p.values(), hp["l2"])
        times = timed(train_step(list(p.values()), opt, sched, hand_loss), warmup, samples, sync)
        rows.append(row(workload, name + ", hand loop + autograd", times))

        module, readout, h0 = make_module(rng)
        params = list(module.parameters()) + list(readout.parameters()) + [h0]
        opt, sched = optimizer(params, hp)

        def module_loss(i):
            x, y = data[i % len(data)]
            hs, h_last = module(x, h0.expand(1, B, N).contiguous())
            out = readout(h_last[0] if decision else hs)
            return torch.mean((out - y) ** 2) + l2(params, hp["l2"])
        times = timed(train_step(params, opt, sched, module_loss), warmup, samples, sync)
        library = "nn.GRU (cuDNN, other gate eqs)" if decision else "nn.RNN (cuDNN)"
        rows.append(row(workload, name + ", " + library, times))

    def vanilla_hand(p, x):
        h = p["h0"].expand(B, N)
        hs = []
        for t in range(T):
            h = torch.tanh(F.linear(x[:, t], p["wI"], p["bR"]) + F.linear(h, p["wR"]))
            hs.append(h)
        return F.linear(torch.stack(hs, 1), p["wO"], p["bO"])

    def gru_cell(p, h, x):
        ru = F.linear(torch.cat([h, x], 1), p["wRUHX"], p["bRU"])
        r, u = ru.chunk(2, 1)
        r, u = torch.sigmoid(r), torch.sigmoid(u + 0.5)
        c = torch.tanh(F.linear(torch.cat([r * h, x], 1), p["wCHX"], p["bC"]))
        return u * h + (1 - u) * c

    def gru_hand(p, x):
        h = p["h0"].expand(B, N)
        for t in range(T):
            h = gru_cell(p, h, x[:, t])
        return F.linear(h, p["wO"], p["bO"])

    def module_for(kind):
        def make(rng):
            cls = torch.nn.GRU if kind == "gru" else torch.nn.RNN
            module = cls(U, N, batch_first=True).to(dev)
            readout = torch.nn.Linear(N, O).to(dev)
            h0 = on((rng.standard_normal(N) * 0.1).astype(np.float32)).requires_grad_(True)
            return module, readout, h0
        return make

    if "a" in only:
        supervised("a_integrator_vrnn_train", False, INTEGRATOR, vanilla_params, vanilla_hand, module_for("rnn"))
    if "b" in only:
        supervised("b_gru_decision_train", True, DECISION, gru_params, gru_hand, module_for("gru"))
    if "c" in only:
        rng = np.random.default_rng(0)
        params, candidates = finder_problem(rng)
        p = {k: on(v) for k, v in params.items()}
        H = on(candidates).requires_grad_(True)
        zero = torch.zeros(H.shape[0], U, device=dev)
        opt, sched = optimizer([H], FINDER)
        step = train_step([H], opt, sched, lambda i: torch.mean((H - gru_cell(p, H, zero)) ** 2), clip=None)
        rows.append(row("c_fixed_point_adam_step", name + ", autograd + Adam", timed(step, warmup, samples, sync)))
    if "d" in only:
        hp = LFADS
        vmin, keep, G, I = hp["var_min"], hp["keep"], hp["gen"], hp["ii"]
        log_2pi = math.log(2.0 * math.pi)
        rng = np.random.default_rng(0)
        torch.manual_seed(0)  # dropout and the samples draw from torch's generator
        data = [on(x) for x in lfads_batches(rng)]
        p = {k: on(v).requires_grad_(True) for k, v in lfads_params(rng).items()}
        sub = lambda prefix: {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)}
        enc_fwd, enc_bwd, con, gen = sub("enc_fwd/"), sub("enc_bwd/"), sub("con/"), sub("gen/")
        drop = lambda x: F.dropout(x, p=1.0 - keep, training=True)

        def sample(mean, logvar):
            return mean + torch.exp(0.5 * torch.log(torch.exp(logvar) + vmin)) * torch.randn_like(mean)

        def log_likelihood(z, mean, logvar, varmin):
            # The seed's: the leading logvar is not var_min adjusted, the scale is.
            scale = torch.exp(0.5 * torch.log(torch.exp(logvar) + varmin))
            return -0.5 * (logvar + log_2pi + ((z - mean) / scale) ** 2)

        def lfads_loss(i):
            x = data[i % len(data)]
            # Encoder: a bidirectional GRU over the dropped-out data.
            xd = drop(x)
            h = enc_fwd["h0"].expand(B, -1)
            fwd = []
            for t in range(T):
                h = gru_cell(enc_fwd, h, xd[:, t])
                fwd.append(h)
            h = enc_bwd["h0"].expand(B, -1)
            bwd = [None] * T
            for t in reversed(range(T)):
                h = gru_cell(enc_bwd, h, xd[:, t])
                bwd[t] = h
            xenc = drop(torch.cat([torch.stack(fwd, 1), torch.stack(bwd, 1)], 2))
            ends = drop(torch.cat([bwd[0], fwd[-1]], 1))
            ic_mean, ic_logvar = F.linear(ends, p["gen_ic/w"], p["gen_ic/b"]).chunk(2, 1)
            # Decoder: controller -> inferred input -> generator -> factors.
            c = con["h0"].expand(B, -1)
            g = sample(ic_mean, ic_logvar)
            f = torch.zeros(B, hp["factors"], device=dev)
            wf = p["factors/w"] / torch.sqrt(torch.sum(p["factors/w"] ** 2, dim=1, keepdim=True))
            ii_means, ii_logvars, factors = [], [], []
            for t in range(T):
                c = gru_cell(con, c, torch.cat([xenc[:, t], f], 1))
                ii_mean, ii_logvar = F.linear(c, p["con_out/w"], p["con_out/b"]).chunk(2, 1)
                g = drop(gru_cell(gen, g, sample(ii_mean, ii_logvar)))
                f = F.linear(g, wf)
                ii_means.append(ii_mean)
                ii_logvars.append(ii_logvar)
                factors.append(f)
            lograte = F.linear(torch.stack(factors, 1), p["logrates/w"], p["logrates/b"])
            # Losses, summed over time and dimensions, averaged over trials.
            nll = -(x * lograte - torch.exp(lograte)).sum() / B
            lv = torch.log(torch.exp(ic_logvar) + vmin)
            plv = torch.log(torch.exp(p["ic_prior/logvar"]) + vmin)
            kl_ic = (0.5 * (plv - lv + torch.exp(lv - plv)
                            + ((ic_mean - p["ic_prior/mean"]) / torch.exp(0.5 * plv)) ** 2 - 1.0)).sum() / B
            mean, logvar = torch.stack(ii_means, 1), torch.stack(ii_logvars, 1)
            lognvar = torch.log(torch.exp(p["ii_prior/lognvar"] + vmin))  # as the seed writes it
            phi = torch.exp(-torch.exp(-p["ii_prior/logatau"]))
            logprocvar = lognvar - (torch.log(1 - phi) + torch.log(1 + phi))
            z = sample(mean, logvar)
            logq = log_likelihood(z, mean, logvar, vmin).sum()
            logp = (log_likelihood(z[:, 0], p["ii_prior/mean"], logprocvar, 0.0).sum()
                    + log_likelihood(z[:, 1:], p["ii_prior/mean"] + phi * z[:, :-1], lognvar, 0.0).sum())
            kl_ii = (logq - logp) / B
            return nll + kl_warmup(i) * (kl_ic + kl_ii) + l2(p.values(), hp["l2"])

        params = list(p.values())
        opt, sched = optimizer(params, hp)
        times = timed(train_step(params, opt, sched, lfads_loss), warmup, samples, sync)
        rows.append(row("d_lfads_train", name + ", hand loop + autograd", times))
    if "e" in only:
        rng = np.random.default_rng(0)
        student, targets = force_problem(rng)
        p = {k: on(v) for k, v in student.items()}
        f = on(targets.T.copy())
        k_dt = FORCE["dt_over_tau"]
        P = torch.eye(FORCE["n"], device=dev)
        wO = p["wO"].clone()
        a, h, k, drive = (torch.empty(FORCE["n"], device=dev) for _ in range(4))
        z = torch.empty(FORCE["m"], device=dev)

        def force_pass(_):
            a.copy_(p["a0"])
            torch.tanh(a, out=h)
            torch.mv(wO, h, out=z)
            for t in range(FORCE["steps"]):
                torch.mv(p["wR"], h, out=drive)
                drive.addmv_(p["wF"], z)  # zero input: wI x = 0
                a.mul_(1.0 - k_dt).add_(drive, alpha=k_dt)
                torch.tanh(a, out=h)
                torch.mv(wO, h, out=z)
                torch.mv(P, h, out=k)
                c = 1.0 / (1.0 + torch.dot(h, k).item())
                P.addr_(k, k, alpha=-c)
                wO.addr_(z - f[t], k, alpha=-c)
        rows.append(row("e_force_train_pass_300", name + ", in-place (mv, addr_)",
                        timed(force_pass, 2, max(samples // 3, 5), sync)))
    return rows


# ---------------------------------------------------------------------------
# JAX
# ---------------------------------------------------------------------------

def jax_rows(only, device, warmup, samples):
    import jax
    import jax.numpy as jnp
    from jax import lax
    from jax.example_libraries import optimizers

    jax.config.update("jax_default_matmul_precision", "highest")
    platform = jax.devices()[0].platform
    if device == "cuda" and platform != "gpu":
        print("JAX has no GPU here (platform %s): JAX rows left out" % platform, file=sys.stderr)
        return []
    name = "JAX jit, lax.scan"
    rows = []

    def sync_on(holder):
        return lambda: jax.block_until_ready(holder[0])

    def adam(hp):
        return optimizers.adam(lambda i: hp["lr0"] * hp["decay"] ** i, b1=0.9, b2=0.999, eps=hp["eps"])

    def l2(params, weight):
        return weight * sum(jnp.sum(p ** 2) for p in jax.tree_util.tree_leaves(params))

    def supervised(workload, decision, hp, make_params, run):
        rng = np.random.default_rng(0)
        data = [(jnp.asarray(x), jnp.asarray(y)) for x, y in supervised_batches(rng, decision)]
        params = {k: jnp.asarray(v) for k, v in {**make_params(rng), **readout_params(rng)}.items()}
        opt_init, opt_update, get_params = adam(hp)

        def loss(p, x, y):
            return jnp.mean((run(p, x) - y) ** 2) + l2(p, hp["l2"])

        @jax.jit
        def update(i, state, x, y):
            grads = jax.grad(loss)(get_params(state), x, y)
            return opt_update(i, optimizers.clip_grads(grads, 10.0), state)

        holder = [opt_init(params)]

        def step(i):
            x, y = data[i % len(data)]
            holder[0] = update(i, holder[0], x, y)
        rows.append(row(workload, name, timed(step, warmup, samples, sync_on(holder))))

    def vanilla(p, x):
        def cell(h, x_t):
            h = jnp.tanh(x_t @ p["wI"].T + p["bR"] + h @ p["wR"].T)
            return h, h
        _, hs = lax.scan(cell, jnp.broadcast_to(p["h0"], (B, N)), jnp.swapaxes(x, 0, 1))
        return jnp.swapaxes(hs, 0, 1) @ p["wO"].T + p["bO"]

    def gru_cell(p, h, x):
        ru = jnp.concatenate([h, x], 1) @ p["wRUHX"].T + p["bRU"]
        r = 0.5 * (jnp.tanh(0.5 * ru[:, :N]) + 1)
        u = 0.5 * (jnp.tanh(0.5 * (ru[:, N:] + 0.5)) + 1)
        c = jnp.tanh(jnp.concatenate([r * h, x], 1) @ p["wCHX"].T + p["bC"])
        return u * h + (1 - u) * c

    def gru_last(p, x):
        def cell(h, x_t):
            return gru_cell(p, h, x_t), None
        h, _ = lax.scan(cell, jnp.broadcast_to(p["h0"], (B, N)), jnp.swapaxes(x, 0, 1))
        return h @ p["wO"].T + p["bO"]

    if "a" in only:
        supervised("a_integrator_vrnn_train", False, INTEGRATOR, vanilla_params, vanilla)
    if "b" in only:
        supervised("b_gru_decision_train", True, DECISION, gru_params, gru_last)
    if "c" in only:
        rng = np.random.default_rng(0)
        params, candidates = finder_problem(rng)
        p = {k: jnp.asarray(v) for k, v in params.items()}
        zero = jnp.zeros((candidates.shape[0], U), jnp.float32)
        opt_init, opt_update, get_params = adam(FINDER)

        @jax.jit
        def update(i, state):
            h = get_params(state)
            grads = jax.grad(lambda h: jnp.mean((h - gru_cell(p, h, zero)) ** 2))(h)
            return opt_update(i, grads, state)

        holder = [opt_init(jnp.asarray(candidates))]

        def step(i):
            holder[0] = update(i, holder[0])
        rows.append(row("c_fixed_point_adam_step", "JAX jit", timed(step, warmup, samples, sync_on(holder))))
    if "e" in only:
        rng = np.random.default_rng(0)
        student, targets = force_problem(rng)
        p = {k: jnp.asarray(v) for k, v in student.items()}
        f = jnp.asarray(targets.T.copy())
        k_dt = FORCE["dt_over_tau"]

        @jax.jit
        def force_pass(p, wO, P):
            def step(carry, f_t):
                a, h, z, wO, P = carry
                a = a + k_dt * (-a + p["wR"] @ h + p["wF"] @ z)  # zero input
                h = jnp.tanh(a)
                z = wO @ h
                k = P @ h
                c = 1.0 / (1.0 + h @ k)
                P = P - c * jnp.outer(k, k)
                wO = wO - c * jnp.outer(z - f_t, k)
                return (a, h, z, wO, P), None
            h0 = jnp.tanh(p["a0"])
            (_, _, _, wO, P), _ = lax.scan(step, (p["a0"], h0, wO @ h0, wO, P), f)
            return wO, P

        holder = [(p["wO"], jnp.eye(FORCE["n"], dtype=jnp.float32))]

        def one_pass(_):
            holder[0] = force_pass(p, *holder[0])
        rows.append(row("e_force_train_pass_300", name,
                        timed(one_pass, 2, max(samples // 3, 5), sync_on(holder))))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--only", default="a,b,c,d,e")
    ap.add_argument("--quick", action="store_true", help="few steps: a smoke test, not for reporting")
    args = ap.parse_args()
    if args.device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
    only = set(args.only.split(","))
    warmup, samples = (2, 3) if args.quick else (10, 100)
    rows = []
    for library, make in (("torch", torch_rows), ("jax", jax_rows)):
        try:
            rows += make(only, args.device, warmup, samples)
        except ImportError as e:
            print("%s is not importable (%s): its rows are left out" % (library, e), file=sys.stderr)
    for r in rows:
        print("%-26s %-46s %9.3f ms" % (r["workload"], r["variant"], r["median_ms"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": args.device, "results": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
