"""Cost of TWOQS per Euler-Maruyama step against the number of sites (rings and 2D lattices).

Runs the fig7 XY chain (paper 003) on rings of N sites and a pt_chain on square lattices,
times one steady-state run per size (compile time apart, as reported by the engine's
``stats``), and writes ``benchmarks/results/bench_lattice.json`` and ``.md`` with the device.
The cost per trajectory-step should grow linearly in N (site-steps/s roughly constant).

Usage::

    python benchmarks/bench_lattice.py            # N up to 1024
    python benchmarks/bench_lattice.py --quick    # small sizes only
"""

import argparse
import json
import os
import platform
import time

import jax
import numpy as np

import twoqs_jax as tq


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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--n-traj", type=int, default=64)
    p.add_argument("--n-steps", type=int, default=200)
    args = p.parse_args()
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
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "bench_lattice.json"), "w") as f:
        json.dump(out, f, indent=1)
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
    with open(os.path.join(d, "bench_lattice.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
