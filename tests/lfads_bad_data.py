"""Runs lfads_integrator on bad data files and checks each is refused with
exit status 1, a one-line message naming the file, the key and what was
expected, and no results written.

    /usr/bin/python3 tests/lfads_bad_data.py path/to/lfads_integrator
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

program = sys.argv[1]
rng = np.random.default_rng(0)
N, T, n = 300, 6, 5


def good():
    return {"inputs": rng.normal(size=(N, T, 1)).astype(np.float32),
            "hiddens": np.tanh(rng.normal(size=(N, T, n))).astype(np.float32),
            "outputs": rng.normal(size=(N, T, 1)).astype(np.float32),
            "targets": rng.normal(size=(N, T, 1)).astype(np.float32),
            "h0s": np.tanh(rng.normal(size=(N, n))).astype(np.float32)}


def without(key):
    d = good()
    del d[key]
    return d


def replaced(key, value):
    d = good()
    d[key] = value
    return d


nan_hiddens = good()["hiddens"]
nan_hiddens[3, 2, 1] = np.nan
cases = {
    "missing hiddens": (without("hiddens"), ["'hiddens'", "missing"]),
    "missing inputs": (without("inputs"), ["'inputs'"]),
    "missing h0s": (without("h0s"), ["'h0s'"]),
    "hiddens of rank 2": (replaced("hiddens", np.zeros((N, T), np.float32)), ["'hiddens'", "(trials, T, units)"]),
    "inputs of the wrong shape": (replaced("inputs", np.zeros((N, T + 1, 1), np.float32)), ["'inputs'", "expected shape"]),
    "h0s of the wrong shape": (replaced("h0s", np.zeros((N, n + 1), np.float32)), ["'h0s'", "expected shape"]),
    "integer hiddens": (replaced("hiddens", np.zeros((N, T, n), np.int64)), ["'hiddens'", "int64"]),
    "NaN in hiddens": (replaced("hiddens", nan_hiddens), ["'hiddens'", "NaN"]),
    "hiddens outside [-1, 1]": (replaced("hiddens", 3 * np.ones((N, T, n), np.float32)), ["'hiddens'", "[-1, 1]"]),
    "fewer trials than a batch": ({k: v[:100] for k, v in good().items()}, ["fewer than one batch"]),
}

failures = []
with tempfile.TemporaryDirectory() as tmp:
    for name, (data, expected) in cases.items():
        path = os.path.join(tmp, name.replace(" ", "_") + ".h5")
        with h5py.File(path, "w") as f:
            for k, v in data.items():
                f[k] = v
        out = os.path.join(tmp, "out_" + name.replace(" ", "_"))
        r = subprocess.run([program, "--data", path, "--out", out, "--steps", "1", "--batch", "128"],
                           capture_output=True, text=True, timeout=120)
        message = r.stderr.strip()
        problems = []
        if r.returncode != 1:
            problems.append(f"exit status {r.returncode}, expected 1")
        for word in expected + ([path] if "batch" not in name else []):
            if word not in message:
                problems.append(f"message lacks {word!r}")
        if len(message.splitlines()) != 1:
            problems.append("message is not one line")
        left = [f for f in ("params.h5", "posterior.h5", "summary.json") if os.path.exists(os.path.join(out, f))]
        if left:
            problems.append(f"left results behind: {left}")
        status = "ok" if not problems else "FAIL: " + "; ".join(problems)
        print(f"{name:28s} {status}\n    {message}")
        if problems:
            failures.append(name)
    # A file that is not HDF5 at all.
    path = os.path.join(tmp, "not_hdf5.h5")
    with open(path, "w") as f:
        f.write("spikes,1,2,3\n")
    r = subprocess.run([program, "--data", path, "--out", os.path.join(tmp, "o"), "--steps", "1"],
                       capture_output=True, text=True, timeout=120)
    ok = r.returncode == 1 and path in r.stderr
    print(f"{'not an HDF5 file':28s} {'ok' if ok else 'FAIL'}\n    {r.stderr.strip()}")
    if not ok:
        failures.append("not an HDF5 file")
print(f"{len(cases) + 1 - len(failures)}/{len(cases) + 1} bad data files refused as expected")
sys.exit(1 if failures else 0)
