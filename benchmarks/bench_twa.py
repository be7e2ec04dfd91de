"""TWOQS kernel throughput (site-steps/s) against a vectorised NumPy Euler-Maruyama.

Run: ``python benchmarks/bench_twa.py [--quick]``. Writes ``benchmarks/results/bench_twa.json``
and ``.md`` naming the machine and device. Compile time is measured apart (AOT compile) and
excluded from the throughput. Cases: the driven spin (S = 100, Omega = 1.5 Gamma, 1e5
trajectories) and a 100-site Heisenberg ring (S = 100, XY couplings + decay, 1e3
trajectories), float32 and float64, Gaussian and two-point increments, and JAX's PRNG
implementations (threefry2x32, rbg, unsafe_rbg).
"""

import argparse
import os
import time

import jax

jax.config.update("jax_enable_x64", True)  # a script, not the library: float64 available

import numpy as np  # noqa: E402
from _shared import RESULTS, host, write_results  # noqa: E402

import twoqs_jax as tq  # noqa: E402


def numpy_driven_spin(S, omega, n_traj, n_steps, dt, dtype, seed=0):
    """Wigner TWOQS of H = Omega S_x with decay kappa = 1/S, as a physicist writes it."""
    rng = np.random.default_rng(seed)
    kappa = 1.0 / S
    cdt = np.complex64 if dtype == "float32" else np.complex128
    a = ((rng.normal(size=n_traj) + 1j * rng.normal(size=n_traj)) * 0.5).astype(cdt)
    b = (np.sqrt(2 * S) + (rng.normal(size=n_traj) + 1j * rng.normal(size=n_traj)) * 0.5).astype(
        cdt
    )
    sq = np.sqrt(dt)
    for _ in range(n_steps):
        w = rng.standard_normal((4, n_traj), dtype=dtype) * sq
        na, nb = np.abs(a) ** 2, np.abs(b) ** 2
        amp_a = np.sqrt(kappa / 4 * (nb + 0.5))
        amp_b = np.sqrt(kappa / 4 * np.maximum(na - 0.5, 0))
        da = (-0.5j * omega * b - kappa / 2 * (nb + 0.5) * a) * dt + amp_a * (w[0] + 1j * w[1])
        db = (-0.5j * omega * a + kappa / 2 * (na - 0.5) * b) * dt + amp_b * (w[2] + 1j * w[3])
        a, b = a + da, b + db
    return np.mean(0.5 * (np.abs(a) ** 2 - np.abs(b) ** 2))


def numpy_ring(n, S, jx, jy, n_traj, n_steps, dt, dtype, seed=0):
    """Wigner TWOQS of an XY ring with decay on every site (NumPy, (n_traj, n) arrays)."""
    rng = np.random.default_rng(seed)
    kappa = 1.0 / S
    cdt = np.complex64 if dtype == "float32" else np.complex128
    shape = (n_traj, n)
    a = ((rng.normal(size=shape) + 1j * rng.normal(size=shape)) * 0.5).astype(cdt)
    b = (np.sqrt(2 * S) + (rng.normal(size=shape) + 1j * rng.normal(size=shape)) * 0.5).astype(cdt)
    sq = np.sqrt(dt)
    for _ in range(n_steps):
        w = rng.standard_normal((4, *shape), dtype=dtype) * sq
        sp = np.conj(a) * b
        sx, sy = sp.real, sp.imag
        gx = jx * (np.roll(sx, 1, 1) + np.roll(sx, -1, 1))
        gy = jy * (np.roll(sy, 1, 1) + np.roll(sy, -1, 1))
        gm = gx - 1j * gy
        na, nb = np.abs(a) ** 2, np.abs(b) ** 2
        amp_a = np.sqrt(kappa / 4 * (nb + 0.5))
        amp_b = np.sqrt(kappa / 4 * np.maximum(na - 0.5, 0))
        da = (-0.5j * gm * b - kappa / 2 * (nb + 0.5) * a) * dt + amp_a * (w[0] + 1j * w[1])
        db = (-0.5j * np.conj(gm) * a + kappa / 2 * (na - 0.5) * b) * dt + amp_b * (
            w[2] + 1j * w[3]
        )
        a, b = a + da, b + db
    return np.mean(0.5 * (np.abs(a) ** 2 - np.abs(b) ** 2))


