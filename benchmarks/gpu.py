"""The GPU targets of issue 16 in one command, with verdicts.

Run on a machine with a CUDA GPU and JAX for it (``pip install -U "jax[cuda12]"``) and this
package: ``python benchmarks/gpu.py [--out DIR]``. Nothing is fetched at run time, and only
JAX, NumPy, equinox and diffrax (with its own dependencies) are imported: no QuTiP,
matplotlib or h5py (the script records which optional libraries were loaded). It finishes in
a few minutes (it skips what would not fit in 8 minutes, and says so) and writes
``DIR/gpu_<device>.{md,json}`` (default DIR: ``benchmarks/results``) naming the device.

On a machine without a GPU it prints a message and exits with code 0, running nothing;
``--cpu-smoke`` runs every case at tiny sizes on the CPU (what the slow tests do, to keep
the script working) and writes ``gpu_cpu-smoke.{md,json}``.

Cases (float32, default TWOQS method: Fock sampling, spin-length projection, tangential
noise; two-point increments unless said):

1. **steady state**: driven spin S = 1000, Omega = 1.5 Gamma, 10^6 trajectories, paper 003's
   Fig 4 protocol (t_burn = 40, t_avg = 10, dt = 0.02, sampled every 0.5): wall time of the
   first call, compilation included (target < 5 s), then of a second call (compiled), whose
   kernel rate is the single-spin throughput; <S_z>/S against the closed form;
2. **sweep**: the same at 9 values of Omega (0.5 ... 2.5 Gamma) in one compiled call,
   10^6 trajectories per point: wall time with compilation (target < 30 s);
3. **ring**: 1000-site XY ring (paper 003 Eqs. 34-35, S = 100), 8192 trajectories:
   site-steps/s of a compiled call;
4. **Gaussian**: case 1's compiled rate with Gaussian increments.

Verdict on the throughput target (>= 2e10 site-steps/s): the best two-point rate of cases 1
and 3 (kernel time: compilation and the host's merging excluded, as ``stats
["site_steps_per_s"]``). Judge the figures against the roofline in docs/performance.md
(~1e11 site-steps/s on an H200 with the state in HBM between steps).
"""

import argparse
import os
import platform
import sys
import time

import numpy as np
from _shared import RESULTS, write_results

TARGETS = {"site_steps_per_s": 2e10, "steady_state_s": 5.0, "sweep_s": 30.0}
BUDGET_S = 420.0  # leave room under the 8 minutes for start-up and writing
SIZES = {
    "gpu": dict(
        S=1000,
        n_traj=1_000_000,
        t_burn=40.0,
        t_avg=10.0,
        dt=0.02,
        every=0.5,
        chunk=2**20,
        ring_sites=1000,
        ring_S=100,
        ring_traj=8192,
        ring_t=(5.0, 5.0),
    ),
    "cpu-smoke": dict(
        S=20,
        n_traj=256,
        t_burn=0.4,
        t_avg=0.2,
        dt=0.02,
        every=0.2,
        chunk=256,
        ring_sites=8,
        ring_S=10,
        ring_traj=64,
        ring_t=(0.2, 0.2),
    ),
}
SWEEP = tuple(np.round(np.linspace(0.5, 2.5, 9), 3))
OPTIONAL = ("qutip", "matplotlib", "h5py", "xarray", "tqdm", "scipy", "optax")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in text.strip()).lower()


def _solve(tq, model, n_traj, sz, noise="two_point", key=0, chunk=None, window=None):
    """``(solution, wall s)`` of one ``tq.solve`` (steady state, float32)."""
    window = window or tq.SteadyState(t_burn=sz["t_burn"], t_avg=sz["t_avg"], every=sz["every"])
    t0 = time.perf_counter()
    sol = tq.solve(
        model,
        tq.spin_down(model.n_sites),
        window,
        tq.TWOQS(tq.EulerMaruyama(sz["dt"], noise=noise)),
        n_traj=n_traj,
        key=key,
        observables=["Sz"],
        options=tq.Options(chunk_size=min(n_traj, chunk or sz["chunk"]), dtype="float32"),
    )
    np.asarray(sol["Sz"])  # results on the host
    return sol, time.perf_counter() - t0


