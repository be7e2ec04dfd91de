"""Cost of TWOQS per Euler-Maruyama step against the number of sites (rings and 2D lattices).

Runs the fig7 XY chain (paper 003) on rings of N sites and a pt_chain on square lattices,
times one steady-state run per size (compile time apart, as reported by the engine's
``stats``), and writes ``benchmarks/results/bench_lattice.json`` and ``.md`` with the device.
The cost per trajectory-step should grow linearly in N (site-steps/s roughly constant).

Usage::

    python benchmarks/bench_lattice.py            # N up to 1024
    python benchmarks/bench_lattice.py --quick    # small sizes only
    python benchmarks/bench_lattice.py --one-core # ring-1000 vs single spin, one core

``--one-core`` (issue 16's lattice target: a site-step of a 1000-site ring within 3x of a
single spin's) measures in a child process pinned to one core with one XLA device and one
thread: the *marginal* cost of a site-step (each case run for ``L1`` and ``L2`` steps in the
same paired rounds; ``(t(L2) - t(L1)) / ((L2 - L1) n_traj n_sites)``, so the per-chunk setup
(initial sampling, statistics, dispatch) cancels), in process CPU time, with the package's
default method (tangential noise, spin-length projection, Fock sampling) and two-point and
Gaussian increments. Writes ``bench_lattice_one_core.{json,md}``.
"""

import argparse
import json
import os
import platform
import sys
import time

import jax
import numpy as np

import twoqs_jax as tq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _shared, when loaded by path
from _shared import RESULTS, write_results  # noqa: E402


def _device():
    d = jax.devices()[0]
    return f"{d.platform}:{getattr(d, 'device_kind', '')} ({os.cpu_count()} host cores, {platform.processor() or platform.machine()})"


def run(sizes, n_traj, n_steps, dt=0.02):
    rows = []
    for kind, n in sizes:
        if kind == "ring":
            model = tq.heisenberg_chain(n, 5000, Jx=0.125, Jy=-0.3, convention="fig7")
            n_sites = n
        else:
            model = tq.pt_chain(None, 5000, J=0.1, gamma=1.0, periodic=True, lattice=(n, n))
            n_sites = n * n
        t0 = time.perf_counter()
        sol = tq.solve(
            model,
            tq.spin_down(n_sites),
            tq.SteadyState(t_burn=0.0, t_avg=n_steps * dt, every=n_steps * dt),
            tq.TWOQS.paper(tq.EulerMaruyama(dt)),
            n_traj=n_traj,
            key=0,
            observables=("Sz",),
            options=tq.Options(dtype="float32"),
        )
        total = time.perf_counter() - t0
        wall = sol.stats["wall_time"]
        traj_steps = n_traj * sol.stats["n_steps"]
        rows.append(
            {
                "lattice": kind,
                "n_sites": n_sites,
                "n_traj": n_traj,
                "n_steps": sol.stats["n_steps"],
                "dt": dt,
                "dtype": "float32",
                "compile_s": sol.stats["compile_time"],
                "run_s": wall,
                "total_s": total,
                "us_per_traj_step": 1e6 * wall / traj_steps,
                "ns_per_site_step": 1e9 * wall / (traj_steps * n_sites),
                "site_steps_per_s": sol.stats["site_steps_per_s"],
            }
        )
        print(rows[-1], flush=True)
    return rows


# --one-core: (name, n_sites, trajectories, chunk); a chunk of a 1000-site ring is
# (1000, 128) per component, so the state of a chunk stays in L2 like the single spin's
ONE_CORE_CASES = (("single spin", 1, 65536, 16384), ("ring 1000", 1000, 512, 128))
ONE_CORE_STEPS = (32, 160)


def _one_core_model(n_sites):
    if n_sites == 1:
        return tq.driven_spin(100, 1.5), tq.spin_down()
    # the fig7 XY ring (paper 003) with decay, along x so every coupling term is active
    return tq.heisenberg_chain(n_sites, 100, Jx=0.125, Jy=-0.3, convention="fig7"), tq.along_x(
        n_sites
    )


def one_core_child(rounds):
    """The ``--one-core`` measurement in this (fresh, pinned) process."""
    import statistics

    cases = []
    for noise in ("two_point", "gaussian"):
        for name, n_sites, n_traj, chunk in ONE_CORE_CASES:
            model, state = _one_core_model(n_sites)
            for steps in ONE_CORE_STEPS:

                def fn(
                    model=model, state=state, n_traj=n_traj, chunk=chunk, steps=steps, noise=noise
                ):
                    dt = 0.01
                    sol = tq.solve(
                        model,
                        state,
                        tq.SaveAt([0.0, steps * dt]),
                        tq.TWOQS(tq.EulerMaruyama(dt, noise=noise)),
                        n_traj=n_traj,
                        key=1,
                        observables=("Sz",),
                        options=tq.Options(dtype="float32", chunk_size=chunk, progress=False),
                    )
                    np.asarray(sol["Sz"])

                cases.append(((noise, name, n_sites, n_traj, steps), fn))
    for _, fn in cases:  # warm-up: compilation excluded
        fn()
    times = {key: [] for key, _ in cases}
    for r in range(rounds):
        order = cases[r % len(cases) :] + cases[: r % len(cases)]
        for key, fn in order:
            t0 = time.process_time()
            fn()
            times[key].append(time.process_time() - t0)
    l1, l2 = ONE_CORE_STEPS
    out = {}
    for noise in ("two_point", "gaussian"):
        per_round = {}
        for name, n_sites, n_traj, _ in ONE_CORE_CASES:
            t1 = times[(noise, name, n_sites, n_traj, l1)]
            t2 = times[(noise, name, n_sites, n_traj, l2)]
            per_round[name] = [
                1e9 * (b - a) / ((l2 - l1) * n_traj * n_sites) for a, b in zip(t1, t2, strict=True)
            ]
        ratio = [
            x / y for x, y in zip(per_round["ring 1000"], per_round["single spin"], strict=True)
        ]
        out[noise] = {
            "ns_per_site_step": per_round,
            "median_ns": {k: statistics.median(v) for k, v in per_round.items()},
            "ring_over_single": {
                "median": statistics.median(ratio),
                "min": min(ratio),
                "max": max(ratio),
            },
        }
    return out