def run_jax(model, n_traj, n_steps, dt, dtype, noise="gaussian", impl="threefry2x32", chunk=None):
    sol = tq.solve(
        model,
        tq.spin_down(model.n_sites),
        tq.SaveAt([0.0, n_steps * dt]),
        tq.TWOQS.paper(tq.EulerMaruyama(dt, noise=noise)),
        n_traj=n_traj,
        key=jax.random.key(0, impl=impl),
        observables=("Sz",),
        options=tq.Options(dtype=dtype, chunk_size=chunk or n_traj),
    )
    return sol.stats


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    args = parser.parse_args()
    q = args.quick
    dt = 0.01
    rows = []

    def record(case, impl_name, dtype, extra, n_traj, n_steps, n_sites, wall, compile_time):
        site_steps = n_traj * n_steps * n_sites
        rows.append(
            dict(
                case=case,
                impl=impl_name,
                dtype=dtype,
                variant=extra,
                n_traj=n_traj,
                n_steps=n_steps,
                n_sites=n_sites,
                wall_s=wall,
                compile_s=compile_time,
                site_steps_per_s=site_steps / wall,
            )
        )
        print(
            f"{case:12s} {impl_name:6s} {dtype:8s} {extra:24s} {site_steps / wall:10.3e} "
            f"site-steps/s (wall {wall:.2f} s, compile {compile_time:.1f} s)",
            flush=True,
        )

    # driven spin, 1e5 trajectories
    n_traj, n_steps = (10_000, 50) if q else (100_000, 200)
    model = tq.driven_spin(100, 1.5)
    for dtype in ("float32", "float64"):
        t0 = time.perf_counter()
        numpy_driven_spin(100, 1.5, n_traj, n_steps, dt, dtype)
        record(
            "driven_spin",
            "numpy",
            dtype,
            "gaussian",
            n_traj,
            n_steps,
            1,
            time.perf_counter() - t0,
            0.0,
        )
        variants = [("gaussian", "threefry2x32"), ("two_point", "threefry2x32")]
        if dtype == "float32":
            variants += [("gaussian", "rbg"), ("gaussian", "unsafe_rbg")]
        for noise, impl in variants:
            st = run_jax(model, n_traj, n_steps, dt, dtype, noise, impl, chunk=min(n_traj, 32768))
            record(
                "driven_spin",
                "jax",
                dtype,
                f"{noise}/{impl}",
                n_traj,
                n_steps,
                1,
                st["wall_time"],
                st["compile_time"],
            )

    # 100-site Heisenberg (XY) ring, 1e3 trajectories
    n_sites = 100
    n_traj, n_steps = (200, 20) if q else (1000, 100)
    ring = tq.heisenberg_chain(n_sites, 100, Jx=0.5, Jy=-0.3, Gamma=1.0)
    jx, jy = 0.5 / 200, -0.3 / 200  # printed convention: J~ = J / (2S)
    for dtype in ("float32", "float64"):
        t0 = time.perf_counter()
        numpy_ring(n_sites, 100, jx, jy, n_traj, n_steps, dt, dtype)
        record(
            "ring100",
            "numpy",
            dtype,
            "gaussian",
            n_traj,
            n_steps,
            n_sites,
            time.perf_counter() - t0,
            0.0,
        )
        for noise in ("gaussian", "two_point"):
            st = run_jax(ring, n_traj, n_steps, dt, dtype, noise)
            record(
                "ring100",
                "jax",
                dtype,
                f"{noise}/threefry2x32",
                n_traj,
                n_steps,
                n_sites,
                st["wall_time"],
                st["compile_time"],
            )

    machine = {
        **host(),
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
        "device_kind": jax.devices()[0].device_kind,
        "quick": q,
    }
    name = "bench_twa_quick" if q else "bench_twa"
    lines = [
        f"# bench_twa ({'quick' if q else 'full'})",
        "",
        f"Machine: {machine['processor']}, {machine['cpu_count']} cores, "
        f"device {machine['device']} ({machine['device_kind']}), jax {machine['jax']}",
        "",
        "| case | impl | dtype | variant | n_traj | steps | site-steps/s | vs numpy | compile s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base = {(r["case"], r["dtype"]): r["site_steps_per_s"] for r in rows if r["impl"] == "numpy"}
    for r in rows:
        speed = r["site_steps_per_s"] / base[(r["case"], r["dtype"])]
        lines.append(
            f"| {r['case']} | {r['impl']} | {r['dtype']} | {r['variant']} | "
            f"{r['n_traj']} | {r['n_steps']} | {r['site_steps_per_s']:.3e} | "
            f"{speed:.2f}x | {r['compile_s']:.1f} |"
        )
    write_results(
        os.path.join(RESULTS, name), {"machine": machine, "rows": rows}, "\n".join(lines) + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