def _timing(sol, wall) -> dict:
    st = sol.stats
    return {
        "wall_s": wall,
        "compile_s": float(st["compile_time"]),
        "kernel_s": float(st["wall_time"]),
        "site_steps_per_s": float(st["site_steps_per_s"]),
        "n_steps": int(st["n_steps"]),
        "chunk_size": int(st["chunk_size"]),
    }


def run_cases(mode: str) -> dict:
    """Cases 1-4 (module docstring); skips a case once the time budget is spent."""
    import twoqs_jax as tq
    from twoqs_jax._exact.resonance_fluorescence import driven_spin_steady_state

    sz = SIZES[mode]
    t_start = time.perf_counter()
    out, skipped = {}, []

    def budget_left(name) -> bool:
        if time.perf_counter() - t_start < BUDGET_S:
            return True
        skipped.append(name)
        return False

    S, n, om = sz["S"], sz["n_traj"], 1.5
    exact = driven_spin_steady_state(S, om)["Sz"] / S
    model = tq.driven_spin(S, om)
    first, wall1 = _solve(tq, model, n, sz)
    again, wall2 = _solve(tq, model, n, sz, key=1)
    out["steady_state"] = {
        "S": S,
        "Omega": om,
        "n_traj": n,
        "t_burn": sz["t_burn"],
        "t_avg": sz["t_avg"],
        "dt": sz["dt"],
        "first_call": _timing(first, wall1),
        "second_call": _timing(again, wall2),
        "Sz_over_S": float(np.asarray(first["Sz"])[0]) / S,
        "sem": float(np.asarray(first.error("Sz"))[0]) / S,
        "closed_form_Sz_over_S": exact,
    }
    if budget_left("sweep"):
        import jax
        import jax.numpy as jnp

        batch = jax.vmap(lambda o: tq.driven_spin(S, o))(jnp.asarray(SWEEP))
        sol, wall = _solve(tq, batch, n, sz)
        z = np.ravel(np.asarray(sol["Sz"])) / S
        ref = [driven_spin_steady_state(S, float(o))["Sz"] / S for o in SWEEP]
        out["sweep"] = {
            "S": S,
            "Omegas": list(SWEEP),
            "n_traj_per_point": n,
            **_timing(sol, wall),
            "site_steps_per_s": float(sol.stats["site_steps_per_s"]) * len(SWEEP),
            "Sz_over_S": z.tolist(),
            "sem": (np.ravel(np.asarray(sol.error("Sz"))) / S).tolist(),
            "closed_form_Sz_over_S": ref,
        }
    if budget_left("ring"):
        ring = tq.heisenberg_chain(sz["ring_sites"], sz["ring_S"], Jx=0.125, Jy=-0.49)
        t_b, t_a = sz["ring_t"]
        window = tq.SteadyState(t_burn=t_b, t_avg=t_a, every=sz["every"])
        n_r = sz["ring_traj"]
        _solve(tq, ring, n_r, sz, window=window)  # compile
        sol, wall = _solve(tq, ring, n_r, sz, window=window, key=1)
        out["ring"] = {"n_sites": sz["ring_sites"], "n_traj": n_r, **_timing(sol, wall)}
    if mode == "gpu" and budget_left("gaussian"):
        _solve(tq, model, n, sz, noise="gaussian")  # compile
        sol, wall = _solve(tq, model, n, sz, noise="gaussian", key=1)
        out["gaussian"] = {"n_traj": n, **_timing(sol, wall)}
    out["skipped"] = skipped
    out["total_s"] = time.perf_counter() - t_start
    return out


def verdicts(cases: dict) -> dict:
    """Met / not met / not measured, per target."""
    rates = [cases["steady_state"]["second_call"]["site_steps_per_s"]]
    if "ring" in cases:
        rates.append(cases["ring"]["site_steps_per_s"])
    best = max(rates)
    ss = cases["steady_state"]["first_call"]["wall_s"]
    out = {
        "site_steps_per_s": {"value": best, "met": best >= TARGETS["site_steps_per_s"]},
        "steady_state_s": {"value": ss, "met": ss < TARGETS["steady_state_s"]},
    }
    if "sweep" in cases:
        sw = cases["sweep"]["wall_s"]
        out["sweep_s"] = {"value": sw, "met": sw < TARGETS["sweep_s"]}
    else:
        out["sweep_s"] = {"value": None, "met": None}
    return out


