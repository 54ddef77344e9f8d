"""Every kind of malformed input file, through every example program that
reads one.

The inputs: a trained network (fixed_points --params for each cell type,
contextual_toy --params, and the initial_params.h5 contextual_toy reads
beside a network), candidate states (fixed_points --candidates), the
integrator data set (lfads_integrator --data), a recording in lfads-torch's
layout (lfads --data), and the checkpoint every trainer resumes from
(integrator_rnn with each cell, decision_gru, contextual_toy,
lfads_integrator). force_esn reads no file. For each input
this script writes, with h5py, every kind of wrong file: missing and extra
keys, wrong rank and extent, each wrong dtype, no elements, NaN and Inf,
huge or overflowing declared dimensions, a group or a link where a dataset
belongs, an unavailable filter, a file that is not HDF5, empty, truncated
or a directory, and bytes flipped in the signature, the superblock, a
key's name, the data, and at random places of the metadata.

A refused file must give exit status 1 and one line on stderr, naming the
file and the key and saying what was expected; nothing may crash (an
AddressSanitizer report), hang, or leave anything in the output folder.
Some variants are accepted on purpose and must run to the end (exit 0, a
summary.json, no temporary file left): float32 and float64 for each other
(values checked finite after the conversion), integers of up to 64 bits
(unsigned up to 32) where floats are expected, except the data set's
states, int32 where int64 is, big-endian floats, keys a data set or
candidate file holds besides those read, and a flipped bit in the data
that leaves it finite (HDF5 keeps no checksum of h5py's data).

    /usr/bin/python3 tests/malformed_files.py BIN_DIR
"""
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

BIN = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
ENV = dict(os.environ, OMP_NUM_THREADS="1",
           # A sanitizer report must not pass for our exit status 1.
           ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":exitcode=86",
           # libhdf5 keeps (and, after a damaged file, loses) allocations of
           # its own; the suppressed leaks are not reported on stderr.
           LSAN_OPTIONS=f"suppressions={HERE}/lsan.supp:print_suppressions=0:exitcode=87")
TIMEOUT = 300  # seconds for one run; a hang fails the case
rng = np.random.default_rng(0)
N_UNITS, VOCABULARY = 4, 12  # the networks' size; the toy language's words


def normal(*shape, scale=0.5):
    return (scale * rng.normal(size=shape)).astype(np.float32)


def network(cell, n=N_UNITS, u=1, o=1):
    tensors = {"gru": {"h0": (n,), "wRUHX": (2 * n, n + u), "wCHX": (n, n + u), "bRU": (2 * n,), "bC": (n,)},
               "vanilla": {"h0": (n,), "wI": (n, u), "wR": (n, n), "bR": (n,)},
               "lstm": {"h0": (n,), "c0": (n,), "wIFGOHX": (4 * n, n + u), "bIFGO": (4 * n,)}}[cell]
    d = {k: normal(*s) for k, s in tensors.items()}
    d.update(wO=normal(o, n), bO=normal(o))
    return d


def data_set(trials=20, steps=5, n=N_UNITS):
    return {"inputs": normal(trials, steps, 1), "hiddens": np.tanh(normal(trials, steps, n, scale=1.0)),
            "outputs": normal(trials, steps, 1), "targets": normal(trials, steps, 1),
            "h0s": np.tanh(normal(trials, n, scale=1.0))}


def lfads_torch_data(trials=(12, 4), steps=4, forward=1, held_in=3, held_out=1):
    """lfads-torch's layout: held-in neurons and encoder bins, held-out
    neurons and forward bins in the reconstruction data, true rates."""
    d = {}
    for split, n in zip(("train", "valid"), trials):
        truth = rng.uniform(0.5, 2.0, size=(n, steps + forward, held_in + held_out)).astype(np.float32)
        recon = rng.poisson(truth).astype(np.float32)
        d.update({f"{split}_encod_data": recon[:, :steps, :held_in], f"{split}_recon_data": recon,
                  f"{split}_truth": truth, f"{split}_inds": np.arange(n, dtype=np.int64)})
    return d


def write(path, d):
    """A dict of arrays as h5py writes it; a callable value writes itself."""
    with h5py.File(path, "w") as f:
        for key, value in d.items():
            if callable(value):
                value(f, key)
            else:
                f[key] = value


