"""Output files are never half-written, and the results of two runs never
mix in one folder.

1. Every program refuses an output folder that holds another run's results
   (a summary.json, or one of its own files) with exit status 1 and one line
   naming the folder and the files found, and leaves the folder untouched.
   --force replaces the program's files there (also those the new run does
   not write), --resume continues, and both together are a usage error.
   Temporary files of writers that no longer exist are no results, and a
   run removes them; one of a live writer is kept.
2. integrator_rnn is killed (SIGKILL) while it writes data.h5, its largest
   file, at several moments: on creating its temporary file, half-way, when
   it has its full size, and just after the rename. What is left must be
   the previous complete data.h5 or the new complete one, every other file
   complete, and the next run (--resume) must remove the stale temporary
   file and finish.

    /usr/bin/python3 tests/output_files.py BIN_DIR
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

BIN = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
ENV = dict(os.environ, OMP_NUM_THREADS="1", ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":exitcode=86",
           LSAN_OPTIONS=f"suppressions={HERE}/lsan.supp:print_suppressions=0:exitcode=87")
failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def run(argv, timeout=300):
    r = subprocess.run(argv, capture_output=True, env=ENV, timeout=timeout)
    return r.returncode, r.stderr.decode(errors="replace").strip()


def files(folder):
    """Names and contents of a folder's files."""
    return {n: open(os.path.join(folder, n), "rb").read() for n in sorted(os.listdir(folder))}


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


SUPERVISED = ["--n", "4", "--batch", "4", "--eval-trials", "4", "--steps", "1"]
TINY = {  # a short run of each program (the GRU network for fixed_points is made first)
    "integrator_rnn": SUPERVISED + ["--data-batches", "1", "--data-batch-size", "4"],
    "decision_gru": SUPERVISED,
    "contextual_toy": SUPERVISED + ["--train-reviews", "8", "--length", "8", "--candidate-reviews", "2",
                                    "--probe-reviews", "2", "--fp-tolerances", "0.1", "--fp-max-steps", "2",
                                    "--fp-no-newton"],
    "force_esn": ["--n", "20", "--teacher-n", "20", "--m", "2", "--steps", "20", "--passes", "1"],
    "fixed_points": ["--trials", "2", "--tolerances", "0.1", "--max-steps", "2", "--no-newton"],
    "lfads_integrator": ["--steps", "1", "--batch", "8", "--enc", "4", "--con", "4", "--gen", "4", "--factors", "2",
                         "--ii", "1", "--samples", "2", "--eval-trials", "2", "--ic-fit-trials", "8",
                         "--kl-start", "0", "--kl-end", "1"],
}
TINY["lfads"] = ["--steps", "1", "--batch", "8", "--enc", "4", "--con", "4", "--gen", "4", "--factors", "2", "--ii", "1",
                 "--samples", "2", "--kl-start", "0", "--kl-end", "1"]
RESUMABLE = {"integrator_rnn", "decision_gru", "contextual_toy", "lfads_integrator", "lfads"}


def lfads_torch_file(tmp):
    """A recording in lfads-torch's layout: 3 held-in and 1 held-out neuron,
    4 encoder bins and 1 forward bin."""
    path = os.path.join(tmp, "session.h5")
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for split, trials in (("train", 16), ("valid", 4)):
            recon = rng.poisson(1.0, size=(trials, 5, 4)).astype(np.float32)
            f[f"{split}_encod_data"] = recon[:, :4, :3]
            f[f"{split}_recon_data"] = recon
    return path


