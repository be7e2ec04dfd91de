"""TWOQS kernel throughput of two checkouts of the package, measured in one run.

Run: ``python benchmarks/compare_kernel.py BEFORE_DIR [AFTER_DIR] [--rounds 3] [--cpu 0]``.
``BEFORE_DIR`` and ``AFTER_DIR`` (default: this checkout) are source trees of the package
(e.g. a ``git worktree`` of an earlier commit). Every measurement runs in a fresh Python
subprocess pinned to one core (``taskset -c CPU``, one XLA device), with the tree on
``PYTHONPATH``; the rounds alternate before/after so that a change of the machine's load hits
both alike. Each subprocess compiles once, then times ``repeats`` full runs (compilation
excluded); a round reports the median wall time as site-steps/s, and the table also gives
the ratio of the best runs (least disturbed by other work on a shared machine) and whether
the kernel's lowered StableHLO (debug locations stripped) is the same in both trees.

Cases (float32, two-point increments, Wigner, paper 003's coherent sampling):

- driven spin S = 100, Omega = 1.5 Gamma, 65536 trajectories x 256 steps, without and with
  the spin-length constraint;
- a 100-site XY ring (S = 100, decay), 1024 trajectories x 256 steps.

The worker speaks both APIs: ``tq.solve`` when the tree has it, else ``simulate_twa``.
Writes ``benchmarks/results/compare_kernel.json`` and ``.md``.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from _shared import RESULTS, host, load_average, write_results

CASES = {
    "driven_spin": dict(n_sites=1, n_traj=65536, n_steps=256, constraint=False),
    "driven_spin+constraint": dict(n_sites=1, n_traj=65536, n_steps=256, constraint=True),
    "ring100": dict(n_sites=100, n_traj=1024, n_steps=256, constraint=False),
}

WORKER = r"""
import hashlib, json, re, sys, time
import numpy as np
import twoqs_jax as tq
from twoqs_jax._sde import kernel
# record the chunk function and its arguments, to hash the kernel's lowered StableHLO
seen = {}
chunk = kernel.compiled_chunk
def spy_chunk(*a):
    seen["fn"] = chunk(*a)
    return seen["fn"]
try:
    from twoqs_jax._sde import driver as host  # this API
    compile_name = "compiled"
except ImportError:
    from twoqs_jax import _twa as host  # the previous API
    compile_name = "_compiled"
host.compiled_chunk = spy_chunk
compile_fn = getattr(host, compile_name)
def spy_compile(fn, static, args):
    seen["args"] = args
    return compile_fn(fn, static, args)
setattr(host, compile_name, spy_compile)
case, n_traj, n_steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
constraint, repeats = sys.argv[4] == "1", int(sys.argv[5])
dt = 0.01
if case.startswith("driven_spin"):
    model = tq.driven_spin(100, 1.5)
else:
    model = tq.heisenberg_chain(100, 100, Jx=0.5, Jy=-0.3, Gamma=1.0)
state = tq.spin_down(model.n_sites)
def run():
    if hasattr(tq, "solve"):
        method = tq.TWOQS(tq.EulerMaruyama(dt, noise="two_point"), sampling="coherent",
                          constraint="spin_length" if constraint else None)
        return tq.solve(model, state, tq.SaveAt([0.0, n_steps * dt]), method, n_traj=n_traj,
                        key=0, observables=("Sz",),
                        options=tq.Options(dtype="float32", chunk_size=min(n_traj, 4096),
                                           progress=False))
    return tq.simulate_twa(model, state, t_final=n_steps * dt, dt=dt, n_traj=n_traj, key=0,
                           n_save=2, observables=("Sz",), dtype="float32", noise="two_point",
                           conserve_spin=constraint, chunk_size=min(n_traj, 4096),
                           progress=False)
first = run()
walls = []
for _ in range(repeats):
    walls.append(run().stats["wall_time"])