def read(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def run(argv, cwd=None):
    try:
        r = subprocess.run(argv, capture_output=True, env=ENV, timeout=TIMEOUT, cwd=cwd)
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return "timeout", "", ""


# --- the programs' inputs ---------------------------------------------------
# Tiny sizes everywhere: a refused file stops a program before any work, an
# accepted one runs it to the end in a second or two.
FIXED_POINTS = ["--trials", "2", "--tolerances", "0.1", "--max-steps", "2", "--no-newton"]
TOY = ["--n", "4", "--batch", "4", "--eval-trials", "4", "--train-reviews", "8", "--length", "8",
       "--candidate-reviews", "2", "--probe-reviews", "2", "--fp-tolerances", "0.1", "--fp-max-steps", "2",
       "--fp-no-newton"]
LFADS = ["--batch", "8", "--enc", "4", "--con", "4", "--gen", "4", "--factors", "2", "--ii", "1",
         "--samples", "2", "--eval-trials", "2", "--ic-fit-trials", "8", "--kl-start", "0", "--kl-end", "1"]
LFADS_TORCH = ["--batch", "8", "--enc", "4", "--con", "4", "--gen", "4", "--factors", "2", "--ii", "1",
               "--samples", "2", "--kl-start", "0", "--kl-end", "1"]
SUPERVISED = ["--n", "4", "--batch", "4", "--eval-trials", "4"]
INTEGRATOR = SUPERVISED + ["--data-batches", "1", "--data-batch-size", "4"]


class Input:
    """One file a program reads. place(case_dir) says where the case's file
    goes and which folder is --out; argv(file, out) runs the program on it."""

    def __init__(self, name, program, base, target, argv, strict_keys, float_states=False, resume=False,
                 beside=None, outcomes=None):
        self.name, self.program, self.base, self.target = name, program, base, target
        self.argv, self.strict_keys, self.float_states, self.resume = argv, strict_keys, float_states, resume
        self.beside = beside  # files written next to this one (a network beside its initial_params.h5)
        self.outcomes = outcomes or {}  # variant name -> its outcome where this input differs

    def place(self, case_dir):
        out = os.path.join(case_dir, "out")
        if self.resume:  # the checkpoint lives in the folder of the run it continues
            os.makedirs(out)
            return os.path.join(out, "checkpoint.h5"), out
        folder = os.path.join(case_dir, "in")
        os.makedirs(folder)
        for name, content in (self.beside or {}).items():
            write(os.path.join(folder, name), content)
        return os.path.join(folder, "initial_params.h5" if self.beside else "file.h5"), out


def make_inputs(tmp):
    def program(name):
        return os.path.join(BIN, name)

    gru = network("gru")
    gru_file, data_file = os.path.join(tmp, "gru.h5"), os.path.join(tmp, "data.h5")
    write(gru_file, gru)
    write(data_file, data_set())

    def trained(name, argv):
        """The files of one training step, written by the program itself."""
        out = os.path.join(tmp, "trained_" + name.replace(" ", "_"))
        rc, _, err = run(argv + ["--out", out, "--steps", "1", "--checkpoint-every", "1"])
        assert rc == 0, f"{name}: its first step failed ({rc}): {err}"
        return lambda file: read(os.path.join(out, file))

    def resume(name, argv, target="params/h0", files=None):
        checkpoint = (files or trained(name, argv))("checkpoint.h5")
        return Input(name + " --resume", os.path.basename(argv[0]), checkpoint, target,
                     lambda f, out: argv + ["--resume", "--out", out, "--steps", "2"], strict_keys=True, resume=True)

    fp = [program("fixed_points")]
    toy_program = [program("contextual_toy")] + TOY
    # The toy's analysis needs a network that has seen the language (a
    # random one can lack the modes it looks for): that of one step.
    toy_files = trained("contextual_toy", toy_program)
    toy = toy_files("params.h5")
    inputs = [Input(f"fixed_points --params ({cell})", "fixed_points", network(cell), target,
                    lambda f, out: fp + ["--params", f, "--out", out] + FIXED_POINTS, strict_keys=True)
              # Targets that set none of the sizes (n, u, o), which the loader infers.
              for cell, target in (("gru", "wCHX"), ("vanilla", "wR"), ("lstm", "bIFGO"))]
    inputs += [
        Input("fixed_points --candidates", "fixed_points", {"candidates": normal(20, N_UNITS)}, "candidates",
              lambda f, out: fp + ["--params", gru_file, "--candidates", f, "--out", out] + FIXED_POINTS,
              strict_keys=False,
              outcomes={"an extra leading axis": ACCEPTED,  # (1, N, n): states of one trial over time
                        "a wrong extent": Refused("'candidates'", "dimension 5", f"{N_UNITS} units")}),
        # The readout's bias: integers in its place leave the dynamics that
        # the analysis looks for.
        Input("contextual_toy --params", "contextual_toy", toy, "bO",
              lambda f, out: toy_program + ["--params", f, "--out", out], strict_keys=True),
        Input("contextual_toy initial_params.h5", "contextual_toy", toy_files("initial_params.h5"), "wCHX",
              lambda f, out: toy_program + ["--params", os.path.join(os.path.dirname(f), "params.h5"), "--out", out],
              strict_keys=True, beside={"params.h5": toy}),
        Input("lfads_integrator --data", "lfads_integrator", read(data_file), "inputs",
              lambda f, out: [program("lfads_integrator"), "--data", f, "--out", out, "--steps", "1"] + LFADS,
              strict_keys=False, float_states=True),
        Input("lfads --data", "lfads", lfads_torch_data(), "valid_encod_data",
              lambda f, out: [program("lfads"), "--data", f, "--out", out, "--steps", "1"] + LFADS_TORCH,
              strict_keys=False),
        resume("integrator_rnn", [program("integrator_rnn")] + INTEGRATOR),
        resume("integrator_rnn --cell lstm", [program("integrator_rnn"), "--cell", "lstm"] + INTEGRATOR),
        resume("decision_gru", [program("decision_gru")] + SUPERVISED),
        resume("contextual_toy", toy_program, files=toy_files),
        resume("lfads_integrator", [program("lfads_integrator"), "--data", data_file] + LFADS, "params/ic_prior/logvar"),
    ]
    return inputs, gru


# --- the variants -----------------------------------------------------------
class Refused:
    def __init__(self, *words):
        self.words = words  # each must be in the message; a tuple: one of them


ACCEPTED = "accepted"


def replaced(d, key, value):
    d = dict(d)
    d[key] = value
    return d


def without(d, key):
    return {k: v for k, v in d.items() if k != key}


def dataset(**kwargs):
    """A dataset made by create_dataset (declared shapes, filters, no data)."""
    return lambda f, key: f.create_dataset(key, **kwargs)


def key_variants(inp):
    """Variants of the input's content, each damaging its target key K."""
    d, k = inp.base, inp.target
    a = d[k]
    q = f"'{k}'"
    with_nan, with_inf = a.copy(), a.copy()
    with_nan.flat[a.size // 2] = np.nan
    with_inf.flat[a.size - 1] = -np.inf
    big = a.astype(np.float64)
    big.flat[0] = 1e300
    ints = Refused(q, "found integers") if inp.float_states else ACCEPTED
    yield "missing key", without(d, k), Refused(q, "missing")
    yield "a group where the dataset belongs", replaced(d, k, lambda f, key: f.create_group(key).create_dataset(
        "x", data=a)), Refused(q, "is a group")
    yield "an extra key", replaced(d, "surplus", a), Refused("'surplus'", "is not") if inp.strict_keys else ACCEPTED
    yield "an extra leading axis", replaced(d, k, a[None]), Refused(q, "expected", "found")
    yield "a wrong extent", replaced(d, k, np.concatenate([a, a[..., :1]], axis=-1)), Refused(q, "expected", "found")
    yield "a scalar", replaced(d, k, np.float32(0.5)), Refused(q, "expected", "found")
    yield "no elements", replaced(d, k, a[:0]), Refused(q, ("expected", "holds no"))
    yield "a null dataspace", replaced(d, k, h5py.Empty("f4")), Refused(q, "(null) dataspace")
    yield "a NaN", replaced(d, k, with_nan), Refused(q, "NaN at flat index")
    yield "an Inf", replaced(d, k, with_inf), Refused(q, "-Inf at flat index")
    yield "float64", replaced(d, k, a.astype(np.float64)), ACCEPTED
    yield "float64 beyond float32", replaced(d, k, big), Refused(q, "Inf at flat index 0")
    yield "big-endian float32", replaced(d, k, a.astype(">f4")), ACCEPTED
    yield "int64", replaced(d, k, np.rint(a).astype(np.int64)), ints
    yield "int16", replaced(d, k, np.rint(a).astype(np.int16)), ints
    yield "uint32", replaced(d, k, np.abs(np.rint(a)).astype(np.uint32)), ints
    yield "uint64", replaced(d, k, np.abs(np.rint(a)).astype(np.uint64)), Refused(q, "unsigned 64-bit integer")
    yield "float16", replaced(d, k, a.astype(np.float16)), Refused(q, "16-bit float")
    yield "bool", replaced(d, k, a > 0), Refused(q, "enum")
    yield "a string", replaced(d, k, "weights"), Refused(q, "found string")
    yield "complex64", replaced(d, k, a.astype(np.complex64)), Refused(q, "compound")
    yield "huge declared dimensions, compressed", replaced(d, k, dataset(
        shape=(1 << 24, 1 << 20), dtype="f4", chunks=True, compression="gzip")), \
        Refused(q, "more than this machine's memory")
    yield "huge declared dimensions, never written", replaced(d, k, dataset(
        shape=(1 << 14,) * 2, dtype="f4", chunks=(64, 64))), Refused(q, "the file stores 0 bytes")
    yield "dimensions whose product overflows", replaced(d, k, dataset(
        shape=(1 << 40,) * 3, dtype="f4", chunks=(1, 1, 1))), Refused(q, "overflows")
    yield "declared but never written", replaced(d, k, dataset(shape=a.shape, dtype="f4")), \
        Refused(q, "the file stores 0 bytes")
    yield "lzf-compressed (h5py's own filter)", replaced(d, k, dataset(data=a, compression="lzf")), \
        Refused(q, "lzf", "does not have")
    yield "a soft link", replaced(d, k, lambda f, key: f.__setitem__(key, h5py.SoftLink("/" + next(iter(d))))), \
        Refused(q, "soft link")
    yield "an external link", replaced(d, k, lambda f, key: f.__setitem__(key, h5py.ExternalLink("other.h5", "/x"))), \
        Refused(q, "external link")
    yield "a hard link back to the root", replaced(d, "loop", lambda f, key: f.__setitem__(key, f["/"])), \
        Refused("'loop'", "linked under 2 names")


def raw(content):
    """A variant given as the file's bytes."""
    return ("raw", content)


def file_variants(inp, valid):
    k = inp.target
    # The last letter of the key's name, whose flip keeps the names' order
    # (HDF5 finds names in a sorted tree).
    leaf = k.rsplit("/", 1)[-1].encode()
    name_at = valid.find(b"\0" + leaf + b"\0") + len(leaf)
    assert valid.count(b"\0" + leaf + b"\0") == 1, f"{inp.name}: where is {k}'s name?"

    def flipped(at, mask=0xFF):
        b = bytearray(valid)
        b[at] ^= mask
        return bytes(b)

    yield "not an HDF5 file", raw(b"h0,wR,wO\n0.1,0.2,0.3\n"), Refused("not an HDF5 file")
    yield "an empty file", raw(b""), Refused("empty file")
    yield "a directory", ("directory",), Refused("not a regular file")
    # initial_params.h5 is optional: without it the analysis runs on.
    yield "no file", ("absent",), ACCEPTED if inp.beside else Refused("no checkpoint" if inp.resume else "file not found")
    yield "truncated to half", raw(valid[: len(valid) // 2]), Refused("truncated HDF5 file", "ends at byte")
    yield "truncated in the superblock", raw(valid[:40]), Refused("truncated HDF5 file")
    yield "a flipped byte in the signature", raw(flipped(1)), Refused("no HDF5 signature")
    yield "a flipped superblock version", raw(flipped(8)), Refused("damaged HDF5 superblock")
    yield "a flipped bit in a key's name", raw(flipped(name_at, 0x01)), Refused(f"'{k}'", "missing")
    data_at = offset_of(valid, k)
    nan = bytearray(valid)
    nan[data_at:data_at + 4] = b"\xff\xff\xff\xff"
    yield "flipped bytes in the data (a NaN)", raw(bytes(nan)), Refused(f"'{k}'", "NaN")
    yield "a flipped bit in the data (still finite)", raw(flipped(data_at, 0x01)), ACCEPTED


def offset_of(valid, key):
    with tempfile.NamedTemporaryFile(suffix=".h5") as t:
        t.write(valid)
        t.flush()
        with h5py.File(t.name, "r") as f:
            return f[key].id.get_offset()


def metadata_flips(valid, count, seed):
    """Single flipped bytes at random places outside the data: each must be
    refused with one line naming the file, or read as an intact file."""
    with tempfile.NamedTemporaryFile(suffix=".h5") as t:
        t.write(valid)
        t.flush()
        data = []
        with h5py.File(t.name, "r") as f:
            f.visititems(lambda name, o: data.append((o.id.get_offset(), o.id.get_storage_size()))
                         if isinstance(o, h5py.Dataset) else None)
    places = [i for i in range(len(valid)) if not any(start <= i < start + size for start, size in data)]
    picked = np.random.default_rng(seed).choice(places, size=count, replace=False)
    for at in sorted(picked):
        b = bytearray(valid)
        b[at] ^= 0xFF
        yield f"a flipped metadata byte at {at}", raw(bytes(b)), "either"


def specific_variants(inp, gru):
    """What only this input can get wrong."""
    d = inp.base
    if inp.name.startswith("fixed_points --params"):
        yield "keys of no known cell", {"weights": d["wO"]}, Refused("cannot tell the cell type")
        yield "no units (h0 empty)", replaced(d, "h0", d["h0"][:0]), Refused("sizes must be positive", "n = 0")
        yield "two outputs", replaced(replaced(d, "wO", normal(2, N_UNITS)), "bO", normal(2)), \
            Refused("one input and one output", "o = 2")
        if "wRUHX" in d:
            yield "a vanilla RNN's key among a GRU's", replaced(d, "wR", d["wCHX"]), Refused("'wR'", "is not a parameter of a GRU")
    if inp.name == "fixed_points --candidates":
        yield "states of (B, T, n)", {"candidates": normal(2, 5, N_UNITS)}, ACCEPTED
        yield "states of another dimension", {"candidates": normal(20, N_UNITS + 1)}, \
            Refused("'candidates'", "dimension 5", "4 units")
        yield "states of rank 1", {"candidates": normal(20)}, Refused("'candidates'", "(N, n) or (B, T, n)")
        yield "the states under another key", {"points": d["candidates"]}, Refused("'candidates'", "missing")
    if inp.name == "contextual_toy --params":
        yield "the decision task's GRU (one input)", gru, \
            Refused("'wRUHX'", f"expected shape (8, {N_UNITS + VOCABULARY}), found (8, 5)")
        yield "a vanilla RNN", network("vanilla", u=VOCABULARY), Refused("holds a vanilla RNN", "GRU")
    if inp.name == "contextual_toy initial_params.h5":
        yield "a network of another size", network("gru", n=N_UNITS + 1, u=VOCABULARY), \
            Refused("'h0'", f"expected shape ({N_UNITS},)")
    if inp.name == "lfads_integrator --data":
        outside = d["hiddens"].copy()
        outside[1, 2, 3] = 3.0
        yield "missing inputs", without(d, "inputs"), Refused("'inputs'", "missing")
        yield "missing h0s", without(d, "h0s"), Refused("'h0s'", "missing")
        yield "integer hiddens", replaced(d, "hiddens", np.zeros(d["hiddens"].shape, np.int64)), Refused("'hiddens'", "found integers")
        yield "a NaN in hiddens", replaced(d, "hiddens", np.where(outside > 1, np.nan, d["hiddens"])), Refused("'hiddens'", "NaN")
        yield "hiddens of rank 2", replaced(d, "hiddens", d["hiddens"][:, :, 0]), Refused("'hiddens'", "(trials, T, units)")
        yield "inputs of another length", replaced(d, "inputs", d["inputs"][:, :-1]), Refused("'inputs'", "expected shape")
        yield "h0s of another size", replaced(d, "h0s", d["h0s"][:, :-1]), Refused("'h0s'", "expected shape")
        yield "hiddens outside [-1, 1]", replaced(d, "hiddens", outside), Refused("'hiddens'", "[-1, 1]")
        yield "fewer trials than a batch", {k: v[:8] for k, v in d.items()}, Refused("fewer than one batch")
    if inp.name == "lfads --data":
        def with_value(key, index, value):
            a = d[key].copy()
            a[index] = value
            return replaced(d, key, a)
        unknown = d["valid_recon_data"].copy()
        unknown[:, :, 3] = np.nan  # the held-out neuron
        unknown[:, 4, :] = np.nan  # the forward bin
        yield "NaN in held-out neurons and forward bins of the valid split", replaced(d, "valid_recon_data", unknown), \
            ACCEPTED
        yield "NaN in a held-in encoder bin of the valid split", with_value("valid_recon_data", (1, 2, 0), np.nan), \
            Refused("'valid_recon_data'", "NaN at flat index", "where a value is needed")
        yield "NaN in the train split's held-out neurons", with_value("train_recon_data", (1, 2, 3), np.nan), \
            Refused("'train_recon_data'", "NaN at flat index")
        yield "a negative count", with_value("train_encod_data", (2, 1, 1), -1.0), \
            Refused("'train_encod_data'", "negative count")
        yield "reconstruction data with fewer neurons than the encoder's", replaced(
            d, "train_recon_data", d["train_recon_data"][:, :, :2]), Refused("'train_recon_data'", "at least")
        yield "reconstruction data with fewer bins than the encoder's", replaced(
            replaced(d, "train_recon_data", d["train_recon_data"][:, :3]), "valid_recon_data",
            d["valid_recon_data"][:, :3]), Refused("'train_recon_data'", "at least")
        yield "valid data of other neurons", replaced(d, "valid_encod_data", d["valid_encod_data"][:, :, :2]), \
            Refused("'valid_encod_data'", "expected shape")
        yield "recon data in one split only", without(d, "valid_recon_data"), Refused("'valid_recon_data'", "both")
        yield "measured inputs in one split only", replaced(d, "train_ext_input", normal(12, 5, 1)), \
            Refused("'valid_ext_input'", "both")
        yield "measured inputs of other bins", replaced(replaced(d, "train_ext_input", normal(12, 4, 1)),
                                                        "valid_ext_input", normal(4, 4, 1)), \
            Refused("'train_ext_input'", "expected shape")
        yield "measured inputs", replaced(replaced(d, "train_ext_input", normal(12, 5, 2)), "valid_ext_input",
                                          normal(4, 5, 2)), ACCEPTED
        yield "true rates of another shape", replaced(d, "valid_truth", d["valid_truth"][:, :4]), \
            Refused("'valid_truth'", "expected shape")
        yield "float indices", replaced(d, "train_inds", d["train_inds"].astype(np.float64)), \
            Refused("'train_inds'", "expected integer dataset")
        yield "fewer train trials than a batch", {k: (v[:6] if k.startswith("train") else v) for k, v in d.items()}, \
            Refused("fewer than one batch")
    if inp.resume:
        def counters(step, adam_step=None, losses=None):
            e = replaced(replaced(d, "step", np.int64(step)), "adam/step", np.int64(step if adam_step is None else adam_step))
            return replaced(e, "loss_history", np.zeros(step if losses is None else losses))
        yield "step as float64", replaced(d, "step", np.float64(1)), Refused("'step'", "expected integer dataset, found float64")
        yield "step as int32", replaced(d, "step", np.int32(1)), ACCEPTED
        yield "the loss history as float32", replaced(d, "loss_history", d["loss_history"].astype(np.float32)), ACCEPTED
        yield "a negative step", counters(-1, losses=0), Refused("'step'", ">= 0", "found -1")
        yield "Adam's step disagreeing", counters(1, adam_step=7), Refused("'adam/step'", "expected 1", "found 7")
        yield "a loss history of another length", counters(1, losses=3), Refused("'loss_history'", "expected shape (1,)")
        yield "rng of another shape", replaced(d, "rng", np.zeros(3, np.int64)), Refused("'rng'", "expected shape (2,)")
        yield "a step beyond the run's steps", counters(5), Refused("at step 5", "beyond this run's 2 steps")
        foreign = {"params/wRUHX": normal(2, 2)} if "params/wRUHX" not in d else {"params/wR": normal(2, 2)}
        yield "another model's parameter", {**d, **foreign}, Refused(f"'{next(iter(foreign))}'", "is not part of")


# --- the runner --------------------------------------------------------------
def run_case(inp, content, expected, case_dir):
    path, out = inp.place(case_dir)
    if isinstance(content, dict):
        write(path, content)
    elif content[0] == "raw":
        with open(path, "wb") as f:
            f.write(content[1])
    elif content[0] == "directory":
        os.makedirs(path)
    before = snapshot(out)
    rc, _, err = run(inp.argv(path, out))
    message = err.strip()
    lines = message.splitlines()
    problems = []
    if rc == "timeout":
        problems.append(f"no exit within {TIMEOUT} s")
    elif "Sanitizer" in err or rc not in (0, 1):
        problems.append(f"crashed (exit status {rc})")
    elif expected == ACCEPTED or (expected == "either" and rc == 0):
        if rc != 0:
            problems.append(f"exit status {rc}, expected 0 (accepted)")
        elif not os.path.exists(os.path.join(out, "summary.json")):
            problems.append("accepted but no summary.json")
        leftovers = [f for f in os.listdir(out) if ".tmp." in f] if os.path.isdir(out) else []
        if leftovers:
            problems.append(f"temporary files left: {leftovers}")
    else:
        if rc != 1:
            problems.append(f"exit status {rc}, expected 1")
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr, expected one")
        if not message.startswith(inp.program + ": ") or path not in message:
            problems.append("the message does not start with the program's name and name the file")
        for word in getattr(expected, "words", ()):
            options = word if isinstance(word, tuple) else (word,)
            if not any(w in message for w in options):
                problems.append(f"the message lacks {' or '.join(map(repr, options))}")
        if snapshot(out) != before:
            problems.append("the output folder changed")
    return problems, message if rc != 0 else "(accepted)"


def snapshot(folder):
    """Names and contents of the files in a folder."""
    if not os.path.isdir(folder):
        return {}  # an empty folder is no output either
    return {n: open(os.path.join(folder, n), "rb").read() for n in sorted(os.listdir(folder))
            if os.path.isfile(os.path.join(folder, n))}


def main():
    tmp = tempfile.mkdtemp(prefix="ctd_malformed_")
    try:
        inputs, gru = make_inputs(tmp)
        cases = []
        for inp in inputs:
            valid_file = os.path.join(tmp, "valid.h5")
            write(valid_file, inp.base)
            valid = open(valid_file, "rb").read()
            variants = [("the valid file", inp.base, ACCEPTED)]
            variants += list(key_variants(inp)) + list(file_variants(inp, valid)) + list(specific_variants(inp, gru))
            if inp.name == "fixed_points --params (gru)":
                variants += list(metadata_flips(valid, 24, seed=1))
            cases += [(inp, name, content, inp.outcomes.get(name, expected)) for name, content, expected in variants]
        failures, counts = [], {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(run_case, inp, content, expected, os.path.join(tmp, f"case{i}"))
                       for i, (inp, _, content, expected) in enumerate(cases)]
            for (inp, name, _, _), future in zip(cases, futures):
                problems, message = future.result()
                total, bad = counts.get(inp.name, (0, 0))
                counts[inp.name] = (total + 1, bad + bool(problems))
                print(f"{'FAIL' if problems else 'ok  '} {inp.name}: {name}\n       {message}")
                if problems:
                    print("       " + "; ".join(problems))
                    failures.append(f"{inp.name}: {name}")
        print()
        for name, (total, bad) in counts.items():
            print(f"{name:40s} {total - bad:3d}/{total} as expected")
        print(f"{len(cases) - len(failures)}/{len(cases)} cases as expected")
        return 1 if failures else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