def folders(tmp):
    """Part 1, for every program."""
    program = {name: os.path.join(BIN, name) for name in TINY}
    made = os.path.join(tmp, "made")
    rc, err = run([program["integrator_rnn"], "--out", made] + SUPERVISED + ["--data-batches", "1",
                                                                             "--data-batch-size", "20"])
    assert rc == 0, err
    decision = os.path.join(tmp, "decision")
    rc, err = run([program["decision_gru"], "--out", decision] + SUPERVISED)
    assert rc == 0, err
    TINY["fixed_points"] += ["--params", os.path.join(decision, "params.h5")]
    TINY["lfads_integrator"] += ["--data", os.path.join(made, "data.h5")]
    TINY["lfads"] += ["--data", lfads_torch_file(tmp)]

    for name, args in TINY.items():
        # Another run's results: refused, untouched.
        out = os.path.join(tmp, name)
        os.makedirs(out)
        with open(os.path.join(out, "summary.json"), "w") as f:
            json.dump({"another": "run"}, f)
        with open(os.path.join(out, "notes.txt"), "w") as f:
            f.write("mine\n")
        before = files(out)
        rc, err = run([program[name], "--out", out] + args)
        hint = "--resume to continue that run, --force" if name in RESUMABLE else "pass --force"
        check(rc == 1 and len(err.splitlines()) == 1 and err.startswith(f"{name}: {out}: holds another run's results "
                                                                        "(summary.json)") and hint in err,
              f"{name} refuses a folder with another run's summary.json: {err}")
        check(files(out) == before, f"{name} leaves that folder untouched")

        # --force: this program's files go, the run completes, others' stay.
        stale = {"integrator_rnn": "data.h5", "decision_gru": "training.h5", "contextual_toy": "initial_params.h5",
                 "force_esn": "force.h5", "fixed_points": "fixed_points.h5", "lfads_integrator": "posterior.h5",
                 "lfads": "lfads_output_session.h5"}[name]
        with open(os.path.join(out, stale), "w") as f:
            f.write("an old run's file\n")
        forced = list(args)
        if name == "integrator_rnn":  # a run that writes no data.h5
            forced[forced.index("--data-batches") + 1] = "0"
        rc, err = run([program[name], "--out", out, "--force"] + forced)
        left = files(out)
        summary = json.loads(left.get("summary.json", b"{}"))
        check(rc == 0 and "another" not in summary and left.get("notes.txt") == b"mine\n" and
              left.get(stale) != b"an old run's file\n" and not any(".tmp." in n for n in left),
              f"{name} --force replaces the old run's files (its {stale} included) and keeps notes.txt: {err}")
        if name == "integrator_rnn":
            check("data.h5" not in left, "integrator_rnn --force leaves no data.h5 of the old run")

        # A second run without --force: its own results are refused too.
        rc, err = run([program[name], "--out", out] + args)
        check(rc == 1 and "holds another run's results" in err and "summary.json" in err,
              f"{name} refuses its own finished run's folder: {err}")
        if name in RESUMABLE:
            rc, _ = run([program[name], "--out", out, "--resume", "--force"] + args)
            check(rc == 2, f"{name}: --resume with --force is a usage error (exit status {rc})")
            rc, err = run([program[name], "--out", out, "--resume"] + args)
            check(rc == 0, f"{name} --resume continues its run in that folder: {err}")

    # Temporary files: a dead writer's are removed, a live one's kept, and
    # neither counts as results.
    out = os.path.join(tmp, "temporaries")
    os.makedirs(out)
    dead, live = f"data.h5.tmp.{dead_pid()}", f"summary.json.tmp.{os.getpid()}"
    for name in (dead, live):
        with open(os.path.join(out, name), "w") as f:
            f.write("partial")
    rc, err = run([program["integrator_rnn"], "--out", out] + TINY["integrator_rnn"])
    left = os.listdir(out)
    check(rc == 0 and dead not in left and live in left and "summary.json" in left,
          f"temporary files are no results; a dead writer's is removed, a live one's kept: {sorted(left)} {err}")


