"""JAX reference: the tutorials' own code (../shared/reference/wl_jax.py,
jit-compiled on this CPU) for the benchmarks' workloads, in the same
invocation as ours.

Runs wl_jax's groups (a integrator, b decision GRU, c fixed points,
c_eig eigen-decompositions, d LFADS, e FORCE) with fewer timed calls than
its full run, and writes their rows ({"results": [...]}, the layout of
bench_all.py) to --json. wl_jax.py is found through CTD_REFERENCE_DIR.
JAX is not a Debian package: run this with a Python that has jax[cpu]
(the venv recipe is in ../shared/reference/README.md); without one it
exits with status 3 and says so.

    PYTHON jax_reference.py --only a,b --json out.json [--samples 30]
"""
import argparse
import json
import os
import sys

NO_JAX = 3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", required=True, help="comma-separated groups of wl_jax.py: a,b,c,c_eig,d,e")
    parser.add_argument("--json", required=True, help="where the result rows go")
    parser.add_argument("--samples", type=int, default=20, help="timed calls (chunks and repetitions scale with it)")
    args = parser.parse_args()
    try:
        import jax  # noqa: F401
    except ImportError as e:
        print("jax_reference: cannot import jax with %s (%s); see ../shared/reference/README.md for the venv"
              % (sys.executable, e), file=sys.stderr)
        return NO_JAX
    sys.path.insert(0, os.environ.get("CTD_REFERENCE_DIR", ""))
    import wl_jax

    n = max(2, args.samples)
    few = max(2, n // 10)  # fori_loop chunks (20 or 200 steps each), eig repetitions
    options = {"a": {"n_timed": n}, "b": {"n_timed": n}, "c": {"n_timed": n, "chunks": few},
               "c_eig": {"n_eig": few}, "d": {"n_timed": few, "chunks": few}, "e": {"n_timed": n}}
    rows = []
    for group in args.only.split(","):
        if group not in options:
            parser.error("unknown group %r (expected one of %s)" % (group, ",".join(options)))
        rows += wl_jax.BENCHMARKS[group](**options[group])
    with open(args.json, "w") as f:
        json.dump({"meta": wl_jax.versions(), "results": rows}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
