"""Benchmark: exact permutation-invariant central spin solver and closed equations.

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/bench_central.py [--quick]``. Each exact solve
runs in a fresh child process so that its peak resident memory (``ru_maxrss``) is its own.
Writes ``benchmarks/results/central_exact.{json,md}``.
"""

import json
import os
import platform
import resource
import subprocess
import sys
import time

from _shared import RESULTS, write_results

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def child(kind, N):
    import numpy as np

    import twoqs_jax as tq

    t0 = time.perf_counter()
    if kind == "steady":
        # paper 002 Fig. 3(b): kappa/N = 1/16, g = 3/4, Gamma_up = 3/2, Gamma_down = 1/2
        m = tq.central.CentralSpinModel(
            N, omega=1.0, eps=1.0, g=0.75, kappa=N / 16, Gamma_up=1.5, Gamma_down=0.5
        )
        sol = tq.solve(m, None, tq.SteadyState(), tq.Exact())
        value = float(sol["p0"])
    else:
        # paper 004 Fig. 2: w_x != 0, so every U(1) sector is kept; t in [0, 4], 41 times
        m = tq.central.CentralSpinModel(
            N,
            omega=0.0,
            eps=0.0,
            g=4 / np.sqrt(N),
            kappa=0.1,
            kappa_up=0.8,
            Gamma_up=0.2,
            Gamma_down=1.0,
            w_x=1.0,
            w_z=0.5,
        )
        state = (np.diag([1.0, 0.0]), 1 / 6)  # at t = 0, the first saving time
        sol = tq.solve(m, state, tq.SaveAt(np.linspace(0, 4, 41)), tq.Exact())
        value = float(sol["sz0"][-1])
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    print(
        json.dumps(
            {
                "kind": kind,
                "N": N,
                "wall_s": wall,
                "peak_rss_GiB": rss,
                "unknowns": sol.stats["unknowns"],
                "nnz": sol.stats["nnz"],
                "lu_nnz": sol.stats["lu_nnz"],
                "build_s": sol.stats["build_time_s"],
                "value": value,
            }
        )
    )


def closed_equations_bench(quick):
    import jax

    jax.config.update("jax_enable_x64", True)
    import twoqs_jax as tq

    rows = []
    for order, u1 in [(1, False), (2, True), (3, True), (3, False)]:
        for N in [100] if quick else [100, 10_000]:
            m = tq.central.CentralSpinModel(
                N, omega=1.0, eps=1.0, g=0.75, kappa=N / 16, Gamma_up=1.5, Gamma_down=0.5
            )
            method = tq.MeanField() if order == 1 else tq.Cumulants(order=order, u1=u1)
            t0 = time.perf_counter()
            tq.solve(m, None, tq.SteadyState(), method)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            sol = tq.solve(m, None, tq.SteadyState(), method)
            rows.append(
                {
                    "order": order,
                    "u1": u1,
                    "N": N,
                    "first_call_s": first,
                    "warm_s": time.perf_counter() - t0,
                    "p0": float(sol["p0"]),
                    "n_moments": sol.stats["n_moments"],
                }
            )
    return rows


def main():
    quick = "--quick" in sys.argv
    if "--child" in sys.argv:
        child(sys.argv[2], int(sys.argv[3]))
        return
    runs = [("steady", N) for N in ([20, 50] if quick else [50, 100, 150])]
    runs += [("dynamics", N) for N in ([10] if quick else [10, 40, 80])]
    exact = []
    for kind, N in runs:
        out = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(N)],
            capture_output=True,
            text=True,
            check=True,
        )
        exact.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(exact[-1], flush=True)
    closed = closed_equations_bench(quick)
    for r in closed:
        print(r, flush=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, OPENBLAS_NUM_THREADS=1"
    lines = [
        f"# Central spin benchmark ({machine})",
        "",
        "| kind | N | unknowns | nnz(L) | nnz(LU) | build s | total s | peak RSS GiB | value |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in exact:
        lines.append(
            f"| {r['kind']} | {r['N']} | {r['unknowns']} | {r['nnz']} | {r['lu_nnz']} | "
            f"{r['build_s']:.1f} | {r['wall_s']:.1f} | {r['peak_rss_GiB']:.2f} | {r['value']:.6f} |"
        )
    lines += [
        "",
        "| order | u1 | N | moments | first call s (compile) | warm s | p0 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in closed:
        lines.append(
            f"| {r['order']} | {r['u1']} | {r['N']} | {r['n_moments']} | "
            f"{r['first_call_s']:.1f} | {r['warm_s']:.2f} | {r['p0']:.6f} |"
        )
    write_results(
        os.path.join(RESULTS, "central_exact"),
        {"machine": machine, "exact": exact, "closed": closed},
        "\n".join(lines) + "\n",
    )


if __name__ == "__main__":
    main()