def h5_content(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, o: out.__setitem__(name, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def same_content(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def kills(tmp):
    """Part 2: SIGKILL while integrator_rnn writes data.h5."""
    program = os.path.join(BIN, "integrator_rnn")
    small = ["--n", "8", "--batch", "8", "--eval-trials", "8", "--steps", "2"]
    first = os.path.join(tmp, "first")
    rc, err = run([program, "--out", first, "--data-batches", "1", "--data-batch-size", "64"] + small)
    assert rc == 0, err
    # The next run of the same training writes a data set of 20480 trials
    # (22 MB) over the first one's 64.
    big = ["--resume", "--data-batches", "20", "--data-batch-size", "1024"] + small
    reference = os.path.join(tmp, "reference")
    shutil.copytree(first, reference)
    rc, err = run([program, "--out", reference] + big)
    assert rc == 0, err
    new_data = h5_content(os.path.join(reference, "data.h5"))
    full_size = os.path.getsize(os.path.join(reference, "data.h5"))
    old = files(first)

    def complete(folder, name):
        """The file is the first run's, or the new run's whole."""
        path = os.path.join(folder, name)
        data = open(path, "rb").read()
        if data == old[name]:
            return "old"
        try:
            if name.endswith(".json"):
                json.loads(data)
            elif name == "data.h5":
                if not same_content(h5_content(path), new_data):
                    return "different"
            else:
                h5_content(path)
            return "new"
        except Exception as e:  # any unreadable file is a failure, whatever raised it
            return f"broken ({type(e).__name__})"

    def kill_when(moment, ready):
        folder = os.path.join(tmp, "kill_" + moment.replace(" ", "_"))
        for attempt in range(5):  # the moment can be missed; a kill too early or late is retried
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(first, folder)
            p = subprocess.Popen([program, "--out", folder] + big, env=ENV, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            temp = os.path.join(folder, f"data.h5.tmp.{p.pid}")
            data = os.path.join(folder, "data.h5")
            old_inode = os.stat(data).st_ino
            while p.poll() is None and not ready(temp, data, old_inode):
                time.sleep(0.0005)  # not a busy loop: the cores go to the writer and the other tests
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait()
            if p.returncode == -signal.SIGKILL:
                break
        states = {n: complete(folder, n) for n in sorted(old)}
        # What a writer without the rename would have left as data.h5.
        temp_left = "none" if not os.path.exists(temp) else "readable" if readable(temp) else "partial"
        check(p.returncode == -signal.SIGKILL and all(s in ("old", "new") for s in states.values()),
              f"killed {moment}: data.h5 {states['data.h5']}, temporary file {temp_left}; "
              f"others {', '.join(f'{n} {s}' for n, s in states.items() if n != 'data.h5')}")
        return folder, states["data.h5"], temp_left

    def readable(path):
        try:
            return same_content(h5_content(path), new_data)
        except Exception:  # a partial file fails in h5py in many ways
            return False

    def size(path):
        try:
            return os.path.getsize(path)
        except OSError:
            return -1

    def renamed(data, old_inode):
        try:
            return os.stat(data).st_ino != old_inode
        except OSError:
            return False

    results = [
        kill_when("on creating its temporary file", lambda t, d, i: os.path.exists(t)),
        kill_when("half-way through it", lambda t, d, i: size(t) >= full_size // 2),
        kill_when("when it has its full size", lambda t, d, i: size(t) >= full_size),
        kill_when("just after the rename", lambda t, d, i: renamed(d, i)),
    ]
    check(any(state == "old" and temp_left == "partial" for _, state, temp_left in results),
          "at least one kill landed while the new data.h5 was being written: the old one stayed, a partial "
          "temporary file beside it")
    check(results[-1][1] == "new", "after the rename, data.h5 is the new one")
    # The next run removes the killed writer's temporary file and finishes.
    folder = results[0][0]
    rc, err = run([program, "--out", folder] + big)
    left = os.listdir(folder)
    check(rc == 0 and not any(".tmp." in n for n in left) and same_content(
        h5_content(os.path.join(folder, "data.h5")), new_data),
        f"the next run removes the stale temporary file and completes: {sorted(left)} {err}")


def main():
    tmp = tempfile.mkdtemp(prefix="ctd_outputs_")
    try:
        start = time.time()
        folders(tmp)
        kills(tmp)
        print(f"{len(failures)} failures ({time.time() - start:.0f} s)")
        return 1 if failures else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
