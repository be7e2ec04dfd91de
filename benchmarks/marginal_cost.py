"""Marginal and fixed cost of the TWOQS kernel per site-step, one core, and two source trees.

Run: ``python benchmarks/marginal_cost.py [--rounds R] [--trees DIR [DIR ...]] [--out DIR]``.
Writes ``DIR/marginal_cost.{md,json}`` (default DIR: ``benchmarks/results``) naming the
machine.

Each measurement is a fresh Python process pinned to one core (one XLA device, one thread)
that runs ``tq.solve`` of the driven spin (S = 100, Omega = 1.5, Gamma = 1, float32,
dt = 0.01, the default method, 65536 trajectories in one chunk, ``<S_z>`` at the end) for 64
and for 512 steps, compilation excluded, 5 times each alternating; with the medians of the
process CPU times, the **marginal cost** is ``(t512 - t64) / (448 n_traj)`` per site-step and
the **fixed cost** per trajectory is what is left of ``t64`` (the initial sample, the
statistics, the host's merge and the driver). With ``--trees`` the processes alternate
between source trees (``PYTHONPATH`` set to each; default: this checkout), round by round:
how the kernel-change pairs of docs/derivations/kernel.md were measured.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from _shared import RESULTS, cpu_model, load_average  # noqa: E402

S, OMEGA, DT, N_TRAJ, SHORT, LONG, REPEATS = 100, 1.5, 0.01, 65536, 64, 512, 5


def _child() -> dict:
    """One measurement in this (fresh, pinned) process."""
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    os.environ["XLA_FLAGS"] = (
        "--xla_force_host_platform_device_count=1 --xla_cpu_multi_thread_eigen=false"
        " intra_op_parallelism_threads=1"
    )
    import twoqs_jax as tq

    model = tq.driven_spin(S, OMEGA)

    def run(steps):
        return tq.solve(
            model,
            tq.spin_down(),
            tq.SaveAt([0.0, steps * DT]),
            tq.TWOQS(tq.EulerMaruyama(DT)),
            n_traj=N_TRAJ,
            key=1,
            observables=("Sz",),
            options=tq.Options(dtype="float32", chunk_size=N_TRAJ, progress=False),
        )

    for steps in (SHORT, LONG):  # compilation excluded
        run(steps)
    times = {SHORT: [], LONG: []}
    for _ in range(REPEATS):
        for steps in (SHORT, LONG):
            t = time.process_time()
            run(steps)
            times[steps].append(time.process_time() - t)
    short, long = (statistics.median(times[s]) for s in (SHORT, LONG))
    marginal = (long - short) / (N_TRAJ * (LONG - SHORT))
    return {
        "marginal_ns_per_site_step": marginal * 1e9,
        "fixed_us_per_trajectory": (short - marginal * N_TRAJ * SHORT) / N_TRAJ * 1e6,
        "t_short_ms": short * 1e3,
        "t_long_ms": long * 1e3,
    }


def machine() -> dict:
    """CPU model, cores, load and versions (the results file names the machine)."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": list(load_average() or ()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trees", nargs="+", default=[ROOT], help="source trees to alternate")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child()))
        return
    info = machine()
    trees = [os.path.abspath(t) for t in args.trees]
    rows = {t: [] for t in trees}
    for r in range(args.rounds):
        for tree in trees if r % 2 == 0 else trees[::-1]:
            env = dict(os.environ, PYTHONPATH=tree, OPENBLAS_NUM_THREADS="1")
            out = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--child"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            rows[tree].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(tree, rows[tree][-1], flush=True)
    lines = [
        "# Marginal and fixed cost per site-step (one core)",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}; load average "
        f"at start {info['load_average']}. Command: `python benchmarks/marginal_cost.py "
        f"--rounds {args.rounds}" + (" --trees ..." if len(trees) > 1 else "") + "`.",
        "",
        f"Driven spin S = {S}, Omega = {OMEGA}, float32, dt = {DT}, the default method, "
        f"{N_TRAJ} trajectories in one chunk; `tq.solve` for {SHORT} and {LONG} steps "
        f"({REPEATS} alternating runs each, medians of process CPU time) in a fresh process "
        "pinned to one core per round; compilation excluded.",
        "",
        "| tree | round | marginal ns per site-step | fixed us per trajectory |",
        "|---|---|---|---|",
    ]
    for tree in trees:
        for i, row in enumerate(rows[tree]):
            lines.append(
                f"| `{os.path.relpath(tree, ROOT)}` | {i + 1} | "
                f"{row['marginal_ns_per_site_step']:.2f} | {row['fixed_us_per_trajectory']:.3f} |"
            )
    for tree in trees:
        m = [row["marginal_ns_per_site_step"] for row in rows[tree]]
        lines.append("")
        lines.append(
            f"`{os.path.relpath(tree, ROOT)}`: marginal median {statistics.median(m):.2f} ns "
            f"per site-step (range {min(m):.2f}-{max(m):.2f})."
        )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "marginal_cost.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "marginal_cost.json"), "w") as f:
        rel = {os.path.relpath(t, ROOT): v for t, v in rows.items()}
        json.dump({"machine": info, "trees": list(rel), "rows": rel}, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
