"""The lfads program on a recording in lfads-torch's layout, as a user of
lfads-torch would run it: a JSON config file, flags that override it, and
lfads-torch's output file, read back with h5py.

    /usr/bin/python3 tests/lfads_torch_files.py BIN_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

BIN = sys.argv[1]
TRAIN, VALID, TE, T, HELD_IN, HELD_OUT, EXT = 16, 5, 4, 6, 3, 2, 1
SIZES = {"enc": 4, "con": 5, "gen": 6, "factors": 2, "ii": 1}


def main():
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory(prefix="ctd_lfads_torch_") as tmp:
        data = os.path.join(tmp, "session.h5")
        with h5py.File(data, "w") as f:
            for split, n in (("train", TRAIN), ("valid", VALID)):
                truth = rng.uniform(0.5, 2.0, size=(n, T, HELD_IN + HELD_OUT))
                recon = rng.poisson(truth).astype(np.int64)  # counts as integers, as files often hold them
                f[f"{split}_encod_data"] = recon[:, :TE, :HELD_IN]
                f[f"{split}_recon_data"] = recon
                f[f"{split}_ext_input"] = rng.normal(size=(n, T, EXT)).astype(np.float32)
                f[f"{split}_truth"] = truth.astype(np.float32)
                behavior = truth @ rng.normal(size=(HELD_IN + HELD_OUT, 2))
                behavior[:, 0, :] = np.nan  # bins without behaviour are not scored
                f[f"{split}_behavior"] = behavior
        config = os.path.join(tmp, "run.json")
        with open(config, "w") as f:
            json.dump({**SIZES, "steps": 3, "batch": 8, "samples": 2, "kl-start": 0, "kl-end": 1, "lr0": 0.01}, f)
        out = os.path.join(tmp, "out")
        argv = [os.path.join(BIN, "lfads"), "--config", config, "--data", data, "--out", out, "--steps", "2",
                "--name", "monkey", "--force"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        check(r.returncode == 0, f"lfads runs from a JSON config: {r.stderr.strip()}")
        if r.returncode != 0:
            return 1
        used = json.load(open(os.path.join(out, "config.json")))
        check(used.get("lr0") in ("0.01", 0.01) and str(used.get("gen")) == "6",
              f"config.json holds the config file's values: lr0 {used.get('lr0')}, gen {used.get('gen')}")
        check(str(used.get("steps")) == "2", f"a flag on the command line wins over the file: steps {used.get('steps')}")
        check("force" not in used and "resume" not in used, "config.json holds no action on the folder (--force)")
        summary = json.load(open(os.path.join(out, "summary.json")))
        check(summary.get("train_steps") == 2, f"summary.json: {summary.get('train_steps')} training steps")
        for key in ("bps", "co_bps", "fp_bps", "rate_r2_held_in", "rate_r2_held_out", "behavior_r2"):
            check(isinstance(summary.get(key), float), f"summary.json scores {key}: {summary.get(key)}")
        check(isinstance(summary.get("smoothing_baseline", {}).get("co_bps"), float),
              "summary.json scores the smoothing baseline's co-bps")

        # lfads-torch's run_posterior_sampling: these keys, these shapes.
        n_out = HELD_IN + HELD_OUT
        shapes = {"output_params": (T, n_out), "factors": (T, SIZES["factors"]), "ic_mean": (SIZES["gen"],),
                  "ic_std": (SIZES["gen"],), "co_means": (T, SIZES["ii"]), "co_stds": (T, SIZES["ii"]),
                  "gen_states": (T, SIZES["gen"]), "gen_init": (SIZES["gen"],),
                  "gen_inputs": (T, SIZES["ii"] + EXT), "con_states": (T, SIZES["con"])}
        with h5py.File(os.path.join(out, "lfads_output_monkey.h5"), "r") as f:
            expected = {f"{split}_{k}": (n,) + s for split, n in (("train", TRAIN), ("valid", VALID))
                        for k, s in shapes.items()}
            check(sorted(f.keys()) == sorted(expected), f"the output file has lfads-torch's keys: {sorted(f.keys())}")
            for key, shape in expected.items():
                if key in f:
                    check(f[key].shape == shape and f[key].dtype == np.float32,
                          f"{key}: {f[key].shape} {f[key].dtype}, expected {shape} float32")
            rates = f["valid_output_params"][()]
            check(bool(np.all(rates > 0) and np.all(np.isfinite(rates))), "the rates are positive and finite")
            stds = f["valid_ic_std"][()]
            check(bool(np.all(stds >= np.sqrt(0.001) - 1e-6)), "the IC stds include the variance floor")
            inputs = f["valid_gen_inputs"][()][:, :, SIZES["ii"]:]
            with h5py.File(data, "r") as d:
                check(np.allclose(inputs, d["valid_ext_input"][()]), "gen_inputs end with the measured inputs")
        with h5py.File(os.path.join(out, "params.h5"), "r") as f:
            check(f["gen/wRUHX"].shape == (2 * SIZES["gen"], SIZES["gen"] + SIZES["ii"] + EXT) and
                  f["logrates/w"].shape == (n_out, SIZES["factors"]),
                  "params.h5: the generator reads the measured inputs, the log-rates cover the held-out neurons")

        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w") as f:
            json.dump({"stpes": 3}, f)
        r = subprocess.run(argv[:1] + ["--config", bad, "--data", data, "--out", os.path.join(tmp, "o2")],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 2 and "stpes" in r.stderr, f"a config key that is no flag is refused: {r.stderr.strip()}")
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