site_steps = n_traj * n_steps * model.n_sites
hlo = seen["fn"].lower(*seen["args"]).as_text(debug_info=False)
hlo = re.sub(r"loc\([^)]*\)", "", hlo)
print("RESULT " + json.dumps(dict(walls=walls, site_steps=site_steps,
      compile=first.stats["compile_time"], sz=float(np.asarray(first["Sz"])[-1].mean()),
      hlo=hashlib.sha256(hlo.encode()).hexdigest()[:16])))
"""


def measure(tree, case, spec, cpu, repeats):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree), XLA_FLAGS="", JAX_PLATFORMS="cpu")
    env.pop("JAX_ENABLE_X64", None)
    cmd = ["taskset", "-c", str(cpu), sys.executable, "-c", WORKER, case]
    cmd += [str(spec["n_traj"]), str(spec["n_steps"]), "1" if spec["constraint"] else "0"]
    cmd += [str(repeats)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    r = json.loads([x for x in out.splitlines() if x.startswith("RESULT ")][-1][7:])
    r["rate"] = r["site_steps"] / statistics.median(r["walls"])
    r["best"] = r["site_steps"] / min(r["walls"])
    return r


def main():
    p = argparse.ArgumentParser()
    p.add_argument("before")
    p.add_argument("after", nargs="?", default=os.path.join(os.path.dirname(__file__), ".."))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cpu", type=int, default=0)
    args = p.parse_args()
    trees = {"before": args.before, "after": args.after}
    rows = {(c, w): [] for c in CASES for w in trees}
    best = {(c, w): [] for c in CASES for w in trees}
    extra = {}
    for rnd in range(args.rounds):
        for case, spec in CASES.items():
            order = ("before", "after") if rnd % 2 == 0 else ("after", "before")
            for which in order:
                r = measure(trees[which], case, spec, args.cpu, args.repeats)
                rows[(case, which)].append(r["rate"])
                best[(case, which)].append(r["best"])
                extra[(case, which)] = r
                print(
                    f"round {rnd + 1} {case:24s} {which:6s} {r['rate']:.3e} site-steps/s "
                    f"(walls {[round(w, 3) for w in r['walls']]}, <Sz> {r['sz']:.4f})",
                    flush=True,
                )
    lines = [
        "| case | before (site-steps/s per round) | after (site-steps/s per round) | "
        "after/before, medians | after/before, best runs | same kernel HLO |",
        "|---|---|---|---|---|---|",
    ]
    summary = {}
    for case in CASES:
        b, a = rows[(case, "before")], rows[(case, "after")]
        ratio = statistics.median(a) / statistics.median(b)
        best_ratio = max(best[(case, "after")]) / max(best[(case, "before")])
        same = extra[(case, "after")]["hlo"] == extra[(case, "before")]["hlo"]
        summary[case] = dict(
            before=b,
            after=a,
            ratio=ratio,
            best_before=best[(case, "before")],
            best_after=best[(case, "after")],
            best_ratio=best_ratio,
            hlo_before=extra[(case, "before")]["hlo"],
            hlo_after=extra[(case, "after")]["hlo"],
        )
        fmt = lambda xs: ", ".join(f"{x:.3g}" for x in xs)  # noqa: E731
        lines.append(
            f"| {case} | {fmt(b)} | {fmt(a)} | {ratio:.3f} | {best_ratio:.3f} | "
            f"{'yes' if same else 'no'} |"
        )
    table = "\n".join(lines)
    print(table)
    machine = dict(**host(), pinned_cpu=args.cpu, load_average=load_average())
    write_results(
        os.path.join(RESULTS, "compare_kernel"),
        dict(machine=machine, cases=CASES, results=summary),
        "# TWOQS kernel throughput, two checkouts in one run\n\n"
        f"Machine: {machine}. float32, two-point increments, one core (taskset), "
        f"{args.rounds} alternating rounds, median of {args.repeats} timed runs each.\n\n"
        + table
        + "\n",
    )


if __name__ == "__main__":
    main()