def markdown(res: dict) -> str:
    d, c, v = res["device"], res["cases"], res["verdicts"]
    ss = c["steady_state"]

    def verdict(key, text):
        if v[key]["met"] is None:
            return f"- {text}: not measured (skipped: time budget)"
        word = "MET" if v[key]["met"] else "NOT MET"
        return f"- {text}: **{word}** ({v[key]['value']:.3g})"

    lines = [
        f"# GPU benchmark: {d['kind']} ({res['mode']})",
        "",
        f"Device: {d['kind']} ({d['platform']}, {d['count']} device(s)); host {d['host']}; "
        f"jax {d['jax']}, jaxlib {d['jaxlib']}. Optional libraries loaded: "
        f"{res['optional_loaded'] or 'none'}.",
        "",
        "## Verdicts",
        "",
        verdict("site_steps_per_s", "throughput >= 2e10 site-steps/s (best two-point rate)"),
        verdict(
            "steady_state_s",
            f"S = {ss['S']}, {ss['n_traj']:,}-trajectory steady state < 5 s "
            "(first call, compilation included)",
        ),
        verdict("sweep_s", "9-point Omega sweep < 30 s (one call, compilation included)"),
        "",
        "## Cases",
        "",
        "| case | wall s | compile s | kernel s | site-steps/s | steps | chunk |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [
        ("steady state, first call", ss["first_call"]),
        ("steady state, second", ss["second_call"]),
    ]
    for name in ("sweep", "ring", "gaussian"):
        if name in c:
            rows.append((name, c[name]))
    for name, t in rows:
        lines.append(
            f"| {name} | {t['wall_s']:.2f} | {t['compile_s']:.2f} | {t['kernel_s']:.2f} | "
            f"{t['site_steps_per_s']:.3g} | {t['n_steps']} | {t['chunk_size']} |"
        )
    lines += [
        "",
        f"Steady state <S_z>/S = {ss['Sz_over_S']:+.4f} +- {ss['sem']:.4f} "
        f"(closed form {ss['closed_form_Sz_over_S']:+.4f}; t_burn = {ss['t_burn']:g}, "
        f"t_avg = {ss['t_avg']:g}, dt = {ss['dt']:g}: paper 003's Fig 4 protocol on a GPU, whose "
        "window is a finite-time value above threshold: the closed form needs a burn-in of "
        "2.5 S / Gamma, docs/derivations/relaxation.md).",
    ]
    if "sweep" in c:
        sw = c["sweep"]
        pairs = ", ".join(
            f"{o}: {z:+.3f} ({r:+.3f})"
            for o, z, r in zip(sw["Omegas"], sw["Sz_over_S"], sw["closed_form_Sz_over_S"])
        )
        lines.append(f"Sweep <S_z>/S (closed form): {pairs}.")
    if c["skipped"]:
        lines.append(f"Skipped (time budget): {c['skipped']}.")
    lines.append(f"Total {c['total_s']:.0f} s.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument(
        "--cpu-smoke", action="store_true", help="tiny sizes on the CPU (checks the script)"
    )
    args = parser.parse_args(argv)
    import jax
    import jaxlib

    devices = jax.devices()
    platform_name = devices[0].platform
    if platform_name != "gpu" and not args.cpu_smoke:
        print(
            f"benchmarks/gpu.py: JAX sees no GPU here ({platform_name}: "
            f"{devices[0].device_kind}); nothing was run. Run it on a machine with a CUDA GPU "
            "and JAX for it, or pass --cpu-smoke for a tiny check of the script."
        )
        return 0
    mode = "cpu-smoke" if args.cpu_smoke else "gpu"
    cases = run_cases(mode)
    kind = devices[0].device_kind
    res = {
        "mode": mode,
        "device": {
            "kind": kind,
            "platform": platform_name,
            "count": len(devices),
            "host": f"{platform.node()}, {platform.platform()}, {os.cpu_count()} cores",
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
        },
        "targets": TARGETS,
        "cases": cases,
        "verdicts": verdicts(cases),
        "optional_loaded": sorted(m for m in OPTIONAL if m in sys.modules),
    }
    name = "gpu_cpu-smoke" if args.cpu_smoke else f"gpu_{_slug(kind)}"
    text = markdown(res)
    write_results(os.path.join(args.out, name), res, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
