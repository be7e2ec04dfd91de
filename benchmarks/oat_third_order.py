"""One-axis twisting without loss: TWOQS with and without the third-order correction (issue 13).

Run: ``python benchmarks/oat_third_order.py [--quick] [--keys K ...] [--s S ...] [--out DIR]``.
Writes ``DIR/oat_third_order[_quick|_keys].{md,json}`` (default DIR: ``benchmarks/results``;
``_keys`` when keys other than 0 are given) naming the machine. About one and a half minutes of two cores in full, half a minute with ``--quick``.

Model ``H = (1/2S) S_x^2`` from ``m = -S`` (``tq.one_axis_twisting(S)``), float64.
``tq.solve`` with the default method, ``tq.TWOQS(tq.EulerMaruyama(dt))``, which applies the
first-order correction by the third-order term of the Wigner equation to closed models
(``docs/methods/fidelity.md#third-order``), and with ``correction=None`` (plain TWOQS), the
same key and trajectories. Saved at the times ``t = mu S`` of 13 twisting angles ``mu`` from
0.7 to 1.3 times the exact optimum (``dt = t_opt / 200``); the minimum of ``xi^2`` over those
times against the exact minimum over the same times (Kitagawa-Ueda closed form,
``benchmarks/oat_truncation.py``). The standard error is the jackknife's at the minimising
time (trajectories of the run and of the correction, in quadrature).
"""

import argparse
import json
import os
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _shared import RESULTS, machine_line  # noqa: E402
from oat_truncation import exact_xi2, min_over_mu  # noqa: E402

import twoqs_jax as tq  # noqa: E402

SIZES = {
    "full": dict(S=(10, 25, 50, 100, 200, 400), n_traj=200_000),
    "quick": dict(S=(10, 100), n_traj=20_000),
}
GRID = np.linspace(0.7, 1.3, 13)
N_STEPS = 200  # steps to the exact optimum


def run_s(S: float, n_traj: int, key: int) -> dict:
    x_opt, mu_opt = min_over_mu(lambda mu: exact_xi2(S, mu), 12.0 * S ** (-2 / 3))
    dt = mu_opt * S / N_STEPS
    steps = np.round(GRID * N_STEPS).astype(int)
    ts = np.concatenate([[0.0], steps * dt])
    exact = exact_xi2(S, ts[1:] / S)
    row = dict(S=S, key=key, exact_min=float(exact.min()), mu_opt=mu_opt, dt=dt)
    for name, corr in (("corrected", "auto"), ("plain", None)):
        t0 = time.perf_counter()
        sol = tq.solve(
            tq.one_axis_twisting(S),
            tq.spin_down(),
            tq.SaveAt(ts=ts),
            tq.TWOQS(tq.EulerMaruyama(dt=dt), correction=corr),
            n_traj=n_traj,
            key=key,
            observables=["xi2"],
        )
        xi, err = np.asarray(sol["xi2"])[1:], np.asarray(sol.error("xi2"))[1:]
        i = int(np.argmin(xi))
        row[name] = dict(
            min=float(xi[i]),
            sem=float(err[i]),
            rel=float(xi[i] / exact.min() - 1),
            rel_sem=float(err[i] / exact.min()),
            at_edge=bool(i in (0, len(xi) - 1)),
            wall_s=time.perf_counter() - t0,
            third_order=sol.stats["third_order"],
        )
    return row


def markdown(doc: dict) -> str:
    lines = [
        "# One-axis twisting: TWOQS with and without the third-order correction",
        "",
        doc["machine"],
        "",
        f"Command: `{doc['command']}`. {doc['n_traj']} trajectories per run (the correction: "
        f"4096), keys {doc['keys']}, float64, 200 Euler steps to the exact optimum; the minimum of xi^2 "
        "over 13 times around it against the exact minimum over the same times.",
        "",
        "| S | exact min xi^2 | default (corrected) | rel. error | plain TWOQS | rel. error |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        c, p = r["corrected"], r["plain"]
        label = f"{r['S']:g}" + ("" if r.get("key", 0) == 0 else f" (key {r['key']})")
        lines.append(
            f"| {label} | {r['exact_min']:.5f} | {c['min']:.5f} ({c['sem']:.5f}) | "
            f"{100 * c['rel']:+.1f} % ({100 * c['rel_sem']:.1f}) | {p['min']:.5f} "
            f"({p['sem']:.5f}) | {100 * p['rel']:+.1f} % ({100 * p['rel_sem']:.1f}) |"
        )
    lines += [
        "",
        "Wall time of the corrected runs (s): "
        + ", ".join(f"S = {r['S']:g}: {r['corrected']['wall_s']:.1f}" for r in doc["rows"])
        + "; plain: "
        + ", ".join(f"{r['plain']['wall_s']:.1f}" for r in doc["rows"])
        + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--keys", type=int, nargs="+", default=[0])
    p.add_argument("--s", type=float, nargs="+", default=None, help="spin lengths")
    p.add_argument("--out", default=RESULTS)
    a = p.parse_args(argv)
    size = SIZES["quick" if a.quick else "full"]
    spins = a.s or size["S"]
    rows = [run_s(float(S), size["n_traj"], k) for S in spins for k in a.keys]
    doc = dict(
        machine=machine_line(),
        command="python " + " ".join(["benchmarks/oat_third_order.py", *sys.argv[1:]]),
        n_traj=size["n_traj"],
        keys=a.keys,
        rows=rows,
    )
    suffix = "_quick" if a.quick else ("_keys" if a.keys != [0] else "")
    stem = os.path.join(a.out, "oat_third_order" + suffix)
    os.makedirs(a.out, exist_ok=True)
    with open(stem + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(markdown(doc))
    print(markdown(doc))


if __name__ == "__main__":
    main()