def one_core(rounds):
    """Run :func:`one_core_child` in a pinned child with one XLA device and one thread."""
    import subprocess
    import sys

    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        " ".join(f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f)
        + " --xla_force_host_platform_device_count=1 --xla_cpu_multi_thread_eigen=false"
        " intra_op_parallelism_threads=1"
    ).strip()
    env["OPENBLAS_NUM_THREADS"] = "1"
    core = sorted(os.sched_getaffinity(0))[0]
    cmd = [sys.executable, os.path.abspath(__file__), "--child", str(rounds)]
    res = subprocess.run(
        cmd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out.update(
        device=_device(),
        jax=jax.__version__,
        load_average=list(os.getloadavg()),
        rounds=rounds,
        steps=list(ONE_CORE_STEPS),
        cases=[list(c) for c in ONE_CORE_CASES],
        command=f"python benchmarks/bench_lattice.py --one-core --rounds {rounds}",
        date=time.strftime("%Y-%m-%d %H:%M"),
    )
    lines = [
        f"# Lattice site-step cost on one core ({out['date']})",
        "",
        f"device: {out['device']}, jax {out['jax']}; load average at start "
        f"{[round(x, 1) for x in out['load_average']]}. Command: `{out['command']}`.",
        "",
        "One process pinned to one core (one XLA device, one thread); the package's default "
        "method (`tq.TWOQS()`: Fock sampling, tangential noise, spin-length projection), "
        f"float32, dt = 0.01. Marginal cost of a site-step: each case runs {ONE_CORE_STEPS[0]} "
        f"and {ONE_CORE_STEPS[1]} steps in the same paired rounds (order rotated), "
        "`(t(L2) - t(L1)) / ((L2 - L1) n_traj n_sites)` in process CPU time, so the per-chunk "
        "setup cancels. Single spin: driven spin S = 100, 65536 trajectories, chunk 16384; "
        "ring: the fig7 XY ring of 1000 sites (S = 100, decay), 512 trajectories, chunk 128.",
        "",
        "| increments | single spin ns/site-step | ring 1000 ns/site-step | ring / single "
        "(median [min, max] of paired rounds) |",
        "|---|---|---|---|",
    ]
    for noise in ("two_point", "gaussian"):
        r = out[noise]
        q = r["ring_over_single"]
        lines.append(
            f"| {noise} | {r['median_ns']['single spin']:.2f} | {r['median_ns']['ring 1000']:.2f} "
            f"| **{q['median']:.2f}x** [{q['min']:.2f}, {q['max']:.2f}] |"
        )
    write_results(os.path.join(RESULTS, "bench_lattice_one_core"), out, "\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--n-traj", type=int, default=64)
    p.add_argument("--n-steps", type=int, default=200)
    p.add_argument("--one-core", action="store_true", help="ring-1000 vs single spin, one core")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        print(json.dumps(one_core_child(args.child)))
        return
    if args.one_core:
        one_core(args.rounds)
        return
    sizes = [("ring", 10), ("ring", 30), ("ring", 100)]
    if not args.quick:
        sizes += [("ring", 300), ("ring", 1000), ("square", 16), ("square", 32)]
    rows = run(sizes, args.n_traj, args.n_steps)
    ns = np.array([r["n_sites"] for r in rows], float)
    us = np.array([r["us_per_traj_step"] for r in rows])
    slope = float(np.polyfit(np.log(ns), np.log(us), 1)[0])
    out = {
        "device": _device(),
        "jax": jax.__version__,
        "rows": rows,
        "loglog_slope_cost_vs_N": slope,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    lines = [
        f"# bench_lattice ({out['date']})",
        "",
        f"device: {out['device']}, jax {jax.__version__}",
        f"n_traj = {args.n_traj}, {args.n_steps} Euler-Maruyama steps, float32, gaussian noise",
        "",
        "| lattice | N | compile s | run s | us / traj-step | ns / site-step |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['lattice']} | {r['n_sites']} | {r['compile_s']:.1f} | {r['run_s']:.2f} | "
            f"{r['us_per_traj_step']:.2f} | {r['ns_per_site_step']:.1f} |"
        )
    lines += ["", f"log-log slope of cost per trajectory-step vs N: {slope:.2f} (1 = linear)"]
    write_results(os.path.join(RESULTS, "bench_lattice"), out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
